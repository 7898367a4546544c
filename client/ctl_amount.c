/*
 * ctl_amount.c: decimal amounts <-> minor units (see ctl_amount.h).
 *
 * The exponents and the formatting are the daemon's (money.h), so that the
 * command line reads and prints the figures the daemon's messages show.
 */
#include "ctl_amount.h"

#include <stdio.h>
#include <string.h>

#include "ledger_limits.h"
#include "money.h"

bool ctl_currency_valid(const char *currency)
{
    if (currency == NULL || strlen(currency) != 3) {
        return false;
    }
    for (size_t i = 0; i < 3; i++) {
        if (currency[i] < 'A' || currency[i] > 'Z') {
            return false;
        }
    }
    return true;
}

unsigned ctl_currency_exponent(const char *currency)
{
    return money_exponent(currency);
}

enum ledger_err ctl_amount_parse(const char *text, const char *currency, int64_t *minor_out,
                                 char message[CTL_MESSAGE_SIZE])
{
    if (!ctl_currency_valid(currency)) {
        snprintf(message, CTL_MESSAGE_SIZE,
                 "currency must be an ISO 4217 code of three upper-case letters, e.g. USD");
        return LEDGER_ERR_USAGE;
    }
    unsigned exponent = ctl_currency_exponent(currency);
    if (text == NULL || text[0] == '\0') {
        snprintf(message, CTL_MESSAGE_SIZE, "an amount is required, e.g. 1234.56");
        return LEDGER_ERR_USAGE;
    }
    int64_t minor = 0;
    size_t integer_digits = 0;
    size_t fraction_digits = 0;
    bool point = false;
    for (const char *c = text; *c != '\0'; c++) {
        if (*c == '.') {
            if (point || integer_digits == 0) {
                goto malformed;
            }
            point = true;
            continue;
        }
        if (*c < '0' || *c > '9') {
            goto malformed;
        }
        if (point) {
            fraction_digits++;
            if (fraction_digits > exponent) {
                if (exponent == 0) {
                    snprintf(message, CTL_MESSAGE_SIZE,
                             "'%.40s': %s has no minor unit; give a whole number", text, currency);
                } else {
                    snprintf(message, CTL_MESSAGE_SIZE,
                             "'%.40s': %s has %u decimal places; give at most that many", text,
                             currency, exponent);
                }
                return LEDGER_ERR_USAGE;
            }
        } else {
            integer_digits++;
        }
        int64_t digit = *c - '0';
        if (minor > (LEDGER_AMOUNT_MINOR_MAX - digit) / 10) {
            goto too_large;
        }
        minor = minor * 10 + digit;
    }
    if (integer_digits == 0 || (point && fraction_digits == 0)) {
        goto malformed;
    }
    for (size_t i = fraction_digits; i < exponent; i++) {
        if (minor > LEDGER_AMOUNT_MINOR_MAX / 10) {
            goto too_large;
        }
        minor *= 10;
    }
    *minor_out = minor;
    return LEDGER_ERR_OK;
malformed:
    snprintf(message, CTL_MESSAGE_SIZE,
             "'%.40s' is not an amount: give digits with an optional decimal point, e.g. 1234.56 "
             "(no digit grouping, no exponent)",
             text);
    return LEDGER_ERR_USAGE;
too_large:
    snprintf(message, CTL_MESSAGE_SIZE, "'%.40s' is larger than the ledger accepts", text);
    return LEDGER_ERR_USAGE;
}

void ctl_amount_format(int64_t minor, const char *currency, char out[CTL_AMOUNT_TEXT_SIZE])
{
    money_format(minor, currency, out);
}

enum ledger_err ctl_unsigned_parse(const char *text, uint64_t max, uint64_t *value_out,
                                   char message[CTL_MESSAGE_SIZE])
{
    uint64_t value = 0;
    if (text == NULL || text[0] == '\0') {
        snprintf(message, CTL_MESSAGE_SIZE, "a number is required");
        return LEDGER_ERR_USAGE;
    }
    for (const char *c = text; *c != '\0'; c++) {
        if (*c < '0' || *c > '9') {
            snprintf(message, CTL_MESSAGE_SIZE, "'%.40s' is not a whole number", text);
            return LEDGER_ERR_USAGE;
        }
        uint64_t digit = (uint64_t)(*c - '0');
        if (value > (max - digit) / 10 || value * 10 + digit > max) {
            snprintf(message, CTL_MESSAGE_SIZE, "'%.40s' is larger than %llu", text,
                     (unsigned long long)max);
            return LEDGER_ERR_USAGE;
        }
        value = value * 10 + digit;
    }
    *value_out = value;
    return LEDGER_ERR_OK;
}
