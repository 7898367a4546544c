/*
 * ledger.h: libledger, the C client library of ledgerd.
 *
 * Owns: talking to a running daemon: one authenticated request/reply
 * connection (nanomsg REQ, HMAC-SHA256 signed requests), sending commands and
 * atomic batches with safe retries, running queries, and following the event
 * log (catch-up through the paged events query, then live on the daemon's
 * doorbell, waiting for the daemon across its restarts) with an optional
 * checkpoint file.
 * Does not own: deciding anything (the daemon does), printing (ledgerctl).
 *
 * The schema is public: commands, queries and their results are the protobuf-c
 * types generated from proto/ledger.proto (installed beside this header as
 * <ledger/ledger.pb-c.h>), so callers build a Ledger__V1__Command with the
 * generated *__INIT macros and read Ledger__V1__QueryResult rows directly.
 * Callers therefore compile against protobuf-c's header and link its runtime;
 * `pkg-config --cflags --libs libledger` gives both. Error codes are the
 * project's one table (<ledger/error.h>): the same names the daemon logs and
 * the command line prints; ledger_err_name() and ledger_strerror() come with
 * the library.
 *
 * Threads: a struct ledger_client is used by one thread at a time. Separate
 * clients are independent.
 *
 * Wire protocol (docs/protocol.md): each request is a serialized
 * ledger.v1.Request {signed, mac} where signed is a SignedRequest
 * {principal_id, timestamp_us, 16-byte nonce, body} and mac is
 * HMAC-SHA256(principal secret, signed). The reply echoes the nonce.
 *
 * Retries: a request that gets no reply within timeout_ms is sent again,
 * byte for byte (same nonce, same command ids), up to `retries` more times.
 * The daemon answers a command it already committed with its original result
 * and duplicate = true, so a retry never commits twice. A resend whose
 * signature is older than half the daemon's default authentication window
 * (150 of 300 seconds) is signed again first: a new timestamp and nonce over
 * the same body, so the same command ids and command bytes. A reply
 * STALE_REQUEST (signed before the daemon started, or outside its window)
 * is answered the same way: the re-signed request is an extra attempt, not
 * one of the `retries`. A further STALE_REQUEST is signed again only when
 * its attempt took at least a second (the narrowest window: it may have
 * left the window while queued behind slow commits), and at most 3 times
 * in one call (LEDGER_STALE_RESIGNS_MAX); else it is returned, its message
 * saying whether this host's clock or a slow daemon is to blame.
 */
#ifndef LEDGER_CLIENT_H
#define LEDGER_CLIENT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "ledger.pb-c.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A principal's secret: 32 bytes; key files hold it as 64 lower-case hex
 * characters followed by a newline. */
#define LEDGER_CLIENT_SECRET_BYTES 32
/* Room for a command id made by ledger_command_id_new: "c-" + 32 hex + NUL. */
#define LEDGER_CLIENT_COMMAND_ID_SIZE 35
/* Defaults when the options leave them 0. */
#define LEDGER_CLIENT_TIMEOUT_MS_DEFAULT 10000
#define LEDGER_CLIENT_POLL_MS_DEFAULT    2000

struct ledger_client;

struct ledger_options {
    const char *request_url;  /* borrowed; required, e.g. "ipc:///srv/ledger/ledger.sock" */
    const char *events_url;   /* borrowed; NULL: subscriptions poll on their timer only */
    const char *principal_id; /* borrowed; required */
    /* Exactly one of secret and key_file. Both borrowed; the client keeps its
     * own copy of the secret and wipes it in ledger_close. */
    const uint8_t *secret; /* LEDGER_CLIENT_SECRET_BYTES bytes */
    const char *key_file;  /* path of a key file (64 hex characters and a newline) */
    /* per attempt, at most INT32_MAX; 0: LEDGER_CLIENT_TIMEOUT_MS_DEFAULT */
    uint32_t timeout_ms;
    uint32_t retries; /* resends after a timeout (0: send once) */
};

/* Opens a client. Connecting is asynchronous: an absent daemon shows up as
 * UNREACHABLE at the first request, not here.
 * options: borrowed for the duration of the call.
 * out: written on success; release with ledger_close.
 * Errors: INVALID_ARGUMENT (an option missing or malformed), IO_ERROR (the key file cannot be read
 * or does not hold 64 hex characters), UNREACHABLE (the URL is not one nanomsg accepts), NO_MEMORY,
 * INTERNAL (libsodium failed to initialize). */
