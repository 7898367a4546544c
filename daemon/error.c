/*
 * error.c: names and messages of the project's error codes, made from the one
 * table in error.h.
 */
#include "error.h"

const char *ledger_err_name(enum ledger_err err)
{
    switch (err) {
#define LEDGER_ERR_NAME(name, number, message)                                                     \
    case LEDGER_ERR_##name:                                                                        \
        return #name;
        LEDGER_ERR_MAP(LEDGER_ERR_NAME)
#undef LEDGER_ERR_NAME
    }
    return "UNKNOWN_ERROR";
}

const char *ledger_strerror(enum ledger_err err)
{
    switch (err) {
#define LEDGER_ERR_MESSAGE(name, number, message)                                                  \
    case LEDGER_ERR_##name:                                                                        \
        return message;
        LEDGER_ERR_MAP(LEDGER_ERR_MESSAGE)
#undef LEDGER_ERR_MESSAGE
    }
    return "unknown error code";
}

bool ledger_err_transient(enum ledger_err err)
{
    return err == LEDGER_ERR_STORAGE_FULL || err == LEDGER_ERR_STORAGE_ERROR ||
           err == LEDGER_ERR_DISK_FULL || err == LEDGER_ERR_NO_MEMORY ||
           err == LEDGER_ERR_CORRUPT || err == LEDGER_ERR_INTERNAL || err == LEDGER_ERR_UNAVAILABLE;
}

int ledger_err_valid(int number)
{
    switch (number) {
#define LEDGER_ERR_VALID(name, number, message)                                                    \
    case number:                                                                                   \
        return 1;
        LEDGER_ERR_MAP(LEDGER_ERR_VALID)
#undef LEDGER_ERR_VALID
    }
    return 0;
}
