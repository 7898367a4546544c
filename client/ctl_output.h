/*
 * ctl_output.h: how ledgerctl prints: JSON documents, aligned tables, CSV.
 *
 * Owns: the only include of <jansson.h>; the generic protobuf-c message ->
 * JSON conversion driven by the descriptors (field names are the proto's
 * snake_case names; enums are spelled as on the command line, see ctl_args.h;
 * Money is {"amount": "12.34", "amount_minor": 1234, "currency": "USD"};
 * every int64 field ending in _us is followed by the same name without _us
 * holding the ISO 8601 UTC time, or null for 0; bytes are lower-case hex;
 * CommandResult.secret_hex is never printed); tables and CSV (RFC 4180,
 * CRLF line ends) made from the same JSON through column specs; error
 * output. docs/cli.md describes the formats.
 * Does not own: which columns a view shows (ctl_verbs).
 */
#ifndef CTL_OUTPUT_H
#define CTL_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"
#include "ledger.h"

enum ctl_format {
    CTL_FORMAT_TABLE = 0,
    CTL_FORMAT_JSON,
    CTL_FORMAT_CSV,
};

/* Table cells of time columns show the date only. */
#define CTL_COLUMN_DATE 1u
/* CSV splits money columns into "<path>.amount" and "<path>.currency". */
#define CTL_COLUMN_MONEY 2u
/* Free text that someone else wrote (a customer's name in an activity
 * detail, an invoice's own words in a reconciliation): CSV writes it as
 * ctl_csv_text_field does, so that a spreadsheet never evaluates it. */
#define CTL_COLUMN_FREE_TEXT 4u

struct ctl_column {
    const char *header; /* table header, e.g. "EXPIRES" */
    const char *path;   /* dotted path into the row's JSON, e.g. "scope.kind" */
    unsigned flags;
};

/* A top-level value printed beside the rows (JSON key, table footer line). */
struct ctl_extra {
    const char *name;
    const char *text; /* NULL: use number */
    uint64_t number;
    bool boolean; /* with text NULL: number is a truth value (JSON true/false, "yes"/"no") */
};

/* Prints a view: JSON {"<key>": [rows], extras...}; a table with a header
 * line; or CSV with a header record. rows: borrowed. IO_ERROR when writing
 * fails, NO_MEMORY. */
__attribute__((warn_unused_result)) enum ledger_err
ctl_output_rows(FILE *out, enum ctl_format format, const char *key,
                const ProtobufCMessage *const *rows, size_t count, const struct ctl_column *columns,
                size_t column_count, const struct ctl_extra *extras, size_t extra_count);

/* Events, printed as they arrive: JSON one object per line (the Event's
 * fields after "type"; with proofs also "record" and "proof"), a table with
 * fixed columns, or CSV. */
struct ctl_event_stream {
    FILE *out;
    enum ctl_format format;
    bool header_done;
};
__attribute__((warn_unused_result)) enum ledger_err
ctl_output_event(struct ctl_event_stream *stream, const Ledger__V1__EventEntry *entry);
/* Prints the feed's header line (table) or record (CSV, with the proof
 * columns when `proofs`) unless the stream has printed it already: for a
 * feed that ends without an event, which is an empty view, not an empty
 * file. JSON: nothing. IO_ERROR when writing fails. */
__attribute__((warn_unused_result)) enum ledger_err
ctl_output_event_header(struct ctl_event_stream *stream, bool proofs);
/* Before a feed is written to out, before anything is asked: when it is a
 * regular file that holds data before the position the feed is written at
 * (a feed started again with >> FILE), checks what a repair
 * (ctl_output_event_repair) will find there. A CSV feed goes on without a
 * header record of its own (header_done is set), provided the file begins
 * with the very header record this feed writes (with the proof columns
 * when `proofs`): records of other columns (an older build's feed, without
 * `business`) would not line up with the file's; a CSV file that holds only
 * a cut header record (a prefix of it, no line end) gets the header again.
 * In every format a last line without a line end (a cut line) must begin as
 * a line of the feed does (JSON: '{'; CSV: the sequence's digits; a table:
 * those, a proof line's spaces, its header or its verified line; or the
 * zeros a crash leaves where bytes never reached the disk). USAGE, with a
 * sentence naming the file and what to do in message (message_size bytes),
 * when the file begins, or its cut line, with anything else; OK when there
 * is nothing to check (not a regular file, nothing before the write
 * position, or not readable back); IO_ERROR, with message, when flushing
 * out fails. */
__attribute__((warn_unused_result)) enum ledger_err
ctl_output_event_resume(struct ctl_event_stream *stream, bool proofs, char *message,
                        size_t message_size);
/* Before the first line a feed prints (after its checkpoint was read and
 * locked): when out is a regular file whose last line has no line end (cut
 * short by a full disk, or by a crash before it reached the disk), removes
 * that line (truncates the file back to just after its last line end, moves
 * out's position there and fdatasyncs it), so that the feed's next line,
 * which prints its event again, starts where it began. *removed_out
 * (written on OK): the bytes removed, 0 when there was nothing to remove
 * (no cut line, a pipe, terminal or socket, a file that cannot be read
 * back). The checks and errors of ctl_output_event_resume, and IO_ERROR,
 * with a sentence naming the file and what to do in message, when the file
 * cannot be truncated or synced (then nothing was written to it). */
__attribute__((warn_unused_result)) enum ledger_err
ctl_output_event_repair(struct ctl_event_stream *stream, bool proofs, uint64_t *removed_out,
                        char *message, size_t message_size);
