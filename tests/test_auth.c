/*
 * test_auth.c: request authentication (daemon/auth.c) refuses every bad
 * request with the exact code of the wire protocol, in the documented order,
 * and accepts good ones.
 *
 * Method: auth.c is compiled into this test and linked against a stand-in for
 * the one engine function it uses (engine_principal_lookup), backed by a small
 * table of principals, so that each check is reached without a data directory.
 * Requests are built with protobuf-c and HMAC'd with crypto.h exactly as a
 * client does; the bad ones are built by changing one thing at a time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth.h"
#include "codec.h"
#include "crypto.h"
#include "engine.h"

/* --- the stand-in engine ------------------------------------------------------------ */

struct engine {
    enum ledger_err fail_with; /* OK: answer from the table */
    unsigned lookups;
};

static const uint8_t alice_secret[LEDGER_SECRET_BYTES] = {
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10,
    0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20,
};
static const uint8_t bob_secret[LEDGER_SECRET_BYTES] = {0xbb};

enum ledger_err engine_principal_lookup(struct engine *engine, const char *principal_id,
                                        struct engine_principal *out)
{
    engine->lookups++;
    if (engine->fail_with != LEDGER_ERR_OK) {
        return engine->fail_with;
    }
    struct engine_principal principal;
    memset(&principal, 0, sizeof principal);
    if (strcmp(principal_id, "alice") == 0) {
        memcpy(principal.secret, alice_secret, sizeof principal.secret);
        principal.role = LEDGER__V1__ROLE__ROLE_ADMIN_AGENT;
    } else if (strcmp(principal_id, "bob-revoked") == 0) {
        memcpy(principal.secret, bob_secret, sizeof principal.secret);
        principal.role = LEDGER__V1__ROLE__ROLE_SALES_AGENT;
        principal.revoked = true;
    } else {
        return LEDGER_ERR_UNKNOWN_PRINCIPAL;
    }
    snprintf(principal.id, sizeof principal.id, "%s", principal_id);
    *out = principal;
    return LEDGER_ERR_OK;
}

/* --- building requests -------------------------------------------------------------- */

#define NOW_US  INT64_C(1795000000000000)
#define WINDOW  (INT64_C(300) * 1000000)
#define BUF_MAX 4096

static const struct auth_limits limits = {
    .request_bytes_max = 2048,
    .window_us = WINDOW,
    .batch_commands_max = 3,
};

/* Serialized RequestBody with a batch of `count` small commands. */
static size_t body_batch(size_t count, uint8_t *out)
{
    static uint8_t command_bytes[] = {0x0a, 0x02, 'c', '1'}; /* Command{command_id:"c1"} */
    ProtobufCBinaryData commands[8];
    assert_true(count <= 8);
    for (size_t i = 0; i < count; i++) {
        commands[i] = (ProtobufCBinaryData){.len = sizeof command_bytes, .data = command_bytes};
    }
    Ledger__V1__CommandBatch batch = LEDGER__V1__COMMAND_BATCH__INIT;
    batch.n_commands = count;
    batch.commands = commands;
    Ledger__V1__RequestBody body = LEDGER__V1__REQUEST_BODY__INIT;
    body.kind_case = LEDGER__V1__REQUEST_BODY__KIND_BATCH;
    body.batch = &batch;
    return ledger__v1__request_body__pack(&body, out);
}

static size_t body_head_query(uint8_t *out)
{
    Ledger__V1__HeadQuery head = LEDGER__V1__HEAD_QUERY__INIT;
    Ledger__V1__Query query = LEDGER__V1__QUERY__INIT;
    query.kind_case = LEDGER__V1__QUERY__KIND_HEAD;
    query.head = &head;
    Ledger__V1__RequestBody body = LEDGER__V1__REQUEST_BODY__INIT;
    body.kind_case = LEDGER__V1__REQUEST_BODY__KIND_QUERY;
    body.query = &query;
    return ledger__v1__request_body__pack(&body, out);
}

