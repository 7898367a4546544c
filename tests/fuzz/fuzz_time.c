/*
 * fuzz_time.c: libFuzzer target for the command line's date and time parsing
 * and formatting (client/ctl_time.c): --from, --to, --as-of, --business-time
 * and billing months as people type them, and *_us fields as printed.
 *
 * Method: an input, cut at its first NUL, is the text typed: it goes to
 * ctl_time_parse and ctl_month_check. Its first eight bytes, as an int64, go
 * to ctl_time_format, and as a civil date (bounded year, any month and day
 * byte) to civil_days_from_date.
 *
 * Checked: no crash or undefined behaviour; results are OK or USAGE, a
 * refusal has a message; an accepted time is not before 1970 and not after
 * the year 9999 (plus a zone offset), a date alone is midnight UTC, and the
 * time survives a round trip (format, then parse, gives the same
 * microseconds); any int64 formats within the buffer, and every time from
 * 1970 to LEDGER_TIME_US_MAX round-trips; consecutive days of a valid date
 * are one day apart.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "civil.h"
#include "ctl_time.h"
#include "fuzz_support.h"
#include "ledger_limits.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define US_PER_DAY (INT64_C(86400) * 1000000)

static void check_message(const char message[CTL_MESSAGE_SIZE])
{
    FUZZ_CHECK(memchr(message, '\0', CTL_MESSAGE_SIZE) != NULL);
    FUZZ_CHECK(message[0] != '\0');
}

static void round_trip(int64_t us)
{
    char formatted[CTL_TIME_TEXT_SIZE];
    ctl_time_format(us, formatted);
    char message[CTL_MESSAGE_SIZE] = "";
    int64_t again = -1;
    bool date_only = true;
    enum ledger_err err = ctl_time_parse(formatted, &again, &date_only, message);
    if (err != LEDGER_ERR_OK || again != us || date_only) {
        fuzz_fail("%lld -> '%s' -> %s %lld: %s", (long long)us, formatted, ledger_err_name(err),
                  (long long)again, message);
    }
}

static void parse(const char *text)
{
    char message[CTL_MESSAGE_SIZE] = "";
    int64_t us = -1;
    bool date_only = false;
    enum ledger_err err = ctl_time_parse(text, &us, &date_only, message);
    if (err != LEDGER_ERR_OK) {
        FUZZ_CHECK(err == LEDGER_ERR_USAGE);
        check_message(message);
    } else {
        FUZZ_CHECK(us >= 0 && us <= LEDGER_TIME_US_MAX + US_PER_DAY);
        if (date_only) {
            FUZZ_CHECK(us % US_PER_DAY == 0);
        }
        /* A zone offset may move the last hours of 9999 into the year
         * 10000, which has no four-digit form to read back. */
        if (us <= LEDGER_TIME_US_MAX) {
            round_trip(us);
        }
    }
    char month_message[CTL_MESSAGE_SIZE] = "";
    err = ctl_month_check(text, month_message);
    if (err != LEDGER_ERR_OK) {
        FUZZ_CHECK(err == LEDGER_ERR_USAGE);
        check_message(month_message);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = strndup((const char *)data, size);
    FUZZ_CHECK(text != NULL);
    parse(text);
    free(text);
    if (size >= 8) {
        uint64_t raw = 0;
        for (size_t i = 0; i < 8; i++) {
            raw = raw << 8 | data[i];
        }
        int64_t us = (int64_t)raw;
        char formatted[CTL_TIME_TEXT_SIZE];
        ctl_time_format(us, formatted);
        FUZZ_CHECK(memchr(formatted, '\0', sizeof formatted) != NULL);
        if (us >= 0 && us <= LEDGER_TIME_US_MAX) {
            round_trip(us);
        }
        /* A year within a million of the epoch, a month and day as given. */
        int64_t year = (int64_t)((raw >> 32) % 2000000) - 1000000;
        unsigned month = 1 + data[4] % 12, day = 1 + data[5] % 27;
        int64_t days = civil_days_from_date(year, month, day);
        FUZZ_CHECK(civil_days_from_date(year, month, day + 1) == days + 1);
    }
    return 0;
}
