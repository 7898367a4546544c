/*
 * fuzz_amount.c: libFuzzer target for the command line's amount parsing and
 * formatting (client/ctl_amount.c): what a user types after --price and
 * friends, before it becomes minor units in a command.
 *
 * Method: the first byte of an input picks a currency (codes with 0, 2, 3
 * and 4 minor-unit digits, a code the table does not list, and malformed
 * codes); the rest, cut at the first NUL, is the text typed. The text goes
 * to ctl_amount_parse and to ctl_unsigned_parse under several maxima; its
 * first eight bytes, as an int64, to ctl_amount_format.
 *
 * Checked: no crash or undefined behaviour; results are OK or USAGE, a
 * refusal has a message; an accepted amount lies in 0..LEDGER_AMOUNT_MINOR_MAX
 * and survives a round trip (format, then parse, gives the same minor units);
 * an accepted unsigned number is at most its maximum and round-trips through
 * "%llu"; any int64 formats within the buffer, and one within the ledger's
 * range parses back (without its sign) to its magnitude.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_amount.h"
#include "fuzz_support.h"
#include "ledger_limits.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const currencies[] = {
    "USD", "JPY", "KWD", "CLF", "EUR", "BHD", "XXX", "usd", "US", "USDX", "", "U$D",
};
#define CURRENCY_COUNT (sizeof currencies / sizeof currencies[0])

static void check_message(const char message[CTL_MESSAGE_SIZE])
{
    FUZZ_CHECK(memchr(message, '\0', CTL_MESSAGE_SIZE) != NULL);
    FUZZ_CHECK(message[0] != '\0');
}

static void amount(const char *text, const char *currency)
{
    char message[CTL_MESSAGE_SIZE] = "";
    int64_t minor = -1;
    enum ledger_err err = ctl_amount_parse(text, currency, &minor, message);
    if (err != LEDGER_ERR_OK) {
        FUZZ_CHECK(err == LEDGER_ERR_USAGE);
        check_message(message);
        return;
    }
    FUZZ_CHECK(ctl_currency_valid(currency));
    FUZZ_CHECK(minor >= 0 && minor <= LEDGER_AMOUNT_MINOR_MAX);
    char formatted[CTL_AMOUNT_TEXT_SIZE];
    ctl_amount_format(minor, currency, formatted);
    int64_t again = -1;
    err = ctl_amount_parse(formatted, currency, &again, message);
    if (err != LEDGER_ERR_OK || again != minor) {
        fuzz_fail("'%s' %s -> %lld -> '%s' -> %s %lld", text, currency, (long long)minor, formatted,
                  ledger_err_name(err), (long long)again);
    }
}

static void whole_number(const char *text)
{
    static const uint64_t maxima[] = {0, 9, 10, 65535, LEDGER_AMOUNT_MINOR_MAX, UINT64_MAX};
    for (size_t i = 0; i < sizeof maxima / sizeof maxima[0]; i++) {
        char message[CTL_MESSAGE_SIZE] = "";
        uint64_t value = 0;
        enum ledger_err err = ctl_unsigned_parse(text, maxima[i], &value, message);
        if (err != LEDGER_ERR_OK) {
            FUZZ_CHECK(err == LEDGER_ERR_USAGE);
            check_message(message);
            continue;
        }
        FUZZ_CHECK(value <= maxima[i]);
        char formatted[32];
        snprintf(formatted, sizeof formatted, "%llu", (unsigned long long)value);
        uint64_t again = 0;
        FUZZ_CHECK(ctl_unsigned_parse(formatted, maxima[i], &again, message) == LEDGER_ERR_OK);
        FUZZ_CHECK(again == value);
    }
}

static void format_any(int64_t minor, const char *currency)
{
    char formatted[CTL_AMOUNT_TEXT_SIZE];
    ctl_amount_format(minor, currency, formatted);
    FUZZ_CHECK(memchr(formatted, '\0', sizeof formatted) != NULL);
    if (!ctl_currency_valid(currency) || minor < -LEDGER_AMOUNT_MINOR_MAX ||
        minor > LEDGER_AMOUNT_MINOR_MAX) {
        return;
    }
    const char *magnitude = formatted[0] == '-' ? formatted + 1 : formatted;
    FUZZ_CHECK((formatted[0] == '-') == (minor < 0));
    char message[CTL_MESSAGE_SIZE];
    int64_t again = -1;
    FUZZ_CHECK(ctl_amount_parse(magnitude, currency, &again, message) == LEDGER_ERR_OK);
    FUZZ_CHECK(again == (minor < 0 ? -minor : minor));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    const char *currency = currencies[data[0] % CURRENCY_COUNT];
    char *text = strndup((const char *)data + 1, size - 1);
    FUZZ_CHECK(text != NULL);
    (void)ctl_currency_valid(text);
    (void)ctl_currency_exponent(text);
    amount(text, currency);
    whole_number(text);
    if (size >= 9) {
        uint64_t raw = 0;
        for (size_t i = 1; i < 9; i++) {
            raw = raw << 8 | data[i];
        }
        format_any((int64_t)raw, currency);
    }
    free(text);
    return 0;
}