/* The name of out's file in a message (its path as the system knows it,
 * control characters shown as '?'), or "stdout" when it has none, in name
 * (name_size bytes). */
void ctl_output_name(FILE *out, char *name, size_t name_size);
/* Makes what was printed on out durable before a checkpoint names it:
 * flushes out and, when it is a regular file, fdatasyncs it (a pipe,
 * terminal or socket cannot be synced: OK). IO_ERROR, errno saying why,
 * when the flush, the fstat or the sync fails. */
__attribute__((warn_unused_result)) enum ledger_err ctl_output_sync(FILE *out);

/* Prints what a write did: for each command its id and CommandResult (never
 * the secret), then the head sequence and extras. */
__attribute__((warn_unused_result)) enum ledger_err
ctl_output_write_result(FILE *out, enum ctl_format format, const char *const *command_ids,
                        const Ledger__V1__Reply *reply, const struct ctl_extra *extras,
                        size_t extra_count);

/* Prints one named bytes value as hex: JSON {"<name>": "hex"}; CSV the
 * header field,value and the record <name>,hex; a table the hex alone on its
 * line. */
__attribute__((warn_unused_result)) enum ledger_err
ctl_output_value(FILE *out, enum ctl_format format, const char *name,
                 const ProtobufCBinaryData *bytes);

/* Prints one message (a head, a proof, an explanation) with extras beside
 * it: JSON {"<key>": {...}, extras...}; as a table, one "field value" line
 * per leaf and then one per extra; as CSV, a "field,value" header record,
 * then one record per leaf and one per extra. */
__attribute__((warn_unused_result)) enum ledger_err
ctl_output_message_extras(FILE *out, enum ctl_format format, const char *key,
                          const ProtobufCMessage *message, const struct ctl_extra *extras,
                          size_t extra_count);

/* What a column of ctl_output_records holds, which decides its JSON type. */
enum ctl_cell_kind {
    CTL_CELL_TEXT = 0,    /* a JSON string */
    CTL_CELL_NUMBER = 1,  /* decimal digits: a JSON number (null when empty) */
    CTL_CELL_BOOLEAN = 2, /* "yes": JSON true, "no": false (null when empty) */
    /* A JSON string, written in CSV as a CTL_COLUMN_FREE_TEXT column is. */
    CTL_CELL_FREE_TEXT = 3,
};

/* Records made of text cells (exports, reconciliation reports, verify): JSON
 * {"<key>": [{name: value, ...}], extras...} with each cell typed by its
 * column's kind; a table with the names upper-cased as headers; CSV with the
 * names as the header record (booleans as yes/no there). cells: row_count *
 * name_count texts, row by row (borrowed; NULL is ""). kinds: name_count
 * kinds, or NULL for text only. */
__attribute__((warn_unused_result)) enum ledger_err
ctl_output_records(FILE *out, enum ctl_format format, const char *key, const char *const *names,
                   const enum ctl_cell_kind *kinds, size_t name_count, const char *const *cells,
                   size_t row_count, const struct ctl_extra *extras, size_t extra_count);

/* Where a failure's JSON error document goes, besides the error line. */
enum ctl_error_document {
    CTL_ERROR_DOCUMENT_NONE, /* nowhere: not JSON, or out is broken or holds the report */
    CTL_ERROR_DOCUMENT_OUT,  /* on out, indented like every other document */
    /* On err as one line after the error line: for a feed (events), whose
     * out carries its events only, one a line, to programs that parse
     * every line as an event. */
    CTL_ERROR_DOCUMENT_ERR_LINE,
};

/* Reports a failure: "error: CODE_NAME: message" on err, and the document
 * {"error": {"code": "CODE_NAME", "message": "..."}} where `document` says. */
void ctl_output_error(FILE *out, FILE *err, enum ctl_error_document document, enum ledger_err code,
                      const char *message);

/* The compact JSON text of a message (fields in proto order), for tests and
 * logs: malloc'd, caller frees with free(); NULL when out of memory. */
char *ctl_json_text(const ProtobufCMessage *message);

/* IO_ERROR when a write to out has failed (its error indicator is set),
 * keeping that failure's errno for ctl_output_write_errno; OK otherwise.
 * Every function of this module that writes returns through it. */
__attribute__((warn_unused_result)) enum ledger_err ctl_output_status(FILE *out);
/* The errno of the first failed write ctl_output_status saw, 0 when none:
 * the reason an error line gives, which a later fflush no longer knows. */
int ctl_output_write_errno(void);

/* Shows as '?' the control characters of text (NUL-terminated, changed in
 * place: C0 but line feeds when keep_lines, DEL, C1) and each byte that is
 * not part of well-formed UTF-8: what a reply carries must not reach a
 * terminal as escape sequences. */
void ctl_text_clean(char *text, bool keep_lines);

/* Writes one CSV field, quoted when it holds a comma, quote, CR or LF. */
void ctl_csv_field(FILE *out, const char *text);

/* Writes one CSV field of free text as ctl_csv_field does, except that a
 * text beginning with '=', '+', '-', '@', a tab or a CR, which a
 * spreadsheet would evaluate as a formula (one that can fetch a URL or run
 * a command), is written after a single quote: the spreadsheet shows the
 * text, the quote hidden, and a program reading the CSV sees the quote. */
void ctl_csv_text_field(FILE *out, const char *text);

#endif
