/*
 * test_engine.c: the command pipeline of daemon/engine.c end to end, without
 * sockets: initialization, idempotent retries, expected versions, batch
 * atomicity, group commit isolation, restart, map growth, the data-directory
 * lock, the log queries (events, heads, proofs, explain, stats) and backups.
 * Method: a fresh data directory per test; commands built as protobuf structs,
 * packed, and executed through engine_execute as the daemon does.
 */
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "crypto.h"
#include "domain.h"
#include "engine.h"
#include "histgen.h"
#include "histload.h"
#include "ledger_limits.h"
#include "merkle.h"
#include "store.h"
#include "test_util.h"

#define NOW_US INT64_C(1767225600000000) /* 2026-01-01T00:00:00Z */

struct fixture {
    char dir[512];
    struct engine *engine;
    struct engine_principal operator_principal;
    struct engine_principal admin;
    struct engine_principal customer_user;
    int64_t now_us;
    unsigned next_id;
};

static struct engine_principal make_principal(const char *id, Ledger__V1__Role role,
                                              const char *partner, const char *customer,
                                              const char *user)
{
    struct engine_principal p = {0};
    snprintf(p.id, sizeof p.id, "%s", id);
    p.role = role;
    snprintf(p.partner_id, sizeof p.partner_id, "%s", partner);
    snprintf(p.customer_id, sizeof p.customer_id, "%s", customer);
    snprintf(p.user, sizeof p.user, "%s", user);
    return p;
}

/* Packs a command; the caller frees data. */
static ProtobufCBinaryData pack_command(Ledger__V1__Command *command)
{
    uint8_t *bytes = NULL;
    size_t size = 0;
    assert_int_equal(codec_pack(&command->base, &bytes, &size), LEDGER_ERR_OK);
    ProtobufCBinaryData data = {.len = size, .data = bytes};
    return data;
}

/* Executes one command as `principal`; returns the request's code. */
static enum ledger_err run_bytes(struct fixture *f, const struct engine_principal *principal,
                                 ProtobufCBinaryData *data, size_t count,
                                 struct engine_request *request_out)
{
    struct engine_request request = {
        .principal = principal, .commands = data, .command_count = count};
    f->now_us += 1000000;
    enum ledger_err err = engine_execute(f->engine, &request, 1, f->now_us);
    if (err == LEDGER_ERR_OK) {
        err = request.err;
    }
    if (request_out) {
        *request_out = request;
    } else {
        engine_request_clear(&request);
    }
    return err;
}

static enum ledger_err run(struct fixture *f, const struct engine_principal *principal,
                           Ledger__V1__Command *command, struct engine_request *request_out)
{
    char id[32];
    if (command->command_id == NULL || command->command_id[0] == '\0') {
        snprintf(id, sizeof id, "cmd-%u", ++f->next_id);
        command->command_id = id;
    }
    ProtobufCBinaryData data = pack_command(command);
    enum ledger_err err = run_bytes(f, principal, &data, 1, request_out);
    free(data.data);
    command->command_id = NULL;
    return err;
}

static uint64_t head(struct fixture *f)
{
    return engine_head_sequence(f->engine);
}

/* Commands used across tests. */
static enum ledger_err add_partner(struct fixture *f, const char *partner)
{
    Ledger__V1__AddPartner body = LEDGER__V1__ADD_PARTNER__INIT;
    body.partner_id = (char *)partner;
    body.name = "Contoso Ltd";
    Ledger__V1__Command c = LEDGER__V1__COMMAND__INIT;
    c.body_case = LEDGER__V1__COMMAND__BODY_ADD_PARTNER;
    c.add_partner = &body;
    c.partner_id = (char *)partner;
    return run(f, &f->operator_principal, &c, NULL);
}

static enum ledger_err add_principal(struct fixture *f, const struct engine_principal *p)
{
    Ledger__V1__AddPrincipal body = LEDGER__V1__ADD_PRINCIPAL__INIT;
    body.principal_id = (char *)p->id;
    body.role = p->role;
    body.partner_id = (char *)p->partner_id;
    body.customer_id = (char *)p->customer_id;
    body.user = (char *)p->user;
    Ledger__V1__Command c = LEDGER__V1__COMMAND__INIT;
    c.body_case = LEDGER__V1__COMMAND__BODY_ADD_PRINCIPAL;
    c.add_principal = &body;
    c.partner_id = (char *)p->partner_id;
    return run(f, &f->operator_principal, &c, NULL);
}

static void customer_command(Ledger__V1__Command *c, const char *customer)
{
    Ledger__V1__Command init = LEDGER__V1__COMMAND__INIT;
    *c = init;
    c->customer_id = (char *)customer;
}

static enum ledger_err onboard_as(struct fixture *f, const struct engine_principal *who,
                                  const char *customer)
{
    Ledger__V1__OnboardCustomer body = LEDGER__V1__ONBOARD_CUSTOMER__INIT;
    body.name = "Fabrikam";
    Ledger__V1__Command c;
    customer_command(&c, customer);
    c.body_case = LEDGER__V1__COMMAND__BODY_ONBOARD_CUSTOMER;
    c.onboard_customer = &body;
    return run(f, who, &c, NULL);
}

static enum ledger_err onboard(struct fixture *f, const char *customer)
{
    return onboard_as(f, &f->admin, customer);
}

static enum ledger_err buy_subscription_as(struct fixture *f, const struct engine_principal *who,
                                           const char *customer, const char *sub)
{
    Ledger__V1__PurchaseSubscription body = LEDGER__V1__PURCHASE_SUBSCRIPTION__INIT;
    body.subscription_id = (char *)sub;
    body.offer = LEDGER__V1__OFFER__OFFER_AZURE_PLAN;
    Ledger__V1__Command c;
    customer_command(&c, customer);
    c.body_case = LEDGER__V1__COMMAND__BODY_PURCHASE_SUBSCRIPTION;
    c.purchase_subscription = &body;
    return run(f, who, &c, NULL);
}

static enum ledger_err buy_subscription(struct fixture *f, const char *customer, const char *sub)
{
    return buy_subscription_as(f, &f->admin, customer, sub);
}

static Ledger__V1__Command grant_command(const char *customer, Ledger__V1__GrantPermission *body)
{
    Ledger__V1__GrantPermission init = LEDGER__V1__GRANT_PERMISSION__INIT;
    *body = init;
    body->kind = LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_RESERVATIONS;
    Ledger__V1__Command c;
    customer_command(&c, customer);
    c.body_case = LEDGER__V1__COMMAND__BODY_GRANT_PERMISSION;
    c.grant_permission = body;
    return c;
}

/* Turns the customer's reservations permission off: grant_command's
 * command with the other body (the two share the command's oneof). */
static Ledger__V1__Command revoke_command(const char *customer, Ledger__V1__RevokePermission *body)
{
    Ledger__V1__GrantPermission grant;
    Ledger__V1__Command c = grant_command(customer, &grant);
    ledger__v1__revoke_permission__init(body);
    body->kind = grant.kind;
    c.body_case = LEDGER__V1__COMMAND__BODY_REVOKE_PERMISSION;
    c.revoke_permission = body;
    return c;
}

/* Assigns (or removes) Owner on `sub` to `user`. */
static enum ledger_err set_owner(struct fixture *f, const char *customer, const char *sub,
                                 const char *user, bool assign)
{
    Ledger__V1__AssignRole assign_body = LEDGER__V1__ASSIGN_ROLE__INIT;
    Ledger__V1__RemoveRole remove_body = LEDGER__V1__REMOVE_ROLE__INIT;
    assign_body.subscription_id = remove_body.subscription_id = (char *)sub;
    assign_body.user = remove_body.user = (char *)user;
    assign_body.role = remove_body.role = LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER;
    Ledger__V1__Command c;
    customer_command(&c, customer);
    if (assign) {
        c.body_case = LEDGER__V1__COMMAND__BODY_ASSIGN_ROLE;
        c.assign_role = &assign_body;
    } else {
        c.body_case = LEDGER__V1__COMMAND__BODY_REMOVE_ROLE;
        c.remove_role = &remove_body;
    }
    return run(f, &f->admin, &c, NULL);
}

static enum ledger_err assign_owner(struct fixture *f, const char *customer, const char *sub,
                                    const char *user)
{
    return set_owner(f, customer, sub, user, true);
}

/* A reservation purchase dated business_us (0: when it is recorded). */
static enum ledger_err buy_reservation_dated(struct fixture *f, const struct engine_principal *who,
                                             const char *customer, const char *sub,
                                             int64_t business_us,
                                             struct engine_request *request_out)
{
    Ledger__V1__Money price = LEDGER__V1__MONEY__INIT, retail = LEDGER__V1__MONEY__INIT;
    price.amount_minor = 120000;
    price.currency = "USD";
    retail.amount_minor = 150000;
    retail.currency = "USD";
    Ledger__V1__Scope scope = LEDGER__V1__SCOPE__INIT;
    scope.kind = LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SHARED;
    Ledger__V1__PurchaseReservation body = LEDGER__V1__PURCHASE_RESERVATION__INIT;
    body.billing_subscription_id = (char *)sub;
    body.sku = "Standard_D2s_v5";
    body.region = "westeurope";
    body.quantity = 2;
    body.term = LEDGER__V1__TERM__TERM_P1Y;
    body.billing_plan = LEDGER__V1__BILLING_PLAN__BILLING_PLAN_UPFRONT;
    body.scope = &scope;
    body.price = &price;
    body.retail_price = &retail;
    Ledger__V1__Command c;
    customer_command(&c, customer);
    c.body_case = LEDGER__V1__COMMAND__BODY_PURCHASE_RESERVATION;
    c.purchase_reservation = &body;
    c.business_us = business_us;
    return run(f, who, &c, request_out);
}

static enum ledger_err buy_reservation(struct fixture *f, const struct engine_principal *who,
                                       const char *customer, const char *sub,
                                       struct engine_request *request_out)
{
    return buy_reservation_dated(f, who, customer, sub, 0, request_out);
}

static enum ledger_err buy_savings_plan(struct fixture *f, const struct engine_principal *who,
                                        const char *customer, const char *sub,
                                        struct engine_request *request_out)
{
    Ledger__V1__Money hourly = LEDGER__V1__MONEY__INIT, price = LEDGER__V1__MONEY__INIT,
                      retail = LEDGER__V1__MONEY__INIT;
    hourly.amount_minor = 500;
    hourly.currency = "USD";
    price.amount_minor = 500 * 8760;
    price.currency = "USD";
    retail.amount_minor = 500 * 9000;
    retail.currency = "USD";
    Ledger__V1__Scope scope = LEDGER__V1__SCOPE__INIT;
    scope.kind = LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SHARED;
    Ledger__V1__PurchaseSavingsPlan body = LEDGER__V1__PURCHASE_SAVINGS_PLAN__INIT;
    body.billing_subscription_id = (char *)sub;
    body.hourly_commitment = &hourly;
    body.term = LEDGER__V1__TERM__TERM_P1Y;
    body.billing_plan = LEDGER__V1__BILLING_PLAN__BILLING_PLAN_MONTHLY;
    body.scope = &scope;
    body.price = &price;
    body.retail_price = &retail;
    Ledger__V1__Command c;
    customer_command(&c, customer);
    c.body_case = LEDGER__V1__COMMAND__BODY_PURCHASE_SAVINGS_PLAN;
    c.purchase_savings_plan = &body;
    return run(f, who, &c, request_out);
}

/* The first sequence a successful single-command request appended; clears it. */
static uint64_t appended_sequence(struct engine_request *request)
{
    uint64_t sequence = request->results[0].message.first_sequence;
    engine_request_clear(request);
    return sequence;
}

/* An explain query for `sequence`, in caller-owned messages. */
static void explain_query(Ledger__V1__Query *q, Ledger__V1__ExplainQuery *explain,
                          uint64_t sequence)
{
    Ledger__V1__ExplainQuery explain_init = LEDGER__V1__EXPLAIN_QUERY__INIT;
    Ledger__V1__Query query_init = LEDGER__V1__QUERY__INIT;
    *explain = explain_init;
    explain->sequence = sequence;
    *q = query_init;
    q->kind_case = LEDGER__V1__QUERY__KIND_EXPLAIN;
    q->explain = explain;
}

/* The explanation of `sequence` as p1's auditor sees it; the caller frees it. */
static Ledger__V1__QueryResult *explained(struct fixture *f, uint64_t sequence)
{
    struct engine_principal auditor =
        make_principal("auditor-1", LEDGER__V1__ROLE__ROLE_AUDITOR, "p1", "", "");
    Ledger__V1__ExplainQuery explain;
    Ledger__V1__Query q;
    explain_query(&q, &explain, sequence);
    Ledger__V1__QueryResult *result = NULL;
    char message[ENGINE_MESSAGE_SIZE];
    assert_int_equal(engine_query(f->engine, &auditor, &q, f->now_us, &result, message),
                     LEDGER_ERR_OK);
    return result;
}

/* A partner "p1" with an admin, a customer "c1" with a customer-user
 * principal for alice, an active Azure plan "s1", and alice Owner on it. */
static void world(struct fixture *f)
{
    assert_int_equal(add_partner(f, "p1"), LEDGER_ERR_OK);
    assert_int_equal(add_principal(f, &f->admin), LEDGER_ERR_OK);
    assert_int_equal(onboard(f, "c1"), LEDGER_ERR_OK);
    assert_int_equal(add_principal(f, &f->customer_user), LEDGER_ERR_OK);
    assert_int_equal(buy_subscription(f, "c1", "s1"), LEDGER_ERR_OK);
    assert_int_equal(assign_owner(f, "c1", "s1", "alice"), LEDGER_ERR_OK);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    test_make_dir(f->dir, sizeof f->dir, "engine");
    char key_path[600];
    snprintf(key_path, sizeof key_path, "%s/operator.key", f->dir);
    struct engine_options options = {.data_dir = f->dir};
    assert_int_equal(engine_init(&options, "operator", key_path), LEDGER_ERR_OK);
    assert_int_equal(engine_open(&options, &f->engine), LEDGER_ERR_OK);
    assert_int_equal(engine_principal_lookup(f->engine, "operator", &f->operator_principal),
                     LEDGER_ERR_OK);
    f->admin = make_principal("admin-1", LEDGER__V1__ROLE__ROLE_ADMIN_AGENT, "p1", "", "");
    f->customer_user =
        make_principal("alice-1", LEDGER__V1__ROLE__ROLE_CUSTOMER_USER, "p1", "c1", "alice");
    f->now_us = NOW_US;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    engine_close(f->engine);
    test_remove_dir(f->dir);
    free(f);
    return 0;
}

