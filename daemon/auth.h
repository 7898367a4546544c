/*
 * auth.h: authentication of request bytes.
 *
 * Owns: turning one request message from the socket into an authenticated
 * principal and a decoded SignedRequest, or a refusal with the exact error
 * code of the wire protocol (docs/protocol.md, "Authentication"), checked in
 * this order:
 *
 *   size <= request_bytes_max                         TOO_LARGE
 *   Request and its non-empty `signed` SignedRequest decode   BAD_REQUEST
 *   the principal exists                              UNKNOWN_PRINCIPAL
 *   mac == HMAC-SHA256(principal secret, signed)      BAD_SIGNATURE
 *   the principal is not revoked                      PRINCIPAL_REVOKED
 *   |timestamp_us - now_us| <= window_us              STALE_REQUEST
 *   nonce is 16 bytes, body present                   BAD_REQUEST
 *   body or query kind known                          UNKNOWN_MESSAGE
 *   a batch has 1..batch_commands_max commands        BAD_REQUEST / BATCH_TOO_LARGE
 *
 * Does not own: what a principal may do (the engine authorizes), replay
 * protection beyond the window (command ids, in the engine), sockets.
 *
 * The MAC is compared in constant time; neither it nor the secret is ever put
 * into a message or a log line.
 */
#ifndef LEDGER_AUTH_H
#define LEDGER_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec.h"
#include "engine.h"
#include "error.h"
#include "ledger_limits.h"

#define AUTH_REASON_SIZE 128

struct auth_limits {
    size_t request_bytes_max;    /* TOO_LARGE past it */
    int64_t window_us;           /* STALE_REQUEST past it, either direction */
    uint32_t batch_commands_max; /* BATCH_TOO_LARGE past it */
};

/* What is known of a request, for the reply and the log line, whatever the
 * outcome. Filled as far as the request could be read. */
struct auth_detail {
    /* The principal id as sent (possibly invalid text, cut at
     * LEDGER_ID_LENGTH_MAX bytes): quote it before logging. "" if unknown. */
    char principal_id[LEDGER_ID_LENGTH_MAX + 1];
    /* Whether the whole id as sent holds a secret's hex digits
     * (ledger_id_looks_like_secret): the cut above may not show it. */
    bool principal_id_secret_like;
    /* SignedRequest.nonce when it decoded and was at most 16 bytes, to echo. */
    uint8_t nonce[LEDGER_NONCE_BYTES];
    size_t nonce_size;
    /* On OK: Request.mac, verified. It names the signed bytes exactly (a
     * different request of the principal has a different MAC); public, as it
     * travels in clear. */
    uint8_t mac[LEDGER_MAC_BYTES];
    /* Why a request was refused: a fixed sentence, safe to log and send. */
    char reason[AUTH_REASON_SIZE];
};

/* Authenticates one request message.
 *   engine     borrowed; only engine_principal_lookup is used (any thread).
 *   bytes      borrowed; the message as received.
 *   now_us     the daemon's clock, microseconds since the epoch.
 *   principal_out  on OK, the principal (holding its secret: wipe it with
 *              crypto_wipe when done).
 *   signed_out on OK, the decoded SignedRequest; the caller frees it with
 *              auth_signed_free.
 *   detail     always written (see struct auth_detail).
 * Returns OK or one of the codes listed at the top of this header, or
 * NO_MEMORY / STORAGE_ERROR from the lookup. */
__attribute__((warn_unused_result)) enum ledger_err
auth_check(struct engine *engine, const uint8_t *bytes, size_t size, int64_t now_us,
           const struct auth_limits *limits, struct engine_principal *principal_out,
           Ledger__V1__SignedRequest **signed_out, struct auth_detail *detail);

/* Whether a request signed at timestamp_us is older than the window at
 * now_us (auth_check's "too old" STALE_REQUEST): the one definition of the
 * window's old edge, which the server applies again to a request that waited
 * in its queue. No operand can overflow: timestamp_us is only compared. */
bool auth_timestamp_too_old(int64_t timestamp_us, int64_t now_us, const struct auth_limits *limits);

/* Frees a SignedRequest from auth_check; NULL is fine. */
void auth_signed_free(Ledger__V1__SignedRequest *signed_request);

#endif
