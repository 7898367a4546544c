/*
 * server.h: the daemon's event loop: sockets, group commit, replies, doorbell.
 *
 * Owns: one libuv loop; the nanomsg request socket (raw REP, so that many
 * requests can be in flight) and the doorbell socket (PUB), both polled
 * through their NN_RCVFD on the loop (the only includer of <uv.h> and
 * the nanomsg headers on the daemon side); the queue of authenticated command
 * batches and the group commit that hands them to the engine on libuv's
 * thread pool; replies; shutdown on SIGTERM/SIGINT; the counters below (and
 * a timer that samples the doorbell socket's connection count into them).
 * Does not own: authentication (auth), decisions, storage and queries
 * (engine), settings (config), the process (main).
 *
 * Invariants:
 * - A command's reply is sent only after engine_execute returned for its group,
 *   that is after its commit is durable.
 * - At most one group is committing; requests arriving meanwhile wait for the
 *   next group (at most LEDGER_GROUP_REQUESTS_MAX requests each).
 * - At most inflight_requests_max command requests wait or commit; at that
 *   many the request socket is not read until one is answered.
 * - Queries never wait for the writer (LMDB read transactions). Those that
 *   read rows (the views, the event feed, explanations, principals) run on
 *   the thread pool, SERVER_QUERY_WORKERS at a time, and a backup in a slot of
 *   its own, so that the loop keeps answering commits meanwhile; the cheap
 *   ones (head, proofs, stats), and row queries past the workers, are
 *   answered on the loop at once.
 * - Every expiry_sweep_s the schedule looks for active reservations past their
 *   term with auto-renewal off (engine_expiries_due, on the thread pool in a
 *   row-query worker's place) and records their expiries as the ledger's own
 *   principal (engine_expire) as a commit of its own, between groups.
 * - A doorbell is published after each commit that appended; a subscriber that
 *   does not read loses doorbells, it never slows commits.
 * - Nothing from the network can reach an assertion.
 */
#ifndef LEDGER_SERVER_H
#define LEDGER_SERVER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "error.h"

/* Extra bytes nanomsg accepts past request_bytes_max (NN_RCVMAXSIZE), so that
 * a request somewhat over the limit still gets a TOO_LARGE reply; nanomsg
 * drops the connection of a peer that sends more than NN_RCVMAXSIZE. */
#define SERVER_RECEIVE_SLACK_BYTES (64 * 1024)
/* Messages read from the request socket per loop wake-up, so that commits
 * finishing and signals are not starved by a flood of requests. */
#define SERVER_RECEIVE_BURST_MAX 256
/* After the last reply of a shutdown, the sockets stay open this long:
 * nanomsg 1.x has no working NN_LINGER, and its I/O thread needs a moment to
 * hand the last replies to the kernel before nn_close discards them. */
#define SERVER_LINGER_MS 200
/* Row-reading queries answered on libuv's thread pool at once (more are
 * answered on the loop in turn). With the running commit and a backup, they
 * use at most four threads: libuv's default pool, so a commit never waits for
 * one. Two: the machine's cores, which the commit shares. */
#define SERVER_QUERY_WORKERS 2

struct server;

struct server_options {
    const char *listen_url;      /* borrowed: request socket address */
    const char *events_url;      /* borrowed: doorbell socket address */
    const char *data_dir;        /* borrowed: the start line and its mode check */
    const char *version;         /* borrowed: for the start line only */
    size_t request_bytes_max;    /* TOO_LARGE past it */
    uint32_t batch_commands_max; /* BATCH_TOO_LARGE past it */
    int64_t auth_window_us;      /* STALE_REQUEST past it */
    uint32_t slow_commit_ms;     /* commits slower than this are logged; 0 = never */
    uint32_t expiry_sweep_s; /* reservations past their term are expired this often; 0 = never */
    uint32_t inflight_requests_max; /* reading pauses at this many unanswered command requests */
};

/* Upper bounds of the commit latency histogram's buckets, in microseconds:
 * from 100 us (a commit that found its pages cached and a fast fsync) to 5 s
 * (a stalled disk), in 1-2.5-5 steps. A commit longer than the last bound is
 * counted in the extra overflow bucket. */
#define SERVER_COMMIT_LATENCY_BOUNDS_US                                                            \
    {                                                                                              \
        100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000,     \
            2500000, 5000000                                                                       \
    }
#define SERVER_COMMIT_LATENCY_BUCKETS 15
/* Upper bounds of the histogram of commands per group commit: from a lone
 * command to the largest batch (LEDGER_BATCH_COMMANDS_MAX); a group of many
 * large batches can pass it and lands in the overflow bucket. */
#define SERVER_GROUP_COMMANDS_BOUNDS                                                               \
    {                                                                                              \
        1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 100000                        \
    }
