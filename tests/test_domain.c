/*
 * test_domain.c: the rules of docs/domain.md as domain_decide and
 * domain_customer_evolve implement them. For every rule, the allowed case and
 * each refusal with its exact error code, and for each refusal that no event
 * was produced and the state did not move.
 * Method: a small world (one partner "p1", one customer "c1", a clock and a
 * sequence counter) in which every accepted decision is packed, unpacked and
 * evolved into the customer's state exactly as the engine does, so each test
 * is a short history: the state a decision sees is always the one earlier
 * decisions made. Times are explicit (2025-01-01 onwards), never the clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "civil.h"
#include "domain.h"
#include "domain_internal.h"
#include "money.h"
#include "policy.h"

#define T0      INT64_C(1735689600000000) /* 2025-01-01T00:00:00Z */
#define HOUR_US (INT64_C(3600) * 1000000)
#define DAY_US  (24 * HOUR_US)
#define YEAR_US (365 * DAY_US)
/* Midnight UTC of a date. */
#define DATE_US(y, m, d) (civil_days_from_date((y), (m), (d)) * DAY_US)

/* ---- the world ------------------------------------------------------------ */

struct world {
    struct domain_customer *customer;
    uint64_t sequence; /* the next event's */
    int64_t now_us;
    bool partner_exists;
    bool principal_exists;
    bool principal_customer_onboarded;
    bool principal_revoked;
    const char *principal_partner_id;
    /* Another customer of the partner holding the subscription id of a
     * PurchaseSubscription, as the engine would find it (NULL: none). */
    const char *subscription_holder_customer_id;
    uint64_t subscription_holder_sequence;
    const char *cloud_order_held_id;
    const char *cloud_order_holder_customer_id;
    uint64_t cloud_order_holder_sequence;
    /* accept records events as builds that left business_us 0 did, dated
     * at their recorded time. */
    bool record_undated;
    unsigned command_number;
    uint8_t hash[32];
    struct domain_output out;
};

static struct world *W;

/* calloc, wrapped on this target (tests/CMakeLists.txt): the next
 * calloc_failures calls fail. */
void *__real_calloc(size_t count, size_t size);
void *__wrap_calloc(size_t count, size_t size);
static int calloc_failures;

void *__wrap_calloc(size_t count, size_t size)
{
    if (calloc_failures > 0) {
        calloc_failures--;
        return NULL;
    }
    return __real_calloc(count, size);
}

static const struct domain_principal ADMIN = {"admin-1", LEDGER__V1__ROLE__ROLE_ADMIN_AGENT, "p1",
                                              "", ""};
static const struct domain_principal SALES = {"sales-1", LEDGER__V1__ROLE__ROLE_SALES_AGENT, "p1",
                                              "", ""};
static const struct domain_principal HELPDESK = {"help-1", LEDGER__V1__ROLE__ROLE_HELPDESK_AGENT,
                                                 "p1", "", ""};
static const struct domain_principal AUDITOR = {"audit-1", LEDGER__V1__ROLE__ROLE_AUDITOR, "p1", "",
                                                ""};
static const struct domain_principal BILLING = {"billing-1", LEDGER__V1__ROLE__ROLE_BILLING, "p1",
                                                "", ""};
static const struct domain_principal OPERATOR = {"op-1", LEDGER__V1__ROLE__ROLE_OPERATOR, "", "",
                                                 ""};
static const struct domain_principal SYSTEM = {"ledger", LEDGER__V1__ROLE__ROLE_SYSTEM, "", "", ""};
static const struct domain_principal ALICE = {"u-alice", LEDGER__V1__ROLE__ROLE_CUSTOMER_USER, "p1",
                                              "c1", "alice"};
static const struct domain_principal BOB = {"u-bob", LEDGER__V1__ROLE__ROLE_CUSTOMER_USER, "p1",
                                            "c1", "bob"};
static const struct domain_principal CAROL_OF_C2 = {"u-carol", LEDGER__V1__ROLE__ROLE_CUSTOMER_USER,
                                                    "p1", "c2", "carol"};
static const struct domain_principal DAVE_OF_P2 = {"u-dave", LEDGER__V1__ROLE__ROLE_CUSTOMER_USER,
                                                   "p2", "c1", "dave"};
static const struct domain_principal ADMIN_OF_P2 = {"admin-2", LEDGER__V1__ROLE__ROLE_ADMIN_AGENT,
                                                    "p2", "", ""};
static const struct domain_principal ADMIN_OF_NONE = {"admin-x", LEDGER__V1__ROLE__ROLE_ADMIN_AGENT,
                                                      "", "", ""};
static const struct domain_principal ROLELESS = {"nobody", LEDGER__V1__ROLE__ROLE_UNSPECIFIED, "p1",
                                                 "", ""};

static int setup(void **state)
{
    (void)state;
    W = calloc(1, sizeof *W);
    assert_non_null(W);
    W->customer = domain_customer_new("p1", "c1");
    assert_non_null(W->customer);
    W->sequence = 1;
    W->now_us = T0;
    W->partner_exists = true;
    for (int i = 0; i < 32; i++)
        W->hash[i] = (uint8_t)(0xA0 + i);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    domain_customer_free(W->customer);
    free(W);
    W = NULL;
    return 0;
}

/* ---- commands ------------------------------------------------------------- */

struct cmd {
    Ledger__V1__Command c;
    Ledger__V1__AddPartner add_partner;
    Ledger__V1__AddPrincipal add_principal;
    Ledger__V1__RevokePrincipal revoke_principal;
    Ledger__V1__RotatePrincipalSecret rotate_principal_secret;
    Ledger__V1__OnboardCustomer onboard;
    Ledger__V1__PurchaseSubscription subscription;
    Ledger__V1__SetSubscriptionStatus status;
    Ledger__V1__AssignRole assign;
    Ledger__V1__RemoveRole remove;
    Ledger__V1__GrantPermission grant;
    Ledger__V1__RevokePermission revoke;
    Ledger__V1__PurchaseReservation reservation;
    Ledger__V1__ChangeReservationScope reservation_scope;
    Ledger__V1__SetReservationRenewal reservation_renewal;
    Ledger__V1__RenewReservation renew;
    Ledger__V1__ExchangeReservation exchange;
    /* An exchange's replacements: the first is `reservation`, the others
     * copies of it with prices of their own (more_replacement). */
    Ledger__V1__PurchaseReservation *replacements[LEDGER_EXCHANGE_REPLACEMENTS_MAX + 1];
    Ledger__V1__PurchaseReservation more[LEDGER_EXCHANGE_REPLACEMENTS_MAX + 1];
    Ledger__V1__Money more_prices[LEDGER_EXCHANGE_REPLACEMENTS_MAX + 1][2];
    Ledger__V1__CancelReservation cancel;
    Ledger__V1__ExpireReservation expire;
    Ledger__V1__PurchaseSavingsPlan savings_plan;
    Ledger__V1__ChangeSavingsPlanScope plan_scope;
    Ledger__V1__SetSavingsPlanRenewal plan_renewal;
    Ledger__V1__CancelSavingsPlan plan_cancel;
    Ledger__V1__RenewSavingsPlan plan_renew;
    Ledger__V1__SetCostVisibility visibility;
    Ledger__V1__Money money[6];
    char currency[6][8];
    Ledger__V1__Scope scope;
    char scope_target[160];
    char *ids[40];
    char id_text[40][72];
    char command_id[32];
};

static Ledger__V1__Command *begin(struct cmd *k, Ledger__V1__Command__BodyCase body_case)
{
    memset(k, 0, sizeof *k);
    ledger__v1__command__init(&k->c);
    snprintf(k->command_id, sizeof k->command_id, "cmd-%u", ++W->command_number);
    k->c.command_id = k->command_id;
    k->c.partner_id = "p1";
    k->c.customer_id = "c1";
    k->c.body_case = body_case;
    return &k->c;
}

static Ledger__V1__Money *money(struct cmd *k, int slot, int64_t amount_minor, const char *currency)
{
    ledger__v1__money__init(&k->money[slot]);
    snprintf(k->currency[slot], sizeof k->currency[slot], "%s", currency);
    k->money[slot].amount_minor = amount_minor;
    k->money[slot].currency = k->currency[slot];
    return &k->money[slot];
}

static Ledger__V1__Scope *scope(struct cmd *k, Ledger__V1__ScopeKind kind, const char *target)
{
    ledger__v1__scope__init(&k->scope);
    snprintf(k->scope_target, sizeof k->scope_target, "%s", target);
    k->scope.kind = kind;
    k->scope.target = k->scope_target;
    return &k->scope;
}

static char *id(struct cmd *k, int slot, const char *text)
{
    snprintf(k->id_text[slot], sizeof k->id_text[slot], "%s", text);
    return k->id_text[slot];
}

static Ledger__V1__Command *onboard(struct cmd *k, const char *name)
{
    Ledger__V1__Command *c = begin(k, LEDGER__V1__COMMAND__BODY_ONBOARD_CUSTOMER);
    ledger__v1__onboard_customer__init(&k->onboard);
    k->onboard.name = id(k, 0, name);
    c->onboard_customer = &k->onboard;
    return c;
}

static Ledger__V1__Command *subscription(struct cmd *k, const char *subscription_id,
                                         Ledger__V1__Offer offer)
{
    Ledger__V1__Command *c = begin(k, LEDGER__V1__COMMAND__BODY_PURCHASE_SUBSCRIPTION);
    ledger__v1__purchase_subscription__init(&k->subscription);
    k->subscription.subscription_id = id(k, 0, subscription_id);
    k->subscription.offer = offer;
    c->purchase_subscription = &k->subscription;
    return c;
}

static Ledger__V1__Command *status(struct cmd *k, const char *subscription_id,
                                   Ledger__V1__SubscriptionStatus to)
{
    Ledger__V1__Command *c = begin(k, LEDGER__V1__COMMAND__BODY_SET_SUBSCRIPTION_STATUS);
    ledger__v1__set_subscription_status__init(&k->status);
    k->status.subscription_id = id(k, 0, subscription_id);
    k->status.status = to;
    c->set_subscription_status = &k->status;
    return c;
}

static Ledger__V1__Command *role(struct cmd *k, bool assign, const char *subscription_id,
                                 const char *user, Ledger__V1__AzureRole azure_role)
{
    Ledger__V1__Command *c = begin(k, assign ? LEDGER__V1__COMMAND__BODY_ASSIGN_ROLE
                                             : LEDGER__V1__COMMAND__BODY_REMOVE_ROLE);
    if (assign) {
        ledger__v1__assign_role__init(&k->assign);
        k->assign.subscription_id = id(k, 0, subscription_id);
        k->assign.user = id(k, 1, user);
        k->assign.role = azure_role;
        c->assign_role = &k->assign;
    } else {
        ledger__v1__remove_role__init(&k->remove);
        k->remove.subscription_id = id(k, 0, subscription_id);
        k->remove.user = id(k, 1, user);
        k->remove.role = azure_role;
        c->remove_role = &k->remove;
    }
    return c;
}

static Ledger__V1__Command *permission(struct cmd *k, bool grant, Ledger__V1__PermissionKind kind)
{
    Ledger__V1__Command *c = begin(k, grant ? LEDGER__V1__COMMAND__BODY_GRANT_PERMISSION
                                            : LEDGER__V1__COMMAND__BODY_REVOKE_PERMISSION);
    if (grant) {
        ledger__v1__grant_permission__init(&k->grant);
        k->grant.kind = kind;
        c->grant_permission = &k->grant;
    } else {
        ledger__v1__revoke_permission__init(&k->revoke);
        k->revoke.kind = kind;
        c->revoke_permission = &k->revoke;
    }
    return c;
}

/* A reservation purchase body (also the replacement of an exchange). */
static void fill_reservation(struct cmd *k, const char *subscription_id, const char *sku,
                             Ledger__V1__Term term, int64_t price_minor, const char *currency)
{
    Ledger__V1__PurchaseReservation *r = &k->reservation;
    ledger__v1__purchase_reservation__init(r);
    r->billing_subscription_id = id(k, 36, subscription_id);
    r->sku = id(k, 37, sku);
    r->region = id(k, 38, "westeurope");
    r->quantity = 2;
    r->term = term;
    /* Upfront: the whole price is paid, so every day still to run may be
     * refunded (monthly refunds: test_domain_monthly_refund). */
    r->billing_plan = LEDGER__V1__BILLING_PLAN__BILLING_PLAN_UPFRONT;
    r->scope = scope(k, LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SHARED, "");
    r->price = money(k, 4, price_minor, currency);
    r->retail_price = money(k, 5, price_minor + price_minor / 10, currency);
    r->auto_renew = false;
}

static Ledger__V1__Command *reservation(struct cmd *k, const char *subscription_id, const char *sku,
                                        Ledger__V1__Term term, int64_t price_minor,
                                        const char *currency)
{
    Ledger__V1__Command *c = begin(k, LEDGER__V1__COMMAND__BODY_PURCHASE_RESERVATION);
    fill_reservation(k, subscription_id, sku, term, price_minor, currency);
    c->purchase_reservation = &k->reservation;
    return c;
}

static Ledger__V1__Command *plain_reservation(struct cmd *k, int64_t price_minor)
{
    return reservation(k, "sub-1", "Standard_D2s_v5", LEDGER__V1__TERM__TERM_P1Y, price_minor,
                       "USD");
}

static Ledger__V1__Command *reservation_scope(struct cmd *k, const char *reservation_id,
                                              Ledger__V1__ScopeKind kind, const char *target)
{
    Ledger__V1__Command *c = begin(k, LEDGER__V1__COMMAND__BODY_CHANGE_RESERVATION_SCOPE);
    ledger__v1__change_reservation_scope__init(&k->reservation_scope);
    k->reservation_scope.reservation_id = id(k, 0, reservation_id);
    k->reservation_scope.scope = scope(k, kind, target);
    c->change_reservation_scope = &k->reservation_scope;
    return c;
}

static Ledger__V1__Command *reservation_renewal(struct cmd *k, const char *reservation_id, bool on)
{
    Ledger__V1__Command *c = begin(k, LEDGER__V1__COMMAND__BODY_SET_RESERVATION_RENEWAL);
    ledger__v1__set_reservation_renewal__init(&k->reservation_renewal);
    k->reservation_renewal.reservation_id = id(k, 0, reservation_id);
    k->reservation_renewal.auto_renew = on;
    c->set_reservation_renewal = &k->reservation_renewal;
    return c;
}

static Ledger__V1__Command *renew(struct cmd *k, const char *reservation_id, int64_t price_minor,
                                  const char *currency)
{
    Ledger__V1__Command *c = begin(k, LEDGER__V1__COMMAND__BODY_RENEW_RESERVATION);
    ledger__v1__renew_reservation__init(&k->renew);
    k->renew.reservation_id = id(k, 0, reservation_id);
    k->renew.price = money(k, 0, price_minor, currency);
    k->renew.retail_price = money(k, 1, price_minor * 2, currency);
    c->renew_reservation = &k->renew;
    return c;
}

static Ledger__V1__Command *exchange(struct cmd *k, const char *const *returned, size_t count,
                                     int64_t refund_minor, int64_t replacement_minor)
{
    Ledger__V1__Command *c = begin(k, LEDGER__V1__COMMAND__BODY_EXCHANGE_RESERVATION);
    ledger__v1__exchange_reservation__init(&k->exchange);
    for (size_t i = 0; i < count; i++)
        k->ids[i] = id(k, (int)i, returned[i]);
    k->exchange.n_reservation_ids = count;
    k->exchange.reservation_ids = k->ids;
    k->exchange.refund = money(k, 0, refund_minor, "USD");
    fill_reservation(k, "sub-1", "Standard_E4s_v5", LEDGER__V1__TERM__TERM_P3Y, replacement_minor,
                     "USD");
    k->replacements[0] = &k->reservation;
    k->exchange.n_replacements = 1;
    k->exchange.replacements = k->replacements;
    c->exchange_reservation = &k->exchange;
    return c;
}

/* Adds a replacement to the exchange k holds: a copy of the first one with
 * prices of its own. */
static Ledger__V1__PurchaseReservation *more_replacement(struct cmd *k, int64_t price_minor)
{
    size_t i = k->exchange.n_replacements;
    assert_true(i < LEDGER_EXCHANGE_REPLACEMENTS_MAX + 1);
    k->more[i] = k->reservation;
    Ledger__V1__Money *prices = k->more_prices[i];
    ledger__v1__money__init(&prices[0]);
    ledger__v1__money__init(&prices[1]);
    prices[0].amount_minor = price_minor;
    prices[0].currency = "USD";
    prices[1].amount_minor = price_minor + price_minor / 10;
    prices[1].currency = "USD";
    k->more[i].price = &prices[0];
    k->more[i].retail_price = &prices[1];
    k->replacements[i] = &k->more[i];
    k->exchange.n_replacements = i + 1;
    return &k->more[i];
}

static Ledger__V1__Command *cancel(struct cmd *k, const char *reservation_id, int64_t refund_minor,
                                   const char *currency, int64_t refund_usd_minor)
{
    Ledger__V1__Command *c = begin(k, LEDGER__V1__COMMAND__BODY_CANCEL_RESERVATION);
    ledger__v1__cancel_reservation__init(&k->cancel);
    k->cancel.reservation_id = id(k, 0, reservation_id);
    k->cancel.refund = money(k, 0, refund_minor, currency);
    if (refund_usd_minor >= 0)
        k->cancel.refund_usd = money(k, 1, refund_usd_minor, "USD");
    c->cancel_reservation = &k->cancel;
    return c;
}

static Ledger__V1__Command *expire(struct cmd *k, const char *reservation_id)
{
    Ledger__V1__Command *c = begin(k, LEDGER__V1__COMMAND__BODY_EXPIRE_RESERVATION);
    ledger__v1__expire_reservation__init(&k->expire);
    k->expire.reservation_id = id(k, 0, reservation_id);
    c->expire_reservation = &k->expire;
    return c;
}

static Ledger__V1__Command *savings_plan(struct cmd *k, const char *subscription_id,
                                         Ledger__V1__Term term, int64_t hourly_minor)
{
    Ledger__V1__Command *c = begin(k, LEDGER__V1__COMMAND__BODY_PURCHASE_SAVINGS_PLAN);
    Ledger__V1__PurchaseSavingsPlan *p = &k->savings_plan;
    ledger__v1__purchase_savings_plan__init(p);
    p->billing_subscription_id = id(k, 0, subscription_id);
    p->hourly_commitment = money(k, 0, hourly_minor, "USD");
    p->term = term;
    p->billing_plan = LEDGER__V1__BILLING_PLAN__BILLING_PLAN_MONTHLY;
    p->scope = scope(k, LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SINGLE, subscription_id);
    p->price = money(k, 1, hourly_minor * 8760, "USD");
    p->retail_price = money(k, 2, hourly_minor * 9000, "USD");
    p->auto_renew = true;
    c->purchase_savings_plan = p;
    return c;
}

static Ledger__V1__Command *plan_scope(struct cmd *k, const char *plan_id,
                                       Ledger__V1__ScopeKind kind, const char *target)
{
    Ledger__V1__Command *c = begin(k, LEDGER__V1__COMMAND__BODY_CHANGE_SAVINGS_PLAN_SCOPE);
    ledger__v1__change_savings_plan_scope__init(&k->plan_scope);
    k->plan_scope.savings_plan_id = id(k, 0, plan_id);
    k->plan_scope.scope = scope(k, kind, target);
    c->change_savings_plan_scope = &k->plan_scope;
    return c;
}

static Ledger__V1__Command *plan_renewal(struct cmd *k, const char *plan_id, bool on)
{
    Ledger__V1__Command *c = begin(k, LEDGER__V1__COMMAND__BODY_SET_SAVINGS_PLAN_RENEWAL);
    ledger__v1__set_savings_plan_renewal__init(&k->plan_renewal);
    k->plan_renewal.savings_plan_id = id(k, 0, plan_id);
    k->plan_renewal.auto_renew = on;
    c->set_savings_plan_renewal = &k->plan_renewal;
    return c;
}

static Ledger__V1__Command *plan_renew(struct cmd *k, const char *plan_id, int64_t price_minor,
                                       const char *currency)
{
    Ledger__V1__Command *c = begin(k, LEDGER__V1__COMMAND__BODY_RENEW_SAVINGS_PLAN);
    ledger__v1__renew_savings_plan__init(&k->plan_renew);
    k->plan_renew.savings_plan_id = id(k, 0, plan_id);
    k->plan_renew.price = money(k, 0, price_minor, currency);
    k->plan_renew.retail_price = money(k, 1, price_minor * 2, currency);
    c->renew_savings_plan = &k->plan_renew;
    return c;
}

static Ledger__V1__Command *plan_cancel(struct cmd *k, const char *plan_id)
{
    Ledger__V1__Command *c = begin(k, LEDGER__V1__COMMAND__BODY_CANCEL_SAVINGS_PLAN);
    ledger__v1__cancel_savings_plan__init(&k->plan_cancel);
    k->plan_cancel.savings_plan_id = id(k, 0, plan_id);
    c->cancel_savings_plan = &k->plan_cancel;
    return c;
}

static Ledger__V1__Command *visibility(struct cmd *k, bool visible)
{
    Ledger__V1__Command *c = begin(k, LEDGER__V1__COMMAND__BODY_SET_COST_VISIBILITY);
    ledger__v1__set_cost_visibility__init(&k->visibility);
    k->visibility.retail_prices_visible = visible;
    c->set_cost_visibility = &k->visibility;
    return c;
}

static Ledger__V1__Command *add_partner(struct cmd *k, const char *partner_id, const char *name)
{
    Ledger__V1__Command *c = begin(k, LEDGER__V1__COMMAND__BODY_ADD_PARTNER);
    c->partner_id = "";
    c->customer_id = "";
    ledger__v1__add_partner__init(&k->add_partner);
    k->add_partner.partner_id = id(k, 0, partner_id);
    k->add_partner.name = id(k, 1, name);
    c->add_partner = &k->add_partner;
    return c;
}

static Ledger__V1__Command *add_principal(struct cmd *k, const char *principal_id,
                                          Ledger__V1__Role principal_role, const char *partner_id,
                                          const char *customer_id, const char *user)
{
    Ledger__V1__Command *c = begin(k, LEDGER__V1__COMMAND__BODY_ADD_PRINCIPAL);
    c->partner_id = "";
    c->customer_id = "";
    ledger__v1__add_principal__init(&k->add_principal);
    k->add_principal.principal_id = id(k, 0, principal_id);
    k->add_principal.role = principal_role;
    k->add_principal.partner_id = id(k, 1, partner_id);
    k->add_principal.customer_id = id(k, 2, customer_id);
    k->add_principal.user = id(k, 3, user);
    c->add_principal = &k->add_principal;
    return c;
}

/* A command of principals: no partner or customer in the envelope. */
static Ledger__V1__Command *principal_command(struct cmd *k, Ledger__V1__Command__BodyCase body)
{
    Ledger__V1__Command *c = begin(k, body);
    c->partner_id = "";
    c->customer_id = "";
    return c;
}

static Ledger__V1__Command *revoke_principal(struct cmd *k, const char *principal_id)
{
    Ledger__V1__Command *c = principal_command(k, LEDGER__V1__COMMAND__BODY_REVOKE_PRINCIPAL);
    ledger__v1__revoke_principal__init(&k->revoke_principal);
    k->revoke_principal.principal_id = id(k, 0, principal_id);
    c->revoke_principal = &k->revoke_principal;
    return c;
}

static Ledger__V1__Command *rotate_secret(struct cmd *k, const char *principal_id)
{
    Ledger__V1__Command *c =
        principal_command(k, LEDGER__V1__COMMAND__BODY_ROTATE_PRINCIPAL_SECRET);
    ledger__v1__rotate_principal_secret__init(&k->rotate_principal_secret);
    k->rotate_principal_secret.principal_id = id(k, 0, principal_id);
    c->rotate_principal_secret = &k->rotate_principal_secret;
    return c;
}

/* ---- deciding ------------------------------------------------------------- */

static enum ledger_err decide(const struct domain_principal *principal,
                              const Ledger__V1__Command *command)
{
    struct domain_input input = {
        .principal = principal,
        .command = command,
        .partner_id = domain_command_partner_id(principal, command),
        .partner_exists = W->partner_exists,
        .customer = domain_command_is_customer(command->body_case) ? W->customer : NULL,
        .principal_exists = W->principal_exists,
        .principal_revoked = W->principal_revoked,
        .principal_partner_id = W->principal_partner_id,
        .principal_customer_onboarded = W->principal_customer_onboarded,
        .subscription_holder_customer_id = W->subscription_holder_customer_id,
        .subscription_holder_sequence = W->subscription_holder_sequence,
        .cloud_order_held_id = W->cloud_order_held_id,
        .cloud_order_holder_customer_id = W->cloud_order_holder_customer_id,
        .cloud_order_holder_sequence = W->cloud_order_holder_sequence,
        .now_us = W->now_us,
        .sequence = W->sequence,
        .command_hash = W->hash,
    };
    return domain_decide(&input, &W->out);
}

/* The event of the last decision as the log holds it: packed and unpacked
 * (codec_event_free it). */
static Ledger__V1__Event *decided_event(void)
{
    uint8_t *bytes = NULL;
    size_t size = 0;
    assert_int_equal(LEDGER_ERR_OK, codec_pack(&W->out.event.base, &bytes, &size));
    Ledger__V1__Event *event = NULL;
    assert_int_equal(LEDGER_ERR_OK, codec_event_unpack(bytes, size, &event));
    free(bytes);
    return event;
}

/* Decides, and on success records as the engine does: pack, unpack, evolve.
 * Returns the event's sequence. */
static uint64_t accept(const struct domain_principal *principal, const Ledger__V1__Command *command)
{
    enum ledger_err err = decide(principal, command);
    if (err != LEDGER_ERR_OK)
        fail_msg("%s by %s refused: %s: %s", codec_command_type_name(command->body_case),
                 principal->id, ledger_err_name(err), W->out.message);
    assert_int_equal(W->sequence, W->out.event.sequence);
    if (W->record_undated)
        W->out.event.business_us = 0;
    Ledger__V1__Event *event = decided_event();
    if (domain_command_is_customer(command->body_case)) {
        uint64_t version = W->customer->version;
        err = domain_customer_evolve(W->customer, event);
        if (err != LEDGER_ERR_OK)
            fail_msg("evolve of %s: %s", codec_event_type_name(event->body_case),
                     ledger_err_name(err));
        assert_int_equal(version + 1, W->customer->version);
    }
    codec_event_free(event);
    return W->sequence++;
}

/* Decides and asserts the refusal: its code, a message, no event, no change. */
static void refuse_as(const struct domain_principal *principal, const Ledger__V1__Command *command,
                      enum ledger_err expected)
{
    uint64_t version = W->customer->version;
    enum ledger_err err = decide(principal, command);
    if (err != expected)
        fail_msg("%s by %s: expected %s, got %s: %s", codec_command_type_name(command->body_case),
                 principal->id, ledger_err_name(expected), ledger_err_name(err), W->out.message);
    assert_int_equal(LEDGER__V1__EVENT__BODY__NOT_SET, W->out.event.body_case);
    assert_int_equal(0, W->out.event.sequence);
    assert_null(W->out.event.actor);
    assert_true(strlen(W->out.message) > 10);
    assert_int_equal(version, W->customer->version);
}

static const char *seq_id(const char *prefix, uint64_t sequence)
{
    static char texts[8][32];
    static unsigned next;
    char *text = texts[next++ % 8];
    snprintf(text, sizeof texts[0], "%s-%llu", prefix, (unsigned long long)sequence);
    return text;
}

/* When the usual customer was onboarded: long before T0, so that tests may
 * date its commands back (no command is dated before the onboarding). */
#define ONBOARDED_US (T0 - 20 * YEAR_US)

/* Onboards c1 dated ONBOARDED_US. */
static void onboard_early(const char *name)
{
    struct cmd k;
    Ledger__V1__Command *c = onboard(&k, name);
    c->business_us = ONBOARDED_US;
    accept(&ADMIN, c);
}

/* The usual start: customer c1 with an Azure plan (sub-1), an Azure Global
 * (sub-g) and an "other" subscription (sub-o). */
static void standard_customer(void)
{
    struct cmd k;
    onboard_early("Contoso Ltd");
    accept(&ADMIN, subscription(&k, "sub-1", LEDGER__V1__OFFER__OFFER_AZURE_PLAN));
    accept(&ADMIN, subscription(&k, "sub-g", LEDGER__V1__OFFER__OFFER_AZURE_GLOBAL));
    accept(&ADMIN, subscription(&k, "sub-o", LEDGER__V1__OFFER__OFFER_OTHER));
}

/* The standard customer whose user alice holds Owner on sub-1, with the
 * savings-plans permission on: alice may buy savings plans billed to it. */
static void savings_plan_buyer(void)
{
    struct cmd k;
    standard_customer();
    accept(&ADMIN, role(&k, true, "sub-1", "alice", LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER));
    accept(&ADMIN,
           permission(&k, true, LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_SAVINGS_PLANS));
}

static const char *buy_reservation(int64_t price_minor)
{
    struct cmd k;
    return seq_id("res", accept(&ADMIN, plain_reservation(&k, price_minor)));
}

/* An upfront reservation of sub-1 bought by the admin agent: its id. */
static const char *buy_upfront(Ledger__V1__Term term, int64_t price_minor, const char *currency)
{
    struct cmd k;
    return seq_id("res", accept(&ADMIN, reservation(&k, "sub-1", "Standard_D2s_v5", term,
                                                    price_minor, currency)));
}

/* `count` monthly-billed reservations of sub-1 bought by the admin agent,
 * priced in USD, their ids into ids[]; the last one set to renew when
 * `renew_last`, or priced in `last_currency` when not NULL. */
static void buy_monthly(char (*ids)[32], size_t count, Ledger__V1__Term term, int64_t price_minor,
                        bool renew_last, const char *last_currency)
{
    for (size_t i = 0; i < count; i++) {
        struct cmd k;
        bool last = i + 1 == count;
        Ledger__V1__Command *c = reservation(&k, "sub-1", "Standard_D2s_v5", term, price_minor,
                                             last && last_currency != NULL ? last_currency : "USD");
        c->purchase_reservation->billing_plan = LEDGER__V1__BILLING_PLAN__BILLING_PLAN_MONTHLY;
        c->purchase_reservation->auto_renew = renew_last && last;
        snprintf(ids[i], sizeof ids[i], "%s", seq_id("res", accept(&ADMIN, c)));
    }
}

/* A P1Y savings plan of sub-1 bought by the admin agent, auto-renew on. */
static const char *buy_savings_plan(int64_t hourly_minor)
{
    struct cmd k;
    return seq_id(
        "sp", accept(&ADMIN, savings_plan(&k, "sub-1", LEDGER__V1__TERM__TERM_P1Y, hourly_minor)));
}

/* ---- envelope ------------------------------------------------------------- */

static void test_domain_envelope(void **state)
{
    (void)state;
    struct cmd k;
    Ledger__V1__Command *c = onboard(&k, "Contoso Ltd");
    c->correlation_id = "corr-42";
    W->sequence = 77;
    W->now_us = T0 + 5;
    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, c));
    const Ledger__V1__Event *e = &W->out.event;
    assert_int_equal(77, e->sequence);
    assert_string_equal("p1", e->partner_id);
    assert_string_equal("c1", e->customer_id);
    assert_string_equal("admin-1", e->actor->principal_id);
    assert_int_equal(LEDGER__V1__ROLE__ROLE_ADMIN_AGENT, e->actor->role);
    assert_string_equal("", e->actor->user);
    assert_true(e->recorded_us == T0 + 5);
    assert_true(e->business_us == T0 + 5); /* 0 in the command: the recorded time */
    assert_string_equal(k.command_id, e->command_id);
    assert_string_equal("corr-42", e->correlation_id);
    assert_int_equal(LEDGER_SCHEMA_VERSION, e->schema_version);
    assert_int_equal(1, e->stream_version);
    assert_int_equal(32, e->command_hash.len);
    assert_memory_equal(W->hash, e->command_hash.data, 32);
    assert_int_equal(LEDGER__V1__EVENT__BODY_CUSTOMER_ONBOARDED, e->body_case);
    assert_string_equal("Contoso Ltd", e->customer_onboarded->name);
    accept(&ADMIN, c);

    /* A customer user's actor carries its user name; business time as given. */
    W->now_us = T0 + DAY_US;
    c = subscription(&k, "sub-1", LEDGER__V1__OFFER__OFFER_AZURE_PLAN);
    c->business_us = T0 + HOUR_US;
    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, c));
    assert_true(W->out.event.business_us == T0 + HOUR_US);
    assert_int_equal(2, W->out.event.stream_version);

    /* The latest time the ledger records is a clock's reading and a
     * business time like any other. */
    W->now_us = LEDGER_TIME_US_MAX;
    c->business_us = LEDGER_TIME_US_MAX;
    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, c));
    assert_true(W->out.event.business_us == LEDGER_TIME_US_MAX);
    assert_true(W->out.event.recorded_us == LEDGER_TIME_US_MAX);
}

static void test_domain_envelope_refusals(void **state)
{
    (void)state;
    struct cmd k;
    Ledger__V1__Command *c = onboard(&k, "Contoso");
    c->command_id = "";
    refuse_as(&ADMIN, c, LEDGER_ERR_INVALID_ARGUMENT);
    c->command_id = "bad id";
    refuse_as(&ADMIN, c, LEDGER_ERR_INVALID_ARGUMENT);
    c = onboard(&k, "Contoso");
    c->correlation_id = "bad/corr";
    refuse_as(&ADMIN, c, LEDGER_ERR_INVALID_ARGUMENT);
    c = onboard(&k, "Contoso");
    c->business_us = -1;
    refuse_as(&ADMIN, c, LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "business_us -1 (out of range)"));
    /* No later than five minutes past the ledger's clock; the message shows
     * the times as people read them. */
    c->business_us = W->now_us + LEDGER_BUSINESS_FUTURE_US + 1;
    refuse_as(&ADMIN, c, LEDGER_ERR_INVALID_ARGUMENT);
    char expected[128];
    time_t latest = (time_t)((W->now_us + LEDGER_BUSINESS_FUTURE_US) / 1000000);
    struct tm tm;
    gmtime_r(&latest, &tm);
    strftime(expected, sizeof expected, "no later than %Y-%m-%dT%H:%M:%SZ", &tm);
    assert_non_null(strstr(W->out.message, expected));
    assert_non_null(strstr(W->out.message, "plus 300 s"));
    c->business_us = W->now_us + LEDGER_BUSINESS_FUTURE_US;
    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, c));
    c = onboard(&k, "Contoso");
    c->customer_id = "";
    refuse_as(&ADMIN, c, LEDGER_ERR_INVALID_ARGUMENT);
    c->customer_id = "c 1";
    refuse_as(&ADMIN, c, LEDGER_ERR_INVALID_ARGUMENT);
    c = onboard(&k, "Contoso");
    c->partner_id = "p/1";
    refuse_as(&ADMIN, c, LEDGER_ERR_INVALID_ARGUMENT);
    /* Unknown or missing bodies. */
    c = onboard(&k, "Contoso");
    c->body_case = LEDGER__V1__COMMAND__BODY__NOT_SET;
    refuse_as(&ADMIN, c, LEDGER_ERR_UNKNOWN_MESSAGE);
    c->body_case = (Ledger__V1__Command__BodyCase)99;
    refuse_as(&ADMIN, c, LEDGER_ERR_UNKNOWN_MESSAGE);
    c = onboard(&k, "Contoso");
    c->onboard_customer = NULL;
    refuse_as(&ADMIN, c, LEDGER_ERR_INVALID_ARGUMENT);
    /* A principal without a role may do nothing. */
    refuse_as(&ROLELESS, onboard(&k, "Contoso"), LEDGER_ERR_FORBIDDEN);
}

static void test_domain_refusal_clears_output(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    /* A decision that got far (ids drawn) before being refused leaves no event. */
    Ledger__V1__Command *c = plain_reservation(&k, 1000);
    c->purchase_reservation->scope->kind = LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SINGLE;
    c->purchase_reservation->scope->target = "sub-none";
    refuse_as(&ADMIN, c, LEDGER_ERR_INVALID_SCOPE);
    assert_null(W->out.event.reservation_purchased);
    assert_string_equal("", W->out.event.partner_id);
    /* Deciding the same input twice gives the same bytes. */
    c = plain_reservation(&k, 1000);
    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, c));
    uint8_t *first = NULL, *second = NULL;
    size_t first_size = 0, second_size = 0;
    assert_int_equal(LEDGER_ERR_OK, codec_pack(&W->out.event.base, &first, &first_size));
    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, c));
    assert_int_equal(LEDGER_ERR_OK, codec_pack(&W->out.event.base, &second, &second_size));
    assert_int_equal(first_size, second_size);
    assert_memory_equal(first, second, first_size);
    free(first);
    free(second);
}

/* ---- onboarding, partners, principals -------------------------------------- */

static void test_domain_onboard_customer(void **state)
{
    (void)state;
    struct cmd k;
    refuse_as(&SALES, onboard(&k, "Contoso"), LEDGER_ERR_FORBIDDEN);
    /* The command in words, then as sent. */
    assert_non_null(
        strstr(W->out.message, "role sales-agent may not onboard customer (onboard_customer)"));
    refuse_as(&HELPDESK, onboard(&k, "Contoso"), LEDGER_ERR_FORBIDDEN);
    refuse_as(&OPERATOR, onboard(&k, "Contoso"), LEDGER_ERR_FORBIDDEN);
    refuse_as(&ALICE, onboard(&k, "Contoso"), LEDGER_ERR_FORBIDDEN);
    refuse_as(&ADMIN, onboard(&k, ""), LEDGER_ERR_INVALID_ARGUMENT);
    refuse_as(&ADMIN, onboard(&k, "bad\nname"), LEDGER_ERR_INVALID_ARGUMENT);
    W->partner_exists = false;
    refuse_as(&ADMIN, onboard(&k, "Contoso"), LEDGER_ERR_PARTNER_NOT_FOUND);
    W->partner_exists = true;
    /* Commands for a customer never onboarded: the message says what to do. */
    refuse_as(&ADMIN, subscription(&k, "sub-1", LEDGER__V1__OFFER__OFFER_AZURE_PLAN),
              LEDGER_ERR_CUSTOMER_NOT_FOUND);
    assert_string_equal(W->out.message,
                        "customer c1 of partner p1 was never onboarded: check the customer id, or "
                        "onboard the customer first (ledgerctl customer add)");
    refuse_as(&ADMIN, plain_reservation(&k, 100), LEDGER_ERR_CUSTOMER_NOT_FOUND);
    accept(&ADMIN, onboard(&k, "Contoso Ltd"));
    assert_true(W->customer->onboarded);
    assert_string_equal("Contoso Ltd", W->customer->name);
    refuse_as(&ADMIN, onboard(&k, "Contoso again"), LEDGER_ERR_CUSTOMER_EXISTS);
}

/* No command of a customer is dated before its onboarding: "what was true
 * on a date" before then would hold subscriptions, roles, grants and
 * purchases of a customer that did not exist yet. Dated exactly then is
 * allowed. The rule is the decision's: an event dated before the onboarding,
 * as a log written before the rule may hold, still evolves the state. */
static void test_domain_nothing_before_onboarding(void **state)
{
    (void)state;
    struct cmd k;
    const int64_t onboarded_us = T0 - 30 * DAY_US;
    const Ledger__V1__PermissionKind R = LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_RESERVATIONS;
    Ledger__V1__Command *c = onboard(&k, "Contoso Ltd");
    c->business_us = onboarded_us;
    accept(&ADMIN, c);
    assert_true(W->customer->onboarded_us == onboarded_us);

    c = subscription(&k, "sub-1", LEDGER__V1__OFFER__OFFER_AZURE_PLAN);
    c->business_us = onboarded_us - 1;
    refuse_as(&ADMIN, c, LEDGER_ERR_CUSTOMER_NOT_FOUND);
    assert_non_null(strstr(W->out.message,
                           "customer c1 of partner p1 was onboarded 2024-12-02T00:00:00Z: a "
                           "command dated 2024-12-01T23:59:59.999999Z, before then, acts on a "
                           "customer that did not exist yet; date it at or after that"));
    c->business_us = onboarded_us;
    accept(&ADMIN, c);
    /* Each kind of command, dated a year before the onboarding, then at it
     * (a status change to suspended is only refused: sub-1 stays active). */
    struct cmd kinds[7];
    struct {
        const struct domain_principal *principal;
        Ledger__V1__Command *command;
        bool then_accepted;
    } cases[] = {
        {&ADMIN, role(&kinds[0], true, "sub-1", "alice", LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER),
         true},
        {&ADMIN, permission(&kinds[1], true, R), true},
        {&ADMIN, plain_reservation(&kinds[2], 1000), false},
        {&ADMIN, savings_plan(&kinds[3], "sub-1", LEDGER__V1__TERM__TERM_P1Y, 100), false},
        {&ADMIN,
         status(&kinds[4], "sub-1", LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_SUSPENDED),
         false},
        {&ADMIN, visibility(&kinds[5], true), true},
        {&ALICE, plain_reservation(&kinds[6], 1000), true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cases[i].command->business_us = onboarded_us - YEAR_US;
        refuse_as(cases[i].principal, cases[i].command, LEDGER_ERR_CUSTOMER_NOT_FOUND);
        assert_non_null(strstr(W->out.message, "was onboarded 2024-12-02T00:00:00Z"));
        cases[i].command->business_us = onboarded_us;
        if (cases[i].then_accepted)
            accept(cases[i].principal, cases[i].command);
    }
    assert_int_equal(1, W->customer->reservation_count);
    assert_true(W->customer->retail_prices_visible);

    /* Replay: a log written before this rule may hold events dated before
     * their customer's onboarding (here a subscription and a reservation
     * bought two years before it). Evolve decides nothing and takes them.
     * The expiry of such a reservation, dated at the end of its term and so
     * before the onboarding, is still recorded: it follows from a
     * reservation already in the log, and the schedule, which dates it so,
     * would otherwise be refused at every sweep. */
    struct domain_customer *early = W->customer;
    struct domain_customer *late = domain_customer_new("p1", "c1");
    assert_non_null(late);
    W->customer = late;
    accept(&ADMIN, onboard(&k, "Contoso Ltd")); /* at T0 */
    W->customer = domain_customer_new("p1", "c1");
    assert_non_null(W->customer);
    const int64_t legacy_us = T0 - 2 * YEAR_US;
    c = onboard(&k, "Contoso Ltd");
    c->business_us = legacy_us;
    accept(&ADMIN, c);
    Ledger__V1__Command *legacy[] = {
        subscription(&kinds[0], "sub-1", LEDGER__V1__OFFER__OFFER_AZURE_PLAN),
        plain_reservation(&kinds[1], 1000),
    };
    for (size_t i = 0; i < sizeof legacy / sizeof legacy[0]; i++) {
        legacy[i]->business_us = legacy_us;
        assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, legacy[i]));
        Ledger__V1__Event *event = decided_event();
        assert_int_equal(LEDGER_ERR_OK, domain_customer_evolve(W->customer, event));
        assert_int_equal(LEDGER_ERR_OK, domain_customer_evolve(late, event));
        codec_event_free(event);
        W->sequence++;
    }
    domain_customer_free(W->customer);
    W->customer = late;
    assert_true(late->subscriptions[0].purchased_us == legacy_us);
    assert_true(late->reservations[0].bought_us == legacy_us);
    c = plain_reservation(&k, 1000);
    c->business_us = legacy_us;
    refuse_as(&ADMIN, c, LEDGER_ERR_CUSTOMER_NOT_FOUND);
    c = expire(&k, late->reservations[0].id);
    c->business_us = late->reservations[0].expires_us;
    accept(&SYSTEM, c);
    assert_int_equal(LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_EXPIRED,
                     late->reservations[0].state);
    W->customer = early;
    domain_customer_free(late);
}

/* Every command on a customer but the onboarding needs its partner
 * registered and the customer onboarded, whatever else the customer's state
 * would allow: the existence checks come before the rules. */
static void test_domain_customer_commands_need_partner_and_customer(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    const Ledger__V1__PermissionKind R = LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_RESERVATIONS;
    const Ledger__V1__PermissionKind SP =
        LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_SAVINGS_PLANS;
    accept(&ADMIN, role(&k, true, "sub-1", "alice", LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER));
    accept(&ADMIN, permission(&k, true, SP));
    char rid[32], plan[32];
    snprintf(rid, sizeof rid, "%s", buy_reservation(1000));
    accept(&ADMIN, reservation_renewal(&k, rid, true));
    snprintf(
        plan, sizeof plan, "%s",
        seq_id("sp", accept(&ADMIN, savings_plan(&k, "sub-1", LEDGER__V1__TERM__TERM_P1Y, 100))));
    const char *returned[] = {rid};
    for (int missing = 0; missing < 2; missing++) {
        enum ledger_err expected =
            missing == 0 ? LEDGER_ERR_PARTNER_NOT_FOUND : LEDGER_ERR_CUSTOMER_NOT_FOUND;
        W->partner_exists = missing != 0;
        W->customer->onboarded = missing == 0;
        refuse_as(&ADMIN, subscription(&k, "sub-9", LEDGER__V1__OFFER__OFFER_AZURE_PLAN), expected);
        refuse_as(
            &ADMIN,
            status(&k, "sub-g", LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_SUSPENDED),
            expected);
        refuse_as(&ADMIN, role(&k, true, "sub-1", "bob", LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER),
                  expected);
        refuse_as(&ADMIN,
                  role(&k, false, "sub-1", "alice", LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER),
                  expected);
        refuse_as(&ADMIN, permission(&k, true, R), expected);
        refuse_as(&ADMIN, permission(&k, false, SP), expected);
        refuse_as(&ADMIN, plain_reservation(&k, 1000), expected);
        refuse_as(&ADMIN,
                  reservation_scope(&k, rid, LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SINGLE, "sub-1"),
                  expected);
        refuse_as(&ADMIN, reservation_renewal(&k, rid, false), expected);
        refuse_as(&ADMIN, renew(&k, rid, 1000, "USD"), expected);
        refuse_as(&ADMIN, exchange(&k, returned, 1, 0, 5000), expected);
        refuse_as(&ADMIN, cancel(&k, rid, 0, "USD", -1), expected);
        refuse_as(&ADMIN, savings_plan(&k, "sub-1", LEDGER__V1__TERM__TERM_P1Y, 100), expected);
        refuse_as(&ADMIN, plan_scope(&k, plan, LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SHARED, ""),
                  expected);
        refuse_as(&ADMIN, plan_renewal(&k, plan, false), expected);
        refuse_as(&ADMIN, plan_cancel(&k, plan), expected);
        refuse_as(&ADMIN, visibility(&k, true), expected);
    }
    /* With both, each of them is decided on the customer's state. */
    W->partner_exists = true;
    W->customer->onboarded = true;
    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, exchange(&k, returned, 1, 0, 5000)));
    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, renew(&k, rid, 1000, "USD")));
    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, visibility(&k, true)));
}

static void test_domain_partner_scope(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    /* Partner staff of another partner. */
    refuse_as(&ADMIN_OF_P2, plain_reservation(&k, 100), LEDGER_ERR_PARTNER_MISMATCH);
    assert_non_null(strstr(W->out.message,
                           "principal admin-2 belongs to partner p2, not p1: leave out the "
                           "partner (--partner), or give p2"));
    refuse_as(&ADMIN_OF_NONE, plain_reservation(&k, 100), LEDGER_ERR_PARTNER_MISMATCH);
    /* Customer users of another customer or partner. */
    refuse_as(&CAROL_OF_C2, plain_reservation(&k, 100), LEDGER_ERR_PARTNER_MISMATCH);
    refuse_as(&DAVE_OF_P2, plain_reservation(&k, 100), LEDGER_ERR_PARTNER_MISMATCH);
    /* A customer user's own customer is the default. */
    Ledger__V1__Command *c = plain_reservation(&k, 100);
    c->customer_id = "";
    c->partner_id = "";
    refuse_as(&ALICE, c, LEDGER_ERR_PERMISSION_OFF);
}

static void test_domain_add_partner(void **state)
{
    (void)state;
    struct cmd k;
    W->partner_exists = false;
    uint64_t seq = accept(&OPERATOR, add_partner(&k, "p9", "Fabrikam Reseller"));
    (void)seq;
    assert_int_equal(LEDGER_ERR_OK, decide(&OPERATOR, add_partner(&k, "p9", "Fabrikam")));
    assert_int_equal(LEDGER__V1__EVENT__BODY_PARTNER_REGISTERED, W->out.event.body_case);
    assert_string_equal("p9", W->out.event.partner_id);
    assert_string_equal("", W->out.event.customer_id);
    assert_int_equal(0, W->out.event.stream_version);
    assert_string_equal("Fabrikam", W->out.event.partner_registered->name);
    W->partner_exists = true;
    refuse_as(&OPERATOR, add_partner(&k, "p9", "Fabrikam"), LEDGER_ERR_PARTNER_EXISTS);
    W->partner_exists = false;
    refuse_as(&ADMIN, add_partner(&k, "p9", "Fabrikam"), LEDGER_ERR_FORBIDDEN);
    refuse_as(&AUDITOR, add_partner(&k, "p9", "Fabrikam"), LEDGER_ERR_FORBIDDEN);
    refuse_as(&OPERATOR, add_partner(&k, "p 9", "Fabrikam"), LEDGER_ERR_INVALID_ARGUMENT);
    refuse_as(&OPERATOR, add_partner(&k, "p9", ""), LEDGER_ERR_INVALID_ARGUMENT);
    /* The engine must pass the new partner as the one acted on. */
    Ledger__V1__Command *c = add_partner(&k, "p9", "Fabrikam");
    struct domain_input input = {.principal = &OPERATOR,
                                 .command = c,
                                 .partner_id = "p8",
                                 .now_us = T0,
                                 .sequence = 1,
                                 .command_hash = W->hash};
    assert_int_equal(LEDGER_ERR_INVALID_ARGUMENT, domain_decide(&input, &W->out));
    assert_int_equal(LEDGER__V1__EVENT__BODY__NOT_SET, W->out.event.body_case);
    /* The envelope names the partner acted on: another one in the body is
     * refused, the same one (or none in the envelope) accepted. */
    c = add_partner(&k, "p9", "Fabrikam");
    c->partner_id = "p8";
    assert_string_equal("p8", domain_command_partner_id(&OPERATOR, c));
    refuse_as(&OPERATOR, c, LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "add_partner names 'p9'"));
    c->partner_id = "p9";
    assert_int_equal(LEDGER_ERR_OK, decide(&OPERATOR, c));
    c->partner_id = "";
    assert_string_equal("p9", domain_command_partner_id(&OPERATOR, c));
    /* AddPrincipal likewise. */
    c = add_principal(&k, "admin-9", LEDGER__V1__ROLE__ROLE_ADMIN_AGENT, "p9", "", "");
    c->partner_id = "p1";
    refuse_as(&OPERATOR, c, LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "add_principal names 'p9'"));
}

static void test_domain_principals(void **state)
{
    (void)state;
    struct cmd k;
    accept(&OPERATOR,
           add_principal(&k, "admin-7", LEDGER__V1__ROLE__ROLE_ADMIN_AGENT, "p1", "", ""));
    /* A customer user of a customer never onboarded: the id is checked. */
    refuse_as(&OPERATOR,
              add_principal(&k, "u-7", LEDGER__V1__ROLE__ROLE_CUSTOMER_USER, "p1", "c1", "erin"),
              LEDGER_ERR_CUSTOMER_NOT_FOUND);
    assert_non_null(strstr(W->out.message, "customer c1 of partner p1 was never onboarded: check "
                                           "the customer id, or onboard the customer first"));
    W->principal_customer_onboarded = true;
    assert_int_equal(
        LEDGER_ERR_OK,
        decide(&OPERATOR,
               add_principal(&k, "u-7", LEDGER__V1__ROLE__ROLE_CUSTOMER_USER, "p1", "c1", "erin")));
    const Ledger__V1__PrincipalAdded *added = W->out.event.principal_added;
    assert_string_equal("u-7", added->principal_id);
    assert_int_equal(LEDGER__V1__ROLE__ROLE_CUSTOMER_USER, added->role);
    assert_string_equal("c1", added->customer_id);
    assert_string_equal("erin", added->user);
    assert_string_equal("p1", W->out.event.partner_id);
    /* All-partner auditors need no partner. */
    W->partner_exists = false;
    assert_int_equal(LEDGER_ERR_OK,
                     decide(&OPERATOR, add_principal(&k, "audit-all",
                                                     LEDGER__V1__ROLE__ROLE_AUDITOR, "", "", "")));
    assert_string_equal("", W->out.event.partner_id);
    /* Recorded under no partner, whatever partner the envelope names. */
    Ledger__V1__Command *enveloped =
        add_principal(&k, "audit-all", LEDGER__V1__ROLE__ROLE_AUDITOR, "", "", "");
    enveloped->partner_id = (char *)"p1";
    assert_int_equal(LEDGER_ERR_OK, decide(&OPERATOR, enveloped));
    assert_string_equal("", W->out.event.partner_id);
    refuse_as(&OPERATOR,
              add_principal(&k, "admin-8", LEDGER__V1__ROLE__ROLE_ADMIN_AGENT, "p1", "", ""),
              LEDGER_ERR_PARTNER_NOT_FOUND);
    W->partner_exists = true;
    refuse_as(&ADMIN,
              add_principal(&k, "admin-8", LEDGER__V1__ROLE__ROLE_ADMIN_AGENT, "p1", "", ""),
              LEDGER_ERR_FORBIDDEN);
    refuse_as(&OPERATOR,
              add_principal(&k, "admin-8", LEDGER__V1__ROLE__ROLE_ADMIN_AGENT, "", "", ""),
              LEDGER_ERR_INVALID_ARGUMENT);
    refuse_as(&OPERATOR, add_principal(&k, "op-2", LEDGER__V1__ROLE__ROLE_OPERATOR, "p1", "", ""),
              LEDGER_ERR_INVALID_ARGUMENT);
    refuse_as(&OPERATOR, add_principal(&k, "sys", LEDGER__V1__ROLE__ROLE_SYSTEM, "", "", ""),
              LEDGER_ERR_INVALID_ARGUMENT);
    refuse_as(&OPERATOR, add_principal(&k, "x", LEDGER__V1__ROLE__ROLE_UNSPECIFIED, "p1", "", ""),
              LEDGER_ERR_INVALID_ARGUMENT);
    refuse_as(&OPERATOR, add_principal(&k, "x", (Ledger__V1__Role)40, "p1", "", ""),
              LEDGER_ERR_UNKNOWN_MESSAGE);
    refuse_as(&OPERATOR,
              add_principal(&k, "u-8", LEDGER__V1__ROLE__ROLE_CUSTOMER_USER, "p1", "", "frank"),
              LEDGER_ERR_INVALID_ARGUMENT);
    refuse_as(&OPERATOR,
              add_principal(&k, "u-8", LEDGER__V1__ROLE__ROLE_CUSTOMER_USER, "p1", "c1", ""),
              LEDGER_ERR_INVALID_ARGUMENT);
    refuse_as(&OPERATOR,
              add_principal(&k, "s-8", LEDGER__V1__ROLE__ROLE_SALES_AGENT, "p1", "c1", "x"),
              LEDGER_ERR_INVALID_ARGUMENT);
    /* Either of them alone is refused too. */
    refuse_as(&OPERATOR,
              add_principal(&k, "s-8", LEDGER__V1__ROLE__ROLE_SALES_AGENT, "p1", "c1", ""),
              LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "are for customer users only"));
    refuse_as(&OPERATOR, add_principal(&k, "a-8", LEDGER__V1__ROLE__ROLE_AUDITOR, "p1", "", "x"),
              LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "are for customer users only"));
    refuse_as(&OPERATOR,
              add_principal(&k, "bad id", LEDGER__V1__ROLE__ROLE_SALES_AGENT, "p1", "", ""),
              LEDGER_ERR_INVALID_ARGUMENT);
    /* So are a partner, customer or user that is no id, each named. */
    refuse_as(&OPERATOR,
              add_principal(&k, "s-9", LEDGER__V1__ROLE__ROLE_SALES_AGENT, "p 1", "", ""),
              LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "add_principal.partner_id"));
    refuse_as(&OPERATOR,
              add_principal(&k, "u-9", LEDGER__V1__ROLE__ROLE_CUSTOMER_USER, "p1", "c 1", "gina"),
              LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "add_principal.customer_id"));
    refuse_as(&OPERATOR,
              add_principal(&k, "u-9", LEDGER__V1__ROLE__ROLE_CUSTOMER_USER, "p1", "c1", "gi na"),
              LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "add_principal.user"));
    /* The ledger's own principals' names are reserved. */
    refuse_as(&OPERATOR,
              add_principal(&k, DOMAIN_SYSTEM_PRINCIPAL_ID, LEDGER__V1__ROLE__ROLE_ADMIN_AGENT,
                            "p1", "", ""),
              LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "nor begin with 'ledger:'"));
    refuse_as(
        &OPERATOR,
        add_principal(&k, DOMAIN_INIT_PRINCIPAL_ID, LEDGER__V1__ROLE__ROLE_OPERATOR, "", "", ""),
        LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "may not be 'ledgerd-init'"));
    W->principal_exists = true;
    refuse_as(&OPERATOR,
              add_principal(&k, "admin-7", LEDGER__V1__ROLE__ROLE_ADMIN_AGENT, "p1", "", ""),
              LEDGER_ERR_PRINCIPAL_EXISTS);
    /* Revocation, recorded under the revoked principal's partner (whose
     * auditors and activity log follow its principals), whatever partner the
     * operator's envelope names; naming another is refused. */
    W->principal_partner_id = "p1";
    accept(&OPERATOR, revoke_principal(&k, "admin-7"));
    assert_string_equal(W->out.event.partner_id, "p1");
    Ledger__V1__Command *elsewhere = revoke_principal(&k, "admin-7");
    elsewhere->partner_id = (char *)"p2";
    refuse_as(&OPERATOR, elsewhere, LEDGER_ERR_PARTNER_MISMATCH);
    assert_non_null(strstr(W->out.message, "of partner p1, not of partner p2"));
    Ledger__V1__Command *named = revoke_principal(&k, "admin-7");
    named->partner_id = (char *)"p1";
    accept(&OPERATOR, named);
    assert_string_equal(W->out.event.partner_id, "p1");
    W->principal_partner_id = ""; /* an auditor of every partner */
    accept(&OPERATOR, revoke_principal(&k, "auditor-all"));
    assert_string_equal(W->out.event.partner_id, "");
    Ledger__V1__Command *everywhere = revoke_principal(&k, "auditor-all");
    everywhere->partner_id = (char *)"p1";
    refuse_as(&OPERATOR, everywhere, LEDGER_ERR_PARTNER_MISMATCH);
    W->principal_partner_id = NULL;
    W->principal_revoked = true;
    refuse_as(&OPERATOR, revoke_principal(&k, "admin-7"), LEDGER_ERR_UNCHANGED);
    W->principal_revoked = false;
    refuse_as(&OPERATOR, revoke_principal(&k, "op-1"), LEDGER_ERR_INVALID_ARGUMENT);
    refuse_as(&ADMIN, revoke_principal(&k, "sales-1"), LEDGER_ERR_FORBIDDEN);
    W->principal_exists = false;
    refuse_as(&OPERATOR, revoke_principal(&k, "ghost"), LEDGER_ERR_PRINCIPAL_NOT_FOUND);
    refuse_as(&OPERATOR, revoke_principal(&k, ""), LEDGER_ERR_INVALID_ARGUMENT);
}

/* Rotating a principal's secret: the operator's, of another principal that
 * exists and is not revoked, recorded under the principal's partner like a
 * revocation; the event names the principal and holds no secret. */
static void test_domain_rotate_principal_secret(void **state)
{
    (void)state;
    struct cmd k;
    W->principal_exists = true;
    W->principal_partner_id = "p1";
    accept(&OPERATOR, rotate_secret(&k, "admin-7"));
    assert_int_equal(LEDGER__V1__EVENT__BODY_PRINCIPAL_SECRET_ROTATED, W->out.event.body_case);
    assert_string_equal("admin-7", W->out.event.principal_secret_rotated->principal_id);
    assert_string_equal("p1", W->out.event.partner_id);
    assert_string_equal("", W->out.event.customer_id);
    assert_string_equal("op-1", W->out.event.actor->principal_id);
    assert_int_equal(0, W->out.event.stream_version);
    /* The event's only field is the principal's id: no secret in the log. */
    assert_int_equal(1, ledger__v1__principal_secret_rotated__descriptor.n_fields);
    /* Rotating is not idempotent: a second rotation is a new secret. */
    accept(&OPERATOR, rotate_secret(&k, "admin-7"));
    /* The envelope may name the principal's partner, not another. */
    Ledger__V1__Command *named = rotate_secret(&k, "admin-7");
    named->partner_id = (char *)"p1";
    accept(&OPERATOR, named);
    assert_string_equal("p1", W->out.event.partner_id);
    Ledger__V1__Command *elsewhere = rotate_secret(&k, "admin-7");
    elsewhere->partner_id = (char *)"p2";
    refuse_as(&OPERATOR, elsewhere, LEDGER_ERR_PARTNER_MISMATCH);
    assert_non_null(strstr(W->out.message, "of partner p1, not of partner p2"));
    /* A principal of every partner: recorded under none; naming one refused. */
    W->principal_partner_id = "";
    accept(&OPERATOR, rotate_secret(&k, "auditor-all"));
    assert_string_equal("", W->out.event.partner_id);
    Ledger__V1__Command *everywhere = rotate_secret(&k, "auditor-all");
    everywhere->partner_id = (char *)"p1";
    refuse_as(&OPERATOR, everywhere, LEDGER_ERR_PARTNER_MISMATCH);
    assert_non_null(strstr(W->out.message, "bound to every partner"));
    W->principal_partner_id = NULL; /* taken as "" */
    accept(&OPERATOR, rotate_secret(&k, "auditor-all"));
    assert_string_equal("", W->out.event.partner_id);
    /* Oneself: a lost reply would leave no working secret. */
    refuse_as(&OPERATOR, rotate_secret(&k, "op-1"), LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "another operator must"));
    /* The ledger's own principals have no secret to rotate. */
    refuse_as(&OPERATOR, rotate_secret(&k, DOMAIN_INIT_PRINCIPAL_ID), LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "may not be 'ledgerd-init'"));
    refuse_as(&OPERATOR, rotate_secret(&k, DOMAIN_SYSTEM_PRINCIPAL_ID),
              LEDGER_ERR_INVALID_ARGUMENT);
    refuse_as(&OPERATOR, rotate_secret(&k, "ledger:someone"), LEDGER_ERR_INVALID_ARGUMENT);
    /* Only the operator. */
    refuse_as(&ADMIN, rotate_secret(&k, "sales-1"), LEDGER_ERR_FORBIDDEN);
    assert_non_null(strstr(W->out.message, "rotate principal secret"));
    refuse_as(&AUDITOR, rotate_secret(&k, "sales-1"), LEDGER_ERR_FORBIDDEN);
    refuse_as(&ALICE, rotate_secret(&k, "sales-1"), LEDGER_ERR_FORBIDDEN);
    refuse_as(&SYSTEM, rotate_secret(&k, "sales-1"), LEDGER_ERR_FORBIDDEN);
    /* A revoked principal stays revoked: no new secret for it. */
    W->principal_revoked = true;
    refuse_as(&OPERATOR, rotate_secret(&k, "admin-7"), LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "is revoked"));
    W->principal_revoked = false;
    W->principal_exists = false;
    refuse_as(&OPERATOR, rotate_secret(&k, "ghost"), LEDGER_ERR_PRINCIPAL_NOT_FOUND);
    assert_non_null(strstr(W->out.message, "no principal ghost"));
    refuse_as(&OPERATOR, rotate_secret(&k, ""), LEDGER_ERR_INVALID_ARGUMENT);
    refuse_as(&OPERATOR, rotate_secret(&k, "bad id"), LEDGER_ERR_INVALID_ARGUMENT);
    /* A command without its body. */
    Ledger__V1__Command *bodiless = rotate_secret(&k, "admin-7");
    bodiless->rotate_principal_secret = NULL;
    refuse_as(&OPERATOR, bodiless, LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "has no body"));
}

/* ---- subscriptions and roles ------------------------------------------------ */

static void test_domain_subscriptions(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    assert_int_equal(3, W->customer->subscription_count);
    accept(&SALES, subscription(&k, "sub-2", LEDGER__V1__OFFER__OFFER_AZURE_PLAN));
    refuse_as(&ADMIN, subscription(&k, "sub-1", LEDGER__V1__OFFER__OFFER_AZURE_PLAN),
              LEDGER_ERR_SUBSCRIPTION_EXISTS);
    refuse_as(&ADMIN, subscription(&k, "sub-3", LEDGER__V1__OFFER__OFFER_UNSPECIFIED),
              LEDGER_ERR_INVALID_ARGUMENT);
    refuse_as(&ADMIN, subscription(&k, "sub-3", (Ledger__V1__Offer)17), LEDGER_ERR_UNKNOWN_MESSAGE);
    refuse_as(&ADMIN, subscription(&k, "", LEDGER__V1__OFFER__OFFER_AZURE_PLAN),
              LEDGER_ERR_INVALID_ARGUMENT);
    refuse_as(&HELPDESK, subscription(&k, "sub-3", LEDGER__V1__OFFER__OFFER_AZURE_PLAN),
              LEDGER_ERR_FORBIDDEN);
    refuse_as(&ALICE, subscription(&k, "sub-3", LEDGER__V1__OFFER__OFFER_AZURE_PLAN),
              LEDGER_ERR_FORBIDDEN);

    /* A subscription belongs to one customer: an id another customer of
     * the partner bought is refused with the same code, naming that
     * customer (partner staff may read every customer of the partner), and
     * nothing is recorded. */
    W->subscription_holder_customer_id = "c-other";
    W->subscription_holder_sequence = 41;
    refuse_as(&ADMIN, subscription(&k, "sub-3", LEDGER__V1__OFFER__OFFER_AZURE_PLAN),
              LEDGER_ERR_SUBSCRIPTION_EXISTS);
    assert_non_null(strstr(W->out.message, "subscription sub-3 already exists for customer "
                                           "c-other of partner p1 (sequence 41)"));
    assert_int_equal(4, W->customer->subscription_count);
    refuse_as(&SALES, subscription(&k, "sub-3", LEDGER__V1__OFFER__OFFER_AZURE_PLAN),
              LEDGER_ERR_SUBSCRIPTION_EXISTS);
    /* The customer's own subscription is told as before, and the role table
     * still comes first. */
    refuse_as(&ADMIN, subscription(&k, "sub-1", LEDGER__V1__OFFER__OFFER_AZURE_PLAN),
              LEDGER_ERR_SUBSCRIPTION_EXISTS);
    assert_non_null(strstr(W->out.message, "subscription sub-1 already exists for customer c1"));
    refuse_as(&HELPDESK, subscription(&k, "sub-3", LEDGER__V1__OFFER__OFFER_AZURE_PLAN),
              LEDGER_ERR_FORBIDDEN);
    W->subscription_holder_customer_id = "";
    accept(&ADMIN, subscription(&k, "sub-3", LEDGER__V1__OFFER__OFFER_AZURE_PLAN));
    W->subscription_holder_customer_id = NULL;

    /* Status changes and rule 10. */
    refuse_as(&ADMIN,
              status(&k, "sub-1", LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_ACTIVE),
              LEDGER_ERR_UNCHANGED);
    refuse_as(&ADMIN,
              status(&k, "sub-9", LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_SUSPENDED),
              LEDGER_ERR_SUBSCRIPTION_NOT_FOUND);
    refuse_as(&ADMIN, status(&k, "sub-1", (Ledger__V1__SubscriptionStatus)9),
              LEDGER_ERR_UNKNOWN_MESSAGE);
    refuse_as(&ADMIN,
              status(&k, "sub-1", LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_UNSPECIFIED),
              LEDGER_ERR_INVALID_ARGUMENT);
    refuse_as(&SALES,
              status(&k, "sub-1", LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_SUSPENDED),
              LEDGER_ERR_FORBIDDEN);
    const char *reservation_id = buy_reservation(1000);
    static const Ledger__V1__SubscriptionStatus inactive[] = {
        LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_SUSPENDED,
        LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_DISABLED,
        LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_EXPIRED,
    };
    for (size_t i = 0; i < 3; i++)
        refuse_as(&ADMIN, status(&k, "sub-1", inactive[i]),
                  LEDGER_ERR_SUBSCRIPTION_HAS_RESERVATIONS);
    assert_non_null(strstr(W->out.message, "until its reservations end"));
    assert_non_null(strstr(W->out.message, "cancel or exchange them"));
    /* Past its term, a reservation can no longer be cancelled or exchanged:
     * the refusal says to record its expiry or its renewal. */
    W->now_us = domain_find_reservation(W->customer, reservation_id)->expires_us;
    refuse_as(&ADMIN,
              status(&k, "sub-1", LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_SUSPENDED),
              LEDGER_ERR_SUBSCRIPTION_HAS_RESERVATIONS);
    assert_null(strstr(W->out.message, "cancel or exchange"));
    assert_non_null(strstr(W->out.message, "its term ended 2026-01-01T00:00:00Z: record its expiry "
                                           "(ledgerctl reservation expired)"));
    W->now_us = T0;
    /* Another subscription is free to change. */
    accept(&ADMIN,
           status(&k, "sub-g", LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_SUSPENDED));
    assert_int_equal(LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_SUSPENDED,
                     domain_find_subscription(W->customer, "sub-g")->status);
    /* Once the reservation is no longer active, the subscription may be suspended. */
    accept(&ADMIN, cancel(&k, reservation_id, 10, "USD", -1));
    assert_int_equal(
        LEDGER_ERR_OK,
        decide(&ADMIN, status(&k, "sub-1",
                              LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_SUSPENDED)));
    const Ledger__V1__SubscriptionStatusChanged *changed = W->out.event.subscription_status_changed;
    assert_int_equal(LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_ACTIVE,
                     changed->from_status);
    assert_int_equal(LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_SUSPENDED,
                     changed->to_status);
}

/* The ways a reservation of the customer stops being active. */
enum reservation_end {
    END_NONE,
    END_RENEWED,   /* it expires, its renewal (billed alike) is active */
    END_CANCELLED, /* with no refund */
    END_EXCHANGED, /* into a reservation billed to sub-1 */
    END_EXPIRED,   /* by the ledger's schedule, the clock moved to its expiry */
};

/* Ends reservation `rid` the way given, at the world's time (an expiry at
 * the end of its term). Returns the renewal's id for END_RENEWED, else "". */
static const char *end_reservation(const char *rid, enum reservation_end how)
{
    struct cmd k;
    const char *returned[] = {rid};
    switch (how) {
    case END_RENEWED:
        return seq_id("res", accept(&ADMIN, renew(&k, rid, 1000, "USD")));
    case END_CANCELLED:
        accept(&ADMIN, cancel(&k, rid, 0, "USD", -1));
        break;
    case END_EXCHANGED:
        accept(&ADMIN, exchange(&k, returned, 1, 0, 5000));
        break;
    case END_EXPIRED:
        W->now_us = domain_find_reservation(W->customer, rid)->expires_us;
        accept(&SYSTEM, expire(&k, rid));
        break;
    case END_NONE:
    default:
        break;
    }
    return "";
}

/* Rule 10 for each way a reservation billed to a subscription can stand:
 * while it is active (bought by the partner or the customer, or a renewal
 * whose term has not begun) the subscription stays active; once it is
 * cancelled, exchanged or expired it no longer holds the subscription. */
static void test_domain_suspension_and_reservation_states(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    accept(&ADMIN, role(&k, true, "sub-g", "alice", LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER));
    accept(&ADMIN, permission(&k, true, LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_RESERVATIONS));
    const Ledger__V1__SubscriptionStatus suspended =
        LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_SUSPENDED;
    const Ledger__V1__SubscriptionStatus active =
        LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_ACTIVE;
    static const struct {
        bool by_customer;
        enum reservation_end end; /* END_RENEWED: the renewal's term is ahead */
        enum ledger_err expected;
    } cases[] = {
        {false, END_NONE, LEDGER_ERR_SUBSCRIPTION_HAS_RESERVATIONS},
        {true, END_NONE, LEDGER_ERR_SUBSCRIPTION_HAS_RESERVATIONS},
        {false, END_RENEWED, LEDGER_ERR_SUBSCRIPTION_HAS_RESERVATIONS},
        {false, END_CANCELLED, LEDGER_ERR_OK},
        {false, END_EXCHANGED, LEDGER_ERR_OK},
        {false, END_EXPIRED, LEDGER_ERR_OK},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Ledger__V1__Command *buy =
            reservation(&k, "sub-g", "Standard_D2s_v5", LEDGER__V1__TERM__TERM_P1Y, 1000, "USD");
        buy->purchase_reservation->auto_renew = cases[i].end == END_RENEWED;
        char rid[32];
        snprintf(rid, sizeof rid, "%s",
                 seq_id("res", accept(cases[i].by_customer ? &ALICE : &ADMIN, buy)));
        end_reservation(rid, cases[i].end);
        if (cases[i].expected != LEDGER_ERR_OK) {
            refuse_as(&ADMIN, status(&k, "sub-g", suspended), cases[i].expected);
            assert_non_null(strstr(W->out.message, "subscription sub-g is billed for active "
                                                   "reservation res-"));
            /* Clear the way for the next case. */
            snprintf(rid, sizeof rid, "%s", seq_id("res", W->sequence - 1));
            accept(&ADMIN, cancel(&k, rid, 0, "USD", -1));
            continue;
        }
        accept(&ADMIN, status(&k, "sub-g", suspended));
        accept(&ADMIN, status(&k, "sub-g", active));
    }
}

/* A time as messages show it: ISO 8601 UTC to the second. */
static const char *time_text(int64_t time_us)
{
    static char texts[4][32];
    static unsigned next;
    char *text = texts[next++ % 4];
    time_t seconds = (time_t)(time_us / 1000000);
    struct tm tm;
    assert_non_null(gmtime_r(&seconds, &tm));
    size_t length = strftime(text, sizeof texts[0], "%Y-%m-%dT%H:%M:%S", &tm);
    if (time_us % 1000000 != 0) {
        snprintf(text + length, sizeof texts[0] - length, ".%06dZ", (int)(time_us % 1000000));
    } else {
        snprintf(text + length, sizeof texts[0] - length, "Z");
    }
    return text;
}

/* Rule 10 across business time: a change out of active dated back is
 * refused while a reservation billed to the subscription was active at or
 * after its date, though that reservation has ended since (cancelled,
 * exchanged, expired, or renewed and its renewal cancelled); dated at the
 * reservation's end it is allowed. Each way in a fresh world: the
 * reservation is bought on day 10 on sub-g and ends after that. */
static void test_domain_suspension_dated_back_over_ended_reservations(void **state)
{
    (void)state;
    const Ledger__V1__SubscriptionStatus suspended =
        LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_SUSPENDED;
    const Ledger__V1__SubscriptionStatus disabled =
        LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_DISABLED;
    static const struct {
        enum reservation_end end;
        const char *state;
    } cases[] = {
        {END_CANCELLED, "cancelled"},
        {END_EXCHANGED, "exchanged"},
        {END_EXPIRED, "expired"},
        {END_RENEWED, "expired"}, /* and its renewal cancelled at once */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        teardown(NULL);
        setup(NULL);
        struct cmd k;
        standard_customer();
        W->now_us = T0 + 10 * DAY_US;
        Ledger__V1__Command *buy =
            reservation(&k, "sub-g", "Standard_D2s_v5", LEDGER__V1__TERM__TERM_P1Y, 1000, "USD");
        buy->purchase_reservation->auto_renew = cases[i].end == END_RENEWED;
        char rid[32];
        snprintf(rid, sizeof rid, "%s", seq_id("res", accept(&ADMIN, buy)));
        W->now_us = T0 + 20 * DAY_US;
        const char *renewal = end_reservation(rid, cases[i].end);
        if (renewal[0] != '\0')
            end_reservation(renewal, END_CANCELLED);
        const struct domain_reservation *ended = domain_find_reservation(W->customer, rid);
        int64_t end_us = W->now_us;
        assert_true(ended->ended_us == end_us);
        assert_true(ended->bought_us == T0 + 10 * DAY_US);
        W->now_us = end_us + 10 * DAY_US;

        /* One microsecond before its end, and before it was bought: refused. */
        Ledger__V1__Command *back = status(&k, "sub-g", suspended);
        back->business_us = end_us - 1;
        refuse_as(&ADMIN, back, LEDGER_ERR_SUBSCRIPTION_HAS_RESERVATIONS);
        char expected[256];
        snprintf(expected, sizeof expected,
                 "subscription sub-g cannot become suspended on %s: reservation %s was active "
                 "from 2025-01-11T00:00:00Z until %s (%s); date the change at or after its end",
                 time_text(end_us - 1), rid, time_text(end_us), cases[i].state);
        if (strstr(W->out.message, expected) == NULL)
            fail_msg("case %zu: %s", i, W->out.message);
        back = status(&k, "sub-g", disabled);
        back->business_us = T0 + 5 * DAY_US;
        refuse_as(&ADMIN, back, LEDGER_ERR_SUBSCRIPTION_HAS_RESERVATIONS);
        assert_non_null(strstr(W->out.message, "cannot become disabled on 2025-01-06T00:00:00Z"));
        assert_int_equal(LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_ACTIVE,
                         domain_find_subscription(W->customer, "sub-g")->status);
        assert_int_equal(0, W->customer->status_change_count);

        /* At its end: allowed. */
        back = status(&k, "sub-g", suspended);
        back->business_us = end_us;
        accept(&ADMIN, back);
        assert_int_equal(suspended, domain_find_subscription(W->customer, "sub-g")->status);
    }
}

/* Rule 10 past a reservation's term: an active reservation set to renew
 * whose term the ledger's clock has passed still holds its subscription,
 * and the refusal says to record its renewal or its expiry (not only its
 * expiry, as for one not set to renew). */
static void test_domain_suspension_past_term_of_renewing_reservation(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    Ledger__V1__Command *buy =
        reservation(&k, "sub-1", "Standard_D2s_v5", LEDGER__V1__TERM__TERM_P1Y, 1000, "USD");
    buy->purchase_reservation->auto_renew = true;
    const char *rid = seq_id("res", accept(&ADMIN, buy));
    W->now_us = domain_find_reservation(W->customer, rid)->expires_us;
    refuse_as(&ADMIN,
              status(&k, "sub-1", LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_SUSPENDED),
              LEDGER_ERR_SUBSCRIPTION_HAS_RESERVATIONS);
    char expected[256];
    snprintf(expected, sizeof expected,
             "subscription sub-1 is billed for reservation %s, still active though its term "
             "ended 2026-01-01T00:00:00Z: record its renewal or expiry (ledgerctl reservation "
             "renewed|expired); it cannot become suspended before",
             rid);
    assert_string_equal(expected, W->out.message);
    assert_int_equal(LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_ACTIVE,
                     domain_find_subscription(W->customer, "sub-1")->status);
}

/* Rule 10 across business time with several reservations that ended after
 * the change's date: the refusal names the one that ended last (neither
 * the first nor the last bought), whose end is the earliest date the
 * change may take. */
static void test_domain_suspension_dated_back_names_the_last_to_end(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    W->now_us = T0 + 10 * DAY_US;
    char rids[3][32];
    for (size_t i = 0; i < 3; i++)
        snprintf(
            rids[i], sizeof rids[i], "%s",
            seq_id("res", accept(&ADMIN, reservation(&k, "sub-g", "Standard_D2s_v5",
                                                     LEDGER__V1__TERM__TERM_P1Y, 1000, "USD"))));
    /* Ended on days 20, 35 and 30. */
    W->now_us = T0 + 20 * DAY_US;
    end_reservation(rids[0], END_CANCELLED);
    W->now_us = T0 + 30 * DAY_US;
    end_reservation(rids[2], END_CANCELLED);
    W->now_us = T0 + 35 * DAY_US;
    end_reservation(rids[1], END_CANCELLED);
    W->now_us = T0 + 40 * DAY_US;
    const Ledger__V1__SubscriptionStatus suspended =
        LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_SUSPENDED;
    Ledger__V1__Command *back = status(&k, "sub-g", suspended);
    back->business_us = T0 + 15 * DAY_US;
    refuse_as(&ADMIN, back, LEDGER_ERR_SUBSCRIPTION_HAS_RESERVATIONS);
    char expected[256];
    snprintf(expected, sizeof expected,
             "subscription sub-g cannot become suspended on 2025-01-16T00:00:00Z: reservation %s "
             "was active from 2025-01-11T00:00:00Z until 2025-02-05T00:00:00Z (cancelled); date "
             "the change at or after its end",
             rids[1]);
    if (strstr(W->out.message, expected) == NULL)
        fail_msg("%s", W->out.message);
    /* Dated after the first two ends: still the last to end. */
    back = status(&k, "sub-g", suspended);
    back->business_us = T0 + 32 * DAY_US;
    refuse_as(&ADMIN, back, LEDGER_ERR_SUBSCRIPTION_HAS_RESERVATIONS);
    assert_non_null(strstr(W->out.message, rids[1]));
    back = status(&k, "sub-g", suspended);
    back->business_us = T0 + 35 * DAY_US;
    accept(&ADMIN, back);
    assert_int_equal(suspended, domain_find_subscription(W->customer, "sub-g")->status);
}

static void test_domain_roles(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    uint64_t seq =
        accept(&ADMIN, role(&k, true, "sub-1", "alice", LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER));
    assert_int_equal(1, W->customer->role_count);
    assert_int_equal(seq, W->customer->roles[0].sequence);
    refuse_as(&ADMIN, role(&k, true, "sub-1", "alice", LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER),
              LEDGER_ERR_ROLE_ALREADY_ASSIGNED);
    /* The same user may hold another role on the same subscription. */
    accept(&ADMIN, role(&k, true, "sub-1", "alice", LEDGER__V1__AZURE_ROLE__AZURE_ROLE_READER));
    refuse_as(&ADMIN, role(&k, true, "sub-9", "alice", LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER),
              LEDGER_ERR_SUBSCRIPTION_NOT_FOUND);
    refuse_as(&ADMIN, role(&k, true, "sub-1", "al ice", LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER),
              LEDGER_ERR_INVALID_ARGUMENT);
    refuse_as(&ADMIN, role(&k, true, "sub-1", "bob", (Ledger__V1__AzureRole)12),
              LEDGER_ERR_UNKNOWN_MESSAGE);
    refuse_as(&ADMIN,
              role(&k, true, "sub-1", "bob", LEDGER__V1__AZURE_ROLE__AZURE_ROLE_UNSPECIFIED),
              LEDGER_ERR_INVALID_ARGUMENT);
    refuse_as(&SALES, role(&k, true, "sub-1", "bob", LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER),
              LEDGER_ERR_FORBIDDEN);
    refuse_as(&ALICE, role(&k, true, "sub-1", "bob", LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER),
              LEDGER_ERR_FORBIDDEN);
    accept(&ADMIN, role(&k, false, "sub-1", "alice", LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER));
    assert_int_equal(1, W->customer->role_count);
    assert_int_equal(LEDGER__V1__AZURE_ROLE__AZURE_ROLE_READER, W->customer->roles[0].role);
    refuse_as(&ADMIN, role(&k, false, "sub-1", "alice", LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER),
              LEDGER_ERR_ROLE_NOT_ASSIGNED);
    refuse_as(&ADMIN, role(&k, false, "sub-9", "alice", LEDGER__V1__AZURE_ROLE__AZURE_ROLE_READER),
              LEDGER_ERR_SUBSCRIPTION_NOT_FOUND);
    refuse_as(&SALES, role(&k, false, "sub-1", "alice", LEDGER__V1__AZURE_ROLE__AZURE_ROLE_READER),
              LEDGER_ERR_FORBIDDEN);
}

/* A role is held on a subscription: neither assigned nor removed dated
 * before the subscription was bought (here sub-2, on 2025-01-11). */
static void test_domain_role_dated_before_its_subscription(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    W->now_us = T0 + 10 * DAY_US;
    accept(&ADMIN, subscription(&k, "sub-2", LEDGER__V1__OFFER__OFFER_AZURE_PLAN));
    W->now_us = T0 + 20 * DAY_US;
    Ledger__V1__Command *c =
        role(&k, true, "sub-2", "alice", LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER);
    c->business_us = T0 + 10 * DAY_US - 1;
    refuse_as(&ADMIN, c, LEDGER_ERR_SUBSCRIPTION_NOT_FOUND);
    assert_non_null(strstr(
        W->out.message, "subscription sub-2 of customer c1 was bought 2025-01-11T00:00:00Z: a "
                        "role on it cannot be assigned dated 2025-01-10T23:59:59.999999Z, before "
                        "then; date it at or after that"));
    assert_int_equal(0, W->customer->role_count);
    c->business_us = T0 + 10 * DAY_US;
    accept(&ADMIN, c);
    assert_int_equal(1, W->customer->role_count);
    assert_true(W->customer->roles[0].assigned_us == T0 + 10 * DAY_US);
    /* Other subscriptions, bought earlier, take roles dated then. */
    c = role(&k, true, "sub-1", "alice", LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER);
    c->business_us = T0;
    accept(&ADMIN, c);

    c = role(&k, false, "sub-2", "alice", LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER);
    c->business_us = T0 + 10 * DAY_US - 1;
    refuse_as(&ADMIN, c, LEDGER_ERR_SUBSCRIPTION_NOT_FOUND);
    assert_non_null(strstr(W->out.message, "a role on it cannot be removed dated "
                                           "2025-01-10T23:59:59.999999Z, before then"));
    assert_int_equal(2, W->customer->role_count);
    c->business_us = T0 + 10 * DAY_US;
    accept(&ADMIN, c);
    assert_int_equal(1, W->customer->role_count);
}

/* ---- rules 1 and 2: permissions --------------------------------------------- */

static void test_domain_permission_needs_eligible_subscription(void **state)
{
    (void)state;
    struct cmd k;
    accept(&ADMIN, onboard(&k, "Contoso"));
    const Ledger__V1__PermissionKind R = LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_RESERVATIONS;
    refuse_as(&ADMIN, permission(&k, true, R), LEDGER_ERR_NO_ELIGIBLE_SUBSCRIPTION);
    assert_non_null(strstr(W->out.message, "until the partner buys one"));
    accept(&ADMIN, subscription(&k, "sub-o", LEDGER__V1__OFFER__OFFER_OTHER));
    refuse_as(&ADMIN, permission(&k, true, R), LEDGER_ERR_NO_ELIGIBLE_SUBSCRIPTION);
    accept(&ADMIN, subscription(&k, "sub-1", LEDGER__V1__OFFER__OFFER_AZURE_PLAN));
    accept(&ADMIN,
           status(&k, "sub-1", LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_SUSPENDED));
    refuse_as(&ADMIN, permission(&k, true, R), LEDGER_ERR_NO_ELIGIBLE_SUBSCRIPTION);
    /* A suspended plan is to be made active again, not bought anew. */
    assert_non_null(strstr(W->out.message, "its azure-plan subscription sub-1 is suspended"));
    assert_non_null(strstr(W->out.message, "until it is active again (ledgerctl subscription "
                                           "status --customer c1 --subscription sub-1 --status "
                                           "active)"));
    assert_null(strstr(W->out.message, "until the partner buys one"));
    accept(&ADMIN, subscription(&k, "sub-g", LEDGER__V1__OFFER__OFFER_AZURE_GLOBAL));
    accept(&ADMIN, permission(&k, true, R)); /* Azure Global counts too */
}

static void test_domain_permission_switches(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    const Ledger__V1__PermissionKind R = LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_RESERVATIONS;
    const Ledger__V1__PermissionKind S = LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_SAVINGS_PLANS;
    refuse_as(&ADMIN, permission(&k, false, R), LEDGER_ERR_PERMISSION_ALREADY_OFF);
    refuse_as(&SALES, permission(&k, true, R), LEDGER_ERR_FORBIDDEN);
    assert_non_null(strstr(W->out.message, "ask a principal of role admin-agent"));
    refuse_as(&HELPDESK, permission(&k, true, R), LEDGER_ERR_FORBIDDEN);
    refuse_as(&AUDITOR, permission(&k, true, R), LEDGER_ERR_FORBIDDEN);
    refuse_as(&BILLING, permission(&k, true, R), LEDGER_ERR_FORBIDDEN);
    refuse_as(&OPERATOR, permission(&k, true, R), LEDGER_ERR_FORBIDDEN);
    refuse_as(&SYSTEM, permission(&k, true, R), LEDGER_ERR_FORBIDDEN);
    refuse_as(&ALICE, permission(&k, true, R), LEDGER_ERR_ASK_PARTNER);
    refuse_as(&ADMIN,
              permission(&k, true, LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_UNSPECIFIED),
              LEDGER_ERR_INVALID_ARGUMENT);
    refuse_as(&ADMIN, permission(&k, true, (Ledger__V1__PermissionKind)3),
              LEDGER_ERR_UNKNOWN_MESSAGE);
    refuse_as(&ADMIN, permission(&k, false, (Ledger__V1__PermissionKind)-5),
              LEDGER_ERR_UNKNOWN_MESSAGE);

    W->now_us = T0 + HOUR_US;
    uint64_t granted = accept(&ADMIN, permission(&k, true, R));
    assert_true(W->customer->permission_on[R]);
    assert_false(W->customer->permission_on[S]);
    assert_int_equal(granted, W->customer->permission_sequence[R]);
    /* Evolved state refuses the second, identical grant: recorded once. */
    refuse_as(&ADMIN, permission(&k, true, R), LEDGER_ERR_PERMISSION_ALREADY_ON);
    assert_true(strstr(W->out.message, "reservations") != NULL);
    accept(&ADMIN, permission(&k, true, S));
    W->now_us = T0 + 2 * HOUR_US;
    accept(&ADMIN, permission(&k, false, R));
    assert_false(W->customer->permission_on[R]);
    assert_int_equal(0, W->customer->permission_sequence[R]);
    refuse_as(&ADMIN, permission(&k, false, R), LEDGER_ERR_PERMISSION_ALREADY_OFF);
    /* The history: three changes, in order, with who and when. */
    assert_int_equal(3, W->customer->permission_change_count);
    const struct domain_permission_change *last = &W->customer->permission_changes[2];
    assert_int_equal(R, last->kind);
    assert_false(last->enabled);
    assert_true(last->changed_us == T0 + 2 * HOUR_US);
    assert_string_equal("admin-1", last->changed_by.principal_id);
    /* Revoking does not need an eligible subscription. */
    accept(&ADMIN,
           status(&k, "sub-1", LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_SUSPENDED));
    accept(&ADMIN,
           status(&k, "sub-g", LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_DISABLED));
    accept(&ADMIN, permission(&k, false, S));
}

/* ---- rule 3: customer purchases -------------------------------------------- */

static void test_domain_customer_purchase_conditions(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    const Ledger__V1__PermissionKind R = LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_RESERVATIONS;
    refuse_as(&ALICE, plain_reservation(&k, 1000), LEDGER_ERR_PERMISSION_OFF);
    assert_non_null(strstr(W->out.message, "permission 'reservations' is off for customer c1"));
    assert_non_null(strstr(W->out.message, "ask your partner's admin agent to turn it on"));
    uint64_t granted = accept(&ADMIN, permission(&k, true, R));
    refuse_as(&ALICE,
              reservation(&k, "sub-9", "Standard_D2s_v5", LEDGER__V1__TERM__TERM_P1Y, 1000, "USD"),
              LEDGER_ERR_SUBSCRIPTION_NOT_FOUND);
    refuse_as(&ALICE,
              reservation(&k, "sub-o", "Standard_D2s_v5", LEDGER__V1__TERM__TERM_P1Y, 1000, "USD"),
              LEDGER_ERR_SUBSCRIPTION_NOT_ELIGIBLE);
    refuse_as(&ALICE, plain_reservation(&k, 1000), LEDGER_ERR_ROLE_MISSING);
    assert_non_null(strstr(W->out.message,
                           "user alice holds neither Owner nor Reservation Purchaser on "
                           "subscription sub-1"));
    /* Roles that do not count, or on another subscription, or for another user. */
    accept(&ADMIN,
           role(&k, true, "sub-1", "alice", LEDGER__V1__AZURE_ROLE__AZURE_ROLE_CONTRIBUTOR));
    accept(&ADMIN, role(&k, true, "sub-1", "alice", LEDGER__V1__AZURE_ROLE__AZURE_ROLE_READER));
    accept(&ADMIN, role(&k, true, "sub-g", "alice", LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER));
    accept(&ADMIN, role(&k, true, "sub-1", "bob", LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER));
    refuse_as(&ALICE, plain_reservation(&k, 1000), LEDGER_ERR_ROLE_MISSING);
    uint64_t purchaser_role =
        accept(&ADMIN, role(&k, true, "sub-1", "alice",
                            LEDGER__V1__AZURE_ROLE__AZURE_ROLE_RESERVATION_PURCHASER));
    uint64_t seq = accept(&ALICE, plain_reservation(&k, 1000));
    const struct domain_reservation *r = domain_find_reservation(W->customer, seq_id("res", seq));
    assert_non_null(r);
    assert_int_equal(LEDGER__V1__PURCHASER__PURCHASER_CUSTOMER, r->purchaser);
    assert_string_equal("u-alice", r->bought_by.principal_id);
    assert_string_equal("alice", r->bought_by.user);
    assert_string_equal(seq_id("ord", seq), r->order_id);

    /* The event names the grant and the assignment that allowed it; Owner is
     * preferred when the user holds both. */
    assert_int_equal(LEDGER_ERR_OK, decide(&ALICE, plain_reservation(&k, 1000)));
    const Ledger__V1__ReservationPurchased *event = W->out.event.reservation_purchased;
    assert_int_equal(LEDGER__V1__PURCHASER__PURCHASER_CUSTOMER, event->purchaser);
    assert_non_null(event->allowed_by);
    assert_int_equal(granted, event->allowed_by->permission_sequence);
    assert_int_equal(purchaser_role, event->allowed_by->role_sequence);
    uint64_t owner =
        accept(&ADMIN, role(&k, true, "sub-1", "alice", LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER));
    assert_int_equal(LEDGER_ERR_OK, decide(&ALICE, plain_reservation(&k, 1000)));
    assert_int_equal(owner, W->out.event.reservation_purchased->allowed_by->role_sequence);
    assert_string_equal("alice", W->out.event.actor->user);

    /* Bob, Owner on sub-1, may buy too; a suspended subscription stops both. */
    accept(&BOB, plain_reservation(&k, 1000));
    accept(&ADMIN, subscription(&k, "sub-2", LEDGER__V1__OFFER__OFFER_AZURE_PLAN));
    accept(&ADMIN, role(&k, true, "sub-2", "bob", LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER));
    accept(&ADMIN,
           status(&k, "sub-2", LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_SUSPENDED));
    refuse_as(&BOB,
              reservation(&k, "sub-2", "Standard_D2s_v5", LEDGER__V1__TERM__TERM_P1Y, 1000, "USD"),
              LEDGER_ERR_SUBSCRIPTION_NOT_ACTIVE);
    /* Revoking the permission (after the purchases it allowed) stops
     * customer purchases again. */
    W->now_us += HOUR_US;
    accept(&ADMIN, permission(&k, false, R));
    refuse_as(&ALICE, plain_reservation(&k, 1000), LEDGER_ERR_PERMISSION_OFF);
}

/* Rule 3 holds "at the moment of purchase": what changed since a grant
 * (a role removed, the subscription suspended) stops the next purchase with
 * the code of the condition that failed, and a purchase dated before the
 * grant or the role assignment that would allow it is refused as it would
 * have been then. */
static void test_domain_customer_purchase_at_its_moment(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    const Ledger__V1__PermissionKind R = LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_RESERVATIONS;
    const Ledger__V1__PermissionKind S = LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_SAVINGS_PLANS;
    W->now_us = T0 + 10 * DAY_US;
    accept(&ADMIN, permission(&k, true, R));
    accept(&ADMIN, permission(&k, true, S));
    W->now_us = T0 + 20 * DAY_US;
    uint64_t purchaser =
        accept(&ADMIN, role(&k, true, "sub-1", "alice",
                            LEDGER__V1__AZURE_ROLE__AZURE_ROLE_RESERVATION_PURCHASER));
    W->now_us = T0 + 30 * DAY_US;
    uint64_t owner =
        accept(&ADMIN, role(&k, true, "sub-1", "alice", LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER));
    W->now_us = T0 + 40 * DAY_US;

    struct {
        int64_t business_us;
        enum ledger_err expected;
        const char *message;    /* part of the refusal, or NULL */
        uint64_t role_sequence; /* of allowed_by, when allowed */
    } cases[] = {
        {T0 + 10 * DAY_US - 1, LEDGER_ERR_PERMISSION_OFF,
         "permission 'reservations' of customer c1 is on since 2025-01-11T00:00:00Z", 0},
        {T0 + 20 * DAY_US - 1, LEDGER_ERR_ROLE_MISSING,
         "user alice holds reservation-purchaser on subscription sub-1 since "
         "2025-01-21T00:00:00Z",
         0},
        {T0 + 20 * DAY_US, LEDGER_ERR_OK, NULL, purchaser},
        {T0 + 30 * DAY_US - 1, LEDGER_ERR_OK, NULL, purchaser},
        {T0 + 30 * DAY_US, LEDGER_ERR_OK, NULL, owner},
        {0, LEDGER_ERR_OK, NULL, owner},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Ledger__V1__Command *c = plain_reservation(&k, 1000);
        c->business_us = cases[i].business_us;
        if (cases[i].expected != LEDGER_ERR_OK) {
            refuse_as(&ALICE, c, cases[i].expected);
            if (strstr(W->out.message, cases[i].message) == NULL)
                fail_msg("case %zu: '%s' lacks '%s'", i, W->out.message, cases[i].message);
            assert_non_null(strstr(W->out.message, "before then, was not allowed"));
            continue;
        }
        assert_int_equal(LEDGER_ERR_OK, decide(&ALICE, c));
        assert_int_equal(cases[i].role_sequence,
                         W->out.event.reservation_purchased->allowed_by->role_sequence);
    }
    /* Savings plans alike. */
    Ledger__V1__Command *early = savings_plan(&k, "sub-1", LEDGER__V1__TERM__TERM_P1Y, 100);
    early->business_us = T0 + 5 * DAY_US;
    refuse_as(&ALICE, early, LEDGER_ERR_PERMISSION_OFF);
    assert_non_null(
        strstr(W->out.message, "permission 'savings-plans' of customer c1 is on since"));

    /* A role removed after the grant takes effect at once (each change
     * dated after the purchases before it). */
    accept(&ALICE, plain_reservation(&k, 1000));
    W->now_us += HOUR_US;
    accept(&ADMIN, role(&k, false, "sub-1", "alice", LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER));
    accept(&ALICE, plain_reservation(&k, 1000)); /* Reservation Purchaser is left */
    W->now_us += HOUR_US;
    accept(&ADMIN, role(&k, false, "sub-1", "alice",
                        LEDGER__V1__AZURE_ROLE__AZURE_ROLE_RESERVATION_PURCHASER));
    refuse_as(&ALICE, plain_reservation(&k, 1000), LEDGER_ERR_ROLE_MISSING);
    assert_non_null(strstr(W->out.message, "ask your partner's admin agent to assign you"));
    refuse_as(&ALICE, savings_plan(&k, "sub-1", LEDGER__V1__TERM__TERM_P1Y, 100),
              LEDGER_ERR_ROLE_MISSING);
    /* So does a suspension of the billing subscription, the role held. */
    accept(&ADMIN, role(&k, true, "sub-g", "alice", LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER));
    accept(&ALICE,
           reservation(&k, "sub-g", "Standard_D2s_v5", LEDGER__V1__TERM__TERM_P1Y, 1000, "USD"));
    char bought[32];
    snprintf(bought, sizeof bought, "%s", seq_id("res", W->sequence - 1));
    accept(&ADMIN, cancel(&k, bought, 0, "USD", -1));
    accept(&ADMIN,
           status(&k, "sub-g", LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_SUSPENDED));
    refuse_as(&ALICE,
              reservation(&k, "sub-g", "Standard_D2s_v5", LEDGER__V1__TERM__TERM_P1Y, 1000, "USD"),
              LEDGER_ERR_SUBSCRIPTION_NOT_ACTIVE);
    assert_non_null(strstr(W->out.message, "billing subscription sub-g is suspended, not active; "
                                           "bill an active Azure plan or Azure Global "
                                           "subscription"));
    refuse_as(&ALICE, savings_plan(&k, "sub-g", LEDGER__V1__TERM__TERM_P1Y, 100),
              LEDGER_ERR_SUBSCRIPTION_NOT_ACTIVE);
    /* And, with all else in place, the permission turned off. */
    accept(&ADMIN,
           status(&k, "sub-g", LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_ACTIVE));
    accept(&ALICE,
           reservation(&k, "sub-g", "Standard_D2s_v5", LEDGER__V1__TERM__TERM_P1Y, 1000, "USD"));
    W->now_us += HOUR_US;
    accept(&ADMIN, permission(&k, false, R));
    refuse_as(&ALICE,
              reservation(&k, "sub-g", "Standard_D2s_v5", LEDGER__V1__TERM__TERM_P1Y, 1000, "USD"),
              LEDGER_ERR_PERMISSION_OFF);
    /* A grant made again later holds from its own date only. */
    W->now_us = T0 + 50 * DAY_US;
    accept(&ADMIN, permission(&k, true, R));
    Ledger__V1__Command *between =
        reservation(&k, "sub-g", "Standard_D2s_v5", LEDGER__V1__TERM__TERM_P1Y, 1000, "USD");
    between->business_us = T0 + 45 * DAY_US;
    refuse_as(&ALICE, between, LEDGER_ERR_PERMISSION_OFF);
}

/* Decides customer purchase c, by alice, dated business_us, and returns
 * what its event names as allowing it (it must be allowed): valid until the
 * next decision. */
static const Ledger__V1__AllowedBy *allowed_at(Ledger__V1__Command *c, int64_t business_us)
{
    c->business_us = business_us;
    enum ledger_err err = decide(&ALICE, c);
    if (err != LEDGER_ERR_OK)
        fail_msg("purchase refused: %s: %s", ledger_err_name(err), W->out.message);
    return W->out.event.reservation_purchased->allowed_by;
}

/* Rule 3's role at the moment of purchase: an assignment removed since still
 * allows a purchase dated while it was held, from its assignment's business
 * time until its removal's (that instant excluded), and the event names that
 * assignment. */
static void test_domain_customer_purchase_under_a_removed_role(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    const Ledger__V1__AzureRole OWNER = LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER;
    W->now_us = T0 + 10 * DAY_US;
    uint64_t granted = accept(
        &ADMIN, permission(&k, true, LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_RESERVATIONS));
    W->now_us = T0 + 20 * DAY_US;
    uint64_t first = accept(&ADMIN, role(&k, true, "sub-1", "alice", OWNER));
    W->now_us = T0 + 30 * DAY_US;
    accept(&ADMIN, role(&k, false, "sub-1", "alice", OWNER));
    assert_int_equal(0, W->customer->role_count);
    assert_int_equal(1, W->customer->role_removal_count);
    assert_true(W->customer->role_removals[0].removed_us == T0 + 30 * DAY_US);
    assert_int_equal(first, W->customer->role_removals[0].assignment.sequence);
    W->now_us = T0 + 40 * DAY_US;

    const char *held = "user alice held owner on subscription sub-1 from 2025-01-21T00:00:00Z "
                       "until 2025-01-31T00:00:00Z, not on ";
    struct {
        int64_t business_us;
        enum ledger_err expected;
        const char *message; /* part of the refusal, or NULL */
    } cases[] = {
        {T0 + 20 * DAY_US - 1, LEDGER_ERR_ROLE_MISSING, "not on 2025-01-20T23:59:59.999999Z"},
        {T0 + 20 * DAY_US, LEDGER_ERR_OK, NULL},
        {T0 + 30 * DAY_US - 1, LEDGER_ERR_OK, NULL},
        {T0 + 30 * DAY_US, LEDGER_ERR_ROLE_MISSING, "not on 2025-01-31T00:00:00Z"},
        {0, LEDGER_ERR_ROLE_MISSING, "ask your partner's admin agent to assign you one again"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Ledger__V1__Command *c = plain_reservation(&k, 1000);
        c->business_us = cases[i].business_us;
        if (cases[i].expected != LEDGER_ERR_OK) {
            refuse_as(&ALICE, c, cases[i].expected);
            if (strstr(W->out.message, held) == NULL ||
                strstr(W->out.message, cases[i].message) == NULL)
                fail_msg("case %zu: '%s' lacks '%s'", i, W->out.message, cases[i].message);
            assert_int_equal(0, W->customer->reservation_count);
            continue;
        }
        assert_int_equal(LEDGER_ERR_OK, decide(&ALICE, c));
        const Ledger__V1__AllowedBy *allowed = W->out.event.reservation_purchased->allowed_by;
        assert_int_equal(granted, allowed->permission_sequence);
        assert_int_equal(first, allowed->role_sequence);
    }
    /* Recorded, it is the customer's reservation like any other. */
    Ledger__V1__Command *c = plain_reservation(&k, 1000);
    c->business_us = T0 + 30 * DAY_US - 1;
    uint64_t seq = accept(&ALICE, c);
    assert_non_null(domain_find_reservation(W->customer, seq_id("res", seq)));
    Ledger__V1__Command *plan = savings_plan(&k, "sub-1", LEDGER__V1__TERM__TERM_P1Y, 100);
    plan->business_us = T0 + 25 * DAY_US;
    refuse_as(&ALICE, plan, LEDGER_ERR_PERMISSION_OFF); /* the other switch is off */

    /* Assigned again: each assignment allows what is dated within its own
     * time, and one held now names its date to a purchase dated before it. */
    W->now_us = T0 + 50 * DAY_US;
    uint64_t second = accept(&ADMIN, role(&k, true, "sub-1", "alice", OWNER));
    struct cmd buy;
    c = plain_reservation(&buy, 1000);
    c->business_us = T0 + 45 * DAY_US;
    refuse_as(&ALICE, c, LEDGER_ERR_ROLE_MISSING);
    assert_non_null(strstr(W->out.message, "user alice holds owner on subscription sub-1 since "
                                           "2025-02-20T00:00:00Z: a purchase dated "
                                           "2025-02-15T00:00:00Z, before then, was not allowed"));
    assert_int_equal(first, allowed_at(c, T0 + 25 * DAY_US)->role_sequence);
    assert_int_equal(second, allowed_at(c, T0 + 50 * DAY_US)->role_sequence);

    /* Owner is preferred at the business time, whichever is held now. */
    Ledger__V1__Command *purchaser =
        role(&k, true, "sub-1", "alice", LEDGER__V1__AZURE_ROLE__AZURE_ROLE_RESERVATION_PURCHASER);
    purchaser->business_us = T0 + 15 * DAY_US;
    uint64_t purchaser_seq = accept(&ADMIN, purchaser);
    assert_int_equal(first, allowed_at(c, T0 + 25 * DAY_US)->role_sequence);
    assert_int_equal(purchaser_seq, allowed_at(c, T0 + 35 * DAY_US)->role_sequence);
    /* The message fits with a subscription id as long as Azure's. */
    const char *guid = "0b1e2f3a-4c5d-6e7f-8091-a2b3c4d5e6f7";
    accept(&ADMIN, subscription(&k, guid, LEDGER__V1__OFFER__OFFER_AZURE_PLAN));
    accept(&ADMIN,
           role(&k, true, guid, "alice", LEDGER__V1__AZURE_ROLE__AZURE_ROLE_RESERVATION_PURCHASER));
    W->now_us = T0 + 60 * DAY_US;
    accept(&ADMIN, role(&k, false, guid, "alice",
                        LEDGER__V1__AZURE_ROLE__AZURE_ROLE_RESERVATION_PURCHASER));
    refuse_as(&ALICE,
              reservation(&k, guid, "Standard_D2s_v5", LEDGER__V1__TERM__TERM_P1Y, 1000, "USD"),
              LEDGER_ERR_ROLE_MISSING);
    assert_non_null(strstr(W->out.message, guid));
    assert_non_null(strstr(W->out.message, "until 2025-03-02T00:00:00Z, not on "
                                           "2025-03-02T00:00:00Z: date it then, or ask your "
                                           "partner's admin agent to assign you one again"));
    /* Another user's or another subscription's past roles do not count. */
    refuse_as(&BOB, c, LEDGER_ERR_ROLE_MISSING);
    assert_non_null(strstr(W->out.message, "user bob holds neither Owner nor Reservation "
                                           "Purchaser on subscription sub-1"));
}

/* Dated at the given business time (0: now). */
static Ledger__V1__Command *dated(Ledger__V1__Command *c, int64_t business_us)
{
    c->business_us = business_us;
    return c;
}

/* A refusal for want of a role or a permission names when one was held or
 * on: an assignment or a grant ended at the time it began was so at no time,
 * and of two at the same distance from the purchase's date, or held from the
 * same time, the one named is Owner's, or the earlier grant. */
static void test_domain_refusal_names_a_time_held(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    accept(&ADMIN, subscription(&k, "sub-2", LEDGER__V1__OFFER__OFFER_AZURE_PLAN));
    const Ledger__V1__AzureRole OWNER = LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER;
    const Ledger__V1__AzureRole PURCHASER =
        LEDGER__V1__AZURE_ROLE__AZURE_ROLE_RESERVATION_PURCHASER;
    const Ledger__V1__PermissionKind SP =
        LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_SAVINGS_PLANS;
    W->now_us = T0 + 100 * DAY_US;
    accept(&ADMIN,
           dated(permission(&k, true, LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_RESERVATIONS),
                 T0 + DAY_US));

    /* Assigned and removed at one time: held at no time. */
    accept(&ADMIN, dated(role(&k, true, "sub-g", "alice", OWNER), T0 + 10 * DAY_US));
    accept(&ADMIN, dated(role(&k, false, "sub-g", "alice", OWNER), T0 + 10 * DAY_US));
    refuse_as(&ALICE,
              reservation(&k, "sub-g", "Standard_D2s_v5", LEDGER__V1__TERM__TERM_P1Y, 1000, "USD"),
              LEDGER_ERR_ROLE_MISSING);
    assert_non_null(strstr(W->out.message, "user alice holds neither Owner nor Reservation "
                                           "Purchaser on subscription sub-g"));

    /* Both held since the same time: Owner is named. */
    accept(&ADMIN, dated(role(&k, true, "sub-1", "alice", PURCHASER), T0 + 50 * DAY_US));
    accept(&ADMIN, dated(role(&k, true, "sub-1", "alice", OWNER), T0 + 50 * DAY_US));
    refuse_as(&ALICE, dated(plain_reservation(&k, 1000), T0 + 40 * DAY_US),
              LEDGER_ERR_ROLE_MISSING);
    assert_non_null(strstr(W->out.message, "user alice holds owner on subscription sub-1 since "
                                           "2025-02-20T00:00:00Z"));

    /* Two removed assignments as far from the purchase's date: Owner's. */
    accept(&ADMIN, dated(role(&k, true, "sub-2", "alice", OWNER), T0 + 10 * DAY_US));
    accept(&ADMIN, dated(role(&k, false, "sub-2", "alice", OWNER), T0 + 20 * DAY_US));
    accept(&ADMIN, dated(role(&k, true, "sub-2", "alice", PURCHASER), T0 + 30 * DAY_US));
    accept(&ADMIN, dated(role(&k, false, "sub-2", "alice", PURCHASER), T0 + 40 * DAY_US));
    refuse_as(
        &ALICE,
        dated(reservation(&k, "sub-2", "Standard_D2s_v5", LEDGER__V1__TERM__TERM_P1Y, 1000, "USD"),
              T0 + 25 * DAY_US),
        LEDGER_ERR_ROLE_MISSING);
    assert_non_null(strstr(W->out.message, "user alice held owner on subscription sub-2 from "
                                           "2025-01-11T00:00:00Z until 2025-01-21T00:00:00Z"));

    /* Two past grants as far from the purchase's date: the earlier. */
    accept(&ADMIN, dated(permission(&k, true, SP), T0 + 10 * DAY_US));
    accept(&ADMIN, dated(permission(&k, false, SP), T0 + 20 * DAY_US));
    accept(&ADMIN, dated(permission(&k, true, SP), T0 + 30 * DAY_US));
    accept(&ADMIN, dated(permission(&k, false, SP), T0 + 40 * DAY_US));
    refuse_as(&ALICE,
              dated(savings_plan(&k, "sub-1", LEDGER__V1__TERM__TERM_P1Y, 100), T0 + 25 * DAY_US),
              LEDGER_ERR_PERMISSION_OFF);
    assert_non_null(strstr(W->out.message, "permission 'savings-plans' of customer c1 was on from "
                                           "2025-01-11T00:00:00Z until 2025-01-21T00:00:00Z, not "
                                           "on 2025-01-26T00:00:00Z"));
}

/* Refuses a role's assignment or removal dated at `business_us` as out of
 * its role's date order, and checks that the roles did not move. */
static void refuse_out_of_order(Ledger__V1__Command *c, int64_t business_us, const char *message)
{
    size_t held = W->customer->role_count, removed = W->customer->role_removal_count;
    c->business_us = business_us;
    refuse_as(&ADMIN, c, LEDGER_ERR_INVALID_ARGUMENT);
    if (strstr(W->out.message, message) == NULL)
        fail_msg("'%s' lacks '%s'", W->out.message, message);
    assert_int_equal(held, W->customer->role_count);
    assert_int_equal(removed, W->customer->role_removal_count);
}

/* Rule 3 reads each role's history at a business time, so it is kept in
 * date order: a removal is not dated before the assignment it ends, nor an
 * assignment before the previous removal of the same role (dated exactly
 * then, both are allowed). */
static void test_domain_role_history_in_date_order(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    const Ledger__V1__AzureRole OWNER = LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER;
    accept(&ADMIN, permission(&k, true, LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_RESERVATIONS));
    W->now_us = T0 + 40 * DAY_US;
    Ledger__V1__Command *assign = role(&k, true, "sub-1", "alice", OWNER);
    assign->business_us = T0 + 20 * DAY_US;
    uint64_t first = accept(&ADMIN, assign);

    Ledger__V1__Command *remove = role(&k, false, "sub-1", "alice", OWNER);
    refuse_out_of_order(remove, T0 + 20 * DAY_US - 1,
                        "user alice holds owner on subscription sub-1 since "
                        "2025-01-21T00:00:00Z: a removal dated 2025-01-20T23:59:59.999999Z, before "
                        "then, would reorder its history; date the removal at or after that");
    remove->business_us = T0 + 30 * DAY_US;
    accept(&ADMIN, remove);
    assert_int_equal(0, W->customer->role_count);
    assert_int_equal(1, W->customer->role_removal_count);

    assign = role(&k, true, "sub-1", "alice", OWNER);
    refuse_out_of_order(assign, T0 + 30 * DAY_US - 1,
                        "user alice held owner on subscription sub-1 until "
                        "2025-01-31T00:00:00Z: an assignment dated 2025-01-30T23:59:59.999999Z, "
                        "before then, would reorder its history; date it at or after that");
    assign->business_us = T0 + 30 * DAY_US;
    uint64_t second = accept(&ADMIN, assign);
    /* The two assignments meet: the first holds until the instant before. */
    struct cmd buy;
    Ledger__V1__Command *c = plain_reservation(&buy, 1000);
    assert_int_equal(first, allowed_at(c, T0 + 30 * DAY_US - 1)->role_sequence);
    assert_int_equal(second, allowed_at(c, T0 + 30 * DAY_US)->role_sequence);

    /* A removal dated at its assignment is allowed: the role was held at no
     * time, and allows no purchase. */
    remove = role(&k, false, "sub-1", "alice", OWNER);
    remove->business_us = T0 + 30 * DAY_US;
    accept(&ADMIN, remove);
    assert_int_equal(2, W->customer->role_removal_count);
    refuse_as(&ALICE, c, LEDGER_ERR_ROLE_MISSING);
    assert_non_null(strstr(W->out.message, "from 2025-01-21T00:00:00Z until 2025-01-31T00:00:00Z"));

    /* Each role has its own history: another role, or the same role of
     * another user, may be dated before this removal. */
    Ledger__V1__Command *reader =
        role(&k, true, "sub-1", "alice", LEDGER__V1__AZURE_ROLE__AZURE_ROLE_READER);
    reader->business_us = T0 + DAY_US;
    accept(&ADMIN, reader);
    Ledger__V1__Command *bob = role(&k, true, "sub-1", "bob", OWNER);
    bob->business_us = T0 + DAY_US;
    accept(&ADMIN, bob);
}

/* Refuses customer purchase c, by alice, dated business_us, with
 * PERMISSION_OFF and a message holding `message`; nothing is bought. */
static void refuse_permission_off_at(Ledger__V1__Command *c, int64_t business_us,
                                     const char *message)
{
    size_t bought = W->customer->reservation_count;
    c->business_us = business_us;
    refuse_as(&ALICE, c, LEDGER_ERR_PERMISSION_OFF);
    if (strstr(W->out.message, message) == NULL)
        fail_msg("'%s' lacks '%s'", W->out.message, message);
    assert_int_equal(bought, W->customer->reservation_count);
}

/* Rule 3's permission at the moment of purchase: each grant allows what is
 * dated from its business time until the revocation's (that instant
 * excluded), and the event names that grant. A permission off now still
 * allows a purchase dated while it was on: it was allowed when it was made.
 * The billing subscription, by contrast, must be active now too. */
static void test_domain_customer_purchase_in_an_earlier_grant(void **state)
{
    (void)state;
    struct cmd k, buy;
    standard_customer();
    const Ledger__V1__PermissionKind R = LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_RESERVATIONS;
    accept(&ADMIN, role(&k, true, "sub-1", "alice", LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER));
    accept(&ADMIN, role(&k, true, "sub-g", "alice", LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER));
    W->now_us = T0 + 10 * DAY_US;
    uint64_t first = accept(&ADMIN, permission(&k, true, R));
    W->now_us = T0 + 20 * DAY_US;
    accept(&ADMIN, permission(&k, false, R));
    W->now_us = T0 + 30 * DAY_US;
    uint64_t second = accept(&ADMIN, permission(&k, true, R));
    W->now_us = T0 + 35 * DAY_US;

    Ledger__V1__Command *c = plain_reservation(&buy, 1000);
    const char *on_since = "permission 'reservations' of customer c1 is on since "
                           "2025-01-31T00:00:00Z: a purchase dated ";
    refuse_permission_off_at(c, T0 + 10 * DAY_US - 1, on_since);
    assert_int_equal(first, allowed_at(c, T0 + 10 * DAY_US)->permission_sequence);
    assert_int_equal(first, allowed_at(c, T0 + 20 * DAY_US - 1)->permission_sequence);
    refuse_permission_off_at(c, T0 + 20 * DAY_US, on_since);
    refuse_permission_off_at(c, T0 + 30 * DAY_US - 1, "before then, was not allowed");
    assert_int_equal(second, allowed_at(c, T0 + 30 * DAY_US)->permission_sequence);

    /* Off now. */
    W->now_us = T0 + 40 * DAY_US;
    accept(&ADMIN, permission(&k, false, R));
    refuse_permission_off_at(c, 0,
                             "permission 'reservations' of customer c1 was on from "
                             "2025-01-31T00:00:00Z until 2025-02-10T00:00:00Z, not on "
                             "2025-02-10T00:00:00Z: date it then, or ask your partner's admin "
                             "agent to turn it on again");
    refuse_permission_off_at(c, T0 + 22 * DAY_US,
                             "was on from 2025-01-11T00:00:00Z until 2025-01-21T00:00:00Z, not "
                             "on 2025-01-23T00:00:00Z");
    refuse_permission_off_at(c, T0 + 28 * DAY_US,
                             "was on from 2025-01-31T00:00:00Z until 2025-02-10T00:00:00Z, not "
                             "on 2025-01-29T00:00:00Z");
    assert_int_equal(second, allowed_at(c, T0 + 40 * DAY_US - 1)->permission_sequence);
    c->business_us = T0 + 15 * DAY_US;
    uint64_t seq = accept(&ALICE, c);
    const struct domain_reservation *r = domain_find_reservation(W->customer, seq_id("res", seq));
    assert_non_null(r);
    assert_int_equal(LEDGER__V1__PURCHASER__PURCHASER_CUSTOMER, r->purchaser);
    assert_false(W->customer->permission_on[R]);

    /* The other switch has its own history: never on. */
    Ledger__V1__Command *plan = savings_plan(&k, "sub-1", LEDGER__V1__TERM__TERM_P1Y, 100);
    plan->business_us = T0 + 15 * DAY_US;
    refuse_as(&ALICE, plan, LEDGER_ERR_PERMISSION_OFF);
    assert_non_null(strstr(W->out.message, "permission 'savings-plans' is off for customer c1"));
    /* Granted and revoked at one time, it was on at no time: still nothing
     * to date a purchase in. */
    accept(&ADMIN,
           permission(&k, true, LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_SAVINGS_PLANS));
    accept(&ADMIN,
           permission(&k, false, LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_SAVINGS_PLANS));
    refuse_as(&ALICE, savings_plan(&k, "sub-1", LEDGER__V1__TERM__TERM_P1Y, 100),
              LEDGER_ERR_PERMISSION_OFF);
    assert_non_null(strstr(W->out.message, "permission 'savings-plans' is off for customer c1: "
                                           "ask your partner's admin agent to turn it on"));

    /* A billing subscription not active now is refused though it was then. */
    accept(&ADMIN,
           status(&k, "sub-g", LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_SUSPENDED));
    c = reservation(&buy, "sub-g", "Standard_D2s_v5", LEDGER__V1__TERM__TERM_P1Y, 1000, "USD");
    c->business_us = T0 + 15 * DAY_US;
    refuse_as(&ALICE, c, LEDGER_ERR_SUBSCRIPTION_NOT_ACTIVE);
    assert_non_null(strstr(W->out.message, "billing subscription sub-g is suspended, not active"));
}

/* Rule 3 reads a switch at a business time, so its history is kept in date
 * order: a grant or revocation dated before the switch's previous change is
 * refused; dated exactly then, it is allowed. */
static void test_domain_permission_history_in_date_order(void **state)
{
    (void)state;
    struct cmd k, buy;
    standard_customer();
    const Ledger__V1__PermissionKind R = LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_RESERVATIONS;
    accept(&ADMIN, role(&k, true, "sub-1", "alice", LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER));
    W->now_us = T0 + 40 * DAY_US;
    Ledger__V1__Command *grant = permission(&k, true, R);
    grant->business_us = T0 + 10 * DAY_US;
    accept(&ADMIN, grant);

    struct cmd r;
    Ledger__V1__Command *revoke = permission(&r, false, R);
    revoke->business_us = T0 + 10 * DAY_US - 1;
    refuse_as(&ADMIN, revoke, LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message,
                           "permission 'reservations' of customer c1 is on since "
                           "2025-01-11T00:00:00Z: a revocation dated 2025-01-10T23:59:59.999999Z, "
                           "before then, would reorder its history; date it at or after that"));
    assert_int_equal(1, W->customer->permission_change_count);
    assert_true(W->customer->permission_on[R]);
    revoke->business_us = T0 + 20 * DAY_US;
    accept(&ADMIN, revoke);

    grant = permission(&k, true, R);
    grant->business_us = T0 + 20 * DAY_US - 1;
    refuse_as(&ADMIN, grant, LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "is off since 2025-01-21T00:00:00Z: a grant dated "
                                           "2025-01-20T23:59:59.999999Z, before then"));
    assert_int_equal(2, W->customer->permission_change_count);
    assert_false(W->customer->permission_on[R]);
    grant->business_us = T0 + 20 * DAY_US;
    uint64_t second = accept(&ADMIN, grant);
    /* The grants meet: the first holds until the instant before. */
    Ledger__V1__Command *c = plain_reservation(&buy, 1000);
    assert_int_equal(second - 2, allowed_at(c, T0 + 20 * DAY_US - 1)->permission_sequence);
    assert_int_equal(second, allowed_at(c, T0 + 20 * DAY_US)->permission_sequence);

    /* A revocation dated at its grant leaves it on at no time. */
    revoke = permission(&r, false, R);
    revoke->business_us = T0 + 20 * DAY_US;
    accept(&ADMIN, revoke);
    refuse_permission_off_at(c, T0 + 20 * DAY_US,
                             "was on from 2025-01-11T00:00:00Z until 2025-01-21T00:00:00Z");
    /* The other switch has its own history. */
    Ledger__V1__Command *plans =
        permission(&k, true, LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_SAVINGS_PLANS);
    plans->business_us = T0 + DAY_US;
    accept(&ADMIN, plans);
}

/* A change dated back may not take away what allowed a purchase already
 * recorded: a revocation, a role removal or a change of the billing
 * subscription out of active dated at or before a customer purchase would
 * leave the ledger holding a purchase that its own history (rule 3, read at
 * the purchase's business time) refuses, and explain naming a grant or an
 * assignment that was not in force then. Dated after the purchase, each is
 * allowed. */
static void test_domain_no_change_dated_under_a_recorded_purchase(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    const Ledger__V1__PermissionKind R = LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_RESERVATIONS;
    const Ledger__V1__PermissionKind S = LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_SAVINGS_PLANS;
    accept(&ADMIN, role(&k, true, "sub-1", "alice", LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER));
    accept(&ADMIN, role(&k, true, "sub-g", "alice",
                        LEDGER__V1__AZURE_ROLE__AZURE_ROLE_RESERVATION_PURCHASER));
    accept(&ADMIN, permission(&k, true, R));
    accept(&ADMIN, permission(&k, true, S));
    const int64_t bought_us = T0 + 10 * DAY_US;
    W->now_us = bought_us;
    char rid[32];
    snprintf(rid, sizeof rid, "%s", seq_id("res", accept(&ALICE, plain_reservation(&k, 1000))));
    accept(&ALICE, savings_plan(&k, "sub-g", LEDGER__V1__TERM__TERM_P1Y, 100));
    W->now_us = T0 + 20 * DAY_US;

    /* The permissions. */
    refuse_as(&ADMIN, dated(permission(&k, false, R), bought_us), LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, rid));
    assert_non_null(strstr(W->out.message, "date the revocation after 2025-01-11T00:00:00Z"));
    refuse_as(&ADMIN, dated(permission(&k, false, S), T0 + 5 * DAY_US),
              LEDGER_ERR_INVALID_ARGUMENT);
    /* The roles: alice's Owner on sub-1, Reservation Purchaser on sub-g. */
    refuse_as(&ADMIN,
              dated(role(&k, false, "sub-1", "alice", LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER),
                    T0 + 5 * DAY_US),
              LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, rid));
    refuse_as(&ADMIN,
              dated(role(&k, false, "sub-g", "alice",
                         LEDGER__V1__AZURE_ROLE__AZURE_ROLE_RESERVATION_PURCHASER),
                    bought_us),
              LEDGER_ERR_INVALID_ARGUMENT);
    /* The savings plan's billing subscription (rule 10 already keeps the
     * reservation's). */
    refuse_as(
        &ADMIN,
        dated(status(&k, "sub-g", LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_SUSPENDED),
              T0 + 5 * DAY_US),
        LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "savings plan"));

    /* Another role held then still allows the purchase: Owner on sub-g,
     * assigned before it, lets Reservation Purchaser go at any date. */
    accept(&ADMIN, dated(role(&k, true, "sub-g", "alice", LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER),
                         T0 + DAY_US));
    accept(&ADMIN, dated(role(&k, false, "sub-g", "alice",
                              LEDGER__V1__AZURE_ROLE__AZURE_ROLE_RESERVATION_PURCHASER),
                         T0 + 2 * DAY_US));
    /* Not the other way round: a purchase names the Owner assignment when
     * the user held both (explain shows it), so Owner may not go from
     * under it, though Reservation Purchaser was held too. */
    accept(&ADMIN, dated(role(&k, true, "sub-1", "alice",
                              LEDGER__V1__AZURE_ROLE__AZURE_ROLE_RESERVATION_PURCHASER),
                         T0 + DAY_US));
    refuse_as(&ADMIN,
              dated(role(&k, false, "sub-1", "alice", LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER),
                    T0 + 5 * DAY_US),
              LEDGER_ERR_INVALID_ARGUMENT);
    /* Bob bought nothing: his role goes at any date. */
    accept(&ADMIN, dated(role(&k, true, "sub-1", "bob", LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER),
                         T0 + DAY_US));
    accept(&ADMIN, dated(role(&k, false, "sub-1", "bob", LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER),
                         T0 + 2 * DAY_US));
    /* After the purchases, everything may change. */
    accept(&ADMIN, dated(permission(&k, false, R), bought_us + 1));
    accept(&ADMIN, dated(permission(&k, false, S), bought_us + 1));
    accept(&ADMIN,
           dated(role(&k, false, "sub-1", "alice", LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER),
                 bought_us + 1));
    accept(&ADMIN, dated(status(&k, "sub-g",
                                LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_SUSPENDED),
                         bought_us + 1));
}

/* Rule 2 is decided at a grant's business time: a change of the customer's
 * only active eligible subscription out of active dated at or before a
 * grant would leave a grant its own history refuses. Another eligible
 * subscription active then keeps it; dated after the grant, the change is
 * allowed (a grant stays on when its subscriptions stop being active). */
static void test_domain_no_status_change_dated_under_a_grant(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    const Ledger__V1__SubscriptionStatus SUSPENDED =
        LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_SUSPENDED;
    W->now_us = T0 + 20 * DAY_US;
    accept(&ADMIN, dated(status(&k, "sub-g", SUSPENDED), T0 + DAY_US));
    const int64_t granted_us = T0 + 10 * DAY_US;
    accept(&ADMIN,
           dated(permission(&k, true, LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_SAVINGS_PLANS),
                 granted_us));
    refuse_as(&ADMIN, dated(status(&k, "sub-1", SUSPENDED), T0 + 5 * DAY_US),
              LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "permission 'savings-plans'"));
    assert_non_null(strstr(W->out.message, "date the status change after 2025-01-11T00:00:00Z"));
    refuse_as(&ADMIN, dated(status(&k, "sub-1", SUSPENDED), granted_us),
              LEDGER_ERR_INVALID_ARGUMENT);
    /* The "other" subscription is not eligible and keeps nothing. */
    accept(&ADMIN, dated(status(&k, "sub-o", SUSPENDED), T0 + 5 * DAY_US));
    accept(&ADMIN, dated(status(&k, "sub-1", SUSPENDED), granted_us + 1));
    /* With another eligible subscription active at the grant, any date. */
    accept(&ADMIN,
           dated(status(&k, "sub-1", LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_ACTIVE),
                 granted_us + 2));
    accept(&ADMIN,
           dated(status(&k, "sub-g", LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_ACTIVE),
                 granted_us + 2));
    accept(&ADMIN,
           dated(permission(&k, true, LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_RESERVATIONS),
                 granted_us + 3));
    accept(&ADMIN, dated(status(&k, "sub-1", SUSPENDED), granted_us + 3));
}

/* Rule 2 kept by another eligible subscription only as it stood at the
 * grant's time: one bought after the grant, or suspended then and active
 * again since, does not keep it; the refusal names the latest grant the
 * change would undo, though a grant of the other kind is recorded after
 * it. */
static void test_domain_status_change_under_a_grant_other_subscription_then(void **state)
{
    (void)state;
    struct cmd k;
    const Ledger__V1__SubscriptionStatus SUSPENDED =
        LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_SUSPENDED;
    const Ledger__V1__SubscriptionStatus ACTIVE =
        LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_ACTIVE;
    onboard_early("Contoso Ltd");
    W->now_us = T0 + 40 * DAY_US;
    accept(&ADMIN, dated(subscription(&k, "sub-1", LEDGER__V1__OFFER__OFFER_AZURE_PLAN), T0));
    /* sub-g: bought on day 0, suspended from day 3 to day 15. */
    accept(&ADMIN, dated(subscription(&k, "sub-g", LEDGER__V1__OFFER__OFFER_AZURE_GLOBAL), T0));
    accept(&ADMIN, dated(status(&k, "sub-g", SUSPENDED), T0 + 3 * DAY_US));
    accept(&ADMIN, dated(status(&k, "sub-g", ACTIVE), T0 + 15 * DAY_US));
    /* sub-2: bought on day 20. */
    accept(&ADMIN,
           dated(subscription(&k, "sub-2", LEDGER__V1__OFFER__OFFER_AZURE_PLAN), T0 + 20 * DAY_US));
    /* Granted on day 12 (reservations), then day 10 (savings plans). */
    accept(&ADMIN,
           dated(permission(&k, true, LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_RESERVATIONS),
                 T0 + 12 * DAY_US));
    accept(&ADMIN,
           dated(permission(&k, true, LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_SAVINGS_PLANS),
                 T0 + 10 * DAY_US));
    refuse_as(&ADMIN, dated(status(&k, "sub-1", SUSPENDED), T0 + 5 * DAY_US),
              LEDGER_ERR_INVALID_ARGUMENT);
    assert_string_equal(
        "permission 'reservations' was turned on 2025-01-13T00:00:00Z with subscription sub-1 "
        "the customer's only active Azure plan or Azure Global one (rule 2): a status change "
        "dated 2025-01-06T00:00:00Z, at or before then, would undo that; date the status change "
        "after 2025-01-13T00:00:00Z",
        W->out.message);
    assert_int_equal(ACTIVE, domain_find_subscription(W->customer, "sub-1")->status);
    /* Dated after both grants, the change is allowed. */
    accept(&ADMIN, dated(status(&k, "sub-1", SUSPENDED), T0 + 12 * DAY_US + 1));
    assert_int_equal(SUSPENDED, domain_find_subscription(W->customer, "sub-1")->status);
}

/* Rules 3 and 4 hold for the billing subscription at the purchase's business
 * time too: bought by then, and active then (its status history is kept by
 * evolve, in business time). */
static void test_domain_purchase_at_the_subscription_moment(void **state)
{
    (void)state;
    struct cmd k;
    const Ledger__V1__SubscriptionStatus ACTIVE =
        LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_ACTIVE;
    const Ledger__V1__SubscriptionStatus SUSPENDED =
        LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_SUSPENDED;
    const Ledger__V1__PermissionKind S = LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_SAVINGS_PLANS;
    onboard_early("Contoso Ltd");
    Ledger__V1__Command *early = subscription(&k, "sub-1", LEDGER__V1__OFFER__OFFER_AZURE_PLAN);
    early->business_us = T0 - 30 * DAY_US;
    accept(&ADMIN, early);
    Ledger__V1__Command *grant = permission(&k, true, S);
    grant->business_us = T0 - 30 * DAY_US;
    accept(&ADMIN, grant);
    accept(&ADMIN, subscription(&k, "sub-g", LEDGER__V1__OFFER__OFFER_AZURE_GLOBAL)); /* at T0 */
    accept(&ADMIN, role(&k, true, "sub-g", "alice", LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER));

    /* Not before the subscription was bought: exactly then is allowed. */
    Ledger__V1__Command *c =
        reservation(&k, "sub-g", "Standard_D2s_v5", LEDGER__V1__TERM__TERM_P1Y, 1000, "USD");
    c->business_us = T0 - 1;
    refuse_as(&ADMIN, c, LEDGER_ERR_SUBSCRIPTION_NOT_FOUND);
    assert_non_null(
        strstr(W->out.message,
               "billing subscription sub-g of customer c1 was bought "
               "2025-01-01T00:00:00Z: a purchase dated 2024-12-31T23:59:59.999999Z, before "
               "then, was not allowed; date it at or after that"));
    c->business_us = T0;
    assert_int_equal(LEDGER_ERR_OK, decide(&SALES, c));
    Ledger__V1__Command *plan = savings_plan(&k, "sub-g", LEDGER__V1__TERM__TERM_P1Y, 100);
    plan->business_us = T0 - 1;
    refuse_as(&ALICE, plan, LEDGER_ERR_SUBSCRIPTION_NOT_FOUND);
    assert_non_null(strstr(W->out.message, "was bought 2025-01-01T00:00:00Z"));
    plan->business_us = T0;
    assert_int_equal(LEDGER_ERR_OK, decide(&ALICE, plan));

    /* Not while it was suspended: sub-g is suspended from day 10 to day 20. */
    W->now_us = T0 + 10 * DAY_US;
    accept(&ADMIN, status(&k, "sub-g", SUSPENDED));
    W->now_us = T0 + 20 * DAY_US;
    accept(&ADMIN, status(&k, "sub-g", ACTIVE));
    W->now_us = T0 + 40 * DAY_US;
    /* Before the suspension a savings plan is allowed; a reservation of a
     * year, which would still be active on day 10, is not (rule 10, as
     * test_domain_reservation_outlasting_a_suspension tests). */
    struct {
        int64_t business_us;
        enum ledger_err expected[2]; /* a reservation's, a savings plan's */
    } cases[] = {
        {T0 + 10 * DAY_US - 1, {LEDGER_ERR_SUBSCRIPTION_NOT_ACTIVE, LEDGER_ERR_OK}},
        {T0 + 10 * DAY_US,
         {LEDGER_ERR_SUBSCRIPTION_NOT_ACTIVE, LEDGER_ERR_SUBSCRIPTION_NOT_ACTIVE}},
        {T0 + 20 * DAY_US - 1,
         {LEDGER_ERR_SUBSCRIPTION_NOT_ACTIVE, LEDGER_ERR_SUBSCRIPTION_NOT_ACTIVE}},
        {T0 + 20 * DAY_US, {LEDGER_ERR_OK, LEDGER_ERR_OK}},
        {0, {LEDGER_ERR_OK, LEDGER_ERR_OK}},
    };
    const struct domain_principal *buyers[] = {&ADMIN, &ALICE};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (size_t b = 0; b < 2; b++) {
            c = b == 0 ? reservation(&k, "sub-g", "Standard_D2s_v5", LEDGER__V1__TERM__TERM_P1Y,
                                     1000, "USD")
                       : savings_plan(&k, "sub-g", LEDGER__V1__TERM__TERM_P1Y, 100);
            c->business_us = cases[i].business_us;
            if (cases[i].expected[b] == LEDGER_ERR_OK) {
                assert_int_equal(LEDGER_ERR_OK, decide(buyers[b], c));
                continue;
            }
            refuse_as(buyers[b], c, cases[i].expected[b]);
            if (cases[i].business_us < T0 + 10 * DAY_US) {
                assert_non_null(strstr(W->out.message, "subscription sub-g became "
                                                       "suspended on 2025-01-11T00:00:00Z"));
                continue;
            }
            assert_non_null(
                strstr(W->out.message, "billing subscription sub-g was suspended on 2025-01-"));
            assert_non_null(strstr(W->out.message, "the purchase's date, and is active since "
                                                   "2025-01-21T00:00:00Z: a purchase dated "
                                                   "before then was not allowed; date it at or "
                                                   "after that"));
        }
    }
    /* Status changes are dated in order, after the purchase. */
    Ledger__V1__Command *back = status(&k, "sub-g", SUSPENDED);
    back->business_us = T0 + 20 * DAY_US - 1;
    refuse_as(&ADMIN, back, LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "subscription sub-g is active since "
                                           "2025-01-21T00:00:00Z: a change of its status dated "
                                           "2025-01-20T23:59:59.999999Z, before then"));
    back->business_us = T0 + 20 * DAY_US;
    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, back));
    W->now_us = T0 - 30 * DAY_US;
    back = status(&k, "sub-1", SUSPENDED);
    back->business_us = T0 - 30 * DAY_US - 1;
    refuse_as(&ADMIN, back, LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "is active since 2024-12-02T00:00:00Z"));
}

/* Rule 10 across business time, for what buys a reservation: one dated
 * before a recorded change of its billing subscription out of active, whose
 * term would reach past that change, would have been active while the
 * subscription was not, and is refused (a purchase by the partner or by a
 * customer user, a renewal, an exchange's replacement); one whose term ends
 * exactly at the change is allowed, and so is one dated from the
 * subscription's reactivation. Savings plans are not held by rule 10. Here
 * sub-g, bought on 2025-01-01, is suspended a year later, on 2026-01-01,
 * and active again from 2026-01-11. */
#define OUTLASTING_REFUSAL                                                                         \
    "subscription sub-g became suspended on 2026-01-01T00:00:00Z, while a reservation dated "      \
    "%s would be active; it is active since 2026-01-11T00:00:00Z: date the %s "                    \
    "at or after that"

static void test_domain_reservation_outlasting_a_suspension(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    accept(&ADMIN, role(&k, true, "sub-g", "alice", LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER));
    accept(&ADMIN, permission(&k, true, LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_RESERVATIONS));
    accept(&ADMIN,
           permission(&k, true, LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_SAVINGS_PLANS));
    /* Returned by the exchanges below; bought on 2025-01-01 on sub-1. */
    char returned_id[32];
    snprintf(returned_id, sizeof returned_id, "%s",
             buy_upfront(LEDGER__V1__TERM__TERM_P3Y, 1000, "USD"));
    const int64_t suspended_us = DATE_US(2026, 1, 1);
    const int64_t active_us = DATE_US(2026, 1, 11);
    assert_true(suspended_us == T0 + YEAR_US);
    W->now_us = suspended_us;
    accept(&ADMIN,
           status(&k, "sub-g", LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_SUSPENDED));
    W->now_us = active_us;
    accept(&ADMIN,
           status(&k, "sub-g", LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_ACTIVE));
    W->now_us = active_us + 10 * DAY_US;
    char expected[256];

    /* Purchases of a year: ending at the suspension is allowed, a
     * microsecond later is not, by the partner or by a customer user. */
    const struct domain_principal *buyers[] = {&ADMIN, &SALES, &ALICE};
    for (size_t b = 0; b < sizeof buyers / sizeof buyers[0]; b++) {
        Ledger__V1__Command *c =
            reservation(&k, "sub-g", "Standard_D2s_v5", LEDGER__V1__TERM__TERM_P1Y, 1000, "USD");
        c->business_us = T0;
        assert_int_equal(LEDGER_ERR_OK, decide(buyers[b], c));
        assert_true(W->out.event.reservation_purchased->expires_us == suspended_us);
        c->business_us = T0 + 1;
        refuse_as(buyers[b], c, LEDGER_ERR_SUBSCRIPTION_NOT_ACTIVE);
        snprintf(expected, sizeof expected, OUTLASTING_REFUSAL, "2025-01-01T00:00:00.000001Z",
                 "purchase");
        assert_non_null(strstr(W->out.message, expected));
        c->business_us = active_us;
        assert_int_equal(LEDGER_ERR_OK, decide(buyers[b], c));
    }
    assert_int_equal(1, W->customer->reservation_count);
    /* A savings plan across the suspension is not held by rule 10. */
    Ledger__V1__Command *plan = savings_plan(&k, "sub-g", LEDGER__V1__TERM__TERM_P1Y, 100);
    plan->business_us = T0 + 1;
    assert_int_equal(LEDGER_ERR_OK, decide(&ALICE, plan));

    /* An exchange's replacement of a year billed to sub-g: the same edge. */
    const char *returned[] = {returned_id};
    Ledger__V1__Command *c = exchange(&k, returned, 1, 0, 5000);
    c->exchange_reservation->replacements[0]->billing_subscription_id = "sub-g";
    c->exchange_reservation->replacements[0]->term = LEDGER__V1__TERM__TERM_P1Y;
    c->business_us = T0;
    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, c));
    c->business_us = T0 + 1;
    refuse_as(&ADMIN, c, LEDGER_ERR_SUBSCRIPTION_NOT_ACTIVE);
    snprintf(expected, sizeof expected, OUTLASTING_REFUSAL, "2025-01-01T00:00:00.000001Z",
             "exchange");
    assert_non_null(strstr(W->out.message, expected));
    c->business_us = active_us;
    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, c));

    /* A renewal counts from its date to the end of its term: a reservation
     * ending at the suspension may be renewed from the reactivation on. */
    Ledger__V1__Command *buy =
        reservation(&k, "sub-g", "Standard_D2s_v5", LEDGER__V1__TERM__TERM_P1Y, 1000, "USD");
    buy->purchase_reservation->auto_renew = true;
    buy->business_us = T0;
    char renewing[32];
    snprintf(renewing, sizeof renewing, "%s", seq_id("res", accept(&ADMIN, buy)));
    Ledger__V1__Command *renewal = renew(&k, renewing, 1000, "USD");
    renewal->business_us = T0;
    refuse_as(&ADMIN, renewal, LEDGER_ERR_SUBSCRIPTION_NOT_ACTIVE);
    snprintf(expected, sizeof expected, OUTLASTING_REFUSAL, "2025-01-01T00:00:00Z", "renewal");
    assert_non_null(strstr(W->out.message, expected));
    renewal->business_us = suspended_us - 1;
    refuse_as(&ADMIN, renewal, LEDGER_ERR_SUBSCRIPTION_NOT_ACTIVE);
    assert_non_null(strstr(W->out.message, "a reservation dated 2025-12-31T23:59:59.999999Z"));
    renewal->business_us = active_us;
    accept(&ADMIN, renewal);
    assert_int_equal(LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_EXPIRED,
                     domain_find_reservation(W->customer, renewing)->state);

    /* Suspended, then disabled at the same time: the refusal names the
     * first change out of active. */
    accept(&ADMIN, dated(subscription(&k, "sub-2", LEDGER__V1__OFFER__OFFER_AZURE_PLAN), T0));
    const int64_t out_us = DATE_US(2025, 6, 1);
    accept(&ADMIN, dated(status(&k, "sub-2",
                                LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_SUSPENDED),
                         out_us));
    accept(&ADMIN,
           dated(status(&k, "sub-2", LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_DISABLED),
                 out_us));
    accept(&ADMIN,
           dated(status(&k, "sub-2", LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_ACTIVE),
                 out_us + 10 * DAY_US));
    refuse_as(
        &ADMIN,
        dated(reservation(&k, "sub-2", "Standard_D2s_v5", LEDGER__V1__TERM__TERM_P1Y, 1000, "USD"),
              DATE_US(2025, 2, 1)),
        LEDGER_ERR_SUBSCRIPTION_NOT_ACTIVE);
    assert_non_null(
        strstr(W->out.message, "subscription sub-2 became suspended on 2025-06-01T00:00:00Z"));
}

/* Rule 10 across business time with two suspensions of the billing
 * subscription within a reservation's term dated back: the refusal names
 * the first (the earliest the reservation would have held it through), and
 * the time the subscription is active since (after the second). */
static void test_domain_reservation_outlasting_two_suspensions(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    const Ledger__V1__SubscriptionStatus SUSPENDED =
        LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_SUSPENDED;
    const Ledger__V1__SubscriptionStatus ACTIVE =
        LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_ACTIVE;
    /* sub-g suspended on days 10 and 14, active again on days 12 and 16. */
    W->now_us = T0 + 30 * DAY_US;
    accept(&ADMIN, dated(status(&k, "sub-g", SUSPENDED), T0 + 10 * DAY_US));
    accept(&ADMIN, dated(status(&k, "sub-g", ACTIVE), T0 + 12 * DAY_US));
    accept(&ADMIN, dated(status(&k, "sub-g", SUSPENDED), T0 + 14 * DAY_US));
    accept(&ADMIN, dated(status(&k, "sub-g", ACTIVE), T0 + 16 * DAY_US));
    Ledger__V1__Command *c =
        reservation(&k, "sub-g", "Standard_D2s_v5", LEDGER__V1__TERM__TERM_P1Y, 1000, "USD");
    c->business_us = T0 + 5 * DAY_US;
    refuse_as(&ADMIN, c, LEDGER_ERR_SUBSCRIPTION_NOT_ACTIVE);
    assert_string_equal("subscription sub-g became suspended on 2025-01-11T00:00:00Z, while a "
                        "reservation dated 2025-01-06T00:00:00Z would be active; it is active "
                        "since 2025-01-17T00:00:00Z: date the purchase at or after that",
                        W->out.message);
    /* Dated between the two: the second is named. */
    c->business_us = T0 + 13 * DAY_US;
    refuse_as(&ADMIN, c, LEDGER_ERR_SUBSCRIPTION_NOT_ACTIVE);
    assert_non_null(strstr(W->out.message, "became suspended on 2025-01-15T00:00:00Z"));
    c->business_us = T0 + 16 * DAY_US;
    accept(&ADMIN, c);
    assert_int_equal(1, W->customer->reservation_count);
}
#undef OUTLASTING_REFUSAL

/* Rule 10's refusals across business time say what to do in full for a
 * subscription id as long as Azure's (a GUID, 36 characters), an exchange's
 * "replacement 1 of 2: " included. */
static void test_domain_rule_10_messages_fit(void **state)
{
    (void)state;
    struct cmd k;
    const char *guid = "0b1e2f3a-4c5d-6e7f-8091-a2b3c4d5e6f7";
    standard_customer();
    accept(&ADMIN, subscription(&k, guid, LEDGER__V1__OFFER__OFFER_AZURE_PLAN));
    char returned_id[32];
    snprintf(returned_id, sizeof returned_id, "%s", buy_reservation(1000)); /* on sub-1 */
    W->now_us = T0 + 10 * DAY_US;
    char rid[32];
    snprintf(rid, sizeof rid, "%s",
             seq_id("res", accept(&ADMIN, reservation(&k, guid, "Standard_D2s_v5",
                                                      LEDGER__V1__TERM__TERM_P1Y, 1000, "USD"))));
    W->now_us = T0 + 20 * DAY_US;
    end_reservation(rid, END_EXCHANGED);
    Ledger__V1__Command *back =
        status(&k, guid, LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_SUSPENDED);
    back->business_us = T0 + 15 * DAY_US;
    refuse_as(&ADMIN, back, LEDGER_ERR_SUBSCRIPTION_HAS_RESERVATIONS);
    assert_non_null(strstr(W->out.message, guid));
    assert_non_null(strstr(W->out.message, "(exchanged); date the change at or after its end"));

    back->business_us = T0 + 20 * DAY_US;
    accept(&ADMIN, back);
    W->now_us = T0 + 30 * DAY_US;
    accept(&ADMIN, status(&k, guid, LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_ACTIVE));
    const char *returned[] = {returned_id};
    Ledger__V1__Command *c = exchange(&k, returned, 1, 0, 5000);
    c->exchange_reservation->replacements[0]->billing_subscription_id = (char *)guid;
    more_replacement(&k, 5000);
    c->business_us = T0 + 20 * DAY_US - 1;
    refuse_as(&ADMIN, c, LEDGER_ERR_SUBSCRIPTION_NOT_ACTIVE);
    assert_non_null(strstr(W->out.message, "replacement 1 of 2: subscription "));
    assert_non_null(strstr(W->out.message, guid));
    assert_non_null(strstr(W->out.message, "it is active since 2025-01-31T00:00:00Z: date the "
                                           "exchange at or after that"));
}

/* Rule 2 at the grant's business time: an eligible subscription bought by
 * then and active then (and now). */
static void test_domain_grant_at_the_subscription_moment(void **state)
{
    (void)state;
    struct cmd k;
    const Ledger__V1__PermissionKind R = LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_RESERVATIONS;
    accept(&ADMIN, onboard(&k, "Contoso Ltd"));
    accept(&ADMIN, subscription(&k, "sub-o", LEDGER__V1__OFFER__OFFER_OTHER));
    W->now_us = T0 + 10 * DAY_US;
    accept(&ADMIN, subscription(&k, "sub-1", LEDGER__V1__OFFER__OFFER_AZURE_PLAN));
    W->now_us = T0 + 40 * DAY_US;
    Ledger__V1__Command *grant = permission(&k, true, R);
    grant->business_us = T0 + 10 * DAY_US - 1;
    refuse_as(&ADMIN, grant, LEDGER_ERR_NO_ELIGIBLE_SUBSCRIPTION);
    assert_non_null(strstr(W->out.message,
                           "customer c1 had no active Azure plan or Azure Global subscription on "
                           "2025-01-10T23:59:59.999999Z, the grant's date; it has one since "
                           "2025-01-11T00:00:00Z: permission 'reservations' could not be turned "
                           "on before then; date the grant at or after that"));
    grant->business_us = T0 + 10 * DAY_US;
    accept(&ADMIN, grant);
    Ledger__V1__Command *revoke = permission(&k, false, R);
    revoke->business_us = T0 + 15 * DAY_US;
    accept(&ADMIN, revoke);
    /* Suspended from day 20 to day 30. */
    W->now_us = T0 + 20 * DAY_US;
    accept(&ADMIN,
           status(&k, "sub-1", LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_SUSPENDED));
    W->now_us = T0 + 30 * DAY_US;
    accept(&ADMIN,
           status(&k, "sub-1", LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_ACTIVE));
    W->now_us = T0 + 40 * DAY_US;
    grant = permission(&k, true, R);
    grant->business_us = T0 + 30 * DAY_US - 1;
    refuse_as(&ADMIN, grant, LEDGER_ERR_NO_ELIGIBLE_SUBSCRIPTION);
    assert_non_null(strstr(W->out.message, "it has one since 2025-01-31T00:00:00Z"));
    /* A time with microseconds is named with them: dating the grant at the
     * time a message names must be allowed. */
    grant->business_us = T0 + 30 * DAY_US - 250;
    refuse_as(&ADMIN, grant, LEDGER_ERR_NO_ELIGIBLE_SUBSCRIPTION);
    assert_non_null(strstr(W->out.message, "on 2025-01-30T23:59:59.999750Z, the grant's date"));
    grant->business_us = T0 + 20 * DAY_US - 1;
    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, grant));
    grant->business_us = T0 + 30 * DAY_US;
    accept(&ADMIN, grant);
}

/* Rule 2 at the grant's business time with several eligible subscriptions
 * bought after it: the refusal names the earliest time one of them has been
 * active since (neither the first nor the last in the order they were
 * recorded), and a grant dated then is allowed. */
static void test_domain_grant_dated_back_names_the_earliest_subscription(void **state)
{
    (void)state;
    struct cmd k;
    const Ledger__V1__PermissionKind R = LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_RESERVATIONS;
    onboard_early("Contoso Ltd");
    W->now_us = T0 + 40 * DAY_US;
    /* Recorded in this order, bought on days 10, 5 and 20. */
    accept(&ADMIN,
           dated(subscription(&k, "sub-1", LEDGER__V1__OFFER__OFFER_AZURE_PLAN), T0 + 10 * DAY_US));
    accept(&ADMIN, dated(subscription(&k, "sub-g", LEDGER__V1__OFFER__OFFER_AZURE_GLOBAL),
                         T0 + 5 * DAY_US));
    accept(&ADMIN,
           dated(subscription(&k, "sub-2", LEDGER__V1__OFFER__OFFER_AZURE_PLAN), T0 + 20 * DAY_US));
    Ledger__V1__Command *grant = permission(&k, true, R);
    grant->business_us = T0 + DAY_US;
    refuse_as(&ADMIN, grant, LEDGER_ERR_NO_ELIGIBLE_SUBSCRIPTION);
    assert_string_equal("customer c1 had no active Azure plan or Azure Global subscription on "
                        "2025-01-02T00:00:00Z, the grant's date; it has one since "
                        "2025-01-06T00:00:00Z: permission 'reservations' could not be turned "
                        "on before then; date the grant at or after that",
                        W->out.message);
    assert_false(W->customer->permission_on[R]);
    grant->business_us = T0 + 5 * DAY_US;
    accept(&ADMIN, grant);
    assert_true(W->customer->permission_on[R]);
}

/* Rule 2 is decided at the grant's business time only: a grant made while
 * the customer's plan was active stays a fact when the plan has been
 * suspended since, so a grant recorded after that suspension is allowed as
 * it was when recorded before it (the status change's own check, rule 2
 * kept, allows the suspension after a grant). */
static void test_domain_grant_recorded_after_a_suspension(void **state)
{
    (void)state;
    struct cmd k;
    const Ledger__V1__PermissionKind R = LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_RESERVATIONS;
    onboard_early("Contoso Ltd");
    accept(&ADMIN, subscription(&k, "sub-1", LEDGER__V1__OFFER__OFFER_AZURE_PLAN)); /* T0 */
    W->now_us = T0 + 20 * DAY_US;
    accept(&ADMIN,
           status(&k, "sub-1", LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_SUSPENDED));
    W->now_us = T0 + 30 * DAY_US;
    /* Not while it was suspended, from its suspension's instant on. */
    Ledger__V1__Command *grant = permission(&k, true, R);
    grant->business_us = T0 + 20 * DAY_US;
    refuse_as(&ADMIN, grant, LEDGER_ERR_NO_ELIGIBLE_SUBSCRIPTION);
    assert_non_null(strstr(W->out.message, "its azure-plan subscription sub-1 is suspended"));
    grant->business_us = T0 + 20 * DAY_US - 1;
    accept(&ADMIN, grant);
    assert_true(W->customer->permission_on[R]);
    assert_true(W->customer->permission_changes[0].changed_us == T0 + 20 * DAY_US - 1);
}

/* A savings plan needs its billing subscription active at its business
 * time only: rule 10 does not hold savings plans, so a plan bought before a
 * suspension is allowed whether it is recorded before the suspension (the
 * suspension is then allowed after it) or after it. A reservation still
 * needs the subscription active now too (rule 10). */
static void test_domain_savings_plan_recorded_after_a_suspension(void **state)
{
    (void)state;
    struct cmd k;
    savings_plan_buyer();
    W->now_us = T0 + 20 * DAY_US;
    accept(&ADMIN,
           status(&k, "sub-1", LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_SUSPENDED));
    W->now_us = T0 + 30 * DAY_US;
    Ledger__V1__Command *c = savings_plan(&k, "sub-1", LEDGER__V1__TERM__TERM_P1Y, 100);
    c->business_us = T0 + 20 * DAY_US;
    refuse_as(&ADMIN, c, LEDGER_ERR_SUBSCRIPTION_NOT_ACTIVE);
    assert_non_null(strstr(W->out.message,
                           "billing subscription sub-1 was suspended on 2025-01-21T00:00:00Z, the "
                           "purchase's date, and is suspended now; bill an Azure plan or Azure "
                           "Global subscription active then"));
    refuse_as(&ALICE, c, LEDGER_ERR_SUBSCRIPTION_NOT_ACTIVE);
    c->business_us = T0 + 20 * DAY_US - 1;
    accept(&ADMIN, c);
    c = savings_plan(&k, "sub-1", LEDGER__V1__TERM__TERM_P1Y, 100);
    c->business_us = T0 + 10 * DAY_US;
    accept(&ALICE, c);
    assert_int_equal(2, W->customer->savings_plan_count);
    /* A reservation so dated: its subscription must be active now too. */
    c = plain_reservation(&k, 1000);
    c->business_us = T0 + 10 * DAY_US;
    refuse_as(&ADMIN, c, LEDGER_ERR_SUBSCRIPTION_NOT_ACTIVE);
    assert_non_null(strstr(W->out.message, "billing subscription sub-1 is suspended, not active"));
}

static void test_domain_customer_savings_plan_purchase(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    accept(&ADMIN, role(&k, true, "sub-1", "alice", LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER));
    /* The reservations switch does not open savings plans. */
    accept(&ADMIN, permission(&k, true, LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_RESERVATIONS));
    refuse_as(&ALICE, savings_plan(&k, "sub-1", LEDGER__V1__TERM__TERM_P1Y, 500),
              LEDGER_ERR_PERMISSION_OFF);
    assert_non_null(strstr(W->out.message, "savings-plans"));
    uint64_t granted = accept(
        &ADMIN, permission(&k, true, LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_SAVINGS_PLANS));
    assert_int_equal(LEDGER_ERR_OK,
                     decide(&ALICE, savings_plan(&k, "sub-1", LEDGER__V1__TERM__TERM_P3Y, 500)));
    const Ledger__V1__SavingsPlanPurchased *p = W->out.event.savings_plan_purchased;
    assert_int_equal(LEDGER__V1__PURCHASER__PURCHASER_CUSTOMER, p->purchaser);
    assert_int_equal(granted, p->allowed_by->permission_sequence);
    assert_string_equal(seq_id("sp", W->sequence), p->savings_plan_id);
    assert_true(p->expires_us - p->starts_us == 3 * YEAR_US);
    /* Not shown to partner staff; partner-bought plans are. */
    assert_false(domain_partner_visible(&W->out.event));
    uint64_t seq = accept(&ALICE, savings_plan(&k, "sub-1", LEDGER__V1__TERM__TERM_P3Y, 500));
    assert_non_null(domain_find_savings_plan(W->customer, seq_id("sp", seq)));
    assert_int_equal(LEDGER_ERR_OK,
                     decide(&ADMIN, savings_plan(&k, "sub-1", LEDGER__V1__TERM__TERM_P1Y, 500)));
    assert_int_equal(LEDGER__V1__PURCHASER__PURCHASER_PARTNER,
                     W->out.event.savings_plan_purchased->purchaser);
    assert_null(W->out.event.savings_plan_purchased->allowed_by);
    assert_true(domain_partner_visible(&W->out.event));
}

/* ---- rule 4: partner purchases ---------------------------------------------- */

/* The cloud's order id a purchase, an exchange's replacement or a renewal
 * names is recorded as given, once its shape is checked; a command without
 * one records none. Recorded events are packed and read back (accept). */
static void test_domain_cloud_order_id(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, plain_reservation(&k, 1000)));
    assert_string_equal("", W->out.event.reservation_purchased->cloud_order_id);
    Ledger__V1__Command *c = plain_reservation(&k, 1000);
    c->purchase_reservation->cloud_order_id = "order 1";
    refuse_as(&ADMIN, c, LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "cloud_order_id must be 1..64 characters"));
    c = plain_reservation(&k, 1000);
    c->purchase_reservation->cloud_order_id = "ro-1111";
    c->purchase_reservation->auto_renew = true;
    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, c));
    Ledger__V1__Event *event = decided_event();
    assert_string_equal("ro-1111", event->reservation_purchased->cloud_order_id);
    codec_event_free(event);
    char renewing[32];
    snprintf(renewing, sizeof renewing, "%s", seq_id("res", accept(&ADMIN, c)));

    /* A savings plan's purchase. */
    c = savings_plan(&k, "sub-1", LEDGER__V1__TERM__TERM_P1Y, 100);
    c->purchase_savings_plan->cloud_order_id = "sp/1";
    refuse_as(&ADMIN, c, LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "cloud_order_id"));
    c = savings_plan(&k, "sub-1", LEDGER__V1__TERM__TERM_P1Y, 100);
    c->purchase_savings_plan->cloud_order_id = "spo-1";
    c->purchase_savings_plan->auto_renew = true;
    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, c));
    event = decided_event();
    assert_string_equal("spo-1", event->savings_plan_purchased->cloud_order_id);
    codec_event_free(event);
    char plan[32];
    snprintf(plan, sizeof plan, "%s", seq_id("sp", accept(&ADMIN, c)));

    /* An exchange's replacements, each its own. */
    char returned_id[32];
    snprintf(returned_id, sizeof returned_id, "%s", buy_reservation(1000000));
    const char *returned[] = {returned_id};
    exchange(&k, returned, 1, 0, 600000);
    Ledger__V1__PurchaseReservation *second = more_replacement(&k, 600000);
    second->cloud_order_id = "ro-3333";
    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, &k.c));
    event = decided_event();
    assert_string_equal("", event->reservation_exchanged->replacements[0]->cloud_order_id);
    assert_string_equal("ro-3333", event->reservation_exchanged->replacements[1]->cloud_order_id);
    codec_event_free(event);
    second->cloud_order_id = "ro 3333";
    refuse_as(&ADMIN, &k.c, LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "replacement 2 of 2: cloud_order_id"));

    /* Renewals: the cloud issues a new order for each. */
    W->now_us = T0 + YEAR_US;
    c = renew(&k, renewing, 1100, "USD");
    c->renew_reservation->cloud_order_id = "ro:2222:";
    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, c));
    c->renew_reservation->cloud_order_id = "ro\n2222";
    refuse_as(&ADMIN, c, LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "cloud_order_id"));
    c->renew_reservation->cloud_order_id = "ro-2222";
    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, c));
    event = decided_event();
    assert_string_equal("ro-2222", event->reservation_renewed->renewal->cloud_order_id);
    codec_event_free(event);
    accept(&ADMIN, c);
    c = plan_renew(&k, plan, 2000000, "USD");
    c->renew_savings_plan->cloud_order_id = "spo 2";
    refuse_as(&ADMIN, c, LEDGER_ERR_INVALID_ARGUMENT);
    c->renew_savings_plan->cloud_order_id = "spo-2";
    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, c));
    event = decided_event();
    assert_string_equal("spo-2", event->savings_plan_renewed->renewal->cloud_order_id);
    codec_event_free(event);
    c->renew_savings_plan->cloud_order_id = "";
    accept(&ADMIN, c);
}

/* A cloud order id another purchase of the partner recorded (as the engine
 * found it) is refused, naming that purchase for partner staff and not for
 * a customer user of another customer; two replacements of one exchange
 * may not name the same one. */
static void test_domain_cloud_order_id_held(void **state)
{
    (void)state;
    struct cmd k;
    savings_plan_buyer();
    W->cloud_order_held_id = "ro-1";
    W->cloud_order_holder_customer_id = "c-other";
    W->cloud_order_holder_sequence = 41;
    Ledger__V1__Command *c = plain_reservation(&k, 1000);
    c->purchase_reservation->cloud_order_id = "ro-1";
    refuse_as(&ADMIN, c, LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "cloud_order_id ro-1 was recorded with another "
                                           "purchase (sequence 41, customer c-other)"));
    c = savings_plan(&k, "sub-1", LEDGER__V1__TERM__TERM_P1Y, 100);
    c->purchase_savings_plan->cloud_order_id = "ro-1";
    refuse_as(&ADMIN, c, LEDGER_ERR_INVALID_ARGUMENT);
    char plan[32];
    snprintf(plan, sizeof plan, "%s", buy_savings_plan(100));
    c = plan_renew(&k, plan, 2000000, "USD");
    c->renew_savings_plan->cloud_order_id = "ro-1";
    refuse_as(&ADMIN, c, LEDGER_ERR_INVALID_ARGUMENT);
    /* A customer user is not told another customer's purchase. */
    c = savings_plan(&k, "sub-1", LEDGER__V1__TERM__TERM_P1Y, 100);
    c->purchase_savings_plan->cloud_order_id = "ro-1";
    refuse_as(&ALICE, c, LEDGER_ERR_INVALID_ARGUMENT);
    assert_null(strstr(W->out.message, "c-other"));
    assert_non_null(strstr(W->out.message, "cloud_order_id ro-1"));
    /* The same customer's purchase is named to its user. */
    W->cloud_order_holder_customer_id = "c1";
    refuse_as(&ALICE, c, LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "customer c1"));
    W->cloud_order_held_id = NULL;
    W->cloud_order_holder_customer_id = NULL;
    accept(&ALICE, c);

    /* Within one exchange. */
    char returned_id[32];
    snprintf(returned_id, sizeof returned_id, "%s", buy_reservation(1000000));
    const char *returned[] = {returned_id};
    exchange(&k, returned, 1, 0, 600000);
    k.reservation.cloud_order_id = "ro-5";
    more_replacement(&k, 600000)->cloud_order_id = "ro-6";
    more_replacement(&k, 600000)->cloud_order_id = "ro-5";
    refuse_as(&ADMIN, &k.c, LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(
        strstr(W->out.message, "replacement 3 of 3: cloud_order_id ro-5 is replacement 1's too"));
    k.more[2].cloud_order_id = "ro-7";
    accept(&ADMIN, &k.c);
}

static void test_domain_partner_purchase(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, plain_reservation(&k, 1000)));
    const Ledger__V1__ReservationPurchased *e = W->out.event.reservation_purchased;
    assert_int_equal(LEDGER__V1__PURCHASER__PURCHASER_PARTNER, e->purchaser);
    assert_null(e->allowed_by);
    assert_string_equal(seq_id("res", W->sequence), e->reservation_id);
    assert_string_equal(seq_id("ord", W->sequence), e->order_id);
    assert_true(e->starts_us == T0);
    assert_true(e->expires_us == T0 + YEAR_US);
    assert_true(domain_partner_visible(&W->out.event));
    /* What billing reads: the plan, the partner's and the retail price. */
    Ledger__V1__Command *monthly = plain_reservation(&k, 1000);
    monthly->purchase_reservation->billing_plan = LEDGER__V1__BILLING_PLAN__BILLING_PLAN_MONTHLY;
    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, monthly));
    e = W->out.event.reservation_purchased;
    assert_int_equal(LEDGER__V1__BILLING_PLAN__BILLING_PLAN_MONTHLY, e->billing_plan);
    assert_int_equal(1000, e->price->amount_minor);
    assert_int_equal(1100, e->retail_price->amount_minor);
    assert_int_equal(LEDGER_ERR_OK,
                     decide(&ADMIN, savings_plan(&k, "sub-1", LEDGER__V1__TERM__TERM_P1Y, 100)));
    const Ledger__V1__SavingsPlanPurchased *plan = W->out.event.savings_plan_purchased;
    assert_int_equal(LEDGER__V1__BILLING_PLAN__BILLING_PLAN_MONTHLY, plan->billing_plan);
    assert_int_equal(100 * 8760, plan->price->amount_minor);
    assert_int_equal(100 * 9000, plan->retail_price->amount_minor);
    /* Partner purchases need no permission. */
    accept(&SALES, plain_reservation(&k, 1000));
    refuse_as(&SALES, savings_plan(&k, "sub-1", LEDGER__V1__TERM__TERM_P1Y, 100),
              LEDGER_ERR_FORBIDDEN);
    /* The refusal names who may, so the sales agent knows whom to ask. */
    assert_non_null(strstr(W->out.message,
                           "role sales-agent may not purchase savings plan "
                           "(purchase_savings_plan); ask a principal of role admin-agent or "
                           "customer-user"));
    accept(&ADMIN, savings_plan(&k, "sub-1", LEDGER__V1__TERM__TERM_P1Y, 100));
    const struct domain_principal *readers[] = {&HELPDESK, &AUDITOR, &BILLING, &OPERATOR, &SYSTEM};
    for (size_t i = 0; i < 5; i++) {
        refuse_as(readers[i], plain_reservation(&k, 1000), LEDGER_ERR_FORBIDDEN);
        refuse_as(readers[i], savings_plan(&k, "sub-1", LEDGER__V1__TERM__TERM_P1Y, 100),
                  LEDGER_ERR_FORBIDDEN);
    }
    refuse_as(&ADMIN,
              reservation(&k, "sub-o", "Standard_D2s_v5", LEDGER__V1__TERM__TERM_P1Y, 1000, "USD"),
              LEDGER_ERR_SUBSCRIPTION_NOT_ELIGIBLE);
    refuse_as(&SALES,
              reservation(&k, "sub-9", "Standard_D2s_v5", LEDGER__V1__TERM__TERM_P1Y, 1000, "USD"),
              LEDGER_ERR_SUBSCRIPTION_NOT_FOUND);
    refuse_as(&ADMIN, savings_plan(&k, "sub-o", LEDGER__V1__TERM__TERM_P1Y, 100),
              LEDGER_ERR_SUBSCRIPTION_NOT_ELIGIBLE);
    accept(&ADMIN,
           status(&k, "sub-g", LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_DISABLED));
    refuse_as(&ADMIN,
              reservation(&k, "sub-g", "Standard_D2s_v5", LEDGER__V1__TERM__TERM_P1Y, 1000, "USD"),
              LEDGER_ERR_SUBSCRIPTION_NOT_ACTIVE);
    refuse_as(&ADMIN, savings_plan(&k, "sub-g", LEDGER__V1__TERM__TERM_P1Y, 100),
              LEDGER_ERR_SUBSCRIPTION_NOT_ACTIVE);
}

/* ---- field validation and rules 9 and 11 ------------------------------------ */

/* The currencies the domain accepts: ISO 4217's, less the codes that are
 * no money a reseller bills in. */
static void test_domain_currency_codes(void **state)
{
    (void)state;
    static const char *const known[] = {"AED", "EUR", "JPY", "KWD", "USD", "XOF", "ZWL"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        assert_true(money_currency_known(known[i]));
    }
    static const char *const unknown[] = {"ZZZ", "XAU", "XTS", "XXX", "usd", "US", "USDX", ""};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        assert_false(money_currency_known(unknown[i]));
    }
    assert_false(money_currency_known(NULL));
}

static void test_domain_reservation_field_validation(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    Ledger__V1__Command *c;
#define BAD(mutation, code)                                                                        \
    do {                                                                                           \
        c = plain_reservation(&k, 1000);                                                           \
        Ledger__V1__PurchaseReservation *r = c->purchase_reservation;                              \
        (void)r;                                                                                   \
        mutation;                                                                                  \
        refuse_as(&ADMIN, c, code);                                                                \
    } while (0)
    BAD(r->quantity = 0, LEDGER_ERR_INVALID_ARGUMENT);
    BAD(r->quantity = LEDGER_QUANTITY_MAX + 1, LEDGER_ERR_INVALID_ARGUMENT);
    BAD(r->term = LEDGER__V1__TERM__TERM_UNSPECIFIED, LEDGER_ERR_INVALID_ARGUMENT);
    BAD(r->term = (Ledger__V1__Term)9, LEDGER_ERR_UNKNOWN_MESSAGE);
    BAD(r->billing_plan = LEDGER__V1__BILLING_PLAN__BILLING_PLAN_UNSPECIFIED,
        LEDGER_ERR_INVALID_ARGUMENT);
    BAD(r->billing_plan = (Ledger__V1__BillingPlan)3, LEDGER_ERR_UNKNOWN_MESSAGE);
    BAD(r->scope->kind = (Ledger__V1__ScopeKind)5, LEDGER_ERR_UNKNOWN_MESSAGE);
    BAD(r->scope->kind = LEDGER__V1__SCOPE_KIND__SCOPE_KIND_UNSPECIFIED,
        LEDGER_ERR_INVALID_ARGUMENT);
    BAD(r->scope = NULL, LEDGER_ERR_INVALID_ARGUMENT);
    BAD(r->price = NULL, LEDGER_ERR_INVALID_ARGUMENT);
    BAD(r->retail_price = NULL, LEDGER_ERR_INVALID_ARGUMENT);
    BAD(r->price->amount_minor = 0, LEDGER_ERR_INVALID_AMOUNT);
    BAD(r->price->amount_minor = -5, LEDGER_ERR_INVALID_AMOUNT);
    assert_non_null(strstr(W->out.message, "price.amount_minor -5 is out of range (1.."));
    BAD(r->price->amount_minor = LEDGER_AMOUNT_MINOR_MAX + 1, LEDGER_ERR_INVALID_AMOUNT);
    BAD(r->retail_price->amount_minor = 0, LEDGER_ERR_INVALID_AMOUNT);
    BAD(r->price->currency = "usd", LEDGER_ERR_INVALID_AMOUNT);
    assert_non_null(strstr(W->out.message, "price.currency must be an ISO 4217 code of three "
                                           "upper-case letters"));
    BAD(r->price->currency = "US", LEDGER_ERR_INVALID_AMOUNT);
    BAD(r->price->currency = "", LEDGER_ERR_INVALID_AMOUNT);
    /* Three upper-case letters that are no currency of ISO 4217, or that
     * are no money (gold, the testing code, "no currency"). */
    static const char *const not_currencies[] = {"UDS", "ABC", "XAU", "XTS", "XXX"};
    for (size_t i = 0; i < sizeof not_currencies / sizeof not_currencies[0]; i++) {
        c = plain_reservation(&k, 1000);
        c->purchase_reservation->price->currency = (char *)not_currencies[i];
        c->purchase_reservation->retail_price->currency = (char *)not_currencies[i];
        refuse_as(&ADMIN, c, LEDGER_ERR_INVALID_AMOUNT);
        assert_non_null(strstr(W->out.message, "is not a currency of ISO 4217"));
    }
    BAD(r->retail_price->currency = "EUR", LEDGER_ERR_CURRENCY_MISMATCH);
    BAD(r->sku = "", LEDGER_ERR_INVALID_ARGUMENT);
    BAD(r->sku = "Standard D2", LEDGER_ERR_INVALID_ARGUMENT);
    BAD(r->region = "", LEDGER_ERR_INVALID_ARGUMENT);
    BAD(r->billing_subscription_id = "", LEDGER_ERR_INVALID_ARGUMENT);
    BAD(r->billing_subscription_id = "sub/1", LEDGER_ERR_INVALID_ARGUMENT);
#undef BAD
    /* The edges that are allowed. */
    c = plain_reservation(&k, LEDGER_AMOUNT_MINOR_MAX / 2);
    c->purchase_reservation->quantity = LEDGER_QUANTITY_MAX;
    c->purchase_reservation->retail_price->amount_minor = LEDGER_AMOUNT_MINOR_MAX;
    accept(&ADMIN, c);
    c = reservation(&k, "sub-1", "Standard_D2s_v5", LEDGER__V1__TERM__TERM_P3Y, 1, "JPY");
    c->purchase_reservation->quantity = 1;
    c->purchase_reservation->billing_plan = LEDGER__V1__BILLING_PLAN__BILLING_PLAN_UPFRONT;
    accept(&ADMIN, c);
}

static void test_domain_terms(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    refuse_as(&ADMIN,
              reservation(&k, "sub-1", "Standard_D2s_v5", LEDGER__V1__TERM__TERM_P5Y, 100, "USD"),
              LEDGER_ERR_INVALID_TERM);
    refuse_as(&ADMIN,
              reservation(&k, "sub-1", "Premium_M64", LEDGER__V1__TERM__TERM_P5Y, 100, "USD"),
              LEDGER_ERR_INVALID_TERM);
    refuse_as(&ADMIN,
              reservation(&k, "sub-1", "standard_m64", LEDGER__V1__TERM__TERM_P5Y, 100, "USD"),
              LEDGER_ERR_INVALID_TERM);
    static const char *five_year_skus[] = {"Standard_M64s", "Standard_HB120rs_v3",
                                           "Standard_HC44rs", "DedicatedHost_DSv3-Type1"};
    for (size_t i = 0; i < 4; i++) {
        uint64_t seq = accept(&ADMIN, reservation(&k, "sub-1", five_year_skus[i],
                                                  LEDGER__V1__TERM__TERM_P5Y, 100, "USD"));
        const struct domain_reservation *r =
            domain_find_reservation(W->customer, seq_id("res", seq));
        assert_true(r->starts_us == T0);
        assert_true(r->expires_us == DATE_US(2030, 1, 1));
    }
    /* Calendar years: P3Y from 2025-01-01 ends 2028-01-01, and P1Y from
     * 2027-03-01 ends 2028-03-01, 366 days later (2028-02-29 between). */
    uint64_t seq = accept(&ADMIN, reservation(&k, "sub-1", "Standard_D2s_v5",
                                              LEDGER__V1__TERM__TERM_P3Y, 100, "USD"));
    assert_true(domain_find_reservation(W->customer, seq_id("res", seq))->expires_us ==
                DATE_US(2028, 1, 1));
    Ledger__V1__Command *leap =
        reservation(&k, "sub-1", "Standard_D2s_v5", LEDGER__V1__TERM__TERM_P1Y, 100, "USD");
    W->now_us = DATE_US(2027, 3, 1);
    seq = accept(&ADMIN, leap);
    assert_true(domain_find_reservation(W->customer, seq_id("res", seq))->expires_us ==
                DATE_US(2028, 3, 1));
    /* Bought on 29 February: a one-year term ends on 28 February. */
    W->now_us = DATE_US(2028, 2, 29) + DAY_US / 2;
    seq = accept(&ADMIN, savings_plan(&k, "sub-1", LEDGER__V1__TERM__TERM_P1Y, 100));
    const struct domain_savings_plan *plan =
        domain_find_savings_plan(W->customer, seq_id("sp", seq));
    assert_true(plan->expires_us == DATE_US(2029, 2, 28) + DAY_US / 2);
    W->now_us = T0;
    /* Savings plans: P1Y and P3Y only, whatever else. */
    refuse_as(&ADMIN, savings_plan(&k, "sub-1", LEDGER__V1__TERM__TERM_P5Y, 100),
              LEDGER_ERR_INVALID_TERM);
    refuse_as(&ADMIN, savings_plan(&k, "sub-1", (Ledger__V1__Term)4, 100),
              LEDGER_ERR_UNKNOWN_MESSAGE);
    refuse_as(&ADMIN, savings_plan(&k, "sub-1", LEDGER__V1__TERM__TERM_UNSPECIFIED, 100),
              LEDGER_ERR_INVALID_ARGUMENT);
}

static void test_domain_savings_plan_field_validation(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    Ledger__V1__Command *c;
#define BAD(mutation, code)                                                                        \
    do {                                                                                           \
        c = savings_plan(&k, "sub-1", LEDGER__V1__TERM__TERM_P1Y, 100);                            \
        Ledger__V1__PurchaseSavingsPlan *p = c->purchase_savings_plan;                             \
        (void)p;                                                                                   \
        mutation;                                                                                  \
        refuse_as(&ADMIN, c, code);                                                                \
    } while (0)
    BAD(p->hourly_commitment = NULL, LEDGER_ERR_INVALID_ARGUMENT);
    BAD(p->hourly_commitment->amount_minor = 0, LEDGER_ERR_INVALID_AMOUNT);
    BAD(p->hourly_commitment->currency = "EUR", LEDGER_ERR_CURRENCY_MISMATCH);
    BAD(p->price->currency = "EUR", LEDGER_ERR_CURRENCY_MISMATCH);
    BAD(p->price->amount_minor = -1, LEDGER_ERR_INVALID_AMOUNT);
    BAD(p->billing_plan = (Ledger__V1__BillingPlan)8, LEDGER_ERR_UNKNOWN_MESSAGE);
    BAD(p->scope->kind = (Ledger__V1__ScopeKind)8, LEDGER_ERR_UNKNOWN_MESSAGE);
    BAD(p->scope->target = "sub-9", LEDGER_ERR_INVALID_SCOPE);
    BAD(p->billing_subscription_id = "", LEDGER_ERR_INVALID_ARGUMENT);
#undef BAD
}

static void test_domain_scopes(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    struct {
        Ledger__V1__ScopeKind kind;
        const char *target;
        enum ledger_err expected;
    } cases[] = {
        {LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SINGLE, "sub-1", LEDGER_ERR_OK},
        {LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SINGLE, "sub-o", LEDGER_ERR_OK},
        {LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SINGLE, "sub-9", LEDGER_ERR_INVALID_SCOPE},
        {LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SINGLE, "", LEDGER_ERR_INVALID_SCOPE},
        {LEDGER__V1__SCOPE_KIND__SCOPE_KIND_RESOURCE_GROUP, "sub-1/rg-web_(prod)", LEDGER_ERR_OK},
        /* Every end of the allowed ranges, and the characters just past them. */
        {LEDGER__V1__SCOPE_KIND__SCOPE_KIND_RESOURCE_GROUP, "sub-1/AZaz09.", LEDGER_ERR_OK},
        {LEDGER__V1__SCOPE_KIND__SCOPE_KIND_RESOURCE_GROUP, "sub-1/rg@", LEDGER_ERR_INVALID_SCOPE},
        {LEDGER__V1__SCOPE_KIND__SCOPE_KIND_RESOURCE_GROUP, "sub-1/rg[", LEDGER_ERR_INVALID_SCOPE},
        {LEDGER__V1__SCOPE_KIND__SCOPE_KIND_RESOURCE_GROUP, "sub-1/rg`", LEDGER_ERR_INVALID_SCOPE},
        {LEDGER__V1__SCOPE_KIND__SCOPE_KIND_RESOURCE_GROUP, "sub-1/rg{", LEDGER_ERR_INVALID_SCOPE},
        {LEDGER__V1__SCOPE_KIND__SCOPE_KIND_RESOURCE_GROUP, "sub-1/rg:", LEDGER_ERR_INVALID_SCOPE},
        {LEDGER__V1__SCOPE_KIND__SCOPE_KIND_RESOURCE_GROUP, "sub-9/rg", LEDGER_ERR_INVALID_SCOPE},
        {LEDGER__V1__SCOPE_KIND__SCOPE_KIND_RESOURCE_GROUP, "sub-1", LEDGER_ERR_INVALID_SCOPE},
        {LEDGER__V1__SCOPE_KIND__SCOPE_KIND_RESOURCE_GROUP, "sub-1/", LEDGER_ERR_INVALID_SCOPE},
        {LEDGER__V1__SCOPE_KIND__SCOPE_KIND_RESOURCE_GROUP, "/rg", LEDGER_ERR_INVALID_SCOPE},
        {LEDGER__V1__SCOPE_KIND__SCOPE_KIND_RESOURCE_GROUP, "sub-1/rg/x", LEDGER_ERR_INVALID_SCOPE},
        {LEDGER__V1__SCOPE_KIND__SCOPE_KIND_RESOURCE_GROUP, "sub-1/r g", LEDGER_ERR_INVALID_SCOPE},
        {LEDGER__V1__SCOPE_KIND__SCOPE_KIND_MANAGEMENT_GROUP, "mg-contoso", LEDGER_ERR_OK},
        {LEDGER__V1__SCOPE_KIND__SCOPE_KIND_MANAGEMENT_GROUP, "", LEDGER_ERR_INVALID_SCOPE},
        {LEDGER__V1__SCOPE_KIND__SCOPE_KIND_MANAGEMENT_GROUP, "mg/x", LEDGER_ERR_INVALID_SCOPE},
        {LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SHARED, "", LEDGER_ERR_OK},
        {LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SHARED, "sub-1", LEDGER_ERR_INVALID_SCOPE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Ledger__V1__Command *c = plain_reservation(&k, 1000);
        c->purchase_reservation->scope->kind = cases[i].kind;
        snprintf(k.scope_target, sizeof k.scope_target, "%s", cases[i].target);
        if (cases[i].expected == LEDGER_ERR_OK) {
            uint64_t seq = accept(&ADMIN, c);
            const struct domain_reservation *r =
                domain_find_reservation(W->customer, seq_id("res", seq));
            assert_int_equal(cases[i].kind, r->scope.kind);
            assert_string_equal(cases[i].target, r->scope.target);
        } else {
            refuse_as(&ADMIN, c, cases[i].expected);
        }
    }
    /* A resource group as long as a group may be, and one character longer. */
    Ledger__V1__Command *c = plain_reservation(&k, 1000);
    c->purchase_reservation->scope->kind = LEDGER__V1__SCOPE_KIND__SCOPE_KIND_RESOURCE_GROUP;
    int group_at = snprintf(k.scope_target, sizeof k.scope_target, "sub-1/");
    memset(k.scope_target + group_at, 'g', LEDGER_ID_LENGTH_MAX);
    k.scope_target[group_at + LEDGER_ID_LENGTH_MAX] = '\0';
    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, c));
    k.scope_target[group_at + LEDGER_ID_LENGTH_MAX] = 'g';
    k.scope_target[group_at + LEDGER_ID_LENGTH_MAX + 1] = '\0';
    refuse_as(&ADMIN, c, LEDGER_ERR_INVALID_SCOPE);
    assert_non_null(strstr(W->out.message, "the group must be 1..64 characters"));
    /* A resource group's subscription part longer than an id. */
    c = plain_reservation(&k, 1000);
    c->purchase_reservation->scope->kind = LEDGER__V1__SCOPE_KIND__SCOPE_KIND_RESOURCE_GROUP;
    memset(k.scope_target, 's', LEDGER_ID_LENGTH_MAX + 1);
    snprintf(k.scope_target + LEDGER_ID_LENGTH_MAX + 1,
             sizeof k.scope_target - LEDGER_ID_LENGTH_MAX - 1, "/rg");
    refuse_as(&ADMIN, c, LEDGER_ERR_INVALID_SCOPE);
    assert_non_null(strstr(W->out.message, "must be \"subscription/group\""));
    /* A target longer than any valid one is refused, not truncated, from
     * the first character too many on. */
    c = plain_reservation(&k, 1000);
    c->purchase_reservation->scope->kind = LEDGER__V1__SCOPE_KIND__SCOPE_KIND_MANAGEMENT_GROUP;
    memset(k.scope_target, 'm', DOMAIN_ID_SIZE * 2);
    k.scope_target[DOMAIN_ID_SIZE * 2] = '\0';
    refuse_as(&ADMIN, c, LEDGER_ERR_INVALID_SCOPE);
    assert_non_null(strstr(W->out.message, "scope.target is longer than 129 characters"));
    c = plain_reservation(&k, 1000);
    c->purchase_reservation->scope->kind = LEDGER__V1__SCOPE_KIND__SCOPE_KIND_MANAGEMENT_GROUP;
    memset(k.scope_target, 'm', 140);
    k.scope_target[140] = '\0';
    refuse_as(&ADMIN, c, LEDGER_ERR_INVALID_SCOPE);
}

/* ---- rule 5: changes of reservations ----------------------------------------- */

static void test_domain_reservation_scope_and_renewal(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    const char *rid = buy_reservation(1000);
    accept(&ADMIN, reservation_scope(&k, rid, LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SINGLE, "sub-g"));
    const struct domain_reservation *r = domain_find_reservation(W->customer, rid);
    assert_int_equal(LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SINGLE, r->scope.kind);
    assert_string_equal("sub-g", r->scope.target);
    assert_int_equal(
        LEDGER_ERR_OK,
        decide(&ADMIN, reservation_scope(&k, rid, LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SHARED, "")));
    const Ledger__V1__ReservationScopeChanged *e = W->out.event.reservation_scope_changed;
    assert_int_equal(LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SINGLE, e->from_scope->kind);
    assert_string_equal("sub-g", e->from_scope->target);
    assert_int_equal(LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SHARED, e->to_scope->kind);
    refuse_as(&ADMIN,
              reservation_scope(&k, rid, LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SINGLE, "sub-g"),
              LEDGER_ERR_UNCHANGED);
    refuse_as(&ADMIN,
              reservation_scope(&k, rid, LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SINGLE, "sub-9"),
              LEDGER_ERR_INVALID_SCOPE);
    /* A scope change without a scope is refused, never read. */
    Ledger__V1__Command *no_scope =
        reservation_scope(&k, rid, LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SHARED, "");
    k.reservation_scope.scope = NULL;
    refuse_as(&ADMIN, no_scope, LEDGER_ERR_INVALID_ARGUMENT);
    refuse_as(&ALICE, reservation_scope(&k, rid, LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SHARED, ""),
              LEDGER_ERR_ASK_PARTNER);
    refuse_as(&SALES, reservation_scope(&k, rid, LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SHARED, ""),
              LEDGER_ERR_FORBIDDEN);
    refuse_as(&ADMIN,
              reservation_scope(&k, "res-999", LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SHARED, ""),
              LEDGER_ERR_RESERVATION_NOT_FOUND);
    /* Auto-renew. */
    refuse_as(&ADMIN, reservation_renewal(&k, rid, false), LEDGER_ERR_UNCHANGED);
    accept(&ADMIN, reservation_renewal(&k, rid, true));
    assert_true(domain_find_reservation(W->customer, rid)->auto_renew);
    refuse_as(&ADMIN, reservation_renewal(&k, rid, true), LEDGER_ERR_UNCHANGED);
    refuse_as(&ALICE, reservation_renewal(&k, rid, false), LEDGER_ERR_ASK_PARTNER);
    refuse_as(&SALES, reservation_renewal(&k, rid, false), LEDGER_ERR_FORBIDDEN);
    refuse_as(&ADMIN, reservation_renewal(&k, "res-999", false), LEDGER_ERR_RESERVATION_NOT_FOUND);
    refuse_as(&ADMIN, reservation_renewal(&k, "", false), LEDGER_ERR_INVALID_ARGUMENT);
    /* Not on reservations that ended. */
    W->now_us = domain_find_reservation(W->customer, rid)->expires_us;
    accept(&ADMIN, expire(&k, rid));
    refuse_as(&ADMIN, reservation_renewal(&k, rid, false), LEDGER_ERR_RESERVATION_NOT_ACTIVE);
    refuse_as(&ADMIN,
              reservation_scope(&k, rid, LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SINGLE, "sub-1"),
              LEDGER_ERR_RESERVATION_NOT_ACTIVE);
}

/* A scope or auto-renew change takes effect at its business time, which may
 * not come before the reservation or savings plan was bought: it changed
 * nothing that existed then, as a cancellation dated so would not. */
static void test_domain_changes_not_dated_before_purchase(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    W->now_us = T0 + 10 * DAY_US;
    char rid[32], pid[32];
    snprintf(rid, sizeof rid, "%s", buy_reservation(1000));
    snprintf(
        pid, sizeof pid, "%s",
        seq_id("sp", accept(&ADMIN, savings_plan(&k, "sub-1", LEDGER__V1__TERM__TERM_P1Y, 100))));
    const int64_t before_us = T0 + 10 * DAY_US - 1;
    refuse_as(&ADMIN,
              dated(reservation_scope(&k, rid, LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SINGLE, "sub-g"),
                    before_us),
              LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "a scope change dated 2025-01-10T23:59:59.999999Z is "
                                           "before reservation"));
    assert_non_null(strstr(W->out.message, "was bought (2025-01-11T00:00:00Z)"));
    refuse_as(&ADMIN, dated(reservation_renewal(&k, rid, true), before_us),
              LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "an auto-renew change dated"));
    refuse_as(&ADMIN,
              dated(plan_scope(&k, pid, LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SHARED, ""), before_us),
              LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "before savings plan"));
    refuse_as(&ADMIN, dated(plan_renewal(&k, pid, false), before_us), LEDGER_ERR_INVALID_ARGUMENT);
    /* Dated exactly then, they are allowed. */
    accept(&ADMIN,
           dated(reservation_scope(&k, rid, LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SINGLE, "sub-g"),
                 before_us + 1));
    accept(&ADMIN, dated(reservation_renewal(&k, rid, true), before_us + 1));
    accept(&ADMIN, dated(plan_scope(&k, pid, LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SHARED, ""),
                         before_us + 1));
    accept(&ADMIN, dated(plan_renewal(&k, pid, false), before_us + 1));
}

/* A scope names a subscription of the customer as it was at the command's
 * business time: a purchase, an exchange's replacement or a scope change
 * dated before the subscription it names was bought is INVALID_SCOPE, as
 * its billing subscription would be SUBSCRIPTION_NOT_FOUND. */
static void test_domain_scope_target_bought_by_then(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer(); /* at T0 */
    W->now_us = T0 + 20 * DAY_US;
    accept(&ADMIN,
           dated(subscription(&k, "sub-2", LEDGER__V1__OFFER__OFFER_AZURE_PLAN), T0 + 10 * DAY_US));
    const int64_t before_us = T0 + 10 * DAY_US - 1;
    Ledger__V1__Command *c = dated(plain_reservation(&k, 1000), before_us);
    c->purchase_reservation->scope = scope(&k, LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SINGLE, "sub-2");
    refuse_as(&ADMIN, c, LEDGER_ERR_INVALID_SCOPE);
    assert_non_null(strstr(W->out.message, "sub-2"));
    assert_non_null(strstr(W->out.message, "was bought 2025-01-11T00:00:00Z"));
    c = dated(plain_reservation(&k, 1000), before_us);
    c->purchase_reservation->scope =
        scope(&k, LEDGER__V1__SCOPE_KIND__SCOPE_KIND_RESOURCE_GROUP, "sub-2/rg-web");
    refuse_as(&ADMIN, c, LEDGER_ERR_INVALID_SCOPE);
    Ledger__V1__Command *plan =
        dated(savings_plan(&k, "sub-1", LEDGER__V1__TERM__TERM_P1Y, 100), before_us);
    plan->purchase_savings_plan->scope =
        scope(&k, LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SINGLE, "sub-2");
    refuse_as(&ADMIN, plan, LEDGER_ERR_INVALID_SCOPE);
    char rid[32];
    snprintf(rid, sizeof rid, "%s",
             seq_id("res", accept(&ADMIN, dated(plain_reservation(&k, 1000), T0 + DAY_US))));
    refuse_as(&ADMIN,
              dated(reservation_scope(&k, rid, LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SINGLE, "sub-2"),
                    before_us),
              LEDGER_ERR_INVALID_SCOPE);
    const char *returned[] = {rid};
    c = dated(exchange(&k, returned, 1, 0, 5000), before_us);
    c->exchange_reservation->replacements[0]->scope =
        scope(&k, LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SINGLE, "sub-2");
    refuse_as(&ADMIN, c, LEDGER_ERR_INVALID_SCOPE);
    /* From the subscription's purchase on, it may be named. */
    accept(&ADMIN,
           dated(reservation_scope(&k, rid, LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SINGLE, "sub-2"),
                 before_us + 1));
}

/* A reservation's term ends at its expiry: from then on it is over, expired
 * or (set to renew) renewed by the cloud, and a cancellation, an exchange or
 * a scope or auto-renew change dated then or later is RESERVATION_NOT_ACTIVE,
 * saying to record its expiry or renewal, which stay allowed. Otherwise a
 * reservation that expired would show cancelled or exchanged, and one the
 * cloud renewed could no longer have its renewal recorded. */
static void test_domain_no_change_after_the_term(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    char ending[32], renewing[32];
    snprintf(ending, sizeof ending, "%s", buy_reservation(1000));
    snprintf(renewing, sizeof renewing, "%s", buy_reservation(1000));
    accept(&ADMIN, reservation_renewal(&k, renewing, true));
    const int64_t end_us = domain_find_reservation(W->customer, ending)->expires_us;
    W->now_us = end_us + DAY_US;
    const char *returned[] = {ending};
    refuse_as(&ADMIN, dated(cancel(&k, ending, 0, "USD", -1), end_us),
              LEDGER_ERR_RESERVATION_NOT_ACTIVE);
    assert_non_null(strstr(W->out.message, "reservation " /* its id */));
    assert_non_null(strstr(W->out.message, "ended with its term on 2026-01-01T00:00:00Z: a "
                                           "cancellation dated 2026-01-01T00:00:00Z"));
    assert_non_null(strstr(W->out.message, "record its expiry instead"));
    refuse_as(&ADMIN, exchange(&k, returned, 1, 0, 5000), LEDGER_ERR_RESERVATION_NOT_ACTIVE);
    refuse_as(&ADMIN,
              reservation_scope(&k, ending, LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SINGLE, "sub-1"),
              LEDGER_ERR_RESERVATION_NOT_ACTIVE);
    refuse_as(&ADMIN, reservation_renewal(&k, ending, true), LEDGER_ERR_RESERVATION_NOT_ACTIVE);
    refuse_as(&ADMIN, cancel(&k, renewing, 0, "USD", -1), LEDGER_ERR_RESERVATION_NOT_ACTIVE);
    assert_non_null(strstr(W->out.message, "record its renewal instead"));
    /* Dated within the term, each is still possible. */
    accept(&ADMIN,
           dated(reservation_scope(&k, ending, LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SINGLE, "sub-1"),
                 end_us - 1));
    /* What ends a reservation at its term stays allowed. */
    accept(&SYSTEM, expire(&k, ending));
    accept(&ADMIN, renew(&k, renewing, 1000, "USD"));
}

/* A savings plan's term ends at its expiry (the ledger records no renewal of
 * one): a scope or auto-renew change dated then or later changes a plan
 * that is over, and is refused; within the term both are allowed. */
static void test_domain_no_savings_plan_change_after_the_term(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    char pid[32];
    snprintf(
        pid, sizeof pid, "%s",
        seq_id("sp", accept(&ADMIN, savings_plan(&k, "sub-1", LEDGER__V1__TERM__TERM_P1Y, 100))));
    const int64_t end_us = domain_find_savings_plan(W->customer, pid)->expires_us;
    W->now_us = end_us + DAY_US;
    refuse_as(&ADMIN, plan_renewal(&k, pid, false), LEDGER_ERR_SAVINGS_PLAN_NOT_ACTIVE);
    assert_non_null(strstr(W->out.message, "ended with its term on 2026-01-01T00:00:00Z"));
    assert_non_null(
        strstr(W->out.message, domain_find_savings_plan(W->customer, pid)->auto_renew
                                   ? "record its renewal instead (ledgerctl savings-plan renewed)"
                                   : "a plan whose term has ended takes no change"));
    refuse_as(&ADMIN,
              dated(plan_scope(&k, pid, LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SHARED, ""), end_us),
              LEDGER_ERR_SAVINGS_PLAN_NOT_ACTIVE);
    accept(&ADMIN,
           dated(plan_scope(&k, pid, LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SHARED, ""), end_us - 1));
    accept(&ADMIN, dated(plan_renewal(&k, pid, false), end_us - 1));
    /* Rule 6 answers as ever. */
    refuse_as(&ADMIN, plan_cancel(&k, pid), LEDGER_ERR_SAVINGS_PLAN_NOT_REFUNDABLE);
}

/* A savings plan not set to renew is over at its term's end, with no
 * renewal to record: a change dated then or later is refused saying that
 * it takes no change (not that its renewal is to be recorded). */
static void test_domain_no_change_to_an_ended_plan_not_set_to_renew(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    Ledger__V1__Command *buy = savings_plan(&k, "sub-1", LEDGER__V1__TERM__TERM_P1Y, 100);
    buy->purchase_savings_plan->auto_renew = false;
    char pid[32];
    snprintf(pid, sizeof pid, "%s", seq_id("sp", accept(&ADMIN, buy)));
    const int64_t end_us = domain_find_savings_plan(W->customer, pid)->expires_us;
    W->now_us = end_us + DAY_US;
    refuse_as(&ADMIN, plan_scope(&k, pid, LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SHARED, ""),
              LEDGER_ERR_SAVINGS_PLAN_NOT_ACTIVE);
    char expected[256];
    snprintf(expected, sizeof expected,
             "savings plan %s ended with its term on 2026-01-01T00:00:00Z: a scope change dated "
             "2026-01-02T00:00:00Z comes after that; a plan whose term has ended takes no change",
             pid);
    assert_string_equal(expected, W->out.message);
    refuse_as(&ADMIN, dated(plan_renewal(&k, pid, true), end_us),
              LEDGER_ERR_SAVINGS_PLAN_NOT_ACTIVE);
    assert_null(strstr(W->out.message, "record its renewal"));
    assert_false(domain_find_savings_plan(W->customer, pid)->auto_renew);
}

/* Each reservation's and savings plan's history is kept in date order, as
 * the switches', roles' and statuses' are: a change dated before its last
 * scope or auto-renew change would reorder it (a scope change's from_scope
 * would not be the scope it had at its date; an end would come before a
 * change of what had ended). Dated exactly then, it is allowed. */
static void test_domain_holding_history_in_date_order(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    W->now_us = T0 + 30 * DAY_US;
    char rid[32], pid[32];
    snprintf(rid, sizeof rid, "%s",
             seq_id("res", accept(&ADMIN, dated(plain_reservation(&k, 100000), T0 + DAY_US))));
    snprintf(pid, sizeof pid, "%s",
             seq_id("sp",
                    accept(&ADMIN, dated(savings_plan(&k, "sub-1", LEDGER__V1__TERM__TERM_P1Y, 100),
                                         T0 + DAY_US))));
    const int64_t changed_us = T0 + 20 * DAY_US;
    const int64_t before_us = changed_us - 1;
    accept(&ADMIN,
           dated(reservation_scope(&k, rid, LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SINGLE, "sub-g"),
                 changed_us));
    refuse_as(&ADMIN, dated(reservation_renewal(&k, rid, true), before_us),
              LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "was last changed 2025-01-21T00:00:00Z"));
    assert_non_null(strstr(W->out.message, "date it at or after that"));
    refuse_as(
        &ADMIN,
        dated(reservation_scope(&k, rid, LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SHARED, ""), before_us),
        LEDGER_ERR_INVALID_ARGUMENT);
    refuse_as(&ADMIN, dated(cancel(&k, rid, 0, "USD", -1), before_us), LEDGER_ERR_INVALID_ARGUMENT);
    const char *returned[] = {rid};
    refuse_as(&ADMIN, dated(exchange(&k, returned, 1, 0, 100000), before_us),
              LEDGER_ERR_INVALID_ARGUMENT);
    accept(&ADMIN, dated(reservation_renewal(&k, rid, true), changed_us));
    refuse_as(&ADMIN, dated(renew(&k, rid, 1000, "USD"), before_us), LEDGER_ERR_INVALID_ARGUMENT);
    /* Savings plans alike. */
    accept(&ADMIN,
           dated(plan_scope(&k, pid, LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SHARED, ""), changed_us));
    refuse_as(&ADMIN, dated(plan_renewal(&k, pid, false), before_us), LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "savings plan"));
    accept(&ADMIN, dated(plan_renewal(&k, pid, false), changed_us));
    /* At or after the last change, the reservation may end. */
    accept(&ADMIN, dated(cancel(&k, rid, 0, "USD", -1), changed_us));
}

static void test_domain_customer_is_told_to_ask_partner(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    accept(&ADMIN, role(&k, true, "sub-1", "alice", LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER));
    accept(&ADMIN, permission(&k, true, LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_RESERVATIONS));
    /* Even for a reservation the customer bought itself. */
    const char *rid = seq_id("res", accept(&ALICE, plain_reservation(&k, 1000)));
    const char *returned[] = {rid};
    refuse_as(&ALICE, cancel(&k, rid, 100, "USD", -1), LEDGER_ERR_ASK_PARTNER);
    assert_non_null(strstr(W->out.message,
                           "only the partner may cancel reservation "
                           "(cancel_reservation) for a customer; ask your partner"));
    assert_non_null(strstr(W->out.message, "ask your partner"));
    refuse_as(&ALICE, exchange(&k, returned, 1, 0, 5000), LEDGER_ERR_ASK_PARTNER);
    refuse_as(&ALICE, renew(&k, rid, 1000, "USD"), LEDGER_ERR_ASK_PARTNER);
    refuse_as(&ALICE, reservation_renewal(&k, rid, true), LEDGER_ERR_ASK_PARTNER);
    refuse_as(&ALICE,
              reservation_scope(&k, rid, LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SINGLE, "sub-1"),
              LEDGER_ERR_ASK_PARTNER);
    refuse_as(&ALICE, expire(&k, rid), LEDGER_ERR_FORBIDDEN);
    refuse_as(&ALICE, visibility(&k, true), LEDGER_ERR_FORBIDDEN);
    /* The partner does it. */
    accept(&ADMIN, cancel(&k, rid, 100, "USD", -1));
    assert_int_equal(LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_CANCELLED,
                     domain_find_reservation(W->customer, rid)->state);
}

/* ---- rules 5 and 7: cancellation and the refund cap ------------------------- */

static void test_domain_cancel_reservation(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    const char *rid = buy_reservation(10000);
    refuse_as(&SALES, cancel(&k, rid, 100, "USD", -1), LEDGER_ERR_FORBIDDEN);
    refuse_as(&HELPDESK, cancel(&k, rid, 100, "USD", -1), LEDGER_ERR_FORBIDDEN);
    refuse_as(&SYSTEM, cancel(&k, rid, 100, "USD", -1), LEDGER_ERR_FORBIDDEN);
    refuse_as(&ADMIN, cancel(&k, rid, 10001, "USD", -1), LEDGER_ERR_INVALID_AMOUNT);
    /* Amounts in messages are decimals of the currency, not minor units. */
    assert_non_null(strstr(W->out.message, "refund USD 100.01 exceeds what reservation"));
    assert_non_null(strstr(W->out.message, "USD 100.00 of its price USD 100.00"));
    refuse_as(&ADMIN, cancel(&k, rid, -1, "USD", -1), LEDGER_ERR_INVALID_AMOUNT);
    refuse_as(&ADMIN, cancel(&k, rid, 100, "usd", -1), LEDGER_ERR_INVALID_AMOUNT);
    refuse_as(&ADMIN, cancel(&k, rid, 100, "EUR", 100), LEDGER_ERR_CURRENCY_MISMATCH);
    refuse_as(&ADMIN, cancel(&k, rid, 100, "EUR", -1), LEDGER_ERR_INVALID_ARGUMENT);
    refuse_as(&ADMIN, cancel(&k, rid, 100, "USD", 99), LEDGER_ERR_INVALID_ARGUMENT);
    refuse_as(&ADMIN, cancel(&k, "res-999", 100, "USD", -1), LEDGER_ERR_RESERVATION_NOT_FOUND);
    Ledger__V1__Command *c = cancel(&k, rid, 100, "USD", -1);
    c->cancel_reservation->refund = NULL;
    refuse_as(&ADMIN, c, LEDGER_ERR_INVALID_ARGUMENT);
    c = cancel(&k, rid, 100, "EUR", 100);
    c->cancel_reservation->refund_usd->currency = "GBP";
    refuse_as(&ADMIN, c, LEDGER_ERR_INVALID_ARGUMENT);
    /* A zero refund is a cancellation without money back. */
    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, cancel(&k, rid, 0, "USD", -1)));
    /* The whole price may be refunded; refund_usd is filled for USD. */
    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, cancel(&k, rid, 10000, "USD", -1)));
    const Ledger__V1__ReservationCancelled *e = W->out.event.reservation_cancelled;
    assert_string_equal(rid, e->reservation_id);
    assert_int_equal(10000, e->refund->amount_minor);
    assert_string_equal("USD", e->refund_usd->currency);
    assert_int_equal(10000, e->refund_usd->amount_minor);
    accept(&ADMIN, cancel(&k, rid, 10000, "USD", 10000));
    assert_int_equal(LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_CANCELLED,
                     domain_find_reservation(W->customer, rid)->state);
    refuse_as(&ADMIN, cancel(&k, rid, 0, "USD", -1), LEDGER_ERR_RESERVATION_NOT_ACTIVE);
    /* A reservation in another currency is refunded in it, counted in USD. */
    uint64_t seq = accept(&ADMIN, reservation(&k, "sub-1", "Standard_D2s_v5",
                                              LEDGER__V1__TERM__TERM_P1Y, 9000, "EUR"));
    assert_int_equal(LEDGER_ERR_OK,
                     decide(&ADMIN, cancel(&k, seq_id("res", seq), 9000, "EUR", 9900)));
    assert_string_equal("EUR", W->out.event.reservation_cancelled->refund->currency);
    assert_int_equal(9900, W->out.event.reservation_cancelled->refund_usd->amount_minor);
}

/* Rule 7 counts a cancellation's refund as cancelled commitment, so it is at
 * most what the reservation still commits at the cancellation's business
 * time: its price times the share of its term's days still to run (a day
 * begun counts), rounded down; an exchange's refund likewise, of the
 * returned reservations. */
static void test_domain_refund_within_remaining_commitment(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    /* USD 3,650 for 365 days (2025 has no 29 February): USD 10 a day. */
    char rid[32], other[32], pair[2][32];
    snprintf(rid, sizeof rid, "%s", buy_reservation(365000));
    snprintf(other, sizeof other, "%s", buy_reservation(1000));
    snprintf(pair[0], sizeof pair[0], "%s", buy_reservation(365000));
    snprintf(pair[1], sizeof pair[1], "%s", buy_reservation(365000));
    W->now_us = T0 + 100 * DAY_US;
    refuse_as(&ADMIN, cancel(&k, rid, 265001, "USD", -1), LEDGER_ERR_INVALID_AMOUNT);
    assert_non_null(strstr(W->out.message, "refund USD 2650.01 exceeds what reservation "));
    assert_non_null(strstr(W->out.message, " still commits on 2025-04-11T00:00:00Z: USD 2650.00 "
                                           "of its price USD 3650.00 (the share of its term's "
                                           "days still to run); refund at most that"));
    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, cancel(&k, rid, 265000, "USD", -1)));
    /* By whole days, a day begun counting as left: through its first day
     * USD 10.00 still commits all of it, from its second day 364/365 of it,
     * rounded down: USD 9.97. */
    Ledger__V1__Command *c = cancel(&k, other, 1000, "USD", -1);
    c->business_us = T0 + DAY_US - 1;
    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, c));
    c->business_us = T0 + DAY_US;
    refuse_as(&ADMIN, c, LEDGER_ERR_INVALID_AMOUNT);
    assert_non_null(strstr(W->out.message, "USD 9.97 of its price USD 10.00"));
    c->cancel_reservation->refund->amount_minor = 997;
    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, c));
    /* On the last day of its term, one day's share is left to refund; at
     * its end the reservation is over, and nothing is left to cancel. */
    W->now_us = T0 + YEAR_US - 1;
    refuse_as(&ADMIN, cancel(&k, rid, 1001, "USD", -1), LEDGER_ERR_INVALID_AMOUNT);
    assert_non_null(strstr(W->out.message, "USD 10.00 of its price USD 3650.00"));
    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, cancel(&k, rid, 1000, "USD", -1)));
    W->now_us = T0 + YEAR_US;
    refuse_as(&ADMIN, cancel(&k, rid, 0, "USD", -1), LEDGER_ERR_RESERVATION_NOT_ACTIVE);
    /* An exchange's refund: at most the two returned still commit. */
    W->now_us = T0 + 100 * DAY_US;
    const char *returned[] = {pair[0], pair[1]};
    refuse_as(&ADMIN, exchange(&k, returned, 2, 530001, 600000), LEDGER_ERR_INVALID_AMOUNT);
    assert_non_null(strstr(W->out.message, "refund USD 5300.01 exceeds what the returned "
                                           "reservations still commit, USD 5300.00: refund at "
                                           "most that"));
    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, exchange(&k, returned, 2, 530000, 600000)));
}

/* A monthly-billed reservation has paid only the instalments billed so far,
 * and cancelling it stops the later ones: it may refund what those paid
 * beyond the days already run, never a share of months never billed. */
static void test_domain_monthly_refund(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    /* USD 3,650 for 365 days in 12 instalments of USD 304.16 (the last
     * USD 304.24): USD 10 a day. */
    char ids[5][32];
    buy_monthly(ids, 5, LEDGER__V1__TERM__TERM_P1Y, 365000, false, NULL);
    const char *early = ids[0], *rid = ids[1], *done = ids[2];
    /* On its second day one instalment is billed, one day used: USD 294.16. */
    W->now_us = T0 + DAY_US;
    refuse_as(&ADMIN, cancel(&k, early, 29417, "USD", -1), LEDGER_ERR_INVALID_AMOUNT);
    assert_non_null(
        strstr(W->out.message, "refund USD 294.17 exceeds what monthly-billed reservation "));
    assert_non_null(strstr(W->out.message,
                           " may refund on 2025-01-02T00:00:00Z: USD 294.16, what its "
                           "instalments billed through that month (USD 304.16; the later ones "
                           "are not billed) pay beyond the days already run; refund at most "
                           "that"));
    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, cancel(&k, early, 29416, "USD", -1)));
    /* On 2025-04-11, 100 days in: four instalments (January to April,
     * USD 1216.64) less USD 1000.00 used. */
    W->now_us = T0 + 100 * DAY_US;
    refuse_as(&ADMIN, cancel(&k, rid, 21665, "USD", -1), LEDGER_ERR_INVALID_AMOUNT);
    assert_non_null(strstr(W->out.message, "USD 216.64, what its instalments billed through "
                                           "that month (USD 1216.64;"));
    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, cancel(&k, rid, 21664, "USD", -1)));
    /* On 2025-01-31, 30 days in: one instalment, USD 300.00 used, USD 4.16
     * left. Late in a month little is left: the partner paid the month
     * ahead, not the term. */
    W->now_us = T0 + 30 * DAY_US;
    refuse_as(&ADMIN, cancel(&k, done, 417, "USD", -1), LEDGER_ERR_INVALID_AMOUNT);
    assert_non_null(strstr(W->out.message, ": USD 4.16, what its instalments"));
    /* In its last month every instalment is billed: the price less what
     * was used, as upfront. */
    W->now_us = T0 + 350 * DAY_US;
    refuse_as(&ADMIN, cancel(&k, done, 15001, "USD", -1), LEDGER_ERR_INVALID_AMOUNT);
    assert_non_null(strstr(W->out.message, " still commits on 2025-12-17T00:00:00Z: USD 150.00 "));
    /* An exchange's refund has the same bound, while rule 8 counts the
     * instalments not billed yet (USD 3650.00 less USD 1216.64, USD 2433.36
     * each): what the days run beyond them is the refund, not a
     * commitment. */
    W->now_us = T0 + 100 * DAY_US;
    const char *returned[] = {ids[3], ids[4]};
    refuse_as(&ADMIN, exchange(&k, returned, 2, 43329, 530000), LEDGER_ERR_INVALID_AMOUNT);
    assert_non_null(strstr(W->out.message, "refund USD 433.29 exceeds what the returned "
                                           "reservations may refund, USD 433.28: what the "
                                           "partner paid for the days still to run"));
    refuse_as(&ADMIN, exchange(&k, returned, 2, 43328, 486671), LEDGER_ERR_EXCHANGE_VALUE_TOO_LOW);
    assert_non_null(strstr(W->out.message, "still commit USD 4866.72"));
    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, exchange(&k, returned, 2, 43328, 486672)));
    assert_int_equal(486672,
                     W->out.event.reservation_exchanged->remaining_commitment->amount_minor);
}

/* Rule 8 for monthly-billed reservations, as the cloud counts it: the new
 * lifetime commitment must be at least the payments still due. A three-year
 * reservation of USD 100 a month exchanged after its 18th payment needs
 * USD 1,800 more, whatever day of that month (the days run beyond the
 * instalments billed are the refund's, rule 7's bound); before its term
 * starts the whole price, in its last month nothing. */
static void test_domain_monthly_exchange_value(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    char ids[3][32];
    buy_monthly(ids, 3, LEDGER__V1__TERM__TERM_P3Y, 360000, true, NULL);
    /* June 2026 is its 18th month: 18 instalments billed, 18 due. */
    const int64_t days[] = {516, 530, 545}; /* 2026-06-01, -15, -30 */
    for (size_t i = 0; i < 3; i++) {
        W->now_us = T0 + days[i] * DAY_US;
        const char *returned[] = {ids[0]};
        refuse_as(&ADMIN, exchange(&k, returned, 1, 0, 179999), LEDGER_ERR_EXCHANGE_VALUE_TOO_LOW);
        assert_non_null(strstr(W->out.message, "the replacement commits USD 1799.99 but the "
                                               "returned reservations still commit USD 1800.00"));
        assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, exchange(&k, returned, 1, 0, 180000)));
        assert_int_equal(180000,
                         W->out.event.reservation_exchanged->remaining_commitment->amount_minor);
    }
    /* In its last month every instalment is billed: nothing is due. */
    W->now_us = T0 + (3 * 365 - 10) * DAY_US;
    const char *last[] = {ids[1]};
    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, exchange(&k, last, 1, 0, 1)));
    assert_int_equal(0, W->out.event.reservation_exchanged->remaining_commitment->amount_minor);
    /* A renewal recorded early, before its term starts: its whole price. */
    W->now_us = T0 + 1000 * DAY_US;
    const char *renewed = seq_id("res", accept(&ADMIN, renew(&k, ids[2], 360000, "USD")));
    const char *early[] = {renewed};
    refuse_as(&ADMIN, exchange(&k, early, 1, 0, 359999), LEDGER_ERR_EXCHANGE_VALUE_TOO_LOW);
    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, exchange(&k, early, 1, 0, 360000)));
}

/* Rule 7 counts the commitment a cancellation cancels: for a monthly-billed
 * reservation its refund and the instalments it will no longer be billed
 * (the cloud counts a three-year reservation of USD 100 a month cancelled
 * in its 12th month as USD 2,400 cancelled), valued in USD at the refund's
 * rate for another currency. Counted alike when decided and when the state
 * is evolved, so later decisions see it. */
static void test_domain_monthly_refund_cap(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    /* USD 72,000 over 36 months: USD 2,000 a month; the same in EUR. */
    char ids[2][32];
    buy_monthly(ids, 2, LEDGER__V1__TERM__TERM_P3Y, 7200000, false, "EUR");
    const char *usd = ids[0], *eur = ids[1];
    char upfront[32];
    snprintf(upfront, sizeof upfront, "%s",
             buy_upfront(LEDGER__V1__TERM__TERM_P3Y, 5000000, "USD"));

    /* 2025-12-02, its 12th month: 24 instalments, USD 48,000, not billed. */
    W->now_us = T0 + 335 * DAY_US;
    accept(&ADMIN, cancel(&k, upfront, 200000, "USD", -1));
    refuse_as(&ADMIN, cancel(&k, usd, 1, "USD", -1), LEDGER_ERR_REFUND_CAP_EXCEEDED);
    assert_non_null(strstr(W->out.message,
                           "was refunded USD 2000.00 in the last 365 days; USD 48000.01 more (the "
                           "refund and the monthly instalments it cancels) would pass the cap"));
    accept(&ADMIN, cancel(&k, usd, 0, "USD", -1)); /* exactly USD 50,000 */
    assert_int_equal(2, W->customer->refund_count);
    assert_int_equal(4800000, W->customer->refunds[1].usd_minor);
    refuse_as(&ADMIN, cancel(&k, eur, 1, "EUR", 1), LEDGER_ERR_REFUND_CAP_EXCEEDED);

    /* A year later, in the EUR one's 24th month: EUR 24,000 not billed, at
     * the refund's rate of 1.10 USD 26,400, and the refund's USD 110. */
    W->now_us = T0 + 700 * DAY_US;
    accept(&ADMIN, cancel(&k, eur, 10000, "EUR", 11000));
    assert_int_equal(3, W->customer->refund_count);
    assert_int_equal(2651000, W->customer->refunds[2].usd_minor);
}

/* A cancellation of `reservation_id` with no refund in `currency`, stating
 * refund_usd 0 and unbilled_usd in `unbilled_currency` (none when NULL). */
static Ledger__V1__Command *cancel_unbilled(struct cmd *k, const char *reservation_id,
                                            const char *currency, int64_t unbilled_usd_minor,
                                            const char *unbilled_currency)
{
    Ledger__V1__Command *c = cancel(k, reservation_id, 0, currency, 0);
    if (unbilled_currency != NULL)
        c->cancel_reservation->unbilled_usd = money(k, 2, unbilled_usd_minor, unbilled_currency);
    return c;
}

/* Rule 7 for a monthly reservation in another currency cancelled with no
 * refund: no refund gives a rate to value its instalments not billed yet,
 * so the command states their value in USD (unbilled_usd), which counts
 * against the cap; without it, at 0, or not in USD it is refused, and where
 * the ledger values them itself it is refused too. A cancellation recorded
 * before the field replays counting its refund alone, as it did. */
static void test_domain_monthly_refund_cap_unbilled_usd(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    /* EUR 72,000 over 36 months: EUR 2,000 a month; a USD one alike. */
    char eur[2][32], usd[1][32];
    buy_monthly(eur, 1, LEDGER__V1__TERM__TERM_P3Y, 7200000, false, "EUR");
    buy_monthly(eur + 1, 1, LEDGER__V1__TERM__TERM_P3Y, 7200000, false, "EUR");
    buy_monthly(usd, 1, LEDGER__V1__TERM__TERM_P3Y, 7200000, false, NULL);
    char upfront[32];
    snprintf(upfront, sizeof upfront, "%s",
             buy_upfront(LEDGER__V1__TERM__TERM_P3Y, 5000000, "EUR"));

    /* 2025-12-02, the 12th month: EUR 48,000 of instalments not billed. */
    W->now_us = T0 + 335 * DAY_US;
    refuse_as(&ADMIN, cancel_unbilled(&k, eur[0], "EUR", 0, NULL), LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "has EUR 48000.00 of instalments not billed yet on "
                                           "2025-12-02T00:00:00Z, which count against the cap, "
                                           "and no refund to value them at: unbilled_usd, their "
                                           "value in USD, is required"));
    refuse_as(&ADMIN, cancel_unbilled(&k, eur[0], "EUR", 0, "USD"), LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "unbilled_usd USD 0.00 values the EUR 48000.00"));
    refuse_as(&ADMIN, cancel_unbilled(&k, eur[0], "EUR", 5280000, "EUR"),
              LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "unbilled_usd must be in USD, not EUR"));
    /* Stated, the instalments count: USD 52,800 pass the cap. */
    refuse_as(&ADMIN, cancel_unbilled(&k, eur[0], "EUR", 5280000, "USD"),
              LEDGER_ERR_REFUND_CAP_EXCEEDED);
    assert_non_null(strstr(W->out.message, "USD 52800.00 more (the refund and the monthly "
                                           "instalments it cancels) would pass the cap"));
    /* Where the ledger values them itself, it is refused: in USD, with a
     * refund's rate, and with no instalments left to bill. */
    refuse_as(&ADMIN, cancel_unbilled(&k, usd[0], "USD", 100, "USD"), LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "unbilled_usd is only for a monthly-billed "
                                           "reservation in another currency"));
    Ledger__V1__Command *rated = cancel_unbilled(&k, eur[0], "EUR", 100, "USD");
    rated->cancel_reservation->refund->amount_minor = 1;
    rated->cancel_reservation->refund_usd->amount_minor = 1;
    refuse_as(&ADMIN, rated, LEDGER_ERR_INVALID_ARGUMENT);
    refuse_as(&ADMIN, cancel_unbilled(&k, upfront, "EUR", 100, "USD"), LEDGER_ERR_INVALID_ARGUMENT);
    assert_int_equal(0, W->customer->refund_count);

    /* USD 50,000 fits exactly, and is recorded. */
    assert_int_equal(LEDGER_ERR_OK,
                     decide(&ADMIN, cancel_unbilled(&k, eur[0], "EUR", 5000000, "USD")));
    Ledger__V1__Event *event = decided_event();
    Ledger__V1__Money *unbilled_usd = event->reservation_cancelled->unbilled_usd;
    assert_non_null(unbilled_usd);
    assert_int_equal(5000000, unbilled_usd->amount_minor);
    assert_string_equal("USD", unbilled_usd->currency);
    /* Without the field, as recorded before it, it counts the refund alone. */
    struct domain_customer *before = domain_customer_clone(W->customer);
    assert_non_null(before);
    event->reservation_cancelled->unbilled_usd = NULL;
    assert_int_equal(LEDGER_ERR_OK, domain_customer_evolve(before, event));
    assert_int_equal(1, before->refund_count);
    assert_int_equal(0, before->refunds[0].usd_minor);
    domain_customer_free(before);
    /* Stated where no decision states it, the record does not fit. */
    before = domain_customer_clone(W->customer);
    assert_non_null(before);
    event->reservation_cancelled->unbilled_usd = unbilled_usd;
    unbilled_usd->amount_minor = 0;
    assert_int_equal(LEDGER_ERR_CORRUPT, domain_customer_evolve(before, event));
    unbilled_usd->amount_minor = 5000000;
    event->reservation_cancelled->refund->amount_minor = 1;
    assert_int_equal(LEDGER_ERR_CORRUPT, domain_customer_evolve(before, event));
    event->reservation_cancelled->refund->amount_minor = 0;
    domain_customer_free(before);
    assert_int_equal(LEDGER_ERR_OK, domain_customer_evolve(W->customer, event));
    codec_event_free(event);
    W->sequence++;
    assert_int_equal(1, W->customer->refund_count);
    assert_int_equal(5000000, W->customer->refunds[0].usd_minor);
    /* The cap is full: the other one's instalments, a cent, do not fit. */
    refuse_as(&ADMIN, cancel_unbilled(&k, eur[1], "EUR", 1, "USD"), LEDGER_ERR_REFUND_CAP_EXCEEDED);
    assert_non_null(strstr(W->out.message, "was refunded USD 50000.00 in the last 365 days"));
}

static void test_domain_refund_cap(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    const int64_t cap = LEDGER_REFUND_CAP_USD_MINOR; /* USD 50,000 */
    /* For three years at three caps: each still commits more than the
     * refunds asked below until the second year ends. */
    char ids[5][32];
    for (int i = 0; i < 5; i++) {
        uint64_t bought =
            i == 3 ? accept(&ADMIN, plain_reservation(&k, cap))
                   : accept(&ADMIN, reservation(&k, "sub-1", "Standard_D2s_v5",
                                                LEDGER__V1__TERM__TERM_P3Y, 3 * cap, "USD"));
        snprintf(ids[i], sizeof ids[i], "%s", seq_id("res", bought));
    }

    /* Day 0: 20,000; day 100: 20,000 (EUR, counted by its USD value). */
    accept(&ADMIN, cancel(&k, ids[0], 2000000, "USD", -1));
    W->now_us = T0 + 100 * DAY_US;
    uint64_t eur = accept(&ADMIN, reservation(&k, "sub-1", "Standard_D2s_v5",
                                              LEDGER__V1__TERM__TERM_P1Y, 3000000, "EUR"));
    accept(&ADMIN, cancel(&k, seq_id("res", eur), 1800000, "EUR", 2000000));
    /* Day 200: 10,000.01 would pass 50,000; exactly 10,000 reaches it. */
    W->now_us = T0 + 200 * DAY_US;
    refuse_as(&ADMIN, cancel(&k, ids[1], 1000001, "USD", -1), LEDGER_ERR_REFUND_CAP_EXCEEDED);
    assert_non_null(strstr(W->out.message, "USD 10000.01 more would pass the cap of USD 50000.00; "
                                           "at most USD 10000.00 more fits now"));
    accept(&ADMIN, cancel(&k, ids[1], 1000000, "USD", -1));
    refuse_as(&ADMIN, cancel(&k, ids[2], 1, "USD", -1), LEDGER_ERR_REFUND_CAP_EXCEEDED);
    /* A zero refund is always possible. */
    accept(&ADMIN, cancel(&k, ids[2], 0, "USD", -1));
    /* Exchanges do not count, and are possible with the cap full. */
    const char *returned[] = {ids[3]};
    accept(&ADMIN, exchange(&k, returned, 1, 2000000, cap));
    refuse_as(&ADMIN, cancel(&k, ids[4], 1, "USD", -1), LEDGER_ERR_REFUND_CAP_EXCEEDED);
    /* Exactly 365 days after day 0 its 20,000 no longer counts ("in the last
     * 365 days" is the half-open window (now - 365 d, now]). */
    W->now_us = T0 + YEAR_US - 1;
    refuse_as(&ADMIN, cancel(&k, ids[4], 1, "USD", -1), LEDGER_ERR_REFUND_CAP_EXCEEDED);
    W->now_us = T0 + YEAR_US;
    refuse_as(&ADMIN, cancel(&k, ids[4], 2000001, "USD", -1), LEDGER_ERR_REFUND_CAP_EXCEEDED);
    accept(&ADMIN, cancel(&k, ids[4], 2000000, "USD", -1));
    /* A command dated back counts the refunds after its date in a window
     * with it: ten days before day 0, those of days 0, 100 and 200. */
    Ledger__V1__Command *old_subscription =
        subscription(&k, "sub-old", LEDGER__V1__OFFER__OFFER_AZURE_PLAN);
    old_subscription->business_us = T0 - 10 * YEAR_US;
    accept(&ADMIN, old_subscription);
    Ledger__V1__Command *near_purchase =
        reservation(&k, "sub-old", "Standard_D2s_v5", LEDGER__V1__TERM__TERM_P1Y, cap, "USD");
    near_purchase->business_us = T0 - 20 * DAY_US;
    char near[32];
    snprintf(near, sizeof near, "%s", seq_id("res", accept(&ADMIN, near_purchase)));
    Ledger__V1__Command *back = cancel(&k, near, 1, "USD", -1);
    back->business_us = T0 - 10 * DAY_US;
    refuse_as(&ADMIN, back, LEDGER_ERR_REFUND_CAP_EXCEEDED);
    assert_non_null(strstr(W->out.message, "was refunded USD 50000.00 in the 365 days from "
                                           "2024-12-22T00:00:00Z"));
    Ledger__V1__Command *old_purchase =
        reservation(&k, "sub-old", "Standard_D2s_v5", LEDGER__V1__TERM__TERM_P1Y, cap, "USD");
    old_purchase->business_us = T0 - 10 * YEAR_US;
    char f[32];
    snprintf(f, sizeof f, "%s", seq_id("res", accept(&ADMIN, old_purchase)));
    /* Not before the reservation was bought: its months did not exist. */
    back = cancel(&k, f, 0, "USD", -1);
    back->business_us = T0 - 11 * YEAR_US;
    refuse_as(&ADMIN, back, LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "a cancellation dated 2014-"));
    assert_non_null(strstr(W->out.message, "was bought (2015-"));
    /* Ten years back, no window holds it with the refunds since. */
    back = cancel(&k, f, 1, "USD", -1);
    back->business_us = T0 - 10 * YEAR_US + DAY_US;
    accept(&ADMIN, back);
    /* Far later, everything has left the window: a whole cap fits. */
    W->now_us = T0 + 3 * YEAR_US;
    accept(&ADMIN, cancel(&k, buy_reservation(cap), cap, "USD", -1));
}

/* Rule 7 caps the refunds of any rolling 365 days: a cancellation dated
 * back counts the refunds dated within 365 days of it, before or after,
 * that share a 365-day window with it, and no others. Two refunds 400
 * days apart are in no window together, so one dated between them counts
 * the larger of the two sides, not both. */
static void test_domain_refund_cap_rolling_windows(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    const int64_t cap = LEDGER_REFUND_CAP_USD_MINOR; /* USD 50,000 */
    char ids[4][32];
    for (int i = 0; i < 4; i++)
        snprintf(ids[i], sizeof ids[i], "%s",
                 buy_upfront(LEDGER__V1__TERM__TERM_P3Y, 3 * cap, "USD"));
    /* Day 0: 30,000; day 400: 25,000. */
    accept(&ADMIN, cancel(&k, ids[0], 3000000, "USD", -1));
    W->now_us = T0 + 400 * DAY_US;
    accept(&ADMIN, cancel(&k, ids[1], 2500000, "USD", -1));
    /* Dated day 200: a window holding day 0 and day 200 ends before day
     * 400, so 20,000 fits, and 20,000.01 does not. */
    Ledger__V1__Command *back = cancel(&k, ids[2], 2000001, "USD", -1);
    back->business_us = T0 + 200 * DAY_US;
    refuse_as(&ADMIN, back, LEDGER_ERR_REFUND_CAP_EXCEEDED);
    assert_non_null(strstr(W->out.message, "was refunded USD 30000.00 in the last 365 days"));
    assert_non_null(strstr(W->out.message, "at most USD 20000.00 more fits now"));
    back->cancel_reservation->refund->amount_minor = 2000000;
    accept(&ADMIN, back);
    /* Dated day 300: the window from day 0 holds 50,000 now; the one from
     * day 200 holds 45,000 with day 400's. */
    back = cancel(&k, ids[3], 1, "USD", -1);
    back->business_us = T0 + 300 * DAY_US;
    refuse_as(&ADMIN, back, LEDGER_ERR_REFUND_CAP_EXCEEDED);
    assert_non_null(strstr(W->out.message, "at most USD 0.00 more fits now"));
    /* Dated day 366: day 0 has left every window holding it; the window
     * from day 200 holds 45,000 with day 400's, which comes after. */
    back->business_us = T0 + 366 * DAY_US;
    back->cancel_reservation->refund->amount_minor = 500001;
    refuse_as(&ADMIN, back, LEDGER_ERR_REFUND_CAP_EXCEEDED);
    assert_non_null(strstr(W->out.message, "was refunded USD 45000.00 in the 365 days from "
                                           "2025-07-20T00:00:00Z"));
    assert_non_null(strstr(W->out.message, "at most USD 5000.00 more fits now"));
    back->cancel_reservation->refund->amount_minor = 500000;
    accept(&ADMIN, back);
}

/* Rule 7's edges, each in a fresh world: one earlier refund dated some days
 * before the cancellation asked for, and the amount asked. */
static void test_domain_refund_cap_boundaries(void **state)
{
    (void)state;
    const int64_t cap = LEDGER_REFUND_CAP_USD_MINOR;
    static const struct {
        int64_t earlier_minor;
        int64_t days_ago;
        int64_t asked_minor;
        enum ledger_err expected;
    } cases[] = {
        {cap - 100, 10, 100, LEDGER_ERR_OK},                  /* exactly at the cap */
        {cap - 100, 10, 101, LEDGER_ERR_REFUND_CAP_EXCEEDED}, /* one cent over */
        {0, 10, cap, LEDGER_ERR_OK},                          /* the whole cap at once */
        {0, 10, cap + 1, LEDGER_ERR_REFUND_CAP_EXCEEDED},     /* ... and a cent more */
        {cap, 364, 1, LEDGER_ERR_REFUND_CAP_EXCEEDED},        /* still in the window */
        {cap, 365, 1, LEDGER_ERR_OK},                         /* left it */
        {cap, 365, cap, LEDGER_ERR_OK},                       /* all of it */
        {cap, 366, cap, LEDGER_ERR_OK},                       /* long gone */
        {cap, 0, 1, LEDGER_ERR_REFUND_CAP_EXCEEDED},          /* the same day */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        teardown(NULL);
        setup(NULL);
        struct cmd k;
        standard_customer();
        char earlier[32], asked[32];
        snprintf(earlier, sizeof earlier, "%s", buy_reservation(cap));
        /* Three years: it still commits more than a cap 366 days on. */
        snprintf(asked, sizeof asked, "%s",
                 buy_upfront(LEDGER__V1__TERM__TERM_P3Y, 2 * cap, "USD"));
        if (cases[i].earlier_minor > 0)
            accept(&ADMIN, cancel(&k, earlier, cases[i].earlier_minor, "USD", -1));
        W->now_us = T0 + cases[i].days_ago * DAY_US;
        Ledger__V1__Command *c = cancel(&k, asked, cases[i].asked_minor, "USD", -1);
        if (cases[i].expected == LEDGER_ERR_OK) {
            if (decide(&ADMIN, c) != LEDGER_ERR_OK)
                fail_msg("case %zu refused: %s", i, W->out.message);
        } else {
            refuse_as(&ADMIN, c, cases[i].expected);
        }
    }
}

/* Rule 7 in other currencies: a refund counts by its USD value, which the
 * command states; a refund worth nothing in USD, or a USD value for no
 * refund, is refused before it could pass the cap uncounted. */
static void test_domain_refund_cap_other_currencies(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    const int64_t cap = LEDGER_REFUND_CAP_USD_MINOR;
    char eur[32], jpy[32], usd[32];
    snprintf(eur, sizeof eur, "%s", buy_upfront(LEDGER__V1__TERM__TERM_P1Y, cap, "EUR"));
    snprintf(jpy, sizeof jpy, "%s", buy_upfront(LEDGER__V1__TERM__TERM_P1Y, 900000, "JPY"));
    snprintf(usd, sizeof usd, "%s", buy_reservation(cap));
    refuse_as(&ADMIN, cancel(&k, eur, 4500000, "EUR", 0), LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "refund EUR 45000.00 and refund_usd USD 0.00 must "
                                           "both be 0 or both more than 0"));
    refuse_as(&ADMIN, cancel(&k, eur, 0, "EUR", 100), LEDGER_ERR_INVALID_ARGUMENT);
    assert_int_equal(0, W->customer->refund_count);
    /* EUR 45,000 counted as USD 49,999.99: one cent of room is left, in any
     * currency, and the next cent is refused. */
    accept(&ADMIN, cancel(&k, eur, 4500000, "EUR", cap - 1));
    refuse_as(&ADMIN, cancel(&k, jpy, 1000, "JPY", 2), LEDGER_ERR_REFUND_CAP_EXCEEDED);
    assert_non_null(strstr(W->out.message, "refunded USD 49999.99 in the last 365 days"));
    refuse_as(&ADMIN, cancel(&k, usd, 2, "USD", -1), LEDGER_ERR_REFUND_CAP_EXCEEDED);
    assert_non_null(strstr(W->out.message, "at most USD 0.01 more fits now"));
    accept(&ADMIN, cancel(&k, jpy, 150, "JPY", 1));
    assert_int_equal(2, W->customer->refund_count);
    refuse_as(&ADMIN, cancel(&k, usd, 1, "USD", -1), LEDGER_ERR_REFUND_CAP_EXCEEDED);
    /* No refund at all needs no USD value and is always possible. */
    accept(&ADMIN, cancel(&k, usd, 0, "USD", -1));
}

/* The refund list is bounded: past LEDGER_CUSTOMER_REFUNDS_MAX recent
 * cancellations a decision refuses clearly; once the old ones are two windows
 * behind, evolve drops them and cancellations go on. */
static void test_domain_refund_list_limit(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    const int count = LEDGER_CUSTOMER_REFUNDS_MAX + 2;
    uint64_t first = W->sequence;
    /* For three years: USD 0.01 of each is still committed two years on. */
    for (int i = 0; i < count; i++)
        accept(&ADMIN,
               reservation(&k, "sub-1", "Standard_D2s_v5", LEDGER__V1__TERM__TERM_P3Y, 10, "USD"));
    for (int i = 0; i < LEDGER_CUSTOMER_REFUNDS_MAX - 1; i++)
        accept(&ADMIN, cancel(&k, seq_id("res", first + (uint64_t)i), 1, "USD", -1));
    /* The last of them half a year later. */
    W->now_us = T0 + YEAR_US / 2;
    accept(&ADMIN,
           cancel(&k, seq_id("res", first + LEDGER_CUSTOMER_REFUNDS_MAX - 1), 1, "USD", -1));
    assert_int_equal(LEDGER_CUSTOMER_REFUNDS_MAX, W->customer->refund_count);
    const char *next = seq_id("res", first + LEDGER_CUSTOMER_REFUNDS_MAX);
    refuse_as(&ADMIN, cancel(&k, next, 1, "USD", -1), LEDGER_ERR_INVALID_ARGUMENT);
    W->now_us = T0 + YEAR_US;
    refuse_as(&ADMIN, cancel(&k, next, 1, "USD", -1), LEDGER_ERR_INVALID_ARGUMENT);
    W->now_us = T0 + 2 * YEAR_US - 1;
    refuse_as(&ADMIN, cancel(&k, next, 1, "USD", -1), LEDGER_ERR_INVALID_ARGUMENT);
    /* Two windows on, the refunds can no longer count against the cap of
     * any cancellation dated a window before this one: they are dropped,
     * and the younger one is kept. */
    W->now_us += 1;
    accept(&ADMIN, cancel(&k, next, 1, "USD", -1));
    assert_int_equal(2, W->customer->refund_count);
}

/* Refunds dropped from the full list no longer count, so no cancellation
 * that would share a 365-day window with them is decided: dated back into
 * one, it is refused rather than let pass the cap by what was dropped. */
static void test_domain_refund_list_dropped_refunds_still_cap(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    const int64_t cap = LEDGER_REFUND_CAP_USD_MINOR;
    /* For three years, each still active two years on. */
    uint64_t first = W->sequence;
    for (int i = 0; i < LEDGER_CUSTOMER_REFUNDS_MAX + 2; i++)
        accept(&ADMIN, reservation(&k, "sub-1", "Standard_D2s_v5", LEDGER__V1__TERM__TERM_P3Y,
                                   3 * cap, "USD"));
    /* Day 0: the whole cap, then no refund until the list is full. */
    accept(&ADMIN, cancel(&k, seq_id("res", first), cap, "USD", -1));
    for (int i = 1; i < LEDGER_CUSTOMER_REFUNDS_MAX; i++)
        accept(&ADMIN, cancel(&k, seq_id("res", first + (uint64_t)i), 0, "USD", -1));
    char back[32];
    snprintf(back, sizeof back, "%s", seq_id("res", first + LEDGER_CUSTOMER_REFUNDS_MAX + 1));
    /* Two windows on, a cancellation drops them all. */
    W->now_us = T0 + 2 * YEAR_US;
    accept(&ADMIN, cancel(&k, seq_id("res", first + LEDGER_CUSTOMER_REFUNDS_MAX), 0, "USD", -1));
    assert_int_equal(1, W->customer->refund_count);
    /* Dated ten days after the whole cap was refunded: a cent more would
     * pass it, and the list no longer says so. */
    Ledger__V1__Command *c = cancel(&k, back, 1, "USD", -1);
    c->business_us = T0 + 10 * DAY_US;
    refuse_as(&ADMIN, c, LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "refunds dated up to 2025-01-01T00:00:00Z were dropped "
                                           "from the 4096 kept for the cap"));
    assert_non_null(strstr(W->out.message, "date it at or after 2026-01-01T00:00:00Z"));
    c->business_us = T0 + YEAR_US - 1;
    refuse_as(&ADMIN, c, LEDGER_ERR_INVALID_ARGUMENT);
    /* A window later, none of them shares a window with it. */
    c->business_us = T0 + YEAR_US;
    accept(&ADMIN, c);
    assert_int_equal(2, W->customer->refund_count);
}

/* The refunds dropped from the full list are remembered by the latest of
 * their dates, whatever order they were recorded in: a cancellation dated
 * back before the others, recorded last, does not make the ledger forget
 * that a later-dated refund was dropped. */
static void test_domain_refund_list_dropped_latest_of_any_order(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    const int64_t cap = LEDGER_REFUND_CAP_USD_MINOR;
    uint64_t first = W->sequence;
    for (int i = 0; i < LEDGER_CUSTOMER_REFUNDS_MAX + 2; i++)
        accept(&ADMIN, reservation(&k, "sub-1", "Standard_D2s_v5", LEDGER__V1__TERM__TERM_P3Y,
                                   3 * cap, "USD"));
    /* Ten days on: the whole cap, then nothing; the last one dated back to
     * the day they were bought. */
    W->now_us = T0 + 10 * DAY_US;
    accept(&ADMIN, cancel(&k, seq_id("res", first), cap, "USD", -1));
    for (int i = 1; i < LEDGER_CUSTOMER_REFUNDS_MAX - 1; i++)
        accept(&ADMIN, cancel(&k, seq_id("res", first + (uint64_t)i), 0, "USD", -1));
    Ledger__V1__Command *c =
        cancel(&k, seq_id("res", first + LEDGER_CUSTOMER_REFUNDS_MAX - 1), 0, "USD", -1);
    c->business_us = T0;
    accept(&ADMIN, c);
    assert_int_equal(LEDGER_CUSTOMER_REFUNDS_MAX, W->customer->refund_count);
    char back[32];
    snprintf(back, sizeof back, "%s", seq_id("res", first + LEDGER_CUSTOMER_REFUNDS_MAX + 1));
    /* Two windows after the latest, a cancellation drops them all. */
    W->now_us = T0 + 10 * DAY_US + 2 * YEAR_US;
    accept(&ADMIN, cancel(&k, seq_id("res", first + LEDGER_CUSTOMER_REFUNDS_MAX), 0, "USD", -1));
    assert_int_equal(1, W->customer->refund_count);
    /* Dated within a window of the whole cap's refund: refused, naming its
     * date, not the earlier one recorded last. */
    c = cancel(&k, back, 1, "USD", -1);
    c->business_us = T0 + 25 * DAY_US;
    refuse_as(&ADMIN, c, LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(
        strstr(W->out.message, "refunds dated up to 2025-01-11T00:00:00Z were dropped"));
    assert_non_null(strstr(W->out.message, "date it at or after 2026-01-11T00:00:00Z"));
    c->business_us = T0 + 10 * DAY_US + YEAR_US;
    accept(&ADMIN, c);
}

/* A full refund list of recent cancellations, most of which counted
 * nothing: evolve drops those and keeps the ones that counted, which still
 * count against the cap of the next cancellation. */
static void test_domain_refund_list_keeps_what_counts(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    const int64_t cap = LEDGER_REFUND_CAP_USD_MINOR;
    uint64_t first = W->sequence;
    for (int i = 0; i < LEDGER_CUSTOMER_REFUNDS_MAX + 2; i++)
        accept(&ADMIN, reservation(&k, "sub-1", "Standard_D2s_v5", LEDGER__V1__TERM__TERM_P3Y,
                                   3 * cap, "USD"));
    /* A cent less than the cap, then nothing until the list is full. */
    accept(&ADMIN, cancel(&k, seq_id("res", first), cap - 1, "USD", -1));
    for (int i = 1; i < LEDGER_CUSTOMER_REFUNDS_MAX; i++)
        accept(&ADMIN, cancel(&k, seq_id("res", first + (uint64_t)i), 0, "USD", -1));
    assert_int_equal(LEDGER_CUSTOMER_REFUNDS_MAX, W->customer->refund_count);
    const char *next = seq_id("res", first + LEDGER_CUSTOMER_REFUNDS_MAX);
    refuse_as(&ADMIN, cancel(&k, next, 2, "USD", -1), LEDGER_ERR_REFUND_CAP_EXCEEDED);
    accept(&ADMIN, cancel(&k, next, 1, "USD", -1));
    assert_int_equal(2, W->customer->refund_count);
    assert_int_equal(cap - 1, W->customer->refunds[0].usd_minor);
    assert_int_equal(1, W->customer->refunds[1].usd_minor);
    /* The cap is reached: another cent is refused. */
    refuse_as(&ADMIN,
              cancel(&k, seq_id("res", first + LEDGER_CUSTOMER_REFUNDS_MAX + 1), 1, "USD", -1),
              LEDGER_ERR_REFUND_CAP_EXCEEDED);
}

/* Cancellations that count nothing against the cap (no refund, no
 * instalments released) need no room in the bounded refund list: a full
 * list of them refuses neither another nor one that counts. */
static void test_domain_refund_list_cancellations_of_nothing(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    uint64_t first = W->sequence;
    for (int i = 0; i < LEDGER_CUSTOMER_REFUNDS_MAX + 2; i++)
        accept(&ADMIN,
               reservation(&k, "sub-1", "Standard_D2s_v5", LEDGER__V1__TERM__TERM_P3Y, 10, "USD"));
    for (int i = 0; i < LEDGER_CUSTOMER_REFUNDS_MAX; i++)
        accept(&ADMIN, cancel(&k, seq_id("res", first + (uint64_t)i), 0, "USD", -1));
    assert_int_equal(LEDGER_CUSTOMER_REFUNDS_MAX, W->customer->refund_count);
    accept(&ADMIN, cancel(&k, seq_id("res", first + LEDGER_CUSTOMER_REFUNDS_MAX), 0, "USD", -1));
    accept(&ADMIN,
           cancel(&k, seq_id("res", first + LEDGER_CUSTOMER_REFUNDS_MAX + 1), 1, "USD", -1));
    assert_int_equal(2, W->customer->refund_count);
    assert_int_equal(1, W->customer->refunds[1].usd_minor);
}

/* ---- per-customer limits ------------------------------------------------------ */

/* Each bound of a customer's state (ledger_limits.h) refuses the command that
 * would pass it, with a message naming the limit, and nothing else changes. */
static void test_domain_customer_reservation_limit(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    char first[32];
    snprintf(first, sizeof first, "%s", buy_reservation(1000));
    accept(&ADMIN, reservation_renewal(&k, first, true));
    for (int i = 1; i < LEDGER_CUSTOMER_RESERVATIONS_MAX - 1; i++)
        accept(&ADMIN, plain_reservation(&k, 1000));
    /* One short of the limit: an exchange may buy one more, not two. */
    const char *returned[] = {first};
    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, exchange(&k, returned, 1, 0, 5000)));
    exchange(&k, returned, 1, 0, 5000);
    more_replacement(&k, 5000);
    refuse_as(&ADMIN, &k.c, LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "the exchange buys 2"));
    accept(&ADMIN, plain_reservation(&k, 1000));
    assert_int_equal(LEDGER_CUSTOMER_RESERVATIONS_MAX, W->customer->reservation_count);
    refuse_as(&ADMIN, plain_reservation(&k, 1000), LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "the most one customer may hold"));
    /* An exchange and a renewal each add a reservation: refused alike. */
    refuse_as(&ADMIN, exchange(&k, returned, 1, 0, 5000), LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "reservations"));
    W->now_us = T0 + YEAR_US;
    refuse_as(&ADMIN, renew(&k, first, 1100, "USD"), LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "reservations"));
    /* What does not add one still works (within the term). */
    accept(&ADMIN, dated(reservation_renewal(&k, first, false), T0 + YEAR_US - 1));
}

static void test_domain_customer_savings_plan_limit(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    for (int i = 0; i < LEDGER_CUSTOMER_SAVINGS_PLANS_MAX; i++)
        accept(&ADMIN, savings_plan(&k, "sub-1", LEDGER__V1__TERM__TERM_P1Y, 500));
    refuse_as(&ADMIN, savings_plan(&k, "sub-1", LEDGER__V1__TERM__TERM_P1Y, 500),
              LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "savings plans"));
}

static void test_domain_customer_role_limit(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    char user[32];
    for (int i = 0; i < LEDGER_CUSTOMER_ROLES_MAX; i++) {
        snprintf(user, sizeof user, "user-%d", i);
        accept(&ADMIN, role(&k, true, "sub-1", user, LEDGER__V1__AZURE_ROLE__AZURE_ROLE_READER));
    }
    refuse_as(&ADMIN, role(&k, true, "sub-1", "one-more", LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER),
              LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "role assignments"));
    /* Removing one makes room again. */
    accept(&ADMIN, role(&k, false, "sub-1", "user-0", LEDGER__V1__AZURE_ROLE__AZURE_ROLE_READER));
    accept(&ADMIN, role(&k, true, "sub-1", "one-more", LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER));
}

/* The limits of what a customer holds refuse with one wording, naming the
 * customer, the limit and what it bounds. */
static void test_domain_customer_limit_messages(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    char id[32];
    for (size_t i = W->customer->subscription_count; i < LEDGER_CUSTOMER_SUBSCRIPTIONS_MAX; i++) {
        snprintf(id, sizeof id, "sub-more-%zu", i);
        accept(&ADMIN, subscription(&k, id, LEDGER__V1__OFFER__OFFER_AZURE_PLAN));
    }
    refuse_as(&ADMIN, subscription(&k, "sub-extra", LEDGER__V1__OFFER__OFFER_AZURE_PLAN),
              LEDGER_ERR_INVALID_ARGUMENT);
    assert_string_equal("customer c1 already has 256 subscriptions, the most one customer may hold",
                        W->out.message);
    for (size_t i = W->customer->role_count; i < LEDGER_CUSTOMER_ROLES_MAX; i++) {
        snprintf(id, sizeof id, "user-%zu", i);
        accept(&ADMIN, role(&k, true, "sub-1", id, LEDGER__V1__AZURE_ROLE__AZURE_ROLE_READER));
    }
    refuse_as(&ADMIN, role(&k, true, "sub-1", "one-more", LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER),
              LEDGER_ERR_INVALID_ARGUMENT);
    assert_string_equal(
        "customer c1 already has 4096 role assignments, the most one customer may hold",
        W->out.message);
}

static void test_domain_customer_permission_change_limit(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    const Ledger__V1__PermissionKind kind =
        LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_RESERVATIONS;
    for (int i = 0; i < LEDGER_CUSTOMER_PERMISSION_CHANGES_MAX; i++)
        accept(&ADMIN, permission(&k, i % 2 == 0, kind));
    refuse_as(&ADMIN, permission(&k, true, kind), LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "permission changes"));
}

static void test_domain_customer_role_removal_limit(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    const Ledger__V1__AzureRole READER = LEDGER__V1__AZURE_ROLE__AZURE_ROLE_READER;
    for (int i = 0; i < LEDGER_CUSTOMER_ROLE_REMOVALS_MAX; i++) {
        accept(&ADMIN, role(&k, true, "sub-1", "alice", READER));
        accept(&ADMIN, role(&k, false, "sub-1", "alice", READER));
    }
    accept(&ADMIN, role(&k, true, "sub-1", "alice", READER));
    refuse_as(&ADMIN, role(&k, false, "sub-1", "alice", READER), LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "customer c1 reached 8192 role removals"));
    assert_int_equal(1, W->customer->role_count);
    assert_int_equal(LEDGER_CUSTOMER_ROLE_REMOVALS_MAX, W->customer->role_removal_count);
    /* Assignments and purchases are still decided against the history. */
    accept(&ADMIN, permission(&k, true, LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_RESERVATIONS));
    accept(&ADMIN, role(&k, true, "sub-1", "alice", LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER));
    accept(&ALICE, plain_reservation(&k, 1000));
}

static void test_domain_customer_status_change_limit(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    for (int i = 0; i < LEDGER_CUSTOMER_STATUS_CHANGES_MAX; i++)
        accept(&ADMIN,
               status(&k, i % 4 < 2 ? "sub-1" : "sub-g",
                      i % 2 == 0 ? LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_SUSPENDED
                                 : LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_ACTIVE));
    refuse_as(&ADMIN,
              status(&k, "sub-o", LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_EXPIRED),
              LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "customer c1 reached 8192 subscription status changes"));
    /* Purchases are still decided against the history. */
    accept(&ADMIN, plain_reservation(&k, 1000));
}

/* ---- rule 8: exchanges ------------------------------------------------------- */

static void test_domain_exchange_value(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    const char *one = buy_reservation(1000000); /* P1Y from T0 */
    char first[32];
    snprintf(first, sizeof first, "%s", one);
    /* 73 days and 6 hours in: 292 of 365 days left (the day begun counts),
     * 800,000 remains. */
    W->now_us = T0 + 73 * DAY_US + 6 * HOUR_US;
    const char *second = buy_reservation(400000); /* P1Y from now: all remains */
    const char *returned[] = {first, second};
    refuse_as(&ADMIN, exchange(&k, returned, 2, 0, 1199999), LEDGER_ERR_EXCHANGE_VALUE_TOO_LOW);
    assert_non_null(strstr(W->out.message, "the replacement commits USD 11999.99 but the returned "
                                           "reservations still commit USD 12000.00: its "
                                           "price must be at least that"));
    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, exchange(&k, returned, 2, 1200000, 1200000)));
    const Ledger__V1__ReservationExchanged *e = W->out.event.reservation_exchanged;
    assert_int_equal(2, e->n_returned_reservation_ids);
    assert_string_equal(first, e->returned_reservation_ids[0]);
    assert_int_equal(1200000, e->remaining_commitment->amount_minor);
    assert_string_equal("USD", e->remaining_commitment->currency);
    assert_int_equal(1200000, e->refund->amount_minor);
    assert_string_equal(seq_id("res", W->sequence), e->replacements[0]->reservation_id);
    assert_string_equal(seq_id("ord", W->sequence), e->replacements[0]->order_id);
    assert_int_equal(LEDGER__V1__PURCHASER__PURCHASER_PARTNER, e->replacements[0]->purchaser);
    assert_true(e->replacements[0]->starts_us == W->now_us);
    /* Bought 2025-03-15T06:00Z (T0 + 73 days 6 hours) for P3Y: 2028-03-15,
     * a leap day later than three 365-day years. */
    assert_true(e->replacements[0]->expires_us == DATE_US(2028, 3, 15) + 6 * HOUR_US);
    assert_true(e->replacements[0]->expires_us == W->now_us + 3 * YEAR_US + DAY_US);
    assert_true(domain_partner_visible(&W->out.event));
    uint64_t seq = accept(&ADMIN, exchange(&k, returned, 2, 1200000, 1200000));
    assert_int_equal(LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_EXCHANGED,
                     domain_find_reservation(W->customer, first)->state);
    assert_int_equal(LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_EXCHANGED,
                     domain_find_reservation(W->customer, second)->state);
    const struct domain_reservation *replacement =
        domain_find_reservation(W->customer, seq_id("res", seq));
    assert_int_equal(LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_ACTIVE, replacement->state);
    assert_string_equal("Standard_E4s_v5", replacement->sku);
    /* Returned reservations are gone for good. */
    refuse_as(&ADMIN, exchange(&k, returned, 1, 0, 2000000), LEDGER_ERR_RESERVATION_NOT_ACTIVE);
    /* A reservation past its expiry is over: nothing is left to exchange
     * (its remaining commitment would be 0, and any replacement "worth"
     * it). */
    const char *old = buy_reservation(500000);
    char late[32];
    snprintf(late, sizeof late, "%s", old);
    W->now_us += 2 * YEAR_US;
    const char *late_list[] = {late};
    refuse_as(&ADMIN, exchange(&k, late_list, 1, 0, 1), LEDGER_ERR_RESERVATION_NOT_ACTIVE);
    assert_non_null(strstr(W->out.message, "ended with its term on"));
    assert_non_null(strstr(W->out.message, "record its expiry instead"));
}

/* A renewal recorded early starts at the old reservation's expiry: returned
 * in an exchange before then, nothing of it was billed (docs/views.md), so
 * the exchange refunds nothing for it, as a cancellation would not; its
 * price still counts in the commitment the replacements must match. */
static void test_domain_exchange_unstarted_renewal_refunds_nothing(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    char renewing[32], ahead[32], started[32];
    snprintf(renewing, sizeof renewing, "%s", buy_reservation(1000));
    accept(&ADMIN, reservation_renewal(&k, renewing, true));
    snprintf(ahead, sizeof ahead, "%s",
             seq_id("res", accept(&ADMIN, renew(&k, renewing, 1000, "USD"))));
    W->now_us = T0 + 30 * DAY_US;
    const char *returned[] = {ahead};
    refuse_as(&ADMIN, exchange(&k, returned, 1, 1, 1000), LEDGER_ERR_INVALID_AMOUNT);
    assert_non_null(strstr(W->out.message, "refund USD 0.01 exceeds"));
    assert_non_null(strstr(W->out.message, "USD 0.00"));
    refuse_as(&ADMIN, exchange(&k, returned, 1, 0, 999), LEDGER_ERR_EXCHANGE_VALUE_TOO_LOW);
    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, exchange(&k, returned, 1, 0, 1000)));
    assert_int_equal(1000, W->out.event.reservation_exchanged->remaining_commitment->amount_minor);

    /* Returned beside a started one, only the started one is refunded. */
    snprintf(started, sizeof started, "%s", buy_reservation(1000)); /* all of it remains */
    const char *both[] = {ahead, started};
    refuse_as(&ADMIN, exchange(&k, both, 2, 1001, 2000), LEDGER_ERR_INVALID_AMOUNT);
    assert_non_null(strstr(W->out.message, "USD 10.00"));
    accept(&ADMIN, exchange(&k, both, 2, 1000, 2000));
    assert_int_equal(LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_EXCHANGED,
                     domain_find_reservation(W->customer, ahead)->state);
}

static void test_domain_exchange_refusals(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    char a[32], b[32], eur[32];
    snprintf(a, sizeof a, "%s", buy_reservation(1000));
    snprintf(b, sizeof b, "%s", buy_reservation(1000));
    snprintf(eur, sizeof eur, "%s", buy_upfront(LEDGER__V1__TERM__TERM_P1Y, 1000, "EUR"));
    const char *dup[] = {a, a};
    refuse_as(&ADMIN, exchange(&k, dup, 2, 0, 5000), LEDGER_ERR_INVALID_ARGUMENT);
    /* Not dated before a returned reservation was bought. */
    const char *one[] = {a};
    Ledger__V1__Command *before = exchange(&k, one, 1, 0, 5000);
    before->business_us = domain_find_reservation(W->customer, a)->bought_us - 1;
    refuse_as(&ADMIN, before, LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "an exchange dated"));
    const char *none[] = {NULL};
    refuse_as(&ADMIN, exchange(&k, none, 0, 0, 5000), LEDGER_ERR_INVALID_ARGUMENT);
    const char *many[LEDGER_EXCHANGE_RETURNS_MAX + 1];
    char many_ids[LEDGER_EXCHANGE_RETURNS_MAX + 1][16];
    for (int i = 0; i <= LEDGER_EXCHANGE_RETURNS_MAX; i++) {
        snprintf(many_ids[i], sizeof many_ids[i], "res-%d", 1000 + i);
        many[i] = many_ids[i];
    }
    refuse_as(&ADMIN, exchange(&k, many, LEDGER_EXCHANGE_RETURNS_MAX + 1, 0, 5000),
              LEDGER_ERR_INVALID_ARGUMENT);
    refuse_as(&ADMIN, exchange(&k, many, LEDGER_EXCHANGE_RETURNS_MAX, 0, 5000),
              LEDGER_ERR_RESERVATION_NOT_FOUND);
    const char *bad_id[] = {"res 1"};
    refuse_as(&ADMIN, exchange(&k, bad_id, 1, 0, 5000), LEDGER_ERR_INVALID_ARGUMENT);
    const char *mixed[] = {a, eur};
    refuse_as(&ADMIN, exchange(&k, mixed, 2, 0, 5000), LEDGER_ERR_CURRENCY_MISMATCH);
    const char *pair[] = {a, b};
    /* Refund: at most what the returned reservations still commit (bought
     * this very moment: their price), in their currency. */
    refuse_as(&ADMIN, exchange(&k, pair, 2, 2001, 5000), LEDGER_ERR_INVALID_AMOUNT);
    assert_non_null(strstr(W->out.message, "refund USD 20.01 exceeds what the returned "
                                           "reservations still commit, USD 20.00"));
    Ledger__V1__Command *c = exchange(&k, pair, 2, 10, 5000);
    c->exchange_reservation->refund->currency = "EUR";
    refuse_as(&ADMIN, c, LEDGER_ERR_CURRENCY_MISMATCH);
    c = exchange(&k, pair, 2, 10, 5000);
    c->exchange_reservation->refund = NULL;
    refuse_as(&ADMIN, c, LEDGER_ERR_INVALID_ARGUMENT);
    c = exchange(&k, pair, 2, -1, 5000);
    refuse_as(&ADMIN, c, LEDGER_ERR_INVALID_AMOUNT);
    /* The replacement is validated like a partner purchase. */
    c = exchange(&k, pair, 2, 10, 5000);
    c->exchange_reservation->n_replacements = 0;
    refuse_as(&ADMIN, c, LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "an exchange buys 1..32 replacements, not 0"));
    c = exchange(&k, pair, 2, 10, 5000);
    c->exchange_reservation->replacements[0]->price->currency = "EUR";
    c->exchange_reservation->replacements[0]->retail_price->currency = "EUR";
    refuse_as(&ADMIN, c, LEDGER_ERR_CURRENCY_MISMATCH);
    c = exchange(&k, pair, 2, 10, 5000);
    c->exchange_reservation->replacements[0]->term = LEDGER__V1__TERM__TERM_P5Y;
    refuse_as(&ADMIN, c, LEDGER_ERR_INVALID_TERM);
    c = exchange(&k, pair, 2, 10, 5000);
    c->exchange_reservation->replacements[0]->billing_subscription_id = "sub-o";
    refuse_as(&ADMIN, c, LEDGER_ERR_SUBSCRIPTION_NOT_ELIGIBLE);
    c = exchange(&k, pair, 2, 10, 5000);
    c->exchange_reservation->replacements[0]->scope->kind =
        LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SINGLE;
    refuse_as(&ADMIN, c, LEDGER_ERR_INVALID_SCOPE);
    c = exchange(&k, pair, 2, 10, 5000);
    c->exchange_reservation->replacements[0]->quantity = 0;
    refuse_as(&ADMIN, c, LEDGER_ERR_INVALID_ARGUMENT);
    refuse_as(&SALES, exchange(&k, pair, 2, 10, 5000), LEDGER_ERR_FORBIDDEN);
    refuse_as(&ALICE, exchange(&k, pair, 2, 10, 5000), LEDGER_ERR_ASK_PARTNER);
    accept(&ADMIN, exchange(&k, pair, 2, 10, 5000));
}

/* Rule 8 with several replacements: their prices together must cover the
 * remaining commitment; each gets its own ids and becomes a reservation. */
static void test_domain_exchange_several_replacements(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    char first[32];
    snprintf(first, sizeof first, "%s", buy_reservation(1000000)); /* P1Y from T0 */
    W->now_us = T0 + 73 * DAY_US; /* 292 of 365 days left: 800,000 remains */
    const char *returned[] = {first};
    size_t count = W->customer->reservation_count;

    /* One minor unit short, over three replacements: refused, naming the sum. */
    exchange(&k, returned, 1, 0, 500000);
    more_replacement(&k, 200000);
    more_replacement(&k, 99999);
    refuse_as(&ADMIN, &k.c, LEDGER_ERR_EXCHANGE_VALUE_TOO_LOW);
    assert_non_null(strstr(W->out.message, "the 3 replacements commit USD 7999.99 together but "
                                           "the returned reservations still commit USD 8000.00"));
    assert_int_equal(count, W->customer->reservation_count);
    assert_int_equal(LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_ACTIVE,
                     domain_find_reservation(W->customer, first)->state);

    /* Exactly the remaining commitment, over two: allowed. */
    exchange(&k, returned, 1, 1000, 500000);
    more_replacement(&k, 300000)->sku = "Standard_D2s_v5";
    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, &k.c));
    const Ledger__V1__ReservationExchanged *e = W->out.event.reservation_exchanged;
    assert_int_equal(2, e->n_replacements);
    assert_int_equal(800000, e->remaining_commitment->amount_minor);
    char id[40];
    snprintf(id, sizeof id, "%s-2", seq_id("res", W->sequence));
    assert_string_equal(seq_id("res", W->sequence), e->replacements[0]->reservation_id);
    assert_string_equal(seq_id("ord", W->sequence), e->replacements[0]->order_id);
    assert_string_equal(id, e->replacements[1]->reservation_id);
    assert_true(codec_id_valid(e->replacements[1]->reservation_id));
    snprintf(id, sizeof id, "%s-2", seq_id("ord", W->sequence));
    assert_string_equal(id, e->replacements[1]->order_id);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(LEDGER__V1__PURCHASER__PURCHASER_PARTNER, e->replacements[i]->purchaser);
        assert_true(e->replacements[i]->starts_us == W->now_us);
        assert_true(e->replacements[i]->expires_us == W->now_us + 3 * YEAR_US + DAY_US);
        assert_null(e->replacements[i]->allowed_by);
    }
    assert_int_equal(500000, e->replacements[0]->price->amount_minor);
    assert_int_equal(300000, e->replacements[1]->price->amount_minor);
    uint64_t seq = accept(&ADMIN, &k.c);
    assert_int_equal(count + 2, W->customer->reservation_count);
    assert_int_equal(LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_EXCHANGED,
                     domain_find_reservation(W->customer, first)->state);
    char second[40];
    snprintf(second, sizeof second, "%s-2", seq_id("res", seq));
    const struct domain_reservation *r = domain_find_reservation(W->customer, second);
    assert_non_null(r);
    assert_int_equal(LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_ACTIVE, r->state);
    assert_string_equal("Standard_D2s_v5", r->sku);
    assert_int_equal(300000, r->price.amount_minor);
    assert_true(r->sequence == seq);
    assert_string_equal("Standard_E4s_v5",
                        domain_find_reservation(W->customer, seq_id("res", seq))->sku);

    /* A replacement is a reservation like any: it may be exchanged in turn,
     * here for three. */
    const char *again[] = {second};
    exchange(&k, again, 1, 0, 100000);
    more_replacement(&k, 100000);
    more_replacement(&k, 100000);
    seq = accept(&ADMIN, &k.c);
    assert_int_equal(count + 5, W->customer->reservation_count);
    snprintf(id, sizeof id, "%s-3", seq_id("res", seq));
    assert_int_equal(100000, domain_find_reservation(W->customer, id)->price.amount_minor);
    assert_int_equal(LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_EXCHANGED,
                     domain_find_reservation(W->customer, second)->state);
}

static void test_domain_exchange_replacement_bound(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    char first[32];
    snprintf(first, sizeof first, "%s", buy_reservation(1000));
    const char *returned[] = {first};
    size_t count = W->customer->reservation_count;
    exchange(&k, returned, 1, 0, 1000);
    for (int i = 1; i <= LEDGER_EXCHANGE_REPLACEMENTS_MAX; i++)
        more_replacement(&k, 1);
    refuse_as(&ADMIN, &k.c, LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "an exchange buys 1..32 replacements, not 33"));
    assert_int_equal(count, W->customer->reservation_count);
    /* At the bound: accepted, the last id res-<seq>-32. */
    k.exchange.n_replacements = LEDGER_EXCHANGE_REPLACEMENTS_MAX;
    uint64_t seq = accept(&ADMIN, &k.c);
    assert_int_equal(count + LEDGER_EXCHANGE_REPLACEMENTS_MAX, W->customer->reservation_count);
    char last[40];
    snprintf(last, sizeof last, "%s-32", seq_id("res", seq));
    assert_non_null(domain_find_reservation(W->customer, last));
}

/* A refusal about one replacement of several says which one. */
static void test_domain_exchange_bad_replacement_named(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    char first[32];
    snprintf(first, sizeof first, "%s", buy_reservation(1000));
    const char *returned[] = {first};
    size_t count = W->customer->reservation_count;

    exchange(&k, returned, 1, 0, 1000);
    more_replacement(&k, 500)->quantity = 0;
    refuse_as(&ADMIN, &k.c, LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "replacement 2 of 2: quantity 0 is out of range"));

    exchange(&k, returned, 1, 0, 1000);
    more_replacement(&k, 500);
    more_replacement(&k, 500)->term = LEDGER__V1__TERM__TERM_P5Y;
    refuse_as(&ADMIN, &k.c, LEDGER_ERR_INVALID_TERM);
    assert_non_null(strstr(W->out.message, "replacement 3 of 3: term P5Y is not sold"));

    exchange(&k, returned, 1, 0, 1000);
    more_replacement(&k, 500)->billing_subscription_id = "sub-o";
    refuse_as(&ADMIN, &k.c, LEDGER_ERR_SUBSCRIPTION_NOT_ELIGIBLE);
    assert_non_null(strstr(W->out.message, "replacement 2 of 2: billing subscription sub-o"));

    exchange(&k, returned, 1, 0, 1000);
    Ledger__V1__PurchaseReservation *eur = more_replacement(&k, 500);
    eur->price->currency = "EUR";
    eur->retail_price->currency = "EUR";
    refuse_as(&ADMIN, &k.c, LEDGER_ERR_CURRENCY_MISMATCH);
    assert_non_null(strstr(W->out.message, "replacement 2 of 2: the replacement is priced in EUR"));

    exchange(&k, returned, 1, 0, 1000);
    Ledger__V1__Scope single = LEDGER__V1__SCOPE__INIT;
    single.kind = LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SINGLE;
    single.target = "sub-9";
    more_replacement(&k, 500)->scope = &single;
    refuse_as(&ADMIN, &k.c, LEDGER_ERR_INVALID_SCOPE);
    assert_non_null(strstr(W->out.message, "replacement 2 of 2: "));

    exchange(&k, returned, 1, 0, 1000);
    more_replacement(&k, 500);
    k.replacements[1] = NULL;
    refuse_as(&ADMIN, &k.c, LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "replacement 2 is empty"));

    assert_int_equal(count, W->customer->reservation_count);
    assert_int_equal(LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_ACTIVE,
                     domain_find_reservation(W->customer, first)->state);
}

/* Evolving an exchange whose replacements do not fit (one already held, one
 * named twice, one malformed, several in a version 1 record) is CORRUPT and
 * changes nothing. */
static void test_domain_evolve_exchange_replacements_must_fit(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    char first[32], held[32];
    snprintf(first, sizeof first, "%s", buy_reservation(1000));
    snprintf(held, sizeof held, "%s", buy_reservation(1000));
    const char *returned[] = {first};
    exchange(&k, returned, 1, 0, 1000);
    more_replacement(&k, 500);
    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, &k.c));
    Ledger__V1__Event *event = &W->out.event;
    Ledger__V1__ReservationPurchased **replacements = event->reservation_exchanged->replacements;
    uint64_t version = W->customer->version;
    size_t count = W->customer->reservation_count;

    char *own = replacements[1]->reservation_id;
    replacements[1]->reservation_id = replacements[0]->reservation_id;
    assert_int_equal(LEDGER_ERR_CORRUPT, domain_customer_evolve(W->customer, event));
    replacements[1]->reservation_id = held;
    assert_int_equal(LEDGER_ERR_CORRUPT, domain_customer_evolve(W->customer, event));
    replacements[1]->reservation_id = own;
    replacements[1]->quantity = 0;
    assert_int_equal(LEDGER_ERR_CORRUPT, domain_customer_evolve(W->customer, event));
    replacements[1]->quantity = 2;
    event->reservation_exchanged->n_replacements = 0;
    assert_int_equal(LEDGER_ERR_CORRUPT, domain_customer_evolve(W->customer, event));
    event->reservation_exchanged->n_replacements = 2;
    /* Schema version 1 exchanges bought one replacement: two is no record an
     * earlier build wrote. */
    assert_int_equal(2, event->schema_version);
    event->schema_version = 1;
    assert_int_equal(LEDGER_ERR_CORRUPT, domain_customer_evolve(W->customer, event));
    event->schema_version = 2;
    assert_int_equal(version, W->customer->version);
    assert_int_equal(count, W->customer->reservation_count);
    assert_int_equal(LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_ACTIVE,
                     domain_find_reservation(W->customer, first)->state);
    /* As decided, it fits. */
    assert_int_equal(LEDGER_ERR_OK, domain_customer_evolve(W->customer, event));
    assert_int_equal(count + 2, W->customer->reservation_count);
}

/* ---- renewals and expiries --------------------------------------------------- */

static void test_domain_renew_and_expire(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    char rid[32];
    snprintf(rid, sizeof rid, "%s", buy_reservation(1000));
    refuse_as(&ADMIN, renew(&k, rid, 1100, "USD"), LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "auto-renew is off"));
    accept(&ADMIN, reservation_renewal(&k, rid, true));
    refuse_as(&ADMIN, renew(&k, rid, 1100, "EUR"), LEDGER_ERR_CURRENCY_MISMATCH);
    refuse_as(&ADMIN, renew(&k, rid, 0, "USD"), LEDGER_ERR_INVALID_AMOUNT);
    refuse_as(&ADMIN, renew(&k, "res-999", 1100, "USD"), LEDGER_ERR_RESERVATION_NOT_FOUND);
    refuse_as(&SALES, renew(&k, rid, 1100, "USD"), LEDGER_ERR_FORBIDDEN);
    refuse_as(&HELPDESK, renew(&k, rid, 1100, "USD"), LEDGER_ERR_FORBIDDEN);
    /* Rule 5: the partner's only; the ledger's schedule records expiries,
     * never renewals, whose price only the cloud knows. */
    refuse_as(&SYSTEM, renew(&k, rid, 1100, "USD"), LEDGER_ERR_FORBIDDEN);
    assert_non_null(strstr(W->out.message, "role system may not renew reservation"));
    Ledger__V1__Command *c = renew(&k, rid, 1100, "USD");
    c->renew_reservation->retail_price->currency = "EUR";
    refuse_as(&ADMIN, c, LEDGER_ERR_CURRENCY_MISMATCH);
    /* Not dated before the reservation was bought. */
    c = renew(&k, rid, 1100, "USD");
    c->business_us = domain_find_reservation(W->customer, rid)->bought_us - 1;
    refuse_as(&ADMIN, c, LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "a renewal dated"));

    W->now_us = T0 + YEAR_US;
    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, renew(&k, rid, 1100, "USD")));
    const Ledger__V1__ReservationRenewed *e = W->out.event.reservation_renewed;
    assert_string_equal(rid, e->reservation_id);
    assert_string_equal(seq_id("res", W->sequence), e->renewal->reservation_id);
    assert_true(e->renewal->starts_us == T0 + YEAR_US);
    assert_true(e->renewal->expires_us == T0 + 2 * YEAR_US);
    assert_string_equal("Standard_D2s_v5", e->renewal->sku);
    assert_string_equal("westeurope", e->renewal->region);
    assert_string_equal("sub-1", e->renewal->billing_subscription_id);
    assert_int_equal(2, e->renewal->quantity);
    assert_int_equal(1100, e->renewal->price->amount_minor);
    assert_true(e->renewal->auto_renew);
    assert_string_equal("admin-1", W->out.event.actor->principal_id);
    assert_int_equal(LEDGER__V1__ROLE__ROLE_ADMIN_AGENT, W->out.event.actor->role);
    assert_string_equal("p1", W->out.event.partner_id);
    uint64_t seq = accept(&ADMIN, renew(&k, rid, 1100, "USD"));
    assert_int_equal(LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_EXPIRED,
                     domain_find_reservation(W->customer, rid)->state);
    char next[32];
    snprintf(next, sizeof next, "%s", seq_id("res", seq));
    assert_int_equal(LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_ACTIVE,
                     domain_find_reservation(W->customer, next)->state);
    refuse_as(&ADMIN, renew(&k, rid, 1100, "USD"), LEDGER_ERR_RESERVATION_NOT_ACTIVE);
    /* Renewed early, the renewal starts at the old expiry, a year on:
     * cancelled before then, nothing of it was billed, so no refund. */
    char renewing[32], ahead[32];
    snprintf(renewing, sizeof renewing, "%s", buy_reservation(1000));
    accept(&ADMIN, reservation_renewal(&k, renewing, true));
    snprintf(ahead, sizeof ahead, "%s",
             seq_id("res", accept(&ADMIN, renew(&k, renewing, 1000, "USD"))));
    refuse_as(&ADMIN, cancel(&k, ahead, 1, "USD", -1), LEDGER_ERR_INVALID_AMOUNT);
    assert_non_null(strstr(W->out.message, "so its refund is 0"));
    accept(&ADMIN, cancel(&k, ahead, 0, "USD", -1));
    /* The ledger's schedule never expires a reservation set to renew; the
     * partner may (the cloud did not renew it). */
    W->now_us = domain_find_reservation(W->customer, next)->expires_us;
    refuse_as(&SYSTEM, expire(&k, next), LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "is set to renew"));
    /* The admin agent may renew too. */
    accept(&ADMIN, renew(&k, next, 1200, "USD"));

    /* Expiry. */
    char other[32];
    snprintf(other, sizeof other, "%s", buy_reservation(1000));
    refuse_as(&SALES, expire(&k, other), LEDGER_ERR_FORBIDDEN);
    refuse_as(&HELPDESK, expire(&k, other), LEDGER_ERR_FORBIDDEN);
    refuse_as(&OPERATOR, expire(&k, other), LEDGER_ERR_FORBIDDEN);
    refuse_as(&SYSTEM, expire(&k, "res-999"), LEDGER_ERR_RESERVATION_NOT_FOUND);
    /* Not before the term ends: an early end is a cancellation. */
    refuse_as(&SYSTEM, expire(&k, other), LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "to end it early, cancel it"));
    Ledger__V1__Command *early = expire(&k, other);
    W->now_us = domain_find_reservation(W->customer, other)->expires_us;
    early->business_us = W->now_us - 1;
    refuse_as(&SYSTEM, early, LEDGER_ERR_INVALID_ARGUMENT);
    accept(&SYSTEM, expire(&k, other));
    assert_int_equal(LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_EXPIRED,
                     domain_find_reservation(W->customer, other)->state);
    refuse_as(&SYSTEM, expire(&k, other), LEDGER_ERR_RESERVATION_NOT_ACTIVE);
    refuse_as(&ADMIN, cancel(&k, other, 0, "USD", -1), LEDGER_ERR_RESERVATION_NOT_ACTIVE);
    snprintf(other, sizeof other, "%s", buy_reservation(1000));
    W->now_us = domain_find_reservation(W->customer, other)->expires_us + DAY_US;
    accept(&ADMIN, expire(&k, other));
    /* The ledger itself acts for any partner but still needs one that exists. */
    W->partner_exists = false;
    refuse_as(&SYSTEM, expire(&k, other), LEDGER_ERR_PARTNER_NOT_FOUND);
}

/* A renewal is the reservation bought again as it stands: what was bought
 * (its billing plan, quantity, SKU, region, term), its scope now, and who
 * bought it; only the prices are the renewal's own. */
static void test_domain_renewal_keeps_what_was_bought(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    accept(&ADMIN, role(&k, true, "sub-1", "alice", LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER));
    accept(&ADMIN, permission(&k, true, LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_RESERVATIONS));
    Ledger__V1__Command *c =
        reservation(&k, "sub-1", "Standard_M8ms", LEDGER__V1__TERM__TERM_P3Y, 3000, "USD");
    c->purchase_reservation->billing_plan = LEDGER__V1__BILLING_PLAN__BILLING_PLAN_UPFRONT;
    c->purchase_reservation->quantity = 7;
    c->purchase_reservation->auto_renew = true;
    char rid[32];
    snprintf(rid, sizeof rid, "%s", seq_id("res", accept(&ALICE, c)));
    accept(&ADMIN, reservation_scope(&k, rid, LEDGER__V1__SCOPE_KIND__SCOPE_KIND_RESOURCE_GROUP,
                                     "sub-g/rg-1"));
    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, renew(&k, rid, 3300, "USD")));
    const Ledger__V1__ReservationPurchased *renewal = W->out.event.reservation_renewed->renewal;
    assert_int_equal(LEDGER__V1__PURCHASER__PURCHASER_CUSTOMER, renewal->purchaser);
    assert_int_equal(LEDGER__V1__BILLING_PLAN__BILLING_PLAN_UPFRONT, renewal->billing_plan);
    assert_int_equal(7, renewal->quantity);
    assert_int_equal(LEDGER__V1__TERM__TERM_P3Y, renewal->term);
    assert_string_equal("Standard_M8ms", renewal->sku);
    assert_string_equal("westeurope", renewal->region);
    assert_string_equal("sub-1", renewal->billing_subscription_id);
    assert_int_equal(LEDGER__V1__SCOPE_KIND__SCOPE_KIND_RESOURCE_GROUP, renewal->scope->kind);
    assert_string_equal("sub-g/rg-1", renewal->scope->target);
    assert_int_equal(3300, renewal->price->amount_minor);
    assert_int_equal(6600, renewal->retail_price->amount_minor);
    assert_string_equal("USD", renewal->retail_price->currency);
    assert_null(renewal->allowed_by);
}

/* A renewal's new term must end at or before the latest time the ledger
 * records, since its end is a time the ledger records and shows: one
 * ending exactly then may be renewed, one ending a microsecond later may
 * not, and neither may a reservation that itself expires then. */
static void test_domain_renew_at_the_latest_time(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    const int64_t last_us = DATE_US(9999, 12, 31) + DAY_US - 1;
    assert_true(last_us == LEDGER_TIME_US_MAX);
    /* Bought two years before the latest time, its renewal ends exactly then. */
    W->now_us = DATE_US(9997, 12, 31) + DAY_US - 1;
    char at_last[32];
    snprintf(at_last, sizeof at_last, "%s", buy_reservation(1000));
    assert_true(domain_find_reservation(W->customer, at_last)->expires_us ==
                DATE_US(9998, 12, 31) + DAY_US - 1);
    accept(&ADMIN, reservation_renewal(&k, at_last, true));
    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, renew(&k, at_last, 1000, "USD")));
    assert_true(W->out.event.reservation_renewed->renewal->starts_us ==
                DATE_US(9998, 12, 31) + DAY_US - 1);
    assert_true(W->out.event.reservation_renewed->renewal->expires_us == last_us);
    /* Bought a microsecond later, its renewal would end after the latest time. */
    W->now_us += 1;
    char past_last[32];
    snprintf(past_last, sizeof past_last, "%s", buy_reservation(1000));
    accept(&ADMIN, reservation_renewal(&k, past_last, true));
    refuse_as(&ADMIN, renew(&k, past_last, 1000, "USD"), LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "would end after 9999-12-31T23:59:59.999999Z, the "
                                           "latest time the ledger records"));
    /* One that expires at the latest time has no term left to renew into. */
    W->now_us = DATE_US(9998, 12, 31) + DAY_US - 1;
    char expiring_last[32];
    snprintf(expiring_last, sizeof expiring_last, "%s", buy_reservation(1000));
    assert_true(domain_find_reservation(W->customer, expiring_last)->expires_us == last_us);
    accept(&ADMIN, reservation_renewal(&k, expiring_last, true));
    refuse_as(&ADMIN, renew(&k, expiring_last, 1000, "USD"), LEDGER_ERR_INVALID_ARGUMENT);
}

/* A purchase's term, and an exchange replacement's, must end at or before
 * the latest time the ledger records: its expires_us is a time the ledger
 * records and shows like any other. */
static void test_domain_purchase_term_ends_by_the_latest_time(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    /* A P1Y term from a year before the latest time ends exactly then. */
    W->now_us = DATE_US(9998, 12, 31) + DAY_US - 1;
    char returned[32];
    snprintf(returned, sizeof returned, "%s", buy_reservation(1000));
    assert_true(domain_find_reservation(W->customer, returned)->expires_us == LEDGER_TIME_US_MAX);
    assert_int_equal(LEDGER_ERR_OK,
                     decide(&ADMIN, savings_plan(&k, "sub-1", LEDGER__V1__TERM__TERM_P1Y, 500)));
    assert_true(W->out.event.savings_plan_purchased->expires_us == LEDGER_TIME_US_MAX);
    /* A microsecond later each would end after it. */
    W->now_us += 1;
    refuse_as(&ADMIN, plain_reservation(&k, 1000), LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "the reservation's P1Y term from "
                                           "9999-01-01T00:00:00Z would end after "
                                           "9999-12-31T23:59:59.999999Z, the latest time"));
    refuse_as(&ADMIN, savings_plan(&k, "sub-1", LEDGER__V1__TERM__TERM_P1Y, 500),
              LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "the savings plan's P1Y term from"));
    const char *const returned_ids[] = {returned};
    refuse_as(&ADMIN, exchange(&k, returned_ids, 1, 0, 5000), LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "the reservation's P3Y term from"));
}

/* A savings plan with auto-renew on is renewed by the partner at the end of
 * its term: every rule of RenewSavingsPlan, in the order decided, then the
 * renewed plan's end and its renewal in the state. */
static void test_domain_renew_savings_plan(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    char plan[32];
    snprintf(plan, sizeof plan, "%s", buy_savings_plan(250));
    const struct domain_savings_plan *old = domain_find_savings_plan(W->customer, plan);
    int64_t expires_us = old->expires_us;
    int64_t bought_us = old->bought_us;
    /* Who: the admin agent; a customer user asks its partner (rule 6). */
    refuse_as(&ALICE, plan_renew(&k, plan, 2000000, "USD"), LEDGER_ERR_ASK_PARTNER);
    refuse_as(&SALES, plan_renew(&k, plan, 2000000, "USD"), LEDGER_ERR_FORBIDDEN);
    refuse_as(&HELPDESK, plan_renew(&k, plan, 2000000, "USD"), LEDGER_ERR_FORBIDDEN);
    refuse_as(&AUDITOR, plan_renew(&k, plan, 2000000, "USD"), LEDGER_ERR_FORBIDDEN);
    refuse_as(&SYSTEM, plan_renew(&k, plan, 2000000, "USD"), LEDGER_ERR_FORBIDDEN);
    /* The fields. */
    refuse_as(&ADMIN, plan_renew(&k, "", 2000000, "USD"), LEDGER_ERR_INVALID_ARGUMENT);
    refuse_as(&ADMIN, plan_renew(&k, plan, 0, "USD"), LEDGER_ERR_INVALID_AMOUNT);
    Ledger__V1__Command *c = plan_renew(&k, plan, 2000000, "USD");
    c->renew_savings_plan->retail_price = NULL;
    refuse_as(&ADMIN, c, LEDGER_ERR_INVALID_ARGUMENT);
    c = plan_renew(&k, plan, 2000000, "USD");
    c->renew_savings_plan->retail_price->currency = "EUR";
    refuse_as(&ADMIN, c, LEDGER_ERR_CURRENCY_MISMATCH);
    /* The plan: the customer's, and a savings plan. */
    refuse_as(&ADMIN, plan_renew(&k, "sp-999", 2000000, "USD"), LEDGER_ERR_SAVINGS_PLAN_NOT_FOUND);
    /* Not dated before it was bought. */
    c = plan_renew(&k, plan, 2000000, "USD");
    c->business_us = bought_us - 1;
    refuse_as(&ADMIN, c, LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "a renewal dated"));
    assert_non_null(strstr(W->out.message, "savings plan"));
    /* Auto-renew on. */
    accept(&ADMIN, plan_renewal(&k, plan, false));
    refuse_as(&ADMIN, plan_renew(&k, plan, 2000000, "USD"), LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "auto-renew is off for savings plan"));
    assert_non_null(strstr(W->out.message, "turn it on first"));
    accept(&ADMIN, plan_renewal(&k, plan, true));
    /* In the plan's currency. */
    refuse_as(&ADMIN, plan_renew(&k, plan, 2000000, "EUR"), LEDGER_ERR_CURRENCY_MISMATCH);
    assert_non_null(strstr(W->out.message, "priced in USD"));
    /* The billing subscription still active (rules 3 and 4). */
    W->now_us = expires_us;
    accept(&ADMIN,
           status(&k, "sub-1", LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_SUSPENDED));
    refuse_as(&ADMIN, plan_renew(&k, plan, 2000000, "USD"), LEDGER_ERR_SUBSCRIPTION_NOT_ACTIVE);
    assert_non_null(strstr(W->out.message, "sub-1"));
    accept(&ADMIN,
           status(&k, "sub-1", LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_ACTIVE));

    W->now_us = expires_us + DAY_US;
    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, plan_renew(&k, plan, 2000000, "USD")));
    const Ledger__V1__SavingsPlanRenewed *e = W->out.event.savings_plan_renewed;
    assert_int_equal(LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_RENEWED, W->out.event.body_case);
    assert_string_equal(plan, e->savings_plan_id);
    assert_string_equal(seq_id("sp", W->sequence), e->renewal->savings_plan_id);
    assert_string_equal("sub-1", e->renewal->billing_subscription_id);
    assert_int_equal(250, e->renewal->hourly_commitment->amount_minor);
    assert_string_equal("USD", e->renewal->hourly_commitment->currency);
    assert_int_equal(LEDGER__V1__TERM__TERM_P1Y, e->renewal->term);
    assert_int_equal(LEDGER__V1__BILLING_PLAN__BILLING_PLAN_MONTHLY, e->renewal->billing_plan);
    assert_int_equal(LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SINGLE, e->renewal->scope->kind);
    assert_string_equal("sub-1", e->renewal->scope->target);
    assert_int_equal(2000000, e->renewal->price->amount_minor);
    assert_int_equal(4000000, e->renewal->retail_price->amount_minor);
    assert_true(e->renewal->auto_renew);
    assert_int_equal(LEDGER__V1__PURCHASER__PURCHASER_PARTNER, e->renewal->purchaser);
    assert_true(e->renewal->starts_us == expires_us);
    assert_true(e->renewal->expires_us == civil_add_years_us(expires_us, 1));
    assert_null(e->renewal->allowed_by);
    assert_string_equal("admin-1", W->out.event.actor->principal_id);
    assert_true(domain_partner_visible(&W->out.event));
    assert_string_equal("Renew Savings Plan", domain_action_name(&W->out.event));

    size_t count = W->customer->savings_plan_count;
    uint64_t seq = accept(&ADMIN, plan_renew(&k, plan, 2000000, "USD"));
    char next[32];
    snprintf(next, sizeof next, "%s", seq_id("sp", seq));
    assert_int_equal(count + 1, W->customer->savings_plan_count);
    old = domain_find_savings_plan(W->customer, plan);
    assert_true(old->renewed);
    assert_int_equal(seq, old->last_sequence);
    const struct domain_savings_plan *renewal = domain_find_savings_plan(W->customer, next);
    assert_non_null(renewal);
    assert_false(renewal->renewed);
    assert_true(renewal->auto_renew);
    assert_true(renewal->starts_us == expires_us);
    assert_true(renewal->bought_us == W->now_us);
    assert_int_equal(seq, renewal->sequence);
    /* The renewed plan is no longer in force: renewed once, changed never;
     * cancelling it is still refused for what it is (rule 6). */
    refuse_as(&ADMIN, plan_renew(&k, plan, 2000000, "USD"), LEDGER_ERR_SAVINGS_PLAN_NOT_ACTIVE);
    assert_non_null(strstr(W->out.message, "act on its renewal"));
    refuse_as(&ADMIN, plan_scope(&k, plan, LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SHARED, ""),
              LEDGER_ERR_SAVINGS_PLAN_NOT_ACTIVE);
    refuse_as(&ADMIN, plan_renewal(&k, plan, false), LEDGER_ERR_SAVINGS_PLAN_NOT_ACTIVE);
    refuse_as(&ADMIN, plan_cancel(&k, plan), LEDGER_ERR_SAVINGS_PLAN_NOT_REFUNDABLE);
    refuse_as(&ALICE, plan_renew(&k, plan, 2000000, "USD"), LEDGER_ERR_ASK_PARTNER);
    /* A reservation is no savings plan. */
    char rid[32];
    snprintf(rid, sizeof rid, "%s", buy_reservation(1000));
    refuse_as(&ADMIN, plan_renew(&k, rid, 2000000, "USD"), LEDGER_ERR_SAVINGS_PLAN_NOT_FOUND);
    /* Its renewal renews in turn, from its own expiry. */
    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, plan_renew(&k, next, 2100000, "USD")));
    assert_true(W->out.event.savings_plan_renewed->renewal->starts_us == renewal->expires_us);
    accept(&ADMIN, plan_renew(&k, next, 2100000, "USD"));
}

/* A renewal is the plan bought again as it stands (its commitment, term,
 * billing plan, scope now, and purchaser); a customer's plan stays the
 * customer's, hidden from partner-facing views, though the partner recorded
 * its renewal and pays for it. Terms are calendar years, 29 February too. */
static void test_domain_savings_plan_renewal_keeps_what_was_bought(void **state)
{
    (void)state;
    struct cmd k;
    W->now_us = DATE_US(2028, 2, 29) + 10 * 3600 * INT64_C(1000000);
    standard_customer();
    accept(&ADMIN, role(&k, true, "sub-1", "alice", LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER));
    accept(&ADMIN,
           permission(&k, true, LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_SAVINGS_PLANS));
    Ledger__V1__Command *c = savings_plan(&k, "sub-1", LEDGER__V1__TERM__TERM_P1Y, 300);
    c->purchase_savings_plan->billing_plan = LEDGER__V1__BILLING_PLAN__BILLING_PLAN_UPFRONT;
    char plan[32];
    snprintf(plan, sizeof plan, "%s", seq_id("sp", accept(&ALICE, c)));
    accept(&ADMIN,
           plan_scope(&k, plan, LEDGER__V1__SCOPE_KIND__SCOPE_KIND_RESOURCE_GROUP, "sub-g/rg-1"));
    const struct domain_savings_plan *old = domain_find_savings_plan(W->customer, plan);
    assert_true(old->expires_us == DATE_US(2029, 2, 28) + 10 * 3600 * INT64_C(1000000));
    /* Even with the permission off and the role gone: the renewal relies on
     * the original purchase. (Each is dated after the purchase it allowed.) */
    W->now_us += 3600 * INT64_C(1000000);
    accept(&ADMIN,
           permission(&k, false, LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_SAVINGS_PLANS));
    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, plan_renew(&k, plan, 2700000, "USD")));
    const Ledger__V1__SavingsPlanPurchased *renewal = W->out.event.savings_plan_renewed->renewal;
    assert_int_equal(LEDGER__V1__PURCHASER__PURCHASER_CUSTOMER, renewal->purchaser);
    assert_int_equal(LEDGER__V1__BILLING_PLAN__BILLING_PLAN_UPFRONT, renewal->billing_plan);
    assert_int_equal(LEDGER__V1__TERM__TERM_P1Y, renewal->term);
    assert_int_equal(300, renewal->hourly_commitment->amount_minor);
    assert_int_equal(LEDGER__V1__SCOPE_KIND__SCOPE_KIND_RESOURCE_GROUP, renewal->scope->kind);
    assert_string_equal("sub-g/rg-1", renewal->scope->target);
    assert_null(renewal->allowed_by);
    assert_true(renewal->starts_us == DATE_US(2029, 2, 28) + 10 * 3600 * INT64_C(1000000));
    assert_true(renewal->expires_us == DATE_US(2030, 2, 28) + 10 * 3600 * INT64_C(1000000));
    assert_int_equal(LEDGER__V1__ROLE__ROLE_ADMIN_AGENT, W->out.event.actor->role);
    assert_false(domain_partner_visible(&W->out.event));
    accept(&ADMIN, plan_renew(&k, plan, 2700000, "USD"));
}

/* A renewal adds a savings plan, so it needs room under the customer's limit;
 * and its new term must end within the times the ledger records. */
static void test_domain_renew_savings_plan_limits(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    char first[32];
    snprintf(first, sizeof first, "%s", buy_savings_plan(500));
    for (int i = 1; i < LEDGER_CUSTOMER_SAVINGS_PLANS_MAX; i++)
        accept(&ADMIN, savings_plan(&k, "sub-1", LEDGER__V1__TERM__TERM_P1Y, 500));
    refuse_as(&ADMIN, plan_renew(&k, first, 4000000, "USD"), LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "savings plans, the most one customer may hold"));
    /* What does not add one still works. */
    accept(&ADMIN, plan_renewal(&k, first, false));

    teardown(NULL);
    setup(NULL);
    standard_customer();
    W->now_us = DATE_US(9997, 12, 31) + DAY_US - 1;
    char at_last[32], past_last[32];
    snprintf(at_last, sizeof at_last, "%s", buy_savings_plan(500));
    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, plan_renew(&k, at_last, 4000000, "USD")));
    assert_true(W->out.event.savings_plan_renewed->renewal->expires_us == LEDGER_TIME_US_MAX);
    W->now_us += 1;
    snprintf(past_last, sizeof past_last, "%s", buy_savings_plan(500));
    refuse_as(&ADMIN, plan_renew(&k, past_last, 4000000, "USD"), LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(W->out.message, "would end after 9999-12-31T23:59:59.999999Z, the "
                                           "latest time the ledger records"));
}

/* Evolving a SavingsPlanRenewed checks that it fits: the renewed plan held
 * and in force, its renewal well formed and new. */
static void test_domain_savings_plan_renewed_evolve_checks(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    char plan[32];
    snprintf(plan, sizeof plan, "%s", buy_savings_plan(500));
    uint64_t version = W->customer->version;
    size_t count = W->customer->savings_plan_count;
    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, plan_renew(&k, plan, 4000000, "USD")));
    Ledger__V1__Event *event = &W->out.event;
    event->savings_plan_renewed->savings_plan_id = "sp-999";
    assert_int_equal(LEDGER_ERR_CORRUPT, domain_customer_evolve(W->customer, event));
    event->savings_plan_renewed->savings_plan_id = plan;
    event->savings_plan_renewed->renewal->savings_plan_id = plan; /* an id taken */
    assert_int_equal(LEDGER_ERR_CORRUPT, domain_customer_evolve(W->customer, event));
    event->savings_plan_renewed->renewal->savings_plan_id = "sp-new";
    event->savings_plan_renewed->renewal->term = (Ledger__V1__Term)9;
    assert_int_equal(LEDGER_ERR_CORRUPT, domain_customer_evolve(W->customer, event));
    event->savings_plan_renewed->renewal->term = LEDGER__V1__TERM__TERM_P1Y;
    event->savings_plan_renewed->renewal = NULL;
    assert_int_equal(LEDGER_ERR_CORRUPT, domain_customer_evolve(W->customer, event));
    event->savings_plan_renewed = NULL;
    assert_int_equal(LEDGER_ERR_CORRUPT, domain_customer_evolve(W->customer, event));
    assert_int_equal(version, W->customer->version);
    assert_int_equal(count, W->customer->savings_plan_count);
    assert_false(domain_find_savings_plan(W->customer, plan)->renewed);
    /* As decided, it fits; once renewed, the plan takes no second renewal
     * and no change. */
    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, plan_renew(&k, plan, 4000000, "USD")));
    assert_int_equal(LEDGER_ERR_OK, domain_customer_evolve(W->customer, &W->out.event));
    W->sequence++;
    assert_int_equal(LEDGER_ERR_OK,
                     decide(&ADMIN, plan_renewal(&k, seq_id("sp", W->sequence - 1), false)));
    W->out.event.savings_plan_renewal_set->savings_plan_id = plan;
    assert_int_equal(LEDGER_ERR_CORRUPT, domain_customer_evolve(W->customer, &W->out.event));
    assert_int_equal(LEDGER_ERR_OK,
                     decide(&ADMIN, plan_scope(&k, seq_id("sp", W->sequence - 1),
                                               LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SHARED, "")));
    W->out.event.savings_plan_scope_changed->savings_plan_id = plan;
    assert_int_equal(LEDGER_ERR_CORRUPT, domain_customer_evolve(W->customer, &W->out.event));
}

/* ---- rule 6: savings plans --------------------------------------------------- */

static void test_domain_savings_plan_changes(void **state)
{
    (void)state;
    struct cmd k;
    savings_plan_buyer();
    char plan[32];
    snprintf(
        plan, sizeof plan, "%s",
        seq_id("sp", accept(&ALICE, savings_plan(&k, "sub-1", LEDGER__V1__TERM__TERM_P1Y, 250))));
    /* Never cancelled, refunded or exchanged, by anyone who may ask. */
    refuse_as(&ADMIN, plan_cancel(&k, plan), LEDGER_ERR_SAVINGS_PLAN_NOT_REFUNDABLE);
    refuse_as(&ALICE, plan_cancel(&k, plan), LEDGER_ERR_SAVINGS_PLAN_NOT_REFUNDABLE);
    refuse_as(&SALES, plan_cancel(&k, plan), LEDGER_ERR_FORBIDDEN);
    refuse_as(&ADMIN, plan_cancel(&k, "sp-999"), LEDGER_ERR_SAVINGS_PLAN_NOT_FOUND);
    refuse_as(&ADMIN, plan_cancel(&k, ""), LEDGER_ERR_INVALID_ARGUMENT);
    /* Named where a reservation goes, it is still a savings plan. */
    refuse_as(&ADMIN, cancel(&k, plan, 100, "USD", -1), LEDGER_ERR_SAVINGS_PLAN_NOT_REFUNDABLE);
    assert_non_null(strstr(W->out.message, "is a savings plan, not a reservation: savings plans "
                                           "cannot be cancelled, refunded or exchanged"));
    char bought[32];
    snprintf(bought, sizeof bought, "%s", buy_reservation(100000));
    const char *with_plan[] = {bought, plan};
    refuse_as(&ADMIN, exchange(&k, with_plan, 2, 0, 500000),
              LEDGER_ERR_SAVINGS_PLAN_NOT_REFUNDABLE);
    refuse_as(&ADMIN, cancel(&k, "sp-999", 100, "USD", -1), LEDGER_ERR_RESERVATION_NOT_FOUND);
    /* Scope and auto-renew: the partner, for customer-bought plans too. */
    refuse_as(&ALICE, plan_scope(&k, plan, LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SHARED, ""),
              LEDGER_ERR_ASK_PARTNER);
    refuse_as(&ALICE, plan_renewal(&k, plan, false), LEDGER_ERR_ASK_PARTNER);
    refuse_as(&SALES, plan_scope(&k, plan, LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SHARED, ""),
              LEDGER_ERR_FORBIDDEN);
    refuse_as(&ADMIN, plan_scope(&k, plan, LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SINGLE, "sub-1"),
              LEDGER_ERR_UNCHANGED);
    refuse_as(&ADMIN, plan_scope(&k, plan, LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SHARED, "x"),
              LEDGER_ERR_INVALID_SCOPE);
    refuse_as(&ADMIN, plan_scope(&k, "sp-999", LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SHARED, ""),
              LEDGER_ERR_SAVINGS_PLAN_NOT_FOUND);
    Ledger__V1__Command *no_plan_scope =
        plan_scope(&k, plan, LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SHARED, "");
    k.plan_scope.scope = NULL;
    refuse_as(&ADMIN, no_plan_scope, LEDGER_ERR_INVALID_ARGUMENT);
    assert_int_equal(
        LEDGER_ERR_OK,
        decide(&ADMIN, plan_scope(&k, plan, LEDGER__V1__SCOPE_KIND__SCOPE_KIND_RESOURCE_GROUP,
                                  "sub-g/rg-1")));
    const Ledger__V1__SavingsPlanScopeChanged *e = W->out.event.savings_plan_scope_changed;
    assert_string_equal("sub-1", e->from_scope->target);
    assert_string_equal("sub-g/rg-1", e->to_scope->target);
    accept(&ADMIN,
           plan_scope(&k, plan, LEDGER__V1__SCOPE_KIND__SCOPE_KIND_RESOURCE_GROUP, "sub-g/rg-1"));
    assert_string_equal("sub-g/rg-1", domain_find_savings_plan(W->customer, plan)->scope.target);
    refuse_as(&ADMIN, plan_renewal(&k, plan, true), LEDGER_ERR_UNCHANGED);
    accept(&ADMIN, plan_renewal(&k, plan, false));
    assert_false(domain_find_savings_plan(W->customer, plan)->auto_renew);
    refuse_as(&ADMIN, plan_renewal(&k, "sp-999", true), LEDGER_ERR_SAVINGS_PLAN_NOT_FOUND);
    /* What was committed stays as bought through every change. */
    const struct domain_savings_plan *p = domain_find_savings_plan(W->customer, plan);
    assert_int_equal(250, p->hourly_commitment.amount_minor);
    assert_string_equal("USD", p->hourly_commitment.currency);
    assert_int_equal(LEDGER__V1__TERM__TERM_P1Y, p->term);
    assert_int_equal(LEDGER__V1__BILLING_PLAN__BILLING_PLAN_MONTHLY, p->billing_plan);
    assert_true(p->expires_us - p->starts_us == YEAR_US);
    assert_int_equal(250 * 8760, p->price.amount_minor);
}

static void test_domain_cost_visibility(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    refuse_as(&ADMIN, visibility(&k, false), LEDGER_ERR_UNCHANGED);
    refuse_as(&SALES, visibility(&k, true), LEDGER_ERR_FORBIDDEN);
    accept(&ADMIN, visibility(&k, true));
    assert_true(W->customer->retail_prices_visible);
    refuse_as(&ADMIN, visibility(&k, true), LEDGER_ERR_UNCHANGED);
    accept(&ADMIN, visibility(&k, false));
    assert_false(W->customer->retail_prices_visible);
}

/* ---- evolve --------------------------------------------------------------------- */

static void test_domain_evolve_refuses_what_does_not_fit(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    char rid[32];
    snprintf(rid, sizeof rid, "%s", buy_reservation(1000));
    /* A decided event, then variations of it that no decision produces. */
    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, cancel(&k, rid, 100, "USD", -1)));
    Ledger__V1__Event *event = &W->out.event;
    uint64_t version = W->customer->version;
    struct domain_customer *before = domain_customer_clone(W->customer);
    assert_non_null(before);

    event->stream_version = version + 2;
    assert_int_equal(LEDGER_ERR_CORRUPT, domain_customer_evolve(W->customer, event));
    event->stream_version = version;
    assert_int_equal(LEDGER_ERR_CORRUPT, domain_customer_evolve(W->customer, event));
    event->stream_version = version + 1;
    event->schema_version = LEDGER_SCHEMA_VERSION + 1;
    assert_int_equal(LEDGER_ERR_CORRUPT, domain_customer_evolve(W->customer, event));
    event->schema_version = 0;
    assert_int_equal(LEDGER_ERR_CORRUPT, domain_customer_evolve(W->customer, event));
    event->schema_version = LEDGER_SCHEMA_VERSION;
    event->customer_id = "c2";
    assert_int_equal(LEDGER_ERR_CORRUPT, domain_customer_evolve(W->customer, event));
    event->customer_id = W->out.customer_id;
    event->partner_id = "p2";
    assert_int_equal(LEDGER_ERR_CORRUPT, domain_customer_evolve(W->customer, event));
    event->partner_id = W->out.partner_id;
    event->reservation_cancelled->reservation_id = "res-999";
    assert_int_equal(LEDGER_ERR_CORRUPT, domain_customer_evolve(W->customer, event));
    event->reservation_cancelled->reservation_id = rid;
    event->reservation_cancelled->refund_usd = NULL;
    assert_int_equal(LEDGER_ERR_CORRUPT, domain_customer_evolve(W->customer, event));
    event->reservation_cancelled->refund_usd = &W->out.money[1];
    event->reservation_cancelled->refund = NULL;
    assert_int_equal(LEDGER_ERR_CORRUPT, domain_customer_evolve(W->customer, event));
    event->reservation_cancelled->refund = &W->out.money[0];
    event->reservation_cancelled = NULL;
    assert_int_equal(LEDGER_ERR_CORRUPT, domain_customer_evolve(W->customer, event));
    event->reservation_cancelled = &W->out.body.reservation_cancelled;
    /* Events of no customer's stream, and no body. */
    Ledger__V1__PartnerRegistered partner = LEDGER__V1__PARTNER_REGISTERED__INIT;
    partner.name = "x";
    event->body_case = LEDGER__V1__EVENT__BODY_PARTNER_REGISTERED;
    event->partner_registered = &partner;
    assert_int_equal(LEDGER_ERR_CORRUPT, domain_customer_evolve(W->customer, event));
    event->body_case = LEDGER__V1__EVENT__BODY__NOT_SET;
    assert_int_equal(LEDGER_ERR_CORRUPT, domain_customer_evolve(W->customer, event));
    event->body_case = (Ledger__V1__Event__BodyCase)77;
    assert_int_equal(LEDGER_ERR_CORRUPT, domain_customer_evolve(W->customer, event));
    /* Nothing moved. */
    assert_int_equal(version, W->customer->version);
    assert_int_equal(before->refund_count, W->customer->refund_count);
    assert_int_equal(LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_ACTIVE,
                     domain_find_reservation(W->customer, rid)->state);
    /* The unchanged event still applies. */
    event->body_case = LEDGER__V1__EVENT__BODY_RESERVATION_CANCELLED;
    event->reservation_cancelled = &W->out.body.reservation_cancelled;
    assert_int_equal(LEDGER_ERR_OK, domain_customer_evolve(W->customer, event));
    assert_int_equal(1, W->customer->refund_count);
    /* Applying the same event again does not fit. */
    event->stream_version++;
    assert_int_equal(LEDGER_ERR_CORRUPT, domain_customer_evolve(W->customer, event));
    domain_customer_free(before);
    assert_int_equal(LEDGER_ERR_INTERNAL, domain_customer_evolve(NULL, event));
    assert_int_equal(LEDGER_ERR_INTERNAL, domain_customer_evolve(W->customer, NULL));
}

/* Records no decision makes: a reservation or a savings plan whose term
 * ends when it starts, a role assigned twice (the first assignment held
 * included). Each is CORRUPT and leaves the state as it was. */
static void test_domain_evolve_refuses_empty_terms_and_doubled_roles(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    accept(&ADMIN, role(&k, true, "sub-1", "alice", LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER));
    uint64_t version = W->customer->version;

    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, plain_reservation(&k, 1000)));
    Ledger__V1__ReservationPurchased *bought = W->out.event.reservation_purchased;
    bought->expires_us = bought->starts_us;
    assert_int_equal(LEDGER_ERR_CORRUPT, domain_customer_evolve(W->customer, &W->out.event));
    assert_int_equal(0, W->customer->reservation_count);

    assert_int_equal(LEDGER_ERR_OK,
                     decide(&ADMIN, savings_plan(&k, "sub-1", LEDGER__V1__TERM__TERM_P1Y, 100)));
    Ledger__V1__SavingsPlanPurchased *plan = W->out.event.savings_plan_purchased;
    plan->expires_us = plan->starts_us;
    assert_int_equal(LEDGER_ERR_CORRUPT, domain_customer_evolve(W->customer, &W->out.event));
    assert_int_equal(0, W->customer->savings_plan_count);
    /* Nor one without its commitment, or with a scope no decision gives. */
    plan->expires_us = plan->starts_us + YEAR_US;
    Ledger__V1__Money *hourly = plan->hourly_commitment;
    plan->hourly_commitment = NULL;
    assert_int_equal(LEDGER_ERR_CORRUPT, domain_customer_evolve(W->customer, &W->out.event));
    plan->hourly_commitment = hourly;
    plan->scope->kind = (Ledger__V1__ScopeKind)9;
    assert_int_equal(LEDGER_ERR_CORRUPT, domain_customer_evolve(W->customer, &W->out.event));
    assert_int_equal(0, W->customer->savings_plan_count);

    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, role(&k, true, "sub-1", "bob",
                                                        LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER)));
    W->out.event.role_assigned->user = "alice";
    assert_int_equal(LEDGER_ERR_CORRUPT, domain_customer_evolve(W->customer, &W->out.event));
    assert_int_equal(1, W->customer->role_count);
    assert_int_equal(version, W->customer->version);
}

/* A record of a change to a reservation or a savings plan the customer does
 * not hold (or holds no longer active) is CORRUPT, whatever the change. */
static void test_domain_evolve_refuses_changes_of_what_is_not_held(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    char rid[32], plan[32];
    snprintf(rid, sizeof rid, "%s", buy_reservation(1000));
    snprintf(
        plan, sizeof plan, "%s",
        seq_id("sp", accept(&ADMIN, savings_plan(&k, "sub-1", LEDGER__V1__TERM__TERM_P1Y, 100))));
    uint64_t version = W->customer->version;
    Ledger__V1__Command *cases[6];
    struct cmd commands[6];
    cases[0] =
        reservation_scope(&commands[0], rid, LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SINGLE, "sub-1");
    cases[1] = reservation_renewal(&commands[1], rid, true);
    cases[2] = cancel(&commands[2], rid, 0, "USD", -1);
    cases[3] = plan_scope(&commands[3], plan, LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SHARED, "");
    cases[4] = plan_renewal(&commands[4], plan, false);
    cases[5] = expire(&commands[5], rid);
    for (size_t i = 0; i < 6; i++) {
        const struct domain_principal *who = i == 5 ? &SYSTEM : &ADMIN;
        if (i == 5)
            W->now_us = domain_find_reservation(W->customer, rid)->expires_us;
        assert_int_equal(LEDGER_ERR_OK, decide(who, cases[i]));
        Ledger__V1__Event *event = &W->out.event;
        switch (event->body_case) {
        case LEDGER__V1__EVENT__BODY_RESERVATION_SCOPE_CHANGED:
            event->reservation_scope_changed->reservation_id = "res-999";
            break;
        case LEDGER__V1__EVENT__BODY_RESERVATION_RENEWAL_SET:
            event->reservation_renewal_set->reservation_id = "res-999";
            break;
        case LEDGER__V1__EVENT__BODY_RESERVATION_CANCELLED:
            event->reservation_cancelled->reservation_id = "res-999";
            break;
        case LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_SCOPE_CHANGED:
            event->savings_plan_scope_changed->savings_plan_id = "sp-999";
            break;
        case LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_RENEWAL_SET:
            event->savings_plan_renewal_set->savings_plan_id = "sp-999";
            break;
        case LEDGER__V1__EVENT__BODY_RESERVATION_EXPIRED:
            event->reservation_expired->reservation_id = "res-999";
            break;
        default:
            fail_msg("case %zu decided %s", i, codec_event_type_name(event->body_case));
        }
        if (domain_customer_evolve(W->customer, event) != LEDGER_ERR_CORRUPT)
            fail_msg("case %zu: %s of what is not held is not CORRUPT", i,
                     codec_event_type_name(event->body_case));
    }
    /* Nor a scope no decision gives, nor a change without its body. */
    W->now_us = T0;
    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, cases[0]));
    W->out.event.reservation_scope_changed->to_scope->kind = (Ledger__V1__ScopeKind)9;
    assert_int_equal(LEDGER_ERR_CORRUPT, domain_customer_evolve(W->customer, &W->out.event));
    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, cases[3]));
    W->out.event.savings_plan_scope_changed->to_scope = NULL;
    assert_int_equal(LEDGER_ERR_CORRUPT, domain_customer_evolve(W->customer, &W->out.event));
    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, visibility(&commands[0], true)));
    W->out.event.cost_visibility_set = NULL;
    assert_int_equal(LEDGER_ERR_CORRUPT, domain_customer_evolve(W->customer, &W->out.event));
    /* Nor a renewal of a reservation not held, nor a grant without its body. */
    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, reservation_renewal(&commands[2], rid, true)));
    assert_int_equal(LEDGER_ERR_OK, domain_customer_evolve(W->customer, &W->out.event));
    W->sequence++;
    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, renew(&commands[2], rid, 1000, "USD")));
    W->out.event.reservation_renewed->reservation_id = "res-999";
    assert_int_equal(LEDGER_ERR_CORRUPT, domain_customer_evolve(W->customer, &W->out.event));
    W->out.event.reservation_renewed = NULL;
    assert_int_equal(LEDGER_ERR_CORRUPT, domain_customer_evolve(W->customer, &W->out.event));
    assert_int_equal(
        LEDGER_ERR_OK,
        decide(&ADMIN, permission(&commands[2], true,
                                  LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_RESERVATIONS)));
    W->out.event.purchase_permission_granted = NULL;
    assert_int_equal(LEDGER_ERR_CORRUPT, domain_customer_evolve(W->customer, &W->out.event));
    /* Nor an exchange returning one reservation twice. */
    char other[32];
    snprintf(other, sizeof other, "%s", buy_reservation(1000));
    version = W->customer->version;
    const char *both[] = {rid, other};
    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, exchange(&commands[1], both, 2, 0, 5000)));
    W->out.event.reservation_exchanged->returned_reservation_ids[1] = rid;
    assert_int_equal(LEDGER_ERR_CORRUPT, domain_customer_evolve(W->customer, &W->out.event));
    assert_int_equal(version, W->customer->version);
}

/* Records whose bodies no decision writes: a subscription bought again
 * under an id the customer holds, or of an offer that does not exist; a
 * status change from a status the subscription does not have, or to the
 * same, and one without its body; a permission revocation without its
 * body; a role removal naming no user or no subscription; a reservation
 * whose price is not money; a cancellation whose refund counted for the cap
 * is not in USD. Each is CORRUPT and leaves the state as it was. */
static void test_domain_evolve_refuses_malformed_bodies(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    accept(&ADMIN, role(&k, true, "sub-1", "alice", LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER));
    accept(&ADMIN, permission(&k, true, LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_RESERVATIONS));
    uint64_t version = W->customer->version;
    Ledger__V1__Event *event = &W->out.event;

    assert_int_equal(
        LEDGER_ERR_OK,
        decide(&ADMIN, subscription(&k, "sub-2", LEDGER__V1__OFFER__OFFER_AZURE_PLAN)));
    event->subscription_purchased->subscription_id = "sub-1";
    assert_int_equal(LEDGER_ERR_CORRUPT, domain_customer_evolve(W->customer, event));
    event->subscription_purchased->subscription_id = "sub-2";
    event->subscription_purchased->offer = (Ledger__V1__Offer)77;
    assert_int_equal(LEDGER_ERR_CORRUPT, domain_customer_evolve(W->customer, event));
    event->subscription_purchased = NULL;
    assert_int_equal(LEDGER_ERR_CORRUPT, domain_customer_evolve(W->customer, event));
    assert_int_equal(3, W->customer->subscription_count);

    assert_int_equal(
        LEDGER_ERR_OK,
        decide(&ADMIN, status(&k, "sub-g",
                              LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_SUSPENDED)));
    /* From a status the subscription does not have, or to the same. */
    event->subscription_status_changed->from_status =
        LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_DISABLED;
    assert_int_equal(LEDGER_ERR_CORRUPT, domain_customer_evolve(W->customer, event));
    event->subscription_status_changed->from_status =
        LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_ACTIVE;
    event->subscription_status_changed->to_status =
        LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_ACTIVE;
    assert_int_equal(LEDGER_ERR_CORRUPT, domain_customer_evolve(W->customer, event));
    event->subscription_status_changed = NULL;
    assert_int_equal(LEDGER_ERR_CORRUPT, domain_customer_evolve(W->customer, event));
    assert_int_equal(LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_ACTIVE,
                     domain_find_subscription(W->customer, "sub-g")->status);

    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, role(&k, false, "sub-1", "alice",
                                                        LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER)));
    event->role_removed->user = NULL;
    assert_int_equal(LEDGER_ERR_CORRUPT, domain_customer_evolve(W->customer, event));
    event->role_removed->user = "alice";
    event->role_removed->subscription_id = NULL;
    assert_int_equal(LEDGER_ERR_CORRUPT, domain_customer_evolve(W->customer, event));
    assert_int_equal(1, W->customer->role_count);

    assert_int_equal(
        LEDGER_ERR_OK,
        decide(&ADMIN,
               permission(&k, false, LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_RESERVATIONS)));
    event->purchase_permission_revoked = NULL;
    assert_int_equal(LEDGER_ERR_CORRUPT, domain_customer_evolve(W->customer, event));
    assert_true(
        W->customer->permission_on[LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_RESERVATIONS]);

    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, plain_reservation(&k, 1000)));
    Ledger__V1__ReservationPurchased *bought = event->reservation_purchased;
    bought->price->currency = "usd";
    assert_int_equal(LEDGER_ERR_CORRUPT, domain_customer_evolve(W->customer, event));
    bought->price->currency = "USD";
    bought->retail_price = NULL;
    assert_int_equal(LEDGER_ERR_CORRUPT, domain_customer_evolve(W->customer, event));
    assert_int_equal(0, W->customer->reservation_count);
    /* A cancellation whose refund for the cap is not in USD. */
    const char *rid = seq_id("res", accept(&ADMIN, plain_reservation(&k, 1000)));
    version = W->customer->version;
    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, cancel(&k, rid, 100, "USD", -1)));
    event->reservation_cancelled->refund_usd->currency = "EUR";
    assert_int_equal(LEDGER_ERR_CORRUPT, domain_customer_evolve(W->customer, event));
    assert_int_equal(0, W->customer->refund_count);
    assert_int_equal(LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_ACTIVE,
                     W->customer->reservations[0].state);
    assert_int_equal(version, W->customer->version);
}

/* An evolve that runs out of memory for the customer's id index says so
 * (NO_MEMORY, not CORRUPT: the record is sound) and leaves the state as it
 * was, so that the same event applies once memory is there. */
static void test_domain_evolve_out_of_memory_changes_nothing(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    uint64_t version = W->customer->version;
    assert_int_equal(LEDGER_ERR_OK, decide(&ADMIN, plain_reservation(&k, 1000)));
    calloc_failures = 1;
    assert_int_equal(LEDGER_ERR_NO_MEMORY, domain_customer_evolve(W->customer, &W->out.event));
    calloc_failures = 0;
    assert_int_equal(version, W->customer->version);
    assert_int_equal(0, W->customer->reservation_count);
    assert_int_equal(LEDGER_ERR_OK, domain_customer_evolve(W->customer, &W->out.event));
    assert_int_equal(1, W->customer->reservation_count);
    assert_non_null(domain_find_reservation(W->customer, seq_id("res", W->sequence)));
}

/* A record without a business time (business_us 0, as older builds wrote
 * them) is dated at its recorded time by every rule that reads one: a
 * permission granted then was off before, and a refund then counts against
 * the cap. */
static void test_domain_records_without_business_time(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    accept(&ADMIN, role(&k, true, "sub-1", "alice", LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER));
    char returned[32], cancelled[32], kept[32];
    snprintf(returned, sizeof returned, "%s", buy_reservation(1000));
    snprintf(cancelled, sizeof cancelled, "%s", buy_reservation(4000000));
    snprintf(kept, sizeof kept, "%s", buy_reservation(2000000));
    W->now_us = T0 + 10 * DAY_US;
    W->record_undated = true;
    uint64_t granted = accept(
        &ADMIN, permission(&k, true, LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_RESERVATIONS));
    accept(&ADMIN, cancel(&k, cancelled, 3500000, "USD", -1));
    const char *exchanged[] = {returned};
    accept(&ADMIN, exchange(&k, exchanged, 1, 0, 5000));
    W->record_undated = false;
    assert_true(W->customer->permission_changes[0].changed_us == T0 + 10 * DAY_US);
    assert_true(domain_find_reservation(W->customer, cancelled)->ended_us == T0 + 10 * DAY_US);
    assert_true(domain_find_reservation(W->customer, returned)->ended_us == T0 + 10 * DAY_US);

    W->now_us = T0 + 20 * DAY_US;
    Ledger__V1__Command *c = plain_reservation(&k, 1000);
    c->business_us = T0 + 10 * DAY_US - 1;
    refuse_as(&ALICE, c, LEDGER_ERR_PERMISSION_OFF);
    assert_non_null(strstr(W->out.message, "is on since 2025-01-11T00:00:00Z"));
    assert_int_equal(granted, allowed_at(c, T0 + 10 * DAY_US)->permission_sequence);
    /* USD 35,000 refunded then and USD 16,000 more would pass USD 50,000. */
    refuse_as(&ADMIN, cancel(&k, kept, 1600000, "USD", -1), LEDGER_ERR_REFUND_CAP_EXCEEDED);
    assert_non_null(strstr(W->out.message, "was refunded USD 35000.00 in the last 365 days"));
}

static void test_domain_evolve_state_rules(void **state)
{
    (void)state;
    struct domain_customer *customer = domain_customer_new("p1", "c1");
    assert_non_null(customer);
    Ledger__V1__Event event = LEDGER__V1__EVENT__INIT;
    event.partner_id = "p1";
    event.customer_id = "c1";
    event.schema_version = 1;
    event.stream_version = 1;
    /* Nothing before the onboarding. */
    Ledger__V1__CostVisibilitySet cost = LEDGER__V1__COST_VISIBILITY_SET__INIT;
    event.body_case = LEDGER__V1__EVENT__BODY_COST_VISIBILITY_SET;
    event.cost_visibility_set = &cost;
    assert_int_equal(LEDGER_ERR_CORRUPT, domain_customer_evolve(customer, &event));
    Ledger__V1__CustomerOnboarded onboarded = LEDGER__V1__CUSTOMER_ONBOARDED__INIT;
    onboarded.name = "";
    event.body_case = LEDGER__V1__EVENT__BODY_CUSTOMER_ONBOARDED;
    event.customer_onboarded = &onboarded;
    assert_int_equal(LEDGER_ERR_CORRUPT, domain_customer_evolve(customer, &event));
    onboarded.name = "Contoso";
    assert_int_equal(LEDGER_ERR_OK, domain_customer_evolve(customer, &event));
    event.stream_version = 2;
    assert_int_equal(LEDGER_ERR_CORRUPT, domain_customer_evolve(customer, &event));
    /* A grant needs a declared kind and an off switch. */
    Ledger__V1__PurchasePermissionGranted grant = LEDGER__V1__PURCHASE_PERMISSION_GRANTED__INIT;
    grant.kind = (Ledger__V1__PermissionKind)7;
    event.body_case = LEDGER__V1__EVENT__BODY_PURCHASE_PERMISSION_GRANTED;
    event.purchase_permission_granted = &grant;
    assert_int_equal(LEDGER_ERR_CORRUPT, domain_customer_evolve(customer, &event));
    grant.kind = LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_RESERVATIONS;
    event.sequence = 9;
    assert_int_equal(LEDGER_ERR_OK, domain_customer_evolve(customer, &event));
    assert_int_equal(9, customer->permission_sequence[1]);
    event.stream_version = 3;
    assert_int_equal(LEDGER_ERR_CORRUPT, domain_customer_evolve(customer, &event));
    /* Roles need their subscription. */
    Ledger__V1__RoleAssigned assigned = LEDGER__V1__ROLE_ASSIGNED__INIT;
    assigned.subscription_id = "sub-1";
    assigned.user = "alice";
    assigned.role = LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER;
    event.body_case = LEDGER__V1__EVENT__BODY_ROLE_ASSIGNED;
    event.role_assigned = &assigned;
    assert_int_equal(LEDGER_ERR_CORRUPT, domain_customer_evolve(customer, &event));
    /* A reservation purchase with a field out of range. */
    Ledger__V1__ReservationPurchased bought = LEDGER__V1__RESERVATION_PURCHASED__INIT;
    bought.order_id = "ord-1";
    bought.reservation_id = "res-1";
    bought.billing_subscription_id = "sub-1";
    bought.sku = "Standard_D2s_v5";
    bought.region = "westeurope";
    bought.quantity = 0;
    event.body_case = LEDGER__V1__EVENT__BODY_RESERVATION_PURCHASED;
    event.reservation_purchased = &bought;
    assert_int_equal(LEDGER_ERR_CORRUPT, domain_customer_evolve(customer, &event));
    assert_int_equal(2, customer->version);
    domain_customer_free(customer);
}

/* The per-customer limits hold in decide (a clear refusal) and in evolve
 * (CORRUPT, never a crash or an overflow). */
static void test_domain_limits(void **state)
{
    (void)state;
    struct cmd k;
    accept(&ADMIN, onboard(&k, "Contoso"));
    char sub[32];
    for (int i = 0; i < LEDGER_CUSTOMER_SUBSCRIPTIONS_MAX; i++) {
        snprintf(sub, sizeof sub, "sub-%d", i);
        accept(&ADMIN, subscription(&k, sub, LEDGER__V1__OFFER__OFFER_AZURE_PLAN));
    }
    refuse_as(&ADMIN, subscription(&k, "sub-extra", LEDGER__V1__OFFER__OFFER_AZURE_PLAN),
              LEDGER_ERR_INVALID_ARGUMENT);
    /* An event past the limit, as if a build with a higher limit wrote it. */
    Ledger__V1__Event event = LEDGER__V1__EVENT__INIT;
    Ledger__V1__SubscriptionPurchased body = LEDGER__V1__SUBSCRIPTION_PURCHASED__INIT;
    body.subscription_id = "sub-extra";
    body.offer = LEDGER__V1__OFFER__OFFER_AZURE_PLAN;
    event.partner_id = "p1";
    event.customer_id = "c1";
    event.schema_version = LEDGER_SCHEMA_VERSION;
    event.stream_version = W->customer->version + 1;
    event.body_case = LEDGER__V1__EVENT__BODY_SUBSCRIPTION_PURCHASED;
    event.subscription_purchased = &body;
    assert_int_equal(LEDGER_ERR_CORRUPT, domain_customer_evolve(W->customer, &event));
    assert_int_equal(LEDGER_CUSTOMER_SUBSCRIPTIONS_MAX, W->customer->subscription_count);
    /* A clone is deep and equal. */
    struct domain_customer *copy = domain_customer_clone(W->customer);
    assert_non_null(copy);
    assert_int_equal(W->customer->subscription_count, copy->subscription_count);
    assert_ptr_not_equal(W->customer->subscriptions, copy->subscriptions);
    assert_memory_equal(W->customer->subscriptions, copy->subscriptions,
                        copy->subscription_count * sizeof *copy->subscriptions);
    domain_customer_free(copy);
    assert_null(domain_customer_clone(NULL));
    domain_customer_free(NULL);
    char long_id[LEDGER_ID_LENGTH_MAX + 2];
    memset(long_id, 'x', sizeof long_id);
    long_id[sizeof long_id - 1] = '\0';
    assert_null(domain_customer_new("p1", long_id));
}

/* A clone evolves independently of its original. */
static void test_domain_clone_is_independent(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    char rid[32];
    snprintf(rid, sizeof rid, "%s", buy_reservation(1000));
    struct domain_customer *copy = domain_customer_clone(W->customer);
    assert_non_null(copy);
    accept(&ADMIN, cancel(&k, rid, 10, "USD", -1));
    assert_int_equal(LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_ACTIVE,
                     domain_find_reservation(copy, rid)->state);
    assert_int_equal(0, copy->refund_count);
    assert_int_equal(W->customer->version - 1, copy->version);
    domain_customer_free(copy);
}

/* Reservations are found by id through the state's index, among many, after
 * the array and the index have grown several times, in a clone too. */
static void test_domain_many_reservations_found_by_id(void **state)
{
    (void)state;
    standard_customer();
    enum { MANY = 600 };
    static char ids[MANY][32];
    for (int i = 0; i < MANY; i++) {
        snprintf(ids[i], sizeof ids[i], "%s", buy_reservation(1000 + i));
    }
    assert_int_equal(MANY, W->customer->reservation_count);
    struct domain_customer *copy = domain_customer_clone(W->customer);
    assert_non_null(copy);
    for (int i = 0; i < MANY; i++) {
        const struct domain_reservation *r = domain_find_reservation(W->customer, ids[i]);
        assert_non_null(r);
        assert_string_equal(r->id, ids[i]);
        assert_int_equal(1000 + i, r->price.amount_minor);
        const struct domain_reservation *c = domain_find_reservation(copy, ids[i]);
        assert_non_null(c);
        assert_ptr_not_equal(r, c);
        assert_string_equal(c->id, ids[i]);
    }
    assert_null(domain_find_reservation(W->customer, "res-none"));
    assert_null(domain_find_reservation(W->customer, ""));
    /* The index grows with the array: its bytes are counted. */
    assert_true(domain_customer_bytes(W->customer) >
                MANY * (sizeof(struct domain_reservation) + 2 * sizeof(uint32_t)));
    /* A decision on the last one finds it; an unknown one is refused. */
    struct cmd k;
    accept(&ADMIN, cancel(&k, ids[MANY - 1], 10, "USD", -1));
    refuse_as(&ADMIN, cancel(&k, "res-none", 10, "USD", -1), LEDGER_ERR_RESERVATION_NOT_FOUND);
    domain_customer_free(copy);
}

/* ---- helpers ----------------------------------------------------------------- */

/* domain__copy_cut writes what snprintf's "%s" writes: the whole text when it
 * fits, else its first size - 1 bytes; NULL as "". */
static void test_domain_copy_cut(void **state)
{
    (void)state;
    const char *sources[] = {"", "a", "abc", "abcd", "abcdefgh", NULL};
    for (size_t size = 1; size <= 6; size++) {
        for (size_t i = 0; i < sizeof sources / sizeof sources[0]; i++) {
            char got[8], want[8];
            memset(got, 'x', sizeof got);
            memset(want, 'x', sizeof want);
            domain__copy_cut(got, size, sources[i]);
            snprintf(want, size, "%s", sources[i] != NULL ? sources[i] : "");
            assert_memory_equal(got, want, sizeof got);
        }
    }
}

/* ---- names ------------------------------------------------------------------- */

static void test_domain_action_names(void **state)
{
    (void)state;
    Ledger__V1__Event event = LEDGER__V1__EVENT__INIT;
    const ProtobufCMessageDescriptor *d = &ledger__v1__event__descriptor;
    size_t named = 0;
    for (unsigned i = 0; i < d->n_fields; i++) {
        if ((d->fields[i].flags & PROTOBUF_C_FIELD_FLAG_ONEOF) == 0)
            continue;
        event.body_case = (Ledger__V1__Event__BodyCase)d->fields[i].id;
        const char *name = domain_action_name(&event);
        if (strcmp(name, "Unknown") == 0)
            fail_msg("event %s has no action name", d->fields[i].name);
        /* Each name is found again by the activity query's lookup. */
        assert_ptr_equal(name, domain_action_lookup(name));
        named++;
    }
    assert_int_equal(23, named);
    event.body_case = LEDGER__V1__EVENT__BODY_PURCHASE_PERMISSION_GRANTED;
    assert_string_equal("Create Customer Purchase Permissions", domain_action_name(&event));
    event.body_case = LEDGER__V1__EVENT__BODY_PURCHASE_PERMISSION_REVOKED;
    assert_string_equal("Delete Customer Purchase Permissions", domain_action_name(&event));
    event.body_case = LEDGER__V1__EVENT__BODY_RESERVATION_EXCHANGED;
    assert_string_equal("Exchange Reservation", domain_action_name(&event));
    event.body_case = LEDGER__V1__EVENT__BODY__NOT_SET;
    assert_string_equal("Unknown", domain_action_name(&event));
    assert_string_equal("Unknown", domain_action_name(NULL));
    assert_false(domain_partner_visible(NULL));
    assert_string_equal("Create Customer Purchase Permissions",
                        domain_action_lookup("create customer PURCHASE permissions"));
    assert_null(domain_action_lookup("Create Purchase Permissions"));
    assert_null(domain_action_lookup("Purchase Reservation "));
    assert_null(domain_action_lookup("Unknown"));
    assert_null(domain_action_lookup(""));
    assert_null(domain_action_lookup(NULL));
}

static void test_domain_command_targets(void **state)
{
    (void)state;
    struct cmd k;
    Ledger__V1__Command *c = plain_reservation(&k, 1);
    c->partner_id = "";
    c->customer_id = "";
    assert_string_equal("p1", domain_command_partner_id(&ALICE, c));
    assert_string_equal("c1", domain_command_customer_id(&ALICE, c));
    assert_string_equal("", domain_command_customer_id(&ADMIN, c));
    c->partner_id = "p7";
    c->customer_id = "c7";
    assert_string_equal("p7", domain_command_partner_id(&ALICE, c));
    assert_string_equal("c7", domain_command_customer_id(&ALICE, c));
    c = add_partner(&k, "p9", "Fabrikam");
    assert_string_equal("p9", domain_command_partner_id(&OPERATOR, c));
    assert_string_equal("", domain_command_customer_id(&OPERATOR, c));
    c = add_principal(&k, "x", LEDGER__V1__ROLE__ROLE_AUDITOR, "", "", "");
    assert_string_equal("", domain_command_partner_id(&OPERATOR, c));
    c = add_principal(&k, "x", LEDGER__V1__ROLE__ROLE_AUDITOR, "p4", "", "");
    assert_string_equal("p4", domain_command_partner_id(&OPERATOR, c));
    assert_string_equal("", domain_command_partner_id(NULL, NULL));
    for (size_t i = 0; i < POLICY_COMMAND_COUNT; i++) {
        Ledger__V1__Command__BodyCase body_case = policy_command_at(i);
        bool administrative = body_case == LEDGER__V1__COMMAND__BODY_ADD_PARTNER ||
                              body_case == LEDGER__V1__COMMAND__BODY_ADD_PRINCIPAL ||
                              body_case == LEDGER__V1__COMMAND__BODY_REVOKE_PRINCIPAL ||
                              body_case == LEDGER__V1__COMMAND__BODY_ROTATE_PRINCIPAL_SECRET;
        assert_int_equal(!administrative, domain_command_is_customer(body_case));
    }
    assert_false(domain_command_is_customer(LEDGER__V1__COMMAND__BODY__NOT_SET));
}

/* The engine's contract checks: a state of another customer is the engine's
 * mistake (INTERNAL), never a decision about the wrong customer. */
static void test_domain_inconsistent_input(void **state)
{
    (void)state;
    struct cmd k;
    standard_customer();
    Ledger__V1__Command *c = plain_reservation(&k, 1);
    c->customer_id = "c2";
    refuse_as(&ADMIN, c, LEDGER_ERR_INTERNAL);
    struct domain_input input = {.principal = &ADMIN,
                                 .command = plain_reservation(&k, 1),
                                 .partner_id = "p1",
                                 .partner_exists = true,
                                 .customer = NULL,
                                 .now_us = T0,
                                 .sequence = 5};
    assert_int_equal(LEDGER_ERR_INTERNAL, domain_decide(&input, &W->out));
    input.customer = W->customer;
    input.now_us = 0;
    assert_int_equal(LEDGER_ERR_INTERNAL, domain_decide(&input, &W->out));
    input.now_us = T0;
    input.command = NULL;
    assert_int_equal(LEDGER_ERR_INTERNAL, domain_decide(&input, &W->out));
    assert_int_equal(LEDGER_ERR_INTERNAL, domain_decide(NULL, &W->out));
    assert_int_equal(LEDGER_ERR_INTERNAL, domain_decide(&input, NULL));
    /* Without a command hash the event carries none. */
    input.command = plain_reservation(&k, 1);
    assert_int_equal(LEDGER_ERR_OK, domain_decide(&input, &W->out));
    assert_int_equal(0, W->out.event.command_hash.len);
}

#define TEST(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(test_domain_envelope),
        TEST(test_domain_envelope_refusals),
        TEST(test_domain_refusal_clears_output),
        TEST(test_domain_onboard_customer),
        TEST(test_domain_nothing_before_onboarding),
        TEST(test_domain_customer_commands_need_partner_and_customer),
        TEST(test_domain_partner_scope),
        TEST(test_domain_add_partner),
        TEST(test_domain_principals),
        TEST(test_domain_rotate_principal_secret),
        TEST(test_domain_subscriptions),
        TEST(test_domain_suspension_and_reservation_states),
        TEST(test_domain_suspension_dated_back_over_ended_reservations),
        TEST(test_domain_suspension_past_term_of_renewing_reservation),
        TEST(test_domain_suspension_dated_back_names_the_last_to_end),
        TEST(test_domain_roles),
        TEST(test_domain_role_dated_before_its_subscription),
        TEST(test_domain_permission_needs_eligible_subscription),
        TEST(test_domain_permission_switches),
        TEST(test_domain_customer_purchase_conditions),
        TEST(test_domain_customer_purchase_at_its_moment),
        TEST(test_domain_customer_purchase_under_a_removed_role),
        TEST(test_domain_refusal_names_a_time_held),
        TEST(test_domain_role_history_in_date_order),
        TEST(test_domain_customer_purchase_in_an_earlier_grant),
        TEST(test_domain_permission_history_in_date_order),
        TEST(test_domain_no_change_dated_under_a_recorded_purchase),
        TEST(test_domain_no_status_change_dated_under_a_grant),
        TEST(test_domain_status_change_under_a_grant_other_subscription_then),
        TEST(test_domain_purchase_at_the_subscription_moment),
        TEST(test_domain_reservation_outlasting_a_suspension),
        TEST(test_domain_reservation_outlasting_two_suspensions),
        TEST(test_domain_rule_10_messages_fit),
        TEST(test_domain_grant_at_the_subscription_moment),
        TEST(test_domain_grant_dated_back_names_the_earliest_subscription),
        TEST(test_domain_customer_savings_plan_purchase),
        TEST(test_domain_partner_purchase),
        TEST(test_domain_cloud_order_id),
        TEST(test_domain_cloud_order_id_held),
        TEST(test_domain_currency_codes),
        TEST(test_domain_reservation_field_validation),
        TEST(test_domain_terms),
        TEST(test_domain_savings_plan_field_validation),
        TEST(test_domain_scopes),
        TEST(test_domain_reservation_scope_and_renewal),
        TEST(test_domain_changes_not_dated_before_purchase),
        TEST(test_domain_scope_target_bought_by_then),
        TEST(test_domain_no_change_after_the_term),
        TEST(test_domain_no_savings_plan_change_after_the_term),
        TEST(test_domain_no_change_to_an_ended_plan_not_set_to_renew),
        TEST(test_domain_holding_history_in_date_order),
        TEST(test_domain_customer_is_told_to_ask_partner),
        TEST(test_domain_cancel_reservation),
        TEST(test_domain_refund_within_remaining_commitment),
        TEST(test_domain_monthly_refund),
        TEST(test_domain_monthly_exchange_value),
        TEST(test_domain_monthly_refund_cap),
        TEST(test_domain_monthly_refund_cap_unbilled_usd),
        TEST(test_domain_grant_recorded_after_a_suspension),
        TEST(test_domain_savings_plan_recorded_after_a_suspension),
        TEST(test_domain_refund_cap),
        TEST(test_domain_refund_cap_boundaries),
        TEST(test_domain_refund_cap_rolling_windows),
        TEST(test_domain_refund_cap_other_currencies),
        TEST(test_domain_refund_list_limit),
        TEST(test_domain_refund_list_dropped_refunds_still_cap),
        TEST(test_domain_refund_list_dropped_latest_of_any_order),
        TEST(test_domain_refund_list_keeps_what_counts),
        TEST(test_domain_refund_list_cancellations_of_nothing),
        TEST(test_domain_customer_reservation_limit),
        TEST(test_domain_customer_savings_plan_limit),
        TEST(test_domain_customer_role_limit),
        TEST(test_domain_customer_limit_messages),
        TEST(test_domain_customer_permission_change_limit),
        TEST(test_domain_customer_status_change_limit),
        TEST(test_domain_customer_role_removal_limit),
        TEST(test_domain_exchange_value),
        TEST(test_domain_exchange_refusals),
        TEST(test_domain_exchange_unstarted_renewal_refunds_nothing),
        TEST(test_domain_exchange_several_replacements),
        TEST(test_domain_exchange_replacement_bound),
        TEST(test_domain_exchange_bad_replacement_named),
        TEST(test_domain_evolve_exchange_replacements_must_fit),
        TEST(test_domain_renew_and_expire),
        TEST(test_domain_renewal_keeps_what_was_bought),
        TEST(test_domain_renew_at_the_latest_time),
        TEST(test_domain_purchase_term_ends_by_the_latest_time),
        TEST(test_domain_renew_savings_plan),
        TEST(test_domain_savings_plan_renewal_keeps_what_was_bought),
        TEST(test_domain_renew_savings_plan_limits),
        TEST(test_domain_savings_plan_renewed_evolve_checks),
        TEST(test_domain_savings_plan_changes),
        TEST(test_domain_cost_visibility),
        TEST(test_domain_evolve_refuses_what_does_not_fit),
        TEST(test_domain_evolve_refuses_empty_terms_and_doubled_roles),
        TEST(test_domain_evolve_refuses_changes_of_what_is_not_held),
        TEST(test_domain_evolve_refuses_malformed_bodies),
        TEST(test_domain_evolve_out_of_memory_changes_nothing),
        TEST(test_domain_records_without_business_time),
        TEST(test_domain_evolve_state_rules),
        TEST(test_domain_limits),
        TEST(test_domain_clone_is_independent),
        TEST(test_domain_many_reservations_found_by_id),
        TEST(test_domain_copy_cut),
        TEST(test_domain_action_names),
        TEST(test_domain_command_targets),
        TEST(test_domain_inconsistent_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
