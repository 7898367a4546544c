/*
 * domain_decide_reservations.c: deciding the commands of a reservation's
 * life: its purchase (by the partner or, under rule 3, by a customer user),
 * its scope and auto-renew changes, its renewal, an exchange that returns
 * some and buys others, its cancellation with a refund, and its expiry; the
 * fields of a reservation purchase and the ids and event of a reservation
 * bought.
 *
 * Rules of docs/domain.md enforced here: 3 and 4 (who may buy, billing
 * what), 5 (exchanges, cancellations, renewals and scope changes are the
 * partner's: the role table refuses the customer's, and these decide the
 * partner's), 7 (the USD 50,000 refund cap over any 365 days), 8 (an
 * exchange buys at least the commitment it returns), 9 (terms, P5Y only for
 * the SKUs that have it; billing plans; scopes), 10 (a reservation only
 * while its subscription is active), 11 (money).
 *
 * Does not own: what reservations share with savings plans
 * (domain_decide_holdings.c), what a reservation still commits and may
 * refund (domain_money.c).
 */
#include "domain.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "domain_internal.h"
#include "money.h"

/* ---- a purchase: its fields, its rules, its event ------------------------ */

/* SKU families offered with a five-year term (rule 9). Azure sells P5Y only
 * for a few families: M-series and HB/HC high-performance VMs and dedicated
 * hosts. A SKU whose name starts with one of these may be bought for P5Y. */
static const char *const p5y_sku_prefixes[] = {
    "Standard_M",
    "Standard_HB",
    "Standard_HC",
    "DedicatedHost_",
};

static bool sku_allows_p5y(const char *sku)
{
    for (size_t i = 0; i < sizeof p5y_sku_prefixes / sizeof p5y_sku_prefixes[0]; i++) {
        size_t length = strlen(p5y_sku_prefixes[i]);
        if (strncmp(sku, p5y_sku_prefixes[i], length) == 0)
            return true;
    }
    return false;
}

/* A reservation purchase's fields (PurchaseReservation, and the replacement
 * of an exchange): shape, rule 9's terms, rule 11's money. */
static enum ledger_err check_reservation_fields(struct domain_decision *d,
                                                const Ledger__V1__PurchaseReservation *body)
{
    enum ledger_err err =
        domain__check_id(d, body->billing_subscription_id, "billing_subscription_id");
    if (err == LEDGER_ERR_OK)
        err = domain__check_optional_id(d, body->cloud_order_id, "cloud_order_id");
    if (err == LEDGER_ERR_OK)
        err = domain__check_sku(d, body->sku, "sku");
    if (err == LEDGER_ERR_OK)
        err = domain__check_sku(d, body->region, "region");
    if (err != LEDGER_ERR_OK)
        return err;
    if (body->quantity < 1 || body->quantity > LEDGER_QUANTITY_MAX)
        return domain__refuse(d, LEDGER_ERR_INVALID_ARGUMENT, "quantity %u is out of range (1..%d)",
                              body->quantity, LEDGER_QUANTITY_MAX);
    err = domain__check_purchase_terms(d, body->term, body->billing_plan, body->scope, body->price,
                                       body->retail_price);
    if (err != LEDGER_ERR_OK)
        return err;
    if (body->term == LEDGER__V1__TERM__TERM_P5Y && !sku_allows_p5y(body->sku))
        return domain__refuse(d, LEDGER_ERR_INVALID_TERM,
                              "term P5Y is not sold for SKU '%s'; only SKUs starting Standard_M, "
                              "Standard_HB, Standard_HC or DedicatedHost_ have it",
                              body->sku);
    return domain__check_term_end(d, d->business_us, body->term, "the reservation");
}

/* The ids of the index-th reservation an event buys: `ord-<seq>` and
 * `res-<seq>` for the first (every purchase and renewal, and an exchange's
 * first replacement), `ord-<seq>-<index + 1>` and `res-<seq>-<index + 1>` for
 * an exchange's further ones (docs/events.md, "Generated ids"). */
static void set_reservation_ids(struct domain_decision *d, size_t index,
                                Ledger__V1__ReservationPurchased *reservation)
{
    struct domain_output *out = d->out;
    unsigned long long sequence = (unsigned long long)d->in->sequence;
    if (index == 0) {
        snprintf(out->order_ids[0], sizeof out->order_ids[0], "ord-%llu", sequence);
        snprintf(out->reservation_ids[0], sizeof out->reservation_ids[0], "res-%llu", sequence);
    } else {
        snprintf(out->order_ids[index], sizeof out->order_ids[index], "ord-%llu-%zu", sequence,
                 index + 1);
        snprintf(out->reservation_ids[index], sizeof out->reservation_ids[index], "res-%llu-%zu",
                 sequence, index + 1);
    }
    reservation->order_id = out->order_ids[index];
    reservation->reservation_id = out->reservation_ids[index];
}

