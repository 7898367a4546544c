/*
 * ctl_output.c: JSON, tables and CSV (see ctl_output.h).
 *
 * Everything printed goes through one JSON form of the result: views are
 * converted row by row by message_to_json, and tables and CSV pick their
 * cells out of that JSON by path, so the three formats can never disagree on
 * a value.
 */
#include "ctl_output.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "ctl_amount.h"
#include "ctl_args.h"
#include "ctl_time.h"
#include "ledger_ids.h"

/* Cells wider than this many terminal columns are cut in tables (CSV and
 * JSON keep everything). */
#define TABLE_CELL_MAX 80
/* The events table's columns of ids, in terminal columns: it prints events
 * as they arrive, so it cannot measure its columns first. Ids have up to
 * LEDGER_ID_LENGTH_MAX (64) characters, too many for one line of seven
 * columns: a longer id is cut to its column, as cell_cut cuts (CSV and JSON
 * keep it whole). The command id is last, cut at TABLE_CELL_MAX. */
#define EVENT_PARTNER_WIDTH  16
#define EVENT_CUSTOMER_WIDTH 20
#define EVENT_ACTOR_WIDTH    16
/* An event table's id, copied to be cleaned: room for TABLE_CELL_MAX + 1
 * code points of four bytes, so that a longer one is still seen as longer
 * than a cell and cut. */
#define EVENT_CELL_SIZE (4 * (TABLE_CELL_MAX + 1) + 1)
/* Depth of nested messages: the schema nests at most five deep. */
#define JSON_DEPTH_MAX 16
#define ENUM_NAME_SIZE 64

static json_t *message_to_json(const ProtobufCMessage *message, unsigned depth);

/* Why the first failed write failed (an errno), 0 while none has. stdio
 * forgets it: a buffer that could not be written is dropped, so a later
 * fflush of the same stream may succeed with nothing to say. */
static int write_errno;

enum ledger_err ctl_output_status(FILE *out)
{
    if (!ferror(out)) {
        return LEDGER_ERR_OK;
    }
    if (write_errno == 0) {
        write_errno = errno != 0 ? errno : EIO;
    }
    return LEDGER_ERR_IO_ERROR;
}

int ctl_output_write_errno(void)
{
    return write_errno;
}

/* text with every byte that is not part of a well-formed UTF-8 sequence
 * replaced by U+FFFD, for JSON, which holds UTF-8 only: a message may quote
 * what a user typed or a file held in another encoding, or be cut in the
 * middle of a character. Caller frees; NULL when out of memory. */
static char *utf8_repaired(const char *text)
{
    static const char replacement[] = "\xEF\xBF\xBD";
    size_t length = strlen(text);
    char *copy = malloc(3 * length + 1);
    if (copy == NULL) {
        return NULL;
    }
    size_t used = 0;
    const unsigned char *s = (const unsigned char *)text;
    while (*s != '\0') {
        uint32_t code_point = 0;
        size_t step = ledger_utf8_decode(s, &code_point);
        if (step == 0) {
            memcpy(copy + used, replacement, 3);
            used += 3;
            s++;
        } else {
            memcpy(copy + used, s, step);
            used += step;
            s += step;
        }
    }
    copy[used] = '\0';
    return copy;
}

/* A reply's text as a JSON string: its bytes that are not UTF-8 (which
 * the daemon's own names never hold, but a reply is not signed and may come
 * from anyone on the path) each U+FFFD, as JSON holds UTF-8 only. NULL
 * when out of memory. */
static json_t *text_to_json(const char *text)
{
    if (ledger_utf8_well_formed(text)) {
        return json_string(text);
    }
    char *repaired = utf8_repaired(text);
    json_t *value = repaired != NULL ? json_string(repaired) : NULL;
    free(repaired);
    return value;
}

static json_t *bytes_to_json(const ProtobufCBinaryData *bytes)
{
    static const char digits[] = "0123456789abcdef";
    char *hex = malloc(2 * bytes->len + 1);
    if (hex == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < bytes->len; i++) {
        hex[2 * i] = digits[bytes->data[i] >> 4];
        hex[2 * i + 1] = digits[bytes->data[i] & 15];
    }
    hex[2 * bytes->len] = '\0';
    json_t *value = json_string(hex);
    free(hex);
    return value;
}

static json_t *money_to_json(const Ledger__V1__Money *money)
{
    char amount[CTL_AMOUNT_TEXT_SIZE];
    const char *currency = money->currency != NULL ? money->currency : "";
    ctl_amount_format(money->amount_minor, currency, amount);
    return json_pack("{s:s, s:I, s:o}", "amount", amount, "amount_minor",
                     (json_int_t)money->amount_minor, "currency", text_to_json(currency));
}

/* One value of a field at `member` (a scalar, a pointer to a string or
 * message, or a binary struct). */
/* An extra's value as text: its text, "yes"/"no" for a truth value, or its
 * number (written into `buffer`). */
static const char *extra_text(const struct ctl_extra *extra, char buffer[32])
{
    if (extra->text != NULL) {
        return extra->text;
    }
    if (extra->boolean) {
        return extra->number != 0 ? "yes" : "no";
    }
    snprintf(buffer, 32, "%llu", (unsigned long long)extra->number);
    return buffer;
}

static json_t *field_value_to_json(const ProtobufCFieldDescriptor *field, const void *member,
                                   unsigned depth)
{
    switch (field->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return json_integer(*(const int32_t *)member);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return json_integer(*(const uint32_t *)member);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return json_integer(*(const int64_t *)member);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: {
        /* JSON integers are int64 in jansson; sequences and sizes never
         * come near 2^63. */
        uint64_t value = *(const uint64_t *)member;
        return json_integer(value > INT64_MAX ? INT64_MAX : (json_int_t)value);
    }
    case PROTOBUF_C_TYPE_FLOAT:
        return json_real((double)*(const float *)member);
    case PROTOBUF_C_TYPE_DOUBLE:
        return json_real(*(const double *)member);
    case PROTOBUF_C_TYPE_BOOL:
        return json_boolean(*(const protobuf_c_boolean *)member);
    case PROTOBUF_C_TYPE_ENUM: {
        char name[ENUM_NAME_SIZE];
        ctl_enum_name(field->descriptor, *(const int *)member, name, sizeof name);
        return json_string(name);
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *text = *(char *const *)member;
        return text_to_json(text != NULL ? text : "");
    }
    case PROTOBUF_C_TYPE_BYTES:
        return bytes_to_json((const ProtobufCBinaryData *)member);
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *sub = *(ProtobufCMessage *const *)member;
        return sub != NULL ? message_to_json(sub, depth + 1) : json_null();
    }
    }
    return json_null();
}

static size_t field_element_size(const ProtobufCFieldDescriptor *field)
{
    switch (field->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_FLOAT:
        return 4;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_ENUM:
        return sizeof(int);
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    }
    return 0;
}

static bool ends_with_us(const char *name)
{
    size_t length = strlen(name);
    return length > 3 && strcmp(name + length - 3, "_us") == 0;
}

