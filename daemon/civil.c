/*
 * civil.c: calendar arithmetic (see civil.h).
 */
#include "civil.h"

/* Floor division, for days before the epoch. */
static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

int64_t civil_days_from_date(int64_t year, unsigned month, unsigned day)
{
    year -= month <= 2;
    int64_t era = floor_div(year, 400);
    int64_t year_of_era = year - era * 400;
    int64_t day_of_year = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
    int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    return era * 146097 + day_of_era - 719468;
}

struct civil_date civil_date_from_days(int64_t days)
{
    days += 719468;
    int64_t era = floor_div(days, 146097);
    int64_t day_of_era = days - era * 146097;
    int64_t year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
    int64_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    int64_t mp = (5 * day_of_year + 2) / 153;
    struct civil_date date;
    date.day = (unsigned)(day_of_year - (153 * mp + 2) / 5 + 1);
    date.month = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    date.year = year_of_era + era * 400 + (date.month <= 2);
    return date;
}

struct civil_date civil_date_from_us(int64_t time_us)
{
    return civil_date_from_days(floor_div(time_us, CIVIL_US_PER_DAY));
}

bool civil_leap_year(int64_t year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

unsigned civil_days_in_month(int64_t year, unsigned month)
{
    static const unsigned days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return month == 2 && civil_leap_year(year) ? 29 : days[month - 1];
}

int64_t civil_add_years_us(int64_t time_us, unsigned years)
{
    int64_t days = floor_div(time_us, CIVIL_US_PER_DAY);
    int64_t time_of_day_us = time_us - days * CIVIL_US_PER_DAY;
    struct civil_date date = civil_date_from_days(days);
    date.year += years;
    unsigned last = civil_days_in_month(date.year, date.month);
    if (date.day > last)
        date.day = last;
    return civil_days_from_date(date.year, date.month, date.day) * CIVIL_US_PER_DAY +
           time_of_day_us;
}
