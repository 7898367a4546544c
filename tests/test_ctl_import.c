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
 * a batch larger than the daemon takes is refused saying to lower --batch;
 * Ctrl-C stops it once the batch in flight is answered, with the summary of
 * a prefix of whole batches, a second signal at once, and the file run
 * again finishes it; a batch whose reply never comes is said to be perhaps
 * committed, and the file run again counts it as already there; CRLF line
 * ends read as LF ones (the longest line too); a NUL byte, a file that
 * cannot be opened or read, a --batch out of range, no daemon and a key
 * that is not the principal's are refused saying so, with nothing sent.
 * Method: one ledgerd for the group (ctl_harness.h); each test writes its
 * file in the fixture's directory and works on a partner of its own; the
 * results are read back with the view verbs' JSON. A reply proxy
 * (support/reply_proxy.h) between ledgerctl and the daemon holds a reply
 * back on cue: the moment a batch is in flight is the test's, not the
 * machine's speed.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
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
#include "reply_proxy.h"

/* How long the proxy waits for one of the daemon's replies, and the test
 * for what it waits on (a held reply, a signal taken): only a failure waits
 * that long. */
#define PROXY_REPLY_WAIT_MS 30000
#define CONDITION_WAIT_S    60

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
        {"customer add --customer c1 --name One --partner=p-lines\n",
         "line 1: --partner is a global option: give it on the import's own command line"},
        {"customer add --customer c1 --name One --help\n",
         "line 1: --help is no command: remove it"},
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
    /* --help on the command line says what the file holds, and sends
     * nothing. */
    ctl(fixture, &run, ADMIN("p-lines"), key, "import", "--help", NULL);
    expect_ok(&run);
    if (strstr(run.out, "The file holds one write command a line, as typed after 'ledgerctl'") ==
        NULL) {
        fail_msg("import --help does not describe the file: %s", run.out);
    }
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

/* Writes size bytes (NUL bytes among them) to DIR/name; the path goes to
 * path_out. */
static void write_bytes(struct fixture *fixture, const char *name, const char *bytes, size_t size,
                        char *path_out, size_t path_size)
{
    snprintf(path_out, path_size, "%s/%s", fixture->dir, name);
    FILE *file = fopen(path_out, "wb");
    assert_non_null(file);
    assert_int_equal(size, fwrite(bytes, 1, size, file));
    assert_int_equal(0, fclose(file));
}

/* A file written with CRLF line ends is read as the same lines: it commits,
 * and the same file with LF line ends gets the same command ids (every line
 * answered as already there, which a carriage return left in a line's last
 * word would change); a final line without a line end is a line. */
static void test_import_crlf_lines_are_the_same_lines(void **state)
{
    struct fixture *fixture = *state;
    char key[PATH_SIZE], file[PATH_SIZE];
    partner_for(fixture, "p-crlf", key, sizeof key);
    write_text(fixture, "crlf.txt",
               "# written on Windows\r\n"
               "customer add --customer c1 --name One\r\n"
               "\r\n"
               "customer add --customer c2 --name Two",
               file, sizeof file);
    import_counts(fixture, ADMIN("p-crlf"), key, file, NULL, 2, 0);
    write_text(fixture, "crlf.txt",
               "customer add --customer c1 --name One\ncustomer add --customer c2 --name Two\n",
               file, sizeof file);
    import_counts(fixture, ADMIN("p-crlf"), key, file, NULL, 0, 2);
}

/* A file that is not one of text lines, cannot be opened or cannot be read
 * is refused naming the line or the file and why, with nothing sent; so is
 * a --batch outside 1..LEDGER_BATCH_COMMANDS_MAX. */
