/*
 * test_verify.c: the offline verifier (tools/ledger-verify) accepts a good
 * backup and catches tampering, naming where.
 *
 * Goal: an auditor who holds a backup (data.mdb) and a signed head saved
 * earlier (head.pb) must learn from ledger-verify whether the history is the
 * one the head signed, and if not, the first sequence that is wrong: exit 0
 * verified, 1 verification failed (what and where on stderr), 2 usage error or
 * unreadable directory.
 * Method: a seeded history (tests/support/histgen.h) of a few thousand events
 * is driven through the engine, with a backup (engine_backup: data.mdb and
 * head.pb) taken part way and one at the end. Each test copies the final
 * backup to a fresh directory, tampers with the copy as an attacker with
 * write access to the file would, runs the real ledger-verify binary ($LEDGER_VERIFY,
 * set by ctest) and checks its exit status and stderr. The attacker works
 * below the store's API, which by design cannot delete or rewrite the log: by
 * flipping bytes in the file, and with raw liblmdb. That is why this test
 * includes <lmdb.h> (as only test_store and test_faults also do, beside
 * daemon/store.c).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <pty.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <lmdb.h>

#include "codec.h"
#include "crypto.h"
#include "engine.h"
#include "histgen.h"
#include "histload.h"
#include "ledger_limits.h"
#include "merkle.h"
#include "oldlog.h"
#include "store.h"
#include "test_util.h"

#define HISTORY_EVENTS   3000
#define EARLY_EVENTS     1000
#define OUTPUT_BYTES_MAX 8192
#define PATH_SIZE        1024
/* Records deleted from the tail in the truncation test. */
#define TAIL_DELETED 5

/* Joins a directory and a name into a PATH_SIZE buffer. */
static void path_join(char *out, const char *dir, const char *name)
{
    int n = snprintf(out, PATH_SIZE, "%s/%s", dir, name);
    assert_true(n > 0 && n < PATH_SIZE);
}

/* --- the shared history and its backups ----------------------------------- */

struct world {
    char root[PATH_SIZE];
    char live[PATH_SIZE];
    char early[PATH_SIZE];  /* backup after about EARLY_EVENTS events */
    char backup[PATH_SIZE]; /* backup at the end */
    const char *verify;
    uint64_t head;          /* events in the final backup */
    uint64_t early_head;    /* events in the early backup */
    uint64_t flip_sequence; /* a reservation purchase in the middle */
    uint8_t *flip_record;
    size_t flip_record_size;
};

/* Picks the first reservation purchase after the middle of the log, keeping
 * a copy of its record bytes. */
static void pick_record(struct world *w, struct engine *engine)
{
    struct store_txn *txn = NULL;
    assert_int_equal(store_begin(engine_store(engine), false, &txn), LEDGER_ERR_OK);
    for (uint64_t s = w->head / 2; s <= w->head && w->flip_sequence == 0; s++) {
        struct store_val record;
        assert_int_equal(store_record(txn, s, &record), LEDGER_ERR_OK);
        Ledger__V1__Event *event = NULL;
        assert_int_equal(codec_event_unpack(record.data, record.size, &event), LEDGER_ERR_OK);
        if (event->body_case == LEDGER__V1__EVENT__BODY_RESERVATION_PURCHASED) {
            w->flip_sequence = s;
            w->flip_record = malloc(record.size);
            assert_non_null(w->flip_record);
            memcpy(w->flip_record, record.data, record.size);
            w->flip_record_size = record.size;
        }
        codec_event_free(event);
    }
    store_abort(txn);
    assert_true(w->flip_sequence > 0);
}

static int group_setup(void **state)
{
    struct world *w = calloc(1, sizeof *w);
    assert_non_null(w);
    w->verify = getenv("LEDGER_VERIFY");
    if (!w->verify || !w->verify[0]) {
        fail_msg("LEDGER_VERIFY must name the ledger-verify binary (ctest sets it)");
    }
    test_make_dir(w->root, sizeof w->root, "verify");
    path_join(w->live, w->root, "live");
    path_join(w->early, w->root, "early");
    path_join(w->backup, w->root, "backup");
    char key_path[PATH_SIZE];
    path_join(key_path, w->root, "operator.key");
    struct engine_options options = {.data_dir = w->live, .no_sync = true};
    assert_int_equal(engine_init(&options, "operator", key_path), LEDGER_ERR_OK);
    struct engine *engine = NULL;
    assert_int_equal(engine_open(&options, &engine), LEDGER_ERR_OK);
    struct histgen_options gen_options = {
        .seed = 7, .partners = 4, .customers_per_partner = 40, .target_events = HISTORY_EVENTS};
    struct histgen *gen = NULL;
    assert_int_equal(histgen_new(&gen_options, &gen), LEDGER_ERR_OK);
    struct histload *load = NULL;
    assert_int_equal(histload_new(engine, gen, 0, &load), LEDGER_ERR_OK);
    struct histgen_item item;
    while (histgen_next(gen, &item)) {
        enum ledger_err err = histload_add(load, &item);
        if (err == LEDGER_ERR_OK && w->early_head == 0 &&
            histload_next_sequence(load) > EARLY_EVENTS) {
            err = histload_flush(load);
            w->early_head = engine_head_sequence(engine);
            assert_int_equal(engine_backup(engine, w->early), LEDGER_ERR_OK);
        }
        if (err != LEDGER_ERR_OK) {
            fail_msg("%s", histload_error(load));
        }
    }
    if (histload_flush(load) != LEDGER_ERR_OK) {
        fail_msg("%s", histload_error(load));
    }
    histload_free(load);
    histgen_free(gen);
    w->head = engine_head_sequence(engine);
    assert_true(w->head > HISTORY_EVENTS);
    assert_int_equal(engine_backup(engine, w->backup), LEDGER_ERR_OK);
    pick_record(w, engine);
    engine_close(engine);
    *state = w;
    return 0;
}

static int group_teardown(void **state)
{
    struct world *w = *state;
    test_remove_dir(w->root);
    free(w->flip_record);
    free(w);
    return 0;
}

/* --- helpers ----------------------------------------------------------------- */

static void copy_file(const char *from, const char *to)
{
    assert_true(test_copy_file(from, to));
}

/* A fresh copy of the final backup (data.mdb and head.pb) in `out`. */
static void copy_backup(const struct world *w, const char *label, char out[PATH_SIZE])
{
    char from[PATH_SIZE], to[PATH_SIZE];
    path_join(out, w->root, label);
    assert_int_equal(mkdir(out, 0700), 0);
    const char *files[] = {"data.mdb", "head.pb"};
    for (size_t i = 0; i < 2; i++) {
        path_join(from, w->backup, files[i]);
        path_join(to, out, files[i]);
        copy_file(from, to);
    }
}

struct outcome {
    int status;
    char out[OUTPUT_BYTES_MAX];
    char err[OUTPUT_BYTES_MAX];
};

static void read_text(const char *path, char *out)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(out, 1, OUTPUT_BYTES_MAX - 1, f);
    out[n] = '\0';
    fclose(f);
    unlink(path);
}

/* Whether `dir` holds nothing. */
static bool dir_empty(const char *dir)
{
    DIR *listing = opendir(dir);
    assert_non_null(listing);
    bool empty = true;
    for (struct dirent *entry = readdir(listing); entry != NULL; entry = readdir(listing)) {
        empty = empty && (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0);
    }
    closedir(listing);
    return empty;
}

/* Where ledger-verify makes the scratch copy of its views check ($TMPDIR):
 * the test's directory, unless a test points it elsewhere. */
static const char *scratch_parent;

/* Where the program's stdout goes instead of a file the test reads (e.g.
 * /dev/full), or NULL. */
static const char *stdout_target;

/* Whether the program's stdout is instead a pipe whose reader has gone. */
static bool stdout_reader_gone;

/* The largest file the program may write (RLIMIT_FSIZE, with SIGXFSZ
 * ignored, so that a write past it fails with EFBIG as on a full disk), or
 * 0 for no limit. */
static rlim_t file_size_limit;

/* Runs `program` (ledger-verify, ledger-fixture) with `args`
 * (NULL-terminated) and collects its exit status, stdout and stderr. */
static void run_program(const struct world *w, const char *program, const char *const *args,
                        struct outcome *o)
{
    char out_path[PATH_SIZE], err_path[PATH_SIZE];
    path_join(out_path, w->root, "verify.out");
    path_join(err_path, w->root, "verify.err");
    const char *argv[16] = {program};
    size_t argc = 1;
    for (; args[argc - 1] && argc < 15; argc++) {
        argv[argc] = args[argc - 1];
    }
    argv[argc] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int out = stdout_target != NULL ? open(stdout_target, O_WRONLY)
                                        : open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int ends[2];
        if (stdout_reader_gone && (pipe(ends) != 0 || close(ends[0]) != 0)) {
            _exit(127);
        }
        out = stdout_reader_gone ? ends[1] : out;
        int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (out < 0 || err < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) {
            _exit(127);
        }
        /* The scratch copy of the views check goes under the test's directory. */
        setenv("TMPDIR", scratch_parent ? scratch_parent : w->root, 1);
        if (file_size_limit != 0) {
            struct rlimit limit = {file_size_limit, file_size_limit};
            if (signal(SIGXFSZ, SIG_IGN) == SIG_ERR || setrlimit(RLIMIT_FSIZE, &limit) != 0) {
                _exit(127);
            }
        }
        execv(program, (char *const *)argv);
        _exit(127);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status)) {
        fail_msg("%s was ended by signal %d", program, WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    }
    o->status = WEXITSTATUS(status);
    o->out[0] = '\0';
    if (stdout_target == NULL && !stdout_reader_gone) {
        read_text(out_path, o->out);
    }
    read_text(err_path, o->err);
}

static void run_verify(const struct world *w, const char *const *args, struct outcome *o)
{
    run_program(w, w->verify, args, o);
}

/* Asserts the exit status and that stderr contains each of the phrases. */
static void expect(const struct outcome *o, int status, const char *phrase, const char *other)
{
    if (o->status != status || (phrase && !strstr(o->err, phrase)) ||
        (other && !strstr(o->err, other))) {
        fail_msg("the program exited %d (wanted %d), stderr:\n%s\nwanted to see: \"%s\"%s%s%s",
                 o->status, status, o->err, phrase ? phrase : "", other ? " and \"" : "",
                 other ? other : "", other ? "\"" : "");
    }
}

/* Asserts that stderr reports one failure: the check that failed ends the
 * walk, and no later check speaks of what follows from it. */
static void expect_one_failure(const struct outcome *o)
{
    const char *first = strstr(o->err, "FAILED");
    if (first == NULL || strstr(first + 1, "FAILED") != NULL) {
        fail_msg("wanted one FAILED line, stderr:\n%s", o->err);
    }
}

/* Runs the verifier with `args` into `o` and asserts that it fails (exit 1)
 * once, saying `phrase` and `other` (either may be NULL). */
static void expect_failed_once(const struct world *w, const char *const *args, struct outcome *o,
                               const char *phrase, const char *other)
{
    run_verify(w, args, o);
    expect(o, 1, phrase, other);
    expect_one_failure(o);
}

static void head_arg(const char *dir, char out[PATH_SIZE])
{
    path_join(out, dir, "head.pb");
}

static void sequence_phrase(uint64_t sequence, char out[64])
{
    snprintf(out, 64, "at sequence %llu:", (unsigned long long)sequence);
}

/* The first sequence of the pair of leaves (the stored level-1 node) that
 * holds `sequence`: where a record rewritten with its leaf hash is named. */
static uint64_t pair_first(uint64_t sequence)
{
    return ((sequence - 1) & ~UINT64_C(1)) + 1;
}

/* Raw LMDB access, as an attacker with the file has it. */
struct raw {
    MDB_env *env;
    MDB_txn *txn;
};

static MDB_dbi raw_open(struct raw *raw, const char *dir, const char *db)
{
    assert_int_equal(mdb_env_create(&raw->env), MDB_SUCCESS);
    assert_int_equal(mdb_env_set_maxdbs(raw->env, 64), MDB_SUCCESS);
    assert_int_equal(mdb_env_set_mapsize(raw->env, (size_t)1 << 30), MDB_SUCCESS);
    assert_int_equal(mdb_env_open(raw->env, dir, 0, 0600), MDB_SUCCESS);
    assert_int_equal(mdb_txn_begin(raw->env, NULL, 0, &raw->txn), MDB_SUCCESS);
    MDB_dbi dbi;
    assert_int_equal(mdb_dbi_open(raw->txn, db, 0, &dbi), MDB_SUCCESS);
    return dbi;
}

static MDB_dbi raw_db(struct raw *raw, const char *db)
{
    MDB_dbi dbi;
    assert_int_equal(mdb_dbi_open(raw->txn, db, 0, &dbi), MDB_SUCCESS);
    return dbi;
}

static void raw_close(struct raw *raw)
{
    assert_int_equal(mdb_txn_commit(raw->txn), MDB_SUCCESS);
    mdb_env_close(raw->env);
}

/* A copy of the record of `sequence` (the caller frees it). */
static uint8_t *raw_record(struct raw *raw, MDB_dbi log, uint64_t sequence, size_t *size_out)
{
    uint8_t key[8];
    store_u64_to_key(sequence, key);
    MDB_val k = {8, key}, v;
    assert_int_equal(mdb_get(raw->txn, log, &k, &v), MDB_SUCCESS);
    uint8_t *record = malloc(v.mv_size);
    assert_non_null(record);
    memcpy(record, v.mv_data, v.mv_size);
    *size_out = v.mv_size;
    return record;
}

/* Writes `record` (borrowed) as the record of `sequence`, with its leaf
 * hash recomputed, as a forger who knows the leaf rule does. */
static void raw_put_record(struct raw *raw, MDB_dbi log, MDB_dbi leaf, uint64_t sequence,
                           uint8_t *record, size_t size)
{
    uint8_t key[8];
    store_u64_to_key(sequence, key);
    MDB_val k = {8, key};
    uint8_t hash[MERKLE_HASH_BYTES];
    merkle_leaf_hash(record, size, hash);
    MDB_val new_record = {size, record}, new_leaf = {sizeof hash, hash};
    assert_int_equal(mdb_put(raw->txn, log, &k, &new_record, 0), MDB_SUCCESS);
    assert_int_equal(mdb_put(raw->txn, leaf, &k, &new_leaf, 0), MDB_SUCCESS);
}

/* Swaps the values of two sequences' keys in one database. */
static void raw_swap(struct raw *raw, MDB_dbi dbi, uint64_t a, uint64_t b)
{
    uint8_t key_a[8], key_b[8];
    store_u64_to_key(a, key_a);
    store_u64_to_key(b, key_b);
    MDB_val ka = {8, key_a}, kb = {8, key_b}, va, vb;
    assert_int_equal(mdb_get(raw->txn, dbi, &ka, &va), MDB_SUCCESS);
    assert_int_equal(mdb_get(raw->txn, dbi, &kb, &vb), MDB_SUCCESS);
    uint8_t *copy_a = malloc(va.mv_size), *copy_b = malloc(vb.mv_size);
    assert_non_null(copy_a);
    assert_non_null(copy_b);
    memcpy(copy_a, va.mv_data, va.mv_size);
    memcpy(copy_b, vb.mv_data, vb.mv_size);
    MDB_val new_a = {vb.mv_size, copy_b}, new_b = {va.mv_size, copy_a};
    assert_int_equal(mdb_put(raw->txn, dbi, &ka, &new_a, 0), MDB_SUCCESS);
    assert_int_equal(mdb_put(raw->txn, dbi, &kb, &new_b, 0), MDB_SUCCESS);
    free(copy_a);
    free(copy_b);
}

/* --- tests ------------------------------------------------------------------- */

static void test_verify_good_backup_passes(void **state)
{
    struct world *w = *state;
    char dir[PATH_SIZE], head[PATH_SIZE];
    copy_backup(w, "good", dir);
    head_arg(dir, head);
    struct outcome o;
    const char *with_head[] = {"--head", head, dir, NULL};
    run_verify(w, with_head, &o);
    expect(&o, 0, NULL, NULL);
    /* Its tree is whole: nothing is said of an unfinished rebuild. */
    assert_null(strstr(o.err, "a rebuild did not finish"));
    char summary[128];
    snprintf(summary, sizeof summary, "verified: %llu events", (unsigned long long)w->head);
    assert_non_null(strstr(o.out, summary));
    assert_non_null(strstr(o.out, "extends the saved head"));
    assert_non_null(strstr(o.out, "views agree"));
    /* Its subscription ids are each one customer's: no finding. */
    assert_null(strstr(o.out, "finding:"));
    /* No --public-key: the head's own key is used, and that is said. */
    assert_non_null(strstr(o.err, "any key would pass: pass --public-key"));
    /* Without a head, without views, and quietly. */
    const char *plain[] = {"--no-views", dir, NULL};
    run_verify(w, plain, &o);
    expect(&o, 0, NULL, NULL);
    assert_non_null(strstr(o.out, summary));
    /* A key with no head to check it against is said to check nothing. */
    const char *key_only[] = {"--no-views", "--public-key",
                              "0000000000000000000000000000000000000000000000000000000000000000",
                              dir, NULL};
    run_verify(w, key_only, &o);
    expect(&o, 0, NULL, NULL);
    assert_non_null(strstr(o.err, "no key was checked; pass --head FILE"));
    /* --quiet says nothing of it either. */
    const char *key_only_quiet[] = {
        "--quiet",
        "--no-views",
        "--public-key",
        "0000000000000000000000000000000000000000000000000000000000000000",
        dir,
        NULL};
    run_verify(w, key_only_quiet, &o);
    expect(&o, 0, NULL, NULL);
    assert_string_equal(o.out, "");
    assert_string_equal(o.err, "");
    const char *quiet[] = {"--quiet", "--head", head, dir, NULL};
    run_verify(w, quiet, &o);
    expect(&o, 0, NULL, NULL);
    assert_string_equal(o.out, "");
    assert_string_equal(o.err, "");
    /* Verifying a backup writes nothing into it, not even a lock file. */
    char lock[PATH_SIZE + 16];
    snprintf(lock, sizeof lock, "%s/lock.mdb", dir);
    assert_int_not_equal(access(lock, F_OK), 0);
    test_remove_dir(dir);
}

/* A log of an earlier build that holds one subscription id under two
 * customers of a partner (tests/support/oldlog.h: also one id under
 * customers of two partners, and one bought once) verifies, and after the
 * verdict the verifier lists that id, with its holders in sequence order,
 * and no other: a finding, said to be one, with exit status 0. --quiet
 * prints nothing; --no-views, which replays nothing, lists nothing. */
static void test_verify_lists_subscription_ids_two_customers_hold(void **state)
{
    struct world *w = *state;
    char dir[PATH_SIZE], key_path[PATH_SIZE];
    path_join(dir, w->root, "shared-subscription");
    path_join(key_path, w->root, "shared-subscription.key");
    struct engine_options options = {.data_dir = dir, .no_sync = true};
    assert_int_equal(engine_init(&options, "operator", key_path), LEDGER_ERR_OK);
    struct engine *engine = NULL;
    assert_int_equal(engine_open(&options, &engine), LEDGER_ERR_OK);
    struct oldlog_shared shared;
    assert_int_equal(oldlog_shared_subscription(engine_store(engine), &shared), LEDGER_ERR_OK);
    unsigned differences = 0;
    assert_int_equal(engine_rebuild(engine, NULL, NULL, NULL, &differences), LEDGER_ERR_OK);
    engine_close(engine);

    struct outcome o;
    const char *plain[] = {dir, NULL};
    run_verify(w, plain, &o);
    expect(&o, 0, NULL, NULL);
    char expected[1024];
    snprintf(expected, sizeof expected,
             ", views agree\n"
             "finding: 1 subscription id(s) held by two or more customers of one partner, "
             "recorded before ids were unique within a partner; see docs/domain.md, "
             "\"Subscriptions\"; a finding, not a failure (the exit status does not change for "
             "it):\n"
             "  partner p-a, subscription sub-shared: customer c-2 (sequence %llu), customer c-1 "
             "(sequence %llu)\n",
             (unsigned long long)shared.first, (unsigned long long)shared.second);
    const char *said = strstr(o.out, expected);
    if (said == NULL || strcmp(said, expected) != 0 || strstr(o.out, "sub-moved") != NULL ||
        strstr(o.out, "sub-once") != NULL) {
        fail_msg("stdout:\n%s\nwanted it to end with:\n%s", o.out, expected);
    }
    assert_true(strncmp(o.out, "verified: ", 10) == 0);
    const char *quiet[] = {"--quiet", dir, NULL};
    run_verify(w, quiet, &o);
    expect(&o, 0, NULL, NULL);
    assert_string_equal(o.out, "");
    const char *log_only[] = {"--no-views", dir, NULL};
    run_verify(w, log_only, &o);
    expect(&o, 0, NULL, NULL);
    assert_null(strstr(o.out, "finding:"));
    test_remove_dir(dir);
}

