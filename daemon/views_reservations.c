/*
 * views_reservations.c: the reservation, order and savings plan rows: how the
 * events of reservations and savings plans change them (their charges are
 * views_billing.c's), and the reservations, orders and savings plans
 * queries on them (as of a past point: views_asof.c).
 *
 * Reservation states: a purchase, an exchange's replacement and a renewal
 * add an ACTIVE row; a renewal marks the renewed row EXPIRED, an exchange
 * marks returned rows EXCHANGED, a cancellation CANCELLED, an expiry EXPIRED.
 * Orders are the partner-visible reservation orders only: kind "purchase",
 * "exchange" (one per replacement) or "renewal"; savings plans are no orders.
 * Savings plans: a purchase adds a row; a renewal marks the renewed row
 * `renewed` and adds its renewal's row (the renewed field is written only
 * then, so rows of the other events keep their bytes: no new views layout).
 */
#include "views.h"

#include <stdio.h>
#include <string.h>

#include "views_internal.h"

/* --- reservations, orders, savings plans -------------------------------------------------- */

static void reservation_key(struct key *k, const char *partner_id, const char *customer_id,
                            const char *reservation_id)
{
    key_customer(k, partner_id, customer_id);
    key_last(k, reservation_id);
}

static enum ledger_err reservation_load(struct store_txn *txn, const Ledger__V1__Event *event,
                                        const char *reservation_id,
                                        Ledger__V1__ReservationRow **out)
{
    struct key k = {0};
    reservation_key(&k, event->partner_id, event->customer_id, reservation_id);
    ProtobufCMessage *row = NULL;
    enum ledger_err err = views__get_message(txn, STORE_DB_RESERVATION, &k,
                                             &ledger__v1__reservation_row__descriptor, &row);
    if (err == LEDGER_ERR_NOT_FOUND) {
        /* The domain never records a change to a reservation it does not know. */
        return LEDGER_ERR_CORRUPT;
    }
    if (err == LEDGER_ERR_OK) {
        *out = (Ledger__V1__ReservationRow *)row;
    }
    return err;
}

/* Sets fields of a reservation's row in place (views__patch_row). */
static enum ledger_err reservation_patch(struct store_txn *txn, const Ledger__V1__Event *event,
                                         const char *reservation_id,
                                         const struct codec_field *fields, size_t count)
{
    struct key k = {0};
    reservation_key(&k, event->partner_id, event->customer_id, reservation_id);
    enum ledger_err err = views__patch_row(txn, STORE_DB_RESERVATION, &k, fields, count);
    /* The domain never records a change to a reservation it does not know. */
    return err == LEDGER_ERR_NOT_FOUND ? LEDGER_ERR_CORRUPT : err;
}

/* A new scope (NULL: none) as field `number`, appended to fields[*count];
 * its bytes are packed into `packed`, which the caller frees with
 * codec_packed_free when scope is non-NULL and this succeeded. */
static enum ledger_err scope_field(const Ledger__V1__Scope *scope, uint32_t number,
                                   struct codec_packed *packed, struct codec_field *fields,
                                   size_t *count)
{
    if (scope == NULL) {
        return LEDGER_ERR_OK;
    }
    enum ledger_err err = codec_pack_scratch(&scope->base, NULL, 0, packed);
    if (err == LEDGER_ERR_OK) {
        fields[(*count)++] =
            (struct codec_field){.number = number, .bytes = packed->data, .size = packed->size};
    }
    return err;
}

static enum ledger_err reservation_save(struct store_txn *txn, const Ledger__V1__Event *event,
                                        const Ledger__V1__ReservationRow *row)
{
    struct key k = {0};
    reservation_key(&k, event->partner_id, event->customer_id, row->reservation_id);
    return views__put_message(txn, STORE_DB_RESERVATION, &k, &row->base);
}

