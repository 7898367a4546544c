/*
 * ctl_verbs_args.c: reading a verb's options into the fields of its command
 * or query (see ctl_verbs_internal.h): ids, names, enum spellings, numbers,
 * amounts and currencies, SKUs, times and ranges, as-of points, scopes and
 * --on/--off. Each value is checked before anything is sent, so that a typing
 * mistake is a usage error (ctl__usage, exit status 2) naming the option, not
 * a refusal. Also the options every write takes (ctl__write_begin), the
 * sending of a write (ctl__write_send), and how a verb fails with its reason
 * (ctl_fail).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ctl_time.h"
#include "ctl_verbs_internal.h"
#include "ledger_ids.h"
#include "money.h"

enum ledger_err ctl_fail(struct ctl_context *context, enum ledger_err code, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    vsnprintf(context->message, sizeof context->message, format, args);
    va_end(args);
    return code;
}

enum ledger_err ctl__usage(struct ctl_context *context, const char *option, const char *why)
{
    if (option != NULL) {
        snprintf(context->message, sizeof context->message, "--%s: %s", option, why);
    } else {
        snprintf(context->message, sizeof context->message, "%s", why);
    }
    return LEDGER_ERR_USAGE;
}

/* An id option: NULL when absent; USAGE when malformed. */
enum ledger_err ctl__id_arg(struct ctl_context *context, const struct ctl_args *args,
                            const char *name, const char **out)
{
    const char *value = ctl_arg(args, name);
    if (value != NULL && !ledger_id_valid(value)) {
        return ctl__usage(context, name, CTL_ID_RULE);
    }
    *out = value;
    return LEDGER_ERR_OK;
}

enum ledger_err ctl__name_arg(struct ctl_context *context, const struct ctl_args *args,
                              const char *name, const char **out)
{
    const char *value = ctl_arg(args, name);
    if (value != NULL) {
        /* The daemon's rule (codec_name_valid), found before sending. */
        switch (ledger_name_check(value, true)) {
        case LEDGER_NAME_OK:
            break;
        case LEDGER_NAME_LENGTH:
            return ctl__usage(context, name, "a name is 1..200 bytes");
        case LEDGER_NAME_NOT_UTF8:
            return ctl__usage(
                context, name,
                "a name is UTF-8 text (this one is in another encoding, e.g. Latin-1)");
        case LEDGER_NAME_CONTROL:
            return ctl__usage(context, name, "a name has no control characters");
        case LEDGER_NAME_FORMATTING:
            return ctl__usage(
                context, name,
                "a name has no line separator and no bidirectional formatting character "
                "(U+061C, U+200E, U+200F, U+202A..U+202E, U+2066..U+2069), which would "
                "reorder what tables show");
        }
    }
    *out = value;
    return LEDGER_ERR_OK;
}

enum ledger_err ctl__enum_arg(struct ctl_context *context, const struct ctl_args *args,
                              const char *name, const ProtobufCEnumDescriptor *descriptor, int *out)
{
    char message[CTL_MESSAGE_SIZE];
    const char *value = ctl_arg(args, name);
    if (value == NULL) {
        *out = 0;
        return LEDGER_ERR_OK;
    }
    if (ctl_enum_parse(descriptor, value, out, message) != LEDGER_ERR_OK) {
        return ctl__usage(context, name, message);
    }
    return LEDGER_ERR_OK;
}

enum ledger_err ctl__unsigned_arg(struct ctl_context *context, const struct ctl_args *args,
                                  const char *name, uint64_t max, uint64_t *out)
{
    char message[CTL_MESSAGE_SIZE];
    const char *value = ctl_arg(args, name);
    if (value == NULL) {
        *out = 0;
        return LEDGER_ERR_OK;
    }
    if (ctl_unsigned_parse(value, max, out, message) != LEDGER_ERR_OK) {
        return ctl__usage(context, name, message);
    }
    return LEDGER_ERR_OK;
}

/* Parses an amount option into money (currency borrowed). */
enum ledger_err ctl__money_arg(struct ctl_context *context, const struct ctl_args *args,
                               const char *name, const char *currency, Ledger__V1__Money *money)
{
    char message[CTL_MESSAGE_SIZE];
    int64_t minor = 0;
    if (ctl_amount_parse(ctl_arg(args, name), currency, &minor, message) != LEDGER_ERR_OK) {
        return ctl__usage(context, name, message);
    }
    money->amount_minor = minor;
    money->currency = (char *)(uintptr_t)currency;
    return LEDGER_ERR_OK;
}