/* A head saved earlier, when the log was shorter, is extended by the history. */
static void test_verify_earlier_head_is_extended(void **state)
{
    struct world *w = *state;
    char dir[PATH_SIZE], head[PATH_SIZE];
    copy_backup(w, "extended", dir);
    head_arg(w->early, head);
    struct outcome o;
    const char *args[] = {"--no-views", "--head", head, dir, NULL};
    run_verify(w, args, &o);
    expect(&o, 0, NULL, NULL);
    assert_non_null(strstr(o.out, "extends the saved head"));
    /* The early backup itself verifies, and the final head is past its end. */
    head_arg(w->early, head);
    const char *early[] = {"--head", head, w->early, NULL};
    run_verify(w, early, &o);
    expect(&o, 0, NULL, NULL);
    char final_head[PATH_SIZE], phrase[64];
    head_arg(w->backup, final_head);
    const char *short_log[] = {"--no-views", "--head", final_head, w->early, NULL};
    run_verify(w, short_log, &o);
    sequence_phrase(w->early_head + 1, phrase);
    expect(&o, 1, phrase, "history truncated");
    test_remove_dir(dir);
}

/* (a) One byte of one record flipped in the file. */
/* The data file of the copy in `dir`, whole, for a test to alter in place;
 * written back by data_file_write. */
static uint8_t *data_file_read(const char *dir, long *size_out)
{
    char path[PATH_SIZE];
    path_join(path, dir, "data.mdb");
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long size = ftell(f);
    assert_true(size > 0);
    uint8_t *bytes = malloc((size_t)size);
    assert_non_null(bytes);
    rewind(f);
    assert_int_equal(fread(bytes, 1, (size_t)size, f), (size_t)size);
    assert_int_equal(fclose(f), 0);
    *size_out = size;
    return bytes;
}

static void data_file_write(const char *dir, uint8_t *bytes, long size)
{
    char path[PATH_SIZE];
    path_join(path, dir, "data.mdb");
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, (size_t)size, f), (size_t)size);
    assert_int_equal(fclose(f), 0);
    free(bytes);
}

/* Where `pattern` occurs in `bytes`, which it must do exactly once. */
static long find_once(const uint8_t *bytes, long size, const void *pattern, size_t pattern_size)
{
    const uint8_t *p = pattern;
    long found = -1;
    unsigned occurrences = 0;
    for (long at = 0; at + (long)pattern_size <= size; at++) {
        if (bytes[at] == p[0] && memcmp(bytes + at, p, pattern_size) == 0) {
            found = at;
            occurrences++;
        }
    }
    assert_int_equal(occurrences, 1);
    return found;
}

static void test_verify_flipped_record_byte_names_its_sequence(void **state)
{
    struct world *w = *state;
    char dir[PATH_SIZE], head[PATH_SIZE];
    copy_backup(w, "flipped", dir);
    long size = 0;
    uint8_t *bytes = data_file_read(dir, &size);
    /* The record's bytes occur once in the file: in the log database. */
    long found = find_once(bytes, size, w->flip_record, w->flip_record_size);
    bytes[found + (long)w->flip_record_size / 2] ^= 0x20;
    data_file_write(dir, bytes, size);

    char phrase[64];
    sequence_phrase(w->flip_sequence, phrase);
    head_arg(dir, head);
    struct outcome o;
    const char *args[] = {"--head", head, dir, NULL};
    expect_failed_once(w, args, &o, phrase, "leaf hash");
    const char *no_head[] = {"--no-views", dir, NULL};
    expect_failed_once(w, no_head, &o, phrase, "leaf hash");
    test_remove_dir(dir);
}

/* Derives every index and view of the copy in `dir` again from its log, as
 * `ledgerd rebuild` does (a tamperer covering their tracks), and checks that
 * something changed. */
static void derive_again(const char *dir)
{
    struct engine_options options = {.data_dir = dir, .no_sync = true, .scratch = true};
    struct engine *engine = NULL;
    assert_int_equal(engine_open(&options, &engine), LEDGER_ERR_OK);
    unsigned differences = 0;
    assert_int_equal(engine_rebuild(engine, NULL, NULL, NULL, &differences), LEDGER_ERR_OK);
    assert_true(differences > 0);
    engine_close(engine);
}

/* Deletes the last TAIL_DELETED records from the log of the copy in `dir`,
 * and their leaf hashes too when `leaves` is set. */
static void cut_tail(const struct world *w, const char *dir, bool leaves)
{
    struct raw raw;
    MDB_dbi log = raw_open(&raw, dir, "log");
    MDB_dbi leaf = raw_db(&raw, "leaf");
    for (uint64_t s = w->head - TAIL_DELETED + 1; s <= w->head; s++) {
        uint8_t key[8];
        store_u64_to_key(s, key);
        MDB_val k = {8, key};
        assert_int_equal(mdb_del(raw.txn, log, &k, NULL), MDB_SUCCESS);
        if (leaves) {
            assert_int_equal(mdb_del(raw.txn, leaf, &k, NULL), MDB_SUCCESS);
        }
    }
    raw_close(&raw);
}

/* What the verifier says when `witness` still covers the cut tail. */
static void cut_back_phrase(const struct world *w, const char *witness, char out[160])
{
    uint64_t first = w->head - TAIL_DELETED + 1;
    snprintf(out, 160,
             "the log ends at sequence %llu but %s %llu records: sequences %llu..%llu are "
             "missing (the log was cut back?)",
             (unsigned long long)first - 1, witness, (unsigned long long)w->head,
             (unsigned long long)first, (unsigned long long)w->head);
}

/* (b) The tail of the log deleted: whatever still counts the records that
 * are gone (the leaf hashes, the stored tree, a saved head) names the first
 * missing sequence, and how many are missing. */
