/*
 * ctl_verbs_send.c: how a verb reaches the daemon (see ctl_verbs.h): the
 * client connected on first use, saying what to do when no daemon listens or
 * the key file is no key (ctl_client); one command sent and its result
 * printed or, in capture mode, packed for import instead (ctl_execute); one
 * query asked as the context's principal (ctl_query). A failure leaves its
 * reason in the context's message, in the client's own words when it has
 * some.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl_verbs_internal.h"

/* Whether a Unix socket file has no listener behind it (connect refused):
 * a daemon that was killed leaves its socket file, and a request to it
 * would only time out, attempt after attempt. */
static bool ipc_socket_refused(const char *path)
{
    struct sockaddr_un address;
    if (strlen(path) >= sizeof address.sun_path) {
        return false;
    }
    memset(&address, 0, sizeof address);
    address.sun_family = AF_UNIX;
    memcpy(address.sun_path, path, strlen(path));
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return false;
    }
    bool refused = connect(fd, (const struct sockaddr *)&address, sizeof address) != 0 &&
                   errno == ECONNREFUSED;
    close(fd);
    return refused;
}

enum ledger_err ctl_client(struct ctl_context *context, struct ledger_client **out)
{
    if (context->client == NULL) {
        /* Without a daemon there is nothing to authenticate to: say so
         * before complaining about a key file. */
        const char *url = context->options.request_url;
        const char *path = strncmp(url, "ipc://", 6) == 0 ? url + 6 : NULL;
        struct stat info;
        bool missing = path != NULL && stat(path, &info) != 0;
        if (missing || (path != NULL && ipc_socket_refused(path))) {
            context->connect_failed = true;
            snprintf(context->message, sizeof context->message,
                     missing ? "no daemon socket at %.400s; is ledgerd running? (give --socket, "
                               "or run in the directory holding ledger-data)"
                             : "no daemon listens on %.400s (the socket file is left from a "
                               "daemon that stopped); start ledgerd, or give --socket",
                     path);
            return LEDGER_ERR_UNREACHABLE;
        }
        enum ledger_err err = ledger_connect(&context->options, &context->client);
        if (err != LEDGER_ERR_OK) {
            context->connect_failed = true;
            if (err == LEDGER_ERR_IO_ERROR) {
                /* Unreadable, or read and not a key: say which. A directory
                 * opens, and fails only when read (EISDIR). */
                int fd = open(context->options.key_file, O_RDONLY | O_CLOEXEC);
                char byte = 0;
                if (fd >= 0 && read(fd, &byte, 1) < 0) {
                    int unread = errno;
                    close(fd);
                    fd = -1;
                    errno = unread;
                }
                int reason = errno;
                if (fd >= 0) {
                    close(fd);
                    snprintf(context->message, sizeof context->message,
                             "the key file %s is not a key (64 hex characters and a newline, "
                             "as principal add or ledgerd init wrote it); give the principal's "
                             "key with --key-file or LEDGER_KEY_FILE",
                             context->options.key_file);
                } else {
                    snprintf(context->message, sizeof context->message,
                             "cannot read the key file %s: %s; give the principal's key with "
                             "--key-file or LEDGER_KEY_FILE",
                             context->options.key_file, strerror(reason));
                }
            } else if (err == LEDGER_ERR_INVALID_ARGUMENT) {
                snprintf(context->message, sizeof context->message,
                         "cannot use principal '%s' at %s", context->options.principal_id,
                         context->options.request_url);
            }
            return err;
        }
    }
    *out = context->client;
    return LEDGER_ERR_OK;
}

void ctl__copy_client_message(struct ctl_context *context, enum ledger_err err)
{
    const char *message = ledger_error_message(context->client);
    snprintf(context->message, sizeof context->message, "%s",
             message[0] != '\0' ? message : ledger_strerror(err));
}

/* Capture mode: packs the command, under the capture's derived id when
 * it has one, into the capture (one command a capture). */
