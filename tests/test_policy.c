/*
 * test_policy.c: the role table says what docs/domain.md's "Who acts"
 * says, covers every command and query the schema declares, and prints as
 * markdown. Method: the expected table is written out here a second time, by
 * hand, from docs/domain.md (not copied from policy.c), and compared cell by cell
 * for every role including undeclared ones; completeness is checked against
 * the generated descriptors, so a new verb in the schema fails this test
 * until the table has a row for it. The ledger-policy tool ($LEDGER_POLICY,
 * set by ctest) is run for its command line: its usage, and a table it
 * cannot write.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "policy.h"
#include "test_util.h"

enum { ADMIN, SALES, HELPDESK, CUSTOMER, AUDITOR, BILLING, OPERATOR, SYSTEM, ROLES };

static const Ledger__V1__Role role_of[ROLES] = {
    LEDGER__V1__ROLE__ROLE_ADMIN_AGENT,    LEDGER__V1__ROLE__ROLE_SALES_AGENT,
    LEDGER__V1__ROLE__ROLE_HELPDESK_AGENT, LEDGER__V1__ROLE__ROLE_CUSTOMER_USER,
    LEDGER__V1__ROLE__ROLE_AUDITOR,        LEDGER__V1__ROLE__ROLE_BILLING,
    LEDGER__V1__ROLE__ROLE_OPERATOR,       LEDGER__V1__ROLE__ROLE_SYSTEM,
};

/* Who may use a command, by role; everything not listed is FORBIDDEN. */
struct expected_command {
    const char *name;
    const char *allowed;     /* roles, as letters: a s h c u b o y */
    const char *ask_partner; /* roles refused with ASK_PARTNER */
};

static const struct expected_command expected_commands[] = {
    {"add_partner", "o", ""},
    {"add_principal", "o", ""},
    {"revoke_principal", "o", ""},
    {"onboard_customer", "a", ""},
    {"purchase_subscription", "as", ""},
    {"set_subscription_status", "a", ""},
    {"assign_role", "a", ""},
    {"remove_role", "a", ""},
    {"grant_permission", "a", "c"},
    {"revoke_permission", "a", "c"},
    {"purchase_reservation", "asc", ""},
    {"change_reservation_scope", "a", "c"},
    {"set_reservation_renewal", "a", "c"},
    {"renew_reservation", "a", "c"},
    {"exchange_reservation", "a", "c"},
    {"cancel_reservation", "a", "c"},
    {"expire_reservation", "ay", ""},
    {"purchase_savings_plan", "ac", ""},
    {"change_savings_plan_scope", "a", "c"},
    {"set_savings_plan_renewal", "a", "c"},
    {"cancel_savings_plan", "ac", ""},
    {"set_cost_visibility", "a", ""},
    {"rotate_principal_secret", "o", ""},
    {"renew_savings_plan", "a", "c"},
};

struct expected_query {
    const char *name;
    const char *allowed;
};

static const struct expected_query expected_queries[] = {
    {"events", "ub"},        {"reservations", "ashcub"},
    {"orders", "ashub"},     {"savings_plans", "ashcub"},
    {"permissions", "ashu"}, {"activity", "ashu"},
    {"billing", "ashub"},    {"principals", "uo"},
    {"head", "ubo"},         {"inclusion", "u"},
    {"consistency", "u"},    {"explain", "u"},
    {"stats", "uo"},         {"backup", "o"},
};

static const char role_letters[ROLES + 1] = "ashcuboy";

static bool listed(const char *letters, int role)
{
    return strchr(letters, role_letters[role]) != NULL;
}