static json_t *message_to_json(const ProtobufCMessage *message, unsigned depth)
{
    const ProtobufCMessageDescriptor *descriptor = message->descriptor;
    if (depth > JSON_DEPTH_MAX) {
        return json_null();
    }
    if (descriptor == &ledger__v1__money__descriptor) {
        return money_to_json((const Ledger__V1__Money *)message);
    }
    json_t *object = json_object();
    if (object == NULL) {
        return NULL;
    }
    const char *base = (const char *)message;
    for (unsigned i = 0; i < descriptor->n_fields; i++) {
        const ProtobufCFieldDescriptor *field = &descriptor->fields[i];
        if (strcmp(field->name, "secret_hex") == 0) {
            continue; /* secrets go to key files only, never to output */
        }
        if ((field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0) {
            uint32_t chosen = *(const uint32_t *)(const void *)(base + field->quantifier_offset);
            if (chosen != field->id) {
                continue;
            }
        }
        const void *member = base + field->offset;
        json_t *value = NULL;
        if (field->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t count = *(const size_t *)(const void *)(base + field->quantifier_offset);
            const char *elements = *(const char *const *)member;
            size_t element_size = field_element_size(field);
            value = json_array();
            for (size_t j = 0; value != NULL && j < count; j++) {
                json_array_append_new(
                    value, field_value_to_json(field, elements + j * element_size, depth));
            }
        } else {
            value = field_value_to_json(field, member, depth);
        }
        if (value == NULL) {
            json_decref(object);
            return NULL;
        }
        json_object_set_new(object, field->name, value);
        if (field->type == PROTOBUF_C_TYPE_INT64 && field->label != PROTOBUF_C_LABEL_REPEATED &&
            ends_with_us(field->name)) {
            char name[128];
            size_t length = strlen(field->name) - 3;
            if (length < sizeof name) {
                memcpy(name, field->name, length);
                name[length] = '\0';
                int64_t us = *(const int64_t *)member;
                char text[CTL_TIME_TEXT_SIZE];
                ctl_time_format(us, text);
                json_object_set_new(object, name, us != 0 ? json_string(text) : json_null());
            }
        }
    }
    return object;
}

char *ctl_json_text(const ProtobufCMessage *message)
{
    json_t *value = message_to_json(message, 0);
    if (value == NULL) {
        return NULL;
    }
    char *text = json_dumps(value, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(value);
    return text;
}

static enum ledger_err dump_document(FILE *out, json_t *document, bool one_line)
{
    size_t flags = JSON_PRESERVE_ORDER | (one_line ? JSON_COMPACT : JSON_INDENT(2));
    if (json_dumpf(document, out, flags) != 0 || fputc('\n', out) == EOF) {
        /* jansson stops at the first failed write: keep its reason now (a
         * failure that was no write is IO_ERROR all the same). */
        enum ledger_err err = ctl_output_status(out);
        return err != LEDGER_ERR_OK ? err : LEDGER_ERR_IO_ERROR;
    }
    return LEDGER_ERR_OK;
}

static void add_extras(json_t *document, const struct ctl_extra *extras, size_t extra_count)
{
    for (size_t i = 0; i < extra_count; i++) {
        json_object_set_new(document, extras[i].name,
                            extras[i].text != NULL ? text_to_json(extras[i].text)
                            : extras[i].boolean    ? json_boolean(extras[i].number != 0)
                                                   : json_integer((json_int_t)extras[i].number));
    }
}

/* ------------------------------------------------------------------------ */
/* Cells. */

static json_t *json_path(json_t *value, const char *path)
{
    char piece[128];
    while (value != NULL && *path != '\0') {
        const char *dot = strchr(path, '.');
        size_t length = dot != NULL ? (size_t)(dot - path) : strlen(path);
        if (length >= sizeof piece) {
            return NULL;
        }
        memcpy(piece, path, length);
        piece[length] = '\0';
        value = json_is_object(value) ? json_object_get(value, piece) : NULL;
        path += length + (dot != NULL ? 1 : 0);
    }
    return value;
}

/* The text of a cell: strings as they are, money as "12.34 USD", actors by
 * their principal id, scopes as "kind" or "kind:target", true/false as
 * yes/no, arrays joined with commas. Returns a malloc'd string. */
static char *cell_text(json_t *value, unsigned flags)
{
    char buffer[256];
    const char *text = buffer;
    buffer[0] = '\0';
    if (value == NULL || json_is_null(value)) {
        text = "";
    } else if (json_is_string(value)) {
        text = json_string_value(value);
        if ((flags & CTL_COLUMN_DATE) != 0 && strlen(text) > 10 && text[10] == 'T') {
            snprintf(buffer, sizeof buffer, "%.10s", text);
            text = buffer;
        }
    } else if (json_is_integer(value)) {
        snprintf(buffer, sizeof buffer, "%lld", (long long)json_integer_value(value));
    } else if (json_is_real(value)) {
        snprintf(buffer, sizeof buffer, "%.17g", json_real_value(value));
    } else if (json_is_boolean(value)) {
        text = json_is_true(value) ? "yes" : "no";
    } else if (json_is_object(value) && json_object_get(value, "amount_minor") != NULL) {
        snprintf(buffer, sizeof buffer, "%s %s",
                 json_string_value(json_object_get(value, "amount")),
                 json_string_value(json_object_get(value, "currency")));
    } else if (json_is_object(value) && json_object_get(value, "principal_id") != NULL) {
        text = json_string_value(json_object_get(value, "principal_id"));
    } else if (json_is_object(value) && json_object_get(value, "kind") != NULL &&
               json_object_get(value, "target") != NULL && json_object_size(value) == 2) {
        const char *kind = json_string_value(json_object_get(value, "kind"));
        const char *target = json_string_value(json_object_get(value, "target"));
        snprintf(buffer, sizeof buffer, "%s%s%s", kind, target[0] != '\0' ? ":" : "", target);
    } else if (json_is_array(value)) {
        size_t used = 0;
        for (size_t i = 0; i < json_array_size(value); i++) {
            char *piece = cell_text(json_array_get(value, i), flags);
            if (piece != NULL) {
                int wrote =
                    snprintf(buffer + used, sizeof buffer - used, "%s%s", i > 0 ? "," : "", piece);
                free(piece);
                if (wrote < 0 || (size_t)wrote >= sizeof buffer - used) {
                    break;
                }
                used += (size_t)wrote;
            }
        }
    } else {
        char *dumped = json_dumps(value, JSON_COMPACT | JSON_PRESERVE_ORDER);
        return dumped;
    }
    size_t length = strlen(text);
    char *copy = malloc(length + 1);
    if (copy != NULL) {
        memcpy(copy, text, length + 1);
    }
    return copy;
}

/* How many columns a terminal gives one code point: 0 for the combining
 * marks and zero-width characters names use (an accent typed as a second
 * code point), 2 for the East Asian wide and fullwidth characters (Unicode's
 * East_Asian_Width W and F: CJK ideographs, kana, Hangul, fullwidth forms)
 * and the emoji blocks, 1 for the rest. The ranges are those of wcwidth(3)
 * in a UTF-8 locale, which ledgerctl cannot count on having. */
static size_t code_point_width(uint32_t code_point)
{
    static const struct {
        uint32_t first, last;
    } zero[] =
        {
            {0x0300, 0x036F}, {0x0483, 0x0489}, {0x0591, 0x05BD}, {0x0610, 0x061A},
            {0x064B, 0x065F}, {0x1AB0, 0x1AFF}, {0x1DC0, 0x1DFF}, {0x200B, 0x200F},
            {0x20D0, 0x20FF}, {0xFE00, 0xFE0F}, {0xFE20, 0xFE2F},
        },
      wide[] = {
          {0x1100, 0x115F},   {0x2E80, 0x303E},   {0x3041, 0x33FF},   {0x3400, 0x4DBF},
          {0x4E00, 0x9FFF},   {0xA000, 0xA4CF},   {0xA960, 0xA97F},   {0xAC00, 0xD7A3},
          {0xF900, 0xFAFF},   {0xFE10, 0xFE19},   {0xFE30, 0xFE6F},   {0xFF00, 0xFF60},
          {0xFFE0, 0xFFE6},   {0x1F300, 0x1F64F}, {0x1F900, 0x1F9FF}, {0x20000, 0x2FFFD},
          {0x30000, 0x3FFFD},
      };
    for (size_t i = 0; i < sizeof zero / sizeof zero[0]; i++) {
        if (code_point >= zero[i].first && code_point <= zero[i].last) {
            return 0;
        }
    }
    for (size_t i = 0; i < sizeof wide / sizeof wide[0]; i++) {
        if (code_point >= wide[i].first && code_point <= wide[i].last) {
            return 2;
        }
    }
    return 1;
}

/* The code point at s (NUL-terminated, not at its end): its length in
 * bytes, and in *width the columns it takes; a byte that starts no
 * well-formed UTF-8 sequence is one column, as a terminal shows it. */
static size_t code_point_step(const char *s, size_t *width)
{
    uint32_t code_point = 0;
    size_t length = ledger_utf8_decode((const unsigned char *)s, &code_point);
    if (length == 0) {
        *width = 1;
        return 1;
    }
    *width = code_point_width(code_point);
    return length;
}

/* Width on a terminal, in columns: what a table pads to. */
static size_t display_width(const char *text)
{
    size_t width = 0;
    for (const char *c = text; *c != '\0';) {
        size_t columns = 0;
        c += code_point_step(c, &columns);
        width += columns;
    }
    return width;
}

/* Cuts a table cell wider than width_max (at least 4) columns to at most
 * that many, the last three "...", between code points. There is room for
 * "..." and its NUL where the cut falls: what follows it is at least four
 * columns wide, and no code point is wider in columns than in bytes. */
static void cell_cut(char *text, size_t width_max)
{
    if (display_width(text) <= width_max) {
        return;
    }
    size_t width = 0;
    for (char *c = text; *c != '\0';) {
        size_t columns = 0;
        size_t length = code_point_step(c, &columns);
        if (width + columns > width_max - 3) {
            memcpy(c, "...", 4);
            return;
        }
        width += columns;
        c += length;
    }
}

/* The length in bytes of what starts at s (NUL-terminated, not at its end):
 * a code point, or one byte that starts no well-formed UTF-8 sequence; and
 * in *control whether a terminal must not get it: a C0 control (but a line
 * feed when keep_lines), DEL, a C1 control (U+0080..U+009F, which terminals
 * also take as escape sequences: U+009B is CSI) or such a byte (which an
 * 8-bit terminal reads as C1); or a line or paragraph separator or a
 * bidirectional formatting character, which would reorder what the line
 * shows around it (the characters no new name may hold, ledger_ids.h; older
 * names may). */
static size_t text_step(const char *s, bool keep_lines, bool *control)
{
    uint32_t code_point = 0;
    size_t length = ledger_utf8_decode((const unsigned char *)s, &code_point);
    if (length == 0) {
        *control = true;
        return 1;
    }
    *control = !(keep_lines && code_point == '\n') && ledger_name_char_refused(code_point, true);
    return length;
}

void ctl_text_clean(char *text, bool keep_lines)
{
    char *to = text;
    for (const char *from = text; *from != '\0';) {
        bool control = false;
        size_t length = text_step(from, keep_lines, &control);
        if (control) {
            *to++ = '?';
        } else {
            memmove(to, from, length);
            to += length;
        }
        from += length;
    }
    *to = '\0';
}

/* Prints "label value" and a line end, value (from a reply) shown as
 * ctl_text_clean shows it. */
static void print_clean_line(FILE *out, const char *label, const char *value)
{
    fputs(label, out);
    for (const char *from = value; *from != '\0';) {
        bool control = false;
        size_t length = text_step(from, false, &control);
        if (control) {
            fputc('?', out);
        } else {
            fwrite(from, 1, length, out);
        }
        from += length;
    }
    fputc('\n', out);
}

/* Makes text fit for a table: control characters, which would break the
 * alignment and could rewrite the terminal, shown as '?', and the text cut
 * as cell_cut does. */
static void cell_clean(char *text)
{
    ctl_text_clean(text, false);
    cell_cut(text, TABLE_CELL_MAX);
}

static void print_padded(FILE *out, const char *text, size_t width, bool last)
{
    fputs(text, out);
    if (!last) {
        for (size_t i = display_width(text); i < width + 2; i++) {
            fputc(' ', out);
        }
    }
}

/* One CSV field: guard (written first, inside the quotes if any) and
 * text, quoted when text holds a comma, quote, CR or LF. */
static void csv_field(FILE *out, const char *guard, const char *text)
{
    bool quoted = strpbrk(text, ",\"\r\n") != NULL;
    if (quoted) {
        fputc('"', out);
    }
    fputs(guard, out);
    for (const char *c = text; *c != '\0'; c++) {
        if (quoted && *c == '"') {
            fputc('"', out);
        }
        fputc(*c, out);
    }
    if (quoted) {
        fputc('"', out);
    }
}

void ctl_csv_field(FILE *out, const char *text)
{
    csv_field(out, "", text);
}

void ctl_csv_text_field(FILE *out, const char *text)
{
    /* The characters spreadsheets (Excel, LibreOffice, Google Sheets) start
     * a formula with, as OWASP's "CSV Injection" lists them. */
    bool formula = text[0] != '\0' && strchr("=+-@\t\r", text[0]) != NULL;
    csv_field(out, formula ? "'" : "", text);
}

/* ------------------------------------------------------------------------ */
/* Views. */

static enum ledger_err print_table(FILE *out, json_t *rows, const struct ctl_column *columns,
                                   size_t column_count)
{
    enum ledger_err err = LEDGER_ERR_NO_MEMORY;
    size_t row_count = json_array_size(rows);
    char **cells = calloc((row_count + 1) * column_count, sizeof *cells);
    size_t *widths = calloc(column_count, sizeof *widths);
    if (cells == NULL || widths == NULL) {
        goto cleanup;
    }
    for (size_t c = 0; c < column_count; c++) {
        widths[c] = display_width(columns[c].header);
    }
    for (size_t r = 0; r < row_count; r++) {
        for (size_t c = 0; c < column_count; c++) {
            char *text =
                cell_text(json_path(json_array_get(rows, r), columns[c].path), columns[c].flags);
            if (text == NULL) {
                goto cleanup;
            }
            cell_clean(text);
            cells[r * column_count + c] = text;
            size_t width = display_width(text);
            if (width > widths[c]) {
                widths[c] = width;
            }
        }
    }
    for (size_t c = 0; c < column_count; c++) {
        print_padded(out, columns[c].header, widths[c], c + 1 == column_count);
    }
    fputc('\n', out);
    for (size_t r = 0; r < row_count; r++) {
        for (size_t c = 0; c < column_count; c++) {
            print_padded(out, cells[r * column_count + c], widths[c], c + 1 == column_count);
        }
        fputc('\n', out);
    }
    err = ctl_output_status(out);
cleanup:
    if (cells != NULL) {
        for (size_t i = 0; i < (row_count + 1) * column_count; i++) {
            free(cells[i]);
        }
    }
    free(cells);
    free(widths);
    return err;
}

static void print_csv_record_end(FILE *out)
{
    fputs("\r\n", out);
}

static enum ledger_err print_csv(FILE *out, json_t *rows, const struct ctl_column *columns,
                                 size_t column_count)
{
    for (size_t c = 0; c < column_count; c++) {
        if (c > 0) {
            fputc(',', out);
        }
        if ((columns[c].flags & CTL_COLUMN_MONEY) != 0) {
            fprintf(out, "%s.amount,%s.currency", columns[c].path, columns[c].path);
        } else {
            ctl_csv_field(out, columns[c].path);
        }
    }
    print_csv_record_end(out);
    for (size_t r = 0; r < json_array_size(rows); r++) {
        json_t *row = json_array_get(rows, r);
        for (size_t c = 0; c < column_count; c++) {
            json_t *value = json_path(row, columns[c].path);
            if (c > 0) {
                fputc(',', out);
            }
            if ((columns[c].flags & CTL_COLUMN_MONEY) != 0) {
                const char *amount = json_string_value(json_object_get(value, "amount"));
                const char *currency = json_string_value(json_object_get(value, "currency"));
                ctl_csv_field(out, amount != NULL ? amount : "");
                fputc(',', out);
                ctl_csv_field(out, currency != NULL ? currency : "");
                continue;
            }
            char *text = cell_text(value, 0);
            if (text == NULL) {
                return LEDGER_ERR_NO_MEMORY;
            }
            if ((columns[c].flags & CTL_COLUMN_FREE_TEXT) != 0) {
                ctl_csv_text_field(out, text);
            } else {
                ctl_csv_field(out, text);
            }
            free(text);
        }
        print_csv_record_end(out);
    }
    return ctl_output_status(out);
}

/* A JSON array of rows as the format asks: a JSON document {key: rows, extras},
 * CSV with a header, or an aligned table followed by one "name: value" line per
 * extra (a text extra that is empty is left out). */
static enum ledger_err emit_rows(FILE *out, enum ctl_format format, const char *key, json_t *rows,
                                 const struct ctl_column *columns, size_t column_count,
                                 const struct ctl_extra *extras, size_t extra_count)
{
    enum ledger_err err = LEDGER_ERR_OK;
    switch (format) {
    case CTL_FORMAT_JSON: {
        json_t *document = json_object();
        if (document == NULL) {
            return LEDGER_ERR_NO_MEMORY;
        }
        json_object_set(document, key, rows);
        add_extras(document, extras, extra_count);
        err = dump_document(out, document, false);
        json_decref(document);
        break;
    }
    case CTL_FORMAT_CSV:
        err = print_csv(out, rows, columns, column_count);
        break;
    case CTL_FORMAT_TABLE:
        err = print_table(out, rows, columns, column_count);
        for (size_t i = 0; err == LEDGER_ERR_OK && i < extra_count; i++) {
            char buffer[32];
            const char *text = extra_text(&extras[i], buffer);
            if (text[0] != '\0') {
                char label[64];
                snprintf(label, sizeof label, "%s: ", extras[i].name);
                print_clean_line(out, label, text);
            }
        }
        break;
    }
    return err;
}

enum ledger_err ctl_output_rows(FILE *out, enum ctl_format format, const char *key,
                                const ProtobufCMessage *const *rows, size_t count,
                                const struct ctl_column *columns, size_t column_count,
                                const struct ctl_extra *extras, size_t extra_count)
{
    enum ledger_err err = LEDGER_ERR_NO_MEMORY;
    json_t *array = json_array();
    if (array == NULL) {
        return LEDGER_ERR_NO_MEMORY;
    }
    for (size_t i = 0; i < count; i++) {
        json_t *row = message_to_json(rows[i], 0);
        if (row == NULL || json_array_append_new(array, row) != 0) {
            goto cleanup;
        }
    }
    err = emit_rows(out, format, key, array, columns, column_count, extras, extra_count);
cleanup:
    json_decref(array);
    return err;
}

/* ------------------------------------------------------------------------ */
/* Single messages: one line per leaf. */

static void print_leaves(FILE *out, enum ctl_format format, const char *prefix, json_t *value,
                         unsigned depth)
{
    char path[256];
    if (depth < JSON_DEPTH_MAX && json_is_object(value) &&
        json_object_get(value, "amount_minor") == NULL) {
        const char *name;
        json_t *member;
        json_object_foreach(value, name, member)
        {
            snprintf(path, sizeof path, "%s%s%s", prefix, prefix[0] != '\0' ? "." : "", name);
            print_leaves(out, format, path, member, depth + 1);
        }
        return;
    }
    if (depth < JSON_DEPTH_MAX && json_is_array(value)) {
        for (size_t i = 0; i < json_array_size(value); i++) {
            snprintf(path, sizeof path, "%s[%zu]", prefix, i);
            print_leaves(out, format, path, json_array_get(value, i), depth + 1);
        }
        return;
    }
    char *text = cell_text(value, 0);
    if (text == NULL) {
        return;
    }
    if (format == CTL_FORMAT_CSV) {
        ctl_csv_field(out, prefix);
        fputc(',', out);
        ctl_csv_field(out, text);
        print_csv_record_end(out);
    } else {
        fprintf(out, "%-40s  %s\n", prefix, text);
    }
    free(text);
}

/* ------------------------------------------------------------------------ */
/* Events. */

static const char *event_type(const Ledger__V1__Event *event)
{
    const ProtobufCFieldDescriptor *field = protobuf_c_message_descriptor_get_field(
        &ledger__v1__event__descriptor, (unsigned)event->body_case);
    return field != NULL ? field->name : "";
}

/* An inclusion proof's leaf hash, then its path: in CSV the leaf hash and
 * the path as two fields (the path's hashes separated by spaces); in a
 * table the path follows on the same line. */
static void print_proof_hashes(FILE *out, const Ledger__V1__InclusionProof *proof, char style)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < proof->leaf_hash.len; i++) {
        fputc(digits[proof->leaf_hash.data[i] >> 4], out);
        fputc(digits[proof->leaf_hash.data[i] & 15], out);
    }
    fputs(style == ' ' ? "," : ", path", out);
    for (size_t p = 0; p < proof->n_path; p++) {
        if (p > 0 || style != ' ') {
            fputc(' ', out);
        }
        for (size_t i = 0; i < proof->path[p].len; i++) {
            fputc(digits[proof->path[p].data[i] >> 4], out);
            fputc(digits[proof->path[p].data[i] & 15], out);
        }
    }
    if (style != ' ' && proof->n_path == 0) {
        fputs(" (empty)", out);
    }
}