static void test_verify_truncated_tail_names_the_first_missing_sequence(void **state)
{
    struct world *w = *state;
    uint64_t first = w->head - TAIL_DELETED + 1;
    char dir[PATH_SIZE], head[PATH_SIZE], phrase[64];
    sequence_phrase(first, phrase);
    char by_leaves[160], by_tree[160], by_head[160];
    cut_back_phrase(w, "the leaf hashes cover", by_leaves);
    cut_back_phrase(w, "the stored Merkle tree covers", by_tree);
    cut_back_phrase(w, "the saved head covers", by_head);
    struct outcome o;
    const char *no_head[] = {dir, NULL};
    const char *with_head[] = {"--head", head, dir, NULL};
    /* Cut from the log alone, the leaf hashes still cover the tail; from the
     * log and its leaf hashes, the stored tree; from everything (the
     * derived databases replayed from the shortened log), only the saved
     * head tells, and nothing can without one. A saved head, when given, is
     * named first. */
    const struct {
        const char *copy;
        bool leaves, derived;
        const char *without_head; /* NULL: verifies */
    } cases[] = {
        {"cut-log", false, false, by_leaves},
        {"cut-log-leaf", true, false, by_tree},
        {"cut-all", true, true, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        copy_backup(w, cases[i].copy, dir);
        head_arg(dir, head);
        cut_tail(w, dir, cases[i].leaves);
        if (cases[i].derived) {
            derive_again(dir);
        }
        run_verify(w, no_head, &o);
        if (cases[i].without_head) {
            expect(&o, 1, phrase, cases[i].without_head);
            expect_one_failure(&o);
        } else {
            expect(&o, 0, NULL, NULL);
        }
        run_verify(w, with_head, &o);
        expect(&o, 1, phrase, by_head);
        assert_non_null(strstr(o.err, "history truncated: "));
        expect_one_failure(&o);
        test_remove_dir(dir);
    }
}

/* (b') One record deleted inside the log, with or without its leaf hash:
 * the hole is named, as a failed verification (not a usage error). */
static void test_verify_log_hole_names_its_sequence(void **state)
{
    struct world *w = *state;
    uint64_t hole = w->head / 2;
    char dir[PATH_SIZE], phrase[64], found[96];
    sequence_phrase(hole, phrase);
    snprintf(found, sizeof found, "not dense: expected %llu, found %llu", (unsigned long long)hole,
             (unsigned long long)hole + 1);
    const char *args[] = {dir, NULL};
    struct outcome o;
    for (int leaves = 0; leaves < 2; leaves++) {
        copy_backup(w, leaves ? "hole-leaf" : "hole", dir);
        struct raw raw;
        MDB_dbi log = raw_open(&raw, dir, "log");
        uint8_t key[8];
        store_u64_to_key(hole, key);
        MDB_val k = {8, key};
        assert_int_equal(mdb_del(raw.txn, log, &k, NULL), MDB_SUCCESS);
        if (leaves) {
            assert_int_equal(mdb_del(raw.txn, raw_db(&raw, "leaf"), &k, NULL), MDB_SUCCESS);
        }
        raw_close(&raw);
        run_verify(w, args, &o);
        expect(&o, 1, phrase, found);
        expect_one_failure(&o);
        test_remove_dir(dir);
    }
}

/* A log key of 7 bytes in place of sequence 1's (the record moved under
 * it) is said to be no sequence, at sequence 1, not taken for sequence 0. */
static void test_verify_log_key_of_another_length_is_named(void **state)
{
    struct world *w = *state;
    char dir[PATH_SIZE];
    copy_backup(w, "log-key-7", dir);
    struct raw raw;
    MDB_dbi log = raw_open(&raw, dir, "log");
    size_t size = 0;
    uint8_t *record = raw_record(&raw, log, 1, &size);
    uint8_t key[8];
    store_u64_to_key(1, key);
    MDB_val k = {8, key}, shorter = {7, key}, value = {size, record};
    assert_int_equal(mdb_del(raw.txn, log, &k, NULL), MDB_SUCCESS);
    assert_int_equal(mdb_put(raw.txn, log, &shorter, &value, 0), MDB_SUCCESS);
    raw_close(&raw);
    free(record);
    const char *args[] = {"--no-views", dir, NULL};
    struct outcome o;
    expect_failed_once(w, args, &o,
                       "FAILED at sequence 1: the log holds a key of 7 bytes where sequence 1's "
                       "(8 bytes, big-endian) should be (the file was altered)\n",
                       NULL);
    test_remove_dir(dir);
}

/* (c) Two records swapped: the verifier names the first of them, whether or
 * not the attacker swapped their leaf hashes too. */
static void test_verify_reordered_records_name_the_first(void **state)
{
    struct world *w = *state;
    uint64_t a = w->head / 3, b = 2 * w->head / 3;
    char phrase[64], named[96], head[PATH_SIZE];
    sequence_phrase(a, phrase);
    snprintf(named, sizeof named, "names sequence %llu", (unsigned long long)b);
    struct outcome o;

    char dir[PATH_SIZE];
    copy_backup(w, "swapped", dir);
    struct raw raw;
    raw_swap(&raw, raw_open(&raw, dir, "log"), a, b);
    raw_close(&raw);
    head_arg(dir, head);
    const char *args[] = {"--head", head, dir, NULL};
    expect_failed_once(w, args, &o, phrase, "leaf hash");
    test_remove_dir(dir);

    char both[PATH_SIZE];
    copy_backup(w, "swapped-both", both);
    MDB_dbi log = raw_open(&raw, both, "log");
    raw_swap(&raw, log, a, b);
    raw_swap(&raw, raw_db(&raw, "leaf"), a, b);
    raw_close(&raw);
    head_arg(both, head);
    const char *args_both[] = {"--head", head, both, NULL};
    expect_failed_once(w, args_both, &o, phrase, named);
    test_remove_dir(both);
}

/* Rewrites the record at `sequence` as its bytes followed by `tail`, with
 * its leaf hash recomputed, in a copy of the backup. */
static void append_to_record(const char *dir, uint64_t sequence, const uint8_t *tail,
                             size_t tail_size)
{
    struct raw raw;
    MDB_dbi log = raw_open(&raw, dir, "log");
    MDB_dbi leaf = raw_db(&raw, "leaf");
    uint8_t key[8];
    store_u64_to_key(sequence, key);
    MDB_val k = {8, key}, v;
    assert_int_equal(mdb_get(raw.txn, log, &k, &v), MDB_SUCCESS);
    size_t size = v.mv_size + tail_size;
    uint8_t *record = malloc(size);
    assert_non_null(record);
    memcpy(record, v.mv_data, v.mv_size);
    memcpy(record + v.mv_size, tail, tail_size);
    raw_put_record(&raw, log, leaf, sequence, record, size);
    raw_close(&raw);
    free(record);
}

/* The log check reads each record's sequence from its protobuf framing
 * without unpacking it: broken framing is named at its sequence, and a
 * second sequence field wins over the first, as in any protobuf parser. */
static void test_verify_record_framing_is_checked(void **state)
{
    struct world *w = *state;
    uint64_t s = w->flip_sequence;
    char dir[PATH_SIZE], phrase[64], named[96];
    sequence_phrase(s, phrase);
    struct outcome o;
    const char *args[] = {"--no-views", dir, NULL};

    /* Field 1's tag with no value after it: the framing ends mid-field. */
    const uint8_t cut[] = {0x08};
    copy_backup(w, "framing-cut", dir);
    append_to_record(dir, s, cut, sizeof cut);
    expect_failed_once(w, args, &o, phrase, "does not decode");
    test_remove_dir(dir);

    /* A length that runs past the record's end. */
    const uint8_t overrun[] = {0x12, 0x7f, 'x'};
    copy_backup(w, "framing-overrun", dir);
    append_to_record(dir, s, overrun, sizeof overrun);
    expect_failed_once(w, args, &o, phrase, "does not decode");
    test_remove_dir(dir);

    /* A wire type no protobuf writer uses (7), field 1 (the sequence, a
     * varint) sent as a fixed64, a fixed32 or bytes, a field numbered 0,
     * which protobuf reserves, a varint of eleven bytes (ten hold any 64
     * bits), a fixed32 or a fixed64 the record ends inside, and a tag or a
     * length the record ends inside: none is framing a record can have. */
    const uint8_t no_type[] = {0x9f, 0x06, 0x00};
    const uint8_t fixed_sequence[] = {0x09, 0x05, 0, 0, 0, 0, 0, 0, 0};
    const uint8_t field_0[] = {0x00, 0x00};
    const uint8_t fixed32_sequence[] = {0x0d, 0x05, 0, 0, 0};
    const uint8_t bytes_sequence[] = {0x0a, 0x01, 0x05};
    const uint8_t fixed32_cut[] = {0x9d, 0x06, 1, 2};
    const uint8_t fixed64_cut[] = {0x99, 0x06, 1, 2, 3, 4, 5, 6, 7};
    const uint8_t long_varint[] = {0x98, 0x06, 0xff, 0xff, 0xff, 0xff, 0xff,
                                   0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    const uint8_t tag_cut[] = {0x98};
    const uint8_t length_cut[] = {0x9a, 0x06, 0x80};
    const struct {
        const char *label;
        const uint8_t *tail;
        size_t size;
    } broken[] = {
        {"framing-no-type", no_type, sizeof no_type},
        {"framing-fixed-sequence", fixed_sequence, sizeof fixed_sequence},
        {"framing-field-0", field_0, sizeof field_0},
        {"framing-fixed32-sequence", fixed32_sequence, sizeof fixed32_sequence},
        {"framing-bytes-sequence", bytes_sequence, sizeof bytes_sequence},
        {"framing-fixed32-cut", fixed32_cut, sizeof fixed32_cut},
        {"framing-fixed64-cut", fixed64_cut, sizeof fixed64_cut},
        {"framing-long-varint", long_varint, sizeof long_varint},
        {"framing-tag-cut", tag_cut, sizeof tag_cut},
        {"framing-length-cut", length_cut, sizeof length_cut},
    };
    for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++) {
        copy_backup(w, broken[i].label, dir);
        append_to_record(dir, s, broken[i].tail, broken[i].size);
        run_verify(w, args, &o);
        expect(&o, 1, phrase, "does not decode");
        expect_one_failure(&o);
        test_remove_dir(dir);
    }

    /* Field 1 again, naming sequence 5: the last occurrence is the value. */
    const uint8_t again[] = {0x08, 0x05};
    copy_backup(w, "framing-again", dir);
    append_to_record(dir, s, again, sizeof again);
    run_verify(w, args, &o);
    snprintf(named, sizeof named, "names sequence 5 ");
    expect(&o, 1, phrase, named);
    expect_one_failure(&o);
    test_remove_dir(dir);

    /* Unknown fields (number 99: a varint, a fixed32, a fixed64) are
     * allowed: newer builds add fields; the stored tree, not the framing,
     * then tells of the change, at the pair of sequences that holds the
     * record. Each kind is also the record's last field, ending where the
     * record ends, and a varint may take ten bytes (a negative int64 does). */
    const uint8_t unknown[] = {0x98, 0x06, 0x01, 0x9d, 0x06, 1, 2, 3, 4, 0x99,
                               0x06, 1,    2,    3,    4,    5, 6, 7, 8};
    const uint8_t unknown_fixed32[] = {0x99, 0x06, 1, 2, 3, 4, 5, 6, 7, 8, 0x9d, 0x06, 1, 2, 3, 4};
    const uint8_t unknown_varint[] = {0x98, 0x06, 0xff, 0xff, 0xff, 0xff,
                                      0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    const struct {
        const char *label;
        const uint8_t *tail;
        size_t size;
    } allowed[] = {
        {"framing-unknown", unknown, sizeof unknown},
        {"framing-unknown-fixed32", unknown_fixed32, sizeof unknown_fixed32},
        {"framing-unknown-varint", unknown_varint, sizeof unknown_varint},
    };
    sequence_phrase(pair_first(s), phrase);
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++) {
        copy_backup(w, allowed[i].label, dir);
        append_to_record(dir, s, allowed[i].tail, allowed[i].size);
        run_verify(w, args, &o);
        expect(&o, 1, phrase, "stored Merkle node over sequences");
        expect_one_failure(&o);
        assert_null(strstr(o.err, "does not decode"));
        test_remove_dir(dir);
    }
}

/* Rewrites the record at `sequence` in the copy in `dir` so that it still
 * decodes and names its sequence, with its leaf hash recomputed. */
static void rewrite_command_id(const char *dir, uint64_t sequence)
{
    struct raw raw;
    MDB_dbi log = raw_open(&raw, dir, "log");
    MDB_dbi leaf = raw_db(&raw, "leaf");
    size_t size = 0;
    uint8_t *record = raw_record(&raw, log, sequence, &size);
    /* Change the record so that it still decodes and names its sequence:
     * the first letter of its command id, in upper case ("cmd-17" becomes
     * "Cmd-17"), a rewrite a reader would not notice. */
    Ledger__V1__Event *event = NULL;
    assert_int_equal(codec_event_unpack(record, size, &event), LEDGER_ERR_OK);
    size_t id_size = strlen(event->command_id);
    assert_true(id_size > 0 && event->command_id[0] >= 'a' && event->command_id[0] <= 'z');
    size_t at = size;
    for (size_t i = 0; i + id_size <= size && at == size; i++) {
        if (memcmp(record + i, event->command_id, id_size) == 0) {
            at = i;
        }
    }
    codec_event_free(event);
    assert_true(at < size);
    record[at] = (uint8_t)(record[at] - 'a' + 'A');
    assert_int_equal(codec_event_unpack(record, size, &event), LEDGER_ERR_OK);
    assert_int_equal(event->sequence, sequence);
    assert_true(event->command_id[0] >= 'A' && event->command_id[0] <= 'Z');
    codec_event_free(event);
    raw_put_record(&raw, log, leaf, sequence, record, size);
    raw_close(&raw);
    free(record);
}

/* A record rewritten with its leaf hash recomputed: the stored tree's node
 * over it names where; once the tree is derived again from the rewritten
 * records, only the saved head's root tells (and nothing can without one:
 * that is what signed heads are for). */
static void test_verify_rewritten_history_fails(void **state)
{
    struct world *w = *state;
    char dir[PATH_SIZE], head[PATH_SIZE];
    copy_backup(w, "rewritten", dir);
    rewrite_command_id(dir, w->flip_sequence);

    head_arg(dir, head);
    struct outcome o;
    /* The stored tree still holds the node over the original record: it
     * names the pair of sequences, with or without a saved head. */
    const char *args[] = {"--no-views", "--head", head, dir, NULL};
    run_verify(w, args, &o);
    char phrase[64], node[96];
    sequence_phrase(pair_first(w->flip_sequence), phrase);
    snprintf(node, sizeof node, "node over sequences %llu..%llu",
             (unsigned long long)pair_first(w->flip_sequence),
             (unsigned long long)pair_first(w->flip_sequence) + 1);
    expect(&o, 1, phrase, node);
    expect_one_failure(&o);
    const char *no_head[] = {"--no-views", dir, NULL};
    expect_failed_once(w, no_head, &o, phrase, node);

    /* The tree derived again from the rewritten records (as a rewriter with
     * write access would): only a head saved before tells, at its size. */
    derive_again(dir);
    run_verify(w, args, &o);
    sequence_phrase(w->head, phrase);
    expect(&o, 1, phrase, "history rewritten");
    expect_one_failure(&o);
    run_verify(w, no_head, &o);
    expect(&o, 0, NULL, NULL);
    assert_non_null(strstr(o.out, "verified: "));
    test_remove_dir(dir);

    /* A record the early head covers rewritten the same way, and a later
     * record altered in place: the walk stops at the early head's size,
     * the first bad sequence, and says nothing of the later record. */
    copy_backup(w, "rewritten-early", dir);
    rewrite_command_id(dir, w->early_head / 2);
    derive_again(dir);
    struct raw raw;
    MDB_dbi log = raw_open(&raw, dir, "log");
    uint8_t key[8];
    store_u64_to_key(w->flip_sequence, key);
    size_t size = 0;
    uint8_t *record = raw_record(&raw, log, w->flip_sequence, &size);
    record[size - 1] ^= 0x01;
    MDB_val k = {sizeof key, key}, changed = {size, record};
    assert_int_equal(mdb_put(raw.txn, log, &k, &changed, 0), MDB_SUCCESS);
    raw_close(&raw);
    free(record);
    head_arg(w->early, head);
    run_verify(w, args, &o);
    sequence_phrase(w->early_head, phrase);
    expect(&o, 1, phrase, "history rewritten");
    expect_one_failure(&o);
    test_remove_dir(dir);
}

/* Derives the Merkle tree of the copy in `dir` again from its leaf hashes,
 * and nothing else (a rewriter who covered the tree but not the views). */
static void derive_tree_again(const char *dir)
{
    struct store_options options = {.dir = dir};
    struct store *store = NULL;
    assert_int_equal(store_open(&options, &store), LEDGER_ERR_OK);
    struct store_txn *txn = NULL;
    assert_int_equal(store_begin(store, true, &txn), LEDGER_ERR_OK);
    assert_int_equal(store_drop(txn, STORE_DB_MERKLE), LEDGER_ERR_OK);
    uint64_t last = store_last_sequence(txn);
    for (uint64_t s = 1; s <= last; s++) {
        uint8_t leaf[MERKLE_HASH_BYTES];
        assert_int_equal(store_leaf(txn, s, leaf), LEDGER_ERR_OK);
        assert_int_equal(merkle_append(txn, s, leaf), LEDGER_ERR_OK);
    }
    assert_int_equal(store_commit(txn), LEDGER_ERR_OK);
    store_close(store);
}

/* A record rewritten with its leaf hash and the tree over it, but not the
 * views: the log checks pass (no saved head), and the replay names the
 * record it cannot apply, and why. Here the customer's id in the record
 * changes case, so the record claims a version of a stream the log before
 * it never started. */
static void rewrite_for_replay_stop(const struct world *w, const char *dir);

static void test_verify_replay_names_the_record_it_stops_at(void **state)
{
    struct world *w = *state;
    char dir[PATH_SIZE];
    copy_backup(w, "replay-stop", dir);
    rewrite_for_replay_stop(w, dir);

    struct outcome o;
    const char *log_only[] = {"--no-views", dir, NULL};
    run_verify(w, log_only, &o);
    expect(&o, 0, NULL, NULL);
    const char *args[] = {dir, NULL};
    run_verify(w, args, &o);
    char phrase[64];
    sequence_phrase(w->flip_sequence, phrase);
    expect(&o, 1, phrase, "replaying the log: the record is version ");
    assert_non_null(strstr(o.err, "which the log before it makes version 1"));
    test_remove_dir(dir);
}

/* Rewrites the flip record of the copy in `dir` with its leaf hash and the
 * tree, so that its customer's id changes case (see above). */
static void rewrite_for_replay_stop(const struct world *w, const char *dir)
{
    struct raw raw;
    MDB_dbi log = raw_open(&raw, dir, "log");
    MDB_dbi leaf = raw_db(&raw, "leaf");
    size_t size = 0;
    uint8_t *record = raw_record(&raw, log, w->flip_sequence, &size);
    Ledger__V1__Event *event = NULL;
    assert_int_equal(codec_event_unpack(record, size, &event), LEDGER_ERR_OK);
    char customer[80];
    snprintf(customer, sizeof customer, "%s", event->customer_id);
    codec_event_free(event);
    size_t id_size = strlen(customer);
    assert_true(id_size > 0 && customer[0] >= 'a' && customer[0] <= 'z');
    /* The field's bytes: tag, length, then the id. */
    size_t at = size;
    for (size_t i = 1; i + id_size <= size && at == size; i++) {
        if (record[i - 1] == id_size && memcmp(record + i, customer, id_size) == 0) {
            at = i;
        }
    }
    assert_true(at < size);
    record[at] = (uint8_t)(record[at] - 'a' + 'A');
    assert_int_equal(codec_event_unpack(record, size, &event), LEDGER_ERR_OK);
    assert_true(event->customer_id[0] >= 'A' && event->customer_id[0] <= 'Z');
    codec_event_free(event);
    raw_put_record(&raw, log, leaf, w->flip_sequence, record, size);
    raw_close(&raw);
    free(record);
    derive_tree_again(dir);
}

/* --- views and indexes that differ from the log ------------------------------ */

/* The key of a row of the purchase's customer: partner NUL customer NUL
 * then `tail`; its size. */
static size_t customer_key(const struct world *w, const char *customer, const void *tail,
                           size_t tail_size, uint8_t out[STORE_KEY_BYTES_MAX])
{
    Ledger__V1__Event *event = NULL;
    assert_int_equal(codec_event_unpack(w->flip_record, w->flip_record_size, &event),
                     LEDGER_ERR_OK);
    size_t partner_size = strlen(event->partner_id) + 1;
    customer = customer ? customer : event->customer_id;
    size_t customer_size = strlen(customer) + 1;
    assert_true(partner_size + customer_size + tail_size <= STORE_KEY_BYTES_MAX);
    memcpy(out, event->partner_id, partner_size);
    memcpy(out + partner_size, customer, customer_size);
    memcpy(out + partner_size + customer_size, tail, tail_size);
    codec_event_free(event);
    return partner_size + customer_size + tail_size;
}

/* "partner/customer/": how the verifier writes the start of such a key. */
static void customer_text(const struct world *w, char out[160])
{
    Ledger__V1__Event *event = NULL;
    assert_int_equal(codec_event_unpack(w->flip_record, w->flip_record_size, &event),
                     LEDGER_ERR_OK);
    snprintf(out, 160, "%s/%s/", event->partner_id, event->customer_id);
    codec_event_free(event);
}

/* The purchase's reservation row key; its size. */
static size_t reservation_key(const struct world *w, uint8_t out[STORE_KEY_BYTES_MAX])
{
    Ledger__V1__Event *event = NULL;
    assert_int_equal(codec_event_unpack(w->flip_record, w->flip_record_size, &event),
                     LEDGER_ERR_OK);
    const char *id = event->reservation_purchased->reservation_id;
    size_t size = customer_key(w, NULL, id, strlen(id), out);
    codec_event_free(event);
    return size;
}

/* An order key: the customer's (or `customer`'s) prefix, then the sequence. */
static size_t order_key(const struct world *w, const char *customer, uint64_t sequence,
                        uint8_t out[STORE_KEY_BYTES_MAX])
{
    uint8_t tail[8];
    store_u64_to_key(sequence, tail);
    return customer_key(w, customer, tail, sizeof tail, out);
}

/* Puts (value non-NULL) or deletes one entry of database `db` of the copy. */
static void raw_change(const char *dir, const char *db, const uint8_t *key, size_t key_size,
                       const void *value, size_t value_size)
{
    struct raw raw;
    MDB_dbi dbi = raw_open(&raw, dir, db);
    MDB_val k = {key_size, (void *)key}, v = {value_size, (void *)value};
    if (value) {
        assert_int_equal(mdb_put(raw.txn, dbi, &k, &v, 0), MDB_SUCCESS);
    } else {
        assert_int_equal(mdb_del(raw.txn, dbi, &k, NULL), MDB_SUCCESS);
    }
    raw_close(&raw);
}

/* Changes the quantity of the purchase's reservation row in the copy, and
 * returns the sequence of the event that last wrote the row. */
static uint64_t change_reservation_row(const struct world *w, const char *dir)
{
    uint8_t key[STORE_KEY_BYTES_MAX];
    size_t key_size = reservation_key(w, key);
    struct raw raw;
    MDB_dbi dbi = raw_open(&raw, dir, "reservation");
    MDB_val k = {key_size, key}, v;
    assert_int_equal(mdb_get(raw.txn, dbi, &k, &v), MDB_SUCCESS);
    Ledger__V1__ReservationRow *row =
        ledger__v1__reservation_row__unpack(NULL, v.mv_size, v.mv_data);
    assert_non_null(row);
    uint64_t written_by = row->last_sequence;
    assert_true(written_by >= w->flip_sequence);
    row->quantity += 1;
    uint8_t *bytes = NULL;
    size_t size = 0;
    assert_int_equal(codec_pack(&row->base, &bytes, &size), LEDGER_ERR_OK);
    ledger__v1__reservation_row__free_unpacked(row, NULL);
    MDB_val changed = {size, bytes};
    assert_int_equal(mdb_put(raw.txn, dbi, &k, &changed, 0), MDB_SUCCESS);
    raw_close(&raw);
    free(bytes);
    return written_by;
}

/* Runs the verifier with its views check on the copy; the copy with
 * --no-views verifies (the log is intact). */
static void verify_views_of(const struct world *w, const char *dir, struct outcome *o)
{
    const char *no_views[] = {"--no-views", dir, NULL};
    run_verify(w, no_views, o);
    expect(o, 0, NULL, NULL);
    const char *args[] = {dir, NULL};
    run_verify(w, args, o);
}

/* Asserts that the verifier named the entry `key_text` of database `db`,
 * from `sequence`, as the first bad one, with what it `said` of it. */
static void expect_entry(const struct outcome *o, const char *db, const char *key_text,
                         uint64_t sequence, const char *said)
{
    char phrase[64], entry[640];
    sequence_phrase(sequence, phrase);
    snprintf(entry, sizeof entry,
             "'%s' differs from a replay of the log: entry %s (from sequence %llu) %s\n", db,
             key_text, (unsigned long long)sequence, said);
    expect(o, 1, phrase, entry);
    expect_one_failure(o);
}

/* A view row changed: the replay check names the view, the row's key and
 * the event that wrote it. */
static void test_verify_changed_view_row_names_its_sequence(void **state)
{
    struct world *w = *state;
    char dir[PATH_SIZE], prefix[160], entry[320];
    copy_backup(w, "view-changed", dir);
    uint64_t written_by = change_reservation_row(w, dir);
    struct outcome o;
    verify_views_of(w, dir, &o);
    customer_text(w, prefix);
    snprintf(entry, sizeof entry, "%sres-%llu", prefix, (unsigned long long)w->flip_sequence);
    expect_entry(&o, "reservation", entry, written_by, "holds another value than the replay gives");
    test_remove_dir(dir);
}

/* A row deleted, and rows added that the log never wrote: each is named
 * with its sequence; a row that claims a sequence past the log names none. */
static void test_verify_deleted_and_added_view_rows_name_their_sequence(void **state)
{
    struct world *w = *state;
    char dir[PATH_SIZE], prefix[160], entry[512];
    uint8_t key[STORE_KEY_BYTES_MAX];
    customer_text(w, prefix);
    struct outcome o;

    /* The purchase's order row deleted. */
    copy_backup(w, "view-deleted", dir);
    raw_change(dir, "order", key, order_key(w, NULL, w->flip_sequence, key), NULL, 0);
    verify_views_of(w, dir, &o);
    snprintf(entry, sizeof entry, "%s%llu", prefix, (unsigned long long)w->flip_sequence);
    expect_entry(&o, "order", entry, w->flip_sequence, "is missing (the replay gives it)");
    test_remove_dir(dir);

    /* A permission change the log does not hold, at the purchase's
     * sequence: partner NUL customer NUL kind 1 NUL u64 sequence. */
    copy_backup(w, "view-added", dir);
    uint8_t tail[10] = {1, 0};
    store_u64_to_key(w->flip_sequence, tail + 2);
    const uint8_t row[] = {0x20, 0x01}; /* PermissionRow with a field set */
    raw_change(dir, "permission", key, customer_key(w, NULL, tail, sizeof tail, key), row,
               sizeof row);
    verify_views_of(w, dir, &o);
    snprintf(entry, sizeof entry, "%s1/%llu", prefix, (unsigned long long)w->flip_sequence);
    expect_entry(&o, "permission", entry, w->flip_sequence, "is one the replay does not give");
    test_remove_dir(dir);

    /* An order beyond the log's last sequence: no event wrote it. */
    copy_backup(w, "view-added-beyond", dir);
    raw_change(dir, "order", key, order_key(w, NULL, w->head + 100, key), row, sizeof row);
    verify_views_of(w, dir, &o);
    snprintf(entry, sizeof entry,
             "FAILED: view or index 'order' differs from a replay of the log: entry %s%llu is "
             "one the replay does not give; no entry records the event that wrote it, so no "
             "sequence can be named\n",
             prefix, (unsigned long long)w->head + 100);
    expect(&o, 1, entry, NULL);
    assert_null(strstr(o.err, "at sequence"));
    expect_one_failure(&o);
    test_remove_dir(dir);

    /* An order of the log's last sequence, which no event wrote either, is
     * named by it: the last sequence is in the log. */
    copy_backup(w, "view-added-last", dir);
    raw_change(dir, "order", key, order_key(w, "zz", w->head, key), row, sizeof row);
    verify_views_of(w, dir, &o);
    char *slash = strchr(prefix, '/');
    assert_non_null(slash);
    snprintf(entry, sizeof entry, "%.*s/zz/%llu", (int)(slash - prefix), prefix,
             (unsigned long long)w->head);
    expect_entry(&o, "order", entry, w->head, "is one the replay does not give");
    test_remove_dir(dir);
}

/* Several entries differ: the lowest sequence is named, whichever comes
 * first in key order, and whichever database it is in. */
static void test_verify_several_view_differences_name_the_lowest(void **state)
{
    struct world *w = *state;
    char dir[PATH_SIZE], phrase[64], prefix[160], entry[512], lowest[160];
    uint8_t key[STORE_KEY_BYTES_MAX];
    const uint8_t row[] = {0x20, 0x01};
    copy_backup(w, "view-several", dir);
    /* The purchase's order deleted, and an order of a customer that sorts
     * after every real one added, one sequence earlier. */
    raw_change(dir, "order", key, order_key(w, NULL, w->flip_sequence, key), NULL, 0);
    raw_change(dir, "order", key, order_key(w, "zz", w->flip_sequence - 1, key), row, sizeof row);
    struct outcome o;
    verify_views_of(w, dir, &o);
    sequence_phrase(w->flip_sequence - 1, phrase);
    customer_text(w, prefix);
    char *slash = strchr(prefix, '/');
    assert_non_null(slash);
    snprintf(entry, sizeof entry,
             "'order' differs from a replay of the log: 2 entries differ, the first by "
             "sequence: entry %.*s/zz/%llu (from sequence %llu) is one the replay does not give\n",
             (int)(slash - prefix), prefix, (unsigned long long)w->flip_sequence - 1,
             (unsigned long long)w->flip_sequence - 1);
    expect(&o, 1, phrase, entry);
    expect_one_failure(&o);

    /* And an order beyond the log's last sequence: counted, and said to
     * name none. */
    raw_change(dir, "order", key, order_key(w, NULL, w->head + 100, key), row, sizeof row);
    verify_views_of(w, dir, &o);
    snprintf(entry, sizeof entry,
             "'order' differs from a replay of the log: 3 entries differ, the first by "
             "sequence: entry %.*s/zz/%llu (from sequence %llu) is one the replay does not give "
             "(1 of them name no sequence)\n",
             (int)(slash - prefix), prefix, (unsigned long long)w->flip_sequence - 1,
             (unsigned long long)w->flip_sequence - 1);
    expect(&o, 1, phrase, entry);

    /* And the reservation row changed: two databases, and a last line with
     * the lowest sequence of both. */
    change_reservation_row(w, dir);
    verify_views_of(w, dir, &o);
    snprintf(lowest, sizeof lowest,
             "FAILED at sequence %llu: the first bad sequence of the 2 views and indexes that "
             "differ\n",
             (unsigned long long)w->flip_sequence - 1);
    expect(&o, 1, "'reservation' differs", lowest);
    test_remove_dir(dir);

    /* An entry that names no sequence first in key order (an order of a
     * customer that sorts before every real one, beyond the log's last
     * sequence) gives way to a later one that names a sequence. */
    copy_backup(w, "view-unnamed-first", dir);
    raw_change(dir, "order", key, order_key(w, "a", w->head + 100, key), row, sizeof row);
    raw_change(dir, "order", key, order_key(w, NULL, w->flip_sequence, key), NULL, 0);
    verify_views_of(w, dir, &o);
    sequence_phrase(w->flip_sequence, phrase);
    snprintf(entry, sizeof entry,
             "'order' differs from a replay of the log: 2 entries differ, the first by "
             "sequence: entry %s%llu (from sequence %llu) is missing (the replay gives it) (1 "
             "of them name no sequence)\n",
             prefix, (unsigned long long)w->flip_sequence, (unsigned long long)w->flip_sequence);
    expect(&o, 1, phrase, entry);
    test_remove_dir(dir);

    /* An entry that names no sequence after one that does, in key order:
     * the one that does is named. */
    copy_backup(w, "view-unnamed-last", dir);
    raw_change(dir, "order", key, order_key(w, NULL, w->flip_sequence, key), NULL, 0);
    raw_change(dir, "order", key, order_key(w, "zz", w->head + 100, key), row, sizeof row);
    verify_views_of(w, dir, &o);
    snprintf(entry, sizeof entry,
             "'order' differs from a replay of the log: 2 entries differ, the first by "
             "sequence: entry %s%llu (from sequence %llu) is missing (the replay gives it) (1 "
             "of them name no sequence)\n",
             prefix, (unsigned long long)w->flip_sequence, (unsigned long long)w->flip_sequence);
    expect(&o, 1, phrase, entry);
    test_remove_dir(dir);

    /* A database that names no sequence, after one that does: the last line
     * names the sequence the other named. */
    copy_backup(w, "view-several-unnamed", dir);
    uint64_t written_by = change_reservation_row(w, dir);
    raw_change(dir, "order", key, order_key(w, NULL, w->head + 100, key), row, sizeof row);
    verify_views_of(w, dir, &o);
    snprintf(lowest, sizeof lowest,
             "FAILED at sequence %llu: the first bad sequence of the 2 views and indexes that "
             "differ\n",
             (unsigned long long)written_by);
    expect(&o, 1, "'order' differs", lowest);
    test_remove_dir(dir);

    /* A database later in the walk that names a later sequence (an order
     * of the log's last sequence, after the reservation row): the earlier
     * stays the first bad one. */
    copy_backup(w, "view-several-later", dir);
    written_by = change_reservation_row(w, dir);
    assert_true(written_by < w->head);
    raw_change(dir, "order", key, order_key(w, "zz", w->head, key), row, sizeof row);
    verify_views_of(w, dir, &o);
    snprintf(lowest, sizeof lowest,
             "FAILED at sequence %llu: the first bad sequence of the 2 views and indexes that "
             "differ\n",
             (unsigned long long)written_by);
    expect(&o, 1, "'order' differs", lowest);
    test_remove_dir(dir);
}

/* An entry that records no sequence (a partner's name) is named by its key,
 * and said to name none; index entries (the stream, the command ids) name
 * their event. */
static void test_verify_view_entries_without_and_with_a_sequence(void **state)
{
    struct world *w = *state;
    char dir[PATH_SIZE], entry[512];
    Ledger__V1__Event *event = NULL;
    assert_int_equal(codec_event_unpack(w->flip_record, w->flip_record_size, &event),
                     LEDGER_ERR_OK);
    struct outcome o;

    copy_backup(w, "view-partner", dir);
    const char *partner = event->partner_id;
    raw_change(dir, "partner", (const uint8_t *)partner, strlen(partner), "Renamed", 7);
    verify_views_of(w, dir, &o);
    snprintf(entry, sizeof entry,
             "FAILED: view or index 'partner' differs from a replay of the log: entry %s holds "
             "another value than the replay gives; no entry records the event that wrote it, "
             "so no sequence can be named\n",
             partner);
    expect(&o, 1, entry, NULL);
    expect_one_failure(&o);
    test_remove_dir(dir);

    /* The purchase's entry in its customer's stream, deleted. */
    copy_backup(w, "view-stream", dir);
    uint8_t tail[8], key[STORE_KEY_BYTES_MAX];
    store_u64_to_key(event->stream_version, tail);
    raw_change(dir, "stream", key, customer_key(w, NULL, tail, sizeof tail, key), NULL, 0);
    verify_views_of(w, dir, &o);
    snprintf(entry, sizeof entry, "%s/%s/%llu", partner, event->customer_id,
             (unsigned long long)event->stream_version);
    expect_entry(&o, "stream", entry, w->flip_sequence, "is missing (the replay gives it)");
    test_remove_dir(dir);

    /* The purchase's command id in the command-id index: its result names
     * the event. */
    copy_backup(w, "view-command", dir);
    const char *principal = event->actor->principal_id, *command = event->command_id;
    size_t principal_size = strlen(principal) + 1, command_size = strlen(command);
    assert_true(principal_size + command_size <= sizeof key);
    memcpy(key, principal, principal_size);
    memcpy(key + principal_size, command, command_size);
    raw_change(dir, "command", key, principal_size + command_size, NULL, 0);
    verify_views_of(w, dir, &o);
    snprintf(entry, sizeof entry, "%s/%s", principal, command);
    expect_entry(&o, "command", entry, w->flip_sequence, "is missing (the replay gives it)");
    test_remove_dir(dir);
    codec_event_free(event);
}

/* Keys one byte longer and one byte shorter than a real row's key sort
 * beside it as LMDB sorts them (a prefix first): each is an entry the
 * replay does not give, never taken for the real row, and of the two, from
 * the same event, the first in key order is named. */
static void test_verify_view_keys_a_byte_longer_or_shorter(void **state)
{
    struct world *w = *state;
    char dir[PATH_SIZE], prefix[160], id_text[320], entry[640], phrase[64];
    uint8_t key[STORE_KEY_BYTES_MAX + 1];
    size_t key_size = reservation_key(w, key);
    copy_backup(w, "view-prefix", dir);
    struct raw raw;
    MDB_dbi dbi = raw_open(&raw, dir, "reservation");
    MDB_val k = {key_size, key}, v;
    assert_int_equal(mdb_get(raw.txn, dbi, &k, &v), MDB_SUCCESS);
    Ledger__V1__ReservationRow *row =
        ledger__v1__reservation_row__unpack(NULL, v.mv_size, v.mv_data);
    assert_non_null(row);
    uint64_t written_by = row->last_sequence;
    ledger__v1__reservation_row__free_unpacked(row, NULL);
    uint8_t *value = malloc(v.mv_size);
    assert_non_null(value);
    memcpy(value, v.mv_data, v.mv_size);
    MDB_val same = {v.mv_size, value};
    key[key_size] = 'x';
    MDB_val longer = {key_size + 1, key}, shorter = {key_size - 1, key};
    assert_int_equal(mdb_put(raw.txn, dbi, &longer, &same, 0), MDB_SUCCESS);
    assert_int_equal(mdb_put(raw.txn, dbi, &shorter, &same, 0), MDB_SUCCESS);
    raw_close(&raw);
    free(value);
    struct outcome o;
    verify_views_of(w, dir, &o);
    customer_text(w, prefix);
    snprintf(id_text, sizeof id_text, "%sres-%llu", prefix, (unsigned long long)w->flip_sequence);
    sequence_phrase(written_by, phrase);
    snprintf(entry, sizeof entry,
             "'reservation' differs from a replay of the log: 2 entries differ, the first by "
             "sequence: entry %.*s (from sequence %llu) is one the replay does not give\n",
             (int)strlen(id_text) - 1, id_text, (unsigned long long)written_by);
    expect(&o, 1, phrase, entry);
    expect_one_failure(&o);
    test_remove_dir(dir);
}

/* An entry that sorts after every entry the replay makes (a partner named
 * 0xFF) is found after the replay's entries end, named by its sequence. */
static void test_verify_view_entry_after_the_last_is_named(void **state)
{
    struct world *w = *state;
    char dir[PATH_SIZE], entry[64];
    copy_backup(w, "view-after-last", dir);
    /* An order: partner NUL customer NUL u64 BE sequence. */
    uint8_t key[4 + 8] = {0xFF, 0, 'z', 0};
    store_u64_to_key(w->flip_sequence, key + 4);
    const uint8_t row[] = {0x20, 0x01};
    raw_change(dir, "order", key, sizeof key, row, sizeof row);
    struct outcome o;
    verify_views_of(w, dir, &o);
    snprintf(entry, sizeof entry, "\\xff/z/%llu", (unsigned long long)w->flip_sequence);
    expect_entry(&o, "order", entry, w->flip_sequence, "is one the replay does not give");
    test_remove_dir(dir);
}

/* Databases whose differing entries name no sequence: within one, the
 * first in key order is named "by key"; of two, each is reported, and no
 * last line names a first bad sequence that none gave. */
static void test_verify_views_that_name_no_sequence(void **state)
{
    struct world *w = *state;
    char dir[PATH_SIZE], entry[640], prefix[160];
    Ledger__V1__Event *event = NULL;
    assert_int_equal(codec_event_unpack(w->flip_record, w->flip_record_size, &event),
                     LEDGER_ERR_OK);
    copy_backup(w, "view-unnamed-two", dir);
    const char *partner = event->partner_id;
    raw_change(dir, "partner", (const uint8_t *)partner, strlen(partner), "Renamed", 7);
    raw_change(dir, "partner", (const uint8_t *)"~extra", 6, "Extra", 5);
    struct outcome o;
    verify_views_of(w, dir, &o);
    snprintf(entry, sizeof entry,
             "FAILED: view or index 'partner' differs from a replay of the log: 2 entries "
             "differ, the first by key: entry %s holds another value than the replay gives; no "
             "entry records the event that wrote it, so no sequence can be named\n",
             partner);
    expect(&o, 1, entry, NULL);
    expect_one_failure(&o);

    /* And an order beyond the log's last sequence. */
    uint8_t key[STORE_KEY_BYTES_MAX];
    const uint8_t row[] = {0x20, 0x01};
    raw_change(dir, "order", key, order_key(w, NULL, w->head + 100, key), row, sizeof row);
    verify_views_of(w, dir, &o);
    customer_text(w, prefix);
    expect(&o, 1, entry, "FAILED: view or index 'order' differs from a replay of the log: entry ");
    assert_null(strstr(o.err, "the first bad sequence"));
    assert_null(strstr(o.err, "at sequence"));
    test_remove_dir(dir);
    codec_event_free(event);
}

/* Writes a changed copy of the backup's head.pb into dir/name. */
static void write_changed_head(const struct world *w, const char *dir, const char *name,
                               void (*change)(Ledger__V1__SignedHead *head))
{
    char path[PATH_SIZE];
    path_join(path, w->backup, "head.pb");
    uint8_t bytes[4096];
    size_t size = test_read_bytes(path, bytes, sizeof bytes);
    assert_true(size != SIZE_MAX);
    ProtobufCMessage *message = NULL;
    assert_int_equal(codec_message_unpack(&ledger__v1__signed_head__descriptor, bytes, size,
                                          sizeof bytes, LEDGER_ERR_CORRUPT, &message),
                     LEDGER_ERR_OK);
    change((Ledger__V1__SignedHead *)message);
    uint8_t *packed = NULL;
    size_t packed_size = 0;
    assert_int_equal(codec_pack(message, &packed, &packed_size), LEDGER_ERR_OK);
    codec_message_free(message);
    path_join(path, dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(packed, 1, packed_size, f), packed_size);
    assert_int_equal(fclose(f), 0);
    free(packed);
}

static void flip_signature(Ledger__V1__SignedHead *head)
{
    assert_int_equal(head->signature.len, CRYPTO_SIGNATURE_BYTES);
    head->signature.data[10] ^= 0x01;
}

static void flip_root(Ledger__V1__SignedHead *head)
{
    head->root_hash.data[0] ^= 0x01;
}

static void later_size(Ledger__V1__SignedHead *head)
{
    head->tree_size += 1;
}

static void drop_key(Ledger__V1__SignedHead *head)
{
    head->public_key.len = 0;
}

static void drop_signature(Ledger__V1__SignedHead *head)
{
    head->signature.len = 0;
}

static void short_root(Ledger__V1__SignedHead *head)
{
    head->root_hash.len = MERKLE_HASH_BYTES - 1;
}

static void short_key(Ledger__V1__SignedHead *head)
{
    head->public_key.len = CRYPTO_SIGN_PUBLIC_BYTES - 1;
}

static void short_signature(Ledger__V1__SignedHead *head)
{
    head->signature.len = CRYPTO_SIGNATURE_BYTES - 1;
}

static void test_verify_bad_heads_fail(void **state)
{
    struct world *w = *state;
    char dir[PATH_SIZE], path[PATH_SIZE];
    copy_backup(w, "heads", dir);
    struct outcome o;
    struct {
        const char *name;
        void (*change)(Ledger__V1__SignedHead *head);
        const char *phrase;
    } cases[] = {
        {"signature.pb", flip_signature, "signature does not verify"},
        {"root.pb", flip_root, "signature does not verify"},
        {"size.pb", later_size, "signature does not verify"},
        {"keyless.pb", drop_key, "no public key"},
        {"unsigned.pb", drop_signature, "the saved head is not signed"},
        {"short-signature.pb", short_signature,
         "FAILED: the saved head's signature is 63 bytes, not 64\n"},
        {"short-key.pb", short_key,
         "FAILED: the saved head names a public key of 31 bytes, not 32\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_changed_head(w, dir, cases[i].name, cases[i].change);
        path_join(path, dir, cases[i].name);
        const char *args[] = {"--no-views", "--head", path, dir, NULL};
        run_verify(w, args, &o);
        expect(&o, 1, cases[i].phrase, NULL);
    }
    /* A root one byte short is no root: the file is no head (a usage
     * error, as for any file that is not one), not a head that fails. */
    write_changed_head(w, dir, "short-root.pb", short_root);
    path_join(path, dir, "short-root.pb");
    const char *short_root_args[] = {"--no-views", "--head", path, dir, NULL};
    run_verify(w, short_root_args, &o);
    expect(&o, 2, "error: USAGE: --head: ",
           "short-root.pb is not a serialized ledger.v1.SignedHead (save one");
    assert_null(strstr(o.err, "FAILED"));
    assert_string_equal(o.out, "");
    /* The head's own key, given explicitly, verifies; another key does not. */
    path_join(path, dir, "head.pb");
    uint8_t bytes[4096];
    size_t size = test_read_bytes(path, bytes, sizeof bytes);
    assert_true(size != SIZE_MAX);
    Ledger__V1__SignedHead *head = ledger__v1__signed_head__unpack(NULL, size, bytes);
    assert_non_null(head);
    assert_int_equal(head->public_key.len, CRYPTO_SIGN_PUBLIC_BYTES);
    char right[2 * CRYPTO_SIGN_PUBLIC_BYTES + 1], wrong[2 * CRYPTO_SIGN_PUBLIC_BYTES + 1];
    crypto_hex(head->public_key.data, CRYPTO_SIGN_PUBLIC_BYTES, right);
    ledger__v1__signed_head__free_unpacked(head, NULL);
    uint8_t other_public[CRYPTO_SIGN_PUBLIC_BYTES], other_secret[CRYPTO_SIGN_SECRET_BYTES];
    crypto_ed25519_keypair(other_public, other_secret);
    crypto_hex(other_public, sizeof other_public, wrong);
    const char *good[] = {"--no-views", "--public-key", right, "--head", path, dir, NULL};
    run_verify(w, good, &o);
    expect(&o, 0, NULL, NULL);
    const char *bad[] = {"--no-views", "--public-key", wrong, "--head", path, dir, NULL};
    run_verify(w, bad, &o);
    expect(&o, 1, "another key", NULL);
    /* A key of 31 bytes is no key, whatever key is pinned: refused as
     * ledgerctl refuses it, not passed over as a head that names none. */
    path_join(path, dir, "short-key.pb");
    const char *short_key_pinned[] = {"--no-views", "--public-key", right, "--head", path, dir,
                                      NULL};
    run_verify(w, short_key_pinned, &o);
    expect(&o, 1, "FAILED: the saved head names a public key of 31 bytes, not 32\n", NULL);
    expect_one_failure(&o);
    path_join(path, dir, "head.pb");
    /* A head without its key verifies with the right --public-key only. */
    path_join(path, dir, "keyless.pb");
    const char *keyless[] = {"--no-views", "--public-key", right, "--head", path, dir, NULL};
    run_verify(w, keyless, &o);
    expect(&o, 0, NULL, NULL);
    const char *keyless_wrong[] = {"--no-views", "--public-key", wrong, "--head", path, dir, NULL};
    run_verify(w, keyless_wrong, &o);
    expect(&o, 1, "signature does not verify", NULL);

    /* A head of no event whose root is not the empty tree's, validly signed
     * by the pinned key: its signer contradicts itself. */
    Ledger__V1__SignedHead empty = LEDGER__V1__SIGNED_HEAD__INIT;
    uint8_t root[MERKLE_HASH_BYTES], encoded[MERKLE_HEAD_BYTES];
    uint8_t signature[CRYPTO_SIGNATURE_BYTES];
    crypto_sha256("z", 1, root);
    merkle_head_encode(0, root, 1, encoded);
    crypto_ed25519_sign(other_secret, encoded, sizeof encoded, signature);
    empty.timestamp_us = 1;
    empty.root_hash = (ProtobufCBinaryData){sizeof root, root};
    empty.signature = (ProtobufCBinaryData){sizeof signature, signature};
    empty.public_key = (ProtobufCBinaryData){sizeof other_public, other_public};
    uint8_t *packed = NULL;
    size_t packed_size = 0;
    assert_int_equal(codec_pack(&empty.base, &packed, &packed_size), LEDGER_ERR_OK);
    path_join(path, dir, "contradiction.pb");
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(packed, 1, packed_size, f), packed_size);
    assert_int_equal(fclose(f), 0);
    free(packed);
    const char *contradiction[] = {"--no-views", "--public-key", wrong, "--head", path, dir, NULL};
    run_verify(w, contradiction, &o);
    expect(&o, 1, "covers no event but its root is not the empty tree's", NULL);
    test_remove_dir(dir);
}

/* Writes dir/name: a head of (tree_size, root), signed by `secret`, naming
 * `public_key`. */
static void signed_head_write(const char *dir, const char *name, uint64_t tree_size,
                              const uint8_t root[MERKLE_HASH_BYTES],
                              const uint8_t secret[CRYPTO_SIGN_SECRET_BYTES],
                              const uint8_t public_key[CRYPTO_SIGN_PUBLIC_BYTES])
{
    uint8_t encoded[MERKLE_HEAD_BYTES], signature[CRYPTO_SIGNATURE_BYTES];
    uint8_t root_copy[MERKLE_HASH_BYTES], key_copy[CRYPTO_SIGN_PUBLIC_BYTES];
    memcpy(root_copy, root, sizeof root_copy);
    memcpy(key_copy, public_key, sizeof key_copy);
    merkle_head_encode(tree_size, root, 7, encoded);
    crypto_ed25519_sign(secret, encoded, sizeof encoded, signature);
    Ledger__V1__SignedHead head = LEDGER__V1__SIGNED_HEAD__INIT;
    head.tree_size = tree_size;
    head.timestamp_us = 7;
    head.root_hash = (ProtobufCBinaryData){sizeof root_copy, root_copy};
    head.signature = (ProtobufCBinaryData){sizeof signature, signature};
    head.public_key = (ProtobufCBinaryData){sizeof key_copy, key_copy};
    uint8_t *packed = NULL;
    size_t packed_size = 0;
    assert_int_equal(codec_pack(&head.base, &packed, &packed_size), LEDGER_ERR_OK);
    char path[PATH_SIZE];
    path_join(path, dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(packed, 1, packed_size, f), packed_size);
    assert_int_equal(fclose(f), 0);
    free(packed);
}

/* Heads of the smallest sizes, signed by the pinned key: a head of no event
 * (the empty tree's root) is extended by any history; a head of one event
 * is extended when its root is record 1's leaf hash (the root of a tree of
 * one leaf), and otherwise fails at sequence 1, naming "the first 1 event"
 * (singular). */
static void test_verify_heads_of_sizes_0_and_1(void **state)
{
    struct world *w = *state;
    char dir[PATH_SIZE], path[PATH_SIZE];
    copy_backup(w, "small-heads", dir);
    struct raw raw;
    MDB_dbi log = raw_open(&raw, dir, "log");
    size_t size = 0;
    uint8_t *record = raw_record(&raw, log, 1, &size);
    raw_close(&raw);
    uint8_t leaf[MERKLE_HASH_BYTES], empty[MERKLE_HASH_BYTES];
    merkle_leaf_hash(record, size, leaf);
    free(record);
    merkle_empty_root(empty);
    uint8_t public_key[CRYPTO_SIGN_PUBLIC_BYTES], secret[CRYPTO_SIGN_SECRET_BYTES];
    crypto_ed25519_keypair(public_key, secret);
    char pinned[2 * CRYPTO_SIGN_PUBLIC_BYTES + 1];
    crypto_hex(public_key, sizeof public_key, pinned);
    char summary[128];
    snprintf(summary, sizeof summary, "verified: %llu events, root ", (unsigned long long)w->head);
    struct outcome o;
    const char *args[] = {"--no-views", "--public-key", pinned, "--head", path, dir, NULL};

    signed_head_write(dir, "zero.pb", 0, empty, secret, public_key);
    path_join(path, dir, "zero.pb");
    run_verify(w, args, &o);
    expect(&o, 0, NULL, NULL);
    assert_non_null(strstr(o.out, summary));
    assert_non_null(strstr(o.out, ", extends the saved head"));

    signed_head_write(dir, "one.pb", 1, leaf, secret, public_key);
    path_join(path, dir, "one.pb");
    run_verify(w, args, &o);
    expect(&o, 0, NULL, NULL);
    assert_non_null(strstr(o.out, ", extends the saved head"));

    leaf[31] ^= 0x01;
    signed_head_write(dir, "other.pb", 1, leaf, secret, public_key);
    path_join(path, dir, "other.pb");
    run_verify(w, args, &o);
    expect(&o, 1,
           "FAILED at sequence 1: the history differs from the saved head: the root of the first "
           "1 event does not match (history rewritten)\n",
           NULL);
    expect_one_failure(&o);
    assert_string_equal(o.out, "");
    test_remove_dir(dir);
}

/* The secret key of "another ledger" in test_verify_head_of_another_ledger. */
static uint8_t foreign_secret[CRYPTO_SIGN_SECRET_BYTES];

/* The head of a ledger of as many events with another history: another
 * root, signed by that ledger's key. */
static void foreign_head(Ledger__V1__SignedHead *head)
{
    uint8_t encoded[MERKLE_HEAD_BYTES];
    head->root_hash.data[0] ^= 0x01;
    merkle_head_encode(head->tree_size, head->root_hash.data, head->timestamp_us, encoded);
    crypto_ed25519_sign(foreign_secret, encoded, sizeof encoded, head->signature.data);
    crypto_ed25519_public_key(foreign_secret, head->public_key.data);
}

/* Writes dir/head.key holding `secret`, as a data directory holds it. */
static void head_key_write(const char *dir, const uint8_t secret[CRYPTO_SIGN_SECRET_BYTES])
{
    char path[PATH_SIZE], hex[2 * CRYPTO_SIGN_SECRET_BYTES + 1];
    crypto_hex(secret, CRYPTO_SIGN_SECRET_BYTES, hex);
    path_join(path, dir, "head.key");
    FILE *file = fopen(path, "wb");
    assert_non_null(file);
    fprintf(file, "%s\n", hex);
    assert_int_equal(fclose(file), 0);
}

/* A saved head of another ledger, given with a data directory that holds
 * its own head.key: the history does not extend it, and the failure says
 * that the head is not signed by this directory's key, so perhaps of
 * another ledger, rather than only "history rewritten". A head signed by
 * the directory's own key gets no such note. */
static void test_verify_head_of_another_ledger(void **state)
{
    struct world *w = *state;
    char dir[PATH_SIZE], path[PATH_SIZE];
    copy_backup(w, "another-ledger", dir);
    uint8_t public_key[CRYPTO_SIGN_PUBLIC_BYTES], own_secret[CRYPTO_SIGN_SECRET_BYTES];
    crypto_ed25519_keypair(public_key, foreign_secret);
    crypto_ed25519_keypair(public_key, own_secret);
    write_changed_head(w, dir, "foreign.pb", foreign_head);
    path_join(path, dir, "foreign.pb");
    head_key_write(dir, own_secret);
    struct outcome o;
    const char *args[] = {"--no-views", "--head", path, dir, NULL};
    run_verify(w, args, &o);
    expect(&o, 1,
           "(history rewritten); but the saved head is not signed by this data "
           "directory's head.key",
           "it may be a head of another ledger");
    expect_one_failure(&o);
    char size_phrase[64];
    snprintf(size_phrase, sizeof size_phrase, "the root of the first %llu events",
             (unsigned long long)w->head);
    expect(&o, 1, size_phrase, NULL);
    /* The same failure with the signer's own key in the directory. */
    head_key_write(dir, foreign_secret);
    run_verify(w, args, &o);
    expect(&o, 1, "(history rewritten)", NULL);
    assert_null(strstr(o.err, "another ledger"));
    test_remove_dir(dir);
}

/* A backup whose data.mdb was cut short (a copy interrupted part way) fails
 * verification with the reason, instead of killing ledger-verify with
 * SIGBUS when it reads a page past the end of the mapped file. */
/* Puts `key` (level byte, then u64 BE index; or the one size byte) in the
 * merkle database of a copy of the backup, with value `value`. */
static void merkle_put(const char *dir, const uint8_t *key, size_t key_size, const uint8_t *value,
                       size_t value_size)
{
    struct raw raw;
    MDB_dbi merkle = raw_open(&raw, dir, "merkle");
    MDB_val k = {key_size, (void *)key}, v = {value_size, (void *)value};
    assert_int_equal(mdb_put(raw.txn, merkle, &k, &v, 0), MDB_SUCCESS);
    raw_close(&raw);
}

/* Deletes `key` from the merkle database of a copy of the backup. */
static void merkle_delete(const char *dir, const uint8_t *key, size_t key_size)
{
    struct raw raw;
    MDB_dbi merkle = raw_open(&raw, dir, "merkle");
    MDB_val k = {key_size, (void *)key};
    assert_int_equal(mdb_del(raw.txn, merkle, &k, NULL), MDB_SUCCESS);
    raw_close(&raw);
}

/* The stored tree holds only what the records make: a node of no level (0,
 * the leaves' own database) and a node beyond the tree are each named at
 * the last record, although no proof would read them; a size entry below
 * the records' count, deleted, or not a u64 is named as the size entry
 * (not as a count of nodes that agrees), at the last record; a size above
 * it counts records the log does not hold, and names the first of them. */
static void test_verify_extra_merkle_entries_fail(void **state)
{
    struct world *w = *state;
    char dir[PATH_SIZE], last[64], after[64], smaller_says[256], deleted_says[256];
    sequence_phrase(w->head, last);
    sequence_phrase(w->head + 1, after);
    snprintf(smaller_says, sizeof smaller_says,
             "%s the stored Merkle tree's size entry (the key 0xFF) counts %llu records where "
             "the log holds %llu (it was altered)\n",
             last, (unsigned long long)w->head - 1, (unsigned long long)w->head);
    snprintf(deleted_says, sizeof deleted_says,
             "%s the stored Merkle tree's size entry (the key 0xFF) counts 0 records where "
             "the log holds %llu (it was altered, or deleted)\n",
             last, (unsigned long long)w->head);
    const char *args[] = {"--no-views", dir, NULL};
    const uint8_t hash[32] = {0x42};
    uint8_t level_0[9] = {0}, beyond[9] = {1}, size_key[1] = {0xFF}, smaller[8], larger[8];
    store_u64_to_key(w->head, beyond + 1); /* level 1 holds head / 2 nodes */
    store_u64_to_key(w->head - 1, smaller);
    store_u64_to_key(w->head + 1, larger);
    const struct {
        const char *copy;
        const uint8_t *key, *value; /* value NULL: the key deleted */
        size_t key_size, value_size;
        const char *phrase, *named;
    } cases[] = {
        {"merkle-level-0", level_0, hash, sizeof level_0, sizeof hash, last,
         "a node beyond the tree or of no level)\n"},
        {"merkle-beyond", beyond, hash, sizeof beyond, sizeof hash, last,
         "a node beyond the tree or of no level)\n"},
        {"merkle-size", size_key, smaller, sizeof size_key, sizeof smaller, smaller_says, NULL},
        {"merkle-size-deleted", size_key, NULL, sizeof size_key, 0, deleted_says, NULL},
        /* The count's last byte cut off: no count at all. */
        {"merkle-size-short", size_key, smaller, sizeof size_key, sizeof smaller - 1, last,
         "the stored Merkle tree's size entry (the key 0xFF) is not an 8-byte count of its "
         "records (it was altered)\n"},
        {"merkle-size-larger", size_key, larger, sizeof size_key, sizeof larger, after,
         "the stored Merkle tree covers"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        copy_backup(w, cases[i].copy, dir);
        if (cases[i].value != NULL) {
            merkle_put(dir, cases[i].key, cases[i].key_size, cases[i].value, cases[i].value_size);
        } else {
            merkle_delete(dir, cases[i].key, cases[i].key_size);
        }
        struct outcome o;
        run_verify(w, args, &o);
        expect(&o, 1, cases[i].phrase, cases[i].named);
        expect_one_failure(&o);
        assert_string_equal(o.out, "");
        test_remove_dir(dir);
    }
}

/* A backup of views layout 1 (tests/fixtures/schema-v1: 301 records), whose
 * tree also stored every leaf hash as a node of level 0: its log verifies,
 * and those nodes are checked like the others, an altered or missing one
 * named by its sequence; the views check says they are of an older layout,
 * after the log verified. */
static void test_verify_layout_1_backup(void **state)
{
    struct world *w = *state;
    const char *source = getenv("LEDGER_SOURCE_DIR");
    assert_non_null(source);
    char fixture[PATH_SIZE], from[PATH_SIZE], dir[PATH_SIZE], to[PATH_SIZE], head[PATH_SIZE];
    path_join(fixture, source, "tests/fixtures/schema-v1");
    const uint64_t altered = 150;
    uint8_t level_0[9] = {0};
    store_u64_to_key(altered - 1, level_0 + 1);
    const uint8_t other_hash[32] = {0x42};
    const char *labels[] = {"layout-1", "layout-1-altered", "layout-1-missing"};
    for (size_t i = 0; i < sizeof labels / sizeof labels[0]; i++) {
        path_join(dir, w->root, labels[i]);
        assert_int_equal(mkdir(dir, 0700), 0);
        const char *files[] = {"data.mdb", "head.pb"};
        for (size_t f = 0; f < 2; f++) {
            path_join(from, fixture, files[f]);
            path_join(to, dir, files[f]);
            copy_file(from, to);
        }
        head_arg(dir, head);
        struct outcome o;
        if (i == 0) {
            const char *log_only[] = {"--no-views", "--head", head, dir, NULL};
            run_verify(w, log_only, &o);
            expect(&o, 0, NULL, NULL);
            assert_non_null(strstr(o.out, "verified: 301 events"));
            const char *with_views[] = {dir, NULL};
            run_verify(w, with_views, &o);
            expect(&o, 1, "written by an older build (layout 1",
                   "the log, its leaf hashes and its tree verified");
        } else {
            struct raw raw;
            MDB_dbi merkle = raw_open(&raw, dir, "merkle");
            MDB_val k = {sizeof level_0, level_0}, v = {sizeof other_hash, (void *)other_hash};
            if (i == 1) {
                assert_int_equal(mdb_put(raw.txn, merkle, &k, &v, 0), MDB_SUCCESS);
            } else {
                assert_int_equal(mdb_del(raw.txn, merkle, &k, NULL), MDB_SUCCESS);
            }
            raw_close(&raw);
            char named[64];
            sequence_phrase(altered, named);
            const char *log_only[] = {"--no-views", dir, NULL};
            run_verify(w, log_only, &o);
            expect(&o, 1, named, "the stored Merkle node over sequences 150..150");
            expect_one_failure(&o);
        }
        test_remove_dir(dir);
    }
}

/* A data directory whose rebuild did not finish (views layout 0): its tree
 * may be partial (here the nodes over the second half are gone), so it is
 * not compared, and the verifier says so; the records are still checked (a
 * flipped byte is named) and the views check refuses the incomplete views. */
static void test_verify_unfinished_rebuild(void **state)
{
    struct world *w = *state;
    char dir[PATH_SIZE], named[64];
    copy_backup(w, "layout-0", dir);
    struct raw raw;
    MDB_dbi merkle = raw_open(&raw, dir, "merkle");
    MDB_dbi meta = raw_db(&raw, "meta");
    uint8_t layout_0[8] = {0};
    MDB_val views_key = {5, "views"}, views_value = {sizeof layout_0, layout_0};
    assert_int_equal(mdb_put(raw.txn, meta, &views_key, &views_value, 0), MDB_SUCCESS);
    MDB_cursor *cursor;
    assert_int_equal(mdb_cursor_open(raw.txn, merkle, &cursor), MDB_SUCCESS);
    MDB_val k, v;
    unsigned deleted = 0;
    for (int rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST); rc == MDB_SUCCESS;
         rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)) {
        const uint8_t *key = k.mv_data;
        if (k.mv_size == 9 && (store_key_to_u64(key + 1) << key[0]) >= w->head / 2) {
            assert_int_equal(mdb_cursor_del(cursor, 0), MDB_SUCCESS);
            deleted++;
        }
    }
    mdb_cursor_close(cursor);
    raw_close(&raw);
    assert_true(deleted > 0);
    const char *log_only[] = {"--no-views", dir, NULL};
    struct outcome o;
    run_verify(w, log_only, &o);
    expect(&o, 0, "a rebuild did not finish (views layout 0)", "is not compared");
    const char *quiet[] = {"--quiet", "--no-views", dir, NULL};
    run_verify(w, quiet, &o);
    expect(&o, 0, NULL, NULL);
    assert_string_equal(o.err, "");
    const char *with_views[] = {dir, NULL};
    run_verify(w, with_views, &o);
    expect(&o, 1, "a rebuild did not finish, they are incomplete", NULL);
    /* The record flipped in place, its leaf hash left: named all the same. */
    struct raw log_raw;
    MDB_dbi log = raw_open(&log_raw, dir, "log");
    uint8_t key[8];
    store_u64_to_key(w->flip_sequence, key);
    size_t size = 0;
    uint8_t *copy = raw_record(&log_raw, log, w->flip_sequence, &size);
    copy[size - 1] ^= 0x01;
    MDB_val record_key = {8, key}, changed = {size, copy};
    assert_int_equal(mdb_put(log_raw.txn, log, &record_key, &changed, 0), MDB_SUCCESS);
    raw_close(&log_raw);
    free(copy);
    sequence_phrase(w->flip_sequence, named);
    expect_failed_once(w, log_only, &o, named, "do not match its stored leaf hash");
    test_remove_dir(dir);
}