static void test_policy_commands_match_domain(void **state)
{
    (void)state;
    size_t rows = sizeof expected_commands / sizeof expected_commands[0];
    assert_int_equal(POLICY_COMMAND_COUNT, rows);
    for (size_t i = 0; i < rows; i++) {
        const struct expected_command *row = &expected_commands[i];
        Ledger__V1__Command__BodyCase body_case = codec_command_type_from_name(row->name);
        assert_int_not_equal(LEDGER__V1__COMMAND__BODY__NOT_SET, body_case);
        for (int role = 0; role < ROLES; role++) {
            enum policy_access want = listed(row->allowed, role)       ? POLICY_ALLOW
                                      : listed(row->ask_partner, role) ? POLICY_ASK_PARTNER
                                                                       : POLICY_DENY;
            enum policy_access got = policy_command_access(role_of[role], body_case);
            if (got != want)
                fail_msg("%s for %s: table says %d, docs/domain.md %d", row->name,
                         policy_role_name(role_of[role]), (int)got, (int)want);
            assert_int_equal(want == POLICY_ALLOW,
                             policy_command_allowed(role_of[role], body_case));
        }
        /* Undeclared roles may do nothing. */
        assert_int_equal(POLICY_DENY,
                         policy_command_access(LEDGER__V1__ROLE__ROLE_UNSPECIFIED, body_case));
        assert_int_equal(POLICY_DENY, policy_command_access((Ledger__V1__Role)99, body_case));
        assert_int_equal(POLICY_DENY, policy_command_access((Ledger__V1__Role)-1, body_case));
    }
}

static void test_policy_queries_match_domain(void **state)
{
    (void)state;
    size_t rows = sizeof expected_queries / sizeof expected_queries[0];
    assert_int_equal(POLICY_QUERY_COUNT, rows);
    for (size_t i = 0; i < rows; i++) {
        const struct expected_query *row = &expected_queries[i];
        Ledger__V1__Query__KindCase kind_case = codec_query_type_from_name(row->name);
        assert_int_not_equal(LEDGER__V1__QUERY__KIND__NOT_SET, kind_case);
        for (int role = 0; role < ROLES; role++) {
            bool want = listed(row->allowed, role);
            if (policy_query_allowed(role_of[role], kind_case) != want)
                fail_msg("query %s for %s: table disagrees with docs/domain.md", row->name,
                         policy_role_name(role_of[role]));
            assert_int_equal(want ? POLICY_ALLOW : POLICY_DENY,
                             policy_query_access(role_of[role], kind_case));
        }
        assert_false(policy_query_allowed(LEDGER__V1__ROLE__ROLE_UNSPECIFIED, kind_case));
        assert_false(policy_query_allowed((Ledger__V1__Role)42, kind_case));
    }
}

/* Every verb the schema declares has a row, and iteration visits each once. */
static void test_policy_table_covers_schema(void **state)
{
    (void)state;
    const ProtobufCMessageDescriptor *commands = &ledger__v1__command__descriptor;
    size_t members = 0;
    for (unsigned i = 0; i < commands->n_fields; i++) {
        if ((commands->fields[i].flags & PROTOBUF_C_FIELD_FLAG_ONEOF) == 0)
            continue;
        members++;
        bool found = false;
        for (size_t j = 0; j < POLICY_COMMAND_COUNT; j++)
            found = found || (unsigned)policy_command_at(j) == commands->fields[i].id;
        if (!found)
            fail_msg("command %s has no row in the policy table", commands->fields[i].name);
    }
    assert_int_equal(POLICY_COMMAND_COUNT, members);
    const ProtobufCMessageDescriptor *queries = &ledger__v1__query__descriptor;
    members = 0;
    for (unsigned i = 0; i < queries->n_fields; i++) {
        if ((queries->fields[i].flags & PROTOBUF_C_FIELD_FLAG_ONEOF) == 0)
            continue;
        members++;
        bool found = false;
        for (size_t j = 0; j < POLICY_QUERY_COUNT; j++)
            found = found || (unsigned)policy_query_at(j) == queries->fields[i].id;
        if (!found)
            fail_msg("query %s has no row in the policy table", queries->fields[i].name);
    }
    assert_int_equal(POLICY_QUERY_COUNT, members);
    /* Iteration ends cleanly. */
    assert_int_equal(LEDGER__V1__COMMAND__BODY__NOT_SET, policy_command_at(POLICY_COMMAND_COUNT));
    assert_int_equal(LEDGER__V1__QUERY__KIND__NOT_SET, policy_query_at(POLICY_QUERY_COUNT));
    assert_int_equal(LEDGER__V1__ROLE__ROLE_UNSPECIFIED, policy_role_at(POLICY_ROLE_COUNT));
    for (size_t i = 0; i < POLICY_ROLE_COUNT; i++)
        assert_true(codec_role_valid((int)policy_role_at(i)));
    /* Unknown verbs are refused for everyone. */
    assert_false(policy_command_allowed(LEDGER__V1__ROLE__ROLE_ADMIN_AGENT,
                                        LEDGER__V1__COMMAND__BODY__NOT_SET));
    assert_false(policy_command_allowed(LEDGER__V1__ROLE__ROLE_ADMIN_AGENT,
                                        (Ledger__V1__Command__BodyCase)999));
    assert_false(
        policy_query_allowed(LEDGER__V1__ROLE__ROLE_AUDITOR, LEDGER__V1__QUERY__KIND__NOT_SET));
}