__attribute__((warn_unused_result)) enum ledger_err
ledger_connect(const struct ledger_options *options, struct ledger_client **out);

/* Closes the sockets, wipes the secret and frees the client. NULL is a no-op. */
void ledger_close(struct ledger_client *client);

/* Whether id is well formed as the daemon requires of every id (principals,
 * partners, customers, reservations, command ids): 1..64 characters of
 * [A-Za-z0-9.:@-]. Checking first gives a caller a clear local error instead
 * of the daemon's INVALID_ARGUMENT. NULL is not. */
bool ledger_id_valid(const char *id);

/* Writes a fresh command id, "c-" followed by 32 hex digits of 16 random
 * bytes, into out (LEDGER_CLIENT_COMMAND_ID_SIZE bytes, NUL-terminated). */
void ledger_command_id_new(char out[LEDGER_CLIENT_COMMAND_ID_SIZE]);

/* Borrows a stop flag for the requests that follow (NULL: none, the
 * default), for a caller that stops on a signal only between requests:
 * while the flag is clear, a signal that interrupts the wait for a reply
 * does not end it (without a flag, it ends the attempt as a timeout); once
 * it is set (by a signal handler, or by another thread with
 * __atomic_store_n), the wait ends within 200 ms and the request fails with
 * TIMEOUT, not sent again, its message saying it was interrupted: what it
 * asked may have been committed. A subscription uses its own flag while it
 * runs. */
void ledger_set_stop(struct ledger_client *client, volatile sig_atomic_t *stop);

/* Sends commands as one atomic batch (all are committed or none).
 * commands: borrowed array of `count` borrowed commands (1 <= count <=
 * 100000, the most any daemon's batch_commands_max allows; a daemon set
 * lower refuses a bigger batch with BATCH_TOO_LARGE). A
 * command whose command_id is NULL or "" is sent with a fresh id from
 * ledger_command_id_new (the caller's struct is not modified; make the id
 * yourself when you need to know it).
 * reply_out: on OK, the daemon's reply (results[i] answers commands[i]; a
 * result with duplicate = true is the answer to an earlier identical
 * command, which is success); free with ledger_reply_free. Not written on
 * failure. The result of an AddPrincipal or a RotatePrincipalSecret carries
 * the principal's new secret in secret_hex (64 hex characters), on its first
 * answer only: a duplicate answer has "" there, and the secret is not sent
 * again. Save it (ledgerctl's `principal add` and `principal rotate` write
 * it to a new key file, mode 0600) and copy it nowhere else:
 * ledger_reply_free wipes it, as the library wipes every other copy it made
 * (the received message included) before freeing it.
 * Errors: any code the daemon replies with (ledger_error_message and
 * ledger_error_index tell the details), INVALID_ARGUMENT (count 0 or above
 * 100000, a NULL command), TIMEOUT (no reply after every attempt, one of
 * which reached a daemon: the commands may have been committed; send them
 * again with the same command ids), UNREACHABLE (no attempt reached a
 * daemon: nothing was received), PROTOCOL_ERROR (a reply that does not
 * decode or does not echo the request's nonce), NO_MEMORY. */
__attribute__((warn_unused_result)) enum ledger_err
ledger_execute(struct ledger_client *client, const Ledger__V1__Command *const *commands,
               size_t count, Ledger__V1__Reply **reply_out);

/* Wipes the secrets a reply from ledger_execute carries (secret_hex), then
 * frees it. NULL is a no-op. */
void ledger_reply_free(Ledger__V1__Reply *reply);

/* Runs one query.
 * query: borrowed.
 * result_out: on OK, the result; free with ledger_query_result_free.
 * Errors: as ledger_execute. */
__attribute__((warn_unused_result)) enum ledger_err
ledger_query(struct ledger_client *client, const Ledger__V1__Query *query,
             Ledger__V1__QueryResult **result_out);

/* Frees a result from ledger_query. NULL is a no-op. */
void ledger_query_result_free(Ledger__V1__QueryResult *result);

/* The daemon's message for the last failed call of this client ("" when there
 * is none): owned by the client, valid until its next call. */
const char *ledger_error_message(const struct ledger_client *client);
/* For a refused batch: the index of the command that was refused. */
uint32_t ledger_error_index(const struct ledger_client *client);
/* The newest committed sequence the daemon reported in its last reply. */
uint64_t ledger_head_sequence(const struct ledger_client *client);

/* ------------------------------------------------------------------------ */
/* Following the event log. */

