/*
 * ledger.c: libledger, the client library (see ledger.h for the contract).
 *
 * Owns: the client side's only includes of nanomsg headers and <sodium.h>: the
 * REQ socket for requests, the SUB socket for the doorbell, request signing
 * (HMAC-SHA256 of the serialized SignedRequest), resending identical bytes on
 * timeout, reply checks (decodes, echoes our nonce, known code), the
 * catch-up-then-live subscription loop and its checkpoint file, and the
 * process's notice hook (the one piece of state shared by every client).
 * Does not own: what commands mean or how results are shown.
 *
 * nanomsg's cooked REQ socket resends an unanswered request by itself after
 * NN_REQ_RESEND_IVL; we set that interval far beyond any timeout so that the
 * only resends are ours, counted and bounded by `retries`. An attempt that
 * times out closes its REQ socket and opens a new one, so the abandoned
 * request is never resent by nanomsg and its late reply never reaches a
 * socket in use (see client_attempt); each attempt waits for the answer to
 * the bytes it just sent.
 */
#include "ledger.h"
#include "ledger_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <nanomsg/nn.h>
#include <nanomsg/pubsub.h>
#include <nanomsg/reqrep.h>
#include <sodium.h>

#include "ledger_ids.h"
#include "ledger_limits.h"

_Static_assert(LEDGER_CLIENT_SECRET_BYTES == LEDGER_SECRET_BYTES, "secret sizes agree");
_Static_assert(LEDGER_CLIENT_SECRET_BYTES == crypto_auth_hmacsha256_KEYBYTES,
               "HMAC key is the secret");

/* Our own resends replace nanomsg's: one day is beyond any timeout. */
#define CLIENT_REQ_RESEND_IVL_MS (24 * 3600 * 1000)
/* The largest reply we accept: a page of events with proofs stays far below
 * the largest request the daemon accepts, which bounds what it sends too. */
#define CLIENT_REPLY_BYTES_MAX LEDGER_REQUEST_BYTES_MAX
/* The error message kept for ledger_error_message. */
#define CLIENT_MESSAGE_SIZE 512
/* A subscription waits in slices of this length so that a stop flag set by a
 * signal handler is seen promptly even if the signal arrived just before the
 * wait began. */
#define CLIENT_WAIT_SLICE_MS 200
/* Key files: 64 hex characters, a newline, perhaps a carriage return. */
#define CLIENT_KEY_FILE_BYTES_MAX 128
/* A checkpoint file (docs/cli.md, --checkpoint): the last sequence
 * delivered, as at most 20 decimal digits and a line end, then the filters
 * it was advanced under, a line each: "partner=ID", "customer=ID" (empty:
 * every one) and "types=A,B" (sorted, each once; empty: every type). A
 * file of the sequence alone (written by ledger_checkpoint_write, or before
 * checkpoints recorded their filters) says nothing of its filters. */
#define CLIENT_CHECKPOINT_BYTES_MAX 4096
/* The longest event type name a checkpoint records: the names of
 * ledger.v1.Event's bodies are under 40 characters. */
#define CLIENT_TYPE_NAME_BYTES_MAX 64
_Static_assert(21 + 2 * (sizeof "customer=" + LEDGER_ID_LENGTH_MAX) + sizeof "types=" +
                       LEDGER_EVENT_TYPES_FILTER_MAX * (CLIENT_TYPE_NAME_BYTES_MAX + 1) <
                   CLIENT_CHECKPOINT_BYTES_MAX,
               "a checkpoint file holds a sequence and the largest filters");
/* A resend is signed again once its signature is this old: half the
 * daemon's default authentication window (LEDGER_AUTH_WINDOW_US), so that
 * a resent request is never refused as stale, with room for clock drift. */
#define CLIENT_RESIGN_AFTER_US (LEDGER_AUTH_WINDOW_US / 2)
/* Doorbells drained per wake-up: each is only a hint, so a bound keeps a
 * flood from starving the query. */
#define CLIENT_DOORBELLS_DRAIN_MAX 1024
/* A following subscription that lost the daemon asks again after this
 * long, doubling each time up to the most: a restart of under a second is
 * seen within about that, and a daemon that stays down costs one request
 * every five seconds. */
#define CLIENT_RECONNECT_MS_FIRST 100
#define CLIENT_RECONNECT_MS_MAX   5000
_Static_assert(CLIENT_RECONNECT_MS_FIRST <= CLIENT_RECONNECT_MS_MAX, "the backoff grows");
/* A notice: one line of the daemon's address, an error and its message. */
#define CLIENT_NOTICE_SIZE (2 * CLIENT_MESSAGE_SIZE)

struct ledger_client {
    int request_socket;
    int events_socket; /* -1 until a subscription needs it */
    char *request_url;
    char *events_url; /* NULL: no doorbell */
    char *ipc_path;   /* for ipc:// request URLs: the socket file, checked before sending */
    char principal_id[LEDGER_ID_LENGTH_MAX + 1];
    uint8_t secret[LEDGER_CLIENT_SECRET_BYTES];
    uint32_t timeout_ms;
    uint32_t retries;
    char message[CLIENT_MESSAGE_SIZE];
    uint32_t failed_index;
    uint64_t head_sequence;
    /* Connections the request socket had when the current attempt timed
     * out (that socket is replaced then; see client_attempt); 0 before. */
    uint64_t timeout_connections;
    /* How many times the current call signed its request again after
     * STALE_REQUEST (client_round_trip). */
    unsigned stale_resigns;
    bool stale_waited; /* the last STALE_REQUEST came after a wait that explains it */
    /* While a subscription runs, its stop flag, else ledger_set_stop's
     * (borrowed; NULL for none): set, it ends a wait for a reply, and the
     * request, instead of resending it; clear, a signal does not. */
    volatile sig_atomic_t *stop;
};

static void client_set_message(struct ledger_client *client, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static void client_set_message(struct ledger_client *client, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    vsnprintf(client->message, sizeof client->message, format, args);
    va_end(args);
}

/* Where notices go (ledger_notice_set): set once, before clients are used. */
static ledger_notice_fn client_notice_fn;
static void *client_notice_context;

void ledger_notice_set(ledger_notice_fn fn, void *context)
{
    client_notice_fn = fn;
    client_notice_context = context;
}

static void client_notice(const char *format, ...) __attribute__((format(printf, 1, 2)));

static void client_notice(const char *format, ...)
{
    if (client_notice_fn == NULL) {
        return;
    }
    char line[CLIENT_NOTICE_SIZE];
    va_list args;
    va_start(args, format);
    vsnprintf(line, sizeof line, format, args);
    va_end(args);
    client_notice_fn(client_notice_context, line);
}

static char *client_strdup(const char *text)
{
    size_t size = strlen(text) + 1;
    char *copy = malloc(size);
    if (copy != NULL) {
        memcpy(copy, text, size);
    }
    return copy;
}

bool ledger_id_valid(const char *id)
{
    return ledger_id_well_formed(id);
}

static enum ledger_err client_read_key_file(const char *path,
                                            uint8_t secret[LEDGER_CLIENT_SECRET_BYTES])
{
    enum ledger_err err = LEDGER_ERR_IO_ERROR;
    /* One byte more than a key file holds, to tell a longer file. */
    char text[CLIENT_KEY_FILE_BYTES_MAX + 1];
    size_t length = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return LEDGER_ERR_IO_ERROR;
    }
    struct stat info;
    if (fstat(fd, &info) == 0 && S_ISREG(info.st_mode) && (info.st_mode & 077) != 0) {
        /* Used all the same (its owner may mean it, and refusing would stop
         * a service), but said: whoever reads it is the principal. */
        client_notice("the key file %.400s can be read or written by other users (mode %03o): "
                      "anyone who reads it can act as its principal; chmod 600 it",
                      path, (unsigned)(info.st_mode & 0777));
    }
    while (length < sizeof text) {
        ssize_t got = read(fd, text + length, sizeof text - length);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got < 0) {
            goto cleanup;
        }
        if (got == 0) {
            break;
        }
        length += (size_t)got;
    }
    if (length > CLIENT_KEY_FILE_BYTES_MAX) {
        goto cleanup; /* what follows the first bytes is not ignored */
    }
    while (length > 0 && (text[length - 1] == '\n' || text[length - 1] == '\r')) {
        length--;
    }
    text[length] = '\0';
    if (length != 2 * LEDGER_CLIENT_SECRET_BYTES) {
        goto cleanup;
    }
    size_t decoded = 0;
    if (sodium_hex2bin(secret, LEDGER_CLIENT_SECRET_BYTES, text, length, NULL, &decoded, NULL) !=
            0 ||
        decoded != LEDGER_CLIENT_SECRET_BYTES) {
        goto cleanup;
    }
    err = LEDGER_ERR_OK;
