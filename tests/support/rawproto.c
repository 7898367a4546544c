/*
 * rawproto.c: hand-built requests and raw calls for daemon tests (rawproto.h).
 */
#include "rawproto.h"

#include <setjmp.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include <cmocka.h>
#include <nanomsg/nn.h>
#include <nanomsg/reqrep.h>

#include "crypto.h"

int64_t now_us(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

void sleep_ms(long ms)
{
    struct timespec pause = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&pause, NULL);
}

void bytes_append(uint8_t **bytes, size_t *size, const uint8_t *extra, size_t extra_size)
{
    if (extra_size == 0) {
        return;
    }
    uint8_t *grown = realloc(*bytes, *size + extra_size);
    assert_non_null(grown);
    memcpy(grown + *size, extra, extra_size);
    *bytes = grown;
    *size += extra_size;
}

uint8_t *request_pack(struct request_spec *spec, const Ledger__V1__RequestBody *body,
                      size_t *size_out)
{
    if (!spec->nonce_set) {
        crypto_random(spec->nonce, sizeof spec->nonce);
    }
    Ledger__V1__SignedRequest signed_request = LEDGER__V1__SIGNED_REQUEST__INIT;
    signed_request.principal_id = (char *)(spec->principal_id ? spec->principal_id : "");
    signed_request.timestamp_us = spec->timestamp_set
                                      ? spec->timestamp_us
                                      : (spec->timestamp_us ? spec->timestamp_us : now_us());
    signed_request.nonce.data = spec->nonce;
    signed_request.nonce.len = sizeof spec->nonce;
    signed_request.body = (Ledger__V1__RequestBody *)body;
    uint8_t *signed_bytes = NULL;
    size_t signed_size = 0;
    assert_int_equal(codec_pack(&signed_request.base, &signed_bytes, &signed_size), LEDGER_ERR_OK);
    bytes_append(&signed_bytes, &signed_size, spec->signed_extra, spec->signed_extra_size);
    uint8_t mac[2 * CRYPTO_MAC_BYTES] = {0};
    if (spec->secret != NULL) {
        crypto_hmac_sha256(spec->secret, LEDGER_SECRET_BYTES, signed_bytes, signed_size, mac);
        crypto_hmac_sha256(spec->secret, LEDGER_SECRET_BYTES, mac, CRYPTO_MAC_BYTES,
                           mac + CRYPTO_MAC_BYTES); /* filler for MACs over 32 bytes */
    }
    Ledger__V1__Request request = LEDGER__V1__REQUEST__INIT;
    request.signed_.data = signed_bytes;
    request.signed_.len = signed_size;
    if (spec->mac_size >= 0) {
        request.mac.data = mac;
        request.mac.len = spec->mac_size == 0 ? CRYPTO_MAC_BYTES : (size_t)spec->mac_size;
        assert_true(request.mac.len <= sizeof mac);
    }
    uint8_t *bytes = NULL;
    size_t size = 0;
    assert_int_equal(codec_pack(&request.base, &bytes, &size), LEDGER_ERR_OK);
    free(signed_bytes);
    bytes_append(&bytes, &size, spec->outer_extra, spec->outer_extra_size);
    *size_out = size;
    return bytes;
}

uint8_t *request_query(struct request_spec *spec, Ledger__V1__Query *query, size_t *size_out)
{
    Ledger__V1__RequestBody body = LEDGER__V1__REQUEST_BODY__INIT;
    body.kind_case = LEDGER__V1__REQUEST_BODY__KIND_QUERY;
    body.query = query;
    return request_pack(spec, &body, size_out);
}

uint8_t *request_head(struct request_spec *spec, size_t *size_out)
{
    Ledger__V1__HeadQuery head = LEDGER__V1__HEAD_QUERY__INIT;
    Ledger__V1__Query query = LEDGER__V1__QUERY__INIT;
    query.kind_case = LEDGER__V1__QUERY__KIND_HEAD;
    query.head = &head;
    return request_query(spec, &query, size_out);
}