/* Adds a reservation an event bought (purchase, exchange replacement or
 * renewal): its row, its order and its charges. `index` is the replacement's
 * place in its exchange (0 otherwise): the order's key is the event's
 * sequence, followed by the index for an exchange's further replacements.
 * Its charges are entry n, making rows n..n+*rows_out-1. */
enum ledger_err views__reservation_add(struct store_txn *txn, const Ledger__V1__Event *event,
                                       const Ledger__V1__ReservationPurchased *p, char *order_kind,
                                       size_t index, uint16_t n, uint16_t *rows_out)
{
    if (p == NULL) {
        return LEDGER_ERR_CORRUPT;
    }
    Ledger__V1__ReservationRow row = LEDGER__V1__RESERVATION_ROW__INIT;
    row.reservation_id = p->reservation_id;
    row.order_id = p->order_id;
    row.customer_id = event->customer_id;
    row.state = LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_ACTIVE;
    row.billing_subscription_id = p->billing_subscription_id;
    row.sku = p->sku;
    row.region = p->region;
    row.quantity = p->quantity;
    row.term = p->term;
    row.billing_plan = p->billing_plan;
    row.scope = p->scope;
    row.auto_renew = p->auto_renew;
    row.starts_us = p->starts_us;
    row.expires_us = p->expires_us;
    row.purchaser = p->purchaser;
    row.bought_by = event->actor;
    row.price = p->price;
    row.retail_price = p->retail_price;
    row.sequence = event->sequence;
    row.last_sequence = event->sequence;
    row.cloud_order_id = p->cloud_order_id;
    enum ledger_err err = reservation_save(txn, event, &row);
    if (err == LEDGER_ERR_OK) {
        err = views__cloud_order_index(txn, event, p->cloud_order_id);
    }
    if (err != LEDGER_ERR_OK) {
        return err;
    }

    Ledger__V1__OrderRow order = LEDGER__V1__ORDER_ROW__INIT;
    order.order_id = p->order_id;
    order.customer_id = event->customer_id;
    order.reservation_id = p->reservation_id;
    order.ordered_us = domain_event_business_us(event);
    order.purchaser = p->purchaser;
    order.bought_by = event->actor;
    order.sku = p->sku;
    order.quantity = p->quantity;
    order.term = p->term;
    order.billing_plan = p->billing_plan;
    order.price = p->price;
    order.retail_price = p->retail_price;
    order.kind = order_kind;
    order.sequence = event->sequence;
    order.cloud_order_id = p->cloud_order_id;
    struct key k = {0};
    key_customer(&k, event->partner_id, event->customer_id);
    key_u64(&k, event->sequence);
    if (index > 0) {
        key_u16(&k, (uint16_t)index);
    }
    err = views__put_message(txn, STORE_DB_ORDER, &k, &order.base);
    if (err != LEDGER_ERR_OK) {
        return err;
    }

    struct charge c = {
        .event = event,
        .charge_id = p->reservation_id,
        .order_id = p->order_id,
        .cloud_order_id = p->cloud_order_id,
        .charge = "reservation",
        .purchaser = p->purchaser,
        .price = p->price,
        .retail_price = p->retail_price,
        .term = p->term,
        .billing_plan = p->billing_plan,
        .starts_us = p->starts_us,
    };
    return views__billing_charge(txn, &c, n, rows_out);
}

enum ledger_err views__reservation_change(struct store_txn *txn, const Ledger__V1__Event *event,
                                          const struct reservation_change *change)
{
    /* The fields in number order, as views__patch_row takes them. */
    struct codec_field fields[4];
    size_t count = 0;
    if (change->state != LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_UNSPECIFIED) {
        fields[count++] = (struct codec_field){.number = VIEWS_RESERVATION_ROW_STATE,
                                               .varint = (uint64_t)change->state};
    }
    struct codec_packed scope;
    enum ledger_err err =
        scope_field(change->scope, VIEWS_RESERVATION_ROW_SCOPE, &scope, fields, &count);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    if (change->auto_renew != NULL) {
        fields[count++] = (struct codec_field){.number = VIEWS_RESERVATION_ROW_AUTO_RENEW,
                                               .varint = *change->auto_renew};
    }
    fields[count++] = (struct codec_field){.number = VIEWS_RESERVATION_ROW_LAST_SEQUENCE,
                                           .varint = event->sequence};
    err = reservation_patch(txn, event, change->reservation_id, fields, count);
    if (change->scope != NULL) {
        codec_packed_free(&scope);
    }
    return err;
}

