/*
 * fuzz_support.c: the fixture of the fuzz targets as a pure domain state (see
 * fuzz_support.h). The commands are built here once, serialized, and decided
 * by the real domain_decide: the state is what the ledger itself would hold
 * after them, not a hand-written imitation.
 */
#include "fuzz_support.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const uint8_t fuzz_secret[LEDGER_SECRET_BYTES] = {
    0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a,
    0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a,
};

const struct fuzz_principal fuzz_principals[] = {
    {FUZZ_OPERATOR_ID, LEDGER__V1__ROLE__ROLE_OPERATOR, "", "", "", false},
    {"admin-1", LEDGER__V1__ROLE__ROLE_ADMIN_AGENT, FUZZ_PARTNER_ID, "", "", false},
    {"sales-1", LEDGER__V1__ROLE__ROLE_SALES_AGENT, FUZZ_PARTNER_ID, "", "", false},
    {"helpdesk-1", LEDGER__V1__ROLE__ROLE_HELPDESK_AGENT, FUZZ_PARTNER_ID, "", "", false},
    {FUZZ_USER, LEDGER__V1__ROLE__ROLE_CUSTOMER_USER, FUZZ_PARTNER_ID, FUZZ_CUSTOMER_ID, FUZZ_USER,
     false},
    {"auditor-1", LEDGER__V1__ROLE__ROLE_AUDITOR, FUZZ_PARTNER_ID, "", "", false},
    {"billing-1", LEDGER__V1__ROLE__ROLE_BILLING, FUZZ_PARTNER_ID, "", "", false},
    {"auditor-all", LEDGER__V1__ROLE__ROLE_AUDITOR, "", "", "", false},
    {"revoked-1", LEDGER__V1__ROLE__ROLE_ADMIN_AGENT, FUZZ_PARTNER_ID, "", "", true},
    {"admin-2", LEDGER__V1__ROLE__ROLE_ADMIN_AGENT, FUZZ_OTHER_PARTNER_ID, "", "", false},
};
const size_t fuzz_principal_count = sizeof fuzz_principals / sizeof fuzz_principals[0];

/* Bounds of the fixture's step lists (each list below is shorter). */
#define FUZZ_STEPS_MAX 32

void fuzz_fail(const char *format, ...)
{
    va_list args;
    va_start(args, format);
    fprintf(stderr, "fuzz: ");
    vfprintf(stderr, format, args);
    fprintf(stderr, "\n");
    va_end(args);
    abort();
}

const struct fuzz_principal *fuzz_principal_find(const char *id)
{
    for (size_t i = 0; i < fuzz_principal_count; i++) {
        if (strcmp(fuzz_principals[i].id, id) == 0) {
            return &fuzz_principals[i];
        }
    }
    return NULL;
}

void fuzz_domain_principal(const struct fuzz_principal *principal, struct domain_principal *out)
{
    out->id = principal->id;
    out->role = principal->role;
    out->partner_id = principal->partner_id;
    out->customer_id = principal->customer_id;
    out->user = principal->user;
}

bool fuzz_write_file(const char *path, const uint8_t *bytes, size_t size)
{
    FILE *file = fopen(path, "wb");
    if (file == NULL) {
        return false;
    }
    bool ok = size == 0 || fwrite(bytes, 1, size, file) == size;
    return fclose(file) == 0 && ok;
}

/* ---- building the commands ----------------------------------------------- */

struct step_list {
    struct fuzz_step steps[FUZZ_STEPS_MAX];
    size_t count;
};

static void push(struct step_list *list, const char *principal_id, Ledger__V1__Command *command)
{
    if (list->count == FUZZ_STEPS_MAX) {
        fuzz_fail("too many fixture steps");
    }
    const struct fuzz_principal *principal = fuzz_principal_find(principal_id);
    if (principal == NULL) {
        fuzz_fail("no fixture principal %s", principal_id);
    }
    struct fuzz_step *step = &list->steps[list->count];
    if (codec_pack(&command->base, &step->bytes, &step->size) != LEDGER_ERR_OK) {
        fuzz_fail("cannot pack fixture command %s", command->command_id);
    }
    step->principal = principal;
    list->count++;
}

static void command_init(Ledger__V1__Command *command, char id[16], size_t number,
                         const char *partner_id, const char *customer_id)
{
    ledger__v1__command__init(command);
    snprintf(id, 16, "fx-%zu", number);
    command->command_id = id;
    command->correlation_id = "fixture";
    command->partner_id = (char *)partner_id;
    command->customer_id = (char *)customer_id;
}

