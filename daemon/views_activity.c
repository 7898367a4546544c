/*
 * views_activity.c: the activity log (STORE_DB_ACTIVITY's 'P' and 'C' entries;
 * their key layout is in views.c): the row each event adds, its detail text,
 * whether partner staff see it, the customer of a principal event; the
 * activity query, which walks a partner's log or a customer's stream with
 * its principal events merged in, newest first, and
 * views_customer_principal_next for the events feed.
 */
#include "views.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "money.h"
#include "views_internal.h"

/* Activity detail text: a line in a table, room for two scopes and an id. */
#define VIEWS_DETAIL_SIZE 512
/* The longest detail that is not cut or counted: a reservation purchase's
 * id, quantity, SKU, region and cloud order id (exchanges name what fits). */
_Static_assert(LEDGER_ID_LENGTH_MAX + 20 + 2 * (LEDGER_SKU_LENGTH_MAX + 1) + LEDGER_ID_LENGTH_MAX +
                       16 <
                   VIEWS_DETAIL_SIZE,
               "a purchase's activity detail is never cut short");
/* The numbers of ActivityRow's fields the activity filters read from the
 * wire (proto/ledger.proto; test_views's filter tests fail if they drift). */
#define VIEWS_ACTIVITY_ROW_RECORDED_US 2u
#define VIEWS_ACTIVITY_ROW_ACTION      4u
#define VIEWS_ACTIVITY_ROW_BUSINESS_US 8u

/* --- the activity row ------------------------------------------------------------------------- */

/* Concatenates `count` strings into `out` (`size` bytes, at least 1), cut
 * at size - 1 bytes and NUL-terminated as snprintf cuts: the texts made for
 * every event's activity row, without a format to parse. */
static void join_text(char *out, size_t size, const char *const *parts, size_t count)
{
    size_t used = 0;
    for (size_t i = 0; i < count && used + 1 < size; i++) {
        size_t length = strlen(parts[i]);
        if (length > size - 1 - used) {
            length = size - 1 - used;
        }
        memcpy(out + used, parts[i], length);
        used += length;
    }
    out[used] = '\0';
}

#define JOIN_TEXT(out, size, ...)                                                                  \
    join_text((out), (size), (const char *const[]){__VA_ARGS__},                                   \
              sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))

/* The decimal digits of `value` in `out`, which it returns. */
static const char *u32_text(uint32_t value, char out[11])
{
    char *at = out + 10;
    *at = '\0';
    do {
        *--at = (char)('0' + value % 10);
        value /= 10;
    } while (value != 0);
    return at;
}

static const char *on_off(bool on)
{
    return on ? "on" : "off";
}

static void scope_text(const Ledger__V1__Scope *scope, char *out, size_t size)
{
    if (scope == NULL) {
        JOIN_TEXT(out, size, "unknown");
    } else if (scope->kind == LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SHARED ||
               text(scope->target)[0] == '\0') {
        JOIN_TEXT(out, size, codec_enum_name(CODEC_ENUM_SCOPE_KIND, scope->kind));
    } else {
        JOIN_TEXT(out, size, codec_enum_name(CODEC_ENUM_SCOPE_KIND, scope->kind), " ",
                  text(scope->target));
    }
}

/* An amount as people read it, with its currency's fraction digits and code
 * ("2.50 USD", "1000 JPY", "1.250 KWD"); money.c decides the digits, as it
 * does for the domain's messages and the command line. */
static void money_text(const Ledger__V1__Money *money, char *out, size_t size)
{
    if (money == NULL) {
        JOIN_TEXT(out, size, "none");
    } else {
        char amount[MONEY_TEXT_SIZE];
        money_format(money->amount_minor, money->currency, amount);
        JOIN_TEXT(out, size, amount, " ", text(money->currency));
    }
}

/* The size of cloud_order_text's text: " cloud order " and an id. */
#define VIEWS_CLOUD_ORDER_TEXT_SIZE (LEDGER_ID_LENGTH_MAX + 16)

/* " cloud order ro-77" into out when a purchase (or renewal, or exchange
 * replacement) named the cloud's order id, so that support staff find it
 * in the activity log by the cloud's order; "" when it named none. */
static const char *cloud_order_text(const char *cloud_order_id,
                                    char out[VIEWS_CLOUD_ORDER_TEXT_SIZE])
{
    const char *id = text(cloud_order_id);
    if (id[0] == '\0') {
        return "";
    }
    JOIN_TEXT(out, VIEWS_CLOUD_ORDER_TEXT_SIZE, " cloud order ", id);
    return out;
}

/* " exchanged for res-27 cloud order ro-1, res-27-2" into out: the
 * replacements' ids, each with its cloud order id when it named one, as
 * many as fit whole, then " and N more" for those that do not. */
