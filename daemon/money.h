/*
 * money.h: amounts in a currency's minor units, as people read them.
 *
 * Owns: the list of ISO 4217 currency codes, their minor-unit exponents (JPY 0, KWD/BHD 3, CLF 4,
 * most others 2) and the formatting of minor units as a decimal ("1234.56", "1000" for JPY). Never
 * floating point. Used by the domain's messages and by the command line (ctl_amount), so that both
 * print the same figures. Does not own: which amounts are valid (domain), parsing what people type
 * (ctl_amount).
 */
#ifndef LEDGER_MONEY_H
#define LEDGER_MONEY_H

#include <stdbool.h>
#include <stdint.h>

/* "-" + 19 digits + "." + NUL, rounded up. */
#define MONEY_TEXT_SIZE 32

/* Whether `currency` is a currency code of ISO 4217 that money is billed
 * in (not XAU, XTS, XXX and the like): the domain refuses others. */
bool money_currency_known(const char *currency);

/* The number of minor-unit digits of a currency: 0, 2, 3 or 4 (2 for codes
 * the table does not list, and for NULL). */
unsigned money_exponent(const char *currency);

/* Formats minor units of `currency` as a decimal with exactly the
 * currency's fraction digits ("1234.56", "-0.05", "1000" for JPY); any
 * int64 fits. */
void money_format(int64_t minor, const char *currency, char out[MONEY_TEXT_SIZE]);

#endif
