/*
 * oldlog.c: records appended as earlier builds wrote them (see oldlog.h).
 */
#include "oldlog.h"

#include <stdio.h>
#include <stdlib.h>

#include "ledger_limits.h"
#include "merkle.h"

enum ledger_err oldlog_append(struct store *store, Ledger__V1__Event *event, uint64_t *sequence_out)
{
    struct store_txn *txn = NULL;
    enum ledger_err err = store_begin(store, true, &txn);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    event->sequence = store_last_sequence(txn) + 1;
    uint8_t *record = NULL;
    size_t size = 0;
    uint64_t sequence = 0;
    uint8_t leaf[STORE_HASH_BYTES];
    err = codec_pack(&event->base, &record, &size);
    if (err == LEDGER_ERR_OK) {
        err = store_append(txn, record, size, &sequence, leaf);
    }
    if (err == LEDGER_ERR_OK) {
        err = merkle_append(txn, sequence, leaf);
    }
    free(record);
    if (err != LEDGER_ERR_OK) {
        store_abort(txn);
        return err;
    }
    err = store_commit(txn);
    if (err == LEDGER_ERR_OK && sequence_out != NULL) {
        *sequence_out = sequence;
    }
    return err;
}

/* Fills the envelope of an event appended by name, recorded by
 * `principal_id` in `role`, and appends it. */
static enum ledger_err append_named(struct store *store, Ledger__V1__Event *event,
                                    const char *principal_id, Ledger__V1__Role role,
                                    const struct oldlog_envelope *at, uint64_t *sequence_out)
{
    Ledger__V1__Actor actor = LEDGER__V1__ACTOR__INIT;
    actor.principal_id = (char *)principal_id;
    actor.role = role;
    char command_id[3 * (LEDGER_ID_LENGTH_MAX + 1) + 24];
    snprintf(command_id, sizeof command_id, "%s-%s-%llu", at->partner_id, at->customer_id,
             (unsigned long long)at->stream_version);
    uint8_t command_hash[STORE_HASH_BYTES] = {0};
    event->partner_id = (char *)at->partner_id;
    event->customer_id = (char *)at->customer_id;
    event->stream_version = at->stream_version;
    event->actor = &actor;
    event->recorded_us = OLDLOG_TIME_US;
    event->business_us = OLDLOG_TIME_US;
    event->command_id = command_id;
    event->schema_version = at->schema_version;
    event->command_hash.data = command_hash;
    event->command_hash.len = sizeof command_hash;
    return oldlog_append(store, event, sequence_out);
}

enum ledger_err oldlog_partner_registered(struct store *store, const struct oldlog_envelope *at,
                                          uint64_t *sequence_out)
{
    Ledger__V1__PartnerRegistered body = LEDGER__V1__PARTNER_REGISTERED__INIT;
    body.name = "Northwind";
    Ledger__V1__Event event = LEDGER__V1__EVENT__INIT;
    event.body_case = LEDGER__V1__EVENT__BODY_PARTNER_REGISTERED;
    event.partner_registered = &body;
    return append_named(store, &event, "operator", LEDGER__V1__ROLE__ROLE_OPERATOR, at,
                        sequence_out);
}

enum ledger_err oldlog_subscription_purchased(struct store *store, const struct oldlog_envelope *at,
                                              const char *subscription_id, uint64_t *sequence_out)
{
    char principal_id[LEDGER_ID_LENGTH_MAX + 8];
    snprintf(principal_id, sizeof principal_id, "admin-%s", at->partner_id);
    Ledger__V1__SubscriptionPurchased body = LEDGER__V1__SUBSCRIPTION_PURCHASED__INIT;
    body.subscription_id = (char *)subscription_id;
    body.offer = LEDGER__V1__OFFER__OFFER_AZURE_PLAN;
    Ledger__V1__Event event = LEDGER__V1__EVENT__INIT;
    event.body_case = LEDGER__V1__EVENT__BODY_SUBSCRIPTION_PURCHASED;
    event.subscription_purchased = &body;
    return append_named(store, &event, principal_id, LEDGER__V1__ROLE__ROLE_ADMIN_AGENT, at,
                        sequence_out);
}

enum ledger_err oldlog_shared_subscription(struct store *store, struct oldlog_shared *out)
{
    const uint32_t v = LEDGER_SCHEMA_VERSION;
    const struct oldlog_envelope partners[] = {{"p-a", "", 0, v}, {"p-b", "", 0, v}};
    enum ledger_err err = LEDGER_ERR_OK;
    for (size_t i = 0; i < 2 && err == LEDGER_ERR_OK; i++) {
        err = oldlog_partner_registered(store, &partners[i], NULL);
    }
    const struct {
        struct oldlog_envelope at;
        const char *subscription_id;
    } bought[] = {
        {{"p-a", "c-2", 1, v}, "sub-shared"}, {{"p-a", "c-1", 1, v}, "sub-shared"},
        {{"p-b", "c-1", 1, v}, "sub-shared"}, {{"p-a", "c-3", 1, v}, "sub-moved"},
        {{"p-b", "c-4", 1, v}, "sub-moved"},  {{"p-a", "c-1", 2, v}, "sub-once"},
    };
    uint64_t sequences[sizeof bought / sizeof bought[0]] = {0};
    for (size_t i = 0; i < sizeof bought / sizeof bought[0] && err == LEDGER_ERR_OK; i++) {
        err = oldlog_subscription_purchased(store, &bought[i].at, bought[i].subscription_id,
                                            &sequences[i]);
    }
    if (err == LEDGER_ERR_OK) {
        out->first = sequences[0];
        out->second = sequences[1];
    }
    return err;
}
