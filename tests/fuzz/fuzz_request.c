/*
 * fuzz_request.c: libFuzzer target for the request envelope and its
 * authentication (daemon/auth.c), the first code every message from the
 * socket reaches.
 *
 * Method: the real auth_check runs against the fixture engine (fuzz_engine.h:
 * principals of every role, one revoked, all with the secret fuzz_secret) at
 * the fixed time FUZZ_NOW_US. The first byte of an input chooses its shape:
 *   0x00 (or any even byte): the rest is a serialized ledger.v1.Request, used
 *        as it is: decoding, size checks and the MAC comparison are fuzzed;
 *   odd: the rest is a serialized SignedRequest, wrapped in a Request with a
 *        correct MAC (HMAC-SHA256 with fuzz_secret), so that mutations reach
 *        the checks after the MAC: revocation, time window, nonce, body,
 *        batch size.
 * When a request is accepted, each command of a batch is decoded as the
 * server does (codec_command_unpack) and the query's kind is named.
 *
 * Checked: no crash, leak or undefined behaviour; the result is one of the
 * codes auth.h lists; a refusal carries a reason, an acceptance none of the
 * refusals' conditions (a revoked principal, a stale timestamp, a nonce that
 * is not 16 bytes); a correctly signed request is never BAD_SIGNATURE; the
 * detail's strings are terminated and its nonce within bounds.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "crypto.h"
#include "fuzz_engine.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A small batch limit, so that BATCH_TOO_LARGE is within the fuzzer's reach. */
#define FUZZ_BATCH_COMMANDS_MAX 8

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    (void)fuzz_engine();
    return 0;
}

static bool code_listed(enum ledger_err err)
{
    switch (err) {
    case LEDGER_ERR_OK:
    case LEDGER_ERR_TOO_LARGE:
    case LEDGER_ERR_BAD_REQUEST:
    case LEDGER_ERR_UNKNOWN_PRINCIPAL:
    case LEDGER_ERR_BAD_SIGNATURE:
    case LEDGER_ERR_PRINCIPAL_REVOKED:
    case LEDGER_ERR_STALE_REQUEST:
    case LEDGER_ERR_UNKNOWN_MESSAGE:
    case LEDGER_ERR_BATCH_TOO_LARGE:
    case LEDGER_ERR_NO_MEMORY:
        return true;
    default:
        return false;
    }
}

/* What the server does next with an accepted request's body. */
static void use_body(const Ledger__V1__SignedRequest *signed_request)
{
    const Ledger__V1__RequestBody *body = signed_request->body;
    if (body->kind_case == LEDGER__V1__REQUEST_BODY__KIND_BATCH) {
        const Ledger__V1__CommandBatch *batch = body->batch;
        FUZZ_CHECK(batch->n_commands >= 1 && batch->n_commands <= FUZZ_BATCH_COMMANDS_MAX);
        for (size_t i = 0; i < batch->n_commands; i++) {
            Ledger__V1__Command *command = NULL;
            enum ledger_err err =
                codec_command_unpack(batch->commands[i].data, batch->commands[i].len, &command);
            if (err == LEDGER_ERR_OK) {
                (void)codec_id_valid(command->command_id);
                (void)strlen(codec_command_type_name(command->body_case));
                codec_command_free(command);
            } else {
                FUZZ_CHECK(err == LEDGER_ERR_BAD_REQUEST || err == LEDGER_ERR_TOO_LARGE);
            }
        }
    } else {
        FUZZ_CHECK(body->kind_case == LEDGER__V1__REQUEST_BODY__KIND_QUERY);
        (void)strlen(codec_query_type_name(body->query->kind_case));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    bool resign = (data[0] & 1) != 0;
    const uint8_t *rest = data + 1;
    size_t rest_size = size - 1;
    uint8_t *packed = NULL;
    const uint8_t *request_bytes = rest;
    size_t request_size = rest_size;
    if (resign) {
        uint8_t mac[CRYPTO_MAC_BYTES];
        crypto_hmac_sha256(fuzz_secret, sizeof fuzz_secret, rest, rest_size, mac);
        Ledger__V1__Request request = LEDGER__V1__REQUEST__INIT;
        request.signed_.data = (uint8_t *)rest;
        request.signed_.len = rest_size;
        request.mac.data = mac;
        request.mac.len = sizeof mac;
        if (codec_pack(&request.base, &packed, &request_size) != LEDGER_ERR_OK) {
            return 0;
        }
        request_bytes = packed;
    }

    struct auth_limits limits = {
        .request_bytes_max = LEDGER_REQUEST_BYTES_DEFAULT,
        .window_us = LEDGER_AUTH_WINDOW_US,
        .batch_commands_max = FUZZ_BATCH_COMMANDS_MAX,
    };
    struct engine_principal principal;
    Ledger__V1__SignedRequest *signed_request = NULL;
    struct auth_detail detail;
    enum ledger_err err = auth_check(fuzz_engine(), request_bytes, request_size, FUZZ_NOW_US,
                                     &limits, &principal, &signed_request, &detail);

    FUZZ_CHECK(code_listed(err));
    FUZZ_CHECK(memchr(detail.principal_id, '\0', sizeof detail.principal_id) != NULL);
    FUZZ_CHECK(memchr(detail.reason, '\0', sizeof detail.reason) != NULL);
    FUZZ_CHECK(detail.nonce_size <= LEDGER_NONCE_BYTES);
    if (resign) {
        FUZZ_CHECK(err != LEDGER_ERR_BAD_SIGNATURE);
    }
    if (err != LEDGER_ERR_OK) {
        FUZZ_CHECK(detail.reason[0] != '\0');
        FUZZ_CHECK(signed_request == NULL);
    } else {
        FUZZ_CHECK(signed_request != NULL);
        FUZZ_CHECK(!principal.revoked);
        FUZZ_CHECK(strcmp(principal.id, signed_request->principal_id) == 0);
        FUZZ_CHECK(signed_request->nonce.len == LEDGER_NONCE_BYTES);
        FUZZ_CHECK(detail.nonce_size == LEDGER_NONCE_BYTES);
        FUZZ_CHECK(signed_request->timestamp_us >= FUZZ_NOW_US - LEDGER_AUTH_WINDOW_US &&
                   signed_request->timestamp_us <= FUZZ_NOW_US + LEDGER_AUTH_WINDOW_US);
        use_body(signed_request);
        crypto_wipe(&principal, sizeof principal);
        auth_signed_free(signed_request);
    }
    free(packed);
    return 0;
}
