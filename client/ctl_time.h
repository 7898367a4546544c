/*
 * ctl_time.h: ISO 8601 dates and times <-> microseconds since the epoch, UTC.
 *
 * Owns: the calendar arithmetic of the command line (proleptic Gregorian,
 * days from civil dates without the C library's time zone state), parsing
 * what people type for --from/--to/--as-of/--business-time, and formatting
 * the *_us fields of results.
 * Accepted input: "YYYY-MM-DD", or a date followed by "T" (or a space) and
 * "hh:mm", "hh:mm:ss" or "hh:mm:ss.ffffff" (1..6 fraction digits), then an
 * optional zone "Z" or "+hh:mm" / "-hh:mm" / "+hhmm"; no zone means UTC.
 * Years 1970..9999.
 */
#ifndef CTL_TIME_H
#define CTL_TIME_H

#include <stdbool.h>
#include <stdint.h>

#include "ctl_amount.h"
#include "error.h"

/* "YYYY-MM-DDThh:mm:ss.ffffffZ" and a NUL. */
#define CTL_TIME_TEXT_SIZE 32

/* Parses an ISO 8601 date or date-time. us_out: microseconds since
 * 1970-01-01T00:00:00Z. date_only_out (may be NULL): whether only a date was
 * given. Both written on OK only. USAGE with a message otherwise. */
__attribute__((warn_unused_result)) enum ledger_err ctl_time_parse(const char *text,
                                                                   int64_t *us_out,
                                                                   bool *date_only_out,
                                                                   char message[CTL_MESSAGE_SIZE]);

/* Formats microseconds as "2026-11-23T20:27:00Z", with ".ffffff" only when
 * the time has a fraction of a second. */
void ctl_time_format(int64_t us, char out[CTL_TIME_TEXT_SIZE]);

/* Checks a "YYYY-MM" month (billing). USAGE with a message otherwise. */
__attribute__((warn_unused_result)) enum ledger_err ctl_month_check(const char *text,
                                                                    char message[CTL_MESSAGE_SIZE]);

#endif
