/*
 * ctl_amount.c: decimal amounts <-> minor units (see ctl_amount.h).
 *
 * The exponent table follows ISO 4217's list of minor units. Codes not in
 * the table get 2, which is right for the great majority of currencies; the
 * daemon stores whatever minor units it is given, so the table only decides
 * how the command line reads and prints them.
 */
#include "ctl_amount.h"

#include <stdio.h>
#include <string.h>

#include "ledger_limits.h"

struct currency_exponent {
    const char *code;
    unsigned exponent;
};

static const struct currency_exponent currency_exponents[] = {
    /* No minor unit. */
    {"BIF", 0},
    {"CLP", 0},
    {"DJF", 0},
    {"GNF", 0},
    {"ISK", 0},
    {"JPY", 0},
    {"KMF", 0},
    {"KRW", 0},
    {"PYG", 0},
    {"RWF", 0},
    {"UGX", 0},
    {"UYI", 0},
    {"VND", 0},
    {"VUV", 0},
    {"XAF", 0},
    {"XOF", 0},
    {"XPF", 0},
    /* Three digits. */
    {"BHD", 3},
    {"IQD", 3},
    {"JOD", 3},
    {"KWD", 3},
    {"LYD", 3},
    {"OMR", 3},
    {"TND", 3},
    /* Four digits. */
    {"CLF", 4},
    {"UYW", 4},
};

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
    for (size_t i = 0; i < sizeof currency_exponents / sizeof currency_exponents[0]; i++) {
        if (currency != NULL && strcmp(currency, currency_exponents[i].code) == 0) {
            return currency_exponents[i].exponent;
        }
    }
    return 2;
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
    unsigned exponent = ctl_currency_exponent(currency);
    /* Work on the magnitude as unsigned so INT64_MIN formats too. */
    uint64_t magnitude = minor < 0 ? (uint64_t)0 - (uint64_t)minor : (uint64_t)minor;
    uint64_t scale = 1;
    for (unsigned i = 0; i < exponent; i++) {
        scale *= 10;
    }
    const char *sign = minor < 0 ? "-" : "";
    if (exponent == 0) {
        snprintf(out, CTL_AMOUNT_TEXT_SIZE, "%s%llu", sign, (unsigned long long)magnitude);
    } else {
        snprintf(out, CTL_AMOUNT_TEXT_SIZE, "%s%llu.%0*llu", sign,
                 (unsigned long long)(magnitude / scale), (int)exponent,
                 (unsigned long long)(magnitude % scale));
    }
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
