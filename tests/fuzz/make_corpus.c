/*
 * make_corpus.c: writes the seed corpora of the fuzz targets.
 *
 * Usage: make_corpus DIR   (fills DIR/<target>/ for every target; the
 * checked-in tests/fuzz/corpus/ was made with it, see docs/fuzzing.md).
 *
 * Owns: a handful of valid inputs per target, built from the fuzz fixture
 * (fuzz_support.h) so that they name its partner, customer, subscriptions,
 * reservations and savings plans and reach deep into the decisions, plus a
 * few edge cases per target (empty, truncated, out of range, malformed).
 * Deterministic: the same build writes the same bytes (nonces are fixed).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "crypto.h"
#include "fuzz_support.h"

static const char *root;

static void make_dir(const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", root, name);
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        fuzz_fail("cannot make %s", path);
    }
}

static void write_seed(const char *target, const char *label, const uint8_t *bytes, size_t size)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s/%s", root, target, label);
    if (!fuzz_write_file(path, bytes, size)) {
        fuzz_fail("cannot write %s", path);
    }
}

static void write_text(const char *target, const char *label, const char *text)
{
    write_seed(target, label, (const uint8_t *)text, strlen(text));
}

/* A seed that is one byte of choice followed by text. */
static void write_prefixed(const char *target, const char *label, uint8_t first, const char *text)
{
    size_t length = strlen(text);
    uint8_t *bytes = malloc(length + 1);
    if (bytes == NULL) {
        fuzz_fail("out of memory");
    }
    bytes[0] = first;
    memcpy(bytes + 1, text, length);
    write_seed(target, label, bytes, length + 1);
    free(bytes);
}

static void write_message(const char *target, const char *label, const ProtobufCMessage *message)
{
    uint8_t *bytes = NULL;
    size_t size = 0;
    if (codec_pack(message, &bytes, &size) != LEDGER_ERR_OK) {
        fuzz_fail("cannot pack %s/%s", target, label);
    }
    write_seed(target, label, bytes, size);
    free(bytes);
}

/* ---- commands ------------------------------------------------------------ */

#define COMMANDS_MAX 40

struct command_seed {
    char label[48];
    char command_id[16];
    uint8_t *bytes;
    size_t size;
};
static struct command_seed command_seeds[COMMANDS_MAX];
static size_t command_seed_count;

static void add_command(const char *label, Ledger__V1__Command *command)
{
    if (command_seed_count == COMMANDS_MAX) {
        fuzz_fail("too many command seeds");
    }
    struct command_seed *seed = &command_seeds[command_seed_count++];
    snprintf(seed->label, sizeof seed->label, "%s", label);
    snprintf(seed->command_id, sizeof seed->command_id, "seed-%zu", command_seed_count);
    command->command_id = seed->command_id;
    command->correlation_id = "seed";
    if (codec_pack(&command->base, &seed->bytes, &seed->size) != LEDGER_ERR_OK) {
        fuzz_fail("cannot pack command %s", label);
    }
}

static Ledger__V1__Money *usd(Ledger__V1__Money *money, int64_t amount_minor)
{
    ledger__v1__money__init(money);
    money->amount_minor = amount_minor;
    money->currency = "USD";
    return money;
}

