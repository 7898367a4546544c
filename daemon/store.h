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
 * On-disk format (docs/store.md has the full table):
 *   log      key = u64 big-endian sequence (dense, from 1), value = record bytes.
 *            Written only with MDB_APPEND; no call here rewrites or deletes it.
 *   leaf     key = u64 BE sequence, value = SHA-256(0x00 || record) (32 bytes).
 *   stream   key = partner_id NUL customer_id NUL u64 BE version, value = u64 BE sequence.
 *   command  key = principal_id NUL command_id, value = 32-byte SHA-256 of the
 *            command's bytes followed by the serialized CommandResult.
 *   meta     small named values: "format" = u64 BE STORE_FORMAT_VERSION (checked
 *            at open), signing key id, ...
 *   others   owned by the modules named in enum store_db.
 */
#ifndef LEDGER_STORE_H
#define LEDGER_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define STORE_HASH_BYTES 32
/* LMDB's largest key with its default build (mdb_env_get_maxkeysize). Keys of
 * 1..STORE_KEY_BYTES_MAX bytes are accepted; others give INVALID_ARGUMENT. */
#define STORE_KEY_BYTES_MAX 511
/* The on-disk format this build writes and reads: meta key "format", value a
 * u64 big-endian. Any other value, or none, makes store_open return CORRUPT. */
#define STORE_FORMAT_VERSION 1

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
    STORE_DB_RESERVATION,  /* derived: reservation rows (views_reservations.c) */
    STORE_DB_ORDER,        /* derived: order rows (views_reservations.c) */
    STORE_DB_SAVINGS_PLAN, /* derived: savings plan rows (views_reservations.c) */
    STORE_DB_PERMISSION,   /* derived: permission rows, current and history (views.c) */
    STORE_DB_ACTIVITY,     /* derived: activity (views_activity.c), id indexes (views_holders.c) */
    STORE_DB_BILLING,      /* derived: billing entries (views_billing.c) */
    STORE_DB_COUNT
};

/* The database's name in the LMDB environment, e.g. "log". Static storage. */
const char *store_db_name(enum store_db db);
/* Whether `ledgerd rebuild` may drop and recompute it. */
bool store_db_derived(enum store_db db);

struct store;
struct store_txn;
/* Where a walk over one database's keys stands, kept between transactions:
 * the key of the last row it read (size 0: none yet, start at the first),
 * and whether the last walk reached the end. */
struct store_position {
    uint8_t key[STORE_KEY_BYTES_MAX];
    size_t size;
    bool done;
};
struct store_cursor;

/* A borrowed view of bytes inside the map: valid until its transaction ends. */
struct store_val {
    const uint8_t *data;
    size_t size;
};

struct store_options {
    const char *dir;        /* borrowed; the data directory, created if missing */
    uint64_t map_bytes;     /* initial map size; 0 = LEDGER_MAP_BYTES_INITIAL. An existing
                               environment keeps a larger size recorded in its file. */
    uint64_t map_bytes_max; /* growth stops here; 0 = LEDGER_MAP_BYTES_MAX_DEFAULT */
    unsigned readers_max;   /* 0 = LEDGER_READERS_MAX; an existing lock file with a larger
                               reader table keeps it */
    unsigned grow_wait_ms;  /* store_grow's wait for open transactions; 0 =
                               LEDGER_MAP_GROW_WAIT_MS */
    bool read_only;         /* open for offline reading (verifier, backup source) */
    bool no_lock;           /* MDB_NOLOCK with read_only: write nothing, not even lock.mdb,
                               into a copy kept as evidence (no writer may have it open) */
    bool log_unchecked;     /* with read_only: open a log and leaf hashes that are not dense
                               or out of step instead of refusing them (CORRUPT), for the
                               verifier, which walks them and names the first bad sequence */
    bool no_sync;           /* MDB_NOSYNC: tests and benchmarks' baselines only, not durable */
};

/* Whether `dir` holds an environment (its data file), creating nothing: a
 * caller that must not make a new ledger where none is asks this first. */
bool store_present(const char *dir);

