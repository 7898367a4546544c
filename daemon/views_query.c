/*
 * views_query.c: answering a query (views_query): its dispatch, the customer
 * a query is about within the scope, time ranges, the rows gathered (row
 * lists) and handed to the result, the prefix scan that reads stored rows,
 * and the permissions and principals queries. The other queries live with
 * their rows (views_reservations.c, views_billing.c, views_activity.c).
 *
 * Queries (views_query): rows of per-customer views come in purchase order
 * (sequence), orders and permission history in sequence order, activity
 * newest first (support staff read the latest first; page_token is the
 * decimal sequence to continue below), billing in key order (customer,
 * sequence, n), principals by id. Unpaged answers longer than
 * LEDGER_VIEW_ROWS_MAX rows are refused with TOO_LARGE, never truncated.
 * Time ranges are half-open: from_us <= t < to_us, 0 meaning unbounded.
 */
#include "views.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "views_internal.h"

/* --- query results ------------------------------------------------------------------------ */

/* Takes ownership of row (freed on failure too). TOO_LARGE past
 * LEDGER_VIEW_ROWS_MAX rows. */
enum ledger_err views__row_list_push(struct row_list *list, ProtobufCMessage *row, uint64_t order)
{
    if (list->count >= LEDGER_VIEW_ROWS_MAX) {
        codec_message_free(row);
        return LEDGER_ERR_TOO_LARGE;
    }
    if (list->count == list->capacity) {
        size_t capacity = list->capacity ? list->capacity * 2 : 16;
        struct row_entry *grown = realloc(list->entries, capacity * sizeof *grown);
        if (grown == NULL) {
            codec_message_free(row);
            return LEDGER_ERR_NO_MEMORY;
        }
        list->entries = grown;
        list->capacity = capacity;
    }
    list->entries[list->count].row = row;
    list->entries[list->count].order = order;
    list->count++;
    return LEDGER_ERR_OK;
}

static void row_list_free(struct row_list *list)
{
    for (size_t i = 0; i < list->count; i++) {
        codec_message_free(list->entries[i].row);
    }
    free(list->entries);
    list->entries = NULL;
    list->count = list->capacity = 0;
}

static int row_entry_compare(const void *a, const void *b)
{
    uint64_t x = ((const struct row_entry *)a)->order;
    uint64_t y = ((const struct row_entry *)b)->order;
    return x < y ? -1 : x > y;
}

void views__row_list_sort(struct row_list *list)
{
    if (list->count > 1) {
        qsort(list->entries, list->count, sizeof *list->entries, row_entry_compare);
    }
}

/* Moves the rows into the result's repeated field of `kind` (the list is
 * left empty). NO_MEMORY leaves the list as it was. */
#define VIEWS_GIVE(type, field)                                                                    \
    do {                                                                                           \
        type **array_ = malloc(list->count * sizeof *array_);                                      \
        if (array_ == NULL) {                                                                      \
            return LEDGER_ERR_NO_MEMORY;                                                           \
        }                                                                                          \
        for (size_t i_ = 0; i_ < list->count; i_++) {                                              \
            array_[i_] = (type *)list->entries[i_].row;                                            \
        }                                                                                          \
        result->field = array_;                                                                    \
        result->n_##field = list->count;                                                           \
    } while (0)

