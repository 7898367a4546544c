/*
 * domain_decide_principals.c: deciding the commands that set up who acts
 * and for whom: registering a partner; adding, revoking and rotating the
 * secret of a principal (partner staff, customer users, auditors, billing,
 * operators); onboarding a customer; buying a customer's subscription and
 * changing its status; and whether retail prices are shown to a customer.
 *
 * Rules of docs/domain.md enforced here: "Identities and their scope" (a
 * principal's partner and customer, a subscription of one customer), 2 and
 * 3 for a status change dated back (it may not take away the grounds of a
 * grant or of a savings plan's purchase), 10 (a subscription billed for
 * active reservations is not suspended).
 *
 * Does not own: the checks shared with other families (domain_decide_checks.c),
 * the grounds of purchases a change may not undo (domain_decide_permissions.c).
 */
#include "domain.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "domain_internal.h"

/* ---- partners and principals --------------------------------------------- */

enum ledger_err domain__decide_add_partner(struct domain_decision *d)
{
    const Ledger__V1__AddPartner *body = d->command->add_partner;
    enum ledger_err err = domain__check_id(d, body->partner_id, "add_partner.partner_id");
    if (err != LEDGER_ERR_OK)
        return err;
    if (!codec_name_valid(body->name))
        return domain__refuse(
            d, LEDGER_ERR_INVALID_ARGUMENT,
            "add_partner.name must be 1..%d bytes of printable UTF-8, without control, "
            "line separator or bidirectional formatting characters",
            LEDGER_NAME_LENGTH_MAX);
    if (!domain__string_equal(d->in->partner_id, body->partner_id))
        return domain__refuse(d, LEDGER_ERR_INVALID_ARGUMENT,
                              "the command acts on partner '%s' but add_partner names '%s'; set "
                              "Command.partner_id to the new partner's id",
                              d->in->partner_id, body->partner_id);
    if (d->in->partner_exists)
        return domain__refuse(d, LEDGER_ERR_PARTNER_EXISTS, "partner %s is already registered",
                              body->partner_id);
    Ledger__V1__PartnerRegistered *event = &d->out->body.partner_registered;
    ledger__v1__partner_registered__init(event);
    event->name = body->name;
    d->out->event.body_case = LEDGER__V1__EVENT__BODY_PARTNER_REGISTERED;
    d->out->event.partner_registered = event;
    return LEDGER_ERR_OK;
}

