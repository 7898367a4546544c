/*
 * domain_decide_permissions.c: deciding the commands that turn a customer's
 * purchase permissions on and off and assign and remove the Azure roles of
 * its users on its subscriptions; and what a customer user's purchase needs
 * of them at its business time, with the grant and the assignment that
 * allowed it (allowed_by).
 *
 * Rules of docs/domain.md enforced here: 1 (permissions off until turned
 * on, only by an admin agent, never turned on or off twice), 2 (turned on
 * only with an active Azure plan or Azure Global subscription), 3 (a
 * customer purchase needs the permission on and Owner or Reservation
 * Purchaser on the billing subscription), and for changes dated back, that
 * they take away the grounds of no purchase recorded since.
 *
 * Does not own: the role table that says only an admin agent turns a
 * permission on or off (policy.c), the billing subscription's part of rule
 * 3 (domain__check_billing_subscription, domain_decide_checks.c).
 */
#include "domain.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "domain_internal.h"

/* ---- what a customer purchase needs: rule 3 ------------------------------ */

/* The roles that allow a customer purchase (rule 3), Owner first: a user
 * holding both is allowed by its Owner assignment. */
static const Ledger__V1__AzureRole purchase_roles[] = {
    LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER,
    LEDGER__V1__AZURE_ROLE__AZURE_ROLE_RESERVATION_PURCHASER,
};
#define PURCHASE_ROLE_COUNT (sizeof purchase_roles / sizeof purchase_roles[0])

/* How far `at_us` lies from [from_us, until_us): 0 within. */
static uint64_t distance_us(int64_t at_us, int64_t from_us, int64_t until_us)
{
    if (at_us < from_us)
        return (uint64_t)from_us - (uint64_t)at_us;
    if (at_us >= until_us)
        return (uint64_t)at_us - (uint64_t)until_us;
    return 0;
}

/* Rule 3's ROLE_MISSING for a customer user who held neither purchase role
 * on the billing subscription at the purchase's business time. The message
 * says when one was held, so that the purchase can be dated right: the
 * earliest assignment held now (assigned after that time), else the removed
 * assignment nearest to it. */
static enum ledger_err refuse_role_missing(struct domain_decision *d, const char *subscription_id)
{
    const struct domain_customer *customer = d->customer;
    const char *user = d->principal->user;
    const struct domain_role_assignment *later = NULL;
    const struct domain_role_removal *nearest = NULL;
    for (size_t i = 0; i < PURCHASE_ROLE_COUNT; i++) {
        long found = domain__find_role(customer, subscription_id, user, purchase_roles[i]);
        if (found >= 0 &&
            (later == NULL || customer->roles[found].assigned_us < later->assigned_us))
            later = &customer->roles[found];
        for (size_t j = 0; j < customer->role_removal_count; j++) {
            const struct domain_role_removal *removal = &customer->role_removals[j];
            if (!domain__removal_matches(removal, subscription_id, user, purchase_roles[i]) ||
                removal->removed_us <= removal->assignment.assigned_us)
                continue; /* held at no time */
            if (nearest == NULL ||
                distance_us(d->business_us, removal->assignment.assigned_us, removal->removed_us) <
                    distance_us(d->business_us, nearest->assignment.assigned_us,
                                nearest->removed_us))
                nearest = removal;
        }
    }
    if (later != NULL)
        return domain__refuse(d, LEDGER_ERR_ROLE_MISSING,
                              "user %s holds %s on subscription %s since %s: a purchase dated %s, "
                              "before then, was not allowed; date it at or after that",
                              user, codec_enum_name(CODEC_ENUM_AZURE_ROLE, (int)later->role),
                              subscription_id, domain__time_text(later->assigned_us).text,
                              domain__time_text(d->business_us).text);
    if (nearest != NULL)
        return domain__refuse(
            d, LEDGER_ERR_ROLE_MISSING,
            "user %s held %s on subscription %s from %s until %s, not on %s: date "
            "it then, or ask your partner's admin agent to assign you one again",
            user, codec_enum_name(CODEC_ENUM_AZURE_ROLE, (int)nearest->assignment.role),
            subscription_id, domain__time_text(nearest->assignment.assigned_us).text,
            domain__time_text(nearest->removed_us).text, domain__time_text(d->business_us).text);
    return domain__refuse(
        d, LEDGER_ERR_ROLE_MISSING,
        "user %s holds neither Owner nor Reservation Purchaser on subscription %s: "
        "ask your partner's admin agent to assign you one of them there",
        user, subscription_id);
}

