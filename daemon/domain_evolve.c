/*
 * domain_evolve.c: applying one event of a customer's stream to its state
 * (domain_customer_evolve), or to a state of what was true at a business
 * time, which leaves out the events dated later and what depends on them
 * (domain_customer_evolve_dated), and growing the state's arrays within the
 * LEDGER_CUSTOMER_*_MAX limits.
 *
 * Does not own: deciding (domain_decide.c and domain_decide_*.c), the
 * aggregate's containers, indexes and lookups (domain_state.c).
 *
 * Evolve is the inverse guarantee: it accepts every event decide produces and
 * returns CORRUPT, never asserts, for anything else. Each apply validates the
 * whole event and reserves memory before it changes anything, so a failed
 * evolve leaves the state as it was.
 */
#include "domain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domain_internal.h"

/* ---- evolve -------------------------------------------------------------- */

/* Grows an array to hold count + 1 items, within max. CORRUPT past max (a
 * decision never lets that happen), NO_MEMORY. *items_out written on OK. */
static enum ledger_err grow(void *items, size_t *capacity, size_t count, size_t item_size,
                            size_t max, void **items_out)
{
    if (count >= max)
        return LEDGER_ERR_CORRUPT;
    if (count < *capacity) {
        *items_out = items;
        return LEDGER_ERR_OK;
    }
    size_t wanted = *capacity == 0 ? 8 : *capacity * 2;
    if (wanted > max)
        wanted = max;
    void *grown = realloc(items, wanted * item_size);
    if (grown == NULL)
        return LEDGER_ERR_NO_MEMORY;
    *capacity = wanted;
    *items_out = grown;
    return LEDGER_ERR_OK;
}

static void actor_from_message(const Ledger__V1__Actor *message, struct domain_actor *actor)
{
    memset(actor, 0, sizeof *actor);
    if (message == NULL)
        return;
    /* Both were validated ids when decided; a longer one is cut, not trusted. */
    domain__copy_cut(actor->principal_id, sizeof actor->principal_id, message->principal_id);
    actor->role = message->role;
    domain__copy_cut(actor->user, sizeof actor->user, message->user);
}

static bool money_from_message(const Ledger__V1__Money *message, bool positive_only,
                               struct domain_money *money)
{
    if (!codec_money_valid(message, positive_only))
        return false;
    money->amount_minor = message->amount_minor;
    memcpy(money->currency, message->currency, DOMAIN_CURRENCY_SIZE);
    return true;
}

/* A scope as stored: declared kind, target that fits (its meaning was checked
 * against the customer when decided). */
static bool scope_from_message(const Ledger__V1__Scope *message, struct domain_scope *scope)
{
    if (message == NULL || !codec_scope_kind_valid((int)message->kind))
        return false;
    scope->kind = message->kind;
    return domain__copy_string(scope->target, sizeof scope->target, message->target);
}

int64_t domain_event_business_us(const Ledger__V1__Event *event)
{
    return event->business_us != 0 ? event->business_us : event->recorded_us;
}

size_t domain_event_billing_subscriptions(const Ledger__V1__Event *event,
                                          const char *ids[LEDGER_EXCHANGE_REPLACEMENTS_MAX])
{
    size_t count = 0;
    switch (event->body_case) {
    case LEDGER__V1__EVENT__BODY_RESERVATION_PURCHASED:
        if (event->reservation_purchased != NULL)
            ids[count++] = event->reservation_purchased->billing_subscription_id;
        break;
    case LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_PURCHASED:
        if (event->savings_plan_purchased != NULL)
            ids[count++] = event->savings_plan_purchased->billing_subscription_id;
        break;
    case LEDGER__V1__EVENT__BODY_RESERVATION_RENEWED:
        if (event->reservation_renewed != NULL && event->reservation_renewed->renewal != NULL)
            ids[count++] = event->reservation_renewed->renewal->billing_subscription_id;
        break;
    case LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_RENEWED:
        if (event->savings_plan_renewed != NULL && event->savings_plan_renewed->renewal != NULL)
            ids[count++] = event->savings_plan_renewed->renewal->billing_subscription_id;
        break;
    case LEDGER__V1__EVENT__BODY_RESERVATION_EXCHANGED: {
        const Ledger__V1__ReservationExchanged *x = event->reservation_exchanged;
        for (size_t i = 0;
             x != NULL && i < x->n_replacements && count < LEDGER_EXCHANGE_REPLACEMENTS_MAX; i++) {
            const char *id = x->replacements[i]->billing_subscription_id;
            bool seen = false;
            for (size_t j = 0; j < count && !seen; j++)
                seen = domain__string_equal(ids[j], id);
            if (!seen)
                ids[count++] = id;
        }
        break;
    }
    default:
        break;
    }
    return count;
}

