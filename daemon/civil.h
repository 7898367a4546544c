/*
 * civil.h: the proleptic Gregorian calendar in UTC, as integer arithmetic.
 *
 * Owns: days since 1970-01-01 <-> (year, month, day), leap years, month
 * lengths, and adding whole calendar years to a time. Pure functions: no time
 * zone state, no C library mktime/timegm/gmtime, no allocation. Used by the
 * domain (a term's expiry), the views (a charge's month) and the command line
 * (dates people type). Howard Hinnant's days_from_civil and civil_from_days
 * algorithms, exact for every date these types can hold.
 */
#ifndef LEDGER_CIVIL_H
#define LEDGER_CIVIL_H

#include <stdbool.h>
#include <stdint.h>

#define CIVIL_US_PER_DAY (INT64_C(86400) * 1000000)

struct civil_date {
    int64_t year;
    unsigned month; /* 1..12 */
    unsigned day;   /* 1..31 */
};

/* Days from 1970-01-01 to the date (negative before it). month 1..12, day
 * 1..31; the day is not checked against the month's length. */
int64_t civil_days_from_date(int64_t year, unsigned month, unsigned day);

/* The date `days` after 1970-01-01. */
struct civil_date civil_date_from_days(int64_t days);

/* The UTC date of a time in microseconds since the epoch. */
struct civil_date civil_date_from_us(int64_t time_us);

bool civil_leap_year(int64_t year);

/* 28..31. month 1..12. */
unsigned civil_days_in_month(int64_t year, unsigned month);

/* The same time of day on the same date `years` calendar years later; 29
 * February becomes 28 February in a year that has none. time_us: microseconds
 * since the epoch, 0..LEDGER_TIME_US_MAX (ledger_limits.h); years 0..10. */
int64_t civil_add_years_us(int64_t time_us, unsigned years);

#endif
