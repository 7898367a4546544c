/*
 * test_ctl_forgery.c: ledgerctl's audit verbs in front of a lying daemon.
 * Goal: head (printed or --save), proof, consistency, verify --head,
 * explain and events --proofs check what the daemon sends instead of taking
 * its word (docs/cli.md, "Proofs"; docs/verification.md): each forged
 * reply, a head with a bit of its signature flipped, its root, size or time
 * changed, signed by another key than the pinned one, or signed over a
 * rewritten root by the ledger's own key; an inclusion or consistency path
 * with a hash altered, a byte short or long, cut short or made longer (past any
 * tree's depth too), a proof of another sequence or tree size; a record
 * byte flipped, a record that decodes to another sequence or not at all, a decoded event
 * that is not its record; an older head replayed; an explanation with a
 * forged proof in its chain, or a genuine event in the place of a fact it
 * is not, is refused with exit status 1, MISMATCH and a
 * sentence saying what; a reply without the head, proof, event or explanation
 * asked for, events out of order, or billing pages that do not add up to
 * the rows announced, or activity pages that end empty and never get further,
 * with exit status 3 and PROTOCOL_ERROR; replies turned into STALE_REQUEST,
 * at once or slowly, with a message that blames the clock or the daemon's
 * speed accordingly; an import batch answered by a reply that does not
 * answer it saying it may have been committed; a demo refused half way saying what stays committed
 * (on a ledger of its own); while the same
 * command through the same proxy passing replies unchanged (decoded and
 * packed again) succeeds.
 * Method: one real ledgerd with the demo world and a few more events, heads
 * saved on the way; tests/support/reply_proxy between ledgerctl (--socket
 * the proxy) and the daemon alters the replies of one query kind; the
 * ledger's own head key (DATA/head.key) signs what an operator rewriting
 * history would sign.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#include <cmocka.h>
#include <jansson.h>

#include "crypto.h"
#include "merkle.h"
#include "ledger_limits.h"
#include "reply_proxy.h"

#define CTL_HARNESS_LABEL "ctl-forgery"
#include "ctl_harness.h"

/* How long the proxy waits for one of the daemon's replies. */
#define PROXY_REPLY_WAIT_MS 30000
#define HEX_KEY_SIZE        (2 * CRYPTO_SIGN_PUBLIC_BYTES + 1)

/* The ledger as the tests find it, built once. */
struct world {
    struct fixture *fixture;
    struct reply_proxy *proxy;
    char url[PATH_SIZE];     /* the proxy's, given to ledgerctl with --socket */
    char auditor[PATH_SIZE]; /* the demo auditor's key file */
    uint8_t head_secret[CRYPTO_SIGN_SECRET_BYTES];  /* the ledger's own head key */
    char head_key[HEX_KEY_SIZE];                    /* its public half, hex */
    uint8_t other_secret[CRYPTO_SIGN_SECRET_BYTES]; /* a key of no ledger */
    char purchase[24];           /* a customer's reservation purchase: its sequence */
    char old_head[PATH_SIZE];    /* saved after the demo */
    char saved_head[PATH_SIZE];  /* saved after a few more events */
    Ledger__V1__SignedHead *old; /* the two, decoded */
    Ledger__V1__SignedHead *saved;
    char saved_size[24], saved_root[2 * MERKLE_HASH_BYTES + 1];
    char head_size[24]; /* the current head, a few events after saved_head */
};

/* One forgery: the replies to queries of `kind` (only the nth, counted from
 * 1, or all with 0) are changed by `alter`, which says whether it changed
 * anything. With alter NULL the replies are decoded and packed again,
 * unchanged: the honest proxy. */
struct forgery {
    struct world *world;
    Ledger__V1__Query__KindCase kind;
    unsigned nth;
    bool (*alter)(struct world *world, Ledger__V1__QueryResult *result);
    unsigned seen, altered;
    struct forgery *stage; /* applied first, to the honest run too: the scene it plays in */
};

static void forge_one(struct forgery *forgery, const Ledger__V1__SignedRequest *request,
                      Ledger__V1__Reply *reply)
{
    if (forgery == NULL || request == NULL || request->body == NULL ||
        request->body->query == NULL || request->body->query->kind_case != forgery->kind ||
        reply->query == NULL) {
        return;
    }
    forgery->seen++;
    if (forgery->alter != NULL && (forgery->nth == 0 || forgery->seen == forgery->nth) &&
        forgery->alter(forgery->world, reply->query)) {
        forgery->altered++;
    }
}

static void forge_reply(void *context, const Ledger__V1__SignedRequest *request,
                        Ledger__V1__Reply *reply)
{
    struct forgery *forgery = context;
    forge_one(forgery->stage, request, reply);
    forge_one(forgery, request, reply);
}

/* ledgerctl as the demo's auditor of contoso, through the proxy. */
static void audit(struct world *world, struct run *run, const char *const args[8])
{
    ctl(world->fixture, run, NULL, NULL, "--socket", world->url, "--principal", "auditor",
        "--key-file", world->auditor, "--partner", "contoso", args[0], args[1], args[2], args[3],
        args[4], args[5], args[6], args[7], NULL);
}

/* Runs `args` through the honest proxy (it must succeed), then through the
 * forgery (it must alter a reply, and ledgerctl must exit with `status`,
 * `code` and a message holding `words`). A stage, when given, alters
 * replies in both runs: the honest run shows that what it sets up alone is
 * accepted. */
static void expect_staged_refused(struct world *world, const struct forgery *stage,
                                  Ledger__V1__Query__KindCase kind, unsigned nth,
                                  bool (*alter)(struct world *, Ledger__V1__QueryResult *),
                                  const char *const args[8], int status, const char *code,
                                  const char *words)
{
    struct forgery honest_stage = stage != NULL ? *stage : (struct forgery){0};
    struct forgery lying_stage = honest_stage;
    struct forgery honest = {world, kind, nth, NULL, 0, 0, stage != NULL ? &honest_stage : NULL};
    struct forgery lying = {world, kind, nth, alter, 0, 0, stage != NULL ? &lying_stage : NULL};
    struct run run;
    reply_proxy_set(world->proxy, forge_reply, &honest);
    audit(world, &run, args);
    reply_proxy_set(world->proxy, NULL, NULL);
    expect_ok(&run);
    run_free(&run);
    if (honest.seen == 0) {
        fail_msg("%s %s: no reply of query kind %d went through the proxy", args[0], args[1],
                 (int)kind);
    }
    reply_proxy_set(world->proxy, forge_reply, &lying);
    audit(world, &run, args);
    reply_proxy_set(world->proxy, NULL, NULL);
    if (lying.altered == 0 ||
        (stage != NULL && (honest_stage.altered == 0 || lying_stage.altered == 0))) {
        fail_msg("%s %s: nothing was forged (%u replies of query kind %d)", args[0], args[1],
                 lying.seen, (int)kind);
    }
    expect_error(&run, status, code);
    if (strstr(run.err, words) == NULL) {
        fail_msg("%s %s: expected '%s' in: %s", args[0], args[1], words, run.err);
    }
    run_free(&run);
}

static void expect_refused(struct world *world, Ledger__V1__Query__KindCase kind, unsigned nth,
                           bool (*alter)(struct world *, Ledger__V1__QueryResult *),
                           const char *const args[8], int status, const char *code,
                           const char *words)
{
    expect_staged_refused(world, NULL, kind, nth, alter, args, status, code, words);
}

/* ------------------------------------------------------------------------ */
/* Forgeries. */

static void flip(ProtobufCBinaryData *field, size_t at)
{
    assert_true(field->len > at);
    field->data[at] ^= 0x01;
}

/* Signs `head` as it now is with `secret`, naming its public key. */
static void head_sign(Ledger__V1__SignedHead *head, const uint8_t secret[CRYPTO_SIGN_SECRET_BYTES])
{
    uint8_t message[MERKLE_HEAD_BYTES], signature[CRYPTO_SIGNATURE_BYTES];
    uint8_t public_key[CRYPTO_SIGN_PUBLIC_BYTES];
    assert_int_equal(head->root_hash.len, MERKLE_HASH_BYTES);
    merkle_head_encode(head->tree_size, head->root_hash.data, head->timestamp_us, message);
    crypto_ed25519_sign(secret, message, sizeof message, signature);
    crypto_ed25519_public_key(secret, public_key);
    assert_true(reply_proxy_bytes_set(&head->signature, signature, sizeof signature));
    assert_true(reply_proxy_bytes_set(&head->public_key, public_key, sizeof public_key));
}

static bool head_signature_flipped(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    flip(&result->head->signature, 0);
    return true;
}

static bool head_root_changed(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    flip(&result->head->root_hash, MERKLE_HASH_BYTES - 1);
    return true;
}

static bool head_size_changed(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    result->head->tree_size--;
    return true;
}

static bool head_time_changed(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    result->head->timestamp_us += 1000000;
    return true;
}

static bool head_root_short(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    result->head->root_hash.len--;
    return true;
}

static bool head_unsigned(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    return reply_proxy_bytes_set(&result->head->signature, NULL, 0);
}

static bool head_keyless(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    return reply_proxy_bytes_set(&result->head->public_key, NULL, 0);
}

/* A head naming a public key a byte short. */
static bool head_key_short(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    result->head->public_key.len--;
    return true;
}

/* The same head, signed by a key of no ledger. */
static bool head_other_key(struct world *world, Ledger__V1__QueryResult *result)
{
    head_sign(result->head, world->other_secret);
    return true;
}

/* A rewritten history: another root, signed by the ledger's own key. */
static bool head_rewritten(struct world *world, Ledger__V1__QueryResult *result)
{
    flip(&result->head->root_hash, 0);
    head_sign(result->head, world->head_secret);
    return true;
}

/* A head of no event with a root other than the empty tree's, signed by the
 * ledger's own key: a head that contradicts itself. */
static bool head_empty_with_a_root(struct world *world, Ledger__V1__QueryResult *result)
{
    result->head->tree_size = 0;
    return head_rewritten(world, result);
}

/* The saved head's size with another root, signed by the ledger's key. */
static bool head_rewritten_at_saved_size(struct world *world, Ledger__V1__QueryResult *result)
{
    result->head->tree_size = world->saved->tree_size;
    return head_rewritten(world, result);
}

/* The older head, validly signed, served again as the current one. */
static bool head_replayed(struct world *world, Ledger__V1__QueryResult *result)
{
    size_t size = ledger__v1__signed_head__get_packed_size(world->old);
    uint8_t *bytes = malloc(size + 1);
    assert_non_null(bytes);
    ledger__v1__signed_head__pack(world->old, bytes);
    Ledger__V1__SignedHead *copy = ledger__v1__signed_head__unpack(NULL, size, bytes);
    free(bytes);
    assert_non_null(copy);
    ledger__v1__signed_head__free_unpacked(result->head, NULL);
    result->head = copy;
    return true;
}

static bool path_hash_altered(ProtobufCBinaryData *path, size_t n_path)
{
    if (n_path == 0) {
        return false;
    }
    flip(&path[n_path / 2], 7);
    return true;
}

static bool path_cut(ProtobufCBinaryData **path, size_t *n_path)
{
    return *n_path > 0 && reply_proxy_items_resize(path, n_path, *n_path - 1, NULL, 0);
}

static bool path_grown(ProtobufCBinaryData **path, size_t *n_path)
{
    uint8_t hash[MERKLE_HASH_BYTES];
    memset(hash, 0x5a, sizeof hash);
    return reply_proxy_items_resize(path, n_path, *n_path + 1, hash, sizeof hash);
}

