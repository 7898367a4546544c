/*
 * policy.c: the role table of docs/domain.md, as data.
 *
 * Owns: one row per verb (a Command body case or a Query kind case), one cell
 * per role, and one scope rule per role. Everything else here reads those
 * three tables; nothing decides by role anywhere else (the domain asks
 * policy_command_access, the engine policy_query_access and policy_role_scope).
 *
 * Cells are written as strings of one letter per role, in the column order
 * of `roles` below, so that a row reads like a line of the documentation:
 *   'A' allowed, '-' refused with FORBIDDEN, 'P' refused with ASK_PARTNER.
 */
#include "policy.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Column order of every row string. */
static const Ledger__V1__Role roles[POLICY_ROLE_COUNT] = {
    LEDGER__V1__ROLE__ROLE_ADMIN_AGENT,    LEDGER__V1__ROLE__ROLE_SALES_AGENT,
    LEDGER__V1__ROLE__ROLE_HELPDESK_AGENT, LEDGER__V1__ROLE__ROLE_CUSTOMER_USER,
    LEDGER__V1__ROLE__ROLE_AUDITOR,        LEDGER__V1__ROLE__ROLE_BILLING,
    LEDGER__V1__ROLE__ROLE_OPERATOR,       LEDGER__V1__ROLE__ROLE_SYSTEM,
};

struct command_row {
    Ledger__V1__Command__BodyCase body_case;
    const char *cells; /* admin sales helpdesk customer auditor billing operator system */
};

/* Commands. Partner staff: the admin agent does everything for its partner's
 * customers; the sales agent buys subscriptions and reservations (not savings
 * plans); the help desk only reads. Customer users buy (rule 3) and are told
 * to ask their partner for everything rules 1, 5 and 6 reserve to the
 * partner; cancelling a savings plan is let through to the rule that refuses
 * it for everyone (SAVINGS_PLAN_NOT_REFUNDABLE), which is the truer answer.
 * The operator manages partners and principals and makes no business change.
 * The system role records expiries for the daemon's schedule; renewals are
 * rule 5's, the partner's only (the ledger cannot know the price the cloud
 * renewed at: admin agents record them). */
static const struct command_row command_rows[POLICY_COMMAND_COUNT] = {
    /* columns: admin sales helpdesk customer auditor billing operator system */
    {LEDGER__V1__COMMAND__BODY_ADD_PARTNER, "------A-"},
    {LEDGER__V1__COMMAND__BODY_ADD_PRINCIPAL, "------A-"},
    {LEDGER__V1__COMMAND__BODY_REVOKE_PRINCIPAL, "------A-"},
    {LEDGER__V1__COMMAND__BODY_ONBOARD_CUSTOMER, "A-------"},
    {LEDGER__V1__COMMAND__BODY_PURCHASE_SUBSCRIPTION, "AA------"},
    {LEDGER__V1__COMMAND__BODY_SET_SUBSCRIPTION_STATUS, "A-------"},
    {LEDGER__V1__COMMAND__BODY_ASSIGN_ROLE, "A-------"},
    {LEDGER__V1__COMMAND__BODY_REMOVE_ROLE, "A-------"},
    {LEDGER__V1__COMMAND__BODY_GRANT_PERMISSION, "A--P----"},
    {LEDGER__V1__COMMAND__BODY_REVOKE_PERMISSION, "A--P----"},
    {LEDGER__V1__COMMAND__BODY_PURCHASE_RESERVATION, "AA-A----"},
    {LEDGER__V1__COMMAND__BODY_CHANGE_RESERVATION_SCOPE, "A--P----"},
    {LEDGER__V1__COMMAND__BODY_SET_RESERVATION_RENEWAL, "A--P----"},
    {LEDGER__V1__COMMAND__BODY_RENEW_RESERVATION, "A--P----"},
    {LEDGER__V1__COMMAND__BODY_EXCHANGE_RESERVATION, "A--P----"},
    {LEDGER__V1__COMMAND__BODY_CANCEL_RESERVATION, "A--P----"},
    {LEDGER__V1__COMMAND__BODY_EXPIRE_RESERVATION, "A------A"},
    {LEDGER__V1__COMMAND__BODY_PURCHASE_SAVINGS_PLAN, "A--A----"},
    {LEDGER__V1__COMMAND__BODY_CHANGE_SAVINGS_PLAN_SCOPE, "A--P----"},
    {LEDGER__V1__COMMAND__BODY_SET_SAVINGS_PLAN_RENEWAL, "A--P----"},
    {LEDGER__V1__COMMAND__BODY_CANCEL_SAVINGS_PLAN, "A--A----"},
    {LEDGER__V1__COMMAND__BODY_SET_COST_VISIBILITY, "A-------"},
    {LEDGER__V1__COMMAND__BODY_ROTATE_PRINCIPAL_SECRET, "------A-"},
    {LEDGER__V1__COMMAND__BODY_RENEW_SAVINGS_PLAN, "A--P----"},
};

