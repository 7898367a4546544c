/*
 * domain_decide.c: deciding one command (domain_decide): validation of every
 * field, authorization through policy.h, the rules against the customer's
 * state, and the event that records the outcome; which partner and customer
 * a command acts on.
 *
 * Does not own: the aggregate (domain_state.c), applying the event it
 * decides (domain_evolve.c), the role table (policy.c).
 *
 * Purity: nothing here reads a clock, a file, or a global that changes. The
 * time is input->now_us, ids derive from input->sequence ("ord-<seq>",
 * "res-<seq>", "sp-<seq>"), so deciding the same input twice gives the same
 * event byte for byte.
 *
 * Order of checks in domain_decide (docs/events.md, "Refusals"):
 *   1. the command has a body this build knows (UNKNOWN_MESSAGE);
 *   2. the role may use the command (policy table: FORBIDDEN / ASK_PARTNER);
 *   3. the envelope: command id, correlation id, business time;
 *   4. the scope: partner and customer of the principal (PARTNER_MISMATCH);
 *   5. the body's fields, each validated by shape (INVALID_ARGUMENT,
 *      INVALID_AMOUNT, UNKNOWN_MESSAGE, INVALID_TERM, CURRENCY_MISMATCH);
 *   6. existence: partner, customer, onboarded by the business time
 *      (PARTNER_NOT_FOUND, CUSTOMER_NOT_FOUND);
 *   7. the rules against the customer's state, in the order of docs/domain.md.
 * The first failing check is the refusal; its message names what failed.
 */
#include "domain.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "civil.h"
#include "domain_internal.h"
#include "money.h"
#include "policy.h"

/* The longest a year of a term can be, for overflow bounds: terms are
 * calendar years (domain__term_end), 365 or 366 days. */
#define DOMAIN_YEAR_US_MAX (INT64_C(366) * 24 * 3600 * 1000000)
/* Resource group names in a scope target: Azure allows 1..90 characters; ours
 * are bounded so that "subscription/group" fits struct domain_scope. */
#define DOMAIN_GROUP_LENGTH_MAX LEDGER_ID_LENGTH_MAX

_Static_assert(LEDGER_ID_LENGTH_MAX + 1 + DOMAIN_GROUP_LENGTH_MAX < DOMAIN_ID_SIZE * 2,
               "a resource-group target fits struct domain_scope");

struct domain_time_text domain__time_text(int64_t time_us)
{
    struct domain_time_text out;
    struct tm tm;
    time_t seconds = (time_t)(time_us / 1000000);
    size_t length = 0;
    if (time_us < 0 || time_us > LEDGER_TIME_US_MAX || gmtime_r(&seconds, &tm) == NULL ||
        (length = strftime(out.text, sizeof out.text, "%Y-%m-%dT%H:%M:%S", &tm)) == 0) {
        snprintf(out.text, sizeof out.text, "out of range");
        return out;
    }
    int micros = (int)(time_us % 1000000);
    if (micros != 0) {
        snprintf(out.text + length, sizeof out.text - length, ".%06dZ", micros);
    } else {
        snprintf(out.text + length, sizeof out.text - length, "Z");
    }
    return out;
}
/* domain__check_term_end computes a term's end before it refuses one past the
 * latest time: from a business time up to that time, and, for a renewal,
 * from an expiry up to a term past it (a purchase recorded before terms
 * were bounded): two terms past it must still be representable. */
_Static_assert(LEDGER_TIME_US_MAX + 2 * 5 * DOMAIN_YEAR_US_MAX > LEDGER_TIME_US_MAX,
               "two five-year terms past the latest time do not overflow");

/* SKU families offered with a five-year term (rule 9). Azure sells P5Y only
 * for a few families: M-series and HB/HC high-performance VMs and dedicated
 * hosts. A SKU whose name starts with one of these may be bought for P5Y. */
static const char *const p5y_sku_prefixes[] = {
    "Standard_M",
    "Standard_HB",
    "Standard_HC",
    "DedicatedHost_",
};

/* ---- small helpers ------------------------------------------------------- */

static bool sku_allows_p5y(const char *sku)
{
    for (size_t i = 0; i < sizeof p5y_sku_prefixes / sizeof p5y_sku_prefixes[0]; i++) {
        size_t length = strlen(p5y_sku_prefixes[i]);
        if (strncmp(sku, p5y_sku_prefixes[i], length) == 0)
            return true;
    }
    return false;
}

/* Resource group names: [A-Za-z0-9._()-], 1..DOMAIN_GROUP_LENGTH_MAX. */
static bool group_name_valid(const char *group)
{
    size_t length = 0;
    for (; group[length] != '\0'; length++) {
        char c = group[length];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '(' || c == ')' || c == '-';
        if (!ok || length >= DOMAIN_GROUP_LENGTH_MAX)
            return false;
    }
    return length > 0;
}

/* ---- decide: context and refusals ---------------------------------------- */

__attribute__((format(printf, 3, 4))) enum ledger_err
domain__refuse(struct domain_decision *d, enum ledger_err err, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    vsnprintf(d->out->message, sizeof d->out->message, format, args);
    va_end(args);
    return err;
}

/* ---- decide: field validation -------------------------------------------- */

enum ledger_err domain__check_id(struct domain_decision *d, const char *value, const char *field)
{
    if (!codec_id_valid(value))
        return domain__refuse(d, LEDGER_ERR_INVALID_ARGUMENT,
                              "%s must be 1..%d characters of [A-Za-z0-9.:@-]", field,
                              LEDGER_ID_LENGTH_MAX);
    return LEDGER_ERR_OK;
}

/* An optional id: absent ("") or an id by shape. The cloud order id a
 * purchase or renewal names is only recorded, never looked up: the ledger
 * cannot see the cloud's orders. */
enum ledger_err domain__check_optional_id(struct domain_decision *d, const char *value,
                                          const char *field)
{
    if (value == NULL || value[0] == '\0')
        return LEDGER_ERR_OK;
    return domain__check_id(d, value, field);
}

enum ledger_err domain__check_sku(struct domain_decision *d, const char *value, const char *field)
{
    if (!codec_sku_valid(value))
        return domain__refuse(d, LEDGER_ERR_INVALID_ARGUMENT,
                              "%s must be 1..%d characters of [A-Za-z0-9.:@-] and '_'", field,
                              LEDGER_SKU_LENGTH_MAX);
    return LEDGER_ERR_OK;
}

/* Declared and not UNSPECIFIED: undeclared numbers are UNKNOWN_MESSAGE (a
 * newer client), the zero is a missing field. */
enum ledger_err domain__check_enum(struct domain_decision *d, enum codec_enum which, int value,
                                   const char *field)
{
    if (!codec_enum_declared(which, value))
        return domain__refuse(d, LEDGER_ERR_UNKNOWN_MESSAGE,
                              "%s has the value %d, which this daemon does not know", field, value);
    if (value == 0)
        return domain__refuse(d, LEDGER_ERR_INVALID_ARGUMENT, "%s is required", field);
    return LEDGER_ERR_OK;
}

/* Money present, ISO 4217-shaped currency, amount within 0..max (> 0 when
 * positive_only). */
enum ledger_err domain__check_money(struct domain_decision *d, const Ledger__V1__Money *money,
                                    const char *field, bool positive_only)
{
    if (money == NULL)
        return domain__refuse(d, LEDGER_ERR_INVALID_ARGUMENT, "%s is required", field);
    if (codec_money_valid(money, positive_only)) {
        if (money_currency_known(money->currency))
            return LEDGER_ERR_OK;
        return domain__refuse(
            d, LEDGER_ERR_INVALID_AMOUNT,
            "%s.currency %s is not a currency of ISO 4217 as this build knows it "
            "(USD, EUR, GBP, JPY, ...): check the code (a currency newer than this "
            "build needs an upgrade of the ledger)",
            field, money->currency);
    }
    Ledger__V1__Money shape = *money;
    shape.amount_minor = 1;
    if (!codec_money_valid(&shape, false))
        return domain__refuse(d, LEDGER_ERR_INVALID_AMOUNT,
                              "%s.currency must be an ISO 4217 code of three upper-case letters",
                              field);
    return domain__refuse(d, LEDGER_ERR_INVALID_AMOUNT,
                          "%s.amount_minor %lld is out of range (%s..%lld)", field,
                          (long long)money->amount_minor, positive_only ? "1" : "0",
                          (long long)LEDGER_AMOUNT_MINOR_MAX);
}

/* Money as domain__check_money() takes it (0 allowed), and in the cap's
 * currency: a value stated in USD for rule 7. */
enum ledger_err domain__check_usd_money(struct domain_decision *d, const Ledger__V1__Money *money,
                                        const char *field)
{
    enum ledger_err err = domain__check_money(d, money, field, false);
    if (err != LEDGER_ERR_OK)
        return err;
    if (strcmp(money->currency, DOMAIN_CAP_CURRENCY) != 0)
        return domain__refuse(d, LEDGER_ERR_INVALID_ARGUMENT, "%s must be in USD, not %s", field,
                              money->currency);
    return LEDGER_ERR_OK;
}

enum ledger_err domain__check_same_currency(struct domain_decision *d, const Ledger__V1__Money *a,
                                            const char *a_field, const Ledger__V1__Money *b,
                                            const char *b_field)
{
    if (strcmp(a->currency, b->currency) != 0)
        return domain__refuse(d, LEDGER_ERR_CURRENCY_MISMATCH, "%s is in %s but %s is in %s",
                              a_field, a->currency, b_field, b->currency);
    return LEDGER_ERR_OK;
}

/* A purchase's price and retail price: both > 0, same currency. */
enum ledger_err domain__check_prices(struct domain_decision *d, const Ledger__V1__Money *price,
                                     const Ledger__V1__Money *retail_price)
{
    enum ledger_err err = domain__check_money(d, price, "price", true);
    if (err == LEDGER_ERR_OK)
        err = domain__check_money(d, retail_price, "retail_price", true);
    if (err == LEDGER_ERR_OK)
        err = domain__check_same_currency(d, price, "price", retail_price, "retail_price");
    return err;
}

/* A scope's shape: present, declared kind, target that fits. Its meaning
 * against the customer is domain__check_scope_target. */
enum ledger_err domain__check_scope(struct domain_decision *d, const Ledger__V1__Scope *scope,
                                    const char *field)
{
    if (scope == NULL)
        return domain__refuse(d, LEDGER_ERR_INVALID_ARGUMENT, "%s is required", field);
    char kind_field[64];
    snprintf(kind_field, sizeof kind_field, "%s.kind", field);
    enum ledger_err err =
        domain__check_enum(d, CODEC_ENUM_SCOPE_KIND, (int)scope->kind, kind_field);
    if (err != LEDGER_ERR_OK)
        return err;
    if (scope->target == NULL || strlen(scope->target) >= DOMAIN_ID_SIZE * 2)
        return domain__refuse(d, LEDGER_ERR_INVALID_SCOPE, "%s.target is longer than %d characters",
                              field, DOMAIN_ID_SIZE * 2 - 1);
    return LEDGER_ERR_OK;
}

/* A scope's subscription was bought by the command's business time: a scope
 * dated before then named what the customer did not have. */
static enum ledger_err check_scope_bought(struct domain_decision *d, const char *target,
                                          const struct domain_subscription *subscription)
{
    if (d->business_us >= subscription->purchased_us)
        return LEDGER_ERR_OK;
    return domain__refuse(
        d, LEDGER_ERR_INVALID_SCOPE,
        "scope target '%s': subscription %s was bought %s, after %s, the command's "
        "date; scope it elsewhere or date it at or after that",
        target, subscription->id, domain__time_text(subscription->purchased_us).text,
        domain__time_text(d->business_us).text);
}

/* Rule 9's scopes against the customer: single -> one of its subscriptions;
 * resource group -> "<its subscription>/<group>"; management group -> an id;
 * shared -> no target. A subscription named must have been bought by the
 * command's business time. */
enum ledger_err domain__check_scope_target(struct domain_decision *d,
                                           const Ledger__V1__Scope *scope)
{
    const char *target = scope->target;
    const char *customer_id = d->customer->customer_id;
    const struct domain_subscription *subscription = NULL;
    switch (scope->kind) {
    case LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SINGLE:
        subscription = domain__find_subscription(d->customer, target);
        if (subscription == NULL)
            return domain__refuse(d, LEDGER_ERR_INVALID_SCOPE,
                                  "single scope target '%s' is not a subscription of customer %s",
                                  target, customer_id);
        return check_scope_bought(d, target, subscription);
    case LEDGER__V1__SCOPE_KIND__SCOPE_KIND_RESOURCE_GROUP: {
        const char *slash = strchr(target, '/');
        char subscription_id[DOMAIN_ID_SIZE];
        size_t length = slash != NULL ? (size_t)(slash - target) : 0;
        if (slash == NULL || length == 0 || length >= sizeof subscription_id)
            return domain__refuse(d, LEDGER_ERR_INVALID_SCOPE,
                                  "resource-group scope target '%s' must be \"subscription/group\"",
                                  target);
        memcpy(subscription_id, target, length);
        subscription_id[length] = '\0';
        subscription = domain__find_subscription(d->customer, subscription_id);
        if (subscription == NULL)
            return domain__refuse(d, LEDGER_ERR_INVALID_SCOPE,
                                  "resource-group scope target '%s': '%s' is not a subscription of "
                                  "customer %s",
                                  target, subscription_id, customer_id);
        if (!group_name_valid(slash + 1))
            return domain__refuse(
                d, LEDGER_ERR_INVALID_SCOPE,
                "resource-group scope target '%s': the group must be 1..%d characters "
                "of [A-Za-z0-9._()-]",
                target, DOMAIN_GROUP_LENGTH_MAX);
        return check_scope_bought(d, target, subscription);
    }
    case LEDGER__V1__SCOPE_KIND__SCOPE_KIND_MANAGEMENT_GROUP:
        if (!codec_id_valid(target))
            return domain__refuse(
                d, LEDGER_ERR_INVALID_SCOPE,
                "management-group scope target must be a management group id of 1..%d "
                "characters of [A-Za-z0-9.:@-]",
                LEDGER_ID_LENGTH_MAX);
        return LEDGER_ERR_OK;
    case LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SHARED:
        if (target[0] != '\0')
            return domain__refuse(
                d, LEDGER_ERR_INVALID_SCOPE,
                "shared scope takes no target (it covers every subscription of the "
                "customer), got '%s'",
                target);
        return LEDGER_ERR_OK;
    default:
        return domain__refuse(d, LEDGER_ERR_INVALID_SCOPE, "unknown scope kind %d",
                              (int)scope->kind);
    }
}

static bool scope_equal(const struct domain_scope *a, const Ledger__V1__Scope *b)
{
    return a->kind == b->kind && strcmp(a->target, b->target) == 0;
}

/* A new term's end (a purchase's, an exchange replacement's, a renewal's)
 * is a time the ledger records and shows, so it may not be past
 * LEDGER_TIME_US_MAX any more than a business time may. `what` names the
 * holding in the refusal ("the reservation"). */
