/*
 * test_tool_daemon.c: what the measuring tools share to run the daemon they
 * measure (tools/tool_daemon.h): finding ledgerd, running children with
 * their output in a log, starting a daemon and stopping it, and reading a
 * principal's secret from the hex an AddPrincipal's result carries.
 * Goal: 64 hex digits, in either case, give the 32 bytes they spell; a
 * missing, short, long or non-hex secret is refused and leaves the output as
 * it was. Every way a daemon fails to start is a sentence saying which, with
 * no process left behind; a stop reports how the daemon ended.
 * Method: decode strings built for each case; run fake ledgerd programs
 * (shell scripts in a scratch directory) that fail each step, exit, stay
 * silent or ignore SIGTERM.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
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

#include "test_util.h"
#include "tool_daemon.h"

#define SECRET_HEX_DIGITS (2 * LEDGER_CLIENT_SECRET_BYTES)

static void test_tool_daemon_secret_from_hex(void **state)
{
    (void)state;
    char hex[SECRET_HEX_DIGITS + 1];
    for (size_t i = 0; i < LEDGER_CLIENT_SECRET_BYTES; i++)
        memcpy(hex + 2 * i, i % 2 == 0 ? "0f" : "A9", 2);
    hex[SECRET_HEX_DIGITS] = '\0';
    uint8_t secret[LEDGER_CLIENT_SECRET_BYTES];
    assert_true(tool_secret_from_hex(hex, secret));
    for (size_t i = 0; i < LEDGER_CLIENT_SECRET_BYTES; i++)
        assert_int_equal(i % 2 == 0 ? 0x0f : 0xa9, secret[i]);
}

static void test_tool_daemon_secret_from_hex_refuses(void **state)
{
    (void)state;
    char hex[SECRET_HEX_DIGITS + 2];
    memset(hex, '7', SECRET_HEX_DIGITS);
    hex[SECRET_HEX_DIGITS] = '\0';
    uint8_t secret[LEDGER_CLIENT_SECRET_BYTES], before[LEDGER_CLIENT_SECRET_BYTES];
    memset(secret, 0x5a, sizeof secret);
    memcpy(before, secret, sizeof before);

    assert_false(tool_secret_from_hex(NULL, secret));
    assert_false(tool_secret_from_hex("", secret));
    hex[SECRET_HEX_DIGITS - 1] = '\0'; /* one digit short */
    assert_false(tool_secret_from_hex(hex, secret));
    hex[SECRET_HEX_DIGITS - 1] = '7';
    hex[SECRET_HEX_DIGITS] = '7'; /* one digit long */
    hex[SECRET_HEX_DIGITS + 1] = '\0';
    assert_false(tool_secret_from_hex(hex, secret));
    hex[SECRET_HEX_DIGITS] = '\0';
    hex[SECRET_HEX_DIGITS - 1] = 'g'; /* the last digit is not hex */
    assert_false(tool_secret_from_hex(hex, secret));
    assert_memory_equal(before, secret, sizeof secret);

    hex[SECRET_HEX_DIGITS - 1] = '7';
    assert_true(tool_secret_from_hex(hex, secret));
    assert_int_equal(0x77, secret[LEDGER_CLIENT_SECRET_BYTES - 1]);
}

/* --- the daemon's child processes ------------------------------------------- */

/* A scratch directory, its tool_daemon paths, and fake ledgerd programs. */
struct scratch {
    char root[1024]; /* well below the paths made under it */
    struct tool_daemon daemon;
};

static int scratch_setup(void **state)
{
    struct scratch *s = calloc(1, sizeof *s);
    assert_non_null(s);
    test_make_dir(s->root, sizeof s->root, "tool-daemon");
    tool_daemon_paths(&s->daemon, s->root);
    *state = s;
    return 0;
}

static int scratch_teardown(void **state)
{
    struct scratch *s = *state;
    test_remove_dir(s->root);
    free(s);
    return 0;
}

/* Writes an executable shell script `name` in the scratch directory with
 * `body` after its #! line; its path into `path`. */
static void script_write(const struct scratch *s, const char *name, const char *body,
                         char path[TOOL_PATH_SIZE + 64])
{
    snprintf(path, TOOL_PATH_SIZE + 64, "%s/%s", s->root, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_true(fprintf(f, "#!/bin/sh\n%s\n", body) > 0);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(path, 0700), 0);
}