enum ledger_err domain__decide_add_principal(struct domain_decision *d)
{
    const Ledger__V1__AddPrincipal *body = d->command->add_principal;
    enum ledger_err err = domain__check_id(d, body->principal_id, "add_principal.principal_id");
    if (err == LEDGER_ERR_OK)
        err = domain__check_enum(d, CODEC_ENUM_ROLE, (int)body->role, "add_principal.role");
    if (err != LEDGER_ERR_OK)
        return err;
    Ledger__V1__Role role = body->role;
    bool partner_staff = role == LEDGER__V1__ROLE__ROLE_ADMIN_AGENT ||
                         role == LEDGER__V1__ROLE__ROLE_SALES_AGENT ||
                         role == LEDGER__V1__ROLE__ROLE_HELPDESK_AGENT;
    bool customer_user = role == LEDGER__V1__ROLE__ROLE_CUSTOMER_USER;
    if (role == LEDGER__V1__ROLE__ROLE_SYSTEM)
        return domain__refuse(d, LEDGER_ERR_INVALID_ARGUMENT,
                              "add_principal.role system is the ledger itself and cannot be added");
    if (domain_principal_id_reserved(body->principal_id))
        return domain__refuse(d, LEDGER_ERR_INVALID_ARGUMENT,
                              "add_principal.principal_id may not be '%s' nor begin with '%s': the "
                              "ledger's own principals are named so; choose another id",
                              DOMAIN_INIT_PRINCIPAL_ID, DOMAIN_RESERVED_ID_PREFIX);
    if ((partner_staff || customer_user) && domain__string_empty(body->partner_id))
        return domain__refuse(d, LEDGER_ERR_INVALID_ARGUMENT,
                              "add_principal.partner_id is required for a %s",
                              codec_role_name((int)role));
    if (role == LEDGER__V1__ROLE__ROLE_OPERATOR && !domain__string_empty(body->partner_id))
        return domain__refuse(d, LEDGER_ERR_INVALID_ARGUMENT,
                              "add_principal.partner_id must be empty for an operator");
    if (!domain__string_empty(body->partner_id)) {
        err = domain__check_id(d, body->partner_id, "add_principal.partner_id");
        if (err != LEDGER_ERR_OK)
            return err;
    }
    if (customer_user) {
        err = domain__check_id(d, body->customer_id, "add_principal.customer_id");
        if (err == LEDGER_ERR_OK)
            err = domain__check_id(d, body->user, "add_principal.user");
        if (err != LEDGER_ERR_OK)
            return err;
    } else if (!domain__string_empty(body->customer_id) || !domain__string_empty(body->user)) {
        return domain__refuse(d, LEDGER_ERR_INVALID_ARGUMENT,
                              "add_principal.customer_id and .user are for customer users only");
    }
    if (!domain__string_empty(body->partner_id)) {
        if (!domain__string_equal(d->in->partner_id, body->partner_id))
            return domain__refuse(
                d, LEDGER_ERR_INVALID_ARGUMENT,
                "the command acts on partner '%s' but add_principal names '%s'; set "
                "Command.partner_id to it",
                d->in->partner_id, body->partner_id);
        /* body->partner_id is the command's partner (checked above). */
        err = domain__need_partner(d);
        if (err != LEDGER_ERR_OK)
            return err;
    }
    /* A customer user of a customer the partner never onboarded could do
     * nothing: a mistyped customer id, said now rather than at its first
     * request. */
    if (customer_user && !d->in->principal_customer_onboarded)
        return domain__refuse(
            d, LEDGER_ERR_CUSTOMER_NOT_FOUND,
            "customer %s of partner %s was never onboarded: check the customer id, or "
            "onboard the customer first (ledgerctl customer add)",
            body->customer_id, body->partner_id);
    if (d->in->principal_exists)
        return domain__refuse(d, LEDGER_ERR_PRINCIPAL_EXISTS, "principal %s already exists",
                              body->principal_id);
    Ledger__V1__PrincipalAdded *event = &d->out->body.principal_added;
    ledger__v1__principal_added__init(event);
    event->principal_id = body->principal_id;
    event->role = role;
    event->partner_id = body->partner_id;
    event->customer_id = body->customer_id;
    event->user = body->user;
    d->out->event.body_case = LEDGER__V1__EVENT__BODY_PRINCIPAL_ADDED;
    d->out->event.principal_added = event;
    return LEDGER_ERR_OK;
}

/* What RevokePrincipal and RotatePrincipalSecret ask of the principal they
 * name: a valid id, not the actor's own (`self` says why not), a principal
 * that exists and is not revoked (refused with `revoked_err` and
 * `revoked_text`), and no envelope partner other than the principal's, under
 * which the event is recorded (fill_envelope). `field` and `noun` name the
 * command's field and its event in the messages. */
static enum ledger_err check_principal_target(struct domain_decision *d, const char *principal_id,
                                              const char *field, const char *self,
                                              enum ledger_err revoked_err, const char *revoked_text,
                                              const char *noun)
{
    enum ledger_err err = domain__check_id(d, principal_id, field);
    if (err != LEDGER_ERR_OK)
        return err;
    if (domain__string_equal(principal_id, d->principal->id))
        return domain__refuse(d, LEDGER_ERR_INVALID_ARGUMENT,
                              "principal %s cannot %s; another operator must", principal_id, self);
    if (!d->in->principal_exists)
        return domain__refuse(d, LEDGER_ERR_PRINCIPAL_NOT_FOUND, "no principal %s", principal_id);
    if (d->in->principal_revoked)
        return domain__refuse(d, revoked_err, "principal %s %s", principal_id, revoked_text);
    const char *bound = d->in->principal_partner_id != NULL ? d->in->principal_partner_id : "";
    if (!domain__string_empty(d->command->partner_id) &&
        !domain__string_equal(d->command->partner_id, bound))
        return domain__refuse(
            d, LEDGER_ERR_PARTNER_MISMATCH,
            "principal %s is %s%s, not of partner %s: name no partner (the %s is "
            "recorded under the principal's own)",
            principal_id, domain__string_empty(bound) ? "bound to every partner" : "of partner ",
            bound, d->command->partner_id, noun);
    return LEDGER_ERR_OK;
}

