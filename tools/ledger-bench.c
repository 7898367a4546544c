/*
 * ledger-bench.c: the performance baselines and the daemon's measurements
 * behind docs/performance.md.
 *
 * Owns: the measurements, each printed as one line of JSON (for scripts) and
 * one line for people:
 *   lmdb-append      raw durable LMDB appends: N records of B bytes per write
 *                    transaction, MDB_APPEND, default (synchronous) commits;
 *   echo             a plain nanomsg REP echo server in a thread and C REQ
 *                    clients in threads over ipc:// (requests/s, latency
 *                    percentiles);
 *   daemon-commands  C clients sending single durable commands to a real
 *                    ledgerd through libledger;
 *   daemon-batches   one client loading atomic batches of N commands;
 *   daemon-query     a ledger loaded with many customers' histories, then
 *                    reservations queries for random customers (and,
 *                    with --as-of-business, the same as of a business time);
 *   all              every one of the above, and the ratios the performance
 *                    claims are about;
 *   sweep            daemon-commands and echo at each of several client
 *                    counts: throughput and latency per point, written to
 *                    sweep.dat and drawn by gnuplot as latency-throughput.png.
 * Long runs draw a progress bar on stderr when it is a terminal
 * (daemon/progress.h); piped output stays clean.
 * Does not own: pass/fail decisions. Nothing here is a test, and no test
 * asserts a time.
 *
 * Header confinement: elsewhere <lmdb.h> belongs to daemon/store.c and
 * <nanomsg/...> to daemon/server.c and client/ledger.c. This program includes
 * both directly, on purpose and only here: a baseline must measure the bare
 * library, not our store or server modules on top of it. The daemon
 * measurements use only the public client library (client/ledger.h) and the
 * ledgerd executable.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <dirent.h>

#include <signal.h>
#include <sys/wait.h>

#include <lmdb.h>
#include <nanomsg/nn.h>
#include <nanomsg/reqrep.h>

#include "histgen.h"
#include "ledger.h"
#include "progress.h"
#include "tool_daemon.h"
#include "tool_util.h"

/* Bounds on what one run may ask for, so that a typing mistake cannot fill the
 * disk or the memory. */
#define BENCH_SECONDS_MAX       3600
#define BENCH_BATCH_MAX         1000000
#define BENCH_RECORD_BYTES_MAX  (1024 * 1024)
#define BENCH_CLIENTS_MAX       256
#define BENCH_MESSAGE_BYTES_MAX (1024 * 1024)
#define BENCH_CUSTOMERS_MAX     (UINT64_C(100) * 100000)
#define BENCH_EVENTS_MAX        UINT64_C(100000000)
#define BENCH_QUERIES_MAX       UINT64_C(10000000)
/* Latency samples kept per measurement (beyond it, later samples are dropped
 * from the percentiles but still counted in the throughput). 64 M samples of
 * 4 bytes is 256 MiB at most. */
#define BENCH_SAMPLES_MAX (UINT64_C(64) * 1024 * 1024)
/* LMDB's map for the raw baseline: address space only, the file grows as
 * written. It starts at 1 GiB and doubles when full (as the daemon's map
 * grows), up to 64 GiB, room for any run of BENCH_SECONDS_MAX on this class
 * of disk; a map of 64 GiB from the start is more address space than some
 * environments give (valgrind's, for one). */
#define BENCH_LMDB_MAP_BYTES_INITIAL (UINT64_C(1) * 1024 * 1024 * 1024)
#define BENCH_LMDB_MAP_BYTES_MAX     (UINT64_C(64) * 1024 * 1024 * 1024)
/* Points of one sweep: more is a typing mistake, and each costs two runs. */
#define BENCH_SWEEP_POINTS_MAX 32

/* ------------------------------------------------------------------------ */
/* Small utilities. */

/* The ledgerd this run started, if one is running: die() stops it, so that a
 * failed measurement leaves no daemon behind. */
static volatile pid_t bench_daemon_pid = 0;
/* Its temporary directory, named when a run dies so that its log can be read. */
static const char *bench_daemon_root = NULL;

/* Ctrl-C or SIGTERM during a run: stop the daemon too, then leave. */
static void on_interrupt(int signal_number)
{
    if (bench_daemon_pid > 0) {
        kill(bench_daemon_pid, SIGTERM);
    }
    _exit(128 + signal_number);
}

