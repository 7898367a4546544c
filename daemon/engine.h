/*
 * engine.h: the ledger as one object: decide, append, project, answer.
 *
 * Owns: one data directory (its lock file, store, signing key), the flow of a
 * command from the command-id check through the domain decision to the append,
 * the Merkle tree and the views (all in one write transaction), group commit of
 * many requests' batches, map growth retries, the in-memory cache of customer
 * states, queries of the log (events, proofs, heads, explanations) and rebuild.
 * Does not own: sockets, the loop or authentication of bytes (server, auth);
 * rules (domain); row formats (views).
 *
 * Threads: engine_execute is called by one thread at a time (the daemon's
 * commit worker); engine_query and engine_principal_lookup may run at the same
 * time on other threads and never wait for a write (LMDB read transactions).
 */
#ifndef LEDGER_ENGINE_H
#define LEDGER_ENGINE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec.h"
#include "error.h"
#include "ledger_limits.h"
#include "store.h"

#define ENGINE_MESSAGE_SIZE 384

struct engine;

struct engine_options {
    const char *data_dir;        /* borrowed */
    uint64_t map_bytes;          /* 0 = default */
    uint64_t map_bytes_max;      /* 0 = default */
    uint32_t batch_commands_max; /* 0 = LEDGER_BATCH_COMMANDS_DEFAULT */
    bool no_sync;                /* tests and baselines only */
    bool read_only;              /* offline tools */
    bool scratch;                /* a throwaway copy (verifier): no head-signing key needed */
    bool create; /* make the store when there is none (tools that write a ledger of their own) */
    uint64_t state_cache_bytes_max; /* 0 = LEDGER_STATE_CACHE_BYTES_MAX */
};

/* Whether `dir` holds a ledger's store (initialized, a backup or a restored
 * copy), creating nothing. */
bool engine_present(const char *dir);

/* What the last failure on this thread was, for a message after
 * engine_open fails: the lock file that could not be opened or locked and
 * the system's reason, or the meta entry found damaged (CORRUPT), else what
 * the store said ("" when it said nothing). */
const char *engine_open_detail(void);

/* Whether this process lacks the permission to use `dir` as a data
 * directory (write: to serve, initialize or rebuild it; else to read it): a
 * directory on the way to it that it may not pass, `dir` itself (or, when
 * `dir` does not exist yet, its parent) or one of the files a ledger opens
 * in it. When so, denied_out names the first path refused. Errors that are
 * no matter of permission (a missing path, say) are not judged here. */
bool engine_dir_access_denied(const char *dir, bool write, char denied_out[PATH_MAX]);

/* The same for a verifier reading `dir` (ledger-verify): the files it
 * opens, data.mdb to read and lock.mdb (when present) to read and write,
 * as LMDB writes its reader slot there; not head.key, which it does not
 * need and which is kept from readers. */
bool engine_dir_verify_denied(const char *dir, char denied_out[PATH_MAX]);

/* Holds `dir`'s lock file (ledgerd.lock) shared while its files are copied
 * (ledgerd restore), so that no ledgerd writes them meanwhile: one that
 * starts on it then is refused. DATA_DIR_LOCKED when a process holds it for
 * writing (a daemon serving it, a rebuild): a copy would be torn. OK with
 * *lock_out -1 when there is no lock file (a backup has none). IO_ERROR.
 * Release with engine_dir_release. */
__attribute__((warn_unused_result)) enum ledger_err engine_dir_hold(const char *dir, int *lock_out);
void engine_dir_release(int lock);

/* Opens a data directory created by engine_init. DATA_DIR_LOCKED when another
 * process has it open for writing; NOT_FOUND when it was never initialized
 * (no environment, or read_only and an empty log), or (to write) when it
 * holds no head.key, and then nothing is created in it, unless
 * options->create asks for a new store; to write, IO_ERROR when its
 * head.key is there but cannot be read (a directory, say) and CORRUPT when
 * it holds no head-signing key: engine_check_head_key_file says why. */