/* The CSV feed's header record, and the columns --proofs adds to it. */
#define EVENT_CSV_HEADER        "sequence,recorded,business,type,partner_id,customer_id,actor,command_id"
#define EVENT_CSV_PROOF_COLUMNS ",proof_tree_size,proof_leaf_hash,proof_path"

/* The header line of a table or CSV feed, once (JSON lines have none);
 * with proofs, CSV names the proof columns too. */
static void event_header(struct ctl_event_stream *stream, bool proofs)
{
    if (stream->header_done || stream->format == CTL_FORMAT_JSON) {
        return;
    }
    if (stream->format == CTL_FORMAT_CSV) {
        fputs(EVENT_CSV_HEADER, stream->out);
        if (proofs) {
            fputs(EVENT_CSV_PROOF_COLUMNS, stream->out);
        }
        print_csv_record_end(stream->out);
    } else {
        fprintf(stream->out, "%-8s  %-27s  %-27s  %-28s  %-*s  %-*s  %-*s  %s\n", "SEQUENCE",
                "RECORDED", "DATED", "TYPE", EVENT_PARTNER_WIDTH, "PARTNER", EVENT_CUSTOMER_WIDTH,
                "CUSTOMER", EVENT_ACTOR_WIDTH, "ACTOR", "COMMAND");
    }
    stream->header_done = true;
}

