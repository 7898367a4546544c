/*
 * test_histgen.c: the history generator of tests/support/histgen.h produces
 * streams the domain accepts, reproducibly.
 *
 * Goal: every benchmark and load test that feeds generated histories to the
 * ledger relies on three properties, checked here: (1) every item the
 * generator calls valid is accepted by the real domain_decide, in sequence,
 * with the real domain_customer_evolve keeping the states (20,000 commands
 * over several partners, customer users included); (2) every deliberately
 * invalid item is refused with exactly the error code it announces; (3) the
 * same seed gives byte-identical streams and different seeds different ones.
 *
 * Method: a small in-memory harness plays the engine's part without storage:
 * a map of customer states, the set of registered partners and the set of
 * principals (checked against what each item claims its principal is), the
 * next sequence number, and the business time as the ledger's clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec.h"
#include "domain.h"
#include "error.h"
#include "histgen.h"

#define HARNESS_CUSTOMERS_MAX  4096
#define HARNESS_PARTNERS_MAX   256
#define HARNESS_PRINCIPALS_MAX 8192

struct harness_principal {
    char id[DOMAIN_ID_SIZE];
    Ledger__V1__Role role;
    char partner_id[DOMAIN_ID_SIZE];
    char customer_id[DOMAIN_ID_SIZE];
    char user[DOMAIN_ID_SIZE];
};

struct harness {
    struct domain_customer *customers[HARNESS_CUSTOMERS_MAX];
    size_t customer_count;
    char partners[HARNESS_PARTNERS_MAX][DOMAIN_ID_SIZE];
    size_t partner_count;
    struct harness_principal principals[HARNESS_PRINCIPALS_MAX];
    size_t principal_count;
    uint64_t sequence;
    struct domain_output out; /* large: kept here, not on the stack */
};

static struct harness *harness_new(void)
{
    struct harness *h = calloc(1, sizeof *h);
    assert_non_null(h);
    /* The operator exists before any history, as engine_init makes it. */
    snprintf(h->principals[0].id, sizeof h->principals[0].id, "operator");
    h->principals[0].role = LEDGER__V1__ROLE__ROLE_OPERATOR;
    h->principal_count = 1;
    return h;
}

static void harness_free(struct harness *h)
{
    for (size_t i = 0; i < h->customer_count; i++) {
        domain_customer_free(h->customers[i]);
    }
    free(h);
}

static bool harness_partner_exists(const struct harness *h, const char *partner_id)
{
    for (size_t i = 0; i < h->partner_count; i++) {
        if (strcmp(h->partners[i], partner_id) == 0) {
            return true;
        }
    }
    return false;
}

static const struct harness_principal *harness_principal(const struct harness *h, const char *id)
{
    for (size_t i = 0; i < h->principal_count; i++) {
        if (strcmp(h->principals[i].id, id) == 0) {
            return &h->principals[i];
        }
    }
    return NULL;
}

/* The state of (partner, customer), created empty (not onboarded) on first use. */
static struct domain_customer *harness_customer(struct harness *h, const char *partner_id,
                                                const char *customer_id)
{
    for (size_t i = 0; i < h->customer_count; i++) {
        if (strcmp(h->customers[i]->partner_id, partner_id) == 0 &&
            strcmp(h->customers[i]->customer_id, customer_id) == 0) {
            return h->customers[i];
        }
    }
    assert_true(h->customer_count < HARNESS_CUSTOMERS_MAX);
    struct domain_customer *customer = domain_customer_new(partner_id, customer_id);
    assert_non_null(customer);
    h->customers[h->customer_count++] = customer;
    return customer;
}

/* Decides one item as the engine would; on OK applies the event to the
 * harness. Returns the decision's code; message_out gets the refusal text. */
