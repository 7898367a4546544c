/*
 * metrics.c: the Prometheus metrics endpoint (contract in metrics.h).
 *
 * A scrape: libmicrohttpd's thread calls on_request; for GET /metrics it
 * reads the store's figures (one read transaction), renders every metric into
 * a fresh buffer of METRICS_TEXT_BYTES_MAX bytes and hands the buffer to
 * libmicrohttpd, which frees it once sent. Counters are read one by one with
 * relaxed atomics: a scrape is not a snapshot, but a histogram's _count is
 * always the sum of its buckets as rendered, so each histogram is consistent.
 */
#include "metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "store.h"

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
/* "host:port" as config.c accepts it is at most CONFIG_VALUE_LENGTH_MAX (200)
 * bytes; a little more is refused here without needing config.h. */
#define METRICS_LISTEN_LENGTH_MAX 255
/* error.h numbers the codes of the client side (no reply, usage, local
 * files) from LEDGER_ERR_TIMEOUT on; a daemon seldom or never sends them. */
#define METRICS_CLIENT_CODES_FIRST LEDGER_ERR_TIMEOUT

struct metrics {
    struct MHD_Daemon *daemon;
    struct engine *engine;                  /* borrowed */
    const struct server_counters *counters; /* borrowed */
};

/* --- text rendering ----------------------------------------------------------------- */

struct text {
    char *out;
    size_t size;
    size_t used;
    bool full;
};