enum ledger_err domain__decide_revoke_principal(struct domain_decision *d)
{
    const Ledger__V1__RevokePrincipal *body = d->command->revoke_principal;
    enum ledger_err err = check_principal_target(
        d, body->principal_id, "revoke_principal.principal_id", "revoke itself",
        LEDGER_ERR_UNCHANGED, "is already revoked", "revocation");
    if (err != LEDGER_ERR_OK)
        return err;
    Ledger__V1__PrincipalRevoked *event = &d->out->body.principal_revoked;
    ledger__v1__principal_revoked__init(event);
    event->principal_id = body->principal_id;
    d->out->event.body_case = LEDGER__V1__EVENT__BODY_PRINCIPAL_REVOKED;
    d->out->event.principal_revoked = event;
    return LEDGER_ERR_OK;
}

/* The event names the principal only: the new secret is made by the engine
 * when it commits the event and never enters the log. */
enum ledger_err domain__decide_rotate_principal_secret(struct domain_decision *d)
{
    const Ledger__V1__RotatePrincipalSecret *body = d->command->rotate_principal_secret;
    if (domain_principal_id_reserved(body->principal_id))
        return domain__refuse(
            d, LEDGER_ERR_INVALID_ARGUMENT,
            "rotate_principal_secret.principal_id may not be '%s' nor begin with '%s': "
            "the ledger's own principals have no secret",
            DOMAIN_INIT_PRINCIPAL_ID, DOMAIN_RESERVED_ID_PREFIX);
    /* Not its own: the reply that carries the new secret may be lost, and a
     * principal that rotated its own secret would then hold none that works.
     * A revoked principal stays revoked: it gets no new secret. */
    enum ledger_err err = check_principal_target(
        d, body->principal_id, "rotate_principal_secret.principal_id", "rotate its own secret",
        LEDGER_ERR_INVALID_ARGUMENT,
        "is revoked: its secret can no longer be rotated; add a new principal instead", "rotation");
    if (err != LEDGER_ERR_OK)
        return err;
    Ledger__V1__PrincipalSecretRotated *event = &d->out->body.principal_secret_rotated;
    ledger__v1__principal_secret_rotated__init(event);
    event->principal_id = body->principal_id;
    d->out->event.body_case = LEDGER__V1__EVENT__BODY_PRINCIPAL_SECRET_ROTATED;
    d->out->event.principal_secret_rotated = event;
    return LEDGER_ERR_OK;
}

/* ---- customers, their subscriptions, cost visibility --------------------- */

enum ledger_err domain__decide_onboard_customer(struct domain_decision *d)
{
    const Ledger__V1__OnboardCustomer *body = d->command->onboard_customer;
    if (!codec_name_valid(body->name))
        return domain__refuse(
            d, LEDGER_ERR_INVALID_ARGUMENT,
            "onboard_customer.name must be 1..%d bytes of printable UTF-8, without "
            "control, line separator or bidirectional formatting characters",
            LEDGER_NAME_LENGTH_MAX);
    enum ledger_err err = domain__need_partner(d);
    if (err != LEDGER_ERR_OK)
        return err;
    if (d->customer->onboarded)
        return domain__refuse(d, LEDGER_ERR_CUSTOMER_EXISTS,
                              "customer %s of partner %s already exists", d->customer->customer_id,
                              d->in->partner_id);
    Ledger__V1__CustomerOnboarded *event = &d->out->body.customer_onboarded;
    ledger__v1__customer_onboarded__init(event);
    event->name = body->name;
    d->out->event.body_case = LEDGER__V1__EVENT__BODY_CUSTOMER_ONBOARDED;
    d->out->event.customer_onboarded = event;
    return LEDGER_ERR_OK;
}

/* A subscription id is the cloud's and names one subscription of one
 * customer: refuses one another customer of the partner bought
 * (input->subscription_holder_*), naming it, since every principal that may
 * buy a subscription (partner staff) may read every customer of its
 * partner. Customers of other partners are never looked at (docs/domain.md,
 * "Identities and their scope"). */