enum ledger_err ctl_output_event_header(struct ctl_event_stream *stream, bool proofs)
{
    event_header(stream, proofs);
    fflush(stream->out);
    return ctl_output_status(stream->out);
}

enum ledger_err ctl_output_event(struct ctl_event_stream *stream,
                                 const Ledger__V1__EventEntry *entry)
{
    const Ledger__V1__Event *event = entry->event;
    FILE *out = stream->out;
    char recorded[CTL_TIME_TEXT_SIZE], dated[CTL_TIME_TEXT_SIZE];
    ctl_time_format(event->recorded_us, recorded);
    /* When it happened: a record of an older build without a business time
     * is dated when it was recorded (docs/events.md, business_us). */
    ctl_time_format(event->business_us != 0 ? event->business_us : event->recorded_us, dated);
    const char *customer = event->customer_id != NULL ? event->customer_id : "";
    const char *actor = event->actor != NULL && event->actor->principal_id != NULL
                            ? event->actor->principal_id
                            : "";
    const char *command = event->command_id != NULL ? event->command_id : "";
    switch (stream->format) {
    case CTL_FORMAT_JSON: {
        json_t *line = json_pack("{s:s}", "type", event_type(event));
        json_t *body = message_to_json(&event->base, 0);
        if (line == NULL || body == NULL) {
            json_decref(line);
            json_decref(body);
            return LEDGER_ERR_NO_MEMORY;
        }
        json_object_update(line, body);
        json_decref(body);
        if (entry->proof != NULL) {
            json_object_set_new(line, "record", bytes_to_json(&entry->record));
            json_object_set_new(line, "proof", message_to_json(&entry->proof->base, 0));
        }
        enum ledger_err err = dump_document(out, line, true);
        json_decref(line);
        /* A follower's reader sees each event as soon as it is delivered. */
        fflush(out);
        return err != LEDGER_ERR_OK ? err : ctl_output_status(out);
    }
    case CTL_FORMAT_CSV:
        event_header(stream, entry->proof != NULL);
        fprintf(out, "%llu,%s,%s,%s,", (unsigned long long)event->sequence, recorded, dated,
                event_type(event));
        ctl_csv_field(out, event->partner_id != NULL ? event->partner_id : "");
        fputc(',', out);
        ctl_csv_field(out, customer);
        fputc(',', out);
        ctl_csv_field(out, actor);
        fputc(',', out);
        ctl_csv_field(out, command);
        if (entry->proof != NULL) {
            fprintf(out, ",%llu,", (unsigned long long)entry->proof->tree_size);
            print_proof_hashes(out, entry->proof, ' ');
        }
        print_csv_record_end(out);
        break;
    case CTL_FORMAT_TABLE: {
        /* Fixed widths: events are printed as they arrive, so the widths
         * cannot be measured first; an id longer than its column is cut to
         * it (EVENT_PARTNER_WIDTH), so that the next columns stay in place,
         * and padded by its width on a terminal. The ids come from the
         * reply, which carries no MAC: cleaned as every table cell is. */
        static const size_t widths[4] = {EVENT_PARTNER_WIDTH, EVENT_CUSTOMER_WIDTH,
                                         EVENT_ACTOR_WIDTH, TABLE_CELL_MAX};
        char cells[4][EVENT_CELL_SIZE];
        const char *values[4] = {event->partner_id != NULL ? event->partner_id : "", customer,
                                 actor, command};
        event_header(stream, entry->proof != NULL);
        fprintf(out, "%-8llu  %-27s  %-27s  %-28s  ", (unsigned long long)event->sequence, recorded,
                dated, event_type(event));
        for (size_t i = 0; i < 4; i++) {
            snprintf(cells[i], sizeof cells[i], "%s", values[i]);
            ctl_text_clean(cells[i], false);
            cell_cut(cells[i], widths[i]);
            print_padded(out, cells[i], widths[i], i == 3);
        }
        fputc('\n', out);
        if (entry->proof != NULL) {
            fprintf(out, "          proof: tree size %llu, leaf ",
                    (unsigned long long)entry->proof->tree_size);
            print_proof_hashes(out, entry->proof, '\n');
            fputc('\n', out);
        }
        break;
    }
    }
    fflush(out);
    return ctl_output_status(out);
}

