/*
 * store.c: the LMDB environment of one data directory (see store.h for the
 * contract and docs/store.md for the on-disk format).
 *
 * Owns: the only include of <lmdb.h>. Every MDB_* and errno result is turned
 * into an enum ledger_err here, once, with the library's message kept in a
 * thread-local buffer (store_last_error) for the caller's log.
 *
 * Invariants:
 *  - The log is dense from 1: its entry count is its last sequence, so
 *    store_last_sequence is an O(1) mdb_stat. MDB_APPEND refuses any key not
 *    above the last one, and the log is never written any other way.
 *  - The leaf database has exactly the log's keys: both are written in the
 *    same call of store_append, hence the same transaction. store_open checks
 *    that the two counts and last keys agree.
 *  - The stream index's versions of one customer are dense from 1 and its
 *    sequences increase.
 *  - A transaction's cursors are closed before it ends; a parent is not used
 *    while its child is open. These are programmer errors and abort, in
 *    release builds too.
 *  - The map is remapped (store_grow, or adopting a size another process set)
 *    only while no transaction of this process is open: every top-level
 *    transaction passes a gate (a mutex-guarded count) that a growth closes,
 *    waits (bounded) for the count to reach zero, remaps, and reopens.
 *  - The environment is opened once per process (LMDB's POSIX locks would be
 *    lost when a second handle on the same file closed).
 */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "ledger_limits.h"

_Static_assert(STORE_HASH_BYTES == CRYPTO_HASH_BYTES, "leaf hashes are SHA-256");
_Static_assert(3 * (LEDGER_ID_LENGTH_MAX + 1) + 8 <= STORE_KEY_BYTES_MAX,
               "index keys fit LMDB's key limit");

/* Named databases beyond ours that the environment can hold: room for an
 * offline tool to keep a scratch database, and for a newer build to add one
 * without this build failing to open the environment with MDB_DBS_FULL. */
#define STORE_DBS_SPARE 4
/* Environments one process may hold open at once: the daemon holds one, tools
 * two (a source and a copy); tests a few. */
#define STORE_OPEN_MAX 64
/* The thread-local message of the last failure: one line for a log. */
#define STORE_ERROR_BYTES 512
/* Paths we build under a directory (dir + "/data.mdb"). */
#define STORE_PATH_BYTES 4096

/* LMDB's name for an environment's data file. */
#define STORE_DATA_FILE "data.mdb"

/* The meta key holding the format version. */
static const char store_format_key[] = "format";

/* --- invariants that stay checked in release builds ------------------------------------------- */

static _Noreturn void store_invariant_failed(const char *condition, const char *file, int line)
{
    fprintf(stderr, "%s:%d: store invariant failed: %s\n", file, line, condition);
    abort();
}

#define STORE_CHECK(condition)                                                                     \
    do {                                                                                           \
        if (!(condition))                                                                          \
            store_invariant_failed(#condition, __FILE__, __LINE__);                                \
    } while (0)

/* --- types ------------------------------------------------------------------------------------ */

struct store {
    MDB_env *env;
    MDB_dbi dbi[STORE_DB_COUNT];
    uint64_t map_bytes_max;
    unsigned grow_wait_ms;
    bool read_only;
    bool log_unchecked; /* read_only: the log's density is left to the reader */
    /* The gate: top-level transactions open (or starting) in this process,
     * and whether a growth holds new ones back. Guarded by gate_lock. */
    pthread_mutex_t gate_lock;
    pthread_cond_t gate_changed; /* on CLOCK_MONOTONIC */
    bool gate_ready;
    unsigned txns_open;
    bool growing;
    /* LMDB refused a transaction with MDB_PANIC (after a failed write of its
     * meta page): nothing works until the environment is reopened. */
    _Atomic bool unusable;
    /* A remap failed (mdb_env_set_mapsize: the system refused the larger
     * mapping, as under an address-space limit). LMDB unmaps the file before
     * mapping it again, so it has no map now and would fault on the next call
     * that reads one: this store refuses every call until it is reopened. */
    _Atomic bool unmapped;
    /* The directory's identity, for the once-per-process rule. */
    dev_t dir_device;
    ino_t dir_inode;
};

struct store_txn {
    struct store *store;
    MDB_txn *txn;
    struct store_txn *parent;
    struct store_txn *child; /* the open nested transaction, if any */
    unsigned cursors_open;
    bool write;
    /* The first failure that left LMDB's transaction unusable: commit aborts
     * and returns it. */
    enum ledger_err failed;
    /* For a read-only transaction, the size of the data file: no value it
     * reads can be larger, or the file is damaged (a node's size field
     * altered) and reading the value would run past the file
     * (store_val_readable). 0 when unknown or in a write transaction, whose
     * new values live in LMDB's own memory and may be larger than the file
     * so far. */
    uint64_t readable_bytes;
};

struct store_cursor {
    struct store_txn *txn;
    MDB_cursor *cursor;
    enum store_db db;
    uint64_t sequence; /* where store_get_sequence left it; 0: anywhere else */
};

/* --- database names --------------------------------------------------------------------------- */

static const struct {
    const char *name;
    bool derived;
} store_dbs[STORE_DB_COUNT] = {
    [STORE_DB_LOG] = {"log", false},
    [STORE_DB_LEAF] = {"leaf", false},
    [STORE_DB_META] = {"meta", false},
    [STORE_DB_SECRET] = {"secret", false},
    [STORE_DB_STREAM] = {"stream", true},
    [STORE_DB_COMMAND] = {"command", true},
    [STORE_DB_MERKLE] = {"merkle", true},
    [STORE_DB_PARTNER] = {"partner", true},
    [STORE_DB_PRINCIPAL] = {"principal", true},
    [STORE_DB_RESERVATION] = {"reservation", true},
    [STORE_DB_ORDER] = {"order", true},
    [STORE_DB_SAVINGS_PLAN] = {"savings_plan", true},
    [STORE_DB_PERMISSION] = {"permission", true},
    [STORE_DB_ACTIVITY] = {"activity", true},
    [STORE_DB_BILLING] = {"billing", true},
};

static bool store_db_valid(enum store_db db)
{
    return (unsigned)db < STORE_DB_COUNT;
}

const char *store_db_name(enum store_db db)
{
    STORE_CHECK(store_db_valid(db));
    STORE_CHECK(store_dbs[db].name != NULL);
    return store_dbs[db].name;
}

bool store_db_derived(enum store_db db)
{
    STORE_CHECK(store_db_valid(db));
    return store_dbs[db].derived;
}

/* --- keys ------------------------------------------------------------------------------------- */

void store_u64_to_key(uint64_t value, uint8_t key[8])
{
    for (int i = 7; i >= 0; i--) {
        key[i] = (uint8_t)(value & 0xff);
        value >>= 8;
    }
}

uint64_t store_key_to_u64(const uint8_t key[8])
{
    uint64_t value = 0;
    for (int i = 0; i < 8; i++)
        value = (value << 8) | key[i];
    return value;
}

/* --- where an entry of a derived database comes from -------------------------------------------
 */

void store_origin_append(struct store_origin *origin, const char *text)
{
    STORE_CHECK(origin != NULL && text != NULL);
    size_t used = strlen(origin->key_text);
    size_t room = sizeof origin->key_text - used;
    size_t size = strlen(text);
    if (size < room) {
        memcpy(origin->key_text + used, text, size + 1);
        return;
    }
    /* Full: keep what fits and say that the rest was cut. */
    static const char cut[] = "...";
    STORE_CHECK(sizeof origin->key_text > sizeof cut);
    size_t keep = sizeof origin->key_text - sizeof cut;
    if (keep > used)
        memcpy(origin->key_text + used, text, keep - used);
    memcpy(origin->key_text + keep, cut, sizeof cut);
}

/* Appends bytes as text: printable ASCII as is, any other byte as \xNN. */
static void store_origin_append_bytes(struct store_origin *origin, const uint8_t *bytes,
                                      size_t size)
{
    for (size_t i = 0; i < size; i++) {
        char one[5];
        if (bytes[i] >= 0x20 && bytes[i] < 0x7f && bytes[i] != '\\') {
            one[0] = (char)bytes[i];
            one[1] = '\0';
        } else {
            snprintf(one, sizeof one, "\\x%02x", bytes[i]);
        }
        store_origin_append(origin, one);
    }
}

void store_key_reader_init(struct store_key_reader *reader, struct store_val key,
                           struct store_origin *origin)
{
    STORE_CHECK(reader != NULL && origin != NULL && (key.data != NULL || key.size == 0));
    reader->at = key.data;
    reader->end = key.data + key.size;
    reader->bad = false;
    reader->origin = origin;
    origin->key_text[0] = '\0';
    origin->sequence = 0;
}

/* The '/' between components. */
static void store_key_separate(struct store_key_reader *reader)
{
    if (reader->origin->key_text[0] != '\0')
        store_origin_append(reader->origin, "/");
}

void store_key_read_id(struct store_key_reader *reader)
{
    STORE_CHECK(reader != NULL);
    const uint8_t *nul = memchr(reader->at, 0, (size_t)(reader->end - reader->at));
    const uint8_t *stop = nul != NULL ? nul : reader->end;
    if (stop == reader->at)
        reader->bad = true; /* ids are never empty */
    store_key_separate(reader);
    store_origin_append_bytes(reader->origin, reader->at, (size_t)(stop - reader->at));
    reader->at = nul != NULL ? nul + 1 : reader->end;
}

void store_key_read_byte(struct store_key_reader *reader, uint8_t byte)
{
    STORE_CHECK(reader != NULL);
    if (reader->at == reader->end || *reader->at != byte) {
        reader->bad = true;
        return;
    }
    reader->at++;
}

uint64_t store_key_read_uint(struct store_key_reader *reader, size_t bytes)
{
    STORE_CHECK(reader != NULL && (bytes == 1 || bytes == 2 || bytes == 8));
    if ((size_t)(reader->end - reader->at) < bytes) {
        reader->bad = true;
        reader->at = reader->end;
        return 0;
    }
    uint64_t value = 0;
    for (size_t i = 0; i < bytes; i++)
        value = (value << 8) | reader->at[i];
    reader->at += bytes;
    char number[24];
    snprintf(number, sizeof number, "%llu", (unsigned long long)value);
    store_key_separate(reader);
    store_origin_append(reader->origin, number);
    return value;
}

bool store_key_read_end(struct store_key_reader *reader, struct store_val key)
{
    STORE_CHECK(reader != NULL);
    if (!reader->bad && reader->at == reader->end)
        return true;
    reader->origin->key_text[0] = '\0';
    reader->origin->sequence = 0;
    store_origin_append_bytes(reader->origin, key.data, key.size);
    return false;
}

void store_entry_origin(enum store_db db, struct store_val key, struct store_val value,
                        struct store_origin *out)
{
    STORE_CHECK(db == STORE_DB_STREAM || db == STORE_DB_COMMAND);
    struct store_key_reader reader;
    store_key_reader_init(&reader, key, out);
    store_key_read_id(&reader);
    if (db == STORE_DB_COMMAND) {
        store_key_read_id(&reader);
        store_key_read_end(&reader, key);
        return;
    }
    store_key_read_id(&reader);
    store_key_read_uint(&reader, 8);
    if (store_key_read_end(&reader, key) && value.size == 8)
        out->sequence = store_key_to_u64(value.data);
}

/* --- errors ----------------------------------------------------------------------------------- */

static _Thread_local char store_error_text[STORE_ERROR_BYTES];

const char *store_last_error(struct store *store)
{
    (void)store;
    return store_error_text;
}

__attribute__((format(printf, 1, 2))) static void store_note(const char *format, ...)
{
    va_list args;
    va_start(args, format);
    vsnprintf(store_error_text, sizeof store_error_text, format, args);
    va_end(args);
}

enum ledger_err store_translate_errno(int error)
{
    switch (error) {
    case 0:
        return LEDGER_ERR_OK;
    case ENOMEM:
        return LEDGER_ERR_NO_MEMORY;
    case ENOSPC:
    case EDQUOT:
        return LEDGER_ERR_DISK_FULL;
    default:
        /* EIO, EACCES, EROFS, ...: the host's to look at. */
        return LEDGER_ERR_STORAGE_ERROR;
    }
}

/* The one translation of LMDB's and the system's codes. */
static enum ledger_err store_translate(int rc)
{
    switch (rc) {
    case MDB_SUCCESS:
        return LEDGER_ERR_OK;
    case MDB_MAP_FULL:
        return LEDGER_ERR_STORAGE_FULL;
    case MDB_NOTFOUND:
        return LEDGER_ERR_NOT_FOUND;
    case MDB_CORRUPTED:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
    case MDB_PAGE_NOTFOUND:
    case MDB_INCOMPATIBLE:
        return LEDGER_ERR_CORRUPT;
    case MDB_BAD_VALSIZE:
        return LEDGER_ERR_INVALID_ARGUMENT;
    default:
        /* LMDB's own codes are negative, errno values positive. Other LMDB
         * codes: MDB_READERS_FULL, MDB_MAP_RESIZED, MDB_TXN_FULL,
         * MDB_DBS_FULL, MDB_PANIC. */
        return rc > 0 ? store_translate_errno(rc) : LEDGER_ERR_STORAGE_ERROR;
    }
}

/* Translates rc and keeps its message, unless it is an ordinary miss. */
static enum ledger_err store_fail(int rc, const char *what)
{
    enum ledger_err err = store_translate(rc);
    if (rc == MDB_READERS_FULL)
        store_note("%s: %s: every reader slot of the lock file is held by an open read "
                   "transaction (queries, backups, ledger-verify, of any process); retry when "
                   "some have ended",
                   what, mdb_strerror(rc));
    else if (rc != MDB_NOTFOUND)
        store_note("%s: %s", what, mdb_strerror(rc));
    return err;
}

/* As store_fail, and remembers failures after which LMDB refuses to commit
 * the write transaction, so that store_commit reports the cause. */
static enum ledger_err store_txn_fail(struct store_txn *txn, int rc, const char *what)
{
    enum ledger_err err = store_fail(rc, what);
    bool spoils = rc != MDB_NOTFOUND && rc != MDB_KEYEXIST && rc != MDB_BAD_VALSIZE;
    if (txn->write && spoils && txn->failed == LEDGER_ERR_OK)
        txn->failed = err;
    return err;
}

/* --- the once-per-process registry ------------------------------------------------------------ */

static pthread_mutex_t store_registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    dev_t device;
    ino_t inode;
    bool used;
} store_registry[STORE_OPEN_MAX];

