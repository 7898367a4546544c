/*
 * ctl_verbs_internal.h: what the files of ledgerctl's verbs share, and
 * nothing else includes: the option entries several verbs list, the readers
 * that turn options into the fields of commands and queries, the start and
 * sending of a write command, and each verb's options and function for the
 * verb table.
 *
 * The verbs of ctl_verbs.h are in these files:
 *
 *   ctl_verbs.c                the verb table, help, the dispatcher (ctl_main:
 *                              global options and their defaults, exit
 *                              statuses, advice) and capture mode for import
 *                              (ctl_capture_line);
 *   ctl_verbs_args.c           reading options into commands and queries,
 *                              each refused by name as a usage error; the
 *                              options every write takes;
 *   ctl_verbs_send.c           the client connected on first use, commands
 *                              sent (in capture mode, packed) and queries
 *                              asked;
 *
 * The other verbs have modules of their own: ctl_audit (head, proof,
 * consistency, verify, explain), ctl_ops (export, reconcile), ctl_import and
 * ctl_demo.
 */
#ifndef CTL_VERBS_INTERNAL_H
#define CTL_VERBS_INTERNAL_H

#include "ctl_verbs.h"

/* ---- ctl_verbs_args.c ----------------------------------------------------- */

/* Each reads the option `name` (or the options it names) and checks it: a
 * malformed one is USAGE, with the context's message naming the option and
 * why. An option not given is left NULL, 0 or unset; strings point into
 * args. The definitions say more. */

/* USAGE, with the message "--option: why" (why alone when option is NULL). */
__attribute__((warn_unused_result)) enum ledger_err ctl__usage(struct ctl_context *context,
                                                               const char *option, const char *why);
/* An id (ledger_id_valid). */
__attribute__((warn_unused_result)) enum ledger_err ctl__id_arg(struct ctl_context *context,
                                                                const struct ctl_args *args,
                                                                const char *name, const char **out);
/* A name, by the daemon's rule (ledger_name_check). */
__attribute__((warn_unused_result)) enum ledger_err ctl__name_arg(struct ctl_context *context,
                                                                  const struct ctl_args *args,
                                                                  const char *name,
                                                                  const char **out);
/* One of an enum's spellings (ctl_enum_parse); 0 when absent. */
__attribute__((warn_unused_result)) enum ledger_err
ctl__enum_arg(struct ctl_context *context, const struct ctl_args *args, const char *name,
              const ProtobufCEnumDescriptor *descriptor, int *out);
/* A number 0..max; 0 when absent. */
__attribute__((warn_unused_result)) enum ledger_err ctl__unsigned_arg(struct ctl_context *context,
                                                                      const struct ctl_args *args,
                                                                      const char *name,
                                                                      uint64_t max, uint64_t *out);
/* An amount in currency (borrowed), into money. */
__attribute__((warn_unused_result)) enum ledger_err
ctl__money_arg(struct ctl_context *context, const struct ctl_args *args, const char *name,
               const char *currency, Ledger__V1__Money *money);
/* As ctl__money_arg, more than 0: what is bought. */
__attribute__((warn_unused_result)) enum ledger_err
ctl__price_arg(struct ctl_context *context, const struct ctl_args *args, const char *name,
               const char *currency, Ledger__V1__Money *money);
/* A SKU or region: an id's characters and '_'. */
__attribute__((warn_unused_result)) enum ledger_err ctl__sku_arg(struct ctl_context *context,
                                                                 const struct ctl_args *args,
                                                                 const char *name,
                                                                 const char **out);
/* --currency (fallback when absent): a code of ISO 4217's list. */
__attribute__((warn_unused_result)) enum ledger_err ctl__currency_arg(struct ctl_context *context,
                                                                      const struct ctl_args *args,
                                                                      const char *fallback,
                                                                      const char **out);
/* A half-open range of two time options. */
__attribute__((warn_unused_result)) enum ledger_err
ctl__range_args(struct ctl_context *context, const struct ctl_args *args, const char *from_name,
                const char *to_name, int64_t *from_us, int64_t *to_us);
/* --as-of, a sequence or a time; *given says whether it was given. */
__attribute__((warn_unused_result)) enum ledger_err ctl__as_of_arg(struct ctl_context *context,
                                                                   const struct ctl_args *args,
                                                                   Ledger__V1__AsOf *as_of,
                                                                   bool *given);
/* --as-of-business-time, into the same as_of; *given set when given. */
__attribute__((warn_unused_result)) enum ledger_err
ctl__as_of_business_arg(struct ctl_context *context, const struct ctl_args *args,
                        Ledger__V1__AsOf *as_of, bool *given);
/* --scope and --scope-target, as the ledger checks them together. */
__attribute__((warn_unused_result)) enum ledger_err
ctl__scope_args(struct ctl_context *context, const struct ctl_args *args, Ledger__V1__Scope *scope);
/* Exactly one of --on and --off. */
__attribute__((warn_unused_result)) enum ledger_err
ctl__on_off_arg(struct ctl_context *context, const struct ctl_args *args, bool *on);

/* One write command with the common options filled in. */
struct write {
    Ledger__V1__Command command;
    char command_id[LEDGER_ID_LENGTH_MAX + 1];
};

/* Fills write with a fresh command carrying the options every write takes
 * (--command-id or a fresh id, --expected-version, --business-time,
 * --correlation-id), the partner and --customer. USAGE. */
__attribute__((warn_unused_result)) enum ledger_err
ctl__write_begin(struct ctl_context *context, const struct ctl_args *args, struct write *write);
/* Sends the write (ctl_execute) and prints its result. */
__attribute__((warn_unused_result)) enum ledger_err ctl__write_send(struct ctl_context *context,
                                                                    struct write *write);

/* ---- ctl_verbs_send.c ----------------------------------------------------- */

/* Puts the client's message for err (or err's own words) in the context's. */
void ctl__copy_client_message(struct ctl_context *context, enum ledger_err err);

#endif