static enum ledger_err harness_execute(struct harness *h, const struct histgen_item *item,
                                       char message_out[DOMAIN_MESSAGE_SIZE])
{
    /* The item's principal must be one that exists, exactly as it was added. */
    const struct harness_principal *known = harness_principal(h, item->principal.id);
    if (known == NULL) {
        fail_msg("principal %s was never added", item->principal.id);
        return LEDGER_ERR_INTERNAL;
    }
    assert_int_equal(known->role, item->principal.role);
    assert_string_equal(known->partner_id, item->principal.partner_id);
    assert_string_equal(known->customer_id, item->principal.customer_id);
    assert_string_equal(known->user, item->principal.user);

    Ledger__V1__Command *command = NULL;
    assert_int_equal(codec_command_unpack(item->command, item->command_size, &command),
                     LEDGER_ERR_OK);
    assert_int_equal(command->body_case, item->kind);
    assert_string_equal(command->command_id, item->command_id);
    assert_true(command->business_us == item->business_us);

    struct domain_principal principal = {
        .id = item->principal.id,
        .role = item->principal.role,
        .partner_id = item->principal.partner_id,
        .customer_id = item->principal.customer_id,
        .user = item->principal.user,
    };
    const char *partner_id = domain_command_partner_id(&principal, command);
    struct domain_customer *customer = NULL;
    if (domain_command_is_customer(command->body_case)) {
        customer = harness_customer(h, partner_id, domain_command_customer_id(&principal, command));
    }
    const char *subject = domain_command_target_principal(command);
    const struct harness_principal *named = subject != NULL ? harness_principal(h, subject) : NULL;
    static const uint8_t command_hash[32] = {1};
    struct domain_input input = {
        .principal = &principal,
        .command = command,
        .partner_id = partner_id,
        .partner_exists = harness_partner_exists(h, partner_id),
        .customer = customer,
        .principal_exists = named != NULL,
        .principal_revoked = false,
        .principal_partner_id = named != NULL ? named->partner_id : "",
        .principal_customer_onboarded =
            command->body_case == LEDGER__V1__COMMAND__BODY_ADD_PRINCIPAL &&
            harness_customer(h, partner_id, command->add_principal->customer_id)->onboarded,
        /* The ledger's clock: the business time itself, so that no business
         * time is ever in the future. */
        .now_us = item->business_us,
        .sequence = h->sequence + 1,
        .command_hash = command_hash,
    };
    enum ledger_err err = domain_decide(&input, &h->out);
    snprintf(message_out, DOMAIN_MESSAGE_SIZE, "%s", h->out.message);
    if (err == LEDGER_ERR_OK) {
        const Ledger__V1__Event *event = &h->out.event;
        assert_true(event->sequence == h->sequence + 1);
        h->sequence++;
        if (customer != NULL) {
            assert_int_equal(domain_customer_evolve(customer, event), LEDGER_ERR_OK);
        } else if (event->body_case == LEDGER__V1__EVENT__BODY_PARTNER_REGISTERED) {
            assert_true(h->partner_count < HARNESS_PARTNERS_MAX);
            snprintf(h->partners[h->partner_count++], DOMAIN_ID_SIZE, "%s", event->partner_id);
        } else if (event->body_case == LEDGER__V1__EVENT__BODY_PRINCIPAL_ADDED) {
            const Ledger__V1__PrincipalAdded *added = event->principal_added;
            assert_true(h->principal_count < HARNESS_PRINCIPALS_MAX);
            struct harness_principal *p = &h->principals[h->principal_count++];
            snprintf(p->id, sizeof p->id, "%s", added->principal_id);
            p->role = added->role;
            snprintf(p->partner_id, sizeof p->partner_id, "%s", added->partner_id);
            snprintf(p->customer_id, sizeof p->customer_id, "%s", added->customer_id);
            snprintf(p->user, sizeof p->user, "%s", added->user);
        }
    }
    codec_command_free(command);
    return err;
}

/* Per-body-case counts of what a run produced. */
struct run_counts {
    uint64_t accepted, refused;
    uint64_t by_kind[64];
    uint64_t exchanges_buying[3]; /* accepted exchanges by replacements bought (1, 2) */
};

/* How many replacements the exchange `item` buys (0 when it does not decode). */
static size_t replacements_bought(const struct histgen_item *item)
{
    Ledger__V1__Command *command = NULL;
    if (codec_command_unpack(item->command, item->command_size, &command) != LEDGER_ERR_OK) {
        return 0;
    }
    size_t count =
        command->exchange_reservation != NULL ? command->exchange_reservation->n_replacements : 0;
    codec_command_free(command);
    return count;
}

/* Runs `options` through the domain; every valid item must be accepted and
 * every invalid one refused with its announced code. */
