/*
 * test_crash.c: the ledger under SIGKILL and with a full disk, through the
 * real daemon and the real client library.
 *
 * Goal: whatever moment the daemon dies at, (1) every command that got an OK
 * reply is in the log exactly once, at the sequence its reply named; (2) an
 * atomic batch is all there or all absent; (3) sequences are dense from 1;
 * (4) a command retried after a restart with the same id is never appended
 * twice; (5) the Merkle root, leaves, indexes and every view equal a fresh
 * replay (ledger-verify exits 0). And when the ledger's map reaches its
 * maximum mid-load: writes are refused with STORAGE_FULL and a message,
 * nothing acknowledged is lost, queries keep working, the verifier passes, and
 * after a restart with a larger maximum the refused commands go through.
 *
 * Method: ledgerd on a private data directory (spawned with posix_spawn, its
 * output in daemon.log beside it). CRASH_CLIENTS threads each drive their own
 * partner as its admin agent through libledger: a repeating cycle of single
 * commands (onboard a customer, buy it an Azure plan subscription, turn a
 * permission on) and atomic batches (CRASH_BATCH customers onboarded, all or
 * nothing). Command ids are derived from (client, item, index), so a command
 * can be rebuilt byte for byte; a client moves to its next item only when
 * the current one got an OK reply, and retries it (same ids, same bytes)
 * after a timeout, so at most one item per client is in doubt at any time.
 * Each round starts the daemon, lets the clients run for a random 5-300 ms,
 * kills the daemon with SIGKILL, parks the clients, runs ledger-verify on the
 * data directory, and (after the next start) pages through the whole log as
 * an auditor of all partners and checks properties (1)-(4) against what the
 * clients recorded. The number of rounds comes from LEDGER_CRASH_ROUNDS
 * (default CRASH_ROUNDS_DEFAULT, about a minute); the seed from
 * LEDGER_CRASH_SEED (default: the clock), printed so a failure can be
 * replayed. Long mode: LEDGER_CRASH_ROUNDS=5000 (with
 * LEDGER_CRASH_VERIFY_EVERY=10 to run the verifier after every tenth kill).
 *
 * The disk-full test runs the same clients with large batches against a
 * daemon started with --map-bytes-max at the smallest value the daemon
 * accepts (the initial map size, 64 MiB), so that the map cannot grow. The
 * growth test kills the daemon when the data file nears the initial map
 * size, around the commit that grows the map. docs/reliability.md records
 * what the last runs did.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
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

#include "ledger.h"
#include "test_util.h"

extern char **environ;

/* Writers: enough to make the daemon group commits of several requests. */
#define CRASH_CLIENTS 4
/* Commands in one atomic batch of the crash test. */
#define CRASH_BATCH 5
/* Commands in one atomic batch of the disk-full test: large batches fill the
 * map in seconds rather than minutes. */
#define CRASH_FULL_BATCH 400
/* The largest batch either test sends. */
#define CRASH_BATCH_MAX CRASH_FULL_BATCH
/* About a minute of rounds (one round takes about a second: start, load,
 * kill, the clients' timeout, the verifier). */
#define CRASH_ROUNDS_DEFAULT 40
/* The load runs this long (random, uniform) before the kill. */
#define CRASH_KILL_AFTER_MS_MIN 5
#define CRASH_KILL_AFTER_MS_MAX 300
/* Per attempt: a dead daemon costs each client this long per round. */
#define CRASH_CLIENT_TIMEOUT_MS 700
/* Bounds on waiting for the daemon and the clients. */
#define CRASH_START_WAIT_MS 20000
#define CRASH_PARK_WAIT_MS  60000
#define CRASH_FULL_WAIT_MS  600000
/* Events asked per page of the check (the daemon's maximum). */
#define CRASH_EVENTS_PAGE 10000
/* The disk-full test's maximum map: the smallest the daemon accepts. */
#define CRASH_FULL_MAP_MAX "64M"
/* Rounds of the growth test, and the data file sizes that mean "about to
 * grow" (just under the 64 MiB initial map) and "has grown" (past it). */
#define CRASH_GROWTH_ROUNDS     3
#define CRASH_GROWTH_NEAR_BYTES (UINT64_C(62) * 1024 * 1024)
#define CRASH_GROWTH_PAST_BYTES (UINT64_C(66) * 1024 * 1024)
/* ... and the maximum after "space returns". */
#define CRASH_GROWN_MAP_MAX "1G"

enum crash_phase {
    PHASE_PARK,  /* clients wait */
    PHASE_RUN,   /* clients retry their item in doubt, then send new ones */
    PHASE_DRAIN, /* clients finish their item in doubt, then wait */
    PHASE_QUIT,
};

struct crash_world;

struct crash_client {
    struct crash_world *world;
    unsigned index;
    char principal[32];
    char partner[32];
    char secret_hex[2 * LEDGER_CLIENT_SECRET_BYTES + 1];
    struct ledger_client *client;
    pthread_t thread;
    /* Written by the client thread, read by the main thread only while the
     * client is parked (the control mutex orders the two). */
    uint32_t items;       /* items begun; item items-1 is in doubt when pending */
    bool pending;         /* the last item has no OK reply yet */
    uint64_t *sequences;  /* [item * batch + j]: first_sequence of the OK reply, 0 = none */
    size_t sequence_size; /* entries allocated */
    bool stalled;         /* stopped sending in this phase (STORAGE_FULL or an error) */
    bool parked;          /* waiting for the next phase change (under the mutex) */
    unsigned parked_in;   /* the generation it parked in */
    enum ledger_err unexpected;
    char message[256];
    unsigned long sent, ok, duplicates, timeouts, full_refusals;
};

struct crash_world {
    char dir[256];
    char data[300];
    char request_url[360];
    char socket_path[340];
    char events_path[340];
    char operator_key[340];
    char log_path[340];
    const char *ledgerd;
    const char *verify;
    pid_t daemon;
    uint32_t batch;     /* commands of a batch item */
    size_t name_length; /* length of customer names */
    char name[256];
    struct crash_client clients[CRASH_CLIENTS];
    struct ledger_client *auditor;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    enum crash_phase phase;
    unsigned generation; /* bumped at every phase change */
    /* Totals for the summary. */
    unsigned rounds, kills, verifies;
    unsigned long acked_checked, batches_checked, events_checked;
    /* Commands "fill-0" .. "fill-<fill_acked - 1>" of client 0, all acknowledged. */
    unsigned long fill_acked;
};

