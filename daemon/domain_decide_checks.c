/*
 * domain_decide_checks.c: the checks of a command that the families of
 * domain_decide share: each field by its shape (ids, SKUs, enums, money,
 * prices, scopes), a scope's target against the customer, a new term's end
 * within the times the ledger records, a subscription's status at a
 * business time, the billing subscription of a purchase or a renewal, and
 * a cloud order id named once; and the output's own storage of money and
 * scopes. Each returns a refusal with its message, or OK.
 *
 * Rules of docs/domain.md enforced here, for the commands that call them:
 * 4 (a purchase bills an active Azure plan or Azure Global subscription),
 * the billing subscription's part of 3, 9 (scopes and their targets), 10
 * (a reservation's subscription stays active while it is), 11 (money as
 * integer minor units of an ISO 4217 currency).
 *
 * Does not own: which command calls which check, and in what order (each
 * command's decision, in its family's file); refusals' wording
 * (domain__refuse, domain_decide.c).
 */
#include "domain.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "domain_internal.h"
#include "money.h"

/* The longest a year of a term can be, for overflow bounds: terms are
 * calendar years (domain__term_end), 365 or 366 days. */
#define DOMAIN_YEAR_US_MAX (INT64_C(366) * 24 * 3600 * 1000000)
/* Resource group names in a scope target: Azure allows 1..90 characters; ours
 * are bounded so that "subscription/group" fits struct domain_scope. */
#define DOMAIN_GROUP_LENGTH_MAX LEDGER_ID_LENGTH_MAX

_Static_assert(LEDGER_ID_LENGTH_MAX + 1 + DOMAIN_GROUP_LENGTH_MAX < DOMAIN_ID_SIZE * 2,
               "a resource-group target fits struct domain_scope");

/* domain__check_term_end computes a term's end before it refuses one past the
 * latest time: from a business time up to that time, and, for a renewal,
 * from an expiry up to a term past it (a purchase recorded before terms
 * were bounded): two terms past it must still be representable. */
_Static_assert(LEDGER_TIME_US_MAX + 2 * 5 * DOMAIN_YEAR_US_MAX > LEDGER_TIME_US_MAX,
               "two five-year terms past the latest time do not overflow");

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

/* ---- fields by shape ----------------------------------------------------- */

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

/* ---- against the customer's state ---------------------------------------- */

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

/* A cloud order id names one purchase: refuses the command's
 * `cloud_order_id` when a purchase of a customer of the partner (this one
 * included) already recorded it (input->cloud_order_*, found by the engine
 * for the first id the command names that is held), since a second
 * purchase under the same id would make reconciling the partner's invoice
 * ambiguous. Partner staff, who may read every customer of the partner, are
 * told which purchase; a customer user only when it is its own customer's. */
enum ledger_err domain__check_room(struct domain_decision *d, size_t held, size_t adding, int max,
                                   const char *what)
{
    if (held + adding <= (size_t)max)
        return LEDGER_ERR_OK;
    return domain__refuse(d, LEDGER_ERR_INVALID_ARGUMENT,
                          "customer %s already has %d %s, the most one customer may hold",
                          d->customer->customer_id, max, what);
}

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

/* ---- the output's storage ------------------------------------------------ */

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
