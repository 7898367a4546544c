/*
 * ctl_verbs_views.c: the verbs that print a view of the ledger: a customer's
 * reservations, orders, savings plans and permissions (now, or as of a time,
 * sequence or business time), the partner's activity log, page by page, a
 * month's billing (read page by page by ctl_ops) and the daemon's stats. Each
 * names the columns a table shows; ctl_output prints them. print_view and
 * ctl__run_view_verb send a view's query and print its rows, for principal
 * list too.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_stats.h"
#include "ctl_verbs_internal.h"

#define OPT_AS_OF                                                                                  \
    {                                                                                              \
        "as-of", CTL_OPTION_VALUE, "TIME|SEQ",                                                     \
            "what the ledger said then, by when it recorded events: an ISO 8601 time (a date "     \
            "alone means its start, 00:00 UTC: for the end of day D give D+1) or a sequence "      \
            "number (after that event)",                                                           \
            false                                                                                  \
    }
#define OPT_AS_OF_BUSINESS_TIME                                                                    \
    {                                                                                              \
        "as-of-business-time", CTL_OPTION_VALUE, "TIME",                                           \
            "what was true at this business time (the time events are dated, as "                  \
            "--business-time dates commands), as the ledger knows it now or, with --as-of, knew "  \
            "it then; a date alone means its start, 00:00 UTC",                                    \
            false                                                                                  \
    }
#define OPT_FROM_DATE                                                                              \
    {                                                                                              \
        "from", CTL_OPTION_VALUE, "DATE", "from this date or time (inclusive)", false              \
    }
#define OPT_TO_DATE                                                                                \
    {                                                                                              \
        "to", CTL_OPTION_VALUE, "DATE",                                                            \
            "before this time (exclusive); a date alone: through the end of that day", false       \
    }

#define ROWS(result, field)                                                                        \
    (const ProtobufCMessage *const *)(const void *)(result)->field, (result)->n_##field

/* A table with no rows says so on stderr, as events does: "no
 * reservations", "no savings plans" (stdout keeps the bare header). */
static void empty_note(struct ctl_context *context, const char *key, size_t count)
{
    if (count == 0 && context->format == CTL_FORMAT_TABLE) {
        char noun[64];
        snprintf(noun, sizeof noun, "%s", strcmp(key, "billing") == 0 ? "charges" : key);
        for (char *c = noun; *c != '\0'; c++) {
            *c = *c == '_' ? ' ' : *c;
        }
        fprintf(context->err, "no %s\n", noun);
    }
}

/* Sends a view query and prints the rows of its result: the repeated field
 * of QueryResult named `key`, which is also the rows' JSON key. columns:
 * borrowed. Errors: those of ctl_query and ctl_output_rows. */
static enum ledger_err print_view(struct ctl_context *context, Ledger__V1__Query *query,
                                  const char *key, const struct ctl_column *columns,
                                  size_t column_count)
{
    const ProtobufCFieldDescriptor *field =
        protobuf_c_message_descriptor_get_field_by_name(&ledger__v1__query_result__descriptor, key);
    if (field == NULL || field->label != PROTOBUF_C_LABEL_REPEATED ||
        field->type != PROTOBUF_C_TYPE_MESSAGE) {
        abort(); /* a programmer's error: every view's key names its rows */
    }
    Ledger__V1__QueryResult *result = NULL;
    enum ledger_err err = ctl_query(context, query, &result);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    const char *base = (const char *)result;
    const ProtobufCMessage *const *rows =
        *(const ProtobufCMessage *const *const *)(const void *)(base + field->offset);
    size_t count = *(const size_t *)(const void *)(base + field->quantifier_offset);
    err = ctl_output_rows(context->out, context->format, key, rows, count, columns, column_count,
                          NULL, 0);
    if (err == LEDGER_ERR_OK) {
        empty_note(context, key, count);
    }
    ledger_query_result_free(result);
    return err;
}