/* The world of the running test, for the teardown after a failed assertion. */
static struct crash_world *current_world;

static void sleep_ms(long ms)
{
    struct timespec delay = {ms / 1000, (ms % 1000) * 1000000};
    while (nanosleep(&delay, &delay) != 0 && errno == EINTR) {
    }
}

static int64_t now_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static bool exists(const char *path)
{
    struct stat info;
    return stat(path, &info) == 0;
}

/* --- the daemon --------------------------------------------------------------------- */

/* Runs a program with stdout and stderr appended to the world's log. */
static pid_t spawn_logged(struct crash_world *world, char *const argv[])
{
    posix_spawn_file_actions_t actions;
    assert_int_equal(0, posix_spawn_file_actions_init(&actions));
    assert_int_equal(0, posix_spawn_file_actions_addopen(&actions, 1, world->log_path,
                                                         O_WRONLY | O_CREAT | O_APPEND, 0600));
    assert_int_equal(0, posix_spawn_file_actions_adddup2(&actions, 1, 2));
    pid_t pid = 0;
    int rc = posix_spawn(&pid, argv[0], &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    assert_int_equal(0, rc);
    return pid;
}

static void log_line(struct crash_world *world, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
static void log_line(struct crash_world *world, const char *format, ...)
{
    FILE *file = fopen(world->log_path, "a");
    if (file == NULL) {
        return;
    }
    va_list args;
    va_start(args, format);
    fprintf(file, "== test_crash: ");
    vfprintf(file, format, args);
    fprintf(file, "\n");
    va_end(args);
    fclose(file);
}

static void daemon_start(struct crash_world *world, const char *map_bytes_max)
{
    /* A killed daemon leaves its socket files: remove them so that their
     * reappearance says the new daemon is listening. */
    unlink(world->socket_path);
    unlink(world->events_path);
    char *argv[12];
    size_t n = 0;
    argv[n++] = (char *)(uintptr_t)world->ledgerd;
    argv[n++] = (char *)"--data";
    argv[n++] = world->data;
    argv[n++] = (char *)"--metrics-listen";
    argv[n++] = (char *)"off";
    if (map_bytes_max != NULL) {
        argv[n++] = (char *)"--map-bytes-max";
        argv[n++] = (char *)(uintptr_t)map_bytes_max;
    }
    argv[n] = NULL;
    log_line(world, "start ledgerd%s%s", map_bytes_max ? " --map-bytes-max " : "",
             map_bytes_max ? map_bytes_max : "");
    world->daemon = spawn_logged(world, argv);
    int64_t deadline = now_ms() + CRASH_START_WAIT_MS;
    while (!(exists(world->socket_path) && exists(world->operator_key)) && now_ms() < deadline) {
        int status = 0;
        if (waitpid(world->daemon, &status, WNOHANG) == world->daemon) {
            fprintf(stderr, "ledgerd exited at start (status %d); see %s\n", status,
                    world->log_path);
            world->daemon = 0;
            fail();
        }
        sleep_ms(5);
    }
    if (!exists(world->socket_path)) {
        fprintf(stderr, "ledgerd did not start; see %s\n", world->log_path);
        fail();
    }
}

static void daemon_kill(struct crash_world *world, int signal_number)
{
    assert_true(world->daemon > 0);
    assert_int_equal(0, kill(world->daemon, signal_number));
    int status = 0;
    assert_int_equal(world->daemon, waitpid(world->daemon, &status, 0));
    if (signal_number == SIGKILL) {
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        world->kills++;
    } else {
        /* A clean stop exits 0, even with a full map. */
        if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
            fprintf(stderr, "ledgerd stopped with status %d; see %s\n", status, world->log_path);
            fail();
        }
    }
    log_line(world, "daemon stopped by signal %d", signal_number);
    world->daemon = 0;
}

/* ledger-verify on the stopped daemon's directory: dense, leaves, root, views. */
static void verify_offline(struct crash_world *world)
{
    assert_int_equal(0, world->daemon);
    char *argv[] = {(char *)(uintptr_t)world->verify, (char *)"--quiet", world->data, NULL};
    log_line(world, "ledger-verify %s", world->data);
    pid_t pid = spawn_logged(world, argv);
    int status = 0;
    assert_int_equal(pid, waitpid(pid, &status, 0));
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        fprintf(stderr, "ledger-verify failed (status %d) after round %u; see %s\n", status,
                world->rounds, world->log_path);
        fail();
    }
    world->verifies++;
}

/* --- commands ----------------------------------------------------------------------- */

static struct ledger_client *connect_as(struct crash_world *world, const char *principal,
                                        const char *key_file, const char *secret_hex,
                                        uint32_t timeout_ms)
{
    uint8_t secret[LEDGER_CLIENT_SECRET_BYTES];
    struct ledger_options options = {
        .request_url = world->request_url,
        .principal_id = principal,
        .timeout_ms = timeout_ms,
        .retries = 0,
    };
    if (key_file != NULL) {
        options.key_file = key_file;
    } else {
        assert_int_equal(2 * LEDGER_CLIENT_SECRET_BYTES, strlen(secret_hex));
        for (size_t i = 0; i < LEDGER_CLIENT_SECRET_BYTES; i++) {
            unsigned byte = 0;
            assert_int_equal(1, sscanf(secret_hex + 2 * i, "%2x", &byte));
            secret[i] = (uint8_t)byte;
        }
        options.secret = secret;
    }
    struct ledger_client *client = NULL;
    assert_int_equal(LEDGER_ERR_OK, ledger_connect(&options, &client));
    return client;
}

/* Sends one command of the setup, retrying timeouts (the daemon may still be
 * starting); returns the reply. */