static void test_import_refuses_unreadable_files(void **state)
{
    struct fixture *fixture = *state;
    char key[PATH_SIZE], file[PATH_SIZE], says[2 * PATH_SIZE];
    partner_for(fixture, "p-unread", key, sizeof key);
    static const char nul_text[] = "customer add --customer c1 --name One\n"
                                   "customer add --customer c2 --name T\0wo\n";
    write_bytes(fixture, "nul.txt", nul_text, sizeof nul_text - 1, file, sizeof file);
    struct run run;
    ctl(fixture, &run, ADMIN("p-unread"), key, "import", "--file", file, NULL);
    expect_error(&run, 2, "USAGE");
    snprintf(says, sizeof says,
             "error: USAGE: line 2: holds a NUL byte; is %s a text file of ledgerctl commands?\n",
             file);
    assert_string_equal(says, run.err);
    assert_string_equal("", run.out);
    run_free(&run);
    /* A directory opens, and cannot be read. */
    ctl(fixture, &run, ADMIN("p-unread"), key, "import", "--file", fixture->dir, NULL);
    expect_error(&run, 1, "IO_ERROR");
    snprintf(says, sizeof says, "error: IO_ERROR: cannot read %s: Is a directory\n", fixture->dir);
    assert_string_equal(says, run.err);
    assert_string_equal("", run.out);
    run_free(&run);
    ctl(fixture, &run, ADMIN("p-unread"), key, "import", "--file", "no-such-file.txt", NULL);
    expect_error(&run, 1, "IO_ERROR");
    assert_string_equal(
        "error: IO_ERROR: cannot open no-such-file.txt: No such file or directory\n", run.err);
    run_free(&run);
    /* --batch 0 would send nothing, forever; one above the most a request
     * may carry is refused before the file is read. */
    write_text(fixture, "good.txt", "customer add --customer c1 --name One\n", file, sizeof file);
    const char *batches[] = {"0", "100001", "-1", "ten"};
    for (size_t i = 0; i < sizeof batches / sizeof batches[0]; i++) {
        ctl(fixture, &run, ADMIN("p-unread"), key, "import", "--file", file, "--batch", batches[i],
            NULL);
        expect_error(&run, 2, "USAGE");
        assert_string_equal("error: USAGE: --batch: give 1..100000 commands\n", run.err);
        run_free(&run);
    }
    /* Nothing of it was sent: c1 is not there. */
    ctl(fixture, &run, ADMIN("p-unread"), key, "reservations", "--customer", "c1", NULL);
    expect_error(&run, 1, "CUSTOMER_NOT_FOUND");
    run_free(&run);
}

/* An import that cannot be sent (no daemon at the socket) or is refused
 * as a whole (a key file that is not the principal's) is exit status 3,
 * saying that nothing of its lines was committed and to run the file again
 * once that is solved; the file run again then commits every line. */
static void test_import_not_sent(void **state)
{
    struct fixture *fixture = *state;
    char key[PATH_SIZE], other_key[PATH_SIZE], file[PATH_SIZE], socket[PATH_SIZE + 32];
    partner_for(fixture, "p-unsent", key, sizeof key);
    partner_for(fixture, "p-unsent-other", other_key, sizeof other_key);
    write_text(fixture, "unsent.txt",
               "customer add --customer c1 --name One\ncustomer add --customer c2 --name Two\n",
               file, sizeof file);
    struct run run;
    ctl(fixture, &run, ADMIN("p-unsent"), other_key, "import", "--file", file, NULL);
    expect_error(&run, 3, "BAD_SIGNATURE");
    expect_stderr(&run, "nothing of lines 1..2 was committed, the 0 commands before them were; "
                        "run the file again once this is solved");
    expect_stderr(&run, "this key file is not the principal's");
    run_free(&run);
    snprintf(socket, sizeof socket, "ipc://%s/no-daemon.sock", fixture->dir);
    ctl(fixture, &run, NULL, NULL, "--socket", socket, "--principal", ADMIN("p-unsent"),
        "--key-file", key, "import", "--file", file, NULL);
    expect_error(&run, 3, "UNREACHABLE");
    expect_stderr(&run, "no daemon socket at ");
    run_free(&run);
    import_counts(fixture, ADMIN("p-unsent"), key, file, NULL, 2, 0);
}

/* A line of exactly 16384 bytes is taken whatever its line end (LF, or
 * CRLF, whose CR is part of the line end, not of the line); one byte more
 * is refused naming the line, with either. */
