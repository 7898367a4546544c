/*
 * test_metrics.c: the metrics endpoint (daemon/metrics.c).
 *
 * Goal: the exposition text is exactly what docs/operations.md promises for a
 * given set of counters (names, HELP and TYPE lines, labels, cumulative
 * histogram buckets with exact bounds, store gauges only when known); a text
 * that does not fit is refused, not cut; the address rules hold (loopback
 * only unless allowed; malformed addresses refused with a reason); and the
 * HTTP endpoint answers GET /metrics with 200 and the Prometheus content type
 * and everything else with 404.
 *
 * Method: metrics_render on hand-filled counters, compared line by line with
 * literal expected text; metrics_start on a fresh engine (a temporary data
 * directory) and plain HTTP/1.0 requests over a TCP socket to 127.0.0.1 (and
 * ::1, for an endpoint on IPv6's loopback) on a port the kernel picked. The daemon as a whole is
 * tested in test_metrics_daemon.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "metrics.h"
#include "support/engine_fixture.h"
#include "test_util.h"

/* --- rendering ----------------------------------------------------------------------- */

static void counters_fill(struct server_counters *c)
{
    memset(c, 0, sizeof *c);
    atomic_store(&c->requests_received, 12);
    atomic_store(&c->inflight_requests, 3);
    atomic_store(&c->commits, 4);
    atomic_store(&c->commit_failures, 1);
    atomic_store(&c->events_appended, 7);
    atomic_store(&c->reservations_expired, 3);
    atomic_store(&c->expiries_refused, 2);
    atomic_store(&c->commands_accepted, 7);
    /* group sizes: three groups of 1 command, one of 5 */
    atomic_store(&c->group_commands_buckets[0], 3);
    atomic_store(&c->group_commands_buckets[2], 1);
    atomic_store(&c->group_commands_sum, 8);
    /* latencies: three in (250 us, 500 us], one over 5 s */
    atomic_store(&c->commit_latency_buckets[2], 3);
    atomic_store(&c->commit_latency_buckets[SERVER_COMMIT_LATENCY_BUCKETS], 1);
    atomic_store(&c->commit_latency_us_sum, 6001300);
    atomic_store(&c->slow_commits, 1);
    atomic_store(&c->queries_by_kind[18 - SERVER_QUERY_KIND_FIRST], 2); /* head */
    atomic_store(&c->queries_by_kind[22 - SERVER_QUERY_KIND_FIRST], 5); /* stats */
    atomic_store(&c->refusals_by_code[LEDGER_ERR_UNKNOWN_PRINCIPAL], 1);
    atomic_store(&c->refusals_by_code[LEDGER_ERR_STORAGE_FULL], 4);
    atomic_store(&c->requests_refused, 5);
    atomic_store(&c->replies_dropped, 2);
    atomic_store(&c->backpressure_pauses, 1);
    atomic_store(&c->replays_refused, 2);
    atomic_store(&c->subscribers, 2);
    atomic_store(&c->doorbells_published, 3);
    atomic_store(&c->doorbells_dropped, 1);
}

static const struct metrics_store_figures store_figures = {
    .known = true,
    .map_bytes = 67108864,
    .map_used_bytes = 1048576,
    .map_bytes_max = UINT64_C(68719476736),
    .readers_used = 2,
    .readers_max = 126,
    .head_sequence = 9,
};

/* Everything but the ledger_refusals_total samples, which are checked apart
 * (their list grows with error.h). */
