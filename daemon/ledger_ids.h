/*
 * ledger_ids.h: what a well-formed id is, defined once for the daemon (codec)
 * and the client library (libledger, which ledgerctl uses): 1 to
 * LEDGER_ID_LENGTH_MAX characters of [A-Za-z0-9.:@-], safe in file names, log
 * lines, index keys and command lines without quoting (docs/protocol.md);
 * and what a well-formed SKU or region name is (the same and '_').
 * Header-only: libledger is built from its own sources and this file.
 */
#ifndef LEDGER_IDS_H
#define LEDGER_IDS_H

#include <stdbool.h>
#include <stddef.h>

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

#endif