static enum ledger_err check_subscription_unheld(struct domain_decision *d,
                                                 const char *subscription_id)
{
    const char *holder = d->in->subscription_holder_customer_id;
    if (holder == NULL || holder[0] == '\0')
        return LEDGER_ERR_OK;
    return domain__refuse(d, LEDGER_ERR_SUBSCRIPTION_EXISTS,
                          "subscription %s already exists for customer %s of partner %s (sequence "
                          "%llu): a subscription belongs to one customer",
                          subscription_id, holder, d->in->partner_id,
                          (unsigned long long)d->in->subscription_holder_sequence);
}

enum ledger_err domain__decide_purchase_subscription(struct domain_decision *d)
{
    const Ledger__V1__PurchaseSubscription *body = d->command->purchase_subscription;
    enum ledger_err err = domain__check_id(d, body->subscription_id, "subscription_id");
    if (err == LEDGER_ERR_OK)
        err = domain__check_enum(d, CODEC_ENUM_OFFER, (int)body->offer, "offer");
    if (err == LEDGER_ERR_OK)
        err = domain__need_customer(d);
    if (err != LEDGER_ERR_OK)
        return err;
    if (domain__find_subscription(d->customer, body->subscription_id) != NULL)
        return domain__refuse(d, LEDGER_ERR_SUBSCRIPTION_EXISTS,
                              "subscription %s already exists for customer %s",
                              body->subscription_id, d->customer->customer_id);
    err = check_subscription_unheld(d, body->subscription_id);
    if (err == LEDGER_ERR_OK)
        err = domain__check_room(d, d->customer->subscription_count, 1,
                                 LEDGER_CUSTOMER_SUBSCRIPTIONS_MAX, "subscriptions");
    if (err != LEDGER_ERR_OK)
        return err;
    Ledger__V1__SubscriptionPurchased *event = &d->out->body.subscription_purchased;
    ledger__v1__subscription_purchased__init(event);
    event->subscription_id = body->subscription_id;
    event->offer = body->offer;
    d->out->event.body_case = LEDGER__V1__EVENT__BODY_SUBSCRIPTION_PURCHASED;
    d->out->event.subscription_purchased = event;
    return LEDGER_ERR_OK;
}

/* Rule 10 for a change of a subscription out of active dated at the
 * command's business time: only an active subscription may carry active
 * reservations, then as now. The change is its subscription's latest (they
 * are dated in order), so the new status holds from its date on: no
 * reservation billed to the subscription may be active now, nor have been
 * active at or after that date (one whose end, ended_us, comes after it,
 * whether bought before or since). */
static enum ledger_err check_no_reservations_since(struct domain_decision *d,
                                                   const char *subscription_id,
                                                   Ledger__V1__SubscriptionStatus status)
{
    const char *status_name = codec_enum_name(CODEC_ENUM_SUBSCRIPTION_STATUS, (int)status);
    const struct domain_reservation *latest = NULL; /* the last to end of those ended since */
    for (size_t i = 0; i < d->customer->reservation_count; i++) {
        const struct domain_reservation *reservation = &d->customer->reservations[i];
        if (strcmp(reservation->billing_subscription_id, subscription_id) != 0)
            continue;
        /* Past its term (by the ledger's clock) it awaits the record of its
         * expiry or renewal, and can no longer be cancelled or exchanged. */
        if (reservation->state == LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_ACTIVE &&
            reservation->expires_us <= d->in->now_us)
            return domain__refuse(
                d, LEDGER_ERR_SUBSCRIPTION_HAS_RESERVATIONS,
                "subscription %s is billed for reservation %s, still active though "
                "its term ended %s: record its %s; it cannot become %s before",
                subscription_id, reservation->id, domain__time_text(reservation->expires_us).text,
                reservation->auto_renew
                    ? "renewal or expiry (ledgerctl reservation renewed|expired)"
                    : "expiry (ledgerctl reservation expired)",
                status_name);
        if (reservation->state == LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_ACTIVE)
            return domain__refuse(d, LEDGER_ERR_SUBSCRIPTION_HAS_RESERVATIONS,
                                  "subscription %s is billed for active reservation %s; it cannot "
                                  "become %s until its reservations end (cancel or exchange them, "
                                  "or wait for their expiry)",
                                  subscription_id, reservation->id, status_name);
        if (reservation->ended_us > d->business_us &&
            (latest == NULL || reservation->ended_us > latest->ended_us))
            latest = reservation;
    }
    if (latest == NULL)
        return LEDGER_ERR_OK;
    return domain__refuse(
        d, LEDGER_ERR_SUBSCRIPTION_HAS_RESERVATIONS,
        "subscription %s cannot become %s on %s: reservation %s was active from %s "
        "until %s (%s); date the change at or after its end",
        subscription_id, status_name, domain__time_text(d->business_us).text, latest->id,
        domain__time_text(latest->bought_us).text, domain__time_text(latest->ended_us).text,
        codec_enum_name(CODEC_ENUM_RESERVATION_STATE, (int)latest->state));
}

