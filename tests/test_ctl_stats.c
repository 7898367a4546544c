/*
 * test_ctl_stats.c: `ledgerctl stats` as a person reads it (ctl_stats.h).
 * Goal: the summary names every figure the daemon sends once, in words;
 * averages come from the histograms' sums and counts and the 99th
 * percentiles from their cumulative buckets (the +Inf bucket said as "more
 * than" the last bound); queries and refusals list only what happened,
 * largest first; a series an older daemon does not send is "-", empty
 * histograms say so; a summary that cannot be written is IO_ERROR.
 * Method: rows built by hand, printed into a memory stream (or /dev/full),
 * compared as exact text.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ctl_stats.h"

#define ROWS_MAX 64

struct rows {
    Ledger__V1__Stat stats[ROWS_MAX];
    Ledger__V1__Stat *pointers[ROWS_MAX];
    size_t count;
};

static void row(struct rows *rows, const char *name, const char *labels, double value)
{
    assert_true(rows->count < ROWS_MAX);
    Ledger__V1__Stat stat = LEDGER__V1__STAT__INIT;
    stat.name = (char *)name;
    stat.labels = (char *)labels;
    stat.value = value;
    rows->stats[rows->count] = stat;
    rows->pointers[rows->count] = &rows->stats[rows->count];
    rows->count++;
}

/* The summary of `rows`, as text (the caller frees it). */
static char *summary(const struct rows *rows)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    assert_non_null(out);
    assert_int_equal(
        LEDGER_ERR_OK,
        ctl_stats_summary(out, (Ledger__V1__Stat *const *)rows->pointers, rows->count));
    fclose(out);
    return text;
}

/* A busy daemon's figures, as its stats query sends them (in its order). */
static void busy_daemon(struct rows *r)
{
    row(r, "ledger_head_sequence", "", 1000001);
    row(r, "ledger_map_bytes", "", 2147483648.0);
    row(r, "ledger_map_bytes_max", "", 68719476736.0);
    row(r, "ledger_map_used_bytes", "", 1503238553.6);
    row(r, "ledger_readers_used", "", 3);
    row(r, "ledger_readers_max", "", 126);
    row(r, "ledger_requests_total", "", 52000);
    row(r, "ledger_requests_in_flight", "", 12);
    row(r, "ledger_commits_total", "", 4000);
    row(r, "ledger_commit_failures_total", "", 2);
    row(r, "ledger_events_appended_total", "", 50010);
    row(r, "ledger_reservations_expired_total", "", 7);
    row(r, "ledger_expiries_refused_total", "", 1);
    row(r, "ledger_commands_accepted_total", "", 50000);
    /* 4,000 commits: 3,000 of 1 to 10 commands, 960 more up to 20, 40
     * larger: the 3,960th (99 %) is in the bucket of 20. */
    row(r, "ledger_commit_commands_bucket", "le=\"1\"", 1000);
    row(r, "ledger_commit_commands_bucket", "le=\"10\"", 3000);
    row(r, "ledger_commit_commands_bucket", "le=\"20\"", 3960);
    row(r, "ledger_commit_commands_bucket", "le=\"50\"", 3990);
    row(r, "ledger_commit_commands_bucket", "le=\"+Inf\"", 4000);
    row(r, "ledger_commit_commands_sum", "", 50000);
    row(r, "ledger_commit_commands_count", "", 4000);
    row(r, "ledger_commit_duration_seconds_bucket", "le=\"0.0005\"", 100);
    row(r, "ledger_commit_duration_seconds_bucket", "le=\"0.0025\"", 3000);
    row(r, "ledger_commit_duration_seconds_bucket", "le=\"0.005\"", 3960);
    row(r, "ledger_commit_duration_seconds_bucket", "le=\"+Inf\"", 4000);
    row(r, "ledger_commit_duration_seconds_sum", "", 9.2);
    row(r, "ledger_commit_duration_seconds_count", "", 4000);
    row(r, "ledger_slow_commits_total", "", 5);
    row(r, "ledger_queries_total", "kind=\"events\"", 1200);
    row(r, "ledger_queries_total", "kind=\"reservations\"", 0);
    row(r, "ledger_queries_total", "kind=\"head\"", 40);
    row(r, "ledger_queries_total", "kind=\"stats\"", 40);
    row(r, "ledger_refusals_total", "code=\"BAD_SIGNATURE\"", 0);
    row(r, "ledger_refusals_total", "code=\"FORBIDDEN\"", 3);
    row(r, "ledger_refusals_total", "code=\"UNCHANGED\"", 9);
    row(r, "ledger_refusals_total", "code=\"CUSTOMER_EXISTS\"", 3);
    row(r, "ledger_replies_dropped_total", "", 4);
    row(r, "ledger_backpressure_pauses_total", "", 6);
    row(r, "ledger_replays_refused_total", "", 8);
    row(r, "ledger_replays_forgotten_total", "", 0);
    row(r, "ledger_subscribers", "", 2);
    row(r, "ledger_doorbells_published_total", "", 3999);
    row(r, "ledger_doorbells_dropped_total", "", 11);
}

