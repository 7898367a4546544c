/*
 * ctl_csv.c: an RFC 4180 reader (see ctl_csv.h).
 *
 * One pass over the text with a small state machine: at the start of a
 * field, inside an unquoted field, inside a quoted field, just after a
 * quote inside a quoted field (which is either the closing quote or the
 * first of a doubled one), or after a closing quote.
 *
 * Spaces and tabs around a quoted field (`a, "b,c" ,d`, as written by
 * hand) are not part of it: RFC 4180 has no such field, so no valid file
 * reads differently for it, and an invoice written in the "a, b" style that
 * ledgerctl reconcile accepts can quote a value too.
 */
#include "ctl_csv.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct builder {
    struct ctl_csv csv;
    size_t records_capacity;
    char **fields;
    size_t field_count;
    char field[CTL_CSV_FIELD_MAX + 1];
    size_t field_length;
};

static enum ledger_err fail(char message[CTL_MESSAGE_SIZE], size_t line, const char *why)
{
    snprintf(message, CTL_MESSAGE_SIZE, "line %zu: %s", line, why);
    return LEDGER_ERR_USAGE;
}

static void fields_free(char **fields, size_t count)
{
    for (size_t i = 0; fields != NULL && i < count; i++) {
        free(fields[i]);
    }
    free(fields);
}

static enum ledger_err field_end(struct builder *b, size_t line, char message[CTL_MESSAGE_SIZE])
{
    if (b->fields == NULL) {
        b->fields = calloc(CTL_CSV_FIELDS_MAX, sizeof *b->fields);
        if (b->fields == NULL) {
            return LEDGER_ERR_NO_MEMORY;
        }
    }
    if (b->field_count == CTL_CSV_FIELDS_MAX) {
        return fail(message, line, "more than 64 fields in one record");
    }
    char *copy = malloc(b->field_length + 1);
    if (copy == NULL) {
        return LEDGER_ERR_NO_MEMORY;
    }
    memcpy(copy, b->field, b->field_length);
    copy[b->field_length] = '\0';
    b->fields[b->field_count++] = copy;
    b->field_length = 0;
    return LEDGER_ERR_OK;
}

static enum ledger_err record_end(struct builder *b, size_t line, char message[CTL_MESSAGE_SIZE])
{
    if (b->csv.count == CTL_CSV_RECORDS_MAX) {
        return fail(message, line, "more than 1000000 records");
    }
    if (b->csv.count == b->records_capacity) {
        size_t capacity = b->records_capacity == 0 ? 64 : 2 * b->records_capacity;
        struct ctl_csv_record *grown = realloc(b->csv.records, capacity * sizeof *grown);
        if (grown == NULL) {
            return LEDGER_ERR_NO_MEMORY;
        }
        b->csv.records = grown;
        b->records_capacity = capacity;
    }
    struct ctl_csv_record *record = &b->csv.records[b->csv.count++];
    record->fields = b->fields;
    record->count = b->field_count;
    record->line = line;
    b->fields = NULL;
    b->field_count = 0;
    return LEDGER_ERR_OK;
}

enum field_state { AT_START, UNQUOTED, QUOTED, QUOTE_IN_QUOTED, AFTER_QUOTED };

static bool blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Whether the field read so far is only spaces and tabs (or nothing). */
static bool field_blank(const struct builder *b)
{
    for (size_t i = 0; i < b->field_length; i++) {
        if (!blank(b->field[i])) {
            return false;
        }
    }
    return true;
}

enum ledger_err ctl_csv_parse(const char *text, size_t size, struct ctl_csv *out,
                              char message[CTL_MESSAGE_SIZE])
{
    struct builder *b = calloc(1, sizeof *b);
    if (b == NULL) {
        return LEDGER_ERR_NO_MEMORY;
    }
    enum ledger_err err = LEDGER_ERR_OK;
    enum field_state state = AT_START;
    size_t line = 1;
    size_t record_line = 1;
    size_t quote_line = 1;
    bool record_empty = true; /* nothing of the current record read yet */
    size_t i = 0;
    message[0] = '\0';
    if (size >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
        i = 3;
    }
    for (; i < size && err == LEDGER_ERR_OK; i++) {
        char c = text[i];
        if (c == '\0') {
            err = fail(message, line, "a NUL byte; is this a text file?");
            break;
        }
        if (state == QUOTED) {
            if (c == '"') {
                state = QUOTE_IN_QUOTED;
                continue;
            }
            if (c == '\n') {
                line++;
            }
        } else {
            if (state == QUOTE_IN_QUOTED) {
                if (c == '"') { /* a doubled quote: one quote of data */
                    state = QUOTED;
                    goto append;
                }
                state = AFTER_QUOTED; /* the field is closed */
            }
            if (state == AFTER_QUOTED) {
                /* Only spaces and tabs, then , CR or LF, may follow. */
                if (blank(c)) {
                    continue;
                }
                if (c != ',' && c != '\r' && c != '\n') {
                    err = fail(message, line, "text after a closing quote (quote the whole field)");
                    break;
                }
            }
            if (c == ',') {
                err = field_end(b, line, message);
                state = AT_START;
                record_empty = false;
                continue;
            }
            if (c == '\r' && i + 1 < size && text[i + 1] == '\n') {
                continue; /* the LF ends the record */
            }
            if (c == '\r') {
                err = fail(message, line,
                           "a carriage return without a line feed (old Mac line ends?): save "
                           "the file with CRLF or LF line ends");
                break;
            }
            if (c == '\n') {
                if (!(record_empty && state == AT_START)) {
                    err = field_end(b, record_line, message);
                    if (err == LEDGER_ERR_OK) {
                        err = record_end(b, record_line, message);
                    }
                }
                /* An empty line is no record: skipped. */
                line++;
                record_line = line;
                record_empty = true;
                state = AT_START;
                continue;
            }
            if (c == '"') {
                if (state == UNQUOTED && field_blank(b)) {
                    /* Spaces before the opening quote: not data. */
                    b->field_length = 0;
                    state = AT_START;
                }
                if (state != AT_START) {
                    err = fail(message, line,
                               "a quote inside an unquoted field (enclose the field in quotes "
                               "and double the quote)");
                    break;
                }
                state = QUOTED;
                quote_line = line;
                record_empty = false;
                continue;
            }
            state = UNQUOTED;
            record_empty = false;
        }
    append:
        if (b->field_length == CTL_CSV_FIELD_MAX) {
            err = fail(message, line, "a field longer than 4096 bytes");
            break;
        }
        b->field[b->field_length++] = c;
    }
    if (err == LEDGER_ERR_OK && state == QUOTED) {
        err = fail(message, quote_line, "a quoted field is never closed");
    }
    if (err == LEDGER_ERR_OK && !(record_empty && state == AT_START)) {
        err = field_end(b, record_line, message);
        if (err == LEDGER_ERR_OK) {
            err = record_end(b, record_line, message);
        }
    }
    if (err == LEDGER_ERR_OK) {
        *out = b->csv;
    } else {
        ctl_csv_free(&b->csv);
    }
    fields_free(b->fields, b->field_count);
    free(b);
    return err;
}

void ctl_csv_free(struct ctl_csv *csv)
{
    for (size_t i = 0; i < csv->count; i++) {
        fields_free(csv->records[i].fields, csv->records[i].count);
    }
    free(csv->records);
    csv->records = NULL;
    csv->count = 0;
}