/* out->reservations[index] from a purchase command's fields (a purchase's,
 * or an exchange's index-th replacement). ids from the sequence. */
static Ledger__V1__ReservationPurchased *
build_reservation(struct domain_decision *d, const Ledger__V1__PurchaseReservation *body,
                  size_t index, Ledger__V1__Purchaser purchaser, bool allowed_by)
{
    struct domain_output *out = d->out;
    Ledger__V1__ReservationPurchased *event = &out->reservations[index];
    ledger__v1__reservation_purchased__init(event);
    set_reservation_ids(d, index, event);
    event->billing_subscription_id = body->billing_subscription_id;
    event->sku = body->sku;
    event->region = body->region;
    event->quantity = body->quantity;
    event->term = body->term;
    event->billing_plan = body->billing_plan;
    event->scope = domain__output_scope(
        &out->reservation_scopes[index], out->reservation_scope_targets[index],
        sizeof out->reservation_scope_targets[index], body->scope->kind, body->scope->target);
    event->price = body->price;
    event->retail_price = body->retail_price;
    event->auto_renew = body->auto_renew;
    event->cloud_order_id = body->cloud_order_id;
    event->purchaser = purchaser;
    event->starts_us = d->business_us;
    event->expires_us = domain__term_end(d->business_us, body->term);
    event->allowed_by = allowed_by ? &out->allowed_by : NULL;
    return event;
}

/* Room among the customer's reservations for `new_reservations` more, bought
 * or renewed (an exchange says how many it buys in its own message). */
static enum ledger_err check_reservation_room(struct domain_decision *d, size_t new_reservations)
{
    return domain__check_room(d, d->customer->reservation_count, new_reservations,
                              LEDGER_CUSTOMER_RESERVATIONS_MAX, "reservations");
}

/* Rules 3/4 for a reservation purchase, after the fields were validated. */
static enum ledger_err check_reservation_purchase(struct domain_decision *d,
                                                  const Ledger__V1__PurchaseReservation *body,
                                                  size_t new_reservations)
{
    enum ledger_err err;
    if (domain__is_customer_user(d))
        err = domain__check_customer_purchase(
            d, LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_RESERVATIONS,
            body->billing_subscription_id);
    else
        err = domain__check_billing_subscription(d, body->billing_subscription_id, true);
    if (err == LEDGER_ERR_OK)
        err = domain__check_active_while_reserved(d, body->billing_subscription_id,
                                                  domain__term_end(d->business_us, body->term),
                                                  "purchase");
    if (err == LEDGER_ERR_OK)
        err = domain__check_scope_target(d, body->scope);
    if (err != LEDGER_ERR_OK)
        return err;
    return check_reservation_room(d, new_reservations);
}

enum ledger_err domain__decide_purchase_reservation(struct domain_decision *d)
{
    const Ledger__V1__PurchaseReservation *body = d->command->purchase_reservation;
    enum ledger_err err = check_reservation_fields(d, body);
    if (err == LEDGER_ERR_OK)
        err = domain__need_customer(d);
    if (err == LEDGER_ERR_OK)
        err = check_reservation_purchase(d, body, 1);
    if (err == LEDGER_ERR_OK)
        err = domain__check_cloud_order_unheld(d, body->cloud_order_id);
    if (err != LEDGER_ERR_OK)
        return err;
    bool customer = domain__is_customer_user(d);
    d->out->event.reservation_purchased =
        build_reservation(d, body, 0,
                          customer ? LEDGER__V1__PURCHASER__PURCHASER_CUSTOMER
                                   : LEDGER__V1__PURCHASER__PURCHASER_PARTNER,
                          customer);
    d->out->event.body_case = LEDGER__V1__EVENT__BODY_RESERVATION_PURCHASED;
    return LEDGER_ERR_OK;
}

/* ---- the reservation a change names -------------------------------------- */

/* The reservation a change names: exists, active. */
enum ledger_err domain__find_active(struct domain_decision *d, const char *reservation_id,
                                    const struct domain_reservation **out)
{
    const struct domain_reservation *reservation =
        domain__find_reservation(d->customer, reservation_id);
    if (reservation == NULL)
        return domain__refuse(d, LEDGER_ERR_RESERVATION_NOT_FOUND,
                              "reservation %s is not a reservation of customer %s", reservation_id,
                              d->customer->customer_id);
    if (reservation->state != LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_ACTIVE)
        return domain__refuse(
            d, LEDGER_ERR_RESERVATION_NOT_ACTIVE, "reservation %s is %s, not active",
            reservation_id, codec_enum_name(CODEC_ENUM_RESERVATION_STATE, (int)reservation->state));
    *out = reservation;
    return LEDGER_ERR_OK;
}

/* domain__check_after_change for a reservation (bought, or renewed, at
 * bought_us). */
