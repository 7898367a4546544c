/*
 * test_client_api.c: libledger's contract where no daemon is needed.
 * Goal: ledger_connect refuses bad options with the documented codes and
 * writes nothing on failure; key files are read strictly; requests to a
 * missing socket are UNREACHABLE with a message; command ids have the
 * documented form; checkpoint files round-trip, are replaced atomically and
 * malformed ones are refused. Method: calls against temporary files made
 * with mkdtemp under $LEDGER_TEST_TMP.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ledger.h"
#include "ledger_limits.h"

struct paths {
    char dir[256];
    char key[320];
    char checkpoint[320];
    char socket[340];
};

static int setup(void **state)
{
    struct paths *paths = calloc(1, sizeof *paths);
    const char *tmp = getenv("LEDGER_TEST_TMP");
    snprintf(paths->dir, sizeof paths->dir, "%s/client-api-XXXXXX", tmp != NULL ? tmp : "/tmp");
    if (mkdtemp(paths->dir) == NULL) {
        return -1;
    }
    snprintf(paths->key, sizeof paths->key, "%s/k.key", paths->dir);
    snprintf(paths->checkpoint, sizeof paths->checkpoint, "%s/feed.checkpoint", paths->dir);
    snprintf(paths->socket, sizeof paths->socket, "ipc://%s/none.sock", paths->dir);
    *state = paths;
    return 0;
}

static int teardown(void **state)
{
    struct paths *paths = *state;
    unlink(paths->key);
    unlink(paths->checkpoint);
    char temporary[400];
    snprintf(temporary, sizeof temporary, "%s.tmp", paths->checkpoint);
    unlink(temporary);
    rmdir(paths->dir);
    free(paths);
    return 0;
}

static void write_text(const char *path, const char *text)
{
    FILE *file = fopen(path, "w");
    assert_non_null(file);
    fputs(text, file);
    fclose(file);
}

static const char good_key[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n";

static void test_client_connect_options(void **state)
{
    struct paths *paths = *state;
    struct ledger_client *client = (struct ledger_client *)(uintptr_t)0x1;
    uint8_t secret[LEDGER_CLIENT_SECRET_BYTES] = {0};
    struct ledger_options options = {
        .request_url = paths->socket, .principal_id = "alice", .secret = secret};
    assert_int_equal(LEDGER_ERR_INVALID_ARGUMENT, ledger_connect(NULL, &client));
    struct ledger_options missing = options;
    missing.request_url = NULL;
    assert_int_equal(LEDGER_ERR_INVALID_ARGUMENT, ledger_connect(&missing, &client));
    missing = options;
    missing.principal_id = "bad id";
    assert_int_equal(LEDGER_ERR_INVALID_ARGUMENT, ledger_connect(&missing, &client));
    missing.principal_id = "";
    assert_int_equal(LEDGER_ERR_INVALID_ARGUMENT, ledger_connect(&missing, &client));
    missing.principal_id = "under_score"; /* the daemon refuses '_' in ids */
    assert_int_equal(LEDGER_ERR_INVALID_ARGUMENT, ledger_connect(&missing, &client));
    missing = options;
    missing.secret = NULL; /* neither secret nor key file */
    assert_int_equal(LEDGER_ERR_INVALID_ARGUMENT, ledger_connect(&missing, &client));
    missing.key_file = paths->key;
    missing.secret = secret; /* both */
    assert_int_equal(LEDGER_ERR_INVALID_ARGUMENT, ledger_connect(&missing, &client));
    missing = options;
    missing.request_url = "nonsense://x";
    assert_int_equal(LEDGER_ERR_UNREACHABLE, ledger_connect(&missing, &client));
    /* Out-pointer untouched by every failure. */
    assert_true(client == (struct ledger_client *)(uintptr_t)0x1);
    assert_int_equal(LEDGER_ERR_OK, ledger_connect(&options, &client));
    ledger_close(client);
    ledger_close(NULL);
}

