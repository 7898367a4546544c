/*
 * engine.c: one data directory's ledger: decide, append, project, answer.
 *
 * A command's path (engine_execute), all inside one LMDB write transaction per
 * group of requests, and one nested transaction per request so that a refused
 * request leaves no trace while its neighbours commit:
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
 * thread that calls engine_execute. Changes made by a request go to a private
 * overlay, by a group to a group overlay; they reach the cache only when the
 * transaction that recorded them has committed, so the cache never holds a
 * state the log does not.
 *
 * Files of a data directory: data.mdb and lock.mdb (LMDB), ledgerd.lock (held
 * with flock by the one process that writes), head.key (the Ed25519 secret key
 * that signs tree heads, hex, mode 0600).
 */
#include "engine.h"

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
#include "policy.h"
#include "views.h"

#define ENGINE_HEAD_KEY_FILE "head.key"
#define ENGINE_LOCK_FILE     "ledgerd.lock"
/* An events query examines at most this many records per page, so that a
 * filter that matches little cannot hold a read transaction for long; the
 * reply's last_sequence tells the client where to continue. */
#define ENGINE_EVENTS_SCAN_MAX 100000
/* Rebuild commits every this many events, bounding the write transaction's
 * dirty pages. */
#define ENGINE_REBUILD_COMMIT_EVERY 20000

/* --- a small hash map of customer states ------------------------------------ */

struct state_entry {
    char key[2 * DOMAIN_ID_SIZE];
    size_t key_size;
    struct domain_customer *state; /* owned */
    bool used;
};

struct state_map {
    struct state_entry *entries;
    size_t capacity; /* power of two */
    size_t count;
};

