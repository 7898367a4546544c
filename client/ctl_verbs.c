/*
 * ctl_verbs.c: ledgerctl's verbs and dispatcher (see ctl_verbs.h).
 *
 * Each verb is one row of the verb table: its words ("reservation buy"), a
 * summary, its options (the required ones are checked before it runs), an
 * example and the function that builds its command or query. Write verbs
 * also take --command-id, --expected-version and --business-time. Options
 * are checked here, before anything is sent, so that a typing mistake is a
 * usage error (exit status 2) naming the option, not a refusal.
 */
#include "ctl_verbs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl_stats.h"
#include "ctl_time.h"
#include "ctl_verbs_internal.h"
#include "ledger_ids.h"
#include "ledger_limits.h"
#include "merkle.h"
#include "money.h"
#include "progress.h"

/* ------------------------------------------------------------------------ */
/* Options. */

static const struct ctl_option global_options[] = {
    {"socket", CTL_OPTION_VALUE, "URL",
     "the daemon's request socket (env LEDGER_SOCKET; default ipc://$PWD/ledger-data/ledger.sock)",
     false},
    {"events", CTL_OPTION_VALUE, "URL",
     "the daemon's doorbell socket (env LEDGER_EVENTS; default: events.sock beside the request "
     "socket)",
     false},
    {"principal", CTL_OPTION_VALUE, "ID", "who you are (env LEDGER_PRINCIPAL; default operator)",
     false},
    {"key-file", CTL_OPTION_VALUE, "PATH",
     "your key file (env LEDGER_KEY_FILE; default ./ledger-data/PRINCIPAL.key)", false},
    {"partner", CTL_OPTION_VALUE, "ID",
     "the partner to act on, for principals of all partners (operator, auditor, billing)", false},
    {"output", CTL_OPTION_VALUE, "FORMAT", "table (default), json or csv", false},
    {"timeout-ms", CTL_OPTION_VALUE, "MS", "wait this long for each reply (default 10000)", false},
    {"retries", CTL_OPTION_VALUE, "N",
     "resend an unanswered request this many times (default 2; always safe)", false},
    {NULL, CTL_OPTION_VALUE, NULL, NULL, false},
};

static const struct ctl_option write_options[] = {
    {"command-id", CTL_OPTION_VALUE, "ID",
     "the command's id (default: a fresh c-<32 hex>); repeating a command with the same id is "
     "safe",
     false},
    {"expected-version", CTL_OPTION_VALUE, "N",
     "refuse with VERSION_CONFLICT unless the customer's stream is at this version", false},
    {"business-time", CTL_OPTION_VALUE, "TIME",
     "when it happened, if not now (ISO 8601, e.g. 2026-03-01T09:30:00Z)", false},
    {"correlation-id", CTL_OPTION_VALUE, "ID",
     "ties this command to others of one business process (kept in its events)", false},
    {NULL, CTL_OPTION_VALUE, NULL, NULL, false},
};

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

/* IO_ERROR saying why stdout could not be written: the reason of the first
 * failed write, else flush_errno (a failed fflush's), else no reason. */
static enum ledger_err output_failed(struct ctl_context *context, int flush_errno)
{
    int reason = ctl_output_write_errno() != 0 ? ctl_output_write_errno() : flush_errno;
    const char *why = reason != 0 ? strerror(reason) : "a write failed";
    if (context->committed_note[0] != '\0') {
        return ctl_fail(context, LEDGER_ERR_IO_ERROR, "cannot write the output: %s; %s", why,
                        context->committed_note);
    }
    if (context->committed_command_id[0] == '\0') {
        return ctl_fail(context, LEDGER_ERR_IO_ERROR, "cannot write the output: %s", why);
    }
    /* The command is done: a run again under a fresh id (the default) would
     * do it twice. */
    return ctl_fail(context, LEDGER_ERR_IO_ERROR,
                    "cannot write the output: %s; the command was committed all the same "
                    "(sequence %llu): do not run it again under a new id (with --command-id %s "
                    "it is answered as a duplicate, never done twice)",
                    why, (unsigned long long)context->committed_sequence,
                    context->committed_command_id);
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
    {"STARTS", "starts", CTL_COLUMN_DATE},
    {"EXPIRES", "expires", CTL_COLUMN_DATE},
    {"PURCHASER", "purchaser", 0},
    {"BOUGHT_BY", "bought_by", 0},
    {"PRICE", "price", CTL_COLUMN_MONEY},
    {"RETAIL", "retail_price", CTL_COLUMN_MONEY},
    {"SEQUENCE", "sequence", 0},
    {"LAST_SEQUENCE", "last_sequence", 0},
    {"CLOUD_ORDER", "cloud_order_id", 0},
};

static const struct ctl_option reservations_options[] = {
    OPT_CUSTOMER,
    OPT_AS_OF,
    OPT_AS_OF_BUSINESS_TIME,
    OPT_END,
};

static enum ledger_err run_reservations(struct ctl_context *context, const struct ctl_args *args)
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

static const struct ctl_option orders_options[] = {
    OPT_CUSTOMER,
    OPT_FROM_DATE,
    OPT_TO_DATE,
    OPT_END,
};

static enum ledger_err run_orders(struct ctl_context *context, const struct ctl_args *args)
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
    {"STARTS", "starts", CTL_COLUMN_DATE},
    {"EXPIRES", "expires", CTL_COLUMN_DATE},
    {"PURCHASER", "purchaser", 0},
    {"BOUGHT_BY", "bought_by", 0},
    {"PRICE", "price", CTL_COLUMN_MONEY},
    {"RETAIL", "retail_price", CTL_COLUMN_MONEY},
    {"SEQUENCE", "sequence", 0},
    {"LAST_SEQUENCE", "last_sequence", 0},
    {"CLOUD_ORDER", "cloud_order_id", 0},
};

static const struct ctl_option savings_plans_options[] = {
    OPT_CUSTOMER,
    OPT_AS_OF,
    OPT_AS_OF_BUSINESS_TIME,
    OPT_END,
};

static enum ledger_err run_savings_plans(struct ctl_context *context, const struct ctl_args *args)
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

static const struct ctl_option permissions_options[] = {
    OPT_CUSTOMER,
    {"history", CTL_OPTION_FLAG, NULL, "every change, not only the current switches", false},
    OPT_AS_OF,
    OPT_AS_OF_BUSINESS_TIME,
    OPT_END,
};

static enum ledger_err run_permissions(struct ctl_context *context, const struct ctl_args *args)
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

