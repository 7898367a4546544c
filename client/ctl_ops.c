/*
 * ctl_ops.c: ledgerctl export and reconcile (see ctl_verbs.h).
 *
 * Owns: the export's columns (the charges of a month from the billing view,
 * amounts as plain decimals beside a currency column, so that a spreadsheet
 * reads them as numbers), the invoice format reconcile reads (columns
 * matched by header name, case-insensitively; docs/cli.md), and the matching
 * rule between invoice lines and the ledger's charges.
 * Does not own: CSV syntax (ctl_csv reads, ctl_output writes), the billing
 * rules themselves (the daemon's billing view, docs/views.md).
 *
 * Matching: lines and charges are grouped by key (customer, charge kind,
 * charge id, a list of ids in any order and spacing). An invoice line whose
 * charge id is no ledger charge's of its customer and kind is first
 * resolved (resolve_invoice_keys): the ledger charge whose cloud order id
 * (recorded with the purchase) its charge id is, or else its order_id
 * cell, gives it that charge's key, when the id names one charge only.
 * Within a group, first
 * each invoice line is paired with an
 * unpaired charge of exactly its amount and currency; if lines and charges
 * are left on both sides and their totals agree (one currency), they match
 * as a whole (an invoice may split or merge a charge); otherwise what is
 * left is paired in order as "amount-differs" (or "currency-differs"), and
 * the rest is "only-on-invoice" or "only-in-ledger". Invoice lines whose
 * month column names another month are not compared: "other-month".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl_csv.h"
#include "ctl_time.h"
#include "progress.h"
#include "ctl_verbs.h"
#include "ledger_ids.h"
#include "ledger_limits.h"

/* An invoice larger than this is refused (a regular file unread, a pipe
 * once this many bytes and one more came). */
#define INVOICE_BYTES_MAX (64 * 1024 * 1024)
/* The first read of an invoice from a pipe, whose size is not known: one
 * pipe buffer's worth four times over; larger invoices double it. */
#define INVOICE_READ_FIRST_BYTES (256 * 1024)

static const char *text_or_empty(const char *text)
{
    return text != NULL ? text : "";
}

/* Parses option --`name`'s `value` (NULL: not given, *out untouched) as a
 * whole number from 1 to `max`; 0 is refused with `zero_reason`. A value
 * that does not parse leaves *out untouched, so the parser's message is the
 * reason then, not the lower bound. */
static enum ledger_err positive_arg(struct ctl_context *context, const char *name,
                                    const char *value, uint64_t max, const char *zero_reason,
                                    uint64_t *out)
{
    char message[CTL_MESSAGE_SIZE];
    if (value == NULL) {
        return LEDGER_ERR_OK;
    }
    if (ctl_unsigned_parse(value, max, out, message) != LEDGER_ERR_OK) {
        return ctl_fail(context, LEDGER_ERR_USAGE, "--%s: %s", name, message);
    }
    if (*out == 0) {
        return ctl_fail(context, LEDGER_ERR_USAGE, "--%s: %s", name, zero_reason);
    }
    return LEDGER_ERR_OK;
}

enum ledger_err ctl_billing_args(struct ctl_context *context, const struct ctl_args *args,
                                 struct ctl_billing_ask *ask)
{
    char message[CTL_MESSAGE_SIZE];
    const char *customer = ctl_arg(args, "customer");
    memset(ask, 0, sizeof *ask);
    if (ctl_month_check(ctl_arg(args, "month"), message) != LEDGER_ERR_OK) {
        return ctl_fail(context, LEDGER_ERR_USAGE, "--month: %s", message);
    }
    if (customer != NULL && !ledger_id_valid(customer)) {
        return ctl_fail(context, LEDGER_ERR_USAGE, "--customer: %s", CTL_ID_RULE);
    }
    uint64_t rows = 0;
    enum ledger_err err = positive_arg(context, "tree-size", ctl_arg(args, "tree-size"), UINT64_MAX,
                                       "a head's tree size, at least 1", &ask->tree_size);
    if (err == LEDGER_ERR_OK) {
        err = positive_arg(context, "page-rows", ctl_arg(args, "page-rows"), LEDGER_ROWS_PAGE_MAX,
                           "at least 1", &rows);
    }
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    ask->month = ctl_arg(args, "month");
    ask->customer = customer;
    ask->page_rows = (uint32_t)rows;
    return LEDGER_ERR_OK;
}