static void test_engine_init_writes_operator_key(void **state)
{
    struct fixture *f = *state;
    char path[600];
    snprintf(path, sizeof path, "%s/operator.key", f->dir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    FILE *file = fopen(path, "r");
    assert_non_null(file);
    char hex[80] = {0};
    assert_non_null(fgets(hex, sizeof hex, file));
    fclose(file);
    hex[strcspn(hex, "\n")] = '\0';
    uint8_t secret[LEDGER_SECRET_BYTES];
    assert_int_equal(crypto_unhex(hex, secret, sizeof secret), LEDGER_ERR_OK);
    assert_memory_equal(secret, f->operator_principal.secret, sizeof secret);
    assert_int_equal(f->operator_principal.role, LEDGER__V1__ROLE__ROLE_OPERATOR);
    assert_int_equal(head(f), 1);
    /* A second init of the same directory is refused. */
    struct engine_options options = {.data_dir = f->dir};
    assert_int_equal(engine_init(&options, "operator", path), LEDGER_ERR_PRINCIPAL_EXISTS);
}

/* The operator's key file is written through a temporary file named after
 * it: a path that fits but whose temporary name would not is refused before
 * anything is written, and init leaves no ledger behind. */
static void test_engine_init_key_path_without_room_for_its_temp(void **state)
{
    struct fixture *f = *state;
    char dir[640];
    snprintf(dir, sizeof dir, "%s/fresh", f->dir);
    char *key_path = malloc(PATH_MAX);
    assert_non_null(key_path);
    int n = snprintf(key_path, PATH_MAX, "%s/", dir);
    assert_true(n > 0 && n < PATH_MAX - 8);
    /* PATH_MAX - 2 characters: the path and its NUL fit, "<path>.tmp" does not. */
    memset(key_path + n, 'k', (size_t)(PATH_MAX - 2 - n));
    key_path[PATH_MAX - 2] = '\0';
    struct engine_options options = {.data_dir = dir};
    assert_int_equal(engine_init(&options, "operator", key_path), LEDGER_ERR_INVALID_ARGUMENT);
    assert_false(engine_present(dir));
    struct stat st;
    assert_int_equal(stat(dir, &st), -1);
    free(key_path);
}

static void test_engine_second_open_is_locked(void **state)
{
    struct fixture *f = *state;
    struct engine_options options = {.data_dir = f->dir};
    struct engine *second = NULL;
    assert_int_equal(engine_open(&options, &second), LEDGER_ERR_DATA_DIR_LOCKED);
    assert_null(second);
}

static void test_engine_unknown_principal(void **state)
{
    struct fixture *f = *state;
    struct engine_principal p;
    assert_int_equal(engine_principal_lookup(f->engine, "nobody", &p),
                     LEDGER_ERR_UNKNOWN_PRINCIPAL);
    assert_int_equal(engine_principal_lookup(f->engine, "bad id with spaces", &p),
                     LEDGER_ERR_UNKNOWN_PRINCIPAL);
}

static void test_engine_retry_same_content_is_duplicate(void **state)
{
    struct fixture *f = *state;
    world(f);
    Ledger__V1__GrantPermission body;
    Ledger__V1__Command c = grant_command("c1", &body);
    c.command_id = "grant-once";
    ProtobufCBinaryData data = pack_command(&c);
    struct engine_request first, second;
    assert_int_equal(run_bytes(f, &f->admin, &data, 1, &first), LEDGER_ERR_OK);
    uint64_t after_first = head(f);
    assert_int_equal(run_bytes(f, &f->admin, &data, 1, &second), LEDGER_ERR_OK);
    assert_int_equal(head(f), after_first);
    assert_true(second.results[0].message.duplicate);
    assert_false(first.results[0].message.duplicate);
    assert_int_equal(second.results[0].message.first_sequence,
                     first.results[0].message.first_sequence);
    assert_int_equal(second.results[0].message.stream_version,
                     first.results[0].message.stream_version);
    engine_request_clear(&first);
    engine_request_clear(&second);
    free(data.data);

    /* Same id, other content: refused, nothing appended. */
    Ledger__V1__Command other = grant_command("c1", &body);
    body.kind = LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_SAVINGS_PLANS;
    other.command_id = "grant-once";
    data = pack_command(&other);
    assert_int_equal(run_bytes(f, &f->admin, &data, 1, NULL), LEDGER_ERR_COMMAND_ID_REUSED);
    assert_int_equal(head(f), after_first);
    free(data.data);

    /* Command ids are per principal: another principal may use the same id. */
    struct engine_principal admin2 =
        make_principal("admin-2", LEDGER__V1__ROLE__ROLE_ADMIN_AGENT, "p1", "", "");
    assert_int_equal(add_principal(f, &admin2), LEDGER_ERR_OK);
    Ledger__V1__Command third = grant_command("c1", &body);
    body.kind = LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_SAVINGS_PLANS;
    third.command_id = "grant-once";
    data = pack_command(&third);
    assert_int_equal(run_bytes(f, &admin2, &data, 1, NULL), LEDGER_ERR_OK);
    free(data.data);
}

/* A RotatePrincipalSecret command for `principal_id`, as the operator sends it. */
static ProtobufCBinaryData rotate_command(const char *command_id, const char *principal_id)
{
    Ledger__V1__RotatePrincipalSecret body = LEDGER__V1__ROTATE_PRINCIPAL_SECRET__INIT;
    body.principal_id = (char *)principal_id;
    Ledger__V1__Command c = LEDGER__V1__COMMAND__INIT;
    c.command_id = (char *)command_id;
    c.body_case = LEDGER__V1__COMMAND__BODY_ROTATE_PRINCIPAL_SECRET;
    c.rotate_principal_secret = &body;
    return pack_command(&c);
}

/* Whether `size` bytes at `data` hold `needle` anywhere. */
static bool bytes_hold(const uint8_t *data, size_t size, const void *needle, size_t needle_size)
{
    for (size_t i = 0; i + needle_size <= size; i++) {
        if (memcmp(data + i, needle, needle_size) == 0) {
            return true;
        }
    }
    return false;
}

/* Rotating a secret: the answer carries a new secret, which the principal's
 * lookup gives from then on (the old one is gone), a request the principal
 * made with the old one is refused BAD_SIGNATURE when it is decided after the
 * rotation, even in the same group; a retry answers duplicate without the
 * secret; neither the log record nor the command-id index holds it. */
static void test_engine_rotate_principal_secret(void **state)
{
    struct fixture *f = *state;
    world(f);
    struct engine_principal before;
    assert_int_equal(engine_principal_lookup(f->engine, "admin-1", &before), LEDGER_ERR_OK);
    assert_int_equal(before.secret_rotated_sequence, 0);

    ProtobufCBinaryData rotate = rotate_command("rotate-admin-1", "admin-1");
    struct engine_request first;
    assert_int_equal(run_bytes(f, &f->operator_principal, &rotate, 1, &first), LEDGER_ERR_OK);
    const Ledger__V1__CommandResult *answer = &first.results[0].message;
    uint64_t sequence = answer->first_sequence;
    assert_int_equal(sequence, head(f));
    assert_false(answer->duplicate);
    assert_int_equal(strlen(answer->secret_hex), 2 * LEDGER_SECRET_BYTES);
    uint8_t secret[LEDGER_SECRET_BYTES];
    assert_int_equal(crypto_unhex(answer->secret_hex, secret, sizeof secret), LEDGER_ERR_OK);
    char secret_hex[2 * LEDGER_SECRET_BYTES + 1];
    memcpy(secret_hex, answer->secret_hex, sizeof secret_hex);
    engine_request_clear(&first);
    assert_memory_not_equal(secret, before.secret, sizeof secret);

    /* The lookup that authenticates requests has the new secret only. */
    struct engine_principal after;
    assert_int_equal(engine_principal_lookup(f->engine, "admin-1", &after), LEDGER_ERR_OK);
    assert_memory_equal(after.secret, secret, sizeof secret);
    assert_int_equal(after.secret_rotated_sequence, sequence);
    assert_int_equal(after.role, LEDGER__V1__ROLE__ROLE_ADMIN_AGENT);
    assert_string_equal(after.partner_id, "p1");

    /* Authenticated with the old secret before the rotation, decided after
     * it: refused, nothing appended. With the new secret: accepted. */
    uint64_t at = head(f);
    assert_int_equal(buy_subscription_as(f, &before, "c1", "s-old"), LEDGER_ERR_BAD_SIGNATURE);
    assert_int_equal(head(f), at);
    assert_int_equal(buy_subscription_as(f, &after, "c1", "s-new"), LEDGER_ERR_OK);

    /* The same command again: duplicate, no secret, the secret unchanged. */
    struct engine_request retry;
    at = head(f);
    assert_int_equal(run_bytes(f, &f->operator_principal, &rotate, 1, &retry), LEDGER_ERR_OK);
    assert_true(retry.results[0].message.duplicate);
    assert_int_equal(retry.results[0].message.first_sequence, sequence);
    assert_string_equal(retry.results[0].message.secret_hex, "");
    engine_request_clear(&retry);
    assert_int_equal(head(f), at);
    struct engine_principal again;
    assert_int_equal(engine_principal_lookup(f->engine, "admin-1", &again), LEDGER_ERR_OK);
    assert_memory_equal(again.secret, secret, sizeof secret);
    free(rotate.data);

    /* Neither the record nor the command-id index holds the secret. */
    struct store_txn *txn = NULL;
    assert_int_equal(store_begin(engine_store(f->engine), false, &txn), LEDGER_ERR_OK);
    struct store_val record;
    assert_int_equal(store_record(txn, sequence, &record), LEDGER_ERR_OK);
    assert_false(bytes_hold(record.data, record.size, secret, sizeof secret));
    assert_false(bytes_hold(record.data, record.size, secret_hex, strlen(secret_hex)));
    uint8_t hash[STORE_HASH_BYTES];
    struct store_val stored;
    assert_int_equal(store_command_get(txn, "operator", "rotate-admin-1", hash, &stored),
                     LEDGER_ERR_OK);
    assert_false(bytes_hold(stored.data, stored.size, secret, sizeof secret));
    assert_false(bytes_hold(stored.data, stored.size, secret_hex, strlen(secret_hex)));
    Ledger__V1__CommandResult *kept =
        ledger__v1__command_result__unpack(NULL, stored.size, stored.data);
    assert_non_null(kept);
    assert_string_equal(kept->secret_hex, "");
    assert_int_equal(kept->first_sequence, sequence);
    ledger__v1__command_result__free_unpacked(kept, NULL);
    store_abort(txn);

    /* In one group: the rotation first, then a request authenticated with
     * the secret it replaced. */
    ProtobufCBinaryData rotate_again = rotate_command("rotate-admin-1-again", "admin-1");
    Ledger__V1__PurchaseSubscription body = LEDGER__V1__PURCHASE_SUBSCRIPTION__INIT;
    body.subscription_id = "s-group";
    body.offer = LEDGER__V1__OFFER__OFFER_AZURE_PLAN;
    Ledger__V1__Command c;
    customer_command(&c, "c1");
    c.command_id = "buy-in-group";
    c.body_case = LEDGER__V1__COMMAND__BODY_PURCHASE_SUBSCRIPTION;
    c.purchase_subscription = &body;
    ProtobufCBinaryData buy = pack_command(&c);
    struct engine_request group[2] = {
        {.principal = &f->operator_principal, .commands = &rotate_again, .command_count = 1},
        {.principal = &after, .commands = &buy, .command_count = 1},
    };
    at = head(f);
    assert_int_equal(engine_execute(f->engine, group, 2, f->now_us + 1000000), LEDGER_ERR_OK);
    assert_int_equal(group[0].err, LEDGER_ERR_OK);
    assert_int_equal(strlen(group[0].results[0].message.secret_hex), 2 * LEDGER_SECRET_BYTES);
    assert_int_equal(group[1].err, LEDGER_ERR_BAD_SIGNATURE);
    assert_non_null(strstr(group[1].message, "was rotated"));
    assert_int_equal(head(f), at + 1);
    engine_request_clear(&group[0]);
    engine_request_clear(&group[1]);
    free(rotate_again.data);
    free(buy.data);
    crypto_wipe(secret, sizeof secret);
}

static void test_engine_retry_survives_restart(void **state)
{
    struct fixture *f = *state;
    world(f);
    Ledger__V1__GrantPermission body;
    Ledger__V1__Command c = grant_command("c1", &body);
    c.command_id = "grant-restart";
    ProtobufCBinaryData data = pack_command(&c);
    assert_int_equal(run_bytes(f, &f->admin, &data, 1, NULL), LEDGER_ERR_OK);
    uint64_t sequence = head(f);
    engine_close(f->engine);
    struct engine_options options = {.data_dir = f->dir};
    assert_int_equal(engine_open(&options, &f->engine), LEDGER_ERR_OK);
    assert_int_equal(head(f), sequence);
    struct engine_request again;
    assert_int_equal(run_bytes(f, &f->admin, &data, 1, &again), LEDGER_ERR_OK);
    assert_true(again.results[0].message.duplicate);
    assert_int_equal(again.results[0].message.first_sequence, sequence);
    assert_int_equal(head(f), sequence);
    engine_request_clear(&again);
    free(data.data);
    /* The state was rebuilt from the log: granting again is refused. */
    Ledger__V1__Command twice = grant_command("c1", &body);
    assert_int_equal(run(f, &f->admin, &twice, NULL), LEDGER_ERR_PERMISSION_ALREADY_ON);
    assert_int_equal(head(f), sequence);
}

static void test_engine_expected_version(void **state)
{
    struct fixture *f = *state;
    world(f);
    Ledger__V1__GrantPermission body;
    Ledger__V1__Command c = grant_command("c1", &body);
    c.check_version = 1;
    c.expected_version = 2; /* c1 has 3 events: onboard, subscription, role */
    uint64_t before = head(f);
    assert_int_equal(run(f, &f->admin, &c, NULL), LEDGER_ERR_VERSION_CONFLICT);
    assert_int_equal(head(f), before);
    c = grant_command("c1", &body);
    c.check_version = 1;
    c.expected_version = 3;
    struct engine_request request;
    assert_int_equal(run(f, &f->admin, &c, &request), LEDGER_ERR_OK);
    assert_int_equal(request.results[0].message.stream_version, 4);
    engine_request_clear(&request);
}

static void test_engine_batch_is_atomic(void **state)
{
    struct fixture *f = *state;
    world(f);
    uint64_t before = head(f);
    Ledger__V1__GrantPermission body;
    ProtobufCBinaryData data[3];
    Ledger__V1__Command c = grant_command("c1", &body);
    c.command_id = "batch-1";
    data[0] = pack_command(&c);
    Ledger__V1__GrantPermission body2;
    Ledger__V1__Command c2 = grant_command("c1", &body2);
    body2.kind = LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_SAVINGS_PLANS;
    c2.command_id = "batch-2";
    data[1] = pack_command(&c2);
    Ledger__V1__Command c3 = grant_command("c1", &body); /* reservations again: refused */
    c3.command_id = "batch-3";
    data[2] = pack_command(&c3);
    struct engine_request request;
    assert_int_equal(run_bytes(f, &f->admin, data, 3, &request), LEDGER_ERR_PERMISSION_ALREADY_ON);
    assert_int_equal(request.failed_index, 2);
    assert_null(request.results);
    assert_true(strlen(request.message) > 0);
    assert_int_equal(head(f), before);
    /* Nothing of the batch is visible: the first command now succeeds afresh. */
    struct engine_request retry;
    assert_int_equal(run_bytes(f, &f->admin, data, 2, &retry), LEDGER_ERR_OK);
    assert_false(retry.results[0].message.duplicate);
    assert_int_equal(retry.results[0].message.first_sequence, before + 1);
    assert_int_equal(retry.results[1].message.first_sequence, before + 2);
    assert_int_equal(head(f), before + 2);
    engine_request_clear(&retry);
    for (int i = 0; i < 3; i++) {
        free(data[i].data);
    }
}

static void test_engine_group_isolates_requests(void **state)
{
    struct fixture *f = *state;
    world(f);
    uint64_t before = head(f);
    Ledger__V1__GrantPermission body;
    Ledger__V1__Command good = grant_command("c1", &body);
    good.command_id = "group-good";
    ProtobufCBinaryData good_data = pack_command(&good);
    Ledger__V1__Command bad = grant_command("c-unknown", &body);
    bad.command_id = "group-bad";
    ProtobufCBinaryData bad_data = pack_command(&bad);
    /* The same grant twice in one group: the second sees the first. */
    Ledger__V1__Command again = grant_command("c1", &body);
    again.command_id = "group-again";
    ProtobufCBinaryData again_data = pack_command(&again);
    struct engine_request requests[3] = {
        {.principal = &f->admin, .commands = &good_data, .command_count = 1},
        {.principal = &f->admin, .commands = &bad_data, .command_count = 1},
        {.principal = &f->admin, .commands = &again_data, .command_count = 1},
    };
    assert_int_equal(engine_execute(f->engine, requests, 3, f->now_us), LEDGER_ERR_OK);
    assert_int_equal(requests[0].err, LEDGER_ERR_OK);
    assert_int_equal(requests[1].err, LEDGER_ERR_CUSTOMER_NOT_FOUND);
    assert_int_equal(requests[2].err, LEDGER_ERR_PERMISSION_ALREADY_ON);
    assert_int_equal(head(f), before + 1);
    for (int i = 0; i < 3; i++) {
        engine_request_clear(&requests[i]);
    }
    free(good_data.data);
    free(bad_data.data);
    free(again_data.data);
}

/* A command id met twice before a commit: a batch holding the same command
 * twice records it once and answers the second as a duplicate of the first
 * (same sequence and version); a batch reusing an id for other content is
 * refused COMMAND_ID_REUSED at that command and appends nothing; and a
 * request resent within the same group (as a REQ socket resends) is a
 * duplicate of the first, not a second event. */
static void test_engine_command_id_twice_before_commit(void **state)
{
    struct fixture *f = *state;
    world(f);
    uint64_t before = head(f);
    Ledger__V1__GrantPermission body;
    Ledger__V1__Command c = grant_command("c1", &body);
    c.command_id = "twice-1";
    ProtobufCBinaryData same[2];
    same[0] = pack_command(&c);
    same[1] = same[0];
    struct engine_request request;
    assert_int_equal(run_bytes(f, &f->admin, same, 2, &request), LEDGER_ERR_OK);
    assert_false(request.results[0].message.duplicate);
    assert_true(request.results[1].message.duplicate);
    assert_int_equal(request.results[0].message.first_sequence, before + 1);
    assert_int_equal(request.results[1].message.first_sequence, before + 1);
    assert_int_equal(request.results[1].message.stream_version,
                     request.results[0].message.stream_version);
    assert_int_equal(head(f), before + 1);
    engine_request_clear(&request);

    /* The same id for other content within one batch: the whole batch is
     * refused at its second command. */
    Ledger__V1__GrantPermission plans_body;
    Ledger__V1__Command plans = grant_command("c1", &plans_body);
    plans_body.kind = LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_SAVINGS_PLANS;
    plans.command_id = "twice-2";
    Ledger__V1__RevokePermission revoke_body;
    Ledger__V1__Command revoke = revoke_command("c1", &revoke_body);
    revoke.command_id = "twice-2";
    ProtobufCBinaryData reused[2] = {pack_command(&plans), pack_command(&revoke)};
    assert_int_equal(run_bytes(f, &f->admin, reused, 2, &request), LEDGER_ERR_COMMAND_ID_REUSED);
    assert_int_equal(request.failed_index, 1);
    assert_null(request.results);
    assert_string_equal(request.message,
                        "command id 'twice-2' was already used for a different command; use a "
                        "new id");
    assert_int_equal(head(f), before + 1);
    engine_request_clear(&request);

    /* One request sent twice in one group: one event, the second a duplicate. */
    struct engine_request requests[2] = {
        {.principal = &f->admin, .commands = &reused[0], .command_count = 1},
        {.principal = &f->admin, .commands = &reused[0], .command_count = 1},
    };
    f->now_us += 1000000;
    assert_int_equal(engine_execute(f->engine, requests, 2, f->now_us), LEDGER_ERR_OK);
    assert_int_equal(requests[0].err, LEDGER_ERR_OK);
    assert_int_equal(requests[1].err, LEDGER_ERR_OK);
    assert_false(requests[0].results[0].message.duplicate);
    assert_true(requests[1].results[0].message.duplicate);
    assert_int_equal(requests[0].results[0].message.first_sequence, before + 2);
    assert_int_equal(requests[1].results[0].message.first_sequence, before + 2);
    assert_int_equal(head(f), before + 2);
    for (int i = 0; i < 2; i++) {
        engine_request_clear(&requests[i]);
    }
    free(same[0].data);
    free(reused[0].data);
    free(reused[1].data);
}

/* A refusal of a request signed ahead of the deciding clock raises the
 * refusal horizon in the store, in the commit that decided it, and a reopened
 * engine reads it back; refusals signed at or before the clock, accepted
 * requests ahead of it and an earlier horizon leave it where it was. */
static void test_engine_refusal_horizon_kept(void **state)
{
    struct fixture *f = *state;
    world(f);
    assert_int_equal(engine_refused_until(f->engine), 0);
    Ledger__V1__GrantPermission body;
    Ledger__V1__Command good = grant_command("c1", &body);
    good.command_id = "horizon-good";
    ProtobufCBinaryData good_data = pack_command(&good);
    Ledger__V1__Command bad = grant_command("c-unknown", &body);
    bad.command_id = "horizon-bad";
    ProtobufCBinaryData bad_data = pack_command(&bad);
    int64_t ahead_us = f->now_us + 90 * 1000000LL;
    struct engine_request requests[3] = {
        /* accepted though ahead: nothing to remember */
        {.principal = &f->admin,
         .commands = &good_data,
         .command_count = 1,
         .signed_us = ahead_us + 5000000},
        /* refused, signed behind the clock: a restart refuses it as stale */
        {.principal = &f->admin,
         .commands = &bad_data,
         .command_count = 1,
         .signed_us = f->now_us - 1},
        /* refused ahead of the clock: kept */
        {.principal = &f->admin, .commands = &bad_data, .command_count = 1, .signed_us = ahead_us},
    };
    assert_int_equal(engine_execute(f->engine, requests, 3, f->now_us), LEDGER_ERR_OK);
    assert_int_equal(requests[0].err, LEDGER_ERR_OK);
    assert_int_equal(requests[1].err, LEDGER_ERR_CUSTOMER_NOT_FOUND);
    assert_int_equal(requests[2].err, LEDGER_ERR_CUSTOMER_NOT_FOUND);
    assert_int_equal(engine_refused_until(f->engine), ahead_us);
    for (int i = 0; i < 3; i++) {
        engine_request_clear(&requests[i]);
    }

    /* An earlier refusal ahead of the clock does not lower it. */
    struct engine_request earlier = {.principal = &f->admin,
                                     .commands = &bad_data,
                                     .command_count = 1,
                                     .signed_us = ahead_us - 1000};
    assert_int_equal(engine_execute(f->engine, &earlier, 1, f->now_us), LEDGER_ERR_OK);
    assert_int_equal(earlier.err, LEDGER_ERR_CUSTOMER_NOT_FOUND);
    engine_request_clear(&earlier);
    assert_int_equal(engine_refused_until(f->engine), ahead_us);

    engine_close(f->engine);
    struct engine_options options = {.data_dir = f->dir};
    assert_int_equal(engine_open(&options, &f->engine), LEDGER_ERR_OK);
    assert_int_equal(engine_refused_until(f->engine), ahead_us);

    /* A backup carries it: a daemon started on the copy honours it too. */
    char root[512], dir[600];
    test_make_dir(root, sizeof root, "engine-horizon");
    snprintf(dir, sizeof dir, "%s/copy", root);
    assert_int_equal(engine_backup(f->engine, dir), LEDGER_ERR_OK);
    struct engine *copy = NULL;
    struct engine_options copy_options = {.data_dir = dir, .read_only = true};
    assert_int_equal(engine_open(&copy_options, &copy), LEDGER_ERR_OK);
    assert_int_equal(engine_refused_until(copy), ahead_us);
    engine_close(copy);
    test_remove_dir(root);
    free(good_data.data);
    free(bad_data.data);
}

/* A principal revoked earlier in the same group (or in a group committed
 * after its request was authenticated) is refused when its request is
 * decided: the authentication's snapshot of it is not trusted. */
static void test_engine_revocation_seen_within_group(void **state)
{
    struct fixture *f = *state;
    world(f);
    uint64_t before = head(f);
    Ledger__V1__RevokePrincipal revoke = LEDGER__V1__REVOKE_PRINCIPAL__INIT;
    revoke.principal_id = f->admin.id;
    Ledger__V1__Command revoke_command = LEDGER__V1__COMMAND__INIT;
    revoke_command.command_id = "revoke-admin";
    revoke_command.body_case = LEDGER__V1__COMMAND__BODY_REVOKE_PRINCIPAL;
    revoke_command.revoke_principal = &revoke;
    ProtobufCBinaryData revoke_data = pack_command(&revoke_command);
    Ledger__V1__GrantPermission body;
    Ledger__V1__Command grant = grant_command("c1", &body);
    grant.command_id = "grant-after-revoke";
    ProtobufCBinaryData grant_data = pack_command(&grant);
    /* f->admin was looked up before the revocation: revoked is false in it. */
    assert_false(f->admin.revoked);
    struct engine_request requests[2] = {
        {.principal = &f->operator_principal, .commands = &revoke_data, .command_count = 1},
        {.principal = &f->admin, .commands = &grant_data, .command_count = 1},
    };
    assert_int_equal(engine_execute(f->engine, requests, 2, f->now_us), LEDGER_ERR_OK);
    assert_int_equal(requests[0].err, LEDGER_ERR_OK);
    assert_int_equal(requests[1].err, LEDGER_ERR_PRINCIPAL_REVOKED);
    assert_non_null(strstr(requests[1].message, "was revoked before this request was decided"));
    assert_int_equal(head(f), before + 1);
    for (int i = 0; i < 2; i++) {
        engine_request_clear(&requests[i]);
    }
    /* And in a later group, with the same stale snapshot. */
    grant.command_id = "grant-later";
    free(grant_data.data);
    grant_data = pack_command(&grant);
    struct engine_request later = {
        .principal = &f->admin, .commands = &grant_data, .command_count = 1};
    assert_int_equal(engine_execute(f->engine, &later, 1, f->now_us), LEDGER_ERR_OK);
    assert_int_equal(later.err, LEDGER_ERR_PRINCIPAL_REVOKED);
    engine_request_clear(&later);
    assert_int_equal(head(f), before + 1);
    free(revoke_data.data);
    free(grant_data.data);
}

/* A principal row that no longer decodes is the storage's failure, not the
 * request's: the whole group fails CORRUPT and none of its requests, not
 * even those of other principals, is committed. */
static void test_engine_unreadable_principal_row_fails_the_group(void **state)
{
    struct fixture *f = *state;
    world(f);
    uint64_t before = head(f);
    struct store_txn *txn = NULL;
    assert_int_equal(store_begin(engine_store(f->engine), true, &txn), LEDGER_ERR_OK);
    const uint8_t garbage[] = {0xff, 0xff, 0xff, 0x01};
    assert_int_equal(store_put(txn, STORE_DB_PRINCIPAL, f->admin.id, strlen(f->admin.id), garbage,
                               sizeof garbage),
                     LEDGER_ERR_OK);
    assert_int_equal(store_commit(txn), LEDGER_ERR_OK);
    Ledger__V1__AddPartner partner = LEDGER__V1__ADD_PARTNER__INIT;
    partner.partner_id = "p2";
    partner.name = "Northwind";
    Ledger__V1__Command add = LEDGER__V1__COMMAND__INIT;
    add.command_id = "group-partner";
    add.body_case = LEDGER__V1__COMMAND__BODY_ADD_PARTNER;
    add.add_partner = &partner;
    add.partner_id = "p2";
    ProtobufCBinaryData add_data = pack_command(&add);
    Ledger__V1__GrantPermission body;
    Ledger__V1__Command grant = grant_command("c1", &body);
    body.kind = LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_SAVINGS_PLANS;
    grant.command_id = "group-grant";
    ProtobufCBinaryData grant_data = pack_command(&grant);
    struct engine_request requests[2] = {
        {.principal = &f->operator_principal, .commands = &add_data, .command_count = 1},
        {.principal = &f->admin, .commands = &grant_data, .command_count = 1},
    };
    assert_int_equal(engine_execute(f->engine, requests, 2, f->now_us), LEDGER_ERR_CORRUPT);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(requests[i].err, LEDGER_ERR_CORRUPT);
        assert_null(requests[i].results);
    }
    assert_int_equal(head(f), before);
    /* Alone, the operator's request is committed as new. */
    struct engine_request alone;
    assert_int_equal(run_bytes(f, &f->operator_principal, &add_data, 1, &alone), LEDGER_ERR_OK);
    assert_false(alone.results[0].message.duplicate);
    assert_int_equal(head(f), before + 1);
    engine_request_clear(&alone);
    free(add_data.data);
    free(grant_data.data);
}

/* Single-command requests change the group's customer state in place; a
 * longer batch works on its own copy. A batch refused part way in the middle
 * of a group must leave no trace in the state the later requests see. */
static void test_engine_group_mixes_single_and_batch(void **state)
{
    struct fixture *f = *state;
    world(f);
    uint64_t before = head(f);
    Ledger__V1__GrantPermission reservations_body, plans_body;
    Ledger__V1__Command reservations_again = grant_command("c1", &reservations_body);
    reservations_again.command_id = "mix-reservations";
    Ledger__V1__Command plans = grant_command("c1", &plans_body);
    plans_body.kind = LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_SAVINGS_PLANS;
    plans.command_id = "mix-plans-in-batch";
    ProtobufCBinaryData batch[2] = {pack_command(&plans), pack_command(&reservations_again)};
    Ledger__V1__Command plans_alone = plans;
    plans_alone.command_id = "mix-plans-alone";
    ProtobufCBinaryData alone = pack_command(&plans_alone);
    Ledger__V1__Command plans_twice = plans;
    plans_twice.command_id = "mix-plans-twice";
    ProtobufCBinaryData twice = pack_command(&plans_twice);
    struct engine_request requests[3] = {
        /* Savings plans on, then reservations again (already on): refused
         * at its second command, so the first must be undone too. */
        {.principal = &f->admin, .commands = batch, .command_count = 2},
        /* Sees savings plans still off: accepted. */
        {.principal = &f->admin, .commands = &alone, .command_count = 1},
        /* Sees the one before: refused. */
        {.principal = &f->admin, .commands = &twice, .command_count = 1},
    };
    /* The reservations permission is already on (world), so the batch fails. */
    Ledger__V1__Command first_on = grant_command("c1", &reservations_body);
    first_on.command_id = "mix-first-on";
    struct engine_request on;
    enum ledger_err first = run(f, &f->admin, &first_on, &on);
    assert_true(first == LEDGER_ERR_OK || first == LEDGER_ERR_PERMISSION_ALREADY_ON);
    if (first == LEDGER_ERR_OK) {
        engine_request_clear(&on);
    }
    before = head(f);
    assert_int_equal(engine_execute(f->engine, requests, 3, f->now_us), LEDGER_ERR_OK);
    assert_int_equal(requests[0].err, LEDGER_ERR_PERMISSION_ALREADY_ON);
    assert_int_equal(requests[0].failed_index, 1);
    assert_int_equal(requests[1].err, LEDGER_ERR_OK);
    assert_int_equal(requests[2].err, LEDGER_ERR_PERMISSION_ALREADY_ON);
    assert_int_equal(head(f), before + 1);
    for (int i = 0; i < 3; i++) {
        engine_request_clear(&requests[i]);
    }
    /* The cached state agrees with the log: after a reopen (states replayed
     * from the log) the same command is refused the same way. */
    struct engine_request again;
    plans_twice.command_id = "mix-plans-after";
    assert_int_equal(run(f, &f->admin, &plans_twice, &again), LEDGER_ERR_PERMISSION_ALREADY_ON);
    engine_close(f->engine);
    struct engine_options options = {.data_dir = f->dir};
    assert_int_equal(engine_open(&options, &f->engine), LEDGER_ERR_OK);
    plans_twice.command_id = "mix-plans-reopened";
    assert_int_equal(run(f, &f->admin, &plans_twice, &again), LEDGER_ERR_PERMISSION_ALREADY_ON);
    free(batch[0].data);
    free(batch[1].data);
    free(alone.data);
    free(twice.data);
}

/* The state cache is bounded in bytes as well as in states: past the bound it
 * is emptied after a commit and states reload from the log, with the same
 * decisions. */