static void test_import_longest_line(void **state)
{
    struct fixture *fixture = *state;
    char key[PATH_SIZE], file[PATH_SIZE];
    partner_for(fixture, "p-longest", key, sizeof key);
    static const char *const ends[] = {"\n", "\r\n"};
    const char *const customers[] = {"c-lf", "c-crlf"};
    size_t size = 16385 + 128;
    char *text = malloc(size);
    assert_non_null(text);
    for (size_t i = 0; i < sizeof ends / sizeof ends[0]; i++) {
        /* A comment of 16384 bytes, then a command. */
        memset(text, '#', 16384);
        snprintf(text + 16384, size - 16384, "%scustomer add --customer %s --name Long%s", ends[i],
                 customers[i], ends[i]);
        write_text(fixture, "longest.txt", text, file, sizeof file);
        import_counts(fixture, ADMIN("p-longest"), key, file, NULL, 1, 0);
        memset(text, '#', 16385);
        snprintf(text + 16385, size - 16385, "%s", ends[i]);
        write_text(fixture, "longest.txt", text, file, sizeof file);
        struct run run;
        ctl(fixture, &run, ADMIN("p-longest"), key, "import", "--file", file, NULL);
        expect_error(&run, 2, "USAGE");
        expect_stderr(&run, "line 1: longer than 16384 bytes");
        run_free(&run);
    }
    free(text);
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

/* Holds the replies from the (pass + 1)-th on, each until released. */
struct gate {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    unsigned long pass;
    unsigned long seen;
    bool holding;  /* a reply is held now */
    bool released; /* pass every reply from now on */
};

static void gate_reply(void *context, const Ledger__V1__SignedRequest *request,
                       Ledger__V1__Reply *reply)
{
    (void)request;
    (void)reply;
    struct gate *gate = context;
    pthread_mutex_lock(&gate->lock);
    if (++gate->seen > gate->pass && !gate->released) {
        gate->holding = true;
        pthread_cond_broadcast(&gate->changed);
        while (!gate->released) {
            pthread_cond_wait(&gate->changed, &gate->lock);
        }
        gate->holding = false;
    }
    pthread_mutex_unlock(&gate->lock);
}

static void gate_wait_held(struct gate *gate)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += CONDITION_WAIT_S;
    pthread_mutex_lock(&gate->lock);
    int waited = 0;
    while (!gate->holding && waited != ETIMEDOUT) {
        waited = pthread_cond_timedwait(&gate->changed, &gate->lock, &deadline);
    }
    bool holding = gate->holding;
    pthread_mutex_unlock(&gate->lock);
    assert_true(holding);
}

static void gate_release(struct gate *gate)
{
    pthread_mutex_lock(&gate->lock);
    gate->released = true;
    pthread_cond_broadcast(&gate->changed);
    pthread_mutex_unlock(&gate->lock);
}

/* A reply proxy in front of the fixture's daemon, holding the replies
 * after the first `pass`. */
struct held {
    struct gate gate;
    struct reply_proxy *proxy;
    char url[PATH_SIZE];
};

static void held_start(struct fixture *fixture, struct held *held, const char *name,
                       unsigned long pass)
{
    memset(held, 0, sizeof *held);
    pthread_mutex_init(&held->gate.lock, NULL);
    pthread_cond_init(&held->gate.changed, NULL);
    held->gate.pass = pass;
    snprintf(held->url, sizeof held->url, "ipc://%s/%s.sock", fixture->dir, name);
    held->proxy = reply_proxy_start(held->url, fixture->socket, PROXY_REPLY_WAIT_MS);
    assert_non_null(held->proxy);
    reply_proxy_set(held->proxy, gate_reply, &held->gate);
}

static void held_stop(struct held *held)
{
    gate_release(&held->gate);
    reply_proxy_stop(held->proxy);
    pthread_cond_destroy(&held->gate.changed);
    pthread_mutex_destroy(&held->gate.lock);
}

/* An import run on a thread of its own through sh, which writes its pid
 * (ledgerctl's, after exec) to pid_path first. */
struct background {
    struct fixture *fixture;
    char command[4 * PATH_SIZE];
    char pid_path[PATH_SIZE + 16];
    struct run run;
    pthread_t thread;
};

static void *background_main(void *context)
{
    struct background *background = context;
    const char *argv[] = {"/bin/sh", "-c", background->command, NULL};
    run_argv(background->fixture, &background->run, argv);
    return NULL;
}

/* Imports FILE through the proxy at url, --batch 2, JSON output, on a
 * thread: the pid of its ledgerctl is returned once written. */
static pid_t background_import(struct fixture *fixture, struct background *background,
                               const char *url, const char *principal, const char *key,
                               const char *file)
{
    memset(background, 0, sizeof *background);
    background->fixture = fixture;
    snprintf(background->pid_path, sizeof background->pid_path, "%s/import.pid", fixture->dir);
    unlink(background->pid_path);
    int wrote = snprintf(
        background->command, sizeof background->command,
        "echo $$ > '%s.new' && mv '%s.new' '%s' && exec '%s' --socket '%s' --principal '%s' "
        "--key-file '%s' --timeout-ms 60000 --output json import --file '%s' --batch 2",
        background->pid_path, background->pid_path, background->pid_path, ledgerctl_path(), url,
        principal, key, file);
    assert_true(wrote > 0 && (size_t)wrote < sizeof background->command);
    assert_int_equal(0, pthread_create(&background->thread, NULL, background_main, background));
    char *text = NULL;
    for (int waited_ms = 0; text == NULL && waited_ms < CONDITION_WAIT_S * 1000; waited_ms += 10) {
        text = access(background->pid_path, F_OK) == 0 ? read_file(background->pid_path) : NULL;
        if (text == NULL) {
            sleep_ms(10);
        }
    }
    assert_non_null(text);
    pid_t pid = (pid_t)atol(text);
    free(text);
    assert_true(pid > 0);
    fixture->follower = pid;
    return pid;
}

