/*
 * ctl_import.c: the import verb: a file of ledgerctl write commands, one a
 * line, sent in atomic batches (docs/cli.md, import).
 *
 * The whole file is read and every line's command built first, by the
 * verb's own code in capture mode (ctl_capture_line): a typing mistake on
 * any line is found while nothing is sent. The commands are then sent
 * --batch at a time, each batch one request (ledger_execute with n
 * commands), all of it committed or none. A line without --command-id
 * gets an id derived from its words (derived_id), so that the same file
 * run again, after an interruption or a refusal, is answered as duplicates
 * for what was committed and records nothing twice.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "ctl_verbs.h"
#include "ctl_words.h"
#include "ledger_limits.h"
#include "progress.h"

#define IMPORT_LINE_MAX     CTL_IMPORT_LINE_MAX
#define IMPORT_COMMANDS_MAX CTL_IMPORT_COMMANDS_MAX
/* The most words of a line: a two-word verb and CTL_ARGS_MAX options with
 * their values. */
#define IMPORT_WORDS_MAX (2 + 2 * CTL_ARGS_MAX)
/* A batch also ends before its commands pass this many bytes: half the
 * daemon's default request limit, so that a batch of long lines is not
 * refused as TOO_LARGE. */
#define IMPORT_BATCH_BYTES (LEDGER_REQUEST_BYTES_DEFAULT / 2)
/* What derived ids begin with, and the hash's domain. */
#define IMPORT_ID_DOMAIN    "ledgerctl import 1"
#define IMPORT_DIGEST_BYTES 16

const struct ctl_option ctl_import_options[] = {
    {"file", CTL_OPTION_VALUE, "FILE",
     "the commands, one a line as typed after ledgerctl (- for stdin)", true},
    {"batch", CTL_OPTION_VALUE, "N",
     "commands per atomic request, 1..100000 (default 1000, the daemon's default "
     "batch_commands_max)",
     false},
    {"dry-run", CTL_OPTION_FLAG, NULL, "read and build every line, send nothing", false},
    {NULL, CTL_OPTION_VALUE, NULL, NULL, false},
};

/* One command of the file, packed in the import's bytes. */
struct entry {
    size_t offset;
    size_t size;
    uint64_t line;
};

/* How often each line's words were seen, by their digest (open
 * addressing). */
struct seen_slot {
    uint8_t digest[IMPORT_DIGEST_BYTES];
    uint64_t count; /* 0: empty */
};

struct import {
    struct ctl_context *context;
    uint8_t *bytes;
    size_t bytes_used, bytes_capacity;
    struct entry *entries;
    size_t count, capacity;
    struct seen_slot *seen;
    size_t seen_used, seen_capacity;
    uint64_t lines; /* read, blank lines and comments included */
};

struct tally {
    size_t committed;
    size_t duplicates;
    uint64_t first_sequence;
    uint64_t last_sequence;
    size_t answered;  /* commands of the batches answered, from the first */
    bool interrupted; /* a signal stopped the import (import_signal) */
    size_t abandoned; /* with a second signal: the batch given up on, [answered, abandoned) */
};

/* Ctrl-C and SIGTERM while the commands are sent (docs/cli.md, import):
 * the first stops the import once the batch in flight is answered, a
 * second one at once, giving that batch up (the client's stop flag ends
 * the wait for its reply). */
static volatile sig_atomic_t import_signals;
static volatile sig_atomic_t import_stop_now;

static void import_signal(int signal_number)
{
    (void)signal_number;
    if (import_signals != 0) {
        import_stop_now = 1;
    }
    import_signals = 1;
}

static enum ledger_err no_memory(struct ctl_context *context)
{
    return ctl_fail(context, LEDGER_ERR_NO_MEMORY, "out of memory");
}

/* The slot of digest in slots (capacity a power of two, never full): its
 * own, or the empty one where it would go. */
static struct seen_slot *seen_slot(struct seen_slot *slots, size_t capacity,
                                   const uint8_t digest[IMPORT_DIGEST_BYTES])
{
    uint64_t hash = 0;
    memcpy(&hash, digest, sizeof hash);
    size_t at = (size_t)hash & (capacity - 1);
    while (slots[at].count != 0 && memcmp(slots[at].digest, digest, IMPORT_DIGEST_BYTES) != 0) {
        at = (at + 1) & (capacity - 1);
    }
    return &slots[at];
}

/* Counts one more line of this digest and returns how many there were,
 * this one included. 0 when out of memory. */
