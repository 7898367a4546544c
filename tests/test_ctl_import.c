/*
 * test_ctl_import.c: ledgerctl import, the real binary against the real
 * daemon.
 * Goal: a file of write commands lands with the business times its lines
 * give; the same file run again records nothing and counts every line as
 * already there; a bad option on the last line, a read verb or a global
 * option in a line is a usage error naming the line, with nothing sent; a
 * line the daemon refuses in the second batch leaves the first batch
 * committed, names the line, and the corrected file run again resumes;
 * quotes and comments are read as sh reads them; --dry-run sends nothing;
 * "-" reads stdin; output that cannot be written says the import was done;
 * a batch larger than the daemon takes is refused saying to lower --batch.
 * Method: one ledgerd for the group (ctl_harness.h); each test writes its
 * file in the fixture's directory and works on a partner of its own; the
 * results are read back with the view verbs' JSON.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#define CTL_HARNESS_LABEL "ctl-import"
#include "ctl_harness.h"

/* Writes text to DIR/name; the path goes to path_out. */
static void write_text(struct fixture *fixture, const char *name, const char *text, char *path_out,
                       size_t path_size)
{
    snprintf(path_out, path_size, "%s/%s", fixture->dir, name);
    FILE *file = fopen(path_out, "w");
    assert_non_null(file);
    assert_int_equal(strlen(text), fwrite(text, 1, strlen(text), file));
    assert_int_equal(0, fclose(file));
}

/* The import summary's field (JSON output). */
static json_int_t summary_at(const struct run *run, const char *key)
{
    json_t *row = json_array_get(json_object_get(run->json, "import"), 0);
    if (row == NULL) {
        fail_msg("no import summary: %s %s", run->out, run->err);
    }
    return json_integer_value(json_object_get(row, key));
}

static void expect_stderr(const struct run *run, const char *part)
{
    if (strstr(run->err, part) == NULL) {
        fail_msg("stderr does not say '%s': %s", part, run->err);
    }
}

/* A partner of the test's own with its admin agent (key in key_out). */
static void partner_for(struct fixture *fixture, const char *partner, char *key_out, size_t size)
{
    char admin[64];
    snprintf(admin, sizeof admin, "%s-admin", partner);
    make_partner(fixture, partner, admin, key_out, size);
}

#define ADMIN(partner) partner "-admin"

/* Imports file (JSON output, --batch when batch is not NULL) and checks
 * that it succeeded with these counts. */
static void import_counts(struct fixture *fixture, const char *principal, const char *key,
                          const char *file, const char *batch, json_int_t committed,
                          json_int_t already_there)
{
    struct run run;
    ctl(fixture, &run, principal, key, "--output", "json", "import", "--file", file,
        batch != NULL ? "--batch" : NULL, batch, NULL);
    expect_ok(&run);
    assert_int_equal(committed, summary_at(&run, "committed"));
    assert_int_equal(already_there, summary_at(&run, "already_there"));
    run_free(&run);
}

/* How many reservations the customer has (the reservations view). */
static size_t reservation_count(struct fixture *fixture, const char *principal, const char *key,
                                const char *customer)
{
    struct run run;
    ctl(fixture, &run, principal, key, "--output", "json", "reservations", "--customer", customer,
        NULL);
    expect_ok(&run);
    size_t count = json_array_size(json_object_get(run.json, "reservations"));
    run_free(&run);
    return count;
}