static const char *const expected_lines[] = {
    "# HELP ledger_requests_total Messages read from the request socket.",
    "# TYPE ledger_requests_total counter",
    "ledger_requests_total 12",
    "# HELP ledger_requests_in_flight Command requests queued or committing, not yet answered.",
    "# TYPE ledger_requests_in_flight gauge",
    "ledger_requests_in_flight 3",
    "# HELP ledger_commits_total Group commits (one durable write transaction each), failed ones "
    "included.",
    "# TYPE ledger_commits_total counter",
    "ledger_commits_total 4",
    "# HELP ledger_commit_failures_total Group commits that failed as a whole (storage); nothing "
    "of them was written.",
    "# TYPE ledger_commit_failures_total counter",
    "ledger_commit_failures_total 1",
    "# HELP ledger_events_appended_total Events appended to the log by commits since the daemon "
    "started.",
    "# TYPE ledger_events_appended_total counter",
    "ledger_events_appended_total 7",
    "# HELP ledger_reservations_expired_total Reservations past their term that the daemon's "
    "schedule recorded as expired.",
    "# TYPE ledger_reservations_expired_total counter",
    "ledger_reservations_expired_total 3",
    "# HELP ledger_expiries_refused_total Expiries the daemon's schedule found due and the rules "
    "refused (logged as \"expiries refused\").",
    "# TYPE ledger_expiries_refused_total counter",
    "ledger_expiries_refused_total 2",
    "# HELP ledger_commands_accepted_total Commands of batches answered OK (retried duplicates "
    "included).",
    "# TYPE ledger_commands_accepted_total counter",
    "ledger_commands_accepted_total 7",
    "# HELP ledger_commit_commands Commands per group commit.",
    "# TYPE ledger_commit_commands histogram",
    "ledger_commit_commands_bucket{le=\"1\"} 3",
    "ledger_commit_commands_bucket{le=\"2\"} 3",
    "ledger_commit_commands_bucket{le=\"5\"} 4",
    "ledger_commit_commands_bucket{le=\"10\"} 4",
    "ledger_commit_commands_bucket{le=\"20\"} 4",
    "ledger_commit_commands_bucket{le=\"50\"} 4",
    "ledger_commit_commands_bucket{le=\"100\"} 4",
    "ledger_commit_commands_bucket{le=\"200\"} 4",
    "ledger_commit_commands_bucket{le=\"500\"} 4",
    "ledger_commit_commands_bucket{le=\"1000\"} 4",
    "ledger_commit_commands_bucket{le=\"2000\"} 4",
    "ledger_commit_commands_bucket{le=\"5000\"} 4",
    "ledger_commit_commands_bucket{le=\"10000\"} 4",
    "ledger_commit_commands_bucket{le=\"100000\"} 4",
    "ledger_commit_commands_bucket{le=\"+Inf\"} 4",
    "ledger_commit_commands_sum 8",
    "ledger_commit_commands_count 4",
    "# HELP ledger_commit_duration_seconds Duration of group commits (decide, append, project, "
    "fsync), in "
    "seconds.",
    "# TYPE ledger_commit_duration_seconds histogram",
    "ledger_commit_duration_seconds_bucket{le=\"0.0001\"} 0",
    "ledger_commit_duration_seconds_bucket{le=\"0.00025\"} 0",
    "ledger_commit_duration_seconds_bucket{le=\"0.0005\"} 3",
    "ledger_commit_duration_seconds_bucket{le=\"0.001\"} 3",
    "ledger_commit_duration_seconds_bucket{le=\"0.0025\"} 3",
    "ledger_commit_duration_seconds_bucket{le=\"0.005\"} 3",
    "ledger_commit_duration_seconds_bucket{le=\"0.01\"} 3",
    "ledger_commit_duration_seconds_bucket{le=\"0.025\"} 3",
    "ledger_commit_duration_seconds_bucket{le=\"0.05\"} 3",
    "ledger_commit_duration_seconds_bucket{le=\"0.1\"} 3",
    "ledger_commit_duration_seconds_bucket{le=\"0.25\"} 3",
    "ledger_commit_duration_seconds_bucket{le=\"0.5\"} 3",
    "ledger_commit_duration_seconds_bucket{le=\"1\"} 3",
    "ledger_commit_duration_seconds_bucket{le=\"2.5\"} 3",
    "ledger_commit_duration_seconds_bucket{le=\"5\"} 3",
    "ledger_commit_duration_seconds_bucket{le=\"+Inf\"} 4",
    "ledger_commit_duration_seconds_sum 6.0013",
    "ledger_commit_duration_seconds_count 4",
    "# HELP ledger_slow_commits_total Group commits slower than slow_commit_ms.",
    "# TYPE ledger_slow_commits_total counter",
    "ledger_slow_commits_total 1",
    "# HELP ledger_queries_total Authenticated queries by kind, whatever their answer.",
    "# TYPE ledger_queries_total counter",
    "ledger_queries_total{kind=\"events\"} 0",
    "ledger_queries_total{kind=\"reservations\"} 0",
    "ledger_queries_total{kind=\"orders\"} 0",
    "ledger_queries_total{kind=\"savings_plans\"} 0",
    "ledger_queries_total{kind=\"permissions\"} 0",
    "ledger_queries_total{kind=\"activity\"} 0",
    "ledger_queries_total{kind=\"billing\"} 0",
    "ledger_queries_total{kind=\"principals\"} 0",
    "ledger_queries_total{kind=\"head\"} 2",
    "ledger_queries_total{kind=\"inclusion\"} 0",
    "ledger_queries_total{kind=\"consistency\"} 0",
    "ledger_queries_total{kind=\"explain\"} 0",
    "ledger_queries_total{kind=\"stats\"} 5",
    "ledger_queries_total{kind=\"backup\"} 0",
    "# HELP ledger_refusals_total Replies with a code other than OK, by error code.",
    "# TYPE ledger_refusals_total counter",
    "# HELP ledger_replies_dropped_total Replies nanomsg did not take (the client was gone or its "
    "pipe full).",
    "# TYPE ledger_replies_dropped_total counter",
    "ledger_replies_dropped_total 2",
    "# HELP ledger_backpressure_pauses_total Times the daemon stopped reading requests at the "
    "in-flight bound.",
    "# TYPE ledger_backpressure_pauses_total counter",
    "ledger_backpressure_pauses_total 1",
    "# HELP ledger_replays_refused_total Command requests sent again byte for byte after a "
    "refusal, answered with that refusal.",
    "# TYPE ledger_replays_refused_total counter",
    "ledger_replays_refused_total 2",
    "# HELP ledger_replays_forgotten_total Refused requests forgotten before their window ended "
    "(too many refusals).",
    "# TYPE ledger_replays_forgotten_total counter",
    "ledger_replays_forgotten_total 0",
    "# HELP ledger_subscribers Peers connected to the doorbell socket (sampled each second).",
    "# TYPE ledger_subscribers gauge",
    "ledger_subscribers 2",
    "# HELP ledger_doorbells_published_total Doorbells handed to the PUB socket.",
    "# TYPE ledger_doorbells_published_total counter",
    "ledger_doorbells_published_total 3",
    "# HELP ledger_doorbells_dropped_total Doorbells nanomsg refused to publish.",
    "# TYPE ledger_doorbells_dropped_total counter",
    "ledger_doorbells_dropped_total 1",
};

