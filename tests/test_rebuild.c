/*
 * test_rebuild.c: engine_rebuild recomputes every derived database of a large
 * realistic history byte for byte, and notices a view that was tampered with.
 *
 * Goal: the views and indexes are a pure function of the log. A rebuild of a
 * ledger that was written live must report no difference at all, and a view
 * row changed behind the ledger's back must be reported as exactly that view
 * and be repaired by the rebuild. A record of a schema version this build
 * does not know must stop the rebuild (CORRUPT) rather than be projected with
 * an older meaning, and so must a record whose bytes were changed on disk
 * (they no longer hash to the leaf stored with them), or whose size was, or
 * that the indexes cannot hold; each is named with what is wrong with it,
 * while a failure of the storage names no record.
 * Method: a seeded history (tests/support/histgen.h) of LEDGER_REBUILD_EVENTS
 * events (default 100,000; the operator rotates a help desk agent's secret
 * now and then) is driven through engine_execute in groups of many
 * requests, each request an atomic batch of consecutive commands of one
 * principal, as the daemon's commit worker would do (no_sync for speed). Every
 * command must be accepted. Then the digests of all derived databases are
 * taken, engine_rebuild must report 0 differences and leave the same digests;
 * then one reservation row is changed with store_put and engine_rebuild must
 * name "reservation" as the only differing view, restore the original digest,
 * and a further rebuild must report 0 differences. Records of unknown schema
 * versions are appended straight to the log (tests/support/oldlog.h), as a
 * newer build would have written them, and so is a log of an earlier build
 * that holds one subscription id under two customers of a partner, which
 * the rebuild must name. The rebuild digests the views on threads of
 * its own; pthread_create is wrapped on this target (tests/CMakeLists.txt) to
 * count them and to refuse them, when the same digests must come from the
 * calling thread.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "crypto.h"
#include "engine.h"
#include "histgen.h"
#include "histload.h"
#include "ledger_limits.h"
#include "merkle.h"
#include "oldlog.h"
#include "store.h"
#include "support/engine_fixture.h"
#include "test_util.h"
#include "views.h"

#define REBUILD_EVENTS_DEFAULT 100000

/* --- driving a generated history through the engine ---------------------- */

/* Drives the whole generated history into the engine (grouped as a busy
 * daemon's group commits: histload.h); every command must be accepted. */
static void load_history(struct engine *engine, const struct histgen_options *options)
{
    struct histgen *gen = NULL;
    assert_int_equal(histgen_new(options, &gen), LEDGER_ERR_OK);
    struct histload *load = NULL;
    assert_int_equal(histload_new(engine, gen, 0, &load), LEDGER_ERR_OK);
    if (histload_all(load) != LEDGER_ERR_OK) {
        fail_msg("%s", histload_error(load));
    }
    histload_free(load);
    histgen_free(gen);
}

/* --- fixture -------------------------------------------------------------- */

struct fixture {
    char dir[512];
    struct engine *engine;
};

