/*
 * test_ctl_time.c: ISO 8601 dates and times <-> microseconds UTC in ledgerctl.
 * Goal: every accepted form parses to the right instant (zones, fractions,
 * leap days), every impossible date or time is refused with USAGE, and
 * formatting round-trips across the whole supported range. Method: known
 * instants, a table of bad input, and a sweep of formatted values parsed back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ctl_time.h"

#define US INT64_C(1000000)

static int64_t parse_ok(const char *text, bool *date_only)
{
    char message[CTL_MESSAGE_SIZE] = "";
    int64_t us = -1;
    if (ctl_time_parse(text, &us, date_only, message) != LEDGER_ERR_OK) {
        fail_msg("'%s': %s", text, message);
    }
    return us;
}

static void parse_bad(const char *text)
{
    char message[CTL_MESSAGE_SIZE] = "";
    int64_t us = 55;
    bool date_only = false;
    if (ctl_time_parse(text, &us, &date_only, message) != LEDGER_ERR_USAGE) {
        fail_msg("'%s' was accepted", text);
    }
    assert_int_equal(55, us);
    assert_true(strlen(message) > 10);
}

static void test_ctl_time_known_instants(void **state)
{
    (void)state;
    bool date_only = false;
    assert_int_equal(0, parse_ok("1970-01-01", &date_only));
    assert_true(date_only);
    assert_int_equal(0, parse_ok("1970-01-01T00:00:00Z", &date_only));
    assert_false(date_only);
    /* 2026-11-23T20:27:00Z is 1795465620 s after the epoch. */
    assert_int_equal(INT64_C(1795465620) * US, parse_ok("2026-11-23T20:27:00Z", NULL));
    assert_int_equal(INT64_C(1795465620) * US, parse_ok("2026-11-23T20:27Z", NULL));
    assert_int_equal(INT64_C(1795465620) * US, parse_ok("2026-11-23 20:27:00", NULL));
    assert_int_equal(INT64_C(1795465620) * US, parse_ok("2026-11-23t20:27:00z", NULL));
    assert_int_equal(INT64_C(1795465620) * US, parse_ok("2026-11-23T22:27:00+02:00", NULL));
    assert_int_equal(INT64_C(1795465620) * US, parse_ok("2026-11-23T15:57:00-0430", NULL));
    assert_int_equal(INT64_C(1795465620) * US + 500000, parse_ok("2026-11-23T20:27:00.5Z", NULL));
    assert_int_equal(INT64_C(1795465620) * US + 123456,
                     parse_ok("2026-11-23T20:27:00.123456Z", NULL));
    assert_int_equal(INT64_C(1795465620) * US + 1, parse_ok("2026-11-23T20:27:00.000001", NULL));
    /* 2000-03-01 is day 11017. */
    assert_int_equal(INT64_C(11017) * 86400 * US, parse_ok("2000-03-01", NULL));
}

static void test_ctl_time_leap_days(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("2024-03-01", NULL) - 86400 * US, parse_ok("2024-02-29", NULL));
    assert_int_equal(parse_ok("2000-03-01", NULL) - 86400 * US, parse_ok("2000-02-29", NULL));
    /* Past the last representable instant once the offset is applied. */
    parse_bad("9999-12-31T23:59:59-23:59");
    parse_bad("2023-02-29");
    parse_bad("2100-02-29");
    parse_bad("2026-04-31");
    assert_int_equal(parse_ok("2027-01-01", NULL) - 86400 * US, parse_ok("2026-12-31", NULL));
}

