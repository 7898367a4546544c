/*
 * ledger-verify: checks a ledger data directory (or a backup of one) offline,
 * with no daemon and no trust in the operator.
 *
 * It recomputes every record's leaf hash and the Merkle root, checks that the
 * sequences are dense from 1 and that each record names its own sequence,
 * that the stored leaf hashes and tree agree with the records, optionally that
 * a head saved earlier (a serialized ledger.v1.SignedHead, e.g. the head.pb of
 * a backup) is signed and is a prefix of this history, and that every derived
 * index and view equals a fresh replay of the log (on a scratch copy), and,
 * for one that does not, which entry differs and the event it comes from.
 * It reports the first bad sequence number. After its checks, it lists the
 * subscription ids that two or more customers of one partner hold in the
 * replay of the log (logs of earlier builds may record them): a finding,
 * not a failure.
 *
 * Exit status: 0 verified; 1 verification failed (what and where on stderr);
 * 2 usage error, the directory cannot be read, the views check's scratch
 * copy cannot be written or replayed (no room: nothing was compared), or
 * the verdict cannot be written to stdout.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <ftw.h>
#include <unistd.h>

#include "codec.h"
#include "crypto.h"
#include "engine.h"
#include "ledger_limits.h"
#include "merkle.h"
#include "progress.h"
#include "store.h"
#include "views.h"

#define EXIT_VERIFIED 0
#define EXIT_FAILED   1
#define EXIT_USAGE    2

struct options {
    const char *data_dir;
    const char *head_path;
    const char *public_key_hex;
    /* --public-key's key, read once from public_key_hex. */
    uint8_t public_key[CRYPTO_SIGN_PUBLIC_BYTES];
    bool views;
    bool quiet;
    /* Said after a failure the saved head shows: why it may not be a head
     * of this ledger at all ("" when nothing says so). */
    char head_note[ENGINE_MESSAGE_SIZE + 160];
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: ledger-verify [--head FILE] [--public-key HEX] [--no-views] [--quiet] DIR\n"
            "\n"
            "Verifies a ledger data directory or backup offline: every leaf hash, the Merkle\n"
            "root, dense sequences, a saved signed head (optional), and every view and index\n"
            "against a fresh replay of the log. Then lists, as findings that do not change\n"
            "the exit status, the subscription ids two or more customers of one partner hold.\n"
            "\n"
            "  --head FILE        a saved head (serialized ledger.v1.SignedHead, e.g. a\n"
            "                     backup's head.pb); the history must extend it\n"
            "  --public-key HEX   the ledger's Ed25519 public key (64 hex digits); the head's\n"
            "                     signature must be by this key (default: the key in the head)\n"
            "  --no-views         skip the replay check of views and indexes\n"
            "  --quiet            print nothing on success\n"
            "\n"
            "example: ledger-verify --head backup/head.pb backup\n");
}

/* The sequence the log walk is reading (0 outside it), for the fault
 * handler. */
static volatile uint64_t walk_sequence;

/* Whether the walk's bar is drawn on the terminal and its line not ended:
 * the fault handler then starts its verdict on a line of its own. */
static volatile sig_atomic_t bar_line_open;

/* The views check's scratch copy while it exists (scratch_made), for the
 * fault handler to remove: a fault in a damaged view is met while the copy
 * is read, and the copy holds every principal's secret. Its files, as the
 * store and the engine name them, then the directory itself. */
#define SCRATCH_PATHS 4
static char scratch_paths[SCRATCH_PATHS][PATH_MAX];
static volatile sig_atomic_t scratch_made;

/* LMDB maps the data file and follows the page numbers and sizes it finds
 * there: in a damaged file one can point outside the file or the map, and
 * reading it faults (SIGBUS past the file's end, SIGSEGV past the map).
 * Values are checked against the file's size (the store module), but a
 * damaged page faults inside LMDB itself (or fails one of its assertions,
 * which abort), and a value may end past the file though it is smaller than
 * it. That is a verdict, not a crash: FAILED, with the record the walk was
 * reading. Only async-signal-safe calls here. */
static void fault_report(int signal_number)
{
    char text[320];
    size_t used = 0;
    const char *parts[3] = {"FAILED", "", ""};
    char digits[24];
    uint64_t sequence = walk_sequence;
    if (sequence != 0) {
        size_t n = sizeof digits;
        digits[--n] = '\0';
        do {
            digits[--n] = (char)('0' + sequence % 10);
            sequence /= 10;
        } while (sequence != 0 && n > 0);
        parts[1] = " at sequence ";
        parts[2] = digits + n;
    }
    const char *tail =
        signal_number == SIGBUS
            ? ": the data file is damaged: reading it ran past the file's end (a page number or "
              "size in LMDB's B-tree was altered); restore a backup\n"
        : signal_number == SIGABRT
            ? ": the data file is damaged: LMDB found its B-tree inconsistent (see its assertion "
              "above); restore a backup\n"
            : ": the data file is damaged: reading it faulted (a page number or size in LMDB's "
              "B-tree was altered); restore a backup\n";
    const char *pieces[] = {bar_line_open ? "\n" : "", parts[0], parts[1], parts[2], tail};
    for (size_t i = 0; i < sizeof pieces / sizeof pieces[0]; i++) {
        for (const char *c = pieces[i]; *c != '\0' && used < sizeof text; c++) {
            text[used++] = *c;
        }
    }
    ssize_t ignored = write(STDERR_FILENO, text, used);
    (void)ignored;
    if (scratch_made) {
        for (int i = 0; i < SCRATCH_PATHS - 1; i++) {
            unlink(scratch_paths[i]);
        }
        rmdir(scratch_paths[SCRATCH_PATHS - 1]);
    }
    _exit(EXIT_FAILED);
}

static void fault_handlers_install(void)
{
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = fault_report;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESETHAND;
    sigaction(SIGBUS, &action, NULL);
    sigaction(SIGSEGV, &action, NULL);
    sigaction(SIGABRT, &action, NULL); /* LMDB's assertions abort */
}

static int fail(uint64_t sequence, const char *what)
{
    if (sequence) {
        fprintf(stderr, "FAILED at sequence %llu: %s\n", (unsigned long long)sequence, what);
    } else {
        fprintf(stderr, "FAILED: %s\n", what);
    }
    return EXIT_FAILED;
}

/* fail() inside the log walk: the bar's line is ended first, drawn at the
 * `done` records verified before the walk stopped, so that on a terminal
 * the failure is not written at the end of the bar (a no-op when stderr is
 * not a terminal). */
