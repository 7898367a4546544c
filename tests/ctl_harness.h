/*
 * ctl_harness.h: what the ledgerctl tests share: one real ledgerd on a private
 * data directory (mkdtemp under $LEDGER_TEST_TMP, named after
 * CTL_HARNESS_LABEL, which the including test defines), ledgerctl run with
 * fork/exec capturing its exit status, stdout, stderr and parsed JSON, and
 * the checks on them. Header-only, like test_util.h, so each test stays one
 * executable; include it after <cmocka.h> and <jansson.h>.
 */
#ifndef LEDGER_CTL_HARNESS_H
#define LEDGER_CTL_HARNESS_H

#ifndef CTL_HARNESS_LABEL
#error "define CTL_HARNESS_LABEL (the temporary directory's name) before including ctl_harness.h"
#endif

#include <errno.h>
#include <signal.h>
#include <sys/resource.h>

#include "test_util.h"

#define PATH_SIZE  1024
#define ARGS_MAX   64
#define OUTPUT_MAX (4 * 1024 * 1024)
/* How long a daemon may take to start, before LEDGER_TEST_TIMEOUT_SCALE: a
 * loaded machine running the sanitizer build can take seconds. */
#define DAEMON_START_WAIT_MS 30000

struct fixture {
    char dir[400]; /* short enough that every path built from it fits PATH_SIZE */
    char data[512];
    char socket[600];
    char operator_key[600];
    pid_t daemon;
    pid_t follower;          /* a background ledgerctl to stop if a test fails */
    const char *stdout_path; /* where ctl's stdout is appended instead (e.g. /dev/full), or NULL */
    bool stdout_read_only;   /* stdout_path is opened for reading only, at its end */
    bool stdout_closed;      /* ctl's stdout is a pipe nobody reads any more (`| head -1`) */
    /* "NAME=value" settings ctl's runs get (after the test's LEDGER_* ones
     * are cleared), NULL-terminated; NULL: none. */
    const char *const *environment;
};

struct run {
    int status;
    char *out;
    char *err;
    json_t *json;
};

static inline const char *ledgerctl_path(void)
{
    const char *path = getenv("LEDGERCTL");
    return path != NULL ? path : "../client/ledgerctl";
}

