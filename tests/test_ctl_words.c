/*
 * test_ctl_words.c: the splitting of an import line into words.
 * Goal: words split as sh splits simple words: blanks separate, '...' keeps
 * everything, "..." keeps everything but \" \\ \$ \`, a backslash outside
 * quotes keeps the next character, adjacent pieces make one word, '' is an
 * empty word, a word beginning with # begins a comment; nothing is expanded,
 * and the characters a shell would expand or read as operators are refused
 * outside quotes, as are an unbalanced quote, a trailing backslash and too
 * many words, each with a sentence saying what to do.
 * Method: split fixed lines and compare the words with the expected ones.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ctl_words.h"

#define WORDS_MAX 8

/* Splits line and checks it gave exactly the expected words (NULL-ended). */
static void expect_words(const char *line, ...)
{
    char storage[256];
    char *words[WORDS_MAX];
    char message[CTL_MESSAGE_SIZE] = "";
    size_t count = 99;
    assert_true(strlen(line) < sizeof storage);
    if (ctl_words_split(line, storage, words, WORDS_MAX, &count, message) != LEDGER_ERR_OK) {
        fail_msg("'%s' did not split: %s", line, message);
    }
    va_list args;
    va_start(args, line);
    size_t i = 0;
    for (const char *word = va_arg(args, const char *); word != NULL;
         word = va_arg(args, const char *), i++) {
        if (i >= count) {
            fail_msg("'%s': %zu words, expected more ('%s')", line, count, word);
        }
        assert_string_equal(word, words[i]);
    }
    va_end(args);
    assert_int_equal(i, count);
}

static void expect_refused(const char *line, const char *part)
{
    char storage[256];
    char *words[WORDS_MAX];
    char message[CTL_MESSAGE_SIZE] = "";
    size_t count = 0;
    assert_int_equal(LEDGER_ERR_USAGE,
                     ctl_words_split(line, storage, words, WORDS_MAX, &count, message));
    if (strstr(message, part) == NULL) {
        fail_msg("'%s': message '%s' does not say '%s'", line, message, part);
    }
}

static void test_words_plain(void **state)
{
    (void)state;
    expect_words("", NULL);
    expect_words("   \t ", NULL);
    expect_words("customer add --customer c1", "customer", "add", "--customer", "c1", NULL);
    expect_words("  a\t\tb  ", "a", "b", NULL);
    expect_words("--price=12.50 --name=x", "--price=12.50", "--name=x", NULL);
    /* Globs, tildes and = are plain characters: nothing is expanded. */
    expect_words("a* ~b c?[d]", "a*", "~b", "c?[d]", NULL);
}

static void test_words_quotes(void **state)
{
    (void)state;
    expect_words("--name 'Fabrikam Ltd'", "--name", "Fabrikam Ltd", NULL);
    expect_words("--name \"Fabrikam Ltd\"", "--name", "Fabrikam Ltd", NULL);
    expect_words("'a \"b\" \\c'", "a \"b\" \\c", NULL);
    expect_words("\"say \\\"hi\\\" \\\\ \\$x \\` \\n\"", "say \"hi\" \\ $x ` \\n", NULL);
    expect_words("\"$(rm -rf /)\" '`id`'", "$(rm -rf /)", "`id`", NULL);
    expect_words("a'b c'\"d\"e", "ab cde", NULL);
    expect_words("'' \"\" x", "", "", "x", NULL);
    expect_words("O\\'Brien a\\ b \\#c", "O'Brien", "a b", "#c", NULL);
}

static void test_words_comments(void **state)
{
    (void)state;
    expect_words("# a comment", NULL);
    expect_words("   # indented", NULL);
    expect_words("a b # the rest", "a", "b", NULL);
    expect_words("a#b '#c'", "a#b", "#c", NULL);
}

static void test_words_refused(void **state)
{
    (void)state;
    expect_refused("--name 'Fabrikam", "single quote at column 8 is never closed");
    expect_refused("--name \"Fabrikam", "double quote at column 8 is never closed");
    expect_refused("--name \"a\\\"", "never closed");
    expect_refused("a b \\", "ends in a backslash");
    expect_refused("--name $HOME", "'$' at column 8 is unquoted");
    expect_refused("--name `id`", "'`'");
    expect_refused("a; b", "';'");
    expect_refused("a | b", "'|'");
    expect_refused("a > b", "'>'");
    expect_refused("a && b", "'&'");
    expect_refused("(a)", "'('");
    expect_refused("1 2 3 4 5 6 7 8 9", "more than 8 words");
    expect_words("1 2 3 4 5 6 7 8", "1", "2", "3", "4", "5", "6", "7", "8", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_words_plain),
        cmocka_unit_test(test_words_quotes),
        cmocka_unit_test(test_words_comments),
        cmocka_unit_test(test_words_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
