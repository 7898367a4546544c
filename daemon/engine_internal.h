/*
 * engine_internal.h: what the engine's three files share, and nothing else
 * includes: the engine object, its customer-state cache, and a few helpers.
 *
 *   engine.c          opening, initialization, principals, the command
 *                     pipeline and group commit;
 *   engine_query.c    queries of the log: events, heads, proofs,
 *                     explanations, stats, and hot backups;
 *   engine_rebuild.c  dropping and replaying every derived database.
 */
#ifndef LEDGER_ENGINE_INTERNAL_H
#define LEDGER_ENGINE_INTERNAL_H

#include <limits.h>
#include <stdatomic.h>
#include <sys/types.h>

#include "crypto.h"
#include "domain.h"
#include "engine.h"

/* A small open-addressing hash map of customer states, keyed by
 * partner_id NUL customer_id. */
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

/* Frees every state and the table; the map is empty and reusable after. */
void engine__state_map_clear(struct state_map *map);
/* The map's key of a customer: partner_id NUL customer_id, ids of at most
 * DOMAIN_ID_SIZE - 1 bytes (borrowed); returns its size. */
size_t engine__state_key(const char *partner_id, const char *customer_id,
                         char out[2 * DOMAIN_ID_SIZE]);
/* The entry of a key, or NULL. Borrowed from the map until it changes. */
struct state_entry *engine__state_map_find(struct state_map *map, const char *key, size_t size);
/* Puts a state (ownership taken), replacing and freeing any previous one.
 * Errors: NO_MEMORY (the state is then not taken). */
__attribute__((warn_unused_result)) enum ledger_err
engine__state_map_put(struct state_map *map, const char *key, size_t size,
                      struct domain_customer *state);

struct engine {
    struct store *store;
    int lock_fd;
    bool read_only;
    bool scratch;
    dev_t data_dev; /* the data directory, which no backup may be made in */
    ino_t data_ino;
    uint32_t batch_commands_max;
    uint8_t head_public_key[CRYPTO_SIGN_PUBLIC_BYTES];
    uint8_t head_secret_key[CRYPTO_SIGN_SECRET_BYTES];
    bool head_key_loaded;
    _Atomic uint64_t head_sequence;
    uint64_t views_layout;    /* of the derived databases as opened (views.h) */
    int64_t refused_until_us; /* engine_refused_until; engine_execute's thread */
    struct state_map cache;   /* engine_execute's thread only */
    uint64_t cache_bytes;     /* domain_customer_bytes of the states in cache */
    uint64_t cache_bytes_max; /* LEDGER_STATE_CACHE_BYTES_MAX unless set */
    uint64_t cache_clears;    /* times a bound emptied the cache */
    /* The command execute_command decodes, reset after each: engine_execute's
     * thread only. */
    struct codec_arena command_arena;
    /* Where the last engine_rebuild stopped on a record, and why
     * (engine_rebuild_failure); 0 and "" when it did not. */
    uint64_t rebuild_failed_sequence;
    char rebuild_failure[ENGINE_MESSAGE_SIZE];
};

/* A customer's state as the transaction sees it, rebuilt by replaying its
 * stream. The caller frees it with domain_customer_free. */
__attribute__((warn_unused_result)) enum ledger_err
engine__state_load(struct store_txn *txn, const char *partner_id, const char *customer_id,
                   struct domain_customer **out);
/* The principals view's row of a principal (its PrincipalAdded's fields and
 * sequence, and whether it was revoked). NOT_FOUND when there is none;
 * CORRUPT when the row does not decode. The caller frees *out with
 * ledger__v1__principal_row__free_unpacked(*out, NULL). */
__attribute__((warn_unused_result)) enum ledger_err
engine__principal_row_get(struct store_txn *txn, const char *principal_id,
                          Ledger__V1__PrincipalRow **out);
/* Copies an id, truncated to LEDGER_ID_LENGTH_MAX, NUL-terminated. */
void engine__copy_id(char out[LEDGER_ID_LENGTH_MAX + 1], const char *in);
/* Sets a reply message (truncated to ENGINE_MESSAGE_SIZE). */
void engine__set_message(char message[ENGINE_MESSAGE_SIZE], const char *text);

/* Raises the engine's head to `sequence` if it is behind (an atomic max).
 * A commit is visible to new read transactions as soon as LMDB writes its
 * meta page, before the committing thread records the new head: a query
 * that reads the log raises the head to what it saw, and the commit's own
 * update never lowers it. */
void engine__head_observe(struct engine *engine, uint64_t sequence);
/* dir/name into out; INVALID_ARGUMENT when it does not fit. */
__attribute__((warn_unused_result)) enum ledger_err
engine__path_join(const char *dir, const char *name, char out[PATH_MAX]);
/* Reads a head-signing key file (head.key): on its first line the 128 hex
 * digits of an Ed25519 secret key (libsodium's 64 bytes: the seed, then its
 * public key), which must be a key pair. secret_key: written on OK only.
 * message: on failure, what the file holds instead or why it cannot be read.
 * NOT_FOUND (no such file), IO_ERROR (it cannot be opened or read: the
 * message gives the system's reason), INVALID_ARGUMENT (not a head-signing
 * key, e.g. a principal's 64-digit key file). */
__attribute__((warn_unused_result)) enum ledger_err
engine__head_key_read(const char *path, uint8_t secret_key[CRYPTO_SIGN_SECRET_BYTES],
                      char message[ENGINE_MESSAGE_SIZE]);
/* Records a command's result, derived from its event, in the command-id index
 * (never a secret): engine__result_pack, then engine__result_put. Live
 * commits and rebuilds share them, so the index is a pure function of the
 * log. */
__attribute__((warn_unused_result)) enum ledger_err
engine__result_store(struct store_txn *txn, const char *principal_id,
                     const Ledger__V1__Event *event);
/* The command result `event` (borrowed) records, packed into `out` as the
 * command-id index keeps it; pure, so a rebuild packs it on the thread that
 * reads the log. The caller frees `out` with codec_packed_free; codec_pack_scratch's
 * errors. */
__attribute__((warn_unused_result)) enum ledger_err
engine__result_pack(const Ledger__V1__Event *event, struct codec_packed *out);
/* Records the result packed by engine__result_pack (`packed`, `packed_size`
 * borrowed) under principal_id and the event's command id and hash;
 * store_command_put's errors. */
__attribute__((warn_unused_result)) enum ledger_err
engine__result_put(struct store_txn *txn, const char *principal_id, const Ledger__V1__Event *event,
                   const uint8_t *packed, size_t packed_size);

#endif