static const struct ctl_option activity_options[] = {
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

static enum ledger_err run_activity(struct ctl_context *context, const struct ctl_args *args)
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

static const struct ctl_option billing_options[] = {
    {"month", CTL_OPTION_VALUE, "YYYY-MM", "the billing month", true},
    {"customer", CTL_OPTION_VALUE, "ID", "only this customer", false},
    CTL_OPTION_BILLING_TREE_SIZE,
    CTL_OPTION_BILLING_PAGE_ROWS,
    OPT_END,
};

static enum ledger_err run_billing(struct ctl_context *context, const struct ctl_args *args)
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
static enum ledger_err run_stats(struct ctl_context *context, const struct ctl_args *args)
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

/* ------------------------------------------------------------------------ */
/* History. */

static const struct ctl_option events_options[] = {
    {"from", CTL_OPTION_VALUE, "SEQ",
     "start at this sequence, inclusive (default 1: the first event)", false},
    {"limit", CTL_OPTION_VALUE, "N", "print at most N events, then stop", false},
    {"customer", CTL_OPTION_VALUE, "C",
     "only this customer's events, its customer users' principal events among them", false},
    {"type", CTL_OPTION_LIST, "T",
     "only events of this type, e.g. reservation_purchased (repeat or separate with commas)",
     false},
    {"follow", CTL_OPTION_FLAG, NULL, "after the history, wait for new events until interrupted",
     false},
    {"checkpoint", CTL_OPTION_VALUE, "FILE",
     "resume after the sequence in FILE and record there the last event of each page printed "
     "(once the page is on the disk, when stdout is a file) and the filters; other --type or "
     "--customer filters than FILE's are refused",
     false},
    {"proofs", CTL_OPTION_FLAG, NULL,
     "include each event's record bytes and inclusion proof, each verified against a signed "
     "head before the event is printed",
     false},
    {"tree-size", CTL_OPTION_VALUE, "M",
     "the events of the tree of size M only, with --proofs proved against it (a head you kept)",
     false},
    {"public-key", CTL_OPTION_VALUE, "HEX",
     "with --proofs: the ledger's public key as pinned out of band (default: the key the head "
     "names)",
     false},
    OPT_END,
};

struct events_printer {
    struct ctl_event_stream stream;
    uint64_t limit; /* 0: no limit */
    uint64_t printed;
    struct ctl_context *context;
    struct ctl_proof_anchor *anchor; /* with --proofs */
    const char *checkpoint;          /* --checkpoint, or NULL */
    bool repaired;                   /* the cut line at the output's end is dealt with */
    bool checked;   /* err's message is in context's: the anchor's or the repair's */
    int sync_errno; /* not 0: the output could not be made durable */
    enum ledger_err err;
};

/* Before the feed's first line (once its checkpoint is read, and locked
 * against a second feed that would write into the same file): a cut line
 * at the end of the output file is removed, and stderr says so. */
static enum ledger_err events_repair(struct events_printer *printer)
{
    if (printer->repaired) {
        return LEDGER_ERR_OK;
    }
    struct ctl_context *context = printer->context;
    uint64_t removed = 0;
    enum ledger_err err =
        ctl_output_event_repair(&printer->stream, printer->anchor != NULL, &removed,
                                context->message, sizeof context->message);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    printer->repaired = true;
    if (removed > 0) {
        char name[PATH_MAX];
        ctl_output_name(context->out, name, sizeof name);
        fprintf(context->err,
                "warning: removed the cut line at the end of %.160s (its last %llu bytes, "
                "after its last line end: the feed was cut off there by a full disk or a "
                "crash); %s%.160s\n",
                name, (unsigned long long)removed,
                printer->checkpoint != NULL
                    ? "its event is printed again, whole, after the sequence of the checkpoint "
                      "file "
                    : "without --checkpoint its event is printed again only if --from reaches "
                      "back to it: restart the consumer from the sequence after the file's last "
                      "whole line",
                printer->checkpoint != NULL ? printer->checkpoint : "");
    }
    return LEDGER_ERR_OK;
}

/* A feed that printed no event: its output repaired all the same, and
 * the header a table or CSV feed prints for an empty view. */
static enum ledger_err events_none(struct events_printer *printer)
{
    enum ledger_err err = events_repair(printer);
    if (err == LEDGER_ERR_OK &&
        ctl_output_event_header(&printer->stream, printer->anchor != NULL) != LEDGER_ERR_OK) {
        err = output_failed(printer->context, 0);
    }
    return err;
}

static int print_event(void *context, const Ledger__V1__EventEntry *entry)
{
    struct events_printer *printer = context;
    if (printer->anchor != NULL) {
        /* Only an event whose record is proven to a signed root is printed. */
        enum ledger_err err = ctl_proof_anchor_check(printer->context, printer->anchor, entry);
        if (err != LEDGER_ERR_OK) {
            printer->err = err;
            printer->checked = true;
            return 1;
        }
    }
    enum ledger_err err = events_repair(printer);
    if (err != LEDGER_ERR_OK) {
        printer->err = err;
        printer->checked = true;
        return 1;
    }
    err = ctl_output_event(&printer->stream, entry);
    if (err != LEDGER_ERR_OK) {
        printer->err = err;
        return 1;
    }
    printer->printed++;
    return printer->limit != 0 && printer->printed >= printer->limit;
}

/* Before the checkpoint names the printed events (once a page): they are on
 * the disk first (when stdout is a file), and an event that could not be
 * printed is never named. */
static enum ledger_err events_before_checkpoint(void *context)
{
    struct events_printer *printer = context;
    if (printer->err != LEDGER_ERR_OK) {
        return printer->err;
    }
    if (ctl_output_sync(printer->stream.out) != LEDGER_ERR_OK) {
        printer->sync_errno = errno != 0 ? errno : EIO;
        printer->err = LEDGER_ERR_IO_ERROR;
    }
    return printer->err;
}

void ctl_signals_catch(void (*handler)(int), struct ctl_signals *saved)
{
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = handler;
    action.sa_flags = SA_RESTART;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &saved->previous_int);
    sigaction(SIGTERM, &action, &saved->previous_term);
}

void ctl_signals_restore(const struct ctl_signals *saved)
{
    sigaction(SIGINT, &saved->previous_int, NULL);
    sigaction(SIGTERM, &saved->previous_term, NULL);
}

static volatile sig_atomic_t events_stop;

static void events_signal(int signal_number)
{
    (void)signal_number;
    events_stop = 1;
}

/* The rest of `events`, once its options are read: types[0..type_count)
 * borrowed for the call. */
static enum ledger_err events_print(struct ctl_context *context, const struct ctl_args *args,
                                    uint64_t from, uint64_t limit, uint64_t tree_size,
                                    const char *customer, const char **types, size_t type_count)
{
    struct ledger_subscription subscription;
    memset(&subscription, 0, sizeof subscription);
    enum ledger_err err;
    const char *checkpoint = ctl_arg(args, "checkpoint");
    if (checkpoint != NULL && checkpoint[0] == '\0') {
        return ctl__usage(context, "checkpoint", "give a file name");
    }
    if (ctl_arg(args, "public-key") != NULL && !ctl_flag(args, "proofs")) {
        return ctl__usage(context, "public-key",
                          "it pins the key proofs are checked by: add --proofs");
    }
    /* A CSV feed appended to a file that already holds one (a feed started
     * again with >>) goes on without a second header record in its middle,
     * under the same columns only; a cut line at the file's end must be
     * one of the feed's (events_repair removes it): checked before anything
     * is asked. */
    struct ctl_event_stream stream = {
        .out = context->out, .format = context->format, .header_done = false};
    err = ctl_output_event_resume(&stream, ctl_flag(args, "proofs"), context->message,
                                  sizeof context->message);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    struct ledger_client *client = NULL;
    if ((err = ctl_client(context, &client)) != LEDGER_ERR_OK) {
        return err;
    }
    struct ctl_proof_anchor *anchor = NULL;
    if (ctl_flag(args, "proofs")) {
        err = ctl_proof_anchor_open(context, args, tree_size, ctl_flag(args, "follow"), &anchor);
        if (err != LEDGER_ERR_OK) {
            return err;
        }
        tree_size = ctl_proof_anchor_tree_size(anchor);
    }
    subscription.after_sequence = from > 0 ? from - 1 : 0; /* no --from: from 1 */
    subscription.checkpoint_path = checkpoint;
    /* One sync of the output and one checkpoint write a page of events
     * (the events one reply brought), not one an event: a consumer
     * following the feed pays for durability per batch. A kill may then
     * repeat up to a page, never lose a line (docs/cli.md). */
    subscription.checkpoint_mode = LEDGER_CHECKPOINT_EACH_PAGE;
    subscription.partner_id = context->partner_id;
    subscription.customer_id = customer;
    subscription.types = types;
    subscription.type_count = type_count;
    subscription.page_limit =
        limit != 0 && limit < LEDGER_EVENTS_PAGE_DEFAULT ? (uint32_t)limit : 0;
    subscription.follow = ctl_flag(args, "follow");
    subscription.include_proofs = ctl_flag(args, "proofs");
    subscription.tree_size = tree_size;
    subscription.before_checkpoint = events_before_checkpoint;
    struct events_printer printer = {
        .stream = stream,
        .limit = limit,
        .printed = 0,
        .context = context,
        .anchor = anchor,
        .checkpoint = checkpoint,
        .repaired = false,
        .checked = false,
        .sync_errno = 0,
        .err = LEDGER_ERR_OK,
    };
    /* Ctrl-C and SIGTERM stop the feed after the page being printed, with
     * the checkpoint naming its last line, following or not: a listing
     * killed by them could end in half a line, or leave the checkpoint
     * before lines it printed. SA_RESTART lets a write blocked on a full
     * pipe finish the line; the waits for the daemon (poll) return early
     * whatever the flag. */
    struct ctl_signals signals;
    events_stop = 0;
    ctl_signals_catch(events_signal, &signals);
    subscription.stop = &events_stop;
    err = ledger_subscribe(client, &subscription, print_event, &printer);
    ctl_signals_restore(&signals);
    if (err != LEDGER_ERR_OK && printer.err == LEDGER_ERR_OK) {
        ctl__copy_client_message(context, err);
    } else if (printer.sync_errno != 0) { /* only with a checkpoint */
        snprintf(context->message, sizeof context->message,
                 "cannot make the output durable (%s): the checkpoint file %s was not advanced",
                 strerror(printer.sync_errno), checkpoint);
        err = printer.err;
    } else if (printer.err != LEDGER_ERR_OK) {
        err = printer.checked ? printer.err : output_failed(context, 0);
    } else if (printer.printed > 0 || (err = events_none(&printer)) == LEDGER_ERR_OK) {
        if (printer.printed == 0 && context->format == CTL_FORMAT_TABLE) {
            fprintf(context->err, "no events\n");
        }
        if (anchor != NULL) {
            ctl_proof_anchor_summary(context, anchor);
        }
    }
    ctl_proof_anchor_close(anchor);
    return err;
}

