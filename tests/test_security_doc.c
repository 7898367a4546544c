/*
 * test_security_doc.c: docs/security.md quotes the role table exactly as the
 * code has it, so the documentation cannot drift from the policy.
 *
 * Method: the text between the markers `<!-- policy-table:begin -->` and
 * `<!-- policy-table:end -->` of docs/security.md (found through
 * $LEDGER_SOURCE_DIR, set by ctest) must equal, byte for byte, the output of
 * the ledger-policy tool ($LEDGER_POLICY, run through popen) and
 * policy_table_markdown(), which the tool prints. The extraction itself is
 * tested on documents with missing, repeated and misordered markers and on a
 * changed cell, so that a broken check cannot pass silently.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "policy.h"

#define BEGIN_MARKER "<!-- policy-table:begin -->\n"
#define END_MARKER   "<!-- policy-table:end -->"
/* Bound on what is read: the document and the tool's output are a few KiB. */
#define TEXT_BYTES_MAX (1024 * 1024)

/* Reads a whole stream into a NUL-terminated buffer (the caller frees it). */
static char *read_stream(FILE *file)
{
    size_t capacity = 4096, length = 0;
    char *text = malloc(capacity);
    assert_non_null(text);
    for (;;) {
        if (length + 1 == capacity) {
            assert_true(capacity < TEXT_BYTES_MAX);
            capacity *= 2;
            text = realloc(text, capacity);
            assert_non_null(text);
        }
        size_t got = fread(text + length, 1, capacity - length - 1, file);
        length += got;
        if (got == 0)
            break;
    }
    assert_false(ferror(file));
    text[length] = '\0';
    return text;
}

/* The quoted table of a document: the bytes after the begin marker's line up
 * to the end marker. NULL unless each marker appears exactly once, begin
 * before end, each at the start of a line. */
static char *quoted_table(const char *document)
{
    const char *begin = strstr(document, BEGIN_MARKER);
    if (begin == NULL || strstr(begin + 1, BEGIN_MARKER) != NULL)
        return NULL;
    if (begin != document && begin[-1] != '\n')
        return NULL;
    const char *end = strstr(document, END_MARKER);
    if (end == NULL || strstr(end + 1, END_MARKER) != NULL || end < begin)
        return NULL;
    if (end[-1] != '\n')
        return NULL;
    const char *start = begin + strlen(BEGIN_MARKER);
    if (end < start)
        return NULL;
    size_t length = (size_t)(end - start);
    char *table = malloc(length + 1);
    assert_non_null(table);
    memcpy(table, start, length);
    table[length] = '\0';
    return table;
}

static char *policy_text(void)
{
    size_t length = policy_table_markdown(NULL, 0);
    char *text = malloc(length + 1);
    assert_non_null(text);
    assert_int_equal(policy_table_markdown(text, length + 1), length);
    assert_int_equal(strlen(text), length);
    return text;
}

static char *security_doc(void)
{
    const char *source = getenv("LEDGER_SOURCE_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/docs/security.md", source && source[0] ? source : "..");
    FILE *file = fopen(path, "r");
    if (file == NULL)
        fail_msg("cannot open %s", path);
    char *text = read_stream(file);
    fclose(file);
    return text;
}

/* Prints the first line where two texts part, to say what to fix. */
static void explain_difference(const char *want, const char *got)
{
    unsigned line = 1;
    size_t i = 0;
    while (want[i] != '\0' && want[i] == got[i]) {
        if (want[i] == '\n')
            line++;
        i++;
    }
    fprintf(stderr,
            "docs/security.md differs from ledger-policy at line %u of the table; run "
            "ledger-policy and paste its output between the markers\n",
            line);
}

static void test_security_doc_quotes_the_table(void **state)
{
    (void)state;
    char *document = security_doc();
    char *quoted = quoted_table(document);
    if (quoted == NULL)
        fail_msg("docs/security.md must hold each policy-table marker once, begin before end");
    char *table = policy_text();
    if (strcmp(quoted, table) != 0)
        explain_difference(table, quoted);
    assert_string_equal(quoted, table);
    free(table);
    free(quoted);
    free(document);
}

