/*
 * test_metrics_daemon.c: the metrics endpoint of the real daemon.
 *
 * Goal: `ledgerd --metrics-listen 127.0.0.1:PORT` serves GET /metrics while
 * it serves requests, and after a known sequence of requests (commands, a
 * batch, a retried duplicate, queries, a refused command, an unknown
 * principal) and with one doorbell subscriber connected, each counter has
 * exactly the value those requests imply, and the store gauges are
 * plausible. A non-loopback address is refused at start-up (exit 2, before
 * the data directory is touched) unless metrics_allow_remote is true; a port
 * already taken makes the start fail (exit 1).
 *
 * Method: ledgerd ($LEDGERD, set by ctest) on a private data directory under
 * $LEDGER_TEST_TMP and a free port (another one, should a test running beside
 * this one take it before the daemon binds it); requests through the client library
 * (libledger) as the operator that the first start creates; a raw nanomsg SUB
 * socket as the subscriber; HTTP/1.0 over a plain TCP socket.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <nanomsg/nn.h>
#include <nanomsg/pubsub.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ledger.h"
#include "test_util.h"

#define ANSWER_SIZE (256 * 1024)

struct fixture {
    char dir[300];
    char data[400];
    char log[400];
    char socket_path[450];
    char request_url[500];
    char events_url[500];
    char operator_key[500];
    unsigned port;
    pid_t daemon;
};

static void sleep_ms(long ms)
{
    struct timespec delay = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&delay, NULL);
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* GET /metrics from 127.0.0.1:port into out. Returns the status, or 0 when
 * nothing listens or the connection closed without an answer. */
static int scrape(unsigned port, char *out, size_t size)
{
    out[0] = '\0';
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct timeval timeout = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&address, sizeof address) != 0) {
        close(fd);
        return 0;
    }
    static const char request[] = "GET /metrics HTTP/1.0\r\n\r\n";
    assert_int_equal(write(fd, request, sizeof request - 1), (ssize_t)(sizeof request - 1));
    size_t used = 0;
    for (;;) {
        assert_true(used < size - 1);
        ssize_t got = read(fd, out + used, size - 1 - used);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            break;
        }
        used += (size_t)got;
    }
    out[used] = '\0';
    close(fd);
    int status = 0;
    if (sscanf(out, "HTTP/1.%*d %d", &status) != 1) {
        return 0;
    }
    return status;
}

/* The value of the sample line that starts with `name` (the metric name
 * with its labels, as written); fails the test when there is none. */
static uint64_t sample(const char *text, const char *name)
{
    char wanted[200];
    snprintf(wanted, sizeof wanted, "\n%s ", name);
    const char *line = strstr(text, wanted);
    if (line == NULL) {
        fail_msg("no sample %s in:\n%s", name, text);
    }
    unsigned long long value = 0;
    if (sscanf(line + strlen(wanted), "%llu", &value) != 1) {
        fail_msg("sample %s has no whole value", name);
    }
    return value;
}

static bool log_contains(const struct fixture *f, const char *text)
{
    FILE *file = fopen(f->log, "r");
    if (file == NULL) {
        return false;
    }
    static char content[1 << 20];
    size_t size = fread(content, 1, sizeof content - 1, file);
    fclose(file);
    content[size] = '\0';
    return strstr(content, text) != NULL;
}

static pid_t daemon_spawn(struct fixture *f, const char *const *extra)
{
    const char *ledgerd = getenv("LEDGERD");
    if (ledgerd == NULL) {
        ledgerd = "../daemon/ledgerd";
    }
    const char *args[16] = {ledgerd, "--data", f->data};
    size_t n = 3;
    for (size_t i = 0; extra[i] != NULL && n < 15; i++) {
        args[n++] = extra[i];
    }
    args[n] = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(f->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        dup2(fd, 1);
        dup2(fd, 2);
        execv(ledgerd, (char *const *)(uintptr_t)args);
        _exit(127);
    }
    assert_true(pid > 0);
    return pid;
}

/* Waits up to timeout_ms for the daemon's log to hold `text`. */
static bool log_wait(const struct fixture *f, const char *text, long timeout_ms)
{
    for (long waited = 0; waited < timeout_ms; waited += 20) {
        if (log_contains(f, text)) {
            return true;
        }
        sleep_ms(20);
    }
    return log_contains(f, text);
}