enum ledger_err domain__check_after_purchase(struct domain_decision *d,
                                             const struct domain_reservation *reservation,
                                             const char *change)
{
    return domain__check_after_change(d, "reservation", reservation->id, reservation->bought_us,
                                      reservation->changed_us, change);
}

/* A cancellation, an exchange or a scope or auto-renew change acts on a
 * reservation whose term still runs at the command's business time: from
 * its expiry on it is over (expired, or renewed by the cloud when set to
 * renew), and what remains to record is that. */
enum ledger_err domain__check_term_running(struct domain_decision *d,
                                           const struct domain_reservation *reservation,
                                           const char *change)
{
    if (d->business_us < reservation->expires_us)
        return LEDGER_ERR_OK;
    return domain__refuse(d, LEDGER_ERR_RESERVATION_NOT_ACTIVE,
                          "reservation %s ended with its term on %s: %s dated %s comes after that; "
                          "record its %s instead (ledgerctl reservation %s)",
                          reservation->id, domain__time_text(reservation->expires_us).text, change,
                          domain__time_text(d->business_us).text,
                          reservation->auto_renew ? "renewal" : "expiry",
                          reservation->auto_renew ? "renewed" : "expired");
}

/* The reservation a cancellation or an exchange returns: active, and bought
 * no later than the change. An id of one of the customer's savings plans is
 * refused as such (rule 6), not as an unknown reservation. */
static enum ledger_err find_returnable(struct domain_decision *d, const char *reservation_id,
                                       const char *change, const struct domain_reservation **out)
{
    if (domain__find_reservation(d->customer, reservation_id) == NULL &&
        domain__find_savings_plan(d->customer, reservation_id) != NULL)
        return domain__refuse(d, LEDGER_ERR_SAVINGS_PLAN_NOT_REFUNDABLE,
                              "%s is a savings plan, not a reservation: savings plans cannot be "
                              "cancelled, refunded or exchanged",
                              reservation_id);
    enum ledger_err err = domain__find_active(d, reservation_id, out);
    if (err == LEDGER_ERR_OK)
        err = domain__check_after_purchase(d, *out, change);
    if (err == LEDGER_ERR_OK)
        err = domain__check_term_running(d, *out, change);
    return err;
}

/* ---- scope, auto-renew, renewal ------------------------------------------ */

enum ledger_err domain__decide_change_reservation_scope(struct domain_decision *d)
{
    const Ledger__V1__ChangeReservationScope *body = d->command->change_reservation_scope;
    Ledger__V1__ReservationScopeChanged *event = &d->out->body.reservation_scope_changed;
    ledger__v1__reservation_scope_changed__init(event);
    enum ledger_err err =
        domain__decide_scope_change(d, DOMAIN_HOLDING_RESERVATION, body->reservation_id,
                                    body->scope, &event->from_scope, &event->to_scope);
    if (err != LEDGER_ERR_OK)
        return err;
    event->reservation_id = body->reservation_id;
    d->out->event.body_case = LEDGER__V1__EVENT__BODY_RESERVATION_SCOPE_CHANGED;
    d->out->event.reservation_scope_changed = event;
    return LEDGER_ERR_OK;
}

enum ledger_err domain__decide_set_reservation_renewal(struct domain_decision *d)
{
    const Ledger__V1__SetReservationRenewal *body = d->command->set_reservation_renewal;
    enum ledger_err err = domain__decide_renewal_change(d, DOMAIN_HOLDING_RESERVATION,
                                                        body->reservation_id, body->auto_renew);
    if (err != LEDGER_ERR_OK)
        return err;
    Ledger__V1__ReservationRenewalSet *event = &d->out->body.reservation_renewal_set;
    ledger__v1__reservation_renewal_set__init(event);
    event->reservation_id = body->reservation_id;
    event->auto_renew = body->auto_renew;
    d->out->event.body_case = LEDGER__V1__EVENT__BODY_RESERVATION_RENEWAL_SET;
    d->out->event.reservation_renewal_set = event;
    return LEDGER_ERR_OK;
}

