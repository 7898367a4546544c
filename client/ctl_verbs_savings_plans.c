/*
 * ctl_verbs_savings_plans.c: the write verbs of savings plans: buy; scope;
 * renew, which sets auto-renewal; and renewed, which records a renewal in the
 * cloud. Scope, renew and renewed are those of reservations too
 * (ctl_verbs_holdings.c).
 */
#include "ctl_verbs_internal.h"

const struct ctl_option ctl__savings_plan_buy_options[] = {
    OPT_CUSTOMER,
    {"subscription", CTL_OPTION_VALUE, "ID",
     "the billing subscription (an active Azure plan or Azure Global one)", true},
    {"hourly-commitment", CTL_OPTION_VALUE, "AMOUNT", "the spend committed per hour, e.g. 2.50",
     true},
    OPT_TERM("P1Y|P3Y"),
    OPT_BILLING,
    OPT_SCOPE,
    OPT_SCOPE_TARGET,
    OPT_PRICE,
    OPT_RETAIL,
    OPT_CURRENCY,
    {"auto-renew", CTL_OPTION_FLAG, NULL, "renew automatically at expiry", false},
    OPT_CLOUD_ORDER,
    OPT_END,
};

enum ledger_err ctl__run_savings_plan_buy(struct ctl_context *context, const struct ctl_args *args)
{
    struct write write;
    Ledger__V1__PurchaseSavingsPlan body = LEDGER__V1__PURCHASE_SAVINGS_PLAN__INIT;
    Ledger__V1__Scope scope = LEDGER__V1__SCOPE__INIT;
    Ledger__V1__Money hourly = LEDGER__V1__MONEY__INIT;
    Ledger__V1__Money price = LEDGER__V1__MONEY__INIT;
    Ledger__V1__Money retail = LEDGER__V1__MONEY__INIT;
    const char *subscription = NULL, *currency = NULL, *cloud_order = NULL;
    int term = 0, billing = 0;
    enum ledger_err err;
    if ((err = ctl__id_arg(context, args, "subscription", &subscription)) != LEDGER_ERR_OK ||
        (err = ctl__id_arg(context, args, "cloud-order", &cloud_order)) != LEDGER_ERR_OK ||
        (err = ctl__enum_arg(context, args, "term", &ledger__v1__term__descriptor, &term)) !=
            LEDGER_ERR_OK ||
        (err = ctl__enum_arg(context, args, "billing", &ledger__v1__billing_plan__descriptor,
                             &billing)) != LEDGER_ERR_OK ||
        (err = ctl__scope_args(context, args, &scope)) != LEDGER_ERR_OK ||
        (err = ctl__currency_arg(context, args, NULL, &currency)) != LEDGER_ERR_OK ||
        (err = ctl__price_arg(context, args, "hourly-commitment", currency, &hourly)) !=
            LEDGER_ERR_OK ||
        (err = ctl__price_arg(context, args, "price", currency, &price)) != LEDGER_ERR_OK ||
        (err = ctl__price_arg(context, args, "retail-price", currency, &retail)) != LEDGER_ERR_OK ||
        (err = ctl__write_begin(context, args, &write)) != LEDGER_ERR_OK) {
        return err;
    }
    if (term == LEDGER__V1__TERM__TERM_P5Y) {
        return ctl__usage(context, "term", "savings plans are P1Y or P3Y");
    }
    body.billing_subscription_id = (char *)(uintptr_t)subscription;
    body.hourly_commitment = &hourly;
    body.term = (Ledger__V1__Term)term;
    body.billing_plan = (Ledger__V1__BillingPlan)billing;
    body.scope = &scope;
    body.price = &price;
    body.retail_price = &retail;
    body.auto_renew = ctl_flag(args, "auto-renew");
    if (cloud_order != NULL) {
        body.cloud_order_id = (char *)(uintptr_t)cloud_order;
    }
    write.command.body_case = LEDGER__V1__COMMAND__BODY_PURCHASE_SAVINGS_PLAN;
    write.command.purchase_savings_plan = &body;
    return ctl__write_send(context, &write);
}

const struct ctl_option ctl__savings_plan_scope_options[] = {
    OPT_CUSTOMER, {"savings-plan", CTL_OPTION_VALUE, "ID", "the savings plan", true},
    OPT_SCOPE,    OPT_SCOPE_TARGET,
    OPT_END,
};

enum ledger_err ctl__run_savings_plan_scope(struct ctl_context *context,
                                            const struct ctl_args *args)
{
    return ctl__run_holding_scope(context, args, HOLDING_SAVINGS_PLAN);
}

const struct ctl_option ctl__savings_plan_renew_options[] = {
    OPT_CUSTOMER,
    {"savings-plan", CTL_OPTION_VALUE, "ID", "the savings plan", true},
    {"on", CTL_OPTION_FLAG, NULL, "renew automatically at expiry", false},
    {"off", CTL_OPTION_FLAG, NULL, "do not renew", false},
    OPT_END,
};

enum ledger_err ctl__run_savings_plan_renew(struct ctl_context *context,
                                            const struct ctl_args *args)
{
    return ctl__run_holding_renew(context, args, HOLDING_SAVINGS_PLAN);
}

/* A savings plan's renewal happens in the cloud too; the partner records it
 * (docs/events.md, SavingsPlanRenewed). */
const struct ctl_option ctl__savings_plan_renewed_options[] = {
    OPT_CUSTOMER,
    {"savings-plan", CTL_OPTION_VALUE, "ID", "the savings plan that renewed (auto-renew on)", true},
    OPT_PRICE,
    OPT_RETAIL,
    OPT_CURRENCY,
    OPT_CLOUD_ORDER,
    OPT_END,
};

enum ledger_err ctl__run_savings_plan_renewed(struct ctl_context *context,
                                              const struct ctl_args *args)
{
    return ctl__run_holding_renewed(context, args, HOLDING_SAVINGS_PLAN);
}