/* A run that cannot go on: says why, stops the daemon, exits 1. */
static void die(const char *format, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die(const char *format, ...)
{
    if (bench_daemon_pid > 0) {
        kill(bench_daemon_pid, SIGTERM);
    }
    va_list args;
    va_start(args, format);
    fprintf(stderr, "ledger-bench: ");
    vfprintf(stderr, format, args);
    fprintf(stderr, "\n");
    va_end(args);
    if (bench_daemon_root != NULL) {
        fprintf(stderr, "ledger-bench: the daemon's directory and log are in %s\n",
                bench_daemon_root);
    }
    exit(1);
}

/* Bad usage, found before anything runs: says what to change, exits 2. */
static void usage_error(const char *format, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void usage_error(const char *format, ...)
{
    va_list args;
    va_start(args, format);
    fprintf(stderr, "ledger-bench: ");
    vfprintf(stderr, format, args);
    fprintf(stderr, " (ledger-bench --help lists the options)\n");
    va_end(args);
    exit(2);
}

/* A growable array of latencies in nanoseconds (saturated at UINT32_MAX, 4.3 s). */
struct samples {
    uint32_t *values;
    uint64_t count, capacity;
    uint64_t dropped;
};

static void samples_add(struct samples *samples, int64_t latency_ns)
{
    if (samples->count == samples->capacity) {
        if (samples->capacity >= BENCH_SAMPLES_MAX) {
            samples->dropped++;
            return;
        }
        uint64_t capacity = samples->capacity ? samples->capacity * 2 : 4096;
        uint32_t *grown = realloc(samples->values, capacity * sizeof *grown);
        if (grown == NULL) {
            samples->dropped++;
            return;
        }
        samples->values = grown;
        samples->capacity = capacity;
    }
    samples->values[samples->count++] = latency_ns < 0            ? 0
                                        : latency_ns > UINT32_MAX ? UINT32_MAX
                                                                  : (uint32_t)latency_ns;
}

static void samples_merge(struct samples *into, const struct samples *from)
{
    for (uint64_t i = 0; i < from->count; i++) {
        samples_add(into, from->values[i]);
    }
    into->dropped += from->dropped;
}

static void samples_free(struct samples *samples)
{
    free(samples->values);
    memset(samples, 0, sizeof *samples);
}

struct percentiles {
    double p50_us, p90_us, p99_us, p999_us, max_us, mean_us;
};

/* Nearest-rank percentiles of the samples (sorts them). */
static struct percentiles samples_percentiles(struct samples *samples)
{
    struct percentiles p = {0};
    if (samples->count == 0) {
        return p;
    }
    qsort(samples->values, samples->count, sizeof samples->values[0], compare_u32);
    const double ranks[4] = {0.50, 0.90, 0.99, 0.999};
    double *out[4] = {&p.p50_us, &p.p90_us, &p.p99_us, &p.p999_us};
    for (int i = 0; i < 4; i++) {
        uint64_t rank = (uint64_t)(ranks[i] * (double)samples->count + 0.999999);
        if (rank < 1) {
            rank = 1;
        }
        if (rank > samples->count) {
            rank = samples->count;
        }
        *out[i] = samples->values[rank - 1] / 1000.0;
    }
    double sum = 0;
    for (uint64_t i = 0; i < samples->count; i++) {
        sum += samples->values[i];
    }
    p.mean_us = sum / (double)samples->count / 1000.0;
    p.max_us = samples->values[samples->count - 1] / 1000.0;
    return p;
}

static void print_percentiles_json(FILE *out, const char *name, const struct percentiles *p)
{
    fprintf(out,
            "\"%s\":{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"p999\":%.1f,"
            "\"max\":%.1f,\"mean\":%.1f}",
            name, p->p50_us, p->p90_us, p->p99_us, p->p999_us, p->max_us, p->mean_us);
}

/* Parses a positive integer option within [1, max]. */
static uint64_t parse_count(const char *name, const char *text, uint64_t max)
{
    char *end = NULL;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value < 1 || value > max) {
        usage_error("--%s wants a whole number from 1 to %" PRIu64 ", not \"%s\"", name, max, text);
    }
    return (uint64_t)value;
}

/* The parent directory of temporary data directories: --dir, else $TMPDIR,
 * else /tmp. The baselines and the daemon must write to the same disk for
 * their ratios to mean anything. */
static const char *bench_parent_dir = NULL;

static void make_temp_dir(const char *tag, char *out, size_t size)
{
    const char *parent = bench_parent_dir;
    if (parent == NULL) {
        parent = getenv("TMPDIR");
    }
    if (parent == NULL || parent[0] == '\0') {
        parent = "/tmp";
    }
    int written = snprintf(out, size, "%s/ledger-bench-%s-XXXXXX", parent, tag);
    if (written < 0 || (size_t)written >= size) {
        die("temporary directory path too long");
    }
    if (mkdtemp(out) == NULL) {
        die("mkdtemp %s: %s", out, strerror(errno));
    }
}

/* Waits until start + seconds while worker threads run, drawing the elapsed
 * seconds of the total as a progress bar (only on a terminal). */
static void wait_with_progress(const char *label, int64_t start_ns, uint64_t seconds)
{
    struct progress bar;
    progress_start(&bar, label, "s", seconds, false);
    int64_t deadline = start_ns + (int64_t)seconds * 1000000000;
    for (int64_t now = now_ns(); now < deadline; now = now_ns()) {
        progress_update(&bar, (uint64_t)((now - start_ns) / 1000000000));
        int64_t left = deadline - now;
        struct timespec pause = {0, left < 100000000 ? (long)left : 100000000L};
        nanosleep(&pause, NULL);
    }
    progress_finish(&bar, seconds);
}

/* ------------------------------------------------------------------------ */
/* lmdb-append: the raw durable append rate of this disk and LMDB. */

struct lmdb_result {
    uint64_t batch, record_bytes;
    double seconds;
    uint64_t records, commits;
    double records_per_s, commits_per_s, mb_per_s;
    struct percentiles commit;
};

static void lmdb_check(int rc, const char *what)
{
    if (rc != MDB_SUCCESS) {
        die("%s: %s", what, mdb_strerror(rc));
    }
}

static struct lmdb_result run_lmdb_append(uint64_t batch, uint64_t record_bytes, uint64_t seconds)
{
    char dir[4096];
    make_temp_dir("lmdb", dir, sizeof dir);
    MDB_env *env = NULL;
    lmdb_check(mdb_env_create(&env), "mdb_env_create");
    uint64_t map_bytes = BENCH_LMDB_MAP_BYTES_INITIAL;
    lmdb_check(mdb_env_set_mapsize(env, (size_t)map_bytes), "mdb_env_set_mapsize");
    lmdb_check(mdb_env_set_maxdbs(env, 4), "mdb_env_set_maxdbs");
    /* Default flags: every commit is synchronous (fsync), as the daemon's are. */
    lmdb_check(mdb_env_open(env, dir, 0, 0600), "mdb_env_open");
    MDB_dbi dbi;
    MDB_txn *txn = NULL;
    lmdb_check(mdb_txn_begin(env, NULL, 0, &txn), "mdb_txn_begin");
    lmdb_check(mdb_dbi_open(txn, "log", MDB_CREATE, &dbi), "mdb_dbi_open");
    lmdb_check(mdb_txn_commit(txn), "mdb_txn_commit");

    uint8_t *record = malloc(record_bytes);
    if (record == NULL) {
        die("out of memory");
    }
    /* Incompressible-looking bytes; LMDB does not compress, but a record of
     * zeros would flatter nothing else either. */
    uint64_t x = UINT64_C(0x9e3779b97f4a7c15);
    for (uint64_t i = 0; i < record_bytes; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        record[i] = (uint8_t)x;
    }

    struct samples commit_samples = {0};
    uint64_t sequence = 0, commits = 0;
    struct progress bar;
    progress_start(&bar, "lmdb-append", "s", seconds, false);
    int64_t start = now_ns();
    int64_t deadline = start + (int64_t)seconds * 1000000000;
    int64_t end = start;
    while (end < deadline) {
        progress_update(&bar, (uint64_t)((end - start) / 1000000000));
        int64_t t0 = now_ns();
        for (uint64_t first = sequence;; sequence = first) {
            lmdb_check(mdb_txn_begin(env, NULL, 0, &txn), "mdb_txn_begin");
            int rc = MDB_SUCCESS;
            for (uint64_t i = 0; i < batch && rc == MDB_SUCCESS; i++) {
                sequence++;
                uint8_t key_bytes[8];
                for (int b = 0; b < 8; b++) {
                    key_bytes[b] = (uint8_t)(sequence >> (56 - 8 * b));
                }
                memcpy(record, key_bytes, record_bytes < 8 ? record_bytes : 8);
                MDB_val key = {sizeof key_bytes, key_bytes};
                MDB_val value = {record_bytes, record};
                rc = mdb_put(txn, dbi, &key, &value, MDB_APPEND);
            }
            if (rc == MDB_SUCCESS) {
                rc = mdb_txn_commit(txn); /* frees the transaction, failed or not */
            } else {
                mdb_txn_abort(txn);
            }
            if (rc != MDB_MAP_FULL) {
                lmdb_check(rc, "appending a batch");
                break;
            }
            /* Full: a larger map, and the batch again (its time counts). */
            map_bytes *= 2;
            if (map_bytes > BENCH_LMDB_MAP_BYTES_MAX) {
                die("the raw baseline's map is full at %llu bytes: run it for fewer seconds",
                    (unsigned long long)(map_bytes / 2));
            }
            lmdb_check(mdb_env_set_mapsize(env, (size_t)map_bytes), "mdb_env_set_mapsize");
        }
        end = now_ns();
        samples_add(&commit_samples, end - t0);
        commits++;
    }
    progress_finish(&bar, seconds);
    double elapsed = (double)(end - start) / 1e9;
    struct lmdb_result result = {
        .batch = batch,
        .record_bytes = record_bytes,
        .seconds = elapsed,
        .records = sequence,
        .commits = commits,
        .records_per_s = (double)sequence / elapsed,
        .commits_per_s = (double)commits / elapsed,
        .mb_per_s = (double)sequence * (double)record_bytes / elapsed / 1e6,
        .commit = samples_percentiles(&commit_samples),
    };
    samples_free(&commit_samples);
    free(record);
    mdb_dbi_close(env, dbi);
    mdb_env_close(env);
    remove_tree(dir);
    return result;
}

static void print_lmdb(const struct lmdb_result *r)
{
    printf("{\"bench\":\"lmdb-append\",\"batch\":%" PRIu64 ",\"record_bytes\":%" PRIu64
           ",\"seconds\":%.2f,\"records\":%" PRIu64 ",\"commits\":%" PRIu64
           ",\"records_per_s\":%.1f,\"commits_per_s\":%.1f,\"mb_per_s\":%.2f,",
           r->batch, r->record_bytes, r->seconds, r->records, r->commits, r->records_per_s,
           r->commits_per_s, r->mb_per_s);
    print_percentiles_json(stdout, "commit_latency_us", &r->commit);
    printf("}\n");
    printf("lmdb-append: %" PRIu64 " records of %" PRIu64
           " B per durable commit: %.0f records/s, %.0f commits/s, commit p50 %.0f us, p99 "
           "%.0f us\n",
           r->batch, r->record_bytes, r->records_per_s, r->commits_per_s, r->commit.p50_us,
           r->commit.p99_us);
    fflush(stdout);
}

/* ------------------------------------------------------------------------ */
/* echo: the bare request/reply rate of nanomsg over ipc:// on this machine. */

struct echo_server {
    int socket;
    atomic_bool stop; /* set by the main thread when the clients are done */
    uint64_t answered;
};

static void *echo_server_main(void *argument)
{
    struct echo_server *server = argument;
    while (!atomic_load(&server->stop)) {
        void *message = NULL;
        int received = nn_recv(server->socket, &message, NN_MSG, 0);
        if (received < 0) {
            if (nn_errno() == EAGAIN || nn_errno() == EINTR || nn_errno() == ETIMEDOUT) {
                continue;
            }
            break;
        }
        /* Zero-copy: nn_send with NN_MSG takes the message back. */
        if (nn_send(server->socket, &message, NN_MSG, 0) < 0) {
            nn_freemsg(message);
            continue;
        }
        server->answered++;
    }
    return NULL;
}

struct echo_client {
    pthread_t thread;
    const char *url;
    size_t message_bytes;
    int64_t deadline_ns;
    uint64_t requests;
    uint64_t failures;
    struct samples latencies;
};

static void *echo_client_main(void *argument)
{
    struct echo_client *client = argument;
    int socket = nn_socket(AF_SP, NN_REQ);
    if (socket < 0 || nn_connect(socket, client->url) < 0) {
        client->failures++;
        return NULL;
    }
    int timeout_ms = 5000;
    nn_setsockopt(socket, NN_SOL_SOCKET, NN_RCVTIMEO, &timeout_ms, sizeof timeout_ms);
    char *request = calloc(1, client->message_bytes);
    char *reply = malloc(client->message_bytes + 1);
    if (request == NULL || reply == NULL) {
        client->failures++;
        free(request);
        free(reply);
        nn_close(socket);
        return NULL;
    }
    while (now_ns() < client->deadline_ns) {
        int64_t t0 = now_ns();
        if (nn_send(socket, request, client->message_bytes, 0) < 0) {
            client->failures++;
            continue;
        }
        int received = nn_recv(socket, reply, client->message_bytes + 1, 0);
        int64_t t1 = now_ns();
        if (received < 0 || (size_t)received != client->message_bytes) {
            client->failures++;
            continue;
        }
        client->requests++;
        samples_add(&client->latencies, t1 - t0);
    }
    free(request);
    free(reply);
    nn_close(socket);
    return NULL;
}

struct throughput_result {
    const char *name;
    uint64_t clients;
    uint64_t batch; /* commands per request (1 for echo and single commands) */
    double seconds;
    uint64_t requests, failures;
    double requests_per_s;
    double events_per_s;
    struct percentiles latency;
};

static struct throughput_result run_echo(uint64_t clients, uint64_t seconds, uint64_t message_bytes)
{
    char dir[4096], url[4200];
    make_temp_dir("echo", dir, sizeof dir);
    snprintf(url, sizeof url, "ipc://%s/echo.sock", dir);

    struct echo_server server = {0};
    atomic_init(&server.stop, false);
    server.socket = nn_socket(AF_SP, NN_REP);
    if (server.socket < 0 || nn_bind(server.socket, url) < 0) {
        die("echo server on %s: %s", url, nn_strerror(nn_errno()));
    }
    /* The server notices the end of the run within this time. */
    int timeout_ms = 100;
    nn_setsockopt(server.socket, NN_SOL_SOCKET, NN_RCVTIMEO, &timeout_ms, sizeof timeout_ms);
    int max_bytes = (int)BENCH_MESSAGE_BYTES_MAX + 1024;
    nn_setsockopt(server.socket, NN_SOL_SOCKET, NN_RCVMAXSIZE, &max_bytes, sizeof max_bytes);
    pthread_t server_thread;
    if (pthread_create(&server_thread, NULL, echo_server_main, &server) != 0) {
        die("pthread_create failed");
    }

    struct echo_client *workers = calloc(clients, sizeof *workers);
    if (workers == NULL) {
        die("out of memory");
    }
    int64_t start = now_ns();
    for (uint64_t i = 0; i < clients; i++) {
        workers[i].url = url;
        workers[i].message_bytes = message_bytes;
        workers[i].deadline_ns = start + (int64_t)seconds * 1000000000;
        if (pthread_create(&workers[i].thread, NULL, echo_client_main, &workers[i]) != 0) {
            die("pthread_create failed");
        }
    }
    char label[64];
    snprintf(label, sizeof label, "echo, %" PRIu64 " clients", clients);
    wait_with_progress(label, start, seconds);
    struct samples all = {0};
    struct throughput_result result = {.name = "echo", .clients = clients, .batch = 1};
    for (uint64_t i = 0; i < clients; i++) {
        pthread_join(workers[i].thread, NULL);
        result.requests += workers[i].requests;
        result.failures += workers[i].failures;
        samples_merge(&all, &workers[i].latencies);
        samples_free(&workers[i].latencies);
    }
    int64_t end = now_ns();
    atomic_store(&server.stop, true);
    pthread_join(server_thread, NULL);
    nn_close(server.socket);
    free(workers);
    remove_tree(dir);

    result.seconds = (double)(end - start) / 1e9;
    result.requests_per_s = (double)result.requests / result.seconds;
    result.events_per_s = 0;
    result.latency = samples_percentiles(&all);
    samples_free(&all);
    return result;
}

/* Requests that failed in any measurement of this run: figures that include
 * failures do not measure the daemon's normal path, so the run exits 1. */
static uint64_t bench_failures = 0;

static void print_throughput(const struct throughput_result *r)
{
    bench_failures += r->failures;
    printf("{\"bench\":\"%s\",\"clients\":%" PRIu64 ",\"batch\":%" PRIu64
           ",\"seconds\":%.2f,\"requests\":%" PRIu64 ",\"failures\":%" PRIu64
           ",\"requests_per_s\":%.1f,\"events_per_s\":%.1f,",
           r->name, r->clients, r->batch, r->seconds, r->requests, r->failures, r->requests_per_s,
           r->events_per_s);
    print_percentiles_json(stdout, "latency_us", &r->latency);
    printf("}\n");
    printf("%s: %" PRIu64 " clients: %.0f requests/s", r->name, r->clients, r->requests_per_s);
    if (r->events_per_s > 0) {
        printf(" (%.0f events/s)", r->events_per_s);
    }
    printf(", latency p50 %.0f us, p90 %.0f us, p99 %.0f us, p99.9 %.0f us", r->latency.p50_us,
           r->latency.p90_us, r->latency.p99_us, r->latency.p999_us);
    if (r->failures > 0) {
        printf(", %" PRIu64 " failures", r->failures);
    }
    printf("\n");
    fflush(stdout);
}

/* ------------------------------------------------------------------------ */
/* The daemon: a real ledgerd on a fresh data directory, driven through the
 * client library with histories from tests/support/histgen.h. */

/* Where ledgerd is: --ledgerd, else as tool_ledgerd_path finds it. */
static const char *bench_ledgerd_path = NULL;
/* Per-attempt reply timeout of benchmark clients: a batch of many thousand
 * commands on a slow disk may take seconds; nothing here should time out. */
#define BENCH_CLIENT_TIMEOUT_MS 120000
/* Connections one driver keeps open (nanomsg allows 512 sockets a process). */
#define BENCH_CONNECTIONS_MAX 24
/* Principals one driver learns the secrets of. */
#define BENCH_KEYS_MAX 100000
/* Time-limited runs draw commands from a generator that can go on this long. */
#define BENCH_GENERATOR_EVENTS_MAX UINT64_C(5000000)
/* Business time of time-limited runs: 1..10 s per command, ending before now,
 * so that no command's business time is in the ledger's future. */
#define BENCH_STEP_MIN_US INT64_C(1000000)
#define BENCH_STEP_MAX_US INT64_C(10000000)

/* Initializes a data directory and serves it; returns once it answers. */
static void daemon_start(const char *argv0, uint64_t batch_commands_max, struct tool_daemon *d)
{
    char root[TOOL_PATH_SIZE];
    make_temp_dir("daemon", root, sizeof root);
    tool_daemon_paths(d, root);
    bench_daemon_root = d->root;
    char batch_max[32];
    snprintf(batch_max, sizeof batch_max, "%" PRIu64,
             batch_commands_max < 1000 ? 1000 : batch_commands_max);
    const char *extra[] = {"--batch-commands-max", batch_max, "--request-bytes-max", "67108864",
                           NULL};
    /* 20 s for the daemon to answer its first query. */
    const char *failure =
        tool_daemon_start(d, tool_ledgerd_path(argv0, bench_ledgerd_path), extra, 20000);
    if (failure != NULL) {
        die("%s (see %s)", failure, d->log_path);
    }
    bench_daemon_pid = d->pid;
}

/* Size of the data directory's data.mdb: what the history occupies. */
static uint64_t daemon_data_bytes(const struct tool_daemon *d)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/data.mdb", d->data);
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_blocks * 512 : 0;
}