/* Serialized SignedRequest; `body` (serialized RequestBody, may be NULL for
 * none) is appended as field 4 by hand so that any bytes can be sent. */
static size_t make_signed(const char *principal_id, int64_t timestamp_us, size_t nonce_size,
                          const uint8_t *body, size_t body_size, uint8_t *out)
{
    uint8_t nonce[64];
    memset(nonce, 0x5a, sizeof nonce);
    Ledger__V1__SignedRequest signed_request = LEDGER__V1__SIGNED_REQUEST__INIT;
    signed_request.principal_id = (char *)principal_id;
    signed_request.timestamp_us = timestamp_us;
    signed_request.nonce.data = nonce;
    signed_request.nonce.len = nonce_size;
    size_t size = ledger__v1__signed_request__pack(&signed_request, out);
    if (body != NULL) {
        assert_true(body_size < 128);
        out[size++] = 0x22; /* field 4, length-delimited */
        out[size++] = (uint8_t)body_size;
        memcpy(out + size, body, body_size);
        size += body_size;
    }
    return size;
}

/* Serialized Request over `signed_bytes`, MAC'd with `secret` (NULL: a MAC
 * of `mac_size` zero bytes). */
static size_t make_request(const uint8_t *signed_bytes, size_t signed_size, const uint8_t *secret,
                           size_t mac_size, uint8_t *out)
{
    uint8_t mac[CRYPTO_MAC_BYTES] = {0};
    if (secret != NULL) {
        crypto_hmac_sha256(secret, LEDGER_SECRET_BYTES, signed_bytes, signed_size, mac);
    }
    Ledger__V1__Request request = LEDGER__V1__REQUEST__INIT;
    request.signed_.data = (uint8_t *)signed_bytes;
    request.signed_.len = signed_size;
    request.mac.data = mac;
    request.mac.len = mac_size;
    return ledger__v1__request__pack(&request, out);
}

struct outcome {
    enum ledger_err err;
    struct engine_principal principal;
    Ledger__V1__SignedRequest *signed_request;
    struct auth_detail detail;
};

static void check(struct engine *engine, const uint8_t *bytes, size_t size, struct outcome *out)
{
    memset(out, 0, sizeof *out);
    out->err = auth_check(engine, bytes, size, NOW_US, &limits, &out->principal,
                          &out->signed_request, &out->detail);
    if (out->err != LEDGER_ERR_OK) {
        assert_null(out->signed_request);
        assert_true(out->detail.reason[0] != '\0');
    }
}

/* A request by `principal_id` with `secret`, at `timestamp_us`, with a body. */
static enum ledger_err check_simple(const char *principal_id, const uint8_t *secret,
                                    int64_t timestamp_us, const uint8_t *body, size_t body_size,
                                    struct auth_detail *detail)
{
    struct engine engine = {0};
    uint8_t signed_bytes[BUF_MAX], request[BUF_MAX];
    size_t signed_size =
        make_signed(principal_id, timestamp_us, LEDGER_NONCE_BYTES, body, body_size, signed_bytes);
    size_t size = make_request(signed_bytes, signed_size, secret, CRYPTO_MAC_BYTES, request);
    struct outcome outcome;
    check(&engine, request, size, &outcome);
    auth_signed_free(outcome.signed_request);
    if (detail != NULL) {
        *detail = outcome.detail;
    }
    return outcome.err;
}

/* --- tests -------------------------------------------------------------------------- */