/* The views layout (the meta entry "views", 8 bytes) cut short: which
 * tree the log is checked against cannot be told, and that is the one
 * thing said, before any record is read. */
static void test_verify_unreadable_views_layout_fails(void **state)
{
    struct world *w = *state;
    char dir[PATH_SIZE];
    copy_backup(w, "layout-short", dir);
    const uint8_t layout[7] = {0};
    raw_change(dir, "meta", (const uint8_t *)"views", 5, layout, sizeof layout);
    struct outcome o;
    const char *args[] = {"--no-views", dir, NULL};
    run_verify(w, args, &o);
    expect(&o, 1, NULL, NULL);
    assert_string_equal(o.err, "FAILED: cannot read the views layout (the meta entry \"views\")\n");
    test_remove_dir(dir);
}

/* Views written by a newer build than this one (a verifier older than the
 * daemon, or a downgrade): the log, its leaf hashes and its tree verify
 * (--no-views: exit 0), but the views cannot be compared with this build's
 * replay, which is a failure that names both layouts and what to do; the
 * scratch copy is removed. */
static void test_verify_views_of_a_newer_build_are_not_compared(void **state)
{
    struct world *w = *state;
    char dir[PATH_SIZE], scratch[PATH_SIZE], said[512];
    copy_backup(w, "layout-newer", dir);
    uint8_t layout[8];
    store_u64_to_key(ENGINE_VIEWS_LAYOUT + 1, layout);
    raw_change(dir, "meta", (const uint8_t *)"views", 5, layout, sizeof layout);
    struct outcome o;
    const char *log_only[] = {"--no-views", dir, NULL};
    run_verify(w, log_only, &o);
    expect(&o, 0, NULL, NULL);
    path_join(scratch, w->root, "layout-newer-scratch");
    assert_int_equal(mkdir(scratch, 0700), 0);
    const char *args[] = {dir, NULL};
    scratch_parent = scratch;
    run_verify(w, args, &o);
    scratch_parent = NULL;
    snprintf(said, sizeof said,
             "FAILED: views: written by a newer build (layout %d; this build reads %d), so they "
             "cannot be compared with a replay (the log, its leaf hashes and its tree verified): "
             "rebuild them with `ledgerd rebuild`, or check the log only with --no-views\n",
             ENGINE_VIEWS_LAYOUT + 1, ENGINE_VIEWS_LAYOUT);
    expect(&o, 1, NULL, NULL);
    assert_string_equal(o.err, said);
    assert_string_equal(o.out, "");
    assert_true(dir_empty(scratch));
    test_remove_dir(scratch);
    test_remove_dir(dir);
}

