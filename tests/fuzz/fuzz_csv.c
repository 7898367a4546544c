/*
 * fuzz_csv.c: libFuzzer target for the CSV reader (client/ctl_csv.c) that
 * `ledgerctl reconcile` runs on the invoice file a user passes, and its
 * agreement with the CSV writer (ctl_csv_field, client/ctl_output.c) that
 * `ledgerctl export` and every `--output csv` use.
 *
 * Method: the input is the file's contents, parsed with ctl_csv_parse. What
 * it accepts is written again as ledgerctl writes CSV (each field through
 * ctl_csv_field, commas between, CRLF after each record) behind a UTF-8 byte
 * order mark (which the reader skips, so a first field that itself begins
 * with one survives), and parsed again. A record of one empty field is
 * written as "" (an empty line is no record).
 *
 * Checked: no crash, leak or undefined behaviour; the result is OK, USAGE
 * with a message "line N: ..." (N >= 1), or NO_MEMORY; text holding a NUL
 * byte is refused; an accepted file has records of 1..CTL_CSV_FIELDS_MAX
 * fields of at most CTL_CSV_FIELD_MAX bytes, numbered by non-decreasing
 * lines from 1; writing and reading again gives the same records and fields.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_csv.h"
#include "ctl_output.h"
#include "fuzz_support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_refusal(enum ledger_err err, const char message[CTL_MESSAGE_SIZE])
{
    FUZZ_CHECK(err == LEDGER_ERR_USAGE || err == LEDGER_ERR_NO_MEMORY);
    if (err == LEDGER_ERR_USAGE) {
        unsigned long line = 0;
        FUZZ_CHECK(memchr(message, '\0', CTL_MESSAGE_SIZE) != NULL);
        FUZZ_CHECK(sscanf(message, "line %lu: ", &line) == 1 && line >= 1);
        FUZZ_CHECK(strstr(message, ": ") != NULL);
    }
}

static void check_shape(const struct ctl_csv *csv)
{
    size_t previous_line = 1;
    for (size_t r = 0; r < csv->count; r++) {
        const struct ctl_csv_record *record = &csv->records[r];
        FUZZ_CHECK(record->count >= 1 && record->count <= CTL_CSV_FIELDS_MAX);
        FUZZ_CHECK(record->line >= previous_line);
        previous_line = record->line;
        for (size_t f = 0; f < record->count; f++) {
            FUZZ_CHECK(strlen(record->fields[f]) <= CTL_CSV_FIELD_MAX);
        }
    }
}

/* The records as ledgerctl writes CSV; malloc'd text in *text. */
static size_t write_again(const struct ctl_csv *csv, char **text)
{
    size_t size = 0;
    FILE *out = open_memstream(text, &size);
    FUZZ_CHECK(out != NULL);
    fputs("\xEF\xBB\xBF", out);
    for (size_t r = 0; r < csv->count; r++) {
        const struct ctl_csv_record *record = &csv->records[r];
        if (record->count == 1 && record->fields[0][0] == '\0') {
            fputs("\"\"", out);
        }
        for (size_t f = 0; f < record->count; f++) {
            if (f > 0) {
                fputc(',', out);
            }
            ctl_csv_field(out, record->fields[f]);
        }
        fputs("\r\n", out);
    }
    FUZZ_CHECK(fclose(out) == 0);
    return size;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char message[CTL_MESSAGE_SIZE];
    struct ctl_csv csv = {0};
    enum ledger_err err = ctl_csv_parse((const char *)data, size, &csv, message);
    if (err != LEDGER_ERR_OK) {
        check_refusal(err, message);
        return 0;
    }
    FUZZ_CHECK(memchr(data, '\0', size) == NULL);
    check_shape(&csv);

    char *text = NULL;
    size_t text_size = write_again(&csv, &text);
    struct ctl_csv again = {0};
    err = ctl_csv_parse(text, text_size, &again, message);
    if (err == LEDGER_ERR_NO_MEMORY) {
        free(text);
        ctl_csv_free(&csv);
        return 0;
    }
    if (err != LEDGER_ERR_OK) {
        fuzz_fail("what was read and written again does not read: %s", message);
    }
    FUZZ_CHECK(again.count == csv.count);
    for (size_t r = 0; r < csv.count; r++) {
        FUZZ_CHECK(again.records[r].count == csv.records[r].count);
        for (size_t f = 0; f < csv.records[r].count; f++) {
            if (strcmp(again.records[r].fields[f], csv.records[r].fields[f]) != 0) {
                fuzz_fail("record %zu field %zu: '%s' read again as '%s'", r, f,
                          csv.records[r].fields[f], again.records[r].fields[f]);
            }
        }
    }
    ctl_csv_free(&again);
    free(text);
    ctl_csv_free(&csv);
    return 0;
}