enum ledger_err ctl__run_view_verb(struct ctl_context *context, const struct ctl_args *args,
                                   const struct view_verb *view)
{
    const char *customer = NULL;
    Ledger__V1__AsOf as_of = LEDGER__V1__AS_OF__INIT;
    bool as_of_given = false;
    enum ledger_err err;
    /* Both absent from the verbs that take neither option. */
    if ((err = ctl__id_arg(context, args, "customer", &customer)) != LEDGER_ERR_OK ||
        (err = ctl__as_of_arg(context, args, &as_of, &as_of_given)) != LEDGER_ERR_OK ||
        (err = ctl__as_of_business_arg(context, args, &as_of, &as_of_given)) != LEDGER_ERR_OK) {
        return err;
    }
    char *customer_id = (char *)(uintptr_t)customer;
    Ledger__V1__AsOf *when = as_of_given ? &as_of : NULL;
    Ledger__V1__Query query = LEDGER__V1__QUERY__INIT;
    query.kind_case = view->kind;
    Ledger__V1__PrincipalsQuery principals = LEDGER__V1__PRINCIPALS_QUERY__INIT;
    Ledger__V1__StatsQuery stats = LEDGER__V1__STATS_QUERY__INIT;
    Ledger__V1__ReservationsQuery reservations = LEDGER__V1__RESERVATIONS_QUERY__INIT;
    Ledger__V1__SavingsPlansQuery savings_plans = LEDGER__V1__SAVINGS_PLANS_QUERY__INIT;
    Ledger__V1__PermissionsQuery permissions = LEDGER__V1__PERMISSIONS_QUERY__INIT;
    switch (view->kind) {
    case LEDGER__V1__QUERY__KIND_PRINCIPALS:
        query.principals = &principals;
        break;
    case LEDGER__V1__QUERY__KIND_STATS:
        query.stats = &stats;
        break;
    case LEDGER__V1__QUERY__KIND_RESERVATIONS:
        reservations.customer_id = customer_id;
        reservations.as_of = when;
        query.reservations = &reservations;
        break;
    case LEDGER__V1__QUERY__KIND_SAVINGS_PLANS:
        savings_plans.customer_id = customer_id;
        savings_plans.as_of = when;
        query.savings_plans = &savings_plans;
        break;
    case LEDGER__V1__QUERY__KIND_PERMISSIONS:
        permissions.customer_id = customer_id;
        permissions.history = ctl_flag(args, "history");
        permissions.as_of = when;
        query.permissions = &permissions;
        break;
    default:
        abort(); /* a programmer's error: a view_verb of another kind */
    }
    return print_view(context, &query, view->key, view->columns, view->column_count);
}

/* ------------------------------------------------------------------------ */
/* Views. */

/* The columns that end the tables of reservations and of savings plans,
 * whose rows say the same of a holding: its term, who bought it, at what
 * prices, the events that made it and changed it last, and the cloud's
 * order. */
/* clang-format off */
#define HOLDING_TERM_COLUMNS                      \
    {"STARTS", "starts", CTL_COLUMN_DATE},        \
    {"EXPIRES", "expires", CTL_COLUMN_DATE},      \
    {"PURCHASER", "purchaser", 0},                \
    {"BOUGHT_BY", "bought_by", 0},                \
    {"PRICE", "price", CTL_COLUMN_MONEY},         \
    {"RETAIL", "retail_price", CTL_COLUMN_MONEY}, \
    {"SEQUENCE", "sequence", 0},                  \
    {"LAST_SEQUENCE", "last_sequence", 0},        \
    {"CLOUD_ORDER", "cloud_order_id", 0}
/* clang-format on */

static const struct ctl_column reservation_columns[] = {
    {"RESERVATION", "reservation_id", 0},
    {"STATE", "state", 0},
    {"SUBSCRIPTION", "billing_subscription_id", 0},
    {"SKU", "sku", 0},
    {"REGION", "region", 0},
    {"QTY", "quantity", 0},
    {"TERM", "term", 0},
    {"BILLING", "billing_plan", 0},
    {"SCOPE", "scope", 0},
    {"AUTO_RENEW", "auto_renew", 0},
    HOLDING_TERM_COLUMNS,
};

/* Reservations and savings plans: one customer's holdings, now or as of a
 * time, sequence or business time. */
const struct ctl_option ctl__holdings_options[] = {
    OPT_CUSTOMER,
    OPT_AS_OF,
    OPT_AS_OF_BUSINESS_TIME,
    OPT_END,
};

enum ledger_err ctl__run_reservations(struct ctl_context *context, const struct ctl_args *args)
{
    static const struct view_verb view = {LEDGER__V1__QUERY__KIND_RESERVATIONS, "reservations",
                                          COLUMNS(reservation_columns)};
    return ctl__run_view_verb(context, args, &view);
}

