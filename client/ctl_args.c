/*
 * ctl_args.c: option parsing and enum spelling (see ctl_args.h).
 */
#include "ctl_args.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const struct ctl_option *find_option(const struct ctl_option *const *tables,
                                            const char *name, size_t name_length)
{
    for (size_t t = 0; tables[t] != NULL; t++) {
        for (const struct ctl_option *option = tables[t]; option->name != NULL; option++) {
            if (strlen(option->name) == name_length &&
                strncmp(option->name, name, name_length) == 0) {
                return option;
            }
        }
    }
    return NULL;
}

enum ledger_err ctl_args_parse(const struct ctl_option *const *tables, int argc, char **argv,
                               struct ctl_args *args, char message[CTL_MESSAGE_SIZE])
{
    memset(args, 0, sizeof *args);
    for (int i = 0; i < argc; i++) {
        const char *token = argv[i];
        if (strcmp(token, "--help") == 0 || strcmp(token, "-h") == 0) {
            args->help = true;
            continue;
        }
        if (strncmp(token, "--", 2) != 0 || token[2] == '\0') {
            snprintf(message, CTL_MESSAGE_SIZE, "unexpected argument '%.60s'", token);
            return LEDGER_ERR_USAGE;
        }
        const char *name = token + 2;
        const char *equals = strchr(name, '=');
        size_t name_length = equals != NULL ? (size_t)(equals - name) : strlen(name);
        const struct ctl_option *option = find_option(tables, name, name_length);
        if (option == NULL) {
            snprintf(message, CTL_MESSAGE_SIZE, "unknown option --%.*s", (int)name_length, name);
            return LEDGER_ERR_USAGE;
        }
        const char *value = "";
        if (option->kind == CTL_OPTION_FLAG) {
            if (equals != NULL) {
                snprintf(message, CTL_MESSAGE_SIZE, "--%s takes no value", option->name);
                return LEDGER_ERR_USAGE;
            }
        } else if (equals != NULL) {
            value = equals + 1;
        } else {
            if (i + 1 >= argc) {
                snprintf(message, CTL_MESSAGE_SIZE, "--%s needs a value (%s)", option->name,
                         option->metavar != NULL ? option->metavar : "VALUE");
                return LEDGER_ERR_USAGE;
            }
            value = argv[++i];
        }
        if (option->kind != CTL_OPTION_LIST && ctl_flag(args, option->name)) {
            snprintf(message, CTL_MESSAGE_SIZE, "--%s is given twice", option->name);
            return LEDGER_ERR_USAGE;
        }
        if (args->count == CTL_ARGS_MAX) {
            snprintf(message, CTL_MESSAGE_SIZE, "too many options (at most %d)", CTL_ARGS_MAX);
            return LEDGER_ERR_USAGE;
        }
        args->items[args->count].name = option->name;
        args->items[args->count].value = value;
        args->count++;
    }
    return LEDGER_ERR_OK;
}

const char *ctl_arg(const struct ctl_args *args, const char *name)
{
    for (size_t i = 0; i < args->count; i++) {
        if (strcmp(args->items[i].name, name) == 0) {
            return args->items[i].value;
        }
    }
    return NULL;
}

bool ctl_flag(const struct ctl_args *args, const char *name)
{
    return ctl_arg(args, name) != NULL;
}

static size_t arg_list(const struct ctl_args *args, const char *name, bool keep_empty,
                       const char **values, size_t max, char *storage, size_t storage_size)
{
    size_t count = 0;
    size_t used = 0;
    for (size_t i = 0; i < args->count; i++) {
        if (strcmp(args->items[i].name, name) != 0) {
            continue;
        }
        const char *piece = args->items[i].value;
        for (;;) {
            const char *comma = strchr(piece, ',');
            size_t length = comma != NULL ? (size_t)(comma - piece) : strlen(piece);
            if (length > 0 || keep_empty) {
                if (count >= max || used + length + 1 > storage_size) {
                    return max + 1;
                }
                memcpy(storage + used, piece, length);
                storage[used + length] = '\0';
                values[count++] = storage + used;
                used += length + 1;
            }
            if (comma == NULL) {
                break;
            }
            piece = comma + 1;
        }
    }
    return count;
}

