/*
 * ctl_demo.c: `ledgerctl demo`, a small realistic world in one command.
 *
 * Owns: the demo's script. Everything goes through the ordinary commands
 * with the ordinary principals, so the demo also shows who may do what: the
 * operator registers two partners and a principal for each role (key files
 * in --keys-dir); Contoso's admin agent onboards customers, buys their
 * subscriptions, assigns Azure roles and turns purchase permissions on (and
 * one off again); partner staff and a customer user buy reservations and
 * savings plans; the admin agent exchanges one reservation and cancels
 * another. At the end it prints what it made and commands to try.
 * Does not own: any rule (the daemon decides every step, and a refusal stops
 * the demo with the daemon's error).
 *
 * The demo expects a ledger without its partners and principals: run against
 * one that has any of them, it stops before its first step with
 * PARTNER_EXISTS or PRINCIPAL_EXISTS and changes nothing.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ctl_verbs.h"
#include "ledger_limits.h"

const struct ctl_option ctl_demo_options[] = {
    {"keys-dir", CTL_OPTION_VALUE, "DIR",
     "where to write the demo principals' key files (default ./ledger-demo-keys)", false},
    {NULL, CTL_OPTION_VALUE, NULL, NULL, false},
};

enum demo_actor {
    DEMO_OPERATOR = 0,
    DEMO_ADMIN,    /* contoso-admin */
    DEMO_SALES,    /* contoso-sales */
    DEMO_CUSTOMER, /* fabrikam-bob, a customer user */
    DEMO_ACTORS,
};

static const char *const demo_actor_ids[DEMO_ACTORS] = {NULL, "contoso-admin", "contoso-sales",
                                                        "fabrikam-bob"};

/* Path buffers: a directory and a principal id. */
#define DEMO_PATH_SIZE 4096

struct demo {
    struct ctl_context *context;
    const char *keys_dir;
    struct ledger_client *clients[DEMO_ACTORS];
    unsigned step;
    unsigned committed; /* the steps the ledger committed */
    uint64_t last_sequence;
    char reservation_ids[4][LEDGER_ID_LENGTH_MAX + 1];
    char savings_plan_ids[2][LEDGER_ID_LENGTH_MAX + 1];
};

static enum ledger_err demo_client(struct demo *demo, enum demo_actor actor,
                                   struct ledger_client **out)
{
    if (actor == DEMO_OPERATOR) {
        return ctl_client(demo->context, out);
    }
    if (demo->clients[actor] == NULL) {
        char key_file[DEMO_PATH_SIZE];
        snprintf(key_file, sizeof key_file, "%s/%s.key", demo->keys_dir, demo_actor_ids[actor]);
        struct ledger_options options = demo->context->options;
        options.principal_id = demo_actor_ids[actor];
        options.key_file = key_file;
        options.secret = NULL;
        enum ledger_err err = ledger_connect(&options, &demo->clients[actor]);
        if (err != LEDGER_ERR_OK) {
            snprintf(demo->context->message, sizeof demo->context->message,
                     "cannot use the key file %.400s", key_file);
            return err;
        }
    }
    *out = demo->clients[actor];
    return LEDGER_ERR_OK;
}

/* Sends one command as `actor`; result_out (may be NULL) receives a copy of
 * the interesting ids. */
static enum ledger_err demo_send(struct demo *demo, enum demo_actor actor,
                                 Ledger__V1__Command *command, const char *what,
                                 Ledger__V1__Reply **reply_out)
{
    struct ledger_client *client = NULL;
    enum ledger_err err = demo_client(demo, actor, &client);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    char command_id[LEDGER_CLIENT_COMMAND_ID_SIZE];
    ledger_command_id_new(command_id);
    command->command_id = command_id;
    const Ledger__V1__Command *commands[1] = {command};
    Ledger__V1__Reply *reply = NULL;
    err = ledger_execute(client, commands, 1, &reply);
    demo->step++;
    if (err != LEDGER_ERR_OK) {
        snprintf(demo->context->message, sizeof demo->context->message,
                 "demo step %u (%s, as %s): %s", demo->step, what,
                 actor == DEMO_OPERATOR ? demo->context->options.principal_id
                                        : demo_actor_ids[actor],
                 ledger_error_message(client));
        return err;
    }
    demo->committed++;
    demo->last_sequence = reply->results[0]->last_sequence;
    if (demo->context->format == CTL_FORMAT_TABLE) {
        fprintf(demo->context->out, "  %3llu  %-16s %s\n",
                (unsigned long long)reply->results[0]->last_sequence,
                actor == DEMO_OPERATOR ? demo->context->options.principal_id
                                       : demo_actor_ids[actor],
                what);
    }
    if (reply_out != NULL) {
        *reply_out = reply;
    } else {
        ledger_reply_free(reply);
    }
    return LEDGER_ERR_OK;
}