enum ledger_err ctl_billing_fetch(struct ctl_context *context, const struct ctl_billing_ask *ask,
                                  Ledger__V1__QueryResult **out)
{
    Ledger__V1__BillingQuery view = LEDGER__V1__BILLING_QUERY__INIT;
    Ledger__V1__Query query = LEDGER__V1__QUERY__INIT;
    view.month = (char *)(uintptr_t)ask->month;
    view.customer_id = (char *)(uintptr_t)(ask->customer != NULL ? ask->customer : "");
    view.tree_size = ask->tree_size;
    view.limit = ask->page_rows != 0 ? ask->page_rows : CTL_BILLING_PAGE_ROWS_DEFAULT;
    query.kind_case = LEDGER__V1__QUERY__KIND_BILLING;
    query.billing = &view;
    Ledger__V1__QueryResult *all = NULL;
    char *token = NULL;
    struct progress bar;
    bool drawing = false;
    enum ledger_err err = LEDGER_ERR_OK;
    for (;;) {
        Ledger__V1__QueryResult *page = NULL;
        view.page_token = token != NULL ? token : "";
        err = ctl_query(context, &query, &page);
        free(token);
        token = NULL;
        if (err != LEDGER_ERR_OK) {
            break;
        }
        const char *next = page->next_page_token != NULL ? page->next_page_token : "";
        /* A page past the rows the first one announced, or an empty page
         * that points further, would never end. */
        uint64_t total = all != NULL ? all->total_rows : page->total_rows;
        uint64_t had = all != NULL ? all->n_billing : 0;
        if (had + page->n_billing > total || (next[0] != '\0' && page->n_billing == 0)) {
            ledger_query_result_free(page);
            err = ctl_fail(context, LEDGER_ERR_PROTOCOL_ERROR,
                           "the daemon's billing pages do not add up to the %llu rows it "
                           "announced",
                           (unsigned long long)total);
            break;
        }
        if (all != NULL && page->tree_size != all->tree_size) {
            /* The month would be reported as read at a tree it was not. */
            err = ctl_fail(context, LEDGER_ERR_PROTOCOL_ERROR,
                           "the daemon's billing pages were read at tree sizes %llu and %llu, "
                           "not one",
                           (unsigned long long)all->tree_size, (unsigned long long)page->tree_size);
            ledger_query_result_free(page);
            break;
        }
        if (next[0] != '\0' && (token = strdup(next)) == NULL) {
            ledger_query_result_free(page);
            err = ctl_fail(context, LEDGER_ERR_NO_MEMORY, "out of memory");
            break;
        }
        if (all == NULL) {
            all = page;
        } else if (page->n_billing > 0) {
            Ledger__V1__BillingRow **rows =
                realloc(all->billing, (all->n_billing + page->n_billing) * sizeof *rows);
            if (rows == NULL) {
                ledger_query_result_free(page);
                err = ctl_fail(context, LEDGER_ERR_NO_MEMORY, "out of memory");
                break;
            }
            memcpy(rows + all->n_billing, page->billing, page->n_billing * sizeof *rows);
            all->billing = rows;
            all->n_billing += page->n_billing;
            page->n_billing = 0; /* the rows are all's now; the array is freed with page */
            ledger_query_result_free(page);
        } else {
            ledger_query_result_free(page);
        }
        if (token == NULL) {
            /* The last page: the pages together are every row of the
             * month (docs/protocol.md, "Paging"), so fewer rows than the
             * first page announced is a month cut short, never printed
             * as if it were whole. */
            if (all->n_billing != total) {
                err = ctl_fail(context, LEDGER_ERR_PROTOCOL_ERROR,
                               "the daemon's billing pages do not add up to the %llu rows it "
                               "announced: they hold %zu",
                               (unsigned long long)total, all->n_billing);
            }
            break;
        }
        /* A month of more than one page: a bar on a terminal. */
        if (!drawing && ask->label != NULL) {
            progress_start(&bar, ask->label, "rows", all->total_rows, false);
            drawing = true;
        }
        if (drawing) {
            progress_update(&bar, all->n_billing);
        }
    }
    free(token);
    if (drawing) {
        progress_finish(&bar, all->n_billing);
    }
    if (err != LEDGER_ERR_OK) {
        ledger_query_result_free(all);
        return err;
    }
    if (all->tree_size == 0) {
        all->tree_size = ask->tree_size; /* a daemon that does not say it */
    }
    *out = all;
    return LEDGER_ERR_OK;
}

/* Whether the daemon said which tree `result`'s month was read at (one
 * older than this ledgerctl does not). */
static bool billing_tree_known(const Ledger__V1__QueryResult *result)
{
    return result->tree_size != 0 || result->n_billing == 0;
}

size_t ctl_billing_tree_extra(struct ctl_context *context, const Ledger__V1__QueryResult *result,
                              struct ctl_extra *extra)
{
    if (context->format != CTL_FORMAT_JSON || !billing_tree_known(result)) {
        return 0;
    }
    *extra = (struct ctl_extra){"tree_size", NULL, result->tree_size, false};
    return 1;
}

/* The same for CSV and the table, which have no place for it (CSV stays
 * its header and rows): one line on stderr, once the output is written. A
 * tree that is not known is said in every format. */
static void billing_tree_note(struct ctl_context *context, const char *verb,
                              const Ledger__V1__QueryResult *result)
{
    unsigned long long size = (unsigned long long)result->tree_size;
    if (!billing_tree_known(result)) {
        fprintf(context->err,
                "ledgerctl: %s: the daemon did not say which tree size it read the month at (it "
                "is older than ledgerctl): give --tree-size to know\n",
                verb);
    } else if (context->format != CTL_FORMAT_JSON) {
        fprintf(context->err,
                "ledgerctl: %s read the month at tree size %llu: the charges of events 1 to "
                "%llu, none of a later event\n",
                verb, size, size);
    }
}

enum ledger_err ctl_billing_tree_told(struct ctl_context *context, const char *verb,
                                      const Ledger__V1__QueryResult *result)
{
    /* Only once the rows are out: a full disk is reported alone (the
     * failed flush's errno kept for the error line). */
    (void)fflush(context->out);
    enum ledger_err err = ctl_output_status(context->out);
    if (err == LEDGER_ERR_OK) {
        billing_tree_note(context, verb, result);
    }
    return err;
}

/* ------------------------------------------------------------------------ */
/* export */

const struct ctl_option ctl_export_options[] = {
    {"month", CTL_OPTION_VALUE, "YYYY-MM", "the billing month (UTC)", true},
    {"customer", CTL_OPTION_VALUE, "ID", "only this customer", false},
    CTL_OPTION_BILLING_TREE_SIZE,
    CTL_OPTION_BILLING_PAGE_ROWS,
    {NULL, CTL_OPTION_VALUE, NULL, NULL, false},
};

/* cloud_order_id came last, after the columns of older builds, so that a
 * reader that takes columns by position keeps reading them. */
static const char *const export_names[] = {
    "month",         "customer_id", "order_id",  "charge_id", "charge",   "amount",
    "retail_amount", "currency",    "purchaser", "bought_by", "sequence", "cloud_order_id",
};
#define EXPORT_COLUMNS (sizeof export_names / sizeof export_names[0])
static const enum ctl_cell_kind export_kinds[EXPORT_COLUMNS] = {
    CTL_CELL_TEXT, CTL_CELL_TEXT, CTL_CELL_TEXT, CTL_CELL_TEXT, CTL_CELL_TEXT,   CTL_CELL_TEXT,
    CTL_CELL_TEXT, CTL_CELL_TEXT, CTL_CELL_TEXT, CTL_CELL_TEXT, CTL_CELL_NUMBER, CTL_CELL_TEXT,
};

/* Text cells of one billing row; `storage` holds the formatted numbers. */
struct export_storage {
    char amount[CTL_AMOUNT_TEXT_SIZE];
    char retail[CTL_AMOUNT_TEXT_SIZE];
    char purchaser[32];
    char sequence[24];
};