/* Marks a reservation's row ended in `state` by `event`, then reads it as it
 * now is (for its billing), into *out: free with codec_message_free. */
static enum ledger_err reservation_end(struct store_txn *txn, const Ledger__V1__Event *event,
                                       const char *reservation_id,
                                       Ledger__V1__ReservationState state,
                                       Ledger__V1__ReservationRow **out)
{
    struct reservation_change change = {.reservation_id = reservation_id, .state = state};
    enum ledger_err err = views__reservation_change(txn, event, &change);
    if (err == LEDGER_ERR_OK) {
        err = reservation_load(txn, event, reservation_id, out);
    }
    return err;
}

enum ledger_err views__reservation_cancelled(struct store_txn *txn, const Ledger__V1__Event *event)
{
    const Ledger__V1__ReservationCancelled *c = event->reservation_cancelled;
    Ledger__V1__ReservationRow *row = NULL;
    enum ledger_err err =
        reservation_end(txn, event, c->reservation_id,
                        LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_CANCELLED, &row);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    err = views__billing_stop(txn, event, row);
    if (err == LEDGER_ERR_OK) {
        err = views__billing_refund(txn, event, c->refund, row->reservation_id, row->order_id,
                                    row->cloud_order_id, row, 0);
    }
    codec_message_free(&row->base);
    return err;
}

enum ledger_err views__reservation_exchanged(struct store_txn *txn, const Ledger__V1__Event *event)
{
    const Ledger__V1__ReservationExchanged *x = event->reservation_exchanged;
    if (x->n_replacements == 0 || x->n_replacements > LEDGER_EXCHANGE_REPLACEMENTS_MAX ||
        x->replacements[0] == NULL || x->n_returned_reservation_ids == 0 ||
        x->n_returned_reservation_ids > LEDGER_EXCHANGE_RETURNS_MAX) {
        return LEDGER_ERR_CORRUPT;
    }
    /* The refund row's charge id: every returned id, joined by ','. */
    char charge_id[LEDGER_EXCHANGE_RETURNS_MAX * (LEDGER_ID_LENGTH_MAX + 1)];
    size_t used = 0;
    Ledger__V1__ReservationRow *first = NULL;
    enum ledger_err err = LEDGER_ERR_OK;
    for (size_t i = 0; err == LEDGER_ERR_OK && i < x->n_returned_reservation_ids; i++) {
        const char *id = text(x->returned_reservation_ids[i]);
        Ledger__V1__ReservationRow *row = NULL;
        err = reservation_end(txn, event, id,
                              LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_EXCHANGED, &row);
        if (err != LEDGER_ERR_OK) {
            break;
        }
        err = views__billing_stop(txn, event, row);
        int written =
            snprintf(charge_id + used, sizeof charge_id - used, "%s%s", i > 0 ? "," : "", id);
        if (written < 0 || (size_t)written >= sizeof charge_id - used) {
            err = err == LEDGER_ERR_OK ? LEDGER_ERR_CORRUPT : err;
        } else {
            used += (size_t)written;
        }
        if (first == NULL) {
            first = row;
        } else {
            codec_message_free(&row->base);
        }
    }
    /* Each replacement's charges follow the ones before it (n = their rows
     * so far), and the refund follows them all. */
    uint16_t n = 0;
    for (size_t i = 0; err == LEDGER_ERR_OK && i < x->n_replacements; i++) {
        uint16_t rows = 0;
        err = views__reservation_add(txn, event, x->replacements[i], "exchange", i, n, &rows);
        n = (uint16_t)(n + rows);
    }
    if (err == LEDGER_ERR_OK) {
        err = views__billing_refund(txn, event, x->refund, charge_id, x->replacements[0]->order_id,
                                    x->replacements[0]->cloud_order_id, first, n);
    }
    if (first != NULL) {
        codec_message_free(&first->base);
    }
    return err;
}

