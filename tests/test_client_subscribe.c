/*
 * test_client_subscribe.c: libledger's event feed and retries against the
 * real daemon.
 * Goal: a subscriber that is stopped or killed again and again while
 * commands keep being committed, and restarted from where it left off, ends
 * with exactly the committed sequence 1..head: no gaps, no duplicates, in
 * order. Four ways of resuming are checked: the library's checkpoint file
 * with a clean stop (the stop flag set by SIGTERM), a consumer that keeps
 * its own position beside its output and is killed with SIGKILL, and the
 * checkpoint file under SIGKILL in both of its modes, where the documented
 * bounds hold: after-callback checkpoints may repeat only the one event whose
 * checkpoint had not reached the disk, before-callback checkpoints may lose
 * only the one event whose callback was cut short, each only at a restart. A consumer's
 * before_checkpoint hook runs before the checkpoint names its output, and a failing one leaves
 * the checkpoint where it was. One run follows the
 * doorbell, one polls without it; a caught-up follower that polls only once an hour is woken by
 * the next commit's doorbell. A request sent while the daemon is stopped (SIGSTOP) is resent
 * with the same bytes and committed exactly once. A subscription filtered by customer delivers the
 * principal events of the customer's users. Method: ledgerd on a private data directory; the
 * writer, every consumer and the retrying client are forked children (the parent never opens a
 * nanomsg socket, so forking is safe); consumers append "sequence\n" lines
 * to a file that the parent checks at the end.
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

#include "ledger.h"
#include "test_util.h"

#define WRITES_PER_RUN 120
#define LINES_MAX      100000

struct fixture {
    char dir[300];
    char data[400];
    char socket[500];
    char events[500];
    char operator_key[500];
    char auditor_key[500];
    pid_t daemon;
    unsigned run; /* names partners uniquely across runs */
};

static void sleep_ms(long ms)
{
    struct timespec delay = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&delay, NULL);
}

