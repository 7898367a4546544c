/*
 * ctl_verbs_customers.c: the write verbs that set up partners and their
 * customers: partner add (operator), customer add, subscription add and
 * status, role assign and remove (a customer user's Azure roles), permission
 * enable and disable (the customer's purchase permissions) and
 * cost-visibility set.
 */
#include "ctl_verbs_internal.h"

#define OPT_SUBSCRIPTION                                                                           \
    {                                                                                              \
        "subscription", CTL_OPTION_VALUE, "ID", "the customer's subscription", true                \
    }

const struct ctl_option ctl__partner_add_options[] = {
    {"partner", CTL_OPTION_VALUE, "P", "the new partner's id", true},
    {"name", CTL_OPTION_VALUE, "NAME", "its display name", true},
    OPT_END,
};

enum ledger_err ctl__run_partner_add(struct ctl_context *context, const struct ctl_args *args)
{
    struct write write;
    const char *partner = NULL, *name = NULL;
    enum ledger_err err;
    if ((err = ctl__id_arg(context, args, "partner", &partner)) != LEDGER_ERR_OK ||
        (err = ctl__name_arg(context, args, "name", &name)) != LEDGER_ERR_OK ||
        (err = ctl__write_begin(context, args, &write)) != LEDGER_ERR_OK) {
        return err;
    }
    Ledger__V1__AddPartner body = LEDGER__V1__ADD_PARTNER__INIT;
    body.partner_id = (char *)(uintptr_t)partner;
    body.name = (char *)(uintptr_t)name;
    /* The command acts on the partner it registers. */
    write.command.partner_id = (char *)(uintptr_t)partner;
    write.command.body_case = LEDGER__V1__COMMAND__BODY_ADD_PARTNER;
    write.command.add_partner = &body;
    return ctl__write_send(context, &write);
}

const struct ctl_option ctl__customer_add_options[] = {
    OPT_CUSTOMER,
    {"name", CTL_OPTION_VALUE, "NAME", "the customer's display name", true},
    OPT_END,
};

enum ledger_err ctl__run_customer_add(struct ctl_context *context, const struct ctl_args *args)
{
    struct write write;
    const char *name = NULL;
    enum ledger_err err;
    if ((err = ctl__name_arg(context, args, "name", &name)) != LEDGER_ERR_OK ||
        (err = ctl__write_begin(context, args, &write)) != LEDGER_ERR_OK) {
        return err;
    }
    Ledger__V1__OnboardCustomer body = LEDGER__V1__ONBOARD_CUSTOMER__INIT;
    body.name = (char *)(uintptr_t)name;
    write.command.body_case = LEDGER__V1__COMMAND__BODY_ONBOARD_CUSTOMER;
    write.command.onboard_customer = &body;
    return ctl__write_send(context, &write);
}

const struct ctl_option ctl__subscription_add_options[] = {
    OPT_CUSTOMER,
    {"subscription", CTL_OPTION_VALUE, "ID", "the new subscription's id", true},
    {"offer", CTL_OPTION_VALUE, "OFFER", "azure-plan|azure-global|other", true},
    OPT_END,
};

enum ledger_err ctl__run_subscription_add(struct ctl_context *context, const struct ctl_args *args)
{
    struct write write;
    const char *subscription = NULL;
    int offer = 0;
    enum ledger_err err;
    if ((err = ctl__id_arg(context, args, "subscription", &subscription)) != LEDGER_ERR_OK ||
        (err = ctl__enum_arg(context, args, "offer", &ledger__v1__offer__descriptor, &offer)) !=
            LEDGER_ERR_OK ||
        (err = ctl__write_begin(context, args, &write)) != LEDGER_ERR_OK) {
        return err;
    }
    Ledger__V1__PurchaseSubscription body = LEDGER__V1__PURCHASE_SUBSCRIPTION__INIT;
    body.subscription_id = (char *)(uintptr_t)subscription;
    body.offer = (Ledger__V1__Offer)offer;
    write.command.body_case = LEDGER__V1__COMMAND__BODY_PURCHASE_SUBSCRIPTION;
    write.command.purchase_subscription = &body;
    return ctl__write_send(context, &write);
}

const struct ctl_option ctl__subscription_status_options[] = {
    OPT_CUSTOMER,
    OPT_SUBSCRIPTION,
    {"status", CTL_OPTION_VALUE, "STATUS", "active|suspended|disabled|expired", true},
    OPT_END,
};

enum ledger_err ctl__run_subscription_status(struct ctl_context *context,
                                             const struct ctl_args *args)
{
    struct write write;
    const char *subscription = NULL;
    int status = 0;
    enum ledger_err err;
    if ((err = ctl__id_arg(context, args, "subscription", &subscription)) != LEDGER_ERR_OK ||
        (err = ctl__enum_arg(context, args, "status", &ledger__v1__subscription_status__descriptor,
                             &status)) != LEDGER_ERR_OK ||
        (err = ctl__write_begin(context, args, &write)) != LEDGER_ERR_OK) {
        return err;
    }
    Ledger__V1__SetSubscriptionStatus body = LEDGER__V1__SET_SUBSCRIPTION_STATUS__INIT;
    body.subscription_id = (char *)(uintptr_t)subscription;
    body.status = (Ledger__V1__SubscriptionStatus)status;
    write.command.body_case = LEDGER__V1__COMMAND__BODY_SET_SUBSCRIPTION_STATUS;
    write.command.set_subscription_status = &body;
    return ctl__write_send(context, &write);
}

