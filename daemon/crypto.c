/*
 * crypto.c: the ledger's hashes, MACs, signatures and random bytes, on libsodium
 * and, for SHA-256 and HMAC-SHA256, Nettle.
 *
 * Owns: the only includes of <sodium.h> and <nettle/...> in the daemon. Every
 * primitive here is a thin, fixed-size wrapper so that callers never see the
 * libraries' types or return conventions.
 *
 * Why two libraries: libsodium's SHA-256 is portable C, while Nettle's uses the
 * CPU's SHA extensions where it has them (x86 SHA-NI, ARMv8 SHA2), chosen at
 * run time: on the reference machine a leaf hash of a 185-byte record takes
 * 182 ns with Nettle and 779 ns with libsodium, and SHA-256 is most of what the
 * offline verifier does (docs/performance.md). libsodium keeps Ed25519,
 * BLAKE2b, constant-time comparison and random bytes.
 * Does not own: what is hashed or signed (merkle, codec, auth) or where keys are
 * kept (engine).
 *
 * Invariants: crypto_init() runs before any other call (libsodium picks its
 * fastest implementations and seeds its generator there); sizes are the fixed
 * ones of crypto.h, checked against libsodium's at compile time.
 */
#include "crypto.h"

#include <stdlib.h>
#include <string.h>

#include <nettle/hmac.h>
#include <nettle/sha2.h>
#include <sodium.h>

_Static_assert(CRYPTO_HASH_BYTES == SHA256_DIGEST_SIZE, "SHA-256 digest size");
_Static_assert(CRYPTO_MAC_BYTES == SHA256_DIGEST_SIZE, "HMAC-SHA256 size");
_Static_assert(CRYPTO_SIGN_PUBLIC_BYTES == crypto_sign_ed25519_PUBLICKEYBYTES,
               "Ed25519 public key size");
_Static_assert(CRYPTO_SIGN_SECRET_BYTES == crypto_sign_ed25519_SECRETKEYBYTES,
               "Ed25519 secret key size (seed followed by public key)");
_Static_assert(CRYPTO_SIGNATURE_BYTES == crypto_sign_ed25519_BYTES, "Ed25519 signature size");
_Static_assert(crypto_sign_ed25519_SEEDBYTES + CRYPTO_SIGN_PUBLIC_BYTES == CRYPTO_SIGN_SECRET_BYTES,
               "an Ed25519 secret key is its seed, then its public key");

enum ledger_err crypto_init(void)
{
    /* sodium_init returns 0 the first time, 1 when already done, -1 on failure. */
    if (sodium_init() < 0)
        return LEDGER_ERR_INTERNAL;
    return LEDGER_ERR_OK;
}

void crypto_sha256(const void *data, size_t size, uint8_t out[CRYPTO_HASH_BYTES])
{
    struct sha256_ctx state;
    sha256_init(&state);
    sha256_update(&state, size, data);
    sha256_digest(&state, CRYPTO_HASH_BYTES, out);
}

void crypto_sha256_prefixed(uint8_t prefix, const void *data, size_t size,
                            uint8_t out[CRYPTO_HASH_BYTES])
{
    struct sha256_ctx state;
    sha256_init(&state);
    sha256_update(&state, 1, &prefix);
    sha256_update(&state, size, data);
    sha256_digest(&state, CRYPTO_HASH_BYTES, out);
}

_Static_assert(sizeof(crypto_generichash_state) <= sizeof(struct crypto_stream),
               "crypto_stream holds libsodium's BLAKE2b state");
_Static_assert(_Alignof(crypto_generichash_state) <= 64, "crypto_stream alignment");

/* The libsodium state inside a crypto_stream: opaque is aligned to 64 (the
 * struct's _Alignas), which the assertions above check is enough. */
static crypto_generichash_state *stream_state(struct crypto_stream *stream)
{
    return (crypto_generichash_state *)(void *)stream->opaque;
}

void crypto_stream_init(struct crypto_stream *stream)
{
    crypto_generichash_init(stream_state(stream), NULL, 0, CRYPTO_HASH_BYTES);
}

void crypto_stream_update(struct crypto_stream *stream, const void *data, size_t size)
{
    crypto_generichash_update(stream_state(stream), data, size);
}

void crypto_stream_final(struct crypto_stream *stream, uint8_t out[CRYPTO_HASH_BYTES])
{
    crypto_generichash_final(stream_state(stream), out, CRYPTO_HASH_BYTES);
}