enum ledger_err domain__decide_renew_reservation(struct domain_decision *d)
{
    const Ledger__V1__RenewReservation *body = d->command->renew_reservation;
    const struct domain_reservation *old = NULL;
    enum ledger_err err =
        domain__check_renewal_fields(d, body->reservation_id, "reservation_id", body->price,
                                     body->retail_price, body->cloud_order_id);
    if (err == LEDGER_ERR_OK)
        err = domain__find_active(d, body->reservation_id, &old);
    if (err != LEDGER_ERR_OK)
        return err;
    struct domain_renewed_holding holding = DOMAIN_RENEWED_HOLDING("reservation", old);
    err = domain__check_renewal(d, &holding, body->price, true);
    if (err != LEDGER_ERR_OK)
        return err;
    /* The renewal counts from now (rule 10) until the end of its term. */
    err = domain__check_active_while_reserved(
        d, old->billing_subscription_id, domain__term_end(old->expires_us, old->term), "renewal");
    if (err != LEDGER_ERR_OK)
        return err;
    err = check_reservation_room(d, 1);
    if (err == LEDGER_ERR_OK)
        err = domain__check_cloud_order_unheld(d, body->cloud_order_id);
    if (err != LEDGER_ERR_OK)
        return err;
    struct domain_output *out = d->out;
    Ledger__V1__ReservationPurchased *renewal = &out->reservations[0];
    ledger__v1__reservation_purchased__init(renewal);
    set_reservation_ids(d, 0, renewal);
    domain__copy_cut(out->billing_subscription_id, sizeof out->billing_subscription_id,
                     old->billing_subscription_id);
    domain__copy_cut(out->sku, sizeof out->sku, old->sku);
    domain__copy_cut(out->region, sizeof out->region, old->region);
    renewal->billing_subscription_id = out->billing_subscription_id;
    renewal->sku = out->sku;
    renewal->region = out->region;
    renewal->quantity = old->quantity;
    DOMAIN_RENEWAL_FROM(renewal, old, body, out);
    Ledger__V1__ReservationRenewed *event = &out->body.reservation_renewed;
    ledger__v1__reservation_renewed__init(event);
    event->reservation_id = body->reservation_id;
    event->renewal = renewal;
    out->event.body_case = LEDGER__V1__EVENT__BODY_RESERVATION_RENEWED;
    out->event.reservation_renewed = event;
    return LEDGER_ERR_OK;
}

/* ---- exchange, cancellation, expiry -------------------------------------- */

/* An exchange's replacement `index` names no cloud order id an earlier one
 * named: each is a purchase of its own (domain__check_cloud_order_unheld). */
static enum ledger_err check_cloud_order_distinct(struct domain_decision *d,
                                                  const Ledger__V1__ExchangeReservation *body,
                                                  size_t index)
{
    const char *id = body->replacements[index]->cloud_order_id;
    if (id == NULL || id[0] == '\0')
        return LEDGER_ERR_OK;
    for (size_t i = 0; i < index; i++) {
        const char *earlier = body->replacements[i]->cloud_order_id;
        if (earlier != NULL && strcmp(earlier, id) == 0)
            return domain__refuse(
                d, LEDGER_ERR_INVALID_ARGUMENT,
                "cloud_order_id %s is replacement %zu's too: a cloud order id names one "
                "purchase; give each replacement the order id the cloud issued for it",
                id, i + 1);
    }
    return LEDGER_ERR_OK;
}

/* Names the replacement a refusal is about, when an exchange buys several:
 * "replacement 2 of 3: " before the message. */
static enum ledger_err name_replacement(struct domain_decision *d, enum ledger_err err,
                                        size_t index, size_t count)
{
    if (err == LEDGER_ERR_OK || count < 2)
        return err;
    char message[DOMAIN_MESSAGE_SIZE];
    snprintf(message, sizeof message, "%s", d->out->message);
    return domain__refuse(d, err, "replacement %zu of %zu: %s", index + 1, count, message);
}

/* Rule 8's checks of one replacement, after the returned reservations':
 * priced in their currency, and a partner purchase (rule 4). */
static enum ledger_err check_replacement(struct domain_decision *d,
                                         const Ledger__V1__PurchaseReservation *replacement,
                                         const char *currency)
{
    if (strcmp(replacement->price->currency, currency) != 0)
        return domain__refuse(d, LEDGER_ERR_CURRENCY_MISMATCH,
                              "the replacement is priced in %s but the returned reservations in %s",
                              replacement->price->currency, currency);
    enum ledger_err err =
        domain__check_billing_subscription(d, replacement->billing_subscription_id, true);
    if (err == LEDGER_ERR_OK)
        err = domain__check_active_while_reserved(
            d, replacement->billing_subscription_id,
            domain__term_end(d->business_us, replacement->term), "exchange");
    if (err == LEDGER_ERR_OK)
        err = domain__check_scope_target(d, replacement->scope);
    return err;
}

