/*
 * test_ctl_scan.c: ledgerctl's audit verbs for a principal of one partner
 * in a ledger where that partner's first event comes after more events of
 * other partners than the daemon examines for one events page.
 * Goal: proof --tree-size, consistency and events --proofs --tree-size,
 * which trust a tree smaller than the signed head through the first record
 * of it the principal may see, find that record however many events of
 * other partners come before it (an events page the daemon ends early, empty,
 * says how far it got), instead of refusing with "none of its records is
 * visible to you".
 * The activity verb, whose requests the daemon also ends early (after
 * LEDGER_ACTIVITY_SCAN_MAX entries), likewise finds a rare row however many
 * entries come before it, instead of printing "no activity".
 * Method: a real ledgerd (ctl_harness.h) is stopped, a generated history of
 * one partner, longer than the daemon's scan of one page, is appended to its
 * data directory through the engine (histload), and the daemon started
 * again; a new partner and its auditor are added with ledgerctl, whose
 * audit verbs then run as that auditor.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
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

#include <cmocka.h>
#include <jansson.h>

#include "engine.h"
#include "histgen.h"
#include "histload.h"

#define CTL_HARNESS_LABEL "ctl-scan"
#include "ctl_harness.h"

/* More events than the daemon examines for one events page (100,000 in
 * engine_query.c), so that a page of the new partner's events from sequence 1
 * ends, empty, before reaching them. */
#define SCAN_HISTORY_EVENTS 100500

/* Appends a generated history of one partner to the stopped daemon's data
 * directory. */
static void history_append(const char *data)
{
    struct engine_options options = {.data_dir = data, .no_sync = true};
    struct engine *engine = NULL;
    assert_int_equal(engine_open(&options, &engine), LEDGER_ERR_OK);
    struct histgen_options gen_options = {.seed = 7,
                                          .partners = 1,
                                          .customers_per_partner = 20,
                                          .target_events = SCAN_HISTORY_EVENTS};
    struct histgen *gen = NULL;
    assert_int_equal(histgen_new(&gen_options, &gen), LEDGER_ERR_OK);
    struct histload *load = NULL;
    assert_int_equal(histload_new(engine, gen, 0, &load), LEDGER_ERR_OK);
    struct histgen_item item;
    enum ledger_err err = LEDGER_ERR_OK;
    while (err == LEDGER_ERR_OK && histgen_next(gen, &item)) {
        err = histload_add(load, &item);
    }
    if (err == LEDGER_ERR_OK) {
        err = histload_flush(load);
    }
    if (err != LEDGER_ERR_OK) {
        fail_msg("the history did not load: %s", histload_error(load));
    }
    histload_free(load);
    histgen_free(gen);
    engine_close(engine);
}

/* The first sequence a JSON command reply committed. */
static long long committed_sequence(const struct run *run)
{
    expect_ok(run);
    json_t *result = json_array_get(json_object_get(run->json, "results"), 0);
    return (long long)json_int_at(result, "first_sequence");
}

/* Stops the fixture's daemon, appends the generated history and starts it
 * again, once for all the tests. */
static void history_ready(struct fixture *fixture)
{
    static bool appended;
    if (appended) {
        return;
    }
    char log[PATH_SIZE + 16];
    daemon_stop(fixture->daemon);
    fixture->daemon = 0;
    history_append(fixture->data);
    snprintf(log, sizeof log, "%s/daemon.log", fixture->dir);
    fixture->daemon = daemon_start(fixture->data, log);
    assert_true(fixture->daemon > 0);
    appended = true;
}

