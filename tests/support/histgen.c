/*
 * histgen.c: the history generator of histgen.h.
 *
 * Owns: its PRNG, its model of partners, customers, subscriptions, users,
 * roles, switches, reservations and savings plans, and the Command it last
 * built (with the effect that command will have on the model once accepted).
 *
 * How an item is chosen: first, in order, every partner is registered and its
 * staff principals added (operator). Then each item belongs to one partner
 * (drawn, or kept for options.partner_run items): the partner onboards its
 * next customer now and then, finishes setting up its newest customers
 * (subscriptions, users, roles) and otherwise draws a weighted business action
 * for a random customer. An action whose preconditions do not hold in the
 * model is redrawn (bounded), so every item the model builds is one the rules
 * of docs/domain.md accept. The model is conservative where the rules depend on
 * things it does not track exactly: reservations near their end (30 days) are
 * left alone, subscriptions that any reservation or savings plan names are
 * never suspended, refunds stay far below the cap and below half of what
 * the cancelled reservation still commits, and an exchange's first
 * replacement costs at least what the returned reservations cost in total
 * (a second one, bought now and then, only adds to it). Every item is dated
 * at the generator's clock, which only moves forward, so the rules that look
 * back in business time (a subscription's status then, rule 10 over the
 * reservations active since a status change or over a reservation's term)
 * see the same as they would now: a subscription is suspended only while no
 * active reservation names it, and a reservation is bought only on an active
 * subscription, whose later status changes are all still to come.
 */
#include "histgen.h"