/* The invariants docs/domain.md states in words, checked over the whole table. */
static void test_policy_invariants(void **state)
{
    (void)state;
    for (size_t j = 0; j < POLICY_COMMAND_COUNT; j++) {
        Ledger__V1__Command__BodyCase verb = policy_command_at(j);
        /* Read-only roles change nothing. */
        assert_false(policy_command_allowed(LEDGER__V1__ROLE__ROLE_HELPDESK_AGENT, verb));
        assert_false(policy_command_allowed(LEDGER__V1__ROLE__ROLE_AUDITOR, verb));
        assert_false(policy_command_allowed(LEDGER__V1__ROLE__ROLE_BILLING, verb));
        /* The operator makes no business change; only it manages principals. */
        bool administrative = verb == LEDGER__V1__COMMAND__BODY_ADD_PARTNER ||
                              verb == LEDGER__V1__COMMAND__BODY_ADD_PRINCIPAL ||
                              verb == LEDGER__V1__COMMAND__BODY_REVOKE_PRINCIPAL ||
                              verb == LEDGER__V1__COMMAND__BODY_ROTATE_PRINCIPAL_SECRET;
        assert_int_equal(administrative,
                         policy_command_allowed(LEDGER__V1__ROLE__ROLE_OPERATOR, verb));
        for (size_t r = 0; r < POLICY_ROLE_COUNT; r++) {
            Ledger__V1__Role role = policy_role_at(r);
            if (role != LEDGER__V1__ROLE__ROLE_OPERATOR && administrative)
                assert_false(policy_command_allowed(role, verb));
            /* ASK_PARTNER is an answer for customer users only. */
            if (role != LEDGER__V1__ROLE__ROLE_CUSTOMER_USER)
                assert_int_not_equal(POLICY_ASK_PARTNER, policy_command_access(role, verb));
        }
    }
    /* Rule 4: sales agents buy reservations, not savings plans; rule 1: only
     * admin agents switch permissions. */
    assert_true(policy_command_allowed(LEDGER__V1__ROLE__ROLE_SALES_AGENT,
                                       LEDGER__V1__COMMAND__BODY_PURCHASE_RESERVATION));
    assert_false(policy_command_allowed(LEDGER__V1__ROLE__ROLE_SALES_AGENT,
                                        LEDGER__V1__COMMAND__BODY_PURCHASE_SAVINGS_PLAN));
    assert_false(policy_command_allowed(LEDGER__V1__ROLE__ROLE_SALES_AGENT,
                                        LEDGER__V1__COMMAND__BODY_GRANT_PERMISSION));
    /* Rule 5: exchanges, cancellations, renewals and scope changes of a
     * reservation are the admin agent's only, whoever else asks. */
    static const Ledger__V1__Command__BodyCase partner_only[] = {
        LEDGER__V1__COMMAND__BODY_EXCHANGE_RESERVATION,
        LEDGER__V1__COMMAND__BODY_CANCEL_RESERVATION,
        LEDGER__V1__COMMAND__BODY_RENEW_RESERVATION,
        LEDGER__V1__COMMAND__BODY_SET_RESERVATION_RENEWAL,
        LEDGER__V1__COMMAND__BODY_CHANGE_RESERVATION_SCOPE,
        LEDGER__V1__COMMAND__BODY_RENEW_SAVINGS_PLAN,
    };
    for (size_t j = 0; j < sizeof partner_only / sizeof partner_only[0]; j++) {
        for (size_t r = 0; r < POLICY_ROLE_COUNT; r++) {
            Ledger__V1__Role role = policy_role_at(r);
            assert_int_equal(role == LEDGER__V1__ROLE__ROLE_ADMIN_AGENT,
                             policy_command_allowed(role, partner_only[j]));
        }
    }
    /* Customer users read only their own reservations and savings plans. */
    for (size_t j = 0; j < POLICY_QUERY_COUNT; j++) {
        Ledger__V1__Query__KindCase kind = policy_query_at(j);
        bool own_views = kind == LEDGER__V1__QUERY__KIND_RESERVATIONS ||
                         kind == LEDGER__V1__QUERY__KIND_SAVINGS_PLANS;
        assert_int_equal(own_views,
                         policy_query_allowed(LEDGER__V1__ROLE__ROLE_CUSTOMER_USER, kind));
        /* Auditors read everything but backups, which are the operator's. */
        assert_int_equal(kind != LEDGER__V1__QUERY__KIND_BACKUP,
                         policy_query_allowed(LEDGER__V1__ROLE__ROLE_AUDITOR, kind));
        /* The ledger itself asks nothing. */
        assert_false(policy_query_allowed(LEDGER__V1__ROLE__ROLE_SYSTEM, kind));
    }
}

