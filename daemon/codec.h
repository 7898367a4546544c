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

/* Serializes any message into a new malloc'd buffer (caller frees with free()).
 * A message that packs to zero bytes gives a 1-byte allocation and size 0, so
 * *bytes_out is never NULL on success. NO_MEMORY; TOO_LARGE when the message
 * would be larger than LEDGER_REQUEST_BYTES_MAX. */
__attribute__((warn_unused_result)) enum ledger_err
codec_pack(const ProtobufCMessage *message, uint8_t **bytes_out, size_t *size_out);

/* A message packed by codec_pack_scratch: in the struct's own scratch when
 * it fits (a view row does), else in a malloc'd buffer. The struct points
 * into itself: never copy or move it while it is in use. */
#define CODEC_PACKED_SCRATCH_BYTES 1024
struct codec_packed {
    uint8_t *data; /* the prefix then the message: scratch or malloc'd */
    size_t size;
    uint8_t scratch[CODEC_PACKED_SCRATCH_BYTES];
};

/* codec_pack after `prefix_size` bytes of `prefix` (borrowed; may be NULL
 * when 0), into `out`: no allocation when they fit its scratch. On success
 * out->data holds out->size bytes until codec_packed_free(out), which the
 * caller calls; on failure there is nothing to free. NO_MEMORY; TOO_LARGE
 * when the message would be larger than LEDGER_REQUEST_BYTES_MAX. */
__attribute__((warn_unused_result)) enum ledger_err
codec_pack_scratch(const ProtobufCMessage *message, const uint8_t *prefix, size_t prefix_size,
                   struct codec_packed *out);
void codec_packed_free(struct codec_packed *packed);

/* One field codec_patch sets in packed bytes: a varint (wire type 0: an
 * integer, enum or bool) or, with `bytes` non-NULL, length-delimited bytes
 * (wire type 2: a packed sub-message). A varint of 0 removes the field, as
 * protobuf-c packs no proto3 default; a sub-message is present whenever
 * bytes is non-NULL, even when size is 0. */
struct codec_field {
    uint32_t number;
    uint64_t varint;
    const uint8_t *bytes; /* borrowed */
    size_t size;
};

/* Into `out`: the message packed in bytes[0..size) (borrowed) with the
 * `count` fields of `fields` (sorted by number, each once) set as given and
 * every other byte as it was. Bytes that protobuf-c packed (every field in
 * number order) come out exactly as protobuf-c would pack the message with
 * those fields changed: changing one field of a stored row costs no unpack
 * and no pack of the row. On success the caller frees out with
 * codec_packed_free. `on_error` (CORRUPT for stored rows) when the bytes do
 * not frame; NO_MEMORY; TOO_LARGE over LEDGER_REQUEST_BYTES_MAX. */
__attribute__((warn_unused_result)) enum ledger_err
codec_patch(const uint8_t *bytes, size_t size, const struct codec_field *fields, size_t count,
            enum ledger_err on_error, struct codec_packed *out);

/* The varint field `number` (an integer, enum or bool) of the message
 * packed in bytes[0..size) (borrowed), into *out: 0 when absent, as
 * protobuf-c reads a proto3 default. Reads one field of a stored row
 * without unpacking it. `on_error` (CORRUPT for stored rows) when the
 * bytes do not frame or the field is not a varint. */
__attribute__((warn_unused_result)) enum ledger_err codec_varint_field(const uint8_t *bytes,
                                                                       size_t size, uint32_t number,
                                                                       enum ledger_err on_error,
                                                                       uint64_t *out);

/* Decodes any message of proto/ledger.proto: `descriptor` is the generated
 * ledger__v1__*__descriptor. `bytes` borrowed (may be NULL when size is 0).
 * Returns `on_error` (BAD_REQUEST for bytes from outside, CORRUPT for stored
 * ones) when the bytes do not decode, TOO_LARGE when size is over `size_max`,
 * NO_MEMORY. Free with codec_message_free. *out written only on success. */
__attribute__((warn_unused_result)) enum ledger_err
codec_message_unpack(const ProtobufCMessageDescriptor *descriptor, const uint8_t *bytes,
                     size_t size, size_t size_max, enum ledger_err on_error,
                     ProtobufCMessage **out);
/* Frees a message from codec_message_unpack (or any *__unpack); NULL is fine. */
void codec_message_free(ProtobufCMessage *message);

/* The most varint fields one codec_message_peek reads: the activity
 * filters read two (recorded and business time); asking for more is a
 * programmer error, which aborts the process. */
#define CODEC_PEEK_VARINTS_MAX 4
/* Reads top-level fields of a serialized message without decoding it: the
 * varint fields varint_numbers[0..varint_count) (into varints_out[i], 0
 * when absent) and the length-delimited field `bytes_number` (*bytes_out
 * borrowed from `bytes`, with *size_out; NULL and 0 when absent), each the
 * last occurrence, as a decoder keeps it. One pass over the bytes whatever
 * the count. For filters that skip most records unread. false when the
 * framing cannot be followed or a field asked for comes with another wire
 * type: decode the record then, which says why. Fields not asked for are
 * only stepped over: their contents are not checked. varints_out is
 * written only on success. */
__attribute__((warn_unused_result)) bool
codec_message_peek(const uint8_t *bytes, size_t size, const uint32_t *varint_numbers,
                   size_t varint_count, uint32_t bytes_number, uint64_t *varints_out,
                   const uint8_t **bytes_out, size_t *size_out);

/* Decodes a stored record. CORRUPT when the bytes do not decode (or are over
 * LEDGER_REQUEST_BYTES_MAX, which no record can be). Free with
 * codec_event_free. */