static void export_cells(const Ledger__V1__BillingRow *row, struct export_storage *storage,
                         const char **cells)
{
    const char *currency =
        row->partner_amount != NULL ? text_or_empty(row->partner_amount->currency) : "";
    ctl_amount_format(row->partner_amount != NULL ? row->partner_amount->amount_minor : 0, currency,
                      storage->amount);
    ctl_amount_format(row->retail_amount != NULL ? row->retail_amount->amount_minor : 0,
                      row->retail_amount != NULL ? text_or_empty(row->retail_amount->currency)
                                                 : currency,
                      storage->retail);
    ctl_enum_name(&ledger__v1__purchaser__descriptor, (int)row->purchaser, storage->purchaser,
                  sizeof storage->purchaser);
    snprintf(storage->sequence, sizeof storage->sequence, "%llu",
             (unsigned long long)row->sequence);
    cells[0] = text_or_empty(row->month);
    cells[1] = text_or_empty(row->customer_id);
    cells[2] = text_or_empty(row->order_id);
    cells[3] = text_or_empty(row->charge_id);
    cells[4] = text_or_empty(row->charge);
    cells[5] = storage->amount;
    cells[6] = storage->retail;
    cells[7] = currency;
    cells[8] = storage->purchaser;
    cells[9] = row->bought_by != NULL ? text_or_empty(row->bought_by->principal_id) : "";
    cells[10] = storage->sequence;
    cells[11] = text_or_empty(row->cloud_order_id);
}

enum ledger_err ctl_export_run(struct ctl_context *context, const struct ctl_args *args)
{
    struct ctl_billing_ask ask;
    enum ledger_err err = ctl_billing_args(context, args, &ask);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    const char *month = ask.month;
    ask.label = "export";
    Ledger__V1__QueryResult *result = NULL;
    if ((err = ctl_billing_fetch(context, &ask, &result)) != LEDGER_ERR_OK) {
        return err;
    }
    size_t count = result->n_billing;
    struct export_storage *storage = calloc(count + 1, sizeof *storage);
    const char **cells = calloc((count + 1) * EXPORT_COLUMNS, sizeof *cells);
    if (storage == NULL || cells == NULL) {
        err = LEDGER_ERR_NO_MEMORY;
    } else {
        for (size_t i = 0; i < count; i++) {
            export_cells(result->billing[i], &storage[i], cells + i * EXPORT_COLUMNS);
        }
        struct ctl_extra extras[2] = {{"month", month, 0, false}};
        size_t told = ctl_billing_tree_extra(context, result, &extras[1]);
        err = ctl_output_records(context->out, context->format, "export", export_names,
                                 export_kinds, EXPORT_COLUMNS, cells, count, extras,
                                 context->format == CTL_FORMAT_JSON ? 1 + told : 0);
        if (err == LEDGER_ERR_OK) {
            err = ctl_billing_tree_told(context, "export", result);
        }
    }
    free(cells);
    free(storage);
    ledger_query_result_free(result);
    return err;
}

/* ------------------------------------------------------------------------ */
/* reconcile */

const struct ctl_option ctl_reconcile_options[] = {
    {"invoice", CTL_OPTION_VALUE, "FILE.csv",
     "the invoice (a file, a pipe, or - for stdin): CSV with a header row naming customer_id, "
     "charge_id, charge, amount, currency (and optionally order_id, and month: lines of another "
     "month are reported, not compared); charge_id or order_id may be the ledger's id or the "
     "cloud's order id recorded with --cloud-order",
     true},
    {"month", CTL_OPTION_VALUE, "YYYY-MM", "the billing month the invoice covers", true},
    {"customer", CTL_OPTION_VALUE, "ID", "only this customer (other lines are ignored)", false},
    CTL_OPTION_BILLING_TREE_SIZE,
    CTL_OPTION_BILLING_PAGE_ROWS,
    {NULL, CTL_OPTION_VALUE, NULL, NULL, false},
};

/* One side's item: an invoice line or a ledger charge. */
struct item {
    const char *customer_id;
    const char *charge;    /* lower case */
    const char *charge_id; /* as written: the report shows it */
    char *charge_key;      /* owned; NULL: charge_id (see item_charge_key) */
    /* An invoice line resolved to a ledger charge's key (borrowed from that
     * charge; resolve_invoice_keys); NULL: its own. */
    const char *match_key;
    const char *order_id;
    const char *cloud_order_id; /* ledger: the purchase's, "" when none */
    int64_t amount_minor;
    char currency[4];
    size_t line;       /* invoice: the CSV line */
    uint64_t sequence; /* ledger: the charge's event */
    bool invoice;
    bool paired;
    bool other_month; /* invoice: its month column names another month */
};

/* The key an item is grouped by: the charge key of the ledger charge an
 * invoice line was resolved to, else its own. */
static const char *item_key(const struct item *item)
{
    if (item->match_key != NULL) {
        return item->match_key;
    }
    return item->charge_key != NULL ? item->charge_key : item->charge_id;
}

static int item_key_compare(const struct item *a, const struct item *b)
{
    int c = strcmp(a->customer_id, b->customer_id);
    if (c == 0) {
        c = strcmp(a->charge, b->charge);
    }
    if (c == 0) {
        c = strcmp(item_key(a), item_key(b));
    }
    return c;
}

static int item_compare(const void *left, const void *right)
{
    const struct item *a = left, *b = right;
    /* Lines of another month are not compared: last, in file order. */
    if (a->other_month != b->other_month) {
        return a->other_month ? 1 : -1;
    }
    int c = a->other_month ? 0 : item_key_compare(a, b);
    if (c == 0 && a->invoice != b->invoice) {
        c = a->invoice ? -1 : 1;
    }
    if (c == 0) { /* stable: in the order of the file or of the ledger */
        uint64_t x = a->invoice ? a->line : a->sequence, y = b->invoice ? b->line : b->sequence;
        c = x < y ? -1 : x > y;
    }
    return c;
}

/* A difference found, as text cells. */
#define DIFF_COLUMNS 12
static const char *const diff_names[DIFF_COLUMNS] = {
    "difference",    "customer_id",     "charge",         "charge_id",
    "order_id",      "invoice_line",    "invoice_amount", "invoice_currency",
    "ledger_amount", "ledger_currency", "sequence",       "cloud_order_id",
};
/* customer_id, charge_id and order_id are the invoice's as written, free
 * text from another party's file. */
static const enum ctl_cell_kind diff_kinds[DIFF_COLUMNS] = {
    CTL_CELL_TEXT,      CTL_CELL_FREE_TEXT, CTL_CELL_TEXT,   CTL_CELL_FREE_TEXT,
    CTL_CELL_FREE_TEXT, CTL_CELL_NUMBER,    CTL_CELL_TEXT,   CTL_CELL_TEXT,
    CTL_CELL_TEXT,      CTL_CELL_TEXT,      CTL_CELL_NUMBER, CTL_CELL_TEXT,
};