/* Opens (creating if needed) the environment in options->dir. The directory is
 * made with mode 0700 if missing (never when read_only), the data and lock files
 * with 0600. A new environment gets every database and meta "format". Clears
 * reader slots left by crashed processes (mdb_reader_check). `options` is
 * borrowed; on success *out is the caller's, freed with store_close().
 * Errors: INVALID_ARGUMENT (no dir, map_bytes > map_bytes_max), DATA_DIR_LOCKED
 * (this process already has the directory open: LMDB forbids a second open),
 * STORAGE_ERROR (the cause is in store_last_error()), NO_MEMORY, CORRUPT (not
 * an LMDB file, a data file shorter than its pages (truncated: checked before
 * any page is read, exactly when the file has no free pages, as every
 * compacted copy), not a ledger environment, an unknown format version, or
 * log and leaf hashes out of step, unless log_unchecked), INTERNAL (libsodium
 * failed to initialize). */
__attribute__((warn_unused_result)) enum ledger_err store_open(const struct store_options *options,
                                                               struct store **out);
/* Closes the environment. Every transaction and cursor must have ended. */
void store_close(struct store *store);
/* Whether the store refuses everything until it is reopened (nothing
 * committed is lost): LMDB refused a transaction with MDB_PANIC (after a
 * failed write of its meta page), or a remap failed (store_grow, or adopting
 * another process's size) and left LMDB without a map, after which every
 * call is refused with STORAGE_ERROR before it reaches LMDB. A failed commit
 * checks at once. Any thread. */
bool store_unusable(struct store *store);

/* A sentence on the last failure of a store call made by the calling thread
 * (the LMDB or system message and what was being done), for the caller's log.
 * Thread-local, so concurrent readers do not overwrite each other's causes and
 * the cause of a failed store_open is available too (store may be NULL). ""
 * when there is none; an ordinary NOT_FOUND leaves it unchanged. Valid until
 * the thread's next store call. Never NULL. */
const char *store_last_error(struct store *store);

/* Starts a transaction. Read transactions may run on any thread concurrently
 * with the one write transaction (the environment uses MDB_NOTLS), and one
 * thread may hold several. A write transaction waits for the current writer of
 * any process, and must end on the thread that began it; beginning a second one
 * on that thread deadlocks. A transaction's cursors must be closed before it
 * ends. While store_grow remaps the map, a top-level begin waits for it.
 * Errors: STORAGE_ERROR (e.g. reader slots exhausted, or the map was grown by
 * another process while this one has transactions open), NO_MEMORY. */
__attribute__((warn_unused_result)) enum ledger_err store_begin(struct store *store, bool write,
                                                                struct store_txn **out);
/* A nested write transaction inside `parent` (a write transaction): its changes
 * become part of the parent on store_commit, and vanish on store_abort. The
 * parent may not be used until the child ends. Errors: as store_begin. */
__attribute__((warn_unused_result)) enum ledger_err store_begin_nested(struct store_txn *parent,
                                                                       struct store_txn **out);
/* Commits and frees the transaction, whatever the result. A top-level write
 * commit is durable when this returns OK (unless opened with no_sync). If a
 * call inside the transaction failed in a way that spoils it (STORAGE_FULL,
 * STORAGE_ERROR, NO_MEMORY, CORRUPT), nothing is committed and that error is
 * returned again. Errors: STORAGE_FULL (MDB_MAP_FULL: abort everything,
 * store_grow(), retry), DISK_FULL (the file system said ENOSPC or EDQUOT:
 * nothing committed; retry once there is room), STORAGE_ERROR, NO_MEMORY. */
__attribute__((warn_unused_result)) enum ledger_err store_commit(struct store_txn *txn);
/* Aborts and frees the transaction. */
void store_abort(struct store_txn *txn);

/* Doubles the map size, capped at map_bytes_max. LMDB remaps the file, which
 * must not happen under an open transaction: so this holds back new top-level
 * transactions of this process (store_begin waits), waits up to grow_wait_ms
 * for the open ones (queries on other threads) to end, remaps, and lets the
 * waiting ones go. The caller itself must hold no transaction (it would wait
 * for itself until the deadline). Called by the one writer, after aborting its
 * write transaction; not for read-only stores. Errors: STORAGE_FULL when
 * already at the max (nothing changes), STORAGE_ERROR (transactions still open
 * at the deadline, or the remap failed: then the store is unusable until it
 * is reopened, store_unusable), NO_MEMORY. */
__attribute__((warn_unused_result)) enum ledger_err store_grow(struct store *store);

/* --- the event log ------------------------------------------------------- */

