/*
 * test_merkle.c: the Merkle tree of daemon/merkle.h is RFC 6962's, its proofs
 * verify exactly when they should (RFC 9162), and the stored tree agrees with
 * the in-memory one.
 *
 * Method: (1) the Certificate Transparency reference vectors (eight leaf
 * inputs, the roots of sizes 0..8, published inclusion paths and consistency
 * proofs); (2) a reference implementation written straight from RFC 6962's
 * recursive definitions (MTH, PATH, SUBPROOF), compared with the O(log n)
 * algorithms for every leaf and every pair of sizes up to 70; (3) an in-memory
 * node source that answers only complete subtrees and counts its calls, to show
 * the algorithms never ask for anything else and stay logarithmic, up to a tree
 * of 100003 leaves; (4) tampering of every kind (a flipped bit in each path
 * element, wrong index, wrong sizes, wrong roots, short and long paths) refused;
 * (5) the signed head's exact bytes; (6) the stored tree in a fresh LMDB data
 * directory, filled in one and in several transactions, against the in-memory
 * answers, before and after reopening.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "crypto.h"
#include "merkle.h"
#include "store.h"
#include "test_util.h"

typedef uint8_t hash_bytes[MERKLE_HASH_BYTES];

/* --- helpers ------------------------------------------------------------- */

static void from_hex(const char *hex, uint8_t out[MERKLE_HASH_BYTES])
{
    assert_int_equal(crypto_unhex(hex, out, MERKLE_HASH_BYTES), LEDGER_ERR_OK);
}

static void assert_hash_hex(const uint8_t hash[MERKLE_HASH_BYTES], const char *expected)
{
    char hex[2 * MERKLE_HASH_BYTES + 1];
    crypto_hex(hash, MERKLE_HASH_BYTES, hex);
    assert_string_equal(hex, expected);
}

static void put_be64(uint64_t value, uint8_t out[8])
{
    for (int i = 7; i >= 0; i--) {
        out[i] = (uint8_t)value;
        value >>= 8;
    }
}

/* The leaf hash of the test record number i: its 8 bytes, big-endian. */
static void test_leaf(uint64_t i, uint8_t out[MERKLE_HASH_BYTES])
{
    uint8_t record[8];
    put_be64(i, record);
    merkle_leaf_hash(record, sizeof record, out);
}

static hash_bytes *make_leaves(uint64_t count)
{
    hash_bytes *leaves = malloc((size_t)(count ? count : 1) * sizeof *leaves);
    assert_non_null(leaves);
    for (uint64_t i = 0; i < count; i++)
        test_leaf(i, leaves[i]);
    return leaves;
}

/* --- the reference: RFC 6962 section 2.1, recursively -------------------- */

static uint64_t ref_split(uint64_t n)
{
    uint64_t k = 1;
    while (k * 2 < n)
        k *= 2;
    return k;
}

static void ref_mth(const hash_bytes *leaves, uint64_t n, uint8_t out[MERKLE_HASH_BYTES])
{
    if (n == 0) {
        crypto_sha256("", 0, out);
        return;
    }
    if (n == 1) {
        memcpy(out, leaves[0], MERKLE_HASH_BYTES);
        return;
    }
    uint64_t k = ref_split(n);
    uint8_t left[MERKLE_HASH_BYTES];
    uint8_t right[MERKLE_HASH_BYTES];
    ref_mth(leaves, k, left);
    ref_mth(leaves + k, n - k, right);
    crypto_node_hash(left, right, out);
}

/* PATH(m, D[n]) appended to path at *length. */
static void ref_path(uint64_t m, const hash_bytes *leaves, uint64_t n, hash_bytes *path,
                     size_t *length)
{
    if (n <= 1)
        return;
    uint64_t k = ref_split(n);
    if (m < k) {
        ref_path(m, leaves, k, path, length);
        ref_mth(leaves + k, n - k, path[(*length)++]);
    } else {
        ref_path(m - k, leaves + k, n - k, path, length);
        ref_mth(leaves, k, path[(*length)++]);
    }
}

/* SUBPROOF(m, D[n], b) appended to path at *length. */
static void ref_subproof(uint64_t m, const hash_bytes *leaves, uint64_t n, bool b, hash_bytes *path,
                         size_t *length)
{
    if (m == n) {
        if (!b)
            ref_mth(leaves, n, path[(*length)++]);
        return;
    }
    uint64_t k = ref_split(n);
    if (m <= k) {
        ref_subproof(m, leaves, k, b, path, length);
        ref_mth(leaves + k, n - k, path[(*length)++]);
    } else {
        ref_subproof(m - k, leaves + k, n - k, false, path, length);
        ref_mth(leaves, k, path[(*length)++]);
    }
}

/* --- an in-memory node source -------------------------------------------- */

/* Every complete subtree of a tree of `size` leaves, level by level. It refuses
 * (INTERNAL) any node that is not complete, which the tests turn into a
 * failure, and counts the calls. */
struct memtree {
    uint64_t size;
    unsigned level_count;
    hash_bytes *levels[64];
    uint64_t calls;
    enum ledger_err fail_with; /* OK, or an error every call returns */
    /* OK, or an error only the node (fail_level, fail_index) returns. */
    enum ledger_err fail_node_with;
    unsigned fail_level;
    uint64_t fail_index;
    /* The nodes asked for, in order, while logging (at most NODE_LOG_MAX). */
    bool logging;
    size_t logged;
    unsigned log_level[256];
    uint64_t log_index[256];
};
#define NODE_LOG_MAX 256

static void memtree_init(struct memtree *tree, const hash_bytes *leaves, uint64_t size)
{
    memset(tree, 0, sizeof *tree);
    tree->size = size;
    for (unsigned level = 0; level < 64 && (size >> level) > 0; level++) {
        uint64_t count = size >> level;
        tree->levels[level] = malloc((size_t)count * sizeof(hash_bytes));
        assert_non_null(tree->levels[level]);
        for (uint64_t i = 0; i < count; i++) {
            if (level == 0)
                memcpy(tree->levels[0][i], leaves[i], MERKLE_HASH_BYTES);
            else
                crypto_node_hash(tree->levels[level - 1][2 * i], tree->levels[level - 1][2 * i + 1],
                                 tree->levels[level][i]);
        }
        tree->level_count = level + 1;
    }
}

static void memtree_free(struct memtree *tree)
{
    for (unsigned level = 0; level < tree->level_count; level++)
        free(tree->levels[level]);
    memset(tree, 0, sizeof *tree);
}

static enum ledger_err memtree_node(void *context, unsigned level, uint64_t index,
                                    uint8_t out[MERKLE_HASH_BYTES])
{
    struct memtree *tree = context;
    tree->calls++;
    if (tree->fail_with != LEDGER_ERR_OK)
        return tree->fail_with;
    if (tree->fail_node_with != LEDGER_ERR_OK && level == tree->fail_level &&
        index == tree->fail_index)
        return tree->fail_node_with;
    if (tree->logging) {
        assert_true(tree->logged < NODE_LOG_MAX);
        tree->log_level[tree->logged] = level;
        tree->log_index[tree->logged++] = index;
    }
    if (level >= tree->level_count || index >= (tree->size >> level))
        return LEDGER_ERR_INTERNAL;
    memcpy(out, tree->levels[level][index], MERKLE_HASH_BYTES);
    return LEDGER_ERR_OK;
}

static unsigned bit_length(uint64_t n)
{
    unsigned bits = 0;
    while (n > 0) {
        bits++;
        n >>= 1;
    }
    return bits;
}

/* --- the Certificate Transparency reference vectors ---------------------- */

static const uint8_t ct_input_0[] = {0};
static const uint8_t ct_input_1[] = {0x00};
static const uint8_t ct_input_2[] = {0x10};
static const uint8_t ct_input_3[] = {0x20, 0x21};
static const uint8_t ct_input_4[] = {0x30, 0x31};
static const uint8_t ct_input_5[] = {0x40, 0x41, 0x42, 0x43};
static const uint8_t ct_input_6[] = {0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57};
static const uint8_t ct_input_7[] = {0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67,
                                     0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f};
static const struct {
    const uint8_t *data;
    size_t size;
} ct_inputs[8] = {
    {ct_input_0, 0}, /* the empty input */
    {ct_input_1, sizeof ct_input_1},
    {ct_input_2, sizeof ct_input_2},
    {ct_input_3, sizeof ct_input_3},
    {ct_input_4, sizeof ct_input_4},
    {ct_input_5, sizeof ct_input_5},
    {ct_input_6, sizeof ct_input_6},
    {ct_input_7, sizeof ct_input_7},
};

