/*
 * test_codec.c: the codec packs and unpacks every message without loss, turns
 * bytes that are not a message into BAD_REQUEST (from outside) or CORRUPT
 * (from the store), and its validators accept exactly the ids, SKUs, names,
 * money and enum values the schema allows. Method: round trips through
 * codec_pack / codec_*_unpack, hand-made garbage and truncations, and the edge
 * of every validator (empty, longest, one past the longest, each forbidden
 * character class); body names are checked against the generated descriptors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec.h"
#include "ledger_limits.h"

/* Packing a decoded message again gives the bytes it came from (one build). */
static void assert_packs_again(const ProtobufCMessage *message, const uint8_t *bytes, size_t size)
{
    uint8_t *again = NULL;
    size_t again_size = 0;
    assert_int_equal(LEDGER_ERR_OK, codec_pack(message, &again, &again_size));
    assert_int_equal(size, again_size);
    assert_memory_equal(bytes, again, size);
    free(again);
}

static void test_codec_event_round_trip(void **state)
{
    (void)state;
    Ledger__V1__Event event = LEDGER__V1__EVENT__INIT;
    Ledger__V1__Actor actor = LEDGER__V1__ACTOR__INIT;
    Ledger__V1__ReservationPurchased body = LEDGER__V1__RESERVATION_PURCHASED__INIT;
    Ledger__V1__Money price = LEDGER__V1__MONEY__INIT;
    Ledger__V1__Money retail = LEDGER__V1__MONEY__INIT;
    Ledger__V1__Scope scope = LEDGER__V1__SCOPE__INIT;
    Ledger__V1__AllowedBy allowed = LEDGER__V1__ALLOWED_BY__INIT;
    uint8_t hash[32];
    for (int i = 0; i < 32; i++)
        hash[i] = (uint8_t)(i * 7);
    actor.principal_id = "u-1";
    actor.role = LEDGER__V1__ROLE__ROLE_CUSTOMER_USER;
    actor.user = "alice";
    price.amount_minor = 123456;
    price.currency = "EUR";
    retail.amount_minor = 150000;
    retail.currency = "EUR";
    scope.kind = LEDGER__V1__SCOPE_KIND__SCOPE_KIND_RESOURCE_GROUP;
    scope.target = "sub-1/rg-1";
    allowed.permission_sequence = 5;
    allowed.role_sequence = 7;
    body.order_id = "ord-9";
    body.reservation_id = "res-9";
    body.billing_subscription_id = "sub-1";
    body.sku = "Standard_D2s_v5";
    body.region = "westeurope";
    body.quantity = 3;
    body.term = LEDGER__V1__TERM__TERM_P3Y;
    body.billing_plan = LEDGER__V1__BILLING_PLAN__BILLING_PLAN_MONTHLY;
    body.scope = &scope;
    body.price = &price;
    body.retail_price = &retail;
    body.auto_renew = true;
    body.purchaser = LEDGER__V1__PURCHASER__PURCHASER_CUSTOMER;
    body.starts_us = INT64_C(1735689600000000);
    body.expires_us = INT64_C(1830297600000000);
    body.allowed_by = &allowed;
    event.sequence = 9;
    event.partner_id = "p-1";
    event.customer_id = "c-1";
    event.actor = &actor;
    event.recorded_us = INT64_C(1735689600000001);
    event.business_us = INT64_C(1735689600000000);
    event.command_id = "cmd-1";
    event.correlation_id = "corr-1";
    event.schema_version = LEDGER_SCHEMA_VERSION;
    event.stream_version = 4;
    event.command_hash.len = sizeof hash;
    event.command_hash.data = hash;
    event.body_case = LEDGER__V1__EVENT__BODY_RESERVATION_PURCHASED;
    event.reservation_purchased = &body;

    uint8_t *bytes = NULL;
    size_t size = 0;
    assert_int_equal(LEDGER_ERR_OK, codec_pack(&event.base, &bytes, &size));
    assert_non_null(bytes);
    assert_true(size > 0);
    Ledger__V1__Event *back = NULL;
    assert_int_equal(LEDGER_ERR_OK, codec_event_unpack(bytes, size, &back));
    assert_int_equal(9, back->sequence);
    assert_string_equal("p-1", back->partner_id);
    assert_string_equal("c-1", back->customer_id);
    assert_string_equal("u-1", back->actor->principal_id);
    assert_int_equal(LEDGER__V1__ROLE__ROLE_CUSTOMER_USER, back->actor->role);
    assert_string_equal("alice", back->actor->user);
    assert_int_equal(4, back->stream_version);
    assert_int_equal(32, back->command_hash.len);
    assert_memory_equal(hash, back->command_hash.data, 32);
    assert_int_equal(LEDGER__V1__EVENT__BODY_RESERVATION_PURCHASED, back->body_case);
    const Ledger__V1__ReservationPurchased *r = back->reservation_purchased;
    assert_string_equal("res-9", r->reservation_id);
    assert_string_equal("Standard_D2s_v5", r->sku);
    assert_int_equal(3, r->quantity);
    assert_int_equal(123456, r->price->amount_minor);
    assert_string_equal("EUR", r->retail_price->currency);
    assert_string_equal("sub-1/rg-1", r->scope->target);
    assert_int_equal(5, r->allowed_by->permission_sequence);
    assert_int_equal(7, r->allowed_by->role_sequence);
    assert_true(r->expires_us == INT64_C(1830297600000000));

    assert_packs_again(&back->base, bytes, size);
    codec_event_free(back);
    free(bytes);
}

/* Events decoded into an arena are the events codec_event_unpack gives,
 * whatever their size (a name larger than a chunk's quarter takes a chunk of
 * its own), through as many chunks as they need and again after a reset;
 * bytes that do not decode are CORRUPT there too. */
static void test_codec_event_arena(void **state)
{
    (void)state;
    enum { EVENTS = 600, LONG_NAME = 40000 };
    char *name = malloc(LONG_NAME + 1);
    assert_non_null(name);
    memset(name, 'n', LONG_NAME);
    name[LONG_NAME] = '\0';
    struct codec_arena arena = {0};
    for (int round = 0; round < 2; round++) {
        for (uint64_t i = 1; i <= EVENTS; i++) {
            Ledger__V1__Event event = LEDGER__V1__EVENT__INIT;
            Ledger__V1__PartnerRegistered body = LEDGER__V1__PARTNER_REGISTERED__INIT;
            body.name = i % 100 == 0 ? name : "Contoso";
            event.sequence = i;
            event.partner_id = "p-1";
            event.command_id = "cmd-1";
            event.schema_version = LEDGER_SCHEMA_VERSION;
            event.body_case = LEDGER__V1__EVENT__BODY_PARTNER_REGISTERED;
            event.partner_registered = &body;
            uint8_t *bytes = NULL;
            size_t size = 0;
            assert_int_equal(LEDGER_ERR_OK, codec_pack(&event.base, &bytes, &size));
            Ledger__V1__Event *back = NULL;
            assert_int_equal(LEDGER_ERR_OK, codec_event_unpack_arena(&arena, bytes, size, &back));
            assert_int_equal(i, back->sequence);
            assert_string_equal(body.name, back->partner_registered->name);
            assert_packs_again(&back->base, bytes, size);
            free(bytes);
        }
        const uint8_t garbage[] = {0x0a, 0x05, 'a'};
        Ledger__V1__Event *event = NULL;
        assert_int_equal(LEDGER_ERR_CORRUPT,
                         codec_event_unpack_arena(&arena, garbage, sizeof garbage, &event));
        assert_null(event);
        codec_arena_reset(&arena);
    }
    codec_arena_free(&arena);
    assert_null(arena.chunks);
    assert_null(arena.spare);
    free(name);
}

/* codec_pack_scratch gives its prefix then codec_pack's bytes, in its
 * scratch or, for a message larger than that, in a buffer of its own. */
