/*
 * test_bench.c: tools/ledger-bench, the program docs/performance.md's
 * figures come from, still runs and reports what it claims to.
 *
 * Goal: every measurement of `all`, `daemon-query --as-of-business`,
 * `rebuild` and `sweep` runs to the end on a real daemon and prints
 * well-formed JSON whose derived numbers (the ratios, the verdicts against
 * the targets, the raw baseline's record size) follow from its measured
 * ones; the sweep writes its points and its plot;
 * bad usage is refused with exit 2 and a message that names the problem.
 *
 * Method: the real ledger-bench ($LEDGER_BENCH, with $LEDGERD for its daemon)
 * at the smallest sizes, one second per measurement, its output captured.
 * Nothing here judges a rate or a latency: this machine's speed is not under
 * test, only that the figures are there, consistent and honestly labelled
 * (docs/performance.md, "Method").
 */
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>

#include <cmocka.h>
#include <jansson.h>

#define CTL_HARNESS_LABEL "bench"
#include "ctl_harness.h"

/* The targets ledger-bench judges against (docs/performance.md). */
#define TARGET_RATIO         0.5
#define TARGET_QUERY_P99_US  1000.0
#define TARGET_REBUILD_PER_S 500000.0
#define MEASUREMENTS_MAX     16

static const char *bench_path(void)
{
    const char *path = getenv("LEDGER_BENCH");
    return path != NULL ? path : "../tools/ledger-bench";
}

static int scratch_setup(void **state)
{
    struct fixture *fixture = calloc(1, sizeof *fixture);
    if (fixture == NULL) {
        return -1;
    }
    test_make_dir(fixture->dir, sizeof fixture->dir, CTL_HARNESS_LABEL);
    *state = fixture;
    return 0;
}

static int scratch_teardown(void **state)
{
    struct fixture *fixture = *state;
    remove_tree(fixture->dir);
    free(fixture);
    return 0;
}

/* Runs ledger-bench with the arguments (NULL-terminated) and --dir set to
 * the scratch directory, so that its daemons' directories stay inside it. */
static void bench(struct fixture *fixture, struct run *run, ...)
{
    const char *argv[ARGS_MAX];
    int argc = 0;
    argv[argc++] = bench_path();
    va_list args;
    va_start(args, run);
    for (const char *arg = va_arg(args, const char *); arg != NULL && argc < ARGS_MAX - 3;
         arg = va_arg(args, const char *)) {
        argv[argc++] = arg;
    }
    va_end(args);
    argv[argc++] = "--dir";
    argv[argc++] = fixture->dir;
    argv[argc] = NULL;
    run_argv(fixture, run, argv);
}

/* The JSON lines of a run's output by their "bench" name. */
struct measurements {
    json_t *line[MEASUREMENTS_MAX];
    size_t count;
};

static void collect_line(void *context, json_t *object, const char *line)
{
    (void)line;
    struct measurements *m = context;
    assert_true(m->count < MEASUREMENTS_MAX);
    m->line[m->count++] = json_incref(object);
}

/* Every line of stdout that starts with '{' must be JSON: the other lines
 * are the same figures for a person. */
static void measurements_parse(const struct run *run, struct measurements *m)
{
    memset(m, 0, sizeof *m);
    size_t size = strlen(run->out);
    char *json_only = calloc(1, size + 1);
    assert_non_null(json_only);
    size_t at = 0;
    for (const char *line = run->out; *line != '\0';) {
        const char *end = strchr(line, '\n');
        size_t length = end != NULL ? (size_t)(end - line) + 1 : strlen(line);
        if (line[0] == '{') {
            memcpy(json_only + at, line, length);
            at += length;
        }
        line += length;
    }
    json_lines_each(json_only, collect_line, m);
    free(json_only);
}

static void measurements_free(struct measurements *m)
{
    for (size_t i = 0; i < m->count; i++) {
        json_decref(m->line[i]);
    }
}

static json_t *measurement(const struct measurements *m, const char *name)
{
    for (size_t i = 0; i < m->count; i++) {
        const char *bench_name = json_string_value(json_object_get(m->line[i], "bench"));
        if (bench_name != NULL && strcmp(bench_name, name) == 0) {
            return m->line[i];
        }
    }
    fail_msg("no \"%s\" measurement in the output", name);
    return NULL;
}

static double number_at(json_t *object, const char *key)
{
    json_t *member = json_object_get(object, key);
    if (!json_is_number(member)) {
        fail_msg("\"%s\" is not a number", key);
    }
    return json_number_value(member);
}