static uint64_t seen_count(struct import *import, const uint8_t digest[IMPORT_DIGEST_BYTES])
{
    if (2 * (import->seen_used + 1) > import->seen_capacity) {
        size_t capacity = import->seen_capacity == 0 ? 1024 : 2 * import->seen_capacity;
        struct seen_slot *slots = calloc(capacity, sizeof *slots);
        if (slots == NULL) {
            return 0;
        }
        for (size_t i = 0; i < import->seen_capacity; i++) {
            if (import->seen[i].count != 0) {
                *seen_slot(slots, capacity, import->seen[i].digest) = import->seen[i];
            }
        }
        free(import->seen);
        import->seen = slots;
        import->seen_capacity = capacity;
    }
    struct seen_slot *slot = seen_slot(import->seen, import->seen_capacity, digest);
    if (slot->count == 0) {
        memcpy(slot->digest, digest, IMPORT_DIGEST_BYTES);
        import->seen_used++;
    }
    return ++slot->count;
}

/* The id of a line without --command-id (docs/cli.md, import): "imp-", the
 * first 16 bytes of SHA-256("ledgerctl import 1" NUL partner NUL word1 NUL
 * ... wordN NUL) in hex, "-", and how many lines of these words the file
 * held up to this one (1 for the first). words: as ctl_words_split left
 * them, one after the other in its storage. */
static enum ledger_err derived_id(struct import *import, char **words, size_t count,
                                  char id[LEDGER_ID_LENGTH_MAX + 1])
{
    static char input[sizeof IMPORT_ID_DOMAIN + LEDGER_ID_LENGTH_MAX + 1 + IMPORT_LINE_MAX + 1];
    const char *partner = import->context->partner_id != NULL ? import->context->partner_id : "";
    size_t used = (size_t)snprintf(input, sizeof input, "%s%c%s", IMPORT_ID_DOMAIN, '\0', partner);
    used++; /* the partner's NUL */
    const char *end = words[count - 1] + strlen(words[count - 1]) + 1;
    memcpy(input + used, words[0], (size_t)(end - words[0]));
    used += (size_t)(end - words[0]);
    uint8_t digest[CRYPTO_HASH_BYTES];
    crypto_sha256(input, used, digest);
    uint64_t seen = seen_count(import, digest);
    if (seen == 0) {
        return no_memory(import->context);
    }
    char hex[2 * IMPORT_DIGEST_BYTES + 1];
    crypto_hex(digest, IMPORT_DIGEST_BYTES, hex);
    snprintf(id, LEDGER_ID_LENGTH_MAX + 1, "imp-%s-%llu", hex, (unsigned long long)seen);
    return LEDGER_ERR_OK;
}

/* Keeps one packed command (taken over: freed here). */
static enum ledger_err keep(struct import *import, uint8_t *packed, size_t size, uint64_t line)
{
    if (import->count == import->capacity) {
        size_t capacity = import->capacity == 0 ? 1024 : 2 * import->capacity;
        struct entry *entries = realloc(import->entries, capacity * sizeof *entries);
        if (entries == NULL) {
            free(packed);
            return no_memory(import->context);
        }
        import->entries = entries;
        import->capacity = capacity;
    }
    if (import->bytes_capacity - import->bytes_used < size) {
        size_t capacity = import->bytes_capacity == 0 ? 65536 : 2 * import->bytes_capacity;
        while (capacity - import->bytes_used < size) {
            capacity *= 2;
        }
        uint8_t *bytes = realloc(import->bytes, capacity);
        if (bytes == NULL) {
            free(packed);
            return no_memory(import->context);
        }
        import->bytes = bytes;
        import->bytes_capacity = capacity;
    }
    memcpy(import->bytes + import->bytes_used, packed, size);
    free(packed);
    import->entries[import->count++] =
        (struct entry){.offset = import->bytes_used, .size = size, .line = line};
    import->bytes_used += size;
    return LEDGER_ERR_OK;
}

/* Reads one line (without its line end, a CR before it dropped) into line
 * (IMPORT_LINE_MAX + 2 bytes). 1: a line; 0: the end of the file; -1: the
 * line is longer than IMPORT_LINE_MAX (its line end, LF or CRLF, not
 * counted); -2: it holds a NUL byte. */
static int read_line(FILE *in, char *line)
{
    size_t length = 0;
    int c = 0;
    bool nul = false;
    while ((c = getc_unlocked(in)) != EOF && c != '\n') {
        /* Room for one byte more: the CR of a CRLF line end. */
        if (length == IMPORT_LINE_MAX + 1) {
            return -1;
        }
        nul = nul || c == '\0';
        line[length++] = (char)c;
    }
    if (c == EOF && length == 0) {
        return 0;
    }
    if (length > 0 && line[length - 1] == '\r') {
        length--;
    }
    if (length > IMPORT_LINE_MAX) {
        return -1;
    }
    line[length] = '\0';
    return nul ? -2 : 1;
}

