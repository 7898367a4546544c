/*
 * histgen.h: a seeded, reproducible generator of realistic ledger histories.
 *
 * Owns: a model of the business state of many partners and their customers
 * (subscriptions, users and their roles, permission switches, reservations,
 * savings plans, refunds) and, from it, a stream of (principal, serialized
 * Command) pairs that the domain accepts one after the other: the operator
 * registers partners, adds principals and (when asked) rotates the help desk
 * agents' secrets; admin agents onboard customers, buy
 * subscriptions, assign and remove roles, turn purchase permissions on and off,
 * buy, exchange, cancel, renew and rescope reservations and buy savings plans;
 * sales agents buy subscriptions and reservations; customer users buy
 * reservations and savings plans when their permission is on and they hold
 * Owner or Reservation Purchaser on the billing subscription.
 * Does not own: deciding (the domain does), sending (the caller does), keys.
 *
 * Reproducibility: the stream is a pure function of the options and of the
 * sequence numbers the caller reports back: the same seed gives byte-identical
 * commands. The generator uses its own PRNG (xoshiro256**), never rand() or the
 * clock.
 *
 * Protocol: call histgen_next() for an item, hand it to the ledger, then report
 * the outcome with histgen_accepted(gen, sequence) (the event's sequence; the
 * ledger derives reservation, order and savings plan ids from it: "res-<seq>",
 * "ord-<seq>", "sp-<seq>") or histgen_refused(gen). A refused item changes
 * nothing in the model. Exactly one report per item.
 *
 * Ids: partners "p-3", customers "c-3-17", subscriptions "s-3-17-2", users
 * "u-3-17-1" (the customer user's principal id is its user name), partner
 * principals "admin-3", "sales-3", "helpdesk-3", "auditor-3", "billing-3";
 * commands "<prefix>cmd-<n>". Indexes start at 1.
 *
 * Deliberate refusals: with invalid_per_mille > 0 that share of the items is a
 * command the domain must refuse, each with the single error code it must give
 * (item.expected_err); every other item has expected_err OK.
 */
#ifndef LEDGER_HISTGEN_H
#define LEDGER_HISTGEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec.h"
#include "error.h"

/* 2025-01-01T00:00:00Z in microseconds since the Unix epoch. */
#define HISTGEN_START_US_DEFAULT INT64_C(1735689600000000)

struct histgen_options {
    uint64_t seed;
    uint32_t partners;              /* 1..HISTGEN_PARTNERS_MAX */
    uint32_t customers_per_partner; /* 1..HISTGEN_CUSTOMERS_MAX */
    uint64_t target_events;         /* valid items to emit before the end */
    uint32_t invalid_per_mille;     /* 0 (default): every item is valid */
    int64_t start_us;               /* 0: HISTGEN_START_US_DEFAULT */
    int64_t step_min_us;            /* business time advance per item; 0: 1 minute */
    int64_t step_max_us;            /* 0: 5 minutes */
    const char *operator_id;        /* NULL: "operator"; borrowed, must outlive gen */
    /* Index of the first partner (its ids are p-<first>...); 0 means 1. Lets
     * several generators feed one ledger with disjoint partners. */
    uint32_t partner_first;
    /* Prefix of command ids (and correlation ids), so that independent
     * generators never reuse one; NULL: "". Borrowed, must outlive gen. */
    const char *command_prefix;
    /* Every business command is issued by the partner's admin agent (no sales
     * agent, no customer user principals): consecutive items then share one
     * principal, which is what atomic batches need. */
    bool admin_only;
    /* Business items stay with one partner for this many items before another
     * partner is drawn; 0 or 1: drawn for every item. */
    uint32_t partner_run;
    /* That share of the items after the setup is the operator rotating the
     * secret of the drawn partner's help desk agent (RotatePrincipalSecret),
     * a principal that issues no item, so that no consumer needs its new
     * secret; 0 (the default): none, and the stream is as without it. */
    uint32_t rotations_per_mille;
};

/* The bounds of the model (they keep every customer far inside the domain's
 * per-customer limits of ledger_limits.h). */
#define HISTGEN_PARTNERS_MAX  100000
#define HISTGEN_CUSTOMERS_MAX 100000

/* Who issues an item: exactly the fields the AddPrincipal created (borrowed
 * from the generator until the next histgen_next call). */
struct histgen_principal {
    const char *id;
    Ledger__V1__Role role;
    const char *partner_id;  /* "" for the operator */
    const char *customer_id; /* customer users only, else "" */
    const char *user;        /* customer users only, else "" */
};

struct histgen_item {
    struct histgen_principal principal;
    const uint8_t *command; /* serialized ledger.v1.Command; owned by gen */
    size_t command_size;
    const char *command_id;             /* owned by gen */
    Ledger__V1__Command__BodyCase kind; /* the command's body case */
    const char *partner_id;             /* Command.partner_id (may be "") */
    const char *customer_id;            /* Command.customer_id (may be "") */
    int64_t business_us;                /* Command.business_us */
    enum ledger_err expected_err;       /* OK, or the refusal a bad item must get */
};

struct histgen;

/* Creates a generator. INVALID_ARGUMENT for counts out of range or a step range
 * that is empty; NO_MEMORY. *out written only on success; free with histgen_free. */
__attribute__((warn_unused_result)) enum ledger_err
histgen_new(const struct histgen_options *options, struct histgen **out);
void histgen_free(struct histgen *gen);

/* The next item. Returns true and fills *item, or false at the end (after
 * target_events valid items). Calling it before the previous item was
 * reported is a programming error and aborts. The item's storage is valid
 * until the next call of histgen_next or histgen_free. */
__attribute__((warn_unused_result)) bool histgen_next(struct histgen *gen,
                                                      struct histgen_item *item);

/* Reports the last item as accepted with the event at `sequence` (a caller
 * that knows it is the only writer may report the sequence the item will get
 * before sending it, as atomic batches need). Aborts when no item awaits a
 * report. */
void histgen_accepted(struct histgen *gen, uint64_t sequence);
/* Reports the last item as refused; the model stays as it was. */
void histgen_refused(struct histgen *gen);

/* Counters: valid items emitted, items emitted (valid or not), items refused. */
uint64_t histgen_valid_count(const struct histgen *gen);
uint64_t histgen_item_count(const struct histgen *gen);

/* The principal ids of a partner (index as in the ids), written into buffers
 * of at least HISTGEN_ID_SIZE bytes: for tools that need to query as them. */
#define HISTGEN_ID_SIZE 65
void histgen_admin_id(uint32_t partner_index, char out[HISTGEN_ID_SIZE]);
void histgen_partner_id(uint32_t partner_index, char out[HISTGEN_ID_SIZE]);
void histgen_customer_id(uint32_t partner_index, uint32_t customer_index,
                         char out[HISTGEN_ID_SIZE]);

#endif
