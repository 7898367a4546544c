/*
 * test_crypto.c: the libsodium wrapper of daemon/crypto.h gives the published
 * answers and refuses what it must. Method: known-answer vectors from the
 * standards (FIPS 180-2 SHA-256 "abc", RFC 6962 leaf and node hashes via the
 * Certificate Transparency reference vectors, RFC 4231 HMAC-SHA256 test cases
 * 1, 2 and 6, RFC 8032 Ed25519 test 1), then round trips with random keys, a
 * flipped bit in every input of a signature, keys of small order and
 * signatures written non-canonically, and malformed hex of each kind.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "crypto.h"

/* Decodes a hex literal of the test into bytes, failing the test if malformed. */
static void from_hex(const char *hex, uint8_t *out, size_t size)
{
    assert_int_equal(strlen(hex), 2 * size);
    assert_int_equal(crypto_unhex(hex, out, size), LEDGER_ERR_OK);
}

static void assert_hex_equal(const uint8_t *bytes, size_t size, const char *expected)
{
    char hex[2 * 64 + 1];
    assert_true(size <= 64);
    crypto_hex(bytes, size, hex);
    assert_string_equal(hex, expected);
}

static int setup(void **state)
{
    (void)state;
    return crypto_init() == LEDGER_ERR_OK ? 0 : -1;
}

static void test_crypto_init_twice(void **state)
{
    (void)state;
    assert_int_equal(crypto_init(), LEDGER_ERR_OK);
    assert_int_equal(crypto_init(), LEDGER_ERR_OK);
}