enum ledger_err domain__decide_exchange_reservation(struct domain_decision *d)
{
    const Ledger__V1__ExchangeReservation *body = d->command->exchange_reservation;
    size_t count = body->n_reservation_ids;
    if (count < 1 || count > LEDGER_EXCHANGE_RETURNS_MAX)
        return domain__refuse(d, LEDGER_ERR_INVALID_ARGUMENT,
                              "an exchange returns 1..%d reservations, not %zu",
                              LEDGER_EXCHANGE_RETURNS_MAX, count);
    for (size_t i = 0; i < count; i++) {
        enum ledger_err err = domain__check_id(d, body->reservation_ids[i], "reservation_ids");
        if (err != LEDGER_ERR_OK)
            return err;
        for (size_t j = 0; j < i; j++) {
            if (strcmp(body->reservation_ids[i], body->reservation_ids[j]) == 0)
                return domain__refuse(d, LEDGER_ERR_INVALID_ARGUMENT,
                                      "reservation %s is listed twice in the exchange",
                                      body->reservation_ids[i]);
        }
    }
    enum ledger_err err = domain__check_money(d, body->refund, "refund", false);
    if (err != LEDGER_ERR_OK)
        return err;
    size_t bought = body->n_replacements;
    if (bought < 1 || bought > LEDGER_EXCHANGE_REPLACEMENTS_MAX)
        return domain__refuse(d, LEDGER_ERR_INVALID_ARGUMENT,
                              "an exchange buys 1..%d replacements, not %zu; exchange the rest "
                              "separately",
                              LEDGER_EXCHANGE_REPLACEMENTS_MAX, bought);
    for (size_t i = 0; i < bought; i++) {
        if (body->replacements[i] == NULL)
            return domain__refuse(d, LEDGER_ERR_INVALID_ARGUMENT, "replacement %zu is empty",
                                  i + 1);
        err = name_replacement(d, check_reservation_fields(d, body->replacements[i]), i, bought);
        if (err != LEDGER_ERR_OK)
            return err;
        err = name_replacement(d, check_cloud_order_distinct(d, body, i), i, bought);
        if (err != LEDGER_ERR_OK)
            return err;
    }
    err = domain__need_customer(d);
    for (size_t i = 0; i < bought && err == LEDGER_ERR_OK; i++)
        err = name_replacement(
            d, domain__check_cloud_order_unheld(d, body->replacements[i]->cloud_order_id), i,
            bought);
    if (err != LEDGER_ERR_OK)
        return err;

    /* The returned reservations: active, of this customer, one currency. */
    const char *currency = NULL;
    int64_t remaining_minor = 0;
    /* What may be refunded: what the partner paid for the days still to
     * run (domain__refundable). A renewal recorded early starts at the old
     * expiry, and returned before then nothing of it was billed (as for a
     * cancellation), though its price still counts for rule 8; a monthly
     * reservation's later instalments are not billed either. */
    int64_t refundable_minor = 0;
    for (size_t i = 0; i < count; i++) {
        const struct domain_reservation *reservation = NULL;
        err = find_returnable(d, body->reservation_ids[i], "an exchange", &reservation);
        if (err != LEDGER_ERR_OK)
            return err;
        if (currency == NULL) {
            currency = reservation->price.currency;
        } else if (strcmp(currency, reservation->price.currency) != 0) {
            return domain__refuse(d, LEDGER_ERR_CURRENCY_MISMATCH,
                                  "returned reservations are priced in %s and %s; exchange them "
                                  "separately",
                                  currency, reservation->price.currency);
        }
        /* Rule 8 counts what the returned reservations still commit at the
         * exchange's business time (a monthly one: its instalments not yet
         * billed). */
        int64_t reservation_minor = domain__exchange_commitment(reservation, d->business_us);
        remaining_minor += reservation_minor;
        refundable_minor += domain__refundable(reservation, d->business_us, NULL);
    }
    if (strcmp(body->refund->currency, currency) != 0)
        return domain__refuse(d, LEDGER_ERR_CURRENCY_MISMATCH,
                              "refund is in %s but the returned reservations are priced in %s",
                              body->refund->currency, currency);
    char a[MONEY_TEXT_SIZE], b[MONEY_TEXT_SIZE];
    /* What is refunded is what the returned reservations still commit. */
    if (body->refund->amount_minor > refundable_minor) {
        money_format(body->refund->amount_minor, currency, a);
        money_format(refundable_minor, currency, b);
        if (refundable_minor != remaining_minor)
            return domain__refuse(
                d, LEDGER_ERR_INVALID_AMOUNT,
                "refund %s %s exceeds what the returned reservations may refund, %s %s: "
                "what the partner paid for the days still to run (a monthly-billed "
                "reservation's later instalments are not billed, nor a renewal returned "
                "before its term starts): refund at most that",
                currency, a, currency, b);
        return domain__refuse(
            d, LEDGER_ERR_INVALID_AMOUNT,
            "refund %s %s exceeds what the returned reservations still commit, %s %s: "
            "refund at most that",
            currency, a, currency, b);
    }
    /* Each price is at most LEDGER_AMOUNT_MINOR_MAX (domain__check_prices), so
     * the sum of 32 stays far within int64. */
    int64_t bought_minor = 0;
    for (size_t i = 0; i < bought; i++) {
        err = name_replacement(d, check_replacement(d, body->replacements[i], currency), i, bought);
        if (err != LEDGER_ERR_OK)
            return err;
        bought_minor += body->replacements[i]->price->amount_minor;
    }
    if (bought_minor < remaining_minor) {
        money_format(bought_minor, currency, a);
        money_format(remaining_minor, currency, b);
        if (bought == 1)
            return domain__refuse(
                d, LEDGER_ERR_EXCHANGE_VALUE_TOO_LOW,
                "the replacement commits %s %s but the returned reservations still "
                "commit %s %s: its price must be at least that",
                currency, a, currency, b);
        return domain__refuse(
            d, LEDGER_ERR_EXCHANGE_VALUE_TOO_LOW,
            "the %zu replacements commit %s %s together but the returned reservations "
            "still commit %s %s: their prices must add up to at least that",
            bought, currency, a, currency, b);
    }
    if (d->customer->reservation_count + bought > LEDGER_CUSTOMER_RESERVATIONS_MAX)
        return domain__refuse(
            d, LEDGER_ERR_INVALID_ARGUMENT,
            "customer %s has %zu reservations and the exchange buys %zu: more than "
            "the %d one customer may hold",
            d->customer->customer_id, d->customer->reservation_count, bought,
            LEDGER_CUSTOMER_RESERVATIONS_MAX);