static void test_codec_pack_scratch(void **state)
{
    (void)state;
    enum { LONG_NAME = 3 * CODEC_PACKED_SCRATCH_BYTES };
    char *name = malloc(LONG_NAME + 1);
    assert_non_null(name);
    memset(name, 'n', LONG_NAME);
    name[LONG_NAME] = '\0';
    const char *names[] = {"Contoso", "", name};
    const uint8_t flags = 0x01;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        Ledger__V1__PartnerRegistered body = LEDGER__V1__PARTNER_REGISTERED__INIT;
        body.name = (char *)names[i];
        uint8_t *bytes = NULL;
        size_t size = 0;
        assert_int_equal(LEDGER_ERR_OK, codec_pack(&body.base, &bytes, &size));
        struct codec_packed packed;
        assert_int_equal(LEDGER_ERR_OK, codec_pack_scratch(&body.base, NULL, 0, &packed));
        assert_int_equal(size, packed.size);
        assert_memory_equal(bytes, packed.data, size);
        assert_true((packed.data == packed.scratch) == (size <= sizeof packed.scratch));
        codec_packed_free(&packed);
        assert_int_equal(LEDGER_ERR_OK, codec_pack_scratch(&body.base, &flags, 1, &packed));
        assert_int_equal(size + 1, packed.size);
        assert_int_equal(flags, packed.data[0]);
        assert_memory_equal(bytes, packed.data + 1, size);
        codec_packed_free(&packed);
        free(bytes);
    }
    free(name);
}

/* A message packs up to LEDGER_REQUEST_BYTES_MAX bytes and no further
 * (TOO_LARGE, so that a reply over 64 MiB is refused, not sent): one of
 * exactly that many packs whole, one byte more is refused before anything
 * is allocated or written, by codec_pack and codec_pack_scratch alike, and
 * so is a prefix past the limit. */
static void test_codec_pack_size_limit(void **state)
{
    (void)state;
    const size_t max = LEDGER_REQUEST_BYTES_MAX;
    uint8_t *big = calloc(1, max);
    assert_non_null(big);
    Ledger__V1__Event event = LEDGER__V1__EVENT__INIT;
    event.command_hash.data = big;
    event.command_hash.len = max - 16;
    event.command_hash.len += max - protobuf_c_message_get_packed_size(&event.base);
    assert_int_equal(protobuf_c_message_get_packed_size(&event.base), max);
    uint8_t *bytes = NULL;
    size_t size = 0;
    assert_int_equal(codec_pack(&event.base, &bytes, &size), LEDGER_ERR_OK);
    assert_int_equal(size, max);
    free(bytes);

    event.command_hash.len++;
    bytes = (uint8_t *)0x1;
    size = 7;
    assert_int_equal(codec_pack(&event.base, &bytes, &size), LEDGER_ERR_TOO_LARGE);
    assert_ptr_equal(bytes, (uint8_t *)0x1);
    assert_int_equal(size, 7);
    struct codec_packed packed;
    assert_int_equal(codec_pack_scratch(&event.base, NULL, 0, &packed), LEDGER_ERR_TOO_LARGE);
    Ledger__V1__Event small = LEDGER__V1__EVENT__INIT;
    small.sequence = 1;
    assert_int_equal(codec_pack_scratch(&small.base, big, max + 1, &packed), LEDGER_ERR_TOO_LARGE);
    free(big);
}

/* Asserts that codec_patch of bytes with `fields` gives `want` packed. */
static void assert_patched(const uint8_t *bytes, size_t size, const struct codec_field *fields,
                           size_t count, const ProtobufCMessage *want)
{
    uint8_t *want_bytes = NULL;
    size_t want_size = 0;
    assert_int_equal(LEDGER_ERR_OK, codec_pack(want, &want_bytes, &want_size));
    struct codec_packed patched;
    assert_int_equal(LEDGER_ERR_OK,
                     codec_patch(bytes, size, fields, count, LEDGER_ERR_CORRUPT, &patched));
    assert_int_equal(want_size, patched.size);
    assert_memory_equal(want_bytes, patched.data, want_size);
    codec_packed_free(&patched);
    free(want_bytes);
}

/* codec_patch gives the bytes protobuf-c packs for the message with the
 * fields changed: a varint set, changed or cleared to its default (and so
 * left out), a sub-message set or replaced, a field before the first and
 * after the last; bytes that do not frame are the caller's error. */
static void test_codec_patch(void **state)
{
    (void)state;
    Ledger__V1__Scope scope = LEDGER__V1__SCOPE__INIT, other_scope = LEDGER__V1__SCOPE__INIT;
    scope.kind = LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SINGLE;
    scope.target = "sub-1";
    other_scope.kind = LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SHARED;
    Ledger__V1__ReservationRow row = LEDGER__V1__RESERVATION_ROW__INIT;
    row.reservation_id = "res-1";
    row.order_id = "ord-1";
    row.state = LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_ACTIVE;
    row.quantity = 3;
    row.scope = &scope;
    row.sequence = 300;
    row.cloud_order_id = "ro-1";
    uint8_t *before = NULL;
    size_t before_size = 0;
    assert_int_equal(LEDGER_ERR_OK, codec_pack(&row.base, &before, &before_size));

    Ledger__V1__ReservationRow changed = row;
    changed.state = LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_UNSPECIFIED;
    changed.scope = &other_scope;
    changed.auto_renew = true;
    changed.last_sequence = 1u << 20;
    struct codec_packed other;
    assert_int_equal(LEDGER_ERR_OK, codec_pack_scratch(&other_scope.base, NULL, 0, &other));
    const struct codec_field fields[] = {
        {.number = 4, .varint = 0},
        {.number = 11, .bytes = other.data, .size = other.size},
        {.number = 12, .varint = 1},
        {.number = 20, .varint = 1u << 20},
    };
    assert_patched(before, before_size, fields, 4, &changed.base);

    /* A field before every other and one after: reservation_id replaced. */
    changed = row;
    changed.reservation_id = "res-2";
    changed.last_sequence = 7;
    const struct codec_field ends[] = {
        {.number = 1, .bytes = (const uint8_t *)"res-2", .size = 5},
        {.number = 20, .varint = 7},
    };
    assert_patched(before, before_size, ends, 2, &changed.base);

    /* Nothing to patch: the bytes as they were; cut bytes do not frame. */
    struct codec_packed patched;
    assert_int_equal(LEDGER_ERR_OK,
                     codec_patch(before, before_size, NULL, 0, LEDGER_ERR_CORRUPT, &patched));
    assert_int_equal(before_size, patched.size);
    assert_memory_equal(before, patched.data, before_size);
    codec_packed_free(&patched);
    assert_int_equal(LEDGER_ERR_CORRUPT,
                     codec_patch(before, 3, ends, 2, LEDGER_ERR_CORRUPT, &patched));
    const uint8_t group[] = {0x0b};
    assert_int_equal(LEDGER_ERR_BAD_REQUEST,
                     codec_patch(group, sizeof group, ends, 2, LEDGER_ERR_BAD_REQUEST, &patched));
    codec_packed_free(&other);
    free(before);
}

/* codec_varint_field reads one varint field of packed bytes: its value, 0
 * when absent; a field of another wire type or bytes that do not frame are
 * the caller's error. */
static void test_codec_varint_field(void **state)
{
    (void)state;
    Ledger__V1__ReservationRow row = LEDGER__V1__RESERVATION_ROW__INIT;
    row.reservation_id = "res-1";
    row.quantity = 300;
    row.last_sequence = UINT64_MAX;
    uint8_t *bytes = NULL;
    size_t size = 0;
    assert_int_equal(LEDGER_ERR_OK, codec_pack(&row.base, &bytes, &size));
    uint64_t value = 1;
    assert_int_equal(LEDGER_ERR_OK, codec_varint_field(bytes, size, 8, LEDGER_ERR_CORRUPT, &value));
    assert_int_equal(300, value);
    assert_int_equal(LEDGER_ERR_OK,
                     codec_varint_field(bytes, size, 20, LEDGER_ERR_CORRUPT, &value));
    assert_true(value == UINT64_MAX);
    assert_int_equal(LEDGER_ERR_OK,
                     codec_varint_field(bytes, size, 12, LEDGER_ERR_CORRUPT, &value));
    assert_int_equal(0, value);
    assert_int_equal(LEDGER_ERR_CORRUPT,
                     codec_varint_field(bytes, size, 1, LEDGER_ERR_CORRUPT, &value));
    assert_int_equal(LEDGER_ERR_CORRUPT,
                     codec_varint_field(bytes, size - 1, 8, LEDGER_ERR_CORRUPT, &value));
    assert_int_equal(0, value);
    free(bytes);
}