struct diff {
    const char *kind;
    const struct item *invoice; /* NULL for only-in-ledger */
    const struct item *ledger;  /* NULL for only-on-invoice */
};

struct report {
    struct diff *diffs;
    size_t count;
    size_t capacity;
    size_t matched;
};

static enum ledger_err diff_add(struct report *report, const char *kind, const struct item *invoice,
                                const struct item *ledger)
{
    if (report->count == report->capacity) {
        size_t capacity = report->capacity == 0 ? 16 : 2 * report->capacity;
        struct diff *grown = realloc(report->diffs, capacity * sizeof *grown);
        if (grown == NULL) {
            return LEDGER_ERR_NO_MEMORY;
        }
        report->diffs = grown;
        report->capacity = capacity;
    }
    report->diffs[report->count++] = (struct diff){kind, invoice, ledger};
    return LEDGER_ERR_OK;
}

/* Matches one group (same key): items[0..count), invoice lines first. */
static enum ledger_err match_group(struct item *items, size_t count, struct report *report)
{
    size_t lines = 0;
    while (lines < count && items[lines].invoice) {
        lines++;
    }
    struct item *invoice = items, *ledger = items + lines;
    size_t charges = count - lines;
    /* 1. Exact amount and currency. */
    for (size_t i = 0; i < lines; i++) {
        for (size_t j = 0; j < charges; j++) {
            if (!ledger[j].paired && invoice[i].amount_minor == ledger[j].amount_minor &&
                strcmp(invoice[i].currency, ledger[j].currency) == 0) {
                invoice[i].paired = ledger[j].paired = true;
                report->matched++;
                break;
            }
        }
    }
    /* 2. What is left on both sides, as totals in one currency. */
    int64_t invoice_total = 0, ledger_total = 0;
    const char *currency = NULL;
    bool one_currency = true, overflow = false;
    size_t invoice_left = 0, ledger_left = 0;
    for (size_t k = 0; k < count; k++) {
        if (items[k].paired) {
            continue;
        }
        if (currency == NULL) {
            currency = items[k].currency;
        }
        one_currency = one_currency && strcmp(currency, items[k].currency) == 0;
        if (items[k].invoice) {
            invoice_left++;
            overflow = overflow ||
                       __builtin_add_overflow(invoice_total, items[k].amount_minor, &invoice_total);
        } else {
            ledger_left++;
            overflow = overflow ||
                       __builtin_add_overflow(ledger_total, items[k].amount_minor, &ledger_total);
        }
    }
    if (invoice_left > 0 && ledger_left > 0 && one_currency && !overflow &&
        invoice_total == ledger_total) {
        for (size_t k = 0; k < count; k++) {
            if (!items[k].paired && items[k].invoice) {
                report->matched++;
            }
            items[k].paired = true;
        }
        return LEDGER_ERR_OK;
    }
    /* 3. Pair the rest in order; the remainder is on one side only. */
    size_t j = 0;
    enum ledger_err err = LEDGER_ERR_OK;
    for (size_t i = 0; i < lines && err == LEDGER_ERR_OK; i++) {
        if (invoice[i].paired) {
            continue;
        }
        while (j < charges && ledger[j].paired) {
            j++;
        }
        if (j < charges) {
            const char *kind = strcmp(invoice[i].currency, ledger[j].currency) != 0
                                   ? "currency-differs"
                                   : "amount-differs";
            err = diff_add(report, kind, &invoice[i], &ledger[j]);
            invoice[i].paired = ledger[j].paired = true;
        } else {
            err = diff_add(report, "only-on-invoice", &invoice[i], NULL);
            invoice[i].paired = true;
        }
    }
    for (j = 0; j < charges && err == LEDGER_ERR_OK; j++) {
        if (!ledger[j].paired) {
            err = diff_add(report, "only-in-ledger", NULL, &ledger[j]);
            ledger[j].paired = true;
        }
    }
    return err;
}

/* How messages name the invoice given as --invoice path. */
static const char *invoice_name(const char *path)
{
    return strcmp(path, "-") == 0 ? "stdin" : path;
}

/* Reads the whole invoice into memory: from the file at path, or from
 * stdin for "-" (named "stdin" in messages); a regular file, or a pipe or
 * FIFO (a spreadsheet export piped in, bash's <(...)), read in bounded
 * steps: never more than INVOICE_BYTES_MAX + 1 bytes are held. text_out:
 * NUL-terminated, caller frees with free(). USAGE past the bound or for
 * another kind of file, IO_ERROR when reading fails, NO_MEMORY. */
static enum ledger_err read_invoice(struct ctl_context *context, const char *path, char **text_out,
                                    size_t *size_out)
{
    bool standard_input = strcmp(path, "-") == 0;
    const char *name = invoice_name(path);
    int fd = standard_input ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return ctl_fail(context, LEDGER_ERR_IO_ERROR, "cannot read %s: %s", path, strerror(errno));
    }
    struct stat info;
    enum ledger_err err = LEDGER_ERR_OK;
    char *text = NULL;
    size_t size = 0, capacity = 0;
    /* A closed stdin (<&-) is open for writing only: ledgerctl's main takes
     * a closed descriptor so, and reading it fails as reading a closed one
     * does. */
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0 && (flags & O_ACCMODE) == O_WRONLY) {
        errno = EBADF;
    }
    if (flags < 0 || (flags & O_ACCMODE) == O_WRONLY || fstat(fd, &info) != 0) {
        err = ctl_fail(context, LEDGER_ERR_IO_ERROR, "cannot read %s: %s", name, strerror(errno));
        goto done;
    }
    if (!S_ISREG(info.st_mode) && !S_ISFIFO(info.st_mode)) {
        err = ctl_fail(context, LEDGER_ERR_USAGE,
                       "--invoice: %s is not a regular file, a pipe or a FIFO: give the invoice's "
                       "CSV file",
                       name);
        goto done;
    }
    /* A regular file is read in one step (and refused unread when too
     * large); a pipe in steps from this size on, each twice the last. */
    size_t first = S_ISREG(info.st_mode) ? (size_t)info.st_size + 1 : INVOICE_READ_FIRST_BYTES;
    if (S_ISREG(info.st_mode) && info.st_size > INVOICE_BYTES_MAX) {
        goto too_large;
    }
    for (;;) {
        if (size == capacity) {
            if (capacity > INVOICE_BYTES_MAX) {
                goto too_large;
            }
            size_t next = capacity == 0 ? first : 2 * capacity;
            next = next < INVOICE_BYTES_MAX + 1 ? next : INVOICE_BYTES_MAX + 1;
            char *grown = realloc(text, next + 1);
            if (grown == NULL) {
                err = ctl_fail(context, LEDGER_ERR_NO_MEMORY, "out of memory reading %s", name);
                goto done;
            }
            text = grown;
            capacity = next;
        }
        ssize_t got = read(fd, text + size, capacity - size);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got < 0) {
            err =
                ctl_fail(context, LEDGER_ERR_IO_ERROR, "cannot read %s: %s", name, strerror(errno));
            goto done;
        }
        if (got == 0) {
            break;
        }
        size += (size_t)got;
    }
    text[size] = '\0';
    *text_out = text;
    *size_out = size;
    text = NULL;
    goto done;