__attribute__((warn_unused_result)) enum ledger_err
engine_open(const struct engine_options *options, struct engine **out);
void engine_close(struct engine *engine);
/* The customer-state cache: states held, their bytes (domain_customer_bytes),
 * the byte bound, and how often a bound (LEDGER_STATE_CACHE_MAX states or the
 * byte bound) emptied it. engine_execute's thread only (or when none runs). */
struct engine_cache_usage {
    uint64_t states, bytes, bytes_max, clears;
};
void engine_state_cache(const struct engine *engine, struct engine_cache_usage *out);
/* Whether the storage refuses everything until the data directory is opened
 * again (store_unusable: a failed write of LMDB's meta page, or a failed
 * remap of the growing map). Nothing
 * committed is lost; the daemon exits so that its supervisor restarts it. */
bool engine_unusable(const struct engine *engine);
/* Whether the derived databases have the layout this build writes (views.h,
 * VIEWS_LAYOUT_VERSION); *layout_out (may be NULL) gets the one found. A data
 * directory written by an older build opens, but must be rebuilt
 * (engine_rebuild, `ledgerd rebuild`) before it serves; engine_rebuild brings
 * it up to date. */
bool engine_views_current(const struct engine *engine, uint64_t *layout_out);
/* The layout this build writes (views.h's VIEWS_LAYOUT_VERSION). */
#define ENGINE_VIEWS_LAYOUT 11
/* The layout a store records while a rebuild runs: found at open, a rebuild
 * was interrupted and the views are incomplete. */
#define ENGINE_VIEWS_LAYOUT_REBUILDING 0

/* Checks the id of the first operator before engine_init: INVALID_ARGUMENT
 * when it is not 1..LEDGER_ID_LENGTH_MAX characters of [A-Za-z0-9.:@-], or
 * when it is one of the ledger's own ids (domain.h,
 * DOMAIN_RESERVED_ID_PREFIX), with `message` saying which. */
__attribute__((warn_unused_result)) enum ledger_err
engine_operator_id_check(const char *operator_id, char message[ENGINE_MESSAGE_SIZE]);

/* Creates a data directory: the store, the Ed25519 head-signing key (file
 * head.key, mode 0600) and the first operator principal, whose secret is
 * written as hex to secret_path (mode 0600). All or nothing: when a step
 * fails, the files it created (head.key, data.mdb, lock.mdb, ledgerd.lock,
 * and the directory when it made it) are removed, and nothing else, so that
 * it can be run again. The directory is locked (flock) while it is made:
 * DATA_DIR_LOCKED, with nothing touched, when another process is
 * initializing it. Errors: INVALID_ARGUMENT (engine_operator_id_check,
 * a path too long), PRINCIPAL_EXISTS if the directory was already
 * initialized, DATA_DIR_LOCKED, IO_ERROR, the store's errors. */
__attribute__((warn_unused_result)) enum ledger_err
engine_init(const struct engine_options *options, const char *operator_id, const char *secret_path);

struct engine_principal {
    char id[LEDGER_ID_LENGTH_MAX + 1];
    Ledger__V1__Role role;
    char partner_id[LEDGER_ID_LENGTH_MAX + 1];
    char customer_id[LEDGER_ID_LENGTH_MAX + 1];
    char user[LEDGER_ID_LENGTH_MAX + 1];
    bool revoked;
    /* The PrincipalSecretRotated that made `secret` (0: the one made when the
     * principal was added). A request is refused BAD_SIGNATURE when the
     * principal's row names a later rotation by the time it is decided. */
    uint64_t secret_rotated_sequence;
    uint8_t secret[LEDGER_SECRET_BYTES];
};

/* UNKNOWN_PRINCIPAL when there is no such principal, and for every id
 * beginning with DOMAIN_RESERVED_ID_PREFIX (the ledger's own principals,
 * which sign no request), whatever rows hold. */
__attribute__((warn_unused_result)) enum ledger_err
engine_principal_lookup(struct engine *engine, const char *principal_id,
                        struct engine_principal *out);

/* One command's answer: `message` is ready to put in a Reply; its strings
 * point into the storage beside it. */