static void run_through_domain(const struct histgen_options *options, struct run_counts *counts)
{
    struct harness *h = harness_new();
    struct histgen *gen = NULL;
    assert_int_equal(histgen_new(options, &gen), LEDGER_ERR_OK);
    memset(counts, 0, sizeof *counts);
    struct histgen_item item;
    char message[DOMAIN_MESSAGE_SIZE];
    while (histgen_next(gen, &item)) {
        enum ledger_err err = harness_execute(h, &item, message);
        if (err != item.expected_err) {
            fail_msg("item %llu (%s by %s, command %s): expected %s, got %s: %s",
                     (unsigned long long)histgen_item_count(gen),
                     codec_command_type_name(item.kind), item.principal.id, item.command_id,
                     ledger_err_name(item.expected_err), ledger_err_name(err), message);
        }
        if (err == LEDGER_ERR_OK) {
            histgen_accepted(gen, h->sequence);
            counts->accepted++;
            if ((unsigned)item.kind < 64) {
                counts->by_kind[item.kind]++;
            }
            if (item.kind == LEDGER__V1__COMMAND__BODY_EXCHANGE_RESERVATION) {
                size_t bought = replacements_bought(&item);
                assert_true(bought >= 1 && bought <= 2);
                counts->exchanges_buying[bought]++;
            }
        } else {
            histgen_refused(gen);
            counts->refused++;
        }
    }
    assert_true(histgen_valid_count(gen) == options->target_events);
    histgen_free(gen);
    harness_free(h);
}

static void test_histgen_domain_accepts_every_command(void **state)
{
    (void)state;
    struct histgen_options options = {
        .seed = 20250101,
        .partners = 4,
        .customers_per_partner = 8,
        .target_events = 20000,
    };
    struct run_counts counts;
    run_through_domain(&options, &counts);
    assert_true(counts.accepted == 20000);
    assert_true(counts.refused == 0);
    /* The history is realistic only if every kind of business shows up. */
    static const Ledger__V1__Command__BodyCase expected[] = {
        LEDGER__V1__COMMAND__BODY_ADD_PARTNER,
        LEDGER__V1__COMMAND__BODY_ADD_PRINCIPAL,
        LEDGER__V1__COMMAND__BODY_ONBOARD_CUSTOMER,
        LEDGER__V1__COMMAND__BODY_PURCHASE_SUBSCRIPTION,
        LEDGER__V1__COMMAND__BODY_SET_SUBSCRIPTION_STATUS,
        LEDGER__V1__COMMAND__BODY_ASSIGN_ROLE,
        LEDGER__V1__COMMAND__BODY_REMOVE_ROLE,
        LEDGER__V1__COMMAND__BODY_GRANT_PERMISSION,
        LEDGER__V1__COMMAND__BODY_REVOKE_PERMISSION,
        LEDGER__V1__COMMAND__BODY_PURCHASE_RESERVATION,
        LEDGER__V1__COMMAND__BODY_CHANGE_RESERVATION_SCOPE,
        LEDGER__V1__COMMAND__BODY_SET_RESERVATION_RENEWAL,
        LEDGER__V1__COMMAND__BODY_EXCHANGE_RESERVATION,
        LEDGER__V1__COMMAND__BODY_CANCEL_RESERVATION,
        LEDGER__V1__COMMAND__BODY_PURCHASE_SAVINGS_PLAN,
        LEDGER__V1__COMMAND__BODY_CHANGE_SAVINGS_PLAN_SCOPE,
        LEDGER__V1__COMMAND__BODY_SET_SAVINGS_PLAN_RENEWAL,
        LEDGER__V1__COMMAND__BODY_SET_COST_VISIBILITY,
    };
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        if (counts.by_kind[expected[i]] == 0) {
            fail_msg("no %s in 20,000 commands", codec_command_type_name(expected[i]));
        }
    }
    assert_true(counts.by_kind[LEDGER__V1__COMMAND__BODY_ADD_PARTNER] == 4);
    assert_true(counts.by_kind[LEDGER__V1__COMMAND__BODY_ONBOARD_CUSTOMER] == 32);
    /* Exchanges buy one replacement, or now and then two. */
    if (counts.exchanges_buying[1] == 0 || counts.exchanges_buying[2] == 0) {
        fail_msg("exchanges buying one: %llu, two: %llu; expected some of each",
                 (unsigned long long)counts.exchanges_buying[1],
                 (unsigned long long)counts.exchanges_buying[2]);
    }
}