static uint64_t events_wanted(void)
{
    const char *text = getenv("LEDGER_REBUILD_EVENTS");
    if (text && text[0]) {
        char *end = NULL;
        unsigned long long value = strtoull(text, &end, 10);
        if (end && *end == '\0' && value > 0) {
            return value;
        }
    }
    return REBUILD_EVENTS_DEFAULT;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    test_make_dir(f->dir, sizeof f->dir, "rebuild");
    f->engine = test_engine_new(f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    engine_close(f->engine);
    test_remove_dir(f->dir);
    free(f);
    return 0;
}

/* Digests of every derived database, as engine_rebuild compares them. */
static void digest_views(struct engine *engine, uint8_t digests[STORE_DB_COUNT][32])
{
    struct store_txn *txn = NULL;
    assert_int_equal(store_begin(engine_store(engine), false, &txn), LEDGER_ERR_OK);
    for (int db = 0; db < STORE_DB_COUNT; db++) {
        memset(digests[db], 0, 32);
        if (store_db_derived((enum store_db)db)) {
            assert_int_equal(views_digest(txn, (enum store_db)db, digests[db]), LEDGER_ERR_OK);
        }
    }
    store_abort(txn);
}

struct report {
    unsigned calls;
    unsigned differing;
    char names[STORE_DB_COUNT][32];
};

static void report_view(void *context, const char *view, bool same)
{
    struct report *r = context;
    r->calls++;
    if (!same && r->differing < STORE_DB_COUNT) {
        snprintf(r->names[r->differing++], sizeof r->names[0], "%s", view);
    }
}

static unsigned derived_count(void)
{
    unsigned n = 0;
    for (int db = 0; db < STORE_DB_COUNT; db++) {
        n += store_db_derived((enum store_db)db) ? 1 : 0;
    }
    return n;
}

/* Rebuilds and returns the differences, checking the report agrees. */
static unsigned rebuild(struct engine *engine, struct report *r)
{
    memset(r, 0, sizeof *r);
    unsigned differences = UINT32_MAX;
    assert_int_equal(engine_rebuild(engine, NULL, r, report_view, &differences), LEDGER_ERR_OK);
    assert_int_equal(r->calls, derived_count());
    assert_int_equal(r->differing, differences);
    return differences;
}

/* Takes the live digests into `live`, rebuilds, and asserts that nothing
 * differed and that the digests are the same after. */
static void rebuild_identical(struct engine *engine, uint8_t live[STORE_DB_COUNT][32])
{
    uint8_t rebuilt[STORE_DB_COUNT][32];
    digest_views(engine, live);
    struct report report;
    assert_int_equal(rebuild(engine, &report), 0);
    digest_views(engine, rebuilt);
    assert_memory_equal(live, rebuilt, sizeof rebuilt);
}

/* Changes the value of the first reservation row (one byte flipped). */
static void tamper_reservation(struct engine *engine)
{
    struct store *store = engine_store(engine);
    struct store_txn *txn = NULL;
    assert_int_equal(store_begin(store, true, &txn), LEDGER_ERR_OK);
    struct store_cursor *cursor = NULL;
    assert_int_equal(store_cursor_open(txn, STORE_DB_RESERVATION, &cursor), LEDGER_ERR_OK);
    struct store_val key, value;
    assert_int_equal(store_cursor_seek(cursor, NULL, 0, &key, &value), LEDGER_ERR_OK);
    assert_true(value.size > 0);
    uint8_t *key_copy = malloc(key.size);
    uint8_t *value_copy = malloc(value.size);
    assert_non_null(key_copy);
    assert_non_null(value_copy);
    memcpy(key_copy, key.data, key.size);
    memcpy(value_copy, value.data, value.size);
    size_t key_size = key.size, value_size = value.size;
    store_cursor_close(cursor);
    value_copy[value_size - 1] ^= 0x01;
    assert_int_equal(
        store_put(txn, STORE_DB_RESERVATION, key_copy, key_size, value_copy, value_size),
        LEDGER_ERR_OK);
    assert_int_equal(store_commit(txn), LEDGER_ERR_OK);
    free(key_copy);
    free(value_copy);
}

/* pthread_create, wrapped (the linker's --wrap): counts the threads asked
 * for and refuses them while threads_refused is set, as a process at its
 * thread limit would (EAGAIN). */
int __real_pthread_create(pthread_t *thread, const pthread_attr_t *attributes,
                          void *(*start)(void *), void *argument);
int __wrap_pthread_create(pthread_t *thread, const pthread_attr_t *attributes,
                          void *(*start)(void *), void *argument);

static bool threads_refused;
static unsigned threads_asked;

int __wrap_pthread_create(pthread_t *thread, const pthread_attr_t *attributes,
                          void *(*start)(void *), void *argument)
{
    threads_asked++;
    if (threads_refused) {
        return EAGAIN;
    }
    return __real_pthread_create(thread, attributes, start, argument);
}

/* --- tests ------------------------------------------------------------------ */

static void test_rebuild_large_history_is_identical_and_repairs_a_view(void **state)
{
    struct fixture *f = *state;
    uint64_t wanted = events_wanted();
    struct histgen_options options = {
        .seed = 20240601,
        .partners = 12,
        .customers_per_partner = 150,
        .target_events = wanted,
        .rotations_per_mille = 2,
    };
    load_history(f->engine, &options);
    uint64_t head = engine_head_sequence(f->engine);
    assert_true(head >= wanted);

    uint8_t live[STORE_DB_COUNT][32], rebuilt[STORE_DB_COUNT][32];
    struct report report;
    rebuild_identical(f->engine, live);
    assert_int_equal(engine_head_sequence(f->engine), head);

    /* A view row changed behind the ledger's back. */
    tamper_reservation(f->engine);
    uint8_t tampered[STORE_DB_COUNT][32];
    digest_views(f->engine, tampered);
    assert_memory_not_equal(tampered[STORE_DB_RESERVATION], live[STORE_DB_RESERVATION], 32);
    assert_int_equal(rebuild(f->engine, &report), 1);
    assert_string_equal(report.names[0], store_db_name(STORE_DB_RESERVATION));
    digest_views(f->engine, rebuilt);
    assert_memory_equal(live, rebuilt, sizeof live);

    /* Repaired: nothing differs any more. */
    assert_int_equal(rebuild(f->engine, &report), 0);
    assert_int_equal(report.differing, 0);
}

/* How many records of the log have body `body_case`. */
static unsigned events_of(struct engine *engine, Ledger__V1__Event__BodyCase body_case)
{
    struct store_txn *txn = NULL;
    assert_int_equal(store_begin(engine_store(engine), false, &txn), LEDGER_ERR_OK);
    unsigned count = 0;
    uint64_t last = store_last_sequence(txn);
    for (uint64_t s = 1; s <= last; s++) {
        struct store_val record;
        assert_int_equal(store_record(txn, s, &record), LEDGER_ERR_OK);
        Ledger__V1__Event *event = NULL;
        assert_int_equal(codec_event_unpack(record.data, record.size, &event), LEDGER_ERR_OK);
        count += event->body_case == body_case ? 1u : 0u;
        codec_event_free(event);
    }
    store_abort(txn);
    return count;
}

/* A history of about four years crosses reservations' and savings plans'
 * ends: with their renewals in the log (savings plans' included), the rebuild
 * derives every view exactly as the live commits wrote them. */
static void test_rebuild_history_with_renewals_is_identical(void **state)
{
    struct fixture *f = *state;
    struct histgen_options options = {
        .seed = 7,
        .partners = 2,
        .customers_per_partner = 3,
        .target_events = 6000,
        .step_min_us = INT64_C(3) * 3600 * 1000000,
        .step_max_us = INT64_C(9) * 3600 * 1000000,
    };
    load_history(f->engine, &options);
    assert_true(events_of(f->engine, LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_RENEWED) > 0);
    assert_true(events_of(f->engine, LEDGER__V1__EVENT__BODY_RESERVATION_RENEWED) > 0);
    uint8_t live[STORE_DB_COUNT][32];
    rebuild_identical(f->engine, live);
}

/* The operator's command `body_case` for principal `id` (a rotation or a
 * revocation); returns the answer's secret_hex ("" for none) in secret_hex. */
static void operator_principal_command(struct engine *engine,
                                       Ledger__V1__Command__BodyCase body_case,
                                       const char *command_id, const char *id,
                                       char secret_hex[2 * LEDGER_SECRET_BYTES + 1])
{
    Ledger__V1__RotatePrincipalSecret rotate = LEDGER__V1__ROTATE_PRINCIPAL_SECRET__INIT;
    Ledger__V1__RevokePrincipal revoke = LEDGER__V1__REVOKE_PRINCIPAL__INIT;
    rotate.principal_id = revoke.principal_id = (char *)id;
    Ledger__V1__Command command = LEDGER__V1__COMMAND__INIT;
    command.command_id = (char *)command_id;
    command.body_case = body_case;
    if (body_case == LEDGER__V1__COMMAND__BODY_ROTATE_PRINCIPAL_SECRET) {
        command.rotate_principal_secret = &rotate;
    } else {
        command.revoke_principal = &revoke;
    }
    uint8_t *bytes = NULL;
    size_t size = 0;
    assert_int_equal(codec_pack(&command.base, &bytes, &size), LEDGER_ERR_OK);
    ProtobufCBinaryData data = {.len = size, .data = bytes};
    struct engine_principal operator_principal;
    assert_int_equal(engine_principal_lookup(engine, "operator", &operator_principal),
                     LEDGER_ERR_OK);
    struct engine_request request = {
        .principal = &operator_principal, .commands = &data, .command_count = 1};
    assert_int_equal(engine_execute(engine, &request, 1, HISTGEN_START_US_DEFAULT + 1),
                     LEDGER_ERR_OK);
    assert_int_equal(request.err, LEDGER_ERR_OK);
    snprintf(secret_hex, 2 * LEDGER_SECRET_BYTES + 1, "%s", request.results[0].message.secret_hex);
    engine_request_clear(&request);
    free(bytes);
}

/* Rotations of principals' secrets in a history: the rebuild derives the
 * same principal rows (when each secret was last rotated) and leaves the
 * secrets, which the log does not hold, as they were; a principal row whose
 * rotation was erased is named and repaired. */
static void test_rebuild_keeps_rotated_secrets(void **state)
{
    struct fixture *f = *state;
    struct histgen_options options = {
        .seed = 20261207, .partners = 2, .customers_per_partner = 4, .target_events = 400};
    load_history(f->engine, &options);
    char secret_hex[2 * LEDGER_SECRET_BYTES + 1], admin_hex[2 * LEDGER_SECRET_BYTES + 1];
    operator_principal_command(f->engine, LEDGER__V1__COMMAND__BODY_ROTATE_PRINCIPAL_SECRET,
                               "rotate-1", "helpdesk-1", secret_hex);
    operator_principal_command(f->engine, LEDGER__V1__COMMAND__BODY_ROTATE_PRINCIPAL_SECRET,
                               "rotate-2", "helpdesk-1", secret_hex);
    operator_principal_command(f->engine, LEDGER__V1__COMMAND__BODY_ROTATE_PRINCIPAL_SECRET,
                               "rotate-3", "admin-2", admin_hex);
    operator_principal_command(f->engine, LEDGER__V1__COMMAND__BODY_ROTATE_PRINCIPAL_SECRET,
                               "rotate-4", "auditor-2", secret_hex);
    operator_principal_command(f->engine, LEDGER__V1__COMMAND__BODY_REVOKE_PRINCIPAL, "revoke-1",
                               "auditor-2", secret_hex);
    assert_string_equal(secret_hex, "");
    uint64_t head = engine_head_sequence(f->engine);
    struct engine_principal admin;
    assert_int_equal(engine_principal_lookup(f->engine, "admin-2", &admin), LEDGER_ERR_OK);
    assert_int_equal(admin.secret_rotated_sequence, head - 2);

    uint8_t live[STORE_DB_COUNT][32], rebuilt[STORE_DB_COUNT][32];
    struct report report;
    rebuild_identical(f->engine, live);
    struct engine_principal after;
    assert_int_equal(engine_principal_lookup(f->engine, "admin-2", &after), LEDGER_ERR_OK);
    assert_memory_equal(after.secret, admin.secret, sizeof admin.secret);
    assert_int_equal(after.secret_rotated_sequence, head - 2);
    char after_hex[2 * LEDGER_SECRET_BYTES + 1];
    crypto_hex(after.secret, sizeof after.secret, after_hex);
    assert_string_equal(after_hex, admin_hex);

    /* The rotation erased from admin-2's row: named, and derived again. */
    struct store_txn *txn = NULL;
    assert_int_equal(store_begin(engine_store(f->engine), true, &txn), LEDGER_ERR_OK);
    struct store_val value;
    assert_int_equal(store_get(txn, STORE_DB_PRINCIPAL, "admin-2", 7, &value), LEDGER_ERR_OK);
    Ledger__V1__PrincipalRow *row = ledger__v1__principal_row__unpack(NULL, value.size, value.data);
    assert_non_null(row);
    assert_int_equal(row->secret_rotated_sequence, head - 2);
    assert_true(row->secret_rotated_us > 0);
    row->secret_rotated_sequence = 0;
    row->secret_rotated_us = 0;
    uint8_t packed[512];
    size_t size = ledger__v1__principal_row__pack(row, packed);
    assert_true(size <= sizeof packed);
    ledger__v1__principal_row__free_unpacked(row, NULL);
    assert_int_equal(store_put(txn, STORE_DB_PRINCIPAL, "admin-2", 7, packed, size), LEDGER_ERR_OK);
    assert_int_equal(store_commit(txn), LEDGER_ERR_OK);
    assert_int_equal(rebuild(f->engine, &report), 1);
    assert_string_equal(report.names[0], store_db_name(STORE_DB_PRINCIPAL));
    digest_views(f->engine, rebuilt);
    assert_memory_equal(live, rebuilt, sizeof live);
}

/* A rebuild of a ledger holding only its first operator changes nothing, and
 * a tampered row of another view is named as that view. */
static void test_rebuild_small_ledger_names_the_tampered_view(void **state)
{
    struct fixture *f = *state;
    struct report report;
    assert_int_equal(rebuild(f->engine, &report), 0);
    struct store_txn *txn = NULL;
    assert_int_equal(store_begin(engine_store(f->engine), true, &txn), LEDGER_ERR_OK);
    /* A row the log never implied: an extra principal. */
    assert_int_equal(store_put(txn, STORE_DB_PRINCIPAL, "ghost", 5, "x", 1), LEDGER_ERR_OK);
    assert_int_equal(store_commit(txn), LEDGER_ERR_OK);
    assert_int_equal(rebuild(f->engine, &report), 1);
    assert_string_equal(report.names[0], store_db_name(STORE_DB_PRINCIPAL));
    assert_int_equal(rebuild(f->engine, &report), 0);
    struct engine_principal p;
    assert_int_equal(engine_principal_lookup(f->engine, "ghost", &p), LEDGER_ERR_UNKNOWN_PRINCIPAL);
    assert_int_equal(engine_principal_lookup(f->engine, "operator", &p), LEDGER_ERR_OK);
}

/* The digests are taken on threads of their own (one beside the replay, one
 * sharing those after it) and the log is decoded on a third beside the
 * replay; with no thread to be had, the calling thread does it all, and the
 * tampered view is named just the same. */
static void test_rebuild_digests_without_threads(void **state)
{
    struct fixture *f = *state;
    struct report report;
    unsigned asked = threads_asked;
    assert_int_equal(rebuild(f->engine, &report), 0);
    assert_int_equal(threads_asked - asked, 3);

    threads_refused = true;
    struct store_txn *txn = NULL;
    assert_int_equal(store_begin(engine_store(f->engine), true, &txn), LEDGER_ERR_OK);
    assert_int_equal(store_put(txn, STORE_DB_PRINCIPAL, "ghost", 5, "x", 1), LEDGER_ERR_OK);
    assert_int_equal(store_commit(txn), LEDGER_ERR_OK);
    asked = threads_asked;
    assert_int_equal(rebuild(f->engine, &report), 1);
    assert_string_equal(report.names[0], store_db_name(STORE_DB_PRINCIPAL));
    assert_int_equal(rebuild(f->engine, &report), 0);
    assert_int_equal(threads_asked - asked, 6); /* each asked for, refused */
    threads_refused = false;
    struct engine_principal p;
    assert_int_equal(engine_principal_lookup(f->engine, "ghost", &p), LEDGER_ERR_UNKNOWN_PRINCIPAL);
}

/* Appends a PartnerRegistered record for `partner_id` with the given schema
 * version straight to the log and the tree, as a newer build would have
 * written it (no views are applied: the rebuild is what is tested); with a
 * customer ("" for none), as the given version of that customer's stream
 * (no stream index entry is written either). */
static void append_record(struct engine *engine, const char *partner_id, const char *customer_id,
                          uint64_t stream_version, uint32_t schema_version)
{
    const struct oldlog_envelope at = {partner_id, customer_id, stream_version, schema_version};
    assert_int_equal(oldlog_partner_registered(engine_store(engine), &at, NULL), LEDGER_ERR_OK);
}

static void append_partner_record(struct engine *engine, const char *partner_id,
                                  uint32_t schema_version)
{
    append_record(engine, partner_id, "", 0, schema_version);
}

/* A record of a schema version this build knows is projected by the rebuild;
 * one of a version it does not know is refused as CORRUPT and changes nothing. */
static void check_unknown_version(struct engine *engine, uint32_t schema_version)
{
    struct report report;
    append_partner_record(engine, "p-known", LEDGER_SCHEMA_VERSION);
    /* The record was never projected live: the rebuild adds its rows. */
    assert_true(rebuild(engine, &report) > 0);
    assert_int_equal(rebuild(engine, &report), 0);
    char why[ENGINE_MESSAGE_SIZE], expected[ENGINE_MESSAGE_SIZE];
    assert_int_equal(engine_rebuild_failure(engine, why), 0);
    assert_string_equal(why, "");
    append_partner_record(engine, "p-unknown", schema_version);
    uint8_t before[STORE_DB_COUNT][32], after[STORE_DB_COUNT][32];
    digest_views(engine, before);
    unsigned differences = UINT32_MAX;
    assert_int_equal(engine_rebuild(engine, NULL, &report, report_view, &differences),
                     LEDGER_ERR_CORRUPT);
    assert_int_equal(differences, UINT32_MAX);
    /* The record it stopped at is named, with what is wrong with it. */
    struct store_txn *txn = NULL;
    assert_int_equal(store_begin(engine_store(engine), false, &txn), LEDGER_ERR_OK);
    uint64_t last = store_last_sequence(txn);
    store_abort(txn);
    assert_int_equal(engine_rebuild_failure(engine, why), last);
    snprintf(expected, sizeof expected,
             "the record's schema version %u is not one this build reads (1..%d)",
             (unsigned)schema_version, LEDGER_SCHEMA_VERSION);
    assert_string_equal(why, expected);
    digest_views(engine, after);
    assert_memory_equal(before, after, sizeof before);
}

static void test_rebuild_refuses_a_newer_schema_version(void **state)
{
    struct fixture *f = *state;
    check_unknown_version(f->engine, LEDGER_SCHEMA_VERSION + 1);
}

static void test_rebuild_refuses_schema_version_zero(void **state)
{
    struct fixture *f = *state;
    check_unknown_version(f->engine, 0);
}

/* The rebuild counts each customer's stream itself (in memory, reading the
 * index once per customer): a record that is not the next version of its
 * customer's stream is refused as CORRUPT and named, after records of the
 * same stream that are. */
static void test_rebuild_refuses_a_stream_version_out_of_order(void **state)
{
    struct fixture *f = *state;
    struct report report;
    for (uint64_t version = 1; version <= 3; version++) {
        append_record(f->engine, "p-stream", "c-1", version, LEDGER_SCHEMA_VERSION);
    }
    append_record(f->engine, "p-stream", "c-2", 1, LEDGER_SCHEMA_VERSION);
    /* Never projected live: the rebuild adds their rows, and a second finds
     * them as it derives them. */
    assert_true(rebuild(f->engine, &report) > 0);
    assert_int_equal(rebuild(f->engine, &report), 0);
    append_record(f->engine, "p-stream", "c-1", 5, LEDGER_SCHEMA_VERSION);
    unsigned differences = UINT32_MAX;
    assert_int_equal(engine_rebuild(f->engine, NULL, &report, report_view, &differences),
                     LEDGER_ERR_CORRUPT);
    assert_int_equal(differences, UINT32_MAX);
    struct store_txn *txn = NULL;
    assert_int_equal(store_begin(engine_store(f->engine), false, &txn), LEDGER_ERR_OK);
    uint64_t last = store_last_sequence(txn);
    store_abort(txn);
    char why[ENGINE_MESSAGE_SIZE];
    assert_int_equal(engine_rebuild_failure(f->engine, why), last);
    assert_string_equal(why, "the record is version 5 of customer c-1's stream, which the log "
                             "before it makes version 4");
}

/* Replaces every occurrence of `from` in `path` by `to` (of the same
 * length); returns how many there were. */
static unsigned file_replace(const char *path, const char *from, const char *to)
{
    FILE *file = fopen(path, "r+b");
    assert_non_null(file);
    assert_int_equal(fseek(file, 0, SEEK_END), 0);
    long size = ftell(file);
    assert_true(size > 0);
    char *bytes = malloc((size_t)size);
    assert_non_null(bytes);
    rewind(file);
    assert_int_equal(fread(bytes, 1, (size_t)size, file), (size_t)size);
    size_t length = strlen(from);
    assert_int_equal(strlen(to), length);
    unsigned found = 0;
    for (size_t i = 0; i + length <= (size_t)size; i++) {
        if (memcmp(bytes + i, from, length) == 0) {
            memcpy(bytes + i, to, length);
            found++;
        }
    }
    rewind(file);
    assert_int_equal(fwrite(bytes, 1, (size_t)size, file), (size_t)size);
    assert_int_equal(fclose(file), 0);
    free(bytes);
    return found;
}

/* A record whose bytes were changed behind the ledger's back no longer
 * hashes to the leaf stored with it: the rebuild stops there as CORRUPT and
 * names the record and what is wrong with it. */
static void test_rebuild_refuses_a_record_changed_on_disk(void **state)
{
    struct fixture *f = *state;
    append_partner_record(f->engine, "p-changed-on-disk", LEDGER_SCHEMA_VERSION);
    struct store_txn *txn = NULL;
    assert_int_equal(store_begin(engine_store(f->engine), false, &txn), LEDGER_ERR_OK);
    uint64_t changed = store_last_sequence(txn);
    store_abort(txn);
    engine_close(f->engine);
    f->engine = NULL;
    char path[600];
    snprintf(path, sizeof path, "%s/data.mdb", f->dir);
    /* Only the record (never projected) names the partner. */
    assert_true(file_replace(path, "p-changed-on-disk", "p-changed-on-DISK") > 0);
    struct engine_options options = {.data_dir = f->dir, .no_sync = true};
    assert_int_equal(engine_open(&options, &f->engine), LEDGER_ERR_OK);
    struct report report;
    unsigned differences = UINT32_MAX;
    assert_int_equal(engine_rebuild(f->engine, NULL, &report, report_view, &differences),
                     LEDGER_ERR_CORRUPT);
    assert_int_equal(differences, UINT32_MAX);
    char why[ENGINE_MESSAGE_SIZE];
    assert_int_equal(engine_rebuild_failure(f->engine, why), changed);
    assert_string_equal(why, "the record's bytes do not match its stored leaf hash");
}

/* Appends `size` bytes as the next record, with its leaf hash and Merkle
 * nodes, as damage or a foreign program could have written them. */
static void append_bytes(struct engine *engine, const uint8_t *bytes, size_t size)
{
    struct store_txn *txn = NULL;
    assert_int_equal(store_begin(engine_store(engine), true, &txn), LEDGER_ERR_OK);
    uint64_t sequence = 0;
    uint8_t leaf[STORE_HASH_BYTES];
    assert_int_equal(store_append(txn, bytes, size, &sequence, leaf), LEDGER_ERR_OK);
    assert_int_equal(merkle_append(txn, sequence, leaf), LEDGER_ERR_OK);
    assert_int_equal(store_commit(txn), LEDGER_ERR_OK);
}

/* A PartnerRegistered of `partner_id` by the operator under `command_id`,
 * for `customer_id`'s stream ("" for none) at version 1. `sequence` 0: the
 * next record's; otherwise the one the record names. */
static void append_partner_event(struct engine *engine, const char *partner_id,
                                 const char *customer_id, const char *command_id, uint64_t sequence)
{
    Ledger__V1__PartnerRegistered body = LEDGER__V1__PARTNER_REGISTERED__INIT;
    body.name = "Northwind";
    Ledger__V1__Actor actor = LEDGER__V1__ACTOR__INIT;
    actor.principal_id = "operator";
    actor.role = LEDGER__V1__ROLE__ROLE_OPERATOR;
    uint8_t command_hash[STORE_HASH_BYTES] = {0};
    Ledger__V1__Event event = LEDGER__V1__EVENT__INIT;
    event.body_case = LEDGER__V1__EVENT__BODY_PARTNER_REGISTERED;
    event.partner_registered = &body;
    event.partner_id = (char *)partner_id;
    event.customer_id = (char *)customer_id;
    event.stream_version = customer_id[0] != '\0' ? 1 : 0;
    event.actor = &actor;
    event.recorded_us = OLDLOG_TIME_US;
    event.business_us = OLDLOG_TIME_US;
    event.command_id = (char *)command_id;
    event.schema_version = LEDGER_SCHEMA_VERSION;
    event.command_hash.data = command_hash;
    event.command_hash.len = sizeof command_hash;
    if (sequence == 0) {
        assert_int_equal(oldlog_append(engine_store(engine), &event, NULL), LEDGER_ERR_OK);
        return;
    }
    event.sequence = sequence;
    uint8_t *record = NULL;
    size_t size = 0;
    assert_int_equal(codec_pack(&event.base, &record, &size), LEDGER_ERR_OK);
    append_bytes(engine, record, size);
    free(record);
}

static uint64_t last_sequence(struct engine *engine)
{
    struct store_txn *txn = NULL;
    assert_int_equal(store_begin(engine_store(engine), false, &txn), LEDGER_ERR_OK);
    uint64_t last = store_last_sequence(txn);
    store_abort(txn);
    return last;
}

/* The rebuild stops at the log's last record as CORRUPT, names it and says
 * `expected_why`, and leaves every view as it was. */
static void expect_last_record_refused(struct engine *engine, const char *expected_why)
{
    uint8_t before[STORE_DB_COUNT][32], after[STORE_DB_COUNT][32];
    digest_views(engine, before);
    struct report report;
    memset(&report, 0, sizeof report);
    unsigned differences = UINT32_MAX;
    assert_int_equal(engine_rebuild(engine, NULL, &report, report_view, &differences),
                     LEDGER_ERR_CORRUPT);
    assert_int_equal(differences, UINT32_MAX);
    assert_int_equal(report.calls, 0);
    char why[ENGINE_MESSAGE_SIZE];
    assert_int_equal(engine_rebuild_failure(engine, why), last_sequence(engine));
    assert_string_equal(why, expected_why);
    digest_views(engine, after);
    assert_memory_equal(before, after, sizeof before);
}

/* A record whose bytes are not an event (its leaf hash matches them: not
 * changed on disk, written so) stops the rebuild, named. */
static void test_rebuild_refuses_a_record_that_does_not_decode(void **state)
{
    struct fixture *f = *state;
    /* Field 0 is never valid protobuf. */
    static const uint8_t garbage[] = {0x00, 0x01, 0x02, 0x03};
    append_bytes(f->engine, garbage, sizeof garbage);
    expect_last_record_refused(f->engine, "the record does not decode as ledger.v1.Event");
}

/* The records a rebuild replays between two commits
 * (ENGINE_REBUILD_COMMIT_EVERY in engine_rebuild.c). */
#define REBUILD_COMMIT_EVERY 20000

/* A rebuild stopped by a damaged record after it committed part of the
 * views (past its first REBUILD_COMMIT_EVERY records) leaves the views
 * marked as being rebuilt, on disk and in the engine that ran it alike:
 * the engine no longer says its views are current, and a reopened one
 * says the same. */
static void test_rebuild_stopped_past_a_commit_leaves_views_not_current(void **state)
{
    struct fixture *f = *state;
    struct histgen_options options = {
        .seed = 20261208,
        .partners = 2,
        .customers_per_partner = 40,
        .target_events = REBUILD_COMMIT_EVERY,
    };
    load_history(f->engine, &options);
    assert_true(engine_head_sequence(f->engine) >= REBUILD_COMMIT_EVERY);
    uint64_t layout = UINT64_MAX;
    assert_true(engine_views_current(f->engine, &layout));
    assert_int_equal(layout, ENGINE_VIEWS_LAYOUT);
    static const uint8_t garbage[] = {0x00, 0x01, 0x02, 0x03};
    append_bytes(f->engine, garbage, sizeof garbage);
    unsigned differences = UINT32_MAX;
    assert_int_equal(engine_rebuild(f->engine, NULL, NULL, NULL, &differences), LEDGER_ERR_CORRUPT);
    assert_int_equal(differences, UINT32_MAX);
    char why[ENGINE_MESSAGE_SIZE];
    assert_int_equal(engine_rebuild_failure(f->engine, why), last_sequence(f->engine));
    assert_string_equal(why, "the record does not decode as ledger.v1.Event");
    assert_false(engine_views_current(f->engine, &layout));
    assert_int_equal(layout, ENGINE_VIEWS_LAYOUT_REBUILDING);
    engine_close(f->engine);
    f->engine = NULL;
    struct engine_options reopen = {.data_dir = f->dir, .no_sync = true};
    assert_int_equal(engine_open(&reopen, &f->engine), LEDGER_ERR_OK);
    layout = UINT64_MAX;
    assert_false(engine_views_current(f->engine, &layout));
    assert_int_equal(layout, ENGINE_VIEWS_LAYOUT_REBUILDING);
}

/* A record whose envelope names another sequence than its place in the log
 * (a record copied from elsewhere) stops the rebuild, named. */
static void test_rebuild_refuses_a_record_naming_another_sequence(void **state)
{
    struct fixture *f = *state;
    uint64_t next = last_sequence(f->engine) + 1;
    append_partner_event(f->engine, "p-elsewhere", "", "cmd-elsewhere", next + 7);
    char expected[ENGINE_MESSAGE_SIZE];
    snprintf(expected, sizeof expected, "the record names sequence %llu",
             (unsigned long long)(next + 7));
    expect_last_record_refused(f->engine, expected);
}

/* A record whose customer id is longer than any id (65 bytes), which the
 * stream index cannot take, stops the rebuild as CORRUPT, named, with what
 * is wrong with it: not INVALID_ARGUMENT with no reason. */
static void test_rebuild_refuses_an_id_too_long_for_the_indexes(void **state)
{
    struct fixture *f = *state;
    char customer_id[LEDGER_ID_LENGTH_MAX + 2];
    memset(customer_id, 'c', sizeof customer_id - 1);
    customer_id[sizeof customer_id - 1] = '\0';
    append_partner_event(f->engine, "p-long", customer_id, "cmd-long", 0);
    expect_last_record_refused(f->engine, "the record's partner or customer id is not 1 to 64 "
                                          "bytes: the stream index cannot hold it");
}

/* Two records under one principal's command id (a command id is taken by
 * its first record only): the rebuild stops at the second as CORRUPT, named,
 * not with COMMAND_ID_REUSED and no reason. */
static void test_rebuild_refuses_a_command_id_recorded_twice(void **state)
{
    struct fixture *f = *state;
    append_partner_event(f->engine, "p-first", "", "cmd-twice", 0);
    append_partner_event(f->engine, "p-second", "", "cmd-twice", 0);
    expect_last_record_refused(f->engine, "the record's command id cmd-twice of principal "
                                          "operator is an earlier record's");
}

/* A record the views cannot take (a partner registered without an id) stops
 * the rebuild, named, with the views' reason. */
static void test_rebuild_refuses_an_event_the_views_do_not_take(void **state)
{
    struct fixture *f = *state;
    append_partner_event(f->engine, "", "", "cmd-no-partner", 0);
    char expected[ENGINE_MESSAGE_SIZE];
    snprintf(expected, sizeof expected,
             "the event does not apply to the views the log before it makes (%s)",
             ledger_strerror(LEDGER_ERR_CORRUPT));
    expect_last_record_refused(f->engine, expected);
}

/* A record whose command id is longer than any id, which the command index
 * cannot take, stops the rebuild as CORRUPT, named. */
static void test_rebuild_refuses_a_command_id_too_long_for_the_index(void **state)
{
    struct fixture *f = *state;
    char command_id[LEDGER_ID_LENGTH_MAX + 2];
    memset(command_id, 'k', sizeof command_id - 1);
    command_id[sizeof command_id - 1] = '\0';
    append_partner_event(f->engine, "p-long-command", "", command_id, 0);
    expect_last_record_refused(f->engine, "the record's principal or command id is not 1 to 64 "
                                          "bytes: the command index cannot hold it");
}

/* A record whose size in its LMDB node was made 16 MiB larger (damage past
 * the end of the data file): reading it would fault. The rebuild stops there
 * as CORRUPT, names the record and says why, and changes no view. */
static void test_rebuild_refuses_a_record_whose_size_was_altered(void **state)
{
    struct fixture *f = *state;
    append_partner_event(f->engine, "p-resized-on-disk", "", "cmd-resized", 0);
    uint64_t resized = last_sequence(f->engine);
    uint8_t node_start[8 + 24];
    store_u64_to_key(resized, node_start);
    struct store_txn *txn = NULL;
    assert_int_equal(store_begin(engine_store(f->engine), false, &txn), LEDGER_ERR_OK);
    struct store_val record;
    assert_int_equal(store_record(txn, resized, &record), LEDGER_ERR_OK);
    assert_true(record.size > 24 && record.size < 0xffff);
    uint16_t record_size = (uint16_t)record.size;
    memcpy(node_start + 8, record.data, 24);
    store_abort(txn);
    uint8_t before[STORE_DB_COUNT][32], after[STORE_DB_COUNT][32];
    digest_views(f->engine, before);
    engine_close(f->engine);
    f->engine = NULL;

    /* The node: the value's size (low and high 16 bits), flags, the key's
     * size, the key (the sequence), then the record. Every copy of its page
     * is changed, the one in use among them. */
    char path[600];
    snprintf(path, sizeof path, "%s/data.mdb", f->dir);
    FILE *file = fopen(path, "r+b");
    assert_non_null(file);
    assert_int_equal(fseek(file, 0, SEEK_END), 0);
    long size = ftell(file);
    assert_true(size > 0);
    uint8_t *bytes = malloc((size_t)size);
    assert_non_null(bytes);
    rewind(file);
    assert_int_equal(fread(bytes, 1, (size_t)size, file), (size_t)size);
    unsigned changed = 0;
    for (long i = 8; i + (long)sizeof node_start <= size; i++) {
        if (memcmp(bytes + i, node_start, sizeof node_start) == 0) {
            assert_int_equal(bytes[i - 8] | bytes[i - 7] << 8, record_size);
            assert_int_equal(bytes[i - 6] | bytes[i - 5] << 8, 0);
            bytes[i - 5] = 1;
            changed++;
        }
    }
    assert_true(changed > 0);
    rewind(file);
    assert_int_equal(fwrite(bytes, 1, (size_t)size, file), (size_t)size);
    assert_int_equal(fclose(file), 0);
    free(bytes);

    struct engine_options options = {.data_dir = f->dir, .no_sync = true};
    assert_int_equal(engine_open(&options, &f->engine), LEDGER_ERR_OK);
    unsigned differences = UINT32_MAX;
    assert_int_equal(engine_rebuild(f->engine, NULL, NULL, NULL, &differences), LEDGER_ERR_CORRUPT);
    assert_int_equal(differences, UINT32_MAX);
    char why[ENGINE_MESSAGE_SIZE], expected[ENGINE_MESSAGE_SIZE];
    assert_int_equal(engine_rebuild_failure(f->engine, why), resized);
    snprintf(expected, sizeof expected,
             "the record could not be read: a value of %u bytes in the log database is larger "
             "than the data file: the file is damaged (a node's size was altered); restore a "
             "backup",
             (unsigned)record_size + (1u << 24));
    assert_string_equal(why, expected);
    digest_views(f->engine, after);
    assert_memory_equal(before, after, sizeof before);
}

/* Where an entry of the command-id and stream indexes comes from, as the
 * verifier names a differing entry: the command's key and the sequence of
 * its first event (from its stored result), or none when the stored value is
 * too short to hold a result; a stream version's key and sequence; a view's
 * row its key. */
static void test_rebuild_entry_origin_of_the_indexes(void **state)
{
    struct fixture *f = *state;
    append_partner_event(f->engine, "p-origin", "c-origin", "cmd-origin", 0);
    uint64_t sequence = last_sequence(f->engine);
    struct report report;
    assert_true(rebuild(f->engine, &report) > 0);
    struct store_txn *txn = NULL;
    assert_int_equal(store_begin(engine_store(f->engine), false, &txn), LEDGER_ERR_OK);
    struct store_origin origin;
    static const char command_key[] = "operator\0cmd-origin";
    struct store_val key = {(const uint8_t *)command_key, sizeof command_key - 1}, value;
    assert_int_equal(store_get(txn, STORE_DB_COMMAND, key.data, key.size, &value), LEDGER_ERR_OK);
    engine_entry_origin(STORE_DB_COMMAND, key, value, &origin);
    assert_string_equal(origin.key_text, "operator/cmd-origin");
    assert_int_equal(origin.sequence, sequence);
    struct store_val short_value = {value.data, STORE_HASH_BYTES - 1};
    engine_entry_origin(STORE_DB_COMMAND, key, short_value, &origin);
    assert_string_equal(origin.key_text, "operator/cmd-origin");
    assert_int_equal(origin.sequence, 0);

    uint8_t stream_key[sizeof "p-origin\0c-origin" + 8];
    memcpy(stream_key, "p-origin\0c-origin", sizeof "p-origin\0c-origin");
    store_u64_to_key(1, stream_key + sizeof "p-origin\0c-origin");
    key = (struct store_val){stream_key, sizeof stream_key};
    assert_int_equal(store_get(txn, STORE_DB_STREAM, key.data, key.size, &value), LEDGER_ERR_OK);
    engine_entry_origin(STORE_DB_STREAM, key, value, &origin);
    assert_string_equal(origin.key_text, "p-origin/c-origin/1");
    assert_int_equal(origin.sequence, sequence);

    key = (struct store_val){(const uint8_t *)"p-origin", 8};
    assert_int_equal(store_get(txn, STORE_DB_PARTNER, key.data, key.size, &value), LEDGER_ERR_OK);
    engine_entry_origin(STORE_DB_PARTNER, key, value, &origin);
    assert_string_equal(origin.key_text, "p-origin");
    store_abort(txn);
}

static uint64_t command_entries(struct engine *engine)
{
    struct store_txn *txn = NULL;
    assert_int_equal(store_begin(engine_store(engine), false, &txn), LEDGER_ERR_OK);
    uint64_t count = 0;
    assert_int_equal(store_count(txn, STORE_DB_COMMAND, &count), LEDGER_ERR_OK);
    store_abort(txn);
    return count;
}

/* A record without a command id (an event no command of a client made, as
 * an earlier build could write) is projected into the views and takes no
 * entry of the command-id index. */
static void test_rebuild_projects_a_record_without_a_command_id(void **state)
{
    struct fixture *f = *state;
    uint64_t commands = command_entries(f->engine);
    append_partner_event(f->engine, "p-no-command", "", "", 0);
    struct report report;
    assert_true(rebuild(f->engine, &report) > 0);
    assert_int_equal(command_entries(f->engine), commands);
    struct store_txn *txn = NULL;
    assert_int_equal(store_begin(engine_store(f->engine), false, &txn), LEDGER_ERR_OK);
    struct store_val row;
    assert_int_equal(store_get(txn, STORE_DB_PARTNER, "p-no-command", 12, &row), LEDGER_ERR_OK);
    assert_int_equal(row.size, strlen("Northwind"));
    assert_memory_equal(row.data, "Northwind", row.size);
    store_abort(txn);
    assert_int_equal(rebuild(f->engine, &report), 0);
}

/* Holds `count` reader slots of dir's environment from this (forked)
 * process: writes a byte to `held_fd` once it holds them, and lets go when a
 * byte comes on `release_fd`. */
static void hold_readers(const char *dir, unsigned count, int held_fd, int release_fd)
{
    struct store_options options = {.dir = dir};
    struct store *store = NULL;
    if (store_open(&options, &store) != LEDGER_ERR_OK) {
        _exit(2);
    }
    struct store_txn *txns[LEDGER_READERS_MAX];
    for (unsigned i = 0; i < count; i++) {
        if (store_begin(store, false, &txns[i]) != LEDGER_ERR_OK) {
            _exit(3);
        }
    }
    char byte = 'h';
    if (write(held_fd, &byte, 1) != 1 || read(release_fd, &byte, 1) != 1) {
        _exit(4);
    }
    for (unsigned i = 0; i < count; i++) {
        store_abort(txns[i]);
    }
    store_close(store);
    _exit(0);
}

/* A rebuild whose reader cannot begin its read transaction (another process
 * holds every other reader slot; the digest of the views as they were holds
 * the last, no thread being had) fails with the storage's code and names no
 * record: the log is not damaged, and `ledgerd rebuild` must not say it is.
 * Nothing changes, and once the slots are free the rebuild goes ahead. */
static void test_rebuild_without_a_reader_slot_names_no_record(void **state)
{
    struct fixture *f = *state;
    append_partner_event(f->engine, "p-slots", "", "cmd-slots", 0);
    struct report report;
    assert_true(rebuild(f->engine, &report) > 0);
    uint8_t before[STORE_DB_COUNT][32], after[STORE_DB_COUNT][32];
    digest_views(f->engine, before);
    engine_close(f->engine);
    f->engine = NULL;
    int held[2], release[2];
    assert_int_equal(pipe(held), 0);
    assert_int_equal(pipe(release), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(held[0]);
        close(release[1]);
        hold_readers(f->dir, LEDGER_READERS_MAX - 1, held[1], release[0]);
    }
    close(held[1]);
    close(release[0]);
    char byte;
    assert_int_equal(read(held[0], &byte, 1), 1);
    struct engine_options options = {.data_dir = f->dir, .no_sync = true};
    assert_int_equal(engine_open(&options, &f->engine), LEDGER_ERR_OK);
    threads_refused = true;
    unsigned differences = UINT32_MAX;
    enum ledger_err err = engine_rebuild(f->engine, NULL, &report, report_view, &differences);
    threads_refused = false;
    assert_int_equal(err, LEDGER_ERR_STORAGE_ERROR);
    assert_int_equal(differences, UINT32_MAX);
    char why[ENGINE_MESSAGE_SIZE];
    assert_int_equal(engine_rebuild_failure(f->engine, why), 0);
    assert_string_equal(why, "");
    assert_int_equal(write(release[1], "r", 1), 1);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    close(held[0]);
    close(release[1]);
    digest_views(f->engine, after);
    assert_memory_equal(before, after, sizeof before);
    assert_int_equal(rebuild(f->engine, &report), 0);
}

struct duplicates_seen {
    unsigned count;
    struct views_subscription_duplicate first;
};

static enum ledger_err duplicate_seen(void *context,
                                      const struct views_subscription_duplicate *duplicate)
{
    struct duplicates_seen *seen = context;
    if (seen->count++ == 0) {
        seen->first = *duplicate;
    }
    return LEDGER_ERR_OK;
}

/* A log of an earlier build that holds one subscription id under two
 * customers of a partner replays as it is, and what the rebuild derived
 * names that id (with its holders in sequence order) and no other: not
 * the id under customers of two partners, nor the id bought once. */
static void test_rebuild_names_a_subscription_id_two_customers_hold(void **state)
{
    struct fixture *f = *state;
    struct oldlog_shared shared;
    assert_int_equal(oldlog_shared_subscription(engine_store(f->engine), &shared), LEDGER_ERR_OK);
    struct report report;
    assert_true(rebuild(f->engine, &report) > 0); /* never projected live */
    assert_int_equal(rebuild(f->engine, &report), 0);
    struct duplicates_seen seen = {0};
    uint64_t ids = 0;
    assert_int_equal(engine_subscription_duplicates(f->engine, duplicate_seen, &seen, &ids),
                     LEDGER_ERR_OK);
    assert_int_equal(ids, 1);
    assert_int_equal(seen.count, 1);
    assert_string_equal(seen.first.subscription_id, "sub-shared");
    assert_string_equal(seen.first.partner_id, "p-a");
    assert_int_equal(seen.first.holders, 2);
    assert_int_equal(seen.first.listed, 2);
    assert_string_equal(seen.first.holding[0].customer_id, "c-2");
    assert_int_equal(seen.first.holding[0].sequence, shared.first);
    assert_string_equal(seen.first.holding[1].customer_id, "c-1");
    assert_int_equal(seen.first.holding[1].sequence, shared.second);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rebuild_names_a_subscription_id_two_customers_hold,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_rebuild_refuses_a_newer_schema_version, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rebuild_refuses_schema_version_zero, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rebuild_stopped_past_a_commit_leaves_views_not_current,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_rebuild_refuses_a_record_that_does_not_decode, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rebuild_refuses_a_record_naming_another_sequence,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_rebuild_refuses_an_id_too_long_for_the_indexes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rebuild_refuses_a_command_id_recorded_twice, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rebuild_refuses_an_event_the_views_do_not_take, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rebuild_refuses_a_command_id_too_long_for_the_index,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_rebuild_refuses_a_record_changed_on_disk, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rebuild_refuses_a_record_whose_size_was_altered, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rebuild_entry_origin_of_the_indexes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rebuild_projects_a_record_without_a_command_id, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rebuild_without_a_reader_slot_names_no_record, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rebuild_refuses_a_stream_version_out_of_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rebuild_digests_without_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rebuild_small_ledger_names_the_tampered_view, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rebuild_keeps_rotated_secrets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rebuild_history_with_renewals_is_identical, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rebuild_large_history_is_identical_and_repairs_a_view,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
