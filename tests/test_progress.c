/*
 * test_progress.c: long commands draw a progress bar on a terminal and stay
 * quiet when their output is piped (docs/operations.md, "Progress on a
 * terminal").
 *
 * Goal: the bar shows what is done of how much, the rate and the time left;
 * it is drawn on stderr only when stderr is a terminal, at most ten times a
 * second, and ends its line. `ledgerctl backup`, `ledgerd rebuild` and
 * `ledger-verify` (the log walk and the views replay) each draw it under a
 * pseudo-terminal and write not one carriage return when piped, as do
 * `ledgerctl export` of a month of more than one page and `ledgerctl
 * import`.
 * Method: progress.c is driven directly with stderr redirected to a file
 * (forced on, and not forced); the commands run under a pseudo-terminal
 * (forkpty) against a real daemon started by ctl_harness.h and loaded with
 * `ledgerctl demo`, then again with stderr in a file.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
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

#include "progress.h"
#include "test_util.h"

#define CTL_HARNESS_LABEL "progress"
#include "ctl_harness.h"

/* How long a command under the terminal may take, before
 * LEDGER_TEST_TIMEOUT_SCALE. */
#define TERMINAL_RUN_WAIT_MS 60000
#define TERMINAL_OUTPUT_MAX  (256 * 1024)

/* --- progress.c itself ----------------------------------------------------- */

/* Runs `draw` with stderr redirected to a file and returns what it wrote
 * (the caller frees it). */
static char *stderr_of(void (*draw)(void *), void *context)
{
    char path[] = "/tmp/ledger-progress-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(fd, STDERR_FILENO) >= 0);
    draw(context);
    fflush(stderr);
    assert_true(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);
    close(fd);
    char *text = read_file(path);
    unlink(path);
    return text;
}

static void draw_forced(void *context)
{
    (void)context;
    struct progress bar;
    progress_start(&bar, "verify", "events", 1000, true);
    progress_update(&bar, 250);
    /* Within a tenth of a second of the last: not drawn again. */
    progress_update(&bar, 260);
    progress_finish(&bar, 1000);
}

static void draw_not_forced(void *context)
{
    (void)context;
    struct progress bar;
    progress_start(&bar, "verify", "events", 1000, false);
    progress_update(&bar, 250);
    progress_finish(&bar, 1000);
}

static void draw_without_total(void *context)
{
    (void)context;
    struct progress bar;
    progress_start(&bar, "replay", "events", 0, true);
    progress_finish(&bar, 0);
}

static unsigned count_of(const char *text, char c)
{
    unsigned n = 0;
    for (; *text; text++) {
        n += *text == c;
    }
    return n;
}

static void test_progress_bar_shows_done_rate_and_time_left(void **state)
{
    (void)state;
    char *text = stderr_of(draw_forced, NULL);
    /* Two draws (the second update came too soon), each from the line's
     * start, the last ending the line. */
    assert_int_equal(count_of(text, '\r'), 2);
    assert_int_equal(count_of(text, '\n'), 1);
    assert_int_equal(text[strlen(text) - 1], '\n');
    assert_non_null(
        strstr(text, "\rverify   [#######.......................]  25%  250/1000 events  "));
    assert_null(strstr(text, "260/1000"));
    assert_non_null(
        strstr(text, "\rverify   [##############################] 100%  1000/1000 events  "));
    assert_non_null(strstr(text, "/s  "));
    assert_non_null(strstr(text, "s left"));
    /* Done: no time left. */
    assert_non_null(strstr(text, "/s  0s left \n"));
    free(text);
    text = stderr_of(draw_without_total, NULL);
    /* Nothing to count against: shown as whole. */
    assert_non_null(strstr(text, "100%  0/0 events"));
    free(text);
}

static void test_progress_quiet_when_not_a_terminal(void **state)
{
    (void)state;
    char *text = stderr_of(draw_not_forced, NULL);
    assert_string_equal(text, "");
    free(text);
}