/* Long histories cross reservations' and savings plans' ends: renewals and
 * expiries. */
static void test_histgen_long_history_renews_and_expires(void **state)
{
    (void)state;
    struct histgen_options options = {
        .seed = 7,
        .partners = 2,
        .customers_per_partner = 3,
        .target_events = 6000,
        /* Hours per item: 6,000 items span about four years. */
        .step_min_us = INT64_C(3) * 3600 * 1000000,
        .step_max_us = INT64_C(9) * 3600 * 1000000,
    };
    struct run_counts counts;
    run_through_domain(&options, &counts);
    assert_true(counts.by_kind[LEDGER__V1__COMMAND__BODY_RENEW_RESERVATION] > 0);
    assert_true(counts.by_kind[LEDGER__V1__COMMAND__BODY_EXPIRE_RESERVATION] > 0);
    assert_true(counts.by_kind[LEDGER__V1__COMMAND__BODY_RENEW_SAVINGS_PLAN] > 0);
}

/* Rotations, when asked for: the operator rotates help desk agents'
 * secrets, which the domain accepts, the rotated principals never act, and
 * the rest of the stream stays valid, deliberate refusals included. */
static void test_histgen_rotations_are_valid(void **state)
{
    (void)state;
    struct histgen_options options = {
        .seed = 31,
        .partners = 3,
        .customers_per_partner = 6,
        .target_events = 5000,
        .invalid_per_mille = 20,
        .rotations_per_mille = 10,
    };
    struct run_counts counts;
    run_through_domain(&options, &counts);
    assert_true(counts.by_kind[LEDGER__V1__COMMAND__BODY_ROTATE_PRINCIPAL_SECRET] > 10);
    struct histgen *gen = NULL;
    assert_int_equal(histgen_new(&options, &gen), LEDGER_ERR_OK);
    struct histgen_item item;
    uint64_t sequence = 0;
    while (histgen_next(gen, &item)) {
        if (item.kind == LEDGER__V1__COMMAND__BODY_ROTATE_PRINCIPAL_SECRET) {
            assert_int_equal(item.principal.role, LEDGER__V1__ROLE__ROLE_OPERATOR);
        } else {
            /* The rotated principals never act. */
            assert_int_not_equal(item.principal.role, LEDGER__V1__ROLE__ROLE_HELPDESK_AGENT);
        }
        histgen_accepted(gen, ++sequence);
    }
    histgen_free(gen);
    options.rotations_per_mille = 0;
    run_through_domain(&options, &counts);
    assert_true(counts.by_kind[LEDGER__V1__COMMAND__BODY_ROTATE_PRINCIPAL_SECRET] == 0);
}

/* The batch-loading shape: one principal for long runs, still all valid. */
static void test_histgen_admin_only_runs_are_valid(void **state)
{
    (void)state;
    struct histgen_options options = {
        .seed = 99,
        .partners = 5,
        .customers_per_partner = 20,
        .target_events = 10000,
        .admin_only = true,
        .partner_run = 500,
    };
    struct run_counts counts;
    run_through_domain(&options, &counts);
    assert_true(counts.by_kind[LEDGER__V1__COMMAND__BODY_ONBOARD_CUSTOMER] == 100);

    /* After the operator's setup, principals change only between runs. */
    struct histgen *gen = NULL;
    assert_int_equal(histgen_new(&options, &gen), LEDGER_ERR_OK);
    struct histgen_item item;
    char last[HISTGEN_ID_SIZE] = "";
    uint64_t changes = 0, sequence = 0;
    while (histgen_next(gen, &item)) {
        assert_true(item.principal.role == LEDGER__V1__ROLE__ROLE_OPERATOR ||
                    item.principal.role == LEDGER__V1__ROLE__ROLE_ADMIN_AGENT);
        if (strcmp(last, item.principal.id) != 0) {
            changes++;
            snprintf(last, sizeof last, "%s", item.principal.id);
        }
        histgen_accepted(gen, ++sequence);
    }
    /* 10,000 items in runs of 500 after the setup: about 20 runs. */
    assert_true(changes <= 25);
    histgen_free(gen);
}

