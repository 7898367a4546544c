/*
 * views.c: the projections of the event log (see views.h and docs/views.md).
 *
 * Owns the derived databases below: their key layouts, the rows stored in
 * them, how each event changes them (views_apply), how queries read them
 * (views_query), their digests and which event an entry comes from
 * (views_entry_origin, for the verifier). Does not own the log, the stream
 * index or any decision: a change that the log says happened is applied as
 * recorded.
 *
 * The module is eight files (views_internal.h says what each holds). This
 * one holds the key layouts below, applying an event (views_apply's
 * dispatch), the rows of partners, principals and permissions, rows in the
 * store (put, get, the logged event) and the views' layout version.
 *
 * Key layouts ("NUL" is one zero byte; ids never contain one, so a prefix
 * ending in NUL selects exactly one partner's or customer's keys; u64 and u16
 * are big-endian so keys sort in sequence order). Rows are protobuf messages
 * of proto/ledger.proto, stored as codec_pack bytes.
 *
 *   partner       partner_id -> the partner's name (raw UTF-8 bytes)
 *   principal     principal_id -> PrincipalRow
 *   reservation   partner NUL customer NUL reservation_id -> ReservationRow
 *   order         partner NUL customer NUL u64 sequence [u16 k] -> OrderRow
 *                 (k only for an exchange's k-th further replacement, k >= 1)
 *   savings_plan  partner NUL customer NUL savings_plan_id -> SavingsPlanRow
 *   permission    partner NUL customer NUL u8 kind NUL u64 sequence -> PermissionRow
 *                 (every change; the current switch of a kind is its last row,
 *                 and a kind without rows is off)
 *   activity      'P' partner NUL u64 sequence -> u8 flags || ActivityRow
 *                 flags bit 0 = partner-visible (domain_partner_visible). A
 *                 customer filter walks the customer's stream index (the
 *                 store's) and reads the 'P' entry of each of its sequences:
 *                 one row per event, no per-customer copy (views layout 3).
 *                 'S' subscription NUL partner NUL customer -> u64 sequence:
 *                 every SubscriptionPurchased, by the subscription's id
 *                 (views_subscription_holder; views layout 10). A log of
 *                 an earlier build may hold one id under several
 *                 customers of a partner: their rows are adjacent, and
 *                 views_subscription_duplicates reports them.
 *                 'O' partner NUL cloud_order_id NUL customer -> u64
 *                 sequence: every purchase (a purchase, a renewal, an
 *                 exchange's replacement) that named a cloud order id
 *                 (views_cloud_order_holder; views layout 11).
 *                 'C' partner NUL customer NUL u64 sequence -> u8 flags
 *                 lists the events of the customer that are in no stream:
 *                 the PrincipalAdded, PrincipalRevoked and
 *                 PrincipalSecretRotated of its customer users, whose 'P'
 *                 rows name the customer (views layout 10); the customer
 *                 filters of the activity and of the events feed merge
 *                 them into the stream's by sequence (the feed walks
 *                 them forward: views_customer_principal_next).
 *   billing       partner NUL first "YYYY-MM" NUL customer NUL u64 sequence NUL u16 n
 *                 -> BillingCharges: one purchase's charges (n = 0) or one refund
 *                 (n = 0 for a cancellation, the exchange's replacements'
 *                 instalment counts added up for an exchange), stored once with the
 *                 whole amounts, the instalment count and how many of them are
 *                 billed. A query for month M reads first months M-59..M of
 *                 the partner and expands each into M's row.
 *
 * Determinism: views_apply reads no clock and no randomness; every value it
 * writes comes from the event and from rows earlier events wrote, so applying
 * the same log to empty views gives byte-identical databases.
 */
#include "views.h"

#include <string.h>

#include "views_internal.h"

/* --- rows in the store ------------------------------------------------------------------ */

enum ledger_err views__put_message(struct store_txn *txn, enum store_db db, const struct key *k,
                                   const ProtobufCMessage *message)
{
    if (k->overflow) {
        return LEDGER_ERR_CORRUPT;
    }
    struct codec_packed packed;
    enum ledger_err err = codec_pack_scratch(message, NULL, 0, &packed);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    err = store_put(txn, db, k->bytes, k->size, packed.data, packed.size);
    codec_packed_free(&packed);
    return err;
}