static Ledger__V1__Reply *setup_execute(struct ledger_client *client, Ledger__V1__Command *command)
{
    const Ledger__V1__Command *commands[1] = {command};
    for (int attempt = 0; attempt < 20; attempt++) {
        Ledger__V1__Reply *reply = NULL;
        enum ledger_err err = ledger_execute(client, commands, 1, &reply);
        if (err == LEDGER_ERR_OK) {
            return reply;
        }
        if (err != LEDGER_ERR_TIMEOUT && err != LEDGER_ERR_UNREACHABLE) {
            fprintf(stderr, "setup command %s: %s: %s\n", command->command_id, ledger_err_name(err),
                    ledger_error_message(client));
            fail();
        }
        sleep_ms(50);
    }
    fail_msg("setup command %s got no reply", command->command_id);
    return NULL;
}

/* As the operator: an auditor of all partners, and per client a partner and
 * its admin agent. */
static void world_setup_principals(struct crash_world *world)
{
    struct ledger_client *operator_client =
        connect_as(world, "operator", world->operator_key, NULL, 5000);
    Ledger__V1__AddPrincipal add = LEDGER__V1__ADD_PRINCIPAL__INIT;
    add.principal_id = (char *)"crash-auditor";
    add.role = LEDGER__V1__ROLE__ROLE_AUDITOR;
    Ledger__V1__Command command = LEDGER__V1__COMMAND__INIT;
    command.command_id = (char *)"setup-auditor";
    command.body_case = LEDGER__V1__COMMAND__BODY_ADD_PRINCIPAL;
    command.add_principal = &add;
    Ledger__V1__Reply *reply = setup_execute(operator_client, &command);
    world->auditor = connect_as(world, "crash-auditor", NULL, reply->results[0]->secret_hex, 30000);
    ledger_reply_free(reply);

    for (unsigned c = 0; c < CRASH_CLIENTS; c++) {
        struct crash_client *client = &world->clients[c];
        char id[64];
        Ledger__V1__AddPartner partner = LEDGER__V1__ADD_PARTNER__INIT;
        partner.partner_id = client->partner;
        partner.name = (char *)"Crash Partner";
        Ledger__V1__Command add_partner = LEDGER__V1__COMMAND__INIT;
        snprintf(id, sizeof id, "setup-partner-%u", c);
        add_partner.command_id = id;
        add_partner.partner_id = client->partner;
        add_partner.body_case = LEDGER__V1__COMMAND__BODY_ADD_PARTNER;
        add_partner.add_partner = &partner;
        ledger_reply_free(setup_execute(operator_client, &add_partner));

        Ledger__V1__AddPrincipal agent = LEDGER__V1__ADD_PRINCIPAL__INIT;
        agent.principal_id = client->principal;
        agent.role = LEDGER__V1__ROLE__ROLE_ADMIN_AGENT;
        agent.partner_id = client->partner;
        Ledger__V1__Command add_agent = LEDGER__V1__COMMAND__INIT;
        snprintf(id, sizeof id, "setup-agent-%u", c);
        add_agent.command_id = id;
        add_agent.partner_id = client->partner;
        add_agent.body_case = LEDGER__V1__COMMAND__BODY_ADD_PRINCIPAL;
        add_agent.add_principal = &agent;
        reply = setup_execute(operator_client, &add_agent);
        snprintf(client->secret_hex, sizeof client->secret_hex, "%s",
                 reply->results[0]->secret_hex);
        ledger_reply_free(reply);
        client->client =
            connect_as(world, client->principal, NULL, client->secret_hex, CRASH_CLIENT_TIMEOUT_MS);
    }
    ledger_close(operator_client);
}

/* The commands of one item, rebuilt identically on every retry. Items cycle
 * through: onboard a customer; buy it a subscription; turn a permission on;
 * an atomic batch onboarding `batch` customers. */
struct item_commands {
    size_t count;
    char command_ids[CRASH_BATCH_MAX][48];
    char customer_ids[CRASH_BATCH_MAX][48];
    char subscription_id[48];
    Ledger__V1__OnboardCustomer onboard[CRASH_BATCH_MAX];
    Ledger__V1__PurchaseSubscription purchase;
    Ledger__V1__GrantPermission grant;
    Ledger__V1__Command commands[CRASH_BATCH_MAX];
    const Ledger__V1__Command *pointers[CRASH_BATCH_MAX];
};

static bool item_is_batch(uint32_t item)
{
    return item % 4 == 3;
}

static size_t item_size(const struct crash_world *world, uint32_t item)
{
    return item_is_batch(item) ? world->batch : 1;
}

static void command_id_of(unsigned client, uint32_t item, size_t j, bool batch, char out[48])
{
    if (batch) {
        snprintf(out, 48, "k%u-%" PRIu32 "-%zu", client, item, j);
    } else {
        snprintf(out, 48, "k%u-%" PRIu32, client, item);
    }
}

static void item_build(const struct crash_client *client, uint32_t item, struct item_commands *out)
{
    const struct crash_world *world = client->world;
    bool batch = item_is_batch(item);
    out->count = item_size(world, item);
    /* The single-command customer of this cycle: items 4n, 4n+1, 4n+2 act on it. */
    uint32_t cycle = item / 4;
    for (size_t j = 0; j < out->count; j++) {
        command_id_of(client->index, item, j, batch, out->command_ids[j]);
        Ledger__V1__Command init = LEDGER__V1__COMMAND__INIT;
        Ledger__V1__Command *command = &out->commands[j];
        *command = init;
        command->command_id = out->command_ids[j];
        command->partner_id = (char *)(uintptr_t)client->partner;
        if (batch) {
            snprintf(out->customer_ids[j], 48, "cb%" PRIu32 "-%zu", cycle, j);
        } else {
            snprintf(out->customer_ids[j], 48, "cs%" PRIu32, cycle);
        }
        command->customer_id = out->customer_ids[j];
        out->pointers[j] = command;
        switch (batch ? 3 : item % 4) {
        case 0:
        case 3: {
            Ledger__V1__OnboardCustomer onboard = LEDGER__V1__ONBOARD_CUSTOMER__INIT;
            out->onboard[j] = onboard;
            out->onboard[j].name = (char *)(uintptr_t)world->name;
            command->body_case = LEDGER__V1__COMMAND__BODY_ONBOARD_CUSTOMER;
            command->onboard_customer = &out->onboard[j];
            break;
        }
        case 1: {
            Ledger__V1__PurchaseSubscription purchase = LEDGER__V1__PURCHASE_SUBSCRIPTION__INIT;
            out->purchase = purchase;
            snprintf(out->subscription_id, sizeof out->subscription_id, "sub%" PRIu32, cycle);
            out->purchase.subscription_id = out->subscription_id;
            out->purchase.offer = LEDGER__V1__OFFER__OFFER_AZURE_PLAN;
            command->body_case = LEDGER__V1__COMMAND__BODY_PURCHASE_SUBSCRIPTION;
            command->purchase_subscription = &out->purchase;
            break;
        }
        default: {
            Ledger__V1__GrantPermission grant = LEDGER__V1__GRANT_PERMISSION__INIT;
            out->grant = grant;
            out->grant.kind = LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_RESERVATIONS;
            command->body_case = LEDGER__V1__COMMAND__BODY_GRANT_PERMISSION;
            command->grant_permission = &out->grant;
            break;
        }
        }
    }
}