static bool reservation_from_message(const Ledger__V1__ReservationPurchased *message,
                                     const Ledger__V1__Event *event,
                                     struct domain_reservation *reservation)
{
    memset(reservation, 0, sizeof *reservation);
    if (message == NULL || !codec_id_valid(message->reservation_id) ||
        !codec_id_valid(message->order_id) || !codec_id_valid(message->billing_subscription_id) ||
        !codec_sku_valid(message->sku) || !codec_sku_valid(message->region) ||
        message->quantity == 0 || message->quantity > LEDGER_QUANTITY_MAX ||
        !codec_term_valid((int)message->term) ||
        !codec_billing_plan_valid((int)message->billing_plan) ||
        !codec_purchaser_valid((int)message->purchaser) ||
        message->expires_us <= message->starts_us)
        return false;
    if (!domain__copy_string(reservation->id, sizeof reservation->id, message->reservation_id) ||
        !domain__copy_string(reservation->order_id, sizeof reservation->order_id,
                             message->order_id) ||
        !domain__copy_string(reservation->billing_subscription_id,
                             sizeof reservation->billing_subscription_id,
                             message->billing_subscription_id) ||
        !domain__copy_string(reservation->sku, sizeof reservation->sku, message->sku) ||
        !domain__copy_string(reservation->region, sizeof reservation->region, message->region) ||
        !scope_from_message(message->scope, &reservation->scope) ||
        !money_from_message(message->price, true, &reservation->price) ||
        !money_from_message(message->retail_price, true, &reservation->retail_price))
        return false;
    reservation->quantity = message->quantity;
    reservation->term = message->term;
    reservation->billing_plan = message->billing_plan;
    reservation->auto_renew = message->auto_renew;
    reservation->state = LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_ACTIVE;
    reservation->starts_us = message->starts_us;
    reservation->expires_us = message->expires_us;
    reservation->purchaser = message->purchaser;
    actor_from_message(event->actor, &reservation->bought_by);
    reservation->bought_us = domain_event_business_us(event);
    reservation->changed_us = reservation->bought_us;
    reservation->ended_us = INT64_MAX;
    reservation->sequence = event->sequence;
    reservation->last_sequence = event->sequence;
    return true;
}

static enum ledger_err reserve_reservations(struct domain_customer *customer, size_t extra)
{
    /* Room for `extra` more, grown one step at a time within the limit. */
    for (size_t i = 0; i < extra; i++) {
        if (customer->reservation_count + i < customer->reservation_capacity)
            continue;
        void *grown = NULL;
        enum ledger_err err = grow(customer->reservations, &customer->reservation_capacity,
                                   customer->reservation_count + i, sizeof *customer->reservations,
                                   LEDGER_CUSTOMER_RESERVATIONS_MAX, &grown);
        if (err != LEDGER_ERR_OK)
            return err;
        customer->reservations = grown;
    }
    return domain__id_index_reserve(&customer->reservation_ids, customer->reservations,
                                    sizeof *customer->reservations, customer->reservation_count,
                                    customer->reservation_count + extra);
}

/* Appends a reservation (room reserved by reserve_reservations). */
static void append_reservation(struct domain_customer *customer,
                               const struct domain_reservation *reservation)
{
    customer->reservations[customer->reservation_count] = *reservation;
    domain__id_index_add(&customer->reservation_ids, customer->reservations,
                         sizeof *customer->reservations, customer->reservation_count);
    customer->reservation_count++;
}

static enum ledger_err add_reservation(struct domain_customer *customer,
                                       const Ledger__V1__ReservationPurchased *message,
                                       const Ledger__V1__Event *event)
{
    struct domain_reservation reservation;
    if (!reservation_from_message(message, event, &reservation) ||
        domain__find_reservation(customer, reservation.id) != NULL)
        return LEDGER_ERR_CORRUPT;
    enum ledger_err err = reserve_reservations(customer, 1);
    if (err != LEDGER_ERR_OK)
        return err;
    append_reservation(customer, &reservation);
    return LEDGER_ERR_OK;
}

static struct domain_reservation *active_reservation(struct domain_customer *customer,
                                                     const char *reservation_id)
{
    struct domain_reservation *reservation = domain__find_reservation(customer, reservation_id);
    if (reservation == NULL ||
        reservation->state != LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_ACTIVE)
        return NULL;
    return reservation;
}