static Ledger__V1__Command demo_command(const char *partner, const char *customer)
{
    Ledger__V1__Command command = LEDGER__V1__COMMAND__INIT;
    command.partner_id = (char *)(uintptr_t)partner;
    command.customer_id = (char *)(uintptr_t)customer;
    return command;
}

static enum ledger_err demo_partner(struct demo *demo, const char *id, const char *name)
{
    Ledger__V1__Command command = demo_command(id, "");
    Ledger__V1__AddPartner body = LEDGER__V1__ADD_PARTNER__INIT;
    body.partner_id = (char *)(uintptr_t)id;
    body.name = (char *)(uintptr_t)name;
    command.body_case = LEDGER__V1__COMMAND__BODY_ADD_PARTNER;
    command.add_partner = &body;
    char what[128];
    snprintf(what, sizeof what, "partner add %s", id);
    return demo_send(demo, DEMO_OPERATOR, &command, what, NULL);
}

static enum ledger_err demo_principal(struct demo *demo, const char *id, Ledger__V1__Role role,
                                      const char *partner, const char *customer, const char *user)
{
    Ledger__V1__Command command = demo_command(partner, "");
    Ledger__V1__AddPrincipal body = LEDGER__V1__ADD_PRINCIPAL__INIT;
    body.principal_id = (char *)(uintptr_t)id;
    body.role = role;
    body.partner_id = (char *)(uintptr_t)partner;
    body.customer_id = (char *)(uintptr_t)customer;
    body.user = (char *)(uintptr_t)user;
    command.body_case = LEDGER__V1__COMMAND__BODY_ADD_PRINCIPAL;
    command.add_principal = &body;
    char what[128];
    snprintf(what, sizeof what, "principal add %s", id);
    Ledger__V1__Reply *reply = NULL;
    enum ledger_err err = demo_send(demo, DEMO_OPERATOR, &command, what, &reply);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    char path[DEMO_PATH_SIZE];
    snprintf(path, sizeof path, "%s/%s.key", demo->keys_dir, id);
    const char *secret = reply->results[0]->secret_hex;
    if (secret == NULL || strlen(secret) != 2 * LEDGER_SECRET_BYTES) {
        snprintf(demo->context->message, sizeof demo->context->message,
                 "the daemon sent no secret for %s", id);
        err = LEDGER_ERR_PROTOCOL_ERROR;
    } else {
        err = ctl_write_key_file(demo->context, path, secret);
    }
    ledger_reply_free(reply); /* wipes the secret */
    return err;
}

static enum ledger_err demo_customer(struct demo *demo, const char *customer, const char *name,
                                     const char *subscription, Ledger__V1__Offer offer)
{
    Ledger__V1__Command command = demo_command("", customer);
    Ledger__V1__OnboardCustomer onboard = LEDGER__V1__ONBOARD_CUSTOMER__INIT;
    onboard.name = (char *)(uintptr_t)name;
    command.body_case = LEDGER__V1__COMMAND__BODY_ONBOARD_CUSTOMER;
    command.onboard_customer = &onboard;
    char what[160];
    snprintf(what, sizeof what, "customer add %s", customer);
    enum ledger_err err = demo_send(demo, DEMO_ADMIN, &command, what, NULL);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    command = demo_command("", customer);
    Ledger__V1__PurchaseSubscription purchase = LEDGER__V1__PURCHASE_SUBSCRIPTION__INIT;
    purchase.subscription_id = (char *)(uintptr_t)subscription;
    purchase.offer = offer;
    command.body_case = LEDGER__V1__COMMAND__BODY_PURCHASE_SUBSCRIPTION;
    command.purchase_subscription = &purchase;
    snprintf(what, sizeof what, "subscription add %s for %s", subscription, customer);
    return demo_send(demo, DEMO_ADMIN, &command, what, NULL);
}