/* The change of a permission in force at `at_us`: its latest change dated at
 * or before then, the later recorded of two dated alike; NULL before any
 * (off). The permission was on then when that change is a grant. */
static const struct domain_permission_change *permission_at(const struct domain_customer *customer,
                                                            Ledger__V1__PermissionKind kind,
                                                            int64_t at_us)
{
    const struct domain_permission_change *in_force = NULL;
    for (size_t i = 0; i < customer->permission_change_count; i++) {
        const struct domain_permission_change *change = &customer->permission_changes[i];
        if (change->kind == kind && change->changed_us <= at_us &&
            (in_force == NULL || change->changed_us >= in_force->changed_us))
            in_force = change;
    }
    return in_force;
}

/* Rule 3's PERMISSION_OFF for a purchase dated when the permission was off.
 * The message says when it was on, so that the purchase can be dated right:
 * since its grant in force when it is on now, else the time of the grant
 * nearest the purchase's date until the change that followed it. */
static enum ledger_err refuse_permission_off(struct domain_decision *d,
                                             Ledger__V1__PermissionKind kind)
{
    const struct domain_customer *customer = d->customer;
    const struct domain_permission_change *nearest = NULL;
    int64_t nearest_until_us = 0;
    for (size_t i = 0; i < customer->permission_change_count; i++) {
        const struct domain_permission_change *grant = &customer->permission_changes[i];
        if (grant->kind != kind || !grant->enabled)
            continue;
        int64_t until_us = INT64_MAX; /* on now */
        for (size_t j = i + 1; j < customer->permission_change_count && until_us == INT64_MAX;
             j++) {
            if (customer->permission_changes[j].kind == kind)
                until_us = customer->permission_changes[j].changed_us;
        }
        if (until_us == INT64_MAX && d->business_us < grant->changed_us)
            return domain__refuse(
                d, LEDGER_ERR_PERMISSION_OFF,
                "permission '%s' of customer %s is on since %s: a purchase dated %s, "
                "before then, was not allowed; date it at or after that",
                domain__kind_name(kind), customer->customer_id,
                domain__time_text(grant->changed_us).text, domain__time_text(d->business_us).text);
        if (until_us > grant->changed_us &&
            (nearest == NULL ||
             distance_us(d->business_us, grant->changed_us, until_us) <
                 distance_us(d->business_us, nearest->changed_us, nearest_until_us))) {
            nearest = grant;
            nearest_until_us = until_us;
        }
    }
    if (nearest != NULL)
        return domain__refuse(
            d, LEDGER_ERR_PERMISSION_OFF,
            "permission '%s' of customer %s was on from %s until %s, not on %s: date "
            "it then, or ask your partner's admin agent to turn it on again",
            domain__kind_name(kind), customer->customer_id,
            domain__time_text(nearest->changed_us).text, domain__time_text(nearest_until_us).text,
            domain__time_text(d->business_us).text);
    return domain__refuse(d, LEDGER_ERR_PERMISSION_OFF,
                          "permission '%s' is off for customer %s: ask your partner's admin agent "
                          "to turn it on",
                          domain__kind_name(kind), customer->customer_id);
}

/* Rule 3 for a customer user's purchase, at the moment of purchase (the
 * command's business time): the permission was on then (permission_at),
 * the billing subscription is active and eligible then and now
 * (domain__check_billing_subscription), and the user held Owner (preferred) or
 * Reservation Purchaser on it then (domain__role_at). A permission turned off or a
 * role removed since does not matter: they allowed the purchase when it was
 * made, and what the purchase goes on needing is a subscription to bill
 * (docs/domain.md, rule 3). A purchase dated when the permission was off or
 * the user held neither role is refused with the code of the condition that
 * failed. Fills out->allowed_by with the grant and the assignment in force
 * at the business time. */