#include "civil.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Broken invariants abort, in release builds too (NDEBUG does not remove it). */
#define HG_ASSERT(condition)                                                                       \
    do {                                                                                           \
        if (!(condition)) {                                                                        \
            fprintf(stderr, "%s:%d: histgen: %s\n", __FILE__, __LINE__, #condition);               \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define HG_SUBS_MAX  8 /* subscriptions per customer */
#define HG_USERS_MAX 4 /* customer users per customer */
/* Cancelled commitments per customer (refunds, and the instalments a
 * monthly reservation cancelled is no longer billed) stay below USD 40,000
 * over the whole history, so the USD 50,000 rolling cap (docs/domain.md
 * rule 7) can never be reached. */
#define HG_REFUND_BUDGET_USD_MINOR INT64_C(4000000)
/* A cancelled reservation refunds at most USD 200 here: small refunds. */
#define HG_REFUND_ONE_MAX_MINOR INT64_C(20000)
/* Reservations this close to their end are not exchanged, cancelled, renewed
 * or rescoped, nor savings plans rescoped or set to renew: whatever the
 * ledger's exact clock, their terms still run. */
#define HG_END_MARGIN_US (INT64_C(30) * 24 * 3600 * 1000000)
#define HG_HOURS_YEAR    8760
/* Attempts at drawing an action before another customer is tried. */
#define HG_DRAWS_MAX     64
#define HG_CUSTOMERS_TRY 64

#define HG_SCOPE_TARGET_SIZE (2 * HISTGEN_ID_SIZE)

struct hg_scope {
    Ledger__V1__ScopeKind kind;
    char target[HG_SCOPE_TARGET_SIZE];
};

struct hg_subscription {
    Ledger__V1__Offer offer;
    bool active;
};

struct hg_reservation {
    uint64_t sequence; /* the id is res-<sequence>, or res-<sequence>-<number> */
    uint8_t number;    /* 0, or k >= 2 for an exchange's k-th replacement */
    uint8_t subscription;
    struct hg_scope scope;
    int64_t starts_us;
    int64_t expires_us;
    int64_t price_minor;
    int64_t retail_minor;
    uint8_t years; /* the term */
    bool monthly;  /* billed monthly, else upfront */
    bool auto_renew;
    bool active;
};

struct hg_savings_plan {
    uint64_t sequence; /* the id is sp-<sequence> */
    uint8_t subscription;
    struct hg_scope scope;
    int64_t expires_us; /* the end of its term: no change from then on */
    int64_t price_minor;
    uint8_t years; /* the term */
    bool auto_renew;
    bool active; /* false once renewed */
};

struct hg_customer {
    bool onboarded;
    uint8_t subscriptions_wanted;
    uint8_t users_wanted;
    uint8_t subscription_count;
    struct hg_subscription subscriptions[HG_SUBS_MAX];
    uint8_t user_count; /* users whose principal exists (admin_only: names only) */
    uint8_t roles[HG_USERS_MAX][HG_SUBS_MAX]; /* bit (1 << AzureRole) */
    bool permission_on[3];                    /* by PermissionKind */
    bool retail_prices_visible;
    int64_t refunded_usd_minor;
    struct hg_reservation *reservations;
    size_t reservation_count, reservation_capacity;
    struct hg_savings_plan *savings_plans;
    size_t savings_plan_count, savings_plan_capacity;
};

struct hg_partner {
    uint32_t index;
    uint32_t onboarded;    /* customers 1..onboarded exist */
    uint32_t setup_cursor; /* customers before it are fully set up */
    struct hg_customer *customers;
};

enum hg_effect {
    HG_EFFECT_NONE,
    HG_EFFECT_SETUP_STEP, /* AddPartner or a staff AddPrincipal */
    HG_EFFECT_ONBOARD,
    HG_EFFECT_SUBSCRIPTION,
    HG_EFFECT_USER,
    HG_EFFECT_ROLE_ASSIGNED,
    HG_EFFECT_ROLE_REMOVED,
    HG_EFFECT_PERMISSION,
    HG_EFFECT_RESERVATION,
    HG_EFFECT_SAVINGS_PLAN,
    HG_EFFECT_EXCHANGE,
    HG_EFFECT_CANCEL,
    HG_EFFECT_RENEWED,
    HG_EFFECT_SAVINGS_PLAN_RENEWED,
    HG_EFFECT_EXPIRED,
    HG_EFFECT_RESERVATION_RENEWAL,
    HG_EFFECT_RESERVATION_SCOPE,
    HG_EFFECT_SAVINGS_PLAN_RENEWAL,
    HG_EFFECT_SAVINGS_PLAN_SCOPE,
    HG_EFFECT_SUBSCRIPTION_STATUS,
    HG_EFFECT_VISIBILITY,
};

/* What the last item does to the model once accepted. */
struct hg_pending {
    enum hg_effect effect;
    struct hg_partner *partner;
    struct hg_customer *customer;
    uint32_t subscription, user, value; /* indexes; role, kind, offer, status */
    bool flag;
    size_t returned[2];
    size_t returned_count;
    bool second_replacement; /* the exchange buys `second` too */
    struct hg_reservation second;
    size_t target; /* reservation or savings plan index */
    struct hg_reservation reservation;
    struct hg_savings_plan plan;
    struct hg_scope scope;
    int64_t amount_minor;
};

/* The command being built: the message and every sub-message and string it
 * points to. */
struct hg_command {
    Ledger__V1__Command command;
    union {
        Ledger__V1__AddPartner add_partner;
        Ledger__V1__AddPrincipal add_principal;
        Ledger__V1__RotatePrincipalSecret rotate_principal_secret;
        Ledger__V1__OnboardCustomer onboard_customer;
        Ledger__V1__PurchaseSubscription purchase_subscription;
        Ledger__V1__SetSubscriptionStatus set_subscription_status;
        Ledger__V1__AssignRole assign_role;
        Ledger__V1__RemoveRole remove_role;
        Ledger__V1__GrantPermission grant_permission;
        Ledger__V1__RevokePermission revoke_permission;
        Ledger__V1__ChangeReservationScope change_reservation_scope;
        Ledger__V1__SetReservationRenewal set_reservation_renewal;
        Ledger__V1__ExchangeReservation exchange_reservation;
        Ledger__V1__CancelReservation cancel_reservation;
        Ledger__V1__RenewReservation renew_reservation;
        Ledger__V1__ExpireReservation expire_reservation;
        Ledger__V1__PurchaseSavingsPlan purchase_savings_plan;
        Ledger__V1__ChangeSavingsPlanScope change_savings_plan_scope;
        Ledger__V1__SetSavingsPlanRenewal set_savings_plan_renewal;
        Ledger__V1__CancelSavingsPlan cancel_savings_plan;
        Ledger__V1__RenewSavingsPlan renew_savings_plan;
        Ledger__V1__SetCostVisibility set_cost_visibility;
    } body;
    Ledger__V1__PurchaseReservation reservation; /* a purchase or a replacement */
    Ledger__V1__PurchaseReservation second;      /* an exchange's second replacement */
    Ledger__V1__PurchaseReservation *replacements[2];
    Ledger__V1__Scope scope;
    Ledger__V1__Money money[6];
    char *returned_ids[2];
    char command_id[HISTGEN_ID_SIZE];
    char correlation_id[HISTGEN_ID_SIZE];
    char partner_id[HISTGEN_ID_SIZE];
    char customer_id[HISTGEN_ID_SIZE];
    char ids[4][HISTGEN_ID_SIZE];
    char scope_target[HG_SCOPE_TARGET_SIZE];
    char name[96];
};

struct histgen {
    struct histgen_options options;
    const char *operator_id;
    const char *command_prefix;
    uint64_t rng[4];
    int64_t now_us;

    struct hg_partner *partners;
    uint32_t setup_partner; /* partners before it are registered with their staff */
    uint32_t setup_step;    /* 0 AddPartner, 1..5 staff principals */
    struct hg_partner *run_partner;
    uint32_t run_left;

    uint64_t valid_count, item_count, command_number;
    bool awaiting_report;
    struct hg_pending pending;
    struct hg_command built;
    Ledger__V1__Role principal_role;

    /* The item's principal strings. */
    char principal_id[HISTGEN_ID_SIZE];
    char principal_partner[HISTGEN_ID_SIZE];
    char principal_customer[HISTGEN_ID_SIZE];
    char principal_user[HISTGEN_ID_SIZE];

    uint8_t *bytes;
    size_t bytes_capacity;
};

/* ------------------------------------------------------------------------ */
/* PRNG: xoshiro256** seeded through splitmix64 (public domain algorithms by
 * Blackman and Vigna); the same seed gives the same stream on every platform. */

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(struct histgen *gen)
{
    uint64_t *s = gen->rng;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* Uniform in [0, n) for 0 < n < 2^32 (Lemire's multiply-shift; its bias of at
 * most n / 2^32 does not matter here, and it is deterministic). */
static uint32_t rng_below(struct histgen *gen, uint32_t n)
{
    HG_ASSERT(n > 0);
    return (uint32_t)(((rng_next(gen) >> 32) * (uint64_t)n) >> 32);
}

/* Uniform in [low, high]. */
static int64_t rng_range(struct histgen *gen, int64_t low, int64_t high)
{
    HG_ASSERT(low <= high);
    uint64_t span = (uint64_t)(high - low) + 1;
    if (span == 0) {
        return (int64_t)rng_next(gen);
    }
    return low + (int64_t)(rng_next(gen) % span);
}

/* True with probability per_mille / 1000. */
static bool rng_chance(struct histgen *gen, uint32_t per_mille)
{
    return rng_below(gen, 1000) < per_mille;
}

/* ------------------------------------------------------------------------ */
/* Ids. */

void histgen_partner_id(uint32_t partner_index, char out[HISTGEN_ID_SIZE])
{
    snprintf(out, HISTGEN_ID_SIZE, "p-%" PRIu32, partner_index);
}

void histgen_admin_id(uint32_t partner_index, char out[HISTGEN_ID_SIZE])
{
    snprintf(out, HISTGEN_ID_SIZE, "admin-%" PRIu32, partner_index);
}

void histgen_customer_id(uint32_t partner_index, uint32_t customer_index, char out[HISTGEN_ID_SIZE])
{
    snprintf(out, HISTGEN_ID_SIZE, "c-%" PRIu32 "-%" PRIu32, partner_index, customer_index);
}

static uint32_t customer_index(const struct hg_partner *partner, const struct hg_customer *customer)
{
    return (uint32_t)(customer - partner->customers) + 1;
}

static void subscription_id(const struct hg_partner *partner, const struct hg_customer *customer,
                            uint32_t subscription, char out[HISTGEN_ID_SIZE])
{
    snprintf(out, HISTGEN_ID_SIZE, "s-%" PRIu32 "-%" PRIu32 "-%" PRIu32, partner->index,
             customer_index(partner, customer), subscription + 1);
}

static void user_id(const struct hg_partner *partner, const struct hg_customer *customer,
                    uint32_t user, char out[HISTGEN_ID_SIZE])
{
    snprintf(out, HISTGEN_ID_SIZE, "u-%" PRIu32 "-%" PRIu32 "-%" PRIu32, partner->index,
             customer_index(partner, customer), user + 1);
}

static void sequence_id(const char *prefix, uint64_t sequence, char out[HISTGEN_ID_SIZE])
{
    snprintf(out, HISTGEN_ID_SIZE, "%s-%" PRIu64, prefix, sequence);
}

/* A reservation's id (docs/events.md, "Generated ids"). */
static void reservation_id(const struct hg_reservation *reservation, char out[HISTGEN_ID_SIZE])
{
    if (reservation->number == 0) {
        sequence_id("res", reservation->sequence, out);
    } else {
        snprintf(out, HISTGEN_ID_SIZE, "res-%" PRIu64 "-%u", reservation->sequence,
                 (unsigned)reservation->number);
    }
}

/* ------------------------------------------------------------------------ */
/* Catalogue: SKUs with a partner price per instance-year in USD cents. */

struct hg_sku {
    const char *name;
    int64_t year_price_minor;
};

static const struct hg_sku hg_skus[] = {
    {"Standard_B2ms", 52000},    {"Standard_D2s_v5", 61000},    {"Standard_D4s_v5", 122000},
    {"Standard_D8s_v5", 244000}, {"Standard_E4s_v5", 160000},   {"Standard_E16s_v5", 640000},
    {"Standard_F8s_v2", 210000}, {"Standard_NC6s_v3", 1650000}, {"SQL_DB_vCore_GP_Gen5", 180000},
    {"Cosmos_DB_100RU", 46000},  {"App_Service_P1v3", 90000},   {"Storage_Reserved_100TB", 1800000},
};
#define HG_SKU_COUNT (sizeof hg_skus / sizeof hg_skus[0])

static const char *const hg_regions[] = {
    "westeurope", "northeurope",        "eastus",        "eastus2",       "westus2",
    "uksouth",    "germanywestcentral", "francecentral", "swedencentral", "australiaeast",
};
#define HG_REGION_COUNT (sizeof hg_regions / sizeof hg_regions[0])

static const char *const hg_resource_groups[] = {"rg-web", "rg-data", "rg-batch", "rg-shared",
                                                 "rg-analytics"};
#define HG_RESOURCE_GROUP_COUNT (sizeof hg_resource_groups / sizeof hg_resource_groups[0])

static const char *const hg_company_words[] = {
    "Contoso", "Fabrikam", "Northwind", "Tailspin", "Woodgrove",
    "Litware", "Adatum",   "Proseware", "Wingtip",  "Fourth Coffee"};
#define HG_COMPANY_WORD_COUNT (sizeof hg_company_words / sizeof hg_company_words[0])

/* ------------------------------------------------------------------------ */
/* Model queries. */

static bool subscription_eligible(const struct hg_subscription *subscription)
{
    return subscription->offer == LEDGER__V1__OFFER__OFFER_AZURE_PLAN ||
           subscription->offer == LEDGER__V1__OFFER__OFFER_AZURE_GLOBAL;
}

static bool subscription_usable(const struct hg_customer *customer, uint32_t subscription)
{
    return subscription < customer->subscription_count &&
           customer->subscriptions[subscription].active &&
           subscription_eligible(&customer->subscriptions[subscription]);
}

/* A random active eligible subscription; false if there is none. */
static bool pick_usable_subscription(struct histgen *gen, const struct hg_customer *customer,
                                     uint32_t *out)
{
    if (customer->subscription_count == 0) {
        return false;
    }
    uint32_t start = rng_below(gen, customer->subscription_count);
    for (uint32_t i = 0; i < customer->subscription_count; i++) {
        uint32_t candidate = (start + i) % customer->subscription_count;
        if (subscription_usable(customer, candidate)) {
            *out = candidate;
            return true;
        }
    }
    return false;
}

static bool reservation_workable(const struct histgen *gen,
                                 const struct hg_reservation *reservation)
{
    return reservation->active && reservation->expires_us - HG_END_MARGIN_US > gen->now_us;
}

/* A random active reservation not near its end, other than `except`
 * (SIZE_MAX for none). */
static bool pick_workable_reservation(struct histgen *gen, const struct hg_customer *customer,
                                      size_t except, size_t *out)
{
    size_t count = customer->reservation_count;
    if (count == 0) {
        return false;
    }
    /* Most reservations of a long history are still active: a few random
     * probes find one; a bounded scan covers the rest. */
    for (int probe = 0; probe < 8; probe++) {
        size_t candidate = rng_below(gen, (uint32_t)count);
        if (candidate != except && reservation_workable(gen, &customer->reservations[candidate])) {
            *out = candidate;
            return true;
        }
    }
    size_t start = rng_below(gen, (uint32_t)count);
    for (size_t i = 0; i < count; i++) {
        size_t candidate = (start + i) % count;
        if (candidate != except && reservation_workable(gen, &customer->reservations[candidate])) {
            *out = candidate;
            return true;
        }
    }
    return false;
}

static bool scope_names_subscription(const struct hg_scope *scope, const char *subscription)
{
    size_t length = strlen(subscription);
    if (scope->kind == LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SINGLE) {
        return strcmp(scope->target, subscription) == 0;
    }
    if (scope->kind == LEDGER__V1__SCOPE_KIND__SCOPE_KIND_RESOURCE_GROUP) {
        return strncmp(scope->target, subscription, length) == 0 && scope->target[length] == '/';
    }
    return false;
}

/* Whether any reservation that is still active in the ledger (including those
 * past their end but not yet expired there) or any savings plan names the
 * subscription, as billing subscription or in its scope. */
static bool subscription_pinned(const struct hg_partner *partner,
                                const struct hg_customer *customer, uint32_t subscription)
{
    char id[HISTGEN_ID_SIZE];
    subscription_id(partner, customer, subscription, id);
    for (size_t i = 0; i < customer->reservation_count; i++) {
        const struct hg_reservation *reservation = &customer->reservations[i];
        if (reservation->active && (reservation->subscription == subscription ||
                                    scope_names_subscription(&reservation->scope, id))) {
            return true;
        }
    }
    for (size_t i = 0; i < customer->savings_plan_count; i++) {
        const struct hg_savings_plan *plan = &customer->savings_plans[i];
        if (plan->subscription == subscription || scope_names_subscription(&plan->scope, id)) {
            return true;
        }
    }
    return false;
}

static bool user_may_buy(const struct hg_customer *customer, uint32_t user, uint32_t subscription)
{
    uint8_t bits = customer->roles[user][subscription];
    return (bits & (1u << LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER)) != 0 ||
           (bits & (1u << LEDGER__V1__AZURE_ROLE__AZURE_ROLE_RESERVATION_PURCHASER)) != 0;
}

/* A customer user with Owner or Reservation Purchaser on an active eligible
 * subscription. */
static bool pick_buying_user(struct histgen *gen, const struct hg_customer *customer,
                             uint32_t *user_out, uint32_t *subscription_out)
{
    if (customer->user_count == 0 || customer->subscription_count == 0) {
        return false;
    }
    uint32_t user_start = rng_below(gen, customer->user_count);
    uint32_t sub_start = rng_below(gen, customer->subscription_count);
    for (uint32_t u = 0; u < customer->user_count; u++) {
        uint32_t user = (user_start + u) % customer->user_count;
        for (uint32_t s = 0; s < customer->subscription_count; s++) {
            uint32_t subscription = (sub_start + s) % customer->subscription_count;
            if (subscription_usable(customer, subscription) &&
                user_may_buy(customer, user, subscription)) {
                *user_out = user;
                *subscription_out = subscription;
                return true;
            }
        }
    }
    return false;
}

/* ------------------------------------------------------------------------ */
/* Building the command. */

static void set_principal(struct histgen *gen, const char *id, Ledger__V1__Role role,
                          const char *partner, const char *customer, const char *user)
{
    snprintf(gen->principal_id, sizeof gen->principal_id, "%s", id);
    snprintf(gen->principal_partner, sizeof gen->principal_partner, "%s", partner);
    snprintf(gen->principal_customer, sizeof gen->principal_customer, "%s", customer);
    snprintf(gen->principal_user, sizeof gen->principal_user, "%s", user);
    gen->principal_role = role;
}

static void staff_principal_id(Ledger__V1__Role role, uint32_t partner_index,
                               char out[HISTGEN_ID_SIZE])
{
    const char *word = "admin";
    switch (role) {
    case LEDGER__V1__ROLE__ROLE_SALES_AGENT:
        word = "sales";
        break;
    case LEDGER__V1__ROLE__ROLE_HELPDESK_AGENT:
        word = "helpdesk";
        break;
    case LEDGER__V1__ROLE__ROLE_AUDITOR:
        word = "auditor";
        break;
    case LEDGER__V1__ROLE__ROLE_BILLING:
        word = "billing";
        break;
    default:
        break;
    }
    snprintf(out, HISTGEN_ID_SIZE, "%s-%" PRIu32, word, partner_index);
}

static void as_staff(struct histgen *gen, const struct hg_partner *partner, Ledger__V1__Role role)
{
    char id[HISTGEN_ID_SIZE], partner_id[HISTGEN_ID_SIZE];
    staff_principal_id(role, partner->index, id);
    histgen_partner_id(partner->index, partner_id);
    set_principal(gen, id, role, partner_id, "", "");
}

static void as_user(struct histgen *gen, const struct hg_partner *partner,
                    const struct hg_customer *customer, uint32_t user)
{
    char id[HISTGEN_ID_SIZE], partner_id[HISTGEN_ID_SIZE], customer_id[HISTGEN_ID_SIZE];
    user_id(partner, customer, user, id);
    histgen_partner_id(partner->index, partner_id);
    histgen_customer_id(partner->index, customer_index(partner, customer), customer_id);
    set_principal(gen, id, LEDGER__V1__ROLE__ROLE_CUSTOMER_USER, partner_id, customer_id, id);
}

/* A partner purchase is made by the admin agent, or (when allowed) sometimes
 * by the sales agent. */
static void as_buying_staff(struct histgen *gen, const struct hg_partner *partner,
                            bool sales_allowed)
{
    bool sales = sales_allowed && !gen->options.admin_only && rng_chance(gen, 400);
    as_staff(gen, partner,
             sales ? LEDGER__V1__ROLE__ROLE_SALES_AGENT : LEDGER__V1__ROLE__ROLE_ADMIN_AGENT);
}

/* Starts a command for (partner, customer); either may be NULL. */
static Ledger__V1__Command *begin_command(struct histgen *gen, const struct hg_partner *partner,
                                          const struct hg_customer *customer)
{
    struct hg_command *built = &gen->built;
    memset(built, 0, sizeof *built);
    ledger__v1__command__init(&built->command);
    gen->command_number++;
    snprintf(built->command_id, sizeof built->command_id, "%scmd-%" PRIu64, gen->command_prefix,
             gen->command_number);
    snprintf(built->correlation_id, sizeof built->correlation_id, "%scorr-%" PRIu64,
             gen->command_prefix, gen->command_number);
    built->command.command_id = built->command_id;
    built->command.correlation_id = built->correlation_id;
    if (partner != NULL) {
        histgen_partner_id(partner->index, built->partner_id);
        built->command.partner_id = built->partner_id;
    }
    if (partner != NULL && customer != NULL) {
        histgen_customer_id(partner->index, customer_index(partner, customer), built->customer_id);
        built->command.customer_id = built->customer_id;
    }
    built->command.business_us = gen->now_us;
    memset(&gen->pending, 0, sizeof gen->pending);
    gen->pending.partner = (struct hg_partner *)partner;
    gen->pending.customer = (struct hg_customer *)customer;
    return &built->command;
}

static Ledger__V1__Money *money(struct histgen *gen, size_t slot, int64_t amount_minor)
{
    HG_ASSERT(slot < sizeof gen->built.money / sizeof gen->built.money[0]);
    Ledger__V1__Money *m = &gen->built.money[slot];
    ledger__v1__money__init(m);
    m->amount_minor = amount_minor;
    m->currency = "USD";
    return m;
}

static void scope_to_message(struct histgen *gen, const struct hg_scope *scope)
{
    ledger__v1__scope__init(&gen->built.scope);
    gen->built.scope.kind = scope->kind;
    snprintf(gen->built.scope_target, sizeof gen->built.scope_target, "%s", scope->target);
    gen->built.scope.target = gen->built.scope_target;
}

/* A random scope whose target is valid for the customer. */
static void draw_scope(struct histgen *gen, const struct hg_partner *partner,
                       const struct hg_customer *customer, uint32_t billing_subscription,
                       struct hg_scope *out)
{
    memset(out, 0, sizeof *out);
    uint32_t target_subscription = billing_subscription;
    (void)pick_usable_subscription(gen, customer, &target_subscription);
    char id[HISTGEN_ID_SIZE];
    subscription_id(partner, customer, target_subscription, id);
    uint32_t draw = rng_below(gen, 100);
    if (draw < 40) {
        out->kind = LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SHARED;
    } else if (draw < 75) {
        out->kind = LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SINGLE;
        snprintf(out->target, sizeof out->target, "%s", id);
    } else if (draw < 90) {
        out->kind = LEDGER__V1__SCOPE_KIND__SCOPE_KIND_RESOURCE_GROUP;
        snprintf(out->target, sizeof out->target, "%s/%s", id,
                 hg_resource_groups[rng_below(gen, HG_RESOURCE_GROUP_COUNT)]);
    } else {
        out->kind = LEDGER__V1__SCOPE_KIND__SCOPE_KIND_MANAGEMENT_GROUP;
        snprintf(out->target, sizeof out->target, "mg-%" PRIu32 "-%" PRIu32 "-%" PRIu32,
                 partner->index, customer_index(partner, customer), rng_below(gen, 3) + 1);
    }
}

static bool scope_equal(const struct hg_scope *a, const struct hg_scope *b)
{
    return a->kind == b->kind && strcmp(a->target, b->target) == 0;
}

static int64_t term_years(Ledger__V1__Term term)
{
    return term == LEDGER__V1__TERM__TERM_P3Y ? 3 : 1;
}

/* Fills gen->built.reservation (and the pending reservation) with a random
 * purchase billed to `subscription`, costing at least `price_floor_minor`. */
static void draw_reservation(struct histgen *gen, const struct hg_partner *partner,
                             const struct hg_customer *customer, uint32_t subscription,
                             int64_t price_floor_minor)
{
    struct hg_command *built = &gen->built;
    Ledger__V1__PurchaseReservation *r = &built->reservation;
    ledger__v1__purchase_reservation__init(r);
    const struct hg_sku *sku = &hg_skus[rng_below(gen, HG_SKU_COUNT)];
    uint32_t quantity = 1 + rng_below(gen, 4) * (1 + rng_below(gen, 5));
    Ledger__V1__Term term =
        rng_chance(gen, 650) ? LEDGER__V1__TERM__TERM_P1Y : LEDGER__V1__TERM__TERM_P3Y;
    int64_t years = term_years(term);
    /* Three-year terms are cheaper per year, as in the real price lists. */
    int64_t price = sku->year_price_minor * quantity * years * (years == 3 ? 62 : 100) / 100;
    if (price < price_floor_minor) {
        price = price_floor_minor;
    }
    int64_t retail = price + price * (5 + rng_below(gen, 16)) / 100;

    subscription_id(partner, customer, subscription, built->ids[0]);
    r->billing_subscription_id = built->ids[0];
    r->sku = (char *)sku->name;
    r->region = (char *)hg_regions[rng_below(gen, HG_REGION_COUNT)];
    r->quantity = quantity;
    r->term = term;
    r->billing_plan = rng_chance(gen, 550) ? LEDGER__V1__BILLING_PLAN__BILLING_PLAN_UPFRONT
                                           : LEDGER__V1__BILLING_PLAN__BILLING_PLAN_MONTHLY;
    struct hg_reservation *model = &gen->pending.reservation;
    memset(model, 0, sizeof *model);
    draw_scope(gen, partner, customer, subscription, &model->scope);
    scope_to_message(gen, &model->scope);
    r->scope = &built->scope;
    r->price = money(gen, 0, price);
    r->retail_price = money(gen, 1, retail);
    r->auto_renew = rng_chance(gen, 300);

    model->subscription = (uint8_t)subscription;
    model->monthly = r->billing_plan == LEDGER__V1__BILLING_PLAN__BILLING_PLAN_MONTHLY;
    model->starts_us = gen->now_us;
    /* Calendar years, as the ledger dates terms (docs/events.md, "Terms"). */
    model->expires_us = civil_add_years_us(gen->now_us, (unsigned)years);
    model->price_minor = price;
    model->retail_minor = retail;
    model->years = (uint8_t)years;
    model->auto_renew = r->auto_renew;
    model->active = true;
}

/* ------------------------------------------------------------------------ */
/* Actions. Each returns true when it built an item (and set gen->pending),
 * false when its preconditions do not hold (nothing changed but the PRNG). */

static bool act_onboard(struct histgen *gen, struct hg_partner *partner)
{
    if (partner->onboarded >= gen->options.customers_per_partner) {
        return false;
    }
    struct hg_customer *customer = &partner->customers[partner->onboarded];
    as_staff(gen, partner, LEDGER__V1__ROLE__ROLE_ADMIN_AGENT);
    Ledger__V1__Command *command = begin_command(gen, partner, customer);
    Ledger__V1__OnboardCustomer *body = &gen->built.body.onboard_customer;
    ledger__v1__onboard_customer__init(body);
    snprintf(gen->built.name, sizeof gen->built.name, "%s %s %" PRIu32 "-%" PRIu32,
             hg_company_words[rng_below(gen, HG_COMPANY_WORD_COUNT)],
             rng_chance(gen, 500) ? "Ltd" : "GmbH", partner->index,
             customer_index(partner, customer));
    body->name = gen->built.name;
    command->body_case = LEDGER__V1__COMMAND__BODY_ONBOARD_CUSTOMER;
    command->onboard_customer = body;
    gen->pending.effect = HG_EFFECT_ONBOARD;
    return true;
}

static bool act_purchase_subscription(struct histgen *gen, struct hg_partner *partner,
                                      struct hg_customer *customer, bool eligible_only)
{
    if (customer->subscription_count >= HG_SUBS_MAX) {
        return false;
    }
    uint32_t draw = rng_below(gen, 100);
    Ledger__V1__Offer offer = draw < 65   ? LEDGER__V1__OFFER__OFFER_AZURE_PLAN
                              : draw < 85 ? LEDGER__V1__OFFER__OFFER_AZURE_GLOBAL
                                          : LEDGER__V1__OFFER__OFFER_OTHER;
    if (eligible_only && offer == LEDGER__V1__OFFER__OFFER_OTHER) {
        offer = LEDGER__V1__OFFER__OFFER_AZURE_PLAN;
    }
    as_buying_staff(gen, partner, true);
    Ledger__V1__Command *command = begin_command(gen, partner, customer);
    Ledger__V1__PurchaseSubscription *body = &gen->built.body.purchase_subscription;
    ledger__v1__purchase_subscription__init(body);
    subscription_id(partner, customer, customer->subscription_count, gen->built.ids[0]);
    body->subscription_id = gen->built.ids[0];
    body->offer = offer;
    command->body_case = LEDGER__V1__COMMAND__BODY_PURCHASE_SUBSCRIPTION;
    command->purchase_subscription = body;
    gen->pending.effect = HG_EFFECT_SUBSCRIPTION;
    gen->pending.value = offer;
    return true;
}

static bool act_add_user(struct histgen *gen, struct hg_partner *partner,
                         struct hg_customer *customer)
{
    if (customer->user_count >= customer->users_wanted || customer->user_count >= HG_USERS_MAX) {
        return false;
    }
    set_principal(gen, gen->operator_id, LEDGER__V1__ROLE__ROLE_OPERATOR, "", "", "");
    Ledger__V1__Command *command = begin_command(gen, partner, NULL);
    Ledger__V1__AddPrincipal *body = &gen->built.body.add_principal;
    ledger__v1__add_principal__init(body);
    user_id(partner, customer, customer->user_count, gen->built.ids[0]);
    histgen_customer_id(partner->index, customer_index(partner, customer), gen->built.ids[1]);
    body->principal_id = gen->built.ids[0];
    body->role = LEDGER__V1__ROLE__ROLE_CUSTOMER_USER;
    body->partner_id = gen->built.partner_id;
    body->customer_id = gen->built.ids[1];
    body->user = gen->built.ids[0];
    command->body_case = LEDGER__V1__COMMAND__BODY_ADD_PRINCIPAL;
    command->add_principal = body;
    gen->pending.effect = HG_EFFECT_USER;
    gen->pending.customer = customer;
    return true;
}

static bool act_assign_role(struct histgen *gen, struct hg_partner *partner,
                            struct hg_customer *customer, uint32_t user, bool buying_role)
{
    if (user >= customer->user_count || customer->subscription_count == 0) {
        return false;
    }
    uint32_t subscription = rng_below(gen, customer->subscription_count);
    if (!customer->subscriptions[subscription].active) {
        return false;
    }
    uint32_t draw = rng_below(gen, 100);
    Ledger__V1__AzureRole role = draw < 50 ? LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER
                                 : draw < 75
                                     ? LEDGER__V1__AZURE_ROLE__AZURE_ROLE_RESERVATION_PURCHASER
                                 : draw < 88 ? LEDGER__V1__AZURE_ROLE__AZURE_ROLE_CONTRIBUTOR
                                             : LEDGER__V1__AZURE_ROLE__AZURE_ROLE_READER;
    if (buying_role && role > LEDGER__V1__AZURE_ROLE__AZURE_ROLE_RESERVATION_PURCHASER) {
        role = LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER;
    }
    if ((customer->roles[user][subscription] & (1u << role)) != 0) {
        return false;
    }
    as_staff(gen, partner, LEDGER__V1__ROLE__ROLE_ADMIN_AGENT);
    Ledger__V1__Command *command = begin_command(gen, partner, customer);
    Ledger__V1__AssignRole *body = &gen->built.body.assign_role;
    ledger__v1__assign_role__init(body);
    subscription_id(partner, customer, subscription, gen->built.ids[0]);
    user_id(partner, customer, user, gen->built.ids[1]);
    body->subscription_id = gen->built.ids[0];
    body->user = gen->built.ids[1];
    body->role = role;
    command->body_case = LEDGER__V1__COMMAND__BODY_ASSIGN_ROLE;
    command->assign_role = body;
    gen->pending.effect = HG_EFFECT_ROLE_ASSIGNED;
    gen->pending.user = user;
    gen->pending.subscription = subscription;
    gen->pending.value = role;
    return true;
}

static bool act_remove_role(struct histgen *gen, struct hg_partner *partner,
                            struct hg_customer *customer)
{
    if (customer->user_count == 0 || customer->subscription_count == 0) {
        return false;
    }
    uint32_t user = rng_below(gen, customer->user_count);
    uint32_t subscription = rng_below(gen, customer->subscription_count);
    uint8_t bits = customer->roles[user][subscription];
    if (bits == 0 || !customer->subscriptions[subscription].active) {
        return false;
    }
    uint32_t role = 1;
    while ((bits & (1u << role)) == 0) {
        role++;
    }
    as_staff(gen, partner, LEDGER__V1__ROLE__ROLE_ADMIN_AGENT);
    Ledger__V1__Command *command = begin_command(gen, partner, customer);
    Ledger__V1__RemoveRole *body = &gen->built.body.remove_role;
    ledger__v1__remove_role__init(body);
    subscription_id(partner, customer, subscription, gen->built.ids[0]);
    user_id(partner, customer, user, gen->built.ids[1]);
    body->subscription_id = gen->built.ids[0];
    body->user = gen->built.ids[1];
    body->role = (Ledger__V1__AzureRole)role;
    command->body_case = LEDGER__V1__COMMAND__BODY_REMOVE_ROLE;
    command->remove_role = body;
    gen->pending.effect = HG_EFFECT_ROLE_REMOVED;
    gen->pending.user = user;
    gen->pending.subscription = subscription;
    gen->pending.value = role;
    return true;
}

static bool has_usable_subscription(const struct hg_customer *customer)
{
    for (uint32_t i = 0; i < customer->subscription_count; i++) {
        if (subscription_usable(customer, i)) {
            return true;
        }
    }
    return false;
}

/* Turns a switch on (grant) or off. `force` builds it even when the model says
 * it is already in that position (for deliberate refusals). */
static bool act_permission(struct histgen *gen, struct hg_partner *partner,
                           struct hg_customer *customer, Ledger__V1__PermissionKind kind,
                           bool grant, bool force)
{
    if (!force && customer->permission_on[kind] == grant) {
        return false;
    }
    if (!force && grant && !has_usable_subscription(customer)) {
        return false;
    }
    as_staff(gen, partner, LEDGER__V1__ROLE__ROLE_ADMIN_AGENT);
    Ledger__V1__Command *command = begin_command(gen, partner, customer);
    if (grant) {
        Ledger__V1__GrantPermission *body = &gen->built.body.grant_permission;
        ledger__v1__grant_permission__init(body);
        body->kind = kind;
        command->body_case = LEDGER__V1__COMMAND__BODY_GRANT_PERMISSION;
        command->grant_permission = body;
    } else {
        Ledger__V1__RevokePermission *body = &gen->built.body.revoke_permission;
        ledger__v1__revoke_permission__init(body);
        body->kind = kind;
        command->body_case = LEDGER__V1__COMMAND__BODY_REVOKE_PERMISSION;
        command->revoke_permission = body;
    }
    gen->pending.effect = HG_EFFECT_PERMISSION;
    gen->pending.value = kind;
    gen->pending.flag = grant;
    return true;
}

/* Acts as a user of `customer` who may buy with the subscription it
 * writes to subscription_out, when the history lets customers act and the
 * customer's permission `kind` is `permission_on`; false, with nothing
 * drawn or changed, otherwise. */
static bool as_buying_user(struct histgen *gen, const struct hg_partner *partner,
                           const struct hg_customer *customer, Ledger__V1__PermissionKind kind,
                           bool permission_on, uint32_t *subscription_out)
{
    uint32_t user;
    if (gen->options.admin_only || customer->permission_on[kind] != permission_on ||
        !pick_buying_user(gen, customer, &user, subscription_out)) {
        return false;
    }
    as_user(gen, partner, customer, user);
    return true;
}

/* Starts a command buying a reservation drawn for `subscription`, by the
 * actor the caller chose. */
static void begin_reservation_purchase(struct histgen *gen, const struct hg_partner *partner,
                                       const struct hg_customer *customer, uint32_t subscription)
{
    Ledger__V1__Command *command = begin_command(gen, partner, customer);
    draw_reservation(gen, partner, customer, subscription, 0);
    command->body_case = LEDGER__V1__COMMAND__BODY_PURCHASE_RESERVATION;
    command->purchase_reservation = &gen->built.reservation;
}

static bool act_partner_reservation(struct histgen *gen, struct hg_partner *partner,
                                    struct hg_customer *customer)
{
    uint32_t subscription;
    if (!pick_usable_subscription(gen, customer, &subscription)) {
        return false;
    }
    as_buying_staff(gen, partner, true);
    begin_reservation_purchase(gen, partner, customer, subscription);
    gen->pending.effect = HG_EFFECT_RESERVATION;
    return true;
}

static bool act_customer_reservation(struct histgen *gen, struct hg_partner *partner,
                                     struct hg_customer *customer)
{
    uint32_t subscription;
    if (!as_buying_user(gen, partner, customer,
                        LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_RESERVATIONS, true,
                        &subscription)) {
        return false;
    }
    begin_reservation_purchase(gen, partner, customer, subscription);
    gen->pending.effect = HG_EFFECT_RESERVATION;
    return true;
}

static void fill_savings_plan(struct histgen *gen, const struct hg_partner *partner,
                              const struct hg_customer *customer, uint32_t subscription,
                              Ledger__V1__Command *command)
{
    struct hg_command *built = &gen->built;
    Ledger__V1__PurchaseSavingsPlan *body = &built->body.purchase_savings_plan;
    ledger__v1__purchase_savings_plan__init(body);
    /* USD 0.50 .. 40 per hour, in cents. */
    int64_t hourly = 50 + (int64_t)rng_below(gen, 80) * 50;
    Ledger__V1__Term term =
        rng_chance(gen, 600) ? LEDGER__V1__TERM__TERM_P1Y : LEDGER__V1__TERM__TERM_P3Y;
    int64_t price = hourly * HG_HOURS_YEAR * term_years(term);
    int64_t retail = price + price * (4 + rng_below(gen, 12)) / 100;
    subscription_id(partner, customer, subscription, built->ids[0]);
    body->billing_subscription_id = built->ids[0];
    body->hourly_commitment = money(gen, 0, hourly);
    body->term = term;
    body->billing_plan = rng_chance(gen, 300) ? LEDGER__V1__BILLING_PLAN__BILLING_PLAN_UPFRONT
                                              : LEDGER__V1__BILLING_PLAN__BILLING_PLAN_MONTHLY;
    struct hg_savings_plan *model = &gen->pending.plan;
    memset(model, 0, sizeof *model);
    draw_scope(gen, partner, customer, subscription, &model->scope);
    scope_to_message(gen, &model->scope);
    body->scope = &built->scope;
    body->price = money(gen, 1, price);
    body->retail_price = money(gen, 2, retail);
    body->auto_renew = rng_chance(gen, 400);
    model->subscription = (uint8_t)subscription;
    model->expires_us = civil_add_years_us(gen->now_us, (unsigned)term_years(term));
    model->price_minor = price;
    model->years = (uint8_t)term_years(term);
    model->auto_renew = body->auto_renew;
    model->active = true;
    command->body_case = LEDGER__V1__COMMAND__BODY_PURCHASE_SAVINGS_PLAN;
    command->purchase_savings_plan = body;
    gen->pending.effect = HG_EFFECT_SAVINGS_PLAN;
}

static bool act_partner_savings_plan(struct histgen *gen, struct hg_partner *partner,
                                     struct hg_customer *customer)
{
    uint32_t subscription;
    if (!pick_usable_subscription(gen, customer, &subscription)) {
        return false;
    }
    as_staff(gen, partner, LEDGER__V1__ROLE__ROLE_ADMIN_AGENT);
    Ledger__V1__Command *command = begin_command(gen, partner, customer);
    fill_savings_plan(gen, partner, customer, subscription, command);
    return true;
}

static bool act_customer_savings_plan(struct histgen *gen, struct hg_partner *partner,
                                      struct hg_customer *customer)
{
    uint32_t subscription;
    if (!as_buying_user(gen, partner, customer,
                        LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_SAVINGS_PLANS, true,
                        &subscription)) {
        return false;
    }
    Ledger__V1__Command *command = begin_command(gen, partner, customer);
    fill_savings_plan(gen, partner, customer, subscription, command);
    return true;
}

/* What the returned reservations still commit, pro rata of their term left. */
static int64_t remaining_commitment(const struct histgen *gen, const struct hg_reservation *r)
{
    int64_t total_s = (r->expires_us - r->starts_us) / 1000000;
    int64_t left_s = (r->expires_us - gen->now_us) / 1000000;
    if (total_s <= 0 || left_s <= 0) {
        return 0;
    }
    if (left_s > total_s) {
        left_s = total_s;
    }
    /* Prices here stay below 10^9 cents and terms below 10^8 s: no overflow. */
    return r->price_minor * left_s / total_s;
}

static int64_t month_number(int64_t time_us)
{
    struct civil_date date = civil_date_from_us(time_us);
    return date.year * 12 + (int64_t)date.month - 1;
}

/* What billing charged the partner for r through this month: upfront its
 * price; monthly the instalments so far; nothing before its term starts. */
static int64_t billed_so_far(const struct histgen *gen, const struct hg_reservation *r)
{
    if (gen->now_us < r->starts_us) {
        return 0;
    }
    int64_t months = 12 * (int64_t)r->years;
    if (r->monthly && months > 0) {
        int64_t run = month_number(gen->now_us) - month_number(r->starts_us) + 1;
        if (run < months) {
            return (run < 1 ? 1 : run) * (r->price_minor / months);
        }
    }
    return r->price_minor;
}

/* What ending r now may refund (docs/events.md, CancelReservation): what
 * billing charged the partner for it through this month less the price of
 * the time already run. remaining_commitment prorates by the second, never
 * more than the ledger's whole days, so this is never more than the ledger
 * allows. */
static int64_t refundable(const struct histgen *gen, const struct hg_reservation *r)
{
    int64_t billed = billed_so_far(gen, r);
    int64_t used = r->price_minor - remaining_commitment(gen, r);
    return billed > used ? billed - used : 0;
}

/* Rule 8's remaining commitment of r returned now (docs/events.md,
 * ReservationExchanged): monthly, the instalments not billed yet; upfront,
 * its price pro rata of the term left (by the second: at most the ledger's
 * figure by whole days). */
static int64_t exchange_commitment(const struct histgen *gen, const struct hg_reservation *r)
{
    if (r->monthly) {
        return r->price_minor - billed_so_far(gen, r);
    }
    return remaining_commitment(gen, r);
}

static bool act_exchange(struct histgen *gen, struct hg_partner *partner,
                         struct hg_customer *customer, bool too_low)
{
    size_t first, second = SIZE_MAX;
    uint32_t subscription;
    if (!pick_workable_reservation(gen, customer, SIZE_MAX, &first) ||
        !pick_usable_subscription(gen, customer, &subscription)) {
        return false;
    }
    size_t count = 1;
    if (rng_chance(gen, 300) && pick_workable_reservation(gen, customer, first, &second)) {
        count = 2;
    }
    int64_t returned_price = customer->reservations[first].price_minor;
    int64_t remaining = exchange_commitment(gen, &customer->reservations[first]);
    int64_t may_refund = refundable(gen, &customer->reservations[first]);
    if (count == 2) {
        returned_price += customer->reservations[second].price_minor;
        remaining += exchange_commitment(gen, &customer->reservations[second]);
        may_refund += refundable(gen, &customer->reservations[second]);
    }
    if (too_low && remaining < 100) {
        return false;
    }
    as_staff(gen, partner, LEDGER__V1__ROLE__ROLE_ADMIN_AGENT);
    Ledger__V1__Command *command = begin_command(gen, partner, customer);
    struct hg_command *built = &gen->built;
    Ledger__V1__ExchangeReservation *body = &built->body.exchange_reservation;
    ledger__v1__exchange_reservation__init(body);
    /* ids[0] is the replacement's billing subscription; returned ids use 2, 3. */
    draw_reservation(gen, partner, customer, subscription, returned_price);
    if (too_low) {
        built->reservation.price->amount_minor = 1;
        built->reservation.retail_price->amount_minor = 2;
    }
    reservation_id(&customer->reservations[first], built->ids[2]);
    built->returned_ids[0] = built->ids[2];
    if (count == 2) {
        reservation_id(&customer->reservations[second], built->ids[3]);
        built->returned_ids[1] = built->ids[3];
    }
    body->n_reservation_ids = count;
    body->reservation_ids = built->returned_ids;
    /* The refund credited against the new purchase: part of what may be. */
    body->refund = money(gen, 2, may_refund / 2);
    built->replacements[0] = &built->reservation;
    body->n_replacements = 1;
    body->replacements = built->replacements;
    /* Now and then a second replacement: the same purchase at a third of the
     * first one's price (the first alone already covers rule 8). */
    gen->pending.second_replacement = !too_low && rng_chance(gen, 250);
    if (gen->pending.second_replacement) {
        struct hg_reservation *second_model = &gen->pending.second;
        *second_model = gen->pending.reservation;
        second_model->number = 2;
        second_model->price_minor = built->reservation.price->amount_minor / 3 + 1;
        second_model->retail_minor = second_model->price_minor + second_model->price_minor / 10;
        built->second = built->reservation;
        built->second.price = money(gen, 4, second_model->price_minor);
        built->second.retail_price = money(gen, 5, second_model->retail_minor);
        built->replacements[1] = &built->second;
        body->n_replacements = 2;
    }
    command->body_case = LEDGER__V1__COMMAND__BODY_EXCHANGE_RESERVATION;
    command->exchange_reservation = body;
    gen->pending.effect = HG_EFFECT_EXCHANGE;
    gen->pending.returned[0] = first;
    gen->pending.returned[1] = second;
    gen->pending.returned_count = count;
    return true;
}

static bool act_cancel(struct histgen *gen, struct hg_partner *partner,
                       struct hg_customer *customer)
{
    size_t index;
    if (!pick_workable_reservation(gen, customer, SIZE_MAX, &index)) {
        return false;
    }
    int64_t refund = customer->reservations[index].price_minor / 10;
    if (refund > HG_REFUND_ONE_MAX_MINOR) {
        refund = HG_REFUND_ONE_MAX_MINOR;
    }
    if (refund < 1) {
        refund = 1;
    }
    /* At most what the reservation may refund; half of it, as an
     * exchange's, whatever the ledger's rounding. A monthly one early in its
     * term has paid less than it used: its refund is 0. */
    const struct hg_reservation *cancelled = &customer->reservations[index];
    if (refund > refundable(gen, cancelled) / 2) {
        if (!cancelled->monthly) {
            return false;
        }
        refund = refundable(gen, cancelled) / 2;
    }
    /* Rule 7 counts the commitment cancelled: the refund and a monthly
     * one's instalments not billed yet (docs/domain.md). */
    int64_t cancelled_minor = refund;
    if (cancelled->monthly && gen->now_us >= cancelled->starts_us) {
        cancelled_minor += cancelled->price_minor - billed_so_far(gen, cancelled);
    }
    if (customer->refunded_usd_minor + cancelled_minor > HG_REFUND_BUDGET_USD_MINOR) {
        return false;
    }
    as_staff(gen, partner, LEDGER__V1__ROLE__ROLE_ADMIN_AGENT);
    Ledger__V1__Command *command = begin_command(gen, partner, customer);
    Ledger__V1__CancelReservation *body = &gen->built.body.cancel_reservation;
    ledger__v1__cancel_reservation__init(body);
    reservation_id(&customer->reservations[index], gen->built.ids[0]);
    body->reservation_id = gen->built.ids[0];
    body->refund = money(gen, 0, refund);
    body->refund_usd = money(gen, 1, refund);
    command->body_case = LEDGER__V1__COMMAND__BODY_CANCEL_RESERVATION;
    command->cancel_reservation = body;
    gen->pending.effect = HG_EFFECT_CANCEL;
    gen->pending.target = index;
    gen->pending.amount_minor = cancelled_minor;
    return true;
}

static bool act_reservation_renewal(struct histgen *gen, struct hg_partner *partner,
                                    struct hg_customer *customer)
{
    size_t index;
    if (!pick_workable_reservation(gen, customer, SIZE_MAX, &index)) {
        return false;
    }
    as_staff(gen, partner, LEDGER__V1__ROLE__ROLE_ADMIN_AGENT);
    Ledger__V1__Command *command = begin_command(gen, partner, customer);
    Ledger__V1__SetReservationRenewal *body = &gen->built.body.set_reservation_renewal;
    ledger__v1__set_reservation_renewal__init(body);
    reservation_id(&customer->reservations[index], gen->built.ids[0]);
    body->reservation_id = gen->built.ids[0];
    body->auto_renew = !customer->reservations[index].auto_renew;
    command->body_case = LEDGER__V1__COMMAND__BODY_SET_RESERVATION_RENEWAL;
    command->set_reservation_renewal = body;
    gen->pending.effect = HG_EFFECT_RESERVATION_RENEWAL;
    gen->pending.target = index;
    gen->pending.flag = body->auto_renew;
    return true;
}

static bool act_reservation_scope(struct histgen *gen, struct hg_partner *partner,
                                  struct hg_customer *customer)
{
    size_t index;
    uint32_t subscription;
    if (!pick_workable_reservation(gen, customer, SIZE_MAX, &index) ||
        !pick_usable_subscription(gen, customer, &subscription)) {
        return false;
    }
    struct hg_scope scope;
    draw_scope(gen, partner, customer, subscription, &scope);
    if (scope_equal(&scope, &customer->reservations[index].scope)) {
        return false;
    }
    as_staff(gen, partner, LEDGER__V1__ROLE__ROLE_ADMIN_AGENT);
    Ledger__V1__Command *command = begin_command(gen, partner, customer);
    Ledger__V1__ChangeReservationScope *body = &gen->built.body.change_reservation_scope;
    ledger__v1__change_reservation_scope__init(body);
    reservation_id(&customer->reservations[index], gen->built.ids[0]);
    body->reservation_id = gen->built.ids[0];
    scope_to_message(gen, &scope);
    body->scope = &gen->built.scope;
    command->body_case = LEDGER__V1__COMMAND__BODY_CHANGE_RESERVATION_SCOPE;
    command->change_reservation_scope = body;
    gen->pending.effect = HG_EFFECT_RESERVATION_SCOPE;
    gen->pending.target = index;
    gen->pending.scope = scope;
    return true;
}

/* A savings plan whose term ends no sooner than HG_END_MARGIN_US from now:
 * the ledger refuses changes from its end on. */
static bool savings_plan_workable(const struct histgen *gen, const struct hg_savings_plan *plan)
{
    return gen->now_us + HG_END_MARGIN_US < plan->expires_us;
}

static bool act_savings_plan_renewal(struct histgen *gen, struct hg_partner *partner,
                                     struct hg_customer *customer)
{
    if (customer->savings_plan_count == 0) {
        return false;
    }
    size_t index = rng_below(gen, (uint32_t)customer->savings_plan_count);
    if (!customer->savings_plans[index].active ||
        !savings_plan_workable(gen, &customer->savings_plans[index])) {
        return false;
    }
    as_staff(gen, partner, LEDGER__V1__ROLE__ROLE_ADMIN_AGENT);
    Ledger__V1__Command *command = begin_command(gen, partner, customer);
    Ledger__V1__SetSavingsPlanRenewal *body = &gen->built.body.set_savings_plan_renewal;
    ledger__v1__set_savings_plan_renewal__init(body);
    sequence_id("sp", customer->savings_plans[index].sequence, gen->built.ids[0]);
    body->savings_plan_id = gen->built.ids[0];
    body->auto_renew = !customer->savings_plans[index].auto_renew;
    command->body_case = LEDGER__V1__COMMAND__BODY_SET_SAVINGS_PLAN_RENEWAL;
    command->set_savings_plan_renewal = body;
    gen->pending.effect = HG_EFFECT_SAVINGS_PLAN_RENEWAL;
    gen->pending.target = index;
    gen->pending.flag = body->auto_renew;
    return true;
}

static bool act_savings_plan_scope(struct histgen *gen, struct hg_partner *partner,
                                   struct hg_customer *customer)
{
    uint32_t subscription;
    if (customer->savings_plan_count == 0 ||
        !pick_usable_subscription(gen, customer, &subscription)) {
        return false;
    }
    size_t index = rng_below(gen, (uint32_t)customer->savings_plan_count);
    if (!customer->savings_plans[index].active ||
        !savings_plan_workable(gen, &customer->savings_plans[index])) {
        return false;
    }
    struct hg_scope scope;
    draw_scope(gen, partner, customer, subscription, &scope);
    if (scope_equal(&scope, &customer->savings_plans[index].scope)) {
        return false;
    }
    as_staff(gen, partner, LEDGER__V1__ROLE__ROLE_ADMIN_AGENT);
    Ledger__V1__Command *command = begin_command(gen, partner, customer);
    Ledger__V1__ChangeSavingsPlanScope *body = &gen->built.body.change_savings_plan_scope;
    ledger__v1__change_savings_plan_scope__init(body);
    sequence_id("sp", customer->savings_plans[index].sequence, gen->built.ids[0]);
    body->savings_plan_id = gen->built.ids[0];
    scope_to_message(gen, &scope);
    body->scope = &gen->built.scope;
    command->body_case = LEDGER__V1__COMMAND__BODY_CHANGE_SAVINGS_PLAN_SCOPE;
    command->change_savings_plan_scope = body;
    gen->pending.effect = HG_EFFECT_SAVINGS_PLAN_SCOPE;
    gen->pending.target = index;
    gen->pending.scope = scope;
    return true;
}

/* Renewal prices: within a few percent of the last term's, and a retail
 * price a few percent above. */
static int64_t renewal_price(struct histgen *gen, int64_t last_minor, int64_t *retail_out)
{
    int64_t price = last_minor + last_minor * (int64_t)rng_below(gen, 7) / 100;
    *retail_out = price + price * (5 + (int64_t)rng_below(gen, 10)) / 100;
    return price;
}

/* A savings plan past its end with auto-renew on: renewed by the partner's
 * admin agent (docs/events.md, SavingsPlanRenewed), starting where it ends.
 * Plans with auto-renew off simply end: the ledger records no expiry of
 * savings plans. */
static bool act_savings_plan_lifecycle(struct histgen *gen, struct hg_partner *partner,
                                       struct hg_customer *customer)
{
    size_t count = customer->savings_plan_count;
    if (count == 0) {
        return false;
    }
    size_t start = rng_below(gen, (uint32_t)count);
    for (size_t i = 0; i < count; i++) {
        size_t index = (start + i) % count;
        const struct hg_savings_plan *plan = &customer->savings_plans[index];
        if (!plan->active || !plan->auto_renew || plan->expires_us > gen->now_us) {
            continue;
        }
        as_staff(gen, partner, LEDGER__V1__ROLE__ROLE_ADMIN_AGENT);
        Ledger__V1__Command *command = begin_command(gen, partner, customer);
        struct hg_command *built = &gen->built;
        sequence_id("sp", plan->sequence, built->ids[0]);
        Ledger__V1__RenewSavingsPlan *body = &built->body.renew_savings_plan;
        ledger__v1__renew_savings_plan__init(body);
        body->savings_plan_id = built->ids[0];
        int64_t retail = 0;
        int64_t price = renewal_price(gen, plan->price_minor, &retail);
        body->price = money(gen, 0, price);
        body->retail_price = money(gen, 1, retail);
        command->body_case = LEDGER__V1__COMMAND__BODY_RENEW_SAVINGS_PLAN;
        command->renew_savings_plan = body;
        struct hg_savings_plan *renewal = &gen->pending.plan;
        *renewal = *plan;
        renewal->expires_us = civil_add_years_us(plan->expires_us, plan->years);
        renewal->price_minor = price;
        renewal->auto_renew = true;
        renewal->active = true;
        gen->pending.effect = HG_EFFECT_SAVINGS_PLAN_RENEWED;
        gen->pending.target = index;
        return true;
    }
    return false;
}

/* A reservation past its end: renewed when auto-renew is on (the renewal
 * starts where it ends, docs/domain.md's ReservationRenewed), expired otherwise.
 * The partner's admin agent records both, as the ledger's scheduler would.
 * Or a savings plan due for renewal. */
static bool act_lifecycle(struct histgen *gen, struct hg_partner *partner,
                          struct hg_customer *customer)
{
    /* Savings plans are fewer: a quarter of the draws look at them first. */
    if (customer->savings_plan_count > 0 && rng_chance(gen, 250) &&
        act_savings_plan_lifecycle(gen, partner, customer)) {
        return true;
    }
    size_t count = customer->reservation_count;
    if (count == 0) {
        return act_savings_plan_lifecycle(gen, partner, customer);
    }
    size_t start = rng_below(gen, (uint32_t)count);
    for (size_t i = 0; i < count; i++) {
        size_t index = (start + i) % count;
        struct hg_reservation *reservation = &customer->reservations[index];
        if (!reservation->active || reservation->expires_us > gen->now_us) {
            continue;
        }
        as_staff(gen, partner, LEDGER__V1__ROLE__ROLE_ADMIN_AGENT);
        Ledger__V1__Command *command = begin_command(gen, partner, customer);
        struct hg_command *built = &gen->built;
        reservation_id(reservation, built->ids[0]);
        if (reservation->auto_renew) {
            Ledger__V1__RenewReservation *body = &built->body.renew_reservation;
            ledger__v1__renew_reservation__init(body);
            body->reservation_id = built->ids[0];
            /* Renewals are priced anew: within a few percent of the last term. */
            int64_t retail = 0;
            int64_t price = renewal_price(gen, reservation->price_minor, &retail);
            body->price = money(gen, 0, price);
            body->retail_price = money(gen, 1, retail);
            command->body_case = LEDGER__V1__COMMAND__BODY_RENEW_RESERVATION;
            command->renew_reservation = body;
            struct hg_reservation *renewal = &gen->pending.reservation;
            *renewal = *reservation;
            renewal->number = 0; /* res-<sequence of the renewal> */
            renewal->starts_us = reservation->expires_us;
            renewal->expires_us = civil_add_years_us(reservation->expires_us, reservation->years);
            renewal->price_minor = price;
            renewal->retail_minor = retail;
            renewal->auto_renew = true;
            renewal->active = true;
            gen->pending.effect = HG_EFFECT_RENEWED;
        } else {
            Ledger__V1__ExpireReservation *body = &built->body.expire_reservation;
            ledger__v1__expire_reservation__init(body);
            body->reservation_id = built->ids[0];
            command->body_case = LEDGER__V1__COMMAND__BODY_EXPIRE_RESERVATION;
            command->expire_reservation = body;
            gen->pending.effect = HG_EFFECT_EXPIRED;
        }
        gen->pending.target = index;
        return true;
    }
    return act_savings_plan_lifecycle(gen, partner, customer);
}

static void build_subscription_status(struct histgen *gen, struct hg_partner *partner,
                                      struct hg_customer *customer, uint32_t subscription,
                                      Ledger__V1__SubscriptionStatus status)
{
    as_staff(gen, partner, LEDGER__V1__ROLE__ROLE_ADMIN_AGENT);
    Ledger__V1__Command *command = begin_command(gen, partner, customer);
    Ledger__V1__SetSubscriptionStatus *body = &gen->built.body.set_subscription_status;
    ledger__v1__set_subscription_status__init(body);
    subscription_id(partner, customer, subscription, gen->built.ids[0]);
    body->subscription_id = gen->built.ids[0];
    body->status = status;
    command->body_case = LEDGER__V1__COMMAND__BODY_SET_SUBSCRIPTION_STATUS;
    command->set_subscription_status = body;
    gen->pending.effect = HG_EFFECT_SUBSCRIPTION_STATUS;
    gen->pending.subscription = subscription;
    gen->pending.flag = status == LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_ACTIVE;
}

static bool act_suspend(struct histgen *gen, struct hg_partner *partner,
                        struct hg_customer *customer)
{
    if (customer->subscription_count == 0) {
        return false;
    }
    uint32_t subscription = rng_below(gen, customer->subscription_count);
    if (!customer->subscriptions[subscription].active ||
        subscription_pinned(partner, customer, subscription)) {
        return false;
    }
    build_subscription_status(gen, partner, customer, subscription,
                              LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_SUSPENDED);
    return true;
}

static bool act_reactivate(struct histgen *gen, struct hg_partner *partner,
                           struct hg_customer *customer)
{
    if (customer->subscription_count == 0) {
        return false;
    }
    uint32_t subscription = rng_below(gen, customer->subscription_count);
    if (customer->subscriptions[subscription].active) {
        return false;
    }
    build_subscription_status(gen, partner, customer, subscription,
                              LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_ACTIVE);
    return true;
}

static bool act_visibility(struct histgen *gen, struct hg_partner *partner,
                           struct hg_customer *customer)
{
    as_staff(gen, partner, LEDGER__V1__ROLE__ROLE_ADMIN_AGENT);
    Ledger__V1__Command *command = begin_command(gen, partner, customer);
    Ledger__V1__SetCostVisibility *body = &gen->built.body.set_cost_visibility;
    ledger__v1__set_cost_visibility__init(body);
    body->retail_prices_visible = !customer->retail_prices_visible;
    command->body_case = LEDGER__V1__COMMAND__BODY_SET_COST_VISIBILITY;
    command->set_cost_visibility = body;
    gen->pending.effect = HG_EFFECT_VISIBILITY;
    gen->pending.flag = body->retail_prices_visible;
    return true;
}

/* ------------------------------------------------------------------------ */
/* Choosing. */

/* The partner's staff and the operator's setup, in order: AddPartner, then the
 * admin, sales, help desk, auditor and billing principals. */
static void build_setup_step(struct histgen *gen)
{
    struct hg_partner *partner = &gen->partners[gen->setup_partner];
    set_principal(gen, gen->operator_id, LEDGER__V1__ROLE__ROLE_OPERATOR, "", "", "");
    Ledger__V1__Command *command = begin_command(gen, partner, NULL);
    struct hg_command *built = &gen->built;
    if (gen->setup_step == 0) {
        Ledger__V1__AddPartner *body = &built->body.add_partner;
        ledger__v1__add_partner__init(body);
        body->partner_id = built->partner_id;
        snprintf(built->name, sizeof built->name, "Reseller %" PRIu32 " Cloud Services",
                 partner->index);
        body->name = built->name;
        command->body_case = LEDGER__V1__COMMAND__BODY_ADD_PARTNER;
        command->add_partner = body;
    } else {
        static const Ledger__V1__Role staff[] = {
            LEDGER__V1__ROLE__ROLE_ADMIN_AGENT, LEDGER__V1__ROLE__ROLE_SALES_AGENT,
            LEDGER__V1__ROLE__ROLE_HELPDESK_AGENT, LEDGER__V1__ROLE__ROLE_AUDITOR,
            LEDGER__V1__ROLE__ROLE_BILLING};
        Ledger__V1__Role role = staff[gen->setup_step - 1];
        Ledger__V1__AddPrincipal *body = &built->body.add_principal;
        ledger__v1__add_principal__init(body);
        staff_principal_id(role, partner->index, built->ids[0]);
        body->principal_id = built->ids[0];
        body->role = role;
        body->partner_id = built->partner_id;
        command->body_case = LEDGER__V1__COMMAND__BODY_ADD_PRINCIPAL;
        command->add_principal = body;
    }
    gen->pending.effect = HG_EFFECT_SETUP_STEP;
}

/* The operator rotates the secret of the partner's help desk agent, which
 * issues no item: nothing in the model changes. */
static void build_rotation(struct histgen *gen, struct hg_partner *partner)
{
    set_principal(gen, gen->operator_id, LEDGER__V1__ROLE__ROLE_OPERATOR, "", "", "");
    Ledger__V1__Command *command = begin_command(gen, partner, NULL);
    struct hg_command *built = &gen->built;
    Ledger__V1__RotatePrincipalSecret *body = &built->body.rotate_principal_secret;
    ledger__v1__rotate_principal_secret__init(body);
    staff_principal_id(LEDGER__V1__ROLE__ROLE_HELPDESK_AGENT, partner->index, built->ids[0]);
    body->principal_id = built->ids[0];
    command->body_case = LEDGER__V1__COMMAND__BODY_ROTATE_PRINCIPAL_SECRET;
    command->rotate_principal_secret = body;
    gen->pending.effect = HG_EFFECT_NONE;
}

/* One step of setting up a newly onboarded customer: subscriptions, users,
 * a role for each user. False when the customer is fully set up. */
static bool act_setup_customer(struct histgen *gen, struct hg_partner *partner,
                               struct hg_customer *customer)
{
    if (customer->subscription_count == 0 ||
        customer->subscription_count < customer->subscriptions_wanted) {
        return act_purchase_subscription(gen, partner, customer, customer->subscription_count == 0);
    }
    if (!gen->options.admin_only && customer->user_count < customer->users_wanted) {
        return act_add_user(gen, partner, customer);
    }
    for (uint32_t user = 0; user < customer->user_count; user++) {
        bool has_role = false;
        for (uint32_t s = 0; s < customer->subscription_count; s++) {
            has_role = has_role || customer->roles[user][s] != 0;
        }
        if (!has_role) {
            for (int attempt = 0; attempt < 8; attempt++) {
                if (act_assign_role(gen, partner, customer, user, attempt > 4)) {
                    return true;
                }
            }
            return false; /* no active subscription: leave it to later actions */
        }
    }
    return false;
}

enum hg_action {
    HG_ACT_SUBSCRIPTION,
    HG_ACT_ASSIGN_ROLE,
    HG_ACT_REMOVE_ROLE,
    HG_ACT_GRANT,
    HG_ACT_REVOKE,
    HG_ACT_PARTNER_RESERVATION,
    HG_ACT_PARTNER_SAVINGS_PLAN,
    HG_ACT_CUSTOMER_RESERVATION,
    HG_ACT_CUSTOMER_SAVINGS_PLAN,
    HG_ACT_EXCHANGE,
    HG_ACT_CANCEL,
    HG_ACT_RESERVATION_RENEWAL,
    HG_ACT_RESERVATION_SCOPE,
    HG_ACT_SAVINGS_PLAN_RENEWAL,
    HG_ACT_SAVINGS_PLAN_SCOPE,
    HG_ACT_SUSPEND,
    HG_ACT_REACTIVATE,
    HG_ACT_VISIBILITY,
    HG_ACT_LIFECYCLE,
    HG_ACT_COUNT
};

/* Relative frequencies: purchases dominate, as in a reseller's real log. */
static const uint32_t hg_action_weights[HG_ACT_COUNT] = {
    [HG_ACT_SUBSCRIPTION] = 2,
    [HG_ACT_ASSIGN_ROLE] = 4,
    [HG_ACT_REMOVE_ROLE] = 2,
    [HG_ACT_GRANT] = 6,
    [HG_ACT_REVOKE] = 1,
    [HG_ACT_PARTNER_RESERVATION] = 24,
    [HG_ACT_PARTNER_SAVINGS_PLAN] = 5,
    [HG_ACT_CUSTOMER_RESERVATION] = 20,
    [HG_ACT_CUSTOMER_SAVINGS_PLAN] = 6,
    [HG_ACT_EXCHANGE] = 3,
    [HG_ACT_CANCEL] = 2,
    [HG_ACT_RESERVATION_RENEWAL] = 4,
    [HG_ACT_RESERVATION_SCOPE] = 4,
    [HG_ACT_SAVINGS_PLAN_RENEWAL] = 2,
    [HG_ACT_SAVINGS_PLAN_SCOPE] = 2,
    [HG_ACT_SUSPEND] = 1,
    [HG_ACT_REACTIVATE] = 1,
    [HG_ACT_VISIBILITY] = 1,
    [HG_ACT_LIFECYCLE] = 8,
};

static bool act_draw(struct histgen *gen, struct hg_partner *partner, struct hg_customer *customer)
{
    uint32_t total = 0;
    for (int i = 0; i < HG_ACT_COUNT; i++) {
        total += hg_action_weights[i];
    }
    uint32_t draw = rng_below(gen, total);
    int action = 0;
    while (draw >= hg_action_weights[action]) {
        draw -= hg_action_weights[action];
        action++;
    }
    Ledger__V1__PermissionKind kind =
        rng_chance(gen, 600) ? LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_RESERVATIONS
                             : LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_SAVINGS_PLANS;
    switch ((enum hg_action)action) {
    case HG_ACT_SUBSCRIPTION:
        return act_purchase_subscription(gen, partner, customer, false);
    case HG_ACT_ASSIGN_ROLE:
        return customer->user_count > 0 &&
               act_assign_role(gen, partner, customer, rng_below(gen, customer->user_count), false);
    case HG_ACT_REMOVE_ROLE:
        return act_remove_role(gen, partner, customer);
    case HG_ACT_GRANT:
        return act_permission(gen, partner, customer, kind, true, false);
    case HG_ACT_REVOKE:
        return act_permission(gen, partner, customer, kind, false, false);
    case HG_ACT_PARTNER_RESERVATION:
        return act_partner_reservation(gen, partner, customer);
    case HG_ACT_PARTNER_SAVINGS_PLAN:
        return act_partner_savings_plan(gen, partner, customer);
    case HG_ACT_CUSTOMER_RESERVATION:
        return act_customer_reservation(gen, partner, customer);
    case HG_ACT_CUSTOMER_SAVINGS_PLAN:
        return act_customer_savings_plan(gen, partner, customer);
    case HG_ACT_EXCHANGE:
        return act_exchange(gen, partner, customer, false);
    case HG_ACT_CANCEL:
        return act_cancel(gen, partner, customer);
    case HG_ACT_RESERVATION_RENEWAL:
        return act_reservation_renewal(gen, partner, customer);
    case HG_ACT_RESERVATION_SCOPE:
        return act_reservation_scope(gen, partner, customer);
    case HG_ACT_SAVINGS_PLAN_RENEWAL:
        return act_savings_plan_renewal(gen, partner, customer);
    case HG_ACT_SAVINGS_PLAN_SCOPE:
        return act_savings_plan_scope(gen, partner, customer);
    case HG_ACT_SUSPEND:
        return act_suspend(gen, partner, customer);
    case HG_ACT_REACTIVATE:
        return act_reactivate(gen, partner, customer);
    case HG_ACT_VISIBILITY:
        return act_visibility(gen, partner, customer);
    case HG_ACT_LIFECYCLE:
        return act_lifecycle(gen, partner, customer);
    case HG_ACT_COUNT:
        break;
    }
    return false;
}

/* Probability (per mille) that a partner with customers left to onboard
 * onboards one now: about eight times the share of items per customer, so that
 * every customer exists well before the end. */
static uint32_t onboard_per_mille(const struct histgen *gen)
{
    uint64_t customers = (uint64_t)gen->options.partners * gen->options.customers_per_partner;
    uint64_t per_mille = customers * 8000 / (gen->options.target_events + 1);
    if (per_mille < 50) {
        per_mille = 50;
    }
    if (per_mille > 900) {
        per_mille = 900;
    }
    return (uint32_t)per_mille;
}

static struct hg_partner *choose_partner(struct histgen *gen)
{
    if (gen->run_partner != NULL && gen->run_left > 0) {
        gen->run_left--;
        return gen->run_partner;
    }
    gen->run_partner = &gen->partners[rng_below(gen, gen->options.partners)];
    gen->run_left = gen->options.partner_run > 1 ? gen->options.partner_run - 1 : 0;
    return gen->run_partner;
}

static bool build_business(struct histgen *gen, struct hg_partner *partner)
{
    if (partner->onboarded < gen->options.customers_per_partner &&
        (partner->onboarded == 0 || rng_chance(gen, onboard_per_mille(gen)))) {
        return act_onboard(gen, partner);
    }
    /* Finish setting up the oldest customer still being set up. */
    while (partner->setup_cursor < partner->onboarded) {
        struct hg_customer *customer = &partner->customers[partner->setup_cursor];
        if (!rng_chance(gen, 700)) {
            break;
        }
        if (act_setup_customer(gen, partner, customer)) {
            return true;
        }
        partner->setup_cursor++;
    }
    for (int attempt = 0; attempt < HG_CUSTOMERS_TRY; attempt++) {
        struct hg_customer *customer = &partner->customers[rng_below(gen, partner->onboarded)];
        for (int draw = 0; draw < HG_DRAWS_MAX; draw++) {
            if (act_draw(gen, partner, customer)) {
                return true;
            }
        }
        if (act_setup_customer(gen, partner, customer)) {
            return true;
        }
    }
    /* Only customers whose every subscription is suspended or full: a new
     * eligible subscription is always possible for one under the cap. */
    for (uint32_t i = 0; i < partner->onboarded; i++) {
        if (act_purchase_subscription(gen, partner, &partner->customers[i], true)) {
            return true;
        }
    }
    return act_visibility(gen, partner, &partner->customers[0]);
}

/* ------------------------------------------------------------------------ */
/* Deliberate refusals. Each builds a command with exactly one rule broken
 * and sets the error it must get; false when the model offers no occasion. */

enum hg_invalid {
    HG_BAD_GRANT_ON,
    HG_BAD_REVOKE_OFF,
    HG_BAD_SALES_SAVINGS_PLAN,
    HG_BAD_CUSTOMER_CANCEL,
    HG_BAD_UNKNOWN_RESERVATION,
    HG_BAD_ONBOARD_AGAIN,
    HG_BAD_PERMISSION_OFF,
    HG_BAD_ROLE_MISSING,
    HG_BAD_SUSPEND_PINNED,
    HG_BAD_OTHER_PARTNER,
    HG_BAD_EXCHANGE_LOW,
    HG_BAD_COUNT
};

static bool build_invalid(struct histgen *gen, struct hg_partner *partner,
                          struct hg_customer *customer, enum ledger_err *expected)
{
    Ledger__V1__PermissionKind kind =
        rng_chance(gen, 500) ? LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_RESERVATIONS
                             : LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_SAVINGS_PLANS;
    switch ((enum hg_invalid)rng_below(gen, HG_BAD_COUNT)) {
    case HG_BAD_GRANT_ON:
        *expected = LEDGER_ERR_PERMISSION_ALREADY_ON;
        return customer->permission_on[kind] &&
               act_permission(gen, partner, customer, kind, true, true);
    case HG_BAD_REVOKE_OFF:
        *expected = LEDGER_ERR_PERMISSION_ALREADY_OFF;
        return !customer->permission_on[kind] &&
               act_permission(gen, partner, customer, kind, false, true);
    case HG_BAD_SALES_SAVINGS_PLAN: {
        uint32_t subscription;
        if (!pick_usable_subscription(gen, customer, &subscription)) {
            return false;
        }
        as_staff(gen, partner, LEDGER__V1__ROLE__ROLE_SALES_AGENT);
        Ledger__V1__Command *command = begin_command(gen, partner, customer);
        fill_savings_plan(gen, partner, customer, subscription, command);
        *expected = LEDGER_ERR_FORBIDDEN;
        return true;
    }
    case HG_BAD_CUSTOMER_CANCEL: {
        size_t index;
        if (customer->user_count == 0 || gen->options.admin_only ||
            !pick_workable_reservation(gen, customer, SIZE_MAX, &index) ||
            !act_cancel(gen, partner, customer)) {
            return false;
        }
        as_user(gen, partner, customer, rng_below(gen, customer->user_count));
        *expected = LEDGER_ERR_ASK_PARTNER;
        return true;
    }
    case HG_BAD_UNKNOWN_RESERVATION:
        if (!act_reservation_renewal(gen, partner, customer)) {
            return false;
        }
        /* No sequence is this large in any test ledger. */
        snprintf(gen->built.ids[0], sizeof gen->built.ids[0], "res-999999999999");
        *expected = LEDGER_ERR_RESERVATION_NOT_FOUND;
        return true;
    case HG_BAD_ONBOARD_AGAIN: {
        as_staff(gen, partner, LEDGER__V1__ROLE__ROLE_ADMIN_AGENT);
        Ledger__V1__Command *command = begin_command(gen, partner, customer);
        Ledger__V1__OnboardCustomer *body = &gen->built.body.onboard_customer;
        ledger__v1__onboard_customer__init(body);
        snprintf(gen->built.name, sizeof gen->built.name, "Duplicate onboarding");
        body->name = gen->built.name;
        command->body_case = LEDGER__V1__COMMAND__BODY_ONBOARD_CUSTOMER;
        command->onboard_customer = body;
        *expected = LEDGER_ERR_CUSTOMER_EXISTS;
        return true;
    }
    case HG_BAD_PERMISSION_OFF: {
        uint32_t subscription;
        if (!as_buying_user(gen, partner, customer,
                            LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_RESERVATIONS, false,
                            &subscription)) {
            return false;
        }
        begin_reservation_purchase(gen, partner, customer, subscription);
        *expected = LEDGER_ERR_PERMISSION_OFF;
        return true;
    }
    case HG_BAD_ROLE_MISSING: {
        uint32_t subscription;
        if (gen->options.admin_only || customer->user_count == 0 ||
            !customer->permission_on[LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_RESERVATIONS] ||
            !pick_usable_subscription(gen, customer, &subscription)) {
            return false;
        }
        uint32_t user = rng_below(gen, customer->user_count);
        if (user_may_buy(customer, user, subscription)) {
            return false;
        }
        as_user(gen, partner, customer, user);
        begin_reservation_purchase(gen, partner, customer, subscription);
        *expected = LEDGER_ERR_ROLE_MISSING;
        return true;
    }
    case HG_BAD_SUSPEND_PINNED:
        for (size_t i = 0; i < customer->reservation_count; i++) {
            const struct hg_reservation *reservation = &customer->reservations[i];
            if (reservation->active && customer->subscriptions[reservation->subscription].active) {
                build_subscription_status(
                    gen, partner, customer, reservation->subscription,
                    LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_SUSPENDED);
                *expected = LEDGER_ERR_SUBSCRIPTION_HAS_RESERVATIONS;
                return true;
            }
        }
        return false;
    case HG_BAD_OTHER_PARTNER: {
        if (gen->options.partners < 2 || !act_partner_reservation(gen, partner, customer)) {
            return false;
        }
        /* The admin agent of the next partner buys for this one's customer. */
        uint32_t other = (uint32_t)(partner - gen->partners + 1) % gen->options.partners;
        as_staff(gen, &gen->partners[other], LEDGER__V1__ROLE__ROLE_ADMIN_AGENT);
        *expected = LEDGER_ERR_PARTNER_MISMATCH;
        return true;
    }
    case HG_BAD_EXCHANGE_LOW:
        *expected = LEDGER_ERR_EXCHANGE_VALUE_TOO_LOW;
        return act_exchange(gen, partner, customer, true);
    case HG_BAD_COUNT:
        break;
    }
    return false;
}

/* ------------------------------------------------------------------------ */
/* Applying an accepted item to the model. */

static void add_reservation(struct hg_customer *customer, const struct hg_reservation *reservation,
                            uint64_t sequence)
{
    if (customer->reservation_count == customer->reservation_capacity) {
        size_t capacity = customer->reservation_capacity ? customer->reservation_capacity * 2 : 8;
        struct hg_reservation *grown = realloc(customer->reservations, capacity * sizeof *grown);
        HG_ASSERT(grown != NULL && "histgen: out of memory");
        customer->reservations = grown;
        customer->reservation_capacity = capacity;
    }
    customer->reservations[customer->reservation_count] = *reservation;
    customer->reservations[customer->reservation_count].sequence = sequence;
    customer->reservation_count++;
}

static void apply_pending(struct histgen *gen, uint64_t sequence)
{
    struct hg_pending *p = &gen->pending;
    struct hg_customer *customer = p->customer;
    switch (p->effect) {
    case HG_EFFECT_NONE:
        break;
    case HG_EFFECT_SETUP_STEP:
        gen->setup_step++;
        if (gen->setup_step == 6) {
            gen->setup_step = 0;
            gen->setup_partner++;
        }
        break;
    case HG_EFFECT_ONBOARD:
        customer->onboarded = true;
        customer->subscriptions_wanted = (uint8_t)(1 + rng_below(gen, 3));
        customer->users_wanted = (uint8_t)(1 + rng_below(gen, 3));
        if (gen->options.admin_only) {
            customer->user_count = customer->users_wanted;
        }
        p->partner->onboarded++;
        break;
    case HG_EFFECT_SUBSCRIPTION: {
        struct hg_subscription *subscription =
            &customer->subscriptions[customer->subscription_count++];
        subscription->offer = (Ledger__V1__Offer)p->value;
        subscription->active = true;
        break;
    }
    case HG_EFFECT_USER:
        customer->user_count++;
        break;
    case HG_EFFECT_ROLE_ASSIGNED:
        customer->roles[p->user][p->subscription] |= (uint8_t)(1u << p->value);
        break;
    case HG_EFFECT_ROLE_REMOVED:
        customer->roles[p->user][p->subscription] &= (uint8_t) ~(1u << p->value);
        break;
    case HG_EFFECT_PERMISSION:
        customer->permission_on[p->value] = p->flag;
        break;
    case HG_EFFECT_EXCHANGE:
        for (size_t i = 0; i < p->returned_count; i++) {
            customer->reservations[p->returned[i]].active = false;
        }
        add_reservation(customer, &p->reservation, sequence);
        if (p->second_replacement) {
            add_reservation(customer, &p->second, sequence);
        }
        break;
    case HG_EFFECT_RESERVATION:
        add_reservation(customer, &p->reservation, sequence);
        break;
    case HG_EFFECT_SAVINGS_PLAN_RENEWED:
        customer->savings_plans[p->target].active = false;
        /* The renewal is added as a purchase is. */
        /* fall through */
    case HG_EFFECT_SAVINGS_PLAN: {
        if (customer->savings_plan_count == customer->savings_plan_capacity) {
            size_t capacity =
                customer->savings_plan_capacity ? customer->savings_plan_capacity * 2 : 4;
            struct hg_savings_plan *grown =
                realloc(customer->savings_plans, capacity * sizeof *grown);
            HG_ASSERT(grown != NULL && "histgen: out of memory");
            customer->savings_plans = grown;
            customer->savings_plan_capacity = capacity;
        }
        p->plan.sequence = sequence;
        customer->savings_plans[customer->savings_plan_count++] = p->plan;
        break;
    }
    case HG_EFFECT_RENEWED:
        customer->reservations[p->target].active = false;
        add_reservation(customer, &p->reservation, sequence);
        break;
    case HG_EFFECT_EXPIRED:
        customer->reservations[p->target].active = false;
        break;
    case HG_EFFECT_CANCEL:
        customer->reservations[p->target].active = false;
        customer->refunded_usd_minor += p->amount_minor;
        break;
    case HG_EFFECT_RESERVATION_RENEWAL:
        customer->reservations[p->target].auto_renew = p->flag;
        break;
    case HG_EFFECT_RESERVATION_SCOPE:
        customer->reservations[p->target].scope = p->scope;
        break;
    case HG_EFFECT_SAVINGS_PLAN_RENEWAL:
        customer->savings_plans[p->target].auto_renew = p->flag;
        break;
    case HG_EFFECT_SAVINGS_PLAN_SCOPE:
        customer->savings_plans[p->target].scope = p->scope;
        break;
    case HG_EFFECT_SUBSCRIPTION_STATUS:
        customer->subscriptions[p->subscription].active = p->flag;
        break;
    case HG_EFFECT_VISIBILITY:
        customer->retail_prices_visible = p->flag;
        break;
    }
}

/* ------------------------------------------------------------------------ */
/* The public calls. */

enum ledger_err histgen_new(const struct histgen_options *options, struct histgen **out)
{
    if (options == NULL || out == NULL || options->partners == 0 ||
        options->partners > HISTGEN_PARTNERS_MAX || options->customers_per_partner == 0 ||
        options->customers_per_partner > HISTGEN_CUSTOMERS_MAX ||
        options->invalid_per_mille > 1000 || options->rotations_per_mille > 1000) {
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    struct histgen *gen = calloc(1, sizeof *gen);
    if (gen == NULL) {
        return LEDGER_ERR_NO_MEMORY;
    }
    gen->options = *options;
    if (gen->options.partner_first == 0) {
        gen->options.partner_first = 1;
    }
    if (gen->options.start_us == 0) {
        gen->options.start_us = HISTGEN_START_US_DEFAULT;
    }
    if (gen->options.step_min_us == 0) {
        gen->options.step_min_us = INT64_C(60) * 1000000;
    }
    if (gen->options.step_max_us == 0) {
        gen->options.step_max_us = INT64_C(300) * 1000000;
    }
    if (gen->options.step_min_us < 0 || gen->options.step_max_us < gen->options.step_min_us ||
        (uint64_t)gen->options.partner_first + gen->options.partners > UINT32_MAX) {
        free(gen);
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    gen->operator_id = options->operator_id != NULL ? options->operator_id : "operator";
    gen->command_prefix = options->command_prefix != NULL ? options->command_prefix : "";
    gen->now_us = gen->options.start_us;
    uint64_t seed = options->seed;
    for (int i = 0; i < 4; i++) {
        gen->rng[i] = splitmix64(&seed);
    }
    gen->partners = calloc(gen->options.partners, sizeof *gen->partners);
    if (gen->partners == NULL) {
        free(gen);
        return LEDGER_ERR_NO_MEMORY;
    }
    for (uint32_t i = 0; i < gen->options.partners; i++) {
        gen->partners[i].index = gen->options.partner_first + i;
        gen->partners[i].customers =
            calloc(gen->options.customers_per_partner, sizeof *gen->partners[i].customers);
        if (gen->partners[i].customers == NULL) {
            histgen_free(gen);
            return LEDGER_ERR_NO_MEMORY;
        }
    }
    *out = gen;
    return LEDGER_ERR_OK;
}

void histgen_free(struct histgen *gen)
{
    if (gen == NULL) {
        return;
    }
    if (gen->partners != NULL) {
        for (uint32_t i = 0; i < gen->options.partners; i++) {
            struct hg_partner *partner = &gen->partners[i];
            if (partner->customers == NULL) {
                continue;
            }
            for (uint32_t c = 0; c < gen->options.customers_per_partner; c++) {
                free(partner->customers[c].reservations);
                free(partner->customers[c].savings_plans);
            }
            free(partner->customers);
        }
        free(gen->partners);
    }
    free(gen->bytes);
    free(gen);
}

static void build_item(struct histgen *gen, enum ledger_err expected, struct histgen_item *item)
{
    const Ledger__V1__Command *command = &gen->built.command;
    size_t size = protobuf_c_message_get_packed_size(&command->base);
    if (size > gen->bytes_capacity) {
        size_t capacity = size < 1024 ? 1024 : size * 2;
        uint8_t *grown = realloc(gen->bytes, capacity);
        HG_ASSERT(grown != NULL && "histgen: out of memory");
        gen->bytes = grown;
        gen->bytes_capacity = capacity;
    }
    size_t packed = protobuf_c_message_pack(&command->base, gen->bytes);
    HG_ASSERT(packed == size);
    memset(item, 0, sizeof *item);
    item->principal.id = gen->principal_id;
    item->principal.role = gen->principal_role;
    item->principal.partner_id = gen->principal_partner;
    item->principal.customer_id = gen->principal_customer;
    item->principal.user = gen->principal_user;
    item->command = gen->bytes;
    item->command_size = packed;
    item->command_id = gen->built.command_id;
    item->kind = command->body_case;
    item->partner_id = command->partner_id;
    item->customer_id = command->customer_id;
    item->business_us = command->business_us;
    item->expected_err = expected;
    gen->item_count++;
    if (expected == LEDGER_ERR_OK) {
        gen->valid_count++;
    } else {
        gen->pending.effect = HG_EFFECT_NONE;
    }
    gen->awaiting_report = true;
}

bool histgen_next(struct histgen *gen, struct histgen_item *item)
{
    HG_ASSERT(!gen->awaiting_report && "histgen: report the previous item first");
    if (gen->awaiting_report || gen->valid_count >= gen->options.target_events) {
        return false;
    }
    gen->now_us += rng_range(gen, gen->options.step_min_us, gen->options.step_max_us);
    if (gen->setup_partner < gen->options.partners) {
        build_setup_step(gen);
        build_item(gen, LEDGER_ERR_OK, item);
        return true;
    }
    struct hg_partner *partner = choose_partner(gen);
    if (gen->options.invalid_per_mille > 0 && partner->onboarded > 0 &&
        rng_chance(gen, gen->options.invalid_per_mille)) {
        for (int attempt = 0; attempt < HG_DRAWS_MAX; attempt++) {
            struct hg_customer *customer = &partner->customers[rng_below(gen, partner->onboarded)];
            enum ledger_err expected = LEDGER_ERR_OK;
            if (build_invalid(gen, partner, customer, &expected)) {
                build_item(gen, expected, item);
                return true;
            }
        }
    }
    /* Drawn only when asked for: a run without rotations takes no random
     * number for them, so its seed gives the stream it always gave. */
    if (gen->options.rotations_per_mille > 0 && rng_chance(gen, gen->options.rotations_per_mille)) {
        build_rotation(gen, partner);
        build_item(gen, LEDGER_ERR_OK, item);
        return true;
    }
    bool built = build_business(gen, partner);
    HG_ASSERT(built && "histgen: no action possible");
    (void)built;
    build_item(gen, LEDGER_ERR_OK, item);
    return true;
}

void histgen_accepted(struct histgen *gen, uint64_t sequence)
{
    HG_ASSERT(gen->awaiting_report);
    gen->awaiting_report = false;
    apply_pending(gen, sequence);
}

void histgen_refused(struct histgen *gen)
{
    HG_ASSERT(gen->awaiting_report);
    gen->awaiting_report = false;
}

uint64_t histgen_valid_count(const struct histgen *gen)
{
    return gen->valid_count;
}

uint64_t histgen_item_count(const struct histgen *gen)
{
    return gen->item_count;
}
