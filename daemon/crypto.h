/*
 * crypto.h: the hashes, MACs, signatures and random bytes the ledger uses.
 *
 * Owns: the only includes of <sodium.h> and Nettle's headers. SHA-256 (leaf
 * and node hashes, command content hashes), HMAC-SHA256 (request
 * authentication), Ed25519 (signed tree heads), BLAKE2b digests, constant-time
 * comparison and secure random bytes.
 * Does not own: what is hashed (merkle, codec) or where keys live (engine).
 */
#ifndef LEDGER_CRYPTO_H
#define LEDGER_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define CRYPTO_HASH_BYTES        32
#define CRYPTO_MAC_BYTES         32
#define CRYPTO_SIGN_PUBLIC_BYTES 32
#define CRYPTO_SIGN_SECRET_BYTES 64
#define CRYPTO_SIGNATURE_BYTES   64

/* Initializes the library once; safe to call many times, from any thread after
 * the first call returned. Call before any other function here. INTERNAL on
 * failure. */
__attribute__((warn_unused_result)) enum ledger_err crypto_init(void);

/* SHA-256 of `size` bytes at `data` (borrowed) into `out`. */
void crypto_sha256(const void *data, size_t size, uint8_t out[CRYPTO_HASH_BYTES]);
/* SHA-256(prefix || data): RFC 6962 leaf (prefix 0x00) hashing. */
void crypto_sha256_prefixed(uint8_t prefix, const void *data, size_t size,
                            uint8_t out[CRYPTO_HASH_BYTES]);
/* SHA-256(0x01 || left || right): RFC 6962 interior node. `out` may be the
 * same memory as `left` or `right`. */
void crypto_node_hash(const uint8_t left[CRYPTO_HASH_BYTES], const uint8_t right[CRYPTO_HASH_BYTES],
                      uint8_t out[CRYPTO_HASH_BYTES]);

/* A running BLAKE2b-256 hash of a stream of bytes, for digests that only this
 * build compares with itself (views_digest): one compression per 128 bytes and
 * no finalization per piece, so hashing a whole database costs about a read of
 * it. Not for anything an outside verifier recomputes (that is SHA-256). */
struct crypto_stream {
    _Alignas(64) unsigned char opaque[512];
};
void crypto_stream_init(struct crypto_stream *stream);
void crypto_stream_update(struct crypto_stream *stream, const void *data, size_t size);
void crypto_stream_final(struct crypto_stream *stream, uint8_t out[CRYPTO_HASH_BYTES]);

/* HMAC-SHA256 (RFC 2104) with a key of any length (a principal's is 32 bytes).
 * All inputs are borrowed. */
void crypto_hmac_sha256(const uint8_t *key, size_t key_size, const void *data, size_t size,
                        uint8_t out[CRYPTO_MAC_BYTES]);
/* Constant-time equality of two byte strings of the same size: use it for
 * MACs and anything secret. */
bool crypto_equal(const void *a, const void *b, size_t size);

/* `size` bytes from the operating system's secure generator (nonces, keys). */
void crypto_random(void *out, size_t size);

/* Ed25519 (RFC 8032). The names are not libsodium's crypto_sign*, which they
 * would otherwise collide with at compile and link time.
 * A new random key pair; the secret key is libsodium's 64-byte form (32-byte
 * seed followed by the public key). */
void crypto_ed25519_keypair(uint8_t public_key[CRYPTO_SIGN_PUBLIC_BYTES],
                            uint8_t secret_key[CRYPTO_SIGN_SECRET_BYTES]);
/* The public key held in a 64-byte secret key. */
void crypto_ed25519_public_key(const uint8_t secret_key[CRYPTO_SIGN_SECRET_BYTES],
                               uint8_t public_key[CRYPTO_SIGN_PUBLIC_BYTES]);
/* Whether a 64-byte secret key is one: its second half is the public key
 * of its first (the seed). Other bytes of the same length (a mistaken file)
 * would sign heads that no one can verify. */
bool crypto_ed25519_secret_key_valid(const uint8_t secret_key[CRYPTO_SIGN_SECRET_BYTES]);
/* A detached signature of `size` bytes at `message` (borrowed). */
void crypto_ed25519_sign(const uint8_t secret_key[CRYPTO_SIGN_SECRET_BYTES], const void *message,
                         size_t size, uint8_t signature[CRYPTO_SIGNATURE_BYTES]);
/* Whether `signature` is a valid signature of the message under `public_key`. */
bool crypto_ed25519_verify(const uint8_t public_key[CRYPTO_SIGN_PUBLIC_BYTES], const void *message,
                           size_t size, const uint8_t signature[CRYPTO_SIGNATURE_BYTES]);

/* Wipes memory that held a secret (not optimized away). */
void crypto_wipe(void *data, size_t size);

/* Lower-case hex of `size` bytes into out (2*size+1 bytes, NUL-terminated). */
void crypto_hex(const uint8_t *data, size_t size, char *out);
/* Parses exactly 2*size hex digits (either case) followed by the string's
 * end into `out` (written only on success). INVALID_ARGUMENT otherwise. */
__attribute__((warn_unused_result)) enum ledger_err crypto_unhex(const char *hex, uint8_t *out,
                                                                 size_t size);

#endif