/* The file at `path` (a few lines at most), NUL-terminated in `text`. */
static void text_read(const char *path, char *text, size_t capacity)
{
    size_t size = test_read_bytes(path, text, capacity - 1);
    assert_true(size != SIZE_MAX);
    text[size] = '\0';
}

/* Waits (up to a few seconds) until `path` exists: a script's sign that it
 * has set its signal handling. */
static void wait_for_file(const char *path)
{
    for (int waited_ms = 0; access(path, F_OK) != 0; waited_ms += 5) {
        assert_true(waited_ms < test_timeout_ms(5000));
        struct timespec pause = {.tv_nsec = 5000000L};
        nanosleep(&pause, NULL);
    }
}

/* Every child this process started was reaped: none runs, and none is
 * left a zombie. */
static void expect_no_child(void)
{
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
}

/* The paths of a tool_daemon under its root, as the tools use them. */
static void test_tool_daemon_paths(void **state)
{
    struct scratch *s = *state;
    char want[TOOL_PATH_SIZE + 64];
    assert_string_equal(s->daemon.root, s->root);
    snprintf(want, sizeof want, "%s/data", s->root);
    assert_string_equal(s->daemon.data, want);
    snprintf(want, sizeof want, "ipc://%s/data/ledger.sock", s->root);
    assert_string_equal(s->daemon.url, want);
    snprintf(want, sizeof want, "ipc://%s/data/events.sock", s->root);
    assert_string_equal(s->daemon.events_url, want);
    snprintf(want, sizeof want, "%s/data/operator.key", s->root);
    assert_string_equal(s->daemon.key_file, want);
    snprintf(want, sizeof want, "%s/ledgerd.log", s->root);
    assert_string_equal(s->daemon.log_path, want);
    assert_int_equal(s->daemon.pid, 0);
}

/* Which ledgerd a tool runs: --ledgerd, then $LEDGERD (not when empty),
 * then ../daemon/ledgerd beside the tool when it is an executable, then
 * "ledgerd" on the PATH; a program beside the tool likewise. */
static void test_tool_daemon_finds_its_programs(void **state)
{
    struct scratch *s = *state;
    char tools[1100], daemon_dir[1100], argv0[TOOL_PATH_SIZE + 64];
    char ledgerd[TOOL_PATH_SIZE + 64], beside[TOOL_PATH_SIZE + 64], want[TOOL_PATH_SIZE + 64];
    snprintf(tools, sizeof tools, "%s/tools", s->root);
    snprintf(daemon_dir, sizeof daemon_dir, "%s/daemon", s->root);
    assert_int_equal(mkdir(tools, 0700), 0);
    assert_int_equal(mkdir(daemon_dir, 0700), 0);
    snprintf(argv0, sizeof argv0, "%s/ledger-bench", tools);
    unsetenv("LEDGERD");

    /* Nothing beside it: the PATH's. */
    assert_string_equal(tool_ledgerd_path(argv0, NULL), "ledgerd");
    assert_string_equal(tool_ledgerd_path("ledger-bench", NULL), "ledgerd");
    tool_program_path(argv0, "ledger-verify", beside, sizeof beside);
    assert_string_equal(beside, "ledger-verify");

    /* Beside it, but not executable (by anyone, so not by root either):
     * still the PATH's. */
    snprintf(ledgerd, sizeof ledgerd, "%s/ledgerd", daemon_dir);
    FILE *f = fopen(ledgerd, "w");
    assert_non_null(f);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(ledgerd, 0600), 0);
    assert_string_equal(tool_ledgerd_path(argv0, NULL), "ledgerd");
    assert_int_equal(chmod(ledgerd, 0700), 0);
    snprintf(want, sizeof want, "%s/../daemon/ledgerd", tools);
    assert_string_equal(tool_ledgerd_path(argv0, NULL), want);
    char verify[TOOL_PATH_SIZE + 64];
    script_write(s, "tools/ledger-verify", "exit 0", verify);
    tool_program_path(argv0, "ledger-verify", beside, sizeof beside);
    assert_string_equal(beside, verify);

    /* $LEDGERD over what is beside it, an empty one ignored; the option
     * over both. */
    setenv("LEDGERD", "/opt/ledgerd", 1);
    assert_string_equal(tool_ledgerd_path(argv0, NULL), "/opt/ledgerd");
    assert_string_equal(tool_ledgerd_path(argv0, "/usr/sbin/ledgerd"), "/usr/sbin/ledgerd");
    setenv("LEDGERD", "", 1);
    assert_string_equal(tool_ledgerd_path(argv0, NULL), want);
    unsetenv("LEDGERD");
}