/* A path whose first hash is a byte short. */
static bool path_hash_short(ProtobufCBinaryData *path, size_t n_path)
{
    if (n_path == 0) {
        return false;
    }
    path[0].len = MERKLE_HASH_BYTES - 1;
    return true;
}

/* A path whose last hash is a byte long: its first 32 bytes are the true
 * hash, so only its length gives it away. */
static bool path_hash_long(ProtobufCBinaryData *path, size_t n_path)
{
    if (n_path == 0) {
        return false;
    }
    ProtobufCBinaryData *hash = &path[n_path - 1];
    uint8_t longer[MERKLE_HASH_BYTES + 1];
    assert_int_equal(hash->len, MERKLE_HASH_BYTES);
    memcpy(longer, hash->data, MERKLE_HASH_BYTES);
    longer[MERKLE_HASH_BYTES] = 0;
    return reply_proxy_bytes_set(hash, longer, sizeof longer);
}

/* A path longer than any tree of 2^64 leaves has (MERKLE_PATH_MAX). */
static bool path_too_long(ProtobufCBinaryData **path, size_t *n_path)
{
    uint8_t hash[MERKLE_HASH_BYTES];
    memset(hash, 0xa5, sizeof hash);
    return reply_proxy_items_resize(path, n_path, MERKLE_PATH_MAX + 1, hash, sizeof hash);
}

static bool inclusion_hash_short(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    return path_hash_short(result->inclusion->path, result->inclusion->n_path);
}

static bool inclusion_too_long(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    return path_too_long(&result->inclusion->path, &result->inclusion->n_path);
}

static bool consistency_hash_short(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    return path_hash_short(result->consistency->path, result->consistency->n_path);
}

static bool inclusion_hash_long(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    return path_hash_long(result->inclusion->path, result->inclusion->n_path);
}

static bool consistency_hash_long(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    return path_hash_long(result->consistency->path, result->consistency->n_path);
}

static bool consistency_too_long(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    return path_too_long(&result->consistency->path, &result->consistency->n_path);
}

static bool inclusion_hash_altered(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    return path_hash_altered(result->inclusion->path, result->inclusion->n_path);
}

static bool inclusion_cut(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    return path_cut(&result->inclusion->path, &result->inclusion->n_path);
}

static bool inclusion_grown(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    return path_grown(&result->inclusion->path, &result->inclusion->n_path);
}

static bool inclusion_size_changed(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    result->inclusion->tree_size--;
    return true;
}

static bool inclusion_sequence_changed(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    result->inclusion->sequence++;
    return true;
}

static bool inclusion_leaf_changed(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    flip(&result->inclusion->leaf_hash, 0);
    return true;
}

static bool consistency_hash_altered(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    return path_hash_altered(result->consistency->path, result->consistency->n_path);
}

static bool consistency_cut(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    return path_cut(&result->consistency->path, &result->consistency->n_path);
}

static bool consistency_grown(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    return path_grown(&result->consistency->path, &result->consistency->n_path);
}

static bool consistency_other_sizes(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    result->consistency->from_size--;
    return true;
}

static bool consistency_other_to_size(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    result->consistency->to_size++;
    return true;
}

/* One byte of a record flipped, inside its command id, so that it still
 * decodes to the same event but no longer has its leaf hash. */
static bool record_flipped(Ledger__V1__EventEntry *entry)
{
    const char *text = entry->event->command_id;
    assert_true(text != NULL && strlen(text) > 0);
    size_t length = strlen(text);
    for (size_t at = 0; at + length <= entry->record.len; at++) {
        if (memcmp(entry->record.data + at, text, length) == 0) {
            entry->record.data[at] ^= 0x01;
            return true;
        }
    }
    fail_msg("the record of sequence %llu does not hold its command id",
             (unsigned long long)entry->event->sequence);
    return false;
}

/* The record encoded again naming sequence + 1, its proof's leaf hash made
 * to match it: only the decoded sequence gives it away. */
static bool record_renumbered(Ledger__V1__EventEntry *entry)
{
    Ledger__V1__Event *event =
        ledger__v1__event__unpack(NULL, entry->record.len, entry->record.data);
    assert_non_null(event);
    event->sequence++;
    size_t size = ledger__v1__event__get_packed_size(event);
    uint8_t *bytes = malloc(size + 1);
    assert_non_null(bytes);
    ledger__v1__event__pack(event, bytes);
    ledger__v1__event__free_unpacked(event, NULL);
    uint8_t leaf[MERKLE_HASH_BYTES];
    merkle_leaf_hash(bytes, size, leaf);
    assert_true(reply_proxy_bytes_set(&entry->record, bytes, size));
    assert_true(reply_proxy_bytes_set(&entry->proof->leaf_hash, leaf, sizeof leaf));
    free(bytes);
    return true;
}

/* The record, the event sent beside it and its proof all renumbered to
 * `sequence`, the leaf hash matched: another record, consistent in itself. */
static void entry_renumbered(Ledger__V1__EventEntry *entry, uint64_t sequence)
{
    Ledger__V1__Event *event =
        ledger__v1__event__unpack(NULL, entry->record.len, entry->record.data);
    assert_non_null(event);
    event->sequence = sequence;
    size_t size = ledger__v1__event__get_packed_size(event);
    uint8_t *bytes = malloc(size + 1);
    assert_non_null(bytes);
    ledger__v1__event__pack(event, bytes);
    uint8_t leaf[MERKLE_HASH_BYTES];
    merkle_leaf_hash(bytes, size, leaf);
    assert_true(reply_proxy_bytes_set(&entry->record, bytes, size));
    assert_true(reply_proxy_bytes_set(&entry->proof->leaf_hash, leaf, sizeof leaf));
    free(bytes);
    entry->proof->sequence = sequence;
    ledger__v1__event__free_unpacked(entry->event, NULL);
    entry->event = event;
}

/* The decoded event says another customer; the record and proof are true. */
static bool event_not_its_record(Ledger__V1__EventEntry *entry)
{
    char *customer = strdup("forged-customer");
    assert_non_null(customer);
    if (entry->event->customer_id != protobuf_c_empty_string) {
        free(entry->event->customer_id);
    }
    entry->event->customer_id = customer;
    return true;
}

static bool events_record_flipped(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    return result->n_events > 0 && record_flipped(result->events[0]);
}

/* Record bytes that are no Event at all (field 31 of a wire type that does
 * not exist). */
static bool events_record_garbled(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    static const uint8_t garbled[] = {0xff, 0xff, 0xff};
    return result->n_events > 0 &&
           reply_proxy_bytes_set(&result->events[0]->record, garbled, sizeof garbled);
}

static bool events_record_renumbered(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    return result->n_events > 0 && record_renumbered(result->events[0]);
}

static bool events_proof_renumbered(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    if (result->n_events == 0) {
        return false;
    }
    result->events[0]->proof->sequence++;
    return true;
}

static bool events_event_not_its_record(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    return result->n_events > 0 && event_not_its_record(result->events[0]);
}

static bool events_path_altered(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    return result->n_events > 0 &&
           path_hash_altered(result->events[0]->proof->path, result->events[0]->proof->n_path);
}

static bool events_path_hash_long(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    if (result->n_events == 0) {
        return false;
    }
    Ledger__V1__InclusionProof *proof = result->events[result->n_events - 1]->proof;
    return path_hash_long(proof->path, proof->n_path);
}

/* The sequence after the tree the proof is of: a leaf outside that tree;
 * only the index gives it away. */
static bool events_record_past_its_tree(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    if (result->n_events == 0) {
        return false;
    }
    entry_renumbered(result->events[0], result->events[0]->proof->tree_size + 1);
    return true;
}

/* The record after the one asked for, as if that one were not visible. */
static bool events_next_record(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    if (result->n_events == 0) {
        return false;
    }
    entry_renumbered(result->events[0], result->events[0]->event->sequence + 1);
    return true;
}

static bool events_path_cut(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    return result->n_events > 0 &&
           path_cut(&result->events[0]->proof->path, &result->events[0]->proof->n_path);
}

static bool events_path_grown(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    return result->n_events > 0 &&
           path_grown(&result->events[0]->proof->path, &result->events[0]->proof->n_path);
}

static bool explanation_head_flipped(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    flip(&result->explanation->head->signature, 63);
    return true;
}

static bool explanation_permission_path(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    const Ledger__V1__InclusionProof *proof = result->explanation->permission->proof;
    return path_hash_altered(proof->path, proof->n_path);
}

static bool explanation_principal_record(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    return record_flipped(result->explanation->principal);
}

static bool explanation_role_renumbered(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    return record_renumbered(result->explanation->role);
}

static bool explanation_purchase_event(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    return event_not_its_record(result->explanation->purchase);
}

/* The subscription entry again, as another subscription an exchange bills
 * (other_subscriptions), its proof's path altered. */
static bool explanation_other_subscription_path(struct world *world,
                                                Ledger__V1__QueryResult *result)
{
    (void)world;
    Ledger__V1__Explanation *explanation = result->explanation;
    size_t size = ledger__v1__event_entry__get_packed_size(explanation->subscription);
    uint8_t *bytes = malloc(size + 1);
    assert_non_null(bytes);
    ledger__v1__event_entry__pack(explanation->subscription, bytes);
    Ledger__V1__EventEntry *copy = ledger__v1__event_entry__unpack(NULL, size, bytes);
    free(bytes);
    assert_non_null(copy);
    Ledger__V1__EventEntry **entries =
        realloc(explanation->other_subscriptions,
                (explanation->n_other_subscriptions + 1) * sizeof *entries);
    assert_non_null(entries);
    entries[explanation->n_other_subscriptions++] = copy;
    explanation->other_subscriptions = entries;
    return path_hash_altered(copy->proof->path, copy->proof->n_path);
}

/* Two true, proven entries of an explanation's chain, each put in the
 * other's place. */
static bool entries_swapped(Ledger__V1__EventEntry **a, Ledger__V1__EventEntry **b)
{
    Ledger__V1__EventEntry *kept = *a;
    *a = *b;
    *b = kept;
    return true;
}

/* Another true, proven entry of the chain given as the purchase. */
static bool explanation_other_purchase(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    return entries_swapped(&result->explanation->purchase, &result->explanation->subscription);
}

/* Genuine events of the log, each with a valid proof, put in another
 * fact's place: the role assignment as the permission that allowed the
 * purchase, and the subscription as the purchasing principal. */
static bool explanation_role_as_permission(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    return entries_swapped(&result->explanation->permission, &result->explanation->role);
}

/* The permission that allowed the purchase left out, as if none had been
 * recorded with it (what is taken out is freed, as reply_proxy.h asks). */
static bool explanation_permission_dropped(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    ledger__v1__event_entry__free_unpacked(result->explanation->permission, NULL);
    result->explanation->permission = NULL;
    return true;
}

/* The billing subscription's purchase left out, as if the purchase named
 * none. */
static bool explanation_subscription_dropped(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    ledger__v1__event_entry__free_unpacked(result->explanation->subscription, NULL);
    result->explanation->subscription = NULL;
    return true;
}

static bool explanation_subscription_as_principal(struct world *world,
                                                  Ledger__V1__QueryResult *result)
{
    (void)world;
    return entries_swapped(&result->explanation->principal, &result->explanation->subscription);
}

/* Replies without a part the verb needs, or billing pages that do not add
 * up: what is taken out is freed, as reply_proxy.h asks. */
static bool inclusion_missing(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    ledger__v1__inclusion_proof__free_unpacked(result->inclusion, NULL);
    result->inclusion = NULL;
    return true;
}

static bool head_missing(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    ledger__v1__signed_head__free_unpacked(result->head, NULL);
    result->head = NULL;
    return true;
}