static void background_finish(struct fixture *fixture, struct background *background)
{
    pthread_join(background->thread, NULL);
    fixture->follower = 0;
}

/* Sends the signal and waits until the process has taken it: no longer
 * pending (/proc/PID/status), so handled. */
static void signal_taken(pid_t pid, int signal_number)
{
    assert_int_equal(0, kill(pid, signal_number));
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
    unsigned long long bit = 1ULL << (signal_number - 1);
    for (int waited_ms = 0; waited_ms < CONDITION_WAIT_S * 1000; waited_ms += 5) {
        char *status = read_file(path);
        if (status == NULL) {
            return; /* gone */
        }
        unsigned long long pending = 0, shared = 0;
        const char *at = strstr(status, "\nSigPnd:");
        const char *shared_at = strstr(status, "\nShdPnd:");
        bool read = at != NULL && shared_at != NULL && sscanf(at + 8, "%llx", &pending) == 1 &&
                    sscanf(shared_at + 8, "%llx", &shared) == 1;
        free(status);
        if (read && ((pending | shared) & bit) == 0) {
            return;
        }
        sleep_ms(5);
    }
    fail_msg("signal %d still pending for %ld", signal_number, (long)pid);
}

/* Writes `count` lines adding customers c1..c<count>. */
static void customers_file(struct fixture *fixture, const char *name, int count, char *path,
                           size_t path_size)
{
    size_t size = (size_t)count * 48 + 1;
    char *text = malloc(size);
    assert_non_null(text);
    size_t used = 0;
    for (int i = 1; i <= count; i++) {
        used +=
            (size_t)snprintf(text + used, size - used, "customer add --customer c%d --name C\n", i);
    }
    write_text(fixture, name, text, path, path_size);
    free(text);
}

/* Whether customer c<number> was added. */
static bool customer_there(struct fixture *fixture, const char *principal, const char *key,
                           json_int_t number)
{
    char customer[32];
    snprintf(customer, sizeof customer, "c%lld", (long long)number);
    struct run run;
    ctl(fixture, &run, principal, key, "reservations", "--customer", customer, NULL);
    bool there = run.status == 0;
    if (!there) {
        expect_error(&run, 1, "CUSTOMER_NOT_FOUND");
    }
    run_free(&run);
    return there;
}

#define INTERRUPTED_LINES 3000

/* Checks an interrupted import's summary and stderr, that what was
 * committed is c1..cN in whole batches of 2, at least `least`, and that the
 * file run again finishes it, with `extra` more already there (a batch
 * given up on but committed). */
static void expect_interrupted(struct fixture *fixture, const struct run *run,
                               const char *principal, const char *key, const char *file,
                               json_int_t least, json_int_t extra)
{
    assert_int_equal(1, run->status);
    assert_null(strstr(run->err, "error:"));
    assert_int_equal(INTERRUPTED_LINES, summary_at(run, "commands"));
    json_int_t committed = summary_at(run, "committed");
    assert_true(committed >= least && committed < INTERRUPTED_LINES - extra);
    assert_int_equal(0, committed % 2);
    assert_int_equal(0, summary_at(run, "already_there"));
    char said[160];
    snprintf(said, sizeof said,
             "interrupted after line %lld: %lld commands committed; run the same file again "
             "to finish (what was committed is answered as already there)\n",
             (long long)committed, (long long)committed);
    expect_stderr(run, said);
    assert_true(customer_there(fixture, principal, key, committed));
    assert_true(extra == 0 || customer_there(fixture, principal, key, committed + extra));
    assert_false(customer_there(fixture, principal, key, committed + extra + 1));
    import_counts(fixture, principal, key, file, NULL, INTERRUPTED_LINES - committed - extra,
                  committed + extra);
}

/* Imports INTERRUPTED_LINES customers for partner (its key in key_out)
 * through a proxy holding the replies after the first `pass`, with --batch
 * 2, and sends SIGINT once a reply is held: then releases it, or with
 * `twice` sends SIGTERM too and waits for the import to end while it is
 * still held. The run goes to run, the file's path to file. */