static void build_commands(void)
{
    const struct domain_customer *state = fuzz_customer_state();
    const char *reservation = state->reservations[0].id;
    const char *customer_reservation = state->reservations[1].id;
    const char *plan = state->savings_plans[0].id;
    Ledger__V1__Command c;
    Ledger__V1__Money m1, m2, m3;
    Ledger__V1__Scope scope = LEDGER__V1__SCOPE__INIT;

#define CUSTOMER_COMMAND(body_field, body_case_value, body_value)                                  \
    do {                                                                                           \
        ledger__v1__command__init(&c);                                                             \
        c.partner_id = FUZZ_PARTNER_ID;                                                            \
        c.customer_id = FUZZ_CUSTOMER_ID;                                                          \
        c.body_case = body_case_value;                                                             \
        c.body_field = body_value;                                                                 \
    } while (0)

    Ledger__V1__AddPartner add_partner = LEDGER__V1__ADD_PARTNER__INIT;
    add_partner.partner_id = "p3";
    add_partner.name = "Tailspin Resellers";
    ledger__v1__command__init(&c);
    c.partner_id = "p3";
    c.body_case = LEDGER__V1__COMMAND__BODY_ADD_PARTNER;
    c.add_partner = &add_partner;
    add_command("add_partner", &c);

    Ledger__V1__AddPrincipal add_principal = LEDGER__V1__ADD_PRINCIPAL__INIT;
    add_principal.principal_id = "u2";
    add_principal.role = LEDGER__V1__ROLE__ROLE_CUSTOMER_USER;
    add_principal.partner_id = FUZZ_PARTNER_ID;
    add_principal.customer_id = FUZZ_CUSTOMER_ID;
    add_principal.user = "u2";
    ledger__v1__command__init(&c);
    c.partner_id = FUZZ_PARTNER_ID;
    c.body_case = LEDGER__V1__COMMAND__BODY_ADD_PRINCIPAL;
    c.add_principal = &add_principal;
    add_command("add_principal", &c);

    Ledger__V1__RevokePrincipal revoke_principal = LEDGER__V1__REVOKE_PRINCIPAL__INIT;
    revoke_principal.principal_id = "sales-1";
    ledger__v1__command__init(&c);
    c.body_case = LEDGER__V1__COMMAND__BODY_REVOKE_PRINCIPAL;
    c.revoke_principal = &revoke_principal;
    add_command("revoke_principal", &c);

    Ledger__V1__OnboardCustomer onboard = LEDGER__V1__ONBOARD_CUSTOMER__INIT;
    onboard.name = "Wide World Importers";
    CUSTOMER_COMMAND(onboard_customer, LEDGER__V1__COMMAND__BODY_ONBOARD_CUSTOMER, &onboard);
    c.customer_id = "c2";
    add_command("onboard_customer", &c);

    Ledger__V1__PurchaseSubscription subscription = LEDGER__V1__PURCHASE_SUBSCRIPTION__INIT;
    subscription.subscription_id = "sub-3";
    subscription.offer = LEDGER__V1__OFFER__OFFER_AZURE_PLAN;
    CUSTOMER_COMMAND(purchase_subscription, LEDGER__V1__COMMAND__BODY_PURCHASE_SUBSCRIPTION,
                     &subscription);
    add_command("purchase_subscription", &c);

    Ledger__V1__SetSubscriptionStatus status = LEDGER__V1__SET_SUBSCRIPTION_STATUS__INIT;
    status.subscription_id = "sub-2";
    status.status = LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_SUSPENDED;
    CUSTOMER_COMMAND(set_subscription_status, LEDGER__V1__COMMAND__BODY_SET_SUBSCRIPTION_STATUS,
                     &status);
    add_command("set_subscription_status", &c);

    Ledger__V1__AssignRole assign = LEDGER__V1__ASSIGN_ROLE__INIT;
    assign.subscription_id = "sub-2";
    assign.user = FUZZ_USER;
    assign.role = LEDGER__V1__AZURE_ROLE__AZURE_ROLE_RESERVATION_PURCHASER;
    CUSTOMER_COMMAND(assign_role, LEDGER__V1__COMMAND__BODY_ASSIGN_ROLE, &assign);
    add_command("assign_role", &c);

    Ledger__V1__RemoveRole remove = LEDGER__V1__REMOVE_ROLE__INIT;
    remove.subscription_id = "sub-1";
    remove.user = FUZZ_USER;
    remove.role = LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER;
    CUSTOMER_COMMAND(remove_role, LEDGER__V1__COMMAND__BODY_REMOVE_ROLE, &remove);
    /* The fixture's purchases under this role and the permission below are
     * dated at FUZZ_NOW_US, and a removal or revocation dated at or before
     * a purchase it allowed is refused (it would undo that purchase): date
     * them a microsecond later, within LEDGER_BUSINESS_FUTURE_US. */
    c.business_us = FUZZ_NOW_US + 1;
    add_command("remove_role", &c);

    Ledger__V1__GrantPermission grant = LEDGER__V1__GRANT_PERMISSION__INIT;
    grant.kind = LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_RESERVATIONS;
    CUSTOMER_COMMAND(grant_permission, LEDGER__V1__COMMAND__BODY_GRANT_PERMISSION, &grant);
    add_command("grant_permission", &c);

    Ledger__V1__RevokePermission revoke = LEDGER__V1__REVOKE_PERMISSION__INIT;
    revoke.kind = LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_SAVINGS_PLANS;
    CUSTOMER_COMMAND(revoke_permission, LEDGER__V1__COMMAND__BODY_REVOKE_PERMISSION, &revoke);
    c.business_us = FUZZ_NOW_US + 1;
    add_command("revoke_permission", &c);

    Ledger__V1__PurchaseReservation purchase = LEDGER__V1__PURCHASE_RESERVATION__INIT;
    purchase.billing_subscription_id = "sub-1";
    purchase.sku = "Standard_HB120rs_v3";
    purchase.region = "northeurope";
    purchase.quantity = 4;
    purchase.term = LEDGER__V1__TERM__TERM_P5Y;
    purchase.billing_plan = LEDGER__V1__BILLING_PLAN__BILLING_PLAN_MONTHLY;
    scope.kind = LEDGER__V1__SCOPE_KIND__SCOPE_KIND_RESOURCE_GROUP;
    scope.target = "sub-1/rg-compute";
    purchase.scope = &scope;
    purchase.price = usd(&m1, 9000000);
    purchase.retail_price = usd(&m2, 9900000);
    purchase.auto_renew = true;
    CUSTOMER_COMMAND(purchase_reservation, LEDGER__V1__COMMAND__BODY_PURCHASE_RESERVATION,
                     &purchase);
    add_command("purchase_reservation", &c);

    Ledger__V1__Scope management = LEDGER__V1__SCOPE__INIT;
    management.kind = LEDGER__V1__SCOPE_KIND__SCOPE_KIND_MANAGEMENT_GROUP;
    management.target = "mg-contoso";
    Ledger__V1__ChangeReservationScope change = LEDGER__V1__CHANGE_RESERVATION_SCOPE__INIT;
    change.reservation_id = (char *)reservation;
    change.scope = &management;
    CUSTOMER_COMMAND(change_reservation_scope, LEDGER__V1__COMMAND__BODY_CHANGE_RESERVATION_SCOPE,
                     &change);
    add_command("change_reservation_scope", &c);

    Ledger__V1__SetReservationRenewal renewal = LEDGER__V1__SET_RESERVATION_RENEWAL__INIT;
    renewal.reservation_id = (char *)reservation;
    renewal.auto_renew = true;
    CUSTOMER_COMMAND(set_reservation_renewal, LEDGER__V1__COMMAND__BODY_SET_RESERVATION_RENEWAL,
                     &renewal);
    add_command("set_reservation_renewal", &c);

    Ledger__V1__RenewReservation renew = LEDGER__V1__RENEW_RESERVATION__INIT;
    renew.reservation_id = (char *)customer_reservation; /* the one with auto-renew on */
    renew.price = usd(&m1, 95000);
    renew.retail_price = usd(&m2, 120000);
    CUSTOMER_COMMAND(renew_reservation, LEDGER__V1__COMMAND__BODY_RENEW_RESERVATION, &renew);
    add_command("renew_reservation", &c);

    Ledger__V1__PurchaseReservation replacement = purchase;
    Ledger__V1__Scope shared = LEDGER__V1__SCOPE__INIT;
    shared.kind = LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SHARED;
    shared.target = "";
    replacement.sku = "Standard_D4s_v3";
    replacement.term = LEDGER__V1__TERM__TERM_P3Y;
    replacement.scope = &shared;
    replacement.quantity = 2;
    replacement.price = usd(&m1, 3000000);
    replacement.retail_price = usd(&m2, 3300000);
    char *returned[] = {(char *)reservation, (char *)customer_reservation};
    Ledger__V1__ExchangeReservation exchange = LEDGER__V1__EXCHANGE_RESERVATION__INIT;
    exchange.n_reservation_ids = 2;
    exchange.reservation_ids = returned;
    exchange.refund = usd(&m3, 150000);
    Ledger__V1__PurchaseReservation *replacements[1] = {&replacement};
    exchange.n_replacements = 1;
    exchange.replacements = replacements;
    CUSTOMER_COMMAND(exchange_reservation, LEDGER__V1__COMMAND__BODY_EXCHANGE_RESERVATION,
                     &exchange);
    add_command("exchange_reservation", &c);

    Ledger__V1__CancelReservation cancel = LEDGER__V1__CANCEL_RESERVATION__INIT;
    cancel.reservation_id = (char *)customer_reservation;
    /* Monthly-billed: on the day it was bought it may refund at most what
     * its first instalment pays beyond the day run (USD 694.44). */
    cancel.refund = usd(&m1, 50000);
    CUSTOMER_COMMAND(cancel_reservation, LEDGER__V1__COMMAND__BODY_CANCEL_RESERVATION, &cancel);
    add_command("cancel_reservation", &c);

    Ledger__V1__Money eur;
    ledger__v1__money__init(&eur);
    eur.amount_minor = 90000;
    eur.currency = "EUR";
    cancel.reservation_id = (char *)reservation;
    cancel.refund = &eur;
    cancel.refund_usd = usd(&m2, 97000);
    CUSTOMER_COMMAND(cancel_reservation, LEDGER__V1__COMMAND__BODY_CANCEL_RESERVATION, &cancel);
    add_command("edge_cancel_currency_mismatch", &c);

    Ledger__V1__ExpireReservation expire = LEDGER__V1__EXPIRE_RESERVATION__INIT;
    expire.reservation_id = (char *)reservation;
    CUSTOMER_COMMAND(expire_reservation, LEDGER__V1__COMMAND__BODY_EXPIRE_RESERVATION, &expire);
    add_command("expire_reservation", &c);

    Ledger__V1__PurchaseSavingsPlan plan_purchase = LEDGER__V1__PURCHASE_SAVINGS_PLAN__INIT;
    plan_purchase.billing_subscription_id = "sub-2";
    plan_purchase.hourly_commitment = usd(&m1, 250);
    plan_purchase.term = LEDGER__V1__TERM__TERM_P3Y;
    plan_purchase.billing_plan = LEDGER__V1__BILLING_PLAN__BILLING_PLAN_UPFRONT;
    Ledger__V1__Scope single = LEDGER__V1__SCOPE__INIT;
    single.kind = LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SINGLE;
    single.target = "sub-2";
    plan_purchase.scope = &single;
    plan_purchase.price = usd(&m2, 6570000);
    plan_purchase.retail_price = usd(&m3, 7000000);
    CUSTOMER_COMMAND(purchase_savings_plan, LEDGER__V1__COMMAND__BODY_PURCHASE_SAVINGS_PLAN,
                     &plan_purchase);
    add_command("purchase_savings_plan", &c);

    Ledger__V1__ChangeSavingsPlanScope plan_scope = LEDGER__V1__CHANGE_SAVINGS_PLAN_SCOPE__INIT;
    plan_scope.savings_plan_id = (char *)plan;
    plan_scope.scope = &single;
    CUSTOMER_COMMAND(change_savings_plan_scope, LEDGER__V1__COMMAND__BODY_CHANGE_SAVINGS_PLAN_SCOPE,
                     &plan_scope);
    add_command("change_savings_plan_scope", &c);

    Ledger__V1__SetSavingsPlanRenewal plan_renewal = LEDGER__V1__SET_SAVINGS_PLAN_RENEWAL__INIT;
    plan_renewal.savings_plan_id = (char *)plan;
    plan_renewal.auto_renew = true;
    CUSTOMER_COMMAND(set_savings_plan_renewal, LEDGER__V1__COMMAND__BODY_SET_SAVINGS_PLAN_RENEWAL,
                     &plan_renewal);
    add_command("set_savings_plan_renewal", &c);

    Ledger__V1__CancelSavingsPlan plan_cancel = LEDGER__V1__CANCEL_SAVINGS_PLAN__INIT;
    plan_cancel.savings_plan_id = (char *)plan;
    CUSTOMER_COMMAND(cancel_savings_plan, LEDGER__V1__COMMAND__BODY_CANCEL_SAVINGS_PLAN,
                     &plan_cancel);
    add_command("cancel_savings_plan", &c);

    Ledger__V1__RenewSavingsPlan plan_renew = LEDGER__V1__RENEW_SAVINGS_PLAN__INIT;
    plan_renew.savings_plan_id = (char *)state->savings_plans[1].id; /* auto-renew on */
    plan_renew.price = usd(&m1, 1100000);
    plan_renew.retail_price = usd(&m2, 1250000);
    CUSTOMER_COMMAND(renew_savings_plan, LEDGER__V1__COMMAND__BODY_RENEW_SAVINGS_PLAN, &plan_renew);
    add_command("renew_savings_plan", &c);

    Ledger__V1__SetCostVisibility visibility = LEDGER__V1__SET_COST_VISIBILITY__INIT;
    CUSTOMER_COMMAND(set_cost_visibility, LEDGER__V1__COMMAND__BODY_SET_COST_VISIBILITY,
                     &visibility);
    c.check_version = true;
    c.expected_version = state->version;
    /* A business time of its own: the fixture's customer is onboarded at
     * FUZZ_NOW_US, and a command dated before that is refused, so a minute
     * ahead (within LEDGER_BUSINESS_FUTURE_US). */
    c.business_us = FUZZ_NOW_US + 60 * INT64_C(1000000);
    add_command("set_cost_visibility", &c);

    /* Edge cases: out-of-range enum values and fields, an empty body. */
    Ledger__V1__PurchaseSubscription odd = LEDGER__V1__PURCHASE_SUBSCRIPTION__INIT;
    odd.subscription_id = "sub-1";
    odd.offer = (Ledger__V1__Offer)77;
    CUSTOMER_COMMAND(purchase_subscription, LEDGER__V1__COMMAND__BODY_PURCHASE_SUBSCRIPTION, &odd);
    add_command("edge_unknown_offer", &c);

    purchase.quantity = 0;
    purchase.price = usd(&m1, INT64_MAX);
    CUSTOMER_COMMAND(purchase_reservation, LEDGER__V1__COMMAND__BODY_PURCHASE_RESERVATION,
                     &purchase);
    add_command("edge_reservation_out_of_range", &c);

    ledger__v1__command__init(&c);
    add_command("edge_no_body", &c);

    /* After the others, which keep their command ids (seed-<n>) and so the
     * bytes of the checked-in corpus. */
    Ledger__V1__RotatePrincipalSecret rotate_principal_secret =
        LEDGER__V1__ROTATE_PRINCIPAL_SECRET__INIT;
    rotate_principal_secret.principal_id = "sales-1";
    ledger__v1__command__init(&c);
    c.body_case = LEDGER__V1__COMMAND__BODY_ROTATE_PRINCIPAL_SECRET;
    c.rotate_principal_secret = &rotate_principal_secret;
    add_command("rotate_principal_secret", &c);
#undef CUSTOMER_COMMAND
}

