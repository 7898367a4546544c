/*
 * ctl_verbs.h: the verbs of ledgerctl and the dispatcher that runs them.
 *
 * Owns: the verb table (names, options, help texts, examples), turning
 * options into commands and queries, global option defaults (flags, then
 * LEDGER_* environment variables, then the default daemon in
 * ./ledger-data), the exit status of each error code, help output, and the
 * capture mode in which import has the write verbs build their commands
 * without sending them (ctl_capture_line).
 * Does not own: the wire (libledger), parsing numbers, amounts and times
 * (ctl_amount, ctl_time), printing (ctl_output), the demo world (ctl_demo).
 *
 * Its code is in ctl_verbs.c and, by concern, the ctl_verbs_*.c files, which
 * ctl_verbs_internal.h lists with what they share.
 */
#ifndef CTL_VERBS_H
#define CTL_VERBS_H

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>

#include "ctl_amount.h"
#include "ctl_args.h"
#include "ctl_output.h"
#include "error.h"
#include "ledger.h"
#include "ledger_limits.h"

/* Exit statuses (docs/cli.md). */
#define CTL_EXIT_OK          0
#define CTL_EXIT_REFUSED     1 /* the ledger refused, or a local failure */
#define CTL_EXIT_USAGE       2
#define CTL_EXIT_UNREACHABLE 3 /* cannot reach the daemon or authentication failed */

/* What a verb runs with. */
struct ctl_context {
    FILE *out;
    FILE *err;
    enum ctl_format format;
    struct ledger_options options; /* strings borrowed from argv, env or the buffers below */
    const char *partner_id;        /* global --partner, or NULL */
    struct ledger_client *client;  /* connected on first use (ctl_client) */
    bool connect_failed;           /* the failure was connecting (exit status 3) */
    bool reported; /* the verb printed its report before failing: no JSON error document */
    bool feed;     /* stdout carries one event a line (events): errors go to stderr only */
    /* A signal stopped the verb, which printed what it did and said so on
     * stderr: exit status 1 (CTL_EXIT_REFUSED), no error line. */
    bool interrupted;
    char message[2 * CTL_MESSAGE_SIZE]; /* why the verb failed, for the error line */
    /* The id of the command this run committed (ctl_execute), "" before:
     * output that then fails must say the command is done. */
    char committed_command_id[LEDGER_ID_LENGTH_MAX + 1];
    uint64_t committed_sequence; /* its last event's, 0 for none */
    /* What this run committed by other means than ctl_execute, said as "the
     * demo world was loaded ..." ("" for nothing): output that then fails
     * says it was done all the same. */
    char committed_note[CTL_MESSAGE_SIZE];
    /* While import builds its commands (ctl_capture_line): where
     * ctl_execute packs the command instead of sending it; NULL otherwise. */
    struct ctl_capture *capture;
    char socket_buffer[4096];
    char events_buffer[4096];
    char key_buffer[4096];
};

/* A command built by a verb in capture mode: packed, not sent. */
struct ctl_capture {
    /* The id given to a command whose line has no --command-id of its own
     * (NULL: the line's id, or write_begin's fresh one, stays). */
    const char *derived_id;
    uint8_t *packed; /* malloc'd by ctl_execute: the command's bytes */
    size_t packed_size;
};

/* What a malformed id option is told (ledger_id_valid's rule). */
#define CTL_ID_RULE "an id is 1..64 characters of A-Z a-z 0-9 . : @ -"

/* Sets the context's message (printf-style) and returns `code`: how a verb
 * fails with its reason. */