enum ledger_err ctl_output_sync(FILE *out)
{
    struct stat info;
    int fd = fileno(out);
    if (fflush(out) != 0 || fd < 0 || fstat(fd, &info) != 0) {
        return LEDGER_ERR_IO_ERROR;
    }
    if (!S_ISREG(info.st_mode)) {
        return LEDGER_ERR_OK;
    }
    int synced;
    do {
        synced = fdatasync(fd);
    } while (synced != 0 && errno == EINTR);
    return synced == 0 ? LEDGER_ERR_OK : LEDGER_ERR_IO_ERROR;
}

/* When out is a regular file that holds data before the position the next
 * write goes to (its end with O_APPEND: >> FILE), a descriptor to read it
 * back through in *reader_out, and that position in *end_out: out's own
 * descriptor when it is open for reading, else a new one of the same file,
 * since stdout is usually write-only (close it with reader_close). Else -1
 * in *reader_out (also when the file cannot be read back). IO_ERROR when
 * out cannot be flushed. */
static enum ledger_err reader_open(FILE *out, int *reader_out, off_t *end_out)
{
    struct stat info;
    int fd = fileno(out);
    *reader_out = -1;
    if (fflush(out) != 0 || fd < 0) {
        return LEDGER_ERR_IO_ERROR;
    }
    int flags = fcntl(fd, F_GETFL);
    if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode) || flags < 0) {
        return LEDGER_ERR_OK;
    }
    off_t end = (flags & O_APPEND) != 0 ? info.st_size : lseek(fd, 0, SEEK_CUR);
    if (end <= 0) {
        return LEDGER_ERR_OK;
    }
    if ((flags & O_ACCMODE) == O_RDWR) {
        *reader_out = fd;
    } else {
        char path[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        *reader_out = open(path, O_RDONLY | O_CLOEXEC);
    }
    *end_out = end;
    return LEDGER_ERR_OK;
}

