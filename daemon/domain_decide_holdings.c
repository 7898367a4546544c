/*
 * domain_decide_holdings.c: what the decisions of reservations and savings
 * plans (holdings) share: that a change is dated no earlier than the
 * holding's purchase and last change, so that its history stays in date
 * order; finding the holding a scope or auto-renew change names, in force
 * and with its term still running; the scope change and the auto-renew
 * change themselves; the fields a purchase of either carries alike (term,
 * billing plan, scope, prices); and the fields and rules a renewal shares.
 *
 * Rules of docs/domain.md enforced here: 5 and 6 (what may change of a
 * holding: its scope and auto-renew, and a renewal when auto-renew is on),
 * 9 (a purchase's term, billing plan and scope by shape; a new scope and
 * its target), 3, 4 and 10 for a renewal's billing subscription, 11 (a
 * purchase's prices; a renewal priced in its holding's currency).
 *
 * Does not own: each command's own decision and event
 * (domain_decide_reservations.c, domain_decide_savings.c).
 */
#include "domain.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "domain_internal.h"

/* A change of a reservation or a savings plan (`noun` and `id`, bought at
 * bought_us) takes effect at the command's business time, which may not
 * come before it was bought: a cancellation or an exchange would end months
 * that did not exist to bill or refund, a scope or auto-renew change would
 * change what did not exist yet. */
static enum ledger_err check_dated_after(struct domain_decision *d, const char *noun,
                                         const char *id, int64_t bought_us, const char *change)
{
    if (d->business_us >= bought_us)
        return LEDGER_ERR_OK;
    return domain__refuse(d, LEDGER_ERR_INVALID_ARGUMENT,
                          "%s dated %s is before %s %s was bought (%s): give a business time at or "
                          "after that",
                          change, domain__time_text(d->business_us).text, noun, id,
                          domain__time_text(bought_us).text);
}

/* A holding's history is kept in date order, as a switch's, a role's and a
 * status's are: a change dated before its last scope or auto-renew change
 * (changed_us, later than its purchase) would reorder it. */
enum ledger_err domain__check_after_change(struct domain_decision *d, const char *noun,
                                           const char *id, int64_t bought_us, int64_t changed_us,
                                           const char *change)
{
    enum ledger_err err = check_dated_after(d, noun, id, bought_us, change);
    if (err != LEDGER_ERR_OK || d->business_us >= changed_us)
        return err;
    return domain__refuse(
        d, LEDGER_ERR_INVALID_ARGUMENT,
        "%s %s was last changed %s (scope or auto-renew): %s dated %s, before then, "
        "would reorder its history; date it at or after that",
        noun, id, domain__time_text(changed_us).text, change,
        domain__time_text(d->business_us).text);
}

struct holding {
    const char *noun; /* for messages */
    const struct domain_scope *scope;
    bool auto_renew;
};

static bool scope_equal(const struct domain_scope *a, const Ledger__V1__Scope *b)
{
    return a->kind == b->kind && strcmp(a->target, b->target) == 0;
}

/* Checks the id (and with `scoped`, the command's scope, which may be
 * missing: its form before the customer is looked at, its target after), then
 * finds the holding: an active reservation, or a savings plan in force, bought
 * no later than the change (`change` names it for the message, NULL for a
 * command that records no change). */
static enum ledger_err find_holding(struct domain_decision *d, enum domain_holding_kind kind,
                                    const char *id, bool scoped, const Ledger__V1__Scope *scope,
                                    const char *change, struct holding *out)
{
    bool plan = kind == DOMAIN_HOLDING_SAVINGS_PLAN;
    enum ledger_err err = domain__check_id(d, id, plan ? "savings_plan_id" : "reservation_id");
    if (err == LEDGER_ERR_OK && scoped)
        err = domain__check_scope(d, scope, "scope");
    if (err == LEDGER_ERR_OK)
        err = domain__need_customer(d);
    if (err != LEDGER_ERR_OK)
        return err;
    if (plan) {
        const struct domain_savings_plan *found = NULL;
        err = domain__find_plan_in_force(d, id, &found);
        if (err == LEDGER_ERR_OK && found != NULL && change != NULL)
            err = domain__check_after_change(d, "savings plan", id, found->bought_us,
                                             found->changed_us, change);
        /* Over at its expiry: renewed by the cloud when set to renew, which
         * is what remains to record. */
        if (err == LEDGER_ERR_OK && found != NULL && change != NULL &&
            d->business_us >= found->expires_us)
            err = domain__refuse(
                d, LEDGER_ERR_SAVINGS_PLAN_NOT_ACTIVE,
                "savings plan %s ended with its term on %s: %s dated %s comes after "
                "that; %s",
                id, domain__time_text(found->expires_us).text, change,
                domain__time_text(d->business_us).text,
                found->auto_renew ? "record its renewal instead (ledgerctl savings-plan "
                                    "renewed)"
                                  : "a plan whose term has ended takes no change");
        if (err == LEDGER_ERR_OK && found != NULL)
            *out = (struct holding){"savings plan", &found->scope, found->auto_renew};
    } else {
        const struct domain_reservation *found = NULL;
        err = domain__find_active(d, id, &found);
        if (err == LEDGER_ERR_OK && found != NULL && change != NULL)
            err = domain__check_after_purchase(d, found, change);
        if (err == LEDGER_ERR_OK && found != NULL && change != NULL)
            err = domain__check_term_running(d, found, change);
        if (err == LEDGER_ERR_OK && found != NULL)
            *out = (struct holding){"reservation", &found->scope, found->auto_renew};
    }
    if (err == LEDGER_ERR_OK && scoped)
        err = domain__check_scope_target(d, scope);
    return err;
}

