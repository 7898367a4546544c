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
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <unistd.h>

#include "ctl_verbs.h"

static void notice_line(void *context, const char *message)
{
    fprintf(context, "ledgerctl: %s\n", message);
    fflush(context);
}

/* Opens /dev/null on whichever of the standard descriptors 0, 1 and 2 is
 * closed (`>&-`, `2>&-`, `<&-`), the wrong way round: for writing on 0, for
 * reading on 1 and 2. Left closed, their numbers would go to the first
 * descriptors opened (nanomsg's, a key file, a checkpoint), and the output
 * or the error line would be written into those; taken this way, reading
 * stdin and writing stdout or stderr still fail with EBADF, as they do on
 * a closed descriptor, and are reported so. False when one cannot be
 * opened. */
static bool standard_descriptors_taken(void)
{
    for (int fd = STDIN_FILENO; fd <= STDERR_FILENO; fd++) {
        if (fcntl(fd, F_GETFD) != -1 || errno != EBADF) {
            continue;
        }
        /* open returns the lowest free descriptor: this one. */
        int opened = open("/dev/null", (fd == STDIN_FILENO ? O_WRONLY : O_RDONLY) | O_NOCTTY);
        if (opened != fd) {
            if (opened >= 0) {
                close(opened);
            }
            return false;
        }
    }
    return true;
}

int main(int argc, char **argv)
{
    if (!standard_descriptors_taken()) {
        return 1; /* nowhere to say why: stderr is closed */
    }
    signal(SIGPIPE, SIG_IGN);
    ledger_notice_set(notice_line, stderr);
    return ctl_main(argc, argv, stdout, stderr);
}
