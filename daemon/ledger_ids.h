/*
 * ledger_ids.h: what a well-formed id is, defined once for the daemon (codec)
 * and the client library (libledger, which ledgerctl uses): 1 to
 * LEDGER_ID_LENGTH_MAX characters of [A-Za-z0-9.:@-], safe in file names, log
 * lines, index keys and command lines without quoting (docs/protocol.md);
 * what a well-formed SKU or region name is (the same and '_'); and what
 * well-formed UTF-8 is (the daemon's names, ledgerctl's invoice fields); and
 * what a name may hold.
 * Header-only: libledger is built from its own sources and this file.
 */
#ifndef LEDGER_IDS_H
#define LEDGER_IDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ledger_limits.h"

static inline bool ledger_id_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == ':' || c == '@' || c == '-';
}

static inline bool ledger_id_well_formed(const char *id)
{
    if (id == NULL)
        return false;
    size_t length = 0;
    for (; id[length] != '\0'; length++) {
        if (length >= LEDGER_ID_LENGTH_MAX || !ledger_id_char(id[length]))
            return false;
    }
    return length > 0;
}

/* Whether an id holds a principal's secret as it is written
 * (LEDGER_SECRET_BYTES as hex digits), alone or with more around it (the
 * white space of a key file's line or a paste, a "key=" before it): one that
 * names no principal is most likely a secret given where the principal id
 * goes, and is shown as LEDGER_ID_SECRET_SHOWN instead, in the daemon's log
 * and in ledgerctl's messages alike. Asked of the whole id, before any cut:
 * a cut could leave all but a digit of the secret. */
static inline bool ledger_id_looks_like_secret(const char *id)
{
    static const char hex[] = "0123456789abcdefABCDEF";
    while (*id != '\0') {
        size_t run = strspn(id, hex);
        if (run >= 2 * LEDGER_SECRET_BYTES) {
            return true;
        }
        id += run;
        id += strcspn(id, hex);
    }
    return false;
}

#define LEDGER_ID_SECRET_SHOWN "(64 hex digits, not shown: a secret given as the principal id?)"

/* A SKU or region name: an id's characters and '_' ("Standard_D2s_v5"), 1 to
 * LEDGER_SKU_LENGTH_MAX of them. */
static inline bool ledger_sku_well_formed(const char *sku)
{
    if (sku == NULL)
        return false;
    size_t length = 0;
    for (; sku[length] != '\0'; length++) {
        if (length >= LEDGER_SKU_LENGTH_MAX || (sku[length] != '_' && !ledger_id_char(sku[length])))
            return false;
    }
    return length > 0;
}

/* Decodes one UTF-8 sequence at s (NUL-terminated). Returns its length, or 0
 * when it is malformed: truncated, overlong, a surrogate, or past U+10FFFF. */
static inline size_t ledger_utf8_decode(const unsigned char *s, uint32_t *code_point)
{
    if (s[0] < 0x80) {
        *code_point = s[0];
        return 1;
    }
    size_t length;
    uint32_t value, minimum;
    if ((s[0] & 0xE0) == 0xC0) {
        length = 2;
        value = s[0] & 0x1Fu;
        minimum = 0x80;
    } else if ((s[0] & 0xF0) == 0xE0) {
        length = 3;
        value = s[0] & 0x0Fu;
        minimum = 0x800;
    } else if ((s[0] & 0xF8) == 0xF0) {
        length = 4;
        value = s[0] & 0x07u;
        minimum = 0x10000;
    } else {
        return 0;
    }
    for (size_t i = 1; i < length; i++) {
        if ((s[i] & 0xC0) != 0x80) /* also stops at the NUL */
            return 0;
        value = (value << 6) | (s[i] & 0x3Fu);
    }
    if (value < minimum || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF))
        return 0;
    *code_point = value;
    return length;
}

/* Whether text (NUL-terminated) is well-formed UTF-8 throughout. */
static inline bool ledger_utf8_well_formed(const char *text)
{
    const unsigned char *s = (const unsigned char *)text;
    while (*s != '\0') {
        uint32_t code_point = 0;
        size_t length = ledger_utf8_decode(s, &code_point);
        if (length == 0)
            return false;
        s += length;
    }
    return true;
}

/* Characters a name may not hold: C0 controls, DEL and C1 controls, which
 * could forge line breaks or terminal escapes in tables and logs; and, in a
 * new name (`formatting`), the line and paragraph separators (U+2028,
 * U+2029) and the bidirectional formatting characters (U+061C, U+200E,
 * U+200F, U+202A..U+202E, U+2066..U+2069), which reorder what a table or a
 * log line shows around them. */
static inline bool ledger_name_char_refused(uint32_t code_point, bool formatting)
{
    if (code_point < 0x20 || (code_point >= 0x7F && code_point <= 0x9F))
        return true;
    return formatting && (code_point == 0x061C || code_point == 0x200E || code_point == 0x200F ||
                          code_point == 0x2028 || code_point == 0x2029 ||
                          (code_point >= 0x202A && code_point <= 0x202E) ||
                          (code_point >= 0x2066 && code_point <= 0x2069));
}

/* What is wrong with a name, if anything. */
enum ledger_name_fault {
    LEDGER_NAME_OK,
    LEDGER_NAME_LENGTH,     /* empty, or longer than LEDGER_NAME_LENGTH_MAX bytes */
    LEDGER_NAME_NOT_UTF8,   /* not well-formed UTF-8 */
    LEDGER_NAME_CONTROL,    /* a control character */
    LEDGER_NAME_FORMATTING, /* a separator or bidirectional formatting character */
};

/* Checks a name: 1..LEDGER_NAME_LENGTH_MAX bytes of UTF-8 without the
 * characters ledger_name_char_refused names; `formatting` false accepts the
 * formatting characters, which names recorded by builds before they were
 * refused may hold. */
static inline enum ledger_name_fault ledger_name_check(const char *name, bool formatting)
{
    if (name == NULL || name[0] == '\0')
        return LEDGER_NAME_LENGTH;
    const unsigned char *s = (const unsigned char *)name;
    size_t offset = 0;
    while (s[offset] != '\0') {
        uint32_t code_point = 0;
        size_t length = ledger_utf8_decode(s + offset, &code_point);
        if (length == 0)
            return LEDGER_NAME_NOT_UTF8;
        if (ledger_name_char_refused(code_point, false))
            return LEDGER_NAME_CONTROL;
        if (ledger_name_char_refused(code_point, formatting))
            return LEDGER_NAME_FORMATTING;
        offset += length;
        if (offset > LEDGER_NAME_LENGTH_MAX)
            return LEDGER_NAME_LENGTH;
    }
    return LEDGER_NAME_OK;
}

#endif