static void test_verify_truncated_copy_fails(void **state)
{
    struct world *w = *state;
    char dir[PATH_SIZE], data[PATH_SIZE], head[PATH_SIZE];
    copy_backup(w, "truncated", dir);
    path_join(data, dir, "data.mdb");
    head_arg(dir, head);
    struct stat info;
    assert_int_equal(stat(data, &info), 0);
    assert_int_equal(truncate(data, info.st_size / 2), 0);
    struct outcome o;
    const char *args[] = {"--head", head, dir, NULL};
    run_verify(w, args, &o);
    expect(&o, 1, "CORRUPT", "the data file is truncated");
    /* Cut back to nothing, it is no ledger either: the same verdict, and the
     * file is left as it was (LMDB would have set up a new environment in
     * it). */
    assert_int_equal(truncate(data, 0), 0);
    run_verify(w, args, &o);
    expect(&o, 1, "CORRUPT", "data.mdb is empty (0 bytes): it holds no ledger");
    assert_int_equal(stat(data, &info), 0);
    assert_int_equal(info.st_size, 0);
    test_remove_dir(dir);
}

/* Sets the size of `record` (its bytes, borrowed) in its LMDB leaf node, in
 * the copy in `dir`, to `record_size`, or (0) to a size that ends a page
 * past the end of the file though it is smaller than the file. An LMDB leaf
 * node is the data size's low and high 16 bits, flags, the key's size
 * (little-endian), the key (8 bytes), then the data. */
static void record_node_size_set(const char *dir, const uint8_t *record, size_t size_now,
                                 uint32_t record_size)
{
    long size = 0;
    uint8_t *bytes = data_file_read(dir, &size);
    long found = find_once(bytes, size, record, size_now);
    long node = found - 8 - 8;
    assert_true(node >= 0);
    assert_int_equal(bytes[node] | bytes[node + 1] << 8, (int)size_now);
    assert_int_equal(bytes[node + 2] | bytes[node + 3] << 8, 0);
    assert_int_equal(bytes[node + 6] | bytes[node + 7] << 8, 8);
    if (record_size == 0) {
        record_size = (uint32_t)(size - found + 4096);
        assert_true(record_size < (uint32_t)size);
    }
    for (int i = 0; i < 4; i++) {
        bytes[node + i] = (uint8_t)(record_size >> (8 * i));
    }
    data_file_write(dir, bytes, size);
}

/* record_node_size_set of the flip record. */
static void record_size_set(const struct world *w, const char *dir, uint32_t record_size)
{
    record_node_size_set(dir, w->flip_record, w->flip_record_size, record_size);
}

/* A record whose size, in its LMDB node, was made 16 MiB larger (the high
 * half of the node's size field): reading it would run past the end of the
 * file. The verifier names the record's sequence instead of faulting. */
static void test_verify_altered_record_size_names_its_sequence(void **state)
{
    struct world *w = *state;
    char dir[PATH_SIZE], head[PATH_SIZE];
    copy_backup(w, "resized", dir);
    record_size_set(w, dir, (uint32_t)w->flip_record_size + (UINT32_C(1) << 24));

    char phrase[64];
    sequence_phrase(w->flip_sequence, phrase);
    head_arg(dir, head);
    struct outcome o;
    const char *no_views[] = {"--no-views", "--head", head, dir, NULL};
    expect_failed_once(w, no_views, &o, phrase, "is larger than the data file");
    const char *args[] = {"--head", head, dir, NULL};
    expect_failed_once(w, args, &o, phrase, "is larger than the data file");
    test_remove_dir(dir);
}

/* A record whose size was made to end a page past the end of the file,
 * though it is smaller than the file: reading it faults (SIGBUS), and the
 * verifier reports that as its verdict on the record, not as a crash. */
static void test_verify_record_past_the_file_end_is_a_verdict(void **state)
{
    struct world *w = *state;
    char dir[PATH_SIZE];
    copy_backup(w, "past-end", dir);
    record_size_set(w, dir, 0);

    char phrase[64];
    sequence_phrase(w->flip_sequence, phrase);
    struct outcome o;
    const char *args[] = {"--no-views", dir, NULL};
    run_verify(w, args, &o);
    expect(&o, 1, phrase, "reading it ran past the file's end");
    test_remove_dir(dir);
}

/* The data file of the copy in `dir` (the caller frees it, or writes it
 * back with data_file_write), its size, and where in it the LMDB node of the
 * first partner row is, the row's key's size in *key_size_out. A node is
 * the value's size (low and high 16 bits), flags, the key's size, the key,
 * the value. */
