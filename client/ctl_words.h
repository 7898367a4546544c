/*
 * ctl_words.h: one line of an import file split into words as sh splits
 * simple words (docs/cli.md, import).
 *
 * Owns: the splitting rules: blanks (space, tab) separate words; '...'
 * keeps everything literally; "..." keeps everything but \" \\ \$ and \`,
 * which stand for the character after the backslash; outside quotes a
 * backslash keeps the next character; a word beginning with an unquoted #
 * begins a comment that runs to the end of the line. Nothing is expanded:
 * the characters a shell would expand or treat as operators outside quotes
 * ($ ` | & ; < > ( )) are refused there, so that a line means what it
 * would mean typed after `ledgerctl` in a shell, or nothing.
 * Does not own: reading lines or what the words mean (ctl_import).
 */
#ifndef CTL_WORDS_H
#define CTL_WORDS_H

#include <stddef.h>

#include "ctl_amount.h"
#include "error.h"

/* Splits `line` (NUL-terminated, without its line end) into at most `max`
 * words. storage: strlen(line) + 1 bytes that receive the words, each
 * NUL-terminated; words[i] point into it. *count: the words found (0 for a
 * blank line or a comment). USAGE with a sentence in message for an
 * unbalanced quote, a line that ends in a backslash, an unquoted shell
 * character, or more than max words. */
__attribute__((warn_unused_result)) enum ledger_err ctl_words_split(const char *line, char *storage,
                                                                    char **words, size_t max,
                                                                    size_t *count,
                                                                    char message[CTL_MESSAGE_SIZE]);

#endif
