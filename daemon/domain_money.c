/*
 * domain_money.c: the arithmetic of rules 7 and 8 on a customer's state:
 * what a reservation still commits at a time (the least an exchange's
 * replacements must commit), what ending it then may refund (what the
 * partner paid for the days still to run), the USD
 * refunded within rule 7's window, and which refunds the state keeps when
 * its list is full.
 *
 * Does not own: the refusals (domain_decide_reservations.c), the refunds'
 * recording (domain_evolve.c), amounts as text (money.c).
 */
#include "domain.h"

#include <string.h>

#include "civil.h"
#include "domain_internal.h"

/* What a reservation still commits at time `at`: its price prorated by whole
 * days, as the cloud prorates a refund, price * days left / days of its term,
 * rounded down. A day begun counts as left (a reservation cancelled on the
 * day it starts still commits its whole price), and a term of calendar years
 * is a whole number of days (civil_add_years_us). 0 once the term has ended;
 * the price before it starts. 128-bit product: a price up to 10^13 times
 * the days of a span read from the log need not fit 64 bits. */
int64_t domain__remaining_commitment(const struct domain_reservation *reservation, int64_t at_us)
{
    int64_t span_us = reservation->expires_us - reservation->starts_us;
    if (span_us <= 0 || at_us >= reservation->expires_us)
        return 0;
    if (at_us <= reservation->starts_us)
        return reservation->price.amount_minor;
    int64_t days = (span_us + CIVIL_US_PER_DAY - 1) / CIVIL_US_PER_DAY;
    int64_t left = (reservation->expires_us - at_us + CIVIL_US_PER_DAY - 1) / CIVIL_US_PER_DAY;
    if (left > days)
        left = days;
    __extension__ typedef __int128 wide;
    return (int64_t)((wide)reservation->price.amount_minor * left / days);
}

int domain_term_months(Ledger__V1__Term term)
{
    switch (term) {
    case LEDGER__V1__TERM__TERM_P1Y:
        return 12;
    case LEDGER__V1__TERM__TERM_P3Y:
        return 36;
    case LEDGER__V1__TERM__TERM_P5Y:
        return 60;
    default:
        return 0;
    }
}

static int64_t month_number(int64_t time_us)
{
    struct civil_date date = civil_date_from_us(time_us);
    return date.year * 12 + (int64_t)date.month - 1;
}

/* Whether a reservation is billed in monthly instalments (a term this build
 * does not know is taken as billed at once). */
static bool billed_monthly(const struct domain_reservation *reservation)
{
    return reservation->billing_plan == LEDGER__V1__BILLING_PLAN__BILLING_PLAN_MONTHLY &&
           domain_term_months(reservation->term) > 0;
}

/* What billing charges the partner for a reservation through the UTC month
 * of at_us (docs/views.md, Billing): nothing before its term starts (a
 * renewal recorded early); the whole price when upfront; when monthly,
 * price / months in each UTC month from the month its term starts, the last
 * one taking the division's remainder, and nothing after the month it
 * ends. */
static int64_t billed_through(const struct domain_reservation *reservation, int64_t at_us)
{
    int64_t price = reservation->price.amount_minor;
    if (at_us < reservation->starts_us)
        return 0;
    if (!billed_monthly(reservation))
        return price;
    int64_t months = domain_term_months(reservation->term);
    int64_t run = month_number(at_us) - month_number(reservation->starts_us) + 1;
    if (run >= months)
        return price;
    return (run < 1 ? 1 : run) * (price / months);
}

/* What it paid for the days its term has run is the price less what it
 * still commits; the rest of what it paid is refundable. A monthly
 * reservation ended early in its term has paid less than it used, and may
 * refund nothing. */
int64_t domain__refundable(const struct domain_reservation *reservation, int64_t at_us,
                           int64_t *billed_out)
{
    int64_t price = reservation->price.amount_minor;
    int64_t billed = billed_through(reservation, at_us);
    if (billed_out != NULL)
        *billed_out = billed;
    int64_t used = price - domain__remaining_commitment(reservation, at_us);
    return billed > used ? billed - used : 0;
}