/* The stored bytes of the row at key k (valid until the next write); NOT_FOUND
 * if absent, CORRUPT when k overflowed. */
static enum ledger_err row_bytes(struct store_txn *txn, enum store_db db, const struct key *k,
                                 struct store_val *out)
{
    if (k->overflow) {
        return LEDGER_ERR_CORRUPT;
    }
    return store_get(txn, db, k->bytes, k->size, out);
}

enum ledger_err views__patch_bytes(struct store_txn *txn, enum store_db db, const struct key *k,
                                   const struct store_val *row, const struct codec_field *fields,
                                   size_t count)
{
    if (k->overflow) {
        return LEDGER_ERR_CORRUPT;
    }
    /* The row is copied into `patched` before the put moves the map. */
    struct codec_packed patched;
    enum ledger_err err =
        codec_patch(row->data, row->size, fields, count, LEDGER_ERR_CORRUPT, &patched);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    err = store_put(txn, db, k->bytes, k->size, patched.data, patched.size);
    codec_packed_free(&patched);
    return err;
}

enum ledger_err views__patch_row(struct store_txn *txn, enum store_db db, const struct key *k,
                                 const struct codec_field *fields, size_t count)
{
    struct store_val value;
    enum ledger_err err = row_bytes(txn, db, k, &value);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    return views__patch_bytes(txn, db, k, &value, fields, count);
}

enum ledger_err views__row_varint(struct store_txn *txn, enum store_db db, const struct key *k,
                                  uint32_t number, uint64_t *out)
{
    struct store_val value;
    enum ledger_err err = row_bytes(txn, db, k, &value);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    return codec_varint_field(value.data, value.size, number, LEDGER_ERR_CORRUPT, out);
}

/* The row at key; NOT_FOUND if absent. Caller frees with codec_message_free. */
enum ledger_err views__get_message(struct store_txn *txn, enum store_db db, const struct key *k,
                                   const ProtobufCMessageDescriptor *descriptor,
                                   ProtobufCMessage **out)
{
    struct store_val value;
    enum ledger_err err = row_bytes(txn, db, k, &value);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    return unpack_row(descriptor, value.data, value.size, out);
}

/* The logged event of `sequence`, decoded (free with codec_event_free). A
 * sequence the views name but the log does not hold is CORRUPT. */
enum ledger_err views__logged_event(struct store_txn *txn, uint64_t sequence,
                                    Ledger__V1__Event **out)
{
    struct store_val record;
    enum ledger_err err = store_record(txn, sequence, &record);
    if (err != LEDGER_ERR_OK) {
        return err == LEDGER_ERR_NOT_FOUND ? LEDGER_ERR_CORRUPT : err;
    }
    return codec_event_unpack(record.data, record.size, out);
}

/* --- partners, principals, permissions ------------------------------------------------------ */

static enum ledger_err partner_registered(struct store_txn *txn, const Ledger__V1__Event *event)
{
    const char *partner_id = text(event->partner_id);
    const char *name = text(event->partner_registered->name);
    if (partner_id[0] == '\0') {
        return LEDGER_ERR_CORRUPT;
    }
    return store_put(txn, STORE_DB_PARTNER, partner_id, strlen(partner_id), name, strlen(name));
}

static enum ledger_err principal_added(struct store_txn *txn, const Ledger__V1__Event *event)
{
    const Ledger__V1__PrincipalAdded *a = event->principal_added;
    Ledger__V1__PrincipalRow row = LEDGER__V1__PRINCIPAL_ROW__INIT;
    row.principal_id = a->principal_id;
    row.role = a->role;
    row.partner_id = a->partner_id;
    row.customer_id = a->customer_id;
    row.user = a->user;
    row.sequence = event->sequence;
    row.last_sequence = event->sequence;
    struct key k = {0};
    key_last(&k, a->principal_id);
    if (k.size == 0) {
        return LEDGER_ERR_CORRUPT;
    }
    return views__put_message(txn, STORE_DB_PRINCIPAL, &k, &row.base);
}

/* A revocation, or a rotation of the secret (which the row shows by the
 * event's sequence and recorded time; the secret is not in the views). */