/* Room for the sequences of items up to `item`. */
static void client_reserve(struct crash_client *client, uint32_t item)
{
    size_t needed = ((size_t)item + 1) * client->world->batch;
    if (needed <= client->sequence_size) {
        return;
    }
    size_t size = client->sequence_size ? client->sequence_size : 4096;
    while (size < needed) {
        size *= 2;
    }
    uint64_t *bigger = realloc(client->sequences, size * sizeof *bigger);
    if (bigger == NULL) {
        abort();
    }
    memset(bigger + client->sequence_size, 0, (size - client->sequence_size) * sizeof *bigger);
    client->sequences = bigger;
    client->sequence_size = size;
}

/* One attempt at the client's current item (the one in doubt, or a new one). */
static void client_step(struct crash_client *client)
{
    if (!client->pending) {
        client_reserve(client, client->items);
        client->items++;
        client->pending = true;
    }
    uint32_t item = client->items - 1;
    struct item_commands *commands = malloc(sizeof *commands);
    if (commands == NULL) {
        abort();
    }
    item_build(client, item, commands);
    Ledger__V1__Reply *reply = NULL;
    client->sent++;
    enum ledger_err err =
        ledger_execute(client->client, commands->pointers, commands->count, &reply);
    if (err == LEDGER_ERR_OK) {
        uint64_t *sequences = &client->sequences[(size_t)item * client->world->batch];
        bool bad = reply->n_results != commands->count;
        for (size_t j = 0; !bad && j < commands->count; j++) {
            sequences[j] = reply->results[j]->first_sequence;
            bad = sequences[j] == 0 || reply->results[j]->duplicate != reply->results[0]->duplicate;
        }
        if (bad) {
            client->unexpected = LEDGER_ERR_PROTOCOL_ERROR;
            snprintf(client->message, sizeof client->message, "item %" PRIu32 ": odd results",
                     item);
            client->stalled = true;
        }
        client->duplicates += reply->results[0]->duplicate ? 1U : 0U;
        client->ok++;
        client->pending = false;
        ledger_reply_free(reply);
    } else if (err == LEDGER_ERR_TIMEOUT || err == LEDGER_ERR_UNREACHABLE) {
        client->timeouts++;
        if (err == LEDGER_ERR_UNREACHABLE) {
            sleep_ms(5); /* no socket yet: do not spin */
        }
    } else if (err == LEDGER_ERR_STORAGE_FULL) {
        client->full_refusals++;
        if (ledger_error_message(client->client)[0] == '\0') {
            client->unexpected = LEDGER_ERR_STORAGE_FULL;
            snprintf(client->message, sizeof client->message, "STORAGE_FULL without a message");
        }
        client->stalled = true;
    } else {
        client->unexpected = err;
        snprintf(client->message, sizeof client->message, "item %" PRIu32 " (%s): %s: %s", item,
                 commands->command_ids[0], ledger_err_name(err),
                 ledger_error_message(client->client));
        client->stalled = true;
    }
    free(commands);
}

static void *client_main(void *argument)
{
    struct crash_client *client = argument;
    struct crash_world *world = client->world;
    pthread_mutex_lock(&world->lock);
    for (;;) {
        enum crash_phase phase = world->phase;
        if (phase == PHASE_QUIT) {
            break;
        }
        bool idle =
            phase == PHASE_PARK || client->stalled || (phase == PHASE_DRAIN && !client->pending);
        if (idle) {
            client->parked_in = world->generation;
            client->parked = true;
            pthread_cond_broadcast(&world->changed);
            while (world->generation == client->parked_in) {
                pthread_cond_wait(&world->changed, &world->lock);
            }
            client->parked = false;
            client->stalled = false;
            continue;
        }
        pthread_mutex_unlock(&world->lock);
        client_step(client);
        pthread_mutex_lock(&world->lock);
    }
    pthread_mutex_unlock(&world->lock);
    return NULL;
}

static void world_set_phase(struct crash_world *world, enum crash_phase phase)
{
    pthread_mutex_lock(&world->lock);
    world->phase = phase;
    world->generation++;
    pthread_cond_broadcast(&world->changed);
    pthread_mutex_unlock(&world->lock);
}

static unsigned parked_count(const struct crash_world *world)
{
    unsigned parked = 0;
    for (unsigned c = 0; c < CRASH_CLIENTS; c++) {
        const struct crash_client *client = &world->clients[c];
        parked += client->parked && client->parked_in == world->generation ? 1U : 0U;
    }
    return parked;
}

/* Waits until every client is parked in the current phase: a client that
 * parked in an earlier phase and has not woken yet does not count. */
static void world_wait_parked(struct crash_world *world, long wait_ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += wait_ms / 1000;
    pthread_mutex_lock(&world->lock);
    int rc = 0;
    while (parked_count(world) < CRASH_CLIENTS && rc == 0) {
        rc = pthread_cond_timedwait(&world->changed, &world->lock, &deadline);
    }
    unsigned parked = parked_count(world);
    pthread_mutex_unlock(&world->lock);
    if (parked < CRASH_CLIENTS) {
        fail_msg("only %u of %d clients parked within %ld ms", parked, CRASH_CLIENTS, wait_ms);
    }
}