too_large:
    err = ctl_fail(context, LEDGER_ERR_USAGE,
                   "--invoice: %s is larger than 64 MiB: split the invoice by customer and "
                   "reconcile each part with --customer",
                   name);
done:
    free(text);
    if (!standard_input) {
        close(fd);
    }
    return err;
}

enum invoice_column {
    COLUMN_CUSTOMER = 0,
    COLUMN_ORDER,
    COLUMN_CHARGE_ID,
    COLUMN_CHARGE,
    COLUMN_AMOUNT,
    COLUMN_CURRENCY,
    COLUMN_CHARGE_DATE,
    COLUMN_DESCRIPTION,
    COLUMN_MONTH,
    COLUMN_COUNT,
};

static const char *const invoice_columns[COLUMN_COUNT] = {
    "customer_id", "order_id",    "charge_id",   "charge", "amount",
    "currency",    "charge_date", "description", "month",
};
static const bool invoice_required[COLUMN_COUNT] = {true, false, true,  true, true,
                                                    true, false, false, false};

/* Header names, trimmed of spaces, compared case-insensitively. */
static bool header_is(const char *field, const char *name)
{
    while (*field == ' ' || *field == '\t') {
        field++;
    }
    size_t length = strlen(field);
    while (length > 0 && (field[length - 1] == ' ' || field[length - 1] == '\t')) {
        length--;
    }
    return length == strlen(name) && strncasecmp(field, name, length) == 0;
}

/* Takes the spaces and tabs around a field away ("a, b" written by hand),
 * in place, as header names are compared without them. */
static void trim(char *field)
{
    size_t start = strspn(field, " \t");
    size_t length = strlen(field + start);
    while (length > 0 && (field[start + length - 1] == ' ' || field[start + length - 1] == '\t')) {
        length--;
    }
    memmove(field, field + start, length);
    field[length] = '\0';
}

static int string_compare(const void *left, const void *right)
{
    return strcmp(*(char *const *)left, *(char *const *)right);
}

/* An exchange refund's charge id lists the returned reservations joined by
 * ','. It is matched by the list with each id trimmed and the ids sorted,
 * so the same ids in another order or with spaces after the commas are one
 * key, while a list that differs in an id, or in how often one appears,
 * stays another. item->charge_key: that key (owned), or NULL when the id has
 * no ',' (ids have no commas or spaces: it is its own key). */
static enum ledger_err item_charge_key(struct item *item)
{
    const char *id = item->charge_id;
    if (strchr(id, ',') == NULL) {
        return LEDGER_ERR_OK;
    }
    size_t length = strlen(id), parts = 1;
    for (const char *c = id; *c != '\0'; c++) {
        parts += *c == ',';
    }
    char *copy = strdup(id);
    char **part = malloc(parts * sizeof *part);
    char *key = malloc(length + 1);
    if (copy == NULL || part == NULL || key == NULL) {
        free(copy);
        free(part);
        free(key);
        return LEDGER_ERR_NO_MEMORY;
    }
    char *next = copy;
    for (size_t i = 0; i < parts; i++) {
        part[i] = next;
        next = strchr(next, ',');
        if (next != NULL) {
            *next++ = '\0';
        }
        trim(part[i]);
    }
    qsort(part, parts, sizeof *part, string_compare);
    size_t used = 0;
    for (size_t i = 0; i < parts; i++) {
        size_t size = strlen(part[i]);
        if (i > 0) {
            key[used++] = ',';
        }
        memcpy(key + used, part[i], size);
        used += size;
    }
    key[used] = '\0';
    free(part);
    free(copy);
    item->charge_key = key;
    return LEDGER_ERR_OK;
}

/* Whether every field of a record is empty, or only spaces and tabs
 * (which are not part of a value): a spreadsheet's blank row, or a line of
 * spaces, whatever its number of fields. */
static bool record_blank(const struct ctl_csv_record *record)
{
    for (size_t f = 0; f < record->count; f++) {
        if (record->fields[f][strspn(record->fields[f], " \t")] != '\0') {
            return false;
        }
    }
    return true;
}

/* An invoice's month cell: "YYYY-MM", or a date "YYYY-MM-DD" (what a
 * spreadsheet may make of it), whose first 7 characters are the month. */
static bool invoice_month_valid(const char *text)
{
    char message[CTL_MESSAGE_SIZE], month[8];
    int64_t us = 0;
    bool date_only = false;
    size_t length = strlen(text);
    if (length == 10 &&
        (ctl_time_parse(text, &us, &date_only, message) != LEDGER_ERR_OK || !date_only)) {
        return false;
    }
    snprintf(month, sizeof month, "%.7s", text);
    return (length == 7 || length == 10) && ctl_month_check(month, message) == LEDGER_ERR_OK;
}

/* Checks that the field of invoice column `c` of `record` (if the file
 * has that column) is UTF-8 text; if not, USAGE naming the line and the
 * column. */
static enum ledger_err invoice_field_utf8(struct ctl_context *context, const char *path,
                                          const struct ctl_csv_record *record, const int *column,
                                          size_t c)
{
    if (column[c] < 0 || ledger_utf8_well_formed(record->fields[column[c]])) {
        return LEDGER_ERR_OK;
    }
    return ctl_fail(context, LEDGER_ERR_USAGE,
                    "--invoice: %s: line %zu: %s is not UTF-8 text (a spreadsheet's CSV in a "
                    "local code page?): save it as CSV UTF-8, comma-separated",
                    path, record->line, invoice_columns[c]);
}

