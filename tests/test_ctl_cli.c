/*
 * test_ctl_cli.c: ledgerctl, the real binary, against the real daemon.
 * Goal: every verb family gives the documented exit status (0 success, 1
 * refused, 2 usage, 3 unreachable or authentication failed), the documented
 * error line on stderr ("error: CODE: message") and JSON document on stdout,
 * and the documented JSON fields; key files are written 0600 and secrets
 * never printed; retries with one command id are answered as duplicates (a
 * retried principal add, whose secret is not sent again, fails saying so);
 * the LEDGER_* variables stand in for the connection options, which win
 * over them; the events feed is one object per line, gapless, and resumes
 * from a checkpoint, and with no event left is its header alone in a table
 * or CSV; the demo fills every view.
 * Method: one ledgerd per test group on a private data directory (mkdtemp
 * under $LEDGER_TEST_TMP); ledgerctl is run with fork/exec and its output
 * captured in files; JSON output is parsed with jansson (test code only).
 * Each test works on partners of its own so the tests stay independent.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#define CTL_HARNESS_LABEL "ctl-cli"
#include "ctl_harness.h"
#include "test_util.h"

/* ------------------------------------------------------------------------ */

static void test_ctl_cli_usage_errors(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    ctl(fixture, &run, NULL, NULL, "reservations", NULL);
    expect_error(&run, 2, "USAGE");
    assert_non_null(strstr(run.err, "--customer"));
    run_free(&run);

    ctl(fixture, &run, NULL, NULL, "--output", "json", "reservation", "buy", "--customer", "c",
        "--subscription", "s", "--sku", "x", "--region", "r", "--quantity", "1", "--term", "P1Y",
        "--billing", "monthly", "--scope", "shared", "--price", "12.345", "--retail-price", "1",
        "--currency", "USD", NULL);
    expect_error(&run, 2, "USAGE");
    assert_non_null(strstr(run.err, "--price: '12.345': USD has 2 decimal places"));
    expect_json_error(&run, "USAGE");
    run_free(&run);

    ctl(fixture, &run, NULL, NULL, "reservation", "buy", "--customer", "c", "--subscription", "s",
        "--sku", "x", "--region", "r", "--quantity", "1", "--term", "P2Y", "--billing", "monthly",
        "--scope", "shared", "--price", "1", "--retail-price", "1", "--currency", "USD", NULL);
    expect_error(&run, 2, "USAGE");
    assert_non_null(strstr(run.err, "--term: 'P2Y' is not one of P1Y|P3Y|P5Y"));
    run_free(&run);
    /* A currency of the right shape that ISO 4217 does not list: a typo. */
    ctl(fixture, &run, NULL, NULL, "reservation", "buy", "--customer", "c", "--subscription", "s",
        "--sku", "x", "--region", "r", "--quantity", "1", "--term", "P1Y", "--billing", "monthly",
        "--scope", "shared", "--price", "1", "--retail-price", "1", "--currency", "UDS", NULL);
    expect_error(&run, 2, "USAGE");
    assert_non_null(strstr(run.err, "--currency: not a currency of ISO 4217's list"));
    run_free(&run);

    /* An id the daemon would refuse is refused here, with the rule. */
    ctl(fixture, &run, NULL, NULL, "orders", "--customer", "under_score", NULL);
    expect_error(&run, 2, "USAGE");
    assert_non_null(
        strstr(run.err, "--customer: an id is 1..64 characters of A-Z a-z 0-9 . : @ -"));
    run_free(&run);
    ctl(fixture, &run, NULL, NULL, "export", "--month", "2026-01", "--customer", "c_1", NULL);
    expect_error(&run, 2, "USAGE");
    assert_non_null(strstr(run.err, "--customer: an id is 1..64 characters"));
    run_free(&run);

    ctl(fixture, &run, NULL, NULL, "orders", "--customer", "c", "--from", "2026-02-30", NULL);
    expect_error(&run, 2, "USAGE");
    assert_non_null(strstr(run.err, "--from:"));
    run_free(&run);

    /* --from is the first sequence printed: there is no sequence 0, as
     * for --seq and --as-of; nothing is sent. */
    ctl(fixture, &run, NULL, NULL, "events", "--from", "0", NULL);
    expect_error(&run, 2, "USAGE");
    assert_non_null(strstr(run.err, "--from: sequences start at 1"));
    run_free(&run);
    ctl(fixture, &run, NULL, NULL, "reservations", "--customer", "c", "--as-of", "0", NULL);
    expect_error(&run, 2, "USAGE");
    assert_non_null(strstr(run.err, "--as-of: sequences start at 1"));
    run_free(&run);
    /* Nor is the epoch a time to answer as of: the wire would read it as
     * "not given" and answer with now. */
    ctl(fixture, &run, NULL, NULL, "reservations", "--customer", "c", "--as-of",
        "1970-01-01T00:00:00Z", NULL);
    expect_error(&run, 2, "USAGE");
    assert_non_null(strstr(run.err, "--as-of: '1970-01-01T00:00:00Z' is the epoch"));
    run_free(&run);

    ctl(fixture, &run, NULL, NULL, "frobnicate", NULL);
    expect_error(&run, 2, "USAGE");
    run_free(&run);
    ctl(fixture, &run, NULL, NULL, "permission", "enable", "--customer", "c", "--kind", "x",
        "--bogus", NULL);
    expect_error(&run, 2, "USAGE");
    assert_non_null(
        strstr(run.err, "unknown option --bogus; see ledgerctl permission enable --help"));
    run_free(&run);
    ctl(fixture, &run, NULL, NULL, "reservation", "renew", "--customer", "c", "--reservation", "r",
        "--on", "--off", NULL);
    expect_error(&run, 2, "USAGE");
    run_free(&run);
    ctl(fixture, &run, NULL, NULL, "billing", "--month", "2026-13", NULL);
    expect_error(&run, 2, "USAGE");
    run_free(&run);
    ctl(fixture, &run, NULL, NULL, "customer", "add", "--customer", "bad id!", "--name", "x", NULL);
    expect_error(&run, 2, "USAGE");
    run_free(&run);

    /* Global options are checked before anything is sent. */
    static const struct {
        const char *option, *value, *says;
    } globals[] = {
        {"--output", "xml", "--output: one of table, json, csv"},
        {"--principal", "bad id!", "--principal: an id is 1..64 characters"},
        {"--timeout-ms", "0", "--timeout-ms: give 1..3600000 milliseconds"},
        {"--retries", "101", "--retries: "},
        {"--partner", "p_1", "--partner: an id is 1..64 characters"},
    };
    for (size_t i = 0; i < sizeof globals / sizeof globals[0]; i++) {
        ctl(fixture, &run, NULL, NULL, globals[i].option, globals[i].value, "head", NULL);
        expect_error(&run, 2, "USAGE");
        if (strstr(run.err, globals[i].says) == NULL) {
            fail_msg("%s %s: expected '%s' in: %s", globals[i].option, globals[i].value,
                     globals[i].says, run.err);
        }
        run_free(&run);
    }
    ctl(fixture, &run, NULL, NULL, "--output", "json", NULL);
    expect_error(&run, 2, "USAGE");
    assert_non_null(strstr(run.err, "no verb given; see ledgerctl --help"));
    run_free(&run);
    ctl(fixture, &run, NULL, NULL, "--version", NULL);
    expect_ok(&run);
    assert_non_null(strstr(run.out, "ledgerctl "));
    run_free(&run);

    /* Help exits 0 and shows an example. */
    ctl(fixture, &run, NULL, NULL, "--help", NULL);
    expect_ok(&run);
    assert_non_null(strstr(run.out, "reservation buy"));
    run_free(&run);
    ctl(fixture, &run, NULL, NULL, "savings-plan", "buy", "--help", NULL);
    expect_ok(&run);
    assert_non_null(strstr(run.out, "--hourly-commitment AMOUNT"));
    assert_non_null(strstr(run.out, "Example:"));
    run_free(&run);
    /* "What was true on day D": --as-of D is the start of D; the help says so. */
    ctl(fixture, &run, NULL, NULL, "permissions", "--help", NULL);
    expect_ok(&run);
    assert_non_null(strstr(run.out, "a date alone means its start"));
    run_free(&run);
    /* A verb with no options of its own says so, rather than an empty list. */
    ctl(fixture, &run, NULL, NULL, "stats", "--help", NULL);
    expect_ok(&run);
    assert_non_null(strstr(run.out, "\n\nOptions: none of its own; the global options below.\n"
                                    "\nGlobal options:\n"));
    run_free(&run);
}

/* Exit 2, the USAGE line, and the option and rule it names. */
static void expect_usage(struct run *run, const char *says)
{
    expect_error(run, 2, "USAGE");
    if (strstr(run->err, says) == NULL) {
        fail_msg("stderr '%s' lacks '%s'", run->err, says);
    }
    assert_string_equal(run->out, "");
    run_free(run);
}

/* Every id option of every write verb, the secondary ones too (a
 * subscription, a user, a cloud order, a principal's partner), is checked
 * before anything is sent, and so are a savings plan's or a renewal's
 * retail price, a scope change's scope and a principal's --user: the
 * error names the option and its rule (exit status 2). */
static void test_ctl_cli_secondary_options_checked(void **state)
{
    struct fixture *fixture = *state;
    static const char *const id_rule = ": an id is 1..64 characters of A-Z a-z 0-9 . : @ -";
    static const char *const decimals =
        ": '1.234': USD has 2 decimal places; give at most that many";
    static const struct {
        const char *args[24];
        const char *option, *rule;
    } cases[] = {
        {{"partner", "add", "--partner", "p 1", "--name", "N"}, "--partner", NULL},
        {{"subscription", "add", "--customer", "c", "--subscription", "s 1", "--offer",
          "azure-plan"},
         "--subscription",
         NULL},
        {{"subscription", "status", "--customer", "c", "--subscription", "s 1", "--status",
          "active"},
         "--subscription",
         NULL},
        {{"role", "assign", "--customer", "c", "--subscription", "s 1", "--user", "u", "--role",
          "owner"},
         "--subscription",
         NULL},
        {{"role", "assign", "--customer", "c", "--subscription", "s", "--user", "u 1", "--role",
          "owner"},
         "--user",
         NULL},
        {{"savings-plan",        "buy",     "--customer", "c",
          "--subscription",      "s 1",     "--term",     "P1Y",
          "--billing",           "monthly", "--scope",    "shared",
          "--hourly-commitment", "1",       "--price",    "1",
          "--retail-price",      "1",       "--currency", "USD"},
         "--subscription",
         NULL},
        {{"savings-plan",        "buy",     "--customer", "c",
          "--subscription",      "s",       "--term",     "P1Y",
          "--billing",           "monthly", "--scope",    "shared",
          "--hourly-commitment", "1",       "--price",    "1",
          "--retail-price",      "1",       "--currency", "USD",
          "--cloud-order",       "o 1"},
         "--cloud-order",
         NULL},
        {{"savings-plan",        "buy",     "--customer", "c",
          "--subscription",      "s",       "--term",     "P1Y",
          "--billing",           "monthly", "--scope",    "shared",
          "--hourly-commitment", "1",       "--price",    "1",
          "--retail-price",      "1.234",   "--currency", "USD"},
         "--retail-price",
         decimals},
        {{"reservation", "renewed", "--customer", "c", "--reservation", "r", "--price", "1",
          "--retail-price", "1", "--currency", "USD", "--cloud-order", "o 1"},
         "--cloud-order",
         NULL},
        {{"reservation", "renewed", "--customer", "c", "--reservation", "r", "--price", "1",
          "--retail-price", "1.234", "--currency", "USD"},
         "--retail-price",
         decimals},
        {{"reservation", "scope", "--customer", "c", "--reservation", "r", "--scope", "everywhere"},
         "--scope",
         ": "},
        {{"principal", "add", "--id", "x", "--role", "admin-agent", "--partner", "p 1", "--key-out",
          "x.key"},
         "--partner",
         NULL},
        {{"principal", "add", "--id", "x", "--role", "customer-user", "--partner", "p",
          "--customer", "c 1", "--user", "u", "--key-out", "x.key"},
         "--customer",
         NULL},
        {{"principal", "add", "--id", "x", "--role", "customer-user", "--partner", "p",
          "--customer", "c", "--user", "u 1", "--key-out", "x.key"},
         "--user",
         NULL},
        {{"principal", "add", "--id", "x", "--role", "auditor", "--partner", "p", "--user", "u",
          "--key-out", "x.key"},
         "--user",
         ": for customer users only (--role customer-user)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *const *a = cases[i].args;
        struct run run;
        ctl(fixture, &run, NULL, NULL, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9],
            a[10], a[11], a[12], a[13], a[14], a[15], a[16], a[17], a[18], a[19], a[20], a[21],
            a[22], a[23], NULL);
        char says[256];
        snprintf(says, sizeof says, "error: USAGE: %s%s", cases[i].option,
                 cases[i].rule != NULL ? cases[i].rule : id_rule);
        expect_usage(&run, says);
    }
}

/* Values that parse but break a rule of their option are refused before
 * anything is sent, each with the option and its rule. */
