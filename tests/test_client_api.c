/*
 * test_client_api.c: libledger's contract.
 * Goal: ledger_connect refuses bad options with the documented codes and
 * writes nothing on failure; key files are read strictly; requests to a
 * missing socket are UNREACHABLE with a message; command ids have the
 * documented form; a subscription out of its limits is INVALID_ARGUMENT
 * before any request, as is one whose checkpoint lock is held or cannot be
 * made IO_ERROR; checkpoint files round-trip, are replaced atomically (a
 * failed write says why and leaves the file as it was) and malformed ones
 * are refused. Against a misbehaving or impostor peer: a
 * reply that does not decode, or does not echo the request's nonce, is
 * PROTOCOL_ERROR and the client stays usable, as is one with a code the
 * library does not know, a batch's reply with too few results and a query's
 * without its result; a refused batch names its command (ledger_error_index);
 * a new principal's secret is wiped from the received message and the
 * unpacked reply before either is freed;
 * STALE_REQUEST is answered by
 * a re-signed attempt of the same body that does not count against the
 * retries, again only after an attempt that waited a window's least and
 * at most LEDGER_STALE_RESIGNS_MAX times, the refusal then saying whether
 * the clock or a slow daemon is to blame; a peer that never answers gets retries + 1 identical
 * sends, then TIMEOUT, unless the wait outlasted half the authentication window: then the resend is
 * signed again; socket failures are UNREACHABLE with their reason. A subscription pages on after
 * the last sequence the daemon examined and stops at the head or at its fixed tree's end; pages
 * with an event not after the one before it or without its event are PROTOCOL_ERROR, a head behind
 * a delivered event MISMATCH; before_checkpoint runs only before a checkpoint write that covers a
 * callback's output; only a following one waits for a daemon that went away. Its query is retried
 * like any request, unless a signal set its stop flag during the wait: then it returns OK at once,
 * as it does instead of waiting for new events once the flag is set; a doorbell ends that wait
 * after one poll. Method: calls against temporary files made with mkdtemp under $LEDGER_TEST_TMP; a
 * fake daemon (a raw NN_REP socket on a thread of this process) that records every request and
 * answers what each test scripts; the library's nn_send and nn_recv failed on demand, its frees of
 * received messages and replies (nn_freemsg, ledger__v1__reply__free_unpacked)
 * searched for the secret, its wall clock
 * moved on, its monotonic clock slowed, its sleeps counted and doorbells rung, by defining them
 * (and clock_gettime, poll and nn_poll) here (libledger is a shared library, so its calls reach
 * this executable's definitions first).
 */
#define _GNU_SOURCE /* RTLD_NEXT */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <nanomsg/nn.h>
#include <nanomsg/reqrep.h>
#include <sodium.h>

#include "ledger.h"
#include "ledger_limits.h"
#include "test_util.h"

struct paths {
    char dir[256];
    char key[320];
    char checkpoint[320];
    char socket[340];
};

static int setup(void **state)
{
    struct paths *paths = calloc(1, sizeof *paths);
    const char *tmp = getenv("LEDGER_TEST_TMP");
    snprintf(paths->dir, sizeof paths->dir, "%s/client-api-XXXXXX", tmp != NULL ? tmp : "/tmp");
    if (mkdtemp(paths->dir) == NULL) {
        return -1;
    }
    snprintf(paths->key, sizeof paths->key, "%s/k.key", paths->dir);
    snprintf(paths->checkpoint, sizeof paths->checkpoint, "%s/feed.checkpoint", paths->dir);
    snprintf(paths->socket, sizeof paths->socket, "ipc://%s/none.sock", paths->dir);
    *state = paths;
    return 0;
}

static int teardown(void **state)
{
    struct paths *paths = *state;
    unlink(paths->key);
    unlink(paths->checkpoint);
    char temporary[400];
    snprintf(temporary, sizeof temporary, "%s.tmp", paths->checkpoint);
    unlink(temporary);
    rmdir(paths->dir);
    free(paths);
    return 0;
}

static void write_text(const char *path, const char *text)
{
    FILE *file = fopen(path, "w");
    assert_non_null(file);
    fputs(text, file);
    fclose(file);
}

static const char good_key[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n";

static void test_client_connect_options(void **state)
{
    struct paths *paths = *state;
    struct ledger_client *client = (struct ledger_client *)(uintptr_t)0x1;
    uint8_t secret[LEDGER_CLIENT_SECRET_BYTES] = {0};
    struct ledger_options options = {
        .request_url = paths->socket, .principal_id = "alice", .secret = secret};
    assert_int_equal(LEDGER_ERR_INVALID_ARGUMENT, ledger_connect(NULL, &client));
    struct ledger_options missing = options;
    missing.request_url = NULL;
    assert_int_equal(LEDGER_ERR_INVALID_ARGUMENT, ledger_connect(&missing, &client));
    missing = options;
    missing.principal_id = "bad id";
    assert_int_equal(LEDGER_ERR_INVALID_ARGUMENT, ledger_connect(&missing, &client));
    missing.principal_id = "";
    assert_int_equal(LEDGER_ERR_INVALID_ARGUMENT, ledger_connect(&missing, &client));
    missing.principal_id = "under_score"; /* the daemon refuses '_' in ids */
    assert_int_equal(LEDGER_ERR_INVALID_ARGUMENT, ledger_connect(&missing, &client));
    missing = options;
    missing.secret = NULL; /* neither secret nor key file */
    assert_int_equal(LEDGER_ERR_INVALID_ARGUMENT, ledger_connect(&missing, &client));
    missing.key_file = paths->key;
    missing.secret = secret; /* both */
    assert_int_equal(LEDGER_ERR_INVALID_ARGUMENT, ledger_connect(&missing, &client));
    /* A timeout past nanomsg's int milliseconds; the largest it takes is
     * accepted. */
    missing = options;
    missing.timeout_ms = (uint32_t)INT32_MAX + 1;
    assert_int_equal(LEDGER_ERR_INVALID_ARGUMENT, ledger_connect(&missing, &client));
    missing.timeout_ms = UINT32_MAX;
    assert_int_equal(LEDGER_ERR_INVALID_ARGUMENT, ledger_connect(&missing, &client));
    missing.timeout_ms = INT32_MAX;
    struct ledger_client *largest = NULL;
    assert_int_equal(LEDGER_ERR_OK, ledger_connect(&missing, &largest));
    ledger_close(largest);
    missing = options;
    missing.request_url = "nonsense://x";
    assert_int_equal(LEDGER_ERR_UNREACHABLE, ledger_connect(&missing, &client));
    /* Out-pointer untouched by every failure. */
    assert_true(client == (struct ledger_client *)(uintptr_t)0x1);
    assert_int_equal(LEDGER_ERR_OK, ledger_connect(&options, &client));
    ledger_close(client);
    ledger_close(NULL);
}

/* The notices the library sent (ledger_notice_set): how many, and the last. */
struct notices {
    int count;
    char last[512];
};

static void notice_count(void *context, const char *message)
{
    struct notices *notices = context;
    notices->count++;
    snprintf(notices->last, sizeof notices->last, "%s", message);
}

static void test_client_key_files(void **state)
{
    struct paths *paths = *state;
    struct ledger_client *client = NULL;
    struct ledger_options options = {
        .request_url = paths->socket, .principal_id = "alice", .key_file = paths->key};
    assert_int_equal(LEDGER_ERR_IO_ERROR, ledger_connect(&options, &client)); /* no file */
    const char *bad[] = {
        "",
        "0011\n",
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeefg\n",
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff00\n",
        " 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_text(paths->key, bad[i]);
        assert_int_equal(LEDGER_ERR_IO_ERROR, ledger_connect(&options, &client));
    }
    /* The key followed by more than a key file holds (128 bytes): refused,
     * not read up to the limit and the rest ignored. */
    char padded[256];
    size_t key_length = strlen(good_key);
    memcpy(padded, good_key, key_length);
    memset(padded + key_length, '\n', 63);
    snprintf(padded + key_length + 63, sizeof padded - key_length - 63, "trailing\n");
    write_text(paths->key, padded);
    assert_int_equal(LEDGER_ERR_IO_ERROR, ledger_connect(&options, &client));
    memset(padded, 'a', 200);
    padded[200] = '\0';
    write_text(paths->key, padded);
    assert_int_equal(LEDGER_ERR_IO_ERROR, ledger_connect(&options, &client));
    /* A file that cannot be read: a directory opens, and its read fails. */
    struct ledger_options unreadable = options;
    unreadable.key_file = paths->dir;
    assert_int_equal(LEDGER_ERR_IO_ERROR, ledger_connect(&unreadable, &client));
    /* One without permission (root reads it anyway). */
    write_text(paths->key, good_key);
    if (geteuid() != 0) {
        assert_int_equal(0, chmod(paths->key, 0));
        assert_int_equal(LEDGER_ERR_IO_ERROR, ledger_connect(&options, &client));
        assert_int_equal(0, chmod(paths->key, 0600));
    }
    assert_null(client);
    write_text(paths->key, good_key);
    assert_int_equal(LEDGER_ERR_OK, ledger_connect(&options, &client));
    ledger_close(client);
    /* Without the newline, and with CRLF, it is still the key. */
    write_text(paths->key, "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
    assert_int_equal(LEDGER_ERR_OK, ledger_connect(&options, &client));
    ledger_close(client);
    write_text(paths->key, "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\r\n");
    assert_int_equal(LEDGER_ERR_OK, ledger_connect(&options, &client));
    ledger_close(client);
    /* A key file other users may read is used, with a notice saying so
     * (and not the key); one of mode 0600 gets none. */
    struct notices seen = {0};
    ledger_notice_set(notice_count, &seen);
    assert_int_equal(0, chmod(paths->key, 0644));
    assert_int_equal(LEDGER_ERR_OK, ledger_connect(&options, &client));
    ledger_close(client);
    assert_int_equal(1, seen.count);
    char expected[512];
    snprintf(expected, sizeof expected,
             "the key file %s can be read or written by other users (mode 644): anyone who "
             "reads it can act as its principal; chmod 600 it",
             paths->key);
    assert_string_equal(expected, seen.last);
    assert_int_equal(0, chmod(paths->key, 0600));
    assert_int_equal(LEDGER_ERR_OK, ledger_connect(&options, &client));
    ledger_close(client);
    assert_int_equal(1, seen.count);
    ledger_notice_set(NULL, NULL);
}

static void test_client_unreachable(void **state)
{
    struct paths *paths = *state;
    uint8_t secret[LEDGER_CLIENT_SECRET_BYTES] = {1};
    struct ledger_options options = {.request_url = paths->socket,
                                     .principal_id = "alice",
                                     .secret = secret,
                                     .timeout_ms = 100,
                                     .retries = 1};
    struct ledger_client *client = NULL;
    assert_int_equal(LEDGER_ERR_OK, ledger_connect(&options, &client));
    Ledger__V1__HeadQuery head = LEDGER__V1__HEAD_QUERY__INIT;
    Ledger__V1__Query query = LEDGER__V1__QUERY__INIT;
    query.kind_case = LEDGER__V1__QUERY__KIND_HEAD;
    query.head = &head;
    Ledger__V1__QueryResult *result = (Ledger__V1__QueryResult *)(uintptr_t)0x1;
    assert_int_equal(LEDGER_ERR_UNREACHABLE, ledger_query(client, &query, &result));
    assert_true(result == (Ledger__V1__QueryResult *)(uintptr_t)0x1);
    assert_non_null(strstr(ledger_error_message(client), "none.sock"));
    /* A call without its client, query or place for the result is
     * refused before anything is sent, the result left alone. */
    assert_int_equal(LEDGER_ERR_INVALID_ARGUMENT, ledger_query(NULL, &query, &result));
    assert_int_equal(LEDGER_ERR_INVALID_ARGUMENT, ledger_query(client, NULL, &result));
    assert_int_equal(LEDGER_ERR_INVALID_ARGUMENT, ledger_query(client, &query, NULL));
    assert_true(result == (Ledger__V1__QueryResult *)(uintptr_t)0x1);

    Ledger__V1__Command command = LEDGER__V1__COMMAND__INIT;
    const Ledger__V1__Command *commands[1] = {&command};
    Ledger__V1__Reply *reply = NULL;
    assert_int_equal(LEDGER_ERR_INVALID_ARGUMENT, ledger_execute(client, commands, 0, &reply));
    const Ledger__V1__Command *nulls[1] = {NULL};
    assert_int_equal(LEDGER_ERR_INVALID_ARGUMENT, ledger_execute(client, nulls, 1, &reply));
    /* The largest batch goes out (and finds no daemon); one more command
     * is refused before anything is sent. */
    const Ledger__V1__Command **many = calloc(LEDGER_BATCH_COMMANDS_MAX + 1, sizeof *many);
    assert_non_null(many);
    for (size_t i = 0; i <= LEDGER_BATCH_COMMANDS_MAX; i++) {
        many[i] = &command;
    }
    assert_int_equal(LEDGER_ERR_INVALID_ARGUMENT,
                     ledger_execute(client, many, LEDGER_BATCH_COMMANDS_MAX + 1, &reply));
    assert_int_equal(LEDGER_ERR_UNREACHABLE,
                     ledger_execute(client, many, LEDGER_BATCH_COMMANDS_MAX, &reply));
    free(many);
    assert_int_equal(LEDGER_ERR_UNREACHABLE, ledger_execute(client, commands, 1, &reply));
    assert_null(reply);
    /* The caller's command is not modified by the id the library adds. */
    assert_string_equal("", command.command_id);
    ledger_close(client);
}

static int never_called(void *context, const Ledger__V1__EventEntry *entry)
{
    (void)context;
    (void)entry;
    fail_msg("an event was delivered to a subscription that was refused");
    return 1;
}

/* A subscription the library refuses is refused before it asks the
 * daemon: INVALID_ARGUMENT, where one within the limits finds no daemon
 * (UNREACHABLE); so is a following one whose doorbell address cannot be
 * used (UNREACHABLE). */
static void test_client_subscribe_arguments(void **state)
{
    struct paths *paths = *state;
    uint8_t secret[LEDGER_CLIENT_SECRET_BYTES] = {1};
    struct ledger_options options = {
        .request_url = paths->socket, .principal_id = "alice", .secret = secret};
    struct ledger_client *client = NULL;
    assert_int_equal(LEDGER_ERR_OK, ledger_connect(&options, &client));
    const char *types[LEDGER_EVENT_TYPES_FILTER_MAX + 1];
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        types[i] = "partner_registered";
    }
    struct ledger_subscription good;
    memset(&good, 0, sizeof good);
    good.types = types;
    good.type_count = LEDGER_EVENT_TYPES_FILTER_MAX;
    good.page_limit = LEDGER_EVENTS_PAGE_MAX;
    good.checkpoint_mode = LEDGER_CHECKPOINT_BEFORE_EVENT;
    good.tree_size = 5;
    assert_int_equal(LEDGER_ERR_UNREACHABLE, ledger_subscribe(client, &good, never_called, NULL));
    struct ledger_subscription follow = good;
    follow.tree_size = 0;
    follow.follow = true; /* the daemon never answered: not waited for */
    assert_int_equal(LEDGER_ERR_UNREACHABLE, ledger_subscribe(client, &follow, never_called, NULL));

    /* Each refusal names what is wrong in the client's message, rather than
     * leaving there the last call's (the UNREACHABLE above). */
    struct {
        struct ledger_subscription subscription;
        const char *message;
    } bad[11];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bad[i].subscription = good;
    }
    bad[0].subscription.type_count = LEDGER_EVENT_TYPES_FILTER_MAX + 1;
    bad[0].message = "type_count 33 is more than 32";
    bad[1].subscription.types = NULL;
    bad[1].message = "types is NULL";
    const char *null_type[] = {"partner_registered", NULL};
    bad[2].subscription.types = null_type;
    bad[2].subscription.type_count = 2;
    bad[2].message = "types[1] is NULL";
    bad[3].subscription.page_limit = LEDGER_EVENTS_PAGE_MAX + 1;
    bad[3].message = "page_limit 10001 is more than 10000";
    bad[4].subscription.checkpoint_mode =
        (enum ledger_checkpoint_mode)(LEDGER_CHECKPOINT_BEFORE_EVENT + 1);
    bad[4].message = "checkpoint_mode 3 is not one of";
    bad[5].subscription.follow = true; /* a fixed tree does not grow */
    bad[5].message = "follow with a tree_size";
    bad[6].subscription.checkpoint_path = ""; /* no file: not found at first, never writable */
    bad[6].message = "checkpoint_path is empty";
    bad[7].subscription.type_count = 0;
    bad[7].subscription.types = null_type + 1; /* no types: the array is not read */
    bad[7].subscription.page_limit = LEDGER_EVENTS_PAGE_MAX + 1;
    bad[7].message = "page_limit 10001 is more than 10000";
    /* The filters a checkpoint file records: no line end, nothing that is
     * not an id or a type name, can get into the file's lines. */
    char filtered[400];
    snprintf(filtered, sizeof filtered, "%s/filtered.checkpoint", paths->dir);
    bad[8].subscription.checkpoint_path = filtered;
    bad[8].subscription.partner_id = "p1\ncustomer=";
    bad[8].message = "ledger_subscribe: partner_id is not a valid id";
    bad[9].subscription.checkpoint_path = filtered;
    bad[9].subscription.customer_id = "no spaces";
    bad[9].message = "ledger_subscribe: customer_id is not a valid id";
    const char *bad_type[] = {"partner_registered", "Partner_Registered"};
    bad[10].subscription.checkpoint_path = filtered;
    bad[10].subscription.types = bad_type;
    bad[10].subscription.type_count = 2;
    bad[10].message = "ledger_subscribe: types[1] is not an event type name";
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(LEDGER_ERR_UNREACHABLE,
                         ledger_subscribe(client, &good, never_called, NULL));
        assert_int_equal(LEDGER_ERR_INVALID_ARGUMENT,
                         ledger_subscribe(client, &bad[i].subscription, never_called, NULL));
        if (strstr(ledger_error_message(client), bad[i].message) == NULL) {
            fail_msg("subscription %zu: \"%s\" does not say \"%s\"", i,
                     ledger_error_message(client), bad[i].message);
        }
    }
    /* Refused before a checkpoint file was written. */
    struct stat info;
    assert_int_not_equal(0, stat(filtered, &info));
    assert_int_equal(LEDGER_ERR_INVALID_ARGUMENT, ledger_subscribe(client, &good, NULL, NULL));
    assert_non_null(strstr(ledger_error_message(client), "callback is NULL"));
    assert_int_equal(LEDGER_ERR_INVALID_ARGUMENT,
                     ledger_subscribe(client, NULL, never_called, NULL));
    assert_non_null(strstr(ledger_error_message(client), "subscription is NULL"));
    assert_int_equal(LEDGER_ERR_INVALID_ARGUMENT,
                     ledger_subscribe(NULL, &good, never_called, NULL));
    ledger_close(client);

    /* A doorbell address nanomsg does not take: a following subscription
     * says so before it asks the daemon; one that does not follow never
     * opens it. */
    options.events_url = "nonsense://x";
    assert_int_equal(LEDGER_ERR_OK, ledger_connect(&options, &client));
    assert_int_equal(LEDGER_ERR_UNREACHABLE, ledger_subscribe(client, &follow, never_called, NULL));
    assert_string_equal("cannot connect to the events socket nonsense://x",
                        ledger_error_message(client));
    follow.follow = false;
    assert_int_equal(LEDGER_ERR_UNREACHABLE, ledger_subscribe(client, &follow, never_called, NULL));
    assert_non_null(strstr(ledger_error_message(client), "none.sock"));
    ledger_close(client);
}

