/*
 * test_replay.c: the refused-request memory (daemon/replay.h).
 * Goal: a remembered request is found with its code, by its principal and
 * MAC only; it is forgotten when its time passes, or, with the ring full,
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

/* A MAC-sized name for request n. */
static void mac_of(uint64_t n, uint8_t mac[32])
{
    memset(mac, 0, 32);
    memcpy(mac, &n, sizeof n);
    mac[31] = 0x5a;
}

static void test_replay_remember_and_find(void **state)
{
    (void)state;
    struct replay_cache *cache = NULL;
    assert_int_equal(replay_cache_new(8, &cache), LEDGER_ERR_OK);
    uint8_t a[32], b[32];
    mac_of(1, a);
    mac_of(2, b);
    assert_int_equal(replay_cache_find(cache, "alice", a, 32, 100, NULL), LEDGER_ERR_OK);
    /* Refused at the third command of its batch: a replay is told so. */
    assert_false(
        replay_cache_remember(cache, "alice", a, 32, 1000, 100, LEDGER_ERR_PERMISSION_OFF, 2));
    uint32_t failed_index = 99;
    assert_int_equal(replay_cache_find(cache, "alice", a, 32, 100, &failed_index),
                     LEDGER_ERR_PERMISSION_OFF);
    assert_int_equal(failed_index, 2);
    assert_int_equal(replay_cache_find(cache, "alice", a, 32, 100, NULL),
                     LEDGER_ERR_PERMISSION_OFF);
    /* Another principal with the same MAC, or another MAC: not this one. */
    assert_int_equal(replay_cache_find(cache, "bob", a, 32, 100, NULL), LEDGER_ERR_OK);
    assert_int_equal(replay_cache_find(cache, "alice", b, 32, 100, NULL), LEDGER_ERR_OK);
    assert_int_equal(replay_cache_find(cache, "alic", a, 32, 100, NULL), LEDGER_ERR_OK);
    /* Remembering it again keeps one entry with the first code and index. */
    assert_false(replay_cache_remember(cache, "alice", a, 32, 1000, 100, LEDGER_ERR_FORBIDDEN, 0));
    assert_int_equal(replay_cache_count(cache), 1);
    assert_int_equal(replay_cache_find(cache, "alice", a, 32, 1000, &failed_index),
                     LEDGER_ERR_PERMISSION_OFF);
    assert_int_equal(failed_index, 2);
    /* Past its time it is gone, and no index is given. */
    assert_int_equal(replay_cache_find(cache, "alice", a, 32, 1001, &failed_index), LEDGER_ERR_OK);
    assert_int_equal(failed_index, 0);
    assert_int_equal(replay_cache_count(cache), 0);
    replay_cache_free(cache);
    replay_cache_free(NULL);
    assert_int_equal(replay_cache_new(0, &cache), LEDGER_ERR_INVALID_ARGUMENT);
}

/* Entries leave the ring in arrival order, but each is forgotten at its own
 * time: one remembered after another, yet with an earlier time, is found up
 * to its time and not after, while the earlier one (which keeps it in the
 * ring) still is. */
static void test_replay_forgotten_behind_a_later_time(void **state)
{
    (void)state;
    struct replay_cache *cache = NULL;
    assert_int_equal(replay_cache_new(8, &cache), LEDGER_ERR_OK);
    uint8_t a[32], b[32];
    mac_of(1, a);
    mac_of(2, b);
    assert_false(replay_cache_remember(cache, "alice", a, 32, 1000, 100, LEDGER_ERR_FORBIDDEN, 1));
    assert_false(
        replay_cache_remember(cache, "alice", b, 32, 500, 100, LEDGER_ERR_PERMISSION_OFF, 3));
    uint32_t failed_index = 99;
    assert_int_equal(replay_cache_find(cache, "alice", b, 32, 500, &failed_index),
                     LEDGER_ERR_PERMISSION_OFF);
    assert_int_equal(failed_index, 3);
    assert_int_equal(replay_cache_find(cache, "alice", b, 32, 501, &failed_index), LEDGER_ERR_OK);
    assert_int_equal(failed_index, 0);
    assert_int_equal(replay_cache_count(cache), 2);
    assert_int_equal(replay_cache_find(cache, "alice", a, 32, 501, &failed_index),
                     LEDGER_ERR_FORBIDDEN);
    assert_int_equal(failed_index, 1);
    replay_cache_free(cache);
}

