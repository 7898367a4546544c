/*
 * test_ctl_ops.c: ledgerctl's verifying and operations verbs, the real
 * binary against the real daemon, and the CSV reader they use.
 * Goal: head --save, proof, consistency, explain and verify check what they
 * print (a saved head that the daemon's history no longer extends, because
 * it was cut back or rewritten, fails with MISMATCH and exit 1), and print
 * in CSV the values they print in JSON; events --proofs prints each proof,
 * in every format; export writes RFC 4180 CSV a spreadsheet opens as is;
 * reconcile reports exactly the differences between an invoice and the
 * ledger's charges of a month (a generated month with known mismatches
 * yields exactly those mismatches) and refuses bad CSV with the line
 * number; the CSV reader handles quotes, embedded commas, quotes and
 * newlines, CRLF and LF, keeps to its bounds, and names the line of every
 * error; head --save syncs the directory it renames its file into;
 * events --checkpoint syncs its output and writes its checkpoint
 * once a page of events, not once an event, never naming a line that is
 * not synced; a feed appended to a file cut off inside a line removes that
 * line (synced before anything new is appended) and prints its event
 * again, so that the file holds every event once, all whole.
 * Method: as test_ctl_cli.c: one ledgerd on a private data directory
 * (mkdtemp under $LEDGER_TEST_TMP), ledgerctl run with fork/exec, JSON
 * output parsed with jansson; the demo loads a month of charges; a second
 * ledgerd restored from a backup (same head key, shorter or different
 * history) plays a ledger that cut back or rewrote its history. The feed's
 * syncs are counted by running ctl_main in a forked child of this test,
 * whose fdatasync is wrapped at link time (tests/CMakeLists.txt).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "crypto.h"
#include "ctl_csv.h"
#include "ctl_output.h"
#include "ctl_verbs.h"
#include "ledger_internal.h"
#include "ledger.pb-c.h"
#include "ledger_limits.h"
#include "merkle.h"

#define CTL_HARNESS_LABEL "ctl-ops"
#include "ctl_harness.h"

/* ------------------------------------------------------------------------ */
/* Helpers of this file. */

static void write_text(const char *path, const char *text)
{
    FILE *file = fopen(path, "wb");
    assert_non_null(file);
    fputs(text, file);
    fclose(file);
}

/* Writes to `to` the saved head in `from` signed again by a new key, whose
 * hex is written to `public_hex`: a head another ledger could have signed. */
static void head_signed_by_another_key(const char *from, const char *to, char public_hex[65])
{
    uint8_t bytes[1024];
    size_t size = test_read_bytes(from, bytes, sizeof bytes);
    assert_true(size != SIZE_MAX);
    Ledger__V1__SignedHead *head = ledger__v1__signed_head__unpack(NULL, size, bytes);
    assert_non_null(head);
    assert_int_equal(head->root_hash.len, MERKLE_HASH_BYTES);
    assert_int_equal(crypto_init(), LEDGER_ERR_OK);
    uint8_t public_key[CRYPTO_SIGN_PUBLIC_BYTES], secret_key[CRYPTO_SIGN_SECRET_BYTES];
    uint8_t signature[CRYPTO_SIGNATURE_BYTES], message[MERKLE_HEAD_BYTES];
    crypto_ed25519_keypair(public_key, secret_key);
    merkle_head_encode(head->tree_size, head->root_hash.data, head->timestamp_us, message);
    crypto_ed25519_sign(secret_key, message, sizeof message, signature);
    Ledger__V1__SignedHead resigned = *head;
    resigned.public_key = (ProtobufCBinaryData){sizeof public_key, public_key};
    resigned.signature = (ProtobufCBinaryData){sizeof signature, signature};
    size = ledger__v1__signed_head__pack(&resigned, bytes);
    ledger__v1__signed_head__free_unpacked(head, NULL);
    FILE *file = fopen(to, "wb");
    assert_non_null(file);
    assert_int_equal(fwrite(bytes, 1, size, file), size);
    fclose(file);
    for (size_t i = 0; i < sizeof public_key; i++) {
        snprintf(public_hex + 2 * i, 3, "%02x", public_key[i]);
    }
}

/* Writes to `to` the saved head in `from` followed by unknown fields (field
 * 15, varint 0) up to exactly LEDGER_HEAD_FILE_MAX bytes, the same head, and
 * then `fields_past` more of them. */
static void head_padded(const char *from, const char *to, size_t fields_past)
{
    static const uint8_t field[2] = {0x78, 0x00};
    static const uint8_t longer_field[3] = {0x78, 0x80, 0x00}; /* a two-byte varint 0 */
    uint8_t head[1024];
    size_t at = test_read_bytes(from, head, sizeof head);
    assert_true(at != SIZE_MAX && at + sizeof longer_field <= LEDGER_HEAD_FILE_MAX);
    FILE *file = fopen(to, "wb");
    assert_non_null(file);
    assert_int_equal(fwrite(head, 1, at, file), at);
    if ((LEDGER_HEAD_FILE_MAX - at) % 2 != 0) {
        assert_int_equal(fwrite(longer_field, 1, sizeof longer_field, file), sizeof longer_field);
        at += sizeof longer_field;
    }
    for (; at < LEDGER_HEAD_FILE_MAX + fields_past * sizeof field; at += sizeof field) {
        assert_int_equal(fwrite(field, 1, sizeof field, file), sizeof field);
    }
    assert_int_equal(fclose(file), 0);
}

/* Writes to `to` the saved head in `from` without its public key (when
 * `drop_key`) or without its signature: a head file cut short after a
 * field, which still decodes. */
static void head_without(const char *from, const char *to, bool drop_key)
{
    uint8_t bytes[1024];
    size_t size = test_read_bytes(from, bytes, sizeof bytes);
    assert_true(size != SIZE_MAX);
    Ledger__V1__SignedHead *head = ledger__v1__signed_head__unpack(NULL, size, bytes);
    assert_non_null(head);
    Ledger__V1__SignedHead cut = *head;
    if (drop_key) {
        cut.public_key = (ProtobufCBinaryData){0, NULL};
    } else {
        cut.signature = (ProtobufCBinaryData){0, NULL};
    }
    size = ledger__v1__signed_head__pack(&cut, bytes);
    ledger__v1__signed_head__free_unpacked(head, NULL);
    FILE *file = fopen(to, "wb");
    assert_non_null(file);
    assert_int_equal(fwrite(bytes, 1, size, file), size);
    assert_int_equal(fclose(file), 0);
}

/* Loads the demo world (once per fixture) and returns the key paths. The
 * demo's CSV is its two counts, the last sequence being the head's. */
static void demo_keys(struct fixture *fixture, char *auditor, char *billing, size_t size)
{
    snprintf(auditor, size, "%s/ledger-demo-keys/auditor.key", fixture->dir);
    snprintf(billing, size, "%s/ledger-demo-keys/billing.key", fixture->dir);
    struct stat info;
    if (stat(auditor, &info) != 0) {
        struct run run;
        ctl(fixture, &run, NULL, NULL, "--output", "csv", "demo", NULL);
        expect_ok(&run);
        unsigned commands = 0;
        unsigned long long last = 0;
        char expected[128];
        assert_int_equal(2, sscanf(run.out, "commands,last_sequence\r\n%u,%llu", &commands, &last));
        snprintf(expected, sizeof expected, "commands,last_sequence\r\n%u,%llu\r\n", commands,
                 last);
        assert_string_equal(expected, run.out);
        assert_true(commands > 0);
        run_free(&run);
        ctl(fixture, &run, "auditor", auditor, "--partner", "contoso", "--output", "json", "head",
            NULL);
        expect_ok(&run);
        assert_int_equal(last, json_int_at(json_object_get(run.json, "head"), "tree_size"));
        run_free(&run);
    }
}

static void this_month(char month[16])
{
    time_t now = time(NULL);
    struct tm utc;
    gmtime_r(&now, &utc);
    strftime(month, 16, "%Y-%m", &utc);
}

/* The JSON "differences" of a reconcile run, checked against exactly the
 * expected kinds (in any order). */
static void expect_differences(const struct run *run, const char *const *kinds, size_t count)
{
    assert_non_null(run->json);
    json_t *rows = json_object_get(run->json, "differences");
    if (json_array_size(rows) != count) {
        fail_msg("expected %zu differences, got: %s", count, run->out);
    }
    bool used[16] = {false};
    for (size_t i = 0; i < count; i++) {
        const char *kind =
            json_string_value(json_object_get(json_array_get(rows, i), "difference"));
        bool found = false;
        for (size_t k = 0; k < count && !found; k++) {
            if (!used[k] && strcmp(kinds[k], kind) == 0) {
                used[k] = found = true;
            }
        }
        if (!found) {
            fail_msg("unexpected difference %s in %s", kind, run->out);
        }
    }
    assert_int_equal(count, json_int_at(run->json, "difference_count"));
}

static json_t *difference_of(const struct run *run, const char *kind)
{
    json_t *rows = json_object_get(run->json, "differences");
    for (size_t i = 0; i < json_array_size(rows); i++) {
        json_t *row = json_array_get(rows, i);
        if (strcmp(kind, json_string_value(json_object_get(row, "difference"))) == 0) {
            return row;
        }
    }
    fail_msg("no %s difference in %s", kind, run->out);
    return NULL;
}

/* ------------------------------------------------------------------------ */

static void test_ctl_ops_csv_reader(void **state)
{
    (void)state;
    char message[CTL_MESSAGE_SIZE];
    struct ctl_csv csv;
    const char *text = "\xEF\xBB\xBF"
                       "a,b,c\r\n"
                       "\"x,1\",\"say \"\"hi\"\"\",\"two\r\nlines\"\r\n"
                       "\n"
                       ",,\n"
                       "last,\"\",end";
    assert_int_equal(LEDGER_ERR_OK, ctl_csv_parse(text, strlen(text), &csv, message));
    assert_int_equal(4, csv.count);
    assert_int_equal(3, csv.records[0].count);
    assert_string_equal("a", csv.records[0].fields[0]);
    assert_string_equal("x,1", csv.records[1].fields[0]);
    assert_string_equal("say \"hi\"", csv.records[1].fields[1]);
    assert_string_equal("two\r\nlines", csv.records[1].fields[2]);
    assert_int_equal(2, csv.records[1].line);
    assert_int_equal(3, csv.records[2].count);
    assert_string_equal("", csv.records[2].fields[2]);
    assert_int_equal(5, csv.records[2].line); /* line 3 holds the embedded newline, 4 is empty */
    assert_string_equal("", csv.records[3].fields[1]);
    assert_string_equal("end", csv.records[3].fields[2]);
    assert_int_equal(6, csv.records[3].line);
    ctl_csv_free(&csv);
    assert_int_equal(0, csv.count);
    /* A last field quoted, with nothing after its closing quote but blanks
     * and no line end (a file cut after it), is read as the field. */
    static const char *const quoted_last[] = {"a,b\n1,\"q,r\"", "a,b\n1,\"q,r\" \t"};
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(LEDGER_ERR_OK,
                         ctl_csv_parse(quoted_last[i], strlen(quoted_last[i]), &csv, message));
        assert_int_equal(2, csv.count);
        assert_int_equal(2, csv.records[1].count);
        assert_string_equal("1", csv.records[1].fields[0]);
        assert_string_equal("q,r", csv.records[1].fields[1]);
        assert_int_equal(2, csv.records[1].line);
        ctl_csv_free(&csv);
    }

    /* Errors name the line. */
    static const struct {
        const char *text;
        const char *message;
    } bad[] = {
        {"a,b\n1,\"open\n2,3\n", "line 2: a quoted field is never closed"},
        {"a,b\n1,2\nx\"y,3\n", "line 3: a quote inside an unquoted field"},
        {"a,b\r\n\"q\"x,1\r\n", "line 2: text after a closing quote"},
        {"a,b\r1,2\r", "line 1: a carriage return without a line feed"},
        /* The file's last byte a CR: no LF can follow it. */
        {"a,b\n1,2\r", "line 2: a carriage return without a line feed"},
        /* Beside a quoted field only spaces and tabs are not data. */
        {"a,b\n1, x\"y\"\n", "line 2: a quote inside an unquoted field"},
        {"a,b\n1, \"q\" x\n", "line 2: text after a closing quote"},
        {"a,b\n1,\"q\"\t;\n", "line 2: text after a closing quote"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&csv, 0, sizeof csv);
        assert_int_equal(LEDGER_ERR_USAGE,
                         ctl_csv_parse(bad[i].text, strlen(bad[i].text), &csv, message));
        if (strncmp(message, bad[i].message, strlen(bad[i].message)) != 0) {
            fail_msg("'%s' gave '%s'", bad[i].text, message);
        }
        assert_int_equal(0, csv.count);
    }
    const char nul[] = "a,b\n1,\0\n";
    assert_int_equal(LEDGER_ERR_USAGE, ctl_csv_parse(nul, sizeof nul - 1, &csv, message));
    assert_non_null(strstr(message, "line 2: a NUL byte"));
    /* The bounds of ctl_csv.h, each one past its limit, by line. */
    size_t large_size = 2 * (CTL_CSV_RECORDS_MAX + 1) + 1;
    char *large = malloc(large_size);
    assert_non_null(large);
    memset(large, ',', CTL_CSV_FIELDS_MAX);
    memcpy(large + CTL_CSV_FIELDS_MAX, "\n", 2);
    memset(&csv, 0, sizeof csv);
    assert_int_equal(LEDGER_ERR_USAGE, ctl_csv_parse(large, strlen(large), &csv, message));
    assert_string_equal("line 1: more than 64 fields in one record", message);
    assert_int_equal(0, csv.count);
    memcpy(large, "a\n", 2);
    memset(large + 2, 'x', CTL_CSV_FIELD_MAX + 1);
    memcpy(large + 2 + CTL_CSV_FIELD_MAX + 1, "\n", 2);
    assert_int_equal(LEDGER_ERR_USAGE, ctl_csv_parse(large, strlen(large), &csv, message));
    assert_string_equal("line 2: a field longer than 4096 bytes", message);
    assert_int_equal(0, csv.count);
    for (size_t i = 0; i < CTL_CSV_RECORDS_MAX + 1; i++) {
        memcpy(large + 2 * i, "a\n", 2);
    }
    assert_int_equal(LEDGER_ERR_USAGE, ctl_csv_parse(large, large_size - 1, &csv, message));
    assert_string_equal("line 1000001: more than 1000000 records", message);
    assert_int_equal(0, csv.count);
    free(large);
    /* Spaces and tabs around a quoted field, as written by hand ("a, b"),
     * are not part of it; inside the quotes they are. A field that is not
     * quoted keeps them (ctl_ops trims the values it reads). */
    const char *spaced = "a, \"x,1\" ,\t\" y \"\t\r\n \"say \"\"hi\"\"\" , b ,\"\"  \n";
    static const char *const spaced_fields[2][3] = {{"a", "x,1", " y "}, {"say \"hi\"", " b ", ""}};
    assert_int_equal(LEDGER_ERR_OK, ctl_csv_parse(spaced, strlen(spaced), &csv, message));
    assert_int_equal(2, csv.count);
    for (size_t r = 0; r < 2; r++) {
        assert_int_equal(3, csv.records[r].count);
        for (size_t f = 0; f < 3; f++) {
            assert_string_equal(spaced_fields[r][f], csv.records[r].fields[f]);
        }
    }
    ctl_csv_free(&csv);
    /* An empty text has no records. */
    assert_int_equal(LEDGER_ERR_OK, ctl_csv_parse("", 0, &csv, message));
    assert_int_equal(0, csv.count);
    ctl_csv_free(&csv);
}

static void test_ctl_ops_export_csv(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    char auditor[PATH_SIZE], billing[PATH_SIZE], month[16];
    demo_keys(fixture, auditor, billing, sizeof auditor);
    this_month(month);
    ctl(fixture, &run, "billing", billing, "--partner", "contoso", "--output", "csv", "export",
        "--month", month, NULL);
    expect_ok(&run);
    const char *header = "month,customer_id,order_id,charge_id,charge,amount,retail_amount,"
                         "currency,purchaser,bought_by,sequence,cloud_order_id\r\n";
    assert_memory_equal(header, run.out, strlen(header));
    /* Every line ends in CRLF; there is no bare LF. */
    size_t records = 0;
    for (const char *c = run.out; *c != '\0'; c++) {
        if (*c == '\n') {
            assert_true(c > run.out && c[-1] == '\r');
            records++;
        }
    }
    assert_true(records >= 5);
    /* Plain decimals and the currency in its own column; customer-bought
     * savings plans included. */
    assert_non_null(strstr(run.out, ",420.00,525.00,USD,customer,fabrikam-bob,"));
    assert_non_null(strstr(run.out, ",savings-plan,"));
    assert_non_null(strstr(run.out, ",refund,-"));
    run_free(&run);
    /* An export that does not reach its file (a full disk) fails, in
     * every format: a clerk must never get a truncated file and exit 0. */
    static const char *const formats[] = {"csv", "json", "table"};
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        fixture->stdout_path = "/dev/full";
        ctl(fixture, &run, "billing", billing, "--partner", "contoso", "--output", formats[i],
            "export", "--month", month, NULL);
        fixture->stdout_path = NULL;
        expect_error(&run, 1, "IO_ERROR");
        /* With the system's reason, whatever the format. */
        assert_non_null(strstr(run.err, "cannot write the output: No space left on device"));
        run_free(&run);
    }

    ctl(fixture, &run, "billing", billing, "--partner", "contoso", "--output", "json", "export",
        "--month", month, "--customer", "tailspin", NULL);
    expect_ok(&run);
    json_t *rows = json_object_get(run.json, "export");
    assert_true(json_array_size(rows) >= 1);
    for (size_t i = 0; i < json_array_size(rows); i++) {
        json_t *row = json_array_get(rows, i);
        assert_string_equal("tailspin", json_string_value(json_object_get(row, "customer_id")));
        assert_true(json_is_integer(json_object_get(row, "sequence")));
        assert_true(json_is_string(json_object_get(row, "amount")));
    }
    assert_string_equal(month, json_string_value(json_object_get(run.json, "month")));
    run_free(&run);

    ctl(fixture, &run, "billing", billing, "--partner", "contoso", "export", "--month", "2026-13",
        NULL);
    expect_error(&run, 2, "USAGE");
    run_free(&run);
    static const char *const page_rows_bad[] = {"0", "10001", "x"};
    for (size_t i = 0; i < sizeof page_rows_bad / sizeof page_rows_bad[0]; i++) {
        ctl(fixture, &run, "billing", billing, "--partner", "contoso", "export", "--month", month,
            "--page-rows", page_rows_bad[i], NULL);
        expect_error(&run, 2, "USAGE");
        assert_non_null(strstr(run.err, "--page-rows: "));
        /* 0 is below the bound; the others say what is wrong with them. */
        assert_true((strstr(run.err, "--page-rows: at least 1") != NULL) == (i == 0));
        run_free(&run);
    }
    ctl(fixture, &run, NULL, NULL, "export", "--help", NULL);
    expect_ok(&run);
    assert_non_null(strstr(run.out, "Example:"));
    run_free(&run);
    /* The general help lists the new verbs. */
    ctl(fixture, &run, NULL, NULL, "--help", NULL);
    expect_ok(&run);
    static const char *const verbs[] = {"\n  export ", "\n  reconcile ", "\n  verify ",
                                        "\n  backup ", "\n  explain "};
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++) {
        assert_non_null(strstr(run.out, verbs[i]));
    }
    run_free(&run);
    ctl(fixture, &run, NULL, NULL, "reconcile", "--month", month, NULL);
    expect_error(&run, 2, "USAGE");
    assert_non_null(strstr(run.err, "--invoice"));
    run_free(&run);
}

/* A month asked in pages of one row (billing, export, reconcile) is the
 * month asked in one reply, byte for byte. */
static void test_ctl_ops_pages(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    char auditor[PATH_SIZE], billing[PATH_SIZE], month[16];
    demo_keys(fixture, auditor, billing, sizeof auditor);
    this_month(month);
    static const char *const verbs[] = {"export", "billing"};
    static const char *const formats[] = {"csv", "json", "table"};
    for (size_t v = 0; v < 2; v++) {
        for (size_t f = 0; f < 3; f++) {
            ctl(fixture, &run, "billing", billing, "--partner", "contoso", "--output", formats[f],
                verbs[v], "--month", month, NULL);
            expect_ok(&run);
            char *whole = strdup(run.out);
            assert_non_null(whole);
            assert_true(strlen(whole) > 200);
            run_free(&run);
            ctl(fixture, &run, "billing", billing, "--partner", "contoso", "--output", formats[f],
                verbs[v], "--month", month, "--page-rows", "1", NULL);
            expect_ok(&run);
            assert_string_equal(whole, run.out);
            assert_null(strchr(run.err, '\r')); /* no bar: stderr is no terminal */
            run_free(&run);
            free(whole);
        }
    }
    /* reconcile reads its month in pages too: the export matches itself. */
    char invoice[PATH_SIZE + 32];
    snprintf(invoice, sizeof invoice, "%s/paged-invoice.csv", fixture->dir);
    ctl(fixture, &run, "billing", billing, "--partner", "contoso", "--output", "csv", "export",
        "--month", month, "--page-rows", "2", NULL);
    expect_ok(&run);
    write_text(invoice, run.out);
    run_free(&run);
    ctl(fixture, &run, "billing", billing, "--partner", "contoso", "reconcile", "--invoice",
        invoice, "--month", month, "--page-rows", "1", NULL);
    expect_ok(&run);
    run_free(&run);
}

/* An export pinned to a saved head's tree size reads the same rows however
 * much is committed later, and reconciles against itself; unpinned, the
 * month moves on. */
/* The head's tree size, as decimal digits into out (32 bytes). */
static void head_tree_size(struct fixture *fixture, const char *auditor, char *out)
{
    struct run run;
    ctl(fixture, &run, "auditor", auditor, "--output", "json", "head", NULL);
    expect_ok(&run);
    snprintf(out, 32, "%lld",
             (long long)json_integer_value(
                 json_object_get(json_object_get(run.json, "head"), "tree_size")));
    assert_true(strcmp(out, "0") != 0);
    run_free(&run);
}

/* Says, on stderr, the line an export or reconciliation in CSV or as a
 * table ends with: which tree it read. */
static void expect_tree_note(const struct run *run, const char *verb, const char *tree_size)
{
    char note[256];
    snprintf(note, sizeof note,
             "ledgerctl: %s read the month at tree size %s: the charges of events 1 to %s, none "
             "of a later event\n",
             verb, tree_size, tree_size);
    assert_string_equal(note, run->err);
}

