/*
 * test_error.c: the error table of daemon/error.h and the wire's ErrorCode enum
 * in proto/ledger.proto must be the same names with the same numbers, and each
 * code must have a message. Method: walk both tables through protobuf-c's enum
 * descriptor. docs/protocol.md's error table gives each code's message as its
 * meaning: read from the document ($LEDGER_SOURCE_DIR, set by ctest) and
 * compared with the table here, row by row.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec.h"
#include "error.h"

static void test_error_table_matches_wire_enum(void **state)
{
    (void)state;
    const ProtobufCEnumDescriptor *wire = &ledger__v1__error_code__descriptor;
    unsigned ours = 0;
#define COUNT(name, number, message) ours++;
    LEDGER_ERR_MAP(COUNT)
#undef COUNT
    assert_int_equal(ours, wire->n_values);
    for (unsigned i = 0; i < wire->n_values; i++) {
        const ProtobufCEnumValue *value = &wire->values[i];
        assert_true(ledger_err_valid(value->value));
        assert_string_equal(value->name, ledger_err_name((enum ledger_err)value->value));
    }
}

static void test_error_every_code_has_a_message(void **state)
{
    (void)state;
#define CHECK(name, number, message)                                                               \
    assert_true(strlen(ledger_strerror(LEDGER_ERR_##name)) > 5);                                   \
    assert_string_equal(#name, ledger_err_name(LEDGER_ERR_##name));
    LEDGER_ERR_MAP(CHECK)
#undef CHECK
}

static void test_error_unknown_number(void **state)
{
    (void)state;
    assert_false(ledger_err_valid(9999));
    assert_false(ledger_err_valid(-1));
    assert_string_equal("UNKNOWN_ERROR", ledger_err_name((enum ledger_err)9999));
}

/* Bound on docs/protocol.md, which is some 100 KiB. */
#define DOC_BYTES_MAX (4 * 1024 * 1024)

static char *doc_read(const char *relative)
{
    const char *source = getenv("LEDGER_SOURCE_DIR");
    assert_non_null(source);
    char path[4096];
    assert_true((size_t)snprintf(path, sizeof path, "%s/%s", source, relative) < sizeof path);
    FILE *file = fopen(path, "rb");
    assert_non_null(file);
    char *text = malloc(DOC_BYTES_MAX + 1);
    assert_non_null(text);
    size_t length = fread(text, 1, DOC_BYTES_MAX, file);
    assert_true(length < DOC_BYTES_MAX);
    text[length] = '\0';
    fclose(file);
    return text;
}

/* Each row "| number | `NAME` | meaning |" of docs/protocol.md's error
 * table has the meaning error.h gives the code. */
static void test_error_protocol_doc_quotes_the_table(void **state)
{
    (void)state;
    char *doc = doc_read("docs/protocol.md");
#define CHECK(name, number, message)                                                               \
    {                                                                                              \
        char row[512];                                                                             \
        snprintf(row, sizeof row, "\n| %d | `%s` | %s |", number, #name, message);                 \
        if (strstr(doc, row) == NULL) {                                                            \
            fail_msg("docs/protocol.md has no row %s", row + 1);                                   \
        }                                                                                          \
    }
    LEDGER_ERR_MAP(CHECK)
#undef CHECK
    free(doc);
}

/* The daemon answers UNAVAILABLE only to a backup asked while another runs
 * (a stopping daemon stops reading and answers nothing): the message says
 * that, not that the daemon is stopping. */
static void test_error_unavailable_says_a_backup_runs(void **state)
{
    (void)state;
    const char *message = ledger_strerror(LEDGER_ERR_UNAVAILABLE);
    assert_non_null(strstr(message, "backup"));
    assert_null(strstr(message, "shutting down"));
    assert_null(strstr(message, "not ready"));
}

/* A timestamp outside the window comes from clocks that disagree or from a
 * daemon that reached the request late (queued behind slow commits): the
 * message names both, and what to do for each. */
static void test_error_stale_request_names_both_causes(void **state)
{
    (void)state;
    const char *message = ledger_strerror(LEDGER_ERR_STALE_REQUEST);
    assert_non_null(strstr(message, "clocks disagree"));
    assert_non_null(strstr(message, "daemon reached it late"));
    assert_non_null(strstr(message, "fix the clock"));
    assert_non_null(strstr(message, "retry"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_table_matches_wire_enum),
        cmocka_unit_test(test_error_every_code_has_a_message),
        cmocka_unit_test(test_error_unknown_number),
        cmocka_unit_test(test_error_protocol_doc_quotes_the_table),
        cmocka_unit_test(test_error_unavailable_says_a_backup_runs),
        cmocka_unit_test(test_error_stale_request_names_both_causes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