enum ledger_err views__reservation_renewed(struct store_txn *txn, const Ledger__V1__Event *event)
{
    const Ledger__V1__ReservationRenewed *r = event->reservation_renewed;
    struct reservation_change change = {
        .reservation_id = r->reservation_id,
        .state = LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_EXPIRED,
    };
    enum ledger_err err = views__reservation_change(txn, event, &change);
    uint16_t rows = 0;
    if (err == LEDGER_ERR_OK) {
        err = views__reservation_add(txn, event, r->renewal, "renewal", 0, 0, &rows);
    }
    return err;
}

/* Adds a savings plan an event bought (a purchase, or a renewal's new plan):
 * its row and its charges, billed from the start of its term. */
enum ledger_err views__savings_plan_add(struct store_txn *txn, const Ledger__V1__Event *event,
                                        const Ledger__V1__SavingsPlanPurchased *p)
{
    if (p == NULL) {
        return LEDGER_ERR_CORRUPT;
    }
    Ledger__V1__SavingsPlanRow row = LEDGER__V1__SAVINGS_PLAN_ROW__INIT;
    row.savings_plan_id = p->savings_plan_id;
    row.customer_id = event->customer_id;
    row.billing_subscription_id = p->billing_subscription_id;
    row.hourly_commitment = p->hourly_commitment;
    row.term = p->term;
    row.billing_plan = p->billing_plan;
    row.scope = p->scope;
    row.auto_renew = p->auto_renew;
    row.starts_us = p->starts_us;
    row.expires_us = p->expires_us;
    row.purchaser = p->purchaser;
    row.bought_by = event->actor;
    row.price = p->price;
    row.retail_price = p->retail_price;
    row.sequence = event->sequence;
    row.last_sequence = event->sequence;
    row.cloud_order_id = p->cloud_order_id;
    struct key k = {0};
    savings_plan_key(&k, event, p->savings_plan_id);
    enum ledger_err err = views__put_message(txn, STORE_DB_SAVINGS_PLAN, &k, &row.base);
    if (err == LEDGER_ERR_OK) {
        err = views__cloud_order_index(txn, event, p->cloud_order_id);
    }
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    struct charge c = {
        .event = event,
        .charge_id = p->savings_plan_id,
        .order_id = "",
        .cloud_order_id = p->cloud_order_id,
        .charge = "savings-plan",
        .purchaser = p->purchaser,
        .price = p->price,
        .retail_price = p->retail_price,
        .term = p->term,
        .billing_plan = p->billing_plan,
        .starts_us = p->starts_us,
    };
    uint16_t rows = 0;
    return views__billing_charge(txn, &c, 0, &rows);
}

/* Changes a savings plan row: its scope or auto-renew flag when given
 * (non-NULL), and with `renewed` marks its term ended by a renewal. */
enum ledger_err views__savings_plan_change(struct store_txn *txn, const Ledger__V1__Event *event,
                                           const char *savings_plan_id,
                                           const Ledger__V1__Scope *scope, const bool *auto_renew,
                                           bool renewed)
{
    /* The fields in number order, as views__patch_row takes them. */
    struct codec_field fields[4];
    size_t count = 0;
    struct codec_packed packed_scope;
    enum ledger_err err =
        scope_field(scope, VIEWS_SAVINGS_PLAN_ROW_SCOPE, &packed_scope, fields, &count);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    if (auto_renew != NULL) {
        fields[count++] = (struct codec_field){.number = VIEWS_SAVINGS_PLAN_ROW_AUTO_RENEW,
                                               .varint = *auto_renew};
    }
    fields[count++] = (struct codec_field){.number = VIEWS_SAVINGS_PLAN_ROW_LAST_SEQUENCE,
                                           .varint = event->sequence};
    if (renewed) {
        fields[count++] =
            (struct codec_field){.number = VIEWS_SAVINGS_PLAN_ROW_RENEWED, .varint = 1};
    }
    struct key k = {0};
    savings_plan_key(&k, event, savings_plan_id);
    err = views__patch_row(txn, STORE_DB_SAVINGS_PLAN, &k, fields, count);
    if (scope != NULL) {
        codec_packed_free(&packed_scope);
    }
    return err == LEDGER_ERR_NOT_FOUND ? LEDGER_ERR_CORRUPT : err;
}

