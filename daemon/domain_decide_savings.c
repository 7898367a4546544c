/*
 * domain_decide_savings.c: deciding the commands of a savings plan's life:
 * its purchase (by the partner or, under rule 3, by a customer user), its
 * scope and auto-renew changes, its renewal, and the refusal of every
 * cancellation; the fields of a savings plan purchase and the id of a
 * savings plan bought.
 *
 * Rules of docs/domain.md enforced here: 3 and 4 (who may buy, billing
 * what; a sales agent buys none, by the role table), 6 (never cancelled,
 * refunded or exchanged; commitment, term and billing plan never change),
 * 9 (P1Y or P3Y; billing plans; scopes), 11 (money). Rule 10 does not hold
 * savings plans: their subscription may leave active during their term.
 *
 * Does not own: what savings plans share with reservations
 * (domain_decide_holdings.c).
 */
#include "domain.h"

#include <stddef.h>
#include <stdio.h>

#include "domain_internal.h"

static enum ledger_err check_savings_plan_fields(struct domain_decision *d,
                                                 const Ledger__V1__PurchaseSavingsPlan *body)
{
    enum ledger_err err =
        domain__check_id(d, body->billing_subscription_id, "billing_subscription_id");
    if (err == LEDGER_ERR_OK)
        err = domain__check_optional_id(d, body->cloud_order_id, "cloud_order_id");
    if (err == LEDGER_ERR_OK)
        err = domain__check_money(d, body->hourly_commitment, "hourly_commitment", true);
    if (err == LEDGER_ERR_OK)
        err = domain__check_purchase_terms(d, body->term, body->billing_plan, body->scope,
                                           body->price, body->retail_price);
    if (err == LEDGER_ERR_OK)
        err = domain__check_same_currency(d, body->hourly_commitment, "hourly_commitment",
                                          body->price, "price");
    if (err != LEDGER_ERR_OK)
        return err;
    if (body->term == LEDGER__V1__TERM__TERM_P5Y)
        return domain__refuse(d, LEDGER_ERR_INVALID_TERM,
                              "savings plans are offered for P1Y or P3Y only");
    return domain__check_term_end(d, d->business_us, body->term, "the savings plan");
}

/* The savings plan a change names. */
static enum ledger_err find_plan(struct domain_decision *d, const char *savings_plan_id,
                                 const struct domain_savings_plan **out)
{
    const struct domain_savings_plan *plan =
        domain__find_savings_plan(d->customer, savings_plan_id);
    if (plan == NULL)
        return domain__refuse(d, LEDGER_ERR_SAVINGS_PLAN_NOT_FOUND,
                              "savings plan %s is not a savings plan of customer %s",
                              savings_plan_id, d->customer->customer_id);
    *out = plan;
    return LEDGER_ERR_OK;
}

/* A savings plan still in force: found, and not ended by a renewal. */
enum ledger_err domain__find_plan_in_force(struct domain_decision *d, const char *savings_plan_id,
                                           const struct domain_savings_plan **out)
{
    const struct domain_savings_plan *plan = NULL;
    enum ledger_err err = find_plan(d, savings_plan_id, &plan);
    if (err != LEDGER_ERR_OK || plan == NULL)
        return err;
    if (plan->renewed)
        return domain__refuse(
            d, LEDGER_ERR_SAVINGS_PLAN_NOT_ACTIVE,
            "savings plan %s was renewed and its term has ended; act on its renewal "
            "instead (ledgerctl savings-plans lists it)",
            savings_plan_id);
    *out = plan;
    return LEDGER_ERR_OK;
}

/* Room for one more savings plan of the customer: a purchase or a renewal
 * adds one, and a renewed plan still counts. */
static enum ledger_err check_savings_plan_room(struct domain_decision *d)
{
    return domain__check_room(d, d->customer->savings_plan_count, 1,
                              LEDGER_CUSTOMER_SAVINGS_PLANS_MAX, "savings plans");
}

/* Initializes the SavingsPlanPurchased of a purchase or a renewal with its
 * id, sp-<seq> ("Generated ids"). */
static void new_savings_plan(struct domain_decision *d, Ledger__V1__SavingsPlanPurchased *plan)
{
    struct domain_output *out = d->out;
    ledger__v1__savings_plan_purchased__init(plan);
    snprintf(out->savings_plan_id, sizeof out->savings_plan_id, "sp-%llu",
             (unsigned long long)d->in->sequence);
    plan->savings_plan_id = out->savings_plan_id;
}

enum ledger_err domain__decide_purchase_savings_plan(struct domain_decision *d)
{
    const Ledger__V1__PurchaseSavingsPlan *body = d->command->purchase_savings_plan;
    enum ledger_err err = check_savings_plan_fields(d, body);
    if (err == LEDGER_ERR_OK)
        err = domain__need_customer(d);
    if (err != LEDGER_ERR_OK)
        return err;
    bool customer = domain__is_customer_user(d);
    if (customer)
        err = domain__check_customer_purchase(
            d, LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_SAVINGS_PLANS,
            body->billing_subscription_id);
    else
        err = domain__check_billing_subscription(d, body->billing_subscription_id, false);
    if (err == LEDGER_ERR_OK)
        err = domain__check_scope_target(d, body->scope);
    if (err != LEDGER_ERR_OK)
        return err;
    err = check_savings_plan_room(d);
    if (err == LEDGER_ERR_OK)
        err = domain__check_cloud_order_unheld(d, body->cloud_order_id);
    if (err != LEDGER_ERR_OK)
        return err;
    struct domain_output *out = d->out;
    Ledger__V1__SavingsPlanPurchased *event = &out->body.savings_plan_purchased;
    new_savings_plan(d, event);
    event->billing_subscription_id = body->billing_subscription_id;
    event->hourly_commitment = body->hourly_commitment;
    event->term = body->term;
    event->billing_plan = body->billing_plan;
    event->scope =
        domain__output_scope(&out->scope_to, out->scope_to_target, sizeof out->scope_to_target,
                             body->scope->kind, body->scope->target);
    event->price = body->price;
    event->retail_price = body->retail_price;
    event->auto_renew = body->auto_renew;
    event->cloud_order_id = body->cloud_order_id;
    event->purchaser = customer ? LEDGER__V1__PURCHASER__PURCHASER_CUSTOMER
                                : LEDGER__V1__PURCHASER__PURCHASER_PARTNER;
    event->starts_us = d->business_us;
    event->expires_us = domain__term_end(d->business_us, body->term);
    event->allowed_by = customer ? &out->allowed_by : NULL;
    out->event.body_case = LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_PURCHASED;
    out->event.savings_plan_purchased = event;
    return LEDGER_ERR_OK;
}