    struct domain_output *out = d->out;
    Ledger__V1__ReservationExchanged *event = &out->body.reservation_exchanged;
    ledger__v1__reservation_exchanged__init(event);
    event->n_returned_reservation_ids = count;
    event->returned_reservation_ids = body->reservation_ids;
    event->refund = domain__output_money(d, 0, body->refund->amount_minor, body->refund->currency);
    event->remaining_commitment = domain__output_money(d, 1, remaining_minor, currency);
    for (size_t i = 0; i < bought; i++)
        out->replacements[i] = build_reservation(d, body->replacements[i], i,
                                                 LEDGER__V1__PURCHASER__PURCHASER_PARTNER, false);
    event->n_replacements = bought;
    event->replacements = out->replacements;
    out->event.body_case = LEDGER__V1__EVENT__BODY_RESERVATION_EXCHANGED;
    out->event.reservation_exchanged = event;
    return LEDGER_ERR_OK;
}

enum ledger_err domain__decide_cancel_reservation(struct domain_decision *d)
{
    const Ledger__V1__CancelReservation *body = d->command->cancel_reservation;
    const struct domain_reservation *reservation = NULL;
    enum ledger_err err = domain__check_id(d, body->reservation_id, "reservation_id");
    if (err == LEDGER_ERR_OK)
        err = domain__check_money(d, body->refund, "refund", false);
    if (err != LEDGER_ERR_OK)
        return err;
    bool usd = strcmp(body->refund->currency, DOMAIN_CAP_CURRENCY) == 0;
    int64_t usd_minor = body->refund->amount_minor;
    if (body->refund_usd != NULL) {
        err = domain__check_usd_money(d, body->refund_usd, "refund_usd");
        if (err != LEDGER_ERR_OK)
            return err;
        if (usd && body->refund_usd->amount_minor != body->refund->amount_minor)
            return domain__refuse(
                d, LEDGER_ERR_INVALID_ARGUMENT,
                "refund is in USD; refund_usd, when given, must be the same amount");
        usd_minor = body->refund_usd->amount_minor;
        /* Rule 7 counts refund_usd: a refund given as worth nothing in USD
         * would pass the cap uncounted. */
        if ((body->refund->amount_minor == 0) != (usd_minor == 0)) {
            char a[MONEY_TEXT_SIZE], b[MONEY_TEXT_SIZE];
            money_format(body->refund->amount_minor, body->refund->currency, a);
            money_format(usd_minor, DOMAIN_CAP_CURRENCY, b);
            return domain__refuse(
                d, LEDGER_ERR_INVALID_ARGUMENT,
                "refund %s %s and refund_usd USD %s must both be 0 or both more than "
                "0: give the refund's value in USD, which counts against the cap",
                body->refund->currency, a, b);
        }
    } else if (!usd) {
        return domain__refuse(
            d, LEDGER_ERR_INVALID_ARGUMENT,
            "refund is in %s: refund_usd, its value in USD, is required for the cap",
            body->refund->currency);
    }
    if (body->unbilled_usd != NULL) {
        err = domain__check_usd_money(d, body->unbilled_usd, "unbilled_usd");
        if (err != LEDGER_ERR_OK)
            return err;
    }
    err = domain__need_customer(d);
    if (err == LEDGER_ERR_OK)
        err = find_returnable(d, body->reservation_id, "a cancellation", &reservation);
    if (err != LEDGER_ERR_OK)
        return err;
    if (strcmp(body->refund->currency, reservation->price.currency) != 0)
        return domain__refuse(
            d, LEDGER_ERR_CURRENCY_MISMATCH, "refund is in %s but reservation %s is priced in %s",
            body->refund->currency, body->reservation_id, reservation->price.currency);
    /* A renewal cancelled before its term: none of it is billed. */
    if (d->business_us < reservation->starts_us && body->refund->amount_minor != 0)
        return domain__refuse(
            d, LEDGER_ERR_INVALID_AMOUNT,
            "reservation %s starts %s: cancelled before then nothing of it is billed, "
            "so its refund is 0",
            body->reservation_id, domain__time_text(reservation->starts_us).text);
    /* The refund is the cancelled commitment rule 7 counts: at most what the
     * partner paid for the days still to run at the cancellation's business
     * time. */
    char a[MONEY_TEXT_SIZE], b[MONEY_TEXT_SIZE], c[MONEY_TEXT_SIZE];
    int64_t billed_minor = 0;
    int64_t refundable_minor = domain__refundable(reservation, d->business_us, &billed_minor);
    if (body->refund->amount_minor > refundable_minor) {
        const char *currency = reservation->price.currency;
        money_format(body->refund->amount_minor, currency, a);
        money_format(refundable_minor, currency, b);
        if (billed_minor < reservation->price.amount_minor) {
            money_format(billed_minor, currency, c);
            return domain__refuse(
                d, LEDGER_ERR_INVALID_AMOUNT,
                "refund %s %s exceeds what monthly-billed reservation %s may refund "
                "on %s: %s %s, what its instalments billed through that month (%s %s; "
                "the later ones are not billed) pay beyond the days already run; "
                "refund at most that",
                currency, a, body->reservation_id, domain__time_text(d->business_us).text, currency,
                b, currency, c);
        }
        money_format(reservation->price.amount_minor, currency, c);
        return domain__refuse(
            d, LEDGER_ERR_INVALID_AMOUNT,
            "refund %s %s exceeds what reservation %s still commits on %s: %s %s of "
            "its price %s %s (the share of its term's days still to run); refund at most "
            "that",
            currency, a, body->reservation_id, domain__time_text(d->business_us).text, currency, b,
            currency, c);
    }
    /* Rule 7 counts the instalments a monthly reservation is no longer
     * billed; in another currency, with no refund to give a rate, only the
     * command can say what they are worth in USD. */
    int64_t unbilled_usd_minor = DOMAIN_UNBILLED_USD_UNSTATED;
    if (domain__unbilled_usd_needed(reservation, d->business_us, body->refund->amount_minor)) {
        const char *currency = reservation->price.currency;
        money_format(domain__unbilled(reservation, d->business_us), currency, a);
        if (body->unbilled_usd == NULL)
            return domain__refuse(
                d, LEDGER_ERR_INVALID_ARGUMENT,
                "monthly-billed reservation %s has %s %s of instalments not billed yet "
                "on %s, which count against the cap, and no refund to value them at: "
                "unbilled_usd, their value in USD, is required",
                body->reservation_id, currency, a, domain__time_text(d->business_us).text);
        if (body->unbilled_usd->amount_minor == 0)
            return domain__refuse(
                d, LEDGER_ERR_INVALID_ARGUMENT,
                "unbilled_usd USD 0.00 values the %s %s of instalments not billed yet "
                "of reservation %s at nothing: give their value in USD, which counts "
                "against the cap",
                currency, a, body->reservation_id);
        unbilled_usd_minor = body->unbilled_usd->amount_minor;
    } else if (body->unbilled_usd != NULL) {
        return domain__refuse(
            d, LEDGER_ERR_INVALID_ARGUMENT,
            "unbilled_usd is only for a monthly-billed reservation in another currency "
            "than USD, cancelled with no refund while instalments are not billed yet; "
            "the cap values those of reservation %s without it: leave it out",
            body->reservation_id);
    }
    /* Rule 7 counts the commitment cancelled: the refund and, for a
     * monthly reservation, the instalments it will no longer be billed.
     * Those are kept in a bounded list, which a cancellation that counts
     * nothing does not need, and can pass no cap. */
    int64_t cancelled_minor = domain__cancelled_usd(
        reservation, d->business_us, body->refund->amount_minor, usd_minor, unbilled_usd_minor);
    if (cancelled_minor > 0 && d->customer->refund_count >= LEDGER_CUSTOMER_REFUNDS_MAX &&
        domain__recent_refunds(d->customer, d->business_us) >= LEDGER_CUSTOMER_REFUNDS_MAX)
        return domain__refuse(
            d, LEDGER_ERR_INVALID_ARGUMENT,
            "customer %s had %d cancellations counting against the refund cap in two "
            "years, the most one customer may have",
            d->customer->customer_id, LEDGER_CUSTOMER_REFUNDS_MAX);
    /* Rule 7 holds in every window: one that holds refunds no longer kept
     * cannot be checked, so a cancellation dated in it is not decided. */
    int64_t until_us = 0;
    if (cancelled_minor > 0 &&
        domain__refunds_dropped_until(d->customer, d->business_us, &until_us))
        return domain__refuse(
            d, LEDGER_ERR_INVALID_ARGUMENT,
            "customer %s's refunds dated up to %s were dropped from the %d kept for "
            "the cap: a cancellation dated %s would share 365 days with them; date it "
            "at or after %s",
            d->customer->customer_id, domain__time_text(d->customer->refunds_dropped_last_us).text,
            LEDGER_CUSTOMER_REFUNDS_MAX, domain__time_text(d->business_us).text,
            domain__time_text(until_us).text);
    struct domain_refund_window window = domain__refunds_in_window(d->customer, d->business_us);
    if (window.usd_minor + cancelled_minor > LEDGER_REFUND_CAP_USD_MINOR) {
        money_format(window.usd_minor, DOMAIN_CAP_CURRENCY, a);
        money_format(cancelled_minor, DOMAIN_CAP_CURRENCY, b);
        money_format(LEDGER_REFUND_CAP_USD_MINOR, DOMAIN_CAP_CURRENCY, c);
        /* Refunds recorded by builds that counted no window may together
         * pass the cap: then nothing fits. */
        int64_t room_minor = LEDGER_REFUND_CAP_USD_MINOR - window.usd_minor;
        char room[MONEY_TEXT_SIZE];
        money_format(room_minor > 0 ? room_minor : 0, DOMAIN_CAP_CURRENCY, room);
        /* A cancellation dated back may share its fullest window with
         * refunds dated after it: the message says which window that is. */
        char span[80];
        if (window.last_us > d->business_us)
            snprintf(span, sizeof span, "the 365 days from %s",
                     domain__time_text(window.from_us).text);
        else
            snprintf(span, sizeof span, "the last 365 days");
        return domain__refuse(
            d, LEDGER_ERR_REFUND_CAP_EXCEEDED,
            "customer %s was refunded USD %s in %s; USD %s more%s would pass the cap "
            "of USD %s; at most USD %s more fits now",
            d->customer->customer_id, a, span, b,
            cancelled_minor != usd_minor ? " (the refund and the monthly instalments it cancels)"
                                         : "",
            c, room);
    }
    Ledger__V1__ReservationCancelled *event = &d->out->body.reservation_cancelled;
    ledger__v1__reservation_cancelled__init(event);
    event->reservation_id = body->reservation_id;
    event->refund = domain__output_money(d, 0, body->refund->amount_minor, body->refund->currency);
    event->refund_usd = domain__output_money(d, 1, usd_minor, DOMAIN_CAP_CURRENCY);
    if (unbilled_usd_minor != DOMAIN_UNBILLED_USD_UNSTATED)
        event->unbilled_usd = domain__output_money(d, 2, unbilled_usd_minor, DOMAIN_CAP_CURRENCY);
    d->out->event.body_case = LEDGER__V1__EVENT__BODY_RESERVATION_CANCELLED;
    d->out->event.reservation_cancelled = event;
    return LEDGER_ERR_OK;
}

