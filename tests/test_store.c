/*
 * test_store.c: the LMDB store of daemon/store.h.
 *
 * Goal: every promise of the contract, with the exact error code of each
 * failure: the dense append-only log and its leaf hashes (against known
 * SHA-256 vectors), the stream and command indexes, nested transactions, map
 * growth up to its maximum with nothing half-written (and a remap the system
 * refuses, after which every call is refused until the store is reopened),
 * cursors, hot copies, read-only opening, and the refusal of foreign or
 * damaged environments and values (a hole in the log, a short leaf hash or
 * index entry, a value whose size was altered past the end of the file). An
 * address-space limit (setrlimit RLIMIT_AS) makes a remap fail.
 *
 * Method: each test gets a fresh directory made with mkdtemp under
 * $LEDGER_TEST_TMP (or /tmp) holding a data directory "data" that store_open
 * creates, and removes it afterwards. Foreign and damaged environments are
 * made with LMDB directly, as another program would make them. Programmer
 * errors (writing the log through the generic calls) must abort even in
 * release builds; they are run in a forked child whose death by SIGABRT is
 * the expected outcome.
 */
#define _GNU_SOURCE /* nftw's FTW_DEPTH and FTW_PHYS */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <lmdb.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "ledger_limits.h"
#include "store.h"

#define MIB (UINT64_C(1024) * 1024)

/* --- helpers ---------------------------------------------------------------------------------- */

/* cmocka has fail_msg but not one that takes the caller's position. */
#define fail_msg_at(file, line, ...)                                                               \
    do {                                                                                           \
        print_error("%s:%d: ", file, line);                                                        \
        print_error(__VA_ARGS__);                                                                  \
        print_error("\n");                                                                         \
        _fail(file, line);                                                                         \
    } while (0)

static void check_err(enum ledger_err expected, enum ledger_err actual, const char *expression,
                      const char *file, int line)
{
    if (expected != actual)
        fail_msg_at(file, line, "%s: expected %s, got %s (%s)", expression,
                    ledger_err_name(expected), ledger_err_name(actual), store_last_error(NULL));
}

#define assert_err(expected, expression)                                                           \
    check_err((expected), (expression), #expression, __FILE__, __LINE__)
#define assert_ok(expression) assert_err(LEDGER_ERR_OK, (expression))

/* out = dir "/" name, which must fit. */
static void join(char *out, size_t size, const char *dir, const char *name)
{
    int length = snprintf(out, size, "%s/%s", dir, name);
    assert_true(length > 0 && (size_t)length < size);
}

struct fixture {
    char root[PATH_MAX];
    char dir[PATH_MAX]; /* root/data */
    struct store *store;
};

static struct store_options fixture_options(const struct fixture *f)
{
    struct store_options options = {
        .dir = f->dir,
        .map_bytes = 8 * MIB,
        .map_bytes_max = 64 * MIB,
        .no_sync = true,
    };
    return options;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    const char *tmp = getenv("LEDGER_TEST_TMP");
    snprintf(f->root, sizeof f->root, "%s/test_store.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(f->root) == NULL) {
        free(f);
        return -1;
    }
    join(f->dir, sizeof f->dir, f->root, "data");
    struct store_options options = fixture_options(f);
    if (store_open(&options, &f->store) != LEDGER_ERR_OK) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int remove_entry(const char *path, const struct stat *info, int type, struct FTW *walk)
{
    (void)info;
    (void)type;
    (void)walk;
    return remove(path);
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    store_close(f->store);
    int rc = nftw(f->root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return rc;
}

/* A directory beside the data directory, e.g. for copies. */
static void sibling(const struct fixture *f, const char *name, char *out, size_t size)
{
    join(out, size, f->root, name);
}

/* Replaces the fixture's store with a new environment in root/name, opened
 * with `options` (whose dir is set here). A new one, because an existing
 * environment keeps its map size and reader table. */
static void open_fresh(struct fixture *f, const char *name, struct store_options *options)
{
    store_close(f->store);
    f->store = NULL;
    join(f->dir, sizeof f->dir, f->root, name);
    options->dir = f->dir;
    assert_ok(store_open(options, &f->store));
}

static void reopen(struct fixture *f, const struct store_options *options)
{
    store_close(f->store);
    f->store = NULL;
    assert_ok(store_open(options, &f->store));
}

static uint64_t last_sequence(struct store *store)
{
    struct store_txn *txn;
    assert_ok(store_begin(store, false, &txn));
    uint64_t last = store_last_sequence(txn);
    store_abort(txn);
    return last;
}

static void append_text(struct store_txn *txn, const char *text, uint64_t expected_sequence)
{
    uint64_t sequence = 0;
    uint8_t leaf[STORE_HASH_BYTES];
    assert_ok(store_append(txn, (const uint8_t *)text, strlen(text), &sequence, leaf));
    assert_int_equal(expected_sequence, sequence);
}

static void assert_record(struct store_txn *txn, uint64_t sequence, const char *text)
{
    struct store_val value;
    assert_ok(store_record(txn, sequence, &value));
    assert_int_equal(strlen(text), value.size);
    assert_memory_equal(text, value.data, value.size);
}

static void hex_to_bytes(const char *hex, uint8_t out[STORE_HASH_BYTES])
{
    assert_ok(crypto_unhex(hex, out, STORE_HASH_BYTES));
}

/* --- the log ---------------------------------------------------------------------------------- */

/* The data syncs liblmdb asks of the kernel. Defined in the executable, this
 * fdatasync is the one the shared library calls. */
static atomic_int data_syncs;

int fdatasync(int fd)
{
    atomic_fetch_add(&data_syncs, 1);
    return (int)syscall(SYS_fdatasync, fd);
}

/* Bulk mode (rebuilds) still flushes each commit's pages before a later
 * meta page can name them: a power cut loses at most the last commit, never
 * pages the last durable meta page names. Ending it syncs. */
static void test_store_bulk_commits_flush_their_pages(void **state)
{
    struct fixture *f = *state;
    struct store_options options = fixture_options(f);
    options.no_sync = false;
    open_fresh(f, "bulk", &options);
    assert_ok(store_bulk(f->store, true));
    for (uint64_t i = 1; i <= 3; i++) {
        struct store_txn *txn;
        assert_ok(store_begin(f->store, true, &txn));
        append_text(txn, "in bulk", i);
        int before = atomic_load(&data_syncs);
        assert_ok(store_commit(txn));
        assert_true(atomic_load(&data_syncs) > before);
    }
    int before = atomic_load(&data_syncs);
    assert_ok(store_bulk(f->store, false));
    assert_true(atomic_load(&data_syncs) > before);
    reopen(f, &options);
    struct store_txn *txn;
    assert_ok(store_begin(f->store, false, &txn));
    assert_int_equal(3, store_last_sequence(txn));
    store_abort(txn);
}

static void test_store_append_and_read_back(void **state)
{
    struct fixture *f = *state;
    struct store_txn *txn;
    assert_ok(store_begin(f->store, true, &txn));
    assert_int_equal(0, store_last_sequence(txn));
    append_text(txn, "first", 1);
    append_text(txn, "second record", 2);
    append_text(txn, "", 3);
    /* The transaction sees its own appends. */
    assert_int_equal(3, store_last_sequence(txn));
    assert_record(txn, 2, "second record");
    assert_ok(store_commit(txn));

    assert_ok(store_begin(f->store, false, &txn));
    assert_int_equal(3, store_last_sequence(txn));
    assert_record(txn, 1, "first");
    assert_record(txn, 2, "second record");
    assert_record(txn, 3, "");
    uint64_t count = 0;
    assert_ok(store_count(txn, STORE_DB_LOG, &count));
    assert_int_equal(3, count);
    assert_ok(store_count(txn, STORE_DB_LEAF, &count));
    assert_int_equal(3, count);
    store_abort(txn);
}

static void test_store_sequences_dense_from_one(void **state)
{
    struct fixture *f = *state;
    char text[32];
    uint64_t expected = 1;
    /* Several transactions, so that the next sequence comes from the store and
     * not from anything cached in one transaction. */
    for (int round = 0; round < 10; round++) {
        struct store_txn *txn;
        assert_ok(store_begin(f->store, true, &txn));
        for (int i = 0; i < 25; i++, expected++) {
            snprintf(text, sizeof text, "record %llu", (unsigned long long)expected);
            append_text(txn, text, expected);
        }
        assert_ok(store_commit(txn));
    }
    assert_int_equal(250, last_sequence(f->store));
    struct store_txn *txn;
    assert_ok(store_begin(f->store, false, &txn));
    for (uint64_t sequence = 1; sequence <= 250; sequence++) {
        snprintf(text, sizeof text, "record %llu", (unsigned long long)sequence);
        assert_record(txn, sequence, text);
    }
    store_abort(txn);
}

static void test_store_leaf_hash_known_vectors(void **state)
{
    struct fixture *f = *state;
    /* SHA-256(0x00), SHA-256(0x00 || "abc"), SHA-256(0x00 || "ledger"),
     * computed outside this project. */
    static const struct {
        const char *record;
        const char *leaf_hex;
    } vectors[] = {
        {"", "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"},
        {"abc", "609f6e36d2405585188d5cfd761f407c7cc46a7d3f314c88270469dde315fcd1"},
        {"ledger", "5b982ab34fe586ed962fb9dca500ac29b7fdfa88b73a4b9f95dbe0a470222fb5"},
    };
    struct store_txn *txn;
    assert_ok(store_begin(f->store, true, &txn));
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        uint8_t expected[STORE_HASH_BYTES];
        hex_to_bytes(vectors[i].leaf_hex, expected);
        uint64_t sequence = 0;
        uint8_t leaf[STORE_HASH_BYTES];
        size_t size = strlen(vectors[i].record);
        /* The empty record is passed as NULL, which the contract allows. */
        const uint8_t *bytes = size ? (const uint8_t *)vectors[i].record : NULL;
        assert_ok(store_append(txn, bytes, size, &sequence, leaf));
        assert_int_equal(i + 1, sequence);
        assert_memory_equal(expected, leaf, STORE_HASH_BYTES);
    }
    assert_ok(store_commit(txn));

    assert_ok(store_begin(f->store, false, &txn));
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        uint8_t expected[STORE_HASH_BYTES], stored[STORE_HASH_BYTES];
        hex_to_bytes(vectors[i].leaf_hex, expected);
        assert_ok(store_leaf(txn, i + 1, stored));
        assert_memory_equal(expected, stored, STORE_HASH_BYTES);
    }
    store_abort(txn);
}

static void test_store_not_found_past_end(void **state)
{
    struct fixture *f = *state;
    struct store_txn *txn;
    struct store_val value = {(const uint8_t *)"untouched", 9};
    uint8_t leaf[STORE_HASH_BYTES];
    memset(leaf, 0xaa, sizeof leaf);

    assert_ok(store_begin(f->store, false, &txn));
    assert_err(LEDGER_ERR_NOT_FOUND, store_record(txn, 1, &value));
    assert_err(LEDGER_ERR_NOT_FOUND, store_leaf(txn, 1, leaf));
    store_abort(txn);

    assert_ok(store_begin(f->store, true, &txn));
    append_text(txn, "only", 1);
    assert_ok(store_commit(txn));

    assert_ok(store_begin(f->store, false, &txn));
    assert_err(LEDGER_ERR_NOT_FOUND, store_record(txn, 0, &value));
    assert_err(LEDGER_ERR_NOT_FOUND, store_record(txn, 2, &value));
    assert_err(LEDGER_ERR_NOT_FOUND, store_record(txn, UINT64_MAX, &value));
    assert_err(LEDGER_ERR_NOT_FOUND, store_leaf(txn, 0, leaf));
    assert_err(LEDGER_ERR_NOT_FOUND, store_leaf(txn, 2, leaf));
    /* Out-parameters are written only on success. */
    assert_int_equal(9, value.size);
    for (size_t i = 0; i < sizeof leaf; i++)
        assert_int_equal(0xaa, leaf[i]);
    store_abort(txn);
}

/* Records and leaf hashes read through cursors are those of store_record
 * and store_leaf, in order (a step each), out of order (a search) and
 * again; past the end and 0 are NOT_FOUND, with nothing written, and a
 * record is still read after them. */
static void test_store_record_and_leaf_next(void **state)
{
    struct fixture *f = *state;
    static const char *texts[] = {"one", "two", "three", "four", "five"};
    enum { COUNT = sizeof texts / sizeof texts[0] };
    struct store_txn *txn;
    assert_ok(store_begin(f->store, true, &txn));
    for (size_t i = 0; i < COUNT; i++)
        append_text(txn, texts[i], i + 1);
    assert_ok(store_commit(txn));

    assert_ok(store_begin(f->store, false, &txn));
    struct store_cursor *log = NULL, *leaves = NULL;
    assert_ok(store_cursor_open(txn, STORE_DB_LOG, &log));
    assert_ok(store_cursor_open(txn, STORE_DB_LEAF, &leaves));
    static const uint64_t order[] = {1, 2, 3, 4, 5, 2, 3, 5, 1, 2};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        struct store_val value;
        uint8_t leaf[STORE_HASH_BYTES], expected[STORE_HASH_BYTES];
        assert_ok(store_record_next(log, order[i], &value));
        assert_int_equal(strlen(texts[order[i] - 1]), value.size);
        assert_memory_equal(texts[order[i] - 1], value.data, value.size);
        assert_ok(store_leaf_next(leaves, order[i], leaf));
        assert_ok(store_leaf(txn, order[i], expected));
        assert_memory_equal(expected, leaf, sizeof leaf);
    }
    struct store_val value = {(const uint8_t *)"untouched", 9};
    uint8_t leaf[STORE_HASH_BYTES];
    assert_ok(store_record_next(log, 3, &value));
    assert_ok(store_record_next(log, 4, &value));
    assert_ok(store_record_next(log, 5, &value));
    assert_err(LEDGER_ERR_NOT_FOUND, store_record_next(log, 6, &value));
    assert_err(LEDGER_ERR_NOT_FOUND, store_record_next(log, 0, &value));
    assert_err(LEDGER_ERR_NOT_FOUND, store_leaf_next(leaves, COUNT + 1, leaf));
    assert_int_equal(strlen("five"), value.size);
    assert_ok(store_record_next(log, 1, &value));
    assert_memory_equal("one", value.data, value.size);
    store_cursor_close(leaves);
    store_cursor_close(log);
    store_abort(txn);
}

/* --- durability and reopening ----------------------------------------------------------------- */

static enum ledger_err collect_sequence(void *context, uint64_t sequence);

struct sequences {
    uint64_t items[64];
    size_t count;
    size_t stop_after; /* 0: never stop */
};

static enum ledger_err collect_sequence(void *context, uint64_t sequence)
{
    struct sequences *s = context;
    if (s->count >= sizeof s->items / sizeof s->items[0])
        return LEDGER_ERR_INTERNAL;
    s->items[s->count++] = sequence;
    if (s->stop_after != 0 && s->count == s->stop_after)
        return LEDGER_ERR_UNCHANGED; /* any code: it must come back as is */
    return LEDGER_ERR_OK;
}