static void test_ctl_cli_usage_values(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    char long_sku[82], long_token[1026]; /* one past the 80 and 1024 allowed */
    memset(long_sku, 'x', sizeof long_sku - 1);
    long_sku[sizeof long_sku - 1] = '\0';
    memset(long_token, 't', sizeof long_token - 1);
    long_token[sizeof long_token - 1] = '\0';

    ctl(fixture, &run, NULL, NULL, "customer", "add", "--partner", "p", "--customer", "c", "--name",
        "tab\there", NULL);
    expect_usage(&run, "--name: a name has no control characters");
    ctl(fixture, &run, NULL, NULL, "customer", "add", "--partner", "p", "--customer", "c", "--name",
        "M\xfcller", NULL);
    expect_usage(&run, "--name: a name is UTF-8 text");
    ctl(fixture, &run, NULL, NULL, "customer", "add", "--partner", "p", "--customer", "c", "--name",
        "csi\xc2\x9b"
        "2J",
        NULL);
    expect_usage(&run, "--name: a name has no control characters");
    ctl(fixture, &run, NULL, NULL, "customer", "add", "--partner", "p", "--customer", "c", "--name",
        "Contoso \xe2\x80\xae"
        "dtL",
        NULL);
    expect_usage(&run, "--name: a name has no line separator and no bidirectional formatting");
    ctl(fixture, &run, NULL, NULL, "customer", "add", "--partner", "p", "--customer", "c", "--name",
        "", NULL);
    expect_usage(&run, "--name: a name is 1..200 bytes");
    ctl(fixture, &run, NULL, NULL, "reservation", "buy", "--customer", "c", "--subscription", "s",
        "--sku", long_sku, "--region", "r", "--quantity", "1", "--term", "P1Y", "--billing",
        "monthly", "--scope", "shared", "--price", "1", "--retail-price", "1", "--currency", "USD",
        NULL);
    expect_usage(&run, "--sku: 1..80 characters");
    ctl(fixture, &run, NULL, NULL, "reservation", "buy", "--customer", "c", "--subscription", "s",
        "--sku", "x", "--region", "", "--quantity", "1", "--term", "P1Y", "--billing", "monthly",
        "--scope", "shared", "--price", "1", "--retail-price", "1", "--currency", "USD", NULL);
    expect_usage(&run, "--region: 1..80 characters");
    ctl(fixture, &run, NULL, NULL, "reservation", "buy", "--customer", "c", "--subscription", "s",
        "--sku", "x", "--region", "r", "--quantity", "1", "--term", "P1Y", "--billing", "monthly",
        "--scope", "shared", "--price", "1", "--retail-price", "1", "--currency", "usd", NULL);
    expect_usage(&run, "--currency: an ISO 4217 code of three upper-case letters");
    ctl(fixture, &run, NULL, NULL, "reservation", "buy", "--customer", "c", "--subscription", "s",
        "--sku", "x", "--region", "r", "--quantity", "1", "--term", "P1Y", "--billing", "monthly",
        "--scope", "single", "--scope-target", "", "--price", "1", "--retail-price", "1",
        "--currency", "USD", NULL);
    expect_usage(&run, "--scope-target: give a subscription, subscription/group or group");
    /* The scope verbs check a scope as buy does; cancel checks its refund
     * as an amount of its currency. */
    ctl(fixture, &run, NULL, NULL, "reservation", "scope", "--customer", "c", "--reservation", "r",
        "--scope", "galaxy", NULL);
    expect_usage(&run,
                 "--scope: 'galaxy' is not one of single|resource-group|management-group|shared");
    ctl(fixture, &run, NULL, NULL, "savings-plan", "scope", "--customer", "c", "--savings-plan",
        "sp", "--scope", "single", NULL);
    expect_usage(&run, "--scope-target: required unless --scope shared");
    ctl(fixture, &run, NULL, NULL, "reservation", "cancel", "--customer", "c", "--reservation", "r",
        "--refund", "1.234", "--currency", "USD", NULL);
    expect_usage(&run, "--refund: '1.234': USD has 2 decimal places; give at most that many");
    ctl(fixture, &run, NULL, NULL, "reservation", "exchange", "--customer", "c", "--reservation",
        "r", "--refund", "1.234", "--subscription", "s", "--sku", "x", "--region", "r",
        "--quantity", "1", "--term", "P1Y", "--billing", "monthly", "--scope", "shared", "--price",
        "1", "--retail-price", "1", "--currency", "USD", NULL);
    expect_usage(&run, "--refund: '1.234': USD has 2 decimal places; give at most that many");
    ctl(fixture, &run, NULL, NULL, "savings-plan", "buy", "--customer", "c", "--subscription", "s",
        "--term", "P5Y", "--billing", "monthly", "--scope", "shared", "--hourly-commitment", "1",
        "--price", "1", "--retail-price", "1", "--currency", "USD", NULL);
    expect_usage(&run, "--term: savings plans are P1Y or P3Y");
    ctl(fixture, &run, NULL, NULL, "reservation", "exchange", "--customer", "c", "--reservation",
        "r_1", "--refund", "1", "--subscription", "s", "--sku", "x", "--region", "r", "--quantity",
        "1", "--term", "P1Y", "--billing", "monthly", "--scope", "shared", "--price", "1",
        "--retail-price", "1", "--currency", "USD", NULL);
    expect_usage(&run, "--reservation: an id is 1..64 characters");
    ctl(fixture, &run, NULL, NULL, "orders", "--customer", "c", "--from", "2026-02-01", "--to",
        "2026-01-01", NULL);
    expect_usage(&run, "--to: is before --from");
    ctl(fixture, &run, NULL, NULL, "activity", "--customer", "c", "--from", "2026-02-01", "--to",
        "2026-01-01", NULL);
    expect_usage(&run, "--to: is before --from");
    /* --to D ends where D+1 starts: a range from D+1 to D holds nothing. */
    ctl(fixture, &run, NULL, NULL, "orders", "--customer", "c", "--from", "2026-02-02", "--to",
        "2026-02-01", NULL);
    expect_usage(&run, "--to: is before --from");
    ctl(fixture, &run, NULL, NULL, "activity", "--from", "2026-02-01T10:00", "--to",
        "2026-02-01T10:00", NULL);
    expect_usage(&run, "--to: is before --from");
    ctl(fixture, &run, NULL, NULL, "activity", "--dated-from", "2026-02-02", "--dated-to",
        "2026-02-01", NULL);
    expect_usage(&run, "--dated-to: is before --dated-from or equal to it (the range is "
                       "--dated-from <= t < --dated-to)");
    ctl(fixture, &run, NULL, NULL, "activity", "--dated-from", "yesterday", NULL);
    expect_usage(&run, "--dated-from: ");
    /* A --to at the epoch is an empty range, not an open one (to_us 0
     * leaves the end open). */
    ctl(fixture, &run, NULL, NULL, "orders", "--customer", "c", "--to", "1970-01-01T00:00:00Z",
        NULL);
    expect_usage(&run, "--to: is before --from");
    /* So is an --as-of or --business-time at the epoch, which would be 0
     * too: the ledger would answer now's state, or record now. */
    ctl(fixture, &run, NULL, NULL, "reservations", "--customer", "c", "--as-of", "1970-01-01",
        NULL);
    expect_usage(&run, "--as-of: '1970-01-01' is the epoch, 1970-01-01T00:00:00Z, which the "
                       "ledger reads as no time given (now); give a later time");
    ctl(fixture, &run, NULL, NULL, "permissions", "--customer", "c", "--as-of",
        "1970-01-01T01:00+01:00", NULL);
    expect_usage(&run, "--as-of: '1970-01-01T01:00+01:00' is the epoch");
    ctl(fixture, &run, NULL, NULL, "customer", "add", "--customer", "c", "--name", "C",
        "--business-time", "1970-01-01T00:00:00Z", NULL);
    expect_usage(&run, "--business-time: '1970-01-01T00:00:00Z' is the epoch");
    ctl(fixture, &run, NULL, NULL, "activity", "--customer", "c", "--limit", "0", NULL);
    expect_usage(&run, "--limit: at least 1");
    ctl(fixture, &run, NULL, NULL, "activity", "--customer", "c", "--page-token", long_token, NULL);
    expect_usage(&run, "--page-token: give the token a previous page printed");
    /* A token is what a page printed: a sequence number, 1 or more. */
    static const char *const tokens_bad[] = {"abc", "0", "-5", "12x", "99999999999999999999999"};
    for (size_t i = 0; i < sizeof tokens_bad / sizeof tokens_bad[0]; i++) {
        ctl(fixture, &run, NULL, NULL, "activity", "--page-token", tokens_bad[i], NULL);
        expect_usage(&run, "--page-token: give the token a previous page printed");
    }
    ctl(fixture, &run, NULL, NULL, "billing", "--customer", "c", "--month", "2026-01",
        "--tree-size", "0", NULL);
    expect_usage(&run, "--tree-size: a head's tree size, at least 1");
    ctl(fixture, &run, NULL, NULL, "events", "--limit", "0", NULL);
    expect_usage(&run, "--limit: at least 1");
    ctl(fixture, &run, NULL, NULL, "events", "--checkpoint", "", NULL);
    expect_usage(&run, "--checkpoint: give a file name");
    ctl(fixture, &run, NULL, NULL, "events", "--type",
        "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q,r,s,t,u,v,w,x,y,z,aa,bb,cc,dd,ee,ff,gg", NULL);
    expect_usage(&run, "--type: at most 32 types");
    /* One name too long to be a type is named as no type, not counted as
     * too many types. */
    char long_type[4096];
    memset(long_type, 'x', sizeof long_type - 1);
    long_type[sizeof long_type - 1] = '\0';
    ctl(fixture, &run, NULL, NULL, "events", "--type", "reservation_purchased", "--type", long_type,
        NULL);
    expect_usage(&run, "--type: 'xxxxxxxx");
    ctl(fixture, &run, NULL, NULL, "events", "--type", long_type, NULL);
    expect_usage(&run, "' is not an event type");
    /* A second word that is none of the first word's is named, with the
     * ones there are. */
    ctl(fixture, &run, NULL, NULL, "reservation", "frob", NULL);
    expect_usage(&run, "unknown verb 'reservation frob'; 'reservation' takes one of: buy, "
                       "exchange, cancel, renew, renewed, expired, scope");
    ctl(fixture, &run, NULL, NULL, "reservation", NULL);
    expect_usage(&run, "'reservation' needs a second word, one of: buy, exchange");
    /* Daemons listen on ipc:// and tcp:// addresses only. */
    ctl(fixture, &run, NULL, NULL, "--socket", "http://x", "reservations", "--customer", "tailspin",
        NULL);
    expect_usage(&run, "--socket: 'http://x' is not an ipc:// or tcp:// address");
    ctl(fixture, &run, NULL, NULL, "--events", "x.sock", "reservations", "--customer", "tailspin",
        NULL);
    expect_usage(&run, "--events: 'x.sock' is not an ipc:// or tcp:// address");
    /* One nanomsg cannot connect to is a usage error too, not a daemon that
     * seems down (UNREACHABLE, exit 3): a tcp:// address without a host or
     * a port 1..65535, an ipc:// one without a path. */
    const char *flawed[] = {"tcp://127.0.0.1", "tcp://:5555",      "tcp://host:http",
                            "tcp://host:0",    "tcp://host:65536", "tcp://host:"};
    for (size_t i = 0; i < sizeof flawed / sizeof flawed[0]; i++) {
        char said[128];
        snprintf(said, sizeof said,
                 "--socket: '%s' is not a tcp://HOST:PORT address (a port 1..65535)", flawed[i]);
        ctl(fixture, &run, NULL, NULL, "--socket", flawed[i], "head", NULL);
        expect_usage(&run, said);
    }
    ctl(fixture, &run, NULL, NULL, "--socket", "ipc://", "head", NULL);
    expect_usage(&run, "--socket: 'ipc://' has no path: give ipc://PATH");
    ctl(fixture, &run, NULL, NULL, "--socket", "tcp://[::1]:7300", "head", NULL);
    expect_usage(&run, "--socket: 'tcp://[::1]:7300' names an IPv6 host: ledgerd listens on IPv4 "
                       "only; give an IPv4 address or a host name");
    ctl(fixture, &run, NULL, NULL, "--events", "tcp://host", "head", NULL);
    expect_usage(&run, "--events: 'tcp://host' is not a tcp://HOST:PORT address");
    /* SKUs and regions are spelled as ids with '_' besides. */
    ctl(fixture, &run, NULL, NULL, "reservation", "buy", "--customer", "c", "--subscription", "s",
        "--sku", "a b", "--region", "r", "--quantity", "1", "--term", "P1Y", "--billing", "monthly",
        "--scope", "shared", "--price", "1", "--retail-price", "1", "--currency", "USD", NULL);
    expect_usage(&run, "--sku: 1..80 characters of A-Z a-z 0-9 _ . : @ -");
    ctl(fixture, &run, NULL, NULL, "reservation", "buy", "--customer", "c", "--subscription", "s",
        "--sku", "Standard_D2s_v5", "--region", "west europe", "--quantity", "1", "--term", "P1Y",
        "--billing", "monthly", "--scope", "shared", "--price", "1", "--retail-price", "1",
        "--currency", "USD", NULL);
    expect_usage(&run, "--region: 1..80 characters of A-Z a-z 0-9 _ . : @ -");
    ctl(fixture, &run, NULL, NULL, "reservation", "exchange", "--customer", "c", "--reservation",
        "r-1", "--refund", "1", "--subscription", "s", "--sku", "x", "--sku", "y z", "--region",
        "r", "--quantity", "1", "--term", "P1Y", "--billing", "monthly", "--scope", "shared",
        "--price", "1", "--price", "1", "--retail-price", "1", "--currency", "USD", NULL);
    expect_usage(&run, "replacement 2 of 2: --sku: 1..80 characters");
    /* What is bought costs something; a refund may be 0. */
    ctl(fixture, &run, NULL, NULL, "reservation", "buy", "--customer", "c", "--subscription", "s",
        "--sku", "x", "--region", "r", "--quantity", "1", "--term", "P1Y", "--billing", "monthly",
        "--scope", "shared", "--price", "0", "--retail-price", "0", "--currency", "USD", NULL);
    expect_usage(&run, "--price: must be more than 0");
    ctl(fixture, &run, NULL, NULL, "reservation", "buy", "--customer", "c", "--subscription", "s",
        "--sku", "x", "--region", "r", "--quantity", "1", "--term", "P1Y", "--billing", "monthly",
        "--scope", "shared", "--price", "1", "--retail-price", "0.00", "--currency", "USD", NULL);
    expect_usage(&run, "--retail-price: must be more than 0");
    ctl(fixture, &run, NULL, NULL, "savings-plan", "buy", "--customer", "c", "--subscription", "s",
        "--term", "P1Y", "--billing", "monthly", "--scope", "shared", "--hourly-commitment", "0",
        "--price", "1", "--retail-price", "1", "--currency", "USD", NULL);
    expect_usage(&run, "--hourly-commitment: must be more than 0");
    ctl(fixture, &run, NULL, NULL, "reservation", "renewed", "--customer", "c", "--reservation",
        "r-1", "--price", "0", "--retail-price", "1", "--currency", "USD", NULL);
    expect_usage(&run, "--price: must be more than 0");
    ctl(fixture, &run, NULL, NULL, "savings-plan", "renewed", "--customer", "c", "--savings-plan",
        "sp-1", "--price", "1", "--retail-price", "0", "--currency", "USD", NULL);
    expect_usage(&run, "--retail-price: must be more than 0");
    ctl(fixture, &run, NULL, NULL, "savings-plan", "renewed", "--customer", "c", "--price", "1",
        "--retail-price", "1", "--currency", "USD", NULL);
    expect_usage(&run, "--savings-plan");
    /* A customer user is one user of one customer: both are named. */
    ctl(fixture, &run, NULL, NULL, "principal", "add", "--id", "u1", "--role", "customer-user",
        "--partner", "p", "--user", "u1", "--key-out", "u1.key", NULL);
    expect_usage(&run, "--customer: required for a customer-user");
    ctl(fixture, &run, NULL, NULL, "principal", "add", "--id", "u1", "--role", "customer-user",
        "--partner", "p", "--customer", "c", "--key-out", "u1.key", NULL);
    expect_usage(&run, "--user: required for a customer-user");
    ctl(fixture, &run, NULL, NULL, "principal", "add", "--id", "u1", "--role", "customer-user",
        "--customer", "c", "--user", "u1", "--key-out", "u1.key", NULL);
    expect_usage(&run, "--partner: required for a customer-user");
    ctl(fixture, &run, NULL, NULL, "principal", "add", "--id", "a1", "--role", "admin-agent",
        "--partner", "p", "--customer", "c", "--key-out", "a1.key", NULL);
    expect_usage(&run, "--customer: for customer users only");
    ctl(fixture, &run, NULL, NULL, "principal", "add", "--id", "o1", "--role", "operator",
        "--partner", "p", "--key-out", "o1.key", NULL);
    expect_usage(&run, "--partner: an operator belongs to no partner");
    struct stat info;
    char key[PATH_SIZE];
    snprintf(key, sizeof key, "%s/u1.key", fixture->dir);
    assert_int_equal(-1, stat(key, &info));

    /* The options every write verb takes, and bounds of lists and pages. */
    char returned[33 * 4] = "", quantities[33 * 2] = "";
    for (int i = 0; i < 33; i++) {
        size_t length = strlen(returned);
        snprintf(returned + length, sizeof returned - length, "%sr%d", i > 0 ? "," : "", i);
        length = strlen(quantities);
        snprintf(quantities + length, sizeof quantities - length, "%s1", i > 0 ? "," : "");
    }
    ctl(fixture, &run, NULL, NULL, "customer", "add", "--customer", "c", "--name", "N",
        "--expected-version", "x", NULL);
    expect_usage(&run, "error: USAGE: --expected-version: 'x' is not a whole number\n");
    ctl(fixture, &run, NULL, NULL, "customer", "add", "--customer", "c", "--name", "N",
        "--business-time", "yesterday", NULL);
    expect_usage(&run, "error: USAGE: --business-time: 'yesterday' is not an ISO 8601 date or "
                       "time");
    ctl(fixture, &run, NULL, NULL, "customer", "add", "--customer", "c", "--name", "N",
        "--command-id", "c 1", NULL);
    expect_usage(&run, "error: USAGE: --command-id: an id is 1..64 characters");
    ctl(fixture, &run, NULL, NULL, "reservation", "exchange", "--customer", "c", "--reservation",
        returned, "--refund", "0", "--subscription", "s", "--sku", "x", "--region", "r",
        "--quantity", "1", "--term", "P1Y", "--billing", "monthly", "--scope", "shared", "--price",
        "1", "--retail-price", "1", "--currency", "USD", NULL);
    expect_usage(&run, "error: USAGE: --reservation: give 1..32 reservation ids\n");
    /* One id, however long, is held to the id rule, not counted as many. */
    char long_id[4096];
    memset(long_id, 'r', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    ctl(fixture, &run, NULL, NULL, "reservation", "exchange", "--customer", "c", "--reservation",
        long_id, "--refund", "0", "--subscription", "s", "--sku", "x", "--region", "r",
        "--quantity", "1", "--term", "P1Y", "--billing", "monthly", "--scope", "shared", "--price",
        "1", "--retail-price", "1", "--currency", "USD", NULL);
    expect_usage(&run, "error: USAGE: --reservation: an id is 1..64 characters");
    ctl(fixture, &run, NULL, NULL, "reservation", "exchange", "--customer", "c", "--reservation",
        "r1", "--refund", "0", "--subscription", "s", "--sku", "x", "--region", "r", "--quantity",
        quantities, "--term", "P1Y", "--billing", "monthly", "--scope", "shared", "--price", "1",
        "--retail-price", "1", "--currency", "USD", NULL);
    expect_usage(&run, "error: USAGE: --quantity: more values than replacements an exchange may "
                       "buy (1..32)\n");
    ctl(fixture, &run, NULL, NULL, "reservation", "cancel", "--customer", "c", "--reservation",
        "r1", "--refund", "1", "--currency", "EUR", NULL);
    expect_usage(&run, "error: USAGE: --refund-usd: required when the refund is not in USD\n");
    ctl(fixture, &run, NULL, NULL, "reservation", "cancel", "--customer", "c", "--reservation",
        "r1", "--refund", "1", "--currency", "EUR", "--refund-usd", "x", NULL);
    expect_usage(&run, "error: USAGE: --refund-usd: 'x' is not an amount");
    ctl(fixture, &run, NULL, NULL, "activity", "--limit", "0", NULL);
    expect_usage(&run, "error: USAGE: --limit: at least 1\n");
    ctl(fixture, &run, NULL, NULL, "activity", "--limit", "10001", NULL);
    expect_usage(&run, "error: USAGE: --limit: '10001' is larger than 10000\n");
}

static void test_ctl_cli_unreachable(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    char missing[PATH_SIZE + 32];
    snprintf(missing, sizeof missing, "ipc://%s/nothing.sock", fixture->dir);
    ctl(fixture, &run, NULL, NULL, "--socket", missing, "--output", "json", "principal", "list",
        NULL);
    expect_error(&run, 3, "UNREACHABLE");
    expect_json_error(&run, "UNREACHABLE");
    run_free(&run);
    /* Nobody listens on this TCP port: the request cannot be sent. */
    ctl(fixture, &run, NULL, NULL, "--socket", "tcp://127.0.0.1:9", "--key-file",
        fixture->operator_key, "--timeout-ms", "300", "--retries", "1", "principal", "list", NULL);
    expect_error(&run, 3, "UNREACHABLE");
    /* It says how long it tried: every attempt, not one. */
    assert_non_null(strstr(run.err, "(2 attempt(s) of 300 ms); is ledgerd running there?"));
    run_free(&run);
    /* A socket file left by a daemon that was killed: nobody listens, and
     * that is said at once instead of after every attempt timed out. */
    char stale[PATH_SIZE + 32], stale_url[PATH_SIZE + 48];
    snprintf(stale, sizeof stale, "%s/stale.sock", fixture->dir);
    struct sockaddr_un address;
    memset(&address, 0, sizeof address);
    address.sun_family = AF_UNIX;
    assert_true(strlen(stale) < sizeof address.sun_path);
    memcpy(address.sun_path, stale, strlen(stale));
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_int_equal(0, bind(fd, (const struct sockaddr *)&address, sizeof address));
    close(fd); /* bound, never listened: connect is refused */
    snprintf(stale_url, sizeof stale_url, "ipc://%s", stale);
    ctl(fixture, &run, NULL, NULL, "--socket", stale_url, "--key-file", fixture->operator_key,
        "--timeout-ms", "3000", "principal", "list", NULL);
    expect_error(&run, 3, "UNREACHABLE");
    assert_non_null(strstr(run.err, "no daemon listens on "));
    run_free(&run);
    /* Run in a directory since removed, whose path cannot be known: the
     * default socket is ./ledger-data/ledger.sock, and a relative backup
     * directory cannot be made absolute, which is said. */
    char command[4 * PATH_SIZE];
    snprintf(command, sizeof command,
             "mkdir gone && cd gone && rmdir ../gone && '%s' --key-file '%s' head; "
             "'%s' --socket '%s' --key-file '%s' backup --out rel",
             ledgerctl_path(), fixture->operator_key, ledgerctl_path(), fixture->socket,
             fixture->operator_key);
    const char *argv[] = {"/bin/sh", "-c", command, NULL};
    run_argv(fixture, &run, argv);
    assert_int_equal(2, run.status);
    assert_string_equal("error: UNREACHABLE: no daemon socket at ./ledger-data/ledger.sock; is "
                        "ledgerd running? (give --socket, or run in the directory holding "
                        "ledger-data)\n"
                        "error: USAGE: --out: give an absolute path\n",
                        run.err);
    run_free(&run);
    /* The default daemon: none in this directory's ./ledger-data? There is
     * one, so the defaults find it. */
    ctl(fixture, &run, NULL, NULL, "principal", "list", NULL);
    expect_ok(&run);
    assert_non_null(strstr(run.out, "operator"));
    run_free(&run);
}

/* A Unix socket's path holds at most 107 bytes (sun_path, its NUL last):
 * one of 107 reaches the daemon (here a symbolic link to its socket); one
 * of 108, given, from LEDGER_SOCKET or the default in a deep directory, is
 * a usage error naming the limit, where nanomsg would only have failed to
 * connect ("cannot reach the daemon; is it running?"). */
static void test_ctl_cli_socket_path_length(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    char target[PATH_SIZE + 32], deep[PATH_SIZE], link_path[PATH_SIZE + 16], url[PATH_SIZE + 48];
    snprintf(target, sizeof target, "%s/ledger.sock", fixture->data);
    /* DIR/ddd...d/x.sock, 107 bytes. */
    size_t fill = 107 - strlen(fixture->dir) - strlen("//x.sock");
    assert_true(strlen(fixture->dir) + 20 < 107);
    snprintf(deep, sizeof deep, "%s/%0*d", fixture->dir, (int)fill, 0);
    assert_int_equal(0, mkdir(deep, 0700));
    snprintf(link_path, sizeof link_path, "%s/x.sock", deep);
    assert_int_equal(107, strlen(link_path));
    assert_int_equal(0, symlink(target, link_path));
    snprintf(url, sizeof url, "ipc://%s", link_path);
    ctl(fixture, &run, NULL, NULL, "--socket", url, "--key-file", fixture->operator_key, "head",
        NULL);
    expect_ok(&run);
    run_free(&run);

    snprintf(link_path, sizeof link_path, "%s/xy.sock", deep);
    assert_int_equal(0, symlink(target, link_path));
    snprintf(url, sizeof url, "ipc://%s", link_path);
    const char *flaw = "has a path of more than 107 bytes, too long for a Unix socket: give a "
                       "shorter (or relative) one\n";
    char says[PATH_SIZE + 256];
    ctl(fixture, &run, NULL, NULL, "--socket", url, "--key-file", fixture->operator_key, "head",
        NULL);
    expect_error(&run, 2, "USAGE");
    snprintf(says, sizeof says, "error: USAGE: --socket: '%.100s' %s", url, flaw);
    assert_string_equal(says, run.err);
    run_free(&run);
    char setting[PATH_SIZE + 64];
    snprintf(setting, sizeof setting, "LEDGER_SOCKET=%s", url);
    const char *const environment[] = {setting, NULL};
    fixture->environment = environment;
    ctl(fixture, &run, NULL, NULL, "--key-file", fixture->operator_key, "head", NULL);
    fixture->environment = NULL;
    expect_error(&run, 2, "USAGE");
    snprintf(says, sizeof says, "error: USAGE: --socket: '%.100s' (from LEDGER_SOCKET) %s", url,
             flaw);
    assert_string_equal(says, run.err);
    run_free(&run);
    /* The default, ./ledger-data/ledger.sock, from a directory too deep. */
    char command[4 * PATH_SIZE];
    snprintf(command, sizeof command, "cd '%s' && exec '%s' --key-file '%s' head", deep,
             ledgerctl_path(), fixture->operator_key);
    const char *argv[] = {"/bin/sh", "-c", command, NULL};
    run_argv(fixture, &run, argv);
    expect_error(&run, 2, "USAGE");
    snprintf(url, sizeof url, "ipc://%s/ledger-data/ledger.sock", deep);
    snprintf(says, sizeof says, "error: USAGE: --socket: '%.100s' (the default) %s", url, flaw);
    assert_string_equal(says, run.err);
    run_free(&run);
}

/* The principal row of `id` in a JSON principal list, or NULL. Borrowed
 * from run->json. */
static json_t *principal_row(const struct run *run, const char *id)
{
    json_t *rows = json_object_get(run->json, "principals");
    for (size_t i = 0; i < json_array_size(rows); i++) {
        json_t *row = json_array_get(rows, i);
        if (strcmp(json_string_value(json_object_get(row, "principal_id")), id) == 0) {
            return row;
        }
    }
    return NULL;
}

static void test_ctl_cli_authentication(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    /* Each refusal says what to change, not only what the daemon found. */
    ctl(fixture, &run, "nobody", fixture->operator_key, "principal", "list", NULL);
    expect_error(&run, 3, "UNKNOWN_PRINCIPAL");
    assert_non_null(strstr(run.err, "principal 'nobody', key file "));
    assert_non_null(strstr(run.err, "ledger.sock: check --principal or LEDGER_PRINCIPAL"));
    run_free(&run);
    /* A secret given as the principal id is not shown back (the daemon
     * does not log it either). */
    const char *secret = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    ctl(fixture, &run, secret, fixture->operator_key, "principal", "list", NULL);
    expect_error(&run, 3, "UNKNOWN_PRINCIPAL");
    assert_null(strstr(run.err, secret));
    assert_non_null(strstr(
        run.err, "principal '(64 hex digits, not shown: a secret given as the principal id?)'"));
    run_free(&run);
    /* Billing of every partner: a partner's view needs --partner. */
    char billing[PATH_SIZE + 16];
    snprintf(billing, sizeof billing, "%s/auth-billing.key", fixture->dir);
    ctl(fixture, &run, "operator", fixture->operator_key, "principal", "add", "--id",
        "auth-billing", "--role", "billing", "--key-out", billing, NULL);
    expect_ok(&run);
    run_free(&run);
    ctl(fixture, &run, "auth-billing", billing, "billing", "--month", "2026-03", NULL);
    expect_error(&run, 1, "INVALID_ARGUMENT");
    assert_non_null(strstr(run.err, "give --partner"));
    run_free(&run);
    /* A partner the ledger does not have (a typo) is refused, not answered
     * with an empty month or an empty feed. */
    ctl(fixture, &run, "auth-billing", billing, "--partner", "no-such-partner", "export", "--month",
        "2026-03", NULL);
    expect_error(&run, 1, "PARTNER_NOT_FOUND");
    assert_non_null(strstr(run.err, "no partner no-such-partner"));
    run_free(&run);
    ctl(fixture, &run, "auth-billing", billing, "--partner", "no-such-partner", "events", NULL);
    expect_error(&run, 1, "PARTNER_NOT_FOUND");
    run_free(&run);

    char wrong[PATH_SIZE + 16];
    snprintf(wrong, sizeof wrong, "%s/wrong.key", fixture->dir);
    FILE *file = fopen(wrong, "w");
    fprintf(file, "%s\n", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
    fclose(file);
    /* As a key file is kept: other users' access would be noticed first. */
    assert_int_equal(0, chmod(wrong, 0600));
    ctl(fixture, &run, "operator", wrong, "--output", "json", "principal", "list", NULL);
    expect_error(&run, 3, "BAD_SIGNATURE");
    expect_json_error(&run, "BAD_SIGNATURE");
    assert_non_null(strstr(run.err, "this key file is not the principal's: check --key-file"));
    run_free(&run);

    /* A key file that is not 64 hex characters. */
    file = fopen(wrong, "w");
    fprintf(file, "not a key\n");
    fclose(file);
    ctl(fixture, &run, "operator", wrong, "principal", "list", NULL);
    assert_int_equal(3, run.status);
    assert_non_null(strstr(run.err, "is not a key (64 hex characters"));
    run_free(&run);
    /* One that cannot be read says why. */
    snprintf(wrong, sizeof wrong, "%s/no-such.key", fixture->dir);
    ctl(fixture, &run, "operator", wrong, "principal", "list", NULL);
    assert_int_equal(3, run.status);
    assert_non_null(strstr(run.err, "no-such.key: No such file or directory"));
    run_free(&run);
    /* A directory opens, and cannot be read: said so, not "not a key". */
    ctl(fixture, &run, "operator", fixture->dir, "principal", "list", NULL);
    assert_int_equal(3, run.status);
    char says[PATH_SIZE + 160];
    snprintf(says, sizeof says,
             "error: IO_ERROR: cannot read the key file %s: Is a directory; give the principal's "
             "key with --key-file or LEDGER_KEY_FILE\n",
             fixture->dir);
    assert_string_equal(says, run.err);
    run_free(&run);

    /* Revoked principals are refused with exit 3. */
    char key[PATH_SIZE + 16];
    make_partner(fixture, "p-auth", "p-auth-admin", key, sizeof key);
    ctl(fixture, &run, "p-auth-admin", key, "customer", "add", "--customer", "c1", "--name", "C",
        NULL);
    expect_ok(&run);
    run_free(&run);
    ctl(fixture, &run, "operator", fixture->operator_key, "--output", "json", "principal", "revoke",
        "--id", "p-auth-admin", NULL);
    expect_ok(&run);
    json_int_t revoked_at =
        json_int_at(json_array_get(json_object_get(run.json, "results"), 0), "first_sequence");
    run_free(&run);
    ctl(fixture, &run, "p-auth-admin", key, "customer", "add", "--customer", "c2", "--name", "C",
        NULL);
    expect_error(&run, 3, "PRINCIPAL_REVOKED");
    assert_non_null(strstr(run.err, "ask an operator for a new principal"));
    run_free(&run);
    ctl(fixture, &run, "operator", fixture->operator_key, "--output", "json", "principal", "list",
        NULL);
    expect_ok(&run);
    json_t *row = principal_row(&run, "p-auth-admin");
    assert_non_null(row);
    assert_true(json_is_true(json_object_get(row, "revoked")));
    assert_string_equal("admin-agent", json_string_value(json_object_get(row, "role")));
    /* The last event that changed it: the revocation, after its addition. */
    assert_int_equal(revoked_at, json_int_at(row, "last_sequence"));
    assert_true(json_int_at(row, "sequence") < revoked_at);
    run_free(&run);
}

/* Runs ledgerctl as the operator (the rest of the arguments NULL-terminated)
 * with every file it writes limited to `bytes` bytes (RLIMIT_FSIZE, with
 * SIGXFSZ ignored: a write past the limit fails with EFBIG), stdout thrown
 * away and stderr read through a pipe into run->err. */
static void ctl_file_size_limited(struct fixture *fixture, struct run *run, rlim_t bytes, ...)
{
    const char *argv[ARGS_MAX] = {ledgerctl_path(),     "--socket", fixture->socket,
                                  "--principal",        "operator", "--key-file",
                                  fixture->operator_key};
    int argc = 7;
    va_list args;
    va_start(args, bytes);
    for (const char *arg = va_arg(args, const char *); arg != NULL && argc < ARGS_MAX - 1;
         arg = va_arg(args, const char *)) {
        argv[argc++] = arg;
    }
    va_end(args);
    argv[argc] = NULL;
    int ends[2];
    assert_int_equal(0, pipe(ends));
    pid_t pid = fork();
    if (pid == 0) {
        struct rlimit limit = {bytes, bytes};
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(ends[1], 2);
        close(ends[0]);
        signal(SIGXFSZ, SIG_IGN);
        if (setrlimit(RLIMIT_FSIZE, &limit) != 0) {
            _exit(126);
        }
        exec_in(fixture->dir, argv, fixture->environment);
    }
    close(ends[1]);
    memset(run, 0, sizeof *run);
    run->err = calloc(1, OUTPUT_MAX + 1);
    run->out = strdup("");
    size_t used = 0;
    for (ssize_t got = 1; got > 0 && used < OUTPUT_MAX; used += (size_t)got) {
        got = read(ends[0], run->err + used, OUTPUT_MAX - used);
        if (got < 0) {
            break;
        }
    }
    close(ends[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    run->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* LEDGER_SOCKET, LEDGER_PRINCIPAL and LEDGER_KEY_FILE say where to connect
 * and as whom when no option does; an option wins over its variable; a
 * variable's bad value is a usage error naming the variable. */
static void test_ctl_cli_environment(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    /* Static, as the fixture that points to them outlives a test that
     * fails half way. */
    static char socket[PATH_SIZE], key_file[PATH_SIZE];
    static const char *const operator_environment[] = {socket, "LEDGER_PRINCIPAL=operator",
                                                       key_file, NULL};
    static const char *const wrong_environment[] = {
        "LEDGER_SOCKET=ipc:///nonexistent/ledger.sock", "LEDGER_PRINCIPAL=nobody",
        "LEDGER_KEY_FILE=/nonexistent/nobody.key", NULL};
    static const char *const bad_principal[] = {socket, "LEDGER_PRINCIPAL=no_such id", key_file,
                                                NULL};
    static const char *const bad_socket[] = {"LEDGER_SOCKET=ledger.sock",
                                             "LEDGER_PRINCIPAL=operator", key_file, NULL};
    snprintf(socket, sizeof socket, "LEDGER_SOCKET=%s", fixture->socket);
    snprintf(key_file, sizeof key_file, "LEDGER_KEY_FILE=%s", fixture->operator_key);

    fixture->environment = operator_environment;
    ctl(fixture, &run, NULL, NULL, "--output", "json", "principal", "list", NULL);
    expect_ok(&run);
    assert_true(json_array_size(json_object_get(run.json, "principals")) > 0);
    run_free(&run);

    /* Options over variables: a principal and a key file of nobody, a
     * socket where no daemon is, each overridden; a global option written
     * --name=VALUE takes no word after it. */
    fixture->environment = wrong_environment;
    ctl(fixture, &run, "operator", fixture->operator_key, "--output", "json", "principal", "list",
        NULL);
    expect_ok(&run);
    run_free(&run);
    char socket_option[PATH_SIZE + 16];
    snprintf(socket_option, sizeof socket_option, "--socket=%s", fixture->socket);
    ctl(fixture, &run, NULL, NULL, socket_option, "--principal=operator", "--key-file",
        fixture->operator_key, "--output=json", "principal", "list", NULL);
    expect_ok(&run);
    assert_true(json_array_size(json_object_get(run.json, "principals")) > 0);
    run_free(&run);
    ctl(fixture, &run, NULL, NULL, "principal", "list", NULL);
    expect_error(&run, 3, "UNREACHABLE");
    assert_non_null(strstr(run.err, "/nonexistent/ledger.sock"));
    run_free(&run);

    fixture->environment = bad_principal;
    ctl(fixture, &run, NULL, NULL, "principal", "list", NULL);
    expect_usage(&run, "error: USAGE: --principal: 'no_such id' (from LEDGER_PRINCIPAL): an id is "
                       "1..64 characters");
    fixture->environment = bad_socket;
    ctl(fixture, &run, NULL, NULL, "principal", "list", NULL);
    expect_usage(&run, "error: USAGE: --socket: 'ledger.sock' (from LEDGER_SOCKET) is not an "
                       "ipc:// or tcp:// address");
    fixture->environment = NULL;
}

/* Every write verb checks the options all writes take (--command-id,
 * --expected-version, --business-time, --correlation-id) before anything
 * is sent: each refusal is a usage error naming the option, the head does
 * not move, and principal rotate makes no key file. */
static void test_ctl_cli_write_options_checked_first(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    char key[PATH_SIZE + 16], rotated[PATH_SIZE + 32];
    make_partner(fixture, "p-wopt", "p-wopt-admin", key, sizeof key);
    snprintf(rotated, sizeof rotated, "%s/wopt-rotated.key", fixture->dir);
    ctl(fixture, &run, "operator", fixture->operator_key, "--output", "json", "head", NULL);
    expect_ok(&run);
    json_int_t head = json_int_at(json_object_get(run.json, "head"), "tree_size");
    run_free(&run);
    const char *const operator_verbs[][8] = {
        {"partner", "add", "--partner", "p-wopt-2", "--name", "Two"},
        {"principal", "revoke", "--id", "p-wopt-admin"},
        {"principal", "rotate", "--id", "p-wopt-admin", "--key-out", rotated},
    };
    const char *const admin_verbs[][10] = {
        {"customer", "add", "--customer", "c1", "--name", "One"},
        {"subscription", "add", "--customer", "c1", "--subscription", "s1", "--offer",
         "azure-plan"},
        {"subscription", "status", "--customer", "c1", "--subscription", "s1", "--status",
         "suspended"},
        {"role", "assign", "--customer", "c1", "--subscription", "s1", "--user", "u1", "--role",
         "owner"},
        {"permission", "enable", "--customer", "c1", "--kind", "reservations"},
        {"reservation", "expired", "--customer", "c1", "--reservation", "r1"},
    };
    const struct {
        const char *option, *value, *says;
    } bad[] = {
        {"--expected-version", "v1", "error: USAGE: --expected-version: "},
        {"--correlation-id", "no spaces",
         "error: USAGE: --correlation-id: an id is 1..64 characters of A-Z a-z 0-9 . : @ -\n"},
        {"--command-id", "a/b",
         "error: USAGE: --command-id: an id is 1..64 characters of A-Z a-z 0-9 . : @ -\n"},
        {"--business-time", "2025-13-01", "error: USAGE: --business-time: '2025-13-01' is not "},
    };
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
        for (size_t i = 0; i < sizeof operator_verbs / sizeof operator_verbs[0]; i++) {
            const char *const *a = operator_verbs[i];
            ctl(fixture, &run, "operator", fixture->operator_key, a[0], a[1], a[2], a[3],
                a[4] != NULL ? a[4] : bad[b].option, a[4] != NULL ? a[5] : bad[b].value,
                a[4] != NULL ? bad[b].option : NULL, bad[b].value, NULL);
            expect_error(&run, 2, "USAGE");
            if (strncmp(run.err, bad[b].says, strlen(bad[b].says)) != 0) {
                fail_msg("%s %s %s: %s", a[0], a[1], bad[b].option, run.err);
            }
            run_free(&run);
        }
        for (size_t i = 0; i < sizeof admin_verbs / sizeof admin_verbs[0]; i++) {
            const char *const *a = admin_verbs[i];
            const char *words[14] = {NULL};
            size_t n = 0;
            while (n < 10 && a[n] != NULL) {
                words[n] = a[n];
                n++;
            }
            words[n] = bad[b].option;
            words[n + 1] = bad[b].value;
            ctl(fixture, &run, "p-wopt-admin", key, words[0], words[1], words[2], words[3],
                words[4], words[5], words[6], words[7], words[8], words[9], words[10], words[11],
                NULL);
            expect_error(&run, 2, "USAGE");
            if (strncmp(run.err, bad[b].says, strlen(bad[b].says)) != 0) {
                fail_msg("%s %s %s: %s", a[0], a[1], bad[b].option, run.err);
            }
            run_free(&run);
        }
    }
    struct stat info;
    assert_int_not_equal(0, stat(rotated, &info));
    ctl(fixture, &run, "operator", fixture->operator_key, "--output", "json", "head", NULL);
    expect_ok(&run);
    assert_int_equal(head, json_int_at(json_object_get(run.json, "head"), "tree_size"));
    run_free(&run);
}

/* p-rot-admin, with the key file `key`, onboards `customer`: accepted when
 * `code` is NULL, else refused with it as an authentication failure (exit
 * 3), whose advice names the rotation. */
static void customer_add_as(struct fixture *fixture, const char *key, const char *customer,
                            const char *code)
{
    struct run run;
    ctl(fixture, &run, "p-rot-admin", key, "customer", "add", "--customer", customer, "--name", "C",
        NULL);
    if (code == NULL) {
        expect_ok(&run);
    } else {
        expect_error(&run, 3, code);
        assert_non_null(strstr(run.err, "after an operator rotated the principal's secret"));
    }
    run_free(&run);
}

/* `principal rotate`: the new key file (mode 0600, never replacing a file,
 * the secret never printed) authenticates from then on and the old one gets
 * BAD_SIGNATURE; the principal keeps its id, and the list shows when its
 * secret was rotated. Every refusal leaves no key file behind. */
static void test_ctl_cli_principal_rotate(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    char old_key[PATH_SIZE + 16];
    make_partner(fixture, "p-rot", "p-rot-admin", old_key, sizeof old_key);
    customer_add_as(fixture, old_key, "c1", NULL);
    char *old_secret = read_file(old_key);

    char new_key[PATH_SIZE + 32];
    snprintf(new_key, sizeof new_key, "%s/p-rot-admin-2.key", fixture->dir);
    ctl(fixture, &run, "operator", fixture->operator_key, "--output", "json", "principal", "rotate",
        "--id", "p-rot-admin", "--key-out", new_key, NULL);
    expect_ok(&run);
    assert_string_equal("p-rot-admin",
                        json_string_value(json_object_get(run.json, "principal_id")));
    assert_string_equal(new_key, json_string_value(json_object_get(run.json, "key_file")));
    json_int_t rotated_at =
        json_int_at(json_array_get(json_object_get(run.json, "results"), 0), "first_sequence");
    char *new_secret = read_file(new_key);
    assert_int_equal('\n', new_secret[64]);
    new_secret[64] = '\0';
    assert_null(strstr(run.out, new_secret));
    assert_null(strstr(run.out, "secret"));
    run_free(&run);
    struct stat info;
    assert_int_equal(0, stat(new_key, &info));
    assert_int_equal(0600, info.st_mode & 0777);
    assert_int_equal(65, info.st_size);
    assert_int_not_equal(0, strncmp(old_secret, new_secret, 64));

    /* The old key no longer authenticates; the new one does, as the same
     * principal. */
    customer_add_as(fixture, old_key, "c2", "BAD_SIGNATURE");
    customer_add_as(fixture, new_key, "c2", NULL);

    /* The list shows the rotation: its sequence and time, the row's last change. */
    ctl(fixture, &run, "operator", fixture->operator_key, "--output", "json", "principal", "list",
        NULL);
    expect_ok(&run);
    json_t *row = principal_row(&run, "p-rot-admin");
    assert_non_null(row);
    assert_int_equal(rotated_at, json_int_at(row, "secret_rotated_sequence"));
    assert_int_equal(rotated_at, json_int_at(row, "last_sequence"));
    assert_true(json_int_at(row, "sequence") < rotated_at);
    assert_true(json_is_string(json_object_get(row, "secret_rotated")));
    assert_false(json_is_true(json_object_get(row, "revoked")));
    /* A principal never rotated: no time. */
    assert_true(json_is_null(json_object_get(principal_row(&run, "operator"), "secret_rotated")));
    run_free(&run);
    ctl(fixture, &run, "operator", fixture->operator_key, "principal", "list", NULL);
    expect_ok(&run);
    assert_non_null(strstr(run.out, " SECRET_ROTATED "));
    assert_non_null(strstr(run.out, " ROTATED_SEQUENCE"));
    run_free(&run);

    /* An existing file is never replaced, and nothing is sent: the key in
     * it still works. */
    ctl(fixture, &run, "operator", fixture->operator_key, "principal", "rotate", "--id",
        "p-rot-admin", "--key-out", new_key, NULL);
    expect_error(&run, 2, "USAGE");
    assert_non_null(strstr(run.err, "a key file is never replaced"));
    run_free(&run);
    customer_add_as(fixture, new_key, "c3", NULL);
    ctl(fixture, &run, "operator", fixture->operator_key, "principal", "rotate", "--id",
        "p-rot-admin", "--key-out", "", NULL);
    expect_error(&run, 2, "USAGE");
    assert_string_equal("error: USAGE: --key-out: give the new key file's name\n", run.err);
    run_free(&run);

    /* Refusals, each leaving no key file. */
    char refused_key[PATH_SIZE + 32];
    snprintf(refused_key, sizeof refused_key, "%s/refused.key", fixture->dir);
    ctl(fixture, &run, "operator", fixture->operator_key, "principal", "rotate", "--id", "operator",
        "--key-out", refused_key, NULL);
    expect_error(&run, 1, "INVALID_ARGUMENT");
    assert_non_null(strstr(run.err, "another operator must"));
    run_free(&run);
    assert_int_equal(-1, stat(refused_key, &info));
    /* An --id that is no id is a usage error before the key file is made;
     * so it is for revoke. */
    ctl(fixture, &run, "operator", fixture->operator_key, "principal", "rotate", "--id",
        "no spaces", "--key-out", refused_key, NULL);
    expect_error(&run, 2, "USAGE");
    assert_string_equal("error: USAGE: --id: an id is 1..64 characters of A-Z a-z 0-9 . : @ -\n",
                        run.err);
    run_free(&run);
    assert_int_equal(-1, stat(refused_key, &info));
    ctl(fixture, &run, "operator", fixture->operator_key, "principal", "revoke", "--id", "a/b",
        NULL);
    expect_error(&run, 2, "USAGE");
    assert_string_equal("error: USAGE: --id: an id is 1..64 characters of A-Z a-z 0-9 . : @ -\n",
                        run.err);
    run_free(&run);
    ctl(fixture, &run, "operator", fixture->operator_key, "principal", "rotate", "--id", "ghost",
        "--key-out", refused_key, NULL);
    expect_error(&run, 1, "PRINCIPAL_NOT_FOUND");
    run_free(&run);
    assert_int_equal(-1, stat(refused_key, &info));
    ctl(fixture, &run, "p-rot-admin", new_key, "principal", "rotate", "--id", "operator",
        "--key-out", refused_key, NULL);
    expect_error(&run, 1, "FORBIDDEN");
    run_free(&run);
    assert_int_equal(-1, stat(refused_key, &info));
    ctl(fixture, &run, "operator", fixture->operator_key, "--partner", "p-other", "principal",
        "rotate", "--id", "p-rot-admin", "--key-out", refused_key, NULL);
    expect_error(&run, 1, "PARTNER_MISMATCH");
    run_free(&run);
    assert_int_equal(-1, stat(refused_key, &info));

    /* A retry of the same command answers without the secret, which is
     * sent once: the error says so, and the key of the first answer works. */
    char third_key[PATH_SIZE + 32];
    snprintf(third_key, sizeof third_key, "%s/p-rot-admin-3.key", fixture->dir);
    ctl(fixture, &run, "operator", fixture->operator_key, "principal", "rotate", "--id",
        "p-rot-admin", "--key-out", third_key, "--command-id", "c-p-rot-retried", NULL);
    expect_ok(&run);
    run_free(&run);
    ctl(fixture, &run, "operator", fixture->operator_key, "principal", "rotate", "--id",
        "p-rot-admin", "--key-out", refused_key, "--command-id", "c-p-rot-retried", NULL);
    expect_error(&run, 1, "IO_ERROR");
    assert_string_equal("error: IO_ERROR: the secret of principal p-rot-admin was rotated by an "
                        "earlier identical command; the new secret is sent only once (rotate it "
                        "again without --command-id if the key file was lost)\n",
                        run.err);
    run_free(&run);
    assert_int_equal(-1, stat(refused_key, &info));
    customer_add_as(fixture, new_key, "c4", "BAD_SIGNATURE");
    ctl(fixture, &run, "p-rot-admin", third_key, "customer", "add", "--customer", "c4", "--name",
        "C", NULL);
    expect_ok(&run);
    run_free(&run);

    /* A revoked principal gets no new secret: a refusal about it (exit 1),
     * not about the operator's own key. */
    ctl(fixture, &run, "operator", fixture->operator_key, "principal", "revoke", "--id",
        "p-rot-admin", NULL);
    expect_ok(&run);
    run_free(&run);
    ctl(fixture, &run, "operator", fixture->operator_key, "principal", "rotate", "--id",
        "p-rot-admin", "--key-out", refused_key, NULL);
    expect_error(&run, 1, "INVALID_ARGUMENT");
    assert_non_null(strstr(run.err, "can no longer be rotated"));
    assert_null(strstr(run.err, "key file"));
    run_free(&run);
    assert_int_equal(-1, stat(refused_key, &info));
    free(old_secret);
    free(new_secret);
}

static void test_ctl_cli_principal_key_file(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    char key[PATH_SIZE + 16];
    make_partner(fixture, "p-keys", "p-keys-admin", key, sizeof key);
    struct stat info;
    assert_int_equal(0, stat(key, &info));
    assert_int_equal(0600, info.st_mode & 0777);
    assert_int_equal(65, info.st_size);
    char *secret = read_file(key);
    assert_int_equal('\n', secret[64]);
    secret[64] = '\0';

    char helpdesk[PATH_SIZE + 16];
    snprintf(helpdesk, sizeof helpdesk, "%s/p-keys-helpdesk.key", fixture->dir);
    ctl(fixture, &run, "operator", fixture->operator_key, "--output", "json", "principal", "add",
        "--id", "p-keys-helpdesk", "--role", "helpdesk-agent", "--partner", "p-keys", "--key-out",
        helpdesk, NULL);
    expect_ok(&run);
    char *helpdesk_secret = read_file(helpdesk);
    helpdesk_secret[64] = '\0';
    assert_null(strstr(run.out, helpdesk_secret));
    assert_null(strstr(run.out, "secret"));
    assert_string_equal(helpdesk, json_string_value(json_object_get(run.json, "key_file")));
    run_free(&run);
    free(helpdesk_secret);
    free(secret);

    /* CSV carries what JSON does: the principal and its key file. */
    ctl(fixture, &run, "operator", fixture->operator_key, "--output", "csv", "principal", "add",
        "--id", "p-keys-csv", "--role", "helpdesk-agent", "--partner", "p-keys", "--key-out",
        "p-keys-csv.key", NULL);
    expect_ok(&run);
    assert_non_null(strstr(run.out, ",duplicate,principal_id,key_file\r\n"));
    assert_non_null(strstr(run.out, ",no,p-keys-csv,p-keys-csv.key\r\n"));
    run_free(&run);

    /* An existing key file is never replaced, and nothing is sent. */
    ctl(fixture, &run, "operator", fixture->operator_key, "principal", "add", "--id",
        "p-keys-other", "--role", "helpdesk-agent", "--partner", "p-keys", "--key-out", helpdesk,
        NULL);
    expect_error(&run, 2, "USAGE");
    run_free(&run);
    ctl(fixture, &run, "operator", fixture->operator_key, "principal", "add", "--id",
        "p-keys-admin", "--role", "admin-agent", "--partner", "p-keys", "--key-out", "new.key",
        NULL);
    expect_error(&run, 1, "PRINCIPAL_EXISTS");
    run_free(&run);
    /* The key file is made before the command is sent (so that a place it
     * cannot be made is found while nothing is committed) and removed when
     * the command is refused. */
    char refused_key[PATH_SIZE + 16];
    snprintf(refused_key, sizeof refused_key, "%s/new.key", fixture->dir);
    assert_int_equal(-1, stat(refused_key, &info));

    /* A key file that cannot be created: nothing is sent, so the principal
     * does not exist and the same command goes through with another file. */
    ctl(fixture, &run, "operator", fixture->operator_key, "principal", "add", "--id", "p-keys-lost",
        "--role", "admin-agent", "--partner", "p-keys", "--key-out",
        "/nonexistent-dir/p-keys-lost.key", NULL);
    expect_error(&run, 1, "IO_ERROR");
    assert_non_null(strstr(run.err, "No such file or directory"));
    assert_non_null(strstr(run.err, "nothing was sent"));
    run_free(&run);
    ctl(fixture, &run, "operator", fixture->operator_key, "principal", "add", "--id", "p-keys-lost",
        "--role", "admin-agent", "--partner", "p-keys", "--key-out", "p-keys-lost.key", NULL);
    expect_ok(&run);
    run_free(&run);

    /* A retried add answered as a duplicate comes without the secret,
     * which is sent once: the error says so and what to do, and the empty
     * key file made for it is removed. */
    ctl(fixture, &run, "operator", fixture->operator_key, "principal", "add", "--id",
        "p-keys-retried", "--role", "admin-agent", "--partner", "p-keys", "--key-out",
        "p-keys-retried.key", "--command-id", "c-p-keys-retried", NULL);
    expect_ok(&run);
    run_free(&run);
    ctl(fixture, &run, "operator", fixture->operator_key, "--output", "json", "principal", "add",
        "--id", "p-keys-retried", "--role", "admin-agent", "--partner", "p-keys", "--key-out",
        "p-keys-retried-again.key", "--command-id", "c-p-keys-retried", NULL);
    expect_error(&run, 1, "IO_ERROR");
    assert_string_equal("error: IO_ERROR: principal p-keys-retried was added by an earlier "
                        "identical command; its secret is sent only once (revoke it and add a "
                        "new one if the key file was lost)\n",
                        run.err);
    expect_json_error(&run, "IO_ERROR");
    run_free(&run);
    char retried_key[PATH_SIZE + 32];
    snprintf(retried_key, sizeof retried_key, "%s/p-keys-retried-again.key", fixture->dir);
    assert_int_equal(-1, stat(retried_key, &info));
    /* An empty file name is no key file. */
    ctl(fixture, &run, "operator", fixture->operator_key, "principal", "add", "--id",
        "p-keys-nameless", "--role", "admin-agent", "--partner", "p-keys", "--key-out", "", NULL);
    expect_error(&run, 2, "USAGE");
    assert_string_equal("error: USAGE: --key-out: give the new key file's name\n", run.err);
    run_free(&run);

    /* A secret that cannot be written once the principal is committed (a
     * file size limit stops the write halfway): the error says the
     * principal exists and what to do, and no half key file is left. Not
     * under scripts/valgrind.sh: valgrind's own log file would meet the
     * same limit. */
    if (getenv("LEDGER_TEST_VALGRIND") == NULL) {
        ctl_file_size_limited(fixture, &run, 32, "principal", "add", "--id", "p-keys-half",
                              "--role", "admin-agent", "--partner", "p-keys", "--key-out",
                              "p-keys-half.key", NULL);
        expect_error(&run, 1, "IO_ERROR");
        assert_non_null(strstr(run.err, "principal p-keys-half was added"));
        assert_non_null(strstr(run.err, "principal revoke --id p-keys-half"));
        run_free(&run);
        char half_key[PATH_SIZE + 32];
        snprintf(half_key, sizeof half_key, "%s/p-keys-half.key", fixture->dir);
        assert_int_equal(-1, stat(half_key, &info));
        ctl(fixture, &run, "operator", fixture->operator_key, "--output", "json", "principal",
            "list", NULL);
        expect_ok(&run);
        assert_non_null(strstr(run.out, "\"p-keys-half\""));
        run_free(&run);
    }

    /* The helpdesk agent reads but may not write. */
    ctl(fixture, &run, "p-keys-helpdesk", helpdesk, "customer", "add", "--customer", "c1", "--name",
        "C", NULL);
    expect_error(&run, 1, "FORBIDDEN");
    run_free(&run);
}

/* Output into a pipe whose reader is gone (`ledgerctl activity | head -1`
 * after head exited) is IO_ERROR, exit status 1, as for a full disk: never
 * death by SIGPIPE (exit status 141), in a listing or a followed feed. The
 * error line gives the system's reason in every output format. */
static void test_ctl_cli_closed_pipe(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    char key[PATH_SIZE + 16];
    make_partner(fixture, "p-pipe", "p-pipe-admin", key, sizeof key);
    static const char *const formats[] = {"table", "json", "csv"};
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        fixture->stdout_closed = true;
        ctl(fixture, &run, "p-pipe-admin", key, "--output", formats[i], "activity", NULL);
        fixture->stdout_closed = false;
        expect_error(&run, 1, "IO_ERROR");
        assert_non_null(strstr(run.err, "cannot write the output: Broken pipe"));
        run_free(&run);
        /* A full disk is named as such too. */
        fixture->stdout_path = "/dev/full";
        ctl(fixture, &run, "p-pipe-admin", key, "--output", formats[i], "activity", NULL);
        fixture->stdout_path = NULL;
        expect_error(&run, 1, "IO_ERROR");
        assert_non_null(strstr(run.err, "cannot write the output: No space left on device"));
        run_free(&run);
    }
    /* A write whose result cannot be printed was committed all the same:
     * the error says so, and how to finish it without doing it twice. */
    fixture->stdout_path = "/dev/full";
    ctl(fixture, &run, "p-pipe-admin", key, "customer", "add", "--customer", "c-pipe", "--name",
        "Pipe", "--command-id", "pipe-cmd-1", NULL);
    fixture->stdout_path = NULL;
    expect_error(&run, 1, "IO_ERROR");
    assert_non_null(strstr(run.err, "cannot write the output: No space left on device; the "
                                    "command was committed all the same (sequence "));
    assert_non_null(strstr(run.err, "): do not run it again under a new id (with --command-id "
                                    "pipe-cmd-1 it is answered as a duplicate, never done "
                                    "twice)"));
    run_free(&run);
    ctl(fixture, &run, "p-pipe-admin", key, "--output", "json", "customer", "add", "--customer",
        "c-pipe", "--name", "Pipe", "--command-id", "pipe-cmd-1", NULL);
    expect_ok(&run);
    assert_non_null(strstr(run.out, "\"duplicate\": true"));
    run_free(&run);
    /* A read that cannot be printed committed nothing, and says nothing of
     * it. */
    fixture->stdout_path = "/dev/full";
    ctl(fixture, &run, "p-pipe-admin", key, "activity", NULL);
    fixture->stdout_path = NULL;
    expect_error(&run, 1, "IO_ERROR");
    assert_null(strstr(run.err, "committed"));
    run_free(&run);
    char auditor[PATH_SIZE + 16];
    make_staff(fixture, "p-pipe", "p-pipe-auditor", "auditor", auditor, sizeof auditor);
    fixture->stdout_closed = true;
    ctl(fixture, &run, "p-pipe-auditor", auditor, "events", "--follow", NULL);
    fixture->stdout_closed = false;
    expect_error(&run, 1, "IO_ERROR");
    assert_non_null(strstr(run.err, "cannot write the output: Broken pipe"));
    run_free(&run);
    /* A feed onto a full disk never advances its checkpoint past what did
     * not reach it: the file is not even made. So for a feed with nothing
     * to print but its CSV header. */
    char checkpoint[PATH_SIZE + 32];
    snprintf(checkpoint, sizeof checkpoint, "%s/full-disk.checkpoint", fixture->dir);
    const char *const from[] = {"1", "1000000"};
    for (size_t i = 0; i < sizeof from / sizeof from[0]; i++) {
        fixture->stdout_path = "/dev/full";
        ctl(fixture, &run, "p-pipe-auditor", auditor, "--output", "csv", "events", "--from",
            from[i], "--checkpoint", checkpoint, NULL);
        fixture->stdout_path = NULL;
        expect_error(&run, 1, "IO_ERROR");
        assert_non_null(strstr(run.err, "cannot write the output: No space left on device"));
        run_free(&run);
        struct stat info;
        assert_int_not_equal(0, stat(checkpoint, &info));
    }
}

/* A page of activity that is not the last names the next page's token in
 * every format: in JSON, after the table, and on stderr beside CSV (whose
 * stdout stays CSV alone); following it gives the next page. */
static void test_ctl_cli_activity_pages(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    char key[PATH_SIZE + 16];
    make_partner(fixture, "p-pages", "p-pages-admin", key, sizeof key);
    static const char *const customers[] = {"pages-1", "pages-2", "pages-3"};
    for (size_t i = 0; i < sizeof customers / sizeof customers[0]; i++) {
        ctl(fixture, &run, "p-pages-admin", key, "customer", "add", "--customer", customers[i],
            "--name", "Pages", NULL);
        expect_ok(&run);
        run_free(&run);
    }
    ctl(fixture, &run, "p-pages-admin", key, "--output", "csv", "activity", "--limit", "1", NULL);
    expect_ok(&run);
    assert_null(strstr(run.out, "next_page_token"));
    const char *hint = strstr(run.err, "next_page_token: ");
    assert_non_null(hint);
    char token[64];
    assert_int_equal(1, sscanf(hint, "next_page_token: %63s", token));
    char *first = strdup(run.out);
    run_free(&run);
    ctl(fixture, &run, "p-pages-admin", key, "--output", "csv", "activity", "--limit", "1",
        "--page-token", token, NULL);
    expect_ok(&run);
    assert_string_not_equal(first, run.out);
    run_free(&run);
    free(first);
    ctl(fixture, &run, "p-pages-admin", key, "activity", "--limit", "1", NULL);
    expect_ok(&run);
    assert_non_null(strstr(run.out, "next_page_token: "));
    run_free(&run);
    /* A number no page printed (past the log) is refused, saying which
     * token to give instead. */
    ctl(fixture, &run, "p-pages-admin", key, "activity", "--page-token", "999999999", NULL);
    expect_error(&run, 1, "INVALID_ARGUMENT");
    assert_non_null(strstr(run.err, "page_token '999999999' is no next_page_token this ledger "
                                    "returned: give the one the last page printed"));
    run_free(&run);
}

static void test_ctl_cli_retries_are_duplicates(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    char key[PATH_SIZE + 16];
    make_partner(fixture, "p-retry", "p-retry-admin", key, sizeof key);
    ctl(fixture, &run, "p-retry-admin", key, "--output", "json", "customer", "add", "--customer",
        "c1", "--name", "Retry Customer", "--command-id", "retry-1", NULL);
    expect_ok(&run);
    json_t *result = json_array_get(json_object_get(run.json, "results"), 0);
    assert_string_equal("retry-1", json_string_value(json_object_get(result, "command_id")));
    json_int_t sequence = json_int_at(result, "first_sequence");
    assert_true(sequence > 0);
    assert_int_equal(sequence, json_int_at(result, "last_sequence"));
    assert_int_equal(1, json_int_at(result, "stream_version"));
    assert_true(json_is_false(json_object_get(result, "duplicate")));
    assert_true(json_int_at(run.json, "head_sequence") >= sequence);
    run_free(&run);

    ctl(fixture, &run, "p-retry-admin", key, "--output", "json", "customer", "add", "--customer",
        "c1", "--name", "Retry Customer", "--command-id", "retry-1", NULL);
    expect_ok(&run);
    result = json_array_get(json_object_get(run.json, "results"), 0);
    assert_int_equal(sequence, json_int_at(result, "first_sequence"));
    assert_true(json_is_true(json_object_get(result, "duplicate")));
    run_free(&run);

    ctl(fixture, &run, "p-retry-admin", key, "customer", "add", "--customer", "c1", "--name",
        "Another Name", "--command-id", "retry-1", NULL);
    expect_error(&run, 1, "COMMAND_ID_REUSED");
    run_free(&run);

    /* Table output names the sequence; --correlation-id is recorded with
     * the event (an auditor reads it back). */
    ctl(fixture, &run, "p-retry-admin", key, "subscription", "add", "--customer", "c1",
        "--subscription", "s1", "--offer", "azure-plan", "--command-id", "retry-2",
        "--correlation-id", "ticket-4711", NULL);
    expect_ok(&run);
    assert_non_null(strstr(run.out, "retry-2: committed as sequence "));
    run_free(&run);
    char auditor[PATH_SIZE + 16];
    make_staff(fixture, "p-retry", "p-retry-auditor", "auditor", auditor, sizeof auditor);
    ctl(fixture, &run, "p-retry-auditor", auditor, "--output", "json", "events", "--type",
        "subscription_purchased", NULL);
    expect_ok(&run);
    json_t *purchased = json_loads(run.out, 0, NULL);
    assert_non_null(purchased);
    assert_string_equal("retry-2", json_string_value(json_object_get(purchased, "command_id")));
    assert_string_equal("ticket-4711",
                        json_string_value(json_object_get(purchased, "correlation_id")));
    json_decref(purchased);
    run_free(&run);
    ctl(fixture, &run, "p-retry-admin", key, "customer", "add", "--customer", "c9", "--name", "C9",
        "--correlation-id", "not an id", NULL);
    expect_error(&run, 2, "USAGE");
    assert_non_null(strstr(run.err, "--correlation-id"));
    run_free(&run);

    /* --expected-version: the stream is at 2 now. */
    ctl(fixture, &run, "p-retry-admin", key, "permission", "enable", "--customer", "c1", "--kind",
        "reservations", "--expected-version", "1", NULL);
    expect_error(&run, 1, "VERSION_CONFLICT");
    run_free(&run);
    ctl(fixture, &run, "p-retry-admin", key, "permission", "enable", "--customer", "c1", "--kind",
        "reservations", "--expected-version", "2", NULL);
    expect_ok(&run);
    run_free(&run);
}

/* A customer with an active plan, a customer user holding Owner, and the
 * reservations permission as asked. The customer is onboarded dated 2015,
 * so that the tests may date its commands back (none is dated before its
 * onboarding). */
static void setup_customer(struct fixture *fixture, const char *partner, const char *admin_key,
                           const char *admin, char *user_key, size_t user_key_size)
{
    struct run run;
    ctl(fixture, &run, admin, admin_key, "customer", "add", "--customer", "fab", "--name",
        "Fabrikam", "--business-time", "2015-01-01T00:00:00Z", NULL);
    expect_ok(&run);
    run_free(&run);
    /* Rule 2: no permission before an eligible subscription. */
    ctl(fixture, &run, admin, admin_key, "--output", "json", "permission", "enable", "--customer",
        "fab", "--kind", "reservations", NULL);
    expect_error(&run, 1, "NO_ELIGIBLE_SUBSCRIPTION");
    expect_json_error(&run, "NO_ELIGIBLE_SUBSCRIPTION");
    run_free(&run);
    ctl(fixture, &run, admin, admin_key, "subscription", "add", "--customer", "fab",
        "--subscription", "fab-plan", "--offer", "azure-plan", NULL);
    expect_ok(&run);
    run_free(&run);
    ctl(fixture, &run, admin, admin_key, "role", "assign", "--customer", "fab", "--subscription",
        "fab-plan", "--user", "bob", "--role", "owner", NULL);
    expect_ok(&run);
    run_free(&run);
    snprintf(user_key, user_key_size, "%s/%s-bob.key", fixture->dir, partner);
    char id[128];
    snprintf(id, sizeof id, "%s-bob", partner);
    ctl(fixture, &run, "operator", fixture->operator_key, "principal", "add", "--id", id, "--role",
        "customer-user", "--partner", partner, "--customer", "fab", "--user", "bob", "--key-out",
        user_key, NULL);
    expect_ok(&run);
    run_free(&run);
}

static void test_ctl_cli_refusals(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    char key[PATH_SIZE + 16], bob_key[PATH_SIZE + 16];
    make_partner(fixture, "p-ref", "p-ref-admin", key, sizeof key);
    setup_customer(fixture, "p-ref", key, "p-ref-admin", bob_key, sizeof bob_key);

    /* The customer cannot buy while the permission is off. */
    ctl(fixture, &run, "p-ref-bob", bob_key, "--output", "json", "reservation", "buy", "--customer",
        "fab", "--subscription", "fab-plan", "--sku", "Standard_B2ms", "--region", "westeurope",
        "--quantity", "1", "--term", "P1Y", "--billing", "upfront", "--scope", "shared", "--price",
        "420.00", "--retail-price", "525.00", "--currency", "USD", NULL);
    expect_error(&run, 1, "PERMISSION_OFF");
    expect_json_error(&run, "PERMISSION_OFF");
    run_free(&run);
    /* Rule 4 at the purchase's business time: not before the billing
     * subscription was bought (today), and the message says from when. */
    ctl(fixture, &run, "p-ref-admin", key, "reservation", "buy", "--customer", "fab",
        "--subscription", "fab-plan", "--sku", "Standard_B2ms", "--region", "westeurope",
        "--quantity", "1", "--term", "P1Y", "--billing", "upfront", "--scope", "shared", "--price",
        "420.00", "--retail-price", "525.00", "--currency", "USD", "--business-time",
        "2020-01-01T00:00:00Z", NULL);
    expect_error(&run, 1, "SUBSCRIPTION_NOT_FOUND");
    assert_non_null(strstr(run.err, "billing subscription fab-plan of customer fab was bought "));
    assert_non_null(strstr(run.err, "a purchase dated 2020-01-01T00:00:00Z, before then, was not "
                                    "allowed; date it at or after that"));
    run_free(&run);
    /* A subscription belongs to one customer: another customer of the
     * partner cannot record fab-plan, and is told who holds it. */
    ctl(fixture, &run, "p-ref-admin", key, "customer", "add", "--customer", "fab2", "--name",
        "Fabrikam Two", NULL);
    expect_ok(&run);
    run_free(&run);
    ctl(fixture, &run, "p-ref-admin", key, "--output", "json", "subscription", "add", "--customer",
        "fab2", "--subscription", "fab-plan", "--offer", "azure-plan", NULL);
    expect_error(&run, 1, "SUBSCRIPTION_EXISTS");
    expect_json_error(&run, "SUBSCRIPTION_EXISTS");
    assert_non_null(strstr(run.out, "subscription fab-plan already exists for customer fab of "
                                    "partner p-ref"));
    run_free(&run);

    ctl(fixture, &run, "p-ref-admin", key, "permission", "enable", "--customer", "fab", "--kind",
        "reservations", NULL);
    expect_ok(&run);
    run_free(&run);
    ctl(fixture, &run, "p-ref-admin", key, "permission", "enable", "--customer", "fab", "--kind",
        "reservations", NULL);
    expect_error(&run, 1, "PERMISSION_ALREADY_ON");
    run_free(&run);
    ctl(fixture, &run, "p-ref-admin", key, "permission", "disable", "--customer", "fab", "--kind",
        "savings-plans", NULL);
    expect_error(&run, 1, "PERMISSION_ALREADY_OFF");
    run_free(&run);

    ctl(fixture, &run, "p-ref-bob", bob_key, "--output", "json", "reservation", "buy", "--customer",
        "fab", "--subscription", "fab-plan", "--sku", "Standard_B2ms", "--region", "westeurope",
        "--quantity", "1", "--term", "P1Y", "--billing", "upfront", "--scope", "shared", "--price",
        "420.00", "--retail-price", "525.00", "--currency", "USD", NULL);
    expect_ok(&run);
    json_t *result = json_array_get(json_object_get(run.json, "results"), 0);
    const char *reservation = json_string_value(json_object_get(result, "reservation_id"));
    assert_non_null(reservation);
    assert_true(strlen(reservation) > 0);
    assert_true(strlen(json_string_value(json_object_get(result, "order_id"))) > 0);
    char reservation_id[128];
    snprintf(reservation_id, sizeof reservation_id, "%s", reservation);
    run_free(&run);

    /* Rule 5: the customer asks its partner for changes. */
    ctl(fixture, &run, "p-ref-bob", bob_key, "reservation", "cancel", "--customer", "fab",
        "--reservation", reservation_id, "--refund", "100", NULL);
    expect_error(&run, 1, "ASK_PARTNER");
    run_free(&run);
    ctl(fixture, &run, "p-ref-bob", bob_key, "reservation", "renew", "--customer", "fab",
        "--reservation", reservation_id, "--on", NULL);
    expect_error(&run, 1, "ASK_PARTNER");
    run_free(&run);
    /* The customer may not buy savings plans (that permission is off). */
    ctl(fixture, &run, "p-ref-bob", bob_key, "savings-plan", "buy", "--customer", "fab",
        "--subscription", "fab-plan", "--hourly-commitment", "1.00", "--term", "P1Y", "--billing",
        "monthly", "--scope", "shared", "--price", "8760", "--retail-price", "9000", "--currency",
        "USD", NULL);
    expect_error(&run, 1, "PERMISSION_OFF");
    run_free(&run);

    /* Rule 10: a subscription with active reservations cannot be suspended. */
    ctl(fixture, &run, "p-ref-admin", key, "subscription", "status", "--customer", "fab",
        "--subscription", "fab-plan", "--status", "suspended", NULL);
    expect_error(&run, 1, "SUBSCRIPTION_HAS_RESERVATIONS");
    run_free(&run);

    /* The partner does it: renewal, scope, cancel. */
    ctl(fixture, &run, "p-ref-admin", key, "reservation", "renew", "--customer", "fab",
        "--reservation", reservation_id, "--on", NULL);
    expect_ok(&run);
    run_free(&run);
    ctl(fixture, &run, "p-ref-admin", key, "reservation", "scope", "--customer", "fab",
        "--reservation", reservation_id, "--scope", "single", "--scope-target", "fab-plan", NULL);
    expect_ok(&run);
    run_free(&run);
    ctl(fixture, &run, "p-ref-admin", key, "reservation", "cancel", "--customer", "fab",
        "--reservation", reservation_id, "--refund", "60000", NULL);
    expect_error(&run, 1, "INVALID_AMOUNT"); /* more than it cost */
    run_free(&run);
    /* Rule 7: no more than it still commits; on the day of its purchase,
     * its whole price. */
    ctl(fixture, &run, "p-ref-admin", key, "reservation", "cancel", "--customer", "fab",
        "--reservation", reservation_id, "--refund", "420.01", NULL);
    expect_error(&run, 1, "INVALID_AMOUNT");
    assert_non_null(strstr(run.err, "USD 420.00 of its price USD 420.00 (the share of its term's "
                                    "days still to run); refund at most that"));
    run_free(&run);
    /* Rule 7: USD 50,000 of refunds per customer in 365 days. */
    ctl(fixture, &run, "p-ref-admin", key, "--output", "json", "reservation", "buy", "--customer",
        "fab", "--subscription", "fab-plan", "--sku", "Standard_M128s", "--region", "westeurope",
        "--quantity", "1", "--term", "P3Y", "--billing", "upfront", "--scope", "shared", "--price",
        "90000.00", "--retail-price", "99000.00", "--currency", "USD", NULL);
    expect_ok(&run);
    char big[128];
    snprintf(big, sizeof big, "%s",
             json_string_value(json_object_get(
                 json_array_get(json_object_get(run.json, "results"), 0), "reservation_id")));
    run_free(&run);
    ctl(fixture, &run, "p-ref-admin", key, "reservation", "cancel", "--customer", "fab",
        "--reservation", big, "--refund", "60000", NULL);
    expect_error(&run, 1, "REFUND_CAP_EXCEEDED");
    run_free(&run);
    ctl(fixture, &run, "p-ref-admin", key, "reservation", "cancel", "--customer", "fab",
        "--reservation", reservation_id, "--refund", "100.00", NULL);
    expect_ok(&run);
    run_free(&run);
    ctl(fixture, &run, "p-ref-admin", key, "reservation", "cancel", "--customer", "fab",
        "--reservation", reservation_id, "--refund", "100.00", NULL);
    expect_error(&run, 1, "RESERVATION_NOT_ACTIVE");
    run_free(&run);

    /* Unknown things. */
    ctl(fixture, &run, "p-ref-admin", key, "subscription", "add", "--customer", "nobody",
        "--subscription", "x", "--offer", "azure-plan", NULL);
    expect_error(&run, 1, "CUSTOMER_NOT_FOUND");
    run_free(&run);
}

/* The one row of `view` (a JSON array member) whose `key` is `id`. */
static json_t *row_with(const struct run *run, const char *view, const char *key, const char *id)
{
    json_t *rows = json_object_get(run->json, view);
    for (size_t i = 0; i < json_array_size(rows); i++) {
        json_t *row = json_array_get(rows, i);
        const char *value = json_string_value(json_object_get(row, key));
        if (value != NULL && strcmp(value, id) == 0) {
            return row;
        }
    }
    fail_msg("no %s row with %s %s: %s", view, key, id, run->out);
    return NULL;
}

/* The table line naming `id` ends with the columns `first` and `last`. */
static void expect_row_ends(const char *out, const char *id, json_int_t first, json_int_t last)
{
    const char *at = strstr(out, id);
    assert_non_null(at);
    const char *end = strchr(at, '\n');
    size_t length = end != NULL ? (size_t)(end - at) : strlen(at);
    char line[1024];
    assert_true(length < sizeof line);
    memcpy(line, at, length);
    line[length] = '\0';
    const char *cells[2] = {"", ""}; /* the last two, in order */
    char *saved = NULL;
    for (char *cell = strtok_r(line, " ", &saved); cell != NULL;
         cell = strtok_r(NULL, " ", &saved)) {
        cells[0] = cells[1];
        cells[1] = cell;
    }
    char expected[2][32];
    snprintf(expected[0], sizeof expected[0], "%lld", (long long)first);
    snprintf(expected[1], sizeof expected[1], "%lld", (long long)last);
    assert_string_equal(expected[0], cells[0]);
    assert_string_equal(expected[1], cells[1]);
}

/* Runs ledgerctl as `principal` and expects success, or the refusal `code`
 * with exit status `status` (code NULL: success). */
#define CTL_EXPECT(status, code, principal, key_file, ...)                                         \
    do {                                                                                           \
        struct run expect_run_;                                                                    \
        ctl(fixture, &expect_run_, principal, key_file, __VA_ARGS__, NULL);                        \
        if ((code) == NULL) {                                                                      \
            expect_ok(&expect_run_);                                                               \
        } else {                                                                                   \
            expect_error(&expect_run_, status, code);                                              \
        }                                                                                          \
        run_free(&expect_run_);                                                                    \
    } while (0)

/* Buys a reservation for customer fab (subscription fab-plan, P1Y upfront,
 * shared) through ledgerctl and puts its id into id (128 bytes). */
static void buy_via_ctl(struct fixture *fixture, const char *admin, const char *key,
                        const char *sku, const char *quantity, const char *price,
                        const char *retail, const char *currency, char id[128])
{
    struct run run;
    ctl(fixture, &run, admin, key, "--output", "json", "reservation", "buy", "--customer", "fab",
        "--subscription", "fab-plan", "--sku", sku, "--region", "westeurope", "--quantity",
        quantity, "--term", "P1Y", "--billing", "upfront", "--scope", "shared", "--price", price,
        "--retail-price", retail, "--currency", currency, NULL);
    expect_ok(&run);
    result_field(&run, "reservation_id", id, 128);
    run_free(&run);
}

/* Runs `reservation exchange` of `returned` for two replacements (E4s for
 * 600.00, D4s for 400.00) with the scope options in `scope` (up to 8 words,
 * NULL after the last), in JSON. */
static void exchange_scoped(struct fixture *fixture, struct run *run, const char *admin,
                            const char *key, const char *returned, const char *const scope[9])
{
    ctl(fixture, run, admin, key, "--output", "json", "reservation", "exchange", "--customer",
        "fab", "--reservation", returned, "--refund", "0", "--subscription", "fab-plan", "--sku",
        "Standard_E4s_v5,Standard_D4s_v5", "--region", "westeurope", "--quantity", "1", "--term",
        "P3Y", "--billing", "upfront", "--price", "600.00", "--price", "400.00", "--retail-price",
        "700.00", "--retail-price", "500.00", "--currency", "USD", scope[0], scope[1], scope[2],
        scope[3], scope[4], scope[5], scope[6], scope[7], NULL);
}

/* The partner's changes through ledgerctl, each verb once, with what the
 * views show after it: role removal, an exchange (and one worth too little),
 * a cancellation refunded in euros, a savings plan's scope and renewal, the
 * customer's cost visibility; and the operator's statistics. */
static void test_ctl_cli_partner_changes(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    char key[PATH_SIZE + 16], bob_key[PATH_SIZE + 16];
    make_partner(fixture, "p-chg", "p-chg-admin", key, sizeof key);
    setup_customer(fixture, "p-chg", key, "p-chg-admin", bob_key, sizeof bob_key);
    const char *admin = "p-chg-admin", *bob = "p-chg-bob";

    CTL_EXPECT(0, NULL, admin, key, "role", "assign", "--customer", "fab", "--subscription",
               "fab-plan", "--user", "carol", "--role", "reader");
    CTL_EXPECT(0, NULL, admin, key, "role", "remove", "--customer", "fab", "--subscription",
               "fab-plan", "--user", "carol", "--role", "reader");
    CTL_EXPECT(1, "ROLE_NOT_ASSIGNED", admin, key, "role", "remove", "--customer", "fab",
               "--subscription", "fab-plan", "--user", "carol", "--role", "reader");

    /* An exchange returns a reservation and buys its replacement. */
    char old_id[128], new_id[128];
    buy_via_ctl(fixture, admin, key, "Standard_D2s_v5", "1", "1000.00", "1200.00", "USD", old_id);
    CTL_EXPECT(1, "EXCHANGE_VALUE_TOO_LOW", admin, key, "reservation", "exchange", "--customer",
               "fab", "--reservation", old_id, "--refund", "0", "--subscription", "fab-plan",
               "--sku", "Standard_E4s_v5", "--region", "westeurope", "--quantity", "1", "--term",
               "P3Y", "--billing", "monthly", "--scope", "shared", "--price", "500.00",
               "--retail-price", "600.00", "--currency", "USD");
    ctl(fixture, &run, admin, key, "--output", "json", "reservation", "exchange", "--customer",
        "fab", "--reservation", old_id, "--refund", "0", "--subscription", "fab-plan", "--sku",
        "Standard_E4s_v5", "--region", "westeurope", "--quantity", "1", "--term", "P3Y",
        "--billing", "monthly", "--scope", "shared", "--price", "3000.00", "--retail-price",
        "3600.00", "--currency", "USD", NULL);
    expect_ok(&run);
    result_field(&run, "reservation_id", new_id, sizeof new_id);
    run_free(&run);
    ctl(fixture, &run, admin, key, "--output", "json", "reservations", "--customer", "fab", NULL);
    expect_ok(&run);
    json_t *returned = row_with(&run, "reservations", "reservation_id", old_id);
    assert_string_equal("exchanged", json_string_value(json_object_get(returned, "state")));
    json_t *replacement = row_with(&run, "reservations", "reservation_id", new_id);
    assert_string_equal("active", json_string_value(json_object_get(replacement, "state")));
    assert_string_equal("Standard_E4s_v5", json_string_value(json_object_get(replacement, "sku")));
    json_int_t bought = json_int_at(returned, "sequence");
    json_int_t exchanged = json_int_at(returned, "last_sequence");
    assert_true(exchanged > bought);
    run_free(&run);
    /* The table names the same two events, the purchase (for `explain
     * --seq`) and the exchange, in its last two columns. */
    ctl(fixture, &run, admin, key, "reservations", "--customer", "fab", NULL);
    expect_ok(&run);
    assert_non_null(strstr(run.out, " SEQUENCE "));
    assert_non_null(strstr(run.out, " LAST_SEQUENCE"));
    expect_row_ends(run.out, old_id, bought, exchanged);
    run_free(&run);

    /* An exchange for several replacements: the purchase options once for
     * all of them or once for each, in order. */
    char many_id[128];
    buy_via_ctl(fixture, admin, key, "Standard_D2s_v5", "2", "1000.00", "1200.00", "USD", many_id);
    ctl(fixture, &run, admin, key, "reservation", "exchange", "--customer", "fab", "--reservation",
        many_id, "--refund", "0", "--subscription", "fab-plan", "--sku", "Standard_E4s_v5", "--sku",
        "Standard_D4s_v5", "--sku", "Standard_B2ms", "--region", "westeurope", "--quantity", "1",
        "--term", "P1Y,P3Y", "--billing", "upfront", "--scope", "shared", "--price", "300.00",
        "--price", "300.00", "--price", "300.00", "--retail-price", "400.00", "--currency", "USD",
        NULL);
    expect_error(&run, 2, "USAGE");
    assert_non_null(strstr(run.err, "--term: given 2 times for 3 replacements"));
    run_free(&run);
    ctl(fixture, &run, admin, key, "reservation", "exchange", "--customer", "fab", "--reservation",
        many_id, "--refund", "0", "--subscription", "fab-plan", "--sku",
        "Standard_E4s_v5,Standard_D4s_v5", "--region", "westeurope", "--quantity", "1,0", "--term",
        "P1Y", "--billing", "upfront", "--scope", "shared", "--price", "600.00", "--price",
        "400.00", "--retail-price", "700.00", "--retail-price", "500.00", "--currency", "USD",
        NULL);
    expect_error(&run, 2, "USAGE");
    assert_non_null(strstr(run.err, "replacement 2 of 2: --quantity"));
    run_free(&run);
    /* A comma in an amount is a typing habit, not a second price. */
    ctl(fixture, &run, admin, key, "reservation", "exchange", "--customer", "fab", "--reservation",
        many_id, "--refund", "0", "--subscription", "fab-plan", "--sku", "Standard_E4s_v5",
        "--region", "westeurope", "--quantity", "1", "--term", "P1Y", "--billing", "upfront",
        "--scope", "shared", "--price", "1,200.00", "--retail-price", "1300.00", "--currency",
        "USD", NULL);
    expect_error(&run, 2, "USAGE");
    assert_non_null(strstr(run.err, "--price: an amount has no commas"));
    run_free(&run);
    /* Less than the remaining commitment together: refused. */
    CTL_EXPECT(1, "EXCHANGE_VALUE_TOO_LOW", admin, key, "reservation", "exchange", "--customer",
               "fab", "--reservation", many_id, "--refund", "0", "--subscription", "fab-plan",
               "--sku", "Standard_E4s_v5,Standard_D4s_v5", "--region", "westeurope", "--quantity",
               "1", "--term", "P3Y", "--billing", "upfront", "--scope", "shared", "--price",
               "10.00", "--price", "20.00", "--retail-price", "30.00", "--currency", "USD");
    ctl(fixture, &run, admin, key, "--output", "json", "reservation", "exchange", "--customer",
        "fab", "--reservation", many_id, "--refund", "0", "--subscription", "fab-plan", "--sku",
        "Standard_E4s_v5", "--sku", "Standard_D4s_v5", "--region", "westeurope", "--quantity", "1",
        "--quantity", "3", "--term", "P3Y", "--billing", "upfront", "--billing", "monthly",
        "--scope", "shared", "--price", "600.00", "--price", "400.00", "--retail-price", "700.00",
        "--retail-price", "500.00", "--currency", "USD", NULL);
    expect_ok(&run);
    char first_id[64], ids[160];
    result_field(&run, "reservation_id", first_id, sizeof first_id);
    snprintf(ids, sizeof ids, "%s,%s-2", first_id, first_id);
    assert_string_equal(ids, json_string_value(json_object_get(run.json, "reservation_ids")));
    run_free(&run);
    char second_id[160];
    snprintf(second_id, sizeof second_id, "%s-2", first_id);
    ctl(fixture, &run, admin, key, "--output", "json", "reservations", "--customer", "fab", NULL);
    expect_ok(&run);
    assert_string_equal("exchanged",
                        json_string_value(json_object_get(
                            row_with(&run, "reservations", "reservation_id", many_id), "state")));
    json_t *first_row = row_with(&run, "reservations", "reservation_id", first_id);
    json_t *second_row = row_with(&run, "reservations", "reservation_id", second_id);
    assert_string_equal("Standard_E4s_v5", json_string_value(json_object_get(first_row, "sku")));
    assert_string_equal("Standard_D4s_v5", json_string_value(json_object_get(second_row, "sku")));
    assert_int_equal(3, json_integer_value(json_object_get(second_row, "quantity")));
    assert_string_equal("monthly", json_string_value(json_object_get(second_row, "billing_plan")));
    assert_string_equal("active", json_string_value(json_object_get(second_row, "state")));
    run_free(&run);

    /* Replacements of different scope kinds: --scope-target once for each,
     * '' where the scope is shared (it has no target). */
    char mixed_id[128];
    buy_via_ctl(fixture, admin, key, "Standard_D2s_v5", "1", "1000.00", "1200.00", "USD", mixed_id);
    const struct {
        const char *scope[9];
        const char *why;
    } refused[] = {
        {{"--scope", "shared", "--scope", "single", "--scope-target", "fab-plan"},
         "--scope-target: given once for 2 replacements, shared ones among them"},
        {{"--scope", "shared,single", "--scope-target", "fab-plan"},
         "--scope-target: given once for 2 replacements, shared ones among them"},
        {{"--scope", "single", "--scope", "shared", "--scope-target", "fab-plan", "--scope-target",
          "fab-plan"},
         "replacement 2 of 2: --scope-target: a shared scope has no target"},
        {{"--scope", "shared", "--scope", "single", "--scope-target", "", "--scope-target", ""},
         "replacement 2 of 2: --scope-target: required unless --scope shared"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        exchange_scoped(fixture, &run, admin, key, mixed_id, refused[i].scope);
        expect_error(&run, 2, "USAGE");
        if (strstr(run.err, refused[i].why) == NULL) {
            fail_msg("case %zu: expected '%s', got %s", i, refused[i].why, run.err);
        }
        run_free(&run);
    }
    /* Three replacements, two targets. */
    ctl(fixture, &run, admin, key, "reservation", "exchange", "--customer", "fab", "--reservation",
        mixed_id, "--refund", "0", "--subscription", "fab-plan", "--sku",
        "Standard_E4s_v5,Standard_D4s_v5,Standard_B2ms", "--region", "westeurope", "--quantity",
        "1", "--term", "P3Y", "--billing", "upfront", "--scope", "shared,single,single",
        "--scope-target", ",fab-plan", "--price", "600.00", "--price", "400.00", "--price",
        "300.00", "--retail-price", "700.00", "--currency", "USD", NULL);
    expect_error(&run, 2, "USAGE");
    assert_non_null(strstr(run.err, "--scope-target: given 2 times for 3 replacements; give it "
                                    "once for all of them or once for each ('' for a shared "
                                    "scope, which has no target)"));
    run_free(&run);
    const char *mixed[9] = {"--scope",        "shared", "--scope",        "single",
                            "--scope-target", "",       "--scope-target", "fab-plan"};
    exchange_scoped(fixture, &run, admin, key, mixed_id, mixed);
    expect_ok(&run);
    result_field(&run, "reservation_id", first_id, sizeof first_id);
    run_free(&run);
    snprintf(second_id, sizeof second_id, "%s-2", first_id);
    ctl(fixture, &run, admin, key, "--output", "json", "reservations", "--customer", "fab", NULL);
    expect_ok(&run);
    json_t *replaced_scope =
        json_object_get(row_with(&run, "reservations", "reservation_id", first_id), "scope");
    assert_string_equal("shared", json_string_value(json_object_get(replaced_scope, "kind")));
    assert_string_equal("", json_string_value(json_object_get(replaced_scope, "target")));
    replaced_scope =
        json_object_get(row_with(&run, "reservations", "reservation_id", second_id), "scope");
    assert_string_equal("single", json_string_value(json_object_get(replaced_scope, "kind")));
    assert_string_equal("fab-plan", json_string_value(json_object_get(replaced_scope, "target")));
    run_free(&run);

    /* The partner records the replacement's renewal (auto-renew must be on)
     * and the renewal's end; a customer must ask the partner. */
    CTL_EXPECT(1, "INVALID_ARGUMENT", admin, key, "reservation", "renewed", "--customer", "fab",
               "--reservation", new_id, "--price", "2900.00", "--retail-price", "3500.00",
               "--currency", "USD");
    CTL_EXPECT(0, NULL, admin, key, "reservation", "renew", "--customer", "fab", "--reservation",
               new_id, "--on");
    CTL_EXPECT(1, "ASK_PARTNER", bob, bob_key, "reservation", "renewed", "--customer", "fab",
               "--reservation", new_id, "--price", "2900.00", "--retail-price", "3500.00",
               "--currency", "USD");
    CTL_EXPECT(2, "USAGE", admin, key, "reservation", "renewed", "--customer", "fab",
               "--reservation", new_id, "--price", "2900.00", "--currency", "USD");
    ctl(fixture, &run, admin, key, "--output", "json", "reservation", "renewed", "--customer",
        "fab", "--reservation", new_id, "--price", "2900.00", "--retail-price", "3500.00",
        "--currency", "USD", NULL);
    expect_ok(&run);
    char renewal_id[128];
    result_field(&run, "reservation_id", renewal_id, sizeof renewal_id);
    run_free(&run);
    ctl(fixture, &run, admin, key, "--output", "json", "reservations", "--customer", "fab", NULL);
    expect_ok(&run);
    replacement = row_with(&run, "reservations", "reservation_id", new_id);
    assert_string_equal("expired", json_string_value(json_object_get(replacement, "state")));
    json_t *renewal = row_with(&run, "reservations", "reservation_id", renewal_id);
    assert_string_equal("active", json_string_value(json_object_get(renewal, "state")));
    assert_string_equal("Standard_E4s_v5", json_string_value(json_object_get(renewal, "sku")));
    assert_string_equal(json_string_value(json_object_get(replacement, "expires")),
                        json_string_value(json_object_get(renewal, "starts")));
    run_free(&run);
    CTL_EXPECT(1, "FORBIDDEN", bob, bob_key, "reservation", "expired", "--customer", "fab",
               "--reservation", renewal_id);
    /* Its term has not ended (it starts at the old one's expiry): an early
     * end is a cancellation, which a renewal not yet started allows. */
    ctl(fixture, &run, admin, key, "reservation", "expired", "--customer", "fab", "--reservation",
        renewal_id, NULL);
    expect_error(&run, 1, "INVALID_ARGUMENT");
    assert_non_null(strstr(run.err, "to end it early, cancel it"));
    run_free(&run);
    CTL_EXPECT(0, NULL, admin, key, "reservation", "cancel", "--customer", "fab", "--reservation",
               renewal_id, "--refund", "0");
    CTL_EXPECT(1, "RESERVATION_NOT_ACTIVE", admin, key, "reservation", "expired", "--customer",
               "fab", "--reservation", renewal_id);
    CTL_EXPECT(1, "RESERVATION_NOT_FOUND", admin, key, "reservation", "expired", "--customer",
               "fab", "--reservation", "res-999999");

    /* A refund in euros needs its USD value for the cap. */
    char euro_id[128];
    buy_via_ctl(fixture, admin, key, "Standard_B2ms", "1", "800.00", "900.00", "EUR", euro_id);
    ctl(fixture, &run, admin, key, "reservation", "cancel", "--customer", "fab", "--reservation",
        euro_id, "--refund", "100", "--currency", "EUR", NULL);
    expect_error(&run, 2, "USAGE");
    assert_non_null(strstr(run.err, "refund-usd"));
    run_free(&run);
    CTL_EXPECT(0, NULL, admin, key, "reservation", "cancel", "--customer", "fab", "--reservation",
               euro_id, "--refund", "100", "--currency", "EUR", "--refund-usd", "108.50");
    /* The activity log shows the refund as typed, not in minor units. */
    ctl(fixture, &run, admin, key, "--output", "json", "activity", "--customer", "fab", "--action",
        "Cancel Reservation", "--limit", "1", NULL);
    expect_ok(&run);
    char detail[192];
    snprintf(detail, sizeof detail, "%s refund 100.00 EUR", euro_id);
    assert_string_equal(detail,
                        json_string_value(json_object_get(
                            json_array_get(json_object_get(run.json, "activity"), 0), "detail")));
    run_free(&run);

    /* A monthly one in euros cancelled with no refund: the USD value of
     * its instalments not billed yet is required, for the cap. */
    ctl(fixture, &run, admin, key, "--output", "json", "reservation", "buy", "--customer", "fab",
        "--subscription", "fab-plan", "--sku", "Standard_B2ms", "--region", "westeurope",
        "--quantity", "1", "--term", "P1Y", "--billing", "monthly", "--scope", "shared", "--price",
        "1200.00", "--retail-price", "1300.00", "--currency", "EUR", NULL);
    expect_ok(&run);
    char monthly_id[128];
    result_field(&run, "reservation_id", monthly_id, sizeof monthly_id);
    run_free(&run);
    ctl(fixture, &run, admin, key, "reservation", "cancel", "--customer", "fab", "--reservation",
        monthly_id, "--refund", "0", "--currency", "EUR", "--refund-usd", "0", NULL);
    expect_error(&run, 1, "INVALID_ARGUMENT");
    assert_non_null(strstr(run.err, "unbilled_usd, their value in USD, is required"));
    run_free(&run);
    ctl(fixture, &run, admin, key, "reservation", "cancel", "--customer", "fab", "--reservation",
        monthly_id, "--refund", "0", "--currency", "EUR", "--refund-usd", "0", "--unbilled-usd",
        "x", NULL);
    expect_usage(&run, "error: USAGE: --unbilled-usd: 'x' is not an amount");
    CTL_EXPECT(0, NULL, admin, key, "reservation", "cancel", "--customer", "fab", "--reservation",
               monthly_id, "--refund", "0", "--currency", "EUR", "--refund-usd", "0",
               "--unbilled-usd", "1195.50");

    /* A command dated back is listed when it was recorded, with the time it
     * is dated (DATED, JSON "business"). */
    CTL_EXPECT(0, NULL, admin, key, "customer", "add", "--customer", "dated", "--name", "Dated",
               "--business-time", "2026-01-02T03:04:05Z");
    ctl(fixture, &run, admin, key, "--output", "json", "activity", "--customer", "dated", NULL);
    expect_ok(&run);
    json_t *dated = json_array_get(json_object_get(run.json, "activity"), 0);
    assert_string_equal("2026-01-02T03:04:05Z",
                        json_string_value(json_object_get(dated, "business")));
    assert_string_not_equal("2026-01-02T03:04:05Z",
                            json_string_value(json_object_get(dated, "recorded")));
    run_free(&run);
    ctl(fixture, &run, admin, key, "activity", "--customer", "dated", NULL);
    expect_ok(&run);
    assert_non_null(strstr(run.out, "RECORDED"));
    assert_non_null(strstr(run.out, "DATED"));
    assert_non_null(strstr(run.out, "2026-01-02T03:04:05Z"));
    run_free(&run);
    /* --dated-from/--dated-to find it by that date, which --from/--to (the
     * recorded time) do not; the two ranges combine. */
    ctl(fixture, &run, admin, key, "--output", "json", "activity", "--customer", "dated",
        "--dated-from", "2026-01-02", "--dated-to", "2026-01-02", NULL);
    expect_ok(&run);
    assert_int_equal(1, json_array_size(json_object_get(run.json, "activity")));
    assert_string_equal("Onboard Customer",
                        json_string_value(json_object_get(
                            json_array_get(json_object_get(run.json, "activity"), 0), "action")));
    run_free(&run);
    ctl(fixture, &run, admin, key, "activity", "--customer", "dated", "--from", "2026-01-02",
        "--to", "2026-01-02", NULL);
    expect_ok(&run);
    assert_string_equal("no activity\n", run.err);
    run_free(&run);
    ctl(fixture, &run, admin, key, "activity", "--customer", "dated", "--dated-from",
        "2026-01-02T03:04:06Z", NULL);
    expect_ok(&run);
    assert_string_equal("no activity\n", run.err);
    run_free(&run);
    ctl(fixture, &run, admin, key, "--output", "json", "activity", "--customer", "dated",
        "--dated-to", "2026-01-03", "--from", "2000-01-01", NULL);
    expect_ok(&run);
    assert_int_equal(1, json_array_size(json_object_get(run.json, "activity")));
    run_free(&run);
    ctl(fixture, &run, admin, key, "activity", "--customer", "dated", "--dated-to", "2026-01-02",
        "--from", "2000-01-01", "--to", "2001-01-01", NULL);
    expect_ok(&run);
    assert_string_equal("no activity\n", run.err);
    run_free(&run);

    /* A savings plan's scope and renewal; the customer must ask the partner. */
    ctl(fixture, &run, admin, key, "--output", "json", "savings-plan", "buy", "--customer", "fab",
        "--subscription", "fab-plan", "--hourly-commitment", "2.00", "--term", "P3Y", "--billing",
        "monthly", "--scope", "shared", "--price", "52560", "--retail-price", "60000", "--currency",
        "USD", "--auto-renew", NULL);
    expect_ok(&run);
    char plan[128];
    result_field(&run, "savings_plan_id", plan, sizeof plan);
    run_free(&run);
    CTL_EXPECT(1, "ASK_PARTNER", bob, bob_key, "savings-plan", "renew", "--customer", "fab",
               "--savings-plan", plan, "--off");
    CTL_EXPECT(0, NULL, admin, key, "savings-plan", "scope", "--customer", "fab", "--savings-plan",
               plan, "--scope", "single", "--scope-target", "fab-plan");
    CTL_EXPECT(0, NULL, admin, key, "savings-plan", "renew", "--customer", "fab", "--savings-plan",
               plan, "--off");
    CTL_EXPECT(1, "UNCHANGED", admin, key, "savings-plan", "renew", "--customer", "fab",
               "--savings-plan", plan, "--off");
    ctl(fixture, &run, admin, key, "--output", "json", "savings-plans", "--customer", "fab", NULL);
    expect_ok(&run);
    json_t *plan_row = row_with(&run, "savings_plans", "savings_plan_id", plan);
    assert_true(json_is_false(json_object_get(plan_row, "auto_renew")));
    assert_true(json_is_false(json_object_get(plan_row, "renewed")));
    json_t *scope = json_object_get(plan_row, "scope");
    assert_string_equal("single", json_string_value(json_object_get(scope, "kind")));
    assert_string_equal("fab-plan", json_string_value(json_object_get(scope, "target")));
    run_free(&run);

    /* The partner records the plan's renewal (auto-renew must be on); a
     * customer must ask the partner; a renewed plan is renewed once. */
    CTL_EXPECT(1, "INVALID_ARGUMENT", admin, key, "savings-plan", "renewed", "--customer", "fab",
               "--savings-plan", plan, "--price", "54000.00", "--retail-price", "61000.00",
               "--currency", "USD");
    CTL_EXPECT(0, NULL, admin, key, "savings-plan", "renew", "--customer", "fab", "--savings-plan",
               plan, "--on");
    CTL_EXPECT(1, "ASK_PARTNER", bob, bob_key, "savings-plan", "renewed", "--customer", "fab",
               "--savings-plan", plan, "--price", "54000.00", "--retail-price", "61000.00",
               "--currency", "USD");
    CTL_EXPECT(2, "USAGE", admin, key, "savings-plan", "renewed", "--customer", "fab",
               "--savings-plan", plan, "--price", "54000.00", "--currency", "USD");
    CTL_EXPECT(1, "CURRENCY_MISMATCH", admin, key, "savings-plan", "renewed", "--customer", "fab",
               "--savings-plan", plan, "--price", "54000.00", "--retail-price", "61000.00",
               "--currency", "EUR");
    CTL_EXPECT(1, "SAVINGS_PLAN_NOT_FOUND", admin, key, "savings-plan", "renewed", "--customer",
               "fab", "--savings-plan", "sp-999999", "--price", "54000.00", "--retail-price",
               "61000.00", "--currency", "USD");
    ctl(fixture, &run, admin, key, "--output", "json", "savings-plan", "renewed", "--customer",
        "fab", "--savings-plan", plan, "--price", "54000.00", "--retail-price", "61000.00",
        "--currency", "USD", NULL);
    expect_ok(&run);
    char plan_renewal[128];
    result_field(&run, "savings_plan_id", plan_renewal, sizeof plan_renewal);
    assert_string_not_equal(plan, plan_renewal);
    char renewal_seq[32];
    snprintf(renewal_seq, sizeof renewal_seq, "%lld",
             (long long)json_int_at(json_array_get(json_object_get(run.json, "results"), 0),
                                    "first_sequence"));
    run_free(&run);
    /* Explained as a reservation renewal is: the partner's own. */
    char auditor[PATH_SIZE + 16];
    make_staff(fixture, "p-chg", "p-chg-auditor", "auditor", auditor, sizeof auditor);
    ctl(fixture, &run, "p-chg-auditor", auditor, "explain", "--seq", renewal_seq, NULL);
    expect_ok(&run);
    char renewal_line[512];
    snprintf(renewal_line, sizeof renewal_line,
             "purchase:   renewal of savings plan %s as:\n            savings plan %s, 2.00 USD "
             "per hour, P3Y, billed monthly to fab-plan, price 54000.00 USD (retail 61000.00 USD)",
             plan, plan_renewal);
    assert_non_null(strstr(run.out, renewal_line));
    assert_non_null(strstr(run.out, ", renewed by p-chg-admin (admin-agent) at "));
    assert_non_null(strstr(run.out, "allowed by: the partner renewed it; only the partner's admin "
                                    "agent exchanges and renews savings plans"));
    assert_non_null(strstr(run.out, "billed to:  subscription fab-plan "));
    assert_null(strstr(run.out, "permission savings-plans turned on"));
    run_free(&run);
    ctl(fixture, &run, admin, key, "--output", "json", "savings-plans", "--customer", "fab", NULL);
    expect_ok(&run);
    plan_row = row_with(&run, "savings_plans", "savings_plan_id", plan);
    assert_true(json_is_true(json_object_get(plan_row, "renewed")));
    json_t *renewed_row = row_with(&run, "savings_plans", "savings_plan_id", plan_renewal);
    assert_true(json_is_false(json_object_get(renewed_row, "renewed")));
    assert_true(json_is_true(json_object_get(renewed_row, "auto_renew")));
    assert_string_equal("P3Y", json_string_value(json_object_get(renewed_row, "term")));
    assert_string_equal(json_string_value(json_object_get(plan_row, "expires")),
                        json_string_value(json_object_get(renewed_row, "starts")));
    scope = json_object_get(renewed_row, "scope");
    assert_string_equal("fab-plan", json_string_value(json_object_get(scope, "target")));
    run_free(&run);
    ctl(fixture, &run, admin, key, "savings-plans", "--customer", "fab", NULL);
    expect_ok(&run);
    assert_non_null(strstr(run.out, "RENEWED"));
    run_free(&run);
    ctl(fixture, &run, admin, key, "savings-plan", "renewed", "--customer", "fab", "--savings-plan",
        plan, "--price", "54000.00", "--retail-price", "61000.00", "--currency", "USD", NULL);
    expect_error(&run, 1, "SAVINGS_PLAN_NOT_ACTIVE");
    assert_non_null(strstr(run.err, "act on its renewal instead"));
    run_free(&run);
    ctl(fixture, &run, admin, key, "--output", "json", "activity", "--customer", "fab", "--action",
        "Renew Savings Plan", "--limit", "1", NULL);
    expect_ok(&run);
    char renewed_detail[300];
    snprintf(renewed_detail, sizeof renewed_detail, "%s renewed as %s", plan, plan_renewal);
    assert_string_equal(renewed_detail,
                        json_string_value(json_object_get(
                            json_array_get(json_object_get(run.json, "activity"), 0), "detail")));
    run_free(&run);

    /* Retail prices are shown to the customer only when the partner says so. */
    CTL_EXPECT(1, "FORBIDDEN", bob, bob_key, "cost-visibility", "set", "--customer", "fab", "--on");
    CTL_EXPECT(0, NULL, admin, key, "cost-visibility", "set", "--customer", "fab", "--on");
    CTL_EXPECT(1, "UNCHANGED", admin, key, "cost-visibility", "set", "--customer", "fab", "--on");
    CTL_EXPECT(2, "USAGE", admin, key, "cost-visibility", "set", "--customer", "fab");

    /* The operator's statistics: the counters, as JSON rows and as CSV. */
    ctl(fixture, &run, "operator", fixture->operator_key, "--output", "json", "stats", NULL);
    expect_ok(&run);
    json_t *stats = json_object_get(run.json, "stats");
    assert_true(json_array_size(stats) > 5);
    bool commits = false;
    for (size_t i = 0; i < json_array_size(stats); i++) {
        const char *name = json_string_value(json_object_get(json_array_get(stats, i), "name"));
        commits = commits || (name != NULL && strstr(name, "commits") != NULL);
    }
    assert_true(commits);
    json_int_t head = 0;
    for (size_t i = 0; i < json_array_size(stats); i++) {
        json_t *stat = json_array_get(stats, i);
        if (strcmp(json_string_value(json_object_get(stat, "name")), "ledger_head_sequence") == 0) {
            head = (json_int_t)json_real_value(json_object_get(stat, "value"));
        }
    }
    assert_true(head > 0);
    run_free(&run);
    /* In CSV, a counter's value as a whole number, its labels quoted. */
    ctl(fixture, &run, "operator", fixture->operator_key, "--output", "csv", "stats", NULL);
    expect_ok(&run);
    char record[128];
    snprintf(record, sizeof record, "\r\nledger_head_sequence,,%lld\r\n", (long long)head);
    const char *header = "name,labels,value\r\n";
    assert_int_equal(0, strncmp(run.out, header, strlen(header)));
    assert_non_null(strstr(run.out, record));
    assert_non_null(
        strstr(run.out, "\r\nledger_commit_duration_seconds_bucket,\"le=\"\"0.001\"\"\","));
    run_free(&run);
    /* As a table, the summary a person reads (test_ctl_stats has its text). */
    ctl(fixture, &run, "operator", fixture->operator_key, "stats", NULL);
    expect_ok(&run);
    char store_line[64];
    snprintf(store_line, sizeof store_line, "store        %lld events; ", (long long)head);
    assert_int_equal(0, strncmp(run.out, store_line, strlen(store_line)));
    assert_non_null(strstr(run.out, "\nrefusals     "));
    assert_null(strstr(run.out, "_bucket"));
    run_free(&run);
    CTL_EXPECT(1, "FORBIDDEN", admin, key, "stats");
}

/* Every line of a JSON event feed belongs to `partner`; counts them. */
struct feed_check {
    const char *partner;
    size_t count;
};

static void feed_line_of_partner(void *context, json_t *event, const char *line)
{
    struct feed_check *check = context;
    const char *owner = json_string_value(json_object_get(event, "partner_id"));
    if (owner == NULL || strcmp(owner, check->partner) != 0) {
        fail_msg("a feed for %s shows an event of '%s': %s", check->partner, owner ? owner : "",
                 line);
    }
    check->count++;
}

static size_t feed_of_partner(const struct run *run, const char *partner)
{
    struct feed_check check = {.partner = partner, .count = 0};
    json_lines_each(run->out, feed_line_of_partner, &check);
    return check.count;
}

/* Renewed with --cloud-order, of a reservation and of a savings plan (both
 * read by one function): the renewal's row carries the cloud's order id,
 * and a malformed one is refused by name before anything is sent. */
static void test_ctl_cli_renewed_cloud_order(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    char key[PATH_SIZE + 16];
    const char *admin = "p-rco-admin";
    make_partner(fixture, "p-rco", admin, key, sizeof key);
    CTL_EXPECT(0, NULL, admin, key, "customer", "add", "--customer", "rco", "--name", "Renewals");
    CTL_EXPECT(0, NULL, admin, key, "subscription", "add", "--customer", "rco", "--subscription",
               "rco-plan", "--offer", "azure-plan");
    char ids[2][128];
    ctl(fixture, &run, admin, key, "--output", "json", "reservation", "buy", "--customer", "rco",
        "--subscription", "rco-plan", "--sku", "Standard_D2s_v5", "--region", "westeurope",
        "--quantity", "1", "--term", "P1Y", "--billing", "upfront", "--scope", "shared", "--price",
        "1000.00", "--retail-price", "1200.00", "--currency", "USD", "--auto-renew", NULL);
    expect_ok(&run);
    result_field(&run, "reservation_id", ids[0], sizeof ids[0]);
    run_free(&run);
    ctl(fixture, &run, admin, key, "--output", "json", "savings-plan", "buy", "--customer", "rco",
        "--subscription", "rco-plan", "--hourly-commitment", "1.00", "--term", "P1Y", "--billing",
        "upfront", "--scope", "shared", "--price", "8760.00", "--retail-price", "9000.00",
        "--currency", "USD", "--auto-renew", NULL);
    expect_ok(&run);
    result_field(&run, "savings_plan_id", ids[1], sizeof ids[1]);
    run_free(&run);

    static const struct {
        const char *noun; /* the verbs' and their option's */
        const char *view;
        const char *rows; /* the view's JSON key */
        const char *id_field;
        const char *cloud_order;
    } holdings[2] = {
        {"reservation", "reservations", "reservations", "reservation_id", "ro-renewal-1"},
        {"savings-plan", "savings-plans", "savings_plans", "savings_plan_id", "spo-renewal-1"},
    };
    for (size_t i = 0; i < 2; i++) {
        char option[32];
        snprintf(option, sizeof option, "--%s", holdings[i].noun);
        ctl(fixture, &run, admin, key, holdings[i].noun, "renewed", "--customer", "rco", option,
            ids[i], "--price", "900.00", "--retail-price", "1100.00", "--currency", "USD",
            "--cloud-order", "ro 1", NULL);
        expect_error(&run, 2, "USAGE");
        assert_non_null(strstr(run.err, "--cloud-order"));
        run_free(&run);
        ctl(fixture, &run, admin, key, "--output", "json", holdings[i].noun, "renewed",
            "--customer", "rco", option, ids[i], "--price", "900.00", "--retail-price", "1100.00",
            "--currency", "USD", "--cloud-order", holdings[i].cloud_order, NULL);
        expect_ok(&run);
        char renewal[128];
        result_field(&run, holdings[i].id_field, renewal, sizeof renewal);
        assert_string_not_equal(ids[i], renewal);
        run_free(&run);
        ctl(fixture, &run, admin, key, "--output", "json", holdings[i].view, "--customer", "rco",
            NULL);
        expect_ok(&run);
        json_t *row = row_with(&run, holdings[i].rows, holdings[i].id_field, renewal);
        assert_string_equal(holdings[i].cloud_order,
                            json_string_value(json_object_get(row, "cloud_order_id")));
        assert_string_equal(
            "900.00", json_string_value(json_object_get(json_object_get(row, "price"), "amount")));
        run_free(&run);
    }
}

/* Role and partner isolation through the daemon, as people meet it: a
 * customer user reads its own customer only; partner staff their partner
 * only; a partner's auditor and billing principal get feeds of their partner
 * only. */
static void test_ctl_cli_isolation(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    char key_a[PATH_SIZE + 16], key_b[PATH_SIZE + 16], bob_key[PATH_SIZE + 16];
    char auditor_key[PATH_SIZE + 16], billing_key[PATH_SIZE + 16];
    make_partner(fixture, "p-iso-a", "p-iso-a-admin", key_a, sizeof key_a);
    make_partner(fixture, "p-iso-b", "p-iso-b-admin", key_b, sizeof key_b);
    setup_customer(fixture, "p-iso-a", key_a, "p-iso-a-admin", bob_key, sizeof bob_key);
    CTL_EXPECT(0, NULL, "p-iso-a-admin", key_a, "customer", "add", "--customer", "other", "--name",
               "Other");
    CTL_EXPECT(0, NULL, "p-iso-b-admin", key_b, "customer", "add", "--customer", "b-only", "--name",
               "B Only");

    /* The customer user: its customer, not its partner's other customers. */
    CTL_EXPECT(0, NULL, "p-iso-a-bob", bob_key, "reservations", "--customer", "fab");
    ctl(fixture, &run, "p-iso-a-bob", bob_key, "reservations", "--customer", "other", NULL);
    expect_error(&run, 1, "PARTNER_MISMATCH");
    /* It says which customer the user may read. */
    assert_non_null(strstr(run.err, "a user of customer fab and may read only that customer's"));
    run_free(&run);
    CTL_EXPECT(1, "FORBIDDEN", "p-iso-a-bob", bob_key, "customer", "add", "--customer", "mine",
               "--name", "Mine");
    /* Partner staff: another partner's customer, named or not. */
    CTL_EXPECT(1, "PARTNER_MISMATCH", "p-iso-b-admin", key_b, "--partner", "p-iso-a",
               "reservations", "--customer", "fab");
    CTL_EXPECT(1, "CUSTOMER_NOT_FOUND", "p-iso-b-admin", key_b, "permission", "enable",
               "--customer", "fab", "--kind", "reservations");

    /* Feeds of one partner. */
    make_staff(fixture, "p-iso-a", "p-iso-a-auditor", "auditor", auditor_key, sizeof auditor_key);
    make_staff(fixture, "p-iso-b", "p-iso-b-billing", "billing", billing_key, sizeof billing_key);
    ctl(fixture, &run, "p-iso-a-auditor", auditor_key, "--output", "json", "events", NULL);
    expect_ok(&run);
    assert_true(feed_of_partner(&run, "p-iso-a") >= 5);
    run_free(&run);
    ctl(fixture, &run, "p-iso-b-billing", billing_key, "--output", "json", "events", NULL);
    expect_ok(&run);
    assert_true(feed_of_partner(&run, "p-iso-b") >= 2);
    run_free(&run);
    CTL_EXPECT(1, "PARTNER_MISMATCH", "p-iso-b-billing", billing_key, "--partner", "p-iso-a",
               "events");
    CTL_EXPECT(1, "FORBIDDEN", "p-iso-a-bob", bob_key, "events");
}

/* `activity --customer C` shows when a buying user of C got access and
 * lost it: the operator's "principal add" and "principal revoke" of a
 * customer user name its customer, and only C's partner sees them. */
static void test_ctl_cli_activity_customer_principals(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    char key[PATH_SIZE + 16], other_key[PATH_SIZE + 16], bob_key[PATH_SIZE + 16];
    make_partner(fixture, "p-cp", "p-cp-admin", key, sizeof key);
    make_partner(fixture, "p-cq", "p-cq-admin", other_key, sizeof other_key);
    setup_customer(fixture, "p-cp", key, "p-cp-admin", bob_key, sizeof bob_key);
    CTL_EXPECT(0, NULL, "p-cq-admin", other_key, "customer", "add", "--customer", "fab", "--name",
               "Other Fabrikam");
    CTL_EXPECT(0, NULL, "operator", fixture->operator_key, "principal", "revoke", "--id",
               "p-cp-bob");

    static const char *const actions[][2] = {
        {"Add Principal", "p-cp-bob customer-user bob for customer fab"},
        {"Revoke Principal", "p-cp-bob for customer fab"},
    };
    for (size_t i = 0; i < 2; i++) {
        ctl(fixture, &run, "p-cp-admin", key, "--output", "json", "activity", "--customer", "fab",
            "--action", actions[i][0], NULL);
        expect_ok(&run);
        json_t *rows = json_object_get(run.json, "activity");
        assert_int_equal(1, json_array_size(rows));
        json_t *row = json_array_get(rows, 0);
        assert_string_equal("fab", json_string_value(json_object_get(row, "customer_id")));
        assert_string_equal(actions[i][1], json_string_value(json_object_get(row, "detail")));
        run_free(&run);
    }
    /* The other partner's customer of the same id has no such user. */
    ctl(fixture, &run, "p-cq-admin", other_key, "activity", "--customer", "fab", "--action",
        "add principal", NULL);
    expect_ok(&run);
    assert_string_equal("no activity\n", run.err);
    run_free(&run);
}

static void test_ctl_cli_views_json(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    char key[PATH_SIZE + 16], bob_key[PATH_SIZE + 16];
    make_partner(fixture, "p-view", "p-view-admin", key, sizeof key);
    setup_customer(fixture, "p-view", key, "p-view-admin", bob_key, sizeof bob_key);
    ctl(fixture, &run, "p-view-admin", key, "permission", "enable", "--customer", "fab", "--kind",
        "savings-plans", NULL);
    expect_ok(&run);
    run_free(&run);
    ctl(fixture, &run, "p-view-admin", key, "reservation", "buy", "--customer", "fab",
        "--subscription", "fab-plan", "--sku", "Standard_D2s_v5", "--region", "westeurope",
        "--quantity", "2", "--term", "P3Y", "--billing", "monthly", "--scope", "shared", "--price",
        "1234.56", "--retail-price", "1400", "--currency", "USD", "--auto-renew", NULL);
    expect_ok(&run);
    run_free(&run);
    ctl(fixture, &run, "p-view-bob", bob_key, "savings-plan", "buy", "--customer", "fab",
        "--subscription", "fab-plan", "--hourly-commitment", "1.25", "--term", "P1Y", "--billing",
        "monthly", "--scope", "single", "--scope-target", "fab-plan", "--price", "10950",
        "--retail-price", "12000", "--currency", "USD", NULL);
    expect_ok(&run);
    run_free(&run);

    ctl(fixture, &run, "p-view-admin", key, "--output", "json", "reservations", "--customer", "fab",
        NULL);
    expect_ok(&run);
    json_t *rows = json_object_get(run.json, "reservations");
    assert_int_equal(1, json_array_size(rows));
    json_t *row = json_array_get(rows, 0);
    assert_string_equal("active", json_string_value(json_object_get(row, "state")));
    assert_string_equal("P3Y", json_string_value(json_object_get(row, "term")));
    assert_string_equal("monthly", json_string_value(json_object_get(row, "billing_plan")));
    assert_string_equal("shared",
                        json_string_value(json_object_get(json_object_get(row, "scope"), "kind")));
    assert_true(json_is_true(json_object_get(row, "auto_renew")));
    json_t *price = json_object_get(row, "price");
    assert_string_equal("1234.56", json_string_value(json_object_get(price, "amount")));
    assert_int_equal(123456, json_int_at(price, "amount_minor"));
    assert_string_equal("USD", json_string_value(json_object_get(price, "currency")));
    assert_string_equal("1400.00", json_string_value(json_object_get(
                                       json_object_get(row, "retail_price"), "amount")));
    assert_true(json_int_at(row, "starts_us") > 0);
    const char *starts = json_string_value(json_object_get(row, "starts"));
    assert_int_equal(20, strlen(starts) > 20 ? 20 : strlen(starts));
    assert_int_equal('Z', starts[strlen(starts) - 1]);
    assert_string_equal("partner", json_string_value(json_object_get(row, "purchaser")));
    assert_string_equal("p-view-admin", json_string_value(json_object_get(
                                            json_object_get(row, "bought_by"), "principal_id")));
    run_free(&run);

    /* The customer's own savings plan is hidden from partner staff... */
    ctl(fixture, &run, "p-view-admin", key, "--output", "json", "savings-plans", "--customer",
        "fab", NULL);
    expect_ok(&run);
    assert_int_equal(0, json_array_size(json_object_get(run.json, "savings_plans")));
    run_free(&run);
    /* ...and visible to the customer. */
    ctl(fixture, &run, "p-view-bob", bob_key, "--output", "json", "savings-plans", "--customer",
        "fab", NULL);
    expect_ok(&run);
    rows = json_object_get(run.json, "savings_plans");
    assert_int_equal(1, json_array_size(rows));
    assert_string_equal(
        "1.25", json_string_value(json_object_get(
                    json_object_get(json_array_get(rows, 0), "hourly_commitment"), "amount")));
    run_free(&run);

    ctl(fixture, &run, "p-view-admin", key, "--output", "json", "orders", "--customer", "fab",
        "--from", "2020-01-01", NULL);
    expect_ok(&run);
    rows = json_object_get(run.json, "orders");
    assert_int_equal(1, json_array_size(rows));
    assert_string_equal("purchase",
                        json_string_value(json_object_get(json_array_get(rows, 0), "kind")));
    run_free(&run);
    ctl(fixture, &run, "p-view-admin", key, "--output", "json", "orders", "--customer", "fab",
        "--to", "2020-01-01", NULL);
    expect_ok(&run);
    assert_int_equal(0, json_array_size(json_object_get(run.json, "orders")));
    run_free(&run);

    ctl(fixture, &run, "p-view-admin", key, "--output", "json", "permissions", "--customer", "fab",
        "--history", NULL);
    expect_ok(&run);
    rows = json_object_get(run.json, "permissions");
    assert_int_equal(1, json_array_size(rows));
    assert_true(json_is_true(json_object_get(json_array_get(rows, 0), "enabled")));
    run_free(&run);
    /* As of sequence 1 nothing of this partner existed. */
    ctl(fixture, &run, "p-view-admin", key, "--output", "json", "permissions", "--customer", "fab",
        "--as-of", "1", NULL);
    expect_ok(&run);
    for (size_t i = 0; i < json_array_size(json_object_get(run.json, "permissions")); i++) {
        assert_true(json_is_false(json_object_get(
            json_array_get(json_object_get(run.json, "permissions"), i), "enabled")));
    }
    run_free(&run);
    /* A table with no rows says so on stderr; JSON is the empty array alone. */
    ctl(fixture, &run, "p-view-admin", key, "reservations", "--customer", "fab", "--as-of", "1",
        NULL);
    expect_ok(&run);
    assert_non_null(strstr(run.out, "RESERVATION"));
    assert_string_equal("no reservations\n", run.err);
    run_free(&run);
    ctl(fixture, &run, "p-view-admin", key, "activity", "--customer", "fab", "--to", "2000-01-01",
        NULL);
    expect_ok(&run);
    assert_string_equal("no activity\n", run.err);
    run_free(&run);
    ctl(fixture, &run, "p-view-admin", key, "--output", "json", "savings-plans", "--customer",
        "fab", "--as-of", "1", NULL);
    expect_ok(&run);
    assert_int_equal(0, json_array_size(json_object_get(run.json, "savings_plans")));
    assert_string_equal("", run.err);
    run_free(&run);
    /* As of a sequence not recorded yet: refused, not answered with now. */
    ctl(fixture, &run, "p-view-admin", key, "reservations", "--customer", "fab", "--as-of",
        "999999999", NULL);
    expect_error(&run, 1, "INVALID_ARGUMENT");
    assert_non_null(strstr(run.err, "as_of.sequence 999999999 is past the log"));
    assert_non_null(strstr(run.err, ": give a sequence of 1.."));
    run_free(&run);

    /* Activity pages. */
    ctl(fixture, &run, "p-view-admin", key, "--output", "json", "activity", "--limit", "2", NULL);
    expect_ok(&run);
    assert_int_equal(2, json_array_size(json_object_get(run.json, "activity")));
    const char *token = json_string_value(json_object_get(run.json, "next_page_token"));
    assert_non_null(token);
    assert_true(strlen(token) > 0);
    char token_copy[1024];
    snprintf(token_copy, sizeof token_copy, "%s", token);
    run_free(&run);
    ctl(fixture, &run, "p-view-admin", key, "--output", "json", "activity", "--limit", "2",
        "--page-token", token_copy, NULL);
    expect_ok(&run);
    assert_int_equal(2, json_array_size(json_object_get(run.json, "activity")));
    run_free(&run);
    ctl(fixture, &run, "p-view-admin", key, "--output", "json", "activity", "--action",
        "Create Customer Purchase Permissions", NULL);
    expect_ok(&run);
    rows = json_object_get(run.json, "activity");
    assert_int_equal(1, json_array_size(rows));
    assert_string_equal("Create Customer Purchase Permissions",
                        json_string_value(json_object_get(json_array_get(rows, 0), "action")));
    run_free(&run);

    /* Billing: this month holds the reservation and the customer's plan. */
    char month[16];
    time_t now = time(NULL);
    struct tm utc;
    gmtime_r(&now, &utc);
    strftime(month, sizeof month, "%Y-%m", &utc);
    ctl(fixture, &run, "p-view-admin", key, "--output", "json", "billing", "--month", month, NULL);
    expect_ok(&run);
    rows = json_object_get(run.json, "billing");
    assert_true(json_array_size(rows) >= 2);
    run_free(&run);
    ctl(fixture, &run, "p-view-admin", key, "--output", "csv", "billing", "--month", month, NULL);
    expect_ok(&run);
    assert_non_null(strstr(run.out, "partner_amount.amount,partner_amount.currency"));
    assert_non_null(strstr(run.out, "\r\n"));
    run_free(&run);
    ctl(fixture, &run, "p-view-admin", key, "reservations", "--customer", "fab", NULL);
    expect_ok(&run);
    assert_non_null(strstr(run.out, "1234.56 USD"));
    assert_non_null(strstr(run.out, "RESERVATION"));
    run_free(&run);
}

/* `savings-plans --as-of SEQ|TIME` as PRINCIPAL (KEY) for customer fab, in
 * JSON: the rows in RUN (freed by the caller). */
static void plans_as_of(struct fixture *fixture, struct run *run, const char *principal,
                        const char *key, const char *as_of)
{
    ctl(fixture, run, principal, key, "--output", "json", "savings-plans", "--customer", "fab",
        "--as-of", as_of, NULL);
    expect_ok(run);
}

/* A savings plan row's scope kind, auto-renew flag and the last event that
 * changed it. */
static void expect_plan(json_t *row, const char *scope_kind, bool auto_renew,
                        long long last_sequence)
{
    assert_non_null(row);
    assert_string_equal(scope_kind,
                        json_string_value(json_object_get(json_object_get(row, "scope"), "kind")));
    assert_int_equal(auto_renew, json_is_true(json_object_get(row, "auto_renew")));
    assert_int_equal(last_sequence, json_int_at(row, "last_sequence"));
}

/* One write's first_sequence from its JSON result, and the savings plan id
 * it assigned (when id_out is not NULL). */
static long long write_sequence(struct run *run, char *id_out, size_t id_size)
{
    expect_ok(run);
    json_t *result = json_array_get(json_object_get(run->json, "results"), 0);
    if (id_out != NULL) {
        snprintf(id_out, id_size, "%s",
                 json_string_value(json_object_get(result, "savings_plan_id")));
    }
    long long sequence = (long long)json_int_at(result, "first_sequence");
    run_free(run);
    return sequence;
}

/* "What was true then" for savings plans, through ledgerctl, libledger and
 * the daemon: before the purchase, between the purchase and a scope change,
 * between that and an auto-renew change, after both; by sequence and by
 * recorded time; partner staff never see the customer's own plan. */
static void test_ctl_cli_savings_plans_as_of(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    char key[PATH_SIZE + 16], bob_key[PATH_SIZE + 16], auditor_key[PATH_SIZE + 16];
    make_partner(fixture, "p-spa", "p-spa-admin", key, sizeof key);
    make_staff(fixture, "p-spa", "p-spa-auditor", "auditor", auditor_key, sizeof auditor_key);
    setup_customer(fixture, "p-spa", key, "p-spa-admin", bob_key, sizeof bob_key);
    ctl(fixture, &run, "p-spa-admin", key, "permission", "enable", "--customer", "fab", "--kind",
        "savings-plans", NULL);
    expect_ok(&run);
    run_free(&run);

    char plan[128];
    ctl(fixture, &run, "p-spa-admin", key, "--output", "json", "savings-plan", "buy", "--customer",
        "fab", "--subscription", "fab-plan", "--hourly-commitment", "2.50", "--term", "P1Y",
        "--billing", "upfront", "--scope", "single", "--scope-target", "fab-plan", "--price",
        "20000", "--retail-price", "21900", "--currency", "USD", NULL);
    long long bought = write_sequence(&run, plan, sizeof plan);
    ctl(fixture, &run, "p-spa-bob", bob_key, "--output", "json", "savings-plan", "buy",
        "--customer", "fab", "--subscription", "fab-plan", "--hourly-commitment", "1.25", "--term",
        "P1Y", "--billing", "monthly", "--scope", "shared", "--price", "10950", "--retail-price",
        "12000", "--currency", "USD", NULL);
    long long customer_bought = write_sequence(&run, NULL, 0);
    ctl(fixture, &run, "p-spa-admin", key, "--output", "json", "savings-plan", "scope",
        "--customer", "fab", "--savings-plan", plan, "--scope", "shared", NULL);
    long long rescoped = write_sequence(&run, NULL, 0);
    ctl(fixture, &run, "p-spa-admin", key, "--output", "json", "savings-plan", "renew",
        "--customer", "fab", "--savings-plan", plan, "--on", NULL);
    long long renewal_set = write_sequence(&run, NULL, 0);
    assert_true(bought < customer_bought && customer_bought < rescoped && rescoped < renewal_set);

    char at[32];
    /* Before the purchase: nothing. */
    snprintf(at, sizeof at, "%lld", bought - 1);
    plans_as_of(fixture, &run, "p-spa-auditor", auditor_key, at);
    assert_int_equal(0, json_array_size(json_object_get(run.json, "savings_plans")));
    run_free(&run);
    /* After the customer's purchase: partner staff see only the partner's
     * plan, as bought; the customer and the auditor see both. */
    snprintf(at, sizeof at, "%lld", customer_bought);
    plans_as_of(fixture, &run, "p-spa-admin", key, at);
    json_t *rows = json_object_get(run.json, "savings_plans");
    assert_int_equal(1, json_array_size(rows));
    assert_string_equal(
        plan, json_string_value(json_object_get(json_array_get(rows, 0), "savings_plan_id")));
    expect_plan(json_array_get(rows, 0), "single", false, bought);
    run_free(&run);
    plans_as_of(fixture, &run, "p-spa-bob", bob_key, at);
    rows = json_object_get(run.json, "savings_plans");
    assert_int_equal(2, json_array_size(rows));
    assert_string_equal("customer",
                        json_string_value(json_object_get(json_array_get(rows, 1), "purchaser")));
    assert_true(json_is_null(json_object_get(json_array_get(rows, 1), "price")));
    run_free(&run);
    /* Between the scope change and the auto-renew change, then after. */
    snprintf(at, sizeof at, "%lld", rescoped);
    plans_as_of(fixture, &run, "p-spa-admin", key, at);
    expect_plan(json_array_get(json_object_get(run.json, "savings_plans"), 0), "shared", false,
                rescoped);
    run_free(&run);
    snprintf(at, sizeof at, "%lld", renewal_set);
    plans_as_of(fixture, &run, "p-spa-auditor", auditor_key, at);
    assert_int_equal(2, json_array_size(json_object_get(run.json, "savings_plans")));
    expect_plan(json_array_get(json_object_get(run.json, "savings_plans"), 0), "shared", true,
                renewal_set);
    run_free(&run);

    /* By recorded time: at the scope change's, the new scope and not yet
     * the auto-renew flag; a microsecond before the purchase, nothing. */
    snprintf(at, sizeof at, "%lld", rescoped);
    ctl(fixture, &run, "p-spa-auditor", auditor_key, "--output", "json", "events", "--from", at,
        "--limit", "1", NULL);
    expect_ok(&run);
    char recorded[64];
    snprintf(recorded, sizeof recorded, "%s",
             json_string_value(json_object_get(run.json, "recorded")));
    run_free(&run);
    plans_as_of(fixture, &run, "p-spa-admin", key, recorded);
    expect_plan(json_array_get(json_object_get(run.json, "savings_plans"), 0), "shared", false,
                rescoped);
    run_free(&run);
    snprintf(at, sizeof at, "%lld", bought);
    ctl(fixture, &run, "p-spa-auditor", auditor_key, "--output", "json", "events", "--from", at,
        "--limit", "1", NULL);
    expect_ok(&run);
    time_t before_s = (time_t)((json_int_at(run.json, "recorded_us") - 1) / 1000000);
    long before_us = (long)((json_int_at(run.json, "recorded_us") - 1) % 1000000);
    run_free(&run);
    struct tm utc;
    gmtime_r(&before_s, &utc);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &utc);
    snprintf(recorded, sizeof recorded, "%s.%06ldZ", stamp, before_us);
    plans_as_of(fixture, &run, "p-spa-admin", key, recorded);
    assert_int_equal(0, json_array_size(json_object_get(run.json, "savings_plans")));
    run_free(&run);
    /* A date alone is the start of that day (cli.md, "Values"): as of the
     * purchase's own day nothing was bought yet, as of the next day it was. */
    char day[16];
    strftime(day, sizeof day, "%Y-%m-%d", &utc);
    plans_as_of(fixture, &run, "p-spa-admin", key, day);
    assert_int_equal(0, json_array_size(json_object_get(run.json, "savings_plans")));
    run_free(&run);
    time_t next_day = before_s + 86400;
    gmtime_r(&next_day, &utc);
    strftime(day, sizeof day, "%Y-%m-%d", &utc);
    plans_as_of(fixture, &run, "p-spa-admin", key, day);
    assert_int_equal(1, json_array_size(json_object_get(run.json, "savings_plans")));
    run_free(&run);

    /* The current view gives each plan's last change as the replay does. */
    ctl(fixture, &run, "p-spa-bob", bob_key, "--output", "json", "savings-plans", "--customer",
        "fab", NULL);
    expect_ok(&run);
    rows = json_object_get(run.json, "savings_plans");
    assert_int_equal(2, json_array_size(rows));
    expect_plan(json_array_get(rows, 0), "shared", true, renewal_set);
    expect_plan(json_array_get(rows, 1), "shared", false, customer_bought);
    run_free(&run);

    /* The table has the view's columns; a sequence past the log is refused. */
    snprintf(at, sizeof at, "%lld", renewal_set);
    ctl(fixture, &run, "p-spa-admin", key, "savings-plans", "--customer", "fab", "--as-of", at,
        NULL);
    expect_ok(&run);
    assert_non_null(strstr(run.out, "SAVINGS_PLAN"));
    assert_non_null(strstr(run.out, plan));
    run_free(&run);
    ctl(fixture, &run, "p-spa-admin", key, "savings-plans", "--customer", "fab", "--as-of",
        "999999999", NULL);
    expect_error(&run, 1, "INVALID_ARGUMENT");
    assert_non_null(strstr(run.err, "as_of.sequence 999999999 is past the log"));
    run_free(&run);
    ctl(fixture, &run, "p-spa-admin", key, "savings-plans", "--customer", "fab", "--as-of", "0",
        NULL);
    expect_error(&run, 2, "USAGE");
    run_free(&run);
}

/* The UTC date `days` days before now, "YYYY-MM-DD". */
static void date_days_ago(int days, char out[16])
{
    time_t when = time(NULL) - (time_t)days * 86400;
    struct tm utc;
    gmtime_r(&when, &utc);
    strftime(out, 16, "%Y-%m-%d", &utc);
}

/* `reservations --customer fab` with the given as-of options, in JSON: how
 * many rows (the run is freed). */
static size_t reservations_count(struct fixture *fixture, const char *key, const char *option,
                                 const char *value, const char *option2, const char *value2)
{
    struct run run;
    ctl(fixture, &run, "p-abt-admin", key, "--output", "json", "reservations", "--customer", "fab",
        option, value, option2, value2, NULL);
    expect_ok(&run);
    size_t count = json_array_size(json_object_get(run.json, "reservations"));
    run_free(&run);
    return count;
}

/* As p-abt-admin (KEY): customer CUSTOMER onboarded with its subscription
 * CUSTOMER-plan dated ONBOARDED, and a P1Y reservation on it dated BOUGHT,
 * all recorded now. Returns the purchase's sequence; its reservation id in
 * ID. */
static long long dated_reservation(struct fixture *fixture, const char *key, const char *customer,
                                   const char *onboarded, const char *bought, char *id,
                                   size_t id_size)
{
    struct run run;
    char subscription[128];
    snprintf(subscription, sizeof subscription, "%s-plan", customer);
    CTL_EXPECT(0, NULL, "p-abt-admin", key, "customer", "add", "--customer", customer, "--name",
               customer, "--business-time", onboarded);
    CTL_EXPECT(0, NULL, "p-abt-admin", key, "subscription", "add", "--customer", customer,
               "--subscription", subscription, "--offer", "azure-plan", "--business-time",
               onboarded);
    ctl(fixture, &run, "p-abt-admin", key, "--output", "json", "reservation", "buy", "--customer",
        customer, "--subscription", subscription, "--sku", "Standard_D2s_v5", "--region",
        "westeurope", "--quantity", "1", "--term", "P1Y", "--billing", "upfront", "--scope",
        "shared", "--price", "100", "--retail-price", "120", "--currency", "USD", "--business-time",
        bought, NULL);
    expect_ok(&run);
    json_t *result = json_array_get(json_object_get(run.json, "results"), 0);
    snprintf(id, id_size, "%s", json_string_value(json_object_get(result, "reservation_id")));
    long long sequence = (long long)json_int_at(result, "first_sequence");
    run_free(&run);
    return sequence;
}

/* "What was true on D" by business time, through ledgerctl, libledger and
 * the daemon: a customer, its subscription and a reservation all recorded
 * today but dated back are in the answers of their dates by business time,
 * not by recorded time; with --as-of too, as the ledger knew it then. Bad
 * dates are usage errors. */
static void test_ctl_cli_as_of_business_time(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    char key[PATH_SIZE + 16];
    make_partner(fixture, "p-abt", "p-abt-admin", key, sizeof key);
    char onboarded[16], bought[16], before[16], after[16];
    date_days_ago(60, onboarded);
    date_days_ago(30, bought);
    date_days_ago(31, before);
    date_days_ago(29, after);
    char reservation[128];
    long long purchase =
        dated_reservation(fixture, key, "fab", onboarded, bought, reservation, sizeof reservation);

    /* Dated a month ago: there by business time the day after, not the day
     * before; by recorded time (today) not there then. */
    assert_int_equal(reservations_count(fixture, key, "--as-of-business-time", after, NULL, NULL),
                     1);
    assert_int_equal(reservations_count(fixture, key, "--as-of-business-time", before, NULL, NULL),
                     0);
    assert_int_equal(reservations_count(fixture, key, "--as-of", after, NULL, NULL), 0);
    /* Combined: as the ledger knew it after the event before the purchase,
     * nothing was bought by then; after the purchase, it was. */
    char at[32];
    snprintf(at, sizeof at, "%lld", purchase - 1);
    assert_int_equal(
        reservations_count(fixture, key, "--as-of-business-time", after, "--as-of", at), 0);
    snprintf(at, sizeof at, "%lld", purchase);
    assert_int_equal(
        reservations_count(fixture, key, "--as-of-business-time", after, "--as-of", at), 1);

    /* The table and CSV outputs are those of the view. */
    ctl(fixture, &run, "p-abt-admin", key, "reservations", "--customer", "fab",
        "--as-of-business-time", after, NULL);
    expect_ok(&run);
    assert_non_null(strstr(run.out, "RESERVATION"));
    assert_non_null(strstr(run.out, "Standard_D2s_v5"));
    run_free(&run);
    ctl(fixture, &run, "p-abt-admin", key, "--output", "csv", "reservations", "--customer", "fab",
        "--as-of-business-time", before, NULL);
    expect_ok(&run);
    assert_non_null(strstr(run.out, "reservation_id"));
    assert_null(strstr(run.out, "Standard_D2s_v5"));
    run_free(&run);
    /* Savings plans and permissions take it too: the customer was onboarded
     * 60 days ago, nothing was switched on. */
    ctl(fixture, &run, "p-abt-admin", key, "--output", "json", "permissions", "--customer", "fab",
        "--history", "--as-of-business-time", after, NULL);
    expect_ok(&run);
    assert_int_equal(0, json_array_size(json_object_get(run.json, "permissions")));
    run_free(&run);
    ctl(fixture, &run, "p-abt-admin", key, "--output", "json", "savings-plans", "--customer", "fab",
        "--as-of-business-time", after, NULL);
    expect_ok(&run);
    assert_int_equal(0, json_array_size(json_object_get(run.json, "savings_plans")));
    run_free(&run);

    /* A reservation bought (dated) 500 days ago for a year, its expiry
     * recorded now, dated at the end of its term (by the admin, or by the
     * daemon's schedule first): expired by business time a day after the
     * term, active a day before; by recorded time then, not bought. */
    char long_ago[16], expired_after[16], expired_before[16];
    date_days_ago(800, long_ago);
    date_days_ago(500, bought);
    dated_reservation(fixture, key, "old", long_ago, bought, reservation, sizeof reservation);
    ctl(fixture, &run, "p-abt-admin", key, "--output", "json", "reservations", "--customer", "old",
        NULL);
    expect_ok(&run);
    char expires[64];
    snprintf(expires, sizeof expires, "%s",
             json_string_value(json_object_get(
                 json_array_get(json_object_get(run.json, "reservations"), 0), "expires")));
    run_free(&run);
    ctl(fixture, &run, "p-abt-admin", key, "reservation", "expired", "--customer", "old",
        "--reservation", reservation, "--business-time", expires, NULL);
    if (run.status != 0) {
        expect_error(&run, 1, "RESERVATION_NOT_ACTIVE");
    }
    run_free(&run);
    /* P1Y: 365 or 366 days after the purchase. */
    date_days_ago(500 - 367, expired_after);
    date_days_ago(500 - 364, expired_before);
    const char *dates[] = {expired_after, expired_before};
    const char *states[] = {"expired", "active"};
    for (size_t i = 0; i < 2; i++) {
        ctl(fixture, &run, "p-abt-admin", key, "--output", "json", "reservations", "--customer",
            "old", "--as-of-business-time", dates[i], NULL);
        expect_ok(&run);
        json_t *rows = json_object_get(run.json, "reservations");
        assert_int_equal(1, json_array_size(rows));
        assert_string_equal(states[i],
                            json_string_value(json_object_get(json_array_get(rows, 0), "state")));
        run_free(&run);
    }
    ctl(fixture, &run, "p-abt-admin", key, "--output", "json", "reservations", "--customer", "old",
        "--as-of", expired_after, NULL);
    expect_ok(&run);
    assert_int_equal(0, json_array_size(json_object_get(run.json, "reservations")));
    run_free(&run);

    /* Not a date, a sequence, or the epoch (which the wire reads as "not by
     * business time"): usage errors, nothing sent. */
    ctl(fixture, &run, "p-abt-admin", key, "reservations", "--customer", "fab",
        "--as-of-business-time", "2026-02-30", NULL);
    expect_usage(&run, "--as-of-business-time:");
    ctl(fixture, &run, "p-abt-admin", key, "reservations", "--customer", "fab",
        "--as-of-business-time", "42", NULL);
    expect_usage(&run, "--as-of-business-time:");
    ctl(fixture, &run, "p-abt-admin", key, "permissions", "--customer", "fab",
        "--as-of-business-time", "1970-01-01", NULL);
    expect_usage(&run, "--as-of-business-time: '1970-01-01' is the epoch");
    ctl(fixture, &run, "p-abt-admin", key, "orders", "--customer", "fab", "--as-of-business-time",
        after, NULL);
    expect_error(&run, 2, "USAGE");
    run_free(&run);
}

/* Runs `events --type types --checkpoint checkpoint` as the auditor of
 * p-ev, which prints customer_onboarded events; returns what the
 * checkpoint file then holds (the caller frees it). */
static char *events_onboarded(struct fixture *fixture, const char *auditor_key, const char *types,
                              const char *checkpoint)
{
    struct run run;
    ctl(fixture, &run, "p-ev-auditor", auditor_key, "--output", "json", "events", "--type", types,
        "--checkpoint", checkpoint, NULL);
    expect_ok(&run);
    assert_non_null(strstr(run.out, "\"type\":\"customer_onboarded\""));
    run_free(&run);
    return read_file(checkpoint);
}

static void test_ctl_cli_events_feed(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    char key[PATH_SIZE + 16];
    make_partner(fixture, "p-ev", "p-ev-admin", key, sizeof key);
    char auditor_key[PATH_SIZE + 16];
    make_staff(fixture, "p-ev", "p-ev-auditor", "auditor", auditor_key, sizeof auditor_key);
    ctl(fixture, &run, "p-ev-admin", key, "customer", "add", "--customer", "c1", "--name", "C1",
        NULL);
    expect_ok(&run);
    run_free(&run);

    ctl(fixture, &run, "p-ev-auditor", auditor_key, "--output", "json", "events", NULL);
    expect_ok(&run);
    /* One object per line, in sequence order. */
    size_t lines = 0;
    json_int_t previous = 0;
    json_int_t first = 0;
    for (char *line = strtok(run.out, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        json_t *event = json_loads(line, 0, NULL);
        assert_non_null(event);
        json_int_t sequence = json_int_at(event, "sequence");
        assert_true(sequence > previous);
        previous = sequence;
        if (first == 0) {
            first = sequence;
        }
        assert_string_equal("p-ev", json_string_value(json_object_get(event, "partner_id")));
        assert_true(strlen(json_string_value(json_object_get(event, "type"))) > 0);
        assert_non_null(json_object_get(event, "recorded"));
        json_decref(event);
        lines++;
    }
    assert_true(lines >= 3);
    run_free(&run);

    /* --from N starts at event N itself: from the last one, that one only. */
    char last[32];
    snprintf(last, sizeof last, "%lld", (long long)previous);
    ctl(fixture, &run, "p-ev-auditor", auditor_key, "--output", "json", "events", "--from", last,
        NULL);
    expect_ok(&run);
    assert_non_null(run.json); /* exactly one line: one document */
    assert_int_equal(previous, json_int_at(run.json, "sequence"));
    run_free(&run);

    /* Past the last event: no event, and a table or CSV is its header
     * alone (an empty view, not an empty file); JSON lines are nothing. */
    char past[32];
    snprintf(past, sizeof past, "%lld", (long long)previous + 1);
    ctl(fixture, &run, "p-ev-auditor", auditor_key, "--output", "csv", "events", "--from", past,
        NULL);
    expect_ok(&run);
    assert_string_equal(
        "sequence,recorded,business,type,partner_id,customer_id,actor,command_id\r\n", run.out);
    assert_string_equal("", run.err);
    run_free(&run);
    ctl(fixture, &run, "p-ev-auditor", auditor_key, "--output", "csv", "events", "--from", past,
        "--proofs", NULL);
    expect_ok(&run);
    assert_string_equal("sequence,recorded,business,type,partner_id,customer_id,actor,command_id,"
                        "proof_tree_size,proof_leaf_hash,proof_path\r\n",
                        run.out);
    run_free(&run);
    ctl(fixture, &run, "p-ev-auditor", auditor_key, "events", "--from", past, NULL);
    expect_ok(&run);
    assert_string_equal("SEQUENCE  RECORDED                     DATED                        "
                        "TYPE                          PARTNER           CUSTOMER              "
                        "ACTOR             COMMAND\n",
                        run.out);
    assert_string_equal("no events\n", run.err);
    run_free(&run);
    ctl(fixture, &run, "p-ev-auditor", auditor_key, "--output", "json", "events", "--from", past,
        NULL);
    expect_ok(&run);
    assert_string_equal("", run.out);
    run_free(&run);

    ctl(fixture, &run, "p-ev-auditor", auditor_key, "--output", "json", "events", "--type",
        "customer_onboarded", NULL);
    expect_ok(&run);
    json_t *event = json_loads(run.out, JSON_DISABLE_EOF_CHECK, NULL);
    assert_string_equal("customer_onboarded", json_string_value(json_object_get(event, "type")));
    assert_string_equal("C1", json_string_value(json_object_get(
                                  json_object_get(event, "customer_onboarded"), "name")));
    json_decref(event);
    run_free(&run);

    ctl(fixture, &run, "p-ev-auditor", auditor_key, "events", "--type", "no_such_event", NULL);
    expect_error(&run, 2, "USAGE");
    run_free(&run);

    /* A checkpoint file: the second run prints only what is new. */
    char checkpoint[PATH_SIZE + 16];
    snprintf(checkpoint, sizeof checkpoint, "%s/ev.checkpoint", fixture->dir);
    ctl(fixture, &run, "p-ev-auditor", auditor_key, "--output", "json", "events", "--checkpoint",
        checkpoint, NULL);
    expect_ok(&run);
    assert_true(strlen(run.out) > 0);
    run_free(&run);
    ctl(fixture, &run, "p-ev-auditor", auditor_key, "--output", "json", "events", "--checkpoint",
        checkpoint, NULL);
    expect_ok(&run);
    assert_string_equal("", run.out);
    run_free(&run);
    ctl(fixture, &run, "p-ev-admin", key, "customer", "add", "--customer", "c2", "--name", "C2",
        NULL);
    expect_ok(&run);
    run_free(&run);
    ctl(fixture, &run, "p-ev-auditor", auditor_key, "--output", "json", "events", "--checkpoint",
        checkpoint, NULL);
    expect_ok(&run);
    event = json_loads(run.out, 0, NULL);
    assert_non_null(event); /* exactly one line: one document */
    assert_string_equal("c2", json_string_value(json_object_get(event, "customer_id")));
    json_decref(event);
    run_free(&run);
    /* A checkpoint named without a directory is made in the current one
     * (its directory synced as "."), and records the same position. */
    ctl(fixture, &run, "p-ev-auditor", auditor_key, "--output", "json", "events", "--checkpoint",
        "ev-relative.checkpoint", NULL);
    expect_ok(&run);
    assert_true(strlen(run.out) > 0);
    run_free(&run);
    char relative_path[PATH_SIZE + 32];
    snprintf(relative_path, sizeof relative_path, "%s/ev-relative.checkpoint", fixture->dir);
    char *absolute_text = read_file(checkpoint), *relative_text = read_file(relative_path);
    assert_true(strlen(absolute_text) > 0);
    assert_string_equal(absolute_text, relative_text);
    free(absolute_text);
    free(relative_text);
    /* A checkpoint records the filters it was advanced under: the same
     * filters resume it, in any order; other ones are refused before
     * anything is printed, since it is past the events they add. */
    char filtered[PATH_SIZE + 32];
    snprintf(filtered, sizeof filtered, "%s/filtered.checkpoint", fixture->dir);
    char *recorded =
        events_onboarded(fixture, auditor_key, "principal_added,customer_onboarded", filtered);
    char *filters = strchr(recorded, '\n');
    assert_non_null(filters);
    assert_string_equal("\npartner=\ncustomer=\ntypes=customer_onboarded,principal_added\n",
                        filters);
    ctl(fixture, &run, "p-ev-auditor", auditor_key, "--output", "json", "events", "--type",
        "customer_onboarded", "--type", "principal_added", "--checkpoint", filtered, NULL);
    expect_ok(&run);
    assert_string_equal("", run.out);
    run_free(&run);
    /* A type named twice filters as once: the same filters. */
    ctl(fixture, &run, "p-ev-auditor", auditor_key, "--output", "json", "events", "--type",
        "principal_added,customer_onboarded,principal_added", "--checkpoint", filtered, NULL);
    expect_ok(&run);
    assert_string_equal("", run.out);
    run_free(&run);
    ctl(fixture, &run, "p-ev-auditor", auditor_key, "--output", "json", "events", "--checkpoint",
        filtered, NULL);
    char widened[PATH_SIZE + 400];
    snprintf(widened, sizeof widened,
             "error: USAGE: the checkpoint file %s was advanced to sequence %.*s under other "
             "filters (types customer_onboarded,principal_added in the file, (any) asked): events "
             "these filters take that its own left out would never be delivered; give another "
             "checkpoint file, or remove this one to start again after sequence 0, where these "
             "filters start without it\n{",
             filtered, (int)(filters - recorded), recorded);
    expect_error(&run, 2, "USAGE");
    assert_non_null(strstr(run.err, widened)); /* then the same as JSON */
    assert_string_equal("", run.out);
    run_free(&run);
    /* Without the file, --from N starts after sequence N - 1, not 0. */
    ctl(fixture, &run, "p-ev-auditor", auditor_key, "events", "--from", "3", "--checkpoint",
        filtered, NULL);
    expect_usage(&run, "remove this one to start again after sequence 2, where these filters "
                       "start without it");
    ctl(fixture, &run, "p-ev-auditor", auditor_key, "--output", "json", "events", "--type",
        "customer_onboarded,principal_added", "--customer", "c2", "--checkpoint", filtered, NULL);
    expect_usage(&run, "(customer (any) in the file, c2 asked)");
    char *unchanged = read_file(filtered);
    assert_string_equal(recorded, unchanged);
    free(unchanged);
    /* A checkpoint of the sequence alone (as written before checkpoints
     * recorded their filters) resumes under the filters given, and records
     * them. */
    FILE *sequence_only = fopen(filtered, "w");
    fputs("1\n", sequence_only);
    fclose(sequence_only);
    char *upgraded = events_onboarded(fixture, auditor_key, "customer_onboarded", filtered);
    assert_non_null(strstr(upgraded, "\npartner=\ncustomer=\ntypes=customer_onboarded\n"));
    free(upgraded);
    free(recorded);
    /* A checkpoint that holds no sequence, or cannot be read, is refused
     * saying which, and nothing is printed. */
    FILE *garbled = fopen(checkpoint, "w");
    fputs("12abc\n", garbled);
    fclose(garbled);
    ctl(fixture, &run, "p-ev-auditor", auditor_key, "--output", "csv", "events", "--checkpoint",
        checkpoint, NULL);
    expect_error(&run, 1, "IO_ERROR");
    char says[PATH_SIZE + 400];
    snprintf(says, sizeof says,
             "error: IO_ERROR: the checkpoint file %s cannot be resumed: its first line is not a "
             "sequence (the decimal number of the last event delivered, at most "
             "18446744073709551615); give another checkpoint file, or remove this one to start "
             "again from the first event asked for (the events it counted as delivered are then "
             "delivered again)\n",
             checkpoint);
    assert_string_equal(says, run.err);
    assert_string_equal("", run.out);
    run_free(&run);
    /* Filter lines that are not this ledgerctl's, or lines after them (a
     * newer ledgerctl's format), say so rather than that there is no
     * sequence. */
    static const struct {
        const char *text, *says;
    } unreadable[] = {
        {"12\npartner=\ntypes=\ncustomer=\n",
         "its filter lines are not the three this ledgerctl writes (partner=, customer= and "
         "types=, in that order, each ending in a line end); give another checkpoint file"},
        /* The last one cut before its line end, as a copy made by hand may be. */
        {"12\npartner=\ncustomer=\ntypes=customer_onboarded",
         "its filter lines are not the three this ledgerctl writes (partner=, customer= and "
         "types=, in that order, each ending in a line end); give another checkpoint file"},
        {"12\npartner=\ncustomer=\ntypes=\ntree_size=40\n",
         "it has lines after its filter lines that this ledgerctl does not know: a newer "
         "ledgerctl wrote it; resume with that one, or give another checkpoint file"},
    };
    for (size_t i = 0; i < sizeof unreadable / sizeof unreadable[0]; i++) {
        garbled = fopen(checkpoint, "w");
        fputs(unreadable[i].text, garbled);
        fclose(garbled);
        ctl(fixture, &run, "p-ev-auditor", auditor_key, "--output", "csv", "events", "--checkpoint",
            checkpoint, NULL);
        expect_error(&run, 1, "IO_ERROR");
        assert_non_null(strstr(run.err, unreadable[i].says));
        assert_null(strstr(run.err, "holds no sequence"));
        assert_string_equal("", run.out);
        run_free(&run);
    }
    /* Bytes no ledgerctl writes (a NUL, a carriage return among the filter
     * lines, more than any checkpoint holds) are refused as such, and the
     * file is left as it was. */
    static const char nul[] = "12\npartner=\0\ncustomer=\ntypes=\n";
    static const char carriage[] = "12\r\npartner=\r\ncustomer=\r\ntypes=\r\n";
    char *huge = malloc(8192);
    assert_non_null(huge);
    memset(huge, '\n', 8192);
    memcpy(huge, "12", 2);
    const struct {
        const char *bytes;
        size_t size;
        const char *says;
    } foreign[] = {
        {nul, sizeof nul - 1,
         "it holds a NUL byte, or a carriage return among its filter lines; "
         "give another checkpoint file"},
        {carriage, sizeof carriage - 1,
         "it holds a NUL byte, or a carriage return among its filter lines; give another "
         "checkpoint file"},
        {huge, 8192,
         "it is longer than any checkpoint ledgerctl writes; give another checkpoint file"},
    };
    for (size_t i = 0; i < sizeof foreign / sizeof foreign[0]; i++) {
        garbled = fopen(checkpoint, "wb");
        assert_int_equal(foreign[i].size, fwrite(foreign[i].bytes, 1, foreign[i].size, garbled));
        assert_int_equal(0, fclose(garbled));
        ctl(fixture, &run, "p-ev-auditor", auditor_key, "--output", "csv", "events", "--checkpoint",
            checkpoint, NULL);
        expect_error(&run, 1, "IO_ERROR");
        snprintf(says, sizeof says,
                 "error: IO_ERROR: the checkpoint file %s cannot be resumed: ", checkpoint);
        if (strncmp(run.err, says, strlen(says)) != 0 || strstr(run.err, foreign[i].says) == NULL) {
            fail_msg("checkpoint %zu: %s", i, run.err);
        }
        assert_string_equal("", run.out);
        run_free(&run);
        struct stat kept;
        assert_int_equal(0, stat(checkpoint, &kept));
        assert_int_equal(foreign[i].size, kept.st_size);
    }
    free(huge);
    ctl(fixture, &run, "p-ev-auditor", auditor_key, "events", "--checkpoint", "ledger-data", NULL);
    expect_error(&run, 1, "IO_ERROR");
    assert_string_equal("error: IO_ERROR: cannot read the checkpoint file ledger-data: Is a "
                        "directory\n",
                        run.err);
    run_free(&run);
    /* A checkpoint that cannot be written (its temporary name taken by a
     * directory): the feed stops with the reason, the file not advanced. */
    char stuck[PATH_SIZE + 32], stuck_temporary[PATH_SIZE + 48];
    snprintf(stuck, sizeof stuck, "%s/stuck.checkpoint", fixture->dir);
    snprintf(stuck_temporary, sizeof stuck_temporary, "%s.tmp", stuck);
    assert_int_equal(0, mkdir(stuck_temporary, 0700));
    ctl(fixture, &run, "p-ev-auditor", auditor_key, "events", "--checkpoint", stuck, NULL);
    expect_error(&run, 1, "IO_ERROR");
    snprintf(says, sizeof says,
             "error: IO_ERROR: cannot write the checkpoint file %s: Is a directory\n", stuck);
    assert_string_equal(says, run.err);
    run_free(&run);
    struct stat stuck_info;
    assert_int_equal(-1, stat(stuck, &stuck_info));
    /* A checkpoint past the ledger's head (a daemon restored from an older
     * backup, or another ledger): refused, instead of waiting silently and
     * skipping the events that get the numbers it already had. */
    FILE *ahead = fopen(checkpoint, "w");
    fputs("999999999\n", ahead);
    fclose(ahead);
    ctl(fixture, &run, "p-ev-auditor", auditor_key, "events", "--checkpoint", checkpoint, NULL);
    expect_error(&run, 1, "MISMATCH");
    snprintf(says, sizeof says,
             "behind sequence 999999999 this feed already delivered (checkpoint %s): the daemon "
             "serves a shorter history",
             checkpoint);
    assert_non_null(strstr(run.err, says));
    run_free(&run);
    /* The same with proofs (a listing of the signed head's tree) or of a
     * kept tree: the history is still shorter than what the feed had. */
    ctl(fixture, &run, "p-ev-auditor", auditor_key, "events", "--checkpoint", checkpoint,
        "--proofs", NULL);
    expect_error(&run, 1, "MISMATCH");
    assert_non_null(strstr(run.err, "behind sequence 999999999 this feed already delivered"));
    run_free(&run);
    ctl(fixture, &run, "p-ev-auditor", auditor_key, "events", "--checkpoint", checkpoint,
        "--tree-size", "2", NULL);
    expect_error(&run, 1, "MISMATCH");
    assert_non_null(strstr(run.err, "behind sequence 999999999 this feed already delivered"));
    run_free(&run);
    /* --from past the head is only a place to start: no events, no error. */
    ctl(fixture, &run, "p-ev-auditor", auditor_key, "events", "--from", "999999999", NULL);
    expect_ok(&run);
    run_free(&run);

    /* --limit and --from. */
    ctl(fixture, &run, "p-ev-auditor", auditor_key, "--output", "csv", "events", "--limit", "1",
        NULL);
    expect_ok(&run);
    assert_non_null(strstr(run.out, "sequence,recorded,business,type"));
    assert_non_null(strchr(strstr(run.out, "\r\n") + 2, '\n'));
    run_free(&run);

    /* Proofs for the auditor. */
    ctl(fixture, &run, "p-ev-auditor", auditor_key, "--output", "json", "head", NULL);
    expect_ok(&run);
    json_t *head = json_object_get(run.json, "head");
    json_int_t tree_size = json_int_at(head, "tree_size");
    assert_true(tree_size >= 2);
    assert_int_equal(64, strlen(json_string_value(json_object_get(head, "root_hash"))));
    run_free(&run);
    char tree[32], seq[32];
    snprintf(tree, sizeof tree, "%lld", (long long)tree_size);
    snprintf(seq, sizeof seq, "%lld", (long long)first);
    ctl(fixture, &run, "p-ev-auditor", auditor_key, "--output", "json", "proof", "--seq", seq,
        "--tree-size", tree, NULL);
    expect_ok(&run);
    assert_non_null(json_object_get(run.json, "inclusion"));
    run_free(&run);
    ctl(fixture, &run, "p-ev-auditor", auditor_key, "--output", "json", "consistency", "--from",
        seq, "--to", tree, NULL);
    if (run.status != 0) {
        /* Consistency proofs may be kept for auditors of all partners. */
        expect_error(&run, 1, "FORBIDDEN");
        run_free(&run);
        ctl(fixture, &run, "p-ev-auditor", auditor_key, "--output", "json", "head", NULL);
    }
    expect_ok(&run);
    assert_non_null(json_object_get(run.json, "consistency"));
    run_free(&run);
    ctl(fixture, &run, "p-ev-auditor", auditor_key, "proof", "--seq", "0", NULL);
    expect_error(&run, 2, "USAGE");
    run_free(&run);
    ctl(fixture, &run, "p-ev-auditor", auditor_key, "head", "--public-key", NULL);
    expect_ok(&run);
    assert_int_equal(65, strlen(run.out));
    run_free(&run);
}

/* Fails unless `text` (stderr) holds the one-line JSON error document of
 * `code`. */
static void expect_error_line(const char *text, const char *code)
{
    char *copy = strdup(text);
    assert_non_null(copy);
    char *save = NULL;
    bool found = false;
    for (char *line = strtok_r(copy, "\n", &save); line != NULL && !found;
         line = strtok_r(NULL, "\n", &save)) {
        json_t *document = json_loads(line, 0, NULL);
        json_t *error = json_object_get(document, "error");
        const char *name = json_string_value(json_object_get(error, "code"));
        found = name != NULL && strcmp(name, code) == 0 &&
                json_string_value(json_object_get(error, "message")) != NULL;
        json_decref(document);
    }
    free(copy);
    if (!found) {
        fail_msg("no JSON error line of %s on stderr: %s", code, text);
    }
}

/* A feed's stdout holds its events only: a JSON error (a refusal, a usage
 * error) goes to stderr, after the error line, as one line; other verbs
 * still print it on stdout. */
static void test_ctl_cli_events_errors_on_stderr(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    char key[PATH_SIZE + 16], auditor_key[PATH_SIZE + 16], checkpoint[PATH_SIZE + 16];
    make_partner(fixture, "p-everr", "p-everr-admin", key, sizeof key);
    make_staff(fixture, "p-everr", "p-everr-auditor", "auditor", auditor_key, sizeof auditor_key);
    snprintf(checkpoint, sizeof checkpoint, "%s/everr.checkpoint", fixture->dir);
    FILE *ahead = fopen(checkpoint, "w");
    assert_non_null(ahead);
    fputs("999999999\n", ahead);
    fclose(ahead);
    const char *cases[][4] = {
        {"--checkpoint", checkpoint, NULL, "MISMATCH"}, /* refused after the daemon answered */
        {"--from", "0", NULL, "USAGE"},                 /* refused by the verb */
        {"--no-such-option", NULL, NULL, "USAGE"},      /* refused by the parser */
        {"--customer", "no spaces", NULL, "USAGE"},     /* not an id */
    };
    int statuses[] = {1, 2, 2, 2};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ctl(fixture, &run, "p-everr-auditor", auditor_key, "--output", "json", "events",
            cases[i][0], cases[i][1], cases[i][2], NULL);
        expect_error(&run, statuses[i], cases[i][3]);
        assert_string_equal("", run.out);
        expect_error_line(run.err, cases[i][3]);
        run_free(&run);
    }
    /* A key file that cannot be read, found when the feed connects: exit
     * status 3, said on stderr, nothing on stdout. */
    ctl(fixture, &run, "p-everr-auditor", "no-such.key", "--output", "json", "events", NULL);
    expect_error(&run, 3, "IO_ERROR");
    assert_non_null(strstr(run.err, "cannot read the key file no-such.key: No such file or "
                                    "directory; give the principal's key with --key-file or "
                                    "LEDGER_KEY_FILE\n"));
    assert_string_equal("", run.out);
    expect_error_line(run.err, "IO_ERROR");
    run_free(&run);
    /* Not a feed: the document is stdout's. */
    ctl(fixture, &run, "p-everr-auditor", auditor_key, "--output", "json", "proof", "--seq", "0",
        NULL);
    expect_error(&run, 2, "USAGE");
    expect_json_error(&run, "USAGE");
    assert_null(strchr(run.err, '{'));
    run_free(&run);
}

/* Starts `ledgerctl events --follow` in the background, its stdout going to
 * out_path and, unless err_path is NULL, its stderr to err_path; returns its
 * pid. */
static pid_t follow_start(struct fixture *fixture, const char *principal, const char *key_file,
                          const char *checkpoint, const char *out_path, const char *err_path)
{
    pid_t pid = fork();
    if (pid == 0) {
        int out = open(out_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
        dup2(out, 1);
        if (err_path != NULL) {
            int err = open(err_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
            dup2(err, 2);
        }
        execl(ledgerctl_path(), ledgerctl_path(), "--socket", fixture->socket, "--principal",
              principal, "--key-file", key_file, "--output", "json", "events", "--follow",
              "--checkpoint", checkpoint, (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* How many lines `text` holds (the events verb prints one per event). */
static size_t line_count(const char *text)
{
    size_t count = 0;
    for (const char *c = text; *c != '\0'; c++) {
        count += *c == '\n';
    }
    return count;
}

/* How long a follower may take to print what it was sent, before
 * LEDGER_TEST_TIMEOUT_SCALE: one that lost the daemon asks again only every
 * few seconds (libledger's backoff), and a loaded machine running the
 * sanitizer build adds seconds more. */
#define FOLLOW_WAIT_MS 30000

/* Waits up to FOLLOW_WAIT_MS for a file to hold `lines` lines; false when
 * it holds more, or fewer after the wait. */
static bool wait_lines(const char *path, size_t lines)
{
    for (long waited = 0; waited < test_timeout_ms(FOLLOW_WAIT_MS); waited += 50) {
        char *text = read_file(path);
        size_t count = line_count(text);
        free(text);
        if (count >= lines) {
            return count == lines;
        }
        sleep_ms(50);
    }
    return false;
}

static void test_ctl_cli_events_follow(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    char key[PATH_SIZE + 16], auditor_key[PATH_SIZE + 16];
    char checkpoint[PATH_SIZE + 16], feed[PATH_SIZE + 16];
    make_partner(fixture, "p-follow", "p-follow-admin", key, sizeof key);
    snprintf(checkpoint, sizeof checkpoint, "%s/follow.checkpoint", fixture->dir);
    snprintf(feed, sizeof feed, "%s/follow.jsonl", fixture->dir);
    make_staff(fixture, "p-follow", "p-follow-auditor", "auditor", auditor_key, sizeof auditor_key);

    /* The partner's events so far, as the auditor sees them. */
    ctl(fixture, &run, "p-follow-auditor", auditor_key, "--output", "json", "events", NULL);
    expect_ok(&run);
    size_t before = line_count(run.out);
    run_free(&run);
    assert_true(before >= 1);
    pid_t follower = follow_start(fixture, "p-follow-auditor", auditor_key, checkpoint, feed, NULL);
    fixture->follower = follower;
    assert_true(wait_lines(feed, before));
    /* A second reader of the same checkpoint is refused while it follows:
     * both would print the same events. */
    ctl(fixture, &run, "p-follow-auditor", auditor_key, "--output", "json", "events",
        "--checkpoint", checkpoint, NULL);
    expect_error(&run, 1, "IO_ERROR");
    assert_non_null(strstr(run.err, "is in use by another subscriber"));
    run_free(&run);
    /* New events arrive while it follows (woken by the doorbell). */
    ctl(fixture, &run, "p-follow-admin", key, "customer", "add", "--customer", "c1", "--name", "C1",
        NULL);
    expect_ok(&run);
    run_free(&run);
    assert_true(wait_lines(feed, before + 1));
    /* SIGTERM stops it cleanly. */
    kill(follower, SIGTERM);
    int status = 0;
    waitpid(follower, &status, 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(0, WEXITSTATUS(status));

    /* Committed while nobody follows; the restart resumes from the
     * checkpoint: the feed gets only the new event. The file was cut off
     * in the middle of a line meanwhile (a full disk): the follower
     * removes that line before it prints, and says so. */
    ctl(fixture, &run, "p-follow-admin", key, "customer", "add", "--customer", "c2", "--name", "C2",
        NULL);
    expect_ok(&run);
    run_free(&run);
    FILE *cut = fopen(feed, "ab");
    assert_non_null(cut);
    fputs("{\"type\":\"customer_onboarded\",\"seq", cut);
    fclose(cut);
    char err_path[PATH_SIZE + 16];
    snprintf(err_path, sizeof err_path, "%s/follow.err", fixture->dir);
    follower = follow_start(fixture, "p-follow-auditor", auditor_key, checkpoint, feed, err_path);
    fixture->follower = follower;
    assert_true(wait_lines(feed, before + 2));
    kill(follower, SIGINT);
    waitpid(follower, &status, 0);
    fixture->follower = 0;
    assert_true(WIFEXITED(status));
    assert_int_equal(0, WEXITSTATUS(status));
    char warning[2 * PATH_SIZE];
    snprintf(warning, sizeof warning,
             "warning: removed the cut line at the end of %s (its last 33 bytes, after its last "
             "line end",
             feed);
    char *said = read_file(err_path);
    assert_non_null(strstr(said, warning));
    free(said);

    char *text = read_file(feed);
    json_int_t previous = 0;
    size_t count = 0;
    for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        json_t *event = json_loads(line, 0, NULL);
        assert_non_null(event);
        json_int_t sequence = json_int_at(event, "sequence");
        assert_true(sequence > previous); /* in order, never twice */
        previous = sequence;
        json_decref(event);
        count++;
    }
    assert_int_equal(before + 2, count);
    free(text);
}

/* How many times `text` occurs in the file at `path`. */
static size_t file_count(const char *path, const char *text)
{
    char *content = read_file(path);
    size_t count = 0;
    for (const char *at = strstr(content, text); at != NULL; at = strstr(at + 1, text)) {
        count++;
    }
    free(content);
    return count;
}

/* Waits up to FOLLOW_WAIT_MS for `text` to occur in the file at `path`. */
static bool wait_text(const char *path, const char *text)
{
    for (long waited = 0; waited < test_timeout_ms(FOLLOW_WAIT_MS); waited += 50) {
        if (file_count(path, text) > 0) {
            return true;
        }
        sleep_ms(50);
    }
    return false;
}

/* A follower outlives a daemon restart: it says on stderr that it lost the
 * daemon and that the daemon is back, and its feed ends up the same as the
 * history read afterwards, every event once and in order; SIGTERM then stops
 * it with exit status 0. A revoked principal still ends it at once, with the
 * authentication failure's exit status. */
static void test_ctl_cli_events_follow_restart(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    char key[PATH_SIZE + 16], auditor_key[PATH_SIZE + 16], log[PATH_SIZE + 16];
    char checkpoint[PATH_SIZE + 16], feed[PATH_SIZE + 16], errors[PATH_SIZE + 16];
    make_partner(fixture, "p-restart", "p-restart-admin", key, sizeof key);
    make_staff(fixture, "p-restart", "p-restart-auditor", "auditor", auditor_key,
               sizeof auditor_key);
    snprintf(checkpoint, sizeof checkpoint, "%s/restart.checkpoint", fixture->dir);
    snprintf(feed, sizeof feed, "%s/restart.jsonl", fixture->dir);
    snprintf(errors, sizeof errors, "%s/restart.err", fixture->dir);
    snprintf(log, sizeof log, "%s/daemon.log", fixture->dir);
    ctl(fixture, &run, "p-restart-auditor", auditor_key, "--output", "json", "events", NULL);
    expect_ok(&run);
    size_t before = line_count(run.out);
    run_free(&run);
    pid_t follower =
        follow_start(fixture, "p-restart-auditor", auditor_key, checkpoint, feed, errors);
    fixture->follower = follower;
    assert_true(wait_lines(feed, before));

    /* The daemon stops; nothing is committed while it is away. It is back
     * on the same data directory before anything is asserted, so that a
     * failure here leaves the other tests a daemon. */
    daemon_stop(fixture->daemon);
    fixture->daemon = 0;
    bool lost = wait_text(errors, "ledgerctl: lost the daemon at ");
    sleep_ms(300); /* a few attempts while it is away */
    bool waiting = waitpid(follower, NULL, WNOHANG) == 0;
    fixture->daemon = daemon_start(fixture->data, log);
    assert_true(fixture->daemon > 0);
    assert_true(lost);
    assert_true(waiting);

    /* New events reach the follower. */
    const char *customers[] = {"c1", "c2"};
    for (size_t i = 0; i < 2; i++) {
        ctl(fixture, &run, "p-restart-admin", key, "customer", "add", "--customer", customers[i],
            "--name", "Restarted", NULL);
        expect_ok(&run);
        run_free(&run);
    }
    assert_true(wait_lines(feed, before + 2));
    assert_true(wait_text(errors, "ledgerctl: the daemon at "));
    kill(follower, SIGTERM);
    int status = 0;
    waitpid(follower, &status, 0);
    fixture->follower = 0;
    assert_true(WIFEXITED(status));
    assert_int_equal(0, WEXITSTATUS(status));

    /* One line when it went, one when it came back; no error, no secret. */
    assert_int_equal(1, file_count(errors, "lost the daemon"));
    assert_int_equal(1, file_count(errors, "answers again"));
    assert_int_equal(0, file_count(errors, "error:"));
    char *secret = read_file(auditor_key);
    secret[strcspn(secret, "\n")] = '\0';
    assert_int_equal(64, strlen(secret));
    assert_int_equal(0, file_count(errors, secret));
    free(secret);
    /* Exactly the history: none missing, none twice. */
    ctl(fixture, &run, "p-restart-auditor", auditor_key, "--output", "json", "events", NULL);
    expect_ok(&run);
    char *followed = read_file(feed);
    assert_string_equal(run.out, followed);
    free(followed);
    run_free(&run);

    /* Revoked while following: exit 3 with the refusal, not a wait. */
    follower = follow_start(fixture, "p-restart-auditor", auditor_key, checkpoint, feed, errors);
    fixture->follower = follower;
    sleep_ms(300);
    ctl(fixture, &run, "operator", fixture->operator_key, "principal", "revoke", "--id",
        "p-restart-auditor", NULL);
    expect_ok(&run);
    run_free(&run);
    for (long waited = 0;
         waited < test_timeout_ms(FOLLOW_WAIT_MS) && waitpid(follower, &status, WNOHANG) == 0;
         waited += 50) {
        sleep_ms(50);
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 3) {
        kill(follower, SIGKILL);
        waitpid(follower, &status, 0);
        fail_msg("a revoked follower did not exit with 3");
    }
    fixture->follower = 0;
    assert_true(wait_text(errors, "error: PRINCIPAL_REVOKED: "));
    /* The feed holds only events, the refusal went to stderr. */
    char *fed = read_file(feed);
    json_lines_each(fed, expect_event_line, NULL);
    free(fed);
    char *said = read_file(errors);
    expect_error_line(said, "PRINCIPAL_REVOKED");
    free(said);
}

static void test_ctl_cli_backup(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    ctl(fixture, &run, "operator", fixture->operator_key, "--output", "json", "backup", "--dir",
        "backup-1", NULL);
    expect_ok(&run);
    assert_true(json_int_at(json_object_get(run.json, "head"), "tree_size") > 0);
    run_free(&run);
    char data[PATH_SIZE];
    snprintf(data, sizeof data, "%s/backup-1/data.mdb", fixture->dir);
    struct stat info;
    assert_int_equal(0, stat(data, &info));
    /* The directory must not exist yet. */
    ctl(fixture, &run, "operator", fixture->operator_key, "backup", "--dir", "backup-1", NULL);
    expect_error(&run, 1, "INVALID_ARGUMENT");
    run_free(&run);
    ctl(fixture, &run, "operator", fixture->operator_key, "backup", NULL);
    expect_error(&run, 2, "USAGE");
    run_free(&run);
    ctl(fixture, &run, "operator", fixture->operator_key, "backup", "--out", "backup-2", "--dir",
        "backup-3", NULL);
    expect_error(&run, 2, "USAGE");
    assert_string_equal("error: USAGE: --out: give --out or --dir, not both\n", run.err);
    run_free(&run);
    /* CSV: the head's field,value records, then the directory, made
     * absolute; the table says on stderr where the backup went. */
    char absolute[PATH_SIZE + 32], record[PATH_SIZE + 64];
    snprintf(absolute, sizeof absolute, "%s/backup-csv", fixture->dir);
    snprintf(record, sizeof record, "\r\ndirectory,%s\r\n", absolute);
    ctl(fixture, &run, "operator", fixture->operator_key, "--output", "csv", "backup", "--out",
        "backup-csv", NULL);
    expect_ok(&run);
    const char *start = "field,value\r\ntree_size,";
    assert_int_equal(0, strncmp(run.out, start, strlen(start)));
    const char *end = strstr(run.out, record);
    assert_non_null(end);
    assert_string_equal(record, end);
    run_free(&run);
    ctl(fixture, &run, "operator", fixture->operator_key, "backup", "--out", "backup-table", NULL);
    expect_ok(&run);
    snprintf(absolute, sizeof absolute, "backup written to %s/backup-table (head.pb beside it)\n",
             fixture->dir);
    assert_string_equal(absolute, run.err);
    run_free(&run);

    /* A long relative DIR is made absolute whole: the backup goes where it
     * was named, never to a shortened path (another directory); one too long
     * to make absolute is refused before anything is sent. */
    char relative[2200] = "", full[PATH_SIZE * 3];
    for (int level = 0; level < 10; level++) {
        size_t length = strlen(relative);
        snprintf(relative + length, sizeof relative - length, "%s%0200d", level ? "/" : "", level);
        snprintf(full, sizeof full, "%s/%s", fixture->dir, relative);
        assert_int_equal(0, mkdir(full, 0700));
    }
    size_t length = strlen(relative);
    snprintf(relative + length, sizeof relative - length, "/backup-long");
    ctl(fixture, &run, "operator", fixture->operator_key, "backup", "--out", relative, NULL);
    expect_ok(&run);
    run_free(&run);
    snprintf(full, sizeof full, "%s/%s/data.mdb", fixture->dir, relative);
    assert_int_equal(0, stat(full, &info));
    char too_long[4200];
    memset(too_long, 'x', sizeof too_long - 1);
    too_long[sizeof too_long - 1] = '\0';
    ctl(fixture, &run, "operator", fixture->operator_key, "backup", "--dir", too_long, NULL);
    expect_error(&run, 2, "USAGE");
    assert_string_equal("error: USAGE: --out: the path made absolute is longer than 4095 bytes; "
                        "give a shorter one\n",
                        run.err);
    run_free(&run);
}

/* Runs ledgerctl (argv NULL-terminated, argv[0] its path) in the fixture's
 * directory with its stdin, stdout and stderr on a new pseudo-terminal;
 * returns its exit status, and what it wrote there in output (size bytes,
 * NUL-terminated). */
static int ctl_on_terminal(struct fixture *fixture, const char *const *argv, char *output,
                           size_t size)
{
    int master = -1;
    fflush(NULL);
    pid_t pid = forkpty(&master, NULL, NULL, NULL);
    assert_true(pid >= 0);
    if (pid == 0) {
        exec_in(fixture->dir, argv, NULL);
    }
    size_t used = 0;
    long waited = 0, deadline = test_timeout_ms(60000);
    while (used < size - 1 && waited <= deadline) {
        struct pollfd ready = {.fd = master, .events = POLLIN};
        int n = poll(&ready, 1, 100);
        if (n == 0) {
            waited += 100;
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        /* The terminal's last writer gone: EIO (Linux), or end of file. */
        ssize_t got = read(master, output + used, size - 1 - used);
        if (got <= 0) {
            break;
        }
        used += (size_t)got;
    }
    output[used] = '\0';
    if (waited > deadline) {
        kill(pid, SIGKILL);
    }
    close(master);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (waited > deadline) {
        fail_msg("ledgerctl did not finish on the terminal; it wrote:\n%s", output);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* A backup refused on a terminal (its directory exists already) ends the
 * bar it drew, without showing it done, before the error line, which
 * begins a line of its own; no partial directory is left beside it. */
static void test_ctl_cli_backup_refused_on_a_terminal(void **state)
{
    struct fixture *fixture = *state;
    char taken[PATH_SIZE + 32], says[PATH_SIZE + 256];
    snprintf(taken, sizeof taken, "%s/tty-taken", fixture->dir);
    assert_int_equal(0, mkdir(taken, 0700));
    const char *argv[] = {
        ledgerctl_path(),      "--socket", fixture->socket, "--principal", "operator", "--key-file",
        fixture->operator_key, "backup",   "--out",         "tty-taken",   NULL};
    char *output = calloc(1, 64 * 1024);
    assert_non_null(output);
    int status = ctl_on_terminal(fixture, argv, output, 64 * 1024);
    snprintf(says, sizeof says,
             "\nerror: INVALID_ARGUMENT: cannot create the backup directory %s: it already "
             "exists; give a new one",
             taken);
    const char *bar = strstr(output, "\rbackup   [");
    const char *error = strstr(output, says);
    if (status != 1 || bar == NULL || error == NULL || error < bar ||
        strstr(output, "100%") != NULL) {
        fail_msg("exit %d, the terminal shows:\n%s", status, output);
    }
    free(output);
    DIR *directory = opendir(fixture->dir);
    assert_non_null(directory);
    for (struct dirent *entry = readdir(directory); entry != NULL; entry = readdir(directory)) {
        if (strncmp(entry->d_name, ".tty-taken.partial-", 19) == 0) {
            fail_msg("a partial backup was left: %s", entry->d_name);
        }
    }
    closedir(directory);
}

/* The head's tree size of the ledger at `socket`, as its operator sees it. */
static json_int_t demo_ledger_size(struct fixture *fixture, const char *socket, const char *key)
{
    struct run run;
    ctl(fixture, &run, NULL, NULL, "--socket", socket, "--key-file", key, "--output", "json",
        "head", NULL);
    expect_ok(&run);
    json_int_t size = json_int_at(json_object_get(run.json, "head"), "tree_size");
    run_free(&run);
    return size;
}

/* On a ledger that already has one of the demo's principals or partners
 * (though not both of its partners, which its first step would find), the
 * demo is refused before it sends anything, naming what is there: found at
 * its own step, the steps before would stay committed and the demo could
 * never run again. */
static void test_ctl_cli_demo_refused_whole(void **state)
{
    struct fixture *fixture = *state;
    char data[PATH_SIZE], log[PATH_SIZE + 32], socket[PATH_SIZE + 48], key[PATH_SIZE + 48];
    snprintf(data, sizeof data, "%s/demo-ledger", fixture->dir);
    snprintf(log, sizeof log, "%s/demo-ledger.log", fixture->dir);
    snprintf(socket, sizeof socket, "ipc://%s/ledger.sock", data);
    snprintf(key, sizeof key, "%s/operator.key", data);
    pid_t daemon = daemon_start(data, log);
    assert_true(daemon > 0);
    struct run run;
    ctl(fixture, &run, NULL, NULL, "--socket", socket, "--key-file", key, "principal", "add",
        "--id", "billing", "--role", "billing", "--key-out", "own-billing.key", NULL);
    expect_ok(&run);
    run_free(&run);
    json_int_t size = demo_ledger_size(fixture, socket, key);
    ctl(fixture, &run, NULL, NULL, "--socket", socket, "--key-file", key, "demo", "--keys-dir",
        "refused-keys", NULL);
    expect_error(&run, 1, "PRINCIPAL_EXISTS");
    assert_non_null(strstr(run.err, "principal billing already exists: the demo makes it, and "
                                    "needs a ledger without it; nothing was committed"));
    run_free(&run);
    assert_int_equal(size, demo_ledger_size(fixture, socket, key));
    ctl(fixture, &run, NULL, NULL, "--socket", socket, "--key-file", key, "partner", "add",
        "--partner", "northwind", "--name", "Northwind", NULL);
    expect_ok(&run);
    run_free(&run);
    size = demo_ledger_size(fixture, socket, key);
    ctl(fixture, &run, NULL, NULL, "--socket", socket, "--key-file", key, "demo", "--keys-dir",
        "refused-keys", NULL);
    expect_error(&run, 1, "PARTNER_EXISTS");
    assert_non_null(strstr(run.err, "partner northwind is already registered: the demo needs a "
                                    "ledger without its partners (contoso, northwind); nothing "
                                    "was committed"));
    run_free(&run);
    assert_int_equal(size, demo_ledger_size(fixture, socket, key));
    daemon_stop(daemon);
}

/* A demo whose output cannot be written (a full disk) after its commands
 * were committed says the world was loaded all the same, as a write does,
 * so that nobody runs it again; the ledger holds it. */
static void test_ctl_cli_demo_output_fails(void **state)
{
    struct fixture *fixture = *state;
    static const char *const formats[] = {"table", "json", "csv"};
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        /* A fresh ledger for each format. */
        char data[PATH_SIZE], log[PATH_SIZE + 32], socket[PATH_SIZE + 48], key[PATH_SIZE + 48];
        snprintf(data, sizeof data, "%s/demo-full-%zu", fixture->dir, i);
        snprintf(log, sizeof log, "%s/demo-full-%zu.log", fixture->dir, i);
        snprintf(socket, sizeof socket, "ipc://%s/ledger.sock", data);
        snprintf(key, sizeof key, "%s/operator.key", data);
        pid_t daemon = daemon_start(data, log);
        assert_true(daemon > 0);
        struct run run;
        json_int_t size = demo_ledger_size(fixture, socket, key);
        char keys_dir[32], loaded[96];
        snprintf(keys_dir, sizeof keys_dir, "full-keys-%zu", i);
        fixture->stdout_path = "/dev/full";
        ctl(fixture, &run, NULL, NULL, "--socket", socket, "--key-file", key, "--output",
            formats[i], "demo", "--keys-dir", keys_dir, NULL);
        fixture->stdout_path = NULL;
        expect_error(&run, 1, "IO_ERROR");
        json_int_t loaded_size = demo_ledger_size(fixture, socket, key);
        assert_true(loaded_size > size);
        snprintf(loaded, sizeof loaded, "up to sequence %lld; key files in %s)",
                 (long long)loaded_size, keys_dir);
        assert_non_null(strstr(run.err, "cannot write the output: No space left on device; the "
                                        "demo world was loaded all the same ("));
        if (strstr(run.err, loaded) == NULL) {
            fail_msg("expected '%s' in '%s'", loaded, run.err);
        }
        run_free(&run);
        /* The ledger holds it: loading it again is refused. */
        ctl(fixture, &run, NULL, NULL, "--socket", socket, "--key-file", key, "demo", "--keys-dir",
            "full-keys-again", NULL);
        expect_error(&run, 1, "PARTNER_EXISTS");
        run_free(&run);
        daemon_stop(daemon);
    }
}

/* Fails unless run's stderr begins with `line` (a build measuring coverage
 * adds its own complaint after it when it cannot write its counts past the
 * file size limit). */
static void expect_first_line(const struct run *run, const char *line)
{
    if (strncmp(run->err, line, strlen(line)) != 0) {
        fail_msg("expected '%s', got '%s'", line, run->err);
    }
}

/* Files ledgerctl writes that stop short (a write past RLIMIT_FSIZE fails
 * with EFBIG, as one on a full disk fails with ENOSPC) say why, with the
 * system's reason rather than a made-up one ("Input/output error"), and
 * leave no part behind: a key file of part of a secret, which principal
 * add removes and demo removed not (a key file that is no key); a
 * checkpoint, never written; and demo, which stops half way, says so and
 * that the ledger cannot take it again. */
static void test_ctl_cli_files_cut_short(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    char key_out[PATH_SIZE + 32], says[2 * PATH_SIZE];
    snprintf(key_out, sizeof key_out, "%s/cut-short.key", fixture->dir);
    const char *add[] = {
        ledgerctl_path(), "--socket",  fixture->socket, "--key-file", fixture->operator_key,
        "principal",      "add",       "--id",          "cut-short",  "--role",
        "auditor",        "--key-out", key_out,         NULL};
    run_argv_file_limited(fixture, &run, add, 16);
    expect_error(&run, 1, "IO_ERROR");
    snprintf(says, sizeof says,
             "error: IO_ERROR: principal cut-short was added, but its secret, which is sent only "
             "once, is lost: cannot write the key file %s: File too large; revoke the principal "
             "(ledgerctl principal revoke --id cut-short) and add one with another id\n",
             key_out);
    expect_first_line(&run, says);
    run_free(&run);
    struct stat info;
    assert_int_not_equal(0, stat(key_out, &info));
    /* So for a rotation, whose advice is to rotate again. */
    const char *rotate[] = {ledgerctl_path(),      "--socket",  fixture->socket, "--key-file",
                            fixture->operator_key, "principal", "rotate",        "--id",
                            "cut-short",           "--key-out", key_out,         NULL};
    run_argv_file_limited(fixture, &run, rotate, 16);
    expect_error(&run, 1, "IO_ERROR");
    snprintf(says, sizeof says,
             "error: IO_ERROR: the secret of principal cut-short was rotated, but the new secret, "
             "which is sent only once, is lost: cannot write the key file %s: File too large; "
             "rotate it again (ledgerctl principal rotate --id cut-short --key-out FILE)\n",
             key_out);
    expect_first_line(&run, says);
    run_free(&run);
    assert_int_not_equal(0, stat(key_out, &info));

    char auditor[PATH_SIZE + 16], checkpoint[PATH_SIZE + 32];
    make_partner(fixture, "p-cut", "p-cut-admin", auditor, sizeof auditor);
    make_staff(fixture, "p-cut", "p-cut-auditor", "auditor", auditor, sizeof auditor);
    snprintf(checkpoint, sizeof checkpoint, "%s/cut-short.checkpoint", fixture->dir);
    const char *feed[] = {ledgerctl_path(),
                          "--socket",
                          fixture->socket,
                          "--principal",
                          "p-cut-auditor",
                          "--key-file",
                          auditor,
                          "--output",
                          "json",
                          "events",
                          "--checkpoint",
                          checkpoint,
                          NULL};
    run_argv_file_limited(fixture, &run, feed, 16);
    expect_error(&run, 1, "IO_ERROR");
    snprintf(says, sizeof says,
             "error: IO_ERROR: cannot write the checkpoint file %s: File too large\n", checkpoint);
    assert_int_equal(0, strncmp(run.err, says, strlen(says)));
    json_lines_each(run.out, expect_event_line, NULL);
    run_free(&run);
    assert_int_not_equal(0, stat(checkpoint, &info));

    /* The demo, on a ledger of its own: it stops at its first key file. */
    char data[PATH_SIZE], log[PATH_SIZE + 32], socket[PATH_SIZE + 48], key[PATH_SIZE + 48];
    char keys[PATH_SIZE + 32];
    snprintf(data, sizeof data, "%s/demo-cut", fixture->dir);
    snprintf(log, sizeof log, "%s/demo-cut.log", fixture->dir);
    snprintf(socket, sizeof socket, "ipc://%s/ledger.sock", data);
    snprintf(key, sizeof key, "%s/operator.key", data);
    snprintf(keys, sizeof keys, "%s/demo-cut-keys", fixture->dir);
    pid_t daemon = daemon_start(data, log);
    assert_true(daemon > 0);
    json_int_t size = demo_ledger_size(fixture, socket, key);
    const char *demo[] = {ledgerctl_path(), "--socket", socket,       "--key-file", key, "--output",
                          "json",           "demo",     "--keys-dir", keys,         NULL};
    run_argv_file_limited(fixture, &run, demo, 16);
    json_int_t loaded = demo_ledger_size(fixture, socket, key);
    daemon_stop(daemon);
    expect_error(&run, 1, "IO_ERROR");
    assert_true(loaded > size);
    snprintf(says, sizeof says,
             "error: IO_ERROR: cannot write the key file %s/contoso-admin.key: File too large; "
             "the demo stopped half way, %lld commands committed (up to sequence %lld): it "
             "cannot run on this ledger again; load it into a new one\n",
             keys, (long long)(loaded - size), (long long)loaded);
    if (strncmp(run.err, says, strlen(says)) != 0) {
        fail_msg("expected '%s', got '%s'", says, run.err);
    }
    run_free(&run);
    DIR *directory = opendir(keys);
    assert_non_null(directory);
    for (struct dirent *entry = readdir(directory); entry != NULL; entry = readdir(directory)) {
        if (entry->d_name[0] != '.') {
            fail_msg("the demo left %s/%s", keys, entry->d_name);
        }
    }
    closedir(directory);
}

static void test_ctl_cli_demo(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    /* A --keys-dir that is a file is refused before anything is sent: the
     * demo below then finds the ledger without its partners. */
    char not_dir[PATH_SIZE + 32];
    snprintf(not_dir, sizeof not_dir, "%s/keys-file", fixture->dir);
    FILE *file = fopen(not_dir, "w");
    assert_non_null(file);
    fclose(file);
    ctl(fixture, &run, NULL, NULL, "demo", "--keys-dir", "keys-file", NULL);
    expect_error(&run, 2, "USAGE");
    assert_string_equal("error: USAGE: --keys-dir: keys-file is not a directory; give a directory "
                        "for the demo's key files (made when it does not exist)\n",
                        run.err);
    run_free(&run);
    /* So is one that cannot be made (its parent missing), as a usage
     * error (docs/cli.md) that says what to give, making nothing; and an
     * empty one. */
    ctl(fixture, &run, NULL, NULL, "demo", "--keys-dir", "no-such-parent/keys", NULL);
    expect_error(&run, 2, "USAGE");
    assert_string_equal("error: USAGE: --keys-dir: cannot make the directory no-such-parent/keys: "
                        "No such file or directory; give a directory that exists or can be made "
                        "(in an existing directory you may write)\n",
                        run.err);
    run_free(&run);
    char parent[PATH_SIZE + 32];
    snprintf(parent, sizeof parent, "%s/no-such-parent", fixture->dir);
    struct stat parent_info;
    assert_int_not_equal(0, stat(parent, &parent_info));
    ctl(fixture, &run, NULL, NULL, "demo", "--keys-dir", "", NULL);
    expect_error(&run, 2, "USAGE");
    assert_string_equal("error: USAGE: --keys-dir: give a directory\n", run.err);
    run_free(&run);
    ctl(fixture, &run, NULL, NULL, "demo", NULL);
    expect_ok(&run);
    assert_non_null(strstr(run.out, "The demo world is loaded"));
    assert_non_null(strstr(run.out, "ledgerctl reservations --customer fabrikam"));
    run_free(&run);

    char admin_key[PATH_SIZE + 64];
    snprintf(admin_key, sizeof admin_key, "%s/ledger-demo-keys/contoso-admin.key", fixture->dir);
    const char *views[][4] = {
        {"reservations", "--customer", "fabrikam", "reservations"},
        {"orders", "--customer", "fabrikam", "orders"},
        {"savings-plans", "--customer", "fabrikam", "savings_plans"},
        {"permissions", "--customer", "tailspin", "permissions"},
        {"activity", "--customer", "fabrikam", "activity"},
    };
    for (size_t i = 0; i < sizeof views / sizeof views[0]; i++) {
        ctl(fixture, &run, "contoso-admin", admin_key, "--output", "json", views[i][0], views[i][1],
            views[i][2], NULL);
        expect_ok(&run);
        if (json_array_size(json_object_get(run.json, views[i][3])) == 0) {
            fail_msg("demo left %s empty", views[i][0]);
        }
        run_free(&run);
    }
    /* The demo needs a ledger without its partners. */
    ctl(fixture, &run, NULL, NULL, "demo", "--keys-dir", "second-keys", NULL);
    expect_error(&run, 1, "PARTNER_EXISTS");
    run_free(&run);
    ctl(fixture, &run, NULL, NULL, "demo", NULL);
    expect_error(&run, 2, "USAGE");
    run_free(&run);
}

/* The reservation's state in `customer`'s reservations, as `admin` reads them. */
static const char *reservation_state_of(struct fixture *fixture, const char *admin, const char *key,
                                        const char *id, char *out, size_t size)
{
    struct run run;
    ctl(fixture, &run, admin, key, "--output", "json", "reservations", "--customer", "fab", NULL);
    expect_ok(&run);
    json_t *row = row_with(&run, "reservations", "reservation_id", id);
    snprintf(out, size, "%s", json_string_value(json_object_get(row, "state")));
    run_free(&run);
    return out;
}

/* `--to DATE` reaches the end of the day: an order dated at its last
 * microsecond is in `--to` that day and not in `--from` the next. */
static void test_ctl_cli_to_date_end_of_day(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    char key[PATH_SIZE + 16];
    const char *admin = "p-eod-admin";
    make_partner(fixture, "p-eod", admin, key, sizeof key);
    CTL_EXPECT(0, NULL, admin, key, "customer", "add", "--customer", "eod", "--name", "Eod",
               "--business-time", "2026-02-01T00:00:00Z");
    CTL_EXPECT(0, NULL, admin, key, "subscription", "add", "--customer", "eod", "--subscription",
               "eod-plan", "--offer", "azure-plan", "--business-time", "2026-02-01T00:00:00Z");
    CTL_EXPECT(0, NULL, admin, key, "reservation", "buy", "--customer", "eod", "--subscription",
               "eod-plan", "--sku", "Standard_B2ms", "--region", "westeurope", "--quantity", "1",
               "--term", "P1Y", "--billing", "upfront", "--scope", "shared", "--price", "10.00",
               "--retail-price", "12.00", "--currency", "USD", "--business-time",
               "2026-02-28T23:59:59.999999Z");
    ctl(fixture, &run, admin, key, "--output", "json", "orders", "--customer", "eod", "--to",
        "2026-02-28", NULL);
    expect_ok(&run);
    assert_int_equal(1, json_array_size(json_object_get(run.json, "orders")));
    run_free(&run);
    ctl(fixture, &run, admin, key, "--output", "json", "orders", "--customer", "eod", "--from",
        "2026-02-01", "--to", "2026-02-28T23:59:59.999999Z", NULL);
    expect_ok(&run);
    assert_int_equal(0, json_array_size(json_object_get(run.json, "orders")));
    run_free(&run);
    ctl(fixture, &run, admin, key, "--output", "json", "orders", "--customer", "eod", "--from",
        "2026-03-01", NULL);
    expect_ok(&run);
    assert_int_equal(0, json_array_size(json_object_get(run.json, "orders")));
    run_free(&run);
}

/* The daemon's schedule records the expiry of a reservation past its term
 * with auto-renewal off, dated at the expiry, as the ledger's own principal;
 * one set to renew waits for the partner. Last in the group: it restarts the
 * daemon with the schedule every second (expiry_sweep_s in the config). */
static void test_ctl_cli_expiry_schedule(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    char key[PATH_SIZE + 16], bob_key[PATH_SIZE + 16];
    make_partner(fixture, "p-exp", "p-exp-admin", key, sizeof key);
    setup_customer(fixture, "p-exp", key, "p-exp-admin", bob_key, sizeof bob_key);
    /* Bought two years ago for one year. */
    char past[32];
    time_t then = time(NULL) - (time_t)2 * 365 * 86400;
    struct tm tm;
    gmtime_r(&then, &tm);
    strftime(past, sizeof past, "%Y-%m-%dT%H:%M:%SZ", &tm);
    char ended[128], renewing[128], state_text[64];
    /* Billed to a subscription bought then too: rule 4 holds at the
     * purchase's business time. */
    ctl(fixture, &run, "p-exp-admin", key, "subscription", "add", "--customer", "fab",
        "--subscription", "fab-old", "--offer", "azure-plan", "--business-time", past, NULL);
    expect_ok(&run);
    run_free(&run);
    for (int i = 0; i < 2; i++) {
        ctl(fixture, &run, "p-exp-admin", key, "--output", "json", "reservation", "buy",
            "--customer", "fab", "--subscription", "fab-old", "--sku", "Standard_D2s_v5",
            "--region", "westeurope", "--quantity", "1", "--term", "P1Y", "--billing", "upfront",
            "--scope", "shared", "--price", "1000.00", "--retail-price", "1200.00", "--currency",
            "USD", "--business-time", past, i == 1 ? "--auto-renew" : NULL, NULL);
        expect_ok(&run);
        result_field(&run, "reservation_id", i == 0 ? ended : renewing, sizeof ended);
        run_free(&run);
    }
    assert_string_equal("active", reservation_state_of(fixture, "p-exp-admin", key, ended,
                                                       state_text, sizeof state_text));

    daemon_stop(fixture->daemon);
    char config[PATH_SIZE + 32], log[PATH_SIZE + 16];
    snprintf(config, sizeof config, "%s/ledgerd.conf", fixture->data);
    FILE *file = fopen(config, "a");
    assert_non_null(file);
    fprintf(file, "\nexpiry_sweep_s = 1\n");
    assert_int_equal(fclose(file), 0);
    snprintf(log, sizeof log, "%s/daemon.log", fixture->dir);
    fixture->daemon = daemon_start(fixture->data, log);
    assert_true(fixture->daemon > 0);

    /* The first sweep runs a second after the start; give it many. */
    for (int polls = test_timeout_ms(20000) / 200;
         strcmp(reservation_state_of(fixture, "p-exp-admin", key, ended, state_text,
                                     sizeof state_text),
                "expired") != 0;
         polls--) {
        if (polls == 0) {
            fail_msg("reservation %s still %s; see %s", ended, state_text, log);
        }
        sleep_ms(200);
    }
    assert_string_equal("active", reservation_state_of(fixture, "p-exp-admin", key, renewing,
                                                       state_text, sizeof state_text));
    /* Recorded by the ledger's own principal, in the partner's activity log. */
    ctl(fixture, &run, "p-exp-admin", key, "--output", "json", "activity", "--customer", "fab",
        NULL);
    expect_ok(&run);
    json_t *rows = json_object_get(run.json, "activity");
    bool found = false;
    for (size_t i = 0; i < json_array_size(rows); i++) {
        json_t *row = json_array_get(rows, i);
        json_t *actor = json_object_get(row, "actor");
        if (strcmp(json_string_value(json_object_get(row, "action")), "Expire Reservation") == 0 &&
            strcmp(json_string_value(json_object_get(actor, "principal_id")), "ledger:expiry") ==
                0) {
            found = true;
        }
    }
    assert_true(found);
    run_free(&run);
    /* The partner can still record what happens to the other one. */
    CTL_EXPECT(0, NULL, "p-exp-admin", key, "reservation", "expired", "--customer", "fab",
               "--reservation", renewing);
}

/* Runs `exec ledgerctl --socket S --principal P --key-file K ARGS REDIRECT`
 * through sh, in the fixture's directory: ARGS and REDIRECT are sh words
 * (the test's own, no user text). */
static void ctl_redirected(struct fixture *fixture, struct run *run, const char *principal,
                           const char *key_file, const char *args, const char *redirect)
{
    char command[4 * PATH_SIZE];
    snprintf(command, sizeof command,
             "exec '%s' --socket '%s' --principal %s --key-file '%s' %s %s", ledgerctl_path(),
             fixture->socket, principal, key_file, args, redirect);
    const char *argv[] = {"/bin/sh", "-c", command, NULL};
    run_argv(fixture, run, argv);
}

/* A standard descriptor closed by the caller (`2>&-`, `>&-`, `<&-`) is not
 * taken by the first file ledgerctl opens: the notice about a key file
 * others may read, written to a closed stderr, never lands in the new key
 * file that principal add opened first (which would hold a notice and then
 * the secret, no key); output to a closed stdout, and a closed stdin read,
 * fail as IO_ERROR with the reason, not with the error of whatever took
 * descriptor 1 (nanomsg's eventfd: "Invalid argument"). */
static void test_ctl_cli_closed_standard_descriptors(void **state)
{
    struct fixture *fixture = *state;
    struct run run;
    char loose_key[PATH_SIZE + 32], new_key[PATH_SIZE + 32], args[3 * PATH_SIZE];
    snprintf(loose_key, sizeof loose_key, "%s/operator-644.key", fixture->dir);
    snprintf(new_key, sizeof new_key, "%s/closed-stderr.key", fixture->dir);
    char *secret = read_file(fixture->operator_key);
    FILE *copy = fopen(loose_key, "w");
    assert_non_null(copy);
    fputs(secret, copy);
    assert_int_equal(0, fclose(copy));
    free(secret);
    assert_int_equal(0, chmod(loose_key, 0644));
    snprintf(args, sizeof args, "principal add --id closed-stderr --role auditor --key-out '%s'",
             new_key);
    ctl_redirected(fixture, &run, "operator", loose_key, args, "2>&-");
    expect_ok(&run);
    run_free(&run);
    char *written = read_file(new_key);
    if (strlen(written) != 65 || strspn(written, "0123456789abcdef") != 64 || written[64] != '\n') {
        fail_msg("the key file is not 64 hex digits and a line end: '%s'", written);
    }
    free(written);
    ctl(fixture, &run, "closed-stderr", new_key, "--output", "json", "head", NULL);
    expect_ok(&run);
    run_free(&run);

    ctl_redirected(fixture, &run, "operator", fixture->operator_key, "head", ">&-");
    assert_int_equal(1, run.status);
    assert_string_equal("error: IO_ERROR: cannot write the output: Bad file descriptor\n", run.err);
    run_free(&run);
    ctl_redirected(fixture, &run, "operator", fixture->operator_key, "import --file -", "<&-");
    assert_int_equal(1, run.status);
    assert_string_equal("error: IO_ERROR: cannot read stdin: Bad file descriptor\n", run.err);
    assert_string_equal("", run.out);
    run_free(&run);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ctl_cli_usage_errors),
        cmocka_unit_test(test_ctl_cli_usage_values),
        cmocka_unit_test(test_ctl_cli_secondary_options_checked),
        cmocka_unit_test(test_ctl_cli_unreachable),
        cmocka_unit_test(test_ctl_cli_socket_path_length),
        cmocka_unit_test(test_ctl_cli_authentication),
        cmocka_unit_test(test_ctl_cli_principal_key_file),
        cmocka_unit_test(test_ctl_cli_principal_rotate),
        cmocka_unit_test(test_ctl_cli_environment),
        cmocka_unit_test(test_ctl_cli_write_options_checked_first),
        cmocka_unit_test(test_ctl_cli_closed_pipe),
        cmocka_unit_test(test_ctl_cli_activity_pages),
        cmocka_unit_test(test_ctl_cli_retries_are_duplicates),
        cmocka_unit_test(test_ctl_cli_refusals),
        cmocka_unit_test(test_ctl_cli_activity_customer_principals),
        cmocka_unit_test(test_ctl_cli_partner_changes),
        cmocka_unit_test(test_ctl_cli_renewed_cloud_order),
        cmocka_unit_test(test_ctl_cli_isolation),
        cmocka_unit_test(test_ctl_cli_views_json),
        cmocka_unit_test(test_ctl_cli_savings_plans_as_of),
        cmocka_unit_test(test_ctl_cli_as_of_business_time),
        cmocka_unit_test(test_ctl_cli_events_feed),
        cmocka_unit_test(test_ctl_cli_events_errors_on_stderr),
        cmocka_unit_test(test_ctl_cli_events_follow),
        cmocka_unit_test(test_ctl_cli_events_follow_restart),
        cmocka_unit_test(test_ctl_cli_backup),
        cmocka_unit_test(test_ctl_cli_backup_refused_on_a_terminal),
        cmocka_unit_test(test_ctl_cli_demo_refused_whole),
        cmocka_unit_test(test_ctl_cli_closed_standard_descriptors),
        cmocka_unit_test(test_ctl_cli_demo_output_fails),
        cmocka_unit_test(test_ctl_cli_files_cut_short),
        cmocka_unit_test(test_ctl_cli_demo),
        cmocka_unit_test(test_ctl_cli_to_date_end_of_day),
        cmocka_unit_test(test_ctl_cli_expiry_schedule), /* last: it restarts the daemon */
    };
    return cmocka_run_group_tests(tests, fixture_setup, fixture_teardown);
}