enum ledger_err domain__check_term_end(struct domain_decision *d, int64_t starts_us,
                                       Ledger__V1__Term term, const char *what)
{
    if (domain__term_end(starts_us, term) <= LEDGER_TIME_US_MAX)
        return LEDGER_ERR_OK;
    return domain__refuse(
        d, LEDGER_ERR_INVALID_ARGUMENT,
        "%s's %s term from %s would end after %s, the latest time the ledger records", what,
        codec_enum_name(CODEC_ENUM_TERM, (int)term), domain__time_text(starts_us).text,
        domain__time_text(LEDGER_TIME_US_MAX).text);
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
    err = domain__check_enum(d, CODEC_ENUM_TERM, (int)body->term, "term");
    if (err == LEDGER_ERR_OK)
        err =
            domain__check_enum(d, CODEC_ENUM_BILLING_PLAN, (int)body->billing_plan, "billing_plan");
    if (err == LEDGER_ERR_OK)
        err = domain__check_scope(d, body->scope, "scope");
    if (err == LEDGER_ERR_OK)
        err = domain__check_prices(d, body->price, body->retail_price);
    if (err != LEDGER_ERR_OK)
        return err;
    if (body->term == LEDGER__V1__TERM__TERM_P5Y && !sku_allows_p5y(body->sku))
        return domain__refuse(d, LEDGER_ERR_INVALID_TERM,
                              "term P5Y is not sold for SKU '%s'; only SKUs starting Standard_M, "
                              "Standard_HB, Standard_HC or DedicatedHost_ have it",
                              body->sku);
    return domain__check_term_end(d, d->business_us, body->term, "the reservation");
}

static enum ledger_err check_savings_plan_fields(struct domain_decision *d,
                                                 const Ledger__V1__PurchaseSavingsPlan *body)
{
    enum ledger_err err =
        domain__check_id(d, body->billing_subscription_id, "billing_subscription_id");
    if (err == LEDGER_ERR_OK)
        err = domain__check_optional_id(d, body->cloud_order_id, "cloud_order_id");
    if (err == LEDGER_ERR_OK)
        err = domain__check_money(d, body->hourly_commitment, "hourly_commitment", true);
    if (err == LEDGER_ERR_OK)
        err = domain__check_enum(d, CODEC_ENUM_TERM, (int)body->term, "term");
    if (err == LEDGER_ERR_OK)
        err =
            domain__check_enum(d, CODEC_ENUM_BILLING_PLAN, (int)body->billing_plan, "billing_plan");
    if (err == LEDGER_ERR_OK)
        err = domain__check_scope(d, body->scope, "scope");
    if (err == LEDGER_ERR_OK)
        err = domain__check_prices(d, body->price, body->retail_price);
    if (err == LEDGER_ERR_OK)
        err = domain__check_same_currency(d, body->hourly_commitment, "hourly_commitment",
                                          body->price, "price");
    if (err != LEDGER_ERR_OK)
        return err;
    if (body->term == LEDGER__V1__TERM__TERM_P5Y)
        return domain__refuse(d, LEDGER_ERR_INVALID_TERM,
                              "savings plans are offered for P1Y or P3Y only");
    return domain__check_term_end(d, d->business_us, body->term, "the savings plan");
}

/* ---- decide: state checks ------------------------------------------------ */

/* The partner the command acts on exists. */
enum ledger_err domain__need_partner(struct domain_decision *d)
{
    if (!d->in->partner_exists)
        return domain__refuse(d, LEDGER_ERR_PARTNER_NOT_FOUND, "partner %s is not registered",
                              d->in->partner_id);
    return LEDGER_ERR_OK;
}

/* The partner exists and the customer was onboarded (every customer command
 * but OnboardCustomer), by the command's business time: what "was true on
 * a date" before the onboarding would otherwise hold subscriptions, roles,
 * grants and purchases of a customer that did not exist yet. An expiry is
 * dated by the term of a reservation already in the log (at or after its
 * end), and asserts nothing new of its time: a log written before this
 * rule may hold a reservation bought, and so ending, before its customer's
 * onboarding, whose expiry the schedule must still record. */
enum ledger_err domain__need_customer(struct domain_decision *d)
{
    enum ledger_err err = domain__need_partner(d);
    if (err != LEDGER_ERR_OK)
        return err;
    if (!d->customer->onboarded)
        return domain__refuse(
            d, LEDGER_ERR_CUSTOMER_NOT_FOUND,
            "customer %s of partner %s was never onboarded: check the customer id, or "
            "onboard the customer first (ledgerctl customer add)",
            d->customer->customer_id, d->in->partner_id);
    if (d->business_us < d->customer->onboarded_us &&
        d->command->body_case != LEDGER__V1__COMMAND__BODY_EXPIRE_RESERVATION)
        return domain__refuse(
            d, LEDGER_ERR_CUSTOMER_NOT_FOUND,
            "customer %s of partner %s was onboarded %s: a command dated %s, before "
            "then, acts on a customer that did not exist yet; date it at or after that",
            d->customer->customer_id, d->in->partner_id,
            domain__time_text(d->customer->onboarded_us).text,
            domain__time_text(d->business_us).text);
    return LEDGER_ERR_OK;
}

/* The status a subscription had at `at_us` (not before its purchase): that
 * of its latest status change dated at or before then, the later recorded
 * of two dated alike; active before any. */
Ledger__V1__SubscriptionStatus domain__status_at(const struct domain_customer *customer,
                                                 const struct domain_subscription *subscription,
                                                 int64_t at_us)
{
    uint32_t index = (uint32_t)(subscription - customer->subscriptions);
    Ledger__V1__SubscriptionStatus status =
        LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_ACTIVE;
    int64_t latest_us = INT64_MIN;
    for (size_t i = 0; i < customer->status_change_count; i++) {
        const struct domain_status_change *change = &customer->status_changes[i];
        if (change->subscription == index && change->changed_us <= at_us &&
            change->changed_us >= latest_us) {
            status = change->status;
            latest_us = change->changed_us;
        }
    }
    return status;
}

/* The business time of a subscription's latest status change, or of its
 * purchase when it has none: since when it has had its current status
 * (changes are dated in order, domain__decide_set_subscription_status). */
int64_t domain__status_since(const struct domain_customer *customer,
                             const struct domain_subscription *subscription)
{
    uint32_t index = (uint32_t)(subscription - customer->subscriptions);
    int64_t since_us = subscription->purchased_us;
    for (size_t i = 0; i < customer->status_change_count; i++) {
        const struct domain_status_change *change = &customer->status_changes[i];
        if (change->subscription == index && change->changed_us > since_us)
            since_us = change->changed_us;
    }
    return since_us;
}

/* Rules 3 and 4: the billing subscription exists, is active and is an Azure
 * plan or Azure Global one, at the command's business time: it was bought
 * by then and was active then. With `now_too` (what buys a reservation),
 * also now: a reservation on a subscription suspended since would break
 * rule 10. A savings plan, which rule 10 does not hold (its subscription
 * may leave active during its term), needs it active then only, so that a
 * savings plan dated before a suspension is allowed whether it is recorded
 * before or after it. */
enum ledger_err domain__check_billing_subscription(struct domain_decision *d,
                                                   const char *subscription_id, bool now_too)
{
    const struct domain_subscription *subscription =
        domain__find_subscription(d->customer, subscription_id);
    if (subscription == NULL)
        return domain__refuse(
            d, LEDGER_ERR_SUBSCRIPTION_NOT_FOUND,
            "billing subscription %s is not a subscription of customer %s; bill an "
            "active Azure plan or Azure Global one of it",
            subscription_id, d->customer->customer_id);
    if (d->business_us < subscription->purchased_us)
        return domain__refuse(
            d, LEDGER_ERR_SUBSCRIPTION_NOT_FOUND,
            "billing subscription %s of customer %s was bought %s: a purchase dated "
            "%s, before then, was not allowed; date it at or after that",
            subscription_id, d->customer->customer_id,
            domain__time_text(subscription->purchased_us).text,
            domain__time_text(d->business_us).text);
    bool active_now =
        subscription->status == LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_ACTIVE;
    if (now_too && !active_now)
        return domain__refuse(
            d, LEDGER_ERR_SUBSCRIPTION_NOT_ACTIVE,
            "billing subscription %s is %s, not active; bill an active Azure plan or "
            "Azure Global subscription of the customer",
            subscription_id,
            codec_enum_name(CODEC_ENUM_SUBSCRIPTION_STATUS, (int)subscription->status));
    Ledger__V1__SubscriptionStatus then =
        domain__status_at(d->customer, subscription, d->business_us);
    if (then != LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_ACTIVE && !active_now)
        return domain__refuse(
            d, LEDGER_ERR_SUBSCRIPTION_NOT_ACTIVE,
            "billing subscription %s was %s on %s, the purchase's date, and is %s "
            "now; bill an Azure plan or Azure Global subscription active then",
            subscription_id, codec_enum_name(CODEC_ENUM_SUBSCRIPTION_STATUS, (int)then),
            domain__time_text(d->business_us).text,
            codec_enum_name(CODEC_ENUM_SUBSCRIPTION_STATUS, (int)subscription->status));
    if (then != LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_ACTIVE)
        return domain__refuse(
            d, LEDGER_ERR_SUBSCRIPTION_NOT_ACTIVE,
            "billing subscription %s was %s on %s, the purchase's date, and is active "
            "since %s: a purchase dated before then was not allowed; date it at or "
            "after that",
            subscription_id, codec_enum_name(CODEC_ENUM_SUBSCRIPTION_STATUS, (int)then),
            domain__time_text(d->business_us).text,
            domain__time_text(domain__status_since(d->customer, subscription)).text);
    if (!domain__offer_eligible(subscription->offer))
        return domain__refuse(
            d, LEDGER_ERR_SUBSCRIPTION_NOT_ELIGIBLE,
            "billing subscription %s is a '%s' subscription, not an Azure plan or "
            "Azure Global one; bill one of those",
            subscription_id, codec_enum_name(CODEC_ENUM_OFFER, (int)subscription->offer));
    return LEDGER_ERR_OK;
}

/* Rule 10 for a reservation bought at the command's business time and
 * active until until_us (its expiry), billed to a subscription that
 * domain__check_billing_subscription found active then and now: no status
 * change out of active of that subscription dated after then and before
 * until_us (recorded before this command, and so dated before it), since the
 * reservation would have been active while the subscription was not.
 * `what` names the command for the message ("purchase", "renewal",
 * "exchange"). Savings plans are not reservations, and rule 10 does not
 * hold them. */
enum ledger_err domain__check_active_while_reserved(struct domain_decision *d,
                                                    const char *subscription_id, int64_t until_us,
                                                    const char *what)
{
    const struct domain_subscription *subscription =
        domain__find_subscription(d->customer, subscription_id);
    uint32_t index = (uint32_t)(subscription - d->customer->subscriptions);
    const struct domain_status_change *first = NULL;
    for (size_t i = 0; i < d->customer->status_change_count; i++) {
        const struct domain_status_change *change = &d->customer->status_changes[i];
        if (change->subscription == index &&
            change->status != LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_ACTIVE &&
            change->changed_us > d->business_us && change->changed_us < until_us &&
            (first == NULL || change->changed_us < first->changed_us))
            first = change;
    }
    if (first == NULL)
        return LEDGER_ERR_OK;
    return domain__refuse(
        d, LEDGER_ERR_SUBSCRIPTION_NOT_ACTIVE,
        "subscription %s became %s on %s, while a reservation dated %s would be "
        "active; it is active since %s: date the %s at or after that",
        subscription_id, codec_enum_name(CODEC_ENUM_SUBSCRIPTION_STATUS, (int)first->status),
        domain__time_text(first->changed_us).text, domain__time_text(d->business_us).text,
        domain__time_text(domain__status_since(d->customer, subscription)).text, what);
}

/* The roles that allow a customer purchase (rule 3), Owner first: a user
 * holding both is allowed by its Owner assignment. */
static const Ledger__V1__AzureRole purchase_roles[] = {
    LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER,
    LEDGER__V1__AZURE_ROLE__AZURE_ROLE_RESERVATION_PURCHASER,
};
#define PURCHASE_ROLE_COUNT (sizeof purchase_roles / sizeof purchase_roles[0])

/* How far `at_us` lies from [from_us, until_us): 0 within. */
static uint64_t distance_us(int64_t at_us, int64_t from_us, int64_t until_us)
{
    if (at_us < from_us)
        return (uint64_t)from_us - (uint64_t)at_us;
    if (at_us >= until_us)
        return (uint64_t)at_us - (uint64_t)until_us;
    return 0;
}

/* Rule 3's ROLE_MISSING for a customer user who held neither purchase role
 * on the billing subscription at the purchase's business time. The message
 * says when one was held, so that the purchase can be dated right: the
 * earliest assignment held now (assigned after that time), else the removed
 * assignment nearest to it. */
static enum ledger_err refuse_role_missing(struct domain_decision *d, const char *subscription_id)
{
    const struct domain_customer *customer = d->customer;
    const char *user = d->principal->user;
    const struct domain_role_assignment *later = NULL;
    const struct domain_role_removal *nearest = NULL;
    for (size_t i = 0; i < PURCHASE_ROLE_COUNT; i++) {
        long found = domain__find_role(customer, subscription_id, user, purchase_roles[i]);
        if (found >= 0 &&
            (later == NULL || customer->roles[found].assigned_us < later->assigned_us))
            later = &customer->roles[found];
        for (size_t j = 0; j < customer->role_removal_count; j++) {
            const struct domain_role_removal *removal = &customer->role_removals[j];
            if (!domain__removal_matches(removal, subscription_id, user, purchase_roles[i]) ||
                removal->removed_us <= removal->assignment.assigned_us)
                continue; /* held at no time */
            if (nearest == NULL ||
                distance_us(d->business_us, removal->assignment.assigned_us, removal->removed_us) <
                    distance_us(d->business_us, nearest->assignment.assigned_us,
                                nearest->removed_us))
                nearest = removal;
        }
    }
    if (later != NULL)
        return domain__refuse(d, LEDGER_ERR_ROLE_MISSING,
                              "user %s holds %s on subscription %s since %s: a purchase dated %s, "
                              "before then, was not allowed; date it at or after that",
                              user, codec_enum_name(CODEC_ENUM_AZURE_ROLE, (int)later->role),
                              subscription_id, domain__time_text(later->assigned_us).text,
                              domain__time_text(d->business_us).text);
    if (nearest != NULL)
        return domain__refuse(
            d, LEDGER_ERR_ROLE_MISSING,
            "user %s held %s on subscription %s from %s until %s, not on %s: date "
            "it then, or ask your partner's admin agent to assign you one again",
            user, codec_enum_name(CODEC_ENUM_AZURE_ROLE, (int)nearest->assignment.role),
            subscription_id, domain__time_text(nearest->assignment.assigned_us).text,
            domain__time_text(nearest->removed_us).text, domain__time_text(d->business_us).text);
    return domain__refuse(
        d, LEDGER_ERR_ROLE_MISSING,
        "user %s holds neither Owner nor Reservation Purchaser on subscription %s: "
        "ask your partner's admin agent to assign you one of them there",
        user, subscription_id);
}

