/*
 * merkle.c: the RFC 6962 / RFC 9162 Merkle tree over the event log.
 *
 * Owns: leaf and node hashing, the tree's shape, inclusion and consistency
 * paths and their verification, the compact in-memory builder, the tree's
 * complete subtrees in STORE_DB_MERKLE, and the signed tree head's bytes.
 * Does not own: the records (store), the signing key (engine), the wire (codec).
 *
 * Shape. MTH(D[0:n]) splits at k, the largest power of two below n, so every
 * subtree that appears anywhere in the tree (or in a proof) covers a range
 * [a, b) whose start a is a multiple of its own split k (or of b - a when that
 * is a power of two). Such a range is a run of complete subtrees along its right
 * spine: [a, a+k) is complete, and [a+k, b) is again such a range. range_hash()
 * walks that spine, so the hash of any range costs at most 64 calls of the node
 * source, and the root, any inclusion path and any consistency path cost
 * O(log n) calls: along a path only the first descent into a left child has an
 * incomplete right sibling; every later sibling is a complete subtree.
 *
 * Storage (STORE_DB_MERKLE, a derived database that `ledgerd rebuild` refills
 * by appending every leaf again):
 *   key 9 bytes  = u8 level || u64 BE index  -> the 32-byte hash of the complete
 *                  subtree covering leaves [index * 2^level, (index+1) * 2^level),
 *                  for level >= 1; level 0 (the leaves) is not repeated here:
 *                  it is STORE_DB_LEAF's hash of sequence index + 1
 *   key 1 byte   = 0xFF                      -> u64 BE: the number of leaves
 * The two key lengths never collide. The size key makes "how big is the stored
 * tree" one read, and lets merkle_append refuse an out-of-order leaf.
 *
 * Proof edge cases (documented in docs/verification.md): a consistency proof
 * from size 0 is refused (INVALID_ARGUMENT) and never verifies, since the empty
 * tree proves nothing; from_size == to_size has the empty proof and verifies
 * only when the two roots are equal.
 */
#include "merkle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"

_Static_assert(MERKLE_HASH_BYTES == CRYPTO_HASH_BYTES, "tree hashes are SHA-256");
_Static_assert(MERKLE_HASH_BYTES == STORE_HASH_BYTES, "stored leaf hashes are tree leaves");

/* Programmer errors (broken invariants) stop the process in every build type;
 * assert() would vanish under NDEBUG. Network input never reaches these. */
#define MERKLE_REQUIRE(condition)                                                                  \
    do {                                                                                           \
        if (!(condition))                                                                          \
            abort();                                                                               \
    } while (0)

/* A tree of at most 2^64 - 1 leaves is at most 64 levels deep. */
#define MERKLE_DEPTH_MAX 64

/* The domain tag that starts every signed head: 14 ASCII characters and two NUL
 * bytes (the second NUL is the literal's terminator), so that a head signature
 * can never be mistaken for a signature over any other ledger message. */
static const char head_tag[] = "ledger.v1.head\0";
_Static_assert(sizeof head_tag == 16, "the head tag is exactly 16 bytes");

/* The size key of STORE_DB_MERKLE; node keys are 9 bytes long. */
static const uint8_t size_key[1] = {0xFF};
#define MERKLE_NODE_KEY_BYTES 9

/* --- shape helpers ---------------------------------------------------------- */

static bool is_power_of_two(uint64_t value)
{
    return value != 0 && (value & (value - 1)) == 0;
}

/* The largest power of two strictly below n (n >= 2): RFC 6962's split point. */
static uint64_t split_point(uint64_t n)
{
    MERKLE_REQUIRE(n >= 2);
    return UINT64_C(1) << (63 - __builtin_clzll(n - 1));
}

static unsigned level_of(uint64_t power_of_two)
{
    return (unsigned)__builtin_ctzll(power_of_two);
}

/* MTH(D[begin:end]) for a range that is a subtree of some tree (see the file
 * comment), from at most 64 complete subtrees. */