static const char *const expected_store_lines[] = {
    "# HELP ledger_head_sequence The newest committed sequence.",
    "# TYPE ledger_head_sequence gauge",
    "ledger_head_sequence 9",
    "# HELP ledger_map_bytes Current size of the LMDB map, in bytes.",
    "# TYPE ledger_map_bytes gauge",
    "ledger_map_bytes 67108864",
    "# HELP ledger_map_used_bytes Bytes of the map in use (pages in use times the page size).",
    "# TYPE ledger_map_used_bytes gauge",
    "ledger_map_used_bytes 1048576",
    ("# HELP ledger_map_bytes_max Largest size the map may grow to (map_bytes_max); STORAGE_FULL "
     "past it."),
    "# TYPE ledger_map_bytes_max gauge",
    "ledger_map_bytes_max 68719476736",
    "# HELP ledger_readers_used LMDB reader slots in use.",
    "# TYPE ledger_readers_used gauge",
    "ledger_readers_used 2",
    "# HELP ledger_readers_max LMDB reader slots available.",
    "# TYPE ledger_readers_max gauge",
    "ledger_readers_max 126",
};

/* Appends each line and a newline to out from `used` on; returns the new
 * length. */
static size_t lines_join(const char *const *lines, size_t count, char *out, size_t size,
                         size_t used)
{
    for (size_t i = 0; i < count; i++) {
        int n = snprintf(out + used, size - used, "%s\n", lines[i]);
        assert_true(n > 0 && (size_t)n < size - used);
        used += (size_t)n;
    }
    return used;
}

#define REFUSAL_PREFIX "ledger_refusals_total{"

/* Splits `text` into the refusal samples (into refusals, one per line) and
 * the rest (into rest), both NUL-terminated. */
static void split_refusals(const char *text, char *rest, size_t rest_size, char *refusals,
                           size_t refusals_size)
{
    size_t rest_used = 0, refusals_used = 0;
    rest[0] = refusals[0] = '\0';
    for (const char *line = text; *line != '\0';) {
        const char *end = strchr(line, '\n');
        assert_non_null(end); /* every line ends in a newline */
        size_t length = (size_t)(end - line) + 1;
        bool refusal = strncmp(line, REFUSAL_PREFIX, strlen(REFUSAL_PREFIX)) == 0;
        char *out = refusal ? refusals : rest;
        size_t *used = refusal ? &refusals_used : &rest_used;
        size_t size = refusal ? refusals_size : rest_size;
        assert_true(*used + length < size);
        memcpy(out + *used, line, length);
        *used += length;
        out[*used] = '\0';
        line = end + 1;
    }
}

static size_t count_lines(const char *text)
{
    size_t count = 0;
    for (; *text != '\0'; text++) {
        count += *text == '\n';
    }
    return count;
}

/* Fills `counters` (counters_fill) and renders them with `store` (NULL:
 * unknown) into `out`, which must succeed; returns the text's length. */