static void test_engine_state_cache_byte_bound(void **state)
{
    struct fixture *f = *state;
    world(f);
    struct engine_cache_usage usage;
    engine_state_cache(f->engine, &usage);
    assert_true(usage.states >= 1);
    assert_true(usage.bytes > 0 && usage.bytes <= usage.bytes_max);
    assert_int_equal(usage.bytes_max, LEDGER_STATE_CACHE_BYTES_MAX);
    assert_int_equal(usage.clears, 0);
    /* The bytes are those of the states held: a state taken from the cache
     * for a command that changes nothing goes back counted once. */
    uint64_t held = usage.bytes;
    for (int i = 0; i < 3; i++) {
        Ledger__V1__GrantPermission unknown_body;
        Ledger__V1__Command unknown = grant_command("c1", &unknown_body);
        unknown.check_version = 1;
        unknown.expected_version = 1000;
        assert_int_equal(run(f, &f->admin, &unknown, NULL), LEDGER_ERR_VERSION_CONFLICT);
        engine_state_cache(f->engine, &usage);
        assert_int_equal(usage.bytes, held);
    }

    engine_close(f->engine);
    struct engine_options tiny = {.data_dir = f->dir, .state_cache_bytes_max = 1};
    assert_int_equal(engine_open(&tiny, &f->engine), LEDGER_ERR_OK);
    Ledger__V1__GrantPermission body;
    Ledger__V1__Command plans = grant_command("c1", &body);
    body.kind = LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_SAVINGS_PLANS;
    plans.command_id = "cache-plans-1";
    struct engine_request request;
    assert_int_equal(run(f, &f->admin, &plans, &request), LEDGER_ERR_OK);
    engine_request_clear(&request);
    engine_state_cache(f->engine, &usage);
    assert_int_equal(usage.states, 0);
    assert_int_equal(usage.bytes, 0);
    assert_int_equal(usage.bytes_max, 1);
    assert_int_equal(usage.clears, 1);
    /* The state reloads from the log: the same grant is already in effect. */
    plans.command_id = "cache-plans-2";
    assert_int_equal(run(f, &f->admin, &plans, &request), LEDGER_ERR_PERMISSION_ALREADY_ON);
    engine_state_cache(f->engine, &usage);
    assert_int_equal(usage.clears, 2);
}

static void test_engine_refusals_append_nothing(void **state)
{
    struct fixture *f = *state;
    world(f);
    uint64_t before = head(f);
    /* The customer may not buy: the permission is off. */
    assert_int_equal(buy_reservation(f, &f->customer_user, "c1", "s1", NULL),
                     LEDGER_ERR_PERMISSION_OFF);
    /* Another partner's admin may not touch p1's customer. */
    struct engine_principal other =
        make_principal("admin-9", LEDGER__V1__ROLE__ROLE_ADMIN_AGENT, "p9", "", "");
    Ledger__V1__GrantPermission body;
    Ledger__V1__Command c = grant_command("c1", &body);
    c.partner_id = "p1";
    assert_int_equal(run(f, &other, &c, NULL), LEDGER_ERR_PARTNER_MISMATCH);
    /* A customer command that names no customer: a role that may not send
     * it at all is told so (the role table comes first), one that may is
     * told what is missing. */
    struct engine_principal auditor =
        make_principal("auditor-p1", LEDGER__V1__ROLE__ROLE_AUDITOR, "p1", "", "");
    Ledger__V1__Command no_customer = grant_command("", &body);
    struct engine_request refused;
    assert_int_equal(run(f, &auditor, &no_customer, &refused), LEDGER_ERR_FORBIDDEN);
    assert_non_null(strstr(refused.message, "role auditor may not grant permission"));
    engine_request_clear(&refused);
    no_customer = grant_command("", &body);
    assert_int_equal(run(f, &f->admin, &no_customer, &refused), LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(refused.message, "customer_id must be 1..64 characters"));
    engine_request_clear(&refused);
    /* Garbage bytes are not a command. */
    uint8_t garbage[] = {0xff, 0xff, 0xff, 0x01};
    ProtobufCBinaryData data = {.len = sizeof garbage, .data = garbage};
    assert_int_equal(run_bytes(f, &f->admin, &data, 1, NULL), LEDGER_ERR_BAD_REQUEST);
    /* A command without an id. */
    Ledger__V1__Command no_id = grant_command("c1", &body);
    no_id.command_id = "";
    ProtobufCBinaryData no_id_data = pack_command(&no_id);
    struct engine_request request;
    assert_int_equal(run_bytes(f, &f->admin, &no_id_data, 1, &request),
                     LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(request.message, "command_id must be 1..64 characters"));
    engine_request_clear(&request);
    free(no_id_data.data);
    /* An empty batch and one over the limit (refused before any command of
     * it is read: its commands are garbage). */
    assert_int_equal(run_bytes(f, &f->admin, NULL, 0, NULL), LEDGER_ERR_INVALID_ARGUMENT);
    ProtobufCBinaryData *many = calloc(LEDGER_BATCH_COMMANDS_DEFAULT + 1, sizeof *many);
    assert_non_null(many);
    for (size_t i = 0; i < LEDGER_BATCH_COMMANDS_DEFAULT + 1; i++) {
        many[i] = data;
    }
    assert_int_equal(run_bytes(f, &f->admin, many, LEDGER_BATCH_COMMANDS_DEFAULT + 1, &request),
                     LEDGER_ERR_BATCH_TOO_LARGE);
    char expected[ENGINE_MESSAGE_SIZE];
    snprintf(expected, sizeof expected, "the batch holds %u commands; at most %u are allowed",
             LEDGER_BATCH_COMMANDS_DEFAULT + 1, LEDGER_BATCH_COMMANDS_DEFAULT);
    assert_non_null(strstr(request.message, expected));
    engine_request_clear(&request);
    free(many);
    assert_int_equal(head(f), before);
}

/* A batch may hold as many commands as the engine was opened with, and
 * no more. */
static void test_engine_batch_of_the_most_commands(void **state)
{
    struct fixture *f = *state;
    engine_close(f->engine);
    struct engine_options options = {.data_dir = f->dir, .batch_commands_max = 3};
    assert_int_equal(engine_open(&options, &f->engine), LEDGER_ERR_OK);
    uint64_t before = head(f);
    Ledger__V1__AddPartner bodies[4];
    Ledger__V1__Command commands[4];
    char partners[4][16], ids[4][16];
    ProtobufCBinaryData data[4];
    for (int i = 0; i < 4; i++) {
        Ledger__V1__AddPartner body_init = LEDGER__V1__ADD_PARTNER__INIT;
        Ledger__V1__Command command_init = LEDGER__V1__COMMAND__INIT;
        bodies[i] = body_init;
        commands[i] = command_init;
        snprintf(partners[i], sizeof partners[i], "p-most-%d", i);
        snprintf(ids[i], sizeof ids[i], "most-%d", i);
        bodies[i].partner_id = partners[i];
        bodies[i].name = "Contoso Ltd";
        commands[i].command_id = ids[i];
        commands[i].partner_id = partners[i];
        commands[i].body_case = LEDGER__V1__COMMAND__BODY_ADD_PARTNER;
        commands[i].add_partner = &bodies[i];
        data[i] = pack_command(&commands[i]);
    }
    struct engine_request request;
    assert_int_equal(run_bytes(f, &f->operator_principal, data, 4, &request),
                     LEDGER_ERR_BATCH_TOO_LARGE);
    assert_non_null(strstr(request.message, "at most 3 are allowed"));
    engine_request_clear(&request);
    assert_int_equal(head(f), before);
    assert_int_equal(run_bytes(f, &f->operator_principal, data, 3, &request), LEDGER_ERR_OK);
    assert_int_equal(request.results[2].message.first_sequence, before + 3);
    engine_request_clear(&request);
    assert_int_equal(head(f), before + 3);
    for (int i = 0; i < 4; i++) {
        free(data[i].data);
    }
}

static void test_engine_customer_purchase_and_explain(void **state)
{
    struct fixture *f = *state;
    world(f);
    Ledger__V1__GrantPermission body;
    Ledger__V1__Command c = grant_command("c1", &body);
    struct engine_request grant;
    assert_int_equal(run(f, &f->admin, &c, &grant), LEDGER_ERR_OK);
    uint64_t grant_sequence = appended_sequence(&grant);
    struct engine_request purchase;
    assert_int_equal(buy_reservation(f, &f->customer_user, "c1", "s1", &purchase), LEDGER_ERR_OK);
    char expected_id[32];
    snprintf(expected_id, sizeof expected_id, "res-%llu",
             (unsigned long long)purchase.results[0].message.first_sequence);
    assert_string_equal(purchase.results[0].message.reservation_id, expected_id);
    uint64_t purchase_sequence = appended_sequence(&purchase);

    Ledger__V1__QueryResult *result = explained(f, purchase_sequence);
    Ledger__V1__Explanation *e = result->explanation;
    assert_non_null(e->permission);
    assert_non_null(e->role);
    assert_int_equal(e->permission->event->sequence, grant_sequence);
    assert_int_equal(e->role->event->body_case, LEDGER__V1__EVENT__BODY_ROLE_ASSIGNED);
    /* The buyer's PrincipalAdded and the billing subscription's purchase. */
    assert_non_null(e->principal);
    assert_int_equal(e->principal->event->body_case, LEDGER__V1__EVENT__BODY_PRINCIPAL_ADDED);
    assert_string_equal(e->principal->event->principal_added->principal_id, f->customer_user.id);
    assert_int_equal(e->principal->event->principal_added->role,
                     LEDGER__V1__ROLE__ROLE_CUSTOMER_USER);
    assert_non_null(e->subscription);
    assert_int_equal(e->subscription->event->body_case,
                     LEDGER__V1__EVENT__BODY_SUBSCRIPTION_PURCHASED);
    assert_string_equal(e->subscription->event->subscription_purchased->subscription_id, "s1");
    assert_true(e->subscription->event->sequence < purchase_sequence);
    /* Each fact's inclusion proof verifies against the signed head. */
    const Ledger__V1__SignedHead *h = e->head;
    assert_int_equal(h->tree_size, head(f));
    uint8_t encoded[MERKLE_HEAD_BYTES];
    merkle_head_encode(h->tree_size, h->root_hash.data, h->timestamp_us, encoded);
    assert_true(
        crypto_ed25519_verify(h->public_key.data, encoded, sizeof encoded, h->signature.data));
    Ledger__V1__EventEntry *entries[] = {e->purchase, e->permission, e->role, e->principal,
                                         e->subscription};
    for (size_t i = 0; i < sizeof entries / sizeof entries[0]; i++) {
        const Ledger__V1__InclusionProof *p = entries[i]->proof;
        uint8_t leaf[32];
        crypto_sha256_prefixed(0x00, entries[i]->record.data, entries[i]->record.len, leaf);
        assert_memory_equal(leaf, p->leaf_hash.data, 32);
        uint8_t path[MERKLE_PATH_MAX][MERKLE_HASH_BYTES];
        for (size_t k = 0; k < p->n_path; k++) {
            memcpy(path[k], p->path[k].data, MERKLE_HASH_BYTES);
        }
        assert_true(merkle_verify_inclusion(leaf, p->sequence - 1, p->tree_size,
                                            (const uint8_t(*)[MERKLE_HASH_BYTES])path, p->n_path,
                                            h->root_hash.data));
    }
    engine_result_free(result);

    /* A customer user may not explain (auditors' query). */
    Ledger__V1__ExplainQuery explain;
    Ledger__V1__Query q;
    explain_query(&q, &explain, purchase_sequence);
    char message[ENGINE_MESSAGE_SIZE];
    assert_int_equal(engine_query(f->engine, &f->customer_user, &q, f->now_us, &result, message),
                     LEDGER_ERR_FORBIDDEN);
}

/* A purchase recorded after the grant and the role assignment that allowed
 * it were revoked and removed (and made again), but dated while they were in
 * force, is accepted, and explain names those, not the ones in force now. */
static void test_engine_explain_back_dated_purchase(void **state)
{
    struct fixture *f = *state;
    world(f);
    uint64_t first_role = head(f); /* world's last command assigns alice Owner */
    Ledger__V1__GrantPermission body;
    Ledger__V1__Command grant = grant_command("c1", &body);
    struct engine_request request;
    assert_int_equal(run(f, &f->admin, &grant, &request), LEDGER_ERR_OK);
    uint64_t first_grant = appended_sequence(&request);
    int64_t granted_us = f->now_us; /* the grant is dated when it was recorded */

    assert_int_equal(set_owner(f, "c1", "s1", "alice", false), LEDGER_ERR_OK);
    Ledger__V1__RevokePermission revoke_body;
    Ledger__V1__Command revoke = revoke_command("c1", &revoke_body);
    assert_int_equal(run(f, &f->admin, &revoke, NULL), LEDGER_ERR_OK);
    /* Off now, and no role: a purchase dated now is refused, one dated
     * while both were in force is not. */
    assert_int_equal(buy_reservation(f, &f->customer_user, "c1", "s1", NULL),
                     LEDGER_ERR_PERMISSION_OFF);
    struct engine_request purchase;
    assert_int_equal(
        buy_reservation_dated(f, &f->customer_user, "c1", "s1", granted_us + 500000, &purchase),
        LEDGER_ERR_OK);
    uint64_t off_now = appended_sequence(&purchase);

    /* Both in force again, from later dates. */
    assert_int_equal(run(f, &f->admin, &grant, &request), LEDGER_ERR_OK);
    uint64_t second_grant = appended_sequence(&request);
    assert_int_equal(assign_owner(f, "c1", "s1", "alice"), LEDGER_ERR_OK);
    uint64_t second_role = head(f);
    assert_int_equal(
        buy_reservation_dated(f, &f->customer_user, "c1", "s1", granted_us + 500000, &purchase),
        LEDGER_ERR_OK);
    uint64_t on_again = appended_sequence(&purchase);
    assert_int_equal(buy_reservation(f, &f->customer_user, "c1", "s1", &purchase), LEDGER_ERR_OK);
    uint64_t now = appended_sequence(&purchase);

    const struct {
        uint64_t purchase, grant, role;
    } cases[] = {
        {off_now, first_grant, first_role},
        {on_again, first_grant, first_role},
        {now, second_grant, second_role},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Ledger__V1__QueryResult *result = explained(f, cases[i].purchase);
        const Ledger__V1__Explanation *e = result->explanation;
        assert_non_null(e->permission);
        assert_int_equal(e->permission->event->sequence, cases[i].grant);
        assert_int_equal(e->permission->event->body_case,
                         LEDGER__V1__EVENT__BODY_PURCHASE_PERMISSION_GRANTED);
        assert_non_null(e->role);
        assert_int_equal(e->role->event->sequence, cases[i].role);
        assert_int_equal(e->role->event->body_case, LEDGER__V1__EVENT__BODY_ROLE_ASSIGNED);
        assert_true(e->permission->event->business_us <= e->purchase->event->business_us);
        assert_true(e->role->event->business_us <= e->purchase->event->business_us);
        engine_result_free(result);
    }
}

/* A purchase dated within a permission grant that was itself dated back
 * and was revoked later: a revocation dated at or before the purchase is
 * refused, one dated after it is not, and explain names the back-dated
 * grant (dated at or before the purchase), with proofs against the head,
 * whether the purchase was recorded before the revocation or after it. */
static void test_engine_explain_purchase_under_back_dated_grant(void **state)
{
    struct fixture *f = *state;
    world(f);
    const int64_t world_us = f->now_us;
    const int64_t hour_us = INT64_C(3600000000);
    f->now_us = world_us + 24 * hour_us;
    Ledger__V1__GrantPermission body;
    Ledger__V1__Command grant = grant_command("c1", &body);
    grant.business_us = world_us + hour_us;
    struct engine_request request;
    assert_int_equal(run(f, &f->admin, &grant, &request), LEDGER_ERR_OK);
    uint64_t granted = appended_sequence(&request);
    struct engine_request purchase;
    assert_int_equal(
        buy_reservation_dated(f, &f->customer_user, "c1", "s1", world_us + 2 * hour_us, &purchase),
        LEDGER_ERR_OK);
    uint64_t before_revocation = appended_sequence(&purchase);

    Ledger__V1__RevokePermission revoke_body;
    Ledger__V1__Command revoke = revoke_command("c1", &revoke_body);
    revoke.business_us = world_us + 2 * hour_us;
    assert_int_equal(run(f, &f->admin, &revoke, NULL), LEDGER_ERR_INVALID_ARGUMENT);
    revoke.business_us = world_us + 3 * hour_us;
    assert_int_equal(run(f, &f->admin, &revoke, NULL), LEDGER_ERR_OK);
    /* Recorded after the revocation, dated while the grant was in force. */
    assert_int_equal(buy_reservation_dated(f, &f->customer_user, "c1", "s1",
                                           world_us + 2 * hour_us + 1, &purchase),
                     LEDGER_ERR_OK);
    uint64_t after_revocation = appended_sequence(&purchase);
    assert_int_equal(
        buy_reservation_dated(f, &f->customer_user, "c1", "s1", world_us + 3 * hour_us, &purchase),
        LEDGER_ERR_PERMISSION_OFF);

    const uint64_t purchases[] = {before_revocation, after_revocation};
    for (size_t i = 0; i < 2; i++) {
        Ledger__V1__QueryResult *result = explained(f, purchases[i]);
        const Ledger__V1__Explanation *e = result->explanation;
        assert_non_null(e->permission);
        assert_int_equal(e->permission->event->sequence, granted);
        assert_true(e->permission->event->business_us == world_us + hour_us);
        assert_true(e->permission->event->business_us <= e->purchase->event->business_us);
        assert_non_null(e->role);
        assert_true(e->role->event->business_us <= e->purchase->event->business_us);
        const Ledger__V1__EventEntry *facts[] = {e->purchase, e->permission, e->role, e->principal,
                                                 e->subscription};
        for (size_t k = 0; k < sizeof facts / sizeof facts[0]; k++) {
            assert_non_null(facts[k]);
            assert_non_null(facts[k]->proof);
            assert_int_equal(facts[k]->proof->tree_size, e->head->tree_size);
            assert_int_equal(facts[k]->proof->sequence, facts[k]->event->sequence);
        }
        engine_result_free(result);
    }
}

static void test_engine_events_paging_and_scope(void **state)
{
    struct fixture *f = *state;
    world(f);
    /* A second partner with a customer of its own. */
    assert_int_equal(add_partner(f, "p2"), LEDGER_ERR_OK);
    struct engine_principal admin2 =
        make_principal("admin-p2", LEDGER__V1__ROLE__ROLE_ADMIN_AGENT, "p2", "", "");
    assert_int_equal(add_principal(f, &admin2), LEDGER_ERR_OK);
    struct engine_principal saved = f->admin;
    f->admin = admin2;
    assert_int_equal(onboard(f, "c2"), LEDGER_ERR_OK);
    f->admin = saved;

    struct engine_principal auditor =
        make_principal("auditor-p1", LEDGER__V1__ROLE__ROLE_AUDITOR, "p1", "", "");
    Ledger__V1__EventsQuery events = LEDGER__V1__EVENTS_QUERY__INIT;
    events.limit = 2;
    Ledger__V1__Query q = LEDGER__V1__QUERY__INIT;
    q.kind_case = LEDGER__V1__QUERY__KIND_EVENTS;
    q.events = &events;
    char message[ENGINE_MESSAGE_SIZE];
    uint64_t seen = 0, last = 0;
    for (int page = 0; page < 100; page++) {
        Ledger__V1__QueryResult *result = NULL;
        assert_int_equal(engine_query(f->engine, &auditor, &q, f->now_us, &result, message),
                         LEDGER_ERR_OK);
        for (size_t i = 0; i < result->n_events; i++) {
            assert_string_equal(result->events[i]->event->partner_id, "p1");
            assert_true(result->events[i]->event->sequence > last);
            last = result->events[i]->event->sequence;
            seen++;
        }
        bool done = result->last_sequence == events.after_sequence;
        events.after_sequence = result->last_sequence;
        engine_result_free(result);
        if (done) {
            break;
        }
    }
    assert_int_equal(events.after_sequence, head(f));
    /* p1's events: partner, two principals bound to p1, onboard, subscription, role. */
    assert_true(seen >= 4);

    /* Asking for another partner is refused. */
    q.partner_id = "p2";
    Ledger__V1__QueryResult *result = NULL;
    assert_int_equal(engine_query(f->engine, &auditor, &q, f->now_us, &result, message),
                     LEDGER_ERR_PARTNER_MISMATCH);
    /* An unknown event type is refused with a clear error. */
    q.partner_id = "";
    char *types[] = {"no_such_event"};
    events.types = types;
    events.n_types = 1;
    assert_int_equal(engine_query(f->engine, &auditor, &q, f->now_us, &result, message),
                     LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(message, "no_such_event"));
}

/* Runs one query as `principal`; frees the result; returns the code. */
static enum ledger_err query_code(struct fixture *f, const struct engine_principal *principal,
                                  const Ledger__V1__Query *q, char message[ENGINE_MESSAGE_SIZE])
{
    Ledger__V1__QueryResult *result = NULL;
    enum ledger_err err = engine_query(f->engine, principal, q, f->now_us, &result, message);
    if (err == LEDGER_ERR_OK) {
        engine_result_free(result);
    } else {
        assert_null(result);
        assert_true(strlen(message) > 10);
    }
    return err;
}

/* An as_of point past the latest time the ledger records
 * (LEDGER_TIME_US_MAX), by recorded or by business time, is refused with a
 * message naming the field and the bound; the bound itself is a point. */
static void test_engine_as_of_past_latest_time_refused(void **state)
{
    struct fixture *f = *state;
    world(f);
    Ledger__V1__AsOf as_of = LEDGER__V1__AS_OF__INIT;
    Ledger__V1__ReservationsQuery reservations = LEDGER__V1__RESERVATIONS_QUERY__INIT;
    reservations.customer_id = "c1";
    reservations.as_of = &as_of;
    Ledger__V1__Query q = LEDGER__V1__QUERY__INIT;
    q.kind_case = LEDGER__V1__QUERY__KIND_RESERVATIONS;
    q.reservations = &reservations;
    char message[ENGINE_MESSAGE_SIZE];
    char bound[32];
    snprintf(bound, sizeof bound, "%lld", (long long)LEDGER_TIME_US_MAX);
    int64_t *fields[] = {&as_of.business_time_us, &as_of.time_us};
    const char *names[] = {"as_of.business_time_us ", "as_of.time_us "};
    for (size_t i = 0; i < 2; i++) {
        *fields[i] = LEDGER_TIME_US_MAX;
        assert_int_equal(query_code(f, &f->admin, &q, message), LEDGER_ERR_OK);
        const int64_t past[] = {LEDGER_TIME_US_MAX + 1, INT64_MAX};
        for (size_t k = 0; k < 2; k++) {
            *fields[i] = past[k];
            assert_int_equal(query_code(f, &f->admin, &q, message), LEDGER_ERR_INVALID_ARGUMENT);
            assert_non_null(strstr(message, names[i]));
            assert_non_null(strstr(message, bound));
        }
        *fields[i] = 0;
    }
}

/* The operator's stats answer names each figure of the store once: the
 * head, the map's size, its largest size, the bytes in use, and the reader
 * slots in use and there are. */