static enum ledger_err range_hash(merkle_node_fn node, void *context, uint64_t begin, uint64_t end,
                                  uint8_t out[MERKLE_HASH_BYTES])
{
    MERKLE_REQUIRE(begin < end);
    uint8_t lefts[MERKLE_DEPTH_MAX][MERKLE_HASH_BYTES];
    size_t left_count = 0;
    uint64_t size = end - begin;
    enum ledger_err err;
    while (!is_power_of_two(size)) {
        uint64_t split = split_point(size);
        unsigned level = level_of(split);
        MERKLE_REQUIRE(begin % split == 0 && left_count < MERKLE_DEPTH_MAX);
        err = node(context, level, begin >> level, lefts[left_count]);
        if (err != LEDGER_ERR_OK)
            return err;
        left_count++;
        begin += split;
        size -= split;
    }
    unsigned level = level_of(size);
    MERKLE_REQUIRE(begin % size == 0);
    uint8_t hash[MERKLE_HASH_BYTES];
    err = node(context, level, begin >> level, hash);
    if (err != LEDGER_ERR_OK)
        return err;
    while (left_count > 0) {
        left_count--;
        uint8_t parent[MERKLE_HASH_BYTES];
        crypto_node_hash(lefts[left_count], hash, parent);
        memcpy(hash, parent, MERKLE_HASH_BYTES);
    }
    memcpy(out, hash, MERKLE_HASH_BYTES);
    return LEDGER_ERR_OK;
}

/* Writes the siblings collected top-down after `first` (if any), deepest
 * first, as RFC 6962's recursive definitions order them. */
static void emit_path(const uint8_t *first, uint8_t siblings[][MERKLE_HASH_BYTES],
                      size_t sibling_count, uint8_t path[][MERKLE_HASH_BYTES], size_t *length_out)
{
    size_t length = 0;
    if (first != NULL)
        memcpy(path[length++], first, MERKLE_HASH_BYTES);
    for (size_t i = sibling_count; i > 0; i--)
        memcpy(path[length++], siblings[i - 1], MERKLE_HASH_BYTES);
    *length_out = length;
}

/* --- pure algorithms --------------------------------------------------------- */

void merkle_empty_root(uint8_t out[MERKLE_HASH_BYTES])
{
    crypto_sha256("", 0, out);
}

bool merkle_head_root_possible(uint64_t tree_size, const uint8_t root[MERKLE_HASH_BYTES])
{
    uint8_t empty[MERKLE_HASH_BYTES];
    merkle_empty_root(empty);
    return tree_size != 0 || memcmp(root, empty, sizeof empty) == 0;
}

void merkle_leaf_hash(const void *record, size_t record_size, uint8_t out[MERKLE_HASH_BYTES])
{
    crypto_sha256_prefixed(0x00, record, record_size, out);
}

enum ledger_err merkle_root(merkle_node_fn node, void *context, uint64_t tree_size,
                            uint8_t out[MERKLE_HASH_BYTES])
{
    MERKLE_REQUIRE(node != NULL && out != NULL);
    if (tree_size == 0) {
        merkle_empty_root(out);
        return LEDGER_ERR_OK;
    }
    return range_hash(node, context, 0, tree_size, out);
}

enum ledger_err merkle_inclusion_path(merkle_node_fn node, void *context, uint64_t leaf_index,
                                      uint64_t tree_size, uint8_t path[][MERKLE_HASH_BYTES],
                                      size_t *path_length_out)
{
    MERKLE_REQUIRE(node != NULL && path != NULL && path_length_out != NULL);
    if (leaf_index >= tree_size)
        return LEDGER_ERR_INVALID_ARGUMENT;
    uint8_t siblings[MERKLE_DEPTH_MAX][MERKLE_HASH_BYTES];
    size_t count = 0;
    uint64_t low = 0;
    uint64_t high = tree_size;
    /* Each step halves the range at least, so at most 64 steps. */
    while (high - low > 1) {
        MERKLE_REQUIRE(count < MERKLE_DEPTH_MAX);
        uint64_t split = split_point(high - low);
        enum ledger_err err;
        if (leaf_index < low + split) {
            err = range_hash(node, context, low + split, high, siblings[count]);
            high = low + split;
        } else {
            err = range_hash(node, context, low, low + split, siblings[count]);
            low += split;
        }
        if (err != LEDGER_ERR_OK)
            return err;
        count++;
    }
    emit_path(NULL, siblings, count, path, path_length_out);
    return LEDGER_ERR_OK;
}