struct engine_result {
    Ledger__V1__CommandResult message;
    char order_id[LEDGER_ID_LENGTH_MAX + 1];
    char reservation_id[LEDGER_ID_LENGTH_MAX + 1];
    char savings_plan_id[LEDGER_ID_LENGTH_MAX + 1];
    /* AddPrincipal's and RotatePrincipalSecret's first answer only */
    char secret_hex[2 * LEDGER_SECRET_BYTES + 1];
};

/* One request's atomic batch, and its answer. */
struct engine_request {
    const struct engine_principal *principal; /* borrowed */
    const ProtobufCBinaryData *commands;      /* borrowed: serialized Commands */
    size_t command_count;
    /* The time the request was signed at (its timestamp_us; 0 when it has
     * none). A refusal of a request signed after engine_execute's now_us
     * moves the refusal horizon (engine_refused_until). */
    int64_t signed_us;
    /* Filled by engine_execute: */
    enum ledger_err err;
    uint32_t failed_index;
    char message[ENGINE_MESSAGE_SIZE];
    struct engine_result *results; /* command_count of them on OK; engine_request_clear */
};

/* Decides and appends each request's batch, all or nothing per request, and
 * commits all of them in one durable write transaction (group commit). A
 * request that is refused leaves no trace in the log; the others are
 * unaffected. When a request signed after now_us is refused (a decision, not
 * a transient failure), the same transaction raises the refusal horizon to
 * its signed_us. Returns
 * non-OK only when the whole group failed (storage): then every request's err
 * is that code and nothing was written. */
__attribute__((warn_unused_result)) enum ledger_err engine_execute(struct engine *engine,
                                                                   struct engine_request *requests,
                                                                   size_t count, int64_t now_us);
void engine_request_clear(struct engine_request *request);

/* Adds the first operator, operator_id, through the ordinary command path,
 * so that the log records it like every later principal: an AddPrincipal
 * with command id "init-operator" by the ledger's own principal
 * (DOMAIN_INIT_PRINCIPAL_ID), executed at now_us. engine_init does this at
 * the current time; a writer of reproducible data directories at a fixed
 * one. On OK the operator's secret, as hex, is in secret_hex_out (the caller
 * wipes it). A refusal returns its code (PRINCIPAL_EXISTS when the log has
 * principals already) with its reason in message_out, which is empty
 * otherwise; a failed group returns the store's errors. Both buffers are the caller's. */
__attribute__((warn_unused_result)) enum ledger_err
engine_add_first_operator(struct engine *engine, const char *operator_id, int64_t now_us,
                          char secret_hex_out[2 * LEDGER_SECRET_BYTES + 1],
                          char message_out[ENGINE_MESSAGE_SIZE]);

/* A reservation whose term has ended with auto-renewal off. */
struct engine_expiry {
    char partner_id[LEDGER_ID_LENGTH_MAX + 1];
    char customer_id[LEDGER_ID_LENGTH_MAX + 1];
    char reservation_id[LEDGER_ID_LENGTH_MAX + 1];
    int64_t expires_us;
};
/* Finds up to `max` active reservations with auto-renewal off whose expiry
 * is at or before now_us (views_expiries_due), into out[0..*count_out-1],
 * reading at most LEDGER_EXPIRY_SCAN_ROWS reservation rows from just after
 * `position` (zeroed: from the first). `position` is left at the last row
 * read, done once the last row of all was read (and then back at the
 * start): a sweep calls this until done. One read transaction; any thread;
 * the daemon runs it off its loop and commit thread. Errors: STORAGE_ERROR,
 * CORRUPT, NO_MEMORY, INVALID_ARGUMENT (max 0, a position that is no key). */
__attribute__((warn_unused_result)) enum ledger_err
engine_expiries_due(struct engine *engine, int64_t now_us, struct store_position *position,
                    struct engine_expiry *out, size_t max, size_t *count_out);