static size_t state_key(const char *partner_id, const char *customer_id,
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

static void state_map_clear(struct state_map *map)
{
    for (size_t i = 0; i < map->capacity; i++) {
        if (map->entries[i].used) {
            domain_customer_free(map->entries[i].state);
        }
    }
    free(map->entries);
    memset(map, 0, sizeof *map);
}

static struct state_entry *state_map_find(struct state_map *map, const char *key, size_t size)
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

static enum ledger_err state_map_put(struct state_map *map, const char *key, size_t size,
                                     struct domain_customer *state);

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
            enum ledger_err err = state_map_put(&bigger, e->key, e->key_size, e->state);
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

/* Puts a state (ownership taken), replacing and freeing any previous one. */
static enum ledger_err state_map_put(struct state_map *map, const char *key, size_t size,
                                     struct domain_customer *state)
{
    struct state_entry *found = state_map_find(map, key, size);
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

/* Moves every state of `from` into `into`, leaving `from` empty. On NO_MEMORY
 * the states not moved are freed. */
static enum ledger_err state_map_merge(struct state_map *into, struct state_map *from)
{
    enum ledger_err result = LEDGER_ERR_OK;
    for (size_t i = 0; i < from->capacity; i++) {
        struct state_entry *e = &from->entries[i];
        if (!e->used) {
            continue;
        }
        if (result == LEDGER_ERR_OK) {
            result = state_map_put(into, e->key, e->key_size, e->state);
            if (result == LEDGER_ERR_OK) {
                e->used = false;
                continue;
            }
        }
    }
    state_map_clear(from);
    return result;
}

/* --- the engine ---------------------------------------------------------------- */

struct engine {
    struct store *store;
    int lock_fd;
    bool read_only;
    bool scratch;
    uint32_t batch_commands_max;
    uint8_t head_public_key[CRYPTO_SIGN_PUBLIC_BYTES];
    uint8_t head_secret_key[CRYPTO_SIGN_SECRET_BYTES];
    bool head_key_loaded;
    _Atomic uint64_t head_sequence;
    struct state_map cache; /* engine_execute's thread only */
};

struct store *engine_store(struct engine *engine)
{
    return engine->store;
}

uint64_t engine_head_sequence(struct engine *engine)
{
    return atomic_load_explicit(&engine->head_sequence, memory_order_relaxed);
}

static enum ledger_err path_join(const char *dir, const char *name, char out[PATH_MAX])
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
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
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

static enum ledger_err load_head_key(struct engine *engine, const char *dir)
{
    char path[PATH_MAX];
    enum ledger_err err = path_join(dir, ENGINE_HEAD_KEY_FILE, path);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    FILE *f = fopen(path, "re");
    if (!f) {
        /* Offline tools may read a copy without the secret key: heads are then
         * not signed by this process. */
        return engine->read_only || engine->scratch ? LEDGER_ERR_OK : LEDGER_ERR_NOT_FOUND;
    }
    char hex[2 * CRYPTO_SIGN_SECRET_BYTES + 2] = {0};
    bool read_ok = fgets(hex, sizeof hex, f) != NULL;
    fclose(f);
    hex[strcspn(hex, "\r\n")] = '\0';
    err = read_ok ? crypto_unhex(hex, engine->head_secret_key, CRYPTO_SIGN_SECRET_BYTES)
                  : LEDGER_ERR_CORRUPT;
    crypto_wipe(hex, sizeof hex);
    if (err != LEDGER_ERR_OK) {
        return LEDGER_ERR_CORRUPT;
    }
    /* An Ed25519 secret key holds its public key in its second half. */
    memcpy(engine->head_public_key, engine->head_secret_key + 32, CRYPTO_SIGN_PUBLIC_BYTES);
    engine->head_key_loaded = true;
    return LEDGER_ERR_OK;
}

enum ledger_err engine_open(const struct engine_options *options, struct engine **out)
{
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

    struct stat st;
    if (stat(options->data_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        err = LEDGER_ERR_NOT_FOUND;
        goto fail;
    }
    if (!options->read_only) {
        char lock_path[PATH_MAX];
        err = path_join(options->data_dir, ENGINE_LOCK_FILE, lock_path);
        if (err != LEDGER_ERR_OK) {
            goto fail;
        }
        engine->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (engine->lock_fd < 0) {
            err = LEDGER_ERR_IO_ERROR;
            goto fail;
        }
        if (flock(engine->lock_fd, LOCK_EX | LOCK_NB) != 0) {
            err = errno == EWOULDBLOCK ? LEDGER_ERR_DATA_DIR_LOCKED : LEDGER_ERR_IO_ERROR;
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
    store_abort(txn);
    *out = engine;
    return LEDGER_ERR_OK;
fail:
    engine_close(engine);
    return err;
}

void engine_close(struct engine *engine)
{
    if (!engine) {
        return;
    }
    state_map_clear(&engine->cache);
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

static enum ledger_err principal_row_get(struct store_txn *txn, const char *principal_id,
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

static void copy_id(char out[LEDGER_ID_LENGTH_MAX + 1], const char *in)
{
    size_t n = strnlen(in, LEDGER_ID_LENGTH_MAX);
    memcpy(out, in, n);
    out[n] = '\0';
}

enum ledger_err engine_principal_lookup(struct engine *engine, const char *principal_id,
                                        struct engine_principal *out)
{
    if (!codec_id_valid(principal_id)) {
        return LEDGER_ERR_UNKNOWN_PRINCIPAL;
    }
    struct store_txn *txn = NULL;
    enum ledger_err err = store_begin(engine->store, false, &txn);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    Ledger__V1__PrincipalRow *row = NULL;
    err = principal_row_get(txn, principal_id, &row);
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
    copy_id(p.id, row->principal_id);
    p.role = row->role;
    copy_id(p.partner_id, row->partner_id);
    copy_id(p.customer_id, row->customer_id);
    copy_id(p.user, row->user);
    p.revoked = row->revoked;
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
    return err == LEDGER_ERR_STORAGE_FULL || err == LEDGER_ERR_STORAGE_ERROR ||
           err == LEDGER_ERR_NO_MEMORY || err == LEDGER_ERR_CORRUPT || err == LEDGER_ERR_INTERNAL;
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
        reservation = event->reservation_exchanged->replacement;
        break;
    case LEDGER__V1__EVENT__BODY_RESERVATION_RENEWED:
        reservation = event->reservation_renewed->renewal;
        break;
    case LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_PURCHASED:
        copy_id(out->savings_plan_id, event->savings_plan_purchased->savings_plan_id);
        break;
    default:
        break;
    }
    if (reservation) {
        copy_id(out->order_id, reservation->order_id);
        copy_id(out->reservation_id, reservation->reservation_id);
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
    copy_id(out->order_id, stored->order_id);
    copy_id(out->reservation_id, stored->reservation_id);
    copy_id(out->savings_plan_id, stored->savings_plan_id);
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
static enum ledger_err result_store(struct store_txn *txn, const char *principal_id,
                                    const Ledger__V1__Event *event)
{
    struct engine_result result;
    result_from_event(event, &result);
    result.message.secret_hex = (char *)protobuf_c_empty_string;
    uint8_t *bytes = NULL;
    size_t size = 0;
    enum ledger_err err = codec_pack(&result.message.base, &bytes, &size);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    err = store_command_put(txn, principal_id, event->command_id, event->command_hash.data, bytes,
                            size);
    free(bytes);
    return err;
}

struct replay_context {
    struct store_txn *txn;
    struct domain_customer *state;
    uint64_t until_sequence; /* 0: all */
};

static enum ledger_err replay_one(void *context, uint64_t sequence)
{
    struct replay_context *replay = context;
    if (replay->until_sequence && sequence > replay->until_sequence) {
        return LEDGER_ERR_NOT_FOUND; /* stops the walk */
    }
    struct store_val record;
    enum ledger_err err = store_record(replay->txn, sequence, &record);
    if (err != LEDGER_ERR_OK) {
        return err == LEDGER_ERR_NOT_FOUND ? LEDGER_ERR_CORRUPT : err;
    }
    Ledger__V1__Event *event = NULL;
    err = codec_event_unpack(record.data, record.size, &event);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    err = domain_customer_evolve(replay->state, event);
    codec_event_free(event);
    return err;
}

/* A customer's state as the transaction sees it, rebuilt from its stream. */
static enum ledger_err state_load(struct store_txn *txn, const char *partner_id,
                                  const char *customer_id, struct domain_customer **out)
{
    struct domain_customer *state = domain_customer_new(partner_id, customer_id);
    if (!state) {
        return LEDGER_ERR_NO_MEMORY;
    }
    struct replay_context replay = {.txn = txn, .state = state};
    enum ledger_err err = store_stream_each(txn, partner_id, customer_id, replay_one, &replay);
    if (err != LEDGER_ERR_OK) {
        domain_customer_free(state);
        return err;
    }
    *out = state;
    return LEDGER_ERR_OK;
}

struct group {
    struct engine *engine;
    struct store_txn *txn;
    struct state_map overlay; /* states changed by committed requests of this group */
};

struct batch {
    struct group *group;
    struct store_txn *txn; /* nested */
    struct state_map overlay;
};

/* The state a command of this batch sees: the batch's own copy, made on first
 * touch from the group's, the cache's or the log's. Borrowed from the batch. */
static enum ledger_err batch_state(struct batch *batch, const char *partner_id,
                                   const char *customer_id, struct domain_customer **out)
{
    char key[2 * DOMAIN_ID_SIZE];
    size_t key_size = state_key(partner_id, customer_id, key);
    struct state_entry *e = state_map_find(&batch->overlay, key, key_size);
    if (e) {
        *out = e->state;
        return LEDGER_ERR_OK;
    }
    struct domain_customer *state = NULL;
    struct state_entry *seen = state_map_find(&batch->group->overlay, key, key_size);
    if (!seen) {
        seen = state_map_find(&batch->group->engine->cache, key, key_size);
    }
    enum ledger_err err = LEDGER_ERR_OK;
    if (seen) {
        state = domain_customer_clone(seen->state);
        err = state ? LEDGER_ERR_OK : LEDGER_ERR_NO_MEMORY;
    } else {
        err = state_load(batch->txn, partner_id, customer_id, &state);
    }
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    err = state_map_put(&batch->overlay, key, key_size, state);
    if (err != LEDGER_ERR_OK) {
        domain_customer_free(state);
        return err;
    }
    *out = state;
    return LEDGER_ERR_OK;
}

static void set_message(char message[ENGINE_MESSAGE_SIZE], const char *text)
{
    snprintf(message, ENGINE_MESSAGE_SIZE, "%s", text);
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
    Ledger__V1__Command *command = NULL;
    enum ledger_err err = codec_command_unpack(bytes->data, bytes->len, &command);
    if (err != LEDGER_ERR_OK) {
        set_message(message, "the command does not decode as ledger.v1.Command");
        return err;
    }
    if (!codec_id_valid(command->command_id)) {
        set_message(message, "command_id must be 1..64 characters of [A-Za-z0-9._:@-]");
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
    struct domain_customer *state = NULL;
    if (domain_command_is_customer(command->body_case)) {
        if (!codec_id_valid(partner_id) || !codec_id_valid(customer_id)) {
            set_message(message, !codec_id_valid(partner_id)
                                     ? "partner_id is required: 1..64 characters of "
                                       "[A-Za-z0-9._:@-]"
                                     : "customer_id is required: 1..64 characters of "
                                       "[A-Za-z0-9._:@-]");
            err = LEDGER_ERR_INVALID_ARGUMENT;
            goto done;
        }
        err = batch_state(batch, partner_id, customer_id, &state);
        if (err != LEDGER_ERR_OK) {
            goto done;
        }
    }
    bool principal_exists = false, principal_revoked = false;
    const char *target_principal = NULL;
    if (command->body_case == LEDGER__V1__COMMAND__BODY_ADD_PRINCIPAL) {
        target_principal = command->add_principal->principal_id;
    } else if (command->body_case == LEDGER__V1__COMMAND__BODY_REVOKE_PRINCIPAL) {
        target_principal = command->revoke_principal->principal_id;
    }
    if (target_principal && codec_id_valid(target_principal)) {
        Ledger__V1__PrincipalRow *row = NULL;
        err = principal_row_get(txn, target_principal, &row);
        if (err == LEDGER_ERR_OK) {
            principal_exists = true;
            principal_revoked = row->revoked;
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
        .now_us = now_us,
        .sequence = store_last_sequence(txn) + 1,
        .command_hash = hash,
    };
    struct domain_output *decision = calloc(1, sizeof *decision);
    if (!decision) {
        err = LEDGER_ERR_NO_MEMORY;
        goto done;
    }
    err = domain_decide(&input, decision);
    if (err != LEDGER_ERR_OK) {
        set_message(message, decision->message[0] ? decision->message : ledger_strerror(err));
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
        err = result_store(txn, principal->id, event);
    }
    if (err == LEDGER_ERR_OK) {
        result_from_event(event, result);
        if (event->body_case == LEDGER__V1__EVENT__BODY_PRINCIPAL_ADDED) {
            uint8_t secret[LEDGER_SECRET_BYTES];
            crypto_random(secret, sizeof secret);
            const char *id = event->principal_added->principal_id;
            err = store_put(txn, STORE_DB_SECRET, id, strlen(id), secret, sizeof secret);
            crypto_hex(secret, sizeof secret, result->secret_hex);
            crypto_wipe(secret, sizeof secret);
        }
    }
    if (err != LEDGER_ERR_OK && !group_error(err)) {
        /* A failure after the decision is the ledger's fault, not the caller's. */
        err = LEDGER_ERR_INTERNAL;
    }
    if (err != LEDGER_ERR_OK) {
        set_message(message, ledger_strerror(err));
    }
    free(decision);
done:
    codec_command_free(command);
    return err;
}

/* Runs one request's batch in a nested transaction. Returns a group-level
 * error, or OK (the request's own outcome is in request->err). */
static enum ledger_err execute_request(struct group *group, struct engine_request *request,
                                       int64_t now_us)
{
    request->err = LEDGER_ERR_OK;
    request->failed_index = 0;
    request->message[0] = '\0';
    if (request->command_count == 0) {
        request->err = LEDGER_ERR_INVALID_ARGUMENT;
        set_message(request->message, "the batch holds no command");
        return LEDGER_ERR_OK;
    }
    if (request->command_count > group->engine->batch_commands_max) {
        request->err = LEDGER_ERR_BATCH_TOO_LARGE;
        snprintf(request->message, ENGINE_MESSAGE_SIZE,
                 "the batch holds %zu commands; at most %u are allowed in one batch",
                 request->command_count, (unsigned)group->engine->batch_commands_max);
        return LEDGER_ERR_OK;
    }
    request->results = calloc(request->command_count, sizeof *request->results);
    if (!request->results) {
        return LEDGER_ERR_NO_MEMORY;
    }
    struct batch batch = {.group = group};
    enum ledger_err err = store_begin_nested(group->txn, &batch.txn);
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
        store_abort(batch.txn);
        state_map_clear(&batch.overlay);
        /* A refused request's partial results (and secrets) are never answered. */
        crypto_wipe(request->results, request->command_count * sizeof *request->results);
        free(request->results);
        request->results = NULL;
        return group_error(request->err) ? request->err : LEDGER_ERR_OK;
    }
    err = store_commit(batch.txn);
    if (err != LEDGER_ERR_OK) {
        state_map_clear(&batch.overlay);
        return err;
    }
    return state_map_merge(&group->overlay, &batch.overlay);
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
        uint64_t last = store_last_sequence(group.txn);
        if (err == LEDGER_ERR_OK) {
            err = store_commit(group.txn);
        } else {
            store_abort(group.txn);
        }
        if (err == LEDGER_ERR_OK) {
            err = state_map_merge(&engine->cache, &group.overlay);
            if (engine->cache.count > LEDGER_STATE_CACHE_MAX || err != LEDGER_ERR_OK) {
                /* Bounded memory: start again cold; states reload from the log. */
                state_map_clear(&engine->cache);
                err = LEDGER_ERR_OK;
            }
            atomic_store_explicit(&engine->head_sequence, last, memory_order_relaxed);
            return LEDGER_ERR_OK;
        }
        state_map_clear(&group.overlay);
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
        set_message(requests[i].message, ledger_strerror(err));
    }
    return err;
}

/* --- initialization ------------------------------------------------------------- */

enum ledger_err engine_init(const struct engine_options *options, const char *operator_id,
                            const char *secret_path)
{
    enum ledger_err err = crypto_init();
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    if (!codec_id_valid(operator_id)) {
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    if (mkdir(options->data_dir, 0700) != 0 && errno != EEXIST) {
        return LEDGER_ERR_IO_ERROR;
    }
    char key_path[PATH_MAX];
    err = path_join(options->data_dir, ENGINE_HEAD_KEY_FILE, key_path);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    if (access(key_path, F_OK) == 0) {
        return LEDGER_ERR_PRINCIPAL_EXISTS; /* already initialized */
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
        return err;
    }
    struct engine *engine = NULL;
    struct engine_options open_options = *options;
    open_options.read_only = false;
    err = engine_open(&open_options, &engine);
    if (err != LEDGER_ERR_OK) {
        unlink(key_path);
        return err;
    }
    /* The first operator is added by the ledger itself, through the ordinary
     * command path, so that the log records it like every later principal. */
    struct engine_principal bootstrap = {.role = LEDGER__V1__ROLE__ROLE_OPERATOR};
    copy_id(bootstrap.id, "ledgerd-init");
    Ledger__V1__AddPrincipal add = LEDGER__V1__ADD_PRINCIPAL__INIT;
    add.principal_id = (char *)operator_id;
    add.role = LEDGER__V1__ROLE__ROLE_OPERATOR;
    Ledger__V1__Command command = LEDGER__V1__COMMAND__INIT;
    command.command_id = "init-operator";
    command.body_case = LEDGER__V1__COMMAND__BODY_ADD_PRINCIPAL;
    command.add_principal = &add;
    uint8_t *bytes = NULL;
    size_t size = 0;
    err = codec_pack(&command.base, &bytes, &size);
    if (err != LEDGER_ERR_OK) {
        engine_close(engine);
        return err;
    }
    ProtobufCBinaryData data = {.len = size, .data = bytes};
    struct engine_request request = {
        .principal = &bootstrap, .commands = &data, .command_count = 1};
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t now_us = (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
    err = engine_execute(engine, &request, 1, now_us);
    if (err == LEDGER_ERR_OK) {
        err = request.err;
    }
    if (err == LEDGER_ERR_OK) {
        char line[2 * LEDGER_SECRET_BYTES + 2];
        snprintf(line, sizeof line, "%s\n", request.results[0].secret_hex);
        err = write_secret_file(secret_path, line);
        crypto_wipe(line, sizeof line);
    }
    engine_request_clear(&request);
    free(bytes);
    engine_close(engine);
    return err;
}

/* --- queries ------------------------------------------------------------------------- */

struct query_context {
    struct engine *engine;
    struct store_txn *txn;
    const struct engine_principal *principal;
    const char *partner_id; /* "" for principals of all partners asking about all */
    int64_t now_us;
    char *message;
};

static enum ledger_err backup_into(struct engine *engine, const char *dir, int64_t now_us,
                                   Ledger__V1__SignedHead **head_out);

/* Whether the principal may see this event. */
static bool event_visible(const struct query_context *q, const Ledger__V1__Event *event)
{
    const struct engine_principal *p = q->principal;
    if (q->partner_id[0] != '\0' && strcmp(event->partner_id, q->partner_id) != 0) {
        return false;
    }
    if (p->role == LEDGER__V1__ROLE__ROLE_CUSTOMER_USER) {
        return strcmp(event->customer_id, p->customer_id) == 0;
    }
    return true;
}

static enum ledger_err proof_entry(struct query_context *q, uint64_t sequence, uint64_t tree_size,
                                   Ledger__V1__InclusionProof **out)
{
    Ledger__V1__InclusionProof *proof = malloc(sizeof *proof);
    uint8_t(*path)[MERKLE_HASH_BYTES] = malloc(MERKLE_PATH_MAX * MERKLE_HASH_BYTES);
    uint8_t *leaf = malloc(MERKLE_HASH_BYTES);
    ProtobufCBinaryData *items = malloc(MERKLE_PATH_MAX * sizeof *items);
    enum ledger_err err = LEDGER_ERR_NO_MEMORY;
    if (!proof || !path || !leaf || !items) {
        goto fail;
    }
    size_t length = 0;
    err = merkle_store_inclusion(q->txn, sequence, tree_size, path, &length);
    if (err == LEDGER_ERR_OK) {
        err = store_leaf(q->txn, sequence, leaf);
    }
    if (err != LEDGER_ERR_OK) {
        goto fail;
    }
    ledger__v1__inclusion_proof__init(proof);
    proof->sequence = sequence;
    proof->tree_size = tree_size;
    proof->leaf_hash.data = leaf;
    proof->leaf_hash.len = MERKLE_HASH_BYTES;
    for (size_t i = 0; i < length; i++) {
        items[i].data = path[i];
        items[i].len = MERKLE_HASH_BYTES;
    }
    proof->n_path = length;
    proof->path = items;
    if (length == 0) {
        free(path); /* nothing refers to it; otherwise items[0].data owns it */
    }
    *out = proof;
    return LEDGER_ERR_OK;
fail:
    free(proof);
    free(path);
    free(leaf);
    free(items);
    return err;
}

static void proof_free(Ledger__V1__InclusionProof *proof)
{
    if (!proof) {
        return;
    }
    free(proof->leaf_hash.data);
    if (proof->n_path) {
        free(proof->path[0].data); /* the start of the one path buffer */
    }
    free(proof->path);
    free(proof);
}

/* An EventEntry holding a copy of the record and its decoded event. */
static enum ledger_err event_entry(struct query_context *q, uint64_t sequence,
                                   Ledger__V1__EventEntry **out, Ledger__V1__Event **decoded_out)
{
    struct store_val record;
    enum ledger_err err = store_record(q->txn, sequence, &record);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    Ledger__V1__Event *event = NULL;
    err = codec_event_unpack(record.data, record.size, &event);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    Ledger__V1__EventEntry *entry = malloc(sizeof *entry);
    uint8_t *copy = malloc(record.size ? record.size : 1);
    if (!entry || !copy) {
        free(entry);
        free(copy);
        codec_event_free(event);
        return LEDGER_ERR_NO_MEMORY;
    }
    ledger__v1__event_entry__init(entry);
    memcpy(copy, record.data, record.size);
    entry->record.data = copy;
    entry->record.len = record.size;
    entry->event = event;
    *out = entry;
    if (decoded_out) {
        *decoded_out = event;
    }
    return LEDGER_ERR_OK;
}

static void event_entry_free(Ledger__V1__EventEntry *entry)
{
    if (!entry) {
        return;
    }
    free(entry->record.data);
    codec_event_free(entry->event);
    proof_free(entry->proof);
    free(entry);
}

static enum ledger_err entries_push(Ledger__V1__QueryResult *result, Ledger__V1__EventEntry *entry,
                                    size_t *capacity)
{
    if (result->n_events == *capacity) {
        size_t bigger = *capacity ? *capacity * 2 : 16;
        Ledger__V1__EventEntry **grown = realloc(result->events, bigger * sizeof *grown);
        if (!grown) {
            return LEDGER_ERR_NO_MEMORY;
        }
        result->events = grown;
        *capacity = bigger;
    }
    result->events[result->n_events++] = entry;
    return LEDGER_ERR_OK;
}

struct events_walk {
    struct query_context *q;
    const Ledger__V1__EventsQuery *query;
    Ledger__V1__Event__BodyCase types[LEDGER_EVENT_TYPES_FILTER_MAX];
    size_t type_count;
    uint32_t limit;
    uint64_t tree_size;
    uint64_t examined;
    size_t capacity;
    Ledger__V1__QueryResult *result;
};

/* Considers one sequence for an events page. NOT_FOUND stops the walk. */
static enum ledger_err events_visit(void *context, uint64_t sequence)
{
    struct events_walk *walk = context;
    if (sequence <= walk->query->after_sequence) {
        return LEDGER_ERR_OK;
    }
    if (walk->result->n_events >= walk->limit || walk->examined >= ENGINE_EVENTS_SCAN_MAX ||
        sequence > walk->tree_size) {
        return LEDGER_ERR_NOT_FOUND;
    }
    walk->examined++;
    Ledger__V1__EventEntry *entry = NULL;
    Ledger__V1__Event *event = NULL;
    enum ledger_err err = event_entry(walk->q, sequence, &entry, &event);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    walk->result->last_sequence = sequence;
    bool wanted = event_visible(walk->q, event);
    if (wanted && walk->type_count) {
        wanted = false;
        for (size_t i = 0; i < walk->type_count; i++) {
            wanted = wanted || walk->types[i] == event->body_case;
        }
    }
    if (wanted && walk->query->include_proofs) {
        err = proof_entry(walk->q, sequence, walk->tree_size, &entry->proof);
    }
    if (wanted && err == LEDGER_ERR_OK) {
        err = entries_push(walk->result, entry, &walk->capacity);
        if (err == LEDGER_ERR_OK) {
            return LEDGER_ERR_OK;
        }
    }
    event_entry_free(entry);
    return err;
}

static enum ledger_err query_events(struct query_context *q, const Ledger__V1__EventsQuery *query,
                                    Ledger__V1__QueryResult *result)
{
    struct events_walk walk = {.q = q, .query = query, .result = result};
    uint64_t head = store_last_sequence(q->txn);
    walk.tree_size = query->tree_size ? query->tree_size : head;
    if (walk.tree_size > head) {
        snprintf(q->message, ENGINE_MESSAGE_SIZE, "tree_size %llu is past the head %llu",
                 (unsigned long long)walk.tree_size, (unsigned long long)head);
        return LEDGER_ERR_NOT_FOUND;
    }
    walk.limit = query->limit ? query->limit : LEDGER_EVENTS_PAGE_DEFAULT;
    if (walk.limit > LEDGER_EVENTS_PAGE_MAX) {
        snprintf(q->message, ENGINE_MESSAGE_SIZE, "limit must be at most %d",
                 LEDGER_EVENTS_PAGE_MAX);
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    if (query->n_types > LEDGER_EVENT_TYPES_FILTER_MAX) {
        snprintf(q->message, ENGINE_MESSAGE_SIZE, "at most %d event types per query",
                 LEDGER_EVENT_TYPES_FILTER_MAX);
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    for (size_t i = 0; i < query->n_types; i++) {
        walk.types[i] = codec_event_type_from_name(query->types[i]);
        if (walk.types[i] == LEDGER__V1__EVENT__BODY__NOT_SET) {
            snprintf(q->message, ENGINE_MESSAGE_SIZE,
                     "unknown event type '%.64s'; see docs/events.md", query->types[i]);
            return LEDGER_ERR_INVALID_ARGUMENT;
        }
    }
    walk.type_count = query->n_types;
    const char *customer_id = query->customer_id;
    if (q->principal->role == LEDGER__V1__ROLE__ROLE_CUSTOMER_USER) {
        if (customer_id[0] != '\0' && strcmp(customer_id, q->principal->customer_id) != 0) {
            set_message(q->message, "a customer user may read only its own customer's events");
            return LEDGER_ERR_PARTNER_MISMATCH;
        }
        customer_id = q->principal->customer_id;
    }
    result->last_sequence = query->after_sequence;
    enum ledger_err err = LEDGER_ERR_OK;
    if (customer_id[0] != '\0') {
        if (q->partner_id[0] == '\0') {
            set_message(q->message, "partner_id is required to filter by customer");
            return LEDGER_ERR_INVALID_ARGUMENT;
        }
        /* The customer's stream index visits only its events. */
        err = store_stream_each(q->txn, q->partner_id, customer_id, events_visit, &walk);
        if (err == LEDGER_ERR_OK ||
            (err == LEDGER_ERR_NOT_FOUND && walk.examined < ENGINE_EVENTS_SCAN_MAX &&
             result->n_events < walk.limit)) {
            /* The stream is exhausted up to the tree size: nothing more to see. */
            result->last_sequence =
                walk.tree_size > result->last_sequence ? walk.tree_size : result->last_sequence;
            err = LEDGER_ERR_OK;
        }
    } else {
        for (uint64_t s = query->after_sequence + 1; s <= walk.tree_size; s++) {
            err = events_visit(&walk, s);
            if (err != LEDGER_ERR_OK) {
                break;
            }
        }
    }
    if (err == LEDGER_ERR_NOT_FOUND) {
        err = LEDGER_ERR_OK; /* the page is full */
    }
    return err;
}

static enum ledger_err signed_head(struct query_context *q, uint64_t tree_size,
                                   Ledger__V1__SignedHead **out)
{
    Ledger__V1__SignedHead *head = malloc(sizeof *head);
    uint8_t *bytes = malloc(MERKLE_HASH_BYTES + CRYPTO_SIGNATURE_BYTES + CRYPTO_SIGN_PUBLIC_BYTES);
    if (!head || !bytes) {
        free(head);
        free(bytes);
        return LEDGER_ERR_NO_MEMORY;
    }
    ledger__v1__signed_head__init(head);
    uint8_t *root = bytes, *signature = bytes + MERKLE_HASH_BYTES,
            *public_key = signature + CRYPTO_SIGNATURE_BYTES;
    enum ledger_err err = tree_size ? merkle_store_root(q->txn, tree_size, root)
                                    : (merkle_empty_root(root), LEDGER_ERR_OK);
    if (err != LEDGER_ERR_OK) {
        free(head);
        free(bytes);
        return err;
    }
    head->tree_size = tree_size;
    head->timestamp_us = q->now_us;
    head->root_hash.data = root;
    head->root_hash.len = MERKLE_HASH_BYTES;
    if (q->engine->head_key_loaded) {
        uint8_t encoded[MERKLE_HEAD_BYTES];
        merkle_head_encode(tree_size, root, q->now_us, encoded);
        crypto_ed25519_sign(q->engine->head_secret_key, encoded, sizeof encoded, signature);
        memcpy(public_key, q->engine->head_public_key, CRYPTO_SIGN_PUBLIC_BYTES);
        head->signature.data = signature;
        head->signature.len = CRYPTO_SIGNATURE_BYTES;
        head->public_key.data = public_key;
        head->public_key.len = CRYPTO_SIGN_PUBLIC_BYTES;
    }
    *out = head;
    return LEDGER_ERR_OK;
}

static void signed_head_free(Ledger__V1__SignedHead *head)
{
    if (head) {
        free(head->root_hash.data); /* one buffer holds root, signature and key */
        free(head);
    }
}

static enum ledger_err query_consistency(struct query_context *q,
                                         const Ledger__V1__ConsistencyQuery *query,
                                         Ledger__V1__QueryResult *result)
{
    uint64_t head = store_last_sequence(q->txn);
    uint64_t to = query->to_size ? query->to_size : head;
    if (query->from_size == 0 || query->from_size > to || to > head) {
        snprintf(q->message, ENGINE_MESSAGE_SIZE,
                 "need 0 < from_size (%llu) <= to_size (%llu) <= head (%llu)",
                 (unsigned long long)query->from_size, (unsigned long long)to,
                 (unsigned long long)head);
        return to > head ? LEDGER_ERR_NOT_FOUND : LEDGER_ERR_INVALID_ARGUMENT;
    }
    Ledger__V1__ConsistencyProof *proof = malloc(sizeof *proof);
    uint8_t(*path)[MERKLE_HASH_BYTES] = malloc(MERKLE_PATH_MAX * MERKLE_HASH_BYTES);
    ProtobufCBinaryData *items = malloc(MERKLE_PATH_MAX * sizeof *items);
    enum ledger_err err = LEDGER_ERR_NO_MEMORY;
    size_t length = 0;
    if (proof && path && items) {
        err = merkle_store_consistency(q->txn, query->from_size, to, path, &length);
    }
    if (err != LEDGER_ERR_OK) {
        free(proof);
        free(path);
        free(items);
        return err;
    }
    ledger__v1__consistency_proof__init(proof);
    proof->from_size = query->from_size;
    proof->to_size = to;
    for (size_t i = 0; i < length; i++) {
        items[i].data = path[i];
        items[i].len = MERKLE_HASH_BYTES;
    }
    proof->n_path = length;
    proof->path = items;
    if (length == 0) {
        free(path);
    }
    result->consistency = proof;
    return LEDGER_ERR_OK;
}

static enum ledger_err query_explain(struct query_context *q, const Ledger__V1__ExplainQuery *query,
                                     Ledger__V1__QueryResult *result)
{
    uint64_t head = store_last_sequence(q->txn);
    if (query->sequence == 0 || query->sequence > head) {
        snprintf(q->message, ENGINE_MESSAGE_SIZE, "sequence %llu is not in the log (head %llu)",
                 (unsigned long long)query->sequence, (unsigned long long)head);
        return LEDGER_ERR_NOT_FOUND;
    }
    Ledger__V1__Explanation *explanation = malloc(sizeof *explanation);
    if (!explanation) {
        return LEDGER_ERR_NO_MEMORY;
    }
    ledger__v1__explanation__init(explanation);
    result->explanation = explanation;
    Ledger__V1__Event *event = NULL;
    enum ledger_err err = event_entry(q, query->sequence, &explanation->purchase, &event);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    if (!event_visible(q, event)) {
        set_message(q->message, "the event belongs to another partner or customer");
        return LEDGER_ERR_PARTNER_MISMATCH;
    }
    const Ledger__V1__AllowedBy *allowed = NULL;
    if (event->body_case == LEDGER__V1__EVENT__BODY_RESERVATION_PURCHASED) {
        allowed = event->reservation_purchased->allowed_by;
    } else if (event->body_case == LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_PURCHASED) {
        allowed = event->savings_plan_purchased->allowed_by;
    } else {
        snprintf(q->message, ENGINE_MESSAGE_SIZE,
                 "sequence %llu is a %s event, not a purchase; explain answers for purchases",
                 (unsigned long long)query->sequence, codec_event_type_name(event->body_case));
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    err = proof_entry(q, query->sequence, head, &explanation->purchase->proof);
    if (err == LEDGER_ERR_OK && allowed && allowed->permission_sequence) {
        err = event_entry(q, allowed->permission_sequence, &explanation->permission, NULL);
        if (err == LEDGER_ERR_OK) {
            err =
                proof_entry(q, allowed->permission_sequence, head, &explanation->permission->proof);
        }
    }
    if (err == LEDGER_ERR_OK && allowed && allowed->role_sequence) {
        err = event_entry(q, allowed->role_sequence, &explanation->role, NULL);
        if (err == LEDGER_ERR_OK) {
            err = proof_entry(q, allowed->role_sequence, head, &explanation->role->proof);
        }
    }
    if (err == LEDGER_ERR_OK) {
        err = signed_head(q, head, &explanation->head);
    }
    return err;
}

static enum ledger_err stat_push(Ledger__V1__QueryResult *result, const char *name, double value)
{
    Ledger__V1__Stat **grown = realloc(result->stats, (result->n_stats + 1) * sizeof *grown);
    if (!grown) {
        return LEDGER_ERR_NO_MEMORY;
    }
    result->stats = grown;
    Ledger__V1__Stat *stat = malloc(sizeof *stat);
    if (!stat) {
        return LEDGER_ERR_NO_MEMORY;
    }
    ledger__v1__stat__init(stat);
    stat->name = (char *)name; /* static strings only */
    stat->value = value;
    result->stats[result->n_stats++] = stat;
    return LEDGER_ERR_OK;
}

static enum ledger_err query_stats(struct query_context *q, Ledger__V1__QueryResult *result)
{
    struct store_info info;
    enum ledger_err err = store_info(q->engine->store, &info);
    if (err == LEDGER_ERR_OK) {
        err = stat_push(result, "ledger_events_total", (double)info.last_sequence);
    }
    if (err == LEDGER_ERR_OK) {
        err = stat_push(result, "ledger_map_bytes", (double)info.map_bytes);
    }
    if (err == LEDGER_ERR_OK) {
        err = stat_push(result, "ledger_map_bytes_max", (double)info.map_bytes_max);
    }
    if (err == LEDGER_ERR_OK) {
        err = stat_push(result, "ledger_map_used_bytes", (double)info.used_bytes);
    }
    if (err == LEDGER_ERR_OK) {
        err = stat_push(result, "ledger_readers_used", (double)info.readers_used);
    }
    if (err == LEDGER_ERR_OK) {
        err = stat_push(result, "ledger_readers_max", (double)info.readers_max);
    }
    return err;
}

void engine_result_free(Ledger__V1__QueryResult *result)
{
    if (!result) {
        return;
    }
    for (size_t i = 0; i < result->n_events; i++) {
        event_entry_free(result->events[i]);
    }
    free(result->events);
    result->events = NULL;
    result->n_events = 0;
    signed_head_free(result->head);
    result->head = NULL;
    proof_free(result->inclusion);
    result->inclusion = NULL;
    if (result->consistency) {
        free(result->consistency->n_path ? result->consistency->path[0].data : NULL);
        free(result->consistency->path);
        free(result->consistency);
        result->consistency = NULL;
    }
    if (result->explanation) {
        event_entry_free(result->explanation->purchase);
        event_entry_free(result->explanation->permission);
        event_entry_free(result->explanation->role);
        signed_head_free(result->explanation->head);
        free(result->explanation);
        result->explanation = NULL;
    }
    for (size_t i = 0; i < result->n_stats; i++) {
        free(result->stats[i]);
    }
    free(result->stats);
    result->stats = NULL;
    result->n_stats = 0;
    views_result_clear(result);
    free(result);
}

/* Drops one price of a view row (rows are unpacked messages). */
static void money_drop(Ledger__V1__Money **money)
{
    if (*money) {
        ledger__v1__money__free_unpacked(*money, NULL);
        *money = NULL;
    }
}

/* What a customer user may see of prices (docs/security.md): never the
 * partner's price, which is the partner's cost; the retail price only when the
 * partner made it visible to the customer (SetCostVisibility). */
static enum ledger_err customer_prices(struct query_context *q, Ledger__V1__QueryResult *result)
{
    if (result->n_reservations == 0 && result->n_savings_plans == 0) {
        return LEDGER_ERR_OK;
    }
    struct domain_customer *state = NULL;
    enum ledger_err err = state_load(q->txn, q->partner_id, q->principal->customer_id, &state);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    bool retail_visible = state->retail_prices_visible;
    domain_customer_free(state);
    for (size_t i = 0; i < result->n_reservations; i++) {
        money_drop(&result->reservations[i]->price);
        if (!retail_visible) {
            money_drop(&result->reservations[i]->retail_price);
        }
    }
    for (size_t i = 0; i < result->n_savings_plans; i++) {
        money_drop(&result->savings_plans[i]->price);
        if (!retail_visible) {
            money_drop(&result->savings_plans[i]->retail_price);
        }
    }
    return LEDGER_ERR_OK;
}

enum ledger_err engine_query(struct engine *engine, const struct engine_principal *principal,
                             const Ledger__V1__Query *query, int64_t now_us,
                             Ledger__V1__QueryResult **out, char message[ENGINE_MESSAGE_SIZE])
{
    message[0] = '\0';
    if (query->kind_case == LEDGER__V1__QUERY__KIND__NOT_SET) {
        set_message(message, "the query names no kind");
        return LEDGER_ERR_UNKNOWN_MESSAGE;
    }
    if (!policy_query_allowed(principal->role, query->kind_case)) {
        const ProtobufCFieldDescriptor *field = protobuf_c_message_descriptor_get_field(
            &ledger__v1__query__descriptor, (unsigned)query->kind_case);
        snprintf(message, ENGINE_MESSAGE_SIZE, "role %s may not run the %s query",
                 policy_role_name(principal->role), field ? field->name : "unknown");
        return LEDGER_ERR_FORBIDDEN;
    }
    /* Partner scope: a partner-bound principal sees its partner only. */
    const char *partner_id = principal->partner_id;
    if (principal->partner_id[0] != '\0') {
        if (query->partner_id[0] != '\0' && strcmp(query->partner_id, principal->partner_id) != 0) {
            set_message(message, "the principal may not read another partner's data");
            return LEDGER_ERR_PARTNER_MISMATCH;
        }
    } else {
        if (query->partner_id[0] != '\0' && !codec_id_valid(query->partner_id)) {
            set_message(message, "partner_id must be 1..64 characters of [A-Za-z0-9._:@-]");
            return LEDGER_ERR_INVALID_ARGUMENT;
        }
        partner_id = query->partner_id;
    }
    Ledger__V1__QueryResult *result = malloc(sizeof *result);
    if (!result) {
        return LEDGER_ERR_NO_MEMORY;
    }
    ledger__v1__query_result__init(result);
    struct query_context q = {
        .engine = engine,
        .principal = principal,
        .partner_id = partner_id,
        .now_us = now_us,
        .message = message,
    };
    enum ledger_err err = store_begin(engine->store, false, &q.txn);
    if (err != LEDGER_ERR_OK) {
        free(result);
        return err;
    }
    switch (query->kind_case) {
    case LEDGER__V1__QUERY__KIND_EVENTS:
        err = query_events(&q, query->events, result);
        break;
    case LEDGER__V1__QUERY__KIND_HEAD:
        err = signed_head(&q, store_last_sequence(q.txn), &result->head);
        break;
    case LEDGER__V1__QUERY__KIND_INCLUSION: {
        uint64_t head = store_last_sequence(q.txn);
        uint64_t size = query->inclusion->tree_size ? query->inclusion->tree_size : head;
        uint64_t sequence = query->inclusion->sequence;
        if (sequence == 0 || sequence > size || size > head) {
            snprintf(message, ENGINE_MESSAGE_SIZE,
                     "need 0 < sequence (%llu) <= tree_size (%llu) <= head (%llu)",
                     (unsigned long long)sequence, (unsigned long long)size,
                     (unsigned long long)head);
            err = LEDGER_ERR_NOT_FOUND;
            break;
        }
        /* A proof names its leaf's hash: only of an event the principal may see. */
        Ledger__V1__EventEntry *entry = NULL;
        Ledger__V1__Event *event = NULL;
        err = event_entry(&q, sequence, &entry, &event);
        if (err == LEDGER_ERR_OK && !event_visible(&q, event)) {
            set_message(message, "the event belongs to another partner or customer");
            err = LEDGER_ERR_PARTNER_MISMATCH;
        }
        event_entry_free(entry);
        if (err != LEDGER_ERR_OK) {
            break;
        }
        err = proof_entry(&q, sequence, size, &result->inclusion);
        break;
    }
    case LEDGER__V1__QUERY__KIND_CONSISTENCY:
        err = query_consistency(&q, query->consistency, result);
        break;
    case LEDGER__V1__QUERY__KIND_EXPLAIN:
        err = query_explain(&q, query->explain, result);
        break;
    case LEDGER__V1__QUERY__KIND_STATS:
        err = query_stats(&q, result);
        break;
    case LEDGER__V1__QUERY__KIND_BACKUP:
        err = backup_into(engine, query->backup->directory, now_us, &result->head);
        if (err == LEDGER_ERR_INVALID_ARGUMENT) {
            set_message(message, "the backup directory must be named and must not exist yet");
        }
        break;
    default: {
        if (partner_id[0] == '\0' && query->kind_case != LEDGER__V1__QUERY__KIND_PRINCIPALS) {
            set_message(message, "partner_id is required for principals of all partners");
            err = LEDGER_ERR_INVALID_ARGUMENT;
            break;
        }
        bool customer_user = principal->role == LEDGER__V1__ROLE__ROLE_CUSTOMER_USER;
        struct views_scope scope = {
            .partner_id = partner_id,
            .customer_id = customer_user ? principal->customer_id : "",
            .partner_facing = policy_role_partner_facing(principal->role),
        };
        err = views_query(q.txn, &scope, query, result, message);
        if (err == LEDGER_ERR_OK && customer_user) {
            err = customer_prices(&q, result);
        }
        break;
    }
    }
    store_abort(q.txn);
    if (err != LEDGER_ERR_OK) {
        if (message[0] == '\0') {
            set_message(message, ledger_strerror(err));
        }
        engine_result_free(result);
        return err;
    }
    *out = result;
    return LEDGER_ERR_OK;
}

/* --- backup and rebuild ------------------------------------------------------------ */

/* Copies the environment into a new directory with the signed head beside it.
 * The head is taken first, so the copy holds at least every event it covers. */
static enum ledger_err backup_into(struct engine *engine, const char *dir, int64_t now_us,
                                   Ledger__V1__SignedHead **head_out)
{
    if (dir[0] == '\0') {
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    if (mkdir(dir, 0700) != 0) {
        return errno == EEXIST ? LEDGER_ERR_INVALID_ARGUMENT : LEDGER_ERR_IO_ERROR;
    }
    char message[ENGINE_MESSAGE_SIZE];
    struct engine_principal auditor = {.role = LEDGER__V1__ROLE__ROLE_AUDITOR};
    struct query_context q = {.engine = engine,
                              .principal = &auditor,
                              .partner_id = "",
                              .now_us = now_us,
                              .message = message};
    enum ledger_err err = store_begin(engine->store, false, &q.txn);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    Ledger__V1__SignedHead *head = NULL;
    err = signed_head(&q, store_last_sequence(q.txn), &head);
    store_abort(q.txn);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    err = store_copy(engine->store, dir);
    uint8_t *bytes = NULL;
    size_t size = 0;
    if (err == LEDGER_ERR_OK) {
        err = codec_pack(&head->base, &bytes, &size);
    }
    if (err == LEDGER_ERR_OK) {
        char path[PATH_MAX];
        err = path_join(dir, "head.pb", path);
        FILE *f = err == LEDGER_ERR_OK ? fopen(path, "wxe") : NULL;
        if (!f || fwrite(bytes, 1, size, f) != size || fflush(f) != 0 || fsync(fileno(f)) != 0) {
            err = LEDGER_ERR_IO_ERROR;
        }
        if (f && fclose(f) != 0) {
            err = LEDGER_ERR_IO_ERROR;
        }
    }
    free(bytes);
    if (err != LEDGER_ERR_OK || !head_out) {
        signed_head_free(head);
    } else {
        *head_out = head;
    }
    return err;
}

enum ledger_err engine_backup(struct engine *engine, const char *dir)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return backup_into(engine, dir, (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000, NULL);
}

static enum ledger_err digest_all(struct engine *engine, uint8_t digests[STORE_DB_COUNT][32])
{
    struct store_txn *txn = NULL;
    enum ledger_err err = store_begin(engine->store, false, &txn);
    for (int db = 0; err == LEDGER_ERR_OK && db < STORE_DB_COUNT; db++) {
        if (store_db_derived((enum store_db)db)) {
            err = views_digest(txn, (enum store_db)db, digests[db]);
        }
    }
    if (txn) {
        store_abort(txn);
    }
    return err;
}

/* Re-derives everything one record implies, as a live commit did. */
static enum ledger_err rebuild_one(struct store_txn *txn, uint64_t sequence)
{
    struct store_val record;
    enum ledger_err err = store_record(txn, sequence, &record);
    if (err != LEDGER_ERR_OK) {
        return err == LEDGER_ERR_NOT_FOUND ? LEDGER_ERR_CORRUPT : err;
    }
    uint8_t leaf[STORE_HASH_BYTES], stored_leaf[STORE_HASH_BYTES];
    crypto_sha256_prefixed(0x00, record.data, record.size, leaf);
    err = store_leaf(txn, sequence, stored_leaf);
    if (err != LEDGER_ERR_OK || !crypto_equal(leaf, stored_leaf, sizeof leaf)) {
        return LEDGER_ERR_CORRUPT;
    }
    Ledger__V1__Event *event = NULL;
    err = codec_event_unpack(record.data, record.size, &event);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    /* A schema version this build does not know (a record of a newer build)
     * is refused, never projected with an older meaning (docs/events.md). */
    if (event->sequence != sequence || event->schema_version < 1 ||
        event->schema_version > LEDGER_SCHEMA_VERSION) {
        err = LEDGER_ERR_CORRUPT;
    }
    if (err == LEDGER_ERR_OK) {
        err = merkle_append(txn, sequence, leaf);
    }
    if (err == LEDGER_ERR_OK && event->customer_id[0] != '\0') {
        uint64_t version = 0;
        err = store_stream_add(txn, event->partner_id, event->customer_id, sequence, &version);
        if (err == LEDGER_ERR_OK && version != event->stream_version) {
            err = LEDGER_ERR_CORRUPT;
        }
    }
    if (err == LEDGER_ERR_OK) {
        err = views_apply(txn, event);
    }
    if (err == LEDGER_ERR_OK && event->actor && event->command_id[0] != '\0') {
        err = result_store(txn, event->actor->principal_id, event);
    }
    codec_event_free(event);
    return err;
}

/* Drops the derived databases and replays the whole log into them. */
static enum ledger_err rebuild_replay(struct engine *engine, engine_progress_fn progress,
                                      void *context)
{
    struct store_txn *txn = NULL;
    enum ledger_err err = store_begin(engine->store, true, &txn);
    for (int db = 0; err == LEDGER_ERR_OK && db < STORE_DB_COUNT; db++) {
        if (store_db_derived((enum store_db)db)) {
            err = store_drop(txn, (enum store_db)db);
        }
    }
    uint64_t total = err == LEDGER_ERR_OK ? store_last_sequence(txn) : 0;
    for (uint64_t s = 1; err == LEDGER_ERR_OK && s <= total; s++) {
        err = rebuild_one(txn, s);
        if (err == LEDGER_ERR_OK && s % ENGINE_REBUILD_COMMIT_EVERY == 0 && s < total) {
            err = store_commit(txn);
            txn = NULL;
            if (err == LEDGER_ERR_OK) {
                err = store_begin(engine->store, true, &txn);
            }
            if (progress) {
                progress(context, s, total);
            }
        }
    }
    if (txn) {
        if (err == LEDGER_ERR_OK) {
            err = store_commit(txn);
        } else {
            store_abort(txn);
        }
    }
    if (err == LEDGER_ERR_OK && progress) {
        progress(context, total, total);
    }
    return err;
}

enum ledger_err engine_rebuild(struct engine *engine, engine_progress_fn progress, void *context,
                               void (*report)(void *context, const char *view, bool same),
                               unsigned *differences_out)
{
    uint8_t before[STORE_DB_COUNT][32] = {{0}}, after[STORE_DB_COUNT][32] = {{0}};
    enum ledger_err err = digest_all(engine, before);
    if (err == LEDGER_ERR_OK) {
        err = store_bulk(engine->store, true);
    }
    for (unsigned attempt = 0; err == LEDGER_ERR_OK; attempt++) {
        err = rebuild_replay(engine, progress, context);
        if (err != LEDGER_ERR_STORAGE_FULL || attempt == LEDGER_MAP_GROW_RETRIES_MAX) {
            break;
        }
        /* The rebuilt views need more room than the old ones: grow and replay
         * again from the start, which stays correct. */
        err = store_grow(engine->store);
    }
    enum ledger_err synced = store_bulk(engine->store, false);
    if (err == LEDGER_ERR_OK) {
        err = synced;
    }
    state_map_clear(&engine->cache);
    if (err == LEDGER_ERR_OK) {
        err = digest_all(engine, after);
    }
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    unsigned differences = 0;
    for (int db = 0; db < STORE_DB_COUNT; db++) {
        if (!store_db_derived((enum store_db)db)) {
            continue;
        }
        bool same = memcmp(before[db], after[db], 32) == 0;
        differences += same ? 0 : 1;
        if (report) {
            report(context, store_db_name((enum store_db)db), same);
        }
    }
    *differences_out = differences;
    return LEDGER_ERR_OK;
}
