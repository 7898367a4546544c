/*
 * log.h: the daemon's log lines on stderr.
 *
 * Owns: the line format, the level filter and the quoting of values.
 * Does not own: what is worth logging (the callers: one line per start, stop,
 * refused request, error and slow commit).
 *
 * Format, one event per line, UTC with milliseconds, the level padded to five:
 *
 *   2026-11-23T20:41:07.123Z INFO  message key=value key="value with spaces"
 *
 * Values that come from outside (principal ids of refused requests, paths) go
 * through log_quote, so that no input can forge a line or break the key=value
 * shape. Secrets and MACs are never passed here.
 *
 * Threads: log_write may be called from any thread; each line is written with
 * one write(2) so lines of different threads never interleave.
 */
#ifndef LEDGER_LOG_H
#define LEDGER_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level {
    LOG_LEVEL_ERROR = 0,
    LOG_LEVEL_WARN = 1,
    LOG_LEVEL_INFO = 2,
    LOG_LEVEL_DEBUG = 3,
};

/* The longest line written; longer ones are cut (and end in "..."). */
#define LOG_LINE_SIZE 2048
/* Room for one quoted value of at most input_max bytes: every byte escaped as
 * \xNN (4), 2 quotes, a "..." when cut, the NUL. */
#define LOG_QUOTE_SIZE(input_max) (4 * (input_max) + 6)

/* Sets the most verbose level written (default INFO). */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Whether lines of `level` are written now. */
bool log_enabled(enum log_level level);

/* Parses "error", "warn", "info" or "debug" (lower case) into *out (written
 * only on success). Returns false for anything else. */
bool log_level_parse(const char *name, enum log_level *out);
/* The lower-case name of a level; "unknown" outside the enum. */
const char *log_level_name(enum log_level level);

/* Writes one line: timestamp, level, `message` (a fixed text chosen by the
 * caller), then the key=value pairs formatted from `format` (printf; may be
 * NULL). Values that may hold spaces or come from outside must be passed
 * through log_quote first. */
void log_write(enum log_level level, const char *message, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

/* Makes `input` (borrowed, may be NULL) safe as one value: returned as is when
 * it is non-empty and made only of printable ASCII other than space, '"', '\\'
 * and '='; otherwise in double quotes with '"' and '\\' escaped and every byte
 * outside printable ASCII written as \xNN. At most `input_max` bytes of input
 * are used (a longer input ends in "..."); a smaller `out` cuts the value
 * the same way. LOG_QUOTE_SIZE(input_max) bytes always suffice. Returns out. */
const char *log_quote(const char *input, size_t input_max, char *out, size_t out_size);

#endif