static void test_ctl_ops_export_pinned_to_a_head(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    char auditor[PATH_SIZE], billing[PATH_SIZE], admin[PATH_SIZE + 32], month[16];
    char invoice[PATH_SIZE + 32], tree_size[32], later[32];
    demo_keys(fixture, auditor, billing, sizeof auditor);
    this_month(month);
    snprintf(admin, sizeof admin, "%s/ledger-demo-keys/contoso-admin.key", fixture->dir);
    snprintf(invoice, sizeof invoice, "%s/pinned.csv", fixture->dir);
    head_tree_size(fixture, auditor, tree_size);
    ctl(fixture, &run, "billing", billing, "--partner", "contoso", "--output", "csv", "export",
        "--month", month, "--tree-size", tree_size, NULL);
    expect_ok(&run);
    expect_tree_note(&run, "export", tree_size);
    char *pinned = strdup(run.out);
    write_text(invoice, run.out);
    run_free(&run);

    /* Later: another purchase this month. */
    ctl(fixture, &run, "contoso-admin", admin, "reservation", "buy", "--customer", "fabrikam",
        "--subscription", "fab-plan-1", "--sku", "Standard_B2ms", "--region", "westeurope",
        "--quantity", "1", "--term", "P1Y", "--billing", "upfront", "--scope", "shared", "--price",
        "77.00", "--retail-price", "88.00", "--currency", "USD", NULL);
    expect_ok(&run);
    run_free(&run);
    /* Unpinned, the month is read at the log's size, which each format
     * says: JSON in the document (the same over pages), CSV on stderr, its
     * output still the header and the rows. */
    head_tree_size(fixture, auditor, later);
    assert_string_not_equal(tree_size, later);
    ctl(fixture, &run, "billing", billing, "--partner", "contoso", "--output", "csv", "export",
        "--month", month, NULL);
    expect_ok(&run);
    assert_non_null(strstr(run.out, ",77.00,88.00,USD,"));
    assert_memory_equal("month,customer_id,", run.out, strlen("month,customer_id,"));
    expect_tree_note(&run, "export", later);
    run_free(&run);
    /* billing reads the same rows as export, and says the tree the same
     * way. */
    static const char *const billing_verbs[] = {"export", "billing"};
    for (size_t i = 0; i < sizeof billing_verbs / sizeof billing_verbs[0]; i++) {
        ctl(fixture, &run, "billing", billing, "--partner", "contoso", "--output", "json",
            billing_verbs[i], "--month", month, "--page-rows", "1", NULL);
        expect_ok(&run);
        assert_int_equal(strtoll(later, NULL, 10),
                         json_integer_value(json_object_get(run.json, "tree_size")));
        assert_string_equal("", run.err);
        run_free(&run);
    }
    ctl(fixture, &run, "billing", billing, "--partner", "contoso", "--output", "csv", "billing",
        "--month", month, NULL);
    expect_ok(&run);
    assert_non_null(strstr(run.out, ",77.00,USD,"));
    expect_tree_note(&run, "billing", later);
    run_free(&run);
    ctl(fixture, &run, "billing", billing, "--partner", "contoso", "billing", "--month", month,
        "--tree-size", tree_size, NULL);
    expect_ok(&run);
    expect_tree_note(&run, "billing", tree_size);
    run_free(&run);
    ctl(fixture, &run, "billing", billing, "--partner", "contoso", "--output", "csv", "export",
        "--month", month, "--tree-size", tree_size, NULL);
    expect_ok(&run);
    assert_string_equal(pinned, run.out);
    run_free(&run);
    ctl(fixture, &run, "billing", billing, "--partner", "contoso", "reconcile", "--invoice",
        invoice, "--month", month, "--tree-size", tree_size, NULL);
    expect_ok(&run);
    expect_tree_note(&run, "reconcile", tree_size);
    run_free(&run);
    ctl(fixture, &run, "billing", billing, "--partner", "contoso", "reconcile", "--invoice",
        invoice, "--month", month, NULL);
    expect_error(&run, 1, "MISMATCH");
    char mismatch[256];
    snprintf(mismatch, sizeof mismatch, "of %s (read at tree size %s)\n", month, later);
    assert_non_null(strstr(run.err, mismatch));
    run_free(&run);
    ctl(fixture, &run, "billing", billing, "--partner", "contoso", "--output", "json", "reconcile",
        "--invoice", invoice, "--month", month, NULL);
    expect_error(&run, 1, "MISMATCH");
    assert_int_equal(strtoll(later, NULL, 10),
                     json_integer_value(json_object_get(run.json, "tree_size")));
    run_free(&run);
    /* A tree size past the log, or 0, is refused. */
    ctl(fixture, &run, "billing", billing, "--partner", "contoso", "export", "--month", month,
        "--tree-size", "99999999", NULL);
    expect_error(&run, 1, "INVALID_ARGUMENT");
    assert_non_null(strstr(run.err, "past the log"));
    /* Without the log's size: not every role may read the head. */
    assert_null(strpbrk(strstr(run.err, "past the log"), "0123456789"));
    run_free(&run);
    ctl(fixture, &run, "billing", billing, "--partner", "contoso", "export", "--month", month,
        "--tree-size", "0", NULL);
    expect_error(&run, 2, "USAGE");
    assert_non_null(strstr(run.err, "--tree-size: a head's tree size, at least 1"));
    run_free(&run);
    /* One that is no number says so. */
    ctl(fixture, &run, "billing", billing, "--partner", "contoso", "export", "--month", month,
        "--tree-size", "x", NULL);
    expect_error(&run, 2, "USAGE");
    assert_non_null(strstr(run.err, "--tree-size: 'x' is not a whole number"));
    run_free(&run);
    free(pinned);
}

/* Onboards `customer` (named after itself) with the Azure plan
 * `subscription`, as the admin agent `admin` whose key file is `key`. */
static void add_customer_with_plan(struct fixture *fixture, const char *admin, const char *key,
                                   const char *customer, const char *subscription)
{
    struct run run;
    ctl(fixture, &run, admin, key, "customer", "add", "--customer", customer, "--name", customer,
        NULL);
    expect_ok(&run);
    run_free(&run);
    ctl(fixture, &run, admin, key, "subscription", "add", "--customer", customer, "--subscription",
        subscription, "--offer", "azure-plan", NULL);
    expect_ok(&run);
    run_free(&run);
}

/* Reconciles the export `exported` (holding the refund of both `ids`)
 * with that refund's charge id replaced by `charge_id`, and its amount by
 * `amount` unless NULL; returns the run, to free. */
static void reconcile_edited_refund(struct fixture *fixture, const char *key, const char *month,
                                    const char *exported, char ids[2][64], const char *charge_id,
                                    const char *amount, struct run *run)
{
    char quoted[200], invoice[PATH_SIZE + 32];
    snprintf(quoted, sizeof quoted, "\"%s,%s\",refund,", ids[0], ids[1]);
    const char *at = strstr(exported, quoted);
    assert_non_null(at);
    const char *rest = at + strlen(quoted);
    if (amount != NULL) {
        rest = strchr(rest, ',');
        assert_non_null(rest);
    }
    snprintf(invoice, sizeof invoice, "%s/refund-ids.csv", fixture->dir);
    FILE *file = fopen(invoice, "wb");
    assert_non_null(file);
    fprintf(file, "%.*s\"%s\",refund,%s%s", (int)(at - exported), exported, charge_id,
            amount != NULL ? amount : "", rest);
    fclose(file);
    ctl(fixture, run, "p-exp-admin", key, "--output", "json", "reconcile", "--invoice", invoice,
        "--month", month, NULL);
}

/* The refund of several reservations matches whatever the order of its ids
 * and the spaces after their commas; other ids do not. */
static void reconcile_refund_ids(struct fixture *fixture, const char *key, const char *month,
                                 const char *exported, char ids[2][64])
{
    struct run run;
    char reordered[160], repeated[160];
    snprintf(reordered, sizeof reordered, "%s, %s", ids[1], ids[0]);
    snprintf(repeated, sizeof repeated, "%s, %s", ids[1], ids[1]);
    reconcile_edited_refund(fixture, key, month, exported, ids, reordered, NULL, &run);
    expect_ok(&run);
    expect_differences(&run, NULL, 0);
    run_free(&run);
    /* A difference shows the id as the invoice wrote it. */
    reconcile_edited_refund(fixture, key, month, exported, ids, reordered, "-9.99", &run);
    expect_error(&run, 1, "MISMATCH");
    static const char *const differs[] = {"amount-differs"};
    expect_differences(&run, differs, 1);
    assert_string_equal(reordered, json_string_value(json_object_get(
                                       difference_of(&run, "amount-differs"), "charge_id")));
    run_free(&run);
    /* The same id twice is not the two ids. */
    reconcile_edited_refund(fixture, key, month, exported, ids, repeated, NULL, &run);
    expect_error(&run, 1, "MISMATCH");
    static const char *const apart[] = {"only-on-invoice", "only-in-ledger"};
    expect_differences(&run, apart, 2);
    run_free(&run);
}

/* An exchange of two reservations refunds both in one charge whose id is
 * "res-a,res-b": the export's CSV quotes that field, and a CSV reader gets
 * back exactly the values of the JSON export. Reconcile matches that id
 * written as "res-b, res-a" (and reports it so), but not other ids. */
static void test_ctl_ops_export_quotes_fields(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    char key[PATH_SIZE + 16], month[16];
    this_month(month);
    make_partner(fixture, "p-exp", "p-exp-admin", key, sizeof key);
    const char *const setup[][12] = {
        {"customer", "add", "--customer", "exp-c", "--name", "Exp"},
        {"subscription", "add", "--customer", "exp-c", "--subscription", "exp-plan", "--offer",
         "azure-plan"},
    };
    for (size_t i = 0; i < 2; i++) {
        const char *const *a = setup[i];
        ctl(fixture, &run, "p-exp-admin", key, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7],
            NULL);
        expect_ok(&run);
        run_free(&run);
    }
    char ids[2][64];
    for (int i = 0; i < 2; i++) {
        ctl(fixture, &run, "p-exp-admin", key, "--output", "json", "reservation", "buy",
            "--customer", "exp-c", "--subscription", "exp-plan", "--sku", "Standard_D2s_v5",
            "--region", "westeurope", "--quantity", "1", "--term", "P1Y", "--billing", "upfront",
            "--scope", "shared", "--price", "100.00", "--retail-price", "120.00", "--currency",
            "USD", NULL);
        expect_ok(&run);
        result_field(&run, "reservation_id", ids[i], sizeof ids[i]);
        run_free(&run);
    }
    char both[160];
    snprintf(both, sizeof both, "%s,%s", ids[0], ids[1]);
    ctl(fixture, &run, "p-exp-admin", key, "reservation", "exchange", "--customer", "exp-c",
        "--reservation", both, "--refund", "10.00", "--subscription", "exp-plan", "--sku",
        "Standard_E4s_v5", "--region", "westeurope", "--quantity", "1", "--term", "P3Y",
        "--billing", "upfront", "--scope", "shared", "--price", "500.00", "--retail-price",
        "600.00", "--currency", "USD", NULL);
    expect_ok(&run);
    run_free(&run);

    ctl(fixture, &run, "p-exp-admin", key, "--output", "csv", "export", "--month", month, NULL);
    expect_ok(&run);
    char quoted[200];
    snprintf(quoted, sizeof quoted, ",\"%s\",refund,", both);
    assert_non_null(strstr(run.out, quoted));
    struct ctl_csv csv;
    char message[CTL_MESSAGE_SIZE];
    assert_int_equal(LEDGER_ERR_OK, ctl_csv_parse(run.out, strlen(run.out), &csv, message));
    struct run json;
    ctl(fixture, &json, "p-exp-admin", key, "--output", "json", "export", "--month", month, NULL);
    expect_ok(&json);
    json_t *rows = json_object_get(json.json, "export");
    assert_int_equal(csv.count, json_array_size(rows) + 1); /* the header row */
    for (size_t r = 1; r < csv.count; r++) {
        const struct ctl_csv_record *record = &csv.records[r];
        json_t *row = json_array_get(rows, r - 1);
        for (size_t c = 0; c < csv.records[0].count; c++) {
            json_t *value = json_object_get(row, csv.records[0].fields[c]);
            if (json_is_string(value)) {
                assert_string_equal(json_string_value(value), record->fields[c]);
            }
        }
    }
    ctl_csv_free(&csv);
    run_free(&json);
    reconcile_refund_ids(fixture, key, month, run.out, ids);
    run_free(&run);
}

/* Splits a CSV text into its CRLF-terminated lines (no quoted newlines in
 * an export of the demo). */
static size_t split_lines(char *text, char **lines, size_t max)
{
    size_t count = 0;
    for (char *line = strtok(text, "\n"); line != NULL && count < max; line = strtok(NULL, "\n")) {
        lines[count++] = line; /* each still ends in \r */
    }
    return count;
}

/* The billing principal's CSV export of `month` (also written to `path`
 * unless NULL), split into its lines; returns the text they point into, to
 * free. */
static char *export_lines(struct fixture *fixture, const char *billing, const char *month,
                          const char *path, char **lines, size_t *count)
{
    struct run run;
    ctl(fixture, &run, "billing", billing, "--partner", "contoso", "--output", "csv", "export",
        "--month", month, NULL);
    expect_ok(&run);
    if (path != NULL) {
        write_text(path, run.out);
    }
    char *text = strdup(run.out);
    run_free(&run);
    *count = split_lines(text, lines, 256);
    return text;
}

/* The start of field `index` (0-based) of an unquoted CSV line. */
static const char *field_start(const char *line, int index)
{
    const char *start = line;
    for (int comma = 0; comma < index; comma++) {
        start = strchr(start, ',') + 1;
    }
    return start;
}

/* Prints `line` with field `index` (not its last) replaced by `value`. */
static void print_replacing(FILE *file, const char *line, int index, const char *value)
{
    const char *start = field_start(line, index);
    fprintf(file, "%.*s%s%s\n", (int)(start - line), line, value, strchr(start, ','));
}

static void test_ctl_ops_reconcile_known_mismatches(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    char auditor[PATH_SIZE], billing[PATH_SIZE], month[16];
    char invoice[PATH_SIZE + 32], edited[PATH_SIZE + 32];
    demo_keys(fixture, auditor, billing, sizeof auditor);
    this_month(month);
    snprintf(invoice, sizeof invoice, "%s/invoice.csv", fixture->dir);
    snprintf(edited, sizeof edited, "%s/edited.csv", fixture->dir);

    char *lines[256];
    size_t count = 0;
    char *export_text = export_lines(fixture, billing, month, invoice, lines, &count);

    /* The unmodified export reconciles. */
    ctl(fixture, &run, "billing", billing, "--partner", "contoso", "--output", "json", "reconcile",
        "--invoice", invoice, "--month", month, NULL);
    expect_ok(&run);
    expect_differences(&run, NULL, 0);
    assert_int_equal(json_int_at(run.json, "invoice_lines"), json_int_at(run.json, "matched"));
    run_free(&run);
    ctl(fixture, &run, "billing", billing, "--partner", "contoso", "reconcile", "--invoice",
        invoice, "--month", month, NULL);
    expect_ok(&run);
    assert_non_null(strstr(run.out, "no differences"));
    run_free(&run);

    /* Remove one line (the first charge), change one amount (the second)
     * and one currency (the third), add one line. */
    assert_true(count >= 4);
    FILE *file = fopen(edited, "wb");
    fprintf(file, "%s\n", lines[0]);
    /* lines[1] removed. */
    /* The amount is the 6th field of the export (no quoted fields in these
     * lines): make it 1.23 (or 4.56 if it was that). The currency is the
     * 8th: USD becomes EUR, anything else USD. */
    print_replacing(file, lines[2], 5,
                    strncmp(field_start(lines[2], 5), "1.23,", 5) == 0 ? "4.56" : "1.23");
    print_replacing(file, lines[3], 7,
                    strncmp(field_start(lines[3], 7), "USD,", 4) == 0 ? "EUR" : "USD");
    for (size_t i = 4; i < count; i++) {
        fprintf(file, "%s\n", lines[i]);
    }
    fprintf(file,
            "%s,fabrikam,ord-extra,\"res-x,res-y\",reservation,99.99,100.00,USD,partner,"
            "contoso-admin,,\r\n",
            month);
    fclose(file);
    ctl(fixture, &run, "billing", billing, "--partner", "contoso", "--output", "json", "reconcile",
        "--invoice", edited, "--month", month, NULL);
    expect_error(&run, 1, "MISMATCH");
    static const char *const kinds[] = {"only-in-ledger", "amount-differs", "currency-differs",
                                        "only-on-invoice"};
    expect_differences(&run, kinds, 4);
    json_t *currency = difference_of(&run, "currency-differs");
    assert_int_equal(3, json_int_at(currency, "invoice_line"));
    assert_string_not_equal(json_string_value(json_object_get(currency, "invoice_currency")),
                            json_string_value(json_object_get(currency, "ledger_currency")));
    json_t *extra = difference_of(&run, "only-on-invoice");
    assert_string_equal("res-x,res-y", json_string_value(json_object_get(extra, "charge_id")));
    assert_string_equal("99.99", json_string_value(json_object_get(extra, "invoice_amount")));
    assert_true(json_is_null(json_object_get(extra, "sequence")));
    json_t *differs = difference_of(&run, "amount-differs");
    assert_int_equal(2, json_int_at(differs, "invoice_line")); /* after the header */
    assert_true(json_int_at(differs, "sequence") > 0);
    json_t *missing = difference_of(&run, "only-in-ledger");
    assert_true(json_is_null(json_object_get(missing, "invoice_line")));
    run_free(&run);
    /* The table and CSV say the same; exit status 1 either way. */
    ctl(fixture, &run, "billing", billing, "--partner", "contoso", "--output", "csv", "reconcile",
        "--invoice", edited, "--month", month, NULL);
    expect_error(&run, 1, "MISMATCH");
    assert_non_null(strstr(run.out, "difference,customer_id,charge,charge_id"));
    assert_non_null(strstr(run.out, "\"res-x,res-y\""));
    run_free(&run);
    ctl(fixture, &run, "billing", billing, "--partner", "contoso", "reconcile", "--invoice", edited,
        "--month", month, NULL);
    expect_error(&run, 1, "MISMATCH");
    assert_non_null(strstr(run.err, "4 differences"));
    assert_non_null(strstr(run.out, "currency-differs"));
    assert_non_null(strstr(run.out, "only-on-invoice"));
    run_free(&run);
    free(export_text);
}

/* An invoice that splits one charge into two lines: matched as a whole
 * when the lines add up to the charge (same customer, charge and id, one
 * currency), else the first line differs in amount and the second is on
 * the invoice only. */
static void test_ctl_ops_reconcile_split_charge(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    char auditor[PATH_SIZE], billing[PATH_SIZE], month[16];
    char invoice[PATH_SIZE + 32], split[PATH_SIZE + 32];
    demo_keys(fixture, auditor, billing, sizeof auditor);
    this_month(month);
    snprintf(invoice, sizeof invoice, "%s/split-source.csv", fixture->dir);
    snprintf(split, sizeof split, "%s/split.csv", fixture->dir);
    char *lines[256];
    size_t count = 0;
    char *export_text = export_lines(fixture, billing, month, invoice, lines, &count);
    /* A purchase line of at least 2.00 with no quoted field. */
    size_t chosen = 0;
    long long whole = 0, cents = 0;
    for (size_t i = 1; i < count && chosen == 0; i++) {
        const char *charge = field_start(lines[i], 4);
        if (strchr(lines[i], '"') == NULL && strncmp(charge, "refund,", 7) != 0 &&
            sscanf(field_start(lines[i], 5), "%lld.%2lld,", &whole, &cents) == 2 && whole >= 2) {
            chosen = i;
        }
    }
    assert_true(chosen > 0);
    long long total = whole * 100 + cents;
    for (int wrong = 0; wrong < 2; wrong++) {
        char first[32], second[32];
        long long rest = total - 100 + (wrong ? 1 : 0);
        snprintf(first, sizeof first, "1.00");
        snprintf(second, sizeof second, "%lld.%02lld", rest / 100, rest % 100);
        FILE *file = fopen(split, "wb");
        assert_non_null(file);
        for (size_t i = 0; i < count; i++) {
            if (i == chosen) {
                print_replacing(file, lines[i], 5, first);
                print_replacing(file, lines[i], 5, second);
            } else {
                fprintf(file, "%s\n", lines[i]);
            }
        }
        assert_int_equal(fclose(file), 0);
        ctl(fixture, &run, "billing", billing, "--partner", "contoso", "--output", "json",
            "reconcile", "--invoice", split, "--month", month, NULL);
        if (!wrong) {
            expect_ok(&run);
            expect_differences(&run, NULL, 0);
            assert_int_equal(json_int_at(run.json, "invoice_lines"),
                             json_int_at(run.json, "matched"));
        } else {
            expect_error(&run, 1, "MISMATCH");
            static const char *const kinds[] = {"amount-differs", "only-on-invoice"};
            expect_differences(&run, kinds, 2);
            assert_string_equal(
                "1.00", json_string_value(json_object_get(difference_of(&run, "amount-differs"),
                                                          "invoice_amount")));
        }
        run_free(&run);
    }
    free(export_text);
}

/* Writes `text` to the invoice `path` and expects reconcile (with
 * --customer `customer`, if not NULL) to refuse it with USAGE, saying
 * `message`. */
static void expect_invoice_refused(struct fixture *fixture, const char *billing, const char *path,
                                   const char *month, const char *customer, const char *text,
                                   const char *message)
{
    struct run run;
    write_text(path, text);
    /* Without a customer, the arguments end at its NULL. */
    ctl(fixture, &run, "billing", billing, "--partner", "contoso", "reconcile", "--invoice", path,
        "--month", month, customer != NULL ? "--customer" : NULL, customer, NULL);
    expect_error(&run, 2, "USAGE");
    if (strstr(run.err, message) == NULL) {
        fail_msg("expected '%s' in '%s'", message, run.err);
    }
    run_free(&run);
}

