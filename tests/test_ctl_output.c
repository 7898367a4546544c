/*
 * test_ctl_output.c: how ledgerctl prints (JSON, tables, CSV, errors) and
 * spells enums.
 * Goal: the generic message -> JSON conversion gives the documented field
 * names and value forms (enums by CLI name, money as amount/amount_minor/
 * currency, *_us times with their ISO twin, bytes as hex, the chosen oneof
 * member only) and never prints a secret; CSV quotes by RFC 4180; tables
 * align and show control characters as '?'; a write's results, and events
 * with their proofs, have the documented text in every format; error
 * output has the documented shapes; a document that cannot be written is
 * IO_ERROR with the system's reason; a feed's cut last line is removed
 * from a file, only when it begins as a feed's lines do. Method: print
 * into a memory stream (or /dev/full, a temporary file, a pipe) and
 * compare exact text.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ctl_args.h"
#include "ctl_output.h"

struct capture {
    char *text;
    size_t size;
    FILE *file;
};

static void capture_open(struct capture *capture)
{
    capture->text = NULL;
    capture->size = 0;
    capture->file = open_memstream(&capture->text, &capture->size);
    assert_non_null(capture->file);
}

static char *capture_close(struct capture *capture)
{
    fclose(capture->file);
    return capture->text;
}

static void sample_row(Ledger__V1__ReservationRow *row, Ledger__V1__Scope *scope,
                       Ledger__V1__Actor *actor, Ledger__V1__Money *price)
{
    Ledger__V1__ReservationRow row_init = LEDGER__V1__RESERVATION_ROW__INIT;
    Ledger__V1__Scope scope_init = LEDGER__V1__SCOPE__INIT;
    Ledger__V1__Actor actor_init = LEDGER__V1__ACTOR__INIT;
    Ledger__V1__Money money_init = LEDGER__V1__MONEY__INIT;
    *row = row_init;
    *scope = scope_init;
    *actor = actor_init;
    *price = money_init;
    scope->kind = LEDGER__V1__SCOPE_KIND__SCOPE_KIND_RESOURCE_GROUP;
    scope->target = (char *)"sub-1/rg-web";
    actor->principal_id = (char *)"alice";
    actor->role = LEDGER__V1__ROLE__ROLE_ADMIN_AGENT;
    price->amount_minor = 123456;
    price->currency = (char *)"USD";
    row->reservation_id = (char *)"res-1";
    row->order_id = (char *)"ord-1";
    row->customer_id = (char *)"fabrikam";
    row->state = LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_ACTIVE;
    row->billing_subscription_id = (char *)"sub-1";
    row->sku = (char *)"Standard_D2s_v5";
    row->region = (char *)"westeurope";
    row->quantity = 2;
    row->term = LEDGER__V1__TERM__TERM_P3Y;
    row->billing_plan = LEDGER__V1__BILLING_PLAN__BILLING_PLAN_MONTHLY;
    row->scope = scope;
    row->auto_renew = 1;
    row->starts_us = INT64_C(1795465620) * 1000000;
    row->expires_us = 0;
    row->purchaser = LEDGER__V1__PURCHASER__PURCHASER_CUSTOMER;
    row->bought_by = actor;
    row->price = price;
    row->retail_price = NULL;
    row->sequence = 7;
    row->last_sequence = 9;
}

static void test_ctl_output_json_of_a_row(void **state)
{
    (void)state;
    Ledger__V1__ReservationRow row;
    Ledger__V1__Scope scope;
    Ledger__V1__Actor actor;
    Ledger__V1__Money price;
    sample_row(&row, &scope, &actor, &price);
    char *text = ctl_json_text(&row.base);
    assert_non_null(text);
    assert_string_equal(
        "{\"reservation_id\":\"res-1\",\"order_id\":\"ord-1\",\"customer_id\":\"fabrikam\","
        "\"state\":\"active\",\"billing_subscription_id\":\"sub-1\",\"sku\":\"Standard_D2s_v5\","
        "\"region\":\"westeurope\",\"quantity\":2,\"term\":\"P3Y\",\"billing_plan\":\"monthly\","
        "\"scope\":{\"kind\":\"resource-group\",\"target\":\"sub-1/rg-web\"},\"auto_renew\":true,"
        "\"starts_us\":1795465620000000,\"starts\":\"2026-11-23T20:27:00Z\",\"expires_us\":0,"
        "\"expires\":null,\"purchaser\":\"customer\",\"bought_by\":{\"principal_id\":\"alice\","
        "\"role\":\"admin-agent\",\"user\":\"\"},\"price\":{\"amount\":\"1234.56\","
        "\"amount_minor\":123456,\"currency\":\"USD\"},\"retail_price\":null,\"sequence\":7,"
        "\"last_sequence\":9,\"cloud_order_id\":\"\"}",
        text);
    free(text);
}

static void test_ctl_output_json_oneof_and_bytes(void **state)
{
    (void)state;
    Ledger__V1__Event event = LEDGER__V1__EVENT__INIT;
    Ledger__V1__PurchasePermissionGranted granted = LEDGER__V1__PURCHASE_PERMISSION_GRANTED__INIT;
    uint8_t hash[3] = {0x00, 0xab, 0xff};
    granted.kind = LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_SAVINGS_PLANS;
    event.sequence = 3;
    event.command_hash.data = hash;
    event.command_hash.len = sizeof hash;
    event.body_case = LEDGER__V1__EVENT__BODY_PURCHASE_PERMISSION_GRANTED;
    event.purchase_permission_granted = &granted;
    char *text = ctl_json_text(&event.base);
    assert_non_null(text);
    assert_non_null(strstr(text, "\"command_hash\":\"00abff\""));
    assert_non_null(strstr(text, "\"purchase_permission_granted\":{\"kind\":\"savings-plans\"}"));
    /* Only the chosen member of the oneof appears. */
    assert_null(strstr(text, "reservation_purchased"));
    assert_non_null(strstr(text, "\"recorded_us\":0,\"recorded\":null"));
    free(text);
}

static void test_ctl_output_never_prints_secrets(void **state)
{
    (void)state;
    Ledger__V1__CommandResult result = LEDGER__V1__COMMAND_RESULT__INIT;
    result.first_sequence = 4;
    result.last_sequence = 4;
    result.secret_hex = (char *)"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    Ledger__V1__CommandResult *results[1] = {&result};
    Ledger__V1__Reply reply = LEDGER__V1__REPLY__INIT;
    reply.results = results;
    reply.n_results = 1;
    reply.head_sequence = 4;
    const char *ids[1] = {"c-1"};
    enum ctl_format formats[3] = {CTL_FORMAT_TABLE, CTL_FORMAT_JSON, CTL_FORMAT_CSV};
    for (size_t i = 0; i < 3; i++) {
        struct capture capture;
        capture_open(&capture);
        assert_int_equal(LEDGER_ERR_OK,
                         ctl_output_write_result(capture.file, formats[i], ids, &reply, NULL, 0));
        char *text = capture_close(&capture);
        assert_null(strstr(text, "00112233"));
        assert_null(strstr(text, "secret"));
        assert_non_null(strstr(text, "c-1"));
        free(text);
    }
    char *json = ctl_json_text(&result.base);
    assert_null(strstr(json, "secret"));
    free(json);
}