static enum ledger_err principal_changed(struct store_txn *txn, const Ledger__V1__Event *event,
                                         const char *principal_id, bool revoked)
{
    struct key k = {0};
    key_last(&k, principal_id);
    if (k.size == 0) {
        return LEDGER_ERR_CORRUPT;
    }
    ProtobufCMessage *message = NULL;
    enum ledger_err err = views__get_message(txn, STORE_DB_PRINCIPAL, &k,
                                             &ledger__v1__principal_row__descriptor, &message);
    if (err != LEDGER_ERR_OK) {
        return err == LEDGER_ERR_NOT_FOUND ? LEDGER_ERR_CORRUPT : err;
    }
    Ledger__V1__PrincipalRow *row = (Ledger__V1__PrincipalRow *)message;
    if (revoked) {
        row->revoked = true;
    } else {
        row->secret_rotated_sequence = event->sequence;
        row->secret_rotated_us = event->recorded_us;
    }
    row->last_sequence = event->sequence;
    err = views__put_message(txn, STORE_DB_PRINCIPAL, &k, &row->base);
    codec_message_free(message);
    return err;
}

static enum ledger_err permission_changed(struct store_txn *txn, const Ledger__V1__Event *event,
                                          int kind, bool enabled)
{
    if (!codec_permission_kind_valid(kind)) {
        return LEDGER_ERR_CORRUPT;
    }
    Ledger__V1__PermissionRow row = LEDGER__V1__PERMISSION_ROW__INIT;
    row.customer_id = event->customer_id;
    row.kind = (Ledger__V1__PermissionKind)kind;
    row.enabled = enabled;
    /* As the domain keeps it, so that "as of" answers agree with the view. */
    row.changed_us = domain_event_business_us(event);
    row.changed_by = event->actor;
    row.sequence = event->sequence;
    struct key k = {0};
    key_customer(&k, event->partner_id, event->customer_id);
    key_u8(&k, (uint8_t)kind);
    key_u8(&k, 0);
    key_u64(&k, event->sequence);
    return views__put_message(txn, STORE_DB_PERMISSION, &k, &row.base);
}

/* --- applying ----------------------------------------------------------------------------- */

/* Whether the oneof member the body case names is there (hand-built events
 * could lack it; stored ones decode with it). */
static bool body_present(const Ledger__V1__Event *e)
{
    switch (e->body_case) {
    case LEDGER__V1__EVENT__BODY_PARTNER_REGISTERED:
        return e->partner_registered != NULL;
    case LEDGER__V1__EVENT__BODY_PRINCIPAL_ADDED:
        return e->principal_added != NULL;
    case LEDGER__V1__EVENT__BODY_PRINCIPAL_REVOKED:
        return e->principal_revoked != NULL;
    case LEDGER__V1__EVENT__BODY_PRINCIPAL_SECRET_ROTATED:
        return e->principal_secret_rotated != NULL;
    case LEDGER__V1__EVENT__BODY_CUSTOMER_ONBOARDED:
        return e->customer_onboarded != NULL;
    case LEDGER__V1__EVENT__BODY_SUBSCRIPTION_PURCHASED:
        return e->subscription_purchased != NULL;
    case LEDGER__V1__EVENT__BODY_SUBSCRIPTION_STATUS_CHANGED:
        return e->subscription_status_changed != NULL;
    case LEDGER__V1__EVENT__BODY_ROLE_ASSIGNED:
        return e->role_assigned != NULL;
    case LEDGER__V1__EVENT__BODY_ROLE_REMOVED:
        return e->role_removed != NULL;
    case LEDGER__V1__EVENT__BODY_PURCHASE_PERMISSION_GRANTED:
        return e->purchase_permission_granted != NULL;
    case LEDGER__V1__EVENT__BODY_PURCHASE_PERMISSION_REVOKED:
        return e->purchase_permission_revoked != NULL;
    case LEDGER__V1__EVENT__BODY_RESERVATION_PURCHASED:
        return e->reservation_purchased != NULL;
    case LEDGER__V1__EVENT__BODY_RESERVATION_SCOPE_CHANGED:
        return e->reservation_scope_changed != NULL;
    case LEDGER__V1__EVENT__BODY_RESERVATION_RENEWAL_SET:
        return e->reservation_renewal_set != NULL;
    case LEDGER__V1__EVENT__BODY_RESERVATION_RENEWED:
        return e->reservation_renewed != NULL;
    case LEDGER__V1__EVENT__BODY_RESERVATION_EXCHANGED:
        return e->reservation_exchanged != NULL;
    case LEDGER__V1__EVENT__BODY_RESERVATION_CANCELLED:
        return e->reservation_cancelled != NULL;
    case LEDGER__V1__EVENT__BODY_RESERVATION_EXPIRED:
        return e->reservation_expired != NULL;
    case LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_PURCHASED:
        return e->savings_plan_purchased != NULL;
    case LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_SCOPE_CHANGED:
        return e->savings_plan_scope_changed != NULL;
    case LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_RENEWAL_SET:
        return e->savings_plan_renewal_set != NULL;
    case LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_RENEWED:
        return e->savings_plan_renewed != NULL;
    case LEDGER__V1__EVENT__BODY_COST_VISIBILITY_SET:
        return e->cost_visibility_set != NULL;
    default:
        return false;
    }
}

