/*
 * views_digest.c: the digest of a derived database (views_digest), which
 * rebuilds and the verifier compare, and the event an entry comes from
 * (views_entry_origin), which names what differs.
 *
 * Digest: BLAKE2b-256 (crypto_stream) of the concatenation, in key order, of
 * u32 BE key length || key || u32 BE value length || value over every entry.
 * One running hash: memory stays bounded and each entry costs its bytes, not
 * a finalization (a rebuild digests every derived database twice).
 */
#include "views.h"

#include <string.h>

#include "crypto.h"
#include "views_internal.h"

static void write_u32_be(uint8_t out[4], uint32_t value)
{
    for (int i = 0; i < 4; i++) {
        out[i] = (uint8_t)(value >> (24 - 8 * i));
    }
}

/* The event a stored row records as its origin (a row's last_sequence, a
 * billing entry's stopped_sequence), 0 when the value does not decode. */
static uint64_t row_sequence(enum store_db db, struct store_val value)
{
    const ProtobufCMessageDescriptor *descriptor = NULL;
    switch (db) {
    case STORE_DB_PRINCIPAL:
        descriptor = &ledger__v1__principal_row__descriptor;
        break;
    case STORE_DB_RESERVATION:
        descriptor = &ledger__v1__reservation_row__descriptor;
        break;
    case STORE_DB_SAVINGS_PLAN:
        descriptor = &ledger__v1__savings_plan_row__descriptor;
        break;
    default:
        descriptor = &ledger__v1__billing_charges__descriptor;
        break;
    }
    ProtobufCMessage *row = NULL;
    if (unpack_row(descriptor, value.data, value.size, &row) != LEDGER_ERR_OK) {
        return 0;
    }
    uint64_t sequence = 0;
    switch (db) {
    case STORE_DB_PRINCIPAL:
        sequence = ((Ledger__V1__PrincipalRow *)row)->last_sequence;
        break;
    case STORE_DB_RESERVATION:
        sequence = ((Ledger__V1__ReservationRow *)row)->last_sequence;
        break;
    case STORE_DB_SAVINGS_PLAN:
        sequence = ((Ledger__V1__SavingsPlanRow *)row)->last_sequence;
        break;
    default:
        sequence = ((Ledger__V1__BillingCharges *)row)->stopped_sequence;
        break;
    }
    codec_message_free(row);
    return sequence;
}

void views_entry_origin(enum store_db db, struct store_val key, struct store_val value,
                        struct store_origin *out)
{
    struct store_key_reader reader;
    store_key_reader_init(&reader, key, out);
    uint64_t sequence = 0;
    bool in_row = false;
    switch (db) {
    case STORE_DB_PARTNER:
    case STORE_DB_PRINCIPAL:
        store_key_read_id(&reader);
        in_row = db == STORE_DB_PRINCIPAL;
        break;
    case STORE_DB_RESERVATION:
    case STORE_DB_SAVINGS_PLAN:
        store_key_read_id(&reader);
        store_key_read_id(&reader);
        store_key_read_id(&reader);
        in_row = true;
        break;
    case STORE_DB_ORDER:
        store_key_read_id(&reader);
        store_key_read_id(&reader);
        sequence = store_key_read_uint(&reader, 8);
        break;
    case STORE_DB_PERMISSION:
        store_key_read_id(&reader);
        store_key_read_id(&reader);
        store_key_read_uint(&reader, 1);
        store_key_read_byte(&reader, 0);
        sequence = store_key_read_uint(&reader, 8);
        break;
    case STORE_DB_ACTIVITY:
        if (key.size > 0 && key.data[0] == VIEWS_ACTIVITY_SUBSCRIPTION) {
            store_key_read_byte(&reader, VIEWS_ACTIVITY_SUBSCRIPTION);
            store_key_read_id(&reader); /* subscription */
            store_key_read_id(&reader); /* partner */
            store_key_read_id(&reader); /* customer */
            sequence = value.size == 8 ? store_key_to_u64(value.data) : 0;
            break;
        }
        if (key.size > 0 && key.data[0] == VIEWS_ACTIVITY_CLOUD_ORDER) {
            store_key_read_byte(&reader, VIEWS_ACTIVITY_CLOUD_ORDER);
            store_key_read_id(&reader); /* partner */
            store_key_read_id(&reader); /* cloud order id */
            store_key_read_id(&reader); /* customer */
            sequence = value.size == 8 ? store_key_to_u64(value.data) : 0;
            break;
        }
        /* 'P' partner NUL u64, or 'C' partner NUL customer NUL u64. */
        if (key.size > 0 && key.data[0] == VIEWS_ACTIVITY_CUSTOMER) {
            store_key_read_byte(&reader, VIEWS_ACTIVITY_CUSTOMER);
            store_key_read_id(&reader);
        } else {
            store_key_read_byte(&reader, VIEWS_ACTIVITY_PARTNER);
        }
        store_key_read_id(&reader);
        sequence = store_key_read_uint(&reader, 8);
        break;
    case STORE_DB_BILLING: {
        store_key_read_id(&reader); /* partner */
        store_key_read_id(&reader); /* first month */
        store_key_read_id(&reader); /* customer */
        sequence = store_key_read_uint(&reader, 8);
        store_key_read_byte(&reader, 0);
        store_key_read_uint(&reader, 2);
        /* A purchase's entry is written again by the event that cuts it. */
        uint64_t stopped = row_sequence(db, value);
        sequence = stopped > sequence ? stopped : sequence;
        break;
    }
    default:
        /* Not a database of the views: nothing read, so the whole key is
         * shown as bytes, with no sequence. */
        break;
    }
    if (!store_key_read_end(&reader, key)) {
        return;
    }
    out->sequence = in_row ? row_sequence(db, value) : sequence;
}