/* SIGTERM, then SIGKILL if it has not exited within 30 s; removes the
 * directory (kept with --keep for a look at the log). A daemon that does not
 * exit with status 0 ends the run (exit 1, its directory kept): a clean stop
 * is part of what ledgerd promises, and a figure measured on a daemon that
 * failed is not one to publish. */
static bool bench_keep = false;

static void daemon_stop(struct tool_daemon *d)
{
    int status = tool_daemon_stop(d, 30000);
    bench_daemon_pid = 0;
    if (status == -2) {
        die("ledgerd did not stop within 30 s of SIGTERM; killed it");
    } else if (status == -1) {
        die("ledgerd was killed by a signal when asked to stop");
    } else if (status != 0) {
        die("ledgerd exited with status %d when asked to stop", status);
    }
    if (bench_keep) {
        fprintf(stderr, "ledger-bench: kept %s\n", d->root);
    } else {
        remove_tree(d->root);
    }
    bench_daemon_root = NULL;
}

/* Principal secrets learned from AddPrincipal results. */
struct keyring {
    struct key {
        char id[HISTGEN_ID_SIZE];
        uint8_t secret[LEDGER_CLIENT_SECRET_BYTES];
    } * keys;
    size_t count, capacity;
};

static void keyring_add(struct keyring *ring, const char *id, const char *secret_hex)
{
    if (strlen(secret_hex) != 2 * LEDGER_CLIENT_SECRET_BYTES) {
        die("AddPrincipal %s answered without a 64-digit secret", id);
    }
    if (ring->count == ring->capacity) {
        if (ring->capacity >= BENCH_KEYS_MAX) {
            die("more than %d principals", BENCH_KEYS_MAX);
        }
        size_t capacity = ring->capacity ? ring->capacity * 2 : 64;
        struct key *grown = realloc(ring->keys, capacity * sizeof *grown);
        if (grown == NULL) {
            die("out of memory");
        }
        ring->keys = grown;
        ring->capacity = capacity;
    }
    struct key *key = &ring->keys[ring->count];
    if (!tool_secret_from_hex(secret_hex, key->secret)) {
        die("AddPrincipal %s answered a secret that is not hex", id);
    }
    snprintf(key->id, sizeof key->id, "%s", id);
    ring->count++;
}

static const uint8_t *keyring_find(const struct keyring *ring, const char *id)
{
    for (size_t i = ring->count; i > 0; i--) {
        if (strcmp(ring->keys[i - 1].id, id) == 0) {
            return ring->keys[i - 1].secret;
        }
    }
    return NULL;
}

/* A driver: one thread's connections (one per principal, the oldest closed
 * past BENCH_CONNECTIONS_MAX) and the secrets it learned. */
struct driver {
    const struct tool_daemon *daemon;
    struct keyring keys;
    struct connection {
        char id[HISTGEN_ID_SIZE];
        struct ledger_client *client;
        uint64_t used;
    } connections[BENCH_CONNECTIONS_MAX];
    uint64_t uses;
};

static struct ledger_client *driver_client(struct driver *driver, const char *principal_id)
{
    struct connection *oldest = &driver->connections[0];
    for (size_t i = 0; i < BENCH_CONNECTIONS_MAX; i++) {
        struct connection *c = &driver->connections[i];
        if (c->client != NULL && strcmp(c->id, principal_id) == 0) {
            c->used = ++driver->uses;
            return c->client;
        }
        if (c->client == NULL || c->used < oldest->used) {
            oldest = c;
        }
    }
    if (oldest->client != NULL) {
        ledger_close(oldest->client);
        oldest->client = NULL;
    }
    const uint8_t *secret = NULL;
    if (strcmp(principal_id, TOOL_OPERATOR_ID) != 0) {
        secret = keyring_find(&driver->keys, principal_id);
        if (secret == NULL) {
            die("no secret for principal %s", principal_id);
        }
    }
    struct ledger_options options;
    tool_client_options(driver->daemon, principal_id, secret, BENCH_CLIENT_TIMEOUT_MS, &options);
    enum ledger_err err = ledger_connect(&options, &oldest->client);
    if (err != LEDGER_ERR_OK) {
        die("ledger_connect as %s: %s", principal_id, ledger_err_name(err));
    }
    snprintf(oldest->id, sizeof oldest->id, "%s", principal_id);
    oldest->used = ++driver->uses;
    return oldest->client;
}