/* Appends one record with sequence = last + 1 (MDB_APPEND) and stores its leaf
 * hash SHA-256(0x00 || record) beside it. `txn` must be a write transaction.
 * `record` is borrowed (NULL allowed when record_size is 0). Errors:
 * STORAGE_FULL, STORAGE_ERROR, NO_MEMORY, CORRUPT (the log is not dense). */
__attribute__((warn_unused_result)) enum ledger_err
store_append(struct store_txn *txn, const uint8_t *record, size_t record_size,
             uint64_t *sequence_out, uint8_t leaf_hash_out[STORE_HASH_BYTES]);
/* The last sequence in the log as this transaction sees it; 0 when empty. */
uint64_t store_last_sequence(struct store_txn *txn);
/* The record at `sequence`, borrowed until the transaction ends. NOT_FOUND for
 * 0 and past the end; CORRUPT when, in a read-only transaction, its size is
 * larger than the data file (a node's size altered: reading it would fault). */
__attribute__((warn_unused_result)) enum ledger_err
store_record(struct store_txn *txn, uint64_t sequence, struct store_val *out);
/* The stored leaf hash of `sequence`. NOT_FOUND for 0 and past the end;
 * CORRUPT if the stored value is not 32 bytes (or, read-only, larger than the
 * data file). */
__attribute__((warn_unused_result)) enum ledger_err
store_leaf(struct store_txn *txn, uint64_t sequence, uint8_t out[STORE_HASH_BYTES]);
/* store_record and store_leaf through a cursor of STORE_DB_LOG or
 * STORE_DB_LEAF (store_cursor_open), for a reader of consecutive
 * sequences: after the previous sequence, a step to the next entry instead
 * of a search from the root. The same results and errors. */
__attribute__((warn_unused_result)) enum ledger_err
store_record_next(struct store_cursor *cursor, uint64_t sequence, struct store_val *out);
__attribute__((warn_unused_result)) enum ledger_err
store_leaf_next(struct store_cursor *cursor, uint64_t sequence, uint8_t out[STORE_HASH_BYTES]);

/* --- the per-customer stream index ---------------------------------------- */

/* The customer's stream version (number of events in its stream); 0 if none.
 * Ids are borrowed NUL-terminated strings of 1..LEDGER_ID_LENGTH_MAX bytes.
 * Errors: INVALID_ARGUMENT (id empty or too long), CORRUPT, STORAGE_ERROR. */
__attribute__((warn_unused_result)) enum ledger_err store_stream_version(struct store_txn *txn,
                                                                         const char *partner_id,
                                                                         const char *customer_id,
                                                                         uint64_t *version_out);
/* Records that `sequence` is the next event of the customer's stream and
 * returns the new version. Errors: INVALID_ARGUMENT (bad id; sequence 0 or not
 * above the stream's last), STORAGE_FULL, STORAGE_ERROR, CORRUPT. */
__attribute__((warn_unused_result)) enum ledger_err
store_stream_add(struct store_txn *txn, const char *partner_id, const char *customer_id,
                 uint64_t sequence, uint64_t *version_out);
/* Writes `count` versions of the customer's stream at once, from
 * first_version, their sequences in `sequences` (borrowed), for a caller
 * that derived them itself (ledgerd rebuild). With `append`, every key must
 * sort after every key of the index (MDB_APPEND: no search, full pages), as
 * when streams are written in key order into an index that was empty.
 * Errors: INVALID_ARGUMENT (bad id), CORRUPT (a version already there, or
 * with `append` a key out of order), STORAGE_FULL, STORAGE_ERROR. */
__attribute__((warn_unused_result)) enum ledger_err
store_stream_fill(struct store_txn *txn, const char *partner_id, const char *customer_id,
                  uint64_t first_version, const uint64_t *sequences, size_t count, bool append);
/* Calls fn for each sequence of the customer's stream above `after` (0: from
 * version 1), oldest first, until fn returns non-OK (which is then returned)
 * or the stream ends. Finds its start by bisection, so a page deep in a long
 * stream costs a logarithm, not a walk. fn may read through the same
 * transaction but must not change the stream index.
 * Errors: those of fn, INVALID_ARGUMENT (bad id), CORRUPT (versions not dense),
 * STORAGE_ERROR. */
typedef enum ledger_err (*store_sequence_fn)(void *context, uint64_t sequence);
__attribute__((warn_unused_result)) enum ledger_err
store_stream_each(struct store_txn *txn, const char *partner_id, const char *customer_id,
                  uint64_t after, store_sequence_fn fn, void *context);