static inline void remove_tree(const char *dir)
{
    pid_t pid = fork();
    if (pid == 0) {
        execlp("rm", "rm", "-rf", dir, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
}

static inline char *read_file(const char *path)
{
    FILE *file = fopen(path, "rb");
    if (file == NULL) {
        return strdup("");
    }
    char *text = malloc(OUTPUT_MAX + 1);
    size_t size = fread(text, 1, OUTPUT_MAX, file);
    text[size] = '\0';
    fclose(file);
    return text;
}

static inline void sleep_ms(long ms)
{
    struct timespec delay = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&delay, NULL);
}

/* Starts ledgerd on `data` (initializing it on first start, which writes
 * operator.key before the daemon listens), its output appended to `log`,
 * and waits until its socket is there. Returns its pid, or -1 when it did
 * not start in time. */
static inline pid_t daemon_start(const char *data, const char *log)
{
    const char *ledgerd = getenv("LEDGERD");
    if (ledgerd == NULL) {
        ledgerd = "../daemon/ledgerd";
    }
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        dup2(fd, 1);
        dup2(fd, 2);
        execl(ledgerd, ledgerd, "--data", data, "--metrics-listen", "off", (char *)NULL);
        _exit(127);
    }
    char sock_path[PATH_SIZE + 64];
    snprintf(sock_path, sizeof sock_path, "%s/ledger.sock", data);
    for (long waited = 0; waited < test_timeout_ms(DAEMON_START_WAIT_MS); waited += 50) {
        struct stat info;
        if (stat(sock_path, &info) == 0) {
            sleep_ms(100);
            return pid;
        }
        if (waitpid(pid, NULL, WNOHANG) == pid) {
            return -1; /* it exited: see the log */
        }
        sleep_ms(50);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

/* Stops a daemon started by daemon_start as systemctl stop does (SIGTERM)
 * and waits for it; a pid that is not one (0, -1) is left alone. */
static inline void daemon_stop(pid_t pid)
{
    if (pid > 0) {
        int status = 0;
        kill(pid, SIGTERM);
        waitpid(pid, &status, 0);
    }
}

static inline int fixture_setup(void **state)
{
    struct fixture *fixture = calloc(1, sizeof *fixture);
    if (fixture == NULL) {
        return -1;
    }
    const char *tmp = getenv("LEDGER_TEST_TMP");
    snprintf(fixture->dir, sizeof fixture->dir, "%s/" CTL_HARNESS_LABEL "-XXXXXX",
             tmp != NULL ? tmp : "/tmp");
    if (mkdtemp(fixture->dir) == NULL) {
        free(fixture);
        return -1;
    }
    snprintf(fixture->data, sizeof fixture->data, "%s/ledger-data", fixture->dir);
    snprintf(fixture->socket, sizeof fixture->socket, "ipc://%s/ledger.sock", fixture->data);
    snprintf(fixture->operator_key, sizeof fixture->operator_key, "%s/operator.key", fixture->data);
    char log[PATH_SIZE + 16];
    snprintf(log, sizeof log, "%s/daemon.log", fixture->dir);
    fixture->daemon = daemon_start(fixture->data, log);
    if (fixture->daemon < 0) {
        fprintf(stderr, "ledgerd did not start; see %s\n", log);
        free(fixture);
        return -1;
    }
    *state = fixture;
    return 0;
}

static inline int fixture_teardown(void **state)
{
    struct fixture *fixture = *state;
    if (fixture == NULL) {
        return 0;
    }
    int status = 0;
    if (fixture->follower > 0) {
        kill(fixture->follower, SIGKILL);
        waitpid(fixture->follower, &status, 0);
    }
    daemon_stop(fixture->daemon);
    remove_tree(fixture->dir);
    free(fixture);
    return 0;
}

static inline void run_free(struct run *run)
{
    free(run->out);
    free(run->err);
    json_decref(run->json);
    memset(run, 0, sizeof *run);
}

/* In a forked child: runs argv (NULL-terminated) in `cwd` with none of
 * ledgerctl's LEDGER_* connection settings from the test's environment, so
 * that only its arguments, and `environment` ("NAME=value" settings,
 * NULL-terminated, or NULL), say where to connect and as whom. Never
 * returns. */
static inline void exec_in(const char *cwd, const char *const *argv, const char *const *environment)
{
    if (chdir(cwd) != 0) {
        _exit(126);
    }
    unsetenv("LEDGER_SOCKET");
    unsetenv("LEDGER_PRINCIPAL");
    unsetenv("LEDGER_KEY_FILE");
    unsetenv("LEDGER_EVENTS");
    for (size_t i = 0; environment != NULL && environment[i] != NULL; i++) {
        if (putenv((char *)(uintptr_t)environment[i]) != 0) {
            _exit(126);
        }
    }
    execv(argv[0], (char *const *)(uintptr_t)argv);
    _exit(127);
}

/* Runs argv (NULL-terminated; argv[0] the program's path) in the fixture's
 * directory, capturing its exit status and output. */
static inline void run_argv(struct fixture *fixture, struct run *run, const char *const *argv)
{
    char out_path[PATH_SIZE + 16], err_path[PATH_SIZE + 16];
    snprintf(out_path, sizeof out_path, "%s/out.txt", fixture->dir);
    snprintf(err_path, sizeof err_path, "%s/err.txt", fixture->dir);
    pid_t pid = fork();
    if (pid == 0) {
        int out = fixture->stdout_path == NULL ? open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600)
                  : fixture->stdout_read_only  ? open(fixture->stdout_path, O_RDONLY)
                                               : open(fixture->stdout_path, O_WRONLY | O_APPEND);
        if (fixture->stdout_read_only) {
            lseek(out, 0, SEEK_END);
        }
        int ends[2];
        if (fixture->stdout_closed && pipe(ends) == 0) {
            close(ends[0]);
            out = ends[1];
        }
        int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(out, 1);
        dup2(err, 2);
        exec_in(fixture->dir, argv, fixture->environment);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    run->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    run->out = read_file(out_path);
    run->err = read_file(err_path);
    run->json = json_loads(run->out, 0, NULL);
}

/* What is left to read on fd until its end, as a string (the caller frees
 * it). */
static inline char *read_fd_all(int fd)
{
    char *text = malloc(OUTPUT_MAX + 1);
    size_t size = 0;
    for (ssize_t got = 1; got > 0 && size<OUTPUT_MAX; size += got> 0 ? (size_t)got : 0) {
        got = read(fd, text + size, OUTPUT_MAX - size);
    }
    text[size] = '\0';
    return text;
}

/* Runs argv as run_argv does, but with every file it writes limited to
 * limit_bytes (RLIMIT_FSIZE, SIGXFSZ ignored): a write past the limit
 * fails with EFBIG, as a write to a full disk fails, and a write across it
 * stops short. Its stdout and stderr are pipes, which the limit does not
 * touch; what it writes to them must fit their buffers (64 KiB). */
static inline void run_argv_file_limited(struct fixture *fixture, struct run *run,
                                         const char *const *argv, rlim_t limit_bytes)
{
    int out[2], err[2];
    if (pipe(out) != 0 || pipe(err) != 0) {
        fail_msg("pipe: %s", strerror(errno));
    }
    pid_t pid = fork();
    if (pid == 0) {
        struct rlimit limit = {limit_bytes, limit_bytes};
        if (dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0 || signal(SIGXFSZ, SIG_IGN) == SIG_ERR ||
            setrlimit(RLIMIT_FSIZE, &limit) != 0) {
            _exit(126);
        }
        close(out[0]);
        close(out[1]);
        close(err[0]);
        close(err[1]);
        exec_in(fixture->dir, argv, fixture->environment);
    }
    close(out[1]);
    close(err[1]);
    int status = 0;
    waitpid(pid, &status, 0);
    run->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    run->out = read_fd_all(out[0]);
    run->err = read_fd_all(err[0]);
    close(out[0]);
    close(err[0]);
    run->json = json_loads(run->out, 0, NULL);
}

/* Runs ledgerctl in the fixture's directory with the given principal (NULL:
 * no connection options at all) and arguments (NULL-terminated). Parses
 * stdout as JSON when it is one document. */
static inline void ctl(struct fixture *fixture, struct run *run, const char *principal,
                       const char *key_file, ...)
{
    const char *argv[ARGS_MAX];
    int argc = 0;
    argv[argc++] = ledgerctl_path();
    if (principal != NULL) {
        argv[argc++] = "--socket";
        argv[argc++] = fixture->socket;
        argv[argc++] = "--principal";
        argv[argc++] = principal;
        argv[argc++] = "--key-file";
        argv[argc++] = key_file;
    }
    va_list args;
    va_start(args, key_file);
    for (const char *arg = va_arg(args, const char *); arg != NULL && argc < ARGS_MAX - 1;
         arg = va_arg(args, const char *)) {
        argv[argc++] = arg;
    }
    va_end(args);
    argv[argc] = NULL;
    run_argv(fixture, run, argv);
}

static inline void expect_error(const struct run *run, int status, const char *code)
{
    char line[128];
    snprintf(line, sizeof line, "error: %s: ", code);
    if (run->status != status || strncmp(run->err, line, strlen(line)) != 0) {
        fail_msg("expected exit %d and '%s...', got exit %d, stderr '%s', stdout '%s'", status,
                 line, run->status, run->err, run->out);
    }
}

static inline void expect_ok(const struct run *run)
{
    if (run->status != 0) {
        fail_msg("expected success, got exit %d: %s", run->status, run->err);
    }
}

static inline void expect_json_error(const struct run *run, const char *code)
{
    assert_non_null(run->json);
    json_t *error = json_object_get(run->json, "error");
    assert_non_null(error);
    assert_string_equal(code, json_string_value(json_object_get(error, "code")));
    assert_true(strlen(json_string_value(json_object_get(error, "message"))) > 5);
}

static inline json_int_t json_int_at(json_t *value, const char *key)
{
    json_t *member = json_object_get(value, key);
    assert_non_null(member);
    return json_integer_value(member);
}

/* The first result's `field` of a JSON command reply, copied into out. */
static inline void result_field(const struct run *run, const char *field, char *out, size_t size)
{
    json_t *result = json_array_get(json_object_get(run->json, "results"), 0);
    const char *value = json_string_value(json_object_get(result, field));
    if (value == NULL || value[0] == '\0') {
        fail_msg("no %s in the reply: %s", field, run->out);
    }
    snprintf(out, size, "%s", value);
}

/* Calls fn with each line of a JSON-lines output (the events verb) and its
 * decoded object, which fn must not keep. */
static inline void json_lines_each(const char *text,
                                   void (*fn)(void *context, json_t *object, const char *line),
                                   void *context)
{
    char *copy = strdup(text);
    assert_non_null(copy);
    char *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        json_t *object = json_loads(line, 0, NULL);
        if (object == NULL) {
            fail_msg("not a JSON line: %s", line);
        }
        fn(context, object, line);
        json_decref(object);
    }
    free(copy);
}

/* For json_lines_each: fails unless the line is an event of the JSON feed. */
static inline void expect_event_line(void *context, json_t *object, const char *line)
{
    (void)context;
    if (json_object_get(object, "sequence") == NULL || json_object_get(object, "type") == NULL) {
        fail_msg("a line of the feed is no event: %s", line);
    }
}

/* Operator work: principal `id` of `role` bound to `partner`, its key file
 * written to DIR/<id>.key, whose path goes to key_out. */
static inline void make_staff(struct fixture *fixture, const char *partner, const char *id,
                              const char *role, char *key_out, size_t key_size)
{
    struct run run;
    snprintf(key_out, key_size, "%s/%s.key", fixture->dir, id);
    ctl(fixture, &run, "operator", fixture->operator_key, "principal", "add", "--id", id, "--role",
        role, "--partner", partner, "--key-out", key_out, NULL);
    expect_ok(&run);
    run_free(&run);
}

/* Operator work: a partner and an admin agent for it; returns the admin's
 * key file path in key_out. */
static inline void make_partner(struct fixture *fixture, const char *partner, const char *admin,
                                char *key_out, size_t key_size)
{
    struct run run;
    ctl(fixture, &run, "operator", fixture->operator_key, "partner", "add", "--partner", partner,
        "--name", "Test Partner", NULL);
    expect_ok(&run);
    run_free(&run);
    make_staff(fixture, partner, admin, "admin-agent", key_out, key_size);
}

#endif