enum ledger_err domain__decide_expire_reservation(struct domain_decision *d)
{
    const Ledger__V1__ExpireReservation *body = d->command->expire_reservation;
    const struct domain_reservation *reservation = NULL;
    enum ledger_err err = domain__check_id(d, body->reservation_id, "reservation_id");
    if (err == LEDGER_ERR_OK)
        err = domain__need_customer(d);
    if (err == LEDGER_ERR_OK)
        err = domain__find_active(d, body->reservation_id, &reservation);
    if (err != LEDGER_ERR_OK)
        return err;
    /* The schedule leaves reservations set to renew to the partner, also
     * when the setting changed after the schedule found it. */
    if (d->principal->role == LEDGER__V1__ROLE__ROLE_SYSTEM && reservation->auto_renew)
        return domain__refuse(
            d, LEDGER_ERR_INVALID_ARGUMENT,
            "reservation %s is set to renew: the partner records its renewal or its "
            "expiry",
            body->reservation_id);
    /* The end of the term, not an early end: that is a cancellation. */
    if (d->business_us < reservation->expires_us)
        return domain__refuse(d, LEDGER_ERR_INVALID_ARGUMENT,
                              "reservation %s runs until %s: its expiry cannot be dated %s, before "
                              "then; to end it early, cancel it",
                              body->reservation_id, domain__time_text(reservation->expires_us).text,
                              domain__time_text(d->business_us).text);
    Ledger__V1__ReservationExpired *event = &d->out->body.reservation_expired;
    ledger__v1__reservation_expired__init(event);
    event->reservation_id = body->reservation_id;
    d->out->event.body_case = LEDGER__V1__EVENT__BODY_RESERVATION_EXPIRED;
    d->out->event.reservation_expired = event;
    return LEDGER_ERR_OK;
}
