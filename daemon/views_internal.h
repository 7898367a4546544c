/*
 * views_internal.h: what the views' files share, and nothing else includes:
 * the keys (struct key and its builders), rows in the store, the key
 * families of the activity database, the row lists queries fill and the
 * prefix scan that fills them, and the functions one file calls in another.
 *
 * The views are the projections of docs/views.md (views.h), one module in
 * eight files:
 *
 *   views.c               the key layout of every derived database; applying
 *                         an event (views_apply's dispatch); the rows of
 *                         partners, principals and permissions; rows in the
 *                         store (put, get, the logged event); the views'
 *                         layout version;
 *   views_reservations.c  reservation, order and savings plan rows: how
 *                         events change them, and the reservations, orders
 *                         and savings plans queries;
 *   views_billing.c       billing entries: a purchase's charges, their cut
 *                         when a reservation ends, refunds; their monthly
 *                         expansion and the billing query with its pages;
 *   views_activity.c      the activity row and its detail text, the
 *                         customer of a principal event; the activity query
 *                         and its walks, views_customer_principal_next;
 *   views_holders.c       the subscription and cloud order id indexes, the
 *                         holder of an id, the subscription ids held twice,
 *                         the reservations due to expire;
 *   views_asof.c          what was true at a point: a customer's state
 *                         replayed (views_customer_state), its reservations,
 *                         savings plans and permissions as of then;
 *   views_query.c         views_query's dispatch, the customer a query is
 *                         about, time ranges, row lists and the result, the
 *                         prefix scan, the permissions and principals queries;
 *   views_digest.c        a derived database's digest and the event an entry
 *                         comes from (views_entry_origin).
 *
 * Small helpers on every event's path (text(), the key builders) are static
 * inline here, so that the files cost no call more than one file did;
 * functions one file calls in another have the views__ prefix.
 *
 * Does not own: the log, the stream index (store), any decision (domain).
 */
#ifndef LEDGER_VIEWS_INTERNAL_H
#define LEDGER_VIEWS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "views.h"

/* The size of a query's refusal message (views_query's `message`). */
#define VIEWS_MESSAGE_SIZE 256
/* STORE_DB_ACTIVITY's key families (the partner's log; the subscriptions
 * index) and the partner log's flags bit. */
#define VIEWS_ACTIVITY_PARTNER      'P'
#define VIEWS_ACTIVITY_SUBSCRIPTION 'S'
#define VIEWS_ACTIVITY_VISIBLE      0x01u
/* STORE_DB_ACTIVITY's key family of a customer's events that are in no
 * customer stream: those of its customer users' principals. */
#define VIEWS_ACTIVITY_CUSTOMER 'C'
/* STORE_DB_ACTIVITY's key family of the cloud order ids purchases named
 * (views_cloud_order_holder). */
#define VIEWS_ACTIVITY_CLOUD_ORDER 'O'

/* s, or "" for NULL (a message's absent string). */
static inline const char *text(const char *s)
{
    return s != NULL ? s : "";
}

/* --- keys ------------------------------------------------------------------------------- */

struct key {
    uint8_t bytes[STORE_KEY_BYTES_MAX];
    size_t size;
    bool overflow;
};

static inline void key_bytes(struct key *k, const void *data, size_t size)
{
    if (k->overflow || size > sizeof k->bytes - k->size) {
        k->overflow = true;
        return;
    }
    memcpy(k->bytes + k->size, data, size);
    k->size += size;
}

/* A string followed by its NUL: a separator-terminated component. */
static inline void key_field(struct key *k, const char *s)
{
    s = text(s);
    key_bytes(k, s, strlen(s) + 1);
}

/* A string as the key's last component (no NUL after it). */
static inline void key_last(struct key *k, const char *s)
{
    s = text(s);
    key_bytes(k, s, strlen(s));
}

static inline void key_u8(struct key *k, uint8_t value)
{
    key_bytes(k, &value, 1);
}

