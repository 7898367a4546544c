/*
 * tool_daemon.c: a ledgerd child process for the measuring tools (tool_daemon.h).
 */
#include "tool_daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* Words of $LEDGERD_WRAPPER and of the command together. */
#define TOOL_ARGS_MAX 64

static void tool_sleep_ms(unsigned ms)
{
    struct timespec pause = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&pause, NULL);
}

/* argv0's directory followed by `relative`, when that is an executable. */
static bool tool_beside(const char *argv0, const char *relative, char *out, size_t size)
{
    const char *slash = strrchr(argv0, '/');
    if (slash == NULL) {
        return false;
    }
    int length = snprintf(out, size, "%.*s/%s", (int)(slash - argv0), argv0, relative);
    return length > 0 && (size_t)length < size && access(out, X_OK) == 0;
}

const char *tool_ledgerd_path(const char *argv0, const char *option)
{
    static char beside[TOOL_PATH_SIZE];
    if (option != NULL) {
        return option;
    }
    const char *env = getenv("LEDGERD");
    if (env != NULL && env[0] != '\0') {
        return env;
    }
    return tool_beside(argv0, "../daemon/ledgerd", beside, sizeof beside) ? beside : "ledgerd";
}

void tool_program_path(const char *argv0, const char *name, char *out, size_t size)
{
    if (!tool_beside(argv0, name, out, size)) {
        snprintf(out, size, "%s", name);
    }
}

void tool_daemon_paths(struct tool_daemon *d, const char *root)
{
    memset(d, 0, sizeof *d);
    snprintf(d->root, sizeof d->root, "%s", root);
    snprintf(d->data, sizeof d->data, "%s/data", d->root);
    snprintf(d->url, sizeof d->url, "ipc://%s/ledger.sock", d->data);
    snprintf(d->events_url, sizeof d->events_url, "ipc://%s/events.sock", d->data);
    snprintf(d->key_file, sizeof d->key_file, "%s/%s.key", d->data, TOOL_OPERATOR_ID);
    snprintf(d->log_path, sizeof d->log_path, "%s/ledgerd.log", d->root);
}

int tool_spawn(const struct tool_daemon *d, const char *const argv[], pid_t *pid_out)
{
    char wrapper[1024];
    char *args[TOOL_ARGS_MAX];
    size_t n = 0;
    const char *env = getenv("LEDGERD_WRAPPER");
    if (env != NULL && env[0] != '\0') {
        snprintf(wrapper, sizeof wrapper, "%s", env);
        char *save = NULL;
        for (char *word = strtok_r(wrapper, " ", &save); word != NULL && n < TOOL_ARGS_MAX / 2;
             word = strtok_r(NULL, " ", &save)) {
            args[n++] = word;
        }
    }
    for (size_t i = 0; argv[i] != NULL; i++) {
        if (n == TOOL_ARGS_MAX - 1) {
            return E2BIG;
        }
        args[n++] = (char *)argv[i];
    }
    args[n] = NULL;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, d->log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    int rc = posix_spawnp(pid_out, args[0], &actions, NULL, args, environ);
    posix_spawn_file_actions_destroy(&actions);
    return rc;
}

/* Waits for a child: its exit status, or -1 when a signal ended it or it
 * could not be waited for. */
static int tool_wait(pid_t pid)
{
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            return -1;
        }
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int tool_run(const struct tool_daemon *d, const char *const argv[])
{
    pid_t pid = 0;
    return tool_spawn(d, argv, &pid) == 0 ? tool_wait(pid) : -1;
}

void tool_client_options(const struct tool_daemon *d, const char *principal_id,
                         const uint8_t *secret, unsigned timeout_ms, struct ledger_options *options)
{
    memset(options, 0, sizeof *options);
    options->request_url = d->url;
    options->principal_id = principal_id;
    options->secret = secret;
    options->key_file = secret == NULL ? d->key_file : NULL;
    options->timeout_ms = timeout_ms;
}

enum ledger_err tool_head_query(struct ledger_client *client, uint64_t *head_out)
{
    Ledger__V1__HeadQuery head = LEDGER__V1__HEAD_QUERY__INIT;
    Ledger__V1__Query query = LEDGER__V1__QUERY__INIT;
    query.kind_case = LEDGER__V1__QUERY__KIND_HEAD;
    query.head = &head;
    Ledger__V1__QueryResult *result = NULL;
    enum ledger_err err = ledger_query(client, &query, &result);
    if (err == LEDGER_ERR_OK) {
        *head_out = ledger_head_sequence(client);
        ledger_query_result_free(result);
    }
    return err;
}

