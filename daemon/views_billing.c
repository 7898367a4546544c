/*
 * views_billing.c: the billing entries (STORE_DB_BILLING; their key layout is
 * in views.c): a purchase's charges, stored once with the whole amounts and
 * the instalments billed, cut when a reservation ends, and refunds; the
 * expansion of the entries into one month's rows, and the billing query
 * with its pages.
 *
 * Billing semantics (what the partner pays, per customer and UTC month):
 * - A purchase is charged from the UTC month of its event's business time
 *   (the recorded time when the event has none). Upfront: the whole partner
 *   price and retail price in that month. Monthly: price / months in each of
 *   the term's 12, 36 or 60 months from that month, the division's remainder
 *   added to the last month, so that the rows add up to the price exactly;
 *   partner and retail amounts are split the same way, independently.
 * - charge is "reservation" or "savings-plan". Savings plans that customers
 *   bought themselves are charged too: the partner pays for them, so billing
 *   has no partner-facing filter.
 * - A renewal charges the renewal like a purchase, from the month its term
 *   starts: the old reservation's expiry (the renewal's starts_us), not the
 *   month the ReservationRenewed event was recorded (views layout 4).
 * - A cancellation writes one "refund" row in the cancellation month with the
 *   partner amount = -refund. The log records refunds in the partner's price
 *   only, so its retail amount is 0 (in the reservation's retail currency).
 *   A monthly-billed reservation is not billed after it ends: its purchase's
 *   billed months are cut back to end with the cancellation month (whose
 *   charge stays).
 * - An exchange is a cancellation of each returned reservation (future
 *   monthly charges ended as above) with one "refund" row for the whole
 *   exchange refund (charge_id = the returned ids joined by ',', order_id =
 *   the first replacement's order), plus each replacement's charges as a
 *   purchase. Row numbers (the order of one event's rows in a month): the
 *   charge of the item an event buys in its i-th month is n = i (n = 0 for
 *   upfront); an exchange's k-th replacement's start after the instalments
 *   of the ones before it, and its refund row follows them all.
 * - A savings plan renewal charges its new plan like a purchase, from the
 *   month its term starts (the renewed plan's expiry), upfront or monthly as
 *   the plan is billed; the partner pays for it whoever bought the plan.
 * - Expiries, scope and renewal-flag changes do not change billing.
 */
#include "views.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "civil.h"
#include "views_internal.h"

/* "YYYY-MM" plus its NUL. */
#define VIEWS_MONTH_SIZE 8
/* The longest term (P5Y): a charge is billed at most this many months. */
#define VIEWS_TERM_MONTHS_MAX 60
/* An exchange's billing entries are numbered by the instalments of the
 * replacements before them, in a u16 (the key's n). */
_Static_assert(LEDGER_EXCHANGE_REPLACEMENTS_MAX *VIEWS_TERM_MONTHS_MAX + 1 <= UINT16_MAX,
               "an exchange's billing entries fit the key's u16");
/* Years a "YYYY-MM" month can name. */
#define VIEWS_YEAR_MAX 9999

/* --- time ------------------------------------------------------------------------------- */

/* The UTC month of a time as a month index year * 12 + (month - 1). CORRUPT
 * for years outside 0..9999. */
static enum ledger_err month_index(int64_t time_us, int64_t *out)
{
    struct civil_date date = civil_date_from_us(time_us);
    if (date.year < 0 || date.year > VIEWS_YEAR_MAX) {
        return LEDGER_ERR_CORRUPT;
    }
    *out = date.year * 12 + (date.month - 1);
    return LEDGER_ERR_OK;
}

static void month_text(int64_t index, char out[VIEWS_MONTH_SIZE])
{
    /* index is within 0..VIEWS_YEAR_MAX * 12 + 11 (month_index checks it). */
    int year = (int)(index / 12), month = (int)(index % 12) + 1;
    out[0] = (char)('0' + year / 1000);
    out[1] = (char)('0' + year / 100 % 10);
    out[2] = (char)('0' + year / 10 % 10);
    out[3] = (char)('0' + year % 10);
    out[4] = '-';
    out[5] = (char)('0' + month / 10);
    out[6] = (char)('0' + month % 10);
    out[7] = '\0';
}

