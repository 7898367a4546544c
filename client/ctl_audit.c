/*
 * ctl_audit.c: ledgerctl's verbs that check what the daemon says: head,
 * proof, consistency, verify and explain, and the anchor events --proofs
 * checks every page against (see ctl_verbs.h).
 *
 * Owns: verifying on the client, with the project's own Merkle code
 * (daemon/merkle.h, linked as a library) and Ed25519 (crypto.h), every
 * proof these verbs print: a head's signature over its 64-byte encoding, a
 * leaf hash recomputed from the stored record bytes, inclusion paths and
 * consistency paths against signed roots (docs/verification.md). A size
 * other than the current head's is trusted through a record the principal
 * may see: its inclusion path in that tree rebuilds the tree's root, and a
 * consistency proof ties that root to the signed head. Anything that does
 * not verify is MISMATCH (exit status 1) with a sentence saying what.
 * Does not own: the wire (libledger), printing formats (ctl_output).
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto.h"
#include "ctl_time.h"
#include "ctl_verbs.h"
#include "ledger_internal.h"
#include "ledger_limits.h"
#include "merkle.h"

#define HEX_PREFIX 8

static void hex_of(const uint8_t *data, size_t size, char *out)
{
    crypto_hex(data, size, out);
}

/* "size/abcd1234": a head in one short word. */
static void head_label(uint64_t tree_size, const uint8_t root[MERKLE_HASH_BYTES], char out[64])
{
    char hex[2 * MERKLE_HASH_BYTES + 1];
    hex_of(root, MERKLE_HASH_BYTES, hex);
    snprintf(out, 64, "%llu/%.*s", (unsigned long long)tree_size, HEX_PREFIX, hex);
}

/* --public-key HEX: the pinned key, or none. */
static enum ledger_err pinned_key_arg(struct ctl_context *context, const struct ctl_args *args,
                                      const char *name, uint8_t key[CRYPTO_SIGN_PUBLIC_BYTES],
                                      bool *given)
{
    const char *hex = ctl_arg(args, name);
    *given = false;
    if (hex == NULL) {
        return LEDGER_ERR_OK;
    }
    if (crypto_unhex(hex, key, CRYPTO_SIGN_PUBLIC_BYTES) != LEDGER_ERR_OK) {
        return ctl_fail(context, LEDGER_ERR_USAGE,
                        "--%s: give the ledger's Ed25519 public key as 64 hex digits", name);
    }
    *given = true;
    return LEDGER_ERR_OK;
}

/* How head_check names a key given with --public-key. */
#define PINNED_KEY "the pinned key (--public-key)"

/* Checks a head's sizes and its signature, by `pinned` when given (a key
 * that `pinned_name` names in errors: "the pinned key"), else by the key it
 * names (written to key_out). MISMATCH with the reason. */
static enum ledger_err head_check(struct ctl_context *context, const Ledger__V1__SignedHead *head,
                                  const char *which, const uint8_t *pinned, const char *pinned_name,
                                  uint8_t key_out[CRYPTO_SIGN_PUBLIC_BYTES])
{
    if (head->root_hash.len != MERKLE_HASH_BYTES) {
        return ctl_fail(context, LEDGER_ERR_MISMATCH, "the %s head's root is not 32 bytes", which);
    }
    if (head->signature.len != CRYPTO_SIGNATURE_BYTES) {
        return ctl_fail(context, LEDGER_ERR_MISMATCH,
                        "the %s head is not signed (the daemon has no head key)", which);
    }
    /* The key a head names only says which key signed it: with a pinned
     * key, a head that names none (a saved file cut short after its
     * signature) is verified by the pinned one, as ledger-verify does. */
    if (head->public_key.len == 0 && pinned == NULL) {
        /* pinned_name is given where the verb takes --public-key. */
        return ctl_fail(context, LEDGER_ERR_MISMATCH, "the %s head names no public key%s", which,
                        pinned_name != NULL
                            ? ": pass --public-key with the ledger's key as you pinned it"
                            : ", so its signature cannot be checked");
    }
    if (head->public_key.len != 0 && head->public_key.len != CRYPTO_SIGN_PUBLIC_BYTES) {
        return ctl_fail(context, LEDGER_ERR_MISMATCH,
                        "the %s head names a public key of %zu bytes, not 32", which,
                        head->public_key.len);
    }
    if (pinned != NULL && head->public_key.len != 0 &&
        memcmp(pinned, head->public_key.data, CRYPTO_SIGN_PUBLIC_BYTES) != 0) {
        char named[2 * CRYPTO_SIGN_PUBLIC_BYTES + 1];
        hex_of(head->public_key.data, CRYPTO_SIGN_PUBLIC_BYTES, named);
        return ctl_fail(context, LEDGER_ERR_MISMATCH, "the %s head is signed by key %s, not by %s",
                        which, named, pinned_name);
    }
    const uint8_t *key = pinned != NULL ? pinned : head->public_key.data;
    if (crypto_init() != LEDGER_ERR_OK ||
        !merkle_head_verify(head->tree_size, head->root_hash.data, head->timestamp_us,
                            head->signature.data, key)) {
        return ctl_fail(context, LEDGER_ERR_MISMATCH,
                        "the %s head's signature does not verify (tree size %llu)", which,
                        (unsigned long long)head->tree_size);
    }
    if (!merkle_head_root_possible(head->tree_size, head->root_hash.data)) {
        return ctl_fail(context, LEDGER_ERR_MISMATCH,
                        "the %s head covers no event but its root is not the empty tree's "
                        "(SHA-256 of nothing): its signer signed a head that contradicts itself",
                        which);
    }
    memcpy(key_out, key, CRYPTO_SIGN_PUBLIC_BYTES);
    return LEDGER_ERR_OK;
}

static enum ledger_err fetch_head(struct ctl_context *context, Ledger__V1__QueryResult **out)
{
    Ledger__V1__HeadQuery head = LEDGER__V1__HEAD_QUERY__INIT;
    Ledger__V1__Query query = LEDGER__V1__QUERY__INIT;
    query.kind_case = LEDGER__V1__QUERY__KIND_HEAD;
    query.head = &head;
    Ledger__V1__QueryResult *result = NULL;
    enum ledger_err err = ctl_query(context, &query, &result);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    if (result->head == NULL) {
        ledger_query_result_free(result);
        return ctl_fail(context, LEDGER_ERR_PROTOCOL_ERROR, "the reply carries no head");
    }
    *out = result;
    return LEDGER_ERR_OK;
}

/* The root an inclusion path rebuilds (docs/verification.md 4.1); false
 * when the path's shape does not fit the tree. */