/* Whether a subscription of the customer other than `except`, an Azure plan
 * or Azure Global one, was bought by `at_us` and active then
 * (domain__status_at for them all in one pass over the status changes, so
 * that checking every grant stays bounded by grants times changes). */
static bool other_eligible_active_at(const struct domain_customer *customer,
                                     const struct domain_subscription *except, int64_t at_us)
{
    Ledger__V1__SubscriptionStatus status[LEDGER_CUSTOMER_SUBSCRIPTIONS_MAX];
    int64_t since_us[LEDGER_CUSTOMER_SUBSCRIPTIONS_MAX];
    size_t count = customer->subscription_count;
    if (count > LEDGER_CUSTOMER_SUBSCRIPTIONS_MAX)
        count = LEDGER_CUSTOMER_SUBSCRIPTIONS_MAX;
    for (size_t i = 0; i < count; i++) {
        status[i] = LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_ACTIVE;
        since_us[i] = INT64_MIN;
    }
    for (size_t i = 0; i < customer->status_change_count; i++) {
        const struct domain_status_change *change = &customer->status_changes[i];
        if (change->subscription < count && change->changed_us <= at_us &&
            change->changed_us >= since_us[change->subscription]) {
            status[change->subscription] = change->status;
            since_us[change->subscription] = change->changed_us;
        }
    }
    for (size_t i = 0; i < count; i++) {
        const struct domain_subscription *other = &customer->subscriptions[i];
        if (other != except && domain__offer_eligible(other->offer) &&
            other->purchased_us <= at_us &&
            status[i] == LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_ACTIVE)
            return true;
    }
    return false;
}

/* Rule 2 for a change of `changed` out of active dated at the command's
 * business time: each grant dated then or since was decided with an active
 * Azure plan or Azure Global subscription at its business time, and the
 * change would take this one away from then on (in force at its own
 * instant, as the later recorded of two dated alike). Refused when no other
 * such subscription was active at a grant's time. */
static enum ledger_err check_grants_kept(struct domain_decision *d,
                                         const struct domain_subscription *changed)
{
    const struct domain_customer *customer = d->customer;
    if (!domain__offer_eligible(changed->offer))
        return LEDGER_ERR_OK;
    const struct domain_permission_change *latest = NULL;
    for (size_t i = 0; i < customer->permission_change_count; i++) {
        const struct domain_permission_change *grant = &customer->permission_changes[i];
        if (!grant->enabled || grant->changed_us < d->business_us ||
            (latest != NULL && grant->changed_us < latest->changed_us))
            continue;
        if (!other_eligible_active_at(customer, changed, grant->changed_us))
            latest = grant;
    }
    if (latest == NULL)
        return LEDGER_ERR_OK;
    return domain__refuse(
        d, LEDGER_ERR_INVALID_ARGUMENT,
        "permission '%s' was turned on %s with subscription %s the customer's only "
        "active Azure plan or Azure Global one (rule 2): a status change dated %s, at "
        "or before then, would undo that; date the status change after %s",
        domain__kind_name(latest->kind), domain__time_text(latest->changed_us).text, changed->id,
        domain__time_text(d->business_us).text, domain__time_text(latest->changed_us).text);
}