static void test_import_history_and_rerun(void **state)
{
    struct fixture *fixture = *state;
    char key[PATH_SIZE], file[PATH_SIZE];
    partner_for(fixture, "p-hist", key, sizeof key);
    write_text(fixture, "history.txt",
               "# Fabrikam's history, as exported from the old system\n"
               "customer add --customer fabrikam --name \"O'Brien & Sons\" "
               "--business-time 2025-01-02T10:00:00Z\n"
               "\n"
               "subscription add --customer fabrikam --subscription sub-1 --offer azure-plan "
               "--business-time 2025-01-03T10:00:00Z   # the first one\n"
               "permission enable --customer fabrikam --kind reservations "
               "--business-time=2025-01-04T10:00:00Z\n"
               "reservation buy --customer fabrikam --subscription sub-1 --sku Standard_D2s_v3 "
               "--region westeurope --quantity 2 --term P1Y --billing upfront --scope shared "
               "--price 1200.00 --retail-price 1300.00 --currency USD "
               "--business-time 2025-03-01T10:00:00Z\n"
               "reservation buy --customer fabrikam --subscription sub-1 --sku Standard_D4s_v3 "
               "--region westeurope --quantity 1 --term P3Y --billing monthly --scope shared "
               "--price 3000.00 --retail-price 3300.00 --currency USD "
               "--business-time 2025-06-01T10:00:00Z --command-id legacy-order-77\n",
               file, sizeof file);
    struct run run;
    ctl(fixture, &run, ADMIN("p-hist"), key, "--output", "json", "import", "--file", file, NULL);
    expect_ok(&run);
    assert_int_equal(7, summary_at(&run, "lines"));
    assert_int_equal(5, summary_at(&run, "commands"));
    assert_int_equal(5, summary_at(&run, "committed"));
    assert_int_equal(0, summary_at(&run, "already_there"));
    json_int_t first = summary_at(&run, "first_sequence");
    json_int_t last = summary_at(&run, "last_sequence");
    assert_true(first > 0 && last >= first + 4);
    run_free(&run);

    ctl(fixture, &run, ADMIN("p-hist"), key, "--output", "json", "reservations", "--customer",
        "fabrikam", NULL);
    expect_ok(&run);
    json_t *rows = json_object_get(run.json, "reservations");
    assert_int_equal(2, json_array_size(rows));
    const char *starts[2] = {json_string_value(json_object_get(json_array_get(rows, 0), "starts")),
                             json_string_value(json_object_get(json_array_get(rows, 1), "starts"))};
    assert_non_null(starts[0]);
    assert_non_null(starts[1]);
    assert_true((strcmp(starts[0], "2025-03-01T10:00:00Z") == 0 &&
                 strcmp(starts[1], "2025-06-01T10:00:00Z") == 0) ||
                (strcmp(starts[1], "2025-03-01T10:00:00Z") == 0 &&
                 strcmp(starts[0], "2025-06-01T10:00:00Z") == 0));
    run_free(&run);
    ctl(fixture, &run, ADMIN("p-hist"), key, "--output", "json", "permissions", "--customer",
        "fabrikam", NULL);
    expect_ok(&run);
    assert_non_null(strstr(run.out, "\"changed\": \"2025-01-04T10:00:00Z\""));
    run_free(&run);
    /* The quoted name arrived whole, the comment did not. */
    ctl(fixture, &run, ADMIN("p-hist"), key, "--output", "json", "activity", "--customer",
        "fabrikam", NULL);
    expect_ok(&run);
    assert_non_null(strstr(run.out, "O'Brien & Sons"));
    assert_null(strstr(run.out, "the first one"));
    run_free(&run);
    /* The line's own id is used as given: sending it again is a duplicate. */
    ctl(fixture, &run, ADMIN("p-hist"), key, "--output", "json", "reservation", "buy", "--customer",
        "fabrikam", "--subscription", "sub-1", "--sku", "Standard_D4s_v3", "--region", "westeurope",
        "--quantity", "1", "--term", "P3Y", "--billing", "monthly", "--scope", "shared", "--price",
        "3000.00", "--retail-price", "3300.00", "--currency", "USD", "--business-time",
        "2025-06-01T10:00:00Z", "--command-id", "legacy-order-77", NULL);
    expect_ok(&run);
    assert_true(json_is_true(
        json_object_get(json_array_get(json_object_get(run.json, "results"), 0), "duplicate")));
    run_free(&run);

    /* A line's id is derived as docs/cli.md says: the permission line's,
     * computed by sh, is answered as a duplicate. */
    const char *hash_argv[] = {"/bin/sh", "-c",
                               "{ printf 'ledgerctl import 1\\0%s\\0' ''; printf '%s\\0' "
                               "permission enable --customer fabrikam --kind reservations "
                               "--business-time=2025-01-04T10:00:00Z; } | sha256sum | cut -c1-32",
                               NULL};
    run_argv(fixture, &run, hash_argv);
    expect_ok(&run);
    char id[80];
    snprintf(id, sizeof id, "imp-%.32s-1", run.out);
    run_free(&run);
    ctl(fixture, &run, ADMIN("p-hist"), key, "--output", "json", "permission", "enable",
        "--customer", "fabrikam", "--kind", "reservations", "--business-time",
        "2025-01-04T10:00:00Z", "--command-id", id, NULL);
    expect_ok(&run);
    assert_true(json_is_true(
        json_object_get(json_array_get(json_object_get(run.json, "results"), 0), "duplicate")));
    run_free(&run);

    /* Again: nothing new, every line already there, in any batch size. */
    import_counts(fixture, ADMIN("p-hist"), key, file, "2", 0, 5);
    assert_int_equal(2, reservation_count(fixture, ADMIN("p-hist"), key, "fabrikam"));
}

