/*
 * engine.c: one data directory's ledger: decide, append, project, answer.
 *
 * A command's path (engine_execute), all inside one LMDB write transaction per
 * group of requests, and one nested transaction per request of several
 * commands so that a refused request leaves no trace while its neighbours
 * commit (a lone command writes nothing until it is decided, so it needs
 * none):
 *
 *   1. decode the Command; check its id in the command-id index: the same id
 *      with the same content hash answers the stored result (duplicate), with
 *      other content is refused (COMMAND_ID_REUSED);
 *   2. load the customer's state (cache, or replay of its stream) and check the
 *      expected stream version;
 *   3. domain_decide (pure) -> one Event;
 *   4. append the record (store), add its leaf to the Merkle tree (merkle),
 *      index it in the customer's stream (store), evolve the state (domain),
 *      project it (views), and record the command's result (store);
 *   5. commit the group: durable before any caller is answered.
 *
 * On MDB_MAP_FULL the whole group is aborted, the map grown and the group
 * retried; past the configured maximum every request gets STORAGE_FULL and
 * nothing is written.
 *
 * Customer states live in a bounded in-memory cache, touched only by the one
 * thread that calls engine_execute. Changes made by a group go to the group's
 * overlay, in place; they reach the cache only when the transaction that
 * recorded them has committed, so the cache never holds a state the log does
 * not. A state the group took from the cache leaves an empty entry there
 * until the group commits; a batch refused part way drops the group's states,
 * which reload from the log (group_evict).
 *
 * Files of a data directory: data.mdb and lock.mdb (LMDB), ledgerd.lock (held
 * with flock by the one process that writes), head.key (the Ed25519 secret key
 * that signs tree heads, hex, mode 0600).
 */
#include "engine.h"
#include "engine_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "domain.h"
#include "merkle.h"
#include "views.h"

#define ENGINE_HEAD_KEY_FILE "head.key"
#define ENGINE_LOCK_FILE     "ledgerd.lock"

/* --- a small hash map of customer states ------------------------------------ */

size_t engine__state_key(const char *partner_id, const char *customer_id,
                         char out[2 * DOMAIN_ID_SIZE])
{
    size_t p = strlen(partner_id), c = strlen(customer_id);
    memcpy(out, partner_id, p);
    out[p] = '\0';
    memcpy(out + p + 1, customer_id, c);
    return p + 1 + c;
}

static uint64_t state_hash(const char *key, size_t size)
{
    uint64_t h = UINT64_C(1469598103934665603); /* FNV-1a */
    for (size_t i = 0; i < size; i++) {
        h ^= (unsigned char)key[i];
        h *= UINT64_C(1099511628211);
    }
    return h;
}

void engine__state_map_clear(struct state_map *map)
{
    for (size_t i = 0; i < map->capacity; i++) {
        if (map->entries[i].used) {
            domain_customer_free(map->entries[i].state);
        }
    }
    free(map->entries);
    memset(map, 0, sizeof *map);
}

struct state_entry *engine__state_map_find(struct state_map *map, const char *key, size_t size)
{
    if (map->capacity == 0) {
        return NULL;
    }
    size_t mask = map->capacity - 1;
    for (size_t i = state_hash(key, size) & mask, n = 0; n < map->capacity;
         i = (i + 1) & mask, n++) {
        struct state_entry *e = &map->entries[i];
        if (!e->used) {
            return NULL;
        }
        if (e->key_size == size && memcmp(e->key, key, size) == 0) {
            return e;
        }
    }
    return NULL;
}

static enum ledger_err state_map_grow(struct state_map *map)
{
    struct state_map bigger = {0};
    bigger.capacity = map->capacity ? map->capacity * 2 : 64;
    bigger.entries = calloc(bigger.capacity, sizeof *bigger.entries);
    if (!bigger.entries) {
        return LEDGER_ERR_NO_MEMORY;
    }
    for (size_t i = 0; i < map->capacity; i++) {
        struct state_entry *e = &map->entries[i];
        if (e->used) {
            enum ledger_err err = engine__state_map_put(&bigger, e->key, e->key_size, e->state);
            if (err != LEDGER_ERR_OK) { /* cannot happen: bigger has room */
                free(bigger.entries);
                return err;
            }
        }
    }
    free(map->entries);
    *map = bigger;
    return LEDGER_ERR_OK;
}

enum ledger_err engine__state_map_put(struct state_map *map, const char *key, size_t size,
                                      struct domain_customer *state)
{
    struct state_entry *found = engine__state_map_find(map, key, size);
    if (found) {
        if (found->state != state) {
            domain_customer_free(found->state);
        }
        found->state = state;
        return LEDGER_ERR_OK;
    }
    if ((map->count + 1) * 4 > map->capacity * 3) {
        enum ledger_err err = state_map_grow(map);
        if (err != LEDGER_ERR_OK) {
            return err;
        }
    }
    size_t mask = map->capacity - 1;
    size_t i = state_hash(key, size) & mask;
    while (map->entries[i].used) {
        i = (i + 1) & mask;
    }
    struct state_entry *e = &map->entries[i];
    memcpy(e->key, key, size);
    e->key_size = size;
    e->state = state;
    e->used = true;
    map->count++;
    return LEDGER_ERR_OK;
}

/* The bytes the map's states hold (domain_customer_bytes). */
static uint64_t state_map_bytes(const struct state_map *map)
{
    uint64_t bytes = 0;
    for (size_t i = 0; i < map->capacity; i++) {
        if (map->entries[i].used) {
            bytes += domain_customer_bytes(map->entries[i].state);
        }
    }
    return bytes;
}

/* Moves every state of `from` into `into`, leaving `from` empty. On NO_MEMORY
 * the states not moved are freed. */
static enum ledger_err state_map_merge(struct state_map *into, struct state_map *from)
{
    enum ledger_err result = LEDGER_ERR_OK;
    for (size_t i = 0; i < from->capacity; i++) {
        struct state_entry *e = &from->entries[i];
        if (!e->used || e->state == NULL) { /* an evicted state */
            continue;
        }
        if (result == LEDGER_ERR_OK) {
            result = engine__state_map_put(into, e->key, e->key_size, e->state);
            if (result == LEDGER_ERR_OK) {
                e->used = false;
                continue;
            }
        }
    }
    engine__state_map_clear(from);
    return result;
}

/* --- the engine ---------------------------------------------------------------- */

struct store *engine_store(struct engine *engine)
{
    return engine->store;
}

_Static_assert(ENGINE_PUBLIC_KEY_HEX_SIZE == 2 * CRYPTO_SIGN_PUBLIC_BYTES + 1,
               "a public key's hex digits and a NUL");

bool engine_head_public_key_hex(const struct engine *engine,
                                char hex_out[ENGINE_PUBLIC_KEY_HEX_SIZE])
{
    if (!engine->head_key_loaded) {
        return false;
    }
    crypto_hex(engine->head_public_key, CRYPTO_SIGN_PUBLIC_BYTES, hex_out);
    return true;
}

uint64_t engine_head_sequence(struct engine *engine)
{
    return atomic_load_explicit(&engine->head_sequence, memory_order_relaxed);
}

void engine__head_observe(struct engine *engine, uint64_t sequence)
{
    uint64_t seen = atomic_load_explicit(&engine->head_sequence, memory_order_relaxed);
    while (seen < sequence &&
           !atomic_compare_exchange_weak_explicit(&engine->head_sequence, &seen, sequence,
                                                  memory_order_relaxed, memory_order_relaxed)) {
    }
}

enum ledger_err engine__path_join(const char *dir, const char *name, char out[PATH_MAX])
{
    int n = snprintf(out, PATH_MAX, "%s/%s", dir, name);
    return (n < 0 || n >= PATH_MAX) ? LEDGER_ERR_INVALID_ARGUMENT : LEDGER_ERR_OK;
}