#define SERVER_GROUP_COMMANDS_BUCKETS 14
/* Query kinds are counted by their field number in the Query oneof, from
 * SERVER_QUERY_KIND_FIRST; room for future kinds (numbers past the slots are
 * counted in none: auth refuses unknown kinds before they are counted). */
#define SERVER_QUERY_KIND_FIRST 10
#define SERVER_QUERY_KIND_SLOTS 32
/* Refusals are counted by error code number; every code of error.h is
 * below this. */
#define SERVER_ERROR_CODE_SLOTS 128
/* How often the loop samples the doorbell socket's connection count. */
#define SERVER_SAMPLE_INTERVAL_MS 1000

/* What the server counted since it started. Written by the loop thread only
 * (relaxed atomics, so a metrics thread may read them at any time; a reader
 * may see one counter updated and a related one not yet). Histogram buckets
 * are not cumulative: bucket i counts values above bound i-1 and at most
 * bound i; the last bucket counts values above every bound. */
struct server_counters {
    _Atomic uint64_t requests_received; /* messages read from the request socket */
    _Atomic uint64_t requests_refused;  /* answered with a code other than OK */
    _Atomic uint64_t commands_accepted; /* commands of batches answered OK */
    _Atomic uint64_t commits;           /* engine_execute calls (groups) */
    _Atomic uint64_t commit_failures;   /* groups that failed as a whole */
    _Atomic uint64_t commit_latency_us_sum;
    _Atomic uint64_t slow_commits;        /* commits over slow_commit_ms */
    _Atomic uint64_t inflight_requests;   /* gauge: command requests not yet answered */
    _Atomic uint64_t backpressure_pauses; /* times reading stopped at the in-flight bound */
    _Atomic uint64_t replays_refused;     /* requests answered with their earlier refusal */
    _Atomic uint64_t replays_forgotten;   /* refusals forgotten early (replay.h: full) */
    _Atomic uint64_t replies_dropped;     /* replies nanomsg refused (peer gone) */
    _Atomic uint64_t doorbells_published;
    _Atomic uint64_t doorbells_dropped;    /* publishes nanomsg refused */
    _Atomic uint64_t events_appended;      /* events the commits appended (head moves) */
    _Atomic uint64_t reservations_expired; /* ReservationExpired the schedule recorded */
    _Atomic uint64_t expiries_refused;     /* expiries of the schedule the rules refused */
    /* commands per group commit (all requests of the group, refused or not) */
    _Atomic uint64_t group_commands_buckets[SERVER_GROUP_COMMANDS_BUCKETS + 1];
    _Atomic uint64_t group_commands_sum;
    /* commit durations (engine_execute, on the thread pool) */
    _Atomic uint64_t commit_latency_buckets[SERVER_COMMIT_LATENCY_BUCKETS + 1];
    /* authenticated queries by kind (field number - SERVER_QUERY_KIND_FIRST),
     * whatever their answer */
    _Atomic uint64_t queries_by_kind[SERVER_QUERY_KIND_SLOTS];
    /* replies other than OK by code number; sums to requests_refused */
    _Atomic uint64_t refusals_by_code[SERVER_ERROR_CODE_SLOTS];
    /* gauge: peers connected to the doorbell socket (nanomsg's
     * NN_STAT_CURRENT_CONNECTIONS), sampled every SERVER_SAMPLE_INTERVAL_MS */
    _Atomic uint64_t subscribers;
};

/* The name of a query kind slot ("events", "stats", ...: the field's name in
 * the Query oneof), or NULL for a slot no kind uses. Static storage. */
const char *server_query_kind_name(size_t slot);

/* Binds the sockets and prepares the loop. `engine` is borrowed and must
 * outlive the server. UNAVAILABLE when an address cannot be bound (the reason
 * is logged), INVALID_ARGUMENT for a bad address, NO_MEMORY, INTERNAL. */
__attribute__((warn_unused_result)) enum ledger_err
server_create(struct engine *engine, const struct server_options *options, struct server **out);

/* Serves until SIGTERM or SIGINT, then stops reading, commits and answers
 * every request already accepted, closes the sockets and returns OK once the
 * loop has closed cleanly (uv_loop_close returned 0). INTERNAL otherwise.
 * When a failed commit leaves the storage unusable (engine_unusable), it
 * stops the same way by itself and returns STORAGE_ERROR. */
__attribute__((warn_unused_result)) enum ledger_err server_run(struct server *server);

/* Frees the server (after server_run returned, or instead of it). NULL is fine. */
void server_destroy(struct server *server);

/* The counters, for metrics; valid until server_destroy. */
const struct server_counters *server_counters(const struct server *server);

#endif
