/*
 * domain_internal.h: what the domain's files share, and nothing else
 * includes: string helpers, the aggregate's id indexes and lookups, the
 * arithmetic of commitments and refunds, and what deciding a command
 * shares (the decision in progress, refusals, the checks of fields and
 * state, each command's decision for the dispatcher).
 *
 * The domain is the rules of docs/domain.md, deciding commands and evolving
 * a customer's state, as pure functions, in eleven files:
 *
 *   domain_state.c   the customer aggregate (struct domain_customer): new,
 *                    copy, size, free; the id indexes of its reservations and
 *                    savings plans; lookups, the roles held at a business
 *                    time among them;
 *   domain_evolve.c  applying each customer event to the aggregate, and its
 *                    growth within the LEDGER_CUSTOMER_*_MAX limits;
 *   domain_decide.c  deciding a command (domain_decide): the order of its
 *                    checks, authorization through policy.h, the envelope
 *                    and the principal's scope, the dispatch to the
 *                    command's decision, the event's envelope; refusals;
 *   domain_decide_checks.c
 *                    the checks of fields and state the families share:
 *                    ids, money, scopes, terms, billing subscriptions;
 *   domain_decide_principals.c, domain_decide_permissions.c,
 *   domain_decide_reservations.c, domain_decide_savings.c
 *                    the decision of each command of a family: partners,
 *                    principals, customers and their subscriptions;
 *                    purchase permissions and role assignments (and rule 3);
 *                    reservations; savings plans: validation of every
 *                    field, the rules, and the event that records the
 *                    outcome;
 *   domain_decide_holdings.c
 *                    what reservations and savings plans share: a
 *                    purchase's terms, scope and auto-renew changes, a
 *                    renewal's rules;
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

#include "civil.h"
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

/* ---- domain_decide*.c: deciding a command -------------------------------- */

/* A command being decided: its input, the output it fills, and the business
 * time it is dated at (the command's, or now). */
struct domain_decision {
    const struct domain_input *in;
    struct domain_output *out;
    const Ledger__V1__Command *command;
    const struct domain_principal *principal;
    const struct domain_customer *customer; /* customer commands only */
    int64_t business_us;
};

/* "YYYY-MM-DDTHH:MM:SSZ" and NUL, with room for years past 9999 of a
 * corrupt clock. */
#define DOMAIN_TIME_TEXT_SIZE 32

/* A time in microseconds as ISO 8601 UTC, for messages: to the second, with
 * the microseconds when there are any (a message that names a time to date a
 * command at or after must name it exactly); "out of range" for what gmtime
 * cannot show. Returned by value, so that a message can format several in
 * one call (the text lives until the end of the full expression). */
struct domain_time_text {
    char text[DOMAIN_TIME_TEXT_SIZE];
};

/* ---- domain_decide.c ----------------------------------------------------- */

/* Writes the refusal's message (printf's format) into d->out->message;
 * returns err. */
__attribute__((format(printf, 3, 4))) enum ledger_err
domain__refuse(struct domain_decision *d, enum ledger_err err, const char *format, ...);
/* time_us as ISO 8601 UTC, for a message. */
struct domain_time_text domain__time_text(int64_t time_us);
/* The partner the command acts on exists: PARTNER_NOT_FOUND. */
__attribute__((warn_unused_result)) enum ledger_err domain__need_partner(struct domain_decision *d);
/* The partner exists and the customer was onboarded by the command's
 * business time (an expiry excepted): PARTNER_NOT_FOUND, CUSTOMER_NOT_FOUND. */
__attribute__((warn_unused_result)) enum ledger_err
domain__need_customer(struct domain_decision *d);

/* Small helpers of every family of commands, inline. */
static inline bool domain__string_empty(const char *s)
{
    return s == NULL || s[0] == '\0';
}

static inline int64_t domain__term_years(Ledger__V1__Term term)
{
    return domain_term_months(term) / 12;
}