static void write_commands(void)
{
    make_dir("command");
    for (size_t i = 0; i < command_seed_count; i++) {
        write_seed("command", command_seeds[i].label, command_seeds[i].bytes,
                   command_seeds[i].size);
    }
    write_seed("command", "edge_empty", NULL, 0);
    static const uint8_t unknown_field[] = {0x0a, 0x01, 'x', 0xf8, 0x3f, 0x01};
    write_seed("command", "edge_unknown_field", unknown_field, sizeof unknown_field);
    static const uint8_t truncated[] = {0x0a, 0x10, 'x'};
    write_seed("command", "edge_truncated", truncated, sizeof truncated);
}

/* ---- records --------------------------------------------------------------- */

/* Stream seeds of fuzz_record: 0xff, then each record as a 2-byte big-endian
 * length and its bytes. Records are far below 64 KiB; the buffer holds the
 * fixture's history and one event of every command seed. */
#define STREAM_BYTES_MAX (64 * 1024)
static uint8_t stream[STREAM_BYTES_MAX] = {0xff};
static size_t stream_size = 1;

static void record_seed(const char *label, const Ledger__V1__Event *event)
{
    uint8_t *bytes = NULL;
    size_t size = 0;
    if (codec_pack(&event->base, &bytes, &size) != LEDGER_ERR_OK || size > UINT16_MAX ||
        stream_size + 2 + size > sizeof stream) {
        fuzz_fail("cannot keep record seed %s", label);
    }
    write_seed("record", label, bytes, size);
    stream[stream_size] = (uint8_t)(size >> 8);
    stream[stream_size + 1] = (uint8_t)size;
    memcpy(stream + stream_size + 2, bytes, size);
    stream_size += 2 + size;
    free(bytes);
}