static void test_policy_scopes(void **state)
{
    (void)state;
    assert_int_equal(POLICY_SCOPE_OWN_PARTNER,
                     policy_role_scope(LEDGER__V1__ROLE__ROLE_ADMIN_AGENT));
    assert_int_equal(POLICY_SCOPE_OWN_PARTNER,
                     policy_role_scope(LEDGER__V1__ROLE__ROLE_SALES_AGENT));
    assert_int_equal(POLICY_SCOPE_OWN_PARTNER,
                     policy_role_scope(LEDGER__V1__ROLE__ROLE_HELPDESK_AGENT));
    assert_int_equal(POLICY_SCOPE_OWN_CUSTOMER,
                     policy_role_scope(LEDGER__V1__ROLE__ROLE_CUSTOMER_USER));
    assert_int_equal(POLICY_SCOPE_PARTNER_OR_ALL,
                     policy_role_scope(LEDGER__V1__ROLE__ROLE_AUDITOR));
    assert_int_equal(POLICY_SCOPE_PARTNER_OR_ALL,
                     policy_role_scope(LEDGER__V1__ROLE__ROLE_BILLING));
    assert_int_equal(POLICY_SCOPE_ALL_PARTNERS, policy_role_scope(LEDGER__V1__ROLE__ROLE_OPERATOR));
    assert_int_equal(POLICY_SCOPE_ALL_PARTNERS, policy_role_scope(LEDGER__V1__ROLE__ROLE_SYSTEM));
    assert_int_equal(POLICY_SCOPE_NONE, policy_role_scope(LEDGER__V1__ROLE__ROLE_UNSPECIFIED));
    assert_int_equal(POLICY_SCOPE_NONE, policy_role_scope((Ledger__V1__Role)77));
    /* Partner staff see the partner-facing views; nobody else does. */
    for (int role = 0; role < ROLES; role++)
        assert_int_equal(role == ADMIN || role == SALES || role == HELPDESK,
                         policy_role_partner_facing(role_of[role]));
    assert_false(policy_role_partner_facing((Ledger__V1__Role)77));
    assert_string_equal("none", policy_scope_name(POLICY_SCOPE_NONE));
    assert_string_equal("own customer", policy_scope_name(POLICY_SCOPE_OWN_CUSTOMER));
}

