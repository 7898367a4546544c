/*
 * auth.c: authentication of request bytes (the checks and their order are in
 * auth.h; the protocol in docs/protocol.md).
 *
 * The SignedRequest must be decoded before the MAC is checked, since it names
 * the principal whose secret verifies it; decoding is bounded by the size
 * check that comes first and touches nothing else.
 */
#include "auth.h"

#include <stdio.h>
#include <string.h>

#include "crypto.h"
#include "domain.h"
#include "ledger_ids.h"

static void set_reason(struct auth_detail *detail, const char *reason)
{
    snprintf(detail->reason, sizeof detail->reason, "%s", reason);
}

bool auth_timestamp_too_old(int64_t timestamp_us, int64_t now_us, const struct auth_limits *limits)
{
    return timestamp_us < now_us - limits->window_us;
}

void auth_signed_free(Ledger__V1__SignedRequest *signed_request)
{
    codec_message_free(signed_request ? &signed_request->base : NULL);
}

/* Whether a message decoded fields this build does not know (a newer client's
 * oneof case arrives as unknown fields with the case unset). */
static bool has_unknown_fields(const ProtobufCMessage *message)
{
    return message != NULL && message->n_unknown_fields > 0;
}

static enum ledger_err body_check(const Ledger__V1__SignedRequest *signed_request,
                                  const struct auth_limits *limits, struct auth_detail *detail)
{
    if (signed_request->nonce.len != LEDGER_NONCE_BYTES) {
        set_reason(detail, "the nonce must be 16 bytes");
        return LEDGER_ERR_BAD_REQUEST;
    }
    const Ledger__V1__RequestBody *body = signed_request->body;
    if (body == NULL) {
        set_reason(detail, "the request has no body");
        return LEDGER_ERR_BAD_REQUEST;
    }
    switch (body->kind_case) {
    case LEDGER__V1__REQUEST_BODY__KIND_BATCH: {
        const Ledger__V1__CommandBatch *batch = body->batch;
        if (batch == NULL || batch->n_commands == 0) {
            set_reason(detail, "the batch has no commands");
            return LEDGER_ERR_BAD_REQUEST;
        }
        if (batch->n_commands > limits->batch_commands_max) {
            snprintf(detail->reason, sizeof detail->reason,
                     "the batch has %zu commands; at most %u are allowed", batch->n_commands,
                     limits->batch_commands_max);
            return LEDGER_ERR_BATCH_TOO_LARGE;
        }
        return LEDGER_ERR_OK;
    }
    case LEDGER__V1__REQUEST_BODY__KIND_QUERY: {
        const Ledger__V1__Query *query = body->query;
        if (query == NULL || query->kind_case == LEDGER__V1__QUERY__KIND__NOT_SET) {
            if (has_unknown_fields(query ? &query->base : NULL)) {
                set_reason(detail, "unknown query kind");
                return LEDGER_ERR_UNKNOWN_MESSAGE;
            }
            set_reason(detail, "the query has no kind");
            return LEDGER_ERR_BAD_REQUEST;
        }
        return LEDGER_ERR_OK;
    }
    case LEDGER__V1__REQUEST_BODY__KIND__NOT_SET:
    default:
        if (has_unknown_fields(&body->base)) {
            set_reason(detail, "unknown request body");
            return LEDGER_ERR_UNKNOWN_MESSAGE;
        }
        set_reason(detail, "the request body is empty");
        return LEDGER_ERR_BAD_REQUEST;
    }
}