static bool events_proof_missing(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    if (result->n_events == 0) {
        return false;
    }
    ledger__v1__inclusion_proof__free_unpacked(result->events[0]->proof, NULL);
    result->events[0]->proof = NULL;
    return true;
}

static bool events_event_missing(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    if (result->n_events == 0) {
        return false;
    }
    ledger__v1__event__free_unpacked(result->events[0]->event, NULL);
    result->events[0]->event = NULL;
    return true;
}

/* No event at all: as if the principal could see none of those asked for,
 * to the end of the tree (a page that ends early, empty, is searched on
 * from where it ended). */
static bool events_emptied(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    if (result->n_events == 0) {
        return false;
    }
    for (size_t i = 0; i < result->n_events; i++) {
        ledger__v1__event_entry__free_unpacked(result->events[i], NULL);
    }
    result->n_events = 0;
    result->last_sequence = UINT64_MAX;
    return true;
}

static bool events_swapped(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    if (result->n_events < 2) {
        return false;
    }
    Ledger__V1__EventEntry *first = result->events[0];
    result->events[0] = result->events[1];
    result->events[1] = first;
    return true;
}

static bool explanation_missing(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    ledger__v1__explanation__free_unpacked(result->explanation, NULL);
    result->explanation = NULL;
    return true;
}

static bool explanation_subscription_event_missing(struct world *world,
                                                   Ledger__V1__QueryResult *result)
{
    (void)world;
    Ledger__V1__EventEntry *subscription = result->explanation->subscription;
    ledger__v1__event__free_unpacked(subscription->event, NULL);
    subscription->event = NULL;
    return true;
}

static bool billing_row_dropped(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    if (result->n_billing == 0) {
        return false;
    }
    ledger__v1__billing_row__free_unpacked(result->billing[--result->n_billing], NULL);
    return true;
}

static bool billing_total_lowered(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    result->total_rows--;
    return true;
}

/* A page read at another tree than the first (one event later). */
static bool billing_tree_moved(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    result->tree_size++;
    return true;
}

/* A month as a daemon older than tree sizes answers it: none said. */
static bool billing_tree_unsaid(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    result->tree_size = 0;
    return true;
}

/* An activity page emptied of its rows, its next_page_token replaced by
 * `token` (from malloc). */
static bool activity_emptied(Ledger__V1__QueryResult *result, char *token)
{
    assert_non_null(token);
    for (size_t i = 0; i < result->n_activity; i++) {
        ledger__v1__activity_row__free_unpacked(result->activity[i], NULL);
    }
    free(result->activity);
    result->activity = NULL;
    result->n_activity = 0;
    /* An unpacked empty string is protobuf-c's own, never freed. */
    if (result->next_page_token != protobuf_c_empty_string) {
        free(result->next_page_token);
    }
    result->next_page_token = token;
    return true;
}

/* The same token on every page: the pages never get further. */
static bool activity_never_ends(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    return activity_emptied(result, strdup("5"));
}

/* A token that is no sequence, with an escape sequence in it. */
static bool activity_token_garbled(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    return activity_emptied(result, strdup("5\x1b]0;owned\x07"));
}

/* ------------------------------------------------------------------------ */
/* Tests. */

static const Ledger__V1__Query__KindCase HEAD = LEDGER__V1__QUERY__KIND_HEAD;
static const Ledger__V1__Query__KindCase INCLUSION = LEDGER__V1__QUERY__KIND_INCLUSION;
static const Ledger__V1__Query__KindCase CONSISTENCY = LEDGER__V1__QUERY__KIND_CONSISTENCY;
static const Ledger__V1__Query__KindCase EVENTS = LEDGER__V1__QUERY__KIND_EVENTS;
static const Ledger__V1__Query__KindCase EXPLAIN = LEDGER__V1__QUERY__KIND_EXPLAIN;
static const Ledger__V1__Query__KindCase BILLING = LEDGER__V1__QUERY__KIND_BILLING;
static const Ledger__V1__Query__KindCase ACTIVITY = LEDGER__V1__QUERY__KIND_ACTIVITY;

/* Heads whose signature does not hold, or that the pinned key did not
 * sign: head --save, proof and verify --head refuse them. */
static void test_ctl_forgery_heads(void **state)
{
    struct world *w = *state;
    char saved[PATH_SIZE + 16], other_hex[HEX_KEY_SIZE];
    uint8_t other_public[CRYPTO_SIGN_PUBLIC_BYTES];
    crypto_ed25519_public_key(w->other_secret, other_public);
    crypto_hex(other_public, sizeof other_public, other_hex);
    snprintf(saved, sizeof saved, "%s/forged-head.pb", w->fixture->dir);
    const char *const plain[8] = {"head"};
    const char *const save[8] = {"head", "--save", saved};
    const char *const proof[8] = {"proof", "--seq", w->purchase};
    const char *const pinned[8] = {"proof", "--seq", w->purchase, "--public-key", w->head_key};
    const char *const verify[8] = {"verify", "--head", w->saved_head};
    const char *const verify_pinned[8] = {"verify", "--head", w->saved_head, "--public-key",
                                          w->head_key};
    const char *const not_verified = "the current head's signature does not verify";

    expect_refused(w, HEAD, 0, head_signature_flipped, plain, 1, "MISMATCH", not_verified);
    expect_refused(w, HEAD, 0, head_root_changed, plain, 1, "MISMATCH", not_verified);
    expect_refused(w, HEAD, 0, head_signature_flipped, save, 1, "MISMATCH", not_verified);
    expect_refused(w, HEAD, 0, head_signature_flipped, proof, 1, "MISMATCH", not_verified);
    expect_refused(w, HEAD, 0, head_root_changed, proof, 1, "MISMATCH", not_verified);
    expect_refused(w, HEAD, 0, head_size_changed, pinned, 1, "MISMATCH", not_verified);
    expect_refused(w, HEAD, 0, head_time_changed, pinned, 1, "MISMATCH", not_verified);
    expect_refused(w, HEAD, 0, head_root_short, proof, 1, "MISMATCH",
                   "the current head's root is not 32 bytes");
    expect_refused(w, HEAD, 0, head_unsigned, proof, 1, "MISMATCH",
                   "the current head is not signed");
    /* A head that names no key: a verb that pins one says to pin it, one
     * that cannot (head) says the signature cannot be checked. */
    expect_refused(w, HEAD, 0, head_keyless, proof, 1, "MISMATCH",
                   "the current head names no public key: pass --public-key");
    expect_refused(w, HEAD, 0, head_keyless, plain, 1, "MISMATCH",
                   "the current head names no public key, so its signature cannot be checked");
    /* A key of another length is no Ed25519 key: refused before the
     * signature is checked with it, whether or not one is pinned. */
    expect_refused(w, HEAD, 0, head_key_short, plain, 1, "MISMATCH",
                   "the current head names a public key of 31 bytes, not 32");
    expect_refused(w, HEAD, 0, head_key_short, pinned, 1, "MISMATCH",
                   "the current head names a public key of 31 bytes, not 32");
    expect_refused(w, HEAD, 0, head_signature_flipped, verify, 1, "MISMATCH", not_verified);
    expect_refused(w, HEAD, 0, head_empty_with_a_root, pinned, 1, "MISMATCH",
                   "the current head covers no event but its root is not the empty tree's");

    /* Another key: refused where a key is pinned, by --public-key or by the
     * saved head. Without a pin the key the head names is all there is
     * (docs/cli.md): that proves only that the head was not altered. */
    char words[256];
    snprintf(words, sizeof words,
             "the current head is signed by key %s, not by the pinned key (--public-key)",
             other_hex);
    expect_refused(w, HEAD, 0, head_other_key, pinned, 1, "MISMATCH", words);
    expect_refused(w, HEAD, 0, head_other_key, verify_pinned, 1, "MISMATCH", words);
    snprintf(words, sizeof words,
             "the current head is signed by key %s, not by the saved head's key", other_hex);
    expect_refused(w, HEAD, 0, head_other_key, verify, 1, "MISMATCH", words);
}

/* An inclusion proof that does not lead from the record to the signed root,
 * or is of another sequence or tree size; a head signed by the ledger's key
 * over a root its records do not have. */
static void test_ctl_forgery_inclusion(void **state)
{
    struct world *w = *state;
    const char *const proof[8] = {"proof", "--seq", w->purchase, "--public-key", w->head_key};
    char words[256];
    snprintf(words, sizeof words,
             "the inclusion proof of sequence %s does not verify against the root of tree size %s",
             w->purchase, w->head_size);
    expect_refused(w, INCLUSION, 0, inclusion_hash_altered, proof, 1, "MISMATCH", words);
    expect_refused(w, INCLUSION, 0, inclusion_cut, proof, 1, "MISMATCH", words);
    expect_refused(w, INCLUSION, 0, inclusion_grown, proof, 1, "MISMATCH", words);
    expect_refused(w, INCLUSION, 0, inclusion_hash_short, proof, 1, "MISMATCH", words);
    expect_refused(w, INCLUSION, 0, inclusion_hash_long, proof, 1, "MISMATCH", words);
    expect_refused(w, INCLUSION, 0, inclusion_too_long, proof, 1, "MISMATCH", words);
    expect_refused(w, HEAD, 0, head_rewritten, proof, 1, "MISMATCH", words);

    snprintf(words, sizeof words,
             "sequence %s: the proof is for sequence %s in a tree of %llu, not %s", w->purchase,
             w->purchase, strtoull(w->head_size, NULL, 10) - 1, w->head_size);
    expect_refused(w, INCLUSION, 0, inclusion_size_changed, proof, 1, "MISMATCH", words);
    snprintf(words, sizeof words, "sequence %s: the proof is for sequence %llu in a tree of %s",
             w->purchase, strtoull(w->purchase, NULL, 10) + 1, w->head_size);
    expect_refused(w, INCLUSION, 0, inclusion_sequence_changed, proof, 1, "MISMATCH", words);
    snprintf(words, sizeof words,
             "sequence %s: the leaf hash of the record bytes is not the proof's leaf hash",
             w->purchase);
    expect_refused(w, INCLUSION, 0, inclusion_leaf_changed, proof, 1, "MISMATCH", words);
    /* The record fetched beside the proof: one byte of it, or its number. */
    expect_refused(w, EVENTS, 1, events_record_flipped, proof, 1, "MISMATCH", words);
    snprintf(words, sizeof words, "the record sent as sequence %s does not decode to that sequence",
             w->purchase);
    expect_refused(w, EVENTS, 1, events_record_renumbered, proof, 1, "MISMATCH", words);
    expect_refused(w, EVENTS, 1, events_record_garbled, proof, 1, "MISMATCH", words);
}

/* Against an older tree size the root is rebuilt from a record's path and
 * tied to the signed head by a consistency proof: a path that does not fit
 * the tree (or a record past it), or leads to another root, is refused. */
