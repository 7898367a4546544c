/*
 * ctl_verbs_reservations.c: the write verbs of reservations: buy; exchange,
 * which returns reservations and buys their replacements in one command
 * (each replacement's options given once for all or once each); cancel, with
 * its refund; renew, which sets auto-renewal; renewed and expired, which
 * record what happened in the cloud; and scope. Renew, renewed and scope
 * are those of savings plans too (ctl_verbs_holdings.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ctl_verbs_internal.h"

const struct ctl_option ctl__reservation_buy_options[] = {
    OPT_CUSTOMER,
    {"subscription", CTL_OPTION_VALUE, "ID",
     "the billing subscription (an active Azure plan or Azure Global one)", true},
    {"sku", CTL_OPTION_VALUE, "SKU", "e.g. Standard_D2s_v5", true},
    {"region", CTL_OPTION_VALUE, "R", "e.g. westeurope", true},
    {"quantity", CTL_OPTION_VALUE, "N", "instances, 1..10000", true},
    OPT_TERM("P1Y|P3Y|P5Y"),
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

/* The purchase options shared by buy and exchange; strings point into args. */
static enum ledger_err purchase_args(struct ctl_context *context, const struct ctl_args *args,
                                     Ledger__V1__PurchaseReservation *purchase,
                                     Ledger__V1__Scope *scope, Ledger__V1__Money *price,
                                     Ledger__V1__Money *retail)
{
    const char *subscription = NULL, *currency = NULL, *sku = NULL, *region = NULL;
    const char *cloud_order = NULL;
    int term = 0, billing = 0;
    uint64_t quantity = 0;
    enum ledger_err err;
    if ((err = ctl__id_arg(context, args, "subscription", &subscription)) != LEDGER_ERR_OK ||
        (err = ctl__id_arg(context, args, "cloud-order", &cloud_order)) != LEDGER_ERR_OK ||
        (err = ctl__unsigned_arg(context, args, "quantity", LEDGER_QUANTITY_MAX, &quantity)) !=
            LEDGER_ERR_OK ||
        (err = ctl__enum_arg(context, args, "term", &ledger__v1__term__descriptor, &term)) !=
            LEDGER_ERR_OK ||
        (err = ctl__enum_arg(context, args, "billing", &ledger__v1__billing_plan__descriptor,
                             &billing)) != LEDGER_ERR_OK ||
        (err = ctl__scope_args(context, args, scope)) != LEDGER_ERR_OK ||
        (err = ctl__currency_arg(context, args, NULL, &currency)) != LEDGER_ERR_OK ||
        (err = ctl__price_arg(context, args, "price", currency, price)) != LEDGER_ERR_OK ||
        (err = ctl__price_arg(context, args, "retail-price", currency, retail)) != LEDGER_ERR_OK ||
        (err = ctl__sku_arg(context, args, "sku", &sku)) != LEDGER_ERR_OK ||
        (err = ctl__sku_arg(context, args, "region", &region)) != LEDGER_ERR_OK) {
        return err;
    }
    if (quantity == 0) {
        return ctl__usage(context, "quantity", "at least 1");
    }
    purchase->billing_subscription_id = (char *)(uintptr_t)subscription;
    purchase->sku = (char *)(uintptr_t)sku;
    purchase->region = (char *)(uintptr_t)region;
    purchase->quantity = (uint32_t)quantity;
    purchase->term = (Ledger__V1__Term)term;
    purchase->billing_plan = (Ledger__V1__BillingPlan)billing;
    purchase->scope = scope;
    purchase->price = price;
    purchase->retail_price = retail;
    purchase->auto_renew = ctl_flag(args, "auto-renew");
    if (cloud_order != NULL) {
        purchase->cloud_order_id = (char *)(uintptr_t)cloud_order;
    }
    return LEDGER_ERR_OK;
}

enum ledger_err ctl__run_reservation_buy(struct ctl_context *context, const struct ctl_args *args)
{
    struct write write;
    Ledger__V1__PurchaseReservation body = LEDGER__V1__PURCHASE_RESERVATION__INIT;
    Ledger__V1__Scope scope = LEDGER__V1__SCOPE__INIT;
    Ledger__V1__Money price = LEDGER__V1__MONEY__INIT;
    Ledger__V1__Money retail = LEDGER__V1__MONEY__INIT;
    enum ledger_err err;
    if ((err = purchase_args(context, args, &body, &scope, &price, &retail)) != LEDGER_ERR_OK ||
        (err = ctl__write_begin(context, args, &write)) != LEDGER_ERR_OK) {
        return err;
    }
    write.command.body_case = LEDGER__V1__COMMAND__BODY_PURCHASE_RESERVATION;
    write.command.purchase_reservation = &body;
    return ctl__write_send(context, &write);
}

