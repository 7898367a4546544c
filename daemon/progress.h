/*
 * progress.h: a progress bar for long operations (rebuild, verify, export,
 * backup, benchmarks) with rate and time left, drawn on stderr only when stderr
 * is a terminal; silent when piped, so logs and scripts stay clean.
 */
#ifndef LEDGER_PROGRESS_H
#define LEDGER_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

struct progress {
    const char *label; /* borrowed, e.g. "verify" */
    const char *unit;  /* borrowed, e.g. "events" */
    bool enabled;      /* stderr is a terminal */
    uint64_t total;
    uint64_t started_ns;
    uint64_t drawn_ns; /* last redraw: at most ten a second */
};

/* Starts a bar; enabled only when stderr is a terminal (or force is true). */
void progress_start(struct progress *progress, const char *label, const char *unit, uint64_t total,
                    bool force);
/* Reports `done` of total; redraws at most ten times a second. */
void progress_update(struct progress *progress, uint64_t done);
/* Draws the final state and ends the line. */
void progress_finish(struct progress *progress, uint64_t done);
/* Monotonic nanoseconds, for rates. */
uint64_t progress_now_ns(void);

#endif