static void text_append(struct text *text, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static void text_append(struct text *text, const char *format, ...)
{
    if (text->full) {
        return;
    }
    va_list args;
    va_start(args, format);
    int n = vsnprintf(text->out + text->used, text->size - text->used, format, args);
    va_end(args);
    if (n < 0 || (size_t)n >= text->size - text->used) {
        text->full = true;
        return;
    }
    text->used += (size_t)n;
}

static uint64_t load(const _Atomic uint64_t *counter)
{
    return atomic_load_explicit(counter, memory_order_relaxed);
}

/* Writes microseconds as decimal seconds without trailing zeros: 100 ->
 * "0.0001", 2500000 -> "2.5", 5000000 -> "5". Exact, unlike a double. */
static void seconds_text(uint64_t us, char out[32])
{
    int n = snprintf(out, 32, "%llu.%06llu", (unsigned long long)(us / 1000000),
                     (unsigned long long)(us % 1000000));
    size_t length = n > 0 ? (size_t)n : 0;
    while (length > 0 && out[length - 1] == '0') {
        length--;
    }
    if (length > 0 && out[length - 1] == '.') {
        length--;
    }
    out[length] = '\0';
}

/* --- the metrics, for any sink -------------------------------------------------------- */

static void emit_header(const struct metrics_sink *sink, const char *name, const char *type,
                        const char *help)
{
    if (sink->header != NULL) {
        sink->header(sink->context, name, type, help);
    }
}

/* One sample: `text` is the value exactly as the exposition writes it. */
static void emit(const struct metrics_sink *sink, const char *name, const char *labels,
                 double value, const char *text)
{
    sink->sample(sink->context, name, labels, value, text);
}

static void emit_count(const struct metrics_sink *sink, const char *name, const char *labels,
                       uint64_t value)
{
    char text[32];
    snprintf(text, sizeof text, "%llu", (unsigned long long)value);
    emit(sink, name, labels, (double)value, text);
}

static void scalar(const struct metrics_sink *sink, const char *name, const char *type,
                   const char *help, uint64_t value)
{
    emit_header(sink, name, type, help);
    emit_count(sink, name, "", value);
}

/* A histogram of `count` bounds and an overflow bucket; bounds in
 * microseconds are written as seconds when `seconds` is set (and the sum
 * too). */
static void histogram(const struct metrics_sink *sink, const char *name, const char *help,
                      const _Atomic uint64_t *buckets, const uint64_t *bounds, size_t count,
                      uint64_t sum, bool seconds)
{
    emit_header(sink, name, "histogram", help);
    char series[96], labels[48], bound[32];
    snprintf(series, sizeof series, "%s_bucket", name);
    uint64_t cumulative = 0;
    for (size_t i = 0; i < count; i++) {
        cumulative += load(&buckets[i]);
        if (seconds) {
            seconds_text(bounds[i], bound);
        } else {
            snprintf(bound, sizeof bound, "%llu", (unsigned long long)bounds[i]);
        }
        snprintf(labels, sizeof labels, "le=\"%s\"", bound);
        emit_count(sink, series, labels, cumulative);
    }
    cumulative += load(&buckets[count]);
    emit_count(sink, series, "le=\"+Inf\"", cumulative);
    snprintf(series, sizeof series, "%s_sum", name);
    if (seconds) {
        seconds_text(sum, bound);
        emit(sink, series, "", (double)sum / 1e6, bound);
    } else {
        emit_count(sink, series, "", sum);
    }
    snprintf(series, sizeof series, "%s_count", name);
    emit_count(sink, series, "", cumulative);
}

void metrics_visit(const struct server_counters *counters,
                   const struct metrics_store_figures *store, const struct metrics_sink *sink)
{
    const struct server_counters *c = counters;
    static const uint64_t latency_bounds_us[SERVER_COMMIT_LATENCY_BUCKETS] =
        SERVER_COMMIT_LATENCY_BOUNDS_US;
    static const uint64_t commands_bounds[SERVER_GROUP_COMMANDS_BUCKETS] =
        SERVER_GROUP_COMMANDS_BOUNDS;

    scalar(sink, "ledger_requests_total", "counter", "Messages read from the request socket.",
           load(&c->requests_received));
    scalar(sink, "ledger_requests_in_flight", "gauge",
           "Command requests queued or committing, not yet answered.", load(&c->inflight_requests));
    scalar(sink, "ledger_commits_total", "counter",
           "Group commits (one durable write transaction each), failed ones included.",
           load(&c->commits));
    scalar(sink, "ledger_commit_failures_total", "counter",
           "Group commits that failed as a whole (storage); nothing of them was written.",
           load(&c->commit_failures));
    scalar(sink, "ledger_events_appended_total", "counter",
           "Events appended to the log by commits since the daemon started.",
           load(&c->events_appended));
    scalar(sink, "ledger_reservations_expired_total", "counter",
           "Reservations past their term that the daemon's schedule recorded as expired.",
           load(&c->reservations_expired));
    scalar(sink, "ledger_expiries_refused_total", "counter",
           "Expiries the daemon's schedule found due and the rules refused (logged as "
           "\"expiries refused\").",
           load(&c->expiries_refused));
    scalar(sink, "ledger_commands_accepted_total", "counter",
           "Commands of batches answered OK (retried duplicates included).",
           load(&c->commands_accepted));
    histogram(sink, "ledger_commit_commands", "Commands per group commit.",
              c->group_commands_buckets, commands_bounds, SERVER_GROUP_COMMANDS_BUCKETS,
              load(&c->group_commands_sum), false);
    histogram(sink, "ledger_commit_duration_seconds",
              "Duration of group commits (decide, append, project, fsync), in seconds.",
              c->commit_latency_buckets, latency_bounds_us, SERVER_COMMIT_LATENCY_BUCKETS,
              load(&c->commit_latency_us_sum), true);
    scalar(sink, "ledger_slow_commits_total", "counter",
           "Group commits slower than slow_commit_ms.", load(&c->slow_commits));

    char labels[96];
    emit_header(sink, "ledger_queries_total", "counter",
                "Authenticated queries by kind, whatever their answer.");
    for (size_t slot = 0; slot < SERVER_QUERY_KIND_SLOTS; slot++) {
        const char *kind = server_query_kind_name(slot);
        if (kind != NULL) {
            snprintf(labels, sizeof labels, "kind=\"%s\"", kind);
            emit_count(sink, "ledger_queries_total", labels, load(&c->queries_by_kind[slot]));
        }
    }
    emit_header(sink, "ledger_refusals_total", "counter",
                "Replies with a code other than OK, by error code.");
    for (int code = 1; code < SERVER_ERROR_CODE_SLOTS; code++) {
        uint64_t count = load(&c->refusals_by_code[code]);
        /* The codes a daemon replies with are always listed, so that an alert
         * sees a series go from 0; the client-side ones (TIMEOUT and after,
         * error.h) only once counted. */
        if (ledger_err_valid(code) && (code < METRICS_CLIENT_CODES_FIRST || count > 0)) {
            snprintf(labels, sizeof labels, "code=\"%s\"", ledger_err_name((enum ledger_err)code));
            emit_count(sink, "ledger_refusals_total", labels, count);
        }
    }
    scalar(sink, "ledger_replies_dropped_total", "counter",
           "Replies nanomsg did not take (the client was gone or its pipe full).",
           load(&c->replies_dropped));
    scalar(sink, "ledger_backpressure_pauses_total", "counter",
           "Times the daemon stopped reading requests at the in-flight bound.",
           load(&c->backpressure_pauses));
    scalar(sink, "ledger_replays_refused_total", "counter",
           "Command requests sent again byte for byte after a refusal, answered with that refusal.",
           load(&c->replays_refused));
    scalar(sink, "ledger_replays_forgotten_total", "counter",
           "Refused requests forgotten before their window ended (too many refusals).",
           load(&c->replays_forgotten));
    scalar(sink, "ledger_subscribers", "gauge",
           "Peers connected to the doorbell socket (sampled each second).", load(&c->subscribers));
    scalar(sink, "ledger_doorbells_published_total", "counter",
           "Doorbells handed to the PUB socket.", load(&c->doorbells_published));
    scalar(sink, "ledger_doorbells_dropped_total", "counter",
           "Doorbells nanomsg refused to publish.", load(&c->doorbells_dropped));
    if (store != NULL && store->known) {
        scalar(sink, "ledger_head_sequence", "gauge", "The newest committed sequence.",
               store->head_sequence);
        scalar(sink, "ledger_map_bytes", "gauge", "Current size of the LMDB map, in bytes.",
               store->map_bytes);
        scalar(sink, "ledger_map_used_bytes", "gauge",
               "Bytes of the map in use (pages in use times the page size).",
               store->map_used_bytes);
        scalar(sink, "ledger_map_bytes_max", "gauge",
               "Largest size the map may grow to (map_bytes_max); STORAGE_FULL past it.",
               store->map_bytes_max);
        scalar(sink, "ledger_readers_used", "gauge", "LMDB reader slots in use.",
               store->readers_used);
        scalar(sink, "ledger_readers_max", "gauge", "LMDB reader slots available.",
               store->readers_max);
    }
}

/* --- the exposition text -------------------------------------------------------------- */

static void text_header(void *context, const char *name, const char *type, const char *help)
{
    text_append(context, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void text_sample(void *context, const char *name, const char *labels, double value,
                        const char *text)
{
    (void)value;
    if (labels[0] != '\0') {
        text_append(context, "%s{%s} %s\n", name, labels, text);
    } else {
        text_append(context, "%s %s\n", name, text);
    }
}

enum ledger_err metrics_render(const struct server_counters *counters,
                               const struct metrics_store_figures *store, char *out, size_t size,
                               size_t *length_out)
{
    if (out == NULL || size == 0) {
        return LEDGER_ERR_TOO_LARGE;
    }
    struct text text = {.out = out, .size = size};
    const struct metrics_sink sink = {
        .header = text_header, .sample = text_sample, .context = &text};
    metrics_visit(counters, store, &sink);
    if (text.full) {
        return LEDGER_ERR_TOO_LARGE;
    }
    *length_out = text.used;
    return LEDGER_ERR_OK;
}

void metrics_store_read(struct engine *engine, struct metrics_store_figures *out)
{
    memset(out, 0, sizeof *out);
    struct store_info info;
    if (store_info(engine_store(engine), &info) != LEDGER_ERR_OK) {
        return;
    }
    out->known = true;
    out->map_bytes = info.map_bytes;
    out->map_used_bytes = info.used_bytes;
    out->map_bytes_max = info.map_bytes_max;
    out->readers_used = info.readers_used;
    out->readers_max = info.readers_max;
    /* The engine's head, not the read transaction's: the newest commit. */
    out->head_sequence = engine_head_sequence(engine);
}

/* --- the address -------------------------------------------------------------------- */

static bool address_loopback(const struct sockaddr *address)
{
    if (address->sa_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)(const void *)address;
        return (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
    }
    if (address->sa_family == AF_INET6) {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)(const void *)address;
        return IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr);
    }
    return false;
}

/* Resolves `listen` into *out (freed with freeaddrinfo). */
static enum ledger_err address_resolve(const char *listen, bool allow_remote, struct addrinfo **out,
                                       char error[METRICS_ERROR_SIZE])
{
    size_t length = listen != NULL ? strnlen(listen, METRICS_LISTEN_LENGTH_MAX + 1) : 0;
    const char *colon = listen != NULL ? strrchr(listen, ':') : NULL;
    if (length == 0 || length > METRICS_LISTEN_LENGTH_MAX || colon == NULL || colon == listen ||
        colon[1] == '\0') {
        snprintf(error, METRICS_ERROR_SIZE, "metrics address must be host:port");
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    char host[METRICS_LISTEN_LENGTH_MAX + 1];
    size_t host_length = (size_t)(colon - listen);
    const char *host_start = listen;
    if (listen[0] == '[') {
        if (host_length < 3 || colon[-1] != ']') {
            snprintf(error, METRICS_ERROR_SIZE, "an IPv6 host must be written [address]:port");
            return LEDGER_ERR_INVALID_ARGUMENT;
        }
        host_start++;
        host_length -= 2;
    }
    memcpy(host, host_start, host_length);
    host[host_length] = '\0';
    if (memchr(host, ':', host_length) != NULL && listen[0] != '[') {
        snprintf(error, METRICS_ERROR_SIZE, "an IPv6 host must be written [address]:port");
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    const char *port = colon + 1;
    for (const char *p = port; *p != '\0'; p++) {
        if (*p < '0' || *p > '9' || p - port >= 5) {
            snprintf(error, METRICS_ERROR_SIZE, "the metrics port must be 1..65535");
            return LEDGER_ERR_INVALID_ARGUMENT;
        }
    }
    long port_number = strtol(port, NULL, 10);
    if (port_number < 1 || port_number > 65535) {
        snprintf(error, METRICS_ERROR_SIZE, "the metrics port must be 1..65535");
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    struct addrinfo *found = NULL;
    int rc = getaddrinfo(host, port, &hints, &found);
    if (rc != 0 || found == NULL) {
        snprintf(error, METRICS_ERROR_SIZE, "cannot resolve the metrics host \"%.64s\": %s", host,
                 rc != 0 ? gai_strerror(rc) : "no address");
        if (found != NULL) {
            freeaddrinfo(found);
        }
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    /* libmicrohttpd's IPv6 socket is IPv6 only: an IPv4 address written
     * as IPv6 (::ffff:a.b.c.d) fails to bind ("Invalid argument") at every
     * start, so it is refused here with its IPv4 spelling. */
    const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)(const void *)found->ai_addr;
    if (found->ai_addr->sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) {
        const uint8_t *v4 = &v6->sin6_addr.s6_addr[12];
        snprintf(error, METRICS_ERROR_SIZE,
                 "metrics address %.64s is an IPv4 address written as IPv6, which the endpoint "
                 "cannot bind: write %u.%u.%u.%u:%s",
                 listen, v4[0], v4[1], v4[2], v4[3], port);
        freeaddrinfo(found);
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    if (!allow_remote && !address_loopback(found->ai_addr)) {
        snprintf(error, METRICS_ERROR_SIZE,
                 "metrics address %.64s is not loopback; set metrics_allow_remote = true to "
                 "serve metrics to other hosts",
                 listen);
        freeaddrinfo(found);
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    *out = found;
    return LEDGER_ERR_OK;
}

enum ledger_err metrics_listen_check(const char *listen, bool allow_remote,
                                     char error[METRICS_ERROR_SIZE])
{
    struct addrinfo *found = NULL;
    enum ledger_err err = address_resolve(listen, allow_remote, &found, error);
    if (err == LEDGER_ERR_OK) {
        freeaddrinfo(found);
    }
    return err;
}

/* --- HTTP --------------------------------------------------------------------------- */

static enum MHD_Result respond(struct MHD_Connection *connection, unsigned status, char *body,
                               size_t size, enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *response = MHD_create_response_from_buffer(size, body, mode);
    if (response == NULL) {
        if (mode == MHD_RESPMEM_MUST_FREE) {
            free(body);
        }
        return MHD_NO;
    }
    enum MHD_Result result = MHD_YES;
    if (MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
                                status == MHD_HTTP_OK ? METRICS_CONTENT_TYPE
                                                      : "text/plain; charset=utf-8") != MHD_YES) {
        result = MHD_NO;
    }
    if (result == MHD_YES) {
        result = MHD_queue_response(connection, status, response);
    }
    MHD_destroy_response(response);
    return result;
}

static enum MHD_Result on_request(void *context, struct MHD_Connection *connection, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **connection_context)
{
    struct metrics *metrics = context;
    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)connection_context;
    static char not_found[] = "not found; the metrics are at GET /metrics\n";
    bool get =
        strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    if (!get || strcmp(url, "/metrics") != 0) {
        return respond(connection, MHD_HTTP_NOT_FOUND, not_found, sizeof not_found - 1,
                       MHD_RESPMEM_PERSISTENT);
    }
    char *body = malloc(METRICS_TEXT_BYTES_MAX);
    if (body == NULL) {
        return MHD_NO; /* libmicrohttpd closes the connection */
    }
    struct metrics_store_figures store;
    metrics_store_read(metrics->engine, &store);
    size_t length = 0;
    enum ledger_err err =
        metrics_render(metrics->counters, &store, body, METRICS_TEXT_BYTES_MAX, &length);
    if (err != LEDGER_ERR_OK) {
        /* Only a metrics list grown past METRICS_TEXT_BYTES_MAX gets here. */
        log_write(LOG_LEVEL_ERROR, "metrics not rendered", "code=%s", ledger_err_name(err));
        free(body);
        return MHD_NO;
    }
    return respond(connection, MHD_HTTP_OK, body, length, MHD_RESPMEM_MUST_FREE);
}

static void on_log(void *context, const char *format, va_list args)
    __attribute__((format(printf, 2, 0)));

/* libmicrohttpd's own error messages, as one log line each. */
static void on_log(void *context, const char *format, va_list args)
{
    (void)context;
    char message[256];
    vsnprintf(message, sizeof message, format, args);
    size_t length = strlen(message);
    while (length > 0 && (message[length - 1] == '\n' || message[length - 1] == '\r')) {
        message[--length] = '\0';
    }
    char quoted[LOG_QUOTE_SIZE(sizeof message)];
    log_write(LOG_LEVEL_WARN, "metrics endpoint", "reason=%s",
              log_quote(message, sizeof message, quoted, sizeof quoted));
}

enum ledger_err metrics_start(const struct metrics_options *options, struct metrics **out)
{
    char error[METRICS_ERROR_SIZE];
    char quoted[LOG_QUOTE_SIZE(METRICS_LISTEN_LENGTH_MAX)];
    struct addrinfo *address = NULL;
    enum ledger_err err = address_resolve(options->listen, options->allow_remote, &address, error);
    if (err != LEDGER_ERR_OK) {
        char quoted_error[LOG_QUOTE_SIZE(METRICS_ERROR_SIZE)];
        log_write(LOG_LEVEL_ERROR, "metrics not served", "address=%s reason=%s",
                  log_quote(options->listen, METRICS_LISTEN_LENGTH_MAX, quoted, sizeof quoted),
                  log_quote(error, METRICS_ERROR_SIZE, quoted_error, sizeof quoted_error));
        return err;
    }
    struct metrics *metrics = calloc(1, sizeof *metrics);
    if (metrics == NULL) {
        freeaddrinfo(address);
        return LEDGER_ERR_NO_MEMORY;
    }
    metrics->engine = options->engine;
    metrics->counters = options->counters;
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
    if (address->ai_family == AF_INET6) {
        flags |= MHD_USE_IPv6;
    }
    uint16_t port = 0;
    if (address->ai_family == AF_INET) {
        port = ntohs(((const struct sockaddr_in *)(const void *)address->ai_addr)->sin_port);
    } else {
        port = ntohs(((const struct sockaddr_in6 *)(const void *)address->ai_addr)->sin6_port);
    }
    errno = 0;
    metrics->daemon = MHD_start_daemon(
        flags, port, NULL, NULL, on_request, metrics, MHD_OPTION_EXTERNAL_LOGGER, on_log, NULL,
        MHD_OPTION_SOCK_ADDR, address->ai_addr, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)METRICS_CONNECTIONS_MAX, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)METRICS_CONNECTION_TIMEOUT_S, MHD_OPTION_END);
    int error_number = errno;
    freeaddrinfo(address);
    log_quote(options->listen, METRICS_LISTEN_LENGTH_MAX, quoted, sizeof quoted);
    if (metrics->daemon == NULL) {
        log_write(LOG_LEVEL_ERROR, "metrics not served", "address=%s error=\"%s\"", quoted,
                  error_number != 0 ? strerror(error_number) : "libmicrohttpd refused to start");
        free(metrics);
        return LEDGER_ERR_UNAVAILABLE;
    }
    log_write(LOG_LEVEL_INFO, "metrics serving", "address=%s path=/metrics", quoted);
    *out = metrics;
    return LEDGER_ERR_OK;
}

void metrics_stop(struct metrics *metrics)
{
    if (metrics == NULL) {
        return;
    }
    MHD_stop_daemon(metrics->daemon);
    free(metrics);
}