static void world_check_clients(struct crash_world *world, bool full_allowed)
{
    for (unsigned c = 0; c < CRASH_CLIENTS; c++) {
        struct crash_client *client = &world->clients[c];
        if (client->unexpected != LEDGER_ERR_OK) {
            fail_msg("client %u: %s", c, client->message);
        }
        if (!full_allowed && client->full_refusals != 0) {
            fail_msg("client %u was refused with STORAGE_FULL", c);
        }
    }
}

/* --- the check of the log ------------------------------------------------------------- */

/* Parses our command ids: k<client>-<item> or k<client>-<item>-<j>. */
static bool parse_command_id(const char *id, unsigned *client, uint32_t *item, size_t *j,
                             bool *batch)
{
    unsigned c = 0, i = 0, k = 0;
    int used = 0;
    if (sscanf(id, "k%u-%u-%u%n", &c, &i, &k, &used) == 3 && id[used] == '\0') {
        *batch = true;
    } else if (sscanf(id, "k%u-%u%n", &c, &i, &used) == 2 && id[used] == '\0') {
        *batch = false;
        k = 0;
    } else {
        return false;
    }
    *client = c;
    *item = i;
    *j = k;
    return true;
}

/* Pages through the whole log as the auditor (the daemon must be running and
 * the clients parked) and checks properties (1) to (4). */
static void world_check_log(struct crash_world *world)
{
    /* Per client, per (item, j): the sequence found and how often. */
    uint64_t *found[CRASH_CLIENTS];
    unsigned char *seen[CRASH_CLIENTS];
    for (unsigned c = 0; c < CRASH_CLIENTS; c++) {
        size_t size = (size_t)world->clients[c].items * world->batch + 1;
        found[c] = calloc(size, sizeof *found[c]);
        seen[c] = calloc(size, 1);
        assert_non_null(found[c]);
        assert_non_null(seen[c]);
    }
    unsigned char *fill_seen = calloc(world->fill_acked + 1, 1);
    assert_non_null(fill_seen);
    uint64_t after = 0;
    uint64_t head = 0;
    for (unsigned page = 0;; page++) {
        assert_true(page < 1000000);
        Ledger__V1__EventsQuery events = LEDGER__V1__EVENTS_QUERY__INIT;
        events.after_sequence = after;
        events.limit = CRASH_EVENTS_PAGE;
        Ledger__V1__Query query = LEDGER__V1__QUERY__INIT;
        query.kind_case = LEDGER__V1__QUERY__KIND_EVENTS;
        query.events = &events;
        Ledger__V1__QueryResult *result = NULL;
        enum ledger_err err = LEDGER_ERR_TIMEOUT;
        for (int attempt = 0; attempt < 5 && err == LEDGER_ERR_TIMEOUT; attempt++) {
            err = ledger_query(world->auditor, &query, &result);
        }
        if (err != LEDGER_ERR_OK) {
            fail_msg("events query after %" PRIu64 ": %s: %s", after, ledger_err_name(err),
                     ledger_error_message(world->auditor));
        }
        head = ledger_head_sequence(world->auditor);
        for (size_t e = 0; e < result->n_events; e++) {
            const Ledger__V1__Event *event = result->events[e]->event;
            assert_non_null(event);
            /* (3) dense: the n-th event of the log has sequence n. */
            if (event->sequence != after + 1) {
                fail_msg("sequence %" PRIu64 " follows %" PRIu64, event->sequence, after);
            }
            after = event->sequence;
            world->events_checked++;
            unsigned c = 0;
            uint32_t item = 0;
            size_t j = 0;
            bool batch = false;
            const char *principal = event->actor != NULL ? event->actor->principal_id : "";
            if (strncmp(principal, "crash-admin-", 12) != 0) {
                continue;
            }
            if (strncmp(event->command_id, "fill-", 5) == 0) {
                unsigned long fill = strtoul(event->command_id + 5, NULL, 10);
                assert_string_equal("crash-admin-0", principal);
                assert_true(fill < world->fill_acked && fill_seen[fill] == 0);
                fill_seen[fill] = 1;
                continue;
            }
            if (!parse_command_id(event->command_id, &c, &item, &j, &batch)) {
                fail_msg("event %" PRIu64 ": unexpected command id %s", after, event->command_id);
            }
            char expected_principal[32];
            snprintf(expected_principal, sizeof expected_principal, "crash-admin-%u", c);
            assert_true(c < CRASH_CLIENTS);
            assert_string_equal(expected_principal, principal);
            if (item >= world->clients[c].items || batch != item_is_batch(item) ||
                j >= item_size(world, item)) {
                fail_msg("event %" PRIu64 ": command %s was never sent", after, event->command_id);
            }
            size_t slot = (size_t)item * world->batch + j;
            /* (1), (4): never twice, whatever the retries. */
            if (seen[c][slot] != 0) {
                fail_msg("command %s of %s is in the log twice: %" PRIu64 " and %" PRIu64,
                         event->command_id, principal, found[c][slot], event->sequence);
            }
            seen[c][slot] = 1;
            found[c][slot] = event->sequence;
        }
        bool last_page = result->last_sequence >= head || result->n_events == 0;
        if (result->last_sequence > after) {
            fail_msg("last_sequence %" PRIu64 " skips past event %" PRIu64, result->last_sequence,
                     after);
        }
        ledger_query_result_free(result);
        if (last_page) {
            break;
        }
    }
    if (after != head) {
        fail_msg("the log ends at %" PRIu64 " but the head is %" PRIu64, after, head);
    }
    for (unsigned long fill = 0; fill < world->fill_acked; fill++) {
        if (fill_seen[fill] == 0) {
            fail_msg("acknowledged command fill-%lu is lost", fill);
        }
        world->acked_checked++;
    }
    free(fill_seen);
    for (unsigned c = 0; c < CRASH_CLIENTS; c++) {
        const struct crash_client *client = &world->clients[c];
        for (uint32_t item = 0; item < client->items; item++) {
            size_t size = item_size(world, item);
            size_t base = (size_t)item * world->batch;
            bool acked = client->sequences[base] != 0;
            bool in_doubt = client->pending && item + 1 == client->items;
            if (!acked && !in_doubt) {
                fail_msg("client %u item %" PRIu32 " neither acknowledged nor in doubt", c, item);
            }
            size_t present = 0;
            for (size_t j = 0; j < size; j++) {
                present += seen[c][base + j];
                if (acked) {
                    /* (1): acknowledged means there, at the sequence the reply named. */
                    char id[48];
                    command_id_of(c, item, j, item_is_batch(item), id);
                    if (!seen[c][base + j]) {
                        fail_msg("acknowledged command %s (sequence %" PRIu64 ") is lost", id,
                                 client->sequences[base + j]);
                    }
                    if (found[c][base + j] != client->sequences[base + j]) {
                        fail_msg("command %s: reply said %" PRIu64 ", log has %" PRIu64, id,
                                 client->sequences[base + j], found[c][base + j]);
                    }
                    world->acked_checked++;
                }
            }
            /* (2): all or nothing. */
            if (present != 0 && present != size) {
                fail_msg("client %u batch item %" PRIu32 ": %zu of %zu commands in the log", c,
                         item, present, size);
            }
            if (item_is_batch(item)) {
                world->batches_checked++;
            }
        }
        free(found[c]);
        free(seen[c]);
    }
}