static inline void key_u16(struct key *k, uint16_t value)
{
    uint8_t b[2] = {(uint8_t)(value >> 8), (uint8_t)(value & 0xffu)};
    key_bytes(k, b, sizeof b);
}

static inline void key_u64(struct key *k, uint64_t value)
{
    uint8_t b[8];
    store_u64_to_key(value, b);
    key_bytes(k, b, sizeof b);
}

static inline bool key_has_prefix(const struct store_val *key, const struct key *prefix)
{
    return key->size >= prefix->size && memcmp(key->data, prefix->bytes, prefix->size) == 0;
}

/* partner NUL customer NUL: the prefix of a customer's rows. */
static inline void key_customer(struct key *k, const char *partner_id, const char *customer_id)
{
    key_field(k, partner_id);
    key_field(k, customer_id);
}

/* --- rows in the store ------------------------------------------------------------------ */

/* Decodes a stored row of `descriptor`: bytes that do not decode are CORRUPT.
 * Caller frees *out with codec_message_free. */
static inline enum ledger_err unpack_row(const ProtobufCMessageDescriptor *descriptor,
                                         const uint8_t *data, size_t size, ProtobufCMessage **out)
{
    return codec_message_unpack(descriptor, data, size, LEDGER_REQUEST_BYTES_MAX,
                                LEDGER_ERR_CORRUPT, out);
}

/* --- what one file's projection hands another's ------------------------------------------ */

/* One purchased item's charges. */
struct charge {
    const Ledger__V1__Event *event;
    const char *charge_id;
    const char *order_id;
    const char *cloud_order_id; /* "" or NULL: none given */
    char *charge;               /* "reservation" or "savings-plan" */
    Ledger__V1__Purchaser purchaser;
    const Ledger__V1__Money *price;
    const Ledger__V1__Money *retail_price;
    int term;
    int billing_plan;
    int64_t starts_us; /* the term's start: its month is the first billed */
};

/* Field changes of a reservation row that do not touch billing. */
struct reservation_change {
    const char *reservation_id;
    const Ledger__V1__Scope *scope;     /* new scope, or NULL */
    const bool *auto_renew;             /* new flag, or NULL */
    Ledger__V1__ReservationState state; /* new state, or UNSPECIFIED */
};

/* partner NUL customer NUL savings_plan_id: a savings plan row's key. */
static inline void savings_plan_key(struct key *k, const Ledger__V1__Event *event,
                                    const char *savings_plan_id)
{
    key_customer(k, event->partner_id, event->customer_id);
    key_last(k, savings_plan_id);
}

/* --- query results ------------------------------------------------------------------------ */

/* The rows a query gathers, each with its sort key, before they are handed
 * to the result (views_query). */
struct row_entry {
    ProtobufCMessage *row;
    uint64_t order; /* sort key (a sequence) */
};

struct row_list {
    struct row_entry *entries;
    size_t count, capacity;
};

/* Calls fn for every entry whose key starts with prefix, in key order, until
 * fn returns non-OK (which is returned). Bounded by the rows the caller
 * accepts: views__row_list_push stops at LEDGER_VIEW_ROWS_MAX. */
typedef enum ledger_err (*scan_fn)(void *context, const struct store_val *key,
                                   const struct store_val *value);

/* What views__collect_one gathers from a scan: rows of `descriptor` into
 * `list`, each ordered by `order` (NULL: in key order). */
struct collect {
    struct row_list *list;
    const ProtobufCMessageDescriptor *descriptor;
    /* Optional filter; rows it refuses are freed. */
    bool (*keep)(const struct collect *c, const ProtobufCMessage *row);
    uint64_t (*order)(const ProtobufCMessage *row);
    const struct views_scope *scope;
    int64_t from_us, to_us;
};

/* Whether from_us <= t < to_us (to_us 0: no upper bound). */
static inline bool in_range(int64_t t, int64_t from_us, int64_t to_us)
{
    return t >= from_us && (to_us == 0 || t < to_us);
}

