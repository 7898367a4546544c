/*
 * ctl_verbs_events.c: the events verb, the event log as a feed: from a
 * sequence, of one customer or of some types, optionally following new events,
 * with a checkpoint file to resume from, and with --proofs each event verified
 * against a signed head (ctl_audit) before it is printed. Also the catching of
 * SIGINT and SIGTERM, which stop the feed (and import) after the page in
 * flight (ctl_signals_catch).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_verbs_internal.h"

const struct ctl_option ctl__events_options[] = {
    {"from", CTL_OPTION_VALUE, "SEQ",
     "start at this sequence, inclusive (default 1: the first event)", false},
    {"limit", CTL_OPTION_VALUE, "N", "print at most N events, then stop", false},
    {"customer", CTL_OPTION_VALUE, "C",
     "only this customer's events, its customer users' principal events among them", false},
    {"type", CTL_OPTION_LIST, "T",
     "only events of this type, e.g. reservation_purchased (repeat or separate with commas)",
     false},
    {"follow", CTL_OPTION_FLAG, NULL, "after the history, wait for new events until interrupted",
     false},
    {"checkpoint", CTL_OPTION_VALUE, "FILE",
     "resume after the sequence in FILE and record there the last event of each page printed "
     "(once the page is on the disk, when stdout is a file) and the filters; other --type or "
     "--customer filters than FILE's are refused",
     false},
    {"proofs", CTL_OPTION_FLAG, NULL,
     "include each event's record bytes and inclusion proof, each verified against a signed "
     "head before the event is printed",
     false},
    {"tree-size", CTL_OPTION_VALUE, "M",
     "the events of the tree of size M only, with --proofs proved against it (a head you kept)",
     false},
    {"public-key", CTL_OPTION_VALUE, "HEX",
     "with --proofs: the ledger's public key as pinned out of band (default: the key the head "
     "names)",
     false},
    OPT_END,
};

struct events_printer {
    struct ctl_event_stream stream;
    uint64_t limit; /* 0: no limit */
    uint64_t printed;
    struct ctl_context *context;
    struct ctl_proof_anchor *anchor; /* with --proofs */
    const char *checkpoint;          /* --checkpoint, or NULL */
    bool repaired;                   /* the cut line at the output's end is dealt with */
    bool checked;   /* err's message is in context's: the anchor's or the repair's */
    int sync_errno; /* not 0: the output could not be made durable */
    enum ledger_err err;
};

/* Before the feed's first line (once its checkpoint is read, and locked
 * against a second feed that would write into the same file): a cut line
 * at the end of the output file is removed, and stderr says so. */
static enum ledger_err events_repair(struct events_printer *printer)
{
    if (printer->repaired) {
        return LEDGER_ERR_OK;
    }
    struct ctl_context *context = printer->context;
    uint64_t removed = 0;
    enum ledger_err err =
        ctl_output_event_repair(&printer->stream, printer->anchor != NULL, &removed,
                                context->message, sizeof context->message);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    printer->repaired = true;
    if (removed > 0) {
        char name[PATH_MAX];
        ctl_output_name(context->out, name, sizeof name);
        fprintf(context->err,
                "warning: removed the cut line at the end of %.160s (its last %llu bytes, "
                "after its last line end: the feed was cut off there by a full disk or a "
                "crash); %s%.160s\n",
                name, (unsigned long long)removed,
                printer->checkpoint != NULL
                    ? "its event is printed again, whole, after the sequence of the checkpoint "
                      "file "
                    : "without --checkpoint its event is printed again only if --from reaches "
                      "back to it: restart the consumer from the sequence after the file's last "
                      "whole line",
                printer->checkpoint != NULL ? printer->checkpoint : "");
    }
    return LEDGER_ERR_OK;
}

/* A feed that printed no event: its output repaired all the same, and
 * the header a table or CSV feed prints for an empty view. */
static enum ledger_err events_none(struct events_printer *printer)
{
    enum ledger_err err = events_repair(printer);
    if (err == LEDGER_ERR_OK &&
        ctl_output_event_header(&printer->stream, printer->anchor != NULL) != LEDGER_ERR_OK) {
        err = ctl__output_failed(printer->context, 0);
    }
    return err;
}

static int print_event(void *context, const Ledger__V1__EventEntry *entry)
{
    struct events_printer *printer = context;
    if (printer->anchor != NULL) {
        /* Only an event whose record is proven to a signed root is printed. */
        enum ledger_err err = ctl_proof_anchor_check(printer->context, printer->anchor, entry);
        if (err != LEDGER_ERR_OK) {
            printer->err = err;
            printer->checked = true;
            return 1;
        }
    }
    enum ledger_err err = events_repair(printer);
    if (err != LEDGER_ERR_OK) {
        printer->err = err;
        printer->checked = true;
        return 1;
    }
    err = ctl_output_event(&printer->stream, entry);
    if (err != LEDGER_ERR_OK) {
        printer->err = err;
        return 1;
    }
    printer->printed++;
    return printer->limit != 0 && printer->printed >= printer->limit;
}

