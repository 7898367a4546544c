/*
 * fuzz_proof.c: libFuzzer target for the Merkle tree's proofs
 * (daemon/merkle.c): the paths the daemon builds and the verification an
 * auditor's tools run on paths they must not trust.
 *
 * Method: byte 0 picks the mode.
 *   0 (and 4, 8, ...): a real tree of 1..256 distinct leaves (bytes 1..24
 *      give the tree size n, a leaf index i and an earlier size m; byte 28
 *      varies the leaves), its complete subtrees computed from the leaves;
 *   1: a tree of any size up to 2^64 - 1 whose leaves are all alike, so that
 *      every complete subtree of a level has the same hash and the proofs of
 *      sizes near 2^64 can be built and checked in O(log n);
 *   2, 3: raw: a tree size, an index, a leaf, two roots and a path of up to
 *      MERKLE_PATH_MAX + 2 hashes, all taken from the input as they are.
 * In modes 0 and 1 the root of n and of m, the inclusion path of leaf i in
 * n and the consistency path from m to n are built with merkle_root,
 * merkle_inclusion_path and merkle_consistency_path, then verified as they
 * are and after one change picked by bytes 25..27: one bit of one path hash,
 * of the leaf or of a root flipped, the last hash dropped, a hash added.
 *
 * Checked: no crash or undefined behaviour; the path builders ask only for
 * complete subtrees of the tree of the size given; in mode 0 merkle_root
 * equals the in-memory builder's root; a genuine path verifies and no path
 * with any of those changes does; a path longer than MERKLE_PATH_MAX never
 * verifies; verification of raw input returns (true or false) without
 * reading past the path it was given.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "fuzz_support.h"
#include "merkle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SMALL_TREE_MAX 256

struct tree {
    uint64_t size;
    bool uniform;
    uint8_t leaves[SMALL_TREE_MAX][MERKLE_HASH_BYTES];
    uint8_t level_hash[64][MERKLE_HASH_BYTES]; /* uniform: every subtree of a level */
};

static uint64_t read_u64(const uint8_t *data, size_t size, size_t at)
{
    uint64_t value = 0;
    for (size_t i = 0; i < 8; i++) {
        value = value << 8 | (at + i < size ? data[at + i] : 0);
    }
    return value;
}

static enum ledger_err subtree(const struct tree *tree, unsigned level, uint64_t index,
                               uint8_t out[MERKLE_HASH_BYTES])
{
    if (tree->uniform) {
        memcpy(out, tree->level_hash[level], MERKLE_HASH_BYTES);
        return LEDGER_ERR_OK;
    }
    if (level == 0) {
        memcpy(out, tree->leaves[index], MERKLE_HASH_BYTES);
        return LEDGER_ERR_OK;
    }
    uint8_t left[MERKLE_HASH_BYTES], right[MERKLE_HASH_BYTES];
    if (subtree(tree, level - 1, 2 * index, left) != LEDGER_ERR_OK ||
        subtree(tree, level - 1, 2 * index + 1, right) != LEDGER_ERR_OK) {
        return LEDGER_ERR_INTERNAL;
    }
    crypto_node_hash(left, right, out);
    return LEDGER_ERR_OK;
}

/* merkle_node_fn: only complete subtrees of the tree, as merkle.h promises. */
static enum ledger_err node(void *context, unsigned level, uint64_t index,
                            uint8_t out[MERKLE_HASH_BYTES])
{
    const struct tree *tree = context;
    FUZZ_CHECK(level < 64);
    FUZZ_CHECK(index < (tree->size >> level));
    return subtree(tree, level, index, out);
}

static void flip(uint8_t hash[MERKLE_HASH_BYTES], uint8_t bit)
{
    hash[(bit / 8) % MERKLE_HASH_BYTES] ^= (uint8_t)(1u << (bit % 8));
}

/* What one change does to a proof: each must make it fail. */
enum change { CHANGE_PATH_BIT, CHANGE_LEAF_OR_FROM_ROOT, CHANGE_ROOT, CHANGE_DROP, CHANGE_ADD };
#define CHANGE_COUNT 5

