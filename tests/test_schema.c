/*
 * test_schema.c: a ledger written by an earlier schema version still replays.
 *
 * Goal: records are never rewritten, so every build must read every event
 * schema version ever written (docs/events.md, "Schema evolution"). The
 * fixture tests/fixtures/schema-v1/ (and schema-v2/ likewise, for version 2)
 * is a small data directory written through
 * the engine by tools/ledger-fixture (seed 1, 300 generated events, a fixed
 * clock) when the event schema was at version 1, kept as its compacted backup:
 * data.mdb and the signed head.pb saved with it. It is never regenerated for a
 * later version: a new version gets a fixture of its own beside it and a line
 * in fixture_specs below, and every check runs on every fixture.
 * Method: the fixture is copied to a fresh directory (the checked-in copy is
 * never opened for writing) and checked: every record decodes, carries a known
 * schema version and its own sequence, and every customer event evolves its
 * customer's state, stream by stream, to the stream index's versions, and
 * replays as of the business time of each of its events (docs/protocol.md,
 * "As of a point"), to the whole stream's state once dated after all; the
 * Merkle root of the records equals the saved head's, whose signature
 * verifies; engine_rebuild finds every view and index identical, after
 * deriving the views of an older layout again, when every principal and
 * savings plan row names the last event that changed it and every customer
 * user's addition is in its customer's activity. Versions this
 * build does not know are refused by the projection code (CORRUPT), never
 * guessed at.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "codec.h"
#include "crypto.h"
#include "domain.h"
#include "engine.h"
#include "ledger_limits.h"
#include "merkle.h"
#include "store.h"
#include "test_util.h"
#include "views.h"

/* Every fixture ever made, one line each, oldest first; never remove one.
 * events: as written by ledger-fixture's defaults, the first operator and 300
 * generated events. */
static const struct fixture_spec {
    const char *relative_dir;
    uint32_t schema_version;
    uint64_t events;
    uint64_t views_layout; /* of its derived databases (views.h) */
} fixture_specs[] = {
    {"tests/fixtures/schema-v1", 1, 301, 1},
    {"tests/fixtures/schema-v2", 2, 301, 5},
};
#define FIXTURE_SPEC_COUNT (sizeof fixture_specs / sizeof fixture_specs[0])
/* Fixtures live in git: they must stay small. */
#define FIXTURE_BYTES_MAX (1024 * 1024)
#define CUSTOMERS_MAX     256

struct fixture {
    const struct fixture_spec *spec;
    char source[512];
    char dir[512];
    struct engine *engine;
};

static void fixture_path(const char *dir, const char *name, char out[640])
{
    snprintf(out, 640, "%s/%s", dir, name);
}

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb");
    if (!in) {
        fail_msg("cannot open the fixture file %s (is LEDGER_SOURCE_DIR right?)", from);
    }
    FILE *out = fopen(to, "wb");
    assert_non_null(out);
    char buffer[65536];
    size_t n;
    while ((n = fread(buffer, 1, sizeof buffer, in)) > 0) {
        assert_int_equal(fwrite(buffer, 1, n, out), n);
    }
    assert_int_equal(ferror(in), 0);
    fclose(in);
    assert_int_equal(fclose(out), 0);
}

/* A fresh copy of one fixture, opened by the engine. */
static struct fixture *fixture_open(const struct fixture_spec *spec)
{
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->spec = spec;
    const char *source_dir = getenv("LEDGER_SOURCE_DIR");
    snprintf(f->source, sizeof f->source, "%s/%s", source_dir && source_dir[0] ? source_dir : ".",
             spec->relative_dir);
    test_make_dir(f->dir, sizeof f->dir, "schema");
    char from[640], to[640];
    const char *files[] = {"data.mdb", "head.pb"};
    for (size_t i = 0; i < 2; i++) {
        fixture_path(f->source, files[i], from);
        fixture_path(f->dir, files[i], to);
        copy_file(from, to);
    }
    /* A copy has no head-signing key: open it as a scratch copy, as the
     * verifier does. */
    struct engine_options options = {.data_dir = f->dir, .scratch = true, .no_sync = true};
    assert_int_equal(engine_open(&options, &f->engine), LEDGER_ERR_OK);
    return f;
}