/* Writes `text` to a new file of mode 0600, atomically (temp, fsync, rename). */
static enum ledger_err write_secret_file(const char *path, const char *text)
{
    char tmp[PATH_MAX];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (n < 0 || (size_t)n >= sizeof tmp) {
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    /* Whatever has the temporary name (left by a run that crashed, or put
     * there) goes first, and the file is made anew: an existing file opened
     * as it is would keep its own mode (0644 makes the secret readable by
     * all), and a symbolic link would take the secret elsewhere. */
    if (unlink(tmp) != 0 && errno != ENOENT) {
        return LEDGER_ERR_IO_ERROR;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        return LEDGER_ERR_IO_ERROR;
    }
    size_t size = strlen(text);
    ssize_t written = write(fd, text, size);
    bool ok = written == (ssize_t)size && fsync(fd) == 0;
    ok = (close(fd) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return LEDGER_ERR_IO_ERROR;
    }
    return LEDGER_ERR_OK;
}

enum ledger_err engine__head_key_read(const char *path,
                                      uint8_t secret_key[CRYPTO_SIGN_SECRET_BYTES],
                                      char message[ENGINE_MESSAGE_SIZE])
{
    message[0] = '\0';
    /* Read with read(2) into this frame's buffer, wiped below: stdio would
     * read through a buffer of its own that fclose frees unwiped, leaving
     * the secret key in freed memory. */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int error = errno;
        engine__set_message(message, strerror(error));
        return error == ENOENT ? LEDGER_ERR_NOT_FOUND : LEDGER_ERR_IO_ERROR;
    }
    /* Room for the 128 digits, a CR LF and the terminator, and one more
     * character, so that a longer first line is seen as one. */
    char hex[2 * CRYPTO_SIGN_SECRET_BYTES + 4] = {0};
    uint8_t key[CRYPTO_SIGN_SECRET_BYTES];
    size_t length = 0;
    int read_error = 0;
    while (length < sizeof hex - 1) {
        ssize_t got = read(fd, hex + length, sizeof hex - 1 - length);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            read_error = got < 0 ? errno : 0;
            break;
        }
        length += (size_t)got;
    }
    close(fd);
    if (read_error != 0) {
        /* A path that opens but does not read is most often a directory:
         * the system's reason says so ("Is a directory"). */
        snprintf(message, ENGINE_MESSAGE_SIZE, "it cannot be read (%s)", strerror(read_error));
        crypto_wipe(hex, sizeof hex);
        return LEDGER_ERR_IO_ERROR;
    }
    /* The first line is the key; what follows it is not read as part of it. */
    hex[strcspn(hex, "\r\n")] = '\0';
    enum ledger_err err = LEDGER_ERR_INVALID_ARGUMENT;
    if (crypto_unhex(hex, key, CRYPTO_SIGN_SECRET_BYTES) != LEDGER_ERR_OK) {
        /* A principal's secret is 32 bytes: its key file (operator.key) is
         * the likeliest file to be given instead. */
        uint8_t principal[LEDGER_SECRET_BYTES];
        bool principal_key = crypto_unhex(hex, principal, sizeof principal) == LEDGER_ERR_OK;
        crypto_wipe(principal, sizeof principal);
        engine__set_message(message,
                            principal_key
                                ? "it holds 64 hex digits, a principal's secret (a key file such "
                                  "as operator.key); a head-signing key holds 128"
                                : "it does not hold the 128 hex digits of an Ed25519 secret key "
                                  "(what a data directory's head.key holds)");
    } else if (!crypto_ed25519_secret_key_valid(key)) {
        engine__set_message(message, "its 128 hex digits are not an Ed25519 secret key (the "
                                     "second half is not the public key of the first)");
    } else {
        memcpy(secret_key, key, sizeof key);
        err = LEDGER_ERR_OK;
    }
    crypto_wipe(hex, sizeof hex);
    crypto_wipe(key, sizeof key);
    return err;
}

static enum ledger_err load_head_key(struct engine *engine, const char *dir)
{
    char path[PATH_MAX], message[ENGINE_MESSAGE_SIZE];
    enum ledger_err err = engine__path_join(dir, ENGINE_HEAD_KEY_FILE, path);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    err = engine__head_key_read(path, engine->head_secret_key, message);
    if (err == LEDGER_ERR_NOT_FOUND || err == LEDGER_ERR_IO_ERROR) {
        /* Offline tools may read a copy without the secret key: heads are then
         * not signed by this process. Otherwise only a missing file is a
         * ledger without its key (a backup); one that is there but cannot be
         * read is an IO error, whose reason engine_check_head_key_file gives. */
        return engine->read_only || engine->scratch ? LEDGER_ERR_OK : err;
    }
    if (err != LEDGER_ERR_OK) {
        return LEDGER_ERR_CORRUPT;
    }
    crypto_ed25519_public_key(engine->head_secret_key, engine->head_public_key);
    engine->head_key_loaded = true;
    return LEDGER_ERR_OK;
}

/* Why the last engine_open on this thread failed before the store said
 * anything (its lock file), for engine_open_detail; "" otherwise. */
static _Thread_local char engine_open_error[PATH_MAX + 512];

/* Takes `dir`'s lock file without waiting: exclusive (a writer: made when
 * there is none) or shared (a reader of the files: a directory without one
 * has no writer, and then *fd_out is -1). DATA_DIR_LOCKED when another
 * process holds it against this; IO_ERROR. */
static enum ledger_err lock_take(const char *dir, bool exclusive, int *fd_out)
{
    char lock_path[PATH_MAX];
    enum ledger_err err = engine__path_join(dir, ENGINE_LOCK_FILE, lock_path);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    /* O_NONBLOCK: a FIFO put in place of the lock file of a directory that
     * is only read (a backup, whose writer may be hostile) must not hang
     * the open, which waits for a writer. */
    int fd = exclusive ? open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)
                       : open(lock_path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        *fd_out = -1;
        if (!exclusive && errno == ENOENT) {
            return LEDGER_ERR_OK;
        }
        /* A read-only file system (a mount, or a systemd unit's
         * ProtectSystem without the directory in ReadWritePaths) ends here:
         * name the file and the system's reason. */
        snprintf(engine_open_error, sizeof engine_open_error, "%s cannot be opened%s: %s%s",
                 lock_path, exclusive ? " for writing" : "", strerror(errno),
                 exclusive ? "; ledgerd writes its data directory: make it writable (a "
                             "read-only mount cannot serve; under systemd it must be in the "
                             "unit's ReadWritePaths), or give --data another one"
                           : "");
        return LEDGER_ERR_IO_ERROR;
    }
    if (flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0) {
        err = errno == EWOULDBLOCK ? LEDGER_ERR_DATA_DIR_LOCKED : LEDGER_ERR_IO_ERROR;
        if (err == LEDGER_ERR_IO_ERROR) {
            snprintf(engine_open_error, sizeof engine_open_error, "%s cannot be locked: %s",
                     lock_path, strerror(errno));
        }
        close(fd);
        return err;
    }
    *fd_out = fd;
    return LEDGER_ERR_OK;
}

enum ledger_err engine_dir_hold(const char *dir, int *lock_out)
{
    return lock_take(dir, false, lock_out);
}

void engine_dir_release(int lock)
{
    if (lock >= 0) {
        close(lock);
    }
}

/* --- the refusal horizon ------------------------------------------------------------ */

/* Its meta entry: u64 big-endian microseconds since the epoch. */
static const char refused_until_key[] = "refused-until";

static enum ledger_err refused_until_get(struct store_txn *txn, int64_t *out)
{
    struct store_val value;
    enum ledger_err err =
        store_get(txn, STORE_DB_META, refused_until_key, sizeof refused_until_key - 1, &value);
    if (err == LEDGER_ERR_NOT_FOUND) {
        *out = 0;
        return LEDGER_ERR_OK;
    }
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    uint64_t stored = value.size == 8 ? store_key_to_u64(value.data) : UINT64_MAX;
    if (stored > INT64_MAX) {
        return LEDGER_ERR_CORRUPT;
    }
    *out = (int64_t)stored;
    return LEDGER_ERR_OK;
}

static enum ledger_err refused_until_put(struct store_txn *txn, int64_t horizon)
{
    uint8_t value[8];
    store_u64_to_key((uint64_t)horizon, value);
    return store_put(txn, STORE_DB_META, refused_until_key, sizeof refused_until_key - 1, value,
                     sizeof value);
}