cleanup:
    sodium_memzero(text, sizeof text);
    close(fd);
    return err;
}

static int client_set_int_option(int socket, int level, int option, int value)
{
    return nn_setsockopt(socket, level, option, &value, sizeof value);
}

/* Opens the REQ socket and starts connecting it to request_url (into
 * client->request_socket, -1 on failure). INTERNAL, UNREACHABLE. */
static enum ledger_err client_request_socket_open(struct ledger_client *client)
{
    client->request_socket = nn_socket(AF_SP, NN_REQ);
    if (client->request_socket < 0) {
        return LEDGER_ERR_INTERNAL;
    }
    int timeout = (int)client->timeout_ms;
    int max_size = CLIENT_REPLY_BYTES_MAX;
    enum ledger_err err = LEDGER_ERR_OK;
    if (client_set_int_option(client->request_socket, NN_REQ, NN_REQ_RESEND_IVL,
                              CLIENT_REQ_RESEND_IVL_MS) != 0 ||
        client_set_int_option(client->request_socket, NN_SOL_SOCKET, NN_RCVTIMEO, timeout) != 0 ||
        client_set_int_option(client->request_socket, NN_SOL_SOCKET, NN_SNDTIMEO, timeout) != 0 ||
        client_set_int_option(client->request_socket, NN_SOL_SOCKET, NN_RCVMAXSIZE, max_size) !=
            0) {
        err = LEDGER_ERR_INTERNAL;
    } else if (nn_connect(client->request_socket, client->request_url) < 0) {
        err = LEDGER_ERR_UNREACHABLE;
    }
    if (err != LEDGER_ERR_OK) {
        nn_close(client->request_socket);
        client->request_socket = -1;
    }
    return err;
}

