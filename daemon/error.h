/*
 * error.h: the project's one error enum, its names and its messages.
 *
 * Owns: the table of error codes shared by the engine, the daemon's logs, the
 * wire (ledger.v1.ErrorCode in proto/ledger.proto carries the same names and
 * numbers; tests/test_error.c asserts it) and the command line.
 * Does not own: translating foreign errors (MDB_*, errno, nn_errno); each module
 * that calls a library translates its errors into these, once.
 *
 * The table is an X-macro in the manner of libuv's UV_ERRNO_MAP: one line per
 * code, from which the enum, ledger_err_name() and ledger_strerror() are made,
 * so the three can never disagree.
 */
#ifndef LEDGER_ERROR_H
#define LEDGER_ERROR_H

/* X(name, number, message) */
#include <stdbool.h>

#define LEDGER_ERR_MAP(X)                                                                          \
    X(OK, 0, "success")                                                                            \
    X(BAD_REQUEST, 1, "the request is not a valid ledger.v1 message")                              \
    X(TOO_LARGE, 2, "the message is larger than the configured limit")                             \
    X(UNKNOWN_MESSAGE, 3, "unknown command, query or enum value; upgrade the client or daemon")    \
    X(INVALID_ARGUMENT, 4, "a field is missing, malformed or out of range")                        \
    X(BATCH_TOO_LARGE, 5, "too many commands in one batch; split it")                              \
    X(UNKNOWN_PRINCIPAL, 10, "unknown principal; check --principal")                               \
    X(BAD_SIGNATURE, 11, "the request's MAC does not verify; check the key file")                  \
    X(PRINCIPAL_REVOKED, 12, "the principal was revoked; ask an operator for a new one")           \
    X(STALE_REQUEST, 13,                                                                           \
      "the request's timestamp is outside the accepted window: the clocks disagree or the "        \
      "daemon reached it late; fix the clock (NTP), or retry")                                     \
    X(FORBIDDEN, 14, "the principal's role may not do this")                                       \
    X(PARTNER_MISMATCH, 15, "the principal may not act on another partner's or customer's data")   \
    X(ASK_PARTNER, 16, "only the partner may make this change; ask your partner")                  \
    X(PARTNER_NOT_FOUND, 20, "no such partner")                                                    \
    X(PARTNER_EXISTS, 21, "the partner already exists")                                            \
    X(CUSTOMER_NOT_FOUND, 22, "no such customer for this partner")                                 \
    X(CUSTOMER_EXISTS, 23, "the customer already exists")                                          \
    X(SUBSCRIPTION_NOT_FOUND, 24, "no such subscription for this customer")                        \
    X(SUBSCRIPTION_EXISTS, 25, "the subscription already exists")                                  \
    X(SUBSCRIPTION_NOT_ACTIVE, 26, "the subscription is not active")                               \
    X(SUBSCRIPTION_NOT_ELIGIBLE, 27, "the subscription is not an Azure plan or Azure Global one")  \
    X(NO_ELIGIBLE_SUBSCRIPTION, 28,                                                                \
      "the customer has no active Azure plan or Azure Global "                                     \
      "subscription bought by the partner")                                                        \
    X(PERMISSION_ALREADY_ON, 29, "the purchase permission is already on")                          \
    X(PERMISSION_ALREADY_OFF, 30, "the purchase permission is already off")                        \
    X(PERMISSION_OFF, 31, "the customer's purchase permission is off")                             \
    X(ROLE_MISSING, 32,                                                                            \
      "the user holds neither Owner nor Reservation Purchaser on the "                             \
      "subscription")                                                                              \
    X(ROLE_ALREADY_ASSIGNED, 33, "the user already holds this role on the subscription")           \
    X(ROLE_NOT_ASSIGNED, 34, "the user does not hold this role on the subscription")               \
    X(RESERVATION_NOT_FOUND, 35, "no such reservation for this customer")                          \
    X(RESERVATION_NOT_ACTIVE, 36, "the reservation is not active")                                 \
    X(SAVINGS_PLAN_NOT_FOUND, 37, "no such savings plan for this customer")                        \
    X(SAVINGS_PLAN_NOT_REFUNDABLE, 38,                                                             \
      "savings plans cannot be cancelled, refunded or "                                            \
      "exchanged")                                                                                 \
    X(REFUND_CAP_EXCEEDED, 39, "the refund would pass the customer's USD 50,000 cap in 365 days")  \
    X(EXCHANGE_VALUE_TOO_LOW, 40,                                                                  \
      "the new purchase commits less than the remaining commitment "                               \
      "returned")                                                                                  \
    X(INVALID_TERM, 41, "the term or billing plan is not allowed for this purchase")               \
    X(INVALID_SCOPE, 42, "the scope or its target is not valid for this customer")                 \
    X(CURRENCY_MISMATCH, 43, "the amounts are in different currencies")                            \
    X(INVALID_AMOUNT, 44, "the amount is negative, zero or out of range")                          \
    X(SUBSCRIPTION_HAS_RESERVATIONS, 45,                                                           \
      "the subscription has active reservations and cannot "                                       \
      "be suspended")                                                                              \
    X(UNCHANGED, 46, "the change asked for is already in effect")                                  \
    X(PRINCIPAL_EXISTS, 47, "a principal with this id already exists")                             \
    X(PRINCIPAL_NOT_FOUND, 48, "no such principal")                                                \
    X(SAVINGS_PLAN_NOT_ACTIVE, 49, "the savings plan was renewed and is no longer in force")       \
    X(VERSION_CONFLICT, 60,                                                                        \
      "the customer's stream moved past the expected version; re-read "                            \
      "and retry")                                                                                 \
    X(COMMAND_ID_REUSED, 61, "this command id was already used for a different command")           \
    X(STORAGE_FULL, 62, "the ledger reached its configured maximum size; see docs/operations.md")  \
    X(STORAGE_ERROR, 63, "the storage layer failed; see the daemon's log")                         \
    X(CORRUPT, 64, "a record or index failed an integrity check; run the offline verifier")        \
    X(NO_MEMORY, 65, "out of memory")                                                              \
    X(INTERNAL, 66, "internal error; see the daemon's log")                                        \
    X(UNAVAILABLE, 67, "another backup is running; retry when it has finished")                    \
    X(DATA_DIR_LOCKED, 68, "another process serves this data directory")                           \
    X(NOT_FOUND, 69, "no such sequence, tree size or record")                                      \
    X(DISK_FULL, 70, "the file system of the data directory is full; free space, then retry")      \
    X(TIMEOUT, 80, "no reply from the daemon in time; the command may be retried safely")          \
    X(UNREACHABLE, 81, "cannot reach the daemon; is it running? check --socket")                   \
    X(PROTOCOL_ERROR, 82, "the daemon's reply could not be understood")                            \
    X(USAGE, 83, "usage error; see --help")                                                        \
    X(IO_ERROR, 84, "a file could not be read or written")                                         \
    X(MISMATCH, 85, "the comparison found differences")

enum ledger_err {
#define LEDGER_ERR_ENUM(name, number, message) LEDGER_ERR_##name = number,
    LEDGER_ERR_MAP(LEDGER_ERR_ENUM)
#undef LEDGER_ERR_ENUM
};

/* The code's name as on the wire and in logs, e.g. "PERMISSION_OFF";
 * "UNKNOWN_ERROR" for a number outside the table. Never NULL; static storage. */
const char *ledger_err_name(enum ledger_err err);

/* A sentence saying what failed and what to do; static storage, never NULL. */
const char *ledger_strerror(enum ledger_err err);

/* Whether a number is one of the table's codes (for values read from the wire). */
int ledger_err_valid(int number);

/* Whether err is a failure of the moment (the storage, the disk, memory, an
 * internal error, a daemon not ready), not the ledger's decision about a
 * request: the same request may succeed when sent again. */
bool ledger_err_transient(enum ledger_err err);

#endif