/* Turns the invoice's records into items (strings borrowed from csv).
 * other_out: how many of them are of another month than `month` (by the
 * optional month column, as export writes it). */
static enum ledger_err invoice_items(struct ctl_context *context, const char *path,
                                     struct ctl_csv *csv, const char *month, const char *customer,
                                     struct item *items, size_t *count_out, size_t *other_out)
{
    int column[COLUMN_COUNT];
    if (csv->count == 0) {
        return ctl_fail(context, LEDGER_ERR_USAGE, "--invoice: %s is empty: it needs a header row",
                        path);
    }
    const struct ctl_csv_record *header = &csv->records[0];
    for (size_t c = 0; c < COLUMN_COUNT; c++) {
        column[c] = -1;
        for (size_t f = 0; f < header->count; f++) {
            if (header_is(header->fields[f], invoice_columns[c])) {
                if (column[c] >= 0) {
                    return ctl_fail(context, LEDGER_ERR_USAGE,
                                    "--invoice: %s: line %zu: column %s twice", path, header->line,
                                    invoice_columns[c]);
                }
                column[c] = (int)f;
            }
        }
        if (column[c] < 0 && invoice_required[c]) {
            bool other_separator = header->count == 1 && strpbrk(header->fields[0], ";\t") != NULL;
            return ctl_fail(context, LEDGER_ERR_USAGE,
                            "--invoice: %s: line %zu: the header row has no %s column (it needs "
                            "customer_id, charge_id, charge, amount, currency)%s",
                            path, header->line, invoice_columns[c],
                            other_separator ? "; its fields are separated by semicolons or tabs: "
                                              "save the file with commas"
                                            : "");
        }
    }
    size_t count = 0, other = 0;
    for (size_t r = 1; r < csv->count; r++) {
        const struct ctl_csv_record *record = &csv->records[r];
        if (record_blank(record)) {
            continue; /* a spreadsheet's blank row (",,,,"), like an empty line */
        }
        if (record->count != header->count) {
            return ctl_fail(context, LEDGER_ERR_USAGE,
                            "--invoice: %s: line %zu: %zu fields where the header has %zu", path,
                            record->line, record->count, header->count);
        }
        for (size_t c = 0; c < COLUMN_COUNT; c++) {
            if (column[c] >= 0) {
                trim(record->fields[column[c]]);
            }
        }
        /* The customer column first: with --customer, a line of another
         * customer is skipped before anything else of it is checked, but
         * only once its customer is known to be another one. What the
         * report may show must be UTF-8, as its JSON is: a file saved in a
         * local code page would be misread. */
        const char *customer_id = record->fields[column[COLUMN_CUSTOMER]];
        enum ledger_err err = invoice_field_utf8(context, path, record, column, COLUMN_CUSTOMER);
        if (err != LEDGER_ERR_OK) {
            return err;
        }
        if (customer_id[0] == '\0') {
            return ctl_fail(context, LEDGER_ERR_USAGE,
                            "--invoice: %s: line %zu: customer_id is empty", path, record->line);
        }
        if (customer != NULL && strcmp(customer, customer_id) != 0) {
            continue; /* another customer's line: not reconciled here */
        }
        for (size_t c = 0; c < COLUMN_COUNT && err == LEDGER_ERR_OK; c++) {
            if (c != COLUMN_CHARGE_DATE && c != COLUMN_DESCRIPTION) {
                err = invoice_field_utf8(context, path, record, column, c);
            }
        }
        if (err != LEDGER_ERR_OK) {
            return err;
        }
        struct item *item = &items[count];
        memset(item, 0, sizeof *item);
        item->invoice = true;
        item->line = record->line;
        item->customer_id = customer_id;
        item->charge_id = record->fields[column[COLUMN_CHARGE_ID]];
        item->order_id = column[COLUMN_ORDER] >= 0 ? record->fields[column[COLUMN_ORDER]] : "";
        char *charge = record->fields[column[COLUMN_CHARGE]];
        for (char *c = charge; *c != '\0'; c++) {
            *c = (*c >= 'A' && *c <= 'Z') ? (char)(*c - 'A' + 'a') : *c;
        }
        item->charge = charge;
        const char *currency = record->fields[column[COLUMN_CURRENCY]];
        const char *amount = record->fields[column[COLUMN_AMOUNT]];
        char message[CTL_MESSAGE_SIZE];
        if (item->charge_id[0] == '\0') {
            return ctl_fail(context, LEDGER_ERR_USAGE,
                            "--invoice: %s: line %zu: charge_id is empty (the reservation or "
                            "savings plan id the ledger's export gives)",
                            path, record->line);
        }
        if (strcmp(charge, "reservation") != 0 && strcmp(charge, "savings-plan") != 0 &&
            strcmp(charge, "refund") != 0) {
            return ctl_fail(context, LEDGER_ERR_USAGE,
                            "--invoice: %s: line %zu: charge '%.32s' is not one of reservation, "
                            "savings-plan, refund",
                            path, record->line, charge);
        }
        if (!ctl_currency_valid(currency)) {
            return ctl_fail(context, LEDGER_ERR_USAGE,
                            "--invoice: %s: line %zu: currency '%.16s' is not an ISO 4217 code",
                            path, record->line, currency);
        }
        bool negative = amount[0] == '-';
        int64_t minor = 0;
        if (ctl_amount_parse(amount + (negative ? 1 : 0), currency, &minor, message) !=
            LEDGER_ERR_OK) {
            return ctl_fail(context, LEDGER_ERR_USAGE, "--invoice: %s: line %zu: amount: %s", path,
                            record->line, message);
        }
        item->amount_minor = negative ? -minor : minor;
        memcpy(item->currency, currency, 4);
        const char *line_month =
            column[COLUMN_MONTH] >= 0 ? record->fields[column[COLUMN_MONTH]] : "";
        if (line_month[0] != '\0' && !invoice_month_valid(line_month)) {
            return ctl_fail(context, LEDGER_ERR_USAGE,
                            "--invoice: %s: line %zu: month '%.16s' is not YYYY-MM (or a date "
                            "YYYY-MM-DD); a spreadsheet may have turned it into a date of its "
                            "own: format the column as text, or remove it",
                            path, record->line, line_month);
        }
        item->other_month = line_month[0] != '\0' && strncmp(line_month, month, 7) != 0;
        if (item_charge_key(item) != LEDGER_ERR_OK) {
            return LEDGER_ERR_NO_MEMORY;
        }
        other += item->other_month ? 1 : 0;
        count++;
    }
    *count_out = count;
    *other_out = other;
    return LEDGER_ERR_OK;
}