static void test_ctl_forgery_older_tree(void **state)
{
    struct world *w = *state;
    const char *const proof[8] = {"proof",       "--seq",        w->purchase, "--tree-size",
                                  w->saved_size, "--public-key", w->head_key};
    const char *const consistency[8] = {"consistency", "--from", w->saved_size, "--to",
                                        w->head_size};
    char words[256];
    /* proof's second events query is the one whose path rebuilds the root. */
    snprintf(words, sizeof words,
             "the tree of size %s is not consistent with the signed head of size %s", w->saved_size,
             w->head_size);
    expect_refused(w, EVENTS, 2, events_path_altered, proof, 1, "MISMATCH", words);
    expect_refused(w, EVENTS, 1, events_path_altered, consistency, 1, "MISMATCH", words);
    expect_refused(w, CONSISTENCY, 0, consistency_hash_altered, consistency, 1, "MISMATCH", words);
    expect_refused(w, CONSISTENCY, 1, consistency_cut, proof, 1, "MISMATCH", words);
    const char *const does_not_fit = "does not fit a tree of ";
    expect_refused(w, EVENTS, 2, events_path_cut, proof, 1, "MISMATCH", does_not_fit);
    expect_refused(w, EVENTS, 1, events_path_grown, consistency, 1, "MISMATCH", does_not_fit);
    expect_refused(w, EVENTS, 2, events_path_hash_long, proof, 1, "MISMATCH", does_not_fit);
    char past[256];
    snprintf(past, sizeof past, "the inclusion path of sequence %llu does not fit a tree of %s",
             strtoull(w->saved_size, NULL, 10) + 1, w->saved_size);
    expect_refused(w, EVENTS, 2, events_record_past_its_tree, proof, 1, "MISMATCH", past);
    expect_refused(w, EVENTS, 1, events_record_past_its_tree, consistency, 1, "MISMATCH", past);
}

/* consistency with a root kept from a saved head: the proof itself is what
 * is checked, and a path altered, cut short or made longer is refused. */
static void test_ctl_forgery_consistency(void **state)
{
    struct world *w = *state;
    const char *const args[8] = {"consistency", "--from",      w->saved_size, "--to",
                                 w->head_size,  "--from-root", w->saved_root};
    char words[256];
    snprintf(words, sizeof words,
             "the consistency proof from %s to %s does not verify: the tree of size %s is not a "
             "prefix of the tree of size %s",
             w->saved_size, w->head_size, w->saved_size, w->head_size);
    expect_refused(w, CONSISTENCY, 0, consistency_hash_altered, args, 1, "MISMATCH", words);
    expect_refused(w, CONSISTENCY, 0, consistency_cut, args, 1, "MISMATCH", words);
    expect_refused(w, CONSISTENCY, 0, consistency_grown, args, 1, "MISMATCH", words);
    expect_refused(w, CONSISTENCY, 0, consistency_hash_short, args, 1, "MISMATCH", words);
    expect_refused(w, CONSISTENCY, 0, consistency_hash_long, args, 1, "MISMATCH", words);
    expect_refused(w, CONSISTENCY, 0, consistency_too_long, args, 1, "MISMATCH", words);
    /* A proof between other sizes than asked for is no answer at all. */
    expect_refused(w, CONSISTENCY, 0, consistency_other_sizes, args, 3, "PROTOCOL_ERROR",
                   "the reply carries no consistency proof from ");
    /* Nor is one that starts where asked but ends elsewhere. */
    char other_end[256];
    snprintf(other_end, sizeof other_end, "the reply carries no consistency proof from %s to %s",
             w->saved_size, w->head_size);
    expect_refused(w, CONSISTENCY, 0, consistency_other_to_size, args, 3, "PROTOCOL_ERROR",
                   other_end);
}

/* verify --head: a history rewritten behind the saved head (another root
 * signed by the ledger's own key, or a consistency proof that does not
 * hold) or cut back to an older, validly signed head. */
static void test_ctl_forgery_verify_rewritten(void **state)
{
    struct world *w = *state;
    const char *const args[8] = {"verify", "--head", w->saved_head, "--public-key", w->head_key};
    char words[256];
    snprintf(words, sizeof words,
             "the history was rewritten: the consistency proof from the saved head (%s events) to "
             "the current head (%s) does not verify",
             w->saved_size, w->head_size);
    expect_refused(w, CONSISTENCY, 0, consistency_hash_altered, args, 1, "MISMATCH", words);
    expect_refused(w, CONSISTENCY, 0, consistency_cut, args, 1, "MISMATCH", words);
    expect_refused(w, CONSISTENCY, 0, consistency_grown, args, 1, "MISMATCH", words);
    expect_refused(w, HEAD, 0, head_rewritten, args, 1, "MISMATCH", words);
    snprintf(words, sizeof words,
             "the history was rewritten: both heads cover %s events but their roots differ",
             w->saved_size);
    expect_refused(w, HEAD, 0, head_rewritten_at_saved_size, args, 1, "MISMATCH", words);
    snprintf(words, sizeof words,
             "the history was cut back: the saved head covers %s events, the current head only "
             "%llu",
             w->saved_size, (unsigned long long)w->old->tree_size);
    expect_refused(w, HEAD, 0, head_replayed, args, 1, "MISMATCH", words);
}

/* verify --head of a head saved while the ledger was empty (size 0, the
 * empty tree's root, signed by the ledger's key): any history extends it,
 * and there is no consistency proof to ask for. */
static void test_ctl_forgery_verify_empty_saved_head(void **state)
{
    struct world *w = *state;
    Ledger__V1__SignedHead empty = *w->saved;
    uint8_t root[MERKLE_HASH_BYTES];
    merkle_empty_root(root);
    empty.tree_size = 0;
    empty.root_hash = (ProtobufCBinaryData){sizeof root, root};
    empty.signature = (ProtobufCBinaryData){0, NULL};
    empty.public_key = (ProtobufCBinaryData){0, NULL};
    head_sign(&empty, w->head_secret);
    char path[PATH_SIZE + 16];
    snprintf(path, sizeof path, "%s/empty-head.pb", w->fixture->dir);
    uint8_t bytes[1024];
    size_t size = ledger__v1__signed_head__get_packed_size(&empty);
    assert_true(size <= sizeof bytes);
    ledger__v1__signed_head__pack(&empty, bytes);
    free(empty.signature.data);
    free(empty.public_key.data);
    FILE *file = fopen(path, "wb");
    assert_non_null(file);
    assert_int_equal(fwrite(bytes, 1, size, file), size);
    assert_int_equal(fclose(file), 0);

    struct run run;
    const char *const args[8] = {"verify", "--head", path, "--public-key", w->head_key};
    struct forgery honest = {w, CONSISTENCY, 0, NULL, 0, 0, NULL};
    reply_proxy_set(w->proxy, forge_reply, &honest);
    audit(w, &run, args);
    reply_proxy_set(w->proxy, NULL, NULL);
    expect_ok(&run);
    assert_int_equal(0, honest.seen);
    assert_non_null(
        strstr(run.out, "consistency    the saved head is the empty tree: nothing to prove\n"));
    char words[128];
    snprintf(words, sizeof words, "the current history extends the saved head (%s new events)",
             w->head_size);
    assert_non_null(strstr(run.out, words));
    run_free(&run);
}

/* backup: the head the daemon answers with is checked as `head` checks the
 * current one. Honest, it is printed verified; with its signature altered,
 * or left out, the operator is told not to keep the backup (it was written
 * all the same: the daemon made it), and nothing is printed on stdout. */
static void test_ctl_forgery_backup_head(void **state)
{
    struct world *w = *state;
    char dir[PATH_SIZE + 32];
    struct run run;
    bool (*const lies[])(struct world *, Ledger__V1__QueryResult *) = {NULL, head_signature_flipped,
                                                                       head_missing};
    for (int lying = 0; lying < 3; lying++) {
        snprintf(dir, sizeof dir, "%s/forged-backup-%d", w->fixture->dir, lying);
        struct forgery forgery = {w, LEDGER__V1__QUERY__KIND_BACKUP, 0, lies[lying], 0, 0, NULL};
        reply_proxy_set(w->proxy, forge_reply, &forgery);
        ctl(w->fixture, &run, NULL, NULL, "--socket", w->url, "--principal", "operator",
            "--key-file", w->fixture->operator_key, "backup", "--out", dir, NULL);
        reply_proxy_set(w->proxy, NULL, NULL);
        assert_int_equal(forgery.seen, 1);
        if (!lying) {
            expect_ok(&run);
            assert_non_null(strstr(run.out, "verified"));
        } else {
            assert_int_equal(forgery.altered, 1);
            char words[PATH_SIZE + 160];
            if (lying == 1) {
                expect_error(&run, 1, "MISMATCH");
                snprintf(words, sizeof words, "the backup's head's signature does not verify");
            } else {
                expect_error(&run, 3, "PROTOCOL_ERROR");
                snprintf(words, sizeof words, "the reply carries no head; ");
            }
            assert_non_null(strstr(run.err, words));
            assert_string_equal("", run.out);
            snprintf(words, sizeof words, "do not keep the backup in %s", dir);
            assert_non_null(strstr(run.err, words));
        }
        run_free(&run);
        test_remove_dir(dir);
    }
}

/* explain: every entry of the chain (the other subscriptions an exchange
 * bills too) and the head are checked before anything is printed. */
static void test_ctl_forgery_explain(void **state)
{
    struct world *w = *state;
    const char *const args[8] = {"explain", "--seq", w->purchase, "--public-key", w->head_key};
    expect_refused(w, EXPLAIN, 0, explanation_head_flipped, args, 1, "MISMATCH",
                   "the explanation's head's signature does not verify");
    expect_refused(w, EXPLAIN, 0, explanation_permission_path, args, 1, "MISMATCH",
                   "does not verify against the root of tree size ");
    expect_refused(w, EXPLAIN, 0, explanation_principal_record, args, 1, "MISMATCH",
                   ": the leaf hash of the record bytes is not the proof's leaf hash");
    expect_refused(w, EXPLAIN, 0, explanation_role_renumbered, args, 1, "MISMATCH",
                   "does not decode to that sequence");
    char words[256];
    snprintf(words, sizeof words, "the event sent as sequence %s is not its record decoded",
             w->purchase);
    expect_refused(w, EXPLAIN, 0, explanation_purchase_event, args, 1, "MISMATCH", words);
    expect_refused(w, EXPLAIN, 0, explanation_other_purchase, args, 1, "MISMATCH",
                   "the explanation is of sequence ");
    expect_refused(w, EXPLAIN, 0, explanation_other_subscription_path, args, 1, "MISMATCH",
                   "does not verify against the root of tree size ");
    expect_refused(w, EXPLAIN, 0, explanation_role_as_permission, args, 1, "MISMATCH",
                   "is a role_assigned event, not the purchase_permission_granted");
    expect_refused(w, EXPLAIN, 0, explanation_subscription_as_principal, args, 1, "MISMATCH",
                   "is a subscription_purchased event, not the principal_added");
    expect_refused(w, EXPLAIN, 0, explanation_permission_dropped, args, 1, "MISMATCH",
                   "the purchase names its permission as sequence ");
    expect_refused(w, EXPLAIN, 0, explanation_subscription_dropped, args, 1, "MISMATCH",
                   "but the explanation gives no purchase of it");
}

/* True, proven entries of the log taken from an honest `events --proofs`
 * reply (proven against the same head as the explanation, nothing being
 * written in between), to be put in an explanation's place; and the ones
 * the forgeries below put there. */
#define CAPTURED_MAX 128
static struct {
    Ledger__V1__EventEntry *entries[CAPTURED_MAX];
    size_t count;
    const Ledger__V1__EventEntry *principal, *subscription, *later;
} captured;

static Ledger__V1__EventEntry *entry_copy(const Ledger__V1__EventEntry *entry)
{
    size_t size = ledger__v1__event_entry__get_packed_size(entry);
    uint8_t *bytes = malloc(size + 1);
    assert_non_null(bytes);
    ledger__v1__event_entry__pack(entry, bytes);
    Ledger__V1__EventEntry *copy = ledger__v1__event_entry__unpack(NULL, size, bytes);
    free(bytes);
    assert_non_null(copy);
    return copy;
}