/* The renewed plan ends (renewed) and its renewal is added, billed like a
 * purchase from its term's start, the renewed plan's expiry. */
enum ledger_err views__savings_plan_renewed(struct store_txn *txn, const Ledger__V1__Event *event)
{
    const Ledger__V1__SavingsPlanRenewed *r = event->savings_plan_renewed;
    enum ledger_err err =
        views__savings_plan_change(txn, event, r->savings_plan_id, NULL, NULL, true);
    if (err == LEDGER_ERR_OK) {
        err = views__savings_plan_add(txn, event, r->renewal);
    }
    return err;
}
/* --- the queries --------------------------------------------------------------------------- */

static uint64_t reservation_order(const ProtobufCMessage *row)
{
    return ((const Ledger__V1__ReservationRow *)row)->sequence;
}

static uint64_t savings_plan_order(const ProtobufCMessage *row)
{
    return ((const Ledger__V1__SavingsPlanRow *)row)->sequence;
}

static bool order_keep(const struct collect *c, const ProtobufCMessage *row)
{
    return in_range(((const Ledger__V1__OrderRow *)row)->ordered_us, c->from_us, c->to_us);
}

static bool savings_plan_keep(const struct collect *c, const ProtobufCMessage *row)
{
    return savings_plan_visible(c->scope, ((const Ledger__V1__SavingsPlanRow *)row)->purchaser);
}

/* The replacements of one exchange share its sequence, and the rows' keys
 * sort them by id ("res-27-10" before "res-27-2"): lists each exchange's in
 * the order the exchange bought them, as its orders and an "as of" replay
 * list them. The list is sorted by sequence. */
static enum ledger_err reservations_exchange_order(struct store_txn *txn, struct row_list *list)
{
    enum ledger_err err = LEDGER_ERR_OK;
    size_t run_end = 0;
    for (size_t i = 0; err == LEDGER_ERR_OK && i < list->count; i = run_end) {
        run_end = i + 1;
        while (run_end < list->count && list->entries[run_end].order == list->entries[i].order) {
            run_end++;
        }
        if (run_end - i == 1) {
            continue;
        }
        Ledger__V1__Event *event = NULL;
        err = views__logged_event(txn, list->entries[i].order, &event);
        if (err != LEDGER_ERR_OK) {
            break;
        }
        /* Only an exchange buys more than one reservation. */
        const Ledger__V1__ReservationExchanged *x =
            event->body_case == LEDGER__V1__EVENT__BODY_RESERVATION_EXCHANGED
                ? event->reservation_exchanged
                : NULL;
        size_t places[LEDGER_EXCHANGE_REPLACEMENTS_MAX];
        if (x == NULL || run_end - i > LEDGER_EXCHANGE_REPLACEMENTS_MAX) {
            err = LEDGER_ERR_CORRUPT;
        }
        for (size_t k = i; err == LEDGER_ERR_OK && k < run_end; k++) {
            const char *id =
                text(((const Ledger__V1__ReservationRow *)list->entries[k].row)->reservation_id);
            size_t place = 0;
            while (place < x->n_replacements &&
                   (x->replacements[place] == NULL ||
                    strcmp(text(x->replacements[place]->reservation_id), id) != 0)) {
                place++;
            }
            if (place == x->n_replacements) {
                err = LEDGER_ERR_CORRUPT;
            }
            places[k - i] = place;
        }
        codec_event_free(event);
        /* At most LEDGER_EXCHANGE_REPLACEMENTS_MAX rows: insertion sort. */
        for (size_t k = i + 1; err == LEDGER_ERR_OK && k < run_end; k++) {
            struct row_entry entry = list->entries[k];
            size_t place = places[k - i], at = k;
            while (at > i && places[at - 1 - i] > place) {
                list->entries[at] = list->entries[at - 1];
                places[at - i] = places[at - 1 - i];
                at--;
            }
            list->entries[at] = entry;
            places[at - i] = place;
        }
    }
    return err;
}