static const struct ctl_column order_columns[] = {
    {"ORDERED", "ordered", 0},
    {"ORDER", "order_id", 0},
    {"KIND", "kind", 0},
    {"RESERVATION", "reservation_id", 0},
    {"SKU", "sku", 0},
    {"QTY", "quantity", 0},
    {"TERM", "term", 0},
    {"BILLING", "billing_plan", 0},
    {"PURCHASER", "purchaser", 0},
    {"BOUGHT_BY", "bought_by", 0},
    {"PRICE", "price", CTL_COLUMN_MONEY},
    {"RETAIL", "retail_price", CTL_COLUMN_MONEY},
    {"SEQUENCE", "sequence", 0},
    {"CLOUD_ORDER", "cloud_order_id", 0},
};

const struct ctl_option ctl__orders_options[] = {
    OPT_CUSTOMER,
    OPT_FROM_DATE,
    OPT_TO_DATE,
    OPT_END,
};

enum ledger_err ctl__run_orders(struct ctl_context *context, const struct ctl_args *args)
{
    Ledger__V1__OrdersQuery view = LEDGER__V1__ORDERS_QUERY__INIT;
    Ledger__V1__Query query = LEDGER__V1__QUERY__INIT;
    const char *customer = NULL;
    enum ledger_err err;
    if ((err = ctl__id_arg(context, args, "customer", &customer)) != LEDGER_ERR_OK ||
        (err = ctl__range_args(context, args, "from", "to", &view.from_us, &view.to_us)) !=
            LEDGER_ERR_OK) {
        return err;
    }
    view.customer_id = (char *)(uintptr_t)customer;
    query.kind_case = LEDGER__V1__QUERY__KIND_ORDERS;
    query.orders = &view;
    return print_view(context, &query, "orders", COLUMNS(order_columns));
}

static const struct ctl_column savings_plan_columns[] = {
    {"SAVINGS_PLAN", "savings_plan_id", 0},
    {"SUBSCRIPTION", "billing_subscription_id", 0},
    {"HOURLY", "hourly_commitment", CTL_COLUMN_MONEY},
    {"TERM", "term", 0},
    {"BILLING", "billing_plan", 0},
    {"SCOPE", "scope", 0},
    {"AUTO_RENEW", "auto_renew", 0},
    {"RENEWED", "renewed", 0},
    HOLDING_TERM_COLUMNS,
};

enum ledger_err ctl__run_savings_plans(struct ctl_context *context, const struct ctl_args *args)
{
    static const struct view_verb view = {LEDGER__V1__QUERY__KIND_SAVINGS_PLANS, "savings_plans",
                                          COLUMNS(savings_plan_columns)};
    return ctl__run_view_verb(context, args, &view);
}

static const struct ctl_column permission_columns[] = {
    {"CUSTOMER", "customer_id", 0},  {"KIND", "kind", 0},
    {"ENABLED", "enabled", 0},       {"CHANGED", "changed", 0},
    {"CHANGED_BY", "changed_by", 0}, {"SEQUENCE", "sequence", 0},
};

const struct ctl_option ctl__permissions_options[] = {
    OPT_CUSTOMER,
    {"history", CTL_OPTION_FLAG, NULL, "every change, not only the current switches", false},
    OPT_AS_OF,
    OPT_AS_OF_BUSINESS_TIME,
    OPT_END,
};

enum ledger_err ctl__run_permissions(struct ctl_context *context, const struct ctl_args *args)
{
    static const struct view_verb view = {LEDGER__V1__QUERY__KIND_PERMISSIONS, "permissions",
                                          COLUMNS(permission_columns)};
    return ctl__run_view_verb(context, args, &view);
}

static const struct ctl_column activity_columns[] = {
    {"RECORDED", "recorded", 0},
    {"DATED", "business", 0},
    {"CUSTOMER", "customer_id", 0},
    {"ACTION", "action", 0},
    {"PRINCIPAL", "actor.principal_id", 0},
    {"ROLE", "actor.role", 0},
    {"STATUS", "status", 0},
    {"DETAIL", "detail", CTL_COLUMN_FREE_TEXT}, /* holds customers' and partners' names */
    {"SEQUENCE", "sequence", 0},
};

const struct ctl_option ctl__activity_options[] = {
    {"customer", CTL_OPTION_VALUE, "ID", "only this customer", false},
    {"action", CTL_OPTION_VALUE, "NAME",
     "only this action, e.g. \"Create Customer Purchase Permissions\"", false},
    OPT_FROM_DATE,
    OPT_TO_DATE,
    {"dated-from", CTL_OPTION_VALUE, "DATE",
     "only events dated (DATED, when they happened) from this date or time (inclusive)", false},
    {"dated-to", CTL_OPTION_VALUE, "DATE",
     "only events dated before this time (exclusive); a date alone: through the end of that day",
     false},
    {"limit", CTL_OPTION_VALUE, "N", "rows per page (default 100, at most 10000)", false},
    {"page-token", CTL_OPTION_VALUE, "T", "continue where the last page ended", false},
    OPT_END,
};