/* A command decodes to what was packed, with codec_command_unpack and into
 * an arena alike. */
static void test_codec_command_round_trip(void **state)
{
    (void)state;
    Ledger__V1__Command command = LEDGER__V1__COMMAND__INIT;
    Ledger__V1__ExchangeReservation body = LEDGER__V1__EXCHANGE_RESERVATION__INIT;
    char *ids[] = {"res-1", "res-2"};
    Ledger__V1__Money refund = LEDGER__V1__MONEY__INIT;
    refund.amount_minor = 10;
    refund.currency = "USD";
    body.n_reservation_ids = 2;
    body.reservation_ids = ids;
    body.refund = &refund;
    command.command_id = "cmd-7";
    command.partner_id = "p-1";
    command.customer_id = "c-1";
    command.check_version = true;
    command.expected_version = 12;
    command.business_us = 42;
    command.body_case = LEDGER__V1__COMMAND__BODY_EXCHANGE_RESERVATION;
    command.exchange_reservation = &body;
    uint8_t *bytes = NULL;
    size_t size = 0;
    assert_int_equal(LEDGER_ERR_OK, codec_pack(&command.base, &bytes, &size));
    Ledger__V1__Command *back = NULL;
    assert_int_equal(LEDGER_ERR_OK, codec_command_unpack(bytes, size, &back));
    assert_string_equal("cmd-7", back->command_id);
    assert_true(back->check_version);
    assert_int_equal(12, back->expected_version);
    assert_int_equal(42, back->business_us);
    assert_int_equal(LEDGER__V1__COMMAND__BODY_EXCHANGE_RESERVATION, back->body_case);
    assert_int_equal(2, back->exchange_reservation->n_reservation_ids);
    assert_string_equal("res-2", back->exchange_reservation->reservation_ids[1]);
    assert_int_equal(0, back->exchange_reservation->n_replacements);
    codec_command_free(back);

    /* Decoded into an arena, twice through a reset: the same command; bytes
     * that do not decode are BAD_REQUEST there too. */
    struct codec_arena arena = {0};
    for (int round = 0; round < 2; round++) {
        Ledger__V1__Command *in_arena = NULL;
        assert_int_equal(LEDGER_ERR_OK, codec_command_unpack_arena(&arena, bytes, size, &in_arena));
        assert_string_equal("res-2", in_arena->exchange_reservation->reservation_ids[1]);
        assert_packs_again(&in_arena->base, bytes, size);
        codec_arena_reset(&arena);
    }
    const uint8_t garbage[] = {0x0a, 0x05, 'a'};
    assert_int_equal(LEDGER_ERR_BAD_REQUEST,
                     codec_command_unpack_arena(&arena, garbage, sizeof garbage, &back));
    codec_arena_free(&arena);
    assert_null(arena.chunks);
    free(bytes);
}

/* A message of `descriptor` from hand-written bytes; must decode. */
static ProtobufCMessage *unpack_bytes(const ProtobufCMessageDescriptor *descriptor,
                                      const uint8_t *bytes, size_t size)
{
    ProtobufCMessage *message = NULL;
    assert_int_equal(LEDGER_ERR_OK, codec_message_unpack(descriptor, bytes, size, 1024,
                                                         LEDGER_ERR_CORRUPT, &message));
    return message;
}

/* A cancellation's unbilled_usd (field 4 of CancelReservation and of
 * ReservationCancelled) travels both ways; one recorded before the field
 * decodes without it, which means none was stated. */
static void test_codec_cancellation_unbilled_usd(void **state)
{
    (void)state;
    Ledger__V1__Command command = LEDGER__V1__COMMAND__INIT;
    Ledger__V1__CancelReservation body = LEDGER__V1__CANCEL_RESERVATION__INIT;
    Ledger__V1__Money refund = LEDGER__V1__MONEY__INIT;
    Ledger__V1__Money unbilled_usd = LEDGER__V1__MONEY__INIT;
    refund.currency = "EUR";
    unbilled_usd.amount_minor = 5280000;
    unbilled_usd.currency = "USD";
    body.reservation_id = "res-3";
    body.refund = &refund;
    body.refund_usd = &refund;
    body.unbilled_usd = &unbilled_usd;
    command.command_id = "cmd-8";
    command.body_case = LEDGER__V1__COMMAND__BODY_CANCEL_RESERVATION;
    command.cancel_reservation = &body;
    uint8_t *bytes = NULL;
    size_t size = 0;
    assert_int_equal(LEDGER_ERR_OK, codec_pack(&command.base, &bytes, &size));
    Ledger__V1__Command *back = NULL;
    assert_int_equal(LEDGER_ERR_OK, codec_command_unpack(bytes, size, &back));
    assert_non_null(back->cancel_reservation->unbilled_usd);
    assert_int_equal(5280000, back->cancel_reservation->unbilled_usd->amount_minor);
    assert_string_equal("USD", back->cancel_reservation->unbilled_usd->currency);
    codec_command_free(back);
    free(bytes);

    Ledger__V1__Event event = LEDGER__V1__EVENT__INIT;
    Ledger__V1__ReservationCancelled cancelled = LEDGER__V1__RESERVATION_CANCELLED__INIT;
    cancelled.reservation_id = "res-3";
    cancelled.refund = &refund;
    cancelled.refund_usd = &refund;
    cancelled.unbilled_usd = &unbilled_usd;
    event.sequence = 9;
    event.schema_version = LEDGER_SCHEMA_VERSION;
    event.body_case = LEDGER__V1__EVENT__BODY_RESERVATION_CANCELLED;
    event.reservation_cancelled = &cancelled;
    assert_int_equal(LEDGER_ERR_OK, codec_pack(&event.base, &bytes, &size));
    Ledger__V1__Event *record = NULL;
    assert_int_equal(LEDGER_ERR_OK, codec_event_unpack(bytes, size, &record));
    assert_int_equal(5280000, record->reservation_cancelled->unbilled_usd->amount_minor);
    codec_event_free(record);
    free(bytes);

    /* As written before the field: reservation_id "res-3" and a refund of
     * EUR 0 (fields 1 and 2). */
    static const uint8_t earlier[] = {0x0a, 0x05, 'r',  'e',  's', '-', '3',
                                      0x12, 0x05, 0x12, 0x03, 'E', 'U', 'R'};
    ProtobufCMessage *message =
        unpack_bytes(&ledger__v1__reservation_cancelled__descriptor, earlier, sizeof earlier);
    const Ledger__V1__ReservationCancelled *old = (const Ledger__V1__ReservationCancelled *)message;
    assert_string_equal("res-3", old->reservation_id);
    assert_string_equal("EUR", old->refund->currency);
    assert_null(old->unbilled_usd);
    codec_message_free(message);
}

/* An exchange's replacement was once a singular field; it is now repeated
 * under the same number. The bytes an earlier build wrote for one replacement
 * (field 4, a ReservationPurchased with reservation_id "res-9") read as a list
 * of one, and two occurrences as two, in order: records and commands written
 * before the change decode unchanged. */