/* When the checkpoint file is written.
 * EACH_EVENT and EACH_PAGE write it only after the callback returned for the
 * events it covers (at-least-once across crashes): a consumer is never
 * skipped past an event it did not see, but a process killed after a
 * callback returned and before the checkpoint reached the disk sees the
 * events since the last checkpoint again on restart, at most one event in
 * EACH_EVENT mode, at most one page in EACH_PAGE mode, and always as the
 * first events after the restart.
 * BEFORE_EVENT writes it before each callback (at-most-once): a restart
 * never repeats an event, but an event whose callback was cut short by the
 * crash is not delivered again.
 * Across a power loss these bounds hold for what the callbacks wrote only if
 * it reached the disk before the checkpoint did: see before_checkpoint.
 * A consumer that needs exactly-once across crashes keeps the last sequence
 * it processed together with its own effect (in the same file or database
 * transaction) and restarts from there with after_sequence and no
 * checkpoint file; every event carries its sequence for that purpose.
 * Within one ledger_subscribe call every mode delivers each event once. */
enum ledger_checkpoint_mode {
    LEDGER_CHECKPOINT_EACH_EVENT = 0,   /* after every callback (one fsync each) */
    LEDGER_CHECKPOINT_EACH_PAGE = 1,    /* after the last callback of each page */
    LEDGER_CHECKPOINT_BEFORE_EVENT = 2, /* before every callback (one fsync each) */
};

/* Called once per event, in sequence order, never twice for one sequence
 * within a ledger_subscribe call. entry: borrowed, valid during the call
 * (entry->event is the decoded event, entry->record its stored bytes).
 * Return 0 to go on, anything else to stop: ledger_subscribe then records
 * this event in the checkpoint and returns OK. The callback runs on the
 * calling thread and may not call this client (the subscription is using it). */
typedef int (*ledger_event_fn)(void *context, const Ledger__V1__EventEntry *entry);

struct ledger_subscription {
    /* Start after this sequence (0: from the first event). Ignored when the
     * checkpoint file exists: then it holds the start. */
    uint64_t after_sequence;
    /* borrowed; NULL: no checkpoint ("" is INVALID_ARGUMENT). Holds the
     * last delivered (or examined) sequence as decimal digits and a newline,
     * then the filters it was advanced under (partner_id, customer_id and
     * types, a line each: "partner=ID", "customer=ID", "types=A,B", sorted,
     * empty for none), replaced atomically (temp file, fsync, rename, fsync
     * of the directory). A checkpoint is past the events its filters left
     * out, so a subscription with other filters is refused (USAGE) rather
     * than resumed from it; a file of the sequence alone (from
     * ledger_checkpoint_write, or written before checkpoints recorded their
     * filters) resumes under the subscription's filters, and its next write
     * records them. */
    const char *checkpoint_path;
    enum ledger_checkpoint_mode checkpoint_mode;
    const char *partner_id; /* borrowed; NULL or "": the principal's own partner */
    /* borrowed; NULL or "": every customer in scope; else that customer's
     * events, the principal events of its customer users among them */
    const char *customer_id;
    const char *const *types; /* borrowed; event type names, e.g. "reservation_purchased" */
    size_t type_count;
    uint32_t page_limit;       /* events per query; 0: the daemon's default */
    uint32_t poll_interval_ms; /* re-query this often without a doorbell; 0: default */
    bool follow;               /* false: return OK once caught up with the head */
    bool include_proofs;       /* ask for inclusion proofs with each event */
    /* 0: the current tree. Otherwise only the events of the tree of this size
     * (a head the caller kept), their proofs against it; not with follow. */
    uint64_t tree_size;
    /* borrowed; NULL or a flag that a signal handler may set: checked before
     * each page (a page begun is delivered whole, and checkpointed) and
     * while waiting (for new events, for a reply, within 200 ms, or for a
     * daemon that went away); when
     * set, ledger_subscribe returns OK, following or not, also when the
     * query it cut short got no reply. The library reads it with an atomic
     * load, so another thread may set it too, with an atomic store
     * (__atomic_store_n(stop, 1, __ATOMIC_RELAXED)); a plain assignment
     * from another thread is a data race. */
    volatile sig_atomic_t *stop;
    /* NULL: none. Called with the callback's context before each checkpoint
     * write that covers an event whose callback returned since the previous
     * call (never for a write that covers only events filtered out): the
     * consumer makes what its callbacks wrote durable here (e.g. fdatasync
     * of the file they append to), so that a power loss cannot leave the
     * checkpoint ahead of its output. Anything but OK: the checkpoint is
     * not written and ledger_subscribe returns that code. */
    enum ledger_err (*before_checkpoint)(void *context);
};