/* Asks for activity pages until one holds a row or is the last. The daemon
 * looks at a bounded number of log entries per request
 * (LEDGER_ACTIVITY_SCAN_MAX), so a rare filter can end a page with no row
 * and a next_page_token, which is no answer: "no activity" must mean that
 * nothing is left. below: the page token given (0: none). query: borrowed,
 * its activity's page_token changed on the way to point into token, which
 * must outlive that use. *out: the first page with a
 * row, or the last; free with ledger_query_result_free. Errors: those of
 * ctl_query; PROTOCOL_ERROR when a page's token does not get below the one
 * asked for, so that the loop ends within as many pages as the log has
 * entries. */
static enum ledger_err activity_page(struct ctl_context *context, Ledger__V1__Query *query,
                                     uint64_t below, char token[24], Ledger__V1__QueryResult **out)
{
    for (;;) {
        Ledger__V1__QueryResult *result = NULL;
        enum ledger_err err = ctl_query(context, query, &result);
        if (err != LEDGER_ERR_OK) {
            return err;
        }
        const char *next = result->next_page_token != NULL ? result->next_page_token : "";
        if (result->n_activity != 0 || next[0] == '\0') {
            *out = result;
            return LEDGER_ERR_OK;
        }
        uint64_t reached = 0;
        char why[CTL_MESSAGE_SIZE];
        if (ctl_unsigned_parse(next, UINT64_MAX, &reached, why) != LEDGER_ERR_OK || reached == 0 ||
            (below != 0 && reached >= below)) {
            /* The token is not quoted: it is the reply's, and not a number. */
            err = ctl_fail(context, LEDGER_ERR_PROTOCOL_ERROR,
                           "the daemon ended an empty activity page with a next_page_token that "
                           "is not a sequence below the page asked for, so the pages would not "
                           "get further; run the command again, and if it recurs, check that "
                           "--socket names a ledgerd");
            ledger_query_result_free(result);
            return err;
        }
        ledger_query_result_free(result);
        snprintf(token, 24, "%" PRIu64, reached);
        query->activity->page_token = token;
        below = reached;
    }
}

enum ledger_err ctl__run_activity(struct ctl_context *context, const struct ctl_args *args)
{
    Ledger__V1__ActivityQuery view = LEDGER__V1__ACTIVITY_QUERY__INIT;
    Ledger__V1__Query query = LEDGER__V1__QUERY__INIT;
    const char *customer = NULL, *action = NULL;
    uint64_t limit = 0;
    enum ledger_err err;
    if ((err = ctl__id_arg(context, args, "customer", &customer)) != LEDGER_ERR_OK ||
        (err = ctl__name_arg(context, args, "action", &action)) != LEDGER_ERR_OK ||
        (err = ctl__range_args(context, args, "from", "to", &view.from_us, &view.to_us)) !=
            LEDGER_ERR_OK ||
        (err = ctl__range_args(context, args, "dated-from", "dated-to", &view.business_from_us,
                               &view.business_to_us)) != LEDGER_ERR_OK ||
        (err = ctl__unsigned_arg(context, args, "limit", LEDGER_ROWS_PAGE_MAX, &limit)) !=
            LEDGER_ERR_OK) {
        return err;
    }
    if (ctl_flag(args, "limit") && limit == 0) {
        return ctl__usage(context, "limit", "at least 1");
    }
    /* A token is the sequence a page ended at (1 or more, in decimal): the
     * next page is of the rows below it. One that is not a number was not
     * printed by a page; one that is, only the daemon can judge. */
    const char *token = ctl_arg(args, "page-token");
    uint64_t below = 0;
    char why[CTL_MESSAGE_SIZE];
    if (token != NULL &&
        (ctl_unsigned_parse(token, UINT64_MAX, &below, why) != LEDGER_ERR_OK || below == 0)) {
        return ctl__usage(context, "page-token", "give the token a previous page printed");
    }
    view.customer_id = (char *)(uintptr_t)(customer != NULL ? customer : "");
    view.action = (char *)(uintptr_t)(action != NULL ? action : "");
    view.limit = (uint32_t)limit;
    view.page_token = (char *)(uintptr_t)(token != NULL ? token : "");
    query.kind_case = LEDGER__V1__QUERY__KIND_ACTIVITY;
    query.activity = &view;
    Ledger__V1__QueryResult *result = NULL;
    char next_token[24]; /* the pages activity_page follows; view points into it */
    if ((err = activity_page(context, &query, below, next_token, &result)) != LEDGER_ERR_OK) {
        return err;
    }
    struct ctl_extra extras[1] = {{"next_page_token",
                                   result->next_page_token != NULL ? result->next_page_token : "",
                                   0, false}};
    err = ctl_output_rows(context->out, context->format, "activity", ROWS(result, activity),
                          COLUMNS(activity_columns), extras, 1);
    if (err == LEDGER_ERR_OK) {
        empty_note(context, "activity", result->n_activity);
        /* CSV has no place for it on stdout, which stays CSV alone; the
         * terminal gets it as a table's line does. */
        if (context->format == CTL_FORMAT_CSV && extras[0].text[0] != '\0') {
            char *shown = strdup(extras[0].text);
            if (shown == NULL) {
                err = LEDGER_ERR_NO_MEMORY;
            } else {
                ctl_text_clean(shown, false);
                fprintf(context->err, "next_page_token: %s\n", shown);
                free(shown);
            }
        }
    }
    ledger_query_result_free(result);
    return err;
}