static void driver_close(struct driver *driver)
{
    for (size_t i = 0; i < BENCH_CONNECTIONS_MAX; i++) {
        ledger_close(driver->connections[i].client);
        driver->connections[i].client = NULL;
    }
    free(driver->keys.keys);
    memset(&driver->keys, 0, sizeof driver->keys);
}

static Ledger__V1__Command *unpack_item(const struct histgen_item *item)
{
    Ledger__V1__Command *command =
        ledger__v1__command__unpack(NULL, item->command_size, item->command);
    if (command == NULL) {
        die("a generated command does not decode");
    }
    return command;
}

/* Learns the secrets of the principals a batch added. */
static void learn_secrets(struct driver *driver, Ledger__V1__Command *const *commands,
                          const Ledger__V1__Reply *reply)
{
    for (size_t i = 0; i < reply->n_results; i++) {
        if (commands[i]->body_case == LEDGER__V1__COMMAND__BODY_ADD_PRINCIPAL &&
            reply->results[i]->secret_hex != NULL && reply->results[i]->secret_hex[0] != '\0') {
            keyring_add(&driver->keys, commands[i]->add_principal->principal_id,
                        reply->results[i]->secret_hex);
        }
    }
}

/* daemon-commands: each client thread drives its own partner with single
 * commands (a batch of one each), waiting for each durable reply. */
struct command_worker {
    pthread_t thread;
    const struct tool_daemon *daemon;
    uint32_t index;
    uint64_t seed;
    int64_t deadline_ns;
    uint64_t accepted, failures;
    struct samples latencies;
    char first_failure[512];
};

static void *command_worker_main(void *argument)
{
    struct command_worker *worker = argument;
    char prefix[32];
    snprintf(prefix, sizeof prefix, "w%" PRIu32 "-", worker->index);
    struct histgen_options options = {
        .seed = worker->seed + worker->index,
        .partners = 1,
        .customers_per_partner = 4,
        .target_events = BENCH_GENERATOR_EVENTS_MAX,
        .start_us = wall_us() - (int64_t)BENCH_GENERATOR_EVENTS_MAX * BENCH_STEP_MAX_US,
        .step_min_us = BENCH_STEP_MIN_US,
        .step_max_us = BENCH_STEP_MAX_US,
        .operator_id = TOOL_OPERATOR_ID,
        .partner_first = worker->index + 1,
        .command_prefix = prefix,
    };
    struct histgen *gen = NULL;
    if (histgen_new(&options, &gen) != LEDGER_ERR_OK) {
        die("histgen_new failed");
    }
    struct driver driver = {.daemon = worker->daemon};
    struct histgen_item item;
    while (now_ns() < worker->deadline_ns && histgen_next(gen, &item)) {
        Ledger__V1__Command *command = unpack_item(&item);
        struct ledger_client *client = driver_client(&driver, item.principal.id);
        Ledger__V1__Reply *reply = NULL;
        int64_t t0 = now_ns();
        enum ledger_err err =
            ledger_execute(client, (const Ledger__V1__Command *const *)&command, 1, &reply);
        int64_t t1 = now_ns();
        if (err == LEDGER_ERR_OK) {
            samples_add(&worker->latencies, t1 - t0);
            worker->accepted++;
            learn_secrets(&driver, &command, reply);
            histgen_accepted(gen, reply->results[0]->first_sequence);
            ledger_reply_free(reply);
        } else {
            if (worker->failures++ == 0) {
                snprintf(worker->first_failure, sizeof worker->first_failure, "%s by %s: %s: %s",
                         codec_command_type_name(item.kind), item.principal.id,
                         ledger_err_name(err), ledger_error_message(client));
            }
            histgen_refused(gen);
        }
        ledger__v1__command__free_unpacked(command, NULL);
    }
    driver_close(&driver);
    histgen_free(gen);
    return NULL;
}

static struct throughput_result run_daemon_commands(const char *argv0, uint64_t clients,
                                                    uint64_t seconds, uint64_t seed)
{
    struct tool_daemon d;
    daemon_start(argv0, 0, &d);
    struct command_worker *workers = calloc(clients, sizeof *workers);
    if (workers == NULL) {
        die("out of memory");
    }
    int64_t start = now_ns();
    for (uint64_t i = 0; i < clients; i++) {
        workers[i].daemon = &d;
        workers[i].index = (uint32_t)i;
        workers[i].seed = seed;
        workers[i].deadline_ns = start + (int64_t)seconds * 1000000000;
        if (pthread_create(&workers[i].thread, NULL, command_worker_main, &workers[i]) != 0) {
            die("pthread_create failed");
        }
    }
    char label[64];
    snprintf(label, sizeof label, "daemon-commands, %" PRIu64 " clients", clients);
    wait_with_progress(label, start, seconds);
    struct samples all = {0};
    struct throughput_result result = {.name = "daemon-commands", .clients = clients, .batch = 1};
    for (uint64_t i = 0; i < clients; i++) {
        pthread_join(workers[i].thread, NULL);
        result.requests += workers[i].accepted;
        result.failures += workers[i].failures;
        if (workers[i].failures > 0) {
            fprintf(stderr, "ledger-bench: client %" PRIu64 ": %" PRIu64 " refused; first: %s\n", i,
                    workers[i].failures, workers[i].first_failure);
        }
        samples_merge(&all, &workers[i].latencies);
        samples_free(&workers[i].latencies);
    }
    int64_t end = now_ns();
    free(workers);
    daemon_stop(&d);
    result.seconds = (double)(end - start) / 1e9;
    result.requests_per_s = (double)result.requests / result.seconds;
    result.events_per_s = result.requests_per_s;
    result.latency = samples_percentiles(&all);
    samples_free(&all);
    return result;
}

/* A loader: one client sending atomic batches of up to `batch` commands
 * from an admin-only generator (one principal per run of commands). As the
 * only writer it knows the sequence each command will get (commands of a
 * batch are appended in order, one event each) and checks it in the reply. */
struct loader {
    const struct tool_daemon *daemon;
    struct driver driver;
    struct histgen *gen;
    uint64_t batch;
    uint64_t next_sequence;
    Ledger__V1__Command **commands;
    size_t count;
    char principal[HISTGEN_ID_SIZE];
    uint64_t events, batches;
    struct samples latencies;
    uint64_t command_bytes;
    int64_t business_first_us, business_last_us; /* of the commands loaded (0: none yet) */
};

static void loader_flush(struct loader *l)
{
    if (l->count == 0) {
        return;
    }
    struct ledger_client *client = driver_client(&l->driver, l->principal);
    Ledger__V1__Reply *reply = NULL;
    int64_t t0 = now_ns();
    enum ledger_err err =
        ledger_execute(client, (const Ledger__V1__Command *const *)l->commands, l->count, &reply);
    int64_t t1 = now_ns();
    if (err != LEDGER_ERR_OK) {
        uint32_t index = ledger_error_index(client);
        die("a batch of %zu by %s was refused: %s at command %" PRIu32 " (%s): %s", l->count,
            l->principal, ledger_err_name(err), index,
            index < l->count ? codec_command_type_name(l->commands[index]->body_case) : "?",
            ledger_error_message(client));
    }
    uint64_t expected = l->next_sequence - l->count;
    for (size_t i = 0; i < reply->n_results; i++) {
        if (reply->results[i]->first_sequence != expected + i) {
            die("command %zu of a batch got sequence %" PRIu64 ", not %" PRIu64
                " (is another writer using this daemon?)",
                i, reply->results[i]->first_sequence, expected + i);
        }
    }
    learn_secrets(&l->driver, l->commands, reply);
    ledger_reply_free(reply);
    samples_add(&l->latencies, t1 - t0);
    l->events += l->count;
    l->batches++;
    for (size_t i = 0; i < l->count; i++) {
        ledger__v1__command__free_unpacked(l->commands[i], NULL);
    }
    l->count = 0;
}

/* Loads until the generator ends or the deadline passes (0: none). The
 * progress bar counts seconds of `seconds` with a deadline, else events of
 * `events`. */
static void loader_run(struct loader *l, int64_t deadline_ns, uint64_t seconds, uint64_t events)
{
    struct histgen_item item;
    struct progress bar;
    int64_t start = now_ns();
    if (deadline_ns != 0) {
        progress_start(&bar, "daemon-batches", "s", seconds, false);
    } else {
        progress_start(&bar, "load", "events", events, false);
    }
    while ((deadline_ns == 0 || now_ns() < deadline_ns) && histgen_next(l->gen, &item)) {
        if (deadline_ns != 0) {
            progress_update(&bar, (uint64_t)((now_ns() - start) / 1000000000));
        } else {
            progress_update(&bar, l->events);
        }
        if (l->count > 0 &&
            (l->count == l->batch || strcmp(l->principal, item.principal.id) != 0)) {
            loader_flush(l);
        }
        snprintf(l->principal, sizeof l->principal, "%s", item.principal.id);
        if (l->business_first_us == 0 || item.business_us < l->business_first_us) {
            l->business_first_us = item.business_us;
        }
        if (item.business_us > l->business_last_us) {
            l->business_last_us = item.business_us;
        }
        l->commands[l->count++] = unpack_item(&item);
        l->command_bytes += item.command_size;
        histgen_accepted(l->gen, l->next_sequence++);
    }
    loader_flush(l);
    progress_finish(&bar, deadline_ns != 0 ? seconds : l->events);
}