static enum ledger_err row_list_give(struct row_list *list, Ledger__V1__Query__KindCase kind,
                                     Ledger__V1__QueryResult *result)
{
    if (list->count == 0) {
        return LEDGER_ERR_OK;
    }
    switch (kind) {
    case LEDGER__V1__QUERY__KIND_RESERVATIONS:
        VIEWS_GIVE(Ledger__V1__ReservationRow, reservations);
        break;
    case LEDGER__V1__QUERY__KIND_ORDERS:
        VIEWS_GIVE(Ledger__V1__OrderRow, orders);
        break;
    case LEDGER__V1__QUERY__KIND_SAVINGS_PLANS:
        VIEWS_GIVE(Ledger__V1__SavingsPlanRow, savings_plans);
        break;
    case LEDGER__V1__QUERY__KIND_PERMISSIONS:
        VIEWS_GIVE(Ledger__V1__PermissionRow, permissions);
        break;
    case LEDGER__V1__QUERY__KIND_ACTIVITY:
        VIEWS_GIVE(Ledger__V1__ActivityRow, activity);
        break;
    case LEDGER__V1__QUERY__KIND_BILLING:
        VIEWS_GIVE(Ledger__V1__BillingRow, billing);
        break;
    case LEDGER__V1__QUERY__KIND_PRINCIPALS:
        VIEWS_GIVE(Ledger__V1__PrincipalRow, principals);
        break;
    default:
        return LEDGER_ERR_INTERNAL;
    }
    free(list->entries);
    list->entries = NULL;
    list->count = list->capacity = 0;
    return LEDGER_ERR_OK;
}

#undef VIEWS_GIVE

#define FREE_ROWS(type, field, free_fn)                                                            \
    do {                                                                                           \
        for (size_t i_ = 0; i_ < result->n_##field; i_++) {                                        \
            free_fn(result->field[i_], NULL);                                                      \
        }                                                                                          \
        free(result->field);                                                                       \
        result->field = NULL;                                                                      \
        result->n_##field = 0;                                                                     \
    } while (0)

void views_result_clear(Ledger__V1__QueryResult *result)
{
    if (result == NULL) {
        return;
    }
    FREE_ROWS(Ledger__V1__ReservationRow, reservations, ledger__v1__reservation_row__free_unpacked);
    FREE_ROWS(Ledger__V1__OrderRow, orders, ledger__v1__order_row__free_unpacked);
    FREE_ROWS(Ledger__V1__SavingsPlanRow, savings_plans,
              ledger__v1__savings_plan_row__free_unpacked);
    FREE_ROWS(Ledger__V1__PermissionRow, permissions, ledger__v1__permission_row__free_unpacked);
    FREE_ROWS(Ledger__V1__ActivityRow, activity, ledger__v1__activity_row__free_unpacked);
    FREE_ROWS(Ledger__V1__BillingRow, billing, ledger__v1__billing_row__free_unpacked);
    FREE_ROWS(Ledger__V1__PrincipalRow, principals, ledger__v1__principal_row__free_unpacked);
    if (result->next_page_token != NULL && result->next_page_token != protobuf_c_empty_string) {
        free(result->next_page_token);
    }
    result->next_page_token = (char *)protobuf_c_empty_string;
    result->total_rows = 0;
}

#undef FREE_ROWS

/* --- query helpers ------------------------------------------------------------------------- */