/* Rule 8's remaining commitment: what returning the reservation releases
 * the partner from. Upfront, the price was paid, and what remains is the
 * days still to run (domain__remaining_commitment). Monthly, it is the
 * instalments not billed yet: the cloud counts the payments still due
 * (a three-year reservation of 100 a month exchanged after its 18th
 * payment commits 1,800 more), and what the instalments billed so far pay
 * beyond the days used is the exchange's refund, not a commitment. */
int64_t domain__exchange_commitment(const struct domain_reservation *reservation, int64_t at_us)
{
    if (!billed_monthly(reservation))
        return domain__remaining_commitment(reservation, at_us);
    return reservation->price.amount_minor - billed_through(reservation, at_us);
}

/* The instalments a cancellation at `at_us` releases the partner from: for
 * a monthly-billed reservation whose term has begun, those not billed yet;
 * nothing for an upfront one (its price was paid) or before its term. */
int64_t domain__unbilled(const struct domain_reservation *reservation, int64_t at_us)
{
    if (at_us < reservation->starts_us || !billed_monthly(reservation))
        return 0;
    int64_t unbilled_minor = reservation->price.amount_minor - billed_through(reservation, at_us);
    return unbilled_minor > 0 ? unbilled_minor : 0;
}

bool domain__unbilled_usd_needed(const struct domain_reservation *reservation, int64_t at_us,
                                 int64_t refund_minor)
{
    return refund_minor == 0 && strcmp(reservation->price.currency, DOMAIN_CAP_CURRENCY) != 0 &&
           domain__unbilled(reservation, at_us) > 0;
}

/* Rule 7's cancelled commitment, in USD, of a cancellation at `at_us`: its
 * refund's value (refund_usd_minor) and its instalments not billed yet
 * (domain__unbilled), which the cancellation releases the partner from as
 * surely as a refund (the cloud counts a three-year reservation of USD 100
 * a month cancelled after its 12th payment as USD 2,400 cancelled). Those
 * are in the reservation's currency: valued at the refund's own rate
 * (refund_usd_minor / refund_minor) when the currency is not USD; with no
 * refund to give a rate, at unbilled_usd_minor, the value the cancellation
 * states, or, for one recorded before it was stated
 * (DOMAIN_UNBILLED_USD_UNSTATED), not at all, as it was counted then. At
 * most LEDGER_AMOUNT_MINOR_MAX, so that sums over the refunds kept stay
 * within int64. */
int64_t domain__cancelled_usd(const struct domain_reservation *reservation, int64_t at_us,
                              int64_t refund_minor, int64_t refund_usd_minor,
                              int64_t unbilled_usd_minor)
{
    int64_t unbilled_minor = domain__unbilled(reservation, at_us);
    if (unbilled_minor == 0)
        return refund_usd_minor;
    __extension__ typedef __int128 wide;
    wide usd_minor;
    if (strcmp(reservation->price.currency, DOMAIN_CAP_CURRENCY) == 0)
        usd_minor = (wide)refund_usd_minor + unbilled_minor;
    else if (refund_minor > 0)
        usd_minor = (wide)refund_usd_minor + (wide)unbilled_minor * refund_usd_minor / refund_minor;
    else if (unbilled_usd_minor != DOMAIN_UNBILLED_USD_UNSTATED)
        usd_minor = (wide)refund_usd_minor + unbilled_usd_minor;
    else
        usd_minor = refund_usd_minor;
    return usd_minor > LEDGER_AMOUNT_MINOR_MAX ? LEDGER_AMOUNT_MINOR_MAX : (int64_t)usd_minor;
}