/* Calls fn for each sequence of the customer's stream below `below` (0: no
 * bound), newest first, until fn returns non-OK (which is then returned) or
 * the stream's first event has been given. Finds its start by bisection, so
 * a page deep in a long stream costs a logarithm, not a walk. fn may read
 * through the same transaction but must not change the stream index.
 * Errors: those of fn, INVALID_ARGUMENT (bad id), CORRUPT (versions not
 * dense), STORAGE_ERROR. */
__attribute__((warn_unused_result)) enum ledger_err
store_stream_each_back(struct store_txn *txn, const char *partner_id, const char *customer_id,
                       uint64_t below, store_sequence_fn fn, void *context);

/* --- the command-id index -------------------------------------------------- */

/* Looks up a command id. NOT_FOUND if unseen; otherwise the stored content
 * hash and result bytes (borrowed, valid until the transaction ends). Errors:
 * NOT_FOUND, INVALID_ARGUMENT (bad id), CORRUPT (value shorter than a hash,
 * or, in a read-only transaction, larger than the data file). */
__attribute__((warn_unused_result)) enum ledger_err
store_command_get(struct store_txn *txn, const char *principal_id, const char *command_id,
                  uint8_t hash_out[STORE_HASH_BYTES], struct store_val *result_out);
/* Records a command id's content hash and result (borrowed; result may be NULL
 * when result_size is 0). A recorded id is never overwritten. Errors:
 * COMMAND_ID_REUSED (already recorded), INVALID_ARGUMENT, STORAGE_FULL,
 * STORAGE_ERROR. */
__attribute__((warn_unused_result)) enum ledger_err
store_command_put(struct store_txn *txn, const char *principal_id, const char *command_id,
                  const uint8_t hash[STORE_HASH_BYTES], const uint8_t *result, size_t result_size);

/* --- generic key-value access for the modules that own derived databases -- */

/* Keys are 1..STORE_KEY_BYTES_MAX bytes (else INVALID_ARGUMENT); values read
 * are borrowed until the transaction ends. store_get: NOT_FOUND if absent.
 * store_put overwrites, and never writes the log or leaf databases (assert).
 * Errors of the writes: STORAGE_FULL, STORAGE_ERROR, NO_MEMORY. */

__attribute__((warn_unused_result)) enum ledger_err store_get(struct store_txn *txn,
                                                              enum store_db db, const void *key,
                                                              size_t key_size,
                                                              struct store_val *out);
__attribute__((warn_unused_result)) enum ledger_err store_put(struct store_txn *txn,
                                                              enum store_db db, const void *key,
                                                              size_t key_size, const void *value,
                                                              size_t value_size);
/* Deletes a key of a derived database (never the log, leaf hashes, meta or
 * secrets: a programmer error that aborts). NOT_FOUND if absent. */
__attribute__((warn_unused_result)) enum ledger_err
store_del(struct store_txn *txn, enum store_db db, const void *key, size_t key_size);
/* Empties a derived database (rebuild). Never the log, leaves, meta or secrets. */
__attribute__((warn_unused_result)) enum ledger_err store_drop(struct store_txn *txn,
                                                               enum store_db db);
/* Number of entries in a database. Errors: STORAGE_ERROR. */
__attribute__((warn_unused_result)) enum ledger_err
store_count(struct store_txn *txn, enum store_db db, uint64_t *count_out);

/* Cursors iterate one database in key order. All return NOT_FOUND at the end.
 * A cursor is closed (store_cursor_close) before its transaction ends. key_out
 * and value_out may be NULL; they are borrowed until the transaction ends or a
 * write through it. store_cursor_next on an unpositioned cursor gives the first
 * key, store_cursor_prev the last. */
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
/* Sizes and use of the environment; uses one read transaction. Errors:
 * STORAGE_ERROR. */
__attribute__((warn_unused_result)) enum ledger_err store_info(struct store *store,
                                                               struct store_info *out);

/* Bulk mode, for rebuilds: commits flush their data pages but not the meta
 * page that names them; turning it off syncs everything once (the commit that
 * ends a rebuild is durable). A crash or a power cut in bulk mode loses at
 * most the last commit made in it, never the log: rebuild again. */
__attribute__((warn_unused_result)) enum ledger_err store_bulk(struct store *store, bool on);