static struct step_list setup_list, customer_list;
static bool lists_built;

/* Appends the operator's AddPrincipal of `p` to `list`, as command n. */
static void push_add_principal(struct step_list *list, const struct fuzz_principal *p, char *id,
                               size_t n)
{
    Ledger__V1__Command command;
    command_init(&command, id, n, p->partner_id, "");
    Ledger__V1__AddPrincipal body = LEDGER__V1__ADD_PRINCIPAL__INIT;
    body.principal_id = (char *)p->id;
    body.role = p->role;
    body.partner_id = (char *)p->partner_id;
    body.customer_id = (char *)p->customer_id;
    body.user = (char *)p->user;
    command.body_case = LEDGER__V1__COMMAND__BODY_ADD_PRINCIPAL;
    command.add_principal = &body;
    push(list, FUZZ_OPERATOR_ID, &command);
}

static void build_setup(void)
{
    char id[16];
    size_t n = 0;
    static const struct {
        const char *id, *name;
    } partners[] = {{FUZZ_PARTNER_ID, "Fabrikam Cloud Partners"},
                    {FUZZ_OTHER_PARTNER_ID, "Northwind CSP"}};
    for (size_t i = 0; i < 2; i++) {
        Ledger__V1__Command command;
        command_init(&command, id, ++n, partners[i].id, "");
        Ledger__V1__AddPartner body = LEDGER__V1__ADD_PARTNER__INIT;
        body.partner_id = (char *)partners[i].id;
        body.name = (char *)partners[i].name;
        command.body_case = LEDGER__V1__COMMAND__BODY_ADD_PARTNER;
        command.add_partner = &body;
        push(&setup_list, FUZZ_OPERATOR_ID, &command);
    }
    /* Customer users are added once their customer is onboarded
     * (build_customer). */
    for (size_t i = 1; i < fuzz_principal_count; i++) {
        if (fuzz_principals[i].role != LEDGER__V1__ROLE__ROLE_CUSTOMER_USER) {
            push_add_principal(&setup_list, &fuzz_principals[i], id, ++n);
        }
    }
    for (size_t i = 1; i < fuzz_principal_count; i++) {
        const struct fuzz_principal *p = &fuzz_principals[i];
        if (!p->revoked) {
            continue;
        }
        Ledger__V1__Command command;
        command_init(&command, id, ++n, p->partner_id, "");
        Ledger__V1__RevokePrincipal body = LEDGER__V1__REVOKE_PRINCIPAL__INIT;
        body.principal_id = (char *)p->id;
        command.body_case = LEDGER__V1__COMMAND__BODY_REVOKE_PRINCIPAL;
        command.revoke_principal = &body;
        push(&setup_list, FUZZ_OPERATOR_ID, &command);
    }
}

static void money(Ledger__V1__Money *out, int64_t amount_minor)
{
    ledger__v1__money__init(out);
    out->amount_minor = amount_minor;
    out->currency = "USD";
}