static uint8_t *partner_row_node(const char *dir, long *size_out, long *at_out,
                                 size_t *key_size_out)
{
    struct raw raw;
    MDB_dbi partner = raw_open(&raw, dir, "partner");
    MDB_cursor *cursor = NULL;
    assert_int_equal(mdb_cursor_open(raw.txn, partner, &cursor), MDB_SUCCESS);
    MDB_val k, v;
    assert_int_equal(mdb_cursor_get(cursor, &k, &v, MDB_FIRST), MDB_SUCCESS);
    uint8_t node[128];
    assert_true(k.mv_size + v.mv_size + 8 <= sizeof node);
    node[0] = (uint8_t)v.mv_size;
    node[1] = (uint8_t)(v.mv_size >> 8);
    memset(node + 2, 0, 4);
    node[6] = (uint8_t)k.mv_size;
    node[7] = 0;
    memcpy(node + 8, k.mv_data, k.mv_size);
    memcpy(node + 8 + k.mv_size, v.mv_data, v.mv_size);
    size_t node_size = 8 + k.mv_size + v.mv_size;
    *key_size_out = k.mv_size;
    mdb_cursor_close(cursor);
    mdb_txn_abort(raw.txn);
    mdb_env_close(raw.env);
    uint8_t *bytes = data_file_read(dir, size_out);
    *at_out = find_once(bytes, *size_out, node, node_size);
    return bytes;
}

/* A view row (the first partner's name) whose size, in its LMDB node, was
 * made to end a page past the end of the file: the log walk never reads
 * it, the views check does, in its scratch copy, and faults there. That is
 * a verdict (exit 1, the file is damaged), not a crash, and the scratch
 * copy, which holds every principal's secret, is not left behind. */
static void test_verify_damaged_view_leaves_no_scratch_copy(void **state)
{
    struct world *w = *state;
    char dir[PATH_SIZE], scratch[PATH_SIZE];
    copy_backup(w, "damaged-view", dir);
    long size = 0, at = 0;
    size_t key_size = 0;
    uint8_t *bytes = partner_row_node(dir, &size, &at, &key_size);
    uint32_t past_end = (uint32_t)(size - (at + 8 + (long)key_size) + 4096);
    for (int i = 0; i < 4; i++) {
        bytes[at + i] = (uint8_t)(past_end >> (8 * i));
    }
    data_file_write(dir, bytes, size);

    path_join(scratch, w->root, "damaged-view-scratch");
    assert_int_equal(mkdir(scratch, 0700), 0);
    struct outcome o;
    const char *no_views[] = {"--no-views", dir, NULL};
    run_verify(w, no_views, &o);
    expect(&o, 0, NULL, NULL);
    const char *args[] = {dir, NULL};
    scratch_parent = scratch;
    run_verify(w, args, &o);
    scratch_parent = NULL;
    expect(&o, 1, "FAILED: the data file is damaged: reading it ran past the file's end", NULL);
    assert_null(strstr(o.out, "verified"));
    assert_true(dir_empty(scratch));
    test_remove_dir(scratch);
    test_remove_dir(dir);
}

/* The page that holds the partner rows made neither a leaf nor a branch
 * (its flags zeroed; a page is its number, 2 bytes of padding, then its
 * flags): the log walk never reads it, the views check's copy does, and
 * LMDB finds the page of the wrong type. That is a verdict on the data
 * file (exit 1, restore a backup), not a lack of room for the copy (exit
 * 2), and the copy is removed. */
static void test_verify_damaged_view_page_fails_the_copy(void **state)
{
    struct world *w = *state;
    char dir[PATH_SIZE], scratch[PATH_SIZE];
    copy_backup(w, "damaged-view-page", dir);
    long size = 0, at = 0;
    size_t key_size = 0;
    uint8_t *bytes = partner_row_node(dir, &size, &at, &key_size);
    long page = at / 4096 * 4096;
    assert_int_equal(bytes[page + 10] | bytes[page + 11] << 8, 0x02); /* P_LEAF */
    bytes[page + 10] = 0;
    data_file_write(dir, bytes, size);

    path_join(scratch, w->root, "damaged-view-page-scratch");
    assert_int_equal(mkdir(scratch, 0700), 0);
    struct outcome o;
    const char *no_views[] = {"--no-views", dir, NULL};
    run_verify(w, no_views, &o);
    expect(&o, 0, NULL, NULL);
    const char *args[] = {dir, NULL};
    scratch_parent = scratch;
    run_verify(w, args, &o);
    scratch_parent = NULL;
    expect(&o, 1,
           "FAILED: the data file is damaged: its views or indexes could not be read to make "
           "the views check's copy (mdb_env_copyfd2: MDB_CORRUPTED: ",
           "); restore a backup, or check the log only with --no-views\n");
    expect_one_failure(&o);
    assert_string_equal(o.out, "");
    assert_true(dir_empty(scratch));
    test_remove_dir(scratch);
    test_remove_dir(dir);
}

/* A stored leaf hash altered in its last byte, cut short by a byte, or
 * deleted while its record stays: each is named at its sequence (the
 * records prove the history, but inclusion proofs are served from the
 * stored leaf hashes). */
static void test_verify_altered_or_missing_leaf_hash_names_its_sequence(void **state)
{
    struct world *w = *state;
    char dir[PATH_SIZE], head[PATH_SIZE], phrase[64];
    sequence_phrase(w->flip_sequence, phrase);
    uint8_t key[8];
    store_u64_to_key(w->flip_sequence, key);
    const struct {
        const char *copy;
        size_t size; /* of the leaf hash written; 0: deleted */
        const char *said;
    } cases[] = {
        {"leaf-altered", MERKLE_HASH_BYTES, "do not match its stored leaf hash"},
        {"leaf-short", MERKLE_HASH_BYTES - 1, "the record has no stored leaf hash"},
        {"leaf-deleted", 0, "the record has no stored leaf hash"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        copy_backup(w, cases[i].copy, dir);
        struct raw raw;
        MDB_dbi leaf = raw_open(&raw, dir, "leaf");
        MDB_val k = {sizeof key, key}, v;
        assert_int_equal(mdb_get(raw.txn, leaf, &k, &v), MDB_SUCCESS);
        uint8_t hash[MERKLE_HASH_BYTES];
        assert_int_equal(v.mv_size, sizeof hash);
        memcpy(hash, v.mv_data, sizeof hash);
        hash[sizeof hash - 1] ^= 0x01;
        MDB_val changed = {cases[i].size, hash};
        if (cases[i].size > 0) {
            assert_int_equal(mdb_put(raw.txn, leaf, &k, &changed, 0), MDB_SUCCESS);
        } else {
            assert_int_equal(mdb_del(raw.txn, leaf, &k, NULL), MDB_SUCCESS);
        }
        raw_close(&raw);
        head_arg(dir, head);
        struct outcome o;
        const char *args[] = {"--no-views", "--head", head, dir, NULL};
        run_verify(w, args, &o);
        expect(&o, 1, phrase, cases[i].said);
        expect_one_failure(&o);
        test_remove_dir(dir);
    }
}

/* The log's tail deleted and the leaf hash of the first missing record
 * damaged (its node's size made 16 MiB larger, past the file's end): the
 * leaf hashes cannot be read past the log's end, and that is named at the
 * first sequence past it, not taken for leaf hashes that end with the log.
 * A leaf entry past the log's end whose key is not a sequence (9 bytes)
 * still counts as one past the end. */
static void test_verify_leaf_hashes_past_the_log_are_read_to_their_end(void **state)
{
    struct world *w = *state;
    uint64_t first = w->head - TAIL_DELETED + 1;
    char dir[PATH_SIZE], phrase[64];
    sequence_phrase(first, phrase);
    copy_backup(w, "leaf-unreadable", dir);
    uint8_t key[8 + MERKLE_HASH_BYTES];
    store_u64_to_key(first, key);
    struct raw raw;
    MDB_dbi leaf = raw_open(&raw, dir, "leaf");
    MDB_val k = {8, key}, v;
    assert_int_equal(mdb_get(raw.txn, leaf, &k, &v), MDB_SUCCESS);
    assert_int_equal(v.mv_size, MERKLE_HASH_BYTES);
    memcpy(key + 8, v.mv_data, MERKLE_HASH_BYTES);
    mdb_txn_abort(raw.txn);
    mdb_env_close(raw.env);
    cut_tail(w, dir, false);
    /* The leaf node: the data size's low and high 16 bits, flags, the key's
     * size, the key, then the hash. */
    long size = 0;
    uint8_t *bytes = data_file_read(dir, &size);
    long node = find_once(bytes, size, key, sizeof key) - 8;
    assert_true(node >= 0);
    assert_int_equal(bytes[node] | bytes[node + 1] << 8, MERKLE_HASH_BYTES);
    assert_int_equal(bytes[node + 2] | bytes[node + 3] << 8, 0);
    bytes[node + 3] = 1;
    data_file_write(dir, bytes, size);
    struct outcome o;
    const char *args[] = {"--no-views", dir, NULL};
    run_verify(w, args, &o);
    expect(&o, 1, phrase, "the leaf hashes could not be read to their end");
    assert_non_null(strstr(o.err, "larger than the data file"));
    expect_one_failure(&o);
    test_remove_dir(dir);

    copy_backup(w, "leaf-odd-key", dir);
    const uint8_t odd_key[9] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    raw_change(dir, "leaf", odd_key, sizeof odd_key, key + 8, MERKLE_HASH_BYTES);
    run_verify(w, args, &o);
    char said[160];
    sequence_phrase(w->head + 1, phrase);
    snprintf(said, sizeof said,
             "the log ends at sequence %llu but the leaf hashes cover %llu records: sequence "
             "%llu is missing",
             (unsigned long long)w->head, (unsigned long long)w->head + 1,
             (unsigned long long)w->head + 1);
    expect(&o, 1, phrase, said);
    expect_one_failure(&o);
    test_remove_dir(dir);
}

/* A stored Merkle node damaged in the file (its LMDB node's size made 16 MiB
 * larger, past the file's end): it cannot be read whole, and the verifier
 * names the node's range instead of passing over it. */
static void test_verify_unreadable_merkle_node_is_named(void **state)
{
    struct world *w = *state;
    char dir[PATH_SIZE], phrase[64];
    copy_backup(w, "merkle-unreadable", dir);
    uint8_t key[9 + MERKLE_HASH_BYTES] = {1}; /* level 1, index 3: sequences 7..8 */
    store_u64_to_key(3, key + 1);
    struct raw raw;
    MDB_dbi merkle = raw_open(&raw, dir, "merkle");
    MDB_val k = {9, key}, v;
    assert_int_equal(mdb_get(raw.txn, merkle, &k, &v), MDB_SUCCESS);
    assert_int_equal(v.mv_size, MERKLE_HASH_BYTES);
    memcpy(key + 9, v.mv_data, MERKLE_HASH_BYTES);
    mdb_txn_abort(raw.txn);
    mdb_env_close(raw.env);
    /* The leaf node: the data size's low and high 16 bits, flags, the key's
     * size, the key, then the hash. */
    long size = 0;
    uint8_t *bytes = data_file_read(dir, &size);
    long node = find_once(bytes, size, key, sizeof key) - 8;
    assert_true(node >= 0);
    assert_int_equal(bytes[node] | bytes[node + 1] << 8, MERKLE_HASH_BYTES);
    assert_int_equal(bytes[node + 2] | bytes[node + 3] << 8, 0);
    bytes[node + 3] = 1;
    data_file_write(dir, bytes, size);
    sequence_phrase(7, phrase);
    struct outcome o;
    const char *args[] = {"--no-views", dir, NULL};
    run_verify(w, args, &o);
    expect(&o, 1, phrase, "the stored Merkle node over sequences 7..8");
    expect_one_failure(&o);
    test_remove_dir(dir);
}

/* Raises by one the entry count in LMDB's header of the database `name`
 * (the log's or the leaves', which count w->head entries), in the copy in
 * `dir`. The header is the main database's node of `name`: 48 bytes of data
 * (LMDB's MDB_db), flags F_SUBDATA (2), the key's size, the key; the entry
 * count is at byte 32 of the data. */
static void entry_count_raise(const struct world *w, const char *dir, const char *name)
{
    size_t name_size = strlen(name);
    uint8_t node[8 + 16] = {48, 0, 0, 0, 2, 0, (uint8_t)name_size, 0};
    assert_true(name_size <= 16);
    memcpy(node + 8, name, name_size);
    long size = 0;
    uint8_t *bytes = data_file_read(dir, &size);
    long found = find_once(bytes, size, node, 8 + name_size);
    uint8_t *entries = bytes + found + 8 + name_size + 32;
    uint64_t count = 0;
    for (int i = 7; i >= 0; i--) {
        count = count << 8 | entries[i];
    }
    assert_int_equal(count, w->head);
    entries[0]++;
    data_file_write(dir, bytes, size);
}

/* The leaf database's entry count (LMDB's header of it, in the main
 * database) raised by one while every leaf hash is there: the file is
 * damaged, but no record is missing, and the verifier does not say the log
 * was cut back. */
static void test_verify_altered_leaf_count_is_not_a_cut_back(void **state)
{
    struct world *w = *state;
    char dir[PATH_SIZE];
    copy_backup(w, "leaf-count", dir);
    entry_count_raise(w, dir, "leaf");

    struct outcome o;
    const char *args[] = {"--no-views", dir, NULL};
    expect_failed_once(w, args, &o, "the leaf database's header counts", "no record is missing");
    assert_null(strstr(o.err, "cut back"));
    test_remove_dir(dir);
}

/* The log database's entry count (LMDB's header of it) raised by one while
 * every record is there: the log's length and the records walked disagree,
 * and the verifier names the sequence after the last record walked, the
 * first one the header counts but the log does not hold. */
static void test_verify_altered_log_count_names_the_sequence_after_the_log(void **state)
{
    struct world *w = *state;
    char dir[PATH_SIZE], phrase[64];
    copy_backup(w, "log-count", dir);
    entry_count_raise(w, dir, "log");

    struct outcome o;
    const char *args[] = {"--no-views", dir, NULL};
    run_verify(w, args, &o);
    sequence_phrase(w->head + 1, phrase);
    expect(&o, 1, phrase, "the log's last key and its record count disagree");
    expect_one_failure(&o);
    test_remove_dir(dir);
}

/* A log emptied with its leaf hashes and its tree, as a wiper with the
 * file would leave it (nothing there counts what it held): no ledger is
 * empty, since ledgerd init records the first operator as sequence 1, so
 * that is a failure at sequence 1, never "verified: 0 events"; a saved head
 * says how much was lost. */
static void test_verify_emptied_log_fails(void **state)
{
    struct world *w = *state;
    char dir[PATH_SIZE], head[PATH_SIZE], cut[160];
    copy_backup(w, "emptied", dir);
    struct raw raw;
    MDB_dbi log = raw_open(&raw, dir, "log");
    const char *derived[] = {"leaf", "merkle"};
    assert_int_equal(mdb_drop(raw.txn, log, 0), MDB_SUCCESS);
    for (size_t i = 0; i < sizeof derived / sizeof derived[0]; i++) {
        assert_int_equal(mdb_drop(raw.txn, raw_db(&raw, derived[i]), 0), MDB_SUCCESS);
    }
    raw_close(&raw);

    const char *emptied = "FAILED at sequence 1: the log holds no records, but every ledger "
                          "holds at least its first operator's PrincipalAdded as sequence 1";
    struct outcome o;
    const char *no_views[] = {"--no-views", dir, NULL};
    expect_failed_once(w, no_views, &o, emptied, "the log was emptied");
    assert_string_equal(o.out, "");
    const char *views[] = {dir, NULL};
    expect_failed_once(w, views, &o, emptied, "(a saved head, --head, counts what it held)");
    assert_string_equal(o.out, "");
    head_arg(dir, head);
    snprintf(cut, sizeof cut,
             "FAILED at sequence 1: history truncated: the log ends at sequence 0 but the saved "
             "head covers %llu records: sequences 1..%llu are missing",
             (unsigned long long)w->head, (unsigned long long)w->head);
    const char *with_head[] = {"--no-views", "--head", head, dir, NULL};
    expect_failed_once(w, with_head, &o, cut, NULL);
    test_remove_dir(dir);
}

/* Every branch page of the copy's B-trees made to hold one key, which LMDB
 * asserts a branch page never does: the assertion's abort is reported as
 * the verifier's verdict on a damaged file, not as a crash. A page is its
 * number (8 bytes), 2 bytes of padding, its flags (P_BRANCH is 1, P_LEAF 2,
 * P_OVERFLOW 4, P_META 8), then the offset where its free space starts,
 * 16 bytes of header plus 2 per key; an overflow page's data runs on over
 * the next (its page count at byte 12) pages, which have no header. */
static void test_verify_inconsistent_b_tree_is_a_verdict(void **state)
{
    struct world *w = *state;
    char dir[PATH_SIZE];
    copy_backup(w, "one-key-branch", dir);
    long size = 0;
    uint8_t *bytes = data_file_read(dir, &size);
    /* The page size, in the first meta page: its header, then the magic,
     * the version, the address and the map size, then the free database's
     * record, whose first field holds it. */
    uint32_t page_size = 0;
    memcpy(&page_size, bytes + 16 + 4 + 4 + 8 + 8, sizeof page_size);
    assert_true(page_size >= 512 && size % page_size == 0);
    unsigned damaged = 0;
    for (long page = 2; page < size / (long)page_size; page++) {
        uint8_t *header = bytes + page * (long)page_size;
        uint64_t number = 0;
        uint16_t flags = 0, lower = 0;
        memcpy(&number, header, sizeof number);
        memcpy(&flags, header + 10, sizeof flags);
        if (number != (uint64_t)page) {
            continue;
        }
        if (flags & 0x04) {
            uint32_t pages = 0;
            memcpy(&pages, header + 12, sizeof pages);
            page += (long)pages - 1;
        } else if (flags & 0x01) {
            memcpy(&lower, header + 12, sizeof lower);
            assert_true(lower > 16 + 2);
            lower = 16 + 2;
            memcpy(header + 12, &lower, sizeof lower);
            damaged++;
        }
    }
    assert_true(damaged > 0);
    data_file_write(dir, bytes, size);

    struct outcome o;
    const char *args[] = {"--no-views", dir, NULL};
    run_verify(w, args, &o);
    /* The log's root is read before the walk reaches its first record. */
    expect(&o, 1, "FAILED: the data file is damaged: LMDB found its B-tree inconsistent", NULL);
    test_remove_dir(dir);
}

static void test_verify_usage_errors_exit_2(void **state)
{
    struct world *w = *state;
    char missing[PATH_SIZE], head[PATH_SIZE], garbage[PATH_SIZE];
    path_join(missing, w->root, "no-such-directory");
    head_arg(w->backup, head);
    struct outcome o;
    const char *no_dir[] = {"--head", head, missing, NULL};
    run_verify(w, no_dir, &o);
    expect(&o, 2, "holds no ledger (no data.mdb)", "give a data directory or a backup directory");
    assert_null(strstr(o.err, "daemon's log")); /* there is no daemon */
    assert_null(strstr(o.err, "cannot open"));  /* nothing is opened */
    const char *empty_dir[] = {"--no-views", w->root, NULL};
    run_verify(w, empty_dir, &o);
    expect(&o, 2, "holds no ledger", NULL);
    /* A data.mdb that is there but no file (a FIFO, which opening would
     * wait on forever; a directory) is named as such, and never opened. */
    char odd[PATH_SIZE], odd_data[PATH_SIZE];
    path_join(odd, w->root, "odd-data");
    assert_int_equal(0, mkdir(odd, 0700));
    path_join(odd_data, odd, "data.mdb");
    assert_int_equal(0, mkfifo(odd_data, 0600));
    const char *fifo_dir[] = {"--no-views", odd, NULL};
    run_verify(w, fifo_dir, &o);
    expect(&o, 2, "holds no ledger (its data.mdb is not a regular file: a ledger's is)",
           "give a data directory or a backup directory");
    assert_int_equal(0, unlink(odd_data));
    assert_int_equal(0, mkdir(odd_data, 0700));
    run_verify(w, fifo_dir, &o);
    expect(&o, 2, "its data.mdb is not a regular file", NULL);
    test_remove_dir(odd);
    const char *no_head[] = {"--head", missing, w->backup, NULL};
    run_verify(w, no_head, &o);
    expect(&o, 2, "cannot open head file", NULL);
    path_join(garbage, w->root, "garbage.pb");
    FILE *f = fopen(garbage, "wb");
    assert_non_null(f);
    fputs("this is not a head", f);
    fclose(f);
    const char *bad_head[] = {"--head", garbage, w->backup, NULL};
    run_verify(w, bad_head, &o);
    /* The code ledgerctl verify --head gives the same file: no request was
     * made, so not BAD_REQUEST. */
    expect(&o, 2, "error: USAGE: --head: ", "is not a serialized ledger.v1.SignedHead");
    /* A real head followed by unknown fields (field 15, varint 0), past what
     * any head holds: refused whole, as ledgerd and ledgerctl refuse it, not
     * read in part (its first LEDGER_HEAD_FILE_MAX bytes end between two
     * fields, and decode as the head). */
    uint8_t bytes[LEDGER_HEAD_FILE_MAX + 64];
    size_t size = test_read_bytes(head, bytes, sizeof bytes);
    assert_true(size != SIZE_MAX && size < 512);
    size_t at = size < 512 ? size : 0;
    if ((LEDGER_HEAD_FILE_MAX - at) % 2 != 0) {
        bytes[at++] = 0x78; /* the same field with a two-byte varint 0 */
        bytes[at++] = 0x80;
        bytes[at++] = 0x00;
    }
    for (; at + 2 <= sizeof bytes; at += 2) {
        bytes[at] = 0x78;
        bytes[at + 1] = 0x00;
    }
    f = fopen(garbage, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, sizeof bytes, f), sizeof bytes);
    assert_int_equal(fclose(f), 0);
    run_verify(w, bad_head, &o);
    expect(&o, 2, "is not a serialized ledger.v1.SignedHead (it is larger than any head)", NULL);
    /* Its first LEDGER_HEAD_FILE_MAX bytes, a file of the limit's size, are
     * the head; and that many bytes that are no head are not said to be
     * larger than any. */
    const char *limit_head[] = {"--no-views", "--head", garbage, w->backup, NULL};
    for (int is_head = 1; is_head >= 0; is_head--) {
        if (!is_head) {
            memset(bytes, 0xff, sizeof bytes);
        }
        f = fopen(garbage, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(bytes, 1, LEDGER_HEAD_FILE_MAX, f), LEDGER_HEAD_FILE_MAX);
        assert_int_equal(fclose(f), 0);
        run_verify(w, limit_head, &o);
        if (is_head) {
            expect(&o, 0, NULL, NULL);
            assert_non_null(strstr(o.out, "extends the saved head"));
        } else {
            expect(&o, 2, "is not a serialized ledger.v1.SignedHead (save one", NULL);
            assert_null(strstr(o.err, "larger than any head"));
        }
    }
    unlink(garbage);
    /* A head file that cannot be read says why. */
    const char *directory_head[] = {"--head", w->root, w->backup, NULL};
    run_verify(w, directory_head, &o);
    expect(&o, 2, "cannot read head file", "Is a directory");
    const char *short_key[] = {"--public-key", "abcd", "--head", head, w->backup, NULL};
    run_verify(w, short_key, &o);
    expect(&o, 2, "--public-key", NULL);
    /* A key that is no key is a usage error with no head too, not a
     * verification that checked everything else. */
    const char *short_key_only[] = {"--no-views", "--public-key", "abcd", w->backup, NULL};
    run_verify(w, short_key_only, &o);
    expect(&o, 2, "error: USAGE: --public-key needs 64 hex digits", NULL);
    /* The data file itself given for its directory is told so. */
    char data_file[PATH_SIZE];
    path_join(data_file, w->backup, "data.mdb");
    const char *file_dir[] = {"--no-views", data_file, NULL};
    run_verify(w, file_dir, &o);
    expect(&o, 2, "is not a directory", "give the directory that holds data.mdb");
    /* A lock file that LMDB cannot open (here a directory in its place):
     * the directory cannot be read as a ledger, which says why. */
    char locked[PATH_SIZE], lock_path[PATH_SIZE];
    copy_backup(w, "lock-directory", locked);
    path_join(lock_path, locked, "lock.mdb");
    assert_int_equal(mkdir(lock_path, 0700), 0);
    const char *lock_dir[] = {"--no-views", locked, NULL};
    run_verify(w, lock_dir, &o);
    char cannot_open[PATH_SIZE + 64];
    snprintf(cannot_open, sizeof cannot_open,
             "error: STORAGE_ERROR: cannot open %s as a ledger: ", locked);
    expect(&o, 2, cannot_open, "Is a directory\n");
    assert_string_equal(o.out, "");
    test_remove_dir(locked);
    /* A verdict that cannot be written is not reported as verified. */
    stdout_target = "/dev/full";
    const char *plain[] = {"--no-views", w->backup, NULL};
    run_verify(w, plain, &o);
    stdout_target = NULL;
    expect(&o, 2, "error: IO_ERROR: cannot write the output: No space left on device", NULL);
    /* Nor is one into a pipe whose reader has gone (`ledger-verify DIR |
     * head -0`): a write that fails, said as such, not a death by SIGPIPE. */
    stdout_reader_gone = true;
    run_verify(w, plain, &o);
    stdout_reader_gone = false;
    expect(&o, 2, "error: IO_ERROR: cannot write the output: Broken pipe\n", NULL);
    const char *no_args[] = {NULL};
    run_verify(w, no_args, &o);
    expect(&o, 2, "usage", NULL);
    const char *two_dirs[] = {w->backup, w->early, NULL};
    run_verify(w, two_dirs, &o);
    expect(&o, 2, "usage", NULL);
    const char *unknown[] = {"--frobnicate", w->backup, NULL};
    run_verify(w, unknown, &o);
    expect(&o, 2, "usage", NULL);
    /* Asked for, the usage is no error: on stdout, exit 0, nothing checked. */
    const char *help[] = {"--help", NULL};
    run_verify(w, help, &o);
    expect(&o, 0, NULL, NULL);
    assert_non_null(strstr(o.out, "usage: ledger-verify [--head FILE]"));
    assert_string_equal(o.err, "");
}