/* Bytes on their way into a digest's hash. */
struct digest_buffer {
    struct crypto_stream *stream;
    size_t size;
    uint8_t bytes[4096];
};

/* Appends to the buffer, hashing what it held first when they do not fit,
 * and hashing directly what is larger than the whole buffer. */
static void digest_add(struct digest_buffer *buffer, const void *data, size_t size)
{
    if (size > sizeof buffer->bytes - buffer->size) {
        crypto_stream_update(buffer->stream, buffer->bytes, buffer->size);
        buffer->size = 0;
        if (size > sizeof buffer->bytes) {
            crypto_stream_update(buffer->stream, data, size);
            return;
        }
    }
    if (size > 0) {
        memcpy(buffer->bytes + buffer->size, data, size);
        buffer->size += size;
    }
}

enum ledger_err views_digest(struct store_txn *txn, enum store_db db, uint8_t out[32])
{
    if (txn == NULL || out == NULL || (int)db < 0 || db >= STORE_DB_COUNT) {
        return LEDGER_ERR_INTERNAL;
    }
    struct crypto_stream stream;
    crypto_stream_init(&stream);
    struct store_cursor *cursor = NULL;
    enum ledger_err err = store_cursor_open(txn, db, &cursor);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    /* The entries are gathered and hashed a few kilobytes at a time: the
     * same bytes in the same order, a hash update per batch of small
     * entries instead of four per entry. */
    struct digest_buffer buffer = {.stream = &stream};
    struct store_val key, value;
    err = store_cursor_seek(cursor, NULL, 0, &key, &value);
    while (err == LEDGER_ERR_OK) {
        if (key.size > UINT32_MAX || value.size > UINT32_MAX) {
            err = LEDGER_ERR_CORRUPT;
            break;
        }
        uint8_t length[4];
        write_u32_be(length, (uint32_t)key.size);
        digest_add(&buffer, length, sizeof length);
        digest_add(&buffer, key.data, key.size);
        write_u32_be(length, (uint32_t)value.size);
        digest_add(&buffer, length, sizeof length);
        digest_add(&buffer, value.data, value.size);
        err = store_cursor_next(cursor, &key, &value);
    }
    store_cursor_close(cursor);
    if (err != LEDGER_ERR_NOT_FOUND) {
        return err;
    }
    crypto_stream_update(&stream, buffer.bytes, buffer.size);
    crypto_stream_final(&stream, out);
    return LEDGER_ERR_OK;
}