static void test_import_bad_last_line_sends_nothing(void **state)
{
    struct fixture *fixture = *state;
    char key[PATH_SIZE], file[PATH_SIZE];
    partner_for(fixture, "p-bad", key, sizeof key);
    write_text(fixture, "bad.txt",
               "customer add --customer c1 --name One\n"
               "customer add --customer c2 --name Two\n"
               "customer add --customer c3 --name Three --business-time 2025-13-01\n",
               file, sizeof file);
    struct run run;
    ctl(fixture, &run, ADMIN("p-bad"), key, "import", "--file", file, NULL);
    expect_error(&run, 2, "USAGE");
    expect_stderr(&run, "line 3: --business-time:");
    run_free(&run);
    /* Nothing was sent: the corrected file commits every line. */
    write_text(fixture, "bad.txt",
               "customer add --customer c1 --name One\n"
               "customer add --customer c2 --name Two\n"
               "customer add --customer c3 --name Three --business-time 2025-12-01\n",
               file, sizeof file);
    import_counts(fixture, ADMIN("p-bad"), key, file, NULL, 3, 0);
}

static void test_import_refused_in_second_batch(void **state)
{
    struct fixture *fixture = *state;
    char key[PATH_SIZE], file[PATH_SIZE];
    partner_for(fixture, "p-ref", key, sizeof key);
    const char *good = "customer add --customer c1 --name One\n"
                       "subscription add --customer c1 --subscription s1 --offer azure-plan\n"
                       "permission enable --customer c1 --kind reservations\n"
                       "# the second batch\n"
                       "reservation buy --customer c1 --subscription s1 --sku Standard_D2s_v3 "
                       "--region westeurope --quantity 1 --term P1Y --billing upfront --scope "
                       "shared --price 100.00 --retail-price 120.00 --currency USD\n";
    char text[2048];
    snprintf(text, sizeof text, "%spermission enable --customer c1 --kind reservations\n", good);
    write_text(fixture, "refused.txt", text, file, sizeof file);
    struct run run;
    ctl(fixture, &run, ADMIN("p-ref"), key, "import", "--file", file, "--batch", "3", NULL);
    expect_error(&run, 1, "PERMISSION_ALREADY_ON");
    expect_stderr(&run, "line 6 (command id imp-");
    expect_stderr(&run, "nothing of its batch (lines 5..6) was committed, the 3 commands before");
    run_free(&run);
    /* The first batch is there, the purchase of the second is not. */
    assert_int_equal(0, reservation_count(fixture, ADMIN("p-ref"), key, "c1"));
    /* Corrected and run again: it resumes. */
    write_text(fixture, "refused.txt", good, file, sizeof file);
    import_counts(fixture, ADMIN("p-ref"), key, file, "3", 1, 3);
    assert_int_equal(1, reservation_count(fixture, ADMIN("p-ref"), key, "c1"));
}