/* The change of a permission in force at `at_us`: its latest change dated at
 * or before then, the later recorded of two dated alike; NULL before any
 * (off). The permission was on then when that change is a grant. */
static const struct domain_permission_change *permission_at(const struct domain_customer *customer,
                                                            Ledger__V1__PermissionKind kind,
                                                            int64_t at_us)
{
    const struct domain_permission_change *in_force = NULL;
    for (size_t i = 0; i < customer->permission_change_count; i++) {
        const struct domain_permission_change *change = &customer->permission_changes[i];
        if (change->kind == kind && change->changed_us <= at_us &&
            (in_force == NULL || change->changed_us >= in_force->changed_us))
            in_force = change;
    }
    return in_force;
}

/* Rule 3's PERMISSION_OFF for a purchase dated when the permission was off.
 * The message says when it was on, so that the purchase can be dated right:
 * since its grant in force when it is on now, else the time of the grant
 * nearest the purchase's date until the change that followed it. */
static enum ledger_err refuse_permission_off(struct domain_decision *d,
                                             Ledger__V1__PermissionKind kind)
{
    const struct domain_customer *customer = d->customer;
    const struct domain_permission_change *nearest = NULL;
    int64_t nearest_until_us = 0;
    for (size_t i = 0; i < customer->permission_change_count; i++) {
        const struct domain_permission_change *grant = &customer->permission_changes[i];
        if (grant->kind != kind || !grant->enabled)
            continue;
        int64_t until_us = INT64_MAX; /* on now */
        for (size_t j = i + 1; j < customer->permission_change_count && until_us == INT64_MAX;
             j++) {
            if (customer->permission_changes[j].kind == kind)
                until_us = customer->permission_changes[j].changed_us;
        }
        if (until_us == INT64_MAX && d->business_us < grant->changed_us)
            return domain__refuse(
                d, LEDGER_ERR_PERMISSION_OFF,
                "permission '%s' of customer %s is on since %s: a purchase dated %s, "
                "before then, was not allowed; date it at or after that",
                domain__kind_name(kind), customer->customer_id,
                domain__time_text(grant->changed_us).text, domain__time_text(d->business_us).text);
        if (until_us > grant->changed_us &&
            (nearest == NULL ||
             distance_us(d->business_us, grant->changed_us, until_us) <
                 distance_us(d->business_us, nearest->changed_us, nearest_until_us))) {
            nearest = grant;
            nearest_until_us = until_us;
        }
    }
    if (nearest != NULL)
        return domain__refuse(
            d, LEDGER_ERR_PERMISSION_OFF,
            "permission '%s' of customer %s was on from %s until %s, not on %s: date "
            "it then, or ask your partner's admin agent to turn it on again",
            domain__kind_name(kind), customer->customer_id,
            domain__time_text(nearest->changed_us).text, domain__time_text(nearest_until_us).text,
            domain__time_text(d->business_us).text);
    return domain__refuse(d, LEDGER_ERR_PERMISSION_OFF,
                          "permission '%s' is off for customer %s: ask your partner's admin agent "
                          "to turn it on",
                          domain__kind_name(kind), customer->customer_id);
}

/* Rule 3 for a customer user's purchase, at the moment of purchase (the
 * command's business time): the permission was on then (permission_at),
 * the billing subscription is active and eligible then and now
 * (domain__check_billing_subscription), and the user held Owner (preferred) or
 * Reservation Purchaser on it then (domain__role_at). A permission turned off or a
 * role removed since does not matter: they allowed the purchase when it was
 * made, and what the purchase goes on needing is a subscription to bill
 * (docs/domain.md, rule 3). A purchase dated when the permission was off or
 * the user held neither role is refused with the code of the condition that
 * failed. Fills out->allowed_by with the grant and the assignment in force
 * at the business time. */
enum ledger_err domain__check_customer_purchase(struct domain_decision *d,
                                                Ledger__V1__PermissionKind kind,
                                                const char *subscription_id)
{
    const struct domain_customer *customer = d->customer;
    const struct domain_permission_change *grant = permission_at(customer, kind, d->business_us);
    if (grant == NULL || !grant->enabled)
        return refuse_permission_off(d, kind);
    enum ledger_err err = domain__check_billing_subscription(
        d, subscription_id, kind == LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_RESERVATIONS);
    if (err != LEDGER_ERR_OK)
        return err;
    const struct domain_role_assignment *held = NULL;
    for (size_t i = 0; i < PURCHASE_ROLE_COUNT && held == NULL; i++)
        held = domain__role_at(customer, subscription_id, d->principal->user, purchase_roles[i],
                               d->business_us);
    if (held == NULL)
        return refuse_role_missing(d, subscription_id);
    ledger__v1__allowed_by__init(&d->out->allowed_by);
    d->out->allowed_by.permission_sequence = grant->sequence;
    d->out->allowed_by.role_sequence = held->sequence;
    return LEDGER_ERR_OK;
}

/* The latest purchase a filter selects (noun NULL when none). */
struct grounded_purchase {
    const char *noun; /* "reservation" or "savings plan" */
    const char *id;
    int64_t bought_us;
};

/* `kept_since_us`: since when the user holds kept_role now (INT64_MAX when
 * not), so that only purchases before then look through its removals. */
static void purchase_consider(const struct domain_customer *customer,
                              const struct domain_purchase_filter *filter, int64_t kept_since_us,
                              const char *noun, const char *id, const struct domain_actor *buyer,
                              const char *billed_to, int64_t bought_us,
                              struct grounded_purchase *latest)
{
    if (bought_us < filter->from_us || bought_us < latest->bought_us ||
        (filter->customer_only && buyer->role != LEDGER__V1__ROLE__ROLE_CUSTOMER_USER) ||
        (filter->subscription_id != NULL && strcmp(billed_to, filter->subscription_id) != 0) ||
        (filter->user != NULL && strcmp(buyer->user, filter->user) != 0))
        return;
    if (filter->kept_role != LEDGER__V1__AZURE_ROLE__AZURE_ROLE_UNSPECIFIED &&
        (bought_us >= kept_since_us ||
         domain__role_at(customer, billed_to, buyer->user, filter->kept_role, bought_us) != NULL))
        return;
    *latest = (struct grounded_purchase){noun, id, bought_us};
}

/* Refuses a change dated back (`change`, "revocation") that would undo the
 * grounds (`grounds`, "under permission 'reservations' of customer c1") of
 * the latest purchase the filter selects; OK when it selects none. */
enum ledger_err domain__check_not_under_purchase(struct domain_decision *d,
                                                 const struct domain_purchase_filter *filter,
                                                 const char *grounds, const char *change)
{
    const struct domain_customer *customer = d->customer;
    struct grounded_purchase latest = {NULL, NULL, INT64_MIN};
    bool all = filter->kind == LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_UNSPECIFIED;
    size_t reservations =
        all || filter->kind == LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_RESERVATIONS
            ? customer->reservation_count
            : 0;
    size_t plans = all || filter->kind == LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_SAVINGS_PLANS
                       ? customer->savings_plan_count
                       : 0;
    int64_t kept_since_us = INT64_MAX;
    if (filter->kept_role != LEDGER__V1__AZURE_ROLE__AZURE_ROLE_UNSPECIFIED &&
        filter->subscription_id != NULL && filter->user != NULL) {
        long held =
            domain__find_role(customer, filter->subscription_id, filter->user, filter->kept_role);
        if (held >= 0)
            kept_since_us = customer->roles[held].assigned_us;
    }
    for (size_t i = 0; i < reservations; i++) {
        const struct domain_reservation *r = &customer->reservations[i];
        purchase_consider(customer, filter, kept_since_us, "reservation", r->id, &r->bought_by,
                          r->billing_subscription_id, r->bought_us, &latest);
    }
    for (size_t i = 0; i < plans; i++) {
        const struct domain_savings_plan *p = &customer->savings_plans[i];
        purchase_consider(customer, filter, kept_since_us, "savings plan", p->id, &p->bought_by,
                          p->billing_subscription_id, p->starts_us, &latest);
    }
    if (latest.noun == NULL)
        return LEDGER_ERR_OK;
    return domain__refuse(
        d, LEDGER_ERR_INVALID_ARGUMENT,
        "%s %s was bought %s %s: a %s dated %s, at or before then, would undo that; "
        "date the %s after %s",
        latest.noun, latest.id, domain__time_text(latest.bought_us).text, grounds, change,
        domain__time_text(d->business_us).text, change, domain__time_text(latest.bought_us).text);
}

/* ---- decide: building the event ------------------------------------------ */

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

/* A Money of the output's own storage. */
Ledger__V1__Money *domain__output_money(struct domain_decision *d, int slot, int64_t amount_minor,
                                        const char *currency)
{
    Ledger__V1__Money *money = &d->out->money[slot];
    ledger__v1__money__init(money);
    domain__copy_cut(d->out->currencies[slot], sizeof d->out->currencies[slot], currency);
    money->amount_minor = amount_minor;
    money->currency = d->out->currencies[slot];
    return money;
}