static void exchanged_for_text(const Ledger__V1__ReservationExchanged *x, char *out,
                               size_t out_size)
{
    /* Room kept for " and 32 more". */
    enum { MORE_SIZE = 16 };
    int n = snprintf(out, out_size, " exchanged for");
    size_t used = n > 0 && (size_t)n < out_size ? (size_t)n : 0;
    for (size_t i = 0; i < x->n_replacements; i++) {
        const Ledger__V1__ReservationPurchased *p = x->replacements[i];
        const char *id = p != NULL ? text(p->reservation_id) : "";
        char cloud[VIEWS_CLOUD_ORDER_TEXT_SIZE];
        const char *order = cloud_order_text(p != NULL ? p->cloud_order_id : NULL, cloud);
        size_t need = strlen(id) + 2 + strlen(order);
        if (used + need + MORE_SIZE >= out_size) {
            snprintf(out + used, out_size - used, " and %zu more", x->n_replacements - i);
            return;
        }
        used +=
            (size_t)snprintf(out + used, out_size - used, "%s %s%s", i > 0 ? "," : "", id, order);
    }
}

/* " for customer C" when a principal event is about a customer user of C
 * (views layout 10), else nothing. */
static const char *for_customer(const char *customer_id, char *out, size_t size)
{
    if (customer_id[0] == '\0') {
        return "";
    }
    JOIN_TEXT(out, size, " for customer ", customer_id);
    return out;
}

/* "res-1 renewed as res-2 cloud order ro-2": a renewal's activity detail,
 * from the expiring holding's id and its renewal's (NULL: none). */
static void renewed_detail(const char *old_id, const char *new_id, const char *cloud_order_id,
                           char out[VIEWS_DETAIL_SIZE])
{
    char cloud[VIEWS_CLOUD_ORDER_TEXT_SIZE];
    JOIN_TEXT(out, VIEWS_DETAIL_SIZE, text(old_id), " renewed as ", text(new_id),
              cloud_order_text(cloud_order_id, cloud));
}

/* A short summary of what the event did, for the activity log.
 * `principal_customer_id`: the customer of the customer user a principal
 * event is about ("" for the others, and for every other event). */