/* Whether a scope sees a savings plan: partner staff do not see those the
 * customer bought itself (docs/domain.md), now or as of any point. */
static inline bool savings_plan_visible(const struct views_scope *scope,
                                        Ledger__V1__Purchaser purchaser)
{
    return !(scope->partner_facing && purchaser == LEDGER__V1__PURCHASER__PURCHASER_CUSTOMER);
}

/* ---- views.c ------------------------------------------------------------- */

/* Packs `message` and stores it at key k of db; CORRUPT when k overflowed. */
__attribute__((warn_unused_result)) enum ledger_err
views__put_message(struct store_txn *txn, enum store_db db, const struct key *k,
                   const ProtobufCMessage *message);
/* The row at key; NOT_FOUND if absent. Caller frees with codec_message_free. */
__attribute__((warn_unused_result)) enum ledger_err
views__get_message(struct store_txn *txn, enum store_db db, const struct key *k,
                   const ProtobufCMessageDescriptor *descriptor, ProtobufCMessage **out);
/* The logged event of `sequence`, decoded (free with codec_event_free). A
 * sequence the views name but the log does not hold is CORRUPT. */
__attribute__((warn_unused_result)) enum ledger_err
views__logged_event(struct store_txn *txn, uint64_t sequence, Ledger__V1__Event **out);

/* Sets `count` fields (sorted by number) of the row at key k of db, as
 * codec_patch does, without unpacking and packing the row again. NOT_FOUND
 * if there is no row; CORRUPT when k overflowed or the row does not frame. */
__attribute__((warn_unused_result)) enum ledger_err
views__patch_row(struct store_txn *txn, enum store_db db, const struct key *k,
                 const struct codec_field *fields, size_t count);
/* views__patch_row of a row already read: its stored bytes `row` (borrowed;
 * from the store, with no write since). */
__attribute__((warn_unused_result)) enum ledger_err
views__patch_bytes(struct store_txn *txn, enum store_db db, const struct key *k,
                   const struct store_val *row, const struct codec_field *fields, size_t count);

/* The varint field `number` of the row at key k of db, as codec_varint_field
 * reads it, without unpacking the row: NOT_FOUND if there is no row; CORRUPT
 * when k overflowed or the row does not frame. */
__attribute__((warn_unused_result)) enum ledger_err
views__row_varint(struct store_txn *txn, enum store_db db, const struct key *k, uint32_t number,
                  uint64_t *out);

/* The numbers of the row fields that events change in place or read alone
 * (views__patch_row, views__row_varint; proto/ledger.proto; test_views checks them against the
 * generated descriptors). */
#define VIEWS_RESERVATION_ROW_STATE            4u
#define VIEWS_RESERVATION_ROW_SCOPE            11u
#define VIEWS_RESERVATION_ROW_AUTO_RENEW       12u
#define VIEWS_RESERVATION_ROW_LAST_SEQUENCE    20u
#define VIEWS_SAVINGS_PLAN_ROW_SCOPE           7u
#define VIEWS_SAVINGS_PLAN_ROW_AUTO_RENEW      8u
#define VIEWS_SAVINGS_PLAN_ROW_PURCHASER       11u
#define VIEWS_SAVINGS_PLAN_ROW_LAST_SEQUENCE   16u
#define VIEWS_SAVINGS_PLAN_ROW_RENEWED         17u
#define VIEWS_BILLING_CHARGES_BILLED_MONTHS    3u
#define VIEWS_BILLING_CHARGES_STOPPED_SEQUENCE 4u

/* ---- views_reservations.c ------------------------------------------------ */

/* The projection of each event of reservations and savings plans (its row,
 * its order, its charges): views_apply's dispatch calls them. */
__attribute__((warn_unused_result)) enum ledger_err
views__reservation_add(struct store_txn *txn, const Ledger__V1__Event *event,
                       const Ledger__V1__ReservationPurchased *p, char *order_kind, size_t index,
                       uint16_t n, uint16_t *rows_out);