/* --- the commands under a terminal ----------------------------------------- */

struct terminal_run {
    int status;
    char output[TERMINAL_OUTPUT_MAX];
};

/* Runs argv (NULL-terminated) in `cwd` with its stdin, stdout and stderr on
 * a new pseudo-terminal, collecting what it writes there until it exits. */
static void run_on_terminal(const char *cwd, const char *const *argv, struct terminal_run *run)
{
    int master = -1;
    fflush(NULL);
    pid_t pid = forkpty(&master, NULL, NULL, NULL);
    assert_true(pid >= 0);
    if (pid == 0) {
        exec_in(cwd, argv, NULL);
    }
    size_t used = 0;
    long waited = 0, deadline = test_timeout_ms(TERMINAL_RUN_WAIT_MS);
    for (;;) {
        struct pollfd ready = {.fd = master, .events = POLLIN};
        int n = poll(&ready, 1, 100);
        if (n == 0) {
            waited += 100;
            if (waited > deadline) {
                kill(pid, SIGKILL);
                break;
            }
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        /* The terminal's last writer gone: EIO (Linux), or end of file. */
        ssize_t got = read(master, run->output + used, sizeof run->output - 1 - used);
        if (got <= 0) {
            break;
        }
        used += (size_t)got;
        if (used == sizeof run->output - 1) {
            break;
        }
    }
    run->output[used] = '\0';
    close(master);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    run->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (waited > deadline) {
        fail_msg("%s did not finish in time; it wrote:\n%s", argv[0], run->output);
    }
}

/* Runs argv with stdout and stderr in files; returns the exit status and
 * (in *err, freed by the caller) stderr. */
static int run_piped(const char *cwd, const char *const *argv, char **err)
{
    char err_path[PATH_SIZE + 16], out_path[PATH_SIZE + 16];
    snprintf(err_path, sizeof err_path, "%s/piped.err", cwd);
    snprintf(out_path, sizeof out_path, "%s/piped.out", cwd);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int errfd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (out < 0 || errfd < 0 || dup2(out, 1) < 0 || dup2(errfd, 2) < 0) {
            _exit(126);
        }
        exec_in(cwd, argv, NULL);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    *err = read_file(err_path);
    unlink(err_path);
    unlink(out_path);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Fails unless `output` holds a finished bar of `label` counting `unit`:
 * "\rLABEL [###...###] 100%  N/N UNIT  R/s  0s left". */
static void expect_bar(const char *output, const char *label, const char *unit)
{
    char start[64], count[64];
    snprintf(start, sizeof start, "\r%-8s [", label);
    snprintf(count, sizeof count, " %s  ", unit);
    const char *bar = strstr(output, start);
    const char *done = bar ? strstr(bar, "] 100%  ") : NULL;
    if (bar == NULL || done == NULL || strstr(done, count) == NULL ||
        strstr(done, "/s  0s left") == NULL) {
        fail_msg("no finished \"%s\" bar counting %s in:\n%s", label, unit, output);
    }
}

static void expect_no_bar(const char *err, int status)
{
    if (status != 0 || strchr(err, '\r') != NULL || strstr(err, "s left") != NULL) {
        fail_msg("piped: exit %d and a bar (or a carriage return) on stderr:\n%s", status, err);
    }
}

static const char *tool_path(const char *variable, const char *fallback)
{
    const char *path = getenv(variable);
    return path != NULL ? path : fallback;
}

/* `ledgerctl backup` of the daemon's ledger (loaded with the demo world)
 * into `name` under the fixture's directory, on a terminal or piped. */
static void backup_argv(struct fixture *fixture, const char *name, const char *argv[12])
{
    const char *args[] = {
        ledgerctl_path(),      "--socket", fixture->socket, "--principal", "operator", "--key-file",
        fixture->operator_key, "backup",   "--out",         name,          NULL};
    memcpy(argv, args, sizeof args);
}

static void test_progress_backup_on_a_terminal(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    ctl(fixture, &run, "operator", fixture->operator_key, "demo", NULL);
    expect_ok(&run);
    run_free(&run);
    const char *argv[12];
    backup_argv(fixture, "tty-backup", argv);
    struct terminal_run *terminal = calloc(1, sizeof *terminal);
    assert_non_null(terminal);
    run_on_terminal(fixture->dir, argv, terminal);
    assert_int_equal(terminal->status, 0);
    expect_bar(terminal->output, "backup", "bytes");
    free(terminal);
    backup_argv(fixture, "piped-backup", argv);
    char *err = NULL;
    int status = run_piped(fixture->dir, argv, &err);
    expect_no_bar(err, status);
    free(err);
}

/* `ledgerctl export` of this month (the demo's charges) in pages of
 * `page_rows`, as its billing principal, on a terminal or piped. */
static void export_argv(struct fixture *fixture, const char *page_rows, char key[PATH_SIZE + 32],
                        char month[16], const char *argv[17])
{
    time_t now = time(NULL);
    struct tm utc;
    gmtime_r(&now, &utc);
    strftime(month, 16, "%Y-%m", &utc);
    snprintf(key, PATH_SIZE + 32, "%s/ledger-demo-keys/billing.key", fixture->dir);
    const char *args[] = {ledgerctl_path(),
                          "--socket",
                          fixture->socket,
                          "--principal",
                          "billing",
                          "--key-file",
                          key,
                          "--partner",
                          "contoso",
                          "--output",
                          "csv",
                          "export",
                          "--month",
                          month,
                          "--page-rows",
                          page_rows,
                          NULL};
    assert_true(sizeof args <= 17 * sizeof args[0]);
    memcpy(argv, args, sizeof args);
}

/* An export of more than one page draws a bar counting rows; one of a
 * single page, or piped, draws none. */
static void test_progress_export_on_a_terminal(void **state)
{
    struct fixture *fixture = *state;
    char key[PATH_SIZE + 32], month[16];
    const char *argv[17];
    export_argv(fixture, "1", key, month, argv);
    struct terminal_run *terminal = calloc(1, sizeof *terminal);
    assert_non_null(terminal);
    run_on_terminal(fixture->dir, argv, terminal);
    assert_int_equal(terminal->status, 0);
    expect_bar(terminal->output, "export", "rows");
    export_argv(fixture, "10000", key, month, argv);
    run_on_terminal(fixture->dir, argv, terminal);
    assert_int_equal(terminal->status, 0);
    if (strstr(terminal->output, "s left") != NULL) {
        fail_msg("a one-page export drew a bar:\n%s", terminal->output);
    }
    free(terminal);
    export_argv(fixture, "1", key, month, argv);
    char *err = NULL;
    int status = run_piped(fixture->dir, argv, &err);
    expect_no_bar(err, status);
    free(err);
}

/* `ledgerctl import` of a few customers as the demo's Contoso admin agent,
 * on a terminal or piped: the file run again is answered as already there,
 * and its bar counts the lines all the same. */
static void import_argv(struct fixture *fixture, char file[PATH_SIZE + 32],
                        char key[PATH_SIZE + 32], const char *argv[13])
{
    snprintf(key, PATH_SIZE + 32, "%s/ledger-demo-keys/contoso-admin.key", fixture->dir);
    snprintf(file, PATH_SIZE + 32, "%s/import.txt", fixture->dir);
    FILE *lines = fopen(file, "w");
    assert_non_null(lines);
    for (int i = 0; i < 5; i++) {
        fprintf(lines, "customer add --customer imported-%d --name 'Imported %d'\n", i, i);
    }
    assert_int_equal(0, fclose(lines));
    const char *args[] = {ledgerctl_path(),
                          "--socket",
                          fixture->socket,
                          "--principal",
                          "contoso-admin",
                          "--key-file",
                          key,
                          "import",
                          "--file",
                          file,
                          "--batch",
                          "2",
                          NULL};
    assert_true(sizeof args <= 13 * sizeof args[0]);
    memcpy(argv, args, sizeof args);
}

static void test_progress_import_on_a_terminal(void **state)
{
    struct fixture *fixture = *state;
    char file[PATH_SIZE + 32], key[PATH_SIZE + 32];
    const char *argv[13];
    import_argv(fixture, file, key, argv);
    struct terminal_run *terminal = calloc(1, sizeof *terminal);
    assert_non_null(terminal);
    run_on_terminal(fixture->dir, argv, terminal);
    if (terminal->status != 0) {
        fail_msg("import on a terminal: exit %d:\n%s", terminal->status, terminal->output);
    }
    expect_bar(terminal->output, "import", "lines");
    free(terminal);
    char *err = NULL;
    int status = run_piped(fixture->dir, argv, &err);
    expect_no_bar(err, status);
    free(err);
}

static void test_progress_rebuild_and_verify_on_a_terminal(void **state)
{
    struct fixture *fixture = *state;
    const char *ledgerd = tool_path("LEDGERD", "../daemon/ledgerd");
    const char *verify = tool_path("LEDGER_VERIFY", "../tools/ledger-verify");
    char backup[PATH_SIZE], restored[PATH_SIZE], head_key[PATH_SIZE];
    snprintf(backup, sizeof backup, "%s/tty-backup", fixture->dir);
    snprintf(restored, sizeof restored, "%s/restored", fixture->dir);
    snprintf(head_key, sizeof head_key, "%s/head.key", fixture->data);
    struct stat info;
    if (stat(backup, &info) != 0) {
        fail_msg("no backup at %s: test_progress_backup_on_a_terminal runs first", backup);
    }
    const char *restore[] = {ledgerd,  "restore",    "--from", backup, "--data",
                             restored, "--head-key", head_key, NULL};
    char *err = NULL;
    int status = run_piped(fixture->dir, restore, &err);
    if (status != 0) {
        fail_msg("ledgerd restore exited %d: %s", status, err);
    }
    free(err);
    struct terminal_run *terminal = calloc(1, sizeof *terminal);
    assert_non_null(terminal);
    const char *rebuild[] = {ledgerd, "rebuild", "--data", restored, NULL};
    run_on_terminal(fixture->dir, rebuild, terminal);
    assert_int_equal(terminal->status, 0);
    expect_bar(terminal->output, "rebuild", "events");
    status = run_piped(fixture->dir, rebuild, &err);
    expect_no_bar(err, status);
    free(err);
    /* The verifier: the log walk, then the replay of the views. */
    const char *check[] = {verify, backup, NULL};
    run_on_terminal(fixture->dir, check, terminal);
    assert_int_equal(terminal->status, 0);
    expect_bar(terminal->output, "verify", "events");
    expect_bar(terminal->output, "replay", "events");
    status = run_piped(fixture->dir, check, &err);
    expect_no_bar(err, status);
    free(err);
    /* --quiet: nothing drawn, even on a terminal. */
    const char *quiet[] = {verify, "--quiet", backup, NULL};
    run_on_terminal(fixture->dir, quiet, terminal);
    assert_int_equal(terminal->status, 0);
    if (strstr(terminal->output, "s left") != NULL) {
        fail_msg("--quiet drew on the terminal:\n%s", terminal->output);
    }
    free(terminal);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_progress_bar_shows_done_rate_and_time_left),
        cmocka_unit_test(test_progress_quiet_when_not_a_terminal),
        cmocka_unit_test(test_progress_backup_on_a_terminal),
        cmocka_unit_test(test_progress_export_on_a_terminal),
        cmocka_unit_test(test_progress_import_on_a_terminal),
        cmocka_unit_test(test_progress_rebuild_and_verify_on_a_terminal),
    };
    return cmocka_run_group_tests(tests, fixture_setup, fixture_teardown);
}
