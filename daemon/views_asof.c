/*
 * views_asof.c: what was true at a point (a recorded time, a sequence, a
 * business time): the check of an AsOf, a customer's state replayed from its
 * stream (views_customer_state), and its reservations, savings plans and
 * permissions as of then, as rows built from that state.
 */
#include "views.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "views_internal.h"

enum ledger_err views__as_of_check(struct store_txn *txn, const Ledger__V1__AsOf *as_of,
                                   bool *wanted, char message[VIEWS_MESSAGE_SIZE])
{
    *wanted = false;
    if (as_of == NULL) {
        return LEDGER_ERR_OK;
    }
    if (as_of->time_us < 0) {
        snprintf(message, VIEWS_MESSAGE_SIZE, "as_of.time_us must not be negative");
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    if (as_of->business_time_us < 0) {
        snprintf(message, VIEWS_MESSAGE_SIZE,
                 "as_of.business_time_us must not be negative (microseconds since "
                 "1970-01-01T00:00:00Z; 0 leaves it out)");
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    /* Past the latest time any field may hold no event can be recorded or
     * dated: such a point is a mistake (milliseconds or nanoseconds given
     * for microseconds, most likely), not "now". */
    const char *late = NULL;
    int64_t late_us = 0;
    if (as_of->time_us > LEDGER_TIME_US_MAX) {
        late = "time_us";
        late_us = as_of->time_us;
    } else if (as_of->business_time_us > LEDGER_TIME_US_MAX) {
        late = "business_time_us";
        late_us = as_of->business_time_us;
    }
    if (late != NULL) {
        snprintf(message, VIEWS_MESSAGE_SIZE,
                 "as_of.%s %" PRId64 " is past %" PRId64
                 " (9999-12-31T23:59:59.999999Z), the latest time the ledger records: give "
                 "microseconds since 1970-01-01T00:00:00Z up to it, or 0 to leave it out",
                 late, late_us, LEDGER_TIME_US_MAX);
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    /* "After event N" of an event not yet recorded is no state the ledger
     * knows: most likely a mistyped sequence. */
    uint64_t last = store_last_sequence(txn);
    if (as_of->sequence > last) {
        snprintf(message, VIEWS_MESSAGE_SIZE,
                 "as_of.sequence %" PRIu64 " is past the log, whose last sequence is %" PRIu64
                 ": give a sequence of 1..%" PRIu64 ", or a time",
                 as_of->sequence, last, last);
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    *wanted = as_of->time_us != 0 || as_of->sequence != 0 || as_of->business_time_us != 0;
    return LEDGER_ERR_OK;
}

/* --- "as of": replaying a customer's stream ------------------------------------------------ */

struct replay {
    struct store_txn *txn;
    struct domain_customer *customer;
    struct domain_customer *dated; /* by business time; NULL: not */
    int64_t time_us;               /* 0: no time bound */
    uint64_t sequence;             /* 0: no sequence bound */
    int64_t business_time_us;      /* with dated */
    bool stopped;
};

static enum ledger_err replay_one(void *context, uint64_t sequence)
{
    struct replay *r = context;
    if (r->sequence != 0 && sequence > r->sequence) {
        r->stopped = true;
        return LEDGER_ERR_NOT_FOUND;
    }
    Ledger__V1__Event *event = NULL;
    enum ledger_err err = views__logged_event(r->txn, sequence, &event);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    if (r->time_us != 0 && event->recorded_us > r->time_us) {
        r->stopped = true;
        codec_event_free(event);
        return LEDGER_ERR_NOT_FOUND;
    }
    if (r->dated != NULL) {
        err = domain_customer_evolve_dated(r->customer, r->dated, event, r->business_time_us, NULL);
    } else {
        err = domain_customer_evolve(r->customer, event);
    }
    codec_event_free(event);
    return err;
}

enum ledger_err views_customer_state(struct store_txn *txn, const char *partner_id,
                                     const char *customer_id, const Ledger__V1__AsOf *as_of,
                                     struct domain_customer **out)
{
    struct replay r = {
        .txn = txn,
        .customer = domain_customer_new(partner_id, customer_id),
        .time_us = as_of != NULL ? as_of->time_us : 0,
        .sequence = as_of != NULL ? as_of->sequence : 0,
        .business_time_us = as_of != NULL ? as_of->business_time_us : 0,
    };
    bool dated = r.business_time_us != 0;
    if (dated) {
        r.dated = domain_customer_new(partner_id, customer_id);
    }
    if (r.customer == NULL || (dated && r.dated == NULL)) {
        domain_customer_free(r.customer);
        domain_customer_free(r.dated);
        return LEDGER_ERR_NO_MEMORY;
    }
    enum ledger_err err = store_stream_each(txn, partner_id, customer_id, 0, replay_one, &r);
    if (err == LEDGER_ERR_NOT_FOUND && r.stopped) {
        err = LEDGER_ERR_OK;
    }
    /* By business time the answer is the dated state; the whole one only
     * checked the events on the way. */
    struct domain_customer *answer = dated ? r.dated : r.customer;
    domain_customer_free(dated ? r.customer : r.dated);
    if (err != LEDGER_ERR_OK) {
        domain_customer_free(answer);
        return err;
    }
    *out = answer;
    return LEDGER_ERR_OK;
}

static void money_from(const struct domain_money *m, Ledger__V1__Money *out)
{
    ledger__v1__money__init(out);
    out->amount_minor = m->amount_minor;
    out->currency = (char *)m->currency;
}

static void actor_from(const struct domain_actor *a, Ledger__V1__Actor *out)
{
    ledger__v1__actor__init(out);
    out->principal_id = (char *)a->principal_id;
    out->role = a->role;
    out->user = (char *)a->user;
}

static void scope_from(const struct domain_scope *s, Ledger__V1__Scope *out)
{
    ledger__v1__scope__init(out);
    out->kind = s->kind;
    out->target = (char *)s->target;
}

/* A copy of a stack-built row in memory that codec_message_free releases. */
static enum ledger_err row_copy(const ProtobufCMessage *row, ProtobufCMessage **out)
{
    uint8_t *bytes = NULL;
    size_t size = 0;
    enum ledger_err err = codec_pack(row, &bytes, &size);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    err = codec_message_unpack(row->descriptor, bytes, size, LEDGER_REQUEST_BYTES_MAX,
                               LEDGER_ERR_INTERNAL, out);
    free(bytes);
    return err;
}

/* Pushes a copy of a row whose fields point into borrowed memory (a
 * replayed state's), ordered by `order`. */
static enum ledger_err row_push_copy(struct row_list *list, const ProtobufCMessage *row,
                                     uint64_t order)
{
    ProtobufCMessage *copy = NULL;
    enum ledger_err err = row_copy(row, &copy);
    if (err == LEDGER_ERR_OK) {
        err = views__row_list_push(list, copy, order);
    }
    return err;
}

enum ledger_err views__reservations_as_of(struct store_txn *txn, const char *partner_id,
                                          const char *customer_id, const Ledger__V1__AsOf *as_of,
                                          struct row_list *list)
{
    struct domain_customer *customer = NULL;
    enum ledger_err err = views_customer_state(txn, partner_id, customer_id, as_of, &customer);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    for (size_t i = 0; err == LEDGER_ERR_OK && i < customer->reservation_count; i++) {
        const struct domain_reservation *d = &customer->reservations[i];
        Ledger__V1__Scope scope;
        scope_from(&d->scope, &scope);
        Ledger__V1__Actor actor;
        actor_from(&d->bought_by, &actor);
        Ledger__V1__Money price, retail;
        money_from(&d->price, &price);
        money_from(&d->retail_price, &retail);
        Ledger__V1__ReservationRow row = LEDGER__V1__RESERVATION_ROW__INIT;
        row.reservation_id = (char *)d->id;
        row.order_id = (char *)d->order_id;
        row.customer_id = (char *)customer_id;
        row.state = d->state;
        row.billing_subscription_id = (char *)d->billing_subscription_id;
        row.sku = (char *)d->sku;
        row.region = (char *)d->region;
        row.quantity = d->quantity;
        row.term = d->term;
        row.billing_plan = d->billing_plan;
        row.scope = &scope;
        row.auto_renew = d->auto_renew;
        row.starts_us = d->starts_us;
        row.expires_us = d->expires_us;
        row.purchaser = d->purchaser;
        row.bought_by = &actor;
        row.price = &price;
        row.retail_price = &retail;
        row.sequence = d->sequence;
        row.last_sequence = d->last_sequence;
        err = row_push_copy(list, &row.base, row.sequence);
    }
    domain_customer_free(customer);
    return err;
}

enum ledger_err views__savings_plans_as_of(struct store_txn *txn, const struct views_scope *scope,
                                           const char *customer_id, const Ledger__V1__AsOf *as_of,
                                           struct row_list *list)
{
    struct domain_customer *customer = NULL;
    enum ledger_err err =
        views_customer_state(txn, scope->partner_id, customer_id, as_of, &customer);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    for (size_t i = 0; err == LEDGER_ERR_OK && i < customer->savings_plan_count; i++) {
        const struct domain_savings_plan *d = &customer->savings_plans[i];
        if (!savings_plan_visible(scope, d->purchaser)) {
            continue;
        }
        Ledger__V1__Scope plan_scope;
        scope_from(&d->scope, &plan_scope);
        Ledger__V1__Actor actor;
        actor_from(&d->bought_by, &actor);
        Ledger__V1__Money hourly, price, retail;
        money_from(&d->hourly_commitment, &hourly);
        money_from(&d->price, &price);
        money_from(&d->retail_price, &retail);
        Ledger__V1__SavingsPlanRow row = LEDGER__V1__SAVINGS_PLAN_ROW__INIT;
        row.savings_plan_id = (char *)d->id;
        row.customer_id = (char *)customer_id;
        row.billing_subscription_id = (char *)d->billing_subscription_id;
        row.hourly_commitment = &hourly;
        row.term = d->term;
        row.billing_plan = d->billing_plan;
        row.scope = &plan_scope;
        row.auto_renew = d->auto_renew;
        row.renewed = d->renewed;
        row.starts_us = d->starts_us;
        row.expires_us = d->expires_us;
        row.purchaser = d->purchaser;
        row.bought_by = &actor;
        row.price = &price;
        row.retail_price = &retail;
        row.sequence = d->sequence;
        row.last_sequence = d->last_sequence;
        err = row_push_copy(list, &row.base, row.sequence);
    }
    domain_customer_free(customer);
    return err;
}

enum ledger_err views__permission_row_push(struct row_list *list, const char *customer_id,
                                           const struct domain_permission_change *change,
                                           Ledger__V1__PermissionKind kind)
{
    Ledger__V1__PermissionRow row = LEDGER__V1__PERMISSION_ROW__INIT;
    Ledger__V1__Actor actor;
    row.customer_id = (char *)customer_id;
    row.kind = kind;
    if (change != NULL) {
        actor_from(&change->changed_by, &actor);
        row.enabled = change->enabled;
        row.changed_us = change->changed_us;
        row.changed_by = &actor;
        row.sequence = change->sequence;
    }
    return row_push_copy(list, &row.base, row.sequence);
}

enum ledger_err views__permissions_as_of(struct store_txn *txn, const char *partner_id,
                                         const char *customer_id, const Ledger__V1__AsOf *as_of,
                                         bool history, struct row_list *list)
{
    struct domain_customer *customer = NULL;
    enum ledger_err err = views_customer_state(txn, partner_id, customer_id, as_of, &customer);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    if (history) {
        for (size_t i = 0; err == LEDGER_ERR_OK && i < customer->permission_change_count; i++) {
            const struct domain_permission_change *c = &customer->permission_changes[i];
            err = views__permission_row_push(list, customer_id, c, c->kind);
        }
    } else {
        static const Ledger__V1__PermissionKind kinds[] = {
            LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_RESERVATIONS,
            LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_SAVINGS_PLANS,
        };
        for (size_t k = 0; err == LEDGER_ERR_OK && k < sizeof kinds / sizeof kinds[0]; k++) {
            const struct domain_permission_change *last = NULL;
            for (size_t i = 0; i < customer->permission_change_count; i++) {
                if (customer->permission_changes[i].kind == kinds[k]) {
                    last = &customer->permission_changes[i];
                }
            }
            err = views__permission_row_push(list, customer_id, last, kinds[k]);
        }
    }
    domain_customer_free(customer);
    if (history) {
        views__row_list_sort(list);
    }
    return err;
}