static void test_ctl_ops_reconcile_invoice_format(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    char auditor[PATH_SIZE], billing[PATH_SIZE], month[16], path[PATH_SIZE + 32];
    demo_keys(fixture, auditor, billing, sizeof auditor);
    this_month(month);
    snprintf(path, sizeof path, "%s/tailspin-invoice.csv", fixture->dir);

    /* The ledger's tailspin charges, written as a reseller's invoice:
     * other column order, upper-case names (spaces around some), extra
     * columns, LF line ends, descriptions with commas, quotes and a
     * newline, spaces and tabs around some values (as written by hand),
     * also around a quoted one (an exchange's refund lists its ids quoted),
     * charge kinds capitalised. */
    ctl(fixture, &run, "billing", billing, "--partner", "contoso", "--output", "json", "export",
        "--month", month, "--customer", "tailspin", NULL);
    expect_ok(&run);
    json_t *rows = json_object_get(run.json, "export");
    assert_true(json_array_size(rows) >= 1);
    char *text = calloc(1, 65536);
    size_t used =
        (size_t)snprintf(text, 65536,
                         "Charge_Date, DESCRIPTION ,Customer_ID,Order_ID,Charge_ID,Charge,"
                         "Amount,\tCurrency,Region\n");
    for (size_t i = 0; i < json_array_size(rows); i++) {
        json_t *row = json_array_get(rows, i);
        used += (size_t)snprintf(
            text + used, 65536 - used,
            "%s-01,\"Reserved VM, \"\"1 year\"\"\nline two\",%s,%s, \"%s\" ,%c%s\t, %s ,\t%s,weu\n",
            month, json_string_value(json_object_get(row, "customer_id")),
            json_string_value(json_object_get(row, "order_id")),
            json_string_value(json_object_get(row, "charge_id")),
            toupper((unsigned char)json_string_value(json_object_get(row, "charge"))[0]),
            json_string_value(json_object_get(row, "charge")) + 1,
            json_string_value(json_object_get(row, "amount")),
            json_string_value(json_object_get(row, "currency")));
    }
    /* Another customer's line is ignored with --customer, also when
     * nothing but its customer could be read: an empty charge id, a charge,
     * amount and currency that are not ones, text in a local code page. */
    used += (size_t)snprintf(text + used, 65536 - used,
                             "%s-01,other,fabrikam,o,r,reservation,1.00,USD,weu\n"
                             "%s-01,other,fabrikam,o,,fee,1.005,usd,weu\n"
                             "%s-01,other,fabrikam,M\xfcller,r,Reservation,12;50,EUR,weu\n",
                             month, month, month);
    /* Blank rows, as a spreadsheet saves them, are ignored like empty
     * lines; so are rows of spaces and tabs only, as written by hand. */
    used += (size_t)snprintf(text + used, 65536 - used, ",,,,,,,,\n\n,,\n , ,\t, \n   \n");
    write_text(path, text);
    run_free(&run);
    ctl(fixture, &run, "billing", billing, "--partner", "contoso", "--output", "json", "reconcile",
        "--invoice", path, "--month", month, "--customer", "tailspin", NULL);
    expect_ok(&run);
    expect_differences(&run, NULL, 0);
    run_free(&run);

    /* Bad CSV: exit 2 with the line number; nothing is compared. */
    static const struct {
        const char *text;
        const char *message;
    } bad[] = {
        {"customer_id,charge_id,charge,amount,currency\nc,r,reservation,\"1.00,USD\n",
         "line 2: a quoted field is never closed"},
        {"customer_id,charge_id,charge,amount,currency\nc,r,reservation,1.00,USD\nc,r,x,1\n",
         "line 3: 4 fields where the header has 5"},
        {"customer_id,charge_id,charge,amount\nc,r,reservation,1.00\n", "no currency column"},
        {"customer_id,charge_id,charge,amount,currency\r\nc,r,reservation,1.005,USD\r\n",
         "line 2: amount:"},
        {"customer_id,charge_id,charge,amount,currency\nc,r,reservation,1.00,usd\n",
         "line 2: currency"},
        {"customer_id,charge_id,charge,amount,currency\nc,r,res\"x,1.00,USD\n",
         "line 2: a quote inside an unquoted field"},
        {"customer_id,charge_id,charge,amount,currency\nc,r,fee,1.00,USD\n",
         "line 2: charge 'fee' is not one of reservation, savings-plan, refund"},
        {"customer_id,charge_id,charge,amount,currency\nc,,reservation,1.00,USD\n",
         "line 2: charge_id is empty"},
        {"customer_id,charge_id,charge,amount,currency\rc,r,reservation,1.00,USD\r",
         "line 1: a carriage return without a line feed"},
        /* What spreadsheets save in other locales: said, with what to do. */
        {"customer_id;charge_id;charge;amount;currency\nc;r;reservation;1,00;USD\n",
         "separated by semicolons or tabs: save the file with commas"},
        {"\xff\xfe"
         "c",
         "is UTF-16 text"},
        {"\xfe\xff", "is UTF-16 text"}, /* big-endian, and nothing after its mark */
        {"", "is empty: it needs a header row"},
        {"customer_id,charge_id,charge,amount,currency,Customer_ID\nc,r,reservation,1.00,USD,c\n",
         "column customer_id twice"},
        {"customer_id,charge_id,charge,amount,currency\n,r,reservation,1.00,USD\n",
         "line 2: customer_id is empty"},
        /* A month written as a date must be a date. */
        {"customer_id,charge_id,charge,amount,currency,month\nc,r,reservation,1.00,USD,2026-02-"
         "30\n",
         "line 2: month '2026-02-30' is not YYYY-MM"},
        {"customer_id,charge_id,charge,amount,currency,month\nc,r,reservation,1.00,USD,2026-13\n",
         "line 2: month '2026-13' is not YYYY-MM"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        expect_invoice_refused(fixture, billing, path, month, NULL, bad[i].text, bad[i].message);
    }
    /* A line whose customer cannot be read is an error naming it, also with
     * --customer, which skips only the lines of another customer. */
    static const char *const unread[][2] = {
        {"customer_id,charge_id,charge,amount,currency\nc,r,fee,1.00\n",
         "line 2: 4 fields where the header has 5"},
        {"customer_id,charge_id,charge,amount,currency\n,r,fee,1.00,USD\n",
         "line 2: customer_id is empty"},
        {"customer_id,charge_id,charge,amount,currency\nM\xfcller,r,fee,1.00,USD\n",
         "line 2: customer_id is not UTF-8 text"},
    };
    for (size_t i = 0; i < sizeof unread / sizeof unread[0]; i++) {
        expect_invoice_refused(fixture, billing, path, month, "tailspin", unread[i][0],
                               unread[i][1]);
    }
    /* A header of one column names what is missing, and blames no
     * separator it does not hold. */
    write_text(path, "customer_id\nc\n");
    ctl(fixture, &run, "billing", billing, "--partner", "contoso", "reconcile", "--invoice", path,
        "--month", month, NULL);
    expect_error(&run, 2, "USAGE");
    assert_non_null(strstr(run.err, "the header row has no charge_id column"));
    assert_null(strstr(run.err, "semicolons"));
    run_free(&run);
    ctl(fixture, &run, "billing", billing, "--partner", "contoso", "reconcile", "--invoice",
        "no-such.csv", "--month", month, NULL);
    expect_error(&run, 1, "IO_ERROR");
    run_free(&run);
    /* A directory, or a file past 64 MiB (sparse: nothing is read). */
    char large[PATH_SIZE + 32];
    snprintf(large, sizeof large, "%s/large-invoice.csv", fixture->dir);
    FILE *sparse = fopen(large, "wb");
    assert_non_null(sparse);
    assert_int_equal(ftruncate(fileno(sparse), (off_t)64 * 1024 * 1024 + 1), 0);
    assert_int_equal(fclose(sparse), 0);
    const char *not_regular[] = {fixture->dir, large};
    const char *why[] = {"is not a regular file, a pipe or a FIFO",
                         "is larger than 64 MiB: split the invoice by customer"};
    for (size_t i = 0; i < 2; i++) {
        ctl(fixture, &run, "billing", billing, "--partner", "contoso", "reconcile", "--invoice",
            not_regular[i], "--month", month, NULL);
        expect_error(&run, 2, "USAGE");
        assert_non_null(strstr(run.err, why[i]));
        run_free(&run);
    }
    unlink(large);
    free(text);
}

/* An invoice line with no charge of its own (its id is a charge's id cut
 * short, so that it sorts just before that charge's line, at the same
 * amount) is on the invoice only: it never takes the next line's charge,
 * which still matches its own line. */
static void test_ctl_ops_reconcile_line_without_charge(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    char auditor[PATH_SIZE], billing[PATH_SIZE], month[16], invoice[PATH_SIZE + 32];
    demo_keys(fixture, auditor, billing, sizeof auditor);
    this_month(month);
    snprintf(invoice, sizeof invoice, "%s/line-without-charge.csv", fixture->dir);
    char *lines[256];
    size_t count = 0;
    char *export_text = export_lines(fixture, billing, month, NULL, lines, &count);
    size_t chosen = 0;
    for (size_t i = 1; i < count && chosen == 0; i++) {
        chosen = strchr(lines[i], '"') == NULL ? i : 0;
    }
    assert_true(chosen > 0);
    const char *id = field_start(lines[chosen], 3);
    char cut[64];
    int id_length = (int)(strchr(id, ',') - id);
    assert_true(id_length > 1 && id_length < (int)sizeof cut);
    snprintf(cut, sizeof cut, "%.*s", id_length - 1, id);
    FILE *file = fopen(invoice, "wb");
    assert_non_null(file);
    for (size_t i = 0; i < count; i++) {
        fprintf(file, "%s\n", lines[i]);
    }
    print_replacing(file, lines[chosen], 3, cut);
    assert_int_equal(fclose(file), 0);
    free(export_text);
    ctl(fixture, &run, "billing", billing, "--partner", "contoso", "--output", "json", "reconcile",
        "--invoice", invoice, "--month", month, NULL);
    expect_error(&run, 1, "MISMATCH");
    static const char *const kinds[] = {"only-on-invoice"};
    expect_differences(&run, kinds, 1);
    json_t *extra = difference_of(&run, "only-on-invoice");
    assert_string_equal(cut, json_string_value(json_object_get(extra, "charge_id")));
    assert_int_equal(count + 1, json_int_at(extra, "invoice_line"));
    assert_int_equal(count - 1, json_int_at(run.json, "matched"));
    run_free(&run);
}

/* Writes text as the invoice NAME in the fixture's directory (its path into
 * invoice), with the demo's billing key and this month beside it. */
static void invoice_write(struct fixture *fixture, const char *name, const char *text,
                          char invoice[PATH_SIZE + 32], char billing[PATH_SIZE], char month[16])
{
    char auditor[PATH_SIZE];
    demo_keys(fixture, auditor, billing, PATH_SIZE);
    this_month(month);
    snprintf(invoice, PATH_SIZE + 32, "%s/%s", fixture->dir, name);
    FILE *file = fopen(invoice, "wb");
    assert_non_null(file);
    fputs(text, file);
    assert_int_equal(fclose(file), 0);
}

/* The report's customer_id, charge_id and order_id are the invoice's as
 * written, free text from another party's file: in CSV one that a
 * spreadsheet would evaluate as a formula (=HYPERLINK can send the sheet's
 * cells to a URL) follows a single quote, and JSON keeps it as it was,
 * a string even when empty. */
static void test_ctl_ops_reconcile_csv_formula(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    char billing[PATH_SIZE], month[16], invoice[PATH_SIZE + 32];
    invoice_write(fixture, "formula.csv",
                  "customer_id,order_id,charge_id,charge,amount,currency\r\n"
                  "+fabrikam,\"=HYPERLINK(\"\"http://x.example/\"\"&A1,\"\"open\"\")\",@res-1,"
                  "reservation,-1.00,USD\r\n",
                  invoice, billing, month);
    ctl(fixture, &run, "billing", billing, "--partner", "contoso", "--output", "csv", "reconcile",
        "--invoice", invoice, "--month", month, NULL);
    expect_error(&run, 1, "MISMATCH");
    assert_non_null(strstr(run.out, "only-on-invoice,'+fabrikam,reservation,'@res-1,"
                                    "\"'=HYPERLINK(\"\"http://x.example/\"\"&A1,\"\"open\"\")\",2,"
                                    "-1.00,USD,,,,\r\n"));
    run_free(&run);
    ctl(fixture, &run, "billing", billing, "--partner", "contoso", "--output", "json", "reconcile",
        "--invoice", invoice, "--month", month, NULL);
    expect_error(&run, 1, "MISMATCH");
    json_t *extra = difference_of(&run, "only-on-invoice");
    assert_string_equal("+fabrikam", json_string_value(json_object_get(extra, "customer_id")));
    assert_string_equal("@res-1", json_string_value(json_object_get(extra, "charge_id")));
    assert_string_equal("=HYPERLINK(\"http://x.example/\"&A1,\"open\")",
                        json_string_value(json_object_get(extra, "order_id")));
    /* Text columns are strings, as export's are, also when empty: the
     * order_id of a savings plan's charge is "", not null (only the numbers
     * of a missing side are). */
    json_t *rows = json_object_get(run.json, "differences");
    static const char *const text[] = {"difference",       "customer_id",   "charge",
                                       "charge_id",        "order_id",      "invoice_amount",
                                       "invoice_currency", "ledger_amount", "ledger_currency"};
    size_t savings_plans = 0;
    for (size_t i = 0; i < json_array_size(rows); i++) {
        json_t *row = json_array_get(rows, i);
        for (size_t c = 0; c < sizeof text / sizeof text[0]; c++) {
            if (!json_is_string(json_object_get(row, text[c]))) {
                fail_msg("difference %zu: %s is not a string in %s", i, text[c], run.out);
            }
        }
        if (strcmp("savings-plan", json_string_value(json_object_get(row, "charge"))) == 0) {
            assert_string_equal("", json_string_value(json_object_get(row, "order_id")));
            savings_plans++;
        }
    }
    assert_true(savings_plans > 0);
    run_free(&run);
}

/* An invoice saved in a local code page (Windows-1252: "M\xfcller") is
 * not UTF-8: a field the report could show that is not UTF-8 text is a
 * usage error naming the line, the column and how to save the file, in
 * every format, never a report that cannot be written. */
static void test_ctl_ops_reconcile_not_utf8(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    char billing[PATH_SIZE], month[16], invoice[PATH_SIZE + 32];
    invoice_write(fixture, "cp1252.csv",
                  "customer_id,order_id,charge_id,charge,amount,currency,description\r\n"
                  "fabrikam,ord-1,res-x,reservation,1.00,USD,Gr\xfc\xdf"
                  "e\r\n"
                  "fabrikam,Bestellung M\xfcller,res-y,reservation,1.00,USD,\r\n",
                  invoice, billing, month);
    static const char *const formats[] = {"table", "json", "csv"};
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        ctl(fixture, &run, "billing", billing, "--partner", "contoso", "--output", formats[i],
            "reconcile", "--invoice", invoice, "--month", month, NULL);
        expect_error(&run, 2, "USAGE");
        assert_non_null(strstr(run.err, "line 3: order_id is not UTF-8"));
        assert_non_null(strstr(run.err, "save it as CSV UTF-8"));
        run_free(&run);
    }
}

/* Fields 1 (customer) to 3 (charge id) of an unquoted export line. */
static bool same_customer_and_id(const char *left, const char *right)
{
    const char *a = field_start(left, 1), *b = field_start(right, 1);
    size_t length = (size_t)(field_start(left, 4) - a);
    return length == (size_t)(field_start(right, 4) - b) && strncmp(a, b, length) == 0;
}

/* p-cloud-admin buys a P1Y reservation for cl-c at `price`, with the cloud
 * order id `cloud` ("": none); JSON output. Returns the run, to free. */
static void cloud_buy(struct fixture *fixture, const char *key, const char *price,
                      const char *cloud, struct run *run)
{
    const char *option = cloud[0] != '\0' ? "--cloud-order" : NULL; /* NULL ends the list */
    ctl(fixture, run, "p-cloud-admin", key, "--output", "json", "reservation", "buy", "--customer",
        "cl-c", "--subscription", "cl-plan", "--sku", "Standard_D2s_v5", "--region", "westeurope",
        "--quantity", "1", "--term", "P1Y", "--billing", "upfront", "--scope", "shared", "--price",
        price, "--retail-price", "300.00", "--currency", "USD", option, cloud, NULL);
}

/* A purchase bought with --cloud-order ID: a real invoice names the cloud's
 * ids, not the ledger's. Reconcile matches a line whose charge_id, or
 * whose order_id cell, is a charge's cloud order id; an unknown cloud id
 * and a wrong amount are still differences, and the export carries the
 * column. */
static void test_ctl_ops_reconcile_cloud_order_ids(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    char key[PATH_SIZE + 16], month[16], invoice[PATH_SIZE + 32];
    this_month(month);
    make_partner(fixture, "p-cloud", "p-cloud-admin", key, sizeof key);
    add_customer_with_plan(fixture, "p-cloud-admin", key, "cl-c", "cl-plan");
    /* A malformed cloud order id is refused before anything is sent. */
    cloud_buy(fixture, key, "100.00", "ro 100", &run);
    expect_error(&run, 2, "USAGE");
    assert_non_null(strstr(run.err, "--cloud-order"));
    run_free(&run);
    static const char *const cloud[] = {"ro-100", "ro-200", ""};
    static const char *const prices[] = {"100.00", "200.00", "50.00"};
    char ids[3][64];
    for (size_t i = 0; i < 3; i++) {
        cloud_buy(fixture, key, prices[i], cloud[i], &run);
        expect_ok(&run);
        result_field(&run, "reservation_id", ids[i], sizeof ids[i]);
        run_free(&run);
    }
    /* The reservations view shows it, and the billing view: the rows a
     * partner checks its invoice against. */
    static const char *const views[] = {"reservations", "billing"};
    for (size_t i = 0; i < sizeof views / sizeof views[0]; i++) {
        const char *month_option = i == 0 ? NULL : "--month"; /* NULL ends the list */
        ctl(fixture, &run, "p-cloud-admin", key, "--output", "csv", views[i], "--customer", "cl-c",
            month_option, month, NULL);
        expect_ok(&run);
        assert_non_null(strstr(run.out, ",cloud_order_id\r\n"));
        assert_non_null(strstr(run.out, ",ro-200\r\n"));
        run_free(&run);
    }
    ctl(fixture, &run, "p-cloud-admin", key, "--output", "json", "billing", "--month", month,
        "--customer", "cl-c", NULL);
    expect_ok(&run);
    assert_non_null(strstr(run.out, "\"cloud_order_id\": \"ro-100\""));
    run_free(&run);
    ctl(fixture, &run, "p-cloud-admin", key, "billing", "--month", month, "--customer", "cl-c",
        NULL);
    expect_ok(&run);
    assert_non_null(strstr(run.out, "CLOUD_ORDER"));
    run_free(&run);
    /* A cloud order id names one purchase of the partner. */
    cloud_buy(fixture, key, "100.00", "ro-100", &run);
    expect_error(&run, 1, "INVALID_ARGUMENT");
    assert_non_null(strstr(run.err, "cloud_order_id ro-100 was recorded with another purchase"));
    run_free(&run);
    ctl(fixture, &run, "p-cloud-admin", key, "--output", "json", "savings-plan", "buy",
        "--customer", "cl-c", "--subscription", "cl-plan", "--hourly-commitment", "0.10", "--term",
        "P1Y", "--billing", "upfront", "--scope", "shared", "--price", "876.00", "--retail-price",
        "900.00", "--currency", "USD", "--cloud-order", "spo-300", NULL);
    expect_ok(&run);
    char plan_id[64];
    result_field(&run, "savings_plan_id", plan_id, sizeof plan_id);
    run_free(&run);

    ctl(fixture, &run, "p-cloud-admin", key, "--output", "csv", "export", "--month", month, NULL);
    expect_ok(&run);
    char exported[160];
    snprintf(exported, sizeof exported, ",%s,reservation,100.00,300.00,USD,", ids[0]);
    assert_non_null(strstr(run.out, exported));
    assert_non_null(strstr(run.out, ",ro-100\r\n"));
    assert_non_null(strstr(run.out, ",savings-plan,876.00,900.00,USD,"));
    assert_non_null(strstr(run.out, ",spo-300\r\n"));
    run_free(&run);

    /* Line 2 names the cloud order in order_id, line 3 in charge_id (at
     * the wrong amount), line 4 the savings plan's; line 5 a cloud order
     * the ledger was never told, where it has a purchase without one. */
    char text[1024];
    snprintf(text, sizeof text,
             "customer_id,order_id,charge_id,charge,amount,currency\r\n"
             "cl-c,ro-100,cloud-res-1,reservation,100.00,USD\r\n"
             "cl-c,,ro-200,reservation,250.00,USD\r\n"
             "cl-c,spo-300,cloud-sp-1,savings-plan,876.00,USD\r\n"
             "cl-c,ro-999,cloud-res-9,reservation,50.00,USD\r\n");
    snprintf(invoice, sizeof invoice, "%s/cloud-ids.csv", fixture->dir);
    write_text(invoice, text);
    ctl(fixture, &run, "p-cloud-admin", key, "--output", "json", "reconcile", "--invoice", invoice,
        "--month", month, NULL);
    expect_error(&run, 1, "MISMATCH");
    static const char *const kinds[] = {"amount-differs", "only-on-invoice", "only-in-ledger"};
    expect_differences(&run, kinds, 3);
    assert_int_equal(2, json_int_at(run.json, "matched"));
    json_t *differs = difference_of(&run, "amount-differs");
    assert_string_equal("ro-200", json_string_value(json_object_get(differs, "charge_id")));
    assert_string_equal("ro-200", json_string_value(json_object_get(differs, "cloud_order_id")));
    assert_string_equal("200.00", json_string_value(json_object_get(differs, "ledger_amount")));
    assert_int_equal(3, json_int_at(differs, "invoice_line"));
    char seq[24];
    snprintf(seq, sizeof seq, "%lld", (long long)json_int_at(differs, "sequence"));
    struct run explained;
    char auditor_key[PATH_SIZE + 16];
    make_staff(fixture, "p-cloud", "p-cloud-auditor", "auditor", auditor_key, sizeof auditor_key);
    ctl(fixture, &explained, "p-cloud-auditor", auditor_key, "explain", "--seq", seq, NULL);
    expect_ok(&explained);
    assert_non_null(strstr(explained.out, "cloud order ro-200"));
    run_free(&explained);
    /* A savings plan's too: its id is sp-<sequence of its purchase>. */
    assert_int_equal(0, strncmp(plan_id, "sp-", 3));
    ctl(fixture, &explained, "p-cloud-auditor", auditor_key, "explain", "--seq", plan_id + 3, NULL);
    expect_ok(&explained);
    char plan_line[128];
    snprintf(plan_line, sizeof plan_line, "savings plan %s (cloud order spo-300), ", plan_id);
    assert_non_null(strstr(explained.out, plan_line));
    run_free(&explained);
    json_t *unknown = difference_of(&run, "only-on-invoice");
    assert_string_equal("cloud-res-9", json_string_value(json_object_get(unknown, "charge_id")));
    json_t *missing = difference_of(&run, "only-in-ledger");
    assert_string_equal(ids[2], json_string_value(json_object_get(missing, "charge_id")));
    assert_string_equal("", json_string_value(json_object_get(missing, "cloud_order_id")));
    run_free(&run);

    /* Corrected, and the purchase without a cloud id named by the
     * ledger's: no differences. */
    snprintf(text, sizeof text,
             "customer_id,order_id,charge_id,charge,amount,currency\r\n"
             "cl-c,ro-100,cloud-res-1,reservation,100.00,USD\r\n"
             "cl-c,,ro-200,reservation,200.00,USD\r\n"
             "cl-c,spo-300,cloud-sp-1,savings-plan,876.00,USD\r\n"
             "cl-c,,%s,reservation,50.00,USD\r\n",
             ids[2]);
    write_text(invoice, text);
    ctl(fixture, &run, "p-cloud-admin", key, "--output", "json", "reconcile", "--invoice", invoice,
        "--month", month, NULL);
    expect_ok(&run);
    expect_differences(&run, NULL, 0);
    assert_int_equal(4, json_int_at(run.json, "matched"));
    run_free(&run);
}

