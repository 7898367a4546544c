/*
 * ctl_verbs_internal.h: what the files of ledgerctl's verbs share, and
 * nothing else includes: the option entries several verbs list, the readers
 * that turn options into the fields of commands and queries, the start and
 * sending of a write command, and each verb's options and function for the
 * verb table.
 *
 * The verbs of ctl_verbs.h are in these files:
 *
 *   ctl_verbs.c                the verb table, help, the dispatcher (ctl_main:
 *                              global options and their defaults, exit
 *                              statuses, advice) and capture mode for import
 *                              (ctl_capture_line);
 *   ctl_verbs_args.c           reading options into commands and queries,
 *                              each refused by name as a usage error; the
 *                              options every write takes;
 *   ctl_verbs_send.c           the client connected on first use, commands
 *                              sent (in capture mode, packed) and queries
 *                              asked;
 *   ctl_verbs_principals.c     principal add, list, revoke and rotate, and
 *                              the key files they write;
 *   ctl_verbs_customers.c      partner add, customer add, subscriptions,
 *                              roles, purchase permissions, cost visibility;
 *   ctl_verbs_reservations.c   reservation buy, exchange, cancel, renew,
 *                              renewed, expired and scope;
 *   ctl_verbs_savings_plans.c  savings-plan buy, scope, renew and renewed;
 *   ctl_verbs_holdings.c       what scope, renew and renewed do for both
 *                              reservations and savings plans;
 *   ctl_verbs_views.c          reservations, orders, savings-plans,
 *                              permissions, activity, billing and stats;
 *   ctl_verbs_events.c         events, the feed (checkpoints, proofs), and
 *                              the catching of SIGINT and SIGTERM;
 *   ctl_verbs_backup.c         backup, with its progress bar.
 *
 * The other verbs have modules of their own: ctl_audit (head, proof,
 * consistency, verify, explain), ctl_ops (export, reconcile), ctl_import and
 * ctl_demo.
 */
#ifndef CTL_VERBS_INTERNAL_H
#define CTL_VERBS_INTERNAL_H

#include "ctl_verbs.h"

/* Option entries of the verbs' tables: OPT_END closes a table. */
#define OPT_END                                                                                    \
    {                                                                                              \
        NULL, CTL_OPTION_VALUE, NULL, NULL, false                                                  \
    }
#define OPT_CUSTOMER                                                                               \
    {                                                                                              \
        "customer", CTL_OPTION_VALUE, "ID", "the customer", true                                   \
    }
#define OPT_SCOPE                                                                                  \
    {                                                                                              \
        "scope", CTL_OPTION_VALUE, "SCOPE", "single|resource-group|management-group|shared", true  \
    }
#define OPT_SCOPE_TARGET                                                                           \
    {                                                                                              \
        "scope-target", CTL_OPTION_VALUE, "X",                                                     \
            "the subscription (single), subscription/group (resource-group) or group id", false    \
    }
#define OPT_TERM(terms)                                                                            \
    {                                                                                              \
        "term", CTL_OPTION_VALUE, "TERM", terms, true                                              \
    }
#define OPT_BILLING                                                                                \
    {                                                                                              \
        "billing", CTL_OPTION_VALUE, "PLAN", "upfront|monthly", true                               \
    }
#define OPT_PRICE                                                                                  \
    {                                                                                              \
        "price", CTL_OPTION_VALUE, "AMOUNT",                                                       \
            "the partner's price for the whole term, e.g. 1234.56", true                           \
    }
/* The id the cloud issued for the order a purchase or renewal made (its
 * reservation order or savings plan order id): billing rows carry it, and
 * reconcile matches invoice lines naming it. */
#define OPT_CLOUD_ORDER                                                                            \
    {                                                                                              \
        "cloud-order", CTL_OPTION_VALUE, "ID",                                                     \
            "the cloud's order id of this purchase, as the invoice names it", false                \
    }
#define OPT_RETAIL                                                                                 \
    {                                                                                              \
        "retail-price", CTL_OPTION_VALUE, "AMOUNT", "the retail price for the whole term", true    \
    }
#define OPT_CURRENCY                                                                               \
    {                                                                                              \
        "currency", CTL_OPTION_VALUE, "CUR", "ISO 4217 code of every amount, e.g. USD", true       \
    }

