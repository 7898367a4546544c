/*
 * ctl_stats.c: the stats query's counters as a person reads them (ctl_stats.h).
 */
#include "ctl_stats.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_output.h"

/* Room for one line's figures. */
#define STATS_TEXT_SIZE 64
/* At most this many labelled series of one name are listed (queries by kind,
 * refusals by code); the daemon sends about 20 and 60. */
#define STATS_LABELLED_MAX 128
/* The share of commits a histogram's percentile speaks for. */
#define STATS_QUANTILE 0.99

struct stats {
    Ledger__V1__Stat *const *rows;
    size_t count;
};

/* The value of the series `name` with `labels` ("" for none), or NAN when
 * the daemon did not send it. */
static double stat_get(const struct stats *stats, const char *name, const char *labels)
{
    for (size_t i = 0; i < stats->count; i++) {
        const Ledger__V1__Stat *row = stats->rows[i];
        if (row->name != NULL && strcmp(row->name, name) == 0 && row->labels != NULL &&
            strcmp(row->labels, labels) == 0) {
            return row->value;
        }
    }
    return NAN;
}

/* A count, or "-" for a series not sent. */
static const char *count_text(double value, char text[STATS_TEXT_SIZE])
{
    if (isnan(value)) {
        return "-";
    }
    snprintf(text, STATS_TEXT_SIZE, "%.0f", value);
    return text;
}

/* Bytes in binary units ("176.0 KiB", "64.0 GiB"). */
static const char *bytes_text(double bytes, char text[STATS_TEXT_SIZE])
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
    if (isnan(bytes)) {
        return "-";
    }
    if (bytes < 1024) {
        snprintf(text, STATS_TEXT_SIZE, "%.0f bytes", bytes);
        return text;
    }
    size_t unit = 0;
    bytes /= 1024;
    while (bytes >= 1024 && unit + 1 < sizeof units / sizeof units[0]) {
        bytes /= 1024;
        unit++;
    }
    snprintf(text, STATS_TEXT_SIZE, "%.1f %s", bytes, units[unit]);
    return text;
}

/* A duration given in seconds ("250 us", "0.34 ms", "1.20 s"). */
static const char *seconds_text(double seconds, char text[STATS_TEXT_SIZE])
{
    if (isnan(seconds)) {
        return "-";
    }
    if (seconds < 0.001) {
        snprintf(text, STATS_TEXT_SIZE, "%.0f us", seconds * 1e6);
    } else if (seconds < 1) {
        snprintf(text, STATS_TEXT_SIZE, "%.2f ms", seconds * 1e3);
    } else {
        snprintf(text, STATS_TEXT_SIZE, "%.2f s", seconds);
    }
    return text;
}

/* The quoted value of a one-label series' labels (`code="FORBIDDEN"` ->
 * FORBIDDEN), or NULL. Copied into `out`. */
static const char *label_value(const char *labels, char *out, size_t size)
{
    const char *open = labels != NULL ? strchr(labels, '"') : NULL;
    const char *close = open != NULL ? strrchr(labels, '"') : NULL;
    if (open == NULL || close == open) {
        return NULL;
    }
    size_t length = (size_t)(close - open - 1);
    if (length >= size) {
        length = size - 1;
    }
    memcpy(out, open + 1, length);
    out[length] = '\0';
    return out;
}

/* The bound of the first bucket of histogram `name` that holds at least
 * STATS_QUANTILE of its observations: the quantile is at most this. Sets
 * *overflow when that is the +Inf bucket (then the bound returned is the
 * last finite one). NAN when the histogram was not sent or is empty. */