static void loader_init(struct loader *l, const struct tool_daemon *d,
                        const struct histgen_options *options, uint64_t batch)
{
    memset(l, 0, sizeof *l);
    l->daemon = d;
    l->driver.daemon = d;
    l->batch = batch;
    l->commands = calloc(batch, sizeof *l->commands);
    if (l->commands == NULL || histgen_new(options, &l->gen) != LEDGER_ERR_OK) {
        die("cannot set up the loader");
    }
    uint64_t head = 0;
    enum ledger_err err = tool_head_query(driver_client(&l->driver, TOOL_OPERATOR_ID), &head);
    if (err != LEDGER_ERR_OK) {
        die("head query: %s", ledger_err_name(err));
    }
    l->next_sequence = head + 1;
}

static void loader_free(struct loader *l)
{
    driver_close(&l->driver);
    histgen_free(l->gen);
    free(l->commands);
    samples_free(&l->latencies);
}

/* The mean size of stored event records: the first `wanted` events partner
 * 1's auditor may read (its partner's events, registration included), paged
 * from the start of the log; at most 100 pages. 0 when they cannot be read. */
static double mean_record_bytes(struct loader *l, uint64_t wanted)
{
    if (keyring_find(&l->driver.keys, "auditor-1") == NULL) {
        return 0;
    }
    struct ledger_client *client = driver_client(&l->driver, "auditor-1");
    uint64_t after = 0, seen = 0, head = l->next_sequence - 1;
    double total = 0;
    for (int page = 0; page < 100 && seen < wanted && after < head; page++) {
        Ledger__V1__EventsQuery events = LEDGER__V1__EVENTS_QUERY__INIT;
        events.after_sequence = after;
        events.limit = 1000;
        Ledger__V1__Query query = LEDGER__V1__QUERY__INIT;
        query.kind_case = LEDGER__V1__QUERY__KIND_EVENTS;
        query.events = &events;
        Ledger__V1__QueryResult *result = NULL;
        enum ledger_err err = ledger_query(client, &query, &result);
        if (err != LEDGER_ERR_OK) {
            fprintf(stderr, "ledger-bench: events query: %s: %s\n", ledger_err_name(err),
                    ledger_error_message(client));
            return 0;
        }
        for (size_t i = 0; i < result->n_events; i++) {
            total += (double)result->events[i]->record.len;
        }
        seen += result->n_events;
        bool stuck = result->last_sequence <= after;
        after = result->last_sequence;
        ledger_query_result_free(result);
        if (stuck) {
            break;
        }
    }
    return seen > 0 ? total / (double)seen : 0;
}

struct batch_result {
    struct throughput_result throughput;
    double record_bytes_mean;
    double command_bytes_mean;
};

static struct batch_result run_daemon_batches(const char *argv0, uint64_t batch, uint64_t seconds,
                                              uint64_t seed)
{
    struct tool_daemon d;
    daemon_start(argv0, batch, &d);
    struct histgen_options options = {
        .seed = seed,
        .partners = 8,
        .customers_per_partner = 100,
        .target_events = BENCH_GENERATOR_EVENTS_MAX,
        .start_us = wall_us() - (int64_t)BENCH_GENERATOR_EVENTS_MAX * BENCH_STEP_MAX_US,
        .step_min_us = BENCH_STEP_MIN_US,
        .step_max_us = BENCH_STEP_MAX_US,
        .operator_id = TOOL_OPERATOR_ID,
        .admin_only = true,
        .partner_run = (uint32_t)batch,
    };
    struct loader l;
    loader_init(&l, &d, &options, batch);
    int64_t start = now_ns();
    loader_run(&l, start + (int64_t)seconds * 1000000000, seconds, 0);
    int64_t end = now_ns();
    struct batch_result result = {0};
    struct throughput_result *t = &result.throughput;
    t->name = "daemon-batches";
    t->clients = 1;
    t->batch = batch;
    t->seconds = (double)(end - start) / 1e9;
    t->requests = l.batches;
    t->requests_per_s = (double)l.batches / t->seconds;
    t->events_per_s = (double)l.events / t->seconds;
    t->latency = samples_percentiles(&l.latencies);
    result.command_bytes_mean = l.events ? (double)l.command_bytes / (double)l.events : 0;
    result.record_bytes_mean = mean_record_bytes(&l, 5000);
    loader_free(&l);
    daemon_stop(&d);
    return result;
}

static void print_batches(const struct batch_result *r)
{
    const struct throughput_result *t = &r->throughput;
    printf("{\"bench\":\"daemon-batches\",\"clients\":%" PRIu64 ",\"batch\":%" PRIu64
           ",\"seconds\":%.2f,\"batches\":%" PRIu64
           ",\"batches_per_s\":%.1f,\"events_per_s\":%.1f,\"record_bytes_mean\":%.1f,"
           "\"command_bytes_mean\":%.1f,",
           t->clients, t->batch, t->seconds, t->requests, t->requests_per_s, t->events_per_s,
           r->record_bytes_mean, r->command_bytes_mean);
    print_percentiles_json(stdout, "batch_latency_us", &t->latency);
    printf("}\n");
    printf("daemon-batches: batches of %" PRIu64 ": %.0f events/s (%.1f batches/s), batch "
           "latency p50 %.0f us, p99 %.0f us; stored records %.0f B on average\n",
           t->batch, t->events_per_s, t->requests_per_s, t->latency.p50_us, t->latency.p99_us,
           r->record_bytes_mean);
    fflush(stdout);
}

/* daemon-query: load a history, then time reservations queries, and with
 * --as-of-business the same customers' reservations as of a business time. */
struct query_series {
    uint64_t queries, failures;
    double rows_mean;
    struct percentiles latency;
};

struct query_result {
    uint64_t customers, events;
    double load_seconds, load_events_per_s;
    uint64_t data_bytes;
    struct query_series plain;
    int64_t as_of_business_us; /* 0: no "as of" queries were timed */
    struct query_series as_of;
};

/* The queries of one series as they are timed. */
struct query_tally {
    struct samples latencies;
    double rows;
    uint64_t queries, failures;
};

/* Times one reservations query of customer_id, as of business_us when that
 * is not 0 (AsOf.business_time_us), and counts it in *tally when `counted`
 * (failures always). client: borrowed. */
static void time_reservations(struct ledger_client *client, const char *customer_id,
                              int64_t business_us, bool counted, struct query_tally *tally)
{
    Ledger__V1__AsOf as_of = LEDGER__V1__AS_OF__INIT;
    as_of.business_time_us = business_us;
    Ledger__V1__ReservationsQuery reservations = LEDGER__V1__RESERVATIONS_QUERY__INIT;
    reservations.customer_id = (char *)(uintptr_t)customer_id;
    reservations.as_of = business_us != 0 ? &as_of : NULL;
    Ledger__V1__Query query = LEDGER__V1__QUERY__INIT;
    query.kind_case = LEDGER__V1__QUERY__KIND_RESERVATIONS;
    query.reservations = &reservations;
    Ledger__V1__QueryResult *answer = NULL;
    int64_t t0 = now_ns();
    enum ledger_err err = ledger_query(client, &query, &answer);
    int64_t t1 = now_ns();
    if (err != LEDGER_ERR_OK) {
        if (tally->failures++ == 0) {
            fprintf(stderr, "ledger-bench: reservations of %s%s: %s: %s\n", customer_id,
                    business_us != 0 ? " as of a business time" : "", ledger_err_name(err),
                    ledger_error_message(client));
        }
        return;
    }
    if (counted) {
        samples_add(&tally->latencies, t1 - t0);
        tally->rows += (double)answer->n_reservations;
        tally->queries++;
    }
    ledger_query_result_free(answer);
}

static struct query_series query_series_of(struct query_tally *tally)
{
    struct query_series series = {
        .queries = tally->queries,
        .failures = tally->failures,
        .rows_mean = tally->queries ? tally->rows / (double)tally->queries : 0,
        .latency = samples_percentiles(&tally->latencies),
    };
    samples_free(&tally->latencies);
    return series;
}

