/*
 * views_holders.c: who holds an id, and the reservations due to expire: the
 * index of bought subscriptions by id ('S') and of the cloud order ids
 * purchases named ('O'), written as events apply; the holder of an id
 * (views_subscription_holder, views_cloud_order_holder), the ids an earlier
 * build let several customers hold (views_subscription_duplicates), and the
 * bounded walk of the reservations for the expiry schedule
 * (views_expiries_due).
 */
#include "views.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "views_internal.h"

/* 'O' partner NUL cloud_order_id NUL: the prefix of one cloud order id's
 * holders among a partner's customers. */
static void cloud_order_prefix(struct key *k, const char *partner_id, const char *cloud_order_id)
{
    key_u8(k, VIEWS_ACTIVITY_CLOUD_ORDER);
    key_field(k, partner_id);
    key_field(k, cloud_order_id);
}

/* Writes an index row of the activity database: the prefix `k` then the
 * event's customer -> u64 sequence of the event (the subscriptions and
 * cloud order indexes). */
static enum ledger_err holder_put(struct store_txn *txn, struct key *k, const Ledger__V1__Event *e)
{
    key_last(k, e->customer_id);
    if (k->overflow) {
        return LEDGER_ERR_CORRUPT;
    }
    uint8_t value[8];
    store_u64_to_key(e->sequence, value);
    return store_put(txn, STORE_DB_ACTIVITY, k->bytes, k->size, value, sizeof value);
}

/* Indexes the cloud order id a purchase named (none: nothing), for
 * views_cloud_order_holder: 'O' partner NUL cloud_order_id NUL customer ->
 * u64 sequence of the event that bought it. */
enum ledger_err views__cloud_order_index(struct store_txn *txn, const Ledger__V1__Event *e,
                                         const char *cloud_order_id)
{
    if (cloud_order_id == NULL || cloud_order_id[0] == '\0') {
        return LEDGER_ERR_OK;
    }
    struct key k = {0};
    cloud_order_prefix(&k, e->partner_id, cloud_order_id);
    return holder_put(txn, &k, e);
}

/* 'S' subscription NUL: the prefix of one subscription id's holders. */
static void subscription_prefix(struct key *k, const char *subscription_id)
{
    key_u8(k, VIEWS_ACTIVITY_SUBSCRIPTION);
    key_field(k, subscription_id);
}

/* Indexes a bought subscription by its id, ledger-wide, for
 * views_subscription_holder: 'S' subscription NUL partner NUL customer ->
 * u64 sequence of the purchase. Keyed by the holder too, so that a log
 * written before ids were checked across a partner's customers, which may
 * hold one id under several customers, keeps a row for each. Keyed by the
 * subscription first, so that the customers of every partner that recorded
 * an id are found together. */
enum ledger_err views__subscription_purchased(struct store_txn *txn, const Ledger__V1__Event *e)
{
    struct key k = {0};
    subscription_prefix(&k, e->subscription_purchased->subscription_id);
    key_field(&k, e->partner_id);
    return holder_put(txn, &k, e);
}

/* Looks up the customers of partner_id that bought subscription_id
 * ('S' subscription NUL partner NUL customer rows) and reports the first
 * that is not customer_id: at most two rows are read, since a decision
 * refuses an id a customer of the partner holds, and a log of an older
 * build that recorded one id under more customers of a partner gives a
 * holder all the same. */
#define VIEWS_HOLDER_ROWS_MAX 2

/* The first customer other than customer_id (NULL: any customer) of the
 * index rows under `prefix` (prefix NUL customer -> u64 sequence), at most
 * VIEWS_HOLDER_ROWS_MAX rows read. */
static enum ledger_err holder_find(struct store_txn *txn, const struct key *prefix_key,
                                   const char *customer_id, struct views_id_holder *out);