/* An exchange's replacements are described by the purchase options, each
 * given once (the same for every replacement) or once per replacement, in
 * order (repeated, or separated with commas): as many replacements as the
 * option given most often has values. */
#define REPLACEMENT_HELP(what) what " (once for all, or one per replacement)"
const struct ctl_option ctl__reservation_exchange_options[] = {
    OPT_CUSTOMER,
    {"reservation", CTL_OPTION_LIST, "R",
     "a reservation to return (repeat, or separate with commas, for several)", true},
    {"refund", CTL_OPTION_VALUE, "AMOUNT", "what the returned reservations refund", true},
    {"subscription", CTL_OPTION_LIST, "ID",
     REPLACEMENT_HELP("the new purchase's billing "
                      "subscription"),
     true},
    {"sku", CTL_OPTION_LIST, "SKU", REPLACEMENT_HELP("the new purchase's SKU"), true},
    {"region", CTL_OPTION_LIST, "R", REPLACEMENT_HELP("the new purchase's region"), true},
    {"quantity", CTL_OPTION_LIST, "N", REPLACEMENT_HELP("the new purchase's quantity"), true},
    {"term", CTL_OPTION_LIST, "TERM", REPLACEMENT_HELP("P1Y|P3Y|P5Y"), true},
    {"billing", CTL_OPTION_LIST, "PLAN", REPLACEMENT_HELP("upfront|monthly"), true},
    {"scope", CTL_OPTION_LIST, "SCOPE",
     REPLACEMENT_HELP("single|resource-group|management-group|shared"), true},
    {"scope-target", CTL_OPTION_LIST, "X",
     REPLACEMENT_HELP("the subscription (single), subscription/group (resource-group) or group "
                      "id; '' for a shared one"),
     false},
    {"price", CTL_OPTION_LIST, "AMOUNT",
     REPLACEMENT_HELP("the partner's price for the whole term, e.g. 1234.56"), true},
    {"retail-price", CTL_OPTION_LIST, "AMOUNT",
     REPLACEMENT_HELP("the retail price for the whole term"), true},
    OPT_CURRENCY,
    {"auto-renew", CTL_OPTION_FLAG, NULL, "the new reservations renew automatically", false},
    {"cloud-order", CTL_OPTION_LIST, "ID",
     REPLACEMENT_HELP("the cloud's order id of the new purchase, as the invoice names it"), false},
    OPT_END,
};

/* The options above that describe one replacement each. */
enum replacement_option {
    REPLACEMENT_SUBSCRIPTION,
    REPLACEMENT_SKU,
    REPLACEMENT_REGION,
    REPLACEMENT_QUANTITY,
    REPLACEMENT_TERM,
    REPLACEMENT_BILLING,
    REPLACEMENT_SCOPE,
    REPLACEMENT_SCOPE_TARGET,
    REPLACEMENT_PRICE,
    REPLACEMENT_RETAIL_PRICE,
    REPLACEMENT_CLOUD_ORDER,
    REPLACEMENT_OPTION_COUNT
};
static const char *const replacement_options[REPLACEMENT_OPTION_COUNT] = {
    [REPLACEMENT_SUBSCRIPTION] = "subscription",
    [REPLACEMENT_SKU] = "sku",
    [REPLACEMENT_REGION] = "region",
    [REPLACEMENT_QUANTITY] = "quantity",
    [REPLACEMENT_TERM] = "term",
    [REPLACEMENT_BILLING] = "billing",
    [REPLACEMENT_SCOPE] = "scope",
    [REPLACEMENT_SCOPE_TARGET] = "scope-target",
    [REPLACEMENT_PRICE] = "price",
    [REPLACEMENT_RETAIL_PRICE] = "retail-price",
    [REPLACEMENT_CLOUD_ORDER] = "cloud-order",
};

/* What an exchange command points to: its replacements and their values,
 * copied from the command line (ctl_arg_list). Large: on the heap. */
