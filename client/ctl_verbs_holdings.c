/*
 * ctl_verbs_holdings.c: what the write verbs of reservations and savings
 * plans (holdings) share: scope, renew (auto-renewal on or off) and renewed
 * (a renewal recorded from the cloud) read the same options of either, but
 * for the one naming the holding, and send commands that differ only in
 * their message. Each fills the fields of both messages and sends the
 * holding's (put_body). Each verb's option table and the function of the verb
 * table stay in ctl_verbs_reservations.c and ctl_verbs_savings_plans.c.
 */
#include <stdlib.h>
#include <string.h>

#include "ctl_verbs_internal.h"

/* The option naming the holding a verb acts on. */
static const char *holding_option(enum holding_kind kind)
{
    return kind == HOLDING_RESERVATION ? "reservation" : "savings-plan";
}

/* Makes body (borrowed: it must outlive the write) the body of write's
 * command: the field of Command's oneof that holds body's type of message,
 * as the descriptor says (every type of body has one field). */
static void put_body(struct write *write, ProtobufCMessage *body)
{
    const ProtobufCMessageDescriptor *command = &ledger__v1__command__descriptor;
    for (unsigned i = 0; i < command->n_fields; i++) {
        const ProtobufCFieldDescriptor *field = &command->fields[i];
        if ((field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0 &&
            field->type == PROTOBUF_C_TYPE_MESSAGE && field->descriptor == body->descriptor) {
            memcpy((char *)&write->command + field->offset, &body, sizeof body);
            write->command.body_case = (Ledger__V1__Command__BodyCase)field->id;
            return;
        }
    }
    abort(); /* a programmer's error: body is not a command's body */
}

enum ledger_err ctl__run_holding_scope(struct ctl_context *context, const struct ctl_args *args,
                                       enum holding_kind kind)
{
    struct write write;
    Ledger__V1__Scope scope = LEDGER__V1__SCOPE__INIT;
    const char *id = NULL;
    enum ledger_err err;
    if ((err = ctl__id_arg(context, args, holding_option(kind), &id)) != LEDGER_ERR_OK ||
        (err = ctl__scope_args(context, args, &scope)) != LEDGER_ERR_OK ||
        (err = ctl__write_begin(context, args, &write)) != LEDGER_ERR_OK) {
        return err;
    }
    Ledger__V1__ChangeReservationScope reservation = LEDGER__V1__CHANGE_RESERVATION_SCOPE__INIT;
    Ledger__V1__ChangeSavingsPlanScope savings_plan = LEDGER__V1__CHANGE_SAVINGS_PLAN_SCOPE__INIT;
    reservation.reservation_id = savings_plan.savings_plan_id = (char *)(uintptr_t)id;
    reservation.scope = savings_plan.scope = &scope;
    put_body(&write, kind == HOLDING_RESERVATION ? &reservation.base : &savings_plan.base);
    return ctl__write_send(context, &write);
}

enum ledger_err ctl__run_holding_renew(struct ctl_context *context, const struct ctl_args *args,
                                       enum holding_kind kind)
{
    struct write write;
    const char *id = NULL;
    bool on = false;
    enum ledger_err err;
    if ((err = ctl__id_arg(context, args, holding_option(kind), &id)) != LEDGER_ERR_OK ||
        (err = ctl__on_off_arg(context, args, &on)) != LEDGER_ERR_OK ||
        (err = ctl__write_begin(context, args, &write)) != LEDGER_ERR_OK) {
        return err;
    }
    Ledger__V1__SetReservationRenewal reservation = LEDGER__V1__SET_RESERVATION_RENEWAL__INIT;
    Ledger__V1__SetSavingsPlanRenewal savings_plan = LEDGER__V1__SET_SAVINGS_PLAN_RENEWAL__INIT;
    reservation.reservation_id = savings_plan.savings_plan_id = (char *)(uintptr_t)id;
    reservation.auto_renew = savings_plan.auto_renew = on;
    put_body(&write, kind == HOLDING_RESERVATION ? &reservation.base : &savings_plan.base);
    return ctl__write_send(context, &write);
}

/* Renewals happen in the cloud; the partner records them (docs/events.md,
 * ReservationRenewed and SavingsPlanRenewed): the prices the holding renewed
 * at and the cloud's order id of the renewal (left "" when not given). */
enum ledger_err ctl__run_holding_renewed(struct ctl_context *context, const struct ctl_args *args,
                                         enum holding_kind kind)
{
    struct write write;
    Ledger__V1__Money price = LEDGER__V1__MONEY__INIT;
    Ledger__V1__Money retail = LEDGER__V1__MONEY__INIT;
    const char *id = NULL, *currency = NULL, *cloud_order = NULL;
    enum ledger_err err;
    if ((err = ctl__id_arg(context, args, holding_option(kind), &id)) != LEDGER_ERR_OK ||
        (err = ctl__id_arg(context, args, "cloud-order", &cloud_order)) != LEDGER_ERR_OK ||
        (err = ctl__currency_arg(context, args, NULL, &currency)) != LEDGER_ERR_OK ||
        (err = ctl__price_arg(context, args, "price", currency, &price)) != LEDGER_ERR_OK ||
        (err = ctl__price_arg(context, args, "retail-price", currency, &retail)) != LEDGER_ERR_OK ||
        (err = ctl__write_begin(context, args, &write)) != LEDGER_ERR_OK) {
        return err;
    }
    Ledger__V1__RenewReservation reservation = LEDGER__V1__RENEW_RESERVATION__INIT;
    Ledger__V1__RenewSavingsPlan savings_plan = LEDGER__V1__RENEW_SAVINGS_PLAN__INIT;
    reservation.reservation_id = savings_plan.savings_plan_id = (char *)(uintptr_t)id;
    reservation.price = savings_plan.price = &price;
    reservation.retail_price = savings_plan.retail_price = &retail;
    if (cloud_order != NULL) {
        reservation.cloud_order_id = savings_plan.cloud_order_id = (char *)(uintptr_t)cloud_order;
    }
    put_body(&write, kind == HOLDING_RESERVATION ? &reservation.base : &savings_plan.base);
    return ctl__write_send(context, &write);
}