/* When a term that starts at start_us ends (docs/events.md): the same date and
 * time of day, the term's number of calendar years later (29 February ends
 * on 28 February in a year without one), as Azure dates a reservation's or
 * savings plan's expiry. */
static inline int64_t domain__term_end(int64_t start_us, Ledger__V1__Term term)
{
    return civil_add_years_us(start_us, (unsigned)domain__term_years(term));
}

static inline bool domain__offer_eligible(Ledger__V1__Offer offer)
{
    return offer == LEDGER__V1__OFFER__OFFER_AZURE_PLAN ||
           offer == LEDGER__V1__OFFER__OFFER_AZURE_GLOBAL;
}

static inline const char *domain__kind_name(Ledger__V1__PermissionKind kind)
{
    return codec_enum_name(CODEC_ENUM_PERMISSION_KIND, (int)kind);
}

static inline bool domain__is_customer_user(const struct domain_decision *d)
{
    return d->principal->role == LEDGER__V1__ROLE__ROLE_CUSTOMER_USER;
}

/* ---- domain_decide_checks.c ---------------------------------------------- */

/* Each field by its shape, its refusal naming `field` (INVALID_ARGUMENT,
 * INVALID_AMOUNT, UNKNOWN_MESSAGE, CURRENCY_MISMATCH, INVALID_SCOPE): an
 * id, an optional id, a SKU, a declared enum, money (more than 0 with
 * positive_only), money in USD, two amounts in one currency, a purchase's
 * two prices, a scope's form; then a scope's target against the customer,
 * and a new term's end within the times the ledger records. */

__attribute__((warn_unused_result)) enum ledger_err
domain__check_id(struct domain_decision *d, const char *value, const char *field);
__attribute__((warn_unused_result)) enum ledger_err
domain__check_optional_id(struct domain_decision *d, const char *value, const char *field);
__attribute__((warn_unused_result)) enum ledger_err
domain__check_sku(struct domain_decision *d, const char *value, const char *field);
__attribute__((warn_unused_result)) enum ledger_err
domain__check_enum(struct domain_decision *d, enum codec_enum which, int value, const char *field);
__attribute__((warn_unused_result)) enum ledger_err
domain__check_money(struct domain_decision *d, const Ledger__V1__Money *money, const char *field,
                    bool positive_only);
__attribute__((warn_unused_result)) enum ledger_err
domain__check_usd_money(struct domain_decision *d, const Ledger__V1__Money *money,
                        const char *field);
__attribute__((warn_unused_result)) enum ledger_err
domain__check_same_currency(struct domain_decision *d, const Ledger__V1__Money *a,
                            const char *a_field, const Ledger__V1__Money *b, const char *b_field);
__attribute__((warn_unused_result)) enum ledger_err
domain__check_prices(struct domain_decision *d, const Ledger__V1__Money *price,
                     const Ledger__V1__Money *retail_price);
__attribute__((warn_unused_result)) enum ledger_err
domain__check_scope(struct domain_decision *d, const Ledger__V1__Scope *scope, const char *field);
__attribute__((warn_unused_result)) enum ledger_err
domain__check_scope_target(struct domain_decision *d, const Ledger__V1__Scope *scope);
__attribute__((warn_unused_result)) enum ledger_err
domain__check_term_end(struct domain_decision *d, int64_t starts_us, Ledger__V1__Term term,
                       const char *what);
/* Room among the `held` things of a kind the customer holds (`what`, a
 * plural: "reservations") for `adding` more, at most `max` of them
 * (ledger_limits.h). */
__attribute__((warn_unused_result)) enum ledger_err domain__check_room(struct domain_decision *d,
                                                                       size_t held, size_t adding,
                                                                       int max, const char *what);
/* A subscription's status at at_us, and since when it has had its current
 * one. */
Ledger__V1__SubscriptionStatus domain__status_at(const struct domain_customer *customer,
                                                 const struct domain_subscription *subscription,
                                                 int64_t at_us);