static void test_codec_singular_replacement_reads_as_list_of_one(void **state)
{
    (void)state;
    static const uint8_t one[] = {0x22, 0x07, 0x12, 0x05, 'r', 'e', 's', '-', '9'};
    Ledger__V1__ReservationExchanged *x = (Ledger__V1__ReservationExchanged *)unpack_bytes(
        &ledger__v1__reservation_exchanged__descriptor, one, sizeof one);
    assert_int_equal(1, x->n_replacements);
    assert_string_equal("res-9", x->replacements[0]->reservation_id);
    /* Packing one replacement gives the earlier bytes back. */
    uint8_t *bytes = NULL;
    size_t size = 0;
    assert_int_equal(LEDGER_ERR_OK, codec_pack(&x->base, &bytes, &size));
    assert_int_equal(sizeof one, size);
    assert_memory_equal(one, bytes, size);
    free(bytes);
    codec_message_free(&x->base);

    static const uint8_t two[] = {0x22, 0x07, 0x12, 0x05, 'r', 'e', 's', '-', '9', 0x22,
                                  0x09, 0x12, 0x07, 'r',  'e', 's', '-', '9', '-', '2'};
    x = (Ledger__V1__ReservationExchanged *)unpack_bytes(
        &ledger__v1__reservation_exchanged__descriptor, two, sizeof two);
    assert_int_equal(2, x->n_replacements);
    assert_string_equal("res-9", x->replacements[0]->reservation_id);
    assert_string_equal("res-9-2", x->replacements[1]->reservation_id);
    codec_message_free(&x->base);

    /* The command's replacement (field 3) alike. */
    static const uint8_t command[] = {0x1a, 0x04, 0x12, 0x02, 'D', '2'};
    Ledger__V1__ExchangeReservation *c = (Ledger__V1__ExchangeReservation *)unpack_bytes(
        &ledger__v1__exchange_reservation__descriptor, command, sizeof command);
    assert_int_equal(1, c->n_replacements);
    assert_string_equal("D2", c->replacements[0]->sku);
    codec_message_free(&c->base);
}

static void test_codec_empty_message_packs_and_unpacks(void **state)
{
    (void)state;
    Ledger__V1__Command command = LEDGER__V1__COMMAND__INIT;
    uint8_t *bytes = NULL;
    size_t size = 99;
    assert_int_equal(LEDGER_ERR_OK, codec_pack(&command.base, &bytes, &size));
    assert_non_null(bytes); /* never NULL on success, even for zero bytes */
    assert_int_equal(0, size);
    free(bytes);
    Ledger__V1__Command *back = NULL;
    assert_int_equal(LEDGER_ERR_OK, codec_command_unpack(NULL, 0, &back));
    assert_int_equal(LEDGER__V1__COMMAND__BODY__NOT_SET, back->body_case);
    assert_string_equal("", back->command_id);
    codec_command_free(back);
    codec_command_free(NULL);
    codec_event_free(NULL);
    codec_message_free(NULL);
}

/* codec_message_peek reads varints and a length-delimited field of a
 * serialized message as decoding it would (the last occurrence of each),
 * and refuses framing it cannot follow or a field of another wire type. */
static void test_codec_message_peek(void **state)
{
    (void)state;
    Ledger__V1__Actor actor = LEDGER__V1__ACTOR__INIT;
    actor.principal_id = "admin-1";
    Ledger__V1__ActivityRow row = LEDGER__V1__ACTIVITY_ROW__INIT;
    row.sequence = 7;
    row.recorded_us = 1735689600000000;
    row.customer_id = "c-1";
    row.action = "Purchase Reservation";
    row.actor = &actor;
    row.detail = "res-1";
    uint8_t *bytes = NULL;
    size_t size = 0;
    assert_int_equal(codec_pack(&row.base, &bytes, &size), LEDGER_ERR_OK);
    uint64_t varint = 1;
    const uint8_t *found = NULL;
    size_t found_size = 0;
    assert_true(
        codec_message_peek(bytes, size, (const uint32_t[]){2}, 1, 4, &varint, &found, &found_size));
    assert_int_equal(varint, 1735689600000000);
    assert_int_equal(found_size, strlen("Purchase Reservation"));
    assert_memory_equal(found, "Purchase Reservation", found_size);
    /* Several varints in one pass, each in the order asked; none at all. */
    Ledger__V1__ActivityRow dated = row;
    dated.business_us = 1735603200000000;
    uint8_t *dated_bytes = NULL;
    size_t dated_size = 0;
    assert_int_equal(codec_pack(&dated.base, &dated_bytes, &dated_size), LEDGER_ERR_OK);
    uint64_t times[3] = {0};
    assert_true(codec_message_peek(dated_bytes, dated_size, (const uint32_t[]){8, 1, 2}, 3, 4,
                                   times, &found, &found_size));
    assert_int_equal(times[0], 1735603200000000);
    assert_int_equal(times[1], 7);
    assert_int_equal(times[2], 1735689600000000);
    assert_memory_equal(found, "Purchase Reservation", found_size);
    assert_true(codec_message_peek(dated_bytes, dated_size, NULL, 0, 4, NULL, &found, &found_size));
    assert_int_equal(found_size, strlen("Purchase Reservation"));
    /* A field asked for with another wire type fails whichever place it has. */
    assert_false(codec_message_peek(dated_bytes, dated_size, (const uint32_t[]){2, 5}, 2, 4, times,
                                    &found, &found_size));
    free(dated_bytes);
    /* Absent fields: 0 and no bytes. */
    assert_true(codec_message_peek(bytes, size, (const uint32_t[]){9}, 1, 10, &varint, &found,
                                   &found_size));
    assert_int_equal(varint, 0);
    assert_null(found);
    assert_int_equal(found_size, 0);
    /* A field asked for with another wire type than it has (the actor is
     * length-delimited, the sequence a varint). */
    assert_false(
        codec_message_peek(bytes, size, (const uint32_t[]){5}, 1, 4, &varint, &found, &found_size));
    assert_false(
        codec_message_peek(bytes, size, (const uint32_t[]){2}, 1, 1, &varint, &found, &found_size));
    /* Cut short anywhere inside the last field (the detail: its tag, its
     * length and 5 bytes): framing it cannot follow. */
    for (size_t cut = 1; cut < 7; cut++) {
        assert_false(codec_message_peek(bytes, size - cut, (const uint32_t[]){2}, 1, 4, &varint,
                                        &found, &found_size));
    }
    /* Two messages one after the other decode as one whose fields are the
     * last of each: so does the peek. */
    Ledger__V1__ActivityRow second = LEDGER__V1__ACTIVITY_ROW__INIT;
    second.recorded_us = 5;
    second.action = "Cancel Reservation";
    uint8_t *more = NULL;
    size_t more_size = 0;
    assert_int_equal(codec_pack(&second.base, &more, &more_size), LEDGER_ERR_OK);
    uint8_t *both = malloc(size + more_size);
    assert_non_null(both);
    memcpy(both, bytes, size);
    memcpy(both + size, more, more_size);
    assert_true(codec_message_peek(both, size + more_size, (const uint32_t[]){2}, 1, 4, &varint,
                                   &found, &found_size));
    ProtobufCMessage *decoded = NULL;
    assert_int_equal(codec_message_unpack(&ledger__v1__activity_row__descriptor, both,
                                          size + more_size, size + more_size, LEDGER_ERR_CORRUPT,
                                          &decoded),
                     LEDGER_ERR_OK);
    const Ledger__V1__ActivityRow *merged = (const Ledger__V1__ActivityRow *)decoded;
    assert_int_equal(varint, (uint64_t)merged->recorded_us);
    assert_int_equal(varint, 5);
    assert_int_equal(found_size, strlen(merged->action));
    assert_memory_equal(found, merged->action, found_size);
    codec_message_free(decoded);
    /* Nothing at all: an empty message. */
    assert_true(
        codec_message_peek(NULL, 0, (const uint32_t[]){2}, 1, 4, &varint, &found, &found_size));
    assert_int_equal(varint, 0);
    assert_null(found);
    free(both);
    free(more);
    free(bytes);
}

/* Bytes `a` then `b` in one new buffer (the caller frees it). */
static uint8_t *joined(const uint8_t *a, size_t a_size, const uint8_t *b, size_t b_size)
{
    uint8_t *out = malloc(a_size + b_size + 1);
    assert_non_null(out);
    memcpy(out, a, a_size);
    memcpy(out + a_size, b, b_size);
    return out;
}