/* A refund written on the invoice as a purchase of the reservation it
 * refunds (same customer and id, another charge kind) is not that refund:
 * the line is on the invoice only and the refund in the ledger only, even
 * though the amounts agree. */
static void test_ctl_ops_reconcile_charge_kind(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    char auditor[PATH_SIZE], billing[PATH_SIZE], month[16], invoice[PATH_SIZE + 32];
    demo_keys(fixture, auditor, billing, sizeof auditor);
    this_month(month);
    snprintf(invoice, sizeof invoice, "%s/charge-kind.csv", fixture->dir);
    char *lines[256];
    size_t count = 0;
    char *export_text = export_lines(fixture, billing, month, NULL, lines, &count);
    size_t refund = 0;
    for (size_t i = 1; i < count && refund == 0; i++) {
        if (strchr(lines[i], '"') != NULL || strncmp(field_start(lines[i], 4), "refund,", 7) != 0) {
            continue;
        }
        for (size_t j = 1; j < count && refund == 0; j++) {
            if (strchr(lines[j], '"') == NULL &&
                strncmp(field_start(lines[j], 4), "reservation,", 12) == 0 &&
                same_customer_and_id(lines[i], lines[j])) {
                refund = i;
            }
        }
    }
    assert_true(refund > 0);
    FILE *file = fopen(invoice, "wb");
    assert_non_null(file);
    for (size_t i = 0; i < count; i++) {
        if (i == refund) {
            print_replacing(file, lines[i], 4, "reservation");
        } else {
            fprintf(file, "%s\n", lines[i]);
        }
    }
    assert_int_equal(fclose(file), 0);
    free(export_text);
    ctl(fixture, &run, "billing", billing, "--partner", "contoso", "--output", "json", "reconcile",
        "--invoice", invoice, "--month", month, NULL);
    expect_error(&run, 1, "MISMATCH");
    static const char *const kinds[] = {"only-on-invoice", "only-in-ledger"};
    expect_differences(&run, kinds, 2);
    assert_string_equal("reservation", json_string_value(json_object_get(
                                           difference_of(&run, "only-on-invoice"), "charge")));
    assert_string_equal("refund", json_string_value(json_object_get(
                                      difference_of(&run, "only-in-ledger"), "charge")));
    run_free(&run);
}

/* A month without charges: its export is the header alone, and an invoice
 * of no lines reconciles with it, nothing on either side. */
static void test_ctl_ops_reconcile_empty_month(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    char auditor[PATH_SIZE], billing[PATH_SIZE], invoice[PATH_SIZE + 32];
    demo_keys(fixture, auditor, billing, sizeof auditor);
    snprintf(invoice, sizeof invoice, "%s/empty-month.csv", fixture->dir);
    ctl(fixture, &run, "billing", billing, "--partner", "contoso", "--output", "csv", "export",
        "--month", "2020-01", NULL);
    expect_ok(&run);
    assert_string_equal("month,customer_id,order_id,charge_id,charge,amount,retail_amount,"
                        "currency,purchaser,bought_by,sequence,cloud_order_id\r\n",
                        run.out);
    write_text(invoice, run.out);
    run_free(&run);
    ctl(fixture, &run, "billing", billing, "--partner", "contoso", "--output", "json", "reconcile",
        "--invoice", invoice, "--month", "2020-01", NULL);
    expect_ok(&run);
    expect_differences(&run, NULL, 0);
    assert_int_equal(0, json_int_at(run.json, "invoice_lines"));
    assert_int_equal(0, json_int_at(run.json, "ledger_charges"));
    assert_int_equal(0, json_int_at(run.json, "matched"));
    run_free(&run);
}

/* Forks a child that opens the FIFO at path for writing and writes text to
 * it `times` times (a bounded writer of a large invoice); returns its pid.
 * The child ignores SIGPIPE: a reader that stops early ends it. */
static pid_t fifo_writer(const char *path, const char *text, size_t times)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGPIPE, SIG_IGN);
        int fd = open(path, O_WRONLY);
        size_t length = strlen(text);
        for (size_t i = 0; fd >= 0 && i < times; i++) {
            for (size_t done = 0; done < length;) {
                ssize_t wrote = write(fd, text + done, length - done);
                if (wrote <= 0) {
                    _exit(0);
                }
                done += (size_t)wrote;
            }
        }
        _exit(0);
    }
    return pid;
}

/* Makes the file at path this process's stdin, which the ledgerctl it
 * runs inherits. */
static void stdin_from(const char *path)
{
    int input = open(path, O_RDONLY);
    assert_true(input >= 0);
    assert_int_equal(STDIN_FILENO, dup2(input, STDIN_FILENO));
    close(input);
}

static void fifo_writer_end(pid_t pid)
{
    int status;
    kill(pid, SIGKILL); /* a writer whose reader never came */
    assert_int_equal(pid, waitpid(pid, &status, 0));
}

/* An invoice is read from a pipe or FIFO (bash's <(...)) and from stdin
 * (--invoice -) as from a file, within the same bound: past 64 MiB it is a
 * usage error, told after reading one byte more and not the rest. */
static void test_ctl_ops_reconcile_invoice_from_pipe(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    char auditor[PATH_SIZE], billing[PATH_SIZE], month[16];
    char fifo[PATH_SIZE + 32], file[PATH_SIZE + 32];
    demo_keys(fixture, auditor, billing, sizeof auditor);
    this_month(month);
    snprintf(fifo, sizeof fifo, "%s/invoice.fifo", fixture->dir);
    snprintf(file, sizeof file, "%s/invoice-stdin.csv", fixture->dir);
    assert_int_equal(0, mkfifo(fifo, 0600));
    char *lines[256];
    size_t count = 0;
    free(export_lines(fixture, billing, month, file, lines, &count));
    assert_true(count >= 2);
    char *invoice = read_file(file);

    /* The export, through a FIFO: every charge matches. */
    pid_t writer = fifo_writer(fifo, invoice, 1);
    ctl(fixture, &run, "billing", billing, "--partner", "contoso", "--output", "json", "reconcile",
        "--invoice", fifo, "--month", month, NULL);
    fifo_writer_end(writer);
    expect_ok(&run);
    expect_differences(&run, NULL, 0);
    assert_true(json_int_at(run.json, "invoice_lines") >= 1);
    assert_int_equal(json_int_at(run.json, "invoice_lines"), json_int_at(run.json, "matched"));
    run_free(&run);

    /* From stdin, named so in messages. */
    int saved = dup(STDIN_FILENO);
    assert_true(saved >= 0);
    stdin_from(file);
    ctl(fixture, &run, "billing", billing, "--partner", "contoso", "--output", "json", "reconcile",
        "--invoice", "-", "--month", month, NULL);
    expect_ok(&run);
    expect_differences(&run, NULL, 0);
    run_free(&run);
    write_text(file,
               "customer_id,charge_id,charge,amount,currency\nfabrikam,res-1,lease,1.00,USD\n");
    stdin_from(file);
    ctl(fixture, &run, "billing", billing, "--partner", "contoso", "reconcile", "--invoice", "-",
        "--month", month, NULL);
    expect_error(&run, 2, "USAGE");
    assert_non_null(strstr(run.err, "--invoice: stdin: line 2"));
    run_free(&run);
    /* A stdin that cannot be read (closed: <&-) is a failure to read it. */
    close(STDIN_FILENO);
    ctl(fixture, &run, "billing", billing, "--partner", "contoso", "reconcile", "--invoice", "-",
        "--month", month, NULL);
    assert_int_equal(STDIN_FILENO, dup2(saved, STDIN_FILENO));
    close(saved);
    expect_error(&run, 1, "IO_ERROR");
    assert_string_equal("error: IO_ERROR: cannot read stdin: Bad file descriptor\n", run.err);
    run_free(&run);

    /* One byte past 64 MiB through the FIFO: refused, whatever else comes. */
    size_t chunk_bytes = 1024 * 1024;
    char *chunk = malloc(chunk_bytes + 1);
    assert_non_null(chunk);
    memset(chunk, 'a', chunk_bytes);
    chunk[chunk_bytes] = '\0';
    writer = fifo_writer(fifo, chunk, 65);
    ctl(fixture, &run, "billing", billing, "--partner", "contoso", "reconcile", "--invoice", fifo,
        "--month", month, NULL);
    fifo_writer_end(writer);
    expect_error(&run, 2, "USAGE");
    assert_non_null(strstr(run.err, "is larger than 64 MiB: split the invoice by customer"));
    run_free(&run);
    free(chunk);
    free(invoice);
    unlink(fifo);
}

/* An invoice with a month column (as export writes it): a line of another
 * month is reported as other-month, never compared with this month's
 * charges (a monthly instalment has the same amount every month), and a
 * month that is not YYYY-MM is a usage error naming the line. */
static void test_ctl_ops_reconcile_other_month(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    char auditor[PATH_SIZE], billing[PATH_SIZE], month[16], previous[32];
    char invoice[PATH_SIZE + 32];
    demo_keys(fixture, auditor, billing, sizeof auditor);
    this_month(month);
    int year = atoi(month), number = atoi(month + 5);
    snprintf(previous, sizeof previous, "%04d-%02d", (number == 1 ? year - 1 : year) % 10000,
             number == 1 ? 12 : (number - 1) % 100);
    snprintf(invoice, sizeof invoice, "%s/other-month.csv", fixture->dir);

    char *lines[256];
    size_t count = 0;
    char *export_text = export_lines(fixture, billing, month, NULL, lines, &count);
    assert_true(count >= 3);
    FILE *file = fopen(invoice, "wb");
    fprintf(file, "%s\n", lines[0]);
    print_replacing(file, lines[1], 0, previous); /* the first charge, dated a month earlier */
    if (count >= 4) { /* a date in this month (a spreadsheet's, spaced by hand) is this month */
        char date[40];
        snprintf(date, sizeof date, " %s-28 ", month);
        print_replacing(file, lines[2], 0, date);
    }
    for (size_t i = count >= 4 ? 3 : 2; i < count; i++) {
        fprintf(file, "%s\n", lines[i]);
    }
    fclose(file);
    free(export_text);
    ctl(fixture, &run, "billing", billing, "--partner", "contoso", "--output", "json", "reconcile",
        "--invoice", invoice, "--month", month, NULL);
    expect_error(&run, 1, "MISMATCH");
    static const char *const kinds[] = {"other-month", "only-in-ledger"};
    expect_differences(&run, kinds, 2);
    assert_int_equal(2, json_int_at(difference_of(&run, "other-month"), "invoice_line"));
    assert_int_equal(count - 2, json_int_at(run.json, "invoice_lines"));
    run_free(&run);

    write_text(invoice, "customer_id,charge_id,charge,amount,currency,month\n"
                        "c,r,reservation,1.00,USD,2026-1\n");
    ctl(fixture, &run, "billing", billing, "--partner", "contoso", "reconcile", "--invoice",
        invoice, "--month", month, NULL);
    expect_error(&run, 2, "USAGE");
    assert_non_null(strstr(run.err, "line 2: month '2026-1' is not YYYY-MM"));
    run_free(&run);
}

/* A feed's files in the fixture's directory: FILE (created empty) and
 * its checkpoint, with the demo's billing key that reads it. */
struct feed_files {
    char billing[PATH_SIZE];
    char feed[PATH_SIZE + 32];
    char checkpoint[PATH_SIZE + 32];
};

static void feed_files_make(struct fixture *fixture, const char *file, const char *checkpoint,
                            struct feed_files *files)
{
    char auditor[PATH_SIZE];
    demo_keys(fixture, auditor, files->billing, sizeof files->billing);
    snprintf(files->feed, sizeof files->feed, "%s/%s", fixture->dir, file);
    snprintf(files->checkpoint, sizeof files->checkpoint, "%s/%s", fixture->dir, checkpoint);
    write_text(files->feed, "");
}

/* The sequences of the JSON events in TEXT, one a line, in order (up to
 * max; lines that are no JSON document are passed over); returns their
 * count. TEXT is cut up. */
static size_t sequences_of(char *text, uint64_t *out, size_t max)
{
    size_t count = 0;
    for (char *line = strtok(text, "\n"); line != NULL && count < max; line = strtok(NULL, "\n")) {
        json_t *event = json_loads(line, 0, NULL);
        if (event != NULL) {
            out[count++] = (uint64_t)json_int_at(event, "sequence");
            json_decref(event);
        }
    }
    return count;
}

/* Runs the billing principal's `events --limit LIMIT --checkpoint
 * CHECKPOINT` in FORMAT, its stdout appended to OUT. */
static void feed_events(struct fixture *fixture, const char *billing, const char *out,
                        const char *format, const char *limit, const char *checkpoint,
                        struct run *run)
{
    fixture->stdout_path = out;
    ctl(fixture, run, "billing", billing, "--partner", "contoso", "--output", format, "events",
        "--limit", limit, "--checkpoint", checkpoint, NULL);
    fixture->stdout_path = NULL;
}

/* A CSV feed started again with >> FILE goes on in FILE without a second
 * header record in its middle; a fresh output gets the header. A feed
 * whose output fails leaves its checkpoint where it was, and one started
 * again after a line cut short removes that line and prints its record
 * where it began. */
static void test_ctl_ops_events_csv_appended(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    struct feed_files files;
    feed_files_make(fixture, "feed.csv", "feed.checkpoint", &files);
    const char *billing = files.billing, *feed = files.feed, *checkpoint = files.checkpoint;
    for (int i = 0; i < 2; i++) {
        feed_events(fixture, billing, feed, "csv", "2", checkpoint, &run);
        expect_ok(&run);
        run_free(&run);
    }
    char *text = read_file(feed);
    const char *header = "sequence,recorded,business,type,";
    assert_memory_equal(header, text, strlen(header));
    assert_null(strstr(text + 1, header));
    size_t records = 0;
    for (const char *c = text; *c != '\0'; c++) {
        records += *c == '\n';
    }
    assert_int_equal(5, records); /* the header and four events */
    free(text);
    /* An event that did not reach the output is never checkpointed: the
     * feed fails and the checkpoint stays where it was. */
    char *before = read_file(checkpoint);
    assert_true(strlen(before) > 0);
    feed_events(fixture, billing, "/dev/full", "json", "2", checkpoint, &run);
    expect_error(&run, 1, "IO_ERROR");
    assert_non_null(strstr(run.err, "cannot write the output: No space left on device"));
    run_free(&run);
    text = read_file(checkpoint);
    assert_string_equal(before, text);
    free(text);
    free(before);
    /* A feed cut off in the middle of a line (the full disk, or a crash
     * before the line reached the disk) removes it: the next event's
     * record begins where it began, whole. */
    text = read_file(feed);
    size_t whole = strlen(text);
    free(text);
    FILE *cut = fopen(feed, "ab");
    fputs("12,2026-", cut);
    fclose(cut);
    feed_events(fixture, billing, feed, "csv", "1", checkpoint, &run);
    expect_ok(&run);
    assert_non_null(strstr(run.err, "warning: removed the cut line at the end of "));
    run_free(&run);
    text = read_file(feed);
    const char *next = text + whole;
    assert_true(next[0] >= '1' && next[0] <= '9');
    assert_ptr_equal(next + strlen(next) - 2, strstr(next, "\r\n")); /* one record, whole */
    free(text);
}

/* A CSV feed is appended to a file only under the header record it writes
 * itself: a feed of an older build (without the business column), one
 * with the proof columns, or another output would get records that do not
 * line up with its columns. It is refused as a usage error naming the
 * file, before anything is asked, the file and the checkpoint untouched. */
static void test_ctl_ops_events_csv_other_header(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    struct feed_files files;
    feed_files_make(fixture, "old-feed.csv", "old-feed.checkpoint", &files);
    static const char *const firsts[] = {
        "sequence,recorded,type,partner_id,customer_id,actor,command_id\r\n"
        "1,2026-03-01T09:30:00.000000Z,partner_registered,contoso,,operator,c-1\r\n",
        "sequence,recorded,business,type,partner_id,customer_id,actor,command_id,"
        "proof_tree_size,proof_leaf_hash,proof_path\r\n",
        "{\"type\": \"partner_registered\", \"sequence\": 1}\n",
        "sequence,recorded,type,part", /* an older build's header, cut */
    };
    for (size_t i = 0; i < sizeof firsts / sizeof firsts[0]; i++) {
        write_text(files.feed, firsts[i]);
        feed_events(fixture, files.billing, files.feed, "csv", "2", files.checkpoint, &run);
        expect_error(&run, 2, "USAGE");
        assert_non_null(strstr(run.err, files.feed));
        assert_non_null(strstr(run.err, "sequence,recorded,business,type,partner_id,customer_id,"
                                        "actor,command_id)"));
        assert_non_null(strstr(run.err, "append the feed to a new file instead (--checkpoint "
                                        "resumes it there)"));
        run_free(&run);
        char *text = read_file(files.feed);
        assert_string_equal(firsts[i], text);
        free(text);
        assert_int_equal(-1, access(files.checkpoint, F_OK));
    }
    /* The same header goes on, without a second one. */
    const char *header =
        "sequence,recorded,business,type,partner_id,customer_id,actor,command_id\r\n";
    write_text(files.feed, header);
    feed_events(fixture, files.billing, files.feed, "csv", "2", files.checkpoint, &run);
    expect_ok(&run);
    run_free(&run);
    char *text = read_file(files.feed);
    assert_memory_equal(header, text, strlen(header));
    assert_null(strstr(text + 1, header));
    free(text);
}

/* Runs the billing principal's `events` in FORMAT (with --proofs when
 * proofs) with the options that follow (NULL-terminated, at most four), its
 * stdout appended to OUT. */
static void feed_run(struct fixture *fixture, const char *billing, const char *out,
                     const char *format, bool proofs, struct run *run, ...)
{
    const char *options[5] = {NULL};
    size_t count = 0;
    va_list args;
    va_start(args, run);
    while (count < 4 && (options[count] = va_arg(args, const char *)) != NULL) {
        count++;
    }
    va_end(args);
    options[count] = proofs ? "--proofs" : NULL;
    fixture->stdout_path = out;
    ctl(fixture, run, "billing", billing, "--partner", "contoso", "--output", format, "events",
        options[0], options[1], options[2], options[3], options[4], NULL);
    fixture->stdout_path = NULL;
}

/* The offset just after the count-th line end of text (its length when it
 * has fewer). */
static size_t lines_end(const char *text, size_t count)
{
    const char *at = text;
    for (size_t i = 0; i < count && at != NULL; i++) {
        at = strchr(at, '\n');
        at = at != NULL ? at + 1 : NULL;
    }
    return at != NULL ? (size_t)(at - text) : strlen(text);
}

static void write_bytes(const char *path, const char *bytes, size_t size)
{
    FILE *file = fopen(path, "wb");
    assert_non_null(file);
    assert_int_equal(size, fwrite(bytes, 1, size, file));
    assert_int_equal(0, fclose(file));
}

/* What a feed of the first LIMIT events that was never cut off prints in
 * FORMAT (with --proofs when proofs): malloc'd, free with free(). */
static char *feed_whole(struct fixture *fixture, const char *billing, const char *format,
                        const char *limit, bool proofs)
{
    struct run run;
    ctl(fixture, &run, "billing", billing, "--partner", "contoso", "--output", format, "events",
        "--limit", limit, proofs ? "--proofs" : NULL, NULL);
    expect_ok(&run);
    char *whole = run.out;
    run.out = NULL;
    run_free(&run);
    return whole;
}

/* FEED holds the first size bytes of whole, and nothing else. */
static void expect_feed(const char *feed, const char *whole, size_t size)
{
    char *text = read_file(feed);
    assert_int_equal(size, strlen(text));
    assert_memory_equal(whole, text, size);
    free(text);
}

/* The warning a feed gives for the cut line it removed from FEED. */
static void expect_cut_warning(const struct run *run, const char *feed, size_t removed,
                               const char *checkpoint)
{
    char warning[3 * PATH_SIZE];
    snprintf(warning, sizeof warning,
             "warning: removed the cut line at the end of %s (its last %zu bytes, after its last "
             "line end: the feed was cut off there by a full disk or a crash); %s%s\n",
             feed, removed,
             checkpoint != NULL
                 ? "its event is printed again, whole, after the sequence of the checkpoint file "
                 : "without --checkpoint its event is printed again only if --from reaches back "
                   "to it: restart the consumer from the sequence after the file's last whole "
                   "line",
             checkpoint != NULL ? checkpoint : "");
    if (strstr(run->err, warning) == NULL) {
        fail_msg("expected '%s' on stderr, got '%s'", warning, run->err);
    }
}

/* A feed cut off inside its last record (a full disk, or a crash before
 * the record reached the disk, after the checkpoint named the records
 * before it) and started again with the same --checkpoint removes the cut
 * record, syncs that, and prints its event again, whole: the file is then
 * what one feed that was never cut off prints, each event once, in CSV (cut
 * inside the command_id column; with --proofs inside proof_path) and in
 * JSON lines. So is a CSV file that holds only a cut header record, or the
 * header and a cut first record. stderr names the file, the bytes removed
 * and the checkpoint. */