/* Scrapes until the gauge `name` reads `value` (the subscriber gauge is
 * sampled once a second, and a nanomsg connection is made in the
 * background), at most timeout_ms; the last answer stays in text. Returns
 * the gauge's last value. */
static uint64_t scrape_until(unsigned port, char *text, size_t size, const char *name,
                             uint64_t value, long timeout_ms)
{
    uint64_t got = UINT64_MAX;
    for (long waited = 0;; waited += 100) {
        assert_int_equal(scrape(port, text, size), 200);
        got = sample(text, name);
        if (got == value || waited >= timeout_ms) {
            return got;
        }
        sleep_ms(100);
    }
}

/* Waits for a process to exit; its exit status, or -1 after timeout_ms. */
static int wait_exit(pid_t pid, long timeout_ms)
{
    for (long waited = 0; waited < timeout_ms; waited += 20) {
        int status = 0;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        sleep_ms(20);
    }
    return -1;
}

/* How many ports serve_metrics tries: test_free_port() only finds a port free at
 * that moment, and another test running beside this one may take it before
 * the daemon binds it. */
#define PORT_ATTEMPTS 5

/* Starts the daemon with --metrics-listen HOST:PORT followed by `more`
 * (NULL-terminated) and waits until GET /metrics answers 200, the answer in
 * text. When the daemon could not bind the port (it exits saying "cannot
 * serve metrics"), takes another free port and starts it again. */
static void serve_metrics(struct fixture *f, const char *host, const char *const *more, char *text,
                          size_t size)
{
    for (int attempt = 1;; attempt++) {
        char listen[64];
        snprintf(listen, sizeof listen, "%s:%u", host, f->port);
        const char *extra[12] = {"--metrics-listen", listen};
        for (size_t i = 0; more[i] != NULL && i < 9; i++) {
            extra[i + 2] = more[i];
        }
        f->daemon = daemon_spawn(f, extra);
        for (long waited = 0; waited < test_timeout_ms(30000); waited += 40) {
            if (scrape(f->port, text, size) == 200) {
                return;
            }
            int status = 0;
            if (waitpid(f->daemon, &status, WNOHANG) == f->daemon) {
                break;
            }
            sleep_ms(40);
        }
        if (!log_contains(f, "cannot serve metrics") || attempt == PORT_ATTEMPTS) {
            fail_msg("the daemon did not serve metrics on %s; see %s", listen, f->log);
        }
        f->daemon = 0;
        f->port = test_free_port();
        assert_int_equal(0, truncate(f->log, 0));
    }
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    test_make_dir(f->dir, sizeof f->dir, "metrics-daemon");
    snprintf(f->data, sizeof f->data, "%s/data", f->dir);
    snprintf(f->log, sizeof f->log, "%s/daemon.log", f->dir);
    snprintf(f->socket_path, sizeof f->socket_path, "%s/ledger.sock", f->data);
    snprintf(f->request_url, sizeof f->request_url, "ipc://%s/ledger.sock", f->data);
    snprintf(f->events_url, sizeof f->events_url, "ipc://%s/events.sock", f->data);
    snprintf(f->operator_key, sizeof f->operator_key, "%s/operator.key", f->data);
    f->port = test_free_port();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    if (f->daemon > 0) {
        kill(f->daemon, SIGTERM);
        if (wait_exit(f->daemon, 20000) < 0) {
            kill(f->daemon, SIGKILL);
            waitpid(f->daemon, NULL, 0);
        }
    }
    test_remove_dir(f->dir);
    free(f);
    return 0;
}

static Ledger__V1__Command partner_command(Ledger__V1__AddPartner *body, const char *command_id,
                                           const char *partner_id)
{
    Ledger__V1__AddPartner init = LEDGER__V1__ADD_PARTNER__INIT;
    *body = init;
    body->partner_id = (char *)(uintptr_t)partner_id;
    body->name = (char *)"Metrics Partner";
    Ledger__V1__Command command = LEDGER__V1__COMMAND__INIT;
    command.command_id = (char *)(uintptr_t)command_id;
    command.partner_id = (char *)(uintptr_t)partner_id;
    command.body_case = LEDGER__V1__COMMAND__BODY_ADD_PARTNER;
    command.add_partner = body;
    return command;
}

static enum ledger_err execute(struct ledger_client *client, const Ledger__V1__Command *commands,
                               size_t count)
{
    const Ledger__V1__Command *pointers[4];
    assert_true(count <= 4);
    for (size_t i = 0; i < count; i++) {
        pointers[i] = &commands[i];
    }
    Ledger__V1__Reply *reply = NULL;
    enum ledger_err err = ledger_execute(client, pointers, count, &reply);
    ledger_reply_free(reply);
    return err;
}

