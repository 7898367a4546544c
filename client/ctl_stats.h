/*
 * ctl_stats: the stats query's counters as a person reads them.
 *
 * The stats query answers with one row per series (name, labels, value), the
 * same series as the Prometheus endpoint; `--output json` and `--output csv`
 * print those rows as they are. A table would be 124 rows, most of them
 * histogram buckets and refusal codes that never happened, so `ledgerctl
 * stats` prints this summary instead: one line per concern (the store,
 * requests, commits and their size and duration, queries, refusals,
 * expiries, subscribers, replays), averages and 99th percentiles worked out
 * from the histograms, zero counts of queries and refusals left out.
 */
#ifndef LEDGER_CTL_STATS_H
#define LEDGER_CTL_STATS_H

#include <stddef.h>
#include <stdio.h>

#include "error.h"
#include "ledger.pb-c.h"

/* Prints the summary of `stats` (count rows, borrowed) to `out`. A series the
 * daemon did not send (an older daemon) is shown as "-". Errors: IO_ERROR
 * when `out` cannot be written (ctl_output_status). */
enum ledger_err ctl_stats_summary(FILE *out, Ledger__V1__Stat *const *stats, size_t count);

#endif