static void build_customer(void)
{
    char id[16];
    size_t n = 100;
    const char *p = FUZZ_PARTNER_ID, *c = FUZZ_CUSTOMER_ID;
    Ledger__V1__Command command;

    command_init(&command, id, ++n, p, c);
    Ledger__V1__OnboardCustomer onboard = LEDGER__V1__ONBOARD_CUSTOMER__INIT;
    onboard.name = "Contoso Ltd";
    command.body_case = LEDGER__V1__COMMAND__BODY_ONBOARD_CUSTOMER;
    command.onboard_customer = &onboard;
    push(&customer_list, "admin-1", &command);
    for (size_t i = 1; i < fuzz_principal_count; i++) {
        if (fuzz_principals[i].role == LEDGER__V1__ROLE__ROLE_CUSTOMER_USER) {
            push_add_principal(&customer_list, &fuzz_principals[i], id, ++n);
        }
    }

    static const struct {
        const char *id;
        Ledger__V1__Offer offer;
    } subscriptions[] = {{"sub-1", LEDGER__V1__OFFER__OFFER_AZURE_PLAN},
                         {"sub-2", LEDGER__V1__OFFER__OFFER_AZURE_GLOBAL}};
    for (size_t i = 0; i < 2; i++) {
        command_init(&command, id, ++n, p, c);
        Ledger__V1__PurchaseSubscription body = LEDGER__V1__PURCHASE_SUBSCRIPTION__INIT;
        body.subscription_id = (char *)subscriptions[i].id;
        body.offer = subscriptions[i].offer;
        command.body_case = LEDGER__V1__COMMAND__BODY_PURCHASE_SUBSCRIPTION;
        command.purchase_subscription = &body;
        push(&customer_list, "admin-1", &command);
    }

    command_init(&command, id, ++n, p, c);
    Ledger__V1__AssignRole assign = LEDGER__V1__ASSIGN_ROLE__INIT;
    assign.subscription_id = "sub-1";
    assign.user = FUZZ_USER;
    assign.role = LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER;
    command.body_case = LEDGER__V1__COMMAND__BODY_ASSIGN_ROLE;
    command.assign_role = &assign;
    push(&customer_list, "admin-1", &command);

    static const Ledger__V1__PermissionKind kinds[] = {
        LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_RESERVATIONS,
        LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_SAVINGS_PLANS};
    for (size_t i = 0; i < 2; i++) {
        command_init(&command, id, ++n, p, c);
        Ledger__V1__GrantPermission body = LEDGER__V1__GRANT_PERMISSION__INIT;
        body.kind = kinds[i];
        command.body_case = LEDGER__V1__COMMAND__BODY_GRANT_PERMISSION;
        command.grant_permission = &body;
        push(&customer_list, "admin-1", &command);
    }

    /* One reservation bought by the partner, one by the customer user. */
    for (size_t i = 0; i < 2; i++) {
        command_init(&command, id, ++n, p, c);
        Ledger__V1__PurchaseReservation body = LEDGER__V1__PURCHASE_RESERVATION__INIT;
        Ledger__V1__Scope scope = LEDGER__V1__SCOPE__INIT;
        Ledger__V1__Money price, retail;
        body.billing_subscription_id = "sub-1";
        body.sku = i == 0 ? "Standard_D2s_v3" : "Standard_M8ms";
        body.region = i == 0 ? "westeurope" : "eastus";
        body.quantity = i == 0 ? 2 : 1;
        body.term = i == 0 ? LEDGER__V1__TERM__TERM_P1Y : LEDGER__V1__TERM__TERM_P3Y;
        body.billing_plan = i == 0 ? LEDGER__V1__BILLING_PLAN__BILLING_PLAN_UPFRONT
                                   : LEDGER__V1__BILLING_PLAN__BILLING_PLAN_MONTHLY;
        scope.kind = i == 0 ? LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SINGLE
                            : LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SHARED;
        scope.target = i == 0 ? "sub-1" : "";
        body.scope = &scope;
        money(&price, i == 0 ? 100000 : 2500000);
        money(&retail, i == 0 ? 120000 : 2900000);
        body.price = &price;
        body.retail_price = &retail;
        body.auto_renew = i == 1;
        command.body_case = LEDGER__V1__COMMAND__BODY_PURCHASE_RESERVATION;
        command.purchase_reservation = &body;
        push(&customer_list, i == 0 ? "admin-1" : FUZZ_USER, &command);
    }

    /* Savings plans: one by the partner, one by the customer user (with
     * auto-renew on, so that its renewal can be recorded). */
    for (size_t i = 0; i < 2; i++) {
        command_init(&command, id, ++n, p, c);
        Ledger__V1__PurchaseSavingsPlan body = LEDGER__V1__PURCHASE_SAVINGS_PLAN__INIT;
        Ledger__V1__Scope scope = LEDGER__V1__SCOPE__INIT;
        Ledger__V1__Money hourly, price, retail;
        body.billing_subscription_id = "sub-1";
        money(&hourly, i == 0 ? 500 : 120);
        body.hourly_commitment = &hourly;
        body.term = LEDGER__V1__TERM__TERM_P1Y;
        body.billing_plan = LEDGER__V1__BILLING_PLAN__BILLING_PLAN_MONTHLY;
        scope.kind = LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SHARED;
        scope.target = "";
        body.scope = &scope;
        money(&price, i == 0 ? 4380000 : 1051200);
        money(&retail, i == 0 ? 5000000 : 1200000);
        body.price = &price;
        body.retail_price = &retail;
        body.auto_renew = i == 1;
        command.body_case = LEDGER__V1__COMMAND__BODY_PURCHASE_SAVINGS_PLAN;
        command.purchase_savings_plan = &body;
        push(&customer_list, i == 0 ? "admin-1" : FUZZ_USER, &command);
    }

    command_init(&command, id, ++n, p, c);
    Ledger__V1__SetCostVisibility visibility = LEDGER__V1__SET_COST_VISIBILITY__INIT;
    visibility.retail_prices_visible = true;
    command.body_case = LEDGER__V1__COMMAND__BODY_SET_COST_VISIBILITY;
    command.set_cost_visibility = &visibility;
    push(&customer_list, "admin-1", &command);
}