/* --- fixture ---------------------------------------------------------------------------- */

static void world_open(struct crash_world *world, const char *label, uint32_t batch,
                       size_t name_length, const char *map_bytes_max)
{
    memset(world, 0, sizeof *world);
    current_world = world;
    test_make_dir(world->dir, sizeof world->dir, label);
    snprintf(world->data, sizeof world->data, "%s/data", world->dir);
    snprintf(world->socket_path, sizeof world->socket_path, "%s/ledger.sock", world->data);
    snprintf(world->events_path, sizeof world->events_path, "%s/events.sock", world->data);
    snprintf(world->request_url, sizeof world->request_url, "ipc://%s", world->socket_path);
    snprintf(world->operator_key, sizeof world->operator_key, "%s/operator.key", world->data);
    snprintf(world->log_path, sizeof world->log_path, "%s/daemon.log", world->dir);
    world->ledgerd = getenv("LEDGERD");
    world->verify = getenv("LEDGER_VERIFY");
    if (world->ledgerd == NULL || world->verify == NULL) {
        fail_msg("LEDGERD and LEDGER_VERIFY must name the binaries (ctest sets them)");
    }
    world->batch = batch;
    world->name_length = name_length;
    assert_true(name_length >= 1 && name_length < sizeof world->name);
    for (size_t i = 0; i < name_length; i++) {
        world->name[i] = (char)('a' + (char)(i % 26));
    }
    memcpy(world->name, "Crash Customer", name_length < 14 ? name_length : 14);
    pthread_mutex_init(&world->lock, NULL);
    pthread_cond_init(&world->changed, NULL);
    world->phase = PHASE_PARK;
    for (unsigned c = 0; c < CRASH_CLIENTS; c++) {
        struct crash_client *client = &world->clients[c];
        client->world = world;
        client->index = c;
        snprintf(client->principal, sizeof client->principal, "crash-admin-%u", c);
        snprintf(client->partner, sizeof client->partner, "crash-p%u", c);
    }
    daemon_start(world, map_bytes_max);
    world_setup_principals(world);
    for (unsigned c = 0; c < CRASH_CLIENTS; c++) {
        assert_int_equal(
            0, pthread_create(&world->clients[c].thread, NULL, client_main, &world->clients[c]));
    }
    world_wait_parked(world, CRASH_PARK_WAIT_MS);
}

static void world_close(struct crash_world *world, bool keep)
{
    world_set_phase(world, PHASE_QUIT);
    for (unsigned c = 0; c < CRASH_CLIENTS; c++) {
        pthread_join(world->clients[c].thread, NULL);
        ledger_close(world->clients[c].client);
        free(world->clients[c].sequences);
    }
    ledger_close(world->auditor);
    if (world->daemon > 0) {
        kill(world->daemon, SIGKILL);
        waitpid(world->daemon, NULL, 0);
    }
    pthread_cond_destroy(&world->changed);
    pthread_mutex_destroy(&world->lock);
    if (!keep) {
        test_remove_dir(world->dir);
    }
    current_world = NULL;
}

/* After a failed assertion: no daemon may outlive the test. The directory
 * stays for inspection (daemon.log holds the daemon's and the test's lines). */
static int crash_teardown(void **state)
{
    (void)state;
    struct crash_world *world = current_world;
    if (world != NULL && world->daemon > 0) {
        kill(world->daemon, SIGKILL);
        waitpid(world->daemon, NULL, 0);
        world->daemon = 0;
        fprintf(stderr, "test_crash: kept %s for inspection\n", world->dir);
    }
    current_world = NULL;
    return 0;
}

static unsigned long sum(const struct crash_world *world, size_t offset)
{
    unsigned long total = 0;
    for (unsigned c = 0; c < CRASH_CLIENTS; c++) {
        total += *(const unsigned long *)(const void *)((const char *)&world->clients[c] + offset);
    }
    return total;
}

static unsigned long acked_commands(const struct crash_world *world)
{
    unsigned long total = 0;
    for (unsigned c = 0; c < CRASH_CLIENTS; c++) {
        const struct crash_client *client = &world->clients[c];
        for (uint32_t item = 0; item < client->items; item++) {
            if (client->sequences[(size_t)item * world->batch] != 0) {
                total += item_size(world, item);
            }
        }
    }
    return total;
}

static unsigned crash_rounds(void)
{
    const char *text = getenv("LEDGER_CRASH_ROUNDS");
    if (text == NULL || text[0] == '\0') {
        return CRASH_ROUNDS_DEFAULT;
    }
    char *end = NULL;
    unsigned long rounds = strtoul(text, &end, 10);
    if (*end != '\0' || rounds == 0 || rounds > 1000000) {
        fail_msg("LEDGER_CRASH_ROUNDS must be 1..1000000, not \"%s\"", text);
    }
    return (unsigned)rounds;
}

/* LEDGER_CRASH_VERIFY_EVERY=n runs the verifier after every n-th kill only
 * (default 1): its replay grows with the log, so long runs thin it out. The
 * log check runs every round regardless, and the verifier at the end. */
static unsigned crash_verify_every(void)
{
    const char *text = getenv("LEDGER_CRASH_VERIFY_EVERY");
    if (text == NULL || text[0] == '\0') {
        return 1;
    }
    char *end = NULL;
    unsigned long every = strtoul(text, &end, 10);
    if (*end != '\0' || every == 0 || every > 1000000) {
        fail_msg("LEDGER_CRASH_VERIFY_EVERY must be 1..1000000, not \"%s\"", text);
    }
    return (unsigned)every;
}