int64_t domain__status_since(const struct domain_customer *customer,
                             const struct domain_subscription *subscription);
/* Rules 3 and 4's billing subscription, and rule 10's: active while a
 * reservation billed to it is. */
__attribute__((warn_unused_result)) enum ledger_err
domain__check_billing_subscription(struct domain_decision *d, const char *subscription_id,
                                   bool now_too);
__attribute__((warn_unused_result)) enum ledger_err
domain__check_active_while_reserved(struct domain_decision *d, const char *subscription_id,
                                    int64_t until_us, const char *what);
__attribute__((warn_unused_result)) enum ledger_err
domain__check_cloud_order_unheld(struct domain_decision *d, const char *cloud_order_id);
/* Money and scopes of the output's own storage. */
Ledger__V1__Money *domain__output_money(struct domain_decision *d, int slot, int64_t amount_minor,
                                        const char *currency);
Ledger__V1__Scope *domain__output_scope(Ledger__V1__Scope *scope, char *target, size_t target_size,
                                        Ledger__V1__ScopeKind kind, const char *source);

/* ---- domain_decide_permissions.c ----------------------------------------- */

/* Rule 3 for a customer user's purchase; and the purchases whose grounds a
 * change dated back would take away. */

/* Rule 3: the permission, billing subscription and role of a customer
 * user's purchase at its business time; fills out->allowed_by. */
__attribute__((warn_unused_result)) enum ledger_err
domain__check_customer_purchase(struct domain_decision *d, Ledger__V1__PermissionKind kind,
                                const char *subscription_id);
/* The purchases a change dated back would take the grounds of: rules 3 and
 * 4 are read at a purchase's business time, so a change dated at or before
 * a recorded purchase rewrites what allowed it (one dated with it is in force
 * at its instant, as the later recorded of two dated alike). A filter selects
 * them: dated at or after from_us; of the kind given (UNSPECIFIED: both);
 * billed to subscription_id and made by user, when not NULL; made by a
 * customer user when customer_only; and not still allowed by `kept_role`,
 * another role the user held then (UNSPECIFIED: none). */
struct domain_purchase_filter {
    Ledger__V1__PermissionKind kind;
    int64_t from_us;
    const char *subscription_id;
    const char *user;
    bool customer_only;
    Ledger__V1__AzureRole kept_role;
};
/* Refuses a change dated back that would undo the grounds of the latest
 * purchase the filter selects. */
__attribute__((warn_unused_result)) enum ledger_err
domain__check_not_under_purchase(struct domain_decision *d,
                                 const struct domain_purchase_filter *filter, const char *grounds,
                                 const char *change);

/* ---- domain_decide_reservations.c, domain_decide_savings.c --------------- */

/* The reservation or savings plan a command names, and the dates a change
 * of a reservation may take. */

/* The reservation a change names: the customer's, active. */
__attribute__((warn_unused_result)) enum ledger_err
domain__find_active(struct domain_decision *d, const char *reservation_id,
                    const struct domain_reservation **out);
/* A change of a reservation dated no earlier than its purchase and last
 * change. */
__attribute__((warn_unused_result)) enum ledger_err
domain__check_after_purchase(struct domain_decision *d,
                             const struct domain_reservation *reservation, const char *change);
/* A change of a reservation dated before the end of its term. */
__attribute__((warn_unused_result)) enum ledger_err
domain__check_term_running(struct domain_decision *d, const struct domain_reservation *reservation,
                           const char *change);
/* The savings plan a change names: the customer's, not ended by a renewal. */
__attribute__((warn_unused_result)) enum ledger_err
domain__find_plan_in_force(struct domain_decision *d, const char *savings_plan_id,
                           const struct domain_savings_plan **out);

/* ---- domain_decide_holdings.c -------------------------------------------- */