static void test_auth_good_batch(void **state)
{
    (void)state;
    assert_int_equal(crypto_init(), LEDGER_ERR_OK);
    struct engine engine = {0};
    uint8_t body[BUF_MAX], signed_bytes[BUF_MAX], request[BUF_MAX];
    size_t body_size = body_batch(2, body);
    size_t signed_size =
        make_signed("alice", NOW_US - 1000, LEDGER_NONCE_BYTES, body, body_size, signed_bytes);
    size_t size = make_request(signed_bytes, signed_size, alice_secret, CRYPTO_MAC_BYTES, request);
    struct outcome outcome;
    check(&engine, request, size, &outcome);
    assert_int_equal(outcome.err, LEDGER_ERR_OK);
    assert_string_equal(outcome.principal.id, "alice");
    assert_int_equal(outcome.principal.role, LEDGER__V1__ROLE__ROLE_ADMIN_AGENT);
    assert_non_null(outcome.signed_request);
    assert_int_equal(outcome.signed_request->body->kind_case, LEDGER__V1__REQUEST_BODY__KIND_BATCH);
    assert_int_equal(outcome.signed_request->body->batch->n_commands, 2);
    assert_int_equal(outcome.detail.nonce_size, LEDGER_NONCE_BYTES);
    assert_int_equal(outcome.detail.nonce[0], 0x5a);
    assert_string_equal(outcome.detail.principal_id, "alice");
    auth_signed_free(outcome.signed_request);
}

static void test_auth_good_query(void **state)
{
    (void)state;
    uint8_t body[BUF_MAX];
    size_t body_size = body_head_query(body);
    assert_int_equal(check_simple("alice", alice_secret, NOW_US, body, body_size, NULL),
                     LEDGER_ERR_OK);
}

static void test_auth_window_edges(void **state)
{
    (void)state;
    uint8_t body[BUF_MAX];
    size_t body_size = body_head_query(body);
    /* Exactly at the window's edges is inside; one microsecond past is not. */
    assert_int_equal(check_simple("alice", alice_secret, NOW_US - WINDOW, body, body_size, NULL),
                     LEDGER_ERR_OK);
    assert_int_equal(check_simple("alice", alice_secret, NOW_US + WINDOW, body, body_size, NULL),
                     LEDGER_ERR_OK);
    struct auth_detail detail;
    assert_int_equal(
        check_simple("alice", alice_secret, NOW_US - WINDOW - 1, body, body_size, &detail),
        LEDGER_ERR_STALE_REQUEST);
    assert_string_equal(detail.reason, "the timestamp is too old");
    assert_int_equal(
        check_simple("alice", alice_secret, NOW_US + WINDOW + 1, body, body_size, &detail),
        LEDGER_ERR_STALE_REQUEST);
    assert_string_equal(detail.reason, "the timestamp is in the future");
    /* Extreme values from the wire cannot overflow the comparison. */
    assert_int_equal(check_simple("alice", alice_secret, INT64_MIN, body, body_size, NULL),
                     LEDGER_ERR_STALE_REQUEST);
    assert_int_equal(check_simple("alice", alice_secret, INT64_MAX, body, body_size, NULL),
                     LEDGER_ERR_STALE_REQUEST);
    assert_int_equal(check_simple("alice", alice_secret, 0, body, body_size, NULL),
                     LEDGER_ERR_STALE_REQUEST);
}

static void test_auth_too_large(void **state)
{
    (void)state;
    struct engine engine = {0};
    static uint8_t bytes[4096];
    memset(bytes, 0, sizeof bytes);
    struct outcome outcome;
    check(&engine, bytes, limits.request_bytes_max + 1, &outcome);
    assert_int_equal(outcome.err, LEDGER_ERR_TOO_LARGE);
    assert_int_equal(engine.lookups, 0);
    /* At the limit it is not too large (these zero bytes then fail to decode). */
    check(&engine, bytes, limits.request_bytes_max, &outcome);
    assert_int_equal(outcome.err, LEDGER_ERR_BAD_REQUEST);
}