const struct ctl_option ctl__role_options[] = {
    OPT_CUSTOMER,
    OPT_SUBSCRIPTION,
    {"user", CTL_OPTION_VALUE, "U", "the user in the customer's tenant", true},
    {"role", CTL_OPTION_VALUE, "ROLE", "owner|reservation-purchaser|contributor|reader", true},
    OPT_END,
};

static enum ledger_err run_role(struct ctl_context *context, const struct ctl_args *args,
                                bool assign)
{
    struct write write;
    const char *subscription = NULL, *user = NULL;
    int role = 0;
    enum ledger_err err;
    if ((err = ctl__id_arg(context, args, "subscription", &subscription)) != LEDGER_ERR_OK ||
        (err = ctl__id_arg(context, args, "user", &user)) != LEDGER_ERR_OK ||
        (err = ctl__enum_arg(context, args, "role", &ledger__v1__azure_role__descriptor, &role)) !=
            LEDGER_ERR_OK ||
        (err = ctl__write_begin(context, args, &write)) != LEDGER_ERR_OK) {
        return err;
    }
    Ledger__V1__AssignRole assign_body = LEDGER__V1__ASSIGN_ROLE__INIT;
    Ledger__V1__RemoveRole remove_body = LEDGER__V1__REMOVE_ROLE__INIT;
    if (assign) {
        assign_body.subscription_id = (char *)(uintptr_t)subscription;
        assign_body.user = (char *)(uintptr_t)user;
        assign_body.role = (Ledger__V1__AzureRole)role;
        write.command.body_case = LEDGER__V1__COMMAND__BODY_ASSIGN_ROLE;
        write.command.assign_role = &assign_body;
    } else {
        remove_body.subscription_id = (char *)(uintptr_t)subscription;
        remove_body.user = (char *)(uintptr_t)user;
        remove_body.role = (Ledger__V1__AzureRole)role;
        write.command.body_case = LEDGER__V1__COMMAND__BODY_REMOVE_ROLE;
        write.command.remove_role = &remove_body;
    }
    return ctl__write_send(context, &write);
}

enum ledger_err ctl__run_role_assign(struct ctl_context *context, const struct ctl_args *args)
{
    return run_role(context, args, true);
}

enum ledger_err ctl__run_role_remove(struct ctl_context *context, const struct ctl_args *args)
{
    return run_role(context, args, false);
}

const struct ctl_option ctl__permission_options[] = {
    OPT_CUSTOMER,
    {"kind", CTL_OPTION_VALUE, "KIND", "reservations|savings-plans", true},
    OPT_END,
};

static enum ledger_err run_permission(struct ctl_context *context, const struct ctl_args *args,
                                      bool enable)
{
    struct write write;
    int kind = 0;
    enum ledger_err err;
    if ((err = ctl__enum_arg(context, args, "kind", &ledger__v1__permission_kind__descriptor,
                             &kind)) != LEDGER_ERR_OK ||
        (err = ctl__write_begin(context, args, &write)) != LEDGER_ERR_OK) {
        return err;
    }
    Ledger__V1__GrantPermission grant = LEDGER__V1__GRANT_PERMISSION__INIT;
    Ledger__V1__RevokePermission revoke = LEDGER__V1__REVOKE_PERMISSION__INIT;
    if (enable) {
        grant.kind = (Ledger__V1__PermissionKind)kind;
        write.command.body_case = LEDGER__V1__COMMAND__BODY_GRANT_PERMISSION;
        write.command.grant_permission = &grant;
    } else {
        revoke.kind = (Ledger__V1__PermissionKind)kind;
        write.command.body_case = LEDGER__V1__COMMAND__BODY_REVOKE_PERMISSION;
        write.command.revoke_permission = &revoke;
    }
    return ctl__write_send(context, &write);
}

enum ledger_err ctl__run_permission_enable(struct ctl_context *context, const struct ctl_args *args)
{
    return run_permission(context, args, true);
}

enum ledger_err ctl__run_permission_disable(struct ctl_context *context,
                                            const struct ctl_args *args)
{
    return run_permission(context, args, false);
}

const struct ctl_option ctl__cost_visibility_options[] = {
    OPT_CUSTOMER,
    {"on", CTL_OPTION_FLAG, NULL, "customer users may see retail prices", false},
    {"off", CTL_OPTION_FLAG, NULL, "they may not", false},
    OPT_END,
};

enum ledger_err ctl__run_cost_visibility(struct ctl_context *context, const struct ctl_args *args)
{
    struct write write;
    Ledger__V1__SetCostVisibility body = LEDGER__V1__SET_COST_VISIBILITY__INIT;
    bool on = false;
    enum ledger_err err;
    if ((err = ctl__on_off_arg(context, args, &on)) != LEDGER_ERR_OK ||
        (err = ctl__write_begin(context, args, &write)) != LEDGER_ERR_OK) {
        return err;
    }
    body.retail_prices_visible = on;
    write.command.body_case = LEDGER__V1__COMMAND__BODY_SET_COST_VISIBILITY;
    write.command.set_cost_visibility = &body;
    return ctl__write_send(context, &write);
}