static int walk_fail(struct progress *bar, uint64_t done, uint64_t sequence, const char *what)
{
    progress_finish(bar, done);
    bar_line_open = 0;
    return fail(sequence, what);
}

static int read_head(const char *path, Ledger__V1__SignedHead **out)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "error: IO_ERROR: cannot open head file %s: %s\n", path, strerror(errno));
        return EXIT_USAGE;
    }
    /* One byte more than a head may hold, to tell a larger file. */
    uint8_t buffer[LEDGER_HEAD_FILE_MAX + 1];
    size_t size = fread(buffer, 1, sizeof buffer, f);
    int read_errno = ferror(f) ? errno : 0;
    fclose(f);
    if (read_errno != 0) {
        fprintf(stderr, "error: IO_ERROR: cannot read head file %s: %s\n", path,
                strerror(read_errno));
        return EXIT_USAGE;
    }
    Ledger__V1__SignedHead *head =
        size <= LEDGER_HEAD_FILE_MAX ? ledger__v1__signed_head__unpack(NULL, size, buffer) : NULL;
    if (!head || head->root_hash.len != MERKLE_HASH_BYTES) {
        if (head) {
            ledger__v1__signed_head__free_unpacked(head, NULL);
        }
        fprintf(stderr,
                "error: USAGE: --head: %s is not a serialized ledger.v1.SignedHead%s (save one "
                "with ledgerctl head --save FILE, or give a backup's head.pb)\n",
                path, size > LEDGER_HEAD_FILE_MAX ? " (it is larger than any head)" : "");
        return EXIT_USAGE;
    }
    *out = head;
    return EXIT_VERIFIED;
}

static int check_head_signature(const struct options *options, const Ledger__V1__SignedHead *head)
{
    uint8_t key[CRYPTO_SIGN_PUBLIC_BYTES];
    char what[160];
    /* A key of another length is no key (the file was altered or cut), and
     * would otherwise be passed over as if the head named none: refused,
     * pinned key or not, as ledgerctl refuses it. */
    if (head->public_key.len != 0 && head->public_key.len != sizeof key) {
        snprintf(what, sizeof what, "the saved head names a public key of %zu bytes, not %zu",
                 head->public_key.len, sizeof key);
        return fail(0, what);
    }
    if (options->public_key_hex) {
        memcpy(key, options->public_key, sizeof key);
        if (head->public_key.len == sizeof key &&
            !crypto_equal(key, head->public_key.data, sizeof key)) {
            return fail(0, "the saved head was signed by another key than --public-key");
        }
    } else if (head->public_key.len == sizeof key) {
        memcpy(key, head->public_key.data, sizeof key);
        if (!options->quiet)
            fprintf(stderr,
                    "warning: the saved head's signature is checked against the key the head "
                    "itself carries, so any key would pass: pass --public-key with the key "
                    "you pinned (docs/verification.md, 6.1)\n");
    } else {
        return fail(0, "the saved head carries no public key; pass --public-key");
    }
    if (head->signature.len == 0) {
        return fail(0, "the saved head is not signed");
    }
    if (head->signature.len != CRYPTO_SIGNATURE_BYTES) {
        snprintf(what, sizeof what, "the saved head's signature is %zu bytes, not %d",
                 head->signature.len, CRYPTO_SIGNATURE_BYTES);
        return fail(0, what);
    }
    if (!merkle_head_verify(head->tree_size, head->root_hash.data, head->timestamp_us,
                            head->signature.data, key)) {
        return fail(0, "the saved head's signature does not verify");
    }
    if (!merkle_head_root_possible(head->tree_size, head->root_hash.data)) {
        return fail(0, "the saved head covers no event but its root is not the empty tree's "
                       "(SHA-256 of nothing): its signer signed a head that contradicts itself");
    }
    return EXIT_VERIFIED;
}

/* A log that ends at sequence `last` where `witness` (the saved head, the
 * leaf hashes or the stored tree, with its verb: "the saved head covers")
 * counts `count` > last records: the tail was deleted, and the first missing
 * sequence is the first bad one. `note` ends the sentence ("" for none). */
static int fail_cut_back(uint64_t last, uint64_t count, const char *prefix, const char *witness,
                         const char *note)
{
    char what[768], missing[64];
    if (count == last + 1) {
        snprintf(missing, sizeof missing, "sequence %llu is", (unsigned long long)count);
    } else {
        snprintf(missing, sizeof missing, "sequences %llu..%llu are", (unsigned long long)last + 1,
                 (unsigned long long)count);
    }
    snprintf(what, sizeof what,
             "%sthe log ends at sequence %llu but %s %llu records: %s missing (the log "
             "was cut back?)%s",
             prefix, (unsigned long long)last, witness, (unsigned long long)count, missing, note);
    return fail(last + 1, what);
}

/* The failure text when the stored tree cannot be read (not a mismatch). */
static void tree_unreadable(char *what, size_t size, enum ledger_err err)
{
    snprintf(what, size, "the stored Merkle tree could not be read: %s", ledger_strerror(err));
}

/* Reads a base-128 varint at *at (below end), advancing *at. False when the
 * bytes end first or it is longer than ten bytes. */
static bool read_varint(const uint8_t **at, const uint8_t *end, uint64_t *out)
{
    uint64_t value = 0;
    for (unsigned shift = 0; shift < 64 && *at < end; shift += 7) {
        uint8_t byte = *(*at)++;
        value |= (uint64_t)(byte & 0x7f) << shift;
        if ((byte & 0x80) == 0) {
            *out = value;
            return true;
        }
    }
    return false;
}

/* The sequence a record names: field 1 of ledger.v1.Event (a varint), read
 * from the record's top-level protobuf framing without unpacking the rest.
 * Every top-level field is walked, so the framing is checked end to end and,
 * as a protobuf parser does, the last occurrence of field 1 wins (writers may
 * order fields as they like: nothing assumes protobuf-c's order). Nested
 * messages are not decoded here; the replay of the views check decodes every
 * record in full. False when the framing is broken. */