enum ledger_err domain__check_customer_purchase(struct domain_decision *d,
                                                Ledger__V1__PermissionKind kind,
                                                const char *subscription_id)
{
    const struct domain_customer *customer = d->customer;
    const struct domain_permission_change *grant = permission_at(customer, kind, d->business_us);
    if (grant == NULL || !grant->enabled)
        return refuse_permission_off(d, kind);
    enum ledger_err err = domain__check_billing_subscription(
        d, subscription_id, kind == LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_RESERVATIONS);
    if (err != LEDGER_ERR_OK)
        return err;
    const struct domain_role_assignment *held = NULL;
    for (size_t i = 0; i < PURCHASE_ROLE_COUNT && held == NULL; i++)
        held = domain__role_at(customer, subscription_id, d->principal->user, purchase_roles[i],
                               d->business_us);
    if (held == NULL)
        return refuse_role_missing(d, subscription_id);
    ledger__v1__allowed_by__init(&d->out->allowed_by);
    d->out->allowed_by.permission_sequence = grant->sequence;
    d->out->allowed_by.role_sequence = held->sequence;
    return LEDGER_ERR_OK;
}

/* The latest purchase a filter selects (noun NULL when none). */
struct grounded_purchase {
    const char *noun; /* "reservation" or "savings plan" */
    const char *id;
    int64_t bought_us;
};

/* `kept_since_us`: since when the user holds kept_role now (INT64_MAX when
 * not), so that only purchases before then look through its removals. */
static void purchase_consider(const struct domain_customer *customer,
                              const struct domain_purchase_filter *filter, int64_t kept_since_us,
                              const char *noun, const char *id, const struct domain_actor *buyer,
                              const char *billed_to, int64_t bought_us,
                              struct grounded_purchase *latest)
{
    if (bought_us < filter->from_us || bought_us < latest->bought_us ||
        (filter->customer_only && buyer->role != LEDGER__V1__ROLE__ROLE_CUSTOMER_USER) ||
        (filter->subscription_id != NULL && strcmp(billed_to, filter->subscription_id) != 0) ||
        (filter->user != NULL && strcmp(buyer->user, filter->user) != 0))
        return;
    if (filter->kept_role != LEDGER__V1__AZURE_ROLE__AZURE_ROLE_UNSPECIFIED &&
        (bought_us >= kept_since_us ||
         domain__role_at(customer, billed_to, buyer->user, filter->kept_role, bought_us) != NULL))
        return;
    *latest = (struct grounded_purchase){noun, id, bought_us};
}

/* Refuses a change dated back (`change`, "revocation") that would undo the
 * grounds (`grounds`, "under permission 'reservations' of customer c1") of
 * the latest purchase the filter selects; OK when it selects none. */
enum ledger_err domain__check_not_under_purchase(struct domain_decision *d,
                                                 const struct domain_purchase_filter *filter,
                                                 const char *grounds, const char *change)
{
    const struct domain_customer *customer = d->customer;
    struct grounded_purchase latest = {NULL, NULL, INT64_MIN};
    bool all = filter->kind == LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_UNSPECIFIED;
    size_t reservations =
        all || filter->kind == LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_RESERVATIONS
            ? customer->reservation_count
            : 0;
    size_t plans = all || filter->kind == LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_SAVINGS_PLANS
                       ? customer->savings_plan_count
                       : 0;
    int64_t kept_since_us = INT64_MAX;
    if (filter->kept_role != LEDGER__V1__AZURE_ROLE__AZURE_ROLE_UNSPECIFIED &&
        filter->subscription_id != NULL && filter->user != NULL) {
        long held =
            domain__find_role(customer, filter->subscription_id, filter->user, filter->kept_role);
        if (held >= 0)
            kept_since_us = customer->roles[held].assigned_us;
    }
    for (size_t i = 0; i < reservations; i++) {
        const struct domain_reservation *r = &customer->reservations[i];
        purchase_consider(customer, filter, kept_since_us, "reservation", r->id, &r->bought_by,
                          r->billing_subscription_id, r->bought_us, &latest);
    }
    for (size_t i = 0; i < plans; i++) {
        const struct domain_savings_plan *p = &customer->savings_plans[i];
        purchase_consider(customer, filter, kept_since_us, "savings plan", p->id, &p->bought_by,
                          p->billing_subscription_id, p->starts_us, &latest);
    }
    if (latest.noun == NULL)
        return LEDGER_ERR_OK;
    return domain__refuse(
        d, LEDGER_ERR_INVALID_ARGUMENT,
        "%s %s was bought %s %s: a %s dated %s, at or before then, would undo that; "
        "date the %s after %s",
        latest.noun, latest.id, domain__time_text(latest.bought_us).text, grounds, change,
        domain__time_text(d->business_us).text, change, domain__time_text(latest.bought_us).text);
}

/* ---- role assignments and purchase permissions --------------------------- */

