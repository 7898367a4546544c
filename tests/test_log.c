/*
 * test_log.c: the daemon's log lines (daemon/log.c): the line format, the
 * level filter, and quoting, which is what keeps a value from outside (a
 * principal id of a refused request) from forging a line or breaking the
 * key=value shape.
 *
 * Method: stderr is redirected to a temporary file around log_write and the
 * lines read back; log_quote is fed plain, hostile and over-long inputs and
 * buffers too small for them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "test_util.h"

/* Runs log_write-calling `body` with stderr sent to a file; returns its text. */
static char *capture(void (*body)(void))
{
    char dir[512], path[600];
    test_make_dir(dir, sizeof dir, "log");
    snprintf(path, sizeof path, "%s/stderr", dir);
    FILE *file = fopen(path, "w+");
    assert_non_null(file);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(fileno(file), STDERR_FILENO) >= 0);
    body();
    assert_true(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);
    static char text[16384];
    rewind(file);
    size_t size = fread(text, 1, sizeof text - 1, file);
    text[size] = '\0';
    fclose(file);
    test_remove_dir(dir);
    return text;
}

static void write_some(void)
{
    log_set_level(LOG_LEVEL_INFO);
    log_write(LOG_LEVEL_INFO, "started", "version=%s port=%d", "0.1.0", 7300);
    log_write(LOG_LEVEL_DEBUG, "hidden", NULL);
    log_write(LOG_LEVEL_ERROR, "failed", NULL);
    log_write(LOG_LEVEL_WARN, "slow commit", "duration_ms=%.1f", 120.5);
}

static void test_log_format_and_levels(void **state)
{
    (void)state;
    char *text = capture(write_some);
    /* 2026-11-23T20:41:07.123Z INFO  started version=0.1.0 port=7300 */
    char *line = strtok(text, "\n");
    assert_non_null(line);
    assert_int_equal(strlen(line), strlen("2026-11-23T20:41:07.123Z INFO  started version=0.1.0 "
                                          "port=7300"));
    assert_true(line[4] == '-' && line[7] == '-' && line[10] == 'T' && line[13] == ':' &&
                line[16] == ':' && line[19] == '.' && line[23] == 'Z' && line[24] == ' ');
    assert_string_equal(line + 25, "INFO  started version=0.1.0 port=7300");
    line = strtok(NULL, "\n");
    assert_string_equal(line + 25, "ERROR failed");
    line = strtok(NULL, "\n");
    assert_string_equal(line + 25, "WARN  slow commit duration_ms=120.5");
    assert_null(strtok(NULL, "\n")); /* the debug line was filtered out */
}

static void write_long(void)
{
    static char value[3 * LOG_LINE_SIZE];
    memset(value, 'v', sizeof value - 1);
    value[sizeof value - 1] = '\0';
    log_write(LOG_LEVEL_INFO, "long", "value=%s", value);
    log_write(LOG_LEVEL_INFO, "next", NULL);
}

static void test_log_long_line_is_cut(void **state)
{
    (void)state;
    char *text = capture(write_long);
    char *line = strtok(text, "\n");
    assert_int_equal(strlen(line), LOG_LINE_SIZE - 1);
    assert_memory_equal(line + strlen(line) - 3, "...", 3);
    line = strtok(NULL, "\n");
    assert_string_equal(line + 25, "INFO  next");
}

static void write_long_message(void)
{
    static char message[2 * LOG_LINE_SIZE];
    memset(message, 'm', sizeof message - 1);
    message[sizeof message - 1] = '\0';
    log_write(LOG_LEVEL_INFO, message, "field=%s", "after");
    log_write(LOG_LEVEL_INFO, "next", NULL);
}

/* A message that fills the line by itself: the line is cut and marked, its
 * fields are left out rather than written past the cut, and it stays one
 * line, so the next one is whole. */
static void test_log_long_message_drops_its_fields(void **state)
{
    (void)state;
    char *text = capture(write_long_message);
    char *line = strtok(text, "\n");
    assert_int_equal(strlen(line), LOG_LINE_SIZE - 1);
    assert_memory_equal(line + strlen(line) - 3, "...", 3);
    assert_null(strstr(line, "field="));
    assert_int_equal(line[LOG_LINE_SIZE - 5], 'm');
    line = strtok(NULL, "\n");
    assert_string_equal(line + 25, "INFO  next");
    assert_null(strtok(NULL, "\n"));
}

