/*
 * domain_decide.c: deciding one command (domain_decide): the order of its
 * checks, the role table's answer, the envelope and the principal's scope,
 * the partner's and customer's existence, the dispatch to the decision of
 * its command, and the envelope of the event it records; which partner and
 * customer a command acts on; how a refusal is worded (domain__refuse) and a
 * time shown in it (domain__time_text).
 *
 * The decision of each command is in the file of its family, each of which
 * says which rules of docs/domain.md it enforces:
 *
 *   domain_decide_principals.c    partners, principals, customers, their
 *                                 subscriptions and cost visibility;
 *   domain_decide_permissions.c   purchase permissions and role assignments,
 *                                 and what a customer purchase needs of them;
 *   domain_decide_reservations.c  buying, renewing, exchanging, cancelling
 *                                 and expiring reservations, their scope and
 *                                 auto-renew;
 *   domain_decide_savings.c       buying and renewing savings plans, their
 *                                 scope and auto-renew, and the refusal to
 *                                 cancel one;
 *   domain_decide_holdings.c      what reservations and savings plans share:
 *                                 finding one for a change, scope and
 *                                 auto-renew changes, a renewal's rules;
 *   domain_decide_checks.c        the checks the families share: fields by
 *                                 shape, scope targets, billing
 *                                 subscriptions, cloud order ids.
 *
 * Rules of docs/domain.md enforced here, for every command: who may use it,
 * through the role table (an admin agent alone turns permissions on and
 * off, rule 1; a sales agent buys no savings plan, rule 4; a customer user
 * asks the partner for what rule 5 keeps the partner's); "Identities and
 * their scope" (a principal acts only within its partner, and a customer
 * user within its customer); and 12, a refused command yields no event.
 *
 * Does not own: the aggregate (domain_state.c), applying the event it
 * decides (domain_evolve.c), the role table (policy.c).
 *
 * Purity: nothing here reads a clock, a file, or a global that changes. The
 * time is input->now_us, ids derive from input->sequence ("ord-<seq>",
 * "res-<seq>", "sp-<seq>"), so deciding the same input twice gives the same
 * event byte for byte.
 *
 * Order of checks in domain_decide (docs/events.md, "Refusals"):
 *   1. the command has a body this build knows (UNKNOWN_MESSAGE);
 *   2. the role may use the command (policy table: FORBIDDEN / ASK_PARTNER);
 *   3. the envelope: command id, correlation id, business time;
 *   4. the scope: partner and customer of the principal (PARTNER_MISMATCH);
 *   5. the body's fields, each validated by shape (INVALID_ARGUMENT,
 *      INVALID_AMOUNT, UNKNOWN_MESSAGE, INVALID_TERM, CURRENCY_MISMATCH);
 *   6. existence: partner, customer, onboarded by the business time
 *      (PARTNER_NOT_FOUND, CUSTOMER_NOT_FOUND);
 *   7. the rules against the customer's state, in the order of docs/domain.md.
 * The first failing check is the refusal; its message names what failed.
 * Steps 1 to 4 are here; 5 to 7 are each command's, in its family's file,
 * with step 6 through domain__need_partner and domain__need_customer.
 */
#include "domain.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "domain_internal.h"
#include "policy.h"

/* ---- refusals and the times they name ------------------------------------ */

struct domain_time_text domain__time_text(int64_t time_us)
{
    struct domain_time_text out;
    struct tm tm;
    time_t seconds = (time_t)(time_us / 1000000);
    size_t length = 0;
    if (time_us < 0 || time_us > LEDGER_TIME_US_MAX || gmtime_r(&seconds, &tm) == NULL ||
        (length = strftime(out.text, sizeof out.text, "%Y-%m-%dT%H:%M:%S", &tm)) == 0) {
        snprintf(out.text, sizeof out.text, "out of range");
        return out;
    }
    int micros = (int)(time_us % 1000000);
    if (micros != 0) {
        snprintf(out.text + length, sizeof out.text - length, ".%06dZ", micros);
    } else {
        snprintf(out.text + length, sizeof out.text - length, "Z");
    }
    return out;
}

__attribute__((format(printf, 3, 4))) enum ledger_err
domain__refuse(struct domain_decision *d, enum ledger_err err, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    vsnprintf(d->out->message, sizeof d->out->message, format, args);
    va_end(args);
    return err;
}