static enum ledger_err apply_permission(struct domain_customer *customer,
                                        const Ledger__V1__Event *event,
                                        Ledger__V1__PermissionKind kind, bool enabled)
{
    if (!codec_permission_kind_valid((int)kind) || customer->permission_on[kind] == enabled)
        return LEDGER_ERR_CORRUPT;
    void *grown = NULL;
    enum ledger_err err =
        grow(customer->permission_changes, &customer->permission_change_capacity,
             customer->permission_change_count, sizeof *customer->permission_changes,
             LEDGER_CUSTOMER_PERMISSION_CHANGES_MAX, &grown);
    if (err != LEDGER_ERR_OK)
        return err;
    customer->permission_changes = grown;
    struct domain_permission_change *change =
        &customer->permission_changes[customer->permission_change_count++];
    memset(change, 0, sizeof *change);
    change->kind = kind;
    change->enabled = enabled;
    change->changed_us = domain_event_business_us(event);
    actor_from_message(event->actor, &change->changed_by);
    change->sequence = event->sequence;
    customer->permission_on[kind] = enabled;
    customer->permission_sequence[kind] = enabled ? event->sequence : 0;
    return LEDGER_ERR_OK;
}

static enum ledger_err apply_cancelled(struct domain_customer *customer,
                                       const Ledger__V1__Event *event)
{
    const Ledger__V1__ReservationCancelled *body = event->reservation_cancelled;
    struct domain_money refund, refund_usd;
    if (body == NULL || !money_from_message(body->refund, false, &refund) ||
        !money_from_message(body->refund_usd, false, &refund_usd) ||
        strcmp(refund_usd.currency, DOMAIN_CAP_CURRENCY) != 0)
        return LEDGER_ERR_CORRUPT;
    struct domain_reservation *reservation = active_reservation(customer, body->reservation_id);
    if (reservation == NULL)
        return LEDGER_ERR_CORRUPT;
    int64_t business_us = domain_event_business_us(event);
    /* The USD value of instalments not billed yet is recorded exactly when
     * the decision needed it, and is then more than 0; cancellations
     * recorded before it was stated count as they did. */
    int64_t unbilled_usd_minor = DOMAIN_UNBILLED_USD_UNSTATED;
    if (body->unbilled_usd != NULL) {
        struct domain_money unbilled_usd;
        if (!money_from_message(body->unbilled_usd, true, &unbilled_usd) ||
            strcmp(unbilled_usd.currency, DOMAIN_CAP_CURRENCY) != 0 ||
            !domain__unbilled_usd_needed(reservation, business_us, refund.amount_minor))
            return LEDGER_ERR_CORRUPT;
        unbilled_usd_minor = unbilled_usd.amount_minor;
    }
    int64_t usd_minor = domain__cancelled_usd(reservation, business_us, refund.amount_minor,
                                              refund_usd.amount_minor, unbilled_usd_minor);
    if (customer->refund_count >= LEDGER_CUSTOMER_REFUNDS_MAX)
        domain__prune_refunds(customer, business_us);
    /* One that counts nothing needs no room in a full list. */
    if (usd_minor > 0 || customer->refund_count < LEDGER_CUSTOMER_REFUNDS_MAX) {
        void *grown = NULL;
        enum ledger_err err =
            grow(customer->refunds, &customer->refund_capacity, customer->refund_count,
                 sizeof *customer->refunds, LEDGER_CUSTOMER_REFUNDS_MAX, &grown);
        if (err != LEDGER_ERR_OK)
            return err;
        customer->refunds = grown;
        customer->refunds[customer->refund_count].at_us = business_us;
        customer->refunds[customer->refund_count].usd_minor = usd_minor;
        customer->refund_count++;
    }
    reservation->state = LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_CANCELLED;
    reservation->ended_us = business_us;
    reservation->last_sequence = event->sequence;
    return LEDGER_ERR_OK;
}

/* Whether an exchange's replacements fit the customer: each one well formed,
 * new, and named once. Checked before anything changes, so that an event that
 * does not fit leaves the state as it was. */
static bool replacements_fit(const struct domain_customer *customer,
                             const Ledger__V1__ReservationExchanged *body,
                             const Ledger__V1__Event *event)
{
    if (body->n_replacements == 0 || body->n_replacements > LEDGER_EXCHANGE_REPLACEMENTS_MAX)
        return false;
    for (size_t i = 0; i < body->n_replacements; i++) {
        struct domain_reservation replacement;
        if (!reservation_from_message(body->replacements[i], event, &replacement) ||
            domain__find_reservation(customer, replacement.id) != NULL)
            return false;
        for (size_t j = 0; j < i; j++) {
            if (strcmp(body->replacements[j]->reservation_id, replacement.id) == 0)
                return false;
        }
    }
    return true;
}

