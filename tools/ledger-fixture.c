/*
 * ledger-fixture: writes a reproducible ledger data directory, for the
 * schema-evolution fixtures kept under tests/fixtures/ and for measuring the
 * offline verifier on large histories.
 *
 * Owns: driving a seeded generated history (tests/support/histgen.h) through
 * the engine with a fixed clock, and handing the result over as a compacting
 * backup (engine_backup): OUTDIR receives data.mdb and head.pb only.
 * Does not own: the history's content (histgen), the file formats (store,
 * engine).
 *
 * Reproducibility: the log is a pure function of the options. The clock the
 * engine is given is the business time of the generated commands, starting at
 * HISTGEN_START_US_DEFAULT, and the first operator is added at that time.
 * engine_init would stamp that first event with the wall clock, so this tool
 * does init's two steps itself: it writes a head-signing key (head.key: the
 * 64-byte Ed25519 secret key as hex and a newline, mode 0600, as engine.c
 * describes) into the working directory and then adds the operator through
 * the ordinary command path, exactly as engine_init does. The same options give
 * the same records, hence the same Merkle root, which the tool prints. What
 * differs between runs is random by design and outside the log: the signing
 * key, the principals' secrets and the head's timestamp and signature.
 *
 * With --refresh, an existing fixture's records are kept byte for byte and only
 * its derived databases (views, indexes, Merkle nodes) are derived again by
 * this build: for a deliberate change of a row layout, which would otherwise
 * make the fixture's stored views differ from a replay (docs/events.md).
 *
 * Exit status: 0 written; 1 the engine refused or failed; 2 usage error.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codec.h"
#include "crypto.h"
#include "domain.h"
#include "engine.h"
#include "histgen.h"
#include "histload.h"
#include "merkle.h"
#include "progress.h"
#include "store.h"

#define EXIT_WRITTEN 0
#define EXIT_FAILED  1
#define EXIT_USAGE   2

/* Bounds on what one run may ask for, so that a typing mistake cannot fill the
 * disk: ten million events are a few gigabytes of working directory. */
#define FIXTURE_EVENTS_MAX UINT64_C(10000000)

struct options {
    const char *out_dir;
    const char *refresh_from; /* --refresh: an existing fixture */
    uint64_t events;
    uint64_t seed;
    uint32_t partners;
    uint32_t customers;
    bool quiet;
};

static void usage(FILE *out)
{
    fprintf(out, "usage: ledger-fixture [--events N] [--seed N] [--partners N] [--customers N]\n"
                 "                      [--quiet] OUTDIR\n"
                 "       ledger-fixture --refresh DIR [--quiet] OUTDIR\n"
                 "\n"
                 "Writes a reproducible ledger into OUTDIR (which must not exist) as a compacted\n"
                 "backup: data.mdb and head.pb. The same options give the same log and root.\n"
                 "\n"
                 "  --events N      generated events after the first operator (default 300)\n"
                 "  --seed N        the generator's seed (default 1)\n"
                 "  --partners N    partners in the history (default 2)\n"
                 "  --customers N   customers per partner (default 5)\n"
                 "  --refresh DIR   copy the fixture in DIR with its views and indexes derived\n"
                 "                  again by this build (after a deliberate change of a row\n"
                 "                  layout); its records and its head.pb are kept as they are\n"
                 "  --quiet         print nothing on success\n"
                 "\n"
                 "example: ledger-fixture --events 300 tests/fixtures/schema-v1\n");
}

static bool parse_u64(const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
    if (text == NULL || text[0] < '0' || text[0] > '9') {
        return false;
    }
    errno = 0;
    char *end = NULL;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0' || value < min || value > max) {
        return false;
    }
    *out = value;
    return true;
}

/* The last words of a run that failed: the code, and what the store said
 * when it said something (a write that failed for want of room, say),
 * else what the code means. */
static void report_failure(enum ledger_err err)
{
    const char *why = store_last_error(NULL);
    fprintf(stderr, "ledger-fixture: %s: %s\n", ledger_err_name(err),
            why[0] != '\0' ? why : ledger_strerror(err));
}