enum ledger_err domain__decide_role(struct domain_decision *d, bool assign)
{
    const char *subscription_id;
    const char *user;
    Ledger__V1__AzureRole role;
    if (assign) {
        subscription_id = d->command->assign_role->subscription_id;
        user = d->command->assign_role->user;
        role = d->command->assign_role->role;
    } else {
        subscription_id = d->command->remove_role->subscription_id;
        user = d->command->remove_role->user;
        role = d->command->remove_role->role;
    }
    enum ledger_err err = domain__check_id(d, subscription_id, "subscription_id");
    if (err == LEDGER_ERR_OK)
        err = domain__check_id(d, user, "user");
    if (err == LEDGER_ERR_OK)
        err = domain__check_enum(d, CODEC_ENUM_AZURE_ROLE, (int)role, "role");
    if (err == LEDGER_ERR_OK)
        err = domain__need_customer(d);
    if (err != LEDGER_ERR_OK)
        return err;
    const struct domain_subscription *subscription =
        domain__find_subscription(d->customer, subscription_id);
    if (subscription == NULL)
        return domain__refuse(d, LEDGER_ERR_SUBSCRIPTION_NOT_FOUND,
                              "subscription %s is not a subscription of customer %s",
                              subscription_id, d->customer->customer_id);
    /* Rule 3 reads a role from the business time of its assignment: there
     * was no subscription to hold it before the subscription was bought. */
    if (d->business_us < subscription->purchased_us)
        return domain__refuse(
            d, LEDGER_ERR_SUBSCRIPTION_NOT_FOUND,
            "subscription %s of customer %s was bought %s: a role on it cannot be %s "
            "dated %s, before then; date it at or after that",
            subscription_id, d->customer->customer_id,
            domain__time_text(subscription->purchased_us).text, assign ? "assigned" : "removed",
            domain__time_text(d->business_us).text);
    const char *role_name = codec_enum_name(CODEC_ENUM_AZURE_ROLE, (int)role);
    long index = domain__find_role(d->customer, subscription_id, user, role);
    bool held = index >= 0;
    if (assign && held)
        return domain__refuse(d, LEDGER_ERR_ROLE_ALREADY_ASSIGNED,
                              "user %s already holds %s on subscription %s", user, role_name,
                              subscription_id);
    if (!assign && !held)
        return domain__refuse(d, LEDGER_ERR_ROLE_NOT_ASSIGNED,
                              "user %s does not hold %s on subscription %s", user, role_name,
                              subscription_id);
    /* Rule 3 reads the roles held at a purchase's business time, so each
     * role's history (assigned, removed, assigned again) is kept in date
     * order: a removal is not dated before the assignment it ends, nor an
     * assignment before the previous removal of the same role. */
    if (!assign && d->business_us < d->customer->roles[index].assigned_us)
        return domain__refuse(
            d, LEDGER_ERR_INVALID_ARGUMENT,
            "user %s holds %s on subscription %s since %s: a removal dated %s, before "
            "then, would reorder its history; date the removal at or after that",
            user, role_name, subscription_id,
            domain__time_text(d->customer->roles[index].assigned_us).text,
            domain__time_text(d->business_us).text);
    /* A removal dated back of a purchase role: not under a purchase the user
     * made on the subscription that this assignment allowed, as its event
     * names (allowed_by). */
    if (!assign && (role == purchase_roles[0] || role == purchase_roles[1])) {
        struct domain_purchase_filter under = {
            .from_us = d->business_us,
            .subscription_id = subscription_id,
            .user = user,
            .customer_only = true,
            /* A purchase names Owner when the user held it (purchase_roles):
             * Reservation Purchaser goes from under it when Owner stays. */
            .kept_role = role == purchase_roles[0] ? LEDGER__V1__AZURE_ROLE__AZURE_ROLE_UNSPECIFIED
                                                   : purchase_roles[0],
        };
        char grounds[4 * DOMAIN_ID_SIZE];
        snprintf(grounds, sizeof grounds, "by user %s, who held %s on %s", user, role_name,
                 subscription_id);
        err = domain__check_not_under_purchase(d, &under, grounds, "removal");
        if (err != LEDGER_ERR_OK)
            return err;
    }
    const struct domain_role_removal *removed =
        assign ? domain__last_removal(d->customer, subscription_id, user, role) : NULL;
    if (removed != NULL && d->business_us < removed->removed_us)
        return domain__refuse(
            d, LEDGER_ERR_INVALID_ARGUMENT,
            "user %s held %s on subscription %s until %s: an assignment dated %s, "
            "before then, would reorder its history; date it at or after that",
            user, role_name, subscription_id, domain__time_text(removed->removed_us).text,
            domain__time_text(d->business_us).text);
    if (!assign && d->customer->role_removal_count >= LEDGER_CUSTOMER_ROLE_REMOVALS_MAX)
        return domain__refuse(
            d, LEDGER_ERR_INVALID_ARGUMENT,
            "customer %s reached %d role removals, the most one customer may hold",
            d->customer->customer_id, LEDGER_CUSTOMER_ROLE_REMOVALS_MAX);
    if (assign) {
        err = domain__check_room(d, d->customer->role_count, 1, LEDGER_CUSTOMER_ROLES_MAX,
                                 "role assignments");
        if (err != LEDGER_ERR_OK)
            return err;
        Ledger__V1__RoleAssigned *event = &d->out->body.role_assigned;
        ledger__v1__role_assigned__init(event);
        event->subscription_id = (char *)subscription_id;
        event->user = (char *)user;
        event->role = role;
        d->out->event.body_case = LEDGER__V1__EVENT__BODY_ROLE_ASSIGNED;
        d->out->event.role_assigned = event;
    } else {
        Ledger__V1__RoleRemoved *event = &d->out->body.role_removed;
        ledger__v1__role_removed__init(event);
        event->subscription_id = (char *)subscription_id;
        event->user = (char *)user;
        event->role = role;
        d->out->event.body_case = LEDGER__V1__EVENT__BODY_ROLE_REMOVED;
        d->out->event.role_removed = event;
    }
    return LEDGER_ERR_OK;
}