/* Whether s is "YYYY-MM" with a month 01..12. */
static bool month_valid(const char *s)
{
    if (strlen(s) != 7 || s[4] != '-') {
        return false;
    }
    for (int i = 0; i < 7; i++) {
        if (i != 4 && (s[i] < '0' || s[i] > '9')) {
            return false;
        }
    }
    int month = (s[5] - '0') * 10 + (s[6] - '0');
    return month >= 1 && month <= 12;
}

/* --- the billing entries ------------------------------------------------------------------- */

/* partner NUL month NUL customer NUL u64 sequence NUL: the prefix of one
 * event's entries first billed in `month`. */
static void billing_key_event(struct key *k, const char *partner_id, int64_t month,
                              const char *customer_id, uint64_t sequence)
{
    char month_buffer[VIEWS_MONTH_SIZE];
    month_text(month, month_buffer);
    key_field(k, partner_id);
    key_field(k, month_buffer);
    key_field(k, customer_id);
    key_u64(k, sequence);
    key_u8(k, 0);
}

static void billing_key(struct key *k, const char *partner_id, int64_t month,
                        const char *customer_id, uint64_t sequence, uint16_t n)
{
    billing_key_event(k, partner_id, month, customer_id, sequence);
    key_u16(k, n);
}

/* The month a purchase's charges begin: its term's start (for a renewal, the
 * old reservation's expiry, whenever the renewal was recorded). */
static enum ledger_err billing_first_month(int64_t starts_us, const Ledger__V1__Event *purchase,
                                           int64_t *out)
{
    return month_index(starts_us > 0 ? starts_us : domain_event_business_us(purchase), out);
}

/* Stores one event's charges (or refund) `row` from `month` on, in `months`
 * instalments, as entry n of the event's billing entries. */
static enum ledger_err billing_put(struct store_txn *txn, const Ledger__V1__Event *event,
                                   int64_t month, uint16_t n, Ledger__V1__BillingRow *row,
                                   int months)
{
    char month_buffer[VIEWS_MONTH_SIZE];
    month_text(month, month_buffer);
    row->month = month_buffer;
    row->customer_id = event->customer_id;
    row->sequence = event->sequence;
    Ledger__V1__BillingCharges charges = LEDGER__V1__BILLING_CHARGES__INIT;
    charges.first = row;
    charges.months = (uint32_t)months;
    charges.billed_months = (uint32_t)months;
    struct key k = {0};
    billing_key(&k, event->partner_id, month, event->customer_id, event->sequence, n);
    enum ledger_err err = views__put_message(txn, STORE_DB_BILLING, &k, &charges.base);
    row->month = NULL; /* month_buffer ends with this call */
    return err;
}

/* Writes the charges of one purchase as entry n (0 but for an exchange's
 * further replacements) and sets *rows_out to how many monthly rows they make
 * (1 when paid upfront). */
enum ledger_err views__billing_charge(struct store_txn *txn, const struct charge *c, uint16_t n,
                                      uint16_t *rows_out)
{
    int months = domain_term_months(c->term);
    if (months == 0 || c->price == NULL) {
        return LEDGER_ERR_CORRUPT;
    }
    int64_t first = 0;
    enum ledger_err err = billing_first_month(c->starts_us, c->event, &first);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    bool monthly = c->billing_plan == LEDGER__V1__BILLING_PLAN__BILLING_PLAN_MONTHLY;
    if (!monthly && c->billing_plan != LEDGER__V1__BILLING_PLAN__BILLING_PLAN_UPFRONT) {
        return LEDGER_ERR_CORRUPT;
    }
    int rows = monthly ? months : 1;
    Ledger__V1__Money partner_amount = LEDGER__V1__MONEY__INIT;
    partner_amount.currency = c->price->currency;
    partner_amount.amount_minor = c->price->amount_minor;
    Ledger__V1__Money retail_amount = LEDGER__V1__MONEY__INIT;
    Ledger__V1__BillingRow row = LEDGER__V1__BILLING_ROW__INIT;
    if (c->retail_price != NULL) {
        retail_amount.currency = c->retail_price->currency;
        retail_amount.amount_minor = c->retail_price->amount_minor;
        row.retail_amount = &retail_amount;
    }
    row.charge_id = (char *)text(c->charge_id);
    row.order_id = (char *)text(c->order_id);
    row.cloud_order_id = (char *)text(c->cloud_order_id);
    row.charge = c->charge;
    row.purchaser = c->purchaser;
    row.bought_by = c->event->actor;
    row.partner_amount = &partner_amount;
    err = billing_put(txn, c->event, first, n, &row, rows);
    if (err == LEDGER_ERR_OK) {
        *rows_out = (uint16_t)rows;
    }
    return err;
}

