/*
 * test_ctl_args.c: ledgerctl's option parser.
 * Goal: "--name value", "--name=value", flags and repeatable lists parse;
 * unknown options, missing values, repeated single options, stray words and
 * values given to flags are USAGE errors naming the option; positional
 * lists keep their empty values. Method: parse
 * fixed argv arrays against a small table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ctl_args.h"

static const struct ctl_option verb_options[] = {
    {"customer", CTL_OPTION_VALUE, "ID", "the customer", true},
    {"on", CTL_OPTION_FLAG, NULL, "on", false},
    {"type", CTL_OPTION_LIST, "T", "types", false},
    {NULL, CTL_OPTION_VALUE, NULL, NULL, false},
};
static const struct ctl_option global[] = {
    {"output", CTL_OPTION_VALUE, "FORMAT", "format", false},
    {NULL, CTL_OPTION_VALUE, NULL, NULL, false},
};
static const struct ctl_option *const tables[] = {verb_options, global, NULL};

static enum ledger_err parse(int argc, const char **argv, struct ctl_args *args, char *message)
{
    return ctl_args_parse(tables, argc, (char **)(uintptr_t)argv, args, message);
}

static void test_ctl_args_forms(void **state)
{
    (void)state;
    struct ctl_args args;
    char message[CTL_MESSAGE_SIZE];
    const char *argv[] = {"--customer", "fabrikam", "--on",   "--output=json", "--type",
                          "a,b",        "--type=c", "--type", ",,d,"};
    assert_int_equal(LEDGER_ERR_OK, parse(9, argv, &args, message));
    assert_string_equal("fabrikam", ctl_arg(&args, "customer"));
    assert_true(ctl_flag(&args, "on"));
    assert_string_equal("json", ctl_arg(&args, "output"));
    assert_null(ctl_arg(&args, "missing"));
    assert_false(args.help);
    const char *values[8];
    char storage[64];
    assert_int_equal(4, ctl_arg_list(&args, "type", values, 8, storage, sizeof storage));
    assert_string_equal("a", values[0]);
    assert_string_equal("b", values[1]);
    assert_string_equal("c", values[2]);
    assert_string_equal("d", values[3]);
    /* Too many for the caller's room: reported as more than max. */
    assert_true(ctl_arg_list(&args, "type", values, 3, storage, sizeof storage) > 3);
    /* By position: the empty pieces of ",,d," stay, as "". */
    const char *expected[] = {"a", "b", "c", "", "", "d", ""};
    assert_int_equal(7, ctl_arg_list_positional(&args, "type", values, 8, storage, sizeof storage));
    for (size_t i = 0; i < 7; i++) {
        assert_string_equal(expected[i], values[i]);
    }
    assert_true(ctl_arg_list_positional(&args, "type", values, 6, storage, sizeof storage) > 6);

    const char *help[] = {"--customer", "x", "-h"};
    assert_int_equal(LEDGER_ERR_OK, parse(3, help, &args, message));
    assert_true(args.help);
    /* A value may itself start with dashes when given with '='. */
    const char *dashes[] = {"--customer=--odd"};
    assert_int_equal(LEDGER_ERR_OK, parse(1, dashes, &args, message));
    assert_string_equal("--odd", ctl_arg(&args, "customer"));
}

static void expect_usage(int argc, const char **argv, const char *expected)
{
    struct ctl_args args;
    char message[CTL_MESSAGE_SIZE] = "";
    assert_int_equal(LEDGER_ERR_USAGE, parse(argc, argv, &args, message));
    assert_string_equal(expected, message);
}

static void test_ctl_args_errors(void **state)
{
    (void)state;
    const char *unknown[] = {"--customr", "x"};
    expect_usage(2, unknown, "unknown option --customr");
    const char *missing[] = {"--customer"};
    expect_usage(1, missing, "--customer needs a value (ID)");
    const char *twice[] = {"--customer", "a", "--customer", "b"};
    expect_usage(4, twice, "--customer is given twice");
    const char *stray[] = {"--on", "extra"};
    expect_usage(2, stray, "unexpected argument 'extra'");
    const char *flag_value[] = {"--on=yes"};
    expect_usage(1, flag_value, "--on takes no value");
    const char *bare[] = {"--"};
    expect_usage(1, bare, "unexpected argument '--'");
    const char *single[] = {"-x"};
    expect_usage(1, single, "unexpected argument '-x'");
}

static void test_ctl_args_bounded(void **state)
{
    (void)state;
    const char *argv[2 * CTL_ARGS_MAX + 2];
    for (int i = 0; i < CTL_ARGS_MAX + 1; i++) {
        argv[2 * i] = "--type";
        argv[2 * i + 1] = "x";
    }
    expect_usage(2 * (CTL_ARGS_MAX + 1), argv, "too many options (at most 64)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ctl_args_forms),
        cmocka_unit_test(test_ctl_args_errors),
        cmocka_unit_test(test_ctl_args_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