static bool record_sequence(const uint8_t *record, size_t size, uint64_t *sequence_out)
{
    const uint8_t *at = record, *end = record + size;
    uint64_t sequence = 0;
    while (at < end) {
        uint64_t tag = 0, value = 0;
        if (!read_varint(&at, end, &tag) || (tag >> 3) == 0) {
            return false;
        }
        switch (tag & 7) {
        case 0: /* varint */
            if (!read_varint(&at, end, &value)) {
                return false;
            }
            if ((tag >> 3) == 1) {
                sequence = value;
            }
            break;
        case 1: /* 64-bit */
            if ((tag >> 3) == 1 || end - at < 8) {
                return false;
            }
            at += 8;
            break;
        case 2: /* length-delimited */
            if ((tag >> 3) == 1 || !read_varint(&at, end, &value) || value > (uint64_t)(end - at)) {
                return false;
            }
            at += value;
            break;
        case 5: /* 32-bit */
            if ((tag >> 3) == 1 || end - at < 4) {
                return false;
            }
            at += 4;
            break;
        default: /* groups (deprecated, never written) and invalid wire types */
            return false;
        }
    }
    *sequence_out = sequence;
    return true;
}

/* Walks the log: leaves, sequences, every stored tree node, the root, the
 * saved head. The log and the leaf hashes are read by two cursors in step
 * (both are keyed by sequence), and the stored nodes by one cursor per level
 * (merkle_check), so each record costs one leaf hash, one framing walk and,
 * amortized, one node hash and one node comparison: no lookups and no
 * unpacking. */