/* ---- ctl_verbs.c ---------------------------------------------------------- */

/* IO_ERROR saying why stdout could not be written (and, once a command
 * was committed, that it was). */
enum ledger_err ctl__output_failed(struct ctl_context *context, int flush_errno);

/* ---- ctl_verbs_args.c ----------------------------------------------------- */

/* Each reads the option `name` (or the options it names) and checks it: a
 * malformed one is USAGE, with the context's message naming the option and
 * why. An option not given is left NULL, 0 or unset; strings point into
 * args. The definitions say more. */

/* USAGE, with the message "--option: why" (why alone when option is NULL). */
__attribute__((warn_unused_result)) enum ledger_err ctl__usage(struct ctl_context *context,
                                                               const char *option, const char *why);
/* An id (ledger_id_valid). */
__attribute__((warn_unused_result)) enum ledger_err ctl__id_arg(struct ctl_context *context,
                                                                const struct ctl_args *args,
                                                                const char *name, const char **out);
/* A name, by the daemon's rule (ledger_name_check). */
__attribute__((warn_unused_result)) enum ledger_err ctl__name_arg(struct ctl_context *context,
                                                                  const struct ctl_args *args,
                                                                  const char *name,
                                                                  const char **out);
/* One of an enum's spellings (ctl_enum_parse); 0 when absent. */
__attribute__((warn_unused_result)) enum ledger_err
ctl__enum_arg(struct ctl_context *context, const struct ctl_args *args, const char *name,
              const ProtobufCEnumDescriptor *descriptor, int *out);
/* A number 0..max; 0 when absent. */
__attribute__((warn_unused_result)) enum ledger_err ctl__unsigned_arg(struct ctl_context *context,
                                                                      const struct ctl_args *args,
                                                                      const char *name,
                                                                      uint64_t max, uint64_t *out);
/* An amount in currency (borrowed), into money. */
__attribute__((warn_unused_result)) enum ledger_err
ctl__money_arg(struct ctl_context *context, const struct ctl_args *args, const char *name,
               const char *currency, Ledger__V1__Money *money);
/* As ctl__money_arg, more than 0: what is bought. */
__attribute__((warn_unused_result)) enum ledger_err
ctl__price_arg(struct ctl_context *context, const struct ctl_args *args, const char *name,
               const char *currency, Ledger__V1__Money *money);
/* A SKU or region: an id's characters and '_'. */
__attribute__((warn_unused_result)) enum ledger_err ctl__sku_arg(struct ctl_context *context,
                                                                 const struct ctl_args *args,
                                                                 const char *name,
                                                                 const char **out);
/* --currency (fallback when absent): a code of ISO 4217's list. */
__attribute__((warn_unused_result)) enum ledger_err ctl__currency_arg(struct ctl_context *context,
                                                                      const struct ctl_args *args,
                                                                      const char *fallback,
                                                                      const char **out);
/* A half-open range of two time options. */
__attribute__((warn_unused_result)) enum ledger_err
ctl__range_args(struct ctl_context *context, const struct ctl_args *args, const char *from_name,
                const char *to_name, int64_t *from_us, int64_t *to_us);
/* --as-of, a sequence or a time; *given says whether it was given. */
__attribute__((warn_unused_result)) enum ledger_err ctl__as_of_arg(struct ctl_context *context,
                                                                   const struct ctl_args *args,
                                                                   Ledger__V1__AsOf *as_of,
                                                                   bool *given);
/* --as-of-business-time, into the same as_of; *given set when given. */
__attribute__((warn_unused_result)) enum ledger_err
ctl__as_of_business_arg(struct ctl_context *context, const struct ctl_args *args,
                        Ledger__V1__AsOf *as_of, bool *given);
/* --scope and --scope-target, as the ledger checks them together. */
__attribute__((warn_unused_result)) enum ledger_err
ctl__scope_args(struct ctl_context *context, const struct ctl_args *args, Ledger__V1__Scope *scope);
/* Exactly one of --on and --off. */
__attribute__((warn_unused_result)) enum ledger_err
ctl__on_off_arg(struct ctl_context *context, const struct ctl_args *args, bool *on);

/* One write command with the common options filled in. */
struct write {
    Ledger__V1__Command command;
    char command_id[LEDGER_ID_LENGTH_MAX + 1];
};