__attribute__((warn_unused_result)) enum ledger_err
views__reservation_change(struct store_txn *txn, const Ledger__V1__Event *event,
                          const struct reservation_change *change);
__attribute__((warn_unused_result)) enum ledger_err
views__reservation_cancelled(struct store_txn *txn, const Ledger__V1__Event *event);
__attribute__((warn_unused_result)) enum ledger_err
views__reservation_exchanged(struct store_txn *txn, const Ledger__V1__Event *event);
__attribute__((warn_unused_result)) enum ledger_err
views__reservation_renewed(struct store_txn *txn, const Ledger__V1__Event *event);
__attribute__((warn_unused_result)) enum ledger_err
views__savings_plan_add(struct store_txn *txn, const Ledger__V1__Event *event,
                        const Ledger__V1__SavingsPlanPurchased *p);
__attribute__((warn_unused_result)) enum ledger_err
views__savings_plan_change(struct store_txn *txn, const Ledger__V1__Event *event,
                           const char *savings_plan_id, const Ledger__V1__Scope *scope,
                           const bool *auto_renew, bool renewed);
__attribute__((warn_unused_result)) enum ledger_err
views__savings_plan_renewed(struct store_txn *txn, const Ledger__V1__Event *event);
/* The reservations, orders and savings plans queries (views_query's
 * dispatch): rows into list, a refusal's words into message. */
__attribute__((warn_unused_result)) enum ledger_err
views__query_reservations(struct store_txn *txn, const struct views_scope *scope,
                          const Ledger__V1__ReservationsQuery *q, struct row_list *list,
                          char message[VIEWS_MESSAGE_SIZE]);
__attribute__((warn_unused_result)) enum ledger_err
views__query_orders(struct store_txn *txn, const struct views_scope *scope,
                    const Ledger__V1__OrdersQuery *q, struct row_list *list,
                    char message[VIEWS_MESSAGE_SIZE]);
__attribute__((warn_unused_result)) enum ledger_err
views__query_savings_plans(struct store_txn *txn, const struct views_scope *scope,
                           const Ledger__V1__SavingsPlansQuery *q, struct row_list *list,
                           char message[VIEWS_MESSAGE_SIZE]);

/* ---- views_billing.c ----------------------------------------------------- */

/* Writes the charges of one purchase as entry n and sets *rows_out to how
 * many monthly rows they make (1 when paid upfront). */
__attribute__((warn_unused_result)) enum ledger_err views__billing_charge(struct store_txn *txn,
                                                                          const struct charge *c,
                                                                          uint16_t n,
                                                                          uint16_t *rows_out);
/* Ends the monthly charges of a reservation's purchase with `event`'s month. */
__attribute__((warn_unused_result)) enum ledger_err
views__billing_stop(struct store_txn *txn, const Ledger__V1__Event *event,
                    const Ledger__V1__ReservationRow *reservation);
/* A negative "refund" row in the event's month, as entry n. */
__attribute__((warn_unused_result)) enum ledger_err
views__billing_refund(struct store_txn *txn, const Ledger__V1__Event *event,
                      const Ledger__V1__Money *refund, const char *charge_id, const char *order_id,
                      const char *cloud_order_id, const Ledger__V1__ReservationRow *reservation,
                      uint16_t n);
/* One month of billing, or one page of it (next_page_token, total_rows and
 * tree_size into result). */
__attribute__((warn_unused_result)) enum ledger_err
views__query_billing(struct store_txn *txn, const struct views_scope *scope,
                     const Ledger__V1__BillingQuery *q, struct row_list *list,
                     Ledger__V1__QueryResult *result, char message[VIEWS_MESSAGE_SIZE]);

/* ---- views_activity.c ---------------------------------------------------- */

/* Adds the event's row to its partner's activity log (and a principal
 * event's entry to its customer's). */