/* What engine_expire did. */
struct engine_expire_outcome {
    size_t expired; /* events appended */
    size_t refused; /* expiries the rules refused */
    /* The first refusal, for the log: its code, reservation and message. */
    enum ledger_err refusal;
    char refused_reservation_id[LEDGER_ID_LENGTH_MAX + 1];
    char refusal_message[ENGINE_MESSAGE_SIZE];
};
/* Records each due reservation's expiry (ExpireReservation dated at its
 * expires_us, command id "expiry-<reservation id>") as the ledger's own
 * principal DOMAIN_SYSTEM_PRINCIPAL_ID (role system), in one group commit
 * through engine_execute: on engine_execute's thread only, at most
 * LEDGER_GROUP_REQUESTS_MAX at once. A reservation changed since it was
 * found is refused by the usual rules and skipped (counted in
 * out->refused); one already expired by an earlier sweep is a duplicate.
 * Errors: those of engine_execute for the whole group, NO_MEMORY. */
__attribute__((warn_unused_result)) enum ledger_err
engine_expire(struct engine *engine, const struct engine_expiry *due, size_t count, int64_t now_us,
              struct engine_expire_outcome *out);

/* Answers a query for a principal (authorization included). The result is
 * released with engine_result_free. */
__attribute__((warn_unused_result)) enum ledger_err
engine_query(struct engine *engine, const struct engine_principal *principal,
             const Ledger__V1__Query *query, int64_t now_us, Ledger__V1__QueryResult **out,
             char message[ENGINE_MESSAGE_SIZE]);
void engine_result_free(Ledger__V1__QueryResult *result);
/* Appends one Stat (name and labels copied; labels in the exposition form
 * `kind="events"`, "" for none) to a result, for the server's counters in a
 * stats answer. NO_MEMORY leaves the result as it was. */
__attribute__((warn_unused_result)) enum ledger_err
engine_stat_push(Ledger__V1__QueryResult *result, const char *name, const char *labels,
                 double value);

/* The size of engine_head_public_key_hex's text: an Ed25519 public key
 * (32 bytes) as 64 hex digits, and a NUL. */
#define ENGINE_PUBLIC_KEY_HEX_SIZE 65

/* The public key of the head-signing key the engine signs with, as 64
 * lower-case hex digits (not secret: what auditors pin, docs/verification.md)
 * into hex_out. False, hex_out not written, when the engine holds no key
 * (opened read-only without head.key). */
bool engine_head_public_key_hex(const struct engine *engine,
                                char hex_out[ENGINE_PUBLIC_KEY_HEX_SIZE]);

/* The newest committed sequence (a relaxed atomic read): never behind what a
 * query of this engine has already read (engine__head_observe), so that no
 * reply names a head older than an event an earlier reply carried. */
uint64_t engine_head_sequence(struct engine *engine);

/* The refusal horizon: the latest signed_us of a request this ledger refused
 * while it was signed ahead of the deciding clock; 0 when there was none.
 * A daemon that starts before it counts its start as just after it, so that
 * a replay of such a request is refused as signed before the start rather
 * than decided again by a daemon that does not remember the refusal. Kept
 * in the store (meta "refused-until"), in the transaction that decided the
 * refusal, so it is durable before the refusal is answered and is carried
 * by backups. Read when the engine opens; engine_execute's thread updates
 * it. */
int64_t engine_refused_until(const struct engine *engine);

/* A hot, compacting copy of the data directory into `dir` (created; must not
 * exist), with the current signed head beside it as head.pb (a serialized
 * SignedHead). */
__attribute__((warn_unused_result)) enum ledger_err engine_backup(struct engine *engine,
                                                                  const char *dir);

/* Checks a saved head (a backup's head.pb) against this ledger: it decodes
 * as a SignedHead, its signature verifies (with this ledger's key when it
 * has one), and the stored tree of its size has its root. NOT_FOUND when
 * there is no such file; MISMATCH (message says which) when the log is
 * shorter than the head or its root differs; CORRUPT when the file is not a
 * head; IO_ERROR; the store's errors. */
__attribute__((warn_unused_result)) enum ledger_err
engine_check_head_file(struct engine *engine, const char *path, char message[ENGINE_MESSAGE_SIZE]);

/* The public key a saved head (a backup's head.pb) names, the key that
 * signed it, as 64 lower-case hex digits into hex_out. False, hex_out not
 * written, when the file is missing or is not a head (engine_check_head_file
 * says why). */
bool engine_head_file_public_key_hex(const char *path, char hex_out[ENGINE_PUBLIC_KEY_HEX_SIZE]);

