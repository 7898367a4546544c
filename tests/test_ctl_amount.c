/*
 * test_ctl_amount.c: decimal amounts <-> minor units in ledgerctl.
 * Goal: every ISO 4217 exponent class (0, 2, 3, 4 and the default) parses and
 * formats exactly; malformed text, too many fraction digits, bad currencies
 * and amounts past LEDGER_AMOUNT_MINOR_MAX are refused with USAGE and a
 * message; no input overflows. Method: table-driven cases and round trips.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ctl_amount.h"
#include "ledger_limits.h"

static int64_t parse_ok(const char *text, const char *currency)
{
    char message[CTL_MESSAGE_SIZE] = "";
    int64_t minor = -1;
    enum ledger_err err = ctl_amount_parse(text, currency, &minor, message);
    if (err != LEDGER_ERR_OK) {
        fail_msg("'%s' %s: %s", text, currency, message);
    }
    return minor;
}

static void parse_bad(const char *text, const char *currency)
{
    char message[CTL_MESSAGE_SIZE] = "";
    int64_t minor = 77;
    assert_int_equal(LEDGER_ERR_USAGE, ctl_amount_parse(text, currency, &minor, message));
    assert_int_equal(77, minor); /* out-pointer untouched on failure */
    assert_true(strlen(message) > 10);
}

static void test_ctl_amount_two_digit_currencies(void **state)
{
    (void)state;
    assert_int_equal(123456, parse_ok("1234.56", "USD"));
    assert_int_equal(1000, parse_ok("10", "USD"));
    assert_int_equal(1050, parse_ok("10.5", "EUR"));
    assert_int_equal(1050, parse_ok("10.50", "EUR"));
    assert_int_equal(0, parse_ok("0", "USD"));
    assert_int_equal(1, parse_ok("0.01", "GBP"));
    assert_int_equal(700, parse_ok("007", "USD"));
    /* A code the table does not list gets two digits. */
    assert_int_equal(2, (int)ctl_currency_exponent("ZZZ"));
    assert_int_equal(1234, parse_ok("12.34", "ZZZ"));
    parse_bad("1.234", "USD");
}

static void test_ctl_amount_zero_digit_currencies(void **state)
{
    (void)state;
    const char *codes[] = {"JPY", "KRW", "CLP", "VND", "ISK", "XOF"};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        assert_int_equal(0, (int)ctl_currency_exponent(codes[i]));
        assert_int_equal(1000, parse_ok("1000", codes[i]));
        parse_bad("1000.5", codes[i]);
        parse_bad("1000.0", codes[i]);
    }
}

static void test_ctl_amount_three_and_four_digit_currencies(void **state)
{
    (void)state;
    const char *three[] = {"KWD", "BHD", "OMR", "JOD", "TND", "IQD", "LYD"};
    for (size_t i = 0; i < sizeof three / sizeof three[0]; i++) {
        assert_int_equal(3, (int)ctl_currency_exponent(three[i]));
        assert_int_equal(1234, parse_ok("1.234", three[i]));
        assert_int_equal(1200, parse_ok("1.2", three[i]));
        parse_bad("1.2345", three[i]);
    }
    assert_int_equal(4, (int)ctl_currency_exponent("CLF"));
    assert_int_equal(12345, parse_ok("1.2345", "CLF"));
    parse_bad("1.23456", "CLF");
}

static void test_ctl_amount_malformed(void **state)
{
    (void)state;
    const char *bad[] = {"",    "-1",    "+1",   "1,000", "1.", ".5",    "1..2", "1e3", " 1",  "1 ",
                         "abc", "1.2.3", "0x10", "1_000", "١٢", "12.3a", "NaN",  "inf", "--1", "."};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        parse_bad(bad[i], "USD");
    }
    char message[CTL_MESSAGE_SIZE];
    int64_t minor = 0;
    assert_int_equal(LEDGER_ERR_USAGE, ctl_amount_parse(NULL, "USD", &minor, message));
}

static void test_ctl_amount_bad_currency(void **state)
{
    (void)state;
    const char *bad[] = {"usd", "US", "USDD", "", "U$D", "12A"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        parse_bad("1.00", bad[i]);
        assert_false(ctl_currency_valid(bad[i]));
    }
    parse_bad("1.00", NULL);
    assert_true(ctl_currency_valid("USD"));
}

