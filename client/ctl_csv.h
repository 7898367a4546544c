/*
 * ctl_csv.h: reading CSV files (RFC 4180) for ledgerctl reconcile.
 *
 * Owns: parsing a whole CSV text into records of fields: fields separated by
 * commas, records ended by CRLF or LF (a last record without a line end is
 * accepted), fields optionally enclosed in double quotes, inside which
 * commas, CR, LF and doubled quotes ("") are data; spaces and tabs around
 * the quotes are not (`a, "b,c" ,d` reads "b,c"). A UTF-8 byte order mark
 * at the start is skipped. Errors name the line (1-based, counting every LF)
 * where the bad record starts or the fault was found.
 * Does not own: what the columns mean (ctl_ops), writing CSV (ctl_output).
 *
 * Bounds: at most CTL_CSV_FIELDS_MAX fields per record, CTL_CSV_FIELD_MAX
 * bytes per field, CTL_CSV_RECORDS_MAX records.
 */
#ifndef CTL_CSV_H
#define CTL_CSV_H

#include <stddef.h>

#include "ctl_amount.h"
#include "error.h"

#define CTL_CSV_FIELDS_MAX  64
#define CTL_CSV_FIELD_MAX   4096
#define CTL_CSV_RECORDS_MAX 1000000

struct ctl_csv_record {
    char **fields; /* NUL-terminated copies */
    size_t count;
    size_t line; /* the line the record starts on */
};

struct ctl_csv {
    struct ctl_csv_record *records;
    size_t count;
};

/* Parses `size` bytes at `text` (borrowed; may hold NUL bytes, which are
 * refused). out: written on OK; release with ctl_csv_free. USAGE with a
 * message naming the line: an unterminated quoted field, a quote inside an
 * unquoted field, text after a closing quote, a NUL byte, a bound exceeded.
 * NO_MEMORY. */
__attribute__((warn_unused_result)) enum ledger_err
ctl_csv_parse(const char *text, size_t size, struct ctl_csv *out, char message[CTL_MESSAGE_SIZE]);

/* Frees what ctl_csv_parse made; the struct is left empty. */
void ctl_csv_free(struct ctl_csv *csv);

#endif
