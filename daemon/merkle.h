/*
 * merkle.h: the RFC 6962 Merkle tree over the event log.
 *
 * Owns: the tree's hashing (leaf = SHA-256(0x00 || record), node =
 * SHA-256(0x01 || left || right), RFC 6962 section 2.1's split for sizes that are
 * not powers of two), inclusion and consistency audit paths and their
 * verification, the signed tree head's byte encoding, and the storage of the
 * tree's complete subtrees in STORE_DB_MERKLE.
 * Does not own: the records (store), keys (engine), the wire (codec).
 *
 * Storage: the node of level L and index i (covering leaves [i*2^L, (i+1)*2^L),
 * leaves counted from 0 = sequence 1) is stored under the 9-byte key
 * (u8 L, u64 BE i), L >= 1, once it is complete; level 0 is the store's
 * leaf database. Appending the leaf of index i stores exactly the interior
 * nodes it completes (one per trailing one bit of i), so appends are
 * O(log n), and the hash of any range, hence the root of any tree size and
 * any proof, is computed from O(log n) stored nodes. The 1-byte key 0xFF holds the
 * number of leaves (u64 BE), so the stored size is one read.
 */
#ifndef LEDGER_MERKLE_H
#define LEDGER_MERKLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "store.h"

#define MERKLE_HASH_BYTES 32
/* An audit path in a tree of at most 2^64 leaves has at most 64 hashes
 * (consistency proofs at most 2 * 64). */
#define MERKLE_PATH_MAX 128

/* The root of the empty tree is SHA-256 of the empty string (RFC 6962). */
void merkle_empty_root(uint8_t out[MERKLE_HASH_BYTES]);
/* The leaf hash of a record: SHA-256(0x00 || record). `record` is borrowed and
 * hashed as given (the stored bytes, never a re-encoding). */
void merkle_leaf_hash(const void *record, size_t record_size, uint8_t out[MERKLE_HASH_BYTES]);

/* --- pure algorithms over a source of complete-subtree hashes ------------ */

/* Returns the hash of the complete subtree (level, index), which covers leaves
 * [index * 2^level, (index + 1) * 2^level). Any error it returns is passed
 * through unchanged by the functions below. */
typedef enum ledger_err (*merkle_node_fn)(void *context, unsigned level, uint64_t index,
                                          uint8_t out[MERKLE_HASH_BYTES]);

/* The pure functions below ask `node` (with `context`, borrowed) only for
 * complete subtrees of the tree of the size given, at most O(log n) of them
 * (about 2 * 64 in the worst case). Outputs are written only on success. */

/* MTH(D[0:tree_size]); the empty root for size 0. */
__attribute__((warn_unused_result)) enum ledger_err
merkle_root(merkle_node_fn node, void *context, uint64_t tree_size, uint8_t out[MERKLE_HASH_BYTES]);
/* PATH(leaf_index, D[0:tree_size]) of RFC 6962 2.1.1, deepest sibling first.
 * leaf_index counts from 0 (sequence s is leaf s - 1). `path` has room for
 * MERKLE_PATH_MAX hashes. INVALID_ARGUMENT when leaf_index >= tree_size. */
__attribute__((warn_unused_result)) enum ledger_err
merkle_inclusion_path(merkle_node_fn node, void *context, uint64_t leaf_index, uint64_t tree_size,
                      uint8_t path[][MERKLE_HASH_BYTES], size_t *path_length_out);
/* PROOF(from_size, D[0:to_size]) of RFC 6962 2.1.2. `path` has room for
 * MERKLE_PATH_MAX hashes. from_size == to_size gives the empty path.
 * INVALID_ARGUMENT when from_size is 0 (the empty tree proves nothing; see
 * docs/verification.md) or from_size > to_size. */
__attribute__((warn_unused_result)) enum ledger_err
merkle_consistency_path(merkle_node_fn node, void *context, uint64_t from_size, uint64_t to_size,
                        uint8_t path[][MERKLE_HASH_BYTES], size_t *path_length_out);

/* Verification (RFC 9162 2.1.3.2 and 2.1.4.2): true only when the path proves
 * it. Wrong path lengths, leaf_index >= tree_size, from_size > to_size and
 * from_size == 0 are all false; from_size == to_size is true only for the empty
 * path and equal roots. Paths longer than MERKLE_PATH_MAX are refused unread. */
bool merkle_verify_inclusion(const uint8_t leaf_hash[MERKLE_HASH_BYTES], uint64_t leaf_index,
                             uint64_t tree_size, const uint8_t path[][MERKLE_HASH_BYTES],
                             size_t path_length, const uint8_t root[MERKLE_HASH_BYTES]);