static void fixture_close(struct fixture *f)
{
    engine_close(f->engine);
    test_remove_dir(f->dir);
    free(f);
}

/* Runs a check on a fresh copy of every fixture. */
static void each_fixture(void (*check)(struct fixture *f))
{
    for (size_t i = 0; i < FIXTURE_SPEC_COUNT; i++) {
        struct fixture *f = fixture_open(&fixture_specs[i]);
        check(f);
        fixture_close(f);
    }
}

static Ledger__V1__SignedHead *read_head(const char *dir)
{
    char path[640];
    snprintf(path, sizeof path, "%s/head.pb", dir);
    uint8_t bytes[4096];
    size_t size = test_read_bytes(path, bytes, sizeof bytes);
    assert_true(size > 0 && size < sizeof bytes);
    ProtobufCMessage *message = NULL;
    assert_int_equal(codec_message_unpack(&ledger__v1__signed_head__descriptor, bytes, size,
                                          sizeof bytes, LEDGER_ERR_CORRUPT, &message),
                     LEDGER_ERR_OK);
    return (Ledger__V1__SignedHead *)message;
}

/* The checked-in fixture is small and holds only the data file and the head:
 * no lock files, no keys. */
static void check_fixture_is_small_and_complete(struct fixture *f)
{
    char path[640];
    struct stat st;
    fixture_path(f->source, "data.mdb", path);
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_size > 0 && st.st_size < FIXTURE_BYTES_MAX);
    const char *absent[] = {"lock.mdb", "ledgerd.lock", "head.key", "data.mdb-lock"};
    for (size_t i = 0; i < sizeof absent / sizeof absent[0]; i++) {
        fixture_path(f->source, absent[i], path);
        assert_int_not_equal(stat(path, &st), 0);
    }
    assert_int_equal(engine_head_sequence(f->engine), f->spec->events);
}

struct customers {
    struct domain_customer *states[CUSTOMERS_MAX];
    size_t count;
};

static struct domain_customer *customer_state(struct customers *c, const char *partner_id,
                                              const char *customer_id)
{
    for (size_t i = 0; i < c->count; i++) {
        if (strcmp(c->states[i]->partner_id, partner_id) == 0 &&
            strcmp(c->states[i]->customer_id, customer_id) == 0) {
            return c->states[i];
        }
    }
    assert_true(c->count < CUSTOMERS_MAX);
    struct domain_customer *state = domain_customer_new(partner_id, customer_id);
    assert_non_null(state);
    c->states[c->count++] = state;
    return state;
}

/* Every record decodes, names its own sequence and a schema version this
 * build reads, and every customer event evolves its customer's state. */