static double histogram_quantile(const struct stats *stats, const char *name, bool *overflow)
{
    char bucket[STATS_TEXT_SIZE];
    snprintf(bucket, sizeof bucket, "%s_bucket", name);
    char count_name[STATS_TEXT_SIZE];
    snprintf(count_name, sizeof count_name, "%s_count", name);
    double total = stat_get(stats, count_name, "");
    *overflow = false;
    if (isnan(total) || total <= 0) {
        return NAN;
    }
    double wanted = ceil(total * STATS_QUANTILE);
    double last_finite = NAN;
    for (size_t i = 0; i < stats->count; i++) {
        const Ledger__V1__Stat *row = stats->rows[i];
        char bound_text[STATS_TEXT_SIZE];
        if (row->name == NULL || strcmp(row->name, bucket) != 0 ||
            label_value(row->labels, bound_text, sizeof bound_text) == NULL) {
            continue;
        }
        bool infinite = strcmp(bound_text, "+Inf") == 0;
        double bound = infinite ? (double)INFINITY : strtod(bound_text, NULL);
        if (row->value >= wanted) {
            *overflow = infinite;
            return infinite ? last_finite : bound;
        }
        if (!infinite) {
            last_finite = bound;
        }
    }
    return NAN;
}

struct labelled {
    char label[STATS_TEXT_SIZE];
    double value;
};

static int labelled_order(const void *a, const void *b)
{
    const struct labelled *x = a, *y = b;
    if (x->value != y->value) {
        return x->value > y->value ? -1 : 1;
    }
    return strcmp(x->label, y->label);
}

/* Prints the labelled series of `name` with a value above zero, largest
 * first ("4: stats 3, head 1"), or `none` when every one is zero, or "-"
 * when none was sent. */
static void print_labelled(FILE *out, const struct stats *stats, const char *name, const char *none)
{
    static struct labelled found[STATS_LABELLED_MAX];
    size_t n = 0, sent = 0;
    double total = 0;
    for (size_t i = 0; i < stats->count; i++) {
        const Ledger__V1__Stat *row = stats->rows[i];
        if (row->name == NULL || strcmp(row->name, name) != 0) {
            continue;
        }
        sent++;
        if (row->value > 0 && n < STATS_LABELLED_MAX &&
            label_value(row->labels, found[n].label, sizeof found[n].label) != NULL) {
            found[n].value = row->value;
            total += row->value;
            n++;
        }
    }
    if (sent == 0) {
        fputs("-\n", out);
        return;
    }
    if (n == 0) {
        fprintf(out, "%s\n", none);
        return;
    }
    qsort(found, n, sizeof found[0], labelled_order);
    fprintf(out, "%.0f:", total);
    for (size_t i = 0; i < n; i++) {
        fprintf(out, "%s %s %.0f", i == 0 ? "" : ",", found[i].label, found[i].value);
    }
    fputc('\n', out);
}

/* The mean of histogram `name` (its _sum over its _count), NAN when empty. */
static double histogram_mean(const struct stats *stats, const char *name)
{
    char sum_name[STATS_TEXT_SIZE], count_name[STATS_TEXT_SIZE];
    snprintf(sum_name, sizeof sum_name, "%s_sum", name);
    snprintf(count_name, sizeof count_name, "%s_count", name);
    double sum = stat_get(stats, sum_name, ""), count = stat_get(stats, count_name, "");
    return count > 0 ? sum / count : (double)NAN;
}

/* A number of commands: whole, or with one decimal (an average). */
static const char *commands_text(double commands, char text[STATS_TEXT_SIZE])
{
    snprintf(text, STATS_TEXT_SIZE, commands == floor(commands) ? "%.0f" : "%.1f", commands);
    return text;
}

/* One histogram of the commits as a line: `label`, its mean and its 99th
 * percentile, each written by `text`; "no commit yet" when it is empty (or
 * not sent at all). Of commits counted, a mean without its sum, or a
 * percentile without buckets that reach the count, was not sent: "-". */
static void print_commit_histogram(FILE *out, const struct stats *stats, const char *label,
                                   const char *name,
                                   const char *(*text)(double, char[STATS_TEXT_SIZE]),
                                   const char *mean_unit, const char *verb)
{
    char count_name[STATS_TEXT_SIZE];
    snprintf(count_name, sizeof count_name, "%s_count", name);
    double count = stat_get(stats, count_name, "");
    double mean = histogram_mean(stats, name);
    bool overflow = false;
    double bound = histogram_quantile(stats, name, &overflow);
    fprintf(out, "  %-11s", label);
    if (isnan(count) || count <= 0) {
        fputs("no commit yet\n", out);
        return;
    }
    char a[STATS_TEXT_SIZE], b[STATS_TEXT_SIZE];
    fprintf(out, "%s%s on average; 99%% of commits %s %s %s\n", isnan(mean) ? "-" : text(mean, a),
            mean_unit, verb, overflow ? "more than" : "at most",
            isnan(bound) ? "-" : text(bound, b));
}