/* tool_run: the child's exit status, its stdout and stderr appended to the
 * log; -1 when a signal ended it or it could not start (tool_spawn says
 * why: ENOENT; E2BIG for more words than a command line holds); the words
 * of $LEDGERD_WRAPPER go in front of the command. */
static void test_tool_daemon_runs_children(void **state)
{
    struct scratch *s = *state;
    char script[TOOL_PATH_SIZE + 64], log[256];
    script_write(s, "says", "echo \"out $1\"; echo \"err ${WRAPPED:-none}\" >&2; exit \"$2\"",
                 script);
    const char *first[] = {script, "one", "3", NULL};
    assert_int_equal(tool_run(&s->daemon, first), 3);
    setenv("LEDGERD_WRAPPER", "env WRAPPED=yes", 1);
    const char *second[] = {script, "two", "0", NULL};
    assert_int_equal(tool_run(&s->daemon, second), 0);
    unsetenv("LEDGERD_WRAPPER");
    text_read(s->daemon.log_path, log, sizeof log);
    assert_string_equal(log, "out one\nerr none\nout two\nerr yes\n");

    char killed[TOOL_PATH_SIZE + 64];
    script_write(s, "killed", "kill -KILL $$", killed);
    const char *self_killed[] = {killed, NULL};
    assert_int_equal(tool_run(&s->daemon, self_killed), -1);

    char missing[TOOL_PATH_SIZE + 64];
    snprintf(missing, sizeof missing, "%s/no-such-program", s->root);
    const char *absent[] = {missing, NULL};
    pid_t pid = 0;
    assert_int_equal(tool_spawn(&s->daemon, absent, &pid), ENOENT);
    assert_int_equal(tool_run(&s->daemon, absent), -1);

    const char *many[70];
    many[0] = script;
    for (size_t i = 1; i < 69; i++) {
        many[i] = "x";
    }
    many[69] = NULL;
    assert_int_equal(tool_spawn(&s->daemon, many, &pid), E2BIG);
}

/* A fake ledgerd: `init --data DIR` makes DIR and the operator's key file,
 * as the real one does; serving, it does `serve` (shell). */
static void fake_ledgerd(const struct scratch *s, const char *name, const char *serve,
                         char path[TOOL_PATH_SIZE + 64])
{
    char body[1024];
    snprintf(body, sizeof body,
             "if [ \"$1\" = init ]; then\n"
             "  mkdir -p \"$3\" && printf '%%064d\\n' 0 > \"$3/operator.key\" &&\n"
             "    chmod 600 \"$3/operator.key\" && exit 0\n"
             "  exit 1\n"
             "fi\n"
             "%s",
             serve);
    script_write(s, name, body, path);
}

/* tool_daemon_start's failures, each a sentence with no daemon left
 * running: a ledgerd that cannot be started (naming it and how to name
 * another), an init that fails, a daemon that exits at start-up, one that
 * never answers (killed at the deadline), one that cannot be started after
 * its init, more arguments than a command line holds. */
