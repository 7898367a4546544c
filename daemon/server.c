/*
 * server.c: the daemon's event loop (contract and invariants in server.h).
 *
 * Life of a request, all on the loop thread unless said otherwise:
 *
 *   request socket readable -> nn_recvmsg (body and routing header, NN_MSG)
 *     -> auth_check -> refused: Reply{code} at once
 *                   -> query:   engine_query, Reply{query} at once (a backup,
 *                               which copies the store, and pages of the
 *                               event feed on the thread pool)
 *                   -> batch:   queued (struct pending)
 *   no commit running and queue not empty -> up to LEDGER_GROUP_REQUESTS_MAX
 *     queued requests form a group (one whose timestamp left the window while
 *     it waited, or that was refused before, is answered without being
 *     decided) -> engine_execute on the thread pool
 *   group done (loop thread) -> one Reply per request, durable; doorbell;
 *     next group; resume reading if it was paused.
 *
 * nanomsg and libuv: the sockets' NN_RCVFD are watched with uv_poll
 * (UV_READABLE; level-triggered) and drained with NN_DONTWAIT until EAGAIN, at
 * most SERVER_RECEIVE_BURST_MAX per wake-up. Sending never waits: a raw REP
 * socket drops a reply to a peer whose pipe is full or gone (the peer's REQ
 * socket resends, and command ids make that safe), and a PUB socket drops a
 * message for a subscriber whose pipe is full; so NN_SNDFD need not be watched,
 * and neither a slow client nor a slow subscriber can hold the loop. Every
 * socket is used from the loop thread only.
 *
 * Counters (server.h) are relaxed atomics written here and read by the
 * metrics thread; nanomsg's statistics of the doorbell socket are sampled on
 * the loop by a one-second timer, so no other thread touches a socket.
 *
 * Shutdown (SIGTERM, SIGINT): reading stops; the running group and every
 * queued request are committed and answered; after SERVER_LINGER_MS the
 * handles are closed, then the sockets; uv_run returns and uv_loop_close must
 * return 0.
 */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <nanomsg/nn.h>
#include <nanomsg/pubsub.h>
#include <nanomsg/reqrep.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "auth.h"
#include "codec.h"
#include "crypto.h"
#include "ledger_ids.h"
#include "log.h"
#include "metrics.h"
#include "replay.h"
#include "store.h"
#include "sweep.h"

/* Socket buffers: room for several requests of the default size in flight per
 * peer; nanomsg's default (128 kB) would throttle bulk imports. */
#define SERVER_SOCKET_BUFFER_BYTES (4 * 1024 * 1024)
/* The message of a NO_MEMORY that answers commands which were committed (their
 * reply could not be built): retrying them under their ids is what is safe. */
#define SERVER_COMMITTED_UNANSWERED                                                                \
    "the commands were committed but the reply could not be built; retry with the same "           \
    "command ids to read their results"
/* The store's message of a storage failure kept for the log line (detail=). */
#define SERVER_DETAIL_SIZE 256

/* One authenticated command batch waiting for, or in, a group commit. */
struct pending {
    struct pending *next;
    void *control;                             /* owned: nanomsg routing header */
    struct engine_principal principal;         /* holds the secret: wiped on free */
    Ledger__V1__SignedRequest *signed_request; /* owned */
    struct auth_detail detail;
};

/* A query answered from the thread pool so that the loop keeps serving (and
 * answering commits): a backup (it copies the whole store; one at a time), or
 * a query that reads rows (up to LEDGER_VIEW_ROWS_MAX of a view, or a feed
 * page of up to 10,000 events with proofs; SERVER_QUERY_WORKERS at a time,
 * and past that on the loop). */
struct slow_query {
    uv_work_t work;
    struct server *server;
    bool running;
    void *control; /* owned while running */
    struct engine_principal principal;
    Ledger__V1__SignedRequest *signed_request; /* owned while running */
    struct auth_detail detail;
    Ledger__V1__QueryResult *result; /* written by the worker */
    enum ledger_err err;
    char message[ENGINE_MESSAGE_SIZE];
};

struct server {
    uv_loop_t loop;
    uv_poll_t request_poll;
    uv_signal_t sigterm;
    uv_signal_t sigint;
    uv_timer_t linger_timer;
    uv_timer_t sample_timer; /* samples the doorbell socket's statistics */
    uv_timer_t expiry_timer; /* starts a sweep of reservations past their term */
    uv_work_t work;
    int handles_open; /* of the six above, initialized and not yet closed */

    struct engine *engine; /* borrowed */
    struct auth_limits limits;
    uint32_t slow_commit_ms;
    uint32_t expiry_sweep_s;
    char listen_url[512];
    char events_url[512];
    char data_dir[4096];
    char version[64];

    int request_socket; /* -1 when closed */
    int events_socket;
    bool reading;      /* request_poll started */
    bool stopping;     /* a signal came: no more reading */
    bool storage_lost; /* stopping because the storage became unusable */
    bool closing;      /* the queue drained: handles are closing */

    struct pending *queue_head; /* FIFO of batches for the next group */
    struct pending *queue_tail;
    size_t queue_count;
    size_t inflight_count; /* queued + in the running group */
    size_t inflight_max;   /* reading pauses at this many (inflight_requests_max) */

    bool committing;
    size_t group_count;
    struct pending *group[LEDGER_GROUP_REQUESTS_MAX];
    struct engine_request group_requests[LEDGER_GROUP_REQUESTS_MAX];
    enum ledger_err group_err;             /* written by the worker, read after it */
    char group_detail[SERVER_DETAIL_SIZE]; /* the store's message of a storage failure, or "" */
    uint64_t group_duration_ns;
    uint64_t group_head_before; /* the head when the group started */

    /* The expiry schedule: a sweep is a series of scans on the thread pool,
     * each reading up to LEDGER_EXPIRY_SCAN_ROWS reservation rows from where
     * the last stopped, each followed by a commit of its own recording what
     * it found. */
    struct sweep sweep; /* its position is written by the scan's worker */
    uv_work_t sweep_work;
    /* Written by the scan's worker, read after it: */
    enum ledger_err sweep_scan_err;
    char sweep_scan_detail[SERVER_DETAIL_SIZE]; /* as group_detail, for the scan */
    struct engine_expiry sweep_due[LEDGER_GROUP_REQUESTS_MAX];
    size_t sweep_found;
    /* Written by the commit's worker, read after it: */
    enum ledger_err sweep_err;
    struct engine_expire_outcome sweep_outcome;

    struct slow_query slow; /* backups */
    struct slow_query workers[SERVER_QUERY_WORKERS];

    /* Refused command requests, answered the same when replayed (replay.h);
     * a command request signed before started_us is refused as stale, since
     * what the daemon refused before it started is not remembered. */
    struct replay_cache *refused;
    int64_t started_us;

    uint64_t head_published; /* the newest sequence announced on the doorbell */
    struct server_counters counters;
};

static void counter_add(_Atomic uint64_t *counter, uint64_t amount)
{
    atomic_fetch_add_explicit(counter, amount, memory_order_relaxed);
}

static const uint64_t commit_latency_bounds_us[SERVER_COMMIT_LATENCY_BUCKETS] =
    SERVER_COMMIT_LATENCY_BOUNDS_US;
static const uint64_t group_commands_bounds[SERVER_GROUP_COMMANDS_BUCKETS] =
    SERVER_GROUP_COMMANDS_BOUNDS;

/* Adds one observation to a histogram of `count` bounds (and the overflow
 * bucket after them). */
static void histogram_observe(_Atomic uint64_t *buckets, const uint64_t *bounds, size_t count,
                              uint64_t value)
{
    size_t i = 0;
    while (i < count && value > bounds[i]) {
        i++;
    }
    counter_add(&buckets[i], 1);
}

/* Counts a reply with a code other than OK. */
static void count_refusal(struct server *server, enum ledger_err err)
{
    counter_add(&server->counters.requests_refused, 1);
    if ((unsigned)err < SERVER_ERROR_CODE_SLOTS) {
        counter_add(&server->counters.refusals_by_code[err], 1);
    }
}

const char *server_query_kind_name(size_t slot)
{
    if (slot >= SERVER_QUERY_KIND_SLOTS) {
        return NULL;
    }
    const ProtobufCFieldDescriptor *field = protobuf_c_message_descriptor_get_field(
        &ledger__v1__query__descriptor, (unsigned)(SERVER_QUERY_KIND_FIRST + slot));
    if (field == NULL || (field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) == 0) {
        return NULL;
    }
    return field->name;
}