/* Whether the event's views are per customer (and so need its id). */
static bool body_per_customer(Ledger__V1__Event__BodyCase body_case)
{
    switch (body_case) {
    case LEDGER__V1__EVENT__BODY_PURCHASE_PERMISSION_GRANTED:
    case LEDGER__V1__EVENT__BODY_PURCHASE_PERMISSION_REVOKED:
    case LEDGER__V1__EVENT__BODY_RESERVATION_PURCHASED:
    case LEDGER__V1__EVENT__BODY_RESERVATION_SCOPE_CHANGED:
    case LEDGER__V1__EVENT__BODY_RESERVATION_RENEWAL_SET:
    case LEDGER__V1__EVENT__BODY_RESERVATION_RENEWED:
    case LEDGER__V1__EVENT__BODY_RESERVATION_EXCHANGED:
    case LEDGER__V1__EVENT__BODY_RESERVATION_CANCELLED:
    case LEDGER__V1__EVENT__BODY_RESERVATION_EXPIRED:
    case LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_PURCHASED:
    case LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_SCOPE_CHANGED:
    case LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_RENEWAL_SET:
    case LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_RENEWED:
        return true;
    default:
        return false;
    }
}

static enum ledger_err apply_body(struct store_txn *txn, const Ledger__V1__Event *e)
{
    bool flag;
    struct reservation_change change = {0};
    switch (e->body_case) {
    case LEDGER__V1__EVENT__BODY_PARTNER_REGISTERED:
        return partner_registered(txn, e);
    case LEDGER__V1__EVENT__BODY_PRINCIPAL_ADDED:
        return principal_added(txn, e);
    case LEDGER__V1__EVENT__BODY_PRINCIPAL_REVOKED:
        return principal_changed(txn, e, e->principal_revoked->principal_id, true);
    case LEDGER__V1__EVENT__BODY_PRINCIPAL_SECRET_ROTATED:
        return principal_changed(txn, e, e->principal_secret_rotated->principal_id, false);
    case LEDGER__V1__EVENT__BODY_SUBSCRIPTION_PURCHASED:
        return views__subscription_purchased(txn, e);
    case LEDGER__V1__EVENT__BODY_PURCHASE_PERMISSION_GRANTED:
        return permission_changed(txn, e, e->purchase_permission_granted->kind, true);
    case LEDGER__V1__EVENT__BODY_PURCHASE_PERMISSION_REVOKED:
        return permission_changed(txn, e, e->purchase_permission_revoked->kind, false);
    case LEDGER__V1__EVENT__BODY_RESERVATION_PURCHASED: {
        uint16_t rows = 0;
        return views__reservation_add(txn, e, e->reservation_purchased, "purchase", 0, 0, &rows);
    }
    case LEDGER__V1__EVENT__BODY_RESERVATION_SCOPE_CHANGED:
        change.reservation_id = e->reservation_scope_changed->reservation_id;
        change.scope = e->reservation_scope_changed->to_scope;
        if (change.scope == NULL) {
            return LEDGER_ERR_CORRUPT;
        }
        return views__reservation_change(txn, e, &change);
    case LEDGER__V1__EVENT__BODY_RESERVATION_RENEWAL_SET:
        flag = e->reservation_renewal_set->auto_renew;
        change.reservation_id = e->reservation_renewal_set->reservation_id;
        change.auto_renew = &flag;
        return views__reservation_change(txn, e, &change);
    case LEDGER__V1__EVENT__BODY_RESERVATION_RENEWED:
        return views__reservation_renewed(txn, e);
    case LEDGER__V1__EVENT__BODY_RESERVATION_EXCHANGED:
        return views__reservation_exchanged(txn, e);
    case LEDGER__V1__EVENT__BODY_RESERVATION_CANCELLED:
        return views__reservation_cancelled(txn, e);
    case LEDGER__V1__EVENT__BODY_RESERVATION_EXPIRED:
        change.reservation_id = e->reservation_expired->reservation_id;
        change.state = LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_EXPIRED;
        return views__reservation_change(txn, e, &change);
    case LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_PURCHASED:
        return views__savings_plan_add(txn, e, e->savings_plan_purchased);
    case LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_SCOPE_CHANGED:
        if (e->savings_plan_scope_changed->to_scope == NULL) {
            return LEDGER_ERR_CORRUPT;
        }
        return views__savings_plan_change(txn, e, e->savings_plan_scope_changed->savings_plan_id,
                                          e->savings_plan_scope_changed->to_scope, NULL, false);
    case LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_RENEWAL_SET:
        flag = e->savings_plan_renewal_set->auto_renew;
        return views__savings_plan_change(txn, e, e->savings_plan_renewal_set->savings_plan_id,
                                          NULL, &flag, false);
    case LEDGER__V1__EVENT__BODY_SAVINGS_PLAN_RENEWED:
        return views__savings_plan_renewed(txn, e);
    default:
        /* Customers, subscription status changes, roles and cost visibility
         * only reach the activity log (their current state lives in the
         * customer aggregate). */
        return LEDGER_ERR_OK;
    }
}