static void test_ctl_ops_events_cut_record_removed(void **state)
{
    struct fixture *fixture = *state;
    static const struct {
        const char *file, *format;
        bool proofs;
    } feeds[] = {
        {"cut.csv", "csv", false},
        {"cut-proofs.csv", "csv", true},
        {"cut.jsonl", "json", false},
    };
    for (size_t f = 0; f < sizeof feeds / sizeof feeds[0]; f++) {
        struct run run;
        struct feed_files files;
        char checkpoint_name[64];
        snprintf(checkpoint_name, sizeof checkpoint_name, "%s.checkpoint", feeds[f].file);
        feed_files_make(fixture, feeds[f].file, checkpoint_name, &files);
        bool csv = strcmp(feeds[f].format, "csv") == 0;
        char *whole = feed_whole(fixture, files.billing, feeds[f].format, "4", feeds[f].proofs);
        size_t header = csv ? lines_end(whole, 1) : 0;
        size_t first_two = lines_end(whole, csv ? 3 : 2);
        size_t first_three = lines_end(whole, csv ? 4 : 3);
        assert_true(first_three > first_two + 8 && first_three < strlen(whole));

        /* Two events printed and checkpointed, then the third cut off a
         * few bytes before its end: inside its last field. */
        feed_run(fixture, files.billing, files.feed, feeds[f].format, feeds[f].proofs, &run,
                 "--limit", "2", "--checkpoint", files.checkpoint, NULL);
        expect_ok(&run);
        run_free(&run);
        expect_feed(files.feed, whole, first_two);
        size_t cut = first_three - 4;
        write_bytes(files.feed, whole, cut);
        feed_run(fixture, files.billing, files.feed, feeds[f].format, feeds[f].proofs, &run,
                 "--limit", "2", "--checkpoint", files.checkpoint, NULL);
        expect_ok(&run);
        expect_cut_warning(&run, files.feed, cut - first_two, files.checkpoint);
        run_free(&run);
        expect_feed(files.feed, whole, strlen(whole)); /* each event once, all whole */

        if (csv && !feeds[f].proofs) {
            /* A file that holds only a cut header record gets the header
             * again; one that holds the header and a cut first record
             * keeps the header. Neither has a checkpoint yet. */
            const size_t cuts[] = {header - 7, header - 1, lines_end(whole, 2) - 4};
            for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
                assert_int_equal(0, unlink(files.checkpoint));
                write_bytes(files.feed, whole, cuts[c]);
                feed_run(fixture, files.billing, files.feed, "csv", false, &run, "--limit", "2",
                         "--checkpoint", files.checkpoint, NULL);
                expect_ok(&run);
                size_t kept = cuts[c] < header ? 0 : header;
                expect_cut_warning(&run, files.feed, cuts[c] - kept, files.checkpoint);
                run_free(&run);
                expect_feed(files.feed, whole, first_two);
            }
        }
        free(whole);
    }
}

/* A feed without --checkpoint removes a cut line all the same and says
 * that only --from brings its event back; one refused for its checkpoint's
 * lock (another feed on it) leaves the cut line alone; one whose stdout
 * cannot be cut back (opened for reading only) is refused with IO_ERROR
 * saying what to do, the file and the checkpoint left as they were; a last
 * line that does not begin as the feed's lines do is not taken for a cut
 * one: USAGE before anything is asked, the file left as it was. */
static void test_ctl_ops_events_cut_line_kept(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    struct feed_files files;
    feed_files_make(fixture, "kept.jsonl", "kept.checkpoint", &files);
    char *whole = feed_whole(fixture, files.billing, "json", "3", false);
    size_t one = lines_end(whole, 1), two = lines_end(whole, 2);
    uint64_t sequences[3];
    char *copy = strdup(whole);
    assert_int_equal(3, sequences_of(copy, sequences, 3));
    free(copy);
    char from[24];
    snprintf(from, sizeof from, "%llu", (unsigned long long)sequences[1]);

    write_bytes(files.feed, whole, two - 6);
    feed_run(fixture, files.billing, files.feed, "json", false, &run, "--from", from, "--limit",
             "1", NULL);
    expect_ok(&run);
    expect_cut_warning(&run, files.feed, two - 6 - one, NULL);
    run_free(&run);
    expect_feed(files.feed, whole, two);

    /* Checkpointed after the second event, the third cut off; stdout
     * opened for reading only cannot be cut back. */
    assert_int_equal(LEDGER_ERR_OK, ledger_checkpoint_write(files.checkpoint, sequences[1]));
    size_t three = lines_end(whole, 3);
    write_bytes(files.feed, whole, three - 5);
    char *checkpoint_before = read_file(files.checkpoint);
    /* While another feed holds the checkpoint (and writes into the file,
     * perhaps in the middle of a line), the file is not touched. */
    char lock_path[PATH_SIZE + 48];
    snprintf(lock_path, sizeof lock_path, "%s.lock", files.checkpoint);
    int lock = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    assert_true(lock >= 0);
    assert_int_equal(0, flock(lock, LOCK_EX | LOCK_NB));
    feed_run(fixture, files.billing, files.feed, "json", false, &run, "--checkpoint",
             files.checkpoint, NULL);
    expect_error(&run, 1, "IO_ERROR");
    assert_non_null(strstr(run.err, "is in use by another subscriber"));
    run_free(&run);
    close(lock);
    expect_feed(files.feed, whole, three - 5);
    fixture->stdout_read_only = true;
    feed_run(fixture, files.billing, files.feed, "json", false, &run, "--checkpoint",
             files.checkpoint, NULL);
    fixture->stdout_read_only = false;
    char says[3 * PATH_SIZE];
    snprintf(says, sizeof says,
             "error: IO_ERROR: cannot remove the cut line at the end of %s (its last %zu bytes, "
             "after its last line end): it is not open for writing; nothing was printed and the "
             "checkpoint was left as it was: append the feed to a file it may cut back, opened "
             "for writing (>> FILE), or remove those bytes yourself (truncate -s %zu FILE) and "
             "run it again\n",
             files.feed, three - 5 - two, two);
    if (run.status != 1 || strncmp(run.err, says, strlen(says)) != 0) {
        fail_msg("expected exit 1 and '%s', got exit %d and '%s'", says, run.status, run.err);
    }
    run_free(&run);
    expect_feed(files.feed, whole, three - 5);
    char *text = read_file(files.checkpoint);
    assert_string_equal(checkpoint_before, text);
    free(text);
    free(checkpoint_before);

    /* Not a line of this feed: left as it is. */
    write_text(files.feed, "{\"type\": \"a\"}\nnotes, not events");
    assert_int_equal(0, unlink(files.checkpoint));
    feed_run(fixture, files.billing, files.feed, "json", false, &run, "--checkpoint",
             files.checkpoint, NULL);
    expect_error(&run, 2, "USAGE");
    assert_non_null(strstr(run.err, files.feed));
    assert_non_null(strstr(run.err, "ends in 17 bytes after its last line end that do not begin "
                                    "as a line of this feed does"));
    run_free(&run);
    text = read_file(files.feed);
    assert_string_equal("{\"type\": \"a\"}\nnotes, not events", text);
    free(text);
    assert_int_equal(-1, access(files.checkpoint, F_OK));
    free(whole);
}

/* fdatasync is wrapped in this test (--wrap, tests/CMakeLists.txt): a feed
 * syncs its output through it (ctl_output_sync) before it writes its
 * checkpoint, so a feed run by ctl_main in this process shows how often it
 * syncs, what its checkpoint named at each sync, and what a failed sync
 * leaves behind. Nothing else in this program calls fdatasync. */
int __real_fdatasync(int fd);
int __wrap_fdatasync(int fd);

#define FEED_SYNCS_MAX 16

/* What a feed run in a child saw of its syncs. */
struct feed_syncs {
    unsigned count;
    uint64_t named[FEED_SYNCS_MAX]; /* the checkpoint at each sync (0: none yet) */
    int64_t size[FEED_SYNCS_MAX];   /* the size of the file synced (-1: unknown) */
};

static struct {
    const char *checkpoint; /* NULL: syncs pass through unwatched */
    unsigned fail_at;       /* 0: never; n: the n-th sync fails with EIO */
    struct feed_syncs seen;
} feed_watch;

int __wrap_fdatasync(int fd)
{
    if (feed_watch.checkpoint != NULL) {
        uint64_t named = 0;
        if (ledger_checkpoint_read(feed_watch.checkpoint, &named) != LEDGER_ERR_OK) {
            named = 0;
        }
        struct stat info;
        if (feed_watch.seen.count < FEED_SYNCS_MAX) {
            feed_watch.seen.named[feed_watch.seen.count] = named;
            feed_watch.seen.size[feed_watch.seen.count] =
                fstat(fd, &info) == 0 ? (int64_t)info.st_size : -1;
        }
        feed_watch.seen.count++;
        if (feed_watch.seen.count == feed_watch.fail_at) {
            errno = EIO;
            return -1;
        }
    }
    return __real_fdatasync(fd);
}

/* Runs ctl_main on argv (NULL-terminated) in a child of this test, its
 * stdout to out_path opened with out_mode, its stderr to err_path; before
 * ctl_main the child calls prepare(context) (what a wrap of this file is to
 * do), and after it sends back the report_size bytes at `report` (what that
 * wrap saw), which land at the same place in this process. Returns the
 * child's exit status. */
static int ctl_main_in_child(char **argv, const char *out_path, const char *out_mode,
                             const char *err_path, void (*prepare)(const void *context),
                             const void *context, void *report, size_t report_size)
{
    int channel[2];
    assert_int_equal(0, pipe(channel));
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(channel[0]);
        FILE *out = fopen(out_path, out_mode);
        FILE *err = fopen(err_path, "w");
        if (out == NULL || err == NULL) {
            _exit(126);
        }
        int argc = 0;
        while (argv[argc] != NULL) {
            argc++;
        }
        prepare(context);
        int status = ctl_main(argc, argv, out, err);
        fclose(out);
        fclose(err);
        ssize_t wrote = write(channel[1], report, report_size);
        _exit(wrote == (ssize_t)report_size ? status : 125);
    }
    close(channel[1]);
    memset(report, 0, report_size);
    ssize_t got = read(channel[0], report, report_size);
    close(channel[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    assert_int_equal(got, (ssize_t)report_size);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

/* What a feed's child is to do with its syncs (feed_watch). */
struct feed_plan {
    const char *checkpoint;
    unsigned fail_at;
};

static void feed_watch_set(const void *context)
{
    const struct feed_plan *plan = context;
    feed_watch.checkpoint = plan->checkpoint;
    feed_watch.fail_at = plan->fail_at;
}

/* Runs the billing principal's `events --checkpoint CHECKPOINT [--limit
 * LIMIT]` in JSON by ctl_main in a child, its stdout appended to FEED, the
 * fail_at-th sync failing (0: none); returns its exit status and its syncs. */
static int feed_in_child(struct fixture *fixture, const char *billing, const char *feed,
                         const char *checkpoint, const char *limit, unsigned fail_at,
                         struct feed_syncs *syncs)
{
    char *argv[] = {"ledgerctl",
                    "--socket",
                    fixture->socket,
                    "--principal",
                    "billing",
                    "--key-file",
                    (char *)billing,
                    "--partner",
                    "contoso",
                    "--output",
                    "json",
                    "events",
                    "--checkpoint",
                    (char *)checkpoint,
                    "--limit",
                    (char *)limit,
                    NULL};
    if (limit == NULL) {
        argv[sizeof argv / sizeof argv[0] - 3] = NULL;
    }
    struct feed_plan plan = {checkpoint, fail_at};
    int status = ctl_main_in_child(argv, feed, "a", "/dev/null", feed_watch_set, &plan,
                                   &feed_watch.seen, sizeof feed_watch.seen);
    *syncs = feed_watch.seen;
    memset(&feed_watch.seen, 0, sizeof feed_watch.seen);
    return status;
}

/* ledger__directory_sync is wrapped in this test too (tests/CMakeLists.txt):
 * head --save, run by ctl_main in a child, shows the directory entry it
 * makes durable after its rename, and a sync made to fail shows what the
 * user is told. libledger's own calls (ledger_checkpoint_write's) are not
 * wrapped: only this program's references are. */
enum ledger_err __real_ledger__directory_sync(const char *path);
enum ledger_err __wrap_ledger__directory_sync(const char *path);

static struct {
    int fail_errno; /* 0: syncs pass through */
    unsigned count;
    char path[PATH_SIZE + 32]; /* the last one given */
} directory_watch;

enum ledger_err __wrap_ledger__directory_sync(const char *path)
{
    directory_watch.count++;
    snprintf(directory_watch.path, sizeof directory_watch.path, "%s", path);
    if (directory_watch.fail_errno != 0) {
        errno = directory_watch.fail_errno;
        return LEDGER_ERR_IO_ERROR;
    }
    return __real_ledger__directory_sync(path);
}

static void directory_watch_set(const void *context)
{
    directory_watch.fail_errno = *(const int *)context;
}

/* Runs the contoso auditor's `head --save SAVE` by ctl_main in a child
 * whose directory syncs fail with fail_errno (0: none), its stderr into
 * err_path; returns its exit status, with how many directory syncs it
 * asked for in count_out and the last path it gave in path_out. */
static int head_save_in_child(struct fixture *fixture, const char *auditor, const char *save,
                              int fail_errno, const char *err_path, unsigned *count_out,
                              char *path_out, size_t path_size)
{
    char *argv[] = {"ledgerctl", "--socket",   fixture->socket, "--principal",
                    "auditor",   "--key-file", (char *)auditor, "--partner",
                    "contoso",   "head",       "--save",        (char *)save,
                    NULL};
    int status = ctl_main_in_child(argv, "/dev/null", "w", err_path, directory_watch_set,
                                   &fail_errno, &directory_watch, sizeof directory_watch);
    *count_out = directory_watch.count;
    snprintf(path_out, path_size, "%s", directory_watch.path);
    memset(&directory_watch, 0, sizeof directory_watch);
    return status;
}

/* head --save syncs the directory after its rename, so that the saved head
 * survives a power loss, and says so, naming the directory, when it cannot. */
static void test_ctl_ops_head_save_syncs_directory(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    char auditor[PATH_SIZE], billing[PATH_SIZE], save[PATH_SIZE + 32], err_path[PATH_SIZE + 32];
    char synced[PATH_SIZE + 32], expected[3 * PATH_SIZE];
    unsigned count = 0;
    demo_keys(fixture, auditor, billing, sizeof auditor);
    snprintf(save, sizeof save, "%s/synced-head.pb", fixture->dir);
    snprintf(err_path, sizeof err_path, "%s/synced-head.err", fixture->dir);

    assert_int_equal(
        0, head_save_in_child(fixture, auditor, save, 0, err_path, &count, synced, sizeof synced));
    assert_int_equal(1, count);
    assert_string_equal(save, synced);
    /* The file is whole: a signed head that verify reads. */
    uint8_t bytes[1024];
    size_t size = test_read_bytes(save, bytes, sizeof bytes);
    assert_true(size != SIZE_MAX && size > 0);
    Ledger__V1__SignedHead *head = ledger__v1__signed_head__unpack(NULL, size, bytes);
    assert_non_null(head);
    assert_int_equal(MERKLE_HASH_BYTES, head->root_hash.len);
    assert_int_equal(64, head->signature.len);
    ledger__v1__signed_head__free_unpacked(head, NULL);
    ctl(fixture, &run, "auditor", auditor, "--partner", "contoso", "verify", "--head", save, NULL);
    expect_ok(&run);
    run_free(&run);

    /* A directory that cannot be synced is named, with the reason. */
    assert_int_equal(1, head_save_in_child(fixture, auditor, save, EACCES, err_path, &count, synced,
                                           sizeof synced));
    assert_int_equal(1, count);
    char err_text[2 * PATH_SIZE + 512];
    size = test_read_bytes(err_path, err_text, sizeof err_text - 1);
    assert_true(size != SIZE_MAX);
    err_text[size] = '\0';
    snprintf(expected, sizeof expected,
             "error: IO_ERROR: wrote %s, but its directory %s could not be synced (%s)", save,
             fixture->dir, strerror(EACCES));
    if (strstr(err_text, expected) == NULL) {
        fail_msg("expected '%s' in '%s'", expected, err_text);
    }
    unlink(save);
    unlink(err_path);
}

static uint64_t checkpoint_of(const char *path)
{
    uint64_t sequence = 0;
    assert_int_equal(LEDGER_ERR_OK, ledger_checkpoint_read(path, &sequence));
    return sequence;
}

/* A page of events costs one sync of the output and one checkpoint write,
 * not one each; the checkpoint never names a line before it is synced, so
 * a feed cut short (here by a sync that fails) repeats what follows the
 * checkpoint and loses nothing. */
static void test_ctl_ops_events_checkpoint_per_page(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    struct feed_files files;
    feed_files_make(fixture, "pages.jsonl", "pages.checkpoint", &files);
    const char *billing = files.billing, *feed = files.feed, *checkpoint = files.checkpoint;

    /* The events the feed will print: fewer than a page (500). */
    ctl(fixture, &run, "billing", billing, "--partner", "contoso", "--output", "json", "events",
        NULL);
    expect_ok(&run);
    uint64_t all[400];
    size_t count = sequences_of(run.out, all, 400);
    run_free(&run);
    assert_true(count >= 6 && count < 400);

    /* A page of three: one sync, while the checkpoint did not exist yet. */
    struct feed_syncs syncs;
    assert_int_equal(0, feed_in_child(fixture, billing, feed, checkpoint, "3", 0, &syncs));
    assert_int_equal(1, syncs.count);
    assert_int_equal(0, syncs.named[0]);
    assert_int_equal(all[2], checkpoint_of(checkpoint));

    /* The rest, in one page whose sync fails: IO_ERROR, and the checkpoint
     * stays before the lines that were written but not synced. */
    assert_int_equal(1, feed_in_child(fixture, billing, feed, checkpoint, NULL, 1, &syncs));
    assert_int_equal(1, syncs.count);
    assert_int_equal(all[2], checkpoint_of(checkpoint));

    /* Again: the same page, with one sync for all of its events, the
     * checkpoint still naming the last page that was synced. */
    assert_int_equal(0, feed_in_child(fixture, billing, feed, checkpoint, NULL, 0, &syncs));
    assert_int_equal(1, syncs.count);
    assert_int_equal(all[2], syncs.named[0]);
    assert_true(checkpoint_of(checkpoint) >= all[count - 1]);

    /* The output: every event, the ones after the checkpoint twice, none
     * lost; counting each sequence once gives the feed. Only events: the
     * failed run's JSON error document went to stderr, not into the feed. */
    char *text = read_file(feed);
    size_t newlines = 0;
    for (const char *c = text; *c != '\0'; c++) {
        newlines += *c == '\n';
    }
    uint64_t printed[800];
    size_t lines = sequences_of(text, printed, 800);
    free(text);
    assert_int_equal(3 + 2 * (count - 3), lines);
    assert_int_equal(lines, newlines);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(all[i], printed[i]);
    }
    for (size_t i = 3; i < count; i++) {
        assert_int_equal(all[i], printed[i]);
        assert_int_equal(all[i], printed[i + count - 3]);
    }
}

/* A feed that removes a cut line at its file's end syncs the file so cut
 * back before it appends anything, and before its checkpoint moves; when
 * that sync fails, the feed stops with IO_ERROR, nothing appended, the
 * checkpoint where it was. */
static void test_ctl_ops_events_cut_line_synced(void **state)
{
    struct fixture *fixture = *state;
    struct feed_files files;
    feed_files_make(fixture, "synced.jsonl", "synced.checkpoint", &files);
    struct feed_syncs syncs;
    assert_int_equal(
        0, feed_in_child(fixture, files.billing, files.feed, files.checkpoint, "2", 0, &syncs));
    uint64_t second = checkpoint_of(files.checkpoint);
    char *text = read_file(files.feed);
    int64_t two = (int64_t)strlen(text);
    free(text);
    const char *cut = "{\"type\":\"reservation_purch";

    FILE *file = fopen(files.feed, "ab");
    fputs(cut, file);
    fclose(file);
    assert_int_equal(
        1, feed_in_child(fixture, files.billing, files.feed, files.checkpoint, "1", 1, &syncs));
    assert_int_equal(1, syncs.count);
    assert_int_equal(two, syncs.size[0]);
    assert_int_equal(second, checkpoint_of(files.checkpoint));
    text = read_file(files.feed);
    assert_int_equal(two, strlen(text));
    free(text);

    file = fopen(files.feed, "ab");
    fputs(cut, file);
    fclose(file);
    assert_int_equal(
        0, feed_in_child(fixture, files.billing, files.feed, files.checkpoint, "1", 0, &syncs));
    assert_int_equal(2, syncs.count);
    assert_int_equal(two, syncs.size[0]); /* cut back, nothing appended yet */
    assert_int_equal(second, syncs.named[0]);
    assert_true(syncs.size[1] > two);
    assert_int_equal(second, syncs.named[1]);
    assert_true(checkpoint_of(files.checkpoint) > second);
    text = read_file(files.feed);
    assert_int_equal(syncs.size[1], strlen(text));
    assert_null(strstr(text, cut));
    free(text);
}

/* Onboards `count` customers of `partner` in one batch, as its admin agent
 * through libledger: a log longer than a page in one request. */
static void onboard_customers(struct fixture *fixture, const char *admin, const char *key_file,
                              size_t count)
{
    struct ledger_options options = {
        .request_url = fixture->socket,
        .principal_id = admin,
        .key_file = key_file,
        .timeout_ms = 30000,
    };
    struct ledger_client *client = NULL;
    assert_int_equal(LEDGER_ERR_OK, ledger_connect(&options, &client));
    Ledger__V1__OnboardCustomer *bodies = calloc(count, sizeof *bodies);
    Ledger__V1__Command *commands = calloc(count, sizeof *commands);
    const Ledger__V1__Command **list = calloc(count, sizeof *list);
    char(*ids)[32] = calloc(count, sizeof *ids);
    assert_true(bodies != NULL && commands != NULL && list != NULL && ids != NULL);
    for (size_t i = 0; i < count; i++) {
        Ledger__V1__OnboardCustomer body = LEDGER__V1__ONBOARD_CUSTOMER__INIT;
        Ledger__V1__Command command = LEDGER__V1__COMMAND__INIT;
        snprintf(ids[i], sizeof ids[i], "many-%zu", i);
        bodies[i] = body;
        bodies[i].name = ids[i];
        commands[i] = command;
        commands[i].customer_id = ids[i];
        commands[i].body_case = LEDGER__V1__COMMAND__BODY_ONBOARD_CUSTOMER;
        commands[i].onboard_customer = &bodies[i];
        list[i] = &commands[i];
    }
    Ledger__V1__Reply *reply = NULL;
    assert_int_equal(LEDGER_ERR_OK, ledger_execute(client, list, count, &reply));
    ledger_reply_free(reply);
    ledger_close(client);
    free(ids);
    free(list);
    free(commands);
    free(bodies);
}

/* The sequence of the last line of a JSON feed (0 when it has none). */
static uint64_t last_sequence_of(const char *text)
{
    char *copy = strdup(text);
    uint64_t sequences[2048];
    size_t count = sequences_of(copy, sequences, 2048);
    free(copy);
    return count > 0 ? sequences[count - 1] : 0;
}

/* Whether process `pid` has a handler for `signal_number` (its SigCgt mask in
 * /proc), waiting up to timeout_ms for it; false too once it has exited. */
static bool signal_caught_wait(pid_t pid, int signal_number, long timeout_ms)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
    for (long waited = 0; waited < timeout_ms; waited += 10) {
        FILE *file = fopen(path, "r");
        if (file == NULL) {
            return false;
        }
        char line[256];
        unsigned long long caught = 0;
        bool found = false;
        bool exited = false;
        while (!found && fgets(line, sizeof line, file) != NULL) {
            exited = exited || strncmp(line, "State:\tZ", 8) == 0;
            found = sscanf(line, "SigCgt: %llx", &caught) == 1;
        }
        fclose(file);
        if (exited) {
            return false;
        }
        if (found && (caught >> (signal_number - 1) & 1) != 0) {
            return true;
        }
        sleep_ms(10);
    }
    return false;
}