/* The lock beside a checkpoint file (FILE.lock) is taken before the
 * daemon is asked: held by another, the subscription is refused with a
 * message that says so; one that cannot be made is refused with its
 * reason. Once the subscription returns, the lock is free again. */
static void test_client_subscribe_checkpoint_lock(void **state)
{
    struct paths *paths = *state;
    uint8_t secret[LEDGER_CLIENT_SECRET_BYTES] = {1};
    struct ledger_options options = {
        .request_url = paths->socket, .principal_id = "alice", .secret = secret};
    struct ledger_client *client = NULL;
    assert_int_equal(LEDGER_ERR_OK, ledger_connect(&options, &client));
    char checkpoint[300], lock[320], says[1024];
    snprintf(checkpoint, sizeof checkpoint, "%s/no/such/dir/feed.checkpoint", paths->dir);
    struct ledger_subscription subscription;
    memset(&subscription, 0, sizeof subscription);
    subscription.checkpoint_path = checkpoint;
    assert_int_equal(LEDGER_ERR_IO_ERROR,
                     ledger_subscribe(client, &subscription, never_called, NULL));
    snprintf(says, sizeof says,
             "cannot lock the checkpoint file %s: %s.lock: No such file or directory", checkpoint,
             checkpoint);
    assert_string_equal(says, ledger_error_message(client));

    snprintf(checkpoint, sizeof checkpoint, "%s/locked.checkpoint", paths->dir);
    snprintf(lock, sizeof lock, "%s.lock", checkpoint);
    int held = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    assert_true(held >= 0);
    assert_int_equal(0, flock(held, LOCK_EX | LOCK_NB));
    assert_int_equal(LEDGER_ERR_IO_ERROR,
                     ledger_subscribe(client, &subscription, never_called, NULL));
    snprintf(says, sizeof says,
             "the checkpoint file %s is in use by another subscriber (it holds %s): stop it "
             "first, or give another checkpoint file",
             checkpoint, lock);
    assert_string_equal(says, ledger_error_message(client));
    assert_int_equal(0, close(held));
    /* Free: the subscription goes on to ask the daemon, which is absent,
     * and leaves the lock free behind it. */
    assert_int_equal(LEDGER_ERR_UNREACHABLE,
                     ledger_subscribe(client, &subscription, never_called, NULL));
    held = open(lock, O_RDWR | O_CLOEXEC);
    assert_true(held >= 0);
    assert_int_equal(0, flock(held, LOCK_EX | LOCK_NB));
    assert_int_equal(0, close(held));
    assert_int_equal(0, unlink(lock));
    ledger_close(client);
}

/* The client's id rule is the daemon's (codec_id_valid, test_codec): an id
 * the library accepts is never refused by the daemon for its form. */