static void test_ctl_time_bad_input(void **state)
{
    (void)state;
    const char *bad[] = {
        "",
        "2026",
        "2026-11",
        "2026-1-01",
        "2026-01-1",
        "26-01-01",
        "2026/01/01",
        "2026-00-01",
        "2026-13-01",
        "2026-01-00",
        "2026-01-32",
        "2026-01-01T",
        "2026-01-01T1:00",
        "2026-01-01T24:00",
        "2026-01-01T23:60",
        "2026-01-01T23:59:60",
        "2026-01-01T23:59:",
        "2026-01-01T23:59:5",
        "2026-01-01T12:00:00.",
        "2026-01-01T12:00:00.1234567",
        "2026-01-01T12:00:00+25:00",
        "2026-01-01T12:00:00+02:61",
        "2026-01-01T12:00:00+2",
        "2026-01-01T12:00:00+02:",
        "2026-01-01T12:00:00+02:3",
        "2026-01-01T12:00:00 Z",
        "2026-01-01T12:00:00ZZ",
        "2026-01-01x",
        " 2026-01-01",
        "1969-12-31",
        "1970-01-01T00:30:00+01:00",
        "10000-01-01",
        "yesterday",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        parse_bad(bad[i]);
    }
    char message[CTL_MESSAGE_SIZE];
    int64_t us = 0;
    assert_int_equal(LEDGER_ERR_USAGE, ctl_time_parse(NULL, &us, NULL, message));
}

static void test_ctl_time_format(void **state)
{
    (void)state;
    char text[CTL_TIME_TEXT_SIZE];
    ctl_time_format(0, text);
    assert_string_equal("1970-01-01T00:00:00Z", text);
    ctl_time_format(INT64_C(1795465620) * US, text);
    assert_string_equal("2026-11-23T20:27:00Z", text);
    ctl_time_format(INT64_C(1795465620) * US + 42, text);
    assert_string_equal("2026-11-23T20:27:00.000042Z", text);
    ctl_time_format(-1, text);
    assert_string_equal("1969-12-31T23:59:59.999999Z", text);
    ctl_time_format(parse_ok("9999-12-31T23:59:59.999999Z", NULL), text);
    assert_string_equal("9999-12-31T23:59:59.999999Z", text);
    /* The extremes of int64 format without overflow. */
    ctl_time_format(INT64_MAX, text);
    assert_true(strlen(text) > 20);
    ctl_time_format(INT64_MIN, text);
    assert_true(strlen(text) > 20);
}

static void test_ctl_time_round_trip(void **state)
{
    (void)state;
    const int64_t last = parse_ok("9999-12-31T23:59:59.999999Z", NULL);
    /* A sweep with a step that is prime in microseconds touches every
     * month, weekday, leap year and fraction pattern. */
    const int64_t step = INT64_C(3155692597) * 1000 + 7;
    for (int64_t us = 0; us <= last; us += step) {
        char text[CTL_TIME_TEXT_SIZE];
        ctl_time_format(us, text);
        assert_int_equal(us, parse_ok(text, NULL));
    }
}

static void test_ctl_time_month(void **state)
{
    (void)state;
    char message[CTL_MESSAGE_SIZE];
    assert_int_equal(LEDGER_ERR_OK, ctl_month_check("2026-03", message));
    assert_int_equal(LEDGER_ERR_OK, ctl_month_check("1970-01", message));
    const char *bad[] = {"2026-3", "2026-13", "2026-00", "202603", "2026-03-01", "", "1969-12"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(LEDGER_ERR_USAGE, ctl_month_check(bad[i], message));
    }
    assert_int_equal(LEDGER_ERR_USAGE, ctl_month_check(NULL, message));
    /* The message gives the form and the range of years. */
    assert_int_equal(LEDGER_ERR_USAGE, ctl_month_check("1969-12", message));
    assert_string_equal("'1969-12' is not a month from 1970-01 to 9999-12: use YYYY-MM, e.g. "
                        "2026-03",
                        message);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ctl_time_known_instants), cmocka_unit_test(test_ctl_time_leap_days),
        cmocka_unit_test(test_ctl_time_bad_input),      cmocka_unit_test(test_ctl_time_format),
        cmocka_unit_test(test_ctl_time_round_trip),     cmocka_unit_test(test_ctl_time_month),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