static void activity_detail(const Ledger__V1__Event *e, const char *principal_customer_id,
                            char out[VIEWS_DETAIL_SIZE])
{
    char a[2 * LEDGER_ID_LENGTH_MAX + 32], b[2 * LEDGER_ID_LENGTH_MAX + 32];
    char for_text[LEDGER_ID_LENGTH_MAX + 16], cloud[VIEWS_CLOUD_ORDER_TEXT_SIZE];
    const char *customer = for_customer(principal_customer_id, for_text, sizeof for_text);
    out[0] = '\0';
    switch (e->body_case) {
    case LEDGER__V1__EVENT__BODY_PARTNER_REGISTERED:
        JOIN_TEXT(out, VIEWS_DETAIL_SIZE, text(e->partner_registered->name));
        break;
    case LEDGER__V1__EVENT__BODY_PRINCIPAL_ADDED:
        JOIN_TEXT(out, VIEWS_DETAIL_SIZE, text(e->principal_added->principal_id), " ",
                  codec_role_name(e->principal_added->role),
                  text(e->principal_added->user)[0] != '\0' ? " " : "",
                  text(e->principal_added->user), customer);
        break;
    case LEDGER__V1__EVENT__BODY_PRINCIPAL_REVOKED:
        JOIN_TEXT(out, VIEWS_DETAIL_SIZE, text(e->principal_revoked->principal_id), customer);
        break;
    case LEDGER__V1__EVENT__BODY_PRINCIPAL_SECRET_ROTATED:
        JOIN_TEXT(out, VIEWS_DETAIL_SIZE, text(e->principal_secret_rotated->principal_id),
                  customer);
        break;
    case LEDGER__V1__EVENT__BODY_CUSTOMER_ONBOARDED:
        JOIN_TEXT(out, VIEWS_DETAIL_SIZE, text(e->customer_onboarded->name));
        break;
    case LEDGER__V1__EVENT__BODY_SUBSCRIPTION_PURCHASED:
        JOIN_TEXT(out, VIEWS_DETAIL_SIZE, text(e->subscription_purchased->subscription_id), " ",
                  codec_enum_name(CODEC_ENUM_OFFER, e->subscription_purchased->offer));
        break;
    case LEDGER__V1__EVENT__BODY_SUBSCRIPTION_STATUS_CHANGED:
        JOIN_TEXT(out, VIEWS_DETAIL_SIZE, text(e->subscription_status_changed->subscription_id),
                  " ",
                  codec_enum_name(CODEC_ENUM_SUBSCRIPTION_STATUS,
                                  e->subscription_status_changed->from_status),
                  " -> ",
                  codec_enum_name(CODEC_ENUM_SUBSCRIPTION_STATUS,
                                  e->subscription_status_changed->to_status));
        break;
    case LEDGER__V1__EVENT__BODY_ROLE_ASSIGNED:
        JOIN_TEXT(out, VIEWS_DETAIL_SIZE, text(e->role_assigned->user), " ",
                  codec_enum_name(CODEC_ENUM_AZURE_ROLE, e->role_assigned->role), " on ",
                  text(e->role_assigned->subscription_id));
        break;
    case LEDGER__V1__EVENT__BODY_ROLE_REMOVED:
        JOIN_TEXT(out, VIEWS_DETAIL_SIZE, text(e->role_removed->user), " ",
                  codec_enum_name(CODEC_ENUM_AZURE_ROLE, e->role_removed->role), " on ",
                  text(e->role_removed->subscription_id));
        break;
    case LEDGER__V1__EVENT__BODY_PURCHASE_PERMISSION_GRANTED:
        JOIN_TEXT(
            out, VIEWS_DETAIL_SIZE,
            codec_enum_name(CODEC_ENUM_PERMISSION_KIND, e->purchase_permission_granted->kind));
        break;
    case LEDGER__V1__EVENT__BODY_PURCHASE_PERMISSION_REVOKED:
        JOIN_TEXT(
            out, VIEWS_DETAIL_SIZE,
            codec_enum_name(CODEC_ENUM_PERMISSION_KIND, e->purchase_permission_revoked->kind));
        break;
    case LEDGER__V1__EVENT__BODY_RESERVATION_PURCHASED: {
        const Ledger__V1__ReservationPurchased *p = e->reservation_purchased;
        char quantity[11];
        JOIN_TEXT(out, VIEWS_DETAIL_SIZE, text(p->reservation_id), " quantity ",
                  u32_text(p->quantity, quantity), " ", text(p->sku), " ", text(p->region),
                  cloud_order_text(p->cloud_order_id, cloud));
        break;
    }
    case LEDGER__V1__EVENT__BODY_RESERVATION_SCOPE_CHANGED:
        scope_text(e->reservation_scope_changed->from_scope, a, sizeof a);
        scope_text(e->reservation_scope_changed->to_scope, b, sizeof b);
        JOIN_TEXT(out, VIEWS_DETAIL_SIZE, text(e->reservation_scope_changed->reservation_id),
                  " scope ", a, " -> ", b);
        break;
    case LEDGER__V1__EVENT__BODY_RESERVATION_RENEWAL_SET:
        JOIN_TEXT(out, VIEWS_DETAIL_SIZE, text(e->reservation_renewal_set->reservation_id),
                  " auto-renew ", on_off(e->reservation_renewal_set->auto_renew));
        break;
    case LEDGER__V1__EVENT__BODY_RESERVATION_RENEWED: {
        const Ledger__V1__ReservationPurchased *renewal = e->reservation_renewed->renewal;
        renewed_detail(e->reservation_renewed->reservation_id,
                       renewal != NULL ? renewal->reservation_id : NULL,
                       renewal != NULL ? renewal->cloud_order_id : NULL, out);
        break;
    }
    case LEDGER__V1__EVENT__BODY_RESERVATION_EXCHANGED: {
        /* The returned ids in the first half, whole: those that fit, then
         * " and N more" for the others (never an id cut short). */
        enum { RETURNED_SIZE = VIEWS_DETAIL_SIZE / 2, MORE_SIZE = 16 };
        const Ledger__V1__ReservationExchanged *x = e->reservation_exchanged;
        size_t used = 0;
        for (size_t i = 0; i < x->n_returned_reservation_ids; i++) {
            const char *id = text(x->returned_reservation_ids[i]);
            if (used + strlen(id) + 1 + MORE_SIZE >= RETURNED_SIZE) {
                int n = snprintf(out + used, RETURNED_SIZE - used, " and %zu more",
                                 x->n_returned_reservation_ids - i);
                used += n > 0 && (size_t)n < RETURNED_SIZE - used ? (size_t)n : 0;
                break;
            }
            used +=
                (size_t)snprintf(out + used, RETURNED_SIZE - used, "%s%s", i > 0 ? "," : "", id);
        }
        exchanged_for_text(x, out + used, VIEWS_DETAIL_SIZE - used);
        break;
    }
    case LEDGER__V1__EVENT__BODY_RESERVATION_CANCELLED:
        money_text(e->reservation_cancelled->refund, a, sizeof a);
        JOIN_TEXT(out, VIEWS_DETAIL_SIZE, text(e->reservation_cancelled->reservation_id),
                  " refund ", a);
        break;
    case LEDGER__V1__EVENT__BODY_RESERVATION_EXPIRED:
        JOIN_TEXT(out, VIEWS_DETAIL_SIZE, text(e->reservation_expired->reservation_id));
        break;
    case LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_PURCHASED: {
        const Ledger__V1__SavingsPlanPurchased *p = e->savings_plan_purchased;
        money_text(p->hourly_commitment, a, sizeof a);
        JOIN_TEXT(out, VIEWS_DETAIL_SIZE, text(p->savings_plan_id), " hourly ", a, " ",
                  codec_enum_name(CODEC_ENUM_TERM, p->term),
                  cloud_order_text(p->cloud_order_id, cloud));
        break;
    }
    case LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_SCOPE_CHANGED:
        scope_text(e->savings_plan_scope_changed->from_scope, a, sizeof a);
        scope_text(e->savings_plan_scope_changed->to_scope, b, sizeof b);
        JOIN_TEXT(out, VIEWS_DETAIL_SIZE, text(e->savings_plan_scope_changed->savings_plan_id),
                  " scope ", a, " -> ", b);
        break;
    case LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_RENEWAL_SET:
        JOIN_TEXT(out, VIEWS_DETAIL_SIZE, text(e->savings_plan_renewal_set->savings_plan_id),
                  " auto-renew ", on_off(e->savings_plan_renewal_set->auto_renew));
        break;
    case LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_RENEWED: {
        const Ledger__V1__SavingsPlanPurchased *renewal = e->savings_plan_renewed->renewal;
        renewed_detail(e->savings_plan_renewed->savings_plan_id,
                       renewal != NULL ? renewal->savings_plan_id : NULL,
                       renewal != NULL ? renewal->cloud_order_id : NULL, out);
        break;
    }
    case LEDGER__V1__EVENT__BODY_COST_VISIBILITY_SET:
        JOIN_TEXT(out, VIEWS_DETAIL_SIZE, "retail prices ",
                  e->cost_visibility_set->retail_prices_visible ? "visible" : "hidden");
        break;
    default:
        break;
    }
}