static void build_lists(void)
{
    if (!lists_built) {
        build_setup();
        build_customer();
        lists_built = true;
    }
}

size_t fuzz_fixture_setup_steps(const struct fuzz_step **out)
{
    build_lists();
    *out = setup_list.steps;
    return setup_list.count;
}

size_t fuzz_fixture_customer_steps(const struct fuzz_step **out)
{
    build_lists();
    *out = customer_list.steps;
    return customer_list.count;
}

uint64_t fuzz_fixture_first_sequence(void)
{
    build_lists();
    /* Sequence 1 is the operator that engine_init adds. */
    return 2 + setup_list.count;
}

/* ---- the domain state ------------------------------------------------------ */

static struct domain_customer *customer_state;
static uint64_t next_sequence;

static void free_state(void)
{
    domain_customer_free(customer_state);
    customer_state = NULL;
    for (size_t i = 0; i < setup_list.count; i++) {
        free(setup_list.steps[i].bytes);
    }
    for (size_t i = 0; i < customer_list.count; i++) {
        free(customer_list.steps[i].bytes);
    }
    setup_list.count = customer_list.count = 0;
    lists_built = false;
}

bool fuzz_principal_customer_onboarded(const char *partner_id, const Ledger__V1__Command *command)
{
    if (command->body_case != LEDGER__V1__COMMAND__BODY_ADD_PRINCIPAL ||
        command->add_principal == NULL || command->add_principal->customer_id == NULL ||
        partner_id == NULL) {
        return false;
    }
    const struct domain_customer *fixture = fuzz_customer_state();
    return fixture->onboarded && strcmp(partner_id, fixture->partner_id) == 0 &&
           strcmp(command->add_principal->customer_id, fixture->customer_id) == 0;
}

const struct domain_customer *fuzz_customer_state(void)
{
    if (customer_state != NULL) {
        return customer_state;
    }
    const struct fuzz_step *steps = NULL;
    size_t count = fuzz_fixture_customer_steps(&steps);
    uint64_t sequence = fuzz_fixture_first_sequence();
    struct domain_customer *state = domain_customer_new(FUZZ_PARTNER_ID, FUZZ_CUSTOMER_ID);
    struct domain_output *out = calloc(1, sizeof *out);
    if (state == NULL || out == NULL) {
        fuzz_fail("out of memory");
    }
    uint8_t hash[32];
    for (size_t i = 0; i < count; i++, sequence++) {
        Ledger__V1__Command *command = NULL;
        if (codec_command_unpack(steps[i].bytes, steps[i].size, &command) != LEDGER_ERR_OK) {
            fuzz_fail("fixture step %zu does not decode", i);
        }
        if (!domain_command_is_customer(command->body_case)) {
            codec_command_free(command); /* a customer user added: no customer event */
            continue;
        }
        struct domain_principal principal;
        fuzz_domain_principal(steps[i].principal, &principal);
        memset(hash, (int)i, sizeof hash);
        struct domain_input input = {
            .principal = &principal,
            .command = command,
            .partner_id = domain_command_partner_id(&principal, command),
            .partner_exists = true,
            .customer = state,
            .now_us = FUZZ_NOW_US,
            .sequence = sequence,
            .command_hash = hash,
        };
        memset(out, 0, sizeof *out);
        enum ledger_err err = domain_decide(&input, out);
        if (err != LEDGER_ERR_OK) {
            fuzz_fail("fixture step %s refused: %s: %s", command->command_id, ledger_err_name(err),
                      out->message);
        }
        err = domain_customer_evolve(state, &out->event);
        if (err != LEDGER_ERR_OK) {
            fuzz_fail("fixture step %s does not evolve: %s", command->command_id,
                      ledger_err_name(err));
        }
        codec_command_free(command);
    }
    free(out);
    customer_state = state;
    next_sequence = sequence;
    atexit(free_state);
    return customer_state;
}

uint64_t fuzz_next_sequence(void)
{
    (void)fuzz_customer_state();
    return next_sequence;
}