static bool events_captured(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    for (size_t i = 0; i < result->n_events && captured.count < CAPTURED_MAX; i++) {
        captured.entries[captured.count++] = entry_copy(result->events[i]);
    }
    return true;
}

/* The entry replaced by a copy of `by` (what is taken out is freed). */
static bool entry_replaced(Ledger__V1__EventEntry **entry, const Ledger__V1__EventEntry *by)
{
    ledger__v1__event_entry__free_unpacked(*entry, NULL);
    *entry = entry_copy(by);
    return true;
}

static bool explanation_other_principal(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    return entry_replaced(&result->explanation->principal, captured.principal);
}

static bool explanation_other_subscription(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    return entry_replaced(&result->explanation->subscription, captured.subscription);
}

static bool explanation_later_subscription(struct world *world, Ledger__V1__QueryResult *result)
{
    (void)world;
    return entry_replaced(&result->explanation->subscription, captured.later);
}

/* explain: true, proven events of the right kind, but not the facts of this
 * purchase, are refused: the principal_added of another principal than the
 * one who made the purchase, and the purchase of another customer's
 * subscription. Each proof says only that its event is in the log. */
static void test_ctl_forgery_explain_facts_of_others(void **state)
{
    struct world *w = *state;
    struct forgery capture = {w, EVENTS, 0, events_captured, 0, 0, NULL};
    const char *const events[8] = {
        "--output", "json",   "events",
        "--proofs", "--type", "principal_added,subscription_purchased,reservation_purchased"};
    struct run run;
    reply_proxy_set(w->proxy, forge_reply, &capture);
    audit(w, &run, events);
    reply_proxy_set(w->proxy, NULL, NULL);
    expect_ok(&run);
    run_free(&run);
    uint64_t sequence = strtoull(w->purchase, NULL, 10);
    const Ledger__V1__Event *purchase = NULL;
    for (size_t i = 0; i < captured.count; i++) {
        if (captured.entries[i]->event->sequence == sequence) {
            purchase = captured.entries[i]->event;
        }
    }
    if (purchase == NULL || purchase->actor == NULL) {
        fail_msg("the events of sequence %s were not captured", w->purchase);
        return;
    }
    for (size_t i = 0; i < captured.count; i++) {
        const Ledger__V1__Event *event = captured.entries[i]->event;
        if (event->sequence < sequence &&
            event->body_case == LEDGER__V1__EVENT__BODY_PRINCIPAL_ADDED &&
            strcmp(event->principal_added->principal_id, purchase->actor->principal_id) != 0) {
            captured.principal = captured.entries[i];
        }
        if (event->sequence < sequence &&
            event->body_case == LEDGER__V1__EVENT__BODY_SUBSCRIPTION_PURCHASED &&
            strcmp(event->customer_id, purchase->customer_id) != 0) {
            captured.subscription = captured.entries[i];
        }
        if (event->sequence > sequence &&
            event->body_case == LEDGER__V1__EVENT__BODY_SUBSCRIPTION_PURCHASED &&
            captured.later == NULL) {
            captured.later = captured.entries[i];
        }
    }
    if (captured.principal == NULL || captured.subscription == NULL || captured.later == NULL) {
        fail_msg("no principal_added of another principal, or subscription_purchased of another "
                 "customer, before sequence %s, or no subscription_purchased after it",
                 w->purchase);
        return;
    }

    const char *const args[8] = {"explain", "--seq", w->purchase, "--public-key", w->head_key};
    char words[512];
    snprintf(words, sizeof words,
             "the explanation's principal (sequence %llu) adds principal %s, not %s who made the "
             "purchase",
             (unsigned long long)captured.principal->event->sequence,
             captured.principal->event->principal_added->principal_id,
             purchase->actor->principal_id);
    expect_refused(w, EXPLAIN, 0, explanation_other_principal, args, 1, "MISMATCH", words);
    const Ledger__V1__Event *other = captured.subscription->event;
    snprintf(words, sizeof words,
             "the explanation's subscription (sequence %llu) is of customer %s of partner %s, not "
             "of the purchase's customer %s of partner %s",
             (unsigned long long)other->sequence, other->customer_id, other->partner_id,
             purchase->customer_id, purchase->partner_id);
    expect_refused(w, EXPLAIN, 0, explanation_other_subscription, args, 1, "MISMATCH", words);
    /* A true subscription purchase recorded after the purchase cannot have
     * allowed it, whoever's it is. */
    snprintf(words, sizeof words,
             "the explanation's subscription (sequence %llu) was recorded after the purchase "
             "(sequence %s): it cannot have allowed it",
             (unsigned long long)captured.later->event->sequence, w->purchase);
    expect_refused(w, EXPLAIN, 0, explanation_later_subscription, args, 1, "MISMATCH", words);
    for (size_t i = 0; i < captured.count; i++) {
        ledger__v1__event_entry__free_unpacked(captured.entries[i], NULL);
    }
    memset(&captured, 0, sizeof captured);
}

/* A reply without the part the verb asked for (a head, a proof, an event,
 * an explanation) is PROTOCOL_ERROR (exit 3) saying what is missing, never a
 * crash or an answer printed in part; billing pages holding fewer or more
 * rows than the first page announced are too, so that an export is never
 * printed short of a row. */
static void test_ctl_forgery_replies_cut_short(void **state)
{
    struct world *w = *state;
    const char *const head[8] = {"head"};
    const char *const proof[8] = {"proof", "--seq", w->purchase};
    expect_refused(w, HEAD, 0, head_missing, head, 3, "PROTOCOL_ERROR",
                   "the reply carries no head");
    expect_refused(w, HEAD, 0, head_missing, proof, 3, "PROTOCOL_ERROR",
                   "the reply carries no head");
    expect_refused(w, INCLUSION, 0, inclusion_missing, proof, 3, "PROTOCOL_ERROR",
                   "the reply carries no proof");
    const char *const events[8] = {"--output", "json", "events", "--proofs", "--limit", "3"};
    char words[256];
    expect_refused(w, EVENTS, 0, events_proof_missing, events, 3, "PROTOCOL_ERROR",
                   "came without its proof");
    expect_refused(w, EVENTS, 1, events_event_missing, events, 3, "PROTOCOL_ERROR",
                   "the daemon returned an events entry without its event (after sequence 0)");
    /* The record a proof is checked against, likewise: not "not visible". */
    expect_refused(w, EVENTS, 0, events_event_missing, proof, 3, "PROTOCOL_ERROR",
                   "the daemon returned an events entry without its event (after sequence ");
    const char *const listing[8] = {"--output", "csv", "events", "--limit", "3"};
    expect_refused(w, EVENTS, 1, events_swapped, listing, 3, "PROTOCOL_ERROR",
                   "the daemon returned events out of order: sequence ");
    const char *const explain[8] = {"explain", "--seq", w->purchase};
    expect_refused(w, EXPLAIN, 0, explanation_missing, explain, 3, "PROTOCOL_ERROR",
                   "the reply carries no explanation");
    expect_refused(w, EXPLAIN, 0, explanation_subscription_event_missing, explain, 3,
                   "PROTOCOL_ERROR", "an explanation entry has no event");

    /* The demo's month, two rows a page. */
    char month[16];
    time_t now = time(NULL);
    struct tm utc;
    gmtime_r(&now, &utc);
    strftime(month, sizeof month, "%Y-%m", &utc);
    struct run run;
    ctl(w->fixture, &run, NULL, NULL, "--socket", w->url, "--principal", "auditor", "--key-file",
        w->auditor, "--partner", "contoso", "--output", "json", "export", "--month", month, NULL);
    expect_ok(&run);
    size_t rows = json_array_size(json_object_get(run.json, "export"));
    assert_true(rows >= 3);
    run_free(&run);
    const char *const export[8] = {"--output", "csv",         "export", "--month",
                                   month,      "--page-rows", "2"};
    snprintf(words, sizeof words,
             "the daemon's billing pages do not add up to the %zu rows it announced: they hold %zu",
             rows, rows - 1);
    expect_refused(w, BILLING, 1, billing_row_dropped, export, 3, "PROTOCOL_ERROR", words);
    snprintf(words, sizeof words,
             "the daemon's billing pages do not add up to the %zu rows it announced", rows - 1);
    expect_refused(w, BILLING, 1, billing_total_lowered, export, 3, "PROTOCOL_ERROR", words);
    /* The second page read at another tree than the first: the month
     * would be reported as read at a tree it was not. */
    expect_refused(w, BILLING, 2, billing_tree_moved, export, 3, "PROTOCOL_ERROR",
                   "the daemon's billing pages were read at tree sizes ");

    /* A daemon that does not say its tree (an older one): the month is
     * printed, without a tree size in JSON, and stderr says to give
     * --tree-size to know, in every format. */
    struct forgery unsaid = {w, BILLING, 0, billing_tree_unsaid, 0, 0, NULL};
    const char *const formats[] = {"json", "csv"};
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        reply_proxy_set(w->proxy, forge_reply, &unsaid);
        ctl(w->fixture, &run, NULL, NULL, "--socket", w->url, "--principal", "auditor",
            "--key-file", w->auditor, "--partner", "contoso", "--output", formats[i], "export",
            "--month", month, "--page-rows", "2", NULL);
        reply_proxy_set(w->proxy, NULL, NULL);
        expect_ok(&run);
        assert_true(unsaid.altered >= 2);
        assert_string_equal("ledgerctl: export: the daemon did not say which tree size it read "
                            "the month at (it is older than ledgerctl): give --tree-size to know\n",
                            run.err);
        if (i == 0) {
            assert_int_equal(rows, json_array_size(json_object_get(run.json, "export")));
            assert_null(json_object_get(run.json, "tree_size"));
        } else {
            assert_int_equal(0, strncmp(run.out, "month,", 6));
        }
        run_free(&run);
    }
}

/* A `partner add --partner P --name NAME` through the proxy failed with
 * code (exit status 3) in `run` (freed here): its message says the command
 * may have been committed and names --command-id ID; run again straight to
 * the daemon with that id, it is answered as a duplicate of the commit. */
static void expect_retried_as_duplicate(struct world *w, struct run *run, int status,
                                        const char *code, const char *partner, const char *name)
{
    expect_error(run, status, code);
    assert_non_null(strstr(run->err, status == 3 ? "may have been committed"
                                                 : "if it was committed, that is answered as a "
                                                   "duplicate, never done twice"));
    const char *given = strstr(run->err, "--command-id c-");
    assert_non_null(given);
    char id[35]; /* "c-" and 32 hex digits */
    snprintf(id, sizeof id, "%s", given + strlen("--command-id "));
    run_free(run);
    ctl(w->fixture, run, "operator", w->fixture->operator_key, "--output", "json", "partner", "add",
        "--partner", partner, "--name", name, "--command-id", id, NULL);
    expect_ok(run);
    json_t *result = json_array_get(json_object_get(run->json, "results"), 0);
    assert_string_equal(id, json_string_value(json_object_get(result, "command_id")));
    assert_true(json_is_true(json_object_get(result, "duplicate")));
    run_free(run);
}

/* Takes the results out of the replies to batches: a reply that does not
 * answer the command, though the daemon committed it. Counts them. */
static void results_dropped(void *context, const Ledger__V1__SignedRequest *request,
                            Ledger__V1__Reply *reply)
{
    unsigned *dropped = context;
    if (request == NULL || request->body == NULL ||
        request->body->kind_case != LEDGER__V1__REQUEST_BODY__KIND_BATCH) {
        return;
    }
    for (size_t i = 0; i < reply->n_results; i++) {
        ledger__v1__command_result__free_unpacked(reply->results[i], NULL);
    }
    free(reply->results);
    reply->results = NULL;
    reply->n_results = 0;
    (*dropped)++;
}