static bool bool_at(json_t *object, const char *key)
{
    json_t *member = json_object_get(object, key);
    if (!json_is_boolean(member)) {
        fail_msg("\"%s\" is not true or false", key);
    }
    return json_is_true(member);
}

/* A ratio printed with three decimals equals the quotient of the two rates
 * printed, each rounded to within `rounding` (0.05 for one decimal, 0.5 for
 * none: a slow machine's small rates make that rounding count). */
static void expect_ratio(double printed, double numerator, double denominator, double rounding)
{
    assert_true(denominator > 0);
    double ratio = numerator / denominator;
    double slack = 0.0006 + ratio * (rounding / numerator + rounding / denominator);
    if (printed < ratio - slack || printed > ratio + slack) {
        fail_msg("printed ratio %.3f, but %.1f / %.1f = %.4f", printed, numerator, denominator,
                 ratio);
    }
}

/* A verdict against a target follows from the printed figure, unless the
 * figure lies within its rounding of the target (then either may be
 * right). at_least: the target is a floor (else a ceiling, not reached). */
static void expect_verdict(bool met, double printed, double target, double rounding, bool at_least)
{
    if (printed > target - rounding && printed < target + rounding) {
        return;
    }
    assert_int_equal(at_least ? printed >= target : printed < target, met);
}

/* Percentiles never decrease, and a measurement that ran has a latency. */
static void expect_percentiles(json_t *object, const char *key)
{
    json_t *latency = json_object_get(object, key);
    assert_non_null(latency);
    const char *order[] = {"p50", "p90", "p99", "p999", "max"};
    double previous = 0;
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        double value = number_at(latency, order[i]);
        if (value < previous || value <= 0) {
            fail_msg("%s.%s = %.1f after %.1f", key, order[i], value, previous);
        }
        previous = value;
    }
}

static void expect_clean_throughput(json_t *object, double clients)
{
    assert_true(number_at(object, "clients") == clients);
    assert_true(number_at(object, "failures") == 0);
    assert_true(number_at(object, "requests") > 0);
    assert_true(number_at(object, "requests_per_s") > 0);
    expect_percentiles(object, "latency_us");
}

/* daemon-query's plain reservations queries at the sizes the tests use: 20
 * customers, 2,000 events, 50 queries. */
static void expect_query(json_t *query)
{
    assert_true(number_at(query, "customers") == 20);
    assert_true(number_at(query, "events") >= 2000);
    assert_true(number_at(query, "queries") == 50);
    assert_true(number_at(query, "failures") == 0);
    assert_true(number_at(query, "rows_mean") > 0);
    expect_percentiles(query, "latency_us");
}