/* The latest signed_us of the group's decided refusals that are ahead of
 * now_us, or `horizon` when none is later. */
static int64_t refusal_horizon(const struct engine_request *requests, size_t count, int64_t now_us,
                               int64_t horizon)
{
    for (size_t i = 0; i < count; i++) {
        const struct engine_request *request = &requests[i];
        if (request->err != LEDGER_ERR_OK && !ledger_err_transient(request->err) &&
            request->signed_us > now_us && request->signed_us > horizon) {
            horizon = request->signed_us;
        }
    }
    return horizon;
}

int64_t engine_refused_until(const struct engine *engine)
{
    return engine->refused_until_us;
}

/* Opens the ledger in options->data_dir; `create` (engine_init only) makes
 * its environment when there is none. Without it, a directory that holds no
 * ledger is NOT_FOUND and nothing is created in it. */
static enum ledger_err engine_open_dir(const struct engine_options *options, bool create,
                                       struct engine **out)
{
    engine_open_error[0] = '\0';
    enum ledger_err err = crypto_init();
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    struct engine *engine = calloc(1, sizeof *engine);
    if (!engine) {
        return LEDGER_ERR_NO_MEMORY;
    }
    engine->lock_fd = -1;
    engine->read_only = options->read_only;
    engine->scratch = options->scratch;
    engine->batch_commands_max =
        options->batch_commands_max ? options->batch_commands_max : LEDGER_BATCH_COMMANDS_DEFAULT;
    engine->cache_bytes_max = options->state_cache_bytes_max ? options->state_cache_bytes_max
                                                             : LEDGER_STATE_CACHE_BYTES_MAX;

    struct stat st;
    if (stat(options->data_dir, &st) != 0 || !S_ISDIR(st.st_mode) ||
        (!create && !store_present(options->data_dir))) {
        err = LEDGER_ERR_NOT_FOUND;
        goto fail;
    }
    engine->data_dev = st.st_dev;
    engine->data_ino = st.st_ino;
    if (!options->read_only) {
        err = lock_take(options->data_dir, true, &engine->lock_fd);
        if (err != LEDGER_ERR_OK) {
            goto fail;
        }
    }
    struct store_options store_options = {
        .dir = options->data_dir,
        .map_bytes = options->map_bytes,
        .map_bytes_max = options->map_bytes_max,
        .read_only = options->read_only,
        .no_sync = options->no_sync,
    };
    err = store_open(&store_options, &engine->store);
    if (err != LEDGER_ERR_OK) {
        goto fail;
    }
    err = load_head_key(engine, options->data_dir);
    if (err != LEDGER_ERR_OK) {
        goto fail;
    }
    struct store_txn *txn = NULL;
    err = store_begin(engine->store, false, &txn);
    if (err != LEDGER_ERR_OK) {
        goto fail;
    }
    atomic_store(&engine->head_sequence, store_last_sequence(txn));
    /* A damaged meta entry is CORRUPT: say which, since the store said
     * nothing (the value was read; its contents are wrong). */
    const char *damaged = NULL;
    err = views_layout(txn, &engine->views_layout);
    if (err == LEDGER_ERR_CORRUPT) {
        damaged = "the views' layout (meta entry \"views\") is not an 8-byte number";
    }
    if (err == LEDGER_ERR_OK) {
        err = refused_until_get(txn, &engine->refused_until_us);
        if (err == LEDGER_ERR_CORRUPT) {
            damaged = "the refusal horizon (meta entry \"refused-until\") is not 8 bytes of "
                      "microseconds since the epoch";
        }
    }
    if (damaged != NULL) {
        snprintf(engine_open_error, sizeof engine_open_error,
                 "%s: the data directory is damaged; check it with ledger-verify and restore a "
                 "backup",
                 damaged);
    }
    store_abort(txn);
    if (err != LEDGER_ERR_OK) {
        goto fail;
    }
    if (options->read_only && atomic_load(&engine->head_sequence) == 0) {
        /* An initialized ledger records at least its first operator: an
         * empty environment (a stray data.mdb) is no ledger to read. */
        err = LEDGER_ERR_NOT_FOUND;
        goto fail;
    }
    if (engine->views_layout != VIEWS_LAYOUT_VERSION && atomic_load(&engine->head_sequence) == 0 &&
        !options->read_only) {
        /* A new data directory: its (empty) views have this build's layout. */
        err = store_begin(engine->store, true, &txn);
        if (err == LEDGER_ERR_OK) {
            err = views_layout_set(txn);
            if (err == LEDGER_ERR_OK) {
                err = store_commit(txn);
            } else {
                store_abort(txn);
            }
        }
        if (err != LEDGER_ERR_OK) {
            goto fail;
        }
        engine->views_layout = VIEWS_LAYOUT_VERSION;
    }
    *out = engine;
    return LEDGER_ERR_OK;
fail:
    engine_close(engine);
    return err;
}

enum ledger_err engine_open(const struct engine_options *options, struct engine **out)
{
    return engine_open_dir(options, options->create && !options->read_only, out);
}

bool engine_present(const char *dir)
{
    return store_present(dir);
}

const char *engine_open_detail(void)
{
    return engine_open_error[0] != '\0' ? engine_open_error : store_last_error(NULL);
}

/* Whether access(path, mode) is refused for want of permission (and not
 * because the path is missing). */
static bool access_refused(const char *path, int mode)
{
    return access(path, mode) != 0 && errno == EACCES;
}

/* A file in a data directory and the access a use of it needs. */
struct dir_file_access {
    const char *name;
    int mode;
};

/* engine_dir_access_denied and engine_dir_verify_denied: the directories
 * on the way, `dir` itself, then `files` (those absent are not judged). */
static bool dir_denied(const char *dir, bool write, const struct dir_file_access *files,
                       size_t file_count, char denied_out[PATH_MAX])
{
    char path[PATH_MAX];
    int n = snprintf(path, sizeof path, "%s", dir);
    if (n <= 0 || n >= PATH_MAX) {
        return false;
    }
    /* Each directory on the way must let this user through; the first one
     * that does not is the one to name (those after it only inherit it). A
     * file on the way refuses X_OK too, but no permission would help: the
     * path is wrong, which is not judged here. */
    for (char *slash = strchr(path + 1, '/'); slash != NULL; slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        struct stat on_the_way;
        if (stat(path, &on_the_way) == 0 && !S_ISDIR(on_the_way.st_mode)) {
            return false;
        }
        bool refused = access_refused(path, X_OK);
        if (refused) {
            memcpy(denied_out, path, (size_t)(slash - path) + 1);
            return true;
        }
        *slash = '/';
    }
    struct stat st;
    if (stat(dir, &st) != 0) {
        /* To be created: its parent must take a new entry. */
        char *slash = strrchr(path, '/');
        const char *parent = ".";
        if (slash != NULL) {
            *slash = '\0';
            parent = slash == path ? "/" : path;
        }
        if (errno == ENOENT && write && access_refused(parent, W_OK | X_OK)) {
            snprintf(denied_out, PATH_MAX, "%s", parent);
            return true;
        }
        return false;
    }
    if (!S_ISDIR(st.st_mode)) {
        return false;
    }
    int mode = R_OK | X_OK | (write ? W_OK : 0);
    if (access_refused(dir, mode)) {
        snprintf(denied_out, PATH_MAX, "%s", dir);
        return true;
    }
    for (size_t i = 0; i < file_count; i++) {
        if (engine__path_join(dir, files[i].name, path) == LEDGER_ERR_OK &&
            access_refused(path, files[i].mode)) {
            memcpy(denied_out, path, sizeof path);
            return true;
        }
    }
    return false;
}

bool engine_dir_access_denied(const char *dir, bool write, char denied_out[PATH_MAX])
{
    /* The files a ledger opens in it. */
    int mode = write ? R_OK | W_OK : R_OK;
    const struct dir_file_access files[] = {{"data.mdb", mode},
                                            {"lock.mdb", mode},
                                            {ENGINE_HEAD_KEY_FILE, mode},
                                            {ENGINE_LOCK_FILE, mode}};
    return dir_denied(dir, write, files, sizeof files / sizeof files[0], denied_out);
}