enum ledger_err merkle_consistency_path(merkle_node_fn node, void *context, uint64_t from_size,
                                        uint64_t to_size, uint8_t path[][MERKLE_HASH_BYTES],
                                        size_t *path_length_out)
{
    MERKLE_REQUIRE(node != NULL && path != NULL && path_length_out != NULL);
    if (from_size == 0 || from_size > to_size)
        return LEDGER_ERR_INVALID_ARGUMENT;
    if (from_size == to_size) {
        *path_length_out = 0;
        return LEDGER_ERR_OK;
    }
    /* SUBPROOF(m, D[low:high], complete) of RFC 6962 2.1.2, unrolled: `complete`
     * stays true while the old tree's root is a node of the new tree (then it
     * is not sent: the verifier has it). */
    uint8_t siblings[MERKLE_DEPTH_MAX][MERKLE_HASH_BYTES];
    uint8_t first[MERKLE_HASH_BYTES];
    bool has_first = false;
    size_t count = 0;
    uint64_t low = 0;
    uint64_t high = to_size;
    bool complete = true;
    enum ledger_err err;
    for (;;) {
        uint64_t old_part = from_size - low;
        if (old_part == high - low) {
            if (!complete) {
                err = range_hash(node, context, low, high, first);
                if (err != LEDGER_ERR_OK)
                    return err;
                has_first = true;
            }
            break;
        }
        MERKLE_REQUIRE(count < MERKLE_DEPTH_MAX);
        uint64_t split = split_point(high - low);
        if (old_part <= split) {
            err = range_hash(node, context, low + split, high, siblings[count]);
            high = low + split;
        } else {
            err = range_hash(node, context, low, low + split, siblings[count]);
            low += split;
            complete = false;
        }
        if (err != LEDGER_ERR_OK)
            return err;
        count++;
    }
    emit_path(has_first ? first : NULL, siblings, count, path, path_length_out);
    return LEDGER_ERR_OK;
}