/* Whether protobuf-c decodes the bytes as an ActivityRow. */
static bool activity_row_decodes(const uint8_t *bytes, size_t size)
{
    ProtobufCMessage *message = NULL;
    enum ledger_err err = codec_message_unpack(&ledger__v1__activity_row__descriptor, bytes, size,
                                               size, LEDGER_ERR_CORRUPT, &message);
    codec_message_free(message);
    return err == LEDGER_ERR_OK;
}

/* The readers of stored bytes that do not decode them (codec_message_peek,
 * codec_patch, codec_varint_field) step over fields of the fixed-size wire
 * types (a newer build's fixed32 and fixed64 fields, which protobuf-c
 * keeps), and refuse, as protobuf-c does, such a field cut short, a varint
 * or a length cut short, and the wire types protobuf-c refuses: a filter
 * never reads another row than the one a decode would give, and a patch
 * keeps a newer build's fields as they were. */
static void test_codec_fixed_fields_and_bad_framing(void **state)
{
    (void)state;
    Ledger__V1__ActivityRow row = LEDGER__V1__ACTIVITY_ROW__INIT;
    row.sequence = 7;
    row.recorded_us = 1735689600000000;
    row.action = "Purchase Reservation";
    row.detail = "res-1";
    uint8_t *plain = NULL;
    size_t plain_size = 0;
    assert_int_equal(codec_pack(&row.base, &plain, &plain_size), LEDGER_ERR_OK);
    /* Field 99 as a fixed32, before the row's fields, and as a fixed64
     * after them. */
    static const uint8_t fixed32[] = {0x9d, 0x06, 0x01, 0x02, 0x03, 0x04};
    static const uint8_t fixed64[] = {0x99, 0x06, 1, 2, 3, 4, 5, 6, 7, 8};
    uint8_t *front = joined(fixed32, sizeof fixed32, plain, plain_size);
    uint8_t *bytes = joined(front, sizeof fixed32 + plain_size, fixed64, sizeof fixed64);
    size_t size = sizeof fixed32 + plain_size + sizeof fixed64;
    assert_true(activity_row_decodes(bytes, size));
    uint64_t times[2] = {0};
    const uint8_t *found = NULL;
    size_t found_size = 0;
    assert_true(codec_message_peek(bytes, size, (const uint32_t[]){2, 1}, 2, 4, times, &found,
                                   &found_size));
    assert_int_equal(times[0], 1735689600000000);
    assert_int_equal(times[1], 7);
    assert_int_equal(found_size, strlen("Purchase Reservation"));
    assert_memory_equal(found, "Purchase Reservation", found_size);
    uint64_t value = 0;
    assert_int_equal(codec_varint_field(bytes, size, 1, LEDGER_ERR_CORRUPT, &value), LEDGER_ERR_OK);
    assert_int_equal(value, 7);
    /* The fixed field asked for as a varint is the caller's error. */
    assert_int_equal(codec_varint_field(bytes, size, 99, LEDGER_ERR_CORRUPT, &value),
                     LEDGER_ERR_CORRUPT);
    assert_false(
        codec_message_peek(bytes, size, (const uint32_t[]){99}, 1, 4, times, &found, &found_size));

    /* A patch of the known fields keeps both unknown ones as they were,
     * after the row's fields, where protobuf-c packs them (codec_patch
     * reads bytes in field order): the bytes of the row patched alone,
     * then the same two fields. */
    uint8_t *back = joined(plain, plain_size, fixed32, sizeof fixed32);
    uint8_t *ordered = joined(back, plain_size + sizeof fixed32, fixed64, sizeof fixed64);
    free(back);
    assert_true(activity_row_decodes(ordered, size));
    const struct codec_field sequence = {.number = 1, .varint = 9};
    struct codec_packed alone, patched;
    assert_int_equal(codec_patch(plain, plain_size, &sequence, 1, LEDGER_ERR_CORRUPT, &alone),
                     LEDGER_ERR_OK);
    assert_int_equal(codec_patch(ordered, size, &sequence, 1, LEDGER_ERR_CORRUPT, &patched),
                     LEDGER_ERR_OK);
    assert_int_equal(patched.size, alone.size + sizeof fixed32 + sizeof fixed64);
    assert_memory_equal(patched.data, alone.data, alone.size);
    assert_memory_equal(patched.data + alone.size, fixed32, sizeof fixed32);
    assert_memory_equal(patched.data + alone.size + sizeof fixed32, fixed64, sizeof fixed64);
    codec_packed_free(&alone);
    codec_packed_free(&patched);
    free(ordered);

    /* The fixed64 cut short anywhere in its value, and the fixed32 alike:
     * none of the readers goes on, and protobuf-c does not decode it. */
    for (size_t cut = 1; cut <= 8; cut++) {
        assert_false(activity_row_decodes(bytes, size - cut));
        assert_false(codec_message_peek(bytes, size - cut, (const uint32_t[]){2}, 1, 4, times,
                                        &found, &found_size));
        assert_int_equal(codec_varint_field(bytes, size - cut, 1, LEDGER_ERR_CORRUPT, &value),
                         LEDGER_ERR_CORRUPT);
        patched.size = 99;
        assert_int_equal(codec_patch(bytes, size - cut, &sequence, 1, LEDGER_ERR_CORRUPT, &patched),
                         LEDGER_ERR_CORRUPT);
    }
    for (size_t cut = 1; cut <= 4; cut++) {
        assert_false(activity_row_decodes(front, sizeof fixed32 - cut));
        assert_false(codec_message_peek(front, sizeof fixed32 - cut, (const uint32_t[]){2}, 1, 4,
                                        times, &found, &found_size));
        assert_int_equal(
            codec_patch(front, sizeof fixed32 - cut, &sequence, 1, LEDGER_ERR_CORRUPT, &patched),
            LEDGER_ERR_CORRUPT);
    }

    /* After the row: a tag cut short, a varint value cut short, a length
     * cut short, and the wire types protobuf-c refuses (the groups' 3 and
     * 4, and 6 and 7, which do not exist). */
    static const struct {
        uint8_t bytes[2];
        size_t size;
    } tails[] = {
        {{0x80}, 1},       {{0x10, 0x80}, 2}, {{0x2a, 0x80}, 2}, {{0x9b, 0x06}, 2},
        {{0x9c, 0x06}, 2}, {{0x9e, 0x06}, 2}, {{0x9f, 0x06}, 2},
    };
    for (size_t i = 0; i < sizeof tails / sizeof tails[0]; i++) {
        uint8_t *bad = joined(plain, plain_size, tails[i].bytes, tails[i].size);
        size_t bad_size = plain_size + tails[i].size;
        if (activity_row_decodes(bad, bad_size) ||
            codec_message_peek(bad, bad_size, (const uint32_t[]){2}, 1, 4, times, &found,
                               &found_size) ||
            codec_varint_field(bad, bad_size, 1, LEDGER_ERR_CORRUPT, &value) !=
                LEDGER_ERR_CORRUPT ||
            codec_patch(bad, bad_size, &sequence, 1, LEDGER_ERR_CORRUPT, &patched) !=
                LEDGER_ERR_CORRUPT) {
            fail_msg("tail %zu (%02x %02x) was read", i, tails[i].bytes[0], tails[i].bytes[1]);
        }
        free(bad);
    }
    free(bytes);
    free(front);
    free(plain);
}