static void test_policy_access_errors(void **state)
{
    (void)state;
    assert_int_equal(LEDGER_ERR_OK, policy_access_error(POLICY_ALLOW));
    assert_int_equal(LEDGER_ERR_FORBIDDEN, policy_access_error(POLICY_DENY));
    assert_int_equal(LEDGER_ERR_ASK_PARTNER, policy_access_error(POLICY_ASK_PARTNER));
    assert_int_equal(LEDGER_ERR_FORBIDDEN, policy_access_error((enum policy_access)17));
}

static void test_policy_role_names(void **state)
{
    (void)state;
    assert_string_equal("admin-agent", policy_role_name(LEDGER__V1__ROLE__ROLE_ADMIN_AGENT));
    assert_string_equal("customer-user", policy_role_name(LEDGER__V1__ROLE__ROLE_CUSTOMER_USER));
    assert_string_equal("system", policy_role_name(LEDGER__V1__ROLE__ROLE_SYSTEM));
    assert_string_equal("unknown", policy_role_name(LEDGER__V1__ROLE__ROLE_UNSPECIFIED));
    assert_string_equal("unknown", policy_role_name((Ledger__V1__Role)12));
}

static void test_policy_markdown(void **state)
{
    (void)state;
    size_t length = policy_table_markdown(NULL, 0);
    assert_true(length > 1000);
    char *text = malloc(length + 1);
    assert_non_null(text);
    assert_int_equal(length, policy_table_markdown(text, length + 1));
    assert_int_equal(length, strlen(text));
    assert_non_null(strstr(text, "| command | admin-agent | sales-agent | helpdesk-agent | "
                                 "customer-user | auditor | billing | operator | system |"));
    assert_non_null(strstr(text, "| purchase_savings_plan | yes | - | - | yes | - | - | - | - |"));
    assert_non_null(
        strstr(text, "| cancel_reservation | yes | - | - | ASK_PARTNER | - | - | - | - |"));
    assert_non_null(strstr(text, "| events | - | - | - | - | yes | yes | - | - |"));
    assert_non_null(strstr(text, "| customer-user | own customer | no |"));
    /* One line per verb in each table, plus the scope rows. */
    size_t lines = 0;
    for (const char *p = text; *p; p++)
        lines += *p == '\n';
    assert_true(lines >= POLICY_COMMAND_COUNT + POLICY_QUERY_COUNT + POLICY_ROLE_COUNT + 6);
    /* A short buffer is filled, terminated, and the full length reported. */
    char small[40];
    memset(small, 'x', sizeof small);
    assert_int_equal(length, policy_table_markdown(small, sizeof small));
    assert_int_equal(sizeof small - 1, strlen(small));
    assert_memory_equal(text, small, sizeof small - 1);
    char one[1] = {'x'};
    assert_int_equal(length, policy_table_markdown(one, 1));
    assert_int_equal('\0', one[0]);
    free(text);
}

/* What a run of ledger-policy printed, and its exit status. */
struct tool_run {
    int status;
    char out[16384];
    char err[4096];
};

/* Reads the file at `path` into `text` (NUL-terminated) and removes it. */
static void read_output(const char *path, char *text, size_t capacity)
{
    size_t size = test_read_bytes(path, text, capacity - 1);
    assert_true(size != SIZE_MAX);
    text[size] = '\0';
    unlink(path);
}

/* Runs ledger-policy with `args` (NULL-terminated, at most 3), its stdout
 * to `stdout_path` (NULL: a file read into run->out; "|": a pipe whose
 * reader has gone) and stderr to a file. */
