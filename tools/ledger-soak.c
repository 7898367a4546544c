/*
 * ledger-soak.c: the soak mode of the benchmark: a real ledgerd under steady
 * mixed load for a long time, watched for leaks, exhausted reader slots and
 * creeping latency.
 *
 * Owns: the load, the samples and the verdict:
 *   load     command threads, one durable command at a time: each first
 *            builds its own partner's world with every kind of command
 *            (tests/support/histgen.h, SOAK_WARMUP_EVENTS commands), then for
 *            the rest of the run flips its reservations' auto-renewal and its
 *            customers' cost visibility back and forth: commands that are
 *            decided, logged, projected and indexed like any other but leave
 *            the size of each customer's state as it was, so that the daemon
 *            has a steady state of memory to be judged against (the engine
 *            caches customer states, which grow with their histories by
 *            design); a query thread (heads, statistics, reservations and
 *            permission views), a fast
 *            subscriber following the log live (ledger_subscribe), a slow
 *            subscriber that pages the events query and sleeps between pages,
 *            and churning subscribers that connect, catch up on the recent
 *            events and disconnect, again and again;
 *   samples  every second the daemon's resident memory (/proc/PID/status:
 *            VmRSS, and RssAnon, its anonymous part) and its LMDB reader slots
 *            (the statistics query: ledger_readers_used of ledger_readers_max);
 *            per 10-second window the command latency seen by the clients
 *            (p50, p99);
 *   verdict  memory flat: the median RssAnon of the last quarter of the run is
 *            within 10% + 4 MiB of the median of the second quarter (the first
 *            quarter is warm-up). RssAnon and not VmRSS: VmRSS also counts the
 *            pages of the memory-mapped ledger file the daemon has touched,
 *            which grow with the ledger itself and are page cache, not a leak;
 *            both are printed; a sanitizer build prints it without judging
 *            it (AddressSanitizer's quarantine grows with the work done).
 *            Readers never exhausted: every sample below
 *            ledger_readers_max, and no request failed. Latency bounded: the
 *            p99 of the last full window is within 5x the p99 of the first
 *            (or within SOAK_LATENCY_FLOOR_US, so that a sub-millisecond first
 *            window on a RAM disk does not make noise a failure), judged in
 *            runs of at least SOAK_LATENCY_WINDOWS_MIN windows only. The daemon
 *            must also stop cleanly (exit status 0) on SIGTERM.
 *            Exit status 0 when every property holds, 1 when one does not, 2
 *            when the run could not be made.
 * Does not own: throughput numbers (ledger-bench) or correctness of answers
 * (the tests); a refusal of a generated command is counted, not judged.
 *
 * Runs: `ledger-soak --seconds 120` (the default) for a quick look, the ctest
 * `soak_short` for 20 s, and nights with `--seconds 28800` (8 hours; the
 * bound is SOAK_SECONDS_MAX). The daemon is --ledgerd PATH, else $LEDGERD,
 * else ../daemon/ledgerd beside this program, else ledgerd on the PATH; with
 * $LEDGERD_WRAPPER (e.g. "valgrind --leak-check=full") it runs behind that.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <dirent.h>
#include <unistd.h>

#include "histgen.h"
#include "ledger.h"
#include "tool_daemon.h"
#include "tool_util.h"

/* A night is 8 hours; a week-end run 64. Bounded so that a typo cannot run
 * for a month. */
#define SOAK_SECONDS_MAX    (7 * 24 * 3600)
#define SOAK_SECONDS_MIN    8
#define SOAK_CLIENTS_MAX    32
#define SOAK_WINDOW_SECONDS 10
/* Latency samples kept per window (later ones in the window are counted but
 * not kept): 1 M samples of 4 bytes. */
#define SOAK_WINDOW_SAMPLES_MAX (1024 * 1024)
/* Memory verdict: the last quarter's median may exceed the second quarter's
 * by 10% plus this much (allocator arenas settle in steps). */
#define SOAK_RSS_SLACK_KIB (4 * 1024)
/* Latency verdict: the last window's p99 may be 5x the first's, or this. */
#define SOAK_LATENCY_FACTOR   5.0
#define SOAK_LATENCY_FLOOR_US 20000.0
/* A run of fewer windows prints its latency without judging it: two or three
 * windows on a shared machine (the 20-second ctest beside other tests) show
 * the neighbours' noise, not a creep. */
#define SOAK_LATENCY_WINDOWS_MIN 6
/* The slow subscriber reads this many events a page and sleeps between. */
#define SOAK_SLOW_PAGE_EVENTS 50
#define SOAK_SLOW_SLEEP_MS    200
/* Churning subscribers: how many, and how far back each one catches up. */
#define SOAK_CHURNERS      2
#define SOAK_CHURN_HISTORY 200
/* Reply timeout of every client: no soak request should come near it. */
#define SOAK_TIMEOUT_MS 60000
/* Principals one command thread learns the secrets of (a generator of one
 * partner adds a handful). */
#define SOAK_KEYS_MAX 256
/* The warm-up: each command thread first builds its partner's world from a
 * generator (every kind of command), this many commands. */
#define SOAK_WARMUP_EVENTS UINT64_C(400)
/* What the steady phase remembers of the warm-up. */
#define SOAK_CUSTOMERS_MAX    64
#define SOAK_RESERVATIONS_MAX 1024
#define SOAK_STEP_MIN_US      INT64_C(1000000)
#define SOAK_STEP_MAX_US      INT64_C(10000000)
#define SOAK_AUDITOR_ID       "soak-auditor"