/* Decides a command as `principal_id` against `state`; on acceptance writes
 * the event as a record seed and, when `evolve`, applies it to the state. */
static bool decide_to_record(struct domain_customer *state, const char *principal_id,
                             const uint8_t *bytes, size_t size, uint64_t sequence,
                             const char *label, bool evolve)
{
    Ledger__V1__Command *command = NULL;
    if (codec_command_unpack(bytes, size, &command) != LEDGER_ERR_OK) {
        return false;
    }
    struct domain_principal principal;
    fuzz_domain_principal(fuzz_principal_find(principal_id), &principal);
    static const uint8_t hash[32] = {1, 2, 3};
    const char *partner_id = domain_command_partner_id(&principal, command);
    /* The state the engine would pass: `state` for its own customer, a
     * customer never onboarded for another. */
    struct domain_customer *fresh = NULL;
    const struct domain_customer *customer = NULL;
    if (domain_command_is_customer(command->body_case)) {
        const char *customer_id = domain_command_customer_id(&principal, command);
        if (strcmp(partner_id, state->partner_id) == 0 &&
            strcmp(customer_id, state->customer_id) == 0) {
            customer = state;
        } else {
            fresh = domain_customer_new(partner_id, customer_id);
            customer = fresh;
            evolve = false;
        }
    }
    const char *target = domain_command_target_principal(command);
    const struct fuzz_principal *existing = target ? fuzz_principal_find(target) : NULL;
    struct domain_input input = {
        .principal = &principal,
        .command = command,
        .partner_id = partner_id,
        .partner_exists = strcmp(partner_id, FUZZ_PARTNER_ID) == 0 ||
                          strcmp(partner_id, FUZZ_OTHER_PARTNER_ID) == 0,
        .customer = customer,
        .principal_exists = existing != NULL,
        .principal_revoked = existing != NULL && existing->revoked,
        .principal_customer_onboarded = fuzz_principal_customer_onboarded(partner_id, command),
        .now_us = FUZZ_NOW_US,
        .sequence = sequence,
        .command_hash = hash,
    };
    struct domain_output *out = calloc(1, sizeof *out);
    if (out == NULL) {
        fuzz_fail("out of memory");
    }
    enum ledger_err err = domain_decide(&input, out);
    bool accepted = err == LEDGER_ERR_OK;
    if (!accepted) {
        fprintf(stderr, "%s as %s: %s: %s\n", label, principal_id, ledger_err_name(err),
                out->message);
    } else {
        record_seed(label, &out->event);
        if (evolve && domain_customer_evolve(state, &out->event) != LEDGER_ERR_OK) {
            fuzz_fail("record seed %s does not evolve", label);
        }
    }
    free(out);
    domain_customer_free(fresh);
    codec_command_free(command);
    return accepted;
}