bool merkle_verify_inclusion(const uint8_t leaf_hash[MERKLE_HASH_BYTES], uint64_t leaf_index,
                             uint64_t tree_size, const uint8_t path[][MERKLE_HASH_BYTES],
                             size_t path_length, const uint8_t root[MERKLE_HASH_BYTES])
{
    if (leaf_hash == NULL || root == NULL || (path_length > 0 && path == NULL))
        return false;
    /* RFC 9162 2.1.3.2, step by step. A path longer than the deepest tree is
     * refused before any hashing. */
    if (leaf_index >= tree_size || path_length > MERKLE_DEPTH_MAX)
        return false;
    uint64_t fn = leaf_index;
    uint64_t sn = tree_size - 1;
    uint8_t r[MERKLE_HASH_BYTES];
    uint8_t parent[MERKLE_HASH_BYTES];
    memcpy(r, leaf_hash, MERKLE_HASH_BYTES);
    for (size_t i = 0; i < path_length; i++) {
        if (sn == 0)
            return false;
        if ((fn & 1) != 0 || fn == sn) {
            crypto_node_hash(path[i], r, parent);
            if ((fn & 1) == 0) {
                while ((fn & 1) == 0 && fn != 0) {
                    fn >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            crypto_node_hash(r, path[i], parent);
        }
        memcpy(r, parent, MERKLE_HASH_BYTES);
        fn >>= 1;
        sn >>= 1;
    }
    return sn == 0 && crypto_equal(r, root, MERKLE_HASH_BYTES);
}

bool merkle_verify_consistency(uint64_t from_size, uint64_t to_size,
                               const uint8_t from_root[MERKLE_HASH_BYTES],
                               const uint8_t to_root[MERKLE_HASH_BYTES],
                               const uint8_t path[][MERKLE_HASH_BYTES], size_t path_length)
{
    if (from_root == NULL || to_root == NULL || (path_length > 0 && path == NULL))
        return false;
    /* Our rules before RFC 9162's algorithm, which assumes 0 < first < second:
     * nothing is proved from the empty tree, and equal sizes need equal roots
     * and an empty path. */
    if (from_size == 0 || from_size > to_size || path_length > MERKLE_PATH_MAX)
        return false;
    if (from_size == to_size)
        return path_length == 0 && crypto_equal(from_root, to_root, MERKLE_HASH_BYTES);
    /* RFC 9162 2.1.4.2. Step 1: an empty path fails. */
    if (path_length == 0)
        return false;
    /* Step 2: when first is a power of two, first_hash is the path's implicit
     * first element. */
    size_t next = 0;
    const uint8_t *seed = is_power_of_two(from_size) ? from_root : path[next++];
    /* Steps 3 and 4. */
    uint64_t fn = from_size - 1;
    uint64_t sn = to_size - 1;
    while ((fn & 1) != 0) {
        fn >>= 1;
        sn >>= 1;
    }
    /* Step 5. */
    uint8_t fr[MERKLE_HASH_BYTES];
    uint8_t sr[MERKLE_HASH_BYTES];
    uint8_t parent[MERKLE_HASH_BYTES];
    memcpy(fr, seed, MERKLE_HASH_BYTES);
    memcpy(sr, seed, MERKLE_HASH_BYTES);
    /* Step 6. */
    for (; next < path_length; next++) {
        const uint8_t *c = path[next];
        if (sn == 0)
            return false;
        if ((fn & 1) != 0 || fn == sn) {
            crypto_node_hash(c, fr, parent);
            memcpy(fr, parent, MERKLE_HASH_BYTES);
            crypto_node_hash(c, sr, parent);
            memcpy(sr, parent, MERKLE_HASH_BYTES);
            if ((fn & 1) == 0) {
                while ((fn & 1) == 0 && fn != 0) {
                    fn >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            crypto_node_hash(sr, c, parent);
            memcpy(sr, parent, MERKLE_HASH_BYTES);
        }
        fn >>= 1;
        sn >>= 1;
    }
    /* Step 7. */
    return sn == 0 && crypto_equal(fr, from_root, MERKLE_HASH_BYTES) &&
           crypto_equal(sr, to_root, MERKLE_HASH_BYTES);
}

/* --- the in-memory builder --------------------------------------------------- */

void merkle_builder_init(struct merkle_builder *builder)
{
    MERKLE_REQUIRE(builder != NULL);
    memset(builder, 0, sizeof *builder);
}

void merkle_builder_add(struct merkle_builder *builder, const uint8_t leaf_hash[MERKLE_HASH_BYTES])
{
    merkle_builder_add_nodes(builder, leaf_hash, NULL, NULL);
}

void merkle_builder_add_nodes(struct merkle_builder *builder,
                              const uint8_t leaf_hash[MERKLE_HASH_BYTES],
                              merkle_completed_fn completed, void *context)
{
    MERKLE_REQUIRE(builder != NULL && leaf_hash != NULL && builder->size < UINT64_MAX);
    /* stack[0 .. popcount(size)) holds the complete subtrees left to right,
     * largest first. The new leaf merges with one of them per trailing one bit
     * of the old size: amortized one node hash per leaf. */
    size_t count = (size_t)__builtin_popcountll(builder->size);
    uint8_t hash[MERKLE_HASH_BYTES];
    uint8_t parent[MERKLE_HASH_BYTES];
    memcpy(hash, leaf_hash, MERKLE_HASH_BYTES);
    unsigned level = 0;
    for (uint64_t bits = builder->size; (bits & 1) != 0; bits >>= 1) {
        count--;
        crypto_node_hash(builder->stack[count], hash, parent);
        memcpy(hash, parent, MERKLE_HASH_BYTES);
        level++;
        if (completed != NULL) {
            /* The node over leaves [index << level, (index + 1) << level). */
            completed(context, level, builder->size >> level, hash);
        }
    }
    memcpy(builder->stack[count], hash, MERKLE_HASH_BYTES);
    builder->size++;
}

void merkle_builder_root(const struct merkle_builder *builder, uint8_t out[MERKLE_HASH_BYTES])
{
    MERKLE_REQUIRE(builder != NULL && out != NULL);
    if (builder->size == 0) {
        merkle_empty_root(out);
        return;
    }
    /* MTH of a size whose bits are k1 > k2 > ... is H(T(k1), MTH(rest)): fold
     * the stack from the right. */
    size_t count = (size_t)__builtin_popcountll(builder->size);
    uint8_t hash[MERKLE_HASH_BYTES];
    uint8_t parent[MERKLE_HASH_BYTES];
    memcpy(hash, builder->stack[count - 1], MERKLE_HASH_BYTES);
    for (size_t i = count - 1; i > 0; i--) {
        crypto_node_hash(builder->stack[i - 1], hash, parent);
        memcpy(hash, parent, MERKLE_HASH_BYTES);
    }
    memcpy(out, hash, MERKLE_HASH_BYTES);
}

/* --- the stored tree --------------------------------------------------------- */

static void node_key(unsigned level, uint64_t index, uint8_t key[MERKLE_NODE_KEY_BYTES])
{
    key[0] = (uint8_t)level;
    store_u64_to_key(index, key + 1);
}

/* The number of leaves in the stored tree; 0 when nothing was appended. */
static enum ledger_err stored_size(struct store_txn *txn, uint64_t *size_out)
{
    struct store_val value;
    enum ledger_err err = store_get(txn, STORE_DB_MERKLE, size_key, sizeof size_key, &value);
    if (err == LEDGER_ERR_NOT_FOUND) {
        *size_out = 0;
        return LEDGER_ERR_OK;
    }
    if (err != LEDGER_ERR_OK)
        return err;
    if (value.size != 8)
        return LEDGER_ERR_CORRUPT;
    *size_out = store_key_to_u64(value.data);
    return LEDGER_ERR_OK;
}

/* merkle_node_fn over the store; context is the transaction. A node the size
 * says must exist but does not is corruption. */
static enum ledger_err stored_node(void *context, unsigned level, uint64_t index,
                                   uint8_t out[MERKLE_HASH_BYTES])
{
    struct store_txn *txn = context;
    if (level == 0) {
        /* Leaves are the store's leaf hashes (sequence = index + 1). */
        enum ledger_err err =
            index < UINT64_MAX ? store_leaf(txn, index + 1, out) : LEDGER_ERR_CORRUPT;
        return err == LEDGER_ERR_NOT_FOUND ? LEDGER_ERR_CORRUPT : err;
    }
    uint8_t key[MERKLE_NODE_KEY_BYTES];
    node_key(level, index, key);
    struct store_val value;
    enum ledger_err err = store_get(txn, STORE_DB_MERKLE, key, sizeof key, &value);
    if (err == LEDGER_ERR_NOT_FOUND)
        return LEDGER_ERR_CORRUPT;
    if (err != LEDGER_ERR_OK)
        return err;
    if (value.size != MERKLE_HASH_BYTES)
        return LEDGER_ERR_CORRUPT;
    memcpy(out, value.data, MERKLE_HASH_BYTES);
    return LEDGER_ERR_OK;
}

static enum ledger_err put_node(struct store_txn *txn, unsigned level, uint64_t index,
                                const uint8_t hash[MERKLE_HASH_BYTES])
{
    uint8_t key[MERKLE_NODE_KEY_BYTES];
    node_key(level, index, key);
    return store_put(txn, STORE_DB_MERKLE, key, sizeof key, hash, MERKLE_HASH_BYTES);
}

static enum ledger_err put_size(struct store_txn *txn, uint64_t size)
{
    uint8_t size_value[8];
    store_u64_to_key(size, size_value);
    return store_put(txn, STORE_DB_MERKLE, size_key, sizeof size_key, size_value,
                     sizeof size_value);
}

enum ledger_err merkle_append(struct store_txn *txn, uint64_t sequence,
                              const uint8_t leaf_hash[MERKLE_HASH_BYTES])
{
    MERKLE_REQUIRE(txn != NULL && leaf_hash != NULL);
    uint64_t size = 0;
    enum ledger_err err = stored_size(txn, &size);
    if (err != LEDGER_ERR_OK)
        return err;
    if (size == UINT64_MAX || sequence != size + 1)
        return LEDGER_ERR_INVALID_ARGUMENT;
    uint64_t index = sequence - 1;
    unsigned level = 0;
    uint8_t hash[MERKLE_HASH_BYTES];
    memcpy(hash, leaf_hash, MERKLE_HASH_BYTES);
    /* Level 0 is the leaf database's hash of this sequence, which the store
     * wrote with the record; only interior nodes are stored here. A right
     * child (odd index) completes its parent; at most 63 levels. */
    while ((index & 1) != 0) {
        uint8_t left[MERKLE_HASH_BYTES];
        uint8_t parent[MERKLE_HASH_BYTES];
        err = stored_node(txn, level, index - 1, left);
        if (err != LEDGER_ERR_OK)
            return err;
        crypto_node_hash(left, hash, parent);
        memcpy(hash, parent, MERKLE_HASH_BYTES);
        index >>= 1;
        level++;
        err = put_node(txn, level, index, hash);
        if (err != LEDGER_ERR_OK)
            return err;
    }
    return put_size(txn, sequence);
}

void merkle_refill_init(struct merkle_refill *refill)
{
    MERKLE_REQUIRE(refill != NULL);
    memset(refill, 0, sizeof *refill);
    merkle_builder_init(&refill->builder);
}

/* The interior nodes one leaf completes, lowest level first. */
struct refill_nodes {
    uint8_t hashes[MERKLE_DEPTH_MAX][MERKLE_HASH_BYTES];
    size_t count;
};

/* merkle_completed_fn of merkle_refill_add: keeps the node for storing. */
static void refill_collect(void *context, unsigned level, uint64_t index,
                           const uint8_t hash[MERKLE_HASH_BYTES])
{
    struct refill_nodes *nodes = context;
    (void)index;
    MERKLE_REQUIRE(nodes->count + 1 == level && level < MERKLE_DEPTH_MAX);
    memcpy(nodes->hashes[nodes->count++], hash, MERKLE_HASH_BYTES);
}

/* Stores the interior nodes that the leaf of 0-based `leaf_index` completes:
 * the one of level L is at index leaf_index >> L. */
static enum ledger_err put_leaf_nodes(struct store_txn *txn, uint64_t leaf_index,
                                      const uint8_t (*nodes)[MERKLE_HASH_BYTES], size_t count)
{
    enum ledger_err err = LEDGER_ERR_OK;
    for (unsigned level = 1; err == LEDGER_ERR_OK && level <= count; level++)
        err = put_node(txn, level, leaf_index >> level, nodes[level - 1]);
    return err;
}

enum ledger_err merkle_refill_add(struct merkle_refill *refill, struct store_txn *txn,
                                  const uint8_t leaf_hash[MERKLE_HASH_BYTES])
{
    MERKLE_REQUIRE(refill != NULL && txn != NULL && leaf_hash != NULL);
    uint64_t leaf_index = refill->builder.size;
    struct refill_nodes nodes;
    nodes.count = 0;
    merkle_builder_add_nodes(&refill->builder, leaf_hash, refill_collect, &nodes);
    return put_leaf_nodes(txn, leaf_index, (const uint8_t(*)[MERKLE_HASH_BYTES])nodes.hashes,
                          nodes.count);
}

enum ledger_err merkle_refill_add_nodes(struct merkle_refill *refill, struct store_txn *txn,
                                        const uint8_t leaf_hash[MERKLE_HASH_BYTES],
                                        const uint8_t (*nodes)[MERKLE_HASH_BYTES],
                                        size_t node_count)
{
    MERKLE_REQUIRE(refill != NULL && txn != NULL && leaf_hash != NULL &&
                   (nodes != NULL || node_count == 0));
    struct merkle_builder *edge = &refill->builder;
    uint64_t leaf_index = edge->size;
    /* A leaf completes one node per trailing one bit of the size before it
     * (merkle_builder_add_nodes); the size is below UINT64_MAX, so ~size
     * has a set bit. */
    MERKLE_REQUIRE(leaf_index < UINT64_MAX && node_count == (size_t)__builtin_ctzll(~leaf_index));
    enum ledger_err err = put_leaf_nodes(txn, leaf_index, nodes, node_count);
    if (err != LEDGER_ERR_OK)
        return err;
    /* The right edge as merkle_builder_add_nodes leaves it: the node_count
     * subtrees the leaf merged with give way to the highest node it
     * completed (or to the leaf itself, when it completed none). */
    size_t count = (size_t)__builtin_popcountll(leaf_index) - node_count;
    memcpy(edge->stack[count], node_count > 0 ? nodes[node_count - 1] : leaf_hash,
           MERKLE_HASH_BYTES);
    edge->size++;
    return LEDGER_ERR_OK;
}

enum ledger_err merkle_refill_flush(const struct merkle_refill *refill, struct store_txn *txn)
{
    MERKLE_REQUIRE(refill != NULL && txn != NULL);
    return refill->builder.size == 0 ? LEDGER_ERR_OK : put_size(txn, refill->builder.size);
}

/* --- checking the stored tree against recomputed nodes ---------------------- */

struct merkle_check {
    struct store_txn *txn;
    struct store_cursor *cursors[MERKLE_DEPTH_MAX]; /* per level, opened on first use */
    uint64_t next_index[MERKLE_DEPTH_MAX];
    bool leaves_stored;  /* views layout 1: level 0 repeats the leaf hashes */
    enum ledger_err err; /* the first failure */
    unsigned bad_level;
    uint64_t bad_index;
};

enum ledger_err merkle_check_open(struct store_txn *txn, bool leaves_stored,
                                  struct merkle_check **out)
{
    MERKLE_REQUIRE(txn != NULL && out != NULL);
    struct merkle_check *check = calloc(1, sizeof *check);
    if (check == NULL)
        return LEDGER_ERR_NO_MEMORY;
    check->txn = txn;
    check->leaves_stored = leaves_stored;
    *out = check;
    return LEDGER_ERR_OK;
}

void merkle_check_close(struct merkle_check *check)
{
    if (check == NULL)
        return;
    for (unsigned level = 0; level < MERKLE_DEPTH_MAX; level++)
        store_cursor_close(check->cursors[level]);
    free(check);
}

static void check_fail(struct merkle_check *check, enum ledger_err err, unsigned level,
                       uint64_t index)
{
    check->err = err;
    check->bad_level = level;
    check->bad_index = index;
}

/* merkle_completed_fn: the stored node at (level, index) must be `hash`. Nodes
 * of one level complete in index order, so one cursor per level walks them
 * with no searches after the first. */
static void check_node(void *context, unsigned level, uint64_t index,
                       const uint8_t hash[MERKLE_HASH_BYTES])
{
    struct merkle_check *check = context;
    if (check->err != LEDGER_ERR_OK)
        return;
    MERKLE_REQUIRE((level >= 1 || check->leaves_stored) && level < MERKLE_DEPTH_MAX);
    uint8_t want[MERKLE_NODE_KEY_BYTES];
    node_key(level, index, want);
    struct store_val key, value;
    enum ledger_err err;
    if (check->cursors[level] == NULL || check->next_index[level] != index) {
        if (check->cursors[level] == NULL) {
            err = store_cursor_open(check->txn, STORE_DB_MERKLE, &check->cursors[level]);
            if (err != LEDGER_ERR_OK) {
                check_fail(check, err, level, index);
                return;
            }
        }
        err = store_cursor_seek(check->cursors[level], want, sizeof want, &key, &value);
    } else {
        err = store_cursor_next(check->cursors[level], &key, &value);
    }
    check->next_index[level] = index + 1;
    if (err == LEDGER_ERR_NOT_FOUND ||
        (err == LEDGER_ERR_OK &&
         (key.size != sizeof want || memcmp(key.data, want, sizeof want) != 0 ||
          value.size != MERKLE_HASH_BYTES || memcmp(value.data, hash, MERKLE_HASH_BYTES) != 0))) {
        /* Missing, malformed or different: hashes of public records, compared
         * plainly. */
        check_fail(check, LEDGER_ERR_CORRUPT, level, index);
    } else if (err != LEDGER_ERR_OK) {
        check_fail(check, err, level, index);
    }
}

enum ledger_err merkle_check_add(struct merkle_check *check, struct merkle_builder *builder,
                                 const uint8_t leaf_hash[MERKLE_HASH_BYTES], unsigned *level_out,
                                 uint64_t *index_out)
{
    MERKLE_REQUIRE(check != NULL && builder != NULL && level_out != NULL && index_out != NULL);
    if (check->err == LEDGER_ERR_OK && check->leaves_stored)
        check_node(check, 0, builder->size, leaf_hash);
    if (check->err == LEDGER_ERR_OK)
        merkle_builder_add_nodes(builder, leaf_hash, check_node, check);
    *level_out = check->bad_level;
    *index_out = check->bad_index;
    return check->err;
}

enum ledger_err merkle_check_finish(struct merkle_check *check, uint64_t tree_size,
                                    uint64_t *stored_out, uint64_t *expected_out)
{
    MERKLE_REQUIRE(check != NULL && stored_out != NULL && expected_out != NULL);
    if (check->err != LEDGER_ERR_OK)
        return check->err;
    /* floor(n / 2^L) complete nodes at each level L >= 1, and the size key;
     * in views layout 1 also the n leaf hashes as level 0. The empty tree
     * holds nothing, not even its size (no append wrote one). */
    uint64_t expected = tree_size == 0 ? 0 : check->leaves_stored ? 1 + tree_size : 1;
    for (unsigned level = 1; level < MERKLE_DEPTH_MAX && (tree_size >> level) > 0; level++)
        expected += tree_size >> level;
    uint64_t stored = 0, size = 0;
    enum ledger_err err = store_count(check->txn, STORE_DB_MERKLE, &stored);
    if (err == LEDGER_ERR_OK)
        err = stored_size(check->txn, &size);
    if (err != LEDGER_ERR_OK)
        return err;
    *stored_out = stored;
    *expected_out = expected;
    return stored == expected && size == tree_size ? LEDGER_ERR_OK : LEDGER_ERR_CORRUPT;
}

enum ledger_err merkle_store_size(struct store_txn *txn, uint64_t *size_out)
{
    MERKLE_REQUIRE(txn != NULL && size_out != NULL);
    return stored_size(txn, size_out);
}

enum ledger_err merkle_store_root(struct store_txn *txn, uint64_t tree_size,
                                  uint8_t out[MERKLE_HASH_BYTES])
{
    MERKLE_REQUIRE(txn != NULL && out != NULL);
    uint64_t size = 0;
    enum ledger_err err = stored_size(txn, &size);
    if (err != LEDGER_ERR_OK)
        return err;
    if (tree_size > size)
        return LEDGER_ERR_NOT_FOUND;
    return merkle_root(stored_node, txn, tree_size, out);
}

enum ledger_err merkle_store_inclusion(struct store_txn *txn, uint64_t sequence, uint64_t tree_size,
                                       uint8_t path[][MERKLE_HASH_BYTES], size_t *path_length_out)
{
    MERKLE_REQUIRE(txn != NULL && path != NULL && path_length_out != NULL);
    uint64_t size = 0;
    enum ledger_err err = stored_size(txn, &size);
    if (err != LEDGER_ERR_OK)
        return err;
    if (tree_size > size || sequence == 0 || sequence > tree_size)
        return LEDGER_ERR_NOT_FOUND;
    return merkle_inclusion_path(stored_node, txn, sequence - 1, tree_size, path, path_length_out);
}

enum ledger_err merkle_store_consistency(struct store_txn *txn, uint64_t from_size,
                                         uint64_t to_size, uint8_t path[][MERKLE_HASH_BYTES],
                                         size_t *path_length_out)
{
    MERKLE_REQUIRE(txn != NULL && path != NULL && path_length_out != NULL);
    if (from_size == 0 || from_size > to_size)
        return LEDGER_ERR_INVALID_ARGUMENT;
    uint64_t size = 0;
    enum ledger_err err = stored_size(txn, &size);
    if (err != LEDGER_ERR_OK)
        return err;
    if (to_size > size)
        return LEDGER_ERR_NOT_FOUND;
    return merkle_consistency_path(stored_node, txn, from_size, to_size, path, path_length_out);
}

void merkle_entry_origin(struct store_val key, struct store_val value, struct store_origin *out)
{
    MERKLE_REQUIRE(out != NULL);
    (void)value;
    struct store_key_reader reader;
    store_key_reader_init(&reader, key, out);
    if (key.size == sizeof size_key && key.data[0] == size_key[0]) {
        store_origin_append(out, "the tree size");
        return;
    }
    if (key.size != MERKLE_NODE_KEY_BYTES || key.data[0] == 0 || key.data[0] >= MERKLE_DEPTH_MAX) {
        (void)store_key_read_end(&reader, key); /* no key of a node: shown as bytes */
        return;
    }
    unsigned level = key.data[0];
    uint64_t index = store_key_to_u64(key.data + 1);
    char text[96];
    /* A node past the largest tree covers no sequence a u64 can name. */
    if (index < (UINT64_MAX >> level)) {
        out->sequence = (index << level) + 1;
        snprintf(text, sizeof text, "level %u index %llu (sequences %llu..%llu)", level,
                 (unsigned long long)index, (unsigned long long)out->sequence,
                 (unsigned long long)((index + 1) << level));
    } else {
        snprintf(text, sizeof text, "level %u index %llu", level, (unsigned long long)index);
    }
    store_origin_append(out, text);
}

/* --- signed tree heads ------------------------------------------------------- */

static void put_u64_be(uint64_t value, uint8_t out[8])
{
    for (int i = 7; i >= 0; i--) {
        out[i] = (uint8_t)(value & 0xFF);
        value >>= 8;
    }
}

void merkle_head_encode(uint64_t tree_size, const uint8_t root[MERKLE_HASH_BYTES],
                        int64_t timestamp_us, uint8_t out[MERKLE_HEAD_BYTES])
{
    MERKLE_REQUIRE(root != NULL && out != NULL);
    memcpy(out, head_tag, sizeof head_tag);
    put_u64_be(tree_size, out + 16);
    memcpy(out + 24, root, MERKLE_HASH_BYTES);
    /* Two's complement, as the wire's int64: a negative time (never produced)
     * would still encode unambiguously. */
    put_u64_be((uint64_t)timestamp_us, out + 56);
}

bool merkle_head_verify(uint64_t tree_size, const uint8_t root[MERKLE_HASH_BYTES],
                        int64_t timestamp_us, const uint8_t *signature, const uint8_t *public_key)
{
    MERKLE_REQUIRE(signature != NULL && public_key != NULL);
    uint8_t encoded[MERKLE_HEAD_BYTES];
    merkle_head_encode(tree_size, root, timestamp_us, encoded);
    return crypto_ed25519_verify(public_key, encoded, sizeof encoded, signature);
}