static void test_codec_garbage_is_refused(void **state)
{
    (void)state;
    static const uint8_t garbage[][8] = {
        {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}, /* varint that never ends */
        {0x0A, 0x10, 'a', 'b'},                           /* string longer than the bytes */
        {0x0F, 0x00},                                     /* wire type 7 does not exist */
        {0x38, 0x80},                                     /* truncated varint */
        {0xA2, 0x01, 0x05, 0x0A, 0x09, 'x'},              /* body with a truncated field */
    };
    static const size_t sizes[] = {8, 4, 2, 2, 6};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        Ledger__V1__Command *command = (Ledger__V1__Command *)0x1;
        assert_int_equal(LEDGER_ERR_BAD_REQUEST,
                         codec_command_unpack(garbage[i], sizes[i], &command));
        assert_ptr_equal((Ledger__V1__Command *)0x1, command); /* untouched */
        Ledger__V1__Event *event = (Ledger__V1__Event *)0x1;
        assert_int_equal(LEDGER_ERR_CORRUPT, codec_event_unpack(garbage[i], sizes[i], &event));
        assert_ptr_equal((Ledger__V1__Event *)0x1, event);
    }
    /* NULL bytes with a size are refused, not read. */
    Ledger__V1__Command *command = NULL;
    assert_int_equal(LEDGER_ERR_BAD_REQUEST, codec_command_unpack(NULL, 4, &command));
    Ledger__V1__Event *event = NULL;
    assert_int_equal(LEDGER_ERR_CORRUPT, codec_event_unpack(NULL, 4, &event));
}

/* Packs `command` and replaces the byte '~' in it (which must occur once)
 * with a NUL; the caller frees the bytes. */
static uint8_t *packed_with_nul(Ledger__V1__Command *command, size_t *size_out)
{
    uint8_t *bytes = NULL;
    size_t size = 0;
    assert_int_equal(codec_pack(&command->base, &bytes, &size), LEDGER_ERR_OK);
    uint8_t *tilde = memchr(bytes, '~', size);
    assert_non_null(tilde);
    assert_null(memchr(tilde + 1, '~', size - (size_t)(tilde + 1 - bytes)));
    *tilde = '\0';
    *size_out = size;
    return bytes;
}

/* A string field holding a NUL byte does not decode: as a C string it
 * would be cut short, and every check would see another value than the
 * bytes that were signed and hashed ("operator\0x" read as "operator").
 * In a nested message too; bytes fields may hold any byte. */
static void test_codec_nul_in_a_string_is_refused(void **state)
{
    (void)state;
    Ledger__V1__AddPartner body = LEDGER__V1__ADD_PARTNER__INIT;
    body.partner_id = "p1";
    body.name = "Contoso";
    Ledger__V1__Command command = LEDGER__V1__COMMAND__INIT;
    command.command_id = "cmd-1~x";
    command.partner_id = "p1";
    command.body_case = LEDGER__V1__COMMAND__BODY_ADD_PARTNER;
    command.add_partner = &body;
    size_t size = 0;
    uint8_t *bytes = packed_with_nul(&command, &size);
    Ledger__V1__Command *out = NULL;
    assert_int_equal(codec_command_unpack(bytes, size, &out), LEDGER_ERR_BAD_REQUEST);
    assert_null(out);
    free(bytes);

    command.command_id = "cmd-1";
    body.name = "Good~\x01\x02";
    bytes = packed_with_nul(&command, &size);
    assert_int_equal(codec_command_unpack(bytes, size, &out), LEDGER_ERR_BAD_REQUEST);
    free(bytes);

    /* Unknown fields of the fixed-size wire types before it (a newer
     * client's fixed32 and fixed64 fields, which protobuf-c keeps) are
     * stepped over, so the NUL after them is still seen; without the NUL
     * the same bytes decode, unknown fields and all. */
    const uint8_t unknown[] = {
        0x9d, 0x06, 0x00, 0x0a, 0x00, 0x00,                         /* field 99, fixed32 */
        0x99, 0x06, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* field 99, fixed64 */
    };
    const size_t starts[] = {0, 6}; /* both fields, or the fixed64 alone */
    for (size_t i = 0; i < sizeof starts / sizeof starts[0]; i++) {
        size_t prefix = sizeof unknown - starts[i];
        assert_int_equal(codec_pack(&command.base, &bytes, &size), LEDGER_ERR_OK);
        uint8_t *prefixed = malloc(prefix + size);
        assert_non_null(prefixed);
        memcpy(prefixed, unknown + starts[i], prefix);
        memcpy(prefixed + prefix, bytes, size);
        uint8_t *tilde = memchr(prefixed + prefix, '~', size);
        assert_non_null(tilde);
        *tilde = '\0';
        assert_int_equal(codec_command_unpack(prefixed, prefix + size, &out),
                         LEDGER_ERR_BAD_REQUEST);
        assert_null(out);
        *tilde = '~';
        assert_int_equal(codec_command_unpack(prefixed, prefix + size, &out), LEDGER_ERR_OK);
        assert_string_equal(out->add_partner->name, "Good~\x01\x02");
        codec_command_free(out);
        out = NULL;
        free(prefixed);
        free(bytes);
    }

    /* Without the NUL both decode; a bytes field with NULs does too. */
    body.name = "Good~";
    uint8_t hash[32] = {0};
    Ledger__V1__Event event = LEDGER__V1__EVENT__INIT;
    event.sequence = 7;
    event.command_hash.data = hash;
    event.command_hash.len = sizeof hash;
    assert_int_equal(codec_pack(&command.base, &bytes, &size), LEDGER_ERR_OK);
    assert_int_equal(codec_command_unpack(bytes, size, &out), LEDGER_ERR_OK);
    assert_string_equal(out->add_partner->name, "Good~");
    codec_command_free(out);
    free(bytes);
    assert_int_equal(codec_pack(&event.base, &bytes, &size), LEDGER_ERR_OK);
    Ledger__V1__Event *decoded = NULL;
    assert_int_equal(codec_event_unpack(bytes, size, &decoded), LEDGER_ERR_OK);
    assert_int_equal(decoded->command_hash.len, sizeof hash);
    codec_event_free(decoded);
    free(bytes);
}

static void test_codec_truncated_record_is_corrupt(void **state)
{
    (void)state;
    Ledger__V1__Event event = LEDGER__V1__EVENT__INIT;
    Ledger__V1__CustomerOnboarded body = LEDGER__V1__CUSTOMER_ONBOARDED__INIT;
    body.name = "Contoso Ltd";
    event.sequence = 1;
    event.partner_id = "p-1";
    event.body_case = LEDGER__V1__EVENT__BODY_CUSTOMER_ONBOARDED;
    event.customer_onboarded = &body;
    uint8_t *bytes = NULL;
    size_t size = 0;
    assert_int_equal(LEDGER_ERR_OK, codec_pack(&event.base, &bytes, &size));
    Ledger__V1__Event *back = NULL;
    assert_int_equal(LEDGER_ERR_CORRUPT, codec_event_unpack(bytes, size - 1, &back));
    assert_null(back);
    free(bytes);
}

static void test_codec_size_limits(void **state)
{
    (void)state;
    static const uint8_t small[4] = {0};
    Ledger__V1__Command *command = NULL;
    /* The size is checked before a byte is read. */
    assert_int_equal(LEDGER_ERR_TOO_LARGE,
                     codec_command_unpack(small, (size_t)LEDGER_REQUEST_BYTES_MAX + 1, &command));
    assert_null(command);
    Ledger__V1__Event *event = NULL;
    assert_int_equal(LEDGER_ERR_CORRUPT,
                     codec_event_unpack(small, (size_t)LEDGER_REQUEST_BYTES_MAX + 1, &event));
    ProtobufCMessage *message = NULL;
    assert_int_equal(LEDGER_ERR_TOO_LARGE,
                     codec_message_unpack(&ledger__v1__request__descriptor, small, 4, 3,
                                          LEDGER_ERR_BAD_REQUEST, &message));
    assert_int_equal(LEDGER_ERR_OK, codec_message_unpack(&ledger__v1__request__descriptor, NULL, 0,
                                                         3, LEDGER_ERR_BAD_REQUEST, &message));
    codec_message_free(message);
}

/* Unknown enum numbers survive decoding as raw numbers: the validators are
 * what stands between them and a switch. */