static enum ledger_err apply_exchanged(struct domain_customer *customer,
                                       const Ledger__V1__Event *event)
{
    const Ledger__V1__ReservationExchanged *body = event->reservation_exchanged;
    if (body == NULL || body->n_returned_reservation_ids == 0 ||
        body->n_returned_reservation_ids > LEDGER_EXCHANGE_RETURNS_MAX ||
        !replacements_fit(customer, body, event))
        return LEDGER_ERR_CORRUPT;
    /* Version 1 exchanges bought exactly one replacement. */
    if (event->schema_version < 2 && body->n_replacements != 1)
        return LEDGER_ERR_CORRUPT;
    struct domain_reservation *returned[LEDGER_EXCHANGE_RETURNS_MAX];
    for (size_t i = 0; i < body->n_returned_reservation_ids; i++) {
        returned[i] = active_reservation(customer, body->returned_reservation_ids[i]);
        if (returned[i] == NULL)
            return LEDGER_ERR_CORRUPT;
        for (size_t j = 0; j < i; j++) {
            if (returned[j] == returned[i])
                return LEDGER_ERR_CORRUPT;
        }
    }
    /* Index, not pointers: reserving may move the array. */
    size_t indexes[LEDGER_EXCHANGE_RETURNS_MAX];
    for (size_t i = 0; i < body->n_returned_reservation_ids; i++)
        indexes[i] = (size_t)(returned[i] - customer->reservations);
    enum ledger_err err = reserve_reservations(customer, body->n_replacements);
    if (err != LEDGER_ERR_OK)
        return err;
    for (size_t i = 0; i < body->n_returned_reservation_ids; i++) {
        struct domain_reservation *reservation = &customer->reservations[indexes[i]];
        reservation->state = LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_EXCHANGED;
        reservation->ended_us = domain_event_business_us(event);
        reservation->last_sequence = event->sequence;
    }
    for (size_t i = 0; i < body->n_replacements; i++) {
        /* Converted again rather than kept: 32 of them would weigh on the
         * stack. It cannot fail after replacements_fit. */
        struct domain_reservation replacement;
        if (!reservation_from_message(body->replacements[i], event, &replacement))
            return LEDGER_ERR_CORRUPT;
        append_reservation(customer, &replacement);
    }
    return LEDGER_ERR_OK;
}

static enum ledger_err apply_renewed(struct domain_customer *customer,
                                     const Ledger__V1__Event *event)
{
    const Ledger__V1__ReservationRenewed *body = event->reservation_renewed;
    if (body == NULL)
        return LEDGER_ERR_CORRUPT;
    struct domain_reservation *old = active_reservation(customer, body->reservation_id);
    struct domain_reservation renewal;
    if (old == NULL || !reservation_from_message(body->renewal, event, &renewal) ||
        domain__find_reservation(customer, renewal.id) != NULL)
        return LEDGER_ERR_CORRUPT;
    size_t index = (size_t)(old - customer->reservations);
    enum ledger_err err = reserve_reservations(customer, 1);
    if (err != LEDGER_ERR_OK)
        return err;
    /* The old one is active until the renewal is recorded, which is active
     * from then on (bought_us), so that the two cover its time without a gap. */
    customer->reservations[index].state = LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_EXPIRED;
    customer->reservations[index].ended_us = domain_event_business_us(event);
    customer->reservations[index].last_sequence = event->sequence;
    append_reservation(customer, &renewal);
    return LEDGER_ERR_OK;
}

/* A new savings plan (a purchase's or a renewal's) from its message: false
 * when the message is malformed or the plan's id is taken. */
static bool savings_plan_from_message(const struct domain_customer *customer,
                                      const Ledger__V1__SavingsPlanPurchased *body,
                                      const Ledger__V1__Event *event,
                                      struct domain_savings_plan *plan)
{
    memset(plan, 0, sizeof *plan);
    if (body == NULL || !codec_id_valid(body->savings_plan_id) ||
        !codec_id_valid(body->billing_subscription_id) || !codec_term_valid((int)body->term) ||
        !codec_billing_plan_valid((int)body->billing_plan) ||
        !codec_purchaser_valid((int)body->purchaser) || body->expires_us <= body->starts_us ||
        domain__find_savings_plan(customer, body->savings_plan_id) != NULL)
        return false;
    if (!domain__copy_string(plan->id, sizeof plan->id, body->savings_plan_id) ||
        !domain__copy_string(plan->billing_subscription_id, sizeof plan->billing_subscription_id,
                             body->billing_subscription_id) ||
        !money_from_message(body->hourly_commitment, true, &plan->hourly_commitment) ||
        !scope_from_message(body->scope, &plan->scope) ||
        !money_from_message(body->price, true, &plan->price) ||
        !money_from_message(body->retail_price, true, &plan->retail_price))
        return false;
    plan->term = body->term;
    plan->billing_plan = body->billing_plan;
    plan->auto_renew = body->auto_renew;
    plan->starts_us = body->starts_us;
    plan->expires_us = body->expires_us;
    plan->purchaser = body->purchaser;
    actor_from_message(event->actor, &plan->bought_by);
    plan->bought_us = domain_event_business_us(event);
    plan->changed_us = plan->bought_us;
    plan->sequence = event->sequence;
    plan->last_sequence = event->sequence;
    return true;
}