Ledger__V1__Scope *domain__output_scope(Ledger__V1__Scope *scope, char *target, size_t target_size,
                                        Ledger__V1__ScopeKind kind, const char *source)
{
    ledger__v1__scope__init(scope);
    domain__copy_cut(target, target_size, source);
    scope->kind = kind;
    scope->target = target;
    return scope;
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

/* ---- decide: one function per command ------------------------------------ */

enum ledger_err domain__decide_add_partner(struct domain_decision *d)
{
    const Ledger__V1__AddPartner *body = d->command->add_partner;
    enum ledger_err err = domain__check_id(d, body->partner_id, "add_partner.partner_id");
    if (err != LEDGER_ERR_OK)
        return err;
    if (!codec_name_valid(body->name))
        return domain__refuse(
            d, LEDGER_ERR_INVALID_ARGUMENT,
            "add_partner.name must be 1..%d bytes of printable UTF-8, without control, "
            "line separator or bidirectional formatting characters",
            LEDGER_NAME_LENGTH_MAX);
    if (!domain__string_equal(d->in->partner_id, body->partner_id))
        return domain__refuse(d, LEDGER_ERR_INVALID_ARGUMENT,
                              "the command acts on partner '%s' but add_partner names '%s'; set "
                              "Command.partner_id to the new partner's id",
                              d->in->partner_id, body->partner_id);
    if (d->in->partner_exists)
        return domain__refuse(d, LEDGER_ERR_PARTNER_EXISTS, "partner %s is already registered",
                              body->partner_id);
    Ledger__V1__PartnerRegistered *event = &d->out->body.partner_registered;
    ledger__v1__partner_registered__init(event);
    event->name = body->name;
    d->out->event.body_case = LEDGER__V1__EVENT__BODY_PARTNER_REGISTERED;
    d->out->event.partner_registered = event;
    return LEDGER_ERR_OK;
}

enum ledger_err domain__decide_add_principal(struct domain_decision *d)
{
    const Ledger__V1__AddPrincipal *body = d->command->add_principal;
    enum ledger_err err = domain__check_id(d, body->principal_id, "add_principal.principal_id");
    if (err == LEDGER_ERR_OK)
        err = domain__check_enum(d, CODEC_ENUM_ROLE, (int)body->role, "add_principal.role");
    if (err != LEDGER_ERR_OK)
        return err;
    Ledger__V1__Role role = body->role;
    bool partner_staff = role == LEDGER__V1__ROLE__ROLE_ADMIN_AGENT ||
                         role == LEDGER__V1__ROLE__ROLE_SALES_AGENT ||
                         role == LEDGER__V1__ROLE__ROLE_HELPDESK_AGENT;
    bool customer_user = role == LEDGER__V1__ROLE__ROLE_CUSTOMER_USER;
    if (role == LEDGER__V1__ROLE__ROLE_SYSTEM)
        return domain__refuse(d, LEDGER_ERR_INVALID_ARGUMENT,
                              "add_principal.role system is the ledger itself and cannot be added");
    if (domain_principal_id_reserved(body->principal_id))
        return domain__refuse(d, LEDGER_ERR_INVALID_ARGUMENT,
                              "add_principal.principal_id may not be '%s' nor begin with '%s': the "
                              "ledger's own principals are named so; choose another id",
                              DOMAIN_INIT_PRINCIPAL_ID, DOMAIN_RESERVED_ID_PREFIX);
    if ((partner_staff || customer_user) && domain__string_empty(body->partner_id))
        return domain__refuse(d, LEDGER_ERR_INVALID_ARGUMENT,
                              "add_principal.partner_id is required for a %s",
                              codec_role_name((int)role));
    if (role == LEDGER__V1__ROLE__ROLE_OPERATOR && !domain__string_empty(body->partner_id))
        return domain__refuse(d, LEDGER_ERR_INVALID_ARGUMENT,
                              "add_principal.partner_id must be empty for an operator");
    if (!domain__string_empty(body->partner_id)) {
        err = domain__check_id(d, body->partner_id, "add_principal.partner_id");
        if (err != LEDGER_ERR_OK)
            return err;
    }
    if (customer_user) {
        err = domain__check_id(d, body->customer_id, "add_principal.customer_id");
        if (err == LEDGER_ERR_OK)
            err = domain__check_id(d, body->user, "add_principal.user");
        if (err != LEDGER_ERR_OK)
            return err;
    } else if (!domain__string_empty(body->customer_id) || !domain__string_empty(body->user)) {
        return domain__refuse(d, LEDGER_ERR_INVALID_ARGUMENT,
                              "add_principal.customer_id and .user are for customer users only");
    }
    if (!domain__string_empty(body->partner_id)) {
        if (!domain__string_equal(d->in->partner_id, body->partner_id))
            return domain__refuse(
                d, LEDGER_ERR_INVALID_ARGUMENT,
                "the command acts on partner '%s' but add_principal names '%s'; set "
                "Command.partner_id to it",
                d->in->partner_id, body->partner_id);
        /* body->partner_id is the command's partner (checked above). */
        err = domain__need_partner(d);
        if (err != LEDGER_ERR_OK)
            return err;
    }
    /* A customer user of a customer the partner never onboarded could do
     * nothing: a mistyped customer id, said now rather than at its first
     * request. */
    if (customer_user && !d->in->principal_customer_onboarded)
        return domain__refuse(
            d, LEDGER_ERR_CUSTOMER_NOT_FOUND,
            "customer %s of partner %s was never onboarded: check the customer id, or "
            "onboard the customer first (ledgerctl customer add)",
            body->customer_id, body->partner_id);
    if (d->in->principal_exists)
        return domain__refuse(d, LEDGER_ERR_PRINCIPAL_EXISTS, "principal %s already exists",
                              body->principal_id);
    Ledger__V1__PrincipalAdded *event = &d->out->body.principal_added;
    ledger__v1__principal_added__init(event);
    event->principal_id = body->principal_id;
    event->role = role;
    event->partner_id = body->partner_id;
    event->customer_id = body->customer_id;
    event->user = body->user;
    d->out->event.body_case = LEDGER__V1__EVENT__BODY_PRINCIPAL_ADDED;
    d->out->event.principal_added = event;
    return LEDGER_ERR_OK;
}

/* What RevokePrincipal and RotatePrincipalSecret ask of the principal they
 * name: a valid id, not the actor's own (`self` says why not), a principal
 * that exists and is not revoked (refused with `revoked_err` and
 * `revoked_text`), and no envelope partner other than the principal's, under
 * which the event is recorded (fill_envelope). `field` and `noun` name the
 * command's field and its event in the messages. */
static enum ledger_err check_principal_target(struct domain_decision *d, const char *principal_id,
                                              const char *field, const char *self,
                                              enum ledger_err revoked_err, const char *revoked_text,
                                              const char *noun)
{
    enum ledger_err err = domain__check_id(d, principal_id, field);
    if (err != LEDGER_ERR_OK)
        return err;
    if (domain__string_equal(principal_id, d->principal->id))
        return domain__refuse(d, LEDGER_ERR_INVALID_ARGUMENT,
                              "principal %s cannot %s; another operator must", principal_id, self);
    if (!d->in->principal_exists)
        return domain__refuse(d, LEDGER_ERR_PRINCIPAL_NOT_FOUND, "no principal %s", principal_id);
    if (d->in->principal_revoked)
        return domain__refuse(d, revoked_err, "principal %s %s", principal_id, revoked_text);
    const char *bound = d->in->principal_partner_id != NULL ? d->in->principal_partner_id : "";
    if (!domain__string_empty(d->command->partner_id) &&
        !domain__string_equal(d->command->partner_id, bound))
        return domain__refuse(
            d, LEDGER_ERR_PARTNER_MISMATCH,
            "principal %s is %s%s, not of partner %s: name no partner (the %s is "
            "recorded under the principal's own)",
            principal_id, domain__string_empty(bound) ? "bound to every partner" : "of partner ",
            bound, d->command->partner_id, noun);
    return LEDGER_ERR_OK;
}

enum ledger_err domain__decide_revoke_principal(struct domain_decision *d)
{
    const Ledger__V1__RevokePrincipal *body = d->command->revoke_principal;
    enum ledger_err err = check_principal_target(
        d, body->principal_id, "revoke_principal.principal_id", "revoke itself",
        LEDGER_ERR_UNCHANGED, "is already revoked", "revocation");
    if (err != LEDGER_ERR_OK)
        return err;
    Ledger__V1__PrincipalRevoked *event = &d->out->body.principal_revoked;
    ledger__v1__principal_revoked__init(event);
    event->principal_id = body->principal_id;
    d->out->event.body_case = LEDGER__V1__EVENT__BODY_PRINCIPAL_REVOKED;
    d->out->event.principal_revoked = event;
    return LEDGER_ERR_OK;
}

/* The event names the principal only: the new secret is made by the engine
 * when it commits the event and never enters the log. */
enum ledger_err domain__decide_rotate_principal_secret(struct domain_decision *d)
{
    const Ledger__V1__RotatePrincipalSecret *body = d->command->rotate_principal_secret;
    if (domain_principal_id_reserved(body->principal_id))
        return domain__refuse(
            d, LEDGER_ERR_INVALID_ARGUMENT,
            "rotate_principal_secret.principal_id may not be '%s' nor begin with '%s': "
            "the ledger's own principals have no secret",
            DOMAIN_INIT_PRINCIPAL_ID, DOMAIN_RESERVED_ID_PREFIX);
    /* Not its own: the reply that carries the new secret may be lost, and a
     * principal that rotated its own secret would then hold none that works.
     * A revoked principal stays revoked: it gets no new secret. */
    enum ledger_err err = check_principal_target(
        d, body->principal_id, "rotate_principal_secret.principal_id", "rotate its own secret",
        LEDGER_ERR_INVALID_ARGUMENT,
        "is revoked: its secret can no longer be rotated; add a new principal instead", "rotation");
    if (err != LEDGER_ERR_OK)
        return err;
    Ledger__V1__PrincipalSecretRotated *event = &d->out->body.principal_secret_rotated;
    ledger__v1__principal_secret_rotated__init(event);
    event->principal_id = body->principal_id;
    d->out->event.body_case = LEDGER__V1__EVENT__BODY_PRINCIPAL_SECRET_ROTATED;
    d->out->event.principal_secret_rotated = event;
    return LEDGER_ERR_OK;
}

enum ledger_err domain__decide_onboard_customer(struct domain_decision *d)
{
    const Ledger__V1__OnboardCustomer *body = d->command->onboard_customer;
    if (!codec_name_valid(body->name))
        return domain__refuse(
            d, LEDGER_ERR_INVALID_ARGUMENT,
            "onboard_customer.name must be 1..%d bytes of printable UTF-8, without "
            "control, line separator or bidirectional formatting characters",
            LEDGER_NAME_LENGTH_MAX);
    enum ledger_err err = domain__need_partner(d);
    if (err != LEDGER_ERR_OK)
        return err;
    if (d->customer->onboarded)
        return domain__refuse(d, LEDGER_ERR_CUSTOMER_EXISTS,
                              "customer %s of partner %s already exists", d->customer->customer_id,
                              d->in->partner_id);
    Ledger__V1__CustomerOnboarded *event = &d->out->body.customer_onboarded;
    ledger__v1__customer_onboarded__init(event);
    event->name = body->name;
    d->out->event.body_case = LEDGER__V1__EVENT__BODY_CUSTOMER_ONBOARDED;
    d->out->event.customer_onboarded = event;
    return LEDGER_ERR_OK;
}

/* A subscription id is the cloud's and names one subscription of one
 * customer: refuses one another customer of the partner bought
 * (input->subscription_holder_*), naming it, since every principal that may
 * buy a subscription (partner staff) may read every customer of its
 * partner. Customers of other partners are never looked at (docs/domain.md,
 * "Identities and their scope"). */
static enum ledger_err check_subscription_unheld(struct domain_decision *d,
                                                 const char *subscription_id)
{
    const char *holder = d->in->subscription_holder_customer_id;
    if (holder == NULL || holder[0] == '\0')
        return LEDGER_ERR_OK;
    return domain__refuse(d, LEDGER_ERR_SUBSCRIPTION_EXISTS,
                          "subscription %s already exists for customer %s of partner %s (sequence "
                          "%llu): a subscription belongs to one customer",
                          subscription_id, holder, d->in->partner_id,
                          (unsigned long long)d->in->subscription_holder_sequence);
}

enum ledger_err domain__decide_purchase_subscription(struct domain_decision *d)
{
    const Ledger__V1__PurchaseSubscription *body = d->command->purchase_subscription;
    enum ledger_err err = domain__check_id(d, body->subscription_id, "subscription_id");
    if (err == LEDGER_ERR_OK)
        err = domain__check_enum(d, CODEC_ENUM_OFFER, (int)body->offer, "offer");
    if (err == LEDGER_ERR_OK)
        err = domain__need_customer(d);
    if (err != LEDGER_ERR_OK)
        return err;
    if (domain__find_subscription(d->customer, body->subscription_id) != NULL)
        return domain__refuse(d, LEDGER_ERR_SUBSCRIPTION_EXISTS,
                              "subscription %s already exists for customer %s",
                              body->subscription_id, d->customer->customer_id);
    err = check_subscription_unheld(d, body->subscription_id);
    if (err != LEDGER_ERR_OK)
        return err;
    if (d->customer->subscription_count >= LEDGER_CUSTOMER_SUBSCRIPTIONS_MAX)
        return domain__refuse(
            d, LEDGER_ERR_INVALID_ARGUMENT,
            "customer %s already has %d subscriptions, the most one customer may hold",
            d->customer->customer_id, LEDGER_CUSTOMER_SUBSCRIPTIONS_MAX);
    Ledger__V1__SubscriptionPurchased *event = &d->out->body.subscription_purchased;
    ledger__v1__subscription_purchased__init(event);
    event->subscription_id = body->subscription_id;
    event->offer = body->offer;
    d->out->event.body_case = LEDGER__V1__EVENT__BODY_SUBSCRIPTION_PURCHASED;
    d->out->event.subscription_purchased = event;
    return LEDGER_ERR_OK;
}

/* Rule 10 for a change of a subscription out of active dated at the
 * command's business time: only an active subscription may carry active
 * reservations, then as now. The change is its subscription's latest (they
 * are dated in order), so the new status holds from its date on: no
 * reservation billed to the subscription may be active now, nor have been
 * active at or after that date (one whose end, ended_us, comes after it,
 * whether bought before or since). */
static enum ledger_err check_no_reservations_since(struct domain_decision *d,
                                                   const char *subscription_id,
                                                   Ledger__V1__SubscriptionStatus status)
{
    const char *status_name = codec_enum_name(CODEC_ENUM_SUBSCRIPTION_STATUS, (int)status);
    const struct domain_reservation *latest = NULL; /* the last to end of those ended since */
    for (size_t i = 0; i < d->customer->reservation_count; i++) {
        const struct domain_reservation *reservation = &d->customer->reservations[i];
        if (strcmp(reservation->billing_subscription_id, subscription_id) != 0)
            continue;
        /* Past its term (by the ledger's clock) it awaits the record of its
         * expiry or renewal, and can no longer be cancelled or exchanged. */
        if (reservation->state == LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_ACTIVE &&
            reservation->expires_us <= d->in->now_us)
            return domain__refuse(
                d, LEDGER_ERR_SUBSCRIPTION_HAS_RESERVATIONS,
                "subscription %s is billed for reservation %s, still active though "
                "its term ended %s: record its %s; it cannot become %s before",
                subscription_id, reservation->id, domain__time_text(reservation->expires_us).text,
                reservation->auto_renew
                    ? "renewal or expiry (ledgerctl reservation renewed|expired)"
                    : "expiry (ledgerctl reservation expired)",
                status_name);
        if (reservation->state == LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_ACTIVE)
            return domain__refuse(d, LEDGER_ERR_SUBSCRIPTION_HAS_RESERVATIONS,
                                  "subscription %s is billed for active reservation %s; it cannot "
                                  "become %s until its reservations end (cancel or exchange them, "
                                  "or wait for their expiry)",
                                  subscription_id, reservation->id, status_name);
        if (reservation->ended_us > d->business_us &&
            (latest == NULL || reservation->ended_us > latest->ended_us))
            latest = reservation;
    }
    if (latest == NULL)
        return LEDGER_ERR_OK;
    return domain__refuse(
        d, LEDGER_ERR_SUBSCRIPTION_HAS_RESERVATIONS,
        "subscription %s cannot become %s on %s: reservation %s was active from %s "
        "until %s (%s); date the change at or after its end",
        subscription_id, status_name, domain__time_text(d->business_us).text, latest->id,
        domain__time_text(latest->bought_us).text, domain__time_text(latest->ended_us).text,
        codec_enum_name(CODEC_ENUM_RESERVATION_STATE, (int)latest->state));
}

/* Whether a subscription of the customer other than `except`, an Azure plan
 * or Azure Global one, was bought by `at_us` and active then
 * (domain__status_at for them all in one pass over the status changes, so
 * that checking every grant stays bounded by grants times changes). */
static bool other_eligible_active_at(const struct domain_customer *customer,
                                     const struct domain_subscription *except, int64_t at_us)
{
    Ledger__V1__SubscriptionStatus status[LEDGER_CUSTOMER_SUBSCRIPTIONS_MAX];
    int64_t since_us[LEDGER_CUSTOMER_SUBSCRIPTIONS_MAX];
    size_t count = customer->subscription_count;
    if (count > LEDGER_CUSTOMER_SUBSCRIPTIONS_MAX)
        count = LEDGER_CUSTOMER_SUBSCRIPTIONS_MAX;
    for (size_t i = 0; i < count; i++) {
        status[i] = LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_ACTIVE;
        since_us[i] = INT64_MIN;
    }
    for (size_t i = 0; i < customer->status_change_count; i++) {
        const struct domain_status_change *change = &customer->status_changes[i];
        if (change->subscription < count && change->changed_us <= at_us &&
            change->changed_us >= since_us[change->subscription]) {
            status[change->subscription] = change->status;
            since_us[change->subscription] = change->changed_us;
        }
    }
    for (size_t i = 0; i < count; i++) {
        const struct domain_subscription *other = &customer->subscriptions[i];
        if (other != except && domain__offer_eligible(other->offer) &&
            other->purchased_us <= at_us &&
            status[i] == LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_ACTIVE)
            return true;
    }
    return false;
}

/* Rule 2 for a change of `changed` out of active dated at the command's
 * business time: each grant dated then or since was decided with an active
 * Azure plan or Azure Global subscription at its business time, and the
 * change would take this one away from then on (in force at its own
 * instant, as the later recorded of two dated alike). Refused when no other
 * such subscription was active at a grant's time. */
static enum ledger_err check_grants_kept(struct domain_decision *d,
                                         const struct domain_subscription *changed)
{
    const struct domain_customer *customer = d->customer;
    if (!domain__offer_eligible(changed->offer))
        return LEDGER_ERR_OK;
    const struct domain_permission_change *latest = NULL;
    for (size_t i = 0; i < customer->permission_change_count; i++) {
        const struct domain_permission_change *grant = &customer->permission_changes[i];
        if (!grant->enabled || grant->changed_us < d->business_us ||
            (latest != NULL && grant->changed_us < latest->changed_us))
            continue;
        if (!other_eligible_active_at(customer, changed, grant->changed_us))
            latest = grant;
    }
    if (latest == NULL)
        return LEDGER_ERR_OK;
    return domain__refuse(
        d, LEDGER_ERR_INVALID_ARGUMENT,
        "permission '%s' was turned on %s with subscription %s the customer's only "
        "active Azure plan or Azure Global one (rule 2): a status change dated %s, at "
        "or before then, would undo that; date the status change after %s",
        domain__kind_name(latest->kind), domain__time_text(latest->changed_us).text, changed->id,
        domain__time_text(d->business_us).text, domain__time_text(latest->changed_us).text);
}

enum ledger_err domain__decide_set_subscription_status(struct domain_decision *d)
{
    const Ledger__V1__SetSubscriptionStatus *body = d->command->set_subscription_status;
    enum ledger_err err = domain__check_id(d, body->subscription_id, "subscription_id");
    if (err == LEDGER_ERR_OK)
        err = domain__check_enum(d, CODEC_ENUM_SUBSCRIPTION_STATUS, (int)body->status, "status");
    if (err == LEDGER_ERR_OK)
        err = domain__need_customer(d);
    if (err != LEDGER_ERR_OK)
        return err;
    const struct domain_subscription *subscription =
        domain__find_subscription(d->customer, body->subscription_id);
    if (subscription == NULL)
        return domain__refuse(d, LEDGER_ERR_SUBSCRIPTION_NOT_FOUND,
                              "subscription %s is not a subscription of customer %s",
                              body->subscription_id, d->customer->customer_id);
    if (subscription->status == body->status)
        return domain__refuse(d, LEDGER_ERR_UNCHANGED, "subscription %s is already %s",
                              body->subscription_id,
                              codec_enum_name(CODEC_ENUM_SUBSCRIPTION_STATUS, (int)body->status));
    /* Statuses are decided at business times (domain__status_at), so their
     * history is kept in date order. */
    int64_t since_us = domain__status_since(d->customer, subscription);
    if (d->business_us < since_us)
        return domain__refuse(
            d, LEDGER_ERR_INVALID_ARGUMENT,
            "subscription %s is %s since %s: a change of its status dated %s, before "
            "then, would reorder its history; date it at or after that",
            body->subscription_id,
            codec_enum_name(CODEC_ENUM_SUBSCRIPTION_STATUS, (int)subscription->status),
            domain__time_text(since_us).text, domain__time_text(d->business_us).text);
    if (d->customer->status_change_count >= LEDGER_CUSTOMER_STATUS_CHANGES_MAX)
        return domain__refuse(
            d, LEDGER_ERR_INVALID_ARGUMENT,
            "customer %s reached %d subscription status changes, the most one customer "
            "may hold",
            d->customer->customer_id, LEDGER_CUSTOMER_STATUS_CHANGES_MAX);
    if (body->status != LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_ACTIVE) {
        err = check_no_reservations_since(d, body->subscription_id, body->status);
        if (err != LEDGER_ERR_OK)
            return err;
        /* Rules 3 and 4 read the billing subscription's status at a purchase's
         * business time: not out of active under a savings plan bought on it
         * (rule 10 keeps the reservations). */
        struct domain_purchase_filter under = {
            .kind = LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_SAVINGS_PLANS,
            .from_us = d->business_us,
            .subscription_id = body->subscription_id,
        };
        char grounds[4 * DOMAIN_ID_SIZE];
        snprintf(grounds, sizeof grounds, "on subscription %s, active then", body->subscription_id);
        err = domain__check_not_under_purchase(d, &under, grounds, "status change");
        if (err == LEDGER_ERR_OK)
            err = check_grants_kept(d, subscription);
        if (err != LEDGER_ERR_OK)
            return err;
    }
    Ledger__V1__SubscriptionStatusChanged *event = &d->out->body.subscription_status_changed;
    ledger__v1__subscription_status_changed__init(event);
    event->subscription_id = body->subscription_id;
    event->from_status = subscription->status;
    event->to_status = body->status;
    d->out->event.body_case = LEDGER__V1__EVENT__BODY_SUBSCRIPTION_STATUS_CHANGED;
    d->out->event.subscription_status_changed = event;
    return LEDGER_ERR_OK;
}

enum ledger_err domain__decide_role(struct domain_decision *d, bool assign)
{
    const char *subscription_id;
    const char *user;
    Ledger__V1__AzureRole role;
    if (assign) {
        subscription_id = d->command->assign_role->subscription_id;
        user = d->command->assign_role->user;
        role = d->command->assign_role->role;
    } else {
        subscription_id = d->command->remove_role->subscription_id;
        user = d->command->remove_role->user;
        role = d->command->remove_role->role;
    }
    enum ledger_err err = domain__check_id(d, subscription_id, "subscription_id");
    if (err == LEDGER_ERR_OK)
        err = domain__check_id(d, user, "user");
    if (err == LEDGER_ERR_OK)
        err = domain__check_enum(d, CODEC_ENUM_AZURE_ROLE, (int)role, "role");
    if (err == LEDGER_ERR_OK)
        err = domain__need_customer(d);
    if (err != LEDGER_ERR_OK)
        return err;
    const struct domain_subscription *subscription =
        domain__find_subscription(d->customer, subscription_id);
    if (subscription == NULL)
        return domain__refuse(d, LEDGER_ERR_SUBSCRIPTION_NOT_FOUND,
                              "subscription %s is not a subscription of customer %s",
                              subscription_id, d->customer->customer_id);
    /* Rule 3 reads a role from the business time of its assignment: there
     * was no subscription to hold it before the subscription was bought. */
    if (d->business_us < subscription->purchased_us)
        return domain__refuse(
            d, LEDGER_ERR_SUBSCRIPTION_NOT_FOUND,
            "subscription %s of customer %s was bought %s: a role on it cannot be %s "
            "dated %s, before then; date it at or after that",
            subscription_id, d->customer->customer_id,
            domain__time_text(subscription->purchased_us).text, assign ? "assigned" : "removed",
            domain__time_text(d->business_us).text);
    const char *role_name = codec_enum_name(CODEC_ENUM_AZURE_ROLE, (int)role);
    long index = domain__find_role(d->customer, subscription_id, user, role);
    bool held = index >= 0;
    if (assign && held)
        return domain__refuse(d, LEDGER_ERR_ROLE_ALREADY_ASSIGNED,
                              "user %s already holds %s on subscription %s", user, role_name,
                              subscription_id);
    if (!assign && !held)
        return domain__refuse(d, LEDGER_ERR_ROLE_NOT_ASSIGNED,
                              "user %s does not hold %s on subscription %s", user, role_name,
                              subscription_id);
    /* Rule 3 reads the roles held at a purchase's business time, so each
     * role's history (assigned, removed, assigned again) is kept in date
     * order: a removal is not dated before the assignment it ends, nor an
     * assignment before the previous removal of the same role. */
    if (!assign && d->business_us < d->customer->roles[index].assigned_us)
        return domain__refuse(
            d, LEDGER_ERR_INVALID_ARGUMENT,
            "user %s holds %s on subscription %s since %s: a removal dated %s, before "
            "then, would reorder its history; date the removal at or after that",
            user, role_name, subscription_id,
            domain__time_text(d->customer->roles[index].assigned_us).text,
            domain__time_text(d->business_us).text);
    /* A removal dated back of a purchase role: not under a purchase the user
     * made on the subscription that this assignment allowed, as its event
     * names (allowed_by). */
    if (!assign && (role == purchase_roles[0] || role == purchase_roles[1])) {
        struct domain_purchase_filter under = {
            .from_us = d->business_us,
            .subscription_id = subscription_id,
            .user = user,
            .customer_only = true,
            /* A purchase names Owner when the user held it (purchase_roles):
             * Reservation Purchaser goes from under it when Owner stays. */
            .kept_role = role == purchase_roles[0] ? LEDGER__V1__AZURE_ROLE__AZURE_ROLE_UNSPECIFIED
                                                   : purchase_roles[0],
        };
        char grounds[4 * DOMAIN_ID_SIZE];
        snprintf(grounds, sizeof grounds, "by user %s, who held %s on %s", user, role_name,
                 subscription_id);
        err = domain__check_not_under_purchase(d, &under, grounds, "removal");
        if (err != LEDGER_ERR_OK)
            return err;
    }
    const struct domain_role_removal *removed =
        assign ? domain__last_removal(d->customer, subscription_id, user, role) : NULL;
    if (removed != NULL && d->business_us < removed->removed_us)
        return domain__refuse(
            d, LEDGER_ERR_INVALID_ARGUMENT,
            "user %s held %s on subscription %s until %s: an assignment dated %s, "
            "before then, would reorder its history; date it at or after that",
            user, role_name, subscription_id, domain__time_text(removed->removed_us).text,
            domain__time_text(d->business_us).text);
    if (!assign && d->customer->role_removal_count >= LEDGER_CUSTOMER_ROLE_REMOVALS_MAX)
        return domain__refuse(
            d, LEDGER_ERR_INVALID_ARGUMENT,
            "customer %s reached %d role removals, the most one customer may hold",
            d->customer->customer_id, LEDGER_CUSTOMER_ROLE_REMOVALS_MAX);
    if (assign) {
        if (d->customer->role_count >= LEDGER_CUSTOMER_ROLES_MAX)
            return domain__refuse(
                d, LEDGER_ERR_INVALID_ARGUMENT,
                "customer %s already has %d role assignments, the most one customer "
                "may hold",
                d->customer->customer_id, LEDGER_CUSTOMER_ROLES_MAX);
        Ledger__V1__RoleAssigned *event = &d->out->body.role_assigned;
        ledger__v1__role_assigned__init(event);
        event->subscription_id = (char *)subscription_id;
        event->user = (char *)user;
        event->role = role;
        d->out->event.body_case = LEDGER__V1__EVENT__BODY_ROLE_ASSIGNED;
        d->out->event.role_assigned = event;
    } else {
        Ledger__V1__RoleRemoved *event = &d->out->body.role_removed;
        ledger__v1__role_removed__init(event);
        event->subscription_id = (char *)subscription_id;
        event->user = (char *)user;
        event->role = role;
        d->out->event.body_case = LEDGER__V1__EVENT__BODY_ROLE_REMOVED;
        d->out->event.role_removed = event;
    }
    return LEDGER_ERR_OK;
}

/* Rule 2 at `at_us`: whether the customer had an Azure plan or Azure
 * Global subscription bought by then and active then, whatever its status
 * now: a grant is a fact of its moment, which a later suspension does not
 * undo (decided so, a grant recorded late is allowed as it would have been
 * when recorded before the suspension). When it had none, *since_us is
 * the earliest time from which one of those active now has been active
 * (INT64_MAX when none is active now). */
static bool has_eligible_subscription(const struct domain_customer *customer, int64_t at_us,
                                      int64_t *since_us)
{
    *since_us = INT64_MAX;
    for (size_t i = 0; i < customer->subscription_count; i++) {
        const struct domain_subscription *subscription = &customer->subscriptions[i];
        if (!domain__offer_eligible(subscription->offer))
            continue;
        if (subscription->purchased_us <= at_us &&
            domain__status_at(customer, subscription, at_us) ==
                LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_ACTIVE)
            return true;
        if (subscription->status != LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_ACTIVE)
            continue;
        int64_t active_us = domain__status_since(customer, subscription);
        if (active_us < *since_us)
            *since_us = active_us;
    }
    return false;
}

/* A subscription of an eligible offer that is not active now (suspended,
 * disabled or expired), for advice when none is active; NULL when none. */
static const struct domain_subscription *inactive_eligible(const struct domain_customer *customer)
{
    for (size_t i = 0; i < customer->subscription_count; i++) {
        const struct domain_subscription *subscription = &customer->subscriptions[i];
        if (domain__offer_eligible(subscription->offer) &&
            subscription->status != LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_ACTIVE)
            return subscription;
    }
    return NULL;
}

enum ledger_err domain__decide_permission(struct domain_decision *d, bool grant)
{
    Ledger__V1__PermissionKind kind =
        grant ? d->command->grant_permission->kind : d->command->revoke_permission->kind;
    enum ledger_err err = domain__check_enum(d, CODEC_ENUM_PERMISSION_KIND, (int)kind, "kind");
    if (err == LEDGER_ERR_OK)
        err = domain__need_customer(d);
    if (err != LEDGER_ERR_OK)
        return err;
    const struct domain_customer *customer = d->customer;
    if (grant && customer->permission_on[kind])
        return domain__refuse(d, LEDGER_ERR_PERMISSION_ALREADY_ON,
                              "permission '%s' is already on for customer %s",
                              domain__kind_name(kind), customer->customer_id);
    if (!grant && !customer->permission_on[kind])
        return domain__refuse(d, LEDGER_ERR_PERMISSION_ALREADY_OFF,
                              "permission '%s' is already off for customer %s",
                              domain__kind_name(kind), customer->customer_id);
    /* Rule 3 reads a switch at a purchase's business time, so its history is
     * kept in date order, as a subscription's status history is. */
    const struct domain_permission_change *last = permission_at(customer, kind, INT64_MAX);
    if (last != NULL && d->business_us < last->changed_us)
        return domain__refuse(
            d, LEDGER_ERR_INVALID_ARGUMENT,
            "permission '%s' of customer %s is %s since %s: a %s dated %s, before "
            "then, would reorder its history; date it at or after that",
            domain__kind_name(kind), customer->customer_id, last->enabled ? "on" : "off",
            domain__time_text(last->changed_us).text, grant ? "grant" : "revocation",
            domain__time_text(d->business_us).text);
    /* A revocation dated back ends the grant in force at its date: not under
     * a purchase the grant allowed (it is dated after the grant, the switch's
     * latest change). */
    if (!grant) {
        struct domain_purchase_filter under = {
            .kind = kind, .from_us = d->business_us, .customer_only = true};
        char grounds[4 * DOMAIN_ID_SIZE];
        snprintf(grounds, sizeof grounds, "under permission '%s' of customer %s",
                 domain__kind_name(kind), customer->customer_id);
        err = domain__check_not_under_purchase(d, &under, grounds, "revocation");
        if (err != LEDGER_ERR_OK)
            return err;
    }
    if (customer->permission_change_count >= LEDGER_CUSTOMER_PERMISSION_CHANGES_MAX)
        return domain__refuse(
            d, LEDGER_ERR_INVALID_ARGUMENT,
            "customer %s reached %d permission changes, the most one customer may hold",
            customer->customer_id, LEDGER_CUSTOMER_PERMISSION_CHANGES_MAX);
    if (grant) {
        /* Rule 2, at the grant's business time. */
        int64_t since_us = 0;
        bool eligible = has_eligible_subscription(customer, d->business_us, &since_us);
        if (!eligible && since_us != INT64_MAX)
            return domain__refuse(
                d, LEDGER_ERR_NO_ELIGIBLE_SUBSCRIPTION,
                "customer %s had no active Azure plan or Azure Global subscription on "
                "%s, the grant's date; it has one since %s: permission '%s' could not "
                "be turned on before then; date the grant at or after that",
                customer->customer_id, domain__time_text(d->business_us).text,
                domain__time_text(since_us).text, domain__kind_name(kind));
        const struct domain_subscription *inactive = eligible ? NULL : inactive_eligible(customer);
        if (inactive != NULL)
            return domain__refuse(
                d, LEDGER_ERR_NO_ELIGIBLE_SUBSCRIPTION,
                "customer %s has no active Azure plan or Azure Global subscription: "
                "its %s subscription %s is %s; permission '%s' cannot be turned on "
                "until it is active again (ledgerctl subscription status --customer %s "
                "--subscription %s --status active) or the partner buys another",
                customer->customer_id, codec_enum_name(CODEC_ENUM_OFFER, (int)inactive->offer),
                inactive->id,
                codec_enum_name(CODEC_ENUM_SUBSCRIPTION_STATUS, (int)inactive->status),
                domain__kind_name(kind), customer->customer_id, inactive->id);
        if (!eligible)
            return domain__refuse(
                d, LEDGER_ERR_NO_ELIGIBLE_SUBSCRIPTION,
                "customer %s has no active Azure plan or Azure Global subscription; "
                "permission '%s' cannot be turned on until the partner buys one "
                "(ledgerctl subscription add --offer azure-plan)",
                customer->customer_id, domain__kind_name(kind));
        Ledger__V1__PurchasePermissionGranted *event = &d->out->body.purchase_permission_granted;
        ledger__v1__purchase_permission_granted__init(event);
        event->kind = kind;
        d->out->event.body_case = LEDGER__V1__EVENT__BODY_PURCHASE_PERMISSION_GRANTED;
        d->out->event.purchase_permission_granted = event;
    } else {
        Ledger__V1__PurchasePermissionRevoked *event = &d->out->body.purchase_permission_revoked;
        ledger__v1__purchase_permission_revoked__init(event);
        event->kind = kind;
        d->out->event.body_case = LEDGER__V1__EVENT__BODY_PURCHASE_PERMISSION_REVOKED;
        d->out->event.purchase_permission_revoked = event;
    }
    return LEDGER_ERR_OK;
}

/* Room among the customer's reservations for `new_reservations` more, bought
 * or renewed (an exchange says how many it buys in its own message). */
static enum ledger_err check_reservation_room(struct domain_decision *d, size_t new_reservations)
{
    if (d->customer->reservation_count + new_reservations > LEDGER_CUSTOMER_RESERVATIONS_MAX)
        return domain__refuse(
            d, LEDGER_ERR_INVALID_ARGUMENT,
            "customer %s already has %d reservations, the most one customer may hold",
            d->customer->customer_id, LEDGER_CUSTOMER_RESERVATIONS_MAX);
    return LEDGER_ERR_OK;
}

/* A cloud order id names one purchase: refuses the command's
 * `cloud_order_id` when a purchase of a customer of the partner (this one
 * included) already recorded it (input->cloud_order_*, found by the engine
 * for the first id the command names that is held), since a second
 * purchase under the same id would make reconciling the partner's invoice
 * ambiguous. Partner staff, who may read every customer of the partner, are
 * told which purchase; a customer user only when it is its own customer's. */
enum ledger_err domain__check_cloud_order_unheld(struct domain_decision *d,
                                                 const char *cloud_order_id)
{
    const char *held = d->in->cloud_order_held_id;
    const char *holder = d->in->cloud_order_holder_customer_id;
    if (held == NULL || held[0] == '\0' || holder == NULL || holder[0] == '\0' ||
        cloud_order_id == NULL || strcmp(cloud_order_id, held) != 0)
        return LEDGER_ERR_OK;
    if (d->customer != NULL && strcmp(holder, d->customer->customer_id) != 0 &&
        domain__is_customer_user(d))
        return domain__refuse(
            d, LEDGER_ERR_INVALID_ARGUMENT,
            "cloud_order_id %s was recorded with another purchase of the partner; "
            "give the order id of this purchase, or ask the partner",
            held);
    return domain__refuse(
        d, LEDGER_ERR_INVALID_ARGUMENT,
        "cloud_order_id %s was recorded with another purchase (sequence %llu, customer "
        "%s): a cloud order id names one purchase; give the order id the cloud issued "
        "for this one",
        held, (unsigned long long)d->in->cloud_order_holder_sequence, holder);
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

/* A change of a reservation or a savings plan (`noun` and `id`, bought at
 * bought_us) takes effect at the command's business time, which may not
 * come before it was bought: a cancellation or an exchange would end months
 * that did not exist to bill or refund, a scope or auto-renew change would
 * change what did not exist yet. */
static enum ledger_err check_dated_after(struct domain_decision *d, const char *noun,
                                         const char *id, int64_t bought_us, const char *change)
{
    if (d->business_us >= bought_us)
        return LEDGER_ERR_OK;
    return domain__refuse(d, LEDGER_ERR_INVALID_ARGUMENT,
                          "%s dated %s is before %s %s was bought (%s): give a business time at or "
                          "after that",
                          change, domain__time_text(d->business_us).text, noun, id,
                          domain__time_text(bought_us).text);
}

/* A holding's history is kept in date order, as a switch's, a role's and a
 * status's are: a change dated before its last scope or auto-renew change
 * (changed_us, later than its purchase) would reorder it. */
enum ledger_err domain__check_after_change(struct domain_decision *d, const char *noun,
                                           const char *id, int64_t bought_us, int64_t changed_us,
                                           const char *change)
{
    enum ledger_err err = check_dated_after(d, noun, id, bought_us, change);
    if (err != LEDGER_ERR_OK || d->business_us >= changed_us)
        return err;
    return domain__refuse(
        d, LEDGER_ERR_INVALID_ARGUMENT,
        "%s %s was last changed %s (scope or auto-renew): %s dated %s, before then, "
        "would reorder its history; date it at or after that",
        noun, id, domain__time_text(changed_us).text, change,
        domain__time_text(d->business_us).text);
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

struct holding {
    const char *noun; /* for messages */
    const struct domain_scope *scope;
    bool auto_renew;
};

/* The savings plan a change names. */
static enum ledger_err find_plan(struct domain_decision *d, const char *savings_plan_id,
                                 const struct domain_savings_plan **out)
{
    const struct domain_savings_plan *plan =
        domain__find_savings_plan(d->customer, savings_plan_id);
    if (plan == NULL)
        return domain__refuse(d, LEDGER_ERR_SAVINGS_PLAN_NOT_FOUND,
                              "savings plan %s is not a savings plan of customer %s",
                              savings_plan_id, d->customer->customer_id);
    *out = plan;
    return LEDGER_ERR_OK;
}

/* A savings plan still in force: found, and not ended by a renewal. */
enum ledger_err domain__find_plan_in_force(struct domain_decision *d, const char *savings_plan_id,
                                           const struct domain_savings_plan **out)
{
    const struct domain_savings_plan *plan = NULL;
    enum ledger_err err = find_plan(d, savings_plan_id, &plan);
    if (err != LEDGER_ERR_OK || plan == NULL)
        return err;
    if (plan->renewed)
        return domain__refuse(
            d, LEDGER_ERR_SAVINGS_PLAN_NOT_ACTIVE,
            "savings plan %s was renewed and its term has ended; act on its renewal "
            "instead (ledgerctl savings-plans lists it)",
            savings_plan_id);
    *out = plan;
    return LEDGER_ERR_OK;
}

/* Checks the id (and with `scoped`, the command's scope, which may be
 * missing: its form before the customer is looked at, its target after), then
 * finds the holding: an active reservation, or a savings plan in force, bought
 * no later than the change (`change` names it for the message, NULL for a
 * command that records no change). */
static enum ledger_err find_holding(struct domain_decision *d, enum domain_holding_kind kind,
                                    const char *id, bool scoped, const Ledger__V1__Scope *scope,
                                    const char *change, struct holding *out)
{
    bool plan = kind == DOMAIN_HOLDING_SAVINGS_PLAN;
    enum ledger_err err = domain__check_id(d, id, plan ? "savings_plan_id" : "reservation_id");
    if (err == LEDGER_ERR_OK && scoped)
        err = domain__check_scope(d, scope, "scope");
    if (err == LEDGER_ERR_OK)
        err = domain__need_customer(d);
    if (err != LEDGER_ERR_OK)
        return err;
    if (plan) {
        const struct domain_savings_plan *found = NULL;
        err = domain__find_plan_in_force(d, id, &found);
        if (err == LEDGER_ERR_OK && found != NULL && change != NULL)
            err = domain__check_after_change(d, "savings plan", id, found->bought_us,
                                             found->changed_us, change);
        /* Over at its expiry: renewed by the cloud when set to renew, which
         * is what remains to record. */
        if (err == LEDGER_ERR_OK && found != NULL && change != NULL &&
            d->business_us >= found->expires_us)
            err = domain__refuse(
                d, LEDGER_ERR_SAVINGS_PLAN_NOT_ACTIVE,
                "savings plan %s ended with its term on %s: %s dated %s comes after "
                "that; %s",
                id, domain__time_text(found->expires_us).text, change,
                domain__time_text(d->business_us).text,
                found->auto_renew ? "record its renewal instead (ledgerctl savings-plan "
                                    "renewed)"
                                  : "a plan whose term has ended takes no change");
        if (err == LEDGER_ERR_OK && found != NULL)
            *out = (struct holding){"savings plan", &found->scope, found->auto_renew};
    } else {
        const struct domain_reservation *found = NULL;
        err = domain__find_active(d, id, &found);
        if (err == LEDGER_ERR_OK && found != NULL && change != NULL)
            err = domain__check_after_purchase(d, found, change);
        if (err == LEDGER_ERR_OK && found != NULL && change != NULL)
            err = domain__check_term_running(d, found, change);
        if (err == LEDGER_ERR_OK && found != NULL)
            *out = (struct holding){"reservation", &found->scope, found->auto_renew};
    }
    if (err == LEDGER_ERR_OK && scoped)
        err = domain__check_scope_target(d, scope);
    return err;
}

/* A scope change of a holding: refused when the scope is the same; else the
 * event's from and to scopes. */
enum ledger_err domain__decide_scope_change(struct domain_decision *d,
                                            enum domain_holding_kind kind, const char *id,
                                            const Ledger__V1__Scope *scope,
                                            Ledger__V1__Scope **from, Ledger__V1__Scope **to)
{
    struct holding holding;
    enum ledger_err err = find_holding(d, kind, id, true, scope, "a scope change", &holding);
    if (err != LEDGER_ERR_OK)
        return err;
    if (scope_equal(holding.scope, scope))
        return domain__refuse(d, LEDGER_ERR_UNCHANGED, "%s %s already has this scope", holding.noun,
                              id);
    struct domain_output *out = d->out;
    *from = domain__output_scope(&out->scope_from, out->scope_from_target,
                                 sizeof out->scope_from_target, holding.scope->kind,
                                 holding.scope->target);
    *to = domain__output_scope(&out->scope_to, out->scope_to_target, sizeof out->scope_to_target,
                               scope->kind, scope->target);
    return LEDGER_ERR_OK;
}

/* Turning a holding's auto-renew on or off: refused when it already is. */
enum ledger_err domain__decide_renewal_change(struct domain_decision *d,
                                              enum domain_holding_kind kind, const char *id,
                                              bool auto_renew)
{
    struct holding holding;
    enum ledger_err err = find_holding(d, kind, id, false, NULL, "an auto-renew change", &holding);
    if (err != LEDGER_ERR_OK)
        return err;
    if (holding.auto_renew == auto_renew)
        return domain__refuse(d, LEDGER_ERR_UNCHANGED, "auto-renew of %s %s is already %s",
                              holding.noun, id, auto_renew ? "on" : "off");
    return LEDGER_ERR_OK;
}

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

/* A renewal command's fields, each by shape, then the customer: shared by
 * RenewReservation and RenewSavingsPlan. */
enum ledger_err domain__check_renewal_fields(struct domain_decision *d, const char *id,
                                             const char *field, const Ledger__V1__Money *price,
                                             const Ledger__V1__Money *retail_price,
                                             const char *cloud_order_id)
{
    enum ledger_err err = domain__check_id(d, id, field);
    if (err == LEDGER_ERR_OK)
        err = domain__check_optional_id(d, cloud_order_id, "cloud_order_id");
    if (err == LEDGER_ERR_OK)
        err = domain__check_prices(d, price, retail_price);
    if (err == LEDGER_ERR_OK)
        err = domain__need_customer(d);
    return err;
}

/* The rules a renewal of a reservation or a savings plan shares, in order:
 * not dated before the holding was bought or last changed (its history kept
 * in date order), auto-renew on, the price in the
 * holding's currency, the billing subscription active and eligible at the
 * renewal's business time, and now too for a `reservation` (rules 3, 4 and
 * 10), and a new term that ends within the times the ledger records: its
 * end is a time the ledger records and shows, so it may not be past
 * LEDGER_TIME_US_MAX any more than a business time may. */
enum ledger_err domain__check_renewal(struct domain_decision *d,
                                      const struct domain_renewed_holding *old,
                                      const Ledger__V1__Money *price, bool reservation)
{
    enum ledger_err err = domain__check_after_change(d, old->noun, old->id, old->bought_us,
                                                     old->changed_us, "a renewal");
    if (err != LEDGER_ERR_OK)
        return err;
    if (!old->auto_renew)
        return domain__refuse(d, LEDGER_ERR_INVALID_ARGUMENT,
                              "auto-renew is off for %s %s; turn it on first or buy anew",
                              old->noun, old->id);
    if (strcmp(price->currency, old->currency) != 0)
        return domain__refuse(d, LEDGER_ERR_CURRENCY_MISMATCH,
                              "price is in %s but %s %s is priced in %s", price->currency,
                              old->noun, old->id, old->currency);
    err = domain__check_billing_subscription(d, old->billing_subscription_id, reservation);
    if (err != LEDGER_ERR_OK)
        return err;
    char renewal[sizeof "the renewal of savings plan " + DOMAIN_ID_SIZE];
    snprintf(renewal, sizeof renewal, "the renewal of %s %s", old->noun, old->id);
    return domain__check_term_end(d, old->expires_us, old->term, renewal);
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

/* Room for one more savings plan of the customer: a purchase or a renewal
 * adds one, and a renewed plan still counts. */
static enum ledger_err check_savings_plan_room(struct domain_decision *d)
{
    if (d->customer->savings_plan_count < LEDGER_CUSTOMER_SAVINGS_PLANS_MAX)
        return LEDGER_ERR_OK;
    return domain__refuse(
        d, LEDGER_ERR_INVALID_ARGUMENT,
        "customer %s already has %d savings plans, the most one customer may hold",
        d->customer->customer_id, LEDGER_CUSTOMER_SAVINGS_PLANS_MAX);
}

/* Initializes the SavingsPlanPurchased of a purchase or a renewal with its
 * id, sp-<seq> ("Generated ids"). */
static void new_savings_plan(struct domain_decision *d, Ledger__V1__SavingsPlanPurchased *plan)
{
    struct domain_output *out = d->out;
    ledger__v1__savings_plan_purchased__init(plan);
    snprintf(out->savings_plan_id, sizeof out->savings_plan_id, "sp-%llu",
             (unsigned long long)d->in->sequence);
    plan->savings_plan_id = out->savings_plan_id;
}

enum ledger_err domain__decide_purchase_savings_plan(struct domain_decision *d)
{
    const Ledger__V1__PurchaseSavingsPlan *body = d->command->purchase_savings_plan;
    enum ledger_err err = check_savings_plan_fields(d, body);
    if (err == LEDGER_ERR_OK)
        err = domain__need_customer(d);
    if (err != LEDGER_ERR_OK)
        return err;
    bool customer = domain__is_customer_user(d);
    if (customer)
        err = domain__check_customer_purchase(
            d, LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_SAVINGS_PLANS,
            body->billing_subscription_id);
    else
        err = domain__check_billing_subscription(d, body->billing_subscription_id, false);
    if (err == LEDGER_ERR_OK)
        err = domain__check_scope_target(d, body->scope);
    if (err != LEDGER_ERR_OK)
        return err;
    err = check_savings_plan_room(d);
    if (err == LEDGER_ERR_OK)
        err = domain__check_cloud_order_unheld(d, body->cloud_order_id);
    if (err != LEDGER_ERR_OK)
        return err;
    struct domain_output *out = d->out;
    Ledger__V1__SavingsPlanPurchased *event = &out->body.savings_plan_purchased;
    new_savings_plan(d, event);
    event->billing_subscription_id = body->billing_subscription_id;
    event->hourly_commitment = body->hourly_commitment;
    event->term = body->term;
    event->billing_plan = body->billing_plan;
    event->scope =
        domain__output_scope(&out->scope_to, out->scope_to_target, sizeof out->scope_to_target,
                             body->scope->kind, body->scope->target);
    event->price = body->price;
    event->retail_price = body->retail_price;
    event->auto_renew = body->auto_renew;
    event->cloud_order_id = body->cloud_order_id;
    event->purchaser = customer ? LEDGER__V1__PURCHASER__PURCHASER_CUSTOMER
                                : LEDGER__V1__PURCHASER__PURCHASER_PARTNER;
    event->starts_us = d->business_us;
    event->expires_us = domain__term_end(d->business_us, body->term);
    event->allowed_by = customer ? &out->allowed_by : NULL;
    out->event.body_case = LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_PURCHASED;
    out->event.savings_plan_purchased = event;
    return LEDGER_ERR_OK;
}

enum ledger_err domain__decide_change_savings_plan_scope(struct domain_decision *d)
{
    const Ledger__V1__ChangeSavingsPlanScope *body = d->command->change_savings_plan_scope;
    Ledger__V1__SavingsPlanScopeChanged *event = &d->out->body.savings_plan_scope_changed;
    ledger__v1__savings_plan_scope_changed__init(event);
    enum ledger_err err =
        domain__decide_scope_change(d, DOMAIN_HOLDING_SAVINGS_PLAN, body->savings_plan_id,
                                    body->scope, &event->from_scope, &event->to_scope);
    if (err != LEDGER_ERR_OK)
        return err;
    event->savings_plan_id = body->savings_plan_id;
    d->out->event.body_case = LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_SCOPE_CHANGED;
    d->out->event.savings_plan_scope_changed = event;
    return LEDGER_ERR_OK;
}

enum ledger_err domain__decide_set_savings_plan_renewal(struct domain_decision *d)
{
    const Ledger__V1__SetSavingsPlanRenewal *body = d->command->set_savings_plan_renewal;
    enum ledger_err err = domain__decide_renewal_change(d, DOMAIN_HOLDING_SAVINGS_PLAN,
                                                        body->savings_plan_id, body->auto_renew);
    if (err != LEDGER_ERR_OK)
        return err;
    Ledger__V1__SavingsPlanRenewalSet *event = &d->out->body.savings_plan_renewal_set;
    ledger__v1__savings_plan_renewal_set__init(event);
    event->savings_plan_id = body->savings_plan_id;
    event->auto_renew = body->auto_renew;
    d->out->event.body_case = LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_RENEWAL_SET;
    d->out->event.savings_plan_renewal_set = event;
    return LEDGER_ERR_OK;
}

enum ledger_err domain__decide_renew_savings_plan(struct domain_decision *d)
{
    const Ledger__V1__RenewSavingsPlan *body = d->command->renew_savings_plan;
    const struct domain_savings_plan *old = NULL;
    enum ledger_err err =
        domain__check_renewal_fields(d, body->savings_plan_id, "savings_plan_id", body->price,
                                     body->retail_price, body->cloud_order_id);
    if (err == LEDGER_ERR_OK)
        err = domain__find_plan_in_force(d, body->savings_plan_id, &old);
    if (err != LEDGER_ERR_OK)
        return err;
    struct domain_renewed_holding holding = DOMAIN_RENEWED_HOLDING("savings plan", old);
    err = domain__check_renewal(d, &holding, body->price, false);
    if (err == LEDGER_ERR_OK)
        err = check_savings_plan_room(d);
    if (err == LEDGER_ERR_OK)
        err = domain__check_cloud_order_unheld(d, body->cloud_order_id);
    if (err != LEDGER_ERR_OK)
        return err;
    struct domain_output *out = d->out;
    Ledger__V1__SavingsPlanPurchased *renewal = &out->savings_plan;
    new_savings_plan(d, renewal);
    domain__copy_cut(out->billing_subscription_id, sizeof out->billing_subscription_id,
                     old->billing_subscription_id);
    renewal->billing_subscription_id = out->billing_subscription_id;
    renewal->hourly_commitment = domain__output_money(d, 0, old->hourly_commitment.amount_minor,
                                                      old->hourly_commitment.currency);
    DOMAIN_RENEWAL_FROM(renewal, old, body, out);
    Ledger__V1__SavingsPlanRenewed *event = &out->body.savings_plan_renewed;
    ledger__v1__savings_plan_renewed__init(event);
    event->savings_plan_id = body->savings_plan_id;
    event->renewal = renewal;
    out->event.body_case = LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_RENEWED;
    out->event.savings_plan_renewed = event;
    return LEDGER_ERR_OK;
}

enum ledger_err domain__decide_cancel_savings_plan(struct domain_decision *d)
{
    const Ledger__V1__CancelSavingsPlan *body = d->command->cancel_savings_plan;
    const struct domain_savings_plan *plan = NULL;
    enum ledger_err err = domain__check_id(d, body->savings_plan_id, "savings_plan_id");
    if (err == LEDGER_ERR_OK)
        err = domain__need_customer(d);
    if (err == LEDGER_ERR_OK)
        err = find_plan(d, body->savings_plan_id, &plan);
    if (err != LEDGER_ERR_OK)
        return err;
    /* Rule 6: never, whether in force or renewed. */
    return domain__refuse(d, LEDGER_ERR_SAVINGS_PLAN_NOT_REFUNDABLE,
                          "savings plan %s cannot be cancelled, refunded or exchanged",
                          body->savings_plan_id);
}

enum ledger_err domain__decide_set_cost_visibility(struct domain_decision *d)
{
    const Ledger__V1__SetCostVisibility *body = d->command->set_cost_visibility;
    enum ledger_err err = domain__need_customer(d);
    if (err != LEDGER_ERR_OK)
        return err;
    if (d->customer->retail_prices_visible == body->retail_prices_visible)
        return domain__refuse(
            d, LEDGER_ERR_UNCHANGED, "retail prices are already %s to customer %s",
            body->retail_prices_visible ? "visible" : "hidden", d->customer->customer_id);
    Ledger__V1__CostVisibilitySet *event = &d->out->body.cost_visibility_set;
    ledger__v1__cost_visibility_set__init(event);
    event->retail_prices_visible = body->retail_prices_visible;
    d->out->event.body_case = LEDGER__V1__EVENT__BODY_COST_VISIBILITY_SET;
    d->out->event.cost_visibility_set = event;
    return LEDGER_ERR_OK;
}

/* ---- decide: the dispatcher ---------------------------------------------- */

bool domain_principal_id_reserved(const char *principal_id)
{
    return strncmp(principal_id, DOMAIN_RESERVED_ID_PREFIX, strlen(DOMAIN_RESERVED_ID_PREFIX)) ==
               0 ||
           strcmp(principal_id, DOMAIN_INIT_PRINCIPAL_ID) == 0;
}

bool domain_command_is_customer(Ledger__V1__Command__BodyCase body_case)
{
    switch (body_case) {
    case LEDGER__V1__COMMAND__BODY_ONBOARD_CUSTOMER:
    case LEDGER__V1__COMMAND__BODY_PURCHASE_SUBSCRIPTION:
    case LEDGER__V1__COMMAND__BODY_SET_SUBSCRIPTION_STATUS:
    case LEDGER__V1__COMMAND__BODY_ASSIGN_ROLE:
    case LEDGER__V1__COMMAND__BODY_REMOVE_ROLE:
    case LEDGER__V1__COMMAND__BODY_GRANT_PERMISSION:
    case LEDGER__V1__COMMAND__BODY_REVOKE_PERMISSION:
    case LEDGER__V1__COMMAND__BODY_PURCHASE_RESERVATION:
    case LEDGER__V1__COMMAND__BODY_CHANGE_RESERVATION_SCOPE:
    case LEDGER__V1__COMMAND__BODY_SET_RESERVATION_RENEWAL:
    case LEDGER__V1__COMMAND__BODY_RENEW_RESERVATION:
    case LEDGER__V1__COMMAND__BODY_EXCHANGE_RESERVATION:
    case LEDGER__V1__COMMAND__BODY_CANCEL_RESERVATION:
    case LEDGER__V1__COMMAND__BODY_EXPIRE_RESERVATION:
    case LEDGER__V1__COMMAND__BODY_PURCHASE_SAVINGS_PLAN:
    case LEDGER__V1__COMMAND__BODY_CHANGE_SAVINGS_PLAN_SCOPE:
    case LEDGER__V1__COMMAND__BODY_SET_SAVINGS_PLAN_RENEWAL:
    case LEDGER__V1__COMMAND__BODY_CANCEL_SAVINGS_PLAN:
    case LEDGER__V1__COMMAND__BODY_RENEW_SAVINGS_PLAN:
    case LEDGER__V1__COMMAND__BODY_SET_COST_VISIBILITY:
        return true;
    default:
        return false;
    }
}

const char *domain_command_partner_id(const struct domain_principal *principal,
                                      const Ledger__V1__Command *command)
{
    if (command == NULL)
        return "";
    /* The envelope names the partner acted on; the bodies of AddPartner and
     * AddPrincipal name one too, which must be the same (decide refuses a
     * difference), and stand in for an envelope that names none. */
    if (!domain__string_empty(command->partner_id))
        return command->partner_id;
    if (command->body_case == LEDGER__V1__COMMAND__BODY_ADD_PARTNER &&
        command->add_partner != NULL && command->add_partner->partner_id != NULL)
        return command->add_partner->partner_id;
    if (command->body_case == LEDGER__V1__COMMAND__BODY_ADD_PRINCIPAL &&
        command->add_principal != NULL && !domain__string_empty(command->add_principal->partner_id))
        return command->add_principal->partner_id;
    if (principal != NULL && principal->partner_id != NULL)
        return principal->partner_id;
    return "";
}

const char *domain_command_target_principal(const Ledger__V1__Command *command)
{
    if (command == NULL)
        return NULL;
    switch (command->body_case) {
    case LEDGER__V1__COMMAND__BODY_ADD_PRINCIPAL:
        return command->add_principal != NULL ? command->add_principal->principal_id : NULL;
    case LEDGER__V1__COMMAND__BODY_REVOKE_PRINCIPAL:
        return command->revoke_principal != NULL ? command->revoke_principal->principal_id : NULL;
    case LEDGER__V1__COMMAND__BODY_ROTATE_PRINCIPAL_SECRET:
        return command->rotate_principal_secret != NULL
                   ? command->rotate_principal_secret->principal_id
                   : NULL;
    default:
        return NULL;
    }
}

const char *domain_command_customer_id(const struct domain_principal *principal,
                                       const Ledger__V1__Command *command)
{
    if (command == NULL || !domain_command_is_customer(command->body_case))
        return "";
    if (!domain__string_empty(command->customer_id))
        return command->customer_id;
    if (principal != NULL && principal->role == LEDGER__V1__ROLE__ROLE_CUSTOMER_USER &&
        principal->customer_id != NULL)
        return principal->customer_id;
    return "";
}

/* Whether the command's body message is there (protobuf-c always allocates
 * it when decoding; a hand-built command might not). */
static bool body_present(const Ledger__V1__Command *command)
{
    switch (command->body_case) {
    case LEDGER__V1__COMMAND__BODY_ADD_PARTNER:
        return command->add_partner != NULL;
    case LEDGER__V1__COMMAND__BODY_ADD_PRINCIPAL:
        return command->add_principal != NULL;
    case LEDGER__V1__COMMAND__BODY_REVOKE_PRINCIPAL:
        return command->revoke_principal != NULL;
    case LEDGER__V1__COMMAND__BODY_ROTATE_PRINCIPAL_SECRET:
        return command->rotate_principal_secret != NULL;
    case LEDGER__V1__COMMAND__BODY_ONBOARD_CUSTOMER:
        return command->onboard_customer != NULL;
    case LEDGER__V1__COMMAND__BODY_PURCHASE_SUBSCRIPTION:
        return command->purchase_subscription != NULL;
    case LEDGER__V1__COMMAND__BODY_SET_SUBSCRIPTION_STATUS:
        return command->set_subscription_status != NULL;
    case LEDGER__V1__COMMAND__BODY_ASSIGN_ROLE:
        return command->assign_role != NULL;
    case LEDGER__V1__COMMAND__BODY_REMOVE_ROLE:
        return command->remove_role != NULL;
    case LEDGER__V1__COMMAND__BODY_GRANT_PERMISSION:
        return command->grant_permission != NULL;
    case LEDGER__V1__COMMAND__BODY_REVOKE_PERMISSION:
        return command->revoke_permission != NULL;
    case LEDGER__V1__COMMAND__BODY_PURCHASE_RESERVATION:
        return command->purchase_reservation != NULL;
    case LEDGER__V1__COMMAND__BODY_CHANGE_RESERVATION_SCOPE:
        return command->change_reservation_scope != NULL;
    case LEDGER__V1__COMMAND__BODY_SET_RESERVATION_RENEWAL:
        return command->set_reservation_renewal != NULL;
    case LEDGER__V1__COMMAND__BODY_RENEW_RESERVATION:
        return command->renew_reservation != NULL;
    case LEDGER__V1__COMMAND__BODY_EXCHANGE_RESERVATION:
        return command->exchange_reservation != NULL;
    case LEDGER__V1__COMMAND__BODY_CANCEL_RESERVATION:
        return command->cancel_reservation != NULL;
    case LEDGER__V1__COMMAND__BODY_EXPIRE_RESERVATION:
        return command->expire_reservation != NULL;
    case LEDGER__V1__COMMAND__BODY_PURCHASE_SAVINGS_PLAN:
        return command->purchase_savings_plan != NULL;
    case LEDGER__V1__COMMAND__BODY_CHANGE_SAVINGS_PLAN_SCOPE:
        return command->change_savings_plan_scope != NULL;
    case LEDGER__V1__COMMAND__BODY_SET_SAVINGS_PLAN_RENEWAL:
        return command->set_savings_plan_renewal != NULL;
    case LEDGER__V1__COMMAND__BODY_CANCEL_SAVINGS_PLAN:
        return command->cancel_savings_plan != NULL;
    case LEDGER__V1__COMMAND__BODY_RENEW_SAVINGS_PLAN:
        return command->renew_savings_plan != NULL;
    case LEDGER__V1__COMMAND__BODY_SET_COST_VISIBILITY:
        return command->set_cost_visibility != NULL;
    default:
        return false;
    }
}

static enum ledger_err decide_body(struct domain_decision *d)
{
    switch (d->command->body_case) {
    case LEDGER__V1__COMMAND__BODY_ADD_PARTNER:
        return domain__decide_add_partner(d);
    case LEDGER__V1__COMMAND__BODY_ADD_PRINCIPAL:
        return domain__decide_add_principal(d);
    case LEDGER__V1__COMMAND__BODY_REVOKE_PRINCIPAL:
        return domain__decide_revoke_principal(d);
    case LEDGER__V1__COMMAND__BODY_ROTATE_PRINCIPAL_SECRET:
        return domain__decide_rotate_principal_secret(d);
    case LEDGER__V1__COMMAND__BODY_ONBOARD_CUSTOMER:
        return domain__decide_onboard_customer(d);
    case LEDGER__V1__COMMAND__BODY_PURCHASE_SUBSCRIPTION:
        return domain__decide_purchase_subscription(d);
    case LEDGER__V1__COMMAND__BODY_SET_SUBSCRIPTION_STATUS:
        return domain__decide_set_subscription_status(d);
    case LEDGER__V1__COMMAND__BODY_ASSIGN_ROLE:
        return domain__decide_role(d, true);
    case LEDGER__V1__COMMAND__BODY_REMOVE_ROLE:
        return domain__decide_role(d, false);
    case LEDGER__V1__COMMAND__BODY_GRANT_PERMISSION:
        return domain__decide_permission(d, true);
    case LEDGER__V1__COMMAND__BODY_REVOKE_PERMISSION:
        return domain__decide_permission(d, false);
    case LEDGER__V1__COMMAND__BODY_PURCHASE_RESERVATION:
        return domain__decide_purchase_reservation(d);
    case LEDGER__V1__COMMAND__BODY_CHANGE_RESERVATION_SCOPE:
        return domain__decide_change_reservation_scope(d);
    case LEDGER__V1__COMMAND__BODY_SET_RESERVATION_RENEWAL:
        return domain__decide_set_reservation_renewal(d);
    case LEDGER__V1__COMMAND__BODY_RENEW_RESERVATION:
        return domain__decide_renew_reservation(d);
    case LEDGER__V1__COMMAND__BODY_EXCHANGE_RESERVATION:
        return domain__decide_exchange_reservation(d);
    case LEDGER__V1__COMMAND__BODY_CANCEL_RESERVATION:
        return domain__decide_cancel_reservation(d);
    case LEDGER__V1__COMMAND__BODY_EXPIRE_RESERVATION:
        return domain__decide_expire_reservation(d);
    case LEDGER__V1__COMMAND__BODY_PURCHASE_SAVINGS_PLAN:
        return domain__decide_purchase_savings_plan(d);
    case LEDGER__V1__COMMAND__BODY_CHANGE_SAVINGS_PLAN_SCOPE:
        return domain__decide_change_savings_plan_scope(d);
    case LEDGER__V1__COMMAND__BODY_SET_SAVINGS_PLAN_RENEWAL:
        return domain__decide_set_savings_plan_renewal(d);
    case LEDGER__V1__COMMAND__BODY_CANCEL_SAVINGS_PLAN:
        return domain__decide_cancel_savings_plan(d);
    case LEDGER__V1__COMMAND__BODY_RENEW_SAVINGS_PLAN:
        return domain__decide_renew_savings_plan(d);
    case LEDGER__V1__COMMAND__BODY_SET_COST_VISIBILITY:
        return domain__decide_set_cost_visibility(d);
    default:
        return domain__refuse(d, LEDGER_ERR_UNKNOWN_MESSAGE, "unknown command %d",
                              (int)d->command->body_case);
    }
}

/* Steps 3 and 4 of the order of checks: the envelope and the scope. */
static enum ledger_err check_envelope_and_scope(struct domain_decision *d)
{
    const struct domain_input *in = d->in;
    const Ledger__V1__Command *command = d->command;
    const struct domain_principal *principal = d->principal;
    enum ledger_err err = domain__check_id(d, command->command_id, "command_id");
    if (err != LEDGER_ERR_OK)
        return err;
    if (!domain__string_empty(command->correlation_id)) {
        err = domain__check_id(d, command->correlation_id, "correlation_id");
        if (err != LEDGER_ERR_OK)
            return err;
    }
    if (command->business_us < 0 || command->business_us > LEDGER_TIME_US_MAX ||
        (command->business_us > 0 && command->business_us - LEDGER_BUSINESS_FUTURE_US > in->now_us))
        return domain__refuse(
            d, LEDGER_ERR_INVALID_ARGUMENT,
            "business_us %lld (%s) must be 0 (now) or a time no later than %s, the "
            "ledger's clock plus %lld s: a business time may not be in the future",
            (long long)command->business_us, domain__time_text(command->business_us).text,
            domain__time_text(in->now_us + LEDGER_BUSINESS_FUTURE_US).text,
            (long long)(LEDGER_BUSINESS_FUTURE_US / 1000000));
    if (in->now_us <= 0 || in->now_us > LEDGER_TIME_US_MAX)
        return domain__refuse(d, LEDGER_ERR_INTERNAL, "the ledger's clock reads %lld",
                              (long long)in->now_us);
    d->business_us = command->business_us > 0 ? command->business_us : in->now_us;

    if (!domain__string_empty(command->partner_id)) {
        err = domain__check_id(d, command->partner_id, "partner_id");
        if (err != LEDGER_ERR_OK)
            return err;
    }
    if (!domain__string_empty(command->customer_id)) {
        err = domain__check_id(d, command->customer_id, "customer_id");
        if (err != LEDGER_ERR_OK)
            return err;
    }

    /* The scope rule of the principal's role (policy table). */
    const char *partner_id = in->partner_id != NULL ? in->partner_id : "";
    const char *own_partner = principal->partner_id != NULL ? principal->partner_id : "";
    enum policy_scope scope = policy_role_scope(principal->role);
    switch (scope) {
    case POLICY_SCOPE_OWN_PARTNER:
    case POLICY_SCOPE_OWN_CUSTOMER:
        if (own_partner[0] == '\0')
            return domain__refuse(d, LEDGER_ERR_PARTNER_MISMATCH,
                                  "principal %s (%s) is bound to no partner", principal->id,
                                  policy_role_name(principal->role));
        /* fall through */
    case POLICY_SCOPE_PARTNER_OR_ALL:
        if (own_partner[0] != '\0' && strcmp(own_partner, partner_id) != 0)
            return domain__refuse(
                d, LEDGER_ERR_PARTNER_MISMATCH,
                "principal %s belongs to partner %s, not %s: leave out the partner "
                "(--partner), or give %s",
                principal->id, own_partner, partner_id[0] != '\0' ? partner_id : "(none)",
                own_partner);
        break;
    case POLICY_SCOPE_ALL_PARTNERS:
        break;
    case POLICY_SCOPE_NONE:
        return domain__refuse(d, LEDGER_ERR_FORBIDDEN, "principal %s has no role", principal->id);
    }

    if (!domain_command_is_customer(command->body_case))
        return LEDGER_ERR_OK;
    const char *customer_id = domain_command_customer_id(principal, command);
    err = domain__check_id(d, partner_id, "partner_id");
    if (err == LEDGER_ERR_OK)
        err = domain__check_id(d, customer_id, "customer_id");
    if (err != LEDGER_ERR_OK)
        return err;
    if (scope == POLICY_SCOPE_OWN_CUSTOMER &&
        !domain__string_equal(principal->customer_id, customer_id))
        return domain__refuse(d, LEDGER_ERR_PARTNER_MISMATCH,
                              "customer user %s belongs to customer %s, not %s", principal->id,
                              principal->customer_id != NULL ? principal->customer_id : "",
                              customer_id);
    if (scope == POLICY_SCOPE_OWN_CUSTOMER && !codec_id_valid(principal->user))
        return domain__refuse(d, LEDGER_ERR_FORBIDDEN, "customer user %s has no user name",
                              principal->id);
    if (in->customer == NULL || strcmp(in->customer->partner_id, partner_id) != 0 ||
        strcmp(in->customer->customer_id, customer_id) != 0)
        return domain__refuse(d, LEDGER_ERR_INTERNAL,
                              "the state given is not customer %s of partner %s", customer_id,
                              partner_id);
    d->customer = in->customer;
    return LEDGER_ERR_OK;
}

/* The envelope every event carries (docs/events.md, "Envelope"). */
static void fill_envelope(struct domain_decision *d)
{
    const struct domain_input *in = d->in;
    struct domain_output *out = d->out;
    Ledger__V1__Event *event = &out->event;
    const char *partner_id = in->partner_id != NULL ? in->partner_id : "";
    if (d->command->body_case == LEDGER__V1__COMMAND__BODY_ADD_PRINCIPAL &&
        d->command->add_principal->partner_id != NULL)
        partner_id = d->command->add_principal->partner_id; /* "" or checked equal */
    if (d->command->body_case == LEDGER__V1__COMMAND__BODY_REVOKE_PRINCIPAL ||
        d->command->body_case == LEDGER__V1__COMMAND__BODY_ROTATE_PRINCIPAL_SECRET)
        partner_id = in->principal_partner_id != NULL ? in->principal_partner_id : "";
    domain__copy_cut(out->partner_id, sizeof out->partner_id, partner_id);
    domain__copy_cut(out->customer_id, sizeof out->customer_id,
                     d->customer != NULL ? d->customer->customer_id : NULL);
    domain__copy_cut(out->actor_principal_id, sizeof out->actor_principal_id, d->principal->id);
    domain__copy_cut(out->actor_user, sizeof out->actor_user, d->principal->user);
    ledger__v1__actor__init(&out->actor);
    out->actor.principal_id = out->actor_principal_id;
    out->actor.role = d->principal->role;
    out->actor.user = out->actor_user;

    event->sequence = in->sequence;
    event->partner_id = out->partner_id;
    event->customer_id = out->customer_id;
    event->actor = &out->actor;
    event->recorded_us = in->now_us;
    event->business_us = d->business_us;
    event->command_id = d->command->command_id;
    event->correlation_id = d->command->correlation_id != NULL ? d->command->correlation_id
                                                               : (char *)protobuf_c_empty_string;
    event->schema_version = LEDGER_SCHEMA_VERSION;
    event->stream_version = d->customer != NULL ? d->customer->version + 1 : 0;
    event->command_hash.len = in->command_hash != NULL ? 32 : 0;
    event->command_hash.data = (uint8_t *)in->command_hash;
}

/* The roles a person may hold that may use a command, for a FORBIDDEN
 * message ("role admin-agent or customer-user"); the ledger's own role is
 * no one to ask. */
static void allowed_roles(Ledger__V1__Command__BodyCase body_case, char *out, size_t size)
{
    size_t length = 0;
    int count = 0;
    out[0] = '\0';
    for (size_t i = 0; i < POLICY_ROLE_COUNT; i++) {
        Ledger__V1__Role role = policy_role_at(i);
        if (role == LEDGER__V1__ROLE__ROLE_SYSTEM || !policy_command_allowed(role, body_case))
            continue;
        int written = snprintf(out + length, size - length, "%s%s", count == 0 ? "role " : " or ",
                               policy_role_name(role));
        if (written < 0 || (size_t)written >= size - length)
            break;
        length += (size_t)written;
        count++;
    }
    if (count == 0)
        snprintf(out, size, "no role");
}

_Static_assert(offsetof(struct domain_output, savings_plan) ==
                   offsetof(struct domain_output, reservation_ids) +
                       sizeof((struct domain_output *)0)->reservation_ids,
               "the storage domain_decide leaves uncleared ends at reservation_ids");

static void reset_event(struct domain_output *out)
{
    memset(&out->event, 0, sizeof out->event);
    ledger__v1__event__init(&out->event);
}

enum ledger_err domain_decide(const struct domain_input *input, struct domain_output *out)
{
    if (out == NULL)
        return LEDGER_ERR_INTERNAL;
    /* All but the per-reservation storage, most of the output's 16 KiB: an
     * entry is written in full before the event points to it. */
    memset(out, 0, offsetof(struct domain_output, reservations));
    memset(&out->savings_plan, 0, sizeof *out - offsetof(struct domain_output, savings_plan));
    reset_event(out);
    struct domain_decision decision = {.in = input, .out = out};
    struct domain_decision *d = &decision;
    if (input == NULL || input->principal == NULL || input->command == NULL ||
        input->principal->id == NULL || input->partner_id == NULL)
        return domain__refuse(d, LEDGER_ERR_INTERNAL, "incomplete decision input");
    d->command = input->command;
    d->principal = input->principal;
    const Ledger__V1__Command *command = input->command;

    /* 1. A body this build knows. */
    enum ledger_err err;
    if (!domain_command_is_customer(command->body_case) &&
        command->body_case != LEDGER__V1__COMMAND__BODY_ADD_PARTNER &&
        command->body_case != LEDGER__V1__COMMAND__BODY_ADD_PRINCIPAL &&
        command->body_case != LEDGER__V1__COMMAND__BODY_REVOKE_PRINCIPAL &&
        command->body_case != LEDGER__V1__COMMAND__BODY_ROTATE_PRINCIPAL_SECRET) {
        if (command->body_case == LEDGER__V1__COMMAND__BODY__NOT_SET)
            err = domain__refuse(
                d, LEDGER_ERR_UNKNOWN_MESSAGE,
                "the command sets none of the bodies this daemon knows (Command fields "
                "20 and up, docs/events.md): it has none, or one of a newer protocol");
        else
            err = domain__refuse(d, LEDGER_ERR_UNKNOWN_MESSAGE,
                                 "the command's body (field %d) is not one this daemon knows",
                                 (int)command->body_case);
        goto refused;
    }
    if (!body_present(command)) {
        err = domain__refuse(d, LEDGER_ERR_INVALID_ARGUMENT, "the %s command has no body",
                             codec_command_type_name(command->body_case));
        goto refused;
    }
    /* 2. The role table. */
    enum policy_access access = policy_command_access(input->principal->role, command->body_case);
    if (access != POLICY_ALLOW) {
        /* The command's name as words ("cancel reservation"), then as sent. */
        const char *name = codec_command_type_name(command->body_case);
        char verb[DOMAIN_MESSAGE_SIZE / 4];
        snprintf(verb, sizeof verb, "%s", name);
        for (char *c = verb; *c != '\0'; c++)
            *c = *c == '_' ? ' ' : *c;
        if (access == POLICY_ASK_PARTNER) {
            err = domain__refuse(d, LEDGER_ERR_ASK_PARTNER,
                                 "only the partner may %s (%s) for a customer; ask your partner",
                                 verb, name);
        } else {
            char allowed[DOMAIN_MESSAGE_SIZE / 2];
            allowed_roles(command->body_case, allowed, sizeof allowed);
            err = domain__refuse(d, LEDGER_ERR_FORBIDDEN,
                                 "role %s may not %s (%s); ask a principal of %s",
                                 policy_role_name(input->principal->role), verb, name, allowed);
        }
        goto refused;
    }
    /* 3, 4. */
    err = check_envelope_and_scope(d);
    if (err != LEDGER_ERR_OK)
        goto refused;
    /* 5, 6, 7. */
    err = decide_body(d);
    if (err != LEDGER_ERR_OK)
        goto refused;
    fill_envelope(d);
    return LEDGER_ERR_OK;

refused:
    reset_event(out);
    if (out->message[0] == '\0')
        snprintf(out->message, sizeof out->message, "%s", ledger_strerror(err));
    return err;
}
