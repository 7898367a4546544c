/*
 * test_sweep.c: the expiry schedule's state (daemon/sweep.h).
 * Goal: a sweep goes on scan after scan from where the last stopped, each
 * scan's findings committed before the next scan; it ends when the last row
 * is read and recorded; a failed scan or commit ends it so that the next
 * starts from the first row (the failed commit's rows lie behind the
 * position); a tick during a sweep is not lost but asks for one more sweep
 * from the first row; nothing found is recorded while the daemon stops.
 * Method: drive the state as the server does, with positions standing for
 * what a scan's worker writes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sweep.h"

/* A scan that read up to row `row` (1 byte key) and found `found`; `last`:
 * it read the last row. */
static void scan(struct sweep *s, enum ledger_err err, uint8_t row, size_t found, bool last)
{
    assert_true(sweep_scan_ready(s));
    sweep_scan_started(s);
    assert_false(sweep_scan_ready(s));
    assert_false(sweep_commit_ready(s));
    if (err == LEDGER_ERR_OK) {
        if (last) {
            s->position = (struct store_position){.size = 0, .done = true};
        } else {
            s->position.key[0] = row;
            s->position.size = 1;
            s->position.done = false;
        }
    }
    sweep_scan_finished(s, err, found, true);
}

static void assert_idle_at_start(const struct sweep *s)
{
    assert_false(s->wanted);
    assert_false(s->again);
    assert_false(sweep_scan_ready(s));
    assert_false(sweep_commit_ready(s));
    assert_int_equal(s->position.size, 0);
    assert_false(s->position.done);
}

static void test_sweep_scans_until_the_last_row(void **state)
{
    (void)state;
    struct sweep s = {0};
    assert_false(sweep_scan_ready(&s));
    sweep_tick(&s);
    /* Two scans that stop part way, each recorded before the next. */
    scan(&s, LEDGER_ERR_OK, 10, 3, false);
    assert_true(sweep_commit_ready(&s));
    assert_false(sweep_scan_ready(&s));
    assert_int_equal(s.found, 3);
    sweep_commit_finished(&s, LEDGER_ERR_OK);
    assert_true(sweep_scan_ready(&s));
    assert_int_equal(s.position.key[0], 10); /* the next resumes after row 10 */
    scan(&s, LEDGER_ERR_OK, 20, 0, false);   /* nothing due in this stretch */
    assert_false(sweep_commit_ready(&s));
    assert_true(sweep_scan_ready(&s));
    /* The last stretch, with findings: over once they are recorded. */
    scan(&s, LEDGER_ERR_OK, 0, 2, true);
    assert_true(sweep_commit_ready(&s));
    assert_true(s.wanted);
    sweep_commit_finished(&s, LEDGER_ERR_OK);
    assert_idle_at_start(&s);
    /* Nothing found in the last stretch: over at once. */
    sweep_tick(&s);
    scan(&s, LEDGER_ERR_OK, 0, 0, true);
    assert_idle_at_start(&s);
}

static void test_sweep_failures_start_over(void **state)
{
    (void)state;
    struct sweep s = {0};
    sweep_tick(&s);
    scan(&s, LEDGER_ERR_OK, 10, 4, false);
    /* The commit of rows up to 10 fails: the next sweep must find them
     * again, so it starts at the first row. */
    sweep_commit_finished(&s, LEDGER_ERR_STORAGE_ERROR);
    assert_idle_at_start(&s);
    sweep_tick(&s);
    assert_true(sweep_scan_ready(&s));
    assert_int_equal(s.position.size, 0);
    /* A scan that fails part way through a sweep: the same. */
    scan(&s, LEDGER_ERR_OK, 10, 0, false);
    scan(&s, LEDGER_ERR_NO_MEMORY, 0, 0, false);
    assert_idle_at_start(&s);
    /* A scan or commit that could not even be queued. */
    sweep_tick(&s);
    sweep_scan_started(&s);
    sweep_abandon(&s);
    assert_idle_at_start(&s);
}

static void test_sweep_tick_during_a_sweep(void **state)
{
    (void)state;
    struct sweep s = {0};
    sweep_tick(&s);
    scan(&s, LEDGER_ERR_OK, 10, 1, false);
    sweep_tick(&s); /* while the findings wait for their commit */
    sweep_tick(&s); /* several ticks ask for one more sweep, not more */
    assert_true(s.again);
    sweep_commit_finished(&s, LEDGER_ERR_OK);
    assert_int_equal(s.position.key[0], 10); /* this sweep goes on first */
    scan(&s, LEDGER_ERR_OK, 0, 0, true);
    /* Over, and the next begins at once from the first row. */
    assert_true(s.wanted);
    assert_false(s.again);
    assert_true(sweep_scan_ready(&s));
    assert_int_equal(s.position.size, 0);
    assert_false(s.position.done);
    scan(&s, LEDGER_ERR_OK, 0, 0, true);
    assert_idle_at_start(&s);
    /* A tick during a sweep that then fails: one more from the first row. */
    sweep_tick(&s);
    scan(&s, LEDGER_ERR_OK, 10, 1, false);
    sweep_tick(&s);
    sweep_commit_finished(&s, LEDGER_ERR_DISK_FULL);
    assert_true(sweep_scan_ready(&s));
    assert_int_equal(s.position.size, 0);
}

static void test_sweep_stopping_records_nothing(void **state)
{
    (void)state;
    struct sweep s = {0};
    sweep_tick(&s);
    sweep_scan_started(&s);
    s.position.key[0] = 10;
    s.position.size = 1;
    sweep_scan_finished(&s, LEDGER_ERR_OK, 5, false);
    assert_false(sweep_commit_ready(&s));
    assert_int_equal(s.found, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sweep_scans_until_the_last_row),
        cmocka_unit_test(test_sweep_failures_start_over),
        cmocka_unit_test(test_sweep_tick_during_a_sweep),
        cmocka_unit_test(test_sweep_stopping_records_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