static void reader_close(int reader, FILE *out)
{
    if (reader >= 0 && reader != fileno(out)) {
        close(reader);
    }
}

/* The name of out's file in a message: its path (control characters shown
 * as '?'), or "stdout" when it has none. */
void ctl_output_name(FILE *out, char *name, size_t name_size)
{
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fileno(out));
    ssize_t length = name_size > 1 ? readlink(link, name, name_size - 1) : -1;
    if (length > 0) {
        name[length] = '\0';
    } else {
        snprintf(name, name_size, "%s", "stdout");
    }
    ctl_text_clean(name, false);
}

/* The offset just after the last line end before `end` in the file read
 * through reader: 0 when it has none, `end` when the byte before `end` is
 * one; -1 when it cannot be read. */
static off_t line_start_before(int reader, off_t end)
{
    char chunk[8192];
    /* Bounded by the file: one chunk less each time. */
    for (off_t at = end; at > 0;) {
        size_t want = at < (off_t)sizeof chunk ? (size_t)at : sizeof chunk;
        if (pread(reader, chunk, want, at - (off_t)want) != (ssize_t)want) {
            return -1;
        }
        for (size_t i = want; i > 0; i--) {
            if (chunk[i - 1] == '\n') {
                return at - (off_t)want + (off_t)i;
            }
        }
        at -= (off_t)want;
    }
    return 0;
}

static bool begins_as(const char *bytes, size_t length, const char *text)
{
    size_t compared = length < strlen(text) ? length : strlen(text);
    return memcmp(bytes, text, compared) == 0;
}

/* Whether bytes (length > 0), the start of a line without its line end,
 * begin as the feed's lines in format do after its first: an event (a JSON
 * object; a record or table line starting with the sequence), a table's
 * header, proof or verified line. A crash may also leave zeros where the
 * bytes that never reached the disk were. */
static bool feed_line_begins(enum ctl_format format, const char *bytes, size_t length)
{
    if (bytes[0] == '\0') {
        return true;
    }
    switch (format) {
    case CTL_FORMAT_JSON:
        return bytes[0] == '{';
    case CTL_FORMAT_CSV:
        return bytes[0] >= '0' && bytes[0] <= '9';
    case CTL_FORMAT_TABLE:
        return (bytes[0] >= '0' && bytes[0] <= '9') || bytes[0] == ' ' ||
               begins_as(bytes, length, "SEQUENCE") || begins_as(bytes, length, "verified: ");
    }
    return false;
}

/* What a feed appended to out finds at its end: the cut line to remove, from
 * *start_out (after the last line end) to *end_out (the write position);
 * *start_out == *end_out when the file ends in a line end, is empty, is no
 * regular file or cannot be read back. A CSV file must begin with the header
 * record the feed writes (with the proof columns when `proofs`), or hold
 * only a cut one. USAGE with a sentence in message when it does not, or when
 * the cut line does not begin as a line of the feed does (not a feed cut
 * off: left as it is); IO_ERROR when out cannot be flushed. */
static enum ledger_err cut_line_find(FILE *out, enum ctl_format format, bool proofs,
                                     off_t *start_out, off_t *end_out, char *message,
                                     size_t message_size)
{
    int reader = -1;
    off_t end = 0;
    if (reader_open(out, &reader, &end) != LEDGER_ERR_OK) {
        snprintf(message, message_size, "cannot write the output: %s", strerror(errno));
        return LEDGER_ERR_IO_ERROR;
    }
    if (reader < 0) {
        *start_out = *end_out = end; /* nothing to check, or nothing to compare */
        return LEDGER_ERR_OK;
    }
    off_t start = line_start_before(reader, end);
    char header[sizeof EVENT_CSV_HEADER EVENT_CSV_PROOF_COLUMNS + 2];
    snprintf(header, sizeof header, "%s%s\r\n", EVENT_CSV_HEADER,
             proofs ? EVENT_CSV_PROOF_COLUMNS : "");
    size_t length = strlen(header);
    char first[sizeof header];
    ssize_t got = pread(reader, first, length, 0);
    char begin[16];
    ssize_t begun =
        start >= 0 && start < end
            ? pread(reader, begin,
                    sizeof begin < (size_t)(end - start) ? sizeof begin : (size_t)(end - start),
                    start)
            : 0;
    reader_close(reader, out);
    char name[PATH_MAX];
    /* A CSV file that holds only part of the header record, without its
     * line end, is a feed cut off while it wrote its header. */
    bool cut_header = format == CTL_FORMAT_CSV && start == 0 && got > 0 && got == end &&
                      memcmp(first, header, (size_t)got) == 0;
    if (format == CTL_FORMAT_CSV && !cut_header &&
        (got != (ssize_t)length || memcmp(first, header, length) != 0)) {
        ctl_output_name(out, name, sizeof name);
        header[length - 2] = '\0';
        snprintf(message, message_size,
                 "%.160s does not begin with this feed's CSV header record (%s): the records "
                 "appended would not line up with its columns (an older build's feed, or other "
                 "data); append the feed to a new file instead (--checkpoint resumes it there)",
                 name, header);
        return LEDGER_ERR_USAGE;
    }
    if (start < 0 || start == end) {
        *start_out = *end_out = end; /* cannot be read back, or no cut line */
        return LEDGER_ERR_OK;
    }
    if (!cut_header && (begun <= 0 || !feed_line_begins(format, begin, (size_t)begun))) {
        ctl_output_name(out, name, sizeof name);
        snprintf(message, message_size,
                 "%.160s ends in %lld bytes after its last line end that do not begin as a line "
                 "of this feed does: not a feed cut off, so they are left as they are; append "
                 "the feed to a new file instead (--checkpoint resumes it there), or end that "
                 "line yourself",
                 name, (long long)(end - start));
        return LEDGER_ERR_USAGE;
    }
    *start_out = start;
    *end_out = end;
    return LEDGER_ERR_OK;
}