struct exchange_body {
    Ledger__V1__ExchangeReservation body;
    Ledger__V1__PurchaseReservation purchases[LEDGER_EXCHANGE_REPLACEMENTS_MAX];
    Ledger__V1__PurchaseReservation *replacements[LEDGER_EXCHANGE_REPLACEMENTS_MAX];
    Ledger__V1__Scope scopes[LEDGER_EXCHANGE_REPLACEMENTS_MAX];
    Ledger__V1__Money prices[LEDGER_EXCHANGE_REPLACEMENTS_MAX];
    Ledger__V1__Money retails[LEDGER_EXCHANGE_REPLACEMENTS_MAX];
    Ledger__V1__Money refund;
    const char *reservations[LEDGER_EXCHANGE_RETURNS_MAX];
    /* Room for every --reservation given, however long: an id too long is
     * named as such, not counted as ids too many. */
    char *reservation_storage;
    size_t reservation_storage_size;
    const char *values[REPLACEMENT_OPTION_COUNT][LEDGER_EXCHANGE_REPLACEMENTS_MAX];
    size_t value_counts[REPLACEMENT_OPTION_COUNT];
    char *value_storage; /* every value of the command line fits */
    size_t value_storage_size;
};

/* Whether a replacement option holds an amount. */
static bool amount_option(const char *name)
{
    return strcmp(name, "price") == 0 || strcmp(name, "retail-price") == 0;
}

/* How many times the option `name` was given. */
static size_t option_count(const struct ctl_args *args, const char *name)
{
    size_t count = 0;
    for (size_t i = 0; i < args->count; i++) {
        count += strcmp(args->items[i].name, name) == 0;
    }
    return count;
}

/* Reads the replacement options into x->values and counts the replacements
 * they describe: USAGE when one has more values than an exchange buys, or
 * a number of values that is neither one nor that count. */
static enum ledger_err replacement_values(struct ctl_context *context, const struct ctl_args *args,
                                          struct exchange_body *x, size_t *count_out)
{
    size_t count = 1, used = 0;
    for (size_t i = 0; i < REPLACEMENT_OPTION_COUNT; i++) {
        /* Targets stand by position: '' is the place of a shared scope,
         * which has none. */
        size_t (*list)(const struct ctl_args *, const char *, const char **, size_t, char *,
                       size_t) =
            i == REPLACEMENT_SCOPE_TARGET ? ctl_arg_list_positional : ctl_arg_list;
        size_t n =
            list(args, replacement_options[i], x->values[i], LEDGER_EXCHANGE_REPLACEMENTS_MAX,
                 x->value_storage + used, x->value_storage_size - used);
        if (n > LEDGER_EXCHANGE_REPLACEMENTS_MAX) {
            return ctl__usage(context, replacement_options[i],
                              "more values than replacements an exchange may buy (1..32)");
        }
        for (size_t j = 0; j < n; j++) {
            used += strlen(x->values[i][j]) + 1;
        }
        /* "1,200.00" is one amount with a grouping comma to whoever typed
         * it, never two prices: amounts are given by repeating the option. */
        if (amount_option(replacement_options[i]) &&
            n != option_count(args, replacement_options[i])) {
            return ctl__usage(context, replacement_options[i],
                              "an amount has no commas; give one per replacement by repeating the "
                              "option (--price 600.00 --price 400.00)");
        }
        x->value_counts[i] = n;
        count = n > count ? n : count;
    }
    for (size_t i = 0; i < REPLACEMENT_OPTION_COUNT; i++) {
        if (x->value_counts[i] > 1 && x->value_counts[i] != count) {
            char why[CTL_MESSAGE_SIZE];
            snprintf(why, sizeof why,
                     "given %zu times for %zu replacements; give it once for all of them or "
                     "once for each%s",
                     x->value_counts[i], count,
                     i == REPLACEMENT_SCOPE_TARGET ? " ('' for a shared scope, which has no target)"
                                                   : "");
            return ctl__usage(context, replacement_options[i], why);
        }
    }
    /* A target given once is every replacement's, and a shared scope has
     * none: scopes of both kinds need a target each, in order. */
    bool shared = false, targeted = false;
    for (size_t j = 0; j < x->value_counts[REPLACEMENT_SCOPE]; j++) {
        bool is_shared = strcasecmp(x->values[REPLACEMENT_SCOPE][j], "shared") == 0;
        shared |= is_shared;
        targeted |= !is_shared;
    }
    if (x->value_counts[REPLACEMENT_SCOPE_TARGET] == 1 && count > 1 && shared && targeted) {
        char why[CTL_MESSAGE_SIZE];
        snprintf(why, sizeof why,
                 "given once for %zu replacements, shared ones among them, which have no "
                 "target; give it once for each, in order, '' for a shared one "
                 "(--scope shared --scope single --scope-target '' --scope-target SUB)",
                 count);
        return ctl__usage(context, "scope-target", why);
    }
    *count_out = count;
    return LEDGER_ERR_OK;
}

