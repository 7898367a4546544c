/*
 * ledgerctl.c: the command line of ledgerd. Everything happens in
 * ctl_main (ctl_verbs.c); this file only connects it to the process:
 * its streams, and libledger's notices (a follower that lost the daemon
 * and found it again), which go to stderr as "ledgerctl: ..." lines.
 * SIGPIPE is ignored: output into a pipe whose reader has gone
 * (`ledgerctl activity | head -1`) is then a write failing with EPIPE,
 * which ledgerctl reports as IO_ERROR with exit status 1 (docs/cli.md),
 * not a death by signal.
 */
#include <signal.h>
#include <stdio.h>

#include "ctl_verbs.h"

static void notice_line(void *context, const char *message)
{
    fprintf(context, "ledgerctl: %s\n", message);
    fflush(context);
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    ledger_notice_set(notice_line, stderr);
    return ctl_main(argc, argv, stdout, stderr);
}