bool merkle_verify_consistency(uint64_t from_size, uint64_t to_size,
                               const uint8_t from_root[MERKLE_HASH_BYTES],
                               const uint8_t to_root[MERKLE_HASH_BYTES],
                               const uint8_t path[][MERKLE_HASH_BYTES], size_t path_length);

/* --- an in-memory builder (offline verifier, tests): O(log n) memory ---- */

struct merkle_builder {
    uint64_t size;
    uint8_t stack[64][MERKLE_HASH_BYTES]; /* one complete subtree per set bit of size */
};
/* An empty tree. The builder is the caller's memory; it owns nothing else. */
void merkle_builder_init(struct merkle_builder *builder);
/* Appends the next leaf: one node hash per leaf, amortized. */
void merkle_builder_add(struct merkle_builder *builder, const uint8_t leaf_hash[MERKLE_HASH_BYTES]);
/* Called with each interior node a leaf completes: level >= 1, the node over
 * leaves [index << level, (index + 1) << level) (0-based), its hash. */
typedef void (*merkle_completed_fn)(void *context, unsigned level, uint64_t index,
                                    const uint8_t hash[MERKLE_HASH_BYTES]);
/* merkle_builder_add, telling `completed` (may be NULL) of every node it
 * completes, lowest level first. */
void merkle_builder_add_nodes(struct merkle_builder *builder,
                              const uint8_t leaf_hash[MERKLE_HASH_BYTES],
                              merkle_completed_fn completed, void *context);
/* MTH of the leaves added so far (the empty root for none), in at most 63
 * node hashes; the builder is unchanged and may keep growing. */
void merkle_builder_root(const struct merkle_builder *builder, uint8_t out[MERKLE_HASH_BYTES]);

/* --- the tree kept in the store ------------------------------------------ */

/* Adds the leaf of `sequence` (which must be tree size + 1) inside the write
 * transaction of its append, storing the nodes it completes and the new size.
 * Errors: INVALID_ARGUMENT when sequence is not the stored size + 1, CORRUPT
 * when a node the size promises is missing, and the store's errors
 * (STORAGE_FULL, STORAGE_ERROR). */
__attribute__((warn_unused_result)) enum ledger_err
merkle_append(struct store_txn *txn, uint64_t sequence, const uint8_t leaf_hash[MERKLE_HASH_BYTES]);
/* The stored tree refilled from its first leaf (ledgerd rebuild, after the
 * tree's database was dropped): the builder keeps the tree's right edge in
 * memory, so adding a leaf reads nothing, and the size is written once per
 * flush instead of once per leaf. Between flushes the stored size lags
 * behind the nodes; the caller flushes before each commit. The hashing of
 * the nodes a leaf completes can be done elsewhere, by a merkle_builder
 * given the same leaves in the same order (ledgerd rebuild does it on the
 * thread that reads the log): merkle_refill_add_nodes then only stores them.
 * The struct is the caller's memory; it owns nothing else. */
struct merkle_refill {
    struct merkle_builder builder; /* the right edge of the leaves added */
};
void merkle_refill_init(struct merkle_refill *refill);
/* Adds the next leaf and stores the interior nodes it completes, as
 * merkle_append does; the store's errors (STORAGE_FULL, STORAGE_ERROR). */
__attribute__((warn_unused_result)) enum ledger_err
merkle_refill_add(struct merkle_refill *refill, struct store_txn *txn,
                  const uint8_t leaf_hash[MERKLE_HASH_BYTES]);
/* merkle_refill_add with the nodes already hashed: `nodes` (borrowed) are
 * the hashes merkle_builder_add_nodes reported for this same leaf, lowest
 * level first, from a builder that was given every earlier leaf of the
 * refill in order. node_count must be the number of trailing one bits of
 * the number of leaves added so far (the levels the leaf completes); that it
 * is not is a programmer error. Hashes nothing; the refill is unchanged on
 * failure. The store's errors (STORAGE_FULL, STORAGE_ERROR). */
__attribute__((warn_unused_result)) enum ledger_err
merkle_refill_add_nodes(struct merkle_refill *refill, struct store_txn *txn,
                        const uint8_t leaf_hash[MERKLE_HASH_BYTES],
                        const uint8_t (*nodes)[MERKLE_HASH_BYTES], size_t node_count);
/* Stores the number of leaves added (nothing when none was); the store's
 * errors. */
__attribute__((warn_unused_result)) enum ledger_err
merkle_refill_flush(const struct merkle_refill *refill, struct store_txn *txn);
/* The number of leaves in the stored tree (0 when empty), one read. */
__attribute__((warn_unused_result)) enum ledger_err merkle_store_size(struct store_txn *txn,
                                                                      uint64_t *size_out);
