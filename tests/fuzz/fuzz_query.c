/*
 * fuzz_query.c: libFuzzer target for queries: the Query decoder and
 * everything engine_query does with one (policy, partner scope, field
 * validation, the view queries of daemon/views_query.c, events, proofs,
 * heads, explanations, stats), on a real store.
 *
 * Method: an input is the bytes of one Query as it arrives inside a
 * RequestBody. It is decoded with codec_message_unpack (the size limit and
 * error code of the server) and, when it decodes, answered by engine_query
 * for principals of several roles and scopes (operator, admin and help desk
 * of p1, the customer user of c1, auditors of p1 and of all partners,
 * billing, and the admin of the empty partner p2) on the fixture engine
 * (fuzz_engine.h), which holds a partner with a customer, its subscriptions,
 * permission switches, reservations and savings plans. Every answer is packed
 * into a Reply as the server would send it. Backup queries are not run: they
 * create the directory the query names, and a fuzzer must not write where
 * its inputs say.
 *
 * Checked: no crash, leak or undefined behaviour; a refusal has a message;
 * an answer packs; scope holds: the admin of p2 sees no row or event of p1,
 * the customer user sees rows of its own customer only, and partner-facing
 * roles never see a savings plan bought by the customer (docs/domain.md).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_engine.h"
#include "policy.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const asking[] = {
    FUZZ_OPERATOR_ID, "admin-1",     "helpdesk-1", FUZZ_USER,
    "auditor-1",      "auditor-all", "billing-1",  "admin-2",
};
#define ASKING_COUNT (sizeof asking / sizeof asking[0])
static struct engine_principal principals[ASKING_COUNT];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    for (size_t i = 0; i < ASKING_COUNT; i++) {
        fuzz_engine_principal(asking[i], &principals[i]);
    }
    return 0;
}

static void check_customer_rows(const Ledger__V1__QueryResult *result, const char *customer_id)
{
    for (size_t i = 0; i < result->n_reservations; i++) {
        FUZZ_CHECK(strcmp(result->reservations[i]->customer_id, customer_id) == 0);
    }
    for (size_t i = 0; i < result->n_orders; i++) {
        FUZZ_CHECK(strcmp(result->orders[i]->customer_id, customer_id) == 0);
    }
    for (size_t i = 0; i < result->n_savings_plans; i++) {
        FUZZ_CHECK(strcmp(result->savings_plans[i]->customer_id, customer_id) == 0);
    }
    for (size_t i = 0; i < result->n_permissions; i++) {
        FUZZ_CHECK(strcmp(result->permissions[i]->customer_id, customer_id) == 0);
    }
    for (size_t i = 0; i < result->n_activity; i++) {
        FUZZ_CHECK(strcmp(result->activity[i]->customer_id, customer_id) == 0);
    }
    for (size_t i = 0; i < result->n_billing; i++) {
        FUZZ_CHECK(strcmp(result->billing[i]->customer_id, customer_id) == 0);
    }
}

static void check_scope(const struct engine_principal *principal,
                        const Ledger__V1__QueryResult *result)
{
    if (strcmp(principal->partner_id, FUZZ_OTHER_PARTNER_ID) == 0) {
        /* p2 has no customers: nothing of a customer may show. (A switch
         * "as of" a time, of a customer never onboarded, shows as off and
         * never changed.) */
        FUZZ_CHECK(result->n_reservations == 0 && result->n_orders == 0 &&
                   result->n_savings_plans == 0 && result->n_billing == 0);
        for (size_t i = 0; i < result->n_permissions; i++) {
            FUZZ_CHECK(!result->permissions[i]->enabled && result->permissions[i]->sequence == 0);
        }
        for (size_t i = 0; i < result->n_activity; i++) {
            FUZZ_CHECK(strcmp(result->activity[i]->customer_id, FUZZ_CUSTOMER_ID) != 0);
        }
        for (size_t i = 0; i < result->n_events; i++) {
            const Ledger__V1__Event *event = result->events[i]->event;
            FUZZ_CHECK(event == NULL || strcmp(event->partner_id, FUZZ_PARTNER_ID) != 0);
        }
        for (size_t i = 0; i < result->n_principals; i++) {
            FUZZ_CHECK(strcmp(result->principals[i]->partner_id, FUZZ_PARTNER_ID) != 0);
        }
    }
    if (principal->role == LEDGER__V1__ROLE__ROLE_CUSTOMER_USER) {
        check_customer_rows(result, principal->customer_id);
    }
    if (policy_role_partner_facing(principal->role)) {
        for (size_t i = 0; i < result->n_savings_plans; i++) {
            FUZZ_CHECK(result->savings_plans[i]->purchaser !=
                       LEDGER__V1__PURCHASER__PURCHASER_CUSTOMER);
        }
    }
}

static void answer(const struct engine_principal *principal, const Ledger__V1__Query *query)
{
    Ledger__V1__QueryResult *result = NULL;
    char message[ENGINE_MESSAGE_SIZE];
    enum ledger_err err =
        engine_query(fuzz_engine(), principal, query, FUZZ_NOW_US, &result, message);
    FUZZ_CHECK(memchr(message, '\0', sizeof message) != NULL);
    if (err != LEDGER_ERR_OK) {
        FUZZ_CHECK(message[0] != '\0');
        return;
    }
    FUZZ_CHECK(result != NULL);
    check_scope(principal, result);
    Ledger__V1__Reply reply = LEDGER__V1__REPLY__INIT;
    reply.query = result;
    uint8_t *bytes = NULL;
    size_t size = 0;
    err = codec_pack(&reply.base, &bytes, &size);
    FUZZ_CHECK(err == LEDGER_ERR_OK || err == LEDGER_ERR_TOO_LARGE);
    free(bytes);
    engine_result_free(result);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ProtobufCMessage *message = NULL;
    enum ledger_err err =
        codec_message_unpack(&ledger__v1__query__descriptor, data, size,
                             LEDGER_REQUEST_BYTES_DEFAULT, LEDGER_ERR_BAD_REQUEST, &message);
    if (err != LEDGER_ERR_OK) {
        FUZZ_CHECK(err == LEDGER_ERR_BAD_REQUEST || err == LEDGER_ERR_TOO_LARGE);
        return 0;
    }
    const Ledger__V1__Query *query = (const Ledger__V1__Query *)message;
    (void)strlen(codec_query_type_name(query->kind_case));
    if (query->kind_case != LEDGER__V1__QUERY__KIND_BACKUP) {
        for (size_t i = 0; i < ASKING_COUNT; i++) {
            answer(&principals[i], query);
        }
    }
    codec_message_free(message);
    return 0;
}