static enum ledger_err store_register(dev_t device, ino_t inode)
{
    enum ledger_err err = LEDGER_ERR_STORAGE_ERROR;
    int free_slot = -1;
    pthread_mutex_lock(&store_registry_lock);
    for (int i = 0; i < STORE_OPEN_MAX; i++) {
        if (!store_registry[i].used) {
            if (free_slot < 0)
                free_slot = i;
            continue;
        }
        if (store_registry[i].device == device && store_registry[i].inode == inode) {
            store_note("the data directory is already open in this process");
            err = LEDGER_ERR_DATA_DIR_LOCKED;
            goto cleanup;
        }
    }
    if (free_slot < 0) {
        store_note("more than %d environments open in this process", STORE_OPEN_MAX);
        goto cleanup;
    }
    store_registry[free_slot].device = device;
    store_registry[free_slot].inode = inode;
    store_registry[free_slot].used = true;
    err = LEDGER_ERR_OK;
cleanup:
    pthread_mutex_unlock(&store_registry_lock);
    return err;
}

static void store_unregister(dev_t device, ino_t inode)
{
    pthread_mutex_lock(&store_registry_lock);
    for (int i = 0; i < STORE_OPEN_MAX; i++) {
        if (store_registry[i].used && store_registry[i].device == device &&
            store_registry[i].inode == inode) {
            store_registry[i].used = false;
            break;
        }
    }
    pthread_mutex_unlock(&store_registry_lock);
}

/* --- the transaction gate --------------------------------------------------------------------- */

static enum ledger_err store_gate_init(struct store *store)
{
    pthread_condattr_t attributes;
    if (pthread_condattr_init(&attributes) != 0) {
        store_note("pthread_condattr_init failed");
        return LEDGER_ERR_NO_MEMORY;
    }
    int rc = pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
    if (rc == 0)
        rc = pthread_cond_init(&store->gate_changed, &attributes);
    pthread_condattr_destroy(&attributes);
    if (rc != 0) {
        store_note("pthread_cond_init: %s", strerror(rc));
        return rc == ENOMEM ? LEDGER_ERR_NO_MEMORY : LEDGER_ERR_STORAGE_ERROR;
    }
    rc = pthread_mutex_init(&store->gate_lock, NULL);
    if (rc != 0) {
        pthread_cond_destroy(&store->gate_changed);
        store_note("pthread_mutex_init: %s", strerror(rc));
        return rc == ENOMEM ? LEDGER_ERR_NO_MEMORY : LEDGER_ERR_STORAGE_ERROR;
    }
    store->gate_ready = true;
    return LEDGER_ERR_OK;
}

/* Counts a top-level transaction in, waiting while a growth remaps the map.
 * The wait is bounded: a growth ends by its own deadline. */
static void store_gate_enter(struct store *store)
{
    pthread_mutex_lock(&store->gate_lock);
    while (store->growing)
        pthread_cond_wait(&store->gate_changed, &store->gate_lock);
    store->txns_open++;
    pthread_mutex_unlock(&store->gate_lock);
}

static void store_gate_leave(struct store *store)
{
    pthread_mutex_lock(&store->gate_lock);
    STORE_CHECK(store->txns_open > 0);
    store->txns_open--;
    if (store->txns_open == 0)
        pthread_cond_broadcast(&store->gate_changed);
    pthread_mutex_unlock(&store->gate_lock);
}

/* Records that a remap failed and left LMDB without a map (see `unmapped`). */
static void store_unmapped(struct store *store, int rc, const char *what)
{
    atomic_store(&store->unmapped, true);
    store_note("%s: remapping the data file failed (%s): LMDB has no map left, so nothing more "
               "is read or written until the data directory is opened again; lower "
               "map_bytes_max or raise the process's address-space limit (ulimit -v)",
               what, mdb_strerror(rc));
}

/* STORAGE_ERROR (noted) when a failed remap left the store without a map. */
static enum ledger_err store_check_mapped(struct store *store)
{
    if (!atomic_load(&store->unmapped))
        return LEDGER_ERR_OK;
    store_note("the data file is no longer mapped (a remap failed): open the data directory "
               "again");
    return LEDGER_ERR_STORAGE_ERROR;
}

/* Adopts the map size another process recorded, if the calling transaction
 * (counted in, not yet begun) is the only one of this process. */
static int store_adopt_map_size(struct store *store)
{
    int rc = MDB_MAP_RESIZED;
    pthread_mutex_lock(&store->gate_lock);
    if (store->txns_open == 1 && !store->growing) {
        rc = mdb_env_set_mapsize(store->env, 0);
        if (rc != MDB_SUCCESS)
            store_unmapped(store, rc, "adopting the map size another process set");
    }
    pthread_mutex_unlock(&store->gate_lock);
    return rc;
}

/* --- opening ---------------------------------------------------------------------------------- */

/* Makes the data directory (0700) unless it exists; then identifies it. */
static enum ledger_err store_prepare_dir(const char *dir, bool create, struct stat *out)
{
    if (create && mkdir(dir, 0700) != 0 && errno != EEXIST) {
        int error = errno;
        store_note("mkdir %s: %s", dir, strerror(error));
        return error == ENOMEM ? LEDGER_ERR_NO_MEMORY : LEDGER_ERR_STORAGE_ERROR;
    }
    struct stat info;
    if (stat(dir, &info) != 0) {
        store_note("stat %s: %s", dir, strerror(errno));
        return LEDGER_ERR_STORAGE_ERROR;
    }
    if (!S_ISDIR(info.st_mode)) {
        store_note("%s is not a directory", dir);
        return LEDGER_ERR_STORAGE_ERROR;
    }
    *out = info;
    return LEDGER_ERR_OK;
}

/* The log's and leaves' last key must be their entry count (dense from 1). */
static enum ledger_err store_check_dense(MDB_txn *txn, MDB_dbi dbi, const char *name,
                                         uint64_t *count_out)
{
    MDB_stat stat;
    MDB_cursor *cursor = NULL;
    enum ledger_err err;
    int rc = mdb_stat(txn, dbi, &stat);
    if (rc != MDB_SUCCESS) {
        err = store_fail(rc, "mdb_stat");
        goto cleanup;
    }
    uint64_t count = stat.ms_entries;
    if (count > 0) {
        rc = mdb_cursor_open(txn, dbi, &cursor);
        if (rc != MDB_SUCCESS) {
            err = store_fail(rc, "mdb_cursor_open");
            goto cleanup;
        }
        MDB_val key, value;
        rc = mdb_cursor_get(cursor, &key, &value, MDB_LAST);
        if (rc != MDB_SUCCESS) {
            err = rc == MDB_NOTFOUND ? LEDGER_ERR_CORRUPT : store_fail(rc, "mdb_cursor_get");
            goto cleanup;
        }
        bool dense = key.mv_size == 8 && store_key_to_u64(key.mv_data) == count;
        /* And the first key is 1: a key 0 (or a shorter key, which sorts
         * first) beside a last key equal to the count would hide a hole. */
        if (dense) {
            rc = mdb_cursor_get(cursor, &key, &value, MDB_FIRST);
            if (rc != MDB_SUCCESS) {
                err = store_fail(rc, "mdb_cursor_get");
                goto cleanup;
            }
            dense = key.mv_size == 8 && store_key_to_u64(key.mv_data) == 1;
        }
        if (!dense) {
            store_note("the %s database is not dense: %llu %s", name, (unsigned long long)count,
                       count == 1 ? "entry" : "entries");
            err = LEDGER_ERR_CORRUPT;
            goto cleanup;
        }
    }
    *count_out = count;
    err = LEDGER_ERR_OK;
cleanup:
    if (cursor != NULL)
        mdb_cursor_close(cursor);
    return err;
}