static void test_client_key_files(void **state)
{
    struct paths *paths = *state;
    struct ledger_client *client = NULL;
    struct ledger_options options = {
        .request_url = paths->socket, .principal_id = "alice", .key_file = paths->key};
    assert_int_equal(LEDGER_ERR_IO_ERROR, ledger_connect(&options, &client)); /* no file */
    const char *bad[] = {
        "",
        "0011\n",
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeefg\n",
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff00\n",
        " 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_text(paths->key, bad[i]);
        assert_int_equal(LEDGER_ERR_IO_ERROR, ledger_connect(&options, &client));
    }
    assert_null(client);
    write_text(paths->key, good_key);
    assert_int_equal(LEDGER_ERR_OK, ledger_connect(&options, &client));
    ledger_close(client);
    /* Without the newline, and with CRLF, it is still the key. */
    write_text(paths->key, "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
    assert_int_equal(LEDGER_ERR_OK, ledger_connect(&options, &client));
    ledger_close(client);
    write_text(paths->key, "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\r\n");
    assert_int_equal(LEDGER_ERR_OK, ledger_connect(&options, &client));
    ledger_close(client);
}

static void test_client_unreachable(void **state)
{
    struct paths *paths = *state;
    uint8_t secret[LEDGER_CLIENT_SECRET_BYTES] = {1};
    struct ledger_options options = {.request_url = paths->socket,
                                     .principal_id = "alice",
                                     .secret = secret,
                                     .timeout_ms = 100,
                                     .retries = 1};
    struct ledger_client *client = NULL;
    assert_int_equal(LEDGER_ERR_OK, ledger_connect(&options, &client));
    Ledger__V1__HeadQuery head = LEDGER__V1__HEAD_QUERY__INIT;
    Ledger__V1__Query query = LEDGER__V1__QUERY__INIT;
    query.kind_case = LEDGER__V1__QUERY__KIND_HEAD;
    query.head = &head;
    Ledger__V1__QueryResult *result = (Ledger__V1__QueryResult *)(uintptr_t)0x1;
    assert_int_equal(LEDGER_ERR_UNREACHABLE, ledger_query(client, &query, &result));
    assert_true(result == (Ledger__V1__QueryResult *)(uintptr_t)0x1);
    assert_non_null(strstr(ledger_error_message(client), "none.sock"));

    Ledger__V1__Command command = LEDGER__V1__COMMAND__INIT;
    const Ledger__V1__Command *commands[1] = {&command};
    Ledger__V1__Reply *reply = NULL;
    assert_int_equal(LEDGER_ERR_INVALID_ARGUMENT, ledger_execute(client, commands, 0, &reply));
    const Ledger__V1__Command *nulls[1] = {NULL};
    assert_int_equal(LEDGER_ERR_INVALID_ARGUMENT, ledger_execute(client, nulls, 1, &reply));
    assert_int_equal(LEDGER_ERR_UNREACHABLE, ledger_execute(client, commands, 1, &reply));
    assert_null(reply);
    /* The caller's command is not modified by the id the library adds. */
    assert_string_equal("", command.command_id);
    ledger_close(client);
}

/* The client's id rule is the daemon's (codec_id_valid, test_codec): an id
 * the library accepts is never refused by the daemon for its form. */
static void test_client_id_rule(void **state)
{
    (void)state;
    char longest[LEDGER_ID_LENGTH_MAX + 2];
    memset(longest, 'a', sizeof longest);
    longest[LEDGER_ID_LENGTH_MAX] = '\0';
    assert_true(ledger_id_valid(longest));
    longest[LEDGER_ID_LENGTH_MAX] = 'a';
    longest[LEDGER_ID_LENGTH_MAX + 1] = '\0';
    assert_false(ledger_id_valid(longest));
    assert_true(ledger_id_valid("AZaz09.:@-"));
    assert_true(ledger_id_valid("user@contoso.com"));
    assert_false(ledger_id_valid(""));
    assert_false(ledger_id_valid(NULL));
    const char *bad[] = {"a b", "a/b", "a_b", "a\tb", "caf\xc3\xa9", "a\"b", "a;b", "a,b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(ledger_id_valid(bad[i]));
}

static void test_client_command_ids(void **state)
{
    (void)state;
    char first[LEDGER_CLIENT_COMMAND_ID_SIZE], second[LEDGER_CLIENT_COMMAND_ID_SIZE];
    ledger_command_id_new(first);
    ledger_command_id_new(second);
    assert_int_equal(34, strlen(first));
    assert_memory_equal("c-", first, 2);
    assert_int_equal(32, strspn(first + 2, "0123456789abcdef"));
    assert_string_not_equal(first, second);
}

static void test_client_checkpoints(void **state)
{
    struct paths *paths = *state;
    uint64_t sequence = 77;
    assert_int_equal(LEDGER_ERR_NOT_FOUND, ledger_checkpoint_read(paths->checkpoint, &sequence));
    assert_int_equal(77, sequence);
    assert_int_equal(LEDGER_ERR_OK, ledger_checkpoint_write(paths->checkpoint, 0));
    assert_int_equal(LEDGER_ERR_OK, ledger_checkpoint_read(paths->checkpoint, &sequence));
    assert_int_equal(0, sequence);
    assert_int_equal(LEDGER_ERR_OK, ledger_checkpoint_write(paths->checkpoint, UINT64_MAX));
    assert_int_equal(LEDGER_ERR_OK, ledger_checkpoint_read(paths->checkpoint, &sequence));
    assert_true(sequence == UINT64_MAX);
    assert_int_equal(LEDGER_ERR_OK, ledger_checkpoint_write(paths->checkpoint, 12345));
    assert_int_equal(LEDGER_ERR_OK, ledger_checkpoint_read(paths->checkpoint, &sequence));
    assert_int_equal(12345, sequence);
    /* No temporary file is left behind, and the file is private. */
    char temporary[400];
    snprintf(temporary, sizeof temporary, "%s.tmp", paths->checkpoint);
    struct stat info;
    assert_int_not_equal(0, stat(temporary, &info));
    assert_int_equal(0, stat(paths->checkpoint, &info));
    assert_int_equal(0600, info.st_mode & 0777);

    const char *bad[] = {"", "\n", "12a\n", "-1\n", "18446744073709551616\n", " 5\n", "1 2\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_text(paths->checkpoint, bad[i]);
        sequence = 5;
        assert_int_equal(LEDGER_ERR_IO_ERROR, ledger_checkpoint_read(paths->checkpoint, &sequence));
        assert_int_equal(5, sequence);
    }
    char unwritable[400];
    snprintf(unwritable, sizeof unwritable, "%s/no/such/dir/checkpoint", paths->dir);
    assert_int_equal(LEDGER_ERR_IO_ERROR, ledger_checkpoint_write(unwritable, 1));
    assert_int_equal(LEDGER_ERR_INVALID_ARGUMENT, ledger_checkpoint_write("", 1));
}

static void test_client_error_table_exported(void **state)
{
    (void)state;
    assert_string_equal("PERMISSION_OFF", ledger_err_name(LEDGER_ERR_PERMISSION_OFF));
    assert_true(strlen(ledger_strerror(LEDGER_ERR_ASK_PARTNER)) > 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_connect_options),
        cmocka_unit_test(test_client_key_files),
        cmocka_unit_test(test_client_unreachable),
        cmocka_unit_test(test_client_id_rule),
        cmocka_unit_test(test_client_command_ids),
        cmocka_unit_test(test_client_checkpoints),
        cmocka_unit_test(test_client_error_table_exported),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