static void check_every_record_decodes_and_evolves(struct fixture *f)
{
    struct store_txn *txn = NULL;
    assert_int_equal(store_begin(engine_store(f->engine), false, &txn), LEDGER_ERR_OK);
    struct store_cursor *cursor = NULL;
    assert_int_equal(store_cursor_open(txn, STORE_DB_LOG, &cursor), LEDGER_ERR_OK);
    struct customers *customers = calloc(1, sizeof *customers);
    assert_non_null(customers);
    bool kinds[64] = {false};
    uint64_t expected = 1, customer_events = 0;
    struct store_val key, value;
    enum ledger_err err = store_cursor_seek(cursor, NULL, 0, &key, &value);
    for (; err == LEDGER_ERR_OK; err = store_cursor_next(cursor, &key, &value), expected++) {
        assert_int_equal(key.size, 8);
        assert_int_equal(store_key_to_u64(key.data), expected);
        Ledger__V1__Event *event = NULL;
        assert_int_equal(codec_event_unpack(value.data, value.size, &event), LEDGER_ERR_OK);
        assert_int_equal(event->sequence, expected);
        assert_int_equal(event->schema_version, f->spec->schema_version);
        assert_true(event->schema_version >= 1 && event->schema_version <= LEDGER_SCHEMA_VERSION);
        assert_int_not_equal(event->body_case, LEDGER__V1__EVENT__BODY__NOT_SET);
        assert_int_equal(event->base.n_unknown_fields, 0);
        if ((unsigned)event->body_case < 64) {
            kinds[event->body_case] = true;
        }
        if (event->customer_id[0] != '\0') {
            struct domain_customer *customer =
                customer_state(customers, event->partner_id, event->customer_id);
            err = domain_customer_evolve(customer, event);
            if (err != LEDGER_ERR_OK) {
                fail_msg("sequence %llu (%s) does not evolve: %s",
                         (unsigned long long)event->sequence,
                         codec_event_type_name(event->body_case), ledger_err_name(err));
            }
            customer_events++;
        }
        codec_event_free(event);
    }
    assert_int_equal(err, LEDGER_ERR_NOT_FOUND);
    store_cursor_close(cursor);
    assert_int_equal(expected - 1, f->spec->events);
    assert_true(customer_events > f->spec->events / 2);
    /* The fixture exercises many kinds of event, not just one. */
    unsigned kind_count = 0;
    for (size_t i = 0; i < 64; i++) {
        kind_count += kinds[i] ? 1 : 0;
    }
    assert_true(kind_count >= 8);
    /* Each customer's replayed state is at its stream index's version. */
    for (size_t i = 0; i < customers->count; i++) {
        uint64_t version = 0;
        assert_int_equal(store_stream_version(txn, customers->states[i]->partner_id,
                                              customers->states[i]->customer_id, &version),
                         LEDGER_ERR_OK);
        assert_int_equal(customers->states[i]->version, version);
        assert_true(customers->states[i]->onboarded);
        domain_customer_free(customers->states[i]);
    }
    free(customers);
    store_abort(txn);
}

/* Every customer's state as of each of its events' business times (and a
 * microsecond before) replays: a log of an older schema never fails an
 * answer by business time. Dated after every event, it is the whole
 * stream's state. */
static void check_business_time_replays(struct fixture *f)
{
    struct store_txn *txn = NULL;
    assert_int_equal(store_begin(engine_store(f->engine), false, &txn), LEDGER_ERR_OK);
    int64_t last_us = 0;
    uint64_t checked = 0;
    for (uint64_t sequence = 1; sequence <= f->spec->events; sequence++) {
        struct store_val record;
        assert_int_equal(store_record(txn, sequence, &record), LEDGER_ERR_OK);
        Ledger__V1__Event *event = NULL;
        assert_int_equal(codec_event_unpack(record.data, record.size, &event), LEDGER_ERR_OK);
        int64_t at = domain_event_business_us(event);
        last_us = at > last_us ? at : last_us;
        for (int64_t before = 0; event->customer_id[0] != '\0' && before < 2; before++) {
            Ledger__V1__AsOf as_of = LEDGER__V1__AS_OF__INIT;
            as_of.business_time_us = at - before;
            struct domain_customer *state = NULL;
            enum ledger_err err =
                views_customer_state(txn, event->partner_id, event->customer_id, &as_of, &state);
            if (err != LEDGER_ERR_OK) {
                fail_msg("%s as of the business time of sequence %llu: %s", event->customer_id,
                         (unsigned long long)sequence, ledger_err_name(err));
            }
            domain_customer_free(state);
            checked++;
        }
        codec_event_free(event);
    }
    assert_true(checked > f->spec->events / 2);
    /* After every event: each customer as the whole stream has it. */
    for (uint64_t sequence = 1; sequence <= f->spec->events; sequence++) {
        struct store_val record;
        assert_int_equal(store_record(txn, sequence, &record), LEDGER_ERR_OK);
        Ledger__V1__Event *event = NULL;
        assert_int_equal(codec_event_unpack(record.data, record.size, &event), LEDGER_ERR_OK);
        if (event->body_case == LEDGER__V1__EVENT__BODY_CUSTOMER_ONBOARDED) {
            Ledger__V1__AsOf as_of = LEDGER__V1__AS_OF__INIT;
            as_of.business_time_us = last_us;
            struct domain_customer *dated = NULL, *whole = NULL;
            assert_int_equal(
                views_customer_state(txn, event->partner_id, event->customer_id, &as_of, &dated),
                LEDGER_ERR_OK);
            assert_int_equal(
                views_customer_state(txn, event->partner_id, event->customer_id, NULL, &whole),
                LEDGER_ERR_OK);
            assert_int_equal(dated->version, whole->version);
            assert_int_equal(dated->reservation_count, whole->reservation_count);
            for (size_t i = 0; i < whole->reservation_count; i++) {
                assert_string_equal(dated->reservations[i].id, whole->reservations[i].id);
                assert_int_equal(dated->reservations[i].state, whole->reservations[i].state);
            }
            assert_int_equal(dated->savings_plan_count, whole->savings_plan_count);
            assert_int_equal(dated->permission_change_count, whole->permission_change_count);
            domain_customer_free(dated);
            domain_customer_free(whole);
        }
        codec_event_free(event);
    }
    store_abort(txn);
}