/* A memory of no entries, or of more than an index of them can count, is
 * refused. */
static void test_replay_capacity_bounds(void **state)
{
    (void)state;
    struct replay_cache *cache = NULL;
    assert_int_equal(replay_cache_new(0, &cache), LEDGER_ERR_INVALID_ARGUMENT);
    assert_null(cache);
    assert_int_equal(replay_cache_new(SIZE_MAX / 4 / sizeof(uint64_t) + 1, &cache),
                     LEDGER_ERR_INVALID_ARGUMENT);
    assert_null(cache);
    assert_int_equal(replay_cache_new(1, &cache), LEDGER_ERR_OK);
    assert_int_equal(replay_cache_count(cache), 0);
    replay_cache_free(cache);
}

static void test_replay_full_forgets_oldest(void **state)
{
    (void)state;
    struct replay_cache *cache = NULL;
    assert_int_equal(replay_cache_new(4, &cache), LEDGER_ERR_OK);
    uint8_t mac[32];
    for (uint64_t n = 0; n < 4; n++) {
        mac_of(n, mac);
        assert_false(replay_cache_remember(cache, "p", mac, 32, 1000, 0, LEDGER_ERR_FORBIDDEN, 0));
    }
    mac_of(4, mac);
    assert_true(replay_cache_remember(cache, "p", mac, 32, 1000, 0, LEDGER_ERR_FORBIDDEN, 0));
    assert_int_equal(replay_cache_count(cache), 4);
    mac_of(0, mac);
    assert_int_equal(replay_cache_find(cache, "p", mac, 32, 0, NULL), LEDGER_ERR_OK);
    for (uint64_t n = 1; n <= 4; n++) {
        mac_of(n, mac);
        assert_int_equal(replay_cache_find(cache, "p", mac, 32, 0, NULL), LEDGER_ERR_FORBIDDEN);
    }
    replay_cache_free(cache);
}

/* A ring filled without a lookup in between: every entry is found, the
 * oldest too, whatever slots the later ones probed. */
static void test_replay_full_ring_remembers_every_entry(void **state)
{
    (void)state;
    enum { CAPACITY = 256 };
    struct replay_cache *cache = NULL;
    assert_int_equal(replay_cache_new(CAPACITY, &cache), LEDGER_ERR_OK);
    uint8_t mac[32];
    for (uint64_t n = 0; n < CAPACITY; n++) {
        mac_of(n, mac);
        assert_false(replay_cache_remember(cache, "p", mac, 32, 1000, 0, LEDGER_ERR_FORBIDDEN, 0));
    }
    for (uint64_t n = 0; n < CAPACITY; n++) {
        mac_of(n, mac);
        assert_int_equal(replay_cache_find(cache, "p", mac, 32, 0, NULL), LEDGER_ERR_FORBIDDEN);
    }
    replay_cache_free(cache);
}

/* Remembering alone, many times the capacity with the oldest forgotten each
 * time, keeps the index usable: slots of forgotten entries are reclaimed, so
 * a lookup always ends (at an empty slot) and the last entries are found. */
static void test_replay_remembering_alone_reclaims_slots(void **state)
{
    (void)state;
    enum { CAPACITY = 4, ROUNDS = 10000 };
    struct replay_cache *cache = NULL;
    assert_int_equal(replay_cache_new(CAPACITY, &cache), LEDGER_ERR_OK);
    uint8_t mac[32];
    for (uint64_t n = 0; n < ROUNDS; n++) {
        mac_of(n, mac);
        assert_int_equal(
            replay_cache_remember(cache, "p", mac, 32, 1000, 0, LEDGER_ERR_FORBIDDEN, 0),
            n >= CAPACITY);
    }
    for (uint64_t n = ROUNDS - CAPACITY; n < ROUNDS; n++) {
        mac_of(n, mac);
        assert_int_equal(replay_cache_find(cache, "p", mac, 32, 0, NULL), LEDGER_ERR_FORBIDDEN);
    }
    mac_of(ROUNDS, mac);
    assert_int_equal(replay_cache_find(cache, "p", mac, 32, 0, NULL), LEDGER_ERR_OK);
    replay_cache_free(cache);
}