static unsigned crash_seed(void)
{
    const char *text = getenv("LEDGER_CRASH_SEED");
    if (text != NULL && text[0] != '\0') {
        return (unsigned)strtoul(text, NULL, 10);
    }
    return (unsigned)time(NULL) ^ (unsigned)getpid();
}

/* --- tests -------------------------------------------------------------------------------- */

static void test_crash_kill_during_load(void **state)
{
    (void)state;
    unsigned rounds = crash_rounds();
    unsigned verify_every = crash_verify_every();
    unsigned seed = crash_seed();
    printf("test_crash: %u rounds, seed %u (LEDGER_CRASH_SEED=%u replays the delays)\n", rounds,
           seed, seed);
    srand(seed);
    static struct crash_world world;
    world_open(&world, "crash", CRASH_BATCH, 14, NULL);
    int64_t started_ms = now_ms();
    for (unsigned round = 0; round < rounds; round++) {
        world.rounds = round + 1;
        if (round > 0) {
            daemon_start(&world, NULL);
            /* (1)-(4) with the daemon back, before the clients retry. */
            world_check_log(&world);
        }
        world_set_phase(&world, PHASE_RUN);
        long delay_ms = CRASH_KILL_AFTER_MS_MIN +
                        rand() % (CRASH_KILL_AFTER_MS_MAX - CRASH_KILL_AFTER_MS_MIN + 1);
        sleep_ms(delay_ms);
        daemon_kill(&world, SIGKILL);
        world_set_phase(&world, PHASE_PARK);
        world_wait_parked(&world, CRASH_PARK_WAIT_MS);
        world_check_clients(&world, false);
        /* (5): root, leaves, density and views against a fresh replay. */
        if ((round + 1) % verify_every == 0) {
            verify_offline(&world);
        }
        if (rounds >= 100 && (round + 1) % 100 == 0) {
            printf("test_crash: round %u, %lu commands acknowledged, %.0f s\n", round + 1,
                   acked_commands(&world), (double)(now_ms() - started_ms) / 1000.0);
            fflush(stdout);
        }
    }
    /* The end: every command in doubt is retried to its answer. */
    daemon_start(&world, NULL);
    world_set_phase(&world, PHASE_DRAIN);
    world_wait_parked(&world, CRASH_PARK_WAIT_MS);
    world_check_clients(&world, false);
    for (unsigned c = 0; c < CRASH_CLIENTS; c++) {
        assert_false(world.clients[c].pending);
    }
    world_check_log(&world);
    daemon_kill(&world, SIGTERM);
    verify_offline(&world);
    unsigned long batches = 0;
    for (unsigned c = 0; c < CRASH_CLIENTS; c++) {
        batches += world.clients[c].items / 4;
    }
    printf("test_crash: %u rounds, %u kills, %lu requests sent, %lu replies OK (%lu of them "
           "duplicate answers to retries), %lu timeouts; %lu acknowledged commands in %lu "
           "batches of %d and %lu single commands; checks: %lu acknowledged commands, %lu batch "
           "checks, %lu events, %u verifier runs; %.1f s\n",
           world.rounds, world.kills, sum(&world, offsetof(struct crash_client, sent)),
           sum(&world, offsetof(struct crash_client, ok)),
           sum(&world, offsetof(struct crash_client, duplicates)),
           sum(&world, offsetof(struct crash_client, timeouts)), acked_commands(&world), batches,
           CRASH_BATCH, acked_commands(&world) - batches * CRASH_BATCH, world.acked_checked,
           world.batches_checked, world.events_checked, world.verifies,
           (double)(now_ms() - started_ms) / 1000.0);
    world_close(&world, false);
}