static void run_tool(const char *const *args, const char *stdout_path, struct tool_run *run)
{
    const char *tool = getenv("LEDGER_POLICY");
    if (tool == NULL || tool[0] == '\0')
        fail_msg("LEDGER_POLICY (the ledger-policy program) is not set; run through ctest");
    char dir[1024], out_path[1100], err_path[1100];
    test_make_dir(dir, sizeof dir, "policy");
    snprintf(out_path, sizeof out_path, "%s/out", dir);
    snprintf(err_path, sizeof err_path, "%s/err", dir);
    const char *argv[5] = {tool};
    for (size_t i = 0; i < 3 && args[i] != NULL; i++)
        argv[i + 1] = args[i];
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        bool reader_gone = stdout_path != NULL && strcmp(stdout_path, "|") == 0;
        int ends[2] = {-1, -1};
        if (reader_gone && (pipe(ends) != 0 || close(ends[0]) != 0))
            _exit(127);
        int out = reader_gone ? ends[1]
                              : open(stdout_path ? stdout_path : out_path,
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (out < 0 || err < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
            _exit(127);
        execv(tool, (char *const *)argv);
        _exit(127);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status))
        fail_msg("ledger-policy was ended by signal %d",
                 WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    run->status = WEXITSTATUS(status);
    run->out[0] = '\0';
    if (stdout_path == NULL)
        read_output(out_path, run->out, sizeof run->out);
    read_output(err_path, run->err, sizeof run->err);
    test_remove_dir(dir);
}

/* ledger-policy prints the table byte for byte, and nothing on stderr;
 * --help and -h print the usage on stdout and exit 0; any other argument
 * is a usage error (the usage on stderr, exit 2, no table); a table that
 * cannot be written whole (a full disk, a pipe whose reader has gone) is
 * exit 1 and said, never exit 0 nor a death by SIGPIPE. */
static void test_policy_tool_command_line(void **state)
{
    (void)state;
    size_t length = policy_table_markdown(NULL, 0);
    char *table = malloc(length + 1);
    assert_non_null(table);
    assert_int_equal(length, policy_table_markdown(table, length + 1));
    struct tool_run run;
    const char *none[] = {NULL};
    run_tool(none, NULL, &run);
    assert_int_equal(run.status, 0);
    assert_string_equal(run.out, table);
    assert_string_equal(run.err, "");
    free(table);

    const char *usage = "usage: ledger-policy\n"
                        "Prints the role table (commands and queries by role, and each role's "
                        "scope)\nas markdown, as docs/security.md quotes it.\n";
    const char *helps[][2] = {{"--help", NULL}, {"-h", NULL}};
    for (size_t i = 0; i < 2; i++) {
        run_tool(helps[i], NULL, &run);
        assert_int_equal(run.status, 0);
        assert_string_equal(run.out, usage);
        assert_string_equal(run.err, "");
    }
    const char *wrong[][3] = {{"--bogus", NULL}, {"--help", "--help", NULL}, {"table", NULL}};
    for (size_t i = 0; i < 3; i++) {
        run_tool(wrong[i], NULL, &run);
        assert_int_equal(run.status, 2);
        assert_string_equal(run.out, "");
        assert_string_equal(run.err, usage);
    }
    const char *unwritable[] = {"/dev/full", "|"};
    for (size_t i = 0; i < 2; i++) {
        run_tool(none, unwritable[i], &run);
        assert_int_equal(run.status, 1);
        assert_string_equal(run.err, "ledger-policy: cannot write the table\n");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policy_commands_match_domain),
        cmocka_unit_test(test_policy_queries_match_domain),
        cmocka_unit_test(test_policy_table_covers_schema),
        cmocka_unit_test(test_policy_invariants),
        cmocka_unit_test(test_policy_scopes),
        cmocka_unit_test(test_policy_access_errors),
        cmocka_unit_test(test_policy_role_names),
        cmocka_unit_test(test_policy_markdown),
        cmocka_unit_test(test_policy_tool_command_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