/* ---- existence: step 6 --------------------------------------------------- */

/* The partner the command acts on exists. */
enum ledger_err domain__need_partner(struct domain_decision *d)
{
    if (!d->in->partner_exists)
        return domain__refuse(d, LEDGER_ERR_PARTNER_NOT_FOUND, "partner %s is not registered",
                              d->in->partner_id);
    return LEDGER_ERR_OK;
}

/* The partner exists and the customer was onboarded (every customer command
 * but OnboardCustomer), by the command's business time: what "was true on
 * a date" before the onboarding would otherwise hold subscriptions, roles,
 * grants and purchases of a customer that did not exist yet. An expiry is
 * dated by the term of a reservation already in the log (at or after its
 * end), and asserts nothing new of its time: a log written before this
 * rule may hold a reservation bought, and so ending, before its customer's
 * onboarding, whose expiry the schedule must still record. */
enum ledger_err domain__need_customer(struct domain_decision *d)
{
    enum ledger_err err = domain__need_partner(d);
    if (err != LEDGER_ERR_OK)
        return err;
    if (!d->customer->onboarded)
        return domain__refuse(
            d, LEDGER_ERR_CUSTOMER_NOT_FOUND,
            "customer %s of partner %s was never onboarded: check the customer id, or "
            "onboard the customer first (ledgerctl customer add)",
            d->customer->customer_id, d->in->partner_id);
    if (d->business_us < d->customer->onboarded_us &&
        d->command->body_case != LEDGER__V1__COMMAND__BODY_EXPIRE_RESERVATION)
        return domain__refuse(
            d, LEDGER_ERR_CUSTOMER_NOT_FOUND,
            "customer %s of partner %s was onboarded %s: a command dated %s, before "
            "then, acts on a customer that did not exist yet; date it at or after that",
            d->customer->customer_id, d->in->partner_id,
            domain__time_text(d->customer->onboarded_us).text,
            domain__time_text(d->business_us).text);
    return LEDGER_ERR_OK;
}

/* ---- the dispatcher ------------------------------------------------------ */

bool domain_principal_id_reserved(const char *principal_id)
{
    return strncmp(principal_id, DOMAIN_RESERVED_ID_PREFIX, strlen(DOMAIN_RESERVED_ID_PREFIX)) ==
               0 ||
           strcmp(principal_id, DOMAIN_INIT_PRINCIPAL_ID) == 0;
}

bool domain_command_is_customer(Ledger__V1__Command__BodyCase body_case)
{
    switch (body_case) {
    case LEDGER__V1__COMMAND__BODY_ONBOARD_CUSTOMER:
    case LEDGER__V1__COMMAND__BODY_PURCHASE_SUBSCRIPTION:
    case LEDGER__V1__COMMAND__BODY_SET_SUBSCRIPTION_STATUS:
    case LEDGER__V1__COMMAND__BODY_ASSIGN_ROLE:
    case LEDGER__V1__COMMAND__BODY_REMOVE_ROLE:
    case LEDGER__V1__COMMAND__BODY_GRANT_PERMISSION:
    case LEDGER__V1__COMMAND__BODY_REVOKE_PERMISSION:
    case LEDGER__V1__COMMAND__BODY_PURCHASE_RESERVATION:
    case LEDGER__V1__COMMAND__BODY_CHANGE_RESERVATION_SCOPE:
    case LEDGER__V1__COMMAND__BODY_SET_RESERVATION_RENEWAL:
    case LEDGER__V1__COMMAND__BODY_RENEW_RESERVATION:
    case LEDGER__V1__COMMAND__BODY_EXCHANGE_RESERVATION:
    case LEDGER__V1__COMMAND__BODY_CANCEL_RESERVATION:
    case LEDGER__V1__COMMAND__BODY_EXPIRE_RESERVATION:
    case LEDGER__V1__COMMAND__BODY_PURCHASE_SAVINGS_PLAN:
    case LEDGER__V1__COMMAND__BODY_CHANGE_SAVINGS_PLAN_SCOPE:
    case LEDGER__V1__COMMAND__BODY_SET_SAVINGS_PLAN_RENEWAL:
    case LEDGER__V1__COMMAND__BODY_CANCEL_SAVINGS_PLAN:
    case LEDGER__V1__COMMAND__BODY_RENEW_SAVINGS_PLAN:
    case LEDGER__V1__COMMAND__BODY_SET_COST_VISIBILITY:
        return true;
    default:
        return false;
    }
}

