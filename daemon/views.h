/*
 * views.h: the projections of the event log that people query.
 *
 * Owns: the derived databases STORE_DB_PARTNER, _PRINCIPAL, _RESERVATION,
 * _ORDER, _SAVINGS_PLAN, _PERMISSION, _ACTIVITY (the partners' logs, the
 * customers' principal events, the subscriptions and cloud order indexes)
 * and _BILLING: their key layouts, their rows (protobuf rows of
 * proto/ledger.proto, stored serialized), applying one event to them,
 * answering the view queries from them, "as of" answers by replaying a
 * customer's stream through domain_customer_evolve, and a digest per view
 * for rebuild checks.
 * Does not own: the log (store), decisions (domain), who may ask (policy).
 *
 * Invariant: views are a pure function of the log. Applying the log from
 * sequence 1 to empty views gives byte-identical databases (the rebuild test).
 */
#ifndef LEDGER_VIEWS_H
#define LEDGER_VIEWS_H

#include <stdbool.h>
#include <stdint.h>

#include "codec.h"
#include "domain.h"
#include "error.h"
#include "ledger_limits.h"
#include "store.h"

/* Applies one committed event (already appended, with its sequence set) to every
 * view, inside the same write transaction. `event` is borrowed. Reads no clock
 * and no randomness. Errors: CORRUPT (the event does not fit the views: a
 * change to a reservation or savings plan they never saw, a body case without
 * its body, a customer event without partner or customer, a term or billing
 * plan that cannot be billed, a time outside years 0..9999), NO_MEMORY, and the
 * store's write errors (STORAGE_FULL, STORAGE_ERROR). On error the transaction
 * may hold part of the event's changes: abort it. */
__attribute__((warn_unused_result)) enum ledger_err views_apply(struct store_txn *txn,
                                                                const Ledger__V1__Event *event);

/* Called by views_expiries_due for each reservation found; the ids are
 * borrowed for the call. A non-OK return stops the walk and is returned. */
typedef enum ledger_err (*views_expiry_fn)(void *context, const char *partner_id,
                                           const char *customer_id, const char *reservation_id,
                                           int64_t expires_us);
/* Walks the reservations (every partner's, in key order) from just after
 * `position`, and calls fn for each one that is active, has auto-renewal off
 * and whose expires_us is at or before now_us: what the daemon's schedule
 * records as expired. Stops after `max` found or `rows_max` rows read, with
 * `position` at the last row read (done false); or at the last row, with
 * `position` back at the start (done true). Bounded so that one read
 * transaction stays short however many reservations there are, and
 * resumable so that rows found and refused again and again cannot keep a
 * walk from reaching the rows after them. Reservations with auto-renewal on
 * are left to the partner, who records the renewal and its price. Errors:
 * those of fn, INVALID_ARGUMENT (position out of range, max or rows_max 0),
 * CORRUPT (a row that does not decode), STORAGE_ERROR, NO_MEMORY. */
__attribute__((warn_unused_result)) enum ledger_err
views_expiries_due(struct store_txn *txn, int64_t now_us, size_t max, size_t rows_max,
                   struct store_position *position, views_expiry_fn fn, void *context);

/* Whether a partner was registered (PartnerRegistered applied). *exists_out is
 * written only on success. Errors: INVALID_ARGUMENT (not a valid id),
 * STORAGE_ERROR. */
__attribute__((warn_unused_result)) enum ledger_err
views_partner_exists(struct store_txn *txn, const char *partner_id, bool *exists_out);

/* A customer of a partner that holds an id: another customer whose
 * SubscriptionPurchased recorded a subscription id
 * (views_subscription_holder), or the customer whose purchase recorded a
 * cloud order id (views_cloud_order_holder). */
struct views_id_holder {
    bool found;                       /* another customer of the partner holds it */
    char customer_id[DOMAIN_ID_SIZE]; /* that customer, when found */
    uint64_t sequence;                /* its SubscriptionPurchased, or the purchase, when found */
};

