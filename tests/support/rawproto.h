/*
 * rawproto.h: the ledger's wire protocol by hand, for tests that must send
 * what no client library would (stale, unsigned, truncated or padded
 * requests) and for tests of the daemon process itself.
 *
 * Owns: building signed requests as docs/protocol.md describes them (with
 * knobs to break every part), a raw REQ socket, one call and its decoded
 * reply, reading an operator key file, waiting for a child process.
 * Does not own: what a test expects of the replies.
 *
 * Failures of the test's own machinery (packing, sockets) fail the running
 * cmocka test.
 */
#ifndef LEDGER_RAWPROTO_H
#define LEDGER_RAWPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "codec.h"
#include "ledger_limits.h"

/* How to build one request. Zero-initialized it is a request of principal
 * `principal_id` signed with `secret`, stamped now. */
struct request_spec {
    const char *principal_id;
    const uint8_t *secret;       /* NULL: a MAC of zeros */
    int64_t timestamp_us;        /* 0: now (unless timestamp_set) */
    bool timestamp_set;          /* timestamp_us is used even when 0 */
    int mac_size;                /* 0: 32; -1: no MAC field at all */
    const uint8_t *signed_extra; /* appended to the signed bytes (signed) */
    size_t signed_extra_size;
    const uint8_t *outer_extra; /* appended to the Request (outside the MAC) */
    size_t outer_extra_size;
    bool nonce_set;                    /* nonce is used as given (a client reusing one) */
    uint8_t nonce[LEDGER_NONCE_BYTES]; /* else written by request_pack */
};

/* The wall clock in microseconds since the epoch. */
int64_t now_us(void);
void sleep_ms(long ms);

/* Appends extra_size bytes to the malloc'd *bytes of *size bytes. */
void bytes_append(uint8_t **bytes, size_t *size, const uint8_t *extra, size_t extra_size);

/* A serialized Request (malloc'd) for `body` as `spec` says; a fresh random
 * nonce is kept in spec->nonce. */
uint8_t *request_pack(struct request_spec *spec, const Ledger__V1__RequestBody *body,
                      size_t *size_out);
uint8_t *request_query(struct request_spec *spec, Ledger__V1__Query *query, size_t *size_out);
/* A HeadQuery: the cheapest request that needs authentication. */
uint8_t *request_head(struct request_spec *spec, size_t *size_out);
/* A batch of already serialized commands. */
uint8_t *request_batch(struct request_spec *spec, ProtobufCBinaryData *commands, size_t count,
                       size_t *size_out);

/* A REQ socket connected to url, with send and receive timeouts and no limit
 * on reply sizes. */
int client_open(const char *url, int timeout_ms);
/* Sends bytes and waits for the reply: NULL on a timeout or a reply that does
 * not decode. Free with reply_free. */
Ledger__V1__Reply *call_bytes(int sock, const void *bytes, size_t size);
void reply_free(Ledger__V1__Reply *reply);
/* One head query as `spec` says on a REQ socket of its own, waiting up to
 * timeout_ms for the reply: whether the daemon at url answered OK. For
 * waiting until a daemon serves. A socket of its own, because a REQ socket
 * that gave up on a request keeps its late reply, and the reply to the
 * next request overwrites that one without freeing it (nanomsg 1.1.5,
 * req.c): a leak that LeakSanitizer reports when the daemon is slow. */
bool head_probe(const char *url, struct request_spec *spec, int timeout_ms);

/* The operator's secret from dir/operator.key (hex, as `ledgerd init` writes
 * it); false when missing or malformed. */
bool key_read(const char *dir, uint8_t secret[LEDGER_SECRET_BYTES]);
/* The exit status of `pid` within timeout_ms, -1 on a death by signal, -2 on
 * timeout (then it is killed). */
int wait_exit(pid_t pid, long timeout_ms);
/* The daemon under test: $LEDGERD, else ledgerd on the PATH. */
const char *ledgerd_path(void);

#endif