static void test_ctl_amount_overflow(void **state)
{
    (void)state;
    /* LEDGER_AMOUNT_MINOR_MAX is 10^13 minor units. */
    assert_int_equal(LEDGER_AMOUNT_MINOR_MAX, parse_ok("100000000000.00", "USD"));
    assert_int_equal(LEDGER_AMOUNT_MINOR_MAX, parse_ok("100000000000", "USD"));
    parse_bad("100000000000.01", "USD");
    parse_bad("100000000001", "USD");
    assert_int_equal(LEDGER_AMOUNT_MINOR_MAX, parse_ok("10000000000000", "JPY"));
    parse_bad("10000000000001", "JPY");
    assert_int_equal(LEDGER_AMOUNT_MINOR_MAX, parse_ok("10000000000.000", "KWD"));
    parse_bad("10000000000.001", "KWD");
    /* Far past int64: refused, never wrapped. */
    parse_bad("99999999999999999999999999999999", "USD");
    parse_bad("9223372036854775807", "JPY");
    parse_bad("92233720368547758.08", "USD");
}

static void test_ctl_amount_format(void **state)
{
    (void)state;
    char text[CTL_AMOUNT_TEXT_SIZE];
    ctl_amount_format(123456, "USD", text);
    assert_string_equal("1234.56", text);
    ctl_amount_format(5, "USD", text);
    assert_string_equal("0.05", text);
    ctl_amount_format(-5, "USD", text);
    assert_string_equal("-0.05", text);
    ctl_amount_format(-134400, "USD", text);
    assert_string_equal("-1344.00", text);
    ctl_amount_format(1000, "JPY", text);
    assert_string_equal("1000", text);
    ctl_amount_format(1234, "KWD", text);
    assert_string_equal("1.234", text);
    ctl_amount_format(1, "CLF", text);
    assert_string_equal("0.0001", text);
    ctl_amount_format(0, "EUR", text);
    assert_string_equal("0.00", text);
    ctl_amount_format(INT64_MIN, "USD", text);
    assert_string_equal("-92233720368547758.08", text);
    ctl_amount_format(INT64_MAX, "JPY", text);
    assert_string_equal("9223372036854775807", text);
}

static void test_ctl_amount_round_trip(void **state)
{
    (void)state;
    const char *currencies[] = {"USD", "JPY", "KWD", "CLF", "EUR"};
    const int64_t values[] = {
        0, 1, 9, 10, 99, 100, 101, 123456789, LEDGER_AMOUNT_MINOR_MAX - 1, LEDGER_AMOUNT_MINOR_MAX};
    for (size_t c = 0; c < sizeof currencies / sizeof currencies[0]; c++) {
        for (size_t v = 0; v < sizeof values / sizeof values[0]; v++) {
            char text[CTL_AMOUNT_TEXT_SIZE];
            ctl_amount_format(values[v], currencies[c], text);
            assert_int_equal(values[v], parse_ok(text, currencies[c]));
        }
    }
}

static void test_ctl_amount_unsigned(void **state)
{
    (void)state;
    char message[CTL_MESSAGE_SIZE];
    uint64_t value = 0;
    assert_int_equal(LEDGER_ERR_OK, ctl_unsigned_parse("42", 100, &value, message));
    assert_int_equal(42, value);
    assert_int_equal(LEDGER_ERR_OK, ctl_unsigned_parse("100", 100, &value, message));
    assert_int_equal(LEDGER_ERR_USAGE, ctl_unsigned_parse("101", 100, &value, message));
    assert_int_equal(LEDGER_ERR_OK,
                     ctl_unsigned_parse("18446744073709551615", UINT64_MAX, &value, message));
    assert_true(value == UINT64_MAX);
    assert_int_equal(LEDGER_ERR_USAGE,
                     ctl_unsigned_parse("18446744073709551616", UINT64_MAX, &value, message));
    assert_int_equal(LEDGER_ERR_USAGE, ctl_unsigned_parse("-1", 100, &value, message));
    assert_int_equal(LEDGER_ERR_USAGE, ctl_unsigned_parse("", 100, &value, message));
    assert_int_equal(LEDGER_ERR_USAGE, ctl_unsigned_parse("1x", 100, &value, message));
    assert_int_equal(LEDGER_ERR_USAGE, ctl_unsigned_parse("5", 3, &value, message));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ctl_amount_two_digit_currencies),
        cmocka_unit_test(test_ctl_amount_zero_digit_currencies),
        cmocka_unit_test(test_ctl_amount_three_and_four_digit_currencies),
        cmocka_unit_test(test_ctl_amount_malformed),
        cmocka_unit_test(test_ctl_amount_bad_currency),
        cmocka_unit_test(test_ctl_amount_overflow),
        cmocka_unit_test(test_ctl_amount_format),
        cmocka_unit_test(test_ctl_amount_round_trip),
        cmocka_unit_test(test_ctl_amount_unsigned),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
