/*
 * test_isolation.c: what each role may do, and to whom, as the ledger really
 * answers it. Goal: every cell of the role table (daemon/policy.c) -- every
 * role, every command body case and every query kind, against every target
 * (own partner, own customer, another customer of the same partner, another
 * partner) -- is refused with exactly the code the table predicts (FORBIDDEN,
 * ASK_PARTNER, PARTNER_MISMATCH) or let through; and the events feed shows a
 * principal nothing of another partner (customer users, and every role the
 * table keeps from the feed, get none at all: FORBIDDEN), and filtered by a
 * customer exactly that customer's events and its customer users' principal
 * events.
 *
 * Method: the expected outcome of a cell is generated from the table itself
 * (policy_command_access / policy_query_access / policy_role_scope), never
 * written here a second time; the actual outcome comes from executing the cell
 * for real through engine_execute / engine_query. So a drift between the table
 * and what the domain or the engine enforce fails here, while the table's own
 * content is checked against docs/domain.md by test_policy.c.
 *
 * Each role (and, for auditor and billing, each binding: to one partner or to
 * all) gets a fresh world: partners "pa" and "pb"; customers "ca1" and "ca2"
 * of pa and "cb1" of pb, each with an active Azure plan "s-main-<customer>"
 * (and a spare "s-spare-<customer>": a subscription id names one customer's),
 * user alice Owner on its main plan, both purchase permissions on, and a
 * reservation and a savings plan set aside for every command that changes
 * one, so that each command is valid whenever the table lets it through.
 * Allowed cells must not be refused with an authorization code; a refusal by
 * a domain rule (the savings-plan cancellation, which rule 6 refuses to
 * everyone) counts as allowed and is listed. Refused cells must append
 * nothing, and are sent a second time with a wrong expected version: the
 * refusal must not change (authorization comes before the version check, so
 * a stranger learns nothing of the customer). Allowed reads must return only
 * rows of the target, and a customer user never sees the partner's price,
 * nor the retail price until the partner makes it visible. Savings plans as
 * of a point (a sequence, a business time, or both) follow the rules of the
 * current view: partner staff never see those the customer bought, a
 * customer user sees only its own customer's; and a customer user's prices
 * are hidden alike on the current, the as-of and the business-time paths.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine.h"
#include "policy.h"
#include "support/engine_fixture.h"
#include "test_util.h"

#define NOW_US   INT64_C(1767225600000000) /* 2026-01-01T00:00:00Z */
#define MONTH    "2026-01"
#define PA       "pa"
#define PB       "pb"
#define ID_SIZE  (LEDGER_ID_LENGTH_MAX + 1)
#define USER     "alice"
#define VARIANTS (2 * POLICY_ROLE_COUNT)

/* ---- the world ------------------------------------------------------------ */

enum { CA1, CA2, CB1, CUSTOMERS };

/* One customer and what the cells use up: one object per command that
 * changes it, so that every cell of one world starts from a valid state. */
struct customer_world {
    const char *partner_id;
    const char *customer_id;
    struct engine_principal user; /* alice, a customer user of this customer */
    char res_scope[ID_SIZE];
    char res_renewal[ID_SIZE];
    char res_renew[ID_SIZE];
    char res_exchange[ID_SIZE];
    char res_cancel[ID_SIZE];
    char res_expire[ID_SIZE];
    char sp_scope[ID_SIZE];
    char sp_renewal[ID_SIZE];
    char sp_renew[ID_SIZE];
    char sp_cancel[ID_SIZE];
    uint64_t customer_purchase_sequence; /* alice's reservation: for proofs, explain */
};

struct world {
    char dir[512];
    struct engine *engine;
    int64_t now_us;
    unsigned next_id;
    struct engine_principal operator_principal;
    struct engine_principal admin_a, admin_b; /* set-up admins of pa and pb */
    struct engine_principal subject;          /* the principal under test */
    struct customer_world customers[CUSTOMERS];
};

/* What one command returned. */
struct outcome {
    enum ledger_err err;
    char message[ENGINE_MESSAGE_SIZE];
    char reservation_id[ID_SIZE];
    char savings_plan_id[ID_SIZE];
    uint64_t first_sequence;
};

static struct engine_principal make_principal(const char *id, Ledger__V1__Role role,
                                              const char *partner, const char *customer,
                                              const char *user)
{
    struct engine_principal p;
    memset(&p, 0, sizeof p);
    snprintf(p.id, sizeof p.id, "%s", id);
    p.role = role;
    snprintf(p.partner_id, sizeof p.partner_id, "%s", partner);
    snprintf(p.customer_id, sizeof p.customer_id, "%s", customer);
    snprintf(p.user, sizeof p.user, "%s", user);
    return p;
}

static void fresh_id(struct world *w, const char *prefix, char out[ID_SIZE])
{
    snprintf(out, ID_SIZE, "%s-%u", prefix, ++w->next_id);
}

/* Executes one command as `principal` (a fresh command id when it has none). */
static struct outcome execute(struct world *w, const struct engine_principal *principal,
                              Ledger__V1__Command *command)
{
    struct outcome out;
    memset(&out, 0, sizeof out);
    char id[ID_SIZE];
    if (command->command_id == NULL || command->command_id[0] == '\0') {
        fresh_id(w, "cmd", id);
        command->command_id = id;
    }
    uint8_t *bytes = NULL;
    size_t size = 0;
    assert_int_equal(codec_pack(&command->base, &bytes, &size), LEDGER_ERR_OK);
    command->command_id = NULL;
    ProtobufCBinaryData data = {.len = size, .data = bytes};
    struct engine_request request = {.principal = principal, .commands = &data, .command_count = 1};
    w->now_us += 1000000;
    enum ledger_err err = engine_execute(w->engine, &request, 1, w->now_us);
    assert_int_equal(err, LEDGER_ERR_OK); /* the group itself never fails here */
    out.err = request.err;
    snprintf(out.message, sizeof out.message, "%s", request.message);
    if (out.err == LEDGER_ERR_OK) {
        const Ledger__V1__CommandResult *result = &request.results[0].message;
        snprintf(out.reservation_id, sizeof out.reservation_id, "%s",
                 result->reservation_id ? result->reservation_id : "");
        snprintf(out.savings_plan_id, sizeof out.savings_plan_id, "%s",
                 result->savings_plan_id ? result->savings_plan_id : "");
        out.first_sequence = result->first_sequence;
    }
    engine_request_clear(&request);
    free(bytes);
    return out;
}

/* Every body a cell may send, with the storage its strings and sub-messages
 * point into. */
struct cell_command {
    Ledger__V1__Command command;
    char partner_id[ID_SIZE];
    char customer_id[ID_SIZE];
    char fresh[ID_SIZE];
    char main_subscription[ID_SIZE];  /* s-main-<customer> */
    char spare_subscription[ID_SIZE]; /* s-spare-<customer> */
    char *reservation_ids[1];
    Ledger__V1__Money price, retail, refund, hourly;
    Ledger__V1__Scope scope, shared;
    Ledger__V1__AddPartner add_partner;
    Ledger__V1__AddPrincipal add_principal;
    Ledger__V1__RevokePrincipal revoke_principal;
    Ledger__V1__RotatePrincipalSecret rotate_principal_secret;
    Ledger__V1__OnboardCustomer onboard_customer;
    Ledger__V1__PurchaseSubscription purchase_subscription;
    Ledger__V1__SetSubscriptionStatus set_subscription_status;
    Ledger__V1__AssignRole assign_role;
    Ledger__V1__RemoveRole remove_role;
    Ledger__V1__GrantPermission grant_permission;
    Ledger__V1__RevokePermission revoke_permission;
    Ledger__V1__PurchaseReservation purchase_reservation;
    Ledger__V1__PurchaseReservation *replacements[1];
    Ledger__V1__ChangeReservationScope change_reservation_scope;
    Ledger__V1__SetReservationRenewal set_reservation_renewal;
    Ledger__V1__RenewReservation renew_reservation;
    Ledger__V1__ExchangeReservation exchange_reservation;
    Ledger__V1__CancelReservation cancel_reservation;
    Ledger__V1__ExpireReservation expire_reservation;
    Ledger__V1__PurchaseSavingsPlan purchase_savings_plan;
    Ledger__V1__ChangeSavingsPlanScope change_savings_plan_scope;
    Ledger__V1__SetSavingsPlanRenewal set_savings_plan_renewal;
    Ledger__V1__CancelSavingsPlan cancel_savings_plan;
    Ledger__V1__RenewSavingsPlan renew_savings_plan;
    Ledger__V1__SetCostVisibility set_cost_visibility;
};

static void cell_init(struct cell_command *c, const char *partner_id, const char *customer_id)
{
    memset(c, 0, sizeof *c);
    ledger__v1__command__init(&c->command);
    snprintf(c->partner_id, sizeof c->partner_id, "%s", partner_id);
    snprintf(c->customer_id, sizeof c->customer_id, "%s", customer_id);
    c->command.partner_id = c->partner_id;
    c->command.customer_id = c->customer_id;
    snprintf(c->main_subscription, sizeof c->main_subscription, "s-main-%s", customer_id);
    snprintf(c->spare_subscription, sizeof c->spare_subscription, "s-spare-%s", customer_id);
    ledger__v1__money__init(&c->price);
    c->price.amount_minor = 120000;
    c->price.currency = "USD";
    ledger__v1__money__init(&c->retail);
    c->retail.amount_minor = 150000;
    c->retail.currency = "USD";
    ledger__v1__money__init(&c->refund);
    c->refund.amount_minor = 10000;
    c->refund.currency = "USD";
    ledger__v1__money__init(&c->hourly);
    c->hourly.amount_minor = 500;
    c->hourly.currency = "USD";
    ledger__v1__scope__init(&c->shared);
    c->shared.kind = LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SHARED;
    ledger__v1__scope__init(&c->scope);
    c->scope.kind = LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SINGLE;
    c->scope.target = c->main_subscription;
}

