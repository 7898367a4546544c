/*
 * ctl_verbs_principals.c: the operator's principal verbs: principal add,
 * list, revoke and rotate. add and rotate receive the principal's secret,
 * which the daemon sends once: it goes into a new key file of mode 0600, made
 * before the command is sent, and is never printed (send_for_secret).
 * ctl_write_key_file writes the demo's key files the same way.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ctl_verbs_internal.h"
#include "ledger_internal.h"

/* Creates a key file to be filled later: new (never replacing one), mode
 * 0600, empty. fd_out: its descriptor, written on OK. USAGE when the file
 * exists, IO_ERROR when it cannot be created; the context's message says
 * which. */
static enum ledger_err key_file_create(struct ctl_context *context, const char *path, int *fd_out)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST) {
        return ctl__usage(context, "key-out",
                          "the file exists already; a key file is never replaced");
    }
    if (fd < 0) {
        return ctl_fail(context, LEDGER_ERR_IO_ERROR, "cannot create the key file %s: %s", path,
                        strerror(errno));
    }
    *fd_out = fd;
    return LEDGER_ERR_OK;
}

/* Writes the secret (hex) and a newline into a key file made by
 * key_file_create, makes it durable and closes fd (whatever happens).
 * IO_ERROR with the context's message saying why. */
static enum ledger_err key_file_fill(struct ctl_context *context, const char *path, int fd,
                                     const char *secret_hex)
{
    size_t length = strlen(secret_hex);
    bool ok = ledger__write_all(fd, secret_hex, length) == LEDGER_ERR_OK &&
              ledger__write_all(fd, "\n", 1) == LEDGER_ERR_OK && fsync(fd) == 0;
    int reason = errno;
    if (close(fd) != 0 && ok) {
        ok = false;
        reason = errno;
    }
    if (!ok) {
        return ctl_fail(context, LEDGER_ERR_IO_ERROR, "cannot write the key file %s: %s", path,
                        strerror(reason));
    }
    return LEDGER_ERR_OK;
}

enum ledger_err ctl_write_key_file(struct ctl_context *context, const char *path,
                                   const char *secret_hex)
{
    int fd = -1;
    enum ledger_err err = key_file_create(context, path, &fd);
    if (err == LEDGER_ERR_USAGE) {
        /* The demo's key directory holds an older key: a local failure. */
        return ctl_fail(context, LEDGER_ERR_IO_ERROR, "cannot create the key file %s: %s", path,
                        strerror(EEXIST));
    }
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    err = key_file_fill(context, path, fd, secret_hex);
    if (err != LEDGER_ERR_OK) {
        unlink(path); /* a part of a secret is no key */
    }
    return err;
}

/* The start of a write whose answer carries a secret: its --key-out, which
 * must name a file, into key_out, then ctl__write_begin. USAGE, or ctl__write_begin's
 * errors. */
static enum ledger_err secret_write_begin(struct ctl_context *context, const struct ctl_args *args,
                                          const char **key_out, struct write *write)
{
    *key_out = ctl_arg(args, "key-out");
    if ((*key_out)[0] == '\0') {
        return ctl__usage(context, "key-out", "give the new key file's name");
    }
    return ctl__write_begin(context, args, write);
}

/* The words send_for_secret uses for its command when no secret came (a
 * retry) and when it came but could not be kept: "<subject><id><done> by an
 * earlier identical command; <secret> is sent only once (<retry> if the key
 * file was lost)" and "<subject><id><done>, but <secret>, which is sent only
 * once, is lost: <why>; <remedy><id><remedy_end>". */
struct secret_words {
    const char *subject;
    const char *done;
    const char *secret;
    const char *retry;
    const char *remedy;
    const char *remedy_end;
};

/* Sends a command whose first answer carries a principal's new secret
 * (AddPrincipal, RotatePrincipalSecret) and writes that secret into the new
 * key file key_out, mode 0600, never printing it. The secret is sent once:
 * the file is made before the command is sent, so that a place where it
 * cannot be made is found while nothing is committed, and removed when the
 * command is refused or answered without a secret (a retry, duplicate).
 * Errors: those of ctl_execute, USAGE (the file exists), IO_ERROR (it
 * cannot be made or written, or no secret came). */