static void amount_cell(const struct item *item, char out[CTL_AMOUNT_TEXT_SIZE])
{
    if (item == NULL) {
        out[0] = '\0';
        return;
    }
    ctl_amount_format(item->amount_minor, item->currency, out);
}

static enum ledger_err print_report(struct ctl_context *context, const char *month,
                                    const struct report *report, size_t lines, size_t charges,
                                    const Ledger__V1__QueryResult *result)
{
    struct cells {
        char line[24];
        char invoice_amount[CTL_AMOUNT_TEXT_SIZE];
        char ledger_amount[CTL_AMOUNT_TEXT_SIZE];
        char sequence[24];
    };
    struct cells *storage = calloc(report->count + 1, sizeof *storage);
    const char **cells = calloc((report->count + 1) * DIFF_COLUMNS, sizeof *cells);
    enum ledger_err err = LEDGER_ERR_NO_MEMORY;
    if (storage != NULL && cells != NULL) {
        for (size_t i = 0; i < report->count; i++) {
            const struct diff *diff = &report->diffs[i];
            const struct item *any = diff->invoice != NULL ? diff->invoice : diff->ledger;
            const char **row = cells + i * DIFF_COLUMNS;
            struct cells *text = &storage[i];
            if (diff->invoice != NULL) {
                snprintf(text->line, sizeof text->line, "%zu", diff->invoice->line);
            }
            if (diff->ledger != NULL) {
                snprintf(text->sequence, sizeof text->sequence, "%llu",
                         (unsigned long long)diff->ledger->sequence);
            }
            amount_cell(diff->invoice, text->invoice_amount);
            amount_cell(diff->ledger, text->ledger_amount);
            row[0] = diff->kind;
            row[1] = any->customer_id;
            row[2] = any->charge;
            row[3] = any->charge_id;
            row[4] = diff->ledger != NULL && diff->ledger->order_id[0] != '\0'
                         ? diff->ledger->order_id
                         : any->order_id;
            row[5] = text->line;
            row[6] = text->invoice_amount;
            row[7] = diff->invoice != NULL ? diff->invoice->currency : "";
            row[8] = text->ledger_amount;
            row[9] = diff->ledger != NULL ? diff->ledger->currency : "";
            row[10] = text->sequence;
            row[11] = diff->ledger != NULL ? diff->ledger->cloud_order_id : "";
        }
        struct ctl_extra extras[6] = {
            {"month", month, 0, false},
            {"invoice_lines", NULL, lines, false},
            {"ledger_charges", NULL, charges, false},
            {"matched", NULL, report->matched, false},
            {"difference_count", NULL, report->count, false},
        };
        size_t told = ctl_billing_tree_extra(context, result, &extras[5]);
        if (context->format == CTL_FORMAT_TABLE && report->count == 0) {
            fprintf(context->out,
                    "month %s: %zu invoice lines and %zu ledger charges, %zu matched: no "
                    "differences\n",
                    month, lines, charges, report->matched);
            err = ctl_output_status(context->out);
        } else {
            err = ctl_output_records(context->out, context->format, "differences", diff_names,
                                     diff_kinds, DIFF_COLUMNS, cells, report->count, extras,
                                     context->format == CTL_FORMAT_CSV ? 0 : 5 + told);
        }
    }
    free(cells);
    free(storage);
    return err;
}

/* One name of a ledger charge (its key, or its cloud order id) within its
 * customer and charge kind, and the charge's key. */
struct alias {
    const char *customer_id;
    const char *charge;
    const char *name;
    const char *key;
    bool own; /* name is the charge's key itself */
};

static int alias_compare(const void *left, const void *right)
{
    const struct alias *a = left, *b = right;
    int c = strcmp(a->customer_id, b->customer_id);
    if (c == 0) {
        c = strcmp(a->charge, b->charge);
    }
    return c != 0 ? c : strcmp(a->name, b->name);
}

/* The key `name` resolves to among the sorted aliases of (customer, charge):
 * NULL when it names no charge, or charges of several keys (an ambiguous id
 * is left alone: its lines stay unmatched and are reported). A name that
 * is a charge's own key is that charge's, whatever else it names; with
 * `cloud_only`, only cloud order ids are looked at. */