static struct query_result run_daemon_query(const char *argv0, uint64_t customers, uint64_t events,
                                            uint64_t queries, uint64_t seed, bool as_of_business)
{
    /* Partners of up to 100 customers each, as resellers of that size have. */
    uint32_t per_partner = customers < 100 ? (uint32_t)customers : 100;
    uint32_t partners = (uint32_t)((customers + per_partner - 1) / per_partner);
    struct tool_daemon d;
    daemon_start(argv0, 1000, &d);
    struct histgen_options options = {
        .seed = seed,
        .partners = partners,
        .customers_per_partner = per_partner,
        .target_events = events,
        .start_us = wall_us() - (int64_t)events * BENCH_STEP_MAX_US,
        .step_min_us = BENCH_STEP_MIN_US,
        .step_max_us = BENCH_STEP_MAX_US,
        .operator_id = TOOL_OPERATOR_ID,
        .admin_only = true,
        .partner_run = 1000,
    };
    struct loader l;
    loader_init(&l, &d, &options, 1000);
    int64_t start = now_ns();
    loader_run(&l, 0, 0, events);
    int64_t loaded = now_ns();

    struct query_result result = {.customers = (uint64_t)partners * per_partner,
                                  .events = l.events};
    result.load_seconds = (double)(loaded - start) / 1e9;
    result.load_events_per_s = (double)l.events / result.load_seconds;
    result.data_bytes = daemon_data_bytes(&d);
    /* Halfway through the history's business times: every customer's
     * stream is replayed to its end (an as-of answer reads all of it) and
     * about half of it is left out as dated after that time. */
    if (as_of_business) {
        result.as_of_business_us =
            l.business_first_us + (l.business_last_us - l.business_first_us) / 2;
    }

    /* Each query as the help desk agent of the customer's partner: support
     * staff asking "show me customer X's reservations", then (with
     * --as-of-business) the same agent asking for them as of a business
     * time, so that the two series share the machine's ups and downs. */
    uint64_t x = seed * UINT64_C(0x9e3779b97f4a7c15) + 1;
    struct query_tally plain = {0}, dated = {0};
    const uint64_t warmup = queries / 50;
    struct progress bar;
    progress_start(&bar, "queries", "queries", queries + warmup, false);
    for (uint64_t q = 0; q < queries + warmup; q++) {
        progress_update(&bar, q);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        uint32_t partner = (uint32_t)(x % partners) + 1;
        uint32_t customer = (uint32_t)((x >> 32) % per_partner) + 1;
        char helpdesk[HISTGEN_ID_SIZE], customer_id[HISTGEN_ID_SIZE];
        snprintf(helpdesk, sizeof helpdesk, "helpdesk-%" PRIu32, partner);
        histgen_customer_id(partner, customer, customer_id);
        struct ledger_client *client = driver_client(&l.driver, helpdesk);
        time_reservations(client, customer_id, 0, q >= warmup, &plain);
        if (result.as_of_business_us != 0) {
            time_reservations(client, customer_id, result.as_of_business_us, q >= warmup, &dated);
        }
    }
    progress_finish(&bar, queries + warmup);
    result.plain = query_series_of(&plain);
    result.as_of = query_series_of(&dated);
    loader_free(&l);
    daemon_stop(&d);
    return result;
}

static void print_query(const struct query_result *r)
{
    const struct query_series *plain = &r->plain, *as_of = &r->as_of;
    bench_failures += plain->failures + as_of->failures;
    printf("{\"bench\":\"daemon-query\",\"customers\":%" PRIu64 ",\"events\":%" PRIu64
           ",\"load_seconds\":%.1f,\"load_events_per_s\":%.1f,\"data_bytes\":%" PRIu64
           ",\"queries\":%" PRIu64 ",\"failures\":%" PRIu64 ",\"rows_mean\":%.1f,",
           r->customers, r->events, r->load_seconds, r->load_events_per_s, r->data_bytes,
           plain->queries, plain->failures, plain->rows_mean);
    print_percentiles_json(stdout, "latency_us", &plain->latency);
    if (r->as_of_business_us != 0) {
        printf(",\"as_of_business\":{\"business_time_us\":%" PRId64 ",\"queries\":%" PRIu64
               ",\"failures\":%" PRIu64 ",\"rows_mean\":%.1f,",
               r->as_of_business_us, as_of->queries, as_of->failures, as_of->rows_mean);
        print_percentiles_json(stdout, "latency_us", &as_of->latency);
        printf("}");
    }
    printf("}\n");
    printf("daemon-query: %" PRIu64 " customers, %" PRIu64
           " events (loaded in %.1f s, %.0f events/s, %.1f MB): reservations query p50 %.0f "
           "us, p99 %.0f us, p99.9 %.0f us (%.1f rows on average)\n",
           r->customers, r->events, r->load_seconds, r->load_events_per_s,
           (double)r->data_bytes / 1e6, plain->latency.p50_us, plain->latency.p99_us,
           plain->latency.p999_us, plain->rows_mean);
    if (r->as_of_business_us != 0) {
        printf("daemon-query: reservations as of business time %" PRId64
               " us, the same customers: p50 %.0f us, p99 %.0f us, p99.9 %.0f us (%.1f rows on "
               "average)\n",
               r->as_of_business_us, as_of->latency.p50_us, as_of->latency.p99_us,
               as_of->latency.p999_us, as_of->rows_mean);
    }
    fflush(stdout);
}

/* ------------------------------------------------------------------------ */
/* rebuild: `ledgerd rebuild` and the offline verifier on a generated ledger,
 * against the verifier's log-only check of the same records (reading every
 * record and recomputing its leaf hash and the root: the least any replay
 * must do) as the baseline. */

#define TARGET_REBUILD_EVENTS_PER_S 500000.0

struct rebuild_result {
    uint64_t events;
    double log_check_s, verify_s, rebuild_s;
    uint64_t data_bytes;
};

/* Runs argv to completion with its output appended to root/ledgerd.log and
 * returns the wall time it took; any failure ends the benchmark. */
static double run_timed(const struct tool_daemon *d, const char *const argv[])
{
    int64_t start = now_ns();
    if (tool_run(d, argv) != 0) {
        die("%s %s failed (see %s)", argv[0], argv[1], d->log_path);
    }
    return (double)(now_ns() - start) / 1e9;
}

static struct rebuild_result run_rebuild(const char *argv0, uint64_t events, uint64_t seed)
{
    struct rebuild_result r = {.events = events};
    struct tool_daemon d;
    char root[TOOL_PATH_SIZE];
    make_temp_dir("rebuild", root, sizeof root);
    tool_daemon_paths(&d, root);
    bench_daemon_root = d.root;
    const char *ledgerd = tool_ledgerd_path(argv0, bench_ledgerd_path);
    char fixture[TOOL_PATH_SIZE], verify[TOOL_PATH_SIZE];
    tool_program_path(argv0, "ledger-fixture", fixture, sizeof fixture);
    tool_program_path(argv0, "ledger-verify", verify, sizeof verify);

    /* A signing key from `ledgerd init`, so that ledgerd opens the ledger. */
    char key_dir[4200], key_from[4300], key_to[4300];
    const char *data = d.data;
    snprintf(key_dir, sizeof key_dir, "%s/init", d.root);
    const char *init_argv[] = {ledgerd, "init", "--data", key_dir, NULL};
    run_timed(&d, init_argv);
    char events_text[32], seed_text[32];
    snprintf(events_text, sizeof events_text, "%" PRIu64, events);
    snprintf(seed_text, sizeof seed_text, "%" PRIu64, seed);
    fprintf(stderr, "rebuild: generating a ledger of %" PRIu64 " events...\n", events);
    /* 20 partners, with customers enough for about 200 events each (at least
     * 50 per partner), so that a customer's history keeps a realistic size
     * as the ledger grows. */
    uint64_t customers = events / 20 / 200;
    if (customers < 50) {
        customers = 50;
    }
    char customers_text[32];
    snprintf(customers_text, sizeof customers_text, "%" PRIu64, customers);
    const char *fixture_argv[] = {fixture,        "--events",   events_text, "--seed",
                                  seed_text,      "--partners", "20",        "--customers",
                                  customers_text, "--quiet",    data,        NULL};
    run_timed(&d, fixture_argv);
    snprintf(key_from, sizeof key_from, "%s/head.key", key_dir);
    snprintf(key_to, sizeof key_to, "%s/head.key", data);
    if (link(key_from, key_to) != 0) {
        die("cannot link %s to %s: %s", key_from, key_to, strerror(errno));
    }
    char mdb[4300];
    snprintf(mdb, sizeof mdb, "%s/data.mdb", data);
    struct stat st;
    r.data_bytes = stat(mdb, &st) == 0 ? (uint64_t)st.st_size : 0;
    r.events = events + 1; /* and the first operator */

    /* Warm the page cache once, so that every timed run reads from memory. */
    const char *log_argv[] = {verify, "--no-views", "--quiet", data, NULL};
    run_timed(&d, log_argv);
    r.log_check_s = run_timed(&d, log_argv);
    const char *rebuild_argv[] = {ledgerd, "rebuild", "--data", data, NULL};
    r.rebuild_s = run_timed(&d, rebuild_argv);
    const char *verify_argv[] = {verify, "--quiet", data, NULL};
    r.verify_s = run_timed(&d, verify_argv);
    if (!bench_keep) {
        remove_tree(d.root);
    } else {
        fprintf(stderr, "ledger-bench: kept %s\n", d.root);
    }
    bench_daemon_root = NULL;
    return r;
}

static void print_rebuild(const struct rebuild_result *r)
{
    double log_rate = r->log_check_s > 0 ? (double)r->events / r->log_check_s : 0;
    double rebuild_rate = r->rebuild_s > 0 ? (double)r->events / r->rebuild_s : 0;
    double verify_rate = r->verify_s > 0 ? (double)r->events / r->verify_s : 0;
    printf("{\"bench\":\"rebuild\",\"events\":%" PRIu64 ",\"data_bytes\":%" PRIu64
           ",\"log_check_s\":%.3f,\"log_check_events_per_s\":%.0f,\"rebuild_s\":%.3f,"
           "\"rebuild_events_per_s\":%.0f,\"verify_s\":%.3f,\"verify_events_per_s\":%.0f,"
           "\"rebuild_vs_log_check\":%.3f,\"target_events_per_s\":%.0f,\"met\":%s}\n",
           r->events, r->data_bytes, r->log_check_s, log_rate, r->rebuild_s, rebuild_rate,
           r->verify_s, verify_rate, log_rate > 0 ? rebuild_rate / log_rate : 0,
           TARGET_REBUILD_EVENTS_PER_S,
           rebuild_rate >= TARGET_REBUILD_EVENTS_PER_S ? "true" : "false");
    printf("rebuild: %" PRIu64 " events (%.1f MB): log check %.2f s (%.0f events/s); "
           "ledgerd rebuild %.2f s (%.0f events/s, %.3f of the log check; target %.0f); "
           "full offline verification %.2f s (%.0f events/s)\n",
           r->events, (double)r->data_bytes / 1e6, r->log_check_s, log_rate, r->rebuild_s,
           rebuild_rate, log_rate > 0 ? rebuild_rate / log_rate : 0, TARGET_REBUILD_EVENTS_PER_S,
           r->verify_s, verify_rate);
    fflush(stdout);
}