/* Reads the whole file and builds every line's command. */
static enum ledger_err read_all(struct import *import, FILE *in, const char *name)
{
    struct ctl_context *context = import->context;
    static char line[IMPORT_LINE_MAX + 2];
    static char storage[IMPORT_LINE_MAX + 2];
    char *words[IMPORT_WORDS_MAX];
    for (;;) {
        int got = read_line(in, line);
        if (got == 0) {
            break;
        }
        uint64_t number = ++import->lines;
        if (got == -1) {
            return ctl_fail(context, LEDGER_ERR_USAGE,
                            "line %llu: longer than %d bytes, the most a line may hold; is %s a "
                            "file of ledgerctl commands?",
                            (unsigned long long)number, IMPORT_LINE_MAX, name);
        }
        if (got == -2) {
            return ctl_fail(context, LEDGER_ERR_USAGE,
                            "line %llu: holds a NUL byte; is %s a text file of ledgerctl commands?",
                            (unsigned long long)number, name);
        }
        char message[CTL_MESSAGE_SIZE];
        size_t count = 0;
        if (ctl_words_split(line, storage, words, IMPORT_WORDS_MAX, &count, message) !=
            LEDGER_ERR_OK) {
            return ctl_fail(context, LEDGER_ERR_USAGE, "line %llu: %s", (unsigned long long)number,
                            message);
        }
        if (count == 0) {
            continue; /* blank, or a comment */
        }
        if (import->count == IMPORT_COMMANDS_MAX) {
            return ctl_fail(context, LEDGER_ERR_USAGE,
                            "line %llu: more than %d commands in one file; split it into files "
                            "of fewer, imported one after the other (keep the parts: ids "
                            "count identical lines within one file)",
                            (unsigned long long)number, IMPORT_COMMANDS_MAX);
        }
        char id[LEDGER_ID_LENGTH_MAX + 1];
        enum ledger_err err = derived_id(import, words, count, id);
        uint8_t *packed = NULL;
        size_t size = 0;
        if (err == LEDGER_ERR_OK) {
            err = ctl_capture_line(context, words, count, id, &packed, &size);
        }
        if (err != LEDGER_ERR_OK) {
            char why[sizeof context->message];
            memcpy(why, context->message, sizeof why);
            return ctl_fail(context, err, "line %llu: %.440s", (unsigned long long)number, why);
        }
        if ((err = keep(import, packed, size, number)) != LEDGER_ERR_OK) {
            return err;
        }
    }
    if (ferror(in)) {
        return ctl_fail(context, LEDGER_ERR_IO_ERROR, "cannot read %s: %s", name, strerror(errno));
    }
    return LEDGER_ERR_OK;
}

/* Whether a refusal is of one command of the batch (the reply's index
 * names it) rather than of the request as a whole. */
static bool refusal_of_a_command(enum ledger_err err)
{
    return err == LEDGER_ERR_INVALID_ARGUMENT || err == LEDGER_ERR_UNKNOWN_MESSAGE ||
           err == LEDGER_ERR_BAD_REQUEST ||
           (err >= LEDGER_ERR_FORBIDDEN && err <= LEDGER_ERR_COMMAND_ID_REUSED);
}

/* Says why batch [start, end) failed, what was committed and what to do. */
static enum ledger_err batch_failed(struct import *import, struct ledger_client *client,
                                    enum ledger_err err, size_t start, size_t end)
{
    struct ctl_context *context = import->context;
    const char *said = ledger_error_message(client);
    char why[CTL_MESSAGE_SIZE];
    snprintf(why, sizeof why, "%.200s", said[0] != '\0' ? said : ledger_strerror(err));
    unsigned long long first = import->entries[start].line, last = import->entries[end - 1].line;
    uint32_t index = ledger_error_index(client);
    if (refusal_of_a_command(err) && index < end - start) {
        const struct entry *entry = &import->entries[start + index];
        Ledger__V1__Command *command =
            ledger__v1__command__unpack(NULL, entry->size, import->bytes + entry->offset);
        ctl_fail(context, err,
                 "line %llu (command id %.64s) was refused: %s; nothing of its batch (lines "
                 "%llu..%llu) was committed, the %zu commands before it were; correct the line "
                 "and run the file again: what was committed is answered as already there, "
                 "never recorded twice",
                 (unsigned long long)entry->line, command != NULL ? command->command_id : "?", why,
                 first, last, start);
        ledger__v1__command__free_unpacked(command, NULL);
    } else if (err == LEDGER_ERR_TIMEOUT || err == LEDGER_ERR_PROTOCOL_ERROR) {
        ctl_fail(context, err,
                 "%s; the batch of lines %llu..%llu may have been committed, the %zu commands "
                 "before it were; running the file again is safe: what was committed is "
                 "answered as already there, never recorded twice",
                 why, first, last, start);
    } else if (err == LEDGER_ERR_BATCH_TOO_LARGE || err == LEDGER_ERR_TOO_LARGE) {
        ctl_fail(context, err,
                 "%s: the daemon takes fewer than the %zu commands of lines %llu..%llu in one "
                 "request; lower --batch, or raise batch_commands_max (request_bytes_max) in the "
                 "daemon's configuration, and run the file again (the %zu commands before were "
                 "committed)",
                 why, end - start, first, last, start);
    } else {
        ctl_fail(context, err,
                 "%s; nothing of lines %llu..%llu was committed, the %zu commands before them "
                 "were; run the file again once this is solved",
                 why, first, last, start);
    }
    return err;
}