/* A field's text and how a CSV writer writes it. */
struct csv_case {
    const char *in;
    const char *out;
};

static void check_csv_fields(void (*write_field)(FILE *, const char *),
                             const struct csv_case *cases, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        struct capture capture;
        capture_open(&capture);
        write_field(capture.file, cases[i].in);
        char *text = capture_close(&capture);
        assert_string_equal(cases[i].out, text);
        free(text);
    }
}

static void test_ctl_output_csv_quoting(void **state)
{
    (void)state;
    static const struct csv_case cases[] = {
        {"plain", "plain"},
        {"", ""},
        {"a,b", "\"a,b\""},
        {"say \"hi\"", "\"say \"\"hi\"\"\""},
        {"two\nlines", "\"two\nlines\""},
        {"cr\rhere", "\"cr\rhere\""},
        {"\"", "\"\"\"\""},
        {"semi;colon and space", "semi;colon and space"},
        {"Fabrikam Ltd", "Fabrikam Ltd"},
        {"-100.00", "-100.00"},
    };
    check_csv_fields(ctl_csv_field, cases, sizeof cases / sizeof cases[0]);
}

/* Free text (names in an activity detail, an invoice's words) that a
 * spreadsheet would take for a formula is written after a single quote;
 * other text, and every other field (an amount of -100.00), as it is. */
static void test_ctl_output_csv_free_text(void **state)
{
    (void)state;
    static const struct csv_case cases[] = {
        {"plain", "plain"},
        {"", ""},
        {"=1+2", "'=1+2"},
        {"+fabrikam", "'+fabrikam"},
        {"-100.00", "'-100.00"},
        {"@SUM(A1)", "'@SUM(A1)"},
        {"\tx", "'\tx"},
        {"\rx", "\"'\rx\""},
        {"=HYPERLINK(\"http://x\",\"y\")", "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\""},
        {"a=b", "a=b"},
    };
    check_csv_fields(ctl_csv_text_field, cases, sizeof cases / sizeof cases[0]);
    static const char *const names[] = {"detail", "amount"};
    static const enum ctl_cell_kind kinds[] = {CTL_CELL_FREE_TEXT, CTL_CELL_TEXT};
    static const char *const cells[] = {"=cmd|' /C calc'!A0", "-100.00"};
    struct capture capture;
    capture_open(&capture);
    assert_int_equal(LEDGER_ERR_OK, ctl_output_records(capture.file, CTL_FORMAT_CSV, "rows", names,
                                                       kinds, 2, cells, 1, NULL, 0));
    char *text = capture_close(&capture);
    assert_string_equal("detail,amount\r\n'=cmd|' /C calc'!A0,-100.00\r\n", text);
    free(text);
    capture_open(&capture);
    assert_int_equal(LEDGER_ERR_OK, ctl_output_records(capture.file, CTL_FORMAT_JSON, "rows", names,
                                                       kinds, 2, cells, 1, NULL, 0));
    text = capture_close(&capture);
    assert_non_null(strstr(text, "\"=cmd|' /C calc'!A0\""));
    free(text);
}

static const struct ctl_column columns[] = {
    {"RESERVATION", "reservation_id", 0},
    {"SCOPE", "scope", 0},
    {"STARTS", "starts", CTL_COLUMN_DATE},
    {"PRICE", "price", CTL_COLUMN_MONEY},
    {"BY", "bought_by", 0},
};

/* The rows, named `name` (JSON's member), printed in `format` with the
 * first column_count columns and the extras; the caller frees the text. */
static char *named_rows_text(enum ctl_format format, const char *name,
                             const ProtobufCMessage **rows, size_t row_count, size_t column_count,
                             const struct ctl_extra *extras, size_t extra_count)
{
    struct capture capture;
    capture_open(&capture);
    assert_int_equal(LEDGER_ERR_OK, ctl_output_rows(capture.file, format, name, rows, row_count,
                                                    columns, column_count, extras, extra_count));
    return capture_close(&capture);
}

/* named_rows_text for rows named "rows". */
static char *rows_text(enum ctl_format format, const ProtobufCMessage **rows, size_t row_count,
                       size_t column_count, const struct ctl_extra *extras, size_t extra_count)
{
    return named_rows_text(format, "rows", rows, row_count, column_count, extras, extra_count);
}

static void test_ctl_output_table_and_csv_rows(void **state)
{
    (void)state;
    Ledger__V1__ReservationRow row;
    Ledger__V1__Scope scope;
    Ledger__V1__Actor actor;
    Ledger__V1__Money price;
    sample_row(&row, &scope, &actor, &price);
    Ledger__V1__ReservationRow row2 = row;
    row2.reservation_id = (char *)"res-10, \"big\"";
    const ProtobufCMessage *rows[2] = {&row.base, &row2.base};

    char *text = rows_text(CTL_FORMAT_TABLE, rows, 2, 5, NULL, 0);
    assert_string_equal(
        "RESERVATION    SCOPE                        STARTS      PRICE        BY\n"
        "res-1          resource-group:sub-1/rg-web  2026-11-23  1234.56 USD  alice\n"
        "res-10, \"big\"  resource-group:sub-1/rg-web  2026-11-23  1234.56 USD  alice\n",
        text);
    free(text);

    text = rows_text(CTL_FORMAT_CSV, rows, 2, 5, NULL, 0);
    assert_string_equal(
        "reservation_id,scope,starts,price.amount,price.currency,bought_by\r\n"
        "res-1,resource-group:sub-1/rg-web,2026-11-23T20:27:00Z,1234.56,USD,alice\r\n"
        "\"res-10, \"\"big\"\"\",resource-group:sub-1/rg-web,2026-11-23T20:27:00Z,1234.56,USD,"
        "alice\r\n",
        text);
    free(text);

    struct ctl_extra extra = {"next_page_token", "abc", 0, false};
    text = named_rows_text(CTL_FORMAT_JSON, "reservations", rows, 1, 5, &extra, 1);
    assert_non_null(strstr(text, "\"reservations\": ["));
    assert_non_null(strstr(text, "\"next_page_token\": \"abc\""));
    free(text);

    /* A cell of 80 code points is printed whole; one of 81 is cut to 80,
     * ending in "...", counting code points, not bytes. */
    char fits[2 * 80 + 1], longer[2 * 81 + 1], expected[512];
    memset(fits, 'x', 80);
    fits[80] = '\0';
    for (size_t i = 0; i < 81; i++) {
        memcpy(longer + 2 * i, "\xc3\xa9", 2); /* U+00E9, two bytes */
    }
    longer[2 * 81] = '\0';
    Ledger__V1__ReservationRow wide = row, wider = row;
    wide.reservation_id = fits;
    wider.reservation_id = longer;
    const ProtobufCMessage *long_rows[2] = {&wide.base, &wider.base};
    text = rows_text(CTL_FORMAT_TABLE, long_rows, 2, 1, NULL, 0);
    snprintf(expected, sizeof expected, "RESERVATION\n%s\n%.*s...\n", fits, 2 * 77, longer);
    assert_string_equal(expected, text);
    free(text);

    /* An empty view still prints its header (table) or an empty array. */
    text = named_rows_text(CTL_FORMAT_JSON, "reservations", NULL, 0, 5, NULL, 0);
    assert_string_equal("{\n  \"reservations\": []\n}\n", text);
    free(text);
}