enum ledger_err views__query_reservations(struct store_txn *txn, const struct views_scope *scope,
                                          const Ledger__V1__ReservationsQuery *q,
                                          struct row_list *list, char message[VIEWS_MESSAGE_SIZE])
{
    const char *customer_id = NULL;
    enum ledger_err err = views__query_customer(txn, scope, q->customer_id, true, "reservations",
                                                &customer_id, message);
    bool as_of = false;
    if (err == LEDGER_ERR_OK) {
        err = views__as_of_check(txn, q->as_of, &as_of, message);
    }
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    if (as_of) {
        return views__reservations_as_of(txn, scope->partner_id, customer_id, q->as_of, list);
    }
    struct key prefix = {0};
    key_customer(&prefix, scope->partner_id, customer_id);
    struct collect c = {.list = list,
                        .descriptor = &ledger__v1__reservation_row__descriptor,
                        .order = reservation_order,
                        .scope = scope};
    err = views__scan_prefix(txn, STORE_DB_RESERVATION, &prefix, views__collect_one, &c);
    views__row_list_sort(list);
    if (err == LEDGER_ERR_OK) {
        err = reservations_exchange_order(txn, list);
    }
    return err;
}

enum ledger_err views__query_orders(struct store_txn *txn, const struct views_scope *scope,
                                    const Ledger__V1__OrdersQuery *q, struct row_list *list,
                                    char message[VIEWS_MESSAGE_SIZE])
{
    const char *customer_id = NULL;
    enum ledger_err err =
        views__query_customer(txn, scope, q->customer_id, true, "orders", &customer_id, message);
    if (err == LEDGER_ERR_OK) {
        err = views__range_check(q->from_us, q->to_us, "from_us", "to_us", message);
    }
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    struct key prefix = {0};
    key_customer(&prefix, scope->partner_id, customer_id);
    struct collect c = {.list = list,
                        .descriptor = &ledger__v1__order_row__descriptor,
                        .keep = order_keep,
                        .scope = scope,
                        .from_us = q->from_us,
                        .to_us = q->to_us};
    return views__scan_prefix(txn, STORE_DB_ORDER, &prefix, views__collect_one, &c);
}

enum ledger_err views__query_savings_plans(struct store_txn *txn, const struct views_scope *scope,
                                           const Ledger__V1__SavingsPlansQuery *q,
                                           struct row_list *list, char message[VIEWS_MESSAGE_SIZE])
{
    const char *customer_id = NULL;
    enum ledger_err err = views__query_customer(txn, scope, q->customer_id, true, "savings_plans",
                                                &customer_id, message);
    bool as_of = false;
    if (err == LEDGER_ERR_OK) {
        err = views__as_of_check(txn, q->as_of, &as_of, message);
    }
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    if (as_of) {
        return views__savings_plans_as_of(txn, scope, customer_id, q->as_of, list);
    }
    struct key prefix = {0};
    key_customer(&prefix, scope->partner_id, customer_id);
    struct collect c = {.list = list,
                        .descriptor = &ledger__v1__savings_plan_row__descriptor,
                        .keep = savings_plan_keep,
                        .order = savings_plan_order,
                        .scope = scope};
    err = views__scan_prefix(txn, STORE_DB_SAVINGS_PLAN, &prefix, views__collect_one, &c);
    views__row_list_sort(list);
    return err;
}
