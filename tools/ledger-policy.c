/*
 * ledger-policy: prints the role table of daemon/policy.c as markdown: which
 * role may use which command and query, with which refusal, and the scope of
 * data each role may touch.
 *
 * The table is data in the daemon (policy_table_markdown); this prints it
 * byte for byte, so that docs/security.md can quote it and a test can check
 * that the quote is still exact.
 *
 * Exit status: 0 printed; 1 out of memory or the output could not be
 * written; 2 usage error.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: ledger-policy\n"
                 "Prints the role table (commands and queries by role, and each role's scope)\n"
                 "as markdown, as docs/security.md quotes it.\n");
}

int main(int argc, char **argv)
{
    /* A table written into a pipe whose reader has gone (`ledger-policy |
     * head -1`) is a write failing with EPIPE, reported below (exit 1), not
     * a death by signal. */
    signal(SIGPIPE, SIG_IGN);
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc != 1) {
        usage(stderr);
        return 2;
    }
    size_t length = policy_table_markdown(NULL, 0);
    char *text = malloc(length + 1);
    if (text == NULL) {
        fprintf(stderr, "ledger-policy: out of memory\n");
        return 1;
    }
    if (policy_table_markdown(text, length + 1) != length) {
        fprintf(stderr, "ledger-policy: the table changed while it was printed\n");
        free(text);
        return 1;
    }
    int status = 0;
    if (fwrite(text, 1, length, stdout) != length || fflush(stdout) != 0) {
        fprintf(stderr, "ledger-policy: cannot write the table\n");
        status = 1;
    }
    free(text);
    return status;
}