static enum ledger_err run_events(struct ctl_context *context, const struct ctl_args *args)
{
    const char *types[LEDGER_EVENT_TYPES_FILTER_MAX];
    uint64_t from = 0, limit = 0, tree_size = 0;
    const char *customer = NULL;
    enum ledger_err err;
    if ((err = ctl__unsigned_arg(context, args, "from", UINT64_MAX, &from)) != LEDGER_ERR_OK ||
        (err = ctl__unsigned_arg(context, args, "limit", UINT64_MAX, &limit)) != LEDGER_ERR_OK ||
        (err = ctl__unsigned_arg(context, args, "tree-size", UINT64_MAX, &tree_size)) !=
            LEDGER_ERR_OK ||
        (err = ctl__id_arg(context, args, "customer", &customer)) != LEDGER_ERR_OK) {
        return err;
    }
    /* --from names the first sequence printed, as --seq and --as-of name
     * one: 0 is no sequence. */
    if (ctl_flag(args, "from") && from == 0) {
        return ctl__usage(context, "from", "sequences start at 1");
    }
    if (ctl_flag(args, "limit") && limit == 0) {
        return ctl__usage(context, "limit", "at least 1");
    }
    if (ctl_flag(args, "tree-size") && tree_size == 0) {
        return ctl__usage(context, "tree-size", "at least 1");
    }
    if (tree_size != 0 && ctl_flag(args, "follow")) {
        return ctl__usage(context, "tree-size", "a fixed tree has no new events to follow");
    }
    /* Room for every name given, however long: one that is no type is
     * named as such, not counted as one too many. */
    size_t storage_size = ctl_arg_list_size(args, "type");
    char *storage = malloc(storage_size);
    if (storage == NULL) {
        snprintf(context->message, sizeof context->message, "out of memory");
        return LEDGER_ERR_NO_MEMORY;
    }
    size_t type_count =
        ctl_arg_list(args, "type", types, LEDGER_EVENT_TYPES_FILTER_MAX, storage, storage_size);
    err = type_count > LEDGER_EVENT_TYPES_FILTER_MAX
              ? ctl__usage(context, "type", "at most 32 types")
              : LEDGER_ERR_OK;
    for (size_t i = 0; i < type_count && err == LEDGER_ERR_OK; i++) {
        const ProtobufCFieldDescriptor *field = protobuf_c_message_descriptor_get_field_by_name(
            &ledger__v1__event__descriptor, types[i]);
        if (field == NULL || (field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) == 0) {
            char message[CTL_MESSAGE_SIZE];
            snprintf(message, sizeof message,
                     "'%.64s' is not an event type (e.g. reservation_purchased, "
                     "purchase_permission_granted; see docs/cli.md)",
                     types[i]);
            err = ctl__usage(context, "type", message);
        }
    }
    if (err != LEDGER_ERR_OK) {
        free(storage);
        return err;
    }
    err = events_print(context, args, from, limit, tree_size, customer, types, type_count);
    free(storage);
    return err;
}

/* ------------------------------------------------------------------------ */
/* Proofs. */

/* ------------------------------------------------------------------------ */
/* Operations. */

/* A backup copies the whole store: it may take minutes, so unless the user
 * chose a timeout it gets this one, and it is not resent (a second request
 * while the first still runs would only be refused). */
#define BACKUP_TIMEOUT_MS (30 * 60 * 1000)

static const struct ctl_option backup_options[] = {
    {"out", CTL_OPTION_VALUE, "DIR",
     "where the daemon writes the backup, on its own host (must not exist yet; a relative DIR is "
     "made absolute here)",
     false},
    {"dir", CTL_OPTION_VALUE, "DIR", "the same as --out", false},
    OPT_END,
};

/* A bar for a backup the daemon writes on this host (an IPC socket): the
 * copy's data.mdb grows to about the store's pages in use. The daemon
 * builds it in a partial directory beside DIR (".NAME.partial-...", see
 * LEDGER_BACKUP_PARTIAL_NAME_KEPT) and renames it when whole. A thread
 * watches the file while the request waits for its answer. */
struct backup_watch {
    struct progress bar;
    char parent[4200];
    char prefix[LEDGER_BACKUP_PARTIAL_NAME_KEPT + 16];
    pthread_mutex_t lock;
    pthread_cond_t changed;
    bool done;
};

/* The bytes of the data.mdb being written: the largest in a partial
 * directory of this backup (one left by an interrupted backup of the same
 * name may be there too, never larger than the store). */
static uint64_t backup_watch_bytes(const struct backup_watch *watch)
{
    uint64_t bytes = 0;
    DIR *handle = opendir(watch->parent);
    if (handle == NULL) {
        return 0;
    }
    size_t prefix_length = strlen(watch->prefix);
    struct dirent *entry;
    /* A parent of backups holds few entries; bounded all the same. */
    for (unsigned seen = 0; seen < 100000 && (entry = readdir(handle)) != NULL; seen++) {
        char path[4200 + 2 * NAME_MAX];
        struct stat info;
        if (strncmp(entry->d_name, watch->prefix, prefix_length) == 0 &&
            snprintf(path, sizeof path, "%s/%s/data.mdb", watch->parent, entry->d_name) <
                (int)sizeof path &&
            stat(path, &info) == 0 && (uint64_t)info.st_size > bytes) {
            bytes = (uint64_t)info.st_size;
        }
    }
    closedir(handle);
    return bytes;
}

/* Fills the watch's parent and prefix from the backup directory `dir`;
 * false when they do not fit. */
static bool backup_watch_names(struct backup_watch *watch, const char *dir)
{
    const char *slash = strrchr(dir, '/');
    const char *name = slash != NULL ? slash + 1 : dir;
    int parent_length = slash == NULL  ? snprintf(watch->parent, sizeof watch->parent, ".")
                        : slash == dir ? snprintf(watch->parent, sizeof watch->parent, "/")
                                       : snprintf(watch->parent, sizeof watch->parent, "%.*s",
                                                  (int)(slash - dir), dir);
    int prefix_length = snprintf(watch->prefix, sizeof watch->prefix, ".%.*s.partial-",
                                 LEDGER_BACKUP_PARTIAL_NAME_KEPT, name);
    return name[0] != '\0' && parent_length > 0 && (size_t)parent_length < sizeof watch->parent &&
           prefix_length > 0 && (size_t)prefix_length < sizeof watch->prefix;
}

static void *backup_watch_main(void *argument)
{
    struct backup_watch *watch = argument;
    pthread_mutex_lock(&watch->lock);
    while (!watch->done) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 100 * 1000 * 1000;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&watch->changed, &watch->lock, &until);
        if (!watch->done) {
            uint64_t bytes = backup_watch_bytes(watch);
            progress_update(&watch->bar, bytes < watch->bar.total ? bytes : watch->bar.total - 1);
        }
    }
    pthread_mutex_unlock(&watch->lock);
    return NULL;
}