/* A table is aligned as a terminal shows it: a CJK character takes two
 * columns and a combining accent none (a customer's name in the activity
 * log's DETAIL), and a cell is cut by columns too, never inside a code
 * point. */
static void test_ctl_output_table_wide_characters(void **state)
{
    (void)state;
    Ledger__V1__Scope scope = LEDGER__V1__SCOPE__INIT;
    scope.kind = LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SHARED;
    Ledger__V1__ReservationRow row = LEDGER__V1__RESERVATION_ROW__INIT;
    row.scope = &scope;
    Ledger__V1__ReservationRow cjk = row, accent = row;
    cjk.reservation_id = (char *)"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e"; /* 6 columns */
    accent.reservation_id = (char *)"Mu\xcc\x88ller";                    /* 6 columns */
    row.reservation_id = (char *)"abcdefghijklm";                        /* 13 columns */
    const ProtobufCMessage *rows[3] = {&cjk.base, &accent.base, &row.base};
    char *text = rows_text(CTL_FORMAT_TABLE, rows, 3, 2, NULL, 0);
    assert_string_equal("RESERVATION    SCOPE\n"
                        "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e         shared\n"
                        "Mu\xcc\x88ller         shared\n"
                        "abcdefghijklm  shared\n",
                        text);
    free(text);

    /* 41 wide characters are 82 columns: cut to 38 of them (76 columns)
     * and "...", the widest that fits in 80. */
    char longer[3 * 41 + 1], expected[512];
    for (size_t i = 0; i < 41; i++) {
        memcpy(longer + 3 * i, "\xe6\x97\xa5", 3);
    }
    longer[3 * 41] = '\0';
    row.reservation_id = longer;
    const ProtobufCMessage *long_rows[1] = {&row.base};
    text = rows_text(CTL_FORMAT_TABLE, long_rows, 1, 2, NULL, 0);
    snprintf(expected, sizeof expected, "RESERVATION%*s  SCOPE\n%.*s...  shared\n", 79 - 11, "",
             3 * 38, longer);
    assert_string_equal(expected, text);
    free(text);
}

/* One named value (head --public-key): the hex alone on a line as a table,
 * so that $(ledgerctl head --public-key) is the key; JSON one member; CSV
 * the field,value records every such output has, ending in CRLF. */