/* USD refunded by cancellations dated in [from_us, from_us + window). */
static int64_t refunds_from(const struct domain_customer *customer, int64_t from_us,
                            int64_t *last_us)
{
    int64_t total_minor = 0;
    for (size_t i = 0; i < customer->refund_count; i++) {
        int64_t at_us = customer->refunds[i].at_us;
        if (at_us >= from_us && at_us - from_us < LEDGER_REFUND_WINDOW_US) {
            total_minor += customer->refunds[i].usd_minor;
            if (at_us > *last_us)
                *last_us = at_us;
        }
    }
    return total_minor;
}

/* Rule 7 caps the refunds of any rolling 365 days, so a refund at `at_us`
 * must fit every window [from, from + 365 d) that holds it, from in
 * (at_us - 365 d, at_us]: those before and, for a cancellation dated back,
 * after it (back-dating never escapes the cap), but never two refunds 365
 * days or more apart at once. A window holding the most starts at at_us or
 * at a refund within the 365 days before (moved later until its start
 * meets one, it loses none), so those are the windows tried. */
struct domain_refund_window domain__refunds_in_window(const struct domain_customer *customer,
                                                      int64_t at_us)
{
    struct domain_refund_window most = {.from_us = at_us, .last_us = INT64_MIN};
    most.usd_minor = refunds_from(customer, at_us, &most.last_us);
    for (size_t i = 0; i < customer->refund_count; i++) {
        int64_t from_us = customer->refunds[i].at_us;
        if (from_us >= at_us || at_us - from_us >= LEDGER_REFUND_WINDOW_US)
            continue;
        int64_t last_us = INT64_MIN;
        int64_t usd_minor = refunds_from(customer, from_us, &last_us);
        if (usd_minor > most.usd_minor)
            most = (struct domain_refund_window){usd_minor, from_us, last_us};
    }
    return most;
}

/* Drops refunds too old to count against the cap again: dated more than two
 * windows before this event's business time (one window of margin for
 * commands dated in the past), remembering the latest dropped so that no
 * cancellation dated further back is decided without them
 * (domain__refunds_dropped_until); then, if the list is still full, those
 * that count nothing (a cancellation of no commitment), which no window
 * misses. Only called when the array is full. */
void domain__prune_refunds(struct domain_customer *customer, int64_t business_us)
{
    int64_t horizon_us = business_us - 2 * LEDGER_REFUND_WINDOW_US;
    size_t kept = 0;
    for (size_t i = 0; i < customer->refund_count; i++) {
        int64_t at_us = customer->refunds[i].at_us;
        if (at_us > horizon_us) {
            customer->refunds[kept++] = customer->refunds[i];
        } else if (!customer->refunds_dropped || at_us > customer->refunds_dropped_last_us) {
            customer->refunds_dropped = true;
            customer->refunds_dropped_last_us = at_us;
        }
    }
    customer->refund_count = kept;
    if (kept < LEDGER_CUSTOMER_REFUNDS_MAX)
        return;
    kept = 0;
    for (size_t i = 0; i < customer->refund_count; i++) {
        if (customer->refunds[i].usd_minor > 0)
            customer->refunds[kept++] = customer->refunds[i];
    }
    customer->refund_count = kept;
}

bool domain__refunds_dropped_until(const struct domain_customer *customer, int64_t at_us,
                                   int64_t *until_us)
{
    if (!customer->refunds_dropped ||
        at_us - LEDGER_REFUND_WINDOW_US >= customer->refunds_dropped_last_us)
        return false;
    *until_us = customer->refunds_dropped_last_us + LEDGER_REFUND_WINDOW_US;
    return true;
}

/* Refunds evolve would keep when the list is full (domain__prune_refunds). */
size_t domain__recent_refunds(const struct domain_customer *customer, int64_t business_us)
{
    int64_t horizon_us = business_us - 2 * LEDGER_REFUND_WINDOW_US;
    size_t count = 0, counting = 0;
    for (size_t i = 0; i < customer->refund_count; i++) {
        bool recent = customer->refunds[i].at_us > horizon_us;
        count += recent;
        counting += recent && customer->refunds[i].usd_minor > 0;
    }
    return count < LEDGER_CUSTOMER_REFUNDS_MAX ? count : counting;
}