/* ------------------------------------------------------------------------ */
/* Utilities. */

static char soak_root[TOOL_PATH_SIZE];
static volatile pid_t soak_daemon_pid = 0;
static atomic_bool soak_stop = false;
static volatile sig_atomic_t soak_stop_flag = 0; /* for ledger_subscribe */
static bool soak_keep = false;

static void die(const char *format, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die(const char *format, ...)
{
    va_list args;
    va_start(args, format);
    fprintf(stderr, "ledger-soak: ");
    vfprintf(stderr, format, args);
    fprintf(stderr, "\n");
    va_end(args);
    if (soak_daemon_pid > 0) {
        kill(soak_daemon_pid, SIGKILL);
    }
    if (soak_root[0] != '\0') {
        fprintf(stderr, "ledger-soak: the daemon's directory and log are in %s\n", soak_root);
    }
    exit(2);
}

static void sleep_ms(long ms)
{
    struct timespec pause = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&pause, NULL);
}

static bool stopping(void)
{
    return atomic_load(&soak_stop);
}

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted values. */
static uint32_t percentile_sorted(const uint32_t *values, size_t count, double rank)
{
    if (count == 0) {
        return 0;
    }
    size_t index = (size_t)(rank * (double)count + 0.999999);
    index = index < 1 ? 1 : index > count ? count : index;
    return values[index - 1];
}

/* ------------------------------------------------------------------------ */
/* The daemon. */

static struct ledger_client *client_open(const struct tool_daemon *d, const char *principal_id,
                                         const uint8_t *secret, bool events)
{
    struct ledger_options options;
    tool_client_options(d, principal_id, secret, SOAK_TIMEOUT_MS, &options);
    options.events_url = events ? d->events_url : NULL;
    struct ledger_client *client = NULL;
    enum ledger_err err = ledger_connect(&options, &client);
    if (err != LEDGER_ERR_OK) {
        die("ledger_connect as %s: %s", principal_id, ledger_err_name(err));
    }
    return client;
}

/* VmRSS and RssAnon of the daemon in KiB (0 when unknown). */
static void daemon_memory(pid_t pid, uint64_t *rss_kib, uint64_t *anon_kib)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    *rss_kib = 0;
    *anon_kib = 0;
    FILE *file = fopen(path, "r");
    if (file == NULL) {
        return;
    }
    char line[256];
    while (fgets(line, sizeof line, file) != NULL) {
        unsigned long value = 0;
        if (sscanf(line, "VmRSS: %lu kB", &value) == 1) {
            *rss_kib = value;
        } else if (sscanf(line, "RssAnon: %lu kB", &value) == 1) {
            *anon_kib = value;
        }
    }
    fclose(file);
}

/* ------------------------------------------------------------------------ */
/* Shared counters and the latency windows. */

struct window {
    pthread_mutex_t lock;
    uint32_t *latencies_us; /* SOAK_WINDOW_SAMPLES_MAX */
    size_t count;
    uint64_t commands; /* including those not kept */
};

static struct window soak_window = {.lock = PTHREAD_MUTEX_INITIALIZER};
static atomic_uint_fast64_t commands_accepted;
static atomic_uint_fast64_t commands_refused;
static atomic_uint_fast64_t queries_answered;
static atomic_uint_fast64_t request_failures; /* timeouts, transport or server errors */
static atomic_uint_fast64_t fast_events, slow_events, churn_connects, churn_events;
static char first_failure[512];
static pthread_mutex_t failure_lock = PTHREAD_MUTEX_INITIALIZER;

static void failure_note(const char *format, ...) __attribute__((format(printf, 1, 2)));
static void failure_note(const char *format, ...)
{
    atomic_fetch_add(&request_failures, 1);
    pthread_mutex_lock(&failure_lock);
    if (first_failure[0] == '\0') {
        va_list args;
        va_start(args, format);
        vsnprintf(first_failure, sizeof first_failure, format, args);
        va_end(args);
    }
    pthread_mutex_unlock(&failure_lock);
}