/* Appends a savings plan made by savings_plan_from_message. */
static enum ledger_err append_savings_plan(struct domain_customer *customer,
                                           const struct domain_savings_plan *plan)
{
    void *grown = NULL;
    enum ledger_err err = grow(customer->savings_plans, &customer->savings_plan_capacity,
                               customer->savings_plan_count, sizeof *customer->savings_plans,
                               LEDGER_CUSTOMER_SAVINGS_PLANS_MAX, &grown);
    if (err != LEDGER_ERR_OK)
        return err;
    customer->savings_plans = grown;
    err = domain__id_index_reserve(&customer->savings_plan_ids, customer->savings_plans,
                                   sizeof *customer->savings_plans, customer->savings_plan_count,
                                   customer->savings_plan_count + 1);
    if (err != LEDGER_ERR_OK)
        return err;
    customer->savings_plans[customer->savings_plan_count] = *plan;
    domain__id_index_add(&customer->savings_plan_ids, customer->savings_plans,
                         sizeof *customer->savings_plans, customer->savings_plan_count);
    customer->savings_plan_count++;
    return LEDGER_ERR_OK;
}

static enum ledger_err apply_savings_plan(struct domain_customer *customer,
                                          const Ledger__V1__Event *event)
{
    struct domain_savings_plan plan;
    if (!savings_plan_from_message(customer, event->savings_plan_purchased, event, &plan))
        return LEDGER_ERR_CORRUPT;
    return append_savings_plan(customer, &plan);
}

/* A savings plan not ended by a renewal, or NULL. */
static struct domain_savings_plan *plan_in_force(struct domain_customer *customer,
                                                 const char *savings_plan_id)
{
    struct domain_savings_plan *plan = domain__find_savings_plan(customer, savings_plan_id);
    return plan != NULL && !plan->renewed ? plan : NULL;
}

static enum ledger_err apply_savings_plan_renewed(struct domain_customer *customer,
                                                  const Ledger__V1__Event *event)
{
    const Ledger__V1__SavingsPlanRenewed *body = event->savings_plan_renewed;
    if (body == NULL)
        return LEDGER_ERR_CORRUPT;
    struct domain_savings_plan *old = plan_in_force(customer, body->savings_plan_id);
    struct domain_savings_plan renewal;
    if (old == NULL || !savings_plan_from_message(customer, body->renewal, event, &renewal))
        return LEDGER_ERR_CORRUPT;
    size_t index = (size_t)(old - customer->savings_plans);
    enum ledger_err err = append_savings_plan(customer, &renewal);
    if (err != LEDGER_ERR_OK)
        return err;
    /* By index: appending may have moved the array. */
    customer->savings_plans[index].renewed = true;
    customer->savings_plans[index].last_sequence = event->sequence;
    return LEDGER_ERR_OK;
}

static enum ledger_err apply_subscription(struct domain_customer *customer,
                                          const Ledger__V1__Event *event)
{
    const Ledger__V1__SubscriptionPurchased *body = event->subscription_purchased;
    if (body == NULL || !codec_id_valid(body->subscription_id) ||
        !codec_offer_valid((int)body->offer) ||
        domain__find_subscription(customer, body->subscription_id) != NULL)
        return LEDGER_ERR_CORRUPT;
    void *grown = NULL;
    enum ledger_err err = grow(customer->subscriptions, &customer->subscription_capacity,
                               customer->subscription_count, sizeof *customer->subscriptions,
                               LEDGER_CUSTOMER_SUBSCRIPTIONS_MAX, &grown);
    if (err != LEDGER_ERR_OK)
        return err;
    customer->subscriptions = grown;
    struct domain_subscription *subscription =
        &customer->subscriptions[customer->subscription_count++];
    memset(subscription, 0, sizeof *subscription);
    domain__copy_string(subscription->id, sizeof subscription->id, body->subscription_id);
    subscription->offer = body->offer;
    subscription->status = LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_ACTIVE;
    subscription->purchased_us = domain_event_business_us(event);
    subscription->sequence = event->sequence;
    return LEDGER_ERR_OK;
}