static void test_bench_all_reports_every_measurement_and_its_ratios(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    bench(fixture, &run, "all", "--seconds", "1", "--clients", "2", "--batch", "10", "--customers",
          "20", "--events", "2000", "--queries", "50", NULL);
    if (run.status != 0) {
        fail_msg("ledger-bench all: exit %d: %s", run.status, run.err);
    }
    struct measurements m;
    measurements_parse(&run, &m);
    assert_int_equal(6, m.count);

    json_t *echo = measurement(&m, "echo");
    json_t *commands = measurement(&m, "daemon-commands");
    expect_clean_throughput(echo, 2);
    expect_clean_throughput(commands, 2);
    /* A single command is one event. */
    assert_true(number_at(commands, "events_per_s") == number_at(commands, "requests_per_s"));

    json_t *batches = measurement(&m, "daemon-batches");
    assert_true(number_at(batches, "batch") == 10);
    assert_true(number_at(batches, "batches") > 0);
    /* At most 10 events a batch (fewer when the history changes principal,
     * and in the last one). */
    assert_true(number_at(batches, "events_per_s") <= 10 * number_at(batches, "batches_per_s") + 1);
    assert_true(number_at(batches, "events_per_s") > 0);
    expect_percentiles(batches, "batch_latency_us");
    double record_bytes = number_at(batches, "record_bytes_mean");
    assert_true(record_bytes > 50);

    /* The raw baseline appends records of the size the daemon stored: the
     * whole number nearest the mean, which is printed to a tenth (a mean of
     * 123.46 is printed 123.5 and makes records of 123 bytes), so within
     * 0.55 of the printed one. */
    json_t *lmdb = measurement(&m, "lmdb-append");
    assert_true(number_at(lmdb, "batch") == 10);
    double baseline_bytes = number_at(lmdb, "record_bytes");
    assert_true(baseline_bytes == (double)(uint64_t)baseline_bytes);
    if (baseline_bytes < record_bytes - 0.55 || baseline_bytes > record_bytes + 0.55) {
        fail_msg("the baseline's records are %.0f bytes, the daemon's %.1f", baseline_bytes,
                 record_bytes);
    }
    assert_true(number_at(lmdb, "records") == 10 * number_at(lmdb, "commits"));
    expect_percentiles(lmdb, "commit_latency_us");

    json_t *query = measurement(&m, "daemon-query");
    expect_query(query);
    /* `all` times the plain query only. */
    assert_null(json_object_get(query, "as_of_business"));

    json_t *summary = measurement(&m, "summary");
    double commands_vs_echo = number_at(summary, "commands_vs_echo");
    double batches_vs_lmdb = number_at(summary, "batches_vs_lmdb");
    expect_ratio(commands_vs_echo, number_at(commands, "requests_per_s"),
                 number_at(echo, "requests_per_s"), 0.05);
    expect_ratio(batches_vs_lmdb, number_at(batches, "events_per_s"),
                 number_at(lmdb, "records_per_s"), 0.05);
    double query_p99 = number_at(summary, "query_p99_us");
    assert_true(query_p99 == number_at(json_object_get(query, "latency_us"), "p99"));
    assert_true(number_at(summary, "commands_vs_echo_target") == TARGET_RATIO);
    assert_true(number_at(summary, "batches_vs_lmdb_target") == TARGET_RATIO);
    assert_true(number_at(summary, "query_p99_target_us") == TARGET_QUERY_P99_US);
    json_t *met = json_object_get(summary, "met");
    expect_verdict(bool_at(met, "commands"), commands_vs_echo, TARGET_RATIO, 0.0005, true);
    expect_verdict(bool_at(met, "batches"), batches_vs_lmdb, TARGET_RATIO, 0.0005, true);
    expect_verdict(bool_at(met, "query"), query_p99, TARGET_QUERY_P99_US, 0.05, false);

    /* The person's lines say the same. */
    assert_non_null(strstr(run.out, "summary: durable single commands from 2 clients / echo = "));
    measurements_free(&m);
    run_free(&run);
}

/* --as-of-business times, after each plain query, the same customer's
 * reservations as of a business time halfway through the history: as many
 * queries, none failed, and no more rows than now (a reservation, once
 * bought, keeps its row in every later state). */
static void test_bench_query_as_of_business_times_both(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    bench(fixture, &run, "daemon-query", "--customers", "20", "--events", "2000", "--queries", "50",
          "--as-of-business", NULL);
    if (run.status != 0) {
        fail_msg("ledger-bench daemon-query --as-of-business: exit %d: %s", run.status, run.err);
    }
    struct measurements m;
    measurements_parse(&run, &m);
    assert_int_equal(1, m.count);
    json_t *query = measurement(&m, "daemon-query");
    expect_query(query);
    json_t *as_of = json_object_get(query, "as_of_business");
    assert_non_null(as_of);
    /* Within the generated history, which ends before the daemon's clock. */
    double business_us = number_at(as_of, "business_time_us");
    assert_true(business_us > 1.7e15 && business_us < (double)time(NULL) * 1e6);
    assert_true(number_at(as_of, "queries") == 50);
    assert_true(number_at(as_of, "failures") == 0);
    assert_true(number_at(as_of, "rows_mean") <= number_at(query, "rows_mean"));
    expect_percentiles(as_of, "latency_us");
    assert_non_null(strstr(run.out, "daemon-query: reservations as of business time "));
    measurements_free(&m);
    run_free(&run);
}

static void test_bench_rebuild_reports_three_rates(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    /* --events=N as well as --events N: the rebuild's own default (200,000)
     * must not win over it. */
    bench(fixture, &run, "rebuild", "--events=400", NULL);
    if (run.status != 0) {
        fail_msg("ledger-bench rebuild: exit %d: %s", run.status, run.err);
    }
    struct measurements m;
    measurements_parse(&run, &m);
    assert_int_equal(1, m.count);
    json_t *rebuild = measurement(&m, "rebuild");
    /* The generated history and the first operator's registration. */
    assert_true(number_at(rebuild, "events") == 401);
    assert_true(number_at(rebuild, "data_bytes") > 0);
    double log_rate = number_at(rebuild, "log_check_events_per_s");
    double rebuild_rate = number_at(rebuild, "rebuild_events_per_s");
    assert_true(log_rate > 0 && rebuild_rate > 0);
    assert_true(number_at(rebuild, "verify_events_per_s") > 0);
    /* The rates are printed as whole events per second. */
    expect_ratio(number_at(rebuild, "rebuild_vs_log_check"), rebuild_rate, log_rate, 0.5);
    assert_true(number_at(rebuild, "target_events_per_s") == TARGET_REBUILD_PER_S);
    expect_verdict(bool_at(rebuild, "met"), rebuild_rate, TARGET_REBUILD_PER_S, 0.5, true);
    measurements_free(&m);
    run_free(&run);
}

