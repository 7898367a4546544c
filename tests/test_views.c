/*
 * test_views.c: the projections of daemon/views.h show what the log says, to
 * whom it may be shown, and are a pure function of the log.
 *
 * Method: a small history of two partners is built by hand as Event structs
 * (sequence, stream version and times set as the engine would), packed,
 * appended to a fresh store (with the stream index) and applied to the views
 * one by one, in one write transaction, then committed. Every view is read
 * back through views_query in read transactions and compared with what the
 * history implies: reservation states after scope, renewal-flag, renewal,
 * exchange, cancellation and expiry events; orders; savings plans with and
 * without the partner-facing filter; the last event that changed each
 * reservation, savings plan and principal row (last_sequence), now and, for
 * reservations and savings plans, as of any point; permission switches and
 * their history;
 * the activity log newest first, filtered and paged, amounts in its details
 * written with each currency's digits; billing rows per month,
 * with upfront and monthly sums exact, refunds negative and future monthly
 * charges stopped by cancellations and exchanges; principals. "As of" answers
 * by time and by sequence are checked for reservations, savings plans (with
 * the partner-facing filter) and permissions, and as of the head they must
 * equal the current view byte for byte. Bad input is
 * refused with the exact code. The views are dropped and rebuilt from the
 * log: digests must be identical, and differ after one changed byte. A log of
 * more than LEDGER_ACTIVITY_SCAN_MAX entries shows that one activity request
 * stops scanning there and hands out a token, that filtered pages of every
 * size continue past it with exactly the matching rows, and (codec's unpack
 * wrapped and counted) that entries a filter leaves out are not decoded.
 * Last, a seeded realistic history
 * (tests/support/histgen.h, a few thousand events) is driven through the real
 * engine, and for every customer: as of the head equals the view, every
 * reservation has its order, billing charges add up to each price (no more
 * for monthly reservations ended early), refund rows equal the log's refunds,
 * and paging the activity log visits every event of the partner once.
 * "As of" a business time is checked on the hand-built history (a purchase
 * dated back, an expiry recorded after the term, events dated before what
 * they act on) and on a generated history copied with many events dated
 * otherwise, where every answer for many dates, with and without a
 * sequence bound, must agree with a model of the rules written here.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "codec.h"
#include "crypto.h"
#include "domain.h"
#include "engine.h"
#include "histgen.h"
#include "histload.h"
#include "ledger_limits.h"
#include "store.h"
#include "support/engine_fixture.h"
#include "test_util.h"
#include "views.h"
#include "views_internal.h"

/* Stored rows are decoded through codec_message_unpack, which this target
 * wraps (tests/CMakeLists.txt) to count the activity rows decoded: a filter
 * that leaves a row out need not decode it, and on a large log that is most
 * of an activity page's time. */
enum ledger_err __real_codec_message_unpack(const ProtobufCMessageDescriptor *descriptor,
                                            const uint8_t *bytes, size_t size, size_t size_max,
                                            enum ledger_err on_error, ProtobufCMessage **out);
enum ledger_err __wrap_codec_message_unpack(const ProtobufCMessageDescriptor *descriptor,
                                            const uint8_t *bytes, size_t size, size_t size_max,
                                            enum ledger_err on_error, ProtobufCMessage **out);
static uint64_t activity_rows_decoded;

enum ledger_err __wrap_codec_message_unpack(const ProtobufCMessageDescriptor *descriptor,
                                            const uint8_t *bytes, size_t size, size_t size_max,
                                            enum ledger_err on_error, ProtobufCMessage **out)
{
    if (descriptor == &ledger__v1__activity_row__descriptor) {
        activity_rows_decoded++;
    }
    return __real_codec_message_unpack(descriptor, bytes, size, size_max, on_error, out);
}

#define assert_ok(expression) assert_int_equal((expression), LEDGER_ERR_OK)

/* --- building a history ------------------------------------------------------------------ */

struct fixture {
    char dir[512];
    struct store *store;
    struct store_txn *txn; /* the write transaction while building */
    /* When not 0, the business time of the next event emit() writes, which
     * then goes back to dating events when they are recorded: lets a test
     * date back (or ahead) an event of any helper below. */
    int64_t dated_next_us;
};

static int64_t utc(int year, int month, int day)
{
    struct tm tm = {0};
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    return (int64_t)timegm(&tm) * 1000000;
}

#define YEAR_US (INT64_C(365) * 86400 * 1000000)

static Ledger__V1__Actor actor_operator = {PROTOBUF_C_MESSAGE_INIT(&ledger__v1__actor__descriptor),
                                           "operator", LEDGER__V1__ROLE__ROLE_OPERATOR, ""};
static Ledger__V1__Actor actor_admin = {PROTOBUF_C_MESSAGE_INIT(&ledger__v1__actor__descriptor),
                                        "admin-1", LEDGER__V1__ROLE__ROLE_ADMIN_AGENT, ""};
static Ledger__V1__Actor actor_user = {PROTOBUF_C_MESSAGE_INIT(&ledger__v1__actor__descriptor),
                                       "u-1", LEDGER__V1__ROLE__ROLE_CUSTOMER_USER, "u-1"};
static Ledger__V1__Actor actor_admin2 = {PROTOBUF_C_MESSAGE_INIT(&ledger__v1__actor__descriptor),
                                         "admin-2", LEDGER__V1__ROLE__ROLE_ADMIN_AGENT, ""};

/* Appends the event as the engine does and applies it to the views, recorded
 * at `recorded_us` and dated `business_us` (0: none given). The caller has
 * set the body; this sets the envelope. Returns the sequence. */
static uint64_t emit_dated(struct fixture *f, Ledger__V1__Event *e, const char *partner_id,
                           const char *customer_id, Ledger__V1__Actor *actor, int64_t recorded_us,
                           int64_t business_us)
{
    e->sequence = store_last_sequence(f->txn) + 1;
    e->partner_id = (char *)partner_id;
    e->customer_id = (char *)customer_id;
    e->actor = actor;
    e->recorded_us = recorded_us;
    e->business_us = business_us;
    e->schema_version = LEDGER_SCHEMA_VERSION;
    e->command_id = "cmd";
    uint64_t version = 0;
    if (customer_id[0] != '\0') {
        assert_ok(store_stream_version(f->txn, partner_id, customer_id, &version));
        e->stream_version = version + 1;
    }
    uint8_t *bytes = NULL;
    size_t size = 0;
    assert_ok(codec_pack(&e->base, &bytes, &size));
    uint64_t sequence = 0;
    uint8_t leaf[STORE_HASH_BYTES];
    assert_ok(store_append(f->txn, bytes, size, &sequence, leaf));
    free(bytes);
    assert_int_equal(sequence, e->sequence);
    if (customer_id[0] != '\0') {
        assert_ok(store_stream_add(f->txn, partner_id, customer_id, sequence, &version));
        assert_int_equal(version, e->stream_version);
    }
    assert_ok(views_apply(f->txn, e));
    return sequence;
}

/* emit_dated of an event dated when it is recorded, or at f->dated_next_us. */
static uint64_t emit(struct fixture *f, Ledger__V1__Event *e, const char *partner_id,
                     const char *customer_id, Ledger__V1__Actor *actor, int64_t time_us)
{
    int64_t business_us = f->dated_next_us != 0 ? f->dated_next_us : time_us;
    f->dated_next_us = 0;
    return emit_dated(f, e, partner_id, customer_id, actor, time_us, business_us);
}

static uint64_t partner_registered(struct fixture *f, const char *partner_id, const char *name,
                                   int64_t t)
{
    Ledger__V1__Event e = LEDGER__V1__EVENT__INIT;
    Ledger__V1__PartnerRegistered body = LEDGER__V1__PARTNER_REGISTERED__INIT;
    body.name = (char *)name;
    e.body_case = LEDGER__V1__EVENT__BODY_PARTNER_REGISTERED;
    e.partner_registered = &body;
    return emit(f, &e, partner_id, "", &actor_operator, t);
}

static uint64_t principal_added(struct fixture *f, const char *principal_id, Ledger__V1__Role role,
                                const char *partner_id, const char *customer_id, int64_t t)
{
    Ledger__V1__Event e = LEDGER__V1__EVENT__INIT;
    Ledger__V1__PrincipalAdded body = LEDGER__V1__PRINCIPAL_ADDED__INIT;
    body.principal_id = (char *)principal_id;
    body.role = role;
    body.partner_id = (char *)partner_id;
    body.customer_id = (char *)customer_id;
    body.user = customer_id[0] != '\0' ? (char *)principal_id : "";
    e.body_case = LEDGER__V1__EVENT__BODY_PRINCIPAL_ADDED;
    e.principal_added = &body;
    return emit(f, &e, "", "", &actor_operator, t);
}

static uint64_t principal_revoked(struct fixture *f, const char *principal_id, int64_t t)
{
    Ledger__V1__Event e = LEDGER__V1__EVENT__INIT;
    Ledger__V1__PrincipalRevoked body = LEDGER__V1__PRINCIPAL_REVOKED__INIT;
    body.principal_id = (char *)principal_id;
    e.body_case = LEDGER__V1__EVENT__BODY_PRINCIPAL_REVOKED;
    e.principal_revoked = &body;
    return emit(f, &e, "", "", &actor_operator, t);
}

/* Recorded, as the engine records it, under the principal's partner. */
static uint64_t principal_secret_rotated(struct fixture *f, const char *principal_id,
                                         const char *partner_id, int64_t t)
{
    Ledger__V1__Event e = LEDGER__V1__EVENT__INIT;
    Ledger__V1__PrincipalSecretRotated body = LEDGER__V1__PRINCIPAL_SECRET_ROTATED__INIT;
    body.principal_id = (char *)principal_id;
    e.body_case = LEDGER__V1__EVENT__BODY_PRINCIPAL_SECRET_ROTATED;
    e.principal_secret_rotated = &body;
    return emit(f, &e, partner_id, "", &actor_operator, t);
}

static uint64_t customer_onboarded(struct fixture *f, const char *partner_id,
                                   const char *customer_id, Ledger__V1__Actor *actor, int64_t t)
{
    Ledger__V1__Event e = LEDGER__V1__EVENT__INIT;
    Ledger__V1__CustomerOnboarded body = LEDGER__V1__CUSTOMER_ONBOARDED__INIT;
    body.name = "Fabrikam";
    e.body_case = LEDGER__V1__EVENT__BODY_CUSTOMER_ONBOARDED;
    e.customer_onboarded = &body;
    return emit(f, &e, partner_id, customer_id, actor, t);
}

/* A SubscriptionPurchased of `subscription_id`. */
static uint64_t subscription_bought(struct fixture *f, const char *partner_id,
                                    const char *customer_id, const char *subscription_id,
                                    Ledger__V1__Actor *actor, int64_t t)
{
    Ledger__V1__Event e = LEDGER__V1__EVENT__INIT;
    Ledger__V1__SubscriptionPurchased body = LEDGER__V1__SUBSCRIPTION_PURCHASED__INIT;
    body.subscription_id = (char *)subscription_id;
    body.offer = LEDGER__V1__OFFER__OFFER_AZURE_PLAN;
    e.body_case = LEDGER__V1__EVENT__BODY_SUBSCRIPTION_PURCHASED;
    e.subscription_purchased = &body;
    return emit(f, &e, partner_id, customer_id, actor, t);
}

static uint64_t subscription_purchased(struct fixture *f, const char *partner_id,
                                       const char *customer_id, Ledger__V1__Actor *actor, int64_t t)
{
    return subscription_bought(f, partner_id, customer_id, "s-1", actor, t);
}

static uint64_t role_assigned(struct fixture *f, int64_t t)
{
    Ledger__V1__Event e = LEDGER__V1__EVENT__INIT;
    Ledger__V1__RoleAssigned body = LEDGER__V1__ROLE_ASSIGNED__INIT;
    body.subscription_id = "s-1";
    body.user = "u-1";
    body.role = LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER;
    e.body_case = LEDGER__V1__EVENT__BODY_ROLE_ASSIGNED;
    e.role_assigned = &body;
    return emit(f, &e, "p-1", "c-1", &actor_admin, t);
}

static uint64_t permission(struct fixture *f, const char *customer_id,
                           Ledger__V1__PermissionKind kind, bool on, int64_t t)
{
    Ledger__V1__Event e = LEDGER__V1__EVENT__INIT;
    Ledger__V1__PurchasePermissionGranted granted = LEDGER__V1__PURCHASE_PERMISSION_GRANTED__INIT;
    Ledger__V1__PurchasePermissionRevoked revoked = LEDGER__V1__PURCHASE_PERMISSION_REVOKED__INIT;
    if (on) {
        granted.kind = kind;
        e.body_case = LEDGER__V1__EVENT__BODY_PURCHASE_PERMISSION_GRANTED;
        e.purchase_permission_granted = &granted;
    } else {
        revoked.kind = kind;
        e.body_case = LEDGER__V1__EVENT__BODY_PURCHASE_PERMISSION_REVOKED;
        e.purchase_permission_revoked = &revoked;
    }
    return emit(f, &e, "p-1", customer_id, &actor_admin, t);
}

/* Storage for one ReservationPurchased and what it points to. */
struct purchase {
    Ledger__V1__ReservationPurchased message;
    Ledger__V1__Scope scope;
    Ledger__V1__Money price, retail;
    Ledger__V1__AllowedBy allowed_by;
};

static void purchase_fill(struct purchase *p, const char *reservation_id, const char *order_id,
                          Ledger__V1__Purchaser purchaser, Ledger__V1__BillingPlan plan,
                          Ledger__V1__Term term, int64_t price, int64_t retail, int64_t t)
{
    ledger__v1__reservation_purchased__init(&p->message);
    ledger__v1__scope__init(&p->scope);
    ledger__v1__money__init(&p->price);
    ledger__v1__money__init(&p->retail);
    ledger__v1__allowed_by__init(&p->allowed_by);
    p->scope.kind = LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SINGLE;
    p->scope.target = "s-1";
    p->price.amount_minor = price;
    p->price.currency = "USD";
    p->retail.amount_minor = retail;
    p->retail.currency = "USD";
    p->message.order_id = (char *)order_id;
    p->message.reservation_id = (char *)reservation_id;
    p->message.billing_subscription_id = "s-1";
    p->message.sku = "Standard_D2s_v5";
    p->message.region = "westeurope";
    p->message.quantity = 3;
    p->message.term = term;
    p->message.billing_plan = plan;
    p->message.scope = &p->scope;
    p->message.price = &p->price;
    p->message.retail_price = &p->retail;
    p->message.purchaser = purchaser;
    p->message.starts_us = t;
    p->message.expires_us = t + (term == LEDGER__V1__TERM__TERM_P3Y   ? 3
                                 : term == LEDGER__V1__TERM__TERM_P5Y ? 5
                                                                      : 1) *
                                    YEAR_US;
    if (purchaser == LEDGER__V1__PURCHASER__PURCHASER_CUSTOMER) {
        p->allowed_by.permission_sequence = 7;
        p->allowed_by.role_sequence = 6;
        p->message.allowed_by = &p->allowed_by;
    }
}

static uint64_t reservation_purchased(struct fixture *f, const char *partner_id,
                                      const char *customer_id, Ledger__V1__Actor *actor,
                                      const char *reservation_id, const char *order_id,
                                      Ledger__V1__Purchaser purchaser, Ledger__V1__BillingPlan plan,
                                      Ledger__V1__Term term, int64_t price, int64_t retail,
                                      int64_t t)
{
    struct purchase p;
    purchase_fill(&p, reservation_id, order_id, purchaser, plan, term, price, retail, t);
    Ledger__V1__Event e = LEDGER__V1__EVENT__INIT;
    e.body_case = LEDGER__V1__EVENT__BODY_RESERVATION_PURCHASED;
    e.reservation_purchased = &p.message;
    return emit(f, &e, partner_id, customer_id, actor, t);
}

/* A savings plan bought (by a purchase or a renewal) and the messages it
 * points to. */
struct plan_purchase {
    Ledger__V1__SavingsPlanPurchased message;
    Ledger__V1__Scope scope;
    Ledger__V1__Money hourly, price, retail;
};

/* A savings plan of subscription s-1 in `currency` with an hourly commitment
 * of `hourly` minor units, its term starting at starts_us. */
static void plan_fill(struct plan_purchase *p, const char *savings_plan_id,
                      Ledger__V1__Purchaser purchaser, Ledger__V1__BillingPlan plan,
                      Ledger__V1__Term term, const char *currency, int64_t hourly_minor,
                      int64_t price, int64_t retail, int64_t starts_us)
{
    Ledger__V1__SavingsPlanPurchased message = LEDGER__V1__SAVINGS_PLAN_PURCHASED__INIT;
    Ledger__V1__Scope scope = LEDGER__V1__SCOPE__INIT;
    Ledger__V1__Money money = LEDGER__V1__MONEY__INIT;
    p->message = message;
    p->scope = scope;
    p->hourly = p->price = p->retail = money;
    p->scope.kind = LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SINGLE;
    p->scope.target = "s-1";
    p->hourly.amount_minor = hourly_minor;
    p->price.amount_minor = price;
    p->retail.amount_minor = retail;
    p->hourly.currency = p->price.currency = p->retail.currency = (char *)currency;
    p->message.savings_plan_id = (char *)savings_plan_id;
    p->message.billing_subscription_id = "s-1";
    p->message.hourly_commitment = &p->hourly;
    p->message.term = term;
    p->message.billing_plan = plan;
    p->message.scope = &p->scope;
    p->message.price = &p->price;
    p->message.retail_price = &p->retail;
    p->message.purchaser = purchaser;
    p->message.starts_us = starts_us;
    p->message.expires_us = starts_us + (term == LEDGER__V1__TERM__TERM_P3Y ? 3 : 1) * YEAR_US;
}

/* A savings plan bought in `currency` with an hourly commitment of
 * `hourly` minor units. */
static uint64_t savings_plan_purchased_in(struct fixture *f, const char *savings_plan_id,
                                          Ledger__V1__Actor *actor, Ledger__V1__Purchaser purchaser,
                                          Ledger__V1__BillingPlan plan, Ledger__V1__Term term,
                                          const char *currency, int64_t hourly_minor, int64_t price,
                                          int64_t retail, int64_t t)
{
    struct plan_purchase p;
    plan_fill(&p, savings_plan_id, purchaser, plan, term, currency, hourly_minor, price, retail, t);
    Ledger__V1__Event e = LEDGER__V1__EVENT__INIT;
    e.body_case = LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_PURCHASED;
    e.savings_plan_purchased = &p.message;
    return emit(f, &e, "p-1", "c-1", actor, t);
}

static uint64_t savings_plan_purchased(struct fixture *f, const char *savings_plan_id,
                                       Ledger__V1__Actor *actor, Ledger__V1__Purchaser purchaser,
                                       Ledger__V1__BillingPlan plan, Ledger__V1__Term term,
                                       int64_t price, int64_t retail, int64_t t)
{
    return savings_plan_purchased_in(f, savings_plan_id, actor, purchaser, plan, term, "USD", 150,
                                     price, retail, t);
}

static Ledger__V1__Scope scope_shared = {PROTOBUF_C_MESSAGE_INIT(&ledger__v1__scope__descriptor),
                                         LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SHARED, ""};
static Ledger__V1__Scope scope_single = {PROTOBUF_C_MESSAGE_INIT(&ledger__v1__scope__descriptor),
                                         LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SINGLE, "s-1"};

static uint64_t reservation_scope_changed(struct fixture *f, const char *id, int64_t t)
{
    Ledger__V1__ReservationScopeChanged body = LEDGER__V1__RESERVATION_SCOPE_CHANGED__INIT;
    body.reservation_id = (char *)id;
    body.from_scope = &scope_single;
    body.to_scope = &scope_shared;
    Ledger__V1__Event e = LEDGER__V1__EVENT__INIT;
    e.body_case = LEDGER__V1__EVENT__BODY_RESERVATION_SCOPE_CHANGED;
    e.reservation_scope_changed = &body;
    return emit(f, &e, "p-1", "c-1", &actor_admin, t);
}

static uint64_t reservation_renewal_set(struct fixture *f, const char *id, bool on, int64_t t)
{
    Ledger__V1__ReservationRenewalSet body = LEDGER__V1__RESERVATION_RENEWAL_SET__INIT;
    body.reservation_id = (char *)id;
    body.auto_renew = on;
    Ledger__V1__Event e = LEDGER__V1__EVENT__INIT;
    e.body_case = LEDGER__V1__EVENT__BODY_RESERVATION_RENEWAL_SET;
    e.reservation_renewal_set = &body;
    return emit(f, &e, "p-1", "c-1", &actor_admin, t);
}

static uint64_t savings_plan_scope_changed(struct fixture *f, const char *id, int64_t t)
{
    Ledger__V1__SavingsPlanScopeChanged body = LEDGER__V1__SAVINGS_PLAN_SCOPE_CHANGED__INIT;
    body.savings_plan_id = (char *)id;
    body.from_scope = &scope_single;
    body.to_scope = &scope_shared;
    Ledger__V1__Event e = LEDGER__V1__EVENT__INIT;
    e.body_case = LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_SCOPE_CHANGED;
    e.savings_plan_scope_changed = &body;
    return emit(f, &e, "p-1", "c-1", &actor_admin, t);
}

static uint64_t savings_plan_renewal_set(struct fixture *f, const char *id, bool on, int64_t t)
{
    Ledger__V1__SavingsPlanRenewalSet body = LEDGER__V1__SAVINGS_PLAN_RENEWAL_SET__INIT;
    body.savings_plan_id = (char *)id;
    body.auto_renew = on;
    Ledger__V1__Event e = LEDGER__V1__EVENT__INIT;
    e.body_case = LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_RENEWAL_SET;
    e.savings_plan_renewal_set = &body;
    return emit(f, &e, "p-1", "c-1", &actor_admin, t);
}

static uint64_t reservation_cancelled(struct fixture *f, const char *id, int64_t refund, int64_t t)
{
    Ledger__V1__ReservationCancelled body = LEDGER__V1__RESERVATION_CANCELLED__INIT;
    Ledger__V1__Money money = LEDGER__V1__MONEY__INIT;
    money.amount_minor = refund;
    money.currency = "USD";
    body.reservation_id = (char *)id;
    body.refund = &money;
    body.refund_usd = &money;
    Ledger__V1__Event e = LEDGER__V1__EVENT__INIT;
    e.body_case = LEDGER__V1__EVENT__BODY_RESERVATION_CANCELLED;
    e.reservation_cancelled = &body;
    return emit(f, &e, "p-1", "c-1", &actor_admin, t);
}

static uint64_t reservation_exchanged(struct fixture *f, char *returned_id, int64_t refund,
                                      struct purchase *replacement, int64_t t)
{
    Ledger__V1__ReservationExchanged body = LEDGER__V1__RESERVATION_EXCHANGED__INIT;
    Ledger__V1__Money money = LEDGER__V1__MONEY__INIT;
    money.amount_minor = refund;
    money.currency = "USD";
    char *ids[1] = {returned_id};
    body.n_returned_reservation_ids = 1;
    body.returned_reservation_ids = ids;
    body.refund = &money;
    body.remaining_commitment = &money;
    Ledger__V1__ReservationPurchased *replacements[1] = {&replacement->message};
    body.n_replacements = 1;
    body.replacements = replacements;
    Ledger__V1__Event e = LEDGER__V1__EVENT__INIT;
    e.body_case = LEDGER__V1__EVENT__BODY_RESERVATION_EXCHANGED;
    e.reservation_exchanged = &body;
    return emit(f, &e, "p-1", "c-1", &actor_admin, t);
}

/* An exchange of one reservation for `count` replacements. */
static uint64_t reservation_exchanged_for(struct fixture *f, char *returned_id, int64_t refund,
                                          struct purchase *replacements, size_t count, int64_t t)
{
    Ledger__V1__ReservationExchanged body = LEDGER__V1__RESERVATION_EXCHANGED__INIT;
    Ledger__V1__Money money = LEDGER__V1__MONEY__INIT;
    money.amount_minor = refund;
    money.currency = "USD";
    char *ids[1] = {returned_id};
    Ledger__V1__ReservationPurchased *bought[LEDGER_EXCHANGE_REPLACEMENTS_MAX];
    assert_true(count <= sizeof bought / sizeof bought[0]);
    for (size_t i = 0; i < count; i++) {
        bought[i] = &replacements[i].message;
    }
    body.n_returned_reservation_ids = 1;
    body.returned_reservation_ids = ids;
    body.refund = &money;
    body.remaining_commitment = &money;
    body.n_replacements = count;
    body.replacements = bought;
    Ledger__V1__Event e = LEDGER__V1__EVENT__INIT;
    e.body_case = LEDGER__V1__EVENT__BODY_RESERVATION_EXCHANGED;
    e.reservation_exchanged = &body;
    return emit(f, &e, "p-1", "c-1", &actor_admin, t);
}

static uint64_t reservation_renewed(struct fixture *f, const char *id, struct purchase *renewal,
                                    int64_t t)
{
    Ledger__V1__ReservationRenewed body = LEDGER__V1__RESERVATION_RENEWED__INIT;
    body.reservation_id = (char *)id;
    body.renewal = &renewal->message;
    Ledger__V1__Event e = LEDGER__V1__EVENT__INIT;
    e.body_case = LEDGER__V1__EVENT__BODY_RESERVATION_RENEWED;
    e.reservation_renewed = &body;
    return emit(f, &e, "p-1", "c-1", &actor_admin, t);
}

/* A SavingsPlanRenewed of `old_id` for `renewal` (borrowed) by the admin
 * agent, recorded at t. */
static uint64_t savings_plan_renewed_as(struct fixture *f, const char *old_id,
                                        struct plan_purchase *renewal, int64_t t)
{
    Ledger__V1__SavingsPlanRenewed body = LEDGER__V1__SAVINGS_PLAN_RENEWED__INIT;
    body.savings_plan_id = (char *)old_id;
    body.renewal = &renewal->message;
    Ledger__V1__Event e = LEDGER__V1__EVENT__INIT;
    e.body_case = LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_RENEWED;
    e.savings_plan_renewed = &body;
    return emit(f, &e, "p-1", "c-1", &actor_admin, t);
}

/* A SavingsPlanRenewed of `old_id` by the admin agent, recorded at t: its
 * renewal `new_id` as savings_plan_purchased would buy it at starts_us. */
static uint64_t savings_plan_renewed(struct fixture *f, const char *old_id, const char *new_id,
                                     Ledger__V1__Purchaser purchaser, Ledger__V1__BillingPlan plan,
                                     Ledger__V1__Term term, int64_t price, int64_t retail,
                                     int64_t starts_us, int64_t t)
{
    struct plan_purchase renewal;
    plan_fill(&renewal, new_id, purchaser, plan, term, "USD", 150, price, retail, starts_us);
    renewal.message.auto_renew = true;
    return savings_plan_renewed_as(f, old_id, &renewal, t);
}

static uint64_t reservation_expired(struct fixture *f, const char *id, int64_t t)
{
    Ledger__V1__ReservationExpired body = LEDGER__V1__RESERVATION_EXPIRED__INIT;
    body.reservation_id = (char *)id;
    Ledger__V1__Event e = LEDGER__V1__EVENT__INIT;
    e.body_case = LEDGER__V1__EVENT__BODY_RESERVATION_EXPIRED;
    e.reservation_expired = &body;
    return emit(f, &e, "p-1", "c-1", &actor_admin, t);
}

/* The sequences of the history, as the tests refer to them. */
enum {
    SEQ_PARTNER_1 = 1,
    SEQ_PARTNER_2 = 2,
    SEQ_ADMIN_1 = 3,
    SEQ_USER_1 = 4,
    SEQ_ADMIN_2 = 5,
    SEQ_ONBOARD_C1 = 6,
    SEQ_SUBSCRIPTION_C1 = 7,
    SEQ_ROLE = 8,
    SEQ_GRANT_RES = 9,
    SEQ_RES_A = 10, /* res-a: partner, upfront P1Y 12000/15000, 2025-01-15 */
    SEQ_RES_B = 11, /* res-b: customer, monthly P1Y 1000/1200, 2025-02-10 */
    SEQ_GRANT_SP = 12,
    SEQ_SP_CUSTOMER = 13, /* sp-c: customer, upfront P1Y 5000/6000, 2025-02-12 */
    SEQ_SP_PARTNER = 14,  /* sp-p: partner, monthly P3Y 3601/3700, 2025-03-01 */
    SEQ_ONBOARD_C2 = 15,
    SEQ_SCOPE_A = 16,
    SEQ_RENEWAL_FLAG_A = 17,
    SEQ_SP_SCOPE = 18,
    SEQ_SP_RENEWAL_FLAG = 19,
    SEQ_REVOKE_RES = 20, /* 2025-04-01 */
    SEQ_CANCEL_B = 21,   /* refund 500, 2025-05-20 */
    SEQ_RES_C = 22,      /* res-c: partner, monthly P1Y 2400/2400, 2025-06-01 */
    SEQ_EXCHANGE_C = 23, /* res-c -> res-d upfront P3Y 9000/9900, refund 2000, 2025-07-15 */
    SEQ_P2_ONBOARD = 24,
    SEQ_P2_RES = 25, /* partner 2, customer c-1 (same id), res-a (same id) */
    SEQ_REVOKE_USER = 26,
    SEQ_RENEW_A = 27,  /* res-a -> res-e upfront P1Y 11000/14000, 2026-01-15 */
    SEQ_EXPIRE_D = 28, /* 2028-07-15 */
    SEQ_LAST = 28,
};

static void build_history(struct fixture *f)
{
    assert_ok(store_begin(f->store, true, &f->txn));
    const Ledger__V1__Purchaser partner = LEDGER__V1__PURCHASER__PURCHASER_PARTNER;
    const Ledger__V1__Purchaser customer = LEDGER__V1__PURCHASER__PURCHASER_CUSTOMER;
    const Ledger__V1__BillingPlan upfront = LEDGER__V1__BILLING_PLAN__BILLING_PLAN_UPFRONT;
    const Ledger__V1__BillingPlan monthly = LEDGER__V1__BILLING_PLAN__BILLING_PLAN_MONTHLY;
    const Ledger__V1__Term p1y = LEDGER__V1__TERM__TERM_P1Y;
    const Ledger__V1__Term p3y = LEDGER__V1__TERM__TERM_P3Y;
    const Ledger__V1__PermissionKind reservations =
        LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_RESERVATIONS;
    const Ledger__V1__PermissionKind savings_plans =
        LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_SAVINGS_PLANS;

    assert_int_equal(partner_registered(f, "p-1", "Contoso", utc(2025, 1, 1)), SEQ_PARTNER_1);
    assert_int_equal(partner_registered(f, "p-2", "Northwind", utc(2025, 1, 1)), SEQ_PARTNER_2);
    assert_int_equal(principal_added(f, "admin-1", LEDGER__V1__ROLE__ROLE_ADMIN_AGENT, "p-1", "",
                                     utc(2025, 1, 2)),
                     SEQ_ADMIN_1);
    assert_int_equal(principal_added(f, "u-1", LEDGER__V1__ROLE__ROLE_CUSTOMER_USER, "p-1", "c-1",
                                     utc(2025, 1, 2)),
                     SEQ_USER_1);
    assert_int_equal(principal_added(f, "admin-2", LEDGER__V1__ROLE__ROLE_ADMIN_AGENT, "p-2", "",
                                     utc(2025, 1, 2)),
                     SEQ_ADMIN_2);
    assert_int_equal(customer_onboarded(f, "p-1", "c-1", &actor_admin, utc(2025, 1, 3)),
                     SEQ_ONBOARD_C1);
    assert_int_equal(subscription_purchased(f, "p-1", "c-1", &actor_admin, utc(2025, 1, 4)),
                     SEQ_SUBSCRIPTION_C1);
    assert_int_equal(role_assigned(f, utc(2025, 1, 5)), SEQ_ROLE);
    assert_int_equal(permission(f, "c-1", reservations, true, utc(2025, 1, 10)), SEQ_GRANT_RES);
    assert_int_equal(reservation_purchased(f, "p-1", "c-1", &actor_admin, "res-a", "ord-a", partner,
                                           upfront, p1y, 12000, 15000, utc(2025, 1, 15)),
                     SEQ_RES_A);
    assert_int_equal(reservation_purchased(f, "p-1", "c-1", &actor_user, "res-b", "ord-b", customer,
                                           monthly, p1y, 1000, 1200, utc(2025, 2, 10)),
                     SEQ_RES_B);
    assert_int_equal(permission(f, "c-1", savings_plans, true, utc(2025, 2, 11)), SEQ_GRANT_SP);
    assert_int_equal(savings_plan_purchased(f, "sp-c", &actor_user, customer, upfront, p1y, 5000,
                                            6000, utc(2025, 2, 12)),
                     SEQ_SP_CUSTOMER);
    assert_int_equal(savings_plan_purchased(f, "sp-p", &actor_admin, partner, monthly, p3y, 3601,
                                            3700, utc(2025, 3, 1)),
                     SEQ_SP_PARTNER);
    assert_int_equal(customer_onboarded(f, "p-1", "c-2", &actor_admin, utc(2025, 3, 2)),
                     SEQ_ONBOARD_C2);
    assert_int_equal(reservation_scope_changed(f, "res-a", utc(2025, 3, 5)), SEQ_SCOPE_A);
    assert_int_equal(reservation_renewal_set(f, "res-a", true, utc(2025, 3, 6)),
                     SEQ_RENEWAL_FLAG_A);
    assert_int_equal(savings_plan_scope_changed(f, "sp-c", utc(2025, 3, 7)), SEQ_SP_SCOPE);
    assert_int_equal(savings_plan_renewal_set(f, "sp-c", true, utc(2025, 3, 8)),
                     SEQ_SP_RENEWAL_FLAG);
    assert_int_equal(permission(f, "c-1", reservations, false, utc(2025, 4, 1)), SEQ_REVOKE_RES);
    assert_int_equal(reservation_cancelled(f, "res-b", 500, utc(2025, 5, 20)), SEQ_CANCEL_B);
    assert_int_equal(reservation_purchased(f, "p-1", "c-1", &actor_admin, "res-c", "ord-c", partner,
                                           monthly, p1y, 2400, 2400, utc(2025, 6, 1)),
                     SEQ_RES_C);
    struct purchase replacement;
    purchase_fill(&replacement, "res-d", "ord-d", partner, upfront, p3y, 9000, 9900,
                  utc(2025, 7, 15));
    assert_int_equal(reservation_exchanged(f, "res-c", 2000, &replacement, utc(2025, 7, 15)),
                     SEQ_EXCHANGE_C);
    assert_int_equal(customer_onboarded(f, "p-2", "c-1", &actor_admin2, utc(2025, 8, 1)),
                     SEQ_P2_ONBOARD);
    assert_int_equal(reservation_purchased(f, "p-2", "c-1", &actor_admin2, "res-a", "ord-x",
                                           partner, upfront, p1y, 777, 888, utc(2025, 8, 2)),
                     SEQ_P2_RES);
    assert_int_equal(principal_revoked(f, "u-1", utc(2025, 9, 1)), SEQ_REVOKE_USER);
    struct purchase renewal;
    purchase_fill(&renewal, "res-e", "ord-e", partner, upfront, p1y, 11000, 14000,
                  utc(2026, 1, 15));
    assert_int_equal(reservation_renewed(f, "res-a", &renewal, utc(2026, 1, 15)), SEQ_RENEW_A);
    assert_int_equal(reservation_expired(f, "res-d", utc(2028, 7, 15)), SEQ_EXPIRE_D);
    assert_ok(store_commit(f->txn));
    f->txn = NULL;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    assert_ok(crypto_init());
    test_make_dir(f->dir, sizeof f->dir, "views");
    struct store_options options = {.dir = f->dir, .no_sync = true};
    assert_ok(store_open(&options, &f->store));
    build_history(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    store_close(f->store);
    test_remove_dir(f->dir);
    free(f);
    return 0;
}

/* --- querying ------------------------------------------------------------------------------ */

static const struct views_scope partner_staff = {"p-1", "", true};
static const struct views_scope auditor = {"p-1", "", false};

static enum ledger_err run(struct fixture *f, const struct views_scope *scope,
                           const Ledger__V1__Query *query, Ledger__V1__QueryResult *result)
{
    char message[256];
    struct store_txn *txn = NULL;
    assert_ok(store_begin(f->store, false, &txn));
    ledger__v1__query_result__init(result);
    enum ledger_err err = views_query(txn, scope, query, result, message);
    store_abort(txn);
    if (err != LEDGER_ERR_OK) {
        /* Every refusal says what to fix. */
        assert_true(message[0] != '\0');
        assert_int_equal(result->n_reservations + result->n_activity + result->n_billing, 0);
    }
    return err;
}

/* The reservations as of business time `dated_us` (0: not by business
 * time), recorded time `time_us` and sequence `sequence` (0: unbounded). */
static enum ledger_err reservations_dated(struct fixture *f, const struct views_scope *scope,
                                          const char *customer_id, int64_t dated_us,
                                          int64_t time_us, uint64_t sequence,
                                          Ledger__V1__QueryResult *result)
{
    Ledger__V1__ReservationsQuery rq = LEDGER__V1__RESERVATIONS_QUERY__INIT;
    Ledger__V1__AsOf as_of = LEDGER__V1__AS_OF__INIT;
    rq.customer_id = (char *)customer_id;
    as_of.time_us = time_us;
    as_of.sequence = sequence;
    as_of.business_time_us = dated_us;
    rq.as_of = &as_of;
    Ledger__V1__Query q = LEDGER__V1__QUERY__INIT;
    q.kind_case = LEDGER__V1__QUERY__KIND_RESERVATIONS;
    q.reservations = &rq;
    return run(f, scope, &q, result);
}

static enum ledger_err reservations(struct fixture *f, const struct views_scope *scope,
                                    const char *customer_id, int64_t time_us, uint64_t sequence,
                                    Ledger__V1__QueryResult *result)
{
    return reservations_dated(f, scope, customer_id, 0, time_us, sequence, result);
}

/* The orders of `customer_id` ordered at or after `from_us` (0: all). */
static enum ledger_err orders_query(struct fixture *f, const struct views_scope *scope,
                                    const char *customer_id, int64_t from_us,
                                    Ledger__V1__QueryResult *result)
{
    Ledger__V1__OrdersQuery oq = LEDGER__V1__ORDERS_QUERY__INIT;
    oq.customer_id = (char *)customer_id;
    oq.from_us = from_us;
    Ledger__V1__Query q = LEDGER__V1__QUERY__INIT;
    q.kind_case = LEDGER__V1__QUERY__KIND_ORDERS;
    q.orders = &oq;
    return run(f, scope, &q, result);
}

/* The permissions as of business time `dated_us` (0: not by business time),
 * recorded time `time_us` and sequence `sequence` (0: unbounded). */
static enum ledger_err permissions_dated(struct fixture *f, const char *customer_id, bool history,
                                         int64_t dated_us, int64_t time_us, uint64_t sequence,
                                         Ledger__V1__QueryResult *result)
{
    Ledger__V1__PermissionsQuery pq = LEDGER__V1__PERMISSIONS_QUERY__INIT;
    Ledger__V1__AsOf as_of = LEDGER__V1__AS_OF__INIT;
    pq.customer_id = (char *)customer_id;
    pq.history = history;
    as_of.time_us = time_us;
    as_of.sequence = sequence;
    as_of.business_time_us = dated_us;
    pq.as_of = &as_of;
    Ledger__V1__Query q = LEDGER__V1__QUERY__INIT;
    q.kind_case = LEDGER__V1__QUERY__KIND_PERMISSIONS;
    q.permissions = &pq;
    return run(f, &partner_staff, &q, result);
}

static enum ledger_err permissions(struct fixture *f, const char *customer_id, bool history,
                                   int64_t time_us, uint64_t sequence,
                                   Ledger__V1__QueryResult *result)
{
    return permissions_dated(f, customer_id, history, 0, time_us, sequence, result);
}

/* The savings plans view; as of business time dated_us, recorded time
 * time_us and sequence when one is not 0 (all 0: the current view, without
 * as_of). */
static enum ledger_err savings_plans_dated(struct fixture *f, const struct views_scope *scope,
                                           const char *customer_id, int64_t dated_us,
                                           int64_t time_us, uint64_t sequence,
                                           Ledger__V1__QueryResult *result)
{
    Ledger__V1__SavingsPlansQuery sq = LEDGER__V1__SAVINGS_PLANS_QUERY__INIT;
    Ledger__V1__AsOf as_of = LEDGER__V1__AS_OF__INIT;
    sq.customer_id = (char *)customer_id;
    as_of.time_us = time_us;
    as_of.sequence = sequence;
    as_of.business_time_us = dated_us;
    sq.as_of = time_us != 0 || sequence != 0 || dated_us != 0 ? &as_of : NULL;
    Ledger__V1__Query q = LEDGER__V1__QUERY__INIT;
    q.kind_case = LEDGER__V1__QUERY__KIND_SAVINGS_PLANS;
    q.savings_plans = &sq;
    return run(f, scope, &q, result);
}

static enum ledger_err savings_plans(struct fixture *f, const struct views_scope *scope,
                                     const char *customer_id, int64_t time_us, uint64_t sequence,
                                     Ledger__V1__QueryResult *result)
{
    return savings_plans_dated(f, scope, customer_id, 0, time_us, sequence, result);
}

/* An activity page with a range of recorded times (from_us, to_us) and
 * one of business times (dated[0], dated[1]); 0 leaves a side open. */
static enum ledger_err activity_dated(struct fixture *f, const struct views_scope *scope,
                                      const char *customer_id, const char *action, int64_t from_us,
                                      int64_t to_us, const int64_t dated[2], uint32_t limit,
                                      const char *token, Ledger__V1__QueryResult *result)
{
    Ledger__V1__ActivityQuery aq = LEDGER__V1__ACTIVITY_QUERY__INIT;
    aq.customer_id = (char *)customer_id;
    aq.action = (char *)action;
    aq.from_us = from_us;
    aq.to_us = to_us;
    aq.business_from_us = dated[0];
    aq.business_to_us = dated[1];
    aq.limit = limit;
    aq.page_token = (char *)token;
    Ledger__V1__Query q = LEDGER__V1__QUERY__INIT;
    q.kind_case = LEDGER__V1__QUERY__KIND_ACTIVITY;
    q.activity = &aq;
    return run(f, scope, &q, result);
}

static enum ledger_err activity(struct fixture *f, const struct views_scope *scope,
                                const char *customer_id, const char *action, int64_t from_us,
                                int64_t to_us, uint32_t limit, const char *token,
                                Ledger__V1__QueryResult *result)
{
    static const int64_t undated[2] = {0, 0};
    return activity_dated(f, scope, customer_id, action, from_us, to_us, undated, limit, token,
                          result);
}

/* One page of a month's billing as the first tree_size events left it (0:
 * all): `limit` rows after `token` (0 and "": every row in one answer). */
static enum ledger_err billing_page_of(struct fixture *f, const struct views_scope *scope,
                                       const char *month, const char *customer_id,
                                       uint64_t tree_size, uint32_t limit, const char *token,
                                       Ledger__V1__QueryResult *result)
{
    Ledger__V1__BillingQuery bq = LEDGER__V1__BILLING_QUERY__INIT;
    bq.month = (char *)month;
    bq.customer_id = (char *)customer_id;
    bq.tree_size = tree_size;
    bq.limit = limit;
    bq.page_token = (char *)token;
    Ledger__V1__Query q = LEDGER__V1__QUERY__INIT;
    q.kind_case = LEDGER__V1__QUERY__KIND_BILLING;
    q.billing = &bq;
    return run(f, scope, &q, result);
}

static enum ledger_err billing_at(struct fixture *f, const struct views_scope *scope,
                                  const char *month, const char *customer_id, uint64_t tree_size,
                                  Ledger__V1__QueryResult *result)
{
    return billing_page_of(f, scope, month, customer_id, tree_size, 0, "", result);
}

static enum ledger_err billing_page(struct fixture *f, const char *month, const char *customer_id,
                                    uint64_t tree_size, uint32_t limit, const char *token,
                                    Ledger__V1__QueryResult *result)
{
    return billing_page_of(f, &partner_staff, month, customer_id, tree_size, limit, token, result);
}

static enum ledger_err billing(struct fixture *f, const struct views_scope *scope,
                               const char *month, const char *customer_id,
                               Ledger__V1__QueryResult *result)
{
    return billing_at(f, scope, month, customer_id, 0, result);
}

/* Two rows are the same bytes once packed. */
static void pack_equal(const ProtobufCMessage *a, const ProtobufCMessage *b)
{
    uint8_t *x = NULL, *y = NULL;
    size_t xs = 0, ys = 0;
    assert_ok(codec_pack(a, &x, &xs));
    assert_ok(codec_pack(b, &y, &ys));
    assert_int_equal(xs, ys);
    assert_memory_equal(x, y, xs);
    free(x);
    free(y);
}

/* A row the test expects: a missing one ends the test run. */
__attribute__((returns_nonnull)) static const void *must(const void *row, const char *what)
{
    if (row == NULL) {
        print_error("expected row missing: %s\n", what);
        abort();
    }
    return row;
}

__attribute__((returns_nonnull)) static const Ledger__V1__ReservationRow *
find_reservation(const Ledger__V1__QueryResult *r, const char *id)
{
    const Ledger__V1__ReservationRow *found = NULL;
    for (size_t i = 0; i < r->n_reservations; i++) {
        if (strcmp(r->reservations[i]->reservation_id, id) == 0) {
            found = r->reservations[i];
        }
    }
    return must(found, id);
}

/* --- tests: reservations ---------------------------------------------------------------------- */

static void test_views_reservations_current(void **state)
{
    struct fixture *f = *state;
    Ledger__V1__QueryResult r;
    assert_ok(reservations(f, &partner_staff, "c-1", 0, 0, &r));
    /* In purchase order: a, b, c, d (exchange), e (renewal). */
    assert_int_equal(r.n_reservations, 5);
    const char *order[] = {"res-a", "res-b", "res-c", "res-d", "res-e"};
    for (size_t i = 0; i < 5; i++) {
        assert_string_equal(r.reservations[i]->reservation_id, order[i]);
        assert_string_equal(r.reservations[i]->customer_id, "c-1");
    }
    const Ledger__V1__ReservationRow *a = find_reservation(&r, "res-a");
    assert_int_equal(a->state, LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_EXPIRED);
    assert_int_equal(a->scope->kind, LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SHARED);
    assert_true(a->auto_renew);
    assert_int_equal(a->quantity, 3);
    assert_string_equal(a->sku, "Standard_D2s_v5");
    assert_string_equal(a->region, "westeurope");
    assert_int_equal(a->term, LEDGER__V1__TERM__TERM_P1Y);
    assert_int_equal(a->expires_us, utc(2025, 1, 15) + YEAR_US);
    assert_int_equal(a->purchaser, LEDGER__V1__PURCHASER__PURCHASER_PARTNER);
    assert_string_equal(a->bought_by->principal_id, "admin-1");
    assert_int_equal(a->price->amount_minor, 12000);
    assert_int_equal(a->retail_price->amount_minor, 15000);
    assert_int_equal(a->sequence, SEQ_RES_A);
    assert_int_equal(a->last_sequence, SEQ_RENEW_A);

    const Ledger__V1__ReservationRow *b = find_reservation(&r, "res-b");
    assert_int_equal(b->state, LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_CANCELLED);
    assert_int_equal(b->purchaser, LEDGER__V1__PURCHASER__PURCHASER_CUSTOMER);
    assert_string_equal(b->bought_by->principal_id, "u-1");
    assert_string_equal(b->bought_by->user, "u-1");
    assert_int_equal(b->last_sequence, SEQ_CANCEL_B);

    const Ledger__V1__ReservationRow *c = find_reservation(&r, "res-c");
    assert_int_equal(c->state, LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_EXCHANGED);
    assert_int_equal(c->last_sequence, SEQ_EXCHANGE_C);
    const Ledger__V1__ReservationRow *d = find_reservation(&r, "res-d");
    assert_int_equal(d->state, LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_EXPIRED);
    assert_int_equal(d->sequence, SEQ_EXCHANGE_C);
    assert_int_equal(d->last_sequence, SEQ_EXPIRE_D);
    assert_string_equal(d->order_id, "ord-d");
    const Ledger__V1__ReservationRow *e = find_reservation(&r, "res-e");
    assert_int_equal(e->state, LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_ACTIVE);
    assert_int_equal(e->sequence, SEQ_RENEW_A);
    assert_int_equal(e->price->amount_minor, 11000);
    views_result_clear(&r);
    assert_int_equal(r.n_reservations, 0);
    assert_null(r.reservations);

    /* The other partner's customer of the same id is another customer. */
    const struct views_scope p2 = {"p-2", "", true};
    assert_ok(reservations(f, &p2, "c-1", 0, 0, &r));
    assert_int_equal(r.n_reservations, 1);
    assert_string_equal(r.reservations[0]->reservation_id, "res-a");
    assert_int_equal(r.reservations[0]->price->amount_minor, 777);
    assert_int_equal(r.reservations[0]->state,
                     LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_ACTIVE);
    views_result_clear(&r);

    /* A customer without reservations: no rows. */
    assert_ok(reservations(f, &partner_staff, "c-2", 0, 0, &r));
    assert_int_equal(r.n_reservations, 0);
    views_result_clear(&r);
}

/* A customer the partner never onboarded is named in every view that asks
 * for one, never answered with no rows; a customer of another partner is
 * not this partner's. */
/* The subscriptions index: PurchaseSubscription's look-up of another
 * customer of the partner holding an id. A log of an older build may hold
 * one id under two customers of a partner: both are indexed, and each finds
 * the other. Customers of other partners are never reported. */
static void test_views_subscription_holder(void **state)
{
    struct fixture *f = *state;
    assert_ok(store_begin(f->store, true, &f->txn));
    uint64_t c2 = subscription_purchased(f, "p-1", "c-2", &actor_admin, utc(2026, 1, 1));
    subscription_purchased(f, "p-2", "c-1", &actor_admin2, utc(2026, 1, 2));
    struct views_id_holder holder = {.found = true};
    assert_ok(views_subscription_holder(f->txn, "s-1", "p-1", "c-1", &holder));
    assert_true(holder.found);
    assert_string_equal(holder.customer_id, "c-2");
    assert_int_equal(holder.sequence, c2);
    assert_ok(views_subscription_holder(f->txn, "s-1", "p-1", "c-2", &holder));
    assert_true(holder.found);
    assert_string_equal(holder.customer_id, "c-1");
    assert_int_equal(holder.sequence, SEQ_SUBSCRIPTION_C1);
    assert_ok(views_subscription_holder(f->txn, "s-1", "p-1", "c-9", &holder));
    assert_string_equal(holder.customer_id, "c-1");
    /* p-2's own customer holds it; p-1's are not looked at, nor is a
     * partner that holds none. */
    assert_ok(views_subscription_holder(f->txn, "s-1", "p-2", "c-1", &holder));
    assert_false(holder.found);
    assert_ok(views_subscription_holder(f->txn, "s-1", "p-2", "c-7", &holder));
    assert_true(holder.found);
    assert_string_equal(holder.customer_id, "c-1");
    assert_ok(views_subscription_holder(f->txn, "s-1", "p-3", "c-1", &holder));
    assert_false(holder.found);
    /* An id that is a prefix of another is another id. */
    assert_ok(views_subscription_holder(f->txn, "s", "p-1", "c-9", &holder));
    assert_false(holder.found);
    assert_int_equal(views_subscription_holder(f->txn, "bad id", "p-1", "c-1", &holder),
                     LEDGER_ERR_INVALID_ARGUMENT);
    assert_int_equal(views_subscription_holder(f->txn, "s-1", "", "c-1", &holder),
                     LEDGER_ERR_INVALID_ARGUMENT);
    store_abort(f->txn);
    f->txn = NULL;
}

/* What views_subscription_duplicates handed over: the ids in the order of
 * the walk, each with its holders. */
struct duplicates_seen {
    size_t count;
    struct views_subscription_duplicate ids[4];
    size_t stop_after; /* 0: never stop */
};

static enum ledger_err duplicate_seen(void *context,
                                      const struct views_subscription_duplicate *duplicate)
{
    struct duplicates_seen *seen = context;
    assert_true(seen->count < sizeof seen->ids / sizeof seen->ids[0]);
    seen->ids[seen->count++] = *duplicate;
    return seen->stop_after != 0 && seen->count == seen->stop_after ? LEDGER_ERR_IO_ERROR
                                                                    : LEDGER_ERR_OK;
}

static void expect_duplicate(const struct views_subscription_duplicate *d,
                             const char *subscription_id, const char *partner_id, size_t holders,
                             size_t listed)
{
    assert_string_equal(d->subscription_id, subscription_id);
    assert_string_equal(d->partner_id, partner_id);
    assert_int_equal(d->holders, holders);
    assert_int_equal(d->listed, listed);
}

static void expect_holding(const struct views_subscription_duplicate *d, size_t i,
                           const char *customer_id, uint64_t sequence)
{
    assert_true(i < d->listed);
    assert_string_equal(d->holding[i].customer_id, customer_id);
    assert_int_equal(d->holding[i].sequence, sequence);
}

/* The ids that two or more customers of one partner hold, as logs of
 * earlier builds may record them: each once, with its holders in sequence
 * order (not the index's customer order), the earliest
 * LEDGER_DUPLICATE_HOLDERS_LISTED_MAX of them named and the others
 * counted. One id under customers of two partners, or bought once, is no
 * such id. */
static void test_views_subscription_duplicates(void **state)
{
    struct fixture *f = *state;
    assert_ok(store_begin(f->store, true, &f->txn));
    struct duplicates_seen seen = {0};
    uint64_t ids = 99;
    /* The history's s-1 is c-1's of p-1 alone. */
    assert_ok(views_subscription_duplicates(f->txn, duplicate_seen, &seen, &ids));
    assert_int_equal(ids, 0);
    assert_int_equal(seen.count, 0);

    int64_t t = utc(2026, 1, 1);
    subscription_purchased(f, "p-2", "c-1", &actor_admin2, t);
    subscription_bought(f, "p-1", "c-3", "s-once", &actor_admin, t);
    uint64_t c2 = subscription_purchased(f, "p-1", "c-2", &actor_admin, t);
    /* c-9 bought s-2 before c-3 did: named first, though c-3 sorts first. */
    uint64_t c9 = subscription_bought(f, "p-1", "c-9", "s-2", &actor_admin, t);
    uint64_t c3 = subscription_bought(f, "p-1", "c-3", "s-2", &actor_admin, t);
    /* More holders than are named, bought in the reverse of key order. */
    uint64_t many[LEDGER_DUPLICATE_HOLDERS_LISTED_MAX + 2];
    char customers[LEDGER_DUPLICATE_HOLDERS_LISTED_MAX + 2][16];
    for (size_t i = 0; i < LEDGER_DUPLICATE_HOLDERS_LISTED_MAX + 2; i++) {
        snprintf(customers[i], sizeof customers[i], "c-%02zu",
                 (size_t)LEDGER_DUPLICATE_HOLDERS_LISTED_MAX + 2 - i);
        many[i] = subscription_bought(f, "p-2", customers[i], "s-3", &actor_admin2, t);
    }
    /* And bought in key order: the last ones are the latest, not named. */
    uint64_t ordered[LEDGER_DUPLICATE_HOLDERS_LISTED_MAX + 2];
    char in_order[LEDGER_DUPLICATE_HOLDERS_LISTED_MAX + 2][16];
    for (size_t i = 0; i < LEDGER_DUPLICATE_HOLDERS_LISTED_MAX + 2; i++) {
        snprintf(in_order[i], sizeof in_order[i], "c-%02zu", i + 1);
        ordered[i] = subscription_bought(f, "p-2", in_order[i], "s-4", &actor_admin2, t);
    }
    assert_ok(views_subscription_duplicates(f->txn, duplicate_seen, &seen, &ids));
    assert_int_equal(ids, 4);
    assert_int_equal(seen.count, 4);
    /* Key order: by id, then partner. */
    const struct views_subscription_duplicate *d = &seen.ids[0];
    expect_duplicate(d, "s-1", "p-1", 2, 2);
    expect_holding(d, 0, "c-1", SEQ_SUBSCRIPTION_C1);
    expect_holding(d, 1, "c-2", c2);
    d = &seen.ids[1];
    expect_duplicate(d, "s-2", "p-1", 2, 2);
    expect_holding(d, 0, "c-9", c9);
    expect_holding(d, 1, "c-3", c3);
    d = &seen.ids[2];
    expect_duplicate(d, "s-3", "p-2", LEDGER_DUPLICATE_HOLDERS_LISTED_MAX + 2,
                     LEDGER_DUPLICATE_HOLDERS_LISTED_MAX);
    for (size_t i = 0; i < LEDGER_DUPLICATE_HOLDERS_LISTED_MAX; i++) {
        expect_holding(d, i, customers[i], many[i]);
    }
    d = &seen.ids[3];
    expect_duplicate(d, "s-4", "p-2", LEDGER_DUPLICATE_HOLDERS_LISTED_MAX + 2,
                     LEDGER_DUPLICATE_HOLDERS_LISTED_MAX);
    for (size_t i = 0; i < LEDGER_DUPLICATE_HOLDERS_LISTED_MAX; i++) {
        expect_holding(d, i, in_order[i], ordered[i]);
    }
    d = &seen.ids[2];
    /* The line ledger-verify and `ledgerd rebuild` print of each. */
    char line[VIEWS_DUPLICATE_TEXT_SIZE], expected[VIEWS_DUPLICATE_TEXT_SIZE];
    views_subscription_duplicate_text(&seen.ids[0], line);
    snprintf(expected, sizeof expected,
             "partner p-1, subscription s-1: customer c-1 (sequence %d), customer c-2 (sequence "
             "%llu)",
             SEQ_SUBSCRIPTION_C1, (unsigned long long)c2);
    assert_string_equal(line, expected);
    views_subscription_duplicate_text(d, line);
    assert_non_null(strstr(line, "partner p-2, subscription s-3: customer c-18 (sequence "));
    assert_non_null(strstr(line, "), and 2 more customers"));
    assert_null(strstr(line, "customer c-02 "));

    /* A callback's error (an output that cannot be written) stops the walk
     * and is returned, with nothing counted. */
    struct duplicates_seen stopped = {.stop_after = 1};
    ids = 99;
    assert_int_equal(views_subscription_duplicates(f->txn, duplicate_seen, &stopped, &ids),
                     LEDGER_ERR_IO_ERROR);
    assert_int_equal(stopped.count, 1);
    assert_int_equal(ids, 99);
    assert_ok(views_subscription_duplicates(f->txn, NULL, NULL, NULL));
    /* A row no writer makes (no partner after the id) is named CORRUPT. */
    assert_ok(store_put(f->txn, STORE_DB_ACTIVITY, "Ss-5", 4, "\0\0\0\0\0\0\0\1", 8));
    assert_int_equal(views_subscription_duplicates(f->txn, NULL, NULL, &ids), LEDGER_ERR_CORRUPT);
    store_abort(f->txn);
    f->txn = NULL;
}

static void test_views_unknown_customer(void **state)
{
    struct fixture *f = *state;
    Ledger__V1__QueryResult r;
    char message[256];
    struct store_txn *txn = NULL;
    Ledger__V1__ReservationsQuery rq = LEDGER__V1__RESERVATIONS_QUERY__INIT;
    Ledger__V1__OrdersQuery oq = LEDGER__V1__ORDERS_QUERY__INIT;
    Ledger__V1__SavingsPlansQuery sq = LEDGER__V1__SAVINGS_PLANS_QUERY__INIT;
    Ledger__V1__PermissionsQuery pq = LEDGER__V1__PERMISSIONS_QUERY__INIT;
    Ledger__V1__ActivityQuery aq = LEDGER__V1__ACTIVITY_QUERY__INIT;
    Ledger__V1__BillingQuery bq = LEDGER__V1__BILLING_QUERY__INIT;
    rq.customer_id = oq.customer_id = sq.customer_id = pq.customer_id = aq.customer_id =
        bq.customer_id = "c-404";
    bq.month = "2026-01";
    Ledger__V1__Query queries[6] = {LEDGER__V1__QUERY__INIT, LEDGER__V1__QUERY__INIT,
                                    LEDGER__V1__QUERY__INIT, LEDGER__V1__QUERY__INIT,
                                    LEDGER__V1__QUERY__INIT, LEDGER__V1__QUERY__INIT};
    queries[0].kind_case = LEDGER__V1__QUERY__KIND_RESERVATIONS;
    queries[0].reservations = &rq;
    queries[1].kind_case = LEDGER__V1__QUERY__KIND_ORDERS;
    queries[1].orders = &oq;
    queries[2].kind_case = LEDGER__V1__QUERY__KIND_SAVINGS_PLANS;
    queries[2].savings_plans = &sq;
    queries[3].kind_case = LEDGER__V1__QUERY__KIND_PERMISSIONS;
    queries[3].permissions = &pq;
    queries[4].kind_case = LEDGER__V1__QUERY__KIND_ACTIVITY;
    queries[4].activity = &aq;
    queries[5].kind_case = LEDGER__V1__QUERY__KIND_BILLING;
    queries[5].billing = &bq;
    for (size_t i = 0; i < 6; i++) {
        assert_ok(store_begin(f->store, false, &txn));
        ledger__v1__query_result__init(&r);
        assert_int_equal(views_query(txn, &partner_staff, &queries[i], &r, message),
                         LEDGER_ERR_CUSTOMER_NOT_FOUND);
        store_abort(txn);
        assert_string_equal(message, "partner p-1 has no customer c-404; check the customer id");
    }
    /* The customer exists, under another partner. */
    const struct views_scope other_partner = {"p-2", "", true};
    assert_int_equal(reservations(f, &other_partner, "c-2", 0, 0, &r),
                     LEDGER_ERR_CUSTOMER_NOT_FOUND);
    /* Known now, not yet at an early as_of: no rows then. */
    assert_ok(reservations(f, &partner_staff, "c-1", 0, 1, &r));
    assert_int_equal(r.n_reservations, 0);
    views_result_clear(&r);
}

static void test_views_reservations_as_of(void **state)
{
    struct fixture *f = *state;
    Ledger__V1__QueryResult r;
    /* By sequence: just before the cancellation, res-b is active and res-a
     * has its new scope and flag. */
    assert_ok(reservations(f, &partner_staff, "c-1", 0, SEQ_CANCEL_B - 1, &r));
    assert_int_equal(r.n_reservations, 2);
    assert_int_equal(find_reservation(&r, "res-b")->state,
                     LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_ACTIVE);
    const Ledger__V1__ReservationRow *a = find_reservation(&r, "res-a");
    assert_int_equal(a->state, LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_ACTIVE);
    assert_int_equal(a->scope->kind, LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SHARED);
    assert_true(a->auto_renew);
    assert_int_equal(a->last_sequence, SEQ_RENEWAL_FLAG_A);
    views_result_clear(&r);

    /* By sequence: the purchase itself is included. */
    assert_ok(reservations(f, &partner_staff, "c-1", 0, SEQ_RES_A, &r));
    assert_int_equal(r.n_reservations, 1);
    assert_int_equal(r.reservations[0]->scope->kind, LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SINGLE);
    assert_false(r.reservations[0]->auto_renew);
    views_result_clear(&r);

    /* By time: on 2025-02-01 only res-a existed; on 2025-01-01 nothing. */
    assert_ok(reservations(f, &partner_staff, "c-1", utc(2025, 2, 1), 0, &r));
    assert_int_equal(r.n_reservations, 1);
    assert_string_equal(r.reservations[0]->reservation_id, "res-a");
    views_result_clear(&r);
    assert_ok(reservations(f, &partner_staff, "c-1", utc(2025, 1, 1), 0, &r));
    assert_int_equal(r.n_reservations, 0);
    views_result_clear(&r);
    /* By time, exactly at an event's recorded time: included. */
    assert_ok(reservations(f, &partner_staff, "c-1", utc(2025, 7, 15), 0, &r));
    assert_int_equal(r.n_reservations, 4);
    assert_int_equal(find_reservation(&r, "res-c")->state,
                     LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_EXCHANGED);
    views_result_clear(&r);
    /* Both bounds: the earlier wins. */
    assert_ok(reservations(f, &partner_staff, "c-1", utc(2030, 1, 1), SEQ_RES_B, &r));
    assert_int_equal(r.n_reservations, 2);
    views_result_clear(&r);

    /* As of the head, the replay and the view agree byte for byte. */
    Ledger__V1__QueryResult now, replayed;
    assert_ok(reservations(f, &partner_staff, "c-1", 0, 0, &now));
    assert_ok(reservations(f, &partner_staff, "c-1", 0, SEQ_LAST, &replayed));
    assert_int_equal(now.n_reservations, replayed.n_reservations);
    for (size_t i = 0; i < now.n_reservations; i++) {
        pack_equal(&now.reservations[i]->base, &replayed.reservations[i]->base);
    }
    views_result_clear(&now);
    views_result_clear(&replayed);
}

/* The state of a reservation in an answer, or -1 when the answer lacks it. */
static int reservation_state_in(const Ledger__V1__QueryResult *r, const char *id)
{
    for (size_t i = 0; i < r->n_reservations; i++) {
        if (strcmp(r->reservations[i]->reservation_id, id) == 0) {
            return (int)r->reservations[i]->state;
        }
    }
    return -1;
}

/* By business time: a purchase recorded later than it is dated is in an
 * answer of its date; a reservation whose expiry is recorded after its term
 * is expired as of a date past its term, once the expiry is recorded, and
 * active as of a date before; the recorded-time answer of the same date
 * says what the ledger said then. Both bounds combine. */
static void test_views_reservations_by_business_time(void **state)
{
    struct fixture *f = *state;
    const int active = LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_ACTIVE;
    const int expired = LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_EXPIRED;
    assert_ok(store_begin(f->store, true, &f->txn));
    /* Bought on 2029-02-10, recorded a month later. */
    f->dated_next_us = utc(2029, 2, 10);
    uint64_t late = reservation_purchased(f, "p-1", "c-1", &actor_admin, "res-late", "ord-late",
                                          LEDGER__V1__PURCHASER__PURCHASER_PARTNER,
                                          LEDGER__V1__BILLING_PLAN__BILLING_PLAN_UPFRONT,
                                          LEDGER__V1__TERM__TERM_P1Y, 100, 100, utc(2029, 3, 10));
    /* res-e (the renewal of res-a) ends a year after 2026-01-15; its expiry
     * is recorded in 2029 (the daemon was not running), dated at the end. */
    const int64_t ends_us = utc(2026, 1, 15) + YEAR_US;
    f->dated_next_us = ends_us;
    uint64_t expiry = reservation_expired(f, "res-e", utc(2029, 3, 11));
    assert_ok(store_commit(f->txn));
    f->txn = NULL;

    Ledger__V1__QueryResult r;
    /* As of 2029-02-15: bought by then, as the log says now; not yet
     * recorded by the ledger then. */
    assert_ok(reservations_dated(f, &partner_staff, "c-1", utc(2029, 2, 15), 0, 0, &r));
    assert_int_equal(reservation_state_in(&r, "res-late"), active);
    assert_int_equal(find_reservation(&r, "res-late")->sequence, late);
    views_result_clear(&r);
    assert_ok(reservations(f, &partner_staff, "c-1", utc(2029, 2, 15), 0, &r));
    assert_int_equal(reservation_state_in(&r, "res-late"), -1);
    views_result_clear(&r);
    /* Before its date it is absent whenever it was recorded. */
    assert_ok(reservations_dated(f, &partner_staff, "c-1", utc(2029, 2, 9), 0, 0, &r));
    assert_int_equal(reservation_state_in(&r, "res-late"), -1);
    views_result_clear(&r);

    /* A day past res-e's term: expired by business time, with the expiry as
     * its last event; still active by the recorded time of that day, and by
     * business time as the ledger knew it before the expiry was recorded. */
    assert_ok(reservations_dated(f, &partner_staff, "c-1", ends_us + 86400000000, 0, 0, &r));
    assert_int_equal(reservation_state_in(&r, "res-e"), expired);
    assert_int_equal(find_reservation(&r, "res-e")->last_sequence, expiry);
    views_result_clear(&r);
    assert_ok(reservations(f, &partner_staff, "c-1", ends_us + 86400000000, 0, &r));
    assert_int_equal(reservation_state_in(&r, "res-e"), active);
    views_result_clear(&r);
    assert_ok(
        reservations_dated(f, &partner_staff, "c-1", ends_us + 86400000000, 0, expiry - 1, &r));
    assert_int_equal(reservation_state_in(&r, "res-e"), active);
    views_result_clear(&r);
    assert_ok(reservations_dated(f, &partner_staff, "c-1", ends_us + 86400000000, utc(2029, 3, 10),
                                 0, &r));
    assert_int_equal(reservation_state_in(&r, "res-e"), active);
    views_result_clear(&r);
    /* A day before its term ended: active, whatever the ledger knows now. */
    assert_ok(reservations_dated(f, &partner_staff, "c-1", ends_us - 86400000000, 0, 0, &r));
    assert_int_equal(reservation_state_in(&r, "res-e"), active);
    views_result_clear(&r);

    /* Dated at or after every event: the current view, byte for byte. */
    Ledger__V1__QueryResult now, dated;
    assert_ok(reservations(f, &partner_staff, "c-1", 0, 0, &now));
    assert_ok(reservations_dated(f, &partner_staff, "c-1", utc(2029, 3, 11), 0, 0, &dated));
    assert_int_equal(now.n_reservations, dated.n_reservations);
    for (size_t i = 0; i < now.n_reservations; i++) {
        pack_equal(&now.reservations[i]->base, &dated.reservations[i]->base);
    }
    views_result_clear(&now);
    views_result_clear(&dated);

    /* The history's own events are dated when recorded: by business time as
     * by recorded time (2025-02-01: only res-a). */
    assert_ok(reservations_dated(f, &partner_staff, "c-1", utc(2025, 2, 1), 0, 0, &r));
    assert_int_equal(r.n_reservations, 1);
    assert_string_equal(r.reservations[0]->reservation_id, "res-a");
    views_result_clear(&r);
    Ledger__V1__QueryResult plans;
    assert_ok(savings_plans_dated(f, &auditor, "c-1", utc(2025, 2, 15), 0, 0, &plans));
    assert_int_equal(plans.n_savings_plans, 1);
    assert_string_equal(plans.savings_plans[0]->savings_plan_id, "sp-c");
    views_result_clear(&plans);
    /* Partner staff never see the plan the customer bought, by any date. */
    assert_ok(savings_plans_dated(f, &partner_staff, "c-1", utc(2025, 2, 15), 0, 0, &plans));
    assert_int_equal(plans.n_savings_plans, 0);
    views_result_clear(&plans);
    assert_ok(savings_plans_dated(f, &partner_staff, "c-1", utc(2029, 3, 11), 0, 0, &plans));
    assert_int_equal(plans.n_savings_plans, 1);
    assert_string_equal(plans.savings_plans[0]->savings_plan_id, "sp-p");
    views_result_clear(&plans);

    /* A negative business time is no date: refused, saying so. */
    char message[256];
    struct store_txn *txn = NULL;
    Ledger__V1__ReservationsQuery rq = LEDGER__V1__RESERVATIONS_QUERY__INIT;
    Ledger__V1__AsOf as_of = LEDGER__V1__AS_OF__INIT;
    rq.customer_id = "c-1";
    as_of.business_time_us = -1;
    rq.as_of = &as_of;
    Ledger__V1__Query q = LEDGER__V1__QUERY__INIT;
    q.kind_case = LEDGER__V1__QUERY__KIND_RESERVATIONS;
    q.reservations = &rq;
    assert_ok(store_begin(f->store, false, &txn));
    ledger__v1__query_result__init(&r);
    assert_int_equal(views_query(txn, &partner_staff, &q, &r, message),
                     LEDGER_ERR_INVALID_ARGUMENT);
    store_abort(txn);
    assert_non_null(strstr(message, "as_of.business_time_us must not be negative"));
}

/* Events dated out of order, as older logs may hold them (today's rules
 * refuse most): an event dated at or before the date but acting on
 * something dated after it is left out with it, and so is what acts on
 * what it made, so that the replay never fails nor shows a state the whole
 * log could not. */
static void test_views_business_time_out_of_order(void **state)
{
    struct fixture *f = *state;
    const Ledger__V1__Purchaser partner = LEDGER__V1__PURCHASER__PURCHASER_PARTNER;
    const Ledger__V1__BillingPlan upfront = LEDGER__V1__BILLING_PLAN__BILLING_PLAN_UPFRONT;
    const Ledger__V1__Term p1y = LEDGER__V1__TERM__TERM_P1Y;
    const Ledger__V1__PermissionKind kind =
        LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_RESERVATIONS;
    assert_ok(store_begin(f->store, true, &f->txn));
    /* A change, an exchange and a change of its replacement, each dated
     * before the purchase they act on. */
    f->dated_next_us = utc(2029, 5, 10);
    reservation_purchased(f, "p-1", "c-1", &actor_admin, "res-x", "ord-x1", partner, upfront, p1y,
                          500, 500, utc(2029, 5, 1));
    f->dated_next_us = utc(2029, 5, 5);
    reservation_scope_changed(f, "res-x", utc(2029, 5, 2));
    struct purchase replacement;
    purchase_fill(&replacement, "res-y", "ord-y", partner, upfront, p1y, 900, 900, utc(2029, 5, 6));
    f->dated_next_us = utc(2029, 5, 6);
    uint64_t exchange = reservation_exchanged(f, "res-x", 100, &replacement, utc(2029, 5, 3));
    f->dated_next_us = utc(2029, 5, 7);
    uint64_t flag = reservation_renewal_set(f, "res-y", true, utc(2029, 5, 4));
    /* A revocation dated before the grant it ends (the switch was off). */
    f->dated_next_us = utc(2029, 4, 20);
    permission(f, "c-1", kind, true, utc(2029, 4, 1));
    f->dated_next_us = utc(2029, 4, 10);
    uint64_t revoke = permission(f, "c-1", kind, false, utc(2029, 4, 2));
    /* c-2: a reservation dated before the subscription it is billed to. */
    subscription_purchased(f, "p-1", "c-2", &actor_admin, utc(2029, 6, 2));
    f->dated_next_us = utc(2029, 6, 1);
    reservation_purchased(f, "p-1", "c-2", &actor_admin, "res-z", "ord-z", partner, upfront, p1y,
                          700, 700, utc(2029, 6, 3));
    /* c-5: a subscription and a reservation dated before the onboarding. */
    f->dated_next_us = utc(2029, 7, 5);
    customer_onboarded(f, "p-1", "c-5", &actor_admin, utc(2029, 7, 1));
    f->dated_next_us = utc(2029, 7, 2);
    subscription_purchased(f, "p-1", "c-5", &actor_admin, utc(2029, 7, 2));
    f->dated_next_us = utc(2029, 7, 3);
    reservation_purchased(f, "p-1", "c-5", &actor_admin, "res-w", "ord-w", partner, upfront, p1y,
                          300, 300, utc(2029, 7, 3));
    assert_ok(store_commit(f->txn));
    f->txn = NULL;

    Ledger__V1__QueryResult r;
    /* 2029-05-08: res-x is not bought yet, so neither its change nor its
     * exchange nor res-y's flag is in; no failure. */
    assert_ok(reservations_dated(f, &auditor, "c-1", utc(2029, 5, 8), 0, 0, &r));
    assert_int_equal(reservation_state_in(&r, "res-x"), -1);
    assert_int_equal(reservation_state_in(&r, "res-y"), -1);
    views_result_clear(&r);
    /* 2029-05-10: everything is in, as the whole log has it. */
    assert_ok(reservations_dated(f, &auditor, "c-1", utc(2029, 5, 10), 0, 0, &r));
    assert_int_equal(reservation_state_in(&r, "res-x"),
                     LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_EXCHANGED);
    assert_int_equal(find_reservation(&r, "res-x")->last_sequence, exchange);
    const Ledger__V1__ReservationRow *y = find_reservation(&r, "res-y");
    assert_int_equal(y->state, LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_ACTIVE);
    assert_true(y->auto_renew);
    assert_int_equal(y->last_sequence, flag);
    views_result_clear(&r);

    /* 2029-04-15: the grant is dated later, so the revocation (which would
     * turn off what is off) is left out: off since 2025-04-01. By
     * 2029-04-20 both are in. */
    assert_ok(permissions_dated(f, "c-1", false, utc(2029, 4, 15), 0, 0, &r));
    assert_int_equal(r.n_permissions, 2);
    assert_false(r.permissions[0]->enabled);
    assert_int_equal(r.permissions[0]->sequence, SEQ_REVOKE_RES);
    views_result_clear(&r);
    assert_ok(permissions_dated(f, "c-1", true, utc(2029, 4, 15), 0, 0, &r));
    for (size_t i = 0; i < r.n_permissions; i++) {
        assert_true(r.permissions[i]->sequence <= SEQ_LAST);
    }
    views_result_clear(&r);
    assert_ok(permissions_dated(f, "c-1", false, utc(2029, 4, 20), 0, 0, &r));
    assert_false(r.permissions[0]->enabled);
    assert_int_equal(r.permissions[0]->sequence, revoke);
    views_result_clear(&r);

    /* c-2 on 2029-06-01: res-z's subscription is not bought yet. */
    assert_ok(reservations_dated(f, &auditor, "c-2", utc(2029, 6, 1), 0, 0, &r));
    assert_int_equal(r.n_reservations, 0);
    views_result_clear(&r);
    assert_ok(reservations_dated(f, &auditor, "c-2", utc(2029, 6, 2), 0, 0, &r));
    assert_int_equal(reservation_state_in(&r, "res-z"),
                     LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_ACTIVE);
    views_result_clear(&r);

    /* c-5 on 2029-07-04: not onboarded yet, so nothing of it (both switches
     * off); on 2029-07-05 all of it. */
    assert_ok(reservations_dated(f, &auditor, "c-5", utc(2029, 7, 4), 0, 0, &r));
    assert_int_equal(r.n_reservations, 0);
    views_result_clear(&r);
    assert_ok(permissions_dated(f, "c-5", false, utc(2029, 7, 4), 0, 0, &r));
    assert_int_equal(r.n_permissions, 2);
    assert_int_equal(r.permissions[0]->sequence, 0);
    views_result_clear(&r);
    assert_ok(reservations_dated(f, &auditor, "c-5", utc(2029, 7, 5), 0, 0, &r));
    assert_int_equal(reservation_state_in(&r, "res-w"),
                     LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_ACTIVE);
    views_result_clear(&r);
}

/* The replacements of one exchange are listed in the order the exchange
 * bought them, as their orders are, and not by id: the engine names the
 * tenth "res-N-10", which sorts before "res-N-2". As of the head the
 * replay lists them the same, byte for byte. */
static void test_views_reservations_exchange_order(void **state)
{
    struct fixture *f = *state;
    const Ledger__V1__Purchaser partner = LEDGER__V1__PURCHASER__PURCHASER_PARTNER;
    const Ledger__V1__BillingPlan upfront = LEDGER__V1__BILLING_PLAN__BILLING_PLAN_UPFRONT;
    const Ledger__V1__Term p1y = LEDGER__V1__TERM__TERM_P1Y;
    enum { COUNT = 11 };
    assert_ok(store_begin(f->store, true, &f->txn));
    reservation_purchased(f, "p-1", "c-1", &actor_admin, "res-m", "ord-m", partner, upfront, p1y,
                          1200, 1200, utc(2026, 2, 1));
    int64_t t = utc(2026, 4, 10);
    struct purchase bought[COUNT];
    char ids[COUNT][2][16];
    for (size_t i = 0; i < COUNT; i++) {
        snprintf(ids[i][0], sizeof ids[i][0], i == 0 ? "res-30" : "res-30-%zu", i + 1);
        snprintf(ids[i][1], sizeof ids[i][1], i == 0 ? "ord-30" : "ord-30-%zu", i + 1);
        purchase_fill(&bought[i], ids[i][0], ids[i][1], partner, upfront, p1y, 100, 100, t);
    }
    uint64_t exchange = reservation_exchanged_for(f, "res-m", 0, bought, COUNT, t);
    assert_ok(store_commit(f->txn));
    f->txn = NULL;

    Ledger__V1__QueryResult now, replayed;
    assert_ok(reservations(f, &partner_staff, "c-1", 0, 0, &now));
    size_t first = 0;
    while (first < now.n_reservations && now.reservations[first]->sequence != exchange) {
        first++;
    }
    assert_int_equal(now.n_reservations, first + COUNT);
    for (size_t i = 0; i < COUNT; i++) {
        assert_string_equal(now.reservations[first + i]->reservation_id, ids[i][0]);
    }
    assert_ok(reservations(f, &partner_staff, "c-1", 0, exchange, &replayed));
    assert_int_equal(now.n_reservations, replayed.n_reservations);
    for (size_t i = 0; i < now.n_reservations; i++) {
        pack_equal(&now.reservations[i]->base, &replayed.reservations[i]->base);
    }
    views_result_clear(&now);
    views_result_clear(&replayed);

    assert_ok(orders_query(f, &partner_staff, "c-1", t, &now));
    assert_int_equal(now.n_orders, COUNT);
    for (size_t i = 0; i < COUNT; i++) {
        assert_string_equal(now.orders[i]->reservation_id, ids[i][0]);
    }
    views_result_clear(&now);
}

/* --- tests: orders and savings plans ---------------------------------------------------------- */

static void test_views_orders(void **state)
{
    struct fixture *f = *state;
    Ledger__V1__OrdersQuery oq = LEDGER__V1__ORDERS_QUERY__INIT;
    oq.customer_id = "c-1";
    Ledger__V1__Query q = LEDGER__V1__QUERY__INIT;
    q.kind_case = LEDGER__V1__QUERY__KIND_ORDERS;
    q.orders = &oq;
    Ledger__V1__QueryResult r;
    assert_ok(run(f, &partner_staff, &q, &r));
    /* Reservation orders only, in sequence order; savings plans are none. */
    assert_int_equal(r.n_orders, 5);
    const uint64_t sequences[] = {SEQ_RES_A, SEQ_RES_B, SEQ_RES_C, SEQ_EXCHANGE_C, SEQ_RENEW_A};
    const char *kinds[] = {"purchase", "purchase", "purchase", "exchange", "renewal"};
    const char *ids[] = {"ord-a", "ord-b", "ord-c", "ord-d", "ord-e"};
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(r.orders[i]->sequence, sequences[i]);
        assert_string_equal(r.orders[i]->kind, kinds[i]);
        assert_string_equal(r.orders[i]->order_id, ids[i]);
        assert_string_equal(r.orders[i]->customer_id, "c-1");
    }
    assert_int_equal(r.orders[1]->purchaser, LEDGER__V1__PURCHASER__PURCHASER_CUSTOMER);
    assert_string_equal(r.orders[1]->bought_by->principal_id, "u-1");
    assert_int_equal(r.orders[1]->price->amount_minor, 1000);
    assert_int_equal(r.orders[1]->retail_price->amount_minor, 1200);
    assert_int_equal(r.orders[1]->ordered_us, utc(2025, 2, 10));
    assert_int_equal(r.orders[1]->billing_plan, LEDGER__V1__BILLING_PLAN__BILLING_PLAN_MONTHLY);
    assert_string_equal(r.orders[3]->reservation_id, "res-d");
    views_result_clear(&r);

    /* from_us <= ordered_us < to_us. */
    oq.from_us = utc(2025, 2, 10);
    oq.to_us = utc(2025, 7, 15);
    assert_ok(run(f, &partner_staff, &q, &r));
    assert_int_equal(r.n_orders, 2);
    assert_int_equal(r.orders[0]->sequence, SEQ_RES_B);
    assert_int_equal(r.orders[1]->sequence, SEQ_RES_C);
    views_result_clear(&r);

    /* Bad ranges and a missing customer. */
    oq.to_us = oq.from_us;
    assert_int_equal(run(f, &partner_staff, &q, &r), LEDGER_ERR_INVALID_ARGUMENT);
    oq.from_us = -1;
    oq.to_us = 0;
    assert_int_equal(run(f, &partner_staff, &q, &r), LEDGER_ERR_INVALID_ARGUMENT);
    oq.from_us = 0;
    oq.customer_id = "";
    assert_int_equal(run(f, &partner_staff, &q, &r), LEDGER_ERR_INVALID_ARGUMENT);
}

/* Counts the answer's rows of every view kind. */
static size_t rows_in(const Ledger__V1__QueryResult *r)
{
    return r->n_reservations + r->n_orders + r->n_savings_plans + r->n_permissions + r->n_activity +
           r->n_billing;
}

/* Customers whose ids begin with another's ("c-" and "c-1x" beside c-1)
 * are other customers: each view of one, by now or as of a point, shows its
 * rows alone, and c-1's are what they were. */
static void test_views_customer_ids_that_are_prefixes(void **state)
{
    struct fixture *f = *state;
    static const char *const customers[] = {"c-1", "c-", "c-1x"};
    enum { KINDS = 7 };
    size_t before[KINDS];
    Ledger__V1__QueryResult r;
    /* c-1's rows of every view, before the others exist. */
#define VIEWS_OF(customer, out)                                                                    \
    do {                                                                                           \
        assert_ok(reservations(f, &auditor, (customer), 0, 0, &r));                                \
        (out)[0] = rows_in(&r);                                                                    \
        views_result_clear(&r);                                                                    \
        assert_ok(reservations(f, &auditor, (customer), utc(2030, 1, 1), 0, &r));                  \
        (out)[1] = rows_in(&r);                                                                    \
        views_result_clear(&r);                                                                    \
        assert_ok(orders_query(f, &auditor, (customer), 0, &r));                                   \
        (out)[2] = rows_in(&r);                                                                    \
        views_result_clear(&r);                                                                    \
        assert_ok(savings_plans(f, &auditor, (customer), 0, 0, &r));                               \
        (out)[3] = rows_in(&r);                                                                    \
        views_result_clear(&r);                                                                    \
        assert_ok(permissions(f, (customer), true, 0, 0, &r));                                     \
        (out)[4] = rows_in(&r);                                                                    \
        views_result_clear(&r);                                                                    \
        assert_ok(activity(f, &auditor, (customer), "", 0, 0, 0, "", &r));                         \
        (out)[5] = rows_in(&r);                                                                    \
        views_result_clear(&r);                                                                    \
        assert_ok(billing(f, &auditor, "2025-03", (customer), &r));                                \
        (out)[6] = rows_in(&r);                                                                    \
        views_result_clear(&r);                                                                    \
    } while (0)
    VIEWS_OF("c-1", before);
    for (size_t k = 0; k < KINDS; k++) {
        assert_true(before[k] > 0);
    }
    assert_ok(store_begin(f->store, true, &f->txn));
    const Ledger__V1__Purchaser partner = LEDGER__V1__PURCHASER__PURCHASER_PARTNER;
    const Ledger__V1__BillingPlan monthly = LEDGER__V1__BILLING_PLAN__BILLING_PLAN_MONTHLY;
    for (size_t i = 1; i < 3; i++) {
        char subscription[16], reservation[16], order[16], plan[16];
        snprintf(subscription, sizeof subscription, "s%s", customers[i]);
        snprintf(reservation, sizeof reservation, "res%s", customers[i]);
        snprintf(order, sizeof order, "ord%s", customers[i]);
        snprintf(plan, sizeof plan, "sp%s", customers[i]);
        customer_onboarded(f, "p-1", customers[i], &actor_admin, utc(2025, 3, 1));
        subscription_bought(f, "p-1", customers[i], subscription, &actor_admin, utc(2025, 3, 1));
        permission(f, customers[i], LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_RESERVATIONS, true,
                   utc(2025, 3, 2));
        reservation_purchased(f, "p-1", customers[i], &actor_admin, reservation, order, partner,
                              monthly, LEDGER__V1__TERM__TERM_P1Y, 1200, 1200, utc(2025, 3, 3));
        struct plan_purchase bought;
        plan_fill(&bought, plan, partner, monthly, LEDGER__V1__TERM__TERM_P1Y, "USD", 100, 3600,
                  3600, utc(2025, 3, 4));
        Ledger__V1__Event e = LEDGER__V1__EVENT__INIT;
        e.body_case = LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_PURCHASED;
        e.savings_plan_purchased = &bought.message;
        emit(f, &e, "p-1", customers[i], &actor_admin, utc(2025, 3, 4));
    }
    assert_ok(store_commit(f->txn));
    f->txn = NULL;
    size_t after[KINDS];
    VIEWS_OF("c-1", after);
    for (size_t k = 0; k < KINDS; k++) {
        if (after[k] != before[k]) {
            fail_msg("view %zu of c-1: %zu rows, %zu before", k, after[k], before[k]);
        }
    }
    /* Each of the others: one reservation (now and as of 2030), its order,
     * its plan, the one change in its permissions' history, its five
     * events, and March's two instalments. */
    static const size_t theirs[KINDS] = {1, 1, 1, 1, 1, 5, 2};
    for (size_t i = 1; i < 3; i++) {
        size_t got[KINDS];
        VIEWS_OF(customers[i], got);
        for (size_t k = 0; k < KINDS; k++) {
            if (got[k] != theirs[k]) {
                fail_msg("view %zu of %s: %zu rows, wanted %zu", k, customers[i], got[k],
                         theirs[k]);
            }
        }
        assert_ok(reservations(f, &auditor, customers[i], 0, 0, &r));
        char reservation[16];
        snprintf(reservation, sizeof reservation, "res%s", customers[i]);
        assert_string_equal(r.reservations[0]->reservation_id, reservation);
        assert_string_equal(r.reservations[0]->customer_id, customers[i]);
        views_result_clear(&r);
        assert_ok(billing(f, &auditor, "2025-03", customers[i], &r));
        for (size_t k = 0; k < r.n_billing; k++) {
            assert_string_equal(r.billing[k]->customer_id, customers[i]);
        }
        views_result_clear(&r);
    }
#undef VIEWS_OF
}

static void test_views_savings_plans_partner_facing(void **state)
{
    struct fixture *f = *state;
    Ledger__V1__SavingsPlansQuery sq = LEDGER__V1__SAVINGS_PLANS_QUERY__INIT;
    sq.customer_id = "c-1";
    Ledger__V1__Query q = LEDGER__V1__QUERY__INIT;
    q.kind_case = LEDGER__V1__QUERY__KIND_SAVINGS_PLANS;
    q.savings_plans = &sq;
    Ledger__V1__QueryResult r;
    /* Partner staff do not see what the customer bought itself. */
    assert_ok(run(f, &partner_staff, &q, &r));
    assert_int_equal(r.n_savings_plans, 1);
    assert_string_equal(r.savings_plans[0]->savings_plan_id, "sp-p");
    assert_int_equal(r.savings_plans[0]->purchaser, LEDGER__V1__PURCHASER__PURCHASER_PARTNER);
    views_result_clear(&r);
    /* Auditors, billing and the customer itself do. */
    assert_ok(run(f, &auditor, &q, &r));
    assert_int_equal(r.n_savings_plans, 2);
    assert_string_equal(r.savings_plans[0]->savings_plan_id, "sp-c");
    assert_string_equal(r.savings_plans[1]->savings_plan_id, "sp-p");
    const Ledger__V1__SavingsPlanRow *c = r.savings_plans[0];
    assert_int_equal(c->scope->kind, LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SHARED);
    assert_true(c->auto_renew);
    assert_int_equal(c->hourly_commitment->amount_minor, 150);
    assert_int_equal(c->price->amount_minor, 5000);
    assert_string_equal(c->bought_by->principal_id, "u-1");
    assert_int_equal(c->sequence, SEQ_SP_CUSTOMER);
    assert_false(r.savings_plans[1]->auto_renew);
    views_result_clear(&r);
    const struct views_scope customer_user = {"p-1", "c-1", false};
    sq.customer_id = "";
    assert_ok(run(f, &customer_user, &q, &r));
    assert_int_equal(r.n_savings_plans, 2);
    views_result_clear(&r);
    /* A customer user asking about another customer. */
    sq.customer_id = "c-2";
    assert_int_equal(run(f, &customer_user, &q, &r), LEDGER_ERR_PARTNER_MISMATCH);
}

__attribute__((returns_nonnull)) static const Ledger__V1__SavingsPlanRow *
find_savings_plan(const Ledger__V1__QueryResult *r, const char *id)
{
    const Ledger__V1__SavingsPlanRow *found = NULL;
    for (size_t i = 0; i < r->n_savings_plans; i++) {
        if (strcmp(r->savings_plans[i]->savings_plan_id, id) == 0) {
            found = r->savings_plans[i];
        }
    }
    return must(found, id);
}

/* "What was true then" for savings plans: the customer's stream replayed up
 * to a sequence or a recorded time, with the partner-facing filter of the
 * current view. */
static void test_views_savings_plans_as_of(void **state)
{
    struct fixture *f = *state;
    Ledger__V1__QueryResult r;
    /* Before the first purchase: none, for anyone. */
    assert_ok(savings_plans(f, &auditor, "c-1", 0, SEQ_SP_CUSTOMER - 1, &r));
    assert_int_equal(r.n_savings_plans, 0);
    views_result_clear(&r);
    assert_ok(savings_plans(f, &auditor, "c-1", utc(2025, 2, 11), 0, &r));
    assert_int_equal(r.n_savings_plans, 0);
    views_result_clear(&r);

    /* Right after the customer's purchase: as bought (single scope, no
     * auto-renew); partner staff still do not see it. */
    assert_ok(savings_plans(f, &auditor, "c-1", 0, SEQ_SP_CUSTOMER, &r));
    assert_int_equal(r.n_savings_plans, 1);
    const Ledger__V1__SavingsPlanRow *c = find_savings_plan(&r, "sp-c");
    assert_int_equal(c->scope->kind, LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SINGLE);
    assert_string_equal(c->scope->target, "s-1");
    assert_false(c->auto_renew);
    assert_int_equal(c->purchaser, LEDGER__V1__PURCHASER__PURCHASER_CUSTOMER);
    assert_string_equal(c->bought_by->principal_id, "u-1");
    assert_int_equal(c->hourly_commitment->amount_minor, 150);
    assert_int_equal(c->price->amount_minor, 5000);
    assert_int_equal(c->retail_price->amount_minor, 6000);
    assert_int_equal(c->sequence, SEQ_SP_CUSTOMER);
    views_result_clear(&r);
    assert_ok(savings_plans(f, &partner_staff, "c-1", 0, SEQ_SP_CUSTOMER, &r));
    assert_int_equal(r.n_savings_plans, 0);
    views_result_clear(&r);

    /* By time, exactly at the partner's purchase: included; partner staff
     * see that one only. */
    assert_ok(savings_plans(f, &auditor, "c-1", utc(2025, 3, 1), 0, &r));
    assert_int_equal(r.n_savings_plans, 2);
    assert_string_equal(r.savings_plans[0]->savings_plan_id, "sp-c");
    assert_string_equal(r.savings_plans[1]->savings_plan_id, "sp-p");
    views_result_clear(&r);
    assert_ok(savings_plans(f, &partner_staff, "c-1", utc(2025, 3, 1), 0, &r));
    assert_int_equal(r.n_savings_plans, 1);
    assert_string_equal(r.savings_plans[0]->savings_plan_id, "sp-p");
    views_result_clear(&r);

    /* Between the scope change and the auto-renew change, by sequence and
     * by time. */
    assert_ok(savings_plans(f, &auditor, "c-1", 0, SEQ_SP_SCOPE, &r));
    c = find_savings_plan(&r, "sp-c");
    assert_int_equal(c->scope->kind, LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SHARED);
    assert_false(c->auto_renew);
    views_result_clear(&r);
    assert_ok(savings_plans(f, &auditor, "c-1", utc(2025, 3, 7) + 1, 0, &r));
    c = find_savings_plan(&r, "sp-c");
    assert_int_equal(c->scope->kind, LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SHARED);
    assert_false(c->auto_renew);
    views_result_clear(&r);
    /* After both. */
    assert_ok(savings_plans(f, &auditor, "c-1", 0, SEQ_SP_RENEWAL_FLAG, &r));
    assert_true(find_savings_plan(&r, "sp-c")->auto_renew);
    assert_false(find_savings_plan(&r, "sp-p")->auto_renew);
    views_result_clear(&r);
    /* Both bounds: the earlier wins. */
    assert_ok(savings_plans(f, &auditor, "c-1", utc(2030, 1, 1), SEQ_SP_CUSTOMER, &r));
    assert_int_equal(r.n_savings_plans, 1);
    views_result_clear(&r);
    /* A customer user's scope answers for its own customer. */
    const struct views_scope customer_user = {"p-1", "c-1", false};
    assert_ok(savings_plans(f, &customer_user, "", 0, SEQ_SP_PARTNER, &r));
    assert_int_equal(r.n_savings_plans, 2);
    views_result_clear(&r);
    assert_int_equal(savings_plans(f, &customer_user, "c-2", 0, SEQ_SP_PARTNER, &r),
                     LEDGER_ERR_PARTNER_MISMATCH);

    /* As of the head, the replay and the view agree byte for byte, for
     * partner staff and for everyone else. */
    const struct views_scope *scopes[] = {&auditor, &partner_staff};
    for (size_t s = 0; s < 2; s++) {
        Ledger__V1__QueryResult now, replayed;
        assert_ok(savings_plans(f, scopes[s], "c-1", 0, 0, &now));
        assert_ok(savings_plans(f, scopes[s], "c-1", 0, SEQ_LAST, &replayed));
        assert_int_equal(now.n_savings_plans, s == 0 ? 2 : 1);
        assert_int_equal(now.n_savings_plans, replayed.n_savings_plans);
        for (size_t i = 0; i < now.n_savings_plans; i++) {
            pack_equal(&now.savings_plans[i]->base, &replayed.savings_plans[i]->base);
        }
        views_result_clear(&now);
        views_result_clear(&replayed);
    }

    /* The same refusals as the other "as of" answers. */
    assert_int_equal(savings_plans(f, &auditor, "c-1", 0, SEQ_LAST + 1, &r),
                     LEDGER_ERR_INVALID_ARGUMENT);
    assert_int_equal(savings_plans(f, &auditor, "c-1", -1, 0, &r), LEDGER_ERR_INVALID_ARGUMENT);
}

/* A savings plan row's last_sequence is the last event that changed it:
 * its purchase until something changes it, then the scope change, then the
 * renewal-flag change; "as of" a point gives what the view held then. */
static void test_views_savings_plans_last_sequence(void **state)
{
    struct fixture *f = *state;
    Ledger__V1__QueryResult r;
    /* Now: sp-c was rescoped, then its renewal set; sp-p never changed. */
    assert_ok(savings_plans(f, &auditor, "c-1", 0, 0, &r));
    const Ledger__V1__SavingsPlanRow *c = find_savings_plan(&r, "sp-c");
    assert_int_equal(c->sequence, SEQ_SP_CUSTOMER);
    assert_int_equal(c->last_sequence, SEQ_SP_RENEWAL_FLAG);
    const Ledger__V1__SavingsPlanRow *p = find_savings_plan(&r, "sp-p");
    assert_int_equal(p->sequence, SEQ_SP_PARTNER);
    assert_int_equal(p->last_sequence, SEQ_SP_PARTNER);
    views_result_clear(&r);

    /* Just before the scope change, by sequence and by time: the purchase. */
    assert_ok(savings_plans(f, &auditor, "c-1", 0, SEQ_SP_SCOPE - 1, &r));
    assert_int_equal(find_savings_plan(&r, "sp-c")->last_sequence, SEQ_SP_CUSTOMER);
    views_result_clear(&r);
    assert_ok(savings_plans(f, &auditor, "c-1", utc(2025, 3, 7) - 1, 0, &r));
    assert_int_equal(find_savings_plan(&r, "sp-c")->last_sequence, SEQ_SP_CUSTOMER);
    views_result_clear(&r);
    /* Between the two changes: the scope change. */
    assert_ok(savings_plans(f, &auditor, "c-1", 0, SEQ_SP_SCOPE, &r));
    assert_int_equal(find_savings_plan(&r, "sp-c")->last_sequence, SEQ_SP_SCOPE);
    views_result_clear(&r);
    /* After both: the renewal flag's, as the view has it; sp-p's purchase. */
    assert_ok(savings_plans(f, &auditor, "c-1", 0, SEQ_SP_RENEWAL_FLAG, &r));
    assert_int_equal(find_savings_plan(&r, "sp-c")->last_sequence, SEQ_SP_RENEWAL_FLAG);
    assert_int_equal(find_savings_plan(&r, "sp-p")->last_sequence, SEQ_SP_PARTNER);
    views_result_clear(&r);
}

/* --- tests: permissions ------------------------------------------------------------------------
 */

/* A switch recorded without a business time (older builds wrote them) is
 * dated at its recorded time, as the rules date it: in the current view, in
 * its history, and in the answer as of the head, which replays the log. */
static void test_views_permission_without_business_time(void **state)
{
    struct fixture *f = *state;
    const int64_t recorded = utc(2025, 9, 3);
    assert_ok(store_begin(f->store, true, &f->txn));
    customer_onboarded(f, "p-1", "old-1", &actor_admin, utc(2025, 9, 2));
    Ledger__V1__Event e = LEDGER__V1__EVENT__INIT;
    Ledger__V1__PurchasePermissionGranted granted = LEDGER__V1__PURCHASE_PERMISSION_GRANTED__INIT;
    granted.kind = LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_RESERVATIONS;
    e.body_case = LEDGER__V1__EVENT__BODY_PURCHASE_PERMISSION_GRANTED;
    e.purchase_permission_granted = &granted;
    uint64_t sequence = emit_dated(f, &e, "p-1", "old-1", &actor_admin, recorded, 0);
    assert_ok(store_commit(f->txn));
    f->txn = NULL;
    for (int pass = 0; pass < 3; pass++) {
        Ledger__V1__QueryResult r;
        assert_ok(permissions(f, "old-1", pass == 1, 0, pass == 2 ? sequence : 0, &r));
        bool found = false;
        for (size_t i = 0; i < r.n_permissions; i++) {
            if (r.permissions[i]->sequence == sequence) {
                assert_true(r.permissions[i]->enabled);
                assert_int_equal(r.permissions[i]->changed_us, recorded);
                found = true;
            }
        }
        assert_true(found);
        views_result_clear(&r);
    }
}

static void test_views_permissions(void **state)
{
    struct fixture *f = *state;
    Ledger__V1__QueryResult r;
    /* Current switches: both kinds, in kind order. */
    assert_ok(permissions(f, "c-1", false, 0, 0, &r));
    assert_int_equal(r.n_permissions, 2);
    assert_int_equal(r.permissions[0]->kind,
                     LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_RESERVATIONS);
    assert_false(r.permissions[0]->enabled);
    assert_int_equal(r.permissions[0]->sequence, SEQ_REVOKE_RES);
    assert_int_equal(r.permissions[0]->changed_us, utc(2025, 4, 1));
    assert_string_equal(r.permissions[0]->changed_by->principal_id, "admin-1");
    assert_int_equal(r.permissions[1]->kind,
                     LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_SAVINGS_PLANS);
    assert_true(r.permissions[1]->enabled);
    assert_int_equal(r.permissions[1]->sequence, SEQ_GRANT_SP);
    views_result_clear(&r);

    /* History: every change in sequence order. */
    assert_ok(permissions(f, "c-1", true, 0, 0, &r));
    assert_int_equal(r.n_permissions, 3);
    assert_int_equal(r.permissions[0]->sequence, SEQ_GRANT_RES);
    assert_true(r.permissions[0]->enabled);
    assert_int_equal(r.permissions[1]->sequence, SEQ_GRANT_SP);
    assert_int_equal(r.permissions[2]->sequence, SEQ_REVOKE_RES);
    assert_false(r.permissions[2]->enabled);
    views_result_clear(&r);

    /* A customer whose switches were never set: both off, no history. */
    assert_ok(permissions(f, "c-2", false, 0, 0, &r));
    assert_int_equal(r.n_permissions, 2);
    for (size_t i = 0; i < 2; i++) {
        assert_false(r.permissions[i]->enabled);
        assert_int_equal(r.permissions[i]->sequence, 0);
        assert_string_equal(r.permissions[i]->customer_id, "c-2");
    }
    views_result_clear(&r);
    assert_ok(permissions(f, "c-2", true, 0, 0, &r));
    assert_int_equal(r.n_permissions, 0);
    views_result_clear(&r);
    /* The same for a customer whose keys sort before every switch stored
     * (nothing before it to step back to). */
    assert_ok(store_begin(f->store, true, &f->txn));
    customer_onboarded(f, "p-1", "a-1", &actor_admin, utc(2025, 9, 2));
    assert_ok(store_commit(f->txn));
    f->txn = NULL;
    assert_ok(permissions(f, "a-1", false, 0, 0, &r));
    assert_int_equal(r.n_permissions, 2);
    for (size_t i = 0; i < 2; i++) {
        assert_false(r.permissions[i]->enabled);
        assert_int_equal(r.permissions[i]->sequence, 0);
        assert_string_equal(r.permissions[i]->customer_id, "a-1");
    }
    views_result_clear(&r);

    /* As of 2025-02-01: reservations on, savings plans never set. */
    assert_ok(permissions(f, "c-1", false, utc(2025, 2, 1), 0, &r));
    assert_int_equal(r.n_permissions, 2);
    assert_true(r.permissions[0]->enabled);
    assert_int_equal(r.permissions[0]->sequence, SEQ_GRANT_RES);
    assert_false(r.permissions[1]->enabled);
    assert_int_equal(r.permissions[1]->sequence, 0);
    views_result_clear(&r);
    /* As of the grant of savings plans, by sequence: both on. */
    assert_ok(permissions(f, "c-1", false, 0, SEQ_GRANT_SP, &r));
    assert_true(r.permissions[0]->enabled);
    assert_true(r.permissions[1]->enabled);
    views_result_clear(&r);
    /* History as of a sequence. */
    assert_ok(permissions(f, "c-1", true, 0, SEQ_GRANT_SP, &r));
    assert_int_equal(r.n_permissions, 2);
    views_result_clear(&r);
    /* As of the head equals the view. */
    Ledger__V1__QueryResult now;
    assert_ok(permissions(f, "c-1", true, 0, 0, &now));
    assert_ok(permissions(f, "c-1", true, 0, SEQ_LAST, &r));
    assert_int_equal(now.n_permissions, r.n_permissions);
    for (size_t i = 0; i < now.n_permissions; i++) {
        assert_int_equal(now.permissions[i]->sequence, r.permissions[i]->sequence);
        assert_int_equal(now.permissions[i]->enabled, r.permissions[i]->enabled);
        assert_int_equal(now.permissions[i]->changed_us, r.permissions[i]->changed_us);
        assert_string_equal(now.permissions[i]->changed_by->principal_id,
                            r.permissions[i]->changed_by->principal_id);
    }
    views_result_clear(&now);
    views_result_clear(&r);

    /* Bad input. */
    assert_int_equal(permissions(f, "", false, 0, 0, &r), LEDGER_ERR_INVALID_ARGUMENT);
    assert_int_equal(permissions(f, "c 1", false, 0, 0, &r), LEDGER_ERR_INVALID_ARGUMENT);
    assert_int_equal(permissions(f, "c-1", false, -5, 0, &r), LEDGER_ERR_INVALID_ARGUMENT);
}

/* --- tests: activity ----------------------------------------------------------------------------
 */

/* The sequences partner 1's log holds, newest first, and whether partner
 * staff see them (principal events carry no partner). */
static const uint64_t p1_activity[] = {
    SEQ_EXPIRE_D,   SEQ_RENEW_A,         SEQ_EXCHANGE_C,  SEQ_RES_C,           SEQ_CANCEL_B,
    SEQ_REVOKE_RES, SEQ_SP_RENEWAL_FLAG, SEQ_SP_SCOPE,    SEQ_RENEWAL_FLAG_A,  SEQ_SCOPE_A,
    SEQ_ONBOARD_C2, SEQ_SP_PARTNER,      SEQ_SP_CUSTOMER, SEQ_GRANT_SP,        SEQ_RES_B,
    SEQ_RES_A,      SEQ_GRANT_RES,       SEQ_ROLE,        SEQ_SUBSCRIPTION_C1, SEQ_ONBOARD_C1,
    SEQ_PARTNER_1,
};
#define P1_ACTIVITY_COUNT (sizeof p1_activity / sizeof p1_activity[0])

/* Events partner staff do not see: the customer-bought savings plan sp-c and
 * its later changes. */
static bool hidden_from_staff(uint64_t sequence)
{
    return sequence == SEQ_SP_CUSTOMER || sequence == SEQ_SP_SCOPE ||
           sequence == SEQ_SP_RENEWAL_FLAG;
}

static void test_views_activity_newest_first(void **state)
{
    struct fixture *f = *state;
    Ledger__V1__QueryResult r;
    assert_ok(activity(f, &auditor, "", "", 0, 0, 0, "", &r));
    assert_int_equal(r.n_activity, P1_ACTIVITY_COUNT);
    for (size_t i = 0; i < P1_ACTIVITY_COUNT; i++) {
        assert_int_equal(r.activity[i]->sequence, p1_activity[i]);
        assert_string_equal(r.activity[i]->status, "Succeeded");
    }
    assert_string_equal(r.next_page_token, "");
    /* Rows carry the time, customer, action, actor and a detail. */
    const Ledger__V1__ActivityRow *grant = r.activity[P1_ACTIVITY_COUNT - 5];
    assert_int_equal(grant->sequence, SEQ_GRANT_RES);
    assert_string_equal(grant->action, "Create Customer Purchase Permissions");
    assert_string_equal(grant->customer_id, "c-1");
    assert_string_equal(grant->actor->principal_id, "admin-1");
    assert_string_equal(grant->detail, "reservations");
    assert_int_equal(grant->recorded_us, utc(2025, 1, 10));
    assert_int_equal(grant->business_us, utc(2025, 1, 10));
    const Ledger__V1__ActivityRow *bought = r.activity[P1_ACTIVITY_COUNT - 6];
    assert_int_equal(bought->sequence, SEQ_RES_A);
    assert_string_equal(bought->detail, "res-a quantity 3 Standard_D2s_v5 westeurope");
    assert_string_equal(r.activity[3]->detail, "res-c quantity 3 Standard_D2s_v5 westeurope");
    assert_string_equal(r.activity[2]->detail, "res-c exchanged for res-d");
    assert_string_equal(r.activity[1]->detail, "res-a renewed as res-e");
    /* Amounts read as decimals of their currency, not minor units. */
    assert_int_equal(r.activity[4]->sequence, SEQ_CANCEL_B);
    assert_string_equal(r.activity[4]->detail, "res-b refund 5.00 USD");
    assert_int_equal(r.activity[P1_ACTIVITY_COUNT - 10]->sequence, SEQ_SP_PARTNER);
    assert_string_equal(r.activity[P1_ACTIVITY_COUNT - 10]->detail, "sp-p hourly 1.50 USD P3Y");
    /* A scope names its target, but for a shared scope, which has none. */
    bool scope_seen = false;
    for (size_t i = 0; i < r.n_activity; i++) {
        if (r.activity[i]->sequence == SEQ_SCOPE_A) {
            assert_string_equal(r.activity[i]->detail, "res-a scope single s-1 -> shared");
            scope_seen = true;
        }
    }
    assert_true(scope_seen);
    views_result_clear(&r);

    /* Partner staff: the customer-bought savings plan and its changes are not there. */
    assert_ok(activity(f, &partner_staff, "", "", 0, 0, 0, "", &r));
    assert_int_equal(r.n_activity, P1_ACTIVITY_COUNT - 3);
    for (size_t i = 0; i < r.n_activity; i++) {
        assert_false(hidden_from_staff(r.activity[i]->sequence));
    }
    views_result_clear(&r);

    /* Partner 2 has its own log. */
    const struct views_scope p2 = {"p-2", "", false};
    assert_ok(activity(f, &p2, "", "", 0, 0, 0, "", &r));
    assert_int_equal(r.n_activity, 3);
    assert_int_equal(r.activity[0]->sequence, SEQ_P2_RES);
    assert_int_equal(r.activity[1]->sequence, SEQ_P2_ONBOARD);
    assert_int_equal(r.activity[2]->sequence, SEQ_PARTNER_2);
    views_result_clear(&r);
}

/* Pages through an activity query `limit` rows at a time, following the
 * tokens to the end, and collects the sequences in order. Every page holds at
 * most `limit` rows, and is full whenever a next one follows. */
static size_t page_through(struct fixture *f, const struct views_scope *scope, const char *customer,
                           uint32_t limit, uint64_t *out, size_t max)
{
    char token[32] = "";
    size_t count = 0;
    for (int page = 0; page < 100; page++) {
        Ledger__V1__QueryResult r;
        assert_ok(activity(f, scope, customer, "", 0, 0, limit, token, &r));
        assert_true(r.n_activity <= limit);
        for (size_t i = 0; i < r.n_activity; i++) {
            assert_true(count < max);
            out[count++] = r.activity[i]->sequence;
        }
        snprintf(token, sizeof token, "%s", r.next_page_token);
        if (token[0] != '\0') {
            assert_int_equal(r.n_activity, limit);
        }
        views_result_clear(&r);
        if (token[0] == '\0') {
            break;
        }
    }
    return count;
}

static void test_views_activity_paging(void **state)
{
    struct fixture *f = *state;
    const struct views_scope *scopes[] = {&auditor, &partner_staff};
    uint64_t got[P1_ACTIVITY_COUNT];
    for (size_t s = 0; s < 2; s++) {
        /* The partner's log, less what staff may not see. */
        uint64_t expected[P1_ACTIVITY_COUNT];
        size_t expected_count = 0;
        for (size_t i = 0; i < P1_ACTIVITY_COUNT; i++) {
            if (s == 0 || !hidden_from_staff(p1_activity[i])) {
                expected[expected_count++] = p1_activity[i];
            }
        }
        for (uint32_t limit = 1; limit <= 8; limit++) {
            size_t count = page_through(f, scopes[s], "", limit, got, P1_ACTIVITY_COUNT);
            assert_int_equal(count, expected_count);
            assert_memory_equal(got, expected, count * sizeof got[0]);
        }
    }
    /* Paging a customer's log. */
    Ledger__V1__QueryResult r;
    assert_ok(activity(f, &auditor, "c-1", "", 0, 0, 2, "", &r));
    assert_int_equal(r.n_activity, 2);
    assert_int_equal(r.activity[0]->sequence, SEQ_EXPIRE_D);
    assert_int_equal(r.activity[1]->sequence, SEQ_RENEW_A);
    char token[32];
    snprintf(token, sizeof token, "%s", r.next_page_token);
    assert_string_equal(token, "27");
    views_result_clear(&r);
    assert_ok(activity(f, &auditor, "c-1", "", 0, 0, 2, token, &r));
    assert_int_equal(r.activity[0]->sequence, SEQ_EXCHANGE_C);
    assert_int_equal(r.activity[1]->sequence, SEQ_RES_C);
    views_result_clear(&r);
    /* Every page size through a customer's log, in both scopes, gives the
     * unpaged answer in order (each token starts a search of the customer's
     * stream for the first event below it). */
    for (size_t s = 0; s < 2; s++) {
        Ledger__V1__QueryResult all;
        assert_ok(activity(f, scopes[s], "c-1", "", 0, 0, 0, "", &all));
        assert_true(all.n_activity > 8 && all.n_activity <= P1_ACTIVITY_COUNT);
        for (uint32_t limit = 1; limit <= 8; limit++) {
            size_t count = page_through(f, scopes[s], "c-1", limit, got, P1_ACTIVITY_COUNT);
            assert_int_equal(count, all.n_activity);
            for (size_t i = 0; i < count; i++) {
                assert_int_equal(got[i], all.activity[i]->sequence);
            }
        }
        views_result_clear(&all);
    }
    /* A token past every entry: an empty last page. */
    assert_ok(activity(f, &auditor, "", "", 0, 0, 5, "1", &r));
    assert_int_equal(r.n_activity, 0);
    assert_string_equal(r.next_page_token, "");
    views_result_clear(&r);
    /* A token beyond the head was returned by no query: refused (a made-up
     * token would otherwise look like paging). */
    assert_int_equal(activity(f, &auditor, "", "", 0, 0, 1, "18446744073709551615", &r),
                     LEDGER_ERR_INVALID_ARGUMENT);
}

/* An action filter is an action's name in any case: the same rows as its
 * name as docs/events.md spells it, on the partner's walk (which compares
 * stored bytes without decoding them) and on a customer's, with and
 * without a time range, a page at a time or whole. */
static void test_views_activity_action_in_any_case(void **state)
{
    struct fixture *f = *state;
    static const char *const spellings[] = {"purchase reservation", "PURCHASE RESERVATION",
                                            "pUrChAsE ReSeRvAtIoN"};
    static const char *const customers[] = {"", "c-1"};
    static const uint32_t limits[] = {0, 1};
    for (size_t c = 0; c < 2; c++) {
        for (size_t l = 0; l < 2; l++) {
            for (int ranged = 0; ranged < 2; ranged++) {
                int64_t from = ranged ? utc(2025, 2, 1) : 0, to = ranged ? utc(2026, 1, 1) : 0;
                Ledger__V1__QueryResult want;
                assert_ok(activity(f, &auditor, customers[c], "Purchase Reservation", from, to,
                                   limits[l], "", &want));
                assert_true(want.n_activity > 0);
                for (size_t i = 0; i < sizeof spellings / sizeof spellings[0]; i++) {
                    Ledger__V1__QueryResult got;
                    assert_ok(activity(f, &auditor, customers[c], spellings[i], from, to, limits[l],
                                       "", &got));
                    assert_int_equal(got.n_activity, want.n_activity);
                    for (size_t k = 0; k < got.n_activity; k++) {
                        assert_int_equal(got.activity[k]->sequence, want.activity[k]->sequence);
                        assert_string_equal(got.activity[k]->action, "Purchase Reservation");
                    }
                    assert_string_equal(got.next_page_token, want.next_page_token);
                    views_result_clear(&got);
                }
                views_result_clear(&want);
            }
        }
    }
    /* Not a name in any case: refused, naming what was given. */
    Ledger__V1__QueryResult r;
    char message[256];
    Ledger__V1__ActivityQuery aq = LEDGER__V1__ACTIVITY_QUERY__INIT;
    aq.action = "Purchase  Reservation";
    Ledger__V1__Query q = LEDGER__V1__QUERY__INIT;
    q.kind_case = LEDGER__V1__QUERY__KIND_ACTIVITY;
    q.activity = &aq;
    struct store_txn *txn = NULL;
    assert_ok(store_begin(f->store, false, &txn));
    ledger__v1__query_result__init(&r);
    assert_int_equal(views_query(txn, &auditor, &q, &r, message), LEDGER_ERR_INVALID_ARGUMENT);
    store_abort(txn);
    assert_non_null(strstr(message, "action 'Purchase  Reservation' is not an activity action"));
}

static void test_views_activity_filters(void **state)
{
    struct fixture *f = *state;
    Ledger__V1__QueryResult r;
    /* By customer. */
    assert_ok(activity(f, &auditor, "c-2", "", 0, 0, 0, "", &r));
    assert_int_equal(r.n_activity, 1);
    assert_int_equal(r.activity[0]->sequence, SEQ_ONBOARD_C2);
    views_result_clear(&r);
    assert_ok(activity(f, &partner_staff, "c-1", "", 0, 0, 0, "", &r));
    assert_int_equal(r.n_activity, 16);
    for (size_t i = 0; i < r.n_activity; i++) {
        assert_string_equal(r.activity[i]->customer_id, "c-1");
        assert_false(hidden_from_staff(r.activity[i]->sequence));
    }
    views_result_clear(&r);
    assert_ok(activity(f, &auditor, "c-1", "", 0, 0, 0, "", &r));
    assert_int_equal(r.n_activity, 19);
    views_result_clear(&r);
    /* By action. */
    assert_ok(activity(f, &auditor, "", "Create Customer Purchase Permissions", 0, 0, 0, "", &r));
    assert_int_equal(r.n_activity, 2);
    assert_int_equal(r.activity[0]->sequence, SEQ_GRANT_SP);
    assert_int_equal(r.activity[1]->sequence, SEQ_GRANT_RES);
    views_result_clear(&r);
    assert_ok(
        activity(f, &auditor, "c-1", "Delete Customer Purchase Permissions", 0, 0, 0, "", &r));
    assert_int_equal(r.n_activity, 1);
    assert_int_equal(r.activity[0]->sequence, SEQ_REVOKE_RES);
    views_result_clear(&r);
    /* Case does not matter; a name that is no action is refused, not
     * answered with no rows. */
    assert_ok(
        activity(f, &auditor, "c-1", "delete customer PURCHASE permissions", 0, 0, 0, "", &r));
    assert_int_equal(r.n_activity, 1);
    assert_int_equal(r.activity[0]->sequence, SEQ_REVOKE_RES);
    views_result_clear(&r);
    char message[256];
    struct store_txn *txn = NULL;
    Ledger__V1__ActivityQuery aq = LEDGER__V1__ACTIVITY_QUERY__INIT;
    aq.action = "Create Purchase Permissions";
    Ledger__V1__Query q = LEDGER__V1__QUERY__INIT;
    q.kind_case = LEDGER__V1__QUERY__KIND_ACTIVITY;
    q.activity = &aq;
    assert_ok(store_begin(f->store, false, &txn));
    ledger__v1__query_result__init(&r);
    assert_int_equal(views_query(txn, &auditor, &q, &r, message), LEDGER_ERR_INVALID_ARGUMENT);
    store_abort(txn);
    assert_non_null(
        strstr(message, "action 'Create Purchase Permissions' is not an activity action"));
    /* By date range, half-open. */
    assert_ok(activity(f, &auditor, "", "", utc(2025, 3, 5), utc(2025, 4, 1), 0, "", &r));
    assert_int_equal(r.n_activity, 4);
    assert_int_equal(r.activity[0]->sequence, SEQ_SP_RENEWAL_FLAG);
    assert_int_equal(r.activity[3]->sequence, SEQ_SCOPE_A);
    views_result_clear(&r);
    /* All three, paged. */
    assert_ok(activity(f, &auditor, "c-1", "Purchase Reservation", utc(2025, 1, 1), utc(2026, 1, 1),
                       1, "", &r));
    assert_int_equal(r.n_activity, 1);
    assert_int_equal(r.activity[0]->sequence, SEQ_RES_C);
    char token[32];
    snprintf(token, sizeof token, "%s", r.next_page_token);
    views_result_clear(&r);
    assert_ok(activity(f, &auditor, "c-1", "Purchase Reservation", utc(2025, 1, 1), utc(2026, 1, 1),
                       5, token, &r));
    assert_int_equal(r.n_activity, 2);
    assert_int_equal(r.activity[0]->sequence, SEQ_RES_B);
    assert_int_equal(r.activity[1]->sequence, SEQ_RES_A);
    assert_string_equal(r.next_page_token, "");
    views_result_clear(&r);
    /* A scope bound to one customer sees only that customer. */
    const struct views_scope customer_user = {"p-1", "c-2", false};
    assert_ok(activity(f, &customer_user, "", "", 0, 0, 0, "", &r));
    assert_int_equal(r.n_activity, 1);
    views_result_clear(&r);
    assert_int_equal(activity(f, &customer_user, "c-1", "", 0, 0, 0, "", &r),
                     LEDGER_ERR_PARTNER_MISMATCH);
}

/* The sequences of the rows of `all` (an unfiltered answer) that a query
 * with these filters keeps, in its order, into out[0..max): what the
 * filters must answer. Returns how many. */
static size_t activity_filter_by_hand(const Ledger__V1__QueryResult *all, const char *customer,
                                      const char *action, const int64_t recorded[2],
                                      const int64_t dated[2], uint64_t *out, size_t max)
{
    size_t count = 0;
    for (size_t i = 0; i < all->n_activity; i++) {
        const Ledger__V1__ActivityRow *row = all->activity[i];
        if ((customer[0] == '\0' || strcmp(row->customer_id, customer) == 0) &&
            (action[0] == '\0' || strcmp(row->action, action) == 0) &&
            row->recorded_us >= recorded[0] &&
            (recorded[1] == 0 || row->recorded_us < recorded[1]) && row->business_us >= dated[0] &&
            (dated[1] == 0 || row->business_us < dated[1])) {
            assert_true(count < max);
            out[count++] = row->sequence;
        }
    }
    return count;
}

/* Follows an activity query's pages of `limit` rows (recorded times in
 * recorded[0..1], business times in dated[0..1]) to the end: together they
 * are expected[0..expected_count), in order. */
static void expect_activity_pages(struct fixture *f, const struct views_scope *scope,
                                  const char *customer, const char *action,
                                  const int64_t recorded[2], const int64_t dated[2], uint32_t limit,
                                  const uint64_t *expected, size_t expected_count)
{
    char token[32] = "";
    size_t count = 0;
    for (size_t page = 0; page <= expected_count; page++) {
        Ledger__V1__QueryResult r;
        assert_ok(activity_dated(f, scope, customer, action, recorded[0], recorded[1], dated, limit,
                                 token, &r));
        for (size_t i = 0; i < r.n_activity; i++) {
            assert_true(count < expected_count);
            assert_int_equal(r.activity[i]->sequence, expected[count]);
            count++;
        }
        snprintf(token, sizeof token, "%s", r.next_page_token);
        views_result_clear(&r);
        if (token[0] == '\0') {
            break;
        }
    }
    assert_int_equal(count, expected_count);
    assert_string_equal(token, "");
}

/* Every combination of customer, action and date range, paged at several
 * sizes, answers the rows that filtering the whole unfiltered log by hand
 * gives, in the same order, for partner staff and auditors alike. */
static void test_views_activity_filters_agree_with_the_log(void **state)
{
    struct fixture *f = *state;
    static const char *const customers[] = {"", "c-1", "c-2"};
    static const char *const actions[] = {"",
                                          "Purchase Reservation",
                                          "Create Customer Purchase Permissions",
                                          "Purchase Savings Plan",
                                          "Exchange Reservation",
                                          "Register Partner",
                                          "Expire Reservation",
                                          "Change Subscription Status"};
    const struct views_scope *scopes[] = {&auditor, &partner_staff};
    for (size_t s = 0; s < 2; s++) {
        Ledger__V1__QueryResult all;
        assert_ok(activity(f, scopes[s], "", "", 0, 0, 0, "", &all));
        assert_true(all.n_activity > 10 && all.next_page_token[0] == '\0');
        /* Ranges around the recorded times there are: all, none before and
         * after, each one time alone, and from and to one in the middle. */
        int64_t middle = all.activity[all.n_activity / 2]->recorded_us;
        int64_t first = all.activity[all.n_activity - 1]->recorded_us;
        int64_t last = all.activity[0]->recorded_us;
        const int64_t ranges[][2] = {
            {0, 0},      {first, last + 1}, {0, first},           {last + 1, 0},
            {middle, 0}, {0, middle},       {middle, middle + 1}, {first, first + 1},
        };
        for (size_t c = 0; c < sizeof customers / sizeof customers[0]; c++) {
            for (size_t a = 0; a < sizeof actions / sizeof actions[0]; a++) {
                for (size_t g = 0; g < sizeof ranges / sizeof ranges[0]; g++) {
                    static const int64_t undated[2] = {0, 0};
                    uint64_t expected[64];
                    size_t expected_count = activity_filter_by_hand(
                        &all, customers[c], actions[a], ranges[g], undated, expected, 64);
                    for (uint32_t limit = 1; limit <= 4; limit += 3) {
                        expect_activity_pages(f, scopes[s], customers[c], actions[a], ranges[g],
                                              undated, limit, expected, expected_count);
                    }
                }
            }
        }
        views_result_clear(&all);
    }
}

/* Scope changes to and from the longest target there is (a resource group:
 * a subscription id and a group name of 64 characters each) are written
 * out whole in the activity detail. */
static void test_views_activity_longest_scope(void **state)
{
    struct fixture *f = *state;
    char target[2 * LEDGER_ID_LENGTH_MAX + 2];
    memset(target, 's', LEDGER_ID_LENGTH_MAX);
    target[LEDGER_ID_LENGTH_MAX] = '/';
    memset(target + LEDGER_ID_LENGTH_MAX + 1, 'g', LEDGER_ID_LENGTH_MAX);
    target[2 * LEDGER_ID_LENGTH_MAX + 1] = '\0';
    Ledger__V1__Scope group = LEDGER__V1__SCOPE__INIT;
    group.kind = LEDGER__V1__SCOPE_KIND__SCOPE_KIND_RESOURCE_GROUP;
    group.target = target;
    Ledger__V1__ReservationScopeChanged body = LEDGER__V1__RESERVATION_SCOPE_CHANGED__INIT;
    body.reservation_id = "res-a";
    Ledger__V1__Event e = LEDGER__V1__EVENT__INIT;
    e.body_case = LEDGER__V1__EVENT__BODY_RESERVATION_SCOPE_CHANGED;
    e.reservation_scope_changed = &body;
    int64_t t = utc(2025, 10, 1);
    assert_ok(store_begin(f->store, true, &f->txn));
    body.from_scope = &scope_shared;
    body.to_scope = &group;
    emit(f, &e, "p-1", "c-1", &actor_admin, t);
    body.from_scope = &group;
    body.to_scope = &scope_shared;
    emit(f, &e, "p-1", "c-1", &actor_admin, t + 1);
    assert_ok(store_commit(f->txn));
    f->txn = NULL;
    char to[512], from[512];
    snprintf(to, sizeof to, "res-a scope shared -> resource-group %s", target);
    snprintf(from, sizeof from, "res-a scope resource-group %s -> shared", target);
    Ledger__V1__QueryResult r;
    assert_ok(activity(f, &auditor, "c-1", "", t, t + 2, 0, "", &r));
    assert_int_equal(r.n_activity, 2);
    assert_string_equal(r.activity[0]->detail, from);
    assert_string_equal(r.activity[1]->detail, to);
    views_result_clear(&r);
}

static void test_views_activity_bad_input(void **state)
{
    struct fixture *f = *state;
    Ledger__V1__QueryResult r;
    /* "A" and "1:" are not all digits: read as digits, they would be 17
     * and 20, sequences within the log; 2^64 + 5 would be 5 taken modulo
     * 2^64. */
    const char *tokens[] = {"abc",
                            "0",
                            "-1",
                            "+5",
                            " 5",
                            "5 ",
                            "18446744073709551616",
                            "18446744073709551621",
                            "123456789012345678901",
                            "1.5",
                            "A",
                            "1:",
                            "999999" /* past the log's end: no token a query returned */};
    for (size_t i = 0; i < sizeof tokens / sizeof tokens[0]; i++) {
        assert_int_equal(activity(f, &auditor, "", "", 0, 0, 0, tokens[i], &r),
                         LEDGER_ERR_INVALID_ARGUMENT);
    }
    assert_int_equal(activity(f, &auditor, "", "", 0, 0, LEDGER_ROWS_PAGE_MAX + 1, "", &r),
                     LEDGER_ERR_INVALID_ARGUMENT);
    assert_ok(activity(f, &auditor, "", "", 0, 0, LEDGER_ROWS_PAGE_MAX, "", &r));
    views_result_clear(&r);
    assert_int_equal(activity(f, &auditor, "", "", 10, 10, 0, "", &r), LEDGER_ERR_INVALID_ARGUMENT);
    assert_int_equal(activity(f, &auditor, "", "", -10, 0, 0, "", &r), LEDGER_ERR_INVALID_ARGUMENT);
    assert_int_equal(activity(f, &auditor, "", "", 0, -10, 0, "", &r), LEDGER_ERR_INVALID_ARGUMENT);
    assert_int_equal(activity(f, &auditor, "bad/customer", "", 0, 0, 0, "", &r),
                     LEDGER_ERR_INVALID_ARGUMENT);
    char long_action[LEDGER_NAME_LENGTH_MAX + 2];
    memset(long_action, 'a', sizeof long_action - 1);
    long_action[sizeof long_action - 1] = '\0';
    assert_int_equal(activity(f, &auditor, "", long_action, 0, 0, 0, "", &r),
                     LEDGER_ERR_INVALID_ARGUMENT);
}

/* --- tests: billing ------------------------------------------------------------------------------
 */

/* Sums partner and retail amounts of one charge id over a month's rows. */
static void billing_sum(struct fixture *f, const char *month, const char *charge_id,
                        const char *charge, int64_t *partner_out, int64_t *retail_out,
                        size_t *rows_out)
{
    Ledger__V1__QueryResult r;
    assert_ok(billing(f, &partner_staff, month, "", &r));
    for (size_t i = 0; i < r.n_billing; i++) {
        const Ledger__V1__BillingRow *row = r.billing[i];
        assert_string_equal(row->month, month);
        if (strcmp(row->charge_id, charge_id) == 0 && strcmp(row->charge, charge) == 0) {
            *partner_out += row->partner_amount->amount_minor;
            *retail_out += row->retail_amount->amount_minor;
            (*rows_out)++;
        }
    }
    views_result_clear(&r);
}

static void month_name(int index, char out[8])
{
    unsigned year = (unsigned)(index / 12) % 10000u, month = (unsigned)(index % 12) + 1u;
    out[0] = (char)('0' + year / 1000);
    out[1] = (char)('0' + year / 100 % 10);
    out[2] = (char)('0' + year / 10 % 10);
    out[3] = (char)('0' + year % 10);
    out[4] = '-';
    out[5] = (char)('0' + month / 10);
    out[6] = (char)('0' + month % 10);
    out[7] = '\0';
}

static void test_views_billing_months(void **state)
{
    struct fixture *f = *state;
    Ledger__V1__QueryResult r;
    /* January 2025: the upfront reservation, in full. */
    assert_ok(billing(f, &partner_staff, "2025-01", "", &r));
    assert_int_equal(r.n_billing, 1);
    const Ledger__V1__BillingRow *a = r.billing[0];
    assert_string_equal(a->charge, "reservation");
    assert_string_equal(a->charge_id, "res-a");
    assert_string_equal(a->order_id, "ord-a");
    assert_string_equal(a->customer_id, "c-1");
    assert_int_equal(a->partner_amount->amount_minor, 12000);
    assert_string_equal(a->partner_amount->currency, "USD");
    assert_int_equal(a->retail_amount->amount_minor, 15000);
    assert_int_equal(a->purchaser, LEDGER__V1__PURCHASER__PURCHASER_PARTNER);
    assert_int_equal(a->sequence, SEQ_RES_A);
    views_result_clear(&r);

    /* February 2025: res-b's first month and the customer-bought savings plan,
     * which billing shows even to partner staff (the partner pays for it). */
    assert_ok(billing(f, &partner_staff, "2025-02", "", &r));
    assert_int_equal(r.n_billing, 2);
    assert_string_equal(r.billing[0]->charge_id, "res-b");
    assert_int_equal(r.billing[0]->partner_amount->amount_minor, 1000 / 12);
    assert_int_equal(r.billing[0]->retail_amount->amount_minor, 100);
    assert_int_equal(r.billing[0]->purchaser, LEDGER__V1__PURCHASER__PURCHASER_CUSTOMER);
    assert_string_equal(r.billing[1]->charge_id, "sp-c");
    assert_string_equal(r.billing[1]->charge, "savings-plan");
    assert_int_equal(r.billing[1]->partner_amount->amount_minor, 5000);
    assert_int_equal(r.billing[1]->retail_amount->amount_minor, 6000);
    views_result_clear(&r);

    /* The partner-bought monthly savings plan: 36 months from 2025-03 adding
     * up exactly, the remainder in the last month, nothing after. */
    int64_t partner = 0, retail = 0;
    size_t rows = 0;
    int first = 2025 * 12 + 2;
    for (int m = first - 1; m <= first + 37; m++) {
        char month[8];
        month_name(m, month);
        int64_t p = 0, q = 0;
        size_t n = 0;
        billing_sum(f, month, "sp-p", "savings-plan", &p, &q, &n);
        if (m < first || m >= first + 36) {
            assert_int_equal(n, 0);
        } else {
            assert_int_equal(n, 1);
            assert_int_equal(p, m == first + 35 ? 3601 - 35 * 100 : 100);
        }
        partner += p;
        retail += q;
        rows += n;
    }
    assert_int_equal(rows, 36);
    assert_int_equal(partner, 3601);
    assert_int_equal(retail, 3700);

    /* res-b, monthly from 2025-02, cancelled 2025-05-20: four monthly charges
     * (Feb..May), a -500 refund in May, nothing after. */
    partner = retail = 0;
    rows = 0;
    for (int m = 2025 * 12; m < 2027 * 12; m++) {
        char month[8];
        month_name(m, month);
        int64_t p = 0, q = 0;
        size_t n = 0;
        billing_sum(f, month, "res-b", "reservation", &p, &q, &n);
        partner += p;
        retail += q;
        rows += n;
    }
    assert_int_equal(rows, 4);
    assert_int_equal(partner, 4 * (1000 / 12));
    assert_int_equal(retail, 4 * 100);
    assert_ok(billing(f, &partner_staff, "2025-05", "c-1", &r));
    const Ledger__V1__BillingRow *refund = NULL;
    for (size_t i = 0; i < r.n_billing; i++) {
        if (strcmp(r.billing[i]->charge, "refund") == 0) {
            assert_null(refund);
            refund = r.billing[i];
        }
    }
    refund = must(refund, "refund row");
    assert_string_equal(refund->charge_id, "res-b");
    assert_string_equal(refund->order_id, "ord-b");
    assert_int_equal(refund->partner_amount->amount_minor, -500);
    assert_int_equal(refund->retail_amount->amount_minor, 0);
    assert_int_equal(refund->sequence, SEQ_CANCEL_B);
    assert_string_equal(refund->bought_by->principal_id, "admin-1");
    views_result_clear(&r);

    /* Exchange in July: res-c charged June and July (200 each) then stopped;
     * the refund of -2000 and the replacement's 9000 upfront in July. */
    assert_ok(billing(f, &partner_staff, "2025-07", "c-1", &r));
    /* Three rows of the exchange and the savings plan's monthly charge. */
    assert_int_equal(r.n_billing, 4);
    int64_t july = 0;
    bool seen_refund = false, seen_replacement = false;
    for (size_t i = 0; i < r.n_billing; i++) {
        const Ledger__V1__BillingRow *row = r.billing[i];
        if (strcmp(row->charge_id, "sp-p") == 0) {
            continue;
        }
        july += row->partner_amount->amount_minor;
        if (strcmp(row->charge, "refund") == 0) {
            seen_refund = true;
            assert_string_equal(row->charge_id, "res-c");
            assert_string_equal(row->order_id, "ord-d");
            assert_int_equal(row->partner_amount->amount_minor, -2000);
            assert_int_equal(row->sequence, SEQ_EXCHANGE_C);
        } else if (strcmp(row->charge_id, "res-d") == 0) {
            seen_replacement = true;
            assert_int_equal(row->partner_amount->amount_minor, 9000);
            assert_int_equal(row->retail_amount->amount_minor, 9900);
        } else {
            assert_string_equal(row->charge_id, "res-c");
            assert_int_equal(row->partner_amount->amount_minor, 200);
        }
    }
    assert_true(seen_refund && seen_replacement);
    assert_int_equal(july, 200 - 2000 + 9000);
    views_result_clear(&r);
    assert_ok(billing(f, &partner_staff, "2025-08", "c-1", &r));
    for (size_t i = 0; i < r.n_billing; i++) {
        assert_string_not_equal(r.billing[i]->charge_id, "res-c");
    }
    views_result_clear(&r);

    /* The renewal: charged in its month. */
    partner = retail = 0;
    rows = 0;
    billing_sum(f, "2026-01", "res-e", "reservation", &partner, &retail, &rows);
    assert_int_equal(rows, 1);
    assert_int_equal(partner, 11000);
    assert_int_equal(retail, 14000);

    /* Customer filter and partner isolation. */
    assert_ok(billing(f, &partner_staff, "2025-08", "c-2", &r));
    assert_int_equal(r.n_billing, 0);
    views_result_clear(&r);
    const struct views_scope p2 = {"p-2", "", true};
    assert_ok(billing(f, &p2, "2025-08", "", &r));
    assert_int_equal(r.n_billing, 1);
    assert_int_equal(r.billing[0]->partner_amount->amount_minor, 777);
    views_result_clear(&r);
}

/* The longest term: a monthly P5Y reservation is billed in each of its 60
 * months, found by a query for its last month although its charges are
 * stored under its first (the query's 59-month window), and never after. */
static void test_views_billing_five_year_monthly(void **state)
{
    struct fixture *f = *state;
    assert_ok(store_begin(f->store, true, &f->txn));
    uint64_t sequence = reservation_purchased(
        f, "p-1", "c-1", &actor_admin, "res-5y", "ord-5y", LEDGER__V1__PURCHASER__PURCHASER_PARTNER,
        LEDGER__V1__BILLING_PLAN__BILLING_PLAN_MONTHLY, LEDGER__V1__TERM__TERM_P5Y, 6001, 7260,
        utc(2026, 6, 10));
    assert_ok(store_commit(f->txn));
    f->txn = NULL;
    int first = 2026 * 12 + 5;
    int64_t partner = 0, retail = 0;
    size_t rows = 0;
    for (int m = first - 1; m <= first + 61; m++) {
        char month[8];
        month_name(m, month);
        int64_t p = 0, q = 0;
        size_t n = 0;
        billing_sum(f, month, "res-5y", "reservation", &p, &q, &n);
        if (m < first || m >= first + 60) {
            assert_int_equal(n, 0);
        } else {
            assert_int_equal(n, 1);
            assert_int_equal(p, m == first + 59 ? 6001 - 59 * 100 : 100);
            assert_int_equal(q, m == first + 59 ? 7260 - 59 * 121 : 121);
        }
        partner += p;
        retail += q;
        rows += n;
    }
    assert_int_equal(rows, 60);
    assert_int_equal(partner, 6001);
    assert_int_equal(retail, 7260);
    /* The row carries the purchase's own fields. */
    Ledger__V1__QueryResult r;
    assert_ok(billing(f, &partner_staff, "2031-05", "c-1", &r));
    const Ledger__V1__BillingRow *last = NULL;
    for (size_t i = 0; i < r.n_billing; i++) {
        if (strcmp(r.billing[i]->charge_id, "res-5y") == 0) {
            last = r.billing[i];
        }
    }
    last = must(last, "the last month's row of res-5y");
    assert_string_equal(last->month, "2031-05");
    assert_string_equal(last->order_id, "ord-5y");
    assert_int_equal(last->sequence, sequence);
    views_result_clear(&r);
}

/* Months are named by all four digits of their year: a purchase of the
 * twenty-second century is billed in its own month, found by that month's
 * name, and none of the months before it. */
static void test_views_billing_month_of_another_century(void **state)
{
    struct fixture *f = *state;
    assert_ok(store_begin(f->store, true, &f->txn));
    reservation_purchased(f, "p-1", "c-2", &actor_admin, "res-2150", "ord-2150",
                          LEDGER__V1__PURCHASER__PURCHASER_PARTNER,
                          LEDGER__V1__BILLING_PLAN__BILLING_PLAN_UPFRONT,
                          LEDGER__V1__TERM__TERM_P1Y, 4321, 5000, utc(2150, 6, 10));
    assert_ok(store_commit(f->txn));
    f->txn = NULL;
    Ledger__V1__QueryResult r;
    assert_ok(billing(f, &partner_staff, "2150-06", "c-2", &r));
    assert_int_equal(r.n_billing, 1);
    assert_string_equal(r.billing[0]->month, "2150-06");
    assert_string_equal(r.billing[0]->charge_id, "res-2150");
    assert_int_equal(r.billing[0]->partner_amount->amount_minor, 4321);
    views_result_clear(&r);
    const char *before[] = {"2150-05", "2050-06", "2149-06"};
    for (size_t i = 0; i < sizeof before / sizeof before[0]; i++) {
        assert_ok(billing(f, &partner_staff, before[i], "c-2", &r));
        assert_int_equal(r.n_billing, 0);
        views_result_clear(&r);
    }
}

/* One customer's month beside customers of shorter ids: their keys are
 * shorter than the asked id, and are other customers' rows, not damage. */
static void test_views_billing_customer_of_a_long_id(void **state)
{
    struct fixture *f = *state;
    char long_id[LEDGER_ID_LENGTH_MAX + 1];
    memset(long_id, 'l', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    assert_ok(store_begin(f->store, true, &f->txn));
    customer_onboarded(f, "p-1", long_id, &actor_admin, utc(2150, 6, 1));
    reservation_purchased(f, "p-1", "c-2", &actor_admin, "res-c2", "ord-c2",
                          LEDGER__V1__PURCHASER__PURCHASER_PARTNER,
                          LEDGER__V1__BILLING_PLAN__BILLING_PLAN_MONTHLY,
                          LEDGER__V1__TERM__TERM_P1Y, 1200, 1300, utc(2150, 6, 10));
    reservation_purchased(f, "p-1", long_id, &actor_admin, "res-long", "ord-long",
                          LEDGER__V1__PURCHASER__PURCHASER_PARTNER,
                          LEDGER__V1__BILLING_PLAN__BILLING_PLAN_UPFRONT,
                          LEDGER__V1__TERM__TERM_P1Y, 4321, 5000, utc(2150, 6, 11));
    assert_ok(store_commit(f->txn));
    f->txn = NULL;
    /* The month of both, one page and pages of one row; and a month of
     * c-2's instalments alone, empty for the long id. */
    const char *months[] = {"2150-06", "2150-07"};
    for (size_t m = 0; m < 2; m++) {
        for (uint32_t limit = 0; limit <= 1; limit++) {
            Ledger__V1__QueryResult r;
            assert_ok(billing_page(f, months[m], long_id, 0, limit, "", &r));
            assert_int_equal(r.n_billing, m == 0 ? 1 : 0);
            assert_int_equal(r.total_rows, m == 0 ? 1 : 0);
            if (m == 0) {
                assert_string_equal(r.billing[0]->customer_id, long_id);
                assert_string_equal(r.billing[0]->charge_id, "res-long");
            }
            views_result_clear(&r);
        }
        Ledger__V1__QueryResult c2;
        assert_ok(billing(f, &partner_staff, months[m], "c-2", &c2));
        assert_int_equal(c2.n_billing, 1);
        assert_int_equal(c2.billing[0]->partner_amount->amount_minor, 100);
        views_result_clear(&c2);
    }
}

/* How many of a month's rows carry `charge_id` and `charge`, as of tree_size. */
static size_t rows_of(struct fixture *f, const char *month, uint64_t tree_size,
                      const char *charge_id, const char *charge)
{
    Ledger__V1__QueryResult r;
    assert_ok(billing_at(f, &partner_staff, month, "", tree_size, &r));
    size_t n = 0;
    for (size_t i = 0; i < r.n_billing; i++) {
        n += strcmp(r.billing[i]->charge_id, charge_id) == 0 &&
             strcmp(r.billing[i]->charge, charge) == 0;
    }
    views_result_clear(&r);
    return n;
}

/* A month's billing pinned to a tree size is what the first N events
 * billed, whatever came later: before res-b's cancellation its monthly
 * charges run on and there is no refund; from the cancellation on, they stop
 * and the refund is there. Past the log is refused. */
static void test_views_billing_at_tree_size(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(rows_of(f, "2025-07", SEQ_CANCEL_B - 1, "res-b", "reservation"), 1);
    assert_int_equal(rows_of(f, "2025-05", SEQ_CANCEL_B - 1, "res-b", "refund"), 0);
    assert_int_equal(rows_of(f, "2025-07", SEQ_CANCEL_B, "res-b", "reservation"), 0);
    assert_int_equal(rows_of(f, "2025-05", SEQ_CANCEL_B, "res-b", "refund"), 1);
    assert_int_equal(rows_of(f, "2025-07", 0, "res-b", "reservation"), 0);
    /* Not yet bought at the tree size: no row. */
    assert_int_equal(rows_of(f, "2025-02", SEQ_RES_B - 1, "res-b", "reservation"), 0);
    assert_int_equal(rows_of(f, "2025-02", SEQ_RES_B, "res-b", "reservation"), 1);
    Ledger__V1__QueryResult r;
    assert_int_equal(billing_at(f, &partner_staff, "2025-02", "", 100000, &r),
                     LEDGER_ERR_INVALID_ARGUMENT);
}

/* Counts the rows and sums the partner amounts of one item's charges
 * (`charge` "reservation" or "savings-plan") over months [from, to] (month
 * indexes), asserting each month's: `each` (and `retail_each`, unless
 * negative) in [billed_from, billed_to], no row outside. */
static int64_t charge_months(struct fixture *f, const char *id, const char *charge, int from,
                             int to, int billed_from, int billed_to, int64_t each,
                             int64_t retail_each)
{
    int64_t total = 0;
    for (int m = from; m <= to; m++) {
        char month[8];
        month_name(m, month);
        int64_t p = 0, q = 0;
        size_t n = 0;
        billing_sum(f, month, id, charge, &p, &q, &n);
        bool billed = m >= billed_from && m <= billed_to;
        if (n != (billed ? 1u : 0u) ||
            (billed && (p != each || (retail_each >= 0 && q != retail_each)))) {
            fail_msg("%s in %s: %zu row(s) of %lld/%lld, wanted %d of %lld/%lld", id, month, n,
                     (long long)p, (long long)q, billed ? 1 : 0, (long long)each,
                     (long long)retail_each);
        }
        total += p;
    }
    return total;
}

/* charge_months of a reservation, its partner amounts only. */
static int64_t monthly_rows(struct fixture *f, const char *id, int from, int to, int billed_from,
                            int billed_to, int64_t each)
{
    return charge_months(f, id, "reservation", from, to, billed_from, billed_to, each, -1);
}

/* A renewal is billed from the month its term starts (the old reservation's
 * expiry), not the month it was recorded: recorded late, none of its months
 * is lost; recorded early, none is billed twice. Its cancellation stops the
 * instalments after the cancellation's month. */
static void test_views_billing_renewal_starts_at_expiry(void **state)
{
    struct fixture *f = *state;
    const Ledger__V1__BillingPlan monthly = LEDGER__V1__BILLING_PLAN__BILLING_PLAN_MONTHLY;
    const Ledger__V1__Term p1y = LEDGER__V1__TERM__TERM_P1Y;
    const Ledger__V1__Purchaser partner = LEDGER__V1__PURCHASER__PURCHASER_PARTNER;
    assert_ok(store_begin(f->store, true, &f->txn));
    reservation_purchased(f, "p-1", "c-1", &actor_admin, "res-old", "ord-old", partner, monthly,
                          p1y, 1200, 1200, utc(2025, 3, 10));
    /* Late: the old one ended in March 2026 (+365 days), recorded in June. */
    struct purchase late;
    purchase_fill(&late, "res-late", "ord-late", partner, monthly, p1y, 2400, 2400,
                  utc(2025, 3, 10) + YEAR_US);
    reservation_renewed(f, "res-old", &late, utc(2026, 6, 1));
    /* Early: renewed in December for a term starting in March. */
    reservation_purchased(f, "p-1", "c-1", &actor_admin, "res-old2", "ord-old2", partner, monthly,
                          p1y, 1200, 1200, utc(2025, 3, 20));
    struct purchase early;
    purchase_fill(&early, "res-early", "ord-early", partner, monthly, p1y, 3600, 3600,
                  utc(2025, 3, 20) + YEAR_US);
    reservation_renewed(f, "res-old2", &early, utc(2025, 12, 1));
    /* The early renewal cancelled in August 2026: March..August billed. */
    reservation_cancelled(f, "res-early", 0, utc(2026, 8, 15));
    /* Renewals cancelled before their terms start are billed nothing, even
     * in the month they would have started, monthly or upfront. */
    const Ledger__V1__BillingPlan upfront = LEDGER__V1__BILLING_PLAN__BILLING_PLAN_UPFRONT;
    reservation_purchased(f, "p-1", "c-1", &actor_admin, "res-old3", "ord-old3", partner, monthly,
                          p1y, 1200, 1200, utc(2025, 3, 28));
    struct purchase soon;
    purchase_fill(&soon, "res-soon", "ord-soon", partner, monthly, p1y, 1200, 1200,
                  utc(2025, 3, 28) + YEAR_US);
    reservation_renewed(f, "res-old3", &soon, utc(2026, 3, 1));
    reservation_cancelled(f, "res-soon", 0, utc(2026, 3, 5));
    reservation_purchased(f, "p-1", "c-1", &actor_admin, "res-old4", "ord-old4", partner, upfront,
                          p1y, 1200, 1200, utc(2025, 4, 20));
    struct purchase up;
    purchase_fill(&up, "res-up", "ord-up", partner, upfront, p1y, 1200, 1200,
                  utc(2025, 4, 20) + YEAR_US);
    reservation_renewed(f, "res-old4", &up, utc(2026, 3, 1));
    reservation_cancelled(f, "res-up", 0, utc(2026, 3, 31));
    assert_ok(store_commit(f->txn));
    f->txn = NULL;
    const int march_2025 = 2025 * 12 + 2, march_2026 = 2026 * 12 + 2;
    assert_int_equal(monthly_rows(f, "res-old", march_2025 - 1, march_2026 + 1, march_2025,
                                  march_2025 + 11, 100),
                     1200);
    assert_int_equal(monthly_rows(f, "res-late", march_2026 - 4, march_2026 + 14, march_2026,
                                  march_2026 + 11, 200),
                     2400);
    assert_int_equal(monthly_rows(f, "res-early", march_2025 + 6, march_2026 + 14, march_2026,
                                  march_2026 + 5, 300),
                     6 * 300);
    assert_int_equal(monthly_rows(f, "res-soon", march_2026 - 1, march_2026 + 13, 1, 0, 0), 0);
    assert_int_equal(monthly_rows(f, "res-up", march_2026 - 1, march_2026 + 13, 1, 0, 0), 0);
}

/* A renewal exchanged before its term starts is billed no month, upfront
 * or monthly, as one cancelled then is; the replacement is charged from
 * the exchange. */
static void test_views_billing_renewal_exchanged_before_its_term(void **state)
{
    struct fixture *f = *state;
    const Ledger__V1__BillingPlan monthly = LEDGER__V1__BILLING_PLAN__BILLING_PLAN_MONTHLY;
    const Ledger__V1__BillingPlan upfront = LEDGER__V1__BILLING_PLAN__BILLING_PLAN_UPFRONT;
    const Ledger__V1__Term p1y = LEDGER__V1__TERM__TERM_P1Y;
    const Ledger__V1__Purchaser partner = LEDGER__V1__PURCHASER__PURCHASER_PARTNER;
    assert_ok(store_begin(f->store, true, &f->txn));
    const char *olds[] = {"res-xo1", "res-xo2"}, *renewals[] = {"res-xr1", "res-xr2"};
    const char *replacements[] = {"res-xn1", "res-xn2"};
    const Ledger__V1__BillingPlan plans[] = {monthly, upfront};
    for (size_t i = 0; i < 2; i++) {
        char order[32];
        snprintf(order, sizeof order, "ord-%s", olds[i]);
        reservation_purchased(f, "p-1", "c-1", &actor_admin, olds[i], order, partner, monthly, p1y,
                              1200, 1200, utc(2025, 3, 10));
        struct purchase renewal;
        snprintf(order, sizeof order, "ord-%s", renewals[i]);
        purchase_fill(&renewal, renewals[i], order, partner, plans[i], p1y, 2400, 2400,
                      utc(2025, 3, 10) + YEAR_US);
        reservation_renewed(f, olds[i], &renewal, utc(2025, 12, 1));
        struct purchase replacement;
        snprintf(order, sizeof order, "ord-%s", replacements[i]);
        purchase_fill(&replacement, replacements[i], order, partner, upfront, p1y, 3000, 3000,
                      utc(2026, 1, 15));
        reservation_exchanged(f, (char *)renewals[i], 0, &replacement, utc(2026, 1, 15));
    }
    assert_ok(store_commit(f->txn));
    f->txn = NULL;
    const int january_2026 = 2026 * 12;
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(monthly_rows(f, renewals[i], january_2026 - 2, january_2026 + 15, 1, 0, 0),
                         0);
        assert_int_equal(monthly_rows(f, replacements[i], january_2026 - 2, january_2026 + 3,
                                      january_2026, january_2026, 3000),
                         3000);
    }
}

/* A monthly reservation whose record gives no start of its term (starts_us
 * 0, as records of earlier builds may) is billed from its event's month:
 * the business time, else the recorded time. Its cancellation cuts its
 * instalments back to the cancellation's month as any other's, found by
 * that same month: none is billed after it. */
static void test_views_billing_stop_without_start(void **state)
{
    struct fixture *f = *state;
    const Ledger__V1__BillingPlan monthly = LEDGER__V1__BILLING_PLAN__BILLING_PLAN_MONTHLY;
    const Ledger__V1__Term p1y = LEDGER__V1__TERM__TERM_P1Y;
    const Ledger__V1__Purchaser partner = LEDGER__V1__PURCHASER__PURCHASER_PARTNER;
    assert_ok(store_begin(f->store, true, &f->txn));
    /* Dated back: recorded in May, bought in March. */
    struct purchase dated;
    purchase_fill(&dated, "res-dated", "ord-dated", partner, monthly, p1y, 1200, 1200,
                  utc(2025, 3, 10));
    dated.message.starts_us = 0;
    Ledger__V1__Event e = LEDGER__V1__EVENT__INIT;
    e.body_case = LEDGER__V1__EVENT__BODY_RESERVATION_PURCHASED;
    e.reservation_purchased = &dated.message;
    emit_dated(f, &e, "p-1", "c-1", &actor_admin, utc(2025, 5, 2), utc(2025, 3, 10));
    /* No business time either: its recorded time, in March. */
    struct purchase undated;
    purchase_fill(&undated, "res-undated", "ord-undated", partner, monthly, p1y, 2400, 2400,
                  utc(2025, 3, 20));
    undated.message.starts_us = 0;
    Ledger__V1__Event u = LEDGER__V1__EVENT__INIT;
    u.body_case = LEDGER__V1__EVENT__BODY_RESERVATION_PURCHASED;
    u.reservation_purchased = &undated.message;
    emit_dated(f, &u, "p-1", "c-1", &actor_admin, utc(2025, 3, 20), 0);
    reservation_cancelled(f, "res-dated", 0, utc(2025, 6, 15));
    reservation_cancelled(f, "res-undated", 0, utc(2025, 4, 5));
    assert_ok(store_commit(f->txn));
    f->txn = NULL;
    const int march = 2025 * 12 + 2;
    assert_int_equal(monthly_rows(f, "res-dated", march - 1, march + 12, march, march + 3, 100),
                     400);
    assert_int_equal(monthly_rows(f, "res-undated", march - 1, march + 12, march, march + 1, 200),
                     400);
}

/* A monthly reservation cancelled once all its instalments are billed (in
 * the last month of its term, or in the month after its twelfth when its
 * term began mid-month) keeps every instalment, exactly once, and nothing
 * is billed after. Its refund is a row of its own in the cancellation's
 * month. */
static void test_views_billing_stop_after_the_last_instalment(void **state)
{
    struct fixture *f = *state;
    const Ledger__V1__BillingPlan monthly = LEDGER__V1__BILLING_PLAN__BILLING_PLAN_MONTHLY;
    const Ledger__V1__Term p1y = LEDGER__V1__TERM__TERM_P1Y;
    const Ledger__V1__Purchaser partner = LEDGER__V1__PURCHASER__PURCHASER_PARTNER;
    assert_ok(store_begin(f->store, true, &f->txn));
    reservation_purchased(f, "p-1", "c-1", &actor_admin, "res-last", "ord-last", partner, monthly,
                          p1y, 1200, 1200, utc(2025, 1, 15));
    reservation_purchased(f, "p-1", "c-1", &actor_admin, "res-over", "ord-over", partner, monthly,
                          p1y, 2400, 2400, utc(2025, 1, 15));
    reservation_cancelled(f, "res-last", 0, utc(2025, 12, 20));
    reservation_cancelled(f, "res-over", 30, utc(2026, 1, 10));
    assert_ok(store_commit(f->txn));
    f->txn = NULL;
    const int january = 2025 * 12;
    assert_int_equal(
        monthly_rows(f, "res-last", january - 1, january + 14, january, january + 11, 100), 1200);
    assert_int_equal(
        monthly_rows(f, "res-over", january - 1, january + 14, january, january + 11, 200), 2400);
    assert_int_equal(charge_months(f, "res-over", "refund", january - 1, january + 14, january + 12,
                                   january + 12, -30, 0),
                     -30);
}

/* The savings plan row of `id` in a savings plans answer, or NULL. */
static const Ledger__V1__SavingsPlanRow *plan_find(const Ledger__V1__QueryResult *r, const char *id)
{
    for (size_t i = 0; i < r->n_savings_plans; i++) {
        if (strcmp(r->savings_plans[i]->savings_plan_id, id) == 0) {
            return r->savings_plans[i];
        }
    }
    return NULL;
}

/* The savings plan row of `id`, which the answer must hold. */
static const Ledger__V1__SavingsPlanRow *plan_row(const Ledger__V1__QueryResult *r, const char *id)
{
    static const Ledger__V1__SavingsPlanRow none = LEDGER__V1__SAVINGS_PLAN_ROW__INIT;
    const Ledger__V1__SavingsPlanRow *row = plan_find(r, id);
    if (row == NULL) {
        fail_msg("no savings plan %s in the answer", id);
        return &none;
    }
    return row;
}

/* A savings plan renewal: the renewed plan's row is marked renewed, the
 * renewal's row added; the renewal is billed exactly as a purchase of the
 * plan would be, from the month its term starts (the renewed plan's expiry)
 * whenever it was recorded: monthly instalments, or the whole price upfront
 * in that month. A customer's plan renewed stays hidden from partner staff,
 * but its charges are still the partner's; the activity log names the
 * action "Renew Savings Plan". */
static void test_views_savings_plan_renewal(void **state)
{
    struct fixture *f = *state;
    const Ledger__V1__BillingPlan monthly = LEDGER__V1__BILLING_PLAN__BILLING_PLAN_MONTHLY;
    const Ledger__V1__BillingPlan upfront = LEDGER__V1__BILLING_PLAN__BILLING_PLAN_UPFRONT;
    const Ledger__V1__Term p1y = LEDGER__V1__TERM__TERM_P1Y;
    const Ledger__V1__Purchaser partner = LEDGER__V1__PURCHASER__PURCHASER_PARTNER;
    const Ledger__V1__Purchaser customer = LEDGER__V1__PURCHASER__PURCHASER_CUSTOMER;
    assert_ok(store_begin(f->store, true, &f->txn));
    /* Monthly, renewed late: the old one ended in March 2026, recorded in June. */
    savings_plan_purchased(f, "sp-m", &actor_admin, partner, monthly, p1y, 1200, 2400,
                           utc(2025, 3, 10));
    uint64_t monthly_seq = savings_plan_renewed(f, "sp-m", "sp-m2", partner, monthly, p1y, 2400,
                                                4800, utc(2025, 3, 10) + YEAR_US, utc(2026, 6, 1));
    /* Upfront, a customer's, renewed early: in December for a term starting
     * in April. */
    savings_plan_purchased(f, "sp-u", &actor_user, customer, upfront, p1y, 3600, 7200,
                           utc(2025, 4, 20));
    uint64_t upfront_seq = savings_plan_renewed(f, "sp-u", "sp-u2", customer, upfront, p1y, 3900,
                                                7800, utc(2025, 4, 20) + YEAR_US, utc(2025, 12, 1));
    assert_ok(store_commit(f->txn));
    f->txn = NULL;

    Ledger__V1__QueryResult r;
    assert_ok(savings_plans(f, &auditor, "c-1", 0, 0, &r));
    const Ledger__V1__SavingsPlanRow *old = plan_row(&r, "sp-m");
    const Ledger__V1__SavingsPlanRow *renewal = plan_row(&r, "sp-m2");
    assert_true(old->renewed);
    assert_int_equal(old->last_sequence, monthly_seq);
    assert_false(renewal->renewed);
    assert_int_equal(renewal->sequence, monthly_seq);
    assert_true(renewal->auto_renew);
    assert_true(renewal->starts_us == utc(2025, 3, 10) + YEAR_US);
    assert_int_equal(renewal->price->amount_minor, 2400);
    assert_int_equal(renewal->purchaser, partner);
    assert_string_equal(renewal->bought_by->principal_id, actor_admin.principal_id);
    assert_true(plan_row(&r, "sp-u")->renewed);
    assert_int_equal(plan_row(&r, "sp-u2")->purchaser, customer);
    /* The same as of the renewal's sequence, from the replayed state. */
    Ledger__V1__QueryResult then;
    assert_ok(savings_plans(f, &auditor, "c-1", 0, upfront_seq, &then));
    assert_true(plan_row(&then, "sp-m")->renewed);
    pack_equal(&plan_row(&then, "sp-m2")->base, &renewal->base);
    pack_equal(&plan_row(&then, "sp-u")->base, &plan_row(&r, "sp-u")->base);
    views_result_clear(&then);
    /* Before it, the plan was in force. */
    assert_ok(savings_plans(f, &auditor, "c-1", 0, monthly_seq - 1, &then));
    assert_false(plan_row(&then, "sp-m")->renewed);
    assert_null(plan_find(&then, "sp-m2"));
    views_result_clear(&then);
    /* As of a business time: the monthly plan's renewal, dated when it was
     * recorded (2026-06-01), is not yet true the day before, and is from
     * then on, renewal row and all; the upfront one's is by then. */
    assert_ok(savings_plans_dated(f, &auditor, "c-1", utc(2026, 6, 1) - 1, 0, 0, &then));
    assert_false(plan_row(&then, "sp-m")->renewed);
    assert_null(plan_find(&then, "sp-m2"));
    assert_true(plan_row(&then, "sp-u")->renewed);
    assert_int_equal(plan_row(&then, "sp-u2")->sequence, upfront_seq);
    views_result_clear(&then);
    assert_ok(savings_plans_dated(f, &auditor, "c-1", utc(2026, 6, 1), 0, 0, &then));
    assert_true(plan_row(&then, "sp-m")->renewed);
    pack_equal(&plan_row(&then, "sp-m2")->base, &renewal->base);
    views_result_clear(&then);
    views_result_clear(&r);
    /* Partner staff do not see the customer's plan, renewed or not. */
    assert_ok(savings_plans(f, &partner_staff, "c-1", 0, 0, &r));
    assert_non_null(plan_find(&r, "sp-m2"));
    assert_null(plan_find(&r, "sp-u"));
    assert_null(plan_find(&r, "sp-u2"));
    views_result_clear(&r);

    /* Billing, in export month terms. */
    const int march_2025 = 2025 * 12 + 2, march_2026 = 2026 * 12 + 2;
    assert_int_equal(charge_months(f, "sp-m", "savings-plan", march_2025 - 1, march_2026 + 1,
                                   march_2025, march_2025 + 11, 100, 200),
                     1200);
    assert_int_equal(charge_months(f, "sp-m2", "savings-plan", march_2026 - 4, march_2026 + 14,
                                   march_2026, march_2026 + 11, 200, 400),
                     2400);
    const int april_2026 = march_2026 + 1;
    assert_int_equal(charge_months(f, "sp-u2", "savings-plan", april_2026 - 6, april_2026 + 13,
                                   april_2026, april_2026, 3900, 7800),
                     3900);
    assert_ok(billing(f, &partner_staff, "2026-04", "c-1", &r));
    size_t found = 0;
    for (size_t i = 0; i < r.n_billing; i++) {
        const Ledger__V1__BillingRow *row = r.billing[i];
        if (strcmp(row->charge_id, "sp-u2") == 0) {
            found++;
            assert_string_equal(row->charge, "savings-plan");
            assert_string_equal(row->order_id, "");
            assert_int_equal(row->purchaser, customer);
            assert_int_equal(row->sequence, upfront_seq);
            assert_string_equal(row->bought_by->principal_id, actor_admin.principal_id);
        }
    }
    assert_int_equal(found, 1);
    views_result_clear(&r);

    /* Activity: named, detailed, and hidden from partner staff for the
     * customer's plan. */
    assert_ok(activity(f, &auditor, "c-1", "Renew Savings Plan", 0, 0, 0, "", &r));
    assert_int_equal(r.n_activity, 2);
    assert_int_equal(r.activity[0]->sequence, upfront_seq); /* latest recorded first */
    assert_string_equal(r.activity[0]->detail, "sp-u renewed as sp-u2");
    assert_true(r.activity[0]->business_us == utc(2025, 12, 1));
    assert_string_equal(r.activity[0]->actor->principal_id, actor_admin.principal_id);
    assert_int_equal(r.activity[1]->sequence, monthly_seq);
    assert_string_equal(r.activity[1]->detail, "sp-m renewed as sp-m2");
    views_result_clear(&r);
    assert_ok(activity(f, &partner_staff, "c-1", "Renew Savings Plan", 0, 0, 0, "", &r));
    assert_int_equal(r.n_activity, 1);
    assert_int_equal(r.activity[0]->sequence, monthly_seq);
    views_result_clear(&r);
    /* Savings plans are no orders, renewed or bought. */
    assert_ok(orders_query(f, &partner_staff, "c-1", 0, &r));
    for (size_t i = 0; i < r.n_orders; i++) {
        assert_true(r.orders[i]->sequence != monthly_seq && r.orders[i]->sequence != upfront_seq);
    }
    views_result_clear(&r);
}

/* An exchange for three replacements: a reservation row, an order of kind
 * "exchange" and charges for each, the refund after them all, an activity
 * detail naming them; a later cancellation of the third stops its charges,
 * not the others'. */
static void test_views_exchange_several_replacements(void **state)
{
    struct fixture *f = *state;
    const Ledger__V1__BillingPlan monthly = LEDGER__V1__BILLING_PLAN__BILLING_PLAN_MONTHLY;
    const Ledger__V1__BillingPlan upfront = LEDGER__V1__BILLING_PLAN__BILLING_PLAN_UPFRONT;
    const Ledger__V1__Term p1y = LEDGER__V1__TERM__TERM_P1Y;
    const Ledger__V1__Term p3y = LEDGER__V1__TERM__TERM_P3Y;
    const Ledger__V1__Purchaser partner = LEDGER__V1__PURCHASER__PURCHASER_PARTNER;
    assert_ok(store_begin(f->store, true, &f->txn));
    reservation_purchased(f, "p-1", "c-1", &actor_admin, "res-m", "ord-m", partner, monthly, p1y,
                          1200, 1200, utc(2026, 2, 1));
    int64_t t = utc(2026, 4, 10);
    struct purchase bought[3];
    purchase_fill(&bought[0], "res-x", "ord-x1", partner, monthly, p1y, 2400, 2400, t);
    purchase_fill(&bought[1], "res-x-2", "ord-x-2", partner, upfront, p3y, 5000, 5500, t);
    purchase_fill(&bought[2], "res-x-3", "ord-x-3", partner, monthly, p3y, 3600, 3600, t);
    uint64_t exchange = reservation_exchanged_for(f, "res-m", 300, bought, 3, t);
    uint64_t cancel = reservation_cancelled(f, "res-x-3", 0, utc(2026, 7, 20));
    assert_ok(store_commit(f->txn));
    f->txn = NULL;

    Ledger__V1__QueryResult r;
    assert_ok(reservations(f, &partner_staff, "c-1", 0, 0, &r));
    assert_int_equal(find_reservation(&r, "res-m")->state,
                     LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_EXCHANGED);
    assert_int_equal(find_reservation(&r, "res-x")->state,
                     LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_ACTIVE);
    const Ledger__V1__ReservationRow *second = find_reservation(&r, "res-x-2");
    assert_int_equal(second->state, LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_ACTIVE);
    assert_int_equal(second->sequence, exchange);
    assert_string_equal(second->order_id, "ord-x-2");
    assert_int_equal(second->price->amount_minor, 5000);
    assert_int_equal(find_reservation(&r, "res-x-3")->state,
                     LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_CANCELLED);
    assert_int_equal(find_reservation(&r, "res-x-3")->last_sequence, cancel);
    views_result_clear(&r);

    /* One order per replacement, in their order, after the earlier ones. */
    assert_ok(orders_query(f, &partner_staff, "c-1", t, &r));
    assert_int_equal(r.n_orders, 3);
    const char *orders[] = {"ord-x1", "ord-x-2", "ord-x-3"};
    const char *ids[] = {"res-x", "res-x-2", "res-x-3"};
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(r.orders[i]->order_id, orders[i]);
        assert_string_equal(r.orders[i]->reservation_id, ids[i]);
        assert_string_equal(r.orders[i]->kind, "exchange");
        assert_int_equal(r.orders[i]->sequence, exchange);
        assert_int_equal(r.orders[i]->ordered_us, t);
    }
    assert_int_equal(r.orders[1]->price->amount_minor, 5000);
    views_result_clear(&r);

    /* April 2026: each replacement's first charge, then the refund. */
    assert_ok(billing(f, &partner_staff, "2026-04", "c-1", &r));
    const char *charge_ids[] = {"res-x", "res-x-2", "res-x-3", "res-m"};
    const char *charges[] = {"reservation", "reservation", "reservation", "refund"};
    const int64_t amounts[] = {200, 5000, 100, -300};
    size_t found = 0;
    for (size_t i = 0; i < r.n_billing; i++) {
        if (r.billing[i]->sequence != exchange) {
            continue;
        }
        assert_true(found < 4);
        assert_string_equal(r.billing[i]->charge_id, charge_ids[found]);
        assert_string_equal(r.billing[i]->charge, charges[found]);
        assert_int_equal(r.billing[i]->partner_amount->amount_minor, amounts[found]);
        found++;
    }
    assert_int_equal(found, 4);
    views_result_clear(&r);
    int64_t p = 0, q_retail = 0;
    size_t n = 0;
    billing_sum(f, "2026-04", "res-m", "refund", &p, &q_retail, &n);
    assert_int_equal(n, 1);
    assert_ok(billing(f, &partner_staff, "2026-04", "c-1", &r));
    for (size_t i = 0; i < r.n_billing; i++) {
        if (strcmp(r.billing[i]->charge, "refund") == 0 && r.billing[i]->sequence == exchange) {
            assert_string_equal(r.billing[i]->order_id, "ord-x1");
        }
    }
    views_result_clear(&r);

    /* The returned reservation is billed up to the exchange's month; the
     * first two replacements for their whole terms; the cancelled third up
     * to its cancellation's month. */
    const int april = 2026 * 12 + 3;
    assert_int_equal(monthly_rows(f, "res-m", april - 3, april + 12, april - 2, april, 100), 300);
    assert_int_equal(monthly_rows(f, "res-x", april - 1, april + 13, april, april + 11, 200), 2400);
    assert_int_equal(monthly_rows(f, "res-x-3", april - 1, april + 37, april, april + 3, 100), 400);
    p = 0;
    n = 0;
    billing_sum(f, "2026-04", "res-x-2", "reservation", &p, &q_retail, &n);
    assert_int_equal(n, 1);
    assert_int_equal(p, 5000);

    /* The activity log names every replacement. */
    assert_ok(activity(f, &partner_staff, "c-1", "Exchange Reservation", t, t + 1, 10, "", &r));
    assert_int_equal(r.n_activity, 1);
    assert_string_equal(r.activity[0]->detail, "res-m exchanged for res-x, res-x-2, res-x-3");
    views_result_clear(&r);
}

/* The activity detail of an exchange for the most replacements names those
 * that fit and counts the rest. */
static void test_views_exchange_detail_of_many(void **state)
{
    struct fixture *f = *state;
    const Ledger__V1__Purchaser partner = LEDGER__V1__PURCHASER__PURCHASER_PARTNER;
    const Ledger__V1__BillingPlan monthly = LEDGER__V1__BILLING_PLAN__BILLING_PLAN_MONTHLY;
    const Ledger__V1__Term p5y = LEDGER__V1__TERM__TERM_P5Y;
    assert_ok(store_begin(f->store, true, &f->txn));
    reservation_purchased(f, "p-1", "c-1", &actor_admin, "res-many", "ord-many", partner, monthly,
                          p5y, 6000, 6000, utc(2026, 9, 1));
    int64_t t = utc(2026, 9, 2);
    static struct purchase bought[LEDGER_EXCHANGE_REPLACEMENTS_MAX];
    /* The longest ids there are: a sequence of 20 digits. */
    static char ids[LEDGER_EXCHANGE_REPLACEMENTS_MAX][2][40];
    for (size_t i = 0; i < LEDGER_EXCHANGE_REPLACEMENTS_MAX; i++) {
        snprintf(ids[i][0], sizeof ids[i][0],
                 i == 0 ? "res-18446744073709551615" : "res-18446744073709551615-%zu", i + 1);
        snprintf(ids[i][1], sizeof ids[i][1],
                 i == 0 ? "ord-18446744073709551615" : "ord-18446744073709551615-%zu", i + 1);
        purchase_fill(&bought[i], ids[i][0], ids[i][1], partner, monthly, p5y, 6000, 6000, t);
    }
    reservation_exchanged_for(f, "res-many", 0, bought, LEDGER_EXCHANGE_REPLACEMENTS_MAX, t);
    assert_ok(store_commit(f->txn));
    f->txn = NULL;
    Ledger__V1__QueryResult r;
    assert_ok(activity(f, &partner_staff, "c-1", "Exchange Reservation", t, t + 1, 10, "", &r));
    assert_int_equal(r.n_activity, 1);
    const char *detail = r.activity[0]->detail;
    assert_non_null(strstr(detail, "res-many exchanged for res-18446744073709551615, "
                                   "res-18446744073709551615-2, "));
    /* 16 ids of up to 27 characters fit in 512 bytes; the other 16 are
     * counted. */
    assert_non_null(strstr(detail, ", res-18446744073709551615-16 and 16 more"));
    assert_true(strlen(detail) < 512);
    views_result_clear(&r);
    /* Every one of them is billed: 32 times 60 instalments in one event. */
    assert_int_equal(monthly_rows(f, "res-18446744073709551615-32", 2026 * 12 + 7, 2031 * 12 + 9,
                                  2026 * 12 + 8, 2031 * 12 + 7, 100),
                     6000);
}

/* An exchange returning the most reservations, each with the longest id
 * there is, is billed one refund row whose charge id names every one of
 * them, joined by ','. */
static void test_views_exchange_of_most_returns(void **state)
{
    struct fixture *f = *state;
    const Ledger__V1__Purchaser partner = LEDGER__V1__PURCHASER__PURCHASER_PARTNER;
    const Ledger__V1__BillingPlan upfront = LEDGER__V1__BILLING_PLAN__BILLING_PLAN_UPFRONT;
    const Ledger__V1__Term p1y = LEDGER__V1__TERM__TERM_P1Y;
    static char ids[LEDGER_EXCHANGE_RETURNS_MAX][LEDGER_ID_LENGTH_MAX + 1];
    static char joined[LEDGER_EXCHANGE_RETURNS_MAX * (LEDGER_ID_LENGTH_MAX + 1)];
    char *returned[LEDGER_EXCHANGE_RETURNS_MAX];
    size_t used = 0;
    assert_ok(store_begin(f->store, true, &f->txn));
    for (size_t i = 0; i < LEDGER_EXCHANGE_RETURNS_MAX; i++) {
        snprintf(ids[i], sizeof ids[i], "res-%060zu", i);
        assert_int_equal(strlen(ids[i]), LEDGER_ID_LENGTH_MAX);
        returned[i] = ids[i];
        used +=
            (size_t)snprintf(joined + used, sizeof joined - used, "%s%s", i > 0 ? "," : "", ids[i]);
        reservation_purchased(f, "p-1", "c-1", &actor_admin, ids[i], "ord-r", partner, upfront, p1y,
                              1000, 1000, utc(2026, 10, 1));
    }
    int64_t t = utc(2026, 11, 5);
    struct purchase replacement;
    purchase_fill(&replacement, "res-all", "ord-all", partner, upfront, p1y, 40000, 40000, t);
    Ledger__V1__ReservationExchanged body = LEDGER__V1__RESERVATION_EXCHANGED__INIT;
    Ledger__V1__Money money = LEDGER__V1__MONEY__INIT;
    money.amount_minor = 3000;
    money.currency = "USD";
    Ledger__V1__ReservationPurchased *replacements[1] = {&replacement.message};
    body.n_returned_reservation_ids = LEDGER_EXCHANGE_RETURNS_MAX;
    body.returned_reservation_ids = returned;
    body.refund = &money;
    body.remaining_commitment = &money;
    body.n_replacements = 1;
    body.replacements = replacements;
    Ledger__V1__Event e = LEDGER__V1__EVENT__INIT;
    e.body_case = LEDGER__V1__EVENT__BODY_RESERVATION_EXCHANGED;
    e.reservation_exchanged = &body;
    uint64_t exchange = emit(f, &e, "p-1", "c-1", &actor_admin, t);
    assert_ok(store_commit(f->txn));
    f->txn = NULL;

    Ledger__V1__QueryResult r;
    assert_ok(billing(f, &partner_staff, "2026-11", "c-1", &r));
    const Ledger__V1__BillingRow *refund = NULL;
    for (size_t i = 0; i < r.n_billing; i++) {
        if (r.billing[i]->sequence == exchange && strcmp(r.billing[i]->charge, "refund") == 0) {
            assert_null(refund);
            refund = r.billing[i];
        }
    }
    refund = must(refund, "the exchange's refund row");
    assert_string_equal(refund->charge_id, joined);
    assert_int_equal(strlen(refund->charge_id),
                     LEDGER_EXCHANGE_RETURNS_MAX * (LEDGER_ID_LENGTH_MAX + 1) - 1);
    assert_string_equal(refund->order_id, "ord-all");
    assert_int_equal(refund->partner_amount->amount_minor, -3000);
    views_result_clear(&r);
    assert_ok(reservations(f, &partner_staff, "c-1", 0, 0, &r));
    for (size_t i = 0; i < LEDGER_EXCHANGE_RETURNS_MAX; i++) {
        assert_int_equal(find_reservation(&r, ids[i])->state,
                         LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_EXCHANGED);
    }
    views_result_clear(&r);
    /* The activity detail names the returned ids that fit, whole, and
     * counts the rest, as it does for the replacements. */
    assert_ok(activity(f, &partner_staff, "c-1", "Exchange Reservation", t, t + 1, 10, "", &r));
    assert_int_equal(r.n_activity, 1);
    char expected[512];
    snprintf(expected, sizeof expected, "%s,%s,%s and %d more exchanged for res-all", ids[0],
             ids[1], ids[2], LEDGER_EXCHANGE_RETURNS_MAX - 3);
    assert_string_equal(r.activity[0]->detail, expected);
    views_result_clear(&r);
}

/* The billing row of `charge` for `charge_id`, which the answer must hold. */
static const Ledger__V1__BillingRow *billing_find_row(const Ledger__V1__QueryResult *r,
                                                      const char *charge, const char *charge_id)
{
    static const Ledger__V1__BillingRow none = LEDGER__V1__BILLING_ROW__INIT;
    for (size_t i = 0; i < r->n_billing; i++) {
        if (strcmp(r->billing[i]->charge, charge) == 0 &&
            strcmp(r->billing[i]->charge_id, charge_id) == 0) {
            return r->billing[i];
        }
    }
    fail_msg("no %s row for %s in the answer", charge, charge_id);
    return &none;
}

/* A purchase's cloud order id is in its billing rows (a refund's: the
 * refunded purchase's), its reservation and order rows and its savings plan
 * row; a purchase that named none shows "". */
static void test_views_billing_cloud_order_id(void **state)
{
    struct fixture *f = *state;
    const Ledger__V1__Purchaser partner = LEDGER__V1__PURCHASER__PURCHASER_PARTNER;
    const Ledger__V1__BillingPlan upfront = LEDGER__V1__BILLING_PLAN__BILLING_PLAN_UPFRONT;
    const Ledger__V1__Term p1y = LEDGER__V1__TERM__TERM_P1Y;
    assert_ok(store_begin(f->store, true, &f->txn));
    struct purchase bought;
    purchase_fill(&bought, "res-cloud", "ord-cloud", partner, upfront, p1y, 5000, 6000,
                  utc(2030, 1, 10));
    bought.message.cloud_order_id = "ro-77";
    Ledger__V1__Event e = LEDGER__V1__EVENT__INIT;
    e.body_case = LEDGER__V1__EVENT__BODY_RESERVATION_PURCHASED;
    e.reservation_purchased = &bought.message;
    uint64_t bought_sequence = emit(f, &e, "p-1", "c-1", &actor_admin, utc(2030, 1, 10));
    struct plan_purchase plan;
    plan_fill(&plan, "sp-cloud", partner, upfront, p1y, "USD", 10, 8760, 9000, utc(2030, 1, 12));
    plan.message.cloud_order_id = "spo-77";
    Ledger__V1__Event pe = LEDGER__V1__EVENT__INIT;
    pe.body_case = LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_PURCHASED;
    pe.savings_plan_purchased = &plan.message;
    emit(f, &pe, "p-1", "c-1", &actor_admin, utc(2030, 1, 12));
    reservation_cancelled(f, "res-cloud", 100, utc(2030, 1, 20));
    /* The cloud order index: the partner's purchases, any customer. */
    struct views_id_holder holder = {.found = true};
    assert_ok(views_cloud_order_holder(f->txn, "ro-77", "p-1", &holder));
    assert_true(holder.found);
    assert_string_equal(holder.customer_id, "c-1");
    assert_int_equal(holder.sequence, bought_sequence);
    assert_ok(views_cloud_order_holder(f->txn, "spo-77", "p-1", &holder));
    assert_true(holder.found);
    assert_ok(views_cloud_order_holder(f->txn, "ro-77", "p-2", &holder));
    assert_false(holder.found);
    assert_ok(views_cloud_order_holder(f->txn, "ro-78", "p-1", &holder));
    assert_false(holder.found);
    assert_int_equal(LEDGER_ERR_INVALID_ARGUMENT,
                     views_cloud_order_holder(f->txn, "ro 77", "p-1", &holder));
    assert_ok(store_commit(f->txn));
    f->txn = NULL;

    Ledger__V1__QueryResult r;
    assert_ok(billing(f, &partner_staff, "2030-01", "c-1", &r));
    const Ledger__V1__BillingRow *row = billing_find_row(&r, "reservation", "res-cloud");
    assert_string_equal(row->order_id, "ord-cloud");
    assert_string_equal(row->cloud_order_id, "ro-77");
    row = billing_find_row(&r, "refund", "res-cloud");
    assert_int_equal(row->partner_amount->amount_minor, -100);
    assert_string_equal(row->cloud_order_id, "ro-77");
    row = billing_find_row(&r, "savings-plan", "sp-cloud");
    assert_string_equal(row->cloud_order_id, "spo-77");
    views_result_clear(&r);
    /* Bought without one. */
    assert_ok(billing(f, &partner_staff, "2025-01", "", &r));
    assert_string_equal(billing_find_row(&r, "reservation", "res-a")->cloud_order_id, "");
    views_result_clear(&r);

    assert_ok(reservations(f, &partner_staff, "c-1", 0, 0, &r));
    bool found = false;
    for (size_t i = 0; i < r.n_reservations; i++) {
        if (strcmp(r.reservations[i]->reservation_id, "res-cloud") == 0) {
            assert_string_equal(r.reservations[i]->cloud_order_id, "ro-77");
            found = true;
        } else {
            assert_string_equal(r.reservations[i]->cloud_order_id, "");
        }
    }
    assert_true(found);
    views_result_clear(&r);
    assert_ok(orders_query(f, &partner_staff, "c-1", utc(2030, 1, 1), &r));
    assert_int_equal(r.n_orders, 1);
    assert_string_equal(r.orders[0]->cloud_order_id, "ro-77");
    views_result_clear(&r);
    assert_ok(savings_plans(f, &partner_staff, "c-1", 0, 0, &r));
    assert_string_equal(plan_row(&r, "sp-cloud")->cloud_order_id, "spo-77");
    views_result_clear(&r);
}

/* The activity detail of a purchase, a renewal and an exchange's
 * replacements names the cloud order id each named, so that support staff
 * find them by the cloud's order; one that named none reads as before. An
 * exchange for the most replacements, each naming the longest id, names
 * those that fit whole and counts the others, within the detail's bound. */
static void test_views_activity_names_cloud_order(void **state)
{
    struct fixture *f = *state;
    const Ledger__V1__Purchaser partner = LEDGER__V1__PURCHASER__PURCHASER_PARTNER;
    const Ledger__V1__BillingPlan upfront = LEDGER__V1__BILLING_PLAN__BILLING_PLAN_UPFRONT;
    const Ledger__V1__Term p1y = LEDGER__V1__TERM__TERM_P1Y;
    int64_t t = utc(2030, 3, 2);
    assert_ok(store_begin(f->store, true, &f->txn));
    struct purchase bought[LEDGER_EXCHANGE_REPLACEMENTS_MAX + 1];
    purchase_fill(&bought[0], "res-o1", "ord-o1", partner, upfront, p1y, 5000, 6000, t);
    bought[0].message.cloud_order_id = "ro-1";
    Ledger__V1__Event e = LEDGER__V1__EVENT__INIT;
    e.body_case = LEDGER__V1__EVENT__BODY_RESERVATION_PURCHASED;
    e.reservation_purchased = &bought[0].message;
    emit(f, &e, "p-1", "c-1", &actor_admin, t);
    purchase_fill(&bought[0], "res-o2", "ord-o2", partner, upfront, p1y, 5000, 6000,
                  utc(2031, 3, 2));
    bought[0].message.cloud_order_id = "ro-2";
    reservation_renewed(f, "res-o1", &bought[0], t + 1);
    purchase_fill(&bought[0], "res-o3", "ord-o3", partner, upfront, p1y, 4000, 6000, t + 2);
    purchase_fill(&bought[1], "res-o3-2", "ord-o3-2", partner, upfront, p1y, 1000, 6000, t + 2);
    bought[0].message.cloud_order_id = "ro-3";
    reservation_exchanged_for(f, "res-o2", 0, bought, 2, t + 2);
    /* The most replacements, each naming an id of 64 characters. */
    static char ids[LEDGER_EXCHANGE_REPLACEMENTS_MAX][3][LEDGER_ID_LENGTH_MAX + 1];
    for (size_t i = 0; i < LEDGER_EXCHANGE_REPLACEMENTS_MAX; i++) {
        snprintf(ids[i][0], sizeof ids[i][0], "res-o4-%zu", i + 1);
        snprintf(ids[i][1], sizeof ids[i][1], "ord-o4-%zu", i + 1);
        snprintf(ids[i][2], sizeof ids[i][2], "ro-%058d-%02zu", 0, i + 1);
        assert_int_equal(strlen(ids[i][2]), LEDGER_ID_LENGTH_MAX);
        purchase_fill(&bought[i], ids[i][0], ids[i][1], partner, upfront, p1y, 100, 100, t + 3);
        bought[i].message.cloud_order_id = ids[i][2];
    }
    reservation_exchanged_for(f, "res-o3-2", 0, bought, LEDGER_EXCHANGE_REPLACEMENTS_MAX, t + 3);
    struct plan_purchase plan;
    plan_fill(&plan, "sp-o1", partner, upfront, p1y, "USD", 250, 8760, 9000, t + 4);
    plan.message.cloud_order_id = "spo-1";
    Ledger__V1__Event pe = LEDGER__V1__EVENT__INIT;
    pe.body_case = LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_PURCHASED;
    pe.savings_plan_purchased = &plan.message;
    emit(f, &pe, "p-1", "c-1", &actor_admin, t + 4);
    plan_fill(&plan, "sp-o2", partner, upfront, p1y, "USD", 250, 8760, 9000, utc(2031, 3, 6));
    plan.message.cloud_order_id = "spo-2";
    savings_plan_renewed_as(f, "sp-o1", &plan, t + 5);
    assert_ok(store_commit(f->txn));
    f->txn = NULL;

    static const struct {
        const char *action, *detail;
    } cases[] = {
        {"Purchase Reservation", "res-o1 quantity 3 Standard_D2s_v5 westeurope cloud order ro-1"},
        {"Renew Reservation", "res-o1 renewed as res-o2 cloud order ro-2"},
        {"Purchase Savings Plan", "sp-o1 hourly 2.50 USD P1Y cloud order spo-1"},
        {"Renew Savings Plan", "sp-o1 renewed as sp-o2 cloud order spo-2"},
    };
    Ledger__V1__QueryResult r;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_ok(activity(f, &partner_staff, "c-1", cases[i].action, t, t + 6, 10, "", &r));
        assert_int_equal(r.n_activity, 1);
        assert_string_equal(r.activity[0]->detail, cases[i].detail);
        views_result_clear(&r);
    }
    assert_ok(activity(f, &partner_staff, "c-1", "Exchange Reservation", t, t + 6, 10, "", &r));
    assert_int_equal(r.n_activity, 2);
    assert_string_equal(r.activity[1]->detail,
                        "res-o2 exchanged for res-o3 cloud order ro-3, res-o3-2");
    const char *detail = r.activity[0]->detail;
    assert_true(strlen(detail) < 512);
    /* Each named replacement whole, with its cloud order id; the rest
     * counted. */
    size_t named = 0;
    char entry[2 * LEDGER_ID_LENGTH_MAX + 32];
    for (; named < LEDGER_EXCHANGE_REPLACEMENTS_MAX; named++) {
        snprintf(entry, sizeof entry, " %.64s cloud order %.64s", ids[named][0], ids[named][2]);
        if (strstr(detail, entry) == NULL) {
            break;
        }
    }
    assert_true(named >= 2);
    snprintf(entry, sizeof entry, "%.64s and %zu more", ids[named - 1][2],
             LEDGER_EXCHANGE_REPLACEMENTS_MAX - named);
    assert_non_null(strstr(detail, "res-o3-2 exchanged for res-o4-1 cloud order ro-"));
    assert_int_equal(strcmp(detail + strlen(detail) - strlen(entry), entry), 0);
    views_result_clear(&r);
}

static void test_views_billing_bad_input(void **state)
{
    struct fixture *f = *state;
    Ledger__V1__QueryResult r;
    /* "2025-0:" would be month 10 and "20x5-01" some year were each byte
     * not checked to be a digit. */
    const char *months[] = {"",           "2025-13", "2025-00", "2025-1",   "25-01",   "2025/01",
                            "2025-01-01", "abcd-ef", "2025-1a", " 2025-01", "2025-0:", "20x5-01"};
    for (size_t i = 0; i < sizeof months / sizeof months[0]; i++) {
        assert_int_equal(billing(f, &partner_staff, months[i], "", &r),
                         LEDGER_ERR_INVALID_ARGUMENT);
    }
    assert_int_equal(billing(f, &partner_staff, "2025-01", "c:1/2", &r),
                     LEDGER_ERR_INVALID_ARGUMENT);
    const struct views_scope customer_user = {"p-1", "c-2", false};
    assert_int_equal(billing(f, &customer_user, "2025-01", "c-1", &r), LEDGER_ERR_PARTNER_MISMATCH);
    assert_ok(billing(f, &partner_staff, "0000-01", "", &r));
    assert_int_equal(r.n_billing, 0);
    views_result_clear(&r);
}

/* Pages through a month `limit` rows at a time, checking each row against
 * `all` (the unpaged answer of the same tree) in order and every page's
 * total_rows; returns how many rows the pages gave. A first token other
 * than "" starts after the first `skip` rows. */
static size_t billing_pages_check(struct fixture *f, const char *month, const char *customer_id,
                                  uint32_t limit, const Ledger__V1__QueryResult *all,
                                  const char *first_token, size_t skip)
{
    char token[256];
    snprintf(token, sizeof token, "%s", first_token);
    size_t got = skip;
    for (unsigned pages = 0;; pages++) {
        assert_true(pages <= all->n_billing + 1);
        Ledger__V1__QueryResult r;
        assert_ok(billing_page(f, month, customer_id, 0, limit, token, &r));
        assert_int_equal(r.total_rows, all->total_rows);
        for (size_t i = 0; i < r.n_billing; i++) {
            assert_true(got < all->n_billing);
            pack_equal(&r.billing[i]->base, &all->billing[got++]->base);
        }
        bool last = r.next_page_token[0] == '\0';
        if (!last) {
            assert_int_equal(r.n_billing, limit); /* only the last page is short */
            assert_true(strlen(r.next_page_token) < sizeof token);
            snprintf(token, sizeof token, "%s", r.next_page_token);
        }
        views_result_clear(&r);
        if (last) {
            return got - skip;
        }
    }
}

/* A month in pages is the month unpaged, row for row and in order, for
 * every page size, every customer filter and every month of the history
 * (exchanges give several rows of one event). */
static void test_views_billing_pages(void **state)
{
    struct fixture *f = *state;
    const char *customers[] = {"", "c-1", "c-2"};
    const uint32_t limits[] = {1, 2, 3, LEDGER_ROWS_PAGE_MAX};
    size_t rows_seen = 0;
    for (int m = 2025 * 12; m < 2029 * 12; m++) {
        char month[8];
        month_name(m, month);
        for (size_t c = 0; c < sizeof customers / sizeof customers[0]; c++) {
            Ledger__V1__QueryResult all;
            assert_ok(billing(f, &partner_staff, month, customers[c], &all));
            assert_int_equal(all.total_rows, all.n_billing);
            rows_seen += all.n_billing;
            for (size_t l = 0; l < sizeof limits / sizeof limits[0]; l++) {
                assert_int_equal(
                    billing_pages_check(f, month, customers[c], limits[l], &all, "", 0),
                    all.n_billing);
            }
            views_result_clear(&all);
        }
    }
    assert_true(rows_seen > 20);
}

/* A page token ends with the customer of its last row, whose id may hold
 * dots (and look like the token's numbers): the pages of customers "1.2.3",
 * "a.b" and "c-1.0" are the month unpaged, row for row, for every customer
 * filter and page size, each row once. */
static void test_views_billing_pages_of_dotted_customers(void **state)
{
    struct fixture *f = *state;
    static const char *const customers[] = {"1.2.3", "a.b", "c-1.0"};
    assert_ok(store_begin(f->store, true, &f->txn));
    for (size_t c = 0; c < 3; c++) {
        customer_onboarded(f, "p-1", customers[c], &actor_admin, utc(2033, 2, 1));
        for (int i = 0; i < 3; i++) {
            char reservation[32], order[32];
            snprintf(reservation, sizeof reservation, "res-%zu-%d", c, i);
            snprintf(order, sizeof order, "ord-%zu-%d", c, i);
            reservation_purchased(f, "p-1", customers[c], &actor_admin, reservation, order,
                                  LEDGER__V1__PURCHASER__PURCHASER_PARTNER,
                                  LEDGER__V1__BILLING_PLAN__BILLING_PLAN_MONTHLY,
                                  LEDGER__V1__TERM__TERM_P1Y, 1200, 1200, utc(2033, 2, 2 + i));
        }
    }
    assert_ok(store_commit(f->txn));
    f->txn = NULL;
    const char *filters[] = {"", "1.2.3", "a.b", "c-1.0"};
    for (size_t c = 0; c < sizeof filters / sizeof filters[0]; c++) {
        Ledger__V1__QueryResult all;
        assert_ok(billing(f, &partner_staff, "2033-03", filters[c], &all));
        assert_int_equal(all.n_billing, filters[c][0] == '\0' ? 9 : 3);
        for (uint32_t limit = 1; limit <= 4; limit++) {
            assert_int_equal(billing_pages_check(f, "2033-03", filters[c], limit, &all, "", 0),
                             all.n_billing);
        }
        views_result_clear(&all);
    }
}

/* Every page reads the tree the first one read: a charge committed while a
 * consumer pages is not in its pages (nor does it shift them), and is in
 * the next query; a first page asked with that tree size leaves it out
 * too. Tokens that are not one a query returned, or asked again with
 * another tree size or without a limit, are refused. */
static void test_views_billing_pages_pinned(void **state)
{
    struct fixture *f = *state;
    const char *month = "2025-02";
    Ledger__V1__QueryResult before, first, now;
    assert_ok(billing(f, &partner_staff, month, "", &before));
    assert_true(before.n_billing >= 2);
    assert_ok(billing_page(f, month, "", 0, 1, "", &first));
    char token[256];
    snprintf(token, sizeof token, "%s", first.next_page_token);
    assert_true(token[0] != '\0');
    views_result_clear(&first);

    assert_ok(store_begin(f->store, true, &f->txn));
    reservation_purchased(f, "p-1", "c-1", &actor_admin, "res-late", "ord-late",
                          LEDGER__V1__PURCHASER__PURCHASER_PARTNER,
                          LEDGER__V1__BILLING_PLAN__BILLING_PLAN_UPFRONT,
                          LEDGER__V1__TERM__TERM_P1Y, 700, 800, utc(2025, 2, 10));
    assert_ok(store_commit(f->txn));
    f->txn = NULL;

    assert_int_equal(billing_pages_check(f, month, "", 1, &before, token, 1), before.n_billing - 1);
    assert_ok(billing(f, &partner_staff, month, "", &now));
    assert_int_equal(now.n_billing, before.n_billing + 1);
    views_result_clear(&now);

    const char *bad[] = {"x",
                         "1.2.3",
                         "1.2.3.",
                         "1.2.3.c:1/2",
                         "a.2.3.c-1",
                         "1..3.c-1",
                         "99999999999999999999999.1.1.c-1",
                         "999999999.1.1.c-1",
                         " 1.1.1.c-1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(billing_page(f, month, "", 0, 1, bad[i], &now),
                         LEDGER_ERR_INVALID_ARGUMENT);
    }
    /* The token's tree and another; a token without a limit; too large a page. */
    unsigned long long tree = strtoull(token, NULL, 10);
    assert_ok(billing_page(f, month, "", tree, 1, token, &now));
    views_result_clear(&now);
    /* A first page pinned to that tree (tree_size without a token) leaves
     * out the row committed since, and its token names the same tree. */
    assert_ok(billing_page(f, month, "", tree, LEDGER_ROWS_PAGE_MAX, "", &now));
    assert_int_equal(now.n_billing, before.n_billing);
    for (size_t i = 0; i < now.n_billing; i++) {
        assert_string_not_equal(now.billing[i]->charge_id, "res-late");
    }
    views_result_clear(&now);
    assert_ok(billing_page(f, month, "", tree, 1, "", &now));
    assert_true(strtoull(now.next_page_token, NULL, 10) == tree);
    assert_string_equal(now.billing[0]->charge_id, before.billing[0]->charge_id);
    views_result_clear(&now);
    assert_int_equal(billing_page(f, month, "", tree + 1, 1, token, &now),
                     LEDGER_ERR_INVALID_ARGUMENT);
    assert_int_equal(billing_page(f, month, "", 0, 0, token, &now), LEDGER_ERR_INVALID_ARGUMENT);
    assert_int_equal(billing_page(f, month, "", 0, LEDGER_ROWS_PAGE_MAX + 1, "", &now),
                     LEDGER_ERR_INVALID_ARGUMENT);
    views_result_clear(&before);
}

/* The token of the first page of `month` (every customer, a row a page)
 * that ends with a row of `customer_id` and has more after it, into token;
 * false when there is none. */
static bool billing_token_of(struct fixture *f, const char *month, const char *customer_id,
                             char token[256])
{
    token[0] = '\0';
    for (unsigned pages = 0; pages < 1000; pages++) {
        Ledger__V1__QueryResult r;
        assert_ok(billing_page(f, month, "", 0, 1, token, &r));
        bool more = r.next_page_token[0] != '\0';
        bool found =
            more && r.n_billing == 1 && strcmp(r.billing[0]->customer_id, customer_id) == 0;
        snprintf(token, 256, "%s", r.next_page_token);
        views_result_clear(&r);
        if (found || !more) {
            return found;
        }
    }
    fail_msg("the pages of %s do not end", month);
    return false;
}

/* A well-formed token that no page of this query returned -- one of another
 * customer or month, or made up -- is refused, rather than read as a place
 * in these rows: there it would end the pages early (c-2's place among the
 * rows of c-1 alone is past all of them), start another customer's rows as
 * if they went on from it, or skip rows, without a word. */
static void test_views_billing_token_of_another_query(void **state)
{
    struct fixture *f = *state;
    /* Two monthly reservations each for c-1 and c-2, bought in a month of
     * their own: rows in it and in the next. */
    assert_ok(store_begin(f->store, true, &f->txn));
    const char *customers[] = {"c-1", "c-1", "c-2", "c-2"};
    for (size_t i = 0; i < 4; i++) {
        char reservation_id[32], order_id[32];
        snprintf(reservation_id, sizeof reservation_id, "res-token-%zu", i);
        snprintf(order_id, sizeof order_id, "ord-token-%zu", i);
        reservation_purchased(f, "p-1", customers[i], &actor_admin, reservation_id, order_id,
                              LEDGER__V1__PURCHASER__PURCHASER_PARTNER,
                              LEDGER__V1__BILLING_PLAN__BILLING_PLAN_MONTHLY,
                              LEDGER__V1__TERM__TERM_P1Y, 1200, 1300, utc(2031, 5, 10));
    }
    assert_ok(store_commit(f->txn));
    f->txn = NULL;
    const char *month = "2031-05", *next = "2031-06";
    char of_c1[256], of_c2[256];
    assert_true(billing_token_of(f, month, "c-1", of_c1));
    assert_true(billing_token_of(f, month, "c-2", of_c2));
    Ledger__V1__QueryResult r;
    /* Good for their own query, and for their customer's rows alone. */
    assert_ok(billing_page(f, month, "", 0, 1, of_c2, &r));
    assert_int_equal(r.n_billing, 1);
    views_result_clear(&r);
    assert_ok(billing_page(f, month, "c-2", 0, 1, of_c2, &r));
    assert_int_equal(r.n_billing, 1);
    views_result_clear(&r);
    /* Another customer's rows. */
    assert_int_equal(billing_page(f, month, "c-1", 0, 1, of_c2, &r), LEDGER_ERR_INVALID_ARGUMENT);
    assert_int_equal(billing_page(f, month, "c-2", 0, 1, of_c1, &r), LEDGER_ERR_INVALID_ARGUMENT);
    /* The next month's. */
    assert_ok(billing_page(f, next, "", 0, 1, "", &r));
    assert_int_equal(r.n_billing, 1);
    views_result_clear(&r);
    assert_int_equal(billing_page(f, next, "", 0, 1, of_c1, &r), LEDGER_ERR_INVALID_ARGUMENT);
    /* Rows that are not there: a sequence past the tree, a customer with
     * no rows. */
    unsigned long long tree = strtoull(of_c1, NULL, 10);
    char made_up[256];
    snprintf(made_up, sizeof made_up, "%llu.%llu.0.c-1", tree, tree + 1);
    assert_int_equal(billing_page(f, month, "", 0, 1, made_up, &r), LEDGER_ERR_INVALID_ARGUMENT);
    snprintf(made_up, sizeof made_up, "%llu.1.0.c-0", tree);
    assert_int_equal(billing_page(f, month, "", 0, 1, made_up, &r), LEDGER_ERR_INVALID_ARGUMENT);
    /* A number of a good token plus 2^64, which would read as the good one
     * were it taken modulo 2^64. */
    unsigned long long numbers[3];
    char customer[8];
    assert_int_equal(
        sscanf(of_c1, "%llu.%llu.%llu.%7s", &numbers[0], &numbers[1], &numbers[2], customer), 4);
    __extension__ typedef unsigned __int128 wide;
    for (size_t i = 0; i < 3; i++) {
        char wrapped[3][48];
        for (size_t j = 0; j < 3; j++) {
            wide value = numbers[j];
            if (j == i) {
                value += (wide)1 << 64;
            }
            /* Decimal digits of a 128-bit number, the last first. */
            char digits[48];
            size_t n = 0;
            do {
                digits[n++] = (char)('0' + (unsigned)(value % 10));
                value /= 10;
            } while (value != 0);
            for (size_t k = 0; k < n; k++) {
                wrapped[j][k] = digits[n - 1 - k];
            }
            wrapped[j][n] = '\0';
        }
        snprintf(made_up, sizeof made_up, "%s.%s.%s.%s", wrapped[0], wrapped[1], wrapped[2],
                 customer);
        assert_true(strlen(made_up) > strlen(of_c1));
        assert_int_equal(billing_page(f, month, "", 0, 1, made_up, &r),
                         LEDGER_ERR_INVALID_ARGUMENT);
    }
}

/* --- tests: principals, partners, bad queries
 * ----------------------------------------------------- */

static const struct views_scope operator_scope = {"", "", false};

static enum ledger_err principals(struct fixture *f, const struct views_scope *scope,
                                  Ledger__V1__QueryResult *result)
{
    Ledger__V1__PrincipalsQuery pq = LEDGER__V1__PRINCIPALS_QUERY__INIT;
    Ledger__V1__Query q = LEDGER__V1__QUERY__INIT;
    q.kind_case = LEDGER__V1__QUERY__KIND_PRINCIPALS;
    q.principals = &pq;
    return run(f, scope, &q, result);
}

static void test_views_principals(void **state)
{
    struct fixture *f = *state;
    Ledger__V1__QueryResult r;
    assert_ok(principals(f, &operator_scope, &r));
    assert_int_equal(r.n_principals, 3);
    assert_string_equal(r.principals[0]->principal_id, "admin-1");
    assert_string_equal(r.principals[1]->principal_id, "admin-2");
    assert_string_equal(r.principals[2]->principal_id, "u-1");
    assert_int_equal(r.principals[2]->role, LEDGER__V1__ROLE__ROLE_CUSTOMER_USER);
    assert_string_equal(r.principals[2]->customer_id, "c-1");
    assert_string_equal(r.principals[2]->user, "u-1");
    assert_true(r.principals[2]->revoked);
    assert_int_equal(r.principals[2]->sequence, SEQ_USER_1);
    /* The last event that changed a principal: its revocation, or its
     * addition when nothing has since. */
    assert_int_equal(r.principals[2]->last_sequence, SEQ_REVOKE_USER);
    assert_false(r.principals[0]->revoked);
    assert_int_equal(r.principals[0]->sequence, SEQ_ADMIN_1);
    assert_int_equal(r.principals[0]->last_sequence, SEQ_ADMIN_1);
    views_result_clear(&r);
    /* A partner-bound reader sees its partner's principals only. */
    assert_ok(principals(f, &auditor, &r));
    assert_int_equal(r.n_principals, 2);
    assert_string_equal(r.principals[0]->principal_id, "admin-1");
    assert_string_equal(r.principals[1]->principal_id, "u-1");
    views_result_clear(&r);
}

/* A rotation of a principal's secret: the row says when (sequence and
 * recorded time) and names it as its last change; the partner's activity log
 * lists it; a rotation of a principal the views never saw is CORRUPT. */
static void test_views_principal_secret_rotated(void **state)
{
    struct fixture *f = *state;
    assert_ok(store_begin(f->store, true, &f->txn));
    int64_t at = utc(2026, 2, 1);
    uint64_t rotated = principal_secret_rotated(f, "admin-1", "p-1", at);
    assert_int_equal(rotated, SEQ_LAST + 1);
    Ledger__V1__Event e = LEDGER__V1__EVENT__INIT;
    Ledger__V1__PrincipalSecretRotated ghost = LEDGER__V1__PRINCIPAL_SECRET_ROTATED__INIT;
    ghost.principal_id = "nobody";
    e.sequence = rotated + 1;
    e.body_case = LEDGER__V1__EVENT__BODY_PRINCIPAL_SECRET_ROTATED;
    e.principal_secret_rotated = &ghost;
    assert_int_equal(views_apply(f->txn, &e), LEDGER_ERR_CORRUPT);
    e.principal_secret_rotated = NULL;
    assert_int_equal(views_apply(f->txn, &e), LEDGER_ERR_CORRUPT);
    assert_ok(store_commit(f->txn));
    f->txn = NULL;

    Ledger__V1__QueryResult r;
    assert_ok(principals(f, &operator_scope, &r));
    assert_int_equal(r.n_principals, 3);
    const Ledger__V1__PrincipalRow *admin = r.principals[0];
    assert_string_equal(admin->principal_id, "admin-1");
    assert_int_equal(admin->secret_rotated_sequence, rotated);
    assert_int_equal(admin->secret_rotated_us, at);
    assert_int_equal(admin->last_sequence, rotated);
    assert_int_equal(admin->sequence, SEQ_ADMIN_1);
    assert_false(admin->revoked);
    /* Never rotated: zero. */
    assert_int_equal(r.principals[1]->secret_rotated_sequence, 0);
    assert_int_equal(r.principals[1]->secret_rotated_us, 0);
    views_result_clear(&r);

    assert_ok(activity(f, &auditor, "", "Rotate Principal Secret", 0, 0, 0, "", &r));
    assert_int_equal(r.n_activity, 1);
    assert_int_equal(r.activity[0]->sequence, rotated);
    assert_string_equal(r.activity[0]->detail, "admin-1");
    assert_string_equal(r.activity[0]->customer_id, "");
    assert_string_equal(r.activity[0]->actor->principal_id, actor_operator.principal_id);
    views_result_clear(&r);
}

static void test_views_partner_exists(void **state)
{
    struct fixture *f = *state;
    struct store_txn *txn = NULL;
    assert_ok(store_begin(f->store, false, &txn));
    bool exists = false;
    assert_ok(views_partner_exists(txn, "p-1", &exists));
    assert_true(exists);
    assert_ok(views_partner_exists(txn, "p-9", &exists));
    assert_false(exists);
    exists = true;
    assert_int_equal(views_partner_exists(txn, "", &exists), LEDGER_ERR_INVALID_ARGUMENT);
    assert_true(exists); /* untouched on failure */
    assert_int_equal(views_partner_exists(txn, "p 1", &exists), LEDGER_ERR_INVALID_ARGUMENT);
    /* No transaction or nowhere to answer: the caller's mistake, said so. */
    assert_int_equal(views_partner_exists(NULL, "p-1", &exists), LEDGER_ERR_INTERNAL);
    assert_int_equal(views_partner_exists(txn, "p-1", NULL), LEDGER_ERR_INTERNAL);
    store_abort(txn);
}

static void test_views_query_bad_input(void **state)
{
    struct fixture *f = *state;
    Ledger__V1__QueryResult r;
    /* Per-customer views need a customer. */
    assert_int_equal(reservations(f, &partner_staff, "", 0, 0, &r), LEDGER_ERR_INVALID_ARGUMENT);
    assert_int_equal(reservations(f, &partner_staff, "c/1", 0, 0, &r), LEDGER_ERR_INVALID_ARGUMENT);
    char long_id[LEDGER_ID_LENGTH_MAX + 2];
    memset(long_id, 'c', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    assert_int_equal(reservations(f, &partner_staff, long_id, 0, 0, &r),
                     LEDGER_ERR_INVALID_ARGUMENT);
    assert_int_equal(reservations(f, &partner_staff, "c-1", -1, 0, &r),
                     LEDGER_ERR_INVALID_ARGUMENT);
    Ledger__V1__SavingsPlansQuery sq = LEDGER__V1__SAVINGS_PLANS_QUERY__INIT;
    Ledger__V1__Query q = LEDGER__V1__QUERY__INIT;
    q.kind_case = LEDGER__V1__QUERY__KIND_SAVINGS_PLANS;
    q.savings_plans = &sq;
    assert_int_equal(run(f, &partner_staff, &q, &r), LEDGER_ERR_INVALID_ARGUMENT);
    /* A scope bound to one customer answers for it, and only for it. */
    const struct views_scope customer_user = {"p-1", "c-1", false};
    assert_ok(reservations(f, &customer_user, "", 0, 0, &r));
    assert_int_equal(r.n_reservations, 5);
    views_result_clear(&r);
    assert_int_equal(reservations(f, &customer_user, "c-2", 0, 0, &r), LEDGER_ERR_PARTNER_MISMATCH);
    /* The partner is required. */
    const struct views_scope no_partner = {"", "", false};
    assert_int_equal(reservations(f, &no_partner, "c-1", 0, 0, &r), LEDGER_ERR_INVALID_ARGUMENT);
    /* Queries the views do not answer. */
    Ledger__V1__Query events = LEDGER__V1__QUERY__INIT;
    Ledger__V1__EventsQuery eq = LEDGER__V1__EVENTS_QUERY__INIT;
    events.kind_case = LEDGER__V1__QUERY__KIND_EVENTS;
    events.events = &eq;
    assert_int_equal(run(f, &auditor, &events, &r), LEDGER_ERR_UNKNOWN_MESSAGE);
    Ledger__V1__Query none = LEDGER__V1__QUERY__INIT;
    assert_int_equal(run(f, &auditor, &none, &r), LEDGER_ERR_UNKNOWN_MESSAGE);
    /* An absent sub-message reads as an empty one. */
    Ledger__V1__Query bare = LEDGER__V1__QUERY__INIT;
    bare.kind_case = LEDGER__V1__QUERY__KIND_ACTIVITY;
    assert_ok(run(f, &auditor, &bare, &r));
    assert_int_equal(r.n_activity, P1_ACTIVITY_COUNT);
    views_result_clear(&r);
}

/* --- tests: applying
 * ------------------------------------------------------------------------------ */

/* Events no decision writes (a change of what the views never saw, a body
 * missing or out of range, a time past the year 9999, a partner or a
 * principal without an id) are CORRUPT: a replay stops at them rather
 * than derive views of something else. */
static void test_views_apply_refuses_inconsistent_events(void **state)
{
    struct fixture *f = *state;
    struct store_txn *txn = NULL;
    assert_ok(store_begin(f->store, true, &txn));
    /* A change to a reservation the views never saw. */
    Ledger__V1__ReservationExpired body = LEDGER__V1__RESERVATION_EXPIRED__INIT;
    body.reservation_id = "res-zzz";
    Ledger__V1__Event e = LEDGER__V1__EVENT__INIT;
    e.sequence = SEQ_LAST + 1;
    e.partner_id = "p-1";
    e.customer_id = "c-1";
    e.body_case = LEDGER__V1__EVENT__BODY_RESERVATION_EXPIRED;
    e.reservation_expired = &body;
    assert_int_equal(views_apply(txn, &e), LEDGER_ERR_CORRUPT);
    /* A body case without its body, a sequence of 0, a customer event without
     * a customer. */
    e.reservation_expired = NULL;
    assert_int_equal(views_apply(txn, &e), LEDGER_ERR_CORRUPT);
    e.reservation_expired = &body;
    e.sequence = 0;
    assert_int_equal(views_apply(txn, &e), LEDGER_ERR_CORRUPT);
    e.sequence = SEQ_LAST + 1;
    e.customer_id = "";
    assert_int_equal(views_apply(txn, &e), LEDGER_ERR_CORRUPT);
    /* A purchase with a term the views cannot bill. */
    struct purchase p;
    purchase_fill(&p, "res-y", "ord-y", LEDGER__V1__PURCHASER__PURCHASER_PARTNER,
                  LEDGER__V1__BILLING_PLAN__BILLING_PLAN_UPFRONT, LEDGER__V1__TERM__TERM_P1Y, 1, 1,
                  utc(2025, 1, 1));
    p.message.term = (Ledger__V1__Term)77;
    e.customer_id = "c-1";
    e.body_case = LEDGER__V1__EVENT__BODY_RESERVATION_PURCHASED;
    e.reservation_purchased = &p.message;
    assert_int_equal(views_apply(txn, &e), LEDGER_ERR_CORRUPT);
    /* The revocation of a principal, and a change to a savings plan, the
     * views never saw. */
    Ledger__V1__PrincipalRevoked revoked = LEDGER__V1__PRINCIPAL_REVOKED__INIT;
    revoked.principal_id = "nobody";
    e.partner_id = "";
    e.customer_id = "";
    e.body_case = LEDGER__V1__EVENT__BODY_PRINCIPAL_REVOKED;
    e.principal_revoked = &revoked;
    assert_int_equal(views_apply(txn, &e), LEDGER_ERR_CORRUPT);
    Ledger__V1__SavingsPlanRenewalSet renewal = LEDGER__V1__SAVINGS_PLAN_RENEWAL_SET__INIT;
    renewal.savings_plan_id = "sp-zzz";
    e.partner_id = "p-1";
    e.customer_id = "c-1";
    e.body_case = LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_RENEWAL_SET;
    e.savings_plan_renewal_set = &renewal;
    assert_int_equal(views_apply(txn, &e), LEDGER_ERR_CORRUPT);
    /* Scope changes to no scope. */
    Ledger__V1__ReservationScopeChanged scoped = LEDGER__V1__RESERVATION_SCOPE_CHANGED__INIT;
    scoped.reservation_id = "res-a";
    e.body_case = LEDGER__V1__EVENT__BODY_RESERVATION_SCOPE_CHANGED;
    e.reservation_scope_changed = &scoped;
    assert_int_equal(views_apply(txn, &e), LEDGER_ERR_CORRUPT);
    Ledger__V1__SavingsPlanScopeChanged plan_scoped = LEDGER__V1__SAVINGS_PLAN_SCOPE_CHANGED__INIT;
    plan_scoped.savings_plan_id = "sp-p";
    e.body_case = LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_SCOPE_CHANGED;
    e.savings_plan_scope_changed = &plan_scoped;
    assert_int_equal(views_apply(txn, &e), LEDGER_ERR_CORRUPT);
    /* A permission of a kind that does not exist. */
    Ledger__V1__PurchasePermissionGranted granted = LEDGER__V1__PURCHASE_PERMISSION_GRANTED__INIT;
    granted.kind = (Ledger__V1__PermissionKind)77;
    e.body_case = LEDGER__V1__EVENT__BODY_PURCHASE_PERMISSION_GRANTED;
    e.purchase_permission_granted = &granted;
    assert_int_equal(views_apply(txn, &e), LEDGER_ERR_CORRUPT);
    /* A purchase billed neither upfront nor monthly, and one whose term
     * starts past the year 9999. */
    p.message.term = LEDGER__V1__TERM__TERM_P1Y;
    p.message.billing_plan = (Ledger__V1__BillingPlan)77;
    e.body_case = LEDGER__V1__EVENT__BODY_RESERVATION_PURCHASED;
    e.reservation_purchased = &p.message;
    assert_int_equal(views_apply(txn, &e), LEDGER_ERR_CORRUPT);
    p.message.billing_plan = LEDGER__V1__BILLING_PLAN__BILLING_PLAN_UPFRONT;
    p.message.reservation_id = "res-far";
    p.message.starts_us = LEDGER_TIME_US_MAX + 1;
    p.message.expires_us = LEDGER_TIME_US_MAX + YEAR_US;
    assert_int_equal(views_apply(txn, &e), LEDGER_ERR_CORRUPT);
    /* An exchange returning nothing. */
    Ledger__V1__ReservationExchanged exchanged = LEDGER__V1__RESERVATION_EXCHANGED__INIT;
    Ledger__V1__ReservationPurchased *one[1] = {&p.message};
    exchanged.n_replacements = 1;
    exchanged.replacements = one;
    e.body_case = LEDGER__V1__EVENT__BODY_RESERVATION_EXCHANGED;
    e.reservation_exchanged = &exchanged;
    assert_int_equal(views_apply(txn, &e), LEDGER_ERR_CORRUPT);
    /* Events of a partner or a principal that name none. */
    Ledger__V1__PartnerRegistered registered = LEDGER__V1__PARTNER_REGISTERED__INIT;
    registered.name = "Nameless";
    e.partner_id = "";
    e.customer_id = "";
    e.body_case = LEDGER__V1__EVENT__BODY_PARTNER_REGISTERED;
    e.partner_registered = &registered;
    assert_int_equal(views_apply(txn, &e), LEDGER_ERR_CORRUPT);
    Ledger__V1__PrincipalAdded added = LEDGER__V1__PRINCIPAL_ADDED__INIT;
    added.principal_id = "";
    added.role = LEDGER__V1__ROLE__ROLE_AUDITOR;
    e.body_case = LEDGER__V1__EVENT__BODY_PRINCIPAL_ADDED;
    e.principal_added = &added;
    assert_int_equal(views_apply(txn, &e), LEDGER_ERR_CORRUPT);
    revoked.principal_id = "";
    e.body_case = LEDGER__V1__EVENT__BODY_PRINCIPAL_REVOKED;
    e.principal_revoked = &revoked;
    assert_int_equal(views_apply(txn, &e), LEDGER_ERR_CORRUPT);
    e.partner_id = "p-1";
    e.customer_id = "c-1";
    /* A customer's stream naming an event the log does not hold: its replay
     * (an "as of" answer) is CORRUPT, not a customer without that event. */
    uint64_t version = 0;
    assert_ok(store_stream_add(txn, "p-1", "c-2", SEQ_LAST + 100, &version));
    Ledger__V1__AsOf as_of = LEDGER__V1__AS_OF__INIT;
    struct domain_customer *customer = NULL;
    assert_int_equal(views_customer_state(txn, "p-1", "c-2", &as_of, &customer),
                     LEDGER_ERR_CORRUPT);
    assert_null(customer);
    store_abort(txn);
}

/* --- tests: rebuild and digests
 * -------------------------------------------------------------------- */

static const enum store_db view_dbs[] = {
    STORE_DB_PARTNER,      STORE_DB_PRINCIPAL,  STORE_DB_RESERVATION, STORE_DB_ORDER,
    STORE_DB_SAVINGS_PLAN, STORE_DB_PERMISSION, STORE_DB_ACTIVITY,    STORE_DB_BILLING,
};
#define VIEW_DB_COUNT (sizeof view_dbs / sizeof view_dbs[0])

static void digest_all(struct fixture *f, uint8_t out[VIEW_DB_COUNT][32])
{
    struct store_txn *txn = NULL;
    assert_ok(store_begin(f->store, false, &txn));
    for (size_t i = 0; i < VIEW_DB_COUNT; i++) {
        assert_ok(views_digest(txn, view_dbs[i], out[i]));
    }
    store_abort(txn);
}

/* The digest as docs/views.md defines it, entry by entry: BLAKE2b-256 of
 * u32 BE key length || key || u32 BE value length || value in key order,
 * whether the entries are small or larger than views_digest's buffer. */
static void test_views_digest_definition(void **state)
{
    struct fixture *f = *state;
    struct store_txn *txn = NULL;
    assert_ok(store_begin(f->store, true, &txn));
    static uint8_t large[3 * 4096 + 5];
    memset(large, 0x5a, sizeof large);
    assert_ok(store_put(txn, STORE_DB_PARTNER, "p-large", 7, large, sizeof large));
    assert_ok(store_put(txn, STORE_DB_PARTNER, "p-large-2", 9, large, 4090));
    for (size_t i = 0; i < VIEW_DB_COUNT; i++) {
        struct crypto_stream stream;
        crypto_stream_init(&stream);
        struct store_cursor *cursor = NULL;
        assert_ok(store_cursor_open(txn, view_dbs[i], &cursor));
        struct store_val key, value;
        enum ledger_err err = store_cursor_seek(cursor, NULL, 0, &key, &value);
        for (; err == LEDGER_ERR_OK; err = store_cursor_next(cursor, &key, &value)) {
            uint8_t length[4] = {0, 0, (uint8_t)(key.size >> 8), (uint8_t)key.size};
            crypto_stream_update(&stream, length, sizeof length);
            crypto_stream_update(&stream, key.data, key.size);
            length[1] = (uint8_t)(value.size >> 16);
            length[2] = (uint8_t)(value.size >> 8);
            length[3] = (uint8_t)value.size;
            crypto_stream_update(&stream, length, sizeof length);
            crypto_stream_update(&stream, value.data, value.size);
        }
        assert_int_equal(err, LEDGER_ERR_NOT_FOUND);
        store_cursor_close(cursor);
        uint8_t expected[32], digest[32];
        crypto_stream_final(&stream, expected);
        assert_ok(views_digest(txn, view_dbs[i], digest));
        assert_memory_equal(expected, digest, 32);
    }
    store_abort(txn);
}

static void test_views_digest_rebuild(void **state)
{
    struct fixture *f = *state;
    uint8_t before[VIEW_DB_COUNT][32], after[VIEW_DB_COUNT][32], empty[VIEW_DB_COUNT][32];
    digest_all(f, before);

    /* Drop every view: each digest becomes the empty one, BLAKE2b-256(""). */
    struct store_txn *txn = NULL;
    assert_ok(store_begin(f->store, true, &txn));
    for (size_t i = 0; i < VIEW_DB_COUNT; i++) {
        assert_ok(store_drop(txn, view_dbs[i]));
    }
    assert_ok(store_commit(txn));
    digest_all(f, empty);
    uint8_t empty_digest[32];
    struct crypto_stream nothing;
    crypto_stream_init(&nothing);
    crypto_stream_final(&nothing, empty_digest);
    for (size_t i = 0; i < VIEW_DB_COUNT; i++) {
        assert_memory_equal(empty[i], empty_digest, 32);
        assert_memory_not_equal(before[i], empty_digest, 32);
    }

    /* Replay the log into them. */
    assert_ok(store_begin(f->store, true, &txn));
    uint64_t last = store_last_sequence(txn);
    assert_int_equal(last, SEQ_LAST);
    for (uint64_t s = 1; s <= last; s++) {
        struct store_val record;
        assert_ok(store_record(txn, s, &record));
        Ledger__V1__Event *event = NULL;
        assert_ok(codec_event_unpack(record.data, record.size, &event));
        assert_ok(views_apply(txn, event));
        codec_event_free(event);
    }
    assert_ok(store_commit(txn));
    digest_all(f, after);
    for (size_t i = 0; i < VIEW_DB_COUNT; i++) {
        assert_memory_equal(before[i], after[i], 32);
    }

    /* One changed byte in one row changes that view's digest only. */
    assert_ok(store_begin(f->store, true, &txn));
    struct store_cursor *cursor = NULL;
    assert_ok(store_cursor_open(txn, STORE_DB_RESERVATION, &cursor));
    struct store_val key, value;
    assert_ok(store_cursor_seek(cursor, NULL, 0, &key, &value));
    uint8_t key_copy[STORE_KEY_BYTES_MAX];
    size_t key_size = key.size;
    memcpy(key_copy, key.data, key.size);
    uint8_t *changed = malloc(value.size);
    assert_non_null(changed);
    memcpy(changed, value.data, value.size);
    size_t changed_size = value.size;
    store_cursor_close(cursor);
    changed[changed_size - 1] ^= 0x01;
    assert_ok(store_put(txn, STORE_DB_RESERVATION, key_copy, key_size, changed, changed_size));
    free(changed);
    assert_ok(store_commit(txn));
    digest_all(f, after);
    for (size_t i = 0; i < VIEW_DB_COUNT; i++) {
        if (view_dbs[i] == STORE_DB_RESERVATION) {
            assert_memory_not_equal(before[i], after[i], 32);
        } else {
            assert_memory_equal(before[i], after[i], 32);
        }
    }
}

/* Puts `value` under `key` of `db` in a transaction of its own. */
static void put_committed(struct fixture *f, enum store_db db, const void *key, size_t key_size,
                          const void *value, size_t value_size)
{
    assert_ok(store_begin(f->store, true, &f->txn));
    assert_ok(store_put(f->txn, db, key, key_size, value, value_size));
    assert_ok(store_commit(f->txn));
    f->txn = NULL;
}

/* A damaged row is CORRUPT wherever a query meets it, never skipped as if
 * it were not there: an activity row whose framing cannot be followed,
 * whether the page filters by action or time (the filters read rows without
 * decoding them) or not, and one without even its flags; a billing entry
 * whose month is not a month, or whose charges have no instalments. */
static void test_views_damaged_rows_are_corrupt(void **state)
{
    struct fixture *f = *state;
    Ledger__V1__QueryResult r;
    uint8_t key[16] = {'P', 'p', '-', '1', 0, 0, 0, 0, 0, 0, 0, 0, 0};
    key[12] = SEQ_RES_A;
    assert_ok(activity(f, &auditor, "", "Purchase Reservation", 0, 0, 0, "", &r));
    size_t purchases = r.n_activity;
    assert_true(purchases >= 3);
    views_result_clear(&r);
    uint8_t kept[1024];
    size_t kept_size = 0;
    struct store_txn *txn = NULL;
    assert_ok(store_begin(f->store, false, &txn));
    struct store_val value;
    assert_ok(store_get(txn, STORE_DB_ACTIVITY, key, 13, &value));
    assert_true(value.size <= sizeof kept);
    memcpy(kept, value.data, value.size);
    kept_size = value.size;
    store_abort(txn);

    /* Visible, then an action of 64 bytes of which one is there. */
    static const uint8_t cut[] = {0x01, 0x22, 0x40, 'P'};
    put_committed(f, STORE_DB_ACTIVITY, key, 13, cut, sizeof cut);
    static const int64_t undated[2] = {0, 0};
    static const int64_t dated[2] = {1, INT64_MAX};
    assert_int_equal(activity(f, &auditor, "", "Purchase Reservation", 0, 0, 0, "", &r),
                     LEDGER_ERR_CORRUPT);
    assert_int_equal(
        activity(f, &partner_staff, "c-1", "", utc(2025, 1, 1), utc(2025, 2, 1), 0, "", &r),
        LEDGER_ERR_CORRUPT);
    assert_int_equal(activity_dated(f, &auditor, "", "", 0, 0, dated, 0, "", &r),
                     LEDGER_ERR_CORRUPT);
    assert_int_equal(activity_dated(f, &auditor, "c-1", "", 0, 0, undated, 0, "", &r),
                     LEDGER_ERR_CORRUPT);
    put_committed(f, STORE_DB_ACTIVITY, key, 13, "", 0);
    assert_int_equal(activity(f, &auditor, "", "Purchase Reservation", 0, 0, 0, "", &r),
                     LEDGER_ERR_CORRUPT);
    put_committed(f, STORE_DB_ACTIVITY, key, 13, kept, kept_size);
    assert_ok(activity(f, &auditor, "", "Purchase Reservation", 0, 0, 0, "", &r));
    assert_int_equal(r.n_activity, purchases);
    views_result_clear(&r);

    /* Billing: a first month "2025-1x", met by a month's walk of the 60
     * before it. */
    static const uint8_t bad_month[] = {'p', '-', '1', 0,   '2', '0', '2', '5', '-',
                                        '1', 'x', 0,   'c', '-', '1', 0,   0,   0,
                                        0,   0,   0,   0,   0,   99,  0,   0,   0};
    put_committed(f, STORE_DB_BILLING, bad_month, sizeof bad_month, "", 0);
    assert_int_equal(billing(f, &auditor, "2026-01", "", &r), LEDGER_ERR_CORRUPT);
    assert_ok(store_begin(f->store, true, &f->txn));
    assert_ok(store_del(f->txn, STORE_DB_BILLING, bad_month, sizeof bad_month));
    assert_ok(store_commit(f->txn));
    f->txn = NULL;
    assert_ok(billing(f, &auditor, "2026-01", "", &r));
    views_result_clear(&r);
    /* Charges of no instalment in February 2025. */
    Ledger__V1__Money amount = LEDGER__V1__MONEY__INIT;
    amount.amount_minor = 100;
    amount.currency = "USD";
    Ledger__V1__BillingRow row = LEDGER__V1__BILLING_ROW__INIT;
    row.customer_id = "c-1";
    row.sequence = 99;
    row.partner_amount = &amount;
    Ledger__V1__BillingCharges charges = LEDGER__V1__BILLING_CHARGES__INIT;
    charges.first = &row;
    uint8_t *packed = NULL;
    size_t packed_size = 0;
    assert_ok(codec_pack(&charges.base, &packed, &packed_size));
    uint8_t february[sizeof bad_month];
    memcpy(february, bad_month, sizeof bad_month);
    february[9] = '0';
    february[10] = '2';
    put_committed(f, STORE_DB_BILLING, february, sizeof february, packed, packed_size);
    free(packed);
    assert_int_equal(billing(f, &auditor, "2025-02", "", &r), LEDGER_ERR_CORRUPT);
    assert_int_equal(billing_page(f, "2025-02", "c-1", 0, 10, "", &r), LEDGER_ERR_CORRUPT);
}

/* Two stores fed the same log hold byte-identical views. */
static void test_views_apply_deterministic(void **state)
{
    struct fixture *f = *state;
    struct fixture g = {0};
    test_make_dir(g.dir, sizeof g.dir, "views-twin");
    struct store_options options = {.dir = g.dir, .no_sync = true};
    assert_ok(store_open(&options, &g.store));
    build_history(&g);
    uint8_t mine[VIEW_DB_COUNT][32], theirs[VIEW_DB_COUNT][32];
    digest_all(f, mine);
    digest_all(&g, theirs);
    for (size_t i = 0; i < VIEW_DB_COUNT; i++) {
        assert_memory_equal(mine[i], theirs[i], 32);
    }
    store_close(g.store);
    test_remove_dir(g.dir);
}

/* A fresh store of its own, in a write transaction, with partner p-1
 * registered: for tests that build their own short history. */
static void small_history_begin(struct fixture *f, const char *name)
{
    test_make_dir(f->dir, sizeof f->dir, name);
    struct store_options options = {.dir = f->dir, .no_sync = true};
    assert_ok(store_open(&options, &f->store));
    assert_ok(store_begin(f->store, true, &f->txn));
    partner_registered(f, "p-1", "Contoso", utc(2025, 1, 1));
}

/* An unpaged month of billing holds at most LEDGER_VIEW_ROWS_MAX rows: at
 * that many it is answered whole; one more is TOO_LARGE with a message
 * that says to page it (and, for the whole partner, that one customer may
 * be asked for), and the pages of the same month still give every row. The
 * rows come from exchanges of one reservation for the most replacements,
 * 33 rows each (the replacements' charges and the refund). */
static void test_views_billing_unpaged_rows_max(void **state)
{
    (void)state;
    struct fixture f = {0};
    test_make_dir(f.dir, sizeof f.dir, "views-rows-max");
    /* Room for the rows in one write transaction (the map grows only
     * between them). */
    struct store_options options = {
        .dir = f.dir, .no_sync = true, .map_bytes = UINT64_C(512) * 1024 * 1024};
    assert_ok(store_open(&options, &f.store));
    assert_ok(store_begin(f.store, true, &f.txn));
    partner_registered(&f, "p-1", "Contoso", utc(2025, 1, 1));
    const Ledger__V1__Purchaser partner = LEDGER__V1__PURCHASER__PURCHASER_PARTNER;
    const Ledger__V1__BillingPlan upfront = LEDGER__V1__BILLING_PLAN__BILLING_PLAN_UPFRONT;
    const Ledger__V1__Term p1y = LEDGER__V1__TERM__TERM_P1Y;
    const int64_t t = utc(2025, 3, 10);
    const size_t per_exchange = LEDGER_EXCHANGE_REPLACEMENTS_MAX + 1;
    const size_t exchanges = (LEDGER_VIEW_ROWS_MAX - 1) / per_exchange;
    reservation_purchased(&f, "p-1", "c-1", &actor_admin, "x0-0", "o0-0", partner, upfront, p1y,
                          100, 100, t);
    static struct purchase replacements[LEDGER_EXCHANGE_REPLACEMENTS_MAX];
    static char ids[LEDGER_EXCHANGE_REPLACEMENTS_MAX][2][24];
    char returned[24] = "x0-0";
    for (size_t i = 1; i <= exchanges; i++) {
        for (size_t j = 0; j < LEDGER_EXCHANGE_REPLACEMENTS_MAX; j++) {
            snprintf(ids[j][0], sizeof ids[j][0], "x%zu-%zu", i, j);
            snprintf(ids[j][1], sizeof ids[j][1], "o%zu-%zu", i, j);
            purchase_fill(&replacements[j], ids[j][0], ids[j][1], partner, upfront, p1y, 100, 100,
                          t);
        }
        reservation_exchanged_for(&f, returned, 1, replacements, LEDGER_EXCHANGE_REPLACEMENTS_MAX,
                                  t);
        snprintf(returned, sizeof returned, "%s", ids[0][0]);
    }
    /* Purchases up to the most rows of one answer. */
    size_t rows = 1 + exchanges * per_exchange;
    for (size_t i = 0; rows < LEDGER_VIEW_ROWS_MAX; i++, rows++) {
        snprintf(ids[0][0], sizeof ids[0][0], "y%zu", i);
        snprintf(ids[0][1], sizeof ids[0][1], "oy%zu", i);
        reservation_purchased(&f, "p-1", "c-1", &actor_admin, ids[0][0], ids[0][1], partner,
                              upfront, p1y, 100, 100, t);
    }
    assert_ok(store_commit(f.txn));
    f.txn = NULL;
    const struct views_scope scope = {"p-1", "", false};
    Ledger__V1__QueryResult r;
    assert_ok(billing(&f, &scope, "2025-03", "", &r));
    assert_int_equal(r.n_billing, LEDGER_VIEW_ROWS_MAX);
    assert_int_equal(r.total_rows, LEDGER_VIEW_ROWS_MAX);
    views_result_clear(&r);

    /* One more. */
    assert_ok(store_begin(f.store, true, &f.txn));
    reservation_purchased(&f, "p-1", "c-1", &actor_admin, "z-1", "oz-1", partner, upfront, p1y, 100,
                          100, t);
    assert_ok(store_commit(f.txn));
    f.txn = NULL;
    char message[VIEWS_MESSAGE_SIZE];
    const char *customers[] = {"", "c-1"};
    for (size_t i = 0; i < 2; i++) {
        Ledger__V1__BillingQuery bq = LEDGER__V1__BILLING_QUERY__INIT;
        bq.month = "2025-03";
        bq.customer_id = (char *)customers[i];
        Ledger__V1__Query q = LEDGER__V1__QUERY__INIT;
        q.kind_case = LEDGER__V1__QUERY__KIND_BILLING;
        q.billing = &bq;
        struct store_txn *txn = NULL;
        assert_ok(store_begin(f.store, false, &txn));
        ledger__v1__query_result__init(&r);
        assert_int_equal(views_query(txn, &scope, &q, &r, message), LEDGER_ERR_TOO_LARGE);
        store_abort(txn);
        assert_int_equal(r.n_billing, 0);
        assert_non_null(strstr(message, "more than 100000 rows"));
        assert_non_null(strstr(message, "limit"));
        assert_true((strstr(message, "customer_id") != NULL) == (customers[i][0] == '\0'));
    }
    /* Paged, the same month: its first page, and the count of all. */
    assert_ok(billing_page(&f, "2025-03", "", 0, LEDGER_ROWS_PAGE_MAX, "", &r));
    assert_int_equal(r.n_billing, LEDGER_ROWS_PAGE_MAX);
    assert_int_equal(r.total_rows, LEDGER_VIEW_ROWS_MAX + 1);
    assert_true(r.next_page_token[0] != '\0');
    views_result_clear(&r);
    store_close(f.store);
    test_remove_dir(f.dir);
}

/* A filter that matches nothing old enough does not walk the whole log in one
 * request: past LEDGER_ACTIVITY_SCAN_MAX entries the page ends, possibly
 * empty, with a token to continue from. */
static void test_views_activity_scan_bound(void **state)
{
    (void)state;
    struct fixture f = {0};
    small_history_begin(&f, "views-scan");
    const uint64_t total = LEDGER_ACTIVITY_SCAN_MAX + 10;
    for (uint64_t i = 1; i < total; i++) {
        Ledger__V1__Event e = LEDGER__V1__EVENT__INIT;
        Ledger__V1__CostVisibilitySet body = LEDGER__V1__COST_VISIBILITY_SET__INIT;
        body.retail_prices_visible = (i % 2) != 0;
        e.body_case = LEDGER__V1__EVENT__BODY_COST_VISIBILITY_SET;
        e.cost_visibility_set = &body;
        /* A few recorded a day later: one below where the first page
         * stops, the others above it. */
        bool later = i == 5 || i % 20000 == 0;
        emit(&f, &e, "p-1", "c-1", &actor_admin, later ? utc(2025, 1, 3) : utc(2025, 1, 2));
    }
    assert_ok(store_commit(f.txn));
    f.txn = NULL;

    const struct views_scope scope = {"p-1", "", false};
    Ledger__V1__QueryResult r;
    /* The first page examines the newest LEDGER_ACTIVITY_SCAN_MAX entries,
     * without decoding one of those the filter leaves out. */
    activity_rows_decoded = 0;
    assert_ok(activity(&f, &scope, "", "Register Partner", 0, 0, 10, "", &r));
    assert_int_equal(r.n_activity, 0);
    assert_int_equal(activity_rows_decoded, 0);
    char token[32];
    snprintf(token, sizeof token, "%s", r.next_page_token);
    char expected[32];
    snprintf(expected, sizeof expected, "%llu",
             (unsigned long long)(total - LEDGER_ACTIVITY_SCAN_MAX + 1));
    assert_string_equal(token, expected);
    views_result_clear(&r);
    /* The next one finds the partner's registration, the one row it
     * decodes, and ends. */
    assert_ok(activity(&f, &scope, "", "Register Partner", 0, 0, 10, token, &r));
    assert_int_equal(r.n_activity, 1);
    assert_int_equal(r.activity[0]->sequence, 1);
    assert_string_equal(r.next_page_token, "");
    assert_int_equal(activity_rows_decoded, 1);
    views_result_clear(&r);
    /* A date range that holds none of them stops at the same place. */
    activity_rows_decoded = 0;
    assert_ok(activity(&f, &scope, "", "", utc(2024, 1, 1), utc(2024, 2, 1), 10, "", &r));
    assert_int_equal(r.n_activity, 0);
    assert_string_equal(r.next_page_token, expected);
    assert_int_equal(activity_rows_decoded, 0);
    views_result_clear(&r);
    /* The same through the customer index. */
    assert_ok(activity(&f, &scope, "c-1", "Cancel Reservation", 0, 0, 10, "", &r));
    assert_int_equal(r.n_activity, 0);
    snprintf(token, sizeof token, "%s", r.next_page_token);
    assert_string_equal(token, expected);
    views_result_clear(&r);
    assert_ok(activity(&f, &scope, "c-1", "Cancel Reservation", 0, 0, 10, token, &r));
    assert_int_equal(r.n_activity, 0);
    assert_string_equal(r.next_page_token, "");
    assert_int_equal(activity_rows_decoded, 0);
    views_result_clear(&r);
    /* A date range that matches on both sides of where the first page
     * stops: its pages, of every size, give exactly those rows, newest
     * first, the first page of 10 ending short at the bound with a token. */
    static const uint64_t later[] = {100001, 80001, 60001, 40001, 20001, 6};
    const size_t later_count = sizeof later / sizeof later[0];
    for (uint32_t limit = 1; limit <= 10; limit++) {
        for (size_t by_customer = 0; by_customer < 2; by_customer++) {
            uint64_t got[8];
            size_t count = 0;
            token[0] = '\0';
            for (int page = 0; page < 10; page++) {
                assert_ok(activity(&f, &scope, by_customer ? "c-1" : "", "Set Cost Visibility",
                                   utc(2025, 1, 3), utc(2025, 1, 4), limit, token, &r));
                for (size_t i = 0; i < r.n_activity; i++) {
                    assert_true(count < later_count);
                    got[count++] = r.activity[i]->sequence;
                }
                if (limit == 10 && page == 0) {
                    assert_int_equal(r.n_activity, later_count - 1);
                    assert_string_equal(r.next_page_token, expected);
                }
                snprintf(token, sizeof token, "%s", r.next_page_token);
                views_result_clear(&r);
                if (token[0] == '\0') {
                    break;
                }
            }
            assert_int_equal(count, later_count);
            for (size_t i = 0; i < later_count; i++) {
                assert_int_equal(got[i], later[i]);
            }
        }
    }
    store_close(f.store);
    test_remove_dir(f.dir);
}

/* An activity detail writes an amount with its currency's minor-unit digits
 * (money.h): 0 (JPY), 2 (USD), 3 (KWD), 4 (CLF), and 2 for a code the table
 * does not list, as the command line reads an amount typed for it. */
static void test_views_activity_amounts_in_currency(void **state)
{
    (void)state;
    static const struct {
        const char *currency;
        int64_t hourly_minor;
        const char *detail;
    } cases[] = {
        {"USD", 250, "sp-0 hourly 2.50 USD P1Y"},  {"USD", 5, "sp-1 hourly 0.05 USD P1Y"},
        {"JPY", 1500, "sp-2 hourly 1500 JPY P1Y"}, {"KWD", 12500, "sp-3 hourly 12.500 KWD P1Y"},
        {"KWD", 7, "sp-4 hourly 0.007 KWD P1Y"},   {"CLF", 123456, "sp-5 hourly 12.3456 CLF P1Y"},
        {"ZZZ", 250, "sp-6 hourly 2.50 ZZZ P1Y"},
    };
    const size_t count = sizeof cases / sizeof cases[0];
    struct fixture f = {0};
    small_history_begin(&f, "views-money");
    for (size_t i = 0; i < count; i++) {
        char id[16];
        snprintf(id, sizeof id, "sp-%zu", i);
        savings_plan_purchased_in(&f, id, &actor_admin, LEDGER__V1__PURCHASER__PURCHASER_PARTNER,
                                  LEDGER__V1__BILLING_PLAN__BILLING_PLAN_UPFRONT,
                                  LEDGER__V1__TERM__TERM_P1Y, cases[i].currency,
                                  cases[i].hourly_minor, 1000000, 1000000, utc(2025, 2, 1));
    }
    assert_ok(store_commit(f.txn));
    f.txn = NULL;

    Ledger__V1__QueryResult r;
    assert_ok(activity(&f, &auditor, "c-1", "", 0, 0, 0, "", &r));
    assert_int_equal(r.n_activity, count);
    for (size_t i = 0; i < count; i++) {
        /* Newest first. */
        assert_string_equal(r.activity[count - 1 - i]->detail, cases[i].detail);
    }
    views_result_clear(&r);
    store_close(f.store);
    test_remove_dir(f.dir);
}

/* An activity row says when the event happened as well as when it was
 * recorded: a command dated back (a purchase the cloud made before the
 * ledger heard of it) is listed by when it was recorded, with its earlier
 * business time; an event dated with none has its recorded time. */
static void test_views_activity_business_time(void **state)
{
    (void)state;
    struct fixture f = {0};
    small_history_begin(&f, "views-dated");
    Ledger__V1__Event e = LEDGER__V1__EVENT__INIT;
    Ledger__V1__CustomerOnboarded onboarded = LEDGER__V1__CUSTOMER_ONBOARDED__INIT;
    onboarded.name = "Fabrikam";
    e.body_case = LEDGER__V1__EVENT__BODY_CUSTOMER_ONBOARDED;
    e.customer_onboarded = &onboarded;
    emit_dated(&f, &e, "p-1", "c-1", &actor_admin, utc(2025, 3, 1), utc(2025, 2, 14));
    Ledger__V1__Event undated = LEDGER__V1__EVENT__INIT;
    Ledger__V1__CustomerOnboarded second = LEDGER__V1__CUSTOMER_ONBOARDED__INIT;
    second.name = "Tailspin";
    undated.body_case = LEDGER__V1__EVENT__BODY_CUSTOMER_ONBOARDED;
    undated.customer_onboarded = &second;
    emit_dated(&f, &undated, "p-1", "c-2", &actor_admin, utc(2025, 3, 2), 0);
    assert_ok(store_commit(f.txn));
    f.txn = NULL;

    Ledger__V1__QueryResult r;
    assert_ok(activity(&f, &auditor, "", "", 0, 0, 0, "", &r));
    assert_int_equal(r.n_activity, 3); /* and the partner's registration */
    assert_string_equal(r.activity[0]->customer_id, "c-2");
    assert_int_equal(r.activity[0]->recorded_us, utc(2025, 3, 2));
    assert_int_equal(r.activity[0]->business_us, utc(2025, 3, 2));
    assert_string_equal(r.activity[1]->customer_id, "c-1");
    assert_int_equal(r.activity[1]->recorded_us, utc(2025, 3, 1));
    assert_int_equal(r.activity[1]->business_us, utc(2025, 2, 14));
    views_result_clear(&r);
    store_close(f.store);
    test_remove_dir(f.dir);
}

/* History imported in bulk is recorded on the import day and dated when it
 * happened: a range of business times finds it where a range of recorded
 * times cannot, alone or with the other filters, and pages through it as
 * the other filters do (every page size gives what filtering the unfiltered
 * log by hand gives, in the same order). Rows it leaves out are not
 * decoded. */
static void test_views_activity_dated_range(void **state)
{
    (void)state;
    struct fixture f = {0};
    small_history_begin(&f, "views-dated-range");
    const int64_t import_us = utc(2025, 10, 1);
    Ledger__V1__Event e = LEDGER__V1__EVENT__INIT;
    Ledger__V1__CostVisibilitySet body = LEDGER__V1__COST_VISIBILITY_SET__INIT;
    e.body_case = LEDGER__V1__EVENT__BODY_COST_VISIBILITY_SET;
    e.cost_visibility_set = &body;
    /* One recorded when it happened, in September; then the import: August
     * to October of two customers, all recorded on 2025-10-01, not in date
     * order. */
    emit_dated(&f, &e, "p-1", "c-1", &actor_admin, utc(2025, 9, 20), utc(2025, 9, 20));
    static const int dated_days[][2] = {{8, 3},  {9, 1},  {9, 30}, {10, 1}, {9, 15},
                                        {8, 31}, {9, 10}, {9, 2},  {10, 2}, {9, 29}};
    for (size_t i = 0; i < sizeof dated_days / sizeof dated_days[0]; i++) {
        emit_dated(&f, &e, "p-1", i % 3 == 0 ? "c-2" : "c-1", &actor_admin, import_us + (int64_t)i,
                   utc(2025, dated_days[i][0], dated_days[i][1]));
    }
    assert_ok(store_commit(f.txn));
    f.txn = NULL;

    const struct views_scope scope = {"p-1", "", true};
    const int64_t september[2] = {utc(2025, 9, 1), utc(2025, 10, 1)};
    Ledger__V1__QueryResult r;
    /* By recorded time September holds only the event recorded then. */
    assert_ok(activity(&f, &scope, "c-1", "", september[0], september[1], 0, "", &r));
    assert_int_equal(r.n_activity, 1);
    views_result_clear(&r);
    /* By business time it holds the imported ones too, newest recorded
     * first; only the kept rows are decoded. */
    activity_rows_decoded = 0;
    assert_ok(activity_dated(&f, &scope, "c-1", "", 0, 0, september, 0, "", &r));
    static const uint64_t c1_september[] = {10, 7, 5, 4, 2};
    assert_int_equal(r.n_activity, sizeof c1_september / sizeof c1_september[0]);
    for (size_t i = 0; i < r.n_activity; i++) {
        assert_int_equal(r.activity[i]->sequence, c1_september[i]);
        assert_true(r.activity[i]->business_us >= september[0] &&
                    r.activity[i]->business_us < september[1]);
    }
    assert_int_equal(activity_rows_decoded, r.n_activity);
    assert_string_equal(r.next_page_token, "");
    views_result_clear(&r);
    /* Both ranges: recorded on the import day and dated in September. */
    assert_ok(activity_dated(&f, &scope, "c-1", "", import_us, import_us + 86400000000, september,
                             0, "", &r));
    assert_int_equal(r.n_activity, 4);
    assert_int_equal(r.activity[3]->sequence, 4);
    views_result_clear(&r);

    /* Every combination, paged, agrees with the unfiltered log. */
    Ledger__V1__QueryResult all;
    assert_ok(activity(&f, &scope, "", "", 0, 0, 0, "", &all));
    static const char *const customers[] = {"", "c-1", "c-2"};
    static const char *const actions[] = {"", "Set Cost Visibility", "Register Partner"};
    const int64_t recorded_ranges[][2] = {{0, 0}, {import_us, 0}, {0, import_us}};
    const int64_t dated_ranges[][2] = {{0, 0},
                                       {utc(2025, 9, 1), utc(2025, 10, 1)},
                                       {utc(2025, 9, 30), 0},
                                       {0, utc(2025, 9, 1)},
                                       {utc(2025, 9, 15), utc(2025, 9, 15) + 1},
                                       {utc(2024, 1, 1), utc(2024, 2, 1)}};
    for (size_t c = 0; c < sizeof customers / sizeof customers[0]; c++) {
        for (size_t a = 0; a < sizeof actions / sizeof actions[0]; a++) {
            for (size_t g = 0; g < sizeof recorded_ranges / sizeof recorded_ranges[0]; g++) {
                for (size_t d = 0; d < sizeof dated_ranges / sizeof dated_ranges[0]; d++) {
                    const int64_t *rg = recorded_ranges[g], *dg = dated_ranges[d];
                    uint64_t expected[16];
                    size_t expected_count = activity_filter_by_hand(&all, customers[c], actions[a],
                                                                    rg, dg, expected, 16);
                    for (uint32_t limit = 1; limit <= 4; limit++) {
                        expect_activity_pages(&f, &scope, customers[c], actions[a], rg, dg, limit,
                                              expected, expected_count);
                    }
                }
            }
        }
    }
    views_result_clear(&all);

    /* A range that is empty or negative is refused, naming its fields. */
    char message[256];
    struct store_txn *txn = NULL;
    Ledger__V1__ActivityQuery aq = LEDGER__V1__ACTIVITY_QUERY__INIT;
    Ledger__V1__Query q = LEDGER__V1__QUERY__INIT;
    q.kind_case = LEDGER__V1__QUERY__KIND_ACTIVITY;
    q.activity = &aq;
    aq.business_from_us = utc(2025, 9, 1);
    aq.business_to_us = utc(2025, 9, 1);
    assert_ok(store_begin(f.store, false, &txn));
    ledger__v1__query_result__init(&r);
    assert_int_equal(views_query(txn, &scope, &q, &r, message), LEDGER_ERR_INVALID_ARGUMENT);
    assert_string_equal(message, "business_to_us must be after business_from_us (the range is "
                                 "business_from_us <= t < business_to_us)");
    aq.business_from_us = -1;
    aq.business_to_us = 0;
    assert_int_equal(views_query(txn, &scope, &q, &r, message), LEDGER_ERR_INVALID_ARGUMENT);
    assert_string_equal(message, "business_from_us and business_to_us must not be negative");
    aq.business_from_us = 0;
    aq.business_to_us = -1;
    assert_int_equal(views_query(txn, &scope, &q, &r, message), LEDGER_ERR_INVALID_ARGUMENT);
    store_abort(txn);
    store_close(f.store);
    test_remove_dir(f.dir);
}

/* A principal event as the engine records it: under the principal's
 * partner, in no customer's stream. */
static uint64_t principal_event(struct fixture *f, Ledger__V1__Event__BodyCase body_case,
                                const char *principal_id, Ledger__V1__Role role,
                                const char *partner_id, const char *customer_id, int64_t t)
{
    Ledger__V1__Event e = LEDGER__V1__EVENT__INIT;
    Ledger__V1__PrincipalAdded added = LEDGER__V1__PRINCIPAL_ADDED__INIT;
    Ledger__V1__PrincipalRevoked revoked = LEDGER__V1__PRINCIPAL_REVOKED__INIT;
    Ledger__V1__PrincipalSecretRotated rotated = LEDGER__V1__PRINCIPAL_SECRET_ROTATED__INIT;
    e.body_case = body_case;
    added.principal_id = revoked.principal_id = rotated.principal_id = (char *)principal_id;
    added.role = role;
    added.partner_id = (char *)partner_id;
    added.customer_id = (char *)customer_id;
    added.user = customer_id[0] != '\0' ? "alice" : "";
    /* One member of the body's oneof (a union): the one of body_case. */
    if (body_case == LEDGER__V1__EVENT__BODY_PRINCIPAL_REVOKED) {
        e.principal_revoked = &revoked;
    } else if (body_case == LEDGER__V1__EVENT__BODY_PRINCIPAL_SECRET_ROTATED) {
        e.principal_secret_rotated = &rotated;
    } else {
        e.principal_added = &added;
    }
    return emit(f, &e, partner_id, "", &actor_operator, t);
}

/* A customer user's principal is added, its secret rotated and it is
 * revoked: events of no customer's stream, which the activity log lists
 * under the customer (its customer_id and detail name it) and in the
 * customer's own activity, in sequence order among the stream's events,
 * filtered and paged like them; walked forward one at a time from any
 * sequence (views_customer_principal_next). Principals of other customers,
 * of the partner's staff and of another partner's customer of the same id
 * are not in it. */
static void test_views_activity_customer_principals(void **state)
{
    (void)state;
    const Ledger__V1__Event__BodyCase added = LEDGER__V1__EVENT__BODY_PRINCIPAL_ADDED,
                                      revoked = LEDGER__V1__EVENT__BODY_PRINCIPAL_REVOKED,
                                      rotated = LEDGER__V1__EVENT__BODY_PRINCIPAL_SECRET_ROTATED;
    const Ledger__V1__Role user = LEDGER__V1__ROLE__ROLE_CUSTOMER_USER;
    struct fixture f = {0};
    small_history_begin(&f, "views-principals");
    int64_t t = utc(2025, 2, 1);
    partner_registered(&f, "p-2", "Other", t++);                /* 2 */
    customer_onboarded(&f, "p-1", "c-1", &actor_admin, t++);    /* 3 */
    customer_onboarded(&f, "p-1", "c-2", &actor_admin, t++);    /* 4 */
    customer_onboarded(&f, "p-2", "c-1", &actor_admin2, t++);   /* 5 */
    principal_event(&f, added, "u-1", user, "p-1", "c-1", t++); /* 6 */
    principal_event(&f, added, "u-2", user, "p-1", "c-2", t++); /* 7 */
    principal_event(&f, added, "admin-9", LEDGER__V1__ROLE__ROLE_ADMIN_AGENT, "p-1", "",
                    t++);                                          /* 8 */
    principal_event(&f, added, "u-3", user, "p-2", "c-1", t++);    /* 9 */
    subscription_purchased(&f, "p-1", "c-1", &actor_admin, t++);   /* 10 */
    principal_event(&f, rotated, "u-1", user, "p-1", "", t++);     /* 11 */
    principal_event(&f, rotated, "u-3", user, "p-2", "", t++);     /* 12 */
    principal_event(&f, revoked, "u-1", user, "p-1", "", t++);     /* 13 */
    principal_event(&f, revoked, "admin-9", user, "p-1", "", t++); /* 14 */
    assert_ok(store_commit(f.txn));
    f.txn = NULL;

    const struct views_scope staff = {"p-1", "", true};
    Ledger__V1__QueryResult r;
    assert_ok(activity(&f, &staff, "c-1", "", 0, 0, 0, "", &r));
    static const uint64_t c1[] = {13, 11, 10, 6, 3};
    static const char *const details[] = {"u-1 for customer c-1", "u-1 for customer c-1",
                                          "s-1 azure-plan",
                                          "u-1 customer-user alice for customer c-1", "Fabrikam"};
    assert_int_equal(r.n_activity, 5);
    for (size_t i = 0; i < r.n_activity; i++) {
        assert_int_equal(r.activity[i]->sequence, c1[i]);
        assert_string_equal(r.activity[i]->customer_id, "c-1");
        assert_string_equal(r.activity[i]->detail, details[i]);
    }
    assert_string_equal(r.activity[0]->action, "Revoke Principal");
    assert_string_equal(r.activity[3]->action, "Add Principal");
    views_result_clear(&r);
    /* Paged at every size, filtered by action and time, as the stream's. */
    const int64_t open[2] = {0, 0};
    for (uint32_t limit = 1; limit <= 6; limit++) {
        expect_activity_pages(&f, &staff, "c-1", "", open, open, limit, c1, 5);
    }
    static const uint64_t c1_added[] = {6};
    expect_activity_pages(&f, &staff, "c-1", "add principal", open, open, 1, c1_added, 1);
    const int64_t recorded[2] = {utc(2025, 2, 1) + 8, utc(2025, 2, 1) + 11};
    static const uint64_t c1_later[] = {11, 10};
    expect_activity_pages(&f, &staff, "c-1", "", recorded, open, 1, c1_later, 2);
    /* The partner's log: the rows of its customers' principals name them,
     * those of its staff's none; the whole log filtered by customer by
     * hand is what the customer filter answers. */
    Ledger__V1__QueryResult all;
    assert_ok(activity(&f, &staff, "", "", 0, 0, 0, "", &all));
    assert_int_equal(all.n_activity, 10);
    static const char *const customers[] = {"c-1", "c-2"};
    for (size_t c = 0; c < 2; c++) {
        uint64_t expected[16];
        size_t count = activity_filter_by_hand(&all, customers[c], "", open, open, expected, 16);
        expect_activity_pages(&f, &staff, customers[c], "", open, open, 2, expected, count);
    }
    for (size_t i = 0; i < all.n_activity; i++) {
        if (all.activity[i]->sequence == 8 || all.activity[i]->sequence == 14) {
            assert_string_equal(all.activity[i]->customer_id, "");
        }
        if (all.activity[i]->sequence == 7) {
            assert_string_equal(all.activity[i]->customer_id, "c-2");
        }
    }
    views_result_clear(&all);
    /* Partner 2's customer c-1 has its own user, and only it. */
    const struct views_scope p2 = {"p-2", "", true};
    assert_ok(activity(&f, &p2, "c-1", "", 0, 0, 0, "", &r));
    static const uint64_t p2_c1[] = {12, 9, 5};
    assert_int_equal(r.n_activity, 3);
    for (size_t i = 0; i < r.n_activity; i++) {
        assert_int_equal(r.activity[i]->sequence, p2_c1[i]);
    }
    views_result_clear(&r);
    /* A scope bound to another customer does not reach them. */
    const struct views_scope bound = {"p-1", "c-2", false};
    assert_ok(activity(&f, &bound, "", "", 0, 0, 0, "", &r));
    assert_int_equal(r.n_activity, 2);
    assert_int_equal(r.activity[0]->sequence, 7);
    assert_int_equal(r.activity[1]->sequence, 4);
    views_result_clear(&r);
    assert_int_equal(activity(&f, &bound, "c-1", "", 0, 0, 0, "", &r), LEDGER_ERR_PARTNER_MISMATCH);
    /* Walked forward, as the events feed merges them into the stream: from
     * any sequence, the customer's next one, and only its own. */
    struct store_txn *txn = NULL;
    assert_ok(store_begin(f.store, false, &txn));
    static const struct {
        const char *partner_id, *customer_id;
        uint64_t after, next;
    } walks[] = {
        {"p-1", "c-1", 0, 6},   {"p-1", "c-1", 5, 6},  {"p-1", "c-1", 6, 11},
        {"p-1", "c-1", 12, 13}, {"p-1", "c-1", 13, 0}, {"p-1", "c-1", UINT64_MAX, 0},
        {"p-1", "c-2", 0, 7},   {"p-1", "c-2", 7, 0},  {"p-2", "c-1", 6, 9},
        {"p-2", "c-1", 9, 12},  {"p-2", "c-1", 12, 0}, {"p-1", "c", 0, 0},
        {"p-1", "c-9", 0, 0},   {"p", "c-1", 0, 0},
    };
    for (size_t i = 0; i < sizeof walks / sizeof walks[0]; i++) {
        uint64_t next = UINT64_MAX;
        assert_ok(views_customer_principal_next(txn, walks[i].partner_id, walks[i].customer_id,
                                                walks[i].after, &next));
        assert_int_equal(next, walks[i].next);
    }
    uint64_t untouched = 42;
    assert_int_equal(views_customer_principal_next(txn, "p-1", "c_1", 0, &untouched),
                     LEDGER_ERR_INVALID_ARGUMENT);
    assert_int_equal(views_customer_principal_next(txn, "", "c-1", 0, &untouched),
                     LEDGER_ERR_INVALID_ARGUMENT);
    assert_int_equal(untouched, 42);
    store_abort(txn);
    store_close(f.store);
    test_remove_dir(f.dir);
}

/* --- tests: a generated history through the engine ----------------------------------------------
 */

#define GENERATED_PARTNERS  2
#define GENERATED_CUSTOMERS 6
#define GENERATED_EVENTS    3000

static int term_months_of(int term)
{
    return term == LEDGER__V1__TERM__TERM_P1Y   ? 12
           : term == LEDGER__V1__TERM__TERM_P3Y ? 36
           : term == LEDGER__V1__TERM__TERM_P5Y ? 60
                                                : 0;
}

/* Sums of the billing rows of one partner, by (sequence, charge_id) of the
 * purchase that wrote them. */
struct charge_sum {
    uint64_t sequence;
    char charge_id[LEDGER_ID_LENGTH_MAX + 1];
    int64_t partner, retail;
    size_t rows;
};

struct charge_sums {
    struct charge_sum *items;
    size_t count;
    int64_t refunds;
    size_t refund_rows;
};

static struct charge_sum *charge_sum_find(struct charge_sums *sums, uint64_t sequence,
                                          const char *charge_id)
{
    for (size_t i = 0; i < sums->count; i++) {
        if (sums->items[i].sequence == sequence &&
            strcmp(sums->items[i].charge_id, charge_id) == 0) {
            return &sums->items[i];
        }
    }
    return NULL;
}

static void charge_sums_add(struct charge_sums *sums, const Ledger__V1__BillingRow *row)
{
    if (strcmp(row->charge, "refund") == 0) {
        assert_true(row->partner_amount->amount_minor < 0);
        sums->refunds += row->partner_amount->amount_minor;
        sums->refund_rows++;
        return;
    }
    struct charge_sum *sum = charge_sum_find(sums, row->sequence, row->charge_id);
    if (sum == NULL) {
        sums->items = realloc(sums->items, (sums->count + 1) * sizeof *sums->items);
        assert_non_null(sums->items);
        sum = &sums->items[sums->count++];
        memset(sum, 0, sizeof *sum);
        sum->sequence = row->sequence;
        snprintf(sum->charge_id, sizeof sum->charge_id, "%s", row->charge_id);
    }
    sum->partner += row->partner_amount->amount_minor;
    sum->retail += row->retail_amount->amount_minor;
    sum->rows++;
}

/* Every monthly billing row of a partner, as the billing query gives them for
 * each month from the first stored charge's to 60 months after the last. */
static void charge_sums_load(struct fixture *f, const char *partner_id, struct charge_sums *sums)
{
    memset(sums, 0, sizeof *sums);
    struct store_txn *txn = NULL;
    assert_ok(store_begin(f->store, false, &txn));
    struct store_cursor *cursor = NULL;
    assert_ok(store_cursor_open(txn, STORE_DB_BILLING, &cursor));
    size_t prefix = strlen(partner_id) + 1;
    int first = -1, last = -1;
    struct store_val key, value;
    enum ledger_err err = store_cursor_seek(cursor, partner_id, prefix, &key, &value);
    while (err == LEDGER_ERR_OK && key.size > prefix && memcmp(key.data, partner_id, prefix) == 0) {
        /* partner NUL "YYYY-MM" NUL ... */
        const char *m = (const char *)key.data + prefix;
        int index =
            ((m[0] - '0') * 1000 + (m[1] - '0') * 100 + (m[2] - '0') * 10 + (m[3] - '0')) * 12 +
            (m[5] - '0') * 10 + (m[6] - '0') - 1;
        first = first < 0 ? index : first;
        last = index;
        err = store_cursor_next(cursor, &key, &value);
    }
    store_cursor_close(cursor);
    store_abort(txn);
    if (first < 0) {
        return;
    }
    const struct views_scope scope = {partner_id, "", false};
    for (int month = first; month < last + 60; month++) {
        char name[8];
        month_name(month, name);
        Ledger__V1__QueryResult r;
        assert_ok(billing(f, &scope, name, "", &r));
        for (size_t i = 0; i < r.n_billing; i++) {
            assert_string_equal(r.billing[i]->month, name);
            charge_sums_add(sums, r.billing[i]);
        }
        views_result_clear(&r);
    }
}

/* What the log says about one partner: its events, those partner staff see,
 * and the refunds it recorded. */
struct log_facts {
    size_t events, visible;
    int64_t refunds;
    size_t refund_events;
};

static void log_facts_load(struct store_txn *txn, const char *partner_id, struct log_facts *facts)
{
    memset(facts, 0, sizeof *facts);
    /* Customer-bought savings plans: their later changes are hidden too. */
    char(*customer_plans)[64] = calloc(4096, 64);
    assert_non_null(customer_plans);
    size_t customer_plan_count = 0;
    uint64_t last = store_last_sequence(txn);
    for (uint64_t s = 1; s <= last; s++) {
        struct store_val record;
        assert_ok(store_record(txn, s, &record));
        Ledger__V1__Event *event = NULL;
        assert_ok(codec_event_unpack(record.data, record.size, &event));
        if (strcmp(event->partner_id, partner_id) == 0) {
            facts->events++;
            bool visible = domain_partner_visible(event);
            const char *plan = NULL;
            if (event->body_case == LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_PURCHASED && !visible) {
                assert_true(customer_plan_count < 4096);
                snprintf(customer_plans[customer_plan_count++], 64, "%s",
                         event->savings_plan_purchased->savings_plan_id);
            } else if (event->body_case == LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_RENEWED &&
                       !visible) {
                /* A customer's plan renewed stays the customer's. */
                assert_true(customer_plan_count < 4096);
                snprintf(customer_plans[customer_plan_count++], 64, "%s",
                         event->savings_plan_renewed->renewal->savings_plan_id);
            } else if (event->body_case == LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_SCOPE_CHANGED) {
                plan = event->savings_plan_scope_changed->savings_plan_id;
            } else if (event->body_case == LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_RENEWAL_SET) {
                plan = event->savings_plan_renewal_set->savings_plan_id;
            }
            for (size_t i = 0; plan != NULL && i < customer_plan_count; i++) {
                if (strcmp(customer_plans[i], plan) == 0) {
                    visible = false;
                }
            }
            facts->visible += visible ? 1 : 0;
            const Ledger__V1__Money *refund = NULL;
            if (event->body_case == LEDGER__V1__EVENT__BODY_RESERVATION_CANCELLED) {
                refund = event->reservation_cancelled->refund;
            } else if (event->body_case == LEDGER__V1__EVENT__BODY_RESERVATION_EXCHANGED) {
                refund = event->reservation_exchanged->refund;
            }
            if (refund != NULL && refund->amount_minor != 0) {
                facts->refunds -= refund->amount_minor;
                facts->refund_events++;
            }
        }
        codec_event_free(event);
    }
    free(customer_plans);
}

/* Pages through a partner's whole activity log and counts the rows. */
static size_t activity_count(struct fixture *f, const struct views_scope *scope)
{
    char token[32] = "";
    size_t count = 0;
    uint64_t previous = UINT64_MAX;
    for (int page = 0; page < 10000; page++) {
        Ledger__V1__QueryResult r;
        assert_ok(activity(f, scope, "", "", 0, 0, 37, token, &r));
        for (size_t i = 0; i < r.n_activity; i++) {
            assert_true(r.activity[i]->sequence < previous);
            previous = r.activity[i]->sequence;
        }
        count += r.n_activity;
        snprintf(token, sizeof token, "%s", r.next_page_token);
        views_result_clear(&r);
        if (token[0] == '\0') {
            return count;
        }
    }
    fail_msg("activity paging did not end");
    return 0;
}

static void check_customer(struct fixture *f, const char *partner_id, const char *customer_id,
                           struct charge_sums *sums, uint64_t head)
{
    const struct views_scope scope = {partner_id, "", false};
    Ledger__V1__QueryResult now, replayed;
    /* Reservations: as of the head equals the view. */
    assert_ok(reservations(f, &scope, customer_id, 0, 0, &now));
    assert_ok(reservations(f, &scope, customer_id, 0, head, &replayed));
    assert_int_equal(now.n_reservations, replayed.n_reservations);
    for (size_t i = 0; i < now.n_reservations; i++) {
        pack_equal(&now.reservations[i]->base, &replayed.reservations[i]->base);
        /* Billing: a reservation that ran its course was charged its price
         * exactly; one ended early was charged no more than that. */
        const Ledger__V1__ReservationRow *row = now.reservations[i];
        const struct charge_sum *sum =
            must(charge_sum_find(sums, row->sequence, row->reservation_id), row->reservation_id);
        int months = term_months_of(row->term);
        bool monthly = row->billing_plan == LEDGER__V1__BILLING_PLAN__BILLING_PLAN_MONTHLY;
        bool ended_early =
            monthly && (row->state == LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_CANCELLED ||
                        row->state == LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_EXCHANGED);
        if (ended_early) {
            assert_true(sum->partner <= row->price->amount_minor);
            assert_true(sum->rows >= 1 && sum->rows <= (size_t)months);
        } else {
            assert_int_equal(sum->partner, row->price->amount_minor);
            assert_int_equal(sum->retail, row->retail_price->amount_minor);
            assert_int_equal(sum->rows, monthly ? (size_t)months : 1);
        }
    }
    /* Every reservation has its order. */
    Ledger__V1__QueryResult orders;
    assert_ok(orders_query(f, &scope, customer_id, 0, &orders));
    assert_int_equal(orders.n_orders, now.n_reservations);
    views_result_clear(&orders);
    views_result_clear(&now);
    views_result_clear(&replayed);

    /* Savings plans: as of the head equal to the view (partner staff's,
     * without what the customer bought, too), and charged their price
     * exactly. */
    const struct views_scope staff = {partner_id, "", true};
    const struct views_scope *plan_scopes[] = {&scope, &staff};
    for (size_t s = 0; s < 2; s++) {
        Ledger__V1__QueryResult plans;
        assert_ok(savings_plans(f, plan_scopes[s], customer_id, 0, 0, &plans));
        assert_ok(savings_plans(f, plan_scopes[s], customer_id, 0, head, &replayed));
        assert_int_equal(plans.n_savings_plans, replayed.n_savings_plans);
        for (size_t i = 0; i < plans.n_savings_plans; i++) {
            const Ledger__V1__SavingsPlanRow *row = plans.savings_plans[i];
            pack_equal(&row->base, &replayed.savings_plans[i]->base);
            const struct charge_sum *sum = must(
                charge_sum_find(sums, row->sequence, row->savings_plan_id), row->savings_plan_id);
            assert_int_equal(sum->partner, row->price->amount_minor);
            assert_int_equal(sum->retail, row->retail_price->amount_minor);
        }
        views_result_clear(&plans);
        views_result_clear(&replayed);
    }

    /* Permissions: history and current switches as of the head equal the view. */
    for (int history = 0; history < 2; history++) {
        Ledger__V1__PermissionsQuery pq = LEDGER__V1__PERMISSIONS_QUERY__INIT;
        pq.customer_id = (char *)customer_id;
        pq.history = history != 0;
        Ledger__V1__Query pqq = LEDGER__V1__QUERY__INIT;
        pqq.kind_case = LEDGER__V1__QUERY__KIND_PERMISSIONS;
        pqq.permissions = &pq;
        assert_ok(run(f, &scope, &pqq, &now));
        Ledger__V1__AsOf as_of = LEDGER__V1__AS_OF__INIT;
        as_of.sequence = head;
        pq.as_of = &as_of;
        assert_ok(run(f, &scope, &pqq, &replayed));
        assert_int_equal(now.n_permissions, replayed.n_permissions);
        for (size_t i = 0; i < now.n_permissions; i++) {
            pack_equal(&now.permissions[i]->base, &replayed.permissions[i]->base);
        }
        views_result_clear(&now);
        views_result_clear(&replayed);
    }
}

/* A history generator of every kind of item (free with histgen_free). */
static struct histgen *generator(uint64_t seed, uint32_t partners, uint32_t customers,
                                 uint64_t events)
{
    struct histgen_options generate = {
        .seed = seed,
        .partners = partners,
        .customers_per_partner = customers,
        .target_events = events,
    };
    struct histgen *gen = NULL;
    assert_ok(histgen_new(&generate, &gen));
    return gen;
}

static void test_views_generated_history(void **state)
{
    (void)state;
    struct fixture f = {0};
    test_make_dir(f.dir, sizeof f.dir, "views-generated");
    struct engine *engine = test_engine_new(f.dir);
    f.store = engine_store(engine);

    struct histgen *gen =
        generator(424242, GENERATED_PARTNERS, GENERATED_CUSTOMERS, GENERATED_EVENTS);
    struct histgen_item item;
    int64_t now_us = 0;
    while (histgen_next(gen, &item)) {
        struct engine_principal principal = {0};
        snprintf(principal.id, sizeof principal.id, "%s", item.principal.id);
        principal.role = item.principal.role;
        snprintf(principal.partner_id, sizeof principal.partner_id, "%s",
                 item.principal.partner_id);
        snprintf(principal.customer_id, sizeof principal.customer_id, "%s",
                 item.principal.customer_id);
        snprintf(principal.user, sizeof principal.user, "%s", item.principal.user);
        ProtobufCBinaryData command = {item.command_size, (uint8_t *)item.command};
        struct engine_request request = {
            .principal = &principal, .commands = &command, .command_count = 1};
        if (item.business_us > now_us) {
            now_us = item.business_us;
        }
        assert_ok(engine_execute(engine, &request, 1, now_us));
        if (request.err != LEDGER_ERR_OK) {
            fail_msg("%s refused: %s: %s", item.command_id, ledger_err_name(request.err),
                     request.message);
        }
        histgen_accepted(gen, request.results[0].message.first_sequence);
        engine_request_clear(&request);
    }
    histgen_free(gen);
    uint64_t head = engine_head_sequence(engine);
    assert_true(head >= GENERATED_EVENTS);

    for (uint32_t p = 1; p <= GENERATED_PARTNERS; p++) {
        char partner_id[HISTGEN_ID_SIZE];
        histgen_partner_id(p, partner_id);
        struct charge_sums sums;
        charge_sums_load(&f, partner_id, &sums);
        struct store_txn *txn = NULL;
        assert_ok(store_begin(f.store, false, &txn));
        struct log_facts facts;
        log_facts_load(txn, partner_id, &facts);
        store_abort(txn);
        /* Refund rows are exactly the refunds the log recorded. */
        assert_int_equal(sums.refunds, facts.refunds);
        assert_int_equal(sums.refund_rows, facts.refund_events);
        print_message("%s: %zu events (%zu partner-visible), %zu charged items, %zu refunds\n",
                      partner_id, facts.events, facts.visible, sums.count, sums.refund_rows);
        for (uint32_t c = 1; c <= GENERATED_CUSTOMERS; c++) {
            char customer_id[HISTGEN_ID_SIZE];
            histgen_customer_id(p, c, customer_id);
            check_customer(&f, partner_id, customer_id, &sums, head);
        }
        free(sums.items);
        /* The activity log holds every event of the partner; partner staff
         * see all but customer-bought savings plans. */
        const struct views_scope everything = {partner_id, "", false};
        const struct views_scope staff = {partner_id, "", true};
        assert_int_equal(activity_count(&f, &everything), facts.events);
        assert_int_equal(activity_count(&f, &staff), facts.visible);
    }
    engine_close(engine);
    test_remove_dir(f.dir);
}

/* --- by business time on a generated history, against a model ---------------------------- */

/* A generated history is copied record by record into a fresh store with
 * many customer events dated up to DATED_SHIFT_US earlier or later than the
 * engine dated them, so that changes come dated before their purchases and
 * purchases before their subscriptions or onboarding, as an older log may
 * hold them. For many dates D (and some sequence bounds) the business-time
 * answers must equal what a model written here from the protocol's rules
 * says (docs/protocol.md, "As of a point"). The views are not built: "as
 * of" answers read only the log and the customers' streams. */
enum { DATED_PARTNERS = 2, DATED_CUSTOMERS = 4, DATED_EVENTS = 1500 };
#define DATED_SHIFT_US (INT64_C(2) * 86400 * 1000000)
#define MODEL_ID_SIZE  (LEDGER_ID_LENGTH_MAX + 1)
enum { MODEL_SUBSCRIPTIONS_MAX = 64, MODEL_ROLES_MAX = 256, MODEL_ITEMS_MAX = 2048 };

struct model_item {
    char id[MODEL_ID_SIZE];
    int state; /* reservations: a ReservationState; plans: 1 once renewed */
    uint64_t last_sequence;
};

struct model_role {
    char subscription_id[MODEL_ID_SIZE];
    char user[MODEL_ID_SIZE];
    int role;
};

/* What was true at D: the events dated at or before it whose every
 * dependency is in, applied in sequence order. */
struct dated_model {
    bool onboarded;
    char subscriptions[MODEL_SUBSCRIPTIONS_MAX][MODEL_ID_SIZE];
    int status[MODEL_SUBSCRIPTIONS_MAX];
    size_t subscription_count;
    struct model_role roles[MODEL_ROLES_MAX];
    size_t role_count;
    bool on[3];
    uint64_t changed[3];
    struct model_item reservations[MODEL_ITEMS_MAX];
    size_t reservation_count;
    struct model_item plans[MODEL_ITEMS_MAX];
    size_t plan_count;
};

static int model_subscription(const struct dated_model *m, const char *id)
{
    for (size_t i = 0; i < m->subscription_count; i++) {
        if (strcmp(m->subscriptions[i], id) == 0) {
            return (int)i;
        }
    }
    return -1;
}

static int model_role(const struct dated_model *m, const Ledger__V1__RoleAssigned *r)
{
    for (size_t i = 0; i < m->role_count; i++) {
        if (strcmp(m->roles[i].subscription_id, r->subscription_id) == 0 &&
            strcmp(m->roles[i].user, r->user) == 0 && m->roles[i].role == (int)r->role) {
            return (int)i;
        }
    }
    return -1;
}

static struct model_item *model_find(struct model_item *items, size_t count, const char *id)
{
    for (size_t i = 0; i < count; i++) {
        if (strcmp(items[i].id, id) == 0) {
            return &items[i];
        }
    }
    return NULL;
}

/* An active reservation, else NULL. */
static struct model_item *model_reservation(struct dated_model *m, const char *id)
{
    struct model_item *r = model_find(m->reservations, m->reservation_count, id);
    return r != NULL && r->state == LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_ACTIVE ? r
                                                                                            : NULL;
}

/* A savings plan not renewed (state 0), else NULL. */
static struct model_item *model_plan(struct dated_model *m, const char *id)
{
    struct model_item *p = model_find(m->plans, m->plan_count, id);
    return p != NULL && p->state == 0 ? p : NULL;
}

static void model_add(struct model_item *items, size_t *count, const char *id, int state,
                      uint64_t sequence)
{
    assert_true(*count < MODEL_ITEMS_MAX);
    snprintf(items[*count].id, MODEL_ID_SIZE, "%s", id);
    items[*count].state = state;
    items[*count].last_sequence = sequence;
    (*count)++;
}

static void model_add_reservation(struct dated_model *m, const Ledger__V1__ReservationPurchased *r,
                                  uint64_t sequence)
{
    model_add(m->reservations, &m->reservation_count, r->reservation_id,
              LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_ACTIVE, sequence);
}

/* Applies the event if everything it acts on is in; says whether it did. */
static bool model_apply(struct dated_model *m, const Ledger__V1__Event *e)
{
    const uint64_t seq = e->sequence;
    if (e->body_case == LEDGER__V1__EVENT__BODY_CUSTOMER_ONBOARDED) {
        m->onboarded = true;
        return true;
    }
    if (!m->onboarded) {
        return false;
    }
    switch (e->body_case) {
    case LEDGER__V1__EVENT__BODY_SUBSCRIPTION_PURCHASED:
        assert_true(m->subscription_count < MODEL_SUBSCRIPTIONS_MAX);
        snprintf(m->subscriptions[m->subscription_count], MODEL_ID_SIZE, "%s",
                 e->subscription_purchased->subscription_id);
        m->status[m->subscription_count++] =
            LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_ACTIVE;
        return true;
    case LEDGER__V1__EVENT__BODY_SUBSCRIPTION_STATUS_CHANGED: {
        const Ledger__V1__SubscriptionStatusChanged *b = e->subscription_status_changed;
        int i = model_subscription(m, b->subscription_id);
        if (i < 0 || m->status[i] != (int)b->from_status) {
            return false;
        }
        m->status[i] = (int)b->to_status;
        return true;
    }
    case LEDGER__V1__EVENT__BODY_ROLE_ASSIGNED: {
        const Ledger__V1__RoleAssigned *b = e->role_assigned;
        if (model_subscription(m, b->subscription_id) < 0 || model_role(m, b) >= 0) {
            return false;
        }
        assert_true(m->role_count < MODEL_ROLES_MAX);
        struct model_role *r = &m->roles[m->role_count++];
        snprintf(r->subscription_id, MODEL_ID_SIZE, "%s", b->subscription_id);
        snprintf(r->user, MODEL_ID_SIZE, "%s", b->user);
        r->role = (int)b->role;
        return true;
    }
    case LEDGER__V1__EVENT__BODY_ROLE_REMOVED: {
        Ledger__V1__RoleAssigned same = LEDGER__V1__ROLE_ASSIGNED__INIT;
        same.subscription_id = e->role_removed->subscription_id;
        same.user = e->role_removed->user;
        same.role = e->role_removed->role;
        int i = model_role(m, &same);
        if (i < 0) {
            return false;
        }
        m->roles[i] = m->roles[--m->role_count];
        return true;
    }
    case LEDGER__V1__EVENT__BODY_PURCHASE_PERMISSION_GRANTED:
    case LEDGER__V1__EVENT__BODY_PURCHASE_PERMISSION_REVOKED: {
        bool on = e->body_case == LEDGER__V1__EVENT__BODY_PURCHASE_PERMISSION_GRANTED;
        int kind =
            (int)(on ? e->purchase_permission_granted->kind : e->purchase_permission_revoked->kind);
        assert_true(kind == 1 || kind == 2);
        if (m->on[kind] == on) {
            return false;
        }
        m->on[kind] = on;
        m->changed[kind] = seq;
        return true;
    }
    case LEDGER__V1__EVENT__BODY_RESERVATION_PURCHASED:
        if (model_subscription(m, e->reservation_purchased->billing_subscription_id) < 0) {
            return false;
        }
        model_add_reservation(m, e->reservation_purchased, seq);
        return true;
    case LEDGER__V1__EVENT__BODY_RESERVATION_SCOPE_CHANGED:
    case LEDGER__V1__EVENT__BODY_RESERVATION_RENEWAL_SET:
    case LEDGER__V1__EVENT__BODY_RESERVATION_CANCELLED:
    case LEDGER__V1__EVENT__BODY_RESERVATION_EXPIRED: {
        /* The body is a oneof, one union: read by its case. */
        const char *id = e->body_case == LEDGER__V1__EVENT__BODY_RESERVATION_SCOPE_CHANGED
                             ? e->reservation_scope_changed->reservation_id
                         : e->body_case == LEDGER__V1__EVENT__BODY_RESERVATION_RENEWAL_SET
                             ? e->reservation_renewal_set->reservation_id
                         : e->body_case == LEDGER__V1__EVENT__BODY_RESERVATION_CANCELLED
                             ? e->reservation_cancelled->reservation_id
                             : e->reservation_expired->reservation_id;
        struct model_item *r = model_reservation(m, id);
        if (r == NULL) {
            return false;
        }
        if (e->body_case == LEDGER__V1__EVENT__BODY_RESERVATION_CANCELLED) {
            r->state = LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_CANCELLED;
        } else if (e->body_case == LEDGER__V1__EVENT__BODY_RESERVATION_EXPIRED) {
            r->state = LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_EXPIRED;
        }
        r->last_sequence = seq;
        return true;
    }
    case LEDGER__V1__EVENT__BODY_RESERVATION_EXCHANGED: {
        const Ledger__V1__ReservationExchanged *b = e->reservation_exchanged;
        for (size_t i = 0; i < b->n_returned_reservation_ids; i++) {
            if (model_reservation(m, b->returned_reservation_ids[i]) == NULL) {
                return false;
            }
        }
        for (size_t i = 0; i < b->n_replacements; i++) {
            if (model_subscription(m, b->replacements[i]->billing_subscription_id) < 0) {
                return false;
            }
        }
        for (size_t i = 0; i < b->n_returned_reservation_ids; i++) {
            /* Each one active: checked above, and named once. */
            struct model_item *r = model_reservation(m, b->returned_reservation_ids[i]);
            if (r == NULL) {
                fail_msg("exchange %" PRIu64 " returns a reservation twice", seq);
                return false;
            }
            r->state = LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_EXCHANGED;
            r->last_sequence = seq;
        }
        for (size_t i = 0; i < b->n_replacements; i++) {
            model_add_reservation(m, b->replacements[i], seq);
        }
        return true;
    }
    case LEDGER__V1__EVENT__BODY_RESERVATION_RENEWED: {
        const Ledger__V1__ReservationRenewed *b = e->reservation_renewed;
        struct model_item *old = model_reservation(m, b->reservation_id);
        if (old == NULL || model_subscription(m, b->renewal->billing_subscription_id) < 0) {
            return false;
        }
        old->state = LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_EXPIRED;
        old->last_sequence = seq;
        model_add_reservation(m, b->renewal, seq);
        return true;
    }
    case LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_PURCHASED:
        if (model_subscription(m, e->savings_plan_purchased->billing_subscription_id) < 0) {
            return false;
        }
        model_add(m->plans, &m->plan_count, e->savings_plan_purchased->savings_plan_id, 0, seq);
        return true;
    case LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_SCOPE_CHANGED:
    case LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_RENEWAL_SET: {
        struct model_item *p =
            model_plan(m, e->body_case == LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_SCOPE_CHANGED
                              ? e->savings_plan_scope_changed->savings_plan_id
                              : e->savings_plan_renewal_set->savings_plan_id);
        if (p == NULL) {
            return false;
        }
        p->last_sequence = seq;
        return true;
    }
    case LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_RENEWED: {
        const Ledger__V1__SavingsPlanRenewed *b = e->savings_plan_renewed;
        struct model_item *old = model_plan(m, b->savings_plan_id);
        if (old == NULL || model_subscription(m, b->renewal->billing_subscription_id) < 0) {
            return false;
        }
        old->state = 1;
        old->last_sequence = seq;
        model_add(m->plans, &m->plan_count, b->renewal->savings_plan_id, 0, seq);
        return true;
    }
    case LEDGER__V1__EVENT__BODY_COST_VISIBILITY_SET:
        return true;
    default:
        fail_msg("event %" PRIu64 " of an unexpected kind %d", seq, (int)e->body_case);
        return false;
    }
}

/* One customer's events of the copied log, decoded, in sequence order. */
struct dated_stream {
    struct store_txn *txn;
    Ledger__V1__Event **events;
    size_t count;
};

static enum ledger_err dated_stream_add(void *context, uint64_t sequence)
{
    struct dated_stream *stream = context;
    struct store_val record;
    assert_ok(store_record(stream->txn, sequence, &record));
    stream->events = realloc(stream->events, (stream->count + 1) * sizeof *stream->events);
    assert_non_null(stream->events);
    assert_ok(codec_event_unpack(record.data, record.size, &stream->events[stream->count]));
    stream->count++;
    return LEDGER_ERR_OK;
}

/* Checks the three answers as of business time D, within `sequence` (0:
 * none), against the model; counts the events dated at or before D that
 * the model left out for a missing dependency. */
static void dated_check(struct fixture *f, const char *partner_id, const char *customer_id,
                        const struct dated_stream *stream, int64_t dated_us, uint64_t sequence,
                        size_t *left_out)
{
    struct dated_model *m = calloc(1, sizeof *m);
    assert_non_null(m);
    for (size_t i = 0; i < stream->count; i++) {
        const Ledger__V1__Event *e = stream->events[i];
        if ((sequence != 0 && e->sequence > sequence) || domain_event_business_us(e) > dated_us) {
            continue;
        }
        if (!model_apply(m, e)) {
            (*left_out)++;
        }
    }
    const struct views_scope scope = {partner_id, "", false};
    Ledger__V1__QueryResult r;
    assert_ok(reservations_dated(f, &scope, customer_id, dated_us, 0, sequence, &r));
    assert_int_equal(r.n_reservations, m->reservation_count);
    for (size_t i = 0; i < r.n_reservations; i++) {
        assert_string_equal(r.reservations[i]->reservation_id, m->reservations[i].id);
        assert_int_equal(r.reservations[i]->state, m->reservations[i].state);
        assert_int_equal(r.reservations[i]->last_sequence, m->reservations[i].last_sequence);
    }
    views_result_clear(&r);
    assert_ok(savings_plans_dated(f, &scope, customer_id, dated_us, 0, sequence, &r));
    assert_int_equal(r.n_savings_plans, m->plan_count);
    for (size_t i = 0; i < r.n_savings_plans; i++) {
        assert_string_equal(r.savings_plans[i]->savings_plan_id, m->plans[i].id);
        assert_int_equal(r.savings_plans[i]->renewed, m->plans[i].state == 1);
        assert_int_equal(r.savings_plans[i]->last_sequence, m->plans[i].last_sequence);
    }
    views_result_clear(&r);
    Ledger__V1__PermissionsQuery pq = LEDGER__V1__PERMISSIONS_QUERY__INIT;
    Ledger__V1__AsOf as_of = LEDGER__V1__AS_OF__INIT;
    pq.customer_id = (char *)customer_id;
    as_of.business_time_us = dated_us;
    as_of.sequence = sequence;
    pq.as_of = &as_of;
    Ledger__V1__Query q = LEDGER__V1__QUERY__INIT;
    q.kind_case = LEDGER__V1__QUERY__KIND_PERMISSIONS;
    q.permissions = &pq;
    assert_ok(run(f, &scope, &q, &r));
    assert_int_equal(r.n_permissions, 2);
    for (size_t i = 0; i < 2; i++) {
        int kind = (int)r.permissions[i]->kind;
        assert_int_equal(r.permissions[i]->enabled, m->on[kind]);
        assert_int_equal(r.permissions[i]->sequence, m->changed[kind]);
    }
    views_result_clear(&r);
    free(m);
}

/* The next number of a xorshift64 generator: reproducible dating. */
static uint64_t dated_random(uint64_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return *state;
}

static void test_views_business_time_generated(void **state)
{
    (void)state;
    char engine_dir[512];
    test_make_dir(engine_dir, sizeof engine_dir, "views-dated-engine");
    struct engine *engine = test_engine_new(engine_dir);
    struct histgen *gen = generator(20261207, DATED_PARTNERS, DATED_CUSTOMERS, DATED_EVENTS);
    struct histload *load = NULL;
    assert_ok(histload_new(engine, gen, HISTGEN_START_US_DEFAULT, &load));
    if (histload_all(load) != LEDGER_ERR_OK) {
        fail_msg("%s", histload_error(load));
    }
    histload_free(load);
    histgen_free(gen);

    /* The copy, with two customer events in five dated otherwise. */
    struct fixture f = {0};
    test_make_dir(f.dir, sizeof f.dir, "views-dated");
    struct store_options store_options = {.dir = f.dir, .no_sync = true};
    assert_ok(store_open(&store_options, &f.store));
    struct store_txn *from = NULL;
    assert_ok(store_begin(engine_store(engine), false, &from));
    assert_ok(store_begin(f.store, true, &f.txn));
    uint64_t random = 88172645463325252u;
    uint64_t head = store_last_sequence(from);
    for (uint64_t sequence = 1; sequence <= head; sequence++) {
        struct store_val record;
        assert_ok(store_record(from, sequence, &record));
        Ledger__V1__Event *e = NULL;
        assert_ok(codec_event_unpack(record.data, record.size, &e));
        bool customer = e->customer_id[0] != '\0';
        if (customer && dated_random(&random) % 5 < 2) {
            int64_t shift = (int64_t)(dated_random(&random) % (2 * DATED_SHIFT_US + 1));
            e->business_us = domain_event_business_us(e) + shift - DATED_SHIFT_US;
        }
        uint8_t *bytes = NULL;
        size_t size = 0;
        assert_ok(codec_pack(&e->base, &bytes, &size));
        uint64_t appended = 0;
        uint8_t leaf[STORE_HASH_BYTES];
        assert_ok(store_append(f.txn, bytes, size, &appended, leaf));
        assert_int_equal(appended, sequence);
        if (customer) {
            uint64_t version = 0;
            assert_ok(store_stream_add(f.txn, e->partner_id, e->customer_id, sequence, &version));
            assert_int_equal(version, e->stream_version);
        }
        free(bytes);
        codec_event_free(e);
    }
    store_abort(from);
    assert_ok(store_commit(f.txn));
    f.txn = NULL;
    engine_close(engine);
    test_remove_dir(engine_dir);

    size_t left_out = 0, checks = 0;
    for (uint32_t p = 1; p <= DATED_PARTNERS; p++) {
        char partner_id[HISTGEN_ID_SIZE];
        histgen_partner_id(p, partner_id);
        for (uint32_t c = 1; c <= DATED_CUSTOMERS; c++) {
            char customer_id[HISTGEN_ID_SIZE];
            histgen_customer_id(p, c, customer_id);
            struct dated_stream stream = {0};
            assert_ok(store_begin(f.store, false, &stream.txn));
            assert_ok(store_stream_each(stream.txn, partner_id, customer_id, 0, dated_stream_add,
                                        &stream));
            store_abort(stream.txn);
            assert_true(stream.count > 0);
            /* D at (and a microsecond before) the dates of a spread of the
             * customer's events, some within a sequence bound; before and
             * after all of them. */
            int64_t first_us = INT64_MAX, last_us = 0;
            size_t step = stream.count / 24 + 1;
            for (size_t i = 0; i < stream.count; i++) {
                int64_t at = domain_event_business_us(stream.events[i]);
                first_us = at < first_us ? at : first_us;
                last_us = at > last_us ? at : last_us;
                if (i % step == 0) {
                    uint64_t bound = stream.events[dated_random(&random) % stream.count]->sequence;
                    dated_check(&f, partner_id, customer_id, &stream, at, 0, &left_out);
                    dated_check(&f, partner_id, customer_id, &stream, at - 1, 0, &left_out);
                    dated_check(&f, partner_id, customer_id, &stream, at, bound, &left_out);
                    checks += 3;
                }
            }
            dated_check(&f, partner_id, customer_id, &stream, first_us - 1, 0, &left_out);
            dated_check(&f, partner_id, customer_id, &stream, last_us, 0, &left_out);
            /* Dated after every event: the answer of the whole stream. */
            Ledger__V1__QueryResult dated, whole;
            const struct views_scope scope = {partner_id, "", false};
            assert_ok(reservations_dated(&f, &scope, customer_id, last_us, 0, 0, &dated));
            assert_ok(reservations(&f, &scope, customer_id, 0, head, &whole));
            assert_int_equal(dated.n_reservations, whole.n_reservations);
            for (size_t i = 0; i < whole.n_reservations; i++) {
                pack_equal(&dated.reservations[i]->base, &whole.reservations[i]->base);
            }
            views_result_clear(&dated);
            views_result_clear(&whole);
            for (size_t i = 0; i < stream.count; i++) {
                codec_event_free(stream.events[i]);
            }
            free(stream.events);
        }
    }
    print_message("%zu business-time answers checked; %zu events left out with what they "
                  "act on\n",
                  checks, left_out);
    /* The dating did make events act on what was dated later. */
    assert_true(left_out > 0);
    store_close(f.store);
    test_remove_dir(f.dir);
}

/* The expiries a walk finds, by reservation, partner and customer. */
struct expiries_seen {
    char ids[32][3 * (LEDGER_ID_LENGTH_MAX + 1)];
    size_t count;
};

static enum ledger_err expiry_seen(void *context, const char *partner_id, const char *customer_id,
                                   const char *reservation_id, int64_t expires_us)
{
    struct expiries_seen *seen = context;
    assert_true(expires_us > 0);
    assert_true(seen->count < sizeof seen->ids / sizeof seen->ids[0]);
    snprintf(seen->ids[seen->count++], sizeof seen->ids[0], "%s/%s/%s", partner_id, customer_id,
             reservation_id);
    return LEDGER_ERR_OK;
}

/* A walk for due expiries: every active reservation with auto-renewal off
 * past its term, whichever partner it is of; bounded by the rows it reads
 * and resumable, so a walk a row at a time finds what one walk does. */
static void test_views_expiries_due(void **state)
{
    struct fixture *f = *state;
    struct store_txn *txn = NULL;
    assert_ok(store_begin(f->store, false, &txn));
    const int64_t later = utc(2040, 1, 1);

    struct expiries_seen whole = {0};
    struct store_position position = {0};
    assert_ok(views_expiries_due(txn, later, 32, SIZE_MAX, &position, expiry_seen, &whole));
    assert_true(position.done);
    assert_int_equal(position.size, 0);
    assert_true(whole.count >= 2);
    /* Partner 2's reservation of the same ids is found with its partner. */
    bool other_partner = false;
    for (size_t i = 0; i < whole.count; i++) {
        other_partner |= strcmp(whole.ids[i], "p-2/c-1/res-a") == 0;
    }
    assert_true(other_partner);
    /* Nothing is due before the first term ends. */
    struct expiries_seen early = {0};
    assert_ok(
        views_expiries_due(txn, utc(2025, 1, 1), 32, SIZE_MAX, &position, expiry_seen, &early));
    assert_int_equal(early.count, 0);

    /* A row at a time: the same reservations in the same order. */
    struct expiries_seen stepped = {0};
    size_t walks = 0;
    position = (struct store_position){0};
    do {
        size_t before = stepped.count;
        assert_ok(views_expiries_due(txn, later, 32, 1, &position, expiry_seen, &stepped));
        assert_true(stepped.count - before <= 1);
        walks++;
        assert_true(walks < 1000);
    } while (!position.done);
    assert_true(walks > whole.count);
    assert_int_equal(stepped.count, whole.count);
    for (size_t i = 0; i < whole.count; i++) {
        assert_string_equal(stepped.ids[i], whole.ids[i]);
    }
    /* At most `max` found: the walk stops there and resumes after it. */
    struct expiries_seen capped = {0};
    position = (struct store_position){0};
    assert_ok(views_expiries_due(txn, later, 1, SIZE_MAX, &position, expiry_seen, &capped));
    assert_int_equal(capped.count, 1);
    assert_false(position.done);
    assert_ok(views_expiries_due(txn, later, 32, SIZE_MAX, &position, expiry_seen, &capped));
    assert_true(position.done);
    assert_int_equal(capped.count, whole.count);

    /* A position that cannot be a key, and a walk of no rows or that may find
     * nothing (it would never move on), are refused. */
    position = (struct store_position){.size = sizeof position.key + 1};
    assert_int_equal(LEDGER_ERR_INVALID_ARGUMENT,
                     views_expiries_due(txn, later, 32, 1, &position, expiry_seen, &capped));
    position = (struct store_position){0};
    assert_int_equal(LEDGER_ERR_INVALID_ARGUMENT,
                     views_expiries_due(txn, later, 32, 0, &position, expiry_seen, &capped));
    assert_int_equal(LEDGER_ERR_INVALID_ARGUMENT,
                     views_expiries_due(txn, later, 0, 1, &position, expiry_seen, &capped));
    store_abort(txn);
}

/* A reservation row whose key names no partner (no NUL in it), or a
 * partner id longer than any id, is a damaged view: the walk for due
 * expiries says CORRUPT rather than expiring it for a partner it cannot
 * name. Each key is tried in a write transaction that is then dropped. */
static void test_views_expiries_due_damaged_key(void **state)
{
    struct fixture *f = *state;
    Ledger__V1__ReservationRow row = LEDGER__V1__RESERVATION_ROW__INIT;
    row.reservation_id = "res-z";
    row.customer_id = "c-1";
    row.state = LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_ACTIVE;
    row.expires_us = utc(2026, 1, 1);
    uint8_t *bytes = NULL;
    size_t size = 0;
    assert_ok(codec_pack(&row.base, &bytes, &size));
    /* Both sort before every row the views wrote ('p' of "p-1"). */
    static const char no_partner[] = "orphan-row";
    char long_partner[LEDGER_ID_LENGTH_MAX + 16];
    memset(long_partner, 'a', LEDGER_ID_LENGTH_MAX + 1);
    memcpy(long_partner + LEDGER_ID_LENGTH_MAX + 1, "\0c-1\0res-z", 10);
    const struct {
        const void *key;
        size_t size;
    } keys[] = {
        {no_partner, sizeof no_partner - 1},
        {long_partner, LEDGER_ID_LENGTH_MAX + 1 + 10},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        struct store_txn *txn = NULL;
        assert_ok(store_begin(f->store, true, &txn));
        assert_ok(store_put(txn, STORE_DB_RESERVATION, keys[i].key, keys[i].size, bytes, size));
        struct expiries_seen seen = {0};
        struct store_position position = {0};
        assert_int_equal(
            views_expiries_due(txn, utc(2040, 1, 1), 32, SIZE_MAX, &position, expiry_seen, &seen),
            LEDGER_ERR_CORRUPT);
        assert_int_equal(seen.count, 0);
        store_abort(txn);
    }
    free(bytes);
}

/* Where an entry of each views database comes from: its key as text and
 * the sequence the entry records (key or row), none for a partner's name,
 * a key no writer makes, or a row that does not decode. */
static struct store_origin origin_of(enum store_db db, const void *key, size_t key_size,
                                     const ProtobufCMessage *row)
{
    uint8_t *bytes = NULL;
    size_t size = 0;
    if (row) {
        assert_int_equal(codec_pack(row, &bytes, &size), LEDGER_ERR_OK);
    }
    struct store_origin origin;
    struct store_val k = {key, key_size}, v = {bytes ? bytes : (const uint8_t *)"", size};
    views_entry_origin(db, k, v, &origin);
    free(bytes);
    return origin;
}

static void test_views_entry_origin(void **state)
{
    (void)state;
    Ledger__V1__ReservationRow reservation = LEDGER__V1__RESERVATION_ROW__INIT;
    reservation.sequence = 7;
    reservation.last_sequence = 12;
    struct store_origin o =
        origin_of(STORE_DB_RESERVATION, "p-1\0c-1\0res-7", 13, &reservation.base);
    assert_string_equal(o.key_text, "p-1/c-1/res-7");
    assert_int_equal(o.sequence, 12); /* the last event that changed it */

    Ledger__V1__SavingsPlanRow plan = LEDGER__V1__SAVINGS_PLAN_ROW__INIT;
    plan.sequence = 9;
    plan.last_sequence = 19;
    o = origin_of(STORE_DB_SAVINGS_PLAN, "p-1\0c-1\0sp-9", 12, &plan.base);
    assert_string_equal(o.key_text, "p-1/c-1/sp-9");
    assert_int_equal(o.sequence, 19); /* the last event that changed it */

    Ledger__V1__PrincipalRow principal = LEDGER__V1__PRINCIPAL_ROW__INIT;
    principal.sequence = 3;
    principal.last_sequence = 26;
    o = origin_of(STORE_DB_PRINCIPAL, "admin-1", 7, &principal.base);
    assert_string_equal(o.key_text, "admin-1");
    assert_int_equal(o.sequence, 26); /* its revocation */

    o = origin_of(STORE_DB_PARTNER, "p-1", 3, NULL);
    assert_string_equal(o.key_text, "p-1");
    assert_int_equal(o.sequence, 0);

    const uint8_t order[] = {'p', '-', '1', 0, 'c', '-', '1', 0, 0, 0, 0, 0, 0, 0, 0x01, 0x02};
    o = origin_of(STORE_DB_ORDER, order, sizeof order, NULL);
    assert_string_equal(o.key_text, "p-1/c-1/258");
    assert_int_equal(o.sequence, 258);

    const uint8_t permission[] = {'p', 0, 'c', 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 44};
    o = origin_of(STORE_DB_PERMISSION, permission, sizeof permission, NULL);
    assert_string_equal(o.key_text, "p/c/2/44");
    assert_int_equal(o.sequence, 44);

    const uint8_t activity[] = {'P', 'p', '-', '1', 0, 0, 0, 0, 0, 0, 0, 0, 5};
    o = origin_of(STORE_DB_ACTIVITY, activity, sizeof activity, NULL);
    assert_string_equal(o.key_text, "p-1/5");
    assert_int_equal(o.sequence, 5);
    /* The subscriptions index: the purchase's sequence is the value. */
    const uint8_t bought_sequence[8] = {0, 0, 0, 0, 0, 0, 0, 9};
    struct store_val subscription_key = {(const uint8_t *)"Ss-1\0p-1\0c-1", 12},
                     subscription_value = {bought_sequence, sizeof bought_sequence};
    views_entry_origin(STORE_DB_ACTIVITY, subscription_key, subscription_value, &o);
    assert_string_equal(o.key_text, "s-1/p-1/c-1");
    assert_int_equal(o.sequence, 9);
    /* The cloud order index (views layout 11): the purchase is the value. */
    struct store_val cloud_key = {(const uint8_t *)"Op-1\0ro-1\0c-1", 13};
    views_entry_origin(STORE_DB_ACTIVITY, cloud_key, subscription_value, &o);
    assert_string_equal(o.key_text, "p-1/ro-1/c-1");
    assert_int_equal(o.sequence, 9);
    /* A customer's principal event (views layout 10). */
    const uint8_t customer_activity[] = {'C', 'p', 0, 'c', 0, 0, 0, 0, 0, 0, 0, 0, 9};
    o = origin_of(STORE_DB_ACTIVITY, customer_activity, sizeof customer_activity, NULL);
    assert_string_equal(o.key_text, "p/c/9");
    assert_int_equal(o.sequence, 9);

    /* A billing entry: its purchase, or the later event that cut it. */
    const uint8_t billing[] = {'p', 0, '2', '0', '2', '5', '-', '0', '2', 0, 'c', 0,
                               0,   0, 0,   0,   0,   0,   0,   20,  0,   0, 3};
    Ledger__V1__BillingCharges charges = LEDGER__V1__BILLING_CHARGES__INIT;
    o = origin_of(STORE_DB_BILLING, billing, sizeof billing, &charges.base);
    assert_string_equal(o.key_text, "p/2025-02/c/20/3");
    assert_int_equal(o.sequence, 20);
    charges.stopped_sequence = 31;
    o = origin_of(STORE_DB_BILLING, billing, sizeof billing, &charges.base);
    assert_int_equal(o.sequence, 31);

    /* No writer makes these: the key as bytes, and no sequence. */
    o = origin_of(STORE_DB_ORDER, order, sizeof order - 1, NULL);
    assert_string_equal(o.key_text, "p-1\\x00c-1\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x01");
    assert_int_equal(o.sequence, 0);
    o = origin_of(STORE_DB_ACTIVITY, activity + 1, sizeof activity - 1, NULL);
    assert_int_equal(o.sequence, 0);
    const uint8_t garbage[] = {0xff, 0xff};
    o = origin_of(STORE_DB_PRINCIPAL, "admin-1", 7, NULL);
    assert_int_equal(o.sequence, 0); /* an empty row records none */
    struct store_val k = {(const uint8_t *)"admin-1", 7}, v = {garbage, sizeof garbage};
    views_entry_origin(STORE_DB_PRINCIPAL, k, v, &o);
    assert_string_equal(o.key_text, "admin-1");
    assert_int_equal(o.sequence, 0);
}

/* The row fields that events change in place (views__patch_row) are named
 * by number: they must be the schema's. */
static void test_views_patched_field_numbers(void **state)
{
    (void)state;
    static const struct {
        const ProtobufCMessageDescriptor *descriptor;
        const char *name;
        unsigned number;
    } fields[] = {
        {&ledger__v1__reservation_row__descriptor, "state", VIEWS_RESERVATION_ROW_STATE},
        {&ledger__v1__reservation_row__descriptor, "scope", VIEWS_RESERVATION_ROW_SCOPE},
        {&ledger__v1__reservation_row__descriptor, "auto_renew", VIEWS_RESERVATION_ROW_AUTO_RENEW},
        {&ledger__v1__reservation_row__descriptor, "last_sequence",
         VIEWS_RESERVATION_ROW_LAST_SEQUENCE},
        {&ledger__v1__savings_plan_row__descriptor, "scope", VIEWS_SAVINGS_PLAN_ROW_SCOPE},
        {&ledger__v1__savings_plan_row__descriptor, "auto_renew",
         VIEWS_SAVINGS_PLAN_ROW_AUTO_RENEW},
        {&ledger__v1__savings_plan_row__descriptor, "purchaser", VIEWS_SAVINGS_PLAN_ROW_PURCHASER},
        {&ledger__v1__savings_plan_row__descriptor, "last_sequence",
         VIEWS_SAVINGS_PLAN_ROW_LAST_SEQUENCE},
        {&ledger__v1__savings_plan_row__descriptor, "renewed", VIEWS_SAVINGS_PLAN_ROW_RENEWED},
        {&ledger__v1__billing_charges__descriptor, "billed_months",
         VIEWS_BILLING_CHARGES_BILLED_MONTHS},
        {&ledger__v1__billing_charges__descriptor, "stopped_sequence",
         VIEWS_BILLING_CHARGES_STOPPED_SEQUENCE},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        const ProtobufCFieldDescriptor *field =
            protobuf_c_message_descriptor_get_field_by_name(fields[i].descriptor, fields[i].name);
        assert_non_null(field);
        assert_int_equal(field->id, fields[i].number);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_views_patched_field_numbers),
        cmocka_unit_test_setup_teardown(test_views_expiries_due, setup, teardown),
        cmocka_unit_test_setup_teardown(test_views_expiries_due_damaged_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_views_reservations_current, setup, teardown),
        cmocka_unit_test_setup_teardown(test_views_unknown_customer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_views_subscription_holder, setup, teardown),
        cmocka_unit_test_setup_teardown(test_views_subscription_duplicates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_views_reservations_as_of, setup, teardown),
        cmocka_unit_test_setup_teardown(test_views_reservations_by_business_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_views_business_time_out_of_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_views_reservations_exchange_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_views_orders, setup, teardown),
        cmocka_unit_test_setup_teardown(test_views_customer_ids_that_are_prefixes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_views_savings_plans_partner_facing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_views_savings_plans_as_of, setup, teardown),
        cmocka_unit_test_setup_teardown(test_views_savings_plans_last_sequence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_views_permissions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_views_permission_without_business_time, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_views_activity_newest_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_views_activity_paging, setup, teardown),
        cmocka_unit_test_setup_teardown(test_views_activity_filters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_views_activity_action_in_any_case, setup, teardown),
        cmocka_unit_test_setup_teardown(test_views_activity_filters_agree_with_the_log, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_views_activity_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_views_activity_longest_scope, setup, teardown),
        cmocka_unit_test_setup_teardown(test_views_billing_months, setup, teardown),
        cmocka_unit_test_setup_teardown(test_views_billing_five_year_monthly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_views_billing_month_of_another_century, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_views_billing_customer_of_a_long_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_views_billing_at_tree_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_views_exchange_several_replacements, setup, teardown),
        cmocka_unit_test_setup_teardown(test_views_exchange_detail_of_many, setup, teardown),
        cmocka_unit_test_setup_teardown(test_views_exchange_of_most_returns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_views_billing_renewal_starts_at_expiry, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_views_billing_stop_without_start, setup, teardown),
        cmocka_unit_test_setup_teardown(test_views_billing_stop_after_the_last_instalment, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_views_billing_renewal_exchanged_before_its_term, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_views_savings_plan_renewal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_views_billing_cloud_order_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_views_activity_names_cloud_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_views_billing_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_views_billing_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_views_billing_pages_of_dotted_customers, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_views_billing_pages_pinned, setup, teardown),
        cmocka_unit_test_setup_teardown(test_views_billing_token_of_another_query, setup, teardown),
        cmocka_unit_test_setup_teardown(test_views_principals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_views_principal_secret_rotated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_views_partner_exists, setup, teardown),
        cmocka_unit_test_setup_teardown(test_views_query_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_views_apply_refuses_inconsistent_events, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_views_digest_definition, setup, teardown),
        cmocka_unit_test_setup_teardown(test_views_digest_rebuild, setup, teardown),
        cmocka_unit_test_setup_teardown(test_views_damaged_rows_are_corrupt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_views_apply_deterministic, setup, teardown),
        cmocka_unit_test(test_views_activity_scan_bound),
        cmocka_unit_test(test_views_billing_unpaged_rows_max),
        cmocka_unit_test(test_views_activity_amounts_in_currency),
        cmocka_unit_test(test_views_activity_business_time),
        cmocka_unit_test(test_views_activity_dated_range),
        cmocka_unit_test(test_views_activity_customer_principals),
        cmocka_unit_test(test_views_generated_history),
        cmocka_unit_test(test_views_business_time_generated),
        cmocka_unit_test(test_views_entry_origin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