static enum ledger_err capture_pack(struct ctl_context *context, const Ledger__V1__Command *command)
{
    struct ctl_capture *capture = context->capture;
    if (capture->packed != NULL) {
        return ctl_fail(context, LEDGER_ERR_INTERNAL, "this verb sends more than one command");
    }
    Ledger__V1__Command copy = *command;
    if (capture->derived_id != NULL) {
        copy.command_id = (char *)(uintptr_t)capture->derived_id;
    }
    size_t size = ledger__v1__command__get_packed_size(&copy);
    capture->packed = malloc(size > 0 ? size : 1);
    if (capture->packed == NULL) {
        return ctl_fail(context, LEDGER_ERR_NO_MEMORY, "out of memory");
    }
    capture->packed_size = ledger__v1__command__pack(&copy, capture->packed);
    return LEDGER_ERR_OK;
}

enum ledger_err ctl_execute(struct ctl_context *context, const Ledger__V1__Command *command,
                            const char *command_id, bool print, Ledger__V1__Reply **reply_out)
{
    if (context->capture != NULL) {
        return capture_pack(context, command);
    }
    struct ledger_client *client = NULL;
    enum ledger_err err = ctl_client(context, &client);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    const Ledger__V1__Command *commands[1] = {command};
    const char *ids[1] = {command_id};
    Ledger__V1__Reply *reply = NULL;
    err = ledger_execute(client, commands, 1, &reply);
    if (err != LEDGER_ERR_OK) {
        ctl__copy_client_message(context, err);
        if (err == LEDGER_ERR_TIMEOUT || err == LEDGER_ERR_PROTOCOL_ERROR) {
            /* The request went out and may have been committed (no reply,
             * or one that does not answer it): run again under a fresh id
             * (the default), it could be done twice. The reason is cut so
             * that the id is never cut. */
            char why[sizeof context->message];
            memcpy(why, context->message, sizeof why);
            snprintf(context->message, sizeof context->message,
                     "%.240s; the command may have been committed: run it again with "
                     "--command-id %.64s to finish it safely (if it was committed, that is "
                     "answered as a duplicate, never done twice)",
                     why, command_id);
        } else if (err == LEDGER_ERR_NO_MEMORY) {
            /* The daemon ran out of memory before the commit (nothing was
             * written) or after it, building the reply (its message says
             * so): either way the same id is what is safe to run again. */
            char why[sizeof context->message];
            memcpy(why, context->message, sizeof why);
            snprintf(context->message, sizeof context->message,
                     "%.240s; run it again with --command-id %.64s (if it was committed, that "
                     "is answered as a duplicate, never done twice)",
                     why, command_id);
        }
        return err;
    }
    snprintf(context->committed_command_id, sizeof context->committed_command_id, "%s", command_id);
    context->committed_sequence = reply->n_results > 0 ? reply->results[0]->last_sequence : 0;
    if (print) {
        err = ctl_output_write_result(context->out, context->format, ids, reply, NULL, 0);
    }
    if (reply_out != NULL && err == LEDGER_ERR_OK) {
        *reply_out = reply;
    } else {
        ledger_reply_free(reply);
    }
    return err;
}

static enum ledger_err run_query(struct ctl_context *context, Ledger__V1__Query *query,
                                 Ledger__V1__QueryResult **result_out)
{
    struct ledger_client *client = NULL;
    enum ledger_err err = ctl_client(context, &client);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    query->partner_id = (char *)(uintptr_t)(context->partner_id != NULL ? context->partner_id : "");
    err = ledger_query(client, query, result_out);
    if (err != LEDGER_ERR_OK) {
        ctl__copy_client_message(context, err);
    }
    return err;
}

enum ledger_err ctl_query(struct ctl_context *context, Ledger__V1__Query *query,
                          Ledger__V1__QueryResult **out)
{
    return run_query(context, query, out);
}