__attribute__((warn_unused_result)) enum ledger_err
views__activity_add(struct store_txn *txn, const Ledger__V1__Event *event);
/* One page of activity, newest first (next_page_token into result). */
__attribute__((warn_unused_result)) enum ledger_err
views__query_activity(struct store_txn *txn, const struct views_scope *scope,
                      const Ledger__V1__ActivityQuery *q, struct row_list *list,
                      Ledger__V1__QueryResult *result, char message[VIEWS_MESSAGE_SIZE]);

/* ---- views_holders.c ----------------------------------------------------- */

/* Indexes the cloud order id a purchase named (none: nothing). */
__attribute__((warn_unused_result)) enum ledger_err
views__cloud_order_index(struct store_txn *txn, const Ledger__V1__Event *e,
                         const char *cloud_order_id);
/* Indexes a bought subscription by its id, ledger-wide. */
__attribute__((warn_unused_result)) enum ledger_err
views__subscription_purchased(struct store_txn *txn, const Ledger__V1__Event *e);

/* ---- views_asof.c -------------------------------------------------------- */

/* Checks a query's AsOf; *wanted: whether it names a point at all. */
__attribute__((warn_unused_result)) enum ledger_err
views__as_of_check(struct store_txn *txn, const Ledger__V1__AsOf *as_of, bool *wanted,
                   char message[VIEWS_MESSAGE_SIZE]);
/* A customer's reservations, savings plans (those the scope sees) and
 * permissions (current switches, or every change with history) as of a
 * point, from its replayed state. */
__attribute__((warn_unused_result)) enum ledger_err
views__reservations_as_of(struct store_txn *txn, const char *partner_id, const char *customer_id,
                          const Ledger__V1__AsOf *as_of, struct row_list *list);
__attribute__((warn_unused_result)) enum ledger_err
views__savings_plans_as_of(struct store_txn *txn, const struct views_scope *scope,
                           const char *customer_id, const Ledger__V1__AsOf *as_of,
                           struct row_list *list);
__attribute__((warn_unused_result)) enum ledger_err
views__permissions_as_of(struct store_txn *txn, const char *partner_id, const char *customer_id,
                         const Ledger__V1__AsOf *as_of, bool history, struct row_list *list);
/* Pushes a permission row of `kind` made from `change` (NULL: the default
 * "off" row). */
__attribute__((warn_unused_result)) enum ledger_err
views__permission_row_push(struct row_list *list, const char *customer_id,
                           const struct domain_permission_change *change,
                           Ledger__V1__PermissionKind kind);

/* ---- views_query.c ------------------------------------------------------- */

/* Takes ownership of row (freed on failure too). TOO_LARGE past
 * LEDGER_VIEW_ROWS_MAX rows. */
__attribute__((warn_unused_result)) enum ledger_err
views__row_list_push(struct row_list *list, ProtobufCMessage *row, uint64_t order);
/* Sorts the list by its entries' order. */
void views__row_list_sort(struct row_list *list);
/* Calls fn for every entry of db whose key starts with prefix, in key order,
 * until fn returns non-OK (which is returned). */
__attribute__((warn_unused_result)) enum ledger_err views__scan_prefix(struct store_txn *txn,
                                                                       enum store_db db,
                                                                       const struct key *prefix,
                                                                       scan_fn fn, void *context);
/* A scan_fn: pushes each row the collect (context) keeps onto its list. */
enum ledger_err views__collect_one(void *context, const struct store_val *key,
                                   const struct store_val *value);
/* Checks a half-open range from_us <= t < to_us of the fields named
 * `from_name` and `to_name` (0: open on that side). */
__attribute__((warn_unused_result)) enum ledger_err
views__range_check(int64_t from_us, int64_t to_us, const char *from_name, const char *to_name,
                   char message[VIEWS_MESSAGE_SIZE]);
/* The customer a query is about (*out; "" for none), within the scope;
 * CUSTOMER_NOT_FOUND for one the partner never onboarded. */
__attribute__((warn_unused_result)) enum ledger_err
views__query_customer(struct store_txn *txn, const struct views_scope *scope, const char *asked,
                      bool required, const char *query_name, const char **out,
                      char message[VIEWS_MESSAGE_SIZE]);

#endif
