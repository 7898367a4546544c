/*
 * domain_internal.h: what the domain's files share, and nothing else
 * includes: string helpers, the aggregate's id indexes and lookups, and the
 * arithmetic of commitments and refunds.
 *
 * The domain is the rules of docs/domain.md, deciding commands and evolving
 * a customer's state, as pure functions, in five files:
 *
 *   domain_state.c   the customer aggregate (struct domain_customer): new,
 *                    copy, size, free; the id indexes of its reservations and
 *                    savings plans; lookups, the roles held at a business
 *                    time among them;
 *   domain_evolve.c  applying each customer event to the aggregate, and its
 *                    growth within the LEDGER_CUSTOMER_*_MAX limits;
 *   domain_decide.c  the decision of each command: validation of every
 *                    field, authorization through policy.h, the rules, and
 *                    the event that records the outcome;
 *   domain_money.c   what a reservation still commits at a time, the USD
 *                    refunded within rule 7's window, and the refunds the
 *                    aggregate keeps;
 *   domain_names.c   the activity log's action names and the
 *                    partner-visibility of events.
 *
 * Does not own: storage, time, the command-id index or expected versions
 * (engine), the role table (policy.c), the views.
 */
#ifndef LEDGER_DOMAIN_INTERNAL_H
#define LEDGER_DOMAIN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "domain.h"

/* The only currency the refund cap counts in (rule 7). */
#define DOMAIN_CAP_CURRENCY "USD"

/* ---- domain_state.c ------------------------------------------------------ */

/* Copies source (NULL taken as "") into target; false when it does not fit. */
bool domain__copy_string(char *target, size_t target_size, const char *source);
/* Copies source (NULL taken as "") into target, cut to target_size - 1
 * bytes: what snprintf(target, target_size, "%s", source) writes, without
 * parsing a format. target_size must be at least 1. */
void domain__copy_cut(char *target, size_t target_size, const char *source);
/* strcmp() == 0, NULL taken as "". */
bool domain__string_equal(const char *a, const char *b);

/* Makes room in an id index for `wanted` items of `items` (each `stride`
 * bytes, the first `count` indexed already). NO_MEMORY. */
__attribute__((warn_unused_result)) enum ledger_err
domain__id_index_reserve(struct domain_id_index *index, const void *items, size_t stride,
                         size_t count, size_t wanted);
/* Indexes the item at `position`, in room domain__id_index_reserve made. */
void domain__id_index_add(struct domain_id_index *index, const void *items, size_t stride,
                          size_t position);

/* A customer's reservation, savings plan or subscription by id; NULL when it
 * has none (or customer or id is NULL). Mutable, for evolve. */
struct domain_reservation *domain__find_reservation(const struct domain_customer *customer,
                                                    const char *reservation_id);
struct domain_savings_plan *domain__find_savings_plan(const struct domain_customer *customer,
                                                      const char *savings_plan_id);
struct domain_subscription *domain__find_subscription(const struct domain_customer *customer,
                                                      const char *subscription_id);
/* The index in customer->roles of an assignment held now, or -1. */
long domain__find_role(const struct domain_customer *customer, const char *subscription_id,
                       const char *user, Ledger__V1__AzureRole role);
/* Whether a removal ended this user's assignment of this role there. */
bool domain__removal_matches(const struct domain_role_removal *removal, const char *subscription_id,
                             const char *user, Ledger__V1__AzureRole role);
/* An assignment's latest-dated removal, or NULL. */
const struct domain_role_removal *domain__last_removal(const struct domain_customer *customer,
                                                       const char *subscription_id,
                                                       const char *user,
                                                       Ledger__V1__AzureRole role);
/* The assignment in force at `at_us`, held now or removed since; NULL. */
const struct domain_role_assignment *domain__role_at(const struct domain_customer *customer,
                                                     const char *subscription_id, const char *user,
                                                     Ledger__V1__AzureRole role, int64_t at_us);

/* ---- domain_money.c ------------------------------------------------------ */

/* What a reservation still commits at `at_us`, in its price's minor units:
 * its price prorated by the days still to run. */
int64_t domain__remaining_commitment(const struct domain_reservation *reservation, int64_t at_us);
/* Rule 8's remaining commitment of a reservation returned at `at_us`: an
 * upfront one's domain__remaining_commitment; a monthly one's instalments
 * not billed yet (the whole price before its term starts). */
int64_t domain__exchange_commitment(const struct domain_reservation *reservation, int64_t at_us);
/* What ending a reservation at `at_us` (a cancellation, or a return in an
 * exchange) may refund: what the partner paid for the days still to run.
 * billed_out (may be NULL): what billing charges the partner for it through
 * the month of at_us, the months after it being no longer billed. */
int64_t domain__refundable(const struct domain_reservation *reservation, int64_t at_us,
                           int64_t *billed_out);
/* What a monthly-billed reservation cancelled at `at_us` is no longer
 * billed: its instalments not billed yet once its term has begun (0 before,
 * and for an upfront one). */
int64_t domain__unbilled(const struct domain_reservation *reservation, int64_t at_us);
/* Whether a cancellation of `reservation` at `at_us` refunding refund_minor
 * must state the USD value of its instalments not billed yet
 * (CancelReservation.unbilled_usd): when there are some, in another currency
 * than USD, and no refund gives a rate to value them at. */
bool domain__unbilled_usd_needed(const struct domain_reservation *reservation, int64_t at_us,
                                 int64_t refund_minor);
/* A cancellation that states no unbilled_usd (every one recorded before the
 * field, and those that need none). */
#define DOMAIN_UNBILLED_USD_UNSTATED (-1)
/* Rule 7's cancelled commitment in USD of a cancellation of `reservation`
 * at `at_us` refunding refund_minor (its currency) worth refund_usd_minor,
 * stating unbilled_usd_minor (or DOMAIN_UNBILLED_USD_UNSTATED): the
 * refund's value, and a monthly one's instalments not billed yet. What the
 * state's refunds keep and the cap counts. */
int64_t domain__cancelled_usd(const struct domain_reservation *reservation, int64_t at_us,
                              int64_t refund_minor, int64_t refund_usd_minor,
                              int64_t unbilled_usd_minor);
/* The 365-day window of rule 7 holding `at_us` in which the most USD was
 * refunded: that amount in minor units, the window's start, and the date of
 * the latest refund in it (INT64_MIN when none). */
struct domain_refund_window {
    int64_t usd_minor;
    int64_t from_us;
    int64_t last_us;
};
struct domain_refund_window domain__refunds_in_window(const struct domain_customer *customer,
                                                      int64_t at_us);
/* Keeps, of a full refund list, the refunds that may still count. */
void domain__prune_refunds(struct domain_customer *customer, int64_t business_us);
/* Whether a cancellation at `at_us` shares a 365-day window with refunds
 * dropped from the list: then it cannot be checked against the cap, and
 * *until_us is the first date that can. */
bool domain__refunds_dropped_until(const struct domain_customer *customer, int64_t at_us,
                                   int64_t *until_us);
/* How many refunds domain__prune_refunds would keep at `business_us`. */
size_t domain__recent_refunds(const struct domain_customer *customer, int64_t business_us);

#endif