static int verify_log(const struct options *options, struct store *store,
                      const Ledger__V1__SignedHead *head, uint64_t *events_out,
                      uint8_t root_out[MERKLE_HASH_BYTES])
{
    struct store_txn *txn = NULL;
    if (store_begin(store, false, &txn) != LEDGER_ERR_OK) {
        fprintf(stderr, "error: STORAGE_ERROR: cannot read the log\n");
        return EXIT_USAGE;
    }
    int status = EXIT_VERIFIED;
    char what[256];
    uint64_t last = store_last_sequence(txn);
    uint64_t count = 0, leaves = 0;
    struct store_cursor *cursor = NULL, *leaf_cursor = NULL;
    struct merkle_check *check = NULL;
    uint64_t layout = 0;
    if (store_count(txn, STORE_DB_LOG, &count) != LEDGER_ERR_OK ||
        store_count(txn, STORE_DB_LEAF, &leaves) != LEDGER_ERR_OK) {
        status = fail(0, "cannot count the log's records");
        goto done;
    }
    /* Views layout 1 also stored the leaf hashes as the tree's level 0. A
     * rebuild that did not finish left the tree partial: derived again by the
     * next rebuild, it is not compared (the records, their leaf hashes and a
     * saved head are what prove the history). */
    if (views_layout(txn, &layout) != LEDGER_ERR_OK) {
        status = fail(0, "cannot read the views layout (the meta entry \"views\")");
        goto done;
    }
    bool tree_checked = layout != VIEWS_LAYOUT_REBUILDING;
    if (!tree_checked && !options->quiet) {
        fprintf(stderr, "note: a rebuild did not finish (views layout 0): the stored Merkle "
                        "tree may be partial and is not compared; the records, their leaf "
                        "hashes and a saved head are checked\n");
    }
    struct merkle_builder builder;
    merkle_builder_init(&builder);
    struct progress bar;
    progress_start(&bar, "verify", "events", last, false);
    bar.enabled = bar.enabled && !options->quiet;
    if (store_cursor_open(txn, STORE_DB_LOG, &cursor) != LEDGER_ERR_OK ||
        store_cursor_open(txn, STORE_DB_LEAF, &leaf_cursor) != LEDGER_ERR_OK ||
        merkle_check_open(txn, layout == VIEWS_LAYOUT_UNRECORDED, &check) != LEDGER_ERR_OK) {
        status = fail(0, "cannot open a cursor on the log");
        goto done;
    }
    struct store_val key, value, leaf_key, leaf_value;
    enum ledger_err err = store_cursor_seek(cursor, NULL, 0, &key, &value);
    enum ledger_err leaf_err = store_cursor_seek(leaf_cursor, NULL, 0, &leaf_key, &leaf_value);
    uint64_t expected = 1;
    for (; err == LEDGER_ERR_OK; err = store_cursor_next(cursor, &key, &value),
                                 leaf_err = store_cursor_next(leaf_cursor, &leaf_key, &leaf_value),
                                 expected++) {
        walk_sequence = expected;
        if (key.size != 8) {
            /* No sequence at all: not to be reported as "found 0". */
            snprintf(what, sizeof what,
                     "the log holds a key of %zu bytes where sequence %llu's (8 bytes, "
                     "big-endian) should be (the file was altered)",
                     key.size, (unsigned long long)expected);
            status = walk_fail(&bar, expected - 1, expected, what);
            break;
        }
        uint64_t sequence = store_key_to_u64(key.data);
        if (sequence != expected) {
            snprintf(what, sizeof what, "sequences are not dense: expected %llu, found %llu",
                     (unsigned long long)expected, (unsigned long long)sequence);
            status = walk_fail(&bar, expected - 1, expected, what);
            break;
        }
        if (leaf_err != LEDGER_ERR_OK || leaf_key.size != 8 ||
            store_key_to_u64(leaf_key.data) != sequence || leaf_value.size != MERKLE_HASH_BYTES) {
            status = walk_fail(&bar, expected - 1, sequence, "the record has no stored leaf hash");
            break;
        }
        uint8_t leaf[MERKLE_HASH_BYTES];
        crypto_sha256_prefixed(0x00, value.data, value.size, leaf);
        /* Hashes of public records are not secrets: a plain comparison (the
         * constant-time one costs several percent of the walk). */
        if (memcmp(leaf, leaf_value.data, sizeof leaf) != 0) {
            status = walk_fail(&bar, expected - 1, sequence,
                               "the record's bytes do not match its stored leaf hash "
                               "(the record or the hash was altered)");
            break;
        }
        uint64_t named = 0;
        if (!record_sequence(value.data, value.size, &named)) {
            status = walk_fail(&bar, expected - 1, sequence,
                               "the record does not decode as ledger.v1.Event");
            break;
        }
        if (named != sequence) {
            snprintf(what, sizeof what,
                     "the record names sequence %llu (records reordered or moved)",
                     (unsigned long long)named);
            status = walk_fail(&bar, expected - 1, sequence, what);
            break;
        }
        unsigned level = 0;
        uint64_t index = 0;
        if (tree_checked) {
            err = merkle_check_add(check, &builder, leaf, &level, &index);
        } else {
            merkle_builder_add(&builder, leaf);
        }
        if (err != LEDGER_ERR_OK) {
            uint64_t first = (index << level) + 1, end = (index + 1) << level;
            if (err == LEDGER_ERR_CORRUPT) {
                snprintf(what, sizeof what,
                         "the stored Merkle node over sequences %llu..%llu does not match the "
                         "records (a record and its leaf hash were rewritten in that range, or "
                         "the node was altered)",
                         (unsigned long long)first, (unsigned long long)end);
            } else {
                tree_unreadable(what, sizeof what, err);
            }
            status = walk_fail(&bar, expected - 1, first, what);
            break;
        }
        if (head && builder.size == head->tree_size) {
            uint8_t root[MERKLE_HASH_BYTES];
            merkle_builder_root(&builder, root);
            if (!crypto_equal(root, head->root_hash.data, sizeof root)) {
                char differs[768];
                snprintf(differs, sizeof differs,
                         "the history differs from the saved head: the root of the first %llu "
                         "event%s does not match (history rewritten)%s",
                         (unsigned long long)head->tree_size, head->tree_size == 1 ? "" : "s",
                         options->head_note);
                status = walk_fail(&bar, expected - 1, sequence, differs);
                break;
            }
        }
        if ((sequence & 0xfff) == 0) {
            progress_update(&bar, sequence);
            bar_line_open = bar.drawn_ns != 0;
        }
    }
    walk_sequence = 0;
    if (status != EXIT_VERIFIED) {
        goto done;
    }
    if (err != LEDGER_ERR_NOT_FOUND) {
        snprintf(what, sizeof what, "the log could not be read to its end: %s",
                 err == LEDGER_ERR_CORRUPT ? store_last_error(store) : ledger_strerror(err));
        status = walk_fail(&bar, expected - 1, expected, what);
        goto done;
    }
    progress_finish(&bar, builder.size);
    bar_line_open = 0;
    if (builder.size != last || count != last) {
        status = fail(builder.size + 1, "the log's last key and its record count disagree");
        goto done;
    }
    /* Every record there is verified; what follows checks that none is
     * missing after the last. A size the tree cannot tell (a malformed size
     * entry) is named after the witnesses of a cut back. */
    uint64_t tree_size = 0;
    enum ledger_err size_err = merkle_store_size(txn, &tree_size);
    if (size_err != LEDGER_ERR_OK) {
        tree_size = 0;
    }
    if (head && head->tree_size > last) {
        status = fail_cut_back(last, head->tree_size,
                               "history truncated: ", "the saved head covers", options->head_note);
        goto done;
    }
    /* The leaf cursor stands one past the last record: a leaf hash there is
     * one of a record no longer in the log. (LMDB's entry count of the leaf
     * database is a header field, not a witness: checked below.) */
    if (leaf_err == LEDGER_ERR_OK) {
        uint64_t covered = 0;
        while (leaf_err == LEDGER_ERR_OK && leaf_key.size == 8) {
            covered = store_key_to_u64(leaf_key.data);
            leaf_err = store_cursor_next(leaf_cursor, &leaf_key, &leaf_value);
        }
        status = fail_cut_back(last, covered > last ? covered : last + 1, "",
                               "the leaf hashes cover", "");
        goto done;
    }
    if (leaf_err != LEDGER_ERR_NOT_FOUND) {
        snprintf(what, sizeof what, "the leaf hashes could not be read to their end: %s",
                 leaf_err == LEDGER_ERR_CORRUPT ? store_last_error(store)
                                                : ledger_strerror(leaf_err));
        status = fail(last + 1, what);
        goto done;
    }
    if (leaves != last) {
        snprintf(what, sizeof what,
                 "the leaf database's header counts %llu entries but it holds %llu, one per "
                 "record: the data file is damaged (no record is missing)",
                 (unsigned long long)leaves, (unsigned long long)last);
        status = fail(0, what);
        goto done;
    }
    if (tree_checked && tree_size > last) {
        status = fail_cut_back(last, tree_size, "", "the stored Merkle tree covers", "");
        goto done;
    }
    /* ledgerd init records the first operator in the transaction that makes
     * the ledger, so no ledger is empty: a log without records was emptied
     * (its leaf hashes and tree with it, or a witness above would count
     * what it held). */
    if (last == 0) {
        status = fail(1, "the log holds no records, but every ledger holds at least its first "
                         "operator's PrincipalAdded as sequence 1 (ledgerd init records it): the "
                         "log was emptied (a saved head, --head, counts what it held)");
        goto done;
    }
    if (tree_checked && (size_err != LEDGER_ERR_OK || tree_size != last)) {
        if (size_err == LEDGER_ERR_CORRUPT) {
            snprintf(what, sizeof what,
                     "the stored Merkle tree's size entry (the key 0xFF) is not an 8-byte count "
                     "of its records (it was altered)");
        } else if (size_err != LEDGER_ERR_OK) {
            tree_unreadable(what, sizeof what, size_err);
        } else {
            snprintf(what, sizeof what,
                     "the stored Merkle tree's size entry (the key 0xFF) counts %llu records "
                     "where the log holds %llu (it was altered%s)",
                     (unsigned long long)tree_size, (unsigned long long)last,
                     tree_size == 0 ? ", or deleted" : "");
        }
        status = fail(last, what);
        goto done;
    }
    uint64_t stored = 0, made = 0;
    err = tree_checked ? merkle_check_finish(check, last, &stored, &made) : LEDGER_ERR_OK;
    if (err != LEDGER_ERR_OK) {
        if (err == LEDGER_ERR_CORRUPT) {
            snprintf(what, sizeof what,
                     "the stored Merkle tree holds %llu entries where %llu records make %llu "
                     "(a node beyond the tree or of no level)",
                     (unsigned long long)stored, (unsigned long long)last,
                     (unsigned long long)made);
        } else {
            tree_unreadable(what, sizeof what, err);
        }
        status = fail(last, what);
        goto done;
    }
    merkle_builder_root(&builder, root_out);
    if (tree_checked && last > 0) {
        uint8_t stored_root[MERKLE_HASH_BYTES];
        if (merkle_store_root(txn, last, stored_root) != LEDGER_ERR_OK ||
            !crypto_equal(stored_root, root_out, MERKLE_HASH_BYTES)) {
            status = fail(last, "the stored Merkle tree does not match the records");
            goto done;
        }
    }
    *events_out = last;
done:
    merkle_check_close(check);
    store_cursor_close(leaf_cursor);
    store_cursor_close(cursor);
    store_abort(txn);
    return status;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

struct replay_context {
    struct progress bar;
    uint64_t done;                /* events replayed, as last reported */
    bool differs[STORE_DB_COUNT]; /* by enum store_db */
    unsigned differing;
};

static void report_view(void *context, const char *view, bool same)
{
    struct replay_context *report = context;
    for (int db = 0; !same && db < STORE_DB_COUNT; db++) {
        if (strcmp(store_db_name((enum store_db)db), view) == 0) {
            report->differs[db] = true;
            report->differing++;
        }
    }
}

/* How a stored entry differs from the replay's. */
enum entry_difference { ENTRY_CHANGED, ENTRY_MISSING, ENTRY_EXTRA };

/* The differences of one derived database, and the one to name: the entry
 * from the lowest sequence, or when none names a sequence the first in key
 * order. */
struct view_difference {
    uint64_t stored_last, replayed_last; /* the logs' last sequences as walked */
    uint64_t entries;                    /* entries that differ */
    uint64_t unnamed;                    /* of them, those that name no sequence */
    enum entry_difference kind;
    struct store_origin origin; /* of the entry named */
};

/* LMDB's default order: bytes compared as unsigned, a prefix first. */
static int key_compare(const struct store_val *a, const struct store_val *b)
{
    int order = memcmp(a->data, b->data, a->size < b->size ? a->size : b->size);
    if (order != 0) {
        return order;
    }
    return a->size < b->size ? -1 : a->size > b->size;
}

/* Counts one differing entry. The replay's entry (`rebuilt`, NULL when the
 * replay has none) was written by the log, so it says truly which event
 * wrote it; a stored entry the replay lacks only claims one, and a claim
 * past the log's end (`last`) names nothing. */
static void difference_add(struct view_difference *difference, enum store_db db,
                           enum entry_difference kind, const struct store_val *key,
                           const struct store_val *stored, const struct store_val *rebuilt,
                           uint64_t last)
{
    struct store_origin origin;
    engine_entry_origin(db, *key, rebuilt ? *rebuilt : *stored, &origin);
    if (origin.sequence > last) {
        origin.sequence = 0;
    }
    difference->entries++;
    difference->unnamed += origin.sequence == 0;
    uint64_t named = difference->origin.sequence;
    if (difference->entries == 1 ||
        (origin.sequence != 0 && (named == 0 || origin.sequence < named))) {
        difference->kind = kind;
        difference->origin = origin;
    }
}

/* Whether a walk of two cursors goes on: neither failed, one not at its
 * end. */
static bool side_by_side(enum ledger_err a, enum ledger_err b)
{
    bool a_fine = a == LEDGER_ERR_OK || a == LEDGER_ERR_NOT_FOUND;
    bool b_fine = b == LEDGER_ERR_OK || b == LEDGER_ERR_NOT_FOUND;
    return a_fine && b_fine && (a == LEDGER_ERR_OK || b == LEDGER_ERR_OK);
}

/* Walks `db` in the verified store and in the replay side by side (both in
 * key order) and collects the entries that differ. A live data directory
 * may have grown since the scratch copy was made: its entries are then not
 * the ones the replay started from, and only the logs' last sequences are
 * set. Errors: the stores'. */
static enum ledger_err compare_entries(struct store *stored_store, struct store *rebuilt_store,
                                       enum store_db db, struct view_difference *out)
{
    struct store_txn *stored_txn = NULL, *rebuilt_txn = NULL;
    struct store_cursor *stored = NULL, *rebuilt = NULL;
    enum ledger_err err = store_begin(stored_store, false, &stored_txn);
    if (err == LEDGER_ERR_OK) {
        err = store_begin(rebuilt_store, false, &rebuilt_txn);
    }
    if (err == LEDGER_ERR_OK) {
        err = store_cursor_open(stored_txn, db, &stored);
    }
    if (err == LEDGER_ERR_OK) {
        err = store_cursor_open(rebuilt_txn, db, &rebuilt);
    }
    if (err != LEDGER_ERR_OK) {
        goto done;
    }
    /* Every write of derived entries appends to the log: the same log gives
     * the same entries as when they were copied. */
    out->stored_last = store_last_sequence(stored_txn);
    out->replayed_last = store_last_sequence(rebuilt_txn);
    uint64_t last = out->replayed_last;
    if (out->stored_last != last) {
        goto done;
    }
    struct store_val stored_key, stored_value, rebuilt_key, rebuilt_value;
    enum ledger_err stored_err = store_cursor_seek(stored, NULL, 0, &stored_key, &stored_value);
    enum ledger_err rebuilt_err = store_cursor_seek(rebuilt, NULL, 0, &rebuilt_key, &rebuilt_value);
    /* Each step advances one cursor or both: the walk ends after the two
     * databases' entries. */
    while (side_by_side(stored_err, rebuilt_err)) {
        int order = stored_err != LEDGER_ERR_OK    ? 1
                    : rebuilt_err != LEDGER_ERR_OK ? -1
                                                   : key_compare(&stored_key, &rebuilt_key);
        if (order < 0) {
            difference_add(out, db, ENTRY_EXTRA, &stored_key, &stored_value, NULL, last);
            stored_err = store_cursor_next(stored, &stored_key, &stored_value);
        } else if (order > 0) {
            difference_add(out, db, ENTRY_MISSING, &rebuilt_key, NULL, &rebuilt_value, last);
            rebuilt_err = store_cursor_next(rebuilt, &rebuilt_key, &rebuilt_value);
        } else {
            if (stored_value.size != rebuilt_value.size ||
                memcmp(stored_value.data, rebuilt_value.data, stored_value.size) != 0) {
                difference_add(out, db, ENTRY_CHANGED, &stored_key, &stored_value, &rebuilt_value,
                               last);
            }
            stored_err = store_cursor_next(stored, &stored_key, &stored_value);
            rebuilt_err = store_cursor_next(rebuilt, &rebuilt_key, &rebuilt_value);
        }
    }
    err = stored_err != LEDGER_ERR_NOT_FOUND ? stored_err : rebuilt_err;
    if (err == LEDGER_ERR_NOT_FOUND) {
        err = LEDGER_ERR_OK;
    }
done:
    store_cursor_close(rebuilt);
    store_cursor_close(stored);
    if (rebuilt_txn) {
        store_abort(rebuilt_txn);
    }
    if (stored_txn) {
        store_abort(stored_txn);
    }
    return err;
}

/* Reports a derived database that differs from the replay, naming the
 * entry of its lowest sequence; returns that sequence (0: none named). */
static uint64_t report_entries(struct store *stored, struct store *rebuilt, enum store_db db)
{
    static const char *const said[] = {
        [ENTRY_CHANGED] = "holds another value than the replay gives",
        [ENTRY_MISSING] = "is missing (the replay gives it)",
        [ENTRY_EXTRA] = "is one the replay does not give",
    };
    const char *name = store_db_name(db);
    struct view_difference difference = {0};
    enum ledger_err err = compare_entries(stored, rebuilt, db, &difference);
    char what[768], count[96] = "";
    if (err != LEDGER_ERR_OK) {
        snprintf(what, sizeof what,
                 "view or index '%s' differs from a replay of the log; its entries could not be "
                 "compared (%s: %s), so no sequence can be named: run ledger-verify again",
                 name, ledger_err_name(err), ledger_strerror(err));
        fail(0, what);
        return 0;
    }
    if (difference.stored_last != difference.replayed_last) {
        snprintf(what, sizeof what,
                 "view or index '%s' differs from a replay of the log, but the data directory "
                 "was written while it was verified (its log now ends at sequence %llu, the "
                 "replayed copy's at %llu), so no entry can be named: verify a backup of it",
                 name, (unsigned long long)difference.stored_last,
                 (unsigned long long)difference.replayed_last);
        fail(0, what);
        return 0;
    }
    if (difference.entries == 0) {
        /* Equal entries give equal digests: the database changed since it
         * was copied, without the log. */
        snprintf(what, sizeof what,
                 "view or index '%s' differs from a replay of the log by its digest, but no "
                 "entry differs now: it was written while it was verified; verify a backup of "
                 "it",
                 name);
        fail(0, what);
        return 0;
    }
    const struct store_origin *origin = &difference.origin;
    if (difference.entries > 1) {
        snprintf(count, sizeof count,
                 "%llu entries differ, the first %s: ", (unsigned long long)difference.entries,
                 origin->sequence ? "by sequence" : "by key");
    }
    if (origin->sequence == 0) {
        snprintf(what, sizeof what,
                 "view or index '%s' differs from a replay of the log: %sentry %s %s; no entry "
                 "records the event that wrote it, so no sequence can be named",
                 name, count, origin->key_text, said[difference.kind]);
        fail(0, what);
        return 0;
    }
    char unnamed[64] = "";
    if (difference.unnamed > 0) {
        snprintf(unnamed, sizeof unnamed, " (%llu of them name no sequence)",
                 (unsigned long long)difference.unnamed);
    }
    snprintf(what, sizeof what,
             "view or index '%s' differs from a replay of the log: %sentry %s (from sequence "
             "%llu) %s%s",
             name, count, origin->key_text, (unsigned long long)origin->sequence,
             said[difference.kind], unnamed);
    fail(origin->sequence, what);
    return origin->sequence;
}

static void rebuild_progress(void *context, uint64_t done, uint64_t total)
{
    struct replay_context *replay = context;
    replay->bar.total = total;
    replay->done = done;
    progress_update(&replay->bar, done);
}

/* The scratch copy the views check replays the log into, kept after a
 * replay that finished for the findings read from it (report_findings). */
struct scratch {
    char dir[PATH_MAX];
    struct engine *engine; /* NULL: none kept */
};

/* Makes the scratch directory from `dir` (a mkdtemp template) and tells
 * the fault handler its files. False, with errno, when it cannot. */
static bool scratch_make(char dir[PATH_MAX])
{
    if (!mkdtemp(dir)) {
        return false;
    }
    const char *files[SCRATCH_PATHS - 1] = {"data.mdb", "lock.mdb", "ledgerd.lock"};
    for (int i = 0; i < SCRATCH_PATHS - 1; i++) {
        snprintf(scratch_paths[i], PATH_MAX, "%.*s/%s", PATH_MAX - 16, dir, files[i]);
    }
    snprintf(scratch_paths[SCRATCH_PATHS - 1], PATH_MAX, "%s", dir);
    scratch_made = 1;
    return true;
}

/* Removes the scratch directory `dir` and all it holds. */
static void scratch_dir_remove(const char *dir)
{
    scratch_made = 0;
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void scratch_remove(struct scratch *kept)
{
    if (kept->engine != NULL) {
        engine_close(kept->engine);
        kept->engine = NULL;
        scratch_dir_remove(kept->dir);
    }
}

/* Whether the views check failed for the room or the files of its scratch
 * copy (a full disk, a file size limit, an I/O error), which says nothing of
 * the ledger. A record the replay cannot apply is CORRUPT, or a domain's
 * refusal. */
static bool scratch_trouble(enum ledger_err err)
{
    return err == LEDGER_ERR_DISK_FULL || err == LEDGER_ERR_STORAGE_ERROR ||
           err == LEDGER_ERR_STORAGE_FULL || err == LEDGER_ERR_IO_ERROR ||
           err == LEDGER_ERR_NO_MEMORY;
}

/* Says that the views check could not `step` its scratch directory: nothing
 * was compared, so that is no verdict on the ledger (whose log verified).
 * `why`: the store's or engine's sentence, "" for none. */
static void scratch_failed(enum ledger_err err, const char *step, const char *scratch,
                           const char *why)
{
    fprintf(stderr,
            "error: %s: the views check could not %s its scratch directory %s: %s: make room "
            "there (the copy is about as large as data.mdb and grows as the log is replayed; "
            "$TMPDIR says where it is made), or check the log only with --no-views\n",
            ledger_err_name(err), step, scratch, why[0] != '\0' ? why : ledger_strerror(err));
}

/* Replays the log (`events` records, as the walk read it) on a scratch copy
 * and compares every derived database, naming for each that differs the
 * entry of the lowest sequence. When the replay finished, the copy is left
 * in *kept (the caller removes it with scratch_remove). */
static int verify_views(const struct options *options, struct store *store, uint64_t events,
                        struct scratch *kept)
{
    char scratch[PATH_MAX];
    const char *tmp = getenv("TMPDIR");
    snprintf(scratch, sizeof scratch, "%s/ledger-verify-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (!scratch_make(scratch)) {
        fprintf(stderr, "error: IO_ERROR: cannot make a scratch directory: %s\n", strerror(errno));
        return EXIT_USAGE;
    }
    int status = EXIT_VERIFIED;
    enum ledger_err err = store_copy(store, scratch);
    static const char copy_step[] = "copy the ledger into";
    const char *step = copy_step;
    struct engine *engine = NULL;
    if (err == LEDGER_ERR_OK) {
        struct engine_options engine_options = {
            .data_dir = scratch, .scratch = true, .no_sync = true};
        err = engine_open(&engine_options, &engine);
        step = "open the ledger's copy in";
    }
    if (err == LEDGER_ERR_CORRUPT) {
        /* The copy reads every page of every database, the views' and
         * indexes' too, which the log walk does not: damage found there is
         * a verdict on the data file. */
        const char *why = engine_open_detail();
        fprintf(stderr,
                "FAILED: the data file is damaged: its views or indexes could not be read to "
                "%s the views check's copy (%s); restore a backup, or check the log only with "
                "--no-views\n",
                step == copy_step ? "make" : "open", why[0] != '\0' ? why : ledger_strerror(err));
        engine_close(engine);
        scratch_dir_remove(scratch);
        return EXIT_FAILED;
    }
    if (err != LEDGER_ERR_OK) {
        scratch_failed(err, step, scratch, engine_open_detail());
        engine_close(engine);
        scratch_dir_remove(scratch);
        return EXIT_USAGE;
    }
    struct replay_context replay = {0};
    uint64_t layout = 0;
    if (!engine_views_current(engine, &layout)) {
        /* Views of another build's layout (older, or newer after a
         * downgrade) cannot be compared with this build's replay; the log
         * checks above stand on their own. */
        if (layout == ENGINE_VIEWS_LAYOUT_REBUILDING) {
            fprintf(stderr, "FAILED: views: a rebuild did not finish, they are incomplete: run "
                            "`ledgerd rebuild` again, or check the log only with --no-views\n");
        } else {
            fprintf(stderr,
                    "FAILED: views: written by %s build (layout %llu; this build reads "
                    "%llu), so they cannot be compared with a replay (the log, its leaf hashes "
                    "and its tree verified): rebuild them with `ledgerd rebuild`, or check the "
                    "log only with --no-views\n",
                    layout > ENGINE_VIEWS_LAYOUT ? "a newer" : "an older",
                    (unsigned long long)layout, (unsigned long long)ENGINE_VIEWS_LAYOUT);
        }
        engine_close(engine);
        scratch_dir_remove(scratch);
        return EXIT_FAILED;
    }
    unsigned differences = 0;
    progress_start(&replay.bar, "replay", "events", events, false);
    replay.bar.enabled = replay.bar.enabled && !options->quiet;
    err = engine_rebuild(engine, rebuild_progress, &replay, report_view, &differences);
    char why[ENGINE_MESSAGE_SIZE];
    uint64_t failed_at = err != LEDGER_ERR_OK ? engine_rebuild_failure(engine, why) : 0;
    /* A replay that stopped is drawn where it stopped, not as done. */
    progress_finish(&replay.bar, failed_at != 0 ? failed_at - 1 : replay.done);
    if (scratch_trouble(err)) {
        scratch_failed(err, "replay the log in", scratch, store_last_error(NULL));
        status = EXIT_USAGE;
    } else if (failed_at != 0) {
        fprintf(stderr, "FAILED at sequence %llu: replaying the log: %s (%s)\n",
                (unsigned long long)failed_at, why, ledger_err_name(err));
        status = EXIT_FAILED;
    } else if (err != LEDGER_ERR_OK) {
        fprintf(stderr, "FAILED: replaying the log: %s: %s\n", ledger_err_name(err),
                ledger_strerror(err));
        status = EXIT_FAILED;
    } else if (replay.differing) {
        status = EXIT_FAILED;
        uint64_t first = 0;
        for (int db = 0; db < STORE_DB_COUNT; db++) {
            if (replay.differs[db]) {
                uint64_t named = report_entries(store, engine_store(engine), (enum store_db)db);
                first = named != 0 && (first == 0 || named < first) ? named : first;
            }
        }
        if (replay.differing > 1 && first != 0) {
            char what[128];
            snprintf(what, sizeof what,
                     "the first bad sequence of the %u views and indexes that differ",
                     replay.differing);
            fail(first, what);
        }
    }
    if (err == LEDGER_ERR_OK) {
        snprintf(kept->dir, sizeof kept->dir, "%s", scratch);
        kept->engine = engine;
        return status;
    }
    engine_close(engine);
    scratch_dir_remove(scratch);
    return status;
}

static enum ledger_err finding_print(void *context,
                                     const struct views_subscription_duplicate *duplicate)
{
    (void)context;
    char line[VIEWS_DUPLICATE_TEXT_SIZE];
    views_subscription_duplicate_text(duplicate, line);
    return printf("  %s\n", line) < 0 ? LEDGER_ERR_IO_ERROR : LEDGER_ERR_OK;
}

/* After the checks, from the replay of the log: every subscription id two
 * or more customers of one partner hold, which logs of earlier builds may
 * record. A finding, not a failure: the exit status does not change for
 * it. One walk counts them, a second lists them, so that the count comes
 * first; the memory taken does not grow with the ledger. EXIT_USAGE when
 * the replayed index cannot be read or the list cannot be written. */
static int report_findings(struct engine *replayed)
{
    uint64_t ids = 0;
    enum ledger_err err = engine_subscription_duplicates(replayed, NULL, NULL, &ids);
    if (err == LEDGER_ERR_OK && ids > 0) {
        printf("finding: %llu " VIEWS_DUPLICATES_NOTE "; a finding, not a failure (the exit "
               "status does not change for it):\n",
               (unsigned long long)ids);
        err = engine_subscription_duplicates(replayed, finding_print, NULL, NULL);
    }
    if (err != LEDGER_ERR_OK && err != LEDGER_ERR_IO_ERROR) {
        fprintf(stderr,
                "error: %s: the replayed subscriptions index could not be read for ids that "
                "customers of one partner share: %s; run ledger-verify again\n",
                ledger_err_name(err), ledger_strerror(err));
        return EXIT_USAGE;
    }
    return EXIT_VERIFIED;
}

/* A data directory (not a backup) holds the key that signs its heads: a
 * saved head signed by another is perhaps of another ledger (or from
 * before the key was replaced, as a restore without --head-key replaces
 * it), which a failure it shows should say rather than only "rewritten". */
static void head_note_make(struct options *options)
{
    char key_path[PATH_MAX], message[ENGINE_MESSAGE_SIZE];
    options->head_note[0] = '\0';
    if (snprintf(key_path, sizeof key_path, "%s/head.key", options->data_dir) >=
            (int)sizeof key_path ||
        access(key_path, R_OK) != 0) {
        return;
    }
    if (engine_check_head_key_file(key_path, options->head_path, message) == LEDGER_ERR_MISMATCH) {
        snprintf(options->head_note, sizeof options->head_note,
                 "; but the saved head is not signed by this data directory's head.key (%s): it "
                 "may be a head of another ledger, or from before this ledger's key was replaced",
                 message);
    }
}

int main(int argc, char **argv)
{
    struct options options = {.views = true};
    static const struct option long_options[] = {
        {"head", required_argument, NULL, 'h'}, {"public-key", required_argument, NULL, 'k'},
        {"no-views", no_argument, NULL, 'n'},   {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, '?' + 256}, {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
        switch (c) {
        case 'h':
            options.head_path = optarg;
            break;
        case 'k':
            options.public_key_hex = optarg;
            break;
        case 'n':
            options.views = false;
            break;
        case 'q':
            options.quiet = true;
            break;
        case '?' + 256:
            usage(stdout);
            return EXIT_VERIFIED;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        return EXIT_USAGE;
    }
    options.data_dir = argv[optind];
    if (crypto_init() != LEDGER_ERR_OK) {
        return EXIT_USAGE;
    }
    fault_handlers_install();
    /* Output into a pipe whose reader has gone (`ledger-verify DIR | head
     * -0`) is then a write failing with EPIPE, which the end of main reports
     * (exit 2, "cannot write the output"), as ledgerctl does, not a death by
     * signal. */
    signal(SIGPIPE, SIG_IGN);
    if (options.public_key_hex && crypto_unhex(options.public_key_hex, options.public_key,
                                               sizeof options.public_key) != LEDGER_ERR_OK) {
        fprintf(stderr, "error: USAGE: --public-key needs 64 hex digits\n");
        return EXIT_USAGE;
    }
    struct stat dir_info;
    if (stat(options.data_dir, &dir_info) == 0 && !S_ISDIR(dir_info.st_mode)) {
        fprintf(stderr,
                "error: USAGE: %s is not a directory: give the directory that holds data.mdb (a "
                "data directory or a backup directory)\n",
                options.data_dir);
        return EXIT_USAGE;
    }
    if (options.public_key_hex && !options.head_path && !options.quiet) {
        fprintf(stderr, "warning: --public-key checks the signature of a saved head, and no "
                        "--head was given: no key was checked; pass --head FILE\n");
    }
    Ledger__V1__SignedHead *head = NULL;
    int status = EXIT_VERIFIED;
    if (options.head_path) {
        status = read_head(options.head_path, &head);
        if (status == EXIT_VERIFIED) {
            status = check_head_signature(&options, head);
        }
        if (status != EXIT_VERIFIED) {
            goto done;
        }
        head_note_make(&options);
    }
    struct store *store = NULL;
    char denied[PATH_MAX];
    if (engine_dir_verify_denied(options.data_dir, denied)) {
        fprintf(stderr,
                "error: IO_ERROR: %s cannot be read: permission denied on %s for uid %u: run "
                "ledger-verify as a user that may read it, and write its lock.mdb when it has "
                "one (the data directory's owner, or root), or verify a backup or a copy this "
                "user may read\n",
                options.data_dir, denied, (unsigned)geteuid());
        status = EXIT_USAGE;
        goto done;
    }
    if (!store_present(options.data_dir)) {
        char data_path[PATH_MAX];
        struct stat data_info;
        bool other = snprintf(data_path, sizeof data_path, "%s/data.mdb", options.data_dir) <
                         (int)sizeof data_path &&
                     stat(data_path, &data_info) == 0;
        fprintf(stderr,
                "error: NOT_FOUND: %s holds no ledger (%s): give a data directory or a "
                "backup directory\n",
                options.data_dir,
                other ? "its data.mdb is not a regular file: a ledger's is" : "no data.mdb");
        status = EXIT_USAGE;
        goto done;
    }
    /* A directory without lock.mdb (a backup, a copy kept as evidence) has no
     * daemon: open it without a lock file, so that verifying writes nothing
     * into it (docs/verification.md, 6.2). A live data directory keeps its. */
    char lock_path[PATH_MAX];
    snprintf(lock_path, sizeof lock_path, "%s/lock.mdb", options.data_dir);
    struct store_options store_options = {
        .dir = options.data_dir,
        .read_only = true,
        .no_lock = access(lock_path, F_OK) != 0,
        /* A log with holes, or out of step with its leaf hashes, is walked
         * (verify_log) so that the first bad sequence is named. */
        .log_unchecked = true};
    enum ledger_err err = store_open(&store_options, &store);
    if (err == LEDGER_ERR_CORRUPT) {
        /* A data file cut short, or an environment that is not a ledger's,
         * was tampered with or damaged: that is a failed verification, not a
         * usage error. */
        fprintf(stderr, "FAILED: CORRUPT: %s is not a consistent ledger: %s\n", options.data_dir,
                store_last_error(NULL));
        status = EXIT_FAILED;
        goto done;
    }
    if (err != LEDGER_ERR_OK) {
        const char *why = store_last_error(NULL);
        fprintf(stderr, "error: %s: cannot open %s as a ledger: %s\n", ledger_err_name(err),
                options.data_dir, why[0] != '\0' ? why : ledger_strerror(err));
        status = EXIT_USAGE;
        goto done;
    }
    uint64_t events = 0;
    uint8_t root[MERKLE_HASH_BYTES];
    struct scratch replayed = {.engine = NULL};
    status = verify_log(&options, store, head, &events, root);
    if (status == EXIT_VERIFIED && options.views) {
        status = verify_views(&options, store, events, &replayed);
    }
    store_close(store);
    if (status == EXIT_VERIFIED && !options.quiet) {
        char hex[2 * MERKLE_HASH_BYTES + 1];
        crypto_hex(root, sizeof root, hex);
        printf("verified: %llu events, root %s%s%s\n", (unsigned long long)events, hex,
               head ? ", extends the saved head" : "", options.views ? ", views agree" : "");
    }
    /* Findings follow the verdict, or the failures on stderr: they come
     * from the replay of the log, whatever the stored views hold. */
    if (replayed.engine != NULL && !options.quiet) {
        int listed = report_findings(replayed.engine);
        status = listed != EXIT_VERIFIED ? listed : status;
    }
    scratch_remove(&replayed);
    /* A verdict or findings that could not be written (a full disk, a
     * closed pipe) are not reported as written. */
    if (!options.quiet && (fflush(stdout) != 0 || ferror(stdout))) {
        fprintf(stderr, "error: IO_ERROR: cannot write the output: %s\n", strerror(errno));
        status = EXIT_USAGE;
    }
done:
    if (head) {
        ledger__v1__signed_head__free_unpacked(head, NULL);
    }
    return status;
}