static enum ledger_err send_for_secret(struct ctl_context *context, struct write *write,
                                       const char *id, const char *key_out,
                                       const struct secret_words *words)
{
    int key_fd = -1;
    enum ledger_err err = key_file_create(context, key_out, &key_fd);
    if (err != LEDGER_ERR_OK) {
        if (err == LEDGER_ERR_IO_ERROR) {
            size_t used = strlen(context->message);
            snprintf(context->message + used, sizeof context->message - used, "; nothing was sent");
        }
        return err;
    }
    const char *ids[1] = {write->command_id};
    Ledger__V1__Reply *reply = NULL;
    err = ctl_execute(context, &write->command, write->command_id, false, &reply);
    const char *secret = err == LEDGER_ERR_OK ? reply->results[0]->secret_hex : NULL;
    if (err == LEDGER_ERR_OK && (secret == NULL || strlen(secret) != 2 * LEDGER_SECRET_BYTES)) {
        snprintf(context->message, sizeof context->message,
                 "%s%.64s%s by an earlier identical command; %s is sent only once (%s if the key "
                 "file was lost)",
                 words->subject, id, words->done, words->secret, words->retry);
        err = LEDGER_ERR_IO_ERROR;
    }
    if (err != LEDGER_ERR_OK) {
        /* Refused, unanswered or answered without a secret: the empty file
         * keeps nothing. */
        close(key_fd);
        unlink(key_out);
        ledger_reply_free(reply);
        return err;
    }
    err = key_file_fill(context, key_out, key_fd, secret);
    if (err != LEDGER_ERR_OK) {
        /* A part of a secret is no key: remove it, and say that the
         * command was committed all the same, with a secret nobody has. */
        unlink(key_out);
        char why[sizeof context->message];
        memcpy(why, context->message, sizeof why);
        snprintf(context->message, sizeof context->message,
                 "%s%.64s%s, but %s, which is sent only once, is lost: %.200s; %s%.64s%s",
                 words->subject, id, words->done, words->secret, why, words->remedy, id,
                 words->remedy_end);
    } else {
        struct ctl_extra extras[2] = {{"principal_id", id, 0, false},
                                      {"key_file", key_out, 0, false}};
        err = ctl_output_write_result(context->out, context->format, ids, reply, extras, 2);
    }
    ledger_reply_free(reply); /* wipes the secret */
    return err;
}

/* The option of the verbs that receive a principal's secret. */
#define KEY_OUT_OPTION                                                                             \
    {                                                                                              \
        "key-out", CTL_OPTION_VALUE, "FILE",                                                       \
            "write the new secret here (hex, mode 0600; must not exist); it is never printed",     \
            true                                                                                   \
    }

const struct ctl_option ctl__principal_add_options[] = {
    {"id", CTL_OPTION_VALUE, "ID", "the new principal's id", true},
    {"role", CTL_OPTION_VALUE, "ROLE",
     "admin-agent|sales-agent|helpdesk-agent|customer-user|auditor|billing|operator", true},
    {"partner", CTL_OPTION_VALUE, "P",
     "the partner it belongs to (partner staff and customer users; auditors and billing may "
     "omit it to see every partner)",
     false},
    {"customer", CTL_OPTION_VALUE, "C", "customer users: their customer", false},
    {"user", CTL_OPTION_VALUE, "U", "customer users: their user name in the customer's tenant",
     false},
    KEY_OUT_OPTION,
    OPT_END,
};

/* What each role binds a principal to, as the ledger checks it: partner
 * staff and customer users belong to a partner, an operator to none; a
 * customer user is one user of one customer, and only it names them. */
static enum ledger_err principal_role_args(struct ctl_context *context, Ledger__V1__Role role,
                                           const char *partner, const char *customer,
                                           const char *user)
{
    char role_name[64];
    ctl_enum_name(&ledger__v1__role__descriptor, (int)role, role_name, sizeof role_name);
    char why[CTL_MESSAGE_SIZE];
    snprintf(why, sizeof why, "required for a %s", role_name);
    bool customer_user = role == LEDGER__V1__ROLE__ROLE_CUSTOMER_USER;
    bool partner_staff = role == LEDGER__V1__ROLE__ROLE_ADMIN_AGENT ||
                         role == LEDGER__V1__ROLE__ROLE_SALES_AGENT ||
                         role == LEDGER__V1__ROLE__ROLE_HELPDESK_AGENT;
    if ((customer_user || partner_staff) && partner == NULL) {
        return ctl__usage(context, "partner", why);
    }
    if (role == LEDGER__V1__ROLE__ROLE_OPERATOR && partner != NULL) {
        return ctl__usage(context, "partner", "an operator belongs to no partner");
    }
    if (customer_user && customer == NULL) {
        return ctl__usage(context, "customer", why);
    }
    if (customer_user && user == NULL) {
        return ctl__usage(context, "user", why);
    }
    if (!customer_user && (customer != NULL || user != NULL)) {
        return ctl__usage(context, customer != NULL ? "customer" : "user",
                          "for customer users only (--role customer-user)");
    }
    return LEDGER_ERR_OK;
}