/* Rule 2 at `at_us`: whether the customer had an Azure plan or Azure
 * Global subscription bought by then and active then, whatever its status
 * now: a grant is a fact of its moment, which a later suspension does not
 * undo (decided so, a grant recorded late is allowed as it would have been
 * when recorded before the suspension). When it had none, *since_us is
 * the earliest time from which one of those active now has been active
 * (INT64_MAX when none is active now). */
static bool has_eligible_subscription(const struct domain_customer *customer, int64_t at_us,
                                      int64_t *since_us)
{
    *since_us = INT64_MAX;
    for (size_t i = 0; i < customer->subscription_count; i++) {
        const struct domain_subscription *subscription = &customer->subscriptions[i];
        if (!domain__offer_eligible(subscription->offer))
            continue;
        if (subscription->purchased_us <= at_us &&
            domain__status_at(customer, subscription, at_us) ==
                LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_ACTIVE)
            return true;
        if (subscription->status != LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_ACTIVE)
            continue;
        int64_t active_us = domain__status_since(customer, subscription);
        if (active_us < *since_us)
            *since_us = active_us;
    }
    return false;
}

/* A subscription of an eligible offer that is not active now (suspended,
 * disabled or expired), for advice when none is active; NULL when none. */
static const struct domain_subscription *inactive_eligible(const struct domain_customer *customer)
{
    for (size_t i = 0; i < customer->subscription_count; i++) {
        const struct domain_subscription *subscription = &customer->subscriptions[i];
        if (domain__offer_eligible(subscription->offer) &&
            subscription->status != LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_ACTIVE)
            return subscription;
    }
    return NULL;
}