static void test_auth_bad_request_bytes(void **state)
{
    (void)state;
    struct engine engine = {0};
    struct outcome outcome;
    /* Garbage: a field with wire type 7, which does not exist. */
    static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x02};
    check(&engine, garbage, sizeof garbage, &outcome);
    assert_int_equal(outcome.err, LEDGER_ERR_BAD_REQUEST);
    assert_string_equal(outcome.detail.reason, "the bytes are not a ledger.v1.Request");

    /* A good request cut short at every length decodes to nothing usable. */
    uint8_t body[BUF_MAX], signed_bytes[BUF_MAX], request[BUF_MAX];
    size_t body_size = body_batch(1, body);
    size_t signed_size =
        make_signed("alice", NOW_US, LEDGER_NONCE_BYTES, body, body_size, signed_bytes);
    size_t size = make_request(signed_bytes, signed_size, alice_secret, CRYPTO_MAC_BYTES, request);
    for (size_t cut = 1; cut < size; cut++) {
        check(&engine, request, size - cut, &outcome);
        assert_int_not_equal(outcome.err, LEDGER_ERR_OK);
        assert_null(outcome.signed_request);
    }

    /* Empty message: a Request with nothing in it. */
    check(&engine, request, 0, &outcome);
    assert_int_equal(outcome.err, LEDGER_ERR_BAD_REQUEST);
    assert_string_equal(outcome.detail.reason, "Request.signed is empty");

    /* Request.signed that is not a SignedRequest: no lookup is made. */
    engine.lookups = 0;
    size = make_request(garbage, sizeof garbage, alice_secret, CRYPTO_MAC_BYTES, request);
    check(&engine, request, size, &outcome);
    assert_int_equal(outcome.err, LEDGER_ERR_BAD_REQUEST);
    assert_string_equal(outcome.detail.reason, "Request.signed is not a ledger.v1.SignedRequest");
    assert_int_equal(engine.lookups, 0);
}