enum ledger_err ctl__run_principal_add(struct ctl_context *context, const struct ctl_args *args)
{
    struct write write;
    const char *id = NULL, *partner = NULL, *customer = NULL, *user = NULL;
    int role = 0;
    enum ledger_err err;
    if ((err = ctl__id_arg(context, args, "id", &id)) != LEDGER_ERR_OK ||
        (err = ctl__id_arg(context, args, "partner", &partner)) != LEDGER_ERR_OK ||
        (err = ctl__id_arg(context, args, "customer", &customer)) != LEDGER_ERR_OK ||
        (err = ctl__id_arg(context, args, "user", &user)) != LEDGER_ERR_OK ||
        (err = ctl__enum_arg(context, args, "role", &ledger__v1__role__descriptor, &role)) !=
            LEDGER_ERR_OK ||
        (err = principal_role_args(context, (Ledger__V1__Role)role, partner, customer, user)) !=
            LEDGER_ERR_OK) {
        return err;
    }
    const char *key_out = NULL;
    if ((err = secret_write_begin(context, args, &key_out, &write)) != LEDGER_ERR_OK) {
        return err;
    }
    write.command.customer_id = (char *)"";
    /* The command acts on the partner the principal belongs to. */
    write.command.partner_id = (char *)(uintptr_t)(partner != NULL ? partner : "");
    Ledger__V1__AddPrincipal body = LEDGER__V1__ADD_PRINCIPAL__INIT;
    body.principal_id = (char *)(uintptr_t)id;
    body.role = (Ledger__V1__Role)role;
    body.partner_id = (char *)(uintptr_t)(partner != NULL ? partner : "");
    body.customer_id = (char *)(uintptr_t)(customer != NULL ? customer : "");
    body.user = (char *)(uintptr_t)(user != NULL ? user : "");
    write.command.body_case = LEDGER__V1__COMMAND__BODY_ADD_PRINCIPAL;
    write.command.add_principal = &body;
    static const struct secret_words words = {
        .subject = "principal ",
        .done = " was added",
        .secret = "its secret",
        .retry = "revoke it and add a new one",
        .remedy = "revoke the principal (ledgerctl principal revoke --id ",
        .remedy_end = ") and add one with another id",
    };
    return send_for_secret(context, &write, id, key_out, &words);
}

static const struct ctl_column principal_columns[] = {
    {"PRINCIPAL", "principal_id", 0},
    {"ROLE", "role", 0},
    {"PARTNER", "partner_id", 0},
    {"CUSTOMER", "customer_id", 0},
    {"USER", "user", 0},
    {"REVOKED", "revoked", 0},
    {"SEQUENCE", "sequence", 0},
    {"LAST_SEQUENCE", "last_sequence", 0},
    {"SECRET_ROTATED", "secret_rotated", 0},
    {"ROTATED_SEQUENCE", "secret_rotated_sequence", 0},
};

enum ledger_err ctl__run_principal_list(struct ctl_context *context, const struct ctl_args *args)
{
    static const struct view_verb view = {LEDGER__V1__QUERY__KIND_PRINCIPALS, "principals",
                                          COLUMNS(principal_columns)};
    return ctl__run_view_verb(context, args, &view);
}

const struct ctl_option ctl__principal_revoke_options[] = {
    {"id", CTL_OPTION_VALUE, "ID", "the principal to revoke", true},
    OPT_END,
};

enum ledger_err ctl__run_principal_revoke(struct ctl_context *context, const struct ctl_args *args)
{
    struct write write;
    const char *id = NULL;
    enum ledger_err err;
    if ((err = ctl__id_arg(context, args, "id", &id)) != LEDGER_ERR_OK ||
        (err = ctl__write_begin(context, args, &write)) != LEDGER_ERR_OK) {
        return err;
    }
    Ledger__V1__RevokePrincipal body = LEDGER__V1__REVOKE_PRINCIPAL__INIT;
    body.principal_id = (char *)(uintptr_t)id;
    write.command.body_case = LEDGER__V1__COMMAND__BODY_REVOKE_PRINCIPAL;
    write.command.revoke_principal = &body;
    return ctl__write_send(context, &write);
}

const struct ctl_option ctl__principal_rotate_options[] = {
    {"id", CTL_OPTION_VALUE, "ID", "the principal whose secret is replaced", true},
    KEY_OUT_OPTION,
    OPT_END,
};

enum ledger_err ctl__run_principal_rotate(struct ctl_context *context, const struct ctl_args *args)
{
    struct write write;
    const char *id = NULL;
    enum ledger_err err = ctl__id_arg(context, args, "id", &id);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    const char *key_out = NULL;
    if ((err = secret_write_begin(context, args, &key_out, &write)) != LEDGER_ERR_OK) {
        return err;
    }
    Ledger__V1__RotatePrincipalSecret body = LEDGER__V1__ROTATE_PRINCIPAL_SECRET__INIT;
    body.principal_id = (char *)(uintptr_t)id;
    write.command.body_case = LEDGER__V1__COMMAND__BODY_ROTATE_PRINCIPAL_SECRET;
    write.command.rotate_principal_secret = &body;
    static const struct secret_words words = {
        .subject = "the secret of principal ",
        .done = " was rotated",
        .secret = "the new secret",
        .retry = "rotate it again without --command-id",
        .remedy = "rotate it again (ledgerctl principal rotate --id ",
        .remedy_end = " --key-out FILE)",
    };
    return send_for_secret(context, &write, id, key_out, &words);
}