/* The three below compute from the stored nodes as this transaction sees them.
 * Errors: NOT_FOUND when a size is past the stored tree, or (inclusion) the
 * sequence is 0 or past tree_size; INVALID_ARGUMENT (consistency) when
 * from_size is 0 or from_size > to_size; CORRUPT when a node is missing or
 * malformed; the store's errors. */
__attribute__((warn_unused_result)) enum ledger_err
merkle_store_root(struct store_txn *txn, uint64_t tree_size, uint8_t out[MERKLE_HASH_BYTES]);
__attribute__((warn_unused_result)) enum ledger_err
merkle_store_inclusion(struct store_txn *txn, uint64_t sequence, uint64_t tree_size,
                       uint8_t path[][MERKLE_HASH_BYTES], size_t *path_length_out);
__attribute__((warn_unused_result)) enum ledger_err
merkle_store_consistency(struct store_txn *txn, uint64_t from_size, uint64_t to_size,
                         uint8_t path[][MERKLE_HASH_BYTES], size_t *path_length_out);

/* Checks the stored tree node by node (offline verifier): each interior node
 * a leaf completes in a builder that starts empty must be stored, equal to
 * the recomputed one. One cursor per level walks the nodes in step: no
 * searches. The check and its cursors belong to a read transaction and are
 * closed before it ends. leaves_stored: the tree was written by views layout
 * 1, which also stored every leaf hash as a node of level 0 (key 0x00 || u64
 * BE sequence - 1); those must then be there and equal too. */
struct merkle_check;
__attribute__((warn_unused_result)) enum ledger_err
merkle_check_open(struct store_txn *txn, bool leaves_stored, struct merkle_check **out);
/* Adds the next leaf to `builder` (which started empty with this check) and
 * compares the nodes it completes. CORRUPT when one is missing or differs:
 * *level_out and *index_out name the first such node (it covers sequences
 * (index << level) + 1 .. (index + 1) << level); the store's errors. Once
 * failed, it keeps returning the first failure. */
__attribute__((warn_unused_result)) enum ledger_err
merkle_check_add(struct merkle_check *check, struct merkle_builder *builder,
                 const uint8_t leaf_hash[MERKLE_HASH_BYTES], unsigned *level_out,
                 uint64_t *index_out);
/* After the last leaf: the stored tree holds nothing the records do not make
 * (every interior node of a tree of `tree_size` leaves, checked above, and
 * its size, equal to tree_size; nothing at all for 0 leaves): CORRUPT with the counts in
 * *stored_out and *expected_out when it holds more or the size differs; the store's errors. */
__attribute__((warn_unused_result)) enum ledger_err merkle_check_finish(struct merkle_check *check,
                                                                        uint64_t tree_size,
                                                                        uint64_t *stored_out,
                                                                        uint64_t *expected_out);
void merkle_check_close(struct merkle_check *check);

/* Where an entry of STORE_DB_MERKLE comes from (store.h, struct
 * store_origin), for a verifier that found it differing from a replay: a
 * node is "level L index I (sequences A..B)" and names A, the first record
 * it covers, as the log check does; the size entry is "the tree size" and
 * names none. `key` and `value` borrowed. */
void merkle_entry_origin(struct store_val key, struct store_val value, struct store_origin *out);

/* --- signed tree heads ----------------------------------------------------- */

/* The exact bytes an Ed25519 head signature covers (docs/verification.md):
 * the 16-byte tag "ledger.v1.head" followed by two NUL bytes, u64 BE
 * tree_size, the 32-byte root, i64 BE timestamp_us (two's complement). */
#define MERKLE_HEAD_BYTES (16 + 8 + 32 + 8)
void merkle_head_encode(uint64_t tree_size, const uint8_t root[MERKLE_HASH_BYTES],
                        int64_t timestamp_us, uint8_t out[MERKLE_HEAD_BYTES]);
/* Whether `signature` (CRYPTO_SIGNATURE_BYTES) is `public_key`'s Ed25519
 * signature of the head (tree_size, root, timestamp_us), encoded as above.
 * crypto_init must have succeeded. */
bool merkle_head_verify(uint64_t tree_size, const uint8_t root[MERKLE_HASH_BYTES],
                        int64_t timestamp_us, const uint8_t *signature, const uint8_t *public_key);
/* Whether a head's root can be that of its tree size: a head of size 0 must
 * carry the empty tree's root. A signed head that fails this contradicts
 * itself (its signer signed a root no history of that size has). */
bool merkle_head_root_possible(uint64_t tree_size, const uint8_t root[MERKLE_HASH_BYTES]);

#endif