static void test_tool_daemon_start_failures(void **state)
{
    struct scratch *s = *state;
    struct tool_daemon *d = &s->daemon;
    char missing[TOOL_PATH_SIZE + 64], want[TOOL_PATH_SIZE + 160];
    snprintf(missing, sizeof missing, "%s/no-such-ledgerd", s->root);
    snprintf(want, sizeof want,
             "cannot start %s: No such file or directory (set --ledgerd or $LEDGERD)", missing);
    assert_string_equal(tool_daemon_start(d, missing, NULL, 1000), want);
    assert_int_equal(d->pid, 0);

    char ledgerd[TOOL_PATH_SIZE + 64];
    script_write(s, "init-fails", "exit 1", ledgerd);
    assert_string_equal(tool_daemon_start(d, ledgerd, NULL, 1000), "ledgerd init failed");
    assert_int_equal(d->pid, 0);
    expect_no_child();

    /* An init that makes no key file: no client can be made for it. */
    script_write(s, "no-key", "exit 0", ledgerd);
    const char *no_key = tool_daemon_start(d, ledgerd, NULL, 1000);
    snprintf(want, sizeof want,
             "cannot open a client for ledgerd with the operator's key file %s: ", d->key_file);
    assert_non_null(no_key);
    assert_non_null(strstr(no_key, want));
    assert_int_equal(d->pid, 0);
    expect_no_child();

    fake_ledgerd(s, "exits", "exit 4", ledgerd);
    assert_string_equal(tool_daemon_start(d, ledgerd, NULL, 5000), "ledgerd exited at start-up");
    assert_int_equal(d->pid, 0);
    expect_no_child();

    fake_ledgerd(s, "silent", "exec sleep 30", ledgerd);
    assert_string_equal(tool_daemon_start(d, ledgerd, NULL, 300), "ledgerd did not answer in time");
    assert_int_equal(d->pid, 0);
    expect_no_child();

    /* Its init removes the program: the daemon itself cannot start. */
    script_write(s, "vanishes", "rm -f \"$0\"; mkdir -p \"$3\"; exit 0", ledgerd);
    assert_string_equal(tool_daemon_start(d, ledgerd, NULL, 1000),
                        "cannot start ledgerd (set --ledgerd or $LEDGERD)");
    assert_int_equal(d->pid, 0);
    expect_no_child();

    fake_ledgerd(s, "never-served", "exit 0", ledgerd);
    const char *extra[70];
    for (size_t i = 0; i < 69; i++) {
        extra[i] = "--flag";
    }
    extra[69] = NULL;
    assert_string_equal(tool_daemon_start(d, ledgerd, extra, 1000), "too many ledgerd arguments");
    assert_int_equal(d->pid, 0);
    expect_no_child();
}

/* tool_daemon_stop: nothing to stop is 0; a daemon that exits on SIGTERM
 * gives its exit status, one that a signal ends -1, and one that ignores
 * SIGTERM is killed at the deadline (-2) and reaped; d->pid is 0 after. */
static void test_tool_daemon_stops(void **state)
{
    struct scratch *s = *state;
    struct tool_daemon *d = &s->daemon;
    assert_int_equal(tool_daemon_stop(d, 10), 0);
    const struct {
        const char *name, *body;
        unsigned wait_ms;
        int status;
    } cases[] = {
        {"exits-3", "trap 'exit 3' TERM\necho ready > \"$1\"\nwhile :; do sleep 0.01; done", 5000,
         3},
        {"ended", "echo ready > \"$1\"\nexec sleep 30", 5000, -1},
        {"stubborn", "trap '' TERM\necho ready > \"$1\"\nexec sleep 30", 50, -2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char script[TOOL_PATH_SIZE + 64], ready[TOOL_PATH_SIZE + 64];
        script_write(s, cases[i].name, cases[i].body, script);
        snprintf(ready, sizeof ready, "%s/%s.ready", s->root, cases[i].name);
        const char *argv[] = {script, ready, NULL};
        assert_int_equal(tool_spawn(d, argv, &d->pid), 0);
        pid_t pid = d->pid;
        wait_for_file(ready);
        assert_int_equal(tool_daemon_stop(d, cases[i].wait_ms), cases[i].status);
        assert_int_equal(d->pid, 0);
        assert_int_equal(kill(pid, 0), -1);
        assert_int_equal(errno, ESRCH);
        expect_no_child();
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tool_daemon_secret_from_hex),
        cmocka_unit_test(test_tool_daemon_secret_from_hex_refuses),
        cmocka_unit_test_setup_teardown(test_tool_daemon_paths, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_tool_daemon_finds_its_programs, scratch_setup,
                                        scratch_teardown),
        cmocka_unit_test_setup_teardown(test_tool_daemon_runs_children, scratch_setup,
                                        scratch_teardown),
        cmocka_unit_test_setup_teardown(test_tool_daemon_start_failures, scratch_setup,
                                        scratch_teardown),
        cmocka_unit_test_setup_teardown(test_tool_daemon_stops, scratch_setup, scratch_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