enum ledger_err auth_check(struct engine *engine, const uint8_t *bytes, size_t size, int64_t now_us,
                           const struct auth_limits *limits, struct engine_principal *principal_out,
                           Ledger__V1__SignedRequest **signed_out, struct auth_detail *detail)
{
    memset(detail, 0, sizeof *detail);
    Ledger__V1__Request *request = NULL;
    Ledger__V1__SignedRequest *signed_request = NULL;
    struct engine_principal principal;
    memset(&principal, 0, sizeof principal);
    enum ledger_err err = LEDGER_ERR_OK;

    if (size > limits->request_bytes_max) {
        snprintf(detail->reason, sizeof detail->reason,
                 "the request has %zu bytes; at most %zu are allowed", size,
                 limits->request_bytes_max);
        err = LEDGER_ERR_TOO_LARGE;
        goto cleanup;
    }
    ProtobufCMessage *message = NULL;
    err = codec_message_unpack(&ledger__v1__request__descriptor, bytes, size,
                               limits->request_bytes_max, LEDGER_ERR_BAD_REQUEST, &message);
    if (err != LEDGER_ERR_OK) {
        set_reason(detail, err == LEDGER_ERR_BAD_REQUEST ? "the bytes are not a ledger.v1.Request"
                                                         : "the request could not be decoded");
        goto cleanup;
    }
    request = (Ledger__V1__Request *)message;
    message = NULL;
    if (request->signed_.len == 0) {
        set_reason(detail, "Request.signed is empty");
        err = LEDGER_ERR_BAD_REQUEST;
        goto cleanup;
    }
    err = codec_message_unpack(&ledger__v1__signed_request__descriptor, request->signed_.data,
                               request->signed_.len, limits->request_bytes_max,
                               LEDGER_ERR_BAD_REQUEST, &message);
    if (err != LEDGER_ERR_OK) {
        set_reason(detail, err == LEDGER_ERR_BAD_REQUEST
                               ? "Request.signed is not a ledger.v1.SignedRequest"
                               : "the request could not be decoded");
        goto cleanup;
    }
    signed_request = (Ledger__V1__SignedRequest *)message;
    if (signed_request->nonce.len <= LEDGER_NONCE_BYTES) {
        if (signed_request->nonce.len > 0) {
            memcpy(detail->nonce, signed_request->nonce.data, signed_request->nonce.len);
        }
        detail->nonce_size = signed_request->nonce.len;
    }
    const char *principal_id = signed_request->principal_id ? signed_request->principal_id : "";
    snprintf(detail->principal_id, sizeof detail->principal_id, "%s", principal_id);
    detail->principal_id_secret_like = ledger_id_looks_like_secret(principal_id);

    if (!codec_id_valid(principal_id)) {
        set_reason(detail, "the principal id is not a valid id");
        err = LEDGER_ERR_UNKNOWN_PRINCIPAL;
        goto cleanup;
    }
    err = engine_principal_lookup(engine, principal_id, &principal);
    if (err != LEDGER_ERR_OK) {
        bool reserved = domain_principal_id_reserved(principal_id);
        set_reason(detail, err != LEDGER_ERR_UNKNOWN_PRINCIPAL ? "the principal lookup failed"
                           : reserved ? "the id is reserved for the ledger's own principals"
                                      : "no such principal");
        goto cleanup;
    }
    uint8_t mac[CRYPTO_MAC_BYTES];
    crypto_hmac_sha256(principal.secret, sizeof principal.secret, request->signed_.data,
                       request->signed_.len, mac);
    bool mac_ok = request->mac.len == CRYPTO_MAC_BYTES &&
                  crypto_equal(mac, request->mac.data, CRYPTO_MAC_BYTES);
    crypto_wipe(mac, sizeof mac);
    if (!mac_ok) {
        set_reason(detail, "the MAC does not verify");
        err = LEDGER_ERR_BAD_SIGNATURE;
        goto cleanup;
    }
    memcpy(detail->mac, request->mac.data, sizeof detail->mac);
    if (principal.revoked) {
        set_reason(detail, "the principal is revoked");
        err = LEDGER_ERR_PRINCIPAL_REVOKED;
        goto cleanup;
    }
    /* Written so that no operand can overflow: now_us and the window are the
     * daemon's own; timestamp_us, any int64 from the wire, is only compared. */
    int64_t timestamp_us = signed_request->timestamp_us;
    if (auth_timestamp_too_old(timestamp_us, now_us, limits) ||
        timestamp_us > now_us + limits->window_us) {
        set_reason(detail, timestamp_us < now_us ? "the timestamp is too old"
                                                 : "the timestamp is in the future");
        err = LEDGER_ERR_STALE_REQUEST;
        goto cleanup;
    }
    err = body_check(signed_request, limits, detail);
    if (err != LEDGER_ERR_OK) {
        goto cleanup;
    }
    *principal_out = principal;
    *signed_out = signed_request;
    signed_request = NULL;

cleanup:
    crypto_wipe(&principal, sizeof principal);
    auth_signed_free(signed_request);
    codec_message_free(request ? &request->base : NULL);
    return err;
}