/* As ctl__money_arg, for what is bought: its amount must be more than 0. */
enum ledger_err ctl__price_arg(struct ctl_context *context, const struct ctl_args *args,
                               const char *name, const char *currency, Ledger__V1__Money *money)
{
    enum ledger_err err = ctl__money_arg(context, args, name, currency, money);
    if (err == LEDGER_ERR_OK && money->amount_minor == 0) {
        return ctl__usage(context, name, "must be more than 0");
    }
    return err;
}

/* A SKU or region option (required, so present): the ledger's rule for
 * them is an id's with '_' allowed too. */
enum ledger_err ctl__sku_arg(struct ctl_context *context, const struct ctl_args *args,
                             const char *name, const char **out)
{
    const char *value = ctl_arg(args, name);
    if (!ledger_sku_well_formed(value)) {
        return ctl__usage(context, name, "1..80 characters of A-Z a-z 0-9 _ . : @ -");
    }
    *out = value;
    return LEDGER_ERR_OK;
}

enum ledger_err ctl__currency_arg(struct ctl_context *context, const struct ctl_args *args,
                                  const char *fallback, const char **out)
{
    const char *currency = ctl_arg(args, "currency");
    if (currency == NULL) {
        currency = fallback;
    }
    if (!ctl_currency_valid(currency)) {
        return ctl__usage(context, "currency",
                          "an ISO 4217 code of three upper-case letters is required, e.g. USD");
    }
    if (!money_currency_known(currency)) {
        return ctl__usage(context, "currency",
                          "not a currency of ISO 4217's list (USD, EUR, GBP, JPY, ...): check the "
                          "code");
    }
    *out = currency;
    return LEDGER_ERR_OK;
}

/* How time_arg takes a time at the epoch itself, which the ledger reads as
 * none given (its fields are 0 when unset). */
enum epoch_use {
    EPOCH_MEANS_THE_SAME, /* a range's --from: from the epoch or from the start is one */
    EPOCH_CHECKED_LATER,  /* a range's --to: the range check refuses it */
    EPOCH_REFUSED,        /* --as-of, --business-time: 0 would mean now */
};

/* A time option; with end_of_day, a date alone means the end of that day
 * (the start of the next, an exclusive bound). */
static enum ledger_err time_arg(struct ctl_context *context, const struct ctl_args *args,
                                const char *name, bool end_of_day, enum epoch_use epoch,
                                int64_t *out)
{
    char message[CTL_MESSAGE_SIZE];
    const char *value = ctl_arg(args, name);
    bool date_only = false;
    *out = 0;
    if (value == NULL) {
        return LEDGER_ERR_OK;
    }
    if (ctl_time_parse(value, out, &date_only, message) != LEDGER_ERR_OK) {
        return ctl__usage(context, name, message);
    }
    if (*out == 0 && epoch == EPOCH_REFUSED) {
        snprintf(message, sizeof message,
                 "'%.40s' is the epoch, 1970-01-01T00:00:00Z, which the ledger reads as no time "
                 "given (now); give a later time",
                 value);
        return ctl__usage(context, name, message);
    }
    /* Ranges are half-open (from <= t < to): the end of day D is the
     * start of D+1, so that D's last microsecond is still in. */
    if (end_of_day && date_only) {
        *out += INT64_C(86400) * 1000000;
    }
    return LEDGER_ERR_OK;
}

/* A range of two time options, `from_name` inclusive and `to_name`
 * exclusive (a date alone in it: through the end of that day), into
 * *from_us and *to_us (0 when not given). A `to_name` at or before
 * `from_name` is a usage error: given at all, a --to at the epoch is 0,
 * which the ledger reads as no end, but it asks for nothing. */
enum ledger_err ctl__range_args(struct ctl_context *context, const struct ctl_args *args,
                                const char *from_name, const char *to_name, int64_t *from_us,
                                int64_t *to_us)
{
    enum ledger_err err;
    if ((err = time_arg(context, args, from_name, false, EPOCH_MEANS_THE_SAME, from_us)) !=
            LEDGER_ERR_OK ||
        (err = time_arg(context, args, to_name, true, EPOCH_CHECKED_LATER, to_us)) !=
            LEDGER_ERR_OK) {
        return err;
    }
    if (ctl_arg(args, to_name) != NULL && *to_us <= *from_us) {
        char message[CTL_MESSAGE_SIZE];
        snprintf(message, sizeof message,
                 "is before --%s or equal to it (the range is --%s <= t < --%s)", from_name,
                 from_name, to_name);
        return ctl__usage(context, to_name, message);
    }
    return LEDGER_ERR_OK;
}

/* --as-of: digits only is a sequence, anything else a time; a date alone
 * is the start of that day (00:00 UTC), as docs/cli.md and the option's
 * help say. */