enum ledger_err domain__decide_change_savings_plan_scope(struct domain_decision *d)
{
    const Ledger__V1__ChangeSavingsPlanScope *body = d->command->change_savings_plan_scope;
    Ledger__V1__SavingsPlanScopeChanged *event = &d->out->body.savings_plan_scope_changed;
    ledger__v1__savings_plan_scope_changed__init(event);
    enum ledger_err err =
        domain__decide_scope_change(d, DOMAIN_HOLDING_SAVINGS_PLAN, body->savings_plan_id,
                                    body->scope, &event->from_scope, &event->to_scope);
    if (err != LEDGER_ERR_OK)
        return err;
    event->savings_plan_id = body->savings_plan_id;
    d->out->event.body_case = LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_SCOPE_CHANGED;
    d->out->event.savings_plan_scope_changed = event;
    return LEDGER_ERR_OK;
}

enum ledger_err domain__decide_set_savings_plan_renewal(struct domain_decision *d)
{
    const Ledger__V1__SetSavingsPlanRenewal *body = d->command->set_savings_plan_renewal;
    enum ledger_err err = domain__decide_renewal_change(d, DOMAIN_HOLDING_SAVINGS_PLAN,
                                                        body->savings_plan_id, body->auto_renew);
    if (err != LEDGER_ERR_OK)
        return err;
    Ledger__V1__SavingsPlanRenewalSet *event = &d->out->body.savings_plan_renewal_set;
    ledger__v1__savings_plan_renewal_set__init(event);
    event->savings_plan_id = body->savings_plan_id;
    event->auto_renew = body->auto_renew;
    d->out->event.body_case = LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_RENEWAL_SET;
    d->out->event.savings_plan_renewal_set = event;
    return LEDGER_ERR_OK;
}

enum ledger_err domain__decide_renew_savings_plan(struct domain_decision *d)
{
    const Ledger__V1__RenewSavingsPlan *body = d->command->renew_savings_plan;
    const struct domain_savings_plan *old = NULL;
    enum ledger_err err =
        domain__check_renewal_fields(d, body->savings_plan_id, "savings_plan_id", body->price,
                                     body->retail_price, body->cloud_order_id);
    if (err == LEDGER_ERR_OK)
        err = domain__find_plan_in_force(d, body->savings_plan_id, &old);
    if (err != LEDGER_ERR_OK)
        return err;
    struct domain_renewed_holding holding = DOMAIN_RENEWED_HOLDING("savings plan", old);
    err = domain__check_renewal(d, &holding, body->price, false);
    if (err == LEDGER_ERR_OK)
        err = check_savings_plan_room(d);
    if (err == LEDGER_ERR_OK)
        err = domain__check_cloud_order_unheld(d, body->cloud_order_id);
    if (err != LEDGER_ERR_OK)
        return err;
    struct domain_output *out = d->out;
    Ledger__V1__SavingsPlanPurchased *renewal = &out->savings_plan;
    new_savings_plan(d, renewal);
    domain__copy_cut(out->billing_subscription_id, sizeof out->billing_subscription_id,
                     old->billing_subscription_id);
    renewal->billing_subscription_id = out->billing_subscription_id;
    renewal->hourly_commitment = domain__output_money(d, 0, old->hourly_commitment.amount_minor,
                                                      old->hourly_commitment.currency);
    DOMAIN_RENEWAL_FROM(renewal, old, body, out);
    Ledger__V1__SavingsPlanRenewed *event = &out->body.savings_plan_renewed;
    ledger__v1__savings_plan_renewed__init(event);
    event->savings_plan_id = body->savings_plan_id;
    event->renewal = renewal;
    out->event.body_case = LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_RENEWED;
    out->event.savings_plan_renewed = event;
    return LEDGER_ERR_OK;
}

enum ledger_err domain__decide_cancel_savings_plan(struct domain_decision *d)
{
    const Ledger__V1__CancelSavingsPlan *body = d->command->cancel_savings_plan;
    const struct domain_savings_plan *plan = NULL;
    enum ledger_err err = domain__check_id(d, body->savings_plan_id, "savings_plan_id");
    if (err == LEDGER_ERR_OK)
        err = domain__need_customer(d);
    if (err == LEDGER_ERR_OK)
        err = find_plan(d, body->savings_plan_id, &plan);
    if (err != LEDGER_ERR_OK)
        return err;
    /* Rule 6: never, whether in force or renewed. */
    return domain__refuse(d, LEDGER_ERR_SAVINGS_PLAN_NOT_REFUNDABLE,
                          "savings plan %s cannot be cancelled, refunded or exchanged",
                          body->savings_plan_id);
}