static void reservation_body(struct cell_command *c, Ledger__V1__PurchaseReservation *body,
                             bool auto_renew)
{
    ledger__v1__purchase_reservation__init(body);
    body->billing_subscription_id = c->main_subscription;
    body->sku = "Standard_D2s_v5";
    body->region = "westeurope";
    body->quantity = 2;
    body->term = LEDGER__V1__TERM__TERM_P1Y;
    body->billing_plan = LEDGER__V1__BILLING_PLAN__BILLING_PLAN_UPFRONT;
    body->scope = &c->shared;
    body->price = &c->price;
    body->retail_price = &c->retail;
    body->auto_renew = auto_renew;
}

static void set_purchase_reservation(struct cell_command *c, bool auto_renew)
{
    reservation_body(c, &c->purchase_reservation, auto_renew);
    c->command.body_case = LEDGER__V1__COMMAND__BODY_PURCHASE_RESERVATION;
    c->command.purchase_reservation = &c->purchase_reservation;
}

static void set_purchase_savings_plan(struct cell_command *c)
{
    Ledger__V1__PurchaseSavingsPlan *body = &c->purchase_savings_plan;
    ledger__v1__purchase_savings_plan__init(body);
    body->billing_subscription_id = c->main_subscription;
    body->hourly_commitment = &c->hourly;
    body->term = LEDGER__V1__TERM__TERM_P1Y;
    body->billing_plan = LEDGER__V1__BILLING_PLAN__BILLING_PLAN_MONTHLY;
    body->scope = &c->shared;
    body->price = &c->price;
    body->retail_price = &c->retail;
    c->command.body_case = LEDGER__V1__COMMAND__BODY_PURCHASE_SAVINGS_PLAN;
    c->command.purchase_savings_plan = body;
}

static void set_permission(struct cell_command *c, bool grant, Ledger__V1__PermissionKind kind)
{
    if (grant) {
        ledger__v1__grant_permission__init(&c->grant_permission);
        c->grant_permission.kind = kind;
        c->command.body_case = LEDGER__V1__COMMAND__BODY_GRANT_PERMISSION;
        c->command.grant_permission = &c->grant_permission;
    } else {
        ledger__v1__revoke_permission__init(&c->revoke_permission);
        c->revoke_permission.kind = kind;
        c->command.body_case = LEDGER__V1__COMMAND__BODY_REVOKE_PERMISSION;
        c->command.revoke_permission = &c->revoke_permission;
    }
}

static void set_role(struct cell_command *c, bool assign, const char *user,
                     Ledger__V1__AzureRole role)
{
    if (assign) {
        ledger__v1__assign_role__init(&c->assign_role);
        c->assign_role.subscription_id = c->main_subscription;
        c->assign_role.user = (char *)user;
        c->assign_role.role = role;
        c->command.body_case = LEDGER__V1__COMMAND__BODY_ASSIGN_ROLE;
        c->command.assign_role = &c->assign_role;
    } else {
        ledger__v1__remove_role__init(&c->remove_role);
        c->remove_role.subscription_id = c->main_subscription;
        c->remove_role.user = (char *)user;
        c->remove_role.role = role;
        c->command.body_case = LEDGER__V1__COMMAND__BODY_REMOVE_ROLE;
        c->command.remove_role = &c->remove_role;
    }
}

static void set_add_principal(struct cell_command *c, const struct engine_principal *p)
{
    ledger__v1__add_principal__init(&c->add_principal);
    c->add_principal.principal_id = (char *)p->id;
    c->add_principal.role = p->role;
    c->add_principal.partner_id = (char *)p->partner_id;
    c->add_principal.customer_id = (char *)p->customer_id;
    c->add_principal.user = (char *)p->user;
    c->command.body_case = LEDGER__V1__COMMAND__BODY_ADD_PRINCIPAL;
    c->command.add_principal = &c->add_principal;
}

/* Set-up steps must succeed. */
static void must(struct world *w, const struct engine_principal *p, struct cell_command *c,
                 struct outcome *out)
{
    struct outcome o = execute(w, p, &c->command);
    if (o.err != LEDGER_ERR_OK) {
        fail_msg("set-up %s by %s failed: %s (%s)", codec_command_type_name(c->command.body_case),
                 p->id, ledger_err_name(o.err), o.message);
    }
    if (out) {
        *out = o;
    }
}

static void register_principal(struct world *w, const struct engine_principal *p)
{
    struct cell_command c;
    cell_init(&c, p->partner_id, "");
    set_add_principal(&c, p);
    must(w, &w->operator_principal, &c, NULL);
}

static const struct engine_principal *admin_of(struct world *w, const char *partner_id)
{
    return strcmp(partner_id, PA) == 0 ? &w->admin_a : &w->admin_b;
}

static void buy_reservation(struct world *w, struct customer_world *cw,
                            const struct engine_principal *who, bool auto_renew,
                            char id_out[ID_SIZE], uint64_t *sequence_out)
{
    struct cell_command c;
    cell_init(&c, cw->partner_id, cw->customer_id);
    set_purchase_reservation(&c, auto_renew);
    struct outcome o;
    must(w, who, &c, &o);
    if (id_out) {
        snprintf(id_out, ID_SIZE, "%s", o.reservation_id);
    }
    if (sequence_out) {
        *sequence_out = o.first_sequence;
    }
}

static void buy_savings_plan(struct world *w, struct customer_world *cw,
                             const struct engine_principal *who, bool auto_renew,
                             char id_out[ID_SIZE])
{
    struct cell_command c;
    cell_init(&c, cw->partner_id, cw->customer_id);
    set_purchase_savings_plan(&c);
    c.purchase_savings_plan.auto_renew = auto_renew;
    struct outcome o;
    must(w, who, &c, &o);
    if (id_out) {
        snprintf(id_out, ID_SIZE, "%s", o.savings_plan_id);
    }
}

static void build_customer(struct world *w, struct customer_world *cw)
{
    const struct engine_principal *admin = admin_of(w, cw->partner_id);
    struct cell_command c;

    cell_init(&c, cw->partner_id, cw->customer_id);
    ledger__v1__onboard_customer__init(&c.onboard_customer);
    c.onboard_customer.name = "Fabrikam";
    c.command.body_case = LEDGER__V1__COMMAND__BODY_ONBOARD_CUSTOMER;
    c.command.onboard_customer = &c.onboard_customer;
    must(w, admin, &c, NULL);

    for (size_t i = 0; i < 2; i++) {
        cell_init(&c, cw->partner_id, cw->customer_id);
        ledger__v1__purchase_subscription__init(&c.purchase_subscription);
        c.purchase_subscription.subscription_id =
            i == 0 ? c.main_subscription : c.spare_subscription;
        c.purchase_subscription.offer = LEDGER__V1__OFFER__OFFER_AZURE_PLAN;
        c.command.body_case = LEDGER__V1__COMMAND__BODY_PURCHASE_SUBSCRIPTION;
        c.command.purchase_subscription = &c.purchase_subscription;
        must(w, admin, &c, NULL);
    }
    cell_init(&c, cw->partner_id, cw->customer_id);
    set_role(&c, true, USER, LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER);
    must(w, admin, &c, NULL);
    cell_init(&c, cw->partner_id, cw->customer_id);
    set_role(&c, true, "bob", LEDGER__V1__AZURE_ROLE__AZURE_ROLE_READER);
    must(w, admin, &c, NULL);
    cell_init(&c, cw->partner_id, cw->customer_id);
    set_permission(&c, true, LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_RESERVATIONS);
    must(w, admin, &c, NULL);
    cell_init(&c, cw->partner_id, cw->customer_id);
    set_permission(&c, true, LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_SAVINGS_PLANS);
    must(w, admin, &c, NULL);

    char user_id[ID_SIZE];
    snprintf(user_id, sizeof user_id, "alice-%s", cw->customer_id);
    cw->user = make_principal(user_id, LEDGER__V1__ROLE__ROLE_CUSTOMER_USER, cw->partner_id,
                              cw->customer_id, USER);
    register_principal(w, &cw->user);

    buy_reservation(w, cw, admin, false, cw->res_scope, NULL);
    buy_reservation(w, cw, admin, false, cw->res_renewal, NULL);
    buy_reservation(w, cw, admin, true, cw->res_renew, NULL);
    buy_reservation(w, cw, admin, false, cw->res_exchange, NULL);
    buy_reservation(w, cw, admin, false, cw->res_cancel, NULL);
    buy_reservation(w, cw, admin, false, cw->res_expire, NULL);
    buy_reservation(w, cw, &cw->user, false, NULL, &cw->customer_purchase_sequence);
    buy_savings_plan(w, cw, admin, false, cw->sp_scope);
    buy_savings_plan(w, cw, admin, false, cw->sp_renewal);
    buy_savings_plan(w, cw, admin, true, cw->sp_renew);
    buy_savings_plan(w, cw, admin, false, cw->sp_cancel);
    buy_savings_plan(w, cw, &cw->user, false, NULL); /* hidden from partner-facing views */
}

/* A principal under test: its role, bound to partner pa (and customer ca1,
 * for customer users) or to no partner. */
struct variant {
    Ledger__V1__Role role;
    bool bound;
};

static struct engine_principal subject_of(const struct variant *v)
{
    bool own_customer = policy_role_scope(v->role) == POLICY_SCOPE_OWN_CUSTOMER;
    return make_principal("subject", v->role, v->bound ? PA : "", own_customer ? "ca1" : "",
                          own_customer ? USER : "");
}