static enum ledger_err demo_role(struct demo *demo, const char *customer, const char *subscription,
                                 const char *user, Ledger__V1__AzureRole role,
                                 const char *role_name)
{
    Ledger__V1__Command command = demo_command("", customer);
    Ledger__V1__AssignRole body = LEDGER__V1__ASSIGN_ROLE__INIT;
    body.subscription_id = (char *)(uintptr_t)subscription;
    body.user = (char *)(uintptr_t)user;
    body.role = role;
    command.body_case = LEDGER__V1__COMMAND__BODY_ASSIGN_ROLE;
    command.assign_role = &body;
    char what[160];
    snprintf(what, sizeof what, "role assign %s %s on %s", user, role_name, subscription);
    return demo_send(demo, DEMO_ADMIN, &command, what, NULL);
}

static enum ledger_err demo_permission(struct demo *demo, const char *customer,
                                       Ledger__V1__PermissionKind kind, bool on)
{
    Ledger__V1__Command command = demo_command("", customer);
    Ledger__V1__GrantPermission grant = LEDGER__V1__GRANT_PERMISSION__INIT;
    Ledger__V1__RevokePermission revoke = LEDGER__V1__REVOKE_PERMISSION__INIT;
    if (on) {
        grant.kind = kind;
        command.body_case = LEDGER__V1__COMMAND__BODY_GRANT_PERMISSION;
        command.grant_permission = &grant;
    } else {
        revoke.kind = kind;
        command.body_case = LEDGER__V1__COMMAND__BODY_REVOKE_PERMISSION;
        command.revoke_permission = &revoke;
    }
    char what[160];
    snprintf(what, sizeof what, "permission %s %s for %s", on ? "enable" : "disable",
             kind == LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_RESERVATIONS ? "reservations"
                                                                               : "savings-plans",
             customer);
    return demo_send(demo, DEMO_ADMIN, &command, what, NULL);
}

/* Every amount of the demo is in USD. */
static void demo_usd(Ledger__V1__Money *money, int64_t amount_minor)
{
    money->amount_minor = amount_minor;
    money->currency = (char *)"USD";
}

/* demo_send, then the id of the reservation or savings plan the command
 * made, into id_out (LEDGER_ID_LENGTH_MAX + 1 bytes). */
static enum ledger_err demo_send_purchase(struct demo *demo, enum demo_actor actor,
                                          Ledger__V1__Command *command, const char *what,
                                          char *id_out)
{
    Ledger__V1__Reply *reply = NULL;
    enum ledger_err err = demo_send(demo, actor, command, what, &reply);
    if (err == LEDGER_ERR_OK) {
        const Ledger__V1__CommandResult *result = reply->results[0];
        snprintf(id_out, LEDGER_ID_LENGTH_MAX + 1, "%s",
                 command->body_case == LEDGER__V1__COMMAND__BODY_PURCHASE_SAVINGS_PLAN
                     ? result->savings_plan_id
                     : result->reservation_id);
        ledger_reply_free(reply);
    }
    return err;
}

struct demo_purchase {
    const char *customer;
    const char *subscription;
    const char *sku;
    const char *region;
    uint32_t quantity;
    Ledger__V1__Term term;
    Ledger__V1__BillingPlan billing;
    Ledger__V1__ScopeKind scope;
    const char *scope_target;
    int64_t price_minor;
    int64_t retail_minor;
};

static void demo_fill_reservation(const struct demo_purchase *purchase,
                                  Ledger__V1__PurchaseReservation *body, Ledger__V1__Scope *scope,
                                  Ledger__V1__Money *price, Ledger__V1__Money *retail)
{
    scope->kind = purchase->scope;
    scope->target = (char *)(uintptr_t)purchase->scope_target;
    demo_usd(price, purchase->price_minor);
    demo_usd(retail, purchase->retail_minor);
    body->billing_subscription_id = (char *)(uintptr_t)purchase->subscription;
    body->sku = (char *)(uintptr_t)purchase->sku;
    body->region = (char *)(uintptr_t)purchase->region;
    body->quantity = purchase->quantity;
    body->term = purchase->term;
    body->billing_plan = purchase->billing;
    body->scope = scope;
    body->price = price;
    body->retail_price = retail;
}