enum ledger_err ctl_output_event_resume(struct ctl_event_stream *stream, bool proofs, char *message,
                                        size_t message_size)
{
    off_t start = 0, end = 0;
    enum ledger_err err =
        cut_line_find(stream->out, stream->format, proofs, &start, &end, message, message_size);
    /* Whatever the file holds before its cut line, it has a first line
     * already: the feed never writes a second header record into its
     * middle. */
    stream->header_done = err == LEDGER_ERR_OK && stream->format == CTL_FORMAT_CSV && start > 0;
    return err;
}

enum ledger_err ctl_output_event_repair(struct ctl_event_stream *stream, bool proofs,
                                        uint64_t *removed_out, char *message, size_t message_size)
{
    off_t start = 0, end = 0;
    enum ledger_err err =
        cut_line_find(stream->out, stream->format, proofs, &start, &end, message, message_size);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    if (start == end) {
        *removed_out = 0;
        return LEDGER_ERR_OK;
    }
    /* Removed, not ended: a record cut inside its last field would look
     * whole with a wrong value, and a cut JSON line stops a parser; its
     * event follows the checkpoint (which moves only once a page is on the
     * disk) and is printed again, whole. With O_APPEND (>> FILE) the next
     * write goes to the new end; without it, to the position set here. */
    int fd = fileno(stream->out);
    int cut;
    do {
        cut = ftruncate(fd, start);
    } while (cut != 0 && errno == EINTR);
    if (cut != 0 || fseeko(stream->out, start, SEEK_SET) != 0) {
        int reason = errno;
        char name[PATH_MAX];
        ctl_output_name(stream->out, name, sizeof name);
        snprintf(message, message_size,
                 "cannot remove the cut line at the end of %.160s (its last %lld bytes, after its "
                 "last line end): %s; nothing was printed and the checkpoint was left as it was: "
                 "append the feed to a file it may cut back, opened for writing (>> FILE), or "
                 "remove those bytes yourself (truncate -s %lld FILE) and run it again",
                 name, (long long)(end - start),
                 reason == EINVAL || reason == EBADF ? "it is not open for writing"
                                                     : strerror(reason),
                 (long long)start);
        return LEDGER_ERR_IO_ERROR;
    }
    /* On the disk before anything new is appended, as every page is before
     * the checkpoint names it. */
    if (ctl_output_sync(stream->out) != LEDGER_ERR_OK) {
        int reason = errno;
        char name[PATH_MAX];
        ctl_output_name(stream->out, name, sizeof name);
        snprintf(message, message_size,
                 "cannot make the removal of the cut line at the end of %.160s durable: %s; "
                 "nothing was printed and the checkpoint was left as it was: run the feed again",
                 name, strerror(reason));
        return LEDGER_ERR_IO_ERROR;
    }
    stream->header_done = stream->format == CTL_FORMAT_CSV && start > 0;
    *removed_out = (uint64_t)(end - start);
    return LEDGER_ERR_OK;
}

/* ------------------------------------------------------------------------ */
/* Write results. */

enum ledger_err ctl_output_write_result(FILE *out, enum ctl_format format,
                                        const char *const *command_ids,
                                        const Ledger__V1__Reply *reply,
                                        const struct ctl_extra *extras, size_t extra_count)
{
    json_t *results = json_array();
    if (results == NULL) {
        return LEDGER_ERR_NO_MEMORY;
    }
    for (size_t i = 0; i < reply->n_results; i++) {
        json_t *result = json_pack("{s:s}", "command_id", command_ids[i]);
        json_t *fields = message_to_json(&reply->results[i]->base, 0);
        if (result == NULL || fields == NULL) {
            json_decref(result);
            json_decref(fields);
            json_decref(results);
            return LEDGER_ERR_NO_MEMORY;
        }
        json_object_update(result, fields);
        json_decref(fields);
        json_array_append_new(results, result);
    }
    enum ledger_err err = LEDGER_ERR_OK;
    if (format == CTL_FORMAT_JSON) {
        json_t *document = json_pack("{s:O, s:I}", "results", results, "head_sequence",
                                     (json_int_t)reply->head_sequence);
        if (document == NULL) {
            json_decref(results);
            return LEDGER_ERR_NO_MEMORY;
        }
        add_extras(document, extras, extra_count);
        err = dump_document(out, document, false);
        json_decref(document);
    } else if (format == CTL_FORMAT_CSV) {
        static const char *const fields[] = {"command_id",      "first_sequence", "last_sequence",
                                             "stream_version",  "order_id",       "reservation_id",
                                             "savings_plan_id", "duplicate"};
        size_t field_count = sizeof fields / sizeof fields[0];
        for (size_t f = 0; f < field_count; f++) {
            fprintf(out, "%s%s", f > 0 ? "," : "", fields[f]);
        }
        /* The extras, as JSON has them beside the results: columns of
         * their own, the same in every record. */
        for (size_t e = 0; e < extra_count; e++) {
            fputc(',', out);
            ctl_csv_field(out, extras[e].name);
        }
        print_csv_record_end(out);
        for (size_t i = 0; i < json_array_size(results); i++) {
            for (size_t f = 0; f < field_count; f++) {
                char *text = cell_text(json_object_get(json_array_get(results, i), fields[f]), 0);
                if (f > 0) {
                    fputc(',', out);
                }
                ctl_csv_field(out, text != NULL ? text : "");
                free(text);
            }
            for (size_t e = 0; e < extra_count; e++) {
                char buffer[32];
                fputc(',', out);
                ctl_csv_field(out, extra_text(&extras[e], buffer));
            }
            print_csv_record_end(out);
        }
    } else {
        for (size_t i = 0; i < reply->n_results; i++) {
            const Ledger__V1__CommandResult *result = reply->results[i];
            if (result->first_sequence == 0) {
                fprintf(out, "%s: committed, no events\n", command_ids[i]);
            } else if (result->first_sequence == result->last_sequence) {
                fprintf(out, "%s: committed as sequence %llu", command_ids[i],
                        (unsigned long long)result->first_sequence);
            } else {
                fprintf(out, "%s: committed as sequences %llu..%llu", command_ids[i],
                        (unsigned long long)result->first_sequence,
                        (unsigned long long)result->last_sequence);
            }
            if (result->first_sequence != 0) {
                fprintf(out, " (stream version %llu)%s\n",
                        (unsigned long long)result->stream_version,
                        result->duplicate ? ", an earlier identical command: nothing new" : "");
            }
            if (result->order_id != NULL && result->order_id[0] != '\0') {
                print_clean_line(out, "  order_id         ", result->order_id);
            }
            if (result->reservation_id != NULL && result->reservation_id[0] != '\0') {
                print_clean_line(out, "  reservation_id   ", result->reservation_id);
            }
            if (result->savings_plan_id != NULL && result->savings_plan_id[0] != '\0') {
                print_clean_line(out, "  savings_plan_id  ", result->savings_plan_id);
            }
        }
        for (size_t i = 0; i < extra_count; i++) {
            char buffer[32], label[64];
            snprintf(label, sizeof label, "  %-16s ", extras[i].name);
            print_clean_line(out, label, extra_text(&extras[i], buffer));
        }
    }
    json_decref(results);
    if (err == LEDGER_ERR_OK) {
        err = ctl_output_status(out);
    }
    return err;
}

