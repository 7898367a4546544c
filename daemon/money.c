/*
 * money.c: see money.h. The exponent table follows ISO 4217's list of minor
 * units. Codes not in it get 2, which is right for the great majority of
 * currencies; the daemon stores whatever minor units it is given, so the
 * table only decides how amounts are read and printed.
 */
#include "money.h"

#include <stdio.h>
#include <stdlib.h>
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

/* The currencies of ISO 4217's list (as Debian's iso-codes package has it,
 * 2024, with ZWG of 2024 and XCG of 2025 added), in code order, without the
 * codes that are no money a reseller bills in: precious metals (XAG, XAU, XPD, XPT), bond-market
 * units (XBA..XBD), the SDR (XDR), regional accounting units (XSU, XUA), the testing code (XTS) and
 * "no currency" (XXX). */
static const char currency_codes[][4] = {
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD",
    "CAD", "CDF", "CHE", "CHF", "CHW", "CLF", "CLP", "CNY", "COP", "COU", "CRC", "CUC", "CUP",
    "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP",
    "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HRK", "HTG", "HUF", "IDR",
    "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW",
    "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA",
    "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MXV", "MYR", "MZN", "NAD",
    "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG",
    "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE",
    "SLL", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP",
    "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "USN", "UYI", "UYU", "UYW", "UZS", "VED",
    "VES", "VND", "VUV", "WST", "XAF", "XCD", "XCG", "XOF", "XPF", "YER", "ZAR", "ZMW", "ZWG",
    "ZWL",
};

static int currency_compare(const void *key, const void *element)
{
    return strcmp(key, element);
}

bool money_currency_known(const char *currency)
{
    return currency != NULL && strlen(currency) == 3 &&
           bsearch(currency, currency_codes, sizeof currency_codes / sizeof currency_codes[0],
                   sizeof currency_codes[0], currency_compare) != NULL;
}

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