static void activity_partner_key(struct key *k, const char *partner_id, uint64_t sequence)
{
    key_u8(k, VIEWS_ACTIVITY_PARTNER);
    key_field(k, partner_id);
    key_u64(k, sequence);
}

/* 'C' partner NUL customer NUL: the prefix of a customer's principal
 * events (views layout 10). */
static void activity_customer_prefix(struct key *k, const char *partner_id, const char *customer_id)
{
    key_u8(k, VIEWS_ACTIVITY_CUSTOMER);
    key_customer(k, partner_id, customer_id);
}

/* The principal a principal event names, or NULL for other events. */
static const char *principal_event_id(const Ledger__V1__Event *e)
{
    switch (e->body_case) {
    case LEDGER__V1__EVENT__BODY_PRINCIPAL_ADDED:
        return e->principal_added->principal_id;
    case LEDGER__V1__EVENT__BODY_PRINCIPAL_REVOKED:
        return e->principal_revoked->principal_id;
    case LEDGER__V1__EVENT__BODY_PRINCIPAL_SECRET_ROTATED:
        return e->principal_secret_rotated->principal_id;
    default:
        return NULL;
    }
}

/* Into out: customer_id when a principal of role `role` and partner
 * partner_id is a customer user of the event's partner, else "". */
static void principal_customer(const Ledger__V1__Event *event, Ledger__V1__Role role,
                               const char *partner_id, const char *customer_id,
                               char out[LEDGER_ID_LENGTH_MAX + 1])
{
    customer_id = text(customer_id);
    if (role == LEDGER__V1__ROLE__ROLE_CUSTOMER_USER && codec_id_valid(customer_id) &&
        strcmp(text(partner_id), text(event->partner_id)) == 0) {
        snprintf(out, LEDGER_ID_LENGTH_MAX + 1, "%s", customer_id);
    }
}

/* Into out: the customer of the customer user a principal event of the
 * event's partner is about, else "": a PrincipalAdded says it (its row holds
 * what it says), the others' principal rows do. A principal event belongs
 * to no customer's stream; this puts it in its customer's activity too. A
 * row of another partner (no log this build writes has one) names no
 * customer: a customer is only ever its own partner's. */
static enum ledger_err principal_event_customer(struct store_txn *txn,
                                                const Ledger__V1__Event *event,
                                                char out[LEDGER_ID_LENGTH_MAX + 1])
{
    out[0] = '\0';
    if (event->body_case == LEDGER__V1__EVENT__BODY_PRINCIPAL_ADDED) {
        const Ledger__V1__PrincipalAdded *a = event->principal_added;
        principal_customer(event, a->role, a->partner_id, a->customer_id, out);
        return LEDGER_ERR_OK;
    }
    const char *principal_id = principal_event_id(event);
    if (principal_id == NULL) {
        return LEDGER_ERR_OK;
    }
    struct key k = {0};
    key_last(&k, principal_id);
    ProtobufCMessage *message = NULL;
    enum ledger_err err = views__get_message(txn, STORE_DB_PRINCIPAL, &k,
                                             &ledger__v1__principal_row__descriptor, &message);
    if (err != LEDGER_ERR_OK) {
        return err == LEDGER_ERR_NOT_FOUND ? LEDGER_ERR_CORRUPT : err;
    }
    const Ledger__V1__PrincipalRow *row = (const Ledger__V1__PrincipalRow *)message;
    principal_customer(event, row->role, row->partner_id, row->customer_id, out);
    codec_message_free(message);
    return LEDGER_ERR_OK;
}