struct query_row {
    Ledger__V1__Query__KindCase kind_case;
    const char *cells;
};

/* Queries. Partner staff read every view of their partner (principals
 * excepted); customer users only their own customer's reservations and
 * savings plans; auditors everything, proofs and explanations included;
 * billing the feed, the money views and the head; the operator principals,
 * statistics, the head and backups (a backup holds every partner's data, so
 * no partner-bound role may ask for one), and no business view. */
static const struct query_row query_rows[POLICY_QUERY_COUNT] = {
    /* columns: admin sales helpdesk customer auditor billing operator system */
    {LEDGER__V1__QUERY__KIND_EVENTS, "----AA--"},
    {LEDGER__V1__QUERY__KIND_RESERVATIONS, "AAAAAA--"},
    {LEDGER__V1__QUERY__KIND_ORDERS, "AAA-AA--"},
    {LEDGER__V1__QUERY__KIND_SAVINGS_PLANS, "AAAAAA--"},
    {LEDGER__V1__QUERY__KIND_PERMISSIONS, "AAA-A---"},
    {LEDGER__V1__QUERY__KIND_ACTIVITY, "AAA-A---"},
    {LEDGER__V1__QUERY__KIND_BILLING, "AAA-AA--"},
    {LEDGER__V1__QUERY__KIND_PRINCIPALS, "----A-A-"},
    {LEDGER__V1__QUERY__KIND_HEAD, "----AAA-"},
    {LEDGER__V1__QUERY__KIND_INCLUSION, "----A---"},
    {LEDGER__V1__QUERY__KIND_CONSISTENCY, "----A---"},
    {LEDGER__V1__QUERY__KIND_EXPLAIN, "----A---"},
    {LEDGER__V1__QUERY__KIND_STATS, "----A-A-"},
    {LEDGER__V1__QUERY__KIND_BACKUP, "------A-"},
};

struct role_row {
    enum policy_scope scope;
    bool partner_facing;
};

static const struct role_row role_rows[POLICY_ROLE_COUNT] = {
    {POLICY_SCOPE_OWN_PARTNER, true},     /* admin agent */
    {POLICY_SCOPE_OWN_PARTNER, true},     /* sales agent */
    {POLICY_SCOPE_OWN_PARTNER, true},     /* help desk agent */
    {POLICY_SCOPE_OWN_CUSTOMER, false},   /* customer user: sees its own savings plans */
    {POLICY_SCOPE_PARTNER_OR_ALL, false}, /* auditor: sees everything of its scope */
    {POLICY_SCOPE_PARTNER_OR_ALL, false}, /* billing: the partner pays for those plans too */
    {POLICY_SCOPE_ALL_PARTNERS, false},   /* operator: principals of every partner */
    {POLICY_SCOPE_ALL_PARTNERS, false},   /* system: schedules for every partner */
};

/* The column of a role, or -1 for undeclared values. */
static int role_column(Ledger__V1__Role role)
{
    for (int i = 0; i < POLICY_ROLE_COUNT; i++) {
        if (roles[i] == role)
            return i;
    }
    return -1;
}

static enum policy_access cell_access(const char *cells, int column)
{
    if (column < 0)
        return POLICY_DENY;
    switch (cells[column]) {
    case 'A':
        return POLICY_ALLOW;
    case 'P':
        return POLICY_ASK_PARTNER;
    default:
        return POLICY_DENY;
    }
}

enum policy_access policy_command_access(Ledger__V1__Role role,
                                         Ledger__V1__Command__BodyCase body_case)
{
    int column = role_column(role);
    for (size_t i = 0; i < POLICY_COMMAND_COUNT; i++) {
        if (command_rows[i].body_case == body_case)
            return cell_access(command_rows[i].cells, column);
    }
    return POLICY_DENY;
}

enum policy_access policy_query_access(Ledger__V1__Role role, Ledger__V1__Query__KindCase kind_case)
{
    int column = role_column(role);
    for (size_t i = 0; i < POLICY_QUERY_COUNT; i++) {
        if (query_rows[i].kind_case == kind_case)
            return cell_access(query_rows[i].cells, column);
    }
    return POLICY_DENY;
}

bool policy_command_allowed(Ledger__V1__Role role, Ledger__V1__Command__BodyCase body_case)
{
    return policy_command_access(role, body_case) == POLICY_ALLOW;
}

bool policy_query_allowed(Ledger__V1__Role role, Ledger__V1__Query__KindCase kind_case)
{
    return policy_query_access(role, kind_case) == POLICY_ALLOW;
}

enum ledger_err policy_access_error(enum policy_access access)
{
    switch (access) {
    case POLICY_ALLOW:
        return LEDGER_ERR_OK;
    case POLICY_ASK_PARTNER:
        return LEDGER_ERR_ASK_PARTNER;
    case POLICY_DENY:
        break;
    }
    return LEDGER_ERR_FORBIDDEN;
}