void crypto_node_hash(const uint8_t left[CRYPTO_HASH_BYTES], const uint8_t right[CRYPTO_HASH_BYTES],
                      uint8_t out[CRYPTO_HASH_BYTES])
{
    /* One contiguous buffer of 65 bytes hashes in fewer update calls than three,
     * which matters for the offline verifier's rate. */
    uint8_t buffer[1 + 2 * CRYPTO_HASH_BYTES];
    buffer[0] = 0x01;
    memcpy(buffer + 1, left, CRYPTO_HASH_BYTES);
    memcpy(buffer + 1 + CRYPTO_HASH_BYTES, right, CRYPTO_HASH_BYTES);
    crypto_sha256(buffer, sizeof buffer, out);
}

void crypto_hmac_sha256(const uint8_t *key, size_t key_size, const void *data, size_t size,
                        uint8_t out[CRYPTO_MAC_BYTES])
{
    /* Keys of any length: longer than the block are hashed first, as RFC 2104
     * says. The state holds key material: wiped after use. */
    struct hmac_sha256_ctx state;
    hmac_sha256_set_key(&state, key_size, key);
    hmac_sha256_update(&state, size, data);
    hmac_sha256_digest(&state, CRYPTO_MAC_BYTES, out);
    sodium_memzero(&state, sizeof state);
}

bool crypto_equal(const void *a, const void *b, size_t size)
{
    return sodium_memcmp(a, b, size) == 0;
}

void crypto_random(void *out, size_t size)
{
    randombytes_buf(out, size);
}

void crypto_ed25519_keypair(uint8_t public_key[CRYPTO_SIGN_PUBLIC_BYTES],
                            uint8_t secret_key[CRYPTO_SIGN_SECRET_BYTES])
{
    /* Fails only on a broken library: a programmer error, so it aborts (an
     * assert() would vanish under NDEBUG). */
    if (crypto_sign_ed25519_keypair(public_key, secret_key) != 0)
        abort();
}

void crypto_ed25519_public_key(const uint8_t secret_key[CRYPTO_SIGN_SECRET_BYTES],
                               uint8_t public_key[CRYPTO_SIGN_PUBLIC_BYTES])
{
    if (crypto_sign_ed25519_sk_to_pk(public_key, secret_key) != 0)
        abort();
}

bool crypto_ed25519_secret_key_valid(const uint8_t secret_key[CRYPTO_SIGN_SECRET_BYTES])
{
    uint8_t public_key[CRYPTO_SIGN_PUBLIC_BYTES], derived[CRYPTO_SIGN_SECRET_BYTES];
    if (crypto_sign_ed25519_seed_keypair(public_key, derived, secret_key) != 0)
        abort();
    sodium_memzero(derived, sizeof derived);
    return crypto_equal(public_key, secret_key + crypto_sign_ed25519_SEEDBYTES,
                        CRYPTO_SIGN_PUBLIC_BYTES);
}

void crypto_ed25519_sign(const uint8_t secret_key[CRYPTO_SIGN_SECRET_BYTES], const void *message,
                         size_t size, uint8_t signature[CRYPTO_SIGNATURE_BYTES])
{
    if (crypto_sign_ed25519_detached(signature, NULL, message, size, secret_key) != 0)
        abort();
}

bool crypto_ed25519_verify(const uint8_t public_key[CRYPTO_SIGN_PUBLIC_BYTES], const void *message,
                           size_t size, const uint8_t signature[CRYPTO_SIGNATURE_BYTES])
{
    return crypto_sign_ed25519_verify_detached(signature, message, size, public_key) == 0;
}

void crypto_wipe(void *data, size_t size)
{
    sodium_memzero(data, size);
}

void crypto_hex(const uint8_t *data, size_t size, char *out)
{
    sodium_bin2hex(out, 2 * size + 1, data, size);
}

static bool is_hex_digit(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

enum ledger_err crypto_unhex(const char *hex, uint8_t *out, size_t size)
{
    if (hex == NULL)
        return LEDGER_ERR_INVALID_ARGUMENT;
    /* Check every digit and the terminator first, so that `out` is written
     * only when the whole string is good. */
    for (size_t i = 0; i < 2 * size; i++) {
        if (!is_hex_digit(hex[i]))
            return LEDGER_ERR_INVALID_ARGUMENT;
    }
    if (hex[2 * size] != '\0')
        return LEDGER_ERR_INVALID_ARGUMENT;
    size_t decoded_size = 0;
    if (sodium_hex2bin(out, size, hex, 2 * size, NULL, &decoded_size, NULL) != 0 ||
        decoded_size != size)
        return LEDGER_ERR_INTERNAL;
    return LEDGER_ERR_OK;
}