static void test_client_id_rule(void **state)
{
    (void)state;
    char longest[LEDGER_ID_LENGTH_MAX + 2];
    memset(longest, 'a', sizeof longest);
    longest[LEDGER_ID_LENGTH_MAX] = '\0';
    assert_true(ledger_id_valid(longest));
    longest[LEDGER_ID_LENGTH_MAX] = 'a';
    longest[LEDGER_ID_LENGTH_MAX + 1] = '\0';
    assert_false(ledger_id_valid(longest));
    assert_true(ledger_id_valid("AZaz09.:@-"));
    assert_true(ledger_id_valid("user@contoso.com"));
    assert_false(ledger_id_valid(""));
    assert_false(ledger_id_valid(NULL));
    const char *bad[] = {"a b", "a/b", "a_b", "a\tb", "caf\xc3\xa9", "a\"b", "a;b", "a,b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(ledger_id_valid(bad[i]));
}

static void test_client_command_ids(void **state)
{
    (void)state;
    char first[LEDGER_CLIENT_COMMAND_ID_SIZE], second[LEDGER_CLIENT_COMMAND_ID_SIZE];
    ledger_command_id_new(first);
    ledger_command_id_new(second);
    assert_int_equal(34, strlen(first));
    assert_memory_equal("c-", first, 2);
    assert_int_equal(32, strspn(first + 2, "0123456789abcdef"));
    assert_string_not_equal(first, second);
}

static void test_client_checkpoints(void **state)
{
    struct paths *paths = *state;
    uint64_t sequence = 77;
    assert_int_equal(LEDGER_ERR_NOT_FOUND, ledger_checkpoint_read(paths->checkpoint, &sequence));
    assert_int_equal(77, sequence);
    assert_int_equal(LEDGER_ERR_OK, ledger_checkpoint_write(paths->checkpoint, 0));
    assert_int_equal(LEDGER_ERR_OK, ledger_checkpoint_read(paths->checkpoint, &sequence));
    assert_int_equal(0, sequence);
    assert_int_equal(LEDGER_ERR_OK, ledger_checkpoint_write(paths->checkpoint, UINT64_MAX));
    assert_int_equal(LEDGER_ERR_OK, ledger_checkpoint_read(paths->checkpoint, &sequence));
    assert_true(sequence == UINT64_MAX);
    assert_int_equal(LEDGER_ERR_OK, ledger_checkpoint_write(paths->checkpoint, 12345));
    assert_int_equal(LEDGER_ERR_OK, ledger_checkpoint_read(paths->checkpoint, &sequence));
    assert_int_equal(12345, sequence);
    /* No temporary file is left behind, and the file is private. */
    char temporary[400];
    snprintf(temporary, sizeof temporary, "%s.tmp", paths->checkpoint);
    struct stat info;
    assert_int_not_equal(0, stat(temporary, &info));
    assert_int_equal(0, stat(paths->checkpoint, &info));
    assert_int_equal(0600, info.st_mode & 0777);

    /* A checkpoint named without a directory is written in the current
     * one (whose entry is made durable as "."). */
    char cwd[400];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(0, chdir(paths->dir));
    assert_int_equal(LEDGER_ERR_OK, ledger_checkpoint_write("relative.checkpoint", 77));
    assert_int_equal(0, chdir(cwd));
    char relative[400];
    snprintf(relative, sizeof relative, "%s/relative.checkpoint", paths->dir);
    assert_int_equal(LEDGER_ERR_OK, ledger_checkpoint_read(relative, &sequence));
    assert_int_equal(77, sequence);
    assert_int_equal(0, unlink(relative));
    /* A line end written on another system is still a line end. */
    write_text(paths->checkpoint, "12346\r\n");
    assert_int_equal(LEDGER_ERR_OK, ledger_checkpoint_read(paths->checkpoint, &sequence));
    assert_int_equal(12346, sequence);

    const char *bad[] = {"", "\n", "12a\n", "-1\n", "18446744073709551616\n", " 5\n", "1 2\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_text(paths->checkpoint, bad[i]);
        sequence = 5;
        assert_int_equal(LEDGER_ERR_IO_ERROR, ledger_checkpoint_read(paths->checkpoint, &sequence));
        assert_int_equal(5, sequence);
    }
    /* A directory opens but cannot be read; bad arguments are refused. */
    assert_int_equal(LEDGER_ERR_IO_ERROR, ledger_checkpoint_read(paths->dir, &sequence));
    assert_int_equal(5, sequence);
    assert_int_equal(LEDGER_ERR_INVALID_ARGUMENT, ledger_checkpoint_read(NULL, &sequence));
    assert_int_equal(LEDGER_ERR_INVALID_ARGUMENT, ledger_checkpoint_read(paths->checkpoint, NULL));
    char unwritable[400];
    snprintf(unwritable, sizeof unwritable, "%s/no/such/dir/checkpoint", paths->dir);
    assert_int_equal(LEDGER_ERR_IO_ERROR, ledger_checkpoint_write(unwritable, 1));
    assert_int_equal(ENOENT, errno);
    /* A failed write says why and leaves the file as it was. */
    assert_int_equal(LEDGER_ERR_OK, ledger_checkpoint_write(paths->checkpoint, 41));
    assert_int_equal(0, mkdir(temporary, 0700));
    assert_int_equal(LEDGER_ERR_IO_ERROR, ledger_checkpoint_write(paths->checkpoint, 42));
    assert_int_equal(EISDIR, errno);
    assert_int_equal(0, rmdir(temporary));
    assert_int_equal(LEDGER_ERR_OK, ledger_checkpoint_read(paths->checkpoint, &sequence));
    assert_int_equal(41, sequence);
    /* One that fails after its temporary file was written (the rename onto
     * a directory) removes that file too. */
    char directory_path[380];
    snprintf(directory_path, sizeof directory_path, "%s/a-directory", paths->dir);
    snprintf(temporary, sizeof temporary, "%s.tmp", directory_path);
    assert_int_equal(0, mkdir(directory_path, 0700));
    assert_int_equal(LEDGER_ERR_IO_ERROR, ledger_checkpoint_write(directory_path, 43));
    assert_int_equal(EISDIR, errno);
    assert_int_not_equal(0, stat(temporary, &info));
    assert_int_equal(ENOENT, errno);
    assert_int_equal(0, rmdir(directory_path));
    assert_int_equal(LEDGER_ERR_INVALID_ARGUMENT, ledger_checkpoint_write("", 1));
    /* A FILE.tmp left behind as a symbolic link is removed, not followed:
     * the file it points to keeps its bytes. */
    char victim[400];
    snprintf(victim, sizeof victim, "%s/victim", paths->dir);
    snprintf(temporary, sizeof temporary, "%s.tmp", paths->checkpoint);
    write_text(victim, "precious\n");
    assert_int_equal(0, symlink(victim, temporary));
    assert_int_equal(LEDGER_ERR_OK, ledger_checkpoint_write(paths->checkpoint, 45));
    assert_int_equal(LEDGER_ERR_OK, ledger_checkpoint_read(paths->checkpoint, &sequence));
    assert_int_equal(45, sequence);
    char kept[32] = {0};
    FILE *file = fopen(victim, "r");
    assert_non_null(file);
    assert_non_null(fgets(kept, sizeof kept, file));
    fclose(file);
    assert_string_equal("precious\n", kept);
    assert_int_not_equal(0, lstat(temporary, &info));
    assert_int_equal(0, unlink(victim));
    /* A name without a directory is a file in the current one. */
    char here[300];
    assert_non_null(getcwd(here, sizeof here));
    assert_int_equal(0, chdir(paths->dir));
    assert_int_equal(LEDGER_ERR_OK, ledger_checkpoint_write("bare.checkpoint", 44));
    assert_int_equal(0, chdir(here));
    snprintf(temporary, sizeof temporary, "%s/bare.checkpoint", paths->dir);
    assert_int_equal(LEDGER_ERR_OK, ledger_checkpoint_read(temporary, &sequence));
    assert_int_equal(44, sequence);
    assert_int_equal(0, unlink(temporary));
}

static void test_client_error_table_exported(void **state)
{
    (void)state;
    assert_string_equal("PERMISSION_OFF", ledger_err_name(LEDGER_ERR_PERMISSION_OFF));
    assert_true(strlen(ledger_strerror(LEDGER_ERR_ASK_PARTNER)) > 10);
}

/* ------------------------------------------------------------------------ */
/* The library's socket calls, failed on demand. The fake daemon uses
 * nn_recvmsg and nn_sendmsg, so only the client's calls come here. */

struct fake;

static atomic_int send_calls;    /* nn_send calls so far */
static atomic_int send_failures; /* the next this many nn_send calls fail */
static atomic_int send_errno;
static atomic_int recv_failures; /* the next this many blocking nn_recv calls fail */
static atomic_int recv_errno;
/* A failed wait for a reply first waits for the fake daemon to have this
 * many requests: the request it abandons reached the daemon. */
static struct fake *recv_failure_fake;
static size_t recv_failure_after;
/* A failed wait for a reply also sets this stop flag, as a signal handler
 * would have before the wait returned EINTR. */
static volatile sig_atomic_t *recv_failure_stop;
/* A failed wait for a reply also moves the wall clock (clock_gettime's
 * CLOCK_REALTIME, as the library reads it) on by this much: it lasted
 * that long. */
static atomic_llong recv_failure_clock_us;
static atomic_llong clock_shift_us; /* the sum of those moves */

static size_t fake_wait(struct fake *fake, size_t count);

/* A new principal's secret as a test's fake daemon sends it: the
 * library's received message that held it (the last one nn_recv(NN_MSG)
 * handed it, kept here) and each reply it unpacked must be wiped when
 * freed; each that is not is counted. */
#define SECRET_WATCHED "5ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7"
static void *received_message;
static size_t received_size;
static atomic_int secrets_freed_unwiped;

static void *real_function(const char *name)
{
    void *symbol = dlsym(RTLD_NEXT, name);
    if (symbol == NULL) {
        fprintf(stderr, "no %s after this executable: %s\n", name, dlerror());
        abort();
    }
    return symbol;
}

int nn_send(int s, const void *buf, size_t len, int flags)
{
    atomic_fetch_add(&send_calls, 1);
    if (atomic_load(&send_failures) > 0) {
        atomic_fetch_sub(&send_failures, 1);
        errno = atomic_load(&send_errno);
        return -1;
    }
    int (*real)(int, const void *, size_t, int);
    void *symbol = real_function("nn_send");
    memcpy(&real, &symbol, sizeof real);
    return real(s, buf, len, flags);
}

int nn_recv(int s, void *buf, size_t len, int flags)
{
    /* Only the wait for a reply: the library's drain of a leftover reply
     * (NN_DONTWAIT) passes. */
    if ((flags & NN_DONTWAIT) == 0 && atomic_load(&recv_failures) > 0) {
        atomic_fetch_sub(&recv_failures, 1);
        if (recv_failure_fake != NULL) {
            fake_wait(recv_failure_fake, recv_failure_after);
        }
        if (recv_failure_stop != NULL) {
            *recv_failure_stop = 1;
        }
        atomic_fetch_add(&clock_shift_us, atomic_load(&recv_failure_clock_us));
        errno = atomic_load(&recv_errno);
        return -1;
    }
    int (*real)(int, void *, size_t, int);
    void *symbol = real_function("nn_recv");
    memcpy(&real, &symbol, sizeof real);
    int received = real(s, buf, len, flags);
    if (received >= 0 && len == NN_MSG) {
        received_message = *(void **)buf;
        received_size = (size_t)received;
    }
    return received;
}

/* Whether `size` bytes at `data` hold the text SECRET_WATCHED. */
static bool holds_watched_secret(const void *data, size_t size)
{
    size_t needle = strlen(SECRET_WATCHED);
    for (size_t i = 0; i + needle <= size; i++) {
        if (memcmp((const char *)data + i, SECRET_WATCHED, needle) == 0) {
            return true;
        }
    }
    return false;
}

int nn_freemsg(void *message)
{
    if (message != NULL && message == received_message) {
        if (holds_watched_secret(message, received_size)) {
            atomic_fetch_add(&secrets_freed_unwiped, 1);
        }
        received_message = NULL;
    }
    int (*real)(void *);
    void *symbol = real_function("nn_freemsg");
    memcpy(&real, &symbol, sizeof real);
    return real(message);
}

/* The library's frees of replies it unpacked (ledger_reply_free's and its
 * own): a result that still holds the secret is counted. */
void ledger__v1__reply__free_unpacked(Ledger__V1__Reply *reply, ProtobufCAllocator *allocator)
{
    for (size_t i = 0; reply != NULL && i < reply->n_results; i++) {
        const char *secret = reply->results[i]->secret_hex;
        if (secret != NULL && holds_watched_secret(secret, strlen(secret))) {
            atomic_fetch_add(&secrets_freed_unwiped, 1);
        }
    }
    void (*real)(Ledger__V1__Reply *, ProtobufCAllocator *);
    void *symbol = real_function("ledger__v1__reply__free_unpacked");
    memcpy(&real, &symbol, sizeof real);
    real(reply, allocator);
}

/* While connections_left is above 0, the library's count of a request
 * socket's connections (asked when an attempt times out) is the next of
 * connections_script: a daemon that was there for one attempt and gone by
 * the next. */
static uint64_t connections_script[4];
static atomic_int connections_left;
static atomic_int connections_next;

uint64_t nn_get_statistic(int s, int stat)
{
    if (stat == NN_STAT_CURRENT_CONNECTIONS && atomic_load(&connections_left) > 0) {
        atomic_fetch_sub(&connections_left, 1);
        return connections_script[atomic_fetch_add(&connections_next, 1)];
    }
    uint64_t (*real)(int, int);
    void *symbol = real_function("nn_get_statistic");
    memcpy(&real, &symbol, sizeof real);
    return real(s, stat);
}

/* While set, the library's wait for a doorbell finds one at once, as if
 * one had rung, and counts its polls. */
static atomic_bool doorbell_ringing;
static atomic_int doorbell_polls;

int nn_poll(struct nn_pollfd *fds, int nfds, int timeout_ms)
{
    if (atomic_load(&doorbell_ringing)) {
        atomic_fetch_add(&doorbell_polls, 1);
        for (int i = 0; i < nfds; i++) {
            fds[i].revents = NN_POLLIN;
        }
        return nfds;
    }
    int (*real)(struct nn_pollfd *, int, int);
    void *symbol = real_function("nn_poll");
    memcpy(&real, &symbol, sizeof real);
    return real(fds, nfds, timeout_ms);
}

/* The library's sleep between polls without a doorbell (poll with no
 * descriptors): while this stop flag is set, counted and not slept. */
static volatile sig_atomic_t *sleep_stop;
static atomic_int sleeps_while_stopped;

int poll(struct pollfd *fds, nfds_t nfds, int timeout_ms)
{
    if (nfds == 0 && sleep_stop != NULL && *sleep_stop != 0) {
        atomic_fetch_add(&sleeps_while_stopped, 1);
        return 0;
    }
    int (*real)(struct pollfd *, nfds_t, int);
    void *symbol = real_function("poll");
    memcpy(&real, &symbol, sizeof real);
    return real(fds, nfds, timeout_ms);
}

/* While set (the real CLOCK_MONOTONIC's nanoseconds when it was), the
 * CLOCK_MONOTONIC libledger reads runs MONOTONIC_SLOWDOWN times slower than
 * the real one: an exchange the fake daemon answers at once then stays far
 * under the library's LEDGER_AUTH_WINDOW_MIN_US however stalled the machine
 * (sanitizers, load), and only a stall of MONOTONIC_SLOWDOWN seconds, past
 * answered_timeout_ms(), would make the library see one second go by. Only
 * the library's own reads are slowed: nanomsg's timers, the fake daemon's
 * delays and the tests keep the real clock. */
#define MONOTONIC_SLOWDOWN 100
static atomic_llong monotonic_slowed_from_ns;
static atomic_int monotonic_slowed_reads; /* the library's reads it slowed */

/* Whether `caller` is code of libledger. */
static bool in_library(const void *caller)
{
    Dl_info info;
    return dladdr(caller, &info) != 0 && info.dli_fname != NULL &&
           strstr(info.dli_fname, "libledger") != NULL;
}

/* Slows the library's CLOCK_MONOTONIC from now on, or (`slow` false) gives
 * it the real one again, which is never behind the slowed one. */
static void monotonic_slow(bool slow)
{
    struct timespec now = {0};
    if (slow) {
        assert_int_equal(0, clock_gettime(CLOCK_MONOTONIC, &now));
    }
    atomic_store(&monotonic_slowed_from_ns, (long long)now.tv_sec * 1000000000 + now.tv_nsec);
    atomic_store(&monotonic_slowed_reads, 0);
}

int clock_gettime(clockid_t clock, struct timespec *now)
{
    int (*real)(clockid_t, struct timespec *);
    void *symbol = real_function("clock_gettime");
    memcpy(&real, &symbol, sizeof real);
    int result = real(clock, now);
    long long from_ns = atomic_load(&monotonic_slowed_from_ns);
    if (result == 0 && clock == CLOCK_MONOTONIC && from_ns != 0 &&
        in_library(__builtin_return_address(0))) {
        long long real_ns = (long long)now->tv_sec * 1000000000 + now->tv_nsec;
        long long slowed_ns = from_ns + (real_ns - from_ns) / MONOTONIC_SLOWDOWN;
        now->tv_sec = (time_t)(slowed_ns / 1000000000);
        now->tv_nsec = (long)(slowed_ns % 1000000000);
        atomic_fetch_add(&monotonic_slowed_reads, 1);
    }
    long long shift_us = atomic_load(&clock_shift_us);
    if (result == 0 && clock == CLOCK_REALTIME && shift_us != 0) {
        now->tv_sec += (time_t)(shift_us / 1000000);
        now->tv_nsec += (long)(shift_us % 1000000) * 1000;
        if (now->tv_nsec >= 1000000000) {
            now->tv_sec++;
            now->tv_nsec -= 1000000000;
        }
    }
    return result;
}

/* ------------------------------------------------------------------------ */
/* A fake daemon: a raw REP socket served by a thread. Request i is recorded
 * and answered as step i of the script says; a request past the script is
 * recorded and left unanswered. */

#define FAKE_REQUESTS_MAX 16
/* Events in one scripted page. */
#define FAKE_EVENTS_MAX 4
/* The head_sequence of a late reply (step.late), told apart from any other. */
#define FAKE_LATE_HEAD 111
/* How long the serving thread blocks before it looks at its stop flag. */
#define FAKE_RECEIVE_SLICE_MS 50

static const uint8_t fake_secret[LEDGER_CLIENT_SECRET_BYTES] = {7, 7, 7};

enum fake_nonce {
    FAKE_NONCE_ECHO = 0, /* the request's own */
    FAKE_NONCE_NONE,     /* no request_nonce at all */
    FAKE_NONCE_WRONG,    /* 16 bytes of another nonce */
    FAKE_NONCE_PREVIOUS, /* the previous request's nonce */
};

struct fake_step {
    bool silent;         /* record the request, answer nothing */
    const char *garbage; /* answer these bytes instead of a Reply */
    Ledger__V1__ErrorCode code;
    const char *message;
    enum fake_nonce nonce;
    uint64_t head_sequence;
    /* First answer the previous request again (its REQ id, its nonce, OK,
     * head FAKE_LATE_HEAD): a late reply to an earlier attempt. */
    bool late;
    uint32_t failed_index;  /* a refused batch's */
    bool short_results;     /* OK to a batch with one result fewer than its commands */
    bool no_query;          /* OK to a query without its QueryResult */
    const char *secret_hex; /* OK to a batch: each result carries this new secret */
    unsigned delay_ms;      /* answer this long after the request came, as a busy daemon */
    /* OK to a query: a page of events with these sequences (0: an entry
     * without its event) and this last_sequence. */
    uint64_t events[FAKE_EVENTS_MAX];
    size_t event_count;
    uint64_t last_sequence;
};

/* A raw REP socket's routing header (nn_recvmsg's control data), kept to
 * answer with, as often as a step asks. */
union fake_control {
    struct nn_cmsghdr header;
    uint8_t bytes[256];
};

struct fake_request {
    uint8_t *bytes; /* the Request as received */
    size_t size;
    Ledger__V1__SignedRequest *signed_request; /* NULL unless it decodes */
    bool mac_valid;                            /* HMAC-SHA256 with fake_secret */
    uint8_t *body;                             /* the RequestBody, packed again */
    size_t body_size;
    union fake_control control;
};

struct fake {
    char dir[256];
    char url[300];
    int socket;
    pthread_t thread;
    atomic_bool stop;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    struct fake_step steps[FAKE_REQUESTS_MAX];
    size_t step_count;
    struct fake_request requests[FAKE_REQUESTS_MAX];
    size_t request_count;
};

/* The serving thread's own checks: cmocka's assertions belong to the
 * test's thread. */
#define FAKE_CHECK(condition)                                                                      \
    do {                                                                                           \
        if (!(condition)) {                                                                        \
            fprintf(stderr, "%s:%d: the fake daemon failed: %s\n", __FILE__, __LINE__,             \
                    #condition);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static void fake_record(struct fake_request *record, const void *bytes, size_t size)
{
    record->bytes = malloc(size);
    FAKE_CHECK(record->bytes);
    memcpy(record->bytes, bytes, size);
    record->size = size;
    Ledger__V1__Request *request = ledger__v1__request__unpack(NULL, size, bytes);
    if (request == NULL) {
        return;
    }
    record->mac_valid = request->mac.len == crypto_auth_hmacsha256_BYTES &&
                        crypto_auth_hmacsha256_verify(request->mac.data, request->signed_.data,
                                                      request->signed_.len, fake_secret) == 0;
    record->signed_request =
        ledger__v1__signed_request__unpack(NULL, request->signed_.len, request->signed_.data);
    ledger__v1__request__free_unpacked(request, NULL);
    if (record->signed_request != NULL && record->signed_request->body != NULL) {
        record->body_size = ledger__v1__request_body__get_packed_size(record->signed_request->body);
        record->body = malloc(record->body_size + 1);
        FAKE_CHECK(record->body);
        ledger__v1__request_body__pack(record->signed_request->body, record->body);
    }
}

static void fake_send(struct fake *fake, union fake_control *control, const void *bytes,
                      size_t size)
{
    struct nn_iovec iov = {.iov_base = (void *)(uintptr_t)bytes, .iov_len = size};
    struct nn_msghdr header = {
        .msg_iov = &iov,
        .msg_iovlen = 1,
        .msg_control = control->bytes,
        .msg_controllen = sizeof control->bytes,
    };
    FAKE_CHECK(nn_sendmsg(fake->socket, &header, 0) >= 0);
}

/* A Reply to `request` (recorded, decoded) with this code, nonce and head:
 * for OK, one empty result per command, or an empty query result. */
static void fake_reply(struct fake *fake, union fake_control *control,
                       const Ledger__V1__SignedRequest *request, const struct fake_step *step,
                       ProtobufCBinaryData nonce, uint64_t head_sequence)
{
    Ledger__V1__ErrorCode code = step->code;
    const char *message = step->message;
    Ledger__V1__Reply reply = LEDGER__V1__REPLY__INIT;
    Ledger__V1__QueryResult result = LEDGER__V1__QUERY_RESULT__INIT;
    Ledger__V1__CommandResult command_result = LEDGER__V1__COMMAND_RESULT__INIT;
    Ledger__V1__CommandResult *results[LEDGER_BATCH_COMMANDS_MAX];
    Ledger__V1__Event events[FAKE_EVENTS_MAX];
    Ledger__V1__EventEntry entries[FAKE_EVENTS_MAX];
    Ledger__V1__EventEntry *entry_list[FAKE_EVENTS_MAX];
    reply.code = code;
    reply.message = (char *)(uintptr_t)(message != NULL ? message : "");
    reply.head_sequence = head_sequence;
    reply.request_nonce = nonce;
    reply.failed_index = step->failed_index;
    if (code == LEDGER__V1__ERROR_CODE__OK && request != NULL && request->body != NULL) {
        if (request->body->kind_case == LEDGER__V1__REQUEST_BODY__KIND_QUERY) {
            reply.query = step->no_query ? NULL : &result;
            FAKE_CHECK(step->event_count <= FAKE_EVENTS_MAX);
            for (size_t i = 0; i < step->event_count; i++) {
                Ledger__V1__Event event = LEDGER__V1__EVENT__INIT;
                Ledger__V1__EventEntry entry = LEDGER__V1__EVENT_ENTRY__INIT;
                events[i] = event;
                events[i].sequence = step->events[i];
                entries[i] = entry;
                entries[i].event = step->events[i] != 0 ? &events[i] : NULL;
                entry_list[i] = &entries[i];
            }
            result.events = entry_list;
            result.n_events = step->event_count;
            result.last_sequence = step->last_sequence;
        } else if (request->body->kind_case == LEDGER__V1__REQUEST_BODY__KIND_BATCH) {
            FAKE_CHECK(request->body->batch->n_commands <= LEDGER_BATCH_COMMANDS_MAX);
            if (step->secret_hex != NULL) {
                command_result.secret_hex = (char *)(uintptr_t)step->secret_hex;
            }
            for (size_t i = 0; i < request->body->batch->n_commands; i++) {
                results[i] = &command_result;
            }
            reply.results = results;
            reply.n_results = request->body->batch->n_commands - (step->short_results ? 1 : 0);
        }
    }
    size_t size = ledger__v1__reply__get_packed_size(&reply);
    uint8_t *bytes = malloc(size + 1);
    FAKE_CHECK(bytes);
    ledger__v1__reply__pack(&reply, bytes);
    fake_send(fake, control, bytes, size);
    free(bytes);
}

static ProtobufCBinaryData fake_nonce_of(const struct fake_request *record)
{
    ProtobufCBinaryData none = {0};
    return record->signed_request != NULL ? record->signed_request->nonce : none;
}

/* Answers request `index` as its step says. */
static void fake_answer(struct fake *fake, size_t index, const struct fake_step *step)
{
    struct fake_request *record = &fake->requests[index];
    struct fake_request *previous = index > 0 ? &fake->requests[index - 1] : NULL;
    if (step->delay_ms > 0) {
        struct timespec delay = {.tv_sec = step->delay_ms / 1000,
                                 .tv_nsec = (long)(step->delay_ms % 1000) * 1000000};
        while (nanosleep(&delay, &delay) != 0 && errno == EINTR) {
        }
    }
    if (step->late) {
        FAKE_CHECK(previous);
        const struct fake_step ok = {.code = LEDGER__V1__ERROR_CODE__OK};
        fake_reply(fake, &previous->control, previous->signed_request, &ok, fake_nonce_of(previous),
                   FAKE_LATE_HEAD);
    }
    if (step->garbage != NULL) {
        fake_send(fake, &record->control, step->garbage, strlen(step->garbage));
        return;
    }
    uint8_t wrong[LEDGER_NONCE_BYTES];
    ProtobufCBinaryData nonce = {0};
    switch (step->nonce) {
    case FAKE_NONCE_ECHO:
        nonce = fake_nonce_of(record);
        break;
    case FAKE_NONCE_NONE:
        break;
    case FAKE_NONCE_WRONG:
        randombytes_buf(wrong, sizeof wrong);
        nonce.data = wrong;
        nonce.len = sizeof wrong;
        break;
    case FAKE_NONCE_PREVIOUS:
        FAKE_CHECK(previous);
        nonce = fake_nonce_of(previous);
        break;
    }
    fake_reply(fake, &record->control, record->signed_request, step, nonce, step->head_sequence);
}

static void *fake_serve(void *argument)
{
    struct fake *fake = argument;
    while (!atomic_load(&fake->stop)) {
        union fake_control control;
        void *bytes = NULL;
        struct nn_iovec iov = {.iov_base = &bytes, .iov_len = NN_MSG};
        struct nn_msghdr header = {
            .msg_iov = &iov,
            .msg_iovlen = 1,
            .msg_control = control.bytes,
            .msg_controllen = sizeof control.bytes,
        };
        int received = nn_recvmsg(fake->socket, &header, 0);
        if (received < 0) {
            continue; /* the receive slice ended: look at the stop flag */
        }
        pthread_mutex_lock(&fake->lock);
        size_t index = fake->request_count;
        struct fake_step step = {.silent = true};
        if (index < FAKE_REQUESTS_MAX) {
            fake_record(&fake->requests[index], bytes, (size_t)received);
            fake->requests[index].control = control;
            if (index < fake->step_count) {
                step = fake->steps[index];
            }
            fake->request_count++;
        }
        pthread_cond_broadcast(&fake->changed);
        pthread_mutex_unlock(&fake->lock);
        nn_freemsg(bytes);
        if (!step.silent) {
            fake_answer(fake, index, &step);
        }
    }
    return NULL;
}

static void fake_start(struct fake *fake)
{
    memset(fake, 0, sizeof *fake);
    assert_true(sodium_init() >= 0);
    test_make_dir(fake->dir, sizeof fake->dir, "client-fake");
    snprintf(fake->url, sizeof fake->url, "ipc://%s/ledger.sock", fake->dir);
    fake->socket = nn_socket(AF_SP_RAW, NN_REP);
    assert_true(fake->socket >= 0);
    int slice = FAKE_RECEIVE_SLICE_MS;
    assert_int_equal(0,
                     nn_setsockopt(fake->socket, NN_SOL_SOCKET, NN_RCVTIMEO, &slice, sizeof slice));
    assert_true(nn_bind(fake->socket, fake->url) >= 0);
    pthread_mutex_init(&fake->lock, NULL);
    pthread_cond_init(&fake->changed, NULL);
    assert_int_equal(0, pthread_create(&fake->thread, NULL, fake_serve, fake));
}

static void fake_stop(struct fake *fake)
{
    atomic_store(&fake->stop, true);
    pthread_join(fake->thread, NULL);
    nn_close(fake->socket);
    for (size_t i = 0; i < fake->request_count; i++) {
        free(fake->requests[i].bytes);
        free(fake->requests[i].body);
        if (fake->requests[i].signed_request != NULL) {
            ledger__v1__signed_request__free_unpacked(fake->requests[i].signed_request, NULL);
        }
    }
    pthread_cond_destroy(&fake->changed);
    pthread_mutex_destroy(&fake->lock);
    test_remove_dir(fake->dir);
}

/* Appends steps to the script: the answers to the next requests. */
static void fake_script(struct fake *fake, const struct fake_step *steps, size_t count)
{
    pthread_mutex_lock(&fake->lock);
    assert_true(fake->step_count + count <= FAKE_REQUESTS_MAX);
    memcpy(fake->steps + fake->step_count, steps, count * sizeof *steps);
    fake->step_count += count;
    pthread_mutex_unlock(&fake->lock);
}

/* Waits until `count` requests were received (failing the test after a
 * generous deadline); returns how many there are. */
static size_t fake_wait(struct fake *fake, size_t count)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    int64_t wait_ms = test_timeout_ms(10000);
    deadline.tv_sec += wait_ms / 1000;
    deadline.tv_nsec += (wait_ms % 1000) * 1000000;
    if (deadline.tv_nsec >= 1000000000) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&fake->lock);
    int rc = 0;
    while (fake->request_count < count && rc == 0) {
        rc = pthread_cond_timedwait(&fake->changed, &fake->lock, &deadline);
    }
    size_t received = fake->request_count;
    pthread_mutex_unlock(&fake->lock);
    assert_true(received >= count);
    return received;
}

/* Request i, once received; a well-formed, correctly signed request of
 * alice, as the library always sends. */
static const struct fake_request *fake_request(struct fake *fake, size_t i)
{
    fake_wait(fake, i + 1);
    const struct fake_request *record = &fake->requests[i];
    assert_non_null(record->signed_request);
    assert_true(record->mac_valid);
    assert_string_equal("alice", record->signed_request->principal_id);
    assert_int_equal(LEDGER_NONCE_BYTES, record->signed_request->nonce.len);
    assert_non_null(record->body);
    return record;
}

static bool same_nonce(const struct fake_request *a, const struct fake_request *b)
{
    return memcmp(a->signed_request->nonce.data, b->signed_request->nonce.data,
                  LEDGER_NONCE_BYTES) == 0;
}

static bool same_bytes(const struct fake_request *a, const struct fake_request *b)
{
    return a->size == b->size && memcmp(a->bytes, b->bytes, a->size) == 0;
}

static struct ledger_client *fake_client(struct fake *fake, uint32_t timeout_ms, uint32_t retries)
{
    struct ledger_options options = {.request_url = fake->url,
                                     .principal_id = "alice",
                                     .secret = fake_secret,
                                     .timeout_ms = timeout_ms,
                                     .retries = retries};
    struct ledger_client *client = NULL;
    assert_int_equal(LEDGER_ERR_OK, ledger_connect(&options, &client));
    return client;
}

/* A timeout for attempts that are answered: long, so that only a step
 * scripted silent ever times out. */
static uint32_t answered_timeout_ms(void)
{
    return (uint32_t)test_timeout_ms(30000);
}

/* A timeout for tests that wait for one to pass: short, yet long enough
 * for an answered attempt of the same test on a loaded machine. */
static uint32_t silent_timeout_ms(void)
{
    return (uint32_t)test_timeout_ms(500);
}

static enum ledger_err head_query(struct ledger_client *client)
{
    Ledger__V1__HeadQuery head = LEDGER__V1__HEAD_QUERY__INIT;
    Ledger__V1__Query query = LEDGER__V1__QUERY__INIT;
    query.kind_case = LEDGER__V1__QUERY__KIND_HEAD;
    query.head = &head;
    Ledger__V1__QueryResult *result = (Ledger__V1__QueryResult *)(uintptr_t)0x1;
    enum ledger_err err = ledger_query(client, &query, &result);
    if (err == LEDGER_ERR_OK) {
        ledger_query_result_free(result);
    } else {
        assert_true(result == (Ledger__V1__QueryResult *)(uintptr_t)0x1);
    }
    return err;
}

/* A batch of two commands, the second without an id (the library makes
 * one); on OK, checks one result each. */
static enum ledger_err two_commands(struct ledger_client *client)
{
    Ledger__V1__Command first = LEDGER__V1__COMMAND__INIT;
    first.command_id = "c-first";
    Ledger__V1__Command second = LEDGER__V1__COMMAND__INIT;
    const Ledger__V1__Command *commands[2] = {&first, &second};
    Ledger__V1__Reply *reply = NULL;
    enum ledger_err err = ledger_execute(client, commands, 2, &reply);
    if (err == LEDGER_ERR_OK) {
        assert_int_equal(2, reply->n_results);
        ledger_reply_free(reply);
    } else {
        assert_null(reply);
    }
    return err;
}

/* `call` (head_query or two_commands) on `client` is refused with `code`,
 * and the client's error message is `message`. A macro, so that a failure
 * names the line of the call it checks. */
#define expect_refused(call, client, code, message)                                                \
    do {                                                                                           \
        assert_int_equal((code), call(client));                                                    \
        assert_string_equal((message), ledger_error_message(client));                              \
    } while (0)

static void test_client_undecodable_reply(void **state)
{
    (void)state;
    struct fake fake;
    fake_start(&fake);
    struct ledger_client *client = fake_client(&fake, answered_timeout_ms(), 2);
    const struct fake_step steps[] = {
        {.garbage = "not a ledger.v1.Reply"},
        {.garbage = "\x0a\x7f"}, /* a message field cut short */
        {.head_sequence = 7},
        {.head_sequence = 8},
    };
    fake_script(&fake, steps, sizeof steps / sizeof steps[0]);
    expect_refused(head_query, client, LEDGER_ERR_PROTOCOL_ERROR,
                   "the reply does not decode as ledger.v1.Reply");
    expect_refused(two_commands, client, LEDGER_ERR_PROTOCOL_ERROR,
                   "the reply does not decode as ledger.v1.Reply");
    /* Usable afterwards, for a query and a command. */
    assert_int_equal(LEDGER_ERR_OK, head_query(client));
    assert_int_equal(7, ledger_head_sequence(client));
    assert_string_equal("", ledger_error_message(client));
    assert_int_equal(LEDGER_ERR_OK, two_commands(client));
    assert_int_equal(8, ledger_head_sequence(client));
    /* A reply that does not decode is not a reason to send again: one
     * request per call, each with its own nonce. */
    assert_int_equal(4, fake_wait(&fake, 4));
    for (size_t i = 1; i < 4; i++) {
        assert_false(same_nonce(fake_request(&fake, i - 1), fake_request(&fake, i)));
    }
    ledger_close(client);
    fake_stop(&fake);
}

static void test_client_nonce_echo(void **state)
{
    (void)state;
    struct fake fake;
    fake_start(&fake);
    struct ledger_client *client = fake_client(&fake, answered_timeout_ms(), 2);
    const char *not_echoed = "the reply does not echo the request's nonce";
    const struct fake_step steps[] = {
        {.nonce = FAKE_NONCE_WRONG, .head_sequence = 5},
        {.nonce = FAKE_NONCE_NONE, .head_sequence = 5},
        {.nonce = FAKE_NONCE_WRONG},
        {.nonce = FAKE_NONCE_NONE},
        /* A refusal must echo it too, unless it has no nonce at all. */
        {.code = LEDGER__V1__ERROR_CODE__FORBIDDEN,
         .message = "not yours",
         .nonce = FAKE_NONCE_WRONG},
        /* What the daemon sends for a request it could not decode. */
        {.code = LEDGER__V1__ERROR_CODE__BAD_REQUEST,
         .message = "the request does not decode",
         .nonce = FAKE_NONCE_NONE,
         .head_sequence = 9},
        {.head_sequence = 10},
    };
    fake_script(&fake, steps, sizeof steps / sizeof steps[0]);
    expect_refused(head_query, client, LEDGER_ERR_PROTOCOL_ERROR, not_echoed);
    expect_refused(head_query, client, LEDGER_ERR_PROTOCOL_ERROR, not_echoed);
    expect_refused(two_commands, client, LEDGER_ERR_PROTOCOL_ERROR, not_echoed);
    expect_refused(two_commands, client, LEDGER_ERR_PROTOCOL_ERROR, not_echoed);
    expect_refused(two_commands, client, LEDGER_ERR_PROTOCOL_ERROR, not_echoed);
    /* A reply not taken is not taken in part: the head is not its head. */
    assert_int_equal(0, ledger_head_sequence(client));
    expect_refused(two_commands, client, LEDGER_ERR_BAD_REQUEST, "the request does not decode");
    assert_int_equal(9, ledger_head_sequence(client));
    assert_int_equal(LEDGER_ERR_OK, head_query(client));
    assert_int_equal(10, ledger_head_sequence(client));
    /* One request per call. */
    assert_int_equal(7, fake_wait(&fake, 7));
    ledger_close(client);
    fake_stop(&fake);
}

/* Replies that decode and echo the nonce but do not fit the request: a
 * code the client does not know, a batch answered with fewer results than
 * commands, a query answered without its result. Each is PROTOCOL_ERROR
 * with a message, the client stays usable, and a refused batch's failing
 * index is kept until the next call. A refusal without a message gets its
 * code's description. */
static void test_client_reply_shapes(void **state)
{
    (void)state;
    struct fake fake;
    fake_start(&fake);
    struct ledger_client *client = fake_client(&fake, answered_timeout_ms(), 2);
    const struct fake_step steps[] = {
        {.code = (Ledger__V1__ErrorCode)999, .message = "from the future", .head_sequence = 3},
        {.short_results = true, .head_sequence = 4},
        {.no_query = true, .head_sequence = 5},
        {.code = LEDGER__V1__ERROR_CODE__FORBIDDEN, .message = "not yours", .failed_index = 1},
        {.code = LEDGER__V1__ERROR_CODE__FORBIDDEN}, /* without a message */
        {.head_sequence = 6},
    };
    fake_script(&fake, steps, sizeof steps / sizeof steps[0]);
    expect_refused(head_query, client, LEDGER_ERR_PROTOCOL_ERROR,
                   "the daemon replied with unknown code 999");
    expect_refused(two_commands, client, LEDGER_ERR_PROTOCOL_ERROR,
                   "the reply has 1 results for 2 commands");
    expect_refused(head_query, client, LEDGER_ERR_PROTOCOL_ERROR,
                   "the reply to a query carries no result");
    expect_refused(two_commands, client, LEDGER_ERR_FORBIDDEN, "not yours");
    assert_int_equal(1, ledger_error_index(client));
    expect_refused(head_query, client, LEDGER_ERR_FORBIDDEN, ledger_strerror(LEDGER_ERR_FORBIDDEN));
    assert_int_equal(0, ledger_error_index(client));
    assert_int_equal(LEDGER_ERR_OK, two_commands(client));
    assert_int_equal(0, ledger_error_index(client));
    assert_string_equal("", ledger_error_message(client));
    assert_int_equal(6, ledger_head_sequence(client));
    assert_int_equal(0, ledger_error_index(NULL));
    assert_int_equal(6, fake_wait(&fake, 6));
    ledger_close(client);
    fake_stop(&fake);
}

/* A new principal's secret (a result's secret_hex) is wiped from every copy
 * the library made of it before that copy is freed: the received message and
 * the unpacked reply, when the caller frees it (ledger_reply_free) and when
 * the library refuses it (too few results). */
static void test_client_secret_wiped(void **state)
{
    (void)state;
    struct fake fake;
    fake_start(&fake);
    struct ledger_client *client = fake_client(&fake, answered_timeout_ms(), 0);
    const struct fake_step steps[] = {
        {.secret_hex = SECRET_WATCHED, .head_sequence = 2},
        {.secret_hex = SECRET_WATCHED, .short_results = true, .head_sequence = 3},
    };
    fake_script(&fake, steps, sizeof steps / sizeof steps[0]);
    atomic_store(&secrets_freed_unwiped, 0);
    Ledger__V1__Command command = LEDGER__V1__COMMAND__INIT;
    const Ledger__V1__Command *commands[1] = {&command};
    Ledger__V1__Reply *reply = NULL;
    assert_int_equal(LEDGER_ERR_OK, ledger_execute(client, commands, 1, &reply));
    assert_string_equal(SECRET_WATCHED, reply->results[0]->secret_hex);
    ledger_reply_free(reply);
    assert_int_equal(LEDGER_ERR_PROTOCOL_ERROR, two_commands(client));
    assert_int_equal(0, atomic_load(&secrets_freed_unwiped));
    ledger_close(client);
    fake_stop(&fake);
}

/* The two requests of a re-signed attempt: the same body (so the same
 * command ids and command bytes), a new nonce and a new timestamp, each
 * signed correctly. */
static void assert_resigned(struct fake *fake, size_t first, size_t second)
{
    const struct fake_request *a = fake_request(fake, first);
    const struct fake_request *b = fake_request(fake, second);
    assert_int_equal(a->body_size, b->body_size);
    assert_memory_equal(a->body, b->body, a->body_size);
    assert_false(same_nonce(a, b));
    assert_true(b->signed_request->timestamp_us > a->signed_request->timestamp_us);
}

static void test_client_stale_request(void **state)
{
    (void)state;
    struct fake fake;
    fake_start(&fake);
    /* No retries: the re-signed attempt is an extra one. Each refusal is
     * quick, by the library's clock (monotonic_slow), so that a stalled
     * machine does not make a quick refusal of a fresh signature look like
     * one that waited in the daemon's queue. */
    struct ledger_client *client = fake_client(&fake, answered_timeout_ms(), 0);
    monotonic_slow(true);
    const struct fake_step steps[] = {
        {.code = LEDGER__V1__ERROR_CODE__STALE_REQUEST,
         .message = "signed before this daemon started"},
        {.head_sequence = 3},
        {.code = LEDGER__V1__ERROR_CODE__STALE_REQUEST,
         .message = "signed before this daemon started"},
        {.head_sequence = 4},
        /* Twice: the second is the answer. */
        {.code = LEDGER__V1__ERROR_CODE__STALE_REQUEST, .message = "the first"},
        {.code = LEDGER__V1__ERROR_CODE__STALE_REQUEST, .message = "the second"},
        {.head_sequence = 6},
    };
    fake_script(&fake, steps, sizeof steps / sizeof steps[0]);
    assert_int_equal(LEDGER_ERR_OK, two_commands(client));
    assert_int_equal(3, ledger_head_sequence(client));
    assert_resigned(&fake, 0, 1);
    /* The command without an id got one, the same in both. */
    const Ledger__V1__CommandBatch *batch = fake_request(&fake, 1)->signed_request->body->batch;
    assert_non_null(batch);
    assert_int_equal(2, batch->n_commands);
    Ledger__V1__Command *second =
        ledger__v1__command__unpack(NULL, batch->commands[1].len, batch->commands[1].data);
    assert_non_null(second);
    assert_int_equal(34, strlen(second->command_id));
    ledger__v1__command__free_unpacked(second, NULL);

    assert_int_equal(LEDGER_ERR_OK, head_query(client));
    assert_int_equal(4, ledger_head_sequence(client));
    assert_resigned(&fake, 2, 3);

    assert_int_equal(LEDGER_ERR_STALE_REQUEST, two_commands(client));
    assert_string_equal("the second (signed again 1 time, refused each time: this host's clock "
                        "disagrees with the daemon's; synchronize it (NTP))",
                        ledger_error_message(client));
    assert_resigned(&fake, 4, 5);
    /* Not a third time: the next request is the next call's. */
    assert_int_equal(LEDGER_ERR_OK, head_query(client));
    assert_int_equal(6, ledger_head_sequence(client));
    assert_int_equal(7, fake_wait(&fake, 7));
    assert_int_equal(LEDGER__V1__REQUEST_BODY__KIND_QUERY,
                     fake_request(&fake, 6)->signed_request->body->kind_case);
    /* The library measured its attempts by the slowed clock. */
    assert_true(atomic_load(&monotonic_slowed_reads) >= 2 * 7);
    monotonic_slow(false);
    ledger_close(client);

    /* With one retry: STALE_REQUEST, then the re-signed attempt times out
     * and the retry sends those bytes again; the extra attempt took none
     * of the retries. */
    client = fake_client(&fake, silent_timeout_ms(), 1);
    const struct fake_step retried[] = {
        {.code = LEDGER__V1__ERROR_CODE__STALE_REQUEST},
        {.silent = true},
        {.head_sequence = 12},
    };
    fake_script(&fake, retried, sizeof retried / sizeof retried[0]);
    assert_int_equal(LEDGER_ERR_OK, two_commands(client));
    assert_int_equal(12, ledger_head_sequence(client));
    assert_int_equal(10, fake_wait(&fake, 10));
    assert_resigned(&fake, 7, 8);
    assert_true(same_bytes(fake_request(&fake, 8), fake_request(&fake, 9)));
    ledger_close(client);
    fake_stop(&fake);
}

/* A re-signed request refused STALE_REQUEST after waiting at least the
 * narrowest window (queued behind slow commits) is signed again, up to
 * LEDGER_STALE_RESIGNS_MAX times in one call, each an extra attempt; then
 * the refusal is returned, saying the daemon was too slow (a quick refusal
 * says the clock, test_client_stale_request). */
static void test_client_stale_request_after_waiting(void **state)
{
    (void)state;
    struct fake fake;
    fake_start(&fake);
    struct ledger_client *client = fake_client(&fake, answered_timeout_ms(), 0);
    const unsigned waited_ms = (unsigned)(LEDGER_AUTH_WINDOW_MIN_US / 1000) + 100;
    const struct fake_step steps[] = {
        {.code = LEDGER__V1__ERROR_CODE__STALE_REQUEST},
        {.code = LEDGER__V1__ERROR_CODE__STALE_REQUEST, .delay_ms = waited_ms},
        {.head_sequence = 5},
        {.code = LEDGER__V1__ERROR_CODE__STALE_REQUEST, .message = "left the window"},
        {.code = LEDGER__V1__ERROR_CODE__STALE_REQUEST,
         .message = "left the window",
         .delay_ms = waited_ms},
        {.code = LEDGER__V1__ERROR_CODE__STALE_REQUEST,
         .message = "left the window",
         .delay_ms = waited_ms},
        {.code = LEDGER__V1__ERROR_CODE__STALE_REQUEST,
         .message = "left the window",
         .delay_ms = waited_ms},
        {.head_sequence = 9},
    };
    fake_script(&fake, steps, sizeof steps / sizeof steps[0]);
    assert_int_equal(LEDGER_ERR_OK, two_commands(client));
    assert_int_equal(5, ledger_head_sequence(client));
    assert_resigned(&fake, 0, 1);
    assert_resigned(&fake, 1, 2);

    assert_int_equal(LEDGER_ERR_STALE_REQUEST, two_commands(client));
    char message[512];
    snprintf(message, sizeof message,
             "left the window (signed again %d times, refused each time: the daemon answers "
             "slower than its authentication window; retry later, or raise its auth_window_s)",
             LEDGER_STALE_RESIGNS_MAX);
    assert_string_equal(message, ledger_error_message(client));
    for (size_t i = 3; i < 6; i++) {
        assert_resigned(&fake, i, i + 1);
    }
    /* No fifth signature: the next request is the next call's. */
    assert_int_equal(LEDGER_ERR_OK, head_query(client));
    assert_int_equal(9, ledger_head_sequence(client));
    assert_int_equal(8, fake_wait(&fake, 8));
    assert_int_equal(LEDGER__V1__REQUEST_BODY__KIND_QUERY,
                     fake_request(&fake, 7)->signed_request->body->kind_case);
    ledger_close(client);
    fake_stop(&fake);
}

static void test_client_no_reply(void **state)
{
    (void)state;
    struct fake fake;
    fake_start(&fake);
    uint32_t timeout_ms = silent_timeout_ms();
    struct ledger_client *client = fake_client(&fake, timeout_ms, 2);
    const struct fake_step steps[] = {
        {.silent = true}, {.silent = true}, {.silent = true}, {.head_sequence = 2}};
    fake_script(&fake, steps, sizeof steps / sizeof steps[0]);
    int sends = atomic_load(&send_calls);
    assert_int_equal(LEDGER_ERR_TIMEOUT, head_query(client));
    assert_int_equal(3, atomic_load(&send_calls) - sends);
    char message[512];
    snprintf(message, sizeof message, "no reply from %s after 3 attempt(s) of %u ms", fake.url,
             timeout_ms);
    assert_string_equal(message, ledger_error_message(client));
    /* Three sends of the same bytes, then the next call's request: nothing
     * else was sent, by the library or by nanomsg on its own. */
    assert_int_equal(LEDGER_ERR_OK, head_query(client));
    assert_int_equal(2, ledger_head_sequence(client));
    assert_int_equal(4, fake_wait(&fake, 4));
    assert_true(same_bytes(fake_request(&fake, 0), fake_request(&fake, 1)));
    assert_true(same_bytes(fake_request(&fake, 0), fake_request(&fake, 2)));
    assert_false(same_nonce(fake_request(&fake, 2), fake_request(&fake, 3)));
    ledger_close(client);
    fake_stop(&fake);
}

/* A command whose first attempt reached the daemon (connected when it
 * timed out) may have been committed, even when the daemon is gone by the
 * last attempt (no connection then): that is TIMEOUT, "no reply", never
 * UNREACHABLE, which says that no daemon received anything. */
static void test_client_no_reply_after_it_was_received(void **state)
{
    (void)state;
    struct fake fake;
    fake_start(&fake);
    uint32_t timeout_ms = silent_timeout_ms();
    struct ledger_client *client = fake_client(&fake, timeout_ms, 1);
    const struct fake_step steps[] = {{.silent = true}, {.silent = true}};
    fake_script(&fake, steps, sizeof steps / sizeof steps[0]);
    connections_script[0] = 1;
    connections_script[1] = 0;
    atomic_store(&connections_next, 0);
    atomic_store(&connections_left, 2);
    assert_int_equal(LEDGER_ERR_TIMEOUT, two_commands(client));
    atomic_store(&connections_left, 0);
    char message[512];
    snprintf(message, sizeof message, "no reply from %s after 2 attempt(s) of %u ms", fake.url,
             timeout_ms);
    assert_string_equal(message, ledger_error_message(client));
    ledger_close(client);
    fake_stop(&fake);
}

/* A reply to an earlier attempt of the same call, arriving before the
 * current one, is not taken for it. After STALE_REQUEST the re-signed
 * attempt goes out on the same socket: the daemon's second reply to the
 * first attempt (its REQ id) comes first and is dropped, the current one
 * is returned. The first attempt's reply delivered as the answer to the
 * current request (its REQ id, the earlier nonce) is PROTOCOL_ERROR: only
 * the nonce tells it apart. */
static void test_client_late_reply(void **state)
{
    (void)state;
    struct fake fake;
    fake_start(&fake);
    struct ledger_client *client = fake_client(&fake, answered_timeout_ms(), 0);
    const struct fake_step steps[] = {
        {.code = LEDGER__V1__ERROR_CODE__STALE_REQUEST},
        {.late = true, .head_sequence = 222},
        {.code = LEDGER__V1__ERROR_CODE__STALE_REQUEST},
        {.nonce = FAKE_NONCE_PREVIOUS, .head_sequence = 333},
        {.head_sequence = 444},
    };
    fake_script(&fake, steps, sizeof steps / sizeof steps[0]);
    assert_int_equal(LEDGER_ERR_OK, two_commands(client));
    assert_int_equal(222, ledger_head_sequence(client));
    expect_refused(two_commands, client, LEDGER_ERR_PROTOCOL_ERROR,
                   "the reply does not echo the request's nonce");
    assert_int_equal(222, ledger_head_sequence(client));
    assert_int_equal(LEDGER_ERR_OK, head_query(client));
    assert_int_equal(444, ledger_head_sequence(client));
    assert_int_equal(5, fake_wait(&fake, 5));
    ledger_close(client);
    fake_stop(&fake);
}

/* The sequences a subscription delivered, in order. */
struct delivered {
    uint64_t sequences[16];
    size_t count;
    uint64_t stop_at; /* the callback stops the subscription at this event */
    unsigned syncs;   /* before_checkpoint calls that succeeded */
    bool fail_sync;   /* before_checkpoint fails */
};

static int deliver(void *context, const Ledger__V1__EventEntry *entry)
{
    struct delivered *delivered = context;
    assert_true(delivered->count < sizeof delivered->sequences / sizeof delivered->sequences[0]);
    delivered->sequences[delivered->count++] = entry->event->sequence;
    return entry->event->sequence == delivered->stop_at;
}

static enum ledger_err count_sync(void *context)
{
    struct delivered *delivered = context;
    if (delivered->fail_sync) {
        return LEDGER_ERR_IO_ERROR;
    }
    delivered->syncs++;
    return LEDGER_ERR_OK;
}

/* The events query of request i. */
static const Ledger__V1__EventsQuery *events_query(struct fake *fake, size_t i)
{
    const Ledger__V1__RequestBody *body = fake_request(fake, i)->signed_request->body;
    assert_int_equal(LEDGER__V1__REQUEST_BODY__KIND_QUERY, body->kind_case);
    assert_int_equal(LEDGER__V1__QUERY__KIND_EVENTS, body->query->kind_case);
    return body->query->events;
}

/* The catch-up loop against scripted pages: each query carries the
 * subscription's partner, customer, types, page limit and proofs, and
 * each next one asks after the highest sequence the daemon examined
 * (last_sequence), events it filtered out included; it ends at the head, or at the end of a fixed
 * tree (tree_size) without asking again; the checkpoint file follows. A
 * following subscription that starts past the head waits there. */
static void test_client_subscribe_pages(void **state)
{
    struct paths *paths = *state;
    struct fake fake;
    fake_start(&fake);
    struct ledger_client *client = fake_client(&fake, answered_timeout_ms(), 0);
    const struct fake_step pages[] = {
        {.events = {1, 2}, .event_count = 2, .last_sequence = 4, .head_sequence = 9},
        {.last_sequence = 6, .head_sequence = 9}, /* all filtered out */
        {.events = {7}, .event_count = 1, .last_sequence = 7, .head_sequence = 9},
        {.events = {8, 9}, .event_count = 2, .last_sequence = 9, .head_sequence = 9},
    };
    fake_script(&fake, pages, sizeof pages / sizeof pages[0]);
    char checkpoint[300], lock[320];
    snprintf(checkpoint, sizeof checkpoint, "%s/pages.checkpoint", paths->dir);
    snprintf(lock, sizeof lock, "%s.lock", checkpoint);
    struct ledger_subscription subscription;
    memset(&subscription, 0, sizeof subscription);
    subscription.checkpoint_path = checkpoint;
    subscription.checkpoint_mode = LEDGER_CHECKPOINT_EACH_PAGE;
    subscription.partner_id = "contoso";
    subscription.customer_id = "customer-1";
    const char *types[2] = {"reservation_purchased", "savings_plan_purchased"};
    subscription.types = types;
    subscription.type_count = 2;
    subscription.page_limit = 2;
    subscription.include_proofs = true;
    struct delivered delivered = {.count = 0};
    enum ledger_err err = ledger_subscribe(client, &subscription, deliver, &delivered);
    if (err != LEDGER_ERR_OK) {
        fail_msg("%s: %s", ledger_err_name(err), ledger_error_message(client));
    }
    const uint64_t expected[] = {1, 2, 7, 8, 9};
    assert_int_equal(5, delivered.count);
    assert_memory_equal(expected, delivered.sequences, sizeof expected);
    const uint64_t asked_after[] = {0, 4, 6, 7};
    assert_int_equal(4, fake_wait(&fake, 4));
    for (size_t i = 0; i < 4; i++) {
        const Ledger__V1__EventsQuery *query = events_query(&fake, i);
        assert_int_equal(asked_after[i], query->after_sequence);
        /* Every page asks for what the subscription says. */
        assert_string_equal("contoso",
                            fake_request(&fake, i)->signed_request->body->query->partner_id);
        assert_string_equal("customer-1", query->customer_id);
        assert_int_equal(2, query->n_types);
        assert_string_equal(types[0], query->types[0]);
        assert_string_equal(types[1], query->types[1]);
        assert_int_equal(2, query->limit);
        assert_true(query->include_proofs);
        assert_int_equal(0, query->tree_size);
    }
    uint64_t sequence = 0;
    assert_int_equal(LEDGER_ERR_OK, ledger_checkpoint_read(checkpoint, &sequence));
    assert_int_equal(9, sequence);
    assert_int_equal(0, unlink(checkpoint));
    assert_int_equal(0, unlink(lock));

    /* Following from past the head is only a place to start: the head is
     * not behind anything delivered yet, page after page, until events
     * come. */
    const struct fake_step ahead[] = {
        {.head_sequence = 3},
        {.head_sequence = 3},
        {.events = {8}, .event_count = 1, .last_sequence = 8, .head_sequence = 8},
    };
    fake_script(&fake, ahead, sizeof ahead / sizeof ahead[0]);
    memset(&subscription, 0, sizeof subscription);
    subscription.after_sequence = 7;
    subscription.follow = true;
    subscription.poll_interval_ms = 1;
    delivered = (struct delivered){.stop_at = 8};
    assert_int_equal(LEDGER_ERR_OK, ledger_subscribe(client, &subscription, deliver, &delivered));
    assert_int_equal(1, delivered.count);
    assert_int_equal(8, delivered.sequences[0]);
    for (size_t i = 4; i < 7; i++) {
        assert_int_equal(7, events_query(&fake, i)->after_sequence);
    }

    /* A fixed tree of 3 events ends with its third, though the head is
     * further on. */
    const struct fake_step tree[] = {
        {.events = {1, 2, 3}, .event_count = 3, .last_sequence = 3, .head_sequence = 9},
        {.last_sequence = 3, .head_sequence = 9},
    };
    fake_script(&fake, tree, sizeof tree / sizeof tree[0]);
    memset(&subscription, 0, sizeof subscription);
    subscription.tree_size = 3;
    delivered.count = 0;
    assert_int_equal(LEDGER_ERR_OK, ledger_subscribe(client, &subscription, deliver, &delivered));
    assert_int_equal(3, delivered.count);
    assert_int_equal(3, events_query(&fake, 7)->tree_size);
    ledger_close(client);
    fake_stop(&fake); /* joins the serving thread: no request is on its way */
    assert_int_equal(8, fake.request_count);
}

/* before_checkpoint runs before a checkpoint write that covers an event
 * whose callback returned since it last ran, and only then: not for a
 * write that covers only events filtered out, nor for a write that would
 * not move the checkpoint. Pages: events 1 and 2; 3 and 4 filtered out;
 * event 5 with 6 and 7 filtered out; event 8, the head. */
static void test_client_subscribe_before_checkpoint(void **state)
{
    struct paths *paths = *state;
    struct fake fake;
    fake_start(&fake);
    struct ledger_client *client = fake_client(&fake, answered_timeout_ms(), 0);
    const struct fake_step pages[] = {
        {.events = {1, 2}, .event_count = 2, .last_sequence = 2, .head_sequence = 8},
        {.last_sequence = 4, .head_sequence = 8},
        {.events = {5}, .event_count = 1, .last_sequence = 7, .head_sequence = 8},
        {.events = {8}, .event_count = 1, .last_sequence = 8, .head_sequence = 8},
    };
    char checkpoint[300], lock[320];
    snprintf(checkpoint, sizeof checkpoint, "%s/synced.checkpoint", paths->dir);
    snprintf(lock, sizeof lock, "%s.lock", checkpoint);
    /* After each page's last callback: 2 (synced), 4 (only filtered out),
     * 5 (synced) and 7 (only filtered out), 8 (synced). */
    fake_script(&fake, pages, sizeof pages / sizeof pages[0]);
    struct ledger_subscription subscription;
    memset(&subscription, 0, sizeof subscription);
    subscription.checkpoint_path = checkpoint;
    subscription.checkpoint_mode = LEDGER_CHECKPOINT_EACH_PAGE;
    subscription.before_checkpoint = count_sync;
    struct delivered delivered = {.count = 0};
    assert_int_equal(LEDGER_ERR_OK, ledger_subscribe(client, &subscription, deliver, &delivered));
    assert_int_equal(4, delivered.count);
    assert_int_equal(3, delivered.syncs);
    uint64_t sequence = 0;
    assert_int_equal(LEDGER_ERR_OK, ledger_checkpoint_read(checkpoint, &sequence));
    assert_int_equal(8, sequence);
    assert_int_equal(0, unlink(checkpoint));

    /* Before each callback: 1 (nothing to sync yet), 2 (synced: event 1);
     * after the pages: 4 (synced: event 2); 5 (nothing since), 7 (synced:
     * event 5); 8 (nothing since). No write at the end of the first page
     * or the last, where the checkpoint already names their last event. */
    fake_script(&fake, pages, sizeof pages / sizeof pages[0]);
    subscription.checkpoint_mode = LEDGER_CHECKPOINT_BEFORE_EVENT;
    delivered = (struct delivered){.count = 0};
    assert_int_equal(LEDGER_ERR_OK, ledger_subscribe(client, &subscription, deliver, &delivered));
    assert_int_equal(4, delivered.count);
    assert_int_equal(3, delivered.syncs);
    assert_int_equal(LEDGER_ERR_OK, ledger_checkpoint_read(checkpoint, &sequence));
    assert_int_equal(8, sequence);
    assert_int_equal(0, unlink(checkpoint));

    /* When it fails before event 2, event 2 is not delivered: its
     * checkpoint was not written. */
    fake_script(&fake, pages, 1);
    delivered = (struct delivered){.fail_sync = true};
    assert_int_equal(LEDGER_ERR_IO_ERROR,
                     ledger_subscribe(client, &subscription, deliver, &delivered));
    assert_int_equal(1, delivered.count);
    char says[600];
    snprintf(says, sizeof says,
             "the consumer's output before sequence 2 is not durable (IO_ERROR): the checkpoint "
             "file %s was not advanced",
             checkpoint);
    assert_string_equal(says, ledger_error_message(client));
    assert_int_equal(LEDGER_ERR_OK, ledger_checkpoint_read(checkpoint, &sequence));
    assert_int_equal(1, sequence);
    assert_int_equal(0, unlink(checkpoint));
    assert_int_equal(0, unlink(lock));
    ledger_close(client);
    fake_stop(&fake);
}

/* Only a following subscription waits for a daemon that went away; one
 * that catches up and returns reports it, with what came before it
 * delivered. */
static void test_client_subscribe_catch_up_lost(void **state)
{
    (void)state;
    struct fake fake;
    fake_start(&fake);
    struct ledger_client *client = fake_client(&fake, silent_timeout_ms(), 0);
    const struct fake_step pages[] = {
        {.events = {1}, .event_count = 1, .last_sequence = 1, .head_sequence = 3},
        {.silent = true},
        {.events = {2, 3}, .event_count = 2, .last_sequence = 3, .head_sequence = 3},
    };
    fake_script(&fake, pages, sizeof pages / sizeof pages[0]);
    struct ledger_subscription subscription;
    memset(&subscription, 0, sizeof subscription);
    struct delivered delivered = {.count = 0};
    assert_int_equal(LEDGER_ERR_TIMEOUT,
                     ledger_subscribe(client, &subscription, deliver, &delivered));
    assert_int_equal(1, delivered.count);
    ledger_close(client);
    fake_stop(&fake); /* joins the serving thread: no request is on its way */
    assert_int_equal(2, fake.request_count);
}

/* Pages that cannot be right: an event not after the one before it (the
 * same sequence again), an entry without its event, and a head behind an
 * event already delivered. Each ends the subscription with its code and a
 * message, after the events before it were delivered once. */
static void test_client_subscribe_bad_pages(void **state)
{
    (void)state;
    struct fake fake;
    fake_start(&fake);
    struct ledger_client *client = fake_client(&fake, answered_timeout_ms(), 0);
    const struct fake_step pages[] = {
        {.events = {5, 5}, .event_count = 2, .last_sequence = 5, .head_sequence = 9},
        {.events = {5, 0}, .event_count = 2, .last_sequence = 6, .head_sequence = 9},
        {.events = {1, 2}, .event_count = 2, .last_sequence = 2, .head_sequence = 5},
        {.last_sequence = 2, .head_sequence = 1},
    };
    fake_script(&fake, pages, sizeof pages / sizeof pages[0]);
    struct ledger_subscription subscription;
    memset(&subscription, 0, sizeof subscription);
    subscription.after_sequence = 4;
    struct delivered delivered = {.count = 0};
    assert_int_equal(LEDGER_ERR_PROTOCOL_ERROR,
                     ledger_subscribe(client, &subscription, deliver, &delivered));
    assert_string_equal("the daemon returned events out of order: sequence 5 after sequence 5",
                        ledger_error_message(client));
    assert_int_equal(1, delivered.count);
    assert_int_equal(LEDGER_ERR_PROTOCOL_ERROR,
                     ledger_subscribe(client, &subscription, deliver, &delivered));
    assert_string_equal("the daemon returned an events entry without its event (after sequence 5)",
                        ledger_error_message(client));
    assert_int_equal(2, delivered.count);
    subscription.after_sequence = 0;
    delivered.count = 0;
    assert_int_equal(LEDGER_ERR_MISMATCH,
                     ledger_subscribe(client, &subscription, deliver, &delivered));
    assert_string_equal("the ledger's head is sequence 1, behind sequence 2 this feed already "
                        "delivered: the daemon serves a shorter history (restored from an older "
                        "backup?) or another ledger",
                        ledger_error_message(client));
    assert_int_equal(2, delivered.count);
    assert_int_equal(4, fake_wait(&fake, 4));
    assert_int_equal(2, events_query(&fake, 3)->after_sequence);
    ledger_close(client);
    fake_stop(&fake);
}

/* The next wait for a reply fails with `error` once the fake daemon has
 * received `after` requests. */
static void fail_next_wait(struct fake *fake, size_t after, int error)
{
    recv_failure_fake = fake;
    recv_failure_after = after;
    atomic_store(&recv_errno, error);
    atomic_store(&recv_failures, 1);
}

/* A resend that would reach the daemon late in its authentication window
 * is signed again (the same body, a new nonce and timestamp): the wait
 * for the first reply lasted past half the window. */
static void test_client_resend_resigned_when_old(void **state)
{
    (void)state;
    struct fake fake;
    fake_start(&fake);
    struct ledger_client *client = fake_client(&fake, answered_timeout_ms(), 1);
    const struct fake_step steps[] = {
        {.silent = true}, /* its wait for the reply lasts too long */
        {.head_sequence = 2},
    };
    fake_script(&fake, steps, sizeof steps / sizeof steps[0]);
    atomic_store(&recv_failure_clock_us, LEDGER_AUTH_WINDOW_US / 2 + 1000000);
    fail_next_wait(&fake, 1, ETIMEDOUT);
    assert_int_equal(LEDGER_ERR_OK, two_commands(client));
    atomic_store(&recv_failure_clock_us, 0);
    recv_failure_fake = NULL;
    assert_int_equal(2, ledger_head_sequence(client));
    assert_resigned(&fake, 0, 1);
    assert_true(fake_request(&fake, 1)->signed_request->timestamp_us -
                    fake_request(&fake, 0)->signed_request->timestamp_us >
                LEDGER_AUTH_WINDOW_US / 2);
    atomic_store(&clock_shift_us, 0);
    ledger_close(client);
    fake_stop(&fake);
}

static void test_client_socket_failures(void **state)
{
    (void)state;
    struct fake fake;
    fake_start(&fake);
    struct ledger_client *client = fake_client(&fake, answered_timeout_ms(), 2);
    const struct fake_step steps[] = {
        {.silent = true}, /* its wait for the reply fails */
        {.head_sequence = 1}, {.head_sequence = 2},
        {.silent = true}, /* abandoned when its wait was interrupted */
        {.head_sequence = 4},
    };
    fake_script(&fake, steps, sizeof steps / sizeof steps[0]);

    /* A send that fails: returned at once, nothing sent again. */
    int sends = atomic_load(&send_calls);
    atomic_store(&send_errno, EBADF);
    atomic_store(&send_failures, 1);
    assert_int_equal(LEDGER_ERR_UNREACHABLE, head_query(client));
    assert_int_equal(1, atomic_load(&send_calls) - sends);
    char message[512];
    snprintf(message, sizeof message, "cannot send: %s", nn_strerror(EBADF));
    assert_string_equal(message, ledger_error_message(client));

    /* A wait for the reply that fails: the same. */
    sends = atomic_load(&send_calls);
    fail_next_wait(&fake, 1, EBADF);
    assert_int_equal(LEDGER_ERR_UNREACHABLE, two_commands(client));
    assert_int_equal(1, atomic_load(&send_calls) - sends);
    snprintf(message, sizeof message, "cannot receive: %s", nn_strerror(EBADF));
    assert_string_equal(message, ledger_error_message(client));
    assert_int_equal(LEDGER_ERR_OK, head_query(client));
    assert_int_equal(1, ledger_head_sequence(client));

    /* Sends that time out are attempts: all of them, then UNREACHABLE. */
    sends = atomic_load(&send_calls);
    atomic_store(&send_errno, ETIMEDOUT);
    atomic_store(&send_failures, 3);
    assert_int_equal(LEDGER_ERR_UNREACHABLE, head_query(client));
    assert_int_equal(3, atomic_load(&send_calls) - sends);
    snprintf(message, sizeof message,
             "no daemon answered at %s (3 attempt(s) of %u ms); is ledgerd running there?",
             fake.url, answered_timeout_ms());
    assert_string_equal(message, ledger_error_message(client));

    /* A send or a wait cut short by a signal is an attempt that timed
     * out: the next one is made. */
    sends = atomic_load(&send_calls);
    atomic_store(&send_errno, EINTR);
    atomic_store(&send_failures, 1);
    assert_int_equal(LEDGER_ERR_OK, two_commands(client));
    assert_int_equal(2, atomic_load(&send_calls) - sends);
    assert_int_equal(2, ledger_head_sequence(client));
    fail_next_wait(&fake, 4, EINTR);
    assert_int_equal(LEDGER_ERR_OK, head_query(client));
    assert_int_equal(4, ledger_head_sequence(client));
    assert_int_equal(5, fake_wait(&fake, 5));
    assert_true(same_bytes(fake_request(&fake, 3), fake_request(&fake, 4)));
    recv_failure_fake = NULL;
    ledger_close(client);
    fake_stop(&fake);
}

/* A callback that sets the stop flag: the subscription does not wait for
 * new events (here, an hour) but returns OK once the page is done. */
struct stopping {
    volatile sig_atomic_t stop;
    size_t count;
};

static int stop_after_event(void *context, const Ledger__V1__EventEntry *entry)
{
    (void)entry;
    struct stopping *stopping = context;
    stopping->count++;
    stopping->stop = 1;
    return 0;
}

static void test_client_subscribe_stopped_does_not_wait(void **state)
{
    (void)state;
    struct fake fake;
    fake_start(&fake);
    struct ledger_client *client = fake_client(&fake, answered_timeout_ms(), 0);
    const struct fake_step pages[] = {
        {.events = {1, 2}, .event_count = 2, .last_sequence = 2, .head_sequence = 2},
    };
    fake_script(&fake, pages, sizeof pages / sizeof pages[0]);
    struct stopping stopping = {.stop = 0};
    struct ledger_subscription subscription;
    memset(&subscription, 0, sizeof subscription);
    subscription.follow = true;
    subscription.poll_interval_ms = 3600 * 1000;
    subscription.stop = &stopping.stop;
    sleep_stop = &stopping.stop;
    atomic_store(&sleeps_while_stopped, 0);
    assert_int_equal(LEDGER_ERR_OK,
                     ledger_subscribe(client, &subscription, stop_after_event, &stopping));
    sleep_stop = NULL;
    assert_int_equal(0, atomic_load(&sleeps_while_stopped));
    assert_int_equal(2, stopping.count); /* a page begun is delivered whole */
    ledger_close(client);
    fake_stop(&fake);
    assert_int_equal(1, fake.request_count);
}

/* A doorbell ends the wait for new events at once (here, an hour's):
 * one poll finds it, the next query fetches the new event. */
static void test_client_subscribe_doorbell_ends_wait(void **state)
{
    (void)state;
    struct fake fake;
    fake_start(&fake);
    char events_url[340];
    snprintf(events_url, sizeof events_url, "ipc://%s/events.sock", fake.dir);
    struct ledger_options options = {.request_url = fake.url,
                                     .events_url = events_url,
                                     .principal_id = "alice",
                                     .secret = fake_secret,
                                     .timeout_ms = answered_timeout_ms()};
    struct ledger_client *client = NULL;
    assert_int_equal(LEDGER_ERR_OK, ledger_connect(&options, &client));
    const struct fake_step pages[] = {
        {.events = {1}, .event_count = 1, .last_sequence = 1, .head_sequence = 1},
        {.events = {2}, .event_count = 1, .last_sequence = 2, .head_sequence = 2},
    };
    fake_script(&fake, pages, sizeof pages / sizeof pages[0]);
    struct ledger_subscription subscription;
    memset(&subscription, 0, sizeof subscription);
    subscription.follow = true;
    subscription.poll_interval_ms = 3600 * 1000;
    struct delivered delivered = {.stop_at = 2};
    atomic_store(&doorbell_polls, 0);
    atomic_store(&doorbell_ringing, true);
    assert_int_equal(LEDGER_ERR_OK, ledger_subscribe(client, &subscription, deliver, &delivered));
    atomic_store(&doorbell_ringing, false);
    assert_int_equal(2, delivered.count);
    assert_int_equal(1, atomic_load(&doorbell_polls));
    ledger_close(client);
    fake_stop(&fake);
    assert_int_equal(2, fake.request_count);
}

/* A subscription's query is a request like any other: one that times out
 * is sent again, up to the retries, while the stop flag is not set. Once
 * a signal set the flag and cut the wait for the reply short, it is not
 * sent again and the subscription returns OK without delivering. */
static void test_client_subscribe_stop_while_waiting(void **state)
{
    (void)state;
    struct fake fake;
    fake_start(&fake);
    struct ledger_client *client = fake_client(&fake, silent_timeout_ms(), 1);
    const struct fake_step steps[] = {
        {.silent = true},
        {.events = {1, 2}, .event_count = 2, .last_sequence = 2, .head_sequence = 2},
        {.silent = true}, /* its wait is cut short by the signal */
        {.silent = true},
        {.head_sequence = 7},
    };
    fake_script(&fake, steps, sizeof steps / sizeof steps[0]);
    volatile sig_atomic_t stop = 0;
    struct ledger_subscription subscription;
    memset(&subscription, 0, sizeof subscription);
    subscription.stop = &stop;
    struct delivered delivered = {.count = 0};
    assert_int_equal(LEDGER_ERR_OK, ledger_subscribe(client, &subscription, deliver, &delivered));
    assert_int_equal(2, delivered.count);
    assert_true(same_bytes(fake_request(&fake, 0), fake_request(&fake, 1)));

    subscription.after_sequence = 2;
    subscription.follow = true;
    recv_failure_stop = &stop;
    fail_next_wait(&fake, 3, EINTR);
    delivered.count = 0;
    assert_int_equal(LEDGER_ERR_OK, ledger_subscribe(client, &subscription, deliver, &delivered));
    recv_failure_stop = NULL;
    recv_failure_fake = NULL;
    assert_int_equal(0, delivered.count);
    /* The flag was the subscription's: a later request that times out,
     * the flag still set, is sent again. */
    assert_int_equal(LEDGER_ERR_OK, head_query(client));
    assert_int_equal(7, ledger_head_sequence(client));
    assert_int_equal(LEDGER__V1__QUERY__KIND_HEAD,
                     fake_request(&fake, 3)->signed_request->body->query->kind_case);
    assert_true(same_bytes(fake_request(&fake, 3), fake_request(&fake, 4)));
    ledger_close(client);
    fake_stop(&fake); /* joins the serving thread: no request is on its way */
    assert_int_equal(5, fake.request_count);
}

/* Sets the stop flag from another thread, as ledger.h allows (an atomic
 * store), a while after the subscription began to wait for a reply. */
static void *stop_later(void *flag)
{
    struct timespec delay = {0, 300 * 1000000};
    nanosleep(&delay, NULL);
    __atomic_store_n((volatile sig_atomic_t *)flag, 1, __ATOMIC_RELAXED);
    return NULL;
}

static int64_t monotonic_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* A stop flag set by another thread interrupts no system call: the
 * subscription's wait for a reply still ends within a slice of it, not
 * after the whole timeout, and nothing is sent again. */
static void test_client_subscribe_stopped_by_another_thread(void **state)
{
    (void)state;
    struct fake fake;
    fake_start(&fake);
    uint32_t timeout_ms = (uint32_t)test_timeout_ms(20000);
    struct ledger_client *client = fake_client(&fake, timeout_ms, 1);
    const struct fake_step steps[] = {{.silent = true}, {.silent = true}};
    fake_script(&fake, steps, sizeof steps / sizeof steps[0]);
    volatile sig_atomic_t stop = 0;
    struct ledger_subscription subscription;
    memset(&subscription, 0, sizeof subscription);
    subscription.stop = &stop;
    subscription.follow = true;
    struct delivered delivered = {.count = 0};
    pthread_t thread;
    assert_int_equal(0, pthread_create(&thread, NULL, stop_later, (void *)&stop));
    int64_t started_ms = monotonic_ms();
    assert_int_equal(LEDGER_ERR_OK, ledger_subscribe(client, &subscription, deliver, &delivered));
    int64_t waited_ms = monotonic_ms() - started_ms;
    assert_int_equal(0, pthread_join(thread, NULL));
    assert_int_equal(0, delivered.count);
    assert_true(waited_ms < (int64_t)timeout_ms / 4);
    ledger_close(client);
    fake_stop(&fake);
    assert_int_equal(1, fake.request_count);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_connect_options),
        cmocka_unit_test(test_client_key_files),
        cmocka_unit_test(test_client_unreachable),
        cmocka_unit_test(test_client_subscribe_arguments),
        cmocka_unit_test(test_client_subscribe_checkpoint_lock),
        cmocka_unit_test(test_client_id_rule),
        cmocka_unit_test(test_client_command_ids),
        cmocka_unit_test(test_client_checkpoints),
        cmocka_unit_test(test_client_error_table_exported),
        cmocka_unit_test(test_client_undecodable_reply),
        cmocka_unit_test(test_client_nonce_echo),
        cmocka_unit_test(test_client_reply_shapes),
        cmocka_unit_test(test_client_secret_wiped),
        cmocka_unit_test(test_client_stale_request),
        cmocka_unit_test(test_client_stale_request_after_waiting),
        cmocka_unit_test(test_client_no_reply),
        cmocka_unit_test(test_client_no_reply_after_it_was_received),
        cmocka_unit_test(test_client_late_reply),
        cmocka_unit_test(test_client_socket_failures),
        cmocka_unit_test(test_client_resend_resigned_when_old),
        cmocka_unit_test(test_client_subscribe_pages),
        cmocka_unit_test(test_client_subscribe_before_checkpoint),
        cmocka_unit_test(test_client_subscribe_catch_up_lost),
        cmocka_unit_test(test_client_subscribe_bad_pages),
        cmocka_unit_test(test_client_subscribe_stop_while_waiting),
        cmocka_unit_test(test_client_subscribe_stopped_by_another_thread),
        cmocka_unit_test(test_client_subscribe_stopped_does_not_wait),
        cmocka_unit_test(test_client_subscribe_doorbell_ends_wait),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
