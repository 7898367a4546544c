/*
 * engine_query.c: the engine's answers from the log itself: pages of events
 * (scoped to what the principal may see, with inclusion proofs on request;
 * one customer's: its stream and its customer users' principal events),
 * signed tree heads, inclusion and consistency proofs, explanations of
 * customer purchases, store figures, and the view queries (dispatched to
 * views_query.c after policy and scope checks). Also hot backups, which copy
 * the log beside a signed head. Every answer comes from one LMDB read
 * transaction and never waits for a write.
 */
/* renameat2 and RENAME_NOREPLACE (glibc 2.28, Linux 3.15). */
#define _GNU_SOURCE
#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "codec.h"
#include "crypto.h"
#include "domain.h"
#include "engine_internal.h"
#include "merkle.h"
#include "policy.h"
#include "store.h"
#include "views.h"

/* An events query examines at most this many records per page, so that a
 * filter that matches little cannot hold a read transaction for long; the
 * reply's last_sequence tells the client where to continue. */
#define ENGINE_EVENTS_SCAN_MAX 100000

/* Why an inclusion proof or an explanation of an event is refused to a
 * principal acting for one partner, and what it may ask instead: the event
 * is another partner's, or no partner's (the ledger's own records, such as
 * its first operator's, which only principals of all partners see). */
static void other_partner_event(char *message, const Ledger__V1__Event *event)
{
    engine__set_message(message,
                        event->partner_id[0] == '\0'
                            ? "the event belongs to no partner (a record of the ledger's own, "
                              "such as a principal added by its operator): only a principal of "
                              "all partners proves or explains it; prove or explain only events "
                              "of the partner you act for (the events query lists them)"
                            : "the event belongs to another partner: prove or explain only "
                              "events of the partner you act for (the events query lists them)");
}

/* --- queries ------------------------------------------------------------------------- */

struct query_context {
    struct engine *engine;
    struct store_txn *txn;
    const struct engine_principal *principal;
    const char *partner_id; /* "" for principals of all partners asking about all */
    int64_t now_us;
    char *message;
};

static enum ledger_err backup_into(struct engine *engine, const char *dir, int64_t now_us,
                                   Ledger__V1__SignedHead **head_out,
                                   char message[ENGINE_MESSAGE_SIZE]);

/* Whether the principal may see this event. The queries that read events
 * (the feed, inclusion proofs, explanations) are for roles bound to one
 * partner or to all (policy.c; test_policy pins customer users to their
 * own reservations and savings plans): the partner is the whole scope. */
static bool event_visible(const struct query_context *q, const Ledger__V1__Event *event)
{
    /* Fail closed: were policy.c ever to let a customer user read events,
     * it would see none rather than its whole partner's. */
    if (q->principal->role == LEDGER__V1__ROLE__ROLE_CUSTOMER_USER) {
        return false;
    }
    return q->partner_id[0] == '\0' || strcmp(event->partner_id, q->partner_id) == 0;
}

static enum ledger_err proof_entry(struct query_context *q, uint64_t sequence, uint64_t tree_size,
                                   Ledger__V1__InclusionProof **out)
{
    Ledger__V1__InclusionProof *proof = malloc(sizeof *proof);
    uint8_t(*path)[MERKLE_HASH_BYTES] = malloc(MERKLE_PATH_MAX * MERKLE_HASH_BYTES);
    uint8_t *leaf = malloc(MERKLE_HASH_BYTES);
    ProtobufCBinaryData *items = malloc(MERKLE_PATH_MAX * sizeof *items);
    enum ledger_err err = LEDGER_ERR_NO_MEMORY;
    if (!proof || !path || !leaf || !items) {
        goto fail;
    }
    size_t length = 0;
    err = merkle_store_inclusion(q->txn, sequence, tree_size, path, &length);
    if (err == LEDGER_ERR_OK) {
        err = store_leaf(q->txn, sequence, leaf);
    }
    if (err != LEDGER_ERR_OK) {
        goto fail;
    }
    ledger__v1__inclusion_proof__init(proof);
    proof->sequence = sequence;
    proof->tree_size = tree_size;
    proof->leaf_hash.data = leaf;
    proof->leaf_hash.len = MERKLE_HASH_BYTES;
    for (size_t i = 0; i < length; i++) {
        items[i].data = path[i];
        items[i].len = MERKLE_HASH_BYTES;
    }
    proof->n_path = length;
    proof->path = items;
    if (length == 0) {
        free(path); /* nothing refers to it; otherwise items[0].data owns it */
    }
    *out = proof;
    return LEDGER_ERR_OK;
fail:
    free(proof);
    free(path);
    free(leaf);
    free(items);
    return err;
}

static void proof_free(Ledger__V1__InclusionProof *proof)
{
    if (!proof) {
        return;
    }
    free(proof->leaf_hash.data);
    if (proof->n_path) {
        free(proof->path[0].data); /* the start of the one path buffer */
    }
    free(proof->path);
    free(proof);
}

/* An EventEntry holding a copy of the record and its decoded event. */
static enum ledger_err event_entry(struct query_context *q, uint64_t sequence,
                                   Ledger__V1__EventEntry **out, Ledger__V1__Event **decoded_out)
{
    struct store_val record;
    enum ledger_err err = store_record(q->txn, sequence, &record);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    Ledger__V1__Event *event = NULL;
    err = codec_event_unpack(record.data, record.size, &event);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    Ledger__V1__EventEntry *entry = malloc(sizeof *entry);
    uint8_t *copy = malloc(record.size ? record.size : 1);
    if (!entry || !copy) {
        free(entry);
        free(copy);
        codec_event_free(event);
        return LEDGER_ERR_NO_MEMORY;
    }
    ledger__v1__event_entry__init(entry);
    memcpy(copy, record.data, record.size);
    entry->record.data = copy;
    entry->record.len = record.size;
    entry->event = event;
    *out = entry;
    if (decoded_out) {
        *decoded_out = event;
    }
    return LEDGER_ERR_OK;
}

static void event_entry_free(Ledger__V1__EventEntry *entry)
{
    if (!entry) {
        return;
    }
    free(entry->record.data);
    codec_event_free(entry->event);
    proof_free(entry->proof);
    free(entry);
}

static enum ledger_err entries_push(Ledger__V1__QueryResult *result, Ledger__V1__EventEntry *entry,
                                    size_t *capacity)
{
    if (result->n_events == *capacity) {
        size_t bigger = *capacity ? *capacity * 2 : 16;
        Ledger__V1__EventEntry **grown = realloc(result->events, bigger * sizeof *grown);
        if (!grown) {
            return LEDGER_ERR_NO_MEMORY;
        }
        result->events = grown;
        *capacity = bigger;
    }
    result->events[result->n_events++] = entry;
    return LEDGER_ERR_OK;
}

struct events_walk {
    struct query_context *q;
    const Ledger__V1__EventsQuery *query;
    Ledger__V1__Event__BodyCase types[LEDGER_EVENT_TYPES_FILTER_MAX];
    size_t type_count;
    uint32_t limit;
    uint64_t tree_size;
    uint64_t examined;
    size_t capacity;
    Ledger__V1__QueryResult *result;
    /* With a customer filter: the customer's next principal event not yet
     * visited (views_customer_principal_next; 0: none left). */
    uint64_t principal_next;
};

/* Considers one sequence for an events page. NOT_FOUND stops the walk.
 * Sequences come in ascending order; one at or below the last examined
 * (the query's after_sequence at first), such as one both sources of a
 * merged walk give, is passed over: a page never holds an event twice. */
