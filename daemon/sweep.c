/*
 * sweep.c: the expiry schedule's state (contract in sweep.h).
 */
#include "sweep.h"

/* The sweep is over: the next starts at the first row, at once if a tick
 * asked for one meanwhile. */
static void sweep_end(struct sweep *sweep)
{
    sweep->position = (struct store_position){0};
    sweep->found = 0;
    sweep->wanted = sweep->again;
    sweep->again = false;
}

void sweep_tick(struct sweep *sweep)
{
    if (sweep->wanted) {
        sweep->again = true;
    } else {
        sweep->wanted = true;
    }
}

bool sweep_scan_ready(const struct sweep *sweep)
{
    return sweep->wanted && !sweep->scanning && sweep->found == 0;
}

void sweep_scan_started(struct sweep *sweep)
{
    sweep->scanning = true;
}

void sweep_scan_finished(struct sweep *sweep, enum ledger_err err, size_t found, bool record)
{
    sweep->scanning = false;
    if (err != LEDGER_ERR_OK) {
        sweep_end(sweep);
        return;
    }
    sweep->found = record ? found : 0;
    if (sweep->found == 0 && sweep->position.done) {
        sweep_end(sweep);
    }
}

bool sweep_commit_ready(const struct sweep *sweep)
{
    return sweep->found > 0 && !sweep->scanning;
}

void sweep_commit_finished(struct sweep *sweep, enum ledger_err err)
{
    sweep->found = 0;
    /* After a failure the rows of the failed commit lie behind the position:
     * the next sweep starts again from the first row to find them. */
    if (err != LEDGER_ERR_OK || sweep->position.done) {
        sweep_end(sweep);
    }
}

void sweep_abandon(struct sweep *sweep)
{
    sweep->scanning = false;
    sweep_end(sweep);
}