/* Ctrl-C stops a listing without --follow as it stops a follower: after the
 * page being printed, every line whole, the checkpoint naming the last one,
 * exit 0; the next run prints the rest. Here the signal comes while the
 * listing is blocked writing into a full pipe, in its first page of two. */
static void test_ctl_ops_events_interrupted(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    char key[PATH_SIZE + 16], auditor[PATH_SIZE + 16], checkpoint[PATH_SIZE + 16];
    char errors[PATH_SIZE + 16];
    make_partner(fixture, "p-many", "p-many-admin", key, sizeof key);
    onboard_customers(fixture, "p-many-admin", key, 600);
    snprintf(auditor, sizeof auditor, "%s/many-auditor.key", fixture->dir);
    snprintf(checkpoint, sizeof checkpoint, "%s/many.checkpoint", fixture->dir);
    snprintf(errors, sizeof errors, "%s/many.err", fixture->dir);
    ctl(fixture, &run, "operator", fixture->operator_key, "principal", "add", "--id",
        "many-auditor", "--role", "auditor", "--key-out", auditor, NULL);
    expect_ok(&run);
    run_free(&run);
    /* The whole log, for an auditor of every partner: more than a page. */
    ctl(fixture, &run, "many-auditor", auditor, "--output", "json", "events", NULL);
    expect_ok(&run);
    char *whole = strdup(run.out);
    run_free(&run);
    uint64_t head = last_sequence_of(whole);
    assert_true(head > 600);

    int channel[2];
    assert_int_equal(0, pipe(channel));
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(channel[1], 1);
        close(channel[0]);
        close(channel[1]);
        int err = open(errors, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(err, 2);
        execl(ledgerctl_path(), ledgerctl_path(), "--socket", fixture->socket, "--principal",
              "many-auditor", "--key-file", auditor, "--output", "json", "events", "--checkpoint",
              checkpoint, (char *)NULL);
        _exit(127);
    }
    close(channel[1]);
    /* Once it has written, it fills the pipe (a page is some hundred KiB)
     * and blocks there. */
    size_t capacity = OUTPUT_MAX;
    char *text = malloc(capacity + 1);
    ssize_t got = read(channel[0], text, capacity);
    assert_true(got > 0);
    size_t size = (size_t)got;
    sleep_ms(200);
    assert_int_equal(0, kill(pid, SIGINT));
    while ((got = read(channel[0], text + size, capacity - size)) > 0) {
        size += (size_t)got;
    }
    text[size] = '\0';
    close(channel[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    char *said = read_file(errors);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fail_msg("the interrupted listing did not exit 0 (status %d): %s", status, said);
    }
    free(said);

    /* Whole lines only, each an event, fewer than the log: it stopped after
     * its first page, and the checkpoint names its last line. */
    assert_true(size > 0 && text[size - 1] == '\n');
    json_lines_each(text, expect_event_line, NULL);
    uint64_t last = last_sequence_of(text);
    assert_true(last > 0 && last < head);
    assert_int_equal(last, checkpoint_of(checkpoint));
    assert_int_equal(0, strncmp(whole, text, size));

    /* The next run goes on from there: together, the whole log once. */
    ctl(fixture, &run, "many-auditor", auditor, "--output", "json", "events", "--checkpoint",
        checkpoint, NULL);
    expect_ok(&run);
    assert_string_equal(whole + size, run.out);
    assert_int_equal(head, checkpoint_of(checkpoint));
    run_free(&run);
    free(text);
    free(whole);

    /* A signal while it waits for the reply to a page (the daemon is
     * stopped, so none comes) ends the wait at once: no resend, no page,
     * the checkpoint where it was, exit 0; not after three attempts of 4 s. */
    assert_int_equal(0, kill(fixture->daemon, SIGSTOP));
    /* Scaled: under valgrind ledgerctl starts slowly, and valgrind itself
     * catches every signal, so SigCgt below shows SIGINT caught at once. */
    long attempt_ms = test_timeout_ms(4000);
    char attempt[24];
    snprintf(attempt, sizeof attempt, "%ld", attempt_ms);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int out = open(errors, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(out, 1);
        dup2(out, 2);
        execl(ledgerctl_path(), ledgerctl_path(), "--socket", fixture->socket, "--principal",
              "many-auditor", "--key-file", auditor, "--timeout-ms", attempt, "--retries", "2",
              "--output", "json", "events", "--checkpoint", checkpoint, (char *)NULL);
        _exit(127);
    }
    /* Until ledgerctl catches SIGINT (it sets its handler just before it
     * subscribes), the signal would kill it; then a while for the request. */
    if (!signal_caught_wait(pid, SIGINT, test_timeout_ms(30000))) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        kill(fixture->daemon, SIGCONT);
        fail_msg("ledgerctl never set its SIGINT handler");
    }
    sleep_ms(test_timeout_ms(500));
    struct timespec from, to;
    clock_gettime(CLOCK_MONOTONIC, &from);
    assert_int_equal(0, kill(pid, SIGINT));
    waitpid(pid, &status, 0);
    clock_gettime(CLOCK_MONOTONIC, &to);
    assert_int_equal(0, kill(fixture->daemon, SIGCONT));
    int64_t waited_ms =
        (int64_t)(to.tv_sec - from.tv_sec) * 1000 + (to.tv_nsec - from.tv_nsec) / 1000000;
    said = read_file(errors);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || waited_ms >= attempt_ms) {
        fail_msg("interrupted while waiting for a reply: status %d after %lld ms: %s", status,
                 (long long)waited_ms, said);
    }
    assert_null(strstr(said, "\"sequence\""));
    free(said);
    assert_int_equal(head, checkpoint_of(checkpoint));
}

/* The "field,value" records of a JSON value as docs/cli.md describes them
 * (members joined with '.', array elements as [i], money as "amount
 * currency", booleans as yes/no, null as nothing, quoted by
 * ctl_csv_field), made here from the JSON alone, for comparison with what
 * ledgerctl prints. */
static void field_records_print(FILE *file, const char *path, json_t *value)
{
    char member_path[512], number[32];
    if (json_is_object(value) && json_object_get(value, "amount_minor") == NULL) {
        const char *name;
        json_t *member;
        json_object_foreach(value, name, member)
        {
            snprintf(member_path, sizeof member_path, "%s%s%s", path, path[0] != '\0' ? "." : "",
                     name);
            field_records_print(file, member_path, member);
        }
        return;
    }
    if (json_is_array(value)) {
        for (size_t i = 0; i < json_array_size(value); i++) {
            snprintf(member_path, sizeof member_path, "%s[%zu]", path, i);
            field_records_print(file, member_path, json_array_get(value, i));
        }
        return;
    }
    char money[128];
    const char *text = "";
    if (json_is_string(value)) {
        text = json_string_value(value);
    } else if (json_is_integer(value)) {
        snprintf(number, sizeof number, "%lld", (long long)json_integer_value(value));
        text = number;
    } else if (json_is_boolean(value)) {
        text = json_is_true(value) ? "yes" : "no";
    } else if (json_is_object(value)) {
        snprintf(money, sizeof money, "%s %s", json_string_value(json_object_get(value, "amount")),
                 json_string_value(json_object_get(value, "currency")));
        text = money;
    }
    ctl_csv_field(file, path);
    fputc(',', file);
    ctl_csv_field(file, text);
    fputs("\r\n", file);
}

/* The CSV of a verifying verb whose JSON document is `document`: the
 * header record, the leaves of document[key], then the values beside it.
 * Caller frees. */
static char *expected_field_records(json_t *document, const char *key)
{
    char *text = NULL;
    size_t size = 0;
    FILE *file = open_memstream(&text, &size);
    assert_non_null(file);
    fputs("field,value\r\n", file);
    field_records_print(file, "", json_object_get(document, key));
    const char *name;
    json_t *member;
    json_object_foreach(document, name, member)
    {
        if (strcmp(name, key) != 0) {
            field_records_print(file, name, member);
        }
    }
    fclose(file);
    return text;
}

/* Compares CSV records line by line; a record of a field named in
 * `fresh` (signed anew for every request: a head's time and signature)
 * must have that name but may hold another value. */
static void assert_same_records(const char *expected, const char *actual, const char *const *fresh,
                                size_t fresh_count)
{
    const char *e = expected, *a = actual;
    while (*e != '\0' && *a != '\0') {
        const char *e_end = strstr(e, "\r\n"), *a_end = strstr(a, "\r\n");
        if (e_end == NULL || a_end == NULL || memchr(a, '\n', (size_t)(a_end - a)) != NULL) {
            fail_msg("a record without its CRLF at '%.80s'", a);
        }
        size_t e_length = (size_t)(e_end - e), a_length = (size_t)(a_end - a);
        size_t name_length = strcspn(e, ",");
        bool is_fresh = false;
        for (size_t i = 0; i < fresh_count; i++) {
            is_fresh = is_fresh ||
                       (strlen(fresh[i]) == name_length && strncmp(e, fresh[i], name_length) == 0);
        }
        bool same = is_fresh ? strncmp(e, a, name_length + 1) == 0
                             : e_length == a_length && memcmp(e, a, e_length) == 0;
        if (!same) {
            fail_msg("expected the record '%.*s', got '%.*s'", (int)e_length, e, (int)a_length, a);
        }
        e = e_end + 2;
        a = a_end + 2;
    }
    if (*e != '\0' || *a != '\0') {
        fail_msg("the records differ in number: expected '%.80s', got '%.80s'", e, a);
    }
}

/* head, proof, consistency and explain in CSV: a "field,value" header
 * record, then one record per leaf of what JSON prints, with the same
 * values, then the values JSON prints beside it (verified, head); events
 * --proofs in CSV: each event's record ends with the proof's tree size,
 * leaf hash and path, as JSON has them. */
static void test_ctl_ops_proofs_in_csv(void **state)
{
    struct fixture *fixture = *state;
    struct run json, csv;
    char auditor[PATH_SIZE], billing[PATH_SIZE];
    demo_keys(fixture, auditor, billing, sizeof auditor);
    ctl(fixture, &json, "auditor", auditor, "--partner", "contoso", "--output", "json", "events",
        "--type", "reservation_purchased", "--limit", "1", NULL);
    expect_ok(&json);
    char seq[32];
    snprintf(seq, sizeof seq, "%lld", (long long)json_int_at(json.json, "sequence"));
    run_free(&json);

    static const char *const head_fresh[] = {"timestamp_us", "timestamp", "signature"};
    static const char *const explain_fresh[] = {"head.timestamp_us", "head.timestamp",
                                                "head.signature"};
    static const struct {
        const char *verb, *first, *first_value, *second, *second_value, *key;
        const char *const *fresh;
        size_t fresh_count;
    } verbs[] = {
        {"head", NULL, NULL, NULL, NULL, "head", head_fresh, 3},
        {"proof", "--seq", "seq", NULL, NULL, "inclusion", NULL, 0},
        {"consistency", "--from", "3", "--to", "seq", "consistency", NULL, 0},
        {"explain", "--seq", "seq", NULL, NULL, "explanation", explain_fresh, 3},
    };
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++) {
        const char *first_value =
            verbs[i].first_value != NULL && strcmp(verbs[i].first_value, "seq") == 0
                ? seq
                : verbs[i].first_value;
        const char *second_value =
            verbs[i].second_value != NULL && strcmp(verbs[i].second_value, "seq") == 0
                ? seq
                : verbs[i].second_value;
        ctl(fixture, &json, "auditor", auditor, "--partner", "contoso", "--output", "json",
            verbs[i].verb, verbs[i].first, first_value, verbs[i].second, second_value, NULL);
        expect_ok(&json);
        ctl(fixture, &csv, "auditor", auditor, "--partner", "contoso", "--output", "csv",
            verbs[i].verb, verbs[i].first, first_value, verbs[i].second, second_value, NULL);
        expect_ok(&csv);
        char *expected = expected_field_records(json.json, verbs[i].key);
        assert_same_records(expected, csv.out, verbs[i].fresh, verbs[i].fresh_count);
        free(expected);
        run_free(&json);
        run_free(&csv);
    }
    /* The head's own signature, once, then that it verified (each name one
     * record, so that a consumer may read the records as a map). */
    ctl(fixture, &csv, "auditor", auditor, "--partner", "contoso", "--output", "csv", "head", NULL);
    expect_ok(&csv);
    const char *signature = strstr(csv.out, "\r\nsignature,");
    assert_non_null(signature);
    assert_null(strstr(signature + 1, "\r\nsignature,"));
    const char *verified = strstr(csv.out, "\r\nverified,yes\r\n");
    assert_non_null(verified);
    assert_string_equal("\r\nverified,yes\r\n", verified);
    run_free(&csv);

    ctl(fixture, &json, "auditor", auditor, "--partner", "contoso", "--output", "json", "events",
        "--proofs", "--limit", "3", NULL);
    expect_ok(&json);
    ctl(fixture, &csv, "auditor", auditor, "--partner", "contoso", "--output", "csv", "events",
        "--proofs", "--limit", "3", NULL);
    expect_ok(&csv);
    char *expected = NULL;
    size_t expected_size = 0;
    FILE *file = open_memstream(&expected, &expected_size);
    assert_non_null(file);
    fputs("sequence,recorded,business,type,partner_id,customer_id,actor,command_id,"
          "proof_tree_size,proof_leaf_hash,proof_path\r\n",
          file);
    int events = 0;
    for (char *line = strtok(json.out, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        json_t *event = json_loads(line, 0, NULL);
        assert_non_null(event);
        json_t *proof = json_object_get(event, "proof");
        fprintf(file, "%lld,%s,%s,%s,%s,%s,%s,%s,%lld,%s,",
                (long long)json_int_at(event, "sequence"),
                json_string_value(json_object_get(event, "recorded")),
                json_string_value(json_object_get(event, "business")),
                json_string_value(json_object_get(event, "type")),
                json_string_value(json_object_get(event, "partner_id")),
                json_string_value(json_object_get(event, "customer_id")),
                json_string_value(json_object_get(json_object_get(event, "actor"), "principal_id")),
                json_string_value(json_object_get(event, "command_id")),
                (long long)json_int_at(proof, "tree_size"),
                json_string_value(json_object_get(proof, "leaf_hash")));
        json_t *path = json_object_get(proof, "path");
        assert_true(json_array_size(path) > 0);
        for (size_t i = 0; i < json_array_size(path); i++) {
            fprintf(file, "%s%s", i > 0 ? " " : "", json_string_value(json_array_get(path, i)));
        }
        fputs("\r\n", file);
        json_decref(event);
        events++;
    }
    fclose(file);
    assert_int_equal(3, events);
    assert_string_equal(expected, csv.out);
    free(expected);
    run_free(&json);
    run_free(&csv);
}

