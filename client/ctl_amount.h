/*
 * ctl_amount.h: decimal amounts as people type them <-> integer minor units.
 *
 * Owns: parsing "1234.56" into minor units of a currency, with the ISO 4217
 * exponents of money.h (JPY 0, KWD/BHD 3, CLF 4, most others 2), and
 * formatting minor units back (money_format). Never floating point: the text
 * is read digit by digit into an int64 and checked against
 * LEDGER_AMOUNT_MINOR_MAX before every step can overflow.
 * Does not own: which amounts a command accepts (the daemon decides).
 */
#ifndef CTL_AMOUNT_H
#define CTL_AMOUNT_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "money.h"

#define CTL_AMOUNT_TEXT_SIZE MONEY_TEXT_SIZE
/* Messages of the parsers in this module and ctl_time. */
#define CTL_MESSAGE_SIZE 256

/* Whether a currency code is three upper-case ASCII letters. */
bool ctl_currency_valid(const char *currency);

/* The number of minor-unit digits of a currency: 0, 2, 3 or 4 (2 for codes
 * the table does not list). */
unsigned ctl_currency_exponent(const char *currency);

/* Parses a non-negative decimal amount of `currency`: digits, optionally a
 * point and at most as many fraction digits as the currency has (so "10",
 * "10.5", "10.50" for USD; "1000" but not "1000.5" for JPY). No sign, no
 * grouping, no exponent, no spaces. minor_out: written on OK.
 * USAGE with a sentence in message (CTL_MESSAGE_SIZE bytes) otherwise:
 * malformed text, too many fraction digits, an invalid currency, or more
 * than LEDGER_AMOUNT_MINOR_MAX minor units. */
__attribute__((warn_unused_result)) enum ledger_err
ctl_amount_parse(const char *text, const char *currency, int64_t *minor_out,
                 char message[CTL_MESSAGE_SIZE]);

/* Formats minor units of `currency` as a decimal with exactly the
 * currency's fraction digits ("1234.56", "-0.05", "1000" for JPY). */
void ctl_amount_format(int64_t minor, const char *currency, char out[CTL_AMOUNT_TEXT_SIZE]);

/* Parses a decimal unsigned integer (digits only) no larger than max.
 * USAGE with a message otherwise. */
__attribute__((warn_unused_result)) enum ledger_err
ctl_unsigned_parse(const char *text, uint64_t max, uint64_t *value_out,
                   char message[CTL_MESSAGE_SIZE]);

#endif