enum ledger_err ctl_stats_summary(FILE *out, Ledger__V1__Stat *const *rows, size_t count)
{
    const struct stats stats = {rows, count};
    const struct stats *s = &stats;
    char a[STATS_TEXT_SIZE], b[STATS_TEXT_SIZE], c[STATS_TEXT_SIZE], d[STATS_TEXT_SIZE];
    char e[STATS_TEXT_SIZE], f[STATS_TEXT_SIZE];

    /* A map never shrinks: one at or past map_bytes_max (the setting was
     * lowered, or the data file came from a larger ledger) grows no further,
     * and past its free pages commits fail with STORAGE_FULL. */
    double map_bytes = stat_get(s, "ledger_map_bytes", "");
    double map_bytes_max = stat_get(s, "ledger_map_bytes_max", "");
    fprintf(out,
            "store        %s events; %s of the %s map used (%s %s); %s of %s "
            "reader slots in use\n",
            count_text(stat_get(s, "ledger_head_sequence", ""), a),
            bytes_text(stat_get(s, "ledger_map_used_bytes", ""), b), bytes_text(map_bytes, c),
            map_bytes >= map_bytes_max ? "it grows no further: map_bytes_max is" : "it may grow to",
            bytes_text(map_bytes_max, d), count_text(stat_get(s, "ledger_readers_used", ""), e),
            count_text(stat_get(s, "ledger_readers_max", ""), f));
    fprintf(out,
            "requests     %s received, %s in flight; reading paused %s times; %s replies "
            "dropped\n",
            count_text(stat_get(s, "ledger_requests_total", ""), a),
            count_text(stat_get(s, "ledger_requests_in_flight", ""), b),
            count_text(stat_get(s, "ledger_backpressure_pauses_total", ""), c),
            count_text(stat_get(s, "ledger_replies_dropped_total", ""), d));
    fprintf(out, "commits      %s (%s failed, %s slow): %s commands accepted, %s events appended\n",
            count_text(stat_get(s, "ledger_commits_total", ""), a),
            count_text(stat_get(s, "ledger_commit_failures_total", ""), b),
            count_text(stat_get(s, "ledger_slow_commits_total", ""), c),
            count_text(stat_get(s, "ledger_commands_accepted_total", ""), d),
            count_text(stat_get(s, "ledger_events_appended_total", ""), e));
    print_commit_histogram(out, s, "size", "ledger_commit_commands", commands_text,
                           histogram_mean(s, "ledger_commit_commands") == 1
                               ? " command per commit"
                               : " commands per commit",
                           "held");
    print_commit_histogram(out, s, "duration", "ledger_commit_duration_seconds", seconds_text, "",
                           "took");
    fputs("queries      ", out);
    print_labelled(out, s, "ledger_queries_total", "none");
    fputs("refusals     ", out);
    print_labelled(out, s, "ledger_refusals_total", "none");
    fprintf(out, "expiries     %s reservations expired by the schedule, %s refused\n",
            count_text(stat_get(s, "ledger_reservations_expired_total", ""), a),
            count_text(stat_get(s, "ledger_expiries_refused_total", ""), b));
    fprintf(out, "subscribers  %s; %s doorbells published, %s dropped\n",
            count_text(stat_get(s, "ledger_subscribers", ""), a),
            count_text(stat_get(s, "ledger_doorbells_published_total", ""), b),
            count_text(stat_get(s, "ledger_doorbells_dropped_total", ""), c));
    fprintf(out, "replays      %s refused, %s forgotten early\n",
            count_text(stat_get(s, "ledger_replays_refused_total", ""), a),
            count_text(stat_get(s, "ledger_replays_forgotten_total", ""), b));
    /* A full disk shows at the flush (the summary fits in stdio's buffer). */
    (void)fflush(out);
    return ctl_output_status(out);
}