static void test_ctl_ops_proofs_verified(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    char auditor[PATH_SIZE], billing[PATH_SIZE];
    demo_keys(fixture, auditor, billing, sizeof auditor);

    /* The purchases of the demo, as the auditor sees them, with proofs. */
    ctl(fixture, &run, "auditor", auditor, "--partner", "contoso", "--output", "json", "events",
        "--proofs", "--type", "reservation_purchased", NULL);
    expect_ok(&run);
    json_int_t partner_purchase = 0, customer_purchase = 0;
    for (char *line = strtok(run.out, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        json_t *event = json_loads(line, 0, NULL);
        assert_non_null(event);
        json_t *proof = json_object_get(event, "proof");
        assert_non_null(proof);
        assert_int_equal(json_int_at(event, "sequence"), json_int_at(proof, "sequence"));
        assert_true(json_int_at(proof, "tree_size") >= json_int_at(event, "sequence"));
        assert_int_equal(64, strlen(json_string_value(json_object_get(proof, "leaf_hash"))));
        assert_true(json_is_array(json_object_get(proof, "path")));
        const char *purchaser = json_string_value(
            json_object_get(json_object_get(event, "reservation_purchased"), "purchaser"));
        if (strcmp(purchaser, "customer") == 0 && customer_purchase == 0) {
            customer_purchase = json_int_at(event, "sequence");
        } else if (strcmp(purchaser, "partner") == 0 && partner_purchase == 0) {
            partner_purchase = json_int_at(event, "sequence");
        }
        json_decref(event);
    }
    assert_true(partner_purchase > 0 && customer_purchase > 0);
    run_free(&run);
    /* Against a tree of a kept size: only its events, every proof of it. */
    char kept[32];
    snprintf(kept, sizeof kept, "%lld", (long long)customer_purchase);
    ctl(fixture, &run, "auditor", auditor, "--partner", "contoso", "--output", "json", "events",
        "--proofs", "--tree-size", kept, NULL);
    expect_ok(&run);
    int kept_events = 0;
    for (char *line = strtok(run.out, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        json_t *event = json_loads(line, 0, NULL);
        assert_non_null(event);
        assert_true(json_int_at(event, "sequence") <= customer_purchase);
        assert_int_equal(customer_purchase,
                         json_int_at(json_object_get(event, "proof"), "tree_size"));
        kept_events++;
        json_decref(event);
    }
    assert_true(kept_events > 0);
    run_free(&run);
    ctl(fixture, &run, "auditor", auditor, "--partner", "contoso", "events", "--proofs", "--limit",
        "1", NULL);
    expect_ok(&run);
    assert_non_null(strstr(run.out, "proof: tree size "));
    assert_non_null(strstr(run.out, "verified: 1 inclusion proof against the signed head "));
    run_free(&run);
    ctl(fixture, &run, "auditor", auditor, "--partner", "contoso", "events", "--proofs",
        "--tree-size", kept, NULL);
    expect_ok(&run);
    char against[128];
    snprintf(against, sizeof against,
             "inclusion proofs against the tree of size %s, consistent "
             "with the signed head ",
             kept);
    assert_non_null(strstr(run.out, against));
    run_free(&run);
    /* Billing may read the head: a listing's proofs go to its root. A kept
     * tree's root needs a consistency proof, which is for auditors. */
    ctl(fixture, &run, "billing", billing, "--partner", "contoso", "events", "--proofs", "--limit",
        "2", NULL);
    expect_ok(&run);
    assert_non_null(strstr(run.out, "verified: 2 inclusion proofs against the signed head "));
    run_free(&run);
    ctl(fixture, &run, "billing", billing, "--partner", "contoso", "events", "--proofs",
        "--tree-size", kept, NULL);
    expect_error(&run, 1, "FORBIDDEN");
    assert_non_null(strstr(run.err, "need consistency proofs: ask as an auditor"));
    run_free(&run);
    ctl(fixture, &run, "auditor", auditor, "--partner", "contoso", "events", "--public-key", "00",
        NULL);
    expect_error(&run, 2, "USAGE");
    assert_non_null(strstr(run.err, "add --proofs"));
    run_free(&run);

    char seq[32], partner_seq[32], key[128];
    snprintf(seq, sizeof seq, "%lld", (long long)customer_purchase);
    snprintf(partner_seq, sizeof partner_seq, "%lld", (long long)partner_purchase);
    ctl(fixture, &run, "auditor", auditor, "--partner", "contoso", "explain", "--seq", seq, NULL);
    expect_ok(&run);
    assert_non_null(strstr(run.out, "purchase:   reservation "));
    assert_non_null(strstr(run.out, "bought by fabrikam-bob (customer-user, user bob)"));
    assert_non_null(strstr(run.out, "allowed by: permission reservations turned on at "));
    assert_non_null(strstr(run.out, "and by:     role owner for user bob on subscription "));
    assert_non_null(strstr(run.out, "and by:     principal fabrikam-bob added as customer-user of "
                                    "customer fabrikam of partner contoso (user bob) at "));
    assert_non_null(strstr(run.out, "billed to:  subscription "));
    assert_non_null(strstr(run.out, "inclusion proof verified against head "));
    assert_non_null(strstr(run.out, ": signature verified"));
    run_free(&run);
    ctl(fixture, &run, "auditor", auditor, "--partner", "contoso", "explain", "--seq", partner_seq,
        NULL);
    expect_ok(&run);
    assert_non_null(strstr(run.out, "a partner purchase needs no customer permission"));
    assert_non_null(strstr(run.out, "and by:     principal contoso-admin added as admin-agent of "
                                    "partner contoso at "));
    assert_non_null(strstr(run.out, "billed to:  subscription "));
    run_free(&run);
    ctl(fixture, &run, "auditor", auditor, "--partner", "contoso", "--output", "json", "explain",
        "--seq", seq, NULL);
    expect_ok(&run);
    json_t *explanation = json_object_get(run.json, "explanation");
    assert_non_null(json_object_get(json_object_get(explanation, "permission"), "proof"));
    assert_non_null(json_object_get(json_object_get(explanation, "role"), "record"));
    assert_non_null(json_object_get(json_object_get(explanation, "principal"), "proof"));
    assert_non_null(json_object_get(json_object_get(explanation, "subscription"), "event"));
    assert_true(json_is_true(json_object_get(run.json, "verified")));
    run_free(&run);
    /* The demo's exchange: the partner's own purchase of its replacement. */
    ctl(fixture, &run, "auditor", auditor, "--partner", "contoso", "--output", "json", "events",
        "--type", "reservation_exchanged", "--limit", "1", NULL);
    expect_ok(&run);
    char exchange_seq[32];
    snprintf(exchange_seq, sizeof exchange_seq, "%lld",
             (long long)json_int_at(run.json, "sequence"));
    run_free(&run);
    ctl(fixture, &run, "auditor", auditor, "--partner", "contoso", "explain", "--seq", exchange_seq,
        NULL);
    expect_ok(&run);
    assert_non_null(strstr(run.out, "purchase:   exchange of res-"));
    assert_non_null(strstr(run.out, "for 1 new reservation:\n            reservation res-"));
    assert_non_null(strstr(run.out, ", exchanged by contoso-admin "));
    assert_non_null(strstr(run.out, "allowed by: the partner exchanged it; "));
    assert_non_null(strstr(run.out, "and by:     principal contoso-admin added as admin-agent"));
    assert_non_null(strstr(run.out, "billed to:  subscription "));
    assert_null(strstr(run.out, "permission reservations turned on"));
    run_free(&run);
    /* Not a purchase: the daemon says what explain answers for. */
    ctl(fixture, &run, "auditor", auditor, "--partner", "contoso", "explain", "--seq", "2", NULL);
    expect_error(&run, 1, "INVALID_ARGUMENT");
    assert_non_null(strstr(run.err, "explain answers for purchases, exchanges and renewals"));
    run_free(&run);

    /* proof: against the head and against an older size. */
    ctl(fixture, &run, "auditor", auditor, "--partner", "contoso", "head", "--public-key", NULL);
    expect_ok(&run);
    snprintf(key, sizeof key, "%.64s", run.out);
    run_free(&run);
    ctl(fixture, &run, "auditor", auditor, "--partner", "contoso", "proof", "--seq", seq,
        "--public-key", key, NULL);
    expect_ok(&run);
    char verified[256];
    snprintf(verified, sizeof verified,
             "verified: event %s (leaf hash recomputed from its record) is in the tree of size ",
             seq);
    assert_non_null(strstr(run.out, verified));
    assert_non_null(strstr(run.out, ", the signed head "));
    run_free(&run);
    ctl(fixture, &run, "auditor", auditor, "--partner", "contoso", "--output", "json", "proof",
        "--seq", seq, "--tree-size", seq, NULL);
    expect_ok(&run);
    assert_int_equal(customer_purchase,
                     json_int_at(json_object_get(run.json, "inclusion"), "tree_size"));
    run_free(&run);
    /* The table says which tree, and how it is tied to the signed head. */
    ctl(fixture, &run, "auditor", auditor, "--partner", "contoso", "proof", "--seq", seq,
        "--tree-size", seq, NULL);
    expect_ok(&run);
    snprintf(verified, sizeof verified,
             "verified: event %s (leaf hash recomputed from its record) is in the tree of size %s, "
             "consistent with the signed head ",
             seq, seq);
    assert_non_null(strstr(run.out, verified));
    run_free(&run);
    ctl(fixture, &run, "auditor", auditor, "--partner", "contoso", "consistency", "--from", "3",
        "--to", seq, NULL);
    expect_ok(&run);
    assert_non_null(strstr(run.out, "verified: the tree of size 3 is a prefix"));
    run_free(&run);
    /* A root kept from a head of that size verifies; any other root does not. */
    ctl(fixture, &run, "auditor", auditor, "--partner", "contoso", "--output", "json", "head",
        NULL);
    expect_ok(&run);
    char root[80], size[32];
    snprintf(root, sizeof root, "%s",
             json_string_value(json_object_get(json_object_get(run.json, "head"), "root_hash")));
    snprintf(size, sizeof size, "%lld",
             (long long)json_int_at(json_object_get(run.json, "head"), "tree_size"));
    run_free(&run);
    ctl(fixture, &run, "auditor", auditor, "--partner", "contoso", "consistency", "--from", size,
        "--to", size, "--from-root", root, NULL);
    expect_ok(&run);
    /* The line says which root was the signed head's and which was given,
     * not that both were checked against the head. */
    assert_non_null(strstr(run.out, "(the older root as given with --from-root, the newer "
                                    "checked against signed head "));
    run_free(&run);
    root[0] = root[0] == '0' ? '1' : '0';
    ctl(fixture, &run, "auditor", auditor, "--partner", "contoso", "consistency", "--from", size,
        "--to", size, "--from-root", root, NULL);
    expect_error(&run, 1, "MISMATCH");
    run_free(&run);
    /* A key that did not sign the head: MISMATCH, exit 1. */
    ctl(fixture, &run, "auditor", auditor, "--partner", "contoso", "proof", "--seq", seq,
        "--public-key", "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", NULL);
    expect_error(&run, 1, "MISMATCH");
    run_free(&run);
    ctl(fixture, &run, "auditor", auditor, "--partner", "contoso", "explain", "--seq", seq,
        "--public-key", "d75a98", NULL);
    expect_error(&run, 2, "USAGE");
    run_free(&run);
}

/* The audit verbs' refusals, each with its exit status and code, and the
 * explanation of a savings plan a customer bought. */
static void test_ctl_ops_audit_refusals(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    char auditor[PATH_SIZE], billing[PATH_SIZE];
    demo_keys(fixture, auditor, billing, sizeof auditor);

    ctl(fixture, &run, "auditor", auditor, "--partner", "contoso", "--output", "json", "events",
        "--type", "savings_plan_purchased", NULL);
    expect_ok(&run);
    json_int_t plan_seq = 0;
    for (char *line = strtok(run.out, "\n"); line != NULL && plan_seq == 0;
         line = strtok(NULL, "\n")) {
        json_t *event = json_loads(line, 0, NULL);
        assert_non_null(event);
        const char *purchaser = json_string_value(
            json_object_get(json_object_get(event, "savings_plan_purchased"), "purchaser"));
        if (purchaser != NULL && strcmp(purchaser, "customer") == 0) {
            plan_seq = json_int_at(event, "sequence");
        }
        json_decref(event);
    }
    run_free(&run);
    assert_true(plan_seq > 0);
    char seq[32];
    snprintf(seq, sizeof seq, "%lld", (long long)plan_seq);
    ctl(fixture, &run, "auditor", auditor, "--partner", "contoso", "explain", "--seq", seq, NULL);
    expect_ok(&run);
    assert_non_null(strstr(run.out, "purchase:   savings plan "));
    assert_non_null(strstr(run.out, "per hour"));
    assert_non_null(strstr(run.out, "allowed by: permission savings-plans turned on at "));
    assert_non_null(strstr(run.out, "inclusion proof verified against head "));
    run_free(&run);

    ctl(fixture, &run, "auditor", auditor, "--partner", "contoso", "--output", "json", "head",
        NULL);
    expect_ok(&run);
    json_int_t head = json_int_at(json_object_get(run.json, "head"), "tree_size");
    run_free(&run);
    char past[32];
    snprintf(past, sizeof past, "%lld", (long long)head + 100);
    ctl(fixture, &run, "auditor", auditor, "--partner", "contoso", "--output", "json", "events",
        "--type", "customer_onboarded", "--limit", "1", NULL);
    expect_ok(&run);
    char onboarded[32];
    snprintf(onboarded, sizeof onboarded, "%lld", (long long)json_int_at(run.json, "sequence"));
    run_free(&run);

    const struct {
        const char *args[10];
        int status;
        const char *code;
    } cases[] = {
        {{"explain", "--seq", "0"}, 2, "USAGE"},
        {{"explain", "--seq", past}, 1, "NOT_FOUND"},
        {{"explain", "--seq", onboarded}, 1, "INVALID_ARGUMENT"}, /* not a purchase */
        {{"proof", "--seq", seq, "--tree-size", "1"}, 2, "USAGE"},
        {{"proof", "--seq", seq, "--tree-size", "0"}, 2, "USAGE"}, /* not "the head" */
        {{"proof", "--seq", past}, 1, "NOT_FOUND"},
        {{"proof", "--seq", seq, "--public-key", "abcd"}, 2, "USAGE"}, /* never unpinned */
        {{"consistency", "--from", "3", "--to", "5", "--public-key", "abcd"}, 2, "USAGE"},
        {{"events", "--proofs", "--public-key", "abcd"}, 2, "USAGE"},
        {{"consistency", "--from", "0", "--to", "3"}, 2, "USAGE"},
        {{"consistency", "--from", "5", "--to", "3"}, 2, "USAGE"},
        {{"consistency", "--from", "3", "--to", past}, 1, "NOT_FOUND"},
        {{"consistency", "--from", "3", "--to", "5", "--from-root", "abc"}, 2, "USAGE"},
        {{"head", "--save", "saved.pb", "--public-key"}, 2, "USAGE"},
        {{"head", "--save", ""}, 2, "USAGE"},
        {{"verify", "--head", "no-such-file.pb"}, 1, "IO_ERROR"},
        {{"verify", "--head", "ledger-data"}, 1, "IO_ERROR"}, /* a directory */
        {{"head", "--save", "no-such-dir/saved.pb"}, 1, "IO_ERROR"},
        {{"head", "--save", "ledger-data"}, 1, "IO_ERROR"}, /* a directory */
        {{"events", "--tree-size", "0"}, 2, "USAGE"},
        {{"events", "--tree-size", "3", "--follow"}, 2, "USAGE"},
        {{"events", "--tree-size", past}, 1, "NOT_FOUND"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *const *a = cases[i].args;
        ctl(fixture, &run, "auditor", auditor, "--partner", "contoso", a[0], a[1], a[2], a[3], a[4],
            a[5], a[6], a[7], NULL);
        if (run.status != cases[i].status ||
            strstr(run.err, cases[i].code) != run.err + strlen("error: ")) {
            fail_msg("case %zu (%s %s): exit %d, stderr %s; expected %d %s", i, a[0], a[1],
                     run.status, run.err, cases[i].status, cases[i].code);
        }
        run_free(&run);
    }
    /* An event of another partner than the one asked for: said so, and
     * what may be asked instead. */
    ctl(fixture, &run, "auditor", auditor, "--partner", "northwind", "--output", "json", "events",
        "--limit", "1", NULL);
    expect_ok(&run);
    char other[32];
    snprintf(other, sizeof other, "%lld", (long long)json_int_at(run.json, "sequence"));
    run_free(&run);
    ctl(fixture, &run, "auditor", auditor, "--partner", "contoso", "proof", "--seq", other, NULL);
    expect_error(&run, 1, "PARTNER_MISMATCH");
    assert_non_null(strstr(run.err, "the event belongs to another partner: prove or explain "
                                    "only events of the partner you act for"));
    run_free(&run);
    /* The ledger's first record (its first operator's) is no partner's. */
    ctl(fixture, &run, "auditor", auditor, "--partner", "contoso", "proof", "--seq", "1", NULL);
    expect_error(&run, 1, "PARTNER_MISMATCH");
    assert_non_null(strstr(run.err, "the event belongs to no partner (a record of the ledger's "
                                    "own, such as a principal added by its operator): only a "
                                    "principal of all partners proves or explains it"));
    run_free(&run);
    /* A verb the role may not use says what to do about it. */
    ctl(fixture, &run, "billing", billing, "--partner", "contoso", "proof", "--seq", seq, NULL);
    expect_error(&run, 1, "FORBIDDEN");
    assert_non_null(strstr(run.err, "role billing may not run the inclusion query: ask as a "
                                    "principal whose role may (docs/security.md, \"Queries\")"));
    run_free(&run);
    /* Past the signed head, proof, explain and events --proofs say so as
     * consistency does, in words that say what to give instead. */
    char past_seq[160], past_size[160], past_log[160];
    snprintf(past_seq, sizeof past_seq,
             "error: NOT_FOUND: sequence %s is past the signed head (%lld events): give --seq "
             "1..%lld",
             past, (long long)head, (long long)head);
    snprintf(past_size, sizeof past_size,
             "error: NOT_FOUND: --tree-size %s is past the signed head (%lld events)", past,
             (long long)head);
    snprintf(past_log, sizeof past_log,
             "error: NOT_FOUND: sequence %s is not in the log (head %lld): give the sequence of "
             "a purchase, exchange or renewal, 1..%lld",
             past, (long long)head, (long long)head);
    const struct {
        const char *args[6];
        const char *words;
    } past_cases[] = {
        {{"proof", "--seq", past}, past_seq},
        {{"proof", "--seq", seq, "--tree-size", past}, past_size},
        {{"explain", "--seq", past}, past_log},
        {{"events", "--proofs", "--tree-size", past}, past_size},
    };
    for (size_t i = 0; i < sizeof past_cases / sizeof past_cases[0]; i++) {
        const char *const *a = past_cases[i].args;
        ctl(fixture, &run, "auditor", auditor, "--partner", "contoso", a[0], a[1], a[2], a[3], a[4],
            NULL);
        expect_error(&run, 1, "NOT_FOUND");
        if (strstr(run.err, past_cases[i].words) == NULL) {
            fail_msg("case %zu (%s): %s", i, a[0], run.err);
        }
        run_free(&run);
    }
    /* A number that is not one names the option; a --save path longer than
     * its temporary file's name can hold is refused before anything is
     * written. */
    char too_long[4100];
    memset(too_long, 'h', sizeof too_long - 1);
    too_long[sizeof too_long - 1] = '\0';
    const struct {
        const char *args[6];
        const char *says;
    } numbers[] = {
        {{"proof", "--seq", "abc"}, "error: USAGE: --seq: 'abc' is not a whole number\n"},
        {{"proof", "--seq", seq, "--tree-size", "0x"},
         "error: USAGE: --tree-size: '0x' is not a whole number\n"},
        {{"consistency", "--from", "x", "--to", "3"},
         "error: USAGE: --from: 'x' is not a whole number\n"},
        {{"consistency", "--from", "3", "--to", "-5"},
         "error: USAGE: --to: '-5' is not a whole number\n"},
        {{"head", "--save", too_long}, "error: USAGE: --save: the path is too long\n"},
    };
    for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++) {
        const char *const *a = numbers[i].args;
        ctl(fixture, &run, "auditor", auditor, "--partner", "contoso", a[0], a[1], a[2], a[3], a[4],
            NULL);
        expect_error(&run, 2, "USAGE");
        assert_string_equal(numbers[i].says, run.err);
        run_free(&run);
    }
    /* What could not be read or written is named, with the system's reason. */
    ctl(fixture, &run, "auditor", auditor, "--partner", "contoso", "verify", "--head",
        "ledger-data", NULL);
    assert_string_equal("error: IO_ERROR: cannot read ledger-data: Is a directory\n", run.err);
    run_free(&run);
    ctl(fixture, &run, "auditor", auditor, "--partner", "contoso", "head", "--save", "ledger-data",
        NULL);
    assert_string_equal("error: IO_ERROR: cannot write ledger-data: Is a directory\n", run.err);
    run_free(&run);
    ctl(fixture, &run, "auditor", auditor, "--partner", "contoso", "head", "--save",
        "no-such-dir/saved.pb", NULL);
    assert_string_equal("error: IO_ERROR: cannot write no-such-dir/saved.pb: its directory "
                        "no-such-dir does not exist; create it or save elsewhere\n",
                        run.err);
    run_free(&run);
    /* A file in its place is no directory either. */
    ctl(fixture, &run, "auditor", auditor, "--partner", "contoso", "head", "--save",
        "ledger-data/data.mdb/saved.pb", NULL);
    assert_string_equal("error: IO_ERROR: cannot write ledger-data/data.mdb/saved.pb: its "
                        "directory ledger-data/data.mdb is not a directory; create it or save "
                        "elsewhere\n",
                        run.err);
    run_free(&run);
    /* A name as long as a directory entry holds (255 bytes) is saved there,
     * the temporary file beside it being named apart. */
    char longest[256];
    memset(longest, 'n', sizeof longest - 1);
    longest[sizeof longest - 1] = '\0';
    ctl(fixture, &run, "auditor", auditor, "--partner", "contoso", "head", "--save", longest, NULL);
    expect_ok(&run);
    run_free(&run);
    char longest_path[PATH_SIZE + sizeof longest + 1];
    snprintf(longest_path, sizeof longest_path, "%s/%s", fixture->dir, longest);
    struct stat longest_info;
    assert_int_equal(0, stat(longest_path, &longest_info));
    assert_true(longest_info.st_size > 0);
    assert_int_equal(0, unlink(longest_path));
    /* A name longer than a directory entry holds is neither: the system's
     * reason is said. */
    char long_name[300];
    memset(long_name, 'n', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    ctl(fixture, &run, "auditor", auditor, "--partner", "contoso", "head", "--save", long_name,
        NULL);
    char long_says[sizeof long_name + 64];
    snprintf(long_says, sizeof long_says, "error: IO_ERROR: cannot write %s: File name too long\n",
             long_name);
    expect_error(&run, 1, "IO_ERROR");
    assert_string_equal(long_says, run.err);
    assert_string_equal("", run.out);
    run_free(&run);
    /* A head that stops short (files limited to 16 bytes, as a full disk
     * stops a write) says why, and leaves neither the file nor its
     * temporary one. */
    const char *save[] = {ledgerctl_path(),
                          "--socket",
                          fixture->socket,
                          "--principal",
                          "auditor",
                          "--key-file",
                          auditor,
                          "--partner",
                          "contoso",
                          "head",
                          "--save",
                          "cut-short.pb",
                          NULL};
    run_argv_file_limited(fixture, &run, save, 16);
    /* Its first line: a build measuring coverage adds its own complaint. */
    const char *cut = "error: IO_ERROR: cannot write cut-short.pb: File too large\n";
    assert_int_equal(0, strncmp(run.err, cut, strlen(cut)));
    assert_int_equal(1, run.status);
    run_free(&run);
    DIR *directory = opendir(fixture->dir);
    assert_non_null(directory);
    for (struct dirent *entry = readdir(directory); entry != NULL; entry = readdir(directory)) {
        if (strncmp(entry->d_name, "cut-short.pb", 12) == 0 ||
            strncmp(entry->d_name, ".ledgerctl-save-", 16) == 0) {
            fail_msg("head --save left %s", entry->d_name);
        }
    }
    closedir(directory);
}

static int run_command(const char *const *argv)
{
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        dup2(fd, 1);
        dup2(fd, 2);
        execv(argv[0], (char *const *)(uintptr_t)argv);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* Every JSON line of `events` whose sequence is at most `head`, in order,
 * joined: what two ledgers must agree on up to a backup's head. */
struct kept_lines {
    json_int_t head;
    char *text;
    size_t size, used;
};

static void keep_up_to_head(void *context, json_t *event, const char *line)
{
    struct kept_lines *kept = context;
    if (json_int_at(event, "sequence") <= kept->head) {
        kept->used +=
            (size_t)snprintf(kept->text + kept->used, kept->size - kept->used, "%s\n", line);
    }
}

static char *events_up_to(const char *out, json_int_t head)
{
    struct kept_lines kept = {.head = head, .size = strlen(out) + 1, .used = 0};
    kept.text = calloc(1, kept.size);
    assert_non_null(kept.text);
    json_lines_each(out, keep_up_to_head, &kept);
    return kept.text;
}

/* The ledger's head as the operator sees it. */
static json_int_t head_of(struct fixture *fixture)
{
    struct run run;
    ctl(fixture, &run, "operator", fixture->operator_key, "--output", "json", "head", NULL);
    expect_ok(&run);
    json_int_t head = json_int_at(json_object_get(run.json, "head"), "tree_size");
    run_free(&run);
    return head;
}

/* Waits until the ledger's head is past `mark`, while the child `writer`
 * (which commits until told to stop) is still running; fails the test after
 * a generous deadline or when the writer has exited. */
static void writer_wait_past(struct fixture *fixture, pid_t writer, json_int_t mark)
{
    for (long waited = 0; head_of(fixture) <= mark; waited += 50) {
        int status = 0;
        if (waitpid(writer, &status, WNOHANG) == writer) {
            fail_msg("the writer exited (status %d) before the head passed %lld", status,
                     (long long)mark);
        }
        if (waited >= test_timeout_ms(60000)) {
            kill(writer, SIGKILL);
            waitpid(writer, NULL, 0);
            fail_msg("the head did not pass %lld", (long long)mark);
        }
        sleep_ms(50);
    }
}

/* Backups taken while another client writes: each verifies offline, and a
 * ledger restored from one answers as the source did at the backup's head
 * (the events up to it, a view as of it). */
static void test_ctl_ops_backup_under_load(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    char key[PATH_SIZE + 16], auditor_key[PATH_SIZE + 16];
    make_partner(fixture, "p-load", "p-load-admin", key, sizeof key);
    make_staff(fixture, "p-load", "p-load-auditor", "auditor", auditor_key, sizeof auditor_key);
    add_customer_with_plan(fixture, "p-load-admin", key, "load-c", "load-plan");

    /* The writer: a child that turns the permission on and off (one event
     * each) until told to stop, from a directory of its own. */
    char stop[PATH_SIZE + 16];
    snprintf(stop, sizeof stop, "%s/load-stop", fixture->dir);
    pid_t writer = fork();
    assert_true(writer >= 0);
    if (writer == 0) {
        struct fixture own = *fixture;
        int length = snprintf(own.dir, sizeof own.dir, "%s/writer", fixture->dir);
        if (length < 0 || (size_t)length >= sizeof own.dir || mkdir(own.dir, 0700) != 0) {
            _exit(2);
        }
        for (int i = 0; i < 2000 && access(stop, F_OK) != 0; i++) {
            struct run step;
            ctl(&own, &step, "p-load-admin", key, "permission", i % 2 == 0 ? "enable" : "disable",
                "--customer", "load-c", "--kind", "reservations", NULL);
            int status = step.status;
            run_free(&step);
            if (status != 0) {
                _exit(1);
            }
        }
        _exit(0);
    }
    /* Each backup once the writer has committed since the last mark (its
     * first command, the backup before), and the writer stopped once it
     * has committed past the last backup's head: how fast it goes depends
     * on the machine's load, not on a fixed pause. */
    const char *names[] = {"load-a", "load-b"};
    json_int_t mark = head_of(fixture);
    for (int i = 0; i < 2; i++) {
        writer_wait_past(fixture, writer, mark);
        ctl(fixture, &run, "operator", fixture->operator_key, "--output", "json", "backup", "--out",
            names[i], NULL);
        expect_ok(&run);
        mark = json_int_at(json_object_get(run.json, "head"), "tree_size");
        assert_true(mark > 0);
        run_free(&run);
    }
    writer_wait_past(fixture, writer, mark);
    write_text(stop, "stop");
    int status = 0;
    assert_int_equal(waitpid(writer, &status, 0), writer);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    /* Each backup verifies offline, views included, against its own head. */
    const char *verifier = getenv("LEDGER_VERIFY");
    assert_non_null(verifier);
    for (int i = 0; i < 2; i++) {
        char dir[PATH_SIZE + 16], head[PATH_SIZE + 32];
        snprintf(dir, sizeof dir, "%s/%s", fixture->dir, names[i]);
        snprintf(head, sizeof head, "%s/head.pb", dir);
        const char *offline[] = {verifier, "--head", head, "--quiet", dir, NULL};
        assert_int_equal(0, run_command(offline));
    }

    /* The first one restored and served beside the source. */
    char backup[PATH_SIZE + 16], data2[PATH_SIZE + 16], socket2[PATH_SIZE + 64];
    char log2[PATH_SIZE + 16], head_key[PATH_SIZE + 16];
    snprintf(backup, sizeof backup, "%s/load-a", fixture->dir);
    snprintf(data2, sizeof data2, "%s/load-restored", fixture->dir);
    snprintf(socket2, sizeof socket2, "ipc://%s/ledger.sock", data2);
    snprintf(log2, sizeof log2, "%s/load-daemon2.log", fixture->dir);
    snprintf(head_key, sizeof head_key, "%s/head.key", fixture->data);
    const char *ledgerd = getenv("LEDGERD") != NULL ? getenv("LEDGERD") : "../daemon/ledgerd";
    /* A backup holds no head.key (docs/operations.md): restore gets it. */
    const char *restore[] = {ledgerd, "restore",    "--from", backup, "--data",
                             data2,   "--head-key", head_key, NULL};
    assert_int_equal(0, run_command(restore));
    pid_t second = daemon_start(data2, log2);
    assert_true(second > 0);

    ctl(fixture, &run, NULL, NULL, "--socket", socket2, "--principal", "p-load-auditor",
        "--key-file", auditor_key, "--output", "json", "head", NULL);
    expect_ok(&run);
    json_int_t head = json_int_at(json_object_get(run.json, "head"), "tree_size");
    run_free(&run);
    ctl(fixture, &run, "p-load-auditor", auditor_key, "--output", "json", "head", NULL);
    expect_ok(&run);
    json_int_t live_head = json_int_at(json_object_get(run.json, "head"), "tree_size");
    run_free(&run);
    /* The writer was writing across the backup: the source went on. */
    assert_true(live_head > head);

    char as_of[32];
    snprintf(as_of, sizeof as_of, "%lld", (long long)head);
    struct run restored, source;
    ctl(fixture, &restored, NULL, NULL, "--socket", socket2, "--principal", "p-load-auditor",
        "--key-file", auditor_key, "--output", "json", "events", "--limit", "10000", NULL);
    expect_ok(&restored);
    ctl(fixture, &source, "p-load-auditor", auditor_key, "--output", "json", "events", "--limit",
        "10000", NULL);
    expect_ok(&source);
    char *restored_events = events_up_to(restored.out, head);
    char *source_events = events_up_to(source.out, head);
    assert_true(strlen(restored_events) > 0);
    assert_string_equal(restored_events, source_events);
    /* The restored ledger holds nothing past the backup's head. */
    assert_string_equal(restored_events, restored.out);
    free(restored_events);
    free(source_events);
    run_free(&restored);
    run_free(&source);
    ctl(fixture, &restored, NULL, NULL, "--socket", socket2, "--principal", "p-load-admin",
        "--key-file", key, "--output", "json", "permissions", "--customer", "load-c", "--history",
        "--as-of", as_of, NULL);
    expect_ok(&restored);
    ctl(fixture, &source, "p-load-admin", key, "--output", "json", "permissions", "--customer",
        "load-c", "--history", "--as-of", as_of, NULL);
    expect_ok(&source);
    assert_string_equal(restored.out, source.out);
    run_free(&restored);
    run_free(&source);
    daemon_stop(second);
}

static void test_ctl_ops_verify_saved_head(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    char key[PATH_SIZE + 16], saved[PATH_SIZE + 16], later[PATH_SIZE + 16];
    char backup[PATH_SIZE], data2[PATH_SIZE], socket2[PATH_SIZE + 64];
    char log2[PATH_SIZE + 16], head_key[PATH_SIZE + 16], auditor_key[PATH_SIZE + 16];
    make_partner(fixture, "p-vh", "p-vh-admin", key, sizeof key);
    make_staff(fixture, "p-vh", "p-vh-auditor", "auditor", auditor_key, sizeof auditor_key);
    snprintf(saved, sizeof saved, "%s/saved-head.pb", fixture->dir);
    snprintf(later, sizeof later, "%s/later-head.pb", fixture->dir);
    snprintf(backup, sizeof backup, "%s/vh-backup", fixture->dir);
    snprintf(data2, sizeof data2, "%s/vh-data2", fixture->dir);
    snprintf(socket2, sizeof socket2, "ipc://%s/ledger.sock", data2);
    snprintf(log2, sizeof log2, "%s/daemon2.log", fixture->dir);
    snprintf(head_key, sizeof head_key, "%s/head.key", fixture->data);

    /* Save a head; the history grows; it still extends the saved head. */
    ctl(fixture, &run, "p-vh-auditor", auditor_key, "--output", "json", "head", "--save", saved,
        NULL);
    expect_ok(&run);
    assert_string_equal(saved, json_string_value(json_object_get(run.json, "saved_to")));
    run_free(&run);
    ctl(fixture, &run, "p-vh-auditor", auditor_key, "verify", "--head", saved, NULL);
    expect_ok(&run);
    assert_non_null(strstr(run.out, "same size, same root"));
    run_free(&run);
    /* Files that are no head: garbage, and an empty file (which decodes as a
     * SignedHead of nothing, with no root): usage errors alike. */
    static const char *const not_heads[] = {"\x0a\x0b garbage", ""};
    for (size_t i = 0; i < sizeof not_heads / sizeof not_heads[0]; i++) {
        write_text(later, not_heads[i]);
        ctl(fixture, &run, "p-vh-auditor", auditor_key, "verify", "--head", later, NULL);
        expect_error(&run, 2, "USAGE");
        assert_non_null(strstr(run.err, "is not a serialized ledger.v1.SignedHead"));
        run_free(&run);
    }
    /* A head file of LEDGER_HEAD_FILE_MAX bytes is a head; one field more
     * and it is none, refused whole (its first LEDGER_HEAD_FILE_MAX bytes
     * decode as the head), as ledgerd and ledger-verify refuse it. */
    head_padded(saved, later, 0);
    ctl(fixture, &run, "p-vh-auditor", auditor_key, "verify", "--head", later, NULL);
    expect_ok(&run);
    assert_non_null(strstr(run.out, "same size, same root"));
    run_free(&run);
    head_padded(saved, later, 1);
    ctl(fixture, &run, "p-vh-auditor", auditor_key, "verify", "--head", later, NULL);
    expect_error(&run, 2, "USAGE");
    assert_non_null(strstr(run.err, "is not a serialized ledger.v1.SignedHead"));
    /* Said why, as ledger-verify says it. */
    assert_non_null(strstr(run.err, "(it is larger than any head)"));
    run_free(&run);
    unlink(later);
    ctl(fixture, &run, "operator", fixture->operator_key, "backup", "--out", "vh-backup", NULL);
    expect_ok(&run);
    run_free(&run);
    ctl(fixture, &run, "p-vh-admin", key, "customer", "add", "--customer", "c1", "--name", "C1",
        NULL);
    expect_ok(&run);
    run_free(&run);
    ctl(fixture, &run, "p-vh-auditor", auditor_key, "verify", "--head", saved, NULL);
    expect_ok(&run);
    assert_non_null(strstr(run.out, "verified: the current history extends the saved head"));
    assert_non_null(strstr(run.out, "consistency    proof from "));
    run_free(&run);
    ctl(fixture, &run, "p-vh-auditor", auditor_key, "head", "--public-key", NULL);
    char public_key[80];
    snprintf(public_key, sizeof public_key, "%.64s", run.out);
    run_free(&run);
    ctl(fixture, &run, "p-vh-auditor", auditor_key, "--output", "json", "verify", "--head", saved,
        "--public-key", public_key, NULL);
    expect_ok(&run);
    /* JSON says yes and no as booleans, like the other audit verbs. */
    json_t *row = json_array_get(json_object_get(run.json, "verify"), 0);
    assert_true(json_is_true(json_object_get(row, "verified")));
    assert_true(json_is_true(json_object_get(row, "key_pinned")));
    assert_string_equal(public_key, json_string_value(json_object_get(row, "public_key")));
    assert_true(json_int_at(row, "new_events") >= 1);
    run_free(&run);
    ctl(fixture, &run, "p-vh-auditor", auditor_key, "--output", "json", "verify", "--head", saved,
        NULL);
    expect_ok(&run);
    row = json_array_get(json_object_get(run.json, "verify"), 0);
    assert_true(json_is_true(json_object_get(row, "verified")));
    assert_true(json_is_false(json_object_get(row, "key_pinned")));
    run_free(&run);
    /* CSV keeps yes and no. */
    ctl(fixture, &run, "p-vh-auditor", auditor_key, "--output", "csv", "verify", "--head", saved,
        NULL);
    expect_ok(&run);
    assert_non_null(strstr(run.out, "public_key,key_pinned,"));
    assert_non_null(strstr(run.out, ",no,"));
    assert_true(strlen(run.out) > 6);
    assert_string_equal(",yes\r\n", run.out + strlen(run.out) - 6); /* verified */
    run_free(&run);
    ctl(fixture, &run, "p-vh-auditor", auditor_key, "head", "--save", later, NULL);
    expect_ok(&run);
    run_free(&run);
    /* The offline verifier reads a saved head: the backup holds its tree. */
    const char *verifier = getenv("LEDGER_VERIFY");
    if (verifier != NULL) {
        const char *offline[] = {verifier,       "--head",   saved,
                                 "--public-key", public_key, "--no-views",
                                 "--quiet",      backup,     NULL};
        assert_int_equal(0, run_command(offline));
    }

    /* Another key: MISMATCH. A file that is no head: USAGE. */
    ctl(fixture, &run, "p-vh-auditor", auditor_key, "verify", "--head", saved, "--public-key",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", NULL);
    expect_error(&run, 1, "MISMATCH");
    run_free(&run);
    /* A key that is no key is a usage error, not a head left unpinned. */
    ctl(fixture, &run, "p-vh-auditor", auditor_key, "verify", "--head", saved, "--public-key",
        "d75a98", NULL);
    expect_error(&run, 2, "USAGE");
    assert_non_null(
        strstr(run.err, "--public-key: give the ledger's Ed25519 public key as 64 hex"));
    run_free(&run);
    /* A saved head that names no key (a file cut short after its
     * signature) is verified by the pinned key, as ledger-verify verifies
     * it, and without one is refused saying to pin the key; a saved head
     * without its signature is refused saying so, not blamed on the
     * daemon's head key. */
    char cut[PATH_SIZE + 16];
    snprintf(cut, sizeof cut, "%s/cut-head.pb", fixture->dir);
    head_without(saved, cut, true);
    ctl(fixture, &run, "p-vh-auditor", auditor_key, "verify", "--head", cut, "--public-key",
        public_key, NULL);
    expect_ok(&run);
    assert_non_null(strstr(run.out, "verified: the current history extends the saved head"));
    run_free(&run);
    ctl(fixture, &run, "p-vh-auditor", auditor_key, "verify", "--head", cut, NULL);
    expect_error(&run, 1, "MISMATCH");
    assert_non_null(strstr(run.err, "the saved head names no public key: pass --public-key"));
    assert_null(strstr(run.err, "daemon"));
    run_free(&run);
    if (verifier != NULL) {
        const char *offline[] = {verifier,  "--head", cut, "--public-key", public_key, "--no-views",
                                 "--quiet", backup,   NULL};
        assert_int_equal(0, run_command(offline));
    }
    head_without(saved, cut, false);
    ctl(fixture, &run, "p-vh-auditor", auditor_key, "verify", "--head", cut, "--public-key",
        public_key, NULL);
    expect_error(&run, 1, "MISMATCH");
    assert_non_null(strstr(run.err, "carries no signature"));
    assert_non_null(strstr(run.err, cut));
    assert_null(strstr(run.err, "daemon"));
    run_free(&run);
    /* A saved head of another ledger (another key): its own signature holds,
     * the daemon's head is not signed by that key, and the refusal says
     * which key was expected. */
    char foreign[PATH_SIZE + 16], foreign_key[65];
    snprintf(foreign, sizeof foreign, "%s/foreign-head.pb", fixture->dir);
    head_signed_by_another_key(saved, foreign, foreign_key);
    ctl(fixture, &run, "p-vh-auditor", auditor_key, "verify", "--head", foreign, NULL);
    expect_error(&run, 1, "MISMATCH");
    assert_non_null(strstr(run.err, "the current head is signed by key "));
    assert_non_null(strstr(run.err, public_key));
    assert_non_null(strstr(run.err, "not by the saved head's key"));
    run_free(&run);
    ctl(fixture, &run, "p-vh-auditor", auditor_key, "verify", "--head", foreign, "--public-key",
        foreign_key, NULL);
    expect_error(&run, 1, "MISMATCH");
    assert_non_null(strstr(run.err, "the current head is signed by key "));
    assert_non_null(strstr(run.err, "not by the pinned key (--public-key)"));
    run_free(&run);
    ctl(fixture, &run, "p-vh-auditor", auditor_key, "verify", "--head", foreign, "--public-key",
        public_key, NULL);
    expect_error(&run, 1, "MISMATCH");
    assert_non_null(strstr(run.err, "the saved head is signed by key "));
    assert_non_null(strstr(run.err, foreign_key));
    run_free(&run);
    char junk[PATH_SIZE + 16];
    snprintf(junk, sizeof junk, "%s/junk.pb", fixture->dir);
    write_text(junk, "this is not a head");
    ctl(fixture, &run, "p-vh-auditor", auditor_key, "verify", "--head", junk, NULL);
    expect_error(&run, 2, "USAGE");
    run_free(&run);

    /* A ledger restored from the backup has the same key and a shorter
     * history: the later head was cut back. */
    const char *ledgerd = getenv("LEDGERD") != NULL ? getenv("LEDGERD") : "../daemon/ledgerd";
    char backup_key[PATH_SIZE + 32];
    snprintf(backup_key, sizeof backup_key, "%s/head.key", backup);
    struct stat info;
    const char *restore[] = {ledgerd,
                             "restore",
                             "--from",
                             backup,
                             "--data",
                             data2,
                             stat(backup_key, &info) == 0 ? NULL : "--head-key",
                             head_key,
                             NULL};
    assert_int_equal(0, run_command(restore));
    pid_t second = daemon_start(data2, log2);
    assert_true(second > 0);
    ctl(fixture, &run, NULL, NULL, "--socket", socket2, "--principal", "p-vh-auditor", "--key-file",
        auditor_key, "verify", "--head", later, NULL);
    expect_error(&run, 1, "MISMATCH");
    assert_non_null(strstr(run.err, "cut back"));
    run_free(&run);
    /* Other events in its place: the history was rewritten. */
    for (int i = 0; i < 3; i++) {
        char customer[32];
        snprintf(customer, sizeof customer, "other-%d", i);
        ctl(fixture, &run, NULL, NULL, "--socket", socket2, "--principal", "p-vh-admin",
            "--key-file", key, "customer", "add", "--customer", customer, "--name", "Other", NULL);
        expect_ok(&run);
        run_free(&run);
    }
    ctl(fixture, &run, NULL, NULL, "--socket", socket2, "--principal", "p-vh-auditor", "--key-file",
        auditor_key, "--output", "json", "verify", "--head", later, NULL);
    expect_error(&run, 1, "MISMATCH");
    assert_non_null(strstr(run.err, "rewritten"));
    expect_json_error(&run, "MISMATCH");
    run_free(&run);
    /* The head saved before the backup is still extended by both. */
    ctl(fixture, &run, NULL, NULL, "--socket", socket2, "--principal", "p-vh-auditor", "--key-file",
        auditor_key, "verify", "--head", saved, NULL);
    expect_ok(&run);
    run_free(&run);
    daemon_stop(second);
}

/* A write's JSON reply, freed here: the reservation id it assigned and the
 * sequence of its event. */
static void committed(struct run *run, char *reservation, size_t size, char sequence[32])
{
    expect_ok(run);
    result_field(run, "reservation_id", reservation, size);
    snprintf(sequence, 32, "%lld",
             (long long)json_int_at(json_array_get(json_object_get(run->json, "results"), 0),
                                    "first_sequence"));
    run_free(run);
}

/* explain of the partner's own changes, as docs/cli.md shows them: an
 * exchange whose replacements are billed to two subscriptions has a
 * "billed to:" line for each (JSON: the second in other_subscriptions), and
 * a renewal names the reservation it renewed and the one it made. */
static void test_ctl_ops_explain_exchange_and_renewal(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    char key[PATH_SIZE + 16], auditor_key[PATH_SIZE + 16];
    make_partner(fixture, "p-expl", "p-expl-admin", key, sizeof key);
    make_staff(fixture, "p-expl", "p-expl-auditor", "auditor", auditor_key, sizeof auditor_key);
    /* Dated back, so that the purchase's business time is not when it was
     * recorded. */
    const char *const dated = "2026-01-02T03:04:05Z";
    const char *const setup[][12] = {
        {"customer", "add", "--customer", "expl-c", "--name", "Expl", "--business-time", dated},
        {"subscription", "add", "--customer", "expl-c", "--subscription", "expl-plan-1", "--offer",
         "azure-plan", "--business-time", dated},
        {"subscription", "add", "--customer", "expl-c", "--subscription", "expl-plan-2", "--offer",
         "azure-plan", "--business-time", dated},
    };
    for (size_t i = 0; i < sizeof setup / sizeof setup[0]; i++) {
        const char *const *a = setup[i];
        ctl(fixture, &run, "p-expl-admin", key, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7],
            a[8], a[9], NULL);
        expect_ok(&run);
        run_free(&run);
    }
    char bought[64], replaced[64], sequence[32];
    ctl(fixture, &run, "p-expl-admin", key, "--output", "json", "reservation", "buy", "--customer",
        "expl-c", "--subscription", "expl-plan-1", "--sku", "Standard_D2s_v5", "--region",
        "westeurope", "--quantity", "1", "--term", "P1Y", "--billing", "upfront", "--scope",
        "shared", "--price", "100.00", "--retail-price", "120.00", "--currency", "USD",
        "--business-time", dated, NULL);
    committed(&run, bought, sizeof bought, sequence);
    /* A purchase is explained at its business time. */
    ctl(fixture, &run, "p-expl-auditor", auditor_key, "explain", "--seq", sequence, NULL);
    expect_ok(&run);
    char line[256];
    snprintf(line, sizeof line, ", bought by p-expl-admin (admin-agent) at %s (sequence %s)\n",
             dated, sequence);
    assert_non_null(strstr(run.out, line));
    run_free(&run);
    ctl(fixture, &run, "p-expl-admin", key, "--output", "json", "reservation", "exchange",
        "--customer", "expl-c", "--reservation", bought, "--refund", "0", "--subscription",
        "expl-plan-1,expl-plan-2", "--sku", "Standard_E4s_v5", "--region", "westeurope",
        "--quantity", "1", "--term", "P3Y", "--billing", "upfront", "--scope", "shared", "--price",
        "300.00", "--retail-price", "400.00", "--currency", "USD", NULL);
    committed(&run, replaced, sizeof replaced, sequence);

    ctl(fixture, &run, "p-expl-auditor", auditor_key, "explain", "--seq", sequence, NULL);
    expect_ok(&run);
    snprintf(line, sizeof line,
             "purchase:   exchange of %s (refund 0.00 USD) for 2 new reservations:", bought);
    assert_non_null(strstr(run.out, line));
    const char *first = strstr(run.out, "\nbilled to:  subscription expl-plan-1 (azure-plan) ");
    const char *second = strstr(run.out, "\nbilled to:  subscription expl-plan-2 (azure-plan) ");
    assert_non_null(first);
    assert_non_null(second);
    assert_true(first < second);
    run_free(&run);
    ctl(fixture, &run, "p-expl-auditor", auditor_key, "--output", "json", "explain", "--seq",
        sequence, NULL);
    expect_ok(&run);
    json_t *others =
        json_object_get(json_object_get(run.json, "explanation"), "other_subscriptions");
    assert_int_equal(1, json_array_size(others));
    assert_string_equal("expl-plan-2",
                        json_string_value(json_object_get(
                            json_object_get(json_object_get(json_array_get(others, 0), "event"),
                                            "subscription_purchased"),
                            "subscription_id")));
    run_free(&run);

    /* The first replacement set to renew, and its renewal recorded. */
    ctl(fixture, &run, "p-expl-admin", key, "reservation", "renew", "--customer", "expl-c",
        "--reservation", replaced, "--on", NULL);
    expect_ok(&run);
    run_free(&run);
    char renewal[64];
    ctl(fixture, &run, "p-expl-admin", key, "--output", "json", "reservation", "renewed",
        "--customer", "expl-c", "--reservation", replaced, "--price", "280.00", "--retail-price",
        "390.00", "--currency", "USD", NULL);
    committed(&run, renewal, sizeof renewal, sequence);
    ctl(fixture, &run, "p-expl-auditor", auditor_key, "explain", "--seq", sequence, NULL);
    expect_ok(&run);
    snprintf(line, sizeof line,
             "purchase:   renewal of reservation %s as:\n            reservation %s (order ",
             replaced, renewal);
    assert_non_null(strstr(run.out, line));
    assert_non_null(strstr(run.out, ", price 280.00 USD (retail 390.00 USD)\n"));
    assert_non_null(strstr(run.out, ", renewed by p-expl-admin (admin-agent) at "));
    assert_non_null(strstr(run.out, "\nallowed by: the partner renewed it; "));
    assert_non_null(strstr(run.out, "\nbilled to:  subscription expl-plan-1 (azure-plan) "));
    run_free(&run);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ctl_ops_csv_reader),
        cmocka_unit_test(test_ctl_ops_export_csv),
        cmocka_unit_test(test_ctl_ops_export_pinned_to_a_head),
        cmocka_unit_test(test_ctl_ops_export_quotes_fields),
        cmocka_unit_test(test_ctl_ops_reconcile_known_mismatches),
        cmocka_unit_test(test_ctl_ops_reconcile_split_charge),
        cmocka_unit_test(test_ctl_ops_reconcile_invoice_format),
        cmocka_unit_test(test_ctl_ops_reconcile_other_month),
        cmocka_unit_test(test_ctl_ops_reconcile_line_without_charge),
        cmocka_unit_test(test_ctl_ops_reconcile_csv_formula),
        cmocka_unit_test(test_ctl_ops_reconcile_not_utf8),
        cmocka_unit_test(test_ctl_ops_reconcile_cloud_order_ids),
        cmocka_unit_test(test_ctl_ops_reconcile_charge_kind),
        cmocka_unit_test(test_ctl_ops_reconcile_empty_month),
        cmocka_unit_test(test_ctl_ops_reconcile_invoice_from_pipe),
        cmocka_unit_test(test_ctl_ops_events_csv_appended),
        cmocka_unit_test(test_ctl_ops_events_csv_other_header),
        cmocka_unit_test(test_ctl_ops_events_cut_record_removed),
        cmocka_unit_test(test_ctl_ops_events_cut_line_kept),
        cmocka_unit_test(test_ctl_ops_events_checkpoint_per_page),
        cmocka_unit_test(test_ctl_ops_events_cut_line_synced),
        cmocka_unit_test(test_ctl_ops_events_interrupted),
        cmocka_unit_test(test_ctl_ops_proofs_verified),
        cmocka_unit_test(test_ctl_ops_proofs_in_csv),
        cmocka_unit_test(test_ctl_ops_pages),
        cmocka_unit_test(test_ctl_ops_audit_refusals),
        cmocka_unit_test(test_ctl_ops_verify_saved_head),
        cmocka_unit_test(test_ctl_ops_head_save_syncs_directory),
        cmocka_unit_test(test_ctl_ops_backup_under_load),
        cmocka_unit_test(test_ctl_ops_explain_exchange_and_renewal),
    };
    return cmocka_run_group_tests(tests, fixture_setup, fixture_teardown);
}