/* The store's bytes in use (the stats query), or 0 when unknown. */
static uint64_t store_used_bytes(struct ctl_context *context)
{
    Ledger__V1__StatsQuery stats = LEDGER__V1__STATS_QUERY__INIT;
    Ledger__V1__Query query = LEDGER__V1__QUERY__INIT;
    query.kind_case = LEDGER__V1__QUERY__KIND_STATS;
    query.stats = &stats;
    Ledger__V1__QueryResult *result = NULL;
    uint64_t used = 0;
    if (ctl_query(context, &query, &result) == LEDGER_ERR_OK) {
        for (size_t i = 0; i < result->n_stats; i++) {
            if (strcmp(result->stats[i]->name, "ledger_map_used_bytes") == 0 &&
                result->stats[i]->value > 0) {
                used = (uint64_t)result->stats[i]->value;
            }
        }
        ledger_query_result_free(result);
    }
    context->message[0] = '\0';
    return used;
}

static enum ledger_err run_backup(struct ctl_context *context, const struct ctl_args *args)
{
    Ledger__V1__BackupQuery backup = LEDGER__V1__BACKUP_QUERY__INIT;
    Ledger__V1__Query query = LEDGER__V1__QUERY__INIT;
    const char *dir = ctl_arg(args, "out");
    char absolute[4096];
    if (dir != NULL && ctl_flag(args, "dir")) {
        return ctl__usage(context, "out", "give --out or --dir, not both");
    }
    if (dir == NULL) {
        dir = ctl_arg(args, "dir");
    }
    if (dir == NULL || dir[0] == '\0') {
        return ctl__usage(context, "out", "is required (DIR): a directory that does not exist yet");
    }
    /* The daemon resolves paths from its own working directory: send an
     * absolute one, resolved here. */
    if (dir[0] != '/') {
        char cwd[sizeof absolute];
        if (getcwd(cwd, sizeof cwd) == NULL) {
            return ctl__usage(context, "out", "give an absolute path");
        }
        /* Whole, or refused: a shortened path names another directory. */
        int length = snprintf(absolute, sizeof absolute, "%s/%s", cwd, dir);
        if (length < 0 || (size_t)length >= sizeof absolute) {
            return ctl_fail(context, LEDGER_ERR_USAGE,
                            "--out: the path made absolute is longer than %zu bytes; give a "
                            "shorter one",
                            sizeof absolute - 1);
        }
        dir = absolute;
    }
    if (!ctl_flag(args, "timeout-ms")) {
        context->options.timeout_ms = BACKUP_TIMEOUT_MS;
    }
    if (!ctl_flag(args, "retries")) {
        context->options.retries = 0;
    }
    backup.directory = (char *)(uintptr_t)dir;
    query.kind_case = LEDGER__V1__QUERY__KIND_BACKUP;
    query.backup = &backup;
    /* On a terminal, and when the daemon writes on this host, a bar. */
    struct backup_watch watch = {.done = false};
    bool watching = false;
    if (isatty(fileno(context->err)) && context->options.request_url != NULL &&
        strncmp(context->options.request_url, "ipc://", 6) == 0) {
        uint64_t total = store_used_bytes(context);
        if (total > 0 && backup_watch_names(&watch, dir)) {
            progress_start(&watch.bar, "backup", "bytes", total, false);
            watching = pthread_mutex_init(&watch.lock, NULL) == 0;
            if (watching && pthread_cond_init(&watch.changed, NULL) != 0) {
                pthread_mutex_destroy(&watch.lock);
                watching = false;
            }
        }
    }
    pthread_t watcher;
    if (watching && pthread_create(&watcher, NULL, backup_watch_main, &watch) != 0) {
        pthread_cond_destroy(&watch.changed);
        pthread_mutex_destroy(&watch.lock);
        watching = false;
    }
    Ledger__V1__QueryResult *result = NULL;
    enum ledger_err err = ctl_query(context, &query, &result);
    if (watching) {
        pthread_mutex_lock(&watch.lock);
        watch.done = true;
        pthread_cond_signal(&watch.changed);
        pthread_mutex_unlock(&watch.lock);
        pthread_join(watcher, NULL);
        pthread_cond_destroy(&watch.changed);
        pthread_mutex_destroy(&watch.lock);
        if (err == LEDGER_ERR_OK) {
            /* Whole, and renamed to its final name. */
            char path[4200];
            struct stat info;
            snprintf(path, sizeof path, "%s/data.mdb", dir);
            watch.bar.total = stat(path, &info) == 0 ? (uint64_t)info.st_size : 0;
            progress_finish(&watch.bar, watch.bar.total);
        } else {
            /* A failed backup removed what it wrote. */
            progress_finish(&watch.bar, 0);
        }
    }
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    if (result->head == NULL) {
        err = LEDGER_ERR_PROTOCOL_ERROR;
        snprintf(context->message, sizeof context->message, "the reply carries no head");
    } else if ((err = ctl_head_check(context, result->head, "backup's")) != LEDGER_ERR_OK) {
        /* The daemon wrote a backup whose head it cannot vouch for: say
         * where, so that it is not kept as a good one. */
        size_t length = strlen(context->message);
        snprintf(context->message + length, sizeof context->message - length,
                 "; do not keep the backup in %s: check it with ledger-verify --head", dir);
    } else {
        struct ctl_extra extras[2] = {{"verified", NULL, 1, true}, {"directory", dir, 0, false}};
        err = ctl_output_message_extras(context->out, context->format, "head", &result->head->base,
                                        extras, 2);
        if (err == LEDGER_ERR_OK && context->format == CTL_FORMAT_TABLE) {
            fprintf(context->err, "backup written to %s (head.pb beside it)\n", dir);
        }
    }
    ledger_query_result_free(result);
    return err;
}

static const struct ctl_option no_options[] = {OPT_END};

/* ------------------------------------------------------------------------ */
/* The verb table. */

struct ctl_verb {
    const char *name;
    const char *summary;
    const struct ctl_option *options;
    bool write;
    const char *example;
    enum ledger_err (*run)(struct ctl_context *context, const struct ctl_args *args);
};