size_t ctl_arg_list(const struct ctl_args *args, const char *name, const char **values, size_t max,
                    char *storage, size_t storage_size)
{
    return arg_list(args, name, false, values, max, storage, storage_size);
}

size_t ctl_arg_list_size(const struct ctl_args *args, const char *name)
{
    /* A value of n bytes holds its commas' count + 1 pieces and n bytes
     * less those commas: n + 1 bytes with their NULs. */
    size_t size = 1;
    for (size_t i = 0; i < args->count; i++) {
        if (strcmp(args->items[i].name, name) == 0) {
            size += strlen(args->items[i].value) + 1;
        }
    }
    return size;
}

size_t ctl_arg_list_positional(const struct ctl_args *args, const char *name, const char **values,
                               size_t max, char *storage, size_t storage_size)
{
    return arg_list(args, name, true, values, max, storage, storage_size);
}

/* The prefix of an enum's value names: its name in upper snake case and "_"
 * ("PermissionKind" -> "PERMISSION_KIND_"). */
static void enum_prefix(const ProtobufCEnumDescriptor *descriptor, char *out, size_t out_size)
{
    size_t used = 0;
    const char *name = descriptor->short_name;
    for (size_t i = 0; name[i] != '\0' && used + 3 < out_size; i++) {
        if (i > 0 && isupper((unsigned char)name[i])) {
            out[used++] = '_';
        }
        out[used++] = (char)toupper((unsigned char)name[i]);
    }
    out[used++] = '_';
    out[used] = '\0';
}

static bool enum_is_term(const ProtobufCEnumDescriptor *descriptor)
{
    return strcmp(descriptor->short_name, "Term") == 0;
}

static void spell_value(const ProtobufCEnumDescriptor *descriptor, const char *value_name,
                        char *out, size_t out_size)
{
    char prefix[64];
    enum_prefix(descriptor, prefix, sizeof prefix);
    const char *rest = value_name;
    if (strncmp(rest, prefix, strlen(prefix)) == 0) {
        rest += strlen(prefix);
    }
    size_t used = 0;
    bool term = enum_is_term(descriptor);
    for (size_t i = 0; rest[i] != '\0' && used + 1 < out_size; i++) {
        char c = rest[i];
        if (term && strcmp(rest, "UNSPECIFIED") != 0) {
            out[used++] = c;
        } else {
            out[used++] = c == '_' ? '-' : (char)tolower((unsigned char)c);
        }
    }
    out[used] = '\0';
}

void ctl_enum_name(const ProtobufCEnumDescriptor *descriptor, int value, char *out, size_t out_size)
{
    const ProtobufCEnumValue *found = protobuf_c_enum_descriptor_get_value(descriptor, value);
    if (found == NULL) {
        snprintf(out, out_size, "unknown");
        return;
    }
    spell_value(descriptor, found->name, out, out_size);
}

enum ledger_err ctl_enum_parse(const ProtobufCEnumDescriptor *descriptor, const char *text,
                               int *value_out, char message[CTL_MESSAGE_SIZE])
{
    char accepted[CTL_MESSAGE_SIZE / 2];
    size_t used = 0;
    accepted[0] = '\0';
    for (unsigned i = 0; i < descriptor->n_values; i++) {
        const ProtobufCEnumValue *value = &descriptor->values[i];
        if (value->value == 0) {
            continue; /* UNSPECIFIED is never a choice */
        }
        char spelled[64];
        spell_value(descriptor, value->name, spelled, sizeof spelled);
        if (text != NULL && strcasecmp(text, spelled) == 0) {
            *value_out = value->value;
            return LEDGER_ERR_OK;
        }
        int wrote =
            snprintf(accepted + used, sizeof accepted - used, "%s%s", used > 0 ? "|" : "", spelled);
        if (wrote > 0 && (size_t)wrote < sizeof accepted - used) {
            used += (size_t)wrote;
        }
    }
    snprintf(message, CTL_MESSAGE_SIZE, "'%.40s' is not one of %s", text != NULL ? text : "",
             accepted);
    return LEDGER_ERR_USAGE;
}