/* A later change of a savings plan (scope, auto-renew) is partner-visible
 * exactly when the plan's purchase was: the event does not say who bought the
 * plan, its row does. Must run before the change updates the row (it does not
 * touch the purchaser either way). */
static enum ledger_err savings_plan_change_visible(struct store_txn *txn,
                                                   const Ledger__V1__Event *event, bool *visible)
{
    const char *savings_plan_id = NULL;
    if (event->body_case == LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_SCOPE_CHANGED) {
        savings_plan_id = event->savings_plan_scope_changed->savings_plan_id;
    } else if (event->body_case == LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_RENEWAL_SET) {
        savings_plan_id = event->savings_plan_renewal_set->savings_plan_id;
    } else {
        return LEDGER_ERR_OK;
    }
    struct key k = {0};
    savings_plan_key(&k, event, savings_plan_id);
    uint64_t purchaser = 0;
    enum ledger_err err = views__row_varint(txn, STORE_DB_SAVINGS_PLAN, &k,
                                            VIEWS_SAVINGS_PLAN_ROW_PURCHASER, &purchaser);
    if (err != LEDGER_ERR_OK) {
        return err == LEDGER_ERR_NOT_FOUND ? LEDGER_ERR_CORRUPT : err;
    }
    *visible = purchaser != LEDGER__V1__PURCHASER__PURCHASER_CUSTOMER;
    return LEDGER_ERR_OK;
}

/* Every event of a partner goes to its activity log; events of no partner
 * (operators' principals of all partners) have no log to go to. */
enum ledger_err views__activity_add(struct store_txn *txn, const Ledger__V1__Event *event)
{
    const char *partner_id = text(event->partner_id);
    if (partner_id[0] == '\0') {
        return LEDGER_ERR_OK;
    }
    char principal_customer[LEDGER_ID_LENGTH_MAX + 1];
    enum ledger_err err = principal_event_customer(txn, event, principal_customer);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    char detail[VIEWS_DETAIL_SIZE];
    activity_detail(event, principal_customer, detail);
    Ledger__V1__ActivityRow row = LEDGER__V1__ACTIVITY_ROW__INIT;
    row.sequence = event->sequence;
    row.recorded_us = event->recorded_us;
    row.business_us = domain_event_business_us(event);
    row.customer_id = principal_customer[0] != '\0' ? principal_customer : event->customer_id;
    row.action = (char *)domain_action_name(event);
    row.actor = event->actor;
    row.status = "Succeeded";
    row.detail = detail;
    bool visible = domain_partner_visible(event);
    if (visible) {
        err = savings_plan_change_visible(txn, event, &visible);
        if (err != LEDGER_ERR_OK) {
            return err;
        }
    }
    uint8_t flags = visible ? VIEWS_ACTIVITY_VISIBLE : 0;

    struct key k = {0};
    activity_partner_key(&k, partner_id, event->sequence);
    if (k.overflow) {
        return LEDGER_ERR_CORRUPT;
    }
    struct codec_packed value; /* flags || ActivityRow */
    err = codec_pack_scratch(&row.base, &flags, 1, &value);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    /* One customer's activity is found through the customer's stream index
     * (store_stream_each_back), which lists the same events: no second row.
     * A principal event is in no stream: its customer's 'C' entry lists it. */
    err = store_put(txn, STORE_DB_ACTIVITY, k.bytes, k.size, value.data, value.size);
    codec_packed_free(&value);
    if (err == LEDGER_ERR_OK && principal_customer[0] != '\0') {
        struct key c = {0};
        activity_customer_prefix(&c, partner_id, principal_customer);
        key_u64(&c, event->sequence);
        err = c.overflow ? LEDGER_ERR_CORRUPT
                         : store_put(txn, STORE_DB_ACTIVITY, c.bytes, c.size, &flags, 1);
    }
    return err;
}

/* --- the activity query ----------------------------------------------------------------------- */

/* Parses a page token: the decimal sequence to continue below (1..2^64-1). */
static bool page_token_parse(const char *token, uint64_t *out)
{
    size_t length = strlen(token);
    if (length == 0 || length > 20) {
        return false;
    }
    uint64_t value = 0;
    for (size_t i = 0; i < length; i++) {
        if (token[i] < '0' || token[i] > '9') {
            return false;
        }
        uint64_t digit = (uint64_t)(token[i] - '0');
        if (value > (UINT64_MAX - digit) / 10) {
            return false;
        }
        value = value * 10 + digit;
    }
    if (value == 0) {
        return false;
    }
    *out = value;
    return true;
}