static enum ledger_err demo_reservation(struct demo *demo, enum demo_actor actor,
                                        const struct demo_purchase *purchase, char *id_out)
{
    Ledger__V1__Command command = demo_command("", purchase->customer);
    Ledger__V1__PurchaseReservation body = LEDGER__V1__PURCHASE_RESERVATION__INIT;
    Ledger__V1__Scope scope = LEDGER__V1__SCOPE__INIT;
    Ledger__V1__Money price = LEDGER__V1__MONEY__INIT;
    Ledger__V1__Money retail = LEDGER__V1__MONEY__INIT;
    demo_fill_reservation(purchase, &body, &scope, &price, &retail);
    command.body_case = LEDGER__V1__COMMAND__BODY_PURCHASE_RESERVATION;
    command.purchase_reservation = &body;
    char what[200];
    snprintf(what, sizeof what, "reservation buy %u x %s in %s for %s", purchase->quantity,
             purchase->sku, purchase->region, purchase->customer);
    return demo_send_purchase(demo, actor, &command, what, id_out);
}

static enum ledger_err demo_savings_plan(struct demo *demo, enum demo_actor actor,
                                         const char *customer, const char *subscription,
                                         int64_t hourly_minor, Ledger__V1__Term term,
                                         int64_t price_minor, int64_t retail_minor, char *id_out)
{
    Ledger__V1__Command command = demo_command("", customer);
    Ledger__V1__PurchaseSavingsPlan body = LEDGER__V1__PURCHASE_SAVINGS_PLAN__INIT;
    Ledger__V1__Scope scope = LEDGER__V1__SCOPE__INIT;
    Ledger__V1__Money hourly = LEDGER__V1__MONEY__INIT;
    Ledger__V1__Money price = LEDGER__V1__MONEY__INIT;
    Ledger__V1__Money retail = LEDGER__V1__MONEY__INIT;
    scope.kind = LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SINGLE;
    scope.target = (char *)(uintptr_t)subscription;
    demo_usd(&hourly, hourly_minor);
    demo_usd(&price, price_minor);
    demo_usd(&retail, retail_minor);
    body.billing_subscription_id = (char *)(uintptr_t)subscription;
    body.hourly_commitment = &hourly;
    body.term = term;
    body.billing_plan = LEDGER__V1__BILLING_PLAN__BILLING_PLAN_MONTHLY;
    body.scope = &scope;
    body.price = &price;
    body.retail_price = &retail;
    command.body_case = LEDGER__V1__COMMAND__BODY_PURCHASE_SAVINGS_PLAN;
    command.purchase_savings_plan = &body;
    char what[200];
    snprintf(what, sizeof what, "savings-plan buy for %s", customer);
    return demo_send_purchase(demo, actor, &command, what, id_out);
}

static enum ledger_err demo_exchange(struct demo *demo, const char *returned,
                                     const struct demo_purchase *purchase, int64_t refund_minor,
                                     char *id_out)
{
    Ledger__V1__Command command = demo_command("", purchase->customer);
    Ledger__V1__ExchangeReservation body = LEDGER__V1__EXCHANGE_RESERVATION__INIT;
    Ledger__V1__PurchaseReservation replacement = LEDGER__V1__PURCHASE_RESERVATION__INIT;
    Ledger__V1__Scope scope = LEDGER__V1__SCOPE__INIT;
    Ledger__V1__Money price = LEDGER__V1__MONEY__INIT;
    Ledger__V1__Money retail = LEDGER__V1__MONEY__INIT;
    Ledger__V1__Money refund = LEDGER__V1__MONEY__INIT;
    demo_fill_reservation(purchase, &replacement, &scope, &price, &retail);
    demo_usd(&refund, refund_minor);
    char *ids[1] = {(char *)(uintptr_t)returned};
    body.reservation_ids = ids;
    body.n_reservation_ids = 1;
    body.refund = &refund;
    Ledger__V1__PurchaseReservation *replacements[1] = {&replacement};
    body.n_replacements = 1;
    body.replacements = replacements;
    command.body_case = LEDGER__V1__COMMAND__BODY_EXCHANGE_RESERVATION;
    command.exchange_reservation = &body;
    char what[200];
    snprintf(what, sizeof what, "reservation exchange %s for %u x %s", returned, purchase->quantity,
             purchase->sku);
    return demo_send_purchase(demo, DEMO_ADMIN, &command, what, id_out);
}