static void test_store_reopen_keeps_everything(void **state)
{
    struct fixture *f = *state;
    /* A durable (synced) environment this time. */
    struct store_options options = fixture_options(f);
    options.no_sync = false;
    reopen(f, &options);

    struct store_txn *txn;
    uint8_t hash[STORE_HASH_BYTES];
    memset(hash, 0x42, sizeof hash);
    uint64_t version = 0;
    assert_ok(store_begin(f->store, true, &txn));
    append_text(txn, "alpha", 1);
    append_text(txn, "beta", 2);
    assert_ok(store_stream_add(txn, "partner-1", "customer-1", 1, &version));
    assert_ok(store_stream_add(txn, "partner-1", "customer-1", 2, &version));
    assert_int_equal(2, version);
    assert_ok(store_command_put(txn, "principal-1", "command-1", hash, (const uint8_t *)"res", 3));
    assert_ok(store_put(txn, STORE_DB_PARTNER, "p1", 2, "Partner One", 11));
    assert_ok(store_put(txn, STORE_DB_SECRET, "principal-1", 11, hash, sizeof hash));
    assert_ok(store_commit(txn));

    reopen(f, &options);

    assert_ok(store_begin(f->store, false, &txn));
    assert_int_equal(2, store_last_sequence(txn));
    assert_record(txn, 1, "alpha");
    assert_record(txn, 2, "beta");
    uint8_t leaf[STORE_HASH_BYTES], expected[STORE_HASH_BYTES];
    assert_ok(store_leaf(txn, 2, leaf));
    crypto_sha256_prefixed(0x00, "beta", 4, expected);
    assert_memory_equal(expected, leaf, sizeof leaf);
    assert_ok(store_stream_version(txn, "partner-1", "customer-1", &version));
    assert_int_equal(2, version);
    struct sequences seen = {.count = 0};
    assert_ok(store_stream_each(txn, "partner-1", "customer-1", 0, collect_sequence, &seen));
    assert_int_equal(2, seen.count);
    assert_int_equal(1, seen.items[0]);
    assert_int_equal(2, seen.items[1]);
    uint8_t stored_hash[STORE_HASH_BYTES];
    struct store_val result;
    assert_ok(store_command_get(txn, "principal-1", "command-1", stored_hash, &result));
    assert_memory_equal(hash, stored_hash, sizeof hash);
    assert_int_equal(3, result.size);
    assert_memory_equal("res", result.data, 3);
    struct store_val value;
    assert_ok(store_get(txn, STORE_DB_PARTNER, "p1", 2, &value));
    assert_int_equal(11, value.size);
    assert_memory_equal("Partner One", value.data, 11);
    assert_ok(store_get(txn, STORE_DB_SECRET, "principal-1", 11, &value));
    assert_memory_equal(hash, value.data, sizeof hash);
    store_abort(txn);
}

static void test_store_file_modes(void **state)
{
    struct fixture *f = *state;
    struct stat info;
    assert_int_equal(0, stat(f->dir, &info));
    assert_int_equal(0700, info.st_mode & 0777);
    char path[PATH_MAX];
    join(path, sizeof path, f->dir, "data.mdb");
    assert_int_equal(0, stat(path, &info));
    assert_int_equal(0600, info.st_mode & 0777);
    join(path, sizeof path, f->dir, "lock.mdb");
    assert_int_equal(0, stat(path, &info));
    assert_int_equal(0600, info.st_mode & 0777);
}

/* --- the stream index ------------------------------------------------------------------------- */

static void test_store_stream_versions_and_each(void **state)
{
    struct fixture *f = *state;
    struct store_txn *txn;
    uint64_t version = 99;
    assert_ok(store_begin(f->store, true, &txn));
    assert_ok(store_stream_version(txn, "p", "c", &version));
    assert_int_equal(0, version);
    /* Interleave three streams whose keys share prefixes: ("p","c"),
     * ("p","cc") and ("pc","c"). */
    uint64_t sequence = 1;
    for (int i = 0; i < 5; i++) {
        assert_ok(store_stream_add(txn, "p", "c", sequence++, &version));
        assert_int_equal(i + 1, version);
        assert_ok(store_stream_add(txn, "p", "cc", sequence++, &version));
        assert_int_equal(i + 1, version);
        if (i < 2) {
            assert_ok(store_stream_add(txn, "pc", "c", sequence++, &version));
            assert_int_equal(i + 1, version);
        }
    }
    assert_ok(store_commit(txn));

    assert_ok(store_begin(f->store, false, &txn));
    assert_ok(store_stream_version(txn, "p", "c", &version));
    assert_int_equal(5, version);
    assert_ok(store_stream_version(txn, "p", "cc", &version));
    assert_int_equal(5, version);
    assert_ok(store_stream_version(txn, "pc", "c", &version));
    assert_int_equal(2, version);
    assert_ok(store_stream_version(txn, "p", "ccc", &version));
    assert_int_equal(0, version);
    assert_ok(store_stream_version(txn, "a", "a", &version)); /* before every key */
    assert_int_equal(0, version);
    assert_ok(store_stream_version(txn, "z", "z", &version)); /* after every key */
    assert_int_equal(0, version);

    struct sequences seen = {.count = 0};
    assert_ok(store_stream_each(txn, "p", "c", 0, collect_sequence, &seen));
    static const uint64_t p_c[] = {1, 4, 7, 9, 11};
    assert_int_equal(5, seen.count);
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(p_c[i], seen.items[i]);

    struct sequences pc = {.count = 0};
    assert_ok(store_stream_each(txn, "pc", "c", 0, collect_sequence, &pc));
    assert_int_equal(2, pc.count);
    assert_int_equal(3, pc.items[0]);
    assert_int_equal(6, pc.items[1]);

    struct sequences none = {.count = 0};
    assert_ok(store_stream_each(txn, "nobody", "c", 0, collect_sequence, &none));
    assert_int_equal(0, none.count);

    /* fn's error stops the walk and comes back unchanged. */
    struct sequences stopped = {.count = 0, .stop_after = 2};
    assert_err(LEDGER_ERR_UNCHANGED,
               store_stream_each(txn, "p", "cc", 0, collect_sequence, &stopped));
    assert_int_equal(2, stopped.count);

    /* Oldest first above every bound (one customer's events feed resumes
     * after the page it stopped at), and newest first below it, from none
     * to past the last. */
    for (uint64_t bound = 0; bound <= 13; bound++) {
        struct sequences forth = {.count = 0}, back = {.count = 0};
        assert_ok(store_stream_each(txn, "p", "c", bound, collect_sequence, &forth));
        assert_ok(store_stream_each_back(txn, "p", "c", bound, collect_sequence, &back));
        size_t forth_count = 0, back_count = 0;
        for (size_t i = 0; i < 5; i++) {
            if (p_c[i] > bound)
                assert_int_equal(p_c[i], forth.items[forth_count++]);
            if (bound == 0 || p_c[4 - i] < bound)
                assert_int_equal(p_c[4 - i], back.items[back_count++]);
        }
        assert_int_equal(forth_count, forth.count);
        assert_int_equal(back_count, back.count);
    }
    struct sequences none_after = {.count = 0}, back_none = {.count = 0};
    assert_ok(store_stream_each(txn, "nobody", "c", 3, collect_sequence, &none_after));
    assert_ok(store_stream_each_back(txn, "nobody", "c", 0, collect_sequence, &back_none));
    assert_int_equal(0, none_after.count + back_none.count);
    /* ("p","cc") holds 2, 5, 8, 10, 12 */
    struct sequences forth_stopped = {.count = 0, .stop_after = 2};
    assert_err(LEDGER_ERR_UNCHANGED,
               store_stream_each(txn, "p", "cc", 4, collect_sequence, &forth_stopped));
    struct sequences back_stopped = {.count = 0, .stop_after = 2};
    assert_err(LEDGER_ERR_UNCHANGED,
               store_stream_each_back(txn, "p", "cc", 0, collect_sequence, &back_stopped));
    static const uint64_t p_cc_stopped[2][2] = {{5, 8}, {12, 10}};
    const struct sequences *stopped_walks[2] = {&forth_stopped, &back_stopped};
    for (size_t w = 0; w < 2; w++) {
        assert_int_equal(2, stopped_walks[w]->count);
        assert_int_equal(p_cc_stopped[w][0], stopped_walks[w]->items[0]);
        assert_int_equal(p_cc_stopped[w][1], stopped_walks[w]->items[1]);
    }
    assert_err(LEDGER_ERR_INVALID_ARGUMENT,
               store_stream_each_back(txn, "", "c", 0, collect_sequence, &back_none));
    store_abort(txn);
}

/* Whole streams written at once, as a rebuild does: appended in key order
 * into an empty index, a key out of that order refused, and later versions
 * put among other streams' keys; a version already there is refused. */
static void test_store_stream_fill(void **state)
{
    struct fixture *f = *state;
    struct store_txn *txn;
    static const uint64_t p_c[] = {1, 4, 7, 9}, p_cc[] = {2, 5}, pc_c[] = {3};
    assert_ok(store_begin(f->store, true, &txn));
    assert_ok(store_stream_fill(txn, "p", "c", 1, p_c, 3, true));
    assert_ok(store_stream_fill(txn, "p", "cc", 1, p_cc, 2, true));
    assert_ok(store_stream_fill(txn, "pc", "c", 1, pc_c, 1, true));
    assert_int_equal(LEDGER_ERR_CORRUPT, store_stream_fill(txn, "a", "a", 1, pc_c, 1, true));
    assert_ok(store_stream_fill(txn, "p", "c", 4, p_c + 3, 1, false));
    assert_int_equal(LEDGER_ERR_CORRUPT, store_stream_fill(txn, "p", "cc", 2, p_cc, 1, false));
    assert_ok(store_stream_fill(txn, "p", "c", 5, NULL, 0, false));
    assert_ok(store_commit(txn));

    assert_ok(store_begin(f->store, false, &txn));
    static const struct {
        const char *partner_id, *customer_id;
        uint64_t version;
    } versions[] = {{"p", "c", 4}, {"p", "cc", 2}, {"pc", "c", 1}, {"a", "a", 0}};
    for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++) {
        uint64_t version = 99;
        assert_ok(
            store_stream_version(txn, versions[i].partner_id, versions[i].customer_id, &version));
        assert_int_equal(versions[i].version, version);
    }
    struct sequences seen = {.count = 0};
    assert_ok(store_stream_each(txn, "p", "c", 0, collect_sequence, &seen));
    assert_int_equal(4, seen.count);
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(p_c[i], seen.items[i]);
    store_abort(txn);
}

static void test_store_stream_refuses_bad_input(void **state)
{
    struct fixture *f = *state;
    char long_id[LEDGER_ID_LENGTH_MAX + 2];
    memset(long_id, 'x', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0'; /* 65 bytes: one too many */
    char max_id[LEDGER_ID_LENGTH_MAX + 1];
    memset(max_id, 'y', sizeof max_id - 1);
    max_id[sizeof max_id - 1] = '\0'; /* 64 bytes: the longest allowed */

    struct store_txn *txn;
    uint64_t version = 77;
    struct sequences seen = {.count = 0};
    assert_ok(store_begin(f->store, true, &txn));
    assert_err(LEDGER_ERR_INVALID_ARGUMENT, store_stream_version(txn, "", "c", &version));
    assert_err(LEDGER_ERR_INVALID_ARGUMENT, store_stream_version(txn, "p", "", &version));
    assert_err(LEDGER_ERR_INVALID_ARGUMENT, store_stream_version(txn, long_id, "c", &version));
    assert_err(LEDGER_ERR_INVALID_ARGUMENT, store_stream_add(txn, "p", long_id, 1, &version));
    assert_err(LEDGER_ERR_INVALID_ARGUMENT,
               store_stream_each(txn, long_id, "c", 0, collect_sequence, &seen));
    assert_int_equal(77, version);
    assert_err(LEDGER_ERR_INVALID_ARGUMENT, store_stream_add(txn, "p", "c", 0, &version));
    assert_ok(store_stream_add(txn, max_id, max_id, 10, &version));
    assert_int_equal(1, version);
    /* Sequences of a stream only increase. */
    assert_err(LEDGER_ERR_INVALID_ARGUMENT, store_stream_add(txn, max_id, max_id, 10, &version));
    assert_err(LEDGER_ERR_INVALID_ARGUMENT, store_stream_add(txn, max_id, max_id, 9, &version));
    assert_int_equal(1, version);
    assert_ok(store_stream_add(txn, max_id, max_id, 11, &version));
    assert_int_equal(2, version);
    /* The refusals did not spoil the transaction. */
    assert_ok(store_commit(txn));
}

/* --- the command index ------------------------------------------------------------------------ */

static void test_store_command_index_get_put(void **state)
{
    struct fixture *f = *state;
    uint8_t hash[STORE_HASH_BYTES], other[STORE_HASH_BYTES], got[STORE_HASH_BYTES];
    memset(hash, 0x11, sizeof hash);
    memset(other, 0x22, sizeof other);
    memset(got, 0, sizeof got);
    struct store_val result = {NULL, 12345};
    struct store_txn *txn;

    assert_ok(store_begin(f->store, true, &txn));
    assert_err(LEDGER_ERR_NOT_FOUND, store_command_get(txn, "alice", "cmd-1", got, &result));
    assert_int_equal(12345, result.size);
    assert_ok(store_command_put(txn, "alice", "cmd-1", hash, (const uint8_t *)"result-1", 8));
    /* Ids are scoped per principal. */
    assert_ok(store_command_put(txn, "bob", "cmd-1", other, NULL, 0));
    /* "alice"+"cmd-1" and "alicecmd"+"-1" must not collide. */
    assert_err(LEDGER_ERR_NOT_FOUND, store_command_get(txn, "alicecmd", "-1", got, &result));
    /* A recorded id is never overwritten. */
    assert_err(LEDGER_ERR_COMMAND_ID_REUSED,
               store_command_put(txn, "alice", "cmd-1", other, (const uint8_t *)"x", 1));
    assert_ok(store_commit(txn));

    assert_ok(store_begin(f->store, false, &txn));
    assert_ok(store_command_get(txn, "alice", "cmd-1", got, &result));
    assert_memory_equal(hash, got, sizeof got);
    assert_int_equal(8, result.size);
    assert_memory_equal("result-1", result.data, 8);
    assert_ok(store_command_get(txn, "bob", "cmd-1", got, &result));
    assert_memory_equal(other, got, sizeof got);
    assert_int_equal(0, result.size);
    assert_err(LEDGER_ERR_NOT_FOUND, store_command_get(txn, "carol", "cmd-1", got, &result));
    assert_err(LEDGER_ERR_INVALID_ARGUMENT, store_command_get(txn, "", "cmd-1", got, &result));
    assert_err(LEDGER_ERR_INVALID_ARGUMENT, store_command_get(txn, "alice", "", got, &result));
    store_abort(txn);
}

/* --- transactions ----------------------------------------------------------------------------- */

static void test_store_nested_commit_and_abort(void **state)
{
    struct fixture *f = *state;
    struct store_txn *txn, *child;
    uint64_t version;
    assert_ok(store_begin(f->store, true, &txn));
    append_text(txn, "parent", 1);

    /* A committed child becomes part of the parent. */
    assert_ok(store_begin_nested(txn, &child));
    assert_int_equal(1, store_last_sequence(child));
    append_text(child, "kept child", 2);
    assert_ok(store_stream_add(child, "p", "kept", 2, &version));
    assert_ok(store_commit(child));
    assert_int_equal(2, store_last_sequence(txn));

    /* An aborted child vanishes, and the parent continues where it was. */
    assert_ok(store_begin_nested(txn, &child));
    append_text(child, "dropped child", 3);
    assert_ok(store_stream_add(child, "p", "dropped", 3, &version));
    assert_ok(store_put(child, STORE_DB_PARTNER, "k", 1, "v", 1));
    store_abort(child);
    assert_int_equal(2, store_last_sequence(txn));
    append_text(txn, "after abort", 3);
    assert_ok(store_commit(txn));

    assert_ok(store_begin(f->store, false, &txn));
    assert_int_equal(3, store_last_sequence(txn));
    assert_record(txn, 2, "kept child");
    assert_record(txn, 3, "after abort");
    assert_ok(store_stream_version(txn, "p", "kept", &version));
    assert_int_equal(1, version);
    assert_ok(store_stream_version(txn, "p", "dropped", &version));
    assert_int_equal(0, version);
    struct store_val value;
    assert_err(LEDGER_ERR_NOT_FOUND, store_get(txn, STORE_DB_PARTNER, "k", 1, &value));
    store_abort(txn);

    /* A committed child of an aborted parent leaves nothing either. */
    assert_ok(store_begin(f->store, true, &txn));
    assert_ok(store_begin_nested(txn, &child));
    append_text(child, "lost", 4);
    assert_ok(store_commit(child));
    store_abort(txn);
    assert_int_equal(3, last_sequence(f->store));
}

static void test_store_abort_leaves_nothing(void **state)
{
    struct fixture *f = *state;
    struct store_txn *txn;
    uint64_t version;
    uint8_t hash[STORE_HASH_BYTES] = {0};
    assert_ok(store_begin(f->store, true, &txn));
    append_text(txn, "gone", 1);
    assert_ok(store_stream_add(txn, "p", "c", 1, &version));
    assert_ok(store_command_put(txn, "alice", "cmd", hash, NULL, 0));
    assert_ok(store_put(txn, STORE_DB_MERKLE, "node", 4, "x", 1));
    store_abort(txn);

    assert_ok(store_begin(f->store, false, &txn));
    assert_int_equal(0, store_last_sequence(txn));
    for (unsigned db = 0; db < STORE_DB_COUNT; db++) {
        uint64_t count = 99;
        assert_ok(store_count(txn, (enum store_db)db, &count));
        /* Only meta holds something: the format entry. */
        assert_int_equal(db == STORE_DB_META ? 1 : 0, count);
    }
    store_abort(txn);
}

struct reader_check {
    struct store *store;
    uint64_t seen;
    enum ledger_err err;
};

static void *read_last_sequence(void *argument)
{
    struct reader_check *check = argument;
    struct store_txn *txn;
    check->err = store_begin(check->store, false, &txn);
    if (check->err == LEDGER_ERR_OK) {
        check->seen = store_last_sequence(txn);
        store_abort(txn);
    }
    return NULL;
}

static void test_store_readers_beside_writer(void **state)
{
    struct fixture *f = *state;
    struct store_txn *writer, *reader_a, *reader_b;
    assert_ok(store_begin(f->store, true, &writer));
    append_text(writer, "committed", 1);
    assert_ok(store_commit(writer));

    assert_ok(store_begin(f->store, true, &writer));
    append_text(writer, "pending", 2);
    /* Two read transactions on the writer's own thread (MDB_NOTLS), and one
     * on another thread, all beside the open writer: none sees its append. */
    assert_ok(store_begin(f->store, false, &reader_a));
    assert_ok(store_begin(f->store, false, &reader_b));
    assert_int_equal(1, store_last_sequence(reader_a));
    assert_int_equal(1, store_last_sequence(reader_b));
    struct reader_check check = {.store = f->store, .seen = 0, .err = LEDGER_ERR_INTERNAL};
    pthread_t thread;
    assert_int_equal(0, pthread_create(&thread, NULL, read_last_sequence, &check));
    assert_int_equal(0, pthread_join(thread, NULL));
    assert_ok(check.err);
    assert_int_equal(1, check.seen);
    assert_ok(store_commit(writer));
    /* A snapshot stays a snapshot. */
    assert_int_equal(1, store_last_sequence(reader_a));
    store_abort(reader_a);
    assert_ok(store_commit(reader_b));
    assert_int_equal(2, last_sequence(f->store));
}

static void test_store_reader_slots_exhausted(void **state)
{
    struct fixture *f = *state;
    struct store_options options = fixture_options(f);
    options.readers_max = 2;
    open_fresh(f, "two-readers", &options);
    struct store_txn *a, *b, *c = NULL;
    struct store_info info;
    assert_ok(store_begin(f->store, false, &a));
    assert_ok(store_begin(f->store, false, &b));
    assert_err(LEDGER_ERR_STORAGE_ERROR, store_begin(f->store, false, &c));
    assert_null(c);
    assert_non_null(
        strstr(store_last_error(f->store), "every reader slot of the lock file is held"));
    /* store_info needs a reader slot too. */
    assert_err(LEDGER_ERR_STORAGE_ERROR, store_info(f->store, &info));
    store_abort(b);
    assert_ok(store_info(f->store, &info));
    assert_int_equal(2, info.readers_max);
    assert_int_equal(1, info.readers_used);
    store_abort(a);
    /* Slots are freed when read transactions end (MDB_NOTLS). */
    assert_ok(store_info(f->store, &info));
    assert_int_equal(0, info.readers_used);
    assert_ok(store_begin(f->store, false, &a));
    assert_ok(store_begin(f->store, false, &b));
    store_abort(a);
    store_abort(b);
}

/* Holds every reader slot of dir's environment (2) from a second process
 * until told to let go: writes a byte to `held_fd` once it holds them, reads
 * one from `release_fd` before it lets go. */
static void hold_readers_in_child(const char *dir, int held_fd, int release_fd)
{
    struct store_options options = {.dir = dir, .map_bytes = 1 * MIB, .readers_max = 2};
    struct store *store;
    if (store_open(&options, &store) != LEDGER_ERR_OK)
        _exit(2);
    struct store_txn *a, *b;
    if (store_begin(store, false, &a) != LEDGER_ERR_OK ||
        store_begin(store, false, &b) != LEDGER_ERR_OK)
        _exit(3);
    char byte = 'h';
    if (write(held_fd, &byte, 1) != 1 || read(release_fd, &byte, 1) != 1)
        _exit(4);
    store_abort(a);
    store_abort(b);
    store_close(store);
    _exit(0);
}

/* A read-only open (the verifier, an offline backup) while another process
 * holds every reader slot is STORAGE_ERROR naming the limit, and changes
 * nothing: once the slots are free, the same open succeeds. A writer's open
 * needs no reader slot. */
static void test_store_read_only_open_with_every_reader_slot_taken(void **state)
{
    struct fixture *f = *state;
    struct store_options options = fixture_options(f);
    options.readers_max = 2;
    open_fresh(f, "slots-taken", &options);
    struct store_txn *txn;
    assert_ok(store_begin(f->store, true, &txn));
    append_text(txn, "there", 1);
    assert_ok(store_commit(txn));
    store_close(f->store);
    f->store = NULL;

    int held[2], release[2];
    assert_int_equal(0, pipe(held));
    assert_int_equal(0, pipe(release));
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(held[0]);
        close(release[1]);
        hold_readers_in_child(f->dir, held[1], release[0]);
    }
    close(held[1]);
    close(release[0]);
    char byte;
    assert_int_equal(1, read(held[0], &byte, 1));
    options.read_only = true;
    struct store *reader = NULL;
    assert_err(LEDGER_ERR_STORAGE_ERROR, store_open(&options, &reader));
    assert_null(reader);
    assert_string_equal(store_last_error(NULL),
                        "mdb_txn_begin: MDB_READERS_FULL: Environment maxreaders limit reached: "
                        "every reader slot of the lock file is held by an open read transaction "
                        "(queries, backups, ledger-verify, of any process); retry when some have "
                        "ended");
    options.read_only = false;
    assert_ok(store_open(&options, &f->store));
    store_close(f->store);
    f->store = NULL;
    assert_int_equal(1, write(release[1], "r", 1));
    int status = 0;
    assert_int_equal(pid, waitpid(pid, &status, 0));
    assert_true(WIFEXITED(status));
    assert_int_equal(0, WEXITSTATUS(status));
    close(held[0]);
    close(release[1]);
    options.read_only = true;
    assert_ok(store_open(&options, &f->store));
    assert_ok(store_begin(f->store, false, &txn));
    assert_record(txn, 1, "there");
    store_abort(txn);
}