/* The new status, and the change in the subscriptions' history. */
static enum ledger_err apply_status_changed(struct domain_customer *customer,
                                            const Ledger__V1__Event *event)
{
    const Ledger__V1__SubscriptionStatusChanged *body = event->subscription_status_changed;
    if (body == NULL)
        return LEDGER_ERR_CORRUPT;
    struct domain_subscription *subscription =
        domain__find_subscription(customer, body->subscription_id);
    if (subscription == NULL || !codec_subscription_status_valid((int)body->to_status) ||
        subscription->status != body->from_status || body->from_status == body->to_status)
        return LEDGER_ERR_CORRUPT;
    size_t index = (size_t)(subscription - customer->subscriptions);
    void *grown = NULL;
    enum ledger_err err = grow(customer->status_changes, &customer->status_change_capacity,
                               customer->status_change_count, sizeof *customer->status_changes,
                               LEDGER_CUSTOMER_STATUS_CHANGES_MAX, &grown);
    if (err != LEDGER_ERR_OK)
        return err;
    customer->status_changes = grown;
    struct domain_status_change *change =
        &customer->status_changes[customer->status_change_count++];
    change->subscription = (uint32_t)index;
    change->status = body->to_status;
    change->changed_us = domain_event_business_us(event);
    subscription->status = body->to_status;
    return LEDGER_ERR_OK;
}

static enum ledger_err apply_role_assigned(struct domain_customer *customer,
                                           const Ledger__V1__Event *event)
{
    const Ledger__V1__RoleAssigned *body = event->role_assigned;
    if (body == NULL || !codec_id_valid(body->user) || !codec_azure_role_valid((int)body->role) ||
        domain__find_subscription(customer, body->subscription_id) == NULL ||
        domain__find_role(customer, body->subscription_id, body->user, body->role) >= 0)
        return LEDGER_ERR_CORRUPT;
    void *grown = NULL;
    enum ledger_err err = grow(customer->roles, &customer->role_capacity, customer->role_count,
                               sizeof *customer->roles, LEDGER_CUSTOMER_ROLES_MAX, &grown);
    if (err != LEDGER_ERR_OK)
        return err;
    customer->roles = grown;
    struct domain_role_assignment *assignment = &customer->roles[customer->role_count++];
    memset(assignment, 0, sizeof *assignment);
    domain__copy_string(assignment->subscription_id, sizeof assignment->subscription_id,
                        body->subscription_id);
    domain__copy_string(assignment->user, sizeof assignment->user, body->user);
    assignment->role = body->role;
    assignment->assigned_us = domain_event_business_us(event);
    assignment->sequence = event->sequence;
    return LEDGER_ERR_OK;
}

static enum ledger_err apply_role_removed(struct domain_customer *customer,
                                          const Ledger__V1__Event *event)
{
    const Ledger__V1__RoleRemoved *body = event->role_removed;
    if (body == NULL || body->subscription_id == NULL || body->user == NULL)
        return LEDGER_ERR_CORRUPT;
    long index = domain__find_role(customer, body->subscription_id, body->user, body->role);
    if (index < 0)
        return LEDGER_ERR_CORRUPT;
    /* The assignment moves to the removals, whence rule 3 reads the roles
     * held at a business time before the removal's. */
    void *grown = NULL;
    enum ledger_err err = grow(customer->role_removals, &customer->role_removal_capacity,
                               customer->role_removal_count, sizeof *customer->role_removals,
                               LEDGER_CUSTOMER_ROLE_REMOVALS_MAX, &grown);
    if (err != LEDGER_ERR_OK)
        return err;
    customer->role_removals = grown;
    struct domain_role_removal *removal = &customer->role_removals[customer->role_removal_count++];
    removal->assignment = customer->roles[index];
    removal->removed_us = domain_event_business_us(event);
    removal->removed_sequence = event->sequence;
    /* Keep the order: decisions pick the first matching assignment. */
    memmove(&customer->roles[index], &customer->roles[index + 1],
            (customer->role_count - (size_t)index - 1) * sizeof *customer->roles);
    customer->role_count--;
    return LEDGER_ERR_OK;
}