/* Sends the commands in batches of at most `batch`, adding up the
 * results. */
static enum ledger_err send_all(struct import *import, size_t batch, struct tally *tally)
{
    struct ctl_context *context = import->context;
    struct ledger_client *client = NULL;
    enum ledger_err err = ctl_client(context, &client);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    Ledger__V1__Command **commands = calloc(batch, sizeof *commands);
    if (commands == NULL) {
        return no_memory(context);
    }
    /* Installed only now: while the file is read, a signal ends ledgerctl
     * at once, with nothing sent. SA_RESTART lets a write to stderr (the
     * bar) finish; the wait for a reply goes on through the first signal
     * (ledger_set_stop). */
    struct ctl_signals signals;
    import_signals = 0;
    import_stop_now = 0;
    ctl_signals_catch(import_signal, &signals);
    ledger_set_stop(client, &import_stop_now);
    struct progress bar;
    progress_start(&bar, "import", "lines", import->count, false);
    size_t start = 0;
    while (err == LEDGER_ERR_OK && start < import->count && import_signals == 0) {
        size_t end = start, bytes = 0;
        while (end < import->count && end - start < batch &&
               (end == start || bytes + import->entries[end].size <= IMPORT_BATCH_BYTES)) {
            const struct entry *entry = &import->entries[end];
            commands[end - start] =
                ledger__v1__command__unpack(NULL, entry->size, import->bytes + entry->offset);
            if (commands[end - start] == NULL) {
                err = no_memory(context);
                break;
            }
            bytes += entry->size;
            end++;
        }
        Ledger__V1__Reply *reply = NULL;
        if (err == LEDGER_ERR_OK) {
            err = ledger_execute(client, (const Ledger__V1__Command *const *)commands, end - start,
                                 &reply);
            if (err == LEDGER_ERR_TIMEOUT && import_stop_now != 0) {
                tally->abandoned = end;
                err = LEDGER_ERR_OK;
                break;
            }
            if (err != LEDGER_ERR_OK) {
                err = batch_failed(import, client, err, start, end);
            }
        }
        for (size_t i = 0; i < end - start; i++) {
            ledger__v1__command__free_unpacked(commands[i], NULL);
            commands[i] = NULL;
        }
        for (size_t i = 0; reply != NULL && i < reply->n_results; i++) {
            const Ledger__V1__CommandResult *result = reply->results[i];
            if (result->duplicate) {
                tally->duplicates++;
                continue;
            }
            tally->committed++;
            if (tally->first_sequence == 0 && result->first_sequence != 0) {
                tally->first_sequence = result->first_sequence;
            }
            if (result->last_sequence > tally->last_sequence) {
                tally->last_sequence = result->last_sequence;
            }
        }
        ledger_reply_free(reply);
        if (err == LEDGER_ERR_OK) {
            start = end;
            progress_update(&bar, start);
        }
    }
    progress_finish(&bar, start);
    ledger_set_stop(client, NULL);
    ctl_signals_restore(&signals);
    for (size_t i = 0; i < batch && commands[i] != NULL; i++) {
        ledger__v1__command__free_unpacked(commands[i], NULL); /* the batch given up on */
    }
    tally->answered = start;
    tally->interrupted = err == LEDGER_ERR_OK && import_signals != 0 && start < import->count;
    free(commands);
    return err;
}