/* A write answered by a reply that does not answer it (PROTOCOL_ERROR) may
 * have been committed as well: the error names its command id, and the run
 * again with it is answered as a duplicate. */
static void test_ctl_forgery_garbled_reply_names_command_id(void **state)
{
    struct world *w = *state;
    struct run run;
    unsigned dropped = 0;
    reply_proxy_set(w->proxy, results_dropped, &dropped);
    ctl(w->fixture, &run, NULL, NULL, "--socket", w->url, "--principal", "operator", "--key-file",
        w->fixture->operator_key, "partner", "add", "--partner", "p-garbled", "--name",
        "Garbled Reply", NULL);
    reply_proxy_set(w->proxy, NULL, NULL);
    /* At least once: on a loaded machine ledgerctl may resend the request,
     * and its copy is answered the same way. */
    assert_true(dropped >= 1);
    assert_non_null(strstr(run.err, "the reply has 0 results for 1 commands"));
    expect_retried_as_duplicate(w, &run, 3, "PROTOCOL_ERROR", "p-garbled", "Garbled Reply");
}

/* Answers a batch the daemon committed as a daemon that could not build
 * the reply does (server.c: NO_MEMORY, saying the commands were
 * committed). Counts them. */
static void committed_out_of_memory(void *context, const Ledger__V1__SignedRequest *request,
                                    Ledger__V1__Reply *reply)
{
    unsigned *answered = context;
    if (request == NULL || request->body == NULL ||
        request->body->kind_case != LEDGER__V1__REQUEST_BODY__KIND_BATCH) {
        return;
    }
    results_dropped(answered, request, reply);
    static const char said[] = "the commands were committed but the reply could not be built; "
                               "retry with the same command ids to read their results";
    char *message = strdup(said);
    assert_non_null(message);
    if (reply->message != NULL && reply->message != protobuf_c_empty_string) {
        free(reply->message);
    }
    reply->message = message;
    reply->code = LEDGER__V1__ERROR_CODE__NO_MEMORY;
}

/* Takes the results out of the reply to the second batch only. Counts
 * batches. */
static void second_batch_garbled(void *context, const Ledger__V1__SignedRequest *request,
                                 Ledger__V1__Reply *reply)
{
    unsigned *batches = context;
    if (request == NULL || request->body == NULL ||
        request->body->kind_case != LEDGER__V1__REQUEST_BODY__KIND_BATCH || ++*batches != 2) {
        return;
    }
    results_dropped(&(unsigned){0}, request, reply);
}

/* An import whose batch is answered by a reply that does not answer it
 * (PROTOCOL_ERROR, exit status 3) says that batch may have been committed
 * and the ones before it were, and that running the file again is safe:
 * run again, every line is answered as already there. */
static void test_ctl_forgery_import_garbled_batch(void **state)
{
    struct world *w = *state;
    char file[PATH_SIZE + 32];
    snprintf(file, sizeof file, "%s/garbled-import.txt", w->fixture->dir);
    FILE *lines = fopen(file, "w");
    assert_non_null(lines);
    for (int i = 1; i <= 4; i++) {
        fprintf(lines, "partner add --partner p-import-%d --name \"Import %d\"\n", i, i);
    }
    assert_int_equal(0, fclose(lines));
    unsigned batches = 0;
    reply_proxy_set(w->proxy, second_batch_garbled, &batches);
    struct run run;
    ctl(w->fixture, &run, NULL, NULL, "--socket", w->url, "--principal", "operator", "--key-file",
        w->fixture->operator_key, "import", "--file", file, "--batch", "2", NULL);
    reply_proxy_set(w->proxy, NULL, NULL);
    assert_int_equal(2, batches);
    expect_error(&run, 3, "PROTOCOL_ERROR");
    assert_non_null(strstr(run.err, "the reply has 0 results for 2 commands"));
    assert_non_null(strstr(run.err, "; the batch of lines 3..4 may have been committed, the 2 "
                                    "commands before it were; running the file again is safe: "
                                    "what was committed is answered as already there, never "
                                    "recorded twice\n"));
    run_free(&run);
    ctl(w->fixture, &run, NULL, NULL, "--socket", w->url, "--principal", "operator", "--key-file",
        w->fixture->operator_key, "--output", "json", "import", "--file", file, "--batch", "2",
        NULL);
    expect_ok(&run);
    json_t *summary = json_array_get(json_object_get(run.json, "import"), 0);
    assert_int_equal(0, json_int_at(summary, "committed"));
    assert_int_equal(4, json_int_at(summary, "already_there"));
    run_free(&run);
}

/* Refuses the third batch as a daemon whose disk just filled would (the
 * daemon behind the proxy committed it all the same). Counts batches. */
static void third_batch_refused(void *context, const Ledger__V1__SignedRequest *request,
                                Ledger__V1__Reply *reply)
{
    unsigned *batches = context;
    if (request == NULL || request->body == NULL ||
        request->body->kind_case != LEDGER__V1__REQUEST_BODY__KIND_BATCH || ++*batches != 3) {
        return;
    }
    results_dropped(&(unsigned){0}, request, reply);
    char *message = strdup("the disk is full");
    assert_non_null(message);
    if (reply->message != NULL && reply->message != protobuf_c_empty_string) {
        free(reply->message);
    }
    reply->message = message;
    reply->code = LEDGER__V1__ERROR_CODE__DISK_FULL;
}

/* A demo whose daemon refuses a step half way says which step, as whom,
 * the daemon's words, and that the commands before it stay committed, so
 * that the demo cannot run on that ledger again; it prints no summary. */
static void test_ctl_forgery_demo_stopped_half_way(void **state)
{
    (void)state;
    void *fresh = NULL;
    assert_int_equal(0, fixture_setup(&fresh));
    struct fixture *fixture = fresh;
    char url[PATH_SIZE + 32];
    snprintf(url, sizeof url, "ipc://%s/proxy.sock", fixture->dir);
    struct reply_proxy *proxy =
        reply_proxy_start(url, fixture->socket, test_timeout_ms(PROXY_REPLY_WAIT_MS));
    assert_non_null(proxy);
    unsigned batches = 0;
    reply_proxy_set(proxy, third_batch_refused, &batches);
    struct run run;
    ctl(fixture, &run, NULL, NULL, "--socket", url, "--principal", "operator", "--key-file",
        fixture->operator_key, "demo", NULL);
    reply_proxy_set(proxy, NULL, NULL);
    assert_int_equal(3, batches);
    expect_error(&run, 1, "DISK_FULL");
    assert_string_equal("error: DISK_FULL: demo step 3 (principal add contoso-admin, as operator): "
                        "the disk is full; the demo stopped half way, 2 commands committed (up to "
                        "sequence 3): it cannot run on this ledger again; load it into a new one\n",
                        run.err);
    assert_string_equal("Loading the demo world (sequence, principal, command):\n"
                        "    2  operator         partner add contoso\n"
                        "    3  operator         partner add northwind\n",
                        run.out);
    run_free(&run);
    reply_proxy_stop(proxy);
    fixture_teardown(&fresh);
}

/* A write answered NO_MEMORY after its commit: ledgerctl generated the
 * command id, so the error names it, and the run again with it is answered
 * as a duplicate instead of committing the command a second time. */
static void test_ctl_forgery_out_of_memory_reply_names_command_id(void **state)
{
    struct world *w = *state;
    struct run run;
    unsigned answered = 0;
    reply_proxy_set(w->proxy, committed_out_of_memory, &answered);
    ctl(w->fixture, &run, NULL, NULL, "--socket", w->url, "--principal", "operator", "--key-file",
        w->fixture->operator_key, "partner", "add", "--partner", "p-no-memory", "--name",
        "No Memory Reply", NULL);
    reply_proxy_set(w->proxy, NULL, NULL);
    assert_true(answered >= 1); /* a resend's copy is answered the same way */
    assert_non_null(
        strstr(run.err, "the commands were committed but the reply could not be built"));
    expect_retried_as_duplicate(w, &run, 1, "NO_MEMORY", "p-no-memory", "No Memory Reply");
}

/* A write whose reply is lost on the way (the proxy forwards it to a
 * daemon that is stopped, and nothing comes back in time) may have been
 * committed: the TIMEOUT names its command id and says to run it again with
 * --command-id, which is answered as a duplicate of the commit instead of
 * committing it a second time, as a run without it would. */
static void test_ctl_forgery_lost_reply_names_command_id(void **state)
{
    struct world *w = *state;
    struct run run;
    const char *const head[8] = {"head"};
    audit(w, &run, head); /* the proxy's connection to the daemon is up */
    expect_ok(&run);
    run_free(&run);
    assert_int_equal(0, kill(w->fixture->daemon, SIGSTOP));
    ctl(w->fixture, &run, NULL, NULL, "--socket", w->url, "--principal", "operator", "--key-file",
        w->fixture->operator_key, "--timeout-ms", "500", "--retries", "0", "partner", "add",
        "--partner", "p-lost", "--name", "Lost Reply", NULL);
    assert_int_equal(0, kill(w->fixture->daemon, SIGCONT));
    expect_retried_as_duplicate(w, &run, 3, "TIMEOUT", "p-lost", "Lost Reply");
}

/* Turns every reply into STALE_REQUEST (the daemon's empty message kept, so
 * the code's own words stand) after `delay_ms`: the answers of a daemon
 * whose clock disagrees (no delay), or that answers slower than its
 * authentication window. Counts them. */
struct stale {
    unsigned delay_ms;
    unsigned count;
};

static void stale_reply(void *context, const Ledger__V1__SignedRequest *request,
                        Ledger__V1__Reply *reply)
{
    (void)request;
    struct stale *stale = context;
    struct timespec delay = {.tv_sec = stale->delay_ms / 1000,
                             .tv_nsec = (long)(stale->delay_ms % 1000) * 1000000};
    while (nanosleep(&delay, &delay) != 0 && errno == EINTR) {
    }
    reply->code = LEDGER__V1__ERROR_CODE__STALE_REQUEST;
    stale->count++;
}

/* A request refused STALE_REQUEST is signed again while that can help, and
 * ledgerctl's message then says what to fix: this host's clock when the
 * refusals came at once (one request signed again), the daemon's speed when
 * each came after a wait longer than the narrowest window (signed again
 * LEDGER_STALE_RESIGNS_MAX times); it does not blame the clock then.
 * "At once" is ledgerctl's own measure of each attempt, which a loaded
 * machine can stretch past the narrowest window although the proxy answers
 * without delay: such an attempt is rightly signed again once more. So the
 * quick refusals are signed again at least once and at most
 * LEDGER_STALE_RESIGNS_MAX times, and whenever ledgerctl stopped before
 * that bound (its last refusal came at once) it blames the clock. */
static void test_ctl_forgery_stale_names_its_cause(void **state)
{
    struct world *w = *state;
    struct run run;
    const char *const head[8] = {"head"};
    struct stale quick = {0};
    reply_proxy_set(w->proxy, stale_reply, &quick);
    audit(w, &run, head);
    reply_proxy_set(w->proxy, NULL, NULL);
    expect_error(&run, 3, "STALE_REQUEST");
    assert_in_range(quick.count, 2, 1 + LEDGER_STALE_RESIGNS_MAX);
    if (quick.count < 1 + LEDGER_STALE_RESIGNS_MAX) {
        assert_non_null(strstr(run.err, "this host's clock disagrees with the daemon's"));
        assert_null(strstr(run.err, "slower than its authentication window"));
    }
    run_free(&run);

    struct stale slow = {.delay_ms = (unsigned)(LEDGER_AUTH_WINDOW_MIN_US / 1000) + 100};
    reply_proxy_set(w->proxy, stale_reply, &slow);
    audit(w, &run, head);
    reply_proxy_set(w->proxy, NULL, NULL);
    expect_error(&run, 3, "STALE_REQUEST");
    assert_int_equal(1 + LEDGER_STALE_RESIGNS_MAX, slow.count);
    assert_non_null(strstr(run.err, "the daemon answers slower than its authentication window"));
    assert_null(strstr(run.err, "check its clock"));
    run_free(&run);
}