enum ledger_err ctl__as_of_arg(struct ctl_context *context, const struct ctl_args *args,
                               Ledger__V1__AsOf *as_of, bool *given)
{
    const char *value = ctl_arg(args, "as-of");
    *given = value != NULL;
    if (value == NULL) {
        return LEDGER_ERR_OK;
    }
    if (strspn(value, "0123456789") == strlen(value)) {
        enum ledger_err err =
            ctl__unsigned_arg(context, args, "as-of", UINT64_MAX, &as_of->sequence);
        if (err == LEDGER_ERR_OK && as_of->sequence == 0) {
            return ctl__usage(context, "as-of", "sequences start at 1");
        }
        return err;
    }
    return time_arg(context, args, "as-of", false, EPOCH_REFUSED, &as_of->time_us);
}

/* --as-of-business-time: a time, as --as-of's. */
enum ledger_err ctl__as_of_business_arg(struct ctl_context *context, const struct ctl_args *args,
                                        Ledger__V1__AsOf *as_of, bool *given)
{
    if (ctl_arg(args, "as-of-business-time") == NULL) {
        return LEDGER_ERR_OK;
    }
    enum ledger_err err = time_arg(context, args, "as-of-business-time", false, EPOCH_REFUSED,
                                   &as_of->business_time_us);
    *given = *given || err == LEDGER_ERR_OK;
    return err;
}

enum ledger_err ctl__scope_args(struct ctl_context *context, const struct ctl_args *args,
                                Ledger__V1__Scope *scope)
{
    int kind = 0;
    enum ledger_err err =
        ctl__enum_arg(context, args, "scope", &ledger__v1__scope_kind__descriptor, &kind);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    const char *target = ctl_arg(args, "scope-target");
    if (target != NULL && (strlen(target) == 0 || strlen(target) > 2 * LEDGER_ID_LENGTH_MAX + 1)) {
        return ctl__usage(context, "scope-target",
                          "give a subscription, subscription/group or group");
    }
    if (target == NULL && kind != LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SHARED) {
        return ctl__usage(context, "scope-target",
                          "required unless --scope shared: the subscription, subscription/group or "
                          "management group");
    }
    if (target != NULL && kind == LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SHARED) {
        return ctl__usage(context, "scope-target", "a shared scope has no target");
    }
    scope->kind = (Ledger__V1__ScopeKind)kind;
    scope->target = (char *)(uintptr_t)(target != NULL ? target : "");
    return LEDGER_ERR_OK;
}

/* --on / --off: exactly one. */
enum ledger_err ctl__on_off_arg(struct ctl_context *context, const struct ctl_args *args, bool *on)
{
    bool given_on = ctl_flag(args, "on");
    bool given_off = ctl_flag(args, "off");
    if (given_on == given_off) {
        return ctl__usage(context, NULL, "give exactly one of --on and --off");
    }
    *on = given_on;
    return LEDGER_ERR_OK;
}

enum ledger_err ctl__write_begin(struct ctl_context *context, const struct ctl_args *args,
                                 struct write *write)
{
    Ledger__V1__Command init = LEDGER__V1__COMMAND__INIT;
    write->command = init;
    const char *command_id = NULL;
    enum ledger_err err = ctl__id_arg(context, args, "command-id", &command_id);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    if (command_id != NULL) {
        snprintf(write->command_id, sizeof write->command_id, "%s", command_id);
    } else {
        char fresh[LEDGER_CLIENT_COMMAND_ID_SIZE];
        ledger_command_id_new(fresh);
        snprintf(write->command_id, sizeof write->command_id, "%s", fresh);
    }
    write->command.command_id = write->command_id;
    if (ctl_flag(args, "expected-version")) {
        err = ctl__unsigned_arg(context, args, "expected-version", UINT64_MAX,
                                &write->command.expected_version);
        if (err != LEDGER_ERR_OK) {
            return err;
        }
        write->command.check_version = true;
    }
    err =
        time_arg(context, args, "business-time", false, EPOCH_REFUSED, &write->command.business_us);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    const char *correlation_id = NULL;
    err = ctl__id_arg(context, args, "correlation-id", &correlation_id);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    if (correlation_id != NULL) {
        write->command.correlation_id = (char *)(uintptr_t)correlation_id;
    }
    write->command.partner_id =
        (char *)(uintptr_t)(context->partner_id != NULL ? context->partner_id : "");
    const char *customer = NULL;
    err = ctl__id_arg(context, args, "customer", &customer);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    write->command.customer_id = (char *)(uintptr_t)(customer != NULL ? customer : "");
    return LEDGER_ERR_OK;
}

enum ledger_err ctl__write_send(struct ctl_context *context, struct write *write)
{
    return ctl_execute(context, &write->command, write->command_id, true, NULL);
}