/* What the scope and renewal commands need of a reservation or a savings plan
 * (a holding): found among the customer's, and their current settings. */
enum domain_holding_kind { DOMAIN_HOLDING_RESERVATION, DOMAIN_HOLDING_SAVINGS_PLAN };

/* A change of a holding dated no earlier than its purchase (bought_us) and
 * its last scope or auto-renew change (changed_us). */
__attribute__((warn_unused_result)) enum ledger_err
domain__check_after_change(struct domain_decision *d, const char *noun, const char *id,
                           int64_t bought_us, int64_t changed_us, const char *change);
/* A holding's scope change: the event's from and to scopes, or UNCHANGED. */
__attribute__((warn_unused_result)) enum ledger_err
domain__decide_scope_change(struct domain_decision *d, enum domain_holding_kind kind,
                            const char *id, const Ledger__V1__Scope *scope,
                            Ledger__V1__Scope **from, Ledger__V1__Scope **to);
/* A holding's auto-renew turned on or off, or UNCHANGED. */
__attribute__((warn_unused_result)) enum ledger_err
domain__decide_renewal_change(struct domain_decision *d, enum domain_holding_kind kind,
                              const char *id, bool auto_renew);
/* The fields a reservation purchase and a savings plan purchase both carry,
 * by shape, in the order both check them: term, billing plan, scope,
 * prices. */
__attribute__((warn_unused_result)) enum ledger_err
domain__check_purchase_terms(struct domain_decision *d, Ledger__V1__Term term,
                             Ledger__V1__BillingPlan billing_plan, const Ledger__V1__Scope *scope,
                             const Ledger__V1__Money *price, const Ledger__V1__Money *retail_price);
/* A renewal command's fields by shape, then its customer. */
__attribute__((warn_unused_result)) enum ledger_err
domain__check_renewal_fields(struct domain_decision *d, const char *id, const char *field,
                             const Ledger__V1__Money *price, const Ledger__V1__Money *retail_price,
                             const char *cloud_order_id);

/* What a renewal looks at in the reservation or savings plan it renews (a
 * holding in force, found by the caller). */
struct domain_renewed_holding {
    const char *noun; /* for messages */
    const char *id;
    bool auto_renew;
    const char *currency; /* of its price */
    const char *billing_subscription_id;
    int64_t bought_us;
    int64_t changed_us;    /* its last scope or auto-renew change, else bought_us */
    int64_t expires_us;    /* where a renewal's term starts */
    Ledger__V1__Term term; /* and its length */
};

/* The domain_renewed_holding of a domain_reservation or domain_savings_plan
 * `old` (the fields they share by name). */
#define DOMAIN_RENEWED_HOLDING(noun, old)                                                          \
    {                                                                                              \
        (noun), (old)->id, (old)->auto_renew, (old)->price.currency,                               \
            (old)->billing_subscription_id, (old)->bought_us, (old)->changed_us,                   \
            (old)->expires_us, (old)->term                                                         \
    }

/* What a renewal (`renewal`, a ReservationPurchased or SavingsPlanPurchased)
 * takes from the reservation or savings plan it renews (`old`), as it stands,
 * and from its command (`body`): the same term, billing plan, scope now and
 * purchaser; the command's prices; auto-renew on; a term starting at the old
 * expiry. The renewal is the partner's commitment: the partner pays for it,
 * and a customer purchase's permission is not checked again (a customer's
 * savings plan renewed stays the customer's, hidden from partner-facing
 * views as it was). */