uint8_t *request_batch(struct request_spec *spec, ProtobufCBinaryData *commands, size_t count,
                       size_t *size_out)
{
    Ledger__V1__CommandBatch batch = LEDGER__V1__COMMAND_BATCH__INIT;
    batch.commands = commands;
    batch.n_commands = count;
    Ledger__V1__RequestBody body = LEDGER__V1__REQUEST_BODY__INIT;
    body.kind_case = LEDGER__V1__REQUEST_BODY__KIND_BATCH;
    body.batch = &batch;
    return request_pack(spec, &body, size_out);
}

int client_open(const char *url, int timeout_ms)
{
    int sock = nn_socket(AF_SP, NN_REQ);
    assert_true(sock >= 0);
    assert_true(nn_setsockopt(sock, NN_SOL_SOCKET, NN_RCVTIMEO, &timeout_ms, sizeof timeout_ms) >=
                0);
    assert_true(nn_setsockopt(sock, NN_SOL_SOCKET, NN_SNDTIMEO, &timeout_ms, sizeof timeout_ms) >=
                0);
    int max = -1; /* replies of any size */
    assert_true(nn_setsockopt(sock, NN_SOL_SOCKET, NN_RCVMAXSIZE, &max, sizeof max) >= 0);
    assert_true(nn_connect(sock, url) >= 0);
    return sock;
}

Ledger__V1__Reply *call_bytes(int sock, const void *bytes, size_t size)
{
    if (nn_send(sock, bytes, size, 0) < 0) {
        return NULL;
    }
    void *reply_bytes = NULL;
    int received = nn_recv(sock, &reply_bytes, NN_MSG, 0);
    if (received < 0) {
        return NULL;
    }
    ProtobufCMessage *message = NULL;
    enum ledger_err err =
        codec_message_unpack(&ledger__v1__reply__descriptor, reply_bytes, (size_t)received,
                             LEDGER_REQUEST_BYTES_MAX, LEDGER_ERR_BAD_REQUEST, &message);
    nn_freemsg(reply_bytes);
    return err == LEDGER_ERR_OK ? (Ledger__V1__Reply *)message : NULL;
}

void reply_free(Ledger__V1__Reply *reply)
{
    codec_message_free(reply ? &reply->base : NULL);
}

bool head_probe(const char *url, struct request_spec *spec, int timeout_ms)
{
    int sock = client_open(url, timeout_ms);
    size_t size = 0;
    uint8_t *bytes = request_head(spec, &size);
    Ledger__V1__Reply *reply = call_bytes(sock, bytes, size);
    free(bytes);
    bool ok = reply != NULL && reply->code == LEDGER__V1__ERROR_CODE__OK;
    reply_free(reply);
    nn_close(sock);
    return ok;
}

bool key_read(const char *dir, uint8_t secret[LEDGER_SECRET_BYTES])
{
    char key_path[4096];
    char hex[2 * LEDGER_SECRET_BYTES + 8] = "";
    int n = snprintf(key_path, sizeof key_path, "%s/operator.key", dir);
    if (n < 0 || (size_t)n >= sizeof key_path) {
        return false;
    }
    FILE *file = fopen(key_path, "r");
    if (file == NULL) {
        return false;
    }
    bool ok = fgets(hex, sizeof hex, file) != NULL;
    fclose(file);
    hex[strcspn(hex, "\n")] = '\0';
    return ok && strlen(hex) == 2 * LEDGER_SECRET_BYTES &&
           crypto_unhex(hex, secret, LEDGER_SECRET_BYTES) == LEDGER_ERR_OK;
}

int wait_exit(pid_t pid, long timeout_ms)
{
    for (long waited = 0; waited <= timeout_ms; waited += 10) {
        int status = 0;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        }
        sleep_ms(10);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -2;
}

const char *ledgerd_path(void)
{
    const char *path = getenv("LEDGERD");
    return path && path[0] ? path : "ledgerd";
}