/* A walk down one key family of the activity database ('P' partner NUL,
 * or 'C' partner NUL customer NUL, then u64 sequence), newest first. */
struct activity_cursor {
    struct store_cursor *cursor;
    struct key prefix;
    uint64_t sequence;      /* of the entry at hand; 0: none left */
    struct store_val value; /* its value (u8 flags first) */
};

/* Takes the cursor's entry (or the error or end `err` that moving it gave)
 * as the one at hand. */
static enum ledger_err activity_cursor_take(struct activity_cursor *c, enum ledger_err err,
                                            const struct store_val *key,
                                            const struct store_val *value)
{
    c->sequence = 0;
    if (err == LEDGER_ERR_NOT_FOUND || (err == LEDGER_ERR_OK && !key_has_prefix(key, &c->prefix))) {
        return LEDGER_ERR_OK;
    }
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    if (key->size != c->prefix.size + 8 || value->size < 1) {
        return LEDGER_ERR_CORRUPT;
    }
    c->sequence = store_key_to_u64(key->data + c->prefix.size);
    c->value = *value;
    return c->sequence != 0 ? LEDGER_ERR_OK : LEDGER_ERR_CORRUPT;
}

/* Opens a walk of the family `prefix` at its newest entry below `below`
 * (0: its newest of all). Close it with activity_cursor_close, also on
 * error. */