/* The Merkle root of the records is the root of the head saved with them,
 * and that head's signature verifies. */
static void check_root_matches_saved_head(struct fixture *f)
{
    Ledger__V1__SignedHead *head = read_head(f->dir);
    struct store_txn *txn = NULL;
    assert_int_equal(store_begin(engine_store(f->engine), false, &txn), LEDGER_ERR_OK);
    uint64_t last = store_last_sequence(txn);
    assert_int_equal(head->tree_size, last);
    struct merkle_builder builder;
    merkle_builder_init(&builder);
    for (uint64_t s = 1; s <= last; s++) {
        struct store_val record;
        assert_int_equal(store_record(txn, s, &record), LEDGER_ERR_OK);
        uint8_t leaf[MERKLE_HASH_BYTES];
        merkle_leaf_hash(record.data, record.size, leaf);
        merkle_builder_add(&builder, leaf);
    }
    uint8_t root[MERKLE_HASH_BYTES], stored_root[MERKLE_HASH_BYTES];
    merkle_builder_root(&builder, root);
    assert_int_equal(head->root_hash.len, MERKLE_HASH_BYTES);
    assert_memory_equal(root, head->root_hash.data, MERKLE_HASH_BYTES);
    assert_int_equal(merkle_store_root(txn, last, stored_root), LEDGER_ERR_OK);
    assert_memory_equal(stored_root, root, MERKLE_HASH_BYTES);
    store_abort(txn);

    assert_int_equal(head->public_key.len, CRYPTO_SIGN_PUBLIC_BYTES);
    assert_int_equal(head->signature.len, CRYPTO_SIGNATURE_BYTES);
    uint8_t encoded[MERKLE_HEAD_BYTES];
    merkle_head_encode(head->tree_size, head->root_hash.data, head->timestamp_us, encoded);
    assert_true(crypto_ed25519_verify(head->public_key.data, encoded, sizeof encoded,
                                      head->signature.data));
    /* A head of another root is not what was signed. */
    encoded[30] ^= 0x01;
    assert_false(crypto_ed25519_verify(head->public_key.data, encoded, sizeof encoded,
                                       head->signature.data));
    codec_message_free(&head->base);
}

static void report_view(void *context, const char *view, bool same)
{
    unsigned *calls = context;
    (*calls)++;
    if (!same) {
        print_error("view %s differs after the replay of the fixture\n", view);
    }
}

/* A uint64 field of a row, by its name in proto/ledger.proto. */
static uint64_t row_u64(const ProtobufCMessage *row, const char *name)
{
    const ProtobufCFieldDescriptor *field =
        protobuf_c_message_descriptor_get_field_by_name(row->descriptor, name);
    assert_non_null(field);
    assert_int_equal(field->type, PROTOBUF_C_TYPE_UINT64);
    return *(const uint64_t *)(const void *)((const char *)row + field->offset);
}

/* Every principal and savings plan row names the last event that changed it
 * (last_sequence, views layout 6): at or after the event that added it.
 * Returns how many rows there are. */