/* Looks a subscription id up among a partner's customers, for
 * PurchaseSubscription: a customer of partner_id other than customer_id
 * that bought it. *out is written only on success (found false when no
 * other customer of the partner holds it). Reads the subscriptions index
 * (the activity database's 'S' rows, views layout 10) in the caller's
 * transaction, so a write transaction sees the purchases it recorded
 * itself. Customers of other partners are not looked at: a partner's
 * principals learn nothing of another partner's (docs/domain.md,
 * "Identities and their scope"). Errors: INVALID_ARGUMENT (an id that is
 * not one), CORRUPT (an index row no writer makes), STORAGE_ERROR. */
__attribute__((warn_unused_result)) enum ledger_err
views_subscription_holder(struct store_txn *txn, const char *subscription_id,
                          const char *partner_id, const char *customer_id,
                          struct views_id_holder *out);

/* One customer's purchase of a subscription id (views_subscription_duplicates). */
struct views_holding {
    char customer_id[DOMAIN_ID_SIZE];
    uint64_t sequence; /* its SubscriptionPurchased */
};

/* A subscription id that two or more customers of one partner hold: what
 * logs written before ids were checked across a partner's customers (views
 * layout 10) may record. */
struct views_subscription_duplicate {
    char subscription_id[DOMAIN_ID_SIZE];
    char partner_id[DOMAIN_ID_SIZE];
    size_t holders; /* customers of the partner that hold it: 2 or more */
    size_t listed;  /* of them, in holding[]: the earliest purchases, in sequence order */
    struct views_holding holding[LEDGER_DUPLICATE_HOLDERS_LISTED_MAX];
};

/* Called by views_subscription_duplicates for each such id; `duplicate` is
 * borrowed for the call. A non-OK return stops the walk and is returned. */
typedef enum ledger_err (*views_duplicate_fn)(void *context,
                                              const struct views_subscription_duplicate *duplicate);

/* Walks the subscriptions index ('S' rows, views layout 10) in key order
 * (by subscription id, then partner) and calls fn for every subscription
 * id that two or more customers of one partner hold, with its holders in
 * the order of their SubscriptionPurchased (the first
 * LEDGER_DUPLICATE_HOLDERS_LISTED_MAX of them; the others are counted).
 * One id under customers of different partners is no such id: a
 * subscription transferred between partners keeps its id. The holders of
 * one id and partner are adjacent in the index, so one of them is held at
 * a time: the memory taken does not grow with the index. *ids_out (may be
 * NULL) counts the ids found, written only on success. Errors: those of
 * fn, CORRUPT (an index row no writer makes), STORAGE_ERROR. */
__attribute__((warn_unused_result)) enum ledger_err
views_subscription_duplicates(struct store_txn *txn, views_duplicate_fn fn, void *context,
                              uint64_t *ids_out);

/* What ledger-verify and `ledgerd rebuild` say of such ids, after their
 * count: findings, not failures. */
#define VIEWS_DUPLICATES_NOTE                                                                      \
    "subscription id(s) held by two or more customers of one partner, recorded before ids were "   \
    "unique within a partner; see docs/domain.md, \"Subscriptions\""
/* Room for views_subscription_duplicate_text's line: the partner and id,
 * then each holder named with its sequence and the count of the others. */
#define VIEWS_DUPLICATE_TEXT_SIZE 2048
_Static_assert(2 * LEDGER_ID_LENGTH_MAX + 40 +
                       LEDGER_DUPLICATE_HOLDERS_LISTED_MAX * (LEDGER_ID_LENGTH_MAX + 44) + 40 <
                   VIEWS_DUPLICATE_TEXT_SIZE,
               "a duplicated id's line names every holder listed");
/* One line naming such an id: "partner P, subscription S: customer C1
 * (sequence N1), customer C2 (sequence N2)", and ", and K more customers"
 * for holders not listed. `duplicate` borrowed. */
void views_subscription_duplicate_text(const struct views_subscription_duplicate *duplicate,
                                       char out[VIEWS_DUPLICATE_TEXT_SIZE]);