/* The charges entry of a reservation (bought by the event at
 * reservation->sequence, first billed in `first`) and its key: the entry of
 * that event and month whose charge is the reservation. Entry 0 for a
 * purchase or renewal; an exchange has one per replacement (and its refund),
 * at most LEDGER_EXCHANGE_REPLACEMENTS_MAX + 1 to look through, and its
 * stored bytes (until the next write). NOT_FOUND when there is none. Caller
 * frees *out with codec_message_free. */
static enum ledger_err billing_find(struct store_txn *txn, const char *partner_id, int64_t first,
                                    const char *customer_id,
                                    const Ledger__V1__ReservationRow *reservation,
                                    struct key *key_out, struct store_val *value_out,
                                    Ledger__V1__BillingCharges **out)
{
    struct key prefix = {0};
    billing_key_event(&prefix, partner_id, first, customer_id, reservation->sequence);
    if (prefix.overflow) {
        return LEDGER_ERR_CORRUPT;
    }
    struct store_cursor *cursor = NULL;
    enum ledger_err err = store_cursor_open(txn, STORE_DB_BILLING, &cursor);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    struct store_val key, value;
    err = store_cursor_seek(cursor, prefix.bytes, prefix.size, &key, &value);
    while (err == LEDGER_ERR_OK) {
        if (!key_has_prefix(&key, &prefix) || key.size > sizeof key_out->bytes) {
            err = LEDGER_ERR_NOT_FOUND;
            break;
        }
        Ledger__V1__BillingCharges *charges = NULL;
        err = unpack_row(&ledger__v1__billing_charges__descriptor, value.data, value.size,
                         (ProtobufCMessage **)&charges);
        if (err != LEDGER_ERR_OK) {
            break;
        }
        if (charges->first != NULL &&
            strcmp(text(charges->first->charge_id), text(reservation->reservation_id)) == 0 &&
            strcmp(text(charges->first->charge), "reservation") == 0) {
            memcpy(key_out->bytes, key.data, key.size);
            key_out->size = key.size;
            *value_out = value;
            *out = charges;
            break;
        }
        codec_message_free(&charges->base);
        err = store_cursor_next(cursor, &key, &value);
    }
    store_cursor_close(cursor);
    return err;
}

/* Ends the monthly charges of a reservation's purchase (the event at
 * reservation->sequence, billed from the month of reservation->starts_us)
 * with `event`'s month: the months after it are no longer billed; before
 * the term started, none is. */