static void test_auth_unknown_principal(void **state)
{
    (void)state;
    uint8_t body[BUF_MAX];
    size_t body_size = body_head_query(body);
    struct auth_detail detail;
    assert_int_equal(check_simple("mallory", alice_secret, NOW_US, body, body_size, &detail),
                     LEDGER_ERR_UNKNOWN_PRINCIPAL);
    assert_string_equal(detail.principal_id, "mallory");
    assert_string_equal(detail.reason, "no such principal");
    /* The ledger's own ids (the lookup refuses them whatever the store
     * holds): the log says why. */
    assert_int_equal(check_simple("ledger:expiry", alice_secret, NOW_US, body, body_size, &detail),
                     LEDGER_ERR_UNKNOWN_PRINCIPAL);
    assert_string_equal(detail.reason, "the id is reserved for the ledger's own principals");
    assert_int_equal(check_simple("ledgerd-init", alice_secret, NOW_US, body, body_size, &detail),
                     LEDGER_ERR_UNKNOWN_PRINCIPAL);
    assert_string_equal(detail.reason, "the id is reserved for the ledger's own principals");
    /* Not even a valid id: refused before any lookup, kept for the log. */
    assert_int_equal(check_simple("bad id\n", alice_secret, NOW_US, body, body_size, &detail),
                     LEDGER_ERR_UNKNOWN_PRINCIPAL);
    assert_string_equal(detail.principal_id, "bad id\n");
    assert_int_equal(check_simple("", alice_secret, NOW_US, body, body_size, NULL),
                     LEDGER_ERR_UNKNOWN_PRINCIPAL);
    char long_id[200];
    memset(long_id, 'a', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    assert_int_equal(check_simple(long_id, alice_secret, NOW_US, body, body_size, &detail),
                     LEDGER_ERR_UNKNOWN_PRINCIPAL);
    assert_int_equal(strlen(detail.principal_id), LEDGER_ID_LENGTH_MAX);
}

static void test_auth_wrong_key(void **state)
{
    (void)state;
    uint8_t body[BUF_MAX];
    size_t body_size = body_head_query(body);
    assert_int_equal(check_simple("alice", bob_secret, NOW_US, body, body_size, NULL),
                     LEDGER_ERR_BAD_SIGNATURE);
    assert_int_equal(check_simple("alice", NULL, NOW_US, body, body_size, NULL),
                     LEDGER_ERR_BAD_SIGNATURE);
}

static void test_auth_mac_length(void **state)
{
    (void)state;
    struct engine engine = {0};
    uint8_t body[BUF_MAX], signed_bytes[BUF_MAX], request[BUF_MAX];
    size_t body_size = body_head_query(body);
    size_t signed_size =
        make_signed("alice", NOW_US, LEDGER_NONCE_BYTES, body, body_size, signed_bytes);
    struct outcome outcome;
    /* A MAC cut to 16 bytes (right prefix, wrong length) or absent. */
    size_t size = make_request(signed_bytes, signed_size, alice_secret, 16, request);
    check(&engine, request, size, &outcome);
    assert_int_equal(outcome.err, LEDGER_ERR_BAD_SIGNATURE);
    size = make_request(signed_bytes, signed_size, alice_secret, 0, request);
    check(&engine, request, size, &outcome);
    assert_int_equal(outcome.err, LEDGER_ERR_BAD_SIGNATURE);
}

static void test_auth_tampered_body(void **state)
{
    (void)state;
    struct engine engine = {0};
    uint8_t body[BUF_MAX], signed_bytes[BUF_MAX], request[BUF_MAX];
    size_t body_size = body_batch(1, body);
    size_t signed_size =
        make_signed("alice", NOW_US, LEDGER_NONCE_BYTES, body, body_size, signed_bytes);
    uint8_t mac[CRYPTO_MAC_BYTES];
    crypto_hmac_sha256(alice_secret, sizeof alice_secret, signed_bytes, signed_size, mac);
    /* Change the command id's last byte ("c1" -> "c2") after signing. */
    assert_int_equal(signed_bytes[signed_size - 1], '1');
    signed_bytes[signed_size - 1] = '2';
    Ledger__V1__Request message = LEDGER__V1__REQUEST__INIT;
    message.signed_.data = signed_bytes;
    message.signed_.len = signed_size;
    message.mac.data = mac;
    message.mac.len = sizeof mac;
    size_t size = ledger__v1__request__pack(&message, request);
    struct outcome outcome;
    check(&engine, request, size, &outcome);
    assert_int_equal(outcome.err, LEDGER_ERR_BAD_SIGNATURE);
    /* The untouched bytes verify. */
    signed_bytes[signed_size - 1] = '1';
    size = ledger__v1__request__pack(&message, request);
    check(&engine, request, size, &outcome);
    assert_int_equal(outcome.err, LEDGER_ERR_OK);
    auth_signed_free(outcome.signed_request);
    /* A tampered MAC. */
    mac[5] ^= 0x01;
    size = ledger__v1__request__pack(&message, request);
    check(&engine, request, size, &outcome);
    assert_int_equal(outcome.err, LEDGER_ERR_BAD_SIGNATURE);
}

static void test_auth_revoked(void **state)
{
    (void)state;
    uint8_t body[BUF_MAX];
    size_t body_size = body_head_query(body);
    assert_int_equal(check_simple("bob-revoked", bob_secret, NOW_US, body, body_size, NULL),
                     LEDGER_ERR_PRINCIPAL_REVOKED);
    /* The MAC is checked first: without the key nobody learns of the revocation. */
    assert_int_equal(check_simple("bob-revoked", alice_secret, NOW_US, body, body_size, NULL),
                     LEDGER_ERR_BAD_SIGNATURE);
    /* Revocation is checked before the clock. */
    assert_int_equal(check_simple("bob-revoked", bob_secret, 0, body, body_size, NULL),
                     LEDGER_ERR_PRINCIPAL_REVOKED);
}

static void test_auth_lookup_failure(void **state)
{
    (void)state;
    struct engine engine = {.fail_with = LEDGER_ERR_STORAGE_ERROR};
    uint8_t body[BUF_MAX], signed_bytes[BUF_MAX], request[BUF_MAX];
    size_t body_size = body_head_query(body);
    size_t signed_size =
        make_signed("alice", NOW_US, LEDGER_NONCE_BYTES, body, body_size, signed_bytes);
    size_t size = make_request(signed_bytes, signed_size, alice_secret, CRYPTO_MAC_BYTES, request);
    struct outcome outcome;
    check(&engine, request, size, &outcome);
    assert_int_equal(outcome.err, LEDGER_ERR_STORAGE_ERROR);
}

static void test_auth_nonce(void **state)
{
    (void)state;
    struct engine engine = {0};
    uint8_t body[BUF_MAX], signed_bytes[BUF_MAX], request[BUF_MAX];
    size_t body_size = body_head_query(body);
    size_t sizes[] = {0, 8, 15, 17, 32};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t signed_size = make_signed("alice", NOW_US, sizes[i], body, body_size, signed_bytes);
        size_t size =
            make_request(signed_bytes, signed_size, alice_secret, CRYPTO_MAC_BYTES, request);
        struct outcome outcome;
        check(&engine, request, size, &outcome);
        assert_int_equal(outcome.err, LEDGER_ERR_BAD_REQUEST);
        assert_string_equal(outcome.detail.reason, "the nonce must be 16 bytes");
        /* Short nonces are still echoed; longer ones are not. */
        assert_int_equal(outcome.detail.nonce_size, sizes[i] <= 16 ? sizes[i] : 0);
    }
}

