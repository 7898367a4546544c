/*
 * fuzz_engine.h: the fuzz fixture (fuzz_support.h) as a real engine.
 *
 * Owns: one temporary data directory (under $LEDGER_TEST_TMP, else /tmp)
 * holding a ledger initialized with the fixture's principals and customer, in
 * which every principal's secret is then replaced by fuzz_secret, so that
 * requests signed with it verify. Removed at exit.
 * Does not own: the fixture's contents (fuzz_support.c).
 */
#ifndef LEDGER_FUZZ_ENGINE_H
#define LEDGER_FUZZ_ENGINE_H

#include "engine.h"
#include "fuzz_support.h"

/* The fixture engine, built on the first call; borrowed. Aborts when it
 * cannot be built. */
struct engine *fuzz_engine(void);

/* The engine's principal of a fixture id (secret = fuzz_secret); aborts when
 * it is missing. */
void fuzz_engine_principal(const char *id, struct engine_principal *out);

#endif