/* Creates every database and the format entry in a new environment. */
static enum ledger_err store_create_dbs(struct store *store, MDB_txn *txn)
{
    for (unsigned db = 0; db < STORE_DB_COUNT; db++) {
        int rc = mdb_dbi_open(txn, store_dbs[db].name, MDB_CREATE, &store->dbi[db]);
        if (rc != MDB_SUCCESS)
            return store_fail(rc, "mdb_dbi_open (create)");
    }
    uint8_t format[8];
    store_u64_to_key(STORE_FORMAT_VERSION, format);
    MDB_val key = {sizeof store_format_key - 1, (void *)store_format_key};
    MDB_val value = {sizeof format, format};
    int rc = mdb_put(txn, store->dbi[STORE_DB_META], &key, &value, MDB_NOOVERWRITE);
    if (rc != MDB_SUCCESS)
        return store_fail(rc, "mdb_put (format)");
    return LEDGER_ERR_OK;
}

/* Opens every database of an existing environment and checks its format. */
static enum ledger_err store_open_dbs(struct store *store, MDB_txn *txn)
{
    for (unsigned db = 0; db < STORE_DB_COUNT; db++) {
        int rc = mdb_dbi_open(txn, store_dbs[db].name, 0, &store->dbi[db]);
        if (rc == MDB_NOTFOUND || rc == MDB_INCOMPATIBLE) {
            store_note("not a ledger environment: no database \"%s\"", store_dbs[db].name);
            return LEDGER_ERR_CORRUPT;
        }
        if (rc != MDB_SUCCESS)
            return store_fail(rc, "mdb_dbi_open");
    }
    MDB_val key = {sizeof store_format_key - 1, (void *)store_format_key};
    MDB_val value;
    int rc = mdb_get(txn, store->dbi[STORE_DB_META], &key, &value);
    if (rc == MDB_NOTFOUND) {
        store_note("not a ledger environment: no format entry");
        return LEDGER_ERR_CORRUPT;
    }
    if (rc != MDB_SUCCESS)
        return store_fail(rc, "mdb_get (format)");
    if (value.mv_size != 8 || store_key_to_u64(value.mv_data) != STORE_FORMAT_VERSION) {
        store_note("unknown format version (this build reads %d)", STORE_FORMAT_VERSION);
        return LEDGER_ERR_CORRUPT;
    }
    if (store->log_unchecked)
        return LEDGER_ERR_OK;
    uint64_t log_count = 0, leaf_count = 0;
    enum ledger_err err = store_check_dense(txn, store->dbi[STORE_DB_LOG], "log", &log_count);
    if (err != LEDGER_ERR_OK)
        return err;
    err = store_check_dense(txn, store->dbi[STORE_DB_LEAF], "leaf", &leaf_count);
    if (err != LEDGER_ERR_OK)
        return err;
    if (log_count != leaf_count) {
        store_note("log (%llu record%s) and leaf hashes (%llu) differ",
                   (unsigned long long)log_count, log_count == 1 ? "" : "s",
                   (unsigned long long)leaf_count);
        return LEDGER_ERR_CORRUPT;
    }
    return LEDGER_ERR_OK;
}

/* Opens (or, in a new environment, creates) the databases in one transaction. */
static enum ledger_err store_setup(struct store *store)
{
    MDB_txn *txn = NULL;
    MDB_dbi main_dbi;
    MDB_stat main_stat;
    enum ledger_err err;
    int rc = mdb_txn_begin(store->env, NULL, store->read_only ? MDB_RDONLY : 0, &txn);
    if (rc != MDB_SUCCESS) {
        err = store_fail(rc, "mdb_txn_begin");
        goto cleanup;
    }
    /* The main database lists the named ones: empty means a new environment. */
    rc = mdb_dbi_open(txn, NULL, 0, &main_dbi);
    if (rc == MDB_SUCCESS)
        rc = mdb_stat(txn, main_dbi, &main_stat);
    if (rc != MDB_SUCCESS) {
        err = store_fail(rc, "main database");
        goto cleanup;
    }
    if (main_stat.ms_entries == 0 && !store->read_only)
        err = store_create_dbs(store, txn);
    else
        err = store_open_dbs(store, txn);
    if (err != LEDGER_ERR_OK)
        goto cleanup;
    /* Commit even a read transaction: aborting it would close the handles. */
    rc = mdb_txn_commit(txn);
    txn = NULL;
    if (rc != MDB_SUCCESS) {
        err = store_fail(rc, "mdb_txn_commit (setup)");
        goto cleanup;
    }
    err = LEDGER_ERR_OK;
cleanup:
    if (txn != NULL)
        mdb_txn_abort(txn);
    return err;
}

/* Keeps a map grown in an earlier run: the larger of the size asked for and the
 * size recorded in the file. Called before any transaction. */
static enum ledger_err store_keep_map_size(struct store *store)
{
    MDB_envinfo asked, recorded;
    int rc = mdb_env_info(store->env, &asked);
    if (rc != MDB_SUCCESS)
        return store_fail(rc, "mdb_env_info");
    /* Size 0 adopts the size recorded in the file's meta page. */
    rc = mdb_env_set_mapsize(store->env, 0);
    if (rc != MDB_SUCCESS) {
        /* Only a larger size can fail to map (LMDB unmapped the smaller one
         * first: the environment is closed by the caller). */
        enum ledger_err err = store_translate(rc);
        store_note("mapping the data file at the map size it records, larger than the %llu bytes "
                   "asked, failed (%s): raise the process's address-space limit (ulimit -v, "
                   "LimitAS=)",
                   (unsigned long long)asked.me_mapsize, mdb_strerror(rc));
        return err;
    }
    rc = mdb_env_info(store->env, &recorded);
    if (rc == MDB_SUCCESS && recorded.me_mapsize < asked.me_mapsize)
        rc = mdb_env_set_mapsize(store->env, asked.me_mapsize);
    if (rc != MDB_SUCCESS)
        return store_fail(rc, "mdb_env_set_mapsize");
    return LEDGER_ERR_OK;
}

/* Refuses a data file shorter than the pages its newest meta page counts
 * (a copy cut short, say): LMDB maps the file, and reading a page past its
 * end would kill the process with SIGBUS instead of failing. Uses only the
 * meta page, which mdb_env_open has read, so nothing here reads past the
 * end. Without MDB_WRITEMAP, LMDB writes every page it allocates before the
 * meta page that counts it, except pages a transaction allocated and freed
 * again (loose pages): those go to the free list unwritten, so a live file
 * may end short of its last page, by free pages only. The exact check is
 * therefore made when the free list is empty, as in a compacted copy (every
 * backup) and in any environment with no free page; an environment with
 * free pages is accepted. Called before any other transaction. */
static enum ledger_err store_check_file_size(struct store *store)
{
    int fd = -1;
    int rc = mdb_env_get_fd(store->env, &fd);
    if (rc != MDB_SUCCESS)
        return store_fail(rc, "mdb_env_get_fd");
    struct stat file;
    if (fstat(fd, &file) != 0) {
        int error = errno;
        store_note("fstat of " STORE_DATA_FILE ": %s", strerror(error));
        return store_translate_errno(error);
    }
    MDB_envinfo info;
    MDB_stat env_stat;
    rc = mdb_env_info(store->env, &info);
    if (rc == MDB_SUCCESS)
        rc = mdb_env_stat(store->env, &env_stat);
    if (rc != MDB_SUCCESS)
        return store_fail(rc, "mdb_env_info");
    /* Both fit: the page count is at most the map size over the page size. */
    unsigned long long needed_bytes =
        ((unsigned long long)info.me_last_pgno + 1) * (unsigned long long)env_stat.ms_psize;
    if (file.st_size >= 0 && (unsigned long long)file.st_size >= needed_bytes)
        return LEDGER_ERR_OK;
    /* Short: fine only if pages are free. The free list's statistics come
     * from the meta page, so this reads no page either. */
    MDB_txn *txn = NULL;
    MDB_stat free_stat;
    rc = mdb_txn_begin(store->env, NULL, MDB_RDONLY, &txn);
    if (rc == MDB_SUCCESS) {
        rc = mdb_stat(txn, 0 /* LMDB's free list */, &free_stat);
        mdb_txn_abort(txn);
    }
    if (rc != MDB_SUCCESS)
        return store_fail(rc, "mdb_stat (free list)");
    if (free_stat.ms_entries > 0)
        return LEDGER_ERR_OK;
    store_note("the data file is truncated: " STORE_DATA_FILE " has %lld bytes, needs at least "
               "%llu (a copy cut short?)",
               (long long)file.st_size, needed_bytes);
    return LEDGER_ERR_CORRUPT;
}

/* dir + "/data.mdb" into path; false when it does not fit. */
static bool data_file_path(const char *dir, char path[STORE_PATH_BYTES])
{
    int length = snprintf(path, STORE_PATH_BYTES, "%s/" STORE_DATA_FILE, dir);
    return length > 0 && (size_t)length < STORE_PATH_BYTES;
}

/* Whether dir's data file is a regular file; its status into *info. */
static bool data_file_stat(const char *dir, struct stat *info)
{
    char path[STORE_PATH_BYTES];
    return data_file_path(dir, path) && stat(path, info) == 0 && S_ISREG(info->st_mode);
}

/* Whether dir's data file is a regular file of 0 bytes. */
static bool store_data_file_empty(const char *dir)
{
    struct stat info;
    return data_file_stat(dir, &info) && info.st_size == 0;
}

bool store_present(const char *dir)
{
    struct stat info;
    return data_file_stat(dir, &info);
}

enum ledger_err store_open(const struct store_options *options, struct store **out)
{
    STORE_CHECK(options != NULL && out != NULL);
    enum ledger_err err;
    struct store *store = NULL;
    bool registered = false;
    uint64_t map_bytes = options->map_bytes ? options->map_bytes : LEDGER_MAP_BYTES_INITIAL;
    uint64_t map_bytes_max =
        options->map_bytes_max ? options->map_bytes_max : LEDGER_MAP_BYTES_MAX_DEFAULT;
    unsigned readers_max = options->readers_max ? options->readers_max : LEDGER_READERS_MAX;
    store_error_text[0] = '\0';