enum ledger_err ledger_connect(const struct ledger_options *options, struct ledger_client **out)
{
    enum ledger_err err = LEDGER_ERR_INVALID_ARGUMENT;
    struct ledger_client *client = NULL;
    if (options == NULL || out == NULL || options->request_url == NULL ||
        options->principal_id == NULL || !ledger_id_valid(options->principal_id) ||
        (options->secret == NULL) == (options->key_file == NULL)) {
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    if (sodium_init() < 0) {
        return LEDGER_ERR_INTERNAL;
    }
    client = calloc(1, sizeof *client);
    if (client == NULL) {
        return LEDGER_ERR_NO_MEMORY;
    }
    client->request_socket = -1;
    client->events_socket = -1;
    snprintf(client->principal_id, sizeof client->principal_id, "%s", options->principal_id);
    client->timeout_ms =
        options->timeout_ms != 0 ? options->timeout_ms : LEDGER_CLIENT_TIMEOUT_MS_DEFAULT;
    if (client->timeout_ms > INT32_MAX) {
        goto cleanup;
    }
    client->retries = options->retries;
    if (options->secret != NULL) {
        memcpy(client->secret, options->secret, sizeof client->secret);
    } else {
        err = client_read_key_file(options->key_file, client->secret);
        if (err != LEDGER_ERR_OK) {
            goto cleanup;
        }
    }
    err = LEDGER_ERR_NO_MEMORY;
    client->request_url = client_strdup(options->request_url);
    if (client->request_url == NULL) {
        goto cleanup;
    }
    if (options->events_url != NULL && options->events_url[0] != '\0') {
        client->events_url = client_strdup(options->events_url);
        if (client->events_url == NULL) {
            goto cleanup;
        }
    }
    if (strncmp(client->request_url, "ipc://", 6) == 0) {
        client->ipc_path = client_strdup(client->request_url + 6);
        if (client->ipc_path == NULL) {
            goto cleanup;
        }
    }
    err = client_request_socket_open(client);
    if (err != LEDGER_ERR_OK) {
        goto cleanup;
    }
    *out = client;
    return LEDGER_ERR_OK;
cleanup:
    ledger_close(client);
    return err;
}

void ledger_close(struct ledger_client *client)
{
    if (client == NULL) {
        return;
    }
    if (client->request_socket >= 0) {
        nn_close(client->request_socket);
    }
    if (client->events_socket >= 0) {
        nn_close(client->events_socket);
    }
    sodium_memzero(client->secret, sizeof client->secret);
    free(client->request_url);
    free(client->events_url);
    free(client->ipc_path);
    free(client);
}

void ledger_command_id_new(char out[LEDGER_CLIENT_COMMAND_ID_SIZE])
{
    uint8_t random[16];
    randombytes_buf(random, sizeof random);
    out[0] = 'c';
    out[1] = '-';
    sodium_bin2hex(out + 2, LEDGER_CLIENT_COMMAND_ID_SIZE - 2, random, sizeof random);
}

const char *ledger_error_message(const struct ledger_client *client)
{
    return client != NULL ? client->message : "";
}

uint32_t ledger_error_index(const struct ledger_client *client)
{
    return client != NULL ? client->failed_index : 0;
}

uint64_t ledger_head_sequence(const struct ledger_client *client)
{
    return client != NULL ? client->head_sequence : 0;
}

static int64_t client_now_us(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

static int64_t client_monotonic_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static enum ledger_err client_pack(const ProtobufCMessage *message, uint8_t **bytes_out,
                                   size_t *size_out)
{
    size_t size = protobuf_c_message_get_packed_size(message);
    uint8_t *bytes = malloc(size > 0 ? size : 1);
    if (bytes == NULL) {
        return LEDGER_ERR_NO_MEMORY;
    }
    size_t packed = protobuf_c_message_pack(message, bytes);
    if (packed != size) {
        free(bytes);
        return LEDGER_ERR_INTERNAL;
    }
    *bytes_out = bytes;
    *size_out = size;
    return LEDGER_ERR_OK;
}

/* One signed request, ready to send. */
struct client_signed {
    uint8_t nonce[LEDGER_NONCE_BYTES];
    int64_t signed_us;
    uint8_t *bytes; /* a serialized Request; malloc'd */
    size_t size;
};

/* Signs a request body: a fresh nonce and timestamp, the MAC over the exact
 * SignedRequest bytes, all packed into one Request. */
static enum ledger_err client_sign(struct ledger_client *client, Ledger__V1__RequestBody *body,
                                   struct client_signed *out)
{
    uint8_t mac[LEDGER_MAC_BYTES];
    uint8_t *signed_bytes = NULL;
    size_t signed_size = 0;
    randombytes_buf(out->nonce, sizeof out->nonce);
    out->signed_us = client_now_us();
    Ledger__V1__SignedRequest signed_request = LEDGER__V1__SIGNED_REQUEST__INIT;
    signed_request.principal_id = client->principal_id;
    signed_request.timestamp_us = out->signed_us;
    signed_request.nonce.data = out->nonce;
    signed_request.nonce.len = sizeof out->nonce;
    signed_request.body = body;
    enum ledger_err err = client_pack(&signed_request.base, &signed_bytes, &signed_size);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    crypto_auth_hmacsha256_state state;
    crypto_auth_hmacsha256_init(&state, client->secret, sizeof client->secret);
    crypto_auth_hmacsha256_update(&state, signed_bytes, signed_size);
    crypto_auth_hmacsha256_final(&state, mac);
    sodium_memzero(&state, sizeof state);
    Ledger__V1__Request request = LEDGER__V1__REQUEST__INIT;
    request.signed_.data = signed_bytes;
    request.signed_.len = signed_size;
    request.mac.data = mac;
    request.mac.len = sizeof mac;
    err = client_pack(&request.base, &out->bytes, &out->size);
    free(signed_bytes);
    return err;
}

/* Whether the running subscription's stop flag is set (read atomically:
 * a signal handler or another thread sets it). */
static bool client_stop_set(const struct ledger_client *client)
{
    return client->stop != NULL && __atomic_load_n(client->stop, __ATOMIC_RELAXED) != 0;
}

/* Waits up to timeout_ms for the reply to the request just sent, as
 * nn_recv(NN_MSG) does, failing with the error in *error_out. With a stop
 * flag (a subscription's, or ledger_set_stop's), in slices of
 * CLIENT_WAIT_SLICE_MS: a stop flag set by
 * another thread interrupts no system call, and would otherwise be seen
 * only after the whole timeout; set, it ends the wait as a signal's EINTR
 * does. A REQ socket's receive that times out leaves the request waiting
 * for its reply, so the next slice goes on waiting for the same one. */
static int client_receive(struct ledger_client *client, void **buffer, int *error_out)
{
    int socket = client->request_socket;
    if (client->stop == NULL) {
        int received = nn_recv(socket, buffer, NN_MSG, 0);
        *error_out = received < 0 ? nn_errno() : 0;
        return received;
    }
    int64_t deadline_ms = client_monotonic_ms() + client->timeout_ms;
    int received = -1;
    for (;;) {
        int64_t left_ms = deadline_ms - client_monotonic_ms();
        if (client_stop_set(client)) {
            *error_out = EINTR;
            break;
        }
        if (left_ms <= 0) {
            *error_out = ETIMEDOUT;
            break;
        }
        int slice_ms = left_ms < CLIENT_WAIT_SLICE_MS ? (int)left_ms : CLIENT_WAIT_SLICE_MS;
        (void)client_set_int_option(socket, NN_SOL_SOCKET, NN_RCVTIMEO, slice_ms);
        received = nn_recv(socket, buffer, NN_MSG, 0);
        *error_out = received < 0 ? nn_errno() : 0;
        /* A signal's EINTR with the flag clear (an import's first Ctrl-C,
         * which waits for the batch in flight) goes on waiting. */
        if (received >= 0 ||
            (*error_out != ETIMEDOUT && *error_out != EAGAIN && *error_out != EINTR)) {
            break;
        }
    }
    (void)client_set_int_option(socket, NN_SOL_SOCKET, NN_RCVTIMEO, (int)client->timeout_ms);
    return received;
}

/* Frees a message nn_recv(NN_MSG) gave us, wiped first: a reply may carry a
 * new principal's secret (CommandResult.secret_hex). The copies nanomsg made
 * on its way (its receive buffers) are its own and are not wiped. */
static void client_message_free(void *message, size_t size)
{
    sodium_memzero(message, size);
    nn_freemsg(message);
}

/* One attempt: sends the request and waits up to timeout_ms for its reply.
 * TIMEOUT when none came, UNREACHABLE when it could not even be sent. */
static enum ledger_err client_attempt(struct ledger_client *client,
                                      const struct client_signed *request,
                                      Ledger__V1__Reply **reply_out)
{
    /* A request we gave up on is still the REQ socket's current one, and
     * nanomsg sends it again by itself when the connection it went out on
     * closes (a restarted daemon): its reply then waits in the socket. The
     * next send does not free that reply, and the reply after it overwrites
     * it (nanomsg 1.1.5, req.c): one message leaked per late reply. Read it
     * and drop it; it answers a request this client no longer waits for. */
    void *stale = NULL;
    int stale_size = nn_recv(client->request_socket, &stale, NN_MSG, NN_DONTWAIT);
    if (stale_size >= 0) {
        client_message_free(stale, (size_t)stale_size);
    }
    if (nn_send(client->request_socket, request->bytes, request->size, 0) < 0) {
        int error = nn_errno();
        if (error == ETIMEDOUT || error == EAGAIN) {
            return LEDGER_ERR_UNREACHABLE;
        }
        if (error == EINTR) {
            return LEDGER_ERR_TIMEOUT;
        }
        client_set_message(client, "cannot send: %s", nn_strerror(error));
        return LEDGER_ERR_UNREACHABLE;
    }
    void *buffer = NULL;
    int error = 0;
    int received = client_receive(client, &buffer, &error);
    if (received < 0) {
        if (error == ETIMEDOUT || error == EAGAIN || error == EINTR) {
            /* The abandoned request would stay this socket's current one:
             * nanomsg resends it by itself after a reconnection, and a late
             * reply arriving while another reply waits unread in the socket
             * overwrites that one without freeing it (nanomsg 1.1.5, req.c,
             * nn_req_in), a race the drain above cannot close. A fresh
             * socket has no abandoned request and gets no late reply (the
             * daemon answers on the old connection, which is gone). A
             * failure to reopen shows at the next send as UNREACHABLE. */
            client->timeout_connections =
                nn_get_statistic(client->request_socket, NN_STAT_CURRENT_CONNECTIONS);
            nn_close(client->request_socket);
            client->request_socket = -1;
            (void)client_request_socket_open(client);
            return LEDGER_ERR_TIMEOUT;
        }
        client_set_message(client, "cannot receive: %s", nn_strerror(error));
        return LEDGER_ERR_UNREACHABLE;
    }
    Ledger__V1__Reply *reply =
        ledger__v1__reply__unpack(NULL, (size_t)received, (const uint8_t *)buffer);
    client_message_free(buffer, (size_t)received);
    if (reply == NULL) {
        client_set_message(client, "the reply does not decode as ledger.v1.Reply");
        return LEDGER_ERR_PROTOCOL_ERROR;
    }
    /* The daemon answers a request it could not decode without our nonce;
     * any other reply must echo it. */
    bool echoed = reply->request_nonce.len == LEDGER_NONCE_BYTES &&
                  memcmp(reply->request_nonce.data, request->nonce, LEDGER_NONCE_BYTES) == 0;
    if (!echoed && !(reply->request_nonce.len == 0 && reply->code != LEDGER__V1__ERROR_CODE__OK)) {
        ledger_reply_free(reply);
        client_set_message(client, "the reply does not echo the request's nonce");
        return LEDGER_ERR_PROTOCOL_ERROR;
    }
    *reply_out = reply;
    return LEDGER_ERR_OK;
}

/* Whether a request refused STALE_REQUEST, after `resigns` signatures
 * again in this call, is worth signing again: the first time always (signed
 * before the daemon started, or too long ago); after that only when the
 * refused attempt `waited` long enough to have left the daemon's window
 * while queued (LEDGER_AUTH_WINDOW_MIN_US), never past
 * LEDGER_STALE_RESIGNS_MAX. A quick refusal of a fresh signature is the
 * clock's: signing again would be refused the same way. */
static bool client_stale_resign_helps(unsigned resigns, bool waited)
{
    return resigns < LEDGER_STALE_RESIGNS_MAX && (resigns == 0 || waited);
}

/* Signs the body, sends it and waits for the reply, resending the same
 * bytes after each timeout. A resend that would arrive late in the daemon's
 * authentication window is signed again instead (new timestamp and nonce,
 * the same body, so the same command ids and command bytes), as
 * docs/protocol.md asks. */
static enum ledger_err client_round_trip(struct ledger_client *client,
                                         Ledger__V1__RequestBody *body,
                                         Ledger__V1__Reply **reply_out)
{
    enum ledger_err last = LEDGER_ERR_TIMEOUT;
    struct client_signed request = {.bytes = NULL};
    if (client->ipc_path != NULL) {
        struct stat info;
        if (stat(client->ipc_path, &info) != 0) {
            client_set_message(client, "no daemon socket at %s; is ledgerd running?",
                               client->ipc_path);
            return LEDGER_ERR_UNREACHABLE;
        }
    }
    client->stale_resigns = 0;
    /* Whether an attempt timed out on a connected socket: its request may
     * have reached the daemon and been committed. */
    bool reached = false;
    for (uint32_t attempt = 0; attempt <= client->retries; attempt++) {
        if (request.bytes == NULL || client_now_us() - request.signed_us > CLIENT_RESIGN_AFTER_US) {
            free(request.bytes);
            request.bytes = NULL;
            enum ledger_err err = client_sign(client, body, &request);
            if (err != LEDGER_ERR_OK) {
                free(request.bytes);
                return err;
            }
        }
        client->message[0] = '\0';
        client->timeout_connections = 0;
        int64_t sent_ms = client_monotonic_ms();
        last = client_attempt(client, &request, reply_out);
        reached = reached || client->timeout_connections > 0;
        client->stale_waited = client_monotonic_ms() - sent_ms >= LEDGER_AUTH_WINDOW_MIN_US / 1000;
        if (last == LEDGER_ERR_OK && (*reply_out)->code == LEDGER__V1__ERROR_CODE__STALE_REQUEST &&
            client_stale_resign_helps(client->stale_resigns, client->stale_waited)) {
            /* Signed before the daemon (re)started, or left the window
             * while it waited: sign again (same body, so the same command
             * ids) and send that, as an extra attempt. */
            ledger_reply_free(*reply_out);
            *reply_out = NULL;
            free(request.bytes);
            request.bytes = NULL;
            client->stale_resigns++;
            attempt--;
            continue;
        }
        if (last == LEDGER_ERR_UNREACHABLE && client->message[0] != '\0') {
            free(request.bytes); /* a socket failure, not a missing peer */
            return last;
        }
        if (last != LEDGER_ERR_TIMEOUT && last != LEDGER_ERR_UNREACHABLE) {
            free(request.bytes);
            return last;
        }
        if (client_stop_set(client)) {
            free(request.bytes);
            client_set_message(client, "interrupted while waiting for a reply from %s",
                               client->request_url);
            return last;
        }
    }
    free(request.bytes);
    /* A request queued on a socket that never connected (a TCP address
     * nobody listens on) times out like a slow daemon: tell them apart.
     * Any attempt decides: one that reached a daemon which then went away
     * may have been committed, and "no daemon" would say it was not. */
    last = reached ? LEDGER_ERR_TIMEOUT : LEDGER_ERR_UNREACHABLE;
    if (last == LEDGER_ERR_UNREACHABLE) {
        client_set_message(client,
                           "no daemon answered at %s (%u attempt(s) of %u ms); is ledgerd "
                           "running there?",
                           client->request_url, client->retries + 1, client->timeout_ms);
    } else {
        client_set_message(client, "no reply from %s after %u attempt(s) of %u ms",
                           client->request_url, client->retries + 1, client->timeout_ms);
    }
    return last;
}

/* Sends a request body and checks the reply. On OK the reply's code is OK
 * too; a refusal returns its code with the message kept. */
static enum ledger_err client_request(struct ledger_client *client, Ledger__V1__RequestBody *body,
                                      Ledger__V1__Reply **reply_out)
{
    Ledger__V1__Reply *reply = NULL;
    client->message[0] = '\0';
    client->failed_index = 0;
    enum ledger_err err = client_round_trip(client, body, &reply);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    client->head_sequence = reply->head_sequence;
    if (!ledger_err_valid((int)reply->code)) {
        client_set_message(client, "the daemon replied with unknown code %d", (int)reply->code);
        err = LEDGER_ERR_PROTOCOL_ERROR;
    } else if (reply->code != LEDGER__V1__ERROR_CODE__OK) {
        err = (enum ledger_err)reply->code;
        client->failed_index = reply->failed_index;
        client_set_message(client, "%s",
                           reply->message != NULL && reply->message[0] != '\0'
                               ? reply->message
                               : ledger_strerror(err));
        if (err == LEDGER_ERR_STALE_REQUEST && client->stale_resigns > 0) {
            size_t used = strlen(client->message);
            snprintf(client->message + used, sizeof client->message - used,
                     " (signed again %u time%s, refused each time: %s)", client->stale_resigns,
                     client->stale_resigns == 1 ? "" : "s",
                     client->stale_waited
                         ? "the daemon answers slower than its authentication window; retry "
                           "later, or raise its auth_window_s"
                         : "this host's clock disagrees with the daemon's; synchronize it "
                           "(NTP)");
        }
    }
    if (err != LEDGER_ERR_OK) {
        ledger_reply_free(reply);
        return err;
    }
    *reply_out = reply;
    return LEDGER_ERR_OK;
}

void ledger_set_stop(struct ledger_client *client, volatile sig_atomic_t *stop)
{
    if (client != NULL) {
        client->stop = stop;
    }
}

enum ledger_err ledger_execute(struct ledger_client *client,
                               const Ledger__V1__Command *const *commands, size_t count,
                               Ledger__V1__Reply **reply_out)
{
    enum ledger_err err = LEDGER_ERR_OK;
    ProtobufCBinaryData *packed = NULL;
    size_t packed_count = 0;
    Ledger__V1__Reply *reply = NULL;
    if (client == NULL || reply_out == NULL || commands == NULL || count == 0 ||
        count > LEDGER_BATCH_COMMANDS_MAX) {
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    packed = calloc(count, sizeof *packed);
    if (packed == NULL) {
        return LEDGER_ERR_NO_MEMORY;
    }
    for (size_t i = 0; i < count; i++) {
        if (commands[i] == NULL) {
            err = LEDGER_ERR_INVALID_ARGUMENT;
            goto cleanup;
        }
        /* A shallow copy packs the same bytes with our id where the caller
         * left it empty, without writing to the caller's struct. */
        Ledger__V1__Command copy = *commands[i];
        char command_id[LEDGER_CLIENT_COMMAND_ID_SIZE];
        if (copy.command_id == NULL || copy.command_id[0] == '\0') {
            ledger_command_id_new(command_id);
            copy.command_id = command_id;
        }
        err = client_pack(&copy.base, &packed[i].data, &packed[i].len);
        if (err != LEDGER_ERR_OK) {
            goto cleanup;
        }
        packed_count++;
    }
    Ledger__V1__CommandBatch batch = LEDGER__V1__COMMAND_BATCH__INIT;
    batch.commands = packed;
    batch.n_commands = count;
    Ledger__V1__RequestBody body = LEDGER__V1__REQUEST_BODY__INIT;
    body.kind_case = LEDGER__V1__REQUEST_BODY__KIND_BATCH;
    body.batch = &batch;
    err = client_request(client, &body, &reply);
    if (err != LEDGER_ERR_OK) {
        goto cleanup;
    }
    if (reply->n_results != count) {
        client_set_message(client, "the reply has %zu results for %zu commands", reply->n_results,
                           count);
        ledger_reply_free(reply);
        err = LEDGER_ERR_PROTOCOL_ERROR;
        goto cleanup;
    }
    *reply_out = reply;
cleanup:
    for (size_t i = 0; i < packed_count; i++) {
        free(packed[i].data);
    }
    free(packed);
    return err;
}

void ledger_reply_free(Ledger__V1__Reply *reply)
{
    if (reply == NULL) {
        return;
    }
    for (size_t i = 0; i < reply->n_results; i++) {
        char *secret = reply->results[i] != NULL ? reply->results[i]->secret_hex : NULL;
        if (secret != NULL) {
            sodium_memzero(secret, strlen(secret));
        }
    }
    ledger__v1__reply__free_unpacked(reply, NULL);
}

/* Runs a query and hands back the whole reply (the subscription needs its
 * head_sequence too). */
static enum ledger_err client_query_reply(struct ledger_client *client,
                                          const Ledger__V1__Query *query,
                                          Ledger__V1__Reply **reply_out)
{
    Ledger__V1__RequestBody body = LEDGER__V1__REQUEST_BODY__INIT;
    body.kind_case = LEDGER__V1__REQUEST_BODY__KIND_QUERY;
    /* The body only reads the query; protobuf-c's struct is not const. */
    body.query = (Ledger__V1__Query *)(uintptr_t)query;
    Ledger__V1__Reply *reply = NULL;
    enum ledger_err err = client_request(client, &body, &reply);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    if (reply->query == NULL) {
        client_set_message(client, "the reply to a query carries no result");
        ledger_reply_free(reply);
        return LEDGER_ERR_PROTOCOL_ERROR;
    }
    *reply_out = reply;
    return LEDGER_ERR_OK;
}

enum ledger_err ledger_query(struct ledger_client *client, const Ledger__V1__Query *query,
                             Ledger__V1__QueryResult **result_out)
{
    if (client == NULL || query == NULL || result_out == NULL) {
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    Ledger__V1__Reply *reply = NULL;
    enum ledger_err err = client_query_reply(client, query, &reply);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    /* protobuf-c allocates each sub-message on its own, so the result can be
     * detached from the reply and freed alone later. */
    *result_out = reply->query;
    reply->query = NULL;
    ledger_reply_free(reply);
    return LEDGER_ERR_OK;
}

void ledger_query_result_free(Ledger__V1__QueryResult *result)
{
    if (result != NULL) {
        ledger__v1__query_result__free_unpacked(result, NULL);
    }
}

/* ------------------------------------------------------------------------ */
/* Checkpoints. */

/* What to do with a checkpoint file this reader cannot resume from. */
#define CLIENT_CHECKPOINT_REPLACE                                                                  \
    "give another checkpoint file, or remove this one to start again from the first event "        \
    "asked for (the events it counted as delivered are then delivered again)"

/* ledger_checkpoint_read, saying why it failed: reason_out gets the errno
 * of a file that could not be opened or read, 0 for one whose content is no
 * checkpoint; problem_out then says what is wrong with that content and
 * what to do (a static string), else NULL. filters_out
 * (CLIENT_CHECKPOINT_BYTES_MAX bytes) gets the filter lines the file
 * records, "" for a file of the sequence alone. */
static enum ledger_err client_checkpoint_read(const char *path, uint64_t *sequence_out,
                                              int *reason_out, const char **problem_out,
                                              char *filters_out)
{
    char text[CLIENT_CHECKPOINT_BYTES_MAX + 1];
    size_t length = 0;
    *reason_out = 0;
    *problem_out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *reason_out = errno;
        return errno == ENOENT ? LEDGER_ERR_NOT_FOUND : LEDGER_ERR_IO_ERROR;
    }
    while (length < CLIENT_CHECKPOINT_BYTES_MAX) {
        ssize_t got = read(fd, text + length, CLIENT_CHECKPOINT_BYTES_MAX - length);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got < 0) {
            *reason_out = errno; /* a directory opens, and fails here (EISDIR) */
            close(fd);
            return LEDGER_ERR_IO_ERROR;
        }
        if (got == 0) {
            break;
        }
        length += (size_t)got;
    }
    close(fd);
    if (length == CLIENT_CHECKPOINT_BYTES_MAX) {
        *problem_out =
            "it is longer than any checkpoint ledgerctl writes; " CLIENT_CHECKPOINT_REPLACE;
        return LEDGER_ERR_IO_ERROR;
    }
    text[length] = '\0';
    /* The sequence: the first line. */
    size_t digits = strcspn(text, "\r\n");
    const char *rest = text + digits;
    rest += strspn(rest, "\r\n");
    if (strlen(rest) != strcspn(rest, "\r") || strchr(text, '\0') != text + length) {
        *problem_out = "it holds a NUL byte, or a carriage return among its filter "
                       "lines; " CLIENT_CHECKPOINT_REPLACE;
        return LEDGER_ERR_IO_ERROR;
    }
    static const char *const no_sequence =
        "its first line is not a sequence (the decimal number of the last event delivered, "
        "at most 18446744073709551615); " CLIENT_CHECKPOINT_REPLACE;
    if (digits == 0 || digits > 20) {
        *problem_out = no_sequence;
        return LEDGER_ERR_IO_ERROR;
    }
    uint64_t value = 0;
    for (size_t i = 0; i < digits; i++) {
        if (text[i] < '0' || text[i] > '9') {
            *problem_out = no_sequence;
            return LEDGER_ERR_IO_ERROR;
        }
        uint64_t digit = (uint64_t)(text[i] - '0');
        if (value > (UINT64_MAX - digit) / 10) {
            *problem_out = no_sequence;
            return LEDGER_ERR_IO_ERROR;
        }
        value = value * 10 + digit;
    }
    /* The filters, if any: exactly the three lines, in their order. */
    if (rest[0] != '\0') {
        static const char *const keys[] = {"partner=", "customer=", "types="};
        const char *line = rest;
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
            const char *end = strchr(line, '\n');
            if (strncmp(line, keys[i], strlen(keys[i])) != 0 || end == NULL) {
                *problem_out = "its filter lines are not the three this ledgerctl writes "
                               "(partner=, customer= and types=, in that order, each ending "
                               "in a line end); " CLIENT_CHECKPOINT_REPLACE;
                return LEDGER_ERR_IO_ERROR;
            }
            line = end + 1;
        }
        if (line[0] != '\0') {
            *problem_out = "it has lines after its filter lines that this ledgerctl does not "
                           "know: a newer ledgerctl wrote it; resume with that one, "
                           "or " CLIENT_CHECKPOINT_REPLACE;
            return LEDGER_ERR_IO_ERROR;
        }
    }
    memcpy(filters_out, rest, strlen(rest) + 1);
    *sequence_out = value;
    return LEDGER_ERR_OK;
}

enum ledger_err ledger_checkpoint_read(const char *path, uint64_t *sequence_out)
{
    if (path == NULL || sequence_out == NULL) {
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    int reason = 0;
    const char *problem = NULL;
    char filters[CLIENT_CHECKPOINT_BYTES_MAX];
    return client_checkpoint_read(path, sequence_out, &reason, &problem, filters);
}

enum ledger_err ledger__write_all(int fd, const void *data, size_t size)
{
    const char *bytes = data;
    size_t done = 0;
    /* Bounded: each pass writes at least one byte, or returns. */
    while (done < size) {
        ssize_t wrote = write(fd, bytes + done, size - done);
        if (wrote < 0 && errno == EINTR) {
            continue;
        }
        if (wrote <= 0) {
            if (wrote == 0) {
                errno = EIO;
            }
            return LEDGER_ERR_IO_ERROR;
        }
        done += (size_t)wrote;
    }
    return LEDGER_ERR_OK;
}

enum ledger_err ledger__directory_sync(const char *path)
{
    size_t path_length = strlen(path);
    char *directory = malloc(path_length + 2);
    if (directory == NULL) {
        errno = ENOMEM;
        return LEDGER_ERR_NO_MEMORY;
    }
    memcpy(directory, path, path_length + 1);
    char *slash = strrchr(directory, '/');
    if (slash == NULL) {
        memcpy(directory, ".", 2);
    } else if (slash == directory) {
        slash[1] = '\0';
    } else {
        *slash = '\0';
    }
    enum ledger_err err = LEDGER_ERR_OK;
    int reason = 0;
    int fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) {
        reason = errno;
        err = LEDGER_ERR_IO_ERROR;
    }
    if (fd >= 0) {
        close(fd);
    }
    free(directory);
    errno = reason;
    return err;
}

/* ledger_checkpoint_write, followed by the filter lines `filters` ("" for
 * none; borrowed). */
static enum ledger_err client_checkpoint_store(const char *path, uint64_t sequence,
                                               const char *filters)
{
    enum ledger_err err = LEDGER_ERR_IO_ERROR;
    if (path == NULL || path[0] == '\0') {
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    size_t path_length = strlen(path);
    char *temporary = malloc(path_length + 5);
    int fd = -1;
    int reason = 0;
    bool temporary_made = false;
    if (temporary == NULL) {
        err = LEDGER_ERR_NO_MEMORY;
        reason = ENOMEM;
        goto cleanup;
    }
    memcpy(temporary, path, path_length);
    memcpy(temporary + path_length, ".tmp", 5);
    char text[CLIENT_CHECKPOINT_BYTES_MAX];
    int length = snprintf(text, sizeof text, "%llu\n%s", (unsigned long long)sequence, filters);
    if (length < 0 || (size_t)length >= sizeof text) {
        err = LEDGER_ERR_INVALID_ARGUMENT; /* filters longer than any checkpoint holds */
        reason = EINVAL;
        goto cleanup;
    }
    /* The subscription's lock covers FILE.tmp too, so one found here is a
     * leftover of a write that crashed: remove it, and make a new one that
     * nothing else can be behind. Opening the old one would follow a
     * symbolic link planted there, and truncate and overwrite its target. */
    if (unlink(temporary) != 0 && errno != ENOENT) {
        reason = errno;
        goto cleanup;
    }
    fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        reason = errno;
        goto cleanup;
    }
    temporary_made = true;
    errno = EIO; /* a short write sets none */
    if (ledger__write_all(fd, text, (size_t)length) != LEDGER_ERR_OK || fsync(fd) != 0) {
        reason = errno;
        goto cleanup;
    }
    int closed = close(fd);
    fd = -1;
    if (closed != 0 || rename(temporary, path) != 0) {
        reason = errno;
        goto cleanup;
    }
    temporary_made = false;
    /* The rename is durable only once the directory entry is. */
    err = ledger__directory_sync(path);
    reason = errno;
cleanup:
    if (fd >= 0) {
        close(fd);
    }
    if (temporary_made) {
        unlink(temporary); /* the old checkpoint stays as it was */
    }
    free(temporary);
    errno = reason;
    return err;
}

enum ledger_err ledger_checkpoint_write(const char *path, uint64_t sequence)
{
    return client_checkpoint_store(path, sequence, "");
}

/* ------------------------------------------------------------------------ */
/* Subscriptions. */

static enum ledger_err client_events_open(struct ledger_client *client)
{
    if (client->events_url == NULL || client->events_socket >= 0) {
        return LEDGER_ERR_OK;
    }
    int socket = nn_socket(AF_SP, NN_SUB);
    if (socket < 0) {
        return LEDGER_ERR_INTERNAL;
    }
    if (nn_setsockopt(socket, NN_SUB, NN_SUB_SUBSCRIBE, "", 0) != 0 ||
        nn_connect(socket, client->events_url) < 0) {
        nn_close(socket);
        client_set_message(client, "cannot connect to the events socket %s", client->events_url);
        return LEDGER_ERR_UNREACHABLE;
    }
    client->events_socket = socket;
    return LEDGER_ERR_OK;
}

static bool client_stopped(const struct ledger_subscription *subscription)
{
    /* Atomic: the flag may be set by a signal handler or another thread. */
    return subscription->stop != NULL && __atomic_load_n(subscription->stop, __ATOMIC_RELAXED) != 0;
}

/* Waits up to poll_ms for a doorbell (or just waits, without an events
 * socket). Returns early when the stop flag is set. */
static void client_wait(struct ledger_client *client,
                        const struct ledger_subscription *subscription, uint32_t poll_ms)
{
    uint32_t waited_ms = 0;
    while (waited_ms < poll_ms && !client_stopped(subscription)) {
        uint32_t slice_ms = poll_ms - waited_ms;
        if (slice_ms > CLIENT_WAIT_SLICE_MS) {
            slice_ms = CLIENT_WAIT_SLICE_MS;
        }
        if (client->events_socket >= 0) {
            struct nn_pollfd pollfd = {.fd = client->events_socket, .events = NN_POLLIN};
            int ready = nn_poll(&pollfd, 1, (int)slice_ms);
            if (ready > 0 && (pollfd.revents & NN_POLLIN) != 0) {
                /* Drain: each doorbell says only "something new"; one query
                 * fetches all of it. */
                for (int i = 0; i < CLIENT_DOORBELLS_DRAIN_MAX; i++) {
                    void *buffer = NULL;
                    int got = nn_recv(client->events_socket, &buffer, NN_MSG, NN_DONTWAIT);
                    if (got < 0) {
                        break;
                    }
                    nn_freemsg(buffer);
                }
                return;
            }
        } else {
            poll(NULL, 0, (int)slice_ms);
        }
        waited_ms += slice_ms;
    }
}

/* Whether a failed query means only that the daemon is away for now:
 * stopped or restarting (no socket, no connection), stopping (it leaves
 * the request unread: no reply), too slow to answer, or busy for the moment
 * (UNAVAILABLE). Refusals, authentication failures included, are not. */
static bool client_daemon_away(enum ledger_err err)
{
    return err == LEDGER_ERR_UNREACHABLE || err == LEDGER_ERR_TIMEOUT ||
           err == LEDGER_ERR_UNAVAILABLE;
}

/* Takes the lock beside a checkpoint file (FILE.lock, flock, released
 * when fd_out is closed): two subscribers on one checkpoint would each
 * deliver the same events and overwrite each other's position. IO_ERROR
 * with the client's message set when another holds it or it cannot be
 * made. */
static enum ledger_err client_checkpoint_lock(struct ledger_client *client, const char *path,
                                              int *fd_out)
{
    size_t length = strlen(path);
    char *lock_path = malloc(length + 6);
    if (lock_path == NULL) {
        return LEDGER_ERR_NO_MEMORY;
    }
    memcpy(lock_path, path, length);
    memcpy(lock_path + length, ".lock", 6);
    int fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    int locked = fd >= 0 ? flock(fd, LOCK_EX | LOCK_NB) : -1;
    int reason = errno;
    if (locked != 0) {
        if (fd >= 0 && reason == EWOULDBLOCK) {
            client_set_message(client,
                               "the checkpoint file %s is in use by another subscriber (it holds "
                               "%s): stop it first, or give another checkpoint file",
                               path, lock_path);
        } else {
            client_set_message(client, "cannot lock the checkpoint file %s: %s: %s", path,
                               lock_path, strerror(reason));
        }
        if (fd >= 0) {
            close(fd);
        }
        free(lock_path);
        return LEDGER_ERR_IO_ERROR;
    }
    free(lock_path);
    *fd_out = fd;
    return LEDGER_ERR_OK;
}

static enum ledger_err client_subscribe(struct ledger_client *client,
                                        const struct ledger_subscription *subscription,
                                        ledger_event_fn callback, void *context);

/* Records sequence in the subscription's checkpoint file. unsynced: whether
 * a callback returned since the consumer last made its output durable; if
 * so, before_checkpoint runs first, and the checkpoint is written only once
 * it succeeded. The client's message is set on failure. */
static enum ledger_err client_checkpoint_advance(struct ledger_client *client,
                                                 const struct ledger_subscription *subscription,
                                                 const char *filters, void *context, bool *unsynced,
                                                 uint64_t sequence)
{
    if (*unsynced && subscription->before_checkpoint != NULL) {
        enum ledger_err err = subscription->before_checkpoint(context);
        if (err != LEDGER_ERR_OK) {
            client_set_message(client,
                               "the consumer's output before sequence %llu is not durable (%s): "
                               "the checkpoint file %s was not advanced",
                               (unsigned long long)sequence, ledger_err_name(err),
                               subscription->checkpoint_path);
            return err;
        }
    }
    *unsynced = false;
    enum ledger_err err = client_checkpoint_store(subscription->checkpoint_path, sequence, filters);
    if (err != LEDGER_ERR_OK) {
        int reason = errno != 0 ? errno : EIO;
        client_set_message(client, "cannot write the checkpoint file %s: %s",
                           subscription->checkpoint_path, strerror(reason));
    }
    return err;
}

/* The filter lines a checkpoint file records for subscription (see
 * CLIENT_CHECKPOINT_BYTES_MAX), into out (CLIENT_CHECKPOINT_BYTES_MAX
 * bytes): the same for the same filters, whatever the order of the types.
 * INVALID_ARGUMENT, with the client's message, for a partner or customer
 * that is not an id or a type that is not a type name: no event has them,
 * and a line end in one would break the file's lines. */
static enum ledger_err client_checkpoint_filters(struct ledger_client *client,
                                                 const struct ledger_subscription *subscription,
                                                 char *out)
{
    const char *ids[2] = {subscription->partner_id, subscription->customer_id};
    for (size_t i = 0; i < 2; i++) {
        if (ids[i] != NULL && ids[i][0] != '\0' && !ledger_id_valid(ids[i])) {
            client_set_message(client, "ledger_subscribe: %s is not a valid id",
                               i == 0 ? "partner_id" : "customer_id");
            return LEDGER_ERR_INVALID_ARGUMENT;
        }
    }
    const char *sorted[LEDGER_EVENT_TYPES_FILTER_MAX];
    size_t count = 0;
    for (size_t i = 0; i < subscription->type_count; i++) {
        const char *name = subscription->types[i];
        size_t length = strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_");
        if (length == 0 || name[length] != '\0' || length > CLIENT_TYPE_NAME_BYTES_MAX) {
            client_set_message(client, "ledger_subscribe: types[%zu] is not an event type name", i);
            return LEDGER_ERR_INVALID_ARGUMENT;
        }
        size_t at = count; /* insertion sort: at most 32 names */
        while (at > 0 && strcmp(sorted[at - 1], name) > 0) {
            at--;
        }
        if (at > 0 && strcmp(sorted[at - 1], name) == 0) {
            continue; /* a type named twice filters as once */
        }
        memmove(sorted + at + 1, sorted + at, (count - at) * sizeof sorted[0]);
        sorted[at] = name;
        count++;
    }
    size_t used = (size_t)snprintf(out, CLIENT_CHECKPOINT_BYTES_MAX,
                                   "partner=%s\ncustomer=%s\ntypes=", ids[0] != NULL ? ids[0] : "",
                                   ids[1] != NULL ? ids[1] : "");
    for (size_t i = 0; i < count; i++) {
        used += (size_t)snprintf(out + used, CLIENT_CHECKPOINT_BYTES_MAX - used, "%s%s",
                                 i > 0 ? "," : "", sorted[i]);
    }
    snprintf(out + used, CLIENT_CHECKPOINT_BYTES_MAX - used, "\n");
    return LEDGER_ERR_OK;
}

/* USAGE, with the client's message naming what differs and what to do,
 * when the checkpoint file at path records other filters (`recorded`) than
 * the subscription's (`asked`): the file is past events the new filters
 * take that its own left out, and resuming from it would never deliver
 * them. A file that records none (of the sequence alone) is taken as
 * advanced under the subscription's filters, which its next write records.
 * after_sequence: where the subscription starts without the file (its
 * after_sequence), which the message names. */
static enum ledger_err client_checkpoint_filters_match(struct ledger_client *client,
                                                       const char *path, uint64_t sequence,
                                                       const char *recorded, const char *asked,
                                                       uint64_t after_sequence)
{
    if (recorded[0] == '\0' || strcmp(recorded, asked) == 0) {
        return LEDGER_ERR_OK;
    }
    char differences[CLIENT_MESSAGE_SIZE] = "";
    size_t used = 0;
    /* Both hold the three lines in the same order (partner, customer, types). */
    while (*recorded != '\0' && *asked != '\0' && used < sizeof differences) {
        size_t key = strcspn(recorded, "=");
        size_t there = strcspn(recorded + key + 1, "\n");
        size_t here = strcspn(asked + key + 1, "\n");
        if (there != here || memcmp(recorded + key + 1, asked + key + 1, there) != 0) {
            /* An empty value filters nothing out. */
            const char *file_value = there > 0 ? recorded + key + 1 : "(any)";
            const char *asked_value = here > 0 ? asked + key + 1 : "(any)";
            used += (size_t)snprintf(differences + used, sizeof differences - used,
                                     "%s%.*s %.*s in the file, %.*s asked", used > 0 ? "; " : "",
                                     (int)key, recorded,
                                     (int)(there > 0 ? there : strlen(file_value)), file_value,
                                     (int)(here > 0 ? here : strlen(asked_value)), asked_value);
        }
        recorded += key + 1 + there + 1;
        asked += key + 1 + here + 1;
    }
    client_set_message(client,
                       "the checkpoint file %s was advanced to sequence %llu under other filters "
                       "(%s): events these filters take that its own left out would never be "
                       "delivered; give another checkpoint file, or remove this one to start "
                       "again after sequence %llu, where these filters start without it",
                       path, (unsigned long long)sequence, differences,
                       (unsigned long long)after_sequence);
    return LEDGER_ERR_USAGE;
}

/* INVALID_ARGUMENT, with the client's message (when there is a client)
 * naming what is wrong, for a subscription ledger_subscribe cannot follow;
 * else OK. A refusal never leaves an earlier call's message to be read as
 * its reason. */
static enum ledger_err client_subscription_check(struct ledger_client *client,
                                                 const struct ledger_subscription *subscription,
                                                 ledger_event_fn callback)
{
    if (client == NULL) {
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    if (subscription == NULL || callback == NULL) {
        client_set_message(client, "ledger_subscribe: %s is NULL",
                           subscription == NULL ? "subscription" : "callback");
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    if (subscription->type_count > LEDGER_EVENT_TYPES_FILTER_MAX) {
        client_set_message(client, "ledger_subscribe: type_count %zu is more than %d",
                           subscription->type_count, LEDGER_EVENT_TYPES_FILTER_MAX);
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    if (subscription->type_count > 0 && subscription->types == NULL) {
        client_set_message(client, "ledger_subscribe: types is NULL but type_count is %zu",
                           subscription->type_count);
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    for (size_t i = 0; i < subscription->type_count; i++) {
        if (subscription->types[i] == NULL) {
            client_set_message(client, "ledger_subscribe: types[%zu] is NULL", i);
            return LEDGER_ERR_INVALID_ARGUMENT;
        }
    }
    if (subscription->page_limit > LEDGER_EVENTS_PAGE_MAX) {
        client_set_message(client, "ledger_subscribe: page_limit %u is more than %d",
                           (unsigned)subscription->page_limit, LEDGER_EVENTS_PAGE_MAX);
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    if (subscription->checkpoint_mode > LEDGER_CHECKPOINT_BEFORE_EVENT) {
        client_set_message(client,
                           "ledger_subscribe: checkpoint_mode %d is not one of "
                           "LEDGER_CHECKPOINT_EACH_EVENT, _EACH_PAGE, _BEFORE_EVENT",
                           (int)subscription->checkpoint_mode);
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    if (subscription->tree_size != 0 && subscription->follow) {
        client_set_message(client, "ledger_subscribe: follow with a tree_size: a fixed tree has "
                                   "no new events to follow");
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    /* Else no file is read (not found), and the first write, after events
     * were delivered, fails. */
    if (subscription->checkpoint_path != NULL && subscription->checkpoint_path[0] == '\0') {
        client_set_message(client, "ledger_subscribe: checkpoint_path is empty: give a file "
                                   "name, or NULL for no checkpoint");
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    return LEDGER_ERR_OK;
}

enum ledger_err ledger_subscribe(struct ledger_client *client,
                                 const struct ledger_subscription *subscription,
                                 ledger_event_fn callback, void *context)
{
    int lock = -1;
    if (client != NULL && subscription != NULL && subscription->checkpoint_path != NULL &&
        subscription->checkpoint_path[0] != '\0') {
        enum ledger_err err = client_checkpoint_lock(client, subscription->checkpoint_path, &lock);
        if (err != LEDGER_ERR_OK) {
            return err;
        }
    }
    volatile sig_atomic_t *stop = client != NULL ? client->stop : NULL;
    if (client != NULL && subscription != NULL) {
        client->stop = subscription->stop;
    }
    enum ledger_err err = client_subscribe(client, subscription, callback, context);
    if (client != NULL) {
        client->stop = stop;
    }
    if (lock >= 0) {
        close(lock);
    }
    return err;
}

static enum ledger_err client_subscribe(struct ledger_client *client,
                                        const struct ledger_subscription *subscription,
                                        ledger_event_fn callback, void *context)
{
    enum ledger_err err = client_subscription_check(client, subscription, callback);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    uint64_t position = subscription->after_sequence;
    /* Whether events up to `position` were delivered (by this call, or by
     * an earlier one that left the checkpoint), not only asked to skip. */
    bool delivered = false;
    /* The filter lines this subscription's checkpoint writes record. */
    char filters[CLIENT_CHECKPOINT_BYTES_MAX] = "";
    if (subscription->checkpoint_path != NULL) {
        int reason = 0;
        const char *problem = NULL;
        char recorded[CLIENT_CHECKPOINT_BYTES_MAX];
        err = client_checkpoint_filters(client, subscription, filters);
        if (err != LEDGER_ERR_OK) {
            return err;
        }
        err = client_checkpoint_read(subscription->checkpoint_path, &position, &reason, &problem,
                                     recorded);
        delivered = err == LEDGER_ERR_OK;
        if (err == LEDGER_ERR_NOT_FOUND) {
            position = subscription->after_sequence;
        } else if (err != LEDGER_ERR_OK && reason != 0) {
            client_set_message(client, "cannot read the checkpoint file %s: %s",
                               subscription->checkpoint_path, strerror(reason));
            return err;
        } else if (err != LEDGER_ERR_OK) {
            client_set_message(client, "the checkpoint file %s cannot be resumed: %s",
                               subscription->checkpoint_path, problem);
            return err;
        }
        if (err == LEDGER_ERR_OK) {
            err = client_checkpoint_filters_match(client, subscription->checkpoint_path, position,
                                                  recorded, filters, subscription->after_sequence);
            if (err != LEDGER_ERR_OK) {
                return err;
            }
        }
    }
    uint64_t checkpointed = position;
    /* A callback returned since before_checkpoint last ran. */
    bool unsynced = false;
    uint32_t poll_ms = subscription->poll_interval_ms != 0 ? subscription->poll_interval_ms
                                                           : LEDGER_CLIENT_POLL_MS_DEFAULT;
    /* Listen before the first query, so that a commit after that query rings
     * a bell we hear. */
    if (subscription->follow) {
        err = client_events_open(client);
        if (err != LEDGER_ERR_OK) {
            return err;
        }
    }
    Ledger__V1__EventsQuery events = LEDGER__V1__EVENTS_QUERY__INIT;
    events.limit = subscription->page_limit;
    events.customer_id =
        (char *)(uintptr_t)(subscription->customer_id != NULL ? subscription->customer_id : "");
    events.types = (char **)(uintptr_t)subscription->types;
    events.n_types = subscription->type_count;
    events.include_proofs = subscription->include_proofs;
    events.tree_size = subscription->tree_size;
    Ledger__V1__Query query = LEDGER__V1__QUERY__INIT;
    query.partner_id =
        (char *)(uintptr_t)(subscription->partner_id != NULL ? subscription->partner_id : "");
    query.kind_case = LEDGER__V1__QUERY__KIND_EVENTS;
    query.events = &events;

    /* A following subscription that the daemon answered once waits for it
     * when it goes away: retry_ms is the next wait (0 while it answers). */
    bool answered = false;
    uint32_t retry_ms = 0;
    int64_t lost_ms = 0;
    for (;;) {
        if (client_stopped(subscription)) {
            return LEDGER_ERR_OK;
        }
        events.after_sequence = position;
        Ledger__V1__Reply *reply = NULL;
        err = client_query_reply(client, &query, &reply);
        if (err != LEDGER_ERR_OK && client_daemon_away(err) && client_stopped(subscription)) {
            return LEDGER_ERR_OK; /* the signal cut the wait for a reply short */
        }
        if (err != LEDGER_ERR_OK && subscription->follow && answered && client_daemon_away(err)) {
            if (retry_ms == 0) {
                client_notice("lost the daemon at %s (%s: %s); asking again until it answers, "
                              "then resuming after sequence %llu",
                              client->request_url, ledger_err_name(err), client->message,
                              (unsigned long long)position);
                retry_ms = CLIENT_RECONNECT_MS_FIRST;
                lost_ms = client_monotonic_ms();
            }
            client_wait(client, subscription, retry_ms);
            retry_ms =
                retry_ms < CLIENT_RECONNECT_MS_MAX / 2 ? 2 * retry_ms : CLIENT_RECONNECT_MS_MAX;
            continue;
        }
        if (err != LEDGER_ERR_OK) {
            return err;
        }
        answered = true;
        if (retry_ms != 0) {
            client_notice("the daemon at %s answers again after %.1f s; resuming after sequence "
                          "%llu",
                          client->request_url, (double)(client_monotonic_ms() - lost_ms) / 1000.0,
                          (unsigned long long)position);
            retry_ms = 0;
        }
        const Ledger__V1__QueryResult *result = reply->query;
        uint64_t before = position;
        if (delivered && reply->head_sequence < position) {
            /* Going on would skip the next events, numbered as ones this
             * feed already had. */
            client_set_message(
                client,
                "the ledger's head is sequence %llu, behind sequence %llu this feed "
                "already delivered%s%s%s: the daemon serves a shorter history "
                "(restored from an older backup?) or another ledger",
                (unsigned long long)reply->head_sequence, (unsigned long long)position,
                subscription->checkpoint_path != NULL ? " (checkpoint " : "",
                subscription->checkpoint_path != NULL ? subscription->checkpoint_path : "",
                subscription->checkpoint_path != NULL ? ")" : "");
            err = LEDGER_ERR_MISMATCH;
            goto page_failed;
        }
        bool stop = false;
        for (size_t i = 0; i < result->n_events && !stop; i++) {
            const Ledger__V1__EventEntry *entry = result->events[i];
            if (entry == NULL || entry->event == NULL) {
                client_set_message(client,
                                   "the daemon returned an events entry without its event "
                                   "(after sequence %llu)",
                                   (unsigned long long)position);
                err = LEDGER_ERR_PROTOCOL_ERROR;
                goto page_failed;
            }
            if (entry->event->sequence <= position) {
                client_set_message(client,
                                   "the daemon returned events out of order: sequence %llu after "
                                   "sequence %llu",
                                   (unsigned long long)entry->event->sequence,
                                   (unsigned long long)position);
                err = LEDGER_ERR_PROTOCOL_ERROR;
                goto page_failed;
            }
            bool ahead = subscription->checkpoint_mode == LEDGER_CHECKPOINT_BEFORE_EVENT;
            if (subscription->checkpoint_path != NULL && ahead) {
                err = client_checkpoint_advance(client, subscription, filters, context, &unsynced,
                                                entry->event->sequence);
                if (err != LEDGER_ERR_OK) {
                    goto page_failed;
                }
                checkpointed = entry->event->sequence;
            }
            stop = callback(context, entry) != 0;
            unsynced = true;
            position = entry->event->sequence;
            bool last_of_page = i + 1 == result->n_events;
            if (subscription->checkpoint_path != NULL && !ahead &&
                (subscription->checkpoint_mode == LEDGER_CHECKPOINT_EACH_EVENT || stop ||
                 last_of_page)) {
                err = client_checkpoint_advance(client, subscription, filters, context, &unsynced,
                                                position);
                if (err != LEDGER_ERR_OK) {
                    goto page_failed;
                }
                checkpointed = position;
            }
        }
        if (stop) {
            ledger_reply_free(reply);
            return LEDGER_ERR_OK;
        }
        /* Events filtered out still move the position: the daemon examined
         * up to last_sequence. */
        if (result->last_sequence > position) {
            position = result->last_sequence;
        }
        delivered = delivered || position > before;
        if (subscription->checkpoint_path != NULL && position != checkpointed) {
            err = client_checkpoint_advance(client, subscription, filters, context, &unsynced,
                                            position);
            if (err != LEDGER_ERR_OK) {
                goto page_failed;
            }
            checkpointed = position;
        }
        uint64_t head = reply->head_sequence;
        if (subscription->tree_size != 0 && subscription->tree_size < head) {
            head = subscription->tree_size; /* a fixed tree ends there */
        }
        ledger_reply_free(reply);
        bool progressed = position > before;
        if (progressed && position < head) {
            continue; /* more pages are waiting */
        }
        if (!subscription->follow) {
            return LEDGER_ERR_OK;
        }
        if (!progressed || position >= head) {
            client_wait(client, subscription, poll_ms);
        }
        continue;
    page_failed:
        ledger_reply_free(reply);
        return err;
    }
}