enum ledger_err views__billing_stop(struct store_txn *txn, const Ledger__V1__Event *event,
                                    const Ledger__V1__ReservationRow *reservation)
{
    /* Ended before its term started (a renewal cancelled early): nothing of
     * it is billed, upfront or monthly. Otherwise only monthly charges stop. */
    bool unstarted =
        reservation->starts_us > 0 && domain_event_business_us(event) < reservation->starts_us;
    bool monthly = reservation->billing_plan == LEDGER__V1__BILLING_PLAN__BILLING_PLAN_MONTHLY;
    if (!monthly && !unstarted) {
        return LEDGER_ERR_OK;
    }
    int64_t first = 0, now = 0;
    enum ledger_err err = LEDGER_ERR_OK;
    if (reservation->starts_us > 0) {
        err = month_index(reservation->starts_us, &first);
    } else {
        /* A row without a start: the purchase event's own time. */
        Ledger__V1__Event *purchase = NULL;
        err = views__logged_event(txn, reservation->sequence, &purchase);
        if (err == LEDGER_ERR_OK) {
            err = billing_first_month(0, purchase, &first);
            codec_event_free(purchase);
        }
    }
    if (err == LEDGER_ERR_OK) {
        err = month_index(domain_event_business_us(event), &now);
    }
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    struct key k = {0};
    struct store_val value;
    Ledger__V1__BillingCharges *charges = NULL;
    err = billing_find(txn, event->partner_id, first, event->customer_id, reservation, &k, &value,
                       &charges);
    if (err == LEDGER_ERR_NOT_FOUND) {
        return LEDGER_ERR_OK;
    }
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    /* Months first..now stay billed, as far as the term goes. */
    int64_t billed = unstarted ? 0 : now - first + 1;
    if (billed < 0) {
        billed = 0;
    }
    if (billed < (int64_t)charges->billed_months) {
        /* Two fields change: set in the stored bytes, not packed again. */
        const struct codec_field fields[] = {
            {.number = VIEWS_BILLING_CHARGES_BILLED_MONTHS, .varint = (uint64_t)billed},
            {.number = VIEWS_BILLING_CHARGES_STOPPED_SEQUENCE, .varint = event->sequence},
        };
        err = views__patch_bytes(txn, STORE_DB_BILLING, &k, &value, fields, 2);
    }
    codec_message_free(&charges->base);
    return err;
}

/* A negative "refund" row in the event's month. */
enum ledger_err views__billing_refund(struct store_txn *txn, const Ledger__V1__Event *event,
                                      const Ledger__V1__Money *refund, const char *charge_id,
                                      const char *order_id, const char *cloud_order_id,
                                      const Ledger__V1__ReservationRow *reservation, uint16_t n)
{
    if (refund == NULL || refund->amount_minor == 0) {
        return LEDGER_ERR_OK;
    }
    int64_t month = 0;
    enum ledger_err err = month_index(domain_event_business_us(event), &month);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    Ledger__V1__Money partner_amount = LEDGER__V1__MONEY__INIT;
    partner_amount.amount_minor = -refund->amount_minor;
    partner_amount.currency = refund->currency;
    Ledger__V1__Money retail_amount = LEDGER__V1__MONEY__INIT;
    retail_amount.currency =
        reservation->retail_price != NULL ? reservation->retail_price->currency : refund->currency;
    Ledger__V1__BillingRow row = LEDGER__V1__BILLING_ROW__INIT;
    row.charge_id = (char *)text(charge_id);
    row.order_id = (char *)text(order_id);
    row.cloud_order_id = (char *)text(cloud_order_id);
    row.charge = "refund";
    row.purchaser = reservation->purchaser;
    row.bought_by = event->actor;
    row.partner_amount = &partner_amount;
    row.retail_amount = &retail_amount;
    return billing_put(txn, event, month, n, &row, 1);
}

/* --- the billing query ------------------------------------------------------------------------ */

/* The month index of a valid "YYYY-MM" (month_valid). */
static int64_t month_parse(const char *s)
{
    int64_t year = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    return year * 12 + (s[5] - '0') * 10 + (s[6] - '0') - 1;
}

/* Instalment i (0-based) of `months`: total / months, the last one taking
 * the division's remainder, so that the instalments add up to the total. */
static int64_t instalment(int64_t total, uint32_t months, int64_t i)
{
    int64_t each = total / months;
    return i == (int64_t)months - 1 ? total - each * ((int64_t)months - 1) : each;
}

/* Billing rows of one month come in the order of the monthly rows' keys
 * before charges were stored once per purchase: customer, sequence, n. */