static void write_records(void)
{
    make_dir("record");
    /* The fixture's own history, in order from a fresh state. */
    struct domain_customer *state = domain_customer_new(FUZZ_PARTNER_ID, FUZZ_CUSTOMER_ID);
    const struct fuzz_step *steps = NULL;
    size_t count = fuzz_fixture_customer_steps(&steps);
    uint64_t sequence = fuzz_fixture_first_sequence();
    for (size_t i = 0; i < count; i++, sequence++) {
        /* The customer user's principal takes a sequence but is no event
         * of the customer's stream (fuzz_support.c skips it the same way). */
        Ledger__V1__Command *command = NULL;
        if (codec_command_unpack(steps[i].bytes, steps[i].size, &command) != LEDGER_ERR_OK) {
            fuzz_fail("fixture step %zu does not decode", i);
        }
        bool customer_event = domain_command_is_customer(command->body_case);
        codec_command_free(command);
        if (!customer_event) {
            continue;
        }
        char label[48];
        snprintf(label, sizeof label, "fixture_%02zu", i);
        if (!decide_to_record(state, steps[i].principal->id, steps[i].bytes, steps[i].size,
                              sequence, label, true)) {
            fuzz_fail("fixture step %zu refused", i);
        }
    }
    domain_customer_free(state);
    write_seed("record", "stream_fixture", stream, stream_size);
    /* Events of the command seeds the fixture accepts, as the partner admin
     * or the operator decides them (each against the fixture's state). */
    for (size_t i = 0; i < command_seed_count; i++) {
        struct domain_customer *copy = domain_customer_clone(fuzz_customer_state());
        /* The precision bounds what gcc cannot see is a string (the label
         * is terminated within its array). */
        char label[sizeof "event_" + sizeof command_seeds[i].label];
        snprintf(label, sizeof label, "event_%.*s", (int)(sizeof command_seeds[i].label - 1),
                 command_seeds[i].label);
        if (!decide_to_record(copy, "admin-1", command_seeds[i].bytes, command_seeds[i].size,
                              fuzz_next_sequence(), label, false)) {
            (void)decide_to_record(copy, FUZZ_OPERATOR_ID, command_seeds[i].bytes,
                                   command_seeds[i].size, fuzz_next_sequence(), label, false);
        }
        domain_customer_free(copy);
    }
    /* The fixture's history, then every change: a replay that meets
     * reservations already renewed, exchanged or cancelled. */
    write_seed("record", "stream_fixture_then_changes", stream, stream_size);
    static const uint8_t truncated_stream[] = {0xff, 0xff, 0xff, 0x08, 0x01};
    write_seed("record", "edge_stream_truncated", truncated_stream, sizeof truncated_stream);

    /* Edge cases: a future schema, no body. */
    Ledger__V1__Event event = LEDGER__V1__EVENT__INIT;
    event.sequence = 99;
    event.partner_id = FUZZ_PARTNER_ID;
    event.customer_id = FUZZ_CUSTOMER_ID;
    event.schema_version = LEDGER_SCHEMA_VERSION + 1;
    event.stream_version = 1;
    Ledger__V1__CustomerOnboarded onboarded = LEDGER__V1__CUSTOMER_ONBOARDED__INIT;
    onboarded.name = "Future Corp";
    event.body_case = LEDGER__V1__EVENT__BODY_CUSTOMER_ONBOARDED;
    event.customer_onboarded = &onboarded;
    write_message("record", "edge_future_schema", &event.base);
    event.schema_version = LEDGER_SCHEMA_VERSION;
    event.body_case = LEDGER__V1__EVENT__BODY__NOT_SET;
    write_message("record", "edge_no_body", &event.base);
    write_seed("record", "edge_empty", NULL, 0);
}

/* ---- requests ------------------------------------------------------------------ */

static void write_request(const char *label, const char *principal_id, int64_t timestamp_us,
                          size_t nonce_size, Ledger__V1__RequestBody *body, bool good_mac)
{
    static const uint8_t nonce[32] = {0x6e, 0x6f, 0x6e, 0x63, 0x65, 0x2d, 0x73, 0x65,
                                      0x65, 0x64, 0x2d, 0x30, 0x30, 0x30, 0x30, 0x31};
    Ledger__V1__SignedRequest signed_request = LEDGER__V1__SIGNED_REQUEST__INIT;
    signed_request.principal_id = (char *)principal_id;
    signed_request.timestamp_us = timestamp_us;
    signed_request.nonce.data = (uint8_t *)nonce;
    signed_request.nonce.len = nonce_size;
    signed_request.body = body;
    uint8_t *signed_bytes = NULL;
    size_t signed_size = 0;
    if (codec_pack(&signed_request.base, &signed_bytes, &signed_size) != LEDGER_ERR_OK) {
        fuzz_fail("cannot pack a request");
    }
    /* The re-signing shape: 0x01 and the SignedRequest. */
    uint8_t *resign = malloc(signed_size + 1);
    if (resign == NULL) {
        fuzz_fail("out of memory");
    }
    resign[0] = 0x01;
    memcpy(resign + 1, signed_bytes, signed_size);
    char name[80];
    snprintf(name, sizeof name, "signed_%s", label);
    write_seed("request", name, resign, signed_size + 1);
    free(resign);

    /* The raw shape: 0x00 and the Request with its MAC. */
    uint8_t mac[CRYPTO_MAC_BYTES];
    crypto_hmac_sha256(fuzz_secret, sizeof fuzz_secret, signed_bytes, signed_size, mac);
    if (!good_mac) {
        mac[0] ^= 1;
    }
    Ledger__V1__Request request = LEDGER__V1__REQUEST__INIT;
    request.signed_.data = signed_bytes;
    request.signed_.len = signed_size;
    request.mac.data = mac;
    request.mac.len = sizeof mac;
    uint8_t *bytes = NULL;
    size_t size = 0;
    if (codec_pack(&request.base, &bytes, &size) != LEDGER_ERR_OK) {
        fuzz_fail("cannot pack a request");
    }
    uint8_t *raw = malloc(size + 1);
    if (raw == NULL) {
        fuzz_fail("out of memory");
    }
    raw[0] = 0x00;
    memcpy(raw + 1, bytes, size);
    snprintf(name, sizeof name, "raw_%s", label);
    write_seed("request", name, raw, size + 1);
    free(raw);
    free(bytes);
    free(signed_bytes);
}