enum ledger_err ctl_fail(struct ctl_context *context, enum ledger_err code, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

/* The handlers of SIGINT and SIGTERM before ctl_signals_catch. */
struct ctl_signals {
    struct sigaction previous_int, previous_term;
};

/* Catches SIGINT and SIGTERM with handler (SA_RESTART: a write blocked on a
 * full pipe finishes; a wait for the daemon, poll, returns early all the
 * same), keeping the previous handlers in saved. */
void ctl_signals_catch(void (*handler)(int), struct ctl_signals *saved);

/* Puts back the handlers ctl_signals_catch kept. */
void ctl_signals_restore(const struct ctl_signals *saved);

/* The exit status for an error code. */
int ctl_exit_status(enum ledger_err err);

/* Runs the whole command line (argv[0] is the program name) and returns the
 * exit status. out/err: where results and error lines go. */
int ctl_main(int argc, char **argv, FILE *out, FILE *err);

/* For verbs and the demo: the connected client (connecting on first use). */
__attribute__((warn_unused_result)) enum ledger_err ctl_client(struct ctl_context *context,
                                                               struct ledger_client **out);

/* Sends one command (borrowed; command_id is the id it carries) and, with
 * print, prints its result. In capture mode (context->capture set) packs it
 * into the capture instead, sends and prints nothing and writes no reply
 * (a second command of one capture is INTERNAL). The reply is freed here unless reply_out is
 * given (then the caller frees it with ledger_reply_free). On failure the
 * context's message says why. */
__attribute__((warn_unused_result)) enum ledger_err ctl_execute(struct ctl_context *context,
                                                                const Ledger__V1__Command *command,
                                                                const char *command_id, bool print,
                                                                Ledger__V1__Reply **reply_out);

/* Builds the command of one import line (words: a write verb and its
 * options, as typed after `ledgerctl`) with the verb's own option checks,
 * and packs it into *packed_out (malloc'd, the caller frees) of
 * *size_out bytes; derived_id is its id unless the line gives
 * --command-id. Nothing is sent. USAGE with the context's message saying
 * why for an unknown verb, one that is not a write verb (a read verb,
 * principal verbs, import itself), a global option, --help, or the verb's
 * own usage errors. */
__attribute__((warn_unused_result)) enum ledger_err
ctl_capture_line(struct ctl_context *context, char **words, size_t count, const char *derived_id,
                 uint8_t **packed_out, size_t *size_out);

/* ctl_import.c: the import verb. The longest line of its file, the line
 * end not counted, and the most commands a file holds (each kept packed, a
 * few hundred bytes, until it is sent). */
#define CTL_IMPORT_LINE_MAX     16384
#define CTL_IMPORT_COMMANDS_MAX 1000000
extern const struct ctl_option ctl_import_options[];
__attribute__((warn_unused_result)) enum ledger_err ctl_import_run(struct ctl_context *context,
                                                                   const struct ctl_args *args);

/* Runs one query as the context's principal (the global --partner filled
 * in); on failure the context's message says why. */
__attribute__((warn_unused_result)) enum ledger_err
ctl_query(struct ctl_context *context, Ledger__V1__Query *query, Ledger__V1__QueryResult **out);

/* Writes a principal's secret (hex) to a new file of mode 0600. IO_ERROR with
 * the context's message set when the file exists or cannot be written. */
__attribute__((warn_unused_result)) enum ledger_err
ctl_write_key_file(struct ctl_context *context, const char *path, const char *secret_hex);

/* ctl_demo.c: the demo verb. */
extern const struct ctl_option ctl_demo_options[];
__attribute__((warn_unused_result)) enum ledger_err ctl_demo_run(struct ctl_context *context,
                                                                 const struct ctl_args *args);

/* ctl_audit.c: the verbs that verify heads and proofs on the client. */
/* events --proofs: every entry checked against a signed root before it is
 * printed (its record's leaf hash, its own sequence, the decoded event sent
 * beside it, its inclusion path). Opened on the current head, verified (by
 * --public-key when given): a listing is of one tree (tree_size, or the
 * head's: ctl_proof_anchor_tree_size), a followed feed's pages of newer
 * trees, each newer head verified by the same key and consistent with the
 * one before. Errors are in context's message. */
struct ctl_proof_anchor;
__attribute__((warn_unused_result)) enum ledger_err
ctl_proof_anchor_open(struct ctl_context *context, const struct ctl_args *args, uint64_t tree_size,
                      bool follow, struct ctl_proof_anchor **out);
/* The tree a listing's pages are to be asked of; 0 when following. */
uint64_t ctl_proof_anchor_tree_size(const struct ctl_proof_anchor *anchor);
/* Checks one event of the feed (entry: borrowed, as ledger_subscribe hands
 * it, its event decoded) against the anchor's tree: MISMATCH, or
 * PROTOCOL_ERROR when it came without its proof. */
__attribute__((warn_unused_result)) enum ledger_err
ctl_proof_anchor_check(struct ctl_context *context, struct ctl_proof_anchor *anchor,
                       const Ledger__V1__EventEntry *entry);
/* Table output: "verified: N inclusion proofs against the signed head ...". */
void ctl_proof_anchor_summary(struct ctl_context *context, const struct ctl_proof_anchor *anchor);
void ctl_proof_anchor_close(struct ctl_proof_anchor *anchor);
extern const struct ctl_option ctl_head_options[];
extern const struct ctl_option ctl_proof_options[];
extern const struct ctl_option ctl_consistency_options[];
extern const struct ctl_option ctl_verify_options[];
extern const struct ctl_option ctl_explain_options[];
__attribute__((warn_unused_result)) enum ledger_err ctl_head_run(struct ctl_context *context,
                                                                 const struct ctl_args *args);
/* Checks a head the daemon sent beside another answer (a backup's): its
 * root is 32 bytes and its signature verifies by the key it names, as
 * `head` checks the current one. `which` names it in the failure ("the
 * backup's head ..."). MISMATCH with the context's message set. */
__attribute__((warn_unused_result)) enum ledger_err
ctl_head_check(struct ctl_context *context, const Ledger__V1__SignedHead *head, const char *which);
__attribute__((warn_unused_result)) enum ledger_err ctl_proof_run(struct ctl_context *context,
                                                                  const struct ctl_args *args);
__attribute__((warn_unused_result)) enum ledger_err
ctl_consistency_run(struct ctl_context *context, const struct ctl_args *args);
__attribute__((warn_unused_result)) enum ledger_err ctl_verify_run(struct ctl_context *context,
                                                                   const struct ctl_args *args);
__attribute__((warn_unused_result)) enum ledger_err ctl_explain_run(struct ctl_context *context,
                                                                    const struct ctl_args *args);

/* ctl_ops.c: a month of billing rows (billing, export, reconcile), asked
 * page by page, all of one tree: the first page's. */
#define CTL_BILLING_PAGE_ROWS_DEFAULT 5000
struct ctl_billing_ask {
    const char *month;    /* YYYY-MM */
    const char *customer; /* NULL: every customer */
    uint64_t tree_size;   /* 0: everything committed when the first page is read */
    uint32_t page_rows;   /* 0: CTL_BILLING_PAGE_ROWS_DEFAULT */
    const char *label;    /* a progress bar's (drawn on a terminal past one page), or NULL */
};
#define CTL_OPTION_BILLING_TREE_SIZE                                                               \
    {                                                                                              \
        "tree-size", CTL_OPTION_VALUE, "N",                                                        \
            "the month as the first N events billed it (a saved head's tree size): the same "      \
            "rows every time, whatever is committed later",                                        \
            false                                                                                  \
    }
#define CTL_OPTION_BILLING_PAGE_ROWS                                                               \
    {                                                                                              \
        "page-rows", CTL_OPTION_VALUE, "N",                                                        \
            "rows asked for in one reply, 1..10000 (default 5000); the month comes whole all "     \
            "the same",                                                                            \
            false                                                                                  \
    }
/* --month, --customer, --tree-size and --page-rows, checked (USAGE). */
__attribute__((warn_unused_result)) enum ledger_err ctl_billing_args(struct ctl_context *context,
                                                                     const struct ctl_args *args,
                                                                     struct ctl_billing_ask *ask);
/* Every row of the month in one result (its billing rows gathered from the
 * pages; total_rows as the first page said). PROTOCOL_ERROR when the pages
 * hold more or fewer rows than that, or an empty page points further. */
__attribute__((warn_unused_result)) enum ledger_err
ctl_billing_fetch(struct ctl_context *context, const struct ctl_billing_ask *ask,
                  Ledger__V1__QueryResult **out);
/* For JSON: *extra becomes the field tree_size, the tree `result`'s month
 * was read at (docs/cli.md, export); returns 1, or 0 when it is not known
 * or the format is not JSON. result: borrowed. */
size_t ctl_billing_tree_extra(struct ctl_context *context, const Ledger__V1__QueryResult *result,
                              struct ctl_extra *extra);
/* Once `verb` printed the month's rows: flushes them and, for CSV and the
 * table, says on stderr which tree the month was read at (or, in every
 * format, that the daemon did not say). IO_ERROR when the rows could not
 * be written. result: borrowed. */
__attribute__((warn_unused_result)) enum ledger_err
ctl_billing_tree_told(struct ctl_context *context, const char *verb,
                      const Ledger__V1__QueryResult *result);

/* ctl_ops.c: monthly exports and invoice reconciliation. */
extern const struct ctl_option ctl_export_options[];
extern const struct ctl_option ctl_reconcile_options[];
__attribute__((warn_unused_result)) enum ledger_err ctl_export_run(struct ctl_context *context,
                                                                   const struct ctl_args *args);
__attribute__((warn_unused_result)) enum ledger_err ctl_reconcile_run(struct ctl_context *context,
                                                                      const struct ctl_args *args);

#endif
