/*
 * domain_names.c: the activity log's action names of events, and which
 * events partner-facing views show.
 *
 * Does not own: the views that use them (views_activity.c).
 */
#include "domain.h"

#include <strings.h>

/* ---- names and visibility ------------------------------------------------ */

/* The activity log's action names (docs/events.md), by event body. */
static const struct {
    Ledger__V1__Event__BodyCase body;
    const char *name;
} action_names[] = {
    {LEDGER__V1__EVENT__BODY_PARTNER_REGISTERED, "Register Partner"},
    {LEDGER__V1__EVENT__BODY_PRINCIPAL_ADDED, "Add Principal"},
    {LEDGER__V1__EVENT__BODY_PRINCIPAL_REVOKED, "Revoke Principal"},
    {LEDGER__V1__EVENT__BODY_PRINCIPAL_SECRET_ROTATED, "Rotate Principal Secret"},
    {LEDGER__V1__EVENT__BODY_CUSTOMER_ONBOARDED, "Onboard Customer"},
    {LEDGER__V1__EVENT__BODY_SUBSCRIPTION_PURCHASED, "Purchase Subscription"},
    {LEDGER__V1__EVENT__BODY_SUBSCRIPTION_STATUS_CHANGED, "Change Subscription Status"},
    {LEDGER__V1__EVENT__BODY_ROLE_ASSIGNED, "Assign Role"},
    {LEDGER__V1__EVENT__BODY_ROLE_REMOVED, "Remove Role"},
    {LEDGER__V1__EVENT__BODY_PURCHASE_PERMISSION_GRANTED, "Create Customer Purchase Permissions"},
    {LEDGER__V1__EVENT__BODY_PURCHASE_PERMISSION_REVOKED, "Delete Customer Purchase Permissions"},
    {LEDGER__V1__EVENT__BODY_RESERVATION_PURCHASED, "Purchase Reservation"},
    {LEDGER__V1__EVENT__BODY_RESERVATION_SCOPE_CHANGED, "Change Reservation Scope"},
    {LEDGER__V1__EVENT__BODY_RESERVATION_RENEWAL_SET, "Set Reservation Auto-Renew"},
    {LEDGER__V1__EVENT__BODY_RESERVATION_RENEWED, "Renew Reservation"},
    {LEDGER__V1__EVENT__BODY_RESERVATION_EXCHANGED, "Exchange Reservation"},
    {LEDGER__V1__EVENT__BODY_RESERVATION_CANCELLED, "Cancel Reservation"},
    {LEDGER__V1__EVENT__BODY_RESERVATION_EXPIRED, "Expire Reservation"},
    {LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_PURCHASED, "Purchase Savings Plan"},
    {LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_SCOPE_CHANGED, "Change Savings Plan Scope"},
    {LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_RENEWAL_SET, "Set Savings Plan Auto-Renew"},
    {LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_RENEWED, "Renew Savings Plan"},
    {LEDGER__V1__EVENT__BODY_COST_VISIBILITY_SET, "Set Cost Visibility"},
};

const char *domain_action_name(const Ledger__V1__Event *event)
{
    for (size_t i = 0; event != NULL && i < sizeof action_names / sizeof action_names[0]; i++) {
        if (action_names[i].body == event->body_case)
            return action_names[i].name;
    }
    return "Unknown";
}

const char *domain_action_lookup(const char *name)
{
    for (size_t i = 0; name != NULL && i < sizeof action_names / sizeof action_names[0]; i++) {
        if (strcasecmp(action_names[i].name, name) == 0)
            return action_names[i].name;
    }
    return NULL;
}

bool domain_partner_visible(const Ledger__V1__Event *event)
{
    if (event == NULL)
        return false;
    const Ledger__V1__SavingsPlanPurchased *plan = NULL;
    if (event->body_case == LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_PURCHASED)
        plan = event->savings_plan_purchased;
    else if (event->body_case == LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_RENEWED &&
             event->savings_plan_renewed != NULL)
        plan = event->savings_plan_renewed->renewal; /* the purchaser of the renewed plan */
    else
        return true;
    return plan == NULL || plan->purchaser != LEDGER__V1__PURCHASER__PURCHASER_CUSTOMER;
}