/* Fills write with a fresh command carrying the options every write takes
 * (--command-id or a fresh id, --expected-version, --business-time,
 * --correlation-id), the partner and --customer. USAGE. */
__attribute__((warn_unused_result)) enum ledger_err
ctl__write_begin(struct ctl_context *context, const struct ctl_args *args, struct write *write);
/* Sends the write (ctl_execute) and prints its result. */
__attribute__((warn_unused_result)) enum ledger_err ctl__write_send(struct ctl_context *context,
                                                                    struct write *write);

/* ---- ctl_verbs_send.c ----------------------------------------------------- */

/* Puts the client's message for err (or err's own words) in the context's. */
void ctl__copy_client_message(struct ctl_context *context, enum ledger_err err);

/* ---- ctl_verbs_views.c ---------------------------------------------------- */

/* A column table and its length, as ctl_output_rows takes them. */
#define COLUMNS(array) array, sizeof array / sizeof array[0]

/* The views that take no options (principals, stats), or only those of one
 * customer's state (reservations, savings plans and permissions: --customer,
 * --as-of and --as-of-business-time), differ only in their query's kind and in what they print. */
struct view_verb {
    Ledger__V1__Query__KindCase kind;
    const char *key; /* the rows' field of QueryResult, as print_view takes it */
    const struct ctl_column *columns;
    size_t column_count;
};

/* Reads the options of a view_verb (--customer, --as-of,
 * --as-of-business-time, --history: those the verb takes), sends its query
 * and prints its rows. */
__attribute__((warn_unused_result)) enum ledger_err
ctl__run_view_verb(struct ctl_context *context, const struct ctl_args *args,
                   const struct view_verb *view);

/* ---- ctl_verbs_holdings.c ------------------------------------------------- */

/* The holding a verb of reservations or savings plans acts on. */
enum holding_kind {
    HOLDING_RESERVATION, /* named by --reservation */
    HOLDING_SAVINGS_PLAN /* named by --savings-plan */
};

/* Each reads the verb's options of a holding of that kind, sends its
 * command and prints the result. Errors: USAGE for an option, and those of
 * ctl__write_send. */

/* Scope: --scope and --scope-target, into a change of the holding's scope. */
__attribute__((warn_unused_result)) enum ledger_err
ctl__run_holding_scope(struct ctl_context *context, const struct ctl_args *args,
                       enum holding_kind kind);
/* Renew: --on or --off, into a change of the holding's auto-renewal. */
__attribute__((warn_unused_result)) enum ledger_err
ctl__run_holding_renew(struct ctl_context *context, const struct ctl_args *args,
                       enum holding_kind kind);
/* Renewed: --price, --retail-price, --currency and --cloud-order, into the
 * record of a renewal. */
__attribute__((warn_unused_result)) enum ledger_err
ctl__run_holding_renewed(struct ctl_context *context, const struct ctl_args *args,
                         enum holding_kind kind);

/* ---- the verbs, for the table in ctl_verbs.c ------------------------------ */

/* Each verb's options (a table ended by OPT_END; some verbs share one)
 * and its function, which reads them, builds the command or query, sends
 * it and prints what comes back. */

/* ctl_verbs_principals.c */
extern const struct ctl_option ctl__principal_add_options[];
extern const struct ctl_option ctl__principal_revoke_options[];
extern const struct ctl_option ctl__principal_rotate_options[];
enum ledger_err ctl__run_principal_add(struct ctl_context *context, const struct ctl_args *args);
enum ledger_err ctl__run_principal_list(struct ctl_context *context, const struct ctl_args *args);
enum ledger_err ctl__run_principal_revoke(struct ctl_context *context, const struct ctl_args *args);
enum ledger_err ctl__run_principal_rotate(struct ctl_context *context, const struct ctl_args *args);

/* ctl_verbs_customers.c */
extern const struct ctl_option ctl__partner_add_options[];
extern const struct ctl_option ctl__customer_add_options[];
extern const struct ctl_option ctl__subscription_add_options[];
extern const struct ctl_option ctl__subscription_status_options[];
extern const struct ctl_option ctl__role_options[];
extern const struct ctl_option ctl__permission_options[];
extern const struct ctl_option ctl__cost_visibility_options[];
enum ledger_err ctl__run_partner_add(struct ctl_context *context, const struct ctl_args *args);
enum ledger_err ctl__run_customer_add(struct ctl_context *context, const struct ctl_args *args);
enum ledger_err ctl__run_subscription_add(struct ctl_context *context, const struct ctl_args *args);
enum ledger_err ctl__run_subscription_status(struct ctl_context *context,
                                             const struct ctl_args *args);