static void test_engine_stats_name_each_store_figure(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(add_partner(f, "p1"), LEDGER_ERR_OK);
    Ledger__V1__StatsQuery stats = LEDGER__V1__STATS_QUERY__INIT;
    Ledger__V1__Query q = LEDGER__V1__QUERY__INIT;
    q.kind_case = LEDGER__V1__QUERY__KIND_STATS;
    q.stats = &stats;
    Ledger__V1__QueryResult *result = NULL;
    char message[ENGINE_MESSAGE_SIZE];
    assert_int_equal(
        engine_query(f->engine, &f->operator_principal, &q, f->now_us, &result, message),
        LEDGER_ERR_OK);
    static const char *const names[] = {
        "ledger_head_sequence",  "ledger_map_bytes",    "ledger_map_bytes_max",
        "ledger_map_used_bytes", "ledger_readers_used", "ledger_readers_max",
    };
    double values[sizeof names / sizeof names[0]];
    for (size_t n = 0; n < sizeof names / sizeof names[0]; n++) {
        size_t found = 0;
        for (size_t i = 0; i < result->n_stats; i++) {
            if (strcmp(result->stats[i]->name, names[n]) == 0) {
                assert_string_equal(result->stats[i]->labels, "");
                values[n] = result->stats[i]->value;
                found++;
            }
        }
        if (found != 1) {
            fail_msg("%s is in the stats answer %zu times", names[n], found);
        }
    }
    assert_int_equal(result->n_stats, sizeof names / sizeof names[0]);
    assert_true(values[0] == (double)head(f));
    assert_true(values[1] > 0 && values[1] <= values[2]);
    assert_true(values[3] > 0 && values[3] <= values[1]);
    assert_true(values[4] <= values[5] && values[5] > 0);
    engine_result_free(result);
}

/* A customer's savings plan purchase is explained by its savings-plans
 * permission and the buyer's role; explain refuses what is not a purchase,
 * what is not in the log, and another partner's purchase. */
static void test_engine_explain_savings_plan_and_refusals(void **state)
{
    struct fixture *f = *state;
    world(f);
    Ledger__V1__GrantPermission body;
    Ledger__V1__Command c = grant_command("c1", &body);
    body.kind = LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_SAVINGS_PLANS;
    struct engine_request grant;
    assert_int_equal(run(f, &f->admin, &c, &grant), LEDGER_ERR_OK);
    uint64_t grant_sequence = appended_sequence(&grant);
    struct engine_request purchase;
    assert_int_equal(buy_savings_plan(f, &f->customer_user, "c1", "s1", &purchase), LEDGER_ERR_OK);
    uint64_t purchase_sequence = appended_sequence(&purchase);

    Ledger__V1__QueryResult *result = explained(f, purchase_sequence);
    const Ledger__V1__Explanation *e = result->explanation;
    assert_int_equal(e->purchase->event->body_case, LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_PURCHASED);
    assert_non_null(e->permission);
    assert_int_equal(e->permission->event->sequence, grant_sequence);
    assert_int_equal(e->permission->event->purchase_permission_granted->kind,
                     LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_SAVINGS_PLANS);
    assert_non_null(e->role);
    assert_int_equal(e->role->event->body_case, LEDGER__V1__EVENT__BODY_ROLE_ASSIGNED);
    assert_non_null(e->purchase->proof);
    assert_non_null(e->permission->proof);
    engine_result_free(result);

    /* A partner's own purchase needs no permission: it is allowed by the
     * agent's role (its PrincipalAdded) and an eligible subscription. */
    struct engine_request partner_purchase;
    assert_int_equal(buy_reservation(f, &f->admin, "c1", "s1", &partner_purchase), LEDGER_ERR_OK);
    result = explained(f, appended_sequence(&partner_purchase));
    e = result->explanation;
    assert_non_null(e->purchase);
    assert_null(e->permission);
    assert_null(e->role);
    assert_non_null(e->principal);
    assert_string_equal(e->principal->event->principal_added->principal_id, f->admin.id);
    assert_int_equal(e->principal->event->principal_added->role,
                     LEDGER__V1__ROLE__ROLE_ADMIN_AGENT);
    assert_non_null(e->principal->proof);
    assert_non_null(e->subscription);
    assert_string_equal(e->subscription->event->subscription_purchased->subscription_id, "s1");
    assert_non_null(e->subscription->proof);
    engine_result_free(result);

    /* Not in the log: 0 and past the head. */
    struct engine_principal auditor =
        make_principal("auditor-1", LEDGER__V1__ROLE__ROLE_AUDITOR, "p1", "", "");
    Ledger__V1__ExplainQuery explain;
    Ledger__V1__Query q;
    explain_query(&q, &explain, 0);
    char message[ENGINE_MESSAGE_SIZE];
    assert_int_equal(query_code(f, &auditor, &q, message), LEDGER_ERR_NOT_FOUND);
    explain.sequence = head(f) + 1;
    assert_int_equal(query_code(f, &auditor, &q, message), LEDGER_ERR_NOT_FOUND);
    assert_non_null(strstr(message, "not in the log"));
    /* Not a purchase: the grant itself. */
    explain.sequence = grant_sequence;
    assert_int_equal(query_code(f, &auditor, &q, message), LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(message, "explain answers for purchases, exchanges and renewals only"));
    /* Another partner's auditor may not see p1's purchase. */
    struct engine_principal other =
        make_principal("auditor-9", LEDGER__V1__ROLE__ROLE_AUDITOR, "p9", "", "");
    explain.sequence = purchase_sequence;
    assert_int_equal(query_code(f, &other, &q, message), LEDGER_ERR_PARTNER_MISMATCH);
}

/* A Query.partner_id that is no id is INVALID_ARGUMENT for every principal,
 * partner-bound ones included (which compared it with their own partner and
 * quoted it in a PARTNER_MISMATCH message, control characters and all);
 * another partner's valid id stays PARTNER_MISMATCH. */
static void test_engine_query_partner_not_an_id(void **state)
{
    struct fixture *f = *state;
    world(f);
    struct engine_principal bound =
        make_principal("auditor-1", LEDGER__V1__ROLE__ROLE_AUDITOR, "p1", "", "");
    struct engine_principal all =
        make_principal("auditor-all", LEDGER__V1__ROLE__ROLE_AUDITOR, "", "", "");
    const struct engine_principal *principals[] = {&bound, &all, &f->customer_user};
    Ledger__V1__ReservationsQuery reservations = LEDGER__V1__RESERVATIONS_QUERY__INIT;
    reservations.customer_id = "c1";
    Ledger__V1__Query q = LEDGER__V1__QUERY__INIT;
    q.kind_case = LEDGER__V1__QUERY__KIND_RESERVATIONS;
    q.reservations = &reservations;
    char message[ENGINE_MESSAGE_SIZE];
    for (size_t i = 0; i < sizeof principals / sizeof principals[0]; i++) {
        q.partner_id = "p2\x1b[2J\nforged line";
        assert_int_equal(query_code(f, principals[i], &q, message), LEDGER_ERR_INVALID_ARGUMENT);
        assert_string_equal(message, "partner_id must be 1..64 characters of [A-Za-z0-9.:@-]");
    }
    q.partner_id = "p9";
    assert_int_equal(query_code(f, &bound, &q, message), LEDGER_ERR_PARTNER_MISMATCH);
    assert_non_null(strstr(message, "may not read partner p9's data"));
}

/* Every refusal of the events query: each with its code and a message. */
static void test_engine_events_query_refusals(void **state)
{
    struct fixture *f = *state;
    world(f);
    assert_int_equal(onboard(f, "c2"), LEDGER_ERR_OK);
    struct engine_principal auditor =
        make_principal("auditor-all", LEDGER__V1__ROLE__ROLE_AUDITOR, "", "", "");
    Ledger__V1__EventsQuery events = LEDGER__V1__EVENTS_QUERY__INIT;
    Ledger__V1__Query q = LEDGER__V1__QUERY__INIT;
    q.kind_case = LEDGER__V1__QUERY__KIND_EVENTS;
    q.events = &events;
    char message[ENGINE_MESSAGE_SIZE];
    assert_int_equal(query_code(f, &auditor, &q, message), LEDGER_ERR_OK);

    events.tree_size = head(f) + 1;
    assert_int_equal(query_code(f, &auditor, &q, message), LEDGER_ERR_NOT_FOUND);
    assert_non_null(strstr(message, "past the head"));
    /* Without the head's size: not every role may read the head. */
    assert_null(strpbrk(strstr(message, "past the head"), "0123456789"));
    events.tree_size = 0;

    events.limit = LEDGER_EVENTS_PAGE_MAX + 1;
    assert_int_equal(query_code(f, &auditor, &q, message), LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(message, "limit"));
    events.limit = LEDGER_EVENTS_PAGE_MAX;
    assert_int_equal(query_code(f, &auditor, &q, message), LEDGER_ERR_OK);
    events.limit = 0;

    char *types[LEDGER_EVENT_TYPES_FILTER_MAX + 1];
    for (size_t i = 0; i < LEDGER_EVENT_TYPES_FILTER_MAX + 1; i++) {
        types[i] = "customer_onboarded";
    }
    events.types = types;
    events.n_types = LEDGER_EVENT_TYPES_FILTER_MAX + 1;
    assert_int_equal(query_code(f, &auditor, &q, message), LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(message, "event types"));
    events.n_types = LEDGER_EVENT_TYPES_FILTER_MAX;
    assert_int_equal(query_code(f, &auditor, &q, message), LEDGER_ERR_OK);
    events.n_types = 0;
    events.types = NULL;

    /* A partner id that is no id, from a principal bound to no partner; and
     * another partner's, from one bound to p1. */
    q.partner_id = "p_1";
    assert_int_equal(query_code(f, &auditor, &q, message), LEDGER_ERR_INVALID_ARGUMENT);
    assert_string_equal(message, "partner_id must be 1..64 characters of [A-Za-z0-9.:@-]");
    struct engine_principal auditor_p1 =
        make_principal("auditor-p1", LEDGER__V1__ROLE__ROLE_AUDITOR, "p1", "", "");
    q.partner_id = "p2";
    assert_int_equal(query_code(f, &auditor_p1, &q, message), LEDGER_ERR_PARTNER_MISMATCH);
    assert_string_equal(message, "principal auditor-p1 belongs to partner p1 and may not read "
                                 "partner p2's data: leave out the partner (--partner), or give "
                                 "p1");
    q.partner_id = "";

    /* A customer filter needs the partner when the principal has none. */
    events.customer_id = "c1";
    assert_int_equal(query_code(f, &auditor, &q, message), LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(message, "partner_id"));
    q.partner_id = "p1";
    assert_int_equal(query_code(f, &auditor, &q, message), LEDGER_ERR_OK);
    /* A customer the partner never onboarded: said, not an empty feed. */
    events.customer_id = "c9";
    assert_int_equal(query_code(f, &auditor, &q, message), LEDGER_ERR_CUSTOMER_NOT_FOUND);
    assert_string_equal(message, "customer c9 of partner p1 was never onboarded: check the "
                                 "customer id");
    /* A customer id that is no id is told as such, as the views tell it,
     * not taken for a customer never onboarded nor answered with the
     * generic message of a malformed field. */
    char long_id[LEDGER_ID_LENGTH_MAX + 2];
    memset(long_id, 'c', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    char *bad_ids[] = {long_id, "c 1", "c_1"};
    for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
        events.customer_id = bad_ids[i];
        assert_int_equal(query_code(f, &auditor, &q, message), LEDGER_ERR_INVALID_ARGUMENT);
        assert_string_equal(message, "customer_id must be 1..64 characters of [A-Za-z0-9.:@-]");
    }
    events.customer_id = "c1";
    q.partner_id = "";

    /* Customer users do not read the event feed (the policy's events row),
     * not even their own customer's. */
    events.customer_id = "c1";
    assert_int_equal(query_code(f, &f->customer_user, &q, message), LEDGER_ERR_FORBIDDEN);
    events.customer_id = "";

    /* A query that names no kind. */
    Ledger__V1__Query empty = LEDGER__V1__QUERY__INIT;
    assert_int_equal(query_code(f, &auditor, &empty, message), LEDGER_ERR_UNKNOWN_MESSAGE);
}

static void test_engine_consistency_between_heads(void **state)
{
    struct fixture *f = *state;
    world(f);
    struct engine_principal auditor =
        make_principal("auditor-all", LEDGER__V1__ROLE__ROLE_AUDITOR, "", "", "");
    char message[ENGINE_MESSAGE_SIZE];
    Ledger__V1__Query q = LEDGER__V1__QUERY__INIT;
    q.kind_case = LEDGER__V1__QUERY__KIND_HEAD;
    Ledger__V1__HeadQuery hq = LEDGER__V1__HEAD_QUERY__INIT;
    q.head = &hq;
    Ledger__V1__QueryResult *old = NULL, *now = NULL, *proof = NULL;
    assert_int_equal(engine_query(f->engine, &auditor, &q, f->now_us, &old, message),
                     LEDGER_ERR_OK);
    assert_int_equal(onboard(f, "c7"), LEDGER_ERR_OK);
    assert_int_equal(onboard(f, "c8"), LEDGER_ERR_OK);
    assert_int_equal(engine_query(f->engine, &auditor, &q, f->now_us, &now, message),
                     LEDGER_ERR_OK);
    Ledger__V1__ConsistencyQuery cq = LEDGER__V1__CONSISTENCY_QUERY__INIT;
    cq.from_size = old->head->tree_size;
    cq.to_size = now->head->tree_size;
    Ledger__V1__Query q2 = LEDGER__V1__QUERY__INIT;
    q2.kind_case = LEDGER__V1__QUERY__KIND_CONSISTENCY;
    q2.consistency = &cq;
    assert_int_equal(engine_query(f->engine, &auditor, &q2, f->now_us, &proof, message),
                     LEDGER_ERR_OK);
    uint8_t path[MERKLE_PATH_MAX][MERKLE_HASH_BYTES];
    for (size_t k = 0; k < proof->consistency->n_path; k++) {
        memcpy(path[k], proof->consistency->path[k].data, MERKLE_HASH_BYTES);
    }
    assert_true(merkle_verify_consistency(
        cq.from_size, cq.to_size, old->head->root_hash.data, now->head->root_hash.data,
        (const uint8_t(*)[MERKLE_HASH_BYTES])path, proof->consistency->n_path));
    engine_result_free(old);
    engine_result_free(now);
    engine_result_free(proof);
    /* Past the head. */
    cq.to_size = head(f) + 5;
    assert_int_equal(engine_query(f->engine, &auditor, &q2, f->now_us, &proof, message),
                     LEDGER_ERR_NOT_FOUND);
}

/* An inclusion query outside 0 < sequence <= tree_size <= head (a tree size
 * of 0: the head's) is NOT_FOUND, the message giving all three. */
static void test_engine_inclusion_bounds(void **state)
{
    struct fixture *f = *state;
    world(f);
    struct engine_principal auditor =
        make_principal("auditor-all", LEDGER__V1__ROLE__ROLE_AUDITOR, "", "", "");
    const uint64_t now = head(f);
    const struct {
        uint64_t sequence, tree_size;
        enum ledger_err err;
    } cases[] = {
        {0, 0, LEDGER_ERR_NOT_FOUND},       {1, 0, LEDGER_ERR_OK},        {now, 0, LEDGER_ERR_OK},
        {now + 1, 0, LEDGER_ERR_NOT_FOUND}, {2, 1, LEDGER_ERR_NOT_FOUND}, {1, 1, LEDGER_ERR_OK},
        {1, now + 1, LEDGER_ERR_NOT_FOUND},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Ledger__V1__InclusionQuery inclusion = LEDGER__V1__INCLUSION_QUERY__INIT;
        inclusion.sequence = cases[i].sequence;
        inclusion.tree_size = cases[i].tree_size;
        Ledger__V1__Query q = LEDGER__V1__QUERY__INIT;
        q.kind_case = LEDGER__V1__QUERY__KIND_INCLUSION;
        q.inclusion = &inclusion;
        char message[ENGINE_MESSAGE_SIZE] = "";
        assert_int_equal(query_code(f, &auditor, &q, message), cases[i].err);
        if (cases[i].err != LEDGER_ERR_OK) {
            char expected[ENGINE_MESSAGE_SIZE];
            snprintf(expected, sizeof expected,
                     "need 0 < sequence (%llu) <= tree_size (%llu) <= head (%llu)",
                     (unsigned long long)cases[i].sequence,
                     (unsigned long long)(cases[i].tree_size ? cases[i].tree_size : now),
                     (unsigned long long)now);
            assert_string_equal(message, expected);
        }
    }
}

/* An inclusion query's proof for `sequence` in the tree of `tree_size`,
 * checked against `root` and against the record's own leaf hash; a proof
 * with one byte changed, or checked against another root, must fail. */
static void check_inclusion(struct fixture *f, const struct engine_principal *auditor,
                            uint64_t sequence, uint64_t tree_size, const uint8_t root[32],
                            const uint8_t leaf[32])
{
    Ledger__V1__InclusionQuery inclusion = LEDGER__V1__INCLUSION_QUERY__INIT;
    inclusion.sequence = sequence;
    inclusion.tree_size = tree_size;
    Ledger__V1__Query q = LEDGER__V1__QUERY__INIT;
    q.kind_case = LEDGER__V1__QUERY__KIND_INCLUSION;
    q.inclusion = &inclusion;
    Ledger__V1__QueryResult *result = NULL;
    char message[ENGINE_MESSAGE_SIZE];
    assert_int_equal(engine_query(f->engine, auditor, &q, f->now_us, &result, message),
                     LEDGER_ERR_OK);
    const Ledger__V1__InclusionProof *p = result->inclusion;
    assert_int_equal(p->tree_size, tree_size);
    assert_memory_equal(p->leaf_hash.data, leaf, 32);
    uint8_t path[MERKLE_PATH_MAX][MERKLE_HASH_BYTES];
    assert_true(p->n_path <= MERKLE_PATH_MAX);
    for (size_t k = 0; k < p->n_path; k++) {
        assert_int_equal(p->path[k].len, MERKLE_HASH_BYTES);
        memcpy(path[k], p->path[k].data, MERKLE_HASH_BYTES);
    }
    const uint8_t(*const_path)[MERKLE_HASH_BYTES] = (const uint8_t(*)[MERKLE_HASH_BYTES])path;
    assert_true(
        merkle_verify_inclusion(leaf, sequence - 1, tree_size, const_path, p->n_path, root));
    uint8_t other_root[32];
    memcpy(other_root, root, 32);
    other_root[31] ^= 0x01;
    assert_false(
        merkle_verify_inclusion(leaf, sequence - 1, tree_size, const_path, p->n_path, other_root));
    if (p->n_path > 0) {
        path[p->n_path - 1][0] ^= 0x80;
        assert_false(
            merkle_verify_inclusion(leaf, sequence - 1, tree_size, const_path, p->n_path, root));
    }
    engine_result_free(result);
}

/* Generated histories (the history generator, every command accepted) of the
 * sizes 1, 2, 3, 7, 8, 9 and larger non-powers of two: for each size, the
 * inclusion proof of every sequence verifies against the root of that size,
 * which equals the RFC 6962 root computed from the records' own leaf hashes;
 * consistency proofs between the sizes verify; tampered ones do not. */
static void test_engine_proofs_of_generated_histories(void **state)
{
    struct fixture *f = *state;
    const uint64_t sizes[] = {1, 2, 3, 7, 8, 9, 100, 1000, 1537};
    const size_t size_count = sizeof sizes / sizeof sizes[0];
    uint8_t roots[sizeof sizes / sizeof sizes[0]][32];
    struct engine_principal auditor =
        make_principal("auditor-all", LEDGER__V1__ROLE__ROLE_AUDITOR, "", "", "");
    struct histgen_options gen_options = {
        .seed = 62, .partners = 2, .customers_per_partner = 8, .target_events = 2000};
    struct histgen *gen = NULL;
    assert_int_equal(histgen_new(&gen_options, &gen), LEDGER_ERR_OK);
    struct histload *load = NULL;
    assert_int_equal(histload_new(f->engine, gen, 0, &load), LEDGER_ERR_OK);
    struct merkle_builder builder;
    merkle_builder_init(&builder);
    uint8_t(*leaves)[32] = calloc(sizes[size_count - 1], 32);
    assert_non_null(leaves);
    size_t next_size = 0;
    struct histgen_item item;
    while (next_size < size_count) {
        /* The records up to the head, hashed as an auditor would. */
        uint64_t head_now = head(f);
        struct store_txn *txn = NULL;
        assert_int_equal(store_begin(engine_store(f->engine), false, &txn), LEDGER_ERR_OK);
        for (uint64_t s = builder.size + 1; s <= head_now && s <= sizes[size_count - 1]; s++) {
            struct store_val record;
            assert_int_equal(store_record(txn, s, &record), LEDGER_ERR_OK);
            crypto_sha256_prefixed(0x00, record.data, record.size, leaves[s - 1]);
            merkle_builder_add(&builder, leaves[s - 1]);
        }
        store_abort(txn);
        if (head_now == sizes[next_size]) {
            merkle_builder_root(&builder, roots[next_size]);
            for (uint64_t s = 1; s <= head_now; s++) {
                check_inclusion(f, &auditor, s, head_now, roots[next_size], leaves[s - 1]);
            }
            next_size++;
            continue;
        }
        assert_true(histgen_next(gen, &item));
        assert_int_equal(histload_add(load, &item), LEDGER_ERR_OK);
        assert_int_equal(histload_flush(load), LEDGER_ERR_OK);
    }
    /* Consistency between every pair of the sizes, against the roots above. */
    for (size_t a = 0; a < size_count; a++) {
        for (size_t b = a; b < size_count; b++) {
            Ledger__V1__ConsistencyQuery consistency = LEDGER__V1__CONSISTENCY_QUERY__INIT;
            consistency.from_size = sizes[a];
            consistency.to_size = sizes[b];
            Ledger__V1__Query q = LEDGER__V1__QUERY__INIT;
            q.kind_case = LEDGER__V1__QUERY__KIND_CONSISTENCY;
            q.consistency = &consistency;
            Ledger__V1__QueryResult *result = NULL;
            char message[ENGINE_MESSAGE_SIZE];
            assert_int_equal(engine_query(f->engine, &auditor, &q, f->now_us, &result, message),
                             LEDGER_ERR_OK);
            const Ledger__V1__ConsistencyProof *p = result->consistency;
            uint8_t path[MERKLE_PATH_MAX][MERKLE_HASH_BYTES];
            for (size_t k = 0; k < p->n_path; k++) {
                memcpy(path[k], p->path[k].data, MERKLE_HASH_BYTES);
            }
            const uint8_t(*const_path)[MERKLE_HASH_BYTES] =
                (const uint8_t(*)[MERKLE_HASH_BYTES])path;
            assert_true(merkle_verify_consistency(sizes[a], sizes[b], roots[a], roots[b],
                                                  const_path, p->n_path));
            if (p->n_path > 0) {
                path[0][5] ^= 0x10;
                assert_false(merkle_verify_consistency(sizes[a], sizes[b], roots[a], roots[b],
                                                       const_path, p->n_path));
            }
            if (a != b) {
                assert_false(merkle_verify_consistency(sizes[a], sizes[b], roots[b], roots[b],
                                                       const_path, p->n_path));
            }
            engine_result_free(result);
        }
    }
    free(leaves);
    histload_free(load);
    histgen_free(gen);
}