/* --- map growth ------------------------------------------------------------------------------- */

#define GROWTH_RECORD_BYTES 4000

/* Reopens the fixture as a fresh store `name` with a 1 MiB map that may grow
 * to 8 MiB, for the growth and map-full cases. */
static void open_small_map(struct fixture *f, const char *name)
{
    struct store_options options = fixture_options(f);
    options.map_bytes = 1 * MIB;
    options.map_bytes_max = 8 * MIB;
    open_fresh(f, name, &options);
}

/* A put that does not fit the map is refused with STORAGE_FULL at once, not
 * only when the transaction commits, which says the same. */
static void test_store_put_map_full(void **state)
{
    struct fixture *f = *state;
    open_small_map(f, "small-put");
    static uint8_t value[GROWTH_RECORD_BYTES];
    memset(value, 0x5a, sizeof value);
    struct store_txn *txn;
    enum ledger_err err = LEDGER_ERR_OK;
    uint32_t put = 0;
    assert_ok(store_begin(f->store, true, &txn));
    for (; put < 10000 && err == LEDGER_ERR_OK; put++) {
        err = store_put(txn, STORE_DB_MERKLE, &put, sizeof put, value, sizeof value);
    }
    assert_err(LEDGER_ERR_STORAGE_FULL, err);
    assert_true(put > 16);
    assert_err(LEDGER_ERR_STORAGE_FULL, store_commit(txn));
}

static void test_store_map_growth(void **state)
{
    struct fixture *f = *state;
    struct store_options options = fixture_options(f);
    options.map_bytes = 1 * MIB;
    options.map_bytes_max = 8 * MIB;
    open_fresh(f, "small", &options);
    static uint8_t record[GROWTH_RECORD_BYTES];
    memset(record, 0x5a, sizeof record);

    /* Fill the 1 MiB map inside one transaction until it is full. */
    struct store_txn *txn;
    uint64_t sequence = 0, appended = 0;
    uint8_t leaf[STORE_HASH_BYTES];
    enum ledger_err err = LEDGER_ERR_OK;
    assert_ok(store_begin(f->store, true, &txn));
    for (int i = 0; i < 10000 && err == LEDGER_ERR_OK; i++) {
        err = store_append(txn, record, sizeof record, &sequence, leaf);
        if (err == LEDGER_ERR_OK)
            appended++;
    }
    assert_err(LEDGER_ERR_STORAGE_FULL, err);
    assert_true(appended > 16);
    /* The spoiled transaction does not commit, and says why. */
    assert_err(LEDGER_ERR_STORAGE_FULL, store_commit(txn));
    assert_int_equal(0, last_sequence(f->store));

    struct store_info info;
    assert_ok(store_info(f->store, &info));
    assert_int_equal(1 * MIB, info.map_bytes);
    assert_ok(store_grow(f->store));
    assert_ok(store_info(f->store, &info));
    assert_int_equal(2 * MIB, info.map_bytes);
    assert_int_equal(8 * MIB, info.map_bytes_max);

    /* The same transaction again now fits. */
    assert_ok(store_begin(f->store, true, &txn));
    for (uint64_t i = 1; i <= appended; i++) {
        assert_ok(store_append(txn, record, sizeof record, &sequence, leaf));
        assert_int_equal(i, sequence);
    }
    assert_ok(store_commit(txn));
    assert_int_equal(appended, last_sequence(f->store));
    assert_ok(store_info(f->store, &info));
    assert_true(info.used_bytes > appended * GROWTH_RECORD_BYTES);
    assert_true(info.used_bytes <= info.map_bytes);

    /* The grown size survives a restart that asks for less. */
    reopen(f, &options);
    assert_ok(store_info(f->store, &info));
    assert_int_equal(2 * MIB, info.map_bytes);
    /* And a restart asking for more gets more. */
    options.map_bytes = 4 * MIB;
    reopen(f, &options);
    assert_ok(store_info(f->store, &info));
    assert_int_equal(4 * MIB, info.map_bytes);
    assert_int_equal(appended, last_sequence(f->store));
}

static void test_store_growth_stops_at_max(void **state)
{
    struct fixture *f = *state;
    open_small_map(f, "small");
    static uint8_t record[GROWTH_RECORD_BYTES];
    memset(record, 0xa5, sizeof record);

    bool reached_max = false;
    unsigned grown = 0;
    uint64_t committed = 0;
    /* Each round tries 256 KiB; 8 MiB holds fewer than 64 rounds. */
    for (int round = 0; round < 64 && !reached_max; round++) {
        uint64_t before = last_sequence(f->store);
        struct store_txn *txn;
        assert_ok(store_begin(f->store, true, &txn));
        enum ledger_err err = LEDGER_ERR_OK;
        for (int i = 0; i < 64 && err == LEDGER_ERR_OK; i++) {
            uint64_t sequence;
            uint8_t leaf[STORE_HASH_BYTES];
            err = store_append(txn, record, sizeof record, &sequence, leaf);
        }
        /* Alternate the two ways of ending a failed transaction. */
        if (err == LEDGER_ERR_OK)
            err = store_commit(txn);
        else if (round % 2 == 0)
            store_abort(txn);
        else
            assert_err(LEDGER_ERR_STORAGE_FULL, store_commit(txn));
        if (err == LEDGER_ERR_OK) {
            committed += 64;
            continue;
        }
        assert_err(LEDGER_ERR_STORAGE_FULL, err);
        /* Nothing half-written. */
        assert_int_equal(before, last_sequence(f->store));
        enum ledger_err grow = store_grow(f->store);
        if (grow == LEDGER_ERR_STORAGE_FULL) {
            reached_max = true;
            break;
        }
        assert_ok(grow);
        grown++;
    }
    assert_true(reached_max);
    assert_int_equal(3, grown); /* 1 -> 2 -> 4 -> 8 MiB */
    assert_int_equal(committed, last_sequence(f->store));
    assert_err(LEDGER_ERR_STORAGE_FULL, store_grow(f->store));
    struct store_info info;
    assert_ok(store_info(f->store, &info));
    assert_int_equal(8 * MIB, info.map_bytes);

    /* Everything committed is intact, leaves included. */
    struct store_txn *txn;
    uint8_t expected[STORE_HASH_BYTES], leaf[STORE_HASH_BYTES];
    crypto_sha256_prefixed(0x00, record, sizeof record, expected);
    assert_ok(store_begin(f->store, false, &txn));
    for (uint64_t sequence = 1; sequence <= committed; sequence++) {
        struct store_val value;
        assert_ok(store_record(txn, sequence, &value));
        assert_int_equal(GROWTH_RECORD_BYTES, value.size);
        assert_ok(store_leaf(txn, sequence, leaf));
        assert_memory_equal(expected, leaf, sizeof leaf);
    }
    store_abort(txn);
}

static void test_store_growth_cap_not_a_power_of_two(void **state)
{
    struct fixture *f = *state;
    struct store_options options = fixture_options(f);
    options.map_bytes = 1 * MIB;
    options.map_bytes_max = 3 * MIB;
    open_fresh(f, "small", &options);
    struct store_info info;
    assert_ok(store_grow(f->store));
    assert_ok(store_grow(f->store));
    assert_ok(store_info(f->store, &info));
    assert_int_equal(3 * MIB, info.map_bytes);
    assert_err(LEDGER_ERR_STORAGE_FULL, store_grow(f->store));
}

static void sleep_ms(unsigned ms)
{
    struct timespec pause = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&pause, NULL);
}

/* Set once store_grow waits for open transactions: it closes the gate
 * (holds new transactions back) before it waits, and its wait is the only
 * pthread_cond_timedwait of the store; this target links with
 * --wrap=pthread_cond_timedwait. */
static atomic_bool grow_waiting;

int __real_pthread_cond_timedwait(pthread_cond_t *condition, pthread_mutex_t *mutex,
                                  const struct timespec *deadline);
int __wrap_pthread_cond_timedwait(pthread_cond_t *condition, pthread_mutex_t *mutex,
                                  const struct timespec *deadline);

int __wrap_pthread_cond_timedwait(pthread_cond_t *condition, pthread_mutex_t *mutex,
                                  const struct timespec *deadline)
{
    atomic_store(&grow_waiting, true);
    return __real_pthread_cond_timedwait(condition, mutex, deadline);
}

struct growth_race {
    struct store *store;
    atomic_bool reader_holding;
    atomic_bool late_started;
    atomic_bool reader_released;
    enum ledger_err grow_err;
    enum ledger_err late_err;
    bool grow_saw_release;
    bool late_saw_release;
};

/* A query that holds its read transaction until the late reader is on its
 * way, and a while longer. */
static void *slow_reader(void *argument)
{
    struct growth_race *race = argument;
    struct store_txn *txn;
    if (store_begin(race->store, false, &txn) != LEDGER_ERR_OK)
        return NULL;
    atomic_store(&race->reader_holding, true);
    /* Bounded: the main thread fails the test when the growth never waits. */
    for (int i = 0; i < 60000 && !atomic_load(&race->late_started); i++)
        sleep_ms(1);
    sleep_ms(200);
    atomic_store(&race->reader_released, true);
    store_abort(txn);
    return NULL;
}

static void *grower(void *argument)
{
    struct growth_race *race = argument;
    race->grow_err = store_grow(race->store);
    race->grow_saw_release = atomic_load(&race->reader_released);
    return NULL;
}

/* A query that arrives while the map is being grown. */
static void *late_reader(void *argument)
{
    struct growth_race *race = argument;
    struct store_txn *txn;
    atomic_store(&race->late_started, true);
    race->late_err = store_begin(race->store, false, &txn);
    race->late_saw_release = atomic_load(&race->reader_released);
    if (race->late_err == LEDGER_ERR_OK)
        store_abort(txn);
    return NULL;
}