const char *domain_command_partner_id(const struct domain_principal *principal,
                                      const Ledger__V1__Command *command)
{
    if (command == NULL)
        return "";
    /* The envelope names the partner acted on; the bodies of AddPartner and
     * AddPrincipal name one too, which must be the same (decide refuses a
     * difference), and stand in for an envelope that names none. */
    if (!domain__string_empty(command->partner_id))
        return command->partner_id;
    if (command->body_case == LEDGER__V1__COMMAND__BODY_ADD_PARTNER &&
        command->add_partner != NULL && command->add_partner->partner_id != NULL)
        return command->add_partner->partner_id;
    if (command->body_case == LEDGER__V1__COMMAND__BODY_ADD_PRINCIPAL &&
        command->add_principal != NULL && !domain__string_empty(command->add_principal->partner_id))
        return command->add_principal->partner_id;
    if (principal != NULL && principal->partner_id != NULL)
        return principal->partner_id;
    return "";
}

const char *domain_command_target_principal(const Ledger__V1__Command *command)
{
    if (command == NULL)
        return NULL;
    switch (command->body_case) {
    case LEDGER__V1__COMMAND__BODY_ADD_PRINCIPAL:
        return command->add_principal != NULL ? command->add_principal->principal_id : NULL;
    case LEDGER__V1__COMMAND__BODY_REVOKE_PRINCIPAL:
        return command->revoke_principal != NULL ? command->revoke_principal->principal_id : NULL;
    case LEDGER__V1__COMMAND__BODY_ROTATE_PRINCIPAL_SECRET:
        return command->rotate_principal_secret != NULL
                   ? command->rotate_principal_secret->principal_id
                   : NULL;
    default:
        return NULL;
    }
}

const char *domain_command_customer_id(const struct domain_principal *principal,
                                       const Ledger__V1__Command *command)
{
    if (command == NULL || !domain_command_is_customer(command->body_case))
        return "";
    if (!domain__string_empty(command->customer_id))
        return command->customer_id;
    if (principal != NULL && principal->role == LEDGER__V1__ROLE__ROLE_CUSTOMER_USER &&
        principal->customer_id != NULL)
        return principal->customer_id;
    return "";
}

/* Whether the command's body message is there (protobuf-c always allocates
 * it when decoding; a hand-built command might not). */
static bool body_present(const Ledger__V1__Command *command)
{
    switch (command->body_case) {
    case LEDGER__V1__COMMAND__BODY_ADD_PARTNER:
        return command->add_partner != NULL;
    case LEDGER__V1__COMMAND__BODY_ADD_PRINCIPAL:
        return command->add_principal != NULL;
    case LEDGER__V1__COMMAND__BODY_REVOKE_PRINCIPAL:
        return command->revoke_principal != NULL;
    case LEDGER__V1__COMMAND__BODY_ROTATE_PRINCIPAL_SECRET:
        return command->rotate_principal_secret != NULL;
    case LEDGER__V1__COMMAND__BODY_ONBOARD_CUSTOMER:
        return command->onboard_customer != NULL;
    case LEDGER__V1__COMMAND__BODY_PURCHASE_SUBSCRIPTION:
        return command->purchase_subscription != NULL;
    case LEDGER__V1__COMMAND__BODY_SET_SUBSCRIPTION_STATUS:
        return command->set_subscription_status != NULL;
    case LEDGER__V1__COMMAND__BODY_ASSIGN_ROLE:
        return command->assign_role != NULL;
    case LEDGER__V1__COMMAND__BODY_REMOVE_ROLE:
        return command->remove_role != NULL;
    case LEDGER__V1__COMMAND__BODY_GRANT_PERMISSION:
        return command->grant_permission != NULL;
    case LEDGER__V1__COMMAND__BODY_REVOKE_PERMISSION:
        return command->revoke_permission != NULL;
    case LEDGER__V1__COMMAND__BODY_PURCHASE_RESERVATION:
        return command->purchase_reservation != NULL;
    case LEDGER__V1__COMMAND__BODY_CHANGE_RESERVATION_SCOPE:
        return command->change_reservation_scope != NULL;
    case LEDGER__V1__COMMAND__BODY_SET_RESERVATION_RENEWAL:
        return command->set_reservation_renewal != NULL;
    case LEDGER__V1__COMMAND__BODY_RENEW_RESERVATION:
        return command->renew_reservation != NULL;
    case LEDGER__V1__COMMAND__BODY_EXCHANGE_RESERVATION:
        return command->exchange_reservation != NULL;
    case LEDGER__V1__COMMAND__BODY_CANCEL_RESERVATION:
        return command->cancel_reservation != NULL;
    case LEDGER__V1__COMMAND__BODY_EXPIRE_RESERVATION:
        return command->expire_reservation != NULL;
    case LEDGER__V1__COMMAND__BODY_PURCHASE_SAVINGS_PLAN:
        return command->purchase_savings_plan != NULL;
    case LEDGER__V1__COMMAND__BODY_CHANGE_SAVINGS_PLAN_SCOPE:
        return command->change_savings_plan_scope != NULL;
    case LEDGER__V1__COMMAND__BODY_SET_SAVINGS_PLAN_RENEWAL:
        return command->set_savings_plan_renewal != NULL;
    case LEDGER__V1__COMMAND__BODY_CANCEL_SAVINGS_PLAN:
        return command->cancel_savings_plan != NULL;
    case LEDGER__V1__COMMAND__BODY_RENEW_SAVINGS_PLAN:
        return command->renew_savings_plan != NULL;
    case LEDGER__V1__COMMAND__BODY_SET_COST_VISIBILITY:
        return command->set_cost_visibility != NULL;
    default:
        return false;
    }
}