#define DOMAIN_RENEWAL_FROM(renewal, old, body, out)                                               \
    do {                                                                                           \
        (renewal)->term = (old)->term;                                                             \
        (renewal)->billing_plan = (old)->billing_plan;                                             \
        (renewal)->scope = domain__output_scope(&(out)->scope_to, (out)->scope_to_target,          \
                                                sizeof(out)->scope_to_target, (old)->scope.kind,   \
                                                (old)->scope.target);                              \
        (renewal)->price = (body)->price;                                                          \
        (renewal)->cloud_order_id = (body)->cloud_order_id;                                        \
        (renewal)->retail_price = (body)->retail_price;                                            \
        (renewal)->auto_renew = true;                                                              \
        (renewal)->purchaser = (old)->purchaser;                                                   \
        (renewal)->starts_us = (old)->expires_us;                                                  \
        (renewal)->expires_us = domain__term_end((old)->expires_us, (old)->term);                  \
    } while (0)

/* The rules a renewal of `old` shares, a reservation's (`reservation`) or a
 * savings plan's. */
__attribute__((warn_unused_result)) enum ledger_err
domain__check_renewal(struct domain_decision *d, const struct domain_renewed_holding *old,
                      const Ledger__V1__Money *price, bool reservation);

/* ---- each command's decision, by family ---------------------------------- */

/* Called by domain_decide's dispatcher: one event, or a refusal. */

/* domain_decide_principals.c */
__attribute__((warn_unused_result)) enum ledger_err
domain__decide_add_partner(struct domain_decision *d);
__attribute__((warn_unused_result)) enum ledger_err
domain__decide_add_principal(struct domain_decision *d);
__attribute__((warn_unused_result)) enum ledger_err
domain__decide_revoke_principal(struct domain_decision *d);
__attribute__((warn_unused_result)) enum ledger_err
domain__decide_rotate_principal_secret(struct domain_decision *d);
__attribute__((warn_unused_result)) enum ledger_err
domain__decide_onboard_customer(struct domain_decision *d);
__attribute__((warn_unused_result)) enum ledger_err
domain__decide_purchase_subscription(struct domain_decision *d);
__attribute__((warn_unused_result)) enum ledger_err
domain__decide_set_subscription_status(struct domain_decision *d);
__attribute__((warn_unused_result)) enum ledger_err
domain__decide_set_cost_visibility(struct domain_decision *d);
/* domain_decide_permissions.c: AssignRole (assign) or RemoveRole;
 * GrantPermission (grant) or RevokePermission. */
__attribute__((warn_unused_result)) enum ledger_err domain__decide_role(struct domain_decision *d,
                                                                        bool assign);
__attribute__((warn_unused_result)) enum ledger_err
domain__decide_permission(struct domain_decision *d, bool grant);
/* domain_decide_reservations.c */
__attribute__((warn_unused_result)) enum ledger_err
domain__decide_purchase_reservation(struct domain_decision *d);
__attribute__((warn_unused_result)) enum ledger_err
domain__decide_change_reservation_scope(struct domain_decision *d);
__attribute__((warn_unused_result)) enum ledger_err
domain__decide_set_reservation_renewal(struct domain_decision *d);
__attribute__((warn_unused_result)) enum ledger_err
domain__decide_renew_reservation(struct domain_decision *d);
__attribute__((warn_unused_result)) enum ledger_err
domain__decide_exchange_reservation(struct domain_decision *d);
__attribute__((warn_unused_result)) enum ledger_err
domain__decide_cancel_reservation(struct domain_decision *d);
__attribute__((warn_unused_result)) enum ledger_err
domain__decide_expire_reservation(struct domain_decision *d);
/* domain_decide_savings.c */
__attribute__((warn_unused_result)) enum ledger_err
domain__decide_purchase_savings_plan(struct domain_decision *d);
__attribute__((warn_unused_result)) enum ledger_err
domain__decide_change_savings_plan_scope(struct domain_decision *d);
__attribute__((warn_unused_result)) enum ledger_err
domain__decide_set_savings_plan_renewal(struct domain_decision *d);
__attribute__((warn_unused_result)) enum ledger_err
domain__decide_renew_savings_plan(struct domain_decision *d);
__attribute__((warn_unused_result)) enum ledger_err
domain__decide_cancel_savings_plan(struct domain_decision *d);

#endif