/* The first operator, added as engine_init adds it, at the fixed clock. */
static enum ledger_err add_operator(struct engine *engine, int64_t now_us)
{
    char secret_hex[2 * LEDGER_SECRET_BYTES + 1];
    char message[ENGINE_MESSAGE_SIZE];
    enum ledger_err err =
        engine_add_first_operator(engine, "operator", now_us, secret_hex, message);
    if (err == LEDGER_ERR_OK) {
        crypto_wipe(secret_hex, sizeof secret_hex);
    } else if (message[0] != '\0') {
        fprintf(stderr, "ledger-fixture: the first operator was refused: %s\n", message);
    }
    return err;
}

static enum ledger_err write_head_key(const char *dir)
{
    char path[PATH_MAX];
    int n = snprintf(path, sizeof path, "%s/head.key", dir);
    if (n < 0 || (size_t)n >= sizeof path) {
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    uint8_t public_key[CRYPTO_SIGN_PUBLIC_BYTES], secret_key[CRYPTO_SIGN_SECRET_BYTES];
    crypto_ed25519_keypair(public_key, secret_key);
    char hex[2 * CRYPTO_SIGN_SECRET_BYTES + 2];
    crypto_hex(secret_key, sizeof secret_key, hex);
    crypto_wipe(secret_key, sizeof secret_key);
    strcat(hex, "\n");
    enum ledger_err err = LEDGER_ERR_IO_ERROR;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) {
        size_t size = strlen(hex);
        bool ok = write(fd, hex, size) == (ssize_t)size;
        ok = close(fd) == 0 && ok;
        err = ok ? LEDGER_ERR_OK : LEDGER_ERR_IO_ERROR;
    }
    crypto_wipe(hex, sizeof hex);
    return err;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* The root of the log, as a verifier computes it. */
static enum ledger_err log_root(struct engine *engine, uint64_t *size_out,
                                uint8_t root[MERKLE_HASH_BYTES])
{
    struct store_txn *txn = NULL;
    enum ledger_err err = store_begin(engine_store(engine), false, &txn);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    uint64_t size = store_last_sequence(txn);
    err = size ? merkle_store_root(txn, size, root) : (merkle_empty_root(root), LEDGER_ERR_OK);
    store_abort(txn);
    if (err == LEDGER_ERR_OK) {
        *size_out = size;
    }
    return err;
}

static enum ledger_err copy_file(const char *from_dir, const char *to_dir, const char *name)
{
    char from[PATH_MAX], to[PATH_MAX];
    int n = snprintf(from, sizeof from, "%s/%s", from_dir, name);
    int m = snprintf(to, sizeof to, "%s/%s", to_dir, name);
    if (n < 0 || (size_t)n >= sizeof from || m < 0 || (size_t)m >= sizeof to) {
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    FILE *in = fopen(from, "rbe");
    if (in == NULL) {
        fprintf(stderr, "ledger-fixture: cannot open %s: %s\n", from, strerror(errno));
        return LEDGER_ERR_IO_ERROR;
    }
    FILE *out = fopen(to, "wbe");
    enum ledger_err err = out ? LEDGER_ERR_OK : LEDGER_ERR_IO_ERROR;
    char buffer[65536];
    size_t size;
    while (err == LEDGER_ERR_OK && (size = fread(buffer, 1, sizeof buffer, in)) > 0) {
        err = fwrite(buffer, 1, size, out) == size ? LEDGER_ERR_OK : LEDGER_ERR_IO_ERROR;
    }
    if (ferror(in)) {
        err = LEDGER_ERR_IO_ERROR;
    }
    int saved_errno = errno;
    fclose(in);
    if (out != NULL && fclose(out) != 0) {
        saved_errno = errno;
        err = LEDGER_ERR_IO_ERROR;
    }
    if (err != LEDGER_ERR_OK) {
        fprintf(stderr, "ledger-fixture: cannot copy %s to %s: %s\n", from, to,
                strerror(saved_errno));
    }
    return err;
}

static void report_view(void *context, const char *view, bool same)
{
    const struct options *options = context;
    if (!same && !options->quiet) {
        printf("derived again: %s\n", view);
    }
}

/* The head saved with a fixture: its root must stay the root of the log. */
static enum ledger_err read_saved_root(const char *dir, uint64_t *size_out,
                                       uint8_t root[MERKLE_HASH_BYTES])
{
    char path[PATH_MAX];
    int n = snprintf(path, sizeof path, "%s/head.pb", dir);
    if (n < 0 || (size_t)n >= sizeof path) {
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    FILE *f = fopen(path, "rbe");
    if (f == NULL) {
        fprintf(stderr,
                "ledger-fixture: cannot open %s: %s (a fixture directory holds the data.mdb "
                "and head.pb ledger-fixture wrote)\n",
                path, strerror(errno));
        return LEDGER_ERR_IO_ERROR;
    }
    uint8_t bytes[4096];
    size_t size = fread(bytes, 1, sizeof bytes, f);
    fclose(f);
    ProtobufCMessage *message = NULL;
    enum ledger_err err = codec_message_unpack(&ledger__v1__signed_head__descriptor, bytes, size,
                                               sizeof bytes - 1, LEDGER_ERR_CORRUPT, &message);
    if (err != LEDGER_ERR_OK) {
        fprintf(stderr, "ledger-fixture: %s is not a signed head (a SignedHead message)\n", path);
        return err;
    }
    const Ledger__V1__SignedHead *head = (const Ledger__V1__SignedHead *)message;
    if (head->root_hash.len == MERKLE_HASH_BYTES) {
        memcpy(root, head->root_hash.data, MERKLE_HASH_BYTES);
        *size_out = head->tree_size;
    } else {
        fprintf(stderr, "ledger-fixture: the root hash in %s is %zu bytes, not %d\n", path,
                head->root_hash.len, MERKLE_HASH_BYTES);
        err = LEDGER_ERR_CORRUPT;
    }
    codec_message_free(message);
    return err;
}

/* --refresh: the same records, with views and indexes derived by this build.
 * The fixture's head.pb is kept (the backup's own would be unsigned: a copy
 * has no signing key), after checking that it is still the log's head. */
static int refresh(const struct options *options, const char *work)
{
    uint64_t saved_size = 0, size = 0;
    uint8_t saved_root[MERKLE_HASH_BYTES], root[MERKLE_HASH_BYTES];
    enum ledger_err err = read_saved_root(options->refresh_from, &saved_size, saved_root);
    if (err == LEDGER_ERR_OK) {
        err = copy_file(options->refresh_from, work, "data.mdb");
    }
    struct engine *engine = NULL;
    if (err == LEDGER_ERR_OK) {
        struct engine_options engine_options = {.data_dir = work, .scratch = true, .no_sync = true};
        err = engine_open(&engine_options, &engine);
        if (err != LEDGER_ERR_OK) {
            fprintf(stderr, "ledger-fixture: %s/data.mdb does not open as a ledger\n",
                    options->refresh_from);
        }
    }
    unsigned differences = 0;
    uint64_t layout = 0;
    bool comparable = false;
    if (err == LEDGER_ERR_OK) {
        /* Views of an older layout are derived in this one: an upgrade,
         * with nothing to compare them with. */
        comparable = engine_views_current(engine, &layout);
        err = engine_rebuild(engine, NULL, (void *)options, report_view, &differences);
        char why[ENGINE_MESSAGE_SIZE];
        uint64_t failed_at = err != LEDGER_ERR_OK ? engine_rebuild_failure(engine, why) : 0;
        if (failed_at != 0) {
            fprintf(stderr,
                    "ledger-fixture: the log of %s/data.mdb does not replay: at sequence %" PRIu64
                    ": %s\n",
                    options->refresh_from, failed_at, why);
        } else if (err != LEDGER_ERR_OK) {
            fprintf(stderr, "ledger-fixture: the log of %s/data.mdb does not replay\n",
                    options->refresh_from);
        }
    }
    if (err == LEDGER_ERR_OK) {
        err = log_root(engine, &size, root);
    }
    if (err == LEDGER_ERR_OK &&
        (size != saved_size || !crypto_equal(root, saved_root, MERKLE_HASH_BYTES))) {
        fprintf(stderr, "ledger-fixture: the log of %s is not the one its head.pb signed\n",
                options->refresh_from);
        err = LEDGER_ERR_CORRUPT;
    }
    if (err == LEDGER_ERR_OK) {
        err = engine_backup(engine, options->out_dir);
    }
    engine_close(engine);
    if (err == LEDGER_ERR_OK) {
        char path[PATH_MAX];
        int n = snprintf(path, sizeof path, "%s/head.pb", options->out_dir);
        err = n > 0 && (size_t)n < sizeof path && unlink(path) == 0 ? LEDGER_ERR_OK
                                                                    : LEDGER_ERR_IO_ERROR;
    }
    if (err == LEDGER_ERR_OK) {
        err = copy_file(options->refresh_from, options->out_dir, "head.pb");
    }
    nftw(work, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (err != LEDGER_ERR_OK) {
        report_failure(err);
        return EXIT_FAILED;
    }
    if (!options->quiet) {
        char hex[2 * MERKLE_HASH_BYTES + 1];
        crypto_hex(root, sizeof root, hex);
        printf("wrote %s: %" PRIu64 " events, root %s, ", options->out_dir, size, hex);
        if (comparable) {
            printf("%u derived databases changed\n", differences);
        } else {
            printf("views of layout %" PRIu64 " derived in layout %d (nothing to compare)\n",
                   layout, ENGINE_VIEWS_LAYOUT);
        }
    }
    return EXIT_WRITTEN;
}

static int run(const struct options *options)
{
    struct stat st;
    if (stat(options->out_dir, &st) == 0) {
        fprintf(stderr, "ledger-fixture: %s already exists; name a new directory\n",
                options->out_dir);
        return EXIT_USAGE;
    }
    /* Refused before the history is written, not after it: a path through
     * a file, or in a directory that is not there. */
    int error = errno;
    char parent[PATH_MAX];
    snprintf(parent, sizeof parent, "%s", options->out_dir);
    const char *in = dirname(parent); /* named when it is missing */
    if (error == ENOENT) {
        error = stat(in, &st) == 0 ? 0 : errno;
    } else {
        in = NULL;
    }
    if (error != 0) {
        fprintf(stderr, "ledger-fixture: cannot make %s: %s%s%s\n", options->out_dir,
                in != NULL ? in : "", in != NULL ? ": " : "", strerror(error));
        return EXIT_USAGE;
    }
    char work[PATH_MAX];
    const char *tmp = getenv("TMPDIR");
    snprintf(work, sizeof work, "%s/ledger-fixture-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (!mkdtemp(work)) {
        fprintf(stderr, "ledger-fixture: cannot make a working directory in %s ($TMPDIR): %s\n",
                tmp && tmp[0] ? tmp : "/tmp", strerror(errno));
        return EXIT_FAILED;
    }
    if (options->refresh_from != NULL) {
        return refresh(options, work);
    }
    struct engine *engine = NULL;
    struct histgen *gen = NULL;
    struct histload *load = NULL;
    enum ledger_err err = write_head_key(work);
    struct engine_options engine_options = {.data_dir = work, .no_sync = true, .create = true};
    if (err == LEDGER_ERR_OK) {
        err = engine_open(&engine_options, &engine);
    }
    if (err == LEDGER_ERR_OK) {
        err = add_operator(engine, HISTGEN_START_US_DEFAULT);
    }
    struct histgen_options gen_options = {
        .seed = options->seed,
        .partners = options->partners,
        .customers_per_partner = options->customers,
        .target_events = options->events,
    };
    if (err == LEDGER_ERR_OK) {
        err = histgen_new(&gen_options, &gen);
    }
    if (err == LEDGER_ERR_OK) {
        err = histload_new(engine, gen, HISTGEN_START_US_DEFAULT, &load);
    }
    if (err == LEDGER_ERR_OK) {
        struct progress bar;
        progress_start(&bar, "fixture", "events", options->events + 1, false);
        bar.enabled = bar.enabled && !options->quiet;
        struct histgen_item item;
        while (err == LEDGER_ERR_OK && histgen_next(gen, &item)) {
            err = histload_add(load, &item);
            progress_update(&bar, histload_next_sequence(load) - 1);
        }
        if (err == LEDGER_ERR_OK) {
            err = histload_flush(load);
        }
        if (err != LEDGER_ERR_OK && histload_error(load)[0] != '\0') {
            fprintf(stderr, "ledger-fixture: %s\n", histload_error(load));
        }
        progress_finish(&bar, histload_next_sequence(load) - 1);
    }
    histload_free(load);
    uint64_t size = 0;
    uint8_t root[MERKLE_HASH_BYTES];
    if (err == LEDGER_ERR_OK) {
        err = log_root(engine, &size, root);
    }
    if (err == LEDGER_ERR_OK) {
        err = engine_backup(engine, options->out_dir);
    }
    if (engine != NULL) {
        engine_close(engine);
    }
    histgen_free(gen);
    nftw(work, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (err != LEDGER_ERR_OK) {
        report_failure(err);
        return EXIT_FAILED;
    }
    if (!options->quiet) {
        char hex[2 * MERKLE_HASH_BYTES + 1];
        crypto_hex(root, sizeof root, hex);
        printf("wrote %s: %" PRIu64 " events, root %s\n", options->out_dir, size, hex);
    }
    return EXIT_WRITTEN;
}

int main(int argc, char **argv)
{
    struct options options = {.events = 300, .seed = 1, .partners = 2, .customers = 5};
    static const struct option long_options[] = {
        {"events", required_argument, NULL, 'e'},   {"seed", required_argument, NULL, 's'},
        {"partners", required_argument, NULL, 'p'}, {"customers", required_argument, NULL, 'c'},
        {"quiet", no_argument, NULL, 'q'},          {"refresh", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    int c;
    uint64_t value = 0;
    const char *history_option = NULL; /* one that --refresh has no use for */
    while ((c = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
        switch (c) {
        case 'e':
            history_option = "--events";
            if (!parse_u64(optarg, 1, FIXTURE_EVENTS_MAX, &options.events)) {
                fprintf(stderr, "ledger-fixture: --events wants 1..%" PRIu64 "\n",
                        FIXTURE_EVENTS_MAX);
                return EXIT_USAGE;
            }
            break;
        case 's':
            history_option = "--seed";
            if (!parse_u64(optarg, 0, UINT64_MAX, &options.seed)) {
                fprintf(stderr, "ledger-fixture: --seed wants a whole number\n");
                return EXIT_USAGE;
            }
            break;
        case 'p':
        case 'c':
            history_option = c == 'p' ? "--partners" : "--customers";
            if (!parse_u64(optarg, 1, c == 'p' ? HISTGEN_PARTNERS_MAX : HISTGEN_CUSTOMERS_MAX,
                           &value)) {
                fprintf(stderr, "ledger-fixture: --%s wants 1..%d\n",
                        c == 'p' ? "partners" : "customers",
                        c == 'p' ? HISTGEN_PARTNERS_MAX : HISTGEN_CUSTOMERS_MAX);
                return EXIT_USAGE;
            }
            if (c == 'p') {
                options.partners = (uint32_t)value;
            } else {
                options.customers = (uint32_t)value;
            }
            break;
        case 'q':
            options.quiet = true;
            break;
        case 'r':
            options.refresh_from = optarg;
            break;
        case 'h':
            usage(stdout);
            return EXIT_WRITTEN;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (options.refresh_from != NULL && history_option != NULL) {
        fprintf(stderr,
                "ledger-fixture: %s does not apply with --refresh, which keeps the fixture's "
                "records as they are (only --quiet does)\n",
                history_option);
        return EXIT_USAGE;
    }
    options.out_dir = argv[optind];
    if (crypto_init() != LEDGER_ERR_OK) {
        return EXIT_FAILED;
    }
    return run(&options);
}