/* MTH of the first n inputs, n = 0..8. */
static const char *const ct_roots[9] = {
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

static void ct_leaves(hash_bytes leaves[8])
{
    for (size_t i = 0; i < 8; i++)
        merkle_leaf_hash(ct_inputs[i].data, ct_inputs[i].size, leaves[i]);
}

struct ct_proof_vector {
    uint64_t a; /* leaf index, or from_size */
    uint64_t b; /* tree size, or to_size */
    size_t length;
    const char *path[3];
};

static const struct ct_proof_vector ct_inclusion[] = {
    {0, 1, 0, {NULL}},
    {0, 2, 1, {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"}},
    {1, 2, 1, {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"}},
    {2, 3, 1, {"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"}},
    {1,
     5,
     3,
     {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
    {0,
     8,
     3,
     {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
    {5,
     8,
     3,
     {"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
};

static const struct ct_proof_vector ct_consistency[] = {
    {1, 1, 0, {NULL}},
    {1,
     8,
     3,
     {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
    {6,
     8,
     3,
     {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    {2,
     5,
     2,
     {"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
};

/* --- pure algorithms: vectors -------------------------------------------- */

static int setup(void **state)
{
    (void)state;
    return crypto_init() == LEDGER_ERR_OK ? 0 : -1;
}

static void test_merkle_empty_root(void **state)
{
    (void)state;
    uint8_t root[MERKLE_HASH_BYTES];
    merkle_empty_root(root);
    assert_hash_hex(root, ct_roots[0]);
    struct memtree tree;
    memtree_init(&tree, NULL, 0);
    memset(root, 0, sizeof root);
    assert_int_equal(merkle_root(memtree_node, &tree, 0, root), LEDGER_ERR_OK);
    assert_hash_hex(root, ct_roots[0]);
    assert_int_equal(tree.calls, 0);
    memtree_free(&tree);
    /* A head of size 0 must carry this root; a head of any other size may
     * carry any. */
    assert_true(merkle_head_root_possible(0, root));
    assert_true(merkle_head_root_possible(1, root));
    root[31] ^= 1;
    assert_false(merkle_head_root_possible(0, root));
    assert_true(merkle_head_root_possible(1, root));
}

static void test_merkle_rfc6962_roots(void **state)
{
    (void)state;
    hash_bytes leaves[8];
    ct_leaves(leaves);
    struct memtree tree;
    memtree_init(&tree, (const hash_bytes *)leaves, 8);
    struct merkle_builder builder;
    merkle_builder_init(&builder);
    for (uint64_t n = 0; n <= 8; n++) {
        uint8_t root[MERKLE_HASH_BYTES];
        assert_int_equal(merkle_root(memtree_node, &tree, n, root), LEDGER_ERR_OK);
        assert_hash_hex(root, ct_roots[n]);
        merkle_builder_root(&builder, root);
        assert_hash_hex(root, ct_roots[n]);
        ref_mth((const hash_bytes *)leaves, n, root);
        assert_hash_hex(root, ct_roots[n]);
        if (n < 8)
            merkle_builder_add(&builder, leaves[n]);
    }
    memtree_free(&tree);
}

/* Either proof's path function: merkle_inclusion_path or
 * merkle_consistency_path. */
typedef enum ledger_err (*proof_path_fn)(merkle_node_fn node, void *context, uint64_t a, uint64_t b,
                                         uint8_t path[][MERKLE_HASH_BYTES],
                                         size_t *path_length_out);

/* Asks `path_of` for the path of `vector` over `tree` (borrowed), checks it
 * is the published one, and decodes the published hashes into `expected`. */
static void expect_published_path(proof_path_fn path_of, struct memtree *tree,
                                  const struct ct_proof_vector *vector,
                                  uint8_t expected[3][MERKLE_HASH_BYTES])
{
    uint8_t path[MERKLE_PATH_MAX][MERKLE_HASH_BYTES];
    size_t length = 999;
    assert_int_equal(path_of(memtree_node, tree, vector->a, vector->b, path, &length),
                     LEDGER_ERR_OK);
    assert_int_equal(length, vector->length);
    for (size_t i = 0; i < length; i++) {
        assert_hash_hex(path[i], vector->path[i]);
        from_hex(vector->path[i], expected[i]);
    }
}

static void test_merkle_rfc6962_inclusion_vectors(void **state)
{
    (void)state;
    hash_bytes leaves[8];
    ct_leaves(leaves);
    struct memtree tree;
    memtree_init(&tree, (const hash_bytes *)leaves, 8);
    for (size_t v = 0; v < sizeof ct_inclusion / sizeof ct_inclusion[0]; v++) {
        const struct ct_proof_vector *vector = &ct_inclusion[v];
        uint8_t expected[3][MERKLE_HASH_BYTES];
        expect_published_path(merkle_inclusion_path, &tree, vector, expected);
        uint8_t root[MERKLE_HASH_BYTES];
        from_hex(ct_roots[vector->b], root);
        assert_true(merkle_verify_inclusion(leaves[vector->a], vector->a, vector->b,
                                            (const uint8_t(*)[MERKLE_HASH_BYTES])expected,
                                            vector->length, root));
        /* The published path with a wrong index, a doubled or halved size, or
         * the wrong root. */
        const uint8_t(*published)[MERKLE_HASH_BYTES] =
            (const uint8_t(*)[MERKLE_HASH_BYTES])expected;
        assert_false(merkle_verify_inclusion(leaves[vector->a], vector->a + 1, vector->b, published,
                                             vector->length, root));
        assert_false(merkle_verify_inclusion(leaves[vector->a], vector->a ^ 2, vector->b, published,
                                             vector->length, root));
        assert_false(merkle_verify_inclusion(leaves[vector->a], vector->a, vector->b * 2, published,
                                             vector->length, root));
        assert_false(merkle_verify_inclusion(leaves[vector->a], vector->a, vector->b / 2, published,
                                             vector->length, root));
        uint8_t empty[MERKLE_HASH_BYTES];
        merkle_empty_root(empty);
        assert_false(merkle_verify_inclusion(leaves[vector->a], vector->a, vector->b, published,
                                             vector->length, empty));
        assert_false(
            merkle_verify_inclusion(empty, vector->a, vector->b, published, vector->length, root));
    }
    memtree_free(&tree);
}

static void test_merkle_rfc6962_consistency_vectors(void **state)
{
    (void)state;
    hash_bytes leaves[8];
    ct_leaves(leaves);
    struct memtree tree;
    memtree_init(&tree, (const hash_bytes *)leaves, 8);
    for (size_t v = 0; v < sizeof ct_consistency / sizeof ct_consistency[0]; v++) {
        const struct ct_proof_vector *vector = &ct_consistency[v];
        uint8_t expected[3][MERKLE_HASH_BYTES];
        expect_published_path(merkle_consistency_path, &tree, vector, expected);
        uint8_t from_root[MERKLE_HASH_BYTES];
        uint8_t to_root[MERKLE_HASH_BYTES];
        from_hex(ct_roots[vector->a], from_root);
        from_hex(ct_roots[vector->b], to_root);
        const uint8_t(*published)[MERKLE_HASH_BYTES] =
            (const uint8_t(*)[MERKLE_HASH_BYTES])expected;
        assert_true(merkle_verify_consistency(vector->a, vector->b, from_root, to_root, published,
                                              vector->length));
        if (vector->a != vector->b) {
            assert_false(merkle_verify_consistency(vector->a, vector->b, to_root, from_root,
                                                   published, vector->length));
            assert_false(merkle_verify_consistency(vector->a, vector->b, from_root, from_root,
                                                   published, vector->length));
        }
    }
    memtree_free(&tree);
}

/* --- pure algorithms against the reference -------------------------------- */

static void check_tree_against_reference(const hash_bytes *leaves, uint64_t n, struct memtree *tree,
                                         bool all_consistency)
{
    uint8_t root[MERKLE_HASH_BYTES];
    uint8_t expected_root[MERKLE_HASH_BYTES];
    assert_int_equal(merkle_root(memtree_node, tree, n, root), LEDGER_ERR_OK);
    ref_mth(leaves, n, expected_root);
    assert_memory_equal(root, expected_root, MERKLE_HASH_BYTES);

    for (uint64_t i = 0; i < n; i++) {
        uint8_t path[MERKLE_PATH_MAX][MERKLE_HASH_BYTES];
        hash_bytes expected[MERKLE_PATH_MAX];
        size_t length = 0;
        size_t expected_length = 0;
        assert_int_equal(merkle_inclusion_path(memtree_node, tree, i, n, path, &length),
                         LEDGER_ERR_OK);
        ref_path(i, leaves, n, expected, &expected_length);
        assert_int_equal(length, expected_length);
        assert_memory_equal(path, expected, length * MERKLE_HASH_BYTES);
        assert_true(merkle_verify_inclusion(
            leaves[i], i, n, (const uint8_t(*)[MERKLE_HASH_BYTES])path, length, root));
    }
    uint64_t from_first = all_consistency ? 1 : n;
    for (uint64_t m = from_first; m <= n; m++) {
        uint8_t path[MERKLE_PATH_MAX][MERKLE_HASH_BYTES];
        hash_bytes expected[MERKLE_PATH_MAX];
        size_t length = 0;
        size_t expected_length = 0;
        assert_int_equal(merkle_consistency_path(memtree_node, tree, m, n, path, &length),
                         LEDGER_ERR_OK);
        if (m < n)
            ref_subproof(m, leaves, n, true, expected, &expected_length);
        assert_int_equal(length, expected_length);
        assert_memory_equal(path, expected, length * MERKLE_HASH_BYTES);
        uint8_t from_root[MERKLE_HASH_BYTES];
        ref_mth(leaves, m, from_root);
        assert_true(merkle_verify_consistency(m, n, from_root, root,
                                              (const uint8_t(*)[MERKLE_HASH_BYTES])path, length));
    }
}

static void test_merkle_matches_reference_sizes_1_to_70(void **state)
{
    (void)state;
    const uint64_t size_max = 70;
    hash_bytes *leaves = make_leaves(size_max);
    struct memtree tree;
    memtree_init(&tree, (const hash_bytes *)leaves, size_max);
    for (uint64_t n = 1; n <= size_max; n++)
        check_tree_against_reference((const hash_bytes *)leaves, n, &tree, true);
    memtree_free(&tree);
    free(leaves);
}

static void test_merkle_named_sizes(void **state)
{
    (void)state;
    /* The sizes around the first powers of two, each in a tree of exactly its
     * own size (no larger tree's nodes to lean on). */
    const uint64_t sizes[] = {1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        hash_bytes *leaves = make_leaves(sizes[s]);
        struct memtree tree;
        memtree_init(&tree, (const hash_bytes *)leaves, sizes[s]);
        check_tree_against_reference((const hash_bytes *)leaves, sizes[s], &tree, true);
        memtree_free(&tree);
        free(leaves);
    }
}

/* --- tampering ------------------------------------------------------------ */

static void test_merkle_inclusion_tampering_refused(void **state)
{
    (void)state;
    const uint64_t size_max = 40;
    hash_bytes *leaves = make_leaves(2 * size_max + 2);
    struct memtree tree;
    memtree_init(&tree, (const hash_bytes *)leaves, 2 * size_max + 2);
    uint8_t some_hash[MERKLE_HASH_BYTES];
    crypto_sha256("some other hash", 15, some_hash);
    for (uint64_t n = 1; n <= size_max; n++) {
        uint8_t root[MERKLE_HASH_BYTES];
        assert_int_equal(merkle_root(memtree_node, &tree, n, root), LEDGER_ERR_OK);
        for (uint64_t i = 0; i < n; i++) {
            uint8_t path[MERKLE_PATH_MAX + 1][MERKLE_HASH_BYTES];
            size_t length = 0;
            assert_int_equal(merkle_inclusion_path(memtree_node, &tree, i, n, path, &length),
                             LEDGER_ERR_OK);
            const uint8_t(*proof)[MERKLE_HASH_BYTES] = (const uint8_t(*)[MERKLE_HASH_BYTES])path;
            assert_true(merkle_verify_inclusion(leaves[i], i, n, proof, length, root));

            /* A flipped bit anywhere in the path. */
            for (size_t e = 0; e < length; e++) {
                for (unsigned bit = 0; bit < 8 * MERKLE_HASH_BYTES; bit += 37) {
                    path[e][bit / 8] ^= (uint8_t)(1u << (bit % 8));
                    assert_false(merkle_verify_inclusion(leaves[i], i, n, proof, length, root));
                    path[e][bit / 8] ^= (uint8_t)(1u << (bit % 8));
                }
            }
            /* Every other index, including past the end. */
            for (uint64_t j = 0; j < n + 2; j++) {
                if (j != i)
                    assert_false(merkle_verify_inclusion(leaves[i], j, n, proof, length, root));
            }
            assert_false(merkle_verify_inclusion(leaves[i], UINT64_MAX, n, proof, length, root));
            /* Other sizes, each with its own true root: only a path that is
             * also the true path for that size may verify. */
            for (uint64_t other = 1; other <= 2 * n + 2; other++) {
                if (other == n)
                    continue;
                uint8_t other_root[MERKLE_HASH_BYTES];
                assert_int_equal(merkle_root(memtree_node, &tree, other, other_root),
                                 LEDGER_ERR_OK);
                bool same_path = false;
                if (i < other) {
                    uint8_t other_path[MERKLE_PATH_MAX][MERKLE_HASH_BYTES];
                    size_t other_length = 0;
                    assert_int_equal(merkle_inclusion_path(memtree_node, &tree, i, other,
                                                           other_path, &other_length),
                                     LEDGER_ERR_OK);
                    same_path = other_length == length &&
                                memcmp(other_path, path, length * MERKLE_HASH_BYTES) == 0;
                }
                assert_false(same_path);
                assert_false(
                    merkle_verify_inclusion(leaves[i], i, other, proof, length, other_root));
            }
            assert_false(merkle_verify_inclusion(leaves[i], i, 0, proof, length, root));
            /* The wrong leaf, the wrong root. */
            assert_false(merkle_verify_inclusion(leaves[i + 1], i, n, proof, length, root));
            assert_false(merkle_verify_inclusion(leaves[i], i, n, proof, length, some_hash));
            /* A path one short, one long (garbage or the root at either end). */
            if (length > 0) {
                assert_false(merkle_verify_inclusion(leaves[i], i, n, proof, length - 1, root));
                assert_false(merkle_verify_inclusion(leaves[i], i, n, proof + 1, length - 1, root));
            }
            memcpy(path[length], some_hash, MERKLE_HASH_BYTES);
            assert_false(merkle_verify_inclusion(leaves[i], i, n, proof, length + 1, root));
            memcpy(path[length], root, MERKLE_HASH_BYTES);
            assert_false(merkle_verify_inclusion(leaves[i], i, n, proof, length + 1, root));
            uint8_t shifted[MERKLE_PATH_MAX + 1][MERKLE_HASH_BYTES];
            memcpy(shifted[0], root, MERKLE_HASH_BYTES);
            memcpy(shifted[1], path, length * MERKLE_HASH_BYTES);
            assert_false(merkle_verify_inclusion(
                leaves[i], i, n, (const uint8_t(*)[MERKLE_HASH_BYTES])shifted, length + 1, root));
        }
    }
    memtree_free(&tree);
    free(leaves);
}

static void test_merkle_consistency_tampering_refused(void **state)
{
    (void)state;
    const uint64_t size_max = 40;
    hash_bytes *leaves = make_leaves(size_max + 2);
    struct memtree tree;
    memtree_init(&tree, (const hash_bytes *)leaves, size_max + 2);
    hash_bytes roots[42 + 1];
    for (uint64_t n = 0; n <= size_max + 2; n++)
        assert_int_equal(merkle_root(memtree_node, &tree, n, roots[n]), LEDGER_ERR_OK);
    uint8_t some_hash[MERKLE_HASH_BYTES];
    crypto_sha256("some other hash", 15, some_hash);

    for (uint64_t n = 1; n <= size_max; n++) {
        for (uint64_t m = 1; m <= n; m++) {
            uint8_t path[MERKLE_PATH_MAX + 1][MERKLE_HASH_BYTES];
            size_t length = 0;
            assert_int_equal(merkle_consistency_path(memtree_node, &tree, m, n, path, &length),
                             LEDGER_ERR_OK);
            const uint8_t(*proof)[MERKLE_HASH_BYTES] = (const uint8_t(*)[MERKLE_HASH_BYTES])path;
            assert_true(merkle_verify_consistency(m, n, roots[m], roots[n], proof, length));

            for (size_t e = 0; e < length; e++) {
                for (unsigned bit = 0; bit < 8 * MERKLE_HASH_BYTES; bit += 53) {
                    path[e][bit / 8] ^= (uint8_t)(1u << (bit % 8));
                    assert_false(
                        merkle_verify_consistency(m, n, roots[m], roots[n], proof, length));
                    path[e][bit / 8] ^= (uint8_t)(1u << (bit % 8));
                }
            }
            /* Other sizes with their own true roots. */
            for (uint64_t other_m = 1; other_m <= n; other_m++) {
                if (other_m != m)
                    assert_false(merkle_verify_consistency(other_m, n, roots[other_m], roots[n],
                                                           proof, length));
            }
            for (uint64_t other_n = m; other_n <= size_max + 2; other_n++) {
                if (other_n != n)
                    assert_false(merkle_verify_consistency(m, other_n, roots[m], roots[other_n],
                                                           proof, length));
            }
            /* Wrong roots. */
            assert_false(merkle_verify_consistency(m, n, some_hash, roots[n], proof, length));
            assert_false(merkle_verify_consistency(m, n, roots[m], some_hash, proof, length));
            if (m != n)
                assert_false(merkle_verify_consistency(m, n, roots[n], roots[m], proof, length));
            /* Impossible sizes. */
            assert_false(merkle_verify_consistency(0, n, roots[0], roots[n], proof, length));
            assert_false(
                merkle_verify_consistency(n + 1, n, roots[n + 1], roots[n], proof, length));
            /* Short and long paths. */
            if (length > 0) {
                assert_false(
                    merkle_verify_consistency(m, n, roots[m], roots[n], proof, length - 1));
                assert_false(
                    merkle_verify_consistency(m, n, roots[m], roots[n], proof + 1, length - 1));
            }
            memcpy(path[length], some_hash, MERKLE_HASH_BYTES);
            assert_false(merkle_verify_consistency(m, n, roots[m], roots[n], proof, length + 1));
            memcpy(path[length], roots[n], MERKLE_HASH_BYTES);
            assert_false(merkle_verify_consistency(m, n, roots[m], roots[n], proof, length + 1));
        }
    }
    memtree_free(&tree);
    free(leaves);
}

static void test_merkle_consistency_edge_cases(void **state)
{
    (void)state;
    hash_bytes *leaves = make_leaves(8);
    struct memtree tree;
    memtree_init(&tree, (const hash_bytes *)leaves, 8);
    uint8_t path[MERKLE_PATH_MAX][MERKLE_HASH_BYTES];
    const uint8_t(*proof)[MERKLE_HASH_BYTES] = (const uint8_t(*)[MERKLE_HASH_BYTES])path;
    uint8_t root5[MERKLE_HASH_BYTES];
    uint8_t root6[MERKLE_HASH_BYTES];
    uint8_t empty[MERKLE_HASH_BYTES];
    assert_int_equal(merkle_root(memtree_node, &tree, 5, root5), LEDGER_ERR_OK);
    assert_int_equal(merkle_root(memtree_node, &tree, 6, root6), LEDGER_ERR_OK);
    merkle_empty_root(empty);

    /* Equal sizes: the empty proof, valid only for equal roots. */
    size_t length = 999;
    assert_int_equal(merkle_consistency_path(memtree_node, &tree, 5, 5, path, &length),
                     LEDGER_ERR_OK);
    assert_int_equal(length, 0);
    assert_true(merkle_verify_consistency(5, 5, root5, root5, proof, 0));
    assert_false(merkle_verify_consistency(5, 5, root5, root6, proof, 0));
    memcpy(path[0], root5, MERKLE_HASH_BYTES);
    assert_false(merkle_verify_consistency(5, 5, root5, root5, proof, 1));

    /* From the empty tree: refused to produce, never verifies. */
    length = 999;
    assert_int_equal(merkle_consistency_path(memtree_node, &tree, 0, 5, path, &length),
                     LEDGER_ERR_INVALID_ARGUMENT);
    assert_int_equal(length, 999);
    assert_int_equal(merkle_consistency_path(memtree_node, &tree, 0, 0, path, &length),
                     LEDGER_ERR_INVALID_ARGUMENT);
    assert_false(merkle_verify_consistency(0, 5, empty, root5, proof, 0));
    assert_false(merkle_verify_consistency(0, 0, empty, empty, proof, 0));

    /* Shrinking trees. */
    assert_int_equal(merkle_consistency_path(memtree_node, &tree, 6, 5, path, &length),
                     LEDGER_ERR_INVALID_ARGUMENT);
    assert_int_equal(length, 999);
    assert_false(merkle_verify_consistency(6, 5, root6, root5, proof, 0));

    /* An empty path for different sizes (RFC 9162 step 1), even when the old
     * size is a power of two whose root would be the first element. */
    uint8_t root4[MERKLE_HASH_BYTES];
    assert_int_equal(merkle_root(memtree_node, &tree, 4, root4), LEDGER_ERR_OK);
    assert_false(merkle_verify_consistency(4, 5, root4, root5, proof, 0));

    /* An over-long path is refused before it is read. */
    assert_false(merkle_verify_consistency(5, 6, root5, root6, proof, MERKLE_PATH_MAX + 1));
    assert_false(merkle_verify_consistency(5, 6, root5, root6, NULL, 3));
    /* No old or no new root proves nothing (and is not read). */
    assert_int_equal(merkle_consistency_path(memtree_node, &tree, 5, 6, path, &length),
                     LEDGER_ERR_OK);
    assert_true(merkle_verify_consistency(5, 6, root5, root6, proof, length));
    assert_false(merkle_verify_consistency(5, 6, NULL, root6, proof, length));
    assert_false(merkle_verify_consistency(5, 6, root5, NULL, proof, length));
    assert_false(merkle_verify_consistency(5, 5, NULL, NULL, proof, 0));
    memtree_free(&tree);
    free(leaves);
}

static void test_merkle_inclusion_edge_cases(void **state)
{
    (void)state;
    hash_bytes *leaves = make_leaves(8);
    struct memtree tree;
    memtree_init(&tree, (const hash_bytes *)leaves, 8);
    uint8_t path[MERKLE_PATH_MAX][MERKLE_HASH_BYTES];
    const uint8_t(*proof)[MERKLE_HASH_BYTES] = (const uint8_t(*)[MERKLE_HASH_BYTES])path;
    size_t length = 999;
    assert_int_equal(merkle_inclusion_path(memtree_node, &tree, 5, 5, path, &length),
                     LEDGER_ERR_INVALID_ARGUMENT);
    assert_int_equal(merkle_inclusion_path(memtree_node, &tree, 0, 0, path, &length),
                     LEDGER_ERR_INVALID_ARGUMENT);
    assert_int_equal(merkle_inclusion_path(memtree_node, &tree, UINT64_MAX, 8, path, &length),
                     LEDGER_ERR_INVALID_ARGUMENT);
    assert_int_equal(length, 999);

    /* A one-leaf tree: the leaf is the root, the path is empty. */
    assert_int_equal(merkle_inclusion_path(memtree_node, &tree, 0, 1, path, &length),
                     LEDGER_ERR_OK);
    assert_int_equal(length, 0);
    assert_true(merkle_verify_inclusion(leaves[0], 0, 1, proof, 0, leaves[0]));
    assert_false(merkle_verify_inclusion(leaves[0], 0, 1, proof, 0, leaves[1]));
    assert_false(merkle_verify_inclusion(leaves[0], 1, 1, proof, 0, leaves[0]));
    assert_false(merkle_verify_inclusion(leaves[0], 0, 0, proof, 0, leaves[0]));
    assert_false(merkle_verify_inclusion(leaves[0], 0, 2, proof, 0, leaves[0]));

    /* Over-long and missing paths. */
    uint8_t root[MERKLE_HASH_BYTES];
    assert_int_equal(merkle_root(memtree_node, &tree, 8, root), LEDGER_ERR_OK);
    assert_false(merkle_verify_inclusion(leaves[0], 0, 8, proof, MERKLE_PATH_MAX + 1, root));
    assert_false(merkle_verify_inclusion(leaves[0], 0, 8, NULL, 3, root));
    /* No leaf or no root proves nothing (and is not read). */
    assert_int_equal(merkle_inclusion_path(memtree_node, &tree, 0, 8, path, &length),
                     LEDGER_ERR_OK);
    assert_true(merkle_verify_inclusion(leaves[0], 0, 8, proof, length, root));
    assert_false(merkle_verify_inclusion(NULL, 0, 8, proof, length, root));
    assert_false(merkle_verify_inclusion(leaves[0], 0, 8, proof, length, NULL));
    memtree_free(&tree);
    free(leaves);
}

/* The deepest inclusion path, 64 hashes (the first leaf of a tree of 2^63 + 1
 * leaves: 63 siblings inside the left half, then the lone right leaf), verifies;
 * one hash more is refused. */
static void test_merkle_inclusion_deepest_path(void **state)
{
    (void)state;
    uint8_t path[MERKLE_PATH_MAX][MERKLE_HASH_BYTES];
    const uint8_t(*proof)[MERKLE_HASH_BYTES] = (const uint8_t(*)[MERKLE_HASH_BYTES])path;
    uint8_t leaf[MERKLE_HASH_BYTES];
    uint8_t root[MERKLE_HASH_BYTES];
    uint8_t parent[MERKLE_HASH_BYTES];
    test_leaf(0, leaf);
    memcpy(root, leaf, sizeof root);
    for (uint64_t i = 0; i < 65; i++) {
        test_leaf(i + 1, path[i]);
        if (i < 64) {
            crypto_node_hash(root, path[i], parent);
            memcpy(root, parent, sizeof root);
        }
    }
    uint64_t size = (UINT64_C(1) << 63) + 1;
    assert_true(merkle_verify_inclusion(leaf, 0, size, proof, 64, root));
    assert_false(merkle_verify_inclusion(leaf, 0, size, proof, 63, root));
    assert_false(merkle_verify_inclusion(leaf, 0, size, proof, 65, root));
    assert_false(merkle_verify_inclusion(leaf, 0, size - 1, proof, 64, root));
}

static void test_merkle_node_errors_pass_through(void **state)
{
    (void)state;
    hash_bytes *leaves = make_leaves(8);
    struct memtree tree;
    memtree_init(&tree, (const hash_bytes *)leaves, 8);
    tree.fail_with = LEDGER_ERR_STORAGE_ERROR;
    uint8_t root[MERKLE_HASH_BYTES];
    uint8_t untouched[MERKLE_HASH_BYTES];
    memset(root, 0x77, sizeof root);
    memcpy(untouched, root, sizeof root);
    assert_int_equal(merkle_root(memtree_node, &tree, 7, root), LEDGER_ERR_STORAGE_ERROR);
    assert_memory_equal(root, untouched, sizeof root);
    uint8_t path[MERKLE_PATH_MAX][MERKLE_HASH_BYTES];
    size_t length = 999;
    assert_int_equal(merkle_inclusion_path(memtree_node, &tree, 3, 7, path, &length),
                     LEDGER_ERR_STORAGE_ERROR);
    assert_int_equal(merkle_consistency_path(memtree_node, &tree, 3, 7, path, &length),
                     LEDGER_ERR_STORAGE_ERROR);
    assert_int_equal(length, 999);
    memtree_free(&tree);
    free(leaves);
}

/* What a single-node failure run asks of the tree. */
enum proof_kind { PROOF_ROOT, PROOF_INCLUSION, PROOF_CONSISTENCY };

static enum ledger_err proof_run(struct memtree *tree, enum proof_kind kind, uint64_t a, uint64_t n,
                                 uint8_t out[][MERKLE_HASH_BYTES], size_t *length)
{
    switch (kind) {
    case PROOF_ROOT:
        return merkle_root(memtree_node, tree, n, out[0]);
    case PROOF_INCLUSION:
        return merkle_inclusion_path(memtree_node, tree, a, n, out, length);
    default:
        return merkle_consistency_path(memtree_node, tree, a, n, out, length);
    }
}

/* A node source that fails for one node only (a damaged store: one node
 * missing): whichever node of a root or a proof it is, the first asked or
 * the last (such as the old tree's root that opens a consistency proof from
 * a size that is no power of two), its error comes back unchanged and
 * nothing is written. Every root, inclusion path and consistency proof of
 * sizes 1..33. */
static void test_merkle_single_node_error_passes_through(void **state)
{
    (void)state;
    const uint64_t size_max = 33;
    hash_bytes *leaves = make_leaves(size_max);
    struct memtree tree;
    memtree_init(&tree, (const hash_bytes *)leaves, size_max);
    static uint8_t out[MERKLE_PATH_MAX][MERKLE_HASH_BYTES];
    static uint8_t untouched[MERKLE_PATH_MAX][MERKLE_HASH_BYTES];
    memset(untouched, 0x5A, sizeof untouched);
    uint64_t failures = 0;
    for (uint64_t n = 1; n <= size_max; n++) {
        for (int kind = PROOF_ROOT; kind <= PROOF_CONSISTENCY; kind++) {
            uint64_t cases = kind == PROOF_ROOT ? 1 : n;
            for (uint64_t c = 0; c < cases; c++) {
                /* A leaf index 0..n-1, or an old size 1..n. */
                uint64_t a = kind == PROOF_CONSISTENCY ? c + 1 : c;
                size_t length = 0;
                tree.logging = true;
                tree.logged = 0;
                assert_int_equal(proof_run(&tree, (enum proof_kind)kind, a, n, out, &length),
                                 LEDGER_ERR_OK);
                tree.logging = false;
                for (size_t k = 0; k < tree.logged; k++) {
                    tree.fail_node_with = LEDGER_ERR_CORRUPT;
                    tree.fail_level = tree.log_level[k];
                    tree.fail_index = tree.log_index[k];
                    memcpy(out, untouched, sizeof out);
                    length = 999;
                    assert_int_equal(proof_run(&tree, (enum proof_kind)kind, a, n, out, &length),
                                     LEDGER_ERR_CORRUPT);
                    assert_int_equal(length, 999);
                    assert_memory_equal(out, untouched, sizeof out);
                    failures++;
                }
                tree.fail_node_with = LEDGER_ERR_OK;
            }
        }
    }
    /* Every run of more than one leaf or size asked for a node at least (33
     * roots, 560 inclusion paths in trees of 2 leaves or more, 528
     * consistency proofs between different sizes). */
    assert_true(failures >= 33 + 560 + 528);
    memtree_free(&tree);
    free(leaves);
}

/* --- a large tree, and the number of node reads ----------------------------- */

static void test_merkle_large_tree_100003(void **state)
{
    (void)state;
    const uint64_t n = 100003;
    hash_bytes *leaves = make_leaves(n);
    struct memtree tree;
    memtree_init(&tree, (const hash_bytes *)leaves, n);

    uint8_t root[MERKLE_HASH_BYTES];
    uint8_t expected[MERKLE_HASH_BYTES];
    assert_int_equal(merkle_root(memtree_node, &tree, n, root), LEDGER_ERR_OK);
    ref_mth((const hash_bytes *)leaves, n, expected);
    assert_memory_equal(root, expected, sizeof root);
    struct merkle_builder builder;
    merkle_builder_init(&builder);
    for (uint64_t i = 0; i < n; i++)
        merkle_builder_add(&builder, leaves[i]);
    merkle_builder_root(&builder, expected);
    assert_memory_equal(root, expected, sizeof root);

    /* Every leaf's path verifies, and costs O(log n) node reads. */
    const uint64_t calls_max = 2 * (uint64_t)bit_length(n) + 2;
    for (uint64_t i = 0; i < n; i++) {
        uint8_t path[MERKLE_PATH_MAX][MERKLE_HASH_BYTES];
        size_t length = 0;
        tree.calls = 0;
        assert_int_equal(merkle_inclusion_path(memtree_node, &tree, i, n, path, &length),
                         LEDGER_ERR_OK);
        assert_true(tree.calls <= calls_max);
        assert_true(merkle_verify_inclusion(
            leaves[i], i, n, (const uint8_t(*)[MERKLE_HASH_BYTES])path, length, root));
    }
    /* A few paths against the reference. */
    const uint64_t sample[] = {0, 1, 65535, 65536, 65537, 99999, 100000, 100002};
    for (size_t s = 0; s < sizeof sample / sizeof sample[0]; s++) {
        uint8_t path[MERKLE_PATH_MAX][MERKLE_HASH_BYTES];
        hash_bytes reference[MERKLE_PATH_MAX];
        size_t length = 0;
        size_t reference_length = 0;
        assert_int_equal(merkle_inclusion_path(memtree_node, &tree, sample[s], n, path, &length),
                         LEDGER_ERR_OK);
        ref_path(sample[s], (const hash_bytes *)leaves, n, reference, &reference_length);
        assert_int_equal(length, reference_length);
        assert_memory_equal(path, reference, length * MERKLE_HASH_BYTES);
    }
    /* Consistency from many old sizes, against roots from the builder. */
    merkle_builder_init(&builder);
    uint64_t next_check = 1;
    for (uint64_t m = 1; m <= n; m++) {
        merkle_builder_add(&builder, leaves[m - 1]);
        if (m != next_check && m != n && m != 65536 && m != 65537 && m != n - 1)
            continue;
        next_check = next_check * 3 / 2 + 1;
        uint8_t from_root[MERKLE_HASH_BYTES];
        merkle_builder_root(&builder, from_root);
        uint8_t path[MERKLE_PATH_MAX][MERKLE_HASH_BYTES];
        size_t length = 0;
        tree.calls = 0;
        assert_int_equal(merkle_consistency_path(memtree_node, &tree, m, n, path, &length),
                         LEDGER_ERR_OK);
        assert_true(tree.calls <= 3 * (uint64_t)bit_length(n) + 2);
        assert_true(merkle_verify_consistency(m, n, from_root, root,
                                              (const uint8_t(*)[MERKLE_HASH_BYTES])path, length));
        if (length > 0) {
            path[length - 1][0] ^= 1;
            assert_false(merkle_verify_consistency(
                m, n, from_root, root, (const uint8_t(*)[MERKLE_HASH_BYTES])path, length));
        }
        tree.calls = 0;
        uint8_t root_m[MERKLE_HASH_BYTES];
        assert_int_equal(merkle_root(memtree_node, &tree, m, root_m), LEDGER_ERR_OK);
        assert_true(tree.calls <= (uint64_t)bit_length(m));
        assert_memory_equal(root_m, from_root, sizeof root_m);
    }
    memtree_free(&tree);
    free(leaves);
}

/* --- the builder ----------------------------------------------------------- */

static void test_merkle_builder_matches_every_size(void **state)
{
    (void)state;
    const uint64_t size_max = 600;
    hash_bytes *leaves = make_leaves(size_max);
    struct memtree tree;
    memtree_init(&tree, (const hash_bytes *)leaves, size_max);
    struct merkle_builder builder;
    merkle_builder_init(&builder);
    for (uint64_t n = 0; n <= size_max; n++) {
        uint8_t built[MERKLE_HASH_BYTES];
        uint8_t computed[MERKLE_HASH_BYTES];
        assert_int_equal(builder.size, n);
        merkle_builder_root(&builder, built);
        assert_int_equal(merkle_root(memtree_node, &tree, n, computed), LEDGER_ERR_OK);
        assert_memory_equal(built, computed, sizeof built);
        if (n < size_max)
            merkle_builder_add(&builder, leaves[n]);
    }
    memtree_free(&tree);
    free(leaves);
}

/* --- signed heads ---------------------------------------------------------- */

static void test_merkle_head_encoding_bytes(void **state)
{
    (void)state;
    uint8_t root[MERKLE_HASH_BYTES];
    from_hex(ct_roots[3], root);
    uint8_t head[MERKLE_HEAD_BYTES];
    assert_int_equal(MERKLE_HEAD_BYTES, 64);
    /* 2026-01-01T00:00:00Z. */
    merkle_head_encode(3, root, INT64_C(1767225600000000), head);
    char hex[2 * MERKLE_HEAD_BYTES + 1];
    crypto_hex(head, sizeof head, hex);
    assert_string_equal(hex, "6c65646765722e76312e686561640000"
                             "0000000000000003"
                             "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"
                             "0006474846204000");
    assert_memory_equal(head, "ledger.v1.head\0\0", 16);

    /* Large values and a negative time encode big-endian, two's complement. */
    merkle_head_encode(UINT64_C(0x0102030405060708), root, INT64_C(-2), head);
    crypto_hex(head + 16, 8, hex);
    assert_string_equal(hex, "0102030405060708");
    crypto_hex(head + 56, 8, hex);
    assert_string_equal(hex, "fffffffffffffffe");
}

/* The worked examples of docs/verification.md, value for value, so that the
 * document an independent verifier is written from cannot drift from the
 * code: the three-record tree (leaves, roots), its signed head's bytes and
 * RFC 8032 TEST 1 signature, and the proofs worked through step by step. */
static void test_merkle_verification_doc_examples(void **state)
{
    (void)state;
    static const char *const leaf_hex[3] = {
        "262cf3685946c0805ab8ef6b221d3aa6ff4018e4f9967552c48f575d0b41022e",
        "697ac0da637a4d63975eeec4d0114ca918111c81b7b2c0dd7f9be63f9ec40b40",
        "21b653b252d8c6241958f09e5b9ad2f4afb0bafec5da2d528fa19349f5a4fbf6",
    };
    hash_bytes leaves[3];
    struct merkle_builder builder;
    merkle_builder_init(&builder);
    hash_bytes roots[4];
    merkle_builder_root(&builder, roots[0]);
    assert_hash_hex(roots[0], "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    for (int i = 0; i < 3; i++) {
        const uint8_t record[2] = {0x08, (uint8_t)(i + 1)}; /* Event{sequence: i + 1} */
        crypto_sha256_prefixed(0x00, record, sizeof record, leaves[i]);
        assert_hash_hex(leaves[i], leaf_hex[i]);
        merkle_builder_add(&builder, leaves[i]);
        merkle_builder_root(&builder, roots[i + 1]);
    }
    assert_hash_hex(roots[1], leaf_hex[0]);
    assert_hash_hex(roots[2], "a7c531bd6a510badada524af6f72210c3f7ddb1779ddbd132acabeceba84f816");
    assert_hash_hex(roots[3], "bb019f7c92e858173644b7a37a5dde1f61f4d03a26fcc02a7282fad244214320");

    /* The signed head of size 3 at 2026-01-01T00:00:00Z. */
    uint8_t head[MERKLE_HEAD_BYTES];
    merkle_head_encode(3, roots[3], INT64_C(1767225600000000), head);
    char hex[2 * MERKLE_HEAD_BYTES + 1];
    crypto_hex(head, sizeof head, hex);
    assert_string_equal(hex, "6c65646765722e76312e686561640000"
                             "0000000000000003"
                             "bb019f7c92e858173644b7a37a5dde1f61f4d03a26fcc02a7282fad244214320"
                             "0006474846204000");
    /* RFC 8032 section 7.1 TEST 1: libsodium's secret key is seed || public. */
    uint8_t secret_key[CRYPTO_SIGN_SECRET_BYTES], public_key[CRYPTO_SIGN_PUBLIC_BYTES];
    assert_int_equal(
        crypto_unhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
                     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
                     secret_key, sizeof secret_key),
        LEDGER_ERR_OK);
    memcpy(public_key, secret_key + 32, sizeof public_key);
    uint8_t signature[CRYPTO_SIGNATURE_BYTES];
    crypto_ed25519_sign(secret_key, head, sizeof head, signature);
    char signature_hex[2 * CRYPTO_SIGNATURE_BYTES + 1];
    crypto_hex(signature, sizeof signature, signature_hex);
    assert_string_equal(signature_hex,
                        "c14b50ee37ce238281b067f048b48c3485c7d8ab14eaeba31c702739cc7aefa4"
                        "5fb1470790300dff94efa8b49dc48071150feaaca52ff30f903cdbe2b2fc5400");
    assert_true(crypto_ed25519_verify(public_key, head, sizeof head, signature));

    /* Inclusion of record 1 in the tree of size 3: path [L_2, L_3]. */
    hash_bytes path[3];
    memcpy(path[0], leaves[1], MERKLE_HASH_BYTES);
    memcpy(path[1], leaves[2], MERKLE_HASH_BYTES);
    assert_true(merkle_verify_inclusion(leaves[0], 0, 3, (const hash_bytes *)path, 2, roots[3]));
    /* Consistency 2 -> 3: path [L_3]; 1 -> 3: path [L_2, L_3]. */
    memcpy(path[0], leaves[2], MERKLE_HASH_BYTES);
    assert_true(merkle_verify_consistency(2, 3, roots[2], roots[3], (const hash_bytes *)path, 1));
    memcpy(path[0], leaves[1], MERKLE_HASH_BYTES);
    memcpy(path[1], leaves[2], MERKLE_HASH_BYTES);
    assert_true(merkle_verify_consistency(1, 3, roots[1], roots[3], (const hash_bytes *)path, 2));

    /* The deeper examples on the reference inputs: leaf index 5 in size 8. */
    from_hex("4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658", leaves[0]);
    from_hex("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b", path[0]);
    from_hex("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0", path[1]);
    from_hex("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7", path[2]);
    hash_bytes size6, size8;
    from_hex("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef", size6);
    from_hex("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328", size8);
    assert_true(merkle_verify_inclusion(leaves[0], 5, 8, (const hash_bytes *)path, 3, size8));
    /* Consistency 6 -> 8. */
    from_hex("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a", path[0]);
    assert_true(merkle_verify_consistency(6, 8, size6, size8, (const hash_bytes *)path, 3));
}

static void test_merkle_head_signature(void **state)
{
    (void)state;
    uint8_t public_key[CRYPTO_SIGN_PUBLIC_BYTES];
    uint8_t secret_key[CRYPTO_SIGN_SECRET_BYTES];
    crypto_ed25519_keypair(public_key, secret_key);
    uint8_t root[MERKLE_HASH_BYTES];
    from_hex(ct_roots[8], root);
    uint8_t head[MERKLE_HEAD_BYTES];
    uint8_t signature[CRYPTO_SIGNATURE_BYTES];
    merkle_head_encode(8, root, INT64_C(1767225600000000), head);
    crypto_ed25519_sign(secret_key, head, sizeof head, signature);
    assert_true(crypto_ed25519_verify(public_key, head, sizeof head, signature));
    /* Another size, root or time is another message. */
    uint8_t other[MERKLE_HEAD_BYTES];
    merkle_head_encode(7, root, INT64_C(1767225600000000), other);
    assert_false(crypto_ed25519_verify(public_key, other, sizeof other, signature));
    merkle_head_encode(8, root, INT64_C(1767225600000001), other);
    assert_false(crypto_ed25519_verify(public_key, other, sizeof other, signature));
    root[31] ^= 1;
    merkle_head_encode(8, root, INT64_C(1767225600000000), other);
    assert_false(crypto_ed25519_verify(public_key, other, sizeof other, signature));
    crypto_wipe(secret_key, sizeof secret_key);
}

/* --- the stored tree ----------------------------------------------------------- */

#define STORE_TEST_LEAVES 1500

struct store_fixture {
    char root[4096];
    char dir[4200];
    struct store *store;
    hash_bytes *leaves; /* the test leaves, STORE_TEST_LEAVES of them */
    struct memtree tree;
};

static struct store_options store_fixture_options(const struct store_fixture *f)
{
    struct store_options options = {
        .dir = f->dir,
        .map_bytes = 16 * 1024 * 1024,
        .map_bytes_max = 256 * 1024 * 1024,
        .no_sync = true,
    };
    return options;
}

static int store_setup(void **state)
{
    struct store_fixture *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    test_make_dir(f->root, sizeof f->root, "test_merkle");
    snprintf(f->dir, sizeof f->dir, "%s/data", f->root);
    struct store_options options = store_fixture_options(f);
    if (store_open(&options, &f->store) != LEDGER_ERR_OK) {
        test_remove_dir(f->root);
        free(f);
        return -1;
    }
    f->leaves = make_leaves(STORE_TEST_LEAVES);
    memtree_init(&f->tree, (const hash_bytes *)f->leaves, STORE_TEST_LEAVES);
    *state = f;
    return 0;
}

static int store_teardown(void **state)
{
    struct store_fixture *f = *state;
    if (f->store != NULL)
        store_close(f->store);
    test_remove_dir(f->root);
    memtree_free(&f->tree);
    free(f->leaves);
    free(f);
    return 0;
}

static void store_reopen(struct store_fixture *f)
{
    store_close(f->store);
    f->store = NULL;
    struct store_options options = store_fixture_options(f);
    assert_int_equal(store_open(&options, &f->store), LEDGER_ERR_OK);
}

/* Appends test records first .. last (sequences) in one write transaction, as
 * the engine does: the log's append gives the leaf hash, the tree takes it. */
static void store_append_range(struct store_fixture *f, uint64_t first, uint64_t last)
{
    struct store_txn *txn = NULL;
    assert_int_equal(store_begin(f->store, true, &txn), LEDGER_ERR_OK);
    for (uint64_t sequence = first; sequence <= last; sequence++) {
        uint8_t record[8];
        put_be64(sequence - 1, record);
        uint64_t appended = 0;
        uint8_t leaf[STORE_HASH_BYTES];
        assert_int_equal(store_append(txn, record, sizeof record, &appended, leaf), LEDGER_ERR_OK);
        assert_int_equal(appended, sequence);
        /* The store's leaf hash is the tree's leaf hash of the same bytes. */
        assert_memory_equal(leaf, f->leaves[sequence - 1], MERKLE_HASH_BYTES);
        assert_int_equal(merkle_append(txn, sequence, leaf), LEDGER_ERR_OK);
    }
    assert_int_equal(store_commit(txn), LEDGER_ERR_OK);
}

/* The stored tree of `size` leaves answers exactly as the in-memory one: the
 * root of every size, every inclusion path of the full size and of a few
 * smaller ones, and consistency between many pairs. */
static void store_check_against_memory(struct store_fixture *f, uint64_t size, bool thorough)
{
    struct store_txn *txn = NULL;
    assert_int_equal(store_begin(f->store, false, &txn), LEDGER_ERR_OK);
    uint64_t stored = 999;
    assert_int_equal(merkle_store_size(txn, &stored), LEDGER_ERR_OK);
    assert_int_equal(stored, size);
    for (uint64_t t = 0; t <= size; t++) {
        if (!thorough && t != size && t > 70 && t % 97 != 0)
            continue;
        uint8_t stored_root[MERKLE_HASH_BYTES];
        uint8_t memory_root[MERKLE_HASH_BYTES];
        assert_int_equal(merkle_store_root(txn, t, stored_root), LEDGER_ERR_OK);
        assert_int_equal(merkle_root(memtree_node, &f->tree, t, memory_root), LEDGER_ERR_OK);
        assert_memory_equal(stored_root, memory_root, MERKLE_HASH_BYTES);
    }
    const uint64_t tree_sizes[] = {size, size / 2 + 1, 1, 7, 64, 65};
    for (size_t s = 0; s < sizeof tree_sizes / sizeof tree_sizes[0]; s++) {
        uint64_t t = tree_sizes[s];
        if (t == 0 || t > size)
            continue;
        uint8_t root[MERKLE_HASH_BYTES];
        assert_int_equal(merkle_store_root(txn, t, root), LEDGER_ERR_OK);
        for (uint64_t sequence = 1; sequence <= t; sequence++) {
            if (!thorough && s > 0 && sequence % 13 != 1)
                continue;
            uint8_t stored_path[MERKLE_PATH_MAX][MERKLE_HASH_BYTES];
            uint8_t memory_path[MERKLE_PATH_MAX][MERKLE_HASH_BYTES];
            size_t stored_length = 0;
            size_t memory_length = 0;
            assert_int_equal(merkle_store_inclusion(txn, sequence, t, stored_path, &stored_length),
                             LEDGER_ERR_OK);
            assert_int_equal(merkle_inclusion_path(memtree_node, &f->tree, sequence - 1, t,
                                                   memory_path, &memory_length),
                             LEDGER_ERR_OK);
            assert_int_equal(stored_length, memory_length);
            assert_memory_equal(stored_path, memory_path, stored_length * MERKLE_HASH_BYTES);
            assert_true(merkle_verify_inclusion(f->leaves[sequence - 1], sequence - 1, t,
                                                (const uint8_t(*)[MERKLE_HASH_BYTES])stored_path,
                                                stored_length, root));
        }
    }
    for (uint64_t from = 1; from <= size; from += (from < 70 ? 1 : 89)) {
        const uint64_t to_sizes[] = {size, from, from + 1, 2 * from + 3};
        for (size_t s = 0; s < sizeof to_sizes / sizeof to_sizes[0]; s++) {
            uint64_t to = to_sizes[s];
            if (to > size)
                continue;
            uint8_t stored_path[MERKLE_PATH_MAX][MERKLE_HASH_BYTES];
            uint8_t memory_path[MERKLE_PATH_MAX][MERKLE_HASH_BYTES];
            size_t stored_length = 0;
            size_t memory_length = 0;
            assert_int_equal(merkle_store_consistency(txn, from, to, stored_path, &stored_length),
                             LEDGER_ERR_OK);
            assert_int_equal(merkle_consistency_path(memtree_node, &f->tree, from, to, memory_path,
                                                     &memory_length),
                             LEDGER_ERR_OK);
            assert_int_equal(stored_length, memory_length);
            assert_memory_equal(stored_path, memory_path, stored_length * MERKLE_HASH_BYTES);
            uint8_t from_root[MERKLE_HASH_BYTES];
            uint8_t to_root[MERKLE_HASH_BYTES];
            assert_int_equal(merkle_store_root(txn, from, from_root), LEDGER_ERR_OK);
            assert_int_equal(merkle_store_root(txn, to, to_root), LEDGER_ERR_OK);
            assert_true(merkle_verify_consistency(from, to, from_root, to_root,
                                                  (const uint8_t(*)[MERKLE_HASH_BYTES])stored_path,
                                                  stored_length));
        }
    }
    store_abort(txn);
}

/* The number of complete subtrees of a tree of n leaves, plus the size key. */
/* The size key and every complete interior node (the leaves are the store's). */
static uint64_t expected_entries(uint64_t n)
{
    uint64_t entries = n > 0 ? 1 : 0;
    for (uint64_t level_size = n >> 1; level_size > 0; level_size >>= 1)
        entries += level_size;
    return entries;
}

static void test_merkle_store_one_transaction(void **state)
{
    struct store_fixture *f = *state;
    store_append_range(f, 1, STORE_TEST_LEAVES);
    store_check_against_memory(f, STORE_TEST_LEAVES, true);
    struct store_txn *txn = NULL;
    assert_int_equal(store_begin(f->store, false, &txn), LEDGER_ERR_OK);
    uint64_t entries = 0;
    assert_int_equal(store_count(txn, STORE_DB_MERKLE, &entries), LEDGER_ERR_OK);
    assert_int_equal(entries, expected_entries(STORE_TEST_LEAVES));
    store_abort(txn);
}

static void test_merkle_store_many_transactions_and_reopen(void **state)
{
    struct store_fixture *f = *state;
    /* Batches of growing, uneven sizes, checking after each commit. */
    uint64_t appended = 0;
    uint64_t batch = 1;
    while (appended < STORE_TEST_LEAVES) {
        uint64_t last = appended + batch;
        if (last > STORE_TEST_LEAVES)
            last = STORE_TEST_LEAVES;
        store_append_range(f, appended + 1, last);
        appended = last;
        store_check_against_memory(f, appended, false);
        batch = batch * 2 + 1;
    }
    uint8_t before[MERKLE_HASH_BYTES];
    struct store_txn *txn = NULL;
    assert_int_equal(store_begin(f->store, false, &txn), LEDGER_ERR_OK);
    assert_int_equal(merkle_store_root(txn, appended, before), LEDGER_ERR_OK);
    store_abort(txn);

    store_reopen(f);
    uint8_t after[MERKLE_HASH_BYTES];
    assert_int_equal(store_begin(f->store, false, &txn), LEDGER_ERR_OK);
    assert_int_equal(merkle_store_root(txn, appended, after), LEDGER_ERR_OK);
    store_abort(txn);
    assert_memory_equal(before, after, sizeof before);
    store_check_against_memory(f, appended, true);
}

/* Appends every test leaf, then opens a write transaction that drops the
 * stored tree, and starts `refill` on it; the caller commits. */
static struct store_txn *refill_start(struct store_fixture *f, struct merkle_refill *refill)
{
    store_append_range(f, 1, STORE_TEST_LEAVES);
    struct store_txn *txn = NULL;
    assert_int_equal(store_begin(f->store, true, &txn), LEDGER_ERR_OK);
    assert_int_equal(store_drop(txn, STORE_DB_MERKLE), LEDGER_ERR_OK);
    merkle_refill_init(refill);
    return txn;
}

/* A tree dropped and refilled from its right edge in memory (ledgerd
 * rebuild), over several transactions, is the tree merkle_append stored: the
 * same entries, answering as the in-memory tree, and appending goes on from
 * it. */
static void test_merkle_store_refill_matches_append(void **state)
{
    struct store_fixture *f = *state;
    const uint64_t refilled = STORE_TEST_LEAVES - 10;
    struct merkle_refill refill;
    struct store_txn *txn = refill_start(f, &refill);
    /* Nothing added: the size is not written. */
    assert_int_equal(merkle_refill_flush(&refill, txn), LEDGER_ERR_OK);
    uint64_t entries = 99;
    assert_int_equal(store_count(txn, STORE_DB_MERKLE, &entries), LEDGER_ERR_OK);
    assert_int_equal(entries, 0);
    for (uint64_t i = 0; i < refilled; i++) {
        assert_int_equal(merkle_refill_add(&refill, txn, f->leaves[i]), LEDGER_ERR_OK);
        if (i % 333 == 0) {
            assert_int_equal(merkle_refill_flush(&refill, txn), LEDGER_ERR_OK);
            assert_int_equal(store_commit(txn), LEDGER_ERR_OK);
            assert_int_equal(store_begin(f->store, true, &txn), LEDGER_ERR_OK);
        }
    }
    assert_int_equal(merkle_refill_flush(&refill, txn), LEDGER_ERR_OK);
    for (uint64_t sequence = refilled + 1; sequence <= STORE_TEST_LEAVES; sequence++) {
        assert_int_equal(merkle_append(txn, sequence, f->leaves[sequence - 1]), LEDGER_ERR_OK);
    }
    assert_int_equal(store_commit(txn), LEDGER_ERR_OK);
    store_check_against_memory(f, STORE_TEST_LEAVES, false);
    assert_int_equal(store_begin(f->store, false, &txn), LEDGER_ERR_OK);
    assert_int_equal(store_count(txn, STORE_DB_MERKLE, &entries), LEDGER_ERR_OK);
    assert_int_equal(entries, expected_entries(STORE_TEST_LEAVES));
    store_abort(txn);
}

/* merkle_completed_fn of the test below: keeps a leaf's nodes in order. */
struct kept_nodes {
    uint8_t hashes[64][MERKLE_HASH_BYTES];
    size_t count;
};

static void keep_node(void *context, unsigned level, uint64_t index,
                      const uint8_t hash[MERKLE_HASH_BYTES])
{
    struct kept_nodes *kept = context;
    assert_int_equal(level, kept->count + 1);
    (void)index;
    memcpy(kept->hashes[kept->count++], hash, MERKLE_HASH_BYTES);
}

/* A refill whose nodes a separate builder hashed (ledgerd rebuild's reader
 * thread) stores the tree merkle_append stores, over several transactions,
 * and keeps the same right edge: its root is the hashing builder's. */
static void test_merkle_store_refill_with_nodes_hashed_elsewhere(void **state)
{
    struct store_fixture *f = *state;
    struct merkle_refill refill;
    struct store_txn *txn = refill_start(f, &refill);
    struct merkle_builder hashing;
    merkle_builder_init(&hashing);
    uint8_t root[MERKLE_HASH_BYTES], expected[MERKLE_HASH_BYTES];
    for (uint64_t i = 0; i < STORE_TEST_LEAVES; i++) {
        struct kept_nodes kept = {.count = 0};
        merkle_builder_add_nodes(&hashing, f->leaves[i], keep_node, &kept);
        assert_int_equal(merkle_refill_add_nodes(&refill, txn, f->leaves[i],
                                                 (const uint8_t(*)[MERKLE_HASH_BYTES])kept.hashes,
                                                 kept.count),
                         LEDGER_ERR_OK);
        assert_int_equal(refill.builder.size, i + 1);
        if (i % 97 == 0) {
            merkle_builder_root(&refill.builder, root);
            merkle_builder_root(&hashing, expected);
            assert_memory_equal(root, expected, sizeof root);
        }
        if (i % 500 == 0) {
            assert_int_equal(merkle_refill_flush(&refill, txn), LEDGER_ERR_OK);
            assert_int_equal(store_commit(txn), LEDGER_ERR_OK);
            assert_int_equal(store_begin(f->store, true, &txn), LEDGER_ERR_OK);
        }
    }
    assert_int_equal(merkle_refill_flush(&refill, txn), LEDGER_ERR_OK);
    assert_int_equal(store_commit(txn), LEDGER_ERR_OK);
    store_check_against_memory(f, STORE_TEST_LEAVES, true);
    uint64_t entries = 0;
    assert_int_equal(store_begin(f->store, false, &txn), LEDGER_ERR_OK);
    assert_int_equal(store_count(txn, STORE_DB_MERKLE, &entries), LEDGER_ERR_OK);
    assert_int_equal(entries, expected_entries(STORE_TEST_LEAVES));
    assert_int_equal(merkle_store_root(txn, STORE_TEST_LEAVES, expected), LEDGER_ERR_OK);
    store_abort(txn);
    merkle_builder_root(&refill.builder, root);
    assert_memory_equal(root, expected, sizeof root);
}

static void test_merkle_store_empty(void **state)
{
    struct store_fixture *f = *state;
    struct store_txn *txn = NULL;
    assert_int_equal(store_begin(f->store, false, &txn), LEDGER_ERR_OK);
    uint64_t size = 999;
    assert_int_equal(merkle_store_size(txn, &size), LEDGER_ERR_OK);
    assert_int_equal(size, 0);
    uint8_t root[MERKLE_HASH_BYTES];
    uint8_t empty[MERKLE_HASH_BYTES];
    assert_int_equal(merkle_store_root(txn, 0, root), LEDGER_ERR_OK);
    merkle_empty_root(empty);
    assert_memory_equal(root, empty, sizeof root);
    assert_int_equal(merkle_store_root(txn, 1, root), LEDGER_ERR_NOT_FOUND);
    uint8_t path[MERKLE_PATH_MAX][MERKLE_HASH_BYTES];
    size_t length = 999;
    assert_int_equal(merkle_store_inclusion(txn, 1, 1, path, &length), LEDGER_ERR_NOT_FOUND);
    assert_int_equal(merkle_store_inclusion(txn, 0, 0, path, &length), LEDGER_ERR_NOT_FOUND);
    assert_int_equal(merkle_store_consistency(txn, 1, 1, path, &length), LEDGER_ERR_NOT_FOUND);
    assert_int_equal(length, 999);
    store_abort(txn);
}

static void test_merkle_store_refuses_bad_arguments(void **state)
{
    struct store_fixture *f = *state;
    store_append_range(f, 1, 10);
    struct store_txn *txn = NULL;
    assert_int_equal(store_begin(f->store, true, &txn), LEDGER_ERR_OK);
    /* Out-of-order appends leave the tree as it was. */
    assert_int_equal(merkle_append(txn, 0, f->leaves[0]), LEDGER_ERR_INVALID_ARGUMENT);
    assert_int_equal(merkle_append(txn, 10, f->leaves[9]), LEDGER_ERR_INVALID_ARGUMENT);
    assert_int_equal(merkle_append(txn, 12, f->leaves[11]), LEDGER_ERR_INVALID_ARGUMENT);
    assert_int_equal(merkle_append(txn, UINT64_MAX, f->leaves[11]), LEDGER_ERR_INVALID_ARGUMENT);
    uint64_t size = 0;
    assert_int_equal(merkle_store_size(txn, &size), LEDGER_ERR_OK);
    assert_int_equal(size, 10);

    uint8_t root[MERKLE_HASH_BYTES];
    uint8_t untouched[MERKLE_HASH_BYTES];
    memset(root, 0x33, sizeof root);
    memcpy(untouched, root, sizeof root);
    assert_int_equal(merkle_store_root(txn, 11, root), LEDGER_ERR_NOT_FOUND);
    assert_int_equal(merkle_store_root(txn, UINT64_MAX, root), LEDGER_ERR_NOT_FOUND);
    assert_memory_equal(root, untouched, sizeof root);

    uint8_t path[MERKLE_PATH_MAX][MERKLE_HASH_BYTES];
    size_t length = 999;
    assert_int_equal(merkle_store_inclusion(txn, 0, 10, path, &length), LEDGER_ERR_NOT_FOUND);
    assert_int_equal(merkle_store_inclusion(txn, 11, 10, path, &length), LEDGER_ERR_NOT_FOUND);
    assert_int_equal(merkle_store_inclusion(txn, 6, 5, path, &length), LEDGER_ERR_NOT_FOUND);
    assert_int_equal(merkle_store_inclusion(txn, 5, 11, path, &length), LEDGER_ERR_NOT_FOUND);
    assert_int_equal(merkle_store_consistency(txn, 0, 5, path, &length),
                     LEDGER_ERR_INVALID_ARGUMENT);
    assert_int_equal(merkle_store_consistency(txn, 6, 5, path, &length),
                     LEDGER_ERR_INVALID_ARGUMENT);
    assert_int_equal(merkle_store_consistency(txn, 5, 11, path, &length), LEDGER_ERR_NOT_FOUND);
    assert_int_equal(length, 999);
    assert_int_equal(merkle_store_consistency(txn, 10, 10, path, &length), LEDGER_ERR_OK);
    assert_int_equal(length, 0);
    assert_int_equal(store_commit(txn), LEDGER_ERR_OK);
}

static void test_merkle_store_abort_leaves_tree(void **state)
{
    struct store_fixture *f = *state;
    store_append_range(f, 1, 5);
    struct store_txn *txn = NULL;
    assert_int_equal(store_begin(f->store, true, &txn), LEDGER_ERR_OK);
    for (uint64_t sequence = 6; sequence <= 7; sequence++) {
        uint8_t record[8];
        put_be64(sequence - 1, record);
        uint64_t appended = 0;
        uint8_t leaf[STORE_HASH_BYTES];
        assert_int_equal(store_append(txn, record, sizeof record, &appended, leaf), LEDGER_ERR_OK);
        assert_int_equal(merkle_append(txn, sequence, leaf), LEDGER_ERR_OK);
    }
    uint64_t size = 0;
    assert_int_equal(merkle_store_size(txn, &size), LEDGER_ERR_OK);
    assert_int_equal(size, 7);
    store_abort(txn);
    store_check_against_memory(f, 5, true);
    store_append_range(f, 6, 9);
    store_check_against_memory(f, 9, true);
}

static void test_merkle_store_rebuild_after_drop(void **state)
{
    struct store_fixture *f = *state;
    store_append_range(f, 1, 300);
    struct store_txn *txn = NULL;
    uint8_t before[MERKLE_HASH_BYTES];
    assert_int_equal(store_begin(f->store, true, &txn), LEDGER_ERR_OK);
    assert_int_equal(merkle_store_root(txn, 300, before), LEDGER_ERR_OK);
    /* `ledgerd rebuild`: drop the derived tree, append every stored leaf again. */
    assert_int_equal(store_drop(txn, STORE_DB_MERKLE), LEDGER_ERR_OK);
    uint64_t size = 999;
    assert_int_equal(merkle_store_size(txn, &size), LEDGER_ERR_OK);
    assert_int_equal(size, 0);
    for (uint64_t sequence = 1; sequence <= 300; sequence++) {
        uint8_t leaf[STORE_HASH_BYTES];
        assert_int_equal(store_leaf(txn, sequence, leaf), LEDGER_ERR_OK);
        assert_int_equal(merkle_append(txn, sequence, leaf), LEDGER_ERR_OK);
    }
    assert_int_equal(store_commit(txn), LEDGER_ERR_OK);
    uint8_t after[MERKLE_HASH_BYTES];
    assert_int_equal(store_begin(f->store, false, &txn), LEDGER_ERR_OK);
    assert_int_equal(merkle_store_root(txn, 300, after), LEDGER_ERR_OK);
    store_abort(txn);
    assert_memory_equal(before, after, sizeof before);
    store_check_against_memory(f, 300, true);
}

static void test_merkle_store_detects_damage(void **state)
{
    struct store_fixture *f = *state;
    store_append_range(f, 1, 12);
    struct store_txn *txn = NULL;
    assert_int_equal(store_begin(f->store, true, &txn), LEDGER_ERR_OK);
    /* Node (level 3, index 0) covers leaves 0..7: the root of 12 is made of it
     * and node (2, 2); the root of 4 is node (2, 0) alone. */
    uint8_t key[9] = {3, 0, 0, 0, 0, 0, 0, 0, 0};
    assert_int_equal(store_del(txn, STORE_DB_MERKLE, key, sizeof key), LEDGER_ERR_OK);
    uint8_t root[MERKLE_HASH_BYTES];
    assert_int_equal(merkle_store_root(txn, 12, root), LEDGER_ERR_CORRUPT);
    assert_int_equal(merkle_store_root(txn, 9, root), LEDGER_ERR_CORRUPT);
    assert_int_equal(merkle_store_root(txn, 4, root), LEDGER_ERR_OK);
    /* A node of the wrong length. */
    assert_int_equal(store_put(txn, STORE_DB_MERKLE, key, sizeof key, "short", 5), LEDGER_ERR_OK);
    assert_int_equal(merkle_store_root(txn, 12, root), LEDGER_ERR_CORRUPT);
    /* Node (level 2, index 1) covers leaves 4..7: leaf 0's path needs it. */
    key[0] = 2;
    key[8] = 1;
    assert_int_equal(store_del(txn, STORE_DB_MERKLE, key, sizeof key), LEDGER_ERR_OK);
    uint8_t path[MERKLE_PATH_MAX][MERKLE_HASH_BYTES];
    size_t length = 999;
    assert_int_equal(merkle_store_inclusion(txn, 1, 12, path, &length), LEDGER_ERR_CORRUPT);
    assert_int_equal(merkle_store_consistency(txn, 2, 12, path, &length), LEDGER_ERR_CORRUPT);
    assert_int_equal(length, 999);
    /* A size of the wrong length. */
    const uint8_t size_key[1] = {0xFF};
    assert_int_equal(store_put(txn, STORE_DB_MERKLE, size_key, 1, "1234567", 7), LEDGER_ERR_OK);
    assert_int_equal(merkle_store_root(txn, 1, root), LEDGER_ERR_CORRUPT);
    assert_int_equal(merkle_store_inclusion(txn, 1, 1, path, &length), LEDGER_ERR_CORRUPT);
    assert_int_equal(merkle_store_consistency(txn, 1, 1, path, &length), LEDGER_ERR_CORRUPT);
    assert_int_equal(length, 999);
    assert_int_equal(merkle_append(txn, 13, f->leaves[12]), LEDGER_ERR_CORRUPT);
    store_abort(txn);
    /* Aborted: the tree is whole again. */
    store_check_against_memory(f, 12, true);
}

/* Sets the stored tree's size entry (the key 0xFF) to `size`, as an
 * attacker or a damaged file would. */
static void size_entry_set(struct store_txn *txn, uint64_t size)
{
    const uint8_t size_key[1] = {0xFF};
    uint8_t value[8];
    store_u64_to_key(size, value);
    assert_int_equal(store_put(txn, STORE_DB_MERKLE, size_key, 1, value, sizeof value),
                     LEDGER_ERR_OK);
}

/* A size entry that promises more leaves than the store holds (7 over a log
 * of 5): a leaf the tree needs but the leaf database lacks is corruption,
 * as a missing interior node is, never NOT_FOUND (which would tell a client
 * asking for a proof that its sequence is not there yet); the next append,
 * which merges with a leaf not there, is refused and leaves the size. */
static void test_merkle_store_missing_leaf_is_corruption(void **state)
{
    struct store_fixture *f = *state;
    store_append_range(f, 1, 5);
    struct store_txn *txn = NULL;
    assert_int_equal(store_begin(f->store, true, &txn), LEDGER_ERR_OK);
    size_entry_set(txn, 7);
    uint8_t path[MERKLE_PATH_MAX][MERKLE_HASH_BYTES];
    size_t length = 999;
    /* Sequence 5's path in a tree of 6 ends with leaf 6 (level 0, index 5). */
    assert_int_equal(merkle_store_inclusion(txn, 5, 6, path, &length), LEDGER_ERR_CORRUPT);
    /* From 5 to 6: the subtree of leaves 1..4, then leaf 6. */
    assert_int_equal(merkle_store_consistency(txn, 5, 6, path, &length), LEDGER_ERR_CORRUPT);
    assert_int_equal(length, 999);
    uint8_t root[MERKLE_HASH_BYTES];
    assert_int_equal(merkle_store_root(txn, 7, root), LEDGER_ERR_CORRUPT);
    /* Sequence 8 (index 7) merges with leaf 7 first. */
    assert_int_equal(merkle_append(txn, 8, f->leaves[7]), LEDGER_ERR_CORRUPT);
    uint64_t size = 0;
    assert_int_equal(merkle_store_size(txn, &size), LEDGER_ERR_OK);
    assert_int_equal(size, 7);
    /* What the records hold still answers. */
    uint8_t memory_root[MERKLE_HASH_BYTES];
    assert_int_equal(merkle_store_root(txn, 5, root), LEDGER_ERR_OK);
    assert_int_equal(merkle_root(memtree_node, &f->tree, 5, memory_root), LEDGER_ERR_OK);
    assert_memory_equal(root, memory_root, MERKLE_HASH_BYTES);
    store_abort(txn);
}

/* An append whose left sibling the stored size promises but the database
 * lacks (node (1, 0), leaves 1..2, deleted after 3 leaves) is refused as
 * CORRUPT and leaves the size; a size entry at its maximum (no log is that
 * long) takes no sequence after it, not even 0, to which 2^64 - 1 + 1
 * wraps. */
static void test_merkle_store_append_refuses_what_the_size_cannot_take(void **state)
{
    struct store_fixture *f = *state;
    store_append_range(f, 1, 3);
    struct store_txn *txn = NULL;
    assert_int_equal(store_begin(f->store, true, &txn), LEDGER_ERR_OK);
    const uint8_t key[9] = {1, 0, 0, 0, 0, 0, 0, 0, 0};
    assert_int_equal(store_del(txn, STORE_DB_MERKLE, key, sizeof key), LEDGER_ERR_OK);
    assert_int_equal(merkle_append(txn, 4, f->leaves[3]), LEDGER_ERR_CORRUPT);
    uint64_t size = 0;
    assert_int_equal(merkle_store_size(txn, &size), LEDGER_ERR_OK);
    assert_int_equal(size, 3);

    size_entry_set(txn, UINT64_MAX);
    assert_int_equal(merkle_append(txn, 0, f->leaves[0]), LEDGER_ERR_INVALID_ARGUMENT);
    assert_int_equal(merkle_append(txn, UINT64_MAX, f->leaves[0]), LEDGER_ERR_INVALID_ARGUMENT);
    assert_int_equal(merkle_store_size(txn, &size), LEDGER_ERR_OK);
    assert_int_equal(size, UINT64_MAX);
    store_abort(txn);
    store_check_against_memory(f, 3, true);
}

/* Runs a check over the first `size` test leaves (leaves_stored as given),
 * stopping at the first failure: its error, node and the 0-based leaf
 * whose adding found it (size when none failed). Then adds the next leaf
 * once more to show the first failure is kept. */
struct check_outcome {
    enum ledger_err err;
    unsigned level;
    uint64_t index;
    uint64_t found_at;
    enum ledger_err finish_err;
    uint64_t stored, expected;
};

static void check_run(struct store_fixture *f, bool leaves_stored, uint64_t size,
                      struct check_outcome *o)
{
    struct store_txn *txn = NULL;
    assert_int_equal(store_begin(f->store, false, &txn), LEDGER_ERR_OK);
    struct merkle_check *check = NULL;
    assert_int_equal(merkle_check_open(txn, leaves_stored, &check), LEDGER_ERR_OK);
    struct merkle_builder builder;
    merkle_builder_init(&builder);
    memset(o, 0, sizeof *o);
    o->found_at = size;
    o->stored = o->expected = 999;
    for (uint64_t i = 0; i < size; i++) {
        o->err = merkle_check_add(check, &builder, f->leaves[i], &o->level, &o->index);
        if (o->err != LEDGER_ERR_OK) {
            o->found_at = i;
            unsigned level = 99;
            uint64_t index = 99;
            /* Once failed, it keeps returning the first failure. */
            assert_int_equal(merkle_check_add(check, &builder, f->leaves[i + 1], &level, &index),
                             o->err);
            assert_int_equal(level, o->level);
            assert_int_equal(index, o->index);
            break;
        }
    }
    if (o->err == LEDGER_ERR_OK) {
        uint8_t root[MERKLE_HASH_BYTES], memory_root[MERKLE_HASH_BYTES];
        merkle_builder_root(&builder, root);
        assert_int_equal(merkle_root(memtree_node, &f->tree, size, memory_root), LEDGER_ERR_OK);
        assert_memory_equal(root, memory_root, MERKLE_HASH_BYTES);
        o->finish_err = merkle_check_finish(check, size, &o->stored, &o->expected);
    }
    merkle_check_close(check);
    store_abort(txn);
}

static void node_put(struct store_fixture *f, unsigned level, uint64_t index, const void *value,
                     size_t value_size)
{
    uint8_t key[9] = {(uint8_t)level};
    store_u64_to_key(index, key + 1);
    struct store_txn *txn = NULL;
    assert_int_equal(store_begin(f->store, true, &txn), LEDGER_ERR_OK);
    if (value == NULL)
        assert_int_equal(store_del(txn, STORE_DB_MERKLE, key, sizeof key), LEDGER_ERR_OK);
    else
        assert_int_equal(store_put(txn, STORE_DB_MERKLE, key, sizeof key, value, value_size),
                         LEDGER_ERR_OK);
    assert_int_equal(store_commit(txn), LEDGER_ERR_OK);
}

/* The offline verifier's node-by-node check of the stored tree: a whole
 * tree of 12 leaves passes and counts its 11 entries (6 + 3 + 1 nodes and
 * the size); a node one byte too long (the true hash, then a byte), the
 * top node missing (its cursor then finds the 1-byte size key where the
 * node's key should be) and a size entry that differs while every node is
 * right are each caught, the nodes named by level and index at the leaf
 * that completes them; the top node missing with the size key (no key at
 * all after it) too. */
static void test_merkle_check_names_the_first_bad_node(void **state)
{
    struct store_fixture *f = *state;
    store_append_range(f, 1, 12);
    struct check_outcome o;
    check_run(f, false, 12, &o);
    assert_int_equal(o.err, LEDGER_ERR_OK);
    assert_int_equal(o.finish_err, LEDGER_ERR_OK);
    assert_int_equal(o.stored, 11);
    assert_int_equal(o.expected, 11);

    /* Node (2, 1) covers leaves 4..7 and completes with leaf 7. */
    uint8_t longer[MERKLE_HASH_BYTES + 1];
    memcpy(longer, f->tree.levels[2][1], MERKLE_HASH_BYTES);
    longer[MERKLE_HASH_BYTES] = 0;
    node_put(f, 2, 1, longer, sizeof longer);
    check_run(f, false, 12, &o);
    assert_int_equal(o.err, LEDGER_ERR_CORRUPT);
    assert_int_equal(o.level, 2);
    assert_int_equal(o.index, 1);
    assert_int_equal(o.found_at, 7);
    node_put(f, 2, 1, f->tree.levels[2][1], MERKLE_HASH_BYTES);

    node_put(f, 3, 0, NULL, 0);
    check_run(f, false, 12, &o);
    assert_int_equal(o.err, LEDGER_ERR_CORRUPT);
    assert_int_equal(o.level, 3);
    assert_int_equal(o.index, 0);
    assert_int_equal(o.found_at, 7);
    /* And the size key deleted too: the cursor finds no key at all. */
    struct store_txn *txn = NULL;
    const uint8_t size_key[1] = {0xFF};
    assert_int_equal(store_begin(f->store, true, &txn), LEDGER_ERR_OK);
    assert_int_equal(store_del(txn, STORE_DB_MERKLE, size_key, 1), LEDGER_ERR_OK);
    assert_int_equal(store_commit(txn), LEDGER_ERR_OK);
    check_run(f, false, 12, &o);
    assert_int_equal(o.err, LEDGER_ERR_CORRUPT);
    assert_int_equal(o.level, 3);
    assert_int_equal(o.index, 0);
    assert_int_equal(o.found_at, 7);
    node_put(f, 3, 0, f->tree.levels[3][0], MERKLE_HASH_BYTES);

    assert_int_equal(store_begin(f->store, true, &txn), LEDGER_ERR_OK);
    size_entry_set(txn, 13);
    assert_int_equal(store_commit(txn), LEDGER_ERR_OK);
    check_run(f, false, 12, &o);
    assert_int_equal(o.err, LEDGER_ERR_OK);
    assert_int_equal(o.finish_err, LEDGER_ERR_CORRUPT);
    assert_int_equal(o.stored, 11);
    assert_int_equal(o.expected, 11);
}

/* The check of a tree of no leaves: an empty store passes with 0 entries
 * stored and expected, and a store that holds the tree of 3 leaves (node
 * (1, 0) and the size) holds 2 entries the records do not make. */
static void test_merkle_check_of_the_empty_tree(void **state)
{
    struct store_fixture *f = *state;
    struct check_outcome o;
    check_run(f, false, 0, &o);
    assert_int_equal(o.err, LEDGER_ERR_OK);
    assert_int_equal(o.finish_err, LEDGER_ERR_OK);
    assert_int_equal(o.stored, 0);
    assert_int_equal(o.expected, 0);
    store_append_range(f, 1, 3);
    check_run(f, false, 0, &o);
    assert_int_equal(o.finish_err, LEDGER_ERR_CORRUPT);
    assert_int_equal(o.stored, 2);
    assert_int_equal(o.expected, 0);
}

/* Views layout 1 also stored every leaf hash as a node of level 0: with
 * them the tree of 12 passes (23 entries), and a leaf hash altered there is
 * named as level 0 at its own index, when its leaf is added. */
static void test_merkle_check_stored_leaves(void **state)
{
    struct store_fixture *f = *state;
    store_append_range(f, 1, 12);
    for (uint64_t i = 0; i < 12; i++)
        node_put(f, 0, i, f->leaves[i], MERKLE_HASH_BYTES);
    struct check_outcome o;
    check_run(f, true, 12, &o);
    assert_int_equal(o.err, LEDGER_ERR_OK);
    assert_int_equal(o.finish_err, LEDGER_ERR_OK);
    assert_int_equal(o.stored, 23);
    assert_int_equal(o.expected, 23);
    /* Without the level-0 rule the same tree holds 12 entries too many. */
    check_run(f, false, 12, &o);
    assert_int_equal(o.finish_err, LEDGER_ERR_CORRUPT);
    assert_int_equal(o.stored, 23);
    assert_int_equal(o.expected, 11);

    node_put(f, 0, 5, f->leaves[6], MERKLE_HASH_BYTES);
    check_run(f, true, 12, &o);
    assert_int_equal(o.err, LEDGER_ERR_CORRUPT);
    assert_int_equal(o.level, 0);
    assert_int_equal(o.index, 5);
    assert_int_equal(o.found_at, 5);
}

/* Where an entry of the stored tree comes from: a node names the first
 * sequence it covers, the size entry and keys of no node name none. */
static void test_merkle_entry_origin(void **state)
{
    (void)state;
    struct store_origin o;
    uint8_t node[9] = {3};
    store_u64_to_key(2, node + 1);
    const uint8_t hash[32] = {0};
    struct store_val value = {hash, sizeof hash};
    merkle_entry_origin((struct store_val){node, sizeof node}, value, &o);
    assert_string_equal(o.key_text, "level 3 index 2 (sequences 17..24)");
    assert_int_equal(o.sequence, 17);
    const uint8_t size_key[1] = {0xFF};
    merkle_entry_origin((struct store_val){size_key, 1}, value, &o);
    assert_string_equal(o.key_text, "the tree size");
    assert_int_equal(o.sequence, 0);
    node[0] = 0; /* level 0 is the leaf database's */
    merkle_entry_origin((struct store_val){node, sizeof node}, value, &o);
    assert_string_equal(o.key_text, "\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02");
    assert_int_equal(o.sequence, 0);
    node[0] = 63; /* past any tree a u64 can count */
    merkle_entry_origin((struct store_val){node, sizeof node}, value, &o);
    assert_string_equal(o.key_text, "level 63 index 2");
    assert_int_equal(o.sequence, 0);
    /* The last node of level 1 whose sequences a u64 can count, and the
     * next, whose last sequence would be 2^64. */
    node[0] = 1;
    store_u64_to_key((UINT64_MAX >> 1) - 1, node + 1);
    merkle_entry_origin((struct store_val){node, sizeof node}, value, &o);
    assert_string_equal(o.key_text, "level 1 index 9223372036854775806 (sequences "
                                    "18446744073709551613..18446744073709551614)");
    assert_int_equal(o.sequence, UINT64_MAX - 2);
    store_u64_to_key(UINT64_MAX >> 1, node + 1);
    merkle_entry_origin((struct store_val){node, sizeof node}, value, &o);
    assert_string_equal(o.key_text, "level 1 index 9223372036854775807");
    assert_int_equal(o.sequence, 0);
    store_u64_to_key(2, node + 1);
    /* Level 64 and above: no tree is that deep (and 2^64 leaves per node
     * cannot be counted), shown as bytes. */
    node[0] = 64;
    node[8] = 0;
    merkle_entry_origin((struct store_val){node, sizeof node}, value, &o);
    assert_string_equal(o.key_text, "@\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00");
    assert_int_equal(o.sequence, 0);
    node[0] = 0xFF;
    merkle_entry_origin((struct store_val){node, sizeof node}, value, &o);
    assert_string_equal(o.key_text, "\\xff\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00");
    assert_int_equal(o.sequence, 0);
    /* A 1-byte key that is not the size key. */
    const uint8_t other_key[1] = {0x00};
    merkle_entry_origin((struct store_val){other_key, 1}, value, &o);
    assert_string_equal(o.key_text, "\\x00");
    assert_int_equal(o.sequence, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merkle_empty_root),
        cmocka_unit_test(test_merkle_entry_origin),
        cmocka_unit_test(test_merkle_rfc6962_roots),
        cmocka_unit_test(test_merkle_rfc6962_inclusion_vectors),
        cmocka_unit_test(test_merkle_rfc6962_consistency_vectors),
        cmocka_unit_test(test_merkle_matches_reference_sizes_1_to_70),
        cmocka_unit_test(test_merkle_named_sizes),
        cmocka_unit_test(test_merkle_inclusion_tampering_refused),
        cmocka_unit_test(test_merkle_consistency_tampering_refused),
        cmocka_unit_test(test_merkle_consistency_edge_cases),
        cmocka_unit_test(test_merkle_inclusion_edge_cases),
        cmocka_unit_test(test_merkle_inclusion_deepest_path),
        cmocka_unit_test(test_merkle_node_errors_pass_through),
        cmocka_unit_test(test_merkle_single_node_error_passes_through),
        cmocka_unit_test(test_merkle_large_tree_100003),
        cmocka_unit_test(test_merkle_builder_matches_every_size),
        cmocka_unit_test(test_merkle_head_encoding_bytes),
        cmocka_unit_test(test_merkle_verification_doc_examples),
        cmocka_unit_test(test_merkle_head_signature),
        cmocka_unit_test_setup_teardown(test_merkle_store_refill_matches_append, store_setup,
                                        store_teardown),
        cmocka_unit_test_setup_teardown(test_merkle_store_refill_with_nodes_hashed_elsewhere,
                                        store_setup, store_teardown),
        cmocka_unit_test_setup_teardown(test_merkle_store_empty, store_setup, store_teardown),
        cmocka_unit_test_setup_teardown(test_merkle_store_one_transaction, store_setup,
                                        store_teardown),
        cmocka_unit_test_setup_teardown(test_merkle_store_many_transactions_and_reopen, store_setup,
                                        store_teardown),
        cmocka_unit_test_setup_teardown(test_merkle_store_refuses_bad_arguments, store_setup,
                                        store_teardown),
        cmocka_unit_test_setup_teardown(test_merkle_store_abort_leaves_tree, store_setup,
                                        store_teardown),
        cmocka_unit_test_setup_teardown(test_merkle_store_rebuild_after_drop, store_setup,
                                        store_teardown),
        cmocka_unit_test_setup_teardown(test_merkle_store_detects_damage, store_setup,
                                        store_teardown),
        cmocka_unit_test_setup_teardown(test_merkle_store_missing_leaf_is_corruption, store_setup,
                                        store_teardown),
        cmocka_unit_test_setup_teardown(test_merkle_store_append_refuses_what_the_size_cannot_take,
                                        store_setup, store_teardown),
        cmocka_unit_test_setup_teardown(test_merkle_check_names_the_first_bad_node, store_setup,
                                        store_teardown),
        cmocka_unit_test_setup_teardown(test_merkle_check_stored_leaves, store_setup,
                                        store_teardown),
        cmocka_unit_test_setup_teardown(test_merkle_check_of_the_empty_tree, store_setup,
                                        store_teardown),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
