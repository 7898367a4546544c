/*
 * ctl_words.c: sh's splitting of simple words, without expansions (see
 * ctl_words.h). wordexp(3) is not used: it expands variables, globs and
 * tildes, and only WRDE_NOCMD keeps it from running commands.
 */
#include "ctl_words.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Characters sh would expand, or read as an operator, outside quotes. */
static bool shell_special(char c)
{
    return c != '\0' && strchr("$`|&;<>()", c) != NULL;
}

static bool blank(char c)
{
    return c == ' ' || c == '\t';
}

enum ledger_err ctl_words_split(const char *line, char *storage, char **words, size_t max,
                                size_t *count, char message[CTL_MESSAGE_SIZE])
{
    const char *in = line;
    char *out = storage;
    size_t found = 0;
    *count = 0;
    for (;;) {
        while (blank(*in)) {
            in++;
        }
        if (*in == '\0' || *in == '#') {
            break; /* the end, or a comment to the end of the line */
        }
        if (found == max) {
            snprintf(message, CTL_MESSAGE_SIZE, "more than %zu words", max);
            return LEDGER_ERR_USAGE;
        }
        words[found++] = out;
        while (*in != '\0' && !blank(*in)) {
            char c = *in++;
            if (c == '\'') {
                const char *end = strchr(in, '\'');
                if (end == NULL) {
                    snprintf(message, CTL_MESSAGE_SIZE,
                             "a single quote at column %zu is never closed: close it, or write "
                             "\\' for a quote itself",
                             (size_t)(in - line));
                    return LEDGER_ERR_USAGE;
                }
                memcpy(out, in, (size_t)(end - in));
                out += end - in;
                in = end + 1;
            } else if (c == '"') {
                size_t column = (size_t)(in - line);
                while (*in != '"') {
                    if (*in == '\0') {
                        snprintf(message, CTL_MESSAGE_SIZE,
                                 "a double quote at column %zu is never closed: close it, or "
                                 "write \\\" for a quote itself",
                                 column);
                        return LEDGER_ERR_USAGE;
                    }
                    if (*in == '\\' && in[1] != '\0' && strchr("\"\\$`", in[1]) != NULL) {
                        in++;
                    }
                    *out++ = *in++;
                }
                in++;
            } else if (c == '\\') {
                if (*in == '\0') {
                    snprintf(message, CTL_MESSAGE_SIZE,
                             "the line ends in a backslash: a command is one line (no "
                             "continuation lines); write \\\\ for a backslash itself");
                    return LEDGER_ERR_USAGE;
                }
                *out++ = *in++;
            } else if (shell_special(c)) {
                snprintf(message, CTL_MESSAGE_SIZE,
                         "'%c' at column %zu is unquoted: a shell would expand it or read it as "
                         "an operator, and import expands nothing; quote it ('%c') if it is "
                         "part of a value",
                         c, (size_t)(in - line), c);
                return LEDGER_ERR_USAGE;
            } else {
                *out++ = c;
            }
        }
        *out++ = '\0';
    }
    *count = found;
    return LEDGER_ERR_OK;
}