static void test_crypto_sha256_vectors(void **state)
{
    (void)state;
    uint8_t hash[CRYPTO_HASH_BYTES];
    crypto_sha256("abc", 3, hash);
    assert_hex_equal(hash, sizeof hash,
                     "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    crypto_sha256("", 0, hash);
    assert_hex_equal(hash, sizeof hash,
                     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    crypto_sha256(two_blocks, strlen(two_blocks), hash);
    assert_hex_equal(hash, sizeof hash,
                     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_crypto_stream_blake2b_vectors(void **state)
{
    (void)state;
    uint8_t hash[CRYPTO_HASH_BYTES];
    struct crypto_stream stream;
    crypto_stream_init(&stream);
    crypto_stream_final(&stream, hash);
    assert_hex_equal(hash, sizeof hash,
                     "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8");
    /* Pieces hash as their concatenation. */
    crypto_stream_init(&stream);
    crypto_stream_update(&stream, "a", 1);
    crypto_stream_update(&stream, "", 0);
    crypto_stream_update(&stream, "bc", 2);
    crypto_stream_final(&stream, hash);
    assert_hex_equal(hash, sizeof hash,
                     "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319");
}

static void test_crypto_leaf_and_node_hashes(void **state)
{
    (void)state;
    /* RFC 6962 leaf hashes of the reference inputs "" and 0x00, and the node
     * over them (the root of the two-leaf tree). */
    uint8_t empty_leaf[CRYPTO_HASH_BYTES];
    uint8_t zero_leaf[CRYPTO_HASH_BYTES];
    uint8_t node[CRYPTO_HASH_BYTES];
    crypto_sha256_prefixed(0x00, "", 0, empty_leaf);
    assert_hex_equal(empty_leaf, sizeof empty_leaf,
                     "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
    const uint8_t zero = 0x00;
    crypto_sha256_prefixed(0x00, &zero, 1, zero_leaf);
    assert_hex_equal(zero_leaf, sizeof zero_leaf,
                     "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7");
    crypto_node_hash(empty_leaf, zero_leaf, node);
    assert_hex_equal(node, sizeof node,
                     "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125");
    /* The prefix matters, and so does the order of the children. */
    uint8_t other[CRYPTO_HASH_BYTES];
    crypto_sha256_prefixed(0x01, "", 0, other);
    assert_false(crypto_equal(other, empty_leaf, sizeof other));
    crypto_node_hash(zero_leaf, empty_leaf, other);
    assert_false(crypto_equal(other, node, sizeof other));
    /* The output may alias an input. */
    uint8_t left[CRYPTO_HASH_BYTES];
    memcpy(left, empty_leaf, sizeof left);
    crypto_node_hash(left, zero_leaf, left);
    assert_memory_equal(left, node, sizeof node);
    uint8_t right[CRYPTO_HASH_BYTES];
    memcpy(right, zero_leaf, sizeof right);
    crypto_node_hash(empty_leaf, right, right);
    assert_memory_equal(right, node, sizeof node);
}

static void test_crypto_hmac_rfc4231(void **state)
{
    (void)state;
    uint8_t mac[CRYPTO_MAC_BYTES];
    /* Test case 1: a 20-byte key of 0x0b. */
    uint8_t key1[20];
    memset(key1, 0x0b, sizeof key1);
    crypto_hmac_sha256(key1, sizeof key1, "Hi There", 8, mac);
    assert_hex_equal(mac, sizeof mac,
                     "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    /* Test case 2: a key shorter than the hash. */
    const char *data2 = "what do ya want for nothing?";
    crypto_hmac_sha256((const uint8_t *)"Jefe", 4, data2, strlen(data2), mac);
    assert_hex_equal(mac, sizeof mac,
                     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    /* Test case 6: a 131-byte key, longer than the block, hashed first. */
    uint8_t key6[131];
    memset(key6, 0xaa, sizeof key6);
    const char *data6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    crypto_hmac_sha256(key6, sizeof key6, data6, strlen(data6), mac);
    assert_hex_equal(mac, sizeof mac,
                     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

static void test_crypto_hmac_depends_on_key_and_data(void **state)
{
    (void)state;
    uint8_t key[32];
    uint8_t mac_a[CRYPTO_MAC_BYTES];
    uint8_t mac_b[CRYPTO_MAC_BYTES];
    crypto_random(key, sizeof key);
    crypto_hmac_sha256(key, sizeof key, "signed bytes", 12, mac_a);
    crypto_hmac_sha256(key, sizeof key, "signed bytes", 12, mac_b);
    assert_true(crypto_equal(mac_a, mac_b, sizeof mac_a));
    crypto_hmac_sha256(key, sizeof key, "signed byteS", 12, mac_b);
    assert_false(crypto_equal(mac_a, mac_b, sizeof mac_a));
    key[31] ^= 0x01;
    crypto_hmac_sha256(key, sizeof key, "signed bytes", 12, mac_b);
    assert_false(crypto_equal(mac_a, mac_b, sizeof mac_a));
}

static void test_crypto_equal(void **state)
{
    (void)state;
    uint8_t a[32];
    uint8_t b[32];
    memset(a, 0x5a, sizeof a);
    memcpy(b, a, sizeof b);
    assert_true(crypto_equal(a, b, sizeof a));
    for (size_t i = 0; i < sizeof a; i++) {
        b[i] ^= 0x80;
        assert_false(crypto_equal(a, b, sizeof a));
        b[i] ^= 0x80;
    }
    assert_true(crypto_equal(a, b, 0));
}

static void test_crypto_random_differs(void **state)
{
    (void)state;
    uint8_t a[32];
    uint8_t b[32];
    uint8_t zero[32] = {0};
    crypto_random(a, sizeof a);
    crypto_random(b, sizeof b);
    /* A 2^-256 chance of a false failure. */
    assert_memory_not_equal(a, b, sizeof a);
    assert_memory_not_equal(a, zero, sizeof a);
    crypto_random(a, 0);
}

static void test_crypto_ed25519_rfc8032_test1(void **state)
{
    (void)state;
    /* RFC 8032 section 7.1, TEST 1: the empty message. libsodium's secret key
     * is the seed followed by the public key. */
    uint8_t secret_key[CRYPTO_SIGN_SECRET_BYTES];
    uint8_t public_key[CRYPTO_SIGN_PUBLIC_BYTES];
    uint8_t signature[CRYPTO_SIGNATURE_BYTES];
    from_hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", secret_key, 32);
    from_hex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", secret_key + 32,
             32);
    crypto_ed25519_public_key(secret_key, public_key);
    assert_memory_equal(public_key, secret_key + 32, sizeof public_key);
    crypto_ed25519_sign(secret_key, "", 0, signature);
    assert_hex_equal(signature, sizeof signature,
                     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
                     "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b");
    assert_true(crypto_ed25519_verify(public_key, "", 0, signature));
    assert_false(crypto_ed25519_verify(public_key, "x", 1, signature));
}

static void test_crypto_ed25519_flipped_bits_refused(void **state)
{
    (void)state;
    uint8_t public_key[CRYPTO_SIGN_PUBLIC_BYTES];
    uint8_t secret_key[CRYPTO_SIGN_SECRET_BYTES];
    uint8_t signature[CRYPTO_SIGNATURE_BYTES];
    uint8_t message[64];
    crypto_ed25519_keypair(public_key, secret_key);
    crypto_random(message, sizeof message);
    crypto_ed25519_sign(secret_key, message, sizeof message, signature);
    assert_true(crypto_ed25519_verify(public_key, message, sizeof message, signature));

    /* Every bit of the message, the signature and the public key counts. */
    for (size_t bit = 0; bit < 8 * sizeof message; bit++) {
        message[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_false(crypto_ed25519_verify(public_key, message, sizeof message, signature));
        message[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    for (size_t bit = 0; bit < 8 * sizeof signature; bit++) {
        signature[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_false(crypto_ed25519_verify(public_key, message, sizeof message, signature));
        signature[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    for (size_t bit = 0; bit < 8 * sizeof public_key; bit++) {
        public_key[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_false(crypto_ed25519_verify(public_key, message, sizeof message, signature));
        public_key[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    /* A truncated message, and another key pair's key. */
    assert_false(crypto_ed25519_verify(public_key, message, sizeof message - 1, signature));
    uint8_t other_public[CRYPTO_SIGN_PUBLIC_BYTES];
    uint8_t other_secret[CRYPTO_SIGN_SECRET_BYTES];
    crypto_ed25519_keypair(other_public, other_secret);
    assert_false(crypto_ed25519_verify(other_public, message, sizeof message, signature));
    assert_true(crypto_ed25519_verify(public_key, message, sizeof message, signature));
    crypto_wipe(secret_key, sizeof secret_key);
    crypto_wipe(other_secret, sizeof other_secret);
}

/* The refusals docs/verification.md (6.3) promises beyond RFC 8032's
 * equation, which a verifier that checks the equation alone accepts: a
 * public key of small order (the identity with the signature R = identity,
 * S = 0 satisfies [S]B = R + [k]A for every message), a key that is no
 * canonical encoding (y = p, the identity with the sign bit set), and a
 * valid signature with the group order L added to its S (the same
 * signature, written otherwise). */
static void test_crypto_ed25519_small_order_and_non_canonical_refused(void **state)
{
    (void)state;
    static const char *const keys[] = {
        /* The eight points of small order: the identity, the point of
         * order 2, those of order 4 and 8. */
        "0100000000000000000000000000000000000000000000000000000000000000",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0000000000000000000000000000000000000000000000000000000000000080",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
        /* Not canonical: y = p (which reduces to 0), the identity with the
         * sign bit set. */
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "0100000000000000000000000000000000000000000000000000000000000080",
    };
    uint8_t trivial[CRYPTO_SIGNATURE_BYTES] = {0x01}; /* R = identity, S = 0 */
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        uint8_t key[CRYPTO_SIGN_PUBLIC_BYTES];
        from_hex(keys[k], key, sizeof key);
        for (uint8_t m = 0; m < 16; m++) {
            uint8_t message[64] = {m};
            assert_false(crypto_ed25519_verify(key, message, sizeof message, trivial));
        }
    }

    uint8_t public_key[CRYPTO_SIGN_PUBLIC_BYTES];
    uint8_t secret_key[CRYPTO_SIGN_SECRET_BYTES];
    uint8_t signature[CRYPTO_SIGNATURE_BYTES];
    crypto_ed25519_keypair(public_key, secret_key);
    crypto_ed25519_sign(secret_key, "head", 4, signature);
    assert_true(crypto_ed25519_verify(public_key, "head", 4, signature));
    /* S + L, little-endian: below 2^254, since S < L < 2^253. */
    uint8_t order[32];
    from_hex("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010", order,
             sizeof order);
    unsigned carry = 0;
    for (size_t i = 0; i < 32; i++) {
        carry += (unsigned)signature[32 + i] + order[i];
        signature[32 + i] = (uint8_t)carry;
        carry >>= 8;
    }
    assert_int_equal(carry, 0);
    assert_false(crypto_ed25519_verify(public_key, "head", 4, signature));
    crypto_wipe(secret_key, sizeof secret_key);
}

static void test_crypto_ed25519_secret_key_valid(void **state)
{
    (void)state;
    uint8_t public_key[CRYPTO_SIGN_PUBLIC_BYTES];
    uint8_t secret_key[CRYPTO_SIGN_SECRET_BYTES];
    crypto_ed25519_keypair(public_key, secret_key);
    assert_true(crypto_ed25519_secret_key_valid(secret_key));
    /* A bit changed in either half: the halves no longer make a pair. */
    for (size_t bit = 0; bit < 8 * sizeof secret_key; bit += 7) {
        secret_key[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_false(crypto_ed25519_secret_key_valid(secret_key));
        secret_key[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    /* Bytes that are no key at all: zeros, and another pair's halves mixed. */
    uint8_t other_public[CRYPTO_SIGN_PUBLIC_BYTES];
    uint8_t other_secret[CRYPTO_SIGN_SECRET_BYTES];
    crypto_ed25519_keypair(other_public, other_secret);
    memcpy(secret_key + 32, other_public, sizeof other_public);
    assert_false(crypto_ed25519_secret_key_valid(secret_key));
    memset(secret_key, 0, sizeof secret_key);
    assert_false(crypto_ed25519_secret_key_valid(secret_key));
    crypto_wipe(other_secret, sizeof other_secret);
}

static void test_crypto_wipe(void **state)
{
    (void)state;
    uint8_t secret[48];
    uint8_t zero[48] = {0};
    memset(secret, 0xa5, sizeof secret);
    crypto_wipe(secret, sizeof secret);
    assert_memory_equal(secret, zero, sizeof secret);
}

static void test_crypto_hex_round_trip(void **state)
{
    (void)state;
    const uint8_t bytes[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xcd, 0xef, 0xff};
    char hex[2 * sizeof bytes + 1];
    memset(hex, 'z', sizeof hex);
    crypto_hex(bytes, sizeof bytes, hex);
    assert_string_equal(hex, "00017f80abcdefff");
    uint8_t back[sizeof bytes];
    assert_int_equal(crypto_unhex(hex, back, sizeof back), LEDGER_ERR_OK);
    assert_memory_equal(back, bytes, sizeof bytes);
    /* Upper case is accepted on input. */
    assert_int_equal(crypto_unhex("00017F80ABCDEFFF", back, sizeof back), LEDGER_ERR_OK);
    assert_memory_equal(back, bytes, sizeof bytes);
    /* Zero bytes: the empty string. */
    char empty[1] = {'z'};
    crypto_hex(bytes, 0, empty);
    assert_string_equal(empty, "");
    assert_int_equal(crypto_unhex("", back, 0), LEDGER_ERR_OK);
}

static void test_crypto_unhex_refuses_malformed(void **state)
{
    (void)state;
    uint8_t out[4];
    const uint8_t untouched[4] = {0x11, 0x22, 0x33, 0x44};
    const char *bad[] = {
        "",           /* too short */
        "0011223",    /* odd, one short */
        "001122334",  /* one too many */
        "0011223344", /* a byte too many */
        "00112g33",   /* not a digit */
        "0011 233",   /* a space */
        "0x112233",   /* a prefix */
        "001122\n3",  /* a newline inside */
        "00112233\n", /* a trailing newline: key files strip it first */
        "-0112233",   /* a sign */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memcpy(out, untouched, sizeof out);
        assert_int_equal(crypto_unhex(bad[i], out, sizeof out), LEDGER_ERR_INVALID_ARGUMENT);
        assert_memory_equal(out, untouched, sizeof out);
    }
    /* An embedded NUL ends the string early. */
    const char nul_inside[] = {'0', '0', '1', '1', '\0', '2', '3', '3', '\0'};
    assert_int_equal(crypto_unhex(nul_inside, out, sizeof out), LEDGER_ERR_INVALID_ARGUMENT);
    assert_int_equal(crypto_unhex(NULL, out, sizeof out), LEDGER_ERR_INVALID_ARGUMENT);
    assert_memory_equal(out, untouched, sizeof out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crypto_init_twice),
        cmocka_unit_test(test_crypto_sha256_vectors),
        cmocka_unit_test(test_crypto_stream_blake2b_vectors),
        cmocka_unit_test(test_crypto_leaf_and_node_hashes),
        cmocka_unit_test(test_crypto_hmac_rfc4231),
        cmocka_unit_test(test_crypto_hmac_depends_on_key_and_data),
        cmocka_unit_test(test_crypto_equal),
        cmocka_unit_test(test_crypto_random_differs),
        cmocka_unit_test(test_crypto_ed25519_rfc8032_test1),
        cmocka_unit_test(test_crypto_ed25519_flipped_bits_refused),
        cmocka_unit_test(test_crypto_ed25519_small_order_and_non_canonical_refused),
        cmocka_unit_test(test_crypto_ed25519_secret_key_valid),
        cmocka_unit_test(test_crypto_wipe),
        cmocka_unit_test(test_crypto_hex_round_trip),
        cmocka_unit_test(test_crypto_unhex_refuses_malformed),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