bool engine_dir_verify_denied(const char *dir, char denied_out[PATH_MAX])
{
    /* The records, and the lock file LMDB writes its reader slot into even
     * to read (when there is one: a directory without is read without a
     * lock). Never the head-signing key, which a verifier does not need. */
    const struct dir_file_access files[] = {{"data.mdb", R_OK}, {"lock.mdb", R_OK | W_OK}};
    return dir_denied(dir, false, files, sizeof files / sizeof files[0], denied_out);
}

_Static_assert(ENGINE_VIEWS_LAYOUT == VIEWS_LAYOUT_VERSION, "one layout version");
_Static_assert(ENGINE_VIEWS_LAYOUT_REBUILDING == VIEWS_LAYOUT_REBUILDING, "one rebuilding mark");

void engine_state_cache(const struct engine *engine, struct engine_cache_usage *out)
{
    out->states = 0;
    for (size_t i = 0; i < engine->cache.capacity; i++) {
        out->states += engine->cache.entries[i].used && engine->cache.entries[i].state != NULL;
    }
    out->bytes = engine->cache_bytes;
    out->bytes_max = engine->cache_bytes_max;
    out->clears = engine->cache_clears;
}

bool engine_unusable(const struct engine *engine)
{
    return store_unusable(engine->store);
}

bool engine_views_current(const struct engine *engine, uint64_t *layout_out)
{
    if (layout_out != NULL) {
        *layout_out = engine->views_layout;
    }
    return engine->views_layout == VIEWS_LAYOUT_VERSION;
}

void engine_close(struct engine *engine)
{
    if (!engine) {
        return;
    }
    engine__state_map_clear(&engine->cache);
    codec_arena_free(&engine->command_arena);
    if (engine->store) {
        store_close(engine->store);
    }
    if (engine->lock_fd >= 0) {
        close(engine->lock_fd); /* releases the flock */
    }
    crypto_wipe(engine->head_secret_key, sizeof engine->head_secret_key);
    free(engine);
}

/* --- principals ----------------------------------------------------------------- */

enum ledger_err engine__principal_row_get(struct store_txn *txn, const char *principal_id,
                                          Ledger__V1__PrincipalRow **out)
{
    struct store_val value;
    enum ledger_err err =
        store_get(txn, STORE_DB_PRINCIPAL, principal_id, strlen(principal_id), &value);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    Ledger__V1__PrincipalRow *row = ledger__v1__principal_row__unpack(NULL, value.size, value.data);
    if (!row) {
        return LEDGER_ERR_CORRUPT;
    }
    *out = row;
    return LEDGER_ERR_OK;
}

/* Whether `principal` may still act in this transaction. Authentication
 * read the committed state when the request arrived; a revocation committed
 * since, or decided earlier in the same group, is seen here, and so is a
 * rotation of the secret (the row's secret_rotated_sequence moved since
 * the lookup): a request signed with the secret it replaced is refused
 * BAD_SIGNATURE, as it would be had it arrived after. The ledger's own
 * principals (init's bootstrap, the scheduler) have no row: they pass, and so
 * does the scheduler when a row of its name was stored before the prefix was
 * reserved (no request can authenticate as it: engine_principal_lookup). */
static enum ledger_err principal_still_active(struct store_txn *txn,
                                              const struct engine_principal *principal,
                                              char message[ENGINE_MESSAGE_SIZE])
{
    if (domain_principal_id_reserved(principal->id)) {
        return LEDGER_ERR_OK;
    }
    Ledger__V1__PrincipalRow *row = NULL;
    enum ledger_err err = engine__principal_row_get(txn, principal->id, &row);
    if (err == LEDGER_ERR_NOT_FOUND) {
        return LEDGER_ERR_OK;
    }
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    bool revoked = row->revoked;
    uint64_t rotated_sequence = row->secret_rotated_sequence;
    ledger__v1__principal_row__free_unpacked(row, NULL);
    if (revoked) {
        snprintf(message, ENGINE_MESSAGE_SIZE,
                 "principal %s was revoked before this request was decided; ask an operator "
                 "for a new one",
                 principal->id);
        return LEDGER_ERR_PRINCIPAL_REVOKED;
    }
    if (rotated_sequence != principal->secret_rotated_sequence) {
        snprintf(message, ENGINE_MESSAGE_SIZE,
                 "the secret of principal %s was rotated before this request was decided; sign "
                 "it again with the new secret",
                 principal->id);
        return LEDGER_ERR_BAD_SIGNATURE;
    }
    return LEDGER_ERR_OK;
}

void engine__copy_id(char out[LEDGER_ID_LENGTH_MAX + 1], const char *in)
{
    size_t n = strnlen(in, LEDGER_ID_LENGTH_MAX);
    memcpy(out, in, n);
    out[n] = '\0';
}

enum ledger_err engine_principal_lookup(struct engine *engine, const char *principal_id,
                                        struct engine_principal *out)
{
    /* Ids of the reserved prefix name the ledger's own principals, which
     * never sign a request. A row with such an id could only have been added
     * before the prefix was reserved; it authenticates nothing. */
    if (!codec_id_valid(principal_id) || domain_principal_id_reserved(principal_id)) {
        return LEDGER_ERR_UNKNOWN_PRINCIPAL;
    }
    struct store_txn *txn = NULL;
    enum ledger_err err = store_begin(engine->store, false, &txn);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    Ledger__V1__PrincipalRow *row = NULL;
    err = engine__principal_row_get(txn, principal_id, &row);
    if (err == LEDGER_ERR_NOT_FOUND) {
        err = LEDGER_ERR_UNKNOWN_PRINCIPAL;
    }
    if (err != LEDGER_ERR_OK) {
        goto done;
    }
    struct store_val secret;
    err = store_get(txn, STORE_DB_SECRET, principal_id, strlen(principal_id), &secret);
    if (err == LEDGER_ERR_NOT_FOUND ||
        (err == LEDGER_ERR_OK && secret.size != LEDGER_SECRET_BYTES)) {
        /* A principal row without its secret cannot authenticate anything. */
        err = LEDGER_ERR_UNKNOWN_PRINCIPAL;
    }
    if (err != LEDGER_ERR_OK) {
        goto done;
    }
    struct engine_principal p = {0};
    engine__copy_id(p.id, row->principal_id);
    p.role = row->role;
    engine__copy_id(p.partner_id, row->partner_id);
    engine__copy_id(p.customer_id, row->customer_id);
    engine__copy_id(p.user, row->user);
    p.revoked = row->revoked;
    p.secret_rotated_sequence = row->secret_rotated_sequence;
    memcpy(p.secret, secret.data, LEDGER_SECRET_BYTES);
    *out = p;
    crypto_wipe(&p, sizeof p);
done:
    if (row) {
        ledger__v1__principal_row__free_unpacked(row, NULL);
    }
    store_abort(txn);
    return err;
}

/* --- deciding and appending -------------------------------------------------------- */

/* Errors that are the storage's, not the request's: they fail the whole group. */
static bool group_error(enum ledger_err err)
{
    return ledger_err_transient(err);
}

/* The answer a command's event implies. The same function serves live commits
 * and rebuilds, so the command-id index is a pure function of the log. */
static void result_from_event(const Ledger__V1__Event *event, struct engine_result *out)
{
    memset(out, 0, sizeof *out);
    Ledger__V1__CommandResult init = LEDGER__V1__COMMAND_RESULT__INIT;
    out->message = init;
    out->message.first_sequence = event->sequence;
    out->message.last_sequence = event->sequence;
    out->message.stream_version = event->stream_version;
    const Ledger__V1__ReservationPurchased *reservation = NULL;
    switch (event->body_case) {
    case LEDGER__V1__EVENT__BODY_RESERVATION_PURCHASED:
        reservation = event->reservation_purchased;
        break;
    case LEDGER__V1__EVENT__BODY_RESERVATION_EXCHANGED:
        /* The first replacement's ids; the others follow from them
         * (docs/protocol.md, "Commands"). */
        if (event->reservation_exchanged->n_replacements > 0) {
            reservation = event->reservation_exchanged->replacements[0];
        }
        break;
    case LEDGER__V1__EVENT__BODY_RESERVATION_RENEWED:
        reservation = event->reservation_renewed->renewal;
        break;
    case LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_PURCHASED:
        engine__copy_id(out->savings_plan_id, event->savings_plan_purchased->savings_plan_id);
        break;
    case LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_RENEWED:
        if (event->savings_plan_renewed->renewal != NULL) {
            engine__copy_id(out->savings_plan_id,
                            event->savings_plan_renewed->renewal->savings_plan_id);
        }
        break;
    default:
        break;
    }
    if (reservation) {
        engine__copy_id(out->order_id, reservation->order_id);
        engine__copy_id(out->reservation_id, reservation->reservation_id);
    }
    out->message.order_id = out->order_id;
    out->message.reservation_id = out->reservation_id;
    out->message.savings_plan_id = out->savings_plan_id;
    out->message.secret_hex = out->secret_hex;
}

