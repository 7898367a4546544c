/*
 * policy.h: who may do what, as one table.
 *
 * Owns: the role table of docs/domain.md ("Who acts"): for every verb
 * (each Command body case and each Query kind case) and every role, whether
 * the role may use it, and for each role the scope of data it may touch (its
 * own partner, its own customer, all partners, or none). The domain's
 * decisions and the engine's query answers both ask this table, so it is the
 * single source of truth; docs/security.md prints it (policy_table_markdown).
 * Does not own: rules that depend on state (a permission being on, a role
 * assignment, a reservation's state): those are the domain's. A verb allowed
 * here may still be refused by a rule.
 *
 * Pure: static tables, no I/O, no globals that change.
 */
#ifndef LEDGER_POLICY_H
#define LEDGER_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "codec.h"
#include "error.h"

/* One cell of the table. */
enum policy_access {
    POLICY_DENY = 0,    /* refused with FORBIDDEN */
    POLICY_ALLOW,       /* allowed (the domain's rules still apply) */
    POLICY_ASK_PARTNER, /* refused with ASK_PARTNER: only the partner may do this */
};

/* What data a role may touch. */
enum policy_scope {
    POLICY_SCOPE_NONE = 0,       /* nothing (unknown roles) */
    POLICY_SCOPE_OWN_PARTNER,    /* the principal's partner only */
    POLICY_SCOPE_PARTNER_OR_ALL, /* its partner if bound to one, else every partner */
    POLICY_SCOPE_OWN_CUSTOMER,   /* the principal's customer of its partner only */
    POLICY_SCOPE_ALL_PARTNERS,   /* every partner (operator, the ledger itself) */
};

/* The roles of the table, in table order (ROLE_UNSPECIFIED is not one). */
#define POLICY_ROLE_COUNT 8
/* Command body cases and query kind cases in the table. */
#define POLICY_COMMAND_COUNT 24
#define POLICY_QUERY_COUNT   14

/* The cell for a command. POLICY_DENY for undeclared roles and unknown cases. */
enum policy_access policy_command_access(Ledger__V1__Role role,
                                         Ledger__V1__Command__BodyCase body_case);
/* The cell for a query kind. Queries have no ASK_PARTNER cells. */
enum policy_access policy_query_access(Ledger__V1__Role role,
                                       Ledger__V1__Query__KindCase kind_case);

/* Shorthands: whether the cell is POLICY_ALLOW. */
bool policy_command_allowed(Ledger__V1__Role role, Ledger__V1__Command__BodyCase body_case);
bool policy_query_allowed(Ledger__V1__Role role, Ledger__V1__Query__KindCase kind_case);

/* The error a refused cell gives: OK for POLICY_ALLOW, FORBIDDEN, ASK_PARTNER. */
enum ledger_err policy_access_error(enum policy_access access);

/* The scope rule of a role (POLICY_SCOPE_NONE for undeclared roles). */
enum policy_scope policy_role_scope(Ledger__V1__Role role);
/* Whether the role sees the partner-facing views, which hide savings plans
 * that customers bought themselves (docs/domain.md): partner staff do; customer
 * users, auditors and billing see them. */
bool policy_role_partner_facing(Ledger__V1__Role role);

/* Names: the role as the CLI and docs spell it ("admin-agent"; "unknown" for
 * undeclared values), and the scope rule in words. Static storage. */
const char *policy_role_name(Ledger__V1__Role role);
const char *policy_scope_name(enum policy_scope scope);

/* Iteration, for docs and tests: index 0..POLICY_ROLE_COUNT-1 etc. Out-of-range
 * indexes give ROLE_UNSPECIFIED / NOT_SET. */
Ledger__V1__Role policy_role_at(size_t index);
Ledger__V1__Command__BodyCase policy_command_at(size_t index);
Ledger__V1__Query__KindCase policy_query_at(size_t index);

/* Writes the whole table as GitHub markdown (one table for commands, one for
 * queries, one for scopes) into buffer (always NUL-terminated when size > 0).
 * Returns the length the full text needs, excluding the NUL, like snprintf:
 * call with size 0 to learn it. */
size_t policy_table_markdown(char *buffer, size_t size);

#endif