static enum ledger_err decide_body(struct domain_decision *d)
{
    switch (d->command->body_case) {
    case LEDGER__V1__COMMAND__BODY_ADD_PARTNER:
        return domain__decide_add_partner(d);
    case LEDGER__V1__COMMAND__BODY_ADD_PRINCIPAL:
        return domain__decide_add_principal(d);
    case LEDGER__V1__COMMAND__BODY_REVOKE_PRINCIPAL:
        return domain__decide_revoke_principal(d);
    case LEDGER__V1__COMMAND__BODY_ROTATE_PRINCIPAL_SECRET:
        return domain__decide_rotate_principal_secret(d);
    case LEDGER__V1__COMMAND__BODY_ONBOARD_CUSTOMER:
        return domain__decide_onboard_customer(d);
    case LEDGER__V1__COMMAND__BODY_PURCHASE_SUBSCRIPTION:
        return domain__decide_purchase_subscription(d);
    case LEDGER__V1__COMMAND__BODY_SET_SUBSCRIPTION_STATUS:
        return domain__decide_set_subscription_status(d);
    case LEDGER__V1__COMMAND__BODY_ASSIGN_ROLE:
        return domain__decide_role(d, true);
    case LEDGER__V1__COMMAND__BODY_REMOVE_ROLE:
        return domain__decide_role(d, false);
    case LEDGER__V1__COMMAND__BODY_GRANT_PERMISSION:
        return domain__decide_permission(d, true);
    case LEDGER__V1__COMMAND__BODY_REVOKE_PERMISSION:
        return domain__decide_permission(d, false);
    case LEDGER__V1__COMMAND__BODY_PURCHASE_RESERVATION:
        return domain__decide_purchase_reservation(d);
    case LEDGER__V1__COMMAND__BODY_CHANGE_RESERVATION_SCOPE:
        return domain__decide_change_reservation_scope(d);
    case LEDGER__V1__COMMAND__BODY_SET_RESERVATION_RENEWAL:
        return domain__decide_set_reservation_renewal(d);
    case LEDGER__V1__COMMAND__BODY_RENEW_RESERVATION:
        return domain__decide_renew_reservation(d);
    case LEDGER__V1__COMMAND__BODY_EXCHANGE_RESERVATION:
        return domain__decide_exchange_reservation(d);
    case LEDGER__V1__COMMAND__BODY_CANCEL_RESERVATION:
        return domain__decide_cancel_reservation(d);
    case LEDGER__V1__COMMAND__BODY_EXPIRE_RESERVATION:
        return domain__decide_expire_reservation(d);
    case LEDGER__V1__COMMAND__BODY_PURCHASE_SAVINGS_PLAN:
        return domain__decide_purchase_savings_plan(d);
    case LEDGER__V1__COMMAND__BODY_CHANGE_SAVINGS_PLAN_SCOPE:
        return domain__decide_change_savings_plan_scope(d);
    case LEDGER__V1__COMMAND__BODY_SET_SAVINGS_PLAN_RENEWAL:
        return domain__decide_set_savings_plan_renewal(d);
    case LEDGER__V1__COMMAND__BODY_CANCEL_SAVINGS_PLAN:
        return domain__decide_cancel_savings_plan(d);
    case LEDGER__V1__COMMAND__BODY_RENEW_SAVINGS_PLAN:
        return domain__decide_renew_savings_plan(d);
    case LEDGER__V1__COMMAND__BODY_SET_COST_VISIBILITY:
        return domain__decide_set_cost_visibility(d);
    default:
        return domain__refuse(d, LEDGER_ERR_UNKNOWN_MESSAGE, "unknown command %d",
                              (int)d->command->body_case);
    }
}