/* A record the daemon does not show (no event at all in the events reply,
 * or the next one) is one ledgerctl cannot check: proof says the record is
 * not visible, and the root of an older tree that no record rebuilds is not
 * taken on trust, both NOT_FOUND (exit 1) rather than a verdict without a
 * record. */
static void test_ctl_forgery_nothing_visible(void **state)
{
    struct world *w = *state;
    const char *const proof[8] = {"proof", "--seq", w->purchase};
    const char *const consistency[8] = {"consistency", "--from", w->saved_size, "--to",
                                        w->head_size};
    const char *const kept[8] = {"--output", "json",        "events",
                                 "--proofs", "--tree-size", w->saved_size};
    char words[256];
    snprintf(words, sizeof words, "the record of sequence %s is not visible to you", w->purchase);
    expect_refused(w, EVENTS, 1, events_emptied, proof, 1, "NOT_FOUND", words);
    expect_refused(w, EVENTS, 1, events_next_record, proof, 1, "NOT_FOUND", words);
    snprintf(words, sizeof words,
             "cannot check the root of tree size %s: none of its records is visible to you",
             w->saved_size);
    expect_refused(w, EVENTS, 1, events_emptied, consistency, 1, "NOT_FOUND", words);
    expect_refused(w, EVENTS, 1, events_emptied, kept, 1, "NOT_FOUND", words);
}

/* A tree past the signed head (an older head served, validly signed, while
 * the daemon answers for its whole log) has no root ledgerctl can trust:
 * NOT_FOUND, saying so, rather than a proof checked against nothing. */
static void test_ctl_forgery_past_the_head(void **state)
{
    struct world *w = *state;
    const char *const proof[8] = {"proof", "--seq", w->purchase, "--tree-size", w->head_size};
    const char *const consistency[8] = {"consistency", "--from", w->saved_size, "--to",
                                        w->head_size};
    const char *const events[8] = {"--output", "json",        "events",
                                   "--proofs", "--tree-size", w->head_size};
    char words[256];
    snprintf(words, sizeof words, "--tree-size %s is past the signed head (%llu events)",
             w->head_size, (unsigned long long)w->old->tree_size);
    expect_refused(w, HEAD, 0, head_replayed, events, 1, "NOT_FOUND", words);
    expect_refused(w, HEAD, 0, head_replayed, proof, 1, "NOT_FOUND", words);
    snprintf(words, sizeof words, "--to %s is past the signed head (%llu)", w->head_size,
             (unsigned long long)w->old->tree_size);
    expect_refused(w, HEAD, 0, head_replayed, consistency, 1, "NOT_FOUND", words);
}

/* The nth reply to a query of `kind` turned into the daemon's refusal. */
struct refusal {
    Ledger__V1__Query__KindCase kind;
    unsigned nth, seen;
};

static void refuse_reply(void *context, const Ledger__V1__SignedRequest *request,
                         Ledger__V1__Reply *reply)
{
    struct refusal *refusal = context;
    if (request == NULL || request->body == NULL || request->body->query == NULL ||
        request->body->query->kind_case != refusal->kind || ++refusal->seen != refusal->nth) {
        return;
    }
    ledger__v1__query_result__free_unpacked(reply->query, NULL);
    reply->query = NULL;
    if (reply->message != protobuf_c_empty_string) {
        free(reply->message);
    }
    reply->message = strdup("not for you today");
    reply->code = LEDGER__V1__ERROR_CODE__FORBIDDEN;
}

/* The daemon's refusal of the head, or of the record an older tree's root
 * is rebuilt from, is the answer (FORBIDDEN, exit 1, with its words). */
static void test_ctl_forgery_refused(void **state)
{
    struct world *w = *state;
    const char *const head[8] = {"head"};
    const char *const consistency[8] = {"consistency", "--from", w->saved_size, "--to",
                                        w->head_size};
    const struct {
        const char *const *args;
        struct refusal refusal;
    } cases[] = {{head, {HEAD, 1, 0}}, {consistency, {EVENTS, 1, 0}}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct refusal refusal = cases[i].refusal;
        struct run run;
        reply_proxy_set(w->proxy, refuse_reply, &refusal);
        audit(w, &run, cases[i].args);
        reply_proxy_set(w->proxy, NULL, NULL);
        assert_int_equal(1, refusal.seen);
        expect_error(&run, 1, "FORBIDDEN");
        assert_non_null(strstr(run.err, "not for you today"));
        run_free(&run);
    }
}

/* The explanation of the purchase, kept packed by keep_explanation; served
 * by serve_kept_explanation in place of the daemon's refusal to explain its
 * permission grant, with that grant (a real, proven event) as the purchase. */
struct kept_explanation {
    uint8_t *bytes;
    size_t size;
    bool served;
};

static void keep_explanation(void *context, const Ledger__V1__SignedRequest *request,
                             Ledger__V1__Reply *reply)
{
    struct kept_explanation *kept = context;
    (void)request;
    if (kept->bytes == NULL && reply->query != NULL && reply->query->explanation != NULL) {
        kept->size = ledger__v1__explanation__get_packed_size(reply->query->explanation);
        kept->bytes = malloc(kept->size + 1);
        if (kept->bytes != NULL) {
            ledger__v1__explanation__pack(reply->query->explanation, kept->bytes);
        }
    }
}

static void serve_kept_explanation(void *context, const Ledger__V1__SignedRequest *request,
                                   Ledger__V1__Reply *reply)
{
    struct kept_explanation *kept = context;
    if (request == NULL || request->body == NULL || request->body->query == NULL ||
        request->body->query->kind_case != LEDGER__V1__QUERY__KIND_EXPLAIN ||
        reply->code != LEDGER__V1__ERROR_CODE__INVALID_ARGUMENT) {
        return;
    }
    Ledger__V1__Explanation *explanation =
        ledger__v1__explanation__unpack(NULL, kept->size, kept->bytes);
    Ledger__V1__QueryResult *result = malloc(sizeof *result);
    if (explanation == NULL || explanation->permission == NULL || result == NULL) {
        free(result);
        return;
    }
    ledger__v1__query_result__init(result);
    Ledger__V1__EventEntry *purchase = explanation->purchase;
    explanation->purchase = explanation->permission;
    explanation->permission = NULL;
    ledger__v1__event_entry__free_unpacked(purchase, NULL);
    result->explanation = explanation;
    if (reply->message != protobuf_c_empty_string) {
        free(reply->message);
    }
    reply->message = strdup("");
    reply->code = LEDGER__V1__ERROR_CODE__OK;
    reply->query = result;
    kept->served = true;
}

/* explain of a sequence that holds no purchase (the grant that allowed
 * one), answered by a lying daemon with the real grant, proven against a
 * real head: refused as what it is, not printed as a purchase. */
static void test_ctl_forgery_explain_not_a_purchase(void **state)
{
    struct world *w = *state;
    struct kept_explanation kept = {NULL, 0, false};
    const char *const purchase[8] = {"explain", "--seq", w->purchase};
    struct run run;
    reply_proxy_set(w->proxy, keep_explanation, &kept);
    audit(w, &run, purchase);
    reply_proxy_set(w->proxy, NULL, NULL);
    expect_ok(&run);
    run_free(&run);
    assert_non_null(kept.bytes);
    Ledger__V1__Explanation *honest = ledger__v1__explanation__unpack(NULL, kept.size, kept.bytes);
    assert_non_null(honest);
    assert_non_null(honest->permission);
    char grant[24];
    snprintf(grant, sizeof grant, "%llu", (unsigned long long)honest->permission->event->sequence);
    ledger__v1__explanation__free_unpacked(honest, NULL);

    const char *const args[8] = {"explain", "--seq", grant};
    audit(w, &run, args);
    expect_error(&run, 1, "INVALID_ARGUMENT"); /* the honest daemon's answer */
    assert_non_null(strstr(run.err, "explain answers for purchases, exchanges and renewals"));
    run_free(&run);
    reply_proxy_set(w->proxy, serve_kept_explanation, &kept);
    audit(w, &run, args);
    reply_proxy_set(w->proxy, NULL, NULL);
    assert_true(kept.served);
    expect_error(&run, 3, "PROTOCOL_ERROR");
    char words[160];
    snprintf(words, sizeof words,
             "the explanation's sequence %s is a purchase_permission_granted event, not a "
             "purchase, exchange or renewal",
             grant);
    if (strstr(run.err, words) == NULL) {
        fail_msg("expected '%s' in: %s", words, run.err);
    }
    assert_null(strstr(run.out, "purchase:"));
    run_free(&run);
    free(kept.bytes);
}

/* events --proofs: each proof's leaf hash is the hash of its record, it is
 * the proof of the event printed, the event printed is its record, and its
 * path leads to the root of a verified head (or, with --tree-size, to a
 * root tied to the head by a consistency proof). */
static void test_ctl_forgery_events(void **state)
{
    struct world *w = *state;
    const char *const args[8] = {"--output", "json", "events", "--proofs", "--limit", "3"};
    const char *const pinned[8] = {"--output", "json", "events",       "--proofs",
                                   "--limit",  "3",    "--public-key", w->head_key};
    const char *const kept[8] = {"--output",    "json",        "events",       "--proofs",
                                 "--tree-size", w->saved_size, "--public-key", w->head_key};
    expect_refused(w, EVENTS, 0, events_record_flipped, args, 1, "MISMATCH",
                   ": the leaf hash of the record bytes is not the proof's leaf hash");
    expect_refused(w, EVENTS, 0, events_record_renumbered, args, 1, "MISMATCH",
                   "does not decode to that sequence");
    expect_refused(w, EVENTS, 0, events_proof_renumbered, args, 1, "MISMATCH",
                   ": the proof is for sequence ");
    expect_refused(w, EVENTS, 0, events_event_not_its_record, args, 1, "MISMATCH",
                   "is not its record decoded");
    const char *const off_root = "does not verify against the root of tree size ";
    expect_refused(w, EVENTS, 0, events_path_altered, args, 1, "MISMATCH", off_root);
    expect_refused(w, EVENTS, 0, events_path_hash_long, args, 1, "MISMATCH", off_root);
    expect_refused(w, EVENTS, 0, events_path_cut, pinned, 1, "MISMATCH", off_root);
    expect_refused(w, EVENTS, 2, events_path_grown, kept, 1, "MISMATCH", off_root);
    expect_refused(w, EVENTS, 1, events_path_grown, kept, 1, "MISMATCH", "does not fit a tree of ");
    /* The head they are proven against. */
    expect_refused(w, HEAD, 0, head_signature_flipped, args, 1, "MISMATCH",
                   "the current head's signature does not verify");
    expect_refused(w, HEAD, 0, head_rewritten, args, 1, "MISMATCH", off_root);
    expect_refused(w, HEAD, 0, head_other_key, pinned, 1, "MISMATCH",
                   "not by the pinned key (--public-key)");
    /* A kept tree: its root comes through a consistency proof to the head. */
    char words[256];
    snprintf(words, sizeof words,
             "the tree of size %s is not consistent with the signed head of size %s", w->saved_size,
             w->head_size);
    expect_refused(w, CONSISTENCY, 0, consistency_hash_altered, kept, 1, "MISMATCH", words);
}