enum policy_scope policy_role_scope(Ledger__V1__Role role)
{
    int column = role_column(role);
    return column < 0 ? POLICY_SCOPE_NONE : role_rows[column].scope;
}

bool policy_role_partner_facing(Ledger__V1__Role role)
{
    int column = role_column(role);
    return column >= 0 && role_rows[column].partner_facing;
}

const char *policy_role_name(Ledger__V1__Role role)
{
    return codec_role_name((int)role);
}

const char *policy_scope_name(enum policy_scope scope)
{
    switch (scope) {
    case POLICY_SCOPE_OWN_PARTNER:
        return "own partner";
    case POLICY_SCOPE_PARTNER_OR_ALL:
        return "own partner, or all partners when bound to none";
    case POLICY_SCOPE_OWN_CUSTOMER:
        return "own customer";
    case POLICY_SCOPE_ALL_PARTNERS:
        return "all partners";
    case POLICY_SCOPE_NONE:
        break;
    }
    return "none";
}

Ledger__V1__Role policy_role_at(size_t index)
{
    return index < POLICY_ROLE_COUNT ? roles[index] : LEDGER__V1__ROLE__ROLE_UNSPECIFIED;
}

Ledger__V1__Command__BodyCase policy_command_at(size_t index)
{
    return index < POLICY_COMMAND_COUNT ? command_rows[index].body_case
                                        : LEDGER__V1__COMMAND__BODY__NOT_SET;
}

Ledger__V1__Query__KindCase policy_query_at(size_t index)
{
    return index < POLICY_QUERY_COUNT ? query_rows[index].kind_case
                                      : LEDGER__V1__QUERY__KIND__NOT_SET;
}

/* ---- markdown ------------------------------------------------------------ */

/* snprintf into a growing position; keeps counting past the end so that the
 * caller learns the full length. */
struct text {
    char *buffer;
    size_t size;
    size_t length;
};

__attribute__((format(printf, 2, 3))) static void text_append(struct text *text, const char *format,
                                                              ...)
{
    char *at = NULL;
    size_t room = 0;
    if (text->length < text->size) {
        at = text->buffer + text->length;
        room = text->size - text->length;
    }
    va_list args;
    va_start(args, format);
    int written = vsnprintf(at, room, format, args);
    va_end(args);
    if (written > 0)
        text->length += (size_t)written;
}

static const char *cell_text(enum policy_access access)
{
    switch (access) {
    case POLICY_ALLOW:
        return "yes";
    case POLICY_ASK_PARTNER:
        return "ASK_PARTNER";
    case POLICY_DENY:
        break;
    }
    return "-";
}

static void header_row(struct text *text, const char *first)
{
    text_append(text, "| %s |", first);
    for (size_t i = 0; i < POLICY_ROLE_COUNT; i++)
        text_append(text, " %s |", policy_role_name(roles[i]));
    text_append(text, "\n|---|");
    for (size_t i = 0; i < POLICY_ROLE_COUNT; i++)
        text_append(text, "---|");
    text_append(text, "\n");
}

size_t policy_table_markdown(char *buffer, size_t size)
{
    struct text text = {buffer, size, 0};
    if (size > 0)
        buffer[0] = '\0';

    text_append(&text, "### Commands\n\n"
                       "`yes`: allowed (the domain's rules still apply); `-`: refused with "
                       "FORBIDDEN; `ASK_PARTNER`: refused with ASK_PARTNER.\n\n");
    header_row(&text, "command");
    for (size_t i = 0; i < POLICY_COMMAND_COUNT; i++) {
        text_append(&text, "| %s |", codec_command_type_name(command_rows[i].body_case));
        for (int column = 0; column < POLICY_ROLE_COUNT; column++)
            text_append(&text, " %s |", cell_text(cell_access(command_rows[i].cells, column)));
        text_append(&text, "\n");
    }

    text_append(&text, "\n### Queries\n\n`yes`: allowed; `-`: refused with FORBIDDEN.\n\n");
    header_row(&text, "query");
    for (size_t i = 0; i < POLICY_QUERY_COUNT; i++) {
        text_append(&text, "| %s |", codec_query_type_name(query_rows[i].kind_case));
        for (int column = 0; column < POLICY_ROLE_COUNT; column++)
            text_append(&text, " %s |", cell_text(cell_access(query_rows[i].cells, column)));
        text_append(&text, "\n");
    }

    text_append(&text, "\n### Scopes\n\n| role | may touch | partner-facing views |\n"
                       "|---|---|---|\n");
    for (size_t i = 0; i < POLICY_ROLE_COUNT; i++) {
        text_append(&text, "| %s | %s | %s |\n", policy_role_name(roles[i]),
                    policy_scope_name(role_rows[i].scope),
                    role_rows[i].partner_facing ? "yes" : "no");
    }
    return text.length;
}