static const struct ctl_column billing_columns[] = {
    {"MONTH", "month", 0},
    {"CUSTOMER", "customer_id", 0},
    {"CHARGE", "charge", 0},
    {"CHARGE_ID", "charge_id", 0},
    {"ORDER", "order_id", 0},
    {"PURCHASER", "purchaser", 0},
    {"BOUGHT_BY", "bought_by", 0},
    {"PARTNER_AMOUNT", "partner_amount", CTL_COLUMN_MONEY},
    {"RETAIL_AMOUNT", "retail_amount", CTL_COLUMN_MONEY},
    {"SEQUENCE", "sequence", 0},
    {"CLOUD_ORDER", "cloud_order_id", 0},
};

const struct ctl_option ctl__billing_options[] = {
    {"month", CTL_OPTION_VALUE, "YYYY-MM", "the billing month", true},
    {"customer", CTL_OPTION_VALUE, "ID", "only this customer", false},
    CTL_OPTION_BILLING_TREE_SIZE,
    CTL_OPTION_BILLING_PAGE_ROWS,
    OPT_END,
};

enum ledger_err ctl__run_billing(struct ctl_context *context, const struct ctl_args *args)
{
    struct ctl_billing_ask ask;
    Ledger__V1__QueryResult *result = NULL;
    enum ledger_err err = ctl_billing_args(context, args, &ask);
    if (err != LEDGER_ERR_OK ||
        (err = ctl_billing_fetch(context, &ask, &result)) != LEDGER_ERR_OK) {
        return err;
    }
    /* Which tree the rows were read at, as export says it. */
    struct ctl_extra extras[1];
    size_t told = ctl_billing_tree_extra(context, result, &extras[0]);
    err = ctl_output_rows(context->out, context->format, "billing", ROWS(result, billing),
                          COLUMNS(billing_columns), extras, told);
    if (err == LEDGER_ERR_OK) {
        empty_note(context, "billing", result->n_billing);
        err = ctl_billing_tree_told(context, "billing", result);
    }
    ledger_query_result_free(result);
    return err;
}

static const struct ctl_column stat_columns[] = {
    {"NAME", "name", 0},
    {"LABELS", "labels", 0},
    {"VALUE", "value", 0},
};

/* As JSON or CSV, every series the daemon sent; as a table, the summary a
 * person reads (ctl_stats.h). */
enum ledger_err ctl__run_stats(struct ctl_context *context, const struct ctl_args *args)
{
    static const struct view_verb view = {LEDGER__V1__QUERY__KIND_STATS, "stats",
                                          COLUMNS(stat_columns)};
    if (context->format != CTL_FORMAT_TABLE) {
        return ctl__run_view_verb(context, args, &view);
    }
    Ledger__V1__StatsQuery stats = LEDGER__V1__STATS_QUERY__INIT;
    Ledger__V1__Query query = LEDGER__V1__QUERY__INIT;
    query.kind_case = LEDGER__V1__QUERY__KIND_STATS;
    query.stats = &stats;
    Ledger__V1__QueryResult *result = NULL;
    enum ledger_err err = ctl_query(context, &query, &result);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    err = ctl_stats_summary(context->out, result->stats, result->n_stats);
    ledger_query_result_free(result);
    return err;
}