static void world_open(struct world *w, const struct variant *v)
{
    memset(w, 0, sizeof *w);
    test_make_dir(w->dir, sizeof w->dir, "isolation");
    w->engine = test_engine_new(w->dir);
    assert_int_equal(engine_principal_lookup(w->engine, "operator", &w->operator_principal),
                     LEDGER_ERR_OK);
    w->now_us = NOW_US;

    const char *partners[] = {PA, PB};
    for (size_t i = 0; i < 2; i++) {
        struct cell_command c;
        cell_init(&c, partners[i], "");
        ledger__v1__add_partner__init(&c.add_partner);
        c.add_partner.partner_id = (char *)partners[i];
        c.add_partner.name = "Contoso";
        c.command.body_case = LEDGER__V1__COMMAND__BODY_ADD_PARTNER;
        c.command.add_partner = &c.add_partner;
        must(w, &w->operator_principal, &c, NULL);
    }
    w->admin_a = make_principal("admin-pa", LEDGER__V1__ROLE__ROLE_ADMIN_AGENT, PA, "", "");
    w->admin_b = make_principal("admin-pb", LEDGER__V1__ROLE__ROLE_ADMIN_AGENT, PB, "", "");
    register_principal(w, &w->admin_a);
    register_principal(w, &w->admin_b);
    /* Principals a RevokePrincipal cell may revoke, and others (never
     * revoked) a RotatePrincipalSecret cell may rotate, one per partner. */
    static const char *const targets[][2] = {
        {"victim-pa", PA}, {"victim-pb", PB}, {"rotated-pa", PA}, {"rotated-pb", PB}};
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
        struct engine_principal target = make_principal(
            targets[i][0], LEDGER__V1__ROLE__ROLE_HELPDESK_AGENT, targets[i][1], "", "");
        register_principal(w, &target);
    }

    w->customers[CA1].partner_id = PA;
    w->customers[CA1].customer_id = "ca1";
    w->customers[CA2].partner_id = PA;
    w->customers[CA2].customer_id = "ca2";
    w->customers[CB1].partner_id = PB;
    w->customers[CB1].customer_id = "cb1";
    for (size_t i = 0; i < CUSTOMERS; i++) {
        build_customer(w, &w->customers[i]);
    }

    w->subject = subject_of(v);
    /* The ledger itself (system) is no principal one can add. */
    if (v->role != LEDGER__V1__ROLE__ROLE_SYSTEM) {
        register_principal(w, &w->subject);
    }
}

static void world_close(struct world *w)
{
    engine_close(w->engine);
    test_remove_dir(w->dir);
}

/* ---- expectations from the table ----------------------------------------- */

/* What the table predicts for `principal` using a verb whose cell is `access`
 * on data of `partner_id` (and `customer_id`, "" when the verb names none). */
static enum ledger_err predicted(enum policy_access access,
                                 const struct engine_principal *principal, const char *partner_id,
                                 const char *customer_id)
{
    if (access != POLICY_ALLOW) {
        return policy_access_error(access);
    }
    switch (policy_role_scope(principal->role)) {
    case POLICY_SCOPE_ALL_PARTNERS:
        return LEDGER_ERR_OK;
    case POLICY_SCOPE_PARTNER_OR_ALL:
        if (principal->partner_id[0] == '\0') {
            return LEDGER_ERR_OK;
        }
        /* fall through */
    case POLICY_SCOPE_OWN_PARTNER:
        return strcmp(partner_id, principal->partner_id) == 0 ? LEDGER_ERR_OK
                                                              : LEDGER_ERR_PARTNER_MISMATCH;
    case POLICY_SCOPE_OWN_CUSTOMER:
        if (strcmp(partner_id, principal->partner_id) != 0) {
            return LEDGER_ERR_PARTNER_MISMATCH;
        }
        if (customer_id[0] != '\0' && strcmp(customer_id, principal->customer_id) != 0) {
            return LEDGER_ERR_PARTNER_MISMATCH;
        }
        return LEDGER_ERR_OK;
    case POLICY_SCOPE_NONE:
        break;
    }
    return LEDGER_ERR_FORBIDDEN;
}

static bool authorization_code(enum ledger_err err)
{
    return err == LEDGER_ERR_FORBIDDEN || err == LEDGER_ERR_PARTNER_MISMATCH ||
           err == LEDGER_ERR_ASK_PARTNER;
}

struct tally {
    unsigned cells;
    unsigned command_cells;
    unsigned query_cells;
    unsigned allowed;
    unsigned rule_refused;
    unsigned forbidden;
    unsigned mismatch;
    unsigned ask_partner;
    unsigned version_probes; /* refused cells tried again with a stale expected version */
    unsigned failures;
};

static const char *variant_name(const struct engine_principal *p, char out[64])
{
    bool partner_or_all = policy_role_scope(p->role) == POLICY_SCOPE_PARTNER_OR_ALL;
    snprintf(out, 64, "%s%s", policy_role_name(p->role),
             !partner_or_all    ? ""
             : p->partner_id[0] ? "@pa"
                                : "@all");
    return out;
}

__attribute__((format(printf, 2, 3))) static void failure(struct tally *t, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    fprintf(stderr, "FAIL ");
    vfprintf(stderr, format, args);
    fprintf(stderr, "\n");
    va_end(args);
    t->failures++;
}

/* Compares one cell's real outcome with the table's prediction. `appended`:
 * whether the head moved (commands only; queries pass `expected` OK). */
static void judge(struct tally *t, const struct engine_principal *p, const char *verb,
                  const char *target, enum ledger_err expected, enum ledger_err actual,
                  const char *message, bool is_command, bool appended)
{
    char name[64];
    variant_name(p, name);
    t->cells++;
    if (is_command) {
        t->command_cells++;
    } else {
        t->query_cells++;
    }
    if (expected == LEDGER_ERR_OK) {
        if (authorization_code(actual)) {
            failure(t, "%s %s -> %s: the table allows it, the ledger refused with %s (%s)", name,
                    verb, target, ledger_err_name(actual), message);
            return;
        }
        t->allowed++;
        if (actual != LEDGER_ERR_OK) {
            t->rule_refused++;
            printf("  allowed by the table, refused by a rule: %s %s -> %s: %s\n", name, verb,
                   target, ledger_err_name(actual));
        }
        if (is_command && (actual == LEDGER_ERR_OK) != appended) {
            failure(t, "%s %s -> %s: %s but the head %s", name, verb, target,
                    ledger_err_name(actual), appended ? "moved" : "did not move");
        }
        return;
    }
    if (actual != expected) {
        failure(t, "%s %s -> %s: the table says %s, the ledger said %s (%s)", name, verb, target,
                ledger_err_name(expected), ledger_err_name(actual), message);
        return;
    }
    if (is_command && appended) {
        failure(t, "%s %s -> %s: refused with %s but the head moved", name, verb, target,
                ledger_err_name(actual));
    }
    switch (actual) {
    case LEDGER_ERR_FORBIDDEN:
        t->forbidden++;
        break;
    case LEDGER_ERR_PARTNER_MISMATCH:
        t->mismatch++;
        break;
    case LEDGER_ERR_ASK_PARTNER:
        t->ask_partner++;
        break;
    default:
        break;
    }
}

/* ---- targets -------------------------------------------------------------- */

enum target {
    TARGET_NEW_PARTNER,    /* a partner that does not exist yet */
    TARGET_OWN_PARTNER,    /* pa, no customer */
    TARGET_OWN_CUSTOMER,   /* pa / ca1 */
    TARGET_OTHER_CUSTOMER, /* pa / ca2 */
    TARGET_OTHER_PARTNER,  /* pb (/ cb1 for customer verbs) */
};

static const char *target_name(enum target target)
{
    switch (target) {
    case TARGET_NEW_PARTNER:
        return "new partner";
    case TARGET_OWN_PARTNER:
        return "own partner";
    case TARGET_OWN_CUSTOMER:
        return "own customer";
    case TARGET_OTHER_CUSTOMER:
        return "other customer";
    case TARGET_OTHER_PARTNER:
        return "other partner";
    }
    return "?";
}

static const char *target_partner(enum target target)
{
    return target == TARGET_OTHER_PARTNER ? PB : PA;
}

static struct customer_world *target_customer(struct world *w, enum target target)
{
    switch (target) {
    case TARGET_OWN_CUSTOMER:
        return &w->customers[CA1];
    case TARGET_OTHER_CUSTOMER:
        return &w->customers[CA2];
    case TARGET_OTHER_PARTNER:
        return &w->customers[CB1];
    default:
        return NULL;
    }
}

static const enum target partner_targets[] = {TARGET_OWN_PARTNER, TARGET_OTHER_PARTNER};
static const enum target customer_targets[] = {TARGET_OWN_CUSTOMER, TARGET_OTHER_CUSTOMER,
                                               TARGET_OTHER_PARTNER};
static const enum target all_targets[] = {TARGET_OWN_PARTNER, TARGET_OWN_CUSTOMER,
                                          TARGET_OTHER_CUSTOMER, TARGET_OTHER_PARTNER};
static const enum target new_partner_target[] = {TARGET_NEW_PARTNER};

#define TARGETS(array) array, sizeof array / sizeof array[0]

/* The targets a command applies to. */
static void command_targets(Ledger__V1__Command__BodyCase verb, const enum target **out,
                            size_t *count)
{
    switch (verb) {
    case LEDGER__V1__COMMAND__BODY_ADD_PARTNER:
        *out = new_partner_target;
        *count = 1;
        return;
    case LEDGER__V1__COMMAND__BODY_ADD_PRINCIPAL:
    case LEDGER__V1__COMMAND__BODY_REVOKE_PRINCIPAL:
    case LEDGER__V1__COMMAND__BODY_ROTATE_PRINCIPAL_SECRET:
    case LEDGER__V1__COMMAND__BODY_ONBOARD_CUSTOMER: /* a new customer of the partner */
        *out = partner_targets;
        *count = 2;
        return;
    default:
        *out = customer_targets;
        *count = 3;
        return;
    }
}