static enum ledger_err result_from_bytes(const uint8_t *bytes, size_t size,
                                         struct engine_result *out)
{
    Ledger__V1__CommandResult *stored = ledger__v1__command_result__unpack(NULL, size, bytes);
    if (!stored) {
        return LEDGER_ERR_CORRUPT;
    }
    memset(out, 0, sizeof *out);
    out->message = *stored;
    engine__copy_id(out->order_id, stored->order_id);
    engine__copy_id(out->reservation_id, stored->reservation_id);
    engine__copy_id(out->savings_plan_id, stored->savings_plan_id);
    out->message.order_id = out->order_id;
    out->message.reservation_id = out->reservation_id;
    out->message.savings_plan_id = out->savings_plan_id;
    out->message.secret_hex = out->secret_hex;
    out->message.base.unknown_fields = NULL;
    out->message.base.n_unknown_fields = 0;
    ledger__v1__command_result__free_unpacked(stored, NULL);
    return LEDGER_ERR_OK;
}

/* Records the command's result in the command-id index (never the secret). */
enum ledger_err engine__result_pack(const Ledger__V1__Event *event, struct codec_packed *out)
{
    struct engine_result result;
    result_from_event(event, &result);
    result.message.secret_hex = (char *)protobuf_c_empty_string;
    return codec_pack_scratch(&result.message.base, NULL, 0, out);
}

enum ledger_err engine__result_put(struct store_txn *txn, const char *principal_id,
                                   const Ledger__V1__Event *event, const uint8_t *packed,
                                   size_t packed_size)
{
    return store_command_put(txn, principal_id, event->command_id, event->command_hash.data, packed,
                             packed_size);
}

enum ledger_err engine__result_store(struct store_txn *txn, const char *principal_id,
                                     const Ledger__V1__Event *event)
{
    struct codec_packed packed;
    enum ledger_err err = engine__result_pack(event, &packed);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    err = engine__result_put(txn, principal_id, event, packed.data, packed.size);
    codec_packed_free(&packed);
    return err;
}

enum ledger_err engine__state_load(struct store_txn *txn, const char *partner_id,
                                   const char *customer_id, struct domain_customer **out)
{
    return views_customer_state(txn, partner_id, customer_id, NULL, out);
}

struct group {
    struct engine *engine;
    struct store_txn *txn;
    struct state_map overlay; /* states changed by committed requests of this group */
};

struct batch {
    struct group *group;
    struct store_txn *txn; /* nested */
};

/* A state for the group's overlay (ownership passed to it): taken from the
 * cache, which keeps an empty entry (a miss) until the group commits and
 * puts it back; else loaded from the log as the group's transaction sees it.
 * Borrowed from the group. */
static enum ledger_err group_state(struct batch *batch, const char *key, size_t key_size,
                                   const char *partner_id, const char *customer_id,
                                   struct domain_customer **out)
{
    struct domain_customer *state = NULL;
    struct state_entry *cached =
        engine__state_map_find(&batch->group->engine->cache, key, key_size);
    enum ledger_err err = LEDGER_ERR_OK;
    if (cached != NULL && cached->state != NULL) {
        state = cached->state;
        cached->state = NULL;
        batch->group->engine->cache_bytes -= domain_customer_bytes(state);
    } else {
        err = engine__state_load(batch->txn, partner_id, customer_id, &state);
    }
    if (err == LEDGER_ERR_OK) {
        err = engine__state_map_put(&batch->group->overlay, key, key_size, state);
        if (err != LEDGER_ERR_OK) {
            domain_customer_free(state);
        }
    }
    if (err == LEDGER_ERR_OK) {
        *out = state;
    }
    return err;
}

/* After a batch of several commands was refused part way, the changes its
 * earlier commands made to the group's states are gone from the log (the
 * nested transaction aborted): every state of the group is dropped, and the
 * next command to need one loads it again from the group's transaction.
 * Rare, so simpler than tracking which states the batch changed. */
static void group_evict(struct group *group)
{
    for (size_t i = 0; i < group->overlay.capacity; i++) {
        struct state_entry *e = &group->overlay.entries[i];
        if (e->used) {
            domain_customer_free(e->state);
            e->state = NULL;
        }
    }
}

/* The state a command of this batch sees: the group's, changed in place.
 * No copy is made: a command the domain refuses changes no state; a batch
 * refused after some of its commands changed states evicts the group's
 * states (group_evict); and every failure after a state evolved that is not a
 * refusal fails the whole group (group_error), which drops all of its
 * states. Borrowed from the group. */
static enum ledger_err batch_state(struct batch *batch, const char *partner_id,
                                   const char *customer_id, struct domain_customer **out)
{
    char key[2 * DOMAIN_ID_SIZE];
    size_t key_size = engine__state_key(partner_id, customer_id, key);
    struct state_entry *own = engine__state_map_find(&batch->group->overlay, key, key_size);
    if (own != NULL && own->state != NULL) {
        *out = own->state;
        return LEDGER_ERR_OK;
    }
    return group_state(batch, key, key_size, partner_id, customer_id, out);
}

void engine__set_message(char message[ENGINE_MESSAGE_SIZE], const char *text)
{
    snprintf(message, ENGINE_MESSAGE_SIZE, "%s", text);
}

/* Makes a fresh secret for a principal, added or rotated: it replaces any
 * secret row of the principal in the same transaction as the event, so the
 * old secret stops authenticating exactly when the event commits, and goes
 * into the result's secret_hex, which the first answer carries and nothing
 * keeps (the command-id index stores the result without it). */
static enum ledger_err secret_new(struct store_txn *txn, const char *principal_id,
                                  struct engine_result *result)
{
    uint8_t secret[LEDGER_SECRET_BYTES];
    crypto_random(secret, sizeof secret);
    enum ledger_err err =
        store_put(txn, STORE_DB_SECRET, principal_id, strlen(principal_id), secret, sizeof secret);
    if (err == LEDGER_ERR_OK) {
        crypto_hex(secret, sizeof secret, result->secret_hex);
    }
    crypto_wipe(secret, sizeof secret);
    return err;
}

/* The cloud order ids a command names, non-empty ones only, into out (room
 * for LEDGER_EXCHANGE_REPLACEMENTS_MAX): one for a purchase or renewal, one
 * per replacement of an exchange (at most that many are looked at; the
 * decision refuses more). Returns how many. */
static size_t command_cloud_order_ids(const Ledger__V1__Command *command, const char **out)
{
    const char *one = NULL;
    size_t count = 0;
    switch (command->body_case) {
    case LEDGER__V1__COMMAND__BODY_PURCHASE_RESERVATION:
        one = command->purchase_reservation != NULL ? command->purchase_reservation->cloud_order_id
                                                    : NULL;
        break;
    case LEDGER__V1__COMMAND__BODY_PURCHASE_SAVINGS_PLAN:
        one = command->purchase_savings_plan != NULL
                  ? command->purchase_savings_plan->cloud_order_id
                  : NULL;
        break;
    case LEDGER__V1__COMMAND__BODY_RENEW_RESERVATION:
        one =
            command->renew_reservation != NULL ? command->renew_reservation->cloud_order_id : NULL;
        break;
    case LEDGER__V1__COMMAND__BODY_RENEW_SAVINGS_PLAN:
        one = command->renew_savings_plan != NULL ? command->renew_savings_plan->cloud_order_id
                                                  : NULL;
        break;
    case LEDGER__V1__COMMAND__BODY_EXCHANGE_RESERVATION: {
        const Ledger__V1__ExchangeReservation *x = command->exchange_reservation;
        for (size_t i = 0;
             x != NULL && i < x->n_replacements && count < LEDGER_EXCHANGE_REPLACEMENTS_MAX; i++) {
            const char *id = x->replacements[i] != NULL ? x->replacements[i]->cloud_order_id : NULL;
            if (id != NULL && id[0] != '\0') {
                out[count++] = id;
            }
        }
        return count;
    }
    default:
        break;
    }
    if (one != NULL && one[0] != '\0') {
        out[count++] = one;
    }
    return count;
}