/* events --proofs --follow: the feed starts at an older head (the stage
 * serves the saved one first, validly signed), so the first page, proven
 * against the current tree, takes a newer head, which must be signed by the
 * same key, cover the page's tree and extend the older head. Started at
 * the current head, it takes none. */
static void test_ctl_forgery_events_follow(void **state)
{
    struct world *w = *state;
    const char *const args[8] = {"--output", "json",    "events", "--proofs",
                                 "--follow", "--limit", "3"};
    struct forgery stage = {w, HEAD, 1, head_replayed, 0, 0, NULL};
    char words[256];
    snprintf(words, sizeof words,
             "the history was rewritten: the signed head of %s events does not extend the one of "
             "%llu verified before it",
             w->head_size, (unsigned long long)w->old->tree_size);
    expect_staged_refused(w, &stage, CONSISTENCY, 0, consistency_hash_altered, args, 1, "MISMATCH",
                          words);
    expect_staged_refused(w, &stage, HEAD, 2, head_other_key, args, 1, "MISMATCH",
                          "not by the key of the first head");
    snprintf(words, sizeof words,
             "events were proven against a tree of %s, past the signed head (%llu events)",
             w->head_size, (unsigned long long)w->old->tree_size);
    expect_staged_refused(w, &stage, HEAD, 2, head_replayed, args, 1, "MISMATCH", words);

    /* The honest feed says what it verified. */
    struct forgery scene = stage;
    struct run run;
    reply_proxy_set(w->proxy, forge_reply, &(struct forgery){w, EVENTS, 0, NULL, 0, 0, &scene});
    const char *const table[8] = {"events", "--proofs", "--follow", "--limit", "3"};
    audit(w, &run, table);
    reply_proxy_set(w->proxy, NULL, NULL);
    expect_ok(&run);
    assert_int_equal(1, scene.altered);
    snprintf(words, sizeof words, "verified: 3 inclusion proofs against the signed head %s/",
             w->head_size);
    if (strstr(run.out, words) == NULL ||
        strstr(run.out, " (and 1 head before it, each extended by the next)") == NULL) {
        fail_msg("expected '%s' and the older head in: %s", words, run.out);
    }
    run_free(&run);
    /* Started at the current head, the feed needs no other. */
    audit(w, &run, table);
    expect_ok(&run);
    if (strstr(run.out, words) == NULL || strstr(run.out, " before it, each extended") != NULL) {
        fail_msg("expected '%s' and no older head in: %s", words, run.out);
    }
    run_free(&run);
}

/* ------------------------------------------------------------------------ */
/* The world. */

static void first_customer_purchase(void *context, json_t *object, const char *line)
{
    (void)line;
    char *out = context;
    const char *purchaser = json_string_value(
        json_object_get(json_object_get(object, "reservation_purchased"), "purchaser"));
    if (out[0] == '\0' && purchaser != NULL && strcmp(purchaser, "customer") == 0) {
        snprintf(out, 24, "%lld", (long long)json_int_at(object, "sequence"));
    }
}

static Ledger__V1__SignedHead *head_saved(struct world *w, const char *path)
{
    struct run run;
    ctl(w->fixture, &run, "auditor", w->auditor, "--partner", "contoso", "head", "--save", path,
        NULL);
    expect_ok(&run);
    run_free(&run);
    uint8_t bytes[1024];
    size_t size = test_read_bytes(path, bytes, sizeof bytes);
    assert_true(size != SIZE_MAX);
    Ledger__V1__SignedHead *head = ledger__v1__signed_head__unpack(NULL, size, bytes);
    assert_non_null(head);
    return head;
}

/* Three more events: partners added by the operator. */
static void grow(struct world *w, const char *prefix)
{
    for (int i = 0; i < 3; i++) {
        char partner[32];
        struct run run;
        snprintf(partner, sizeof partner, "%s-%d", prefix, i);
        ctl(w->fixture, &run, "operator", w->fixture->operator_key, "partner", "add", "--partner",
            partner, "--name", "Forgery Test", NULL);
        expect_ok(&run);
        run_free(&run);
    }
}

static int world_setup(void **state)
{
    struct world *w = calloc(1, sizeof *w);
    void *fixture = NULL;
    if (w == NULL || fixture_setup(&fixture) != 0) {
        free(w);
        return -1;
    }
    *state = w;
    w->fixture = fixture;
    struct run run;
    ctl(w->fixture, &run, NULL, NULL, "--output", "json", "demo", NULL);
    expect_ok(&run);
    /* JSON: only the demo's counts, the last sequence being the head's. */
    json_t *demo = json_object_get(run.json, "demo");
    assert_int_equal(1, json_object_size(run.json));
    assert_int_equal(2, json_object_size(demo));
    assert_true(json_int_at(demo, "commands") > 0);
    json_int_t last_sequence = json_int_at(demo, "last_sequence");
    run_free(&run);
    snprintf(w->auditor, sizeof w->auditor, "%s/ledger-demo-keys/auditor.key", w->fixture->dir);
    ctl(w->fixture, &run, "auditor", w->auditor, "--partner", "contoso", "--output", "json", "head",
        NULL);
    expect_ok(&run);
    assert_int_equal(last_sequence, json_int_at(json_object_get(run.json, "head"), "tree_size"));
    run_free(&run);

    /* The ledger's head key, as its operator holds it (docs/verification.md
     * 6.1: seed then public key, in hex, on the first line). */
    char path[PATH_SIZE + 32], hex[2 * CRYPTO_SIGN_SECRET_BYTES + 1];
    snprintf(path, sizeof path, "%s/head.key", w->fixture->data);
    FILE *file = fopen(path, "r");
    assert_non_null(file);
    assert_int_equal(fread(hex, 1, sizeof hex - 1, file), sizeof hex - 1);
    fclose(file);
    hex[sizeof hex - 1] = '\0';
    assert_int_equal(crypto_unhex(hex, w->head_secret, sizeof w->head_secret), LEDGER_ERR_OK);
    snprintf(w->head_key, sizeof w->head_key, "%s", hex + 2 * CRYPTO_SIGN_PUBLIC_BYTES);
    uint8_t other_public[CRYPTO_SIGN_PUBLIC_BYTES];
    assert_int_equal(crypto_init(), LEDGER_ERR_OK);
    crypto_ed25519_keypair(other_public, w->other_secret);

    ctl(w->fixture, &run, "auditor", w->auditor, "--partner", "contoso", "--output", "json",
        "events", "--type", "reservation_purchased", NULL);
    expect_ok(&run);
    json_lines_each(run.out, first_customer_purchase, w->purchase);
    run_free(&run);
    assert_true(w->purchase[0] != '\0');

    /* Heads kept along a growing history. */
    snprintf(w->old_head, sizeof w->old_head, "%s/old-head.pb", w->fixture->dir);
    snprintf(w->saved_head, sizeof w->saved_head, "%s/saved-head.pb", w->fixture->dir);
    w->old = head_saved(w, w->old_head);
    /* A subscription of the customer bought after its purchases, which no
     * explanation of them may give. */
    char admin_key[PATH_SIZE + 64];
    snprintf(admin_key, sizeof admin_key, "%s/ledger-demo-keys/contoso-admin.key", w->fixture->dir);
    ctl(w->fixture, &run, "contoso-admin", admin_key, "subscription", "add", "--customer",
        "fabrikam", "--subscription", "sub-bought-later", "--offer", "azure-plan", NULL);
    expect_ok(&run);
    run_free(&run);
    grow(w, "grown");
    w->saved = head_saved(w, w->saved_head);
    grow(w, "later");
    snprintf(w->saved_size, sizeof w->saved_size, "%llu", (unsigned long long)w->saved->tree_size);
    crypto_hex(w->saved->root_hash.data, MERKLE_HASH_BYTES, w->saved_root);
    ctl(w->fixture, &run, "auditor", w->auditor, "--partner", "contoso", "--output", "json", "head",
        NULL);
    expect_ok(&run);
    snprintf(w->head_size, sizeof w->head_size, "%lld",
             (long long)json_int_at(json_object_get(run.json, "head"), "tree_size"));
    run_free(&run);
    assert_true(w->old->tree_size < w->saved->tree_size);
    assert_true(w->saved->tree_size < strtoull(w->head_size, NULL, 10));

    snprintf(w->url, sizeof w->url, "ipc://%s/proxy.sock", w->fixture->dir);
    w->proxy = reply_proxy_start(w->url, w->fixture->socket, test_timeout_ms(PROXY_REPLY_WAIT_MS));
    assert_non_null(w->proxy);
    return 0;
}

static int world_teardown(void **state)
{
    struct world *w = *state;
    if (w == NULL) {
        return 0;
    }
    reply_proxy_stop(w->proxy);
    ledger__v1__signed_head__free_unpacked(w->old, NULL);
    ledger__v1__signed_head__free_unpacked(w->saved, NULL);
    crypto_wipe(w->head_secret, sizeof w->head_secret);
    void *fixture = w->fixture;
    fixture_teardown(&fixture);
    free(w);
    return 0;
}

/* Activity pages that end empty with a token ledgerctl follows: one that
 * does not get below the page asked for, or is no sequence, ends the verb
 * with PROTOCOL_ERROR instead of asking forever (or printing the token). */
static void test_ctl_forgery_activity_pages(void **state)
{
    struct world *w = *state;
    const char *const activity[8] = {"activity", "--customer", "fabrikam"};
    const char *const words = "the daemon ended an empty activity page with a next_page_token "
                              "that is not a sequence below the page asked for";
    expect_refused(w, ACTIVITY, 0, activity_never_ends, activity, 3, "PROTOCOL_ERROR", words);
    expect_refused(w, ACTIVITY, 0, activity_token_garbled, activity, 3, "PROTOCOL_ERROR", words);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ctl_forgery_heads),
        cmocka_unit_test(test_ctl_forgery_backup_head),
        cmocka_unit_test(test_ctl_forgery_inclusion),
        cmocka_unit_test(test_ctl_forgery_older_tree),
        cmocka_unit_test(test_ctl_forgery_consistency),
        cmocka_unit_test(test_ctl_forgery_verify_rewritten),
        cmocka_unit_test(test_ctl_forgery_verify_empty_saved_head),
        cmocka_unit_test(test_ctl_forgery_explain),
        cmocka_unit_test(test_ctl_forgery_explain_facts_of_others),
        cmocka_unit_test(test_ctl_forgery_explain_not_a_purchase),
        cmocka_unit_test(test_ctl_forgery_replies_cut_short),
        cmocka_unit_test(test_ctl_forgery_nothing_visible),
        cmocka_unit_test(test_ctl_forgery_past_the_head),
        cmocka_unit_test(test_ctl_forgery_refused),
        cmocka_unit_test(test_ctl_forgery_events),
        cmocka_unit_test(test_ctl_forgery_events_follow),
        cmocka_unit_test(test_ctl_forgery_activity_pages),
        /* last: they commit events, which the others' sizes do not count */
        cmocka_unit_test(test_ctl_forgery_lost_reply_names_command_id),
        cmocka_unit_test(test_ctl_forgery_out_of_memory_reply_names_command_id),
        cmocka_unit_test(test_ctl_forgery_stale_names_its_cause),
        cmocka_unit_test(test_ctl_forgery_garbled_reply_names_command_id),
        cmocka_unit_test(test_ctl_forgery_import_garbled_batch),
        cmocka_unit_test(test_ctl_forgery_demo_stopped_half_way),
    };
    return cmocka_run_group_tests(tests, world_setup, world_teardown);
}
