/*
 * fuzz_command.c: libFuzzer target for every command decoder and the
 * decision (daemon/codec.c, domain_decide.c and domain_decide_*.c, policy.c).
 *
 * Method: an input is the bytes of one Command as a client sends it inside a
 * CommandBatch. It is decoded with codec_command_unpack and, when it decodes,
 * decided by domain_decide once for each fixture principal (every role, a
 * revoked one, one of another partner, and the ledger's own SYSTEM role)
 * against the state the engine would pass: the fixture customer c1 of p1
 * (fuzz_support.h) when the command names it, otherwise a fresh customer that
 * was never onboarded. The partner admin also decides at a second time, past
 * the expiry of the fixture's one-year reservation.
 *
 * Checked: no crash, leak or undefined behaviour; a refusal produces no event
 * (body NOT_SET, sequence 0) and says why; an acceptance produces an event
 * with the input's sequence, byte for byte the same when decided again
 * (purity), that packs, decodes again as a stored record, and (for customer
 * commands) evolves a copy of the state it was decided on without error to
 * the next stream version: what replay will do with it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "domain.h"
#include "fuzz_support.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One day, and 400 days: before and after a one-year term ends. */
#define FUZZ_DAY_US INT64_C(86400000000)

static const struct fuzz_principal system_principal = {
    "ledger-system", LEDGER__V1__ROLE__ROLE_SYSTEM, "", "", "", false};

static struct domain_output *output, *second_output;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    (void)fuzz_customer_state();
    output = calloc(1, sizeof *output);
    second_output = calloc(1, sizeof *second_output);
    if (output == NULL || second_output == NULL) {
        fuzz_fail("out of memory");
    }
    return 0;
}

static void principal_target(const Ledger__V1__Command *command, bool *exists, bool *revoked)
{
    const char *target = domain_command_target_principal(command);
    const struct fuzz_principal *found = target != NULL ? fuzz_principal_find(target) : NULL;
    *exists = found != NULL;
    *revoked = found != NULL && found->revoked;
}

/* What replay does with an accepted event: store it, read it back, evolve. */
static void check_accepted(const struct domain_input *input, const struct domain_output *out)
{
    const Ledger__V1__Event *event = &out->event;
    FUZZ_CHECK(event->body_case != LEDGER__V1__EVENT__BODY__NOT_SET);
    FUZZ_CHECK(event->sequence == input->sequence);
    FUZZ_CHECK(domain_action_name(event) != NULL);
    (void)domain_partner_visible(event);
    uint8_t *bytes = NULL;
    size_t size = 0;
    FUZZ_CHECK(codec_pack(&event->base, &bytes, &size) == LEDGER_ERR_OK);

    /* Purity: the same input decides to the same event, byte for byte. */
    memset(second_output, 0, sizeof *second_output);
    FUZZ_CHECK(domain_decide(input, second_output) == LEDGER_ERR_OK);
    uint8_t *again = NULL;
    size_t again_size = 0;
    FUZZ_CHECK(codec_pack(&second_output->event.base, &again, &again_size) == LEDGER_ERR_OK);
    FUZZ_CHECK(again_size == size && memcmp(again, bytes, size) == 0);
    free(again);

    Ledger__V1__Event *stored = NULL;
    FUZZ_CHECK(codec_event_unpack(bytes, size, &stored) == LEDGER_ERR_OK);
    free(bytes);
    if (input->customer != NULL) {
        struct domain_customer *copy = domain_customer_clone(input->customer);
        FUZZ_CHECK(copy != NULL);
        enum ledger_err err = domain_customer_evolve(copy, stored);
        if (err != LEDGER_ERR_OK) {
            fuzz_fail("an accepted %s event does not evolve its state: %s",
                      codec_event_type_name(stored->body_case), ledger_err_name(err));
        }
        FUZZ_CHECK(copy->version == input->customer->version + 1);
        domain_customer_free(copy);
    }
    codec_event_free(stored);
}

static void decide_as(const struct fuzz_principal *who, const Ledger__V1__Command *command,
                      int64_t now_us)
{
    struct domain_principal principal;
    fuzz_domain_principal(who, &principal);
    const struct domain_customer *fixture = fuzz_customer_state();
    const char *partner_id = domain_command_partner_id(&principal, command);
    FUZZ_CHECK(partner_id != NULL);
    struct domain_customer *fresh = NULL;
    const struct domain_customer *customer = NULL;
    if (domain_command_is_customer(command->body_case)) {
        const char *customer_id = domain_command_customer_id(&principal, command);
        FUZZ_CHECK(customer_id != NULL);
        if (strcmp(partner_id, fixture->partner_id) == 0 &&
            strcmp(customer_id, fixture->customer_id) == 0) {
            customer = fixture;
        } else if (codec_id_valid(partner_id) && codec_id_valid(customer_id)) {
            /* The engine refuses invalid ids before deciding. */
            fresh = domain_customer_new(partner_id, customer_id);
            FUZZ_CHECK(fresh != NULL);
            customer = fresh;
        } else {
            return;
        }
    }
    bool principal_exists = false, principal_revoked = false;
    principal_target(command, &principal_exists, &principal_revoked);
    static const uint8_t hash[32] = {0xc0, 0xff, 0xee};
    struct domain_input input = {
        .principal = &principal,
        .command = command,
        .partner_id = partner_id,
        .partner_exists = strcmp(partner_id, FUZZ_PARTNER_ID) == 0 ||
                          strcmp(partner_id, FUZZ_OTHER_PARTNER_ID) == 0,
        .customer = customer,
        .principal_exists = principal_exists,
        .principal_revoked = principal_revoked,
        .principal_customer_onboarded = fuzz_principal_customer_onboarded(partner_id, command),
        .now_us = now_us,
        .sequence = fuzz_next_sequence(),
        .command_hash = hash,
    };
    memset(output, 0, sizeof *output);
    enum ledger_err err = domain_decide(&input, output);
    if (err == LEDGER_ERR_OK) {
        check_accepted(&input, output);
    } else {
        FUZZ_CHECK(output->event.body_case == LEDGER__V1__EVENT__BODY__NOT_SET);
        FUZZ_CHECK(output->event.sequence == 0);
        FUZZ_CHECK(memchr(output->message, '\0', sizeof output->message) != NULL);
        FUZZ_CHECK(output->message[0] != '\0');
    }
    domain_customer_free(fresh);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Ledger__V1__Command *command = NULL;
    enum ledger_err err = codec_command_unpack(data, size, &command);
    if (err != LEDGER_ERR_OK) {
        FUZZ_CHECK(err == LEDGER_ERR_BAD_REQUEST || err == LEDGER_ERR_TOO_LARGE);
        return 0;
    }
    (void)strlen(codec_command_type_name(command->body_case));
    for (size_t i = 0; i < fuzz_principal_count; i++) {
        decide_as(&fuzz_principals[i], command, FUZZ_NOW_US + FUZZ_DAY_US);
    }
    decide_as(&system_principal, command, FUZZ_NOW_US + FUZZ_DAY_US);
    decide_as(fuzz_principal_find("admin-1"), command, FUZZ_NOW_US + 400 * FUZZ_DAY_US);
    codec_command_free(command);
    return 0;
}