static enum ledger_err print_summary(struct import *import, const char *name, bool dry_run,
                                     const struct tally *tally)
{
    static const char *const names[] = {"file",          "lines",         "commands",
                                        "committed",     "already_there", "first_sequence",
                                        "last_sequence", "dry_run"};
    static const enum ctl_cell_kind kinds[] = {CTL_CELL_FREE_TEXT, CTL_CELL_NUMBER, CTL_CELL_NUMBER,
                                               CTL_CELL_NUMBER,    CTL_CELL_NUMBER, CTL_CELL_NUMBER,
                                               CTL_CELL_NUMBER,    CTL_CELL_BOOLEAN};
    char numbers[6][24];
    snprintf(numbers[0], sizeof numbers[0], "%llu", (unsigned long long)import->lines);
    snprintf(numbers[1], sizeof numbers[1], "%zu", import->count);
    snprintf(numbers[2], sizeof numbers[2], "%zu", tally->committed);
    snprintf(numbers[3], sizeof numbers[3], "%zu", tally->duplicates);
    snprintf(numbers[4], sizeof numbers[4], "%llu", (unsigned long long)tally->first_sequence);
    snprintf(numbers[5], sizeof numbers[5], "%llu", (unsigned long long)tally->last_sequence);
    if (tally->committed == 0) {
        numbers[4][0] = '\0';
        numbers[5][0] = '\0';
    }
    const char *cells[] = {name,       numbers[0], numbers[1], numbers[2],
                           numbers[3], numbers[4], numbers[5], dry_run ? "yes" : "no"};
    return ctl_output_records(import->context->out, import->context->format, "import", names, kinds,
                              sizeof names / sizeof names[0], cells, 1, NULL, 0);
}

/* Says, after the summary, where a signal stopped the import and what to
 * do (docs/cli.md, import): exit status 1. */
static void say_interrupted(struct import *import, const struct tally *tally)
{
    struct ctl_context *context = import->context;
    unsigned long long after = tally->answered > 0 ? import->entries[tally->answered - 1].line : 0;
    if (tally->abandoned > tally->answered) {
        fprintf(context->err,
                "interrupted again while waiting for the reply to lines %llu..%llu, which may "
                "have been committed; ",
                (unsigned long long)import->entries[tally->answered].line,
                (unsigned long long)import->entries[tally->abandoned - 1].line);
    }
    fprintf(context->err,
            "interrupted after line %llu: %zu commands committed; run the same file again to "
            "finish (what was committed is answered as already there)\n",
            after, tally->committed);
    context->interrupted = true;
}

enum ledger_err ctl_import_run(struct ctl_context *context, const struct ctl_args *args)
{
    char message[CTL_MESSAGE_SIZE];
    uint64_t batch = LEDGER_BATCH_COMMANDS_DEFAULT;
    if (ctl_arg(args, "batch") != NULL &&
        (ctl_unsigned_parse(ctl_arg(args, "batch"), LEDGER_BATCH_COMMANDS_MAX, &batch, message) !=
             LEDGER_ERR_OK ||
         batch == 0)) {
        return ctl_fail(context, LEDGER_ERR_USAGE, "--batch: give 1..%d commands",
                        LEDGER_BATCH_COMMANDS_MAX);
    }
    const char *path = ctl_arg(args, "file");
    bool from_stdin = strcmp(path, "-") == 0;
    const char *name = from_stdin ? "stdin" : path;
    FILE *in = from_stdin ? stdin : fopen(path, "r");
    if (in == NULL) {
        return ctl_fail(context, LEDGER_ERR_IO_ERROR, "cannot open %.400s: %s", path,
                        strerror(errno));
    }
    struct import import = {.context = context};
    struct tally tally = {0};
    enum ledger_err err = read_all(&import, in, name);
    if (!from_stdin) {
        fclose(in);
    }
    bool dry_run = ctl_flag(args, "dry-run");
    if (err == LEDGER_ERR_OK && !dry_run && import.count > 0) {
        err = send_all(&import, (size_t)batch, &tally);
        /* Output that fails now must not read as an import to do again
         * under other ids. */
        snprintf(context->committed_note, sizeof context->committed_note,
                 "the import was %s (%zu commands committed, %zu already there); running the "
                 "file again %srecords nothing twice",
                 tally.interrupted ? "interrupted, what it did kept" : "done all the same",
                 tally.committed, tally.duplicates, tally.interrupted ? "finishes it and " : "");
    }
    if (err == LEDGER_ERR_OK) {
        err = print_summary(&import, name, dry_run, &tally);
    }
    if (err == LEDGER_ERR_OK && tally.interrupted) {
        say_interrupted(&import, &tally);
    }
    free(import.bytes);
    free(import.entries);
    free(import.seen);
    return err;
}