/* A scope change of a holding: refused when the scope is the same; else the
 * event's from and to scopes. */
enum ledger_err domain__decide_scope_change(struct domain_decision *d,
                                            enum domain_holding_kind kind, const char *id,
                                            const Ledger__V1__Scope *scope,
                                            Ledger__V1__Scope **from, Ledger__V1__Scope **to)
{
    struct holding holding;
    enum ledger_err err = find_holding(d, kind, id, true, scope, "a scope change", &holding);
    if (err != LEDGER_ERR_OK)
        return err;
    if (scope_equal(holding.scope, scope))
        return domain__refuse(d, LEDGER_ERR_UNCHANGED, "%s %s already has this scope", holding.noun,
                              id);
    struct domain_output *out = d->out;
    *from = domain__output_scope(&out->scope_from, out->scope_from_target,
                                 sizeof out->scope_from_target, holding.scope->kind,
                                 holding.scope->target);
    *to = domain__output_scope(&out->scope_to, out->scope_to_target, sizeof out->scope_to_target,
                               scope->kind, scope->target);
    return LEDGER_ERR_OK;
}

/* Turning a holding's auto-renew on or off: refused when it already is. */
enum ledger_err domain__decide_renewal_change(struct domain_decision *d,
                                              enum domain_holding_kind kind, const char *id,
                                              bool auto_renew)
{
    struct holding holding;
    enum ledger_err err = find_holding(d, kind, id, false, NULL, "an auto-renew change", &holding);
    if (err != LEDGER_ERR_OK)
        return err;
    if (holding.auto_renew == auto_renew)
        return domain__refuse(d, LEDGER_ERR_UNCHANGED, "auto-renew of %s %s is already %s",
                              holding.noun, id, auto_renew ? "on" : "off");
    return LEDGER_ERR_OK;
}

enum ledger_err domain__check_purchase_terms(struct domain_decision *d, Ledger__V1__Term term,
                                             Ledger__V1__BillingPlan billing_plan,
                                             const Ledger__V1__Scope *scope,
                                             const Ledger__V1__Money *price,
                                             const Ledger__V1__Money *retail_price)
{
    enum ledger_err err = domain__check_enum(d, CODEC_ENUM_TERM, (int)term, "term");
    if (err == LEDGER_ERR_OK)
        err = domain__check_enum(d, CODEC_ENUM_BILLING_PLAN, (int)billing_plan, "billing_plan");
    if (err == LEDGER_ERR_OK)
        err = domain__check_scope(d, scope, "scope");
    if (err == LEDGER_ERR_OK)
        err = domain__check_prices(d, price, retail_price);
    return err;
}

/* A renewal command's fields, each by shape, then the customer: shared by
 * RenewReservation and RenewSavingsPlan. */
enum ledger_err domain__check_renewal_fields(struct domain_decision *d, const char *id,
                                             const char *field, const Ledger__V1__Money *price,
                                             const Ledger__V1__Money *retail_price,
                                             const char *cloud_order_id)
{
    enum ledger_err err = domain__check_id(d, id, field);
    if (err == LEDGER_ERR_OK)
        err = domain__check_optional_id(d, cloud_order_id, "cloud_order_id");
    if (err == LEDGER_ERR_OK)
        err = domain__check_prices(d, price, retail_price);
    if (err == LEDGER_ERR_OK)
        err = domain__need_customer(d);
    return err;
}

/* The rules a renewal of a reservation or a savings plan shares, in order:
 * not dated before the holding was bought or last changed (its history kept
 * in date order), auto-renew on, the price in the
 * holding's currency, the billing subscription active and eligible at the
 * renewal's business time, and now too for a `reservation` (rules 3, 4 and
 * 10), and a new term that ends within the times the ledger records: its
 * end is a time the ledger records and shows, so it may not be past
 * LEDGER_TIME_US_MAX any more than a business time may. */
enum ledger_err domain__check_renewal(struct domain_decision *d,
                                      const struct domain_renewed_holding *old,
                                      const Ledger__V1__Money *price, bool reservation)
{
    enum ledger_err err = domain__check_after_change(d, old->noun, old->id, old->bought_us,
                                                     old->changed_us, "a renewal");
    if (err != LEDGER_ERR_OK)
        return err;
    if (!old->auto_renew)
        return domain__refuse(d, LEDGER_ERR_INVALID_ARGUMENT,
                              "auto-renew is off for %s %s; turn it on first or buy anew",
                              old->noun, old->id);
    if (strcmp(price->currency, old->currency) != 0)
        return domain__refuse(d, LEDGER_ERR_CURRENCY_MISMATCH,
                              "price is in %s but %s %s is priced in %s", price->currency,
                              old->noun, old->id, old->currency);
    err = domain__check_billing_subscription(d, old->billing_subscription_id, reservation);
    if (err != LEDGER_ERR_OK)
        return err;
    char renewal[sizeof "the renewal of savings plan " + DOMAIN_ID_SIZE];
    snprintf(renewal, sizeof renewal, "the renewal of %s %s", old->noun, old->id);
    return domain__check_term_end(d, old->expires_us, old->term, renewal);
}