/* The sweep's JSON line of `name` at `clients`. */
static const json_t *sweep_measurement(const struct measurements *m, const char *name,
                                       unsigned long clients)
{
    for (size_t i = 0; i < m->count; i++) {
        const char *bench_name = json_string_value(json_object_get(m->line[i], "bench"));
        json_int_t count = json_integer_value(json_object_get(m->line[i], "clients"));
        if (bench_name != NULL && strcmp(bench_name, name) == 0 && count == (json_int_t)clients) {
            return m->line[i];
        }
    }
    fail_msg("no %s line for %lu clients", name, clients);
    return NULL;
}

static void test_bench_sweep_writes_points_and_plot(void **state)
{
    struct fixture *fixture = *state;
    char out_dir[PATH_SIZE];
    snprintf(out_dir, sizeof out_dir, "%s/plot", fixture->dir);
    assert_int_equal(0, mkdir(out_dir, 0700));
    struct run run;
    bench(fixture, &run, "sweep", "--clients-list", "1,2", "--seconds", "1", "--out-dir", out_dir,
          NULL);
    if (run.status != 0) {
        fail_msg("ledger-bench sweep: exit %d: %s", run.status, run.err);
    }
    struct measurements m;
    measurements_parse(&run, &m);
    assert_int_equal(4, m.count); /* echo and daemon-commands at 1 and 2 clients */

    char path[PATH_SIZE + 32];
    snprintf(path, sizeof path, "%s/sweep.dat", out_dir);
    char *dat = read_file(path);
    int points = 0;
    char *save = NULL;
    for (char *line = strtok_r(dat, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#') {
            continue;
        }
        unsigned long clients = 0, failures = 99;
        double columns[6];
        int got =
            sscanf(line, "%lu %lf %lf %lf %lf %lf %lf %lu", &clients, &columns[0], &columns[1],
                   &columns[2], &columns[3], &columns[4], &columns[5], &failures);
        if (got != 8) {
            fail_msg("sweep.dat line is not 8 columns: %s", line);
        }
        points++;
        assert_int_equal(points, clients);
        assert_int_equal(0, failures);
        for (size_t i = 0; i < 6; i++) {
            assert_true(columns[i] > 0);
        }
        /* The row is what the run printed for that count: ledgerd's, then
         * the echo's rate, p50 and p99 (ms in the row, us in the JSON). */
        const char *names[2] = {"daemon-commands", "echo"};
        for (size_t n = 0; n < 2; n++) {
            const json_t *figures = sweep_measurement(&m, names[n], clients);
            const json_t *latency = json_object_get(figures, "latency_us");
            double printed[3] = {
                json_number_value(json_object_get(figures, "requests_per_s")),
                json_number_value(json_object_get(latency, "p50")) / 1000.0,
                json_number_value(json_object_get(latency, "p99")) / 1000.0,
            };
            const double tolerance[3] = {0.051, 0.0006, 0.0006};
            for (size_t k = 0; k < 3; k++) {
                if (fabs(columns[3 * n + k] - printed[k]) > tolerance[k]) {
                    fail_msg("sweep.dat column %zu of %lu clients is %f, %s printed %f",
                             3 * n + k + 2, clients, columns[3 * n + k], names[n], printed[k]);
                }
            }
        }
    }
    free(dat);
    measurements_free(&m);
    assert_int_equal(2, points);

    /* gnuplot is one of scripts/deps.sh's packages. */
    snprintf(path, sizeof path, "%s/latency-throughput.png", out_dir);
    unsigned char png[8] = {0};
    FILE *file = fopen(path, "rb");
    if (file == NULL) {
        fail_msg("no plot at %s: %s", path, run.err);
    }
    size_t got = fread(png, 1, sizeof png, file);
    fclose(file);
    assert_int_equal(sizeof png, got);
    assert_memory_equal("\x89PNG\r\n\x1a\n", png, sizeof png);
    run_free(&run);
}

