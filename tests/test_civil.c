/*
 * test_civil.c: the calendar arithmetic (daemon/civil.h) against dates
 * worked out by hand, and round trips over four centuries.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "civil.h"
#include "ledger_limits.h"

#define HOUR_US          (INT64_C(3600) * 1000000)
#define DATE_US(y, m, d) (civil_days_from_date((y), (m), (d)) * CIVIL_US_PER_DAY)

static void test_civil_days_from_date(void **state)
{
    (void)state;
    assert_int_equal(0, civil_days_from_date(1970, 1, 1));
    assert_int_equal(-1, civil_days_from_date(1969, 12, 31));
    assert_int_equal(59, civil_days_from_date(1970, 3, 1));
    assert_int_equal(10957, civil_days_from_date(2000, 1, 1));
    assert_int_equal(11016, civil_days_from_date(2000, 2, 29));
    assert_int_equal(20454, civil_days_from_date(2026, 1, 1));
    assert_int_equal(2932896, civil_days_from_date(9999, 12, 31));
}

/* Every day from 1900 to 2300 (leap years of every rule: 1900 and 2100 are
 * not, 2000 is) goes to its date and back, each day after the last. */
static void test_civil_round_trip(void **state)
{
    (void)state;
    int64_t first = civil_days_from_date(1900, 1, 1), last = civil_days_from_date(2300, 12, 31);
    struct civil_date previous = civil_date_from_days(first - 1);
    assert_int_equal(1899, previous.year);
    for (int64_t days = first; days <= last; days++) {
        struct civil_date date = civil_date_from_days(days);
        assert_int_equal(days, civil_days_from_date(date.year, date.month, date.day));
        if (date.day == 1) {
            assert_int_equal(civil_days_in_month(previous.year, previous.month), previous.day);
        } else {
            assert_int_equal(previous.day + 1, date.day);
        }
        previous = date;
    }
    assert_false(civil_leap_year(1900));
    assert_true(civil_leap_year(2000));
    assert_true(civil_leap_year(2028));
    assert_false(civil_leap_year(2100));
    assert_int_equal(29, civil_days_in_month(2028, 2));
    assert_int_equal(28, civil_days_in_month(2100, 2));
    assert_int_equal(31, civil_days_in_month(2026, 12));
    assert_int_equal(30, civil_days_in_month(2026, 11));
}

static void test_civil_date_from_us(void **state)
{
    (void)state;
    struct civil_date date = civil_date_from_us(DATE_US(2026, 12, 5) + 23 * HOUR_US);
    assert_int_equal(2026, date.year);
    assert_int_equal(12, date.month);
    assert_int_equal(5, date.day);
    date = civil_date_from_us(DATE_US(2026, 12, 5) - 1);
    assert_int_equal(4, date.day);
    date = civil_date_from_us(-1);
    assert_int_equal(1969, date.year);
    assert_int_equal(12, date.month);
    assert_int_equal(31, date.day);
}

/* Calendar years: the same date and time of day, whatever leap days lie
 * between; 29 February to 28 February when the target year has none. */
static void test_civil_add_years(void **state)
{
    (void)state;
    int64_t noon = 12 * HOUR_US + 345678;
    assert_int_equal(DATE_US(2027, 12, 5) + noon,
                     civil_add_years_us(DATE_US(2026, 12, 5) + noon, 1));
    /* 2028-02-29 lies between: three calendar years are 1,096 days. */
    assert_int_equal(DATE_US(2029, 12, 5) + noon,
                     civil_add_years_us(DATE_US(2026, 12, 5) + noon, 3));
    assert_int_equal(1096, civil_days_from_date(2029, 12, 5) - civil_days_from_date(2026, 12, 5));
    assert_int_equal(DATE_US(2030, 1, 1), civil_add_years_us(DATE_US(2025, 1, 1), 5));
    assert_int_equal(DATE_US(2029, 2, 28) + noon,
                     civil_add_years_us(DATE_US(2028, 2, 29) + noon, 1));
    assert_int_equal(DATE_US(2032, 2, 29), civil_add_years_us(DATE_US(2028, 2, 29), 4));
    assert_int_equal(DATE_US(2029, 3, 1), civil_add_years_us(DATE_US(2028, 3, 1), 1));
    assert_int_equal(DATE_US(2026, 2, 28), civil_add_years_us(DATE_US(2026, 2, 28), 0));
    /* The last microsecond of a day stays on its day. */
    int64_t late = DATE_US(2027, 12, 31) + 24 * HOUR_US - 1;
    assert_int_equal(DATE_US(2030, 12, 31) + 24 * HOUR_US - 1, civil_add_years_us(late, 3));
    /* Two five-year terms from the latest time the ledger accepts. */
    int64_t end = civil_add_years_us(civil_add_years_us(LEDGER_TIME_US_MAX, 5), 5);
    assert_true(end > LEDGER_TIME_US_MAX);
    struct civil_date date = civil_date_from_us(end);
    assert_int_equal(civil_date_from_us(LEDGER_TIME_US_MAX).year + 10, date.year);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_civil_days_from_date),
        cmocka_unit_test(test_civil_round_trip),
        cmocka_unit_test(test_civil_date_from_us),
        cmocka_unit_test(test_civil_add_years),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