static enum ledger_err demo_cancel(struct demo *demo, const char *customer, const char *reservation,
                                   int64_t refund_minor)
{
    Ledger__V1__Command command = demo_command("", customer);
    Ledger__V1__CancelReservation body = LEDGER__V1__CANCEL_RESERVATION__INIT;
    Ledger__V1__Money refund = LEDGER__V1__MONEY__INIT;
    demo_usd(&refund, refund_minor);
    body.reservation_id = (char *)(uintptr_t)reservation;
    body.refund = &refund;
    body.refund_usd = &refund;
    command.body_case = LEDGER__V1__COMMAND__BODY_CANCEL_RESERVATION;
    command.cancel_reservation = &body;
    char what[200];
    snprintf(what, sizeof what, "reservation cancel %s", reservation);
    return demo_send(demo, DEMO_ADMIN, &command, what, NULL);
}

static enum ledger_err demo_cost_visibility(struct demo *demo, const char *customer)
{
    Ledger__V1__Command command = demo_command("", customer);
    Ledger__V1__SetCostVisibility body = LEDGER__V1__SET_COST_VISIBILITY__INIT;
    body.retail_prices_visible = true;
    command.body_case = LEDGER__V1__COMMAND__BODY_SET_COST_VISIBILITY;
    command.set_cost_visibility = &body;
    return demo_send(demo, DEMO_ADMIN, &command, "cost-visibility set --on for fabrikam", NULL);
}

/* The principals the demo makes, for the key-file check and the summary. */
static const char *const demo_principals[] = {
    "contoso-admin", "contoso-sales", "contoso-helpdesk", "northwind-admin",
    "fabrikam-bob",  "auditor",       "billing",
};

/* The partners the demo registers. */
static const char *const demo_partners[] = {"contoso", "northwind"};

/* PARTNER_EXISTS or PRINCIPAL_EXISTS, the context's message naming it, when
 * the ledger already has a partner or principal the demo makes: found at
 * its own step, after the steps before it were committed, it would leave the
 * ledger half loaded and the demo unable to run again. OK when none is
 * there, or when the principal may not ask (its first step then says why). */
static enum ledger_err demo_world_absent(struct demo *demo)
{
    struct ctl_context *context = demo->context;
    struct ledger_client *client = NULL;
    enum ledger_err err = ctl_client(context, &client);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    Ledger__V1__PrincipalsQuery principals = LEDGER__V1__PRINCIPALS_QUERY__INIT;
    Ledger__V1__Query query = LEDGER__V1__QUERY__INIT;
    query.kind_case = LEDGER__V1__QUERY__KIND_PRINCIPALS;
    query.principals = &principals;
    Ledger__V1__QueryResult *result = NULL;
    /* A partner's principals are PARTNER_NOT_FOUND while it is not there. */
    for (size_t i = 0; i < sizeof demo_partners / sizeof demo_partners[0]; i++) {
        query.partner_id = (char *)(uintptr_t)demo_partners[i];
        err = ledger_query(client, &query, &result);
        ledger_query_result_free(result);
        result = NULL;
        if (err == LEDGER_ERR_OK) {
            snprintf(context->message, sizeof context->message,
                     "partner %s is already registered: the demo needs a ledger without its "
                     "partners (contoso, northwind); nothing was committed",
                     demo_partners[i]);
            return LEDGER_ERR_PARTNER_EXISTS;
        }
        if (err != LEDGER_ERR_PARTNER_NOT_FOUND) {
            return LEDGER_ERR_OK;
        }
    }
    query.partner_id = (char *)protobuf_c_empty_string;
    if (ledger_query(client, &query, &result) != LEDGER_ERR_OK) {
        return LEDGER_ERR_OK;
    }
    err = LEDGER_ERR_OK;
    for (size_t r = 0; r < result->n_principals && err == LEDGER_ERR_OK; r++) {
        for (size_t i = 0; i < sizeof demo_principals / sizeof demo_principals[0]; i++) {
            if (strcmp(result->principals[r]->principal_id, demo_principals[i]) == 0) {
                snprintf(context->message, sizeof context->message,
                         "principal %s already exists: the demo makes it, and needs a ledger "
                         "without it; nothing was committed",
                         demo_principals[i]);
                err = LEDGER_ERR_PRINCIPAL_EXISTS;
                break;
            }
        }
    }
    ledger_query_result_free(result);
    return err;
}