/* ---- command cells ---------------------------------------------------------- */

/* Builds the command of a cell: valid for its target whenever the table lets
 * the subject through. False for a verb this test does not know. */
static bool build_command(struct world *w, Ledger__V1__Command__BodyCase verb, enum target target,
                          struct cell_command *c)
{
    struct customer_world *cw = target_customer(w, target);
    const char *partner_id = target_partner(target);
    cell_init(c, partner_id, "");
    if (cw != NULL) {
        snprintf(c->customer_id, sizeof c->customer_id, "%s", cw->customer_id);
    }
    switch (verb) {
    case LEDGER__V1__COMMAND__BODY_ADD_PARTNER:
        fresh_id(w, "pn", c->fresh);
        snprintf(c->partner_id, sizeof c->partner_id, "%s", c->fresh);
        ledger__v1__add_partner__init(&c->add_partner);
        c->add_partner.partner_id = c->fresh;
        c->add_partner.name = "Northwind";
        c->command.add_partner = &c->add_partner;
        break;
    case LEDGER__V1__COMMAND__BODY_ADD_PRINCIPAL:
        fresh_id(w, "helpdesk", c->fresh);
        ledger__v1__add_principal__init(&c->add_principal);
        c->add_principal.principal_id = c->fresh;
        c->add_principal.role = LEDGER__V1__ROLE__ROLE_HELPDESK_AGENT;
        c->add_principal.partner_id = c->partner_id;
        c->command.add_principal = &c->add_principal;
        break;
    case LEDGER__V1__COMMAND__BODY_REVOKE_PRINCIPAL:
        snprintf(c->fresh, sizeof c->fresh, "victim-%s", partner_id);
        ledger__v1__revoke_principal__init(&c->revoke_principal);
        c->revoke_principal.principal_id = c->fresh;
        c->command.revoke_principal = &c->revoke_principal;
        break;
    case LEDGER__V1__COMMAND__BODY_ROTATE_PRINCIPAL_SECRET:
        snprintf(c->fresh, sizeof c->fresh, "rotated-%s", partner_id);
        ledger__v1__rotate_principal_secret__init(&c->rotate_principal_secret);
        c->rotate_principal_secret.principal_id = c->fresh;
        c->command.rotate_principal_secret = &c->rotate_principal_secret;
        break;
    case LEDGER__V1__COMMAND__BODY_ONBOARD_CUSTOMER:
        fresh_id(w, "cn", c->customer_id);
        ledger__v1__onboard_customer__init(&c->onboard_customer);
        c->onboard_customer.name = "Tailspin";
        c->command.onboard_customer = &c->onboard_customer;
        break;
    case LEDGER__V1__COMMAND__BODY_PURCHASE_SUBSCRIPTION:
        fresh_id(w, "s", c->fresh);
        ledger__v1__purchase_subscription__init(&c->purchase_subscription);
        c->purchase_subscription.subscription_id = c->fresh;
        c->purchase_subscription.offer = LEDGER__V1__OFFER__OFFER_AZURE_PLAN;
        c->command.purchase_subscription = &c->purchase_subscription;
        break;
    case LEDGER__V1__COMMAND__BODY_SET_SUBSCRIPTION_STATUS:
        ledger__v1__set_subscription_status__init(&c->set_subscription_status);
        c->set_subscription_status.subscription_id = c->spare_subscription;
        c->set_subscription_status.status =
            LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_SUSPENDED;
        c->command.set_subscription_status = &c->set_subscription_status;
        break;
    case LEDGER__V1__COMMAND__BODY_ASSIGN_ROLE:
        fresh_id(w, "user", c->fresh);
        set_role(c, true, c->fresh, LEDGER__V1__AZURE_ROLE__AZURE_ROLE_READER);
        break;
    case LEDGER__V1__COMMAND__BODY_REMOVE_ROLE:
        set_role(c, false, "bob", LEDGER__V1__AZURE_ROLE__AZURE_ROLE_READER);
        break;
    case LEDGER__V1__COMMAND__BODY_GRANT_PERMISSION:
        set_permission(c, true, LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_RESERVATIONS);
        break;
    case LEDGER__V1__COMMAND__BODY_REVOKE_PERMISSION:
        set_permission(c, false, LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_RESERVATIONS);
        break;
    case LEDGER__V1__COMMAND__BODY_PURCHASE_RESERVATION:
        set_purchase_reservation(c, false);
        break;
    case LEDGER__V1__COMMAND__BODY_CHANGE_RESERVATION_SCOPE:
        ledger__v1__change_reservation_scope__init(&c->change_reservation_scope);
        c->change_reservation_scope.reservation_id = cw->res_scope;
        c->change_reservation_scope.scope = &c->scope;
        c->command.change_reservation_scope = &c->change_reservation_scope;
        break;
    case LEDGER__V1__COMMAND__BODY_SET_RESERVATION_RENEWAL:
        ledger__v1__set_reservation_renewal__init(&c->set_reservation_renewal);
        c->set_reservation_renewal.reservation_id = cw->res_renewal;
        c->set_reservation_renewal.auto_renew = true;
        c->command.set_reservation_renewal = &c->set_reservation_renewal;
        break;
    case LEDGER__V1__COMMAND__BODY_RENEW_RESERVATION:
        ledger__v1__renew_reservation__init(&c->renew_reservation);
        c->renew_reservation.reservation_id = cw->res_renew;
        c->renew_reservation.price = &c->price;
        c->renew_reservation.retail_price = &c->retail;
        c->command.renew_reservation = &c->renew_reservation;
        break;
    case LEDGER__V1__COMMAND__BODY_EXCHANGE_RESERVATION:
        ledger__v1__exchange_reservation__init(&c->exchange_reservation);
        c->reservation_ids[0] = cw->res_exchange;
        c->exchange_reservation.n_reservation_ids = 1;
        c->exchange_reservation.reservation_ids = c->reservation_ids;
        c->exchange_reservation.refund = &c->refund;
        reservation_body(c, &c->purchase_reservation, false);
        c->replacements[0] = &c->purchase_reservation;
        c->exchange_reservation.n_replacements = 1;
        c->exchange_reservation.replacements = c->replacements;
        c->command.exchange_reservation = &c->exchange_reservation;
        break;
    case LEDGER__V1__COMMAND__BODY_CANCEL_RESERVATION:
        ledger__v1__cancel_reservation__init(&c->cancel_reservation);
        c->cancel_reservation.reservation_id = cw->res_cancel;
        c->cancel_reservation.refund = &c->refund;
        c->command.cancel_reservation = &c->cancel_reservation;
        break;
    case LEDGER__V1__COMMAND__BODY_EXPIRE_RESERVATION:
        ledger__v1__expire_reservation__init(&c->expire_reservation);
        c->expire_reservation.reservation_id = cw->res_expire;
        c->command.expire_reservation = &c->expire_reservation;
        break;
    case LEDGER__V1__COMMAND__BODY_PURCHASE_SAVINGS_PLAN:
        set_purchase_savings_plan(c);
        break;
    case LEDGER__V1__COMMAND__BODY_CHANGE_SAVINGS_PLAN_SCOPE:
        ledger__v1__change_savings_plan_scope__init(&c->change_savings_plan_scope);
        c->change_savings_plan_scope.savings_plan_id = cw->sp_scope;
        c->change_savings_plan_scope.scope = &c->scope;
        c->command.change_savings_plan_scope = &c->change_savings_plan_scope;
        break;
    case LEDGER__V1__COMMAND__BODY_SET_SAVINGS_PLAN_RENEWAL:
        ledger__v1__set_savings_plan_renewal__init(&c->set_savings_plan_renewal);
        c->set_savings_plan_renewal.savings_plan_id = cw->sp_renewal;
        c->set_savings_plan_renewal.auto_renew = true;
        c->command.set_savings_plan_renewal = &c->set_savings_plan_renewal;
        break;
    case LEDGER__V1__COMMAND__BODY_CANCEL_SAVINGS_PLAN:
        ledger__v1__cancel_savings_plan__init(&c->cancel_savings_plan);
        c->cancel_savings_plan.savings_plan_id = cw->sp_cancel;
        c->command.cancel_savings_plan = &c->cancel_savings_plan;
        break;
    case LEDGER__V1__COMMAND__BODY_RENEW_SAVINGS_PLAN:
        ledger__v1__renew_savings_plan__init(&c->renew_savings_plan);
        c->renew_savings_plan.savings_plan_id = cw->sp_renew;
        c->renew_savings_plan.price = &c->price;
        c->renew_savings_plan.retail_price = &c->retail;
        c->command.renew_savings_plan = &c->renew_savings_plan;
        break;
    case LEDGER__V1__COMMAND__BODY_SET_COST_VISIBILITY:
        ledger__v1__set_cost_visibility__init(&c->set_cost_visibility);
        c->set_cost_visibility.retail_prices_visible = true;
        c->command.set_cost_visibility = &c->set_cost_visibility;
        break;
    default:
        return false;
    }
    c->command.body_case = verb;
    return true;
}

/* Sets a permission of a customer to `on` as its partner's admin (whatever
 * it was), so that the permission cells find a state they may change. */
static void permission_set(struct world *w, struct customer_world *cw, bool on)
{
    struct cell_command c;
    cell_init(&c, cw->partner_id, cw->customer_id);
    set_permission(&c, on, LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_RESERVATIONS);
    struct outcome o = execute(w, admin_of(w, cw->partner_id), &c.command);
    if (o.err != LEDGER_ERR_OK && o.err != LEDGER_ERR_PERMISSION_ALREADY_ON &&
        o.err != LEDGER_ERR_PERMISSION_ALREADY_OFF) {
        fail_msg("turning the permission %s failed: %s", on ? "on" : "off", o.message);
    }
}