static void test_engine_map_growth_and_full(void **state)
{
    struct fixture *f = *state;
    engine_close(f->engine);
    f->engine = NULL;
    /* A fresh directory whose map may grow from 1 MiB to 4 MiB only. */
    char dir[512];
    test_make_dir(dir, sizeof dir, "engine-full");
    char key[600];
    snprintf(key, sizeof key, "%s/operator.key", dir);
    struct engine_options options = {
        .data_dir = dir, .map_bytes = 1 << 20, .map_bytes_max = 4 << 20, .no_sync = true};
    assert_int_equal(engine_init(&options, "operator", key), LEDGER_ERR_OK);
    assert_int_equal(engine_open(&options, &f->engine), LEDGER_ERR_OK);
    assert_int_equal(add_partner(f, "p1"), LEDGER_ERR_OK);
    assert_int_equal(add_principal(f, &f->admin), LEDGER_ERR_OK);
    enum ledger_err err = LEDGER_ERR_OK;
    unsigned accepted = 0;
    for (unsigned i = 0; i < 100000 && err == LEDGER_ERR_OK; i++) {
        char customer[32];
        snprintf(customer, sizeof customer, "cust-%u", i);
        uint64_t before = head(f);
        err = onboard(f, customer);
        if (err == LEDGER_ERR_OK) {
            accepted++;
            assert_int_equal(head(f), before + 1);
        } else {
            /* Refused whole: nothing half-written. */
            assert_int_equal(err, LEDGER_ERR_STORAGE_FULL);
            assert_int_equal(head(f), before);
        }
    }
    assert_int_equal(err, LEDGER_ERR_STORAGE_FULL);
    /* It grew past the first megabyte before it was full. */
    assert_true(accepted > 1000);
    uint64_t last = head(f);
    /* Still consistent after reopening with a larger maximum. */
    engine_close(f->engine);
    options.map_bytes_max = 64 << 20;
    assert_int_equal(engine_open(&options, &f->engine), LEDGER_ERR_OK);
    assert_int_equal(head(f), last);
    assert_int_equal(onboard(f, "after-full"), LEDGER_ERR_OK);
    assert_int_equal(head(f), last + 1);
    engine_close(f->engine);
    f->engine = NULL;
    test_remove_dir(dir);
    struct engine_options reopen = {.data_dir = f->dir};
    assert_int_equal(engine_open(&reopen, &f->engine), LEDGER_ERR_OK);
}

struct progress_calls {
    unsigned count;
    uint64_t first_done, last_done, total;
};

static void record_progress(void *context, uint64_t done, uint64_t total)
{
    struct progress_calls *calls = context;
    if (calls->count == 0) {
        calls->first_done = done;
    } else {
        assert_true(done >= calls->last_done);
    }
    calls->count++;
    calls->last_done = done;
    calls->total = total;
}

static void test_engine_rebuild_keeps_views(void **state)
{
    struct fixture *f = *state;
    world(f);
    Ledger__V1__GrantPermission body;
    Ledger__V1__Command c = grant_command("c1", &body);
    assert_int_equal(run(f, &f->admin, &c, NULL), LEDGER_ERR_OK);
    assert_int_equal(buy_reservation(f, &f->customer_user, "c1", "s1", NULL), LEDGER_ERR_OK);
    assert_int_equal(buy_reservation(f, &f->admin, "c1", "s1", NULL), LEDGER_ERR_OK);
    unsigned differences = 99;
    struct progress_calls calls = {0};
    assert_int_equal(engine_rebuild(f->engine, record_progress, &calls, NULL, &differences),
                     LEDGER_ERR_OK);
    assert_int_equal(differences, 0);
    /* The bar's clock starts before the replay, and it ends at the total. */
    assert_true(calls.count >= 2);
    assert_int_equal(calls.first_done, 0);
    assert_int_equal(calls.last_done, head(f));
    assert_int_equal(calls.total, head(f));
    /* Commands still work after a rebuild (states reload from the log). */
    Ledger__V1__Command again = grant_command("c1", &body);
    assert_int_equal(run(f, &f->admin, &again, NULL), LEDGER_ERR_PERMISSION_ALREADY_ON);
}

/* A partner "p2" with its admin agent (returned) and a customer "c1" of
 * its own, which holds an active Azure plan "s1": the ids p1's world uses. */
static struct engine_principal second_partner(struct fixture *f)
{
    assert_int_equal(add_partner(f, "p2"), LEDGER_ERR_OK);
    struct engine_principal admin2 =
        make_principal("admin-2", LEDGER__V1__ROLE__ROLE_ADMIN_AGENT, "p2", "", "");
    assert_int_equal(add_principal(f, &admin2), LEDGER_ERR_OK);
    assert_int_equal(onboard_as(f, &admin2, "c1"), LEDGER_ERR_OK);
    assert_int_equal(buy_subscription_as(f, &admin2, "c1", "s1"), LEDGER_ERR_OK);
    return admin2;
}

/* A subscription belongs to one customer: the engine finds another
 * customer of the partner holding the id (the views' subscriptions index)
 * in the group's own transaction, so a batch cannot record it twice, and
 * after a rebuild as before; a customer of another partner is not looked
 * at (docs/domain.md, "Identities and their scope"). */
static void test_engine_subscription_id_scope(void **state)
{
    struct fixture *f = *state;
    world(f);
    assert_int_equal(onboard(f, "c2"), LEDGER_ERR_OK);
    uint64_t before = head(f);
    struct engine_request request;
    Ledger__V1__PurchaseSubscription body = LEDGER__V1__PURCHASE_SUBSCRIPTION__INIT;
    body.subscription_id = "s1";
    body.offer = LEDGER__V1__OFFER__OFFER_AZURE_PLAN;
    Ledger__V1__Command c;
    customer_command(&c, "c2");
    c.body_case = LEDGER__V1__COMMAND__BODY_PURCHASE_SUBSCRIPTION;
    c.purchase_subscription = &body;
    assert_int_equal(run(f, &f->admin, &c, &request), LEDGER_ERR_SUBSCRIPTION_EXISTS);
    assert_non_null(strstr(request.message, "subscription s1 already exists for customer c1 of "
                                            "partner p1 (sequence 6)"));
    engine_request_clear(&request);
    assert_int_equal(head(f), before);
    assert_int_equal(buy_subscription(f, "c2", "s2"), LEDGER_ERR_OK);

    /* Two customers buying one id in one batch: the second is refused, and
     * the batch records nothing. */
    before = head(f);
    Ledger__V1__PurchaseSubscription same = body;
    same.subscription_id = "s9";
    ProtobufCBinaryData data[2];
    Ledger__V1__Command first;
    customer_command(&first, "c2");
    first.command_id = "scope-1";
    first.body_case = LEDGER__V1__COMMAND__BODY_PURCHASE_SUBSCRIPTION;
    first.purchase_subscription = &same;
    data[0] = pack_command(&first);
    Ledger__V1__Command second = first;
    second.customer_id = "c1";
    second.command_id = "scope-2";
    data[1] = pack_command(&second);
    assert_int_equal(run_bytes(f, &f->admin, data, 2, &request), LEDGER_ERR_SUBSCRIPTION_EXISTS);
    assert_int_equal(request.failed_index, 1);
    assert_non_null(strstr(request.message, "customer c2 of partner p1"));
    engine_request_clear(&request);
    assert_int_equal(head(f), before);
    assert_int_equal(run_bytes(f, &f->admin, data, 1, NULL), LEDGER_ERR_OK);
    free(data[0].data);
    free(data[1].data);

    /* Another partner's customer, of the same customer id even, may record
     * the id: partners are not told of each other's subscriptions. */
    (void)second_partner(f);

    /* The index is derived: a rebuild gives it back, and the check holds. */
    unsigned differences = 99;
    assert_int_equal(engine_rebuild(f->engine, NULL, NULL, NULL, &differences), LEDGER_ERR_OK);
    assert_int_equal(differences, 0);
    before = head(f);
    assert_int_equal(buy_subscription(f, "c2", "s1"), LEDGER_ERR_SUBSCRIPTION_EXISTS);
    assert_int_equal(buy_subscription(f, "c1", "s2"), LEDGER_ERR_SUBSCRIPTION_EXISTS);
    assert_int_equal(head(f), before);
}

/* Turns c1's reservation `id`'s auto-renew on, as the admin: a renewal
 * needs it. */
static void renewal_on(struct fixture *f, char *id)
{
    Ledger__V1__SetReservationRenewal renewal = LEDGER__V1__SET_RESERVATION_RENEWAL__INIT;
    renewal.reservation_id = id;
    renewal.auto_renew = true;
    Ledger__V1__Command c;
    customer_command(&c, "c1");
    c.body_case = LEDGER__V1__COMMAND__BODY_SET_RESERVATION_RENEWAL;
    c.set_reservation_renewal = &renewal;
    assert_int_equal(run(f, &f->admin, &c, NULL), LEDGER_ERR_OK);
}

/* Buys a reservation as the admin and gives its id (out: LEDGER_ID_SIZE). */
static void bought(struct fixture *f, char *out, size_t size)
{
    struct engine_request request;
    assert_int_equal(buy_reservation(f, &f->admin, "c1", "s1", &request), LEDGER_ERR_OK);
    snprintf(out, size, "%s", request.results[0].reservation_id);
    engine_request_clear(&request);
}

/* The state of a reservation of c1 as the admin reads it. */
static Ledger__V1__ReservationState reservation_state(struct fixture *f, const char *id)
{
    Ledger__V1__ReservationsQuery reservations = LEDGER__V1__RESERVATIONS_QUERY__INIT;
    reservations.customer_id = "c1";
    Ledger__V1__Query q = LEDGER__V1__QUERY__INIT;
    q.kind_case = LEDGER__V1__QUERY__KIND_RESERVATIONS;
    q.reservations = &reservations;
    Ledger__V1__QueryResult *result = NULL;
    char message[ENGINE_MESSAGE_SIZE];
    assert_int_equal(engine_query(f->engine, &f->admin, &q, f->now_us, &result, message),
                     LEDGER_ERR_OK);
    Ledger__V1__ReservationState state =
        LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_UNSPECIFIED;
    for (size_t i = 0; i < result->n_reservations; i++) {
        if (strcmp(result->reservations[i]->reservation_id, id) == 0) {
            state = result->reservations[i]->state;
        }
    }
    engine_result_free(result);
    return state;
}

/* Revokes a principal (revoke) or rotates its secret, as the operator. */
static enum ledger_err principal_change(struct fixture *f, const char *principal_id, bool revoke)
{
    char id[32];
    snprintf(id, sizeof id, "cmd-%u", ++f->next_id);
    ProtobufCBinaryData data = rotate_command(id, principal_id);
    if (revoke) {
        free(data.data);
        Ledger__V1__RevokePrincipal body = LEDGER__V1__REVOKE_PRINCIPAL__INIT;
        body.principal_id = (char *)principal_id;
        Ledger__V1__Command c = LEDGER__V1__COMMAND__INIT;
        c.command_id = id;
        c.body_case = LEDGER__V1__COMMAND__BODY_REVOKE_PRINCIPAL;
        c.revoke_principal = &body;
        data = pack_command(&c);
    }
    enum ledger_err err = run_bytes(f, &f->operator_principal, &data, 1, NULL);
    free(data.data);
    return err;
}

/* One event of a customer's feed, as the test recorded it. */
struct feed_item {
    uint64_t sequence;
    const char *type; /* its body's name (docs/events.md) */
};

#define FEED_ITEMS_MAX 32

/* A customer's feed as its commands were run: every event it should list. */
struct feed {
    struct feed_item items[FEED_ITEMS_MAX];
    size_t count;
};

/* Records the event the last command appended (the head) as the feed's. */
static void feed_note(struct fixture *f, struct feed *feed, const char *type)
{
    assert_true(feed->count < FEED_ITEMS_MAX);
    feed->items[feed->count++] = (struct feed_item){head(f), type};
}

/* One page of the events feed as `who`, of `partner` ("": its own);
 * the caller frees it. */
static Ledger__V1__QueryResult *events_page(struct fixture *f, const struct engine_principal *who,
                                            const char *partner, Ledger__V1__EventsQuery *events)
{
    Ledger__V1__Query q = LEDGER__V1__QUERY__INIT;
    q.kind_case = LEDGER__V1__QUERY__KIND_EVENTS;
    q.events = events;
    q.partner_id = (char *)partner;
    char message[ENGINE_MESSAGE_SIZE];
    Ledger__V1__QueryResult *result = NULL;
    assert_int_equal(engine_query(f->engine, who, &q, f->now_us, &result, message), LEDGER_ERR_OK);
    return result;
}

/* Adds `user`, a customer user, and records its addition in `feed`. */
static void user_added(struct fixture *f, struct feed *feed, const struct engine_principal *user)
{
    assert_int_equal(add_principal(f, user), LEDGER_ERR_OK);
    feed_note(f, feed, "principal_added");
}

/* Revokes a principal or rotates its secret (principal_change), and
 * records it in `feed` (NULL: in no customer's). */
static void principal_changed(struct fixture *f, struct feed *feed, const char *principal_id,
                              bool revoke)
{
    assert_int_equal(principal_change(f, principal_id, revoke), LEDGER_ERR_OK);
    if (feed != NULL) {
        feed_note(f, feed, revoke ? "principal_revoked" : "principal_secret_rotated");
    }
}

/* The sequences of `feed` up to tree_size (0: all) of one of `types` (none:
 * every type), into expected; returns how many. */
static size_t feed_expected(const struct feed *feed, char *const *types, size_t type_count,
                            uint64_t tree_size, uint64_t expected[FEED_ITEMS_MAX])
{
    size_t count = 0;
    for (size_t i = 0; i < feed->count; i++) {
        bool wanted = tree_size == 0 || feed->items[i].sequence <= tree_size;
        bool typed = type_count == 0;
        for (size_t t = 0; t < type_count; t++) {
            typed = typed || strcmp(types[t], feed->items[i].type) == 0;
        }
        if (wanted && typed) {
            expected[count++] = feed->items[i].sequence;
        }
    }
    return count;
}

/* Pages the events feed of partner's `customer` as `who` from the start
 * with `events`' limit, types, tree_size and include_proofs, and checks
 * that it lists exactly what `feed` says for them, in order and each once:
 * every page continues after the one before (its last_sequence), holds
 * at most the limit, and the last page reaches the tree's end. */
static void expect_customer_feed(struct fixture *f, const struct engine_principal *who,
                                 const char *partner, const char *customer,
                                 Ledger__V1__EventsQuery *events, const struct feed *feed)
{
    uint64_t expected[FEED_ITEMS_MAX];
    size_t count = feed_expected(feed, events->types, events->n_types, events->tree_size, expected);
    events->customer_id = (char *)customer;
    events->after_sequence = 0;
    uint64_t end = events->tree_size != 0 ? events->tree_size : head(f);
    uint32_t page_max = events->limit != 0 ? events->limit : LEDGER_EVENTS_PAGE_DEFAULT;
    size_t seen = 0, pages = 0;
    while (events->after_sequence < end) {
        /* Every page but the last holds an event. */
        assert_true(pages++ <= count);
        Ledger__V1__QueryResult *result = events_page(f, who, partner, events);
        assert_true(result->n_events <= page_max);
        for (size_t i = 0; i < result->n_events; i++) {
            const Ledger__V1__EventEntry *entry = result->events[i];
            assert_true(seen < count);
            assert_int_equal(entry->event->sequence, expected[seen]);
            assert_string_equal(entry->event->partner_id,
                                partner[0] != '\0' ? partner : who->partner_id);
            assert_true(entry->event->sequence <= result->last_sequence);
            if (events->include_proofs) {
                assert_non_null(entry->proof);
                assert_int_equal(entry->proof->sequence, expected[seen]);
                assert_int_equal(entry->proof->tree_size, end);
            } else {
                assert_null(entry->proof);
            }
            seen++;
        }
        assert_true(result->last_sequence > events->after_sequence);
        events->after_sequence = result->last_sequence;
        engine_result_free(result);
    }
    assert_int_equal(events->after_sequence, end);
    assert_int_equal(seen, count);
}

/* A customer's events feed holds its customer users' principal events
 * (added, secret rotated, revoked), which are in no stream, merged with its
 * stream's in sequence order: each once, across pages of every size, with
 * type filters, cut at a tree size, with proofs; never those of another
 * customer's users, of the partner's staff, or of another partner's
 * customer of the same id. */
static void test_engine_events_customer_principals(void **state)
{
    struct fixture *f = *state;
    /* The operator (1); world: p1 (2), admin-1 (3), c1 (4), alice-1 for
     * c1 (5), s1 (6), alice Owner of s1 (7). */
    world(f);
    assert_int_equal(head(f), 7);
    struct feed c1 = {.items = {{4, "customer_onboarded"},
                                {5, "principal_added"},
                                {6, "subscription_purchased"},
                                {7, "role_assigned"}},
                      .count = 4};
    struct feed c2 = {0}, p2_c1 = {0};
    /* Another partner's customer of the same id, with a user of its own. */
    (void)second_partner(f);
    p2_c1.items[p2_c1.count++] = (struct feed_item){head(f) - 1, "customer_onboarded"};
    feed_note(f, &p2_c1, "subscription_purchased");
    const Ledger__V1__Role user = LEDGER__V1__ROLE__ROLE_CUSTOMER_USER;
    const struct engine_principal carol = make_principal("carol-2", user, "p2", "c1", "carol"),
                                  bob = make_principal("bob-1", user, "p1", "c2", "bob"),
                                  dave = make_principal("dave-1", user, "p1", "c1", "dave"),
                                  erin = make_principal("erin-1", user, "p1", "c1", "erin"),
                                  helpdesk = make_principal("helpdesk-1",
                                                            LEDGER__V1__ROLE__ROLE_HELPDESK_AGENT,
                                                            "p1", "", "");
    user_added(f, &p2_c1, &carol);
    /* Another customer of p1, with a user; and p1's staff. */
    assert_int_equal(onboard(f, "c2"), LEDGER_ERR_OK);
    feed_note(f, &c2, "customer_onboarded");
    user_added(f, &c2, &bob);
    assert_int_equal(add_principal(f, &helpdesk), LEDGER_ERR_OK);

    /* c1's purchases and its users' principal events, interleaved with
     * the others'. */
    Ledger__V1__GrantPermission grant_body;
    Ledger__V1__Command grant = grant_command("c1", &grant_body);
    assert_int_equal(run(f, &f->admin, &grant, NULL), LEDGER_ERR_OK);
    feed_note(f, &c1, "purchase_permission_granted");
    assert_int_equal(buy_reservation(f, &f->admin, "c1", "s1", NULL), LEDGER_ERR_OK);
    feed_note(f, &c1, "reservation_purchased");
    principal_changed(f, &c1, "alice-1", false);
    user_added(f, &c1, &dave);
    assert_int_equal(buy_subscription(f, "c2", "s2"), LEDGER_ERR_OK);
    feed_note(f, &c2, "subscription_purchased");
    principal_changed(f, &c2, "bob-1", false);
    principal_changed(f, &p2_c1, "carol-2", false);
    /* alice buys with her new secret. */
    struct engine_principal alice;
    assert_int_equal(engine_principal_lookup(f->engine, "alice-1", &alice), LEDGER_ERR_OK);
    assert_int_equal(buy_reservation(f, &alice, "c1", "s1", NULL), LEDGER_ERR_OK);
    feed_note(f, &c1, "reservation_purchased");
    principal_changed(f, &c1, "dave-1", true);
    principal_changed(f, NULL, "helpdesk-1", false);
    assert_int_equal(buy_savings_plan(f, &f->admin, "c1", "s1", NULL), LEDGER_ERR_OK);
    feed_note(f, &c1, "savings_plan_purchased");
    principal_changed(f, &p2_c1, "carol-2", true);
    /* Last, after the stream's last event: a new user, its secret rotated. */
    user_added(f, &c1, &erin);
    principal_changed(f, &c1, "erin-1", false);

    struct engine_principal auditor =
        make_principal("auditor-p1", LEDGER__V1__ROLE__ROLE_AUDITOR, "p1", "", "");
    struct engine_principal auditor_all =
        make_principal("auditor-all", LEDGER__V1__ROLE__ROLE_AUDITOR, "", "", "");
    char *principal_types[] = {"principal_added", "principal_revoked", "principal_secret_rotated"};
    char *stream_types[] = {"reservation_purchased", "savings_plan_purchased",
                            "customer_onboarded"};
    static const uint32_t limits[] = {1, 2, 3, 0};
    for (size_t l = 0; l < sizeof limits / sizeof limits[0]; l++) {
        Ledger__V1__EventsQuery events = LEDGER__V1__EVENTS_QUERY__INIT;
        events.limit = limits[l];
        expect_customer_feed(f, &auditor, "", "c1", &events, &c1);
        expect_customer_feed(f, &auditor_all, "p1", "c2", &events, &c2);
        expect_customer_feed(f, &auditor_all, "p2", "c1", &events, &p2_c1);
        events.types = principal_types;
        events.n_types = 3;
        expect_customer_feed(f, &auditor, "", "c1", &events, &c1);
        events.types = stream_types;
        expect_customer_feed(f, &auditor, "", "c1", &events, &c1);
        /* Cut at a principal event, at another customer's event and at a
         * stream event: nothing past the cut, the last page ends at it. */
        const uint64_t cuts[] = {c1.items[7].sequence, c1.items[7].sequence + 1,
                                 c1.items[5].sequence};
        for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
            events.tree_size = cuts[c];
            events.include_proofs = c == 0;
            events.types = NULL;
            events.n_types = 0;
            expect_customer_feed(f, &auditor_all, "p1", "c1", &events, &c1);
            events.types = principal_types;
            events.n_types = 3;
            expect_customer_feed(f, &auditor, "", "c1", &events, &c1);
        }
    }
    /* The unfiltered feed has them too, in the same places. */
    Ledger__V1__EventsQuery all = LEDGER__V1__EVENTS_QUERY__INIT;
    all.limit = LEDGER_EVENTS_PAGE_MAX;
    Ledger__V1__QueryResult *result = events_page(f, &auditor_all, "", &all);
    assert_int_equal(result->n_events, head(f));
    for (size_t i = 0; i < c1.count; i++) {
        const Ledger__V1__Event *event = result->events[c1.items[i].sequence - 1]->event;
        assert_int_equal(event->body_case, codec_event_type_from_name(c1.items[i].type));
    }
    engine_result_free(result);
}

/* The most records one events page examines (ENGINE_EVENTS_SCAN_MAX in
 * engine_query.c). */
#define FEED_SCAN_MAX 100000
/* Commands per request of a long history. */
#define FEED_BATCH_COMMANDS 1000

/* Turns c1's reservation `id`'s auto-renew on and off `count` times, the
 * first-th toggle first (even ones turn it on), FEED_BATCH_COMMANDS to a
 * request: that many events of c1's stream. */
static void renewal_toggles(struct fixture *f, char *id, size_t first, size_t count)
{
    ProtobufCBinaryData *data = calloc(FEED_BATCH_COMMANDS, sizeof *data);
    assert_non_null(data);
    for (size_t done = 0; done < count;) {
        size_t n = count - done < FEED_BATCH_COMMANDS ? count - done : FEED_BATCH_COMMANDS;
        for (size_t i = 0; i < n; i++) {
            Ledger__V1__SetReservationRenewal renewal = LEDGER__V1__SET_RESERVATION_RENEWAL__INIT;
            renewal.reservation_id = id;
            renewal.auto_renew = (first + done + i) % 2 == 0;
            Ledger__V1__Command c;
            customer_command(&c, "c1");
            char command_id[32];
            snprintf(command_id, sizeof command_id, "toggle-%zu", first + done + i);
            c.command_id = command_id;
            c.body_case = LEDGER__V1__COMMAND__BODY_SET_RESERVATION_RENEWAL;
            c.set_reservation_renewal = &renewal;
            data[i] = pack_command(&c);
        }
        assert_int_equal(run_bytes(f, &f->admin, data, n, NULL), LEDGER_ERR_OK);
        for (size_t i = 0; i < n; i++) {
            free(data[i].data);
        }
        done += n;
    }
    free(data);
}

/* A customer's feed longer than one page examines: filtered to its
 * principal events, a page that the scan bound ends, at a principal event
 * or at a stream event just before one, says how far it got, and the next
 * page goes on from there, missing and repeating none. */