static enum ledger_err demo_script(struct demo *demo)
{
    enum ledger_err err;
    const Ledger__V1__Role admin = LEDGER__V1__ROLE__ROLE_ADMIN_AGENT;
    if ((err = demo_partner(demo, "contoso", "Contoso Cloud Services")) != LEDGER_ERR_OK ||
        (err = demo_partner(demo, "northwind", "Northwind Partners")) != LEDGER_ERR_OK ||
        (err = demo_principal(demo, "contoso-admin", admin, "contoso", "", "")) != LEDGER_ERR_OK ||
        (err = demo_principal(demo, "contoso-sales", LEDGER__V1__ROLE__ROLE_SALES_AGENT, "contoso",
                              "", "")) != LEDGER_ERR_OK ||
        (err = demo_principal(demo, "contoso-helpdesk", LEDGER__V1__ROLE__ROLE_HELPDESK_AGENT,
                              "contoso", "", "")) != LEDGER_ERR_OK ||
        (err = demo_principal(demo, "northwind-admin", admin, "northwind", "", "")) !=
            LEDGER_ERR_OK ||
        (err = demo_principal(demo, "auditor", LEDGER__V1__ROLE__ROLE_AUDITOR, "", "", "")) !=
            LEDGER_ERR_OK ||
        (err = demo_principal(demo, "billing", LEDGER__V1__ROLE__ROLE_BILLING, "", "", "")) !=
            LEDGER_ERR_OK) {
        return err;
    }
    /* Contoso's admin agent sets up two customers. */
    if ((err = demo_customer(demo, "fabrikam", "Fabrikam Ltd", "fab-plan-1",
                             LEDGER__V1__OFFER__OFFER_AZURE_PLAN)) != LEDGER_ERR_OK ||
        (err = demo_customer(demo, "tailspin", "Tailspin Toys", "tail-global-1",
                             LEDGER__V1__OFFER__OFFER_AZURE_GLOBAL)) != LEDGER_ERR_OK ||
        (err = demo_role(demo, "fabrikam", "fab-plan-1", "bob",
                         LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER, "owner")) != LEDGER_ERR_OK ||
        (err = demo_role(demo, "fabrikam", "fab-plan-1", "carol",
                         LEDGER__V1__AZURE_ROLE__AZURE_ROLE_READER, "reader")) != LEDGER_ERR_OK) {
        return err;
    }
    /* The customer user can only be added once its customer exists. */
    if ((err = demo_principal(demo, "fabrikam-bob", LEDGER__V1__ROLE__ROLE_CUSTOMER_USER, "contoso",
                              "fabrikam", "bob")) != LEDGER_ERR_OK) {
        return err;
    }
    const Ledger__V1__PermissionKind reservations =
        LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_RESERVATIONS;
    const Ledger__V1__PermissionKind savings_plans =
        LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_SAVINGS_PLANS;
    if ((err = demo_permission(demo, "fabrikam", reservations, true)) != LEDGER_ERR_OK ||
        (err = demo_permission(demo, "fabrikam", savings_plans, true)) != LEDGER_ERR_OK ||
        (err = demo_permission(demo, "tailspin", reservations, true)) != LEDGER_ERR_OK ||
        (err = demo_permission(demo, "tailspin", reservations, false)) != LEDGER_ERR_OK ||
        (err = demo_cost_visibility(demo, "fabrikam")) != LEDGER_ERR_OK) {
        return err;
    }
    const struct demo_purchase partner_fabrikam = {"fabrikam",
                                                   "fab-plan-1",
                                                   "Standard_D2s_v5",
                                                   "westeurope",
                                                   4,
                                                   LEDGER__V1__TERM__TERM_P1Y,
                                                   LEDGER__V1__BILLING_PLAN__BILLING_PLAN_MONTHLY,
                                                   LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SHARED,
                                                   "",
                                                   268800,
                                                   320000};
    const struct demo_purchase sales_tailspin = {"tailspin",
                                                 "tail-global-1",
                                                 "Standard_E4s_v5",
                                                 "northeurope",
                                                 2,
                                                 LEDGER__V1__TERM__TERM_P3Y,
                                                 LEDGER__V1__BILLING_PLAN__BILLING_PLAN_UPFRONT,
                                                 LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SINGLE,
                                                 "tail-global-1",
                                                 1152000,
                                                 1296000};
    const struct demo_purchase customer_fabrikam = {"fabrikam",
                                                    "fab-plan-1",
                                                    "Standard_B2ms",
                                                    "westeurope",
                                                    1,
                                                    LEDGER__V1__TERM__TERM_P1Y,
                                                    LEDGER__V1__BILLING_PLAN__BILLING_PLAN_UPFRONT,
                                                    LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SINGLE,
                                                    "fab-plan-1",
                                                    42000,
                                                    52500};
    const struct demo_purchase exchange_fabrikam = {"fabrikam",
                                                    "fab-plan-1",
                                                    "Standard_D4s_v5",
                                                    "westeurope",
                                                    2,
                                                    LEDGER__V1__TERM__TERM_P3Y,
                                                    LEDGER__V1__BILLING_PLAN__BILLING_PLAN_MONTHLY,
                                                    LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SHARED,
                                                    "",
                                                    1209600,
                                                    1440000};
    if ((err = demo_reservation(demo, DEMO_ADMIN, &partner_fabrikam, demo->reservation_ids[0])) !=
            LEDGER_ERR_OK ||
        (err = demo_reservation(demo, DEMO_SALES, &sales_tailspin, demo->reservation_ids[1])) !=
            LEDGER_ERR_OK ||
        (err = demo_savings_plan(demo, DEMO_ADMIN, "fabrikam", "fab-plan-1", 250,
                                 LEDGER__V1__TERM__TERM_P1Y, 2190000, 2409000,
                                 demo->savings_plan_ids[0])) != LEDGER_ERR_OK ||
        (err = demo_reservation(demo, DEMO_CUSTOMER, &customer_fabrikam,
                                demo->reservation_ids[2])) != LEDGER_ERR_OK ||
        (err = demo_savings_plan(demo, DEMO_CUSTOMER, "fabrikam", "fab-plan-1", 120,
                                 LEDGER__V1__TERM__TERM_P3Y, 3153600, 3468960,
                                 demo->savings_plan_ids[1])) != LEDGER_ERR_OK ||
        (err = demo_exchange(demo, demo->reservation_ids[0], &exchange_fabrikam, 20000,
                             demo->reservation_ids[3])) != LEDGER_ERR_OK ||
        (err = demo_cancel(demo, "tailspin", demo->reservation_ids[1], 900000)) != LEDGER_ERR_OK) {
        return err;
    }
    return LEDGER_ERR_OK;
}