static void test_store_grow_waits_for_readers(void **state)
{
    struct fixture *f = *state;
    struct store_options options = fixture_options(f);
    options.map_bytes = 1 * MIB;
    options.grow_wait_ms = 60000;
    open_fresh(f, "readers", &options);
    struct growth_race race = {
        .store = f->store, .grow_err = LEDGER_ERR_INTERNAL, .late_err = LEDGER_ERR_INTERNAL};
    atomic_init(&race.reader_holding, false);
    atomic_init(&race.late_started, false);
    atomic_init(&race.reader_released, false);
    atomic_store(&grow_waiting, false);
    pthread_t reader, grow, late;
    assert_int_equal(0, pthread_create(&reader, NULL, slow_reader, &race));
    for (int i = 0; i < 30000 && !atomic_load(&race.reader_holding); i++)
        sleep_ms(1);
    assert_true(atomic_load(&race.reader_holding));
    assert_int_equal(0, pthread_create(&grow, NULL, grower, &race));
    /* Once the growth has closed the gate and waits for the slow reader,
     * send a query at it: it must wait until the slow reader has gone and
     * the map is grown. */
    for (int i = 0; i < 30000 && !atomic_load(&grow_waiting); i++)
        sleep_ms(1);
    assert_true(atomic_load(&grow_waiting));
    assert_int_equal(0, pthread_create(&late, NULL, late_reader, &race));
    assert_int_equal(0, pthread_join(grow, NULL));
    assert_int_equal(0, pthread_join(late, NULL));
    assert_int_equal(0, pthread_join(reader, NULL));
    assert_ok(race.grow_err);
    assert_ok(race.late_err);
    assert_true(race.grow_saw_release);
    assert_true(race.late_saw_release);
    struct store_info info;
    assert_ok(store_info(f->store, &info));
    assert_int_equal(2 * MIB, info.map_bytes);
}

static void test_store_grow_gives_up_on_open_transaction(void **state)
{
    struct fixture *f = *state;
    struct store_options options = fixture_options(f);
    options.map_bytes = 1 * MIB;
    options.grow_wait_ms = 50;
    open_fresh(f, "stuck", &options);
    struct store_txn *txn;
    assert_ok(store_begin(f->store, true, &txn));
    append_text(txn, "kept", 1);
    assert_ok(store_commit(txn));

    assert_ok(store_begin(f->store, false, &txn));
    assert_err(LEDGER_ERR_STORAGE_ERROR, store_grow(f->store));
    assert_true(strlen(store_last_error(f->store)) > 0);
    /* The transaction is unharmed, and the map unchanged. */
    assert_record(txn, 1, "kept");
    store_abort(txn);
    struct store_info info;
    assert_ok(store_info(f->store, &info));
    assert_int_equal(1 * MIB, info.map_bytes);
    /* Once it has ended, growth goes ahead. */
    assert_ok(store_grow(f->store));
    assert_ok(store_info(f->store, &info));
    assert_int_equal(2 * MIB, info.map_bytes);
}

/* Writes about 3 MiB into dir from a second process, growing its map. */
static void grow_in_child(const char *dir, int ready_fd)
{
    char byte;
    if (read(ready_fd, &byte, 1) != 1)
        _exit(2);
    struct store_options options = {.dir = dir, .map_bytes = 1 * MIB, .map_bytes_max = 64 * MIB};
    struct store *store;
    if (store_open(&options, &store) != LEDGER_ERR_OK)
        _exit(3);
    static uint8_t record[GROWTH_RECORD_BYTES];
    uint64_t written = 0;
    for (int attempt = 0; attempt < 16 && written < 768; attempt++) {
        struct store_txn *txn;
        if (store_begin(store, true, &txn) != LEDGER_ERR_OK)
            _exit(4);
        enum ledger_err err = LEDGER_ERR_OK;
        for (uint64_t i = written; i < 768 && err == LEDGER_ERR_OK; i++) {
            uint64_t sequence;
            uint8_t leaf[STORE_HASH_BYTES];
            err = store_append(txn, record, sizeof record, &sequence, leaf);
        }
        if (err == LEDGER_ERR_OK)
            err = store_commit(txn);
        else
            store_abort(txn);
        if (err == LEDGER_ERR_OK)
            written = 768;
        else if (err != LEDGER_ERR_STORAGE_FULL || store_grow(store) != LEDGER_ERR_OK)
            _exit(5);
    }
    store_close(store);
    _exit(written == 768 ? 0 : 6);
}

static void test_store_map_grown_by_another_process(void **state)
{
    struct fixture *f = *state;
    char dir[PATH_MAX];
    sibling(f, "shared", dir, sizeof dir);
    int ready[2];
    assert_int_equal(0, pipe(ready));
    /* Fork before this process opens the shared directory, so that the child
     * inherits no handle on it. */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(ready[1]);
        grow_in_child(dir, ready[0]);
    }
    close(ready[0]);
    struct store_options options = fixture_options(f);
    options.map_bytes = 1 * MIB;
    open_fresh(f, "shared", &options);
    struct store_txn *old_snapshot;
    assert_ok(store_begin(f->store, false, &old_snapshot));
    assert_int_equal(1, write(ready[1], "g", 1));
    close(ready[1]);
    int status = 0;
    assert_int_equal(pid, waitpid(pid, &status, 0));
    assert_true(WIFEXITED(status));
    assert_int_equal(0, WEXITSTATUS(status));

    /* The file outgrew this process's map. With a transaction open, the map
     * cannot be replaced under it. */
    struct store_txn *txn = NULL;
    assert_err(LEDGER_ERR_STORAGE_ERROR, store_begin(f->store, false, &txn));
    assert_null(txn);
    assert_int_equal(0, store_last_sequence(old_snapshot));
    store_abort(old_snapshot);
    /* Alone, the next transaction adopts the new size. */
    assert_ok(store_begin(f->store, false, &txn));
    assert_int_equal(768, store_last_sequence(txn));
    store_abort(txn);
    struct store_info info;
    assert_ok(store_info(f->store, &info));
    assert_int_equal(4 * MIB, info.map_bytes);
}

/* The process's address space now, in bytes (VmSize). */
static uint64_t address_space_bytes(void)
{
    FILE *status = fopen("/proc/self/status", "r");
    assert_non_null(status);
    char line[256];
    unsigned long long kib = 0;
    while (fgets(line, sizeof line, status) != NULL && kib == 0)
        if (sscanf(line, "VmSize: %llu kB", &kib) != 1)
            kib = 0;
    fclose(status);
    assert_true(kib > 0);
    return (uint64_t)kib * 1024;
}

/* Limits the address space to its size now plus `room` bytes, as ulimit -v
 * or systemd's LimitAS= would; returns the limit to put back. */
static struct rlimit limit_address_space(uint64_t room)
{
    struct rlimit before;
    assert_int_equal(0, getrlimit(RLIMIT_AS, &before));
    struct rlimit limited = {(rlim_t)(address_space_bytes() + room), before.rlim_max};
    assert_true(limited.rlim_cur <= limited.rlim_max);
    assert_int_equal(0, setrlimit(RLIMIT_AS, &limited));
    return before;
}

/* What a store without a map answers: every call refused before it reaches
 * LMDB (which would read through the map it no longer has and fault), the
 * store reported unusable (the daemon then stops and is restarted), and no
 * copy made. */
static void assert_unmapped(struct fixture *f, const char *copy_name)
{
    assert_true(store_unusable(f->store));
    static const char refusal[] =
        "the data file is no longer mapped (a remap failed): open the data directory again";
    struct store_txn *txn = NULL;
    assert_err(LEDGER_ERR_STORAGE_ERROR, store_begin(f->store, false, &txn));
    assert_null(txn);
    assert_string_equal(refusal, store_last_error(f->store));
    assert_err(LEDGER_ERR_STORAGE_ERROR, store_begin(f->store, true, &txn));
    assert_null(txn);
    struct store_info info;
    assert_err(LEDGER_ERR_STORAGE_ERROR, store_info(f->store, &info));
    assert_string_equal(refusal, store_last_error(f->store));
    assert_err(LEDGER_ERR_STORAGE_ERROR, store_grow(f->store));
    char copy[PATH_MAX], copy_file[PATH_MAX];
    sibling(f, copy_name, copy, sizeof copy);
    assert_int_equal(0, mkdir(copy, 0700));
    assert_err(LEDGER_ERR_STORAGE_ERROR, store_copy(f->store, copy));
    join(copy_file, sizeof copy_file, copy, "data.mdb");
    struct stat file;
    assert_int_equal(-1, stat(copy_file, &file));
}

/* A growth that the system refuses to map (an address-space limit) fails
 * after LMDB has already unmapped the file: STORAGE_ERROR, with a message
 * that names the cause and what to do, and then the store refuses
 * everything until it is reopened, which finds every record committed
 * before. */
static void test_store_failed_growth_leaves_store_unmapped(void **state)
{
    struct fixture *f = *state;
    struct store_options options = fixture_options(f);
    options.map_bytes_max = UINT64_C(1) << 50;
    open_fresh(f, "unmapped", &options);
    struct store_txn *txn;
    assert_ok(store_begin(f->store, true, &txn));
    append_text(txn, "kept", 1);
    assert_ok(store_commit(txn));

    /* Room for a few doublings of the 8 MiB map, not for 64 of them. */
    struct rlimit before = limit_address_space(256 * MIB);
    enum ledger_err err = LEDGER_ERR_OK;
    int growths = 0;
    for (; growths < 64 && err == LEDGER_ERR_OK; growths++)
        err = store_grow(f->store);
    assert_int_equal(0, setrlimit(RLIMIT_AS, &before));
    assert_err(LEDGER_ERR_STORAGE_ERROR, err);
    assert_true(growths > 1 && growths < 64);
    const char *message = store_last_error(f->store);
    assert_non_null(strstr(message, "growing the map: remapping the data file failed (Cannot "
                                    "allocate memory)"));
    assert_non_null(strstr(message, "until the data directory is opened again; lower "
                                    "map_bytes_max or raise the process's address-space limit"));
    assert_unmapped(f, "copy-unmapped");

    reopen(f, &options);
    assert_false(store_unusable(f->store));
    assert_ok(store_begin(f->store, false, &txn));
    assert_int_equal(1, store_last_sequence(txn));
    assert_record(txn, 1, "kept");
    store_abort(txn);
}

/* The same when the larger size is another process's: the next transaction
 * adopts it, and the remap fails. */
static void test_store_failed_adoption_leaves_store_unmapped(void **state)
{
    struct fixture *f = *state;
    char dir[PATH_MAX];
    sibling(f, "shared-limited", dir, sizeof dir);
    int ready[2];
    assert_int_equal(0, pipe(ready));
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(ready[1]);
        grow_in_child(dir, ready[0]);
    }
    close(ready[0]);
    struct store_options options = fixture_options(f);
    options.map_bytes = 1 * MIB;
    open_fresh(f, "shared-limited", &options);
    assert_int_equal(1, write(ready[1], "g", 1));
    close(ready[1]);
    int status = 0;
    assert_int_equal(pid, waitpid(pid, &status, 0));
    assert_true(WIFEXITED(status));
    assert_int_equal(0, WEXITSTATUS(status));

    /* The child's map is 4 MiB: 3 MiB more than this process may map. */
    struct rlimit before = limit_address_space(1 * MIB);
    struct store_txn *txn = NULL;
    enum ledger_err err = store_begin(f->store, false, &txn);
    assert_int_equal(0, setrlimit(RLIMIT_AS, &before));
    assert_err(LEDGER_ERR_STORAGE_ERROR, err);
    assert_null(txn);
    assert_non_null(strstr(store_last_error(f->store),
                           "adopting the map size another process set: remapping the data file "
                           "failed (Cannot allocate memory)"));
    assert_unmapped(f, "copy-unadopted");

    reopen(f, &options);
    assert_ok(store_begin(f->store, false, &txn));
    assert_int_equal(768, store_last_sequence(txn));
    store_abort(txn);
}

/* A data file whose recorded map size (grown in an earlier run) does not fit
 * the process's address-space limit is refused at open, saying so and what
 * to do, and nothing is changed: without the limit it opens whole. */
static void test_store_open_recorded_map_too_large_for_the_address_space(void **state)
{
    struct fixture *f = *state;
    struct store_options options = fixture_options(f);
    options.map_bytes_max = 1024 * MIB;
    open_fresh(f, "recorded-large", &options);
    for (int i = 0; i < 5; i++) /* 8 MiB doubled to 256 MiB */
        assert_ok(store_grow(f->store));
    struct store_txn *txn;
    assert_ok(store_begin(f->store, true, &txn));
    append_text(txn, "recorded", 1);
    assert_ok(store_commit(txn));
    store_close(f->store);
    f->store = NULL;

    struct rlimit before = limit_address_space(64 * MIB);
    enum ledger_err err = store_open(&options, &f->store);
    assert_int_equal(0, setrlimit(RLIMIT_AS, &before));
    assert_err(LEDGER_ERR_NO_MEMORY, err);
    assert_null(f->store);
    assert_string_equal("mapping the data file at the map size it records, larger than the "
                        "8388608 bytes asked, failed (Cannot allocate memory): raise the "
                        "process's address-space limit (ulimit -v, LimitAS=)",
                        store_last_error(NULL));
    assert_ok(store_open(&options, &f->store));
    struct store_info info;
    assert_ok(store_info(f->store, &info));
    assert_int_equal(256 * MIB, info.map_bytes);
    assert_ok(store_begin(f->store, false, &txn));
    assert_record(txn, 1, "recorded");
    store_abort(txn);
}

/* --- generic key-value calls ------------------------------------------------------------------ */

static void test_store_drop_derived_empties_it(void **state)
{
    struct fixture *f = *state;
    struct store_txn *txn;
    char key[16];
    uint64_t count;
    assert_ok(store_begin(f->store, true, &txn));
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof key, "key-%03d", i);
        assert_ok(store_put(txn, STORE_DB_RESERVATION, key, strlen(key), "row", 3));
    }
    assert_ok(store_put(txn, STORE_DB_ORDER, "o1", 2, "order", 5));
    append_text(txn, "event", 1);
    assert_ok(store_commit(txn));

    assert_ok(store_begin(f->store, true, &txn));
    assert_ok(store_count(txn, STORE_DB_RESERVATION, &count));
    assert_int_equal(100, count);
    assert_ok(store_drop(txn, STORE_DB_RESERVATION));
    assert_ok(store_count(txn, STORE_DB_RESERVATION, &count));
    assert_int_equal(0, count);
    assert_ok(store_commit(txn));

    assert_ok(store_begin(f->store, true, &txn));
    assert_ok(store_count(txn, STORE_DB_RESERVATION, &count));
    assert_int_equal(0, count);
    /* Its neighbours are untouched, and the dropped one is usable again. */
    assert_ok(store_count(txn, STORE_DB_ORDER, &count));
    assert_int_equal(1, count);
    assert_int_equal(1, store_last_sequence(txn));
    assert_ok(store_put(txn, STORE_DB_RESERVATION, "again", 5, "row", 3));
    assert_ok(store_count(txn, STORE_DB_RESERVATION, &count));
    assert_int_equal(1, count);
    /* Deleting: present, then absent. */
    assert_ok(store_del(txn, STORE_DB_ORDER, "o1", 2));
    assert_err(LEDGER_ERR_NOT_FOUND, store_del(txn, STORE_DB_ORDER, "o1", 2));
    assert_err(LEDGER_ERR_INVALID_ARGUMENT, store_del(txn, STORE_DB_ORDER, "", 0));
    assert_ok(store_commit(txn));
}