    if (options->dir == NULL || options->dir[0] == '\0') {
        store_note("no data directory given");
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    if (map_bytes > map_bytes_max || map_bytes_max > SIZE_MAX) {
        store_note("map size %llu above its maximum %llu", (unsigned long long)map_bytes,
                   (unsigned long long)map_bytes_max);
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    err = crypto_init();
    if (err != LEDGER_ERR_OK) {
        store_note("crypto_init failed");
        return err;
    }
    struct stat dir_info;
    err = store_prepare_dir(options->dir, !options->read_only, &dir_info);
    if (err != LEDGER_ERR_OK)
        return err;
    err = store_register(dir_info.st_dev, dir_info.st_ino);
    if (err != LEDGER_ERR_OK)
        return err;
    registered = true;

    store = calloc(1, sizeof *store);
    if (store == NULL) {
        store_note("out of memory");
        err = LEDGER_ERR_NO_MEMORY;
        goto cleanup;
    }
    store->map_bytes_max = map_bytes_max;
    store->grow_wait_ms = options->grow_wait_ms ? options->grow_wait_ms : LEDGER_MAP_GROW_WAIT_MS;
    store->read_only = options->read_only;
    store->log_unchecked = options->read_only && options->log_unchecked;
    store->dir_device = dir_info.st_dev;
    store->dir_inode = dir_info.st_ino;
    err = store_gate_init(store);
    if (err != LEDGER_ERR_OK)
        goto cleanup;

    int rc = mdb_env_create(&store->env);
    if (rc != MDB_SUCCESS) {
        store->env = NULL;
        err = store_fail(rc, "mdb_env_create");
        goto cleanup;
    }
    rc = mdb_env_set_mapsize(store->env, (size_t)map_bytes);
    if (rc == MDB_SUCCESS)
        rc = mdb_env_set_maxreaders(store->env, readers_max);
    if (rc == MDB_SUCCESS)
        rc = mdb_env_set_maxdbs(store->env, STORE_DB_COUNT + STORE_DBS_SPARE);
    if (rc != MDB_SUCCESS) {
        err = store_fail(rc, "mdb_env_set");
        goto cleanup;
    }
    /* MDB_NOTLS: read transactions are not tied to threads (a thread pool may
     * run queries, and one thread may hold several). */
    unsigned flags = MDB_NOTLS;
    if (options->read_only)
        flags |= MDB_RDONLY;
    if (options->read_only && options->no_lock)
        flags |= MDB_NOLOCK;
    if (options->no_sync)
        flags |= MDB_NOSYNC;
    if (store_data_file_empty(options->dir)) {
        /* LMDB would take an empty file for a new environment and write one
         * into it (or, opening read-only, fail with EBADF). A ledger's file
         * is never empty: this one was cut back to nothing, as a damaged one
         * is cut back to less. */
        store_note("%s/" STORE_DATA_FILE " is empty (0 bytes): it holds no ledger", options->dir);
        err = LEDGER_ERR_CORRUPT;
        goto cleanup;
    }
    rc = mdb_env_open(store->env, options->dir, flags, 0600);
    if (rc != MDB_SUCCESS) {
        err = store_fail(rc, "mdb_env_open");
        goto cleanup;
    }
    int dead = 0;
    rc = mdb_reader_check(store->env, &dead);
    if (rc != MDB_SUCCESS) {
        err = store_fail(rc, "mdb_reader_check");
        goto cleanup;
    }
    err = store_keep_map_size(store);
    if (err != LEDGER_ERR_OK)
        goto cleanup;
    err = store_check_file_size(store);
    if (err != LEDGER_ERR_OK)
        goto cleanup;
    err = store_setup(store);
    if (err != LEDGER_ERR_OK)
        goto cleanup;
    *out = store;
    store = NULL;
    registered = false;
    err = LEDGER_ERR_OK;
cleanup:
    if (store != NULL) {
        if (store->env != NULL)
            mdb_env_close(store->env);
        if (store->gate_ready) {
            pthread_mutex_destroy(&store->gate_lock);
            pthread_cond_destroy(&store->gate_changed);
        }
        free(store);
    }
    if (registered)
        store_unregister(dir_info.st_dev, dir_info.st_ino);
    return err;
}

void store_close(struct store *store)
{
    if (store == NULL)
        return;
    STORE_CHECK(store->txns_open == 0);
    mdb_env_close(store->env);
    pthread_mutex_destroy(&store->gate_lock);
    pthread_cond_destroy(&store->gate_changed);
    store_unregister(store->dir_device, store->dir_inode);
    free(store);
}

/* --- transactions ----------------------------------------------------------------------------- */

/* Records the size of the data file for a read-only transaction just begun:
 * read after it began, the file can only be larger than its snapshot needs
 * (a commit since grows it), never smaller. */
static void store_txn_bounds(struct store *store, struct store_txn *txn)
{
    int fd = -1;
    struct stat file;
    if (mdb_env_get_fd(store->env, &fd) == MDB_SUCCESS && fstat(fd, &file) == 0 && file.st_size > 0)
        txn->readable_bytes = (uint64_t)file.st_size;
}

static enum ledger_err store_txn_new(struct store *store, struct store_txn *parent, bool write,
                                     struct store_txn **out)
{
    struct store_txn *txn = calloc(1, sizeof *txn);
    if (txn == NULL) {
        store_note("out of memory");
        return LEDGER_ERR_NO_MEMORY;
    }
    unsigned flags = write ? 0 : MDB_RDONLY;
    int rc = mdb_txn_begin(store->env, parent ? parent->txn : NULL, flags, &txn->txn);
    if (rc == MDB_MAP_RESIZED && parent == NULL) {
        /* Another process grew the map; adopt its size (allowed only while
         * this process has no other transaction) and try once more. */
        rc = store_adopt_map_size(store);
        if (rc == MDB_SUCCESS) {
            rc = mdb_txn_begin(store->env, NULL, flags, &txn->txn);
        } else if (atomic_load(&store->unmapped)) {
            free(txn);
            return LEDGER_ERR_STORAGE_ERROR; /* noted by store_unmapped */
        }
    }
    if (rc != MDB_SUCCESS) {
        free(txn);
        if (rc == MDB_PANIC) {
            atomic_store(&store->unusable, true);
        }
        return store_fail(rc, "mdb_txn_begin");
    }
    txn->store = store;
    txn->parent = parent;
    txn->write = write;
    txn->failed = LEDGER_ERR_OK;
    if (!write) {
        store_txn_bounds(store, txn);
    }
    *out = txn;
    return LEDGER_ERR_OK;
}

enum ledger_err store_begin(struct store *store, bool write, struct store_txn **out)
{
    STORE_CHECK(store != NULL && out != NULL);
    STORE_CHECK(!write || !store->read_only);
    store_gate_enter(store);
    enum ledger_err err = store_check_mapped(store);
    if (err == LEDGER_ERR_OK)
        err = store_txn_new(store, NULL, write, out);
    if (err != LEDGER_ERR_OK)
        store_gate_leave(store);
    return err;
}

enum ledger_err store_begin_nested(struct store_txn *parent, struct store_txn **out)
{
    STORE_CHECK(parent != NULL && out != NULL);
    STORE_CHECK(parent->write && parent->child == NULL);
    struct store_txn *child;
    enum ledger_err err = store_txn_new(parent->store, parent, true, &child);
    if (err != LEDGER_ERR_OK)
        return err;
    parent->child = child;
    *out = child;
    return LEDGER_ERR_OK;
}

static void store_txn_free(struct store_txn *txn)
{
    if (txn->parent != NULL)
        txn->parent->child = NULL;
    else
        store_gate_leave(txn->store);
    free(txn);
}

/* A transaction in use: not ended, not shadowed by an open child. */
static void store_txn_check(const struct store_txn *txn)
{
    STORE_CHECK(txn != NULL && txn->txn != NULL);
    STORE_CHECK(txn->child == NULL);
}

/* LMDB reports a write the file system cut short as EIO ("short write,
 * filesystem full?" in its source), and a full file system cuts short the
 * write that finds some room left. So a commit that failed with EIO while the
 * store's file system has less than this left was cut short by a full disk:
 * DISK_FULL, which tells the operator what to do, rather than STORAGE_ERROR. */
#define STORE_DISK_FULL_FREE_BYTES (UINT64_C(1) << 20)

static enum ledger_err store_commit_failed(struct store *store, int rc)
{
    enum ledger_err err = store_fail(rc, "mdb_txn_commit");
    int fd = -1;
    struct statvfs space;
    if (rc == EIO && mdb_env_get_fd(store->env, &fd) == MDB_SUCCESS && fstatvfs(fd, &space) == 0 &&
        (uint64_t)space.f_bavail * space.f_frsize < STORE_DISK_FULL_FREE_BYTES) {
        store_note("mdb_txn_commit: a write was cut short and the file system has %llu bytes "
                   "left: it is full",
                   (unsigned long long)space.f_bavail * space.f_frsize);
        err = LEDGER_ERR_DISK_FULL;
    }
    return err;
}

enum ledger_err store_commit(struct store_txn *txn)
{
    store_txn_check(txn);
    STORE_CHECK(txn->cursors_open == 0);
    enum ledger_err err;
    if (txn->failed != LEDGER_ERR_OK) {
        /* LMDB would refuse with MDB_BAD_TXN; report the cause instead. */
        mdb_txn_abort(txn->txn);
        err = txn->failed;
    } else if (!txn->write) {
        mdb_txn_abort(txn->txn);
        err = LEDGER_ERR_OK;
    } else {
        int rc = mdb_txn_commit(txn->txn);
        err = rc == MDB_SUCCESS ? LEDGER_ERR_OK : store_commit_failed(txn->store, rc);
    }
    txn->txn = NULL;
    if (err != LEDGER_ERR_OK && txn->write && txn->parent == NULL) {
        /* A failed write of the meta page leaves LMDB refusing every later
         * transaction (MDB_PANIC); find out now (still inside the gate)
         * rather than at the next request. A read transaction costs no I/O. */
        MDB_txn *probe = NULL;
        int rc = mdb_txn_begin(txn->store->env, NULL, MDB_RDONLY, &probe);
        if (rc == MDB_SUCCESS) {
            mdb_txn_abort(probe);
        } else if (rc == MDB_PANIC) {
            atomic_store(&txn->store->unusable, true);
        }
    }
    store_txn_free(txn);
    return err;
}

bool store_unusable(struct store *store)
{
    return atomic_load(&store->unusable) || atomic_load(&store->unmapped);
}

void store_abort(struct store_txn *txn)
{
    store_txn_check(txn);
    STORE_CHECK(txn->cursors_open == 0);
    mdb_txn_abort(txn->txn);
    txn->txn = NULL;
    store_txn_free(txn);
}

/* Doubles the map; the caller holds the gate closed with no transaction open. */
static enum ledger_err store_remap(struct store *store)
{
    MDB_envinfo info;
    int rc = mdb_env_info(store->env, &info);
    if (rc != MDB_SUCCESS)
        return store_fail(rc, "mdb_env_info");
    uint64_t current = info.me_mapsize;
    if (current >= store->map_bytes_max) {
        store_note("the map is at its maximum of %llu bytes",
                   (unsigned long long)store->map_bytes_max);
        return LEDGER_ERR_STORAGE_FULL;
    }
    uint64_t next = current > store->map_bytes_max / 2 ? store->map_bytes_max : current * 2;
    rc = mdb_env_set_mapsize(store->env, (size_t)next);
    if (rc != MDB_SUCCESS) {
        store_unmapped(store, rc, "growing the map");
        return LEDGER_ERR_STORAGE_ERROR;
    }
    return LEDGER_ERR_OK;
}

enum ledger_err store_grow(struct store *store)
{
    STORE_CHECK(store != NULL && !store->read_only);
    struct timespec deadline;
    STORE_CHECK(clock_gettime(CLOCK_MONOTONIC, &deadline) == 0);
    deadline.tv_sec += (time_t)(store->grow_wait_ms / 1000);
    deadline.tv_nsec += (long)(store->grow_wait_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }

    enum ledger_err err;
    pthread_mutex_lock(&store->gate_lock);
    /* One writer, so one grower. */
    STORE_CHECK(!store->growing);
    store->growing = true;
    int rc = 0;
    while (store->txns_open > 0 && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&store->gate_changed, &store->gate_lock, &deadline);
    if (store->txns_open > 0) {
        store_note("%u transactions still open after %u ms; the map was not grown",
                   store->txns_open, store->grow_wait_ms);
        err = LEDGER_ERR_STORAGE_ERROR;
    } else {
        err = store_check_mapped(store);
        if (err == LEDGER_ERR_OK)
            err = store_remap(store);
    }
    store->growing = false;
    pthread_cond_broadcast(&store->gate_changed);
    pthread_mutex_unlock(&store->gate_lock);
    return err;
}

/* --- the event log ---------------------------------------------------------------------------- */

uint64_t store_last_sequence(struct store_txn *txn)
{
    store_txn_check(txn);
    MDB_stat stat;
    /* Fails only for an invalid handle: the log is dense from 1, so its entry
     * count is its last sequence (checked at open; a log_unchecked reader
     * checks it itself). */
    STORE_CHECK(mdb_stat(txn->txn, txn->store->dbi[STORE_DB_LOG], &stat) == MDB_SUCCESS);
    return stat.ms_entries;
}

enum ledger_err store_append(struct store_txn *txn, const uint8_t *record, size_t record_size,
                             uint64_t *sequence_out, uint8_t leaf_hash_out[STORE_HASH_BYTES])
{
    store_txn_check(txn);
    STORE_CHECK(txn->write);
    STORE_CHECK(record != NULL || record_size == 0);
    STORE_CHECK(sequence_out != NULL && leaf_hash_out != NULL);
    static const uint8_t empty[1] = {0};
    const uint8_t *bytes = record != NULL ? record : empty;

    uint64_t sequence = store_last_sequence(txn) + 1;
    uint8_t key_bytes[8];
    store_u64_to_key(sequence, key_bytes);
    uint8_t leaf[STORE_HASH_BYTES];
    crypto_sha256_prefixed(0x00, bytes, record_size, leaf);

    MDB_val key = {sizeof key_bytes, key_bytes};
    MDB_val value = {record_size, (void *)bytes};
    int rc = mdb_put(txn->txn, txn->store->dbi[STORE_DB_LOG], &key, &value, MDB_APPEND);
    if (rc == MDB_KEYEXIST) {
        store_note("the log is not dense at sequence %llu", (unsigned long long)sequence);
        txn->failed = LEDGER_ERR_CORRUPT;
        return LEDGER_ERR_CORRUPT;
    }
    if (rc != MDB_SUCCESS)
        return store_txn_fail(txn, rc, "mdb_put (log)");
    MDB_val leaf_value = {sizeof leaf, leaf};
    rc = mdb_put(txn->txn, txn->store->dbi[STORE_DB_LEAF], &key, &leaf_value, MDB_APPEND);
    if (rc != MDB_SUCCESS) {
        /* The log already holds the record: the transaction must not commit
         * (a leaf missing would break the log/leaf invariant). */
        enum ledger_err err = store_txn_fail(txn, rc, "mdb_put (leaf)");
        if (txn->failed == LEDGER_ERR_OK)
            txn->failed = rc == MDB_KEYEXIST ? LEDGER_ERR_CORRUPT : err;
        return rc == MDB_KEYEXIST ? LEDGER_ERR_CORRUPT : err;
    }
    *sequence_out = sequence;
    memcpy(leaf_hash_out, leaf, sizeof leaf);
    return LEDGER_ERR_OK;
}

/* Whether a value LMDB returned can be read whole: in a read-only
 * transaction, no larger than the data file. */
static bool store_val_readable(const struct store_txn *txn, const MDB_val *value)
{
    return txn->readable_bytes == 0 || value->mv_size <= txn->readable_bytes;
}

static enum ledger_err store_val_unreadable(enum store_db db, const MDB_val *value)
{
    store_note("a value of %zu bytes in the %s database is larger than the data file: the "
               "file is damaged (a node's size was altered); restore a backup",
               value->mv_size, store_db_name(db));
    return LEDGER_ERR_CORRUPT;
}

/* Reads the value of an 8-byte sequence key of `db`, through `cursor` (one
 * of `db`) or, when it is NULL, with a search from the root. A cursor that
 * stands at sequence - 1 steps to the next entry (which must be
 * `sequence`) instead of searching. */
static enum ledger_err store_get_sequence(struct store_txn *txn, struct store_cursor *cursor,
                                          enum store_db db, uint64_t sequence, MDB_val *out)
{
    STORE_CHECK(cursor == NULL || (cursor->txn == txn && cursor->db == db));
    store_txn_check(txn);
    uint64_t at = cursor != NULL ? cursor->sequence : 0;
    if (cursor != NULL)
        cursor->sequence = 0;
    if (sequence == 0)
        return LEDGER_ERR_NOT_FOUND;
    uint8_t key_bytes[8];
    store_u64_to_key(sequence, key_bytes);
    MDB_val key = {sizeof key_bytes, key_bytes};
    MDB_val value = {0, NULL};
    int rc;
    if (cursor == NULL) {
        rc = mdb_get(txn->txn, txn->store->dbi[db], &key, &value);
    } else if (at != 0 && at + 1 == sequence) {
        rc = mdb_cursor_get(cursor->cursor, &key, &value, MDB_NEXT);
        if (rc == MDB_SUCCESS &&
            (key.mv_size != sizeof key_bytes || memcmp(key.mv_data, key_bytes, sizeof key_bytes)))
            rc = MDB_NOTFOUND; /* a gap: the cursor stands past it */
    } else {
        rc = mdb_cursor_get(cursor->cursor, &key, &value, MDB_SET_KEY);
    }
    if (rc != MDB_SUCCESS)
        return store_txn_fail(txn, rc, cursor != NULL ? "mdb_cursor_get" : "mdb_get");
    if (!store_val_readable(txn, &value))
        return store_val_unreadable(db, &value);
    if (cursor != NULL)
        cursor->sequence = sequence;
    *out = value;
    return LEDGER_ERR_OK;
}

static void store_record_out(const MDB_val *value, struct store_val *out)
{
    out->data = value->mv_data;
    out->size = value->mv_size;
}

enum ledger_err store_record(struct store_txn *txn, uint64_t sequence, struct store_val *out)
{
    STORE_CHECK(out != NULL);
    MDB_val value = {0, NULL};
    enum ledger_err err = store_get_sequence(txn, NULL, STORE_DB_LOG, sequence, &value);
    if (err == LEDGER_ERR_OK)
        store_record_out(&value, out);
    return err;
}

enum ledger_err store_record_next(struct store_cursor *cursor, uint64_t sequence,
                                  struct store_val *out)
{
    STORE_CHECK(cursor != NULL && out != NULL);
    MDB_val value = {0, NULL};
    enum ledger_err err = store_get_sequence(cursor->txn, cursor, STORE_DB_LOG, sequence, &value);
    if (err == LEDGER_ERR_OK)
        store_record_out(&value, out);
    return err;
}

/* A leaf hash's value out of the leaf database: CORRUPT unless 32 bytes. */
static enum ledger_err store_leaf_out(uint64_t sequence, const MDB_val *value,
                                      uint8_t out[STORE_HASH_BYTES])
{
    if (value->mv_size != STORE_HASH_BYTES) {
        store_note("leaf hash of sequence %llu has %zu bytes", (unsigned long long)sequence,
                   value->mv_size);
        return LEDGER_ERR_CORRUPT;
    }
    memcpy(out, value->mv_data, STORE_HASH_BYTES);
    return LEDGER_ERR_OK;
}

enum ledger_err store_leaf_next(struct store_cursor *cursor, uint64_t sequence,
                                uint8_t out[STORE_HASH_BYTES])
{
    STORE_CHECK(cursor != NULL && out != NULL);
    MDB_val value = {0, NULL};
    enum ledger_err err = store_get_sequence(cursor->txn, cursor, STORE_DB_LEAF, sequence, &value);
    return err == LEDGER_ERR_OK ? store_leaf_out(sequence, &value, out) : err;
}

enum ledger_err store_leaf(struct store_txn *txn, uint64_t sequence, uint8_t out[STORE_HASH_BYTES])
{
    STORE_CHECK(out != NULL);
    MDB_val value = {0, NULL};
    enum ledger_err err = store_get_sequence(txn, NULL, STORE_DB_LEAF, sequence, &value);
    return err == LEDGER_ERR_OK ? store_leaf_out(sequence, &value, out) : err;
}

/* --- index keys ------------------------------------------------------------------------------- */

/* The length of an id, which must be 1..LEDGER_ID_LENGTH_MAX bytes. */
static enum ledger_err store_id_length(const char *id, const char *what, size_t *out)
{
    STORE_CHECK(id != NULL);
    size_t length = strnlen(id, LEDGER_ID_LENGTH_MAX + 1);
    if (length == 0 || length > LEDGER_ID_LENGTH_MAX) {
        store_note("%s must be 1 to %d bytes", what, LEDGER_ID_LENGTH_MAX);
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    *out = length;
    return LEDGER_ERR_OK;
}

/* partner_id NUL customer_id NUL, followed by room for the version. */
struct store_stream_key {
    uint8_t bytes[2 * (LEDGER_ID_LENGTH_MAX + 1) + 8];
    size_t prefix_size;
};

static enum ledger_err store_stream_prefix(const char *partner_id, const char *customer_id,
                                           struct store_stream_key *out)
{
    size_t partner_length, customer_length;
    enum ledger_err err = store_id_length(partner_id, "partner id", &partner_length);
    if (err != LEDGER_ERR_OK)
        return err;
    err = store_id_length(customer_id, "customer id", &customer_length);
    if (err != LEDGER_ERR_OK)
        return err;
    memcpy(out->bytes, partner_id, partner_length + 1);
    memcpy(out->bytes + partner_length + 1, customer_id, customer_length + 1);
    out->prefix_size = partner_length + 1 + customer_length + 1;
    return LEDGER_ERR_OK;
}

static bool store_stream_key_matches(const struct store_stream_key *prefix, const MDB_val *key)
{
    return key->mv_size == prefix->prefix_size + 8 &&
           memcmp(key->mv_data, prefix->bytes, prefix->prefix_size) == 0;
}

/* The stream's last version and sequence; both 0 for an empty stream. */
static enum ledger_err store_stream_last(struct store_txn *txn,
                                         const struct store_stream_key *prefix,
                                         uint64_t *version_out, uint64_t *sequence_out)
{
    MDB_cursor *cursor = NULL;
    enum ledger_err err;
    struct store_stream_key probe = *prefix;
    /* Past every version of this stream: the stream's last key is just before. */
    memset(probe.bytes + probe.prefix_size, 0xff, 8);
    MDB_val key = {probe.prefix_size + 8, probe.bytes};
    MDB_val value;
    int rc = mdb_cursor_open(txn->txn, txn->store->dbi[STORE_DB_STREAM], &cursor);
    if (rc != MDB_SUCCESS) {
        err = store_txn_fail(txn, rc, "mdb_cursor_open (stream)");
        goto cleanup;
    }
    rc = mdb_cursor_get(cursor, &key, &value, MDB_SET_RANGE);
    if (rc == MDB_SUCCESS && !store_stream_key_matches(prefix, &key))
        rc = mdb_cursor_get(cursor, &key, &value, MDB_PREV);
    else if (rc == MDB_NOTFOUND)
        rc = mdb_cursor_get(cursor, &key, &value, MDB_LAST);
    uint64_t version = 0, sequence = 0;
    if (rc == MDB_SUCCESS && store_stream_key_matches(prefix, &key)) {
        if (value.mv_size != 8) {
            store_note("stream index value of %zu bytes", value.mv_size);
            err = LEDGER_ERR_CORRUPT;
            goto cleanup;
        }
        version = store_key_to_u64((const uint8_t *)key.mv_data + prefix->prefix_size);
        sequence = store_key_to_u64(value.mv_data);
    } else if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) {
        err = store_txn_fail(txn, rc, "mdb_cursor_get (stream)");
        goto cleanup;
    }
    *version_out = version;
    *sequence_out = sequence;
    err = LEDGER_ERR_OK;
cleanup:
    if (cursor != NULL)
        mdb_cursor_close(cursor);
    return err;
}

/* --- the per-customer stream index ------------------------------------------------------------ */

enum ledger_err store_stream_version(struct store_txn *txn, const char *partner_id,
                                     const char *customer_id, uint64_t *version_out)
{
    store_txn_check(txn);
    STORE_CHECK(version_out != NULL);
    struct store_stream_key prefix;
    enum ledger_err err = store_stream_prefix(partner_id, customer_id, &prefix);
    if (err != LEDGER_ERR_OK)
        return err;
    uint64_t version, sequence;
    err = store_stream_last(txn, &prefix, &version, &sequence);
    if (err != LEDGER_ERR_OK)
        return err;
    *version_out = version;
    return LEDGER_ERR_OK;
}

/* Writes `sequence` as version `version` of the prefix's stream, through
 * `cursor` when not NULL (a run of versions), with mdb_put's `flags`; CORRUPT
 * (noted) when the key is already there or, appending, out of order. */
static enum ledger_err store_stream_put(struct store_txn *txn, MDB_cursor *cursor,
                                        struct store_stream_key *prefix, uint64_t version,
                                        uint64_t sequence, unsigned flags)
{
    store_u64_to_key(version, prefix->bytes + prefix->prefix_size);
    uint8_t sequence_bytes[8];
    store_u64_to_key(sequence, sequence_bytes);
    MDB_val key = {prefix->prefix_size + 8, prefix->bytes};
    MDB_val value = {sizeof sequence_bytes, sequence_bytes};
    int rc = cursor != NULL
                 ? mdb_cursor_put(cursor, &key, &value, flags)
                 : mdb_put(txn->txn, txn->store->dbi[STORE_DB_STREAM], &key, &value, flags);
    if (rc == MDB_KEYEXIST) {
        store_note("stream version %llu already present or out of order",
                   (unsigned long long)version);
        return LEDGER_ERR_CORRUPT;
    }
    if (rc != MDB_SUCCESS)
        return store_txn_fail(txn, rc, "mdb_put (stream)");
    return LEDGER_ERR_OK;
}

enum ledger_err store_stream_add(struct store_txn *txn, const char *partner_id,
                                 const char *customer_id, uint64_t sequence, uint64_t *version_out)
{
    store_txn_check(txn);
    STORE_CHECK(txn->write && version_out != NULL);
    struct store_stream_key prefix;
    enum ledger_err err = store_stream_prefix(partner_id, customer_id, &prefix);
    if (err != LEDGER_ERR_OK)
        return err;
    uint64_t version, last_sequence;
    err = store_stream_last(txn, &prefix, &version, &last_sequence);
    if (err != LEDGER_ERR_OK)
        return err;
    if (sequence == 0 || sequence <= last_sequence) {
        store_note("stream sequence %llu not above the stream's last %llu",
                   (unsigned long long)sequence, (unsigned long long)last_sequence);
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    err = store_stream_put(txn, NULL, &prefix, version + 1, sequence, MDB_NOOVERWRITE);
    if (err != LEDGER_ERR_OK)
        return err;
    *version_out = version + 1;
    return LEDGER_ERR_OK;
}

enum ledger_err store_stream_fill(struct store_txn *txn, const char *partner_id,
                                  const char *customer_id, uint64_t first_version,
                                  const uint64_t *sequences, size_t count, bool append)
{
    store_txn_check(txn);
    STORE_CHECK(txn->write && first_version >= 1 && (sequences != NULL || count == 0));
    STORE_CHECK(count <= UINT64_MAX - first_version);
    struct store_stream_key prefix;
    enum ledger_err err = store_stream_prefix(partner_id, customer_id, &prefix);
    if (err != LEDGER_ERR_OK)
        return err;
    MDB_cursor *cursor = NULL;
    int rc = mdb_cursor_open(txn->txn, txn->store->dbi[STORE_DB_STREAM], &cursor);
    if (rc != MDB_SUCCESS)
        return store_txn_fail(txn, rc, "mdb_cursor_open (stream)");
    unsigned flags = append ? MDB_APPEND : MDB_NOOVERWRITE;
    for (size_t i = 0; err == LEDGER_ERR_OK && i < count; i++) {
        err = store_stream_put(txn, cursor, &prefix, first_version + i, sequences[i], flags);
    }
    mdb_cursor_close(cursor);
    return err;
}

/* The sequence of a stream index entry of the prefix's stream, which must be
 * version `expected` with an 8-byte value; CORRUPT (noted) otherwise. */
static enum ledger_err store_stream_entry(const struct store_stream_key *prefix, const MDB_val *key,
                                          const MDB_val *value, uint64_t expected,
                                          uint64_t *sequence_out)
{
    uint64_t version = store_key_to_u64((const uint8_t *)key->mv_data + prefix->prefix_size);
    if (version != expected || value->mv_size != 8) {
        store_note("stream index broken at version %llu", (unsigned long long)expected);
        return LEDGER_ERR_CORRUPT;
    }
    *sequence_out = store_key_to_u64(value->mv_data);
    return LEDGER_ERR_OK;
}

/* The sequence of one version of a stream; CORRUPT when the version is
 * missing (versions are dense from 1 to the last). */
static enum ledger_err store_stream_sequence(struct store_txn *txn,
                                             const struct store_stream_key *prefix,
                                             uint64_t version, uint64_t *sequence_out)
{
    struct store_stream_key k = *prefix;
    store_u64_to_key(version, k.bytes + k.prefix_size);
    MDB_val key = {k.prefix_size + 8, k.bytes};
    MDB_val value;
    int rc = mdb_get(txn->txn, txn->store->dbi[STORE_DB_STREAM], &key, &value);
    if (rc == MDB_NOTFOUND || (rc == MDB_SUCCESS && value.mv_size != 8)) {
        store_note("stream index broken at version %llu", (unsigned long long)version);
        return LEDGER_ERR_CORRUPT;
    }
    if (rc != MDB_SUCCESS)
        return store_txn_fail(txn, rc, "mdb_get (stream)");
    *sequence_out = store_key_to_u64(value.mv_data);
    return LEDGER_ERR_OK;
}

/* The last version of the prefix's stream whose sequence is below `below`
 * (0: none is), by bisection over versions 1..`last`, whose last's sequence
 * is at least `below`: versions and sequences rise together, so that
 * seq(lo) < below <= seq(hi) holds throughout (version 0 is below
 * everything). */
static enum ledger_err store_stream_last_below(struct store_txn *txn,
                                               const struct store_stream_key *prefix, uint64_t last,
                                               uint64_t below, uint64_t *version_out)
{
    uint64_t lo = 0, hi = last;
    while (hi - lo > 1) {
        uint64_t mid = lo + (hi - lo) / 2;
        uint64_t sequence = 0;
        enum ledger_err err = store_stream_sequence(txn, prefix, mid, &sequence);
        if (err != LEDGER_ERR_OK)
            return err;
        if (sequence < below)
            lo = mid;
        else
            hi = mid;
    }
    *version_out = lo;
    return LEDGER_ERR_OK;
}

enum ledger_err store_stream_each(struct store_txn *txn, const char *partner_id,
                                  const char *customer_id, uint64_t after, store_sequence_fn fn,
                                  void *context)
{
    store_txn_check(txn);
    STORE_CHECK(fn != NULL);
    MDB_cursor *cursor = NULL;
    struct store_stream_key prefix;
    enum ledger_err err = store_stream_prefix(partner_id, customer_id, &prefix);
    if (err != LEDGER_ERR_OK)
        return err;
    uint64_t first = 1;
    if (after != 0) {
        /* The first version above `after`, by bisection, so that a page
         * deep in a long stream does not walk the versions before it. */
        uint64_t version = 0, sequence = 0;
        err = store_stream_last(txn, &prefix, &version, &sequence);
        if (err != LEDGER_ERR_OK || sequence <= after)
            return err; /* an empty stream too: its last sequence is 0 */
        /* after < sequence: after + 1 does not overflow. */
        err = store_stream_last_below(txn, &prefix, version, after + 1, &first);
        if (err != LEDGER_ERR_OK)
            return err;
        first++;
    }
    MDB_stat stat;
    int rc = mdb_stat(txn->txn, txn->store->dbi[STORE_DB_STREAM], &stat);
    if (rc != MDB_SUCCESS) {
        err = store_txn_fail(txn, rc, "mdb_stat (stream)");
        goto cleanup;
    }
    rc = mdb_cursor_open(txn->txn, txn->store->dbi[STORE_DB_STREAM], &cursor);
    if (rc != MDB_SUCCESS) {
        err = store_txn_fail(txn, rc, "mdb_cursor_open (stream)");
        goto cleanup;
    }
    store_u64_to_key(first, prefix.bytes + prefix.prefix_size);
    MDB_val key = {prefix.prefix_size + 8, prefix.bytes};
    MDB_val value;
    rc = mdb_cursor_get(cursor, &key, &value, MDB_SET_RANGE);
    /* A stream has at most as many versions as the index has entries. */
    for (uint64_t expected = first; expected - first < stat.ms_entries; expected++) {
        if (rc == MDB_NOTFOUND || (rc == MDB_SUCCESS && !store_stream_key_matches(&prefix, &key)))
            break;
        if (rc != MDB_SUCCESS) {
            err = store_txn_fail(txn, rc, "mdb_cursor_get (stream)");
            goto cleanup;
        }
        uint64_t sequence = 0;
        err = store_stream_entry(&prefix, &key, &value, expected, &sequence);
        if (err == LEDGER_ERR_OK)
            err = fn(context, sequence);
        if (err != LEDGER_ERR_OK)
            goto cleanup;
        rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT);
    }
    err = LEDGER_ERR_OK;
cleanup:
    if (cursor != NULL)
        mdb_cursor_close(cursor);
    return err;
}

enum ledger_err store_stream_each_back(struct store_txn *txn, const char *partner_id,
                                       const char *customer_id, uint64_t below,
                                       store_sequence_fn fn, void *context)
{
    store_txn_check(txn);
    STORE_CHECK(fn != NULL);
    struct store_stream_key prefix;
    enum ledger_err err = store_stream_prefix(partner_id, customer_id, &prefix);
    uint64_t version = 0, sequence = 0;
    if (err == LEDGER_ERR_OK)
        err = store_stream_last(txn, &prefix, &version, &sequence);
    if (err != LEDGER_ERR_OK || version == 0)
        return err;
    if (below != 0 && sequence >= below) {
        err = store_stream_last_below(txn, &prefix, version, below, &version);
        if (err != LEDGER_ERR_OK || version == 0)
            return err;
    }
    MDB_cursor *cursor = NULL;
    int rc = mdb_cursor_open(txn->txn, txn->store->dbi[STORE_DB_STREAM], &cursor);
    if (rc != MDB_SUCCESS)
        return store_txn_fail(txn, rc, "mdb_cursor_open (stream)");
    store_u64_to_key(version, prefix.bytes + prefix.prefix_size);
    MDB_val key = {prefix.prefix_size + 8, prefix.bytes};
    MDB_val value;
    rc = mdb_cursor_get(cursor, &key, &value, MDB_SET_KEY);
    for (uint64_t expected = version; err == LEDGER_ERR_OK; expected--) {
        if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) {
            err = store_txn_fail(txn, rc, "mdb_cursor_get (stream)");
            break;
        }
        /* Versions are dense: below the last there is every one down to 1. */
        if (rc == MDB_NOTFOUND || !store_stream_key_matches(&prefix, &key)) {
            store_note("stream index broken at version %llu", (unsigned long long)expected);
            err = LEDGER_ERR_CORRUPT;
        } else {
            err = store_stream_entry(&prefix, &key, &value, expected, &sequence);
        }
        if (err == LEDGER_ERR_OK)
            err = fn(context, sequence);
        if (err != LEDGER_ERR_OK || expected == 1)
            break;
        rc = mdb_cursor_get(cursor, &key, &value, MDB_PREV);
    }
    mdb_cursor_close(cursor);
    return err;
}

/* --- the command-id index --------------------------------------------------------------------- */

/* principal_id NUL command_id */
static enum ledger_err store_command_key(const char *principal_id, const char *command_id,
                                         uint8_t bytes[2 * LEDGER_ID_LENGTH_MAX + 1],
                                         size_t *size_out)
{
    size_t principal_length, command_length;
    enum ledger_err err = store_id_length(principal_id, "principal id", &principal_length);
    if (err != LEDGER_ERR_OK)
        return err;
    err = store_id_length(command_id, "command id", &command_length);
    if (err != LEDGER_ERR_OK)
        return err;
    memcpy(bytes, principal_id, principal_length + 1);
    memcpy(bytes + principal_length + 1, command_id, command_length);
    *size_out = principal_length + 1 + command_length;
    return LEDGER_ERR_OK;
}

enum ledger_err store_command_get(struct store_txn *txn, const char *principal_id,
                                  const char *command_id, uint8_t hash_out[STORE_HASH_BYTES],
                                  struct store_val *result_out)
{
    store_txn_check(txn);
    STORE_CHECK(hash_out != NULL && result_out != NULL);
    uint8_t key_bytes[2 * LEDGER_ID_LENGTH_MAX + 1];
    size_t key_size;
    enum ledger_err err = store_command_key(principal_id, command_id, key_bytes, &key_size);
    if (err != LEDGER_ERR_OK)
        return err;
    MDB_val key = {key_size, key_bytes};
    MDB_val value;
    int rc = mdb_get(txn->txn, txn->store->dbi[STORE_DB_COMMAND], &key, &value);
    if (rc != MDB_SUCCESS)
        return store_txn_fail(txn, rc, "mdb_get (command)");
    if (value.mv_size < STORE_HASH_BYTES) {
        store_note("command index value of %zu bytes", value.mv_size);
        return LEDGER_ERR_CORRUPT;
    }
    if (!store_val_readable(txn, &value))
        return store_val_unreadable(STORE_DB_COMMAND, &value);
    memcpy(hash_out, value.mv_data, STORE_HASH_BYTES);
    result_out->data = (const uint8_t *)value.mv_data + STORE_HASH_BYTES;
    result_out->size = value.mv_size - STORE_HASH_BYTES;
    return LEDGER_ERR_OK;
}

enum ledger_err store_command_put(struct store_txn *txn, const char *principal_id,
                                  const char *command_id, const uint8_t hash[STORE_HASH_BYTES],
                                  const uint8_t *result, size_t result_size)
{
    store_txn_check(txn);
    STORE_CHECK(txn->write && hash != NULL);
    STORE_CHECK(result != NULL || result_size == 0);
    uint8_t key_bytes[2 * LEDGER_ID_LENGTH_MAX + 1];
    size_t key_size;
    enum ledger_err err = store_command_key(principal_id, command_id, key_bytes, &key_size);
    if (err != LEDGER_ERR_OK)
        return err;
    if (result_size > UINT32_MAX - STORE_HASH_BYTES) {
        store_note("command result of %zu bytes", result_size);
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    MDB_val key = {key_size, key_bytes};
    MDB_val value = {STORE_HASH_BYTES + result_size, NULL};
    /* MDB_RESERVE: write hash and result straight into the map. */
    int rc = mdb_put(txn->txn, txn->store->dbi[STORE_DB_COMMAND], &key, &value,
                     MDB_NOOVERWRITE | MDB_RESERVE);
    if (rc == MDB_KEYEXIST) {
        store_note("command id already recorded");
        return LEDGER_ERR_COMMAND_ID_REUSED;
    }
    if (rc != MDB_SUCCESS)
        return store_txn_fail(txn, rc, "mdb_put (command)");
    memcpy(value.mv_data, hash, STORE_HASH_BYTES);
    if (result_size > 0)
        memcpy((uint8_t *)value.mv_data + STORE_HASH_BYTES, result, result_size);
    return LEDGER_ERR_OK;
}

/* --- generic key-value access ----------------------------------------------------------------- */

static enum ledger_err store_key_check(const void *key, size_t key_size)
{
    if (key == NULL || key_size == 0 || key_size > STORE_KEY_BYTES_MAX) {
        store_note("key of %zu bytes (1 to %d allowed)", key_size, STORE_KEY_BYTES_MAX);
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    return LEDGER_ERR_OK;
}

enum ledger_err store_get(struct store_txn *txn, enum store_db db, const void *key, size_t key_size,
                          struct store_val *out)
{
    store_txn_check(txn);
    STORE_CHECK(store_db_valid(db) && out != NULL);
    enum ledger_err err = store_key_check(key, key_size);
    if (err != LEDGER_ERR_OK)
        return err;
    MDB_val mdb_key = {key_size, (void *)key};
    MDB_val value;
    int rc = mdb_get(txn->txn, txn->store->dbi[db], &mdb_key, &value);
    if (rc != MDB_SUCCESS)
        return store_txn_fail(txn, rc, "mdb_get");
    if (!store_val_readable(txn, &value))
        return store_val_unreadable(db, &value);
    out->data = value.mv_data;
    out->size = value.mv_size;
    return LEDGER_ERR_OK;
}

enum ledger_err store_put(struct store_txn *txn, enum store_db db, const void *key, size_t key_size,
                          const void *value, size_t value_size)
{
    store_txn_check(txn);
    STORE_CHECK(txn->write && store_db_valid(db));
    /* The log and its leaf hashes are written only by store_append. */
    STORE_CHECK(db != STORE_DB_LOG && db != STORE_DB_LEAF);
    STORE_CHECK(value != NULL || value_size == 0);
    enum ledger_err err = store_key_check(key, key_size);
    if (err != LEDGER_ERR_OK)
        return err;
    if (value_size > UINT32_MAX) {
        store_note("value of %zu bytes", value_size);
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    static const uint8_t empty[1] = {0};
    MDB_val mdb_key = {key_size, (void *)key};
    MDB_val mdb_value = {value_size, value != NULL ? (void *)value : (void *)empty};
    int rc = mdb_put(txn->txn, txn->store->dbi[db], &mdb_key, &mdb_value, 0);
    if (rc != MDB_SUCCESS)
        return store_txn_fail(txn, rc, "mdb_put");
    return LEDGER_ERR_OK;
}

enum ledger_err store_del(struct store_txn *txn, enum store_db db, const void *key, size_t key_size)
{
    store_txn_check(txn);
    STORE_CHECK(txn->write && store_db_valid(db));
    STORE_CHECK(store_db_derived(db));
    enum ledger_err err = store_key_check(key, key_size);
    if (err != LEDGER_ERR_OK)
        return err;
    MDB_val mdb_key = {key_size, (void *)key};
    int rc = mdb_del(txn->txn, txn->store->dbi[db], &mdb_key, NULL);
    if (rc != MDB_SUCCESS)
        return store_txn_fail(txn, rc, "mdb_del");
    return LEDGER_ERR_OK;
}

enum ledger_err store_drop(struct store_txn *txn, enum store_db db)
{
    store_txn_check(txn);
    STORE_CHECK(txn->write && store_db_valid(db));
    STORE_CHECK(store_db_derived(db));
    /* 0: empty the database and keep its handle. */
    int rc = mdb_drop(txn->txn, txn->store->dbi[db], 0);
    if (rc != MDB_SUCCESS)
        return store_txn_fail(txn, rc, "mdb_drop");
    return LEDGER_ERR_OK;
}

enum ledger_err store_count(struct store_txn *txn, enum store_db db, uint64_t *count_out)
{
    store_txn_check(txn);
    STORE_CHECK(store_db_valid(db) && count_out != NULL);
    MDB_stat stat;
    int rc = mdb_stat(txn->txn, txn->store->dbi[db], &stat);
    if (rc != MDB_SUCCESS)
        return store_txn_fail(txn, rc, "mdb_stat");
    *count_out = stat.ms_entries;
    return LEDGER_ERR_OK;
}

/* --- cursors ---------------------------------------------------------------------------------- */

enum ledger_err store_cursor_open(struct store_txn *txn, enum store_db db,
                                  struct store_cursor **out)
{
    store_txn_check(txn);
    STORE_CHECK(store_db_valid(db) && out != NULL);
    struct store_cursor *cursor = calloc(1, sizeof *cursor);
    if (cursor == NULL) {
        store_note("out of memory");
        return LEDGER_ERR_NO_MEMORY;
    }
    int rc = mdb_cursor_open(txn->txn, txn->store->dbi[db], &cursor->cursor);
    if (rc != MDB_SUCCESS) {
        free(cursor);
        return store_txn_fail(txn, rc, "mdb_cursor_open");
    }
    cursor->txn = txn;
    cursor->db = db;
    txn->cursors_open++;
    *out = cursor;
    return LEDGER_ERR_OK;
}

void store_cursor_close(struct store_cursor *cursor)
{
    if (cursor == NULL)
        return;
    STORE_CHECK(cursor->txn->cursors_open > 0);
    mdb_cursor_close(cursor->cursor);
    cursor->txn->cursors_open--;
    free(cursor);
}

static enum ledger_err store_cursor_get(struct store_cursor *cursor, MDB_val *key, MDB_cursor_op op,
                                        struct store_val *key_out, struct store_val *value_out)
{
    STORE_CHECK(cursor != NULL);
    store_txn_check(cursor->txn);
    MDB_val value;
    cursor->sequence = 0;
    int rc = mdb_cursor_get(cursor->cursor, key, &value, op);
    if (rc != MDB_SUCCESS)
        return store_txn_fail(cursor->txn, rc, "mdb_cursor_get");
    if (!store_val_readable(cursor->txn, &value))
        return store_val_unreadable(cursor->db, &value);
    if (key_out != NULL) {
        key_out->data = key->mv_data;
        key_out->size = key->mv_size;
    }
    if (value_out != NULL) {
        value_out->data = value.mv_data;
        value_out->size = value.mv_size;
    }
    return LEDGER_ERR_OK;
}

enum ledger_err store_cursor_seek(struct store_cursor *cursor, const void *key, size_t key_size,
                                  struct store_val *key_out, struct store_val *value_out)
{
    MDB_val mdb_key = {0, NULL};
    if (key == NULL)
        return store_cursor_get(cursor, &mdb_key, MDB_FIRST, key_out, value_out);
    enum ledger_err err = store_key_check(key, key_size);
    if (err != LEDGER_ERR_OK)
        return err;
    mdb_key.mv_size = key_size;
    mdb_key.mv_data = (void *)key;
    return store_cursor_get(cursor, &mdb_key, MDB_SET_RANGE, key_out, value_out);
}

enum ledger_err store_cursor_next(struct store_cursor *cursor, struct store_val *key_out,
                                  struct store_val *value_out)
{
    MDB_val key = {0, NULL};
    return store_cursor_get(cursor, &key, MDB_NEXT, key_out, value_out);
}

enum ledger_err store_cursor_prev(struct store_cursor *cursor, struct store_val *key_out,
                                  struct store_val *value_out)
{
    MDB_val key = {0, NULL};
    return store_cursor_get(cursor, &key, MDB_PREV, key_out, value_out);
}

enum ledger_err store_cursor_last(struct store_cursor *cursor, struct store_val *key_out,
                                  struct store_val *value_out)
{
    MDB_val key = {0, NULL};
    return store_cursor_get(cursor, &key, MDB_LAST, key_out, value_out);
}

/* --- whole-environment operations ------------------------------------------------------------- */

/* mdb_reader_list prints a header, then one line per occupied reader slot
 * beginning with its pid (or one line saying there are none). */
static int store_count_reader(const char *message, void *context)
{
    unsigned *count = context;
    size_t i = 0;
    while (i < 16 && message[i] == ' ')
        i++;
    if (message[i] >= '0' && message[i] <= '9')
        (*count)++;
    return 0;
}

enum ledger_err store_info(struct store *store, struct store_info *out)
{
    STORE_CHECK(store != NULL && out != NULL);
    enum ledger_err err = store_check_mapped(store);
    if (err != LEDGER_ERR_OK)
        return err;
    MDB_envinfo info;
    MDB_stat stat;
    int rc = mdb_env_info(store->env, &info);
    if (rc == MDB_SUCCESS)
        rc = mdb_env_stat(store->env, &stat);
    if (rc != MDB_SUCCESS)
        return store_fail(rc, "mdb_env_info");
    unsigned readers_max = 0;
    rc = mdb_env_get_maxreaders(store->env, &readers_max);
    if (rc != MDB_SUCCESS)
        return store_fail(rc, "mdb_env_get_maxreaders");
    unsigned readers_used = 0;
    rc = mdb_reader_list(store->env, store_count_reader, &readers_used);
    if (rc < 0)
        return store_fail(rc, "mdb_reader_list");
    struct store_txn *txn;
    err = store_begin(store, false, &txn);
    if (err != LEDGER_ERR_OK)
        return err;
    uint64_t last_sequence = store_last_sequence(txn);
    store_abort(txn);

    out->map_bytes = info.me_mapsize;
    out->map_bytes_max = store->map_bytes_max;
    out->used_bytes = ((uint64_t)info.me_last_pgno + 1) * stat.ms_psize;
    out->last_sequence = last_sequence;
    out->readers_used = readers_used;
    out->readers_max = readers_max;
    return LEDGER_ERR_OK;
}

/* Whether the directory open as dirfd is empty. */
static enum ledger_err store_dir_empty(int dirfd)
{
    int fd = dup(dirfd);
    DIR *handle = fd < 0 ? NULL : fdopendir(fd);
    if (handle == NULL) {
        store_note("reading the directory: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return LEDGER_ERR_STORAGE_ERROR;
    }
    enum ledger_err err = LEDGER_ERR_OK;
    /* "." and "..", then any third entry means not empty. */
    for (int i = 0; i < 3; i++) {
        errno = 0;
        struct dirent *entry = readdir(handle);
        if (entry == NULL) {
            if (errno != 0) {
                store_note("reading the directory: %s", strerror(errno));
                err = LEDGER_ERR_STORAGE_ERROR;
            }
            break;
        }
        if (strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0) {
            store_note("the directory is not empty");
            err = LEDGER_ERR_INVALID_ARGUMENT;
            break;
        }
    }
    closedir(handle);
    return err;
}

enum ledger_err store_copy_at(struct store *store, int dirfd)
{
    STORE_CHECK(store != NULL && dirfd >= 0);
    enum ledger_err err = store_dir_empty(dirfd);
    if (err != LEDGER_ERR_OK)
        return err;
    /* Our own file rather than mdb_env_copy2's: mode 0600, fsynced, and made
     * in the directory this descriptor holds, so that neither the copy nor
     * the removal of a failed one can land elsewhere if the directory's name
     * is replaced (by a symbolic link, say) while it runs. */
    int fd =
        openat(dirfd, STORE_DATA_FILE, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        int error = errno;
        store_note("creating %s: %s", STORE_DATA_FILE, strerror(error));
        return store_translate_errno(error);
    }
    /* The copy reads through its own transaction: count it at the gate so a
     * growth never remaps the map under it (a growth waits for the copy, up
     * to its deadline). */
    store_gate_enter(store);
    err = store_check_mapped(store);
    if (err == LEDGER_ERR_OK) {
        int rc = mdb_env_copyfd2(store->env, fd, MDB_CP_COMPACT);
        if (rc != MDB_SUCCESS)
            err = store_fail(rc, "mdb_env_copyfd2");
    }
    store_gate_leave(store);
    if (err == LEDGER_ERR_OK && fsync(fd) != 0) {
        int error = errno;
        store_note("fsync %s: %s", STORE_DATA_FILE, strerror(error));
        err = store_translate_errno(error);
    }
    if (close(fd) != 0 && err == LEDGER_ERR_OK) {
        int error = errno;
        store_note("close %s: %s", STORE_DATA_FILE, strerror(error));
        err = store_translate_errno(error);
    }
    if (err == LEDGER_ERR_OK && fsync(dirfd) != 0) {
        int error = errno;
        store_note("fsync of the directory: %s", strerror(error));
        err = store_translate_errno(error);
    }
    if (err != LEDGER_ERR_OK)
        unlinkat(dirfd, STORE_DATA_FILE, 0);
    return err;
}

enum ledger_err store_copy(struct store *store, const char *dir)
{
    STORE_CHECK(store != NULL && dir != NULL);
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dirfd < 0) {
        int error = errno;
        /* On Linux, O_DIRECTORY | O_NOFOLLOW on a symbolic link fails with
         * ENOTDIR, not ELOOP: ask what the name is to say which. */
        struct stat info;
        bool link =
            (error == ENOTDIR || error == ELOOP) && lstat(dir, &info) == 0 && S_ISLNK(info.st_mode);
        store_note("%s: %s", dir, link ? "a symbolic link, not a directory" : strerror(error));
        return link || error == ENOENT || error == ENOTDIR ? LEDGER_ERR_INVALID_ARGUMENT
                                                           : store_translate_errno(error);
    }
    enum ledger_err err = store_copy_at(store, dirfd);
    close(dirfd);
    return err;
}

enum ledger_err store_bulk(struct store *store, bool on)
{
    STORE_CHECK(store != NULL);
    if (store->read_only)
        return LEDGER_ERR_OK;
    /* MDB_NOMETASYNC, switched at run time (mdb_env_set_flags): each commit
     * still flushes its data pages before the next meta page is written, so a
     * power cut mid-rebuild loses at most the last commit and never leaves a
     * meta page naming pages that were not written or were reused (with
     * MDB_NOSYNC the kernel may write them in any order, and the log itself
     * could be lost). It saves the second flush of every commit, the meta
     * page's. Ending bulk mode forces one sync, so everything is durable. */
    int rc = mdb_env_set_flags(store->env, MDB_NOMETASYNC, on ? 1 : 0);
    if (rc != MDB_SUCCESS)
        return store_fail(rc, "mdb_env_set_flags");
    if (!on) {
        rc = mdb_env_sync(store->env, 1);
        if (rc != MDB_SUCCESS)
            return store_fail(rc, "mdb_env_sync");
    }
    return LEDGER_ERR_OK;
}