static void demo_summary(const struct demo *demo)
{
    FILE *out = demo->context->out;
    char month[16];
    time_t now = time(NULL);
    struct tm utc;
    gmtime_r(&now, &utc);
    strftime(month, sizeof month, "%Y-%m", &utc);
    const char *socket = demo->context->options.request_url;
    fprintf(out,
            "\nThe demo world is loaded (%u commands, up to sequence %llu):\n"
            "  partners       contoso (Contoso Cloud Services), northwind (Northwind Partners)\n"
            "  customers      fabrikam (Azure plan fab-plan-1), tailspin (Azure Global "
            "tail-global-1)\n"
            "  reservations   %s (exchanged for %s), %s (cancelled), %s (bought by the customer)\n"
            "  savings plans  %s (partner), %s (bought by the customer: not in partner views)\n"
            "  key files      %s/<principal>.key for:",
            demo->step, (unsigned long long)demo->last_sequence, demo->reservation_ids[0],
            demo->reservation_ids[3], demo->reservation_ids[1], demo->reservation_ids[2],
            demo->savings_plan_ids[0], demo->savings_plan_ids[1], demo->keys_dir);
    for (size_t i = 0; i < sizeof demo_principals / sizeof demo_principals[0]; i++) {
        fprintf(out, " %s", demo_principals[i]);
    }
    fprintf(out,
            "\n\nTry (as Contoso's admin agent):\n"
            "  export LEDGER_SOCKET=%s\n"
            "  export LEDGER_PRINCIPAL=contoso-admin LEDGER_KEY_FILE=%s/contoso-admin.key\n"
            "  ledgerctl reservations --customer fabrikam\n"
            "  ledgerctl orders --customer fabrikam\n"
            "  ledgerctl permissions --customer tailspin --history\n"
            "  ledgerctl activity\n"
            "  ledgerctl billing --month %s\n"
            "  ledgerctl --principal fabrikam-bob --key-file %s/fabrikam-bob.key savings-plans "
            "--customer fabrikam\n"
            "  ledgerctl --principal auditor --key-file %s/auditor.key --partner contoso "
            "--output json events\n",
            socket, demo->keys_dir, month, demo->keys_dir, demo->keys_dir);
}