/* Steps 3 and 4 of the order of checks: the envelope and the scope. */
static enum ledger_err check_envelope_and_scope(struct domain_decision *d)
{
    const struct domain_input *in = d->in;
    const Ledger__V1__Command *command = d->command;
    const struct domain_principal *principal = d->principal;
    enum ledger_err err = domain__check_id(d, command->command_id, "command_id");
    if (err != LEDGER_ERR_OK)
        return err;
    if (!domain__string_empty(command->correlation_id)) {
        err = domain__check_id(d, command->correlation_id, "correlation_id");
        if (err != LEDGER_ERR_OK)
            return err;
    }
    if (command->business_us < 0 || command->business_us > LEDGER_TIME_US_MAX ||
        (command->business_us > 0 && command->business_us - LEDGER_BUSINESS_FUTURE_US > in->now_us))
        return domain__refuse(
            d, LEDGER_ERR_INVALID_ARGUMENT,
            "business_us %lld (%s) must be 0 (now) or a time no later than %s, the "
            "ledger's clock plus %lld s: a business time may not be in the future",
            (long long)command->business_us, domain__time_text(command->business_us).text,
            domain__time_text(in->now_us + LEDGER_BUSINESS_FUTURE_US).text,
            (long long)(LEDGER_BUSINESS_FUTURE_US / 1000000));
    if (in->now_us <= 0 || in->now_us > LEDGER_TIME_US_MAX)
        return domain__refuse(d, LEDGER_ERR_INTERNAL, "the ledger's clock reads %lld",
                              (long long)in->now_us);
    d->business_us = command->business_us > 0 ? command->business_us : in->now_us;

    if (!domain__string_empty(command->partner_id)) {
        err = domain__check_id(d, command->partner_id, "partner_id");
        if (err != LEDGER_ERR_OK)
            return err;
    }
    if (!domain__string_empty(command->customer_id)) {
        err = domain__check_id(d, command->customer_id, "customer_id");
        if (err != LEDGER_ERR_OK)
            return err;
    }

    /* The scope rule of the principal's role (policy table). */
    const char *partner_id = in->partner_id != NULL ? in->partner_id : "";
    const char *own_partner = principal->partner_id != NULL ? principal->partner_id : "";
    enum policy_scope scope = policy_role_scope(principal->role);
    switch (scope) {
    case POLICY_SCOPE_OWN_PARTNER:
    case POLICY_SCOPE_OWN_CUSTOMER:
        if (own_partner[0] == '\0')
            return domain__refuse(d, LEDGER_ERR_PARTNER_MISMATCH,
                                  "principal %s (%s) is bound to no partner", principal->id,
                                  policy_role_name(principal->role));
        /* fall through */
    case POLICY_SCOPE_PARTNER_OR_ALL:
        if (own_partner[0] != '\0' && strcmp(own_partner, partner_id) != 0)
            return domain__refuse(
                d, LEDGER_ERR_PARTNER_MISMATCH,
                "principal %s belongs to partner %s, not %s: leave out the partner "
                "(--partner), or give %s",
                principal->id, own_partner, partner_id[0] != '\0' ? partner_id : "(none)",
                own_partner);
        break;
    case POLICY_SCOPE_ALL_PARTNERS:
        break;
    case POLICY_SCOPE_NONE:
        return domain__refuse(d, LEDGER_ERR_FORBIDDEN, "principal %s has no role", principal->id);
    }