static enum ledger_err query(struct ledger_client *client, Ledger__V1__Query__KindCase kind)
{
    Ledger__V1__Query query_message = LEDGER__V1__QUERY__INIT;
    Ledger__V1__HeadQuery head = LEDGER__V1__HEAD_QUERY__INIT;
    Ledger__V1__StatsQuery stats = LEDGER__V1__STATS_QUERY__INIT;
    query_message.kind_case = kind;
    if (kind == LEDGER__V1__QUERY__KIND_HEAD) {
        query_message.head = &head;
    } else {
        query_message.stats = &stats;
    }
    Ledger__V1__QueryResult *result = NULL;
    enum ledger_err err = ledger_query(client, &query_message, &result);
    ledger_query_result_free(result);
    return err;
}

static void test_metrics_daemon_counts_requests(void **state)
{
    struct fixture *f = *state;
    const char *none[] = {NULL};
    static char text[ANSWER_SIZE];
    serve_metrics(f, "127.0.0.1", none, text, sizeof text);
    for (long waited = 0;
         waited < test_timeout_ms(30000) && !(exists(f->socket_path) && exists(f->operator_key));
         waited += 40) {
        sleep_ms(40);
    }
    assert_true(exists(f->operator_key));
    char serving[128];
    snprintf(serving, sizeof serving, "metrics serving address=127.0.0.1:%u path=/metrics",
             f->port);
    /* The endpoint's thread may answer before the line that says so is
     * written. */
    assert_true(log_wait(f, serving, test_timeout_ms(20000)));
    assert_non_null(strstr(text, "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
    uint64_t head_before = sample(text, "ledger_head_sequence");
    assert_int_equal(sample(text, "ledger_requests_total"), 0);
    assert_int_equal(sample(text, "ledger_commits_total"), 0);

    /* One subscriber on the doorbell. */
    int subscriber = nn_socket(AF_SP, NN_SUB);
    assert_true(subscriber >= 0);
    assert_int_equal(nn_setsockopt(subscriber, NN_SUB, NN_SUB_SUBSCRIBE, "", 0), 0);
    assert_true(nn_connect(subscriber, f->events_url) >= 0);

    struct ledger_options options = {
        .request_url = f->request_url,
        .principal_id = "operator",
        .key_file = f->operator_key,
        .timeout_ms = 10000,
    };
    struct ledger_client *client = NULL;
    assert_int_equal(ledger_connect(&options, &client), LEDGER_ERR_OK);

    /* Three single commands, a batch of two, the first one retried (a
     * duplicate: committed nothing new), one refused (PARTNER_EXISTS). */
    Ledger__V1__AddPartner bodies[4];
    Ledger__V1__Command commands[2];
    commands[0] = partner_command(&bodies[0], "metrics-1", "metrics-p1");
    assert_int_equal(execute(client, commands, 1), LEDGER_ERR_OK);
    commands[0] = partner_command(&bodies[0], "metrics-2", "metrics-p2");
    assert_int_equal(execute(client, commands, 1), LEDGER_ERR_OK);
    commands[0] = partner_command(&bodies[0], "metrics-3", "metrics-p3");
    assert_int_equal(execute(client, commands, 1), LEDGER_ERR_OK);
    commands[0] = partner_command(&bodies[0], "metrics-4", "metrics-p4");
    commands[1] = partner_command(&bodies[1], "metrics-5", "metrics-p5");
    assert_int_equal(execute(client, commands, 2), LEDGER_ERR_OK);
    commands[0] = partner_command(&bodies[0], "metrics-1", "metrics-p1");
    assert_int_equal(execute(client, commands, 1), LEDGER_ERR_OK);
    commands[0] = partner_command(&bodies[0], "metrics-6", "metrics-p1");
    assert_int_equal(execute(client, commands, 1), LEDGER_ERR_PARTNER_EXISTS);
    /* Two queries. */
    assert_int_equal(query(client, LEDGER__V1__QUERY__KIND_HEAD), LEDGER_ERR_OK);
    assert_int_equal(query(client, LEDGER__V1__QUERY__KIND_STATS), LEDGER_ERR_OK);
    ledger_close(client);
    /* A principal the daemon does not know. */
    uint8_t secret[LEDGER_CLIENT_SECRET_BYTES] = {1, 2, 3};
    struct ledger_options stranger = {
        .request_url = f->request_url,
        .principal_id = "nobody",
        .secret = secret,
        .timeout_ms = 10000,
    };
    assert_int_equal(ledger_connect(&stranger, &client), LEDGER_ERR_OK);
    assert_int_equal(query(client, LEDGER__V1__QUERY__KIND_HEAD), LEDGER_ERR_UNKNOWN_PRINCIPAL);
    ledger_close(client);

    /* The subscriber gauge is sampled each second, and the subscriber
     * connects in the background: wait until the gauge counts it. */
    assert_int_equal(
        scrape_until(f->port, text, sizeof text, "ledger_subscribers", 1, test_timeout_ms(20000)),
        1);
    assert_int_equal(sample(text, "ledger_requests_total"), 9);
    assert_int_equal(sample(text, "ledger_requests_in_flight"), 0);
    assert_int_equal(sample(text, "ledger_commits_total"), 6);
    assert_int_equal(sample(text, "ledger_commit_failures_total"), 0);
    assert_int_equal(sample(text, "ledger_events_appended_total"), 5);
    assert_int_equal(sample(text, "ledger_commands_accepted_total"), 6);
    assert_int_equal(sample(text, "ledger_commit_commands_bucket{le=\"1\"}"), 5);
    assert_int_equal(sample(text, "ledger_commit_commands_bucket{le=\"2\"}"), 6);
    assert_int_equal(sample(text, "ledger_commit_commands_bucket{le=\"+Inf\"}"), 6);
    assert_int_equal(sample(text, "ledger_commit_commands_sum"), 7);
    assert_int_equal(sample(text, "ledger_commit_commands_count"), 6);
    assert_int_equal(sample(text, "ledger_commit_duration_seconds_count"), 6);
    assert_int_equal(sample(text, "ledger_commit_duration_seconds_bucket{le=\"+Inf\"}"), 6);
    assert_int_equal(sample(text, "ledger_queries_total{kind=\"head\"}"), 1);
    assert_int_equal(sample(text, "ledger_queries_total{kind=\"stats\"}"), 1);
    assert_int_equal(sample(text, "ledger_queries_total{kind=\"events\"}"), 0);
    assert_int_equal(sample(text, "ledger_refusals_total{code=\"PARTNER_EXISTS\"}"), 1);
    assert_int_equal(sample(text, "ledger_refusals_total{code=\"UNKNOWN_PRINCIPAL\"}"), 1);
    assert_int_equal(sample(text, "ledger_refusals_total{code=\"BAD_SIGNATURE\"}"), 0);
    assert_int_equal(sample(text, "ledger_replies_dropped_total"), 0);
    assert_int_equal(sample(text, "ledger_subscribers"), 1);
    /* A doorbell for each commit that appended: the three singles, the batch. */
    assert_int_equal(sample(text, "ledger_doorbells_published_total"), 4);
    assert_int_equal(sample(text, "ledger_doorbells_dropped_total"), 0);
    assert_int_equal(sample(text, "ledger_head_sequence"), head_before + 5);
    uint64_t map_bytes = sample(text, "ledger_map_bytes");
    uint64_t used_bytes = sample(text, "ledger_map_used_bytes");
    assert_true(map_bytes >= UINT64_C(64) * 1024 * 1024);
    assert_true(used_bytes > 0 && used_bytes <= map_bytes);
    assert_int_equal(sample(text, "ledger_map_bytes_max"), UINT64_C(64) * 1024 * 1024 * 1024);
    assert_int_equal(sample(text, "ledger_readers_max"), 126);
    assert_true(sample(text, "ledger_readers_used") <= 126);

    /* The subscriber leaves: the gauge follows. */
    nn_close(subscriber);
    assert_int_equal(
        scrape_until(f->port, text, sizeof text, "ledger_subscribers", 0, test_timeout_ms(20000)),
        0);

    /* `ledgerctl stats` shows the same numbers: every series of a stats
     * answer equals the scrape taken right after it (nothing else happens in
     * between; the fractional duration sum and the reader slots, which each
     * reader holds for itself, aside). */
    struct ledger_client *stats_client = NULL;
    struct ledger_options stats_options = {
        .request_url = f->request_url,
        .principal_id = "operator",
        .key_file = f->operator_key,
        .timeout_ms = 10000,
    };
    assert_int_equal(ledger_connect(&stats_options, &stats_client), LEDGER_ERR_OK);
    Ledger__V1__StatsQuery stats_query = LEDGER__V1__STATS_QUERY__INIT;
    Ledger__V1__Query stats_message = LEDGER__V1__QUERY__INIT;
    stats_message.kind_case = LEDGER__V1__QUERY__KIND_STATS;
    stats_message.stats = &stats_query;
    Ledger__V1__QueryResult *stats = NULL;
    assert_int_equal(ledger_query(stats_client, &stats_message, &stats), LEDGER_ERR_OK);
    ledger_close(stats_client);
    assert_int_equal(scrape(f->port, text, sizeof text), 200);
    size_t compared = 0;
    for (size_t i = 0; i < stats->n_stats; i++) {
        const Ledger__V1__Stat *stat = stats->stats[i];
        if (strcmp(stat->name, "ledger_head_sequence") == 0 ||
            strcmp(stat->name, "ledger_readers_used") == 0 ||
            strcmp(stat->name, "ledger_commit_duration_seconds_sum") == 0) {
            continue;
        }
        char series[200];
        if (stat->labels[0] != '\0') {
            snprintf(series, sizeof series, "%s{%s}", stat->name, stat->labels);
        } else {
            snprintf(series, sizeof series, "%s", stat->name);
        }
        if ((double)sample(text, series) != stat->value) {
            fail_msg("%s: stats says %.0f, the scrape %llu", series, stat->value,
                     (unsigned long long)sample(text, series));
        }
        compared++;
    }
    assert_true(compared > 60);
    ledger_query_result_free(stats);

    /* A clean stop closes the endpoint too. */
    kill(f->daemon, SIGTERM);
    assert_int_equal(wait_exit(f->daemon, 20000), 0);
    f->daemon = 0;
    assert_int_equal(scrape(f->port, text, sizeof text), 0);
}

static void test_metrics_daemon_refuses_remote_address(void **state)
{
    struct fixture *f = *state;
    char listen[64];
    snprintf(listen, sizeof listen, "0.0.0.0:%u", f->port);
    const char *extra[] = {"--metrics-listen", listen, NULL};
    pid_t pid = daemon_spawn(f, extra);
    assert_int_equal(wait_exit(pid, 20000), 2);
    assert_true(log_contains(f, "metrics_allow_remote"));
    /* Refused before the data directory was made. */
    assert_false(exists(f->data));

    /* Allowed explicitly, it serves (reachable on loopback too). */
    const char *allowed[] = {"--metrics-allow-remote", "true", NULL};
    static char text[ANSWER_SIZE];
    serve_metrics(f, "0.0.0.0", allowed, text, sizeof text);
    assert_non_null(strstr(text, "\nledger_commits_total 0\n"));

    /* A bad value of the option itself is a usage error. */
    const char *bad[] = {"--metrics-allow-remote", "yes", NULL};
    pid = daemon_spawn(f, bad);
    assert_int_equal(wait_exit(pid, 20000), 2);
    assert_true(log_contains(f, "must be true or false"));
}

static void test_metrics_daemon_port_taken(void **state)
{
    struct fixture *f = *state;
    /* Something else holds the port. */
    int holder = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(holder >= 0);
    struct sockaddr_in address = {.sin_family = AF_INET};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* Bound to port 0, the kernel picks a free one: no window for another
     * test to take it first. */
    assert_int_equal(bind(holder, (struct sockaddr *)&address, sizeof address), 0);
    socklen_t address_size = sizeof address;
    assert_int_equal(getsockname(holder, (struct sockaddr *)&address, &address_size), 0);
    f->port = ntohs(address.sin_port);
    assert_int_equal(listen(holder, 1), 0);
    char listen_address[64];
    snprintf(listen_address, sizeof listen_address, "127.0.0.1:%u", f->port);
    const char *extra[] = {"--metrics-listen", listen_address, NULL};
    pid_t pid = daemon_spawn(f, extra);
    assert_int_equal(wait_exit(pid, 20000), 1);
    close(holder);
    assert_true(log_contains(f, "cannot serve metrics"));
    assert_true(log_contains(f, "metrics not served"));
    /* It says what to change, not that the daemon is busy. */
    assert_true(log_contains(f, "set metrics_listen (--metrics-listen) to a free address"));
    assert_false(log_contains(f, "another backup is running"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_metrics_daemon_counts_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metrics_daemon_refuses_remote_address, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_metrics_daemon_port_taken, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