/* One event's effect. Every branch validates before it changes anything. */
static enum ledger_err apply_body(struct domain_customer *customer, const Ledger__V1__Event *event)
{
    if (!customer->onboarded && event->body_case != LEDGER__V1__EVENT__BODY_CUSTOMER_ONBOARDED)
        return LEDGER_ERR_CORRUPT;
    switch (event->body_case) {
    case LEDGER__V1__EVENT__BODY_CUSTOMER_ONBOARDED: {
        const Ledger__V1__CustomerOnboarded *body = event->customer_onboarded;
        if (customer->onboarded || body == NULL || !codec_name_recorded(body->name) ||
            !domain__copy_string(customer->name, sizeof customer->name, body->name))
            return LEDGER_ERR_CORRUPT;
        customer->onboarded = true;
        customer->onboarded_us = domain_event_business_us(event);
        return LEDGER_ERR_OK;
    }
    case LEDGER__V1__EVENT__BODY_SUBSCRIPTION_PURCHASED:
        return apply_subscription(customer, event);
    case LEDGER__V1__EVENT__BODY_SUBSCRIPTION_STATUS_CHANGED:
        return apply_status_changed(customer, event);
    case LEDGER__V1__EVENT__BODY_ROLE_ASSIGNED:
        return apply_role_assigned(customer, event);
    case LEDGER__V1__EVENT__BODY_ROLE_REMOVED:
        return apply_role_removed(customer, event);
    case LEDGER__V1__EVENT__BODY_PURCHASE_PERMISSION_GRANTED:
        if (event->purchase_permission_granted == NULL)
            return LEDGER_ERR_CORRUPT;
        return apply_permission(customer, event, event->purchase_permission_granted->kind, true);
    case LEDGER__V1__EVENT__BODY_PURCHASE_PERMISSION_REVOKED:
        if (event->purchase_permission_revoked == NULL)
            return LEDGER_ERR_CORRUPT;
        return apply_permission(customer, event, event->purchase_permission_revoked->kind, false);
    case LEDGER__V1__EVENT__BODY_RESERVATION_PURCHASED:
        return add_reservation(customer, event->reservation_purchased, event);
    case LEDGER__V1__EVENT__BODY_RESERVATION_SCOPE_CHANGED: {
        const Ledger__V1__ReservationScopeChanged *body = event->reservation_scope_changed;
        struct domain_scope scope;
        if (body == NULL || !scope_from_message(body->to_scope, &scope))
            return LEDGER_ERR_CORRUPT;
        struct domain_reservation *reservation = active_reservation(customer, body->reservation_id);
        if (reservation == NULL)
            return LEDGER_ERR_CORRUPT;
        reservation->scope = scope;
        reservation->changed_us = domain_event_business_us(event);
        reservation->last_sequence = event->sequence;
        return LEDGER_ERR_OK;
    }
    case LEDGER__V1__EVENT__BODY_RESERVATION_RENEWAL_SET: {
        const Ledger__V1__ReservationRenewalSet *body = event->reservation_renewal_set;
        struct domain_reservation *reservation =
            body != NULL ? active_reservation(customer, body->reservation_id) : NULL;
        if (reservation == NULL)
            return LEDGER_ERR_CORRUPT;
        reservation->auto_renew = body->auto_renew;
        reservation->changed_us = domain_event_business_us(event);
        reservation->last_sequence = event->sequence;
        return LEDGER_ERR_OK;
    }
    case LEDGER__V1__EVENT__BODY_RESERVATION_RENEWED:
        return apply_renewed(customer, event);
    case LEDGER__V1__EVENT__BODY_RESERVATION_EXCHANGED:
        return apply_exchanged(customer, event);
    case LEDGER__V1__EVENT__BODY_RESERVATION_CANCELLED:
        return apply_cancelled(customer, event);
    case LEDGER__V1__EVENT__BODY_RESERVATION_EXPIRED: {
        const Ledger__V1__ReservationExpired *body = event->reservation_expired;
        struct domain_reservation *reservation =
            body != NULL ? active_reservation(customer, body->reservation_id) : NULL;
        if (reservation == NULL)
            return LEDGER_ERR_CORRUPT;
        reservation->state = LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_EXPIRED;
        reservation->ended_us = domain_event_business_us(event);
        reservation->last_sequence = event->sequence;
        return LEDGER_ERR_OK;
    }
    case LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_PURCHASED:
        return apply_savings_plan(customer, event);
    case LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_SCOPE_CHANGED: {
        const Ledger__V1__SavingsPlanScopeChanged *body = event->savings_plan_scope_changed;
        struct domain_scope scope;
        if (body == NULL || !scope_from_message(body->to_scope, &scope))
            return LEDGER_ERR_CORRUPT;
        struct domain_savings_plan *plan = plan_in_force(customer, body->savings_plan_id);
        if (plan == NULL)
            return LEDGER_ERR_CORRUPT;
        plan->scope = scope;
        plan->changed_us = domain_event_business_us(event);
        plan->last_sequence = event->sequence;
        return LEDGER_ERR_OK;
    }
    case LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_RENEWAL_SET: {
        const Ledger__V1__SavingsPlanRenewalSet *body = event->savings_plan_renewal_set;
        struct domain_savings_plan *plan =
            body != NULL ? plan_in_force(customer, body->savings_plan_id) : NULL;
        if (plan == NULL)
            return LEDGER_ERR_CORRUPT;
        plan->auto_renew = body->auto_renew;
        plan->changed_us = domain_event_business_us(event);
        plan->last_sequence = event->sequence;
        return LEDGER_ERR_OK;
    }
    case LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_RENEWED:
        return apply_savings_plan_renewed(customer, event);
    case LEDGER__V1__EVENT__BODY_COST_VISIBILITY_SET:
        if (event->cost_visibility_set == NULL)
            return LEDGER_ERR_CORRUPT;
        customer->retail_prices_visible = event->cost_visibility_set->retail_prices_visible;
        return LEDGER_ERR_OK;
    case LEDGER__V1__EVENT__BODY_PARTNER_REGISTERED:
    case LEDGER__V1__EVENT__BODY_PRINCIPAL_ADDED:
    case LEDGER__V1__EVENT__BODY_PRINCIPAL_REVOKED:
    case LEDGER__V1__EVENT__BODY_PRINCIPAL_SECRET_ROTATED:
    case LEDGER__V1__EVENT__BODY__NOT_SET:
    default:
        /* Not an event of a customer's stream (or one this build does not know). */
        return LEDGER_ERR_CORRUPT;
    }
}

