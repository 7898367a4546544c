/*
 * test_error.c: the error table of daemon/error.h and the wire's ErrorCode enum
 * in proto/ledger.proto must be the same names with the same numbers, and each
 * code must have a message. Method: walk both tables through protobuf-c's enum
 * descriptor.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_table_matches_wire_enum),
        cmocka_unit_test(test_error_every_code_has_a_message),
        cmocka_unit_test(test_error_unknown_number),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