static void write_requests(void)
{
    make_dir("request");
    ProtobufCBinaryData commands[9];
    for (size_t i = 0; i < 9; i++) {
        commands[i].data = command_seeds[i % command_seed_count].bytes;
        commands[i].len = command_seeds[i % command_seed_count].size;
    }
    /* A batch of one: the purchase_reservation seed. */
    ProtobufCBinaryData purchase = {0};
    for (size_t i = 0; i < command_seed_count; i++) {
        if (strcmp(command_seeds[i].label, "purchase_reservation") == 0) {
            purchase.data = command_seeds[i].bytes;
            purchase.len = command_seeds[i].size;
        }
    }
    Ledger__V1__CommandBatch batch = LEDGER__V1__COMMAND_BATCH__INIT;
    batch.n_commands = 1;
    batch.commands = &purchase;
    Ledger__V1__RequestBody batch_body = LEDGER__V1__REQUEST_BODY__INIT;
    batch_body.kind_case = LEDGER__V1__REQUEST_BODY__KIND_BATCH;
    batch_body.batch = &batch;

    Ledger__V1__HeadQuery head = LEDGER__V1__HEAD_QUERY__INIT;
    Ledger__V1__Query query = LEDGER__V1__QUERY__INIT;
    query.kind_case = LEDGER__V1__QUERY__KIND_HEAD;
    query.head = &head;
    Ledger__V1__RequestBody query_body = LEDGER__V1__REQUEST_BODY__INIT;
    query_body.kind_case = LEDGER__V1__REQUEST_BODY__KIND_QUERY;
    query_body.query = &query;

    write_request("batch_admin", "admin-1", FUZZ_NOW_US, 16, &batch_body, true);
    write_request("query_operator", FUZZ_OPERATOR_ID, FUZZ_NOW_US + 1000, 16, &query_body, true);
    write_request("query_customer_user", FUZZ_USER, FUZZ_NOW_US - 1000, 16, &query_body, true);
    write_request("revoked", "revoked-1", FUZZ_NOW_US, 16, &query_body, true);
    write_request("unknown_principal", "nobody", FUZZ_NOW_US, 16, &query_body, true);
    write_request("bad_mac", "admin-1", FUZZ_NOW_US, 16, &batch_body, false);
    write_request("stale", "admin-1", FUZZ_NOW_US - LEDGER_AUTH_WINDOW_US - 1, 16, &batch_body,
                  true);
    write_request("future", "admin-1", FUZZ_NOW_US + LEDGER_AUTH_WINDOW_US + 1, 16, &query_body,
                  true);
    write_request("short_nonce", "admin-1", FUZZ_NOW_US, 8, &query_body, true);

    batch.n_commands = 9;
    batch.commands = commands;
    write_request("batch_too_large", "admin-1", FUZZ_NOW_US, 16, &batch_body, true);
    batch.n_commands = 0;
    write_request("batch_empty", "admin-1", FUZZ_NOW_US, 16, &batch_body, true);

    Ledger__V1__RequestBody empty_body = LEDGER__V1__REQUEST_BODY__INIT;
    write_request("body_empty", "admin-1", FUZZ_NOW_US, 16, &empty_body, true);
    Ledger__V1__Query no_kind = LEDGER__V1__QUERY__INIT;
    query_body.query = &no_kind;
    write_request("query_no_kind", "auditor-1", FUZZ_NOW_US, 16, &query_body, true);
    write_request("no_body", "admin-1", FUZZ_NOW_US, 16, NULL, true);

    static const uint8_t mode_only[] = {0x00};
    write_seed("request", "edge_raw_empty", mode_only, sizeof mode_only);
    static const uint8_t garbage[] = {0x00, 0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x12};
    write_seed("request", "edge_raw_garbage", garbage, sizeof garbage);
}

/* ---- queries ---------------------------------------------------------------------- */