static void test_store_key_sizes(void **state)
{
    struct fixture *f = *state;
    static uint8_t key[STORE_KEY_BYTES_MAX + 1];
    memset(key, 'k', sizeof key);
    struct store_txn *txn;
    struct store_val value = {NULL, 7};
    assert_ok(store_begin(f->store, true, &txn));
    assert_err(LEDGER_ERR_INVALID_ARGUMENT, store_put(txn, STORE_DB_MERKLE, key, 0, "v", 1));
    assert_err(LEDGER_ERR_INVALID_ARGUMENT,
               store_put(txn, STORE_DB_MERKLE, key, STORE_KEY_BYTES_MAX + 1, "v", 1));
    assert_err(LEDGER_ERR_INVALID_ARGUMENT, store_put(txn, STORE_DB_MERKLE, NULL, 4, "v", 1));
    assert_ok(store_put(txn, STORE_DB_MERKLE, key, STORE_KEY_BYTES_MAX, "v", 1));
    assert_ok(store_put(txn, STORE_DB_MERKLE, "empty", 5, NULL, 0));
    assert_err(LEDGER_ERR_INVALID_ARGUMENT,
               store_get(txn, STORE_DB_MERKLE, key, STORE_KEY_BYTES_MAX + 1, &value));
    assert_int_equal(7, value.size);
    assert_ok(store_get(txn, STORE_DB_MERKLE, key, STORE_KEY_BYTES_MAX, &value));
    assert_int_equal(1, value.size);
    assert_ok(store_get(txn, STORE_DB_MERKLE, "empty", 5, &value));
    assert_int_equal(0, value.size);
    /* Overwrite. */
    assert_ok(store_put(txn, STORE_DB_MERKLE, "empty", 5, "full", 4));
    assert_ok(store_get(txn, STORE_DB_MERKLE, "empty", 5, &value));
    assert_int_equal(4, value.size);
    /* None of the refusals spoiled the transaction. */
    assert_ok(store_commit(txn));
}

static void test_store_cursor_seek_next_prev_last(void **state)
{
    struct fixture *f = *state;
    struct store_txn *txn;
    struct store_cursor *cursor;
    struct store_val key, value;
    assert_ok(store_begin(f->store, true, &txn));

    /* An empty database. */
    assert_ok(store_cursor_open(txn, STORE_DB_BILLING, &cursor));
    assert_err(LEDGER_ERR_NOT_FOUND, store_cursor_seek(cursor, NULL, 0, &key, &value));
    assert_err(LEDGER_ERR_NOT_FOUND, store_cursor_last(cursor, &key, &value));
    assert_err(LEDGER_ERR_NOT_FOUND, store_cursor_next(cursor, &key, &value));
    store_cursor_close(cursor);

    assert_ok(store_put(txn, STORE_DB_BILLING, "b", 1, "2", 1));
    assert_ok(store_put(txn, STORE_DB_BILLING, "d", 1, "4", 1));
    assert_ok(store_put(txn, STORE_DB_BILLING, "a", 1, "1", 1));
    assert_ok(store_commit(txn));

    assert_ok(store_begin(f->store, false, &txn));
    assert_ok(store_cursor_open(txn, STORE_DB_BILLING, &cursor));
    /* Unpositioned: prev is the last key. */
    assert_ok(store_cursor_prev(cursor, &key, &value));
    assert_memory_equal("d", key.data, 1);
    assert_ok(store_cursor_seek(cursor, NULL, 0, &key, &value));
    assert_memory_equal("a", key.data, 1);
    assert_memory_equal("1", value.data, 1);
    assert_ok(store_cursor_next(cursor, &key, NULL));
    assert_memory_equal("b", key.data, 1);
    assert_ok(store_cursor_next(cursor, NULL, &value));
    assert_memory_equal("4", value.data, 1);
    struct store_val untouched = {NULL, 99};
    assert_err(LEDGER_ERR_NOT_FOUND, store_cursor_next(cursor, &untouched, &untouched));
    assert_int_equal(99, untouched.size);
    assert_ok(store_cursor_last(cursor, &key, &value));
    assert_memory_equal("d", key.data, 1);
    assert_ok(store_cursor_prev(cursor, &key, &value));
    assert_memory_equal("b", key.data, 1);
    assert_ok(store_cursor_prev(cursor, &key, &value));
    assert_memory_equal("a", key.data, 1);
    assert_err(LEDGER_ERR_NOT_FOUND, store_cursor_prev(cursor, &key, &value));
    /* Seek: the first key at or after. */
    assert_ok(store_cursor_seek(cursor, "b", 1, &key, &value));
    assert_memory_equal("b", key.data, 1);
    assert_ok(store_cursor_seek(cursor, "c", 1, &key, &value));
    assert_memory_equal("d", key.data, 1);
    assert_ok(store_cursor_seek(cursor, "0", 1, &key, &value));
    assert_memory_equal("a", key.data, 1);
    assert_err(LEDGER_ERR_NOT_FOUND, store_cursor_seek(cursor, "e", 1, &key, &value));
    assert_err(LEDGER_ERR_INVALID_ARGUMENT, store_cursor_seek(cursor, "", 0, &key, &value));
    store_cursor_close(cursor);
    store_cursor_close(NULL);
    store_abort(txn);
}

static void test_store_cursor_over_the_log(void **state)
{
    struct fixture *f = *state;
    struct store_txn *txn;
    assert_ok(store_begin(f->store, true, &txn));
    for (uint64_t i = 1; i <= 300; i++)
        append_text(txn, "r", i);
    assert_ok(store_commit(txn));

    assert_ok(store_begin(f->store, false, &txn));
    struct store_cursor *cursor;
    struct store_val key, value;
    assert_ok(store_cursor_open(txn, STORE_DB_LOG, &cursor));
    assert_ok(store_cursor_last(cursor, &key, &value));
    assert_int_equal(8, key.size);
    assert_int_equal(300, store_key_to_u64(key.data));
    /* Big-endian keys sort numerically: 256 follows 255. */
    uint8_t seek[8];
    store_u64_to_key(255, seek);
    assert_ok(store_cursor_seek(cursor, seek, sizeof seek, &key, &value));
    assert_int_equal(255, store_key_to_u64(key.data));
    assert_ok(store_cursor_next(cursor, &key, &value));
    assert_int_equal(256, store_key_to_u64(key.data));
    uint64_t walked = 1;
    assert_ok(store_cursor_seek(cursor, NULL, 0, &key, &value));
    for (int i = 0; i < 1000 && store_cursor_next(cursor, &key, &value) == LEDGER_ERR_OK; i++)
        walked++;
    assert_int_equal(300, walked);
    store_cursor_close(cursor);
    store_abort(txn);
}

/* --- whole-environment operations ------------------------------------------------------------- */

static void test_store_copy_opens_with_same_records(void **state)
{
    struct fixture *f = *state;
    struct store_txn *txn;
    uint64_t version;
    char text[32];
    assert_ok(store_begin(f->store, true, &txn));
    for (uint64_t i = 1; i <= 50; i++) {
        snprintf(text, sizeof text, "copied %llu", (unsigned long long)i);
        append_text(txn, text, i);
        assert_ok(store_stream_add(txn, "p", "c", i, &version));
    }
    assert_ok(store_put(txn, STORE_DB_PARTNER, "p", 1, "P", 1));
    assert_ok(store_commit(txn));
    /* Garbage pages left by a dropped database are compacted away. */
    assert_ok(store_begin(f->store, true, &txn));
    assert_ok(store_drop(txn, STORE_DB_STREAM));
    for (uint64_t i = 1; i <= 50; i++)
        assert_ok(store_stream_add(txn, "p", "c", i, &version));
    assert_ok(store_commit(txn));

    char copy[PATH_MAX];
    sibling(f, "copy", copy, sizeof copy);
    assert_int_equal(0, mkdir(copy, 0700));
    /* A read transaction open beside the copy does not disturb it. */
    struct store_txn *reader;
    assert_ok(store_begin(f->store, false, &reader));
    assert_ok(store_copy(f->store, copy));
    store_abort(reader);

    char path[PATH_MAX];
    struct stat info;
    join(path, sizeof path, copy, "data.mdb");
    assert_int_equal(0, stat(path, &info));
    assert_int_equal(0600, info.st_mode & 0777);

    struct store *copied;
    struct store_options options = fixture_options(f);
    options.dir = copy;
    assert_ok(store_open(&options, &copied));
    assert_ok(store_begin(copied, false, &txn));
    assert_int_equal(50, store_last_sequence(txn));
    for (uint64_t i = 1; i <= 50; i++) {
        snprintf(text, sizeof text, "copied %llu", (unsigned long long)i);
        assert_record(txn, i, text);
        uint8_t leaf[STORE_HASH_BYTES], expected[STORE_HASH_BYTES];
        assert_ok(store_leaf(txn, i, leaf));
        crypto_sha256_prefixed(0x00, text, strlen(text), expected);
        assert_memory_equal(expected, leaf, sizeof leaf);
    }
    assert_ok(store_stream_version(txn, "p", "c", &version));
    assert_int_equal(50, version);
    struct store_val value;
    assert_ok(store_get(txn, STORE_DB_PARTNER, "p", 1, &value));
    store_abort(txn);
    store_close(copied);

    /* The target must exist, be a directory and be empty. */
    assert_err(LEDGER_ERR_INVALID_ARGUMENT, store_copy(f->store, copy));
    char missing[PATH_MAX];
    sibling(f, "missing", missing, sizeof missing);
    assert_err(LEDGER_ERR_INVALID_ARGUMENT, store_copy(f->store, missing));
    assert_err(LEDGER_ERR_INVALID_ARGUMENT, store_copy(f->store, path));

    /* A symbolic link is refused even when it points at an empty directory,
     * and a refused copy leaves the directory it names as it was: the copy
     * already there keeps its data file. */
    char empty[PATH_MAX], link[PATH_MAX], kept[PATH_MAX + 16];
    sibling(f, "empty", empty, sizeof empty);
    sibling(f, "link", link, sizeof link);
    assert_int_equal(0, mkdir(empty, 0700));
    assert_int_equal(0, symlink(empty, link));
    assert_err(LEDGER_ERR_INVALID_ARGUMENT, store_copy(f->store, link));
    assert_non_null(strstr(store_last_error(NULL), "a symbolic link, not a directory"));
    snprintf(kept, sizeof kept, "%s/data.mdb", empty);
    struct stat kept_info;
    assert_int_not_equal(0, stat(kept, &kept_info));
    assert_int_equal(0, unlink(link));
    assert_int_equal(0, symlink(copy, link));
    assert_err(LEDGER_ERR_INVALID_ARGUMENT, store_copy(f->store, link));
    snprintf(kept, sizeof kept, "%s/data.mdb", copy);
    assert_int_equal(0, stat(kept, &kept_info));
    assert_true(kept_info.st_size > 0);
    assert_int_equal(0, unlink(link));
    assert_int_equal(0, rmdir(empty));

    /* Through a descriptor: a directory that holds a data file already is
     * refused before anything is written, and the file stays. */
    int dirfd = open(copy, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(dirfd >= 0);
    assert_err(LEDGER_ERR_INVALID_ARGUMENT, store_copy_at(f->store, dirfd));
    close(dirfd);
    assert_int_equal(0, stat(kept, &kept_info));
    assert_true(kept_info.st_size > 0);
}

/* A data file shorter than its meta page says (a copy cut short, as a
 * crash during a backup leaves one) is refused as CORRUPT when opened, read
 * only or not, before any page is read: LMDB maps the file, and a page past
 * its end would kill the process with SIGBUS. The file is left as it was.
 * A live environment whose free pages make it end early still opens. */
static void test_store_open_refuses_truncated_copy(void **state)
{
    struct fixture *f = *state;
    char text[1200];
    memset(text, 'r', sizeof text - 1);
    text[sizeof text - 1] = '\0';
    struct store_txn *txn;
    uint64_t version = 0;
    assert_ok(store_begin(f->store, true, &txn));
    for (uint64_t i = 1; i <= 200; i++) {
        append_text(txn, text, i);
        assert_ok(store_stream_add(txn, "p", "c", i, &version));
    }
    assert_ok(store_commit(txn));
    /* Free pages in the live file: it still reopens. */
    assert_ok(store_begin(f->store, true, &txn));
    assert_ok(store_drop(txn, STORE_DB_STREAM));
    assert_ok(store_commit(txn));
    store_close(f->store);
    f->store = NULL;
    struct store_options options = fixture_options(f);
    assert_ok(store_open(&options, &f->store));

    char copy[PATH_MAX], path[PATH_MAX];
    sibling(f, "cut", copy, sizeof copy);
    assert_int_equal(0, mkdir(copy, 0700));
    assert_ok(store_copy(f->store, copy));
    join(path, sizeof path, copy, "data.mdb");
    struct stat info;
    assert_int_equal(0, stat(path, &info));
    off_t whole = info.st_size;
    long page = sysconf(_SC_PAGESIZE);
    assert_true(whole > 8 * page);
    /* One byte short, half, the two meta pages and a little, and nothing
     * (LMDB would write a new environment into an empty file). */
    const off_t cuts[] = {whole - 1, whole / 2, 2 * page + 100, 0};
    options.dir = copy;
    for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
        assert_int_equal(0, truncate(path, cuts[c]));
        for (int read_only = 1; read_only >= 0; read_only--) {
            options.read_only = read_only != 0;
            struct store *opened = NULL;
            assert_err(LEDGER_ERR_CORRUPT, store_open(&options, &opened));
            assert_null(opened);
            const char *why = store_last_error(NULL);
            const char *said = cuts[c] > 0 ? "the data file is truncated"
                                           : "data.mdb is empty (0 bytes): it holds no ledger";
            if (strstr(why, said) == NULL) {
                fail_msg("cut at %lld: \"%s\"", (long long)cuts[c], why);
            }
            char needs[64];
            snprintf(needs, sizeof needs, "needs at least %lld", (long long)whole);
            assert_true(cuts[c] == 0 || strstr(why, needs) != NULL);
            assert_int_equal(0, stat(path, &info));
            assert_int_equal(cuts[c], info.st_size);
        }
    }
}

static void test_store_info(void **state)
{
    struct fixture *f = *state;
    struct store_info info;
    assert_ok(store_info(f->store, &info));
    assert_int_equal(8 * MIB, info.map_bytes);
    assert_int_equal(64 * MIB, info.map_bytes_max);
    assert_int_equal(0, info.last_sequence);
    assert_int_equal(LEDGER_READERS_MAX, info.readers_max);
    assert_int_equal(0, info.readers_used);
    uint64_t used_empty = info.used_bytes;
    assert_true(used_empty > 0);

    struct store_txn *txn;
    static uint8_t record[100000];
    uint64_t sequence;
    uint8_t leaf[STORE_HASH_BYTES];
    assert_ok(store_begin(f->store, true, &txn));
    assert_ok(store_append(txn, record, sizeof record, &sequence, leaf));
    assert_ok(store_commit(txn));
    assert_ok(store_begin(f->store, false, &txn));
    assert_ok(store_info(f->store, &info));
    store_abort(txn);
    assert_int_equal(1, info.last_sequence);
    assert_int_equal(1, info.readers_used);
    assert_true(info.used_bytes >= used_empty + sizeof record);
}

/* Keys read as text for a verifier: ids as text (other bytes escaped),
 * integers in decimal, a key no writer makes as its bytes; the stream's
 * entries name their sequence, the command index's none (the engine reads
 * it from the result). */