static void test_crash_disk_full(void **state)
{
    (void)state;
    static struct crash_world world;
    int64_t started_ms = now_ms();
    world_open(&world, "crash-full", CRASH_FULL_BATCH, 200, CRASH_FULL_MAP_MAX);
    world.rounds = 1;
    /* Load until every client is refused with STORAGE_FULL. */
    world_set_phase(&world, PHASE_RUN);
    world_wait_parked(&world, CRASH_FULL_WAIT_MS);
    world_check_clients(&world, true);
    unsigned long refusals = sum(&world, offsetof(struct crash_client, full_refusals));
    for (unsigned c = 0; c < CRASH_CLIENTS; c++) {
        assert_true(world.clients[c].full_refusals > 0);
        assert_true(world.clients[c].pending);
    }
    unsigned long acked_full = acked_commands(&world);
    /* Still full: a small write is refused too, with a message naming it. */
    struct crash_client *first = &world.clients[0];
    Ledger__V1__Command command = LEDGER__V1__COMMAND__INIT;
    Ledger__V1__OnboardCustomer onboard = LEDGER__V1__ONBOARD_CUSTOMER__INIT;
    onboard.name = (char *)"Fill Customer";
    command.partner_id = first->partner;
    command.body_case = LEDGER__V1__COMMAND__BODY_ONBOARD_CUSTOMER;
    command.onboard_customer = &onboard;
    const Ledger__V1__Command *commands[1] = {&command};
    Ledger__V1__Reply *reply = NULL;
    /* Small commands may still fit in the pages a large batch could not use:
     * fill them to the brim (they are checked like the others below). */
    enum ledger_err err = LEDGER_ERR_OK;
    int filled = 0;
    for (; filled < 100000 && err == LEDGER_ERR_OK; filled++) {
        char id[32];
        snprintf(id, sizeof id, "fill-%d", filled);
        command.command_id = id;
        command.customer_id = id;
        err = ledger_execute(first->client, commands, 1, &reply);
        if (err == LEDGER_ERR_OK) {
            ledger_reply_free(reply);
            reply = NULL;
        }
    }
    assert_int_equal(LEDGER_ERR_STORAGE_FULL, err);
    /* Said, like the batches' refusals: what is full and what to do. */
    const char *full_message = ledger_error_message(first->client);
    assert_true(full_message != NULL &&
                strstr(full_message, "reached its configured maximum size") != NULL);
    world.fill_acked = (unsigned long)filled - 1;
    printf("test_crash_disk_full: %d single commands filled the rest; then STORAGE_FULL: "
           "\"%s\"\n",
           filled - 1, ledger_error_message(first->client));
    /* Queries keep working, and nothing acknowledged is lost. */
    world_check_log(&world);
    Ledger__V1__HeadQuery head = LEDGER__V1__HEAD_QUERY__INIT;
    Ledger__V1__Query query = LEDGER__V1__QUERY__INIT;
    query.kind_case = LEDGER__V1__QUERY__KIND_HEAD;
    query.head = &head;
    Ledger__V1__QueryResult *result = NULL;
    assert_int_equal(LEDGER_ERR_OK, ledger_query(world.auditor, &query, &result));
    ledger_query_result_free(result);
    uint64_t full_head = ledger_head_sequence(world.auditor);
    /* A clean stop while full, and the verifier agrees with what is there. */
    daemon_kill(&world, SIGTERM);
    verify_offline(&world);
    /* Space returns: a larger maximum; the refused items now go through. */
    daemon_start(&world, CRASH_GROWN_MAP_MAX);
    world_set_phase(&world, PHASE_DRAIN);
    world_wait_parked(&world, CRASH_FULL_WAIT_MS);
    world_check_clients(&world, true);
    for (unsigned c = 0; c < CRASH_CLIENTS; c++) {
        assert_false(world.clients[c].pending);
    }
    world_set_phase(&world, PHASE_RUN);
    sleep_ms(300);
    world_set_phase(&world, PHASE_PARK);
    world_wait_parked(&world, CRASH_PARK_WAIT_MS);
    world_check_clients(&world, true);
    assert_int_equal(refusals, sum(&world, offsetof(struct crash_client, full_refusals)));
    world_check_log(&world);
    assert_true(ledger_head_sequence(world.auditor) > full_head);
    daemon_kill(&world, SIGTERM);
    verify_offline(&world);
    printf("test_crash_disk_full: map maximum %s: %lu commands acknowledged before full (head "
           "%" PRIu64 "), %lu STORAGE_FULL refusals, then %s: %lu commands acknowledged in all, "
           "%lu checked; %.1f s\n",
           CRASH_FULL_MAP_MAX, acked_full, full_head, refusals, CRASH_GROWN_MAP_MAX,
           acked_commands(&world), world.acked_checked, (double)(now_ms() - started_ms) / 1000.0);
    world_close(&world, false);
}

/* Bytes of a file, 0 when it cannot be read. */
static uint64_t file_bytes(const char *path)
{
    struct stat info;
    return stat(path, &info) == 0 ? (uint64_t)info.st_size : 0;
}

static void test_crash_kill_during_growth(void **state)
{
    (void)state;
    /* The map starts at its initial size (64 MiB) and doubles when full: the
     * commit that hits MDB_MAP_FULL is aborted, the map grown and the group
     * retried. Kill the daemon around that moment: when data.mdb nears the
     * initial map size, after a further random 0-100 ms. A fresh directory
     * per round, since each growth doubles the distance to the next. */
    unsigned seed = crash_seed();
    printf("test_crash_kill_during_growth: seed %u\n", seed);
    srand(seed);
    int64_t started_ms = now_ms();
    unsigned long acked = 0, checked = 0;
    unsigned grown = 0;
    for (unsigned round = 0; round < CRASH_GROWTH_ROUNDS; round++) {
        static struct crash_world world;
        world_open(&world, "crash-grow", CRASH_FULL_BATCH, 200, NULL);
        char data_file[400];
        snprintf(data_file, sizeof data_file, "%s/data.mdb", world.data);
        world.rounds = 1;
        world_set_phase(&world, PHASE_RUN);
        int64_t deadline = now_ms() + CRASH_FULL_WAIT_MS;
        while (file_bytes(data_file) < CRASH_GROWTH_NEAR_BYTES && now_ms() < deadline) {
            sleep_ms(2);
        }
        sleep_ms(rand() % 101);
        daemon_kill(&world, SIGKILL);
        uint64_t at_kill = file_bytes(data_file);
        world_set_phase(&world, PHASE_PARK);
        world_wait_parked(&world, CRASH_PARK_WAIT_MS);
        world_check_clients(&world, false);
        verify_offline(&world);
        daemon_start(&world, NULL);
        world_check_log(&world);
        /* Load on until the map has surely grown, then drain and check. */
        world_set_phase(&world, PHASE_RUN);
        deadline = now_ms() + CRASH_FULL_WAIT_MS;
        while (file_bytes(data_file) <= CRASH_GROWTH_PAST_BYTES && now_ms() < deadline) {
            sleep_ms(5);
        }
        world_set_phase(&world, PHASE_DRAIN);
        world_wait_parked(&world, CRASH_PARK_WAIT_MS);
        world_check_clients(&world, false);
        world_check_log(&world);
        daemon_kill(&world, SIGTERM);
        verify_offline(&world);
        uint64_t at_end = file_bytes(data_file);
        grown += at_end > CRASH_GROWTH_PAST_BYTES ? 1U : 0U;
        printf("test_crash_kill_during_growth: round %u: killed at data.mdb %.1f MiB; %lu "
               "commands acknowledged; data.mdb %.1f MiB at the end\n",
               round + 1, (double)at_kill / 1048576.0, acked_commands(&world),
               (double)at_end / 1048576.0);
        acked += acked_commands(&world);
        checked += world.acked_checked;
        world_close(&world, false);
    }
    assert_int_equal(CRASH_GROWTH_ROUNDS, grown);
    printf("test_crash_kill_during_growth: %d rounds, %d kills near the first growth, %lu "
           "commands acknowledged, %lu checks; %.1f s\n",
           CRASH_GROWTH_ROUNDS, CRASH_GROWTH_ROUNDS, acked, checked,
           (double)(now_ms() - started_ms) / 1000.0);
}

int main(void)
{
    /* A write to a socket of a killed daemon must not kill the test. */
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_crash_kill_during_load, crash_teardown),
        cmocka_unit_test_teardown(test_crash_disk_full, crash_teardown),
        cmocka_unit_test_teardown(test_crash_kill_during_growth, crash_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