static bool root_from_inclusion(const uint8_t leaf[MERKLE_HASH_BYTES], uint64_t leaf_index,
                                uint64_t tree_size, const ProtobufCBinaryData *path,
                                size_t path_length, uint8_t out[MERKLE_HASH_BYTES])
{
    if (leaf_index >= tree_size || path_length > MERKLE_PATH_MAX) {
        return false;
    }
    uint64_t fn = leaf_index, sn = tree_size - 1;
    uint8_t r[MERKLE_HASH_BYTES];
    memcpy(r, leaf, MERKLE_HASH_BYTES);
    for (size_t i = 0; i < path_length; i++) {
        if (sn == 0 || path[i].len != MERKLE_HASH_BYTES) {
            return false;
        }
        if ((fn & 1) != 0 || fn == sn) {
            crypto_node_hash(path[i].data, r, r);
            if ((fn & 1) == 0) {
                while ((fn & 1) == 0 && fn != 0) {
                    fn >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            crypto_node_hash(r, path[i].data, r);
        }
        fn >>= 1;
        sn >>= 1;
    }
    if (sn != 0) {
        return false;
    }
    memcpy(out, r, MERKLE_HASH_BYTES);
    return true;
}

/* A proto path as the array merkle_verify_* read. */
static bool path_copy(const ProtobufCBinaryData *path, size_t length,
                      uint8_t (*out)[MERKLE_HASH_BYTES])
{
    if (length > MERKLE_PATH_MAX) {
        return false;
    }
    for (size_t i = 0; i < length; i++) {
        if (path[i].len != MERKLE_HASH_BYTES) {
            return false;
        }
        memcpy(out[i], path[i].data, MERKLE_HASH_BYTES);
    }
    return true;
}

/* Whether two events say the same: protobuf-c packs equal messages to
 * equal bytes (fields in number order, unknown fields kept), whatever the
 * bytes they were decoded from. */
static bool events_equal(const Ledger__V1__Event *a, const Ledger__V1__Event *b)
{
    size_t size = ledger__v1__event__get_packed_size(a);
    if (size != ledger__v1__event__get_packed_size(b)) {
        return false;
    }
    uint8_t *bytes = malloc(2 * size + 1);
    bool equal = bytes != NULL && ledger__v1__event__pack(a, bytes) == size &&
                 ledger__v1__event__pack(b, bytes + size) == size &&
                 memcmp(bytes, bytes + size, size) == 0;
    free(bytes);
    return equal;
}

/* Decodes an entry's record: whether it decodes and the decoded event sent
 * beside it (if any) is it; *sequence_out gets the record's own sequence (0
 * when it does not decode). */
static bool record_is_event(const Ledger__V1__EventEntry *entry, uint64_t *sequence_out)
{
    Ledger__V1__Event *event =
        ledger__v1__event__unpack(NULL, entry->record.len, entry->record.data);
    *sequence_out = event != NULL ? event->sequence : 0;
    bool same = event != NULL && (entry->event == NULL || events_equal(event, entry->event));
    if (event != NULL) {
        ledger__v1__event__free_unpacked(event, NULL);
    }
    return same;
}

/* Checks an entry's record against its proof and, with root given, the
 * proof against that root: the leaf hash recomputed from the record bytes,
 * the record's own sequence, the proof's tree size, and that the decoded
 * event sent beside the record (what explain prints) is the record's. */
static enum ledger_err entry_check(struct ctl_context *context, const Ledger__V1__EventEntry *entry,
                                   uint64_t sequence, uint64_t tree_size,
                                   const uint8_t root[MERKLE_HASH_BYTES])
{
    const Ledger__V1__InclusionProof *proof = entry->proof;
    if (proof == NULL) {
        return ctl_fail(context, LEDGER_ERR_PROTOCOL_ERROR, "sequence %llu came without its proof",
                        (unsigned long long)sequence);
    }
    uint64_t named = 0;
    bool same = record_is_event(entry, &named);
    if (named != sequence) {
        return ctl_fail(context, LEDGER_ERR_MISMATCH,
                        "the record sent as sequence %llu does not decode to that sequence",
                        (unsigned long long)sequence);
    }
    uint8_t leaf[MERKLE_HASH_BYTES];
    merkle_leaf_hash(entry->record.data, entry->record.len, leaf);
    if (proof->leaf_hash.len != MERKLE_HASH_BYTES ||
        memcmp(leaf, proof->leaf_hash.data, MERKLE_HASH_BYTES) != 0) {
        return ctl_fail(
            context, LEDGER_ERR_MISMATCH,
            "sequence %llu: the leaf hash of the record bytes is not the proof's leaf hash",
            (unsigned long long)sequence);
    }
    if (!same) {
        return ctl_fail(context, LEDGER_ERR_MISMATCH,
                        "the event sent as sequence %llu is not its record decoded",
                        (unsigned long long)sequence);
    }
    if (proof->sequence != sequence || proof->tree_size != tree_size) {
        return ctl_fail(context, LEDGER_ERR_MISMATCH,
                        "sequence %llu: the proof is for sequence %llu in a tree of %llu, not %llu",
                        (unsigned long long)sequence, (unsigned long long)proof->sequence,
                        (unsigned long long)proof->tree_size, (unsigned long long)tree_size);
    }
    if (root != NULL) {
        uint8_t(*path)[MERKLE_HASH_BYTES] = malloc(MERKLE_PATH_MAX * MERKLE_HASH_BYTES);
        bool ok =
            path != NULL && path_copy(proof->path, proof->n_path, path) &&
            merkle_verify_inclusion(leaf, sequence - 1, tree_size,
                                    (const uint8_t(*)[MERKLE_HASH_BYTES])path, proof->n_path, root);
        free(path);
        if (!ok) {
            return ctl_fail(context, LEDGER_ERR_MISMATCH,
                            "the inclusion proof of sequence %llu does not verify against the root "
                            "of tree size %llu",
                            (unsigned long long)sequence, (unsigned long long)tree_size);
        }
    }
    return LEDGER_ERR_OK;
}

/* Events query: the first event the principal may see after `after`, with
 * its proof in the tree of tree_size. NOT_FOUND when there is none. A page
 * the daemon ended before finding one (it examines a bounded number of
 * events per page, and another partner's may fill that) says how far it got:
 * the search goes on from there, to the end of the tree. */
static enum ledger_err fetch_entry(struct ctl_context *context, uint64_t after, uint64_t tree_size,
                                   Ledger__V1__QueryResult **out)
{
    Ledger__V1__EventsQuery events = LEDGER__V1__EVENTS_QUERY__INIT;
    Ledger__V1__Query query = LEDGER__V1__QUERY__INIT;
    events.limit = 1;
    events.include_proofs = true;
    events.tree_size = tree_size;
    query.kind_case = LEDGER__V1__QUERY__KIND_EVENTS;
    query.events = &events;
    for (uint64_t from = after;;) {
        events.after_sequence = from;
        Ledger__V1__QueryResult *result = NULL;
        enum ledger_err err = ctl_query(context, &query, &result);
        if (err != LEDGER_ERR_OK) {
            return err;
        }
        if (result->n_events != 0) {
            if (result->events[0]->event == NULL) {
                /* A reply that lies, not a record the principal may not see. */
                ledger_query_result_free(result);
                return ctl_fail(context, LEDGER_ERR_PROTOCOL_ERROR,
                                "the daemon returned an events entry without its event (after "
                                "sequence %llu)",
                                (unsigned long long)from);
            }
            *out = result;
            return LEDGER_ERR_OK;
        }
        uint64_t reached = result->last_sequence;
        ledger_query_result_free(result);
        /* Each page must get further, and never past the tree: the loop
         * ends within tree_size pages whatever the replies say. */
        if (reached <= from || (tree_size != 0 && reached >= tree_size)) {
            return LEDGER_ERR_NOT_FOUND;
        }
        from = reached;
    }
}

static enum ledger_err fetch_consistency(struct ctl_context *context, uint64_t from_size,
                                         uint64_t to_size, Ledger__V1__QueryResult **out)
{
    Ledger__V1__ConsistencyQuery consistency = LEDGER__V1__CONSISTENCY_QUERY__INIT;
    Ledger__V1__Query query = LEDGER__V1__QUERY__INIT;
    consistency.from_size = from_size;
    consistency.to_size = to_size;
    query.kind_case = LEDGER__V1__QUERY__KIND_CONSISTENCY;
    query.consistency = &consistency;
    Ledger__V1__QueryResult *result = NULL;
    enum ledger_err err = ctl_query(context, &query, &result);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    if (result->consistency == NULL || result->consistency->from_size != from_size ||
        result->consistency->to_size != to_size) {
        ledger_query_result_free(result);
        return ctl_fail(context, LEDGER_ERR_PROTOCOL_ERROR,
                        "the reply carries no consistency proof from %llu to %llu",
                        (unsigned long long)from_size, (unsigned long long)to_size);
    }
    *out = result;
    return LEDGER_ERR_OK;
}

/* Verifies a consistency proof between two trusted roots. */
static bool consistency_ok(const Ledger__V1__ConsistencyProof *proof,
                           const uint8_t from_root[MERKLE_HASH_BYTES],
                           const uint8_t to_root[MERKLE_HASH_BYTES])
{
    uint8_t(*path)[MERKLE_HASH_BYTES] = malloc(MERKLE_PATH_MAX * MERKLE_HASH_BYTES);
    bool ok = path != NULL && path_copy(proof->path, proof->n_path, path) &&
              merkle_verify_consistency(proof->from_size, proof->to_size, from_root, to_root,
                                        (const uint8_t(*)[MERKLE_HASH_BYTES])path, proof->n_path);
    free(path);
    return ok;
}

/* NOT_FOUND for a tree size (or, when !tree_size, a sequence) past the
 * signed head of head_size events: nothing past it can be proven, which is
 * said here rather than in the daemon's bounds, with what to give instead. */
static enum ledger_err past_head(struct ctl_context *context, bool tree_size, uint64_t value,
                                 uint64_t head_size)
{
    unsigned long long size = (unsigned long long)head_size;
    char instead[96];
    snprintf(instead, sizeof instead,
             tree_size ? "at most %llu, or leave it out for the head's tree"
                       : "--seq 1..%llu, or ask again once the ledger holds it",
             size);
    return ctl_fail(
        context, LEDGER_ERR_NOT_FOUND, "%s %llu is past the signed head (%llu events): give %s",
        tree_size ? "--tree-size" : "sequence", (unsigned long long)value, size, instead);
}

/* The root of the tree of `size` records, trusted through the verified
 * head: the head's own root, or else rebuilt from a visible record's
 * inclusion path in that tree and tied to the head by a consistency proof. */
static enum ledger_err trusted_root(struct ctl_context *context, const Ledger__V1__SignedHead *head,
                                    uint64_t size, uint8_t out[MERKLE_HASH_BYTES])
{
    if (size == head->tree_size) {
        memcpy(out, head->root_hash.data, MERKLE_HASH_BYTES);
        return LEDGER_ERR_OK;
    }
    if (size > head->tree_size) {
        return past_head(context, true, size, head->tree_size);
    }
    if (size == 0) {
        return ctl_fail(context, LEDGER_ERR_NOT_FOUND,
                        "tree size 0 has no root to check: give 1..%llu",
                        (unsigned long long)head->tree_size);
    }
    Ledger__V1__QueryResult *entries = NULL;
    Ledger__V1__QueryResult *consistency = NULL;
    enum ledger_err err = fetch_entry(context, 0, size, &entries);
    if (err == LEDGER_ERR_NOT_FOUND) {
        return ctl_fail(
            context, LEDGER_ERR_NOT_FOUND,
            "cannot check the root of tree size %llu: none of its records is visible to "
            "you (use the signed head's size %llu, a root you kept, or verify --head)",
            (unsigned long long)size, (unsigned long long)head->tree_size);
    }
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    const Ledger__V1__EventEntry *entry = entries->events[0];
    uint64_t sequence = entry->event->sequence;
    uint8_t leaf[MERKLE_HASH_BYTES], root[MERKLE_HASH_BYTES];
    err = entry_check(context, entry, sequence, size, NULL);
    if (err == LEDGER_ERR_OK) {
        merkle_leaf_hash(entry->record.data, entry->record.len, leaf);
        if (!root_from_inclusion(leaf, sequence - 1, size, entry->proof->path, entry->proof->n_path,
                                 root)) {
            err = ctl_fail(context, LEDGER_ERR_MISMATCH,
                           "the inclusion path of sequence %llu does not fit a tree of %llu",
                           (unsigned long long)sequence, (unsigned long long)size);
        }
    }
    if (err == LEDGER_ERR_OK) {
        err = fetch_consistency(context, size, head->tree_size, &consistency);
    }
    if (err == LEDGER_ERR_OK &&
        !consistency_ok(consistency->consistency, root, head->root_hash.data)) {
        err = ctl_fail(context, LEDGER_ERR_MISMATCH,
                       "the tree of size %llu is not consistent with the signed head of size %llu",
                       (unsigned long long)size, (unsigned long long)head->tree_size);
    }
    if (err == LEDGER_ERR_OK) {
        memcpy(out, root, MERKLE_HASH_BYTES);
    }
    ledger_query_result_free(consistency);
    ledger_query_result_free(entries);
    return err;
}

/* Table output: one line saying what was verified. */
static void verified_line(struct ctl_context *context, const char *what)
{
    if (context->format == CTL_FORMAT_TABLE) {
        fprintf(context->out, "verified: %s\n", what);
    }
}

/* ------------------------------------------------------------------------ */
/* head */

const struct ctl_option ctl_head_options[] = {
    {"public-key", CTL_OPTION_FLAG, NULL, "print only the head-signing public key (hex)", false},
    {"save", CTL_OPTION_VALUE, "FILE",
     "after verifying its signature, write the head to FILE as a serialized ledger.v1.SignedHead "
     "(for verify --head and ledger-verify --head)",
     false},
    {NULL, CTL_OPTION_VALUE, NULL, NULL, false},
};

/* The directory that holds path, into out (of out_size bytes). */
static const char *parent_directory(const char *path, char *out, size_t out_size)
{
    snprintf(out, out_size, "%s", path);
    return dirname(out);
}

/* Writes bytes to path through a temporary file and a rename, then syncs
 * the directory so that the rename survives a power loss. The temporary
 * file is named apart from path's own name, in its directory, so that a
 * name as long as a directory entry holds can be saved. */
static enum ledger_err write_file_atomic(struct ctl_context *context, const char *path,
                                         const uint8_t *data, size_t size)
{
    char temporary[4096], directory[sizeof temporary];
    if (strlen(path) >= sizeof directory ||
        snprintf(temporary, sizeof temporary, "%s/.ledgerctl-save-%ld.tmp",
                 parent_directory(path, directory, sizeof directory),
                 (long)getpid()) >= (int)sizeof temporary) {
        return ctl_fail(context, LEDGER_ERR_USAGE, "--save: the path is too long");
    }
    int fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        /* The file is made beside FILE: what stops it is FILE's directory. */
        int saved = errno;
        const char *parent = parent_directory(path, directory, sizeof directory);
        if (saved == ENOENT || saved == ENOTDIR) {
            return ctl_fail(context, LEDGER_ERR_IO_ERROR,
                            "cannot write %s: its directory %s %s; create it or save elsewhere",
                            path, parent,
                            saved == ENOENT ? "does not exist" : "is not a directory");
        }
        if (saved == EACCES || saved == EPERM || saved == EROFS) {
            return ctl_fail(
                context, LEDGER_ERR_IO_ERROR,
                "cannot write %s: its directory %s cannot be written (%s); save it in a "
                "directory you can write",
                path, parent, strerror(saved));
        }
        return ctl_fail(context, LEDGER_ERR_IO_ERROR, "cannot write %s: %s", path, strerror(saved));
    }
    /* The reason of the first step that failed: a short write sets none
     * of its own, and close would keep an older one. */
    bool ok = ledger__write_all(fd, data, size) == LEDGER_ERR_OK && fsync(fd) == 0;
    int reason = errno;
    if (close(fd) != 0 && ok) {
        ok = false;
        reason = errno;
    }
    if (ok && rename(temporary, path) != 0) {
        ok = false;
        reason = errno;
    }
    if (!ok) {
        unlink(temporary);
        return ctl_fail(context, LEDGER_ERR_IO_ERROR, "cannot write %s: %s", path,
                        strerror(reason));
    }
    if (ledger__directory_sync(path) != LEDGER_ERR_OK) {
        int saved = errno;
        return ctl_fail(context, LEDGER_ERR_IO_ERROR,
                        "wrote %s, but its directory %s could not be synced (%s): the file may "
                        "not survive a power loss; save the head again",
                        path, parent_directory(path, directory, sizeof directory), strerror(saved));
    }
    return LEDGER_ERR_OK;
}

enum ledger_err ctl_head_check(struct ctl_context *context, const Ledger__V1__SignedHead *head,
                               const char *which)
{
    uint8_t key[CRYPTO_SIGN_PUBLIC_BYTES];
    return head_check(context, head, which, NULL, NULL, key);
}

enum ledger_err ctl_head_run(struct ctl_context *context, const struct ctl_args *args)
{
    uint8_t key[CRYPTO_SIGN_PUBLIC_BYTES];
    const char *save = ctl_arg(args, "save");
    enum ledger_err err = LEDGER_ERR_OK;
    if (save != NULL && save[0] == '\0') {
        return ctl_fail(context, LEDGER_ERR_USAGE, "--save: give a file name");
    }
    if (save != NULL && ctl_flag(args, "public-key")) {
        return ctl_fail(context, LEDGER_ERR_USAGE, "give --save or --public-key, not both");
    }
    Ledger__V1__QueryResult *result = NULL;
    if ((err = fetch_head(context, &result)) != LEDGER_ERR_OK) {
        return err;
    }
    const Ledger__V1__SignedHead *head = result->head;
    if (ctl_flag(args, "public-key")) {
        err = ctl_output_value(context->out, context->format, "public_key", &head->public_key);
        ledger_query_result_free(result);
        return err;
    }
    /* Printed or saved, a head is shown only once its signature verifies
     * (against the key it names: pin one with proof, verify or explain). */
    err = head_check(context, head, "current", NULL, NULL, key);
    if (err == LEDGER_ERR_OK && save != NULL) {
        size_t size = ledger__v1__signed_head__get_packed_size(head);
        uint8_t *bytes = malloc(size + 1);
        if (bytes == NULL) {
            err = LEDGER_ERR_NO_MEMORY;
        } else {
            ledger__v1__signed_head__pack(head, bytes);
            err = write_file_atomic(context, save, bytes, size);
            free(bytes);
        }
    }
    if (err == LEDGER_ERR_OK) {
        /* "verified", as proof, consistency and verify say it: the head's
         * own "signature" field keeps its hex in every format. */
        struct ctl_extra extras[2] = {{"verified", NULL, 1, true}, {"saved_to", save, 0, false}};
        err = ctl_output_message_extras(context->out, context->format, "head", &head->base, extras,
                                        save != NULL ? 2 : 1);
    }
    ledger_query_result_free(result);
    return err;
}

/* ------------------------------------------------------------------------ */
/* proof */

const struct ctl_option ctl_proof_options[] = {
    {"seq", CTL_OPTION_VALUE, "N", "the event's sequence", true},
    {"tree-size", CTL_OPTION_VALUE, "M", "prove against this tree size (default: the head)", false},
    {"public-key", CTL_OPTION_VALUE, "HEX",
     "the ledger's public key as pinned out of band (default: the key the head names)", false},
    {NULL, CTL_OPTION_VALUE, NULL, NULL, false},
};

static enum ledger_err number_arg(struct ctl_context *context, const struct ctl_args *args,
                                  const char *name, uint64_t *out)
{
    char message[CTL_MESSAGE_SIZE];
    const char *text = ctl_arg(args, name);
    *out = 0;
    if (text != NULL && ctl_unsigned_parse(text, UINT64_MAX, out, message) != LEDGER_ERR_OK) {
        return ctl_fail(context, LEDGER_ERR_USAGE, "--%s: %s", name, message);
    }
    return LEDGER_ERR_OK;
}

/* The current head, fetched and verified (by the pinned key when given);
 * key_out gets the key it verified by. */
static enum ledger_err verified_head(struct ctl_context *context, const struct ctl_args *args,
                                     Ledger__V1__QueryResult **out,
                                     uint8_t key[CRYPTO_SIGN_PUBLIC_BYTES])
{
    uint8_t pinned[CRYPTO_SIGN_PUBLIC_BYTES];
    bool pin = false;
    enum ledger_err err = pinned_key_arg(context, args, "public-key", pinned, &pin);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    Ledger__V1__QueryResult *result = NULL;
    if ((err = fetch_head(context, &result)) != LEDGER_ERR_OK) {
        return err;
    }
    if ((err = head_check(context, result->head, "current", pin ? pinned : NULL, PINNED_KEY,
                          key)) != LEDGER_ERR_OK) {
        ledger_query_result_free(result);
        return err;
    }
    *out = result;
    return LEDGER_ERR_OK;
}

enum ledger_err ctl_proof_run(struct ctl_context *context, const struct ctl_args *args)
{
    uint64_t sequence = 0, tree_size = 0;
    enum ledger_err err;
    if ((err = number_arg(context, args, "seq", &sequence)) != LEDGER_ERR_OK ||
        (err = number_arg(context, args, "tree-size", &tree_size)) != LEDGER_ERR_OK) {
        return err;
    }
    if (sequence == 0) {
        return ctl_fail(context, LEDGER_ERR_USAGE, "--seq: sequences start at 1");
    }
    if (ctl_arg(args, "tree-size") != NULL && tree_size < sequence) {
        return ctl_fail(context, LEDGER_ERR_USAGE, "--tree-size: must be at least --seq");
    }
    Ledger__V1__QueryResult *head_result = NULL, *proof_result = NULL, *entry_result = NULL;
    uint8_t key[CRYPTO_SIGN_PUBLIC_BYTES];
    if ((err = verified_head(context, args, &head_result, key)) != LEDGER_ERR_OK) {
        return err;
    }
    const Ledger__V1__SignedHead *head = head_result->head;
    /* Past the signed head nothing can be proven: said here, as consistency
     * says it, rather than in the daemon's bounds. */
    bool size_past = tree_size > head->tree_size;
    if (size_past || (tree_size == 0 && sequence > head->tree_size)) {
        err = past_head(context, size_past, size_past ? tree_size : sequence, head->tree_size);
        ledger_query_result_free(head_result);
        return err;
    }
    if (tree_size == 0) {
        tree_size = head->tree_size; /* the size the head signed, even if the log grew since */
    }
    Ledger__V1__InclusionQuery inclusion = LEDGER__V1__INCLUSION_QUERY__INIT;
    Ledger__V1__Query query = LEDGER__V1__QUERY__INIT;
    inclusion.sequence = sequence;
    inclusion.tree_size = tree_size;
    query.kind_case = LEDGER__V1__QUERY__KIND_INCLUSION;
    query.inclusion = &inclusion;
    uint8_t root[MERKLE_HASH_BYTES];
    err = ctl_query(context, &query, &proof_result);
    if (err == LEDGER_ERR_OK && proof_result->inclusion == NULL) {
        err = ctl_fail(context, LEDGER_ERR_PROTOCOL_ERROR, "the reply carries no proof");
    }
    if (err == LEDGER_ERR_OK) {
        err = fetch_entry(context, sequence - 1, tree_size, &entry_result);
        if (err == LEDGER_ERR_OK && entry_result->events[0]->event->sequence != sequence) {
            ledger_query_result_free(entry_result);
            entry_result = NULL;
            err = LEDGER_ERR_NOT_FOUND;
        }
        if (err == LEDGER_ERR_NOT_FOUND) {
            err = ctl_fail(context, LEDGER_ERR_NOT_FOUND,
                           "the record of sequence %llu is not visible to you",
                           (unsigned long long)sequence);
        }
    }
    if (err == LEDGER_ERR_OK) {
        err = trusted_root(context, head, tree_size, root);
    }
    if (err == LEDGER_ERR_OK) {
        /* The record's bytes, and the proof printed, both against the root. */
        Ledger__V1__EventEntry printed = *entry_result->events[0];
        printed.proof = proof_result->inclusion;
        err = entry_check(context, &printed, sequence, tree_size, root);
    }
    if (err == LEDGER_ERR_OK) {
        char label[64], line[256];
        head_label(head->tree_size, head->root_hash.data, label);
        struct ctl_extra extras[2] = {{"verified", NULL, 1, true}, {"head", label, 0, false}};
        err = ctl_output_message_extras(context->out, context->format, "inclusion",
                                        &proof_result->inclusion->base, extras, 2);
        snprintf(line, sizeof line,
                 "event %llu (leaf hash recomputed from its record) is in the tree of size %llu, "
                 "%s signed head %s",
                 (unsigned long long)sequence, (unsigned long long)tree_size,
                 tree_size == head->tree_size ? "the" : "consistent with the", label);
        if (err == LEDGER_ERR_OK) {
            verified_line(context, line);
        }
    }
    ledger_query_result_free(entry_result);
    ledger_query_result_free(proof_result);
    ledger_query_result_free(head_result);
    return err;
}

/* ------------------------------------------------------------------------ */
/* consistency */

const struct ctl_option ctl_consistency_options[] = {
    {"from", CTL_OPTION_VALUE, "M", "the older tree size", true},
    {"to", CTL_OPTION_VALUE, "N", "the newer tree size", true},
    {"from-root", CTL_OPTION_VALUE, "HEX",
     "the root of the older tree as you kept it (e.g. from a saved head); default: rebuilt from "
     "a record you may see",
     false},
    {"public-key", CTL_OPTION_VALUE, "HEX",
     "the ledger's public key as pinned out of band (default: the key the head names)", false},
    {NULL, CTL_OPTION_VALUE, NULL, NULL, false},
};

enum ledger_err ctl_consistency_run(struct ctl_context *context, const struct ctl_args *args)
{
    uint64_t from = 0, to = 0;
    enum ledger_err err;
    if ((err = number_arg(context, args, "from", &from)) != LEDGER_ERR_OK ||
        (err = number_arg(context, args, "to", &to)) != LEDGER_ERR_OK) {
        return err;
    }
    if (from == 0 || from > to) {
        return ctl_fail(context, LEDGER_ERR_USAGE, "--from: must be 1..--to");
    }
    Ledger__V1__QueryResult *head_result = NULL, *proof_result = NULL;
    uint8_t key[CRYPTO_SIGN_PUBLIC_BYTES];
    if ((err = verified_head(context, args, &head_result, key)) != LEDGER_ERR_OK) {
        return err;
    }
    const Ledger__V1__SignedHead *head = head_result->head;
    uint8_t from_root[MERKLE_HASH_BYTES], to_root[MERKLE_HASH_BYTES];
    if (to > head->tree_size) {
        err = ctl_fail(context, LEDGER_ERR_NOT_FOUND, "--to %llu is past the signed head (%llu)",
                       (unsigned long long)to, (unsigned long long)head->tree_size);
    }
    if (err == LEDGER_ERR_OK) {
        err = fetch_consistency(context, from, to, &proof_result);
    }
    if (err == LEDGER_ERR_OK) {
        err = trusted_root(context, head, to, to_root);
    }
    const char *from_root_hex = ctl_arg(args, "from-root");
    if (err == LEDGER_ERR_OK && from_root_hex != NULL) {
        if (crypto_unhex(from_root_hex, from_root, MERKLE_HASH_BYTES) != LEDGER_ERR_OK) {
            err = ctl_fail(context, LEDGER_ERR_USAGE, "--from-root: give 64 hex digits");
        }
    } else if (err == LEDGER_ERR_OK) {
        err = trusted_root(context, head, from, from_root);
    }
    if (err == LEDGER_ERR_OK && !consistency_ok(proof_result->consistency, from_root, to_root)) {
        err = ctl_fail(context, LEDGER_ERR_MISMATCH,
                       "the consistency proof from %llu to %llu does not verify: the tree of size "
                       "%llu is not a prefix of the tree of size %llu",
                       (unsigned long long)from, (unsigned long long)to, (unsigned long long)from,
                       (unsigned long long)to);
    }
    if (err == LEDGER_ERR_OK) {
        char label[64], line[256];
        head_label(head->tree_size, head->root_hash.data, label);
        struct ctl_extra extras[2] = {{"verified", NULL, 1, true}, {"head", label, 0, false}};
        err = ctl_output_message_extras(context->out, context->format, "consistency",
                                        &proof_result->consistency->base, extras, 2);
        snprintf(line, sizeof line,
                 "the tree of size %llu is a prefix of the tree of size %llu (%s signed head %s)",
                 (unsigned long long)from, (unsigned long long)to,
                 from_root_hex != NULL
                     ? "the older root as given with --from-root, the newer checked against"
                     : "roots checked against",
                 label);
        if (err == LEDGER_ERR_OK) {
            verified_line(context, line);
        }
    }
    ledger_query_result_free(proof_result);
    ledger_query_result_free(head_result);
    return err;
}

/* ------------------------------------------------------------------------ */
/* verify */

const struct ctl_option ctl_verify_options[] = {
    {"head", CTL_OPTION_VALUE, "FILE",
     "a head saved earlier (head --save, or a backup's head.pb): a serialized ledger.v1.SignedHead",
     true},
    {"public-key", CTL_OPTION_VALUE, "HEX",
     "the ledger's public key as pinned out of band (default: the key inside the saved head)",
     false},
    {NULL, CTL_OPTION_VALUE, NULL, NULL, false},
};

static enum ledger_err read_head_file(struct ctl_context *context, const char *path,
                                      Ledger__V1__SignedHead **out)
{
    uint8_t buffer[LEDGER_HEAD_FILE_MAX + 1];
    FILE *file = fopen(path, "rb");
    if (file == NULL) {
        return ctl_fail(context, LEDGER_ERR_IO_ERROR, "cannot read %s: %s", path, strerror(errno));
    }
    errno = 0;
    size_t size = fread(buffer, 1, sizeof buffer, file);
    bool bad = ferror(file) != 0;
    int reason = errno != 0 ? errno : EIO;
    fclose(file);
    if (bad) {
        /* A directory opens, and fails only when read (EISDIR). */
        return ctl_fail(context, LEDGER_ERR_IO_ERROR, "cannot read %s: %s", path, strerror(reason));
    }
    Ledger__V1__SignedHead *head =
        size <= LEDGER_HEAD_FILE_MAX ? ledger__v1__signed_head__unpack(NULL, size, buffer) : NULL;
    /* An empty file decodes as a SignedHead of nothing: no head either (as
     * ledger-verify says, a file without a 32-byte root is not a head). */
    if (head != NULL && head->root_hash.len != MERKLE_HASH_BYTES) {
        ledger__v1__signed_head__free_unpacked(head, NULL);
        head = NULL;
    }
    if (head == NULL) {
        return ctl_fail(context, LEDGER_ERR_USAGE,
                        "--head: %s is not a serialized ledger.v1.SignedHead%s (save one with "
                        "ledgerctl head --save FILE)",
                        path, size > LEDGER_HEAD_FILE_MAX ? " (it is larger than any head)" : "");
    }
    if (head->signature.len != CRYPTO_SIGNATURE_BYTES) {
        ledger__v1__signed_head__free_unpacked(head, NULL);
        return ctl_fail(context, LEDGER_ERR_MISMATCH,
                        "the saved head in %s carries no signature (64 bytes): the file was cut "
                        "short or altered; use a head saved with ledgerctl head --save",
                        path);
    }
    *out = head;
    return LEDGER_ERR_OK;
}

static void head_lines(FILE *out, const char *which, const Ledger__V1__SignedHead *head)
{
    char root[2 * MERKLE_HASH_BYTES + 1], when[CTL_TIME_TEXT_SIZE];
    hex_of(head->root_hash.data, MERKLE_HASH_BYTES, root);
    ctl_time_format(head->timestamp_us, when);
    fprintf(out, "%-14s tree size %llu, root %s, signed %s: signature verified\n", which,
            (unsigned long long)head->tree_size, root, when);
}

enum ledger_err ctl_verify_run(struct ctl_context *context, const struct ctl_args *args)
{
    uint8_t pinned[CRYPTO_SIGN_PUBLIC_BYTES], key[CRYPTO_SIGN_PUBLIC_BYTES];
    bool pin = false;
    const char *path = ctl_arg(args, "head");
    Ledger__V1__SignedHead *saved = NULL;
    Ledger__V1__QueryResult *current_result = NULL, *proof_result = NULL;
    enum ledger_err err = pinned_key_arg(context, args, "public-key", pinned, &pin);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    if ((err = read_head_file(context, path, &saved)) != LEDGER_ERR_OK) {
        return err;
    }
    if ((err = head_check(context, saved, "saved", pin ? pinned : NULL, PINNED_KEY, key)) !=
            LEDGER_ERR_OK ||
        (err = fetch_head(context, &current_result)) != LEDGER_ERR_OK) {
        goto cleanup;
    }
    const Ledger__V1__SignedHead *current = current_result->head;
    uint8_t same_key[CRYPTO_SIGN_PUBLIC_BYTES];
    /* The current head must be signed by the same key: the pinned one, or
     * else the one the saved head named. */
    if ((err = head_check(context, current, "current", key,
                          pin ? PINNED_KEY : "the saved head's key", same_key)) != LEDGER_ERR_OK) {
        goto cleanup;
    }
    size_t path_length = 0;
    if (current->tree_size < saved->tree_size) {
        err =
            ctl_fail(context, LEDGER_ERR_MISMATCH,
                     "the history was cut back: the saved head covers %llu events, the current "
                     "head only %llu",
                     (unsigned long long)saved->tree_size, (unsigned long long)current->tree_size);
        goto cleanup;
    }
    if (saved->tree_size == current->tree_size) {
        if (memcmp(saved->root_hash.data, current->root_hash.data, MERKLE_HASH_BYTES) != 0) {
            err =
                ctl_fail(context, LEDGER_ERR_MISMATCH,
                         "the history was rewritten: both heads cover %llu events but their roots "
                         "differ",
                         (unsigned long long)saved->tree_size);
            goto cleanup;
        }
    } else if (saved->tree_size > 0) {
        if ((err = fetch_consistency(context, saved->tree_size, current->tree_size,
                                     &proof_result)) != LEDGER_ERR_OK) {
            goto cleanup;
        }
        if (!consistency_ok(proof_result->consistency, saved->root_hash.data,
                            current->root_hash.data)) {
            err = ctl_fail(context, LEDGER_ERR_MISMATCH,
                           "the history was rewritten: the consistency proof from the saved head "
                           "(%llu events) to the current head (%llu) does not verify",
                           (unsigned long long)saved->tree_size,
                           (unsigned long long)current->tree_size);
            goto cleanup;
        }
        path_length = proof_result->consistency->n_path;
    }
    char key_hex[2 * CRYPTO_SIGN_PUBLIC_BYTES + 1];
    hex_of(key, CRYPTO_SIGN_PUBLIC_BYTES, key_hex);
    if (context->format == CTL_FORMAT_TABLE) {
        fprintf(context->out, "%-14s %s (%s)\n", "public key", key_hex,
                pin ? "pinned with --public-key" : "named by the saved head");
        head_lines(context->out, "saved head", saved);
        head_lines(context->out, "current head", current);
        if (saved->tree_size == current->tree_size) {
            fprintf(context->out, "%-14s same size, same root\n", "consistency");
        } else if (saved->tree_size == 0) {
            fprintf(context->out, "%-14s the saved head is the empty tree: nothing to prove\n",
                    "consistency");
        } else {
            fprintf(context->out, "%-14s proof from %llu to %llu verified (%zu hash%s)\n",
                    "consistency", (unsigned long long)saved->tree_size,
                    (unsigned long long)current->tree_size, path_length,
                    path_length == 1 ? "" : "es");
        }
        uint64_t added = current->tree_size - saved->tree_size;
        fprintf(context->out,
                "verified: the current history extends the saved head (%llu new event%s)\n",
                (unsigned long long)added, added == 1 ? "" : "s");
        err = ctl_output_status(context->out);
    } else {
        static const char *const names[] = {
            "public_key",        "key_pinned",        "saved_tree_size", "saved_root_hash",
            "current_tree_size", "current_root_hash", "new_events",      "consistency_path_length",
            "verified"};
        static const enum ctl_cell_kind kinds[] = {
            CTL_CELL_TEXT, CTL_CELL_BOOLEAN, CTL_CELL_NUMBER, CTL_CELL_TEXT,   CTL_CELL_NUMBER,
            CTL_CELL_TEXT, CTL_CELL_NUMBER,  CTL_CELL_NUMBER, CTL_CELL_BOOLEAN};
        _Static_assert(sizeof kinds / sizeof kinds[0] == sizeof names / sizeof names[0],
                       "one kind per column");
        char saved_size[24], current_size[24], added[24], length[24];
        char saved_root[2 * MERKLE_HASH_BYTES + 1], current_root[2 * MERKLE_HASH_BYTES + 1];
        snprintf(saved_size, sizeof saved_size, "%llu", (unsigned long long)saved->tree_size);
        snprintf(current_size, sizeof current_size, "%llu", (unsigned long long)current->tree_size);
        snprintf(added, sizeof added, "%llu",
                 (unsigned long long)(current->tree_size - saved->tree_size));
        snprintf(length, sizeof length, "%zu", path_length);
        hex_of(saved->root_hash.data, MERKLE_HASH_BYTES, saved_root);
        hex_of(current->root_hash.data, MERKLE_HASH_BYTES, current_root);
        const char *cells[] = {key_hex,      pin ? "yes" : "no", saved_size, saved_root,
                               current_size, current_root,       added,      length,
                               "yes"};
        err = ctl_output_records(context->out, context->format, "verify", names, kinds,
                                 sizeof names / sizeof names[0], cells, 1, NULL, 0);
    }
cleanup:
    ledger_query_result_free(proof_result);
    ledger_query_result_free(current_result);
    ledger__v1__signed_head__free_unpacked(saved, NULL);
    return err;
}

/* ------------------------------------------------------------------------ */
/* explain */

const struct ctl_option ctl_explain_options[] = {
    {"seq", CTL_OPTION_VALUE, "N", "the purchase event's sequence", true},
    {"public-key", CTL_OPTION_VALUE, "HEX",
     "the ledger's public key as pinned out of band (default: the key the head names)", false},
    {NULL, CTL_OPTION_VALUE, NULL, NULL, false},
};

static const char *text_or(const char *text, const char *fallback)
{
    return text != NULL && text[0] != '\0' ? text : fallback;
}

static void actor_text(const Ledger__V1__Actor *actor, char *out, size_t size)
{
    char role[64];
    if (actor == NULL) {
        snprintf(out, size, "an unknown principal");
        return;
    }
    ctl_enum_name(&ledger__v1__role__descriptor, (int)actor->role, role, sizeof role);
    if (actor->user != NULL && actor->user[0] != '\0') {
        snprintf(out, size, "%s (%s, user %s)", text_or(actor->principal_id, "?"), role,
                 actor->user);
    } else {
        snprintf(out, size, "%s (%s)", text_or(actor->principal_id, "?"), role);
    }
}

static void money_text(const Ledger__V1__Money *money, char *out, size_t size)
{
    char amount[CTL_AMOUNT_TEXT_SIZE];
    if (money == NULL) {
        snprintf(out, size, "-");
        return;
    }
    ctl_amount_format(money->amount_minor, text_or(money->currency, ""), amount);
    snprintf(out, size, "%s %s", amount, text_or(money->currency, ""));
}

/* When an event happened: its business time, or the time it was recorded. */
static void event_time(const Ledger__V1__Event *event, char out[CTL_TIME_TEXT_SIZE])
{
    ctl_time_format(event->business_us != 0 ? event->business_us : event->recorded_us, out);
}

/* "P1Y, billed upfront to fab-plan-1, price 420.00 USD (retail 525.00 USD)":
 * what a purchase commits to and where it is billed. */
static void terms_text(Ledger__V1__Term term, Ledger__V1__BillingPlan billing_plan,
                       const char *subscription, const Ledger__V1__Money *price,
                       const Ledger__V1__Money *retail_price, char *out, size_t size)
{
    char partner[64], retail[64], term_name[16], plan[32];
    money_text(price, partner, sizeof partner);
    money_text(retail_price, retail, sizeof retail);
    ctl_enum_name(&ledger__v1__term__descriptor, (int)term, term_name, sizeof term_name);
    ctl_enum_name(&ledger__v1__billing_plan__descriptor, (int)billing_plan, plan, sizeof plan);
    snprintf(out, size, "%s, billed %s to %s, price %s (retail %s)", term_name, plan,
             text_or(subscription, "?"), partner, retail);
}

/* One new reservation of a purchase, exchange or renewal, on one line. */
static void explain_reservation(FILE *out, const char *lead,
                                const Ledger__V1__ReservationPurchased *body)
{
    char terms[256];
    terms_text(body->term, body->billing_plan, body->billing_subscription_id, body->price,
               body->retail_price, terms, sizeof terms);
    bool cloud = body->cloud_order_id != NULL && body->cloud_order_id[0] != '\0';
    fprintf(out, "%sreservation %s (order %s%s%s), %u x %s in %s, %s\n", lead,
            text_or(body->reservation_id, "?"), text_or(body->order_id, "?"),
            cloud ? ", cloud order " : "", cloud ? body->cloud_order_id : "", body->quantity,
            text_or(body->sku, "?"), text_or(body->region, "?"), terms);
}

/* Whether explain prints this event as the purchase explained. */
static bool explainable(const Ledger__V1__Event *event)
{
    switch (event->body_case) {
    case LEDGER__V1__EVENT__BODY_RESERVATION_PURCHASED:
        return event->reservation_purchased != NULL;
    case LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_PURCHASED:
        return event->savings_plan_purchased != NULL;
    case LEDGER__V1__EVENT__BODY_RESERVATION_EXCHANGED:
        return event->reservation_exchanged != NULL;
    case LEDGER__V1__EVENT__BODY_RESERVATION_RENEWED:
        return event->reservation_renewed != NULL && event->reservation_renewed->renewal != NULL;
    case LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_RENEWED:
        return event->savings_plan_renewed != NULL && event->savings_plan_renewed->renewal != NULL;
    default:
        return false;
    }
}

/* One savings plan bought (a purchase's or a renewal's), on one line after
 * `lead`. */
static void explain_savings_plan(FILE *out, const char *lead,
                                 const Ledger__V1__SavingsPlanPurchased *body)
{
    char hourly[64], terms[256];
    money_text(body->hourly_commitment, hourly, sizeof hourly);
    terms_text(body->term, body->billing_plan, body->billing_subscription_id, body->price,
               body->retail_price, terms, sizeof terms);
    bool cloud = body->cloud_order_id != NULL && body->cloud_order_id[0] != '\0';
    fprintf(out, "%ssavings plan %s%s%s%s, %s per hour, %s\n", lead,
            text_or(body->savings_plan_id, "?"), cloud ? " (cloud order " : "",
            cloud ? body->cloud_order_id : "", cloud ? ")" : "", hourly, terms);
}

/* The purchase (or the partner's exchange or renewal); explainable. */
static void explain_purchase(FILE *out, const Ledger__V1__Event *event)
{
    char when[CTL_TIME_TEXT_SIZE], who[256];
    event_time(event, when);
    actor_text(event->actor, who, sizeof who);
    const char *verb = "bought";
    if (event->body_case == LEDGER__V1__EVENT__BODY_RESERVATION_PURCHASED) {
        explain_reservation(out, "purchase:   ", event->reservation_purchased);
    } else if (event->body_case == LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_PURCHASED) {
        explain_savings_plan(out, "purchase:   ", event->savings_plan_purchased);
    } else if (event->body_case == LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_RENEWED) {
        const Ledger__V1__SavingsPlanRenewed *r = event->savings_plan_renewed;
        fprintf(out, "purchase:   renewal of savings plan %s as:\n",
                text_or(r->savings_plan_id, "?"));
        explain_savings_plan(out, "            ", r->renewal);
        verb = "renewed";
    } else if (event->body_case == LEDGER__V1__EVENT__BODY_RESERVATION_EXCHANGED) {
        const Ledger__V1__ReservationExchanged *x = event->reservation_exchanged;
        char refund[64], returned[512];
        size_t used = 0;
        returned[0] = '\0';
        for (size_t i = 0; i < x->n_returned_reservation_ids && used < sizeof returned; i++) {
            int n = snprintf(returned + used, sizeof returned - used, "%s%s", i > 0 ? ", " : "",
                             text_or(x->returned_reservation_ids[i], "?"));
            used += n > 0 ? (size_t)n : 0;
        }
        money_text(x->refund, refund, sizeof refund);
        fprintf(out, "purchase:   exchange of %s (refund %s) for %zu new reservation%s:\n",
                returned, refund, x->n_replacements, x->n_replacements == 1 ? "" : "s");
        for (size_t i = 0; i < x->n_replacements; i++) {
            explain_reservation(out, "            ", x->replacements[i]);
        }
        verb = "exchanged";
    } else {
        const Ledger__V1__ReservationRenewed *r = event->reservation_renewed;
        fprintf(out, "purchase:   renewal of reservation %s as:\n",
                text_or(r->reservation_id, "?"));
        explain_reservation(out, "            ", r->renewal);
        verb = "renewed";
    }
    fprintf(out, "            customer %s of partner %s, %s by %s at %s (sequence %llu)\n",
            text_or(event->customer_id, "?"), text_or(event->partner_id, "?"), verb, who, when,
            (unsigned long long)event->sequence);
}

static void explain_permission(FILE *out, const Ledger__V1__Event *event)
{
    char when[CTL_TIME_TEXT_SIZE], who[256], kind[64];
    event_time(event, when);
    actor_text(event->actor, who, sizeof who);
    int value = event->body_case == LEDGER__V1__EVENT__BODY_PURCHASE_PERMISSION_GRANTED
                    ? (int)event->purchase_permission_granted->kind
                    : 0;
    ctl_enum_name(&ledger__v1__permission_kind__descriptor, value, kind, sizeof kind);
    fprintf(out, "allowed by: permission %s turned on at %s by %s (sequence %llu)\n", kind, when,
            who, (unsigned long long)event->sequence);
}

static void explain_role(FILE *out, const Ledger__V1__Event *event)
{
    char when[CTL_TIME_TEXT_SIZE], who[256], role[64];
    event_time(event, when);
    actor_text(event->actor, who, sizeof who);
    const Ledger__V1__RoleAssigned *body =
        event->body_case == LEDGER__V1__EVENT__BODY_ROLE_ASSIGNED ? event->role_assigned : NULL;
    ctl_enum_name(&ledger__v1__azure_role__descriptor, body != NULL ? (int)body->role : 0, role,
                  sizeof role);
    fprintf(out,
            "and by:     role %s for user %s on subscription %s assigned at %s by %s (sequence "
            "%llu)\n",
            role, body != NULL ? text_or(body->user, "?") : "?",
            body != NULL ? text_or(body->subscription_id, "?") : "?", when, who,
            (unsigned long long)event->sequence);
}

/* The purchasing principal's PrincipalAdded. */
static void explain_principal(FILE *out, const Ledger__V1__Event *event)
{
    char when[CTL_TIME_TEXT_SIZE], who[256], role[64], whose[192];
    event_time(event, when);
    actor_text(event->actor, who, sizeof who);
    const Ledger__V1__PrincipalAdded *body =
        event->body_case == LEDGER__V1__EVENT__BODY_PRINCIPAL_ADDED ? event->principal_added : NULL;
    ctl_enum_name(&ledger__v1__role__descriptor, body != NULL ? (int)body->role : 0, role,
                  sizeof role);
    if (body != NULL && body->customer_id != NULL && body->customer_id[0] != '\0') {
        snprintf(whose, sizeof whose, "customer %s of partner %s (user %s)", body->customer_id,
                 text_or(body->partner_id, "?"), text_or(body->user, "?"));
    } else {
        snprintf(whose, sizeof whose, "partner %s",
                 body != NULL ? text_or(body->partner_id, "?") : "?");
    }
    fprintf(out, "and by:     principal %s added as %s of %s at %s by %s (sequence %llu)\n",
            body != NULL ? text_or(body->principal_id, "?") : "?", role, whose, when, who,
            (unsigned long long)event->sequence);
}

/* The billing subscription's SubscriptionPurchased. */
static void explain_subscription(FILE *out, const Ledger__V1__Event *event)
{
    char when[CTL_TIME_TEXT_SIZE], who[256], offer[64];
    event_time(event, when);
    actor_text(event->actor, who, sizeof who);
    const Ledger__V1__SubscriptionPurchased *body =
        event->body_case == LEDGER__V1__EVENT__BODY_SUBSCRIPTION_PURCHASED
            ? event->subscription_purchased
            : NULL;
    ctl_enum_name(&ledger__v1__offer__descriptor, body != NULL ? (int)body->offer : 0, offer,
                  sizeof offer);
    fprintf(out, "billed to:  subscription %s (%s) bought at %s by %s (sequence %llu)\n",
            body != NULL ? text_or(body->subscription_id, "?") : "?", offer, when, who,
            (unsigned long long)event->sequence);
}

/* Checks one explanation entry: record, sequence, proof against the head. */
static enum ledger_err explain_entry_check(struct ctl_context *context,
                                           const Ledger__V1__EventEntry *entry,
                                           const Ledger__V1__SignedHead *head)
{
    if (entry->event == NULL) {
        return ctl_fail(context, LEDGER_ERR_PROTOCOL_ERROR, "an explanation entry has no event");
    }
    return entry_check(context, entry, entry->event->sequence, head->tree_size,
                       head->root_hash.data);
}

/* The name of an event's body ("role_assigned"), into out. */
static void body_name(const Ledger__V1__Event *event, char out[64])
{
    const ProtobufCFieldDescriptor *field = protobuf_c_message_descriptor_get_field(
        &ledger__v1__event__descriptor, (unsigned)event->body_case);
    snprintf(out, 64, "%s", field != NULL ? field->name : "empty");
}

/* Checks that a proven fact is one that can have allowed the purchase: an
 * event of the kind its place in the explanation names, recorded before the
 * purchase, of the purchase's customer (or, for the principal, adding the
 * principal that made it). Each entry's proof says only that the event is in
 * the log; without this, any event of the log could be printed as the
 * permission or the role that allowed the purchase. MISMATCH saying which. */
static enum ledger_err explain_fact_check(struct ctl_context *context, const char *place,
                                          const Ledger__V1__EventEntry *entry,
                                          Ledger__V1__Event__BodyCase expected,
                                          const Ledger__V1__Event *purchase)
{
    const Ledger__V1__Event *event = entry->event;
    unsigned long long sequence = (unsigned long long)event->sequence;
    if (event->body_case != expected) {
        char named[64], wanted[64];
        Ledger__V1__Event model = *event;
        body_name(event, named);
        model.body_case = expected;
        body_name(&model, wanted);
        return ctl_fail(context, LEDGER_ERR_MISMATCH,
                        "the explanation's %s (sequence %llu) is a %s event, not the %s event "
                        "that allowed the purchase",
                        place, sequence, named, wanted);
    }
    if (event->sequence >= purchase->sequence) {
        return ctl_fail(context, LEDGER_ERR_MISMATCH,
                        "the explanation's %s (sequence %llu) was recorded after the purchase "
                        "(sequence %llu): it cannot have allowed it",
                        place, sequence, (unsigned long long)purchase->sequence);
    }
    if (expected == LEDGER__V1__EVENT__BODY_PRINCIPAL_ADDED) {
        const char *added = event->principal_added->principal_id;
        const char *actor = purchase->actor != NULL ? purchase->actor->principal_id : NULL;
        if (added == NULL || actor == NULL || strcmp(added, actor) != 0) {
            return ctl_fail(context, LEDGER_ERR_MISMATCH,
                            "the explanation's %s (sequence %llu) adds principal %s, not %s who "
                            "made the purchase",
                            place, sequence, text_or(added, "?"), text_or(actor, "?"));
        }
        return LEDGER_ERR_OK;
    }
    if (strcmp(event->partner_id, purchase->partner_id) != 0 ||
        strcmp(event->customer_id, purchase->customer_id) != 0) {
        return ctl_fail(context, LEDGER_ERR_MISMATCH,
                        "the explanation's %s (sequence %llu) is of customer %s of partner %s, "
                        "not of the purchase's customer %s of partner %s",
                        place, sequence, event->customer_id, event->partner_id,
                        purchase->customer_id, purchase->partner_id);
    }
    return LEDGER_ERR_OK;
}

/* Checks that the explanation gives, as a purchase's permission or role,
 * the very event the purchase's own record names (its allowed_by: the
 * sequence in force when it was decided, 0 for none), so that a fact left
 * out is not printed as "no permission event was recorded". */
static enum ledger_err explain_named_check(struct ctl_context *context, const char *place,
                                           uint64_t named, const Ledger__V1__EventEntry *entry)
{
    uint64_t given = entry != NULL ? entry->event->sequence : 0;
    if (named == given) {
        return LEDGER_ERR_OK;
    }
    char named_text[48] = "none", given_text[48] = "none";
    if (named != 0) {
        snprintf(named_text, sizeof named_text, "sequence %llu", (unsigned long long)named);
    }
    if (given != 0) {
        snprintf(given_text, sizeof given_text, "sequence %llu", (unsigned long long)given);
    }
    return ctl_fail(context, LEDGER_ERR_MISMATCH,
                    "the purchase names its %s as %s, but the explanation gives %s", place,
                    named_text, given_text);
}

/* The i-th billing subscription a purchase names (an exchange's
 * replacements may repeat one), or NULL past the last. */
static const char *billed_subscription(const Ledger__V1__Event *purchase, size_t i)
{
    switch (purchase->body_case) {
    case LEDGER__V1__EVENT__BODY_RESERVATION_PURCHASED:
        return i == 0 ? purchase->reservation_purchased->billing_subscription_id : NULL;
    case LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_PURCHASED:
        return i == 0 ? purchase->savings_plan_purchased->billing_subscription_id : NULL;
    case LEDGER__V1__EVENT__BODY_RESERVATION_RENEWED:
        return i == 0 && purchase->reservation_renewed->renewal != NULL
                   ? purchase->reservation_renewed->renewal->billing_subscription_id
                   : NULL;
    case LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_RENEWED:
        return i == 0 && purchase->savings_plan_renewed->renewal != NULL
                   ? purchase->savings_plan_renewed->renewal->billing_subscription_id
                   : NULL;
    case LEDGER__V1__EVENT__BODY_RESERVATION_EXCHANGED:
        return i < purchase->reservation_exchanged->n_replacements
                   ? purchase->reservation_exchanged->replacements[i]->billing_subscription_id
                   : NULL;
    default:
        return NULL;
    }
}

/* The g-th subscription purchase an explanation gives: `subscription`,
 * then `other_subscriptions`. */
static const Ledger__V1__Event *given_subscription(const Ledger__V1__Explanation *explanation,
                                                   size_t g)
{
    if (explanation->subscription != NULL) {
        return g == 0 ? explanation->subscription->event
                      : explanation->other_subscriptions[g - 1]->event;
    }
    return explanation->other_subscriptions[g]->event;
}

/* Checks that the subscriptions an explanation gives are exactly those the
 * purchase's record bills, each given: a subscription it is not billed to,
 * or one of its own left out, is MISMATCH. */
static enum ledger_err explain_billing_check(struct ctl_context *context,
                                             const Ledger__V1__Explanation *explanation)
{
    const Ledger__V1__Event *purchase = explanation->purchase->event;
    size_t given_count = (explanation->subscription != NULL) + explanation->n_other_subscriptions;
    for (size_t g = 0; g < given_count; g++) {
        const Ledger__V1__Event *given = given_subscription(explanation, g);
        const char *id = given->subscription_purchased->subscription_id;
        bool billed = false;
        for (size_t i = 0; !billed && i <= LEDGER_EXCHANGE_REPLACEMENTS_MAX; i++) {
            const char *named = billed_subscription(purchase, i);
            if (named == NULL) {
                break;
            }
            billed = strcmp(named, id) == 0;
        }
        if (!billed) {
            return ctl_fail(context, LEDGER_ERR_MISMATCH,
                            "the explanation's subscription (sequence %llu) is %s, which the "
                            "purchase is not billed to",
                            (unsigned long long)given->sequence, id);
        }
    }
    for (size_t i = 0; i <= LEDGER_EXCHANGE_REPLACEMENTS_MAX; i++) {
        const char *named = billed_subscription(purchase, i);
        if (named == NULL) {
            break;
        }
        bool found = false;
        for (size_t g = 0; !found && g < given_count; g++) {
            found =
                strcmp(given_subscription(explanation, g)->subscription_purchased->subscription_id,
                       named) == 0;
        }
        if (!found) {
            return ctl_fail(context, LEDGER_ERR_MISMATCH,
                            "the purchase is billed to subscription %s, but the explanation gives "
                            "no purchase of it",
                            named);
        }
    }
    return LEDGER_ERR_OK;
}

/* The explanation as text, for a person: the purchase, what allowed it and
 * where it is billed, each fact with the head its proof verified against. */
static void explain_text(FILE *out, const Ledger__V1__Explanation *explanation,
                         const Ledger__V1__SignedHead *head, const uint8_t *key, bool pin)
{
    char label[64], verified[128], key_hex[2 * CRYPTO_SIGN_PUBLIC_BYTES + 1];
    head_label(head->tree_size, head->root_hash.data, label);
    snprintf(verified, sizeof verified, "            inclusion proof verified against head %s\n",
             label);
    const Ledger__V1__Event *purchase = explanation->purchase->event;
    explain_purchase(out, purchase);
    fputs(verified, out);
    const Ledger__V1__Purchaser purchaser =
        purchase->body_case == LEDGER__V1__EVENT__BODY_RESERVATION_PURCHASED
            ? purchase->reservation_purchased->purchaser
        : purchase->body_case == LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_PURCHASED
            ? purchase->savings_plan_purchased->purchaser
            : LEDGER__V1__PURCHASER__PURCHASER_PARTNER;
    bool plan_renewal = purchase->body_case == LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_RENEWED;
    bool partner_change = purchase->body_case == LEDGER__V1__EVENT__BODY_RESERVATION_EXCHANGED ||
                          purchase->body_case == LEDGER__V1__EVENT__BODY_RESERVATION_RENEWED ||
                          plan_renewal;
    if (partner_change) {
        fprintf(out,
                "allowed by: the partner %s it; only the partner's admin agent exchanges and "
                "renews %s, and no customer permission applies\n",
                purchase->body_case == LEDGER__V1__EVENT__BODY_RESERVATION_EXCHANGED ? "exchanged"
                                                                                     : "renewed",
                plan_renewal ? "savings plans" : "reservations");
        if (explanation->principal != NULL) {
            explain_principal(out, explanation->principal->event);
            fputs(verified, out);
        }
    } else if (purchaser == LEDGER__V1__PURCHASER__PURCHASER_CUSTOMER) {
        if (explanation->permission != NULL) {
            explain_permission(out, explanation->permission->event);
            fputs(verified, out);
        } else {
            fputs("allowed by: no permission event was recorded with this purchase\n", out);
        }
        if (explanation->role != NULL) {
            explain_role(out, explanation->role->event);
            fputs(verified, out);
        } else {
            fputs("and by:     no role assignment was recorded with this purchase\n", out);
        }
        if (explanation->principal != NULL) {
            explain_principal(out, explanation->principal->event);
            fputs(verified, out);
        }
    } else if (explanation->principal != NULL) {
        fputs("allowed by: the partner bought it; a partner purchase needs no customer "
              "permission\n",
              out);
        explain_principal(out, explanation->principal->event);
        fputs(verified, out);
    } else {
        char who[256];
        actor_text(purchase->actor, who, sizeof who);
        fprintf(out,
                "allowed by: the partner bought it (%s); a partner purchase needs no customer "
                "permission\n",
                who);
    }
    if (explanation->subscription != NULL) {
        explain_subscription(out, explanation->subscription->event);
        fputs(verified, out);
    }
    for (size_t i = 0; i < explanation->n_other_subscriptions; i++) {
        explain_subscription(out, explanation->other_subscriptions[i]->event);
        fputs(verified, out);
    }
    hex_of(key, CRYPTO_SIGN_PUBLIC_BYTES, key_hex);
    fprintf(out, "head:       %s signed by %s%s: signature verified\n", label, key_hex,
            pin ? " (pinned)" : "");
}

enum ledger_err ctl_explain_run(struct ctl_context *context, const struct ctl_args *args)
{
    uint8_t pinned[CRYPTO_SIGN_PUBLIC_BYTES], key[CRYPTO_SIGN_PUBLIC_BYTES];
    bool pin = false;
    uint64_t sequence = 0;
    enum ledger_err err;
    if ((err = number_arg(context, args, "seq", &sequence)) != LEDGER_ERR_OK ||
        (err = pinned_key_arg(context, args, "public-key", pinned, &pin)) != LEDGER_ERR_OK) {
        return err;
    }
    if (sequence == 0) {
        return ctl_fail(context, LEDGER_ERR_USAGE, "--seq: sequences start at 1");
    }
    Ledger__V1__ExplainQuery explain = LEDGER__V1__EXPLAIN_QUERY__INIT;
    Ledger__V1__Query query = LEDGER__V1__QUERY__INIT;
    explain.sequence = sequence;
    query.kind_case = LEDGER__V1__QUERY__KIND_EXPLAIN;
    query.explain = &explain;
    Ledger__V1__QueryResult *result = NULL;
    if ((err = ctl_query(context, &query, &result)) != LEDGER_ERR_OK) {
        return err;
    }
    const Ledger__V1__Explanation *explanation = result->explanation;
    if (explanation == NULL || explanation->purchase == NULL || explanation->head == NULL) {
        err = ctl_fail(context, LEDGER_ERR_PROTOCOL_ERROR, "the reply carries no explanation");
        goto cleanup;
    }
    const Ledger__V1__SignedHead *head = explanation->head;
    if ((err = head_check(context, head, "explanation's", pin ? pinned : NULL, PINNED_KEY, key)) !=
        LEDGER_ERR_OK) {
        goto cleanup;
    }
    const Ledger__V1__EventEntry *entries[] = {explanation->purchase, explanation->permission,
                                               explanation->role, explanation->principal,
                                               explanation->subscription};
    for (size_t i = 0; i < sizeof entries / sizeof entries[0] && err == LEDGER_ERR_OK; i++) {
        if (entries[i] != NULL) {
            err = explain_entry_check(context, entries[i], head);
        }
    }
    for (size_t i = 0; i < explanation->n_other_subscriptions && err == LEDGER_ERR_OK; i++) {
        err = explanation->other_subscriptions[i] != NULL
                  ? explain_entry_check(context, explanation->other_subscriptions[i], head)
                  : ctl_fail(context, LEDGER_ERR_PROTOCOL_ERROR, "an explanation entry is empty");
    }
    if (err == LEDGER_ERR_OK && explanation->purchase->event->sequence != sequence) {
        err =
            ctl_fail(context, LEDGER_ERR_MISMATCH, "the explanation is of sequence %llu, not %llu",
                     (unsigned long long)explanation->purchase->event->sequence,
                     (unsigned long long)sequence);
    }
    if (err == LEDGER_ERR_OK && !explainable(explanation->purchase->event)) {
        /* A proven event, but not one a purchase is: the daemon never
         * explains one (INVALID_ARGUMENT). */
        char type[64];
        body_name(explanation->purchase->event, type);
        err = ctl_fail(context, LEDGER_ERR_PROTOCOL_ERROR,
                       "the explanation's sequence %llu is a %s event, not a purchase, exchange "
                       "or renewal",
                       (unsigned long long)sequence, type);
    }
    const struct {
        const char *place;
        const Ledger__V1__EventEntry *entry;
        Ledger__V1__Event__BodyCase body;
    } facts[] = {
        {"permission", explanation->permission,
         LEDGER__V1__EVENT__BODY_PURCHASE_PERMISSION_GRANTED},
        {"role", explanation->role, LEDGER__V1__EVENT__BODY_ROLE_ASSIGNED},
        {"principal", explanation->principal, LEDGER__V1__EVENT__BODY_PRINCIPAL_ADDED},
        {"subscription", explanation->subscription, LEDGER__V1__EVENT__BODY_SUBSCRIPTION_PURCHASED},
    };
    for (size_t i = 0; i < sizeof facts / sizeof facts[0] && err == LEDGER_ERR_OK; i++) {
        if (facts[i].entry != NULL) {
            err = explain_fact_check(context, facts[i].place, facts[i].entry, facts[i].body,
                                     explanation->purchase->event);
        }
    }
    if (err == LEDGER_ERR_OK) {
        const Ledger__V1__Event *purchase = explanation->purchase->event;
        const Ledger__V1__AllowedBy *allowed =
            purchase->body_case == LEDGER__V1__EVENT__BODY_RESERVATION_PURCHASED
                ? purchase->reservation_purchased->allowed_by
            : purchase->body_case == LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_PURCHASED
                ? purchase->savings_plan_purchased->allowed_by
                : NULL;
        err = explain_named_check(context, "permission",
                                  allowed != NULL ? allowed->permission_sequence : 0,
                                  explanation->permission);
        if (err == LEDGER_ERR_OK) {
            err = explain_named_check(context, "role", allowed != NULL ? allowed->role_sequence : 0,
                                      explanation->role);
        }
    }
    for (size_t i = 0; i < explanation->n_other_subscriptions && err == LEDGER_ERR_OK; i++) {
        err = explain_fact_check(context, "subscription", explanation->other_subscriptions[i],
                                 LEDGER__V1__EVENT__BODY_SUBSCRIPTION_PURCHASED,
                                 explanation->purchase->event);
    }
    if (err == LEDGER_ERR_OK) {
        err = explain_billing_check(context, explanation);
    }
    if (err != LEDGER_ERR_OK) {
        goto cleanup;
    }
    if (context->format != CTL_FORMAT_TABLE) {
        char label[64];
        head_label(head->tree_size, head->root_hash.data, label);
        struct ctl_extra extras[2] = {{"verified", NULL, 1, true}, {"head", label, 0, false}};
        err = ctl_output_message_extras(context->out, context->format, "explanation",
                                        &explanation->base, extras, 2);
        goto cleanup;
    }
    /* Written whole, then cleaned: the events' strings come from the reply,
     * and without a pinned key whoever forged the head chose them. */
    char *text = NULL;
    size_t text_size = 0;
    FILE *buffer = open_memstream(&text, &text_size);
    if (buffer == NULL) {
        err = LEDGER_ERR_NO_MEMORY;
        goto cleanup;
    }
    explain_text(buffer, explanation, head, key, pin);
    if (fclose(buffer) != 0) {
        free(text);
        err = LEDGER_ERR_NO_MEMORY;
        goto cleanup;
    }
    ctl_text_clean(text, true);
    fputs(text, context->out);
    free(text);
    err = ctl_output_status(context->out);
cleanup:
    ledger_query_result_free(result);
    return err;
}

/* ------------------------------------------------------------------------ */
/* events --proofs */

struct ctl_proof_anchor {
    Ledger__V1__QueryResult *head;         /* the newest head verified */
    uint8_t key[CRYPTO_SIGN_PUBLIC_BYTES]; /* the key it verified by: every later head's too */
    bool fixed;                            /* every proof is of the tree of `size` */
    uint64_t size;                         /* the tree `root` is of; 0: none yet */
    uint8_t root[MERKLE_HASH_BYTES];
    uint64_t proofs; /* proofs verified */
    uint64_t heads;  /* heads verified after the first, each consistent with the one before */
};

/* A consistency proof refused to a principal that may not ask for one
 * (billing): says what needed it. */
static enum ledger_err anchor_forbidden(struct ctl_context *context, enum ledger_err err)
{
    if (err == LEDGER_ERR_FORBIDDEN) {
        size_t used = strlen(context->message);
        snprintf(context->message + used, sizeof context->message - used,
                 " (events proven against another tree than the signed head's, with --tree-size "
                 "or --follow, need consistency proofs: ask as an auditor, or list the head's "
                 "tree without them)");
    }
    return err;
}

enum ledger_err ctl_proof_anchor_open(struct ctl_context *context, const struct ctl_args *args,
                                      uint64_t tree_size, bool follow,
                                      struct ctl_proof_anchor **out)
{
    struct ctl_proof_anchor *anchor = calloc(1, sizeof *anchor);
    if (anchor == NULL) {
        return ctl_fail(context, LEDGER_ERR_NO_MEMORY, "out of memory");
    }
    enum ledger_err err = verified_head(context, args, &anchor->head, anchor->key);
    if (err == LEDGER_ERR_OK && !follow) {
        /* A listing is of one tree: the one asked for, or the signed head's
         * (the log may grow while it is read). */
        anchor->fixed = true;
        anchor->size = tree_size != 0 ? tree_size : anchor->head->head->tree_size;
        err = anchor_forbidden(
            context, trusted_root(context, anchor->head->head, anchor->size, anchor->root));
    }
    if (err != LEDGER_ERR_OK) {
        ctl_proof_anchor_close(anchor);
        return err;
    }
    *out = anchor;
    return LEDGER_ERR_OK;
}

uint64_t ctl_proof_anchor_tree_size(const struct ctl_proof_anchor *anchor)
{
    return anchor->fixed ? anchor->size : 0;
}

/* Following: a page proven against a tree past the newest verified head.
 * The next head must verify by the same key and extend the last one (a
 * consistency proof between them); the tree's root is then trusted through
 * it. */
static enum ledger_err anchor_advance(struct ctl_context *context, struct ctl_proof_anchor *anchor,
                                      uint64_t tree_size)
{
    const Ledger__V1__SignedHead *last = anchor->head->head;
    Ledger__V1__QueryResult *next = NULL, *consistency = NULL;
    uint8_t key[CRYPTO_SIGN_PUBLIC_BYTES];
    enum ledger_err err = LEDGER_ERR_OK;
    if (tree_size > last->tree_size) {
        err = fetch_head(context, &next);
        if (err == LEDGER_ERR_OK) {
            err = head_check(context, next->head, "newer", anchor->key, "the key of the first head",
                             key);
        }
        if (err == LEDGER_ERR_OK && next->head->tree_size < tree_size) {
            err =
                ctl_fail(context, LEDGER_ERR_MISMATCH,
                         "events were proven against a tree of %llu, past the signed head "
                         "(%llu events)",
                         (unsigned long long)tree_size, (unsigned long long)next->head->tree_size);
        }
        if (err == LEDGER_ERR_OK && last->tree_size > 0) {
            err = fetch_consistency(context, last->tree_size, next->head->tree_size, &consistency);
            if (err == LEDGER_ERR_OK &&
                !consistency_ok(consistency->consistency, last->root_hash.data,
                                next->head->root_hash.data)) {
                err = ctl_fail(context, LEDGER_ERR_MISMATCH,
                               "the history was rewritten: the signed head of %llu events does "
                               "not extend the one of %llu verified before it",
                               (unsigned long long)next->head->tree_size,
                               (unsigned long long)last->tree_size);
            }
        }
        if (err == LEDGER_ERR_OK) {
            ledger_query_result_free(anchor->head);
            anchor->head = next;
            anchor->heads++;
            next = NULL;
        }
    }
    if (err == LEDGER_ERR_OK) {
        anchor->size = 0;
        err = trusted_root(context, anchor->head->head, tree_size, anchor->root);
    }
    if (err == LEDGER_ERR_OK) {
        anchor->size = tree_size;
    }
    ledger_query_result_free(consistency);
    ledger_query_result_free(next);
    return anchor_forbidden(context, err);
}

enum ledger_err ctl_proof_anchor_check(struct ctl_context *context, struct ctl_proof_anchor *anchor,
                                       const Ledger__V1__EventEntry *entry)
{
    enum ledger_err err = LEDGER_ERR_OK;
    if (entry->proof != NULL && !anchor->fixed && entry->proof->tree_size != anchor->size) {
        /* Checked before a root is looked for, so that a forged record is
         * named as such rather than as a tree size. */
        err = entry_check(context, entry, entry->event->sequence, entry->proof->tree_size, NULL);
        if (err == LEDGER_ERR_OK) {
            err = anchor_advance(context, anchor, entry->proof->tree_size);
        }
    }
    if (err == LEDGER_ERR_OK) {
        err = entry_check(context, entry, entry->event->sequence, anchor->size, anchor->root);
    }
    if (err == LEDGER_ERR_OK) {
        anchor->proofs++;
    }
    return err;
}

void ctl_proof_anchor_summary(struct ctl_context *context, const struct ctl_proof_anchor *anchor)
{
    const Ledger__V1__SignedHead *head = anchor->head->head;
    char label[64], tree[80] = "", line[320];
    head_label(head->tree_size, head->root_hash.data, label);
    if (anchor->fixed && anchor->size != head->tree_size) {
        snprintf(tree, sizeof tree, "the tree of size %llu, consistent with ",
                 (unsigned long long)anchor->size);
    }
    int length =
        snprintf(line, sizeof line, "%llu inclusion proof%s against %sthe signed head %s",
                 (unsigned long long)anchor->proofs, anchor->proofs == 1 ? "" : "s", tree, label);
    if (anchor->heads > 0 && length > 0 && (size_t)length < sizeof line) {
        snprintf(line + length, sizeof line - (size_t)length,
                 " (and %llu head%s before it, each extended by the next)",
                 (unsigned long long)anchor->heads, anchor->heads == 1 ? "" : "s");
    }
    verified_line(context, line);
}

void ctl_proof_anchor_close(struct ctl_proof_anchor *anchor)
{
    if (anchor != NULL) {
        ledger_query_result_free(anchor->head);
        free(anchor);
    }
}