static int billing_row_compare(const void *a, const void *b)
{
    const struct row_entry *x = a, *y = b;
    const Ledger__V1__BillingRow *p = (const Ledger__V1__BillingRow *)x->row;
    const Ledger__V1__BillingRow *q = (const Ledger__V1__BillingRow *)y->row;
    int c = strcmp(text(p->customer_id), text(q->customer_id));
    if (c != 0) {
        return c;
    }
    if (p->sequence != q->sequence) {
        return p->sequence < q->sequence ? -1 : 1;
    }
    return x->order < y->order ? -1 : x->order > y->order;
}

/* The month's row of one stored BillingCharges (key: partner NUL first month
 * NUL customer NUL u64 sequence NUL u16 n), pushed with order n + instalment;
 * nothing when the month is outside the billed months. */
/* Adds the row `month` holds of one entry's charges, as the first
 * `tree_size` events left them (0: all): an entry of a later event is not
 * there yet, and a cut made by a later event not made yet. */
static enum ledger_err billing_expand(struct row_list *list, const struct store_val *key,
                                      const struct store_val *value, int64_t first, int64_t month,
                                      const char *month_text_value, uint64_t tree_size)
{
    Ledger__V1__BillingCharges *charges = NULL;
    enum ledger_err err = unpack_row(&ledger__v1__billing_charges__descriptor, value->data,
                                     value->size, (ProtobufCMessage **)&charges);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    int64_t i = month - first;
    Ledger__V1__BillingRow *row = charges->first;
    uint32_t billed = charges->billed_months;
    if (tree_size != 0 && charges->stopped_sequence > tree_size) {
        billed = charges->months;
    }
    if (row == NULL || row->partner_amount == NULL || charges->months == 0 ||
        charges->billed_months > charges->months || key->size < 2) {
        err = LEDGER_ERR_CORRUPT;
    } else if (tree_size != 0 && row->sequence > tree_size) {
        /* Billed by an event after the tree: not there yet. */
    } else if (i >= 0 && i < (int64_t)billed) {
        char *month_copy = strdup(month_text_value);
        if (month_copy == NULL) {
            err = LEDGER_ERR_NO_MEMORY;
        } else {
            free(row->month);
            row->month = month_copy;
            row->partner_amount->amount_minor =
                instalment(row->partner_amount->amount_minor, charges->months, i);
            if (row->retail_amount != NULL) {
                row->retail_amount->amount_minor =
                    instalment(row->retail_amount->amount_minor, charges->months, i);
            }
            uint64_t n = ((uint64_t)key->data[key->size - 2] << 8) | key->data[key->size - 1];
            charges->first = NULL;
            err = views__row_list_push(list, &row->base, n + (uint64_t)i);
        }
    }
    codec_message_free(&charges->base);
    return err;
}

/* Where a page of billing rows ended, as its next_page_token says it:
 * "T.S.N.C", the tree size every page of the query reads (T) and the last
 * row returned, by its sequence (S), its order among that event's rows (N)
 * and its customer (C, last: an id may hold dots). */
struct billing_mark {
    uint64_t tree_size, sequence, order;
    char customer[LEDGER_ID_LENGTH_MAX + 1];
};

static bool billing_mark_parse(const char *token, struct billing_mark *mark)
{
    uint64_t numbers[3];
    const char *at = token;
    for (size_t i = 0; i < 3; i++) {
        uint64_t value = 0;
        size_t digits = 0;
        for (; at[digits] >= '0' && at[digits] <= '9'; digits++) {
            unsigned digit = (unsigned)(at[digits] - '0');
            if (digits == 20 || value > (UINT64_MAX - digit) / 10) {
                return false;
            }
            value = value * 10 + digit;
        }
        if (digits == 0 || at[digits] != '.') {
            return false;
        }
        numbers[i] = value;
        at += digits + 1;
    }
    if (!codec_id_valid(at)) {
        return false;
    }
    mark->tree_size = numbers[0];
    mark->sequence = numbers[1];
    mark->order = numbers[2];
    snprintf(mark->customer, sizeof mark->customer, "%s", at);
    return true;
}

