/*
 * test_replay.c: the refused-request memory (daemon/replay.h).
 * Goal: a remembered request is found with its code, by its principal and
 * nonce only; it is forgotten when its time passes, or, with the ring full,
 * the oldest first (and the call says so); the index stays correct through
 * many times its capacity of insertions, evictions and expiries (checked
 * against a plain list).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crypto.h"
#include "replay.h"

static void nonce_of(uint64_t n, uint8_t nonce[16])
{
    memset(nonce, 0, 16);
    memcpy(nonce, &n, sizeof n);
    nonce[15] = 0x5a;
}

static void test_replay_remember_and_find(void **state)
{
    (void)state;
    struct replay_cache *cache = NULL;
    assert_int_equal(replay_cache_new(8, &cache), LEDGER_ERR_OK);
    uint8_t a[16], b[16];
    nonce_of(1, a);
    nonce_of(2, b);
    assert_int_equal(replay_cache_find(cache, "alice", a, 16, 100), LEDGER_ERR_OK);
    assert_false(
        replay_cache_remember(cache, "alice", a, 16, 1000, 100, LEDGER_ERR_PERMISSION_OFF));
    assert_int_equal(replay_cache_find(cache, "alice", a, 16, 100), LEDGER_ERR_PERMISSION_OFF);
    /* Another principal with the same nonce, or another nonce: not this one. */
    assert_int_equal(replay_cache_find(cache, "bob", a, 16, 100), LEDGER_ERR_OK);
    assert_int_equal(replay_cache_find(cache, "alice", b, 16, 100), LEDGER_ERR_OK);
    assert_int_equal(replay_cache_find(cache, "alic", a, 16, 100), LEDGER_ERR_OK);
    /* Remembering it again keeps one entry with the first code. */
    assert_false(replay_cache_remember(cache, "alice", a, 16, 1000, 100, LEDGER_ERR_FORBIDDEN));
    assert_int_equal(replay_cache_count(cache), 1);
    assert_int_equal(replay_cache_find(cache, "alice", a, 16, 1000), LEDGER_ERR_PERMISSION_OFF);
    /* Past its time it is gone. */
    assert_int_equal(replay_cache_find(cache, "alice", a, 16, 1001), LEDGER_ERR_OK);
    assert_int_equal(replay_cache_count(cache), 0);
    replay_cache_free(cache);
    replay_cache_free(NULL);
    assert_int_equal(replay_cache_new(0, &cache), LEDGER_ERR_INVALID_ARGUMENT);
}

static void test_replay_full_forgets_oldest(void **state)
{
    (void)state;
    struct replay_cache *cache = NULL;
    assert_int_equal(replay_cache_new(4, &cache), LEDGER_ERR_OK);
    uint8_t nonce[16];
    for (uint64_t n = 0; n < 4; n++) {
        nonce_of(n, nonce);
        assert_false(replay_cache_remember(cache, "p", nonce, 16, 1000, 0, LEDGER_ERR_FORBIDDEN));
    }
    nonce_of(4, nonce);
    assert_true(replay_cache_remember(cache, "p", nonce, 16, 1000, 0, LEDGER_ERR_FORBIDDEN));
    assert_int_equal(replay_cache_count(cache), 4);
    nonce_of(0, nonce);
    assert_int_equal(replay_cache_find(cache, "p", nonce, 16, 0), LEDGER_ERR_OK);
    for (uint64_t n = 1; n <= 4; n++) {
        nonce_of(n, nonce);
        assert_int_equal(replay_cache_find(cache, "p", nonce, 16, 0), LEDGER_ERR_FORBIDDEN);
    }
    replay_cache_free(cache);
}

/* Many times the capacity, with times that move on, against a plain list of
 * what must be remembered. */
static void test_replay_matches_a_model(void **state)
{
    (void)state;
    enum { CAPACITY = 64, ROUNDS = 20000, WINDOW = 100 };
    struct replay_cache *cache = NULL;
    assert_int_equal(replay_cache_new(CAPACITY, &cache), LEDGER_ERR_OK);
    /* The model: serial n was remembered at time n / 4 until n / 4 + WINDOW;
     * the ring keeps the last CAPACITY live ones. */
    uint64_t rng = 42;
    uint64_t first_live = 0;
    uint8_t nonce[16];
    for (uint64_t n = 0; n < ROUNDS; n++) {
        int64_t now = (int64_t)(n / 4);
        while (first_live < n && (int64_t)(first_live / 4) + WINDOW < now) {
            first_live++;
        }
        nonce_of(n, nonce);
        bool evicted = replay_cache_remember(cache, "p", nonce, 16, now + WINDOW, now,
                                             (enum ledger_err)(14 + n % 20));
        bool full = n - first_live == CAPACITY;
        assert_int_equal(evicted, full);
        if (full) {
            first_live++;
        }
        /* Probe a few serials: live ones are found with their code. */
        for (int probe = 0; probe < 4; probe++) {
            rng = rng * 6364136223846793005u + 1442695040888963407u;
            uint64_t m = (rng >> 33) % (n + 1);
            nonce_of(m, nonce);
            enum ledger_err want = m >= first_live ? (enum ledger_err)(14 + m % 20) : LEDGER_ERR_OK;
            assert_int_equal(replay_cache_find(cache, "p", nonce, 16, now), want);
        }
        assert_int_equal(replay_cache_count(cache), n + 1 - first_live);
    }
    replay_cache_free(cache);
}

int main(void)
{
    if (crypto_init() != LEDGER_ERR_OK) {
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replay_remember_and_find),
        cmocka_unit_test(test_replay_full_forgets_oldest),
        cmocka_unit_test(test_replay_matches_a_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