enum ledger_err views_subscription_holder(struct store_txn *txn, const char *subscription_id,
                                          const char *partner_id, const char *customer_id,
                                          struct views_id_holder *out)
{
    if (txn == NULL || out == NULL) {
        return LEDGER_ERR_INTERNAL;
    }
    if (!codec_id_valid(text(subscription_id)) || !codec_id_valid(text(partner_id)) ||
        !codec_id_valid(text(customer_id))) {
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    struct key prefix = {0};
    subscription_prefix(&prefix, subscription_id);
    key_field(&prefix, partner_id);
    return holder_find(txn, &prefix, customer_id, out);
}

enum ledger_err views_cloud_order_holder(struct store_txn *txn, const char *cloud_order_id,
                                         const char *partner_id, struct views_id_holder *out)
{
    if (txn == NULL || out == NULL) {
        return LEDGER_ERR_INTERNAL;
    }
    if (!codec_id_valid(text(cloud_order_id)) || !codec_id_valid(text(partner_id))) {
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    struct key prefix = {0};
    cloud_order_prefix(&prefix, partner_id, cloud_order_id);
    return holder_find(txn, &prefix, NULL, out);
}

static enum ledger_err holder_find(struct store_txn *txn, const struct key *prefix_key,
                                   const char *customer_id, struct views_id_holder *out)
{
    struct key prefix = *prefix_key;
    struct store_cursor *cursor = NULL;
    enum ledger_err err = store_cursor_open(txn, STORE_DB_ACTIVITY, &cursor);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    struct views_id_holder holder = {0};
    struct store_val key, value;
    size_t rows = 0;
    err = store_cursor_seek(cursor, prefix.bytes, prefix.size, &key, &value);
    for (; err == LEDGER_ERR_OK; err = store_cursor_next(cursor, &key, &value)) {
        if (!key_has_prefix(&key, &prefix) || rows++ == VIEWS_HOLDER_ROWS_MAX) {
            break;
        }
        size_t customer_size = key.size - prefix.size;
        if (customer_size == 0 || customer_size >= sizeof holder.customer_id ||
            memchr(key.data + prefix.size, '\0', customer_size) != NULL || value.size != 8) {
            err = LEDGER_ERR_CORRUPT;
            break;
        }
        if (customer_id != NULL && customer_size == strlen(customer_id) &&
            memcmp(key.data + prefix.size, customer_id, customer_size) == 0) {
            continue;
        }
        holder.found = true;
        memcpy(holder.customer_id, key.data + prefix.size, customer_size);
        holder.customer_id[customer_size] = '\0';
        holder.sequence = store_key_to_u64(value.data);
        break;
    }
    store_cursor_close(cursor);
    if (err != LEDGER_ERR_OK && err != LEDGER_ERR_NOT_FOUND) {
        return err;
    }
    *out = holder;
    return LEDGER_ERR_OK;
}

/* The walk of views_subscription_duplicates: the holders of the id and
 * partner it is reading (`current`), whose rows' keys begin with `group`
 * ('S' subscription NUL partner NUL). */
struct duplicate_walk {
    uint8_t group[1 + 2 * DOMAIN_ID_SIZE];
    size_t group_size;
    struct views_subscription_duplicate current;
    views_duplicate_fn fn;
    void *context;
    uint64_t ids;
};

/* Hands the holders of the id and partner read so far to fn when there are
 * two or more, and starts afresh. */
static enum ledger_err duplicate_flush(struct duplicate_walk *w)
{
    enum ledger_err err = LEDGER_ERR_OK;
    if (w->current.holders >= 2) {
        w->ids++;
        err = w->fn != NULL ? w->fn(w->context, &w->current) : LEDGER_ERR_OK;
    }
    w->current.holders = 0;
    w->current.listed = 0;
    w->group_size = 0;
    return err;
}

/* Keeps a holder among the earliest LEDGER_DUPLICATE_HOLDERS_LISTED_MAX
 * purchases, in sequence order (the index holds them in customer order). */
static void duplicate_hold(struct views_subscription_duplicate *d,
                           const char customer_id[DOMAIN_ID_SIZE], uint64_t sequence)
{
    d->holders++;
    size_t at = d->listed;
    while (at > 0 && d->holding[at - 1].sequence > sequence) {
        at--;
    }
    if (at == LEDGER_DUPLICATE_HOLDERS_LISTED_MAX) {
        return;
    }
    size_t keep = d->listed < LEDGER_DUPLICATE_HOLDERS_LISTED_MAX ? d->listed : d->listed - 1;
    memmove(&d->holding[at + 1], &d->holding[at], (keep - at) * sizeof d->holding[0]);
    memcpy(d->holding[at].customer_id, customer_id, DOMAIN_ID_SIZE);
    d->holding[at].sequence = sequence;
    d->listed = keep + 1;
}

/* Copies the field of an 'S' key that begins at byte `from` into out: an
 * id of 1..LEDGER_ID_LENGTH_MAX bytes that ends at a NUL, or, the last one,
 * at the key's end. Returns where the next field begins (the key's size
 * after the last), 0 when the field is not an id. */
static size_t subscription_key_field(const struct store_val *key, size_t from, bool last,
                                     char out[DOMAIN_ID_SIZE])
{
    const uint8_t *start = key->data + from;
    size_t rest = key->size - from;
    const uint8_t *nul = memchr(start, '\0', rest);
    size_t size = last ? rest : nul != NULL ? (size_t)(nul - start) : 0;
    if (size == 0 || size > LEDGER_ID_LENGTH_MAX || (last && nul != NULL)) {
        return 0;
    }
    memset(out, 0, DOMAIN_ID_SIZE);
    memcpy(out, start, size);
    return from + size + (last ? 0 : 1);
}

/* One 'S' row of the walk (a scan_fn; context: the duplicate_walk). */
static enum ledger_err duplicate_visit(void *context, const struct store_val *key,
                                       const struct store_val *value)
{
    struct duplicate_walk *w = context;
    struct views_subscription_duplicate *d = &w->current;
    char subscription_id[DOMAIN_ID_SIZE], partner_id[DOMAIN_ID_SIZE], customer_id[DOMAIN_ID_SIZE];
    size_t partner_at = subscription_key_field(key, 1, false, subscription_id);
    size_t customer_at =
        partner_at != 0 ? subscription_key_field(key, partner_at, false, partner_id) : 0;
    if (customer_at == 0 || subscription_key_field(key, customer_at, true, customer_id) == 0 ||
        value->size != 8) {
        return LEDGER_ERR_CORRUPT;
    }
    if (w->group_size != customer_at || memcmp(w->group, key->data, customer_at) != 0) {
        enum ledger_err err = duplicate_flush(w);
        if (err != LEDGER_ERR_OK) {
            return err;
        }
        memcpy(w->group, key->data, customer_at);
        w->group_size = customer_at;
        memcpy(d->subscription_id, subscription_id, sizeof subscription_id);
        memcpy(d->partner_id, partner_id, sizeof partner_id);
    }
    duplicate_hold(d, customer_id, store_key_to_u64(value->data));
    return LEDGER_ERR_OK;
}

enum ledger_err views_subscription_duplicates(struct store_txn *txn, views_duplicate_fn fn,
                                              void *context, uint64_t *ids_out)
{
    if (txn == NULL) {
        return LEDGER_ERR_INTERNAL;
    }
    struct duplicate_walk walk = {.fn = fn, .context = context};
    struct key family = {0};
    key_u8(&family, VIEWS_ACTIVITY_SUBSCRIPTION);
    enum ledger_err err =
        views__scan_prefix(txn, STORE_DB_ACTIVITY, &family, duplicate_visit, &walk);
    if (err == LEDGER_ERR_OK) {
        err = duplicate_flush(&walk);
    }
    if (err == LEDGER_ERR_OK && ids_out != NULL) {
        *ids_out = walk.ids;
    }
    return err;
}

void views_subscription_duplicate_text(const struct views_subscription_duplicate *duplicate,
                                       char out[VIEWS_DUPLICATE_TEXT_SIZE])
{
    int used =
        snprintf(out, VIEWS_DUPLICATE_TEXT_SIZE,
                 "partner %s, subscription %s:", duplicate->partner_id, duplicate->subscription_id);
    for (size_t i = 0; i < duplicate->listed && used > 0 && used < VIEWS_DUPLICATE_TEXT_SIZE; i++) {
        used += snprintf(out + used, VIEWS_DUPLICATE_TEXT_SIZE - (size_t)used,
                         "%s customer %s (sequence %" PRIu64 ")", i > 0 ? "," : "",
                         duplicate->holding[i].customer_id, duplicate->holding[i].sequence);
    }
    if (duplicate->holders > duplicate->listed && used > 0 && used < VIEWS_DUPLICATE_TEXT_SIZE) {
        snprintf(out + used, VIEWS_DUPLICATE_TEXT_SIZE - (size_t)used, ", and %zu more customers",
                 duplicate->holders - duplicate->listed);
    }
}

struct expiry_walk {
    int64_t now_us;
    size_t max, found;
    views_expiry_fn fn;
    void *context;
};

/* One reservation row of the walk: fn for it when it is due. */
static enum ledger_err expiry_visit(struct expiry_walk *w, const struct store_val *key,
                                    const struct store_val *value)
{
    /* The key begins with the partner id and its NUL (reservation_key). */
    const uint8_t *nul = memchr(key->data, '\0', key->size);
    size_t partner_size = nul != NULL ? (size_t)(nul - key->data) : 0;
    if (partner_size == 0 || partner_size > LEDGER_ID_LENGTH_MAX) {
        return LEDGER_ERR_CORRUPT;
    }
    ProtobufCMessage *message = NULL;
    enum ledger_err err =
        unpack_row(&ledger__v1__reservation_row__descriptor, value->data, value->size, &message);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    const Ledger__V1__ReservationRow *row = (const Ledger__V1__ReservationRow *)message;
    if (row->state == LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_ACTIVE && !row->auto_renew &&
        row->expires_us > 0 && row->expires_us <= w->now_us) {
        char partner_id[LEDGER_ID_LENGTH_MAX + 1];
        memcpy(partner_id, key->data, partner_size);
        partner_id[partner_size] = '\0';
        w->found++;
        err = w->fn(w->context, partner_id, text(row->customer_id), text(row->reservation_id),
                    row->expires_us);
    }
    codec_message_free(message);
    return err;
}

enum ledger_err views_expiries_due(struct store_txn *txn, int64_t now_us, size_t max,
                                   size_t rows_max, struct store_position *position,
                                   views_expiry_fn fn, void *context)
{
    if (position->size > sizeof position->key || max == 0 || rows_max == 0) {
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    struct expiry_walk walk = {
        .now_us = now_us, .max = max, .found = 0, .fn = fn, .context = context};
    struct store_cursor *cursor = NULL;
    enum ledger_err err = store_cursor_open(txn, STORE_DB_RESERVATION, &cursor);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    struct store_val key, value;
    err = store_cursor_seek(cursor, position->size > 0 ? position->key : NULL, position->size, &key,
                            &value);
    /* The row the last walk ended on was visited already. */
    if (err == LEDGER_ERR_OK && position->size > 0 && key.size == position->size &&
        memcmp(key.data, position->key, key.size) == 0) {
        err = store_cursor_next(cursor, &key, &value);
    }
    size_t rows = 0;
    while (err == LEDGER_ERR_OK && walk.found < max && rows < rows_max) {
        err = expiry_visit(&walk, &key, &value);
        rows++;
        if (err == LEDGER_ERR_OK) {
            if (key.size > sizeof position->key) {
                err = LEDGER_ERR_CORRUPT;
                break;
            }
            memcpy(position->key, key.data, key.size);
            position->size = key.size;
            err = store_cursor_next(cursor, &key, &value);
        }
    }
    store_cursor_close(cursor);
    if (err == LEDGER_ERR_NOT_FOUND) {
        /* Past the last row: the walk is over, the next starts at the first. */
        position->size = 0;
        position->done = true;
        return LEDGER_ERR_OK;
    }
    if (err == LEDGER_ERR_OK) {
        position->done = false;
    }
    return err;
}