/* Delivers every event after the start, in order and once each, to callback:
 * first what is already committed (catch-up, page by page), then, when
 * follow is set, new events as they are committed: the daemon rings a
 * doorbell on events_url after each commit, and the library also re-queries
 * every poll_interval_ms, so a doorbell lost on the way only delays delivery.
 * A following subscription outlives the daemon: once the daemon has answered
 * it, a query that finds no daemon (UNREACHABLE), gets no reply (TIMEOUT: a
 * daemon that is stopping leaves it unread) or is told the daemon is busy
 * for the moment (UNAVAILABLE) is asked again after 100 ms,
 * then after twice as long each time up to every 5 s, until the daemon
 * answers or the stop flag is set; it resumes after the last event
 * delivered, so a restart neither skips nor repeats an event. The loss and
 * the return are each reported once as a notice (ledger_notice_set).
 * subscription: borrowed for the duration of the call.
 * With a checkpoint file, the call holds an exclusive lock on FILE.lock
 * (created beside it, flock) until it returns: a second subscriber on the
 * same checkpoint is refused at once instead of delivering the same events
 * again.
 * Errors: INVALID_ARGUMENT (a NULL argument or type name, a subscription
 * out of its limits, tree_size with follow, an empty checkpoint_path, with
 * a checkpoint a customer_id or partner_id that is not an id or a type that
 * is not a type name; with a client, ledger_error_message names which,
 * "ledger_subscribe: ..."), USAGE (the checkpoint file records other
 * filters than the subscription's: ledger_error_message names the file and
 * what differs; nothing was asked or delivered, and the file is left as it
 * was: give another checkpoint file, or remove it and start from
 * after_sequence 0), what
 * ledger_query returns (a refusal, TIMEOUT, UNREACHABLE...;
 * while following, only before the daemon first answered), IO_ERROR (the
 * checkpoint cannot be read, holds something other than a sequence, or
 * cannot be written, or another subscriber holds its lock), what
 * before_checkpoint returned (the checkpoint was not written), MISMATCH (the
 * daemon's head is behind a sequence already delivered: the checkpoint's,
 * or one this call delivered; the daemon serves a shorter history or
 * another ledger), PROTOCOL_ERROR (the daemon returned events out of
 * order, or an entry without its event). A refusal, such as a principal
 * revoked or a key that no longer verifies, ends a following subscription
 * too. In the after-callback modes the checkpoint names the last event
 * whose callback returned when ledger_subscribe returns, unless
 * before_checkpoint failed: then it is left as that failure found it. */
__attribute__((warn_unused_result)) enum ledger_err
ledger_subscribe(struct ledger_client *client, const struct ledger_subscription *subscription,
                 ledger_event_fn callback, void *context);

/* Reads a checkpoint file's sequence (whether or not it records filters).
 * sequence_out: written on OK. NOT_FOUND when the file does not exist,
 * IO_ERROR when it cannot be read or is malformed. */
__attribute__((warn_unused_result)) enum ledger_err ledger_checkpoint_read(const char *path,
                                                                           uint64_t *sequence_out);
/* Replaces a checkpoint file atomically, through FILE.tmp: a FILE.tmp
 * found there (a crashed write's, or a symbolic link: never followed) is
 * removed first, and the new one created exclusively. It holds the
 * sequence alone, no filters: a subscription resumes it under its own and
 * records them. IO_ERROR on failure,
 * errno saying why, the file left as it was (and no temporary file beside
 * it). */
__attribute__((warn_unused_result)) enum ledger_err ledger_checkpoint_write(const char *path,
                                                                            uint64_t sequence);

/* ------------------------------------------------------------------------ */
/* Notices. */

/* Receives what the library reports without failing a call: today, that a
 * following subscription lost the daemon, and that the daemon answers again.
 * message: one line without a newline, borrowed for the call; it names the
 * daemon's address and the error, never a secret. context: as given to
 * ledger_notice_set. */
typedef void (*ledger_notice_fn)(void *context, const char *message);

/* Sends this process's notices to fn (NULL, the default: nowhere). Set it
 * before any thread uses a client: fn is then called on whichever thread runs
 * the call that reports. context: borrowed until notices are sent elsewhere. */
void ledger_notice_set(ledger_notice_fn fn, void *context);

#ifdef __cplusplus
}
#endif

#endif
