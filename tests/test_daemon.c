/*
 * test_daemon.c: the real ledgerd binary, end to end, over its wire protocol.
 *
 * Goal: what a client in any language relies on: every refusal code of
 * authentication and framing, commands that are durable across a restart,
 * idempotent retries, bad bytes that are answered while the daemon keeps
 * serving, the doorbell, IPC socket files no wider than 0660 whatever the
 * umask, a clean shutdown on SIGTERM that answers the
 * requests in flight, and a second daemon refused on the same data directory;
 * and what an operator meets: start-up, rebuild, backup and restore refusals,
 * each naming its cause.
 *
 * Method: each test initializes a fresh data directory with `ledgerd init`,
 * starts `ledgerd` (path in $LEDGERD, set by ctest) on it with its default IPC
 * sockets (one test on TCP ones), and speaks the protocol of docs/protocol.md
 * with a raw nanomsg REQ socket, protobuf-c messages (codec.h) and
 * HMAC-SHA256 (crypto.h), exactly as a client written from the document alone
 * would. The daemon's stderr goes to a log file that some tests read back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <nanomsg/nn.h>
#include <nanomsg/pubsub.h>
#include <nanomsg/reqrep.h>

#include "codec.h"
#include "crypto.h"
#include "ledger_limits.h"
#include "oldlog.h"
#include "rawproto.h"
#include "store.h"
#include "views.h"
#include "test_util.h"

#define PATH_SIZE 1024
/* A reply's wait: no test expects one to time out, so it only bounds a
 * failure. Generous, because the sanitizer build on a loaded machine
 * commits 8000 commands of in-flight batches in many seconds. */
#define REPLY_TIMEOUT_MS 30000

struct fixture {
    char root[PATH_SIZE - 128];
    char data[PATH_SIZE];
    char log_path[PATH_SIZE];
    char url[PATH_SIZE + 32];
    char events_url[PATH_SIZE + 32];
    uint8_t secret[LEDGER_SECRET_BYTES]; /* the operator's */
    pid_t pid;
    int client; /* REQ socket */
};

/* Starts ledgerd with `args` (NULL-terminated, after the program name),
 * stdout and stderr appended to the fixture's log. */
static pid_t spawn_in(struct fixture *f, const char *cwd, const char *const *args);

static pid_t spawn(struct fixture *f, const char *const *args)
{
    return spawn_in(f, NULL, args);
}

/* Runs `program` with `args` in working directory `cwd` (NULL: this one),
 * as user `uid` (NOBODY_UID; anything else: this process's), stdout and
 * stderr appended to the fixture's log. */
static pid_t spawn_program(struct fixture *f, const char *program, const char *cwd, uid_t uid,
                           const char *const *args);

/* The user tests of permissions run as (nobody). */
#define NOBODY_UID ((uid_t)65534)

/* The same, in working directory `cwd` (NULL: this one). */
static pid_t spawn_in(struct fixture *f, const char *cwd, const char *const *args)
{
    return spawn_program(f, ledgerd_path(), cwd, getuid(), args);
}