/* Waits until the daemon answers a head query, it exits, or wait_ms pass. */
static const char *tool_daemon_wait_ready(struct tool_daemon *d, unsigned wait_ms)
{
    struct ledger_options options;
    tool_client_options(d, TOOL_OPERATOR_ID, NULL, 200, &options);
    struct ledger_client *client = NULL;
    enum ledger_err err = ledger_connect(&options, &client);
    if (err != LEDGER_ERR_OK) {
        static char failure_text[TOOL_PATH_SIZE + 256];
        snprintf(failure_text, sizeof failure_text,
                 "cannot open a client for ledgerd with the operator's key file %s: %s",
                 d->key_file, ledger_strerror(err));
        return failure_text;
    }
    const unsigned pause_ms = 100;
    const char *failure = "ledgerd did not answer in time";
    for (unsigned waited = 0; waited < wait_ms; waited += pause_ms) {
        uint64_t head = 0;
        if (tool_head_query(client, &head) == LEDGER_ERR_OK) {
            failure = NULL;
            break;
        }
        int status = 0;
        if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
            d->pid = 0;
            failure = "ledgerd exited at start-up";
            break;
        }
        tool_sleep_ms(pause_ms);
    }
    ledger_close(client);
    return failure;
}

const char *tool_daemon_start(struct tool_daemon *d, const char *ledgerd,
                              const char *const *extra_args, unsigned wait_ms)
{
    static char failure_text[TOOL_PATH_SIZE + 128];
    const char *init[] = {ledgerd, "init", "--data", d->data, NULL};
    pid_t pid = 0;
    int rc = tool_spawn(d, init, &pid);
    if (rc != 0) {
        snprintf(failure_text, sizeof failure_text,
                 "cannot start %s: %s (set --ledgerd or $LEDGERD)", ledgerd, strerror(rc));
        return failure_text;
    }
    if (tool_wait(pid) != 0) {
        return "ledgerd init failed";
    }
    const char *serve[TOOL_ARGS_MAX] = {ledgerd, "--data", d->data, "--log-level", "warn"};
    size_t n = 5;
    for (size_t i = 0; extra_args != NULL && extra_args[i] != NULL; i++) {
        if (n == TOOL_ARGS_MAX - 1) {
            return "too many ledgerd arguments";
        }
        serve[n++] = extra_args[i];
    }
    serve[n] = NULL;
    if (tool_spawn(d, serve, &d->pid) != 0) {
        d->pid = 0;
        return "cannot start ledgerd (set --ledgerd or $LEDGERD)";
    }
    const char *failure = tool_daemon_wait_ready(d, wait_ms);
    if (failure != NULL && d->pid > 0) {
        kill(d->pid, SIGKILL);
        waitpid(d->pid, NULL, 0);
        d->pid = 0;
    }
    return failure;
}

int tool_daemon_stop(struct tool_daemon *d, unsigned wait_ms)
{
    if (d->pid <= 0) {
        return 0;
    }
    kill(d->pid, SIGTERM);
    const unsigned pause_ms = 10;
    for (unsigned waited = 0; waited <= wait_ms; waited += pause_ms) {
        int status = 0;
        if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
            d->pid = 0;
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        }
        tool_sleep_ms(pause_ms);
    }
    kill(d->pid, SIGKILL);
    waitpid(d->pid, NULL, 0);
    d->pid = 0;
    return -2;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

bool tool_secret_from_hex(const char *secret_hex, uint8_t out[LEDGER_CLIENT_SECRET_BYTES])
{
    if (secret_hex == NULL || strlen(secret_hex) != 2 * LEDGER_CLIENT_SECRET_BYTES) {
        return false;
    }
    uint8_t secret[LEDGER_CLIENT_SECRET_BYTES];
    for (size_t i = 0; i < LEDGER_CLIENT_SECRET_BYTES; i++) {
        int high = hex_value(secret_hex[2 * i]), low = hex_value(secret_hex[2 * i + 1]);
        if (high < 0 || low < 0) {
            return false;
        }
        secret[i] = (uint8_t)(high * 16 + low);
    }
    memcpy(out, secret, sizeof secret);
    return true;
}