static void command_cell(struct world *w, struct tally *t, Ledger__V1__Command__BodyCase verb,
                         enum target target)
{
    struct cell_command *c = calloc(1, sizeof *c);
    assert_non_null(c);
    const char *verb_name = codec_command_type_name(verb);
    if (!build_command(w, verb, target, c)) {
        failure(t, "the table has command %s, which this test cannot build", verb_name);
        free(c);
        return;
    }
    struct customer_world *cw = target_customer(w, target);
    if (verb == LEDGER__V1__COMMAND__BODY_GRANT_PERMISSION) {
        permission_set(w, cw, false);
    }
    const struct engine_principal *p = &w->subject;
    enum ledger_err expected = predicted(policy_command_access(p->role, verb), p,
                                         c->command.partner_id, c->command.customer_id);
    uint64_t before = engine_head_sequence(w->engine);
    struct outcome o = execute(w, p, &c->command);
    uint64_t after = engine_head_sequence(w->engine);
    judge(t, p, verb_name, target_name(target), expected, o.err, o.message, true, after != before);
    if (expected != LEDGER_ERR_OK && c->command.customer_id[0] != '\0') {
        /* The same refused command with an expected version that is wrong:
         * authorization comes first, so the answer must not change (a
         * VERSION_CONFLICT would tell the stranger the customer's version). */
        c->command.check_version = true;
        c->command.expected_version = 1000000;
        o = execute(w, p, &c->command);
        t->version_probes++;
        if (o.err != expected || engine_head_sequence(w->engine) != after) {
            char name[64];
            failure(t,
                    "%s %s -> %s with a stale expected version: the table says %s, the "
                    "ledger said %s (%s)",
                    variant_name(p, name), verb_name, target_name(target),
                    ledger_err_name(expected), ledger_err_name(o.err), o.message);
        }
    }
    if (verb == LEDGER__V1__COMMAND__BODY_GRANT_PERMISSION ||
        verb == LEDGER__V1__COMMAND__BODY_REVOKE_PERMISSION) {
        permission_set(w, cw, true);
    }
    free(c);
}

/* ---- query cells ------------------------------------------------------------ */

struct cell_query {
    Ledger__V1__Query query;
    char backup_dir[600];
    Ledger__V1__EventsQuery events;
    Ledger__V1__ReservationsQuery reservations;
    Ledger__V1__OrdersQuery orders;
    Ledger__V1__SavingsPlansQuery savings_plans;
    Ledger__V1__PermissionsQuery permissions;
    Ledger__V1__ActivityQuery activity;
    Ledger__V1__BillingQuery billing;
    Ledger__V1__PrincipalsQuery principals;
    Ledger__V1__HeadQuery head;
    Ledger__V1__InclusionQuery inclusion;
    Ledger__V1__ConsistencyQuery consistency;
    Ledger__V1__ExplainQuery explain;
    Ledger__V1__StatsQuery stats;
    Ledger__V1__BackupQuery backup;
};

static void query_targets(Ledger__V1__Query__KindCase kind, const enum target **out, size_t *count)
{
    switch (kind) {
    case LEDGER__V1__QUERY__KIND_EVENTS:
    case LEDGER__V1__QUERY__KIND_ACTIVITY:
    case LEDGER__V1__QUERY__KIND_BILLING:
        *out = all_targets;
        *count = 4;
        return;
    case LEDGER__V1__QUERY__KIND_RESERVATIONS:
    case LEDGER__V1__QUERY__KIND_ORDERS:
    case LEDGER__V1__QUERY__KIND_SAVINGS_PLANS:
    case LEDGER__V1__QUERY__KIND_PERMISSIONS:
    case LEDGER__V1__QUERY__KIND_INCLUSION: /* of a purchase event of the customer */
    case LEDGER__V1__QUERY__KIND_EXPLAIN:
        *out = customer_targets;
        *count = 3;
        return;
    default:
        *out = partner_targets;
        *count = 2;
        return;
    }
}

/* Builds the query of a cell; sets the partner and customer it is about. */
static bool build_query(struct world *w, Ledger__V1__Query__KindCase kind, enum target target,
                        struct cell_query *c, const char **partner_out, const char **customer_out)
{
    memset(c, 0, sizeof *c);
    ledger__v1__query__init(&c->query);
    struct customer_world *cw = target_customer(w, target);
    const char *partner_id = target_partner(target);
    const char *customer_id = target == TARGET_OWN_PARTNER || cw == NULL ? "" : cw->customer_id;
    c->query.partner_id = (char *)partner_id;
    switch (kind) {
    case LEDGER__V1__QUERY__KIND_EVENTS:
        ledger__v1__events_query__init(&c->events);
        c->events.customer_id = (char *)customer_id;
        c->events.limit = LEDGER_EVENTS_PAGE_MAX;
        c->query.events = &c->events;
        break;
    case LEDGER__V1__QUERY__KIND_RESERVATIONS:
        ledger__v1__reservations_query__init(&c->reservations);
        c->reservations.customer_id = (char *)customer_id;
        c->query.reservations = &c->reservations;
        break;
    case LEDGER__V1__QUERY__KIND_ORDERS:
        ledger__v1__orders_query__init(&c->orders);
        c->orders.customer_id = (char *)customer_id;
        c->query.orders = &c->orders;
        break;
    case LEDGER__V1__QUERY__KIND_SAVINGS_PLANS:
        ledger__v1__savings_plans_query__init(&c->savings_plans);
        c->savings_plans.customer_id = (char *)customer_id;
        c->query.savings_plans = &c->savings_plans;
        break;
    case LEDGER__V1__QUERY__KIND_PERMISSIONS:
        ledger__v1__permissions_query__init(&c->permissions);
        c->permissions.customer_id = (char *)customer_id;
        c->permissions.history = true;
        c->query.permissions = &c->permissions;
        break;
    case LEDGER__V1__QUERY__KIND_ACTIVITY:
        ledger__v1__activity_query__init(&c->activity);
        c->activity.customer_id = (char *)customer_id;
        c->query.activity = &c->activity;
        break;
    case LEDGER__V1__QUERY__KIND_BILLING:
        ledger__v1__billing_query__init(&c->billing);
        c->billing.customer_id = (char *)customer_id;
        c->billing.month = MONTH;
        c->query.billing = &c->billing;
        break;
    case LEDGER__V1__QUERY__KIND_PRINCIPALS:
        ledger__v1__principals_query__init(&c->principals);
        c->query.principals = &c->principals;
        break;
    case LEDGER__V1__QUERY__KIND_HEAD:
        ledger__v1__head_query__init(&c->head);
        c->query.head = &c->head;
        break;
    case LEDGER__V1__QUERY__KIND_INCLUSION:
        /* The target is the event: the query names no partner. */
        ledger__v1__inclusion_query__init(&c->inclusion);
        c->inclusion.sequence = cw->customer_purchase_sequence;
        c->query.inclusion = &c->inclusion;
        c->query.partner_id = "";
        break;
    case LEDGER__V1__QUERY__KIND_CONSISTENCY:
        ledger__v1__consistency_query__init(&c->consistency);
        c->consistency.from_size = 1;
        c->query.consistency = &c->consistency;
        break;
    case LEDGER__V1__QUERY__KIND_EXPLAIN:
        ledger__v1__explain_query__init(&c->explain);
        c->explain.sequence = cw->customer_purchase_sequence;
        c->query.explain = &c->explain;
        c->query.partner_id = "";
        break;
    case LEDGER__V1__QUERY__KIND_STATS:
        ledger__v1__stats_query__init(&c->stats);
        c->query.stats = &c->stats;
        break;
    case LEDGER__V1__QUERY__KIND_BACKUP:
        ledger__v1__backup_query__init(&c->backup);
        snprintf(c->backup_dir, sizeof c->backup_dir, "%s/backup-%u", w->dir, ++w->next_id);
        c->backup.directory = c->backup_dir;
        c->query.backup = &c->backup;
        break;
    default:
        return false;
    }
    c->query.kind_case = kind;
    *partner_out = partner_id;
    *customer_out = customer_id;
    return true;
}

/* The customer whose events feed lists event e, into out: the customer of
 * its stream, or for a principal event the customer of the customer user of
 * the event's partner it names (its row, read through
 * engine_principal_lookup), else none (""). */
static const char *feed_customer(struct world *w, const Ledger__V1__Event *e, char out[ID_SIZE])
{
    const char *principal_id = NULL;
    if (e->body_case == LEDGER__V1__EVENT__BODY_PRINCIPAL_ADDED) {
        principal_id = e->principal_added->principal_id;
    } else if (e->body_case == LEDGER__V1__EVENT__BODY_PRINCIPAL_REVOKED) {
        principal_id = e->principal_revoked->principal_id;
    } else if (e->body_case == LEDGER__V1__EVENT__BODY_PRINCIPAL_SECRET_ROTATED) {
        principal_id = e->principal_secret_rotated->principal_id;
    }
    struct engine_principal named;
    bool customer_user =
        principal_id != NULL &&
        engine_principal_lookup(w->engine, principal_id, &named) == LEDGER_ERR_OK &&
        named.role == LEDGER__V1__ROLE__ROLE_CUSTOMER_USER &&
        strcmp(named.partner_id, e->partner_id) == 0;
    snprintf(out, ID_SIZE, "%s", customer_user ? named.customer_id : e->customer_id);
    return out;
}

/* Checks that an allowed answer holds only rows of the partner and customer
 * asked about (and, for a principal bound to one customer, of that one), and
 * that the views it answers from are not empty, so the check is not vacuous. */