static enum ledger_err activity_cursor_open(struct store_txn *txn, const struct key *prefix,
                                            uint64_t below, struct activity_cursor *c)
{
    c->cursor = NULL;
    c->prefix = *prefix;
    c->sequence = 0;
    /* Start just below `below` (a resumed page), or after the prefix's last
     * key: the prefix with its final NUL raised to 0x01 sorts after all of it. */
    struct key start = *prefix;
    if (below != 0) {
        key_u64(&start, below);
    } else if (start.size > 0) {
        start.bytes[start.size - 1] = 0x01;
    }
    if (prefix->overflow || start.overflow) {
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    enum ledger_err err = store_cursor_open(txn, STORE_DB_ACTIVITY, &c->cursor);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    struct store_val key, value;
    err = store_cursor_seek(c->cursor, start.bytes, start.size, &key, &value);
    if (err == LEDGER_ERR_OK) {
        err = store_cursor_prev(c->cursor, &key, &value);
    } else if (err == LEDGER_ERR_NOT_FOUND) {
        err = store_cursor_last(c->cursor, &key, &value);
    }
    return activity_cursor_take(c, err, &key, &value);
}

/* Moves to the next older entry of the family (sequence 0 past the last). */
static enum ledger_err activity_cursor_prev(struct activity_cursor *c)
{
    struct store_val key, value;
    enum ledger_err err = store_cursor_prev(c->cursor, &key, &value);
    return activity_cursor_take(c, err, &key, &value);
}

static void activity_cursor_close(struct activity_cursor *c)
{
    if (c->cursor != NULL) {
        store_cursor_close(c->cursor);
        c->cursor = NULL;
    }
}

enum ledger_err views_customer_principal_next(struct store_txn *txn, const char *partner_id,
                                              const char *customer_id, uint64_t after,
                                              uint64_t *sequence_out)
{
    if (txn == NULL || sequence_out == NULL) {
        return LEDGER_ERR_INTERNAL;
    }
    if (!codec_id_valid(text(partner_id)) || !codec_id_valid(text(customer_id))) {
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    if (after == UINT64_MAX) {
        *sequence_out = 0; /* no sequence is above it */
        return LEDGER_ERR_OK;
    }
    struct activity_cursor c = {0};
    activity_customer_prefix(&c.prefix, partner_id, customer_id);
    struct key start = c.prefix;
    key_u64(&start, after + 1);
    if (start.overflow) {
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    enum ledger_err err = store_cursor_open(txn, STORE_DB_ACTIVITY, &c.cursor);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    struct store_val key, value;
    err = store_cursor_seek(c.cursor, start.bytes, start.size, &key, &value);
    err = activity_cursor_take(&c, err, &key, &value);
    activity_cursor_close(&c);
    if (err == LEDGER_ERR_OK) {
        *sequence_out = c.sequence;
    }
    return err;
}

struct activity_walk {
    struct store_txn *txn;
    const struct views_scope *scope;
    const Ledger__V1__ActivityQuery *q;
    const char *customer_id;
    const char *action; /* the action's own name (domain_action_lookup); "" = every action */
    uint32_t limit;
    struct row_list *list;
    uint64_t last_returned;
    uint64_t last_examined;
    uint32_t examined; /* entries looked at, up to LEDGER_ACTIVITY_SCAN_MAX */
    bool more;         /* a matching row beyond the page exists */
    bool exhausted;    /* stopped by LEDGER_ACTIVITY_SCAN_MAX */
    /* A customer's activity: its principal events ('C' entries), merged
     * into its stream's events by sequence. */
    struct activity_cursor *principals;
};

/* Whether a row recorded at `recorded_us` and dated `business_us` is in
 * both of the query's time ranges. */
static bool activity_times_match(const Ledger__V1__ActivityQuery *q, int64_t recorded_us,
                                 int64_t business_us)
{
    return in_range(recorded_us, q->from_us, q->to_us) &&
           in_range(business_us, q->business_from_us, q->business_to_us);
}

/* Whether the query's filters leave out the stored ActivityRow in
 * bytes[0..size), read from the wire without decoding it: a filter that
 * matches little leaves out most of the entries a page walks, and decoding
 * each (its strings and actor allocated, then freed) would cost most of the
 * walk's time. false when the row matches or cannot be read so: it is decoded
 * then, and a row that does not decode is CORRUPT as before. */
static bool activity_filtered_out(const struct activity_walk *w, const uint8_t *bytes, size_t size)
{
    static const uint32_t times[] = {VIEWS_ACTIVITY_ROW_RECORDED_US,
                                     VIEWS_ACTIVITY_ROW_BUSINESS_US};
    uint64_t time_values[sizeof times / sizeof times[0]];
    const uint8_t *action = NULL;
    size_t action_size = 0;
    if (!codec_message_peek(bytes, size, times, sizeof times / sizeof times[0],
                            VIEWS_ACTIVITY_ROW_ACTION, time_values, &action, &action_size)) {
        return false;
    }
    if (!activity_times_match(w->q, (int64_t)time_values[0], (int64_t)time_values[1])) {
        return true;
    }
    /* A NUL inside would make the decoded row CORRUPT: let decoding say so. */
    return w->action[0] != '\0' &&
           memchr(action != NULL ? action : bytes, '\0', action_size) == NULL &&
           (action_size != strlen(w->action) || memcmp(action, w->action, action_size) != 0);
}

/* Looks at one activity entry (its sequence, and its 'P' value when it is at
 * hand). Returns NOT_FOUND to stop the walk. */
static enum ledger_err activity_visit(struct activity_walk *w, uint64_t sequence,
                                      const struct store_val *partner_value)
{
    w->last_examined = sequence;
    struct store_val value;
    if (partner_value != NULL) {
        value = *partner_value;
    } else {
        struct key k = {0};
        activity_partner_key(&k, w->scope->partner_id, sequence);
        enum ledger_err err = store_get(w->txn, STORE_DB_ACTIVITY, k.bytes, k.size, &value);
        if (err != LEDGER_ERR_OK) {
            return err == LEDGER_ERR_NOT_FOUND ? LEDGER_ERR_CORRUPT : err;
        }
    }
    if (value.size < 1) {
        return LEDGER_ERR_CORRUPT;
    }
    if (w->scope->partner_facing && (value.data[0] & VIEWS_ACTIVITY_VISIBLE) == 0) {
        return LEDGER_ERR_OK;
    }
    if (activity_filtered_out(w, value.data + 1, value.size - 1)) {
        return LEDGER_ERR_OK;
    }
    ProtobufCMessage *message = NULL;
    enum ledger_err err =
        unpack_row(&ledger__v1__activity_row__descriptor, value.data + 1, value.size - 1, &message);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    const Ledger__V1__ActivityRow *row = (const Ledger__V1__ActivityRow *)message;
    bool keep = activity_times_match(w->q, row->recorded_us, row->business_us) &&
                (w->action[0] == '\0' || strcmp(w->action, text(row->action)) == 0);
    if (!keep) {
        codec_message_free(message);
        return LEDGER_ERR_OK;
    }
    if (w->list->count == w->limit) {
        codec_message_free(message);
        w->more = true;
        return LEDGER_ERR_NOT_FOUND;
    }
    w->last_returned = sequence;
    return views__row_list_push(w->list, message, sequence);
}

/* Counts one entry against LEDGER_ACTIVITY_SCAN_MAX and looks at it (its
 * 'P' value when at hand, else NULL). NOT_FOUND stops the walk. */
static enum ledger_err activity_examine(struct activity_walk *w, uint64_t sequence,
                                        const struct store_val *partner_value)
{
    if (w->examined == LEDGER_ACTIVITY_SCAN_MAX) {
        w->exhausted = true;
        return LEDGER_ERR_NOT_FOUND;
    }
    w->examined++;
    return activity_visit(w, sequence, partner_value);
}

/* Looks at the customer's principal events above `floor`, newest first:
 * those that come before the stream event `floor` (0: all that are left). */
static enum ledger_err activity_principals_above(struct activity_walk *w, uint64_t floor)
{
    enum ledger_err err = LEDGER_ERR_OK;
    while (err == LEDGER_ERR_OK && w->principals->sequence > floor) {
        err = activity_examine(w, w->principals->sequence, NULL);
        if (err == LEDGER_ERR_OK) {
            err = activity_cursor_prev(w->principals);
        }
    }
    return err;
}

/* One event of the customer's stream, for a customer's activity, after
 * the customer's newer principal events. */
static enum ledger_err activity_customer_visit(void *context, uint64_t sequence)
{
    struct activity_walk *w = context;
    enum ledger_err err = activity_principals_above(w, sequence);
    return err == LEDGER_ERR_OK ? activity_examine(w, sequence, NULL) : err;
}

static enum ledger_err activity_walk(struct activity_walk *w, uint64_t below)
{
    struct activity_cursor c;
    struct key prefix = {0};
    enum ledger_err err;
    if (w->customer_id[0] != '\0') {
        /* The customer's stream, newest first, with its principal events
         * (in no stream) merged in by sequence. */
        activity_customer_prefix(&prefix, w->scope->partner_id, w->customer_id);
        err = activity_cursor_open(w->txn, &prefix, below, &c);
        w->principals = &c;
        if (err == LEDGER_ERR_OK) {
            err = store_stream_each_back(w->txn, w->scope->partner_id, w->customer_id, below,
                                         activity_customer_visit, w);
        }
        if (err == LEDGER_ERR_OK) {
            err = activity_principals_above(w, 0);
        }
        w->principals = NULL;
    } else {
        key_u8(&prefix, VIEWS_ACTIVITY_PARTNER);
        key_field(&prefix, w->scope->partner_id);
        err = activity_cursor_open(w->txn, &prefix, below, &c);
        while (err == LEDGER_ERR_OK && c.sequence != 0) {
            err = activity_examine(w, c.sequence, &c.value);
            if (err == LEDGER_ERR_OK) {
                err = activity_cursor_prev(&c);
            }
        }
    }
    activity_cursor_close(&c);
    return err == LEDGER_ERR_NOT_FOUND ? LEDGER_ERR_OK : err;
}

enum ledger_err views__query_activity(struct store_txn *txn, const struct views_scope *scope,
                                      const Ledger__V1__ActivityQuery *q, struct row_list *list,
                                      Ledger__V1__QueryResult *result,
                                      char message[VIEWS_MESSAGE_SIZE])
{
    const char *customer_id = NULL;
    enum ledger_err err =
        views__query_customer(txn, scope, q->customer_id, false, "activity", &customer_id, message);
    if (err == LEDGER_ERR_OK) {
        err = views__range_check(q->from_us, q->to_us, "from_us", "to_us", message);
    }
    if (err == LEDGER_ERR_OK) {
        err = views__range_check(q->business_from_us, q->business_to_us, "business_from_us",
                                 "business_to_us", message);
    }
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    const char *action = text(q->action);
    if (action[0] != '\0') {
        /* A name that is no action would match nothing: an empty page would
         * look like an answer. Case does not matter. */
        action = domain_action_lookup(q->action);
        if (action == NULL) {
            snprintf(message, VIEWS_MESSAGE_SIZE,
                     "action '%.64s' is not an activity action; use a name such as 'Purchase "
                     "Reservation' or 'Create Customer Purchase Permissions' (docs/events.md "
                     "lists them all)",
                     q->action);
            return LEDGER_ERR_INVALID_ARGUMENT;
        }
    }
    uint32_t limit = q->limit != 0 ? q->limit : LEDGER_ROWS_PAGE_DEFAULT;
    if (limit > LEDGER_ROWS_PAGE_MAX) {
        snprintf(message, VIEWS_MESSAGE_SIZE, "limit must be at most %d", LEDGER_ROWS_PAGE_MAX);
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    uint64_t below = 0;
    const char *token = text(q->page_token);
    /* A token is the sequence of a row returned, so never past the log's
     * end: a larger number was made up or belongs to another ledger. */
    if (token[0] != '\0' &&
        (!page_token_parse(token, &below) || below > store_last_sequence(txn))) {
        snprintf(message, VIEWS_MESSAGE_SIZE,
                 "page_token '%.24s' is no next_page_token this ledger returned: give the one "
                 "the last page printed, with the same filters, or none for the first page",
                 token);
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    struct activity_walk w = {
        .txn = txn,
        .scope = scope,
        .q = q,
        .customer_id = customer_id,
        .action = action,
        .limit = limit,
        .list = list,
    };
    err = activity_walk(&w, below);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    uint64_t next = w.more ? w.last_returned : w.exhausted ? w.last_examined : 0;
    if (next != 0) {
        char buffer[24];
        snprintf(buffer, sizeof buffer, "%" PRIu64, next);
        char *copy = strdup(buffer);
        if (copy == NULL) {
            return LEDGER_ERR_NO_MEMORY;
        }
        result->next_page_token = copy;
    }
    return LEDGER_ERR_OK;
}