static void test_histgen_invalid_items_get_their_code(void **state)
{
    (void)state;
    struct histgen_options options = {
        .seed = 12345,
        .partners = 3,
        .customers_per_partner = 6,
        .target_events = 8000,
        .invalid_per_mille = 100,
    };
    struct run_counts counts;
    run_through_domain(&options, &counts);
    assert_true(counts.accepted == 8000);
    /* About one in ten items: every kind of refusal gets exercised. */
    assert_true(counts.refused > 400);
}

/* A whole stream, as bytes: principal, command, principal, command... */
struct stream {
    uint8_t *bytes;
    size_t size, capacity;
};

static void stream_append(struct stream *s, const void *data, size_t size)
{
    if (s->size + size > s->capacity) {
        size_t capacity = s->capacity ? s->capacity : 65536;
        while (capacity < s->size + size) {
            capacity *= 2;
        }
        uint8_t *grown = realloc(s->bytes, capacity);
        assert_non_null(grown);
        s->bytes = grown;
        s->capacity = capacity;
    }
    memcpy(s->bytes + s->size, data, size);
    s->size += size;
}

static void generate_stream(uint64_t seed, uint32_t invalid_per_mille, struct stream *out)
{
    struct histgen_options options = {
        .seed = seed,
        .partners = 3,
        .customers_per_partner = 5,
        .target_events = 20000,
        .invalid_per_mille = invalid_per_mille,
    };
    struct histgen *gen = NULL;
    assert_int_equal(histgen_new(&options, &gen), LEDGER_ERR_OK);
    memset(out, 0, sizeof *out);
    struct histgen_item item;
    uint64_t sequence = 0;
    while (histgen_next(gen, &item)) {
        stream_append(out, item.principal.id, strlen(item.principal.id) + 1);
        stream_append(out, item.command, item.command_size);
        if (item.expected_err == LEDGER_ERR_OK) {
            histgen_accepted(gen, ++sequence);
        } else {
            histgen_refused(gen);
        }
    }
    histgen_free(gen);
}

static void test_histgen_same_seed_same_bytes(void **state)
{
    (void)state;
    struct stream a, b;
    generate_stream(42, 0, &a);
    generate_stream(42, 0, &b);
    assert_true(a.size > 20000 * 40);
    assert_true(a.size == b.size);
    assert_memory_equal(a.bytes, b.bytes, a.size);
    free(a.bytes);
    free(b.bytes);

    generate_stream(42, 50, &a);
    generate_stream(42, 50, &b);
    assert_true(a.size == b.size);
    assert_memory_equal(a.bytes, b.bytes, a.size);
    free(a.bytes);
    free(b.bytes);
}

static void test_histgen_different_seeds_differ(void **state)
{
    (void)state;
    struct stream a, b;
    generate_stream(42, 0, &a);
    generate_stream(43, 0, &b);
    /* The operator's setup is the same; the business must not be. */
    size_t common = a.size < b.size ? a.size : b.size;
    assert_true(a.size != b.size || memcmp(a.bytes, b.bytes, common) != 0);
    size_t first_difference = 0;
    while (first_difference < common && a.bytes[first_difference] == b.bytes[first_difference]) {
        first_difference++;
    }
    assert_true(first_difference < common / 10);
    free(a.bytes);
    free(b.bytes);
}

static void test_histgen_stops_at_target(void **state)
{
    (void)state;
    struct histgen_options options = {
        .seed = 1, .partners = 1, .customers_per_partner = 1, .target_events = 50};
    struct histgen *gen = NULL;
    assert_int_equal(histgen_new(&options, &gen), LEDGER_ERR_OK);
    struct histgen_item item;
    uint64_t sequence = 0;
    int64_t last_business_us = 0;
    while (histgen_next(gen, &item)) {
        assert_true(item.business_us > last_business_us);
        assert_true(item.business_us > HISTGEN_START_US_DEFAULT);
        last_business_us = item.business_us;
        histgen_accepted(gen, ++sequence);
    }
    assert_true(sequence == 50);
    assert_true(histgen_item_count(gen) == 50);
    assert_false(histgen_next(gen, &item));
    histgen_free(gen);
}