/* Decides and appends one command of a batch. Request-level refusals return
 * their code with `message` set; group-level failures (group_error) too. */
static enum ledger_err execute_command(struct batch *batch,
                                       const struct engine_principal *principal,
                                       const ProtobufCBinaryData *bytes, int64_t now_us,
                                       struct engine_result *result,
                                       char message[ENGINE_MESSAGE_SIZE])
{
    struct store_txn *txn = batch->txn;
    struct codec_arena *arena = &batch->group->engine->command_arena;
    Ledger__V1__Command *command = NULL;
    enum ledger_err err = codec_command_unpack_arena(arena, bytes->data, bytes->len, &command);
    if (err != LEDGER_ERR_OK) {
        codec_arena_reset(arena);
        engine__set_message(message, "the command does not decode as ledger.v1.Command");
        return err;
    }
    if (!codec_id_valid(command->command_id)) {
        engine__set_message(message, "command_id must be 1..64 characters of [A-Za-z0-9.:@-]");
        err = LEDGER_ERR_INVALID_ARGUMENT;
        goto done;
    }
    uint8_t hash[CRYPTO_HASH_BYTES];
    crypto_sha256(bytes->data, bytes->len, hash);

    /* 1. The command-id index: retries answer the original result. */
    uint8_t stored_hash[STORE_HASH_BYTES];
    struct store_val stored_result;
    err = store_command_get(txn, principal->id, command->command_id, stored_hash, &stored_result);
    if (err == LEDGER_ERR_OK) {
        if (!crypto_equal(stored_hash, hash, sizeof hash)) {
            snprintf(message, ENGINE_MESSAGE_SIZE,
                     "command id '%s' was already used for a different command; use a new id",
                     command->command_id);
            err = LEDGER_ERR_COMMAND_ID_REUSED;
            goto done;
        }
        err = result_from_bytes(stored_result.data, stored_result.size, result);
        result->message.duplicate = true;
        goto done;
    }
    if (err != LEDGER_ERR_NOT_FOUND) {
        goto done;
    }

    /* 2. The partner and the customer's state. */
    struct domain_principal actor = {
        .id = principal->id,
        .role = principal->role,
        .partner_id = principal->partner_id,
        .customer_id = principal->customer_id,
        .user = principal->user,
    };
    const char *partner_id = domain_command_partner_id(&actor, command);
    const char *customer_id = domain_command_customer_id(&actor, command);
    bool partner_exists = false;
    if (codec_id_valid(partner_id)) {
        err = views_partner_exists(txn, partner_id, &partner_exists);
        if (err != LEDGER_ERR_OK) {
            goto done;
        }
    }
    /* A customer command without valid ids has no state to load: the
     * decision refuses it (INVALID_ARGUMENT), after the role table, so that a
     * role that may not send the command is told FORBIDDEN whatever it sent. */
    struct domain_customer *state = NULL;
    if (domain_command_is_customer(command->body_case) && codec_id_valid(partner_id) &&
        codec_id_valid(customer_id)) {
        err = batch_state(batch, partner_id, customer_id, &state);
        if (err != LEDGER_ERR_OK) {
            goto done;
        }
    }
    bool principal_exists = false, principal_revoked = false;
    char principal_partner_id[DOMAIN_ID_SIZE] = "";
    const char *target_principal = domain_command_target_principal(command);
    bool principal_customer_onboarded = false;
    if (command->body_case == LEDGER__V1__COMMAND__BODY_ADD_PRINCIPAL &&
        command->add_principal->role == LEDGER__V1__ROLE__ROLE_CUSTOMER_USER &&
        codec_id_valid(partner_id) && codec_id_valid(command->add_principal->customer_id)) {
        struct domain_customer *named = NULL;
        err = batch_state(batch, partner_id, command->add_principal->customer_id, &named);
        if (err != LEDGER_ERR_OK) {
            goto done;
        }
        principal_customer_onboarded = named->onboarded;
    }
    /* A subscription id is checked across the partner's customers, through
     * the views' index of bought subscriptions, read in the group's
     * transaction so that an earlier command of the same group counts. */
    struct views_id_holder holder = {0};
    if (command->body_case == LEDGER__V1__COMMAND__BODY_PURCHASE_SUBSCRIPTION &&
        command->purchase_subscription != NULL &&
        codec_id_valid(command->purchase_subscription->subscription_id) &&
        codec_id_valid(partner_id) && codec_id_valid(customer_id)) {
        err = views_subscription_holder(txn, command->purchase_subscription->subscription_id,
                                        partner_id, customer_id, &holder);
        if (err != LEDGER_ERR_OK) {
            goto done;
        }
    }
    /* A cloud order id is checked across the partner's customers too,
     * through the views' index of the ids purchases named. */
    struct views_id_holder cloud_holder = {0};
    const char *cloud_held = NULL;
    if (codec_id_valid(partner_id)) {
        const char *cloud_ids[LEDGER_EXCHANGE_REPLACEMENTS_MAX];
        size_t cloud_count = command_cloud_order_ids(command, cloud_ids);
        for (size_t i = 0; i < cloud_count && !cloud_holder.found; i++) {
            if (!codec_id_valid(cloud_ids[i])) {
                continue; /* the decision refuses it */
            }
            err = views_cloud_order_holder(txn, cloud_ids[i], partner_id, &cloud_holder);
            if (err != LEDGER_ERR_OK) {
                goto done;
            }
            cloud_held = cloud_ids[i];
        }
    }
    if (target_principal && codec_id_valid(target_principal)) {
        Ledger__V1__PrincipalRow *row = NULL;
        err = engine__principal_row_get(txn, target_principal, &row);
        if (err == LEDGER_ERR_OK) {
            principal_exists = true;
            principal_revoked = row->revoked;
            snprintf(principal_partner_id, sizeof principal_partner_id, "%s",
                     row->partner_id != NULL ? row->partner_id : "");
            ledger__v1__principal_row__free_unpacked(row, NULL);
        } else if (err != LEDGER_ERR_NOT_FOUND) {
            goto done;
        }
    }

    /* 3. Decide. */
    struct domain_input input = {
        .principal = &actor,
        .command = command,
        .partner_id = partner_id,
        .partner_exists = partner_exists,
        .customer = state,
        .principal_exists = principal_exists,
        .principal_revoked = principal_revoked,
        .principal_partner_id = principal_partner_id,
        .principal_customer_onboarded = principal_customer_onboarded,
        .subscription_holder_customer_id = holder.found ? holder.customer_id : NULL,
        .subscription_holder_sequence = holder.sequence,
        .cloud_order_held_id = cloud_holder.found ? cloud_held : NULL,
        .cloud_order_holder_customer_id = cloud_holder.found ? cloud_holder.customer_id : NULL,
        .cloud_order_holder_sequence = cloud_holder.sequence,
        .now_us = now_us,
        .sequence = store_last_sequence(txn) + 1,
        .command_hash = hash,
    };
    /* Not zeroed here: domain_decide clears it first, and it is some 16 KiB. */
    struct domain_output *decision = malloc(sizeof *decision);
    if (!decision) {
        err = LEDGER_ERR_NO_MEMORY;
        goto done;
    }
    err = domain_decide(&input, decision);
    if (err != LEDGER_ERR_OK) {
        engine__set_message(message,
                            decision->message[0] ? decision->message : ledger_strerror(err));
        free(decision);
        goto done;
    }
    /* The expected version, only for a command the decision accepts: one the
     * role table or the principal's scope refuses must not learn the
     * customer's version, nor that it exists (docs/security.md). */
    if (state != NULL && command->check_version && command->expected_version != state->version) {
        snprintf(message, ENGINE_MESSAGE_SIZE,
                 "customer '%s' is at version %llu, the command expected %llu; re-read and retry",
                 customer_id, (unsigned long long)state->version,
                 (unsigned long long)command->expected_version);
        err = LEDGER_ERR_VERSION_CONFLICT;
        free(decision);
        goto done;
    }

    /* 4. Append, tree, stream, state, views, command index. */
    const Ledger__V1__Event *event = &decision->event;
    uint8_t *record = NULL;
    size_t record_size = 0;
    err = codec_pack(&event->base, &record, &record_size);
    uint64_t sequence = 0;
    uint8_t leaf[STORE_HASH_BYTES];
    if (err == LEDGER_ERR_OK) {
        err = store_append(txn, record, record_size, &sequence, leaf);
    }
    free(record);
    if (err == LEDGER_ERR_OK && sequence != event->sequence) {
        err = LEDGER_ERR_INTERNAL;
    }
    if (err == LEDGER_ERR_OK) {
        err = merkle_append(txn, sequence, leaf);
    }
    if (err == LEDGER_ERR_OK && state) {
        uint64_t version = 0;
        err = store_stream_add(txn, state->partner_id, state->customer_id, sequence, &version);
        if (err == LEDGER_ERR_OK && version != event->stream_version) {
            err = LEDGER_ERR_INTERNAL;
        }
        if (err == LEDGER_ERR_OK) {
            err = domain_customer_evolve(state, event);
        }
    }
    if (err == LEDGER_ERR_OK) {
        err = views_apply(txn, event);
    }
    if (err == LEDGER_ERR_OK) {
        err = engine__result_store(txn, principal->id, event);
    }
    if (err == LEDGER_ERR_OK) {
        result_from_event(event, result);
        if (event->body_case == LEDGER__V1__EVENT__BODY_PRINCIPAL_ADDED) {
            err = secret_new(txn, event->principal_added->principal_id, result);
        } else if (event->body_case == LEDGER__V1__EVENT__BODY_PRINCIPAL_SECRET_ROTATED) {
            err = secret_new(txn, event->principal_secret_rotated->principal_id, result);
        }
    }
    if (err != LEDGER_ERR_OK && !group_error(err)) {
        /* A failure after the decision is the ledger's fault, not the caller's. */
        err = LEDGER_ERR_INTERNAL;
    }
    if (err != LEDGER_ERR_OK) {
        engine__set_message(message, ledger_strerror(err));
    }
    free(decision);
done:
    codec_arena_reset(arena);
    return err;
}