static pid_t spawn_program(struct fixture *f, const char *program, const char *cwd, uid_t uid,
                           const char *const *args)
{
    const char *argv[80];
    size_t n = 0;
    argv[n++] = program;
    for (size_t i = 0; args[i] != NULL && n < 79; i++) {
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(f->log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
            close(fd);
        }
        if (cwd != NULL && chdir(cwd) != 0) {
            _exit(126);
        }
        if (uid == NOBODY_UID &&
            (setgroups(0, NULL) != 0 || setgid((gid_t)NOBODY_UID) != 0 || setuid(uid) != 0)) {
            _exit(125);
        }
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

/* --- building requests -------------------------------------------------------------- */

/* Serialized AddPartner command with a correlation id ("" for none). */
static ProtobufCBinaryData command_add_partner_correlated(const char *command_id,
                                                          const char *partner_id, const char *name,
                                                          const char *correlation_id)
{
    Ledger__V1__AddPartner add = LEDGER__V1__ADD_PARTNER__INIT;
    add.partner_id = (char *)partner_id;
    add.name = (char *)name;
    Ledger__V1__Command command = LEDGER__V1__COMMAND__INIT;
    command.command_id = (char *)command_id;
    command.correlation_id = (char *)correlation_id;
    command.partner_id = (char *)partner_id;
    command.body_case = LEDGER__V1__COMMAND__BODY_ADD_PARTNER;
    command.add_partner = &add;
    ProtobufCBinaryData data = {0};
    assert_int_equal(codec_pack(&command.base, &data.data, &data.len), LEDGER_ERR_OK);
    return data;
}

/* Serialized AddPartner command. */
static ProtobufCBinaryData command_add_partner(const char *command_id, const char *partner_id,
                                               const char *name)
{
    return command_add_partner_correlated(command_id, partner_id, name, "");
}

/* Serialized AddPrincipal command; partner_id "": a principal of all partners. */
static ProtobufCBinaryData command_add_principal_of(const char *command_id,
                                                    const char *principal_id, Ledger__V1__Role role,
                                                    const char *partner_id)
{
    Ledger__V1__AddPrincipal add = LEDGER__V1__ADD_PRINCIPAL__INIT;
    add.principal_id = (char *)principal_id;
    add.role = role;
    add.partner_id = (char *)partner_id;
    Ledger__V1__Command command = LEDGER__V1__COMMAND__INIT;
    command.command_id = (char *)command_id;
    command.partner_id = (char *)partner_id;
    command.body_case = LEDGER__V1__COMMAND__BODY_ADD_PRINCIPAL;
    command.add_principal = &add;
    ProtobufCBinaryData data = {0};
    assert_int_equal(codec_pack(&command.base, &data.data, &data.len), LEDGER_ERR_OK);
    return data;
}

static ProtobufCBinaryData command_add_principal(const char *command_id, const char *principal_id,
                                                 Ledger__V1__Role role)
{
    return command_add_principal_of(command_id, principal_id, role, "");
}

static ProtobufCBinaryData command_revoke_principal(const char *command_id,
                                                    const char *principal_id)
{
    Ledger__V1__RevokePrincipal revoke = LEDGER__V1__REVOKE_PRINCIPAL__INIT;
    revoke.principal_id = (char *)principal_id;
    Ledger__V1__Command command = LEDGER__V1__COMMAND__INIT;
    command.command_id = (char *)command_id;
    command.body_case = LEDGER__V1__COMMAND__BODY_REVOKE_PRINCIPAL;
    command.revoke_principal = &revoke;
    ProtobufCBinaryData data = {0};
    assert_int_equal(codec_pack(&command.base, &data.data, &data.len), LEDGER_ERR_OK);
    return data;
}

/* --- calls -------------------------------------------------------------------------- */

/* Calls and checks the reply's code and nonce echo; returns the reply. */
static Ledger__V1__Reply *call_expect(int sock, const uint8_t *bytes, size_t size,
                                      const struct request_spec *spec, enum ledger_err expected)
{
    Ledger__V1__Reply *reply = call_bytes(sock, bytes, size);
    if (reply == NULL) {
        fail_msg("no reply (expected %s)", ledger_err_name(expected));
    }
    if ((int)reply->code != (int)expected) {
        fail_msg("reply %s \"%s\", expected %s", ledger_err_name((enum ledger_err)reply->code),
                 reply->message ? reply->message : "", ledger_err_name(expected));
    }
    if (expected != LEDGER_ERR_OK) {
        assert_true(reply->message != NULL && reply->message[0] != '\0');
    }
    if (spec != NULL) {
        assert_int_equal(reply->request_nonce.len, LEDGER_NONCE_BYTES);
        assert_memory_equal(reply->request_nonce.data, spec->nonce, LEDGER_NONCE_BYTES);
    }
    return reply;
}

/* Executes serialized commands as the operator; the reply must have `expected`. */
static Ledger__V1__Reply *operator_batch(struct fixture *f, ProtobufCBinaryData *commands,
                                         size_t count, enum ledger_err expected)
{
    struct request_spec spec = {.principal_id = "operator", .secret = f->secret};
    uint8_t *bytes = NULL;
    size_t size = 0;
    bytes = request_batch(&spec, commands, count, &size);
    Ledger__V1__Reply *reply = call_expect(f->client, bytes, size, &spec, expected);
    free(bytes);
    return reply;
}

/* A hot backup into `dir` asked as the operator; the reply must have
 * `expected`. */
static Ledger__V1__Reply *operator_backup(struct fixture *f, const char *dir,
                                          enum ledger_err expected)
{
    Ledger__V1__BackupQuery backup_query = LEDGER__V1__BACKUP_QUERY__INIT;
    backup_query.directory = (char *)dir;
    Ledger__V1__Query query = LEDGER__V1__QUERY__INIT;
    query.kind_case = LEDGER__V1__QUERY__KIND_BACKUP;
    query.backup = &backup_query;
    struct request_spec spec = {.principal_id = "operator", .secret = f->secret};
    size_t size = 0;
    uint8_t *bytes = request_query(&spec, &query, &size);
    Ledger__V1__Reply *reply = call_expect(f->client, bytes, size, &spec, expected);
    free(bytes);
    return reply;
}

static uint64_t operator_head_sequence(struct fixture *f)
{
    struct request_spec spec = {.principal_id = "operator", .secret = f->secret};
    uint8_t *bytes = NULL;
    size_t size = 0;
    bytes = request_head(&spec, &size);
    Ledger__V1__Reply *reply = call_expect(f->client, bytes, size, &spec, LEDGER_ERR_OK);
    free(bytes);
    uint64_t head = reply->head_sequence;
    assert_non_null(reply->query);
    assert_non_null(reply->query->head);
    assert_int_equal(reply->query->head->tree_size, head);
    reply_free(reply);
    return head;
}

/* --- daemon life -------------------------------------------------------------------- */

static void daemon_wait_ready(struct fixture *f);

static void daemon_start(struct fixture *f, const char *const *extra)
{
    const char *args[24] = {"--data", f->data, "--log-level", "debug"};
    size_t n = 4;
    for (size_t i = 0; extra && extra[i] && n < 23; i++) {
        args[n++] = extra[i];
    }
    args[n] = NULL;
    f->pid = spawn(f, args);
    daemon_wait_ready(f);
}

/* Waits until the daemon at f->pid answers a head query on f->url, then
 * opens f->client. */
static void daemon_wait_ready(struct fixture *f)
{
    /* Ready when a head query is answered (the REQ socket reconnects until
     * the daemon binds). */
    bool ready = false;
    /* A loaded machine, or the sanitizers, may take many seconds to start. */
    int64_t deadline = now_us() + (int64_t)test_timeout_ms(60000) * 1000;
    while (!ready && now_us() < deadline) {
        struct request_spec spec = {.principal_id = "operator", .secret = f->secret};
        ready = head_probe(f->url, &spec, 200);
        if (!ready && waitpid(f->pid, NULL, WNOHANG) == f->pid) {
            fail_msg("ledgerd exited at start; see %s", f->log_path);
        }
    }
    if (!ready) {
        fail_msg("ledgerd did not answer; see %s", f->log_path);
    }
    f->client = client_open(f->url, test_timeout_ms(REPLY_TIMEOUT_MS));
}

/* Stops the daemon with `signal` and returns its exit status. */
static bool log_contains(const struct fixture *f, const char *text)
{
    FILE *file = fopen(f->log_path, "r");
    if (file == NULL) {
        return false;
    }
    static char buffer[1 << 20];
    size_t size = fread(buffer, 1, sizeof buffer - 1, file);
    fclose(file);
    buffer[size] = '\0';
    return strstr(buffer, text) != NULL;
}

static int daemon_stop(struct fixture *f, int signal)
{
    if (f->client >= 0) {
        nn_close(f->client);
        f->client = -1;
    }
    if (f->pid <= 0) {
        return 0;
    }
    kill(f->pid, signal);
    int status = wait_exit(f->pid, 20000);
    f->pid = 0;
    /* No test makes the loop fail to receive or to queue work: a line that
     * says so is a fault of the loop (draining a socket ends at EAGAIN
     * without one). */
    if (log_contains(f, "receive failed") || log_contains(f, "cannot queue")) {
        fail_msg("the daemon's log reports a fault of its loop (%s)", f->log_path);
    }
    return status;
}

/* Empties the log, so that what follows is the next run's alone. */
static void log_clear(const struct fixture *f)
{
    FILE *file = fopen(f->log_path, "w");
    assert_non_null(file);
    fclose(file);
}

/* Prints the log's lines that contain `text` (diagnostics only). */
static void log_print(const struct fixture *f, const char *text)
{
    FILE *file = fopen(f->log_path, "r");
    if (file == NULL) {
        return;
    }
    char line[2048];
    while (fgets(line, sizeof line, file) != NULL) {
        if (strstr(line, text) != NULL) {
            print_message("ledgerd: %s", line);
        }
    }
    fclose(file);
}

/* Points the fixture at the data directory `dir`, served on its default
 * IPC sockets. */
static void fixture_data_set(struct fixture *f, const char *dir)
{
    snprintf(f->data, sizeof f->data, "%s", dir);
    snprintf(f->url, sizeof f->url, "ipc://%s/ledger.sock", f->data);
    snprintf(f->events_url, sizeof f->events_url, "ipc://%s/events.sock", f->data);
}

static int setup(void **state)
{
    if (crypto_init() != LEDGER_ERR_OK) {
        return -1;
    }
    struct fixture *f = calloc(1, sizeof *f);
    f->client = -1;
    test_make_dir(f->root, sizeof f->root, "daemon");
    char data[PATH_SIZE];
    snprintf(data, sizeof data, "%s/data", f->root);
    fixture_data_set(f, data);
    snprintf(f->log_path, sizeof f->log_path, "%s/ledgerd.log", f->root);
    const char *init[] = {"init", "--data", f->data, NULL};
    pid_t pid = spawn(f, init);
    if (wait_exit(pid, 30000) != 0) {
        fprintf(stderr, "ledgerd init failed; see %s\n", f->log_path);
        return -1;
    }
    if (!key_read(f->data, f->secret)) {
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    if (f == NULL) {
        return 0;
    }
    if (f->pid > 0) {
        daemon_stop(f, SIGKILL);
    }
    if (f->client >= 0) {
        nn_close(f->client);
    }
    test_remove_dir(f->root);
    free(f);
    return 0;
}

/* --- tests -------------------------------------------------------------------------- */

static void test_daemon_init_files(void **state)
{
    struct fixture *f = *state;
    char path[PATH_SIZE + 32];
    struct stat st;
    snprintf(path, sizeof path, "%s/operator.key", f->data);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, 65);
    snprintf(path, sizeof path, "%s/ledgerd.conf", f->data);
    assert_int_equal(stat(path, &st), 0);
    /* init never prints the secret, only where it went. */
    char hex[2 * LEDGER_SECRET_BYTES + 1];
    crypto_hex(f->secret, sizeof f->secret, hex);
    assert_false(log_contains(f, hex));
    assert_true(log_contains(f, "operator.key"));
    /* A second init of the same directory is refused. */
    const char *init[] = {"init", "--data", f->data, NULL};
    assert_int_equal(wait_exit(spawn(f, init), 30000), 1);
    assert_true(log_contains(f, "is already initialized"));
}

static void test_daemon_auth_failures(void **state)
{
    struct fixture *f = *state;
    daemon_start(f, (const char *const[]){"--batch-commands-max", "2", NULL});
    uint64_t head = operator_head_sequence(f);
    uint8_t *bytes = NULL;
    size_t size = 0;
    Ledger__V1__Reply *reply = NULL;

    /* UNKNOWN_PRINCIPAL */
    struct request_spec unknown = {.principal_id = "nobody", .secret = f->secret};
    bytes = request_head(&unknown, &size);
    reply = call_expect(f->client, bytes, size, &unknown, LEDGER_ERR_UNKNOWN_PRINCIPAL);
    assert_int_equal(reply->head_sequence, head);
    reply_free(reply);
    free(bytes);
    /* A secret given where the principal id goes names no principal: it is
     * refused and not logged. */
    char secret_as_id[2 * LEDGER_SECRET_BYTES + 1];
    crypto_hex(f->secret, sizeof f->secret, secret_as_id);
    struct request_spec mistaken = {.principal_id = secret_as_id, .secret = f->secret};
    bytes = request_head(&mistaken, &size);
    reply_free(call_expect(f->client, bytes, size, &mistaken, LEDGER_ERR_UNKNOWN_PRINCIPAL));
    free(bytes);
    /* The same with the white space a key file's line or a paste brings
     * along: still the secret, still not logged. */
    static const char *const around[][2] = {{"", "\n"}, {"", "\r\n"}, {" ", ""}, {"\t", " \n"}};
    for (size_t i = 0; i < sizeof around / sizeof around[0]; i++) {
        char padded[2 * LEDGER_SECRET_BYTES + 8];
        snprintf(padded, sizeof padded, "%s%s%s", around[i][0], secret_as_id, around[i][1]);
        struct request_spec pasted = {.principal_id = padded, .secret = f->secret};
        bytes = request_head(&pasted, &size);
        reply_free(call_expect(f->client, bytes, size, &pasted, LEDGER_ERR_UNKNOWN_PRINCIPAL));
        free(bytes);
    }
    /* Not a part of it either: the log holds ids cut at 64 bytes, which
     * after a space would leave all but the last digit of the secret. */
    char half[LEDGER_SECRET_BYTES + 1];
    memcpy(half, secret_as_id, LEDGER_SECRET_BYTES);
    half[LEDGER_SECRET_BYTES] = '\0';
    assert_false(log_contains(f, half));
    assert_false(log_contains(f, secret_as_id + LEDGER_SECRET_BYTES));

    /* BAD_SIGNATURE: wrong key */
    uint8_t wrong[LEDGER_SECRET_BYTES];
    memcpy(wrong, f->secret, sizeof wrong);
    wrong[0] ^= 1;
    struct request_spec bad_key = {.principal_id = "operator", .secret = wrong};
    bytes = request_head(&bad_key, &size);
    reply_free(call_expect(f->client, bytes, size, &bad_key, LEDGER_ERR_BAD_SIGNATURE));
    free(bytes);

    /* BAD_SIGNATURE: a body changed after signing (the last byte of the
     * nonce, inside Request.signed). */
    struct request_spec tampered = {.principal_id = "operator", .secret = f->secret};
    bytes = request_head(&tampered, &size);
    for (size_t i = 0; i + LEDGER_NONCE_BYTES <= size; i++) {
        if (memcmp(bytes + i, tampered.nonce, LEDGER_NONCE_BYTES) == 0) {
            bytes[i + LEDGER_NONCE_BYTES - 1] ^= 0x01;
            tampered.nonce[LEDGER_NONCE_BYTES - 1] ^= 0x01;
            break;
        }
    }
    reply_free(call_expect(f->client, bytes, size, &tampered, LEDGER_ERR_BAD_SIGNATURE));
    free(bytes);

    /* STALE_REQUEST both ways (the window is 300 s). */
    struct request_spec old = {.principal_id = "operator",
                               .secret = f->secret,
                               .timestamp_us = now_us() - INT64_C(301) * 1000000};
    bytes = request_head(&old, &size);
    reply_free(call_expect(f->client, bytes, size, &old, LEDGER_ERR_STALE_REQUEST));
    free(bytes);
    struct request_spec future = {.principal_id = "operator",
                                  .secret = f->secret,
                                  .timestamp_us = now_us() + INT64_C(301) * 1000000};
    bytes = request_head(&future, &size);
    reply_free(call_expect(f->client, bytes, size, &future, LEDGER_ERR_STALE_REQUEST));
    free(bytes);

    /* PRINCIPAL_REVOKED: add a principal (its secret comes back once), use it,
     * revoke it, use it again. */
    ProtobufCBinaryData add =
        command_add_principal("add-op2", "op2", LEDGER__V1__ROLE__ROLE_OPERATOR);
    reply = operator_batch(f, &add, 1, LEDGER_ERR_OK);
    assert_int_equal(reply->n_results, 1);
    assert_int_equal(strlen(reply->results[0]->secret_hex), 2 * LEDGER_SECRET_BYTES);
    uint8_t op2_secret[LEDGER_SECRET_BYTES];
    assert_int_equal(crypto_unhex(reply->results[0]->secret_hex, op2_secret, sizeof op2_secret),
                     LEDGER_ERR_OK);
    assert_false(log_contains(f, reply->results[0]->secret_hex));
    reply_free(reply);
    struct request_spec op2 = {.principal_id = "op2", .secret = op2_secret};
    bytes = request_head(&op2, &size);
    reply_free(call_expect(f->client, bytes, size, &op2, LEDGER_ERR_OK));
    free(bytes);
    ProtobufCBinaryData revoke = command_revoke_principal("revoke-op2", "op2");
    reply_free(operator_batch(f, &revoke, 1, LEDGER_ERR_OK));
    bytes = request_head(&op2, &size);
    reply_free(call_expect(f->client, bytes, size, &op2, LEDGER_ERR_PRINCIPAL_REVOKED));
    free(bytes);
    /* The retried AddPrincipal is a duplicate and carries no secret. */
    reply = operator_batch(f, &add, 1, LEDGER_ERR_OK);
    assert_true(reply->results[0]->duplicate);
    assert_true(reply->results[0]->secret_hex == NULL || reply->results[0]->secret_hex[0] == 0);
    reply_free(reply);
    free(add.data);
    free(revoke.data);

    /* BATCH_TOO_LARGE (configured to 2 here). */
    ProtobufCBinaryData three[3] = {
        command_add_partner("b-1", "pb1", "B1"),
        command_add_partner("b-2", "pb2", "B2"),
        command_add_partner("b-3", "pb3", "B3"),
    };
    uint64_t before = operator_head_sequence(f);
    reply_free(operator_batch(f, three, 3, LEDGER_ERR_BATCH_TOO_LARGE));
    assert_int_equal(operator_head_sequence(f), before);
    for (int i = 0; i < 3; i++) {
        free(three[i].data);
    }

    /* UNKNOWN_MESSAGE: a RequestBody with a kind this daemon does not know
     * (field 9), signed correctly. */
    struct request_spec future_kind = {.principal_id = "operator", .secret = f->secret};
    crypto_random(future_kind.nonce, sizeof future_kind.nonce);
    Ledger__V1__SignedRequest signed_request = LEDGER__V1__SIGNED_REQUEST__INIT;
    signed_request.principal_id = "operator";
    signed_request.timestamp_us = now_us();
    signed_request.nonce.data = future_kind.nonce;
    signed_request.nonce.len = LEDGER_NONCE_BYTES;
    uint8_t signed_bytes[256];
    size_t signed_size = ledger__v1__signed_request__pack(&signed_request, signed_bytes);
    static const uint8_t unknown_body[] = {0x22, 0x02, 0x48, 0x01};
    memcpy(signed_bytes + signed_size, unknown_body, sizeof unknown_body);
    signed_size += sizeof unknown_body;
    uint8_t mac[CRYPTO_MAC_BYTES];
    crypto_hmac_sha256(f->secret, sizeof f->secret, signed_bytes, signed_size, mac);
    Ledger__V1__Request request = LEDGER__V1__REQUEST__INIT;
    request.signed_.data = signed_bytes;
    request.signed_.len = signed_size;
    request.mac.data = mac;
    request.mac.len = sizeof mac;
    uint8_t request_bytes[512];
    size = ledger__v1__request__pack(&request, request_bytes);
    reply_free(
        call_expect(f->client, request_bytes, size, &future_kind, LEDGER_ERR_UNKNOWN_MESSAGE));

    /* Refusals are logged with the principal and the code, never the MAC. */
    assert_true(log_contains(f, "request refused principal=nobody code=UNKNOWN_PRINCIPAL"));
    assert_true(log_contains(f, "principal=\"(64 hex digits, not shown: a secret given as the "
                                "principal id?)\" code=UNKNOWN_PRINCIPAL"));
    assert_true(log_contains(f, "principal=op2 code=PRINCIPAL_REVOKED"));
    char mac_hex[2 * CRYPTO_MAC_BYTES + 1];
    crypto_hex(mac, sizeof mac, mac_hex);
    assert_false(log_contains(f, mac_hex));
    char secret_hex[2 * LEDGER_SECRET_BYTES + 1];
    crypto_hex(f->secret, sizeof f->secret, secret_hex);
    assert_false(log_contains(f, secret_hex));
    assert_int_equal(daemon_stop(f, SIGTERM), 0);
}

/* The core file size limit of process `pid` (/proc/PID/limits, "Max core
 * file size"), soft and hard, as the kernel prints them ("0", "unlimited"). */
static void core_limits(pid_t pid, char soft[32], char hard[32])
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/limits", (int)pid);
    FILE *file = fopen(path, "r");
    assert_non_null(file);
    char line[256];
    bool found = false;
    while (!found && fgets(line, sizeof line, file) != NULL) {
        found = sscanf(line, "Max core file size %31s %31s", soft, hard) == 2;
    }
    fclose(file);
    assert_true(found);
}

/* Secrets never reach a core dump: the daemon holds principals' secrets and
 * the head signing key in memory, so it turns core dumps off itself,
 * whatever limit it was started with (here the hard limit, as a shell's
 * `ulimit -c unlimited` would give it): its core file size is 0, soft and
 * hard, and it is not dumpable (which /proc does not show to root; the
 * limit is what can be checked). */
/* At --log-level warn the daemon logs no refusal (each is an INFO line),
 * while still answering each with its code and message and still logging
 * its warnings: the level filters lines, not replies. */
static void test_daemon_log_level_warn_keeps_refusals_out(void **state)
{
    struct fixture *f = *state;
    /* A data directory open to its group: a WARN line at start. */
    assert_int_equal(chmod(f->data, 0750), 0);
    log_clear(f);
    daemon_start(f, (const char *const[]){"--log-level", "warn", NULL});
    uint8_t wrong[LEDGER_SECRET_BYTES];
    memcpy(wrong, f->secret, sizeof wrong);
    wrong[0] ^= 1;
    struct request_spec bad_key = {.principal_id = "operator", .secret = wrong};
    size_t size = 0;
    uint8_t *bytes = request_head(&bad_key, &size);
    Ledger__V1__Reply *reply =
        call_expect(f->client, bytes, size, &bad_key, LEDGER_ERR_BAD_SIGNATURE);
    assert_non_null(strstr(reply->message, "MAC"));
    reply_free(reply);
    free(bytes);
    /* A command the ledger refuses (a partner added twice) is answered too. */
    ProtobufCBinaryData add = command_add_partner("add-p1", "p1", "Partner One");
    reply_free(operator_batch(f, &add, 1, LEDGER_ERR_OK));
    ProtobufCBinaryData again = command_add_partner("add-p1-again", "p1", "Partner One");
    reply_free(operator_batch(f, &again, 1, LEDGER_ERR_PARTNER_EXISTS));
    free(add.data);
    free(again.data);
    assert_int_equal(operator_head_sequence(f), 2);
    assert_int_equal(daemon_stop(f, SIGTERM), 0);
    assert_int_equal(chmod(f->data, 0700), 0);
    assert_true(log_contains(f, " WARN  data directory open to other users"));
    assert_false(log_contains(f, "request refused"));
    assert_false(log_contains(f, " INFO "));
    assert_false(log_contains(f, " DEBUG "));
}

static void test_daemon_no_core_dumps(void **state)
{
    struct fixture *f = *state;
    struct rlimit saved;
    assert_int_equal(0, getrlimit(RLIMIT_CORE, &saved));
    struct rlimit raised = {.rlim_cur = saved.rlim_max, .rlim_max = saved.rlim_max};
    assert_int_equal(0, setrlimit(RLIMIT_CORE, &raised));
    daemon_start(f, NULL);
    assert_int_equal(0, setrlimit(RLIMIT_CORE, &saved));
    char soft[32], hard[32];
    core_limits(f->pid, soft, hard);
    assert_string_equal("0", soft);
    assert_string_equal("0", hard);
    assert_int_equal(daemon_stop(f, SIGTERM), 0);
    assert_false(log_contains(f, "cannot turn core dumps off"));
}

static void test_daemon_command_durable_across_restart(void **state)
{
    struct fixture *f = *state;
    daemon_start(f, NULL);
    uint64_t head = operator_head_sequence(f);
    ProtobufCBinaryData command = command_add_partner("durable-1", "contoso", "Contoso Ltd");
    Ledger__V1__Reply *reply = operator_batch(f, &command, 1, LEDGER_ERR_OK);
    assert_int_equal(reply->n_results, 1);
    assert_int_equal(reply->results[0]->first_sequence, head + 1);
    assert_false(reply->results[0]->duplicate);
    assert_int_equal(reply->head_sequence, head + 1);
    reply_free(reply);
    assert_int_equal(daemon_stop(f, SIGTERM), 0);
    assert_true(log_contains(f, "stopped"));

    daemon_start(f, NULL);
    assert_int_equal(operator_head_sequence(f), head + 1);
    /* The command id is remembered across the restart. */
    reply = operator_batch(f, &command, 1, LEDGER_ERR_OK);
    assert_true(reply->results[0]->duplicate);
    assert_int_equal(reply->results[0]->first_sequence, head + 1);
    reply_free(reply);
    /* A second partner of the same id is refused by the domain, not stored. */
    ProtobufCBinaryData again = command_add_partner("durable-2", "contoso", "Contoso again");
    reply = operator_batch(f, &again, 1, LEDGER_ERR_PARTNER_EXISTS);
    assert_int_equal(reply->failed_index, 0);
    assert_int_equal(reply->head_sequence, head + 1);
    reply_free(reply);
    free(again.data);
    free(command.data);
    assert_int_equal(daemon_stop(f, SIGINT), 0);
}

static void test_daemon_retry_is_idempotent(void **state)
{
    struct fixture *f = *state;
    daemon_start(f, NULL);
    ProtobufCBinaryData command = command_add_partner("retry-1", "fabrikam", "Fabrikam");
    struct request_spec spec = {.principal_id = "operator", .secret = f->secret};
    uint8_t *captured = NULL;
    size_t captured_size = 0;
    captured = request_batch(&spec, &command, 1, &captured_size);
    Ledger__V1__Reply *reply =
        call_expect(f->client, captured, captured_size, &spec, LEDGER_ERR_OK);
    uint64_t first = reply->results[0]->first_sequence;
    uint64_t head = reply->head_sequence;
    assert_false(reply->results[0]->duplicate);
    reply_free(reply);

    /* The same command in a new request (new nonce and time). */
    reply = operator_batch(f, &command, 1, LEDGER_ERR_OK);
    assert_true(reply->results[0]->duplicate);
    assert_int_equal(reply->results[0]->first_sequence, first);
    assert_int_equal(reply->head_sequence, head);
    reply_free(reply);

    /* The captured request replayed byte for byte within the window. */
    reply = call_expect(f->client, captured, captured_size, &spec, LEDGER_ERR_OK);
    assert_true(reply->results[0]->duplicate);
    assert_int_equal(reply->head_sequence, head);
    reply_free(reply);
    free(captured);

    /* The same id with other content. */
    ProtobufCBinaryData other = command_add_partner("retry-1", "fabrikam2", "Fabrikam 2");
    reply = operator_batch(f, &other, 1, LEDGER_ERR_COMMAND_ID_REUSED);
    assert_int_equal(reply->head_sequence, head);
    reply_free(reply);
    assert_int_equal(operator_head_sequence(f), head);
    free(other.data);
    free(command.data);
    assert_int_equal(daemon_stop(f, SIGTERM), 0);
}

/* Every limit's largest value is one the daemon serves with: the request
 * size at LEDGER_REQUEST_BYTES_MAX (64M) starts and answers. */
static void test_daemon_request_bytes_at_its_limit(void **state)
{
    struct fixture *f = *state;
    daemon_start(f, (const char *const[]){"--request-bytes-max", "64M", NULL});
    assert_true(operator_head_sequence(f) >= 1);
    assert_int_equal(daemon_stop(f, SIGTERM), 0);
}

static void test_daemon_bad_bytes_keep_serving(void **state)
{
    struct fixture *f = *state;
    daemon_start(f, (const char *const[]){"--request-bytes-max", "4K", NULL});
    uint64_t head = operator_head_sequence(f);

    /* Garbage. */
    static const uint8_t garbage[] = {0xff, 0xfe, 0xfd, 0x07, 0x00, 0x13, 0x99};
    Ledger__V1__Reply *reply =
        call_expect(f->client, garbage, sizeof garbage, NULL, LEDGER_ERR_BAD_REQUEST);
    assert_int_equal(reply->head_sequence, head);
    assert_int_equal(reply->request_nonce.len, 0);
    reply_free(reply);
    /* An empty message. */
    reply_free(call_expect(f->client, (const uint8_t *)"", 0, NULL, LEDGER_ERR_BAD_REQUEST));
    /* A good request cut short. */
    struct request_spec spec = {.principal_id = "operator", .secret = f->secret};
    uint8_t *bytes = NULL;
    size_t size = 0;
    bytes = request_head(&spec, &size);
    reply = call_bytes(f->client, bytes, size - 5);
    assert_non_null(reply);
    assert_int_not_equal(reply->code, LEDGER__V1__ERROR_CODE__OK);
    reply_free(reply);
    free(bytes);

    /* Over the limit (4 KiB), within nanomsg's slack: TOO_LARGE. */
    static uint8_t big[5000];
    memset(big, 0x41, sizeof big);
    reply = call_expect(f->client, big, sizeof big, NULL, LEDGER_ERR_TOO_LARGE);
    assert_non_null(strstr(reply->message, "5000 bytes"));
    reply_free(reply);

    /* Far over it: nanomsg drops that connection without a reply; other
     * clients, and this one after reconnecting, are served. */
    int flooder = client_open(f->url, 1000);
    size_t huge_size = 4096 + 256 * 1024;
    uint8_t *huge = calloc(1, huge_size);
    assert_null(call_bytes(flooder, huge, huge_size));
    free(huge);
    nn_close(flooder);
    assert_int_equal(operator_head_sequence(f), head);

    /* A good command still works and nothing else was written. */
    ProtobufCBinaryData command = command_add_partner("after-garbage", "northwind", "Northwind");
    reply = operator_batch(f, &command, 1, LEDGER_ERR_OK);
    assert_int_equal(reply->head_sequence, head + 1);
    reply_free(reply);
    free(command.data);
    assert_true(log_contains(f, "code=TOO_LARGE"));
    assert_true(log_contains(f, "code=BAD_REQUEST"));
    assert_int_equal(daemon_stop(f, SIGTERM), 0);
}

/* Restarts the daemon and replays `captured`: refused as signed before the
 * start, with the head still at `head`. */
static void replay_after_restart_is_stale(struct fixture *f, const uint8_t *captured, size_t size,
                                          const struct request_spec *spec, uint64_t head)
{
    assert_int_equal(daemon_stop(f, SIGTERM), 0);
    daemon_start(f, NULL);
    Ledger__V1__Reply *reply =
        call_expect(f->client, captured, size, spec, LEDGER_ERR_STALE_REQUEST);
    assert_non_null(strstr(reply->message, "before this daemon started"));
    reply_free(reply);
    assert_int_equal(operator_head_sequence(f), head);
}

/* A refused command replayed after the state changed, so that deciding it
 * again would now succeed: the daemon answers with the first refusal; after
 * a restart (which forgets refusals) the replay is refused as signed before
 * the start; signed anew, the same command goes through. */
static void test_daemon_refused_request_replayed(void **state)
{
    struct fixture *f = *state;
    daemon_start(f, NULL);
    ProtobufCBinaryData data = command_add_principal_of(
        "late-admin-1", "late-admin", LEDGER__V1__ROLE__ROLE_ADMIN_AGENT, "late-partner");
    struct request_spec spec = {.principal_id = "operator", .secret = f->secret};
    size_t size = 0;
    uint8_t *captured = request_batch(&spec, &data, 1, &size);
    reply_free(call_expect(f->client, captured, size, &spec, LEDGER_ERR_PARTNER_NOT_FOUND));
    uint64_t head = operator_head_sequence(f);

    /* The partner exists now: deciding the captured bytes again would add
     * the principal. The replay gets the first answer instead. */
    ProtobufCBinaryData partner = command_add_partner("late-partner-1", "late-partner", "Late");
    reply_free(operator_batch(f, &partner, 1, LEDGER_ERR_OK));
    free(partner.data);
    head++;
    for (int i = 0; i < 3; i++) {
        Ledger__V1__Reply *reply =
            call_expect(f->client, captured, size, &spec, LEDGER_ERR_PARTNER_NOT_FOUND);
        assert_non_null(strstr(reply->message, "refused before"));
        reply_free(reply);
    }
    assert_int_equal(operator_head_sequence(f), head);
    assert_true(log_contains(f, "a replay gets the same answer"));

    /* A different command signed with the refused request's nonce (a client
     * that reuses nonces) is a different request: it is decided, not given
     * the other one's refusal. */
    ProtobufCBinaryData other =
        command_add_principal("late-admin-2", "late-admin-2", LEDGER__V1__ROLE__ROLE_AUDITOR);
    struct request_spec reused = spec;
    reused.nonce_set = true;
    size_t reuse_size = 0;
    uint8_t *reuse = request_batch(&reused, &other, 1, &reuse_size);
    assert_memory_equal(reused.nonce, spec.nonce, LEDGER_NONCE_BYTES);
    reply_free(call_expect(f->client, reuse, reuse_size, &reused, LEDGER_ERR_OK));
    free(reuse);
    free(other.data);
    head++;
    assert_int_equal(operator_head_sequence(f), head);

    /* A batch refused at its second command: a replay names the same
     * command (failed_index), as the first answer did. */
    ProtobufCBinaryData pair[2] = {
        command_add_partner("pair-partner-1", "pair-partner", "Pair"),
        command_add_partner("pair-partner-2", "pair-partner", "Pair again"),
    };
    struct request_spec pair_spec = {.principal_id = "operator", .secret = f->secret};
    size_t pair_size = 0;
    uint8_t *pair_bytes = request_batch(&pair_spec, pair, 2, &pair_size);
    for (int i = 0; i < 2; i++) {
        Ledger__V1__Reply *pair_reply =
            call_expect(f->client, pair_bytes, pair_size, &pair_spec, LEDGER_ERR_PARTNER_EXISTS);
        assert_int_equal(pair_reply->failed_index, 1);
        assert_true((strstr(pair_reply->message, "refused before") != NULL) == (i == 1));
        reply_free(pair_reply);
    }
    free(pair_bytes);
    free(pair[0].data);
    free(pair[1].data);
    assert_int_equal(operator_head_sequence(f), head);

    /* A new daemon remembers no refusal: it refuses what was signed before
     * it started. */
    replay_after_restart_is_stale(f, captured, size, &spec, head);

    /* Signed anew (new nonce and timestamp, the same command): decided now. */
    uint8_t *fresh = request_batch(&spec, &data, 1, &size);
    reply_free(call_expect(f->client, fresh, size, &spec, LEDGER_ERR_OK));
    assert_int_equal(operator_head_sequence(f), head + 1);
    free(fresh);
    free(captured);
    free(data.data);
    assert_int_equal(daemon_stop(f, SIGTERM), 0);
}

/* A command refused by a daemon whose clock is behind the client's (its
 * timestamp is ahead, within the window) and replayed after a restart that
 * came sooner than that lead: its timestamp is after the new daemon's start,
 * yet the daemon before refused it. The state changed meanwhile so that
 * deciding it again would commit it: the replay must be refused instead. */
static void test_daemon_refused_future_request_replayed_after_restart(void **state)
{
    struct fixture *f = *state;
    daemon_start(f, NULL);
    ProtobufCBinaryData data = command_add_principal_of(
        "ahead-admin-1", "ahead-admin", LEDGER__V1__ROLE__ROLE_ADMIN_AGENT, "ahead-partner");
    struct request_spec spec = {.principal_id = "operator",
                                .secret = f->secret,
                                .timestamp_us = now_us() + 120 * 1000000LL};
    size_t size = 0;
    uint8_t *captured = request_batch(&spec, &data, 1, &size);
    reply_free(call_expect(f->client, captured, size, &spec, LEDGER_ERR_PARTNER_NOT_FOUND));
    ProtobufCBinaryData partner = command_add_partner("ahead-partner-1", "ahead-partner", "Ahead");
    reply_free(operator_batch(f, &partner, 1, LEDGER_ERR_OK));
    free(partner.data);
    uint64_t head = operator_head_sequence(f);

    replay_after_restart_is_stale(f, captured, size, &spec, head);
    free(captured);
    free(data.data);
    assert_int_equal(daemon_stop(f, SIGTERM), 0);
}

/* One series of the operator's stats answer (ledgerctl stats). */
static double operator_stat(struct fixture *f, const char *name)
{
    struct request_spec spec = {.principal_id = "operator", .secret = f->secret};
    Ledger__V1__StatsQuery stats = LEDGER__V1__STATS_QUERY__INIT;
    Ledger__V1__Query query = LEDGER__V1__QUERY__INIT;
    query.kind_case = LEDGER__V1__QUERY__KIND_STATS;
    query.stats = &stats;
    size_t size = 0;
    uint8_t *bytes = request_query(&spec, &query, &size);
    Ledger__V1__Reply *reply = call_expect(f->client, bytes, size, &spec, LEDGER_ERR_OK);
    free(bytes);
    assert_non_null(reply->query);
    double value = -1;
    for (size_t i = 0; i < reply->query->n_stats; i++) {
        if (strcmp(reply->query->stats[i]->name, name) == 0 &&
            reply->query->stats[i]->labels[0] == '\0') {
            value = reply->query->stats[i]->value;
        }
    }
    reply_free(reply);
    if (value < 0) {
        fail_msg("no stat %s", name);
    }
    return value;
}

/* A command commits and rings the doorbell at f->events_url, which a
 * subscriber that joined first hears, with the head it made; one that never
 * reads slows nothing. Then the daemon stops (exit 0). */
static void doorbell_rings(struct fixture *f)
{
    int sub = nn_socket(AF_SP, NN_SUB);
    assert_true(sub >= 0);
    assert_true(nn_setsockopt(sub, NN_SUB, NN_SUB_SUBSCRIBE, "", 0) >= 0);
    int timeout_ms = test_timeout_ms(20000);
    assert_true(nn_setsockopt(sub, NN_SOL_SOCKET, NN_RCVTIMEO, &timeout_ms, sizeof timeout_ms) >=
                0);
    assert_true(nn_connect(sub, f->events_url) >= 0);
    /* A doorbell rung before the daemon's PUB socket holds the subscriber's
     * pipe is dropped. The daemon counts a subscriber once that pipe is
     * there, in a gauge it samples each second: wait for it. */
    int64_t deadline = now_us() + (int64_t)test_timeout_ms(20000) * 1000;
    while (operator_stat(f, "ledger_subscribers") < 1) {
        if (now_us() > deadline) {
            fail_msg("the daemon never counted the subscriber");
        }
        sleep_ms(50);
    }

    /* A subscriber that never reads does not slow anything. */
    int idle = nn_socket(AF_SP, NN_SUB);
    assert_true(nn_setsockopt(idle, NN_SUB, NN_SUB_SUBSCRIBE, "", 0) >= 0);
    assert_true(nn_connect(idle, f->events_url) >= 0);

    ProtobufCBinaryData command = command_add_partner("bell-1", "litware", "Litware");
    Ledger__V1__Reply *reply = operator_batch(f, &command, 1, LEDGER_ERR_OK);
    uint64_t last = reply->results[0]->last_sequence;
    reply_free(reply);
    free(command.data);

    void *message = NULL;
    int received = nn_recv(sub, &message, NN_MSG, 0);
    assert_true(received >= 0);
    ProtobufCMessage *doorbell = NULL;
    assert_int_equal(codec_message_unpack(&ledger__v1__doorbell__descriptor, message,
                                          (size_t)received, 64, LEDGER_ERR_BAD_REQUEST, &doorbell),
                     LEDGER_ERR_OK);
    nn_freemsg(message);
    assert_int_equal(((Ledger__V1__Doorbell *)doorbell)->head_sequence, last);
    codec_message_free(doorbell);
    nn_close(sub);
    nn_close(idle);
    assert_int_equal(daemon_stop(f, SIGTERM), 0);
}

static void test_daemon_doorbell(void **state)
{
    struct fixture *f = *state;
    daemon_start(f, NULL);
    doorbell_rings(f);
}

/* The mode of `dir`/`name`, or -1 when it does not exist. */
static int file_mode(const char *dir, const char *name)
{
    char path[2 * PATH_SIZE];
    struct stat info;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return lstat(path, &info) == 0 ? (int)(info.st_mode & 07777) : -1;
}

/* The IPC socket files allow their owner and group at most, whatever umask
 * the daemon was started with (0 would give 0777: any local user could
 * connect); a stricter umask is kept (0077: 0600). */
static void test_daemon_ipc_socket_mode(void **state)
{
    struct fixture *f = *state;
    const mode_t masks[] = {0, 077};
    const unsigned modes[] = {0660, 0600};
    for (size_t i = 0; i < sizeof masks / sizeof masks[0]; i++) {
        mode_t saved = umask(masks[i]);
        daemon_start(f, NULL);
        umask(saved);
        assert_int_equal(modes[i], file_mode(f->data, "ledger.sock"));
        assert_int_equal(modes[i], file_mode(f->data, "events.sock"));
        assert_int_equal(daemon_stop(f, SIGTERM), 0);
    }
}

/* Both sockets on TCP (docs/protocol.md: tcp://host:port as well as IPC):
 * the started line names the addresses, requests are answered and the
 * doorbell rings over TCP as over IPC. */
static void test_daemon_serves_over_tcp(void **state)
{
    struct fixture *f = *state;
    unsigned request_port = test_free_port(), events_port = test_free_port();
    if (events_port == request_port) {
        events_port = test_free_port();
    }
    assert_int_not_equal(events_port, request_port);
    snprintf(f->url, sizeof f->url, "tcp://127.0.0.1:%u", request_port);
    snprintf(f->events_url, sizeof f->events_url, "tcp://127.0.0.1:%u", events_port);
    const char *tcp[] = {"--listen", f->url, "--events", f->events_url, NULL};
    daemon_start(f, tcp);
    char started[2 * PATH_SIZE + 128];
    snprintf(started, sizeof started, " listen=%s events=%s ", f->url, f->events_url);
    if (!log_contains(f, started)) {
        log_print(f, "started");
        fail_msg("the started line does not name %s and %s", f->url, f->events_url);
    }
    assert_int_equal(operator_head_sequence(f), 1);
    doorbell_rings(f);
}

/* Sends, without waiting, an operator batch of `count` AddPartner commands
 * (ids "TAG-C-I", partners "partner-TAG-C-I") on `client`; `spec` is filled
 * for the reply's check. */
static void send_partner_batch(struct fixture *f, int client, const char *tag, int c, int count,
                               struct request_spec *spec)
{
    ProtobufCBinaryData *commands = calloc((size_t)count, sizeof *commands);
    assert_non_null(commands);
    for (int i = 0; i < count; i++) {
        char id[48], partner[48];
        snprintf(id, sizeof id, "%s-%d-%d", tag, c, i);
        snprintf(partner, sizeof partner, "partner-%s-%d-%d", tag, c, i);
        commands[i] = command_add_partner(id, partner, "In flight");
    }
    *spec = (struct request_spec){.principal_id = "operator", .secret = f->secret};
    size_t size = 0;
    uint8_t *bytes = request_batch(spec, commands, (size_t)count, &size);
    assert_int_equal(nn_send(client, bytes, size, 0), (int)size);
    free(bytes);
    for (int i = 0; i < count; i++) {
        free(commands[i].data);
    }
    free(commands);
}

/* Receives the reply to send_partner_batch's request: OK with `count`
 * results and the request's nonce. */
static void expect_batch_reply(int client, const struct request_spec *spec, int count)
{
    void *message = NULL;
    int received = nn_recv(client, &message, NN_MSG, 0);
    if (received < 0) {
        fail_msg("no reply: %s", nn_strerror(nn_errno()));
    }
    ProtobufCMessage *decoded = NULL;
    assert_int_equal(codec_message_unpack(&ledger__v1__reply__descriptor, message, (size_t)received,
                                          LEDGER_REQUEST_BYTES_MAX, LEDGER_ERR_BAD_REQUEST,
                                          &decoded),
                     LEDGER_ERR_OK);
    nn_freemsg(message);
    Ledger__V1__Reply *reply = (Ledger__V1__Reply *)decoded;
    assert_int_equal(reply->code, LEDGER__V1__ERROR_CODE__OK);
    assert_int_equal(reply->n_results, count);
    assert_memory_equal(reply->request_nonce.data, spec->nonce, LEDGER_NONCE_BYTES);
    reply_free(reply);
}

#define INFLIGHT_CLIENTS  8
#define INFLIGHT_COMMANDS 1000

static void test_daemon_sigterm_answers_in_flight(void **state)
{
    struct fixture *f = *state;
    /* A 1 ms threshold: commits of 1000 commands are logged as slow. */
    daemon_start(f, (const char *const[]){"--slow-commit-ms", "1", NULL});
    uint64_t head = operator_head_sequence(f);
    double received_before = operator_stat(f, "ledger_requests_total");
    int clients[INFLIGHT_CLIENTS];
    struct request_spec specs[INFLIGHT_CLIENTS];
    for (int c = 0; c < INFLIGHT_CLIENTS; c++) {
        clients[c] = client_open(f->url, test_timeout_ms(REPLY_TIMEOUT_MS));
    }
    sleep_ms(100); /* let every client connect */
    for (int c = 0; c < INFLIGHT_CLIENTS; c++) {
        send_partner_batch(f, clients[c], "inflight", c, INFLIGHT_COMMANDS, &specs[c]);
    }
    /* SIGTERM once the daemon has read every batch (and mostly before it has
     * committed them): a request still in a socket buffer when it stops is
     * never read, and its client resends to the next daemon. Each stats
     * query counts itself. */
    int64_t deadline = now_us() + (int64_t)test_timeout_ms(REPLY_TIMEOUT_MS) * 1000;
    for (int polls = 1;; polls++) {
        double received = operator_stat(f, "ledger_requests_total");
        if (received >= received_before + INFLIGHT_CLIENTS + polls) {
            break;
        }
        if (now_us() > deadline) {
            fail_msg("the daemon read %.0f of the %d batches", received - received_before - polls,
                     INFLIGHT_CLIENTS);
        }
        sleep_ms(1);
    }
    kill(f->pid, SIGTERM);
    for (int c = 0; c < INFLIGHT_CLIENTS; c++) {
        expect_batch_reply(clients[c], &specs[c], INFLIGHT_COMMANDS);
        nn_close(clients[c]);
    }
    assert_int_equal(wait_exit(f->pid, 20000), 0);
    f->pid = 0;
    nn_close(f->client);
    f->client = -1;
    assert_true(log_contains(f, "stopping signal=SIGTERM"));
    log_print(f, "stopping signal=SIGTERM");
    assert_true(log_contains(f, "loop_close=0"));
    assert_true(log_contains(f, "WARN  slow commit duration_ms="));

    /* Every answered command is there after a restart. */
    daemon_start(f, NULL);
    assert_int_equal(operator_head_sequence(f),
                     head + (uint64_t)INFLIGHT_CLIENTS * INFLIGHT_COMMANDS);
    assert_int_equal(daemon_stop(f, SIGTERM), 0);
}

#define BACKPRESSURE_CLIENTS  8
#define BACKPRESSURE_COMMANDS 50

/* At inflight_requests_max command requests unanswered the daemon stops
 * reading its socket, and reads again as soon as one is answered: with the
 * bound at 1, every command request it reads pauses reading, and requests
 * sent meanwhile wait in the socket, none refused and none lost. */
static void test_daemon_backpressure_pauses_reading(void **state)
{
    struct fixture *f = *state;
    daemon_start(f, (const char *const[]){"--inflight-requests-max", "1", NULL});
    assert_true(log_contains(f, "inflight_requests_max=1"));
    uint64_t head = operator_head_sequence(f);
    assert_int_equal(operator_stat(f, "ledger_backpressure_pauses_total"), 0);
    int clients[BACKPRESSURE_CLIENTS];
    struct request_spec specs[BACKPRESSURE_CLIENTS];
    for (int c = 0; c < BACKPRESSURE_CLIENTS; c++) {
        clients[c] = client_open(f->url, test_timeout_ms(REPLY_TIMEOUT_MS));
    }
    sleep_ms(100); /* let every client connect */
    for (int c = 0; c < BACKPRESSURE_CLIENTS; c++) {
        send_partner_batch(f, clients[c], "pressed", c, BACKPRESSURE_COMMANDS, &specs[c]);
    }
    for (int c = 0; c < BACKPRESSURE_CLIENTS; c++) {
        expect_batch_reply(clients[c], &specs[c], BACKPRESSURE_COMMANDS);
        nn_close(clients[c]);
    }
    /* One pause per command request read; queries do not count. */
    assert_int_equal(operator_stat(f, "ledger_backpressure_pauses_total"), BACKPRESSURE_CLIENTS);
    assert_int_equal(operator_stat(f, "ledger_requests_in_flight"), 0);
    assert_int_equal(operator_head_sequence(f),
                     head + (uint64_t)BACKPRESSURE_CLIENTS * BACKPRESSURE_COMMANDS);
    assert_true(log_contains(f, "WARN  request queue full; reading paused inflight=1"));
    /* Still serving after the pauses: a command alone. */
    struct request_spec spec;
    send_partner_batch(f, f->client, "after", 0, 1, &spec);
    expect_batch_reply(f->client, &spec, 1);
    assert_int_equal(daemon_stop(f, SIGTERM), 0);
}

#define CONCURRENT_CLIENTS 16
#define CONCURRENT_ROUNDS  20

/* Many clients at once, half sending commands and half queries (heads on the
 * loop, and six row queries at a time, two on the thread pool and the others
 * on the loop: pages of the event feed with proofs, and the principals):
 * commands are grouped into shared commits, queries are answered meanwhile,
 * and every reply is the right one. */
static void test_daemon_concurrent_clients(void **state)
{
    struct fixture *f = *state;
    daemon_start(f, NULL);
    /* An auditor of every partner reads the feed. */
    ProtobufCBinaryData add =
        command_add_principal("feed-auditor-1", "feed-auditor", LEDGER__V1__ROLE__ROLE_AUDITOR);
    Ledger__V1__Reply *added = operator_batch(f, &add, 1, LEDGER_ERR_OK);
    free(add.data);
    uint8_t auditor_secret[LEDGER_SECRET_BYTES];
    assert_int_equal(
        crypto_unhex(added->results[0]->secret_hex, auditor_secret, sizeof auditor_secret),
        LEDGER_ERR_OK);
    reply_free(added);
    uint64_t head = operator_head_sequence(f);
    int clients[CONCURRENT_CLIENTS];
    struct request_spec specs[CONCURRENT_CLIENTS];
    for (int c = 0; c < CONCURRENT_CLIENTS; c++) {
        clients[c] = client_open(f->url, test_timeout_ms(REPLY_TIMEOUT_MS));
    }
    uint64_t commands_sent = 0;
    for (int round = 0; round < CONCURRENT_ROUNDS; round++) {
        for (int c = 0; c < CONCURRENT_CLIENTS; c++) {
            specs[c] = (struct request_spec){.principal_id = "operator", .secret = f->secret};
            uint8_t *bytes = NULL;
            size_t size = 0;
            if (c % 2 == 0) {
                char id[48], partner[48];
                snprintf(id, sizeof id, "concurrent-%d-%d", round, c);
                snprintf(partner, sizeof partner, "p-%d-%d", round, c);
                ProtobufCBinaryData command = command_add_partner(id, partner, "Concurrent");
                bytes = request_batch(&specs[c], &command, 1, &size);
                free(command.data);
                commands_sent++;
            } else if (c % 4 == 1) {
                specs[c] =
                    (struct request_spec){.principal_id = "feed-auditor", .secret = auditor_secret};
                Ledger__V1__EventsQuery events = LEDGER__V1__EVENTS_QUERY__INIT;
                events.limit = LEDGER_EVENTS_PAGE_MAX;
                events.include_proofs = true;
                Ledger__V1__Query query = LEDGER__V1__QUERY__INIT;
                query.kind_case = LEDGER__V1__QUERY__KIND_EVENTS;
                query.events = &events;
                bytes = request_query(&specs[c], &query, &size);
            } else if (c % 8 == 3) {
                Ledger__V1__PrincipalsQuery principals = LEDGER__V1__PRINCIPALS_QUERY__INIT;
                Ledger__V1__Query query = LEDGER__V1__QUERY__INIT;
                query.kind_case = LEDGER__V1__QUERY__KIND_PRINCIPALS;
                query.principals = &principals;
                bytes = request_query(&specs[c], &query, &size);
            } else {
                bytes = request_head(&specs[c], &size);
            }
            assert_int_equal(nn_send(clients[c], bytes, size, 0), (int)size);
            free(bytes);
        }
        for (int c = 0; c < CONCURRENT_CLIENTS; c++) {
            void *message = NULL;
            int received = nn_recv(clients[c], &message, NN_MSG, 0);
            assert_true(received >= 0);
            ProtobufCMessage *decoded = NULL;
            assert_int_equal(codec_message_unpack(&ledger__v1__reply__descriptor, message,
                                                  (size_t)received, LEDGER_REQUEST_BYTES_MAX,
                                                  LEDGER_ERR_BAD_REQUEST, &decoded),
                             LEDGER_ERR_OK);
            nn_freemsg(message);
            Ledger__V1__Reply *reply = (Ledger__V1__Reply *)decoded;
            if (reply->code != LEDGER__V1__ERROR_CODE__OK) {
                fail_msg("client %d: %s %s", c, ledger_err_name((enum ledger_err)reply->code),
                         reply->message);
            }
            assert_memory_equal(reply->request_nonce.data, specs[c].nonce, LEDGER_NONCE_BYTES);
            if (c % 2 == 0) {
                assert_int_equal(reply->n_results, 1);
                assert_false(reply->results[0]->duplicate);
                assert_true(reply->head_sequence >= reply->results[0]->last_sequence);
            } else if (c % 4 == 1) {
                /* The feed from the start: every event up to the head it saw,
                 * each with its proof. */
                assert_true(reply->query->n_events >= 1);
                assert_int_equal(reply->query->events[0]->event->sequence, 1);
                for (size_t e = 0; e < reply->query->n_events; e++) {
                    assert_non_null(reply->query->events[e]->proof);
                }
            } else if (c % 8 == 3) {
                /* The operator and the feed auditor at least. */
                assert_true(reply->query->n_principals >= 2);
            } else {
                assert_non_null(reply->query->head);
            }
            reply_free(reply);
        }
    }
    for (int c = 0; c < CONCURRENT_CLIENTS; c++) {
        nn_close(clients[c]);
    }
    assert_int_equal(operator_head_sequence(f), head + commands_sent);
    assert_int_equal(daemon_stop(f, SIGTERM), 0);
    log_print(f, "INFO  stopped");
}

/* A daemon started with its standard descriptors closed (a supervisor's
 * `2>&-`) must not let the files it opens take their numbers: its log lines
 * would be written over data.mdb. It serves, stops, and the ledger opens
 * again intact. */
static void test_daemon_closed_standard_descriptors(void **state)
{
    struct fixture *f = *state;
    const char *argv[] = {ledgerd_path(), "--data", f->data, "--log-level", "debug", NULL};
    f->pid = fork();
    assert_true(f->pid >= 0);
    if (f->pid == 0) {
        close(STDIN_FILENO);
        close(STDOUT_FILENO);
        close(STDERR_FILENO);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    daemon_wait_ready(f);
    uint64_t head = operator_head_sequence(f);
    assert_int_equal(daemon_stop(f, SIGTERM), 0);
    log_clear(f);
    daemon_start(f, NULL);
    assert_int_equal(operator_head_sequence(f), head);
    assert_int_equal(daemon_stop(f, SIGTERM), 0);
}

static void test_daemon_second_daemon_refused(void **state)
{
    struct fixture *f = *state;
    daemon_start(f, NULL);
    const char *args[] = {"--data", f->data, NULL};
    int status = wait_exit(spawn(f, args), 20000);
    assert_int_equal(status, 1);
    assert_true(log_contains(f, "is in use by another ledgerd process"));
    /* The first one is undisturbed. */
    operator_head_sequence(f);
    assert_int_equal(daemon_stop(f, SIGTERM), 0);
}

/* A lock file that cannot be opened for writing (here a directory in its
 * place; a read-only file system ends the same way) is named with the
 * system's reason and what to do, not only "a file could not be read or
 * written", by a start and by a rebuild alike. */
static void test_daemon_unopenable_lock_file_named(void **state)
{
    struct fixture *f = *state;
    char lock[PATH_SIZE + 32], says[2 * PATH_SIZE];
    snprintf(lock, sizeof lock, "%s/ledgerd.lock", f->data);
    assert_int_equal(unlink(lock), 0);
    assert_int_equal(mkdir(lock, 0700), 0);
    snprintf(says, sizeof says,
             "(IO_ERROR): %s cannot be opened for writing: Is a directory; ledgerd writes its "
             "data directory: make it writable",
             lock);
    const char *serve[] = {"--data", f->data, NULL};
    const char *rebuild[] = {"rebuild", "--data", f->data, NULL};
    const char *const *runs[] = {serve, rebuild};
    const int statuses[] = {1, 2};
    for (size_t i = 0; i < 2; i++) {
        log_clear(f);
        assert_int_equal(wait_exit(spawn(f, runs[i]), 20000), statuses[i]);
        if (!log_contains(f, says)) {
            log_print(f, "ledgerd:");
            fail_msg("run %zu did not say '%s'", i, says);
        }
    }
    assert_int_equal(rmdir(lock), 0);
}

static void test_daemon_backup_restore_rebuild(void **state)
{
    struct fixture *f = *state;
    daemon_start(f, NULL);
    ProtobufCBinaryData command = command_add_partner("backup-1", "tailspin", "Tailspin");
    reply_free(operator_batch(f, &command, 1, LEDGER_ERR_OK));
    free(command.data);
    uint64_t head = operator_head_sequence(f);

    /* A hot backup through the request socket (answered off the loop). */
    char backup[PATH_SIZE + 32];
    snprintf(backup, sizeof backup, "%s/backup", f->root);
    Ledger__V1__Reply *reply = operator_backup(f, backup, LEDGER_ERR_OK);
    assert_non_null(reply->query);
    assert_non_null(reply->query->head);
    assert_int_equal(reply->query->head->tree_size, head);
    reply_free(reply);
    /* Never over an existing directory; a directory that cannot be made is
     * refused with its reason, and nothing is left behind. */
    Ledger__V1__Reply *refused = operator_backup(f, backup, LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(refused->message, "it already exists; give a new one"));
    reply_free(refused);
    /* Nor inside the data directory, however it is named (a directory
     * under it, a symbolic link to it): it would be lost with it. */
    char inside[3][PATH_SIZE + 48], nested[PATH_SIZE + 16], link_path[PATH_SIZE + 16];
    snprintf(nested, sizeof nested, "%s/keep", f->data);
    snprintf(link_path, sizeof link_path, "%s/data-link", f->root);
    assert_int_equal(mkdir(nested, 0700), 0);
    assert_int_equal(symlink(f->data, link_path), 0);
    snprintf(inside[0], sizeof inside[0], "%s/backup", f->data);
    snprintf(inside[1], sizeof inside[1], "%s/keep/backup", f->data);
    snprintf(inside[2], sizeof inside[2], "%s/data-link/backup", f->root);
    for (size_t i = 0; i < 3; i++) {
        refused = operator_backup(f, inside[i], LEDGER_ERR_INVALID_ARGUMENT);
        assert_non_null(strstr(refused->message, "it is inside the daemon's data directory, "
                                                 "which a backup must outlive"));
        reply_free(refused);
        assert_int_not_equal(access(inside[i], F_OK), 0);
    }
    assert_int_equal(unlink(link_path), 0);
    assert_int_equal(rmdir(nested), 0);
    char orphan[PATH_SIZE + 48];
    snprintf(orphan, sizeof orphan, "%s/no-such-parent/backup", f->root);
    refused = operator_backup(f, orphan, LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(refused->message, "its parent directory does not exist"));
    assert_non_null(strstr(refused->message, orphan));
    reply_free(refused);
    refused = operator_backup(f, "", LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(refused->message, "name the backup directory"));
    reply_free(refused);
    /* A path longer than the system takes is refused, with its limit. */
    char long_path[4200];
    memset(long_path, 'a', sizeof long_path - 1);
    long_path[0] = '/';
    long_path[sizeof long_path - 1] = '\0';
    refused = operator_backup(f, long_path, LEDGER_ERR_INVALID_ARGUMENT);
    assert_string_equal(
        refused->message,
        "the backup directory's path is longer than 4095 bytes; give a shorter one");
    reply_free(refused);

    /* rebuild needs the daemon stopped. */
    const char *rebuild[] = {"rebuild", "--data", f->data, NULL};
    assert_int_equal(wait_exit(spawn(f, rebuild), 60000), 2);
    assert_int_equal(daemon_stop(f, SIGTERM), 0);
    assert_int_equal(wait_exit(spawn(f, rebuild), 60000), 0);
    assert_true(log_contains(f, "every view matches the log's replay"));

    /* A backup holds a ledger without its head key: init refuses to give it
     * a new one, and serving it says what to copy. Neither writes in it. */
    const char *init_backup[] = {"init", "--data", backup, NULL};
    assert_int_equal(wait_exit(spawn(f, init_backup), 60000), 1);
    assert_true(log_contains(f, "init would give it a new signing key"));
    const char *serve_backup[] = {"--data", backup, NULL};
    assert_int_equal(wait_exit(spawn(f, serve_backup), 60000), 1);
    assert_true(log_contains(f, "holds a ledger but not its head-signing key"));
    char backup_key[PATH_SIZE + 64];
    snprintf(backup_key, sizeof backup_key, "%s/head.key", backup);
    struct stat key_info;
    assert_int_not_equal(stat(backup_key, &key_info), 0);
    snprintf(backup_key, sizeof backup_key, "%s/operator.key", backup);
    assert_int_not_equal(stat(backup_key, &key_info), 0);
    /* A head.key that is there but cannot be read (a directory) is not a
     * missing one: serving says what is wrong with it and the system's
     * reason. */
    snprintf(backup_key, sizeof backup_key, "%s/head.key", backup);
    assert_int_equal(mkdir(backup_key, 0700), 0);
    log_clear(f);
    assert_int_equal(wait_exit(spawn(f, serve_backup), 60000), 1);
    assert_true(log_contains(f, "head.key is there but cannot be used: it cannot be read (Is "
                                "a directory); put a copy of this ledger's head.key there"));
    assert_false(log_contains(f, "holds a ledger but not its head-signing key"));
    assert_int_equal(rmdir(backup_key), 0);

    /* A data file cut back to nothing is no ledger: serving and rebuilding
     * say so, and neither writes a new environment into it. */
    char emptied[PATH_SIZE], emptied_file[PATH_SIZE + 16];
    snprintf(emptied, sizeof emptied, "%s/emptied", f->root);
    assert_int_equal(mkdir(emptied, 0700), 0);
    snprintf(emptied_file, sizeof emptied_file, "%s/data.mdb", emptied);
    FILE *empty_file = fopen(emptied_file, "w");
    assert_non_null(empty_file);
    assert_int_equal(fclose(empty_file), 0);
    const char *serve_emptied[] = {"--data", emptied, NULL};
    const char *rebuild_emptied[] = {"rebuild", "--data", emptied, NULL};
    log_clear(f);
    assert_int_equal(wait_exit(spawn(f, serve_emptied), 60000), 1);
    assert_int_equal(wait_exit(spawn(f, rebuild_emptied), 60000), 2);
    assert_true(log_contains(f, "data.mdb is empty (0 bytes): it holds no ledger"));
    assert_false(log_contains(f, "holds a ledger but not its head-signing key"));
    assert_int_equal(stat(emptied_file, &key_info), 0);
    assert_int_equal(key_info.st_size, 0);

    /* restore into a new directory, with the head key the backup lacks. */
    char restored[PATH_SIZE], head_key[PATH_SIZE + 32];
    snprintf(restored, sizeof restored, "%s/restored", f->root);
    snprintf(head_key, sizeof head_key, "%s/head.key", f->data);
    const char *restore[] = {"restore", "--from",     backup,   "--data",
                             restored,  "--head-key", head_key, NULL};
    assert_int_equal(wait_exit(spawn(f, restore), 60000), 0);
    /* Never over an existing one. */
    assert_int_equal(wait_exit(spawn(f, restore), 60000), 1);
    assert_true(log_contains(f, "already exists; restore writes only into a new directory"));
    /* A directory without head.pb (a copy of a data directory, say) is
     * restored, with a note that no signed head vouched for it; a backup
     * with its head.pb gets no such note. */
    assert_false(log_contains(f, "has no head.pb"));
    char bare[PATH_SIZE + 32], bare_head[PATH_SIZE + 64], bare_restored[PATH_SIZE + 32];
    snprintf(bare, sizeof bare, "%s/bare", f->root);
    snprintf(bare_restored, sizeof bare_restored, "%s/restored-bare", f->root);
    assert_int_equal(mkdir(bare, 0700), 0);
    char from_data[PATH_SIZE + 64], to_data[PATH_SIZE + 64];
    snprintf(from_data, sizeof from_data, "%s/data.mdb", backup);
    snprintf(to_data, sizeof to_data, "%s/data.mdb", bare);
    assert_true(test_copy_file(from_data, to_data));
    snprintf(bare_head, sizeof bare_head, "%s/head.pb", bare);
    assert_int_not_equal(access(bare_head, F_OK), 0);
    const char *restore_bare[] = {"restore",     "--from",     bare,     "--data",
                                  bare_restored, "--head-key", head_key, NULL};
    assert_int_equal(wait_exit(spawn(f, restore_bare), 60000), 0);
    assert_true(log_contains(f, "has no head.pb, so it is not a backup `ledgerctl backup` made"));
    /* A copy that has its own head.key keeps it, when it is --head-key's. */
    char keyed[PATH_SIZE + 32], keyed_key[PATH_SIZE + 64], keyed_restored[PATH_SIZE + 32];
    snprintf(keyed, sizeof keyed, "%s/keyed", f->root);
    snprintf(keyed_restored, sizeof keyed_restored, "%s/restored-keyed", f->root);
    assert_int_equal(mkdir(keyed, 0700), 0);
    snprintf(to_data, sizeof to_data, "%s/data.mdb", keyed);
    assert_true(test_copy_file(from_data, to_data));
    snprintf(keyed_key, sizeof keyed_key, "%s/head.key", keyed);
    assert_true(test_copy_file(head_key, keyed_key));
    assert_int_equal(chmod(keyed_key, 0600), 0);
    const char *restore_keyed[] = {"restore",      "--from",     keyed,    "--data",
                                   keyed_restored, "--head-key", head_key, NULL};
    log_clear(f);
    assert_int_equal(wait_exit(spawn(f, restore_keyed), 60000), 0);
    assert_true(log_contains(
        f, "ledgerd: the backup has its own head.key, the key --head-key gives; it is kept"));
    assert_false(log_contains(f, "the backup holds no head.key"));
    /* A head.key of another ledger planted in a backup is refused, naming
     * both keys, and nothing is made. */
    char other[PATH_SIZE + 32], other_key[PATH_SIZE + 64], planted[PATH_SIZE + 32];
    snprintf(other, sizeof other, "%s/other-ledger", f->root);
    snprintf(other_key, sizeof other_key, "%s/head.key", other);
    snprintf(planted, sizeof planted, "%s/restored-planted", f->root);
    const char *init_other[] = {"init", "--data", other, NULL};
    assert_int_equal(wait_exit(spawn(f, init_other), 60000), 0);
    assert_int_equal(unlink(keyed_key), 0);
    assert_true(test_copy_file(other_key, keyed_key));
    const char *restore_planted[] = {"restore", "--from",     keyed,    "--data",
                                     planted,   "--head-key", head_key, NULL};
    log_clear(f);
    assert_int_equal(wait_exit(spawn(f, restore_planted), 60000), 1);
    char refusal[2 * PATH_SIZE + 256];
    snprintf(refusal, sizeof refusal,
             "ledgerd: the backup's head.key is not the key --head-key %s gives: the other file "
             "holds the key with public key ",
             head_key);
    assert_true(log_contains(f, refusal));
    assert_true(log_contains(f, "the backup is of another ledger or was altered"));
    assert_int_not_equal(access(planted, F_OK), 0);
    /* A backup's head.key that holds no key at all is refused the same way. */
    FILE *garbled = fopen(keyed_key, "w");
    assert_non_null(garbled);
    assert_true(fputs("not a key\n", garbled) >= 0);
    assert_int_equal(fclose(garbled), 0);
    log_clear(f);
    assert_int_equal(wait_exit(spawn(f, restore_planted), 60000), 1);
    assert_true(log_contains(f, "ledgerd: the backup's head.key is not the key --head-key"));
    assert_int_not_equal(access(planted, F_OK), 0);
    /* Without --head-key a backup is restored all the same, with a note of
     * what to copy before it can serve; until then it is refused. */
    char keyless[PATH_SIZE + 32], note[2 * PATH_SIZE];
    snprintf(keyless, sizeof keyless, "%s/restored-keyless", f->root);
    const char *restore_keyless[] = {"restore", "--from", backup, "--data", keyless, NULL};
    log_clear(f);
    assert_int_equal(wait_exit(spawn(f, restore_keyless), 60000), 0);
    snprintf(note, sizeof note,
             "note: the backup holds no head.key; copy the original data directory's head.key "
             "into %s (or run restore again with --head-key FILE) before starting ledgerd",
             keyless);
    assert_true(log_contains(f, note));
    const char *serve_keyless[] = {"--data", keyless, NULL};
    assert_int_equal(wait_exit(spawn(f, serve_keyless), 60000), 1);
    assert_true(log_contains(f, "holds a ledger but not its head-signing key"));

    /* The restored copy serves the same history. */
    fixture_data_set(f, restored);
    daemon_start(f, NULL);
    assert_int_equal(operator_head_sequence(f), head);
    assert_int_equal(daemon_stop(f, SIGTERM), 0);
}

/* A backup whose head.pb signs more than its data.mdb holds (a copy cut
 * short, or files mixed from two backups) is refused by restore, which
 * leaves nothing behind; the matching pair restores. */
static void test_daemon_restore_checks_the_backup_head(void **state)
{
    struct fixture *f = *state;
    daemon_start(f, NULL);
    char first[PATH_SIZE + 32], second[PATH_SIZE + 32], mixed[PATH_SIZE + 32];
    snprintf(first, sizeof first, "%s/backup-1", f->root);
    snprintf(second, sizeof second, "%s/backup-2", f->root);
    snprintf(mixed, sizeof mixed, "%s/backup-mixed", f->root);
    const char *dirs[] = {first, second};
    for (int i = 0; i < 2; i++) {
        reply_free(operator_backup(f, dirs[i], LEDGER_ERR_OK));
        char partner[32];
        snprintf(partner, sizeof partner, "mixed-%d", i);
        ProtobufCBinaryData command = command_add_partner(partner, partner, "Mixed");
        reply_free(operator_batch(f, &command, 1, LEDGER_ERR_OK));
        free(command.data);
    }
    assert_int_equal(daemon_stop(f, SIGTERM), 0);
    /* The first backup's data with the second one's (longer) head. */
    assert_int_equal(mkdir(mixed, 0700), 0);
    char from[PATH_SIZE + 64], to[PATH_SIZE + 64], head_key[PATH_SIZE + 32];
    snprintf(from, sizeof from, "%s/data.mdb", first);
    snprintf(to, sizeof to, "%s/data.mdb", mixed);
    assert_true(test_copy_file(from, to));
    snprintf(from, sizeof from, "%s/head.pb", second);
    snprintf(to, sizeof to, "%s/head.pb", mixed);
    assert_true(test_copy_file(from, to));
    snprintf(head_key, sizeof head_key, "%s/head.key", f->data);
    char restored[PATH_SIZE + 32];
    snprintf(restored, sizeof restored, "%s/restored-mixed", f->root);
    const char *restore[] = {"restore", "--from",     mixed,    "--data",
                             restored,  "--head-key", head_key, NULL};
    assert_int_equal(wait_exit(spawn(f, restore), 60000), 1);
    assert_true(log_contains(f, "the backup's head.pb does not match its data"));
    assert_true(log_contains(f, "the copy is incomplete"));
    struct stat info;
    assert_int_not_equal(stat(restored, &info), 0);
    /* The second backup, whole, restores. */
    const char *whole[] = {"restore", "--from",     second,   "--data",
                           restored,  "--head-key", head_key, NULL};
    assert_int_equal(wait_exit(spawn(f, whole), 60000), 0);
}

/* Runs `ledgerd restore --from from --data data` (with --head-key head_key
 * unless NULL) on a cleared log, which must exit with `status`. */
static void restore_exits(struct fixture *f, const char *from, const char *data,
                          const char *head_key, int status)
{
    const char *restore[] = {"restore", "--from",     from,     "--data",
                             data,      "--head-key", head_key, NULL};
    if (head_key == NULL) {
        restore[5] = NULL;
    }
    log_clear(f);
    assert_int_equal(wait_exit(spawn(f, restore), 60000), status);
}

/* Starts the daemon, has it write a backup to f->root/backup (its path in
 * `backup`), and stops it. */
static void backup_taken(struct fixture *f, char *backup, size_t size)
{
    daemon_start(f, NULL);
    snprintf(backup, size, "%s/backup", f->root);
    reply_free(operator_backup(f, backup, LEDGER_ERR_OK));
    assert_int_equal(daemon_stop(f, SIGTERM), 0);
}

/* The same, and the bytes of the backup's head.pb in `head` (at most
 * `capacity`): their count. */
static size_t backup_taken_head(struct fixture *f, char *backup, size_t size, uint8_t *head,
                                size_t capacity)
{
    backup_taken(f, backup, size);
    char path[PATH_SIZE + 64];
    snprintf(path, sizeof path, "%s/head.pb", backup);
    size_t head_size = test_read_bytes(path, head, capacity);
    assert_true(head_size != SIZE_MAX);
    return head_size;
}

/* A backup directory `dir` holding `backup`'s data.mdb and, for head.pb,
 * `head_size` bytes of `head`. */
static void backup_with_head(const char *backup, const char *dir, const uint8_t *head,
                             size_t head_size)
{
    char from[PATH_SIZE + 64], to[PATH_SIZE + 64];
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(from, sizeof from, "%s/data.mdb", backup);
    snprintf(to, sizeof to, "%s/data.mdb", dir);
    assert_true(test_copy_file(from, to));
    snprintf(to, sizeof to, "%s/head.pb", dir);
    FILE *file = fopen(to, "wb");
    assert_non_null(file);
    assert_int_equal(fwrite(head, 1, head_size, file), head_size);
    assert_int_equal(fclose(file), 0);
}

/* A backup whose head.pb is no SignedHead, or whose signature does not
 * verify, is refused by restore, which says which and leaves nothing
 * behind. */
static void test_daemon_restore_refuses_a_damaged_head(void **state)
{
    struct fixture *f = *state;
    char backup[PATH_SIZE + 32];
    uint8_t head[1024];
    size_t head_size = backup_taken_head(f, backup, sizeof backup, head, sizeof head);
    /* The last field is the 32-byte public key (tag and length before it);
     * the signature's last byte comes just before. */
    size_t signature_last = head_size - (2 + CRYPTO_SIGN_PUBLIC_BYTES) - 1;
    assert_true(head_size > 2 + CRYPTO_SIGN_PUBLIC_BYTES + CRYPTO_SIGNATURE_BYTES);
    uint8_t forged[1024];
    memcpy(forged, head, head_size);
    forged[signature_last] ^= 0x01;
    static const uint8_t garbage[] = "not a signed head";
    const struct {
        const char *name;
        const uint8_t *head;
        size_t size;
        const char *says;
    } damaged[] = {
        {"garbage", garbage, sizeof garbage - 1, "it is not a serialized ledger.v1.SignedHead"},
        {"cut", head, head_size - 1, "it is not a serialized ledger.v1.SignedHead"},
        {"forged", forged, head_size, "its signature does not verify with this ledger's key"},
    };
    char head_key[PATH_SIZE + 32], restored[PATH_SIZE + 32];
    snprintf(head_key, sizeof head_key, "%s/head.key", f->data);
    snprintf(restored, sizeof restored, "%s/restored", f->root);
    for (size_t i = 0; i < sizeof damaged / sizeof damaged[0]; i++) {
        char dir[PATH_SIZE + 32];
        snprintf(dir, sizeof dir, "%s/backup-%s", f->root, damaged[i].name);
        backup_with_head(backup, dir, damaged[i].head, damaged[i].size);
        assert_int_equal(truncate(f->log_path, 0), 0);
        const char *restore[] = {"restore", "--from",     dir,      "--data",
                                 restored,  "--head-key", head_key, NULL};
        assert_int_equal(wait_exit(spawn(f, restore), 60000), 1);
        if (!log_contains(f, "the backup's head.pb does not match its data") ||
            !log_contains(f, damaged[i].says)) {
            log_print(f, "ledgerd:");
            fail_msg("restore of a %s head.pb did not say '%s'", damaged[i].name, damaged[i].says);
        }
        struct stat info;
        assert_int_not_equal(stat(restored, &info), 0);
    }
}

/* `head` (head_size bytes, a serialized SignedHead) followed by unknown
 * fields (field 15, varint 0) up to exactly `size` bytes in `out`: the same
 * head, in a file of that size. */
static void head_padded(const uint8_t *head, size_t head_size, uint8_t *out, size_t size)
{
    assert_true(head_size + 3 <= size);
    memcpy(out, head, head_size);
    size_t at = head_size;
    if ((size - at) % 2 != 0) {
        out[at++] = 0x78; /* the same field with a two-byte varint 0 */
        out[at++] = 0x80;
        out[at++] = 0x00;
    }
    for (; at < size; at += 2) {
        out[at] = 0x78;
        out[at + 1] = 0x00;
    }
}

/* A head file of LEDGER_HEAD_FILE_MAX bytes is a head, as ledgerctl and
 * ledger-verify read it, and restores; one byte more is none, and is refused
 * whole (its first LEDGER_HEAD_FILE_MAX bytes decode as the head). */
static void test_daemon_restore_reads_a_head_file_up_to_its_limit(void **state)
{
    struct fixture *f = *state;
    char backup[PATH_SIZE + 32];
    uint8_t head[1024];
    size_t head_size = backup_taken_head(f, backup, sizeof backup, head, sizeof head);
    static uint8_t padded[LEDGER_HEAD_FILE_MAX + 1];
    char head_key[PATH_SIZE + 32], dir[PATH_SIZE + 32], restored[PATH_SIZE + 32];
    snprintf(head_key, sizeof head_key, "%s/head.key", f->data);

    head_padded(head, head_size, padded, LEDGER_HEAD_FILE_MAX + 1);
    snprintf(dir, sizeof dir, "%s/backup-too-large", f->root);
    backup_with_head(backup, dir, padded, LEDGER_HEAD_FILE_MAX + 1);
    snprintf(restored, sizeof restored, "%s/restored-too-large", f->root);
    const char *too_large[] = {"restore", "--from",     dir,      "--data",
                               restored,  "--head-key", head_key, NULL};
    assert_int_equal(wait_exit(spawn(f, too_large), 60000), 1);
    assert_true(log_contains(f, "it is not a serialized ledger.v1.SignedHead"));
    struct stat info;
    assert_int_not_equal(stat(restored, &info), 0);

    head_padded(head, head_size, padded, LEDGER_HEAD_FILE_MAX);
    snprintf(dir, sizeof dir, "%s/backup-at-limit", f->root);
    backup_with_head(backup, dir, padded, LEDGER_HEAD_FILE_MAX);
    snprintf(restored, sizeof restored, "%s/restored-at-limit", f->root);
    const char *at_limit[] = {"restore", "--from",     dir,      "--data",
                              restored,  "--head-key", head_key, NULL};
    if (wait_exit(spawn(f, at_limit), 60000) != 0) {
        log_print(f, "ledgerd:");
        fail_msg("a head file of LEDGER_HEAD_FILE_MAX bytes did not restore");
    }
}

/* Starts the daemon on `dir`, adds the partner `partner_id`, takes a backup
 * into `backup` and stops it. */
static void partner_added_and_backed_up(struct fixture *f, const char *dir, const char *partner_id,
                                        const char *backup)
{
    fixture_data_set(f, dir);
    daemon_start(f, NULL);
    ProtobufCBinaryData command = command_add_partner(partner_id, partner_id, "Diverged");
    reply_free(operator_batch(f, &command, 1, LEDGER_ERR_OK));
    free(command.data);
    reply_free(operator_backup(f, backup, LEDGER_ERR_OK));
    assert_int_equal(daemon_stop(f, SIGTERM), 0);
}

/* Two copies of one ledger that diverged (a data directory restored and
 * served beside its original, both with the same head key): a backup that
 * mixes one's data.mdb with the other's head.pb is signed by the right key
 * for the right number of events, and restore still refuses it, naming the
 * root that differs. */
static void test_daemon_restore_refuses_the_head_of_a_diverged_copy(void **state)
{
    struct fixture *f = *state;
    char original[PATH_SIZE], twin[PATH_SIZE + 32], head_key[PATH_SIZE + 32];
    snprintf(original, sizeof original, "%s", f->data);
    snprintf(twin, sizeof twin, "%s/twin", f->root);
    snprintf(head_key, sizeof head_key, "%s/head.key", original);
    const char *copy[] = {"restore", "--from", original, "--data", twin, NULL};
    assert_int_equal(wait_exit(spawn(f, copy), 60000), 0);
    char original_backup[PATH_SIZE + 32], twin_backup[PATH_SIZE + 32];
    snprintf(original_backup, sizeof original_backup, "%s/original-backup", f->root);
    snprintf(twin_backup, sizeof twin_backup, "%s/twin-backup", f->root);
    partner_added_and_backed_up(f, twin, "twin-only", twin_backup);
    partner_added_and_backed_up(f, original, "original-only", original_backup);
    uint64_t head = 2; /* the first operator, then one partner each */

    char mixed[PATH_SIZE + 32], path[PATH_SIZE + 64];
    snprintf(mixed, sizeof mixed, "%s/mixed", f->root);
    snprintf(path, sizeof path, "%s/head.pb", twin_backup);
    uint8_t twin_head[1024];
    size_t twin_head_size = test_read_bytes(path, twin_head, sizeof twin_head);
    assert_true(twin_head_size != SIZE_MAX);
    backup_with_head(original_backup, mixed, twin_head, twin_head_size);
    char restored[PATH_SIZE + 32], says[256];
    snprintf(restored, sizeof restored, "%s/restored", f->root);
    restore_exits(f, mixed, restored, head_key, 1);
    snprintf(says, sizeof says,
             "ledgerd: the backup's head.pb does not match its data: the root of the first %llu "
             "events is not the one it signs (MISMATCH)",
             (unsigned long long)head);
    if (!log_contains(f, says)) {
        log_print(f, "ledgerd:");
        fail_msg("restore of a diverged copy's head did not say '%s'", says);
    }
    struct stat info;
    assert_int_not_equal(stat(restored, &info), 0);
    /* Each backup whole is restored. */
    const char *restore_twin[] = {"restore", "--from",     twin_backup, "--data",
                                  restored,  "--head-key", head_key,    NULL};
    assert_int_equal(wait_exit(spawn(f, restore_twin), 60000), 0);
}

/* Writes `text` and a newline to a new file at `path`. */
static void write_line(const char *path, const char *text)
{
    FILE *file = fopen(path, "w");
    assert_non_null(file);
    fprintf(file, "%s\n", text);
    assert_int_equal(fclose(file), 0);
}

/* A directory that holds a backup among too many other files (a dumping
 * ground, not a backup) is refused, whether its files alone pass the bound
 * or leave no room for --head-key, with the same reason, and nothing is
 * left behind. */
static void test_daemon_restore_refuses_a_crowded_directory(void **state)
{
    struct fixture *f = *state;
    char backup[PATH_SIZE + 32], path[PATH_SIZE + 64];
    uint8_t head[1024];
    size_t head_size = backup_taken_head(f, backup, sizeof backup, head, sizeof head);
    char crowded[PATH_SIZE + 32], restored[PATH_SIZE + 32], head_key[PATH_SIZE + 32];
    snprintf(crowded, sizeof crowded, "%s/crowded", f->root);
    snprintf(restored, sizeof restored, "%s/restored", f->root);
    snprintf(head_key, sizeof head_key, "%s/head.key", f->data);
    backup_with_head(backup, crowded, head, head_size);
    /* data.mdb, head.pb and 62 more: every one of restore's 64 slots. */
    for (int i = 0; i < 62; i++) {
        snprintf(path, sizeof path, "%s/extra-%02d", crowded, i);
        write_line(path, "not part of a backup");
    }
    const char *with_key[] = {"restore", "--from",     crowded,  "--data",
                              restored,  "--head-key", head_key, NULL};
    const char *without_key[] = {"restore", "--from", crowded, "--data", restored, NULL};
    char says[2 * PATH_SIZE];
    snprintf(says, sizeof says,
             "ledgerd: %s holds too many files for a backup (more than 64 to copy, --head-key "
             "counted): a backup `ledgerctl backup` made holds data.mdb and head.pb; give that "
             "directory, or move the other files out of this one",
             crowded);
    struct stat info;
    for (int round = 0; round < 2; round++) {
        log_clear(f);
        /* Then one more file: the backup's own files pass the bound. */
        assert_int_equal(wait_exit(spawn(f, round == 0 ? with_key : without_key), 60000), 1);
        if (!log_contains(f, says) || log_contains(f, "cannot copy")) {
            log_print(f, "ledgerd:");
            fail_msg("round %d: restore did not say '%s'", round, says);
        }
        assert_int_not_equal(stat(restored, &info), 0);
        snprintf(path, sizeof path, "%s/extra-62", crowded);
        write_line(path, "not part of a backup");
    }
}

/* A backup kept read-only (files 0400 in a directory 0500, as backups are
 * often locked against change) restores into a data directory its owner
 * can serve: the daemon opens data.mdb read-write, so every restored file
 * is 0600 whatever the backup's mode, never group- or world-readable. */
static void test_daemon_restore_of_a_read_only_backup(void **state)
{
    struct fixture *f = *state;
    char backup[PATH_SIZE + 32], path[PATH_SIZE + 64];
    backup_taken(f, backup, sizeof backup);
    const char *files[] = {"data.mdb", "head.pb"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", backup, files[i]);
        assert_int_equal(chmod(path, 0444), 0);
    }
    snprintf(path, sizeof path, "%s/data.mdb", backup);
    assert_int_equal(chmod(path, 0400), 0);
    assert_int_equal(chmod(backup, 0500), 0);
    char restored[PATH_SIZE], head_key[PATH_SIZE + 32];
    snprintf(restored, sizeof restored, "%s/restored", f->root);
    snprintf(head_key, sizeof head_key, "%s/head.key", f->data);
    const char *restore[] = {"restore", "--from",     backup,   "--data",
                             restored,  "--head-key", head_key, NULL};
    int status = wait_exit(spawn(f, restore), 60000);
    assert_int_equal(chmod(backup, 0700), 0);
    assert_int_equal(status, 0);
    struct stat info;
    const char *restored_files[] = {"data.mdb", "head.pb", "head.key"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", restored, restored_files[i]);
        assert_int_equal(stat(path, &info), 0);
        if ((info.st_mode & 07777) != 0600) {
            fail_msg("restored %s has mode %04o, not 0600", restored_files[i],
                     (unsigned)(info.st_mode & 07777));
        }
    }
    fixture_data_set(f, restored);
    daemon_start(f, NULL);
    assert_int_equal(daemon_stop(f, SIGTERM), 0);
}

/* A backup directory is writable by the daemon's user (it writes backups
 * there), while restore is run as root and its result given to that user:
 * a symbolic link planted in a backup, to a file only root may read, must
 * not be followed and copied into the new directory. restore refuses such a
 * backup, naming the link, and leaves nothing behind. */
static void test_daemon_restore_follows_no_link(void **state)
{
    struct fixture *f = *state;
    char backup[PATH_SIZE + 32], secret[PATH_SIZE + 32], link_path[PATH_SIZE + 64];
    backup_taken(f, backup, sizeof backup);
    snprintf(secret, sizeof secret, "%s/secret", f->root);
    write_line(secret, "only root reads this");
    assert_int_equal(chmod(secret, 0600), 0);
    snprintf(link_path, sizeof link_path, "%s/notes", backup);
    assert_int_equal(symlink(secret, link_path), 0);
    char restored[PATH_SIZE + 32], head_key[PATH_SIZE + 32], says[4 * PATH_SIZE];
    snprintf(restored, sizeof restored, "%s/restored", f->root);
    snprintf(head_key, sizeof head_key, "%s/head.key", f->data);
    const char *restore[] = {"restore", "--from",     backup,   "--data",
                             restored,  "--head-key", head_key, NULL};
    snprintf(says, sizeof says, "ledgerd: %s is a symbolic link", link_path);
    log_clear(f);
    assert_int_equal(wait_exit(spawn(f, restore), 60000), 1);
    if (!log_contains(f, says)) {
        log_print(f, "");
        fail_msg("restore did not refuse the link");
    }
    assert_int_not_equal(stat(restored, &(struct stat){0}), 0);
    /* Without the link, the backup restores. */
    assert_int_equal(unlink(link_path), 0);
    assert_int_equal(wait_exit(spawn(f, restore), 60000), 0);
}

/* The lock file of the directory restore reads from is only asked whether
 * a daemon serves it: a FIFO in its place (whoever writes backups could put
 * one there) does not hang restore, and one that cannot be opened (a link
 * to itself) is named with the system's reason and what to do, before
 * anything is written. */
static void test_daemon_restore_reads_any_lock_file(void **state)
{
    struct fixture *f = *state;
    char backup[PATH_SIZE + 32], lock_path[PATH_SIZE + 64], restored[PATH_SIZE + 32];
    backup_taken(f, backup, sizeof backup);
    snprintf(lock_path, sizeof lock_path, "%s/ledgerd.lock", backup);
    unlink(lock_path);
    assert_int_equal(mkfifo(lock_path, 0600), 0);
    snprintf(restored, sizeof restored, "%s/restored", f->root);
    const char *restore[] = {"restore", "--from", backup, "--data", restored, NULL};
    log_clear(f);
    int status = wait_exit(spawn(f, restore), 60000);
    if (status != 0) {
        log_print(f, "");
        fail_msg("restore beside a FIFO lock file: status %d", status);
    }
    char says[5 * PATH_SIZE];
    snprintf(says, sizeof says, "restored %s into %s: 1 event", backup, restored);
    assert_true(log_contains(f, says));
    struct stat st;
    char restored_lock[PATH_SIZE + 64];
    snprintf(restored_lock, sizeof restored_lock, "%s/ledgerd.lock", restored);
    assert_false(lstat(restored_lock, &st) == 0 && S_ISFIFO(st.st_mode));

    /* A lock file that is a link to itself. */
    assert_int_equal(unlink(lock_path), 0);
    assert_int_equal(symlink("ledgerd.lock", lock_path), 0);
    snprintf(restored, sizeof restored, "%s/restored-2", f->root);
    const char *again[] = {"restore", "--from", backup, "--data", restored, NULL};
    log_clear(f);
    assert_int_equal(wait_exit(spawn(f, again), 60000), 1);
    snprintf(says, sizeof says,
             "ledgerd: cannot read %s, which tells whether a ledgerd process serves %s: a file "
             "could not be read or written (IO_ERROR): %s cannot be opened: Too many levels of "
             "symbolic links; if none does, remove it (restore does not copy it)",
             lock_path, backup, lock_path);
    if (!log_contains(f, says)) {
        log_print(f, "");
        fail_msg("restore did not name the lock file it could not open");
    }
    assert_int_not_equal(lstat(restored, &st), 0);
}

/* A backup holding a head.key that is no head-signing key (restored
 * without --head-key, which would be checked first) makes a copy that does
 * not open: restore blames that file, not the log (ledger-verify finds the
 * log sound), says what to give instead, and leaves nothing behind. */
static void test_daemon_restore_names_the_backup_own_damaged_head_key(void **state)
{
    struct fixture *f = *state;
    char backup[PATH_SIZE + 32], key_path[PATH_SIZE + 64], restored[PATH_SIZE + 32];
    backup_taken(f, backup, sizeof backup);
    snprintf(key_path, sizeof key_path, "%s/head.key", backup);
    write_line(key_path, "not a key");
    snprintf(restored, sizeof restored, "%s/restored", f->root);
    const char *restore[] = {"restore", "--from", backup, "--data", restored, NULL};
    log_clear(f);
    assert_int_equal(wait_exit(spawn(f, restore), 60000), 1);
    char says[3 * PATH_SIZE];
    snprintf(says, sizeof says,
             "ledgerd: the backup's head.key (%s) cannot be used: it does not hold the 128 hex "
             "digits of an Ed25519 secret key",
             key_path);
    if (!log_contains(f, says) || !log_contains(f, "restore again with --head-key FILE") ||
        log_contains(f, "names the damage")) {
        log_print(f, "");
        fail_msg("restore did not blame the backup's head.key");
    }
    assert_int_not_equal(stat(restored, &(struct stat){0}), 0);
    /* Without it, the backup restores. */
    assert_int_equal(unlink(key_path), 0);
    assert_int_equal(wait_exit(spawn(f, restore), 60000), 0);
}

/* restore refuses a --head-key that is not the backup's head-signing key
 * before it writes anything, naming the file and saying what it holds,
 * instead of blaming the backup; the right key then restores. */
static void test_daemon_restore_checks_the_head_key(void **state)
{
    struct fixture *f = *state;
    char backup[PATH_SIZE + 32];
    backup_taken(f, backup, sizeof backup);

    char operator_key[PATH_SIZE + 32], other_key[PATH_SIZE + 32], unpaired_key[PATH_SIZE + 32];
    char missing_key[PATH_SIZE + 32], head_key[PATH_SIZE + 32], restored[PATH_SIZE + 32];
    snprintf(operator_key, sizeof operator_key, "%s/operator.key", f->data);
    snprintf(other_key, sizeof other_key, "%s/other-head.key", f->root);
    snprintf(unpaired_key, sizeof unpaired_key, "%s/unpaired-head.key", f->root);
    snprintf(missing_key, sizeof missing_key, "%s/no-such.key", f->root);
    snprintf(head_key, sizeof head_key, "%s/head.key", f->data);
    snprintf(restored, sizeof restored, "%s/restored", f->root);
    /* Another ledger's key; 128 hex digits that are no key pair. */
    uint8_t public_key[CRYPTO_SIGN_PUBLIC_BYTES], secret_key[CRYPTO_SIGN_SECRET_BYTES];
    char hex[2 * CRYPTO_SIGN_SECRET_BYTES + 1];
    assert_int_equal(crypto_init(), LEDGER_ERR_OK);
    crypto_ed25519_keypair(public_key, secret_key);
    crypto_hex(secret_key, sizeof secret_key, hex);
    write_line(other_key, hex);
    memset(hex, 'a', 2 * CRYPTO_SIGN_SECRET_BYTES);
    write_line(unpaired_key, hex);
    /* A FIFO nobody writes (a pipe is read once, and the key is read twice),
     * and a directory. */
    char fifo_key[PATH_SIZE + 32];
    snprintf(fifo_key, sizeof fifo_key, "%s/fifo-head.key", f->root);
    assert_int_equal(mkfifo(fifo_key, 0600), 0);

    const struct {
        const char *key;
        const char *says;
    } refused[] = {
        {operator_key, "is not a head-signing key: it holds 64 hex digits, a principal's secret"},
        {unpaired_key, "is not a head-signing key: its 128 hex digits are not an Ed25519 "
                       "secret key"},
        {other_key, "is not the key that signed the backup's head: the saved head was signed "
                    "by the key with public key "},
        {missing_key, "cannot read --head-key"},
        {fifo_key, "is a pipe (restore reads the key twice), not a file: give the path of a copy "
                   "of the head.key"},
        {f->root, "is a directory, not a file: give the path of a copy of the head.key"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        const char *restore[] = {"restore", "--from",     backup,         "--data",
                                 restored,  "--head-key", refused[i].key, NULL};
        assert_int_equal(wait_exit(spawn(f, restore), 20000), 1);
        char named[2 * PATH_SIZE];
        snprintf(named, sizeof named, "--head-key %s", refused[i].key);
        if (!log_contains(f, named) || !log_contains(f, refused[i].says)) {
            log_print(f, "ledgerd:");
            fail_msg("restore with %s did not say '%s'", refused[i].key, refused[i].says);
        }
        /* Nothing written, and the backup is not blamed. */
        struct stat info;
        assert_int_not_equal(stat(restored, &info), 0);
        assert_false(log_contains(f, "the restored copy does not open"));
        assert_false(log_contains(f, "CORRUPT"));
    }
    const char *restore[] = {"restore", "--from",     backup,   "--data",
                             restored,  "--head-key", head_key, NULL};
    assert_int_equal(wait_exit(spawn(f, restore), 60000), 0);
}

/* restore prints the public key of the head-signing key the restored ledger
 * signs with, in full, so that the operator can compare it with the one
 * published for auditors; the backup's own head.key, kept unchecked when no
 * --head-key is given, is also warned of. A backup without a key names the
 * one that signed its head.pb: the key to copy. */
static void test_daemon_restore_names_the_head_key(void **state)
{
    struct fixture *f = *state;
    char backup[PATH_SIZE + 32], head_key[PATH_SIZE + 32];
    backup_taken(f, backup, sizeof backup);
    snprintf(head_key, sizeof head_key, "%s/head.key", f->data);
    /* The key file is the secret key in hex, seed then public key. */
    uint8_t key_text[2 * CRYPTO_SIGN_SECRET_BYTES + 8];
    size_t key_size = test_read_bytes(head_key, key_text, sizeof key_text);
    assert_true(key_size != SIZE_MAX && key_size >= 2 * CRYPTO_SIGN_SECRET_BYTES);
    char public_key[2 * CRYPTO_SIGN_PUBLIC_BYTES + 1];
    memcpy(public_key, key_text + 2 * CRYPTO_SIGN_PUBLIC_BYTES, 2 * CRYPTO_SIGN_PUBLIC_BYTES);
    public_key[2 * CRYPTO_SIGN_PUBLIC_BYTES] = '\0';

    char restored[PATH_SIZE + 32], expected[3 * PATH_SIZE];
    snprintf(restored, sizeof restored, "%s/restored", f->root);
    restore_exits(f, backup, restored, head_key, 0);
    snprintf(expected, sizeof expected,
             "head-signing key: public key %s (the key --head-key %s gives)", public_key, head_key);
    assert_true(log_contains(f, expected));
    assert_false(log_contains(f, "warning: the backup's own head.key"));

    /* A copy of a data directory, with its own head.key. */
    char keyed[PATH_SIZE + 32], from[PATH_SIZE + 64], to[PATH_SIZE + 64];
    snprintf(keyed, sizeof keyed, "%s/keyed", f->root);
    assert_int_equal(mkdir(keyed, 0700), 0);
    const char *names[] = {"data.mdb", "head.pb"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(from, sizeof from, "%s/%s", backup, names[i]);
        snprintf(to, sizeof to, "%s/%s", keyed, names[i]);
        assert_true(test_copy_file(from, to));
    }
    snprintf(to, sizeof to, "%s/head.key", keyed);
    assert_true(test_copy_file(head_key, to));
    snprintf(restored, sizeof restored, "%s/restored-keyed", f->root);
    restore_exits(f, keyed, restored, NULL, 0);
    snprintf(expected, sizeof expected,
             "head-signing key: public key %s (the backup's own head.key)", public_key);
    assert_true(log_contains(f, expected));
    assert_true(log_contains(f, "warning: the backup's own head.key was kept unchecked: compare "
                                "its public key above with the ledger's"));

    snprintf(restored, sizeof restored, "%s/restored-keyless", f->root);
    restore_exits(f, backup, restored, NULL, 0);
    assert_false(log_contains(f, "head-signing key:"));
    snprintf(expected, sizeof expected,
             "note: the backup's head.pb was signed by the key with public key %s: the head.key "
             "to copy holds that one",
             public_key);
    assert_true(log_contains(f, expected));
    assert_true(log_contains(f, "note: the backup holds no head.key"));
}

/* restore refuses to copy a data directory a daemon serves (its copy of a
 * file being written would be torn), pointing at a hot backup instead, and
 * writes nothing; once the daemon is stopped the directory restores. */
static void test_daemon_restore_refuses_a_served_directory(void **state)
{
    struct fixture *f = *state;
    char restored[PATH_SIZE + 32], head_key[PATH_SIZE + 32];
    snprintf(restored, sizeof restored, "%s/restored", f->root);
    snprintf(head_key, sizeof head_key, "%s/head.key", f->data);
    daemon_start(f, NULL);
    const char *restore[] = {"restore", "--from", f->data, "--data", restored, NULL};
    assert_int_equal(wait_exit(spawn(f, restore), 60000), 1);
    assert_true(log_contains(f, "is in use by a ledgerd process"));
    assert_true(log_contains(f, "take a hot backup with `ledgerctl backup --out DIR`"));
    struct stat info;
    assert_int_not_equal(stat(restored, &info), 0);
    operator_head_sequence(f);
    assert_int_equal(daemon_stop(f, SIGTERM), 0);
    log_clear(f);
    assert_int_equal(wait_exit(spawn(f, restore), 60000), 0);
    assert_true(log_contains(f, "restored "));
}

/* A daemon does not start on a restored directory whose head.key is not the
 * key that signed the backup's head (kept as head.pb): it names both keys
 * and what to put there. With the right key it serves. */
static void test_daemon_start_checks_the_head_key(void **state)
{
    struct fixture *f = *state;
    char backup[PATH_SIZE + 32], restored[PATH_SIZE], head_key[PATH_SIZE + 32];
    char restored_key[PATH_SIZE + 64], saved_key[PATH_SIZE + 64];
    backup_taken(f, backup, sizeof backup);
    snprintf(restored, sizeof restored, "%s/restored", f->root);
    snprintf(head_key, sizeof head_key, "%s/head.key", f->data);
    snprintf(restored_key, sizeof restored_key, "%s/head.key", restored);
    snprintf(saved_key, sizeof saved_key, "%s/right-head.key", f->root);
    const char *restore[] = {"restore", "--from",     backup,   "--data",
                             restored,  "--head-key", head_key, NULL};
    assert_int_equal(wait_exit(spawn(f, restore), 60000), 0);
    assert_int_equal(rename(restored_key, saved_key), 0);
    /* Another ledger's key. */
    uint8_t public_key[CRYPTO_SIGN_PUBLIC_BYTES], secret_key[CRYPTO_SIGN_SECRET_BYTES];
    char hex[2 * CRYPTO_SIGN_SECRET_BYTES + 1];
    crypto_ed25519_keypair(public_key, secret_key);
    crypto_hex(secret_key, sizeof secret_key, hex);
    write_line(restored_key, hex);
    assert_int_equal(chmod(restored_key, 0600), 0);
    log_clear(f);
    const char *serve[] = {"--data", restored, NULL};
    assert_int_equal(wait_exit(spawn(f, serve), 30000), 1);
    assert_true(log_contains(f, "its head.key is not the key that signed the ledger's saved head"));
    assert_true(log_contains(f, "the saved head was signed by the key with public key "));
    /* The right key serves. */
    assert_int_equal(rename(saved_key, restored_key), 0);
    fixture_data_set(f, restored);
    daemon_start(f, NULL);
    assert_int_equal(daemon_stop(f, SIGTERM), 0);
}

/* Opens the stopped daemon's store directly, as a test that edits it behind
 * the daemon's back does, and begins a transaction (a write one when
 * `write`). */
static struct store_txn *store_edit_begin(const struct store_options *options, bool write,
                                          struct store **store)
{
    assert_int_equal(store_open(options, store), LEDGER_ERR_OK);
    struct store_txn *txn = NULL;
    assert_int_equal(store_begin(*store, write, &txn), LEDGER_ERR_OK);
    return txn;
}

/* Commits what store_edit_begin began and closes the store. */
static void store_edit_commit(struct store *store, struct store_txn *txn)
{
    assert_int_equal(store_commit(txn), LEDGER_ERR_OK);
    store_close(store);
}

/* A rebuild that did not finish leaves the views incomplete and says so in
 * the store: the daemon refuses to serve them until a rebuild completes. */
static void test_daemon_interrupted_rebuild_refused(void **state)
{
    struct fixture *f = *state;
    daemon_start(f, NULL);
    ProtobufCBinaryData command = command_add_partner("rebuild-mark-1", "marked", "Marked");
    reply_free(operator_batch(f, &command, 1, LEDGER_ERR_OK));
    free(command.data);
    uint64_t head = operator_head_sequence(f);
    assert_int_equal(daemon_stop(f, SIGTERM), 0);

    /* What a rebuild's first transaction records, as if it stopped there. */
    struct store_options options = {.dir = f->data};
    struct store *store = NULL;
    struct store_txn *txn = store_edit_begin(&options, true, &store);
    assert_int_equal(views_layout_mark_rebuilding(txn), LEDGER_ERR_OK);
    store_edit_commit(store, txn);

    const char *serve[] = {"--data", f->data, NULL};
    assert_int_equal(wait_exit(spawn(f, serve), 20000), 1);
    assert_true(log_contains(f, "a rebuild of its views did not finish"));
    const char *rebuild[] = {"rebuild", "--data", f->data, NULL};
    assert_int_equal(wait_exit(spawn(f, rebuild), 60000), 0);
    assert_true(log_contains(f, "an earlier rebuild did not finish"));
    daemon_start(f, NULL);
    assert_int_equal(operator_head_sequence(f), head);
    assert_int_equal(daemon_stop(f, SIGTERM), 0);
}

/* `ledgerd rebuild` of a log an earlier build wrote, which holds one
 * subscription id under two customers of a partner (tests/support/
 * oldlog.h: also one id under customers of two partners, and one bought
 * once): after the views' report, the count and that id with its holders
 * in sequence order, and nothing of the other two; the exit status is the
 * views' alone. A ledger without such ids says nothing of them. */
static void test_daemon_rebuild_names_shared_subscription_ids(void **state)
{
    struct fixture *f = *state;
    const char *rebuild[] = {"rebuild", "--data", f->data, NULL};
    assert_int_equal(wait_exit(spawn(f, rebuild), 60000), 0);
    assert_false(log_contains(f, "customers of one partner"));

    struct store_options options = {.dir = f->data};
    struct store *store = NULL;
    assert_int_equal(store_open(&options, &store), LEDGER_ERR_OK);
    struct oldlog_shared shared;
    assert_int_equal(oldlog_shared_subscription(store, &shared), LEDGER_ERR_OK);
    store_close(store);
    /* Appended without views: the first rebuild derives them (exit 1), the
     * second finds them as they are (exit 0); both name the id. */
    char line[1024];
    snprintf(line, sizeof line,
             "every view matches the log's replay\n"
             "1 subscription id(s) held by two or more customers of one partner, recorded before "
             "ids were unique within a partner; see docs/domain.md, \"Subscriptions\"; nothing is "
             "lost, and new purchases of such an id are refused for every customer of its partner "
             "(docs/operations.md, \"Subscription ids two customers hold\"):\n"
             "  partner p-a, subscription sub-shared: customer c-2 (sequence %llu), customer c-1 "
             "(sequence %llu)\n",
             (unsigned long long)shared.first, (unsigned long long)shared.second);
    for (int expected = 1; expected >= 0; expected--) {
        log_clear(f);
        assert_int_equal(wait_exit(spawn(f, rebuild), 60000), expected);
        const char *said = expected == 0 ? line : strchr(line, '\n') + 1;
        if (!log_contains(f, said) || log_contains(f, "sub-moved") || log_contains(f, "sub-once") ||
            log_contains(f, "more: ledger-verify")) {
            log_print(f, "");
            fail_msg("rebuild (exit %d) did not say:\n%s", expected, said);
        }
    }

    /* Five more such ids, before sub-shared in key order: the first five
     * are named, and the sixth is counted. */
    assert_int_equal(store_open(&options, &store), LEDGER_ERR_OK);
    for (uint64_t i = 1; i <= LEDGER_REBUILD_DUPLICATES_SHOWN; i++) {
        char id[32];
        snprintf(id, sizeof id, "sub-more-%llu", (unsigned long long)i);
        const struct oldlog_envelope c1 = {"p-a", "c-1", 2 + i, LEDGER_SCHEMA_VERSION};
        const struct oldlog_envelope c2 = {"p-a", "c-2", 1 + i, LEDGER_SCHEMA_VERSION};
        assert_int_equal(oldlog_subscription_purchased(store, &c1, id, NULL), LEDGER_ERR_OK);
        assert_int_equal(oldlog_subscription_purchased(store, &c2, id, NULL), LEDGER_ERR_OK);
    }
    store_close(store);
    log_clear(f);
    assert_int_equal(wait_exit(spawn(f, rebuild), 60000), 1);
    char more[sizeof f->data + 64];
    snprintf(more, sizeof more, "  and 1 more: ledger-verify %s lists every one\n", f->data);
    if (!log_contains(f, "\n6 subscription id(s) held by two or more customers") ||
        !log_contains(f, "subscription sub-more-5: customer c-1") || !log_contains(f, more) ||
        log_contains(f, "sub-shared")) {
        log_print(f, "");
        fail_msg("rebuild did not name the first five of six ids");
    }
}

/* `ledgerd rebuild` on a ledger whose partner row was changed behind its
 * back (the name of the one partner): exit 1, the view named DIFFERENT and
 * the others same, the count of views that differed; the row is the log's
 * again, so a second rebuild finds nothing and exits 0. */
static void test_daemon_rebuild_reports_a_changed_view(void **state)
{
    struct fixture *f = *state;
    daemon_start(f, NULL);
    ProtobufCBinaryData command = command_add_partner("rebuild-view-1", "changed", "Changed");
    reply_free(operator_batch(f, &command, 1, LEDGER_ERR_OK));
    free(command.data);
    assert_int_equal(daemon_stop(f, SIGTERM), 0);

    struct store_options options = {.dir = f->data};
    struct store *store = NULL;
    struct store_txn *txn = store_edit_begin(&options, true, &store);
    struct store_val row;
    assert_int_equal(store_get(txn, STORE_DB_PARTNER, "changed", 7, &row), LEDGER_ERR_OK);
    uint8_t changed[256];
    assert_true(row.size > 0 && row.size <= sizeof changed);
    memcpy(changed, row.data, row.size);
    changed[row.size - 1] ^= 0x01; /* the last letter of its name */
    assert_int_equal(store_put(txn, STORE_DB_PARTNER, "changed", 7, changed, row.size),
                     LEDGER_ERR_OK);
    store_edit_commit(store, txn);

    const char *rebuild[] = {"rebuild", "--data", f->data, NULL};
    assert_int_equal(wait_exit(spawn(f, rebuild), 60000), 1);
    if (!log_contains(f, "partner                  DIFFERENT") ||
        !log_contains(f, "reservation              same") ||
        !log_contains(f, "1 view(s) differed from the log's replay; they now match it")) {
        log_print(f, "");
        fail_msg("rebuild did not name the changed view alone");
    }
    log_clear(f);
    assert_int_equal(wait_exit(spawn(f, rebuild), 60000), 0);
    assert_true(log_contains(f, "every view matches the log's replay"));
    assert_false(log_contains(f, "DIFFERENT"));
}

/* `ledgerd rebuild` on a ledger with a record damaged behind the store's
 * back (one byte of its correlation id, which only the record holds): exit
 * 2, naming the record's sequence and what is wrong with it in the words of
 * docs/operations.md. */
static void test_daemon_rebuild_names_a_damaged_record(void **state)
{
    struct fixture *f = *state;
    daemon_start(f, NULL);
    const char *correlation_id = "only-in-the-record-7f3e";
    ProtobufCBinaryData data =
        command_add_partner_correlated("rebuild-damaged-1", "damaged", "Damaged", correlation_id);
    reply_free(operator_batch(f, &data, 1, LEDGER_ERR_OK));
    free(data.data);
    uint64_t damaged = operator_head_sequence(f);
    assert_int_equal(daemon_stop(f, SIGTERM), 0);

    char path[PATH_SIZE + 16], says[256];
    snprintf(path, sizeof path, "%s/data.mdb", f->data);
    assert_true(test_flip_byte_once(path, correlation_id, strlen(correlation_id), 0));
    const char *rebuild[] = {"rebuild", "--data", f->data, NULL};
    assert_int_equal(wait_exit(spawn(f, rebuild), 60000), 2);
    snprintf(says, sizeof says,
             "ledgerd: rebuild failed at sequence %llu: the record's bytes do not match its "
             "stored leaf hash (CORRUPT); the log is damaged there: check it with ledger-verify "
             "and restore a backup",
             (unsigned long long)damaged);
    if (!log_contains(f, says)) {
        log_print(f, "");
        fail_msg("rebuild did not name the damaged record %llu", (unsigned long long)damaged);
    }
    /* It failed before its first commit (every 20,000 events): the views
     * are left as they were, and ledger-verify names the same record. */
    const char *verify = getenv("LEDGER_VERIFY");
    assert_non_null(verify);
    log_clear(f);
    const char *verify_args[] = {"--no-views", f->data, NULL};
    assert_int_equal(wait_exit(spawn_program(f, verify, NULL, geteuid(), verify_args), 60000), 1);
    snprintf(says, sizeof says, "FAILED at sequence %llu: ", (unsigned long long)damaged);
    assert_true(log_contains(f, says));
    daemon_start(f, NULL);
    assert_int_equal(operator_head_sequence(f), damaged);
    assert_int_equal(daemon_stop(f, SIGTERM), 0);
}

/* A data directory of an older views layout (the schema-v1 fixture, layout
 * 1): refused until `ledgerd rebuild`, which derives the views again in this
 * build's layout without comparing and says so; then it serves the same
 * history. */
static void test_daemon_older_layout_derived_again(void **state)
{
    struct fixture *f = *state;
    const char *source = getenv("LEDGER_SOURCE_DIR");
    assert_non_null(source);
    char from[PATH_SIZE], to[PATH_SIZE + 16], refused[160];
    snprintf(from, sizeof from, "%s/tests/fixtures/schema-v1/data.mdb", source);
    snprintf(to, sizeof to, "%s/data.mdb", f->data);
    assert_int_equal(unlink(to), 0);
    assert_true(test_copy_file(from, to));
    /* The fixture's own operator, whose secret its store keeps. */
    struct store_options options = {.dir = f->data};
    struct store *store = NULL;
    struct store_txn *txn = store_edit_begin(&options, false, &store);
    struct store_val secret;
    assert_int_equal(store_get(txn, STORE_DB_SECRET, "operator", 8, &secret), LEDGER_ERR_OK);
    assert_int_equal(secret.size, sizeof f->secret);
    memcpy(f->secret, secret.data, sizeof f->secret);
    store_abort(txn);
    store_close(store);

    const char *serve[] = {"--data", f->data, NULL};
    assert_int_equal(wait_exit(spawn(f, serve), 20000), 1);
    snprintf(refused, sizeof refused,
             "its views were written by an older build (layout 1, this build writes %d); run "
             "`ledgerd rebuild --data ",
             VIEWS_LAYOUT_VERSION);
    assert_true(log_contains(f, refused));
    const char *rebuild[] = {"rebuild", "--data", f->data, NULL};
    assert_int_equal(wait_exit(spawn(f, rebuild), 60000), 0);
    assert_true(log_contains(f, "the views were written by an older build (layout 1): deriving "
                                "them again in this build's layout, without comparing"));
    assert_true(log_contains(f, "every view is derived again from the log; the data directory "
                                "can serve"));
    daemon_start(f, NULL);
    assert_int_equal(operator_head_sequence(f), 301);
    assert_int_equal(daemon_stop(f, SIGTERM), 0);
}

/* Views of a newer layout than this build's (the data directory served by
 * a newer build, then this one started on it again) are named as a newer
 * build's, not an older one's, both when the daemon refuses them and when
 * rebuild derives them again in this build's layout. */
static void test_daemon_newer_layout_named(void **state)
{
    struct fixture *f = *state;
    daemon_start(f, NULL);
    assert_int_equal(daemon_stop(f, SIGTERM), 0);
    struct store_options options = {.dir = f->data};
    struct store *store = NULL;
    struct store_txn *txn = store_edit_begin(&options, true, &store);
    uint8_t newer[8];
    store_u64_to_key(VIEWS_LAYOUT_VERSION + 1, newer);
    assert_int_equal(store_put(txn, STORE_DB_META, "views", 5, newer, sizeof newer), LEDGER_ERR_OK);
    store_edit_commit(store, txn);

    char says[256];
    const char *serve[] = {"--data", f->data, NULL};
    log_clear(f);
    assert_int_equal(wait_exit(spawn(f, serve), 20000), 1);
    snprintf(says, sizeof says,
             "its views were written by a newer build (layout %d, this build writes %d)",
             VIEWS_LAYOUT_VERSION + 1, VIEWS_LAYOUT_VERSION);
    assert_true(log_contains(f, says));
    assert_false(log_contains(f, "older build"));
    const char *verify = getenv("LEDGER_VERIFY");
    if (verify != NULL) {
        const char *verify_args[] = {f->data, NULL};
        log_clear(f);
        assert_int_equal(wait_exit(spawn_program(f, verify, NULL, 0, verify_args), 60000), 1);
        snprintf(says, sizeof says, "FAILED: views: written by a newer build (layout %d;",
                 VIEWS_LAYOUT_VERSION + 1);
        assert_true(log_contains(f, says));
    }
    const char *rebuild[] = {"rebuild", "--data", f->data, NULL};
    log_clear(f);
    assert_int_equal(wait_exit(spawn(f, rebuild), 60000), 0);
    snprintf(says, sizeof says,
             "the views were written by a newer build (layout %d): deriving them again in this "
             "build's layout, without comparing",
             VIEWS_LAYOUT_VERSION + 1);
    assert_true(log_contains(f, says));
    assert_false(log_contains(f, "older build"));
    daemon_start(f, NULL);
    assert_int_equal(daemon_stop(f, SIGTERM), 0);
}

/* A refusal horizon further ahead of the clock than the authentication
 * window (the clock was set back since the refusal) is cut to the window
 * and logged, so that commands are served again once the window has passed
 * rather than refused as stale until then; the largest timestamp there is
 * (whose start, just after it, would overflow) too. */
static void test_daemon_refusal_horizon_bounded_at_start(void **state)
{
    struct fixture *f = *state;
    daemon_start(f, NULL);
    assert_int_equal(daemon_stop(f, SIGTERM), 0);
    const int64_t horizons[] = {now_us() + 10LL * 86400 * 1000000, INT64_MAX};
    const char *window[] = {"--auth-window-s", "1", NULL};
    for (size_t i = 0; i < sizeof horizons / sizeof horizons[0]; i++) {
        struct store_options options = {.dir = f->data};
        struct store *store = NULL;
        struct store_txn *txn = store_edit_begin(&options, true, &store);
        uint8_t value[8];
        store_u64_to_key((uint64_t)horizons[i], value);
        assert_int_equal(store_put(txn, STORE_DB_META, "refused-until", 13, value, sizeof value),
                         LEDGER_ERR_OK);
        store_edit_commit(store, txn);
        log_clear(f);
        daemon_start(f, window);
        if (!log_contains(f, "refusal horizon beyond the authentication window")) {
            log_print(f, "");
            fail_msg("case %zu: the cut horizon was not logged", i);
        }
        /* Signed anew until the one-second window has passed. */
        char id[32], name[32];
        snprintf(id, sizeof id, "horizon-%zu", i);
        snprintf(name, sizeof name, "Horizon %zu", i);
        ProtobufCBinaryData partner = command_add_partner(id, id, name);
        int64_t deadline = now_us() + (int64_t)test_timeout_ms(5000) * 1000;
        enum ledger_err code = LEDGER_ERR_STALE_REQUEST;
        while (code == LEDGER_ERR_STALE_REQUEST && now_us() < deadline) {
            struct request_spec spec = {.principal_id = "operator", .secret = f->secret};
            size_t size = 0;
            uint8_t *bytes = request_batch(&spec, &partner, 1, &size);
            Ledger__V1__Reply *reply = call_bytes(f->client, bytes, size);
            free(bytes);
            assert_non_null(reply);
            code = (enum ledger_err)reply->code;
            reply_free(reply);
            if (code == LEDGER_ERR_STALE_REQUEST) {
                sleep_ms(100);
            }
        }
        free(partner.data);
        if (code != LEDGER_ERR_OK) {
            fail_msg("case %zu: %s, still, past the window", i, ledger_err_name(code));
        }
        assert_int_equal(daemon_stop(f, SIGTERM), 0);
    }
}

/* A map recorded in the data file larger than map_bytes_max (the setting
 * lowered after the map grew): the daemon serves, says so at start, and the
 * started line gives both sizes. */
static void test_daemon_map_larger_than_its_bound(void **state)
{
    struct fixture *f = *state;
    daemon_start(f, NULL);
    assert_int_equal(daemon_stop(f, SIGTERM), 0);

    /* A write with a 96 MiB map records that size in the meta page. */
    struct store_options options = {
        .dir = f->data, .map_bytes = UINT64_C(96) << 20, .map_bytes_max = UINT64_C(128) << 20};
    struct store *store = NULL;
    struct store_txn *txn = store_edit_begin(&options, true, &store);
    assert_int_equal(views_layout_set(txn), LEDGER_ERR_OK);
    store_edit_commit(store, txn);

    assert_int_equal(truncate(f->log_path, 0), 0);
    const char *lowered[] = {"--map-bytes-max", "80M", NULL};
    daemon_start(f, lowered);
    assert_true(log_contains(f, "map_bytes=100663296 map_bytes_max=83886080"));
    assert_true(log_contains(f, "WARN  map larger than map_bytes_max"));
    assert_true(log_contains(f, "set map_bytes_max to at least map_bytes"));
    assert_int_equal(operator_head_sequence(f), 1);
    assert_int_equal(daemon_stop(f, SIGTERM), 0);

    /* Raised to the map's size, the warning is gone. */
    assert_int_equal(truncate(f->log_path, 0), 0);
    const char *raised[] = {"--map-bytes-max", "96M", NULL};
    daemon_start(f, raised);
    assert_true(log_contains(f, "map_bytes=100663296 map_bytes_max=100663296"));
    assert_false(log_contains(f, "map larger than map_bytes_max"));
    assert_int_equal(daemon_stop(f, SIGTERM), 0);
}

/* The data directory is its owner's alone: init refuses an existing one
 * that other users can reach (and writes nothing into it), and a daemon
 * started on one opened since warns. */
static void test_daemon_data_dir_mode(void **state)
{
    struct fixture *f = *state;
    char open_dir[PATH_SIZE], data_file[PATH_SIZE + 16];
    snprintf(open_dir, sizeof open_dir, "%s/open", f->root);
    assert_int_equal(mkdir(open_dir, 0700), 0);
    assert_int_equal(chmod(open_dir, 0755), 0);
    const char *init[] = {"init", "--data", open_dir, NULL};
    assert_int_equal(wait_exit(spawn(f, init), 30000), 1);
    assert_true(log_contains(f, "other users can reach it (mode 755)"));
    assert_true(log_contains(f, "run chmod 700 "));
    snprintf(data_file, sizeof data_file, "%s/data.mdb", open_dir);
    struct stat info;
    assert_int_not_equal(stat(data_file, &info), 0);
    assert_int_equal(chmod(open_dir, 0700), 0);
    assert_int_equal(wait_exit(spawn(f, init), 30000), 0);
    assert_int_equal(stat(data_file, &info), 0);

    assert_false(log_contains(f, "data directory open to other users"));
    assert_int_equal(chmod(f->data, 0750), 0);
    daemon_start(f, NULL);
    assert_int_equal(daemon_stop(f, SIGTERM), 0);
    assert_true(log_contains(f, "data directory open to other users"));
    assert_true(log_contains(f, "mode=750"));
    assert_int_equal(chmod(f->data, 0700), 0);
}

/* A key file of the data directory that other users may read is warned of
 * at start, naming it (the daemon serves all the same); mode 0600 is not. */
static void test_daemon_key_file_mode_warned(void **state)
{
    struct fixture *f = *state;
    char head_key[PATH_SIZE + 32];
    snprintf(head_key, sizeof head_key, "%s/head.key", f->data);
    assert_int_equal(chmod(head_key, 0640), 0);
    log_clear(f);
    daemon_start(f, NULL);
    assert_int_equal(daemon_stop(f, SIGTERM), 0);
    assert_true(log_contains(f, "key file open to other users"));
    char named[2 * PATH_SIZE];
    snprintf(named, sizeof named, "file=%s mode=640", head_key);
    if (!log_contains(f, named)) {
        log_print(f, "key file");
        fail_msg("the warning does not name %s", head_key);
    }
    assert_int_equal(chmod(head_key, 0600), 0);
    log_clear(f);
    daemon_start(f, NULL);
    assert_int_equal(daemon_stop(f, SIGTERM), 0);
    assert_false(log_contains(f, "key file open to other users"));
}

/* A config file other users may write (they could move the data directory
 * or the sockets) is used, with a warning naming it; one only its owner
 * writes gets none. */
static void test_daemon_config_writable_by_others_warned(void **state)
{
    struct fixture *f = *state;
    char config[PATH_SIZE + 32];
    snprintf(config, sizeof config, "%s/open.conf", f->root);
    write_line(config, "slow_commit_ms = 100");
    assert_int_equal(chmod(config, 0666), 0);
    const char *extra[] = {"--config", config, NULL};
    log_clear(f);
    daemon_start(f, extra);
    assert_int_equal(daemon_stop(f, SIGTERM), 0);
    assert_true(log_contains(f, "config file writable by other users"));
    assert_true(log_contains(f, "mode=666"));
    assert_int_equal(chmod(config, 0644), 0);
    log_clear(f);
    daemon_start(f, extra);
    assert_int_equal(daemon_stop(f, SIGTERM), 0);
    assert_false(log_contains(f, "config file writable by other users"));
}

/* Whether `dir`/`name` exists. */
static bool file_exists(const char *dir, const char *name)
{
    char path[2 * PATH_SIZE];
    struct stat info;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &info) == 0;
}

/* Whether any file a failed init could have left is in `dir`. */
static bool init_left_files(const char *dir)
{
    const char *names[] = {"head.key", "data.mdb", "lock.mdb", "ledgerd.lock", "operator.key"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (file_exists(dir, names[i])) {
            return true;
        }
    }
    return false;
}

/* An operator id of the ledger's reserved prefix is refused as reserved (not
 * as malformed) before anything is made; an init that fails after it began
 * writing (here: its operator.key cannot be written) removes all it made,
 * keeps what it found (a config file, the directory), and can simply run
 * again. So does a first start. */
static void test_daemon_init_all_or_nothing(void **state)
{
    struct fixture *f = *state;
    char dir[PATH_SIZE + 32], blocker[PATH_SIZE + 64], conf[PATH_SIZE + 64];
    snprintf(dir, sizeof dir, "%s/new", f->root);
    const char *reserved[] = {"init", "--data", dir, "--operator", "ledger:foo", NULL};
    assert_int_equal(wait_exit(spawn(f, reserved), 30000), 2);
    assert_true(log_contains(f, "--operator \"ledger:foo\": ids beginning with \"ledger:\""));
    assert_true(log_contains(f, "are reserved for the ledger's own principals"));
    assert_false(log_contains(f, "must be 1..64 characters"));
    struct stat info;
    assert_int_not_equal(stat(dir, &info), 0);

    /* A directory that holds a config file and an operator.key that is a
     * directory: the store and head.key are made, then the key fails. */
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(conf, sizeof conf, "%s/ledgerd.conf", dir);
    write_line(conf, "[ledgerd]");
    snprintf(blocker, sizeof blocker, "%s/operator.key", dir);
    const char *init[] = {"init", "--data", dir, NULL};
    const char *serve[] = {"--data", dir, NULL};
    const char *const *runs[] = {init, serve};
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(mkdir(blocker, 0700), 0);
        log_clear(f);
        assert_int_equal(wait_exit(spawn(f, runs[i]), 30000), 1);
        assert_true(log_contains(f, "cannot initialize"));
        assert_true(log_contains(f, "nothing of it was kept"));
        assert_int_equal(rmdir(blocker), 0);
        assert_false(init_left_files(dir));
        assert_true(file_exists(dir, "ledgerd.conf"));
    }
    assert_int_equal(wait_exit(spawn(f, init), 30000), 0);
    assert_true(file_exists(dir, "operator.key"));
    assert_true(file_exists(dir, "head.key"));
}

/* Asserts that the file at `path` begins with the line `text`. */
static void assert_first_line(const char *path, const char *text)
{
    FILE *file = fopen(path, "r");
    assert_non_null(file);
    char line[128] = "";
    assert_non_null(fgets(line, sizeof line, file));
    fclose(file);
    line[strcspn(line, "\n")] = '\0';
    assert_string_equal(line, text);
}

/* The key files are written through temporary files next to them: whatever
 * an earlier run left by those names (a readable file, a symbolic link) is
 * never written through. Each key ends mode 0600, and a link's target is
 * left as it was. (A first start initializes through the same code.) */
static void test_daemon_init_keys_never_through_a_left_file(void **state)
{
    struct fixture *f = *state;
    char dir[PATH_SIZE + 32], path[PATH_SIZE + 64], target[PATH_SIZE + 64];
    snprintf(dir, sizeof dir, "%s/new", f->root);
    snprintf(target, sizeof target, "%s/elsewhere", f->root);
    write_line(target, "untouched");
    assert_int_equal(chmod(target, 0644), 0);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(path, sizeof path, "%s/operator.key.tmp", dir);
    write_line(path, "left by an earlier run");
    assert_int_equal(chmod(path, 0644), 0);
    snprintf(path, sizeof path, "%s/head.key.tmp", dir);
    assert_int_equal(symlink(target, path), 0);
    const char *init[] = {"init", "--data", dir, NULL};
    assert_int_equal(wait_exit(spawn(f, init), 30000), 0);
    assert_int_equal(file_mode(dir, "operator.key"), 0600);
    assert_int_equal(file_mode(dir, "head.key"), 0600);
    assert_int_equal(file_mode(dir, "operator.key.tmp"), -1);
    assert_int_equal(file_mode(dir, "head.key.tmp"), -1);
    assert_first_line(target, "untouched");
    assert_int_equal(file_mode(f->root, "elsewhere"), 0644);
}

/* An operator.key already in the directory (another ledger's operator, kept
 * there when its store was moved away) is never replaced: init and a first
 * start refuse, name it and make nothing. */
static void test_daemon_init_keeps_an_operator_key_it_found(void **state)
{
    struct fixture *f = *state;
    char dir[PATH_SIZE + 32], path[PATH_SIZE + 64];
    snprintf(dir, sizeof dir, "%s/new", f->root);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(path, sizeof path, "%s/operator.key", dir);
    write_line(path, "the key of an earlier ledger");
    const char *init[] = {"init", "--data", dir, NULL};
    const char *serve[] = {"--data", dir, NULL};
    const char *const *runs[] = {init, serve};
    for (size_t i = 0; i < 2; i++) {
        log_clear(f);
        assert_int_equal(wait_exit(spawn(f, runs[i]), 30000), 1);
        if (!log_contains(f, "already holds an operator.key") || !log_contains(f, "move it away")) {
            log_print(f, "");
            fail_msg("run %zu did not refuse the operator.key it found", i);
        }
        assert_first_line(path, "the key of an earlier ledger");
        assert_false(file_exists(dir, "head.key"));
        assert_false(file_exists(dir, "data.mdb"));
    }
}

/* A ledgerd.conf in a fresh data directory that is a link to a file that
 * does not exist yet (a config kept in /etc, not written yet) is neither
 * written through nor replaced: init and a first start initialize the
 * directory all the same and say, with the reason, that the sample was
 * not written and the defaults apply. */
static void test_daemon_init_beside_a_dangling_config_link(void **state)
{
    struct fixture *f = *state;
    char target[PATH_SIZE + 32], link_path[PATH_SIZE + 64];
    snprintf(target, sizeof target, "%s/etc-ledgerd.conf", f->root);
    const char *commands[2][4] = {{"init", "--data", NULL, NULL}, {"--data", NULL, NULL, NULL}};
    for (size_t i = 0; i < 2; i++) {
        char data[PATH_SIZE];
        snprintf(data, sizeof data, "%s/fresh-%zu", f->root, i);
        fixture_data_set(f, data);
        assert_int_equal(mkdir(f->data, 0700), 0);
        snprintf(link_path, sizeof link_path, "%s/ledgerd.conf", f->data);
        assert_int_equal(symlink(target, link_path), 0);
        commands[i][i == 0 ? 2 : 1] = f->data;
        log_clear(f);
        if (i == 0) {
            assert_int_equal(wait_exit(spawn(f, commands[i]), 30000), 0);
            char says[2 * PATH_SIZE];
            snprintf(says, sizeof says,
                     "ledgerd: warning: cannot write the sample config file %s: it is a link to "
                     "a file that does not exist; the settings are the defaults and the command "
                     "line's until a config file is there",
                     link_path);
            assert_true(log_contains(f, says));
            assert_false(log_contains(f, "config file: "));
            assert_true(key_read(f->data, f->secret));
            daemon_start(f, NULL);
        } else {
            f->pid = spawn(f, commands[i]);
            int64_t deadline = now_us() + (int64_t)test_timeout_ms(60000) * 1000;
            while (!key_read(f->data, f->secret) && now_us() < deadline) {
                sleep_ms(10);
            }
            daemon_wait_ready(f);
            assert_true(log_contains(f, "WARN  sample config file not written"));
            assert_true(log_contains(f, "error=\"it is a link to a file that does not exist\""));
        }
        assert_int_equal(operator_head_sequence(f), 1);
        assert_int_equal(daemon_stop(f, SIGTERM), 0);
        /* The link is left as it was, and nothing was written through it. */
        struct stat st;
        assert_int_equal(lstat(link_path, &st), 0);
        assert_true(S_ISLNK(st.st_mode));
        assert_int_not_equal(stat(target, &st), 0);
    }
}

/* Two inits of one new directory at once (an operator's and a first start
 * of the unit, say): one initializes it and the other is refused without
 * touching it, whichever comes second; never does the refused one remove
 * what the other made, which would leave an "initialized" directory without
 * its store. */
static void test_daemon_init_twice_at_once(void **state)
{
    struct fixture *f = *state;
    char dir[PATH_SIZE + 32];
    snprintf(dir, sizeof dir, "%s/new", f->root);
    const char *init[] = {"init", "--data", dir, NULL};
    for (int round = 0; round < 40; round++) {
        pid_t first = spawn(f, init);
        pid_t second = spawn(f, init);
        int first_status = wait_exit(first, 30000);
        int second_status = wait_exit(second, 30000);
        /* The second may also find the directory made by the first just
         * after it looked: that is no error of the system's to report. */
        if ((first_status == 0) + (second_status == 0) != 1 || !file_exists(dir, "head.key") ||
            !file_exists(dir, "data.mdb") || !file_exists(dir, "operator.key") ||
            log_contains(f, "File exists")) {
            log_print(f, "");
            fail_msg("round %d: exit statuses %d and %d, head.key %s, data.mdb %s", round,
                     first_status, second_status, file_exists(dir, "head.key") ? "kept" : "gone",
                     file_exists(dir, "data.mdb") ? "kept" : "gone");
        }
        test_remove_dir(dir);
        log_clear(f);
    }
}

/* An init stopped by SIGTERM (systemctl stop during a first start, Ctrl-C)
 * at any moment leaves the directory as it found it or wholly initialized,
 * never with a store whose only operator has no key file. The signal is
 * sent at 40 moments spread over the time one init takes. */
static void test_daemon_init_stopped_all_or_nothing(void **state)
{
    struct fixture *f = *state;
    char dir[PATH_SIZE + 32], key[PATH_SIZE + 64];
    snprintf(dir, sizeof dir, "%s/new", f->root);
    snprintf(key, sizeof key, "%s/operator.key", dir);
    const char *init[] = {"init", "--data", dir, NULL};
    int64_t started_us = now_us();
    assert_int_equal(wait_exit(spawn(f, init), 30000), 0);
    int64_t init_us = now_us() - started_us;
    test_remove_dir(dir);
    for (int moment = 0; moment < 40; moment++) {
        pid_t pid = spawn(f, init);
        struct timespec pause = {.tv_nsec = (long)(init_us * moment / 40 * 1000)};
        nanosleep(&pause, NULL);
        kill(pid, SIGTERM);
        wait_exit(pid, 30000);
        log_clear(f);
        int status = wait_exit(spawn(f, init), 30000);
        struct stat info;
        if (status != 0 && (stat(key, &info) != 0 || info.st_size != 65)) {
            log_print(f, "");
            fail_msg("stopped at %lld us of %lld: the directory is neither new nor whole",
                     (long long)(init_us * moment / 40), (long long)init_us);
        }
        test_remove_dir(dir);
    }
}

/* A data directory whose parent does not exist is named, with the missing
 * parent and what to do, by init, by a first start and by restore; nothing
 * is made. */
static void test_daemon_init_names_a_missing_parent(void **state)
{
    struct fixture *f = *state;
    char backup[PATH_SIZE + 32];
    backup_taken(f, backup, sizeof backup);
    char deep[PATH_SIZE + 32], parent[PATH_SIZE + 32], says[4 * PATH_SIZE];
    snprintf(deep, sizeof deep, "%s/missing/sub/dir", f->root);
    snprintf(parent, sizeof parent, "%s/missing/sub", f->root);
    snprintf(says, sizeof says,
             "cannot create the data directory %s: its parent directory %s does not exist: "
             "create it first (mkdir -p %s)",
             deep, parent, parent);
    const char *init[] = {"init", "--data", deep, NULL};
    const char *serve[] = {"--data", deep, NULL};
    const char *restore[] = {"restore", "--from", backup, "--data", deep, NULL};
    const char *const *runs[] = {init, serve, restore};
    for (size_t i = 0; i < 3; i++) {
        log_clear(f);
        assert_int_equal(wait_exit(spawn(f, runs[i]), 30000), 1);
        if (!log_contains(f, says) || log_contains(f, "IO_ERROR")) {
            log_print(f, "");
            fail_msg("run %zu did not name the missing parent", i);
        }
        assert_false(file_exists(f->root, "missing"));
    }
}

/* Runs `args` as nobody; its exit status (skipped when it cannot run as
 * nobody: the test is not root, or the binary is out of nobody's reach). */
static int run_as_nobody(struct fixture *f, const char *program, const char *const *args)
{
    int status = wait_exit(spawn_program(f, program, NULL, NOBODY_UID, args), 30000);
    if (status == 125 || status == 127) {
        print_message("cannot run %s as uid %u: skipped\n", program, (unsigned)NOBODY_UID);
    }
    return status;
}

/* A new directory restore may not make is named with what to do (as a user
 * that may not write the parent, such as ledgerd under /var/lib): restore
 * run as one that may, the directory then given to ledgerd's user; not the
 * system's words alone. */
static void test_daemon_restore_names_a_parent_it_may_not_write(void **state)
{
    struct fixture *f = *state;
    if (geteuid() != 0) {
        skip();
    }
    char backup[PATH_SIZE + 32], says[4 * PATH_SIZE];
    backup_taken(f, backup, sizeof backup);
    /* As nobody, beside a backup it may read, in a parent it may not write. */
    char restored[PATH_SIZE + 32], path[PATH_SIZE + 64];
    snprintf(restored, sizeof restored, "%s/restored", f->root);
    assert_int_equal(chmod(f->root, 0711), 0);
    assert_int_equal(chmod(backup, 0755), 0);
    const char *files[] = {"data.mdb", "head.pb"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", backup, files[i]);
        assert_int_equal(chmod(path, 0644), 0);
    }
    snprintf(
        says, sizeof says,
        "ledgerd: cannot create the data directory %s: Permission denied: run restore as "
        "a user that may create it in %s (root, when that directory is root's), then give the new "
        "directory to the user ledgerd runs as (e.g. chown -R ledgerd:ledgerd %s)",
        restored, f->root, restored);
    const char *as_nobody[] = {"restore", "--from", backup, "--data", restored, NULL};
    log_clear(f);
    int status = run_as_nobody(f, ledgerd_path(), as_nobody);
    assert_int_equal(chmod(f->root, 0700), 0);
    if (status == 125 || status == 127) {
        skip();
    }
    assert_int_equal(status, 1);
    if (!log_contains(f, says)) {
        log_print(f, "");
        fail_msg("restore did not say how to create its directory");
    }
}

/* A data directory this user may not use is named as such, with the path
 * that refused it and the owner ledgerd must run as, by a start, rebuild,
 * init and ledger-verify; never as a directory that is not initialized. */
static void test_daemon_permission_denied_named(void **state)
{
    struct fixture *f = *state;
    if (geteuid() != 0) {
        skip();
    }
    const char *verify = getenv("LEDGER_VERIFY");
    char inside[PATH_SIZE + 32], on_data[2 * PATH_SIZE], on_root[2 * PATH_SIZE];
    snprintf(inside, sizeof inside, "%s/new", f->root);
    snprintf(on_data, sizeof on_data, "permission denied on %s for user", f->data);
    snprintf(on_root, sizeof on_root, "permission denied on %s for user", f->root);
    /* The parent lets everyone through (0711); the data directory is root's. */
    assert_int_equal(chmod(f->root, 0711), 0);
    const struct {
        const char *args[6];
        int status;
        const char *says;
    } cases[] = {
        {{"--data", f->data}, 1, on_data},
        {{"rebuild", "--data", f->data}, 2, on_data},
        {{"init", "--data", f->data}, 1, on_data},
        {{"init", "--data", inside}, 1, on_root},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        log_clear(f);
        int status = run_as_nobody(f, ledgerd_path(), cases[i].args);
        if (status == 125 || status == 127) {
            assert_int_equal(chmod(f->root, 0700), 0);
            skip();
        }
        if (status != cases[i].status || !log_contains(f, cases[i].says) ||
            log_contains(f, "not an initialized data directory")) {
            log_print(f, "");
            fail_msg("case %zu: status %d", i, status);
        }
    }
    assert_true(log_contains(f, "may not create the directory there"));
    assert_false(file_exists(f->root, "new"));
    log_clear(f);
    const char *data_args[] = {"--data", f->data, NULL};
    assert_int_equal(run_as_nobody(f, ledgerd_path(), data_args), 1);
    assert_true(log_contains(f, "ledgerd must run as the data directory's owner, user root"));
    if (verify != NULL) {
        log_clear(f);
        const char *verify_args[] = {f->data, NULL};
        assert_int_equal(run_as_nobody(f, verify, verify_args), 2);
        char verify_says[2 * PATH_SIZE];
        snprintf(verify_says, sizeof verify_says, "permission denied on %s for uid 65534", f->data);
        assert_true(log_contains(f, verify_says));
        assert_false(log_contains(f, "holds no ledger"));
    }
    /* Nor is a backup this user may not read "not a backup directory". */
    char restored[PATH_SIZE + 32];
    snprintf(restored, sizeof restored, "%s/restored", f->root);
    const char *restore_args[] = {"restore", "--from", f->data, "--data", restored, NULL};
    log_clear(f);
    assert_int_equal(run_as_nobody(f, ledgerd_path(), restore_args), 1);
    assert_true(log_contains(f, "cannot read the backup"));
    assert_false(log_contains(f, "is not a backup directory"));
    assert_int_not_equal(stat(restored, &(struct stat){0}), 0);
    /* A parent that lets no one through is the path named. */
    assert_int_equal(chmod(f->root, 0700), 0);
    log_clear(f);
    assert_int_equal(run_as_nobody(f, ledgerd_path(), data_args), 1);
    assert_true(log_contains(f, on_root));
    /* Its owner still serves it. */
    daemon_start(f, NULL);
    assert_int_equal(daemon_stop(f, SIGTERM), 0);
}

/* ledger-verify of a live data directory by a user that is not its owner
 * (an auditor given read access): it reads data.mdb and, to read under the
 * daemon's lock, writes its reader slot into lock.mdb, and never reads the
 * head-signing secret key. A lock.mdb it may not write is named with what
 * to do, not left to LMDB's bare "Permission denied"; head.key kept secret
 * (0600) is no reason to refuse. */
static void test_daemon_verify_as_a_reader(void **state)
{
    struct fixture *f = *state;
    const char *verify = getenv("LEDGER_VERIFY");
    if (geteuid() != 0 || verify == NULL) {
        skip();
    }
    daemon_start(f, NULL);
    assert_int_equal(daemon_stop(f, SIGTERM), 0);
    char data_file[PATH_SIZE + 32], lock_file[PATH_SIZE + 32], says[2 * PATH_SIZE];
    snprintf(data_file, sizeof data_file, "%s/data.mdb", f->data);
    snprintf(lock_file, sizeof lock_file, "%s/lock.mdb", f->data);
    assert_int_equal(chmod(f->root, 0755), 0);
    assert_int_equal(chmod(f->data, 0755), 0);
    assert_int_equal(chmod(data_file, 0644), 0);
    assert_int_equal(chmod(lock_file, 0644), 0);
    const char *verify_args[] = {"--no-views", f->data, NULL};
    log_clear(f);
    int status = run_as_nobody(f, verify, verify_args);
    if (status == 125 || status == 127) {
        skip();
    }
    snprintf(says, sizeof says, "permission denied on %s for uid 65534", lock_file);
    if (status != 2 || !log_contains(f, says) || log_contains(f, "mdb_env_open")) {
        log_print(f, "");
        fail_msg("a lock.mdb this user may not write: status %d", status);
    }
    /* With lock.mdb writable, the secret head.key (0600) stops nothing. */
    assert_int_equal(chmod(lock_file, 0666), 0);
    log_clear(f);
    status = run_as_nobody(f, verify, verify_args);
    if (status != 0 || !log_contains(f, "verified: ")) {
        log_print(f, "");
        fail_msg("a readable data directory: status %d", status);
    }
    assert_int_equal(chmod(lock_file, 0600), 0);
    assert_int_equal(chmod(data_file, 0600), 0);
    assert_int_equal(chmod(f->data, 0700), 0);
    assert_int_equal(chmod(f->root, 0700), 0);
}

/* No options at all: ./ledger-data, initialized on first start, default
 * IPC addresses inside it. */
static void test_daemon_defaults_first_start(void **state)
{
    struct fixture *f = *state;
    char cwd[PATH_SIZE - 64];
    snprintf(cwd, sizeof cwd, "%s/fresh", f->root);
    assert_int_equal(mkdir(cwd, 0700), 0);
    char data[PATH_SIZE];
    snprintf(data, sizeof data, "%s/ledger-data", cwd);
    fixture_data_set(f, data);
    const char *no_options[] = {NULL};
    f->pid = spawn_in(f, cwd, no_options);
    bool initialized = false;
    int64_t deadline = now_us() + (int64_t)test_timeout_ms(60000) * 1000;
    while (!initialized && now_us() < deadline) {
        initialized = key_read(f->data, f->secret);
        if (!initialized) {
            sleep_ms(10);
        }
    }
    assert_true(initialized);
    daemon_wait_ready(f);
    /* Named as the started line names it, not as "<cwd>/./ledger-data". */
    char initialized_line[3 * PATH_SIZE];
    snprintf(initialized_line, sizeof initialized_line,
             "initialized data directory data=%s operator=operator key_file=%s/operator.key",
             f->data, f->data);
    assert_true(log_contains(f, initialized_line));
    char started[3 * PATH_SIZE];
    snprintf(started, sizeof started, "listen=%s events=%s", f->url, f->events_url);
    assert_true(log_contains(f, started));
    char sample[PATH_SIZE + 32];
    snprintf(sample, sizeof sample, "%s/ledgerd.conf", f->data);
    struct stat st;
    assert_int_equal(stat(sample, &st), 0);
    assert_int_equal(operator_head_sequence(f), 1); /* the operator's PrincipalAdded */
    assert_int_equal(daemon_stop(f, SIGINT), 0);
    /* The map's size and bound are in the started line. */
    assert_true(log_contains(f, "map_bytes=67108864 map_bytes_max=68719476736"));
    /* The second start finds it initialized and serves the same ledger; a
     * raised map_bytes_max shows in its started line. */
    assert_int_equal(truncate(f->log_path, 0), 0);
    const char *bigger_map[] = {"--map-bytes-max", "128M", NULL};
    f->pid = spawn_in(f, cwd, bigger_map);
    daemon_wait_ready(f);
    assert_true(log_contains(f, "map_bytes=67108864 map_bytes_max=134217728"));
    assert_int_equal(operator_head_sequence(f), 1);
    assert_int_equal(daemon_stop(f, SIGTERM), 0);
    /* --help and --version answer and exit 0. */
    const char *help[] = {"--help", NULL};
    assert_int_equal(wait_exit(spawn(f, help), 10000), 0);
    assert_true(log_contains(f, "usage: ledgerd"));
    /* restore's public key and warning are part of what it does. */
    assert_true(log_contains(f, "It prints that key's public key"));
    assert_true(log_contains(f, "and warns when, without --head-key, it keeps a"));
    const char *version[] = {"--version", NULL};
    assert_int_equal(wait_exit(spawn(f, version), 10000), 0);
    assert_true(log_contains(f, "ledgerd 0."));
}

/* A relative --data is named by its absolute path, whether it names a new
 * directory of the working directory or one under a parent that does not
 * exist ("./" dropped, the parent to create named in full). */
static void test_daemon_relative_data_named_absolute(void **state)
{
    struct fixture *f = *state;
    char cwd[PATH_SIZE - 64];
    snprintf(cwd, sizeof cwd, "%s/work", f->root);
    assert_int_equal(mkdir(cwd, 0700), 0);
    const char *init[] = {"init", "--data", "ledger", NULL};
    log_clear(f);
    assert_int_equal(wait_exit(spawn_in(f, cwd, init), 30000), 0);
    char says[3 * PATH_SIZE];
    snprintf(says, sizeof says, "initialized %s/ledger\n", cwd);
    assert_true(log_contains(f, says));
    snprintf(says, sizeof says, "its key is in %s/ledger/operator.key", cwd);
    assert_true(log_contains(f, says));
    const char *missing[] = {"init", "--data", ".//missing/ledger", NULL};
    log_clear(f);
    assert_int_equal(wait_exit(spawn_in(f, cwd, missing), 30000), 1);
    snprintf(says, sizeof says,
             "ledgerd: cannot create the data directory %s/missing/ledger: its parent directory "
             "%s/missing does not exist: create it first (mkdir -p %s/missing)",
             cwd, cwd, cwd);
    if (!log_contains(f, says)) {
        log_print(f, "");
        fail_msg("the missing parent was not named in full");
    }
    assert_false(file_exists(cwd, "missing"));
    /* A trailing slash names the same directory, and is not shown; of a
     * repeated --data, the last is taken, as of every repeated setting. */
    const char *slashed[] = {"init", "--data", "first", "--data", "second//", NULL};
    log_clear(f);
    assert_int_equal(wait_exit(spawn_in(f, cwd, slashed), 30000), 0);
    snprintf(says, sizeof says, "initialized %s/second\n", cwd);
    if (!log_contains(f, says)) {
        log_print(f, "");
        fail_msg("the last --data, without its slashes, was not named");
    }
    snprintf(says, sizeof says, "its key is in %s/second/operator.key", cwd);
    assert_true(log_contains(f, says));
    assert_true(file_exists(cwd, "second"));
    assert_false(file_exists(cwd, "first"));
}

static void test_daemon_bad_config_refused(void **state)
{
    struct fixture *f = *state;
    char path[PATH_SIZE + 32];
    snprintf(path, sizeof path, "%s/bad.conf", f->root);
    FILE *file = fopen(path, "w");
    assert_non_null(file);
    fputs("[ledgerd]\nlog_level = info\nlisten = http://nope:1\n", file);
    fclose(file);
    const char *args[] = {"--data", f->data, "--config", path, NULL};
    assert_int_equal(wait_exit(spawn(f, args), 20000), 2);
    assert_true(log_contains(f, "bad.conf:3: listen"));
    const char *unknown[] = {"--data", f->data, "--bogus", "1", NULL};
    assert_int_equal(wait_exit(spawn(f, unknown), 20000), 2);
    const char *bad_value[] = {"--data", f->data, "--auth-window-s", "0", NULL};
    assert_int_equal(wait_exit(spawn(f, bad_value), 20000), 2);
    /* Addresses that could never be bound are configuration errors (exit 2,
     * which systemd does not restart), not bind failures: a relative IPC
     * path, and two settings on one address. */
    file = fopen(path, "w");
    assert_non_null(file);
    fputs("[ledgerd]\nlisten = ipc://relative/ledger.sock\n", file);
    fclose(file);
    log_clear(f);
    assert_int_equal(wait_exit(spawn(f, args), 20000), 2);
    assert_true(log_contains(f, "bad.conf:2: listen = \"ipc://relative/ledger.sock\": an ipc:// "
                                "address must name an absolute path: ipc:///abs/path"));
    file = fopen(path, "w");
    assert_non_null(file);
    fprintf(file, "[ledgerd]\nlisten = ipc://%s/one.sock\nevents = ipc://%s/one.sock\n", f->root,
            f->root);
    fclose(file);
    log_clear(f);
    assert_int_equal(wait_exit(spawn(f, args), 20000), 2);
    assert_true(log_contains(f, "bad.conf:3: events = \"ipc://"));
    char collides[PATH_SIZE + 64];
    snprintf(collides, sizeof collides, "the same address as listen (%s:2)", path);
    assert_true(log_contains(f, collides));
    const char *on_listen[] = {"--data", f->data, "--events", f->url, NULL};
    log_clear(f);
    assert_int_equal(wait_exit(spawn(f, on_listen), 20000), 2);
    assert_true(log_contains(f, "the same address as listen (its default)"));
    assert_false(log_contains(f, "Address already in use"));
}

/* Each mistake on ledgerd's command line is refused with its exit status
 * (2: usage, 1: failure) and a message that says what to do; none of them
 * writes anything, and the data directory serves as before. */
static void test_daemon_command_line_refusals(void **state)
{
    struct fixture *f = *state;
    char fresh[PATH_SIZE + 32], empty[PATH_SIZE + 32], restored[PATH_SIZE + 32];
    snprintf(fresh, sizeof fresh, "%s/fresh", f->root);
    snprintf(empty, sizeof empty, "%s/empty", f->root);
    snprintf(restored, sizeof restored, "%s/restored", f->root);
    assert_int_equal(mkdir(empty, 0700), 0);
    /* An environment that is no ledger: a data.mdb with an empty log. */
    char stray[PATH_SIZE + 32];
    snprintf(stray, sizeof stray, "%s/stray", f->root);
    struct store_options stray_options = {.dir = stray};
    struct store *stray_store = NULL;
    assert_int_equal(store_open(&stray_options, &stray_store), LEDGER_ERR_OK);
    /* A copy cut short: one byte of its data.mdb missing. */
    char cut[PATH_SIZE + 32], cut_data[PATH_SIZE + 64];
    snprintf(cut, sizeof cut, "%s/cut", f->root);
    assert_int_equal(mkdir(cut, 0700), 0);
    assert_int_equal(store_copy(stray_store, cut), LEDGER_ERR_OK);
    store_close(stray_store);
    snprintf(cut_data, sizeof cut_data, "%s/data.mdb", cut);
    struct stat cut_info;
    assert_int_equal(stat(cut_data, &cut_info), 0);
    assert_int_equal(truncate(cut_data, cut_info.st_size - 1), 0);
    /* A data directory whose store was lost: its head.key and no data.mdb. */
    char key_only[PATH_SIZE + 32], key_only_key[PATH_SIZE + 64];
    snprintf(key_only, sizeof key_only, "%s/key-only", f->root);
    assert_int_equal(mkdir(key_only, 0700), 0);
    snprintf(key_only_key, sizeof key_only_key, "%s/head.key", key_only);
    FILE *key_file = fopen(key_only_key, "w");
    assert_non_null(key_file);
    fputs("00\n", key_file);
    fclose(key_file);
    const char *missing_dir_url = "ipc:///nonexistent-ledgerd-dir/ledger.sock";
    char stray_file[PATH_SIZE + 32];
    snprintf(stray_file, sizeof stray_file, "%s/not-a-directory", f->root);
    write_line(stray_file, "not a ledger");
    /* A data directory under that file: it can never be a directory, and no
     * permission is missing. */
    char under_file[PATH_SIZE + 64], file_in_the_way[3 * PATH_SIZE];
    snprintf(under_file, sizeof under_file, "%s/sub", stray_file);
    snprintf(file_in_the_way, sizeof file_in_the_way,
             "%s cannot be a directory: %s on its path is a file, not a directory; give --data a "
             "path of directories",
             under_file, stray_file);
    /* Paths that cannot even be looked up: a name longer than a file
     * system's names (255 bytes), a link that loops. */
    char long_name[PATH_SIZE + 400], looped[PATH_SIZE + 64], loop_link[PATH_SIZE + 32];
    snprintf(long_name, sizeof long_name, "%s/%0300d", f->root, 0);
    snprintf(loop_link, sizeof loop_link, "%s/loop", f->root);
    assert_int_equal(symlink("loop", loop_link), 0);
    snprintf(looped, sizeof looped, "%s/data", loop_link);
    /* A data directory too deep for its default IPC sockets (at most 107
     * bytes of path). */
    char deep[PATH_SIZE + 160];
    snprintf(deep, sizeof deep, "%s/%0120d", f->root, 0);
    /* A short path through a link to a directory deep enough that the new
     * data directory's sockets would be too long there: refused before
     * the directory is made, not after initializing it. */
    char far[PATH_SIZE + 160], near[PATH_SIZE + 32], through_link[PATH_SIZE + 64];
    snprintf(far, sizeof far, "%s/%090d", f->root, 0);
    assert_int_equal(mkdir(far, 0700), 0);
    snprintf(near, sizeof near, "%s/near", f->root);
    assert_int_equal(symlink(far, near), 0);
    snprintf(through_link, sizeof through_link, "%s/new", near);
    /* The same written with a trailing slash, which names the same
     * directory: refused the same, and named without the slash. */
    char through_link_slash[PATH_SIZE + 72];
    snprintf(through_link_slash, sizeof through_link_slash, "%s/", through_link);
    /* A value longer than any setting takes (200 bytes). */
    char long_value[202];
    memset(long_value, '9', sizeof long_value - 1);
    long_value[sizeof long_value - 1] = '\0';
    const struct {
        const char *args[10];
        int status;
        const char *message;
    } cases[] = {
        {{"frobnicate"}, 2, "unknown command \"frobnicate\""},
        {{"--data", fresh, "--metrics-listen", long_value},
         2,
         "ledgerd: --metrics-listen: value longer than 200 bytes\n"},
        {{"--data"}, 2, "--data needs a value"},
        {{"--data", f->data, "extra"}, 2, "unexpected argument \"extra\""},
        {{"--data", f->data, "--operator", "op-2"}, 2, "--operator is only for ledgerd init"},
        {{"--data", f->data, "--from", empty}, 2, "are only for ledgerd restore"},
        /* Another command than the one they belong to, and --head-key alone. */
        {{"rebuild", "--data", f->data, "--operator", "op-2"},
         2,
         "--operator is only for ledgerd init"},
        {{"rebuild", "--data", f->data, "--head-key", stray_file},
         2,
         "--from and --head-key are only for ledgerd restore"},
        {{"init", "--data", fresh, "--from", empty}, 2, "are only for ledgerd restore"},
        {{"init"}, 2, "init needs --data DIR"},
        {{"init", "--data", fresh, "--operator", "bad id"},
         2,
         "--operator \"bad id\": an operator id must be 1..64 characters of [A-Za-z0-9.:@-]"},
        {{"rebuild"}, 2, "rebuild needs --data DIR"},
        {{"rebuild", "--data", empty},
         2,
         "is not an initialized data directory (run ledgerd init)"},
        {{"restore", "--data", restored}, 2, "restore needs --from BACKUP and --data DIR"},
        {{"restore", "--from", empty, "--data", restored}, 1, "is not a backup directory"},
        {{"restore", "--from", stray, "--data", restored}, 1, "is not a ledger backup"},
        {{"restore", "--from", cut, "--data", restored},
         1,
         "(CORRUPT): the data file is truncated: data.mdb has "},
        /* Neither a start nor init sends the operator to the other. */
        {{"--data", key_only}, 1, "but no ledger (no data.mdb): its store is missing"},
        {{"init", "--data", key_only}, 1, "but no ledger (no data.mdb): its store is missing"},
        {{"rebuild", "--data", key_only}, 2, "but no ledger (no data.mdb): its store is missing"},
        /* --data naming a file. */
        {{"--data", stray_file}, 1, "is not a directory: give --data a data directory"},
        {{"init", "--data", stray_file}, 1, "is not a directory: give --data a data directory"},
        {{"rebuild", "--data", stray_file}, 2, "is not a directory: give --data a data directory"},
        /* --data under a file. */
        {{"--data", under_file}, 1, file_in_the_way},
        {{"init", "--data", under_file}, 1, file_in_the_way},
        {{"rebuild", "--data", under_file}, 2, file_in_the_way},
        {{"restore", "--from", stray, "--data", under_file}, 1, file_in_the_way},
        /* The system's reason, never "not initialized" or "already exists". */
        {{"--data", long_name, "--listen", "tcp://127.0.0.1:1", "--events", "tcp://127.0.0.1:2"},
         1,
         ": File name too long; give --data another directory"},
        {{"init", "--data", long_name},
         1,
         ": File name too long; fix that, or give --data another directory"},
        {{"rebuild", "--data", looped},
         2,
         "/loop/data: Too many levels of symbolic links; give --data another directory"},
        {{"init", "--data", looped}, 1, "/loop/data: Too many levels of symbolic links; fix that"},
        {{"restore", "--from", stray, "--data", long_name},
         1,
         ": File name too long; give --data another directory"},
        /* A bad value names the option as it was typed. */
        {{"--data", f->data, "--map-bytes-max", "1M"},
         2,
         "ledgerd: --map-bytes-max \"1M\": must be a byte count from 64M to 16T"},
        {{"--data", deep},
         2,
         "is too long a path for an IPC socket (at most 107 bytes); set --listen and --events"},
        {{"--data", through_link},
         2,
         "/new is too long a path for an IPC socket (at most 107 bytes); set --listen and "
         "--events"},
        {{"--data", through_link_slash},
         2,
         "/new is too long a path for an IPC socket (at most 107 bytes); set --listen and "
         "--events"},
        /* Well formed but not this host's (TEST-NET-1): a bind failure,
         * whose line says so among its causes. */
        {{"--data", f->data, "--listen", "tcp://192.0.2.1:7399"},
         1,
         "the error above says which address and why (in use by another process, a directory "
         "that does not exist, an address that is not this host's); set --listen or --events"},
        /* Last: the log is read after the loop. */
        {{"--data", f->data, "--listen", missing_dir_url}, 1, "cannot listen on"},
    };
    struct stat st;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(truncate(f->log_path, 0), 0);
        int status = wait_exit(spawn(f, cases[i].args), 20000);
        if (status != cases[i].status || !log_contains(f, cases[i].message) ||
            log_contains(f, "permission denied") || log_contains(f, "already exists")) {
            log_print(f, "");
            fail_msg("case %zu (%s ...): status %d, expected %d and \"%s\"", i, cases[i].args[0],
                     status, cases[i].status, cases[i].message);
        }
        /* Refused before anything was made. */
        assert_int_not_equal(stat(fresh, &st), 0);
        assert_int_not_equal(stat(restored, &st), 0);
        assert_int_not_equal(stat(deep, &st), 0);
        assert_int_not_equal(stat(through_link, &st), 0);
    }
    /* Nor in a directory that holds no ledger. */
    char leftover[PATH_SIZE + 64];
    snprintf(leftover, sizeof leftover, "%s/data.mdb", empty);
    assert_int_not_equal(stat(leftover, &st), 0);
    snprintf(leftover, sizeof leftover, "%s/ledgerd.lock", empty);
    assert_int_not_equal(stat(leftover, &st), 0);
    /* The bind failure names the address and the system's reason. */
    assert_true(log_contains(f, "cannot bind socket=requests"));
    assert_true(log_contains(f, "No such file or directory"));
    /* An events address whose directory is a file: refused before nanomsg
     * is asked to bind (it would keep the failed endpoint), with the
     * system's reason, after the request socket was bound. */
    char through_file_url[PATH_SIZE + 64];
    snprintf(through_file_url, sizeof through_file_url, "ipc://%s/events.sock", stray_file);
    const char *events_through_file[] = {"--data", f->data, "--events", through_file_url, NULL};
    assert_int_equal(truncate(f->log_path, 0), 0);
    assert_int_equal(wait_exit(spawn(f, events_through_file), 20000), 1);
    if (!log_contains(f, "cannot bind socket=events") || !log_contains(f, "Not a directory") ||
        !log_contains(f, "ledgerd: cannot listen on")) {
        log_print(f, "");
        fail_msg("an events address under a file: no bind refusal naming \"Not a directory\"");
    }
    /* More settings than the command line holds, each of them good. */
    const char *many[2 * 33 + 1] = {"--data", fresh};
    for (size_t i = 2; i < 2 * 33; i += 2) {
        many[i] = "--log-level";
        many[i + 1] = "info";
    }
    assert_int_equal(truncate(f->log_path, 0), 0);
    assert_int_equal(wait_exit(spawn(f, many), 20000), 2);
    assert_true(log_contains(f, "ledgerd: more than 32 settings on the command line; put them in "
                                "the config file (--config FILE)"));
    assert_int_not_equal(stat(fresh, &st), 0);
    daemon_start(f, NULL);
    assert_int_equal(operator_head_sequence(f), 1);
    assert_int_equal(daemon_stop(f, SIGTERM), 0);

    /* A config file in the data directory that does not parse names its line. */
    char conf[PATH_SIZE + 32];
    snprintf(conf, sizeof conf, "%s/ledgerd.conf", f->data);
    FILE *file = fopen(conf, "w");
    assert_non_null(file);
    fputs("[ledgerd]\nno_such_setting = 1\n", file);
    fclose(file);
    assert_int_equal(truncate(f->log_path, 0), 0);
    const char *serve[] = {"--data", f->data, NULL};
    assert_int_equal(wait_exit(spawn(f, serve), 20000), 2);
    assert_true(log_contains(f, "ledgerd.conf:2"));
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_daemon_init_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_daemon_auth_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_daemon_log_level_warn_keeps_refusals_out, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_daemon_no_core_dumps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_daemon_command_durable_across_restart, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_daemon_retry_is_idempotent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_daemon_request_bytes_at_its_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_daemon_bad_bytes_keep_serving, setup, teardown),
        cmocka_unit_test_setup_teardown(test_daemon_refused_request_replayed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_daemon_refused_future_request_replayed_after_restart,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_daemon_ipc_socket_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_daemon_config_writable_by_others_warned, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_daemon_key_file_mode_warned, setup, teardown),
        cmocka_unit_test_setup_teardown(test_daemon_doorbell, setup, teardown),
        cmocka_unit_test_setup_teardown(test_daemon_serves_over_tcp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_daemon_sigterm_answers_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_daemon_backpressure_pauses_reading, setup, teardown),
        cmocka_unit_test_setup_teardown(test_daemon_concurrent_clients, setup, teardown),
        cmocka_unit_test_setup_teardown(test_daemon_second_daemon_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_daemon_unopenable_lock_file_named, setup, teardown),
        cmocka_unit_test_setup_teardown(test_daemon_closed_standard_descriptors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_daemon_backup_restore_rebuild, setup, teardown),
        cmocka_unit_test_setup_teardown(test_daemon_interrupted_rebuild_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_daemon_rebuild_names_shared_subscription_ids, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_daemon_rebuild_reports_a_changed_view, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_daemon_rebuild_names_a_damaged_record, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_daemon_older_layout_derived_again, setup, teardown),
        cmocka_unit_test_setup_teardown(test_daemon_newer_layout_named, setup, teardown),
        cmocka_unit_test_setup_teardown(test_daemon_refusal_horizon_bounded_at_start, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_daemon_data_dir_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_daemon_restore_checks_the_backup_head, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_daemon_restore_names_the_head_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_daemon_restore_checks_the_head_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_daemon_restore_of_a_read_only_backup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_daemon_restore_follows_no_link, setup, teardown),
        cmocka_unit_test_setup_teardown(test_daemon_restore_names_the_backup_own_damaged_head_key,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_daemon_restore_reads_any_lock_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_daemon_restore_names_a_parent_it_may_not_write, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_daemon_restore_refuses_a_served_directory, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_daemon_start_checks_the_head_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_daemon_restore_refuses_a_damaged_head, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_daemon_restore_reads_a_head_file_up_to_its_limit,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_daemon_restore_refuses_the_head_of_a_diverged_copy,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_daemon_restore_refuses_a_crowded_directory, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_daemon_map_larger_than_its_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_daemon_init_all_or_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_daemon_init_stopped_all_or_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_daemon_init_twice_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_daemon_init_beside_a_dangling_config_link, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_daemon_init_keeps_an_operator_key_it_found, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_daemon_init_keys_never_through_a_left_file, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_daemon_init_names_a_missing_parent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_daemon_permission_denied_named, setup, teardown),
        cmocka_unit_test_setup_teardown(test_daemon_verify_as_a_reader, setup, teardown),
        cmocka_unit_test_setup_teardown(test_daemon_defaults_first_start, setup, teardown),
        cmocka_unit_test_setup_teardown(test_daemon_relative_data_named_absolute, setup, teardown),
        cmocka_unit_test_setup_teardown(test_daemon_bad_config_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_daemon_command_line_refusals, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