static void test_engine_events_customer_principals_past_the_scan(void **state)
{
    struct fixture *f = *state;
    /* Every event from c1's onboarding (4) on is c1's: its n-th is n + 3,
     * alice's addition the second. */
    world(f);
    char reservation[LEDGER_ID_LENGTH_MAX + 1];
    bought(f, reservation, sizeof reservation);
    const uint64_t stream_before = head(f) - 3;
    renewal_toggles(f, reservation, 0, FEED_SCAN_MAX - 1 - stream_before);
    assert_int_equal(head(f), FEED_SCAN_MAX - 1 + 3);
    struct engine_principal user =
        make_principal("scan-user", LEDGER__V1__ROLE__ROLE_CUSTOMER_USER, "p1", "c1", "scan");
    /* c1's 100000th event adds a user, its 100001st rotates the user's
     * secret, its 100002nd is of its stream and its 100003rd revokes the
     * user. */
    assert_int_equal(add_principal(f, &user), LEDGER_ERR_OK);
    assert_int_equal(principal_change(f, "scan-user", false), LEDGER_ERR_OK);
    renewal_toggles(f, reservation, FEED_SCAN_MAX - 1 - stream_before, 1);
    assert_int_equal(principal_change(f, "scan-user", true), LEDGER_ERR_OK);
    const uint64_t principals[] = {5, FEED_SCAN_MAX + 3, FEED_SCAN_MAX + 4, FEED_SCAN_MAX + 6};
    assert_int_equal(head(f), FEED_SCAN_MAX + 6);

    struct engine_principal auditor =
        make_principal("auditor-p1", LEDGER__V1__ROLE__ROLE_AUDITOR, "p1", "", "");
    char *types[] = {"principal_added", "principal_revoked", "principal_secret_rotated"};
    Ledger__V1__EventsQuery events = LEDGER__V1__EVENTS_QUERY__INIT;
    events.customer_id = "c1";
    events.types = types;
    events.n_types = 3;
    /* From the start the page ends at the 100000th event (a principal
     * event); after c1's first event, at the 100001st (one too); after its
     * second, at the 100002nd, a stream event just before the revocation. */
    static const uint64_t starts[] = {0, 4, 5};
    for (size_t s = 0; s < sizeof starts / sizeof starts[0]; s++) {
        uint64_t first = starts[s] < 4 ? 4 : starts[s] + 1;
        const uint64_t ends[2] = {first + FEED_SCAN_MAX - 1, head(f)};
        events.after_sequence = starts[s];
        size_t seen = 0;
        while (seen < sizeof principals / sizeof principals[0] && principals[seen] <= starts[s]) {
            seen++;
        }
        for (size_t page = 0; page < 2; page++) {
            Ledger__V1__QueryResult *result = events_page(f, &auditor, "", &events);
            for (size_t i = 0; i < result->n_events; i++) {
                assert_true(seen < sizeof principals / sizeof principals[0]);
                assert_int_equal(result->events[i]->event->sequence, principals[seen]);
                seen++;
            }
            /* Those up to its end, and none after it. */
            assert_int_equal(result->last_sequence, ends[page]);
            assert_true(seen == sizeof principals / sizeof principals[0] ||
                        principals[seen] > ends[page]);
            events.after_sequence = result->last_sequence;
            engine_result_free(result);
        }
        assert_int_equal(seen, sizeof principals / sizeof principals[0]);
    }
}

/* One whole walk of the reservations from the first (as a sweep makes it
 * when they all fit in one scan): what is due at now_us, at most max. */
static enum ledger_err expiries_due(struct fixture *f, int64_t now_us, struct engine_expiry *due,
                                    size_t max, size_t *count)
{
    struct store_position position = {0};
    enum ledger_err err = engine_expiries_due(f->engine, now_us, &position, due, max, count);
    if (err == LEDGER_ERR_OK && *count < max) {
        assert_true(position.done);
        assert_int_equal(position.size, 0);
    }
    return err;
}

/* A replacement of an exchange: one P3Y reservation in westeurope with a
 * shared scope (borrowed, as are the money fields). */
static void replacement_body(Ledger__V1__PurchaseReservation *body, const char *sub,
                             const char *sku, Ledger__V1__BillingPlan plan,
                             Ledger__V1__Scope *scope, Ledger__V1__Money *price,
                             Ledger__V1__Money *retail)
{
    Ledger__V1__PurchaseReservation init = LEDGER__V1__PURCHASE_RESERVATION__INIT;
    *body = init;
    body->billing_subscription_id = (char *)(uintptr_t)sub;
    body->sku = (char *)(uintptr_t)sku;
    body->region = "westeurope";
    body->quantity = 1;
    body->term = LEDGER__V1__TERM__TERM_P3Y;
    body->billing_plan = plan;
    body->scope = scope;
    body->price = price;
    body->retail_price = retail;
}

/* c1's exchange of `ids` for `replacements` (all borrowed by the command). */
static Ledger__V1__Command exchange_command(Ledger__V1__ExchangeReservation *exchange, char **ids,
                                            size_t id_count, Ledger__V1__Money *refund,
                                            Ledger__V1__PurchaseReservation **replacements,
                                            size_t replacement_count)
{
    Ledger__V1__ExchangeReservation init = LEDGER__V1__EXCHANGE_RESERVATION__INIT;
    *exchange = init;
    exchange->n_reservation_ids = id_count;
    exchange->reservation_ids = ids;
    exchange->refund = refund;
    exchange->n_replacements = replacement_count;
    exchange->replacements = replacements;
    Ledger__V1__Command c;
    customer_command(&c, "c1");
    c.body_case = LEDGER__V1__COMMAND__BODY_EXCHANGE_RESERVATION;
    c.exchange_reservation = exchange;
    return c;
}

/* Two replacements of an exchange, worth together the whole price of the
 * reservation bought() buys: E4s_v5 upfront on s1, D4s_v5 monthly on s2,
 * and a refund of nothing. Each body borrows the struct's money and scope. */
struct two_replacements {
    Ledger__V1__Money price[2], retail, refund;
    Ledger__V1__Scope scope;
    Ledger__V1__PurchaseReservation bodies[2];
    Ledger__V1__PurchaseReservation *list[2];
};

static void two_replacements(struct two_replacements *t)
{
    Ledger__V1__Money money = LEDGER__V1__MONEY__INIT;
    Ledger__V1__Scope scope = LEDGER__V1__SCOPE__INIT;
    t->price[0] = t->price[1] = t->retail = t->refund = money;
    t->price[0].amount_minor = 80000;
    t->price[1].amount_minor = 40000;
    t->retail.amount_minor = 90000;
    t->price[0].currency = t->price[1].currency = t->retail.currency = t->refund.currency = "USD";
    t->scope = scope;
    t->scope.kind = LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SHARED;
    replacement_body(&t->bodies[0], "s1", "Standard_E4s_v5",
                     LEDGER__V1__BILLING_PLAN__BILLING_PLAN_UPFRONT, &t->scope, &t->price[0],
                     &t->retail);
    replacement_body(&t->bodies[1], "s2", "Standard_D4s_v5",
                     LEDGER__V1__BILLING_PLAN__BILLING_PLAN_MONTHLY, &t->scope, &t->price[1],
                     &t->retail);
    t->list[0] = &t->bodies[0];
    t->list[1] = &t->bodies[1];
}

/* An exchange for two replacements through the engine: the result names
 * the first (res-<seq>), the second is res-<seq>-2, both active, the
 * returned one exchanged; a rebuild from the log derives the same views. */
static void test_engine_exchange_for_two_rebuilds_the_same(void **state)
{
    struct fixture *f = *state;
    world(f);
    char returned[LEDGER_ID_LENGTH_MAX + 1];
    bought(f, returned, sizeof returned);
    struct two_replacements two;
    two_replacements(&two);
    Ledger__V1__Money *price = two.price;
    assert_int_equal(buy_subscription(f, "c1", "s2"), LEDGER_ERR_OK);
    char *ids[1] = {returned};
    Ledger__V1__ExchangeReservation exchange;
    Ledger__V1__Command c = exchange_command(&exchange, ids, 1, &two.refund, two.list, 2);
    /* Worth far less together than the returned one: refused, nothing
     * appended (the boundary is test_domain's). */
    uint64_t before = head(f);
    price[1].amount_minor = 1;
    assert_int_equal(run(f, &f->admin, &c, NULL), LEDGER_ERR_EXCHANGE_VALUE_TOO_LOW);
    assert_int_equal(head(f), before);
    price[1].amount_minor = 40000;
    struct engine_request request;
    assert_int_equal(run(f, &f->admin, &c, &request), LEDGER_ERR_OK);
    uint64_t sequence = request.results[0].message.first_sequence;
    char first[32], second[40];
    snprintf(first, sizeof first, "res-%llu", (unsigned long long)sequence);
    snprintf(second, sizeof second, "%s-2", first);
    assert_string_equal(request.results[0].message.reservation_id, first);
    engine_request_clear(&request);
    assert_int_equal(reservation_state(f, returned),
                     LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_EXCHANGED);
    assert_int_equal(reservation_state(f, first),
                     LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_ACTIVE);
    assert_int_equal(reservation_state(f, second),
                     LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_ACTIVE);
    /* Explained as the partner's own purchase of its replacements: no
     * permission or role, the admin agent's PrincipalAdded, and both billing
     * subscriptions, each with its proof. */
    Ledger__V1__QueryResult *result = explained(f, sequence);
    const Ledger__V1__Explanation *e = result->explanation;
    assert_int_equal(e->purchase->event->body_case, LEDGER__V1__EVENT__BODY_RESERVATION_EXCHANGED);
    assert_null(e->permission);
    assert_null(e->role);
    assert_string_equal(e->principal->event->principal_added->principal_id, f->admin.id);
    assert_string_equal(e->subscription->event->subscription_purchased->subscription_id, "s1");
    assert_non_null(e->subscription->proof);
    assert_int_equal(e->n_other_subscriptions, 1);
    assert_string_equal(e->other_subscriptions[0]->event->subscription_purchased->subscription_id,
                        "s2");
    assert_non_null(e->other_subscriptions[0]->proof);
    engine_result_free(result);
    unsigned differences = 99;
    assert_int_equal(engine_rebuild(f->engine, NULL, NULL, NULL, &differences), LEDGER_ERR_OK);
    assert_int_equal(differences, 0);
    assert_int_equal(reservation_state(f, second),
                     LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_ACTIVE);
}

/* A renewal the partner records is explained like its purchase: no
 * permission or role, the admin agent and the billing subscription. */
/* An exchange may return LEDGER_EXCHANGE_RETURNS_MAX reservations at once:
 * decided, evolved, projected (the refund's charge id joins every returned
 * id) and replayed alike; one more is refused before anything is read. */
static void test_engine_exchange_of_the_most_reservations(void **state)
{
    struct fixture *f = *state;
    world(f);
    static char returned[LEDGER_EXCHANGE_RETURNS_MAX + 1][LEDGER_ID_LENGTH_MAX + 1];
    char *ids[LEDGER_EXCHANGE_RETURNS_MAX + 1];
    for (size_t i = 0; i <= LEDGER_EXCHANGE_RETURNS_MAX; i++) {
        bought(f, returned[i], sizeof returned[i]);
        ids[i] = returned[i];
    }
    /* Each was bought at USD 1,200.00 this very moment: the replacement must
     * commit at least all of it. */
    Ledger__V1__Money price = LEDGER__V1__MONEY__INIT, retail = LEDGER__V1__MONEY__INIT;
    Ledger__V1__Money refund = LEDGER__V1__MONEY__INIT;
    price.amount_minor = 120000 * LEDGER_EXCHANGE_RETURNS_MAX;
    retail.amount_minor = price.amount_minor;
    price.currency = retail.currency = refund.currency = "USD";
    Ledger__V1__Scope scope = LEDGER__V1__SCOPE__INIT;
    scope.kind = LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SHARED;
    Ledger__V1__PurchaseReservation body;
    replacement_body(&body, "s1", "Standard_E4s_v5", LEDGER__V1__BILLING_PLAN__BILLING_PLAN_UPFRONT,
                     &scope, &price, &retail);
    Ledger__V1__PurchaseReservation *replacements[1] = {&body};
    Ledger__V1__ExchangeReservation exchange;
    Ledger__V1__Command c =
        exchange_command(&exchange, ids, LEDGER_EXCHANGE_RETURNS_MAX + 1, &refund, replacements, 1);
    uint64_t before = head(f);
    assert_int_equal(run(f, &f->admin, &c, NULL), LEDGER_ERR_INVALID_ARGUMENT);
    assert_int_equal(head(f), before);

    exchange.n_reservation_ids = LEDGER_EXCHANGE_RETURNS_MAX;
    assert_int_equal(run(f, &f->admin, &c, NULL), LEDGER_ERR_OK);
    assert_int_equal(head(f), before + 1);
    for (size_t i = 0; i < LEDGER_EXCHANGE_RETURNS_MAX; i++) {
        assert_int_equal(reservation_state(f, returned[i]),
                         LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_EXCHANGED);
    }
    assert_int_equal(reservation_state(f, returned[LEDGER_EXCHANGE_RETURNS_MAX]),
                     LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_ACTIVE);
    unsigned differences = 99;
    assert_int_equal(engine_rebuild(f->engine, NULL, NULL, NULL, &differences), LEDGER_ERR_OK);
    assert_int_equal(differences, 0);
    assert_int_equal(reservation_state(f, returned[0]),
                     LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_EXCHANGED);
}

static void test_engine_explain_renewal(void **state)
{
    struct fixture *f = *state;
    world(f);
    char renewing[LEDGER_ID_LENGTH_MAX + 1];
    bought(f, renewing, sizeof renewing);
    renewal_on(f, renewing);
    Ledger__V1__Command c;
    Ledger__V1__Money price = LEDGER__V1__MONEY__INIT, retail = LEDGER__V1__MONEY__INIT;
    price.amount_minor = 110000;
    retail.amount_minor = 140000;
    price.currency = retail.currency = "USD";
    Ledger__V1__RenewReservation renew = LEDGER__V1__RENEW_RESERVATION__INIT;
    renew.reservation_id = renewing;
    renew.price = &price;
    renew.retail_price = &retail;
    customer_command(&c, "c1");
    c.body_case = LEDGER__V1__COMMAND__BODY_RENEW_RESERVATION;
    c.renew_reservation = &renew;
    struct engine_request request;
    assert_int_equal(run(f, &f->admin, &c, &request), LEDGER_ERR_OK);
    uint64_t sequence = appended_sequence(&request);
    Ledger__V1__QueryResult *result = explained(f, sequence);
    const Ledger__V1__Explanation *e = result->explanation;
    assert_int_equal(e->purchase->event->body_case, LEDGER__V1__EVENT__BODY_RESERVATION_RENEWED);
    assert_null(e->permission);
    assert_null(e->role);
    assert_string_equal(e->principal->event->principal_added->principal_id, f->admin.id);
    assert_string_equal(e->subscription->event->subscription_purchased->subscription_id, "s1");
    assert_int_equal(e->n_other_subscriptions, 0);
    engine_result_free(result);
}

/* `customer`'s purchase of `body` (borrowed) as one command. */
static Ledger__V1__Command purchase_command(const char *customer,
                                            Ledger__V1__PurchaseReservation *body)
{
    Ledger__V1__Command c;
    customer_command(&c, customer);
    c.body_case = LEDGER__V1__COMMAND__BODY_PURCHASE_RESERVATION;
    c.purchase_reservation = body;
    return c;
}

/* A cloud order id names one purchase of the partner, through the real
 * engine and the views' index read in the group's transaction: a batch
 * naming a new id twice is refused at its second command and records
 * nothing; an exchange's replacement and a renewal may not name an id a
 * purchase holds; a customer of another partner may; and after a rebuild
 * (the index is derived) the check holds as before. */
static void test_engine_cloud_order_id_unique(void **state)
{
    struct fixture *f = *state;
    world(f);
    assert_int_equal(onboard(f, "c2"), LEDGER_ERR_OK);
    assert_int_equal(buy_subscription(f, "c2", "s2"), LEDGER_ERR_OK);
    struct two_replacements two;
    two_replacements(&two);
    Ledger__V1__PurchaseReservation *bodies = two.bodies;

    /* (a) One batch, two customers, one new id: the second is refused and
     * the batch appends nothing (docs/protocol.md: a batch is atomic). */
    bodies[0].cloud_order_id = bodies[1].cloud_order_id = "ord-1";
    Ledger__V1__Command first = purchase_command("c1", &bodies[0]);
    first.command_id = "cloud-1";
    Ledger__V1__Command second = purchase_command("c2", &bodies[1]);
    second.command_id = "cloud-2";
    ProtobufCBinaryData data[2] = {pack_command(&first), pack_command(&second)};
    uint64_t before = head(f);
    struct engine_request request;
    assert_int_equal(run_bytes(f, &f->admin, data, 2, &request), LEDGER_ERR_INVALID_ARGUMENT);
    assert_int_equal(request.failed_index, 1);
    assert_non_null(strstr(request.message, "cloud_order_id ord-1 was recorded with another "
                                            "purchase (sequence"));
    assert_non_null(strstr(request.message, "customer c1)"));
    engine_request_clear(&request);
    assert_int_equal(head(f), before);
    /* The same customer twice in one batch: refused as well. */
    Ledger__V1__Command again = purchase_command("c1", &bodies[0]);
    again.command_id = "cloud-3";
    free(data[1].data);
    data[1] = pack_command(&again);
    assert_int_equal(run_bytes(f, &f->admin, data, 2, NULL), LEDGER_ERR_INVALID_ARGUMENT);
    assert_int_equal(head(f), before);
    /* Alone, the first is accepted: the refusal left no index row behind. */
    assert_int_equal(run_bytes(f, &f->admin, data, 1, &request), LEDGER_ERR_OK);
    char held[LEDGER_ID_LENGTH_MAX + 1];
    snprintf(held, sizeof held, "%s", request.results[0].message.reservation_id);
    engine_request_clear(&request);
    free(data[0].data);
    free(data[1].data);

    /* (b) An exchange whose second replacement names the held id. */
    char returned[LEDGER_ID_LENGTH_MAX + 1];
    bought(f, returned, sizeof returned);
    bodies[0].cloud_order_id = "ord-2";
    bodies[1].cloud_order_id = "ord-1";
    bodies[1].billing_subscription_id = "s1";
    char *ids[1] = {returned};
    Ledger__V1__ExchangeReservation exchange;
    Ledger__V1__Command c = exchange_command(&exchange, ids, 1, &two.refund, two.list, 2);
    before = head(f);
    assert_int_equal(run(f, &f->admin, &c, &request), LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(request.message, "replacement 2 of 2: cloud_order_id ord-1 was "
                                            "recorded with another purchase"));
    engine_request_clear(&request);
    assert_int_equal(head(f), before);
    assert_int_equal(reservation_state(f, returned),
                     LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_ACTIVE);

    /* (c) A renewal naming it. */
    renewal_on(f, returned);
    before = head(f);
    Ledger__V1__RenewReservation renew = LEDGER__V1__RENEW_RESERVATION__INIT;
    renew.reservation_id = returned;
    renew.price = &two.price[0];
    renew.retail_price = &two.retail;
    renew.cloud_order_id = "ord-1";
    customer_command(&c, "c1");
    c.body_case = LEDGER__V1__COMMAND__BODY_RENEW_RESERVATION;
    c.renew_reservation = &renew;
    assert_int_equal(run(f, &f->admin, &c, &request), LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(request.message, "cloud_order_id ord-1 was recorded with another"));
    engine_request_clear(&request);
    assert_int_equal(head(f), before);
    renew.cloud_order_id = "ord-3";
    assert_int_equal(run(f, &f->admin, &c, NULL), LEDGER_ERR_OK);
    assert_int_equal(reservation_state(f, returned),
                     LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_EXPIRED);

    /* (d) Another partner's customer may name the ids p1's purchases hold. */
    struct engine_principal admin2 = second_partner(f);
    bodies[0].cloud_order_id = "ord-1";
    c = purchase_command("c1", &bodies[0]);
    assert_int_equal(run(f, &admin2, &c, NULL), LEDGER_ERR_OK);
    bodies[0].cloud_order_id = "ord-3";
    assert_int_equal(run(f, &admin2, &c, NULL), LEDGER_ERR_OK);

    /* (e) Rebuilt, the index gives the same answers. */
    unsigned differences = 99;
    assert_int_equal(engine_rebuild(f->engine, NULL, NULL, NULL, &differences), LEDGER_ERR_OK);
    assert_int_equal(differences, 0);
    before = head(f);
    const char *taken[] = {"ord-1", "ord-3"};
    for (size_t i = 0; i < sizeof taken / sizeof taken[0]; i++) {
        bodies[1].cloud_order_id = (char *)(uintptr_t)taken[i];
        bodies[1].billing_subscription_id = "s2";
        c = purchase_command("c2", &bodies[1]);
        assert_int_equal(run(f, &f->admin, &c, NULL), LEDGER_ERR_INVALID_ARGUMENT);
        bodies[0].cloud_order_id = (char *)(uintptr_t)taken[i];
        c = purchase_command("c1", &bodies[0]);
        assert_int_equal(run(f, &admin2, &c, NULL), LEDGER_ERR_INVALID_ARGUMENT);
    }
    assert_int_equal(head(f), before);
    bodies[1].cloud_order_id = "ord-2";
    c = purchase_command("c2", &bodies[1]);
    assert_int_equal(run(f, &f->admin, &c, NULL), LEDGER_ERR_OK);
}

/* A savings plan renewal, recorded by the admin agent, answers with the new
 * plan's id and is explained as a reservation renewal is: the partner's own,
 * no permission or role, the recording principal and the billing
 * subscription; a customer's plan renewed keeps no permission of its own.
 * Rebuilt, the views are those written live. */
static void test_engine_explain_savings_plan_renewal(void **state)
{
    struct fixture *f = *state;
    world(f);
    Ledger__V1__GrantPermission grant;
    Ledger__V1__Command c = grant_command("c1", &grant);
    grant.kind = LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_SAVINGS_PLANS;
    assert_int_equal(run(f, &f->admin, &c, NULL), LEDGER_ERR_OK);
    struct engine_request request;
    assert_int_equal(buy_savings_plan(f, &f->customer_user, "c1", "s1", &request), LEDGER_ERR_OK);
    char plan[LEDGER_ID_LENGTH_MAX + 1];
    snprintf(plan, sizeof plan, "%s", request.results[0].message.savings_plan_id);
    engine_request_clear(&request);
    Ledger__V1__SetSavingsPlanRenewal renewal = LEDGER__V1__SET_SAVINGS_PLAN_RENEWAL__INIT;
    renewal.savings_plan_id = plan;
    renewal.auto_renew = true;
    customer_command(&c, "c1");
    c.body_case = LEDGER__V1__COMMAND__BODY_SET_SAVINGS_PLAN_RENEWAL;
    c.set_savings_plan_renewal = &renewal;
    assert_int_equal(run(f, &f->admin, &c, NULL), LEDGER_ERR_OK);
    Ledger__V1__Money price = LEDGER__V1__MONEY__INIT, retail = LEDGER__V1__MONEY__INIT;
    price.amount_minor = 500 * 8800;
    retail.amount_minor = 500 * 9100;
    price.currency = retail.currency = "USD";
    Ledger__V1__RenewSavingsPlan renew = LEDGER__V1__RENEW_SAVINGS_PLAN__INIT;
    renew.savings_plan_id = plan;
    renew.price = &price;
    renew.retail_price = &retail;
    customer_command(&c, "c1");
    c.body_case = LEDGER__V1__COMMAND__BODY_RENEW_SAVINGS_PLAN;
    c.renew_savings_plan = &renew;
    /* The customer asks its partner. */
    assert_int_equal(run(f, &f->customer_user, &c, NULL), LEDGER_ERR_ASK_PARTNER);
    customer_command(&c, "c1");
    c.body_case = LEDGER__V1__COMMAND__BODY_RENEW_SAVINGS_PLAN;
    c.renew_savings_plan = &renew;
    assert_int_equal(run(f, &f->admin, &c, &request), LEDGER_ERR_OK);
    uint64_t sequence = request.results[0].message.first_sequence;
    char expected[32];
    snprintf(expected, sizeof expected, "sp-%llu", (unsigned long long)sequence);
    assert_string_equal(request.results[0].message.savings_plan_id, expected);
    engine_request_clear(&request);
    Ledger__V1__QueryResult *result = explained(f, sequence);
    const Ledger__V1__Explanation *e = result->explanation;
    assert_int_equal(e->purchase->event->body_case, LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_RENEWED);
    assert_string_equal(e->purchase->event->savings_plan_renewed->savings_plan_id, plan);
    assert_null(e->permission);
    assert_null(e->role);
    assert_string_equal(e->principal->event->principal_added->principal_id, f->admin.id);
    assert_string_equal(e->subscription->event->subscription_purchased->subscription_id, "s1");
    assert_int_equal(e->n_other_subscriptions, 0);
    assert_non_null(e->head);
    engine_result_free(result);
    unsigned differences = 99;
    assert_int_equal(engine_rebuild(f->engine, NULL, NULL, NULL, &differences), LEDGER_ERR_OK);
    assert_int_equal(differences, 0);
}