/* Applies the change `choice` picks to a proof: to its path (of *length
 * hashes; one more fits), to `first` (the leaf, or the old root) or to
 * `second` (the root); an added hash is a copy of `second`. False when the
 * change does not apply (an empty path has no hash to flip or drop). */
static bool apply_change(const uint8_t *choice, uint8_t path[][MERKLE_HASH_BYTES], size_t *length,
                         uint8_t first[MERKLE_HASH_BYTES], uint8_t second[MERKLE_HASH_BYTES])
{
    switch ((enum change)(choice[0] % CHANGE_COUNT)) {
    case CHANGE_PATH_BIT:
        if (*length == 0) {
            return false;
        }
        flip(path[choice[1] % *length], choice[2]);
        return true;
    case CHANGE_LEAF_OR_FROM_ROOT:
        flip(first, choice[2]);
        return true;
    case CHANGE_ROOT:
        flip(second, choice[2]);
        return true;
    case CHANGE_DROP:
        if (*length == 0) {
            return false;
        }
        (*length)--;
        return true;
    case CHANGE_ADD:
        memcpy(path[(*length)++], second, MERKLE_HASH_BYTES);
        return true;
    }
    return false;
}

static void check_inclusion(struct tree *tree, uint64_t index,
                            const uint8_t root[MERKLE_HASH_BYTES], const uint8_t *choice)
{
    static uint8_t path[MERKLE_PATH_MAX + 1][MERKLE_HASH_BYTES];
    size_t length = 0;
    FUZZ_CHECK(merkle_inclusion_path(node, tree, index, tree->size, path, &length) ==
               LEDGER_ERR_OK);
    FUZZ_CHECK(length <= 64);
    uint8_t leaf[MERKLE_HASH_BYTES], changed_root[MERKLE_HASH_BYTES];
    FUZZ_CHECK(subtree(tree, 0, index, leaf) == LEDGER_ERR_OK);
    memcpy(changed_root, root, MERKLE_HASH_BYTES);
    FUZZ_CHECK(merkle_verify_inclusion(leaf, index, tree->size, path, length, root));
    /* The index must lie in the tree. */
    FUZZ_CHECK(!merkle_verify_inclusion(leaf, tree->size, tree->size, path, length, root));
    if (apply_change(choice, path, &length, leaf, changed_root)) {
        FUZZ_CHECK(!merkle_verify_inclusion(leaf, index, tree->size, path, length, changed_root));
    }
}

static void check_consistency(struct tree *tree, uint64_t from_size,
                              const uint8_t to_root[MERKLE_HASH_BYTES], const uint8_t *choice)
{
    static uint8_t path[MERKLE_PATH_MAX + 1][MERKLE_HASH_BYTES];
    size_t length = 0;
    uint8_t from_root[MERKLE_HASH_BYTES], changed_to_root[MERKLE_HASH_BYTES];
    FUZZ_CHECK(merkle_root(node, tree, from_size, from_root) == LEDGER_ERR_OK);
    FUZZ_CHECK(merkle_consistency_path(node, tree, from_size, tree->size, path, &length) ==
               LEDGER_ERR_OK);
    FUZZ_CHECK(length <= MERKLE_PATH_MAX);
    FUZZ_CHECK(from_size != tree->size || length == 0);
    FUZZ_CHECK(merkle_verify_consistency(from_size, tree->size, from_root, to_root, path, length));
    /* The empty tree proves nothing. */
    FUZZ_CHECK(!merkle_verify_consistency(0, tree->size, from_root, to_root, path, length));
    memcpy(changed_to_root, to_root, MERKLE_HASH_BYTES);
    /* In a tree of alike leaves, the old root of a power-of-two size is also
     * a subtree of the new one: flipping it must still fail. */
    if (apply_change(choice, path, &length, from_root, changed_to_root)) {
        FUZZ_CHECK(!merkle_verify_consistency(from_size, tree->size, from_root, changed_to_root,
                                              path, length));
    }
}