static const struct ctl_verb verbs[] = {
    {"principal add", "add a principal and write its key file (operator)",
     ctl__principal_add_options, true,
     "ledgerctl principal add --id alice --role admin-agent --partner contoso "
     "--key-out alice.key",
     ctl__run_principal_add},
    {"principal list", "list the principals (operator)", no_options, false,
     "ledgerctl principal list", ctl__run_principal_list},
    {"principal revoke", "revoke a principal (operator)", ctl__principal_revoke_options, true,
     "ledgerctl principal revoke --id alice", ctl__run_principal_revoke},
    {"principal rotate",
     "replace a principal's secret, keeping its id, and write the new key file (operator)",
     ctl__principal_rotate_options, true,
     "ledgerctl principal rotate --id alice --key-out alice-2.key", ctl__run_principal_rotate},
    {"partner add", "register a partner (operator)", ctl__partner_add_options, true,
     "ledgerctl partner add --partner contoso --name \"Contoso Cloud\"", ctl__run_partner_add},
    {"customer add", "onboard a customer", ctl__customer_add_options, true,
     "ledgerctl customer add --customer fabrikam --name \"Fabrikam Ltd\"", ctl__run_customer_add},
    {"subscription add", "buy a subscription for a customer", ctl__subscription_add_options, true,
     "ledgerctl subscription add --customer fabrikam --subscription sub-1 --offer azure-plan",
     ctl__run_subscription_add},
    {"subscription status", "change a subscription's status", ctl__subscription_status_options,
     true,
     "ledgerctl subscription status --customer fabrikam --subscription sub-1 --status suspended",
     ctl__run_subscription_status},
    {"role assign", "give a customer user a role on a subscription", ctl__role_options, true,
     "ledgerctl role assign --customer fabrikam --subscription sub-1 --user bob --role owner",
     ctl__run_role_assign},
    {"role remove", "take a role away", ctl__role_options, true,
     "ledgerctl role remove --customer fabrikam --subscription sub-1 --user bob --role owner",
     ctl__run_role_remove},
    {"permission enable", "turn a customer purchase permission on (admin agent)",
     ctl__permission_options, true,
     "ledgerctl permission enable --customer fabrikam --kind reservations",
     ctl__run_permission_enable},
    {"permission disable", "turn a customer purchase permission off (admin agent)",
     ctl__permission_options, true,
     "ledgerctl permission disable --customer fabrikam --kind savings-plans",
     ctl__run_permission_disable},
    {"reservation buy", "buy a reservation", ctl__reservation_buy_options, true,
     "ledgerctl reservation buy --customer fabrikam --subscription sub-1 --sku Standard_D2s_v5 "
     "--region westeurope --quantity 2 --term P1Y --billing monthly --scope shared "
     "--price 1234.56 --retail-price 1400.00 --currency USD",
     ctl__run_reservation_buy},
    {"savings-plan buy", "buy a savings plan", ctl__savings_plan_buy_options, true,
     "ledgerctl savings-plan buy --customer fabrikam --subscription sub-1 --hourly-commitment "
     "2.50 --term P3Y --billing monthly --scope single --scope-target sub-1 --price 65700.00 "
     "--retail-price 70000.00 --currency USD",
     ctl__run_savings_plan_buy},
    {"reservation exchange", "return reservations and buy new ones (partner)",
     ctl__reservation_exchange_options, true,
     "ledgerctl reservation exchange --customer fabrikam --reservation r-1 --refund 500.00 "
     "--subscription sub-1 --sku Standard_D4s_v5 --region westeurope --quantity 1 --term P3Y "
     "--billing upfront --scope shared --price 3000.00 --retail-price 3300.00 --currency USD",
     ctl__run_reservation_exchange},
    {"reservation cancel", "cancel a reservation with a refund (partner)",
     ctl__reservation_cancel_options, true,
     "ledgerctl reservation cancel --customer fabrikam --reservation r-1 --refund 250.00",
     ctl__run_reservation_cancel},
    {"reservation renew", "set a reservation's auto-renewal (partner)",
     ctl__reservation_renew_options, true,
     "ledgerctl reservation renew --customer fabrikam --reservation r-1 --on",
     ctl__run_reservation_renew},
    {"reservation renewed",
     "record that a reservation renewed at its expiry, at a new price (partner)",
     ctl__reservation_renewed_options, true,
     "ledgerctl reservation renewed --customer fabrikam --reservation r-1 --price 1234.56 "
     "--retail-price 1400.00 --currency USD",
     ctl__run_reservation_renewed},
    {"reservation expired", "record that a reservation reached its end (partner)",
     ctl__reservation_expired_options, true,
     "ledgerctl reservation expired --customer fabrikam --reservation r-1",
     ctl__run_reservation_expired},
    {"reservation scope", "change a reservation's scope (partner)", ctl__reservation_scope_options,
     true,
     "ledgerctl reservation scope --customer fabrikam --reservation r-1 --scope single "
     "--scope-target sub-1",
     ctl__run_reservation_scope},
    {"savings-plan scope", "change a savings plan's scope", ctl__savings_plan_scope_options, true,
     "ledgerctl savings-plan scope --customer fabrikam --savings-plan sp-1 --scope shared",
     ctl__run_savings_plan_scope},
    {"savings-plan renew", "set a savings plan's auto-renewal", ctl__savings_plan_renew_options,
     true, "ledgerctl savings-plan renew --customer fabrikam --savings-plan sp-1 --off",
     ctl__run_savings_plan_renew},
    {"savings-plan renewed",
     "record that a savings plan renewed at its expiry, at a new price (partner)",
     ctl__savings_plan_renewed_options, true,
     "ledgerctl savings-plan renewed --customer fabrikam --savings-plan sp-1 --price 21900.00 "
     "--retail-price 24000.00 --currency USD",
     ctl__run_savings_plan_renewed},
    {"cost-visibility set", "let customer users see retail prices, or not",
     ctl__cost_visibility_options, true, "ledgerctl cost-visibility set --customer fabrikam --on",
     ctl__run_cost_visibility},
    {"reservations", "a customer's reservations, now or as of a time, sequence or business time",
     reservations_options, false, "ledgerctl reservations --customer fabrikam --as-of 2026-01-31",
     run_reservations},
    {"orders", "a customer's order history", orders_options, false,
     "ledgerctl orders --customer fabrikam --from 2026-01-01 --to 2026-03-31", run_orders},
    {"savings-plans", "a customer's savings plans, now or as of a time, sequence or business time",
     savings_plans_options, false, "ledgerctl savings-plans --customer fabrikam --as-of 2026-03-01",
     run_savings_plans},
    {"permissions", "a customer's purchase permissions and their history", permissions_options,
     false, "ledgerctl permissions --customer fabrikam --history", run_permissions},
    {"activity", "the partner's activity log", activity_options, false,
     "ledgerctl activity --customer fabrikam --action \"Create Customer Purchase Permissions\"",
     run_activity},
    {"billing", "what the partner pays for in a month, partner vs retail", billing_options, false,
     "ledgerctl billing --month 2026-03", run_billing},
    {"export", "every charge of a month as CSV or JSON, for spreadsheets and invoices",
     ctl_export_options, false, "ledgerctl --output csv export --month 2026-03 > 2026-03.csv",
     ctl_export_run},
    {"reconcile", "compare an invoice CSV with the ledger's charges of a month",
     ctl_reconcile_options, false,
     "ledgerctl reconcile --invoice invoice-2026-03.csv --month 2026-03", ctl_reconcile_run},
    {"events", "the event log, from a sequence, optionally following new events", events_options,
     false, "ledgerctl --output json events --follow --checkpoint billing.checkpoint", run_events},
    {"head", "the signed tree head; --save keeps it for a later verify", ctl_head_options, false,
     "ledgerctl head --save heads/2026-11-23.pb", ctl_head_run},
    {"proof", "an inclusion proof for an event, verified against the signed head",
     ctl_proof_options, false, "ledgerctl proof --seq 42 --tree-size 100", ctl_proof_run},
    {"consistency", "a consistency proof between two tree sizes, verified", ctl_consistency_options,
     false, "ledgerctl consistency --from 50 --to 100", ctl_consistency_run},
    {"verify", "check that the current history extends a head saved earlier", ctl_verify_options,
     false, "ledgerctl verify --head heads/2026-11-23.pb --public-key 3b6a27bc...", ctl_verify_run},
    {"explain", "which permission and role assignment allowed a purchase, with verified proofs",
     ctl_explain_options, false, "ledgerctl explain --seq 42", ctl_explain_run},
    {"stats", "the daemon's counters", no_options, false, "ledgerctl stats", run_stats},
    {"backup", "have the daemon write a hot backup (operator)", backup_options, false,
     "ledgerctl backup --out /srv/backups/ledger-2026-11-23", run_backup},
    {"import", "load history from a file of write commands, in atomic batches", ctl_import_options,
     false,
     "ledgerctl --principal contoso-admin --key-file contoso-admin.key import --file history.txt",
     ctl_import_run},
    {"demo", "load a small realistic world into an empty ledger", ctl_demo_options, false,
     "ledgerctl demo --keys-dir ./ledger-demo-keys", ctl_demo_run},
};

#define VERB_COUNT (sizeof verbs / sizeof verbs[0])

/* ------------------------------------------------------------------------ */
/* Help. */

static void print_options(FILE *out, const struct ctl_option *options)
{
    for (const struct ctl_option *option = options; option->name != NULL; option++) {
        char left[64];
        snprintf(left, sizeof left, "--%s%s%s", option->name, option->metavar != NULL ? " " : "",
                 option->metavar != NULL ? option->metavar : "");
        fprintf(out, "  %-28s %s%s\n", left, option->help, option->required ? " (required)" : "");
    }
}

static void print_general_help(FILE *out)
{
    fprintf(out, "usage: ledgerctl [GLOBAL OPTIONS] VERB [OPTIONS]\n"
                 "\n"
                 "ledgerctl talks to ledgerd, the purchase and permission audit ledger.\n"
                 "\n"
                 "Verbs:\n");
    for (size_t i = 0; i < VERB_COUNT; i++) {
        fprintf(out, "  %-22s %s\n", verbs[i].name, verbs[i].summary);
    }
    fprintf(out, "\nGlobal options (accepted before or after the verb):\n");
    print_options(out, global_options);
    fprintf(out, "\nExit status: 0 success; 1 the ledger refused, a proof did not verify or a "
                 "reconciliation\nfound differences (MISMATCH), or a local failure; 2 usage "
                 "error;\n3 cannot reach the daemon or authentication failed.\n"
                 "\nExample:\n  ledgerctl demo && ledgerctl --principal contoso-admin "
                 "--key-file ledger-demo-keys/contoso-admin.key reservations --customer fabrikam\n"
                 "\n'ledgerctl VERB --help' explains a verb. docs/cli.md has everything.\n");
}

