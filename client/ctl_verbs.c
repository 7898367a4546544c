/*
 * ctl_verbs.c: ledgerctl's verb table, its help and the dispatcher that runs
 * a verb (see ctl_verbs.h); the verbs themselves are in the files
 * ctl_verbs_internal.h lists, and in ctl_audit, ctl_ops, ctl_import and
 * ctl_demo.
 *
 * Each verb is one row of the verb table: its words ("reservation buy"), a
 * summary, its options (the required ones are checked before it runs), an
 * example and the function that builds its command or query. Write verbs
 * also take --command-id, --expected-version and --business-time. Options
 * are checked before anything is sent, so that a typing mistake is a
 * usage error (exit status 2) naming the option, not a refusal.
 *
 * Also here: the global options and their defaults, the exit status of each
 * error code with advice for a refusal, and capture mode, in which import has
 * a write verb build its command without sending it (ctl_capture_line).
 */
#include "ctl_verbs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl_verbs_internal.h"
#include "ledger_ids.h"

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

/* IO_ERROR saying why stdout could not be written: the reason of the first
 * failed write, else flush_errno (a failed fflush's), else no reason. */
enum ledger_err ctl__output_failed(struct ctl_context *context, int flush_errno)
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
     ctl__holdings_options, false, "ledgerctl reservations --customer fabrikam --as-of 2026-01-31",
     ctl__run_reservations},
    {"orders", "a customer's order history", ctl__orders_options, false,
     "ledgerctl orders --customer fabrikam --from 2026-01-01 --to 2026-03-31", ctl__run_orders},
    {"savings-plans", "a customer's savings plans, now or as of a time, sequence or business time",
     ctl__holdings_options, false, "ledgerctl savings-plans --customer fabrikam --as-of 2026-03-01",
     ctl__run_savings_plans},
    {"permissions", "a customer's purchase permissions and their history", ctl__permissions_options,
     false, "ledgerctl permissions --customer fabrikam --history", ctl__run_permissions},
    {"activity", "the partner's activity log", ctl__activity_options, false,
     "ledgerctl activity --customer fabrikam --action \"Create Customer Purchase Permissions\"",
     ctl__run_activity},
    {"billing", "what the partner pays for in a month, partner vs retail", ctl__billing_options,
     false, "ledgerctl billing --month 2026-03", ctl__run_billing},
    {"export", "every charge of a month as CSV or JSON, for spreadsheets and invoices",
     ctl_export_options, false, "ledgerctl --output csv export --month 2026-03 > 2026-03.csv",
     ctl_export_run},
    {"reconcile", "compare an invoice CSV with the ledger's charges of a month",
     ctl_reconcile_options, false,
     "ledgerctl reconcile --invoice invoice-2026-03.csv --month 2026-03", ctl_reconcile_run},
    {"events", "the event log, from a sequence, optionally following new events",
     ctl__events_options, false,
     "ledgerctl --output json events --follow --checkpoint billing.checkpoint", ctl__run_events},
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
    {"stats", "the daemon's counters", no_options, false, "ledgerctl stats", ctl__run_stats},
    {"backup", "have the daemon write a hot backup (operator)", ctl__backup_options, false,
     "ledgerctl backup --out /srv/backups/ledger-2026-11-23", ctl__run_backup},
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

/* The longest path a Unix socket's address holds (sun_path, its NUL
 * last): 107 bytes on Linux. */
#define IPC_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

/* The reason url cannot name a daemon's socket, or NULL when it can: an
 * ipc:// address needs a path that a Unix socket's address holds, a tcp://
 * one an IPv4 host (or a name) and a port 1..65535 after its last ':'
 * (nanomsg's own refusal, or its connecting in vain to a path it cannot
 * use, would read as an unreachable daemon). */
static const char *url_flaw(const char *url)
{
    if (strncmp(url, "ipc://", 6) == 0) {
        if (strlen(url + 6) > IPC_PATH_MAX) {
            return "has a path of more than 107 bytes, too long for a Unix socket: give a "
                   "shorter (or relative) one";
        }
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
 * option that gave it, env: its environment variable, from_env: whether
 * the variable gave it (neither: the default). */
static enum ledger_err url_check(struct ctl_context *context, const struct ctl_args *args,
                                 const char *option, const char *env, bool from_env,
                                 const char *url)
{
    const char *flaw = url != NULL ? url_flaw(url) : NULL;
    if (flaw == NULL) {
        return LEDGER_ERR_OK;
    }
    bool given = ctl_arg(args, option) != NULL;
    char why[CTL_MESSAGE_SIZE];
    snprintf(why, sizeof why, "'%.100s'%s%s%s %s", url,
             given      ? ""
             : from_env ? " (from "
                        : " (the default",
             given || !from_env ? "" : env, given ? "" : ")", flaw);
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
    bool socket_from_env = ctl_arg(args, "socket") == NULL && socket != NULL && socket[0] != '\0';
    if (socket == NULL || socket[0] == '\0') {
        default_urls(context);
        socket = context->socket_buffer;
    }
    const char *events = ctl_arg(args, "events");
    if (events == NULL) {
        events = getenv("LEDGER_EVENTS");
    }
    bool events_from_env = ctl_arg(args, "events") == NULL && events != NULL && events[0] != '\0';
    if (events == NULL || events[0] == '\0') {
        events = events_beside(context, socket);
    }
    /* The events socket beside the request socket is not checked: only
     * `events --follow` uses it, and its longer name must not refuse every
     * other verb at a request socket whose path just fits. */
    bool events_given = events_from_env || ctl_arg(args, "events") != NULL;
    enum ledger_err err;
    if ((err = url_check(context, args, "socket", "LEDGER_SOCKET", socket_from_env, socket)) !=
            LEDGER_ERR_OK ||
        (events_given && (err = url_check(context, args, "events", "LEDGER_EVENTS", events_from_env,
                                          events)) != LEDGER_ERR_OK)) {
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
    context->feed = verb != NULL && verb->run == ctl__run_events;
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
            result = ctl__output_failed(context, reason);
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