/* Checks a head-signing key file before it becomes a data directory's
 * head.key (ledgerd restore --head-key): it holds an Ed25519 secret key as
 * 128 hex digits whose second half is the public key of the first, and,
 * when head_path (NULL: none) holds a saved head, it is the key that head
 * names. A head file that is missing or malformed is not judged here
 * (engine_check_head_file does that). Reads and wipes the key; writes
 * nothing. message: what is wrong.
 * Errors: NOT_FOUND, IO_ERROR (the key file cannot be read),
 * INVALID_ARGUMENT (not a head-signing key, e.g. a principal's 64-digit key
 * file), MISMATCH (the saved head was signed by another key). */
__attribute__((warn_unused_result)) enum ledger_err
engine_check_head_key_file(const char *key_path, const char *head_path,
                           char message[ENGINE_MESSAGE_SIZE]);

/* Checks that the head-signing key files key_path and other_path hold one
 * key (a backup's own head.key against the operator's --head-key). Reads and
 * wipes both keys; writes nothing. message: what is wrong.
 * Errors: those of engine_check_head_key_file for key_path; MISMATCH when
 * other_path holds another key or no head-signing key at all; NOT_FOUND or
 * IO_ERROR when other_path cannot be read (message names it). */
__attribute__((warn_unused_result)) enum ledger_err
engine_check_head_keys_same(const char *key_path, const char *other_path,
                            char message[ENGINE_MESSAGE_SIZE]);

/* Progress of long operations, for bars on terminals. */
typedef void (*engine_progress_fn)(void *context, uint64_t done, uint64_t total);

/* Drops every derived database, replays the log, and compares each view's
 * digest with the one before. differences_out counts views that differed
 * (their names are logged through report). Views of an older layout
 * (engine_views_current false) are derived again in this build's layout and
 * not compared: report is not called and *differences_out is 0. */
__attribute__((warn_unused_result)) enum ledger_err
engine_rebuild(struct engine *engine, engine_progress_fn progress, void *context,
               void (*report)(void *context, const char *view, bool same),
               unsigned *differences_out);

/* A subscription id held by two or more customers of one partner
 * (views.h). */
struct views_subscription_duplicate;
/* Called by engine_subscription_duplicates for each such id (the same
 * callback as views.h's views_duplicate_fn). */
typedef enum ledger_err (*engine_duplicate_fn)(
    void *context, const struct views_subscription_duplicate *duplicate);

/* Calls fn, in one read transaction, for every subscription id that two
 * or more customers of one partner hold, as logs written before ids were
 * checked across a partner's customers may record
 * (views_subscription_duplicates: in key order, each with its holders in
 * sequence order; the memory taken does not grow with the ledger), for
 * `ledgerd rebuild` and ledger-verify to report after their checks.
 * *ids_out (may be NULL) counts them, written only on success. Errors:
 * those of fn, CORRUPT, STORAGE_ERROR. */
__attribute__((warn_unused_result)) enum ledger_err
engine_subscription_duplicates(struct engine *engine, engine_duplicate_fn fn, void *context,
                               uint64_t *ids_out);

/* When the last engine_rebuild failed on a record (CORRUPT): its sequence,
 * and in `why` what was wrong with it (its leaf hash, its bytes, its own
 * sequence, its schema version, its stream version, the views it did not
 * apply to, an id the stream or command index cannot hold, or a command id
 * an earlier record took). 0 when it failed elsewhere (the storage) or did
 * not fail. */
uint64_t engine_rebuild_failure(const struct engine *engine, char why[ENGINE_MESSAGE_SIZE]);

/* Where an entry of the derived database `db` comes from: its key in
 * readable form and the sequence of the event that wrote it, as far as the
 * entry records one (store.h, struct store_origin; each database's rule is
 * in docs/verification.md, 6.3), for a verifier that found the entry
 * differing from a replay of the log. `key` and `value` borrowed. */
void engine_entry_origin(enum store_db db, struct store_val key, struct store_val value,
                         struct store_origin *out);

/* The store, for tools that read it directly (verifier, tests). Borrowed. */
struct store *engine_store(struct engine *engine);

#endif
