/*
 * store.h: the LMDB environment of one data directory.
 *
 * Owns: the environment, its named databases, transactions, map growth, the
 * append-only event log with each record's leaf hash, the per-customer stream
 * index and the command-id index. It is the only module that includes <lmdb.h>;
 * MDB_* errors are translated to enum ledger_err here and never leak.
 * Does not own: what records mean (codec, domain), views' row formats (views),
 * the Merkle tree's node layout (merkle). Those modules keep their data in the
 * named databases below through the generic key-value calls.
 *
 * On-disk format (docs/architecture.md has the full table):
 *   log      key = u64 big-endian sequence (dense, from 1), value = record bytes.
 *            Written only with MDB_APPEND; no call here rewrites or deletes it.
 *   leaf     key = u64 BE sequence, value = SHA-256(0x00 || record) (32 bytes).
 *   stream   key = partner_id NUL customer_id NUL u64 BE version, value = u64 BE sequence.
 *   command  key = principal_id NUL command_id, value = 32-byte SHA-256 of the
 *            command's bytes followed by the serialized CommandResult.
 *   meta     small named values (format version, signing key id, ...).
 *   others   owned by the modules named in enum store_db.
 */
#ifndef LEDGER_STORE_H
#define LEDGER_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define STORE_HASH_BYTES 32

/* The named databases. Those marked "derived" are rebuilt from the log by
 * `ledgerd rebuild`; the log, leaf hashes and principals' secrets are not. */
enum store_db {
    STORE_DB_LOG,          /* primary: the event log */
    STORE_DB_LEAF,         /* primary: leaf hash per sequence */
    STORE_DB_META,         /* primary: format version and settings */
    STORE_DB_SECRET,       /* primary: principal id -> secret (never logged) */
    STORE_DB_STREAM,       /* derived: per-customer stream index */
    STORE_DB_COMMAND,      /* derived: command-id index */
    STORE_DB_MERKLE,       /* derived: Merkle tree nodes (merkle.c) */
    STORE_DB_PARTNER,      /* derived: partner id -> name (views.c) */
    STORE_DB_PRINCIPAL,    /* derived: principal rows (views.c) */
    STORE_DB_RESERVATION,  /* derived: reservation rows (views.c) */
    STORE_DB_ORDER,        /* derived: order rows (views.c) */
    STORE_DB_SAVINGS_PLAN, /* derived: savings plan rows (views.c) */
    STORE_DB_PERMISSION,   /* derived: permission rows, current and history (views.c) */
    STORE_DB_ACTIVITY,     /* derived: activity rows (views.c) */
    STORE_DB_BILLING,      /* derived: billing rows (views.c) */
    STORE_DB_COUNT
};

/* The database's name in the LMDB environment, e.g. "log". Static storage. */
const char *store_db_name(enum store_db db);
/* Whether `ledgerd rebuild` may drop and recompute it. */
bool store_db_derived(enum store_db db);

struct store;
struct store_txn;
struct store_cursor;

/* A borrowed view of bytes inside the map: valid until its transaction ends. */
struct store_val {
    const uint8_t *data;
    size_t size;
};

struct store_options {
    const char *dir;        /* borrowed; the data directory, created if missing */
    uint64_t map_bytes;     /* initial map size; 0 = LEDGER_MAP_BYTES_INITIAL */
    uint64_t map_bytes_max; /* growth stops here; 0 = LEDGER_MAP_BYTES_MAX_DEFAULT */
    unsigned readers_max;   /* 0 = LEDGER_READERS_MAX */
    bool read_only;         /* open for offline reading (verifier, backup source) */
    bool no_sync;           /* tests and benchmarks' baselines only: not durable */
};

/* Opens (creating if needed) the environment in options->dir. Clears reader
 * slots left by crashed processes (mdb_reader_check). Errors: STORAGE_ERROR
 * (with errno-like cause logged by the caller), NO_MEMORY, CORRUPT (not a
 * ledger environment or an unknown format version). */
__attribute__((warn_unused_result)) enum ledger_err store_open(const struct store_options *options,
                                                               struct store **out);
void store_close(struct store *store);

/* Starts a transaction. Read transactions may run on any thread concurrently
 * with the one write transaction (the environment uses MDB_NOTLS). */
__attribute__((warn_unused_result)) enum ledger_err store_begin(struct store *store, bool write,
                                                                struct store_txn **out);
/* A nested write transaction inside `parent`: its changes become part of the
 * parent on store_commit, and vanish on store_abort. */
__attribute__((warn_unused_result)) enum ledger_err store_begin_nested(struct store_txn *parent,
                                                                       struct store_txn **out);
/* Commits and frees the transaction, whatever the result. A top-level write
 * commit is durable when this returns OK. Errors: STORAGE_FULL (MDB_MAP_FULL:
 * abort everything, store_grow(), retry), STORAGE_ERROR. */
__attribute__((warn_unused_result)) enum ledger_err store_commit(struct store_txn *txn);
/* Aborts and frees the transaction. */
void store_abort(struct store_txn *txn);

/* Doubles the map size, capped at map_bytes_max. Must be called with no
 * transaction of this process active. STORAGE_FULL when already at the max. */
__attribute__((warn_unused_result)) enum ledger_err store_grow(struct store *store);

/* --- the event log ------------------------------------------------------- */

/* Appends one record with sequence = last + 1 (MDB_APPEND) and stores its leaf
 * hash beside it. `record` is borrowed. Errors: STORAGE_FULL, STORAGE_ERROR. */
