/*
 * histload.h: drives a generated history (histgen.h) into an engine.
 *
 * Owns: grouping the generator's items the way a busy daemon would (requests of
 * up to HISTLOAD_REQUEST_COMMANDS_MAX consecutive commands of one principal,
 * groups of up to HISTLOAD_GROUP_REQUESTS_MAX requests and
 * HISTLOAD_GROUP_COMMANDS_MAX commands, committed with engine_execute), the
 * ledger's clock (the newest business time seen) and reporting each item's
 * sequence back to the generator.
 * Does not own: the engine or the generator (borrowed), deciding what to do
 * when a command is refused (the caller: tests fail, tools print).
 *
 * Every item is expected to be accepted with the sequence predicted for it:
 * a refusal, or a command given another sequence, makes histload_add or
 * histload_flush return an error with histload_error() saying which command.
 */
#ifndef LEDGER_HISTLOAD_H
#define LEDGER_HISTLOAD_H

#include <stdint.h>

#include "engine.h"
#include "error.h"
#include "histgen.h"

#define HISTLOAD_GROUP_REQUESTS_MAX   64
#define HISTLOAD_GROUP_COMMANDS_MAX   1024
#define HISTLOAD_REQUEST_COMMANDS_MAX 32

struct histload;

/* A loader appending to `engine` from `gen`, both borrowed; the next
 * sequence is the engine's head + 1 and the clock starts at now_us. */
__attribute__((warn_unused_result)) enum ledger_err
histload_new(struct engine *engine, struct histgen *gen, int64_t now_us, struct histload **out);
/* Frees the loader (pending commands are dropped, not executed). */
void histload_free(struct histload *load);

/* Adds one item to the pending group, executing the group first when full.
 * Errors: engine_execute's, or the code of a refused command. */
__attribute__((warn_unused_result)) enum ledger_err histload_add(struct histload *load,
                                                                 const struct histgen_item *item);
/* Executes the pending group, if any. Errors as histload_add. */
__attribute__((warn_unused_result)) enum ledger_err histload_flush(struct histload *load);
/* Adds every remaining item of the generator and flushes. */
__attribute__((warn_unused_result)) enum ledger_err histload_all(struct histload *load);

/* The sequence the next added item will get. */
uint64_t histload_next_sequence(const struct histload *load);
/* A sentence on the last error ("command cmd-7 of admin-1 was refused: ..."),
 * "" when there was none. */
const char *histload_error(const struct histload *load);

#endif