/* The command line of replacement `index`: args with each replacement option
 * holding that replacement's value only. */
static void replacement_args(const struct ctl_args *args, const struct exchange_body *x,
                             size_t index, struct ctl_args *out)
{
    out->count = 0;
    out->help = args->help;
    for (size_t i = 0; i < args->count; i++) {
        bool replacement_option = false;
        for (size_t j = 0; j < REPLACEMENT_OPTION_COUNT; j++) {
            replacement_option |= strcmp(args->items[i].name, replacement_options[j]) == 0;
        }
        if (!replacement_option) {
            out->items[out->count++] = args->items[i];
        }
    }
    /* One item in place of each option's one or more: never more than args.
     * An empty value (a shared scope's target) is no option at all. */
    for (size_t j = 0; j < REPLACEMENT_OPTION_COUNT; j++) {
        const char *value =
            x->value_counts[j] > 0 ? x->values[j][x->value_counts[j] == 1 ? 0 : index] : "";
        if (value[0] != '\0') {
            out->items[out->count].name = replacement_options[j];
            out->items[out->count].value = value;
            out->count++;
        }
    }
}

/* Fills x's body from the command line. */
static enum ledger_err exchange_args(struct ctl_context *context, const struct ctl_args *args,
                                     struct exchange_body *x)
{
    size_t returned =
        ctl_arg_list(args, "reservation", x->reservations, LEDGER_EXCHANGE_RETURNS_MAX,
                     x->reservation_storage, x->reservation_storage_size);
    if (returned == 0 || returned > LEDGER_EXCHANGE_RETURNS_MAX) {
        return ctl__usage(context, "reservation", "give 1..32 reservation ids");
    }
    for (size_t i = 0; i < returned; i++) {
        if (!ledger_id_valid(x->reservations[i])) {
            return ctl__usage(context, "reservation", CTL_ID_RULE);
        }
    }
    size_t count = 0;
    enum ledger_err err = replacement_values(context, args, x, &count);
    for (size_t i = 0; i < count && err == LEDGER_ERR_OK; i++) {
        struct ctl_args one;
        replacement_args(args, x, i, &one);
        Ledger__V1__PurchaseReservation init = LEDGER__V1__PURCHASE_RESERVATION__INIT;
        Ledger__V1__Scope scope = LEDGER__V1__SCOPE__INIT;
        Ledger__V1__Money money = LEDGER__V1__MONEY__INIT;
        x->purchases[i] = init;
        x->scopes[i] = scope;
        x->prices[i] = money;
        x->retails[i] = money;
        err = purchase_args(context, &one, &x->purchases[i], &x->scopes[i], &x->prices[i],
                            &x->retails[i]);
        if (err != LEDGER_ERR_OK && count > 1) {
            char why[CTL_MESSAGE_SIZE];
            snprintf(why, sizeof why, "%.*s", (int)sizeof why - 1, context->message);
            snprintf(context->message, sizeof context->message, "replacement %zu of %zu: %s", i + 1,
                     count, why);
        }
        x->replacements[i] = &x->purchases[i];
    }
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    Ledger__V1__Money refund = LEDGER__V1__MONEY__INIT;
    x->refund = refund;
    err = ctl__money_arg(context, args, "refund", x->prices[0].currency, &x->refund);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    Ledger__V1__ExchangeReservation body = LEDGER__V1__EXCHANGE_RESERVATION__INIT;
    x->body = body;
    x->body.reservation_ids = (char **)(uintptr_t)x->reservations;
    x->body.n_reservation_ids = returned;
    x->body.refund = &x->refund;
    x->body.replacements = x->replacements;
    x->body.n_replacements = count;
    return LEDGER_ERR_OK;
}