/* Where a billing row sorts against a mark (billing_row_compare's order). */
static int billing_mark_compare(const struct row_entry *entry, const struct billing_mark *mark)
{
    const Ledger__V1__BillingRow *row = (const Ledger__V1__BillingRow *)entry->row;
    int c = strcmp(text(row->customer_id), mark->customer);
    if (c != 0) {
        return c;
    }
    if (row->sequence != mark->sequence) {
        return row->sequence < mark->sequence ? -1 : 1;
    }
    return entry->order < mark->order ? -1 : entry->order > mark->order;
}

/* Sorts the list by billing_row_compare and frees every row past `keep`. */
static void billing_rows_keep(struct row_list *list, size_t keep)
{
    if (list->count > 1) {
        qsort(list->entries, list->count, sizeof *list->entries, billing_row_compare);
    }
    while (list->count > keep) {
        codec_message_free(list->entries[--list->count].row);
    }
}

static const char billing_token_refused[] =
    "page_token must be a next_page_token a billing query returned, asked again with its month, "
    "customer_id, limit and tree_size";

/* One month of billing: the stored charges whose first month is within the
 * longest term (LEDGER's 60 months) before it, expanded into that month.
 * With a limit, one page of them: the rows after the page token's mark,
 * at most `limit`, kept sorted as they are found (at most 2 * limit + 2 in
 * memory), every page of the tree the first one read. */