static size_t render_filled(struct server_counters *counters,
                            const struct metrics_store_figures *store,
                            char out[METRICS_TEXT_BYTES_MAX])
{
    counters_fill(counters);
    size_t length = 0;
    assert_int_equal(metrics_render(counters, store, out, METRICS_TEXT_BYTES_MAX, &length),
                     LEDGER_ERR_OK);
    return length;
}

static void test_metrics_render_exact_lines(void **state)
{
    (void)state;
    static struct server_counters counters;
    static char out[METRICS_TEXT_BYTES_MAX];
    size_t length = render_filled(&counters, &store_figures, out);
    assert_int_equal(length, strlen(out));

    static char rest[METRICS_TEXT_BYTES_MAX], refusals[METRICS_TEXT_BYTES_MAX];
    split_refusals(out, rest, sizeof rest, refusals, sizeof refusals);
    static char expected[METRICS_TEXT_BYTES_MAX];
    size_t used = lines_join(expected_lines, sizeof expected_lines / sizeof expected_lines[0],
                             expected, sizeof expected, 0);
    lines_join(expected_store_lines, sizeof expected_store_lines / sizeof expected_store_lines[0],
               expected, sizeof expected, used);
    assert_string_equal(rest, expected);

    /* One sample per daemon-side code (1..79 of error.h), OK excluded. */
    size_t codes = 0;
    for (int code = 1; code < LEDGER_ERR_TIMEOUT; code++) {
        codes += ledger_err_valid(code) ? 1 : 0;
    }
    assert_int_equal(count_lines(refusals), codes);
    assert_non_null(strstr(refusals, "ledger_refusals_total{code=\"BAD_REQUEST\"} 0\n"));
    assert_non_null(strstr(refusals, "ledger_refusals_total{code=\"UNKNOWN_PRINCIPAL\"} 1\n"));
    assert_non_null(strstr(refusals, "ledger_refusals_total{code=\"STORAGE_FULL\"} 4\n"));
    assert_non_null(strstr(refusals, "ledger_refusals_total{code=\"NOT_FOUND\"} 0\n"));
    assert_null(strstr(refusals, "code=\"OK\""));
    assert_null(strstr(refusals, "code=\"TIMEOUT\""));
    /* The refusal samples follow their HELP and TYPE lines. */
    const char *type = strstr(out, "# TYPE ledger_refusals_total counter\n");
    assert_non_null(type);
    assert_ptr_equal(strstr(out, REFUSAL_PREFIX),
                     type + strlen("# TYPE ledger_refusals_total counter\n"));

    /* A client-side code appears once counted. */
    atomic_store(&counters.refusals_by_code[LEDGER_ERR_IO_ERROR], 1);
    assert_int_equal(metrics_render(&counters, &store_figures, out, sizeof out, &length),
                     LEDGER_ERR_OK);
    assert_non_null(strstr(out, "\nledger_refusals_total{code=\"IO_ERROR\"} 1\n"));
}