static void window_add(int64_t latency_ns)
{
    uint64_t us = latency_ns <= 0 ? 0 : (uint64_t)latency_ns / 1000;
    pthread_mutex_lock(&soak_window.lock);
    if (soak_window.count < SOAK_WINDOW_SAMPLES_MAX) {
        soak_window.latencies_us[soak_window.count++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
    }
    soak_window.commands++;
    pthread_mutex_unlock(&soak_window.lock);
}

/* Takes the window's samples (sorted) and starts a new one. */
static size_t window_take(uint32_t *out, uint64_t *commands_out)
{
    pthread_mutex_lock(&soak_window.lock);
    size_t count = soak_window.count;
    memcpy(out, soak_window.latencies_us, count * sizeof *out);
    *commands_out = soak_window.commands;
    soak_window.count = 0;
    soak_window.commands = 0;
    pthread_mutex_unlock(&soak_window.lock);
    qsort(out, count, sizeof *out, compare_u32);
    return count;
}

/* Whether a reply code is the client's own failure (no answer) or a server
 * failure, as opposed to the domain refusing a generated command. */
static bool transport_or_server_failure(enum ledger_err err)
{
    return err >= LEDGER_ERR_TIMEOUT || err == LEDGER_ERR_STORAGE_FULL ||
           err == LEDGER_ERR_STORAGE_ERROR || err == LEDGER_ERR_CORRUPT ||
           err == LEDGER_ERR_NO_MEMORY || err == LEDGER_ERR_INTERNAL ||
           err == LEDGER_ERR_UNAVAILABLE || err == LEDGER_ERR_BAD_SIGNATURE ||
           err == LEDGER_ERR_UNKNOWN_PRINCIPAL || err == LEDGER_ERR_STALE_REQUEST;
}

/* ------------------------------------------------------------------------ */
/* Command threads. */

struct key {
    char id[HISTGEN_ID_SIZE];
    uint8_t secret[LEDGER_CLIENT_SECRET_BYTES];
    struct ledger_client *client;
};

struct commander {
    pthread_t thread;
    const struct tool_daemon *daemon;
    unsigned index, clients;
    uint64_t seed;
    struct key *keys; /* SOAK_KEYS_MAX */
    size_t key_count;
    struct ledger_client *operator_client;
    /* What the warm-up built, for the steady phase. */
    struct soak_customer {
        char admin_id[HISTGEN_ID_SIZE];
        char partner_id[HISTGEN_ID_SIZE];
        char customer_id[HISTGEN_ID_SIZE];
        bool retail_prices_visible;
    } customers[SOAK_CUSTOMERS_MAX];
    size_t customer_count;
    struct soak_reservation {
        size_t customer; /* index in customers */
        char reservation_id[HISTGEN_ID_SIZE];
        bool auto_renew;
    } * reservations; /* SOAK_RESERVATIONS_MAX */
    size_t reservation_count;
};

static void learn_secret(struct commander *c, const char *id, const char *hex)
{
    if (hex == NULL || strlen(hex) != 2 * LEDGER_CLIENT_SECRET_BYTES) {
        die("AddPrincipal %s answered without a secret", id);
    }
    if (c->key_count == SOAK_KEYS_MAX) {
        die("more than %d principals in one command thread", SOAK_KEYS_MAX);
    }
    struct key *key = &c->keys[c->key_count++];
    snprintf(key->id, sizeof key->id, "%s", id);
    if (!tool_secret_from_hex(hex, key->secret)) {
        die("AddPrincipal %s answered a secret that is not hex", id);
    }
    key->client = NULL;
}

static struct ledger_client *commander_client(struct commander *c, const char *principal_id)
{
    if (strcmp(principal_id, TOOL_OPERATOR_ID) == 0) {
        return c->operator_client;
    }
    for (size_t i = c->key_count; i > 0; i--) {
        struct key *key = &c->keys[i - 1];
        if (strcmp(key->id, principal_id) == 0) {
            if (key->client == NULL) {
                key->client = client_open(c->daemon, key->id, key->secret, false);
            }
            return key->client;
        }
    }
    die("no secret for principal %s", principal_id);
}

/* Remembers what an accepted warm-up command created. */
static void commander_remember(struct commander *c, const struct histgen_item *item,
                               const Ledger__V1__Command *command,
                               const Ledger__V1__CommandResult *result)
{
    if (item->kind == LEDGER__V1__COMMAND__BODY_ONBOARD_CUSTOMER &&
        c->customer_count < SOAK_CUSTOMERS_MAX) {
        struct soak_customer *customer = &c->customers[c->customer_count++];
        snprintf(customer->admin_id, sizeof customer->admin_id, "%s", item->principal.id);
        snprintf(customer->partner_id, sizeof customer->partner_id, "%s",
                 item->partner_id[0] ? item->partner_id : item->principal.partner_id);
        snprintf(customer->customer_id, sizeof customer->customer_id, "%s", item->customer_id);
        customer->retail_prices_visible = false;
        return;
    }
    if (item->kind != LEDGER__V1__COMMAND__BODY_PURCHASE_RESERVATION ||
        c->reservation_count == SOAK_RESERVATIONS_MAX || result->reservation_id == NULL) {
        return;
    }
    for (size_t i = 0; i < c->customer_count; i++) {
        if (strcmp(c->customers[i].customer_id, item->customer_id) == 0) {
            struct soak_reservation *reservation = &c->reservations[c->reservation_count++];
            reservation->customer = i;
            snprintf(reservation->reservation_id, sizeof reservation->reservation_id, "%s",
                     result->reservation_id);
            reservation->auto_renew = command->purchase_reservation->auto_renew;
            return;
        }
    }
}

/* Sends one command and accounts for it; the code. */
static enum ledger_err commander_send(struct commander *c, const char *principal_id,
                                      const Ledger__V1__Command *command,
                                      Ledger__V1__Reply **reply_out)
{
    struct ledger_client *client = commander_client(c, principal_id);
    Ledger__V1__Reply *reply = NULL;
    int64_t started_ns = now_ns();
    enum ledger_err err = ledger_execute(client, &command, 1, &reply);
    int64_t latency_ns = now_ns() - started_ns;
    if (err == LEDGER_ERR_OK) {
        window_add(latency_ns);
        atomic_fetch_add(&commands_accepted, 1);
        if (reply_out != NULL) {
            *reply_out = reply;
        } else {
            ledger_reply_free(reply);
        }
    } else if (transport_or_server_failure(err)) {
        failure_note("%s by %s: %s: %s", codec_command_type_name(command->body_case), principal_id,
                     ledger_err_name(err), ledger_error_message(client));
    } else {
        atomic_fetch_add(&commands_refused, 1);
    }
    return err;
}

/* The warm-up: the partner's world from a generator (every kind of command:
 * principals, customers, subscriptions, roles, permissions, purchases,
 * exchanges, cancellations, renewals). */
static void commander_warm_up(struct commander *c)
{
    char prefix[48];
    snprintf(prefix, sizeof prefix, "w%u-", c->index);
    struct histgen_options options = {
        .seed = c->seed + c->index,
        .partners = 1,
        .customers_per_partner = 4,
        .target_events = SOAK_WARMUP_EVENTS,
        .start_us = wall_us() - (int64_t)SOAK_WARMUP_EVENTS * SOAK_STEP_MAX_US,
        .step_min_us = SOAK_STEP_MIN_US,
        .step_max_us = SOAK_STEP_MAX_US,
        .operator_id = TOOL_OPERATOR_ID,
        .partner_first = 1 + c->index,
        .command_prefix = prefix,
        .admin_only = true,
    };
    struct histgen *gen = NULL;
    if (histgen_new(&options, &gen) != LEDGER_ERR_OK) {
        die("histgen_new failed");
    }
    struct histgen_item item;
    while (!stopping() && histgen_next(gen, &item)) {
        Ledger__V1__Command *command =
            ledger__v1__command__unpack(NULL, item.command_size, item.command);
        if (command == NULL) {
            die("a generated command does not decode");
        }
        Ledger__V1__Reply *reply = NULL;
        if (commander_send(c, item.principal.id, command, &reply) == LEDGER_ERR_OK) {
            if (command->body_case == LEDGER__V1__COMMAND__BODY_ADD_PRINCIPAL) {
                learn_secret(c, command->add_principal->principal_id,
                             reply->results[0]->secret_hex);
            }
            commander_remember(c, &item, command, reply->results[0]);
            histgen_accepted(gen, reply->results[0]->first_sequence);
            ledger_reply_free(reply);
        } else {
            histgen_refused(gen);
        }
        ledger__v1__command__free_unpacked(command, NULL);
    }
    histgen_free(gen);
}

/* The steady phase: commands that change a customer without growing its
 * state (a reservation's auto-renewal and the customer's cost visibility,
 * flipped back and forth), so that the daemon's memory has a steady state to
 * be judged against while the log keeps growing. */
static void commander_steady(struct commander *c)
{
    if (c->customer_count == 0) {
        die("command thread %u: the warm-up onboarded no customer", c->index);
    }
    for (uint64_t n = 0; !stopping(); n++) {
        char command_id[64];
        snprintf(command_id, sizeof command_id, "s%u-%" PRIu64, c->index, n);
        Ledger__V1__Command command = LEDGER__V1__COMMAND__INIT;
        command.command_id = command_id;
        Ledger__V1__SetReservationRenewal renewal = LEDGER__V1__SET_RESERVATION_RENEWAL__INIT;
        Ledger__V1__SetCostVisibility visibility = LEDGER__V1__SET_COST_VISIBILITY__INIT;
        struct soak_reservation *reservation = NULL;
        struct soak_customer *customer = NULL;
        if (n % 2 == 0 && c->reservation_count > 0) {
            reservation = &c->reservations[(n / 2) % c->reservation_count];
            customer = &c->customers[reservation->customer];
            renewal.reservation_id = reservation->reservation_id;
            renewal.auto_renew = !reservation->auto_renew;
            command.body_case = LEDGER__V1__COMMAND__BODY_SET_RESERVATION_RENEWAL;
            command.set_reservation_renewal = &renewal;
        } else {
            customer = &c->customers[(n / 2) % c->customer_count];
            visibility.retail_prices_visible = !customer->retail_prices_visible;
            command.body_case = LEDGER__V1__COMMAND__BODY_SET_COST_VISIBILITY;
            command.set_cost_visibility = &visibility;
        }
        command.partner_id = customer->partner_id;
        command.customer_id = customer->customer_id;
        enum ledger_err err = commander_send(c, customer->admin_id, &command, NULL);
        if (err == LEDGER_ERR_OK || err == LEDGER_ERR_UNCHANGED) {
            /* UNCHANGED: the warm-up left it the other way; now it is known. */
            if (reservation != NULL) {
                reservation->auto_renew = renewal.auto_renew;
            } else {
                customer->retail_prices_visible = visibility.retail_prices_visible;
            }
        } else if (reservation != NULL) {
            /* Cancelled, exchanged or expired in the warm-up: not used again. */
            *reservation = c->reservations[--c->reservation_count];
        }
    }
}

static void *commander_main(void *argument)
{
    struct commander *c = argument;
    c->operator_client = client_open(c->daemon, TOOL_OPERATOR_ID, NULL, false);
    commander_warm_up(c);
    commander_steady(c);
    for (size_t i = 0; i < c->key_count; i++) {
        ledger_close(c->keys[i].client);
    }
    ledger_close(c->operator_client);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Queries, subscribers. */

struct reader {
    pthread_t thread;
    const struct tool_daemon *daemon;
    const uint8_t *auditor_secret;
    unsigned index;
};

static void query_run(struct ledger_client *client, const Ledger__V1__Query *query,
                      const char *what)
{
    Ledger__V1__QueryResult *result = NULL;
    enum ledger_err err = ledger_query(client, query, &result);
    if (err == LEDGER_ERR_OK) {
        atomic_fetch_add(&queries_answered, 1);
        ledger_query_result_free(result);
    } else if (err != LEDGER_ERR_CUSTOMER_NOT_FOUND && err != LEDGER_ERR_PARTNER_NOT_FOUND) {
        failure_note("%s query: %s: %s", what, ledger_err_name(err), ledger_error_message(client));
    }
}

/* Heads and statistics as the operator; views of the first partners as the
 * auditor. */
static void *querier_main(void *argument)
{
    struct reader *r = argument;
    struct ledger_client *operator_client = client_open(r->daemon, TOOL_OPERATOR_ID, NULL, false);
    struct ledger_client *auditor =
        client_open(r->daemon, SOAK_AUDITOR_ID, r->auditor_secret, false);
    for (uint64_t round = 0; !stopping(); round++) {
        Ledger__V1__Query query = LEDGER__V1__QUERY__INIT;
        Ledger__V1__HeadQuery head = LEDGER__V1__HEAD_QUERY__INIT;
        query.kind_case = LEDGER__V1__QUERY__KIND_HEAD;
        query.head = &head;
        query_run(operator_client, &query, "head");
        char partner[HISTGEN_ID_SIZE], customer[HISTGEN_ID_SIZE];
        uint32_t partner_index = (uint32_t)(1 + round % 4);
        histgen_partner_id(partner_index, partner);
        histgen_customer_id(partner_index, (uint32_t)(1 + (round / 4) % 4), customer);
        Ledger__V1__ReservationsQuery reservations = LEDGER__V1__RESERVATIONS_QUERY__INIT;
        reservations.customer_id = customer;
        query.partner_id = partner;
        query.kind_case = LEDGER__V1__QUERY__KIND_RESERVATIONS;
        query.reservations = &reservations;
        query_run(auditor, &query, "reservations");
        Ledger__V1__PermissionsQuery permissions = LEDGER__V1__PERMISSIONS_QUERY__INIT;
        permissions.customer_id = customer;
        permissions.history = true;
        query.kind_case = LEDGER__V1__QUERY__KIND_PERMISSIONS;
        query.permissions = &permissions;
        query_run(auditor, &query, "permissions");
        sleep_ms(5);
    }
    ledger_close(auditor);
    ledger_close(operator_client);
    return NULL;
}

static int count_event(void *context, const Ledger__V1__EventEntry *entry)
{
    (void)entry;
    atomic_fetch_add((atomic_uint_fast64_t *)context, 1);
    return stopping() ? 1 : 0;
}

/* Follows the log live from the start. */
static void *fast_subscriber_main(void *argument)
{
    struct reader *r = argument;
    struct ledger_client *client = client_open(r->daemon, SOAK_AUDITOR_ID, r->auditor_secret, true);
    struct ledger_subscription subscription = {
        .follow = true,
        .poll_interval_ms = 1000,
        .stop = &soak_stop_flag,
    };
    enum ledger_err err = ledger_subscribe(client, &subscription, count_event, &fast_events);
    if (err != LEDGER_ERR_OK) {
        failure_note("fast subscriber: %s: %s", ledger_err_name(err), ledger_error_message(client));
    }
    ledger_close(client);
    return NULL;
}

/* Pages the events query by hand, sleeping between pages: a consumer that
 * always lags. */
static void *slow_subscriber_main(void *argument)
{
    struct reader *r = argument;
    struct ledger_client *client =
        client_open(r->daemon, SOAK_AUDITOR_ID, r->auditor_secret, false);
    uint64_t after = 0;
    while (!stopping()) {
        Ledger__V1__EventsQuery events = LEDGER__V1__EVENTS_QUERY__INIT;
        events.after_sequence = after;
        events.limit = SOAK_SLOW_PAGE_EVENTS;
        Ledger__V1__Query query = LEDGER__V1__QUERY__INIT;
        query.kind_case = LEDGER__V1__QUERY__KIND_EVENTS;
        query.events = &events;
        Ledger__V1__QueryResult *result = NULL;
        enum ledger_err err = ledger_query(client, &query, &result);
        if (err != LEDGER_ERR_OK) {
            failure_note("slow subscriber: %s: %s", ledger_err_name(err),
                         ledger_error_message(client));
            break;
        }
        for (size_t i = 0; i < result->n_events; i++) {
            const Ledger__V1__Event *event = result->events[i]->event;
            if (event == NULL || event->sequence <= after) {
                failure_note("slow subscriber: events out of order after %" PRIu64, after);
            } else {
                after = event->sequence;
            }
        }
        if (result->last_sequence > after) {
            after = result->last_sequence;
        }
        atomic_fetch_add(&slow_events, result->n_events);
        ledger_query_result_free(result);
        sleep_ms(SOAK_SLOW_SLEEP_MS);
    }
    ledger_close(client);
    return NULL;
}

/* Connects, catches up on the recent events, disconnects; again. */
static void *churner_main(void *argument)
{
    struct reader *r = argument;
    while (!stopping()) {
        struct ledger_client *client =
            client_open(r->daemon, SOAK_AUDITOR_ID, r->auditor_secret, true);
        atomic_fetch_add(&churn_connects, 1);
        uint64_t head = 0;
        enum ledger_err err = tool_head_query(client, &head);
        if (err == LEDGER_ERR_OK) {
            struct ledger_subscription subscription = {
                .after_sequence = head > SOAK_CHURN_HISTORY ? head - SOAK_CHURN_HISTORY : 0,
                .page_limit = 100 + 50 * r->index,
                .follow = false,
                .stop = &soak_stop_flag,
            };
            err = ledger_subscribe(client, &subscription, count_event, &churn_events);
        }
        if (err != LEDGER_ERR_OK) {
            failure_note("churning subscriber: %s: %s", ledger_err_name(err),
                         ledger_error_message(client));
        }
        ledger_close(client);
        sleep_ms(20);
    }
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Samples and the verdict. */

struct sample {
    uint64_t rss_kib, anon_kib;
    double readers_used, readers_max;
};

/* The statistics the daemon reports (readers); false when the query failed. */
static bool stats_read(struct ledger_client *client, double *used, double *max)
{
    Ledger__V1__StatsQuery stats = LEDGER__V1__STATS_QUERY__INIT;
    Ledger__V1__Query query = LEDGER__V1__QUERY__INIT;
    query.kind_case = LEDGER__V1__QUERY__KIND_STATS;
    query.stats = &stats;
    Ledger__V1__QueryResult *result = NULL;
    enum ledger_err err = ledger_query(client, &query, &result);
    if (err != LEDGER_ERR_OK) {
        failure_note("stats query: %s: %s", ledger_err_name(err), ledger_error_message(client));
        return false;
    }
    for (size_t i = 0; i < result->n_stats; i++) {
        if (strcmp(result->stats[i]->name, "ledger_readers_used") == 0) {
            *used = result->stats[i]->value;
        } else if (strcmp(result->stats[i]->name, "ledger_readers_max") == 0) {
            *max = result->stats[i]->value;
        }
    }
    ledger_query_result_free(result);
    return true;
}

/* Median of field `anon_kib` over samples [from, to). */
static uint64_t median_anon(const struct sample *samples, size_t from, size_t to)
{
    size_t count = to > from ? to - from : 0;
    if (count == 0) {
        return 0;
    }
    uint64_t *values = malloc(count * sizeof *values);
    if (values == NULL) {
        die("out of memory");
    }
    for (size_t i = 0; i < count; i++) {
        values[i] = samples[from + i].anon_kib;
    }
    qsort(values, count, sizeof *values, compare_u64);
    uint64_t median = values[count / 2];
    free(values);
    return median;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: ledger-soak [--seconds S] [--clients N] [--seed N] [--ledgerd PATH] [--keep]\n"
            "  Runs a real ledgerd under steady mixed load and checks that its memory stays\n"
            "  flat, its LMDB reader slots are never exhausted and its command latency stays\n"
            "  bounded. Exit status 0: every property held; 1: one did not; 2: no run.\n"
            "  --seconds S     how long (default 120, %d..%d; a night: 28800)\n"
            "  --clients N     command threads (default 4, at most %d)\n"
            "  --seed N        generator seed (default 1)\n"
            "  --ledgerd PATH  the daemon (default $LEDGERD, else ../daemon/ledgerd beside\n"
            "                  this program, else ledgerd on the PATH)\n"
            "  --keep          keep the data directory and the daemon's log\n",
            SOAK_SECONDS_MIN, SOAK_SECONDS_MAX, SOAK_CLIENTS_MAX);
}

static uint64_t parse_number(const char *name, const char *text, uint64_t min, uint64_t max)
{
    char *end = NULL;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value < min || value > max) {
        fprintf(stderr, "ledger-soak: %s must be a number from %" PRIu64 " to %" PRIu64 "\n", name,
                min, max);
        exit(2);
    }
    return value;
}

int main(int argc, char **argv)
{
    uint64_t seconds = 120, clients = 4, seed = 1;
    const char *ledgerd_option = NULL;
    static const struct option options[] = {
        {"seconds", required_argument, NULL, 's'},
        {"clients", required_argument, NULL, 'c'},
        {"seed", required_argument, NULL, 'r'},
        {"ledgerd", required_argument, NULL, 'l'},
        {"keep", no_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int option;
    while ((option = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (option) {
        case 's':
            seconds = parse_number("--seconds", optarg, SOAK_SECONDS_MIN, SOAK_SECONDS_MAX);
            break;
        case 'c':
            clients = parse_number("--clients", optarg, 1, SOAK_CLIENTS_MAX);
            break;
        case 'r':
            seed = parse_number("--seed", optarg, 0, UINT64_MAX);
            break;
        case 'l':
            ledgerd_option = optarg;
            break;
        case 'k':
            soak_keep = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    const char *parent = getenv("LEDGER_TEST_TMP");
    if (parent == NULL || parent[0] == '\0') {
        parent = getenv("TMPDIR");
    }
    if (parent == NULL || parent[0] == '\0') {
        parent = "/tmp";
    }
    snprintf(soak_root, sizeof soak_root, "%s/ledger-soak-XXXXXX", parent);
    if (mkdtemp(soak_root) == NULL) {
        die("mkdtemp %s: %s", soak_root, strerror(errno));
    }
    soak_window.latencies_us = malloc(SOAK_WINDOW_SAMPLES_MAX * sizeof(uint32_t));
    uint32_t *window_sorted = malloc(SOAK_WINDOW_SAMPLES_MAX * sizeof(uint32_t));
    struct sample *samples = calloc(seconds + 16, sizeof *samples);
    struct commander *commanders = calloc(clients, sizeof *commanders);
    if (soak_window.latencies_us == NULL || window_sorted == NULL || samples == NULL ||
        commanders == NULL) {
        die("out of memory");
    }

    const char *ledgerd = tool_ledgerd_path(argv[0], ledgerd_option);
    struct tool_daemon d;
    tool_daemon_paths(&d, soak_root);
    /* Under valgrind ($LEDGERD_WRAPPER) start-up takes a while: 60 s. */
    const char *failure = tool_daemon_start(&d, ledgerd, NULL, 60000);
    if (failure != NULL) {
        die("%s (see %s)", failure, d.log_path);
    }
    soak_daemon_pid = d.pid;

    /* The readers' principal: an auditor of every partner. */
    struct ledger_client *operator_client = client_open(&d, TOOL_OPERATOR_ID, NULL, false);
    Ledger__V1__AddPrincipal add = LEDGER__V1__ADD_PRINCIPAL__INIT;
    add.principal_id = SOAK_AUDITOR_ID;
    add.role = LEDGER__V1__ROLE__ROLE_AUDITOR;
    Ledger__V1__Command command = LEDGER__V1__COMMAND__INIT;
    command.body_case = LEDGER__V1__COMMAND__BODY_ADD_PRINCIPAL;
    command.add_principal = &add;
    const Ledger__V1__Command *commands[] = {&command};
    Ledger__V1__Reply *reply = NULL;
    enum ledger_err err = ledger_execute(operator_client, commands, 1, &reply);
    if (err != LEDGER_ERR_OK) {
        die("adding the auditor: %s: %s", ledger_err_name(err),
            ledger_error_message(operator_client));
    }
    uint8_t auditor_secret[LEDGER_CLIENT_SECRET_BYTES];
    if (!tool_secret_from_hex(reply->results[0]->secret_hex, auditor_secret)) {
        die("AddPrincipal %s answered without a secret", SOAK_AUDITOR_ID);
    }
    ledger_reply_free(reply);

    printf("ledger-soak: %" PRIu64 " s, %" PRIu64 " command threads, daemon pid %d, %s\n", seconds,
           clients, (int)d.pid, soak_root);
    fflush(stdout);
    for (unsigned i = 0; i < clients; i++) {
        commanders[i] = (struct commander){
            .daemon = &d, .index = i, .clients = (unsigned)clients, .seed = seed};
        commanders[i].keys = calloc(SOAK_KEYS_MAX, sizeof *commanders[i].keys);
        commanders[i].reservations =
            calloc(SOAK_RESERVATIONS_MAX, sizeof *commanders[i].reservations);
        if (commanders[i].keys == NULL || commanders[i].reservations == NULL ||
            pthread_create(&commanders[i].thread, NULL, commander_main, &commanders[i]) != 0) {
            die("cannot start a command thread");
        }
    }
    struct reader readers[3 + SOAK_CHURNERS];
    void *(*reader_mains[3 + SOAK_CHURNERS])(void *) = {querier_main, fast_subscriber_main,
                                                        slow_subscriber_main};
    for (size_t i = 3; i < 3 + SOAK_CHURNERS; i++) {
        reader_mains[i] = churner_main;
    }
    for (unsigned i = 0; i < 3 + SOAK_CHURNERS; i++) {
        readers[i] = (struct reader){
            .daemon = &d, .auditor_secret = auditor_secret, .index = i >= 3 ? i - 3 : 0};
        if (pthread_create(&readers[i].thread, NULL, reader_mains[i], &readers[i]) != 0) {
            die("cannot start a reader thread");
        }
    }

    /* Sampling, once a second; a latency window every SOAK_WINDOW_SECONDS. */
    size_t sample_count = 0;
    double readers_used_max = 0, readers_max = 0;
    double first_p99_us = -1, last_p99_us = -1;
    unsigned windows = 0;
    int64_t started_ns = now_ns();
    for (uint64_t second = 1; second <= seconds; second++) {
        int64_t wake_ns = started_ns + (int64_t)second * 1000000000;
        int64_t pause_ns = wake_ns - now_ns();
        if (pause_ns > 0) {
            sleep_ms((long)(pause_ns / 1000000));
        }
        struct sample *s = &samples[sample_count++];
        daemon_memory(d.pid, &s->rss_kib, &s->anon_kib);
        if (stats_read(operator_client, &s->readers_used, &s->readers_max)) {
            if (s->readers_used > readers_used_max) {
                readers_used_max = s->readers_used;
            }
            readers_max = s->readers_max;
        }
        if (waitpid(d.pid, NULL, WNOHANG) == d.pid) {
            d.pid = 0;
            soak_daemon_pid = 0;
            die("the daemon died after %" PRIu64 " s (see %s)", second, d.log_path);
        }
        if (second % SOAK_WINDOW_SECONDS == 0) {
            uint64_t window_commands = 0;
            size_t kept = window_take(window_sorted, &window_commands);
            double p50 = percentile_sorted(window_sorted, kept, 0.50);
            double p99 = percentile_sorted(window_sorted, kept, 0.99);
            if (kept > 0) {
                if (first_p99_us < 0) {
                    first_p99_us = p99;
                }
                last_p99_us = p99;
                windows++;
            }
            printf("t=%5" PRIu64 "s commands=%-7" PRIu64 " p50=%8.0fus p99=%8.0fus "
                   "rss=%6" PRIu64 "KiB anon=%6" PRIu64 "KiB readers=%.0f/%.0f queries=%" PRIu64
                   " events fast=%" PRIu64 " slow=%" PRIu64 " churn=%" PRIu64 "/%" PRIu64
                   " connects\n",
                   second, window_commands, p50, p99, s->rss_kib, s->anon_kib, s->readers_used,
                   s->readers_max, (uint64_t)atomic_load(&queries_answered),
                   (uint64_t)atomic_load(&fast_events), (uint64_t)atomic_load(&slow_events),
                   (uint64_t)atomic_load(&churn_events), (uint64_t)atomic_load(&churn_connects));
            fflush(stdout);
        }
    }
    atomic_store(&soak_stop, true);
    __atomic_store_n(&soak_stop_flag, 1, __ATOMIC_RELAXED); /* read by ledger_subscribe */
    for (unsigned i = 0; i < clients; i++) {
        pthread_join(commanders[i].thread, NULL);
        free(commanders[i].keys);
        free(commanders[i].reservations);
    }
    for (unsigned i = 0; i < 3 + SOAK_CHURNERS; i++) {
        pthread_join(readers[i].thread, NULL);
    }
    ledger_close(operator_client);
    /* The exit status; -1 a signal ended it, -2 it did not stop in 120 s. */
    int exit_status = tool_daemon_stop(&d, 120000);
    soak_daemon_pid = 0;

    /* The verdict. */
    size_t quarter = sample_count / 4;
    uint64_t second_quarter = median_anon(samples, quarter, 2 * quarter);
    uint64_t last_quarter = median_anon(samples, sample_count - quarter, sample_count);
    double rss_limit = (double)second_quarter * 1.10 + SOAK_RSS_SLACK_KIB;
    bool rss_flat = quarter > 0 && (double)last_quarter <= rss_limit;
    /* In a sanitizer build (the daemon is built like this tool)
     * AddressSanitizer keeps freed memory in quarantine, so the daemon's
     * memory grows with the work done until the quarantine is full: not a
     * leak, and no measure of one. LeakSanitizer judges the daemon at its
     * exit instead, which must be clean (exit status 0). ThreadSanitizer's
     * shadow memory and access history grow with the work likewise. */
    bool rss_judged = true;
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    rss_judged = false;
#endif
    bool rss_ok = rss_flat || !rss_judged;
    bool readers_ok = readers_max > 0 && readers_used_max < readers_max;
    double latency_limit = first_p99_us * SOAK_LATENCY_FACTOR;
    if (latency_limit < SOAK_LATENCY_FLOOR_US) {
        latency_limit = SOAK_LATENCY_FLOOR_US;
    }
    bool latency_judged = windows >= SOAK_LATENCY_WINDOWS_MIN;
    bool latency_bounded = windows > 0 && last_p99_us <= latency_limit;
    bool latency_ok = latency_bounded || !latency_judged;
    uint64_t failures = atomic_load(&request_failures);
    bool progress = atomic_load(&commands_accepted) > 0 && atomic_load(&fast_events) > 0 &&
                    atomic_load(&slow_events) > 0 && atomic_load(&churn_connects) > 0;
    bool ok = rss_ok && readers_ok && latency_ok && failures == 0 && progress && exit_status == 0;
    uint64_t rss_first = sample_count ? samples[0].rss_kib : 0;
    uint64_t rss_last = sample_count ? samples[sample_count - 1].rss_kib : 0;
    printf("{\"soak\":{\"seconds\":%" PRIu64 ",\"samples\":%zu,\"windows\":%u,"
           "\"commands_accepted\":%" PRIu64 ",\"commands_refused\":%" PRIu64 ",\"queries\":%" PRIu64
           ",\"events_fast\":%" PRIu64 ",\"events_slow\":%" PRIu64 ",\"churn_connects\":%" PRIu64
           ",\"failures\":%" PRIu64 ",\"rss_kib_first\":%" PRIu64 ",\"rss_kib_last\":%" PRIu64
           ",\"anon_kib_q2_median\":%" PRIu64 ",\"anon_kib_q4_median\":%" PRIu64
           ",\"readers_used_max\":%.0f,\"readers_max\":%.0f,\"p99_us_first\":%.0f,"
           "\"p99_us_last\":%.0f,\"daemon_exit\":%d,\"ok\":%s}}\n",
           seconds, sample_count, windows, (uint64_t)atomic_load(&commands_accepted),
           (uint64_t)atomic_load(&commands_refused), (uint64_t)atomic_load(&queries_answered),
           (uint64_t)atomic_load(&fast_events), (uint64_t)atomic_load(&slow_events),
           (uint64_t)atomic_load(&churn_connects), failures, rss_first, rss_last, second_quarter,
           last_quarter, readers_used_max, readers_max, first_p99_us, last_p99_us, exit_status,
           ok ? "true" : "false");
    printf("memory flat:        %s (RssAnon median %" PRIu64 " KiB in the last quarter, limit "
           "%.0f KiB from %" PRIu64 " KiB in the second; VmRSS %" PRIu64 " -> %" PRIu64 " KiB)%s\n",
           rss_flat ? "yes" : "NO", last_quarter, rss_limit, second_quarter, rss_first, rss_last,
           rss_judged ? "" : " (not judged: sanitizer build; LeakSanitizer checks the exit)");
    printf("readers available:  %s (at most %.0f of %.0f slots used)\n", readers_ok ? "yes" : "NO",
           readers_used_max, readers_max);
    printf("latency bounded:    %s (p99 %.0f us in the last window, limit %.0f us from %.0f us "
           "in the first)",
           latency_bounded ? "yes" : "NO", last_p99_us, latency_limit, first_p99_us);
    if (!latency_judged) {
        printf(" (not judged: fewer than %d windows of %d s)", SOAK_LATENCY_WINDOWS_MIN,
               SOAK_WINDOW_SECONDS);
    }
    printf("\n");
    printf("requests failed:    %" PRIu64 "%s%s\n", failures, failures ? ": first " : "",
           first_failure);
    printf("load made progress: %s\n", progress ? "yes" : "NO");
    printf("daemon exit status: %d\n", exit_status);
    printf("ledger-soak: %s\n", ok ? "PASS" : "FAIL");
    if (soak_keep || !ok) {
        printf("ledger-soak: kept %s\n", soak_root);
    } else {
        remove_tree(soak_root);
    }
    free(samples);
    free(commanders);
    free(window_sorted);
    free(soak_window.latencies_us);
    return ok ? 0 : 1;
}