/* The ledger's schedule expires active reservations past their term with
 * auto-renewal off, dated at the expiry, as its own system principal; never
 * twice, never one the partner changed, never one set to renew. */
static void test_engine_expiries(void **state)
{
    struct fixture *f = *state;
    world(f);
    char ending[LEDGER_ID_LENGTH_MAX + 1], cancelled[LEDGER_ID_LENGTH_MAX + 1],
        renewing[LEDGER_ID_LENGTH_MAX + 1];
    int64_t bought_us = f->now_us + 1000000; /* run() advances the clock first */
    bought(f, ending, sizeof ending);
    bought(f, cancelled, sizeof cancelled);
    bought(f, renewing, sizeof renewing);
    Ledger__V1__Money refund = LEDGER__V1__MONEY__INIT;
    refund.amount_minor = 0;
    refund.currency = "USD";
    Ledger__V1__CancelReservation cancel = LEDGER__V1__CANCEL_RESERVATION__INIT;
    cancel.reservation_id = cancelled;
    cancel.refund = &refund;
    Ledger__V1__Command c;
    customer_command(&c, "c1");
    c.body_case = LEDGER__V1__COMMAND__BODY_CANCEL_RESERVATION;
    c.cancel_reservation = &cancel;
    assert_int_equal(run(f, &f->admin, &c, NULL), LEDGER_ERR_OK);
    Ledger__V1__SetReservationRenewal renewal = LEDGER__V1__SET_RESERVATION_RENEWAL__INIT;
    renewal.reservation_id = renewing;
    renewal.auto_renew = true;
    customer_command(&c, "c1");
    c.body_case = LEDGER__V1__COMMAND__BODY_SET_RESERVATION_RENEWAL;
    c.set_reservation_renewal = &renewal;
    assert_int_equal(run(f, &f->admin, &c, NULL), LEDGER_ERR_OK);

    /* Nothing is due before the term (P1Y) ends. */
    struct engine_expiry due[8];
    size_t count = 99;
    const int64_t year_us = INT64_C(365) * 86400 * 1000000;
    assert_int_equal(expiries_due(f, f->now_us, due, 8, &count), LEDGER_ERR_OK);
    assert_int_equal(count, 0);
    assert_int_equal(expiries_due(f, bought_us + year_us - 1, due, 8, &count), LEDGER_ERR_OK);
    assert_int_equal(count, 0);
    /* Due at its expiry time itself, to the microsecond. */
    assert_int_equal(expiries_due(f, bought_us + year_us, due, 8, &count), LEDGER_ERR_OK);
    assert_int_equal(count, 1);
    /* At the expiry: the one reservation still active and not renewing. */
    f->now_us = bought_us + 2 * year_us;
    assert_int_equal(expiries_due(f, f->now_us, due, 8, &count), LEDGER_ERR_OK);
    assert_int_equal(count, 1);
    assert_string_equal(due[0].partner_id, "p1");
    assert_string_equal(due[0].customer_id, "c1");
    assert_string_equal(due[0].reservation_id, ending);
    assert_int_equal(due[0].expires_us, bought_us + year_us);

    uint64_t before = head(f);
    struct engine_expire_outcome outcome;
    assert_int_equal(engine_expire(f->engine, due, count, f->now_us, &outcome), LEDGER_ERR_OK);
    assert_int_equal(outcome.expired, 1);
    assert_int_equal(outcome.refused, 0);
    assert_int_equal(head(f), before + 1);
    assert_int_equal(reservation_state(f, ending),
                     LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_EXPIRED);
    assert_int_equal(reservation_state(f, renewing),
                     LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_ACTIVE);
    /* The event: the system principal, dated at the expiry. */
    Ledger__V1__QueryResult *explanation = NULL;
    struct engine_principal auditor =
        make_principal("auditor-1", LEDGER__V1__ROLE__ROLE_AUDITOR, "p1", "", "");
    Ledger__V1__EventsQuery events = LEDGER__V1__EVENTS_QUERY__INIT;
    events.after_sequence = before;
    Ledger__V1__Query q = LEDGER__V1__QUERY__INIT;
    q.kind_case = LEDGER__V1__QUERY__KIND_EVENTS;
    q.events = &events;
    char message[ENGINE_MESSAGE_SIZE];
    assert_int_equal(engine_query(f->engine, &auditor, &q, f->now_us, &explanation, message),
                     LEDGER_ERR_OK);
    assert_int_equal(explanation->n_events, 1);
    const Ledger__V1__Event *event = explanation->events[0]->event;
    assert_int_equal(event->body_case, LEDGER__V1__EVENT__BODY_RESERVATION_EXPIRED);
    assert_string_equal(event->actor->principal_id, DOMAIN_SYSTEM_PRINCIPAL_ID);
    assert_int_equal(event->actor->role, LEDGER__V1__ROLE__ROLE_SYSTEM);
    assert_int_equal(event->business_us, bought_us + year_us);
    assert_int_equal(strncmp(event->command_id, "expiry-", 7), 0);
    engine_result_free(explanation);

    /* Again: a duplicate, nothing appended; and nothing more is due. */
    assert_int_equal(engine_expire(f->engine, due, count, f->now_us, &outcome), LEDGER_ERR_OK);
    assert_int_equal(outcome.expired, 0);
    assert_int_equal(outcome.refused, 0);
    assert_int_equal(head(f), before + 1);
    assert_int_equal(expiries_due(f, f->now_us, due, 8, &count), LEDGER_ERR_OK);
    assert_int_equal(count, 0);

    /* At most `max` a walk; an empty list appends nothing. */
    char more[3][LEDGER_ID_LENGTH_MAX + 1];
    for (int i = 0; i < 3; i++) {
        bought(f, more[i], sizeof more[i]);
    }
    assert_int_equal(expiries_due(f, f->now_us + 2 * year_us, due, 2, &count), LEDGER_ERR_OK);
    assert_int_equal(count, 2);
    assert_int_equal(engine_expire(f->engine, due, 0, f->now_us, &outcome), LEDGER_ERR_OK);
    assert_int_equal(outcome.expired, 0);
    assert_int_equal(head(f), before + 4);
    /* Set to renew after the scan found it: the decision sees it and leaves
     * it to the partner; the other one expires. */
    renewal.reservation_id = due[0].reservation_id;
    customer_command(&c, "c1");
    c.body_case = LEDGER__V1__COMMAND__BODY_SET_RESERVATION_RENEWAL;
    c.set_reservation_renewal = &renewal;
    assert_int_equal(run(f, &f->admin, &c, NULL), LEDGER_ERR_OK);
    assert_int_equal(engine_expire(f->engine, due, count, f->now_us + 2 * year_us, &outcome),
                     LEDGER_ERR_OK);
    assert_int_equal(outcome.expired, 1);
    /* The refusal is reported, for the daemon's log and metrics. */
    assert_int_equal(outcome.refused, 1);
    assert_int_equal(outcome.refusal, LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(outcome.refusal_message, "set to renew"));
    assert_string_equal(outcome.refused_reservation_id, due[0].reservation_id);
    assert_true(strlen(outcome.refusal_message) > 0);
    assert_int_equal(reservation_state(f, due[0].reservation_id),
                     LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_ACTIVE);
    assert_int_equal(reservation_state(f, due[1].reservation_id),
                     LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_EXPIRED);

    /* A walk resumes after the row it stopped on: one found at a time, the
     * walk of the two reservations due (the third of `more` and one more)
     * takes two calls and the third reaches the end. */
    char last[LEDGER_ID_LENGTH_MAX + 1];
    bought(f, last, sizeof last);
    struct store_position position = {0};
    char seen[2][LEDGER_ID_LENGTH_MAX + 1];
    for (int i = 0; i < 2; i++) {
        assert_int_equal(
            engine_expiries_due(f->engine, f->now_us + 2 * year_us, &position, due, 1, &count),
            LEDGER_ERR_OK);
        assert_int_equal(count, 1);
        assert_false(position.done);
        assert_true(position.size > 0);
        snprintf(seen[i], sizeof seen[i], "%s", due[0].reservation_id);
    }
    assert_string_not_equal(seen[0], seen[1]);
    assert_int_equal(
        engine_expiries_due(f->engine, f->now_us + 2 * year_us, &position, due, 1, &count),
        LEDGER_ERR_OK);
    assert_int_equal(count, 0);
    assert_true(position.done);
    assert_int_equal(position.size, 0);
}

/* Sets c1's reservation `id` to renew, as its admin. */
static void set_to_renew(struct fixture *f, const char *id)
{
    Ledger__V1__SetReservationRenewal renewal = LEDGER__V1__SET_RESERVATION_RENEWAL__INIT;
    renewal.reservation_id = (char *)id;
    renewal.auto_renew = true;
    Ledger__V1__Command c;
    customer_command(&c, "c1");
    c.body_case = LEDGER__V1__COMMAND__BODY_SET_RESERVATION_RENEWAL;
    c.set_reservation_renewal = &renewal;
    assert_int_equal(run(f, &f->admin, &c, NULL), LEDGER_ERR_OK);
}

/* One expiry run with two refusals and a reservation listed twice: both
 * refusals are counted and the first is the one reported (its reservation
 * and message, not overwritten by the second); the reservation listed twice
 * is expired once, its second command a duplicate that is neither counted
 * as expired nor as refused. */
static void test_engine_expire_first_refusal_and_a_double(void **state)
{
    struct fixture *f = *state;
    world(f);
    char ids[3][LEDGER_ID_LENGTH_MAX + 1];
    for (int i = 0; i < 3; i++) {
        bought(f, ids[i], sizeof ids[i]);
    }
    const int64_t year_us = INT64_C(365) * 86400 * 1000000;
    struct engine_expiry found[4];
    size_t count = 0;
    assert_int_equal(expiries_due(f, f->now_us + 2 * year_us, found, 4, &count), LEDGER_ERR_OK);
    assert_int_equal(count, 3);
    /* The first two set to renew after the scan found them. */
    set_to_renew(f, found[0].reservation_id);
    set_to_renew(f, found[1].reservation_id);
    struct engine_expiry due[4] = {found[0], found[1], found[2], found[2]};
    uint64_t before = head(f);
    struct engine_expire_outcome outcome;
    f->now_us += 2 * year_us;
    assert_int_equal(engine_expire(f->engine, due, 4, f->now_us, &outcome), LEDGER_ERR_OK);
    assert_int_equal(outcome.expired, 1);
    assert_int_equal(outcome.refused, 2);
    assert_int_equal(outcome.refusal, LEDGER_ERR_INVALID_ARGUMENT);
    assert_string_equal(outcome.refused_reservation_id, found[0].reservation_id);
    assert_non_null(strstr(outcome.refusal_message, "set to renew"));
    assert_non_null(strstr(outcome.refusal_message, found[0].reservation_id));
    assert_null(strstr(outcome.refusal_message, found[1].reservation_id));
    assert_int_equal(head(f), before + 1);
    assert_int_equal(reservation_state(f, found[2].reservation_id),
                     LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_EXPIRED);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(reservation_state(f, found[i].reservation_id),
                         LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_ACTIVE);
    }
}

/* Stores a principal row and secret directly, as a ledger written before
 * ids of DOMAIN_RESERVED_ID_PREFIX were refused could hold. */
static void store_legacy_principal(struct fixture *f, const char *id, bool revoked)
{
    engine_close(f->engine);
    f->engine = NULL;
    struct store *store = NULL;
    struct store_options store_options = {.dir = f->dir};
    assert_int_equal(store_open(&store_options, &store), LEDGER_ERR_OK);
    struct store_txn *txn = NULL;
    assert_int_equal(store_begin(store, true, &txn), LEDGER_ERR_OK);
    Ledger__V1__PrincipalRow row = LEDGER__V1__PRINCIPAL_ROW__INIT;
    row.principal_id = (char *)id;
    row.role = LEDGER__V1__ROLE__ROLE_ADMIN_AGENT;
    row.partner_id = "p1";
    row.revoked = revoked;
    uint8_t packed[256];
    size_t size = ledger__v1__principal_row__pack(&row, packed);
    assert_true(size <= sizeof packed);
    uint8_t secret[LEDGER_SECRET_BYTES];
    memset(secret, 0x5a, sizeof secret);
    assert_int_equal(store_put(txn, STORE_DB_PRINCIPAL, id, strlen(id), packed, size),
                     LEDGER_ERR_OK);
    assert_int_equal(store_put(txn, STORE_DB_SECRET, id, strlen(id), secret, sizeof secret),
                     LEDGER_ERR_OK);
    assert_int_equal(store_commit(txn), LEDGER_ERR_OK);
    store_close(store);
    struct engine_options options = {.data_dir = f->dir};
    assert_int_equal(engine_open(&options, &f->engine), LEDGER_ERR_OK);
}

/* A principal row named like the ledger's own principals (possible before
 * the prefix was reserved) neither authenticates nor stops the schedule:
 * revoked, its row is not the schedule's. */
/* A backup goes into a directory whose name is as long as a file name may
 * be (NAME_MAX); one character more is refused, saying so, and "." or ".."
 * too, before anything is made. */
static void test_engine_backup_name_of_name_max(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(add_partner(f, "p1"), LEDGER_ERR_OK);
    char root[512];
    test_make_dir(root, sizeof root, "engine-backup");
    char dir[512 + NAME_MAX + 8];
    int used = snprintf(dir, sizeof dir, "%s/", root);
    assert_true(used > 0);
    memset(dir + used, 'b', NAME_MAX + 1);
    dir[(size_t)used + NAME_MAX + 1] = '\0';
    Ledger__V1__BackupQuery backup = LEDGER__V1__BACKUP_QUERY__INIT;
    backup.directory = dir;
    Ledger__V1__Query q = LEDGER__V1__QUERY__INIT;
    q.kind_case = LEDGER__V1__QUERY__KIND_BACKUP;
    q.backup = &backup;
    char message[ENGINE_MESSAGE_SIZE];
    assert_int_equal(query_code(f, &f->operator_principal, &q, message),
                     LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(message, "its name is longer than 255 bytes; give a shorter one"));
    /* A control character would reach whoever prints the messages that
     * name the directory. */
    char escape[512 + 16];
    snprintf(escape, sizeof escape, "%s/\x1b[2Jcopy", root);
    backup.directory = escape;
    assert_int_equal(query_code(f, &f->operator_principal, &q, message),
                     LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(message, "holds a control character"));
    assert_null(strchr(message, '\x1b'));
    /* "." and ".." name no new directory. */
    char dots[512 + 8];
    backup.directory = dots;
    for (size_t i = 1; i <= 2; i++) {
        snprintf(dots, sizeof dots, "%s/%s", root, i == 1 ? "." : "..");
        assert_int_equal(query_code(f, &f->operator_principal, &q, message),
                         LEDGER_ERR_INVALID_ARGUMENT);
        assert_non_null(strstr(message, "name a new directory"));
    }
    backup.directory = dir;
    dir[(size_t)used + NAME_MAX] = '\0';
    assert_int_equal(query_code(f, &f->operator_principal, &q, message), LEDGER_ERR_OK);
    struct stat info;
    assert_int_equal(stat(dir, &info), 0);
    assert_true(S_ISDIR(info.st_mode));
    test_remove_dir(root);
}

/* How many entries `dir` holds besides "." and "..". */
static unsigned dir_entries(const char *dir)
{
    DIR *handle = opendir(dir);
    assert_non_null(handle);
    unsigned count = 0;
    for (struct dirent *entry = readdir(handle); entry != NULL; entry = readdir(handle)) {
        count += strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0;
    }
    closedir(handle);
    return count;
}

/* A backup whose parent cannot be opened is the asker's to fix
 * (INVALID_ARGUMENT), each reason said in words: a parent that does not
 * exist, one that is a file, a path looping through symbolic links, a
 * directory name in the path longer than NAME_MAX; a final name held by a
 * dangling symbolic link exists; DEL is a control character. Nothing is
 * made anywhere, and a backup named well afterwards is made. */
static void test_engine_backup_parent_refused(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(add_partner(f, "p1"), LEDGER_ERR_OK);
    char root[512];
    test_make_dir(root, sizeof root, "engine-backup");
    char path[1024];
    snprintf(path, sizeof path, "%s/file", root);
    FILE *file = fopen(path, "w");
    assert_non_null(file);
    fclose(file);
    snprintf(path, sizeof path, "%s/loop", root);
    assert_int_equal(symlink("loop", path), 0);
    snprintf(path, sizeof path, "%s/dangling", root);
    assert_int_equal(symlink("nowhere", path), 0);
    char long_name[NAME_MAX + 2];
    memset(long_name, 'n', NAME_MAX + 1);
    long_name[NAME_MAX + 1] = '\0';
    struct {
        const char *tail;
        const char *why;
    } cases[] = {
        {"missing/copy", "its parent directory does not exist on the daemon's host"},
        {"file/copy", "its parent is not a directory on the daemon's host"},
        {"loop/copy", "its path has a loop of symbolic links on the daemon's host"},
        {long_name, NULL},
        {"dangling", "it already exists; give a new one"},
        {"co\x7fpy", NULL},
    };
    Ledger__V1__BackupQuery backup = LEDGER__V1__BACKUP_QUERY__INIT;
    Ledger__V1__Query q = LEDGER__V1__QUERY__INIT;
    q.kind_case = LEDGER__V1__QUERY__KIND_BACKUP;
    q.backup = &backup;
    char message[ENGINE_MESSAGE_SIZE], expected[ENGINE_MESSAGE_SIZE];
    char dir[1024];
    backup.directory = dir;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (cases[i].tail == long_name) {
            snprintf(dir, sizeof dir, "%s/%s/copy", root, long_name);
            snprintf(expected, sizeof expected,
                     "cannot create the backup directory %.120s: a directory name in its path "
                     "is longer than %d bytes; give shorter ones",
                     dir, NAME_MAX);
        } else {
            snprintf(dir, sizeof dir, "%s/%s", root, cases[i].tail);
            if (cases[i].why != NULL) {
                snprintf(expected, sizeof expected, "cannot create the backup directory %.120s: %s",
                         dir, cases[i].why);
            } else {
                snprintf(expected, sizeof expected,
                         "the backup directory's path holds a control character; give a path "
                         "of printable characters");
            }
        }
        assert_int_equal(query_code(f, &f->operator_principal, &q, message),
                         LEDGER_ERR_INVALID_ARGUMENT);
        assert_string_equal(message, expected);
        /* Only the file and the two links. */
        assert_int_equal(dir_entries(root), 3);
    }
    snprintf(dir, sizeof dir, "%s/copy", root);
    assert_int_equal(query_code(f, &f->operator_principal, &q, message), LEDGER_ERR_OK);
    assert_int_equal(dir_entries(root), 4);
    test_remove_dir(root);
}

/* The head engine_backup signs beside the copy is dated when the backup
 * was made, to the microsecond of the clock. */
static void test_engine_backup_head_dated_now(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(add_partner(f, "p1"), LEDGER_ERR_OK);
    char root[512];
    test_make_dir(root, sizeof root, "engine-backup");
    char dir[600], head_path[640];
    snprintf(dir, sizeof dir, "%s/copy", root);
    snprintf(head_path, sizeof head_path, "%s/head.pb", dir);
    struct timespec before, after;
    clock_gettime(CLOCK_REALTIME, &before);
    assert_int_equal(engine_backup(f->engine, dir), LEDGER_ERR_OK);
    clock_gettime(CLOCK_REALTIME, &after);
    FILE *file = fopen(head_path, "rb");
    assert_non_null(file);
    uint8_t bytes[1024];
    size_t size = fread(bytes, 1, sizeof bytes, file);
    fclose(file);
    assert_true(size > 0 && size < sizeof bytes);
    uint64_t tree_size = head(f);
    Ledger__V1__SignedHead *signed_head = ledger__v1__signed_head__unpack(NULL, size, bytes);
    assert_non_null(signed_head);
    int64_t from_us = (int64_t)before.tv_sec * 1000000 + before.tv_nsec / 1000;
    int64_t to_us = (int64_t)after.tv_sec * 1000000 + after.tv_nsec / 1000;
    assert_true(signed_head->timestamp_us >= from_us && signed_head->timestamp_us <= to_us);
    assert_int_equal(signed_head->tree_size, tree_size);
    ledger__v1__signed_head__free_unpacked(signed_head, NULL);
    test_remove_dir(root);
}

/* A head-signing key file is read as what it holds: the data directory's
 * own head.key is one; a principal's key file, and a path that opens but
 * cannot be read (a directory), are refused, each saying why. */
static void test_engine_head_key_file_checked(void **state)
{
    struct fixture *f = *state;
    char path[640], message[ENGINE_MESSAGE_SIZE];
    snprintf(path, sizeof path, "%s/head.key", f->dir);
    assert_int_equal(engine_check_head_key_file(path, NULL, message), LEDGER_ERR_OK);
    snprintf(path, sizeof path, "%s/operator.key", f->dir);
    assert_int_equal(engine_check_head_key_file(path, NULL, message), LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(message, "a principal's secret"));
    /* fopen takes a directory; reading it fails. */
    assert_int_equal(engine_check_head_key_file(f->dir, NULL, message), LEDGER_ERR_IO_ERROR);
    assert_string_equal(message, "it cannot be read (Is a directory)");
}

/* Reading head.key leaves no copy of the secret key in freed memory: stdio
 * would read it through a buffer of its own (st_blksize bytes), which
 * fclose frees unwiped. Method: glibc hands a block just freed back to the
 * next allocation of its size with its contents, but for its first 16
 * bytes (the free list's links), so a block of that size allocated right
 * after the read shows what the read freed; the second quarter of the key
 * file's digits (the seed's, past those 16 bytes) must not be in it. The
 * sanitizers' allocator keeps freed blocks apart instead: there the test
 * finds nothing either way. */
