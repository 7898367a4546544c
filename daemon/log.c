/*
 * log.c: the daemon's log lines on stderr (format in log.h).
 *
 * Each line is assembled in a stack buffer and written with a single write(2)
 * to file descriptor 2, which POSIX makes atomic for pipes up to PIPE_BUF and
 * which never interleaves with other lines in practice for files and terminals.
 */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static _Atomic int log_level_current = LOG_LEVEL_INFO;

void log_set_level(enum log_level level)
{
    atomic_store(&log_level_current, (int)level);
}

enum log_level log_get_level(void)
{
    return (enum log_level)atomic_load(&log_level_current);
}

bool log_enabled(enum log_level level)
{
    return (int)level <= atomic_load(&log_level_current);
}

static const char *const log_level_names[] = {"error", "warn", "info", "debug"};
/* As printed in lines: upper case, padded to five so messages line up. */
static const char *const log_level_labels[] = {"ERROR", "WARN ", "INFO ", "DEBUG"};

bool log_level_parse(const char *name, enum log_level *out)
{
    if (name == NULL) {
        return false;
    }
    for (size_t i = 0; i < sizeof log_level_names / sizeof log_level_names[0]; i++) {
        if (strcmp(name, log_level_names[i]) == 0) {
            *out = (enum log_level)i;
            return true;
        }
    }
    return false;
}

const char *log_level_name(enum log_level level)
{
    if ((int)level < 0 || (size_t)level >= sizeof log_level_names / sizeof log_level_names[0]) {
        return "unknown";
    }
    return log_level_names[level];
}

/* Appends a formatted piece to line[*used..size), keeping *used <= size - 1. */
static void line_append(char *line, size_t size, size_t *used, const char *format, va_list args)
    __attribute__((format(printf, 4, 0)));
static void line_append(char *line, size_t size, size_t *used, const char *format, va_list args)
{
    if (*used >= size - 1) {
        return;
    }
    int n = vsnprintf(line + *used, size - *used, format, args);
    if (n < 0) {
        return;
    }
    if ((size_t)n >= size - *used) {
        *used = size - 1;
        /* Mark the cut so nobody mistakes a truncated value for the whole. */
        memcpy(line + size - 4, "...", 3);
    } else {
        *used += (size_t)n;
    }
}

static void line_appendf(char *line, size_t size, size_t *used, const char *format, ...)
    __attribute__((format(printf, 4, 5)));
static void line_appendf(char *line, size_t size, size_t *used, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    line_append(line, size, used, format, args);
    va_end(args);
}

void log_write(enum log_level level, const char *message, const char *format, ...)
{
    if (!log_enabled(level)) {
        return;
    }
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);

    char line[LOG_LINE_SIZE + 1]; /* + the newline */
    size_t used = 0;
    const char *label =
        ((int)level >= 0 && (int)level <= LOG_LEVEL_DEBUG) ? log_level_labels[level] : "?????";
    line_appendf(line, LOG_LINE_SIZE, &used, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 now.tv_nsec / 1000000, label, message ? message : "");
    if (format != NULL && format[0] != '\0') {
        line_appendf(line, LOG_LINE_SIZE, &used, " ");
        va_list args;
        va_start(args, format);
        line_append(line, LOG_LINE_SIZE, &used, format, args);
        va_end(args);
    }
    line[used++] = '\n';
    /* A failed log write has nowhere to be reported; the daemon goes on. */
    ssize_t written = write(STDERR_FILENO, line, used);
    (void)written;
}

static bool quote_plain(unsigned char c)
{
    return c > ' ' && c < 0x7f && c != '"' && c != '\\' && c != '=';
}

const char *log_quote(const char *input, size_t input_max, char *out, size_t out_size)
{
    if (out_size == 0) {
        return out;
    }
    if (input == NULL) {
        input = "";
    }
    size_t length = strnlen(input, input_max + 1);
    bool cut = length > input_max;
    if (cut) {
        length = input_max;
    }
    bool plain = length > 0 && !cut;
    for (size_t i = 0; plain && i < length; i++) {
        plain = quote_plain((unsigned char)input[i]);
    }
    size_t used = 0;
    if (plain && length < out_size) {
        memcpy(out, input, length);
        out[length] = '\0';
        return out;
    }
    /* Reserve room for the closing quote, a possible "..." and the NUL. */
    size_t limit = out_size > 5 ? out_size - 5 : 0;
    if (used < limit) {
        out[used++] = '"';
    }
    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char)input[i];
        char piece[5];
        size_t piece_size;
        if (c == '"' || c == '\\') {
            piece[0] = '\\';
            piece[1] = (char)c;
            piece_size = 2;
        } else if (c < ' ' || c >= 0x7f) {
            snprintf(piece, sizeof piece, "\\x%02x", c);
            piece_size = 4;
        } else {
            piece[0] = (char)c;
            piece_size = 1;
        }
        if (used + piece_size > limit) {
            cut = true;
            break;
        }
        memcpy(out + used, piece, piece_size);
        used += piece_size;
    }
    if (cut && used + 3 <= out_size - 2) {
        memcpy(out + used, "...", 3);
        used += 3;
    }
    if (used < out_size - 1) {
        out[used++] = '"';
    }
    out[used] = '\0';
    return out;
}