static void test_ctl_output_value(void **state)
{
    (void)state;
    uint8_t key[2] = {0xab, 0x01};
    ProtobufCBinaryData bytes = {sizeof key, key};
    static const struct {
        enum ctl_format format;
        const char *text;
    } cases[] = {
        {CTL_FORMAT_TABLE, "ab01\n"},
        {CTL_FORMAT_JSON, "{\n  \"public_key\": \"ab01\"\n}\n"},
        {CTL_FORMAT_CSV, "field,value\r\npublic_key,ab01\r\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct capture capture;
        capture_open(&capture);
        assert_int_equal(LEDGER_ERR_OK,
                         ctl_output_value(capture.file, cases[i].format, "public_key", &bytes));
        char *text = capture_close(&capture);
        assert_string_equal(cases[i].text, text);
        free(text);
    }
}

/* A table's cells show control characters as '?' (a value could move the
 * cursor or clear the terminal); the values beside the rows follow as
 * "name: value" lines, an empty text left out, truth values as yes/no. */
static void test_ctl_output_table_cells_and_extras(void **state)
{
    (void)state;
    Ledger__V1__ReservationRow row;
    Ledger__V1__Scope scope;
    Ledger__V1__Actor actor;
    Ledger__V1__Money price;
    sample_row(&row, &scope, &actor, &price);
    row.reservation_id = (char *)"res-1\x1b[2J\t\x7f";
    const ProtobufCMessage *rows[1] = {&row.base};
    const struct ctl_extra extras[] = {
        {"next_page_token", "p-2\x1b[2J\xc2\x9b", 0, false},
        {"note", "", 0, false},
        {"total_rows", NULL, 42, false},
        {"complete", NULL, 0, true},
    };
    char *text = rows_text(CTL_FORMAT_TABLE, rows, 1, 2, extras, 4);
    assert_string_equal("RESERVATION  SCOPE\n"
                        "res-1?[2J??  resource-group:sub-1/rg-web\n"
                        "next_page_token: p-2?[2J?\n"
                        "total_rows: 42\n"
                        "complete: no\n",
                        text);
    free(text);
    /* CSV keeps the value as it is, quoted by RFC 4180 only when needed. */
    text = rows_text(CTL_FORMAT_CSV, rows, 1, 1, NULL, 0);
    assert_string_equal("reservation_id\r\nres-1\x1b[2J\t\x7f\r\n", text);
    free(text);
}

/* A row without a retail price or an expiry (what a reservation bought at
 * the partner's price alone, or not yet dated, holds): the table leaves
 * those cells empty, CSV writes the money column's amount and currency as
 * two empty fields and the time as one, and JSON gives them as null; the
 * extras a view adds are JSON's true/false and numbers as they are. */
static void test_ctl_output_missing_money_and_time(void **state)
{
    (void)state;
    Ledger__V1__ReservationRow row;
    Ledger__V1__Scope scope;
    Ledger__V1__Actor actor;
    Ledger__V1__Money price;
    sample_row(&row, &scope, &actor, &price);
    const ProtobufCMessage *rows[1] = {&row.base};
    static const struct ctl_column sparse[] = {
        {"RESERVATION", "reservation_id", 0},
        {"RETAIL", "retail_price", CTL_COLUMN_MONEY},
        {"EXPIRES", "expires", CTL_COLUMN_DATE},
        {"BY", "bought_by", 0},
    };
    const struct ctl_extra extras[] = {
        {"complete", NULL, 1, true},
        {"partial", NULL, 0, true},
        {"total_rows", NULL, 42, false},
    };
    struct capture capture;
    capture_open(&capture);
    assert_int_equal(LEDGER_ERR_OK, ctl_output_rows(capture.file, CTL_FORMAT_TABLE, "rows", rows, 1,
                                                    sparse, 4, NULL, 0));
    char *text = capture_close(&capture);
    assert_string_equal("RESERVATION  RETAIL  EXPIRES  BY\n"
                        "res-1                         alice\n",
                        text);
    free(text);

    capture_open(&capture);
    assert_int_equal(LEDGER_ERR_OK, ctl_output_rows(capture.file, CTL_FORMAT_CSV, "rows", rows, 1,
                                                    sparse, 4, NULL, 0));
    text = capture_close(&capture);
    assert_string_equal("reservation_id,retail_price.amount,retail_price.currency,expires,"
                        "bought_by\r\n"
                        "res-1,,,,alice\r\n",
                        text);
    free(text);

    capture_open(&capture);
    assert_int_equal(LEDGER_ERR_OK, ctl_output_rows(capture.file, CTL_FORMAT_JSON, "rows", rows, 1,
                                                    sparse, 4, extras, 3));
    text = capture_close(&capture);
    assert_non_null(strstr(text, "\"retail_price\": null"));
    assert_non_null(strstr(text, "\"expires_us\": 0,\n      \"expires\": null"));
    assert_non_null(strstr(text, "\n  \"complete\": true,\n  \"partial\": false,\n  "
                                 "\"total_rows\": 42\n}\n"));
    free(text);
}

/* Text in a reply that is not UTF-8 (a reply is not signed: anyone on the
 * path may send it) is printed, not refused as if memory had run out: each
 * byte that is not UTF-8 is U+FFFD in a view's table, CSV and JSON alike
 * (JSON holds UTF-8 only), in a money's currency and in the extras too. */
static void test_ctl_output_text_not_utf8(void **state)
{
    (void)state;
    Ledger__V1__ReservationRow row;
    Ledger__V1__Scope scope;
    Ledger__V1__Actor actor;
    Ledger__V1__Money price;
    sample_row(&row, &scope, &actor, &price);
    row.reservation_id = (char *)"res-\xff\xc3";
    price.currency = (char *)"U\x9b";
    const ProtobufCMessage *rows[1] = {&row.base};
    const struct ctl_extra extras[] = {{"next_page_token", "p\xfe", 0, false}};

    char *text = rows_text(CTL_FORMAT_TABLE, rows, 1, 4, extras, 1);
    assert_string_equal(
        "RESERVATION  SCOPE                        STARTS      PRICE\n"
        "res-\xef\xbf\xbd\xef\xbf\xbd       resource-group:sub-1/rg-web  2026-11-23  "
        "1234.56 U\xef\xbf\xbd\n"
        "next_page_token: p?\n",
        text);
    free(text);

    text = rows_text(CTL_FORMAT_CSV, rows, 1, 4, NULL, 0);
    assert_string_equal("reservation_id,scope,starts,price.amount,price.currency\r\n"
                        "res-\xef\xbf\xbd\xef\xbf\xbd,resource-group:sub-1/rg-web,"
                        "2026-11-23T20:27:00Z,1234.56,U\xef\xbf\xbd\r\n",
                        text);
    free(text);

    text = rows_text(CTL_FORMAT_JSON, rows, 1, 4, extras, 1);
    assert_non_null(strstr(text, "\"reservation_id\": \"res-\xef\xbf\xbd\xef\xbf\xbd\","));
    assert_non_null(strstr(text, "\"currency\": \"U\xef\xbf\xbd\""));
    assert_non_null(strstr(text, "\"next_page_token\": \"p\xef\xbf\xbd\"\n}\n"));
    free(text);
}

/* What a write prints as a table for each result the daemon can send: no
 * events, one, a range, a duplicate, and the ids it assigned; CSV has one
 * record each. */
static void test_ctl_output_write_results(void **state)
{
    (void)state;
    Ledger__V1__CommandResult none = LEDGER__V1__COMMAND_RESULT__INIT;
    Ledger__V1__CommandResult one = LEDGER__V1__COMMAND_RESULT__INIT;
    Ledger__V1__CommandResult range = LEDGER__V1__COMMAND_RESULT__INIT;
    one.first_sequence = 12;
    one.last_sequence = 12;
    one.stream_version = 4;
    one.duplicate = 1;
    one.order_id = (char *)"ord-12\x1b]0;x\x07";
    one.reservation_id = (char *)"res-12\xc2\x9b"
                                 "2J";
    range.first_sequence = 20;
    range.last_sequence = 22;
    range.stream_version = 7;
    range.savings_plan_id = (char *)"sp-20";
    Ledger__V1__CommandResult *results[3] = {&none, &one, &range};
    Ledger__V1__Reply reply = LEDGER__V1__REPLY__INIT;
    reply.results = results;
    reply.n_results = 3;
    reply.head_sequence = 22;
    const char *ids[3] = {"c-a", "c-b", "c-c"};
    const struct ctl_extra extra = {"reservation_ids", "res-12,res-13", 0, false};
    struct capture capture;
    capture_open(&capture);
    assert_int_equal(LEDGER_ERR_OK, ctl_output_write_result(capture.file, CTL_FORMAT_TABLE, ids,
                                                            &reply, &extra, 1));
    char *text = capture_close(&capture);
    assert_string_equal("c-a: committed, no events\n"
                        "c-b: committed as sequence 12 (stream version 4), an earlier identical "
                        "command: nothing new\n"
                        "  order_id         ord-12?]0;x?\n"
                        "  reservation_id   res-12?2J\n"
                        "c-c: committed as sequences 20..22 (stream version 7)\n"
                        "  savings_plan_id  sp-20\n"
                        "  reservation_ids  res-12,res-13\n",
                        text);
    free(text);
    capture_open(&capture);
    assert_int_equal(LEDGER_ERR_OK,
                     ctl_output_write_result(capture.file, CTL_FORMAT_CSV, ids, &reply, &extra, 1));
    text = capture_close(&capture);
    assert_string_equal("command_id,first_sequence,last_sequence,stream_version,order_id,"
                        "reservation_id,savings_plan_id,duplicate,reservation_ids\r\n"
                        "c-a,0,0,0,,,,no,\"res-12,res-13\"\r\n"
                        "c-b,12,12,4,ord-12\x1b]0;x\x07,res-12\xc2\x9b"
                        "2J,,yes,\"res-12,res-13\"\r\n"
                        "c-c,20,22,7,,,sp-20,no,\"res-12,res-13\"\r\n",
                        text);
    free(text);
}

/* An event with its proof in each format: the table's proof line (an
 * empty path, the proof of the only leaf of a tree of size 1, says so),
 * CSV's three proof columns after the header that names them, JSON's
 * record and proof members. The table and CSV show when the event happened
 * (DATED, business) beside when it was recorded, as JSON does: its
 * business time, or for a record without one its recorded time. */
static void test_ctl_output_event_with_proof(void **state)
{
    (void)state;
    Ledger__V1__Event event = LEDGER__V1__EVENT__INIT;
    Ledger__V1__PartnerRegistered registered = LEDGER__V1__PARTNER_REGISTERED__INIT;
    Ledger__V1__Actor actor = LEDGER__V1__ACTOR__INIT;
    actor.principal_id = (char *)"operator";
    registered.name = (char *)"Contoso, Ltd";
    event.sequence = 1;
    event.partner_id = (char *)"contoso";
    event.actor = &actor;
    event.command_id = (char *)"c-1";
    event.recorded_us = INT64_C(1795465620) * 1000000;
    event.business_us = INT64_C(1795379220) * 1000000; /* dated back a day */
    event.body_case = LEDGER__V1__EVENT__BODY_PARTNER_REGISTERED;
    event.partner_registered = &registered;
    uint8_t leaf[2] = {0x00, 0xab}, sibling[2] = {0x12, 0xef}, record[1] = {0x08};
    ProtobufCBinaryData path[1] = {{sizeof sibling, sibling}};
    Ledger__V1__InclusionProof proof = LEDGER__V1__INCLUSION_PROOF__INIT;
    proof.sequence = 1;
    proof.tree_size = 1;
    proof.leaf_hash.data = leaf;
    proof.leaf_hash.len = sizeof leaf;
    Ledger__V1__EventEntry entry = LEDGER__V1__EVENT_ENTRY__INIT;
    entry.event = &event;
    entry.proof = &proof;
    entry.record.data = record;
    entry.record.len = sizeof record;

    struct capture capture;
    capture_open(&capture);
    struct ctl_event_stream stream = {capture.file, CTL_FORMAT_TABLE, false};
    assert_int_equal(LEDGER_ERR_OK, ctl_output_event(&stream, &entry));
    proof.tree_size = 2;
    proof.path = path;
    proof.n_path = 1;
    event.business_us = 0; /* an older build's record: dated when recorded */
    assert_int_equal(LEDGER_ERR_OK, ctl_output_event(&stream, &entry));
    event.business_us = INT64_C(1795379220) * 1000000;
    char *text = capture_close(&capture);
    assert_string_equal(
        "SEQUENCE  RECORDED                     DATED                        TYPE              "
        "            PARTNER           CUSTOMER              ACTOR             COMMAND\n"
        "1         2026-11-23T20:27:00Z         2026-11-22T20:27:00Z         partner_registered"
        "            contoso                                 operator          c-1\n"
        "          proof: tree size 1, leaf 00ab, path (empty)\n"
        "1         2026-11-23T20:27:00Z         2026-11-23T20:27:00Z         partner_registered"
        "            contoso                                 operator          c-1\n"
        "          proof: tree size 2, leaf 00ab, path 12ef\n",
        text);
    free(text);

    capture_open(&capture);
    stream = (struct ctl_event_stream){capture.file, CTL_FORMAT_CSV, false};
    assert_int_equal(LEDGER_ERR_OK, ctl_output_event(&stream, &entry));
    text = capture_close(&capture);
    assert_string_equal("sequence,recorded,business,type,partner_id,customer_id,actor,command_id,"
                        "proof_tree_size,proof_leaf_hash,proof_path\r\n"
                        "1,2026-11-23T20:27:00Z,2026-11-22T20:27:00Z,partner_registered,contoso,,"
                        "operator,c-1,2,00ab,12ef\r\n",
                        text);
    free(text);

    capture_open(&capture);
    stream = (struct ctl_event_stream){capture.file, CTL_FORMAT_JSON, false};
    assert_int_equal(LEDGER_ERR_OK, ctl_output_event(&stream, &entry));
    text = capture_close(&capture);
    assert_non_null(strstr(text, "{\"type\":\"partner_registered\",\"sequence\":1,"));
    assert_non_null(strstr(text, ",\"partner_registered\":{\"name\":\"Contoso, Ltd\"},\"record\":"
                                 "\"08\",\"proof\":{\"sequence\":1,\"tree_size\":2,\"leaf_hash\":"
                                 "\"00ab\",\"path\":[\"12ef\"]}}\n"));
    free(text);
}

/* Text for a terminal (explain's lines): every control character, escape,
 * DEL and C1 included, every bidirectional formatting character and
 * separator, and every byte that is not UTF-8, shown as '?', line feeds kept
 * only when asked; other text as it is. */
static void test_ctl_output_text_clean(void **state)
{
    (void)state;
    char text[] = "a\x1b[2Jb\tc\rd\ne\x7f\xc3\xa9\x01";
    ctl_text_clean(text, true);
    assert_string_equal("a?[2Jb?c?d\ne?\xc3\xa9?", text);
    /* C1 controls too (U+009B is CSI, U+0085 NEL), and each byte of no
     * UTF-8 sequence (an 8-bit terminal's C1); U+00A0 and wider code points
     * stay. */
    char c1[] = "x\xc2\x9b"
                "2J\xc2\x85y\x9b"
                "1m\xc2\xa0\xe6\x97\xa5\xc3";
    ctl_text_clean(c1, true);
    assert_string_equal("x?2J?y?1m\xc2\xa0\xe6\x97\xa5?", c1);
    /* Bidirectional formatting characters (U+202E, U+2066) and separators
     * (U+2028), which reorder or break the line around them; a joiner
     * (U+200D) stays. */
    char bidi[] = "a\xe2\x80\xae"
                  "b\xe2\x81\xa6"
                  "c\xe2\x80\xa8"
                  "d\xe2\x80\x8d";
    ctl_text_clean(bidi, true);
    assert_string_equal("a?b?c?d\xe2\x80\x8d", bidi);
    char line[] = "one\ntwo\x1b";
    ctl_text_clean(line, false);
    assert_string_equal("one?two?", line);
}

/* The events table prints the reply's ids as every table cell is printed:
 * control characters (a terminal's escape sequences) as '?', and a value
 * longer than a cell cut to 80 code points ending in "...". Ids of up to 64
 * characters are cut to their columns (partner 16, customer 20, actor 16)
 * the same way, and padded by their width on a terminal, so the command
 * stays under its header however long or wide the ids before it. */
static void test_ctl_output_event_table_cells(void **state)
{
    (void)state;
    char command[201];
    memset(command, 'c', sizeof command - 1);
    command[sizeof command - 1] = '\0';
    Ledger__V1__Event event = LEDGER__V1__EVENT__INIT;
    Ledger__V1__Actor actor = LEDGER__V1__ACTOR__INIT;
    Ledger__V1__CostVisibilitySet visibility = LEDGER__V1__COST_VISIBILITY_SET__INIT;
    actor.principal_id = (char *)"admin\r";
    event.sequence = 9;
    event.partner_id = (char *)"contoso";
    event.customer_id = (char *)"fab\x1b]0;owned\x07";
    event.actor = &actor;
    event.command_id = command;
    event.recorded_us = INT64_C(1795465620) * 1000000;
    event.body_case = LEDGER__V1__EVENT__BODY_COST_VISIBILITY_SET;
    event.cost_visibility_set = &visibility;
    Ledger__V1__EventEntry entry = LEDGER__V1__EVENT_ENTRY__INIT;
    entry.event = &event;
    struct capture capture;
    capture_open(&capture);
    struct ctl_event_stream stream = {capture.file, CTL_FORMAT_TABLE, true};
    assert_int_equal(LEDGER_ERR_OK, ctl_output_event(&stream, &entry));
    char *text = capture_close(&capture);
    char expected[512];
    snprintf(
        expected, sizeof expected,
        "9         2026-11-23T20:27:00Z         2026-11-23T20:27:00Z         cost_visibility_set  "
        "         contoso           fab?]0;owned?         admin?            %.77s...\n",
        command);
    assert_string_equal(expected, text);
    free(text);

    char partner[65], customer[65], principal[65];
    memset(partner, 'p', 64);
    memset(customer, 'u', 64);
    memset(principal, 'a', 64);
    partner[64] = customer[64] = principal[64] = '\0';
    event.partner_id = partner;
    event.customer_id = customer;
    actor.principal_id = principal;
    event.command_id = (char *)"c-1";
    capture_open(&capture);
    stream = (struct ctl_event_stream){capture.file, CTL_FORMAT_TABLE, false};
    assert_int_equal(LEDGER_ERR_OK, ctl_output_event(&stream, &entry));
    event.customer_id = (char *)"\xe9\xa1\xa7\xe5\xae\xa2"; /* two wide characters */
    event.partner_id = (char *)"contoso";
    actor.principal_id = (char *)"admin";
    assert_int_equal(LEDGER_ERR_OK, ctl_output_event(&stream, &entry));
    text = capture_close(&capture);
    assert_string_equal(
        "SEQUENCE  RECORDED                     DATED                        TYPE              "
        "            PARTNER           CUSTOMER              ACTOR             COMMAND\n"
        "9         2026-11-23T20:27:00Z         2026-11-23T20:27:00Z         cost_visibility_set  "
        "         ppppppppppppp...  uuuuuuuuuuuuuuuuu...  aaaaaaaaaaaaa...  c-1\n"
        "9         2026-11-23T20:27:00Z         2026-11-23T20:27:00Z         cost_visibility_set  "
        "         contoso           \xe9\xa1\xa7\xe5\xae\xa2                  admin             "
        "c-1\n",
        text);
    free(text);
}

/* A document that cannot be written (a full disk) is IO_ERROR with the
 * system's reason, also when the failure comes in the middle of it. */
static void test_ctl_output_full_disk(void **state)
{
    (void)state;
    FILE *full = fopen("/dev/full", "w");
    if (full == NULL) {
        skip();
    }
    Ledger__V1__ReservationRow row;
    Ledger__V1__Scope scope;
    Ledger__V1__Actor actor;
    Ledger__V1__Money price;
    sample_row(&row, &scope, &actor, &price);
    /* Far more than a stdio buffer: jansson's own writes fail. */
    enum { ROW_COUNT = 200 };
    const ProtobufCMessage *rows[ROW_COUNT];
    for (size_t i = 0; i < ROW_COUNT; i++) {
        rows[i] = &row.base;
    }
    assert_int_equal(LEDGER_ERR_IO_ERROR, ctl_output_rows(full, CTL_FORMAT_JSON, "reservations",
                                                          rows, ROW_COUNT, columns, 5, NULL, 0));
    assert_int_equal(ENOSPC, ctl_output_write_errno());
    fclose(full);
}

static void test_ctl_output_error_shapes(void **state)
{
    (void)state;
    struct capture out, err;
    capture_open(&out);
    capture_open(&err);
    ctl_output_error(out.file, err.file, CTL_ERROR_DOCUMENT_OUT, LEDGER_ERR_PERMISSION_OFF,
                     "the \"reservations\" permission is off");
    char *out_text = capture_close(&out);
    char *err_text = capture_close(&err);
    assert_string_equal("error: PERMISSION_OFF: the \"reservations\" permission is off\n",
                        err_text);
    assert_string_equal("{\n  \"error\": {\n    \"code\": \"PERMISSION_OFF\",\n    \"message\": "
                        "\"the \\\"reservations\\\" permission is off\"\n  }\n}\n",
                        out_text);
    free(out_text);
    free(err_text);

    capture_open(&out);
    capture_open(&err);
    ctl_output_error(out.file, err.file, CTL_ERROR_DOCUMENT_NONE, LEDGER_ERR_TIMEOUT, "");
    out_text = capture_close(&out);
    err_text = capture_close(&err);
    assert_string_equal("", out_text);
    assert_string_equal("error: TIMEOUT: no reply from the daemon in time; the command may be "
                        "retried safely\n",
                        err_text);
    free(out_text);
    free(err_text);

    /* A feed's error: stdout untouched, the document one line on stderr. */
    capture_open(&out);
    capture_open(&err);
    ctl_output_error(out.file, err.file, CTL_ERROR_DOCUMENT_ERR_LINE, LEDGER_ERR_UNREACHABLE,
                     "no daemon");
    out_text = capture_close(&out);
    err_text = capture_close(&err);
    assert_string_equal("", out_text);
    assert_string_equal("error: UNREACHABLE: no daemon\n"
                        "{\"error\":{\"code\":\"UNREACHABLE\",\"message\":\"no daemon\"}}\n",
                        err_text);
    free(out_text);
    free(err_text);

    /* A message that quotes bytes in another encoding (Latin-1), or is cut
     * in the middle of a character, still gives its JSON document, each
     * stray byte as U+FFFD. */
    capture_open(&out);
    capture_open(&err);
    ctl_output_error(out.file, err.file, CTL_ERROR_DOCUMENT_OUT, LEDGER_ERR_USAGE,
                     "--limit: 'M\xfcller' is not a whole number; \xc3");
    out_text = capture_close(&out);
    err_text = capture_close(&err);
    assert_string_equal("error: USAGE: --limit: 'M\xfcller' is not a whole number; \xc3\n",
                        err_text);
    assert_string_equal(
        "{\n  \"error\": {\n    \"code\": \"USAGE\",\n    \"message\": "
        "\"--limit: 'M\xef\xbf\xbdller' is not a whole number; \xef\xbf\xbd\"\n  }\n}\n",
        out_text);
    free(out_text);
    free(err_text);
}

static void test_ctl_output_enum_names(void **state)
{
    (void)state;
    char name[64];
    ctl_enum_name(&ledger__v1__role__descriptor, LEDGER__V1__ROLE__ROLE_HELPDESK_AGENT, name,
                  sizeof name);
    assert_string_equal("helpdesk-agent", name);
    ctl_enum_name(&ledger__v1__scope_kind__descriptor,
                  LEDGER__V1__SCOPE_KIND__SCOPE_KIND_MANAGEMENT_GROUP, name, sizeof name);
    assert_string_equal("management-group", name);
    ctl_enum_name(&ledger__v1__term__descriptor, LEDGER__V1__TERM__TERM_P5Y, name, sizeof name);
    assert_string_equal("P5Y", name);
    ctl_enum_name(&ledger__v1__term__descriptor, 0, name, sizeof name);
    assert_string_equal("unspecified", name);
    ctl_enum_name(&ledger__v1__azure_role__descriptor, 999, name, sizeof name);
    assert_string_equal("unknown", name);

    char message[CTL_MESSAGE_SIZE];
    int value = -1;
    assert_int_equal(LEDGER_ERR_OK, ctl_enum_parse(&ledger__v1__azure_role__descriptor,
                                                   "reservation-purchaser", &value, message));
    assert_int_equal(LEDGER__V1__AZURE_ROLE__AZURE_ROLE_RESERVATION_PURCHASER, value);
    assert_int_equal(LEDGER_ERR_OK,
                     ctl_enum_parse(&ledger__v1__term__descriptor, "p3y", &value, message));
    assert_int_equal(LEDGER__V1__TERM__TERM_P3Y, value);
    assert_int_equal(LEDGER_ERR_OK,
                     ctl_enum_parse(&ledger__v1__offer__descriptor, "Azure-Plan", &value, message));
    assert_int_equal(LEDGER__V1__OFFER__OFFER_AZURE_PLAN, value);
    value = -1;
    assert_int_equal(LEDGER_ERR_USAGE, ctl_enum_parse(&ledger__v1__offer__descriptor, "unspecified",
                                                      &value, message));
    assert_int_equal(-1, value);
    assert_string_equal("'unspecified' is not one of azure-plan|azure-global|other", message);
    assert_int_equal(LEDGER_ERR_USAGE, ctl_enum_parse(&ledger__v1__billing_plan__descriptor,
                                                      "yearly", &value, message));
    assert_int_equal(LEDGER_ERR_USAGE,
                     ctl_enum_parse(&ledger__v1__billing_plan__descriptor, NULL, &value, message));
}

/* A feed's output is made durable before its checkpoint: a regular file is
 * flushed and synced, a pipe has nothing to sync, and an output that cannot
 * even be examined (a closed descriptor) fails rather than passing as
 * synced. */
static void test_ctl_output_sync(void **state)
{
    (void)state;
    FILE *file = tmpfile();
    assert_non_null(file);
    fputs("{\"sequence\": 1}\n", file);
    assert_int_equal(LEDGER_ERR_OK, ctl_output_sync(file));
    struct stat info;
    assert_int_equal(0, fstat(fileno(file), &info));
    assert_int_equal(16, info.st_size); /* flushed first */
    fclose(file);

    int ends[2];
    assert_int_equal(0, pipe(ends));
    FILE *pipe_out = fdopen(ends[1], "w");
    assert_non_null(pipe_out);
    fputs("line\n", pipe_out);
    assert_int_equal(LEDGER_ERR_OK, ctl_output_sync(pipe_out));
    fclose(pipe_out);
    close(ends[0]);

    FILE *closed = tmpfile();
    assert_non_null(closed);
    close(fileno(closed));
    assert_int_equal(LEDGER_ERR_IO_ERROR, ctl_output_sync(closed));
    fclose(closed);
}

/* The text of file from its start (at most size - 1 bytes), NUL-terminated. */
static size_t file_text(FILE *file, char *text, size_t size)
{
    size_t got = (size_t)pread(fileno(file), text, size - 1, 0);
    text[got] = '\0';
    return got;
}

/* A feed appended to a file that ends in a cut line (no line end) removes
 * that line, whatever the format, and writes on from there: a CSV record
 * cut inside its last field, a cut CR of a CRLF, a JSON line, a table line,
 * the zeros a crash leaves, a cut header record (the file then gets the
 * header again). A file that ends in a line end, or is empty, is left as
 * it is. */
static void test_ctl_output_event_repair(void **state)
{
    (void)state;
#define HEADER "sequence,recorded,business,type,partner_id,customer_id,actor,command_id"
    static const struct {
        enum ctl_format format;
        const char *before;
        size_t before_size; /* 0: strlen(before) */
        const char *after;
        bool header_done;
    } cases[] = {
        {CTL_FORMAT_JSON, "", 0, "", false},
        {CTL_FORMAT_JSON, "{\"type\":\"a\"}\n", 0, "{\"type\":\"a\"}\n", false},
        {CTL_FORMAT_JSON, "{\"type\":\"a\"}\n{\"type\":\"b\",\"command_id\":\"c-", 0,
         "{\"type\":\"a\"}\n", false},
        {CTL_FORMAT_JSON, "{\"type\":\"a\"}\n{\"type\"", 0, "{\"type\":\"a\"}\n", false},
        {CTL_FORMAT_JSON, "{\"type\":\"a\"}\n\0\0\0", 16, "{\"type\":\"a\"}\n", false},
        {CTL_FORMAT_TABLE, "SEQUENCE  RECORDED\n1         2026\n12        20", 0,
         "SEQUENCE  RECORDED\n1         2026\n", false},
        {CTL_FORMAT_TABLE, "SEQUENCE  RECO", 0, "", false},
        {CTL_FORMAT_CSV, "", 0, "", false},
        {CTL_FORMAT_CSV, HEADER "\r\n", 0, HEADER "\r\n", true},
        {CTL_FORMAT_CSV, HEADER "\r\n1,2026,2026,a,p,,op,c-1\r\n12,2026,2026,b,p,,op,c-", 0,
         HEADER "\r\n1,2026,2026,a,p,,op,c-1\r\n", true},
        {CTL_FORMAT_CSV, HEADER "\r\n12,2026,2026,b,p,,op,c-12\r", 0, HEADER "\r\n", true},
        {CTL_FORMAT_CSV, "sequence,recorded,busi", 0, "", false},
        {CTL_FORMAT_CSV, HEADER "\r", 0, "", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        FILE *file = tmpfile(); /* read and write, not O_APPEND: its position moves back */
        assert_non_null(file);
        size_t before_size =
            cases[i].before_size != 0 ? cases[i].before_size : strlen(cases[i].before);
        assert_int_equal(before_size, fwrite(cases[i].before, 1, before_size, file));
        struct ctl_event_stream stream = {.out = file, .format = cases[i].format};
        char message[512] = "";
        assert_int_equal(LEDGER_ERR_OK,
                         ctl_output_event_resume(&stream, false, message, sizeof message));
        assert_int_equal(cases[i].header_done ||
                             (cases[i].format == CTL_FORMAT_CSV && strlen(cases[i].after) > 0),
                         stream.header_done);
        uint64_t removed = 99;
        assert_int_equal(LEDGER_ERR_OK, ctl_output_event_repair(&stream, false, &removed, message,
                                                                sizeof message));
        assert_int_equal(before_size - strlen(cases[i].after), removed);
        assert_int_equal(cases[i].header_done, stream.header_done);
        fputs("next\n", file);
        fflush(file);
        char text[256], expected[256];
        snprintf(expected, sizeof expected, "%snext\n", cases[i].after);
        assert_int_equal(strlen(expected), file_text(file, text, sizeof text));
        assert_string_equal(expected, text);
        fclose(file);
    }
#undef HEADER
}

/* A cut line that does not begin as one of the feed's (not a feed cut off),
 * or a CSV file under another header, is refused as a usage error naming
 * the file, which is left as it was; a file that cannot be cut back (here
 * sealed against shrinking) is IO_ERROR saying what to do, nothing written;
 * a pipe has nothing to repair. */
static void test_ctl_output_event_repair_refused(void **state)
{
    (void)state;
    static const struct {
        enum ctl_format format;
        const char *before, *says;
    } cases[] = {
        {CTL_FORMAT_JSON, "{\"type\":\"a\"}\nhello",
         "ends in 5 bytes after its last line end that do not begin as a line of this feed "
         "does: not a feed cut off, so they are left as they are; append the feed to a new "
         "file instead (--checkpoint resumes it there), or end that line yourself"},
        {CTL_FORMAT_TABLE, "notes", "ends in 5 bytes after its last line end"},
        {CTL_FORMAT_CSV, "sequence,recorded,type", "does not begin with this feed's CSV header"},
        {CTL_FORMAT_CSV,
         "sequence,recorded,business,type,partner_id,customer_id,actor,command_id\r\nx,",
         "ends in 2 bytes after its last line end"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        FILE *file = tmpfile();
        assert_non_null(file);
        fputs(cases[i].before, file);
        struct ctl_event_stream stream = {.out = file, .format = cases[i].format};
        char message[512] = "";
        assert_int_equal(LEDGER_ERR_USAGE,
                         ctl_output_event_resume(&stream, false, message, sizeof message));
        assert_non_null(strstr(message, cases[i].says));
        uint64_t removed = 99;
        message[0] = '\0';
        assert_int_equal(LEDGER_ERR_USAGE, ctl_output_event_repair(&stream, false, &removed,
                                                                   message, sizeof message));
        assert_non_null(strstr(message, cases[i].says));
        assert_int_equal(99, removed); /* written only on success */
        char text[256];
        file_text(file, text, sizeof text);
        assert_string_equal(cases[i].before, text);
        fclose(file);
    }

    int sealed = memfd_create("feed", MFD_ALLOW_SEALING);
    assert_true(sealed >= 0);
    assert_int_equal(13, write(sealed, "{\"a\":1}\n{\"b\"", 13));
    assert_int_equal(0, fcntl(sealed, F_ADD_SEALS, F_SEAL_SHRINK));
    FILE *file = fdopen(sealed, "a");
    assert_non_null(file);
    struct ctl_event_stream stream = {.out = file, .format = CTL_FORMAT_JSON};
    char message[512] = "";
    uint64_t removed = 99;
    assert_int_equal(LEDGER_ERR_IO_ERROR,
                     ctl_output_event_repair(&stream, false, &removed, message, sizeof message));
    assert_int_equal(99, removed);
    assert_non_null(strstr(message, "cannot remove the cut line at the end of /memfd:feed"));
    assert_non_null(strstr(message, "(its last 5 bytes, after its last line end): Operation "
                                    "not permitted; nothing was printed and the checkpoint was "
                                    "left as it was: append the feed to a file it may cut back, "
                                    "opened for writing (>> FILE), or remove those bytes "
                                    "yourself (truncate -s 8 FILE) and run it again"));
    char text[64];
    assert_int_equal(13, file_text(file, text, sizeof text));
    fclose(file);

    int ends[2];
    assert_int_equal(0, pipe(ends));
    FILE *pipe_out = fdopen(ends[1], "w");
    assert_non_null(pipe_out);
    stream = (struct ctl_event_stream){.out = pipe_out, .format = CTL_FORMAT_CSV};
    assert_int_equal(LEDGER_ERR_OK,
                     ctl_output_event_resume(&stream, false, message, sizeof message));
    assert_false(stream.header_done);
    assert_int_equal(LEDGER_ERR_OK,
                     ctl_output_event_repair(&stream, false, &removed, message, sizeof message));
    assert_int_equal(0, removed);
    fclose(pipe_out);
    assert_int_equal(0, read(ends[0], text, sizeof text)); /* nothing was written */
    close(ends[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ctl_output_json_of_a_row),
        cmocka_unit_test(test_ctl_output_json_oneof_and_bytes),
        cmocka_unit_test(test_ctl_output_never_prints_secrets),
        cmocka_unit_test(test_ctl_output_csv_quoting),
        cmocka_unit_test(test_ctl_output_csv_free_text),
        cmocka_unit_test(test_ctl_output_table_and_csv_rows),
        cmocka_unit_test(test_ctl_output_table_wide_characters),
        cmocka_unit_test(test_ctl_output_value),
        cmocka_unit_test(test_ctl_output_table_cells_and_extras),
        cmocka_unit_test(test_ctl_output_missing_money_and_time),
        cmocka_unit_test(test_ctl_output_text_not_utf8),
        cmocka_unit_test(test_ctl_output_write_results),
        cmocka_unit_test(test_ctl_output_event_with_proof),
        cmocka_unit_test(test_ctl_output_text_clean),
        cmocka_unit_test(test_ctl_output_event_table_cells),
        cmocka_unit_test(test_ctl_output_full_disk),
        cmocka_unit_test(test_ctl_output_error_shapes),
        cmocka_unit_test(test_ctl_output_enum_names),
        cmocka_unit_test(test_ctl_output_sync),
        cmocka_unit_test(test_ctl_output_event_repair),
        cmocka_unit_test(test_ctl_output_event_repair_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