static void test_store_entry_origin(void **state)
{
    (void)state;
    struct store_origin o;
    const uint8_t stream[] = {'p', 0, 'c', '\\', 0, 0, 0, 0, 0, 0, 0, 0, 4};
    uint8_t sequence[8];
    store_u64_to_key(99, sequence);
    struct store_val key = {stream, sizeof stream}, value = {sequence, sizeof sequence};
    store_entry_origin(STORE_DB_STREAM, key, value, &o);
    assert_string_equal(o.key_text, "p/c\\x5c/4");
    assert_int_equal(o.sequence, 99);
    key.size--; /* a version of seven bytes */
    store_entry_origin(STORE_DB_STREAM, key, value, &o);
    assert_string_equal(o.key_text, "p\\x00c\\x5c\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00");
    assert_int_equal(o.sequence, 0);
    const uint8_t command[] = {'o', 'p', 0, 'c', 'm', 'd', '\n'};
    key = (struct store_val){command, sizeof command};
    store_entry_origin(STORE_DB_COMMAND, key, value, &o);
    assert_string_equal(o.key_text, "op/cmd\\x0a");
    assert_int_equal(o.sequence, 0);

    /* A text longer than the room is cut short, and says so. */
    uint8_t long_id[STORE_KEY_BYTES_MAX];
    memset(long_id, 0x01, sizeof long_id);
    struct store_key_reader reader;
    store_key_reader_init(&reader, (struct store_val){long_id, sizeof long_id}, &o);
    store_key_read_id(&reader);
    assert_true(store_key_read_end(&reader, (struct store_val){long_id, sizeof long_id}));
    assert_int_equal(strlen(o.key_text), STORE_ORIGIN_TEXT_BYTES - 1);
    assert_string_equal(o.key_text + STORE_ORIGIN_TEXT_BYTES - 4, "...");
    /* An empty id, and a separator that is not there, make a key bad. */
    const uint8_t empty_id[] = {0, 'c'};
    store_key_reader_init(&reader, (struct store_val){empty_id, sizeof empty_id}, &o);
    store_key_read_id(&reader);
    store_key_read_id(&reader);
    assert_false(store_key_read_end(&reader, (struct store_val){empty_id, sizeof empty_id}));
    assert_string_equal(o.key_text, "\\x00c");
    store_key_reader_init(&reader, (struct store_val){command, sizeof command}, &o);
    store_key_read_byte(&reader, 'P');
    assert_true(reader.bad);
    /* A separator that is there is passed over, and adds no text. */
    store_key_reader_init(&reader, (struct store_val){command, sizeof command}, &o);
    store_key_read_byte(&reader, 'o');
    assert_false(reader.bad);
    store_key_read_id(&reader);
    store_key_read_id(&reader);
    assert_true(store_key_read_end(&reader, (struct store_val){command, sizeof command}));
    assert_string_equal(o.key_text, "p/cmd\\x0a");
    /* A number that does not fit whole after a long id is cut within it. */
    uint8_t id_and_number[STORE_ORIGIN_TEXT_BYTES - 12 + 1 + 8];
    size_t id_length = STORE_ORIGIN_TEXT_BYTES - 12;
    memset(id_and_number, 'a', id_length);
    id_and_number[id_length] = 0;
    store_u64_to_key(UINT64_MAX, id_and_number + id_length + 1);
    struct store_val both = {id_and_number, sizeof id_and_number};
    store_key_reader_init(&reader, both, &o);
    store_key_read_id(&reader);
    assert_int_equal(store_key_read_uint(&reader, 8), UINT64_MAX);
    assert_true(store_key_read_end(&reader, both));
    char full[STORE_ORIGIN_TEXT_BYTES + 32];
    snprintf(full, sizeof full, "%.*s/18446744073709551615", (int)id_length, (char *)id_and_number);
    assert_int_equal(strlen(o.key_text), STORE_ORIGIN_TEXT_BYTES - 1);
    assert_memory_equal(o.key_text, full, STORE_ORIGIN_TEXT_BYTES - 4);
    assert_string_equal(o.key_text + STORE_ORIGIN_TEXT_BYTES - 4, "...");
}

static void test_store_u64_keys(void **state)
{
    (void)state;
    static const uint64_t values[] = {0, 1, 255, 256, UINT64_C(0x0102030405060708), UINT64_MAX};
    uint8_t key[8], previous[8];
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        store_u64_to_key(values[i], key);
        assert_int_equal(values[i], store_key_to_u64(key));
        if (i > 0)
            assert_true(memcmp(previous, key, 8) < 0);
        memcpy(previous, key, 8);
    }
    store_u64_to_key(UINT64_C(0x0102030405060708), key);
    static const uint8_t expected[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    assert_memory_equal(expected, key, 8);
}

static void test_store_db_names(void **state)
{
    (void)state;
    assert_string_equal("log", store_db_name(STORE_DB_LOG));
    assert_string_equal("billing", store_db_name(STORE_DB_BILLING));
    assert_false(store_db_derived(STORE_DB_LOG));
    assert_false(store_db_derived(STORE_DB_LEAF));
    assert_false(store_db_derived(STORE_DB_META));
    assert_false(store_db_derived(STORE_DB_SECRET));
    for (unsigned db = STORE_DB_STREAM; db < STORE_DB_COUNT; db++)
        assert_true(store_db_derived((enum store_db)db));
    for (unsigned a = 0; a < STORE_DB_COUNT; a++)
        for (unsigned b = a + 1; b < STORE_DB_COUNT; b++)
            assert_string_not_equal(store_db_name((enum store_db)a),
                                    store_db_name((enum store_db)b));
}

/* --- opening: options, read-only, foreign and damaged environments ---------------------------- */

static void test_store_open_bad_options(void **state)
{
    struct fixture *f = *state;
    struct store *other = NULL;
    struct store_options options = fixture_options(f);
    options.dir = NULL;
    assert_err(LEDGER_ERR_INVALID_ARGUMENT, store_open(&options, &other));
    options.dir = "";
    assert_err(LEDGER_ERR_INVALID_ARGUMENT, store_open(&options, &other));
    char dir[PATH_MAX];
    sibling(f, "other", dir, sizeof dir);
    options.dir = dir;
    options.map_bytes = 16 * MIB;
    options.map_bytes_max = 8 * MIB;
    assert_err(LEDGER_ERR_INVALID_ARGUMENT, store_open(&options, &other));
    /* A regular file where the directory should be. */
    options = fixture_options(f);
    char file[PATH_MAX];
    join(file, sizeof file, f->dir, "data.mdb");
    options.dir = file;
    assert_err(LEDGER_ERR_STORAGE_ERROR, store_open(&options, &other));
    /* Only the last component is created. */
    sibling(f, "no/such", dir, sizeof dir);
    options.dir = dir;
    assert_err(LEDGER_ERR_STORAGE_ERROR, store_open(&options, &other));
    assert_true(strlen(store_last_error(NULL)) > 0);
    assert_null(other);
}

static void test_store_open_twice_is_refused(void **state)
{
    struct fixture *f = *state;
    struct store *other = NULL;
    struct store_options options = fixture_options(f);
    assert_err(LEDGER_ERR_DATA_DIR_LOCKED, store_open(&options, &other));
    /* The same directory under another name. */
    char alias[PATH_MAX];
    join(alias, sizeof alias, f->dir, ".");
    options.dir = alias;
    options.read_only = true;
    assert_err(LEDGER_ERR_DATA_DIR_LOCKED, store_open(&options, &other));
    assert_null(other);
    /* Once closed, it opens again. */
    options.read_only = false;
    reopen(f, &options);
}

static void test_store_read_only_open(void **state)
{
    struct fixture *f = *state;
    struct store_txn *txn;
    uint64_t version;
    assert_ok(store_begin(f->store, true, &txn));
    append_text(txn, "readable", 1);
    assert_ok(store_stream_add(txn, "p", "c", 1, &version));
    assert_ok(store_commit(txn));

    struct store_options options = fixture_options(f);
    options.read_only = true;
    reopen(f, &options);
    assert_ok(store_begin(f->store, false, &txn));
    assert_int_equal(1, store_last_sequence(txn));
    assert_record(txn, 1, "readable");
    assert_ok(store_stream_version(txn, "p", "c", &version));
    assert_int_equal(1, version);
    store_abort(txn);
    /* A read-only store can be copied (the backup source). */
    char copy[PATH_MAX];
    sibling(f, "copy", copy, sizeof copy);
    assert_int_equal(0, mkdir(copy, 0700));
    assert_ok(store_copy(f->store, copy));

    /* Read-only never creates. */
    struct store *other = NULL;
    char missing[PATH_MAX];
    sibling(f, "missing", missing, sizeof missing);
    options.dir = missing;
    assert_err(LEDGER_ERR_STORAGE_ERROR, store_open(&options, &other));
    struct stat info;
    assert_int_equal(-1, stat(missing, &info));
    /* An empty directory holds no environment. */
    char empty[PATH_MAX];
    sibling(f, "empty", empty, sizeof empty);
    assert_int_equal(0, mkdir(empty, 0700));
    options.dir = empty;
    assert_err(LEDGER_ERR_STORAGE_ERROR, store_open(&options, &other));
    assert_null(other);
}

/* A copy kept as evidence is opened read-only with no_lock: nothing is
 * written into its directory, not even lock.mdb, and it reads whole; bulk
 * mode means nothing to a read-only store. */
static void test_store_read_only_no_lock_writes_nothing(void **state)
{
    struct fixture *f = *state;
    struct store_txn *txn;
    assert_ok(store_begin(f->store, true, &txn));
    append_text(txn, "evidence", 1);
    assert_ok(store_commit(txn));
    char copy[PATH_MAX], lock[PATH_MAX];
    sibling(f, "evidence", copy, sizeof copy);
    assert_int_equal(0, mkdir(copy, 0700));
    assert_ok(store_copy(f->store, copy));
    join(lock, sizeof lock, copy, "lock.mdb");
    struct stat info;
    assert_int_equal(-1, stat(lock, &info));

    struct store_options options = fixture_options(f);
    options.dir = copy;
    options.read_only = true;
    options.no_lock = true;
    struct store *evidence = NULL;
    assert_ok(store_open(&options, &evidence));
    assert_ok(store_bulk(evidence, true));
    assert_ok(store_begin(evidence, false, &txn));
    assert_int_equal(1, store_last_sequence(txn));
    assert_record(txn, 1, "evidence");
    store_abort(txn);
    assert_ok(store_bulk(evidence, false));
    store_close(evidence);
    assert_int_equal(-1, stat(lock, &info));
}

/* A backup whose directory was removed after it was opened (by descriptor)
 * fails when it creates the copy's file, saying so, and leaves nothing. */
static void test_store_copy_into_removed_directory(void **state)
{
    struct fixture *f = *state;
    char gone[PATH_MAX];
    sibling(f, "gone", gone, sizeof gone);
    assert_int_equal(0, mkdir(gone, 0700));
    int dirfd = open(gone, O_RDONLY | O_DIRECTORY);
    assert_true(dirfd >= 0);
    assert_int_equal(0, rmdir(gone));
    assert_err(LEDGER_ERR_STORAGE_ERROR, store_copy_at(f->store, dirfd));
    assert_string_equal("creating data.mdb: No such file or directory", store_last_error(f->store));
    assert_int_equal(-1, faccessat(dirfd, "data.mdb", F_OK, 0));
    close(dirfd);
    struct stat info;
    assert_int_equal(-1, stat(gone, &info));
    /* The store is unharmed. */
    struct store_txn *txn;
    assert_ok(store_begin(f->store, true, &txn));
    append_text(txn, "after", 1);
    assert_ok(store_commit(txn));
}

/* One process holds at most 64 environments: the next is refused, saying
 * so, and leaves no trace (closing one makes room again, and the refused
 * directory then opens). */
static void test_store_open_past_the_process_limit(void **state)
{
    struct fixture *f = *state;
    /* The fixture's store is the first of the 64. */
    struct store *stores[63] = {NULL};
    struct store_options options = fixture_options(f);
    options.map_bytes = 1 * MIB;
    options.map_bytes_max = 1 * MIB;
    char dir[PATH_MAX];
    for (size_t i = 0; i < 63; i++) {
        char name[32];
        snprintf(name, sizeof name, "many-%zu", i);
        sibling(f, name, dir, sizeof dir);
        options.dir = dir;
        assert_ok(store_open(&options, &stores[i]));
    }
    sibling(f, "one-too-many", dir, sizeof dir);
    options.dir = dir;
    struct store *refused = NULL;
    assert_err(LEDGER_ERR_STORAGE_ERROR, store_open(&options, &refused));
    assert_null(refused);
    assert_string_equal("more than 64 environments open in this process", store_last_error(NULL));
    store_close(stores[62]);
    stores[62] = NULL;
    assert_ok(store_open(&options, &refused));
    store_close(refused);
    for (size_t i = 0; i < 62; i++)
        store_close(stores[i]);
}

/* Builds or damages an environment with LMDB directly, as another program
 * would. kind: 0 a plain key in the main database, 1 a named database of
 * another program, 2 delete the format entry, 3 a leaf without its record,
 * 4 a record without its leaf. */
static void raw_lmdb(const char *dir, int kind)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    if (kind < 2)
        assert_int_equal(0, mkdir(dir, 0700));
    assert_int_equal(MDB_SUCCESS, mdb_env_create(&env));
    assert_int_equal(MDB_SUCCESS, mdb_env_set_maxdbs(env, 32));
    assert_int_equal(MDB_SUCCESS, mdb_env_set_mapsize(env, (size_t)(8 * MIB)));
    assert_int_equal(MDB_SUCCESS, mdb_env_open(env, dir, 0, 0600));
    assert_int_equal(MDB_SUCCESS, mdb_txn_begin(env, NULL, 0, &txn));
    uint8_t sequence[8];
    store_u64_to_key(1, sequence);
    MDB_val key = {sizeof sequence, sequence};
    MDB_val value = {5, (void *)"bytes"};
    switch (kind) {
    case 0:
        assert_int_equal(MDB_SUCCESS, mdb_dbi_open(txn, NULL, 0, &dbi));
        key.mv_size = 5;
        key.mv_data = (void *)"hello";
        assert_int_equal(MDB_SUCCESS, mdb_put(txn, dbi, &key, &value, 0));
        break;
    case 1:
        assert_int_equal(MDB_SUCCESS, mdb_dbi_open(txn, "stuff", MDB_CREATE, &dbi));
        assert_int_equal(MDB_SUCCESS, mdb_put(txn, dbi, &key, &value, 0));
        break;
    case 2:
        assert_int_equal(MDB_SUCCESS, mdb_dbi_open(txn, "meta", 0, &dbi));
        key.mv_size = 6;
        key.mv_data = (void *)"format";
        assert_int_equal(MDB_SUCCESS, mdb_del(txn, dbi, &key, NULL));
        break;
    case 3:
        assert_int_equal(MDB_SUCCESS, mdb_dbi_open(txn, "leaf", 0, &dbi));
        assert_int_equal(MDB_SUCCESS, mdb_put(txn, dbi, &key, &value, 0));
        break;
    default:
        assert_int_equal(MDB_SUCCESS, mdb_dbi_open(txn, "log", 0, &dbi));
        assert_int_equal(MDB_SUCCESS, mdb_put(txn, dbi, &key, &value, 0));
        break;
    }
    assert_int_equal(MDB_SUCCESS, mdb_txn_commit(txn));
    mdb_env_close(env);
}

static void assert_open_corrupt(const struct fixture *f, const char *dir, const char *why)
{
    struct store_options options = fixture_options(f);
    options.dir = dir;
    struct store *store = NULL;
    assert_err(LEDGER_ERR_CORRUPT, store_open(&options, &store));
    assert_string_equal(why, store_last_error(NULL));
    /* A failed open leaves nothing behind: trying again gives the same. */
    assert_err(LEDGER_ERR_CORRUPT, store_open(&options, &store));
    assert_string_equal(why, store_last_error(NULL));
    options.read_only = true;
    assert_err(LEDGER_ERR_CORRUPT, store_open(&options, &store));
    assert_string_equal(why, store_last_error(NULL));
    assert_null(store);
}

static void test_store_open_foreign_environment(void **state)
{
    struct fixture *f = *state;
    char dir[PATH_MAX];
    sibling(f, "plain", dir, sizeof dir);
    raw_lmdb(dir, 0);
    assert_open_corrupt(f, dir, "not a ledger environment: no database \"log\"");
    sibling(f, "named", dir, sizeof dir);
    raw_lmdb(dir, 1);
    assert_open_corrupt(f, dir, "not a ledger environment: no database \"log\"");
}

static void test_store_open_not_lmdb(void **state)
{
    struct fixture *f = *state;
    char dir[PATH_MAX], path[PATH_MAX];
    sibling(f, "garbage", dir, sizeof dir);
    assert_int_equal(0, mkdir(dir, 0700));
    join(path, sizeof path, dir, "data.mdb");
    FILE *file = fopen(path, "wb");
    assert_non_null(file);
    static uint8_t garbage[16384];
    memset(garbage, 0x5a, sizeof garbage);
    assert_int_equal(sizeof garbage, fwrite(garbage, 1, sizeof garbage, file));
    assert_int_equal(0, fclose(file));
    assert_open_corrupt(f, dir, "mdb_env_open: MDB_INVALID: File is not an LMDB file");
}