__attribute__((warn_unused_result)) enum ledger_err
store_append(struct store_txn *txn, const uint8_t *record, size_t record_size,
             uint64_t *sequence_out, uint8_t leaf_hash_out[STORE_HASH_BYTES]);
/* The last sequence in the log as this transaction sees it; 0 when empty. */
uint64_t store_last_sequence(struct store_txn *txn);
/* The record at `sequence`. NOT_FOUND past the end. */
__attribute__((warn_unused_result)) enum ledger_err
store_record(struct store_txn *txn, uint64_t sequence, struct store_val *out);
/* The stored leaf hash of `sequence`. NOT_FOUND past the end. */
__attribute__((warn_unused_result)) enum ledger_err
store_leaf(struct store_txn *txn, uint64_t sequence, uint8_t out[STORE_HASH_BYTES]);

/* --- the per-customer stream index ---------------------------------------- */

/* The customer's stream version (number of events in its stream); 0 if none. */
__attribute__((warn_unused_result)) enum ledger_err store_stream_version(struct store_txn *txn,
                                                                         const char *partner_id,
                                                                         const char *customer_id,
                                                                         uint64_t *version_out);
/* Records that `sequence` is the next event of the customer's stream and
 * returns the new version. */
__attribute__((warn_unused_result)) enum ledger_err
store_stream_add(struct store_txn *txn, const char *partner_id, const char *customer_id,
                 uint64_t sequence, uint64_t *version_out);
/* Calls fn for each sequence of the customer's stream from version 1, in order,
 * until fn returns non-OK (which is then returned) or the stream ends. */
typedef enum ledger_err (*store_sequence_fn)(void *context, uint64_t sequence);
__attribute__((warn_unused_result)) enum ledger_err
store_stream_each(struct store_txn *txn, const char *partner_id, const char *customer_id,
                  store_sequence_fn fn, void *context);

/* --- the command-id index -------------------------------------------------- */

/* Looks up a command id. NOT_FOUND if unseen; otherwise the stored content
 * hash and result bytes (borrowed, valid until the transaction ends). */
__attribute__((warn_unused_result)) enum ledger_err
store_command_get(struct store_txn *txn, const char *principal_id, const char *command_id,
                  uint8_t hash_out[STORE_HASH_BYTES], struct store_val *result_out);
__attribute__((warn_unused_result)) enum ledger_err
store_command_put(struct store_txn *txn, const char *principal_id, const char *command_id,
                  const uint8_t hash[STORE_HASH_BYTES], const uint8_t *result, size_t result_size);

/* --- generic key-value access for the modules that own derived databases -- */

__attribute__((warn_unused_result)) enum ledger_err store_get(struct store_txn *txn,
                                                              enum store_db db, const void *key,
                                                              size_t key_size,
                                                              struct store_val *out);
__attribute__((warn_unused_result)) enum ledger_err store_put(struct store_txn *txn,
                                                              enum store_db db, const void *key,
                                                              size_t key_size, const void *value,
                                                              size_t value_size);
/* Deletes a key of a derived database (never the log or leaf hashes: assert). */
__attribute__((warn_unused_result)) enum ledger_err
store_del(struct store_txn *txn, enum store_db db, const void *key, size_t key_size);
/* Empties a derived database (rebuild). Never the log, leaves, meta or secrets. */
__attribute__((warn_unused_result)) enum ledger_err store_drop(struct store_txn *txn,
                                                               enum store_db db);
/* Number of entries in a database. */
__attribute__((warn_unused_result)) enum ledger_err
store_count(struct store_txn *txn, enum store_db db, uint64_t *count_out);

/* Cursors iterate one database in key order. All return NOT_FOUND at the end. */
__attribute__((warn_unused_result)) enum ledger_err
store_cursor_open(struct store_txn *txn, enum store_db db, struct store_cursor **out);
void store_cursor_close(struct store_cursor *cursor);
/* Positions at the first key >= key (key NULL: the first key). */
__attribute__((warn_unused_result)) enum ledger_err
store_cursor_seek(struct store_cursor *cursor, const void *key, size_t key_size,
                  struct store_val *key_out, struct store_val *value_out);
__attribute__((warn_unused_result)) enum ledger_err store_cursor_next(struct store_cursor *cursor,
                                                                      struct store_val *key_out,
                                                                      struct store_val *value_out);
__attribute__((warn_unused_result)) enum ledger_err store_cursor_prev(struct store_cursor *cursor,
                                                                      struct store_val *key_out,
                                                                      struct store_val *value_out);
__attribute__((warn_unused_result)) enum ledger_err store_cursor_last(struct store_cursor *cursor,
                                                                      struct store_val *key_out,
                                                                      struct store_val *value_out);

/* --- whole-environment operations ---------------------------------------- */

struct store_info {
    uint64_t map_bytes; /* current map size */
    uint64_t map_bytes_max;
    uint64_t used_bytes; /* pages in use * page size */
    uint64_t last_sequence;
    unsigned readers_used;
    unsigned readers_max;
};
__attribute__((warn_unused_result)) enum ledger_err store_info(struct store *store,
                                                               struct store_info *out);

/* A consistent hot copy of the environment into `dir` (which must exist and be
 * empty), compacting (MDB_CP_COMPACT). Runs beside the writer. */
__attribute__((warn_unused_result)) enum ledger_err store_copy(struct store *store,
                                                               const char *dir);

/* Encodes/decodes the big-endian u64 used for keys. */
void store_u64_to_key(uint64_t value, uint8_t key[8]);
uint64_t store_key_to_u64(const uint8_t key[8]);

#endif
