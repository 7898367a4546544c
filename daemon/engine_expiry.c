/*
 * engine_expiry.c: the ledger's own schedule of reservation expiries. A
 * reservation whose term has ended while its auto-renewal is off is over:
 * the daemon finds such reservations (engine_expiries_due, a read
 * transaction on any thread) and records ExpireReservation for each
 * (engine_expire, through engine_execute on the commit thread) as the
 * system principal DOMAIN_SYSTEM_PRINCIPAL_ID, dated at the expiry.
 *
 * The commands go through the same decision as anyone's, so a reservation
 * that the partner cancelled, exchanged or expired in the meantime is simply
 * refused (RESERVATION_NOT_ACTIVE) and skipped, and so is one set to renew
 * since (the system principal may not expire those). Each has the command id
 * "expiry-<reservation id>": a sweep repeated after a crash, or a reservation
 * found twice, is a duplicate, never a second event. Reservations with
 * auto-renewal on wait for the partner, who records the renewal and its
 * price (`ledgerctl reservation renewed`) or the expiry.
 */
#include "engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "domain.h"
#include "engine_internal.h"
#include "store.h"
#include "views.h"

/* "expiry-" and a reservation id must make a valid command id. */
#define ENGINE_EXPIRY_COMMAND_PREFIX "expiry-"

struct due_list {
    struct engine_expiry *items;
    size_t max, count;
};

static enum ledger_err due_add(void *context, const char *partner_id, const char *customer_id,
                               const char *reservation_id, int64_t expires_us)
{
    struct due_list *list = context;
    if (list->count == list->max) {
        return LEDGER_ERR_INTERNAL; /* views_expiries_due gives at most max */
    }
    struct engine_expiry *e = &list->items[list->count++];
    engine__copy_id(e->partner_id, partner_id);
    engine__copy_id(e->customer_id, customer_id);
    engine__copy_id(e->reservation_id, reservation_id);
    e->expires_us = expires_us;
    return LEDGER_ERR_OK;
}

enum ledger_err engine_expiries_due(struct engine *engine, int64_t now_us,
                                    struct store_position *position, struct engine_expiry *out,
                                    size_t max, size_t *count_out)
{
    struct store_txn *txn = NULL;
    enum ledger_err err = store_begin(engine->store, false, &txn);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    struct due_list list = {.items = out, .max = max, .count = 0};
    err = views_expiries_due(txn, now_us, max, LEDGER_EXPIRY_SCAN_ROWS, position, due_add, &list);
    store_abort(txn);
    if (err == LEDGER_ERR_OK) {
        *count_out = list.count;
    }
    return err;
}

/* The serialized ExpireReservation of one due reservation; the caller frees
 * out->data. */
static enum ledger_err expiry_command(const struct engine_expiry *due, ProtobufCBinaryData *out)
{
    char command_id[LEDGER_ID_LENGTH_MAX + 2];
    int n = snprintf(command_id, sizeof command_id, "%s%s", ENGINE_EXPIRY_COMMAND_PREFIX,
                     due->reservation_id);
    if (n < 0 || (size_t)n > LEDGER_ID_LENGTH_MAX) {
        /* The ledger names reservations res-<sequence>: never this long. */
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    Ledger__V1__ExpireReservation body = LEDGER__V1__EXPIRE_RESERVATION__INIT;
    body.reservation_id = (char *)(uintptr_t)due->reservation_id;
    Ledger__V1__Command command = LEDGER__V1__COMMAND__INIT;
    command.command_id = command_id;
    command.partner_id = (char *)(uintptr_t)due->partner_id;
    command.customer_id = (char *)(uintptr_t)due->customer_id;
    command.business_us = due->expires_us;
    command.body_case = LEDGER__V1__COMMAND__BODY_EXPIRE_RESERVATION;
    command.expire_reservation = &body;
    return codec_pack(&command.base, &out->data, &out->len);
}

enum ledger_err engine_expire(struct engine *engine, const struct engine_expiry *due, size_t count,
                              int64_t now_us, struct engine_expire_outcome *out)
{
    *out = (struct engine_expire_outcome){.refusal = LEDGER_ERR_OK};
    if (count == 0) {
        return LEDGER_ERR_OK;
    }
    static const struct engine_principal system = {
        .id = DOMAIN_SYSTEM_PRINCIPAL_ID,
        .role = LEDGER__V1__ROLE__ROLE_SYSTEM,
    };
    ProtobufCBinaryData *commands = calloc(count, sizeof *commands);
    struct engine_request *requests = calloc(count, sizeof *requests);
    size_t *origin = calloc(count, sizeof *origin); /* requests[i] expires due[origin[i]] */
    enum ledger_err err = commands && requests && origin ? LEDGER_ERR_OK : LEDGER_ERR_NO_MEMORY;
    size_t built = 0;
    for (size_t i = 0; err == LEDGER_ERR_OK && i < count; i++) {
        if (expiry_command(&due[i], &commands[built]) != LEDGER_ERR_OK) {
            continue; /* an id the ledger never makes: nothing to expire by it */
        }
        /* One request each: a reservation the partner changed meanwhile is
         * refused alone. */
        requests[built] = (struct engine_request){
            .principal = &system, .commands = &commands[built], .command_count = 1};
        origin[built] = i;
        built++;
    }
    if (err == LEDGER_ERR_OK && built > 0) {
        err = engine_execute(engine, requests, built, now_us);
    }
    for (size_t i = 0; i < built; i++) {
        if (err == LEDGER_ERR_OK && requests[i].err == LEDGER_ERR_OK &&
            !requests[i].results[0].message.duplicate) {
            out->expired++;
        } else if (err == LEDGER_ERR_OK && requests[i].err != LEDGER_ERR_OK) {
            if (out->refused++ == 0) {
                out->refusal = requests[i].err;
                engine__copy_id(out->refused_reservation_id, due[origin[i]].reservation_id);
                snprintf(out->refusal_message, sizeof out->refusal_message, "%s",
                         requests[i].message);
            }
        }
        engine_request_clear(&requests[i]);
        free(commands[i].data);
    }
    free(origin);
    free(requests);
    free(commands);
    return err;
}