enum ledger_err views__query_billing(struct store_txn *txn, const struct views_scope *scope,
                                     const Ledger__V1__BillingQuery *q, struct row_list *list,
                                     Ledger__V1__QueryResult *result,
                                     char message[VIEWS_MESSAGE_SIZE])
{
    const char *month = text(q->month);
    if (!month_valid(month)) {
        snprintf(message, VIEWS_MESSAGE_SIZE, "month must be YYYY-MM (e.g. 2025-01)");
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    const char *customer_id = NULL;
    enum ledger_err err =
        views__query_customer(txn, scope, q->customer_id, false, "billing", &customer_id, message);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    if (q->tree_size > store_last_sequence(txn)) {
        /* Without the log's size: not every role may read the head. */
        snprintf(message, VIEWS_MESSAGE_SIZE,
                 "tree_size %llu is past the log: give the tree size of a signed head",
                 (unsigned long long)q->tree_size);
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    if (q->limit > LEDGER_ROWS_PAGE_MAX) {
        snprintf(message, VIEWS_MESSAGE_SIZE,
                 "limit must be at most %d (0: every row in one reply)", LEDGER_ROWS_PAGE_MAX);
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    bool paged = q->limit != 0, after = false, mark_found = false;
    uint64_t tree_size = q->tree_size;
    struct billing_mark mark;
    const char *token = text(q->page_token);
    if (token[0] != '\0') {
        if (!paged || !billing_mark_parse(token, &mark) ||
            mark.tree_size > store_last_sequence(txn) ||
            (q->tree_size != 0 && q->tree_size != mark.tree_size)) {
            snprintf(message, VIEWS_MESSAGE_SIZE, "%s", billing_token_refused);
            return LEDGER_ERR_INVALID_ARGUMENT;
        }
        tree_size = mark.tree_size;
        after = true;
    } else if (paged && tree_size == 0) {
        /* Every page reads the tree the first one did: rows committed while a
         * consumer pages do not shift the pages. */
        tree_size = store_last_sequence(txn);
    }
    uint64_t total = 0;
    int64_t wanted = month_parse(month);
    int64_t earliest = wanted - (VIEWS_TERM_MONTHS_MAX - 1);
    if (earliest < 0) {
        earliest = 0;
    }
    struct key partner = {0};
    key_field(&partner, scope->partner_id);
    struct key start = partner;
    char earliest_text[VIEWS_MONTH_SIZE];
    month_text(earliest, earliest_text);
    key_field(&start, earliest_text);
    if (start.overflow) {
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    size_t customer_size = strlen(customer_id) + 1;
    struct store_cursor *cursor = NULL;
    err = store_cursor_open(txn, STORE_DB_BILLING, &cursor);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    struct store_val key, value;
    err = store_cursor_seek(cursor, start.bytes, start.size, &key, &value);
    while (err == LEDGER_ERR_OK && key_has_prefix(&key, &partner)) {
        /* partner NUL "YYYY-MM" NUL customer NUL ...: at least the month and
         * a customer of one byte. Another customer's id may be shorter than
         * the one asked for: its key is shorter, not damaged. */
        const char *at = (const char *)key.data + partner.size;
        size_t rest = key.size - partner.size;
        if (rest < VIEWS_MONTH_SIZE + 2 || at[VIEWS_MONTH_SIZE - 1] != '\0' || !month_valid(at)) {
            err = LEDGER_ERR_CORRUPT;
            break;
        }
        int64_t first = month_parse(at);
        if (first > wanted) {
            break;
        }
        const char *customer = at + VIEWS_MONTH_SIZE;
        if (customer_id[0] == '\0' || (rest - VIEWS_MONTH_SIZE >= customer_size &&
                                       memcmp(customer, customer_id, customer_size) == 0)) {
            size_t before = list->count;
            err = billing_expand(list, &key, &value, first, wanted, month, tree_size);
            if (err == LEDGER_ERR_OK && list->count > before) {
                total++;
                int placed =
                    after ? billing_mark_compare(&list->entries[list->count - 1], &mark) : 1;
                mark_found = mark_found || placed == 0;
                if (placed <= 0) {
                    codec_message_free(list->entries[--list->count].row); /* an earlier page's */
                } else if (paged && list->count >= 2 * (size_t)q->limit + 2) {
                    billing_rows_keep(list, (size_t)q->limit + 1);
                }
            }
        }
        if (err == LEDGER_ERR_OK) {
            err = store_cursor_next(cursor, &key, &value);
        }
    }
    store_cursor_close(cursor);
    if (err == LEDGER_ERR_NOT_FOUND) {
        err = LEDGER_ERR_OK;
    }
    if (err == LEDGER_ERR_TOO_LARGE) {
        /* Only an answer in one reply holds that many (a page keeps at most
         * 2 * limit + 2 rows): pages always hold the month, however large. */
        snprintf(message, VIEWS_MESSAGE_SIZE,
                 "the month has more than %d rows, too many for one reply: page them with a "
                 "limit (1..%d)%s",
                 LEDGER_VIEW_ROWS_MAX, LEDGER_ROWS_PAGE_MAX,
                 customer_id[0] == '\0' ? ", or ask for one customer_id" : "");
    }
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    if (after && !mark_found) {
        /* The token's row is not a row of this query at the token's tree: a
         * token of another month or customer, or made up. Going on from
         * where it would sort would skip rows, or end the pages early,
         * without a word. */
        snprintf(message, VIEWS_MESSAGE_SIZE, "%s", billing_token_refused);
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    billing_rows_keep(list, paged ? (size_t)q->limit + 1 : list->count);
    if (paged && list->count > q->limit) {
        billing_rows_keep(list, q->limit);
        const struct row_entry *last = &list->entries[list->count - 1];
        char buffer[3 * 21 + LEDGER_ID_LENGTH_MAX + 1];
        snprintf(buffer, sizeof buffer, "%" PRIu64 ".%" PRIu64 ".%" PRIu64 ".%s", tree_size,
                 ((const Ledger__V1__BillingRow *)last->row)->sequence, last->order,
                 text(((const Ledger__V1__BillingRow *)last->row)->customer_id));
        result->next_page_token = strdup(buffer);
        if (result->next_page_token == NULL) {
            result->next_page_token = (char *)protobuf_c_empty_string;
            return LEDGER_ERR_NO_MEMORY;
        }
    }
    result->total_rows = total;
    /* Which late events the rows hold: tree_size 0 read everything this
     * transaction sees. */
    result->tree_size = tree_size != 0 ? tree_size : store_last_sequence(txn);
    return LEDGER_ERR_OK;
}