static void test_ctl_stats_busy_daemon(void **state)
{
    (void)state;
    struct rows r = {.count = 0};
    busy_daemon(&r);
    char *text = summary(&r);
    assert_string_equal(
        text,
        "store        1000001 events; 1.4 GiB of the 2.0 GiB map used (it may grow to 64.0 GiB); "
        "3 of 126 reader slots in use\n"
        "requests     52000 received, 12 in flight; reading paused 6 times; 4 replies dropped\n"
        "commits      4000 (2 failed, 5 slow): 50000 commands accepted, 50010 events appended\n"
        "  size       12.5 commands per commit on average; 99% of commits held at most 20\n"
        "  duration   2.30 ms on average; 99% of commits took at most 5.00 ms\n"
        "queries      1280: events 1200, head 40, stats 40\n"
        "refusals     15: UNCHANGED 9, CUSTOMER_EXISTS 3, FORBIDDEN 3\n"
        "expiries     7 reservations expired by the schedule, 1 refused\n"
        "subscribers  2; 3999 doorbells published, 11 dropped\n"
        "replays      8 refused, 0 forgotten early\n");
    free(text);
}

/* Past the last bound, a percentile is only known to be above it; slow
 * commits are said in seconds, quick ones in microseconds; a store under a
 * KiB in bytes. */
static void test_ctl_stats_overflow_and_units(void **state)
{
    (void)state;
    struct rows r = {.count = 0};
    row(&r, "ledger_map_used_bytes", "", 512);
    row(&r, "ledger_commit_commands_bucket", "le=\"1000\"", 1);
    row(&r, "ledger_commit_commands_bucket", "le=\"+Inf\"", 100);
    row(&r, "ledger_commit_commands_sum", "", 200000);
    row(&r, "ledger_commit_commands_count", "", 100);
    row(&r, "ledger_commit_duration_seconds_bucket", "le=\"0.0001\"", 99);
    row(&r, "ledger_commit_duration_seconds_bucket", "le=\"5\"", 99);
    row(&r, "ledger_commit_duration_seconds_bucket", "le=\"+Inf\"", 100);
    row(&r, "ledger_commit_duration_seconds_sum", "", 0.0042);
    row(&r, "ledger_commit_duration_seconds_count", "", 100);
    char *text = summary(&r);
    const char *wanted[] = {
        "store        - events; 512 bytes of the - map used",
        "\n  size       2000 commands per commit on average; 99% of commits held more than "
        "1000\n",
        "\n  duration   42 us on average; 99% of commits took at most 100 us\n",
    };
    for (size_t i = 0; i < sizeof wanted / sizeof wanted[0]; i++) {
        if (strstr(text, wanted[i]) == NULL) {
            fail_msg("wanted \"%s\" in:\n%s", wanted[i], text);
        }
    }
    free(text);

    /* 99 of 100 within 5 s, the last beyond every bound: 1 s and more in
     * seconds. */
    struct rows slow = {.count = 0};
    row(&slow, "ledger_commit_duration_seconds_bucket", "le=\"2.5\"", 98);
    row(&slow, "ledger_commit_duration_seconds_bucket", "le=\"5\"", 99);
    row(&slow, "ledger_commit_duration_seconds_bucket", "le=\"+Inf\"", 100);
    row(&slow, "ledger_commit_duration_seconds_sum", "", 250);
    row(&slow, "ledger_commit_duration_seconds_count", "", 100);
    text = summary(&slow);
    const char *slow_line =
        "\n  duration   2.50 s on average; 99% of commits took at most 5.00 s\n";
    if (strstr(text, slow_line) == NULL) {
        fail_msg("wanted \"%s\" in:\n%s", slow_line, text);
    }
    free(text);
}

/* A map at or past map_bytes_max (the setting lowered below the map's size,
 * or the map grown to it) grows no further: never "may grow to" a smaller
 * size than it has. */