/* ------------------------------------------------------------------------ */
/* The command line. */

static void usage(FILE *out)
{
    fprintf(out, "usage: ledger-bench COMMAND [OPTIONS]\n"
                 "\n"
                 "baselines:\n"
                 "  lmdb-append [--batch N] [--record-bytes B] [--seconds S]\n"
                 "      raw durable LMDB appends: N records of B bytes per synchronous commit\n"
                 "  echo [--clients C] [--seconds S] [--bytes B]\n"
                 "      a nanomsg REP echo server thread and C REQ client threads over ipc://\n"
                 "the daemon (a fresh ledgerd on a temporary data directory):\n"
                 "  daemon-commands [--clients C] [--seconds S]\n"
                 "      C client threads, each sending single durable commands for its partner\n"
                 "  daemon-batches [--batch N] [--seconds S]\n"
                 "      one client sending atomic batches of N commands\n"
                 "  daemon-query [--customers N] [--events E] [--queries Q] [--as-of-business]\n"
                 "      load E events of N customers in batches of 1000, then time Q\n"
                 "      reservations queries for random customers; --as-of-business: after\n"
                 "      each, the same customer's reservations as of a business time halfway\n"
                 "      through the history (AsOf.business_time_us), timed apart\n"
                 "  all [--seconds S] [--clients C] [--batch N] [--customers N] [--events E]\n"
                 "      every measurement above and the ratios of docs/performance.md\n"
                 "  rebuild [--events E]\n"
                 "      a generated ledger of E events (default 200000; 20 partners, about\n"
                 "      200 events per customer): the verifier's\n"
                 "      log-only check (baseline), `ledgerd rebuild`, the full verification\n"
                 "  sweep [--clients-list 1,2,4,8,16,32] [--seconds S] [--out-dir DIR]\n"
                 "      daemon-commands and echo at each client count; writes DIR/sweep.dat\n"
                 "      and draws DIR/latency-throughput.png with gnuplot (default DIR .)\n"
                 "\n"
                 "common options:\n"
                 "  --dir DIR       where temporary directories go (default $TMPDIR or /tmp);\n"
                 "                  use the disk a real data directory would be on\n"
                 "  --ledgerd PATH  the daemon (default $LEDGERD, else ../daemon/ledgerd beside\n"
                 "                  this program, else ledgerd on the PATH)\n"
                 "  --seed N        the histories' seed (default 1)\n"
                 "  --keep          keep the daemon's temporary directory (and its log)\n"
                 "\n"
                 "Defaults: --batch 1000 --record-bytes 200 --seconds 10 --clients 16\n"
                 "--bytes 200 --customers 10000 --events 1000000 --queries 10000.\n"
                 "Each measurement prints one line of JSON and one line of text.\n");
}

struct bench_args {
    uint64_t batch, record_bytes, seconds, clients, message_bytes;
    uint64_t customers, events, queries, seed;
    bool events_given;   /* rebuild's default differs from the others' */
    bool as_of_business; /* daemon-query: time "as of" queries too */
    uint64_t clients_list[BENCH_SWEEP_POINTS_MAX];
    size_t clients_count;
    const char *out_dir;
};

/* Parses "1,2,4" into counts within [1, BENCH_CLIENTS_MAX]. */
static void parse_clients_list(const char *text, struct bench_args *args)
{
    size_t count = 0;
    const char *at = text;
    for (;;) {
        if (count == BENCH_SWEEP_POINTS_MAX) {
            usage_error("--clients-list takes at most %d counts", BENCH_SWEEP_POINTS_MAX);
        }
        char number[32];
        size_t length = strcspn(at, ",");
        if (length == 0 || length >= sizeof number) {
            usage_error(
                "--clients-list wants counts separated by commas, such as 1,2,4,8, not \"%s\"",
                text);
        }
        memcpy(number, at, length);
        number[length] = '\0';
        args->clients_list[count++] = parse_count("clients-list", number, BENCH_CLIENTS_MAX);
        if (at[length] == '\0') {
            break;
        }
        at += length + 1;
    }
    args->clients_count = count;
}