enum ledger_err ctl__run_role_assign(struct ctl_context *context, const struct ctl_args *args);
enum ledger_err ctl__run_role_remove(struct ctl_context *context, const struct ctl_args *args);
enum ledger_err ctl__run_permission_enable(struct ctl_context *context,
                                           const struct ctl_args *args);
enum ledger_err ctl__run_permission_disable(struct ctl_context *context,
                                            const struct ctl_args *args);
enum ledger_err ctl__run_cost_visibility(struct ctl_context *context, const struct ctl_args *args);

/* ctl_verbs_reservations.c */
extern const struct ctl_option ctl__reservation_buy_options[];
extern const struct ctl_option ctl__reservation_exchange_options[];
extern const struct ctl_option ctl__reservation_cancel_options[];
extern const struct ctl_option ctl__reservation_renew_options[];
extern const struct ctl_option ctl__reservation_renewed_options[];
extern const struct ctl_option ctl__reservation_expired_options[];
extern const struct ctl_option ctl__reservation_scope_options[];
enum ledger_err ctl__run_reservation_buy(struct ctl_context *context, const struct ctl_args *args);
enum ledger_err ctl__run_reservation_exchange(struct ctl_context *context,
                                              const struct ctl_args *args);
enum ledger_err ctl__run_reservation_cancel(struct ctl_context *context,
                                            const struct ctl_args *args);
enum ledger_err ctl__run_reservation_renew(struct ctl_context *context,
                                           const struct ctl_args *args);
enum ledger_err ctl__run_reservation_renewed(struct ctl_context *context,
                                             const struct ctl_args *args);
enum ledger_err ctl__run_reservation_expired(struct ctl_context *context,
                                             const struct ctl_args *args);
enum ledger_err ctl__run_reservation_scope(struct ctl_context *context,
                                           const struct ctl_args *args);

/* ctl_verbs_savings_plans.c */
extern const struct ctl_option ctl__savings_plan_buy_options[];
extern const struct ctl_option ctl__savings_plan_scope_options[];
extern const struct ctl_option ctl__savings_plan_renew_options[];
extern const struct ctl_option ctl__savings_plan_renewed_options[];
enum ledger_err ctl__run_savings_plan_buy(struct ctl_context *context, const struct ctl_args *args);
enum ledger_err ctl__run_savings_plan_scope(struct ctl_context *context,
                                            const struct ctl_args *args);
enum ledger_err ctl__run_savings_plan_renew(struct ctl_context *context,
                                            const struct ctl_args *args);
enum ledger_err ctl__run_savings_plan_renewed(struct ctl_context *context,
                                              const struct ctl_args *args);

/* ctl_verbs_views.c */
extern const struct ctl_option ctl__holdings_options[]; /* reservations, savings-plans */
extern const struct ctl_option ctl__orders_options[];
extern const struct ctl_option ctl__permissions_options[];
extern const struct ctl_option ctl__activity_options[];
extern const struct ctl_option ctl__billing_options[];
enum ledger_err ctl__run_reservations(struct ctl_context *context, const struct ctl_args *args);
enum ledger_err ctl__run_orders(struct ctl_context *context, const struct ctl_args *args);
enum ledger_err ctl__run_savings_plans(struct ctl_context *context, const struct ctl_args *args);
enum ledger_err ctl__run_permissions(struct ctl_context *context, const struct ctl_args *args);
enum ledger_err ctl__run_activity(struct ctl_context *context, const struct ctl_args *args);
enum ledger_err ctl__run_billing(struct ctl_context *context, const struct ctl_args *args);
enum ledger_err ctl__run_stats(struct ctl_context *context, const struct ctl_args *args);

/* ctl_verbs_events.c */
extern const struct ctl_option ctl__events_options[];
enum ledger_err ctl__run_events(struct ctl_context *context, const struct ctl_args *args);

/* ctl_verbs_backup.c */
extern const struct ctl_option ctl__backup_options[];
enum ledger_err ctl__run_backup(struct ctl_context *context, const struct ctl_args *args);

#endif