static void test_log_levels_parse(void **state)
{
    (void)state;
    enum log_level level = LOG_LEVEL_INFO;
    assert_true(log_level_parse("debug", &level));
    assert_int_equal(level, LOG_LEVEL_DEBUG);
    assert_true(log_level_parse("error", &level));
    assert_int_equal(level, LOG_LEVEL_ERROR);
    assert_false(log_level_parse("DEBUG", &level));
    assert_false(log_level_parse("", &level));
    assert_false(log_level_parse(NULL, &level));
    assert_int_equal(level, LOG_LEVEL_ERROR);
    assert_string_equal(log_level_name(LOG_LEVEL_WARN), "warn");
    assert_string_equal(log_level_name((enum log_level)9), "unknown");
    log_set_level(LOG_LEVEL_WARN);
    assert_true(log_enabled(LOG_LEVEL_ERROR));
    assert_true(log_enabled(LOG_LEVEL_WARN));
    assert_false(log_enabled(LOG_LEVEL_INFO));
    assert_int_equal(log_get_level(), LOG_LEVEL_WARN);
    log_set_level(LOG_LEVEL_INFO);
}

static void test_log_quote(void **state)
{
    (void)state;
    char out[LOG_QUOTE_SIZE(64)];
    assert_string_equal(log_quote("operator", 64, out, sizeof out), "operator");
    assert_string_equal(log_quote("a-b.c:d@e_f", 64, out, sizeof out), "a-b.c:d@e_f");
    assert_string_equal(log_quote("", 64, out, sizeof out), "\"\"");
    assert_string_equal(log_quote(NULL, 64, out, sizeof out), "\"\"");
    assert_string_equal(log_quote("two words", 64, out, sizeof out), "\"two words\"");
    assert_string_equal(log_quote("k=v", 64, out, sizeof out), "\"k=v\"");
    /* A forged line: the newline and the quote are escaped. */
    assert_string_equal(log_quote("x\n2026 ERROR \"fake\"", 64, out, sizeof out),
                        "\"x\\x0a2026 ERROR \\\"fake\\\"\"");
    assert_string_equal(log_quote("back\\slash", 64, out, sizeof out), "\"back\\\\slash\"");
    assert_string_equal(log_quote("caf\xc3\xa9", 64, out, sizeof out), "\"caf\\xc3\\xa9\"");
    assert_string_equal(log_quote("tab\there", 64, out, sizeof out), "\"tab\\x09here\"");
    /* Over input_max: cut and marked, even when plain. */
    assert_string_equal(log_quote("abcdefghij", 4, out, sizeof out), "\"abcd...\"");
    /* Every byte escaped at the maximum length still fits LOG_QUOTE_SIZE. */
    char hostile[65];
    memset(hostile, '\n', 64);
    hostile[64] = '\0';
    log_quote(hostile, 64, out, sizeof out);
    assert_int_equal(strlen(out), 2 + 4 * 64);
    memset(hostile, '\n', 64);
    char longer[80];
    memset(longer, '\x01', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    log_quote(longer, 64, out, sizeof out);
    assert_int_equal(strlen(out), 2 + 4 * 64 + 3);
    assert_true(strlen(out) < sizeof out);
    /* A buffer too small cuts the value and stays terminated and quoted. */
    char small[12];
    log_quote("a value with spaces", 64, small, sizeof small);
    assert_true(strlen(small) < sizeof small);
    assert_int_equal(small[0], '"');
    assert_int_equal(small[strlen(small) - 1], '"');
    assert_non_null(strstr(small, "..."));
    char tiny[3];
    log_quote("word", 64, tiny, sizeof tiny);
    assert_true(strlen(tiny) < sizeof tiny);
    /* No room at all: nothing is written, not even a terminator. */
    char none[4] = "xyz";
    assert_ptr_equal(log_quote("word", 64, none, 0), none);
    assert_string_equal(none, "xyz");
}

/* Each byte that ends a bare value on its own, with nothing else to quote
 * around it: a quote, a backslash, an equals sign, DEL and a space; and a
 * bare value longer than the buffer, which is quoted and marked cut rather
 * than written bare and cut unmarked. */
static void test_log_quote_single_bytes(void **state)
{
    (void)state;
    char out[LOG_QUOTE_SIZE(64)];
    assert_string_equal(log_quote("op\"x", 64, out, sizeof out), "\"op\\\"x\"");
    assert_string_equal(log_quote("op\\", 64, out, sizeof out), "\"op\\\\\"");
    assert_string_equal(log_quote("=", 64, out, sizeof out), "\"=\"");
    assert_string_equal(log_quote("op\x7f", 64, out, sizeof out), "\"op\\x7f\"");
    assert_string_equal(log_quote("~", 64, out, sizeof out), "~");
    assert_string_equal(log_quote(" ", 64, out, sizeof out), "\" \"");
    char small[8];
    assert_string_equal(log_quote("abcdefghijk", 64, small, sizeof small), "\"ab...\"");
    assert_string_equal(log_quote("abcdefg", 64, small, sizeof small), "abcdefg");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_format_and_levels),
        cmocka_unit_test(test_log_long_line_is_cut),
        cmocka_unit_test(test_log_long_message_drops_its_fields),
        cmocka_unit_test(test_log_levels_parse),
        cmocka_unit_test(test_log_quote),
        cmocka_unit_test(test_log_quote_single_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
