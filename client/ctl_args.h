/*
 * ctl_args.h: the command line's vocabulary: options and enum names.
 *
 * Owns: parsing "--name value", "--name=value" and "--flag" against option
 * tables (a verb's and the global one), the parsed values, and the spelling
 * of protobuf enum values on the command line and in output: lower case,
 * the enum's prefix removed, "_" written as "-" ("ROLE_ADMIN_AGENT" is
 * "admin-agent", "SCOPE_KIND_RESOURCE_GROUP" is "resource-group"); terms keep
 * their ISO 8601 spelling ("P1Y").
 * Does not own: what the options mean (ctl_verbs) or printing (ctl_output).
 */
#ifndef CTL_ARGS_H
#define CTL_ARGS_H

#include <stdbool.h>
#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

#include "ctl_amount.h"
#include "error.h"

enum ctl_option_kind {
    CTL_OPTION_VALUE = 0, /* --name VALUE, once */
    CTL_OPTION_FLAG,      /* --name */
    CTL_OPTION_LIST,      /* --name VALUE, may repeat; values may also be comma-separated */
};

struct ctl_option {
    const char *name; /* without the dashes; NULL ends a table */
    enum ctl_option_kind kind;
    const char *metavar; /* e.g. "ID"; NULL for flags */
    const char *help;    /* one sentence */
    bool required;       /* checked by the verb dispatcher, shown by --help */
};

/* Option values of one command line: at most this many (bounds argv). */
#define CTL_ARGS_MAX 64

struct ctl_arg {
    const char *name;  /* static: the table's name */
    const char *value; /* borrowed from argv; "" for flags */
};

struct ctl_args {
    struct ctl_arg items[CTL_ARGS_MAX];
    size_t count;
    bool help; /* --help or -h was given */
};

/* Parses argv[0..argc) against the option tables (NULL-terminated array of
 * NULL-name-terminated tables). Tokens must all be options; --help and -h set
 * args->help. USAGE with a message naming the option: unknown option, missing
 * value, a VALUE option given twice, a stray argument, too many options. */
__attribute__((warn_unused_result)) enum ledger_err
ctl_args_parse(const struct ctl_option *const *tables, int argc, char **argv, struct ctl_args *args,
               char message[CTL_MESSAGE_SIZE]);

/* The value of an option, or NULL when it was not given. */
const char *ctl_arg(const struct ctl_args *args, const char *name);
/* Whether a flag (or any option) was given. */
bool ctl_flag(const struct ctl_args *args, const char *name);
/* The values of a LIST option in order (each comma-separated piece as its own
 * value, copied into storage): at most max of them; returns the count, or
 * more than max when there were too many. storage must hold 'storage_size'
 * bytes. */
size_t ctl_arg_list(const struct ctl_args *args, const char *name, const char **values, size_t max,
                    char *storage, size_t storage_size);
/* The storage ctl_arg_list needs to copy every value of option `name`, each
 * piece with its NUL (at least 1 byte). */
size_t ctl_arg_list_size(const struct ctl_args *args, const char *name);
/* As ctl_arg_list, but for a list whose values stand by position: an empty
 * value (--name '', or an empty piece between commas, "a,,b") is kept as ""
 * ("none in this place") where ctl_arg_list drops it. */
size_t ctl_arg_list_positional(const struct ctl_args *args, const char *name, const char **values,
                               size_t max, char *storage, size_t storage_size);

/* An enum value's command-line name into out ("admin-agent"); "unknown" for
 * undeclared values. */
void ctl_enum_name(const ProtobufCEnumDescriptor *descriptor, int value, char *out,
                   size_t out_size);
/* Parses a command-line name of an enum value (case-insensitive), never
 * accepting the UNSPECIFIED zero. USAGE with a message listing the accepted
 * names otherwise. */
__attribute__((warn_unused_result)) enum ledger_err
ctl_enum_parse(const ProtobufCEnumDescriptor *descriptor, const char *text, int *value_out,
               char message[CTL_MESSAGE_SIZE]);

#endif