static void test_ctl_stats_map_past_its_maximum(void **state)
{
    (void)state;
    static const struct {
        double map_bytes;
        const char *wanted;
    } cases[] = {
        {134217728.0, "store        - events; 72.0 MiB of the 128.0 MiB map used (it grows no "
                      "further: map_bytes_max is 64.0 MiB); - of - reader slots in use\n"},
        {67108864.0, "store        - events; 72.0 MiB of the 64.0 MiB map used (it grows no "
                     "further: map_bytes_max is 64.0 MiB); - of - reader slots in use\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct rows r = {.count = 0};
        row(&r, "ledger_map_used_bytes", "", 75497472.0);
        row(&r, "ledger_map_bytes", "", cases[i].map_bytes);
        row(&r, "ledger_map_bytes_max", "", 67108864.0);
        char *text = summary(&r);
        if (strncmp(text, cases[i].wanted, strlen(cases[i].wanted)) != 0) {
            fail_msg("wanted \"%s\" in:\n%s", cases[i].wanted, text);
        }
        free(text);
    }
}

/* One command per commit is said in the singular. */
static void test_ctl_stats_one_command_per_commit(void **state)
{
    (void)state;
    struct rows r = {.count = 0};
    row(&r, "ledger_commit_commands_bucket", "le=\"1\"", 5);
    row(&r, "ledger_commit_commands_bucket", "le=\"+Inf\"", 5);
    row(&r, "ledger_commit_commands_sum", "", 5);
    row(&r, "ledger_commit_commands_count", "", 5);
    char *text = summary(&r);
    assert_non_null(strstr(
        text, "\n  size       1 command per commit on average; 99% of commits held at most 1\n"));
    free(text);
}

/* A daemon that has not committed yet; and one that sends nothing this
 * build knows (an older one): every figure "-", never a made-up zero. */
static void test_ctl_stats_nothing_yet_and_nothing_sent(void **state)
{
    (void)state;
    struct rows r = {.count = 0};
    row(&r, "ledger_commit_commands_count", "", 0);
    row(&r, "ledger_commit_commands_sum", "", 0);
    row(&r, "ledger_commit_commands_bucket", "le=\"+Inf\"", 0);
    row(&r, "ledger_commit_duration_seconds_count", "", 0);
    row(&r, "ledger_queries_total", "kind=\"events\"", 0);
    row(&r, "ledger_refusals_total", "code=\"FORBIDDEN\"", 0);
    char *text = summary(&r);
    assert_non_null(strstr(text, "\n  size       no commit yet\n  duration   no commit yet\n"));
    assert_non_null(strstr(text, "\nqueries      none\nrefusals     none\n"));
    free(text);

    struct rows none = {.count = 0};
    text = summary(&none);
    assert_string_equal(
        text, "store        - events; - of the - map used (it may grow to -); - of - reader slots "
              "in use\n"
              "requests     - received, - in flight; reading paused - times; - replies dropped\n"
              "commits      - (- failed, - slow): - commands accepted, - events appended\n"
              "  size       no commit yet\n"
              "  duration   no commit yet\n"
              "queries      -\n"
              "refusals     -\n"
              "expiries     - reservations expired by the schedule, - refused\n"
              "subscribers  -; - doorbells published, - dropped\n"
              "replays      - refused, - forgotten early\n");
    free(text);
}

/* Commits counted, but a histogram's sum or buckets not sent (an older
 * daemon), or buckets that never reach the count, or whose bounds are not
 * quoted: the figure that cannot be told is "-", never "no commit yet". */
static void test_ctl_stats_histogram_parts_missing(void **state)
{
    (void)state;
    struct rows r = {.count = 0};
    row(&r, "ledger_commit_commands_count", "", 4000);
    row(&r, "ledger_commit_commands_sum", "", 50000);
    row(&r, "ledger_commit_duration_seconds_count", "", 4000);
    row(&r, "ledger_commit_duration_seconds_bucket", "le=\"0.0025\"", 3000);
    row(&r, "ledger_commit_duration_seconds_bucket", "le=0.005", 4000);
    char *text = summary(&r);
    assert_non_null(strstr(text, "\n  size       12.5 commands per commit on average; 99% of "
                                 "commits held at most -\n"
                                 "  duration   - on average; 99% of commits took at most -\n"));
    free(text);
}

static void test_ctl_stats_write_failure(void **state)
{
    (void)state;
    struct rows r = {.count = 0};
    busy_daemon(&r);
    FILE *full = fopen("/dev/full", "w");
    assert_non_null(full);
    assert_int_equal(LEDGER_ERR_IO_ERROR,
                     ctl_stats_summary(full, (Ledger__V1__Stat *const *)r.pointers, r.count));
    fclose(full);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ctl_stats_busy_daemon),
        cmocka_unit_test(test_ctl_stats_overflow_and_units),
        cmocka_unit_test(test_ctl_stats_map_past_its_maximum),
        cmocka_unit_test(test_ctl_stats_one_command_per_commit),
        cmocka_unit_test(test_ctl_stats_nothing_yet_and_nothing_sent),
        cmocka_unit_test(test_ctl_stats_histogram_parts_missing),
        cmocka_unit_test(test_ctl_stats_write_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