static void print_verb_help(FILE *out, const struct ctl_verb *verb)
{
    fprintf(out, "usage: ledgerctl %s", verb->name);
    for (const struct ctl_option *option = verb->options; option->name != NULL; option++) {
        if (option->required) {
            fprintf(out, " --%s %s", option->name, option->metavar != NULL ? option->metavar : "");
        }
    }
    if (verb->options[0].name == NULL) {
        /* An empty "Options:" would read as a list that failed to print. */
        fprintf(out,
                " [OPTIONS]\n\n%s.\n\nOptions: none of its own; the global options "
                "below.\n",
                verb->summary);
    } else {
        fprintf(out, " [OPTIONS]\n\n%s.\n\nOptions:\n", verb->summary);
        print_options(out, verb->options);
    }
    if (verb->write) {
        fprintf(out, "\nEvery write also takes:\n");
        print_options(out, write_options);
    }
    if (verb->run == ctl_import_run) {
        fprintf(out,
                "\nThe file holds one write command a line, as typed after 'ledgerctl' (the "
                "verb and its\noptions, no global options), split into words as sh does, "
                "without expansions; blank\nlines and # comments are skipped; a line is at "
                "most %d bytes, a file at most\n%d commands. Every line is read and "
                "built before anything is sent. A line\nwithout --command-id gets an id derived "
                "from its words, so that running the file\nagain (after a refusal, once the line "
                "is corrected, or an interruption) records\nnothing twice: what was committed is "
                "counted as already there.\n",
                CTL_IMPORT_LINE_MAX, CTL_IMPORT_COMMANDS_MAX);
    }
    fprintf(out, "\nGlobal options:\n");
    print_options(out, global_options);
    fprintf(out, "\nExample:\n  %s\n", verb->example);
}

/* ------------------------------------------------------------------------ */
/* The dispatcher. */

/* What a user can do about an authentication refusal: only ledgerctl
 * knows which option or variable gave the principal and its key. */
static const struct {
    enum ledger_err code;
    const char *advice;
} auth_advice[] = {
    {LEDGER_ERR_UNKNOWN_PRINCIPAL, "check --principal or LEDGER_PRINCIPAL (an operator lists them "
                                   "with ledgerctl principal list)"},
    {LEDGER_ERR_BAD_SIGNATURE,
     "this key file is not the principal's: check --key-file or LEDGER_KEY_FILE (and --principal); "
     "after an operator rotated the principal's secret, use the key file it wrote"},
    {LEDGER_ERR_PRINCIPAL_REVOKED, "ask an operator for a new principal and key"},
    {LEDGER_ERR_STALE_REQUEST,
     "requests are signed with this machine's time, and signed again while that can help; the "
     "reason says whether this machine's clock or the daemon's speed is to blame"},
};

/* Adds to the daemon's reason for a refusal what to change: for the
 * authentication codes, who was asking with which key at which daemon; for
 * a principal of all partners that gave no --partner, that option. */
static void add_advice(struct ctl_context *context, enum ledger_err err)
{
    const struct ledger_options *options = &context->options;
    size_t length = strlen(context->message);
    char *end = context->message + length;
    size_t left = sizeof context->message - length;
    if (err == LEDGER_ERR_INVALID_ARGUMENT && context->partner_id == NULL &&
        strncmp(context->message, "partner_id is required", 22) == 0) {
        snprintf(end, left, "; principal '%.64s' acts for every partner: give --partner P",
                 options->principal_id);
        return;
    }
    /* A secret given where the principal id goes is not shown back: the
     * message may end up in a log, as the daemon's does not. */
    const char *principal =
        options->principal_id != NULL && ledger_id_looks_like_secret(options->principal_id)
            ? LEDGER_ID_SECRET_SHOWN
            : options->principal_id;
    for (size_t i = 0; i < sizeof auth_advice / sizeof auth_advice[0]; i++) {
        if (auth_advice[i].code == err) {
            snprintf(end, left, "; principal '%.64s', key file %.200s, daemon %.200s: %s",
                     principal, options->key_file, options->request_url, auth_advice[i].advice);
        }
    }
}

int ctl_exit_status(enum ledger_err err)
{
    switch (err) {
    case LEDGER_ERR_OK:
        return CTL_EXIT_OK;
    case LEDGER_ERR_USAGE:
        return CTL_EXIT_USAGE;
    case LEDGER_ERR_UNKNOWN_PRINCIPAL:
    case LEDGER_ERR_BAD_SIGNATURE:
    case LEDGER_ERR_PRINCIPAL_REVOKED:
    case LEDGER_ERR_STALE_REQUEST:
    case LEDGER_ERR_TIMEOUT:
    case LEDGER_ERR_UNREACHABLE:
    case LEDGER_ERR_PROTOCOL_ERROR:
        return CTL_EXIT_UNREACHABLE;
    default:
        return CTL_EXIT_REFUSED;
    }
}

static bool option_takes_value(const struct ctl_option *table, const char *token)
{
    const char *name = token + 2;
    if (strchr(name, '=') != NULL) {
        return false;
    }
    for (const struct ctl_option *option = table; option->name != NULL; option++) {
        if (strcmp(option->name, name) == 0) {
            return option->kind != CTL_OPTION_FLAG;
        }
    }
    return false;
}

static const struct ctl_verb *find_verb(const char *name)
{
    for (size_t i = 0; i < VERB_COUNT; i++) {
        if (strcmp(verbs[i].name, name) == 0) {
            return &verbs[i];
        }
    }
    return NULL;
}

/* The default request socket: ipc://$PWD/ledger-data/ledger.sock. */
static void default_urls(struct ctl_context *context)
{
    char cwd[2048];
    if (getcwd(cwd, sizeof cwd) == NULL) {
        snprintf(cwd, sizeof cwd, ".");
    }
    snprintf(context->socket_buffer, sizeof context->socket_buffer,
             "ipc://%s/ledger-data/ledger.sock", cwd);
}

/* The events socket beside an ipc request socket ("…/ledger.sock" ->
 * "…/events.sock"); nothing for other URLs. */
static const char *events_beside(struct ctl_context *context, const char *socket)
{
    const char *slash = strrchr(socket, '/');
    if (strncmp(socket, "ipc://", 6) != 0 || slash == NULL) {
        return NULL;
    }
    snprintf(context->events_buffer, sizeof context->events_buffer, "%.*s/events.sock",
             (int)(slash - socket), socket);
    return context->events_buffer;
}

/* The reason url cannot name a daemon's socket, or NULL when it can: an
 * ipc:// address needs a path, a tcp:// one an IPv4 host (or a name) and a
 * port 1..65535 after its last ':' (nanomsg's own refusal would read as an
 * unreachable daemon). */
static const char *url_flaw(const char *url)
{
    if (strncmp(url, "ipc://", 6) == 0) {
        return url[6] == '\0' ? "has no path: give ipc://PATH" : NULL;
    }
    if (strncmp(url, "tcp://", 6) != 0) {
        return "is not an ipc:// or tcp:// address";
    }
    const char *colon = strrchr(url + 6, ':');
    uint64_t port = 0;
    bool numeric = colon != NULL && colon[1] != '\0' && strlen(colon + 1) <= 5;
    for (const char *c = colon != NULL ? colon + 1 : ""; numeric && *c != '\0'; c++) {
        numeric = *c >= '0' && *c <= '9';
        port = port * 10 + (uint64_t)(*c - '0');
    }
    if (!numeric || colon == url + 6 || port == 0 || port > 65535) {
        return "is not a tcp://HOST:PORT address (a port 1..65535)";
    }
    /* The daemon's sockets, and this one, are IPv4 only (nanomsg's default). */
    if (url[6] == '[' || memchr(url + 6, ':', (size_t)(colon - (url + 6))) != NULL) {
        return "names an IPv6 host: ledgerd listens on IPv4 only; give an IPv4 address or a "
               "host name";
    }
    return NULL;
}

/* USAGE unless url is an address a daemon listens on (ipc:// or tcp://,
 * docs/cli.md): anything else could only fail to connect. option: the
 * option that gave it, env: its environment variable. */
