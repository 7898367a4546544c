/*
 * fuzz_engine.c: the fuzz fixture as a real engine (see fuzz_engine.h). The
 * fixture's commands go through engine_execute like any client's, so the log,
 * the Merkle tree and every view hold what the daemon would hold.
 */
#include "fuzz_engine.h"

#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store.h"

static struct engine *fixture_engine;
static char fixture_dir[PATH_MAX];

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void close_engine(void)
{
    if (fixture_engine != NULL) {
        engine_close(fixture_engine);
        fixture_engine = NULL;
    }
    if (fixture_dir[0] != '\0') {
        nftw(fixture_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        fixture_dir[0] = '\0';
    }
}

void fuzz_engine_principal(const char *id, struct engine_principal *out)
{
    enum ledger_err err = engine_principal_lookup(fuzz_engine(), id, out);
    if (err != LEDGER_ERR_OK) {
        fuzz_fail("principal %s: %s", id, ledger_err_name(err));
    }
}

static void run_steps(struct engine *engine, const struct fuzz_step *steps, size_t count,
                      uint64_t first_sequence)
{
    for (size_t i = 0; i < count; i++) {
        struct engine_principal principal;
        enum ledger_err err = engine_principal_lookup(engine, steps[i].principal->id, &principal);
        if (err != LEDGER_ERR_OK) {
            fuzz_fail("principal %s: %s", steps[i].principal->id, ledger_err_name(err));
        }
        ProtobufCBinaryData data = {.len = steps[i].size, .data = steps[i].bytes};
        struct engine_request request = {
            .principal = &principal, .commands = &data, .command_count = 1};
        err = engine_execute(engine, &request, 1, FUZZ_NOW_US);
        if (err == LEDGER_ERR_OK) {
            err = request.err;
        }
        if (err != LEDGER_ERR_OK) {
            fuzz_fail("engine fixture step %zu (by %s) refused: %s: %s", i, principal.id,
                      ledger_err_name(err), request.message);
        }
        if (first_sequence != 0 && request.results[0].message.last_sequence != first_sequence + i) {
            fuzz_fail("engine fixture step %zu has sequence %llu, expected %llu", i,
                      (unsigned long long)request.results[0].message.last_sequence,
                      (unsigned long long)(first_sequence + i));
        }
        engine_request_clear(&request);
    }
}

static void set_secrets(struct engine *engine)
{
    struct store_txn *txn = NULL;
    enum ledger_err err = store_begin(engine_store(engine), true, &txn);
    for (size_t i = 0; err == LEDGER_ERR_OK && i < fuzz_principal_count; i++) {
        const char *id = fuzz_principals[i].id;
        err = store_put(txn, STORE_DB_SECRET, id, strlen(id), fuzz_secret, sizeof fuzz_secret);
    }
    if (err == LEDGER_ERR_OK) {
        err = store_commit(txn);
    } else if (txn != NULL) {
        store_abort(txn);
    }
    if (err != LEDGER_ERR_OK) {
        fuzz_fail("cannot set the fixture secrets: %s", ledger_err_name(err));
    }
}

struct engine *fuzz_engine(void)
{
    if (fixture_engine != NULL) {
        return fixture_engine;
    }
    const char *base = getenv("LEDGER_TEST_TMP");
    snprintf(fixture_dir, sizeof fixture_dir, "%s/fuzz-engine-XXXXXX",
             base != NULL && base[0] != '\0' ? base : "/tmp");
    if (mkdtemp(fixture_dir) == NULL) {
        fixture_dir[0] = '\0';
        fuzz_fail("cannot make a temporary directory");
    }
    atexit(close_engine);
    char data_dir[PATH_MAX + 16], secret_path[PATH_MAX + 16];
    snprintf(data_dir, sizeof data_dir, "%s/data", fixture_dir);
    snprintf(secret_path, sizeof secret_path, "%s/operator.key", fixture_dir);
    struct engine_options options = {.data_dir = data_dir, .no_sync = true};
    enum ledger_err err = engine_init(&options, FUZZ_OPERATOR_ID, secret_path);
    if (err != LEDGER_ERR_OK) {
        fuzz_fail("engine_init: %s", ledger_err_name(err));
    }
    struct engine *engine = NULL;
    err = engine_open(&options, &engine);
    if (err != LEDGER_ERR_OK) {
        fuzz_fail("engine_open: %s", ledger_err_name(err));
    }
    fixture_engine = engine;
    const struct fuzz_step *steps = NULL;
    size_t count = fuzz_fixture_setup_steps(&steps);
    run_steps(engine, steps, count, 2);
    count = fuzz_fixture_customer_steps(&steps);
    run_steps(engine, steps, count, fuzz_fixture_first_sequence());
    set_secrets(engine);
    return engine;
}