static size_t rows_name_their_last_change(struct fixture *f)
{
    struct store_txn *txn = NULL;
    assert_int_equal(store_begin(engine_store(f->engine), false, &txn), LEDGER_ERR_OK);
    const struct {
        enum store_db db;
        const ProtobufCMessageDescriptor *descriptor;
    } views[] = {
        {STORE_DB_PRINCIPAL, &ledger__v1__principal_row__descriptor},
        {STORE_DB_SAVINGS_PLAN, &ledger__v1__savings_plan_row__descriptor},
    };
    size_t rows = 0;
    for (size_t v = 0; v < sizeof views / sizeof views[0]; v++) {
        struct store_cursor *cursor = NULL;
        assert_int_equal(store_cursor_open(txn, views[v].db, &cursor), LEDGER_ERR_OK);
        struct store_val key, value;
        enum ledger_err err = store_cursor_seek(cursor, NULL, 0, &key, &value);
        for (; err == LEDGER_ERR_OK; err = store_cursor_next(cursor, &key, &value), rows++) {
            ProtobufCMessage *row = NULL;
            assert_int_equal(codec_message_unpack(views[v].descriptor, value.data, value.size,
                                                  FIXTURE_BYTES_MAX, LEDGER_ERR_CORRUPT, &row),
                             LEDGER_ERR_OK);
            uint64_t sequence = row_u64(row, "sequence");
            uint64_t last_sequence = row_u64(row, "last_sequence");
            codec_message_free(row);
            assert_true(sequence > 0);
            assert_true(last_sequence >= sequence);
            assert_true(last_sequence <= f->spec->events);
        }
        assert_int_equal(err, LEDGER_ERR_NOT_FOUND);
        store_cursor_close(cursor);
    }
    store_abort(txn);
    return rows;
}

/* Every customer user's PrincipalAdded is in its customer's activity once
 * the views are of this build's layout (views layout 10: older layouts
 * listed it under no customer), named for the customer. Returns how many
 * were found. */
static size_t customer_users_in_their_activity(struct fixture *f)
{
    struct store_txn *txn = NULL;
    assert_int_equal(store_begin(engine_store(f->engine), false, &txn), LEDGER_ERR_OK);
    size_t found = 0;
    for (uint64_t s = 1; s <= f->spec->events; s++) {
        struct store_val record;
        Ledger__V1__Event *event = NULL;
        assert_int_equal(store_record(txn, s, &record), LEDGER_ERR_OK);
        assert_int_equal(codec_event_unpack(record.data, record.size, &event), LEDGER_ERR_OK);
        const Ledger__V1__PrincipalAdded *added = event->principal_added;
        if (event->body_case == LEDGER__V1__EVENT__BODY_PRINCIPAL_ADDED &&
            added->role == LEDGER__V1__ROLE__ROLE_CUSTOMER_USER && event->partner_id[0] != '\0') {
            Ledger__V1__ActivityQuery aq = LEDGER__V1__ACTIVITY_QUERY__INIT;
            aq.customer_id = added->customer_id;
            aq.action = "Add Principal";
            aq.limit = LEDGER_ROWS_PAGE_MAX;
            Ledger__V1__Query q = LEDGER__V1__QUERY__INIT;
            q.kind_case = LEDGER__V1__QUERY__KIND_ACTIVITY;
            q.activity = &aq;
            const struct views_scope scope = {event->partner_id, "", false};
            Ledger__V1__QueryResult result = LEDGER__V1__QUERY_RESULT__INIT;
            char message[256];
            assert_int_equal(views_query(txn, &scope, &q, &result, message), LEDGER_ERR_OK);
            bool listed = false;
            for (size_t i = 0; i < result.n_activity; i++) {
                if (result.activity[i]->sequence == s) {
                    assert_string_equal(result.activity[i]->customer_id, added->customer_id);
                    listed = true;
                }
            }
            views_result_clear(&result);
            assert_true(listed);
            found++;
        }
        codec_event_free(event);
    }
    store_abort(txn);
    return found;
}

/* A replay by this build derives exactly the views the earlier build wrote;
 * views of an older layout are first derived again in this build's layout
 * (an upgrade compares nothing), after which a replay finds them identical. */