static const char *alias_resolve(const struct alias *aliases, size_t count, const char *customer_id,
                                 const char *charge, const char *name, bool cloud_only)
{
    struct alias probe = {customer_id, charge, name, NULL, false};
    size_t low = 0, high = count;
    while (low < high) { /* the first alias not less than probe */
        size_t middle = low + (high - low) / 2;
        if (alias_compare(&aliases[middle], &probe) < 0) {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    const char *key = NULL;
    bool ambiguous = false;
    for (size_t i = low; i < count && alias_compare(&aliases[i], &probe) == 0; i++) {
        if (aliases[i].own && cloud_only) {
            continue;
        }
        if (aliases[i].own) {
            return aliases[i].key;
        }
        ambiguous = ambiguous || (key != NULL && strcmp(key, aliases[i].key) != 0);
        key = aliases[i].key;
    }
    return ambiguous ? NULL : key;
}

/* Resolves each invoice line (lines[0..line_count)) whose charge id is not
 * a ledger charge's key of its customer and kind: by its charge id as a
 * charge's cloud order id, else by its order_id cell as one (docs/cli.md,
 * reconcile). The ledger's own order ids are not looked at: an export's
 * order_id cell would otherwise match a line whose charge id was edited.
 * Sets match_key to the charge's key (borrowed from charges[]).
 * NO_MEMORY. */
static enum ledger_err resolve_invoice_keys(struct item *lines, size_t line_count,
                                            const struct item *charges, size_t charge_count)
{
    if (line_count == 0 || charge_count == 0) {
        return LEDGER_ERR_OK;
    }
    struct alias *aliases = calloc(2 * charge_count, sizeof *aliases);
    if (aliases == NULL) {
        return LEDGER_ERR_NO_MEMORY;
    }
    size_t count = 0;
    for (size_t j = 0; j < charge_count; j++) {
        const struct item *c = &charges[j];
        const char *key = item_key(c);
        const char *names[2] = {key, c->cloud_order_id};
        for (size_t n = 0; n < 2; n++) {
            if (names[n] != NULL && names[n][0] != '\0') {
                aliases[count++] = (struct alias){c->customer_id, c->charge, names[n], key, n == 0};
            }
        }
    }
    qsort(aliases, count, sizeof *aliases, alias_compare);
    for (size_t i = 0; i < line_count; i++) {
        struct item *line = &lines[i];
        if (line->other_month) {
            continue;
        }
        const char *key =
            alias_resolve(aliases, count, line->customer_id, line->charge, item_key(line), false);
        if (key == NULL && line->order_id[0] != '\0') {
            key = alias_resolve(aliases, count, line->customer_id, line->charge, line->order_id,
                                true);
        }
        if (key != NULL && strcmp(key, item_key(line)) != 0) {
            line->match_key = key;
        }
    }
    free(aliases);
    return LEDGER_ERR_OK;
}

enum ledger_err ctl_reconcile_run(struct ctl_context *context, const struct ctl_args *args)
{
    const char *customer = NULL;
    const char *month = ctl_arg(args, "month");
    const char *path = ctl_arg(args, "invoice");
    char *text = NULL;
    size_t size = 0;
    struct ctl_csv csv = {NULL, 0};
    struct item *items = NULL;
    struct report report = {NULL, 0, 0, 0};
    Ledger__V1__QueryResult *result = NULL;
    char message[CTL_MESSAGE_SIZE];
    struct ctl_billing_ask ask;
    size_t keyed = 0; /* items[0..keyed) may own a charge_key */
    enum ledger_err err = ctl_billing_args(context, args, &ask);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    customer = ask.customer;
    ask.label = "reconcile";
    if ((err = read_invoice(context, path, &text, &size)) != LEDGER_ERR_OK) {
        return err;
    }
    path = invoice_name(path);
    if (size >= 2 && (((unsigned char)text[0] == 0xff && (unsigned char)text[1] == 0xfe) ||
                      ((unsigned char)text[0] == 0xfe && (unsigned char)text[1] == 0xff))) {
        err = ctl_fail(context, LEDGER_ERR_USAGE,
                       "--invoice: %s is UTF-16 text (a spreadsheet's \"Unicode Text\"): save it "
                       "as CSV UTF-8, comma-separated",
                       path);
        goto cleanup;
    }
    err = ctl_csv_parse(text, size, &csv, message);
    if (err == LEDGER_ERR_USAGE) {
        err = ctl_fail(context, LEDGER_ERR_USAGE, "--invoice: %s: %s", path, message);
    }
    if (err != LEDGER_ERR_OK) {
        goto cleanup;
    }
    /* Check the whole invoice before asking the ledger anything. */
    size_t lines = 0, other = 0;
    items = calloc(csv.count + 1, sizeof *items);
    if (items == NULL) {
        err = LEDGER_ERR_NO_MEMORY;
        goto cleanup;
    }
    keyed = csv.count + 1; /* zeroed, or an invoice line with its key */
    if ((err = invoice_items(context, path, &csv, month, customer, items, &lines, &other)) !=
            LEDGER_ERR_OK ||
        (err = ctl_billing_fetch(context, &ask, &result)) != LEDGER_ERR_OK) {
        goto cleanup;
    }
    size_t charges = result->n_billing;
    struct item *grown = realloc(items, (lines + charges + 1) * sizeof *items);
    if (grown == NULL) {
        err = LEDGER_ERR_NO_MEMORY;
        goto cleanup;
    }
    items = grown;
    keyed = lines;
    for (size_t i = 0; i < charges && err == LEDGER_ERR_OK; i++) {
        const Ledger__V1__BillingRow *row = result->billing[i];
        struct item *item = &items[lines + i];
        memset(item, 0, sizeof *item);
        item->customer_id = text_or_empty(row->customer_id);
        item->charge = text_or_empty(row->charge);
        item->charge_id = text_or_empty(row->charge_id);
        item->order_id = text_or_empty(row->order_id);
        item->cloud_order_id = text_or_empty(row->cloud_order_id);
        item->sequence = row->sequence;
        if (row->partner_amount != NULL) {
            item->amount_minor = row->partner_amount->amount_minor;
            snprintf(item->currency, sizeof item->currency, "%.3s",
                     text_or_empty(row->partner_amount->currency));
        }
        err = item_charge_key(item);
        keyed++;
    }
    if (err != LEDGER_ERR_OK) {
        goto cleanup;
    }
    size_t total = lines + charges, compared = total - other;
    if ((err = resolve_invoice_keys(items, lines, items + lines, charges)) != LEDGER_ERR_OK) {
        goto cleanup;
    }
    qsort(items, total, sizeof *items, item_compare);
    for (size_t start = 0; start < compared && err == LEDGER_ERR_OK;) {
        size_t end = start + 1;
        while (end < compared && item_key_compare(&items[start], &items[end]) == 0) {
            end++;
        }
        err = match_group(items + start, end - start, &report);
        start = end;
    }
    for (size_t k = compared; k < total && err == LEDGER_ERR_OK; k++) {
        err = diff_add(&report, "other-month", &items[k], NULL);
    }
    if (err == LEDGER_ERR_OK) {
        err = print_report(context, month, &report, lines - other, charges, result);
    }
    if (err == LEDGER_ERR_OK && (report.count == 0 || !billing_tree_known(result))) {
        billing_tree_note(context, "reconcile", result);
    }
    if (err == LEDGER_ERR_OK && report.count > 0) {
        /* The error line stays the only one: it says the tree itself. */
        context->reported = true;
        err = ctl_fail(context, LEDGER_ERR_MISMATCH,
                       "%zu difference%s between the invoice and the ledger's charges of %s "
                       "(read at tree size %llu)",
                       report.count, report.count == 1 ? "" : "s", month,
                       (unsigned long long)result->tree_size);
    }
cleanup:
    ledger_query_result_free(result);
    free(report.diffs);
    for (size_t k = 0; k < keyed; k++) {
        free(items[k].charge_key);
    }
    free(items);
    ctl_csv_free(&csv);
    free(text);
    return err;
}