/* Whether every billing subscription a purchase names is in the state. The
 * one dependency apply_body does not check itself: decisions made sure of
 * it, and a replay of every event always has it. */
static bool billing_subscriptions_present(const struct domain_customer *customer,
                                          const Ledger__V1__Event *event)
{
    const char *ids[LEDGER_EXCHANGE_REPLACEMENTS_MAX];
    size_t count = domain_event_billing_subscriptions(event, ids);
    for (size_t i = 0; i < count; i++) {
        if (domain__find_subscription(customer, ids[i] != NULL ? ids[i] : "") == NULL)
            return false;
    }
    return true;
}

enum ledger_err domain_customer_evolve_dated(struct domain_customer *known,
                                             struct domain_customer *dated,
                                             const Ledger__V1__Event *event, int64_t dated_us,
                                             bool *included_out)
{
    if (dated == NULL)
        return LEDGER_ERR_INTERNAL;
    /* First the whole stream, which checks the event as any replay does:
     * past this point the event is well formed and fits every event before
     * it, so that it can fail to fit `dated` only for something left out. */
    enum ledger_err err = domain_customer_evolve(known, event);
    if (err != LEDGER_ERR_OK)
        return err;
    bool included = false;
    if (domain_event_business_us(event) <= dated_us &&
        billing_subscriptions_present(dated, event)) {
        /* apply_body checks what the event acts on and leaves the state as
         * it was when that is missing (CORRUPT): then the event is left out. */
        err = apply_body(dated, event);
        if (err == LEDGER_ERR_OK)
            included = true;
        else if (err != LEDGER_ERR_CORRUPT)
            return err;
    }
    /* The stream's position, whether or not the event went in. */
    dated->version = event->stream_version;
    if (included_out != NULL)
        *included_out = included;
    return LEDGER_ERR_OK;
}

enum ledger_err domain_customer_evolve(struct domain_customer *customer,
                                       const Ledger__V1__Event *event)
{
    if (customer == NULL || event == NULL)
        return LEDGER_ERR_INTERNAL;
    /* Schema versions: every version this build knows is listed here; where a
     * later version changes what a field means, apply_body branches on
     * event->schema_version. 1 and 2 differ only in how many replacements an
     * exchange may buy (apply_exchanged). */
    if (event->schema_version < 1 || event->schema_version > LEDGER_SCHEMA_VERSION)
        return LEDGER_ERR_CORRUPT;
    if (!domain__string_equal(event->partner_id, customer->partner_id) ||
        !domain__string_equal(event->customer_id, customer->customer_id) ||
        event->stream_version != customer->version + 1)
        return LEDGER_ERR_CORRUPT;
    enum ledger_err err = apply_body(customer, event);
    if (err != LEDGER_ERR_OK)
        return err;
    customer->version = event->stream_version;
    return LEDGER_ERR_OK;
}
