/*
 * views.h: the projections of the event log that people query.
 *
 * Owns: the derived databases STORE_DB_PARTNER, _PRINCIPAL, _RESERVATION,
 * _ORDER, _SAVINGS_PLAN, _PERMISSION, _ACTIVITY and _BILLING: their key layouts,
 * their rows (protobuf rows of proto/ledger.proto, stored serialized), applying
 * one event to them, answering the view queries from them, "as of" answers by
 * replaying a customer's stream through domain_customer_evolve, and a digest
 * per view for rebuild checks.
 * Does not own: the log (store), decisions (domain), who may ask (policy).
 *
 * Invariant: views are a pure function of the log. Applying the log from
 * sequence 1 to empty views gives byte-identical databases (the rebuild test).
 */
#ifndef LEDGER_VIEWS_H
#define LEDGER_VIEWS_H

#include <stdbool.h>
#include <stdint.h>

#include "codec.h"
#include "error.h"
#include "store.h"

/* Applies one committed event (already appended, with its sequence set) to every
 * view, inside the same write transaction. */
__attribute__((warn_unused_result)) enum ledger_err views_apply(struct store_txn *txn,
                                                                const Ledger__V1__Event *event);

/* Whether a partner was registered (PartnerRegistered applied). */
__attribute__((warn_unused_result)) enum ledger_err
views_partner_exists(struct store_txn *txn, const char *partner_id, bool *exists_out);

/* What the asking principal may see, decided by the engine from policy. */
struct views_scope {
    const char *partner_id;  /* required: views never cross partners */
    const char *customer_id; /* "" = every customer of the partner; else only this one */
    bool partner_facing;     /* hide customer-bought savings plans (DOMAIN.md) */
};

/* Answers the view queries: reservations, orders, savings_plans, permissions,
 * activity, billing, principals. Fills `result` (rows allocated here; release
 * with views_result_clear). INVALID_ARGUMENT (message says which field) or
 * UNKNOWN_MESSAGE for other query kinds. */
__attribute__((warn_unused_result)) enum ledger_err
views_query(struct store_txn *txn, const struct views_scope *scope, const Ledger__V1__Query *query,
            Ledger__V1__QueryResult *result, char message[256]);
/* Frees every row views_query allocated and re-initializes `result`. */
void views_result_clear(Ledger__V1__QueryResult *result);

/* SHA-256 over every key and value of one derived database, in key order,
 * each as u32 BE length || bytes. */
__attribute__((warn_unused_result)) enum ledger_err views_digest(struct store_txn *txn,
                                                                 enum store_db db, uint8_t out[32]);

#endif