static void import_interrupted(struct fixture *fixture, const char *partner, unsigned long pass,
                               bool twice, char key[PATH_SIZE], char file[PATH_SIZE],
                               struct run *run)
{
    char name[64], admin[64];
    snprintf(name, sizeof name, "%s.txt", partner);
    snprintf(admin, sizeof admin, "%s-admin", partner);
    partner_for(fixture, partner, key, PATH_SIZE);
    customers_file(fixture, name, INTERRUPTED_LINES, file, PATH_SIZE);
    struct held held;
    held_start(fixture, &held, partner, pass);
    struct background background;
    pid_t pid = background_import(fixture, &background, held.url, admin, key, file);
    gate_wait_held(&held.gate);
    signal_taken(pid, SIGINT);
    if (twice) {
        assert_int_equal(0, kill(pid, SIGTERM));
    } else {
        gate_release(&held.gate);
    }
    background_finish(fixture, &background);
    held_stop(&held);
    *run = background.run;
}

/* Ctrl-C while a batch's reply is awaited: that batch is answered and
 * counted, then the import stops with its summary. */
static void test_import_interrupted(void **state)
{
    struct fixture *fixture = *state;
    char key[PATH_SIZE], file[PATH_SIZE];
    struct run run;
    import_interrupted(fixture, "p-int", 5, false, key, file, &run);
    /* The 6th reply, held while the signal came, was waited for. */
    expect_interrupted(fixture, &run, ADMIN("p-int"), key, file, 12, 0);
    run_free(&run);
}

/* A second signal stops at once, giving up the batch in flight: it may
 * have been committed (here it was: its reply is only held). */
static void test_import_interrupted_twice(void **state)
{
    struct fixture *fixture = *state;
    char key[PATH_SIZE], file[PATH_SIZE];
    struct run run;
    import_interrupted(fixture, "p-int2", 3, true, key, file, &run);
    expect_stderr(&run, "interrupted again while waiting for the reply to lines 7..8, which may "
                        "have been committed; interrupted after line 6: ");
    expect_interrupted(fixture, &run, ADMIN("p-int2"), key, file, 6, 2);
    run_free(&run);
}

/* A batch whose reply never comes may have been committed: the message
 * says so, and the file run again counts it as already there. */
static void test_import_reply_never_comes(void **state)
{
    struct fixture *fixture = *state;
    char key[PATH_SIZE], file[PATH_SIZE];
    partner_for(fixture, "p-lost", key, sizeof key);
    customers_file(fixture, "lost.txt", 6, file, sizeof file);
    struct held held;
    held_start(fixture, &held, "proxy-lost", 1);
    struct run run;
    ctl(fixture, &run, NULL, NULL, "--socket", held.url, "--principal", ADMIN("p-lost"),
        "--key-file", key, "--timeout-ms", "300", "--retries", "0", "import", "--file", file,
        "--batch", "2", NULL);
    expect_error(&run, 3, "TIMEOUT");
    expect_stderr(&run, "the batch of lines 3..4 may have been committed, the 2 commands before it "
                        "were; running the file again is safe: what was committed is answered "
                        "as already there, never recorded twice");
    run_free(&run);
    gate_release(&held.gate);
    ctl(fixture, &run, NULL, NULL, "--socket", held.url, "--principal", ADMIN("p-lost"),
        "--key-file", key, "--output", "json", "import", "--file", file, "--batch", "2", NULL);
    held_stop(&held);
    expect_ok(&run);
    assert_int_equal(2, summary_at(&run, "committed"));
    assert_int_equal(4, summary_at(&run, "already_there"));
    run_free(&run);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_import_history_and_rerun),
        cmocka_unit_test(test_import_bad_last_line_sends_nothing),
        cmocka_unit_test(test_import_refused_in_second_batch),
        cmocka_unit_test(test_import_refuses_lines),
        cmocka_unit_test(test_import_dry_run_and_stdin),
        cmocka_unit_test(test_import_crlf_lines_are_the_same_lines),
        cmocka_unit_test(test_import_refuses_unreadable_files),
        cmocka_unit_test(test_import_not_sent),
        cmocka_unit_test(test_import_longest_line),
        cmocka_unit_test(test_import_output_failure_says_done),
        cmocka_unit_test(test_import_batch_too_large),
        cmocka_unit_test(test_import_interrupted),
        cmocka_unit_test(test_import_interrupted_twice),
        cmocka_unit_test(test_import_reply_never_comes),
    };
    return cmocka_run_group_tests(tests, fixture_setup, fixture_teardown);
}
