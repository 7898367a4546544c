/*
 * money.c: see money.h. The exponent table follows ISO 4217's list of minor
 * units. Codes not in it get 2, which is right for the great majority of
 * currencies; the daemon stores whatever minor units it is given, so the
 * table only decides how amounts are read and printed.
 */
#include "money.h"

#include <stdio.h>
#include <string.h>

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

unsigned money_exponent(const char *currency)
{
    for (size_t i = 0; i < sizeof currency_exponents / sizeof currency_exponents[0]; i++) {
        if (currency != NULL && strcmp(currency, currency_exponents[i].code) == 0) {
            return currency_exponents[i].exponent;
        }
    }
    return 2;
}

void money_format(int64_t minor, const char *currency, char out[MONEY_TEXT_SIZE])
{
    unsigned exponent = money_exponent(currency);
    /* Work on the magnitude as unsigned so INT64_MIN formats too. */
    uint64_t magnitude = minor < 0 ? (uint64_t)0 - (uint64_t)minor : (uint64_t)minor;
    uint64_t scale = 1;
    for (unsigned i = 0; i < exponent; i++) {
        scale *= 10;
    }
    const char *sign = minor < 0 ? "-" : "";
    if (exponent == 0) {
        snprintf(out, MONEY_TEXT_SIZE, "%s%llu", sign, (unsigned long long)magnitude);
    } else {
        snprintf(out, MONEY_TEXT_SIZE, "%s%llu.%0*llu", sign,
                 (unsigned long long)(magnitude / scale), (int)exponent,
                 (unsigned long long)(magnitude % scale));
    }
}