/* Runs one request's batch, in a nested transaction when it holds several
 * commands. Returns a group-level error, or OK (the request's own outcome is
 * in request->err). */
static enum ledger_err execute_request(struct group *group, struct engine_request *request,
                                       int64_t now_us)
{
    request->err = LEDGER_ERR_OK;
    request->failed_index = 0;
    request->message[0] = '\0';
    if (request->command_count == 0) {
        request->err = LEDGER_ERR_INVALID_ARGUMENT;
        engine__set_message(request->message, "the batch holds no command");
        return LEDGER_ERR_OK;
    }
    if (request->command_count > group->engine->batch_commands_max) {
        request->err = LEDGER_ERR_BATCH_TOO_LARGE;
        snprintf(request->message, ENGINE_MESSAGE_SIZE,
                 "the batch holds %zu commands; at most %u are allowed in one batch",
                 request->command_count, (unsigned)group->engine->batch_commands_max);
        return LEDGER_ERR_OK;
    }
    enum ledger_err active =
        principal_still_active(group->txn, request->principal, request->message);
    if (active != LEDGER_ERR_OK) {
        request->err = active;
        return group_error(active) ? active : LEDGER_ERR_OK;
    }
    request->results = calloc(request->command_count, sizeof *request->results);
    if (!request->results) {
        return LEDGER_ERR_NO_MEMORY;
    }
    /* A batch of several commands runs in a nested transaction, so that one
     * refused part way takes back what the commands before it wrote. A lone
     * command needs none: everything it does before its decision is a read,
     * a refusal writes nothing, and every failure after its first write is
     * a group error (group_error), which aborts the group's transaction
     * anyway. LMDB's nested transaction is not free: it allocates its own
     * dirty-page and free-page lists and copies every page of the group's
     * it writes again (docs/performance.md, "less work per command"). */
    bool nested = request->command_count > 1;
    struct batch batch = {.group = group, .txn = group->txn};
    enum ledger_err err = nested ? store_begin_nested(group->txn, &batch.txn) : LEDGER_ERR_OK;
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    for (size_t i = 0; i < request->command_count; i++) {
        err = execute_command(&batch, request->principal, &request->commands[i], now_us,
                              &request->results[i], request->message);
        if (err != LEDGER_ERR_OK) {
            request->err = err;
            request->failed_index = (uint32_t)i;
            break;
        }
    }
    if (request->err != LEDGER_ERR_OK) {
        if (nested) {
            store_abort(batch.txn);
            group_evict(group);
        }
        /* A refused request's partial results (and secrets) are never answered. */
        crypto_wipe(request->results, request->command_count * sizeof *request->results);
        free(request->results);
        request->results = NULL;
        return group_error(request->err) ? request->err : LEDGER_ERR_OK;
    }
    err = nested ? store_commit(batch.txn) : LEDGER_ERR_OK;
    if (err != LEDGER_ERR_OK) {
        group_evict(group);
    }
    return err;
}

void engine_request_clear(struct engine_request *request)
{
    if (request->results) {
        crypto_wipe(request->results, request->command_count * sizeof *request->results);
        free(request->results);
        request->results = NULL;
    }
}

enum ledger_err engine_execute(struct engine *engine, struct engine_request *requests, size_t count,
                               int64_t now_us)
{
    if (engine->read_only) {
        return LEDGER_ERR_INTERNAL;
    }
    enum ledger_err err = LEDGER_ERR_OK;
    for (unsigned attempt = 0; attempt <= LEDGER_MAP_GROW_RETRIES_MAX; attempt++) {
        struct group group = {.engine = engine};
        err = store_begin(engine->store, true, &group.txn);
        if (err != LEDGER_ERR_OK) {
            break;
        }
        for (size_t i = 0; i < count && err == LEDGER_ERR_OK; i++) {
            err = execute_request(&group, &requests[i], now_us);
        }
        int64_t horizon = refusal_horizon(requests, count, now_us, engine->refused_until_us);
        if (err == LEDGER_ERR_OK && horizon != engine->refused_until_us) {
            err = refused_until_put(group.txn, horizon);
        }
        /* Read only of a transaction that is still sound: after a group
         * error (a put that filled the map, say) LMDB refuses every call on
         * it but the abort. */
        uint64_t last = err == LEDGER_ERR_OK ? store_last_sequence(group.txn) : 0;
        if (err == LEDGER_ERR_OK) {
            err = store_commit(group.txn);
        } else {
            store_abort(group.txn);
        }
        if (err == LEDGER_ERR_OK) {
            engine->cache_bytes += state_map_bytes(&group.overlay);
            err = state_map_merge(&engine->cache, &group.overlay);
            if (engine->cache.count > LEDGER_STATE_CACHE_MAX ||
                engine->cache_bytes > engine->cache_bytes_max || err != LEDGER_ERR_OK) {
                /* Bounded memory: start again cold; states reload from the log. */
                engine__state_map_clear(&engine->cache);
                engine->cache_bytes = 0;
                engine->cache_clears++;
            }
            engine__head_observe(engine, last);
            engine->refused_until_us = horizon;
            return LEDGER_ERR_OK;
        }
        engine__state_map_clear(&group.overlay);
        for (size_t i = 0; i < count; i++) {
            engine_request_clear(&requests[i]);
        }
        if (err != LEDGER_ERR_STORAGE_FULL) {
            break;
        }
        enum ledger_err grown = store_grow(engine->store);
        if (grown != LEDGER_ERR_OK) {
            err = grown;
            break;
        }
    }
    /* The whole group failed: nothing was written; every request says why. */
    for (size_t i = 0; i < count; i++) {
        engine_request_clear(&requests[i]);
        requests[i].err = err;
        requests[i].failed_index = 0;
        engine__set_message(requests[i].message, ledger_strerror(err));
    }
    return err;
}

