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
 *                    reservations queries for random customers;
 *   all              every one of the above, and the ratios the performance
 *                    claims are about.
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

#include <lmdb.h>
#include <nanomsg/nn.h>
#include <nanomsg/reqrep.h>

/* Bounds on what one run may ask for, so that a typing mistake cannot fill the
 * disk or the memory. */
#define BENCH_SECONDS_MAX       3600
#define BENCH_BATCH_MAX         1000000
#define BENCH_RECORD_BYTES_MAX  (1024 * 1024)
#define BENCH_CLIENTS_MAX       256
#define BENCH_MESSAGE_BYTES_MAX (1024 * 1024)
/* Latency samples kept per measurement (beyond it, later samples are dropped
 * from the percentiles but still counted in the throughput). 64 M samples of
 * 4 bytes is 256 MiB at most. */
#define BENCH_SAMPLES_MAX (UINT64_C(64) * 1024 * 1024)
/* LMDB's map for the raw baseline: address space only, the file grows as
 * written. 64 GiB leaves room for any run of BENCH_SECONDS_MAX on this class
 * of disk. */
#define BENCH_LMDB_MAP_BYTES (UINT64_C(64) * 1024 * 1024 * 1024)

/* ------------------------------------------------------------------------ */
/* Small utilities. */

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *format, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die(const char *format, ...)
{
    va_list args;
    va_start(args, format);
    fprintf(stderr, "ledger-bench: ");
    vfprintf(stderr, format, args);
    fprintf(stderr, "\n");
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

static int compare_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
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
        die("--%s wants a whole number from 1 to %" PRIu64 ", not \"%s\"", name, max, text);
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

/* Removes a directory of plain files (one level; what these runs create,
 * plus one level of subdirectories). */
static void remove_tree(const char *path)
{
    DIR *dir = opendir(path);
    if (dir != NULL) {
        struct dirent *entry;
        while ((entry = readdir(dir)) != NULL) {
            if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0) {
                continue;
            }
            char child[4096];
            int written = snprintf(child, sizeof child, "%s/%s", path, entry->d_name);
            if (written < 0 || (size_t)written >= sizeof child) {
                continue;
            }
            struct stat st;
            if (lstat(child, &st) == 0 && S_ISDIR(st.st_mode)) {
                remove_tree(child);
            } else {
                unlink(child);
            }
        }
        closedir(dir);
    }
    rmdir(path);
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
    lmdb_check(mdb_env_set_mapsize(env, (size_t)BENCH_LMDB_MAP_BYTES), "mdb_env_set_mapsize");
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
    int64_t start = now_ns();
    int64_t deadline = start + (int64_t)seconds * 1000000000;
    int64_t end = start;
    while (end < deadline) {
        int64_t t0 = now_ns();
        lmdb_check(mdb_txn_begin(env, NULL, 0, &txn), "mdb_txn_begin");
        for (uint64_t i = 0; i < batch; i++) {
            sequence++;
            uint8_t key_bytes[8];
            for (int b = 0; b < 8; b++) {
                key_bytes[b] = (uint8_t)(sequence >> (56 - 8 * b));
            }
            memcpy(record, key_bytes, record_bytes < 8 ? record_bytes : 8);
            MDB_val key = {sizeof key_bytes, key_bytes};
            MDB_val value = {record_bytes, record};
            lmdb_check(mdb_put(txn, dbi, &key, &value, MDB_APPEND), "mdb_put");
        }
        lmdb_check(mdb_txn_commit(txn), "mdb_txn_commit");
        end = now_ns();
        samples_add(&commit_samples, end - t0);
        commits++;
    }
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
    volatile int stop;
    uint64_t answered;
};

static void *echo_server_main(void *argument)
{
    struct echo_server *server = argument;
    while (!server->stop) {
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
    server.stop = 1;
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

static void print_throughput(const struct throughput_result *r)
{
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
/* The command line. */

static void usage(FILE *out)
{
    fprintf(out, "usage: ledger-bench [--dir DIR] COMMAND [OPTIONS]\n"
                 "\n"
                 "  lmdb-append --batch N --record-bytes B --seconds S\n"
                 "      raw durable LMDB appends (N records of B bytes per commit)\n"
                 "  echo --clients C --seconds S [--bytes B]\n"
                 "      nanomsg REQ/REP echo over ipc:// (C client threads)\n"
                 "\n"
                 "--dir DIR: where temporary data directories go (default $TMPDIR or /tmp);\n"
                 "use the disk the daemon's data directory would be on.\n"
                 "Each measurement prints one line of JSON and one line of text.\n");
}

struct bench_args {
    uint64_t batch, record_bytes, seconds, clients, message_bytes;
};

static void parse_args(int argc, char **argv, struct bench_args *args)
{
    static const struct option options[] = {
        {"batch", required_argument, NULL, 'b'},
        {"record-bytes", required_argument, NULL, 'r'},
        {"seconds", required_argument, NULL, 's'},
        {"clients", required_argument, NULL, 'c'},
        {"bytes", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},
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
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            exit(2);
        }
    }
    if (optind != argc) {
        die("unexpected argument \"%s\"", argv[optind]);
    }
}

int main(int argc, char **argv)
{
    int first = 1;
    while (first + 1 < argc && strcmp(argv[first], "--dir") == 0) {
        bench_parent_dir = argv[first + 1];
        first += 2;
    }
    if (first >= argc) {
        usage(stderr);
        return 2;
    }
    const char *command = argv[first];
    struct bench_args args = {
        .batch = 1000, .record_bytes = 200, .seconds = 10, .clients = 16, .message_bytes = 200};
    parse_args(argc - first, argv + first, &args);

    if (strcmp(command, "lmdb-append") == 0) {
        struct lmdb_result result = run_lmdb_append(args.batch, args.record_bytes, args.seconds);
        print_lmdb(&result);
    } else if (strcmp(command, "echo") == 0) {
        struct throughput_result result = run_echo(args.clients, args.seconds, args.message_bytes);
        print_throughput(&result);
    } else if (strcmp(command, "help") == 0 || strcmp(command, "--help") == 0) {
        usage(stdout);
    } else {
        usage(stderr);
        return 2;
    }
    return 0;
}