static void test_histgen_rejects_bad_options(void **state)
{
    (void)state;
    struct histgen *gen = NULL;
    struct histgen_options good = {
        .seed = 1, .partners = 2, .customers_per_partner = 2, .target_events = 10};
    struct histgen_options bad = good;
    bad.partners = 0;
    assert_int_equal(histgen_new(&bad, &gen), LEDGER_ERR_INVALID_ARGUMENT);
    bad = good;
    bad.partners = HISTGEN_PARTNERS_MAX + 1;
    assert_int_equal(histgen_new(&bad, &gen), LEDGER_ERR_INVALID_ARGUMENT);
    bad = good;
    bad.customers_per_partner = 0;
    assert_int_equal(histgen_new(&bad, &gen), LEDGER_ERR_INVALID_ARGUMENT);
    bad = good;
    bad.customers_per_partner = HISTGEN_CUSTOMERS_MAX + 1;
    assert_int_equal(histgen_new(&bad, &gen), LEDGER_ERR_INVALID_ARGUMENT);
    bad = good;
    bad.invalid_per_mille = 1001;
    assert_int_equal(histgen_new(&bad, &gen), LEDGER_ERR_INVALID_ARGUMENT);
    bad = good;
    bad.rotations_per_mille = 1001;
    assert_int_equal(histgen_new(&bad, &gen), LEDGER_ERR_INVALID_ARGUMENT);
    bad = good;
    bad.step_min_us = 10;
    bad.step_max_us = 5;
    assert_int_equal(histgen_new(&bad, &gen), LEDGER_ERR_INVALID_ARGUMENT);
    bad = good;
    bad.step_min_us = -1;
    assert_int_equal(histgen_new(&bad, &gen), LEDGER_ERR_INVALID_ARGUMENT);
    bad = good;
    bad.partner_first = UINT32_MAX;
    assert_int_equal(histgen_new(&bad, &gen), LEDGER_ERR_INVALID_ARGUMENT);
    assert_int_equal(histgen_new(NULL, &gen), LEDGER_ERR_INVALID_ARGUMENT);
    assert_null(gen);
    assert_int_equal(histgen_new(&good, &gen), LEDGER_ERR_OK);
    assert_non_null(gen);
    histgen_free(gen);
    histgen_free(NULL);
}

/* partner_first and command_prefix keep independent generators apart. */
static void test_histgen_partner_first_and_prefix(void **state)
{
    (void)state;
    struct histgen_options options = {.seed = 5,
                                      .partners = 1,
                                      .customers_per_partner = 2,
                                      .target_events = 40,
                                      .partner_first = 17,
                                      .command_prefix = "w17-",
                                      .operator_id = "root-op"};
    struct histgen *gen = NULL;
    assert_int_equal(histgen_new(&options, &gen), LEDGER_ERR_OK);
    struct histgen_item item;
    assert_true(histgen_next(gen, &item));
    assert_int_equal(item.kind, LEDGER__V1__COMMAND__BODY_ADD_PARTNER);
    assert_string_equal(item.principal.id, "root-op");
    assert_string_equal(item.partner_id, "p-17");
    assert_string_equal(item.command_id, "w17-cmd-1");
    histgen_accepted(gen, 1);
    assert_true(histgen_next(gen, &item));
    assert_int_equal(item.kind, LEDGER__V1__COMMAND__BODY_ADD_PRINCIPAL);
    histgen_accepted(gen, 2);
    uint64_t sequence = 2;
    while (histgen_next(gen, &item)) {
        assert_true(strncmp(item.command_id, "w17-", 4) == 0);
        if (item.principal.partner_id[0] != '\0') {
            assert_string_equal(item.principal.partner_id, "p-17");
        }
        histgen_accepted(gen, ++sequence);
    }
    histgen_free(gen);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_histgen_domain_accepts_every_command),
        cmocka_unit_test(test_histgen_long_history_renews_and_expires),
        cmocka_unit_test(test_histgen_rotations_are_valid),
        cmocka_unit_test(test_histgen_admin_only_runs_are_valid),
        cmocka_unit_test(test_histgen_invalid_items_get_their_code),
        cmocka_unit_test(test_histgen_same_seed_same_bytes),
        cmocka_unit_test(test_histgen_different_seeds_differ),
        cmocka_unit_test(test_histgen_stops_at_target),
        cmocka_unit_test(test_histgen_rejects_bad_options),
        cmocka_unit_test(test_histgen_partner_first_and_prefix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
