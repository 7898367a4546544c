/*
 * ctl_time.c: ISO 8601 <-> microseconds UTC (see ctl_time.h).
 *
 * The calendar arithmetic is the project's one (civil.h): exact for the
 * proleptic Gregorian calendar, no dependence on TZ or the C library's
 * mktime/timegm.
 */
#include "ctl_time.h"

#include "civil.h"
#include "ledger_limits.h"

#include <stdio.h>
#include <string.h>

#define US_PER_SECOND INT64_C(1000000)
#define US_PER_DAY    (INT64_C(86400) * US_PER_SECOND)
#define YEAR_MIN      1970
#define YEAR_MAX      9999

/* Reads exactly `count` digits. */
static bool read_digits(const char **cursor, unsigned count, unsigned *value_out)
{
    unsigned value = 0;
    for (unsigned i = 0; i < count; i++) {
        char c = (*cursor)[i];
        if (c < '0' || c > '9') {
            return false;
        }
        value = value * 10 + (unsigned)(c - '0');
    }
    *cursor += count;
    *value_out = value;
    return true;
}

static bool read_char(const char **cursor, char expected)
{
    if (**cursor != expected) {
        return false;
    }
    (*cursor)++;
    return true;
}

enum ledger_err ctl_time_parse(const char *text, int64_t *us_out, bool *date_only_out,
                               char message[CTL_MESSAGE_SIZE])
{
    const char *c = text;
    unsigned year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
    int64_t fraction_us = 0;
    int64_t offset_s = 0;
    bool date_only = true;
    if (text == NULL) {
        goto malformed;
    }
    if (!read_digits(&c, 4, &year) || !read_char(&c, '-') || !read_digits(&c, 2, &month) ||
        !read_char(&c, '-') || !read_digits(&c, 2, &day)) {
        goto malformed;
    }
    if (year < YEAR_MIN || year > YEAR_MAX) {
        snprintf(message, CTL_MESSAGE_SIZE, "'%.40s': the year must be %d..%d", text, YEAR_MIN,
                 YEAR_MAX);
        return LEDGER_ERR_USAGE;
    }
    if (month < 1 || month > 12 || day < 1 || day > civil_days_in_month(year, month)) {
        snprintf(message, CTL_MESSAGE_SIZE, "'%.40s' is not a date of the calendar", text);
        return LEDGER_ERR_USAGE;
    }
    if (*c == 'T' || *c == 't' || *c == ' ') {
        date_only = false;
        c++;
        if (!read_digits(&c, 2, &hour) || !read_char(&c, ':') || !read_digits(&c, 2, &minute)) {
            goto malformed;
        }
        if (read_char(&c, ':')) {
            if (!read_digits(&c, 2, &second)) {
                goto malformed;
            }
            if (read_char(&c, '.')) {
                unsigned digits = 0;
                while (*c >= '0' && *c <= '9') {
                    if (digits == 6) {
                        snprintf(message, CTL_MESSAGE_SIZE,
                                 "'%.40s': times are kept to the microsecond; give at most 6 "
                                 "fraction digits",
                                 text);
                        return LEDGER_ERR_USAGE;
                    }
                    fraction_us = fraction_us * 10 + (*c - '0');
                    digits++;
                    c++;
                }
                if (digits == 0) {
                    goto malformed;
                }
                for (unsigned i = digits; i < 6; i++) {
                    fraction_us *= 10;
                }
            }
        }
        if (hour > 23 || minute > 59 || second > 59) {
            snprintf(message, CTL_MESSAGE_SIZE, "'%.40s' is not a time of day", text);
            return LEDGER_ERR_USAGE;
        }
        if (*c == 'Z' || *c == 'z') {
            c++;
        } else if (*c == '+' || *c == '-') {
            int sign = *c == '-' ? -1 : 1;
            unsigned offset_hours = 0, offset_minutes = 0;
            c++;
            if (!read_digits(&c, 2, &offset_hours)) {
                goto malformed;
            }
            (void)read_char(&c, ':');
            if (!read_digits(&c, 2, &offset_minutes)) {
                goto malformed;
            }
            if (offset_hours > 23 || offset_minutes > 59) {
                goto malformed;
            }
            offset_s = sign * (int64_t)(offset_hours * 3600 + offset_minutes * 60);
        }
    }
    if (*c != '\0') {
        goto malformed;
    }
    int64_t days = civil_days_from_date(year, month, day);
    int64_t seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset_s;
    if (seconds < 0) {
        snprintf(message, CTL_MESSAGE_SIZE, "'%.40s' is before 1970-01-01T00:00:00Z", text);
        return LEDGER_ERR_USAGE;
    }
    if (seconds > LEDGER_TIME_US_MAX / US_PER_SECOND) {
        snprintf(message, CTL_MESSAGE_SIZE, "'%.40s' is after 9999-12-31T23:59:59Z", text);
        return LEDGER_ERR_USAGE;
    }
    *us_out = seconds * US_PER_SECOND + fraction_us;
    if (date_only_out != NULL) {
        *date_only_out = date_only;
    }
    return LEDGER_ERR_OK;
malformed:
    snprintf(message, CTL_MESSAGE_SIZE,
             "'%.40s' is not an ISO 8601 date or time: use YYYY-MM-DD or "
             "YYYY-MM-DDThh:mm[:ss[.ffffff]][Z|+hh:mm]",
             text != NULL ? text : "");
    return LEDGER_ERR_USAGE;
}

void ctl_time_format(int64_t us, char out[CTL_TIME_TEXT_SIZE])
{
    int64_t days = us / US_PER_DAY;
    int64_t rest_us = us % US_PER_DAY;
    if (rest_us < 0) {
        rest_us += US_PER_DAY;
        days--;
    }
    struct civil_date date = civil_date_from_days(days);
    int64_t year = date.year;
    unsigned month = date.month, day = date.day;
    int64_t seconds = rest_us / US_PER_SECOND;
    int64_t fraction_us = rest_us % US_PER_SECOND;
    /* Years outside 0..9999 cannot be written in four digits; they only
     * arise from corrupt input, and are shown as they are. */
    if (fraction_us == 0) {
        snprintf(out, CTL_TIME_TEXT_SIZE, "%04lld-%02u-%02uT%02lld:%02lld:%02lldZ", (long long)year,
                 month, day, (long long)(seconds / 3600), (long long)(seconds / 60 % 60),
                 (long long)(seconds % 60));
    } else {
        snprintf(out, CTL_TIME_TEXT_SIZE, "%04lld-%02u-%02uT%02lld:%02lld:%02lld.%06lldZ",
                 (long long)year, month, day, (long long)(seconds / 3600),
                 (long long)(seconds / 60 % 60), (long long)(seconds % 60), (long long)fraction_us);
    }
}

enum ledger_err ctl_month_check(const char *text, char message[CTL_MESSAGE_SIZE])
{
    const char *c = text;
    unsigned year = 0, month = 0;
    if (text != NULL && read_digits(&c, 4, &year) && read_char(&c, '-') &&
        read_digits(&c, 2, &month) && *c == '\0' && month >= 1 && month <= 12 && year >= YEAR_MIN &&
        year <= YEAR_MAX) {
        return LEDGER_ERR_OK;
    }
    /* A well-formed month outside the years dates take (1969-12) is told
     * the range, not that it is no month. */
    snprintf(message, CTL_MESSAGE_SIZE,
             "'%.40s' is not a month from %04u-01 to %04u-12: use YYYY-MM, e.g. 2026-03",
             text != NULL ? text : "", (unsigned)YEAR_MIN, (unsigned)YEAR_MAX);
    return LEDGER_ERR_USAGE;
}