static void test_security_doc_tool_prints_the_table(void **state)
{
    (void)state;
    const char *tool = getenv("LEDGER_POLICY");
    if (tool == NULL || tool[0] == '\0')
        fail_msg("LEDGER_POLICY (the ledger-policy program) is not set; run through ctest");
    char command[4200];
    snprintf(command, sizeof command, "'%s'", tool);
    FILE *pipe = popen(command, "r");
    assert_non_null(pipe);
    char *output = read_stream(pipe);
    assert_int_equal(pclose(pipe), 0);
    char *table = policy_text();
    assert_string_equal(output, table);
    char *document = security_doc();
    char *quoted = quoted_table(document);
    assert_non_null(quoted);
    assert_string_equal(quoted, output);
    free(quoted);
    free(document);
    free(table);
    free(output);
}

static void test_security_doc_tool_refuses_arguments(void **state)
{
    (void)state;
    const char *tool = getenv("LEDGER_POLICY");
    if (tool == NULL || tool[0] == '\0')
        fail_msg("LEDGER_POLICY (the ledger-policy program) is not set; run through ctest");
    char command[4200];
    snprintf(command, sizeof command, "'%s' --bogus 2>/dev/null", tool);
    FILE *pipe = popen(command, "r");
    assert_non_null(pipe);
    char *output = read_stream(pipe);
    int status = pclose(pipe);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 2);
    assert_string_equal(output, "");
    free(output);
}

/* The check itself: what it accepts and what it refuses. */
static void test_security_doc_extraction_is_strict(void **state)
{
    (void)state;
    char *table = quoted_table("intro\n" BEGIN_MARKER "| a |\n" END_MARKER "\nafter\n");
    assert_non_null(table);
    assert_string_equal(table, "| a |\n");
    free(table);
    table = quoted_table(BEGIN_MARKER END_MARKER "\n");
    assert_non_null(table);
    assert_string_equal(table, "");
    free(table);

    assert_null(quoted_table(""));
    assert_null(quoted_table("no markers at all\n"));
    assert_null(quoted_table(BEGIN_MARKER "| a |\n"));                         /* no end */
    assert_null(quoted_table("| a |\n" END_MARKER "\n"));                      /* no begin */
    assert_null(quoted_table(END_MARKER "\n" BEGIN_MARKER "| a |\n"));         /* misordered */
    assert_null(quoted_table(BEGIN_MARKER BEGIN_MARKER "| a |\n" END_MARKER)); /* twice */
    assert_null(quoted_table(BEGIN_MARKER "| a |\n" END_MARKER "\n" END_MARKER));
    assert_null(quoted_table(BEGIN_MARKER "| a |" END_MARKER "\n"));  /* end inside a line */
    assert_null(quoted_table("x" BEGIN_MARKER "| a |\n" END_MARKER)); /* begin inside a line */

    /* One changed cell of the real table is a difference. */
    char *real = policy_text();
    char *cell = strstr(real, "| yes |");
    assert_non_null(cell);
    size_t size = strlen(BEGIN_MARKER) + strlen(real) + strlen(END_MARKER) + 2;
    char *document = malloc(size);
    assert_non_null(document);
    snprintf(document, size, "%s%s%s\n", BEGIN_MARKER, real, END_MARKER);
    char *quoted = quoted_table(document);
    assert_non_null(quoted);
    assert_string_equal(quoted, real);
    free(quoted);
    char *doc_cell = strstr(document, "| yes |");
    assert_non_null(doc_cell);
    memcpy(doc_cell, "| -   |", 7);
    quoted = quoted_table(document);
    assert_non_null(quoted);
    assert_string_not_equal(quoted, real);
    free(quoted);
    free(document);
    free(real);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_security_doc_extraction_is_strict),
        cmocka_unit_test(test_security_doc_quotes_the_table),
        cmocka_unit_test(test_security_doc_tool_prints_the_table),
        cmocka_unit_test(test_security_doc_tool_refuses_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