/* Before the checkpoint names the printed events (once a page): they are on
 * the disk first (when stdout is a file), and an event that could not be
 * printed is never named. */
static enum ledger_err events_before_checkpoint(void *context)
{
    struct events_printer *printer = context;
    if (printer->err != LEDGER_ERR_OK) {
        return printer->err;
    }
    if (ctl_output_sync(printer->stream.out) != LEDGER_ERR_OK) {
        printer->sync_errno = errno != 0 ? errno : EIO;
        printer->err = LEDGER_ERR_IO_ERROR;
    }
    return printer->err;
}

void ctl_signals_catch(void (*handler)(int), struct ctl_signals *saved)
{
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = handler;
    action.sa_flags = SA_RESTART;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &saved->previous_int);
    sigaction(SIGTERM, &action, &saved->previous_term);
}

void ctl_signals_restore(const struct ctl_signals *saved)
{
    sigaction(SIGINT, &saved->previous_int, NULL);
    sigaction(SIGTERM, &saved->previous_term, NULL);
}

static volatile sig_atomic_t events_stop;

static void events_signal(int signal_number)
{
    (void)signal_number;
    events_stop = 1;
}

/* The rest of `events`, once its options are read: types[0..type_count)
 * borrowed for the call. */
static enum ledger_err events_print(struct ctl_context *context, const struct ctl_args *args,
                                    uint64_t from, uint64_t limit, uint64_t tree_size,
                                    const char *customer, const char **types, size_t type_count)
{
    struct ledger_subscription subscription;
    memset(&subscription, 0, sizeof subscription);
    enum ledger_err err;
    const char *checkpoint = ctl_arg(args, "checkpoint");
    if (checkpoint != NULL && checkpoint[0] == '\0') {
        return ctl__usage(context, "checkpoint", "give a file name");
    }
    if (ctl_arg(args, "public-key") != NULL && !ctl_flag(args, "proofs")) {
        return ctl__usage(context, "public-key",
                          "it pins the key proofs are checked by: add --proofs");
    }
    /* A CSV feed appended to a file that already holds one (a feed started
     * again with >>) goes on without a second header record in its middle,
     * under the same columns only; a cut line at the file's end must be
     * one of the feed's (events_repair removes it): checked before anything
     * is asked. */
    struct ctl_event_stream stream = {
        .out = context->out, .format = context->format, .header_done = false};
    err = ctl_output_event_resume(&stream, ctl_flag(args, "proofs"), context->message,
                                  sizeof context->message);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    struct ledger_client *client = NULL;
    if ((err = ctl_client(context, &client)) != LEDGER_ERR_OK) {
        return err;
    }
    struct ctl_proof_anchor *anchor = NULL;
    if (ctl_flag(args, "proofs")) {
        err = ctl_proof_anchor_open(context, args, tree_size, ctl_flag(args, "follow"), &anchor);
        if (err != LEDGER_ERR_OK) {
            return err;
        }
        tree_size = ctl_proof_anchor_tree_size(anchor);
    }
    subscription.after_sequence = from > 0 ? from - 1 : 0; /* no --from: from 1 */
    subscription.checkpoint_path = checkpoint;
    /* One sync of the output and one checkpoint write a page of events
     * (the events one reply brought), not one an event: a consumer
     * following the feed pays for durability per batch. A kill may then
     * repeat up to a page, never lose a line (docs/cli.md). */
    subscription.checkpoint_mode = LEDGER_CHECKPOINT_EACH_PAGE;
    subscription.partner_id = context->partner_id;
    subscription.customer_id = customer;
    subscription.types = types;
    subscription.type_count = type_count;
    subscription.page_limit =
        limit != 0 && limit < LEDGER_EVENTS_PAGE_DEFAULT ? (uint32_t)limit : 0;
    subscription.follow = ctl_flag(args, "follow");
    subscription.include_proofs = ctl_flag(args, "proofs");
    subscription.tree_size = tree_size;
    subscription.before_checkpoint = events_before_checkpoint;
    struct events_printer printer = {
        .stream = stream,
        .limit = limit,
        .printed = 0,
        .context = context,
        .anchor = anchor,
        .checkpoint = checkpoint,
        .repaired = false,
        .checked = false,
        .sync_errno = 0,
        .err = LEDGER_ERR_OK,
    };
    /* Ctrl-C and SIGTERM stop the feed after the page being printed, with
     * the checkpoint naming its last line, following or not: a listing
     * killed by them could end in half a line, or leave the checkpoint
     * before lines it printed. SA_RESTART lets a write blocked on a full
     * pipe finish the line; the waits for the daemon (poll) return early
     * whatever the flag. */
    struct ctl_signals signals;
    events_stop = 0;
    ctl_signals_catch(events_signal, &signals);
    subscription.stop = &events_stop;
    err = ledger_subscribe(client, &subscription, print_event, &printer);
    ctl_signals_restore(&signals);
    if (err != LEDGER_ERR_OK && printer.err == LEDGER_ERR_OK) {
        ctl__copy_client_message(context, err);
    } else if (printer.sync_errno != 0) { /* only with a checkpoint */
        snprintf(context->message, sizeof context->message,
                 "cannot make the output durable (%s): the checkpoint file %s was not advanced",
                 strerror(printer.sync_errno), checkpoint);
        err = printer.err;
    } else if (printer.err != LEDGER_ERR_OK) {
        err = printer.checked ? printer.err : ctl__output_failed(context, 0);
    } else if (printer.printed > 0 || (err = events_none(&printer)) == LEDGER_ERR_OK) {
        if (printer.printed == 0 && context->format == CTL_FORMAT_TABLE) {
            fprintf(context->err, "no events\n");
        }
        if (anchor != NULL) {
            ctl_proof_anchor_summary(context, anchor);
        }
    }
    ctl_proof_anchor_close(anchor);
    return err;
}