/* Sends the exchange; with several replacements, prints their ids
 * (res-<seq>, res-<seq>-2, ...: docs/events.md, "Generated ids") as
 * reservation_ids after the result, which names the first. */
static enum ledger_err exchange_send(struct ctl_context *context, struct write *write, size_t count)
{
    if (count == 1 || context->capture != NULL) {
        return ctl__write_send(context, write); /* an import packs it: no reply to print */
    }
    const char *ids[1] = {write->command_id};
    Ledger__V1__Reply *reply = NULL;
    enum ledger_err err = ctl_execute(context, &write->command, write->command_id, false, &reply);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    char text[LEDGER_EXCHANGE_REPLACEMENTS_MAX * (LEDGER_ID_LENGTH_MAX + 1)] = "";
    const char *first = reply->n_results > 0 ? reply->results[0]->reservation_id : "";
    size_t used = (size_t)snprintf(text, sizeof text, "%s", first);
    for (size_t i = 2; i <= count && used < sizeof text; i++) {
        used += (size_t)snprintf(text + used, sizeof text - used, ",%s-%zu", first, i);
    }
    struct ctl_extra extra = {.name = "reservation_ids", .text = text};
    err = ctl_output_write_result(context->out, context->format, ids, reply, &extra, 1);
    ledger_reply_free(reply);
    return err;
}

enum ledger_err ctl__run_reservation_exchange(struct ctl_context *context,
                                              const struct ctl_args *args)
{
    struct exchange_body *x = calloc(1, sizeof *x);
    size_t storage_size = CTL_ARGS_MAX;
    for (size_t i = 0; i < args->count; i++) {
        storage_size += strlen(args->items[i].value);
    }
    char *storage = calloc(1, storage_size);
    size_t reservation_storage_size = ctl_arg_list_size(args, "reservation");
    char *reservation_storage = malloc(reservation_storage_size);
    if (x == NULL || storage == NULL || reservation_storage == NULL) {
        free(x);
        free(storage);
        free(reservation_storage);
        snprintf(context->message, sizeof context->message, "out of memory");
        return LEDGER_ERR_NO_MEMORY;
    }
    x->value_storage = storage;
    x->value_storage_size = storage_size;
    x->reservation_storage = reservation_storage;
    x->reservation_storage_size = reservation_storage_size;
    struct write write;
    enum ledger_err err = exchange_args(context, args, x);
    if (err == LEDGER_ERR_OK) {
        err = ctl__write_begin(context, args, &write);
    }
    if (err == LEDGER_ERR_OK) {
        write.command.body_case = LEDGER__V1__COMMAND__BODY_EXCHANGE_RESERVATION;
        write.command.exchange_reservation = &x->body;
        err = exchange_send(context, &write, x->body.n_replacements);
    }
    free(reservation_storage);
    free(storage);
    free(x);
    return err;
}

const struct ctl_option ctl__reservation_cancel_options[] = {
    OPT_CUSTOMER,
    {"reservation", CTL_OPTION_VALUE, "R", "the reservation to cancel", true},
    {"refund", CTL_OPTION_VALUE, "AMOUNT", "the refund", true},
    {"refund-usd", CTL_OPTION_VALUE, "AMOUNT",
     "the refund's value in USD (counted against the USD 50,000 cap); required unless the "
     "currency is USD",
     false},
    {"unbilled-usd", CTL_OPTION_VALUE, "AMOUNT",
     "the USD value of a monthly reservation's instalments not billed yet (counted against the "
     "cap); required when it is not priced in USD and the refund is 0",
     false},
    {"currency", CTL_OPTION_VALUE, "CUR", "the refund's currency (default USD)", false},
    OPT_END,
};

