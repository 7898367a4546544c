/*
 * tool_daemon.h: a ledgerd child process on a scratch data directory, for the
 * measuring tools (ledger-bench, ledger-soak): finding the binary, spawning it
 * with its output in a log file, `ledgerd init` then serving until it answers,
 * and stopping it with SIGTERM (SIGKILL past a deadline); clients for it, and
 * the secrets of the principals they add.
 *
 * Failures come back as values (a sentence, or a status), never as exits: each
 * tool reports them in its own voice and cleans up its own way.
 */
#ifndef LEDGER_TOOL_DAEMON_H
#define LEDGER_TOOL_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ledger.h"

#define TOOL_PATH_SIZE 4096
/* The operator principal `ledgerd init` creates, and its key file's name. */
#define TOOL_OPERATOR_ID "operator"

struct tool_daemon {
    char root[TOOL_PATH_SIZE];            /* the scratch directory (the caller's) */
    char data[TOOL_PATH_SIZE + 8];        /* root/data: the data directory */
    char url[TOOL_PATH_SIZE + 32];        /* ipc://root/data/ledger.sock */
    char events_url[TOOL_PATH_SIZE + 32]; /* ipc://root/data/events.sock */
    char key_file[TOOL_PATH_SIZE + 32];   /* root/data/operator.key */
    char log_path[TOOL_PATH_SIZE + 32];   /* root/ledgerd.log: every child's output */
    pid_t pid;                            /* the serving daemon; 0 when none */
};

/* The ledgerd to run: `option` when not NULL, else $LEDGERD, else
 * ../daemon/ledgerd beside argv0 in a build tree, else "ledgerd" on the PATH.
 * The result may point into static storage. */
const char *tool_ledgerd_path(const char *argv0, const char *option);
/* A program of the build tree beside argv0 (its directory/NAME) when there is
 * one, else NAME, for the PATH. */
void tool_program_path(const char *argv0, const char *name, char *out, size_t size);

/* Sets d's paths below root (an existing directory); no process yet. */
void tool_daemon_paths(struct tool_daemon *d, const char *root);
/* Starts argv (NULL-terminated; argv[0] found on the PATH if it has no slash)
 * with stdout and stderr appended to d->log_path. When $LEDGERD_WRAPPER is set
 * (for example "valgrind -q"), its words go in front. Returns 0 with *pid_out
 * set, or the errno value of the failure. */
int tool_spawn(const struct tool_daemon *d, const char *const argv[], pid_t *pid_out);
/* Runs argv to completion as tool_spawn does: its exit status, or -1 when it
 * could not start or a signal ended it. */
int tool_run(const struct tool_daemon *d, const char *const argv[]);

/* `ledgerd init --data d->data`, then `ledgerd --data d->data --log-level warn`
 * followed by extra_args (NULL-terminated, may be NULL), and waits up to
 * wait_ms for it to answer a query as the operator. NULL when it serves (d->pid
 * set); else a sentence saying what failed (static storage), with no daemon
 * left running. Not thread-safe (the sentence may be in static storage). */
const char *tool_daemon_start(struct tool_daemon *d, const char *ledgerd,
                              const char *const *extra_args, unsigned wait_ms);
/* SIGTERM, then SIGKILL if it has not exited within wait_ms. Its exit
 * status; -1 when a signal ended it; -2 when it had to be killed; 0 when no
 * daemon was running. */
int tool_daemon_stop(struct tool_daemon *d, unsigned wait_ms);

/* Client options for the daemon as principal_id: with `secret` (32 bytes)
 * when not NULL, else the operator's key file. */
void tool_client_options(const struct tool_daemon *d, const char *principal_id,
                         const uint8_t *secret, unsigned timeout_ms,
                         struct ledger_options *options);
/* A head query; on success *head_out is the newest committed sequence. */
enum ledger_err tool_head_query(struct ledger_client *client, uint64_t *head_out);
/* The secret an AddPrincipal's result carries (secret_hex, 64 hex digits) as
 * bytes into `out`; false, with `out` untouched, when `secret_hex` is NULL or
 * not 64 hex digits. */
bool tool_secret_from_hex(const char *secret_hex, uint8_t out[LEDGER_CLIENT_SECRET_BYTES]);

#endif