/* Whole rings that expire together and are then only looked up (no
 * remembering in between, which would reclaim the slots itself): the
 * lookup reclaims the expired entries' slots, so each round's entries are
 * found, expired ones are not, and every lookup ends. */
static void test_replay_lookups_alone_reclaim_expired_slots(void **state)
{
    (void)state;
    enum { CAPACITY = 8, ROUNDS = 1000 };
    struct replay_cache *cache = NULL;
    assert_int_equal(replay_cache_new(CAPACITY, &cache), LEDGER_ERR_OK);
    uint8_t mac[32];
    for (uint64_t round = 0; round < ROUNDS; round++) {
        int64_t now = (int64_t)round * 10;
        for (uint64_t n = 0; n < CAPACITY; n++) {
            mac_of(round * CAPACITY + n, mac);
            assert_false(replay_cache_remember(cache, "p", mac, 32, now + 5, now,
                                               LEDGER_ERR_FORBIDDEN, (uint32_t)n));
        }
        uint32_t failed_index = 99;
        mac_of(round * CAPACITY + CAPACITY - 1, mac);
        assert_int_equal(replay_cache_find(cache, "p", mac, 32, now + 5, &failed_index),
                         LEDGER_ERR_FORBIDDEN);
        assert_int_equal(failed_index, CAPACITY - 1);
        /* Past their time: all of them go at this lookup. */
        assert_int_equal(replay_cache_find(cache, "p", mac, 32, now + 6, &failed_index),
                         LEDGER_ERR_OK);
        assert_int_equal(failed_index, 0);
        assert_int_equal(replay_cache_count(cache), 0);
        mac_of(round * CAPACITY, mac);
        assert_int_equal(replay_cache_find(cache, "p", mac, 32, now + 6, NULL), LEDGER_ERR_OK);
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
    uint8_t mac[32];
    for (uint64_t n = 0; n < ROUNDS; n++) {
        int64_t now = (int64_t)(n / 4);
        while (first_live < n && (int64_t)(first_live / 4) + WINDOW < now) {
            first_live++;
        }
        mac_of(n, mac);
        bool evicted = replay_cache_remember(cache, "p", mac, 32, now + WINDOW, now,
                                             (enum ledger_err)(14 + n % 20), (uint32_t)(n % 7));
        bool full = n - first_live == CAPACITY;
        assert_int_equal(evicted, full);
        if (full) {
            first_live++;
        }
        /* Probe a few serials: live ones are found with their code. */
        for (int probe = 0; probe < 4; probe++) {
            rng = rng * 6364136223846793005u + 1442695040888963407u;
            uint64_t m = (rng >> 33) % (n + 1);
            mac_of(m, mac);
            enum ledger_err want = m >= first_live ? (enum ledger_err)(14 + m % 20) : LEDGER_ERR_OK;
            uint32_t index = 99;
            assert_int_equal(replay_cache_find(cache, "p", mac, 32, now, &index), want);
            assert_int_equal(index, m >= first_live ? m % 7 : 0);
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
        cmocka_unit_test(test_replay_forgotten_behind_a_later_time),
        cmocka_unit_test(test_replay_capacity_bounds),
        cmocka_unit_test(test_replay_full_forgets_oldest),
        cmocka_unit_test(test_replay_full_ring_remembers_every_entry),
        cmocka_unit_test(test_replay_remembering_alone_reclaims_slots),
        cmocka_unit_test(test_replay_lookups_alone_reclaim_expired_slots),
        cmocka_unit_test(test_replay_matches_a_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