static void test_ctl_scan_smaller_tree_past_the_scan(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    char auditor_key[PATH_SIZE + 16];
    history_ready(fixture);

    ctl(fixture, &run, "operator", fixture->operator_key, "--output", "json", "partner", "add",
        "--partner", "p-late", "--name", "Late Partner", NULL);
    long long registered = committed_sequence(&run);
    assert_true(registered > SCAN_HISTORY_EVENTS);
    run_free(&run);
    make_staff(fixture, "p-late", "p-late-auditor", "auditor", auditor_key, sizeof auditor_key);
    /* One event more, so that the tree of `registered` events is not the
     * signed head's. */
    char other_key[PATH_SIZE + 16];
    make_staff(fixture, "p-late", "p-late-billing", "billing", other_key, sizeof other_key);

    char seq[32], size[32], head[32];
    snprintf(seq, sizeof seq, "%lld", registered);
    snprintf(size, sizeof size, "%lld", registered);
    snprintf(head, sizeof head, "%lld", registered + 2);
    ctl(fixture, &run, "p-late-auditor", auditor_key, "proof", "--seq", seq, "--tree-size", size,
        NULL);
    expect_ok(&run);
    assert_non_null(strstr(run.out, "verified: event "));
    run_free(&run);
    ctl(fixture, &run, "p-late-auditor", auditor_key, "consistency", "--from", size, "--to", head,
        NULL);
    expect_ok(&run);
    run_free(&run);
    ctl(fixture, &run, "p-late-auditor", auditor_key, "--output", "json", "events", "--proofs",
        "--tree-size", size, NULL);
    expect_ok(&run);
    json_t *line = json_loads(run.out, JSON_DISABLE_EOF_CHECK, NULL);
    assert_non_null(line);
    assert_int_equal(registered, json_int_at(line, "sequence"));
    json_decref(line);
    run_free(&run);
}

/* The generated partner's registration is its oldest activity entry, more
 * entries below the newest than one activity request looks at: the first
 * request ends, with no row, before reaching it. Support staff filtering on
 * it must still get it (ledgerctl follows such pages), not "no activity". */
static void test_ctl_scan_activity_past_the_scan(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    char partner[HISTGEN_ID_SIZE], helpdesk_key[PATH_SIZE + 16];
    history_ready(fixture);
    histgen_partner_id(1, partner); /* the first index histgen gives */
    make_staff(fixture, partner, "p1-helpdesk", "helpdesk-agent", helpdesk_key,
               sizeof helpdesk_key);

    ctl(fixture, &run, "p1-helpdesk", helpdesk_key, "--output", "json", "activity", "--action",
        "Register Partner", NULL);
    expect_ok(&run);
    json_t *rows = json_object_get(run.json, "activity");
    assert_int_equal(1, json_array_size(rows));
    json_t *row = json_array_get(rows, 0);
    assert_string_equal("Register Partner", json_string_value(json_object_get(row, "action")));
    json_int_t registered = json_int_at(row, "sequence");
    assert_string_equal("", json_string_value(json_object_get(run.json, "next_page_token")));
    run_free(&run);

    /* The table too: the row, and neither "no activity" nor a token. */
    char sequence[32];
    snprintf(sequence, sizeof sequence, "  %lld\n", (long long)registered);
    ctl(fixture, &run, "p1-helpdesk", helpdesk_key, "activity", "--action", "register partner",
        NULL);
    expect_ok(&run);
    assert_non_null(strstr(run.out, "Register Partner"));
    assert_non_null(strstr(run.out, sequence));
    assert_null(strstr(run.out, "next_page_token"));
    assert_null(strstr(run.err, "no activity"));
    run_free(&run);

    /* A filter nothing matches reads the whole log, then says so. */
    ctl(fixture, &run, "p1-helpdesk", helpdesk_key, "activity", "--action", "Revoke Principal",
        NULL);
    expect_ok(&run);
    assert_string_equal("no activity\n", run.err);
    assert_null(strstr(run.out, "next_page_token"));
    run_free(&run);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ctl_scan_smaller_tree_past_the_scan),
        cmocka_unit_test(test_ctl_scan_activity_past_the_scan),
    };
    return cmocka_run_group_tests(tests, fixture_setup, fixture_teardown);
}