static void test_engine_head_key_read_leaves_no_copy(void **state)
{
    struct fixture *f = *state;
    char path[640], message[ENGINE_MESSAGE_SIZE];
    snprintf(path, sizeof path, "%s/head.key", f->dir);
    /* Read here without stdio too, so that no copy is left by the test. */
    char text[2 * CRYPTO_SIGN_SECRET_BYTES];
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(read(fd, text, sizeof text), (ssize_t)sizeof text);
    close(fd);
    struct stat info;
    assert_int_equal(stat(path, &info), 0);
    size_t block = (size_t)info.st_blksize;
    assert_int_equal(engine_check_head_key_file(path, NULL, message), LEDGER_ERR_OK);
    const char *seed = text + CRYPTO_SIGN_SECRET_BYTES / 2;
    const size_t seed_digits = CRYPTO_SIGN_SECRET_BYTES / 2;
    char *probe = malloc(block);
    assert_non_null(probe);
    bool found = false;
    for (size_t i = 0; i + seed_digits <= block && !found; i++) {
        found = memcmp(probe + i, seed, seed_digits) == 0;
    }
    free(probe);
    assert_false(found);
}

/* A data directory whose head.key is there but cannot be read (here a
 * directory) does not open for writing, and says IO_ERROR, not NOT_FOUND:
 * that is kept for a missing key (a backup). */
static void test_engine_open_head_key_unreadable(void **state)
{
    struct fixture *f = *state;
    engine_close(f->engine);
    f->engine = NULL;
    char path[640];
    snprintf(path, sizeof path, "%s/head.key", f->dir);
    assert_int_equal(unlink(path), 0);
    struct engine_options options = {.data_dir = f->dir};
    struct engine *engine = NULL;
    assert_int_equal(engine_open(&options, &engine), LEDGER_ERR_NOT_FOUND);
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(engine_open(&options, &engine), LEDGER_ERR_IO_ERROR);
    assert_null(engine);
    /* Offline readers need no key. */
    options.read_only = true;
    assert_int_equal(engine_open(&options, &f->engine), LEDGER_ERR_OK);
}

/* A purchase by a principal whose row names no PrincipalAdded (a row
 * stored before principals were events) cannot be explained: the role that
 * allowed it is not in the log, and explain says CORRUPT rather than
 * answering without it or looking for event 0. */
static void test_engine_explain_principal_without_its_event(void **state)
{
    struct fixture *f = *state;
    world(f);
    store_legacy_principal(f, "legacy-admin", false);
    struct engine_principal legacy =
        make_principal("legacy-admin", LEDGER__V1__ROLE__ROLE_ADMIN_AGENT, "p1", "", "");
    struct engine_request request;
    assert_int_equal(buy_reservation(f, &legacy, "c1", "s1", &request), LEDGER_ERR_OK);
    uint64_t purchase = appended_sequence(&request);
    struct engine_principal auditor =
        make_principal("auditor-1", LEDGER__V1__ROLE__ROLE_AUDITOR, "p1", "", "");
    Ledger__V1__ExplainQuery explain;
    Ledger__V1__Query q;
    explain_query(&q, &explain, purchase);
    char message[ENGINE_MESSAGE_SIZE];
    assert_int_equal(query_code(f, &auditor, &q, message), LEDGER_ERR_CORRUPT);
}

static void test_engine_reserved_principal_rows(void **state)
{
    struct fixture *f = *state;
    world(f);
    char ending[LEDGER_ID_LENGTH_MAX + 1];
    int64_t bought_us = f->now_us + 1000000;
    bought(f, ending, sizeof ending);
    store_legacy_principal(f, DOMAIN_SYSTEM_PRINCIPAL_ID, true);
    store_legacy_principal(f, "ledger:someone", false);
    store_legacy_principal(f, DOMAIN_INIT_PRINCIPAL_ID, false);

    struct engine_principal found;
    assert_int_equal(engine_principal_lookup(f->engine, DOMAIN_INIT_PRINCIPAL_ID, &found),
                     LEDGER_ERR_UNKNOWN_PRINCIPAL);
    assert_int_equal(engine_principal_lookup(f->engine, DOMAIN_SYSTEM_PRINCIPAL_ID, &found),
                     LEDGER_ERR_UNKNOWN_PRINCIPAL);
    assert_int_equal(engine_principal_lookup(f->engine, "ledger:someone", &found),
                     LEDGER_ERR_UNKNOWN_PRINCIPAL);
    /* An ordinary row of the same shape authenticates (the test's rows are
     * what the store holds, not what the lookup makes of an id). */
    store_legacy_principal(f, "legacy-admin", false);
    assert_int_equal(engine_principal_lookup(f->engine, "legacy-admin", &found), LEDGER_ERR_OK);
    crypto_wipe(&found, sizeof found);

    const int64_t year_us = INT64_C(365) * 86400 * 1000000;
    f->now_us = bought_us + 2 * year_us;
    struct engine_expiry due[4];
    size_t count = 0;
    struct store_position position = {0};
    assert_int_equal(engine_expiries_due(f->engine, f->now_us, &position, due, 4, &count),
                     LEDGER_ERR_OK);
    assert_int_equal(count, 1);
    struct engine_expire_outcome outcome;
    assert_int_equal(engine_expire(f->engine, due, count, f->now_us, &outcome), LEDGER_ERR_OK);
    assert_int_equal(outcome.refused, 0);
    assert_int_equal(outcome.expired, 1);
    assert_int_equal(reservation_state(f, ending),
                     LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_EXPIRED);
}

/* A due entry whose reservation id the ledger never makes (too long to
 * make a command id of: "expiry-" and 58 characters) is passed over: no
 * command, no refusal, nothing appended for it; the entries beside it in
 * the list still expire. */
static void test_engine_expire_passes_over_an_id_too_long(void **state)
{
    struct fixture *f = *state;
    world(f);
    char ending[LEDGER_ID_LENGTH_MAX + 1];
    bought(f, ending, sizeof ending);
    f->now_us += INT64_C(2) * 365 * 86400 * 1000000;
    struct engine_expiry due[2];
    size_t count = 0;
    assert_int_equal(expiries_due(f, f->now_us, &due[1], 1, &count), LEDGER_ERR_OK);
    assert_int_equal(count, 1);
    assert_string_equal(due[1].reservation_id, ending);
    due[0] = due[1];
    memset(due[0].reservation_id, 'r', LEDGER_ID_LENGTH_MAX - 6);
    due[0].reservation_id[LEDGER_ID_LENGTH_MAX - 6] = '\0';
    uint64_t before = head(f);
    struct engine_expire_outcome outcome;
    assert_int_equal(engine_expire(f->engine, due, 2, f->now_us, &outcome), LEDGER_ERR_OK);
    assert_int_equal(outcome.expired, 1);
    assert_int_equal(outcome.refused, 0);
    assert_int_equal(outcome.refusal, LEDGER_ERR_OK);
    assert_int_equal(head(f), before + 1);
    assert_int_equal(reservation_state(f, ending),
                     LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_EXPIRED);
    /* Alone, it makes no request at all. */
    assert_int_equal(engine_expire(f->engine, due, 1, f->now_us, &outcome), LEDGER_ERR_OK);
    assert_int_equal(outcome.expired + outcome.refused, 0);
    assert_int_equal(head(f), before + 1);
}

/* A principal whose stored secret is damaged (not 32 bytes) authenticates
 * nothing: the lookup says UNKNOWN_PRINCIPAL, as for one without a row, and
 * gives nothing out. */
static void test_engine_principal_with_a_damaged_secret(void **state)
{
    struct fixture *f = *state;
    struct store_txn *txn = NULL;
    assert_int_equal(store_begin(engine_store(f->engine), true, &txn), LEDGER_ERR_OK);
    assert_int_equal(store_put(txn, STORE_DB_SECRET, "operator", 8, "short", 5), LEDGER_ERR_OK);
    assert_int_equal(store_commit(txn), LEDGER_ERR_OK);
    struct engine_principal p;
    memset(&p, 0x5a, sizeof p);
    assert_int_equal(engine_principal_lookup(f->engine, "operator", &p),
                     LEDGER_ERR_UNKNOWN_PRINCIPAL);
    assert_int_equal((unsigned char)p.id[0], 0x5a);
}

/* A retry whose stored result is damaged (its bytes no longer decode) is
 * CORRUPT: not answered as a duplicate with a made-up result, not executed
 * a second time; the storage being damaged, its group fails whole and writes
 * nothing, and a command with another id then commits. */
static void test_engine_retry_with_a_damaged_stored_result(void **state)
{
    struct fixture *f = *state;
    Ledger__V1__AddPartner body = LEDGER__V1__ADD_PARTNER__INIT;
    body.partner_id = "p-once";
    body.name = "Once Ltd";
    Ledger__V1__Command c = LEDGER__V1__COMMAND__INIT;
    c.command_id = "partner-once";
    c.partner_id = "p-once";
    c.body_case = LEDGER__V1__COMMAND__BODY_ADD_PARTNER;
    c.add_partner = &body;
    ProtobufCBinaryData once = pack_command(&c);
    assert_int_equal(run_bytes(f, &f->operator_principal, &once, 1, NULL), LEDGER_ERR_OK);
    uint64_t before = head(f);

    static const char key[] = "operator\0partner-once";
    struct store_txn *txn = NULL;
    assert_int_equal(store_begin(engine_store(f->engine), true, &txn), LEDGER_ERR_OK);
    uint8_t hash[STORE_HASH_BYTES];
    struct store_val stored;
    assert_int_equal(store_command_get(txn, "operator", "partner-once", hash, &stored),
                     LEDGER_ERR_OK);
    uint8_t damaged[STORE_HASH_BYTES + 3];
    memcpy(damaged, hash, sizeof hash);
    memset(damaged + STORE_HASH_BYTES, 0xff, 3); /* a varint that never ends */
    assert_int_equal(store_put(txn, STORE_DB_COMMAND, key, sizeof key - 1, damaged, sizeof damaged),
                     LEDGER_ERR_OK);
    assert_int_equal(store_commit(txn), LEDGER_ERR_OK);

    body.partner_id = "p-other";
    c.command_id = "partner-other";
    c.partner_id = "p-other";
    ProtobufCBinaryData other = pack_command(&c);
    struct engine_request requests[2] = {
        {.principal = &f->operator_principal, .commands = &once, .command_count = 1},
        {.principal = &f->operator_principal, .commands = &other, .command_count = 1},
    };
    f->now_us += 1000000;
    assert_int_equal(engine_execute(f->engine, requests, 2, f->now_us), LEDGER_ERR_CORRUPT);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(requests[i].err, LEDGER_ERR_CORRUPT);
        assert_string_equal(requests[i].message, ledger_strerror(LEDGER_ERR_CORRUPT));
        engine_request_clear(&requests[i]);
    }
    assert_int_equal(head(f), before);
    struct engine_request alone;
    assert_int_equal(run_bytes(f, &f->operator_principal, &other, 1, &alone), LEDGER_ERR_OK);
    assert_false(alone.results[0].message.duplicate);
    assert_int_equal(alone.results[0].message.first_sequence, before + 1);
    engine_request_clear(&alone);
    assert_int_equal(head(f), before + 1);
    free(once.data);
    free(other.data);
}

/* An initialization of a data directory that holds a ledger but not its
 * head key (a backup copied in without it) is refused PRINCIPAL_EXISTS
 * before anything is written: no new head key, which would sign the
 * ledger's history as another ledger's, no operator key file; with its own
 * key back, the ledger opens as it was. */
static void test_engine_init_of_a_ledger_without_its_head_key(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(add_partner(f, "p1"), LEDGER_ERR_OK);
    uint64_t before = head(f);
    engine_close(f->engine);
    f->engine = NULL;
    char key[600], aside[600], operator_key[600];
    snprintf(key, sizeof key, "%s/head.key", f->dir);
    snprintf(aside, sizeof aside, "%s/head.key.aside", f->dir);
    snprintf(operator_key, sizeof operator_key, "%s/operator-2.key", f->dir);
    assert_int_equal(rename(key, aside), 0);
    struct engine_options options = {.data_dir = f->dir};
    assert_int_equal(engine_init(&options, "operator-2", operator_key),
                     LEDGER_ERR_PRINCIPAL_EXISTS);
    struct stat st;
    assert_int_equal(stat(key, &st), -1);
    assert_int_equal(stat(operator_key, &st), -1);
    assert_int_equal(rename(aside, key), 0);
    assert_int_equal(engine_open(&options, &f->engine), LEDGER_ERR_OK);
    assert_int_equal(head(f), before);
    struct engine_principal p;
    assert_int_equal(engine_principal_lookup(f->engine, "operator-2", &p),
                     LEDGER_ERR_UNKNOWN_PRINCIPAL);
}

/* Two initializations of one directory at once (`ledgerd init` and a first
 * start): the second, finding the directory locked by the first, is
 * DATA_DIR_LOCKED and creates nothing in it (no key, no store, no operator
 * key to hand out); once the first is done, an initialization goes ahead. */
static void test_engine_init_while_another_holds_the_directory(void **state)
{
    (void)state;
    char dir[512], key_path[600];
    test_make_dir(dir, sizeof dir, "engine-init-locked");
    snprintf(key_path, sizeof key_path, "%s.operator.key", dir);
    int held = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(held >= 0);
    assert_int_equal(flock(held, LOCK_EX | LOCK_NB), 0);
    struct engine_options options = {.data_dir = dir};
    assert_int_equal(engine_init(&options, "operator", key_path), LEDGER_ERR_DATA_DIR_LOCKED);
    assert_int_equal(dir_entries(dir), 0);
    assert_int_equal(access(key_path, F_OK), -1);
    close(held);
    assert_int_equal(engine_init(&options, "operator", key_path), LEDGER_ERR_OK);
    struct engine *engine = NULL;
    assert_int_equal(engine_open(&options, &engine), LEDGER_ERR_OK);
    assert_int_equal(engine_head_sequence(engine), 1);
    engine_close(engine);
    unlink(key_path);
    test_remove_dir(dir);
}

/* An initialization where no directory can be (its parent is missing, or
 * the path is a file) is IO_ERROR and creates nothing; so is one whose
 * head-signing key cannot be written (a directory has its temporary name),
 * which leaves the directory as it found it. */
static void test_engine_init_where_nothing_can_be_written(void **state)
{
    (void)state;
    char root[512], dir[600], key_path[640], file[600];
    test_make_dir(root, sizeof root, "engine-init-io");
    snprintf(dir, sizeof dir, "%s/missing/data", root);
    snprintf(key_path, sizeof key_path, "%s/operator.key", root);
    struct engine_options options = {.data_dir = dir};
    assert_int_equal(engine_init(&options, "operator", key_path), LEDGER_ERR_IO_ERROR);
    snprintf(file, sizeof file, "%s/file", root);
    FILE *plain = fopen(file, "w");
    assert_non_null(plain);
    assert_int_equal(fclose(plain), 0);
    options.data_dir = file;
    assert_int_equal(engine_init(&options, "operator", key_path), LEDGER_ERR_IO_ERROR);
    assert_int_equal(dir_entries(root), 1);

    snprintf(dir, sizeof dir, "%s/data", root);
    assert_int_equal(mkdir(dir, 0700), 0);
    char blocker[640];
    snprintf(blocker, sizeof blocker, "%s/head.key.tmp", dir);
    assert_int_equal(mkdir(blocker, 0700), 0);
    options.data_dir = dir;
    assert_int_equal(engine_init(&options, "operator", key_path), LEDGER_ERR_IO_ERROR);
    assert_int_equal(dir_entries(dir), 1);
    assert_int_equal(access(key_path, F_OK), -1);
    assert_false(engine_present(dir));
    assert_int_equal(rmdir(blocker), 0);
    assert_int_equal(engine_init(&options, "operator", key_path), LEDGER_ERR_OK);
    test_remove_dir(root);
}

/* What a crashed init leaves under a key file's temporary name, or what is
 * put there, goes before the key is written: a world-readable file there
 * does not give the operator key its mode, and a symbolic link there does
 * not take the head key elsewhere. Both keys end up 0600 regular files and
 * no temporary name is left. */
static void test_engine_init_over_stale_temporary_key_files(void **state)
{
    (void)state;
    char root[512], dir[600], key_path[640], stale[660], decoy[600];
    test_make_dir(root, sizeof root, "engine-init-stale");
    snprintf(dir, sizeof dir, "%s/data", root);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(key_path, sizeof key_path, "%s/operator.key", root);
    snprintf(stale, sizeof stale, "%s.tmp", key_path);
    FILE *file = fopen(stale, "w");
    assert_non_null(file);
    assert_true(fputs("stale\n", file) >= 0);
    assert_int_equal(fclose(file), 0);
    assert_int_equal(chmod(stale, 0644), 0);
    snprintf(decoy, sizeof decoy, "%s/decoy", root);
    file = fopen(decoy, "w");
    assert_non_null(file);
    assert_true(fputs("decoy\n", file) >= 0);
    assert_int_equal(fclose(file), 0);
    char head_stale[640];
    snprintf(head_stale, sizeof head_stale, "%s/head.key.tmp", dir);
    assert_int_equal(symlink(decoy, head_stale), 0);
    struct engine_options options = {.data_dir = dir};
    assert_int_equal(engine_init(&options, "operator", key_path), LEDGER_ERR_OK);
    char head_key[640];
    snprintf(head_key, sizeof head_key, "%s/head.key", dir);
    const char *keys[] = {key_path, head_key};
    for (size_t i = 0; i < 2; i++) {
        struct stat st;
        assert_int_equal(lstat(keys[i], &st), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(st.st_mode & 0777, 0600);
    }
    struct stat st;
    assert_int_equal(lstat(stale, &st), -1);
    assert_int_equal(lstat(head_stale, &st), -1);
    char text[16] = {0};
    assert_int_equal(test_read_bytes(decoy, text, sizeof text - 1), 6);
    assert_string_equal(text, "decoy\n");
    struct engine *engine = NULL;
    assert_int_equal(engine_open(&options, &engine), LEDGER_ERR_OK);
    struct engine_principal operator_principal;
    assert_int_equal(engine_principal_lookup(engine, "operator", &operator_principal),
                     LEDGER_ERR_OK);
    engine_close(engine);
    test_remove_dir(root);
}

/* Puts `size` bytes under the meta entry `name` of the closed ledger in dir. */
static void meta_put(const char *dir, const char *name, const void *value, size_t size)
{
    struct store_options options = {.dir = dir};
    struct store *store = NULL;
    assert_int_equal(store_open(&options, &store), LEDGER_ERR_OK);
    struct store_txn *txn = NULL;
    assert_int_equal(store_begin(store, true, &txn), LEDGER_ERR_OK);
    assert_int_equal(store_put(txn, STORE_DB_META, name, strlen(name), value, size), LEDGER_ERR_OK);
    assert_int_equal(store_commit(txn), LEDGER_ERR_OK);
    store_close(store);
}

/* A damaged meta entry the engine reads at open (the views' layout, the
 * refusal horizon: not an 8-byte number, or a horizon past the largest
 * time) is CORRUPT, for writers and readers alike, and engine_open_detail
 * names the entry and what to do; put right, the ledger opens again. */
static void test_engine_open_damaged_meta_entry(void **state)
{
    struct fixture *f = *state;
    engine_close(f->engine);
    f->engine = NULL;
    static const struct {
        const char *name;
        const char *value;
        size_t size;
        const char *says;
    } cases[] = {
        {"views", "\x00\x0b", 2,
         "the views' layout (meta entry \"views\") is not an 8-byte number"},
        {"refused-until", "\x01\x02\x03", 3,
         "the refusal horizon (meta entry \"refused-until\") is not 8 bytes of microseconds "
         "since the epoch"},
        {"refused-until", "\x80\x00\x00\x00\x00\x00\x00\x00", 8,
         "the refusal horizon (meta entry \"refused-until\") is not 8 bytes of microseconds "
         "since the epoch"},
    };
    uint8_t layout[8], horizon[8];
    store_u64_to_key(ENGINE_VIEWS_LAYOUT, layout);
    store_u64_to_key(0, horizon);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        meta_put(f->dir, cases[i].name, cases[i].value, cases[i].size);
        for (int read_only = 0; read_only <= 1; read_only++) {
            struct engine_options options = {.data_dir = f->dir, .read_only = read_only};
            struct engine *engine = NULL;
            assert_int_equal(engine_open(&options, &engine), LEDGER_ERR_CORRUPT);
            assert_null(engine);
            char expected[512];
            snprintf(expected, sizeof expected,
                     "%s: the data directory is damaged; check it with ledger-verify and "
                     "restore a backup",
                     cases[i].says);
            assert_string_equal(engine_open_detail(), expected);
        }
        meta_put(f->dir, "views", layout, sizeof layout);
        meta_put(f->dir, "refused-until", horizon, sizeof horizon);
        struct engine_options options = {.data_dir = f->dir};
        assert_int_equal(engine_open(&options, &f->engine), LEDGER_ERR_OK);
        assert_true(engine_views_current(f->engine, NULL));
        engine_close(f->engine);
        f->engine = NULL;
    }
    struct engine_options options = {.data_dir = f->dir};
    assert_int_equal(engine_open(&options, &f->engine), LEDGER_ERR_OK);
}

/* An environment with no record (a stray data.mdb, not an initialized
 * ledger) is no ledger to read: NOT_FOUND for a reader. */
static void test_engine_read_only_open_of_an_empty_environment(void **state)
{
    (void)state;
    char dir[512];
    test_make_dir(dir, sizeof dir, "engine-empty-env");
    struct store_options store_options = {.dir = dir};
    struct store *store = NULL;
    assert_int_equal(store_open(&store_options, &store), LEDGER_ERR_OK);
    store_close(store);
    assert_true(engine_present(dir));
    struct engine_options options = {.data_dir = dir, .read_only = true};
    struct engine *engine = NULL;
    assert_int_equal(engine_open(&options, &engine), LEDGER_ERR_NOT_FOUND);
    assert_null(engine);
    test_remove_dir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_engine_reserved_principal_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_init_writes_operator_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_init_key_path_without_room_for_its_temp, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_engine_second_open_is_locked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_unknown_principal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_rotate_principal_secret, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_retry_same_content_is_duplicate, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_engine_retry_survives_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_expected_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_batch_is_atomic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_group_isolates_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_command_id_twice_before_commit, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_engine_refusal_horizon_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_revocation_seen_within_group, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_group_mixes_single_and_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_unreadable_principal_row_fails_the_group, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_engine_state_cache_byte_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_refusals_append_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_batch_of_the_most_commands, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_customer_purchase_and_explain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_explain_back_dated_purchase, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_explain_purchase_under_back_dated_grant, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_engine_events_paging_and_scope, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_explain_savings_plan_and_refusals, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_engine_query_partner_not_an_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_events_query_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_consistency_between_heads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_inclusion_bounds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_proofs_of_generated_histories, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_map_growth_and_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_rebuild_keeps_views, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_subscription_id_scope, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_events_customer_principals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_events_customer_principals_past_the_scan, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_engine_cloud_order_id_unique, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_explain_renewal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_explain_savings_plan_renewal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_exchange_for_two_rebuilds_the_same, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_engine_exchange_of_the_most_reservations, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_engine_expiries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_expire_first_refusal_and_a_double, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_engine_as_of_past_latest_time_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_engine_stats_name_each_store_figure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_backup_name_of_name_max, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_backup_head_dated_now, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_backup_parent_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_head_key_file_checked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_head_key_read_leaves_no_copy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_open_head_key_unreadable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_expire_passes_over_an_id_too_long, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_engine_principal_with_a_damaged_secret, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_engine_retry_with_a_damaged_stored_result, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_engine_init_of_a_ledger_without_its_head_key, setup,
                                        teardown),
        cmocka_unit_test(test_engine_init_while_another_holds_the_directory),
        cmocka_unit_test(test_engine_init_over_stale_temporary_key_files),
        cmocka_unit_test(test_engine_init_where_nothing_can_be_written),
        cmocka_unit_test_setup_teardown(test_engine_open_damaged_meta_entry, setup, teardown),
        cmocka_unit_test(test_engine_read_only_open_of_an_empty_environment),
        cmocka_unit_test_setup_teardown(test_engine_explain_principal_without_its_event, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