/* Looks a cloud order id up among a partner's purchases, for the commands
 * that name one (PurchaseReservation, ExchangeReservation's replacements,
 * RenewReservation, PurchaseSavingsPlan, RenewSavingsPlan): the customer of
 * partner_id, this one included, whose purchase recorded it, and that
 * purchase's event (in `sequence`). *out is written only on success (found
 * false when no purchase of the partner named it). Reads the cloud order
 * index (the activity database's 'O' rows, views layout 11) in the
 * caller's transaction. Errors: INVALID_ARGUMENT (an id that is not one),
 * CORRUPT, STORAGE_ERROR. */
__attribute__((warn_unused_result)) enum ledger_err
views_cloud_order_holder(struct store_txn *txn, const char *cloud_order_id, const char *partner_id,
                         struct views_id_holder *out);

/* The customer's first principal event above `after`: the PrincipalAdded,
 * PrincipalRevoked or PrincipalSecretRotated of one of its customer users,
 * events of no customer's stream, which the activity database lists under
 * the customer ('C' rows, views layout 10). Called again with the sequence
 * it gave, it walks them in ascending order, each call a seek, without
 * reading them all: the events feed merges them into the customer's stream
 * (store_stream_each) with it. *sequence_out is written only on success,
 * 0 when there is none above `after`. Reads in the caller's transaction.
 * Errors: INVALID_ARGUMENT (an id that is not one), CORRUPT (a row no
 * writer makes), STORAGE_ERROR. */
__attribute__((warn_unused_result)) enum ledger_err
views_customer_principal_next(struct store_txn *txn, const char *partner_id,
                              const char *customer_id, uint64_t after, uint64_t *sequence_out);

/* A customer's state rebuilt by replaying its stream through
 * domain_customer_evolve: every event, or (as_of non-NULL) only those up to
 * as_of->sequence and recorded at or before as_of->time_us (0: no bound);
 * with as_of->business_time_us (0: none), of those, what was true at that
 * business time (domain_customer_evolve_dated).
 * The one replay of a stream: the engine's decisions and the "as of" answers
 * share it. The caller frees *out with domain_customer_free. CORRUPT when a
 * record is missing or does not decode or evolve; NO_MEMORY. */
__attribute__((warn_unused_result)) enum ledger_err
views_customer_state(struct store_txn *txn, const char *partner_id, const char *customer_id,
                     const Ledger__V1__AsOf *as_of, struct domain_customer **out);

/* What the asking principal may see, decided by the engine from policy. */
struct views_scope {
    const char *partner_id;  /* required: views never cross partners */
    const char *customer_id; /* "" = every customer of the partner; else only this one */
    bool partner_facing;     /* hide customer-bought savings plans (docs/domain.md) */
};

/* Answers the view queries: reservations, orders, savings_plans, permissions,
 * activity, billing, principals (docs/views.md says what each returns). All
 * pointers are borrowed; `result` must be initialized. Per-customer queries
 * name a customer, or take the scope's when it is bound to one. Fills the
 * result's row fields (and next_page_token) with memory allocated here:
 * release it with views_result_clear. On error nothing is left in `result`
 * and `message` says what to fix. Errors: INVALID_ARGUMENT (message names the
 * field), PARTNER_MISMATCH (the scope is bound to another customer),
 * TOO_LARGE (an unpaged answer over LEDGER_VIEW_ROWS_MAX rows), UNKNOWN_MESSAGE
 * (a query kind the views do not answer), CORRUPT, NO_MEMORY, STORAGE_ERROR. */
__attribute__((warn_unused_result)) enum ledger_err
views_query(struct store_txn *txn, const struct views_scope *scope, const Ledger__V1__Query *query,
            Ledger__V1__QueryResult *result, char message[256]);
/* Frees every row and the page token views_query put in `result`, and resets
 * those fields to their initial values. Other fields (events, proofs, head,
 * stats) are the caller's and are left alone. NULL is fine. */
void views_result_clear(Ledger__V1__QueryResult *result);