static void test_codec_unknown_enum_value_decodes_raw(void **state)
{
    (void)state;
    /* PurchaseReservation (Command field 30) with term (field 5) = 99. */
    static const uint8_t bytes[] = {0xF2, 0x01, 0x02, 0x28, 99};
    Ledger__V1__Command *command = NULL;
    assert_int_equal(LEDGER_ERR_OK, codec_command_unpack(bytes, sizeof bytes, &command));
    assert_int_equal(LEDGER__V1__COMMAND__BODY_PURCHASE_RESERVATION, command->body_case);
    int term = (int)command->purchase_reservation->term;
    assert_int_equal(99, term);
    assert_false(codec_term_valid(term));
    assert_false(codec_enum_declared(CODEC_ENUM_TERM, term));
    codec_command_free(command);
}

static void test_codec_id_validator(void **state)
{
    (void)state;
    char longest[LEDGER_ID_LENGTH_MAX + 2];
    memset(longest, 'a', sizeof longest);
    longest[LEDGER_ID_LENGTH_MAX] = '\0';
    assert_true(codec_id_valid(longest));
    longest[LEDGER_ID_LENGTH_MAX] = 'a';
    longest[LEDGER_ID_LENGTH_MAX + 1] = '\0';
    assert_false(codec_id_valid(longest));
    assert_true(codec_id_valid("a"));
    assert_true(codec_id_valid("AZaz09.:@-"));
    assert_true(codec_id_valid("user@contoso.com"));
    assert_false(codec_id_valid(""));
    assert_false(codec_id_valid(NULL));
    const char *bad[] = {"a b", "a/b", "a_b", "a\tb", "a\nb", "caf\xc3\xa9", "a\"b",
                         "a'b", "a;b", "a*b", "a%b",  "\x7f", "a\\b",        "a,b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(codec_id_valid(bad[i]));
}

static void test_codec_sku_validator(void **state)
{
    (void)state;
    assert_true(codec_sku_valid("Standard_D2s_v5"));
    assert_true(codec_sku_valid("westeurope"));
    assert_true(codec_sku_valid("DedicatedHost_DSv3-Type1"));
    char longest[LEDGER_SKU_LENGTH_MAX + 2];
    memset(longest, 'S', sizeof longest);
    longest[LEDGER_SKU_LENGTH_MAX] = '\0';
    assert_true(codec_sku_valid(longest));
    longest[LEDGER_SKU_LENGTH_MAX] = 'S';
    longest[LEDGER_SKU_LENGTH_MAX + 1] = '\0';
    assert_false(codec_sku_valid(longest));
    assert_false(codec_sku_valid(""));
    assert_false(codec_sku_valid(NULL));
    assert_false(codec_sku_valid("Standard D2"));
    assert_false(codec_sku_valid("Standard/D2"));
}

static void test_codec_name_validator(void **state)
{
    (void)state;
    assert_true(codec_name_valid("Contoso Ltd."));
    assert_true(codec_name_valid("Soci\xc3\xa9t\xc3\xa9 G\xc3\xa9n\xc3\xa9rale"));
    assert_true(codec_name_valid("\xe6\x97\xa5\xe6\x9c\xac"));    /* CJK */
    assert_true(codec_name_valid("Rocket \xf0\x9f\x9a\x80 Inc")); /* 4-byte */
    assert_false(codec_name_valid(""));
    assert_false(codec_name_valid(NULL));
    assert_false(codec_name_valid("line\nbreak"));
    assert_false(codec_name_valid("tab\there"));
    assert_false(codec_name_valid("esc\x1b[31m"));
    assert_false(codec_name_valid("del\x7f"));
    assert_false(codec_name_valid("c1 \xc2\x85 next line"));
    assert_false(codec_name_valid("overlong \xc0\xaf"));
    assert_false(codec_name_valid("overlong \xe0\x80\xaf"));
    assert_false(codec_name_valid("surrogate \xed\xa0\x80"));
    assert_false(codec_name_valid("truncated \xe2\x82"));
    assert_false(codec_name_valid("past max \xf4\x90\x80\x80"));
    assert_false(codec_name_valid("lone continuation \x80"));
    assert_false(codec_name_valid("\xff"));
    /* Separators and bidirectional formatting characters reorder or break
     * what a table shows around them: refused in a new name, read in a
     * recorded one (earlier builds accepted them). */
    const char *const formatting[] = {
        "right-to-left \xe2\x80\xae override", /* U+202E */
        "isolate \xe2\x81\xa6 x \xe2\x81\xa9", /* U+2066, U+2069 */
        "mark \xe2\x80\x8f",                   /* U+200F */
        "arabic mark \xd8\x9c",                /* U+061C */
        "line \xe2\x80\xa8 separator",         /* U+2028 */
        "paragraph \xe2\x80\xa9 separator",    /* U+2029 */
    };
    for (size_t i = 0; i < sizeof formatting / sizeof formatting[0]; i++) {
        assert_false(codec_name_valid(formatting[i]));
        assert_true(codec_name_recorded(formatting[i]));
    }
    assert_true(codec_name_valid("zero width \xe2\x80\x8d joiner")); /* U+200D: emoji, scripts */
    assert_false(codec_name_recorded("line\nbreak"));
    assert_false(codec_name_recorded(""));
    char name[LEDGER_NAME_LENGTH_MAX + 2];
    memset(name, 'n', sizeof name);
    name[LEDGER_NAME_LENGTH_MAX] = '\0';
    assert_true(codec_name_valid(name));
    name[LEDGER_NAME_LENGTH_MAX] = 'n';
    name[LEDGER_NAME_LENGTH_MAX + 1] = '\0';
    assert_false(codec_name_valid(name));
    /* The limit is in bytes: a 2-byte character straddling it is refused. */
    memset(name, 'n', sizeof name);
    name[LEDGER_NAME_LENGTH_MAX - 1] = '\xc3';
    name[LEDGER_NAME_LENGTH_MAX] = '\xa9';
    name[LEDGER_NAME_LENGTH_MAX + 1] = '\0';
    assert_false(codec_name_valid(name));
}

static void test_codec_money_validator(void **state)
{
    (void)state;
    Ledger__V1__Money money = LEDGER__V1__MONEY__INIT;
    money.currency = "USD";
    money.amount_minor = 0;
    assert_true(codec_money_valid(&money, false));
    assert_false(codec_money_valid(&money, true));
    money.amount_minor = 1;
    assert_true(codec_money_valid(&money, true));
    money.amount_minor = LEDGER_AMOUNT_MINOR_MAX;
    assert_true(codec_money_valid(&money, true));
    money.amount_minor = LEDGER_AMOUNT_MINOR_MAX + 1;
    assert_false(codec_money_valid(&money, false));
    money.amount_minor = -1;
    assert_false(codec_money_valid(&money, false));
    money.amount_minor = INT64_MIN;
    assert_false(codec_money_valid(&money, false));
    money.amount_minor = 100;
    const char *bad[] = {"usd", "US", "USDD", "", "U1D", "U D", "US\xc3\x89", "\xc3\x89UR"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        money.currency = (char *)bad[i];
        assert_false(codec_money_valid(&money, false));
    }
    money.currency = "JPY";
    assert_true(codec_money_valid(&money, true));
    /* Both ends of the alphabet are letters; the characters next to them
     * ('@' and '[') are not. */
    const char *edges[] = {"ZAR", "NZD", "CZK", "AUD", "AZN"};
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        money.currency = (char *)edges[i];
        assert_true(codec_money_valid(&money, false));
    }
    const char *outside[] = {"@UD", "US[", "[AR", "NZ@"};
    for (size_t i = 0; i < sizeof outside / sizeof outside[0]; i++) {
        money.currency = (char *)outside[i];
        assert_false(codec_money_valid(&money, false));
    }
    assert_false(codec_money_valid(NULL, false));
    money.currency = NULL;
    assert_false(codec_money_valid(&money, false));
}