static enum ledger_err events_visit(void *context, uint64_t sequence)
{
    struct events_walk *walk = context;
    if (sequence <= walk->result->last_sequence) {
        return LEDGER_ERR_OK;
    }
    if (walk->result->n_events >= walk->limit || walk->examined >= ENGINE_EVENTS_SCAN_MAX ||
        sequence > walk->tree_size) {
        return LEDGER_ERR_NOT_FOUND;
    }
    walk->examined++;
    Ledger__V1__EventEntry *entry = NULL;
    Ledger__V1__Event *event = NULL;
    enum ledger_err err = event_entry(walk->q, sequence, &entry, &event);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    walk->result->last_sequence = sequence;
    bool wanted = event_visible(walk->q, event);
    if (wanted && walk->type_count) {
        wanted = false;
        for (size_t i = 0; i < walk->type_count; i++) {
            wanted = wanted || walk->types[i] == event->body_case;
        }
    }
    if (wanted && walk->query->include_proofs) {
        err = proof_entry(walk->q, sequence, walk->tree_size, &entry->proof);
    }
    if (wanted && err == LEDGER_ERR_OK) {
        err = entries_push(walk->result, entry, &walk->capacity);
        if (err == LEDGER_ERR_OK) {
            return LEDGER_ERR_OK;
        }
    }
    event_entry_free(entry);
    return err;
}

/* Visits the customer's principal events up to `bound`, in ascending
 * order, each followed by a seek for the next. */
static enum ledger_err events_principals_upto(struct events_walk *walk, uint64_t bound)
{
    enum ledger_err err = LEDGER_ERR_OK;
    while (err == LEDGER_ERR_OK && walk->principal_next != 0 && walk->principal_next <= bound) {
        err = events_visit(walk, walk->principal_next);
        if (err == LEDGER_ERR_OK) {
            err = views_customer_principal_next(walk->q->txn, walk->q->partner_id,
                                                walk->query->customer_id, walk->principal_next,
                                                &walk->principal_next);
        }
    }
    return err;
}

/* One event of the customer's stream, after the customer's principal
 * events that come before it: the two ascending lists merged by sequence. */
static enum ledger_err events_customer_visit(void *context, uint64_t sequence)
{
    struct events_walk *walk = context;
    enum ledger_err err = events_principals_upto(walk, sequence);
    return err == LEDGER_ERR_OK ? events_visit(walk, sequence) : err;
}