static enum ledger_err url_check(struct ctl_context *context, const struct ctl_args *args,
                                 const char *option, const char *env, const char *url)
{
    const char *flaw = url != NULL ? url_flaw(url) : NULL;
    if (flaw == NULL) {
        return LEDGER_ERR_OK;
    }
    bool given = ctl_arg(args, option) != NULL;
    char why[CTL_MESSAGE_SIZE];
    snprintf(why, sizeof why, "'%.100s'%s%s%s %s", url, given ? "" : " (from ", given ? "" : env,
             given ? "" : ")", flaw);
    return ctl__usage(context, option, why);
}

static enum ledger_err apply_globals(struct ctl_context *context, const struct ctl_args *args,
                                     bool verb_owns_partner)
{
    char message[CTL_MESSAGE_SIZE];
    const char *value = ctl_arg(args, "output");
    if (value == NULL || strcmp(value, "table") == 0) {
        context->format = CTL_FORMAT_TABLE;
    } else if (strcmp(value, "json") == 0) {
        context->format = CTL_FORMAT_JSON;
    } else if (strcmp(value, "csv") == 0) {
        context->format = CTL_FORMAT_CSV;
    } else {
        return ctl__usage(context, "output", "one of table, json, csv");
    }
    const char *socket = ctl_arg(args, "socket");
    if (socket == NULL) {
        socket = getenv("LEDGER_SOCKET");
    }
    if (socket == NULL || socket[0] == '\0') {
        default_urls(context);
        socket = context->socket_buffer;
    }
    const char *events = ctl_arg(args, "events");
    if (events == NULL) {
        events = getenv("LEDGER_EVENTS");
    }
    if (events == NULL || events[0] == '\0') {
        events = events_beside(context, socket);
    }
    enum ledger_err err;
    if ((err = url_check(context, args, "socket", "LEDGER_SOCKET", socket)) != LEDGER_ERR_OK ||
        (err = url_check(context, args, "events", "LEDGER_EVENTS", events)) != LEDGER_ERR_OK) {
        return err;
    }
    const char *principal = ctl_arg(args, "principal");
    if (principal == NULL) {
        principal = getenv("LEDGER_PRINCIPAL");
    }
    if (principal == NULL || principal[0] == '\0') {
        principal = "operator";
    }
    if (!ledger_id_valid(principal)) {
        /* One that came from the environment is named with where it came
         * from, as the socket's is: the command line has no --principal. */
        if (ctl_arg(args, "principal") != NULL) {
            return ctl__usage(context, "principal", CTL_ID_RULE);
        }
        snprintf(message, sizeof message, "'%.100s' (from LEDGER_PRINCIPAL): " CTL_ID_RULE,
                 principal);
        return ctl__usage(context, "principal", message);
    }
    const char *key_file = ctl_arg(args, "key-file");
    if (key_file == NULL) {
        key_file = getenv("LEDGER_KEY_FILE");
    }
    if (key_file == NULL || key_file[0] == '\0') {
        snprintf(context->key_buffer, sizeof context->key_buffer, "./ledger-data/%s.key",
                 principal);
        key_file = context->key_buffer;
    }
    uint64_t timeout_ms = LEDGER_CLIENT_TIMEOUT_MS_DEFAULT;
    if (ctl_arg(args, "timeout-ms") != NULL) {
        if (ctl_unsigned_parse(ctl_arg(args, "timeout-ms"), 3600000, &timeout_ms, message) !=
                LEDGER_ERR_OK ||
            timeout_ms == 0) {
            return ctl__usage(context, "timeout-ms", "give 1..3600000 milliseconds");
        }
    }
    uint64_t retries = 2;
    if (ctl_arg(args, "retries") != NULL &&
        ctl_unsigned_parse(ctl_arg(args, "retries"), 100, &retries, message) != LEDGER_ERR_OK) {
        return ctl__usage(context, "retries", message);
    }
    context->options.request_url = socket;
    context->options.events_url = events;
    context->options.principal_id = principal;
    context->options.key_file = key_file;
    context->options.timeout_ms = (uint32_t)timeout_ms;
    context->options.retries = (uint32_t)retries;
    if (!verb_owns_partner) {
        const char *partner = ctl_arg(args, "partner");
        if (partner != NULL && !ledger_id_valid(partner)) {
            return ctl__usage(context, "partner", CTL_ID_RULE);
        }
        context->partner_id = partner;
    }
    return LEDGER_ERR_OK;
}

static bool verb_has_option(const struct ctl_verb *verb, const char *name)
{
    for (const struct ctl_option *option = verb->options; option->name != NULL; option++) {
        if (strcmp(option->name, name) == 0) {
            return true;
        }
    }
    return false;
}

/* USAGE for a verb that is none: a first word of none ("unknown verb"), a
 * first word of two-word verbs alone ("needs a second word") or with a
 * second word that is none of them; the two latter list the second words. */
static enum ledger_err unknown_verb(struct ctl_context *context, const char *first,
                                    const char *second)
{
    char words[CTL_MESSAGE_SIZE / 2];
    size_t used = 0, length = strlen(first);
    words[0] = '\0';
    for (size_t v = 0; v < VERB_COUNT; v++) {
        if (strncmp(verbs[v].name, first, length) == 0 && verbs[v].name[length] == ' ') {
            int wrote = snprintf(words + used, sizeof words - used, "%s%s", used > 0 ? ", " : "",
                                 verbs[v].name + length + 1);
            if (wrote > 0 && (size_t)wrote < sizeof words - used) {
                used += (size_t)wrote;
            }
        }
    }
    /* As large as the context's message: the names and the list fit. */
    char message[sizeof context->message];
    if (used == 0) {
        snprintf(message, sizeof message, "unknown verb '%.40s'; see ledgerctl --help", first);
    } else if (second == NULL) {
        snprintf(message, sizeof message, "'%.40s' needs a second word, one of: %s", first, words);
    } else {
        snprintf(message, sizeof message, "unknown verb '%.40s %.40s'; '%.40s' takes one of: %s",
                 first, second, first, words);
    }
    return ctl__usage(context, NULL, message);
}

/* USAGE naming the first required option of the verb that args lack. */
static enum ledger_err required_check(struct ctl_context *context, const struct ctl_verb *verb,
                                      const struct ctl_args *args)
{
    for (const struct ctl_option *option = verb->options; option->name != NULL; option++) {
        if (option->required && !ctl_flag(args, option->name)) {
            char message[CTL_MESSAGE_SIZE];
            snprintf(message, sizeof message, "is required (%s); see ledgerctl %s --help",
                     option->metavar != NULL ? option->metavar : "", verb->name);
            return ctl__usage(context, option->name, message);
        }
    }
    return LEDGER_ERR_OK;
}

/* The verb an import line names (its first two words, or its first), and
 * how many words name it; USAGE when it is none or not one to import. */
static enum ledger_err import_verb(struct ctl_context *context, char **words, size_t count,
                                   const struct ctl_verb **verb_out, size_t *used_out)
{
    const struct ctl_verb *verb = NULL;
    size_t used = 1;
    if (count >= 2) {
        char name[128];
        snprintf(name, sizeof name, "%s %s", words[0], words[1]);
        verb = find_verb(name);
        used = 2;
    }
    if (verb == NULL) {
        verb = find_verb(words[0]);
        used = 1;
    }
    if (verb == NULL && strncmp(words[0], "-", 1) == 0) {
        return ctl__usage(
            context, NULL,
            "a line begins with its verb; global options (--principal, --socket, "
            "--partner, ...) go on the import's own command line, which every line is "
            "sent with");
    }
    if (verb == NULL) {
        return unknown_verb(context, words[0],
                            count >= 2 && strncmp(words[1], "-", 1) != 0 ? words[1] : NULL);
    }
    if (verb->run == ctl_import_run) {
        return ctl__usage(context, NULL,
                          "an import file cannot import another: put its lines here");
    }
    if (strncmp(verb->name, "principal ", 10) == 0) {
        return ctl_fail(context, LEDGER_ERR_USAGE,
                        "'%s' is not imported: principals are credentials, not history (add "
                        "writes a key file); run ledgerctl %s on its own",
                        verb->name, verb->name);
    }
    if (!verb->write) {
        return ctl_fail(context, LEDGER_ERR_USAGE,
                        "'%s' is not a write verb: an import file holds write commands only "
                        "(customer add, reservation buy, ...); run ledgerctl %s on its own",
                        verb->name, verb->name);
    }
    *verb_out = verb;
    *used_out = used;
    return LEDGER_ERR_OK;
}

