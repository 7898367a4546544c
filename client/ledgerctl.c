/*
 * ledgerctl.c: the command line of ledgerd. Everything happens in
 * ctl_main (ctl_verbs.c); this file only connects it to the process.
 */
#include <stdio.h>

#include "ctl_verbs.h"

int main(int argc, char **argv)
{
    return ctl_main(argc, argv, stdout, stderr);
}