static void test_metrics_render_every_sample_has_help_and_type(void **state)
{
    (void)state;
    static struct server_counters counters;
    static char out[METRICS_TEXT_BYTES_MAX];
    render_filled(&counters, &store_figures, out);
    char family[128] = "";
    char type[16] = "";
    size_t samples = 0;
    for (char *line = strtok(out, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        if (strncmp(line, "# HELP ", 7) == 0) {
            assert_int_equal(sscanf(line + 7, "%127s", family), 1);
            type[0] = '\0';
            continue;
        }
        if (strncmp(line, "# TYPE ", 7) == 0) {
            char name[128];
            assert_int_equal(sscanf(line + 7, "%127s %15s", name, type), 2);
            assert_string_equal(name, family);
            assert_true(strcmp(type, "counter") == 0 || strcmp(type, "gauge") == 0 ||
                        strcmp(type, "histogram") == 0);
            continue;
        }
        /* A sample: its name is the family's, plus a histogram suffix. */
        samples++;
        assert_true(type[0] != '\0');
        size_t name_length = strcspn(line, "{ ");
        for (size_t i = 0; i < name_length; i++) {
            char c = line[i];
            assert_true((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_');
        }
        assert_int_equal(strncmp(line, family, strlen(family)), 0);
        const char *suffix = line + strlen(family);
        if (strcmp(type, "histogram") == 0) {
            assert_true(strncmp(suffix, "_bucket{le=\"", 12) == 0 ||
                        strncmp(suffix, "_sum ", 5) == 0 || strncmp(suffix, "_count ", 7) == 0);
        } else {
            assert_true(suffix[0] == ' ' || suffix[0] == '{');
        }
        /* The value: digits with an optional fraction. */
        const char *value = strrchr(line, ' ');
        assert_non_null(value);
        assert_true(value[1] >= '0' && value[1] <= '9');
    }
    assert_true(samples > 100);
}

static void test_metrics_render_without_store(void **state)
{
    (void)state;
    static struct server_counters counters;
    struct metrics_store_figures unknown = {.known = false, .map_bytes = 1};
    static char out[METRICS_TEXT_BYTES_MAX];
    size_t length = render_filled(&counters, &unknown, out);
    assert_null(strstr(out, "ledger_map_bytes"));
    assert_null(strstr(out, "ledger_head_sequence"));
    assert_null(strstr(out, "ledger_readers_max"));
    assert_non_null(strstr(out, "\nledger_commits_total 4\n"));
    /* NULL store: the same. */
    size_t length_null = 0;
    assert_int_equal(metrics_render(&counters, NULL, out, sizeof out, &length_null), LEDGER_ERR_OK);
    assert_int_equal(length_null, length);
}

static void test_metrics_render_too_small(void **state)
{
    (void)state;
    static struct server_counters counters;
    static char out[METRICS_TEXT_BYTES_MAX];
    size_t length = render_filled(&counters, &store_figures, out);
    /* One byte short of the text and its NUL: refused, length untouched. */
    size_t untouched = 12345;
    assert_int_equal(metrics_render(&counters, &store_figures, out, length, &untouched),
                     LEDGER_ERR_TOO_LARGE);
    assert_int_equal(untouched, 12345);
    assert_int_equal(metrics_render(&counters, &store_figures, out, 0, &untouched),
                     LEDGER_ERR_TOO_LARGE);
    assert_int_equal(metrics_render(&counters, &store_figures, NULL, 100, &untouched),
                     LEDGER_ERR_TOO_LARGE);
    assert_int_equal(untouched, 12345);
    /* Exactly enough. */
    assert_int_equal(metrics_render(&counters, &store_figures, out, length + 1, &untouched),
                     LEDGER_ERR_OK);
    assert_int_equal(untouched, length);
}

static void test_metrics_render_histogram_edges(void **state)
{
    (void)state;
    static struct server_counters counters;
    memset(&counters, 0, sizeof counters);
    /* A value on a bound counts in that bound's bucket; the overflow bucket
     * shows only in +Inf. */
    atomic_store(&counters.commit_latency_buckets[0], 1);
    atomic_store(&counters.commit_latency_buckets[SERVER_COMMIT_LATENCY_BUCKETS - 1], 2);
    atomic_store(&counters.commit_latency_us_sum, 10000100);
    atomic_store(&counters.group_commands_buckets[SERVER_GROUP_COMMANDS_BUCKETS], 6);
    atomic_store(&counters.group_commands_sum, 600006);
    static char out[METRICS_TEXT_BYTES_MAX];
    size_t length = 0;
    assert_int_equal(metrics_render(&counters, NULL, out, sizeof out, &length), LEDGER_ERR_OK);
    assert_non_null(strstr(out, "\nledger_commit_duration_seconds_bucket{le=\"0.0001\"} 1\n"));
    assert_non_null(strstr(out, "\nledger_commit_duration_seconds_bucket{le=\"2.5\"} 1\n"));
    assert_non_null(strstr(out, "\nledger_commit_duration_seconds_bucket{le=\"5\"} 3\n"));
    assert_non_null(strstr(out, "\nledger_commit_duration_seconds_bucket{le=\"+Inf\"} 3\n"));
    assert_non_null(strstr(out, "\nledger_commit_duration_seconds_sum 10.0001\n"));
    assert_non_null(strstr(out, "\nledger_commit_duration_seconds_count 3\n"));
    assert_non_null(strstr(out, "\nledger_commit_commands_bucket{le=\"100000\"} 0\n"));
    assert_non_null(strstr(out, "\nledger_commit_commands_bucket{le=\"+Inf\"} 6\n"));
    assert_non_null(strstr(out, "\nledger_commit_commands_sum 600006\n"));
    assert_non_null(strstr(out, "\nledger_commit_commands_count 6\n"));
    /* A zero sum is written as 0, not as an empty fraction. */
    memset(&counters, 0, sizeof counters);
    assert_int_equal(metrics_render(&counters, NULL, out, sizeof out, &length), LEDGER_ERR_OK);
    assert_non_null(strstr(out, "\nledger_commit_duration_seconds_sum 0\n"));
}

static void test_metrics_query_kind_names(void **state)
{
    (void)state;
    assert_string_equal(server_query_kind_name(0), "events");
    assert_string_equal(server_query_kind_name(22 - SERVER_QUERY_KIND_FIRST), "stats");
    assert_string_equal(server_query_kind_name(23 - SERVER_QUERY_KIND_FIRST), "backup");
    assert_null(server_query_kind_name(24 - SERVER_QUERY_KIND_FIRST));
    assert_null(server_query_kind_name(SERVER_QUERY_KIND_SLOTS));
    assert_null(server_query_kind_name((size_t)-1));
}

/* --- addresses ---------------------------------------------------------------------- */

static void expect_address(const char *listen, bool allow_remote, enum ledger_err expected,
                           const char *reason)
{
    char error[METRICS_ERROR_SIZE] = "";
    enum ledger_err err = metrics_listen_check(listen, allow_remote, error);
    if (err != expected) {
        fail_msg("%s (allow_remote %d): got %s, wanted %s (%s)", listen ? listen : "NULL",
                 allow_remote, ledger_err_name(err), ledger_err_name(expected), error);
    }
    if (reason != NULL && strstr(error, reason) == NULL) {
        fail_msg("%s: error \"%s\" lacks \"%s\"", listen, error, reason);
    }
}

/* IPv6 addresses that end in ::1 but are not the loopback, whichever of
 * their first three 32-bit words is not zero: refused unless remote
 * scrapes are allowed, as any other non-loopback address. */
static void test_metrics_listen_ipv6_ending_in_one(void **state)
{
    (void)state;
    static const char *const addresses[] = {"[2001:db8::1]:9464", "[0:0:1::1]:9464",
                                            "[::1:0:0:1]:9464", "[::2]:9464"};
    for (size_t i = 0; i < sizeof addresses / sizeof addresses[0]; i++) {
        expect_address(addresses[i], false, LEDGER_ERR_INVALID_ARGUMENT,
                       "is not loopback; set metrics_allow_remote = true to serve metrics to "
                       "other hosts");
        expect_address(addresses[i], true, LEDGER_ERR_OK, NULL);
    }
}

static void test_metrics_listen_check(void **state)
{
    (void)state;
    /* Loopback: always. */
    expect_address("127.0.0.1:9464", false, LEDGER_ERR_OK, NULL);
    expect_address("127.4.5.6:1", false, LEDGER_ERR_OK, NULL);
    expect_address("[::1]:9464", false, LEDGER_ERR_OK, NULL);
    expect_address("127.0.0.1:65535", false, LEDGER_ERR_OK, NULL);
    /* Elsewhere: only when allowed. */
    expect_address("0.0.0.0:9464", false, LEDGER_ERR_INVALID_ARGUMENT, "metrics_allow_remote");
    expect_address("10.1.2.3:9464", false, LEDGER_ERR_INVALID_ARGUMENT, "not loopback");
    expect_address("128.0.0.1:9464", false, LEDGER_ERR_INVALID_ARGUMENT, "not loopback");
    expect_address("[::]:9464", false, LEDGER_ERR_INVALID_ARGUMENT, "not loopback");
    /* An IPv4 address written as IPv6 never binds the endpoint's IPv6-only
     * socket: refused, with its IPv4 spelling, allowed or not. */
    expect_address("[::ffff:127.0.0.1]:9464", false, LEDGER_ERR_INVALID_ARGUMENT,
                   "metrics address [::ffff:127.0.0.1]:9464 is an IPv4 address written as IPv6, "
                   "which the endpoint cannot bind: write 127.0.0.1:9464");
    expect_address("[::ffff:10.0.0.1]:9464", true, LEDGER_ERR_INVALID_ARGUMENT,
                   "write 10.0.0.1:9464");
    expect_address("0.0.0.0:9464", true, LEDGER_ERR_OK, NULL);
    expect_address("10.1.2.3:9464", true, LEDGER_ERR_OK, NULL);
    expect_address("[::]:9464", true, LEDGER_ERR_OK, NULL);
    /* Malformed. */
    expect_address(NULL, false, LEDGER_ERR_INVALID_ARGUMENT, "host:port");
    expect_address("", false, LEDGER_ERR_INVALID_ARGUMENT, "host:port");
    expect_address("9464", false, LEDGER_ERR_INVALID_ARGUMENT, "host:port");
    expect_address(":9464", false, LEDGER_ERR_INVALID_ARGUMENT, "host:port");
    expect_address("127.0.0.1:", false, LEDGER_ERR_INVALID_ARGUMENT, "host:port");
    expect_address("127.0.0.1:0", true, LEDGER_ERR_INVALID_ARGUMENT, "1..65535");
    expect_address("127.0.0.1:65536", true, LEDGER_ERR_INVALID_ARGUMENT, "1..65535");
    expect_address("127.0.0.1:123456", true, LEDGER_ERR_INVALID_ARGUMENT, "1..65535");
    expect_address("127.0.0.1:94x", true, LEDGER_ERR_INVALID_ARGUMENT, "1..65535");
    expect_address("127.0.0.1:-1", true, LEDGER_ERR_INVALID_ARGUMENT, "1..65535");
    expect_address("::1:9464", false, LEDGER_ERR_INVALID_ARGUMENT, "[address]:port");
    expect_address("[::1:9464", false, LEDGER_ERR_INVALID_ARGUMENT, "[address]:port");
    expect_address("[]:9464", false, LEDGER_ERR_INVALID_ARGUMENT, "[address]:port");
    expect_address("no-such-host.invalid:9464", true, LEDGER_ERR_INVALID_ARGUMENT,
                   "cannot resolve");
    char long_address[400];
    memset(long_address, '1', sizeof long_address);
    memcpy(long_address + sizeof long_address - 6, ":9464", 6);
    expect_address(long_address, true, LEDGER_ERR_INVALID_ARGUMENT, "host:port");
}

/* --- the endpoint ------------------------------------------------------------------- */

struct fixture {
    char dir[512];
    struct engine *engine;
    struct server_counters counters;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    test_make_dir(f->dir, sizeof f->dir, "metrics");
    f->engine = test_engine_new(f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    engine_close(f->engine);
    test_remove_dir(f->dir);
    free(f);
    return 0;
}

/* Sends `request` to the loopback address of `family` (AF_INET: 127.0.0.1,
 * AF_INET6: ::1), port `port`, and reads the whole answer (HTTP/1.0: the
 * server closes after it) into out. Returns the status code, or 0 when the
 * server closed without answering. */
static int http_call_to(int family, unsigned port, const char *request, char *out, size_t size)
{
    int fd = socket(family, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct timeval timeout = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct sockaddr_in6 address6 = {.sin6_family = AF_INET6,
                                    .sin6_port = htons((uint16_t)port),
                                    .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    if (family == AF_INET6) {
        assert_int_equal(connect(fd, (struct sockaddr *)&address6, sizeof address6), 0);
    } else {
        assert_int_equal(connect(fd, (struct sockaddr *)&address, sizeof address), 0);
    }
    size_t length = strlen(request);
    assert_int_equal(write(fd, request, length), (ssize_t)length);
    size_t used = 0;
    for (;;) {
        assert_true(used < size - 1);
        ssize_t got = read(fd, out + used, size - 1 - used);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        assert_true(got >= 0);
        if (got == 0) {
            break;
        }
        used += (size_t)got;
    }
    out[used] = '\0';
    close(fd);
    int status = 0;
    if (used == 0) {
        return 0; /* closed without an answer */
    }
    if (sscanf(out, "HTTP/1.%*d %d", &status) != 1) {
        fail_msg("not an HTTP answer to %s: \"%s\"", request, out);
    }
    return status;
}

/* The same to 127.0.0.1. */
static int http_call(unsigned port, const char *request, char *out, size_t size)
{
    return http_call_to(AF_INET, port, request, out, size);
}

static const char *http_body(const char *answer)
{
    const char *body = strstr(answer, "\r\n\r\n");
    assert_non_null(body);
    return body + 4;
}

static void test_metrics_endpoint_answers(void **state)
{
    struct fixture *f = *state;
    atomic_store(&f->counters.commits, 42);
    atomic_store(&f->counters.refusals_by_code[LEDGER_ERR_BAD_SIGNATURE], 3);
    unsigned port = test_free_port();
    char listen[64];
    snprintf(listen, sizeof listen, "127.0.0.1:%u", port);
    struct metrics_options options = {
        .listen = listen, .engine = f->engine, .counters = &f->counters};
    struct metrics *metrics = NULL;
    assert_int_equal(metrics_start(&options, &metrics), LEDGER_ERR_OK);

    static char answer[METRICS_TEXT_BYTES_MAX + 4096];
    assert_int_equal(http_call(port, "GET /metrics HTTP/1.0\r\n\r\n", answer, sizeof answer), 200);
    assert_non_null(
        strstr(answer, "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
    const char *body = http_body(answer);
    assert_int_equal(strncmp(body, "# HELP ledger_requests_total ", 29), 0);
    assert_non_null(strstr(body, "\nledger_commits_total 42\n"));
    assert_non_null(strstr(body, "\nledger_refusals_total{code=\"BAD_SIGNATURE\"} 3\n"));
    /* The store's figures come from the fresh engine: the init events, a map
     * of its initial size, the default maximum. */
    char head_line[64];
    snprintf(head_line, sizeof head_line, "\nledger_head_sequence %llu\n",
             (unsigned long long)engine_head_sequence(f->engine));
    assert_non_null(strstr(body, head_line));
    assert_non_null(strstr(body, "\nledger_map_bytes 67108864\n"));
    assert_non_null(strstr(body, "\nledger_map_bytes_max 68719476736\n"));
    assert_non_null(strstr(body, "\nledger_readers_max 126\n"));
    /* Counters move between scrapes. */
    atomic_store(&f->counters.commits, 43);
    assert_int_equal(http_call(port,
                               "GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                               answer, sizeof answer),
                     200);
    assert_non_null(strstr(http_body(answer), "\nledger_commits_total 43\n"));
    /* HEAD: the headers only. */
    assert_int_equal(http_call(port, "HEAD /metrics HTTP/1.0\r\n\r\n", answer, sizeof answer), 200);
    assert_string_equal(http_body(answer), "");

    /* Everything else: 404. */
    const char *others[] = {
        "GET / HTTP/1.0\r\n\r\n",
        "GET /metrics/ HTTP/1.0\r\n\r\n",
        "GET /metricsx HTTP/1.0\r\n\r\n",
        "GET /Metrics HTTP/1.0\r\n\r\n",
        "POST /metrics HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc",
        "PUT /metrics HTTP/1.0\r\nContent-Length: 0\r\n\r\n",
        "DELETE /metrics HTTP/1.0\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        int status = http_call(port, others[i], answer, sizeof answer);
        if (status != 404) {
            fail_msg("%s: status %d", others[i], status);
        }
        assert_null(strstr(answer, "ledger_commits_total"));
    }
    /* Garbage is dropped (or answered 400) by libmicrohttpd, and the endpoint
     * goes on. */
    int status = http_call(port, "NONSENSE\r\n\r\n", answer, sizeof answer);
    assert_true(status == 0 || status == 400);
    assert_int_equal(http_call(port, "GET /metrics HTTP/1.0\r\n\r\n", answer, sizeof answer), 200);

    /* A second endpoint on the same port cannot bind. */
    struct metrics *second = NULL;
    assert_int_equal(metrics_start(&options, &second), LEDGER_ERR_UNAVAILABLE);
    assert_null(second);
    metrics_stop(metrics);
    /* Stopped: the port is closed. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&address, sizeof address), -1);
    close(fd);
    metrics_stop(NULL);
}

/* metrics_listen on IPv6's loopback ([::1]:port, accepted as loopback by
 * metrics_listen_check) is served there. */
static void test_metrics_endpoint_on_ipv6_loopback(void **state)
{
    struct fixture *f = *state;
    atomic_store(&f->counters.commits, 7);
    unsigned port = test_free_port();
    char listen[64];
    snprintf(listen, sizeof listen, "[::1]:%u", port);
    struct metrics_options options = {
        .listen = listen, .engine = f->engine, .counters = &f->counters};
    struct metrics *metrics = NULL;
    assert_int_equal(metrics_start(&options, &metrics), LEDGER_ERR_OK);
    static char answer[METRICS_TEXT_BYTES_MAX + 4096];
    assert_int_equal(
        http_call_to(AF_INET6, port, "GET /metrics HTTP/1.0\r\n\r\n", answer, sizeof answer), 200);
    assert_non_null(strstr(http_body(answer), "\nledger_commits_total 7\n"));
    metrics_stop(metrics);
}

static void test_metrics_endpoint_refuses_remote(void **state)
{
    struct fixture *f = *state;
    struct metrics_options options = {
        .listen = "0.0.0.0:9464", .engine = f->engine, .counters = &f->counters};
    struct metrics *metrics = NULL;
    assert_int_equal(metrics_start(&options, &metrics), LEDGER_ERR_INVALID_ARGUMENT);
    assert_null(metrics);
    options.listen = "127.0.0.1:0";
    assert_int_equal(metrics_start(&options, &metrics), LEDGER_ERR_INVALID_ARGUMENT);
    assert_null(metrics);
    options.listen = "localhost";
    assert_int_equal(metrics_start(&options, &metrics), LEDGER_ERR_INVALID_ARGUMENT);
    assert_null(metrics);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_render_exact_lines),
        cmocka_unit_test(test_metrics_render_every_sample_has_help_and_type),
        cmocka_unit_test(test_metrics_render_without_store),
        cmocka_unit_test(test_metrics_render_too_small),
        cmocka_unit_test(test_metrics_render_histogram_edges),
        cmocka_unit_test(test_metrics_query_kind_names),
        cmocka_unit_test(test_metrics_listen_check),
        cmocka_unit_test(test_metrics_listen_ipv6_ending_in_one),
        cmocka_unit_test_setup_teardown(test_metrics_endpoint_answers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metrics_endpoint_on_ipv6_loopback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metrics_endpoint_refuses_remote, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