enum ledger_err ctl__run_reservation_cancel(struct ctl_context *context,
                                            const struct ctl_args *args)
{
    struct write write;
    Ledger__V1__CancelReservation body = LEDGER__V1__CANCEL_RESERVATION__INIT;
    Ledger__V1__Money refund = LEDGER__V1__MONEY__INIT;
    Ledger__V1__Money refund_usd = LEDGER__V1__MONEY__INIT;
    Ledger__V1__Money unbilled_usd = LEDGER__V1__MONEY__INIT;
    const char *reservation = NULL, *currency = NULL;
    enum ledger_err err;
    if ((err = ctl__id_arg(context, args, "reservation", &reservation)) != LEDGER_ERR_OK ||
        (err = ctl__currency_arg(context, args, "USD", &currency)) != LEDGER_ERR_OK ||
        (err = ctl__money_arg(context, args, "refund", currency, &refund)) != LEDGER_ERR_OK) {
        return err;
    }
    if (ctl_flag(args, "refund-usd")) {
        if ((err = ctl__money_arg(context, args, "refund-usd", "USD", &refund_usd)) !=
            LEDGER_ERR_OK) {
            return err;
        }
        body.refund_usd = &refund_usd;
    } else if (strcmp(currency, "USD") != 0) {
        return ctl__usage(context, "refund-usd", "required when the refund is not in USD");
    }
    /* Whether the reservation needs it, the ledger says: it knows how the
     * reservation is billed. */
    if (ctl_flag(args, "unbilled-usd")) {
        if ((err = ctl__money_arg(context, args, "unbilled-usd", "USD", &unbilled_usd)) !=
            LEDGER_ERR_OK) {
            return err;
        }
        body.unbilled_usd = &unbilled_usd;
    }
    if ((err = ctl__write_begin(context, args, &write)) != LEDGER_ERR_OK) {
        return err;
    }
    body.reservation_id = (char *)(uintptr_t)reservation;
    body.refund = &refund;
    write.command.body_case = LEDGER__V1__COMMAND__BODY_CANCEL_RESERVATION;
    write.command.cancel_reservation = &body;
    return ctl__write_send(context, &write);
}

const struct ctl_option ctl__reservation_renew_options[] = {
    OPT_CUSTOMER,
    {"reservation", CTL_OPTION_VALUE, "R", "the reservation", true},
    {"on", CTL_OPTION_FLAG, NULL, "renew automatically at expiry", false},
    {"off", CTL_OPTION_FLAG, NULL, "do not renew", false},
    OPT_END,
};

enum ledger_err ctl__run_reservation_renew(struct ctl_context *context, const struct ctl_args *args)
{
    return ctl__run_holding_renew(context, args, HOLDING_RESERVATION);
}

/* Renewals and expiries happen in the cloud; the partner records them
 * (docs/events.md, ReservationRenewed and ReservationExpired). */
const struct ctl_option ctl__reservation_renewed_options[] = {
    OPT_CUSTOMER,
    {"reservation", CTL_OPTION_VALUE, "R", "the reservation that renewed (auto-renew on)", true},
    OPT_PRICE,
    OPT_RETAIL,
    OPT_CURRENCY,
    OPT_CLOUD_ORDER,
    OPT_END,
};

enum ledger_err ctl__run_reservation_renewed(struct ctl_context *context,
                                             const struct ctl_args *args)
{
    return ctl__run_holding_renewed(context, args, HOLDING_RESERVATION);
}

const struct ctl_option ctl__reservation_expired_options[] = {
    OPT_CUSTOMER,
    {"reservation", CTL_OPTION_VALUE, "R", "the reservation that reached its end", true},
    OPT_END,
};

enum ledger_err ctl__run_reservation_expired(struct ctl_context *context,
                                             const struct ctl_args *args)
{
    struct write write;
    Ledger__V1__ExpireReservation body = LEDGER__V1__EXPIRE_RESERVATION__INIT;
    const char *reservation = NULL;
    enum ledger_err err;
    if ((err = ctl__id_arg(context, args, "reservation", &reservation)) != LEDGER_ERR_OK ||
        (err = ctl__write_begin(context, args, &write)) != LEDGER_ERR_OK) {
        return err;
    }
    body.reservation_id = (char *)(uintptr_t)reservation;
    write.command.body_case = LEDGER__V1__COMMAND__BODY_EXPIRE_RESERVATION;
    write.command.expire_reservation = &body;
    return ctl__write_send(context, &write);
}

const struct ctl_option ctl__reservation_scope_options[] = {
    OPT_CUSTOMER, {"reservation", CTL_OPTION_VALUE, "R", "the reservation", true},
    OPT_SCOPE,    OPT_SCOPE_TARGET,
    OPT_END,
};

enum ledger_err ctl__run_reservation_scope(struct ctl_context *context, const struct ctl_args *args)
{
    return ctl__run_holding_scope(context, args, HOLDING_RESERVATION);
}