static void test_import_refuses_lines(void **state)
{
    struct fixture *fixture = *state;
    char key[PATH_SIZE], file[PATH_SIZE];
    partner_for(fixture, "p-lines", key, sizeof key);
    static const struct {
        const char *text;
        const char *said;
    } cases[] = {
        {"customer add --customer c1 --name One\nreservations --customer c1\n",
         "line 2: 'reservations' is not a write verb"},
        {"customer add --customer c1 --name One --principal other\n",
         "line 1: --principal is a global option"},
        {"--socket ipc:///x customer add --customer c1 --name One\n",
         "line 1: a line begins with its verb"},
        {"principal add --id x --role auditor --key-out x.key\n",
         "line 1: 'principal add' is not imported"},
        {"import --file other.txt\n", "line 1: an import file cannot import another"},
        {"customer remove --customer c1\n", "line 1: unknown verb 'customer remove'"},
        {"customer add --customer c1 --nmae One\n", "line 1: unknown option --nmae"},
        {"customer add --customer c1 --name 'One\n", "line 1: a single quote at column 35"},
        {"customer add --customer c1 --name $NAME\n", "line 1: '$' at column 35 is unquoted"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_text(fixture, "lines.txt", cases[i].text, file, sizeof file);
        struct run run;
        ctl(fixture, &run, ADMIN("p-lines"), key, "import", "--file", file, NULL);
        expect_error(&run, 2, "USAGE");
        expect_stderr(&run, cases[i].said);
        run_free(&run);
    }
    /* None of them sent anything: c1 is not there. */
    struct run run;
    ctl(fixture, &run, ADMIN("p-lines"), key, "reservations", "--customer", "c1", NULL);
    expect_error(&run, 1, "CUSTOMER_NOT_FOUND");
    run_free(&run);
    /* A line too long is named. */
    char *long_text = malloc(20000);
    assert_non_null(long_text);
    memset(long_text, 'a', 19998);
    long_text[19998] = '\n';
    long_text[19999] = '\0';
    write_text(fixture, "lines.txt", long_text, file, sizeof file);
    free(long_text);
    ctl(fixture, &run, ADMIN("p-lines"), key, "import", "--file", file, NULL);
    expect_error(&run, 2, "USAGE");
    expect_stderr(&run, "line 1: longer than 16384 bytes");
    run_free(&run);
}

static void test_import_dry_run_and_stdin(void **state)
{
    struct fixture *fixture = *state;
    char key[PATH_SIZE], file[PATH_SIZE];
    partner_for(fixture, "p-dry", key, sizeof key);
    write_text(fixture, "dry.txt",
               "customer add --customer c1 --name One\n"
               "customer add --customer c2 --name Two\n",
               file, sizeof file);
    struct run run;
    ctl(fixture, &run, ADMIN("p-dry"), key, "--output", "json", "import", "--file", file,
        "--dry-run", NULL);
    expect_ok(&run);
    assert_int_equal(2, summary_at(&run, "commands"));
    assert_int_equal(0, summary_at(&run, "committed"));
    assert_true(json_is_true(
        json_object_get(json_array_get(json_object_get(run.json, "import"), 0), "dry_run")));
    run_free(&run);
    ctl(fixture, &run, ADMIN("p-dry"), key, "reservations", "--customer", "c1", NULL);
    expect_error(&run, 1, "CUSTOMER_NOT_FOUND");
    run_free(&run);
    /* The same lines from stdin: committed now. */
    char command[4 * PATH_SIZE];
    snprintf(command, sizeof command,
             "exec '%s' --socket '%s' --principal p-dry-admin --key-file '%s' --output json "
             "import --file - < '%s'",
             ledgerctl_path(), fixture->socket, key, file);
    const char *argv[] = {"/bin/sh", "-c", command, NULL};
    run_argv(fixture, &run, argv);
    expect_ok(&run);
    assert_int_equal(2, summary_at(&run, "committed"));
    json_t *row = json_array_get(json_object_get(run.json, "import"), 0);
    assert_string_equal("stdin", json_string_value(json_object_get(row, "file")));
    run_free(&run);
}

/* A batch above the daemon's batch_commands_max (1000 by default) is
 * refused saying to lower --batch; the default batch sends the same file
 * in two requests. */
static void test_import_batch_too_large(void **state)
{
    struct fixture *fixture = *state;
    char key[PATH_SIZE], file[PATH_SIZE];
    partner_for(fixture, "p-many", key, sizeof key);
    size_t size = 1001 * 64;
    char *text = malloc(size);
    assert_non_null(text);
    size_t used = 0;
    for (int i = 0; i < 1001; i++) {
        used +=
            (size_t)snprintf(text + used, size - used, "customer add --customer c%d --name C\n", i);
    }
    write_text(fixture, "many.txt", text, file, sizeof file);
    free(text);
    struct run run;
    ctl(fixture, &run, ADMIN("p-many"), key, "import", "--file", file, "--batch", "1001", NULL);
    expect_error(&run, 1, "BATCH_TOO_LARGE");
    expect_stderr(&run, "lower --batch, or raise batch_commands_max");
    run_free(&run);
    import_counts(fixture, ADMIN("p-many"), key, file, NULL, 1001, 0);
}

/* Output that cannot be written once the file is imported says that it
 * was, and the file run again records nothing twice. */
static void test_import_output_failure_says_done(void **state)
{
    struct fixture *fixture = *state;
    char key[PATH_SIZE], file[PATH_SIZE];
    partner_for(fixture, "p-full", key, sizeof key);
    write_text(fixture, "full.txt",
               "customer add --customer c1 --name One\ncustomer add --customer c2 --name Two\n",
               file, sizeof file);
    struct run run;
    fixture->stdout_path = "/dev/full";
    ctl(fixture, &run, ADMIN("p-full"), key, "import", "--file", file, NULL);
    fixture->stdout_path = NULL;
    expect_error(&run, 1, "IO_ERROR");
    expect_stderr(&run, "the import was done all the same (2 commands committed, 0 already there)");
    run_free(&run);
    import_counts(fixture, ADMIN("p-full"), key, file, NULL, 0, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_import_history_and_rerun),
        cmocka_unit_test(test_import_bad_last_line_sends_nothing),
        cmocka_unit_test(test_import_refused_in_second_batch),
        cmocka_unit_test(test_import_refuses_lines),
        cmocka_unit_test(test_import_dry_run_and_stdin),
        cmocka_unit_test(test_import_output_failure_says_done),
        cmocka_unit_test(test_import_batch_too_large),
    };
    return cmocka_run_group_tests(tests, fixture_setup, fixture_teardown);
}