static void test_codec_enum_validators(void **state)
{
    (void)state;
    struct {
        bool (*valid)(int);
        int last;
    } cases[] = {
        {codec_role_valid, 8},         {codec_permission_kind_valid, 2},
        {codec_offer_valid, 3},        {codec_subscription_status_valid, 4},
        {codec_azure_role_valid, 4},   {codec_term_valid, 3},
        {codec_billing_plan_valid, 2}, {codec_scope_kind_valid, 4},
        {codec_purchaser_valid, 2},    {codec_reservation_state_valid, 4},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_false(cases[i].valid(0)); /* UNSPECIFIED */
        assert_false(cases[i].valid(-1));
        assert_false(cases[i].valid(cases[i].last + 1));
        assert_false(cases[i].valid(INT32_MAX));
        for (int v = 1; v <= cases[i].last; v++)
            assert_true(cases[i].valid(v));
    }
    for (int which = 0; which < CODEC_ENUM_COUNT; which++) {
        assert_true(codec_enum_declared((enum codec_enum)which, 0));
        assert_false(codec_enum_valid((enum codec_enum)which, 0));
        assert_false(codec_enum_declared((enum codec_enum)which, 1000));
    }
    assert_false(codec_enum_declared((enum codec_enum)CODEC_ENUM_COUNT, 1));
    assert_string_equal("unknown", codec_enum_name((enum codec_enum)CODEC_ENUM_COUNT, 1));
}

static void test_codec_enum_names_round_trip(void **state)
{
    (void)state;
    static const int lasts[CODEC_ENUM_COUNT] = {
        [CODEC_ENUM_ROLE] = 8,         [CODEC_ENUM_PERMISSION_KIND] = 2,
        [CODEC_ENUM_OFFER] = 3,        [CODEC_ENUM_SUBSCRIPTION_STATUS] = 4,
        [CODEC_ENUM_AZURE_ROLE] = 4,   [CODEC_ENUM_TERM] = 3,
        [CODEC_ENUM_BILLING_PLAN] = 2, [CODEC_ENUM_SCOPE_KIND] = 4,
        [CODEC_ENUM_PURCHASER] = 2,    [CODEC_ENUM_RESERVATION_STATE] = 4,
    };
    for (int which = 0; which < CODEC_ENUM_COUNT; which++) {
        for (int v = 1; v <= lasts[which]; v++) {
            const char *name = codec_enum_name((enum codec_enum)which, v);
            assert_string_not_equal("unknown", name);
            assert_int_equal(v, codec_enum_from_name((enum codec_enum)which, name));
        }
        assert_string_equal("unknown", codec_enum_name((enum codec_enum)which, 0));
        assert_string_equal("unknown", codec_enum_name((enum codec_enum)which, lasts[which] + 1));
        assert_int_equal(0, codec_enum_from_name((enum codec_enum)which, "no-such-name"));
        assert_int_equal(0, codec_enum_from_name((enum codec_enum)which, NULL));
        assert_int_equal(0, codec_enum_from_name((enum codec_enum)which, "unknown"));
    }
    assert_string_equal("admin-agent", codec_role_name(LEDGER__V1__ROLE__ROLE_ADMIN_AGENT));
    assert_int_equal(LEDGER__V1__ROLE__ROLE_OPERATOR, codec_role_from_name("operator"));
    assert_int_equal(0, codec_role_from_name("root"));
    assert_string_equal("P5Y", codec_enum_name(CODEC_ENUM_TERM, LEDGER__V1__TERM__TERM_P5Y));
    assert_string_equal("reservation-purchaser",
                        codec_enum_name(CODEC_ENUM_AZURE_ROLE,
                                        LEDGER__V1__AZURE_ROLE__AZURE_ROLE_RESERVATION_PURCHASER));
}

/* Walks a message's oneof members through the name functions. */
static void check_oneof_names(const ProtobufCMessageDescriptor *descriptor,
                              const char *(*name_of)(int), int (*case_of)(const char *),
                              unsigned expected_members)
{
    unsigned members = 0;
    for (unsigned i = 0; i < descriptor->n_fields; i++) {
        const ProtobufCFieldDescriptor *field = &descriptor->fields[i];
        if ((field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) == 0) {
            /* An envelope field's number is not a body case. */
            assert_string_equal("", name_of((int)field->id));
            assert_int_equal(0, case_of(field->name));
            continue;
        }
        members++;
        assert_string_equal(field->name, name_of((int)field->id));
        assert_int_equal((int)field->id, case_of(field->name));
    }
    assert_int_equal(expected_members, members);
    assert_string_equal("", name_of(0));
    assert_string_equal("", name_of(-3));
    assert_string_equal("", name_of(999));
    assert_int_equal(0, case_of(""));
    assert_int_equal(0, case_of(NULL));
    assert_int_equal(0, case_of("no_such_body"));
}

static const char *event_name(int c)
{
    return codec_event_type_name((Ledger__V1__Event__BodyCase)c);
}
static int event_case(const char *name)
{
    return (int)codec_event_type_from_name(name);
}
static const char *command_name(int c)
{
    return codec_command_type_name((Ledger__V1__Command__BodyCase)c);
}
static int command_case(const char *name)
{
    return (int)codec_command_type_from_name(name);
}
static const char *query_name(int c)
{
    return codec_query_type_name((Ledger__V1__Query__KindCase)c);
}
static int query_case(const char *name)
{
    return (int)codec_query_type_from_name(name);
}

static void test_codec_type_names_round_trip(void **state)
{
    (void)state;
    check_oneof_names(&ledger__v1__event__descriptor, event_name, event_case, 23);
    check_oneof_names(&ledger__v1__command__descriptor, command_name, command_case, 24);
    check_oneof_names(&ledger__v1__query__descriptor, query_name, query_case, 14);
    assert_string_equal("reservation_purchased",
                        codec_event_type_name(LEDGER__V1__EVENT__BODY_RESERVATION_PURCHASED));
    assert_string_equal("purchase_permission_granted",
                        codec_event_type_name(LEDGER__V1__EVENT__BODY_PURCHASE_PERMISSION_GRANTED));
    assert_int_equal(LEDGER__V1__EVENT__BODY_COST_VISIBILITY_SET,
                     codec_event_type_from_name("cost_visibility_set"));
    assert_string_equal("purchase_reservation",
                        codec_command_type_name(LEDGER__V1__COMMAND__BODY_PURCHASE_RESERVATION));
    assert_string_equal("savings_plans",
                        codec_query_type_name(LEDGER__V1__QUERY__KIND_SAVINGS_PLANS));
    /* Names are exact: no case folding, no prefixes. */
    assert_int_equal(LEDGER__V1__EVENT__BODY__NOT_SET,
                     codec_event_type_from_name("Reservation_Purchased"));
    assert_int_equal(LEDGER__V1__EVENT__BODY__NOT_SET,
                     codec_event_type_from_name("reservation_purchased "));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codec_event_round_trip),
        cmocka_unit_test(test_codec_event_arena),
        cmocka_unit_test(test_codec_pack_scratch),
        cmocka_unit_test(test_codec_pack_size_limit),
        cmocka_unit_test(test_codec_patch),
        cmocka_unit_test(test_codec_varint_field),
        cmocka_unit_test(test_codec_command_round_trip),
        cmocka_unit_test(test_codec_cancellation_unbilled_usd),
        cmocka_unit_test(test_codec_message_peek),
        cmocka_unit_test(test_codec_singular_replacement_reads_as_list_of_one),
        cmocka_unit_test(test_codec_empty_message_packs_and_unpacks),
        cmocka_unit_test(test_codec_fixed_fields_and_bad_framing),
        cmocka_unit_test(test_codec_garbage_is_refused),
        cmocka_unit_test(test_codec_nul_in_a_string_is_refused),
        cmocka_unit_test(test_codec_truncated_record_is_corrupt),
        cmocka_unit_test(test_codec_size_limits),
        cmocka_unit_test(test_codec_unknown_enum_value_decodes_raw),
        cmocka_unit_test(test_codec_id_validator),
        cmocka_unit_test(test_codec_sku_validator),
        cmocka_unit_test(test_codec_name_validator),
        cmocka_unit_test(test_codec_money_validator),
        cmocka_unit_test(test_codec_enum_validators),
        cmocka_unit_test(test_codec_enum_names_round_trip),
        cmocka_unit_test(test_codec_type_names_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