static int64_t wall_clock_us(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

const struct server_counters *server_counters(const struct server *server)
{
    return &server->counters;
}

/* --- replies ------------------------------------------------------------------------ */

/* Sends `reply` (its head_sequence is set here) with the routing header
 * `control`, whose ownership is taken. */
static void reply_send(struct server *server, void *control, Ledger__V1__Reply *reply)
{
    if (control == NULL) {
        /* A raw REP socket always hands over a routing header; without one
         * there is nobody to answer. */
        counter_add(&server->counters.replies_dropped, 1);
        return;
    }
    reply->head_sequence = engine_head_sequence(server->engine);
    uint8_t *bytes = NULL;
    size_t size = 0;
    enum ledger_err err = codec_pack(&reply->base, &bytes, &size);
    if (err != LEDGER_ERR_OK) {
        /* Only a reply over LEDGER_REQUEST_BYTES_MAX or a failed allocation
         * gets here; the client still hears why. */
        log_write(LOG_LEVEL_ERROR, "reply not packed", "code=%s", ledger_err_name(err));
        Ledger__V1__Reply fallback = LEDGER__V1__REPLY__INIT;
        fallback.code = (Ledger__V1__ErrorCode)err;
        /* A reply with results answers commands that were committed: the
         * client must not take the failure for one that wrote nothing and
         * run them again under new ids. */
        fallback.message = reply->n_results > 0 ? (char *)SERVER_COMMITTED_UNANSWERED
                                                : (char *)ledger_strerror(err);
        fallback.head_sequence = reply->head_sequence;
        fallback.request_nonce = reply->request_nonce;
        err = codec_pack(&fallback.base, &bytes, &size);
        if (err != LEDGER_ERR_OK) {
            counter_add(&server->counters.replies_dropped, 1);
            nn_freemsg(control);
            return;
        }
    }
    struct nn_iovec iov = {.iov_base = bytes, .iov_len = size};
    struct nn_msghdr header = {
        .msg_iov = &iov,
        .msg_iovlen = 1,
        .msg_control = &control,
        .msg_controllen = NN_MSG,
    };
    if (nn_sendmsg(server->request_socket, &header, NN_DONTWAIT) < 0) {
        /* nanomsg took the header chunk unless it refused the socket itself. */
        int error = nn_errno();
        if (error == EBADF) {
            nn_freemsg(control);
        }
        counter_add(&server->counters.replies_dropped, 1);
        log_write(LOG_LEVEL_DEBUG, "reply not sent", "error=\"%s\"", nn_strerror(error));
    }
    /* The reply to AddPrincipal or RotatePrincipalSecret carries the new
     * secret: no copy of ours outlives the send. nanomsg's own copy (the
     * message it queues) is freed, unwiped, by nanomsg. */
    crypto_wipe(bytes, size);
    free(bytes);
}

static void log_refused(const struct auth_detail *detail, enum ledger_err err, const char *reason)
{
    if (!log_enabled(LOG_LEVEL_INFO)) {
        return;
    }
    const char *claimed = detail->principal_id[0] ? detail->principal_id : "-";
    if (err == LEDGER_ERR_UNKNOWN_PRINCIPAL && detail->principal_id_secret_like) {
        claimed = LEDGER_ID_SECRET_SHOWN;
    }
    char principal[LOG_QUOTE_SIZE(128)];
    char quoted_reason[LOG_QUOTE_SIZE(ENGINE_MESSAGE_SIZE)];
    log_write(LOG_LEVEL_INFO, "request refused", "principal=%s code=%s reason=%s",
              log_quote(claimed, 128, principal, sizeof principal), ledger_err_name(err),
              log_quote(reason, ENGINE_MESSAGE_SIZE, quoted_reason, sizeof quoted_reason));
}

/* Answers a request refused before it reached the engine; failed_index:
 * the command of its batch the refusal is about (a replay's), else 0. */
static void reply_refusal_at(struct server *server, void *control, enum ledger_err err,
                             const struct auth_detail *detail, uint32_t failed_index)
{
    const char *reason = detail->reason[0] ? detail->reason : ledger_strerror(err);
    count_refusal(server, err);
    log_refused(detail, err, reason);
    Ledger__V1__Reply reply = LEDGER__V1__REPLY__INIT;
    reply.code = (Ledger__V1__ErrorCode)err;
    reply.message = (char *)reason;
    reply.failed_index = failed_index;
    reply.request_nonce.data = (uint8_t *)detail->nonce;
    reply.request_nonce.len = detail->nonce_size;
    reply_send(server, control, &reply);
}

static void reply_refusal(struct server *server, void *control, enum ledger_err err,
                          const struct auth_detail *detail)
{
    reply_refusal_at(server, control, err, detail, 0);
}

/* --- reading ------------------------------------------------------------------------ */

static void reading_pause(struct server *server)
{
    if (server->reading) {
        uv_poll_stop(&server->request_poll);
        server->reading = false;
    }
}

static void on_request_readable(uv_poll_t *handle, int status, int events);

static void reading_resume(struct server *server)
{
    if (server->reading || server->stopping || server->closing ||
        server->inflight_count >= server->inflight_max) {
        return;
    }
    int rc = uv_poll_start(&server->request_poll, UV_READABLE, on_request_readable);
    if (rc != 0) {
        log_write(LOG_LEVEL_ERROR, "cannot poll the request socket", "error=\"%s\"",
                  uv_strerror(rc));
        return;
    }
    server->reading = true;
}

/* --- group commit ------------------------------------------------------------------- */

static void pending_free(struct pending *pending)
{
    if (pending == NULL) {
        return;
    }
    if (pending->control) {
        nn_freemsg(pending->control);
    }
    auth_signed_free(pending->signed_request);
    crypto_wipe(&pending->principal, sizeof pending->principal);
    free(pending);
}

/* What the store said of a storage failure `err` (else ""), for the log: the
 * replies' messages only name the code. The store keeps it per thread, so
 * this runs on the worker that failed. */
static void storage_detail(const struct server *server, enum ledger_err err,
                           char out[SERVER_DETAIL_SIZE])
{
    out[0] = '\0';
    if (err == LEDGER_ERR_STORAGE_ERROR || err == LEDGER_ERR_DISK_FULL ||
        err == LEDGER_ERR_STORAGE_FULL) {
        snprintf(out, SERVER_DETAIL_SIZE, "%s", store_last_error(engine_store(server->engine)));
    }
}

/* The text of a detail field: the quoted detail, or - when there is none. */
static const char *detail_text(const char *detail, char *out, size_t size)
{
    return log_quote(detail[0] ? detail : "-", SERVER_DETAIL_SIZE, out, size);
}

static void commit_work(uv_work_t *work)
{
    struct server *server = work->data;
    uint64_t started_ns = uv_hrtime();
    server->group_err = engine_execute(server->engine, server->group_requests, server->group_count,
                                       wall_clock_us());
    storage_detail(server, server->group_err, server->group_detail);
    server->group_duration_ns = uv_hrtime() - started_ns;
}

static void commit_done(uv_work_t *work, int status);
static void shutdown_maybe_finish(struct server *server);
static void reply_refusal(struct server *server, void *control, enum ledger_err err,
                          const struct auth_detail *detail);

/* Whether a refusal is the ledger's decision about the request (remembered
 * and given again to a replay) rather than a failure of the moment (storage,
 * memory, shutdown), after which the same bytes may be sent again. */
static bool refusal_is_decision(enum ledger_err err)
{
    return err != LEDGER_ERR_OK && !ledger_err_transient(err);
}

/* The refusal a command request was given before, or OK; with the index of
 * the command of its batch it was about. */
static enum ledger_err refused_before(struct server *server, const struct pending *pending,
                                      int64_t now_us, uint32_t *failed_index)
{
    return replay_cache_find(server->refused, pending->principal.id, pending->detail.mac,
                             sizeof pending->detail.mac, now_us, failed_index);
}

/* Whether a queued command request's timestamp left the authentication
 * window while it waited for its group (behind a slow commit, say). The
 * cache of refusals forgets a request once its timestamp leaves the window,
 * so a replay authenticated just inside it and decided just outside would be
 * decided again: such a request is refused as stale instead, at the same
 * moment the cache is asked. */
static bool left_window(const struct server *server, const struct pending *pending, int64_t now_us)
{
    return auth_timestamp_too_old(pending->signed_request->timestamp_us, now_us, &server->limits);
}

/* Answers a command request that was refused before with that refusal, at
 * the same command of its batch; or, `stale`, one whose timestamp left the
 * window while it waited (left_window) with STALE_REQUEST. */
static void answer_undecided(struct server *server, struct pending *pending, enum ledger_err err,
                             uint32_t failed_index, bool stale)
{
    if (stale) {
        snprintf(pending->detail.reason, sizeof pending->detail.reason,
                 "the timestamp left the window while the request waited; sign it again (a "
                 "new timestamp and nonce, the same command ids)");
    } else {
        counter_add(&server->counters.replays_refused, 1);
        snprintf(pending->detail.reason, sizeof pending->detail.reason,
                 "these request bytes were refused before; a replay gets the same answer: sign "
                 "a new request to try again");
    }
    void *control = pending->control;
    pending->control = NULL;
    reply_refusal_at(server, control, err, &pending->detail, failed_index);
}

/* Whether the group being formed already holds a request of this principal
 * with this nonce (a resend): it waits for the next group, where the first
 * one's outcome decides how it is answered. Groups are small next to the
 * cost of a commit; the scan is a 16-byte comparison per member. */
static bool group_holds(const struct server *server, size_t count, const struct pending *pending)
{
    for (size_t i = 0; i < count; i++) {
        const struct pending *member = server->group[i];
        if (member->detail.nonce_size == pending->detail.nonce_size &&
            memcmp(member->detail.nonce, pending->detail.nonce, pending->detail.nonce_size) == 0 &&
            strcmp(member->principal.id, pending->principal.id) == 0) {
            return true;
        }
    }
    return false;
}

static void doorbell_publish(struct server *server)
{
    uint64_t head = engine_head_sequence(server->engine);
    if (head <= server->head_published) {
        return;
    }
    server->head_published = head;
    Ledger__V1__Doorbell doorbell = LEDGER__V1__DOORBELL__INIT;
    doorbell.head_sequence = head;
    uint8_t *bytes = NULL;
    size_t size = 0;
    if (codec_pack(&doorbell.base, &bytes, &size) != LEDGER_ERR_OK) {
        counter_add(&server->counters.doorbells_dropped, 1);
        return;
    }
    if (nn_send(server->events_socket, bytes, size, NN_DONTWAIT) < 0) {
        counter_add(&server->counters.doorbells_dropped, 1);
        log_write(LOG_LEVEL_DEBUG, "doorbell dropped", "head_sequence=%llu error=\"%s\"",
                  (unsigned long long)head, nn_strerror(nn_errno()));
    } else {
        counter_add(&server->counters.doorbells_published, 1);
    }
    free(bytes);
}

static void sweep_commit_start(struct server *server);

/* Starts a group with the queued requests when no commit is running; the
 * expiry schedule's commit, when one is waiting, goes first. */
static void commit_start(struct server *server)
{
    if (server->committing) {
        return;
    }
    if (sweep_commit_ready(&server->sweep) && !server->stopping) {
        sweep_commit_start(server);
        return;
    }
    if (server->queue_count == 0) {
        return;
    }
    size_t count = 0;
    while (server->queue_head != NULL && count < LEDGER_GROUP_REQUESTS_MAX) {
        struct pending *pending = server->queue_head;
        if (group_holds(server, count, pending)) {
            break;
        }
        server->queue_head = pending->next;
        pending->next = NULL;
        server->queue_count--;
        int64_t now_us = wall_clock_us();
        bool stale = left_window(server, pending, now_us);
        uint32_t failed_index = 0;
        enum ledger_err before = stale ? LEDGER_ERR_STALE_REQUEST
                                       : refused_before(server, pending, now_us, &failed_index);
        if (before != LEDGER_ERR_OK) {
            /* Refused before: a replay, or a resend that waited while its
             * first copy was refused. Looked up here, once, as the group
             * forms, so that both are caught. */
            answer_undecided(server, pending, before, failed_index, stale);
            pending_free(pending);
            server->inflight_count--;
            continue;
        }
        const Ledger__V1__CommandBatch *batch = pending->signed_request->body->batch;
        server->group[count] = pending;
        server->group_requests[count] = (struct engine_request){
            .principal = &pending->principal,
            .commands = batch->commands,
            .command_count = batch->n_commands,
            .signed_us = pending->signed_request->timestamp_us,
        };
        count++;
    }
    if (server->queue_head == NULL) {
        server->queue_tail = NULL;
    }
    atomic_store_explicit(&server->counters.inflight_requests, server->inflight_count,
                          memory_order_relaxed);
    if (count == 0) {
        return;
    }
    server->group_count = count;
    server->group_head_before = engine_head_sequence(server->engine);
    server->committing = true;
    server->work.data = server;
    int rc = uv_queue_work(&server->loop, &server->work, commit_work, commit_done);
    if (rc != 0) {
        /* The callbacks will not run: answer the group as failed here. */
        log_write(LOG_LEVEL_ERROR, "cannot queue the commit", "error=\"%s\"", uv_strerror(rc));
        for (size_t i = 0; i < count; i++) {
            server->group_requests[i].err = LEDGER_ERR_INTERNAL;
        }
        server->group_err = LEDGER_ERR_INTERNAL;
        server->group_detail[0] = '\0';
        server->group_duration_ns = 0;
        commit_done(&server->work, rc);
    }
}

/* Answers one request of a finished group. */
static void commit_answer(struct server *server, struct pending *pending,
                          struct engine_request *request)
{
    Ledger__V1__Reply reply = LEDGER__V1__REPLY__INIT;
    reply.request_nonce.data = pending->detail.nonce;
    reply.request_nonce.len = pending->detail.nonce_size;
    Ledger__V1__CommandResult **results = NULL;
    if (request->err == LEDGER_ERR_OK && request->results != NULL) {
        results = calloc(request->command_count, sizeof *results);
        if (results == NULL) {
            /* The commit happened; only this answer is lost. A retry with the
             * same command ids returns the stored results. */
            request->err = LEDGER_ERR_NO_MEMORY;
            snprintf(request->message, sizeof request->message, "%s", SERVER_COMMITTED_UNANSWERED);
        } else {
            for (size_t i = 0; i < request->command_count; i++) {
                results[i] = &request->results[i].message;
            }
            reply.results = results;
            reply.n_results = request->command_count;
            counter_add(&server->counters.commands_accepted, request->command_count);
        }
    }
    if (request->err != LEDGER_ERR_OK) {
        const char *message =
            request->message[0] ? request->message : ledger_strerror(request->err);
        reply.code = (Ledger__V1__ErrorCode)request->err;
        reply.message = (char *)message;
        reply.failed_index = request->failed_index;
        count_refusal(server, request->err);
        log_refused(&pending->detail, request->err, message);
    }
    void *control = pending->control;
    pending->control = NULL;
    reply_send(server, control, &reply);
    free(results);
}

/* After a commit that failed: when LMDB refuses everything until the
 * environment is reopened, answer what is queued (STORAGE_ERROR, nothing
 * written) and exit with a failure so that the service manager restarts the
 * daemon. */
static void storage_check(struct server *server, enum ledger_err err)
{
    if (err == LEDGER_ERR_OK || server->stopping || !engine_unusable(server->engine)) {
        return;
    }
    server->stopping = true;
    server->storage_lost = true;
    log_write(LOG_LEVEL_ERROR, "storage unusable",
              "reason=\"a failed write left LMDB refusing every transaction until it is "
              "reopened; nothing acknowledged is lost\" action=\"stopping; restart ledgerd "
              "(systemd does, Restart=on-failure)\" inflight=%zu",
              server->inflight_count);
    reading_pause(server);
}

static void commit_done(uv_work_t *work, int status)
{
    struct server *server = work->data;
    (void)status; /* never cancelled */
    uint64_t duration_us = server->group_duration_ns / 1000;
    size_t count = server->group_count;
    size_t commands = 0;
    for (size_t i = 0; i < count; i++) {
        commands += server->group_requests[i].command_count;
    }
    counter_add(&server->counters.commits, 1);
    counter_add(&server->counters.commit_latency_us_sum, duration_us);
    histogram_observe(server->counters.commit_latency_buckets, commit_latency_bounds_us,
                      SERVER_COMMIT_LATENCY_BUCKETS, duration_us);
    histogram_observe(server->counters.group_commands_buckets, group_commands_bounds,
                      SERVER_GROUP_COMMANDS_BUCKETS, commands);
    counter_add(&server->counters.group_commands_sum, commands);
    /* engine_execute is the only writer: the head moved by what it appended. */
    uint64_t head = engine_head_sequence(server->engine);
    if (head > server->group_head_before) {
        counter_add(&server->counters.events_appended, head - server->group_head_before);
    }
    if (server->slow_commit_ms > 0 && duration_us > (uint64_t)server->slow_commit_ms * 1000) {
        counter_add(&server->counters.slow_commits, 1);
        log_write(LOG_LEVEL_WARN, "slow commit",
                  "duration_ms=%.1f requests=%zu commands=%zu threshold_ms=%u",
                  (double)duration_us / 1000.0, count, commands, server->slow_commit_ms);
    }
    if (server->group_err != LEDGER_ERR_OK) {
        counter_add(&server->counters.commit_failures, 1);
        char detail[LOG_QUOTE_SIZE(SERVER_DETAIL_SIZE)];
        log_write(LOG_LEVEL_ERROR, "commit failed", "code=%s requests=%zu reason=\"%s\" detail=%s",
                  ledger_err_name(server->group_err), count, ledger_strerror(server->group_err),
                  detail_text(server->group_detail, detail, sizeof detail));
    }
    /* The doorbell goes first: replies may make clients ask for events at once. */
    if (server->group_err == LEDGER_ERR_OK) {
        doorbell_publish(server);
    }
    int64_t now_us = wall_clock_us();
    for (size_t i = 0; i < count; i++) {
        struct engine_request *request = &server->group_requests[i];
        if (server->group_err != LEDGER_ERR_OK && request->err == LEDGER_ERR_OK) {
            request->err = server->group_err;
        }
        const struct pending *pending = server->group[i];
        if (refusal_is_decision(request->err) &&
            replay_cache_remember(server->refused, pending->principal.id, pending->detail.mac,
                                  sizeof pending->detail.mac,
                                  pending->signed_request->timestamp_us + server->limits.window_us,
                                  now_us, request->err, request->failed_index)) {
            uint64_t forgotten = atomic_fetch_add_explicit(&server->counters.replays_forgotten, 1,
                                                           memory_order_relaxed);
            if (forgotten % 10000 == 0) {
                log_write(LOG_LEVEL_WARN, "refused requests forgotten early",
                          "remembered=%d forgotten_total=%llu reason=\"more refusals within the "
                          "authentication window than are remembered; a replay of a forgotten "
                          "one is decided again\"",
                          LEDGER_REPLAY_REMEMBERED_MAX, (unsigned long long)forgotten + 1);
            }
        }
        commit_answer(server, server->group[i], request);
        engine_request_clear(request);
        pending_free(server->group[i]);
        server->group[i] = NULL;
    }
    server->group_count = 0;
    server->committing = false;
    server->inflight_count -= count;
    atomic_store_explicit(&server->counters.inflight_requests, server->inflight_count,
                          memory_order_relaxed);
    storage_check(server, server->group_err);
    commit_start(server);
    reading_resume(server);
    shutdown_maybe_finish(server);
}

/* --- the expiry schedule ------------------------------------------------------------ */

static void sweep_commit_work(uv_work_t *work)
{
    struct server *server = work->data;
    server->sweep_err = engine_expire(server->engine, server->sweep_due, server->sweep.found,
                                      wall_clock_us(), &server->sweep_outcome);
    storage_detail(server, server->sweep_err, server->group_detail);
}

static void sweep_scan_next(struct server *server);

static void sweep_commit_done(uv_work_t *work, int status)
{
    struct server *server = work->data;
    (void)status; /* never cancelled */
    counter_add(&server->counters.commits, 1);
    uint64_t head = engine_head_sequence(server->engine);
    if (head > server->group_head_before) {
        counter_add(&server->counters.events_appended, head - server->group_head_before);
    }
    const struct engine_expire_outcome *outcome = &server->sweep_outcome;
    if (server->sweep_err != LEDGER_ERR_OK) {
        counter_add(&server->counters.commit_failures, 1);
        char detail[LOG_QUOTE_SIZE(SERVER_DETAIL_SIZE)];
        log_write(LOG_LEVEL_ERROR, "expiry sweep failed",
                  "stage=commit code=%s due=%zu reason=\"%s\" detail=%s action=\"the next sweep "
                  "starts again from the first reservation\"",
                  ledger_err_name(server->sweep_err), server->sweep.found,
                  ledger_strerror(server->sweep_err),
                  detail_text(server->group_detail, detail, sizeof detail));
    } else {
        if (outcome->expired > 0) {
            counter_add(&server->counters.reservations_expired, outcome->expired);
            log_write(LOG_LEVEL_INFO, "reservations expired", "count=%zu due=%zu", outcome->expired,
                      server->sweep.found);
            doorbell_publish(server);
        }
        if (outcome->refused > 0) {
            /* One line per scan at most, naming the first: a reservation
             * changed between the scan and its commit, or a rule that keeps
             * the schedule from expiring it (the partner must). */
            counter_add(&server->counters.expiries_refused, outcome->refused);
            char reason[LOG_QUOTE_SIZE(sizeof outcome->refusal_message)];
            log_write(LOG_LEVEL_WARN, "expiries refused",
                      "count=%zu due=%zu first_reservation=%s code=%s reason=%s", outcome->refused,
                      server->sweep.found, outcome->refused_reservation_id,
                      ledger_err_name(outcome->refusal),
                      log_quote(outcome->refusal_message, sizeof outcome->refusal_message, reason,
                                sizeof reason));
        }
    }
    sweep_commit_finished(&server->sweep, server->sweep_err);
    server->committing = false;
    storage_check(server, server->sweep_err);
    commit_start(server);
    sweep_scan_next(server);
    shutdown_maybe_finish(server);
}

/* Records what the last scan found, as a commit of its own. */
static void sweep_commit_start(struct server *server)
{
    server->committing = true;
    server->group_head_before = engine_head_sequence(server->engine);
    server->sweep_outcome = (struct engine_expire_outcome){.refusal = LEDGER_ERR_OK};
    server->work.data = server;
    int rc = uv_queue_work(&server->loop, &server->work, sweep_commit_work, sweep_commit_done);
    if (rc != 0) {
        log_write(LOG_LEVEL_ERROR, "cannot queue the expiry sweep", "error=\"%s\"",
                  uv_strerror(rc));
        server->sweep_err = LEDGER_ERR_INTERNAL;
        server->group_detail[0] = '\0';
        sweep_commit_done(&server->work, rc);
    }
}

static void sweep_scan_work(uv_work_t *work)
{
    struct server *server = work->data;
    server->sweep_found = 0;
    server->sweep_scan_err =
        engine_expiries_due(server->engine, wall_clock_us(), &server->sweep.position,
                            server->sweep_due, LEDGER_GROUP_REQUESTS_MAX, &server->sweep_found);
    storage_detail(server, server->sweep_scan_err, server->sweep_scan_detail);
}

static void sweep_scan_done(uv_work_t *work, int status)
{
    struct server *server = work->data;
    (void)status; /* never cancelled */
    if (server->sweep_scan_err != LEDGER_ERR_OK) {
        char detail[LOG_QUOTE_SIZE(SERVER_DETAIL_SIZE)];
        log_write(LOG_LEVEL_ERROR, "expiry sweep failed",
                  "stage=scan code=%s reason=\"%s\" detail=%s action=\"the next sweep starts "
                  "again from the first reservation\"",
                  ledger_err_name(server->sweep_scan_err), ledger_strerror(server->sweep_scan_err),
                  detail_text(server->sweep_scan_detail, detail, sizeof detail));
    }
    sweep_scan_finished(&server->sweep, server->sweep_scan_err, server->sweep_found,
                        !server->stopping);
    commit_start(server);
    sweep_scan_next(server);
    shutdown_maybe_finish(server);
}

/* Row-query workers running now. */
static size_t workers_running(const struct server *server)
{
    size_t running = 0;
    for (size_t i = 0; i < SERVER_QUERY_WORKERS; i++) {
        running += server->workers[i].running ? 1 : 0;
    }
    return running;
}

/* Starts the sweep's next scan, in the place of a row-query worker, when a
 * sweep is wanted and nothing of it is running: not while the last scan's
 * findings wait for their commit, and not while every worker is busy (the
 * first worker to finish calls this again, so a busy daemon postpones a
 * sweep only until a worker frees, never indefinitely). */
static void sweep_scan_next(struct server *server)
{
    if (!sweep_scan_ready(&server->sweep) || server->stopping ||
        workers_running(server) >= SERVER_QUERY_WORKERS) {
        return;
    }
    sweep_scan_started(&server->sweep);
    server->sweep_work.data = server;
    int rc = uv_queue_work(&server->loop, &server->sweep_work, sweep_scan_work, sweep_scan_done);
    if (rc != 0) {
        sweep_abandon(&server->sweep);
        log_write(LOG_LEVEL_WARN, "cannot queue the expiry sweep", "error=\"%s\"", uv_strerror(rc));
    }
}

/* A sweep is due: it starts now, or as soon as a worker frees; one still
 * under way goes on (from where it is), and another from the first row
 * follows it (sweep.h). */
static void on_expiry_timer(uv_timer_t *timer)
{
    struct server *server = timer->data;
    sweep_tick(&server->sweep);
    sweep_scan_next(server);
}

/* --- requests ----------------------------------------------------------------------- */

/* A stats answer holds the engine's figures (events, map, readers) and then
 * every metric of the server's counters, as the metrics endpoint has them. */
struct stats_sink {
    Ledger__V1__QueryResult *result;
    enum ledger_err err;
};

static void stats_sample(void *context, const char *name, const char *labels, double value,
                         const char *text)
{
    (void)text;
    struct stats_sink *sink = context;
    if (sink->err == LEDGER_ERR_OK) {
        sink->err = engine_stat_push(sink->result, name, labels, value);
    }
}

static enum ledger_err stats_add_counters(struct server *server, Ledger__V1__QueryResult *result)
{
    struct stats_sink stats = {.result = result, .err = LEDGER_ERR_OK};
    const struct metrics_sink sink = {.sample = stats_sample, .context = &stats};
    metrics_visit(&server->counters, NULL, &sink);
    return stats.err;
}

/* Sends a query's result, or its refusal (counted and logged); takes
 * `control`, borrows the rest. */
static void query_reply(struct server *server, void *control, const struct auth_detail *detail,
                        enum ledger_err err, Ledger__V1__QueryResult *result, const char *message)
{
    Ledger__V1__Reply reply = LEDGER__V1__REPLY__INIT;
    reply.request_nonce.data = (uint8_t *)detail->nonce;
    reply.request_nonce.len = detail->nonce_size;
    if (err == LEDGER_ERR_OK) {
        reply.query = result;
    } else {
        const char *text = message[0] ? message : ledger_strerror(err);
        reply.code = (Ledger__V1__ErrorCode)err;
        reply.message = (char *)text;
        count_refusal(server, err);
        log_refused(detail, err, text);
    }
    reply_send(server, control, &reply);
}

/* Whether a query is answered off the loop: any that may read many rows or
 * records (a partner's or every partner's rows, a feed page, an activity or
 * billing scan, a replay as of a date, an explanation, the principals). One
 * customer's current reservations, orders, savings plans or permissions are
 * bounded by the per-customer limits and answered on the loop, as are the
 * head, proofs (a logarithm of nodes) and stats (the server's counters): a
 * thread hop would add more to them than it saves the loop. */
static bool query_off_loop(const Ledger__V1__Query *query)
{
    switch (query->kind_case) {
    case LEDGER__V1__QUERY__KIND_RESERVATIONS:
        return query->reservations == NULL || query->reservations->customer_id[0] == '\0' ||
               query->reservations->as_of != NULL;
    case LEDGER__V1__QUERY__KIND_ORDERS:
        return query->orders == NULL || query->orders->customer_id[0] == '\0';
    case LEDGER__V1__QUERY__KIND_SAVINGS_PLANS:
        return query->savings_plans == NULL || query->savings_plans->customer_id[0] == '\0' ||
               query->savings_plans->as_of != NULL;
    case LEDGER__V1__QUERY__KIND_PERMISSIONS:
        return query->permissions == NULL || query->permissions->customer_id[0] == '\0' ||
               query->permissions->as_of != NULL;
    case LEDGER__V1__QUERY__KIND_HEAD:
    case LEDGER__V1__QUERY__KIND_INCLUSION:
    case LEDGER__V1__QUERY__KIND_CONSISTENCY:
    case LEDGER__V1__QUERY__KIND_STATS:
    case LEDGER__V1__QUERY__KIND_BACKUP:
    case LEDGER__V1__QUERY__KIND__NOT_SET:
        return false;
    default:
        return true;
    }
}

static void answer_query(struct server *server, void *control,
                         const struct engine_principal *principal,
                         const Ledger__V1__SignedRequest *signed_request,
                         const struct auth_detail *detail)
{
    Ledger__V1__QueryResult *result = NULL;
    char message[ENGINE_MESSAGE_SIZE] = "";
    enum ledger_err err = engine_query(server->engine, principal, signed_request->body->query,
                                       wall_clock_us(), &result, message);
    if (err == LEDGER_ERR_OK &&
        signed_request->body->query->kind_case == LEDGER__V1__QUERY__KIND_STATS) {
        err = stats_add_counters(server, result);
        if (err != LEDGER_ERR_OK) {
            engine_result_free(result);
            result = NULL;
        }
    }
    query_reply(server, control, detail, err, result, message);
    if (result != NULL) {
        engine_result_free(result);
    }
}

static void slow_query_work(uv_work_t *work)
{
    struct slow_query *slow = work->data;
    slow->err =
        engine_query(slow->server->engine, &slow->principal, slow->signed_request->body->query,
                     wall_clock_us(), &slow->result, slow->message);
}

static void slow_query_done(uv_work_t *work, int status)
{
    struct slow_query *slow = work->data;
    struct server *server = slow->server;
    (void)status; /* never cancelled */
    void *control = slow->control;
    slow->control = NULL;
    query_reply(server, control, &slow->detail, slow->err, slow->result, slow->message);
    if (slow->result != NULL) {
        engine_result_free(slow->result);
        slow->result = NULL;
    }
    auth_signed_free(slow->signed_request);
    slow->signed_request = NULL;
    crypto_wipe(&slow->principal, sizeof slow->principal);
    slow->running = false;
    sweep_scan_next(server);
    shutdown_maybe_finish(server);
}

/* Whether a backup, a row query or an expiry scan is still running on the
 * thread pool. */
static bool slow_queries_running(const struct server *server)
{
    return server->slow.running || server->sweep.scanning || workers_running(server) > 0;
}

/* Starts a slow query in the free slot `slow` on the thread pool; takes
 * `control` and `signed_request`. */
static void slow_query_start(struct server *server, struct slow_query *slow, void *control,
                             const struct engine_principal *principal,
                             Ledger__V1__SignedRequest *signed_request,
                             const struct auth_detail *detail)
{
    slow->server = server;
    slow->running = true;
    slow->control = control;
    slow->principal = *principal;
    slow->signed_request = signed_request;
    slow->detail = *detail;
    slow->result = NULL;
    slow->err = LEDGER_ERR_INTERNAL;
    slow->message[0] = '\0';
    slow->work.data = slow;
    int rc = uv_queue_work(&server->loop, &slow->work, slow_query_work, slow_query_done);
    if (rc != 0) {
        log_write(LOG_LEVEL_ERROR, "cannot queue a query", "error=\"%s\"", uv_strerror(rc));
        slow_query_done(&slow->work, rc);
    }
}

/* Handles one received message. `body` is freed here; `control` taken. */
static void handle_message(struct server *server, void *body, size_t size, void *control)
{
    counter_add(&server->counters.requests_received, 1);
    struct engine_principal principal;
    Ledger__V1__SignedRequest *signed_request = NULL;
    struct auth_detail detail;
    enum ledger_err err = auth_check(server->engine, body, size, wall_clock_us(), &server->limits,
                                     &principal, &signed_request, &detail);
    nn_freemsg(body);
    if (err != LEDGER_ERR_OK) {
        reply_refusal(server, control, err, &detail);
        return;
    }
    if (signed_request->body->kind_case == LEDGER__V1__REQUEST_BODY__KIND_QUERY) {
        uint64_t slot = (uint64_t)signed_request->body->query->kind_case;
        if (slot >= SERVER_QUERY_KIND_FIRST &&
            slot - SERVER_QUERY_KIND_FIRST < SERVER_QUERY_KIND_SLOTS) {
            counter_add(&server->counters.queries_by_kind[slot - SERVER_QUERY_KIND_FIRST], 1);
        }
    }
    if (signed_request->body->kind_case == LEDGER__V1__REQUEST_BODY__KIND_QUERY &&
        signed_request->body->query->kind_case == LEDGER__V1__QUERY__KIND_BACKUP) {
        if (server->slow.running) {
            snprintf(detail.reason, sizeof detail.reason,
                     "a backup is already running; retry when it has finished");
            auth_signed_free(signed_request);
            reply_refusal(server, control, LEDGER_ERR_UNAVAILABLE, &detail);
        } else {
            slow_query_start(server, &server->slow, control, &principal, signed_request, &detail);
        }
        crypto_wipe(&principal, sizeof principal);
        return;
    }
    struct slow_query *worker = NULL;
    if (signed_request->body->kind_case == LEDGER__V1__REQUEST_BODY__KIND_QUERY &&
        query_off_loop(signed_request->body->query) &&
        workers_running(server) + (server->sweep.scanning ? 1 : 0) < SERVER_QUERY_WORKERS) {
        for (size_t i = 0; i < SERVER_QUERY_WORKERS && worker == NULL; i++) {
            worker = server->workers[i].running ? NULL : &server->workers[i];
        }
    }
    if (worker != NULL) {
        /* It may read thousands of rows, or records and proofs: off the
         * loop, so that commits are answered meanwhile. */
        slow_query_start(server, worker, control, &principal, signed_request, &detail);
        crypto_wipe(&principal, sizeof principal);
        return;
    }
    if (signed_request->body->kind_case == LEDGER__V1__REQUEST_BODY__KIND_QUERY) {
        answer_query(server, control, &principal, signed_request, &detail);
        auth_signed_free(signed_request);
        crypto_wipe(&principal, sizeof principal);
        return;
    }
    if (signed_request->timestamp_us < server->started_us) {
        /* Refusals of the daemon before this one are not remembered: a
         * replay of such a request must not be decided again. */
        auth_signed_free(signed_request);
        crypto_wipe(&principal, sizeof principal);
        snprintf(detail.reason, sizeof detail.reason,
                 "signed before this daemon started; sign it again (a new timestamp and nonce, "
                 "the same command ids)");
        reply_refusal(server, control, LEDGER_ERR_STALE_REQUEST, &detail);
        return;
    }
    struct pending *pending = calloc(1, sizeof *pending);
    if (pending == NULL) {
        auth_signed_free(signed_request);
        crypto_wipe(&principal, sizeof principal);
        snprintf(detail.reason, sizeof detail.reason, "%s", ledger_strerror(LEDGER_ERR_NO_MEMORY));
        reply_refusal(server, control, LEDGER_ERR_NO_MEMORY, &detail);
        return;
    }
    pending->control = control;
    pending->principal = principal;
    crypto_wipe(&principal, sizeof principal);
    pending->signed_request = signed_request;
    pending->detail = detail;
    if (server->queue_tail) {
        server->queue_tail->next = pending;
    } else {
        server->queue_head = pending;
    }
    server->queue_tail = pending;
    server->queue_count++;
    server->inflight_count++;
    atomic_store_explicit(&server->counters.inflight_requests, server->inflight_count,
                          memory_order_relaxed);
    if (server->inflight_count >= server->inflight_max && server->reading) {
        reading_pause(server);
        counter_add(&server->counters.backpressure_pauses, 1);
        log_write(LOG_LEVEL_WARN, "request queue full; reading paused", "inflight=%zu",
                  server->inflight_count);
    }
    commit_start(server);
}

static void on_request_readable(uv_poll_t *handle, int status, int events)
{
    struct server *server = handle->data;
    (void)events;
    if (status < 0) {
        log_write(LOG_LEVEL_ERROR, "request socket poll failed", "error=\"%s\"",
                  uv_strerror(status));
        return;
    }
    for (int i = 0; i < SERVER_RECEIVE_BURST_MAX && server->reading; i++) {
        void *body = NULL;
        void *control = NULL;
        struct nn_iovec iov = {.iov_base = &body, .iov_len = NN_MSG};
        struct nn_msghdr header = {
            .msg_iov = &iov,
            .msg_iovlen = 1,
            .msg_control = &control,
            .msg_controllen = NN_MSG,
        };
        int received = nn_recvmsg(server->request_socket, &header, NN_DONTWAIT);
        if (received < 0) {
            int error = nn_errno();
            if (error == EAGAIN) {
                break;
            }
            if (error == EINTR) {
                continue;
            }
            log_write(LOG_LEVEL_ERROR, "receive failed", "error=\"%s\"", nn_strerror(error));
            break;
        }
        handle_message(server, body, (size_t)received, control);
    }
}

/* --- shutdown ----------------------------------------------------------------------- */

static void on_handle_closed(uv_handle_t *handle)
{
    struct server *server = handle->data;
    server->handles_open--;
    if (server->handles_open == 0) {
        /* The polls are closed: now the sockets (and their fds) may go. */
        if (server->request_socket >= 0) {
            nn_close(server->request_socket);
            server->request_socket = -1;
        }
        if (server->events_socket >= 0) {
            nn_close(server->events_socket);
            server->events_socket = -1;
        }
    }
}

static void handles_close(struct server *server)
{
    uv_handle_t *handles[] = {
        (uv_handle_t *)&server->request_poll, (uv_handle_t *)&server->sigterm,
        (uv_handle_t *)&server->sigint,       (uv_handle_t *)&server->linger_timer,
        (uv_handle_t *)&server->sample_timer, (uv_handle_t *)&server->expiry_timer,
    };
    for (size_t i = 0; i < sizeof handles / sizeof handles[0]; i++) {
        if (handles[i]->data != NULL && !uv_is_closing(handles[i])) {
            uv_close(handles[i], on_handle_closed);
        }
    }
}

static void on_linger_done(uv_timer_t *timer)
{
    struct server *server = timer->data;
    handles_close(server);
}

static void shutdown_maybe_finish(struct server *server)
{
    if (!server->stopping || server->closing || server->committing || server->queue_count > 0 ||
        slow_queries_running(server)) {
        return;
    }
    server->closing = true;
    int rc = uv_timer_start(&server->linger_timer, on_linger_done, SERVER_LINGER_MS, 0);
    if (rc != 0) {
        handles_close(server);
    }
}

static void on_signal(uv_signal_t *handle, int signum)
{
    struct server *server = handle->data;
    if (server->stopping) {
        log_write(LOG_LEVEL_INFO, "already stopping", "signal=%s inflight=%zu",
                  signum == SIGTERM ? "SIGTERM" : "SIGINT", server->inflight_count);
        return;
    }
    server->stopping = true;
    log_write(LOG_LEVEL_INFO, "stopping", "signal=%s inflight=%zu",
              signum == SIGTERM ? "SIGTERM" : "SIGINT", server->inflight_count);
    reading_pause(server);
    shutdown_maybe_finish(server);
}

/* --- statistics --------------------------------------------------------------------- */

/* Copies the doorbell socket's connection count into the counters: nanomsg's
 * statistics are read here, on the loop thread, so that the sockets stay
 * used by one thread only. A PUB socket cannot tell which of its peers
 * subscribed to what; every connected peer counts. */
static void sample_statistics(struct server *server)
{
    if (server->events_socket < 0) {
        return;
    }
    uint64_t connections = nn_get_statistic(server->events_socket, NN_STAT_CURRENT_CONNECTIONS);
    if (connections != UINT64_MAX) {
        atomic_store_explicit(&server->counters.subscribers, connections, memory_order_relaxed);
    }
}

static void on_sample_timer(uv_timer_t *timer)
{
    sample_statistics(timer->data);
}

/* --- setup -------------------------------------------------------------------------- */

/* The errno of an ipc:// address whose directory does not exist (or is no
 * directory), else 0. nanomsg 1.1.5 leaks the endpoint of such a failed
 * bind: asked first, it is never tried. */
static int ipc_directory_error(const char *url)
{
    static const char scheme[] = "ipc://";
    if (strncmp(url, scheme, sizeof scheme - 1) != 0) {
        return 0;
    }
    char directory[512];
    int length = snprintf(directory, sizeof directory, "%s", url + sizeof scheme - 1);
    char *slash = length > 0 && (size_t)length < sizeof directory ? strrchr(directory, '/') : NULL;
    if (slash == NULL) {
        return 0; /* relative to the working directory, or too long: nanomsg decides */
    }
    slash[slash == directory ? 1 : 0] = '\0';
    struct stat info;
    if (stat(directory, &info) != 0) {
        return errno;
    }
    return S_ISDIR(info.st_mode) ? 0 : ENOTDIR;
}

/* The most an IPC socket file allows: its owner and its group may connect
 * (connecting needs write permission on the file), other users never,
 * whatever the umask the daemon was started with (022 would let every
 * local user connect). The umask may take more away (the unit's
 * UMask=0077 gives 0600). Who may then connect is decided by the
 * directory the file is in: the data directory (0700) admits its owner
 * alone; a directory of its own can admit a group (docs/operations.md). */
#define SERVER_IPC_SOCKET_MODE 0660

/* Binds `socket` to `url`; an ipc:// socket file is created with at most
 * SERVER_IPC_SOCKET_MODE, by the umask in force while nanomsg binds (it
 * binds on this thread), so that it is never reachable with a wider mode,
 * not even for a moment as a chmod after the bind would leave it. No other
 * thread of the daemon creates files while the sockets are opened. */
static enum ledger_err socket_bind(int socket, const char *url, const char *what)
{
    int error = ipc_directory_error(url);
    if (error == 0) {
        /* Reading the umask sets one; the strictest, so that no file is
         * ever made wider meanwhile. */
        mode_t mask = umask(0777);
        umask(mask | (0777 & ~SERVER_IPC_SOCKET_MODE));
        if (nn_bind(socket, url) < 0) {
            error = nn_errno();
        }
        umask(mask);
    }
    if (error != 0) {
        char quoted[LOG_QUOTE_SIZE(512)];
        log_write(LOG_LEVEL_ERROR, "cannot bind", "socket=%s address=%s error=\"%s\"", what,
                  log_quote(url, 512, quoted, sizeof quoted), nn_strerror(error));
        return error == EINVAL ? LEDGER_ERR_INVALID_ARGUMENT : LEDGER_ERR_UNAVAILABLE;
    }
    return LEDGER_ERR_OK;
}

static enum ledger_err socket_option(int socket, int option, int value)
{
    if (nn_setsockopt(socket, NN_SOL_SOCKET, option, &value, sizeof value) < 0) {
        log_write(LOG_LEVEL_ERROR, "cannot set a socket option", "option=%d error=\"%s\"", option,
                  nn_strerror(nn_errno()));
        return LEDGER_ERR_INTERNAL;
    }
    return LEDGER_ERR_OK;
}

static enum ledger_err sockets_open(struct server *server)
{
    server->request_socket = nn_socket(AF_SP_RAW, NN_REP);
    server->events_socket = nn_socket(AF_SP, NN_PUB);
    if (server->request_socket < 0 || server->events_socket < 0) {
        log_write(LOG_LEVEL_ERROR, "cannot create sockets", "error=\"%s\"",
                  nn_strerror(nn_errno()));
        return LEDGER_ERR_INTERNAL;
    }
    /* request_bytes_max is at most LEDGER_REQUEST_BYTES_MAX (64 MiB): the sum
     * fits an int. */
    int receive_max = (int)(server->limits.request_bytes_max + SERVER_RECEIVE_SLACK_BYTES);
    enum ledger_err err = socket_option(server->request_socket, NN_RCVMAXSIZE, receive_max);
    if (err == LEDGER_ERR_OK) {
        err = socket_option(server->request_socket, NN_RCVBUF, SERVER_SOCKET_BUFFER_BYTES);
    }
    if (err == LEDGER_ERR_OK) {
        err = socket_option(server->request_socket, NN_SNDBUF, SERVER_SOCKET_BUFFER_BYTES);
    }
    if (err == LEDGER_ERR_OK) {
        err = socket_bind(server->request_socket, server->listen_url, "requests");
    }
    if (err == LEDGER_ERR_OK) {
        err = socket_bind(server->events_socket, server->events_url, "events");
    }
    return err;
}

static enum ledger_err copy_text(char *out, size_t size, const char *text)
{
    if (text == NULL) {
        text = "";
    }
    int n = snprintf(out, size, "%s", text);
    return (n < 0 || (size_t)n >= size) ? LEDGER_ERR_INVALID_ARGUMENT : LEDGER_ERR_OK;
}

/* Warns of a key file of the data directory that other users may read or
 * write (ledgerd init makes them 0600): it would give them the head-signing
 * key or the first operator's secret, even where the directory itself is
 * opened to a group on purpose (an auditor's, docs/operations.md). */
static void key_files_check(const char *data_dir)
{
    static const char *const names[] = {"head.key", "operator.key"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char path[PATH_MAX];
        struct stat info;
        int n = snprintf(path, sizeof path, "%s/%s", data_dir, names[i]);
        if (n < 0 || (size_t)n >= sizeof path || stat(path, &info) != 0 || !S_ISREG(info.st_mode) ||
            (info.st_mode & 077) == 0) {
            continue;
        }
        char quoted[LOG_QUOTE_SIZE(256)];
        log_write(LOG_LEVEL_WARN, "key file open to other users",
                  "file=%s mode=%03o action=\"chmod 600 it: whoever reads head.key can sign "
                  "heads, whoever reads operator.key is the operator (docs/security.md)\"",
                  log_quote(path, 256, quoted, sizeof quoted), (unsigned)(info.st_mode & 0777));
    }
}

enum ledger_err server_create(struct engine *engine, const struct server_options *options,
                              struct server **out)
{
    if (options->request_bytes_max == 0 || options->request_bytes_max > LEDGER_REQUEST_BYTES_MAX ||
        options->batch_commands_max == 0 || options->auth_window_us <= 0 ||
        options->inflight_requests_max == 0 ||
        options->inflight_requests_max > LEDGER_INFLIGHT_REQUESTS_MAX) {
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    struct server *server = calloc(1, sizeof *server);
    if (server == NULL) {
        return LEDGER_ERR_NO_MEMORY;
    }
    server->request_socket = -1;
    server->events_socket = -1;
    server->engine = engine;
    server->limits = (struct auth_limits){
        .request_bytes_max = options->request_bytes_max,
        .window_us = options->auth_window_us,
        .batch_commands_max = options->batch_commands_max,
    };
    server->slow_commit_ms = options->slow_commit_ms;
    server->inflight_max = options->inflight_requests_max;
    server->expiry_sweep_s = options->expiry_sweep_s;
    server->head_published = engine_head_sequence(engine);
    server->started_us = wall_clock_us();
    if (replay_cache_new(LEDGER_REPLAY_REMEMBERED_MAX, &server->refused) != LEDGER_ERR_OK) {
        free(server);
        return LEDGER_ERR_NO_MEMORY;
    }
    enum ledger_err err =
        copy_text(server->listen_url, sizeof server->listen_url, options->listen_url);
    if (err == LEDGER_ERR_OK) {
        err = copy_text(server->events_url, sizeof server->events_url, options->events_url);
    }
    if (err == LEDGER_ERR_OK) {
        err = copy_text(server->data_dir, sizeof server->data_dir, options->data_dir);
    }
    if (err == LEDGER_ERR_OK) {
        err = copy_text(server->version, sizeof server->version, options->version);
    }
    if (err != LEDGER_ERR_OK) {
        replay_cache_free(server->refused);
        free(server);
        return err;
    }
    /* A request refused ahead of the clock by a daemon before this one
     * must not be decided again (engine_refused_until). A refusal is ahead
     * of the clock that decided it by at most the authentication window: a
     * horizon further ahead of this clock means the clock was set back
     * since. Taken whole, it would refuse every command as stale until a
     * date that may be far off; it is cut to the window. */
    int64_t refused_until_us = engine_refused_until(server->engine);
    int64_t bound_us = server->started_us + server->limits.window_us;
    if (refused_until_us > bound_us) {
        log_write(LOG_LEVEL_WARN, "refusal horizon beyond the authentication window",
                  "timestamp_us=%lld ahead_s=%lld kept_s=%lld reason=\"the clock was set back; "
                  "commands signed before the start are refused as stale for at most "
                  "auth_window_s\"",
                  (long long)refused_until_us,
                  (long long)((refused_until_us - server->started_us) / 1000000),
                  (long long)(server->limits.window_us / 1000000));
        refused_until_us = bound_us;
    }
    if (refused_until_us >= server->started_us) {
        log_write(LOG_LEVEL_INFO, "starting after a refusal ahead of the clock",
                  "timestamp_us=%lld delay_ms=%lld", (long long)refused_until_us,
                  (long long)((refused_until_us - server->started_us) / 1000));
        server->started_us = refused_until_us + 1;
    }
    int rc = uv_loop_init(&server->loop);
    if (rc != 0) {
        log_write(LOG_LEVEL_ERROR, "cannot start the event loop", "error=\"%s\"", uv_strerror(rc));
        replay_cache_free(server->refused);
        free(server);
        return LEDGER_ERR_INTERNAL;
    }
    err = sockets_open(server);
    int request_fd = -1;
    size_t fd_size = sizeof request_fd;
    if (err == LEDGER_ERR_OK &&
        nn_getsockopt(server->request_socket, NN_SOL_SOCKET, NN_RCVFD, &request_fd, &fd_size) < 0) {
        log_write(LOG_LEVEL_ERROR, "cannot get the socket's fd", "error=\"%s\"",
                  nn_strerror(nn_errno()));
        err = LEDGER_ERR_INTERNAL;
    }
    /* Each handle's data is set once it is initialized: handles_close closes
     * exactly those. */
    if (err == LEDGER_ERR_OK &&
        uv_poll_init(&server->loop, &server->request_poll, request_fd) == 0) {
        server->request_poll.data = server;
        server->handles_open++;
    } else if (err == LEDGER_ERR_OK) {
        err = LEDGER_ERR_INTERNAL;
    }
    if (err == LEDGER_ERR_OK && uv_signal_init(&server->loop, &server->sigterm) == 0) {
        server->sigterm.data = server;
        server->handles_open++;
    } else if (err == LEDGER_ERR_OK) {
        err = LEDGER_ERR_INTERNAL;
    }
    if (err == LEDGER_ERR_OK && uv_signal_init(&server->loop, &server->sigint) == 0) {
        server->sigint.data = server;
        server->handles_open++;
    } else if (err == LEDGER_ERR_OK) {
        err = LEDGER_ERR_INTERNAL;
    }
    if (err == LEDGER_ERR_OK && uv_timer_init(&server->loop, &server->linger_timer) == 0) {
        server->linger_timer.data = server;
        server->handles_open++;
    } else if (err == LEDGER_ERR_OK) {
        err = LEDGER_ERR_INTERNAL;
    }
    if (err == LEDGER_ERR_OK && uv_timer_init(&server->loop, &server->sample_timer) == 0) {
        server->sample_timer.data = server;
        server->handles_open++;
    } else if (err == LEDGER_ERR_OK) {
        err = LEDGER_ERR_INTERNAL;
    }
    if (err == LEDGER_ERR_OK && uv_timer_init(&server->loop, &server->expiry_timer) == 0) {
        server->expiry_timer.data = server;
        server->handles_open++;
    } else if (err == LEDGER_ERR_OK) {
        err = LEDGER_ERR_INTERNAL;
    }
    if (err != LEDGER_ERR_OK) {
        server_destroy(server);
        return err;
    }
    *out = server;
    return LEDGER_ERR_OK;
}

enum ledger_err server_run(struct server *server)
{
    int rc = uv_signal_start(&server->sigterm, on_signal, SIGTERM);
    if (rc == 0) {
        rc = uv_signal_start(&server->sigint, on_signal, SIGINT);
    }
    if (rc != 0) {
        log_write(LOG_LEVEL_ERROR, "cannot handle signals", "error=\"%s\"", uv_strerror(rc));
        return LEDGER_ERR_INTERNAL;
    }
    reading_resume(server);
    if (!server->reading) {
        return LEDGER_ERR_INTERNAL;
    }
    sample_statistics(server);
    rc = uv_timer_start(&server->sample_timer, on_sample_timer, SERVER_SAMPLE_INTERVAL_MS,
                        SERVER_SAMPLE_INTERVAL_MS);
    if (rc != 0) {
        /* Only the subscriber gauge goes stale; serving goes on. */
        log_write(LOG_LEVEL_WARN, "cannot sample socket statistics", "error=\"%s\"",
                  uv_strerror(rc));
    }
    if (server->expiry_sweep_s > 0) {
        uint64_t interval_ms = (uint64_t)server->expiry_sweep_s * 1000;
        rc = uv_timer_start(&server->expiry_timer, on_expiry_timer, interval_ms, interval_ms);
        if (rc != 0) {
            log_write(LOG_LEVEL_ERROR, "cannot schedule expiries", "error=\"%s\"", uv_strerror(rc));
            return LEDGER_ERR_INTERNAL;
        }
    }
    char data_dir[LOG_QUOTE_SIZE(256)], listen[LOG_QUOTE_SIZE(256)], events[LOG_QUOTE_SIZE(256)];
    /* The map's size and bound, so that a raised map_bytes_max can be seen
     * to have taken effect (0 when the store cannot be read). */
    struct store_info store = {0};
    if (store_info(engine_store(server->engine), &store) != LEDGER_ERR_OK) {
        memset(&store, 0, sizeof store);
    }
    log_write(LOG_LEVEL_INFO, "started",
              "version=%s data=%s listen=%s events=%s head_sequence=%llu request_bytes_max=%zu "
              "batch_commands_max=%u auth_window_s=%lld expiry_sweep_s=%u "
              "inflight_requests_max=%zu map_bytes=%llu map_bytes_max=%llu",
              server->version, log_quote(server->data_dir, 256, data_dir, sizeof data_dir),
              log_quote(server->listen_url, 256, listen, sizeof listen),
              log_quote(server->events_url, 256, events, sizeof events),
              (unsigned long long)engine_head_sequence(server->engine),
              server->limits.request_bytes_max, server->limits.batch_commands_max,
              (long long)(server->limits.window_us / 1000000), server->expiry_sweep_s,
              server->inflight_max, (unsigned long long)store.map_bytes,
              (unsigned long long)store.map_bytes_max);
    if (store.map_bytes > store.map_bytes_max) {
        /* LMDB keeps the map size recorded in the file when it is larger
         * (a lowered map_bytes_max, or a copy from a larger ledger). */
        log_write(LOG_LEVEL_WARN, "map larger than map_bytes_max",
                  "map_bytes=%llu map_bytes_max=%llu action=\"a map never shrinks: this one "
                  "serves up to map_bytes and grows no further (STORAGE_FULL past it); set "
                  "map_bytes_max to at least map_bytes to let it grow\"",
                  (unsigned long long)store.map_bytes, (unsigned long long)store.map_bytes_max);
    }
    struct stat data_dir_stat;
    if (stat(server->data_dir, &data_dir_stat) == 0 && (data_dir_stat.st_mode & 077) != 0) {
        /* ledgerd init makes it 0700; someone opened it since. */
        log_write(LOG_LEVEL_WARN, "data directory open to other users",
                  "data=%s mode=%03o action=\"chmod 700 it: the store, the keys and the IPC "
                  "sockets are the daemon's user's alone (docs/security.md)\"",
                  data_dir, (unsigned)(data_dir_stat.st_mode & 0777));
    }
    key_files_check(server->data_dir);
    uv_run(&server->loop, UV_RUN_DEFAULT);
    rc = uv_loop_close(&server->loop);
    const struct server_counters *c = &server->counters;
    log_write(LOG_LEVEL_INFO, "stopped",
              "head_sequence=%llu requests=%llu refused=%llu commits=%llu doorbells=%llu "
              "doorbells_dropped=%llu loop_close=%d",
              (unsigned long long)engine_head_sequence(server->engine),
              (unsigned long long)atomic_load(&c->requests_received),
              (unsigned long long)atomic_load(&c->requests_refused),
              (unsigned long long)atomic_load(&c->commits),
              (unsigned long long)atomic_load(&c->doorbells_published),
              (unsigned long long)atomic_load(&c->doorbells_dropped), rc);
    if (rc != 0) {
        log_write(LOG_LEVEL_ERROR, "the event loop did not close cleanly", "error=\"%s\"",
                  uv_strerror(rc));
        return LEDGER_ERR_INTERNAL;
    }
    server->handles_open = -1; /* the loop is closed: nothing more to close */
    return server->storage_lost ? LEDGER_ERR_STORAGE_ERROR : LEDGER_ERR_OK;
}

void server_destroy(struct server *server)
{
    if (server == NULL) {
        return;
    }
    if (server->handles_open >= 0) {
        /* server_run did not finish: close what was opened, then the loop. */
        if (server->handles_open > 0) {
            handles_close(server);
            uv_run(&server->loop, UV_RUN_DEFAULT);
        }
        if (server->request_socket >= 0) {
            nn_close(server->request_socket);
        }
        if (server->events_socket >= 0) {
            nn_close(server->events_socket);
        }
        int rc = uv_loop_close(&server->loop);
        if (rc != 0) {
            log_write(LOG_LEVEL_ERROR, "the event loop did not close cleanly", "error=\"%s\"",
                      uv_strerror(rc));
        }
    }
    for (size_t i = 0; i <= SERVER_QUERY_WORKERS; i++) {
        struct slow_query *slow = i == 0 ? &server->slow : &server->workers[i - 1];
        if (slow->control != NULL) {
            nn_freemsg(slow->control);
        }
        auth_signed_free(slow->signed_request);
        crypto_wipe(&slow->principal, sizeof slow->principal);
    }
    struct pending *pending = server->queue_head;
    while (pending != NULL) {
        struct pending *next = pending->next;
        pending_free(pending);
        pending = next;
    }
    replay_cache_free(server->refused);
    free(server);
}