enum ledger_err views_apply(struct store_txn *txn, const Ledger__V1__Event *event)
{
    if (txn == NULL || event == NULL) {
        return LEDGER_ERR_INTERNAL;
    }
    if (event->sequence == 0 || !body_present(event)) {
        return LEDGER_ERR_CORRUPT;
    }
    if (body_per_customer(event->body_case) &&
        (text(event->partner_id)[0] == '\0' || text(event->customer_id)[0] == '\0')) {
        return LEDGER_ERR_CORRUPT;
    }
    enum ledger_err err = apply_body(txn, event);
    if (err == LEDGER_ERR_OK) {
        err = views__activity_add(txn, event);
    }
    return err;
}

enum ledger_err views_partner_exists(struct store_txn *txn, const char *partner_id,
                                     bool *exists_out)
{
    if (txn == NULL || exists_out == NULL) {
        return LEDGER_ERR_INTERNAL;
    }
    if (!codec_id_valid(text(partner_id))) {
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    struct store_val value;
    enum ledger_err err = store_get(txn, STORE_DB_PARTNER, partner_id, strlen(partner_id), &value);
    if (err == LEDGER_ERR_OK || err == LEDGER_ERR_NOT_FOUND) {
        *exists_out = err == LEDGER_ERR_OK;
        return LEDGER_ERR_OK;
    }
    return err;
}

/* --- layout ------------------------------------------------------------------------------- */

static const char views_layout_key[] = "views";

enum ledger_err views_layout(struct store_txn *txn, uint64_t *out)
{
    struct store_val value;
    enum ledger_err err =
        store_get(txn, STORE_DB_META, views_layout_key, sizeof views_layout_key - 1, &value);
    if (err == LEDGER_ERR_NOT_FOUND) {
        *out = VIEWS_LAYOUT_UNRECORDED;
        return LEDGER_ERR_OK;
    }
    if (err == LEDGER_ERR_OK) {
        if (value.size != 8) {
            return LEDGER_ERR_CORRUPT;
        }
        *out = store_key_to_u64(value.data);
    }
    return err;
}

static enum ledger_err layout_put(struct store_txn *txn, uint64_t layout)
{
    uint8_t value[8];
    store_u64_to_key(layout, value);
    return store_put(txn, STORE_DB_META, views_layout_key, sizeof views_layout_key - 1, value,
                     sizeof value);
}

enum ledger_err views_layout_set(struct store_txn *txn)
{
    return layout_put(txn, VIEWS_LAYOUT_VERSION);
}

enum ledger_err views_layout_mark_rebuilding(struct store_txn *txn)
{
    return layout_put(txn, VIEWS_LAYOUT_REBUILDING);
}