static enum ledger_err query_events(struct query_context *q, const Ledger__V1__EventsQuery *query,
                                    Ledger__V1__QueryResult *result)
{
    struct events_walk walk = {.q = q, .query = query, .result = result};
    uint64_t head = store_last_sequence(q->txn);
    walk.tree_size = query->tree_size ? query->tree_size : head;
    if (walk.tree_size > head) {
        /* Without the head's size: not every role may read the head. */
        snprintf(q->message, ENGINE_MESSAGE_SIZE,
                 "tree_size %llu is past the head: give the tree size of a signed head",
                 (unsigned long long)walk.tree_size);
        return LEDGER_ERR_NOT_FOUND;
    }
    walk.limit = query->limit ? query->limit : LEDGER_EVENTS_PAGE_DEFAULT;
    if (walk.limit > LEDGER_EVENTS_PAGE_MAX) {
        snprintf(q->message, ENGINE_MESSAGE_SIZE, "limit must be at most %d",
                 LEDGER_EVENTS_PAGE_MAX);
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    if (query->n_types > LEDGER_EVENT_TYPES_FILTER_MAX) {
        snprintf(q->message, ENGINE_MESSAGE_SIZE, "at most %d event types per query",
                 LEDGER_EVENT_TYPES_FILTER_MAX);
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    for (size_t i = 0; i < query->n_types; i++) {
        walk.types[i] = codec_event_type_from_name(query->types[i]);
        if (walk.types[i] == LEDGER__V1__EVENT__BODY__NOT_SET) {
            snprintf(q->message, ENGINE_MESSAGE_SIZE,
                     "unknown event type '%.64s'; see docs/events.md", query->types[i]);
            return LEDGER_ERR_INVALID_ARGUMENT;
        }
    }
    walk.type_count = query->n_types;
    const char *customer_id = query->customer_id;
    result->last_sequence = query->after_sequence;
    enum ledger_err err = LEDGER_ERR_OK;
    if (customer_id[0] != '\0') {
        /* As the views say it: a typo of a consumer that names its
         * customer itself (libledger's subscription passes it through) is
         * told what an id is, not a generic malformed field. */
        if (!codec_id_valid(customer_id)) {
            snprintf(q->message, ENGINE_MESSAGE_SIZE,
                     "customer_id must be 1..%d characters of [A-Za-z0-9.:@-]",
                     LEDGER_ID_LENGTH_MAX);
            return LEDGER_ERR_INVALID_ARGUMENT;
        }
        if (q->partner_id[0] == '\0') {
            engine__set_message(q->message, "partner_id is required to filter by customer");
            return LEDGER_ERR_INVALID_ARGUMENT;
        }
        /* A customer with no events at all was never onboarded: a mistyped
         * id would otherwise read as "nothing happened", as in the views. */
        uint64_t version = 0;
        err = store_stream_version(q->txn, q->partner_id, customer_id, &version);
        if (err != LEDGER_ERR_OK) {
            return err;
        }
        if (version == 0) {
            snprintf(q->message, ENGINE_MESSAGE_SIZE,
                     "customer %.64s of partner %.64s was never onboarded: check the customer id",
                     customer_id, q->partner_id);
            return LEDGER_ERR_CUSTOMER_NOT_FOUND;
        }
        /* The customer's stream index visits only its events; its customer
         * users' principal events, in no stream, are merged in by sequence.
         * Both are walked in order from after_sequence, neither loaded
         * whole. */
        err = views_customer_principal_next(q->txn, q->partner_id, customer_id,
                                            query->after_sequence, &walk.principal_next);
        if (err == LEDGER_ERR_OK) {
            err = store_stream_each(q->txn, q->partner_id, customer_id, query->after_sequence,
                                    events_customer_visit, &walk);
        }
        if (err == LEDGER_ERR_OK) {
            err = events_principals_upto(&walk, UINT64_MAX);
        }
        if (err == LEDGER_ERR_OK ||
            (err == LEDGER_ERR_NOT_FOUND && walk.examined < ENGINE_EVENTS_SCAN_MAX &&
             result->n_events < walk.limit)) {
            /* The stream and the principal events are exhausted up to the
             * tree size: nothing more to see. */
            result->last_sequence =
                walk.tree_size > result->last_sequence ? walk.tree_size : result->last_sequence;
            err = LEDGER_ERR_OK;
        }
    } else {
        for (uint64_t s = query->after_sequence + 1; s <= walk.tree_size; s++) {
            err = events_visit(&walk, s);
            if (err != LEDGER_ERR_OK) {
                break;
            }
        }
    }
    if (err == LEDGER_ERR_NOT_FOUND) {
        err = LEDGER_ERR_OK; /* the page is full */
    }
    return err;
}

static enum ledger_err signed_head(struct query_context *q, uint64_t tree_size,
                                   Ledger__V1__SignedHead **out)
{
    Ledger__V1__SignedHead *head = malloc(sizeof *head);
    uint8_t *bytes = malloc(MERKLE_HASH_BYTES + CRYPTO_SIGNATURE_BYTES + CRYPTO_SIGN_PUBLIC_BYTES);
    if (!head || !bytes) {
        free(head);
        free(bytes);
        return LEDGER_ERR_NO_MEMORY;
    }
    ledger__v1__signed_head__init(head);
    uint8_t *root = bytes, *signature = bytes + MERKLE_HASH_BYTES,
            *public_key = signature + CRYPTO_SIGNATURE_BYTES;
    enum ledger_err err = tree_size ? merkle_store_root(q->txn, tree_size, root)
                                    : (merkle_empty_root(root), LEDGER_ERR_OK);
    if (err != LEDGER_ERR_OK) {
        free(head);
        free(bytes);
        return err;
    }
    head->tree_size = tree_size;
    head->timestamp_us = q->now_us;
    head->root_hash.data = root;
    head->root_hash.len = MERKLE_HASH_BYTES;
    if (q->engine->head_key_loaded) {
        uint8_t encoded[MERKLE_HEAD_BYTES];
        merkle_head_encode(tree_size, root, q->now_us, encoded);
        crypto_ed25519_sign(q->engine->head_secret_key, encoded, sizeof encoded, signature);
        memcpy(public_key, q->engine->head_public_key, CRYPTO_SIGN_PUBLIC_BYTES);
        head->signature.data = signature;
        head->signature.len = CRYPTO_SIGNATURE_BYTES;
        head->public_key.data = public_key;
        head->public_key.len = CRYPTO_SIGN_PUBLIC_BYTES;
    }
    *out = head;
    return LEDGER_ERR_OK;
}

static void signed_head_free(Ledger__V1__SignedHead *head)
{
    if (head) {
        free(head->root_hash.data); /* one buffer holds root, signature and key */
        free(head);
    }
}

static enum ledger_err query_consistency(struct query_context *q,
                                         const Ledger__V1__ConsistencyQuery *query,
                                         Ledger__V1__QueryResult *result)
{
    uint64_t head = store_last_sequence(q->txn);
    uint64_t to = query->to_size ? query->to_size : head;
    if (query->from_size == 0 || query->from_size > to || to > head) {
        snprintf(q->message, ENGINE_MESSAGE_SIZE,
                 "need 0 < from_size (%llu) <= to_size (%llu) <= head (%llu)",
                 (unsigned long long)query->from_size, (unsigned long long)to,
                 (unsigned long long)head);
        return to > head ? LEDGER_ERR_NOT_FOUND : LEDGER_ERR_INVALID_ARGUMENT;
    }
    Ledger__V1__ConsistencyProof *proof = malloc(sizeof *proof);
    uint8_t(*path)[MERKLE_HASH_BYTES] = malloc(MERKLE_PATH_MAX * MERKLE_HASH_BYTES);
    ProtobufCBinaryData *items = malloc(MERKLE_PATH_MAX * sizeof *items);
    enum ledger_err err = LEDGER_ERR_NO_MEMORY;
    size_t length = 0;
    if (proof && path && items) {
        err = merkle_store_consistency(q->txn, query->from_size, to, path, &length);
    }
    if (err != LEDGER_ERR_OK) {
        free(proof);
        free(path);
        free(items);
        return err;
    }
    ledger__v1__consistency_proof__init(proof);
    proof->from_size = query->from_size;
    proof->to_size = to;
    for (size_t i = 0; i < length; i++) {
        items[i].data = path[i];
        items[i].len = MERKLE_HASH_BYTES;
    }
    proof->n_path = length;
    proof->path = items;
    if (length == 0) {
        free(path);
    }
    result->consistency = proof;
    return LEDGER_ERR_OK;
}

/* An event of an explanation with its inclusion proof against tree_size. */
static enum ledger_err fact_entry(struct query_context *q, uint64_t sequence, uint64_t tree_size,
                                  Ledger__V1__EventEntry **out)
{
    enum ledger_err err = event_entry(q, sequence, out, NULL);
    if (err == LEDGER_ERR_OK) {
        err = proof_entry(q, sequence, tree_size, &(*out)->proof);
    }
    return err;
}

/* The PrincipalAdded that gave the purchasing principal its role (an id is
 * added once). None for the ledger's own principals, which have no row. */
static enum ledger_err explain_principal(struct query_context *q, const Ledger__V1__Event *purchase,
                                         uint64_t head, Ledger__V1__Explanation *explanation)
{
    if (purchase->actor == NULL || purchase->actor->principal_id == NULL ||
        purchase->actor->principal_id[0] == '\0') {
        return LEDGER_ERR_OK;
    }
    Ledger__V1__PrincipalRow *row = NULL;
    enum ledger_err err = engine__principal_row_get(q->txn, purchase->actor->principal_id, &row);
    if (err == LEDGER_ERR_NOT_FOUND) {
        return LEDGER_ERR_OK;
    }
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    uint64_t added = row->sequence;
    ledger__v1__principal_row__free_unpacked(row, NULL);
    if (added == 0 || added >= purchase->sequence) {
        return LEDGER_ERR_CORRUPT;
    }
    return fact_entry(q, added, head, &explanation->principal);
}

/* The purchase of each billing subscription the purchase was charged to
 * (rules 3 and 4: an active Azure plan or Azure Global subscription), from
 * the customer's state just before the purchase: the first in
 * `subscription`, an exchange's others in `other_subscriptions`. */
static enum ledger_err explain_subscription(struct query_context *q,
                                            const Ledger__V1__Event *purchase, uint64_t head,
                                            Ledger__V1__Explanation *explanation)
{
    const char *ids[LEDGER_EXCHANGE_REPLACEMENTS_MAX];
    size_t count = domain_event_billing_subscriptions(purchase, ids);
    if (count == 0) {
        return LEDGER_ERR_CORRUPT;
    }
    Ledger__V1__AsOf before = LEDGER__V1__AS_OF__INIT;
    before.sequence = purchase->sequence - 1;
    struct domain_customer *state = NULL;
    enum ledger_err err =
        views_customer_state(q->txn, purchase->partner_id, purchase->customer_id, &before, &state);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    uint64_t bought[LEDGER_EXCHANGE_REPLACEMENTS_MAX];
    for (size_t i = 0; i < count && err == LEDGER_ERR_OK; i++) {
        const struct domain_subscription *subscription =
            domain_find_subscription(state, ids[i] != NULL ? ids[i] : "");
        bought[i] = subscription != NULL ? subscription->sequence : 0;
        if (bought[i] == 0) {
            err = LEDGER_ERR_CORRUPT;
        }
    }
    domain_customer_free(state);
    if (err == LEDGER_ERR_OK) {
        err = fact_entry(q, bought[0], head, &explanation->subscription);
    }
    if (err == LEDGER_ERR_OK && count > 1) {
        explanation->other_subscriptions =
            calloc(count - 1, sizeof *explanation->other_subscriptions);
        if (explanation->other_subscriptions == NULL) {
            return LEDGER_ERR_NO_MEMORY;
        }
    }
    for (size_t i = 1; i < count && err == LEDGER_ERR_OK; i++) {
        err = fact_entry(q, bought[i], head,
                         &explanation->other_subscriptions[explanation->n_other_subscriptions]);
        if (explanation->other_subscriptions[explanation->n_other_subscriptions] != NULL) {
            explanation->n_other_subscriptions++; /* freed with the result, even half-made */
        }
    }
    return err;
}

static enum ledger_err query_explain(struct query_context *q, const Ledger__V1__ExplainQuery *query,
                                     Ledger__V1__QueryResult *result)
{
    uint64_t head = store_last_sequence(q->txn);
    if (query->sequence == 0 || query->sequence > head) {
        snprintf(q->message, ENGINE_MESSAGE_SIZE,
                 "sequence %llu is not in the log (head %llu): give the sequence of a purchase, "
                 "exchange or renewal, 1..%llu",
                 (unsigned long long)query->sequence, (unsigned long long)head,
                 (unsigned long long)head);
        return LEDGER_ERR_NOT_FOUND;
    }
    Ledger__V1__Explanation *explanation = malloc(sizeof *explanation);
    if (!explanation) {
        return LEDGER_ERR_NO_MEMORY;
    }
    ledger__v1__explanation__init(explanation);
    result->explanation = explanation;
    Ledger__V1__Event *event = NULL;
    enum ledger_err err = event_entry(q, query->sequence, &explanation->purchase, &event);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    if (!event_visible(q, event)) {
        other_partner_event(q->message, event);
        return LEDGER_ERR_PARTNER_MISMATCH;
    }
    const Ledger__V1__AllowedBy *allowed = NULL;
    switch (event->body_case) {
    case LEDGER__V1__EVENT__BODY_RESERVATION_PURCHASED:
        allowed = event->reservation_purchased->allowed_by;
        break;
    case LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_PURCHASED:
        allowed = event->savings_plan_purchased->allowed_by;
        break;
    case LEDGER__V1__EVENT__BODY_RESERVATION_EXCHANGED:
    case LEDGER__V1__EVENT__BODY_RESERVATION_RENEWED:
    case LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_RENEWED:
        /* The partner's own (rules 5 and 6): no customer permission applies. */
        break;
    default:
        snprintf(q->message, ENGINE_MESSAGE_SIZE,
                 "sequence %llu is a %s event; explain answers for purchases, exchanges and "
                 "renewals only (reservation_purchased, savings_plan_purchased, "
                 "reservation_exchanged, reservation_renewed, savings_plan_renewed)",
                 (unsigned long long)query->sequence, codec_event_type_name(event->body_case));
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    err = proof_entry(q, query->sequence, head, &explanation->purchase->proof);
    if (err == LEDGER_ERR_OK && allowed && allowed->permission_sequence) {
        err = fact_entry(q, allowed->permission_sequence, head, &explanation->permission);
    }
    if (err == LEDGER_ERR_OK && allowed && allowed->role_sequence) {
        err = fact_entry(q, allowed->role_sequence, head, &explanation->role);
    }
    if (err == LEDGER_ERR_OK) {
        err = explain_principal(q, event, head, explanation);
    }
    if (err == LEDGER_ERR_OK) {
        err = explain_subscription(q, event, head, explanation);
    }
    if (err == LEDGER_ERR_OK) {
        err = signed_head(q, head, &explanation->head);
    }
    return err;
}

enum ledger_err engine_stat_push(Ledger__V1__QueryResult *result, const char *name,
                                 const char *labels, double value)
{
    Ledger__V1__Stat **grown = realloc(result->stats, (result->n_stats + 1) * sizeof *grown);
    if (!grown) {
        return LEDGER_ERR_NO_MEMORY;
    }
    result->stats = grown;
    Ledger__V1__Stat *stat = malloc(sizeof *stat);
    char *name_copy = strdup(name);
    char *labels_copy = strdup(labels != NULL ? labels : "");
    if (!stat || !name_copy || !labels_copy) {
        free(stat);
        free(name_copy);
        free(labels_copy);
        return LEDGER_ERR_NO_MEMORY;
    }
    ledger__v1__stat__init(stat);
    stat->name = name_copy;
    stat->labels = labels_copy;
    stat->value = value;
    result->stats[result->n_stats++] = stat;
    return LEDGER_ERR_OK;
}

static enum ledger_err stat_push(Ledger__V1__QueryResult *result, const char *name, double value)
{
    return engine_stat_push(result, name, "", value);
}

static enum ledger_err query_stats(struct query_context *q, Ledger__V1__QueryResult *result)
{
    struct store_info info;
    enum ledger_err err = store_info(q->engine->store, &info);
    if (err == LEDGER_ERR_OK) {
        err = stat_push(result, "ledger_head_sequence", (double)info.last_sequence);
    }
    if (err == LEDGER_ERR_OK) {
        err = stat_push(result, "ledger_map_bytes", (double)info.map_bytes);
    }
    if (err == LEDGER_ERR_OK) {
        err = stat_push(result, "ledger_map_bytes_max", (double)info.map_bytes_max);
    }
    if (err == LEDGER_ERR_OK) {
        err = stat_push(result, "ledger_map_used_bytes", (double)info.used_bytes);
    }
    if (err == LEDGER_ERR_OK) {
        err = stat_push(result, "ledger_readers_used", (double)info.readers_used);
    }
    if (err == LEDGER_ERR_OK) {
        err = stat_push(result, "ledger_readers_max", (double)info.readers_max);
    }
    return err;
}

void engine_result_free(Ledger__V1__QueryResult *result)
{
    if (!result) {
        return;
    }
    for (size_t i = 0; i < result->n_events; i++) {
        event_entry_free(result->events[i]);
    }
    free(result->events);
    result->events = NULL;
    result->n_events = 0;
    signed_head_free(result->head);
    result->head = NULL;
    proof_free(result->inclusion);
    result->inclusion = NULL;
    if (result->consistency) {
        free(result->consistency->n_path ? result->consistency->path[0].data : NULL);
        free(result->consistency->path);
        free(result->consistency);
        result->consistency = NULL;
    }
    if (result->explanation) {
        event_entry_free(result->explanation->purchase);
        event_entry_free(result->explanation->permission);
        event_entry_free(result->explanation->role);
        event_entry_free(result->explanation->principal);
        event_entry_free(result->explanation->subscription);
        for (size_t i = 0; i < result->explanation->n_other_subscriptions; i++) {
            event_entry_free(result->explanation->other_subscriptions[i]);
        }
        free(result->explanation->other_subscriptions);
        signed_head_free(result->explanation->head);
        free(result->explanation);
        result->explanation = NULL;
    }
    for (size_t i = 0; i < result->n_stats; i++) {
        free(result->stats[i]->name);
        free(result->stats[i]->labels);
        free(result->stats[i]);
    }
    free(result->stats);
    result->stats = NULL;
    result->n_stats = 0;
    views_result_clear(result);
    free(result);
}

/* Drops one price of a view row (rows are unpacked messages). */
static void money_drop(Ledger__V1__Money **money)
{
    if (*money) {
        ledger__v1__money__free_unpacked(*money, NULL);
        *money = NULL;
    }
}

/* What a customer user may see of prices (docs/security.md): never the
 * partner's price, which is the partner's cost; the retail price only when the
 * partner made it visible to the customer (SetCostVisibility). */
static enum ledger_err customer_prices(struct query_context *q, Ledger__V1__QueryResult *result)
{
    if (result->n_reservations == 0 && result->n_savings_plans == 0) {
        return LEDGER_ERR_OK;
    }
    struct domain_customer *state = NULL;
    enum ledger_err err =
        engine__state_load(q->txn, q->partner_id, q->principal->customer_id, &state);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    bool retail_visible = state->retail_prices_visible;
    domain_customer_free(state);
    for (size_t i = 0; i < result->n_reservations; i++) {
        money_drop(&result->reservations[i]->price);
        if (!retail_visible) {
            money_drop(&result->reservations[i]->retail_price);
        }
    }
    for (size_t i = 0; i < result->n_savings_plans; i++) {
        money_drop(&result->savings_plans[i]->price);
        if (!retail_visible) {
            money_drop(&result->savings_plans[i]->retail_price);
        }
    }
    return LEDGER_ERR_OK;
}

enum ledger_err engine_query(struct engine *engine, const struct engine_principal *principal,
                             const Ledger__V1__Query *query, int64_t now_us,
                             Ledger__V1__QueryResult **out, char message[ENGINE_MESSAGE_SIZE])
{
    message[0] = '\0';
    if (query->kind_case == LEDGER__V1__QUERY__KIND__NOT_SET) {
        engine__set_message(message, "the query names no kind");
        return LEDGER_ERR_UNKNOWN_MESSAGE;
    }
    if (!policy_query_allowed(principal->role, query->kind_case)) {
        const ProtobufCFieldDescriptor *field = protobuf_c_message_descriptor_get_field(
            &ledger__v1__query__descriptor, (unsigned)query->kind_case);
        snprintf(message, ENGINE_MESSAGE_SIZE,
                 "role %s may not run the %s query: ask as a principal whose role may "
                 "(docs/security.md, \"Queries\")",
                 policy_role_name(principal->role), field ? field->name : "unknown");
        return LEDGER_ERR_FORBIDDEN;
    }
    /* Query.partner_id is checked as an id for every principal, before it
     * is compared or quoted in a message: text that is no id (control
     * characters, a line break, a terminal escape) never reaches a reply. */
    if (query->partner_id[0] != '\0' && !codec_id_valid(query->partner_id)) {
        engine__set_message(message, "partner_id must be 1..64 characters of [A-Za-z0-9.:@-]");
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    /* Partner scope: a partner-bound principal sees its partner only. */
    const char *partner_id = principal->partner_id;
    if (principal->partner_id[0] != '\0') {
        if (query->partner_id[0] != '\0' && strcmp(query->partner_id, principal->partner_id) != 0) {
            snprintf(message, ENGINE_MESSAGE_SIZE,
                     "principal %s belongs to partner %s and may not read partner %.64s's data: "
                     "leave out the partner (--partner), or give %s",
                     principal->id, principal->partner_id, query->partner_id,
                     principal->partner_id);
            return LEDGER_ERR_PARTNER_MISMATCH;
        }
    } else {
        partner_id = query->partner_id;
    }
    Ledger__V1__QueryResult *result = malloc(sizeof *result);
    if (!result) {
        return LEDGER_ERR_NO_MEMORY;
    }
    ledger__v1__query_result__init(result);
    struct query_context q = {
        .engine = engine,
        .principal = principal,
        .partner_id = partner_id,
        .now_us = now_us,
        .message = message,
    };
    enum ledger_err err = store_begin(engine->store, false, &q.txn);
    if (err != LEDGER_ERR_OK) {
        free(result);
        return err;
    }
    engine__head_observe(engine, store_last_sequence(q.txn));
    /* A principal of all partners naming a partner the ledger does not
     * have (a typo) would get empty views and an empty feed as if the
     * partner had nothing: say so instead. */
    bool partner_known = true;
    if (principal->partner_id[0] == '\0' && partner_id[0] != '\0' &&
        query->kind_case != LEDGER__V1__QUERY__KIND_BACKUP) {
        err = views_partner_exists(q.txn, partner_id, &partner_known);
    }
    if (err == LEDGER_ERR_OK && !partner_known) {
        snprintf(message, ENGINE_MESSAGE_SIZE, "no partner %s in the ledger: check the partner id",
                 partner_id);
        err = LEDGER_ERR_PARTNER_NOT_FOUND;
    }
    if (err != LEDGER_ERR_OK) {
        store_abort(q.txn);
        free(result);
        return err;
    }
    switch (query->kind_case) {
    case LEDGER__V1__QUERY__KIND_EVENTS:
        err = query_events(&q, query->events, result);
        break;
    case LEDGER__V1__QUERY__KIND_HEAD:
        err = signed_head(&q, store_last_sequence(q.txn), &result->head);
        break;
    case LEDGER__V1__QUERY__KIND_INCLUSION: {
        uint64_t head = store_last_sequence(q.txn);
        uint64_t size = query->inclusion->tree_size ? query->inclusion->tree_size : head;
        uint64_t sequence = query->inclusion->sequence;
        if (sequence == 0 || sequence > size || size > head) {
            snprintf(message, ENGINE_MESSAGE_SIZE,
                     "need 0 < sequence (%llu) <= tree_size (%llu) <= head (%llu)",
                     (unsigned long long)sequence, (unsigned long long)size,
                     (unsigned long long)head);
            err = LEDGER_ERR_NOT_FOUND;
            break;
        }
        /* A proof names its leaf's hash: only of an event the principal may see. */
        Ledger__V1__EventEntry *entry = NULL;
        Ledger__V1__Event *event = NULL;
        err = event_entry(&q, sequence, &entry, &event);
        if (err == LEDGER_ERR_OK && !event_visible(&q, event)) {
            other_partner_event(message, event);
            err = LEDGER_ERR_PARTNER_MISMATCH;
        }
        event_entry_free(entry);
        if (err != LEDGER_ERR_OK) {
            break;
        }
        err = proof_entry(&q, sequence, size, &result->inclusion);
        break;
    }
    case LEDGER__V1__QUERY__KIND_CONSISTENCY:
        err = query_consistency(&q, query->consistency, result);
        break;
    case LEDGER__V1__QUERY__KIND_EXPLAIN:
        err = query_explain(&q, query->explain, result);
        break;
    case LEDGER__V1__QUERY__KIND_STATS:
        err = query_stats(&q, result);
        break;
    case LEDGER__V1__QUERY__KIND_BACKUP:
        err = backup_into(engine, query->backup->directory, now_us, &result->head, message);
        break;
    default: {
        if (partner_id[0] == '\0' && query->kind_case != LEDGER__V1__QUERY__KIND_PRINCIPALS) {
            engine__set_message(message, "partner_id is required for principals of all partners");
            err = LEDGER_ERR_INVALID_ARGUMENT;
            break;
        }
        bool customer_user = principal->role == LEDGER__V1__ROLE__ROLE_CUSTOMER_USER;
        struct views_scope scope = {
            .partner_id = partner_id,
            .customer_id = customer_user ? principal->customer_id : "",
            .partner_facing = policy_role_partner_facing(principal->role),
        };
        err = views_query(q.txn, &scope, query, result, message);
        if (err == LEDGER_ERR_OK && customer_user) {
            err = customer_prices(&q, result);
        }
        break;
    }
    }
    store_abort(q.txn);
    if (err != LEDGER_ERR_OK) {
        if (message[0] == '\0') {
            engine__set_message(message, ledger_strerror(err));
        }
        engine_result_free(result);
        return err;
    }
    *out = result;
    return LEDGER_ERR_OK;
}

/* --- backup and rebuild ------------------------------------------------------------ */

/* Writes `size` bytes into a new file `name` (mode 0600) of the directory
 * open as dirfd, and fsyncs it; a file that cannot be written whole is
 * removed. Returns 0 or the errno. */
static int write_new_file_at(int dirfd, const char *name, const uint8_t *bytes, size_t size)
{
    int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        return errno;
    }
    int error = 0;
    size_t done = 0;
    while (error == 0 && done < size) {
        ssize_t n = write(fd, bytes + done, size - done);
        if (n < 0 && errno != EINTR) {
            error = errno;
        } else if (n > 0) {
            done += (size_t)n;
        }
    }
    if (error == 0 && fsync(fd) != 0) {
        error = errno;
    }
    if (close(fd) != 0 && error == 0) {
        error = errno;
    }
    if (error == 0 && fsync(dirfd) != 0) {
        error = errno;
    }
    if (error != 0) {
        unlinkat(dirfd, name, 0);
    }
    return error;
}

/* The name a backup is built under, in the same parent as its final name,
 * until it is whole: hidden (a leading dot), naming the backup it is part of,
 * and unique to this daemon and moment (the daemon's process id and the
 * request's time in microseconds), e.g.
 * ".ledger-2026-11-23.partial-812-1795400000000000". Only a whole backup
 * gets the final name, by a rename: a daemon killed, or a host that lost
 * power, while a backup runs leaves this directory behind and never one of
 * the final name, and it is safe to delete. */
#define BACKUP_PARTIAL_FORMAT ".%.*s.partial-%ld-%lld"
_Static_assert(LEDGER_BACKUP_PARTIAL_NAME_KEPT + sizeof ".partial--" + 2 * 20 <= NAME_MAX,
               "a partial backup's name fits a file name");

/* Splits `dir` into its parent (for open) and its last component, which
 * must name a directory to create: not ".", ".." or empty. Trailing slashes
 * are dropped; a name without a slash has the parent ".". */
static enum ledger_err backup_split(const char *dir, char parent[PATH_MAX], char name[NAME_MAX + 1],
                                    char message[ENGINE_MESSAGE_SIZE])
{
    size_t length = strlen(dir);
    while (length > 1 && dir[length - 1] == '/') {
        length--;
    }
    if (length >= PATH_MAX) {
        snprintf(message, ENGINE_MESSAGE_SIZE,
                 "the backup directory's path is longer than %d bytes; give a shorter one",
                 PATH_MAX - 1);
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    size_t slash = length;
    while (slash > 0 && dir[slash - 1] != '/') {
        slash--;
    }
    /* dir[slash..length) is the last component; dir[0..slash) its parent. */
    size_t name_length = length - slash;
    if (name_length > NAME_MAX) {
        snprintf(message, ENGINE_MESSAGE_SIZE,
                 "cannot create the backup directory %.120s...: its name is longer than %d "
                 "bytes; give a shorter one",
                 dir, NAME_MAX);
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    if (name_length == 0 || (name_length == 1 && dir[slash] == '.') ||
        (name_length == 2 && dir[slash] == '.' && dir[slash + 1] == '.')) {
        snprintf(message, ENGINE_MESSAGE_SIZE,
                 "cannot create the backup directory %.120s: name a new directory", dir);
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    memcpy(name, dir + slash, name_length);
    name[name_length] = '\0';
    if (slash == 0) {
        memcpy(parent, ".", 2);
    } else if (slash == 1) {
        memcpy(parent, "/", 2);
    } else {
        memcpy(parent, dir, slash - 1);
        parent[slash - 1] = '\0';
    }
    return LEDGER_ERR_OK;
}

/* Removes what a backup made, and only that: the files it wrote in the
 * directory open as dirfd (`data` when the copy was made, `head` when
 * head.pb was), then the directory `name` of parentfd if it is still that
 * directory (same device and inode as `made`) and now empty. Failures are
 * ignored: what stays is a partial backup, safe to delete. */
static void backup_remove(int parentfd, const char *name, int dirfd, const struct stat *made,
                          bool data, bool head)
{
    if (data) {
        (void)unlinkat(dirfd, "data.mdb", 0);
    }
    if (head) {
        (void)unlinkat(dirfd, "head.pb", 0);
    }
    struct stat now;
    if (fstatat(parentfd, name, &now, AT_SYMLINK_NOFOLLOW) == 0 && now.st_dev == made->st_dev &&
        now.st_ino == made->st_ino) {
        (void)unlinkat(parentfd, name, AT_REMOVEDIR);
    }
}

/* Renames the directory `from` of parentfd to `to`, refusing (EEXIST) if
 * `to` exists: rename(2) alone would replace an empty directory. Returns 0
 * or the errno. */
static int backup_rename(int parentfd, const char *from, const char *to)
{
    if (renameat2(parentfd, from, parentfd, to, RENAME_NOREPLACE) == 0) {
        return 0;
    }
    if (errno != EINVAL && errno != ENOSYS) {
        return errno;
    }
    /* A file system without RENAME_NOREPLACE: look first. Only an empty
     * directory made under the name in between could be replaced. */
    struct stat info;
    if (fstatat(parentfd, to, &info, AT_SYMLINK_NOFOLLOW) == 0) {
        return EEXIST;
    }
    if (errno != ENOENT) {
        return errno;
    }
    return renameat(parentfd, from, parentfd, to) == 0 ? 0 : errno;
}

/* Whether the directory parentfd is the data directory or lies within it,
 * whatever path names it: its ancestors are walked up through "..", to the
 * root (whose ".." is itself). A backup there would be lost with the data
 * directory it is meant to outlive, and restore would copy it back in. */
static bool backup_within_data(const struct engine *engine, int parentfd)
{
    int fd = dup(parentfd);
    bool within = false;
    /* PATH_MAX / 2 levels at most: "a/" each. */
    for (int depth = 0; fd >= 0 && depth < PATH_MAX / 2; depth++) {
        struct stat here, up;
        if (fstat(fd, &here) != 0) {
            break;
        }
        if (here.st_dev == engine->data_dev && here.st_ino == engine->data_ino) {
            within = true;
            break;
        }
        int parent = openat(fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        close(fd);
        fd = parent;
        if (fd < 0 || fstat(fd, &up) != 0 ||
            (up.st_dev == here.st_dev && up.st_ino == here.st_ino)) {
            break;
        }
    }
    if (fd >= 0) {
        close(fd);
    }
    return within;
}

/* Copies the environment into a new directory with the signed head beside
 * it. The head is taken first, so the copy holds at least every event it
 * covers. The backup is built under a partial name (above) in the same
 * parent, every file through descriptors: data.mdb and head.pb are fsynced,
 * then the directory, which is renamed to its final name, and then the
 * parent is fsynced, so that a backup answered OK survives a crash, and a
 * crash before leaves no directory of the final name. A directory that
 * cannot be made is the asker's to fix (INVALID_ARGUMENT, with the reason);
 * a copy that fails part way is the host's (STORAGE_ERROR, DISK_FULL or
 * NO_MEMORY) and leaves nothing behind. `message` gets a sentence for the
 * reply. */
static enum ledger_err backup_into(struct engine *engine, const char *dir, int64_t now_us,
                                   Ledger__V1__SignedHead **head_out,
                                   char message[ENGINE_MESSAGE_SIZE])
{
    if (dir[0] == '\0') {
        engine__set_message(message, "name the backup directory: a new one on the daemon's host");
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    /* Messages below name the directory as given: no control character
     * (a terminal escape, a line break) may reach whoever prints them. */
    for (const unsigned char *c = (const unsigned char *)dir; *c != '\0'; c++) {
        if (*c < 0x20 || *c == 0x7f) {
            engine__set_message(message, "the backup directory's path holds a control character; "
                                         "give a path of printable characters");
            return LEDGER_ERR_INVALID_ARGUMENT;
        }
    }
    char parent[PATH_MAX], name[NAME_MAX + 1], partial[NAME_MAX + 1];
    enum ledger_err err = backup_split(dir, parent, name, message);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    snprintf(partial, sizeof partial, BACKUP_PARTIAL_FORMAT, LEDGER_BACKUP_PARTIAL_NAME_KEPT, name,
             (long)getpid(), (long long)now_us);
    /* Every later step is relative to the parent's descriptor: the names
     * made and removed are the parent's, whatever its path comes to mean. */
    int parentfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (parentfd < 0) {
        /* What the path itself makes impossible is the asker's to fix, as
         * a parent that does not exist is; anything else is the host's. */
        int error = errno;
        char too_long[96];
        snprintf(too_long, sizeof too_long,
                 "a directory name in its path is longer than %d bytes; give shorter ones",
                 NAME_MAX);
        snprintf(message, ENGINE_MESSAGE_SIZE, "cannot create the backup directory %.120s: %s", dir,
                 error == ENOENT    ? "its parent directory does not exist on the daemon's host"
                 : error == ENOTDIR ? "its parent is not a directory on the daemon's host"
                 : error == ELOOP   ? "its path has a loop of symbolic links on the daemon's host"
                 : error == ENAMETOOLONG ? too_long
                                         : strerror(error));
        return error == ENOENT || error == ENOTDIR || error == EACCES || error == ELOOP ||
                       error == ENAMETOOLONG
                   ? LEDGER_ERR_INVALID_ARGUMENT
                   : store_translate_errno(error);
    }
    if (backup_within_data(engine, parentfd)) {
        snprintf(message, ENGINE_MESSAGE_SIZE,
                 "cannot create the backup directory %.120s: it is inside the daemon's data "
                 "directory, which a backup must outlive; give a directory elsewhere, on "
                 "another disk if you can",
                 dir);
        close(parentfd);
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    struct stat info;
    int exists = fstatat(parentfd, name, &info, AT_SYMLINK_NOFOLLOW) == 0 ? EEXIST : errno;
    if (exists != ENOENT) {
        snprintf(message, ENGINE_MESSAGE_SIZE, "cannot create the backup directory %.120s: %s", dir,
                 exists == EEXIST ? "it already exists; give a new one" : strerror(exists));
        close(parentfd);
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    /* The head first: the copy holds at least every event it covers, and a
     * head that cannot be signed leaves no directory behind. */
    struct engine_principal auditor = {.role = LEDGER__V1__ROLE__ROLE_AUDITOR};
    struct query_context q = {.engine = engine,
                              .principal = &auditor,
                              .partner_id = "",
                              .now_us = now_us,
                              .message = message};
    err = store_begin(engine->store, false, &q.txn);
    if (err != LEDGER_ERR_OK) {
        close(parentfd);
        return err;
    }
    engine__head_observe(engine, store_last_sequence(q.txn));
    Ledger__V1__SignedHead *head = NULL;
    err = signed_head(&q, store_last_sequence(q.txn), &head);
    store_abort(q.txn);
    uint8_t *bytes = NULL;
    size_t size = 0;
    if (err == LEDGER_ERR_OK) {
        err = codec_pack(&head->base, &bytes, &size);
    }
    if (err != LEDGER_ERR_OK) {
        signed_head_free(head);
        close(parentfd);
        return err;
    }
    int dirfd = -1;
    struct stat made;
    bool data = false, head_written = false, renamed = false;
    if (mkdirat(parentfd, partial, 0700) != 0) {
        int error = errno;
        snprintf(message, ENGINE_MESSAGE_SIZE, "cannot create the backup directory %.120s: %s", dir,
                 error == EROFS ? "its parent is on a read-only file system" : strerror(error));
        /* The parent the asker chose cannot take it; a full disk or a
         * failing one is the host's. */
        err = error == EACCES || error == EPERM || error == EROFS ? LEDGER_ERR_INVALID_ARGUMENT
              : error == EEXIST                                   ? LEDGER_ERR_STORAGE_ERROR
                                                                  : store_translate_errno(error);
        goto done;
    }
    /* From here every file is made through the new directory's descriptor,
     * and a failure removes only what this backup made: if the name were
     * swapped for a link to another directory (a live data directory, say)
     * while the copy runs, nothing there is written or removed. */
    dirfd = openat(parentfd, partial, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int open_error = dirfd < 0 ? errno : 0;
    if (open_error != 0 && open_error != ENOTDIR && open_error != ELOOP) {
        /* Out of descriptors, say: the directory is still the empty one
         * just made (rmdir removes nothing else). */
        snprintf(message, ENGINE_MESSAGE_SIZE, "cannot open the new backup directory %.120s: %s",
                 partial, strerror(open_error));
        err = store_translate_errno(open_error);
        (void)unlinkat(parentfd, partial, AT_REMOVEDIR);
        goto done;
    }
    if (dirfd < 0 || fstat(dirfd, &made) != 0 || !S_ISDIR(made.st_mode) ||
        made.st_uid != geteuid()) {
        /* Not the directory just made (replaced in between): neither it nor
         * what took its name is this backup's to remove. */
        snprintf(message, ENGINE_MESSAGE_SIZE,
                 "the new backup directory %.60s/%.100s was replaced as it was made", parent,
                 partial);
        err = LEDGER_ERR_STORAGE_ERROR;
        goto done;
    }
    err = store_copy_at(engine->store, dirfd);
    data = err == LEDGER_ERR_OK;
    if (err != LEDGER_ERR_OK) {
        snprintf(message, ENGINE_MESSAGE_SIZE, "the copy into %.120s failed: %s", dir,
                 store_last_error(engine->store));
        goto fail;
    }
    int error = write_new_file_at(dirfd, "head.pb", bytes, size);
    if (error != 0) {
        snprintf(message, ENGINE_MESSAGE_SIZE, "cannot write %.120s/head.pb: %s", dir,
                 strerror(error));
        err = store_translate_errno(error);
        goto fail;
    }
    head_written = true;
    error = backup_rename(parentfd, partial, name);
    if (error != 0) {
        snprintf(message, ENGINE_MESSAGE_SIZE, "cannot create the backup directory %.120s: %s", dir,
                 error == EEXIST || error == ENOTEMPTY ? "it already exists; give a new one"
                                                       : strerror(error));
        err = error == EEXIST || error == ENOTEMPTY ? LEDGER_ERR_INVALID_ARGUMENT
                                                    : store_translate_errno(error);
        goto fail;
    }
    renamed = true;
    if (fsync(parentfd) != 0) {
        error = errno;
        snprintf(message, ENGINE_MESSAGE_SIZE, "cannot sync the directory of %.120s: %s", dir,
                 strerror(error));
        err = store_translate_errno(error);
        goto fail;
    }
    goto done;
fail:
    /* Nothing half-written: a failed backup leaves no directory behind, so
     * the same name can be given again. */
    backup_remove(parentfd, renamed ? name : partial, dirfd, &made, data, head_written);
done:
    free(bytes);
    if (dirfd >= 0) {
        close(dirfd);
    }
    close(parentfd);
    if (err != LEDGER_ERR_OK || !head_out) {
        signed_head_free(head);
    } else {
        *head_out = head;
    }
    return err;
}

/* Reads a saved head (a serialized SignedHead, such as a backup's head.pb)
 * whose fields have their lengths. head_out: on OK, free with
 * codec_message_free. NOT_FOUND, IO_ERROR, CORRUPT (message says why),
 * NO_MEMORY. */
static enum ledger_err head_file_read(const char *path, ProtobufCMessage **head_out,
                                      char message[ENGINE_MESSAGE_SIZE])
{
    message[0] = '\0';
    FILE *f = fopen(path, "rbe");
    if (f == NULL) {
        return errno == ENOENT ? LEDGER_ERR_NOT_FOUND : LEDGER_ERR_IO_ERROR;
    }
    /* One byte more than a head may hold, to tell a larger file (which
     * codec_message_unpack refuses): a head of LEDGER_HEAD_FILE_MAX bytes is
     * read whole, as ledgerctl and ledger-verify read it. */
    uint8_t bytes[LEDGER_HEAD_FILE_MAX + 1];
    size_t size = fread(bytes, 1, sizeof bytes, f);
    bool whole = feof(f) != 0 && ferror(f) == 0;
    fclose(f);
    ProtobufCMessage *message_out = NULL;
    enum ledger_err err =
        whole ? codec_message_unpack(&ledger__v1__signed_head__descriptor, bytes, size,
                                     LEDGER_HEAD_FILE_MAX, LEDGER_ERR_CORRUPT, &message_out)
              : LEDGER_ERR_CORRUPT;
    if (err != LEDGER_ERR_OK) {
        engine__set_message(message, "it is not a serialized ledger.v1.SignedHead");
        return err == LEDGER_ERR_NO_MEMORY ? err : LEDGER_ERR_CORRUPT;
    }
    const Ledger__V1__SignedHead *head = (const Ledger__V1__SignedHead *)message_out;
    if (head->root_hash.len != MERKLE_HASH_BYTES || head->signature.len != CRYPTO_SIGNATURE_BYTES ||
        head->public_key.len != CRYPTO_SIGN_PUBLIC_BYTES) {
        engine__set_message(message, "its root, signature or public key has the wrong length");
        codec_message_free(message_out);
        return LEDGER_ERR_CORRUPT;
    }
    *head_out = message_out;
    return LEDGER_ERR_OK;
}

bool engine_head_file_public_key_hex(const char *path, char hex_out[ENGINE_PUBLIC_KEY_HEX_SIZE])
{
    ProtobufCMessage *message_out = NULL;
    char message[ENGINE_MESSAGE_SIZE];
    if (head_file_read(path, &message_out, message) != LEDGER_ERR_OK) {
        return false;
    }
    const Ledger__V1__SignedHead *head = (const Ledger__V1__SignedHead *)message_out;
    crypto_hex(head->public_key.data, CRYPTO_SIGN_PUBLIC_BYTES, hex_out);
    codec_message_free(message_out);
    return true;
}

/* The public key of the head-signing key file at `path`; the secret is read
 * and wiped. Errors as engine__head_key_read's. */
static enum ledger_err head_key_public(const char *path,
                                       uint8_t public_key[CRYPTO_SIGN_PUBLIC_BYTES],
                                       char message[ENGINE_MESSAGE_SIZE])
{
    uint8_t secret_key[CRYPTO_SIGN_SECRET_BYTES];
    message[0] = '\0';
    enum ledger_err err = crypto_init();
    if (err == LEDGER_ERR_OK) {
        err = engine__head_key_read(path, secret_key, message);
    }
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    crypto_ed25519_public_key(secret_key, public_key);
    crypto_wipe(secret_key, sizeof secret_key);
    return LEDGER_ERR_OK;
}

/* Says which two public keys differ. Public keys are not secret; eight
 * digits tell two keys apart. */
static void keys_differ(const uint8_t named_key[CRYPTO_SIGN_PUBLIC_BYTES], const char *named_what,
                        const uint8_t held_key[CRYPTO_SIGN_PUBLIC_BYTES],
                        char message[ENGINE_MESSAGE_SIZE])
{
    char named[2 * CRYPTO_SIGN_PUBLIC_BYTES + 1], held[2 * CRYPTO_SIGN_PUBLIC_BYTES + 1];
    crypto_hex(named_key, CRYPTO_SIGN_PUBLIC_BYTES, named);
    crypto_hex(held_key, CRYPTO_SIGN_PUBLIC_BYTES, held);
    snprintf(message, ENGINE_MESSAGE_SIZE,
             "%s the key with public key %.8s..., this file holds the key with public key "
             "%.8s...",
             named_what, named, held);
}

enum ledger_err engine_check_head_keys_same(const char *key_path, const char *other_path,
                                            char message[ENGINE_MESSAGE_SIZE])
{
    uint8_t public_key[CRYPTO_SIGN_PUBLIC_BYTES], other_key[CRYPTO_SIGN_PUBLIC_BYTES];
    enum ledger_err err = head_key_public(key_path, public_key, message);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    char other_message[ENGINE_MESSAGE_SIZE];
    err = head_key_public(other_path, other_key, other_message);
    if (err != LEDGER_ERR_OK) {
        snprintf(message, ENGINE_MESSAGE_SIZE, "%.120s: %.240s", other_path,
                 other_message[0] ? other_message : ledger_strerror(err));
        return err == LEDGER_ERR_INVALID_ARGUMENT ? LEDGER_ERR_MISMATCH : err;
    }
    if (memcmp(public_key, other_key, CRYPTO_SIGN_PUBLIC_BYTES) != 0) {
        keys_differ(other_key, "the other file holds", public_key, message);
        return LEDGER_ERR_MISMATCH;
    }
    return LEDGER_ERR_OK;
}

enum ledger_err engine_check_head_key_file(const char *key_path, const char *head_path,
                                           char message[ENGINE_MESSAGE_SIZE])
{
    uint8_t public_key[CRYPTO_SIGN_PUBLIC_BYTES];
    enum ledger_err err = head_key_public(key_path, public_key, message);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    ProtobufCMessage *message_out = NULL;
    char head_message[ENGINE_MESSAGE_SIZE];
    if (head_path == NULL ||
        head_file_read(head_path, &message_out, head_message) != LEDGER_ERR_OK) {
        return LEDGER_ERR_OK; /* nothing to compare with: engine_check_head_file says why */
    }
    const Ledger__V1__SignedHead *head = (const Ledger__V1__SignedHead *)message_out;
    if (memcmp(head->public_key.data, public_key, CRYPTO_SIGN_PUBLIC_BYTES) != 0) {
        keys_differ(head->public_key.data, "the saved head was signed by", public_key, message);
        err = LEDGER_ERR_MISMATCH;
    }
    codec_message_free(message_out);
    return err;
}

enum ledger_err engine_check_head_file(struct engine *engine, const char *path,
                                       char message[ENGINE_MESSAGE_SIZE])
{
    ProtobufCMessage *message_out = NULL;
    enum ledger_err err = head_file_read(path, &message_out, message);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    const Ledger__V1__SignedHead *head = (const Ledger__V1__SignedHead *)message_out;
    uint8_t root[MERKLE_HASH_BYTES];
    struct store_txn *txn = NULL;
    if (!merkle_head_verify(head->tree_size, head->root_hash.data, head->timestamp_us,
                            head->signature.data, head->public_key.data) ||
        (engine->head_key_loaded &&
         memcmp(head->public_key.data, engine->head_public_key, CRYPTO_SIGN_PUBLIC_BYTES) != 0)) {
        engine__set_message(message, "its signature does not verify with this ledger's key");
        err = LEDGER_ERR_MISMATCH;
        goto done;
    }
    err = store_begin(engine->store, false, &txn);
    if (err != LEDGER_ERR_OK) {
        goto done;
    }
    uint64_t last = store_last_sequence(txn);
    if (head->tree_size > last) {
        snprintf(message, ENGINE_MESSAGE_SIZE,
                 "it signs %llu event%s but the log holds %llu: the copy is incomplete",
                 (unsigned long long)head->tree_size, head->tree_size == 1 ? "" : "s",
                 (unsigned long long)last);
        err = LEDGER_ERR_MISMATCH;
        goto done;
    }
    err = merkle_store_root(txn, head->tree_size, root);
    if (err == LEDGER_ERR_OK && memcmp(root, head->root_hash.data, MERKLE_HASH_BYTES) != 0) {
        snprintf(message, ENGINE_MESSAGE_SIZE,
                 "the root of the first %llu event%s is not the one it signs",
                 (unsigned long long)head->tree_size, head->tree_size == 1 ? "" : "s");
        err = LEDGER_ERR_MISMATCH;
    }
done:
    if (txn != NULL) {
        store_abort(txn);
    }
    codec_message_free(message_out);
    return err;
}

enum ledger_err engine_backup(struct engine *engine, const char *dir)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    char message[ENGINE_MESSAGE_SIZE] = "";
    return backup_into(engine, dir, (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000, NULL,
                       message);
}