/* The views check's scratch copy cannot be made ($TMPDIR names no
 * directory): nothing was compared, so that is a usage error, and nothing
 * is said to agree; --no-views needs no copy. */
static void test_verify_scratch_copy_not_made_exits_2(void **state)
{
    struct world *w = *state;
    char missing[PATH_SIZE];
    path_join(missing, w->root, "no-such-scratch");
    struct outcome o;
    const char *args[] = {w->backup, NULL};
    scratch_parent = missing;
    run_verify(w, args, &o);
    scratch_parent = NULL;
    expect(&o, 2, "error: IO_ERROR: cannot make a scratch directory", NULL);
    assert_string_equal(o.out, "");
    const char *no_views[] = {"--no-views", w->backup, NULL};
    scratch_parent = missing;
    run_verify(w, no_views, &o);
    scratch_parent = NULL;
    expect(&o, 0, NULL, NULL);
}

/* The views check's scratch copy cannot be written whole (no room where
 * $TMPDIR says: a file size limit fails its writes as a full disk does), or
 * can be, but then not the replay in it: nothing was compared, so that is
 * not a verdict on the ledger (no "FAILED", no "damaged"), but exit 2 with
 * what could not be done and what to do; the copy is removed either way,
 * since it holds the principals' secrets. */
static void test_verify_scratch_copy_without_room_exits_2(void **state)
{
    struct world *w = *state;
    char scratch[PATH_SIZE], data[PATH_SIZE];
    path_join(scratch, w->root, "small-scratch");
    assert_int_equal(mkdir(scratch, 0700), 0);
    path_join(data, w->backup, "data.mdb");
    struct stat info;
    assert_int_equal(stat(data, &info), 0);
    const struct {
        rlim_t limit;
        const char *step, *why;
    } cases[] = {
        /* Less than the copy. */
        {(rlim_t)info.st_size / 4, "could not copy the ledger into its scratch directory ",
         ": mdb_env_copyfd2: File too large: "},
        /* The copy (compacted, as the backup is) and a little: the replay
         * writes its views beside the ones it replaces. */
        {(rlim_t)info.st_size + 65536, "could not replay the log in its scratch directory ",
         ": mdb_txn_commit: "},
    };
    const char *args[] = {w->backup, NULL};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct outcome o;
        scratch_parent = scratch;
        file_size_limit = cases[i].limit;
        run_verify(w, args, &o);
        scratch_parent = NULL;
        file_size_limit = 0;
        expect(&o, 2, "error: STORAGE_ERROR: the views check ", cases[i].step);
        assert_non_null(strstr(o.err, ": make room there (the copy is about as large as data.mdb"));
        assert_non_null(strstr(o.err, cases[i].why));
        assert_non_null(strstr(o.err, "or check the log only with --no-views\n"));
        assert_null(strstr(o.err, "FAILED"));
        assert_string_equal(o.out, "");
        assert_true(dir_empty(scratch));
    }
    test_remove_dir(scratch);
}

/* The whole file at `path`; the caller frees it. */
static uint8_t *read_all(const char *path, size_t *size_out)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    uint8_t *bytes = malloc(4096);
    assert_non_null(bytes);
    size_t n = fread(bytes, 1, 4096, f);
    assert_true(n < 4096);
    fclose(f);
    *size_out = n;
    return bytes;
}

/* Runs `argv` (NULL-terminated) with output to /dev/null; its exit status. */
static int run_quiet(const char *const *argv)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* tools/ledger-fixture writes a ledger of its own from nothing: the same
 * options give the same log (tree size and root), and the verifier accepts
 * it whole. */
static void test_verify_fixture_tool_output_verifies(void **state)
{
    struct world *w = *state;
    const char *fixture = getenv("LEDGER_FIXTURE");
    if (fixture == NULL || fixture[0] == '\0') {
        fail_msg("LEDGER_FIXTURE must name the ledger-fixture binary (ctest sets it)");
    }
    char first[PATH_SIZE], second[PATH_SIZE], head[PATH_SIZE];
    path_join(first, w->root, "fixture-1");
    path_join(second, w->root, "fixture-2");
    for (int i = 0; i < 2; i++) {
        const char *args[] = {
            fixture, "--quiet", "--events", "300", "--seed", "5", i == 0 ? first : second, NULL};
        assert_int_equal(run_quiet(args), 0);
    }
    path_join(head, first, "head.pb");
    struct outcome o;
    const char *verify[] = {"--head", head, first, NULL};
    run_verify(w, verify, &o);
    expect(&o, 0, NULL, NULL);
    size_t size_one = 0, size_two = 0;
    uint8_t *one = read_all(head, &size_one);
    path_join(head, second, "head.pb");
    uint8_t *two = read_all(head, &size_two);
    /* Heads are signed at the time they are made: the size and root agree. */
    Ledger__V1__SignedHead *head_one = ledger__v1__signed_head__unpack(NULL, size_one, one);
    Ledger__V1__SignedHead *head_two = ledger__v1__signed_head__unpack(NULL, size_two, two);
    assert_non_null(head_one);
    assert_non_null(head_two);
    assert_int_equal(head_one->tree_size, 301);
    assert_int_equal(head_one->tree_size, head_two->tree_size);
    assert_int_equal(head_one->root_hash.len, 32);
    assert_memory_equal(head_one->root_hash.data, head_two->root_hash.data, 32);
    ledger__v1__signed_head__free_unpacked(head_one, NULL);
    ledger__v1__signed_head__free_unpacked(head_two, NULL);
    free(one);
    free(two);
    test_remove_dir(first);
    test_remove_dir(second);
}

/* ledger-fixture's command line: each option out of its range, an unknown
 * option and a missing OUTDIR are usage errors (exit 2) that name the
 * option and its range, and leave nothing behind; so is an OUTDIR whose
 * directory is not there, or a path through a file, refused before any
 * history is written (not "already exists", nor a failure after the whole
 * history was made), and a generated history's option given with
 * --refresh, which has no use for it. --help prints the usage on stdout. */
static void test_verify_fixture_usage_errors_exit_2(void **state)
{
    struct world *w = *state;
    const char *fixture = getenv("LEDGER_FIXTURE");
    assert_non_null(fixture);
    char out[PATH_SIZE], missing_parent[PATH_SIZE], through_file[PATH_SIZE], parent[PATH_SIZE];
    char cannot[3 * PATH_SIZE], data[PATH_SIZE];
    path_join(out, w->root, "fixture-usage");
    path_join(parent, w->root, "no-such-directory");
    path_join(missing_parent, parent, "fixture");
    path_join(data, w->backup, "data.mdb");
    path_join(through_file, data, "fixture");
    const struct {
        const char *args[6];
        const char *phrase;
    } cases[] = {
        {{"--events", "0", out}, "ledger-fixture: --events wants 1..10000000\n"},
        {{"--events", "10000001", out}, "ledger-fixture: --events wants 1..10000000\n"},
        {{"--events", "12x", out}, "ledger-fixture: --events wants 1..10000000\n"},
        {{"--seed", "-1", out}, "ledger-fixture: --seed wants a whole number\n"},
        {{"--seed", "18446744073709551616", out}, "ledger-fixture: --seed wants a whole number\n"},
        {{"--partners", "0", out}, "ledger-fixture: --partners wants 1..100000\n"},
        {{"--customers", "100001", out}, "ledger-fixture: --customers wants 1..100000\n"},
        {{"--frobnicate", out}, "usage: ledger-fixture [--events N]"},
        {{"--quiet"}, "usage: ledger-fixture [--events N]"},
        {{"--quiet", out, out}, "usage: ledger-fixture [--events N]"},
        {{"--refresh", w->backup, "--seed", "3", out},
         "ledger-fixture: --seed does not apply with --refresh, which keeps the fixture's "
         "records as they are (only --quiet does)\n"},
        {{"--events", "5", through_file}, "Not a directory\n"},
        {{"--events", "5", missing_parent}, ": No such file or directory\n"},
    };
    struct outcome o;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        run_program(w, fixture, cases[i].args, &o);
        expect(&o, 2, cases[i].phrase, NULL);
        assert_string_equal(o.out, "");
        assert_int_equal(access(out, F_OK), -1);
    }
    snprintf(cannot, sizeof cannot, "ledger-fixture: cannot make %s: Not a directory\n",
             through_file);
    const char *file_args[] = {"--events", "5", through_file, NULL};
    run_program(w, fixture, file_args, &o);
    assert_string_equal(o.err, cannot);
    snprintf(cannot, sizeof cannot,
             "ledger-fixture: cannot make %s: %s: No such file or directory\n", missing_parent,
             parent);
    const char *missing_args[] = {"--events", "5", missing_parent, NULL};
    run_program(w, fixture, missing_args, &o);
    assert_string_equal(o.err, cannot);
    const char *help[] = {"--help", NULL};
    run_program(w, fixture, help, &o);
    expect(&o, 0, NULL, NULL);
    assert_string_equal(o.err, "");
    assert_non_null(strstr(o.out, "usage: ledger-fixture [--events N] [--seed N]"));
    assert_non_null(strstr(o.out, "  --refresh DIR "));
}

/* A fixture directory in the test's root: `data_from`'s data.mdb and
 * `head_from`'s head.pb (either NULL: that file left out). */
static void fixture_copy(const struct world *w, const char *label, const char *data_from,
                         const char *head_from, char out[PATH_SIZE])
{
    char from[PATH_SIZE], to[PATH_SIZE];
    path_join(out, w->root, label);
    assert_int_equal(mkdir(out, 0700), 0);
    if (data_from != NULL) {
        path_join(from, data_from, "data.mdb");
        path_join(to, out, "data.mdb");
        copy_file(from, to);
    }
    if (head_from != NULL) {
        path_join(from, head_from, "head.pb");
        path_join(to, out, "head.pb");
        copy_file(from, to);
    }
}

/* ledger-fixture --refresh of `dir` into `out` fails (exit 1) saying
 * `phrase` and `other` (either may be NULL), and `out` is not made. */
static void expect_refresh_refused(const struct world *w, const char *dir, const char *out,
                                   const char *phrase, const char *other)
{
    const char *args[] = {"--refresh", dir, out, NULL};
    struct outcome o;
    run_program(w, getenv("LEDGER_FIXTURE"), args, &o);
    expect(&o, 1, phrase, other);
    assert_int_equal(access(out, F_OK), -1);
}

/* ledger-fixture --refresh (docs/events.md, "Refreshing a fixture's
 * views"): the checked-in fixture, whose views are of an older layout, comes
 * out with the same head, views of this build's layout and a whole ledger
 * that verifies against that head; refreshed again it changes nothing, and a
 * view row altered in a copy is derived again and named. What is not a
 * fixture is refused with the file named, and nothing is written. */
static void test_verify_fixture_refresh(void **state)
{
    struct world *w = *state;
    const char *fixture_tool = getenv("LEDGER_FIXTURE");
    const char *source = getenv("LEDGER_SOURCE_DIR");
    assert_non_null(fixture_tool);
    assert_non_null(source);
    char v1[PATH_SIZE], v2[PATH_SIZE], out[PATH_SIZE], path[PATH_SIZE], head[PATH_SIZE];
    path_join(v1, source, "tests/fixtures/schema-v1");
    path_join(v2, source, "tests/fixtures/schema-v2");
    struct outcome o;

    path_join(out, w->root, "refreshed");
    const char *refresh_v2[] = {"--refresh", v2, out, NULL};
    run_program(w, fixture_tool, refresh_v2, &o);
    expect(&o, 0, NULL, NULL);
    char upgraded[96];
    snprintf(upgraded, sizeof upgraded, ", views of layout 5 derived in layout %d (nothing",
             ENGINE_VIEWS_LAYOUT);
    if (strstr(o.out, upgraded) == NULL) {
        fail_msg("wanted \"%s\", stdout:\n%s", upgraded, o.out);
    }
    size_t size_fixture = 0, size_refreshed = 0;
    path_join(path, v2, "head.pb");
    uint8_t *head_fixture = read_all(path, &size_fixture);
    path_join(path, out, "head.pb");
    uint8_t *head_refreshed = read_all(path, &size_refreshed);
    assert_int_equal(size_fixture, size_refreshed);
    assert_memory_equal(head_fixture, head_refreshed, size_fixture);
    free(head_fixture);
    free(head_refreshed);
    path_join(head, v2, "head.pb");
    const char *verify[] = {"--head", head, out, NULL};
    run_verify(w, verify, &o);
    expect(&o, 0, NULL, NULL);

    /* The directory it wrote is not written again. */
    run_program(w, fixture_tool, refresh_v2, &o);
    expect(&o, 2, "already exists", NULL);

    /* Views of this layout: a second refresh compares, and changes nothing. */
    char again[PATH_SIZE];
    path_join(again, w->root, "refreshed-again");
    const char *refresh_again[] = {"--refresh", out, again, NULL};
    run_program(w, fixture_tool, refresh_again, &o);
    expect(&o, 0, NULL, NULL);
    if (strstr(o.out, ", 0 derived databases changed\n") == NULL) {
        fail_msg("wanted no derived database changed, stdout:\n%s", o.out);
    }
    test_remove_dir(again);

    /* A view row that a replay would not write: derived again, named. */
    char altered[PATH_SIZE];
    fixture_copy(w, "fixture-altered", out, out, altered);
    test_remove_dir(out);
    const uint8_t stray_key[] = "zz-not-a-key";
    const uint8_t stray_row[] = {0x01};
    raw_change(altered, "order", stray_key, sizeof stray_key - 1, stray_row, sizeof stray_row);
    const char *refresh_altered[] = {"--refresh", altered, out, NULL};
    run_program(w, fixture_tool, refresh_altered, &o);
    expect(&o, 0, NULL, NULL);
    if (strstr(o.out, "derived again: order\n") == NULL ||
        strstr(o.out, ", 1 derived databases changed") == NULL) {
        fail_msg("wanted the order view derived again, alone, stdout:\n%s", o.out);
    }
    run_verify(w, verify, &o);
    expect(&o, 0, NULL, NULL);
    test_remove_dir(out);
    test_remove_dir(altered);

    /* One fixture's log under another's head: refused, nothing written. */
    char mixed[PATH_SIZE];
    fixture_copy(w, "fixture-mixed", v1, v2, mixed);
    expect_refresh_refused(w, mixed, out, "is not the one its head.pb signed", NULL);
    test_remove_dir(mixed);

    /* No head.pb; a head.pb that is not a signed head; no data.mdb. */
    char headless[PATH_SIZE];
    fixture_copy(w, "fixture-headless", v2, NULL, headless);
    expect_refresh_refused(w, headless, out, "head.pb: No such file or directory",
                           "a fixture directory holds");
    path_join(path, headless, "head.pb");
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fputs("not a head", f) >= 0, true);
    assert_int_equal(fclose(f), 0);
    expect_refresh_refused(w, headless, out, "is not a signed head", NULL);
    test_remove_dir(headless);
    char dataless[PATH_SIZE];
    fixture_copy(w, "fixture-dataless", NULL, v2, dataless);
    expect_refresh_refused(w, dataless, out, "data.mdb: No such file or directory", NULL);
    test_remove_dir(dataless);
}