/* A consistent hot copy of the environment into `dir` (which must exist, be
 * empty and not be a symbolic link), compacting (MDB_CP_COMPACT). Runs beside
 * the writer, holding one read transaction for its duration. The copy's data
 * file has mode 0600 and is fsynced, and so is the directory; a failed copy
 * removes the file it made, and only that. Errors: INVALID_ARGUMENT (dir
 * missing, not a directory, a symbolic link or not empty), DISK_FULL (ENOSPC
 * or EDQUOT at any step), STORAGE_ERROR, NO_MEMORY. */
__attribute__((warn_unused_result)) enum ledger_err store_copy(struct store *store,
                                                               const char *dir);

/* store_copy into the directory open as `dirfd` (O_RDONLY | O_DIRECTORY):
 * every file operation is relative to the descriptor, so a directory renamed
 * or replaced by name while the copy runs cannot redirect it. Errors as
 * store_copy's, but for a missing or symbolic-link directory. */
__attribute__((warn_unused_result)) enum ledger_err store_copy_at(struct store *store, int dirfd);

/* The ledger error for an errno value of a file operation (the one
 * translation, for the store's own and for callers that write files beside
 * a store, such as a backup's head): ENOSPC and EDQUOT DISK_FULL, ENOMEM
 * NO_MEMORY, 0 OK, any other STORAGE_ERROR. */
enum ledger_err store_translate_errno(int error);

/* --- where an entry of a derived database comes from (verifier) ----------- */

/* Room for a key in readable form: up to three ids of LEDGER_ID_LENGTH_MAX
 * bytes, a month and a few numbers, with some escaped bytes; a longer text
 * is cut short with "...". */
#define STORE_ORIGIN_TEXT_BYTES 320

/* An entry of a derived database as a verifier names it when it differs
 * from a replay of the log: its key in readable form (components joined by
 * '/', ids as text with a backslash or any byte outside printable ASCII as
 * \xNN, integers
 * in decimal) and the sequence of the event that wrote it, as far as the
 * entry itself says (0: it does not say, or it cannot be read). Each module
 * that owns a derived database fills it for its own (store: stream and
 * command; merkle; views), and engine_entry_origin picks the module. */
struct store_origin {
    char key_text[STORE_ORIGIN_TEXT_BYTES];
    uint64_t sequence;
};

/* Reads a composite key component by component, appending each to an
 * origin's key text: ids each ended by NUL (or by the key's end, for the
 * last), then big-endian integers. Reading past the key's end marks the
 * reader bad and reads zeros. */
struct store_key_reader {
    const uint8_t *at, *end;
    bool bad;
    struct store_origin *origin; /* borrowed */
};
/* Starts reading `key` (borrowed) into `origin`, whose text is emptied and
 * whose sequence is set to 0. */
void store_key_reader_init(struct store_key_reader *reader, struct store_val key,
                           struct store_origin *origin);
/* The next id: the bytes up to a NUL (consumed) or the key's end. */
void store_key_read_id(struct store_key_reader *reader);
/* The next byte, which must be `byte` (a separator or a family tag), added
 * to no text. */
void store_key_read_byte(struct store_key_reader *reader, uint8_t byte);
/* The next big-endian integer of `bytes` (1, 2 or 8) bytes, in decimal. */
uint64_t store_key_read_uint(struct store_key_reader *reader, size_t bytes);
/* Whether the whole key was read, and nothing past it. When it was not (a
 * key no writer makes), the origin's text becomes the whole key, escaped,
 * its sequence 0, and false is returned. */
bool store_key_read_end(struct store_key_reader *reader, struct store_val key);
/* Appends text to the origin's key text, as is (cut short when full). */
void store_origin_append(struct store_origin *origin, const char *text);

/* The origin of an entry of the stream index (partner/customer/version; the
 * value is the sequence) or of the command-id index (principal/command id;
 * the sequence is in the CommandResult after the content hash, which the
 * engine reads: 0 here). `key` and `value` borrowed. `db` must be one of
 * the two. */
void store_entry_origin(enum store_db db, struct store_val key, struct store_val value,
                        struct store_origin *out);

/* Encodes/decodes the big-endian u64 used for keys. */
void store_u64_to_key(uint64_t value, uint8_t key[8]);
uint64_t store_key_to_u64(const uint8_t key[8]);

#endif