static void check_rows(struct world *w, struct tally *t, const struct engine_principal *p,
                       Ledger__V1__Query__KindCase kind, enum target target, const char *partner_id,
                       const char *customer_id, const Ledger__V1__QueryResult *r)
{
    char name[64];
    variant_name(p, name);
    const char *verb = codec_query_type_name(kind);
    const char *where = target_name(target);
    const char *want_customer = customer_id[0] ? customer_id : p->customer_id;
    size_t rows = 0;
    const char *bad = NULL;
    char owner[ID_SIZE];
#define CHECK_CUSTOMER(array, count)                                                               \
    do {                                                                                           \
        rows = (count);                                                                            \
        for (size_t i = 0; i < rows; i++) {                                                        \
            if (want_customer[0] && strcmp((array)[i]->customer_id, want_customer) != 0)           \
                bad = (array)[i]->customer_id;                                                     \
        }                                                                                          \
    } while (0)
    switch (kind) {
    case LEDGER__V1__QUERY__KIND_EVENTS:
        rows = r->n_events;
        for (size_t i = 0; i < rows; i++) {
            const Ledger__V1__Event *e = r->events[i]->event;
            if (strcmp(e->partner_id, partner_id) != 0)
                bad = e->partner_id;
            else if (want_customer[0] && strcmp(feed_customer(w, e, owner), want_customer) != 0)
                bad = owner;
        }
        break;
    case LEDGER__V1__QUERY__KIND_RESERVATIONS:
        CHECK_CUSTOMER(r->reservations, r->n_reservations);
        break;
    case LEDGER__V1__QUERY__KIND_ORDERS:
        CHECK_CUSTOMER(r->orders, r->n_orders);
        break;
    case LEDGER__V1__QUERY__KIND_SAVINGS_PLANS:
        CHECK_CUSTOMER(r->savings_plans, r->n_savings_plans);
        break;
    case LEDGER__V1__QUERY__KIND_PERMISSIONS:
        CHECK_CUSTOMER(r->permissions, r->n_permissions);
        break;
    case LEDGER__V1__QUERY__KIND_ACTIVITY:
        CHECK_CUSTOMER(r->activity, r->n_activity);
        break;
    case LEDGER__V1__QUERY__KIND_BILLING:
        CHECK_CUSTOMER(r->billing, r->n_billing);
        break;
    case LEDGER__V1__QUERY__KIND_PRINCIPALS:
        rows = r->n_principals;
        for (size_t i = 0; i < rows; i++) {
            if (strcmp(r->principals[i]->partner_id, partner_id) != 0)
                bad = r->principals[i]->partner_id;
        }
        break;
    default:
        return; /* heads, proofs, statistics: no rows of a partner */
    }
#undef CHECK_CUSTOMER
    if (bad != NULL) {
        failure(t, "%s %s -> %s: a row of '%s' came back", name, verb, where, bad);
    }
    if (rows == 0) {
        failure(t, "%s %s -> %s: no rows at all; the check would prove nothing", name, verb, where);
    }
}

static void query_cell(struct world *w, struct tally *t, Ledger__V1__Query__KindCase kind,
                       enum target target)
{
    struct cell_query *c = calloc(1, sizeof *c);
    assert_non_null(c);
    const char *verb = codec_query_type_name(kind);
    const char *partner_id = NULL, *customer_id = NULL;
    if (!build_query(w, kind, target, c, &partner_id, &customer_id)) {
        failure(t, "the table has query %s, which this test cannot build", verb);
        free(c);
        return;
    }
    const struct engine_principal *p = &w->subject;
    enum ledger_err expected =
        predicted(policy_query_access(p->role, kind), p, partner_id, customer_id);
    Ledger__V1__QueryResult *result = NULL;
    char message[ENGINE_MESSAGE_SIZE];
    w->now_us += 1000;
    enum ledger_err err = engine_query(w->engine, p, &c->query, w->now_us, &result, message);
    judge(t, p, verb, target_name(target), expected, err, message, false, false);
    if (err == LEDGER_ERR_OK) {
        if (expected == LEDGER_ERR_OK) {
            check_rows(w, t, p, kind, target, partner_id, customer_id, result);
        }
        engine_result_free(result);
    }
    free(c);
}

/* ---- the variants ------------------------------------------------------------- */

/* Every role of the table; a role that may be bound to one partner or to all
 * is tried both ways. */
static size_t variants_of_table(struct variant out[VARIANTS])
{
    size_t count = 0;
    for (size_t i = 0; i < POLICY_ROLE_COUNT; i++) {
        Ledger__V1__Role role = policy_role_at(i);
        switch (policy_role_scope(role)) {
        case POLICY_SCOPE_OWN_PARTNER:
        case POLICY_SCOPE_OWN_CUSTOMER:
            out[count++] = (struct variant){role, true};
            break;
        case POLICY_SCOPE_PARTNER_OR_ALL:
            out[count++] = (struct variant){role, true};
            out[count++] = (struct variant){role, false};
            break;
        case POLICY_SCOPE_ALL_PARTNERS:
            out[count++] = (struct variant){role, false};
            break;
        case POLICY_SCOPE_NONE:
            fail_msg("role %s of the table has no scope", policy_role_name(role));
        }
    }
    return count;
}

static void print_tally(const char *label, const struct tally *t)
{
    printf("%s: %u cells (%u commands, %u queries): %u allowed (%u of them refused by a "
           "domain rule), %u FORBIDDEN, %u PARTNER_MISMATCH, %u ASK_PARTNER; %u refusals "
           "probed with a stale version; %u failures\n",
           label, t->cells, t->command_cells, t->query_cells, t->allowed, t->rule_refused,
           t->forbidden, t->mismatch, t->ask_partner, t->version_probes, t->failures);
}

static void add_tally(struct tally *total, const struct tally *t)
{
    total->cells += t->cells;
    total->command_cells += t->command_cells;
    total->query_cells += t->query_cells;
    total->allowed += t->allowed;
    total->rule_refused += t->rule_refused;
    total->forbidden += t->forbidden;
    total->mismatch += t->mismatch;
    total->ask_partner += t->ask_partner;
    total->version_probes += t->version_probes;
    total->failures += t->failures;
}

static void test_isolation_role_matrix(void **state)
{
    (void)state;
    struct variant variants[VARIANTS];
    size_t variant_count = variants_of_table(variants);
    struct tally total = {0};
    for (size_t v = 0; v < variant_count; v++) {
        struct world *w = calloc(1, sizeof *w);
        assert_non_null(w);
        world_open(w, &variants[v]);
        struct tally t = {0};
        for (size_t i = 0; i < POLICY_COMMAND_COUNT; i++) {
            Ledger__V1__Command__BodyCase verb = policy_command_at(i);
            const enum target *targets = NULL;
            size_t count = 0;
            command_targets(verb, &targets, &count);
            for (size_t k = 0; k < count; k++) {
                command_cell(w, &t, verb, targets[k]);
            }
        }
        for (size_t i = 0; i < POLICY_QUERY_COUNT; i++) {
            Ledger__V1__Query__KindCase kind = policy_query_at(i);
            const enum target *targets = NULL;
            size_t count = 0;
            query_targets(kind, &targets, &count);
            for (size_t k = 0; k < count; k++) {
                query_cell(w, &t, kind, targets[k]);
            }
        }
        char name[64];
        print_tally(variant_name(&w->subject, name), &t);
        add_tally(&total, &t);
        world_close(w);
        free(w);
    }
    print_tally("isolation matrix", &total);
    assert_int_equal(total.failures, 0);
    /* Every cell ran: for each variant, every command and query of the table. */
    assert_true(total.command_cells >= variant_count * POLICY_COMMAND_COUNT);
    assert_true(total.query_cells >= variant_count * POLICY_QUERY_COUNT);
}

/* ---- the events feed ------------------------------------------------------------- */

/* Runs one query as `p`, a millisecond after the world's last request. */
static enum ledger_err ask(struct world *w, const struct engine_principal *p,
                           const Ledger__V1__Query *query, Ledger__V1__QueryResult **out)
{
    char message[ENGINE_MESSAGE_SIZE];
    w->now_us += 1000;
    *out = NULL;
    return engine_query(w->engine, p, query, w->now_us, out, message);
}

/* One page of the events feed. */
static enum ledger_err events_page(struct world *w, const struct engine_principal *p,
                                   const char *partner_id, const char *customer_id, uint64_t after,
                                   uint32_t limit, Ledger__V1__QueryResult **out)
{
    Ledger__V1__EventsQuery events = LEDGER__V1__EVENTS_QUERY__INIT;
    events.after_sequence = after;
    events.limit = limit;
    events.customer_id = (char *)customer_id;
    Ledger__V1__Query query = LEDGER__V1__QUERY__INIT;
    query.partner_id = (char *)partner_id;
    query.kind_case = LEDGER__V1__QUERY__KIND_EVENTS;
    query.events = &events;
    return ask(w, p, &query, out);
}

/* Pages through the whole feed as `p` (pages of `limit`), resuming after
 * last_sequence as a subscriber does; counts what it saw of each customer
 * world and fails on any event the principal may not see. */
static void follow_feed(struct world *w, const struct engine_principal *p, const char *partner_id,
                        const char *customer_id, uint32_t limit, unsigned *seen,
                        unsigned *seen_partner_b)
{
    uint64_t head = engine_head_sequence(w->engine);
    uint64_t after = 0, previous = 0;
    *seen = 0;
    *seen_partner_b = 0;
    unsigned pages = 0;
    while (after < head) {
        Ledger__V1__QueryResult *r = NULL;
        assert_int_equal(events_page(w, p, partner_id, customer_id, after, limit, &r),
                         LEDGER_ERR_OK);
        assert_true(r->last_sequence > after); /* always progresses */
        for (size_t i = 0; i < r->n_events; i++) {
            const Ledger__V1__Event *e = r->events[i]->event;
            char owner[ID_SIZE];
            assert_true(e->sequence > previous && e->sequence <= r->last_sequence);
            previous = e->sequence;
            if (p->partner_id[0] != '\0') {
                assert_string_equal(e->partner_id, p->partner_id);
            }
            if (partner_id[0] != '\0') {
                assert_string_equal(e->partner_id, partner_id);
            }
            if (p->customer_id[0] != '\0') {
                assert_string_equal(feed_customer(w, e, owner), p->customer_id);
            }
            if (customer_id[0] != '\0') {
                assert_string_equal(feed_customer(w, e, owner), customer_id);
            }
            *seen_partner_b += strcmp(e->partner_id, PB) == 0;
            (*seen)++;
        }
        after = r->last_sequence;
        engine_result_free(r);
        assert_true(++pages <= head + 1);
    }
}