static void parse_args(int argc, char **argv, struct bench_args *args)
{
    static const struct option options[] = {
        {"batch", required_argument, NULL, 'b'},
        {"record-bytes", required_argument, NULL, 'r'},
        {"seconds", required_argument, NULL, 's'},
        {"clients", required_argument, NULL, 'c'},
        {"bytes", required_argument, NULL, 'm'},
        {"customers", required_argument, NULL, 'u'},
        {"events", required_argument, NULL, 'e'},
        {"queries", required_argument, NULL, 'q'},
        {"seed", required_argument, NULL, 'S'},
        {"dir", required_argument, NULL, 'd'},
        {"ledgerd", required_argument, NULL, 'L'},
        {"keep", no_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {"clients-list", required_argument, NULL, 'C'},
        {"out-dir", required_argument, NULL, 'o'},
        {"as-of-business", no_argument, NULL, 'A'},
        {NULL, 0, NULL, 0},
    };
    optind = 1;
    for (;;) {
        int option = getopt_long(argc, argv, "", options, NULL);
        if (option == -1) {
            break;
        }
        switch (option) {
        case 'b':
            args->batch = parse_count("batch", optarg, BENCH_BATCH_MAX);
            break;
        case 'r':
            args->record_bytes = parse_count("record-bytes", optarg, BENCH_RECORD_BYTES_MAX);
            break;
        case 's':
            args->seconds = parse_count("seconds", optarg, BENCH_SECONDS_MAX);
            break;
        case 'c':
            args->clients = parse_count("clients", optarg, BENCH_CLIENTS_MAX);
            break;
        case 'm':
            args->message_bytes = parse_count("bytes", optarg, BENCH_MESSAGE_BYTES_MAX);
            break;
        case 'u':
            args->customers = parse_count("customers", optarg, BENCH_CUSTOMERS_MAX);
            break;
        case 'e':
            args->events = parse_count("events", optarg, BENCH_EVENTS_MAX);
            args->events_given = true;
            break;
        case 'q':
            args->queries = parse_count("queries", optarg, BENCH_QUERIES_MAX);
            break;
        case 'S':
            args->seed = parse_count("seed", optarg, UINT64_MAX);
            break;
        case 'd':
            bench_parent_dir = optarg;
            break;
        case 'L':
            bench_ledgerd_path = optarg;
            break;
        case 'k':
            bench_keep = true;
            break;
        case 'C':
            parse_clients_list(optarg, args);
            break;
        case 'o':
            args->out_dir = optarg;
            break;
        case 'A':
            args->as_of_business = true;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            exit(2);
        }
    }
    if (optind != argc) {
        usage_error("unexpected argument \"%s\"", argv[optind]);
    }
}

static bool command_known(const char *command)
{
    static const char *const commands[] = {
        "lmdb-append",  "echo", "daemon-commands", "daemon-batches",
        "daemon-query", "all",  "rebuild",         "sweep",
    };
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(command, commands[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* The targets (docs/performance.md): informational, never a test. */
#define TARGET_COMMANDS_VS_ECHO 0.5
#define TARGET_BATCHES_VS_LMDB  0.5
#define TARGET_QUERY_P99_US     1000.0

static void run_all(const char *argv0, const struct bench_args *args)
{
    struct throughput_result echo = run_echo(args->clients, args->seconds, args->message_bytes);
    print_throughput(&echo);
    struct throughput_result commands =
        run_daemon_commands(argv0, args->clients, args->seconds, args->seed);
    print_throughput(&commands);
    struct batch_result batches = run_daemon_batches(argv0, args->batch, args->seconds, args->seed);
    print_batches(&batches);
    /* The raw baseline writes records of the size the daemon stores. */
    uint64_t record_bytes = batches.record_bytes_mean >= 1
                                ? (uint64_t)(batches.record_bytes_mean + 0.5)
                                : args->record_bytes;
    struct lmdb_result lmdb = run_lmdb_append(args->batch, record_bytes, args->seconds);
    print_lmdb(&lmdb);
    struct query_result query =
        run_daemon_query(argv0, args->customers, args->events, args->queries, args->seed, false);
    print_query(&query);

    double commands_vs_echo =
        echo.requests_per_s > 0 ? commands.requests_per_s / echo.requests_per_s : 0;
    double batches_vs_lmdb =
        lmdb.records_per_s > 0 ? batches.throughput.events_per_s / lmdb.records_per_s : 0;
    printf("{\"bench\":\"summary\",\"commands_vs_echo\":%.3f,\"commands_vs_echo_target\":%.1f,"
           "\"batches_vs_lmdb\":%.3f,\"batches_vs_lmdb_target\":%.1f,\"query_p99_us\":%.1f,"
           "\"query_p99_target_us\":%.0f,\"met\":{\"commands\":%s,\"batches\":%s,\"query\":%s}}\n",
           commands_vs_echo, TARGET_COMMANDS_VS_ECHO, batches_vs_lmdb, TARGET_BATCHES_VS_LMDB,
           query.plain.latency.p99_us, TARGET_QUERY_P99_US,
           commands_vs_echo >= TARGET_COMMANDS_VS_ECHO ? "true" : "false",
           batches_vs_lmdb >= TARGET_BATCHES_VS_LMDB ? "true" : "false",
           query.plain.latency.p99_us < TARGET_QUERY_P99_US ? "true" : "false");
    printf("summary: durable single commands from %" PRIu64
           " clients / echo = %.0f / %.0f = %.2f (target >= %.1f)\n",
           args->clients, commands.requests_per_s, echo.requests_per_s, commands_vs_echo,
           TARGET_COMMANDS_VS_ECHO);
    printf("summary: batches of %" PRIu64 " / raw LMDB batches of %" PRIu64 " x %" PRIu64
           " B = %.0f / %.0f events/s = %.2f (target >= %.1f)\n",
           args->batch, args->batch, record_bytes, batches.throughput.events_per_s,
           lmdb.records_per_s, batches_vs_lmdb, TARGET_BATCHES_VS_LMDB);
    printf("summary: reservations query p99 with %" PRIu64 " customers and %" PRIu64
           " events = %.0f us (target < %.0f us)\n",
           query.customers, query.events, query.plain.latency.p99_us, TARGET_QUERY_P99_US);
    fflush(stdout);
}

/* ------------------------------------------------------------------------ */
/* sweep: latency against throughput as the number of clients grows. */

struct sweep_point {
    struct throughput_result daemon, echo;
};

/* Writes the points as whitespace-separated columns, latencies in ms. */
static void write_sweep_dat(const char *path, const struct sweep_point *points, size_t count,
                            uint64_t seconds, long cpus, const char *date)
{
    FILE *out = fopen(path, "w");
    if (out == NULL) {
        die("cannot write %s: %s", path, strerror(errno));
    }
    fprintf(out,
            "# ledger-bench sweep: %" PRIu64 " s per point, nproc %ld, %s\n"
            "# ledgerd: single durable commands (daemon-commands); echo: bare nanomsg REQ/REP\n"
            "# clients ledgerd_req_per_s ledgerd_p50_ms ledgerd_p99_ms echo_req_per_s "
            "echo_p50_ms echo_p99_ms ledgerd_failures\n",
            seconds, cpus, date);
    for (size_t i = 0; i < count; i++) {
        const struct throughput_result *d = &points[i].daemon, *e = &points[i].echo;
        fprintf(out, "%" PRIu64 " %.1f %.3f %.3f %.1f %.3f %.3f %" PRIu64 "\n", d->clients,
                d->requests_per_s, d->latency.p50_us / 1000.0, d->latency.p99_us / 1000.0,
                e->requests_per_s, e->latency.p50_us / 1000.0, e->latency.p99_us / 1000.0,
                d->failures);
    }
    if (fclose(out) != 0) {
        die("cannot write %s: %s", path, strerror(errno));
    }
}

/* Draws the .dat with gnuplot; false when gnuplot is missing or fails. */
static bool plot_sweep(const char *dat_path, const char *png_path, long cpus, const char *date,
                       uint64_t seconds)
{
    if (system("command -v gnuplot >/dev/null 2>&1") != 0) {
        return false;
    }
    FILE *gp = popen("gnuplot", "w");
    if (gp == NULL) {
        return false;
    }
    fprintf(gp,
            "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) "
            "{ set terminal pngcairo size 800,500 font ',10' } "
            "else { set terminal png size 800,500 }\n"
            "set output '%s'\n"
            "set title \"ledgerd single durable commands and nanomsg echo: latency vs throughput\\n"
            "nproc %ld, %s, %" PRIu64 " s per point; point labels: clients\"\n"
            "set rmargin 6\n"
            "set xlabel 'throughput (requests/s, log scale)'\n"
            "set ylabel 'latency (ms, log scale)'\n"
            "set logscale xy\n"
            "set grid\n"
            "set key top left\n"
            "plot '%s' using 2:3 with linespoints lw 2 pt 7 lc rgb '#1f77b4' title 'ledgerd p50', "
            "'' using 2:4 with linespoints lw 2 pt 5 lc rgb '#d62728' title 'ledgerd p99', "
            "'' using 5:6 with linespoints lw 2 pt 7 dt 2 lc rgb '#2ca02c' title 'echo p50', "
            "'' using 5:7 with linespoints lw 2 pt 5 dt 2 lc rgb '#ff7f0e' title 'echo p99', "
            "'' using 2:3:(sprintf('%%d', $1)) with labels offset 0,-1 font ',8' notitle, "
            "'' using 5:6:(sprintf('%%d', $1)) with labels offset 0,-1 font ',8' notitle\n",
            png_path, cpus, date, seconds, dat_path);
    int status = pclose(gp);
    return status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static int run_sweep(const char *argv0, const struct bench_args *args)
{
    static const uint64_t default_list[] = {1, 2, 4, 8, 16, 32};
    const uint64_t *list = args->clients_list;
    size_t count = args->clients_count;
    if (count == 0) {
        list = default_list;
        count = sizeof default_list / sizeof default_list[0];
    }
    const char *dir = args->out_dir != NULL ? args->out_dir : ".";
    /* The paths go into gnuplot's quoted strings. */
    if (strchr(dir, '\'') != NULL || strchr(dir, '\\') != NULL || strchr(dir, '\n') != NULL) {
        die("--out-dir must not contain quotes, backslashes or newlines");
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        die("cannot create %s: %s", dir, strerror(errno));
    }
    char dat_path[4096], png_path[4096];
    int written = snprintf(dat_path, sizeof dat_path, "%s/sweep.dat", dir);
    if (written < 0 || (size_t)written >= sizeof dat_path) {
        die("--out-dir too long");
    }
    snprintf(png_path, sizeof png_path, "%s/latency-throughput.png", dir);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    char date[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime_r(&now, &tm));

    struct sweep_point *points = calloc(count, sizeof *points);
    if (points == NULL) {
        die("out of memory");
    }
    for (size_t i = 0; i < count; i++) {
        if (isatty(STDERR_FILENO)) {
            fprintf(stderr, "sweep: point %zu of %zu, %" PRIu64 " clients\n", i + 1, count,
                    list[i]);
        }
        points[i].echo = run_echo(list[i], args->seconds, args->message_bytes);
        print_throughput(&points[i].echo);
        points[i].daemon = run_daemon_commands(argv0, list[i], args->seconds, args->seed);
        print_throughput(&points[i].daemon);
    }
    write_sweep_dat(dat_path, points, count, args->seconds, cpus, date);
    printf("sweep: clients | ledgerd req/s p50 ms p99 ms | echo req/s p50 ms p99 ms\n");
    for (size_t i = 0; i < count; i++) {
        const struct throughput_result *d = &points[i].daemon, *e = &points[i].echo;
        printf("sweep: %" PRIu64 " | %.0f %.2f %.2f | %.0f %.3f %.3f\n", d->clients,
               d->requests_per_s, d->latency.p50_us / 1000.0, d->latency.p99_us / 1000.0,
               e->requests_per_s, e->latency.p50_us / 1000.0, e->latency.p99_us / 1000.0);
    }
    free(points);
    printf("sweep: wrote %s\n", dat_path);
    fflush(stdout);
    if (!plot_sweep(dat_path, png_path, cpus, date, args->seconds)) {
        fprintf(stderr,
                "ledger-bench: could not draw %s: gnuplot is missing or failed (install "
                "gnuplot-nox, or see scripts/deps.sh); the points are in %s\n",
                png_path, dat_path);
        return 1;
    }
    printf("sweep: wrote %s\n", png_path);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    /* Clients that find the daemon gone must not kill us with SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_interrupt);
    signal(SIGTERM, on_interrupt);
    const char *command = argv[1];
    struct bench_args args = {
        .batch = 1000,
        .record_bytes = 200,
        .seconds = 10,
        .clients = 16,
        .message_bytes = 200,
        .customers = 10000,
        .events = 1000000,
        .queries = 10000,
        .seed = 1,
    };
    if (strcmp(command, "help") == 0 || strcmp(command, "--help") == 0 ||
        strcmp(command, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (!command_known(command)) {
        usage_error("unknown command \"%s\"", command);
    }
    parse_args(argc - 1, argv + 1, &args);

    if (strcmp(command, "lmdb-append") == 0) {
        struct lmdb_result result = run_lmdb_append(args.batch, args.record_bytes, args.seconds);
        print_lmdb(&result);
    } else if (strcmp(command, "echo") == 0) {
        struct throughput_result result = run_echo(args.clients, args.seconds, args.message_bytes);
        print_throughput(&result);
    } else if (strcmp(command, "daemon-commands") == 0) {
        struct throughput_result result =
            run_daemon_commands(argv[0], args.clients, args.seconds, args.seed);
        print_throughput(&result);
    } else if (strcmp(command, "daemon-batches") == 0) {
        struct batch_result result =
            run_daemon_batches(argv[0], args.batch, args.seconds, args.seed);
        print_batches(&result);
    } else if (strcmp(command, "daemon-query") == 0) {
        struct query_result result = run_daemon_query(argv[0], args.customers, args.events,
                                                      args.queries, args.seed, args.as_of_business);
        print_query(&result);
    } else if (strcmp(command, "all") == 0) {
        run_all(argv[0], &args);
    } else if (strcmp(command, "rebuild") == 0) {
        struct rebuild_result result =
            run_rebuild(argv[0], args.events_given ? args.events : 200000, args.seed);
        print_rebuild(&result);
    } else { /* sweep: command_known() admits nothing else */
        int status = run_sweep(argv[0], &args);
        if (status != 0) {
            return status;
        }
    }
    if (bench_failures > 0) {
        fprintf(stderr,
                "ledger-bench: %" PRIu64 " requests failed (their first errors are above): "
                "the figures do not measure the daemon's normal path\n",
                bench_failures);
        return 1;
    }
    return 0;
}