enum ledger_err ctl__run_events(struct ctl_context *context, const struct ctl_args *args)
{
    const char *types[LEDGER_EVENT_TYPES_FILTER_MAX];
    uint64_t from = 0, limit = 0, tree_size = 0;
    const char *customer = NULL;
    enum ledger_err err;
    if ((err = ctl__unsigned_arg(context, args, "from", UINT64_MAX, &from)) != LEDGER_ERR_OK ||
        (err = ctl__unsigned_arg(context, args, "limit", UINT64_MAX, &limit)) != LEDGER_ERR_OK ||
        (err = ctl__unsigned_arg(context, args, "tree-size", UINT64_MAX, &tree_size)) !=
            LEDGER_ERR_OK ||
        (err = ctl__id_arg(context, args, "customer", &customer)) != LEDGER_ERR_OK) {
        return err;
    }
    /* --from names the first sequence printed, as --seq and --as-of name
     * one: 0 is no sequence. */
    if (ctl_flag(args, "from") && from == 0) {
        return ctl__usage(context, "from", "sequences start at 1");
    }
    if (ctl_flag(args, "limit") && limit == 0) {
        return ctl__usage(context, "limit", "at least 1");
    }
    if (ctl_flag(args, "tree-size") && tree_size == 0) {
        return ctl__usage(context, "tree-size", "at least 1");
    }
    if (tree_size != 0 && ctl_flag(args, "follow")) {
        return ctl__usage(context, "tree-size", "a fixed tree has no new events to follow");
    }
    /* Room for every name given, however long: one that is no type is
     * named as such, not counted as one too many. */
    size_t storage_size = ctl_arg_list_size(args, "type");
    char *storage = malloc(storage_size);
    if (storage == NULL) {
        snprintf(context->message, sizeof context->message, "out of memory");
        return LEDGER_ERR_NO_MEMORY;
    }
    size_t type_count =
        ctl_arg_list(args, "type", types, LEDGER_EVENT_TYPES_FILTER_MAX, storage, storage_size);
    err = type_count > LEDGER_EVENT_TYPES_FILTER_MAX
              ? ctl__usage(context, "type", "at most 32 types")
              : LEDGER_ERR_OK;
    for (size_t i = 0; i < type_count && err == LEDGER_ERR_OK; i++) {
        const ProtobufCFieldDescriptor *field = protobuf_c_message_descriptor_get_field_by_name(
            &ledger__v1__event__descriptor, types[i]);
        if (field == NULL || (field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) == 0) {
            char message[CTL_MESSAGE_SIZE];
            snprintf(message, sizeof message,
                     "'%.64s' is not an event type (e.g. reservation_purchased, "
                     "purchase_permission_granted; see docs/cli.md)",
                     types[i]);
            err = ctl__usage(context, "type", message);
        }
    }
    if (err != LEDGER_ERR_OK) {
        free(storage);
        return err;
    }
    err = events_print(context, args, from, limit, tree_size, customer, types, type_count);
    free(storage);
    return err;
}