/* Each malformed body is refused with the words that say what is wrong with
 * it, which the reply carries to the client: a body missing or empty, a
 * body or query kind this build does not know, a query without a kind, a
 * batch without commands. */
static void test_auth_body_reasons(void **state)
{
    (void)state;
    static const uint8_t empty_body[] = {0};
    static const uint8_t unknown_body[] = {0x48, 0x01};
    static const uint8_t unknown_query[] = {0x12, 0x03, 0x98, 0x06, 0x01};
    static const uint8_t empty_query[] = {0x12, 0x00};
    static const uint8_t empty_batch[] = {0x0a, 0x00};
    const struct {
        const uint8_t *body;
        size_t size;
        enum ledger_err err;
        const char *reason;
    } cases[] = {
        {NULL, 0, LEDGER_ERR_BAD_REQUEST, "the request has no body"},
        {empty_body, 0, LEDGER_ERR_BAD_REQUEST, "the request body is empty"},
        {unknown_body, sizeof unknown_body, LEDGER_ERR_UNKNOWN_MESSAGE, "unknown request body"},
        {unknown_query, sizeof unknown_query, LEDGER_ERR_UNKNOWN_MESSAGE, "unknown query kind"},
        {empty_query, sizeof empty_query, LEDGER_ERR_BAD_REQUEST, "the query has no kind"},
        {empty_batch, sizeof empty_batch, LEDGER_ERR_BAD_REQUEST, "the batch has no commands"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct auth_detail detail;
        assert_int_equal(
            check_simple("alice", alice_secret, NOW_US, cases[i].body, cases[i].size, &detail),
            cases[i].err);
        assert_string_equal(detail.reason, cases[i].reason);
        /* Refused after the MAC: the nonce is known and echoed. */
        assert_int_equal(detail.nonce_size, LEDGER_NONCE_BYTES);
        assert_string_equal(detail.principal_id, "alice");
    }
}

/* Whether the id as sent holds a secret's 64 hex digits is judged on the
 * whole id, before it is cut to LEDGER_ID_LENGTH_MAX bytes for the log: a
 * space before the secret would leave all but its last digit in the cut. */
static void test_auth_secret_like_principal_id(void **state)
{
    (void)state;
    char hex[2 * LEDGER_SECRET_BYTES + 1];
    crypto_hex(alice_secret, LEDGER_SECRET_BYTES, hex);
    char id[2 * LEDGER_SECRET_BYTES + 8];
    static const char *const before[] = {"", " ", "key="};
    static const char *const after[] = {"", "\n", ""};
    for (size_t i = 0; i < sizeof before / sizeof before[0]; i++) {
        snprintf(id, sizeof id, "%s%s%s", before[i], hex, after[i]);
        struct auth_detail detail;
        assert_int_equal(check_simple(id, alice_secret, NOW_US, NULL, 0, &detail),
                         LEDGER_ERR_UNKNOWN_PRINCIPAL);
        assert_true(detail.principal_id_secret_like);
    }
    /* 63 digits are no secret; nor is an ordinary id. */
    snprintf(id, sizeof id, " %.63s", hex);
    struct auth_detail detail;
    assert_int_equal(check_simple(id, alice_secret, NOW_US, NULL, 0, &detail),
                     LEDGER_ERR_UNKNOWN_PRINCIPAL);
    assert_false(detail.principal_id_secret_like);
    assert_int_equal(check_simple("nobody", alice_secret, NOW_US, NULL, 0, &detail),
                     LEDGER_ERR_UNKNOWN_PRINCIPAL);
    assert_false(detail.principal_id_secret_like);
}

static void test_auth_bodies(void **state)
{
    (void)state;
    uint8_t body[BUF_MAX];
    /* No body at all. */
    assert_int_equal(check_simple("alice", alice_secret, NOW_US, NULL, 0, NULL),
                     LEDGER_ERR_BAD_REQUEST);
    /* An empty RequestBody. */
    assert_int_equal(check_simple("alice", alice_secret, NOW_US, body, 0, NULL),
                     LEDGER_ERR_BAD_REQUEST);
    /* A body kind this build does not know: field 9 (varint 1). */
    static const uint8_t unknown_body[] = {0x48, 0x01};
    assert_int_equal(
        check_simple("alice", alice_secret, NOW_US, unknown_body, sizeof unknown_body, NULL),
        LEDGER_ERR_UNKNOWN_MESSAGE);
    /* A query kind this build does not know: Query field 99 (varint 1). */
    static const uint8_t unknown_query[] = {0x12, 0x03, 0x98, 0x06, 0x01};
    assert_int_equal(
        check_simple("alice", alice_secret, NOW_US, unknown_query, sizeof unknown_query, NULL),
        LEDGER_ERR_UNKNOWN_MESSAGE);
    /* A query without a kind. */
    static const uint8_t empty_query[] = {0x12, 0x00};
    assert_int_equal(
        check_simple("alice", alice_secret, NOW_US, empty_query, sizeof empty_query, NULL),
        LEDGER_ERR_BAD_REQUEST);
    /* An empty batch. */
    static const uint8_t empty_batch[] = {0x0a, 0x00};
    assert_int_equal(
        check_simple("alice", alice_secret, NOW_US, empty_batch, sizeof empty_batch, NULL),
        LEDGER_ERR_BAD_REQUEST);
    /* The batch limit: 3 commands pass, 4 do not. */
    size_t size = body_batch(3, body);
    assert_int_equal(check_simple("alice", alice_secret, NOW_US, body, size, NULL), LEDGER_ERR_OK);
    size = body_batch(4, body);
    struct auth_detail detail;
    assert_int_equal(check_simple("alice", alice_secret, NOW_US, body, size, &detail),
                     LEDGER_ERR_BATCH_TOO_LARGE);
    assert_string_equal(detail.reason, "the batch has 4 commands; at most 3 are allowed");
    /* The clock is checked before the body. */
    assert_int_equal(check_simple("alice", alice_secret, 0, body, size, NULL),
                     LEDGER_ERR_STALE_REQUEST);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auth_good_batch),
        cmocka_unit_test(test_auth_good_query),
        cmocka_unit_test(test_auth_window_edges),
        cmocka_unit_test(test_auth_too_large),
        cmocka_unit_test(test_auth_bad_request_bytes),
        cmocka_unit_test(test_auth_unknown_principal),
        cmocka_unit_test(test_auth_wrong_key),
        cmocka_unit_test(test_auth_mac_length),
        cmocka_unit_test(test_auth_tampered_body),
        cmocka_unit_test(test_auth_revoked),
        cmocka_unit_test(test_auth_lookup_failure),
        cmocka_unit_test(test_auth_nonce),
        cmocka_unit_test(test_auth_bodies),
        cmocka_unit_test(test_auth_secret_like_principal_id),
        cmocka_unit_test(test_auth_body_reasons),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
