/*
 * replay.c: refused command requests, remembered for their window
 * (contract in replay.h).
 *
 * Layout: entries live in a ring in arrival order, named by a serial number
 * (entry s is ring[s % capacity]); the live ones are [first, next). The index
 * is open addressing with linear probing over serial + 1 (0: empty). An entry
 * that leaves the ring leaves a dead slot (its serial is below `first`):
 * lookups step over dead slots, insertions reuse them, and once dead slots
 * pass half the capacity the index is built again from the live entries, so
 * at most 1.5 * capacity of its 2 * capacity (or more) slots are in use.
 */
#include "replay.h"

#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "ledger_limits.h"

struct replay_entry {
    uint8_t digest[CRYPTO_HASH_BYTES]; /* SHA-256(principal id, 0x00, MAC) */
    int64_t forget_us;
    enum ledger_err code;
    uint32_t failed_index;
};

struct replay_cache {
    size_t capacity;
    struct replay_entry *ring;
    uint64_t first; /* serial of the oldest live entry */
    uint64_t next;  /* serial the next entry gets */
    uint64_t *slots;
    size_t slot_mask;
    size_t dead; /* slots naming entries that left the ring */
};

enum ledger_err replay_cache_new(size_t capacity, struct replay_cache **out)
{
    if (capacity == 0 || capacity > SIZE_MAX / 4 / sizeof(uint64_t)) {
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    size_t slot_count = 1;
    while (slot_count < 2 * capacity) {
        slot_count <<= 1;
    }
    struct replay_cache *cache = calloc(1, sizeof *cache);
    if (cache == NULL) {
        return LEDGER_ERR_NO_MEMORY;
    }
    cache->capacity = capacity;
    cache->ring = calloc(capacity, sizeof *cache->ring);
    cache->slots = calloc(slot_count, sizeof *cache->slots);
    cache->slot_mask = slot_count - 1;
    if (cache->ring == NULL || cache->slots == NULL) {
        replay_cache_free(cache);
        return LEDGER_ERR_NO_MEMORY;
    }
    *out = cache;
    return LEDGER_ERR_OK;
}

void replay_cache_free(struct replay_cache *cache)
{
    if (cache == NULL) {
        return;
    }
    free(cache->ring);
    free(cache->slots);
    free(cache);
}

static void request_digest(const char *principal_id, const uint8_t *mac, size_t mac_size,
                           uint8_t out[CRYPTO_HASH_BYTES])
{
    /* The id is at most LEDGER_ID_LENGTH_MAX bytes and the MAC, checked by
     * auth, LEDGER_MAC_BYTES; longer inputs are cut, which only merges
     * requests auth refuses anyway. */
    uint8_t bytes[LEDGER_ID_LENGTH_MAX + 1 + LEDGER_MAC_BYTES];
    size_t id_size = strnlen(principal_id, LEDGER_ID_LENGTH_MAX);
    memcpy(bytes, principal_id, id_size);
    bytes[id_size] = 0x00;
    size_t kept = mac_size < LEDGER_MAC_BYTES ? mac_size : LEDGER_MAC_BYTES;
    memcpy(bytes + id_size + 1, mac, kept);
    crypto_sha256(bytes, id_size + 1 + kept, out);
}

static size_t slot_of(const struct replay_cache *cache, const uint8_t digest[CRYPTO_HASH_BYTES])
{
    uint64_t hash;
    memcpy(&hash, digest, sizeof hash);
    return (size_t)hash & cache->slot_mask;
}

static struct replay_entry *entry_at(const struct replay_cache *cache, uint64_t serial)
{
    return &cache->ring[serial % cache->capacity];
}

static void index_insert(struct replay_cache *cache, uint64_t serial)
{
    size_t slot = slot_of(cache, entry_at(cache, serial)->digest);
    for (;; slot = (slot + 1) & cache->slot_mask) {
        uint64_t held = cache->slots[slot];
        if (held == 0) {
            break;
        }
        if (held - 1 < cache->first) {
            cache->dead--; /* a dead slot, reused */
            break;
        }
    }
    cache->slots[slot] = serial + 1;
}

static void index_rebuild(struct replay_cache *cache)
{
    memset(cache->slots, 0, (cache->slot_mask + 1) * sizeof *cache->slots);
    cache->dead = 0;
    for (uint64_t serial = cache->first; serial < cache->next; serial++) {
        index_insert(cache, serial);
    }
}

/* The oldest entry leaves the ring; its slot becomes dead. */
static void drop_oldest(struct replay_cache *cache)
{
    cache->first++;
    cache->dead++;
}

static void drop_expired(struct replay_cache *cache, int64_t now_us)
{
    while (cache->first < cache->next && entry_at(cache, cache->first)->forget_us < now_us) {
        drop_oldest(cache);
    }
}

static const struct replay_entry *lookup(const struct replay_cache *cache,
                                         const uint8_t digest[CRYPTO_HASH_BYTES])
{
    for (size_t slot = slot_of(cache, digest); cache->slots[slot] != 0;
         slot = (slot + 1) & cache->slot_mask) {
        uint64_t serial = cache->slots[slot] - 1;
        if (serial < cache->first) {
            continue; /* dead */
        }
        const struct replay_entry *entry = entry_at(cache, serial);
        if (memcmp(entry->digest, digest, CRYPTO_HASH_BYTES) == 0) {
            return entry;
        }
    }
    return NULL;
}

bool replay_cache_remember(struct replay_cache *cache, const char *principal_id, const uint8_t *mac,
                           size_t mac_size, int64_t forget_us, int64_t now_us, enum ledger_err code,
                           uint32_t failed_index)
{
    drop_expired(cache, now_us);
    uint8_t digest[CRYPTO_HASH_BYTES];
    request_digest(principal_id, mac, mac_size, digest);
    bool evicted = false;
    if (lookup(cache, digest) == NULL) {
        if (cache->next - cache->first == cache->capacity) {
            drop_oldest(cache);
            evicted = true;
        }
        struct replay_entry *entry = entry_at(cache, cache->next);
        memcpy(entry->digest, digest, sizeof digest);
        entry->forget_us = forget_us;
        entry->code = code;
        entry->failed_index = failed_index;
        index_insert(cache, cache->next);
        cache->next++;
    }
    if (cache->dead > cache->capacity / 2) {
        index_rebuild(cache);
    }
    return evicted;
}

enum ledger_err replay_cache_find(struct replay_cache *cache, const char *principal_id,
                                  const uint8_t *mac, size_t mac_size, int64_t now_us,
                                  uint32_t *failed_index_out)
{
    drop_expired(cache, now_us);
    if (cache->dead > cache->capacity / 2) {
        index_rebuild(cache);
    }
    uint8_t digest[CRYPTO_HASH_BYTES];
    request_digest(principal_id, mac, mac_size, digest);
    const struct replay_entry *entry = lookup(cache, digest);
    bool found = entry != NULL && entry->forget_us >= now_us;
    if (failed_index_out != NULL) {
        *failed_index_out = found ? entry->failed_index : 0;
    }
    return found ? entry->code : LEDGER_ERR_OK;
}

size_t replay_cache_count(const struct replay_cache *cache)
{
    return (size_t)(cache->next - cache->first);
}