static void remove_tree(const char *dir)
{
    pid_t pid = fork();
    if (pid == 0) {
        execlp("rm", "rm", "-rf", dir, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
}

static bool exists(const char *path)
{
    struct stat info;
    return stat(path, &info) == 0;
}

static struct ledger_client *connect_as(const struct fixture *fixture, const char *principal,
                                        const char *key_file, bool doorbell)
{
    struct ledger_options options = {
        .request_url = fixture->socket,
        .events_url = doorbell ? fixture->events : NULL,
        .principal_id = principal,
        .key_file = key_file,
        .timeout_ms = 5000,
        .retries = 2,
    };
    struct ledger_client *client = NULL;
    if (ledger_connect(&options, &client) != LEDGER_ERR_OK) {
        _exit(90);
    }
    return client;
}

static Ledger__V1__Command partner_command(const char *id)
{
    static Ledger__V1__AddPartner body;
    Ledger__V1__AddPartner init = LEDGER__V1__ADD_PARTNER__INIT;
    body = init;
    body.partner_id = (char *)(uintptr_t)id;
    body.name = (char *)"Feed Partner";
    Ledger__V1__Command command = LEDGER__V1__COMMAND__INIT;
    command.partner_id = (char *)(uintptr_t)id;
    command.body_case = LEDGER__V1__COMMAND__BODY_ADD_PARTNER;
    command.add_partner = &body;
    return command;
}

/* In a child: commits one command, or exits with `code`. With key_path,
 * writes there the secret the answer carries (of an AddPrincipal). */
static void execute_one(struct ledger_client *client, const Ledger__V1__Command *command,
                        const char *key_path, int code)
{
    const Ledger__V1__Command *commands[1] = {command};
    Ledger__V1__Reply *reply = NULL;
    if (ledger_execute(client, commands, 1, &reply) != LEDGER_ERR_OK) {
        _exit(code);
    }
    if (key_path != NULL) {
        FILE *file = fopen(key_path, "w");
        if (file == NULL || fprintf(file, "%s\n", reply->results[0]->secret_hex) < 0 ||
            fclose(file) != 0) {
            _exit(code);
        }
    }
    ledger_reply_free(reply);
}

/* An AddPrincipal command; the strings are borrowed by the command. */
static Ledger__V1__Command principal_command(Ledger__V1__AddPrincipal *body, const char *id,
                                             Ledger__V1__Role role, const char *partner_id)
{
    Ledger__V1__AddPrincipal init = LEDGER__V1__ADD_PRINCIPAL__INIT;
    *body = init;
    body->principal_id = (char *)(uintptr_t)id;
    body->role = role;
    body->partner_id = (char *)(uintptr_t)partner_id;
    Ledger__V1__Command command = LEDGER__V1__COMMAND__INIT;
    command.partner_id = (char *)(uintptr_t)partner_id;
    command.body_case = LEDGER__V1__COMMAND__BODY_ADD_PRINCIPAL;
    command.add_principal = body;
    return command;
}

/* Runs fn(fixture) in a child, whose exit status it returns, and asserts
 * that it returned 0. */
static void in_child(const struct fixture *fixture, int (*fn)(const struct fixture *fixture))
{
    pid_t pid = fork();
    if (pid == 0) {
        _exit(fn(fixture));
    }
    int status = 0;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* Adds an auditor of all partners and writes its key file (in_child). */
static int add_auditor(const struct fixture *fixture)
{
    struct ledger_client *client = connect_as(fixture, "operator", fixture->operator_key, false);
    Ledger__V1__AddPrincipal body;
    Ledger__V1__Command command =
        principal_command(&body, "feed-auditor", LEDGER__V1__ROLE__ROLE_AUDITOR, "");
    execute_one(client, &command, fixture->auditor_key, 91);
    ledger_close(client);
    return 0;
}

static int fixture_setup(void **state)
{
    struct fixture *fixture = calloc(1, sizeof *fixture);
    const char *tmp = getenv("LEDGER_TEST_TMP");
    snprintf(fixture->dir, sizeof fixture->dir, "%s/client-sub-XXXXXX", tmp != NULL ? tmp : "/tmp");
    if (mkdtemp(fixture->dir) == NULL) {
        return -1;
    }
    snprintf(fixture->data, sizeof fixture->data, "%s/data", fixture->dir);
    snprintf(fixture->socket, sizeof fixture->socket, "ipc://%s/ledger.sock", fixture->data);
    snprintf(fixture->events, sizeof fixture->events, "ipc://%s/events.sock", fixture->data);
    snprintf(fixture->operator_key, sizeof fixture->operator_key, "%s/operator.key", fixture->data);
    snprintf(fixture->auditor_key, sizeof fixture->auditor_key, "%s/auditor.key", fixture->dir);
    const char *ledgerd = getenv("LEDGERD");
    if (ledgerd == NULL) {
        ledgerd = "../daemon/ledgerd";
    }
    fixture->daemon = fork();
    if (fixture->daemon == 0) {
        char log[400];
        snprintf(log, sizeof log, "%s/daemon.log", fixture->dir);
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, 1);
        dup2(fd, 2);
        execl(ledgerd, ledgerd, "--data", fixture->data, "--metrics-listen", "off", (char *)NULL);
        _exit(127);
    }
    char sock[500];
    snprintf(sock, sizeof sock, "%s/ledger.sock", fixture->data);
    /* A loaded machine, or the sanitizers, may take seconds to start it. */
    for (long waited = 0;
         waited < test_timeout_ms(30000) && !(exists(sock) && exists(fixture->operator_key));
         waited += 50) {
        sleep_ms(50);
    }
    if (!exists(sock)) {
        fprintf(stderr, "ledgerd did not start; see %s/daemon.log\n", fixture->dir);
        return -1;
    }
    sleep_ms(100);
    *state = fixture;
    in_child(fixture, add_auditor);
    return 0;
}

static int fixture_teardown(void **state)
{
    struct fixture *fixture = *state;
    if (fixture == NULL) {
        return 0;
    }
    kill(fixture->daemon, SIGCONT);
    kill(fixture->daemon, SIGTERM);
    int status = 0;
    waitpid(fixture->daemon, &status, 0);
    remove_tree(fixture->dir);
    free(fixture);
    return 0;
}

/* Child: commits `count` AddPartner commands, one per request, with short
 * random pauses, then exits. */
static pid_t start_writer(struct fixture *fixture, unsigned count)
{
    unsigned run = ++fixture->run;
    pid_t pid = fork();
    if (pid == 0) {
        struct ledger_client *client =
            connect_as(fixture, "operator", fixture->operator_key, false);
        srand((unsigned)getpid());
        for (unsigned i = 0; i < count; i++) {
            char id[64];
            snprintf(id, sizeof id, "feed-%u-%u", run, i);
            Ledger__V1__Command command = partner_command(id);
            const Ledger__V1__Command *commands[1] = {&command};
            Ledger__V1__Reply *reply = NULL;
            if (ledger_execute(client, commands, 1, &reply) != LEDGER_ERR_OK) {
                _exit(92);
            }
            ledger_reply_free(reply);
            sleep_ms(rand() % 12);
        }
        ledger_close(client);
        _exit(0);
    }
    return pid;
}

enum resume_mode {
    RESUME_CHECKPOINT_CLEAN, /* library checkpoint, stopped with SIGTERM (stop flag) */
    RESUME_OWN_POSITION,     /* position kept in the output file, SIGKILL */
    RESUME_CHECKPOINT_KILL,  /* library checkpoint, SIGKILL */
    RESUME_BEFORE_KILL,      /* library checkpoint before each callback, SIGKILL */
};

struct consumer {
    int fd;
};

static volatile sig_atomic_t consumer_stop;

static void consumer_signal(int signal_number)
{
    (void)signal_number;
    consumer_stop = 1;
}

static int consumer_event(void *context, const Ledger__V1__EventEntry *entry)
{
    struct consumer *consumer = context;
    char line[32];
    int length = snprintf(line, sizeof line, "%llu\n", (unsigned long long)entry->event->sequence);
    if (write(consumer->fd, line, (size_t)length) != length) {
        _exit(93);
    }
    return 0;
}

/* The last complete line of the output as a sequence; a torn last line (a
 * kill in the middle of write) is cut off. */
static uint64_t own_position(const char *path)
{
    FILE *file = fopen(path, "r+");
    if (file == NULL) {
        return 0;
    }
    uint64_t last = 0;
    long good_end = 0;
    char line[64];
    while (fgets(line, sizeof line, file) != NULL) {
        size_t length = strlen(line);
        if (length == 0 || line[length - 1] != '\n') {
            break;
        }
        if (line[0] >= '0' && line[0] <= '9') {
            last = strtoull(line, NULL, 10);
        }
        good_end = ftell(file);
    }
    fclose(file);
    if (truncate(path, good_end) != 0) {
        _exit(94);
    }
    return last;
}

/* Child: one consumer process. follow: wait for new events (until stopped
 * or killed); otherwise catch up and exit, writing the head to head_path. */
static pid_t start_consumer(const struct fixture *fixture, enum resume_mode mode,
                            const char *output, const char *checkpoint, bool doorbell, bool follow,
                            const char *head_path)
{
    /* SIGTERM stays blocked across the fork until the child's handler is in
     * place: on a loaded machine the child may not run before the parent's
     * kill, and the default action would end it uncleanly. */
    sigset_t term, previous;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    sigprocmask(SIG_BLOCK, &term, &previous);
    pid_t pid = fork();
    if (pid != 0) {
        sigprocmask(SIG_SETMASK, &previous, NULL);
    }
    if (pid == 0) {
        struct sigaction action;
        memset(&action, 0, sizeof action);
        action.sa_handler = consumer_signal;
        sigemptyset(&action.sa_mask);
        sigaction(SIGTERM, &action, NULL);
        sigprocmask(SIG_SETMASK, &previous, NULL);
        struct ledger_subscription subscription;
        memset(&subscription, 0, sizeof subscription);
        if (mode == RESUME_OWN_POSITION) {
            subscription.after_sequence = own_position(output);
        } else {
            subscription.checkpoint_path = checkpoint;
            subscription.checkpoint_mode = mode == RESUME_BEFORE_KILL
                                               ? LEDGER_CHECKPOINT_BEFORE_EVENT
                                               : LEDGER_CHECKPOINT_EACH_EVENT;
        }
        struct consumer consumer;
        consumer.fd = open(output, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (mode == RESUME_CHECKPOINT_KILL || mode == RESUME_BEFORE_KILL) {
            /* Mark the restart, so the check can tell where a redelivery
             * is allowed. */
            if (write(consumer.fd, "restart\n", 8) != 8) {
                _exit(95);
            }
        }
        struct ledger_client *client =
            connect_as(fixture, "feed-auditor", fixture->auditor_key, doorbell);
        subscription.page_limit = 7; /* many pages: page boundaries get exercised */
        subscription.poll_interval_ms = doorbell ? 5000 : 50;
        subscription.follow = follow;
        subscription.stop = &consumer_stop;
        enum ledger_err err = ledger_subscribe(client, &subscription, consumer_event, &consumer);
        if (err != LEDGER_ERR_OK) {
            fprintf(stderr, "subscribe: %s: %s\n", ledger_err_name(err),
                    ledger_error_message(client));
            _exit(96);
        }
        if (head_path != NULL) {
            FILE *file = fopen(head_path, "w");
            fprintf(file, "%llu\n", (unsigned long long)ledger_head_sequence(client));
            fclose(file);
        }
        ledger_close(client);
        _exit(0);
    }
    return pid;
}

static bool finished(pid_t pid, int *status)
{
    return waitpid(pid, status, WNOHANG) == pid;
}

/* Checks the output: the sequences 1..head, each once and in order; with
 * restart markers, a sequence may repeat only as the first line after a
 * marker, and only the one just before it; where events may be lost, each
 * marker since the last line may have lost one (a consumer killed twice
 * before it printed anything lost two), the newest events included.
 * Returns how many repeated. */
static unsigned check_output(const char *path, uint64_t head, bool markers, bool may_lose,
                             unsigned *lost_out)
{
    unsigned lost = 0;
    FILE *file = fopen(path, "r");
    assert_non_null(file);
    char line[64];
    uint64_t expected = 1;
    unsigned repeats = 0;
    unsigned restarts = 0; /* markers since the last sequence line */
    while (fgets(line, sizeof line, file) != NULL) {
        if (strcmp(line, "restart\n") == 0) {
            assert_true(markers);
            restarts++;
            continue;
        }
        uint64_t sequence = strtoull(line, NULL, 10);
        if (restarts > 0 && sequence + 1 == expected && !may_lose) {
            repeats++; /* the event whose checkpoint the kill cut off */
        } else if (restarts > 0 && may_lose && sequence > expected &&
                   sequence - expected <= restarts) {
            /* The events whose callbacks the kills cut short, one a kill. */
            lost += (unsigned)(sequence - expected);
            expected = sequence + 1;
        } else if (sequence != expected) {
            fail_msg("%s: expected sequence %llu, found %llu", path, (unsigned long long)expected,
                     (unsigned long long)sequence);
        } else {
            expected++;
        }
        restarts = 0;
    }
    fclose(file);
    /* A kill after the checkpoint of the newest event but before its line
     * loses it at the tail, where no later line shows the gap. The last
     * marker is the final consumer's, which is not killed. */
    if (may_lose && restarts > 1 && expected <= head && head + 1 - expected <= restarts - 1) {
        lost += (unsigned)(head + 1 - expected);
        expected = head + 1;
    }
    *lost_out = lost;
    if (expected != head + 1) {
        fail_msg("%s: ended at %llu, head is %llu", path, (unsigned long long)(expected - 1),
                 (unsigned long long)head);
    }
    return repeats;
}

static void run_feed(struct fixture *fixture, enum resume_mode mode, bool doorbell,
                     const char *name)
{
    char output[400], checkpoint[400], head_path[400];
    snprintf(output, sizeof output, "%s/%s.out", fixture->dir, name);
    snprintf(checkpoint, sizeof checkpoint, "%s/%s.checkpoint", fixture->dir, name);
    snprintf(head_path, sizeof head_path, "%s/%s.head", fixture->dir, name);
    pid_t writer = start_writer(fixture, WRITES_PER_RUN);
    int status = 0;
    unsigned restarts = 0;
    srand(12345u + (unsigned)mode);
    bool writer_done = false;
    while (!writer_done) {
        pid_t consumer = start_consumer(fixture, mode, output, checkpoint, doorbell, true, NULL);
        sleep_ms(20 + rand() % 180);
        kill(consumer, mode == RESUME_CHECKPOINT_CLEAN ? SIGTERM : SIGKILL);
        waitpid(consumer, &status, 0);
        if (mode == RESUME_CHECKPOINT_CLEAN) {
            assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        }
        restarts++;
        writer_done = finished(writer, &status);
    }
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* Everything is committed: one more consumer catches up and stops. */
    pid_t last = start_consumer(fixture, mode, output, checkpoint, doorbell, false, head_path);
    waitpid(last, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    FILE *file = fopen(head_path, "r");
    assert_non_null(file);
    unsigned long long head = 0;
    assert_int_equal(1, fscanf(file, "%llu", &head));
    fclose(file);
    assert_true(head >= WRITES_PER_RUN);
    assert_true(restarts >= 2);
    unsigned lost = 0;
    unsigned repeats =
        check_output(output, head, mode == RESUME_CHECKPOINT_KILL || mode == RESUME_BEFORE_KILL,
                     mode == RESUME_BEFORE_KILL, &lost);
    printf("%s: %u restarts, %u redelivered and %u lost after a kill, head %llu\n", name, restarts,
           repeats, lost, head);
    assert_true(repeats <= restarts);
    assert_true(lost <= restarts);
    if (mode != RESUME_CHECKPOINT_KILL) {
        assert_int_equal(0, repeats);
    }
    if (mode != RESUME_BEFORE_KILL) {
        assert_int_equal(0, lost);
    }
}

static void test_client_subscribe_checkpoint_clean_stops(void **state)
{
    run_feed(*state, RESUME_CHECKPOINT_CLEAN, true, "clean");
}

static void test_client_subscribe_own_position_killed(void **state)
{
    run_feed(*state, RESUME_OWN_POSITION, false, "own");
}

static void test_client_subscribe_checkpoint_killed(void **state)
{
    run_feed(*state, RESUME_CHECKPOINT_KILL, true, "killed");
}

static void test_client_subscribe_before_event_killed(void **state)
{
    run_feed(*state, RESUME_BEFORE_KILL, true, "before");
}

/* What a child subscriber checks: the exit status, 0 when all holds. */
typedef int (*checkpoint_check_fn)(struct ledger_client *client,
                                   struct ledger_subscription *subscription,
                                   const char *checkpoint);

/* Runs check in a child (the parent never opens a nanomsg socket) as the
 * auditor, with a subscription on the checkpoint file DIR/NAME.checkpoint
 * and nothing else set, and asserts that it returned 0. */
static void run_checkpoint_check(struct fixture *fixture, const char *name, bool doorbell,
                                 checkpoint_check_fn check)
{
    char checkpoint[400];
    snprintf(checkpoint, sizeof checkpoint, "%s/%s.checkpoint", fixture->dir, name);
    pid_t pid = fork();
    if (pid == 0) {
        struct ledger_client *client =
            connect_as(fixture, "feed-auditor", fixture->auditor_key, doorbell);
        struct ledger_subscription subscription;
        memset(&subscription, 0, sizeof subscription);
        subscription.checkpoint_path = checkpoint;
        int code = check(client, &subscription, checkpoint);
        ledger_close(client);
        _exit(code);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(0, WEXITSTATUS(status));
}

/* The callback stops the subscription: the checkpoint names that event. */
static int stop_at_three(void *context, const Ledger__V1__EventEntry *entry)
{
    (void)context;
    return entry->event->sequence == 3;
}

static int check_callback_stops(struct ledger_client *client,
                                struct ledger_subscription *subscription, const char *checkpoint)
{
    subscription->checkpoint_mode = LEDGER_CHECKPOINT_EACH_PAGE;
    subscription->follow = true;
    if (ledger_subscribe(client, subscription, stop_at_three, NULL) != LEDGER_ERR_OK) {
        return 97;
    }
    /* Checkpointed at the event that stopped it, in the middle of its page. */
    uint64_t stopped_at = 0;
    if (ledger_checkpoint_read(checkpoint, &stopped_at) != LEDGER_ERR_OK || stopped_at != 3 ||
        ledger_head_sequence(client) <= 3) {
        return 101;
    }
    /* Other filters than the checkpoint was advanced under are refused
     * before anything is delivered, the checkpoint left as it was. */
    const char *types[1] = {"reservation_expired"};
    subscription->types = types;
    subscription->type_count = 1;
    subscription->follow = false;
    if (ledger_subscribe(client, subscription, stop_at_three, NULL) != LEDGER_ERR_USAGE ||
        ledger_checkpoint_read(checkpoint, &stopped_at) != LEDGER_ERR_OK || stopped_at != 3) {
        return 102;
    }
    /* A checkpoint of the sequence alone records no filters: it resumes
     * under any. A filter that matches nothing still moves the checkpoint. */
    if (ledger_checkpoint_write(checkpoint, 3) != LEDGER_ERR_OK ||
        ledger_subscribe(client, subscription, stop_at_three, NULL) != LEDGER_ERR_OK) {
        return 98;
    }
    uint64_t position = 0;
    if (ledger_checkpoint_read(checkpoint, &position) != LEDGER_ERR_OK ||
        position != ledger_head_sequence(client)) {
        return 99;
    }
    /* A bad filter is refused by the daemon with its code. */
    const char *bad[1] = {"no_such_type"};
    subscription->types = bad;
    subscription->checkpoint_path = NULL;
    return ledger_subscribe(client, subscription, stop_at_three, NULL) == LEDGER_ERR_OK ? 100 : 0;
}

static void test_client_subscribe_callback_stops(void **state)
{
    run_checkpoint_check(*state, "stop", true, check_callback_stops);
}

/* A consumer's output is made durable (before_checkpoint) before the
 * checkpoint names it: when the hook runs, the checkpoint still names the
 * event before the ones it covers; once it fails, the checkpoint stays. */
struct durable_consumer {
    const char *checkpoint;
    uint64_t delivered;  /* the last event whose callback returned */
    uint64_t durable;    /* the last event before_checkpoint covered */
    unsigned syncs;      /* before_checkpoint calls */
    unsigned fail_after; /* 0: never fail; else fail the call after this many */
    bool out_of_order;   /* the checkpoint was ahead of what was durable */
};

static uint64_t checkpoint_now(const char *path)
{
    uint64_t position = 0;
    return ledger_checkpoint_read(path, &position) == LEDGER_ERR_OK ? position : 0;
}

static int durable_event(void *context, const Ledger__V1__EventEntry *entry)
{
    struct durable_consumer *consumer = context;
    if (checkpoint_now(consumer->checkpoint) > consumer->durable) {
        consumer->out_of_order = true;
    }
    consumer->delivered = entry->event->sequence;
    return 0;
}

static enum ledger_err durable_sync(void *context)
{
    struct durable_consumer *consumer = context;
    if (checkpoint_now(consumer->checkpoint) > consumer->durable) {
        consumer->out_of_order = true;
    }
    if (consumer->fail_after != 0 && consumer->syncs == consumer->fail_after) {
        return LEDGER_ERR_IO_ERROR;
    }
    consumer->syncs++;
    consumer->durable = consumer->delivered;
    return LEDGER_ERR_OK;
}

static int check_durable_before_checkpoint(struct ledger_client *client,
                                           struct ledger_subscription *subscription,
                                           const char *checkpoint)
{
    subscription->checkpoint_mode = LEDGER_CHECKPOINT_EACH_EVENT;
    subscription->page_limit = 7;
    subscription->before_checkpoint = durable_sync;
    /* Fails on the fourth event: three are durable and checkpointed. */
    struct durable_consumer consumer = {.checkpoint = checkpoint, .fail_after = 3};
    enum ledger_err err = ledger_subscribe(client, subscription, durable_event, &consumer);
    if (err != LEDGER_ERR_IO_ERROR || consumer.out_of_order || consumer.delivered != 4 ||
        checkpoint_now(checkpoint) != 3 ||
        strstr(ledger_error_message(client), "was not advanced") == NULL) {
        return 91;
    }
    /* Resumed, one sync a page: the fourth event again, then the rest. */
    subscription->checkpoint_mode = LEDGER_CHECKPOINT_EACH_PAGE;
    consumer.fail_after = 0;
    consumer.syncs = 0;
    if (ledger_subscribe(client, subscription, durable_event, &consumer) != LEDGER_ERR_OK ||
        consumer.out_of_order) {
        return 92;
    }
    uint64_t head = ledger_head_sequence(client);
    if (checkpoint_now(checkpoint) != head || consumer.durable != head ||
        consumer.syncs != (unsigned)((head - 3 + 6) / 7)) {
        return 93;
    }
    return 0;
}

static void test_client_subscribe_durable_before_checkpoint(void **state)
{
    run_checkpoint_check(*state, "durable", false, check_durable_before_checkpoint);
}

/* A request sent while the daemon is frozen times out, is resent with the
 * same bytes, and is committed once. */
static void test_client_retry_same_bytes(void **state)
{
    struct fixture *fixture = *state;
    char result_path[400];
    snprintf(result_path, sizeof result_path, "%s/retry.result", fixture->dir);
    kill(fixture->daemon, SIGSTOP);
    pid_t pid = fork();
    if (pid == 0) {
        struct ledger_options options = {
            .request_url = fixture->socket,
            .principal_id = "operator",
            .key_file = fixture->operator_key,
            /* Short attempts, so that several time out while the daemon
             * is frozen; many of them, so that a daemon slowed by the
             * machine's load after it thaws still answers one in time. */
            .timeout_ms = 250,
            .retries = 100,
        };
        struct ledger_client *client = NULL;
        if (ledger_connect(&options, &client) != LEDGER_ERR_OK) {
            _exit(90);
        }
        Ledger__V1__Command command = partner_command("retried-partner");
        command.command_id = (char *)"retry-command-1";
        const Ledger__V1__Command *commands[1] = {&command};
        Ledger__V1__Reply *reply = NULL;
        enum ledger_err err = ledger_execute(client, commands, 1, &reply);
        if (err != LEDGER_ERR_OK) {
            _exit(91);
        }
        uint64_t first = reply->results[0]->first_sequence;
        ledger_reply_free(reply);
        /* Once more by hand: the same id and bytes are a duplicate. */
        if (ledger_execute(client, commands, 1, &reply) != LEDGER_ERR_OK ||
            !reply->results[0]->duplicate || reply->results[0]->first_sequence != first) {
            _exit(92);
        }
        ledger_reply_free(reply);
        /* The same id with other content is refused. */
        Ledger__V1__Command other = partner_command("another-partner");
        other.command_id = (char *)"retry-command-1";
        const Ledger__V1__Command *others[1] = {&other};
        err = ledger_execute(client, others, 1, &reply);
        ledger_close(client);
        _exit(err == LEDGER_ERR_COMMAND_ID_REUSED ? 0 : 93);
    }
    sleep_ms(900); /* several attempts time out meanwhile */
    kill(fixture->daemon, SIGCONT);
    int status = 0;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(0, WEXITSTATUS(status));

    /* The partner was registered exactly once. */
    char output[400], head_path[400];
    snprintf(output, sizeof output, "%s/retry.out", fixture->dir);
    snprintf(head_path, sizeof head_path, "%s/retry.head", fixture->dir);
    pid = fork();
    if (pid == 0) {
        struct ledger_client *client =
            connect_as(fixture, "feed-auditor", fixture->auditor_key, false);
        struct ledger_subscription subscription;
        memset(&subscription, 0, sizeof subscription);
        const char *types[1] = {"partner_registered"};
        subscription.types = types;
        subscription.type_count = 1;
        struct consumer consumer;
        consumer.fd = open(output, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (ledger_subscribe(client, &subscription, consumer_event, &consumer) != LEDGER_ERR_OK) {
            _exit(94);
        }
        ledger_close(client);
        _exit(0);
    }
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* Every partner event is one of the writers' or the retried one:
     * WRITES_PER_RUN for each writer run, plus one. */
    FILE *file = fopen(output, "r");
    assert_non_null(file);
    unsigned lines = 0;
    char line[64];
    while (fgets(line, sizeof line, file) != NULL) {
        lines++;
    }
    fclose(file);
    assert_int_equal(fixture->run * WRITES_PER_RUN + 1, lines);
}

/* A following subscriber that is caught up is woken by the doorbell, not by
 * its poll interval: polling only once an hour, it still gets the next
 * commit. */
struct doorbell_consumer {
    uint64_t head;     /* the head when the subscription began */
    const char *ready; /* created once the event at the head was delivered */
    uint64_t woken_by; /* the first event after the head */
};

static int doorbell_event(void *context, const Ledger__V1__EventEntry *entry)
{
    struct doorbell_consumer *consumer = context;
    if (entry->event->sequence <= consumer->head) {
        FILE *file = fopen(consumer->ready, "w");
        if (file == NULL || fclose(file) != 0) {
            _exit(95);
        }
        return 0;
    }
    consumer->woken_by = entry->event->sequence;
    return 1;
}

static void test_client_subscribe_doorbell_wakes(void **state)
{
    struct fixture *fixture = *state;
    char ready[400];
    snprintf(ready, sizeof ready, "%s/doorbell.ready", fixture->dir);
    pid_t pid = fork();
    if (pid == 0) {
        struct ledger_client *client =
            connect_as(fixture, "feed-auditor", fixture->auditor_key, true);
        Ledger__V1__HeadQuery head_query = LEDGER__V1__HEAD_QUERY__INIT;
        Ledger__V1__Query query = LEDGER__V1__QUERY__INIT;
        query.kind_case = LEDGER__V1__QUERY__KIND_HEAD;
        query.head = &head_query;
        Ledger__V1__QueryResult *result = NULL;
        if (ledger_query(client, &query, &result) != LEDGER_ERR_OK) {
            _exit(90);
        }
        ledger_query_result_free(result);
        struct doorbell_consumer consumer = {.head = ledger_head_sequence(client), .ready = ready};
        if (consumer.head == 0) {
            _exit(91);
        }
        /* From the event before the head: its delivery says that the
         * subscription is about to wait. */
        struct ledger_subscription subscription;
        memset(&subscription, 0, sizeof subscription);
        subscription.after_sequence = consumer.head - 1;
        subscription.follow = true;
        subscription.poll_interval_ms = 3600 * 1000;
        if (ledger_subscribe(client, &subscription, doorbell_event, &consumer) != LEDGER_ERR_OK) {
            _exit(92);
        }
        ledger_close(client);
        _exit(consumer.woken_by > consumer.head ? 0 : 93);
    }
    int status = 0;
    bool done = false;
    for (long waited = 0; waited < test_timeout_ms(30000) && !done; waited += 50) {
        sleep_ms(50);
        done = finished(pid, &status);
        if (!done && exists(ready) && waited % 1000 == 0) {
            /* A commit rings the bell; more than one, in case the first
             * came before the subscriber's events socket was connected. */
            pid_t writer = start_writer(fixture, 1);
            int writer_status = 0;
            waitpid(writer, &writer_status, 0);
            assert_true(WIFEXITED(writer_status) && WEXITSTATUS(writer_status) == 0);
        }
    }
    if (!done) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        fail_msg("a commit did not wake the subscriber");
    }
    assert_true(WIFEXITED(status));
    assert_int_equal(0, WEXITSTATUS(status));
}

/* A subscription filtered by customer delivers the principal events of
 * the customer's users, which are in no customer's stream, among the
 * customer's own events, in order and once each; nothing of another
 * customer of the partner. */
struct customer_feed {
    uint64_t last;     /* the last sequence delivered */
    unsigned count;    /* events delivered */
    uint64_t added;    /* cf-user's PrincipalAdded */
    uint64_t revoked;  /* cf-user's PrincipalRevoked */
    bool out_of_order; /* a sequence not above the one before */
    bool foreign;      /* an event of another customer or its user */
};

static int customer_feed_event(void *context, const Ledger__V1__EventEntry *entry)
{
    struct customer_feed *feed = context;
    const Ledger__V1__Event *event = entry->event;
    feed->out_of_order = feed->out_of_order || event->sequence <= feed->last;
    feed->last = event->sequence;
    feed->count++;
    if (event->body_case == LEDGER__V1__EVENT__BODY_PRINCIPAL_ADDED) {
        if (strcmp(event->principal_added->principal_id, "cf-user") == 0) {
            feed->added = event->sequence;
        } else {
            feed->foreign = true;
        }
    } else if (event->body_case == LEDGER__V1__EVENT__BODY_PRINCIPAL_REVOKED) {
        feed->revoked = event->sequence;
    } else if (strcmp(event->customer_id, "cf-customer") != 0) {
        feed->foreign = true;
    }
    return 0;
}

/* Partner cf-partner's customers cf-customer and cf-other, each with a
 * customer user; then cf-customer's user is revoked (in_child). */
static int add_customer_users(const struct fixture *fixture)
{
    char admin_key[400];
    snprintf(admin_key, sizeof admin_key, "%s/cf-admin.key", fixture->dir);
    struct ledger_client *operator_client =
        connect_as(fixture, "operator", fixture->operator_key, false);
    Ledger__V1__Command partner = partner_command("cf-partner");
    execute_one(operator_client, &partner, NULL, 90);
    Ledger__V1__AddPrincipal admin_body;
    Ledger__V1__Command admin = principal_command(&admin_body, "cf-admin",
                                                  LEDGER__V1__ROLE__ROLE_ADMIN_AGENT, "cf-partner");
    execute_one(operator_client, &admin, admin_key, 91);
    struct ledger_client *admin_client = connect_as(fixture, "cf-admin", admin_key, false);
    static const char *const customers[2] = {"cf-customer", "cf-other"};
    static const char *const users[2] = {"cf-user", "cf-other-user"};
    for (size_t i = 0; i < 2; i++) {
        Ledger__V1__OnboardCustomer body = LEDGER__V1__ONBOARD_CUSTOMER__INIT;
        body.name = (char *)"Fabrikam";
        Ledger__V1__Command onboard = LEDGER__V1__COMMAND__INIT;
        onboard.customer_id = (char *)(uintptr_t)customers[i];
        onboard.body_case = LEDGER__V1__COMMAND__BODY_ONBOARD_CUSTOMER;
        onboard.onboard_customer = &body;
        execute_one(admin_client, &onboard, NULL, 92);
        Ledger__V1__AddPrincipal user_body;
        Ledger__V1__Command user = principal_command(
            &user_body, users[i], LEDGER__V1__ROLE__ROLE_CUSTOMER_USER, "cf-partner");
        user_body.customer_id = (char *)(uintptr_t)customers[i];
        user_body.user = (char *)"carol";
        execute_one(operator_client, &user, NULL, 93);
    }
    Ledger__V1__RevokePrincipal revoke_body = LEDGER__V1__REVOKE_PRINCIPAL__INIT;
    revoke_body.principal_id = (char *)"cf-user";
    Ledger__V1__Command revoke = LEDGER__V1__COMMAND__INIT;
    revoke.body_case = LEDGER__V1__COMMAND__BODY_REVOKE_PRINCIPAL;
    revoke.revoke_principal = &revoke_body;
    execute_one(operator_client, &revoke, NULL, 94);
    ledger_close(admin_client);
    ledger_close(operator_client);
    return 0;
}

/* cf-customer's feed, a page an event: its onboarding, its user's
 * addition and revocation, and the checkpoint past them all. */
static int check_customer_feed(struct ledger_client *client,
                               struct ledger_subscription *subscription, const char *checkpoint)
{
    subscription->partner_id = "cf-partner";
    subscription->customer_id = "cf-customer";
    subscription->page_limit = 1;
    struct customer_feed feed = {0};
    if (ledger_subscribe(client, subscription, customer_feed_event, &feed) != LEDGER_ERR_OK) {
        return 95;
    }
    return feed.count == 3 && feed.added != 0 && feed.revoked > feed.added && !feed.out_of_order &&
                   !feed.foreign && checkpoint_now(checkpoint) == ledger_head_sequence(client)
               ? 0
               : 96;
}

/* Runs last: it registers a partner, which test_client_retry_same_bytes
 * counts. */
static void test_client_subscribe_customer_principal_events(void **state)
{
    in_child(*state, add_customer_users);
    run_checkpoint_check(*state, "customer", false, check_customer_feed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_subscribe_checkpoint_clean_stops),
        cmocka_unit_test(test_client_subscribe_own_position_killed),
        cmocka_unit_test(test_client_subscribe_checkpoint_killed),
        cmocka_unit_test(test_client_subscribe_before_event_killed),
        cmocka_unit_test(test_client_subscribe_callback_stops),
        cmocka_unit_test(test_client_retry_same_bytes),
        cmocka_unit_test(test_client_subscribe_doorbell_wakes),
        /* After the writers: it reads the hundreds of events the tests above
         * committed. */
        cmocka_unit_test(test_client_subscribe_durable_before_checkpoint),
        cmocka_unit_test(test_client_subscribe_customer_principal_events),
    };
    return cmocka_run_group_tests(tests, fixture_setup, fixture_teardown);
}