enum ledger_err ctl_capture_line(struct ctl_context *context, char **words, size_t count,
                                 const char *derived_id, uint8_t **packed_out, size_t *size_out)
{
    const struct ctl_verb *verb = NULL;
    size_t used = 0;
    enum ledger_err err = import_verb(context, words, count, &verb, &used);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    /* A global option here would change whom or where one line is sent
     * to: refused by name, before the verb's parser calls it unknown. */
    for (size_t i = used; i < count; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s", words[i]);
        name[strcspn(name, "=")] = '\0';
        if (strncmp(name, "--", 2) == 0 && option_takes_value(global_options, name) &&
            !verb_has_option(verb, name + 2)) {
            return ctl_fail(context, LEDGER_ERR_USAGE,
                            "%s is a global option: give it on the import's own command line "
                            "(every line is sent with it), not in a line",
                            name);
        }
    }
    const struct ctl_option *tables[3] = {verb->options, write_options, NULL};
    struct ctl_args args;
    err = ctl_args_parse(tables, (int)(count - used), words + used, &args, context->message);
    if (err == LEDGER_ERR_OK && args.help) {
        err = ctl__usage(context, NULL, "--help is no command: remove it");
    }
    if (err == LEDGER_ERR_OK) {
        err = required_check(context, verb, &args);
    }
    if (err != LEDGER_ERR_OK) {
        if (err == LEDGER_ERR_USAGE && strstr(context->message, "--help") == NULL) {
            size_t length = strlen(context->message);
            snprintf(context->message + length, sizeof context->message - length,
                     "; see ledgerctl %s --help", verb->name);
        }
        return err;
    }
    struct ctl_capture capture = {.derived_id =
                                      ctl_arg(&args, "command-id") == NULL ? derived_id : NULL};
    context->capture = &capture;
    err = verb->run(context, &args);
    context->capture = NULL;
    if (err == LEDGER_ERR_OK && capture.packed == NULL) {
        err = ctl_fail(context, LEDGER_ERR_INTERNAL, "'%s' built no command", verb->name);
    }
    if (err != LEDGER_ERR_OK) {
        free(capture.packed);
        return err;
    }
    *packed_out = capture.packed;
    *size_out = capture.packed_size;
    return LEDGER_ERR_OK;
}

/* Finds the verb words among argv (skipping global options before them)
 * and collects every other token for the option parser. */
static enum ledger_err split_command_line(struct ctl_context *context, int argc, char **argv,
                                          const struct ctl_verb **verb_out, char **rest,
                                          int *rest_count)
{
    const struct ctl_verb *verb = NULL;
    int count = 0;
    int i = 1;
    while (i < argc && verb == NULL) {
        const char *token = argv[i];
        if (strncmp(token, "--", 2) == 0 || strcmp(token, "-h") == 0) {
            rest[count++] = argv[i++];
            if (option_takes_value(global_options, token) && i < argc) {
                rest[count++] = argv[i++];
            }
            continue;
        }
        char name[128];
        if (i + 1 < argc) {
            snprintf(name, sizeof name, "%s %s", token, argv[i + 1]);
            verb = find_verb(name);
            if (verb != NULL) {
                i += 2;
                break;
            }
        }
        verb = find_verb(token);
        if (verb == NULL) {
            const char *second =
                i + 1 < argc && strncmp(argv[i + 1], "-", 1) != 0 ? argv[i + 1] : NULL;
            return unknown_verb(context, token, second);
        }
        i++;
    }
    while (i < argc) {
        rest[count++] = argv[i++];
    }
    *verb_out = verb;
    *rest_count = count;
    return LEDGER_ERR_OK;
}

int ctl_main(int argc, char **argv, FILE *out, FILE *err)
{
    struct ctl_context *context = calloc(1, sizeof *context);
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    struct ctl_args args;
    int rest_count = 0;
    const struct ctl_verb *verb = NULL;
    enum ledger_err result = LEDGER_ERR_OK;
    if (context == NULL || rest == NULL) {
        fprintf(err, "error: NO_MEMORY: %s\n", ledger_strerror(LEDGER_ERR_NO_MEMORY));
        free(context);
        free(rest);
        return CTL_EXIT_REFUSED;
    }
    context->out = out;
    context->err = err;
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        fprintf(out, "ledgerctl %s\n", LEDGER_VERSION);
        free(context);
        free(rest);
        return CTL_EXIT_OK;
    }
    /* Know the format before parsing, so that usage errors found while
     * parsing are reported in it too. */
    for (int i = 1; i < argc; i++) {
        if ((strcmp(argv[i], "--output") == 0 && i + 1 < argc &&
             strcmp(argv[i + 1], "json") == 0) ||
            strcmp(argv[i], "--output=json") == 0) {
            context->format = CTL_FORMAT_JSON;
        }
    }
    result = split_command_line(context, argc, argv, &verb, rest, &rest_count);
    /* A feed's stdout is read line by line as events, usage errors
     * included: nothing else may go there. */
    context->feed = verb != NULL && verb->run == run_events;
    if (result == LEDGER_ERR_OK) {
        const struct ctl_option *tables[4] = {global_options, NULL, NULL, NULL};
        if (verb != NULL) {
            tables[0] = verb->options;
            tables[1] = verb->write ? write_options : global_options;
            tables[2] = verb->write ? global_options : NULL;
        }
        result = ctl_args_parse(tables, rest_count, rest, &args, context->message);
        if (result == LEDGER_ERR_USAGE) {
            /* Say where the options are listed. */
            size_t used = strlen(context->message);
            snprintf(context->message + used, sizeof context->message - used,
                     "; see ledgerctl %s%s--help", verb != NULL ? verb->name : "",
                     verb != NULL ? " " : "");
        }
    }
    if (result == LEDGER_ERR_OK && verb == NULL) {
        if (args.help || argc == 1) {
            print_general_help(out);
            result = LEDGER_ERR_OK;
            goto done;
        }
        result = ctl__usage(context, NULL, "no verb given; see ledgerctl --help");
    }
    if (result == LEDGER_ERR_OK && args.help) {
        print_verb_help(out, verb);
        goto done;
    }
    if (result == LEDGER_ERR_OK) {
        result = apply_globals(context, &args, verb_has_option(verb, "partner"));
    }
    if (result == LEDGER_ERR_OK) {
        result = required_check(context, verb, &args);
    }
    if (result == LEDGER_ERR_OK) {
        result = verb->run(context, &args);
    }
    /* Output that did not reach its file (a full disk, a closed pipe) is a
     * failure, whatever the verb thought it wrote. */
    if (result == LEDGER_ERR_OK || (result == LEDGER_ERR_IO_ERROR && context->message[0] == '\0')) {
        int flushed = fflush(out);
        int reason = flushed != 0 ? errno : 0;
        if (flushed != 0 || ferror(out)) {
            context->reported = true; /* no JSON error document to a broken stdout */
            result = output_failed(context, reason);
        }
    }
    if (result != LEDGER_ERR_OK && !context->connect_failed) {
        add_advice(context, result);
    }
    if (result != LEDGER_ERR_OK) {
        /* The JSON error document goes out only when JSON output was asked
         * for (a usage error found before --output was read is reported on
         * stderr alone): to stdout, unless stdout holds a feed's events or
         * the verb's report, or could not be written. */
        enum ctl_error_document document = CTL_ERROR_DOCUMENT_NONE;
        if (context->format == CTL_FORMAT_JSON) {
            document = context->feed       ? CTL_ERROR_DOCUMENT_ERR_LINE
                       : context->reported ? CTL_ERROR_DOCUMENT_NONE
                                           : CTL_ERROR_DOCUMENT_OUT;
        }
        ctl_output_error(out, err, document, result, context->message);
    }
done:
    fflush(out);
    int status = ctl_exit_status(result);
    if (result != LEDGER_ERR_OK && context->connect_failed) {
        status = CTL_EXIT_UNREACHABLE;
    } else if (result == LEDGER_ERR_OK && context->interrupted) {
        status = CTL_EXIT_REFUSED;
    }
    ledger_close(context->client);
    free(context);
    free(rest);
    return status;
}