static void write_queries(void)
{
    make_dir("query");
    Ledger__V1__Query q;
    const struct domain_customer *state = fuzz_customer_state();

    Ledger__V1__EventsQuery events = LEDGER__V1__EVENTS_QUERY__INIT;
    ledger__v1__query__init(&q);
    q.kind_case = LEDGER__V1__QUERY__KIND_EVENTS;
    q.events = &events;
    write_message("query", "events_all", &q.base);
    char *types[] = {"reservation_purchased", "purchase_permission_granted"};
    events.after_sequence = 3;
    events.limit = 5;
    events.customer_id = FUZZ_CUSTOMER_ID;
    events.n_types = 2;
    events.types = types;
    events.include_proofs = true;
    q.partner_id = FUZZ_PARTNER_ID;
    write_message("query", "events_filtered_proofs", &q.base);

    Ledger__V1__AsOf as_of = LEDGER__V1__AS_OF__INIT;
    as_of.sequence = state->reservations[0].sequence;
    Ledger__V1__ReservationsQuery reservations = LEDGER__V1__RESERVATIONS_QUERY__INIT;
    reservations.customer_id = FUZZ_CUSTOMER_ID;
    ledger__v1__query__init(&q);
    q.kind_case = LEDGER__V1__QUERY__KIND_RESERVATIONS;
    q.reservations = &reservations;
    write_message("query", "reservations", &q.base);
    reservations.as_of = &as_of;
    q.partner_id = FUZZ_PARTNER_ID;
    write_message("query", "reservations_as_of_sequence", &q.base);
    as_of.sequence = 0;
    as_of.time_us = FUZZ_NOW_US;
    write_message("query", "reservations_as_of_time", &q.base);
    /* What was true a day before the clock, as known at the first purchase. */
    as_of.time_us = 0;
    as_of.sequence = state->reservations[0].sequence;
    as_of.business_time_us = FUZZ_NOW_US - 86400 * INT64_C(1000000);
    write_message("query", "reservations_as_of_business_time", &q.base);

    Ledger__V1__OrdersQuery orders = LEDGER__V1__ORDERS_QUERY__INIT;
    orders.customer_id = FUZZ_CUSTOMER_ID;
    orders.from_us = FUZZ_NOW_US - 86400 * INT64_C(1000000);
    orders.to_us = FUZZ_NOW_US + 86400 * INT64_C(1000000);
    ledger__v1__query__init(&q);
    q.kind_case = LEDGER__V1__QUERY__KIND_ORDERS;
    q.orders = &orders;
    write_message("query", "orders", &q.base);

    Ledger__V1__SavingsPlansQuery plans = LEDGER__V1__SAVINGS_PLANS_QUERY__INIT;
    plans.customer_id = FUZZ_CUSTOMER_ID;
    ledger__v1__query__init(&q);
    q.kind_case = LEDGER__V1__QUERY__KIND_SAVINGS_PLANS;
    q.savings_plans = &plans;
    write_message("query", "savings_plans", &q.base);
    Ledger__V1__AsOf plans_as_of = LEDGER__V1__AS_OF__INIT;
    plans_as_of.sequence = state->savings_plans[0].sequence;
    plans.as_of = &plans_as_of;
    q.partner_id = FUZZ_PARTNER_ID;
    write_message("query", "savings_plans_as_of", &q.base);

    Ledger__V1__AsOf permissions_as_of = LEDGER__V1__AS_OF__INIT;
    permissions_as_of.time_us = FUZZ_NOW_US;
    Ledger__V1__PermissionsQuery permissions = LEDGER__V1__PERMISSIONS_QUERY__INIT;
    permissions.customer_id = FUZZ_CUSTOMER_ID;
    permissions.history = true;
    ledger__v1__query__init(&q);
    q.kind_case = LEDGER__V1__QUERY__KIND_PERMISSIONS;
    q.permissions = &permissions;
    write_message("query", "permissions_history", &q.base);
    permissions.history = false;
    permissions.as_of = &permissions_as_of;
    write_message("query", "permissions_as_of", &q.base);
    permissions.history = true;
    permissions_as_of.time_us = 0;
    permissions_as_of.business_time_us = FUZZ_NOW_US;
    write_message("query", "permissions_as_of_business_time", &q.base);

    Ledger__V1__ActivityQuery activity = LEDGER__V1__ACTIVITY_QUERY__INIT;
    activity.customer_id = FUZZ_CUSTOMER_ID;
    activity.action = "Create Customer Purchase Permissions";
    activity.limit = 2;
    ledger__v1__query__init(&q);
    q.kind_case = LEDGER__V1__QUERY__KIND_ACTIVITY;
    q.activity = &activity;
    write_message("query", "activity_filtered", &q.base);
    activity.customer_id = "";
    activity.action = "";
    activity.page_token = "AAAAAAAAAAU";
    write_message("query", "activity_page", &q.base);

    Ledger__V1__BillingQuery billing = LEDGER__V1__BILLING_QUERY__INIT;
    billing.month = "2026-01";
    billing.customer_id = FUZZ_CUSTOMER_ID;
    ledger__v1__query__init(&q);
    q.kind_case = LEDGER__V1__QUERY__KIND_BILLING;
    q.billing = &billing;
    write_message("query", "billing", &q.base);
    billing.month = "2026-13";
    write_message("query", "edge_billing_bad_month", &q.base);

    Ledger__V1__PrincipalsQuery principals = LEDGER__V1__PRINCIPALS_QUERY__INIT;
    ledger__v1__query__init(&q);
    q.kind_case = LEDGER__V1__QUERY__KIND_PRINCIPALS;
    q.principals = &principals;
    write_message("query", "principals", &q.base);

    Ledger__V1__HeadQuery head = LEDGER__V1__HEAD_QUERY__INIT;
    ledger__v1__query__init(&q);
    q.kind_case = LEDGER__V1__QUERY__KIND_HEAD;
    q.head = &head;
    write_message("query", "head", &q.base);

    Ledger__V1__InclusionQuery inclusion = LEDGER__V1__INCLUSION_QUERY__INIT;
    inclusion.sequence = 5;
    inclusion.tree_size = 9;
    ledger__v1__query__init(&q);
    q.kind_case = LEDGER__V1__QUERY__KIND_INCLUSION;
    q.inclusion = &inclusion;
    write_message("query", "inclusion", &q.base);

    Ledger__V1__ConsistencyQuery consistency = LEDGER__V1__CONSISTENCY_QUERY__INIT;
    consistency.from_size = 3;
    consistency.to_size = 0;
    ledger__v1__query__init(&q);
    q.kind_case = LEDGER__V1__QUERY__KIND_CONSISTENCY;
    q.consistency = &consistency;
    write_message("query", "consistency", &q.base);
    consistency.from_size = UINT64_MAX;
    write_message("query", "edge_consistency_huge", &q.base);

    Ledger__V1__ExplainQuery explain = LEDGER__V1__EXPLAIN_QUERY__INIT;
    explain.sequence = state->reservations[1].sequence;
    ledger__v1__query__init(&q);
    q.kind_case = LEDGER__V1__QUERY__KIND_EXPLAIN;
    q.explain = &explain;
    write_message("query", "explain_customer_purchase", &q.base);

    Ledger__V1__StatsQuery stats = LEDGER__V1__STATS_QUERY__INIT;
    ledger__v1__query__init(&q);
    q.kind_case = LEDGER__V1__QUERY__KIND_STATS;
    q.stats = &stats;
    write_message("query", "stats", &q.base);

    ledger__v1__query__init(&q);
    q.partner_id = "p-unknown";
    write_message("query", "edge_no_kind", &q.base);
    write_seed("query", "edge_empty", NULL, 0);
}

/* ---- text parsers ------------------------------------------------------------------- */

static void write_configs(void)
{
    make_dir("config");
    write_text("config", "full",
               "# ledgerd settings\n"
               "[ledgerd]\n"
               "data = /var/lib/ledgerd\n"
               "listen = ipc:///var/lib/ledgerd/ledger.sock\n"
               "events = tcp://127.0.0.1:7301\n"
               "request_bytes_max = 4MiB\n"
               "batch_commands_max = 500\n"
               "map_bytes_max = 128G\n"
               "auth_window_s = 120\n"
               "log_level = debug\n"
               "metrics_listen = tcp://127.0.0.1:9300\n"
               "slow_commit_ms = 250\n");
    write_text("config", "top_level", "; no section\nlog_level = warn\nrequest_bytes_max = 1024\n");
    write_text("config", "empty", "");
    write_text("config", "edge_unknown_key", "[ledgerd]\ncolour = blue\n");
    write_text("config", "edge_unknown_section", "[server]\nlisten = tcp://0.0.0.0:1\n");
    write_text("config", "edge_twice", "auth_window_s = 60\nauth_window_s = 61\n");
    write_text("config", "edge_bad_values",
               "map_bytes_max = 99999999999999999999T\nauth_window_s = 0\n");
    write_text("config", "edge_no_equals", "[ledgerd\nlisten\n");
    write_text("config", "edge_bad_url", "listen = tcp://:0\n");
}