/* --- initialization ------------------------------------------------------------- */

enum ledger_err engine_operator_id_check(const char *operator_id, char message[ENGINE_MESSAGE_SIZE])
{
    message[0] = '\0';
    if (!codec_id_valid(operator_id)) {
        snprintf(message, ENGINE_MESSAGE_SIZE,
                 "an operator id must be 1..%d characters of [A-Za-z0-9.:@-]",
                 LEDGER_ID_LENGTH_MAX);
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    if (domain_principal_id_reserved(operator_id)) {
        snprintf(message, ENGINE_MESSAGE_SIZE,
                 "ids beginning with \"%s\" (and \"%s\") are reserved for the ledger's own "
                 "principals",
                 DOMAIN_RESERVED_ID_PREFIX, DOMAIN_INIT_PRINCIPAL_ID);
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    return LEDGER_ERR_OK;
}

/* The files engine_init may create in a data directory, besides the
 * operator's key file: removed again when it fails part way. */
static const char *const init_files[] = {ENGINE_HEAD_KEY_FILE, "data.mdb", "lock.mdb",
                                         ENGINE_LOCK_FILE};
#define INIT_FILE_COUNT (sizeof init_files / sizeof init_files[0])

enum ledger_err engine_add_first_operator(struct engine *engine, const char *operator_id,
                                          int64_t now_us,
                                          char secret_hex_out[2 * LEDGER_SECRET_BYTES + 1],
                                          char message_out[ENGINE_MESSAGE_SIZE])
{
    message_out[0] = '\0';
    struct engine_principal bootstrap = {.role = LEDGER__V1__ROLE__ROLE_OPERATOR};
    engine__copy_id(bootstrap.id, DOMAIN_INIT_PRINCIPAL_ID);
    Ledger__V1__AddPrincipal add = LEDGER__V1__ADD_PRINCIPAL__INIT;
    add.principal_id = (char *)operator_id;
    add.role = LEDGER__V1__ROLE__ROLE_OPERATOR;
    Ledger__V1__Command command = LEDGER__V1__COMMAND__INIT;
    command.command_id = "init-operator";
    command.body_case = LEDGER__V1__COMMAND__BODY_ADD_PRINCIPAL;
    command.add_principal = &add;
    uint8_t *bytes = NULL;
    size_t size = 0;
    enum ledger_err err = codec_pack(&command.base, &bytes, &size);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    ProtobufCBinaryData data = {.len = size, .data = bytes};
    struct engine_request request = {
        .principal = &bootstrap, .commands = &data, .command_count = 1};
    err = engine_execute(engine, &request, 1, now_us);
    if (err == LEDGER_ERR_OK && request.err != LEDGER_ERR_OK) {
        err = request.err;
        snprintf(message_out, ENGINE_MESSAGE_SIZE, "%s", request.message);
    }
    if (err == LEDGER_ERR_OK) {
        snprintf(secret_hex_out, 2 * LEDGER_SECRET_BYTES + 1, "%s", request.results[0].secret_hex);
    }
    engine_request_clear(&request);
    free(bytes);
    return err;
}

/* Adds the first operator at the current time and writes its secret to
 * secret_path. */
static enum ledger_err init_operator(struct engine *engine, const char *operator_id,
                                     const char *secret_path)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t now_us = (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
    char secret_hex[2 * LEDGER_SECRET_BYTES + 1];
    char message[ENGINE_MESSAGE_SIZE];
    enum ledger_err err =
        engine_add_first_operator(engine, operator_id, now_us, secret_hex, message);
    if (err == LEDGER_ERR_OK) {
        char line[2 * LEDGER_SECRET_BYTES + 2];
        snprintf(line, sizeof line, "%s\n", secret_hex);
        err = write_secret_file(secret_path, line);
        crypto_wipe(line, sizeof line);
        crypto_wipe(secret_hex, sizeof secret_hex);
    }
    return err;
}

/* engine_init's work, once the directory exists (`dir_created`: made by
 * that call) and is locked against other initializations. */
static enum ledger_err init_locked(const struct engine_options *options, const char *operator_id,
                                   const char *secret_path, bool dir_created)
{
    enum ledger_err err = LEDGER_ERR_OK;
    char paths[INIT_FILE_COUNT][PATH_MAX] = {{0}};
    bool existed[INIT_FILE_COUNT] = {0};
    for (size_t i = 0; i < INIT_FILE_COUNT; i++) {
        err = engine__path_join(options->data_dir, init_files[i], paths[i]);
        if (err != LEDGER_ERR_OK) {
            goto undo;
        }
        existed[i] = access(paths[i], F_OK) == 0;
    }
    const char *key_path = paths[0];
    if (existed[0] || store_present(options->data_dir)) {
        /* Already initialized, or a ledger without its head key (a backup):
         * a new key would sign its history as another ledger's. */
        return LEDGER_ERR_PRINCIPAL_EXISTS;
    }
    uint8_t public_key[CRYPTO_SIGN_PUBLIC_BYTES], secret_key[CRYPTO_SIGN_SECRET_BYTES];
    crypto_ed25519_keypair(public_key, secret_key);
    char hex[2 * CRYPTO_SIGN_SECRET_BYTES + 2];
    crypto_hex(secret_key, sizeof secret_key, hex);
    strcat(hex, "\n");
    err = write_secret_file(key_path, hex);
    crypto_wipe(hex, sizeof hex);
    crypto_wipe(secret_key, sizeof secret_key);
    if (err != LEDGER_ERR_OK) {
        goto undo;
    }
    struct engine *engine = NULL;
    struct engine_options open_options = *options;
    open_options.read_only = false;
    err = engine_open_dir(&open_options, true, &engine);
    if (err != LEDGER_ERR_OK) {
        goto undo;
    }
    err = init_operator(engine, operator_id, secret_path);
    engine_close(engine);
    if (err == LEDGER_ERR_OK) {
        return LEDGER_ERR_OK;
    }
undo:
    /* All or nothing: a directory left half made would be taken for an
     * initialized one that nobody can authenticate to. Only what this call
     * created goes (never a config file or anything else found there). */
    for (size_t i = 0; i < INIT_FILE_COUNT; i++) {
        if (paths[i][0] != '\0' && !existed[i]) {
            unlink(paths[i]);
        }
    }
    if (dir_created) {
        rmdir(options->data_dir);
    }
    return err;
}

enum ledger_err engine_init(const struct engine_options *options, const char *operator_id,
                            const char *secret_path)
{
    enum ledger_err err = crypto_init();
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    char message[ENGINE_MESSAGE_SIZE];
    err = engine_operator_id_check(operator_id, message);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    bool dir_created = mkdir(options->data_dir, 0700) == 0;
    if (!dir_created && errno != EEXIST) {
        return LEDGER_ERR_IO_ERROR;
    }
    /* Two initializations of one directory at once (`ledgerd init` and a
     * first start) would each see it fresh, and the one whose store then
     * failed to open, its lock taken, would remove as its own the files the
     * other had made. The directory itself is locked for the whole of an
     * initialization: the second is refused before it looks, or finds the
     * first one's work done. (ledgerd.lock is not yet there to be held, and
     * the store opened below takes it.) */
    int dir_fd = open(options->data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0) {
        return LEDGER_ERR_IO_ERROR;
    }
    if (flock(dir_fd, LOCK_EX | LOCK_NB) != 0) {
        err = errno == EWOULDBLOCK ? LEDGER_ERR_DATA_DIR_LOCKED : LEDGER_ERR_IO_ERROR;
        close(dir_fd);
        return err;
    }
    err = init_locked(options, operator_id, secret_path, dir_created);
    close(dir_fd); /* releases the lock */
    return err;
}
