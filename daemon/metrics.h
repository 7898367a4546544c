/*
 * metrics.h: the daemon's Prometheus metrics endpoint.
 *
 * Owns: the HTTP endpoint (libmicrohttpd, on its own thread; the only includer
 * of <microhttpd.h>), the choice of the address it binds (loopback unless the
 * operator allows remote scrapers), and the text exposition format of the
 * metrics: names, help texts, types, labels and histogram buckets.
 * Does not own: the counting (server: struct server_counters), the store's
 * figures (engine, store), the settings (config).
 *
 * Wire format: GET (or HEAD) /metrics answers 200 with
 * "text/plain; version=0.0.4; charset=utf-8", the Prometheus text exposition
 * format 0.0.4; any other path or method answers 404. Every metric has its
 * "# HELP" and "# TYPE" lines; names start with "ledger_". The list and what to
 * alert on are in docs/operations.md.
 *
 * Threads: the endpoint runs on libmicrohttpd's internal polling thread and
 * only reads: the server's counters (relaxed atomics), the engine's head
 * (a relaxed atomic) and the store's figures (one LMDB read transaction per
 * scrape, which never waits for the writer). The libuv loop is untouched.
 *
 * Invariants: off unless started; a non-loopback address is refused unless
 * allow_remote is set; a scrape's text is bounded by METRICS_TEXT_BYTES_MAX;
 * at most METRICS_CONNECTIONS_MAX scrapers are served at once.
 */
#ifndef LEDGER_METRICS_H
#define LEDGER_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "error.h"
#include "server.h"

/* The whole text of one scrape: about 150 lines of under 120 bytes today;
 * four times that leaves room for new metrics without risking a cut. */
#define METRICS_TEXT_BYTES_MAX (64 * 1024)
/* Scrapers served at once: Prometheus uses one connection per target; a few
 * more allow a curl beside it, and a flood cannot pile up threads or memory. */
#define METRICS_CONNECTIONS_MAX 16
/* Seconds an idle scraper connection is kept. */
#define METRICS_CONNECTION_TIMEOUT_S 10
/* Room for the error text of metrics_listen_check. */
#define METRICS_ERROR_SIZE 256

/* The store's figures as one scrape sees them. */
struct metrics_store_figures {
    bool known;              /* false: store_info failed; the store gauges are left out */
    uint64_t map_bytes;      /* the current map size */
    uint64_t map_used_bytes; /* pages in use times the page size */
    uint64_t map_bytes_max;  /* map_bytes_max setting: STORAGE_FULL past it */
    uint64_t readers_used;   /* LMDB reader slots in use */
    uint64_t readers_max;
    uint64_t head_sequence; /* the newest committed sequence */
};

struct metrics;

struct metrics_options {
    const char *listen;                     /* borrowed: "host:port", "[v6]:port" */
    bool allow_remote;                      /* bind a non-loopback address too */
    struct engine *engine;                  /* borrowed: must outlive metrics_stop */
    const struct server_counters *counters; /* borrowed: must outlive metrics_stop */
};

/* Checks an address for the endpoint: "host:port" (IPv6 hosts in brackets),
 * resolved with getaddrinfo (its first answer is the one bound); loopback
 * means 127.0.0.0/8, ::1 or ::ffff:127.0.0.0/104. On failure `error` says
 * why. INVALID_ARGUMENT for a malformed or unresolvable address and for a
 * non-loopback one without allow_remote. */
__attribute__((warn_unused_result)) enum ledger_err
metrics_listen_check(const char *listen, bool allow_remote, char error[METRICS_ERROR_SIZE]);

/* Starts the endpoint on its own thread. `options` is borrowed for the call;
 * what it points to must outlive metrics_stop. Logs one line ("metrics
 * serving" or why not). Errors: INVALID_ARGUMENT as metrics_listen_check, UNAVAILABLE when the
 * address cannot be bound, NO_MEMORY. */
__attribute__((warn_unused_result)) enum ledger_err
metrics_start(const struct metrics_options *options, struct metrics **out);

/* Stops the endpoint: waits for its thread, closes the listening socket and
 * frees it. NULL is fine. */
void metrics_stop(struct metrics *metrics);

/* Reads the store's figures and the head for one scrape (any thread).
 * `engine` borrowed. On a store error `known` is false. */
void metrics_store_read(struct engine *engine, struct metrics_store_figures *out);

/* Where metrics_visit hands each metric: `header` (may be NULL) once per
 * metric family, `sample` once per series, with its labels in the exposition
 * form (`kind="events"`, "" for none), its value, and the value exactly as the
 * exposition text writes it. */
struct metrics_sink {
    void (*header)(void *context, const char *name, const char *type, const char *help);
    void (*sample)(void *context, const char *name, const char *labels, double value,
                   const char *text);
    void *context;
};

/* Every metric of `counters` and, unless NULL, `store` (both borrowed), in the
 * order of the exposition: what metrics_render writes and `ledgerctl stats`
 * shows. */
void metrics_visit(const struct server_counters *counters,
                   const struct metrics_store_figures *store, const struct metrics_sink *sink);

/* Renders the exposition text of `counters` and `store` (both borrowed) into
 * out[0..size), NUL-terminated; *length_out (written on success) excludes the
 * NUL. TOO_LARGE when it does not fit (out is then unspecified). */
__attribute__((warn_unused_result)) enum ledger_err
metrics_render(const struct server_counters *counters, const struct metrics_store_figures *store,
               char *out, size_t size, size_t *length_out);

#endif