static void built_proofs(const uint8_t *data, size_t size, bool uniform)
{
    static struct tree tree;
    tree.uniform = uniform;
    uint64_t n = read_u64(data, size, 1), i = read_u64(data, size, 9), m = read_u64(data, size, 17);
    const uint8_t choice[3] = {size > 25 ? data[25] : 0, size > 26 ? data[26] : 0,
                               size > 27 ? data[27] : 0};
    uint8_t variant = size > 28 ? data[28] : 0;
    if (uniform) {
        tree.size = n == 0 ? 1 : n;
        uint8_t record[1] = {variant};
        merkle_leaf_hash(record, sizeof record, tree.level_hash[0]);
        for (unsigned level = 1; level < 64; level++) {
            crypto_node_hash(tree.level_hash[level - 1], tree.level_hash[level - 1],
                             tree.level_hash[level]);
        }
    } else {
        tree.size = 1 + n % SMALL_TREE_MAX;
        for (uint64_t k = 0; k < tree.size; k++) {
            uint8_t record[9] = {variant};
            for (int b = 0; b < 8; b++) {
                record[1 + b] = (uint8_t)(k >> (8 * b));
            }
            merkle_leaf_hash(record, sizeof record, tree.leaves[k]);
        }
    }
    uint64_t index = i % tree.size;
    uint64_t from_size = 1 + m % tree.size;

    uint8_t root[MERKLE_HASH_BYTES];
    FUZZ_CHECK(merkle_root(node, &tree, tree.size, root) == LEDGER_ERR_OK);
    if (!uniform) {
        struct merkle_builder builder;
        merkle_builder_init(&builder);
        for (uint64_t k = 0; k < tree.size; k++) {
            merkle_builder_add(&builder, tree.leaves[k]);
        }
        uint8_t built[MERKLE_HASH_BYTES];
        merkle_builder_root(&builder, built);
        FUZZ_CHECK(memcmp(built, root, MERKLE_HASH_BYTES) == 0);
    }
    check_inclusion(&tree, index, root, choice);
    check_consistency(&tree, from_size, root, choice);
}

/* Raw input straight into the verifiers. */
static void raw_proofs(const uint8_t *data, size_t size)
{
    uint64_t tree_size = read_u64(data, size, 1), index = read_u64(data, size, 9);
    size_t at = 17;
    uint8_t leaf[MERKLE_HASH_BYTES] = {0}, root[MERKLE_HASH_BYTES] = {0},
            other_root[MERKLE_HASH_BYTES] = {0};
    uint8_t *fields[3] = {leaf, root, other_root};
    for (size_t f = 0; f < 3; f++) {
        size_t take = size > at ? size - at : 0;
        take = take < MERKLE_HASH_BYTES ? take : MERKLE_HASH_BYTES;
        memcpy(fields[f], data + at, take);
        at += take;
    }
    size_t length = size > at ? (size - at) / MERKLE_HASH_BYTES : 0;
    if (length > MERKLE_PATH_MAX + 2) {
        length = MERKLE_PATH_MAX + 2;
    }
    /* An exact-size copy, so that ASan catches any read past the path. */
    uint8_t(*path)[MERKLE_HASH_BYTES] = malloc(length > 0 ? length * MERKLE_HASH_BYTES : 1);
    FUZZ_CHECK(path != NULL);
    if (length > 0) {
        memcpy(path, data + at, length * MERKLE_HASH_BYTES);
    }
    bool included =
        merkle_verify_inclusion(leaf, index, tree_size, (const uint8_t(*)[32])path, length, root);
    bool consistent = merkle_verify_consistency(index, tree_size, root, other_root,
                                                (const uint8_t(*)[32])path, length);
    if (length > MERKLE_PATH_MAX) {
        FUZZ_CHECK(!included && !consistent);
    }
    if (index >= tree_size) {
        FUZZ_CHECK(!included);
    }
    if (index == 0 || index > tree_size) {
        FUZZ_CHECK(!consistent);
    }
    free(path);
    (void)merkle_head_root_possible(tree_size, root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    switch (data[0] % 4) {
    case 0:
        built_proofs(data, size, false);
        break;
    case 1:
        built_proofs(data, size, true);
        break;
    default:
        raw_proofs(data, size);
        break;
    }
    return 0;
}