/* The layout of the derived databases this build writes, kept in the meta
 * database under "views" (u64 big-endian); none means 1. Changing a row's key
 * or value changes it, and a data directory with another layout must be
 * rebuilt (`ledgerd rebuild`) before it serves. 2: billing stores each
 * purchase's charges once instead of one row per month, and the Merkle tree
 * no longer repeats the leaf hashes as its level 0. 3: the activity database
 * no longer keeps a per-customer index ('C' rows); a customer's activity is
 * found through the customer's stream index. 4: a purchase is billed from
 * the month its term starts, which for a renewal is the old reservation's
 * expiry rather than the month the renewal was recorded, and a billing
 * entry records the event that cut its months back (stopped_sequence). 5: an
 * activity row's detail shows amounts as decimals of their currency
 * ("2.50 USD", money.h) instead of minor units ("250 USD minor units"). 6:
 * savings plan and principal rows record the last event that changed them
 * (last_sequence), as reservation rows do. 7: activity rows carry the
 * event's business time (business_us). 8: a permission row of a record
 * without a business time (written by older builds) is dated at the record's
 * recorded time, as the rules date it, instead of 0. 9: an exchange's
 * activity detail names the returned reservations that fit whole and counts
 * the others. 10: the activity database also indexes every bought
 * subscription by its id ('S' rows, views_subscription_holder), so that
 * PurchaseSubscription can refuse an id another customer of the partner
 * holds; and the activity rows of a customer user's PrincipalAdded,
 * PrincipalRevoked and PrincipalSecretRotated name its customer (in
 * customer_id and the detail) and are listed in that customer's activity
 * through 'C' entries. 11: billing, reservation, order and savings plan
 * rows carry the purchase's cloud order id (cloud_order_id), which rows of
 * layout 10 lack for purchases that named one, and the activity database
 * indexes those ids by partner ('O' rows, views_cloud_order_holder), so
 * that a purchase naming one another purchase of the partner named is
 * refused. */
#define VIEWS_LAYOUT_VERSION 11
/* The layout of a store that records none (written before the entry
 * existed), whose Merkle tree also stored the leaf hashes as its level 0. */
#define VIEWS_LAYOUT_UNRECORDED 1
/* The layout recorded while a rebuild runs (its first transaction writes it,
 * its last one VIEWS_LAYOUT_VERSION): found at open, the views are
 * incomplete because a rebuild was interrupted. */
#define VIEWS_LAYOUT_REBUILDING 0
/* Records VIEWS_LAYOUT_REBUILDING (in a write transaction). */
__attribute__((warn_unused_result)) enum ledger_err
views_layout_mark_rebuilding(struct store_txn *txn);
/* The layout of the views in the store (VIEWS_LAYOUT_UNRECORDED when none
 * is recorded). */
__attribute__((warn_unused_result)) enum ledger_err views_layout(struct store_txn *txn,
                                                                 uint64_t *out);
/* Records VIEWS_LAYOUT_VERSION as the store's layout (in a write transaction). */
__attribute__((warn_unused_result)) enum ledger_err views_layout_set(struct store_txn *txn);

/* A digest of every key and value of one database (any derived one), in key
 * order: BLAKE2b-256 of the concatenation of u32 BE key length || key || u32 BE
 * value length || value over its entries. Equal contents give equal digests;
 * an empty database gives BLAKE2b-256(""). Errors: CORRUPT, STORAGE_ERROR. */
__attribute__((warn_unused_result)) enum ledger_err views_digest(struct store_txn *txn,
                                                                 enum store_db db, uint8_t out[32]);

/* Where an entry of one of the views' databases (partner .. billing) comes
 * from (store.h, struct store_origin), for a verifier that found it
 * differing from a replay of the log. The sequence is the one the entry
 * records: in its key for order, permission, activity and billing (for a
 * billing entry cut back later, its stopped_sequence, the later of the
 * two), in its row for reservation, savings_plan and principal
 * (last_sequence: the last event that changed it); a partner's entry
 * records none. `key` and `value` borrowed; a value that does not decode
 * names no sequence. */
void views_entry_origin(enum store_db db, struct store_val key, struct store_val value,
                        struct store_origin *out);

#endif
