/*
 * codec.h: the protobuf-c records and wire messages of proto/ledger.proto.
 *
 * Owns: the only include of the generated ledger.pb-c.h (everyone else sees the
 * generated types through this header), packing and unpacking with size limits
 * and the matching frees, event type names, and the validation of values that
 * arrive from outside (ids, money, enums) before any decision looks at them.
 * Does not own: what messages mean (domain, views) or where bytes go (store,
 * server).
 *
 * protobuf-c keeps unknown fields and decodes enum values outside the declared
 * set as raw integers: every enum is checked here (codec_*_valid) before code
 * switches on it.
 */
#ifndef LEDGER_CODEC_H
#define LEDGER_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "ledger.pb-c.h"

/* Serializes any message into a new malloc'd buffer. NO_MEMORY. */
__attribute__((warn_unused_result)) enum ledger_err
codec_pack(const ProtobufCMessage *message, uint8_t **bytes_out, size_t *size_out);

/* Decodes a stored record. CORRUPT when the bytes do not decode. Free with
 * codec_event_free. */
__attribute__((warn_unused_result)) enum ledger_err
codec_event_unpack(const uint8_t *bytes, size_t size, Ledger__V1__Event **out);
void codec_event_free(Ledger__V1__Event *event);

/* Decodes bytes from outside. BAD_REQUEST when they do not decode. */
__attribute__((warn_unused_result)) enum ledger_err
codec_command_unpack(const uint8_t *bytes, size_t size, Ledger__V1__Command **out);
void codec_command_free(Ledger__V1__Command *command);

/* The event body's name, e.g. "reservation_purchased"; "" for none. */
const char *codec_event_type_name(Ledger__V1__Event__BodyCase body_case);
/* The body case of a name; LEDGER__V1__EVENT__BODY__NOT_SET if unknown. */
Ledger__V1__Event__BodyCase codec_event_type_from_name(const char *name);
/* The command body's name, e.g. "purchase_reservation". */
const char *codec_command_type_name(Ledger__V1__Command__BodyCase body_case);

/* An id: 1..LEDGER_ID_LENGTH_MAX characters of [A-Za-z0-9._:@-]. */
bool codec_id_valid(const char *id);
/* A name: 1..LEDGER_NAME_LENGTH_MAX bytes of printable UTF-8, no control characters. */
bool codec_name_valid(const char *name);
/* Money: currency three upper-case ASCII letters; 0 <= amount <= LEDGER_AMOUNT_MINOR_MAX
 * (positive_only: amount > 0 too). */
bool codec_money_valid(const Ledger__V1__Money *money, bool positive_only);
/* Whether a raw enum value is declared (and not the UNSPECIFIED zero). */
bool codec_role_valid(int value);
bool codec_permission_kind_valid(int value);
bool codec_offer_valid(int value);
bool codec_subscription_status_valid(int value);
bool codec_azure_role_valid(int value);
bool codec_term_valid(int value);
bool codec_billing_plan_valid(int value);
bool codec_scope_kind_valid(int value);

/* Names for enums as the CLI and docs spell them ("admin-agent", "P1Y", ...). */
const char *codec_role_name(int value);
int codec_role_from_name(const char *name); /* 0 when unknown */

#endif
