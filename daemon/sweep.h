/*
 * sweep.h: the expiry schedule's state: when the daemon scans for
 * reservations past their term, where the scan stands, and when a sweep is
 * over.
 *
 * Why: a sweep is a series of bounded scans (each reads up to
 * LEDGER_EXPIRY_SCAN_ROWS rows from where the last stopped, on a worker
 * thread) each followed by a commit recording what it found. The rules of
 * that series (a tick during a sweep, a scan or a commit that fails, the
 * last row read) are decided here, apart from the threads and the loop that
 * carry them out, so that they can be tested on their own.
 *
 * Owns: the flags and the position. A sweep ends when a scan reads the last
 * row and what it found is recorded, or when a scan or a commit fails; it
 * then starts again from the first row when it is next due. A tick while a
 * sweep is under way asks for one more sweep from the first row once this
 * one ends (rows it already passed may have come due since).
 * Does not own: the scans and commits themselves (server, engine), the
 * workers they run on, shutting down (the server stops starting scans).
 *
 * Pure memory, no I/O, no clock; not thread-safe: the server's loop thread
 * calls it, and lends `position` to the scan's worker while one runs.
 */
#ifndef LEDGER_SWEEP_H
#define LEDGER_SWEEP_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "store.h"

struct sweep {
    bool wanted;                    /* a sweep is due or under way */
    bool again;                     /* a tick came during it: one more from the first row */
    bool scanning;                  /* a scan runs on a worker */
    size_t found;                   /* found by the last scan and not yet recorded */
    struct store_position position; /* where the next scan starts */
};

/* The schedule's timer fired. */
void sweep_tick(struct sweep *sweep);

/* Whether a scan should start now: a sweep is wanted, no scan runs, and
 * nothing found waits for its commit. (The caller adds its own conditions:
 * a free worker, not stopping.) */
bool sweep_scan_ready(const struct sweep *sweep);

void sweep_scan_started(struct sweep *sweep);

/* A scan ended with `err`, having found `found` expiries (recorded only when
 * `record`: not while the daemon stops). */
void sweep_scan_finished(struct sweep *sweep, enum ledger_err err, size_t found, bool record);

/* Whether found expiries wait for their commit. */
bool sweep_commit_ready(const struct sweep *sweep);

/* The commit of the last scan's findings ended with `err`. */
void sweep_commit_finished(struct sweep *sweep, enum ledger_err err);

/* A scan or commit could not be started at all: the sweep ends. */
void sweep_abandon(struct sweep *sweep);

#endif