/* ledger-fixture --refresh refuses, with exit 1, the file named and
 * nothing written: a head.pb whose root is not 32 bytes, a data.mdb that is
 * not an LMDB file (saying what LMDB said of it), a log that does not
 * replay (naming the record and why); and either mode without a working
 * directory where $TMPDIR says, naming it. */
static void test_verify_fixture_refresh_refuses_what_is_no_fixture(void **state)
{
    struct world *w = *state;
    const char *fixture_tool = getenv("LEDGER_FIXTURE");
    const char *source = getenv("LEDGER_SOURCE_DIR");
    assert_non_null(fixture_tool);
    assert_non_null(source);
    char v2[PATH_SIZE], out[PATH_SIZE], dir[PATH_SIZE], path[PATH_SIZE], phrase[2 * PATH_SIZE];
    path_join(v2, source, "tests/fixtures/schema-v2");
    path_join(out, w->root, "refused");

    fixture_copy(w, "fixture-short-root", v2, NULL, dir);
    write_changed_head(w, dir, "head.pb", short_root);
    path_join(path, dir, "head.pb");
    snprintf(phrase, sizeof phrase, "ledger-fixture: the root hash in %s is 31 bytes, not 32\n",
             path);
    expect_refresh_refused(w, dir, out, phrase, NULL);
    test_remove_dir(dir);

    fixture_copy(w, "fixture-not-lmdb", NULL, v2, dir);
    path_join(path, dir, "data.mdb");
    uint8_t zeros[8192] = {0};
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(zeros, 1, sizeof zeros, f), sizeof zeros);
    assert_int_equal(fclose(f), 0);
    snprintf(phrase, sizeof phrase,
             "ledger-fixture: %s does not open as a ledger\nledger-fixture: CORRUPT: ", path);
    expect_refresh_refused(w, dir, out, phrase, "File is not an LMDB file\n");
    test_remove_dir(dir);

    /* A record rewritten with its leaf hash and tree so that its log does
     * not replay: named by its sequence and why, as ledger-verify names it. */
    copy_backup(w, "fixture-no-replay", dir);
    rewrite_for_replay_stop(w, dir);
    snprintf(phrase, sizeof phrase,
             "ledger-fixture: the log of %s/data.mdb does not replay: at sequence %llu: the "
             "record is version ",
             dir, (unsigned long long)w->flip_sequence);
    expect_refresh_refused(w, dir, out, phrase, "which the log before it makes version 1");
    test_remove_dir(dir);

    char missing[PATH_SIZE];
    path_join(missing, w->root, "no-such-tmp");
    snprintf(phrase, sizeof phrase,
             "ledger-fixture: cannot make a working directory in %s ($TMPDIR): No such file or "
             "directory\n",
             missing);
    scratch_parent = missing;
    expect_refresh_refused(w, v2, out, phrase, NULL);
    const char *generate[] = {"--events", "5", out, NULL};
    struct outcome o;
    run_program(w, fixture_tool, generate, &o);
    scratch_parent = NULL;
    expect(&o, 1, phrase, NULL);
    assert_int_equal(access(out, F_OK), -1);
}

/* ledger-fixture without room for its working directory (a file size
 * limit fails its writes as a full disk does): --refresh cannot copy the
 * fixture's data.mdb and says so, naming both files; generating a history
 * fails when a commit does, and says what the store said, not the daemon's
 * log (there is none). Exit 1 either way, OUTDIR not made, and the
 * working directory removed. */
static void test_verify_fixture_without_room_fails_and_leaves_nothing(void **state)
{
    struct world *w = *state;
    const char *fixture_tool = getenv("LEDGER_FIXTURE");
    const char *source = getenv("LEDGER_SOURCE_DIR");
    assert_non_null(fixture_tool);
    assert_non_null(source);
    char v2[PATH_SIZE], out[PATH_SIZE], work[PATH_SIZE], phrase[3 * PATH_SIZE];
    path_join(v2, source, "tests/fixtures/schema-v2");
    path_join(out, w->root, "no-room");
    path_join(work, w->root, "no-room-work");
    assert_int_equal(mkdir(work, 0700), 0);
    struct outcome o;

    const char *refresh[] = {"--refresh", v2, out, NULL};
    scratch_parent = work;
    file_size_limit = 65536; /* the fixture's data.mdb is larger */
    run_program(w, fixture_tool, refresh, &o);
    snprintf(phrase, sizeof phrase, "ledger-fixture: cannot copy %s/data.mdb to %s/ledger-fixture-",
             v2, work);
    expect(&o, 1, phrase, "/data.mdb: File too large\n");
    assert_int_equal(access(out, F_OK), -1);
    assert_true(dir_empty(work));

    const char *generate[] = {"--events", "3000", out, NULL};
    run_program(w, fixture_tool, generate, &o);
    scratch_parent = NULL;
    file_size_limit = 0;
    expect(&o, 1, "ledger-fixture: STORAGE_ERROR: mdb_txn_commit: ", NULL);
    assert_null(strstr(o.err, "daemon's log\nledger-fixture: STORAGE_ERROR: the storage"));
    assert_int_equal(access(out, F_OK), -1);
    assert_true(dir_empty(work));
    test_remove_dir(work);
}

/* --- on a terminal ------------------------------------------------------- */

/* What a program wrote on its terminal, and its exit status. */
struct terminal_run {
    int status;
    char output[2 * OUTPUT_BYTES_MAX];
};

/* Runs ledger-verify with `args` (NULL-terminated) with its stdin, stdout
 * and stderr on a new pseudo-terminal, collecting what it writes there
 * until it exits. */
static void verify_on_terminal(const struct world *w, const char *const *args,
                               struct terminal_run *run)
{
    const char *argv[16] = {w->verify};
    size_t argc = 1;
    for (; args[argc - 1] && argc < 15; argc++) {
        argv[argc] = args[argc - 1];
    }
    argv[argc] = NULL;
    int terminal = -1;
    fflush(NULL);
    pid_t pid = forkpty(&terminal, NULL, NULL, NULL);
    assert_true(pid >= 0);
    if (pid == 0) {
        setenv("TMPDIR", w->root, 1);
        execv(w->verify, (char *const *)argv);
        _exit(127);
    }
    size_t used = 0;
    for (;;) {
        struct pollfd ready = {.fd = terminal, .events = POLLIN};
        int n = poll(&ready, 1, -1);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        /* The terminal's last writer gone: EIO (Linux), or end of file. */
        ssize_t got =
            n > 0 ? read(terminal, run->output + used, sizeof run->output - 1 - used) : -1;
        if (got <= 0) {
            break;
        }
        used += (size_t)got;
        if (used == sizeof run->output - 1) {
            break;
        }
    }
    run->output[used] = '\0';
    close(terminal);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    run->status = WEXITSTATUS(status);
}

/* Fails unless the terminal shows, in this order, each of `parts` (NULL
 * ended). */
static void expect_on_terminal(const struct terminal_run *run, int status, const char *const *parts)
{
    const char *at = run->output;
    for (size_t i = 0; parts[i] != NULL && at != NULL; i++) {
        at = strstr(at, parts[i]);
        if (at == NULL) {
            fail_msg("wanted \"%s\" (after the parts before it) on the terminal:\n%s", parts[i],
                     run->output);
        }
        at += strlen(parts[i]);
    }
    if (run->status != status) {
        fail_msg("exit %d (wanted %d), the terminal:\n%s", run->status, status, run->output);
    }
}

/* On a terminal the progress bar is drawn on stderr's line, redrawn in
 * place: a failure ends that line first, with the bar drawn where the walk
 * or the replay stopped, so that the failure starts a line of its own and
 * the bar does not claim the replay finished. Whichever way the walk stops:
 * a check that fails, or a read that faults in a damaged file (the fault
 * handler's verdict). --quiet draws no bar, failure or not. The walk draws
 * every 4,096 records, so the ledger here is a fixture of more than that. */
static void test_verify_failure_on_a_terminal_starts_its_own_line(void **state)
{
    struct world *w = *state;
    const char *fixture = getenv("LEDGER_FIXTURE");
    assert_non_null(fixture);
    char large[PATH_SIZE], dir[PATH_SIZE];
    path_join(large, w->root, "terminal-fixture");
    const char *make[] = {fixture, "--quiet", "--events", "4500", large, NULL};
    assert_int_equal(run_quiet(make), 0);
    const uint64_t bad = 4400; /* past the walk's first redraw, at 4096 */

    /* A hole in the log (of 4,500 records then). */
    path_join(dir, w->root, "terminal-hole");
    assert_int_equal(mkdir(dir, 0700), 0);
    char from[PATH_SIZE], to[PATH_SIZE];
    path_join(from, large, "data.mdb");
    path_join(to, dir, "data.mdb");
    copy_file(from, to);
    struct raw raw;
    MDB_dbi log = raw_open(&raw, dir, "log");
    size_t record_size = 0;
    uint8_t *record = raw_record(&raw, log, bad, &record_size);
    uint8_t key[8];
    store_u64_to_key(bad, key);
    MDB_val k = {8, key};
    assert_int_equal(mdb_del(raw.txn, log, &k, NULL), MDB_SUCCESS);
    raw_close(&raw);
    struct terminal_run run;
    const char *args[] = {"--no-views", dir, NULL};
    verify_on_terminal(w, args, &run);
    const char *hole[] = {"\rverify   [",
                          "  4096/4500 events  ",
                          "\rverify   [",
                          "  4399/4500 events  ",
                          " left \r\nFAILED at sequence 4400: sequences are not dense: expected "
                          "4400, found 4401\r\n",
                          NULL};
    expect_on_terminal(&run, 1, hole);
    const char *quiet[] = {"--quiet", "--no-views", dir, NULL};
    verify_on_terminal(w, quiet, &run);
    assert_int_equal(run.status, 1);
    assert_string_equal(run.output, "FAILED at sequence 4400: sequences are not dense: expected "
                                    "4400, found 4401\r\n");
    test_remove_dir(dir);

    /* A record whose node's size runs past the file's end: the walk faults. */
    path_join(dir, w->root, "terminal-fault");
    assert_int_equal(mkdir(dir, 0700), 0);
    path_join(to, dir, "data.mdb");
    copy_file(from, to);
    record_node_size_set(dir, record, record_size, 0);
    free(record);
    verify_on_terminal(w, args, &run);
    const char *fault[] = {"\rverify   [", "  4096/4501 events  ",
                           " left \r\nFAILED at sequence 4400: the data file is damaged: reading "
                           "it ran past the file's end",
                           NULL};
    expect_on_terminal(&run, 1, fault);
    test_remove_dir(dir);
    test_remove_dir(large);

    /* The replay stops at the flip record: the bar stops there too. */
    copy_backup(w, "terminal-replay", dir);
    rewrite_for_replay_stop(w, dir);
    const char *views[] = {dir, NULL};
    verify_on_terminal(w, views, &run);
    char stopped[64], failed[64];
    snprintf(stopped, sizeof stopped, "  %llu/%llu events  ",
             (unsigned long long)w->flip_sequence - 1, (unsigned long long)w->head);
    snprintf(failed, sizeof failed, " left \r\nFAILED at sequence %llu: replaying the log: ",
             (unsigned long long)w->flip_sequence);
    const char *replay[] = {"\rreplay   [", stopped, failed, NULL};
    expect_on_terminal(&run, 1, replay);
    assert_null(strstr(strstr(run.output, "\rreplay   ["), "100%"));
    test_remove_dir(dir);
}

/* --- a live data directory ------------------------------------------------ */

/* Appends generated commands of partners of its own to an open engine until
 * told to stop, committing every few commands, as a daemon serving
 * requests would. */
struct live_writer {
    struct engine *engine;
    atomic_bool stop;
    atomic_uint_fast64_t committed; /* commits made */
    char error[512];                /* "" unless a command failed */
    bool second;                    /* a second writer: partners and ids of its own */
};

#define LIVE_COMMIT_ITEMS 8

static void *live_write(void *arg)
{
    struct live_writer *writer = arg;
    struct histgen_options options = {.seed = 11,
                                      .partners = 2,
                                      .customers_per_partner = 20,
                                      .target_events = 1000000,
                                      .partner_first = writer->second ? 2000 : 1000,
                                      .command_prefix = writer->second ? "again-" : "live-"};
    struct histgen *gen = NULL;
    struct histload *load = NULL;
    enum ledger_err err = histgen_new(&options, &gen);
    if (err == LEDGER_ERR_OK) {
        err = histload_new(writer->engine, gen, 0, &load);
    }
    struct histgen_item item;
    for (unsigned n = 1; err == LEDGER_ERR_OK && !atomic_load(&writer->stop); n++) {
        if (!histgen_next(gen, &item)) {
            break;
        }
        err = histload_add(load, &item);
        if (err == LEDGER_ERR_OK && n % LIVE_COMMIT_ITEMS == 0) {
            err = histload_flush(load);
            atomic_fetch_add(&writer->committed, 1);
        }
    }
    if (err == LEDGER_ERR_OK && load) {
        err = histload_flush(load);
    }
    if (err != LEDGER_ERR_OK) {
        snprintf(writer->error, sizeof writer->error, "%s (%s)", load ? histload_error(load) : "",
                 ledger_err_name(err));
    }
    histload_free(load);
    histgen_free(gen);
    return NULL;
}

/* The verifier run on a data directory while its daemon writes to it: the
 * log walk and the replay each read one consistent snapshot, so an intact
 * ledger verifies every time, however the writes fall between them; and a
 * view row tampered with is reported as that view whether or not the log
 * grew between the scratch copy and the naming of the entry (which then
 * says the directory was written while it was verified). */
static void test_verify_live_directory_while_written(void **state)
{
    struct world *w = *state;
    struct engine_options options = {.data_dir = w->live, .no_sync = true};
    struct engine *engine = NULL;
    assert_int_equal(engine_open(&options, &engine), LEDGER_ERR_OK);
    struct live_writer writer = {.engine = engine};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, live_write, &writer), 0);
    struct outcome o;
    const char *args[] = {w->live, NULL};
    unsigned runs = 0;
    uint64_t before = 0;
    /* Until at least three runs saw the log grow while they ran. */
    for (unsigned grown = 0; grown < 3 && runs < 50; runs++) {
        before = atomic_load(&writer.committed);
        run_verify(w, args, &o);
        expect(&o, 0, NULL, NULL);
        grown += atomic_load(&writer.committed) > before;
    }
    atomic_store(&writer.stop, true);
    assert_int_equal(pthread_join(thread, NULL), 0);
    if (writer.error[0]) {
        fail_msg("the writer's command failed: %s", writer.error);
    }
    assert_true(runs < 50);
    uint64_t head = engine_head_sequence(engine);
    assert_true(head > w->head);
    engine_close(engine);
    /* Verified again at rest. */
    run_verify(w, args, &o);
    expect(&o, 0, NULL, NULL);

    /* A row tampered with (the engine closed: one LMDB environment per
     * process), then the same while written. */
    change_reservation_row(w, w->live);
    assert_int_equal(engine_open(&options, &engine), LEDGER_ERR_OK);
    struct live_writer again = {.engine = engine, .second = true};
    assert_int_equal(pthread_create(&thread, NULL, live_write, &again), 0);
    for (unsigned grown = 0, tries = 0; grown < 3 && tries < 50; tries++) {
        before = atomic_load(&again.committed);
        run_verify(w, args, &o);
        expect(&o, 1, "view or index 'reservation' differs from a replay of the log", NULL);
        grown += atomic_load(&again.committed) > before;
    }
    atomic_store(&again.stop, true);
    assert_int_equal(pthread_join(thread, NULL), 0);
    engine_close(engine);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verify_good_backup_passes),
        cmocka_unit_test(test_verify_earlier_head_is_extended),
        cmocka_unit_test(test_verify_lists_subscription_ids_two_customers_hold),
        cmocka_unit_test(test_verify_head_of_another_ledger),
        cmocka_unit_test(test_verify_flipped_record_byte_names_its_sequence),
        cmocka_unit_test(test_verify_truncated_tail_names_the_first_missing_sequence),
        cmocka_unit_test(test_verify_log_hole_names_its_sequence),
        cmocka_unit_test(test_verify_log_key_of_another_length_is_named),
        cmocka_unit_test(test_verify_reordered_records_name_the_first),
        cmocka_unit_test(test_verify_rewritten_history_fails),
        cmocka_unit_test(test_verify_replay_names_the_record_it_stops_at),
        cmocka_unit_test(test_verify_record_framing_is_checked),
        cmocka_unit_test(test_verify_changed_view_row_names_its_sequence),
        cmocka_unit_test(test_verify_deleted_and_added_view_rows_name_their_sequence),
        cmocka_unit_test(test_verify_several_view_differences_name_the_lowest),
        cmocka_unit_test(test_verify_view_entries_without_and_with_a_sequence),
        cmocka_unit_test(test_verify_view_keys_a_byte_longer_or_shorter),
        cmocka_unit_test(test_verify_view_entry_after_the_last_is_named),
        cmocka_unit_test(test_verify_views_that_name_no_sequence),
        cmocka_unit_test(test_verify_bad_heads_fail),
        cmocka_unit_test(test_verify_heads_of_sizes_0_and_1),
        cmocka_unit_test(test_verify_extra_merkle_entries_fail),
        cmocka_unit_test(test_verify_unreadable_merkle_node_is_named),
        cmocka_unit_test(test_verify_layout_1_backup),
        cmocka_unit_test(test_verify_unfinished_rebuild),
        cmocka_unit_test(test_verify_unreadable_views_layout_fails),
        cmocka_unit_test(test_verify_views_of_a_newer_build_are_not_compared),
        cmocka_unit_test(test_verify_truncated_copy_fails),
        cmocka_unit_test(test_verify_altered_record_size_names_its_sequence),
        cmocka_unit_test(test_verify_altered_or_missing_leaf_hash_names_its_sequence),
        cmocka_unit_test(test_verify_leaf_hashes_past_the_log_are_read_to_their_end),
        cmocka_unit_test(test_verify_altered_leaf_count_is_not_a_cut_back),
        cmocka_unit_test(test_verify_altered_log_count_names_the_sequence_after_the_log),
        cmocka_unit_test(test_verify_emptied_log_fails),
        cmocka_unit_test(test_verify_inconsistent_b_tree_is_a_verdict),
        cmocka_unit_test(test_verify_record_past_the_file_end_is_a_verdict),
        cmocka_unit_test(test_verify_damaged_view_leaves_no_scratch_copy),
        cmocka_unit_test(test_verify_damaged_view_page_fails_the_copy),
        cmocka_unit_test(test_verify_usage_errors_exit_2),
        cmocka_unit_test(test_verify_scratch_copy_not_made_exits_2),
        cmocka_unit_test(test_verify_scratch_copy_without_room_exits_2),
        cmocka_unit_test(test_verify_fixture_tool_output_verifies),
        cmocka_unit_test(test_verify_fixture_refresh),
        cmocka_unit_test(test_verify_fixture_usage_errors_exit_2),
        cmocka_unit_test(test_verify_fixture_refresh_refuses_what_is_no_fixture),
        cmocka_unit_test(test_verify_fixture_without_room_fails_and_leaves_nothing),
        cmocka_unit_test(test_verify_failure_on_a_terminal_starts_its_own_line),
        cmocka_unit_test(test_verify_live_directory_while_written),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