static void test_store_open_wrong_format(void **state)
{
    struct fixture *f = *state;
    struct store_txn *txn;
    uint8_t format[8];
    store_u64_to_key(STORE_FORMAT_VERSION + 1, format);
    assert_ok(store_begin(f->store, true, &txn));
    assert_ok(store_put(txn, STORE_DB_META, "format", 6, format, sizeof format));
    assert_ok(store_commit(txn));
    store_close(f->store);
    f->store = NULL;
    assert_open_corrupt(f, f->dir, "unknown format version (this build reads 1)");

    /* The right number in the wrong width. */
    struct store_options options = fixture_options(f);
    char dir[PATH_MAX];
    sibling(f, "narrow", dir, sizeof dir);
    options.dir = dir;
    assert_ok(store_open(&options, &f->store));
    assert_ok(store_begin(f->store, true, &txn));
    assert_ok(store_put(txn, STORE_DB_META, "format", 6, "\x01", 1));
    assert_ok(store_commit(txn));
    store_close(f->store);
    f->store = NULL;
    assert_open_corrupt(f, dir, "unknown format version (this build reads 1)");

    /* No format entry at all. */
    sibling(f, "unformatted", dir, sizeof dir);
    options.dir = dir;
    assert_ok(store_open(&options, &f->store));
    store_close(f->store);
    f->store = NULL;
    raw_lmdb(dir, 2);
    assert_open_corrupt(f, dir, "not a ledger environment: no format entry");
}

static void test_store_open_log_and_leaves_out_of_step(void **state)
{
    struct fixture *f = *state;
    struct store_options options = fixture_options(f);
    char dir[PATH_MAX];
    for (int kind = 3; kind <= 4; kind++) {
        sibling(f, kind == 3 ? "extra-leaf" : "extra-record", dir, sizeof dir);
        options.dir = dir;
        struct store *store;
        assert_ok(store_open(&options, &store));
        store_close(store);
        raw_lmdb(dir, kind);
        assert_open_corrupt(f, dir,
                            kind == 3 ? "log (0 records) and leaf hashes (1) differ"
                                      : "log (1 record) and leaf hashes (0) differ");
        /* The verifier opens them anyway, read-only, to walk them itself;
         * log_unchecked means nothing to a writer. */
        options.log_unchecked = true;
        assert_err(LEDGER_ERR_CORRUPT, store_open(&options, &store));
        options.read_only = true;
        assert_ok(store_open(&options, &store));
        struct store_txn *txn = NULL;
        assert_ok(store_begin(store, false, &txn));
        uint64_t leaves = 0;
        assert_ok(store_count(txn, STORE_DB_LEAF, &leaves));
        assert_int_equal(store_last_sequence(txn) + leaves, 1);
        store_abort(txn);
        store_close(store);
        options.read_only = false;
        options.log_unchecked = false;
    }
}

/* Changes one entry of the database `db_name` of the environment in dir with
 * LMDB directly, as damage or another program would: puts `value` under
 * `key`, or deletes `key` when `value` is NULL. The store must be closed. */
static void raw_edit(const char *dir, const char *db_name, const void *key, size_t key_size,
                     const void *value, size_t value_size)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    assert_int_equal(MDB_SUCCESS, mdb_env_create(&env));
    assert_int_equal(MDB_SUCCESS, mdb_env_set_maxdbs(env, 32));
    assert_int_equal(MDB_SUCCESS, mdb_env_set_mapsize(env, (size_t)(8 * MIB)));
    assert_int_equal(MDB_SUCCESS, mdb_env_open(env, dir, 0, 0600));
    assert_int_equal(MDB_SUCCESS, mdb_txn_begin(env, NULL, 0, &txn));
    assert_int_equal(MDB_SUCCESS, mdb_dbi_open(txn, db_name, 0, &dbi));
    MDB_val k = {key_size, (void *)key};
    MDB_val v = {value_size, (void *)value};
    if (value != NULL)
        assert_int_equal(MDB_SUCCESS, mdb_put(txn, dbi, &k, &v, 0));
    else
        assert_int_equal(MDB_SUCCESS, mdb_del(txn, dbi, &k, NULL));
    assert_int_equal(MDB_SUCCESS, mdb_txn_commit(txn));
    mdb_env_close(env);
}

/* The key of a sequence in the log or the leaf database. */
struct sequence_key {
    uint8_t bytes[8];
};

static struct sequence_key sequence_key(uint64_t sequence)
{
    struct sequence_key key;
    store_u64_to_key(sequence, key.bytes);
    return key;
}

/* Appends `count` records "record-N" and closes the store, for raw_edit. */
static void append_and_close(struct fixture *f, uint64_t count)
{
    struct store_txn *txn;
    assert_ok(store_begin(f->store, true, &txn));
    for (uint64_t i = 1; i <= count; i++) {
        char text[32];
        snprintf(text, sizeof text, "record-%llu", (unsigned long long)i);
        append_text(txn, text, i);
    }
    assert_ok(store_commit(txn));
    store_close(f->store);
    f->store = NULL;
}

/* Makes the value of the node whose key and value begin as given 16 MiB
 * larger in the (closed) environment's data file, past the file's end, as
 * damage would: every copy of its page is changed, the one in use among
 * them. The node: the value's size (low and high 16 bits), flags, the key's
 * size, the key, then the value. */
static void alter_node_size(const char *dir, const void *key, size_t key_size, const void *value,
                            size_t value_size)
{
    char path[PATH_MAX];
    join(path, sizeof path, dir, "data.mdb");
    FILE *file = fopen(path, "r+b");
    assert_non_null(file);
    assert_int_equal(0, fseek(file, 0, SEEK_END));
    long size = ftell(file);
    assert_true(size > 0);
    uint8_t *bytes = malloc((size_t)size);
    assert_non_null(bytes);
    rewind(file);
    assert_int_equal((size_t)size, fread(bytes, 1, (size_t)size, file));
    unsigned changed = 0;
    for (long i = 8; i + (long)(key_size + value_size) <= size; i++) {
        if (memcmp(bytes + i, key, key_size) == 0 &&
            memcmp(bytes + i + key_size, value, value_size) == 0 &&
            (size_t)(bytes[i - 2] | bytes[i - 1] << 8) == key_size) {
            assert_int_equal(value_size, bytes[i - 8] | bytes[i - 7] << 8);
            assert_int_equal(0, bytes[i - 6] | bytes[i - 5] << 8);
            bytes[i - 5] = 1;
            changed++;
        }
    }
    assert_true(changed > 0);
    rewind(file);
    assert_int_equal((size_t)size, fwrite(bytes, 1, (size_t)size, file));
    assert_int_equal(0, fclose(file));
    free(bytes);
}

/* A value whose size was altered past the end of the data file (reading it
 * would fault) is CORRUPT in a read-only transaction, whichever call reads
 * it: a record (alone or through a cursor), a command's stored result, a
 * generic entry (alone or through a cursor); the message names the
 * database and what to do, and the values beside it still read. */
static void test_store_value_larger_than_the_file_is_corrupt(void **state)
{
    struct fixture *f = *state;
    struct store_txn *txn;
    assert_ok(store_begin(f->store, true, &txn));
    append_text(txn, "record-1", 1);
    append_text(txn, "record-2", 2);
    uint8_t hash[STORE_HASH_BYTES];
    memset(hash, 0x77, sizeof hash);
    assert_ok(store_command_put(txn, "alice", "cmd-resized", hash, (const uint8_t *)"result", 6));
    assert_ok(store_put(txn, STORE_DB_META, "resized", 7, "meta-value", 10));
    assert_ok(store_commit(txn));
    store_close(f->store);
    f->store = NULL;
    struct sequence_key one = sequence_key(1);
    alter_node_size(f->dir, one.bytes, sizeof one.bytes, "record-1", 8);
    uint8_t command_value[STORE_HASH_BYTES + 6];
    memcpy(command_value, hash, sizeof hash);
    memcpy(command_value + STORE_HASH_BYTES, "result", 6);
    alter_node_size(f->dir, "alice\0cmd-resized", 17, command_value, sizeof command_value);
    alter_node_size(f->dir, "resized", 7, "meta-value", 10);

    struct store_options options = fixture_options(f);
    options.read_only = true;
    assert_ok(store_open(&options, &f->store));
    assert_ok(store_begin(f->store, false, &txn));
    struct store_val value = {NULL, 0};
    assert_err(LEDGER_ERR_CORRUPT, store_record(txn, 1, &value));
    assert_string_equal("a value of 16777224 bytes in the log database is larger than the data "
                        "file: the file is damaged (a node's size was altered); restore a backup",
                        store_last_error(f->store));
    assert_null(value.data);
    struct store_cursor *cursor;
    assert_ok(store_cursor_open(txn, STORE_DB_LOG, &cursor));
    assert_err(LEDGER_ERR_CORRUPT, store_record_next(cursor, 1, &value));
    assert_ok(store_record_next(cursor, 2, &value));
    assert_int_equal(8, value.size);
    assert_memory_equal("record-2", value.data, 8);
    store_cursor_close(cursor);

    struct store_val result = {NULL, 0};
    assert_err(LEDGER_ERR_CORRUPT, store_command_get(txn, "alice", "cmd-resized", hash, &result));
    assert_non_null(strstr(store_last_error(f->store), "in the command database is larger"));
    assert_null(result.data);

    assert_err(LEDGER_ERR_CORRUPT, store_get(txn, STORE_DB_META, "resized", 7, &value));
    assert_string_equal("a value of 16777226 bytes in the meta database is larger than the data "
                        "file: the file is damaged (a node's size was altered); restore a backup",
                        store_last_error(f->store));
    assert_ok(store_cursor_open(txn, STORE_DB_META, &cursor));
    struct store_val key;
    assert_err(LEDGER_ERR_CORRUPT, store_cursor_seek(cursor, "resized", 7, &key, &value));
    store_cursor_close(cursor);
    assert_ok(store_get(txn, STORE_DB_META, "format", 6, &value));
    assert_int_equal(8, value.size);
    store_abort(txn);
}

/* A leaf hash that is not 32 bytes (the log and leaves still in step, so the
 * open does not see it) is CORRUPT, named by its sequence, whether read
 * alone or through a cursor; its neighbours still read. */
static void test_store_leaf_hash_of_wrong_size_is_corrupt(void **state)
{
    struct fixture *f = *state;
    append_and_close(f, 3);
    struct sequence_key two = sequence_key(2);
    raw_edit(f->dir, "leaf", two.bytes, sizeof two.bytes, "short", 5);
    struct store_options options = fixture_options(f);
    assert_ok(store_open(&options, &f->store));
    struct store_txn *txn;
    assert_ok(store_begin(f->store, false, &txn));
    uint8_t leaf[STORE_HASH_BYTES], expected[STORE_HASH_BYTES];
    memset(leaf, 0xee, sizeof leaf);
    assert_err(LEDGER_ERR_CORRUPT, store_leaf(txn, 2, leaf));
    assert_string_equal("leaf hash of sequence 2 has 5 bytes", store_last_error(f->store));
    /* Nothing written to the output of a failed read. */
    for (size_t i = 0; i < sizeof leaf; i++)
        assert_int_equal(0xee, leaf[i]);
    struct store_cursor *cursor;
    assert_ok(store_cursor_open(txn, STORE_DB_LEAF, &cursor));
    assert_ok(store_leaf_next(cursor, 1, leaf));
    crypto_sha256_prefixed(0x00, (const uint8_t *)"record-1", 8, expected);
    assert_memory_equal(expected, leaf, sizeof leaf);
    assert_err(LEDGER_ERR_CORRUPT, store_leaf_next(cursor, 2, leaf));
    assert_string_equal("leaf hash of sequence 2 has 5 bytes", store_last_error(f->store));
    assert_ok(store_leaf_next(cursor, 3, leaf));
    crypto_sha256_prefixed(0x00, (const uint8_t *)"record-3", 8, expected);
    assert_memory_equal(expected, leaf, sizeof leaf);
    store_cursor_close(cursor);
    store_abort(txn);
}

/* Puts `key` = "x" as a plain entry of the main database of the LMDB
 * environment in `dir` (made if new), as another program's would be;
 * returns the main database's entry count after. */
static size_t foreign_main_put(const char *dir, const char *key)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_stat stat;
    assert_int_equal(MDB_SUCCESS, mdb_env_create(&env));
    assert_int_equal(MDB_SUCCESS, mdb_env_set_mapsize(env, (size_t)(8 * MIB)));
    assert_int_equal(MDB_SUCCESS, mdb_env_open(env, dir, 0, 0600));
    assert_int_equal(MDB_SUCCESS, mdb_txn_begin(env, NULL, 0, &txn));
    assert_int_equal(MDB_SUCCESS, mdb_dbi_open(txn, NULL, 0, &dbi));
    if (key != NULL) {
        MDB_val k = {strlen(key), (void *)key}, v = {1, "x"};
        assert_int_equal(MDB_SUCCESS, mdb_put(txn, dbi, &k, &v, 0));
    }
    assert_int_equal(MDB_SUCCESS, mdb_stat(txn, dbi, &stat));
    assert_int_equal(MDB_SUCCESS, mdb_txn_commit(txn));
    mdb_env_close(env);
    return stat.ms_entries;
}

/* The LMDB environment of another program is no ledger: refused CORRUPT
 * naming the first database it lacks, whether the name is absent or held
 * by a plain entry (MDB_INCOMPATIBLE), and nothing is created in it. */
static void test_store_foreign_environment_refused(void **state)
{
    struct fixture *f = *state;
    char foreign[PATH_MAX];
    sibling(f, "foreign", foreign, sizeof foreign);
    assert_int_equal(0, mkdir(foreign, 0700));
    assert_int_equal(1, foreign_main_put(foreign, "settings"));
    struct store_options options = fixture_options(f);
    options.dir = foreign;
    struct store *store = NULL;
    assert_err(LEDGER_ERR_CORRUPT, store_open(&options, &store));
    assert_null(store);
    assert_string_equal("not a ledger environment: no database \"log\"", store_last_error(NULL));
    assert_int_equal(1, foreign_main_put(foreign, NULL));
    /* "log" a plain entry, not a database. */
    assert_int_equal(2, foreign_main_put(foreign, "log"));
    assert_err(LEDGER_ERR_CORRUPT, store_open(&options, &store));
    assert_null(store);
    assert_string_equal("not a ledger environment: no database \"log\"", store_last_error(NULL));
    assert_int_equal(2, foreign_main_put(foreign, NULL));
}

/* A log of one record under key 2 is not dense, said of one entry. */
static void test_store_log_of_one_record_not_at_one(void **state)
{
    struct fixture *f = *state;
    append_and_close(f, 1);
    struct sequence_key one = sequence_key(1), two = sequence_key(2);
    raw_edit(f->dir, "log", one.bytes, sizeof one.bytes, NULL, 0);
    raw_edit(f->dir, "log", two.bytes, sizeof two.bytes, "record-2", 8);
    assert_open_corrupt(f, f->dir, "the log database is not dense: 1 entry");
}

/* A log with a hole (its records counted 2, its last key 3) is refused at
 * open, naming the database; the verifier's read-only log_unchecked open
 * takes it, and a cursor walking the sequences in order finds the hole
 * NOT_FOUND (not the record after it) and the record after the hole again. */