/* How many events of the log a feed filtered this way must show. */
static unsigned events_expected(struct world *w, const char *partner_id, const char *customer_id)
{
    struct engine_principal everything =
        make_principal("truth", LEDGER__V1__ROLE__ROLE_AUDITOR, "", "", "");
    Ledger__V1__QueryResult *r = NULL;
    assert_int_equal(events_page(w, &everything, "", "", 0, LEDGER_EVENTS_PAGE_MAX, &r),
                     LEDGER_ERR_OK);
    assert_int_equal(r->n_events, engine_head_sequence(w->engine)); /* the whole log */
    unsigned count = 0;
    for (size_t i = 0; i < r->n_events; i++) {
        const Ledger__V1__Event *e = r->events[i]->event;
        char owner[ID_SIZE];
        count += (partner_id[0] == '\0' || strcmp(e->partner_id, partner_id) == 0) &&
                 (customer_id[0] == '\0' || strcmp(feed_customer(w, e, owner), customer_id) == 0);
    }
    engine_result_free(r);
    return count;
}

static void test_isolation_event_feed(void **state)
{
    (void)state;
    struct variant variants[VARIANTS];
    size_t variant_count = variants_of_table(variants);
    unsigned followed = 0;
    for (size_t v = 0; v < variant_count; v++) {
        struct world *w = calloc(1, sizeof *w);
        assert_non_null(w);
        world_open(w, &variants[v]);
        const struct engine_principal *p = &w->subject;
        char name[64];
        variant_name(p, name);
        if (!policy_query_allowed(p->role, LEDGER__V1__QUERY__KIND_EVENTS)) {
            /* No feed at all, whatever it asks for. */
            Ledger__V1__QueryResult *r = NULL;
            assert_int_equal(events_page(w, p, "", "", 0, 0, &r), LEDGER_ERR_FORBIDDEN);
            assert_int_equal(events_page(w, p, PA, "ca1", 0, 0, &r), LEDGER_ERR_FORBIDDEN);
            assert_null(r);
            printf("%s: no events feed (the table forbids it)\n", name);
            world_close(w);
            free(w);
            continue;
        }
        unsigned seen = 0, seen_b = 0;
        /* The whole feed, in small pages, as a subscriber follows it. */
        follow_feed(w, p, "", "", 7, &seen, &seen_b);
        unsigned want = events_expected(w, p->partner_id, p->customer_id);
        assert_int_equal(seen, want);
        if (p->partner_id[0] != '\0') {
            assert_int_equal(seen_b, 0);
        }
        printf("%s: followed %u of %u events, %u of partner pb\n", name, seen,
               (unsigned)engine_head_sequence(w->engine), seen_b);
        followed++;
        /* Filtered by customers of both partners. */
        const struct customer_world *filters[] = {&w->customers[CA1], &w->customers[CA2],
                                                  &w->customers[CB1]};
        for (size_t i = 0; i < 3; i++) {
            const struct customer_world *cw = filters[i];
            Ledger__V1__QueryResult *r = NULL;
            enum ledger_err expected =
                predicted(policy_query_access(p->role, LEDGER__V1__QUERY__KIND_EVENTS), p,
                          cw->partner_id, cw->customer_id);
            enum ledger_err err = events_page(w, p, cw->partner_id, cw->customer_id, 0, 0, &r);
            assert_int_equal(err, expected);
            if (err != LEDGER_ERR_OK) {
                continue;
            }
            engine_result_free(r);
            follow_feed(w, p, cw->partner_id, cw->customer_id, 3, &seen, &seen_b);
            assert_int_equal(seen, events_expected(w, cw->partner_id, cw->customer_id));
            assert_true(seen > 0);
        }
        /* A principal bound to pa naming no partner but pb's customer: no
         * customer of pa, as the views say (nothing of pb's is told). */
        if (p->partner_id[0] != '\0') {
            Ledger__V1__QueryResult *r = NULL;
            assert_int_equal(events_page(w, p, "", "cb1", 0, 5, &r), LEDGER_ERR_CUSTOMER_NOT_FOUND);
            assert_null(r);
        } else {
            /* Bound to none: the other partner's feed is all of pb's events. */
            follow_feed(w, p, PB, "", 11, &seen, &seen_b);
            assert_int_equal(seen, events_expected(w, PB, ""));
            assert_int_equal(seen_b, seen);
        }
        world_close(w);
        free(w);
    }
    assert_true(followed > 0);
}

/* ---- what customers see of prices ------------------------------------------------ */

/* Reads ca1's reservations and savings plans as `p`, now, as of the head
 * and as of the latest business time (each path builds its rows apart);
 * counts the rows that carry a partner price and a retail price. */
static void count_prices(struct world *w, const struct engine_principal *p, size_t *rows,
                         size_t *partner_prices, size_t *retail_prices)
{
    *rows = *partner_prices = *retail_prices = 0;
    Ledger__V1__ReservationsQuery reservations = LEDGER__V1__RESERVATIONS_QUERY__INIT;
    reservations.customer_id = "ca1";
    Ledger__V1__SavingsPlansQuery plans = LEDGER__V1__SAVINGS_PLANS_QUERY__INIT;
    plans.customer_id = "ca1";
    /* The reservations as of now: the rows the as-of path builds. */
    Ledger__V1__AsOf as_of = LEDGER__V1__AS_OF__INIT;
    as_of.sequence = engine_head_sequence(w->engine);
    Ledger__V1__ReservationsQuery reservations_as_of = LEDGER__V1__RESERVATIONS_QUERY__INIT;
    reservations_as_of.customer_id = "ca1";
    reservations_as_of.as_of = &as_of;
    Ledger__V1__SavingsPlansQuery plans_as_of = LEDGER__V1__SAVINGS_PLANS_QUERY__INIT;
    plans_as_of.customer_id = "ca1";
    plans_as_of.as_of = &as_of;
    Ledger__V1__AsOf dated = LEDGER__V1__AS_OF__INIT;
    dated.business_time_us = LEDGER_TIME_US_MAX;
    Ledger__V1__ReservationsQuery reservations_dated = reservations_as_of;
    reservations_dated.as_of = &dated;
    Ledger__V1__SavingsPlansQuery plans_dated = plans_as_of;
    plans_dated.as_of = &dated;
    Ledger__V1__ReservationsQuery *reservation_queries[] = {&reservations, &reservations_as_of,
                                                            &reservations_dated};
    Ledger__V1__SavingsPlansQuery *plan_queries[] = {&plans, &plans_as_of, &plans_dated};
    for (int kind = 0; kind < 6; kind++) {
        Ledger__V1__Query query = LEDGER__V1__QUERY__INIT;
        if (kind < 3) {
            query.kind_case = LEDGER__V1__QUERY__KIND_RESERVATIONS;
            query.reservations = reservation_queries[kind];
        } else {
            query.kind_case = LEDGER__V1__QUERY__KIND_SAVINGS_PLANS;
            query.savings_plans = plan_queries[kind - 3];
        }
        Ledger__V1__QueryResult *r = NULL;
        assert_int_equal(ask(w, p, &query, &r), LEDGER_ERR_OK);
        /* Every path answers rows: none may pass the checks by having none. */
        assert_true(r->n_reservations + r->n_savings_plans > 0);
        for (size_t i = 0; i < r->n_reservations; i++) {
            *partner_prices += r->reservations[i]->price != NULL;
            *retail_prices += r->reservations[i]->retail_price != NULL;
        }
        for (size_t i = 0; i < r->n_savings_plans; i++) {
            *partner_prices += r->savings_plans[i]->price != NULL;
            *retail_prices += r->savings_plans[i]->retail_price != NULL;
        }
        *rows += r->n_reservations + r->n_savings_plans;
        engine_result_free(r);
    }
}

/* ca1's admin agent makes retail prices visible to ca1's users, or hides them. */
static void set_retail_visible(struct world *w, bool visible)
{
    struct cell_command c;
    cell_init(&c, PA, "ca1");
    ledger__v1__set_cost_visibility__init(&c.set_cost_visibility);
    c.set_cost_visibility.retail_prices_visible = visible;
    c.command.body_case = LEDGER__V1__COMMAND__BODY_SET_COST_VISIBILITY;
    c.command.set_cost_visibility = &c.set_cost_visibility;
    must(w, &w->admin_a, &c, NULL);
}

/* A customer user never sees the partner's price (the partner's cost); it
 * sees retail prices only once the partner made them visible. */
static void test_isolation_customer_prices(void **state)
{
    (void)state;
    struct variant customer = {LEDGER__V1__ROLE__ROLE_CUSTOMER_USER, true};
    struct world *w = calloc(1, sizeof *w);
    assert_non_null(w);
    world_open(w, &customer);
    size_t rows = 0, partner_prices = 0, retail_prices = 0;

    count_prices(w, &w->admin_a, &rows, &partner_prices, &retail_prices);
    assert_true(rows > 0);
    assert_int_equal(partner_prices, rows);
    assert_int_equal(retail_prices, rows);

    count_prices(w, &w->subject, &rows, &partner_prices, &retail_prices);
    assert_true(rows > 0);
    assert_int_equal(partner_prices, 0);
    assert_int_equal(retail_prices, 0);

    set_retail_visible(w, true);
    count_prices(w, &w->subject, &rows, &partner_prices, &retail_prices);
    assert_true(rows > 0);
    assert_int_equal(partner_prices, 0);
    assert_int_equal(retail_prices, rows);

    /* Partner staff still see both. */
    count_prices(w, &w->admin_a, &rows, &partner_prices, &retail_prices);
    assert_int_equal(partner_prices, rows);
    assert_int_equal(retail_prices, rows);
    world_close(w);
    free(w);
}