enum ledger_err views__scan_prefix(struct store_txn *txn, enum store_db db,
                                   const struct key *prefix, scan_fn fn, void *context)
{
    if (prefix->overflow) {
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    struct store_cursor *cursor = NULL;
    enum ledger_err err = store_cursor_open(txn, db, &cursor);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    struct store_val key, value;
    err = prefix->size > 0 ? store_cursor_seek(cursor, prefix->bytes, prefix->size, &key, &value)
                           : store_cursor_seek(cursor, NULL, 0, &key, &value);
    while (err == LEDGER_ERR_OK && key_has_prefix(&key, prefix)) {
        err = fn(context, &key, &value);
        if (err == LEDGER_ERR_OK) {
            err = store_cursor_next(cursor, &key, &value);
        }
    }
    store_cursor_close(cursor);
    return err == LEDGER_ERR_NOT_FOUND ? LEDGER_ERR_OK : err;
}

enum ledger_err views__collect_one(void *context, const struct store_val *key,
                                   const struct store_val *value)
{
    (void)key;
    struct collect *c = context;
    ProtobufCMessage *row = NULL;
    enum ledger_err err = unpack_row(c->descriptor, value->data, value->size, &row);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    if (c->keep != NULL && !c->keep(c, row)) {
        codec_message_free(row);
        return LEDGER_ERR_OK;
    }
    return views__row_list_push(c->list, row, c->order != NULL ? c->order(row) : c->list->count);
}

/* Checks a half-open range from_us <= t < to_us of the fields named
 * `from_name` and `to_name` (0: open on that side). */
enum ledger_err views__range_check(int64_t from_us, int64_t to_us, const char *from_name,
                                   const char *to_name, char message[VIEWS_MESSAGE_SIZE])
{
    if (from_us < 0 || to_us < 0) {
        snprintf(message, VIEWS_MESSAGE_SIZE, "%s and %s must not be negative", from_name, to_name);
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    if (to_us != 0 && to_us <= from_us) {
        snprintf(message, VIEWS_MESSAGE_SIZE, "%s must be after %s (the range is %s <= t < %s)",
                 to_name, from_name, from_name, to_name);
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    return LEDGER_ERR_OK;
}

/* The customer a query is about: the one asked for, restricted by the
 * scope. A scope bound to one customer answers for it when none is asked. A
 * customer the partner never onboarded is CUSTOMER_NOT_FOUND rather than an
 * answer with no rows, so that a mistyped id does not look like a customer
 * with nothing (one onboarded after an as_of point is known: its answer
 * then is empty). */
enum ledger_err views__query_customer(struct store_txn *txn, const struct views_scope *scope,
                                      const char *asked, bool required, const char *query_name,
                                      const char **out, char message[VIEWS_MESSAGE_SIZE])
{
    asked = text(asked);
    const char *bound = text(scope->customer_id);
    *out = "";
    if (asked[0] != '\0') {
        if (!codec_id_valid(asked)) {
            snprintf(message, VIEWS_MESSAGE_SIZE,
                     "customer_id must be 1..%d characters of [A-Za-z0-9.:@-]",
                     LEDGER_ID_LENGTH_MAX);
            return LEDGER_ERR_INVALID_ARGUMENT;
        }
        if (bound[0] != '\0' && strcmp(bound, asked) != 0) {
            snprintf(message, VIEWS_MESSAGE_SIZE,
                     "the principal is a user of customer %s and may read only that customer's "
                     "data, not %s's",
                     bound, asked);
            return LEDGER_ERR_PARTNER_MISMATCH;
        }
        *out = asked;
    } else if (bound[0] != '\0') {
        *out = bound;
    } else if (required) {
        snprintf(message, VIEWS_MESSAGE_SIZE, "customer_id is required for the %s query",
                 query_name);
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    if ((*out)[0] == '\0') {
        return LEDGER_ERR_OK;
    }
    uint64_t version = 0;
    enum ledger_err err = store_stream_version(txn, scope->partner_id, *out, &version);
    if (err == LEDGER_ERR_OK && version == 0) {
        snprintf(message, VIEWS_MESSAGE_SIZE,
                 "partner %s has no customer %s; check the customer id", scope->partner_id, *out);
        err = LEDGER_ERR_CUSTOMER_NOT_FOUND;
    }
    return err;
}

/* --- permissions and principals ------------------------------------------------------------ */

static uint64_t permission_order(const ProtobufCMessage *row)
{
    return ((const Ledger__V1__PermissionRow *)row)->sequence;
}

static bool principal_keep(const struct collect *c, const ProtobufCMessage *row)
{
    const Ledger__V1__PrincipalRow *p = (const Ledger__V1__PrincipalRow *)row;
    const char *partner_id = text(c->scope->partner_id);
    const char *customer_id = text(c->scope->customer_id);
    return (partner_id[0] == '\0' || strcmp(text(p->partner_id), partner_id) == 0) &&
           (customer_id[0] == '\0' || strcmp(text(p->customer_id), customer_id) == 0);
}

/* The last row of one kind of switch, or a default "off" row. */
static enum ledger_err permission_current(struct store_txn *txn, const char *partner_id,
                                          const char *customer_id, Ledger__V1__PermissionKind kind,
                                          struct row_list *list)
{
    struct key prefix = {0};
    key_customer(&prefix, partner_id, customer_id);
    key_u8(&prefix, (uint8_t)kind);
    key_u8(&prefix, 0);
    /* The first key after every key of this kind: the next kind's prefix. */
    struct key after = {0};
    key_customer(&after, partner_id, customer_id);
    key_u8(&after, (uint8_t)(kind + 1));
    if (prefix.overflow || after.overflow) {
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    struct store_cursor *cursor = NULL;
    enum ledger_err err = store_cursor_open(txn, STORE_DB_PERMISSION, &cursor);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    struct store_val key, value;
    err = store_cursor_seek(cursor, after.bytes, after.size, &key, &value);
    if (err == LEDGER_ERR_OK) {
        err = store_cursor_prev(cursor, &key, &value);
    } else if (err == LEDGER_ERR_NOT_FOUND) {
        err = store_cursor_last(cursor, &key, &value);
    }
    ProtobufCMessage *row = NULL;
    if (err == LEDGER_ERR_OK && key_has_prefix(&key, &prefix)) {
        err = unpack_row(&ledger__v1__permission_row__descriptor, value.data, value.size, &row);
    } else if (err == LEDGER_ERR_OK || err == LEDGER_ERR_NOT_FOUND) {
        err = LEDGER_ERR_OK;
    }
    store_cursor_close(cursor);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    if (row != NULL) {
        return views__row_list_push(list, row, 0);
    }
    return views__permission_row_push(list, customer_id, NULL, kind);
}

static enum ledger_err query_permissions(struct store_txn *txn, const struct views_scope *scope,
                                         const Ledger__V1__PermissionsQuery *q,
                                         struct row_list *list, char message[VIEWS_MESSAGE_SIZE])
{
    const char *customer_id = NULL;
    enum ledger_err err = views__query_customer(txn, scope, q->customer_id, true, "permissions",
                                                &customer_id, message);
    bool as_of = false;
    if (err == LEDGER_ERR_OK) {
        err = views__as_of_check(txn, q->as_of, &as_of, message);
    }
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    if (as_of) {
        return views__permissions_as_of(txn, scope->partner_id, customer_id, q->as_of, q->history,
                                        list);
    }
    if (!q->history) {
        err = permission_current(txn, scope->partner_id, customer_id,
                                 LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_RESERVATIONS, list);
        if (err == LEDGER_ERR_OK) {
            err = permission_current(txn, scope->partner_id, customer_id,
                                     LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_SAVINGS_PLANS,
                                     list);
        }
        return err;
    }
    struct key prefix = {0};
    key_customer(&prefix, scope->partner_id, customer_id);
    struct collect c = {.list = list,
                        .descriptor = &ledger__v1__permission_row__descriptor,
                        .order = permission_order,
                        .scope = scope};
    err = views__scan_prefix(txn, STORE_DB_PERMISSION, &prefix, views__collect_one, &c);
    views__row_list_sort(list);
    return err;
}

static enum ledger_err query_principals(struct store_txn *txn, const struct views_scope *scope,
                                        struct row_list *list)
{
    struct key prefix = {0};
    struct collect c = {.list = list,
                        .descriptor = &ledger__v1__principal_row__descriptor,
                        .keep = principal_keep,
                        .scope = scope};
    return views__scan_prefix(txn, STORE_DB_PRINCIPAL, &prefix, views__collect_one, &c);
}

enum ledger_err views_query(struct store_txn *txn, const struct views_scope *scope,
                            const Ledger__V1__Query *query, Ledger__V1__QueryResult *result,
                            char message[256])
{
    if (txn == NULL || scope == NULL || query == NULL || result == NULL || message == NULL) {
        return LEDGER_ERR_INTERNAL;
    }
    message[0] = '\0';
    const char *partner_id = text(scope->partner_id);
    if (query->kind_case != LEDGER__V1__QUERY__KIND_PRINCIPALS && !codec_id_valid(partner_id)) {
        snprintf(message, VIEWS_MESSAGE_SIZE,
                 "partner_id must be 1..%d characters of [A-Za-z0-9.:@-]", LEDGER_ID_LENGTH_MAX);
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    struct views_scope s = {
        .partner_id = partner_id,
        .customer_id = text(scope->customer_id),
        .partner_facing = scope->partner_facing,
    };
    if (s.customer_id[0] != '\0' && !codec_id_valid(s.customer_id)) {
        return LEDGER_ERR_INTERNAL;
    }
    /* Absent sub-messages read as empty ones. */
    static const Ledger__V1__ReservationsQuery no_reservations =
        LEDGER__V1__RESERVATIONS_QUERY__INIT;
    static const Ledger__V1__OrdersQuery no_orders = LEDGER__V1__ORDERS_QUERY__INIT;
    static const Ledger__V1__SavingsPlansQuery no_plans = LEDGER__V1__SAVINGS_PLANS_QUERY__INIT;
    static const Ledger__V1__PermissionsQuery no_permissions = LEDGER__V1__PERMISSIONS_QUERY__INIT;
    static const Ledger__V1__ActivityQuery no_activity = LEDGER__V1__ACTIVITY_QUERY__INIT;
    static const Ledger__V1__BillingQuery no_billing = LEDGER__V1__BILLING_QUERY__INIT;

    struct row_list list = {0};
    enum ledger_err err;
    switch (query->kind_case) {
    case LEDGER__V1__QUERY__KIND_RESERVATIONS:
        err = views__query_reservations(
            txn, &s, query->reservations ? query->reservations : &no_reservations, &list, message);
        break;
    case LEDGER__V1__QUERY__KIND_ORDERS:
        err = views__query_orders(txn, &s, query->orders ? query->orders : &no_orders, &list,
                                  message);
        break;
    case LEDGER__V1__QUERY__KIND_SAVINGS_PLANS:
        err = views__query_savings_plans(
            txn, &s, query->savings_plans ? query->savings_plans : &no_plans, &list, message);
        break;
    case LEDGER__V1__QUERY__KIND_PERMISSIONS:
        err = query_permissions(txn, &s, query->permissions ? query->permissions : &no_permissions,
                                &list, message);
        break;
    case LEDGER__V1__QUERY__KIND_ACTIVITY:
        err = views__query_activity(txn, &s, query->activity ? query->activity : &no_activity,
                                    &list, result, message);
        break;
    case LEDGER__V1__QUERY__KIND_BILLING:
        err = views__query_billing(txn, &s, query->billing ? query->billing : &no_billing, &list,
                                   result, message);
        break;
    case LEDGER__V1__QUERY__KIND_PRINCIPALS:
        err = query_principals(txn, &s, &list);
        break;
    default:
        snprintf(message, VIEWS_MESSAGE_SIZE, "the views answer no query of kind '%s'",
                 codec_query_type_name(query->kind_case));
        return LEDGER_ERR_UNKNOWN_MESSAGE;
    }
    if (err == LEDGER_ERR_OK) {
        err = row_list_give(&list, query->kind_case, result);
    }
    if (err != LEDGER_ERR_OK) {
        row_list_free(&list);
        views_result_clear(result);
        if (message[0] == '\0') {
            if (err == LEDGER_ERR_TOO_LARGE) {
                snprintf(message, VIEWS_MESSAGE_SIZE,
                         "the answer has more than %d rows; narrow the query",
                         LEDGER_VIEW_ROWS_MAX);
            } else {
                snprintf(message, VIEWS_MESSAGE_SIZE, "%s", ledger_strerror(err));
            }
        }
    }
    return err;
}