static void print_extra_lines(FILE *out, enum ctl_format format, const struct ctl_extra *extras,
                              size_t extra_count)
{
    for (size_t i = 0; i < extra_count; i++) {
        char buffer[32];
        const char *text = extra_text(&extras[i], buffer);
        if (format == CTL_FORMAT_CSV) {
            ctl_csv_field(out, extras[i].name);
            fputc(',', out);
            ctl_csv_field(out, text);
            print_csv_record_end(out);
        } else {
            fprintf(out, "%-40s  %s\n", extras[i].name, text);
        }
    }
}

enum ledger_err ctl_output_value(FILE *out, enum ctl_format format, const char *name,
                                 const ProtobufCBinaryData *bytes)
{
    json_t *value = bytes_to_json(bytes);
    if (value == NULL) {
        return LEDGER_ERR_NO_MEMORY;
    }
    enum ledger_err err = LEDGER_ERR_OK;
    if (format == CTL_FORMAT_JSON) {
        json_t *document = json_object();
        if (document == NULL) {
            json_decref(value);
            return LEDGER_ERR_NO_MEMORY;
        }
        json_object_set(document, name, value);
        err = dump_document(out, document, false);
        json_decref(document);
    } else {
        if (format == CTL_FORMAT_CSV) {
            /* CSV as every other field,value output: a header and CRLF. */
            const struct ctl_extra record = {name, json_string_value(value), 0, false};
            fputs("field,value", out);
            print_csv_record_end(out);
            print_extra_lines(out, format, &record, 1);
        } else {
            fprintf(out, "%s\n", json_string_value(value));
        }
        err = ctl_output_status(out);
    }
    json_decref(value);
    return err;
}

void ctl_output_error(FILE *out, FILE *err, enum ctl_error_document document, enum ledger_err code,
                      const char *message)
{
    const char *text = message != NULL && message[0] != '\0' ? message : ledger_strerror(code);
    fprintf(err, "error: %s: %s\n", ledger_err_name(code), text);
    if (document != CTL_ERROR_DOCUMENT_NONE) {
        char *repaired = utf8_repaired(text);
        json_t *value = repaired == NULL ? NULL
                                         : json_pack("{s:{s:s, s:s}}", "error", "code",
                                                     ledger_err_name(code), "message", repaired);
        free(repaired);
        if (value != NULL) {
            bool one_line = document == CTL_ERROR_DOCUMENT_ERR_LINE;
            (void)dump_document(one_line ? err : out, value, one_line);
            json_decref(value);
        }
    }
    fflush(out);
    fflush(err);
}

/* ------------------------------------------------------------------------ */
/* Messages with extras, and records of text cells. */

enum ledger_err ctl_output_message_extras(FILE *out, enum ctl_format format, const char *key,
                                          const ProtobufCMessage *message,
                                          const struct ctl_extra *extras, size_t extra_count)
{
    json_t *value = message_to_json(message, 0);
    if (value == NULL) {
        return LEDGER_ERR_NO_MEMORY;
    }
    enum ledger_err err;
    if (format == CTL_FORMAT_JSON) {
        json_t *document = json_object();
        if (document == NULL) {
            json_decref(value);
            return LEDGER_ERR_NO_MEMORY;
        }
        json_object_set(document, key, value);
        add_extras(document, extras, extra_count);
        err = dump_document(out, document, false);
        json_decref(document);
    } else {
        if (format == CTL_FORMAT_CSV) {
            fputs("field,value", out);
            print_csv_record_end(out);
        }
        print_leaves(out, format, "", value, 0);
        print_extra_lines(out, format, extras, extra_count);
        err = ctl_output_status(out);
    }
    json_decref(value);
    return err;
}

enum ledger_err ctl_output_records(FILE *out, enum ctl_format format, const char *key,
                                   const char *const *names, const enum ctl_cell_kind *kinds,
                                   size_t name_count, const char *const *cells, size_t row_count,
                                   const struct ctl_extra *extras, size_t extra_count)
{
    enum ledger_err err = LEDGER_ERR_NO_MEMORY;
    json_t *rows = json_array();
    struct ctl_column *columns = calloc(name_count, sizeof *columns);
    char *headers = calloc(name_count, 64);
    if (rows == NULL || columns == NULL || headers == NULL) {
        goto cleanup;
    }
    for (size_t r = 0; r < row_count; r++) {
        json_t *row = json_object();
        if (row == NULL || json_array_append_new(rows, row) != 0) {
            goto cleanup;
        }
        for (size_t c = 0; c < name_count; c++) {
            const char *text = cells[r * name_count + c];
            json_t *value = NULL;
            if (text == NULL) {
                text = "";
            }
            enum ctl_cell_kind kind = kinds != NULL ? kinds[c] : CTL_CELL_TEXT;
            if ((kind == CTL_CELL_NUMBER || kind == CTL_CELL_BOOLEAN) && text[0] == '\0') {
                value = json_null(); /* text cells, free text too, stay strings */
            } else if (kind == CTL_CELL_NUMBER) {
                value = json_integer(strtoll(text, NULL, 10));
            } else if (kind == CTL_CELL_BOOLEAN) {
                value = json_boolean(strcmp(text, "yes") == 0);
            } else {
                value = text_to_json(text);
            }
            if (value == NULL || json_object_set_new(row, names[c], value) != 0) {
                goto cleanup;
            }
        }
    }
    for (size_t c = 0; c < name_count; c++) {
        char *header = headers + 64 * c;
        size_t length = strlen(names[c]);
        for (size_t i = 0; i < length && i < 63; i++) {
            char ch = names[c][i];
            header[i] = ch >= 'a' && ch <= 'z' ? (char)(ch - 'a' + 'A') : ch;
        }
        columns[c].header = header;
        columns[c].path = names[c];
        columns[c].flags =
            kinds != NULL && kinds[c] == CTL_CELL_FREE_TEXT ? CTL_COLUMN_FREE_TEXT : 0;
    }
    err = emit_rows(out, format, key, rows, columns, name_count, extras, extra_count);
cleanup:
    json_decref(rows);
    free(columns);
    free(headers);
    return err;
}