/* ---- savings plans as of a point --------------------------------------------------- */

/* ca1's savings plans as `p` (customer_id "": the principal's own), now
 * (sequence and business time 0), as of a sequence, or what was true at a
 * business time (as of both: as known after the sequence); the answer's
 * code. */
static enum ledger_err plans_as_of(struct world *w, const struct engine_principal *p,
                                   const char *partner_id, const char *customer_id,
                                   uint64_t sequence, int64_t business_time_us,
                                   Ledger__V1__QueryResult **out)
{
    Ledger__V1__AsOf as_of = LEDGER__V1__AS_OF__INIT;
    as_of.sequence = sequence;
    as_of.business_time_us = business_time_us;
    Ledger__V1__SavingsPlansQuery plans = LEDGER__V1__SAVINGS_PLANS_QUERY__INIT;
    plans.customer_id = (char *)customer_id;
    plans.as_of = sequence != 0 || business_time_us != 0 ? &as_of : NULL;
    Ledger__V1__Query query = LEDGER__V1__QUERY__INIT;
    query.partner_id = (char *)partner_id;
    query.kind_case = LEDGER__V1__QUERY__KIND_SAVINGS_PLANS;
    query.savings_plans = &plans;
    return ask(w, p, &query, out);
}

/* Savings plans as of a point keep the current view's rules: partner staff
 * never see what the customer bought itself, a customer user sees its own
 * customer's plans only, auditors see everything of their partner; and as
 * of the head each sees exactly what it sees now. */
static void test_isolation_savings_plans_as_of(void **state)
{
    (void)state;
    struct variant customer = {LEDGER__V1__ROLE__ROLE_CUSTOMER_USER, true};
    struct world *w = calloc(1, sizeof *w);
    assert_non_null(w);
    world_open(w, &customer);
    struct engine_principal auditor =
        make_principal("auditor-pa", LEDGER__V1__ROLE__ROLE_AUDITOR, PA, "", "");
    struct engine_principal help_desk =
        make_principal("helpdesk-pa", LEDGER__V1__ROLE__ROLE_HELPDESK_AGENT, PA, "", "");
    const struct {
        const struct engine_principal *principal;
        const char *customer_id;
        size_t rows; /* four bought by the admin, one by alice */
        bool sees_customer_bought;
    } readers[] = {
        {&w->admin_a, "ca1", 4, false},
        {&help_desk, "ca1", 4, false},
        {&auditor, "ca1", 5, true},
        {&w->subject, "", 5, true},
    };
    uint64_t head = engine_head_sequence(w->engine);
    /* What was true at the latest business time, which the business-time
     * path replays (domain_customer_evolve_dated) rather than the current
     * state: every plan bought so far. */
    const int64_t business_us = LEDGER_TIME_US_MAX;
    for (size_t i = 0; i < sizeof readers / sizeof readers[0]; i++) {
        Ledger__V1__QueryResult *now = NULL, *points[3] = {NULL};
        const char *customer_id = readers[i].customer_id;
        assert_int_equal(plans_as_of(w, readers[i].principal, "", customer_id, 0, 0, &now),
                         LEDGER_ERR_OK);
        assert_int_equal(plans_as_of(w, readers[i].principal, "", customer_id, head, 0, &points[0]),
                         LEDGER_ERR_OK);
        assert_int_equal(
            plans_as_of(w, readers[i].principal, "", customer_id, 0, business_us, &points[1]),
            LEDGER_ERR_OK);
        assert_int_equal(
            plans_as_of(w, readers[i].principal, "", customer_id, head, business_us, &points[2]),
            LEDGER_ERR_OK);
        assert_int_equal(now->n_savings_plans, readers[i].rows);
        for (size_t k = 0; k < 3; k++) {
            const Ledger__V1__QueryResult *then = points[k];
            assert_int_equal(then->n_savings_plans, readers[i].rows);
            size_t customer_bought = 0;
            for (size_t r = 0; r < then->n_savings_plans; r++) {
                assert_string_equal(then->savings_plans[r]->savings_plan_id,
                                    now->savings_plans[r]->savings_plan_id);
                assert_string_equal(then->savings_plans[r]->customer_id, "ca1");
                customer_bought +=
                    then->savings_plans[r]->purchaser == LEDGER__V1__PURCHASER__PURCHASER_CUSTOMER;
            }
            assert_int_equal(customer_bought, readers[i].sees_customer_bought ? 1 : 0);
            engine_result_free(points[k]);
        }
        engine_result_free(now);
    }
    /* As of a point before ca1 existed: nothing. */
    Ledger__V1__QueryResult *r = NULL;
    assert_int_equal(plans_as_of(w, &auditor, "", "ca1", 1, 0, &r), LEDGER_ERR_OK);
    assert_int_equal(r->n_savings_plans, 0);
    engine_result_free(r);
    /* No other customer's or partner's plans, at any point. */
    assert_int_equal(plans_as_of(w, &w->subject, "", "ca2", head, 0, &r),
                     LEDGER_ERR_PARTNER_MISMATCH);
    assert_null(r);
    assert_int_equal(plans_as_of(w, &w->admin_b, PA, "ca1", head, 0, &r),
                     LEDGER_ERR_PARTNER_MISMATCH);
    assert_null(r);
    assert_int_equal(plans_as_of(w, &w->subject, "", "ca2", 0, business_us, &r),
                     LEDGER_ERR_PARTNER_MISMATCH);
    assert_null(r);
    assert_int_equal(plans_as_of(w, &w->admin_b, PA, "ca1", 0, business_us, &r),
                     LEDGER_ERR_PARTNER_MISMATCH);
    assert_null(r);
    /* A sequence past the log is refused, not answered with the present. */
    assert_int_equal(plans_as_of(w, &auditor, "", "ca1", head + 1, 0, &r),
                     LEDGER_ERR_INVALID_ARGUMENT);
    assert_null(r);
    world_close(w);
    free(w);
}

/* Retail prices in an answer as of an earlier point follow the visibility
 * switch as it is when the query is answered (docs/security.md): a decision
 * about access, not a fact of the past. */
static void test_isolation_customer_prices_as_of(void **state)
{
    (void)state;
    struct variant customer = {LEDGER__V1__ROLE__ROLE_CUSTOMER_USER, true};
    struct world *w = calloc(1, sizeof *w);
    assert_non_null(w);
    world_open(w, &customer);
    uint64_t hidden_at = engine_head_sequence(w->engine);
    for (int visible = 1; visible >= 0; visible--) {
        set_retail_visible(w, visible == 1);
        /* As of a point when retail prices were hidden, and now. */
        uint64_t points[] = {hidden_at, engine_head_sequence(w->engine)};
        for (size_t i = 0; i < 2; i++) {
            Ledger__V1__QueryResult *r = NULL;
            assert_int_equal(plans_as_of(w, &w->subject, "", "", points[i], 0, &r), LEDGER_ERR_OK);
            assert_true(r->n_savings_plans > 0);
            for (size_t k = 0; k < r->n_savings_plans; k++) {
                assert_null(r->savings_plans[k]->price);
                if (visible)
                    assert_non_null(r->savings_plans[k]->retail_price);
                else
                    assert_null(r->savings_plans[k]->retail_price);
            }
            engine_result_free(r);
        }
    }
    world_close(w);
    free(w);
}

/* ---- the table covers the schema ------------------------------------------------ */

static bool table_has_command(int value)
{
    for (size_t i = 0; i < POLICY_COMMAND_COUNT; i++) {
        if ((int)policy_command_at(i) == value)
            return true;
    }
    return false;
}

static bool table_has_query(int value)
{
    for (size_t i = 0; i < POLICY_QUERY_COUNT; i++) {
        if ((int)policy_query_at(i) == value)
            return true;
    }
    return false;
}

/* The matrix walks the table; this makes sure the table holds every body
 * case and every query kind of the schema, so that none escapes the walk. */
static void test_isolation_table_covers_schema(void **state)
{
    (void)state;
    const ProtobufCMessageDescriptor *command = &ledger__v1__command__descriptor;
    unsigned commands = 0;
    for (unsigned i = 0; i < command->n_fields; i++) {
        const ProtobufCFieldDescriptor *field = &command->fields[i];
        if (field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            if (!table_has_command((int)field->id))
                fail_msg("command body %s is not in the role table", field->name);
            commands++;
        }
    }
    assert_int_equal(commands, POLICY_COMMAND_COUNT);
    const ProtobufCMessageDescriptor *query = &ledger__v1__query__descriptor;
    unsigned queries = 0;
    for (unsigned i = 0; i < query->n_fields; i++) {
        const ProtobufCFieldDescriptor *field = &query->fields[i];
        if (field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            if (!table_has_query((int)field->id))
                fail_msg("query kind %s is not in the role table", field->name);
            queries++;
        }
    }
    assert_int_equal(queries, POLICY_QUERY_COUNT);
    /* And every role of the schema but "unspecified" is a column. */
    const ProtobufCEnumDescriptor *roles = &ledger__v1__role__descriptor;
    assert_int_equal(roles->n_values - 1, POLICY_ROLE_COUNT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_isolation_table_covers_schema),
        cmocka_unit_test(test_isolation_role_matrix),
        cmocka_unit_test(test_isolation_event_feed),
        cmocka_unit_test(test_isolation_customer_prices),
        cmocka_unit_test(test_isolation_savings_plans_as_of),
        cmocka_unit_test(test_isolation_customer_prices_as_of),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