static void test_store_log_with_a_hole(void **state)
{
    struct fixture *f = *state;
    append_and_close(f, 3);
    struct sequence_key two = sequence_key(2);
    raw_edit(f->dir, "log", two.bytes, sizeof two.bytes, NULL, 0);
    raw_edit(f->dir, "leaf", two.bytes, sizeof two.bytes, NULL, 0);
    struct store_options options = fixture_options(f);
    assert_err(LEDGER_ERR_CORRUPT, store_open(&options, &f->store));
    assert_string_equal("the log database is not dense: 2 entries", store_last_error(NULL));
    assert_null(f->store);
    /* With only the leaves broken, the leaf database is the one named. */
    raw_edit(f->dir, "log", two.bytes, sizeof two.bytes, "record-2", 8);
    assert_err(LEDGER_ERR_CORRUPT, store_open(&options, &f->store));
    assert_string_equal("the leaf database is not dense: 2 entries", store_last_error(NULL));
    raw_edit(f->dir, "log", two.bytes, sizeof two.bytes, NULL, 0);

    /* A key 0 in place of 1: the count is the last key, and still sequence 1
     * is missing. */
    struct sequence_key zero = sequence_key(0), one = sequence_key(1), three = sequence_key(3);
    raw_edit(f->dir, "log", three.bytes, sizeof three.bytes, NULL, 0);
    raw_edit(f->dir, "leaf", three.bytes, sizeof three.bytes, NULL, 0);
    raw_edit(f->dir, "log", one.bytes, sizeof one.bytes, NULL, 0);
    raw_edit(f->dir, "log", zero.bytes, sizeof zero.bytes, "record-0", 8);
    raw_edit(f->dir, "log", two.bytes, sizeof two.bytes, "record-2", 8);
    raw_edit(f->dir, "leaf", two.bytes, sizeof two.bytes, "2", 1);
    assert_err(LEDGER_ERR_CORRUPT, store_open(&options, &f->store));
    assert_string_equal("the log database is not dense: 2 entries", store_last_error(NULL));
    raw_edit(f->dir, "log", zero.bytes, sizeof zero.bytes, NULL, 0);
    raw_edit(f->dir, "log", two.bytes, sizeof two.bytes, NULL, 0);
    raw_edit(f->dir, "leaf", two.bytes, sizeof two.bytes, NULL, 0);
    raw_edit(f->dir, "log", one.bytes, sizeof one.bytes, "record-1", 8);
    raw_edit(f->dir, "log", three.bytes, sizeof three.bytes, "record-3", 8);
    raw_edit(f->dir, "leaf", three.bytes, sizeof three.bytes, "3", 1);

    options.read_only = true;
    options.log_unchecked = true;
    assert_ok(store_open(&options, &f->store));
    struct store_txn *txn;
    assert_ok(store_begin(f->store, false, &txn));
    struct store_cursor *cursor;
    assert_ok(store_cursor_open(txn, STORE_DB_LOG, &cursor));
    struct store_val value = {NULL, 0};
    assert_ok(store_record_next(cursor, 1, &value));
    assert_int_equal(8, value.size);
    assert_memory_equal("record-1", value.data, 8);
    assert_err(LEDGER_ERR_NOT_FOUND, store_record_next(cursor, 2, &value));
    assert_ok(store_record_next(cursor, 3, &value));
    assert_int_equal(8, value.size);
    assert_memory_equal("record-3", value.data, 8);
    store_cursor_close(cursor);
    store_abort(txn);
}

/* The stream index's key of one version of the stream ("p", "c"). */
static size_t stream_key(uint64_t version, uint8_t out[4 + 8])
{
    memcpy(out, "p\0c\0", 4);
    store_u64_to_key(version, out + 4);
    return 4 + 8;
}

/* Writes versions 1..3 of ("p", "c") at sequences 10, 20, 30, and one
 * version of ("p", "b"), whose keys sort before them, then closes. */
static void write_streams_and_close(struct fixture *f)
{
    struct store_txn *txn;
    uint64_t version;
    assert_ok(store_begin(f->store, true, &txn));
    assert_ok(store_stream_add(txn, "p", "b", 5, &version));
    for (uint64_t i = 1; i <= 3; i++)
        assert_ok(store_stream_add(txn, "p", "c", 10 * i, &version));
    assert_ok(store_commit(txn));
    store_close(f->store);
    f->store = NULL;
}

/* A stream index whose versions are not dense from 1, or whose value is not
 * an 8-byte sequence, is CORRUPT, naming the version, in every walk
 * (forwards from the start, forwards from a bisected start, backwards) and
 * in the version lookup; a walk hands out the versions before the damage
 * and nothing after it. */
static void test_store_damaged_stream_index_is_corrupt(void **state)
{
    struct fixture *f = *state;
    struct store_options options = fixture_options(f);
    uint8_t key[12];
    struct store_txn *txn;
    uint64_t version = 77;

    /* Version 2 missing. */
    write_streams_and_close(f);
    raw_edit(f->dir, "stream", key, stream_key(2, key), NULL, 0);
    assert_ok(store_open(&options, &f->store));
    assert_ok(store_begin(f->store, false, &txn));
    struct sequences forth = {.count = 0}, after = {.count = 0}, back = {.count = 0};
    assert_err(LEDGER_ERR_CORRUPT, store_stream_each(txn, "p", "c", 0, collect_sequence, &forth));
    assert_string_equal("stream index broken at version 2", store_last_error(f->store));
    assert_int_equal(1, forth.count);
    assert_int_equal(10, forth.items[0]);
    assert_err(LEDGER_ERR_CORRUPT, store_stream_each(txn, "p", "c", 15, collect_sequence, &after));
    assert_string_equal("stream index broken at version 2", store_last_error(f->store));
    assert_int_equal(0, after.count);
    assert_err(LEDGER_ERR_CORRUPT,
               store_stream_each_back(txn, "p", "c", 0, collect_sequence, &back));
    assert_string_equal("stream index broken at version 2", store_last_error(f->store));
    assert_int_equal(1, back.count);
    assert_int_equal(30, back.items[0]);
    store_abort(txn);
    store_close(f->store);
    f->store = NULL;

    /* Version 1 missing too: walking back runs into ("p", "b"). */
    raw_edit(f->dir, "stream", key, stream_key(1, key), NULL, 0);
    raw_edit(f->dir, "stream", key, stream_key(2, key), "\0\0\0\0\0\0\0\x14", 8);
    assert_ok(store_open(&options, &f->store));
    assert_ok(store_begin(f->store, false, &txn));
    struct sequences back_two = {.count = 0};
    assert_err(LEDGER_ERR_CORRUPT,
               store_stream_each_back(txn, "p", "c", 0, collect_sequence, &back_two));
    assert_string_equal("stream index broken at version 1", store_last_error(f->store));
    assert_int_equal(2, back_two.count);
    assert_int_equal(30, back_two.items[0]);
    assert_int_equal(20, back_two.items[1]);
    store_abort(txn);
    store_close(f->store);
    f->store = NULL;

    /* The last version's value of 4 bytes. */
    raw_edit(f->dir, "stream", key, stream_key(1, key), "\0\0\0\0\0\0\0\x0a", 8);
    raw_edit(f->dir, "stream", key, stream_key(3, key), "\0\0\0\x1e", 4);
    assert_ok(store_open(&options, &f->store));
    assert_ok(store_begin(f->store, true, &txn));
    assert_err(LEDGER_ERR_CORRUPT, store_stream_version(txn, "p", "c", &version));
    assert_string_equal("stream index value of 4 bytes", store_last_error(f->store));
    assert_err(LEDGER_ERR_CORRUPT, store_stream_add(txn, "p", "c", 40, &version));
    assert_int_equal(77, version);
    struct sequences none = {.count = 0};
    assert_err(LEDGER_ERR_CORRUPT, store_stream_each(txn, "p", "c", 5, collect_sequence, &none));
    assert_int_equal(0, none.count);
    /* A middle version's: the bisection that looks it up says so. */
    store_abort(txn);
    store_close(f->store);
    f->store = NULL;
    raw_edit(f->dir, "stream", key, stream_key(3, key), "\0\0\0\0\0\0\0\x1e", 8);
    raw_edit(f->dir, "stream", key, stream_key(2, key), "\0\0\0\x14", 4);
    assert_ok(store_open(&options, &f->store));
    assert_ok(store_begin(f->store, false, &txn));
    assert_err(LEDGER_ERR_CORRUPT, store_stream_each(txn, "p", "c", 15, collect_sequence, &none));
    assert_string_equal("stream index broken at version 2", store_last_error(f->store));
    assert_int_equal(0, none.count);
    /* The other stream is whole. */
    assert_ok(store_stream_each(txn, "p", "b", 0, collect_sequence, &none));
    assert_int_equal(1, none.count);
    assert_int_equal(5, none.items[0]);
    store_abort(txn);
}

/* A command index entry too short to hold its request hash is CORRUPT, and
 * nothing is handed out; a result too large to store is refused before
 * anything is written. */
static void test_store_command_index_damaged_or_too_large(void **state)
{
    struct fixture *f = *state;
    store_close(f->store);
    f->store = NULL;
    raw_edit(f->dir, "command", "alice\0cmd-1", 11, "0123456789", 10);
    struct store_options options = fixture_options(f);
    assert_ok(store_open(&options, &f->store));
    struct store_txn *txn;
    assert_ok(store_begin(f->store, true, &txn));
    uint8_t hash[STORE_HASH_BYTES];
    memset(hash, 0x33, sizeof hash);
    struct store_val result = {NULL, 4321};
    assert_err(LEDGER_ERR_CORRUPT, store_command_get(txn, "alice", "cmd-1", hash, &result));
    assert_string_equal("command index value of 10 bytes", store_last_error(f->store));
    assert_int_equal(0x33, hash[0]);
    assert_int_equal(4321, result.size);
    assert_null(result.data);

    /* The size is checked before the result is read: one byte suffices. */
    const uint8_t one[1] = {0};
    assert_err(LEDGER_ERR_INVALID_ARGUMENT,
               store_command_put(txn, "bob", "cmd-2", hash, one,
                                 (size_t)UINT32_MAX - STORE_HASH_BYTES + 1));
    assert_string_equal("command result of 4294967264 bytes", store_last_error(f->store));
    assert_err(LEDGER_ERR_INVALID_ARGUMENT,
               store_command_put(txn, "", "cmd-2", hash, one, sizeof one));
    assert_err(LEDGER_ERR_INVALID_ARGUMENT,
               store_put(txn, STORE_DB_META, "big", 3, one, (size_t)UINT32_MAX + 1));
    assert_string_equal("value of 4294967296 bytes", store_last_error(f->store));
    /* The refusals spoiled nothing: the transaction commits, without them. */
    assert_ok(store_command_put(txn, "bob", "cmd-3", hash, one, sizeof one));
    assert_ok(store_commit(txn));
    assert_ok(store_begin(f->store, false, &txn));
    assert_err(LEDGER_ERR_NOT_FOUND, store_command_get(txn, "bob", "cmd-2", hash, &result));
    struct store_val value;
    assert_err(LEDGER_ERR_NOT_FOUND, store_get(txn, STORE_DB_META, "big", 3, &value));
    assert_ok(store_command_get(txn, "bob", "cmd-3", hash, &result));
    assert_int_equal(1, result.size);
    store_abort(txn);
}

/* --- programmer errors abort, in release builds too ------------------------------------------- */

enum misuse {
    MISUSE_DROP_LOG,
    MISUSE_DROP_LEAF,
    MISUSE_DROP_META,
    MISUSE_DROP_SECRET,
    MISUSE_DEL_LOG,
    MISUSE_DEL_LEAF,
    MISUSE_DEL_META,
    MISUSE_DEL_SECRET,
    MISUSE_PUT_LOG,
    MISUSE_PUT_LEAF,
    MISUSE_APPEND_READ_ONLY_TXN,
    MISUSE_PARENT_WHILE_CHILD_OPEN,
    MISUSE_COMMIT_WITH_CURSOR_OPEN,
    MISUSE_COUNT
};

static void misuse_in_child(const char *dir, enum misuse misuse)
{
    struct store_options options = {.dir = dir, .map_bytes = 8 * MIB, .no_sync = true};
    struct store *store;
    struct store_txn *txn, *child;
    struct store_cursor *cursor;
    uint64_t sequence;
    uint8_t leaf[STORE_HASH_BYTES];
    enum ledger_err err = store_open(&options, &store);
    if (err != LEDGER_ERR_OK)
        _exit(2);
    err = store_begin(store, misuse != MISUSE_APPEND_READ_ONLY_TXN, &txn);
    if (err != LEDGER_ERR_OK)
        _exit(3);
    switch (misuse) {
    case MISUSE_DROP_LOG:
        err = store_drop(txn, STORE_DB_LOG);
        break;
    case MISUSE_DROP_LEAF:
        err = store_drop(txn, STORE_DB_LEAF);
        break;
    case MISUSE_DROP_META:
        err = store_drop(txn, STORE_DB_META);
        break;
    case MISUSE_DROP_SECRET:
        err = store_drop(txn, STORE_DB_SECRET);
        break;
    case MISUSE_DEL_LOG:
        err = store_del(txn, STORE_DB_LOG, "k", 1);
        break;
    case MISUSE_DEL_LEAF:
        err = store_del(txn, STORE_DB_LEAF, "k", 1);
        break;
    case MISUSE_DEL_META:
        err = store_del(txn, STORE_DB_META, "format", 6);
        break;
    case MISUSE_DEL_SECRET:
        err = store_del(txn, STORE_DB_SECRET, "k", 1);
        break;
    case MISUSE_PUT_LOG:
        err = store_put(txn, STORE_DB_LOG, "12345678", 8, "x", 1);
        break;
    case MISUSE_PUT_LEAF:
        err = store_put(txn, STORE_DB_LEAF, "12345678", 8, "x", 1);
        break;
    case MISUSE_APPEND_READ_ONLY_TXN:
        err = store_append(txn, (const uint8_t *)"x", 1, &sequence, leaf);
        break;
    case MISUSE_PARENT_WHILE_CHILD_OPEN:
        err = store_begin_nested(txn, &child);
        if (err == LEDGER_ERR_OK)
            err = store_append(txn, (const uint8_t *)"x", 1, &sequence, leaf);
        break;
    case MISUSE_COMMIT_WITH_CURSOR_OPEN:
        err = store_cursor_open(txn, STORE_DB_LOG, &cursor);
        if (err == LEDGER_ERR_OK)
            err = store_commit(txn);
        break;
    case MISUSE_COUNT:
        break;
    }
    /* Reaching here means the misuse was not caught. */
    _exit(err == LEDGER_ERR_OK ? 0 : 1);
}

static void test_store_misuse_aborts(void **state)
{
    struct fixture *f = *state;
    for (int misuse = 0; misuse < MISUSE_COUNT; misuse++) {
        char dir[PATH_MAX];
        char name[32];
        snprintf(name, sizeof name, "misuse-%d", misuse);
        sibling(f, name, dir, sizeof dir);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            /* The child's diagnostic is expected: keep it off the test log. */
            int null_fd = open("/dev/null", O_WRONLY);
            if (null_fd >= 0)
                dup2(null_fd, STDERR_FILENO);
            misuse_in_child(dir, (enum misuse)misuse);
        }
        int status = 0;
        assert_int_equal(pid, waitpid(pid, &status, 0));
        if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT)
            fail_msg("misuse %d was not stopped (status %d)", misuse, status);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_store_append_and_read_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_bulk_commits_flush_their_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_sequences_dense_from_one, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_leaf_hash_known_vectors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_record_and_leaf_next, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_not_found_past_end, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_reopen_keeps_everything, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_file_modes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_stream_versions_and_each, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_stream_fill, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_stream_refuses_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_command_index_get_put, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_nested_commit_and_abort, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_abort_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_readers_beside_writer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_reader_slots_exhausted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_read_only_open_with_every_reader_slot_taken,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_put_map_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_map_growth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_growth_stops_at_max, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_growth_cap_not_a_power_of_two, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_grow_waits_for_readers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_grow_gives_up_on_open_transaction, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_map_grown_by_another_process, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_failed_growth_leaves_store_unmapped, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_failed_adoption_leaves_store_unmapped, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_store_open_recorded_map_too_large_for_the_address_space, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_drop_derived_empties_it, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_key_sizes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_cursor_seek_next_prev_last, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_cursor_over_the_log, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_copy_opens_with_same_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_open_refuses_truncated_copy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_info, setup, teardown),
        cmocka_unit_test(test_store_u64_keys),
        cmocka_unit_test(test_store_entry_origin),
        cmocka_unit_test(test_store_db_names),
        cmocka_unit_test_setup_teardown(test_store_open_bad_options, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_open_twice_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_read_only_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_read_only_no_lock_writes_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_copy_into_removed_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_open_past_the_process_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_open_foreign_environment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_open_not_lmdb, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_open_wrong_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_open_log_and_leaves_out_of_step, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_leaf_hash_of_wrong_size_is_corrupt, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_log_with_a_hole, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_log_of_one_record_not_at_one, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_foreign_environment_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_value_larger_than_the_file_is_corrupt, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_damaged_stream_index_is_corrupt, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_command_index_damaged_or_too_large, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_misuse_aborts, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