enum ledger_err domain__decide_set_subscription_status(struct domain_decision *d)
{
    const Ledger__V1__SetSubscriptionStatus *body = d->command->set_subscription_status;
    enum ledger_err err = domain__check_id(d, body->subscription_id, "subscription_id");
    if (err == LEDGER_ERR_OK)
        err = domain__check_enum(d, CODEC_ENUM_SUBSCRIPTION_STATUS, (int)body->status, "status");
    if (err == LEDGER_ERR_OK)
        err = domain__need_customer(d);
    if (err != LEDGER_ERR_OK)
        return err;
    const struct domain_subscription *subscription =
        domain__find_subscription(d->customer, body->subscription_id);
    if (subscription == NULL)
        return domain__refuse(d, LEDGER_ERR_SUBSCRIPTION_NOT_FOUND,
                              "subscription %s is not a subscription of customer %s",
                              body->subscription_id, d->customer->customer_id);
    if (subscription->status == body->status)
        return domain__refuse(d, LEDGER_ERR_UNCHANGED, "subscription %s is already %s",
                              body->subscription_id,
                              codec_enum_name(CODEC_ENUM_SUBSCRIPTION_STATUS, (int)body->status));
    /* Statuses are decided at business times (domain__status_at), so their
     * history is kept in date order. */
    int64_t since_us = domain__status_since(d->customer, subscription);
    if (d->business_us < since_us)
        return domain__refuse(
            d, LEDGER_ERR_INVALID_ARGUMENT,
            "subscription %s is %s since %s: a change of its status dated %s, before "
            "then, would reorder its history; date it at or after that",
            body->subscription_id,
            codec_enum_name(CODEC_ENUM_SUBSCRIPTION_STATUS, (int)subscription->status),
            domain__time_text(since_us).text, domain__time_text(d->business_us).text);
    if (d->customer->status_change_count >= LEDGER_CUSTOMER_STATUS_CHANGES_MAX)
        return domain__refuse(
            d, LEDGER_ERR_INVALID_ARGUMENT,
            "customer %s reached %d subscription status changes, the most one customer "
            "may hold",
            d->customer->customer_id, LEDGER_CUSTOMER_STATUS_CHANGES_MAX);
    if (body->status != LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_ACTIVE) {
        err = check_no_reservations_since(d, body->subscription_id, body->status);
        if (err != LEDGER_ERR_OK)
            return err;
        /* Rules 3 and 4 read the billing subscription's status at a purchase's
         * business time: not out of active under a savings plan bought on it
         * (rule 10 keeps the reservations). */
        struct domain_purchase_filter under = {
            .kind = LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_SAVINGS_PLANS,
            .from_us = d->business_us,
            .subscription_id = body->subscription_id,
        };
        char grounds[4 * DOMAIN_ID_SIZE];
        snprintf(grounds, sizeof grounds, "on subscription %s, active then", body->subscription_id);
        err = domain__check_not_under_purchase(d, &under, grounds, "status change");
        if (err == LEDGER_ERR_OK)
            err = check_grants_kept(d, subscription);
        if (err != LEDGER_ERR_OK)
            return err;
    }
    Ledger__V1__SubscriptionStatusChanged *event = &d->out->body.subscription_status_changed;
    ledger__v1__subscription_status_changed__init(event);
    event->subscription_id = body->subscription_id;
    event->from_status = subscription->status;
    event->to_status = body->status;
    d->out->event.body_case = LEDGER__V1__EVENT__BODY_SUBSCRIPTION_STATUS_CHANGED;
    d->out->event.subscription_status_changed = event;
    return LEDGER_ERR_OK;
}

enum ledger_err domain__decide_set_cost_visibility(struct domain_decision *d)
{
    const Ledger__V1__SetCostVisibility *body = d->command->set_cost_visibility;
    enum ledger_err err = domain__need_customer(d);
    if (err != LEDGER_ERR_OK)
        return err;
    if (d->customer->retail_prices_visible == body->retail_prices_visible)
        return domain__refuse(
            d, LEDGER_ERR_UNCHANGED, "retail prices are already %s to customer %s",
            body->retail_prices_visible ? "visible" : "hidden", d->customer->customer_id);
    Ledger__V1__CostVisibilitySet *event = &d->out->body.cost_visibility_set;
    ledger__v1__cost_visibility_set__init(event);
    event->retail_prices_visible = body->retail_prices_visible;
    d->out->event.body_case = LEDGER__V1__EVENT__BODY_COST_VISIBILITY_SET;
    d->out->event.cost_visibility_set = event;
    return LEDGER_ERR_OK;
}
