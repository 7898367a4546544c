/*
 * test_tool_daemon.c: what the measuring tools share beside the daemon they
 * start (tools/tool_daemon.h): reading a principal's secret from the hex an
 * AddPrincipal's result carries.
 * Goal: 64 hex digits, in either case, give the 32 bytes they spell; a
 * missing, short, long or non-hex secret is refused and leaves the output as
 * it was.
 * Method: decode strings built for each case.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tool_daemon.h"

#define SECRET_HEX_DIGITS (2 * LEDGER_CLIENT_SECRET_BYTES)

static void test_tool_daemon_secret_from_hex(void **state)
{
    (void)state;
    char hex[SECRET_HEX_DIGITS + 1];
    for (size_t i = 0; i < LEDGER_CLIENT_SECRET_BYTES; i++)
        memcpy(hex + 2 * i, i % 2 == 0 ? "0f" : "A9", 2);
    hex[SECRET_HEX_DIGITS] = '\0';
    uint8_t secret[LEDGER_CLIENT_SECRET_BYTES];
    assert_true(tool_secret_from_hex(hex, secret));
    for (size_t i = 0; i < LEDGER_CLIENT_SECRET_BYTES; i++)
        assert_int_equal(i % 2 == 0 ? 0x0f : 0xa9, secret[i]);
}

static void test_tool_daemon_secret_from_hex_refuses(void **state)
{
    (void)state;
    char hex[SECRET_HEX_DIGITS + 2];
    memset(hex, '7', SECRET_HEX_DIGITS);
    hex[SECRET_HEX_DIGITS] = '\0';
    uint8_t secret[LEDGER_CLIENT_SECRET_BYTES], before[LEDGER_CLIENT_SECRET_BYTES];
    memset(secret, 0x5a, sizeof secret);
    memcpy(before, secret, sizeof before);

    assert_false(tool_secret_from_hex(NULL, secret));
    assert_false(tool_secret_from_hex("", secret));
    hex[SECRET_HEX_DIGITS - 1] = '\0'; /* one digit short */
    assert_false(tool_secret_from_hex(hex, secret));
    hex[SECRET_HEX_DIGITS - 1] = '7';
    hex[SECRET_HEX_DIGITS] = '7'; /* one digit long */
    hex[SECRET_HEX_DIGITS + 1] = '\0';
    assert_false(tool_secret_from_hex(hex, secret));
    hex[SECRET_HEX_DIGITS] = '\0';
    hex[SECRET_HEX_DIGITS - 1] = 'g'; /* the last digit is not hex */
    assert_false(tool_secret_from_hex(hex, secret));
    assert_memory_equal(before, secret, sizeof secret);

    hex[SECRET_HEX_DIGITS - 1] = '7';
    assert_true(tool_secret_from_hex(hex, secret));
    assert_int_equal(0x77, secret[LEDGER_CLIENT_SECRET_BYTES - 1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tool_daemon_secret_from_hex),
        cmocka_unit_test(test_tool_daemon_secret_from_hex_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
