/*
 * ledger_internal.h: what libledger shares with ledgerctl beyond its public
 * API (ledger.h). Not installed; not part of the stable API.
 */
#ifndef LEDGER_CLIENT_INTERNAL_H
#define LEDGER_CLIENT_INTERNAL_H

#include "ledger.h"

/* Makes a file's rename or creation durable: fsyncs the directory that holds
 * `path` ("." for a name without a slash). path: borrowed. IO_ERROR when the
 * directory cannot be opened or synced, NO_MEMORY; errno says why. What
 * ledger_checkpoint_write and ledgerctl's head --save do after their
 * rename. */
__attribute__((warn_unused_result)) enum ledger_err ledger__directory_sync(const char *path);

/* Writes all `size` bytes of data to fd, again after a short write (a
 * write that stops short says why only when tried again: a full disk's
 * ENOSPC, a file size limit's EFBIG). data: borrowed. IO_ERROR with errno
 * saying why (EIO for a write that wrote nothing and said nothing). What
 * ledger_checkpoint_write and ledgerctl's key files and saved heads write
 * with. */
__attribute__((warn_unused_result)) enum ledger_err ledger__write_all(int fd, const void *data,
                                                                      size_t size);

#endif