    if (!domain_command_is_customer(command->body_case))
        return LEDGER_ERR_OK;
    const char *customer_id = domain_command_customer_id(principal, command);
    err = domain__check_id(d, partner_id, "partner_id");
    if (err == LEDGER_ERR_OK)
        err = domain__check_id(d, customer_id, "customer_id");
    if (err != LEDGER_ERR_OK)
        return err;
    if (scope == POLICY_SCOPE_OWN_CUSTOMER &&
        !domain__string_equal(principal->customer_id, customer_id))
        return domain__refuse(d, LEDGER_ERR_PARTNER_MISMATCH,
                              "customer user %s belongs to customer %s, not %s", principal->id,
                              principal->customer_id != NULL ? principal->customer_id : "",
                              customer_id);
    if (scope == POLICY_SCOPE_OWN_CUSTOMER && !codec_id_valid(principal->user))
        return domain__refuse(d, LEDGER_ERR_FORBIDDEN, "customer user %s has no user name",
                              principal->id);
    if (in->customer == NULL || strcmp(in->customer->partner_id, partner_id) != 0 ||
        strcmp(in->customer->customer_id, customer_id) != 0)
        return domain__refuse(d, LEDGER_ERR_INTERNAL,
                              "the state given is not customer %s of partner %s", customer_id,
                              partner_id);
    d->customer = in->customer;
    return LEDGER_ERR_OK;
}

/* The envelope every event carries (docs/events.md, "Envelope"). */
static void fill_envelope(struct domain_decision *d)
{
    const struct domain_input *in = d->in;
    struct domain_output *out = d->out;
    Ledger__V1__Event *event = &out->event;
    const char *partner_id = in->partner_id != NULL ? in->partner_id : "";
    if (d->command->body_case == LEDGER__V1__COMMAND__BODY_ADD_PRINCIPAL &&
        d->command->add_principal->partner_id != NULL)
        partner_id = d->command->add_principal->partner_id; /* "" or checked equal */
    if (d->command->body_case == LEDGER__V1__COMMAND__BODY_REVOKE_PRINCIPAL ||
        d->command->body_case == LEDGER__V1__COMMAND__BODY_ROTATE_PRINCIPAL_SECRET)
        partner_id = in->principal_partner_id != NULL ? in->principal_partner_id : "";
    domain__copy_cut(out->partner_id, sizeof out->partner_id, partner_id);
    domain__copy_cut(out->customer_id, sizeof out->customer_id,
                     d->customer != NULL ? d->customer->customer_id : NULL);
    domain__copy_cut(out->actor_principal_id, sizeof out->actor_principal_id, d->principal->id);
    domain__copy_cut(out->actor_user, sizeof out->actor_user, d->principal->user);
    ledger__v1__actor__init(&out->actor);
    out->actor.principal_id = out->actor_principal_id;
    out->actor.role = d->principal->role;
    out->actor.user = out->actor_user;

    event->sequence = in->sequence;
    event->partner_id = out->partner_id;
    event->customer_id = out->customer_id;
    event->actor = &out->actor;
    event->recorded_us = in->now_us;
    event->business_us = d->business_us;
    event->command_id = d->command->command_id;
    event->correlation_id = d->command->correlation_id != NULL ? d->command->correlation_id
                                                               : (char *)protobuf_c_empty_string;
    event->schema_version = LEDGER_SCHEMA_VERSION;
    event->stream_version = d->customer != NULL ? d->customer->version + 1 : 0;
    event->command_hash.len = in->command_hash != NULL ? 32 : 0;
    event->command_hash.data = (uint8_t *)in->command_hash;
}

/* The roles a person may hold that may use a command, for a FORBIDDEN
 * message ("role admin-agent or customer-user"); the ledger's own role is
 * no one to ask. */
static void allowed_roles(Ledger__V1__Command__BodyCase body_case, char *out, size_t size)
{
    size_t length = 0;
    int count = 0;
    out[0] = '\0';
    for (size_t i = 0; i < POLICY_ROLE_COUNT; i++) {
        Ledger__V1__Role role = policy_role_at(i);
        if (role == LEDGER__V1__ROLE__ROLE_SYSTEM || !policy_command_allowed(role, body_case))
            continue;
        int written = snprintf(out + length, size - length, "%s%s", count == 0 ? "role " : " or ",
                               policy_role_name(role));
        if (written < 0 || (size_t)written >= size - length)
            break;
        length += (size_t)written;
        count++;
    }
    if (count == 0)
        snprintf(out, size, "no role");
}