static void write_amounts(void)
{
    make_dir("amount");
    /* The first byte picks the currency (fuzz_amount.c): 0 USD, 1 JPY,
     * 2 KWD, 3 CLF, 9 "USDX". The next eight are also read as an int64. */
    write_prefixed("amount", "usd", 0, "1234.56");
    write_prefixed("amount", "usd_whole", 0, "10");
    write_prefixed("amount", "usd_one_digit", 0, "10.5");
    write_prefixed("amount", "jpy", 1, "1000");
    write_prefixed("amount", "kwd", 2, "0.125");
    write_prefixed("amount", "clf", 3, "12.3456");
    write_prefixed("amount", "max", 0, "100000000000.00");
    write_prefixed("amount", "edge_over_max", 0, "100000000000.01");
    write_prefixed("amount", "edge_too_many_digits", 0, "99999999999999999999999");
    write_prefixed("amount", "edge_jpy_fraction", 1, "1000.5");
    write_prefixed("amount", "edge_sign", 0, "-5");
    write_prefixed("amount", "edge_point", 0, "5.");
    write_prefixed("amount", "edge_bad_currency", 9, "5");
    static const uint8_t int64_min[] = {0, 0x80, 0, 0, 0, 0, 0, 0, 0};
    write_seed("amount", "edge_int64_min", int64_min, sizeof int64_min);
}

static void write_times(void)
{
    make_dir("time");
    write_text("time", "date", "2026-11-23");
    write_text("time", "minutes", "2026-11-23T20:27");
    write_text("time", "seconds_z", "2026-11-23T20:27:00Z");
    write_text("time", "fraction_offset", "2026-11-23 20:27:00.123456+01:00");
    write_text("time", "offset_compact", "2024-02-29T23:59:59.5-0530");
    write_text("time", "last", "9999-12-31T23:59:59.999999Z");
    write_text("time", "first", "1970-01-01T00:00:00Z");
    write_text("time", "month", "2026-03");
    write_text("time", "edge_before_epoch", "1970-01-01T00:00:00+00:01");
    write_text("time", "edge_after_9999", "9999-12-31T23:59:59-23:59");
    write_text("time", "edge_not_leap", "2026-02-29");
    write_text("time", "edge_seven_digits", "2026-01-01T00:00:00.1234567Z");
    write_text("time", "edge_month_13", "2026-13");
}

static void write_csvs(void)
{
    make_dir("csv");
    /* The invoice of docs/cli.md's reconcile section, as a spreadsheet saves it. */
    write_text("csv", "invoice",
               "\xEF\xBB\xBF"
               "customer_id,reference,charge,amount,currency\r\n"
               "c1,res-20,reservation,1234.56,USD\r\n"
               "c1,sp-24,savings plan,\"1,000.00\",USD\r\n");
    write_text("csv", "quoted_newline", "a,\"two\nlines\",\"say \"\"hi\"\"\"\nb,,\n\n");
    write_text("csv", "lf_no_end", "x,y\nz");
    write_text("csv", "empty_quoted", "\"\"\r\n,\r\n");
    write_text("csv", "edge_unclosed", "a,\"open\n");
    write_text("csv", "edge_quote_inside", "a,b\"c\n");
    write_text("csv", "edge_after_quote", "\"a\"b\n");
    write_text("csv", "edge_bare_cr", "a\rb\n");
    static const uint8_t nul[] = {'a', ',', 0, '\n'};
    write_seed("csv", "edge_nul", nul, sizeof nul);
}

/* Byte 0 the mode (fuzz_proof.c), then tree size, index and earlier size as
 * u64 BE, then the change and the leaves' variant. */
static void write_proof(const char *label, uint8_t mode, uint64_t size, uint64_t index,
                        uint64_t from, uint8_t change)
{
    uint8_t bytes[29] = {mode};
    for (int b = 0; b < 8; b++) {
        bytes[1 + b] = (uint8_t)(size >> (56 - 8 * b));
        bytes[9 + b] = (uint8_t)(index >> (56 - 8 * b));
        bytes[17 + b] = (uint8_t)(from >> (56 - 8 * b));
    }
    bytes[25] = change;
    bytes[26] = 3;
    bytes[27] = 77;
    write_seed("proof", label, bytes, sizeof bytes);
}

static void write_proofs(void)
{
    make_dir("proof");
    /* Small trees: sizes 1, 2, 3, 7, 8, 9 and 255 (n = 1 + value % 256). */
    write_proof("small_1", 0, 0, 0, 0, 0);
    write_proof("small_2", 0, 1, 1, 0, 1);
    write_proof("small_3", 0, 2, 2, 1, 2);
    write_proof("small_7", 0, 6, 5, 3, 3);
    write_proof("small_8", 0, 7, 7, 6, 4);
    write_proof("small_9", 0, 8, 8, 7, 0);
    write_proof("small_255", 0, 254, 200, 100, 1);
    /* Trees of alike leaves, up to 2^64 - 1. */
    write_proof("uniform_2_32", 1, UINT64_C(1) << 32, 12345, UINT64_C(1) << 31, 0);
    write_proof("uniform_max", 1, UINT64_MAX, UINT64_MAX - 1, UINT64_MAX - 1, 2);
    write_proof("uniform_2_63_plus_1", 1, (UINT64_C(1) << 63) + 1, UINT64_C(1) << 63, 3, 4);
    /* Raw: a size, an index, leaf, two roots, and three path hashes. */
    uint8_t raw[17 + 3 * 32 + 3 * 32] = {2};
    raw[8] = 9;  /* tree size 9 */
    raw[16] = 4; /* index 4 */
    for (size_t i = 17; i < sizeof raw; i++) {
        raw[i] = (uint8_t)(i * 31);
    }
    write_seed("proof", "raw", raw, sizeof raw);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    root = argv[1];
    if (crypto_init() != LEDGER_ERR_OK) {
        fuzz_fail("crypto_init failed");
    }
    if (mkdir(root, 0755) != 0 && errno != EEXIST) {
        fuzz_fail("cannot make %s", root);
    }
    build_commands();
    write_commands();
    write_records();
    write_requests();
    write_queries();
    write_configs();
    write_amounts();
    write_times();
    write_csvs();
    write_proofs();
    for (size_t i = 0; i < command_seed_count; i++) {
        free(command_seeds[i].bytes);
    }
    return 0;
}