static void check_rebuild_reports_no_difference(struct fixture *f)
{
    uint64_t layout = 0;
    bool current = engine_views_current(f->engine, &layout);
    assert_int_equal(layout, f->spec->views_layout);
    assert_int_equal(current, layout == ENGINE_VIEWS_LAYOUT);
    unsigned calls = 0, differences = UINT32_MAX;
    if (!current) {
        assert_int_equal(engine_rebuild(f->engine, NULL, &calls, report_view, &differences),
                         LEDGER_ERR_OK);
        assert_int_equal(differences, 0);
        assert_int_equal(calls, 0);
        assert_true(engine_views_current(f->engine, &layout));
        assert_int_equal(layout, ENGINE_VIEWS_LAYOUT);
        differences = UINT32_MAX;
    }
    assert_true(rows_name_their_last_change(f) > 0);
    assert_true(customer_users_in_their_activity(f) > 0);
    assert_int_equal(engine_rebuild(f->engine, NULL, &calls, report_view, &differences),
                     LEDGER_ERR_OK);
    assert_int_equal(differences, 0);
    assert_true(calls > 0);
    assert_int_equal(engine_head_sequence(f->engine), f->spec->events);
}

/* Versions this build does not know (0, or newer than it writes) are refused
 * by the projection code, never guessed at. */
static void check_unknown_version_is_refused(struct fixture *f)
{
    struct store_txn *txn = NULL;
    assert_int_equal(store_begin(engine_store(f->engine), false, &txn), LEDGER_ERR_OK);
    Ledger__V1__Event *event = NULL;
    for (uint64_t s = 1; s <= f->spec->events && event == NULL; s++) {
        struct store_val record;
        assert_int_equal(store_record(txn, s, &record), LEDGER_ERR_OK);
        assert_int_equal(codec_event_unpack(record.data, record.size, &event), LEDGER_ERR_OK);
        if (event->body_case != LEDGER__V1__EVENT__BODY_CUSTOMER_ONBOARDED) {
            codec_event_free(event);
            event = NULL;
        }
    }
    store_abort(txn);
    assert_non_null(event);
    assert_int_equal(event->stream_version, 1);
    struct domain_customer *customer = domain_customer_new(event->partner_id, event->customer_id);
    assert_non_null(customer);
    const uint32_t bad_versions[] = {0, LEDGER_SCHEMA_VERSION + 1, UINT32_MAX};
    for (size_t i = 0; i < sizeof bad_versions / sizeof bad_versions[0]; i++) {
        event->schema_version = bad_versions[i];
        assert_int_equal(domain_customer_evolve(customer, event), LEDGER_ERR_CORRUPT);
        assert_int_equal(customer->version, 0);
        assert_false(customer->onboarded);
    }
    event->schema_version = f->spec->schema_version;
    assert_int_equal(domain_customer_evolve(customer, event), LEDGER_ERR_OK);
    assert_int_equal(customer->version, 1);
    domain_customer_free(customer);
    codec_event_free(event);
}

static void test_schema_fixture_is_small_and_complete(void **state)
{
    (void)state;
    each_fixture(check_fixture_is_small_and_complete);
}

static void test_schema_every_record_decodes_and_evolves(void **state)
{
    (void)state;
    each_fixture(check_every_record_decodes_and_evolves);
}

static void test_schema_business_time_replays(void **state)
{
    (void)state;
    each_fixture(check_business_time_replays);
}

static void test_schema_root_matches_saved_head(void **state)
{
    (void)state;
    each_fixture(check_root_matches_saved_head);
}

static void test_schema_rebuild_reports_no_difference(void **state)
{
    (void)state;
    each_fixture(check_rebuild_reports_no_difference);
}

static void test_schema_unknown_version_is_refused(void **state)
{
    (void)state;
    each_fixture(check_unknown_version_is_refused);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schema_fixture_is_small_and_complete),
        cmocka_unit_test(test_schema_every_record_decodes_and_evolves),
        cmocka_unit_test(test_schema_business_time_replays),
        cmocka_unit_test(test_schema_root_matches_saved_head),
        cmocka_unit_test(test_schema_rebuild_reports_no_difference),
        cmocka_unit_test(test_schema_unknown_version_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