__attribute__((warn_unused_result)) enum ledger_err
codec_event_unpack(const uint8_t *bytes, size_t size, Ledger__V1__Event **out);
void codec_event_free(Ledger__V1__Event *event);

/* Memory that decoded events are carved from, freed all at once: for a
 * reader that decodes many records and drops them together (a rebuild's
 * batch), so that no field costs a malloc and a free of its own. A zeroed
 * struct is an empty arena. Not thread-safe: one user at a time. */
struct codec_arena {
    struct codec_arena_chunk *chunks; /* the current chunk first */
    struct codec_arena_chunk *spare;  /* chunks kept from before the last reset */
    size_t used;                      /* bytes of the current chunk given out */
};

/* codec_event_unpack into `arena`: the event lives until the arena is reset
 * or freed and is never given to codec_event_free. Same errors. */
__attribute__((warn_unused_result)) enum ledger_err
codec_event_unpack_arena(struct codec_arena *arena, const uint8_t *bytes, size_t size,
                         Ledger__V1__Event **out);
/* Ends every event decoded into the arena; its regular chunks are kept for
 * the next ones. */
void codec_arena_reset(struct codec_arena *arena);
/* Frees all the arena holds and leaves it empty. */
void codec_arena_free(struct codec_arena *arena);

/* Decodes bytes from outside. BAD_REQUEST when they do not decode, TOO_LARGE
 * over LEDGER_REQUEST_BYTES_MAX. Free with codec_command_free. */
__attribute__((warn_unused_result)) enum ledger_err
codec_command_unpack(const uint8_t *bytes, size_t size, Ledger__V1__Command **out);
void codec_command_free(Ledger__V1__Command *command);
/* codec_command_unpack into `arena`: the command lives until the arena is
 * reset or freed and is never given to codec_command_free. Same errors. */
__attribute__((warn_unused_result)) enum ledger_err
codec_command_unpack_arena(struct codec_arena *arena, const uint8_t *bytes, size_t size,
                           Ledger__V1__Command **out);

/* The event body's name, e.g. "reservation_purchased"; "" for none. */
const char *codec_event_type_name(Ledger__V1__Event__BodyCase body_case);
/* The body case of a name; LEDGER__V1__EVENT__BODY__NOT_SET if unknown. */
Ledger__V1__Event__BodyCase codec_event_type_from_name(const char *name);
/* The command body's name, e.g. "purchase_reservation"; "" for none. */
const char *codec_command_type_name(Ledger__V1__Command__BodyCase body_case);
/* The body case of a command name; LEDGER__V1__COMMAND__BODY__NOT_SET if unknown. */
Ledger__V1__Command__BodyCase codec_command_type_from_name(const char *name);
/* The query kind's name, e.g. "reservations"; "" for none. */
const char *codec_query_type_name(Ledger__V1__Query__KindCase kind_case);
/* The kind case of a query name; LEDGER__V1__QUERY__KIND__NOT_SET if unknown. */
Ledger__V1__Query__KindCase codec_query_type_from_name(const char *name);

/* An id: 1..LEDGER_ID_LENGTH_MAX characters of [A-Za-z0-9.:@-]. */
bool codec_id_valid(const char *id);
/* A SKU or region name: 1..LEDGER_SKU_LENGTH_MAX characters of
 * [A-Za-z0-9.:@-] and '_' (Azure SKUs are like "Standard_D2s_v3"). */
bool codec_sku_valid(const char *sku);
/* A new name: 1..LEDGER_NAME_LENGTH_MAX bytes of printable UTF-8: no control
 * character, no line or paragraph separator, no bidirectional formatting
 * character (ledger_name_check). */
bool codec_name_valid(const char *name);
/* A name as a record holds it: codec_name_valid's rule less the separators
 * and formatting characters, which earlier builds accepted (replay reads
 * what they wrote). */
bool codec_name_recorded(const char *name);
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

bool codec_purchaser_valid(int value);
bool codec_reservation_state_valid(int value);

/* Names for enums as the CLI and docs spell them ("admin-agent", "P1Y", ...). */
const char *codec_role_name(int value);
int codec_role_from_name(const char *name); /* 0 when unknown */

/* The same for every enum of the schema, by kind. Names are lower-case words
 * joined by '-' ("azure-plan", "reservation-purchaser", "resource-group"),
 * terms as ISO 8601 durations ("P1Y"). A value outside the declared set (or
 * UNSPECIFIED) is named "unknown"; from_name gives 0 for unknown names. */
enum codec_enum {
    CODEC_ENUM_ROLE,
    CODEC_ENUM_PERMISSION_KIND,
    CODEC_ENUM_OFFER,
    CODEC_ENUM_SUBSCRIPTION_STATUS,
    CODEC_ENUM_AZURE_ROLE,
    CODEC_ENUM_TERM,
    CODEC_ENUM_BILLING_PLAN,
    CODEC_ENUM_SCOPE_KIND,
    CODEC_ENUM_PURCHASER,
    CODEC_ENUM_RESERVATION_STATE,
};
#define CODEC_ENUM_COUNT 10
const char *codec_enum_name(enum codec_enum which, int value);
int codec_enum_from_name(enum codec_enum which, const char *name);
/* Whether `value` is declared for the enum and not its UNSPECIFIED zero. */
bool codec_enum_valid(enum codec_enum which, int value);
/* Whether `value` is declared at all (UNSPECIFIED included). Raw values that
 * are not are what protobuf-c hands over for numbers this build does not know:
 * the domain refuses them with UNKNOWN_MESSAGE. */
bool codec_enum_declared(enum codec_enum which, int value);

#endif