/* Each bad usage: exit 2, and stderr names what to change. */
static void expect_usage_error(struct fixture *fixture, const char *says, const char *command,
                               const char *option, const char *value)
{
    struct run run;
    bench(fixture, &run, command, option, value, NULL);
    if (run.status != 2 || strstr(run.err, says) == NULL) {
        fail_msg("ledger-bench %s %s %s: expected exit 2 and \"%s\", got exit %d: %s", command,
                 option != NULL ? option : "", value != NULL ? value : "", says, run.status,
                 run.err);
    }
    assert_string_equal("", run.out);
    run_free(&run);
}

static void test_bench_refuses_bad_usage(void **state)
{
    struct fixture *fixture = *state;
    expect_usage_error(fixture, "unknown command \"nosuch\"", "nosuch", NULL, NULL);
    expect_usage_error(fixture, "--clients wants a whole number from 1 to 256, not \"0\"", "echo",
                       "--clients", "0");
    expect_usage_error(fixture, "--seconds wants a whole number from 1 to 3600, not \"x\"",
                       "daemon-commands", "--seconds", "x");
    expect_usage_error(fixture, "--clients-list wants counts separated by commas", "sweep",
                       "--clients-list", "1,,2");
    expect_usage_error(fixture, "unexpected argument \"extra\"", "rebuild", "extra", NULL);
    expect_usage_error(fixture, "unrecognized option", "echo", "--bogus", NULL);
}

/* A daemon that cannot start (here a program that only fails) ends the run
 * with exit 1 and a message that says where its log is, and no figure is
 * printed. */
static void test_bench_daemon_that_cannot_start(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    bench(fixture, &run, "daemon-commands", "--seconds", "1", "--ledgerd", "/bin/false", NULL);
    assert_int_equal(1, run.status);
    assert_non_null(strstr(run.err, "ledger-bench: ledgerd init failed (see "));
    assert_non_null(strstr(run.err, "the daemon's directory and log are in"));
    assert_string_equal("", run.out);
    run_free(&run);
}

/* A daemon that does not stop cleanly ends the run with exit 1, saying how
 * it stopped and keeping its directory; the figures measured on it are not
 * printed. The daemon is ledgerd behind a shell that exits 3 once it has
 * passed SIGTERM on and ledgerd has stopped. */
static void test_bench_daemon_that_does_not_stop_cleanly(void **state)
{
    struct fixture *fixture = *state;
    const char *real = getenv("LEDGERD");
    assert_non_null(real);
    char script[sizeof fixture->dir + 32];
    snprintf(script, sizeof script, "%s/exits-3.sh", fixture->dir);
    FILE *f = fopen(script, "w");
    assert_non_null(f);
    fprintf(f,
            "#!/bin/sh\n"
            "if [ \"$1\" = init ]; then exec '%s' \"$@\"; fi\n"
            "'%s' \"$@\" &\n"
            "child=$!\n"
            "trap 'kill -TERM $child; wait $child; exit 3' TERM\n"
            "wait $child\n",
            real, real);
    assert_int_equal(0, fclose(f));
    assert_int_equal(0, chmod(script, 0700));
    struct run run;
    bench(fixture, &run, "daemon-commands", "--seconds", "1", "--clients", "1", "--ledgerd", script,
          NULL);
    assert_int_equal(1, run.status);
    assert_non_null(
        strstr(run.err, "ledger-bench: ledgerd exited with status 3 when asked to stop"));
    assert_non_null(strstr(run.err, "the daemon's directory and log are in"));
    assert_string_equal("", run.out);
    run_free(&run);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bench_all_reports_every_measurement_and_its_ratios,
                                        scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_bench_query_as_of_business_times_both, scratch_setup,
                                        scratch_teardown),
        cmocka_unit_test_setup_teardown(test_bench_rebuild_reports_three_rates, scratch_setup,
                                        scratch_teardown),
        cmocka_unit_test_setup_teardown(test_bench_sweep_writes_points_and_plot, scratch_setup,
                                        scratch_teardown),
        cmocka_unit_test_setup_teardown(test_bench_refuses_bad_usage, scratch_setup,
                                        scratch_teardown),
        cmocka_unit_test_setup_teardown(test_bench_daemon_that_cannot_start, scratch_setup,
                                        scratch_teardown),
        cmocka_unit_test_setup_teardown(test_bench_daemon_that_does_not_stop_cleanly, scratch_setup,
                                        scratch_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