_Static_assert(offsetof(struct domain_output, savings_plan) ==
                   offsetof(struct domain_output, reservation_ids) +
                       sizeof((struct domain_output *)0)->reservation_ids,
               "the storage domain_decide leaves uncleared ends at reservation_ids");

static void reset_event(struct domain_output *out)
{
    memset(&out->event, 0, sizeof out->event);
    ledger__v1__event__init(&out->event);
}

enum ledger_err domain_decide(const struct domain_input *input, struct domain_output *out)
{
    if (out == NULL)
        return LEDGER_ERR_INTERNAL;
    /* All but the per-reservation storage, most of the output's 16 KiB: an
     * entry is written in full before the event points to it. */
    memset(out, 0, offsetof(struct domain_output, reservations));
    memset(&out->savings_plan, 0, sizeof *out - offsetof(struct domain_output, savings_plan));
    reset_event(out);
    struct domain_decision decision = {.in = input, .out = out};
    struct domain_decision *d = &decision;
    if (input == NULL || input->principal == NULL || input->command == NULL ||
        input->principal->id == NULL || input->partner_id == NULL)
        return domain__refuse(d, LEDGER_ERR_INTERNAL, "incomplete decision input");
    d->command = input->command;
    d->principal = input->principal;
    const Ledger__V1__Command *command = input->command;

    /* 1. A body this build knows. */
    enum ledger_err err;
    if (!domain_command_is_customer(command->body_case) &&
        command->body_case != LEDGER__V1__COMMAND__BODY_ADD_PARTNER &&
        command->body_case != LEDGER__V1__COMMAND__BODY_ADD_PRINCIPAL &&
        command->body_case != LEDGER__V1__COMMAND__BODY_REVOKE_PRINCIPAL &&
        command->body_case != LEDGER__V1__COMMAND__BODY_ROTATE_PRINCIPAL_SECRET) {
        if (command->body_case == LEDGER__V1__COMMAND__BODY__NOT_SET)
            err = domain__refuse(
                d, LEDGER_ERR_UNKNOWN_MESSAGE,
                "the command sets none of the bodies this daemon knows (Command fields "
                "20 and up, docs/events.md): it has none, or one of a newer protocol");
        else
            err = domain__refuse(d, LEDGER_ERR_UNKNOWN_MESSAGE,
                                 "the command's body (field %d) is not one this daemon knows",
                                 (int)command->body_case);
        goto refused;
    }
    if (!body_present(command)) {
        err = domain__refuse(d, LEDGER_ERR_INVALID_ARGUMENT, "the %s command has no body",
                             codec_command_type_name(command->body_case));
        goto refused;
    }
    /* 2. The role table. */
    enum policy_access access = policy_command_access(input->principal->role, command->body_case);
    if (access != POLICY_ALLOW) {
        /* The command's name as words ("cancel reservation"), then as sent. */
        const char *name = codec_command_type_name(command->body_case);
        char verb[DOMAIN_MESSAGE_SIZE / 4];
        snprintf(verb, sizeof verb, "%s", name);
        for (char *c = verb; *c != '\0'; c++)
            *c = *c == '_' ? ' ' : *c;
        if (access == POLICY_ASK_PARTNER) {
            err = domain__refuse(d, LEDGER_ERR_ASK_PARTNER,
                                 "only the partner may %s (%s) for a customer; ask your partner",
                                 verb, name);
        } else {
            char allowed[DOMAIN_MESSAGE_SIZE / 2];
            allowed_roles(command->body_case, allowed, sizeof allowed);
            err = domain__refuse(d, LEDGER_ERR_FORBIDDEN,
                                 "role %s may not %s (%s); ask a principal of %s",
                                 policy_role_name(input->principal->role), verb, name, allowed);
        }
        goto refused;
    }
    /* 3, 4. */
    err = check_envelope_and_scope(d);
    if (err != LEDGER_ERR_OK)
        goto refused;
    /* 5, 6, 7. */
    err = decide_body(d);
    if (err != LEDGER_ERR_OK)
        goto refused;
    fill_envelope(d);
    return LEDGER_ERR_OK;

refused:
    reset_event(out);
    if (out->message[0] == '\0')
        snprintf(out->message, sizeof out->message, "%s", ledger_strerror(err));
    return err;
}