enum ledger_err ctl_demo_run(struct ctl_context *context, const struct ctl_args *args)
{
    struct demo demo;
    memset(&demo, 0, sizeof demo);
    demo.context = context;
    demo.keys_dir = ctl_arg(args, "keys-dir");
    if (demo.keys_dir == NULL) {
        demo.keys_dir = "./ledger-demo-keys";
    }
    if (demo.keys_dir[0] == '\0' || strlen(demo.keys_dir) > DEMO_PATH_SIZE - 80) {
        snprintf(context->message, sizeof context->message, "--keys-dir: give a directory");
        return LEDGER_ERR_USAGE;
    }
    /* One that cannot be made (no parent, a parent that may not be
     * written) is one the key files cannot be made in. */
    if (mkdir(demo.keys_dir, 0700) != 0 && errno != EEXIST) {
        snprintf(context->message, sizeof context->message,
                 "--keys-dir: cannot make the directory %.300s: %s; give a directory that exists "
                 "or can be made (in an existing directory you may write)",
                 demo.keys_dir, strerror(errno));
        return LEDGER_ERR_USAGE;
    }
    /* A file of that name, or a directory the key files cannot be made in,
     * is found before anything is sent: found at the first key file, after
     * the partners and that principal were committed, it would leave the
     * ledger half loaded, with a secret nobody has, and the demo unable to
     * run again (PARTNER_EXISTS). */
    struct stat keys_info;
    if (stat(demo.keys_dir, &keys_info) != 0 || !S_ISDIR(keys_info.st_mode)) {
        snprintf(context->message, sizeof context->message,
                 "--keys-dir: %.400s is not a directory; give a directory for the demo's key "
                 "files (made when it does not exist)",
                 demo.keys_dir);
        return LEDGER_ERR_USAGE;
    }
    if (access(demo.keys_dir, W_OK | X_OK) != 0) {
        snprintf(context->message, sizeof context->message,
                 "--keys-dir: cannot make key files in %.400s: %s; give a directory you may "
                 "write",
                 demo.keys_dir, strerror(errno));
        return LEDGER_ERR_USAGE;
    }
    for (size_t i = 0; i < sizeof demo_principals / sizeof demo_principals[0]; i++) {
        char path[DEMO_PATH_SIZE];
        struct stat info;
        snprintf(path, sizeof path, "%s/%s.key", demo.keys_dir, demo_principals[i]);
        if (lstat(path, &info) == 0) {
            snprintf(context->message, sizeof context->message,
                     "--keys-dir: %.400s exists already; the demo writes new key files into an "
                     "empty directory",
                     path);
            return LEDGER_ERR_USAGE;
        }
    }
    enum ledger_err err = demo_world_absent(&demo);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    if (context->format == CTL_FORMAT_TABLE) {
        fprintf(context->out, "Loading the demo world (sequence, principal, command):\n");
    }
    err = demo_script(&demo);
    for (size_t i = 0; i < DEMO_ACTORS; i++) {
        ledger_close(demo.clients[i]);
    }
    if (err != LEDGER_ERR_OK && demo.committed > 0) {
        /* Stopped half way (a daemon that refused a step, a key file that
         * could not be written): what was committed stays, and the demo
         * cannot run on this ledger again (PARTNER_EXISTS). */
        size_t length = strlen(context->message);
        snprintf(context->message + length, sizeof context->message - length,
                 "; the demo stopped half way, %u commands committed (up to sequence %llu): "
                 "it cannot run on this ledger again; load it into a new one",
                 demo.committed, (unsigned long long)demo.last_sequence);
    }
    if (err == LEDGER_ERR_OK) {
        /* Committed: a summary that cannot be printed must not hide it. */
        snprintf(context->committed_note, sizeof context->committed_note,
                 "the demo world was loaded all the same (%u commands, up to sequence %llu; key "
                 "files in %.80s): do not run the demo again on this ledger",
                 demo.step, (unsigned long long)demo.last_sequence, demo.keys_dir);
    }
    if (err == LEDGER_ERR_OK && context->format == CTL_FORMAT_TABLE) {
        demo_summary(&demo);
    } else if (err == LEDGER_ERR_OK && context->format == CTL_FORMAT_CSV) {
        fprintf(context->out, "commands,last_sequence\r\n%u,%llu\r\n", demo.step,
                (unsigned long long)demo.last_sequence);
    } else if (err == LEDGER_ERR_OK) {
        fprintf(context->out, "{\"demo\": {\"commands\": %u, \"last_sequence\": %llu}}\n",
                demo.step, (unsigned long long)demo.last_sequence);
    }
    return err;
}