enum ledger_err domain__decide_permission(struct domain_decision *d, bool grant)
{
    Ledger__V1__PermissionKind kind =
        grant ? d->command->grant_permission->kind : d->command->revoke_permission->kind;
    enum ledger_err err = domain__check_enum(d, CODEC_ENUM_PERMISSION_KIND, (int)kind, "kind");
    if (err == LEDGER_ERR_OK)
        err = domain__need_customer(d);
    if (err != LEDGER_ERR_OK)
        return err;
    const struct domain_customer *customer = d->customer;
    if (grant && customer->permission_on[kind])
        return domain__refuse(d, LEDGER_ERR_PERMISSION_ALREADY_ON,
                              "permission '%s' is already on for customer %s",
                              domain__kind_name(kind), customer->customer_id);
    if (!grant && !customer->permission_on[kind])
        return domain__refuse(d, LEDGER_ERR_PERMISSION_ALREADY_OFF,
                              "permission '%s' is already off for customer %s",
                              domain__kind_name(kind), customer->customer_id);
    /* Rule 3 reads a switch at a purchase's business time, so its history is
     * kept in date order, as a subscription's status history is. */
    const struct domain_permission_change *last = permission_at(customer, kind, INT64_MAX);
    if (last != NULL && d->business_us < last->changed_us)
        return domain__refuse(
            d, LEDGER_ERR_INVALID_ARGUMENT,
            "permission '%s' of customer %s is %s since %s: a %s dated %s, before "
            "then, would reorder its history; date it at or after that",
            domain__kind_name(kind), customer->customer_id, last->enabled ? "on" : "off",
            domain__time_text(last->changed_us).text, grant ? "grant" : "revocation",
            domain__time_text(d->business_us).text);
    /* A revocation dated back ends the grant in force at its date: not under
     * a purchase the grant allowed (it is dated after the grant, the switch's
     * latest change). */
    if (!grant) {
        struct domain_purchase_filter under = {
            .kind = kind, .from_us = d->business_us, .customer_only = true};
        char grounds[4 * DOMAIN_ID_SIZE];
        snprintf(grounds, sizeof grounds, "under permission '%s' of customer %s",
                 domain__kind_name(kind), customer->customer_id);
        err = domain__check_not_under_purchase(d, &under, grounds, "revocation");
        if (err != LEDGER_ERR_OK)
            return err;
    }
    if (customer->permission_change_count >= LEDGER_CUSTOMER_PERMISSION_CHANGES_MAX)
        return domain__refuse(
            d, LEDGER_ERR_INVALID_ARGUMENT,
            "customer %s reached %d permission changes, the most one customer may hold",
            customer->customer_id, LEDGER_CUSTOMER_PERMISSION_CHANGES_MAX);
    if (grant) {
        /* Rule 2, at the grant's business time. */
        int64_t since_us = 0;
        bool eligible = has_eligible_subscription(customer, d->business_us, &since_us);
        if (!eligible && since_us != INT64_MAX)
            return domain__refuse(
                d, LEDGER_ERR_NO_ELIGIBLE_SUBSCRIPTION,
                "customer %s had no active Azure plan or Azure Global subscription on "
                "%s, the grant's date; it has one since %s: permission '%s' could not "
                "be turned on before then; date the grant at or after that",
                customer->customer_id, domain__time_text(d->business_us).text,
                domain__time_text(since_us).text, domain__kind_name(kind));
        const struct domain_subscription *inactive = eligible ? NULL : inactive_eligible(customer);
        if (inactive != NULL)
            return domain__refuse(
                d, LEDGER_ERR_NO_ELIGIBLE_SUBSCRIPTION,
                "customer %s has no active Azure plan or Azure Global subscription: "
                "its %s subscription %s is %s; permission '%s' cannot be turned on "
                "until it is active again (ledgerctl subscription status --customer %s "
                "--subscription %s --status active) or the partner buys another",
                customer->customer_id, codec_enum_name(CODEC_ENUM_OFFER, (int)inactive->offer),
                inactive->id,
                codec_enum_name(CODEC_ENUM_SUBSCRIPTION_STATUS, (int)inactive->status),
                domain__kind_name(kind), customer->customer_id, inactive->id);
        if (!eligible)
            return domain__refuse(
                d, LEDGER_ERR_NO_ELIGIBLE_SUBSCRIPTION,
                "customer %s has no active Azure plan or Azure Global subscription; "
                "permission '%s' cannot be turned on until the partner buys one "
                "(ledgerctl subscription add --offer azure-plan)",
                customer->customer_id, domain__kind_name(kind));
        Ledger__V1__PurchasePermissionGranted *event = &d->out->body.purchase_permission_granted;
        ledger__v1__purchase_permission_granted__init(event);
        event->kind = kind;
        d->out->event.body_case = LEDGER__V1__EVENT__BODY_PURCHASE_PERMISSION_GRANTED;
        d->out->event.purchase_permission_granted = event;
    } else {
        Ledger__V1__PurchasePermissionRevoked *event = &d->out->body.purchase_permission_revoked;
        ledger__v1__purchase_permission_revoked__init(event);
        event->kind = kind;
        d->out->event.body_case = LEDGER__V1__EVENT__BODY_PURCHASE_PERMISSION_REVOKED;
        d->out->event.purchase_permission_revoked = event;
    }
    return LEDGER_ERR_OK;
}
