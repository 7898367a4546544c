/*
 * engine_fixture.h: the engine a test drives directly, made the one way the
 * tests make it: initialised in a directory the test made (with
 * test_make_dir), the operator "operator" with its key file beside the data,
 * and opened without syncing, since the directory dies with the test.
 * Header-only, like test_util.h, so each test stays one executable; include
 * it after <cmocka.h>.
 */
#ifndef LEDGER_ENGINE_FIXTURE_H
#define LEDGER_ENGINE_FIXTURE_H

#include <stdio.h>

#include "engine.h"
#include "error.h"

/* A new engine in `dir` (borrowed; made empty by the caller), its operator's
 * key in `dir`/operator.key. Fails the test when the engine cannot be made;
 * the caller closes it with engine_close. */
static inline struct engine *test_engine_new(const char *dir)
{
    char key_path[600];
    snprintf(key_path, sizeof key_path, "%s/operator.key", dir);
    struct engine_options options = {.data_dir = dir, .no_sync = true};
    struct engine *engine = NULL;
    assert_int_equal(engine_init(&options, "operator", key_path), LEDGER_ERR_OK);
    assert_int_equal(engine_open(&options, &engine), LEDGER_ERR_OK);
    return engine;
}

#endif
