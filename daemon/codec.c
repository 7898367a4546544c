/*
 * codec.c: packing, unpacking and validating the messages of proto/ledger.proto.
 *
 * Owns: the one place that calls protobuf-c's pack/unpack, the size limits
 * checked before any unpack, the names of event, command and query bodies
 * (taken from the generated descriptors, so they can never drift from the
 * schema), the CLI's names for enum values, and the validators of values that
 * arrive from outside: ids, SKUs, names, money and enums.
 * Does not own: what a message means or whether it is allowed (domain, policy).
 *
 * protobuf-c decodes an enum number it does not know as that raw number and
 * keeps unknown fields: nothing here trusts a decoded enum; the *_valid and
 * codec_enum_* functions are the checks.
 */
#include "codec.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ledger_ids.h"
#include "ledger_limits.h"

enum ledger_err codec_pack(const ProtobufCMessage *message, uint8_t **bytes_out, size_t *size_out)
{
    size_t size = protobuf_c_message_get_packed_size(message);
    if (size > LEDGER_REQUEST_BYTES_MAX)
        return LEDGER_ERR_TOO_LARGE;
    /* malloc(0) may return NULL; one spare byte keeps "NULL means failure". */
    uint8_t *bytes = malloc(size + 1);
    if (bytes == NULL)
        return LEDGER_ERR_NO_MEMORY;
    size_t written = protobuf_c_message_pack(message, bytes);
    if (written != size) {
        /* The packer disagreeing with its own size is a broken library. */
        free(bytes);
        return LEDGER_ERR_INTERNAL;
    }
    *bytes_out = bytes;
    *size_out = size;
    return LEDGER_ERR_OK;
}

enum ledger_err codec_pack_scratch(const ProtobufCMessage *message, const uint8_t *prefix,
                                   size_t prefix_size, struct codec_packed *out)
{
    size_t size = protobuf_c_message_get_packed_size(message);
    if (size > LEDGER_REQUEST_BYTES_MAX || prefix_size > LEDGER_REQUEST_BYTES_MAX)
        return LEDGER_ERR_TOO_LARGE;
    out->data = out->scratch;
    if (prefix_size + size > sizeof out->scratch) {
        out->data = malloc(prefix_size + size);
        if (out->data == NULL)
            return LEDGER_ERR_NO_MEMORY;
    }
    if (prefix_size > 0)
        memcpy(out->data, prefix, prefix_size);
    if (protobuf_c_message_pack(message, out->data + prefix_size) != size) {
        /* The packer disagreeing with its own size is a broken library. */
        codec_packed_free(out);
        return LEDGER_ERR_INTERNAL;
    }
    out->size = prefix_size + size;
    return LEDGER_ERR_OK;
}

void codec_packed_free(struct codec_packed *packed)
{
    if (packed->data != packed->scratch)
        free(packed->data);
    packed->data = packed->scratch;
    packed->size = 0;
}

/* How deep strings_clean follows known message fields: deeper than any
 * message of the schema nests. */
#define CODEC_NESTING_MAX 32

/* Reads a varint at *at (advanced past it); false past `size` or over 10
 * bytes. */
static bool wire_varint(const uint8_t *bytes, size_t size, size_t *at, uint64_t *out)
{
    uint64_t value = 0;
    for (unsigned shift = 0; shift < 70 && *at < size; shift += 7) {
        uint8_t byte = bytes[(*at)++];
        value |= (uint64_t)(byte & 0x7f) << shift;
        if ((byte & 0x80) == 0) {
            *out = value;
            return true;
        }
    }
    return false;
}

/* Whether no string field of the message in bytes[0..size) (of
 * `descriptor`, and of the known messages in it) holds a NUL byte.
 * protobuf-c hands strings on as C strings, which a NUL would cut short:
 * every check would then see another value than the bytes that were signed
 * and hashed. Framing it cannot follow is left to protobuf-c (true). */
static bool strings_clean(const ProtobufCMessageDescriptor *descriptor, const uint8_t *bytes,
                          size_t size, unsigned depth)
{
    if (depth > CODEC_NESTING_MAX)
        return false;
    size_t at = 0;
    while (at < size) {
        uint64_t key = 0, length = 0;
        if (!wire_varint(bytes, size, &at, &key))
            return true;
        switch (key & 7) {
        case 0:
            if (!wire_varint(bytes, size, &at, &length))
                return true;
            break;
        case 1:
            at += 8;
            break;
        case 5:
            at += 4;
            break;
        case 2: {
            if (!wire_varint(bytes, size, &at, &length) || length > size - at)
                return true;
            const ProtobufCFieldDescriptor *field =
                key >> 3 <= UINT32_MAX
                    ? protobuf_c_message_descriptor_get_field(descriptor, (unsigned)(key >> 3))
                    : NULL;
            if (field != NULL && field->type == PROTOBUF_C_TYPE_STRING &&
                memchr(bytes + at, '\0', (size_t)length) != NULL)
                return false;
            if (field != NULL && field->type == PROTOBUF_C_TYPE_MESSAGE &&
                !strings_clean(field->descriptor, bytes + at, (size_t)length, depth + 1))
                return false;
            at += (size_t)length;
            break;
        }
        default:
            return true; /* groups or no wire type: protobuf-c refuses them */
        }
    }
    return true;
}

/* Reads the field at *at (advanced past it): its key, and its value when a
 * varint (wire type 0). False when it does not frame within `size`, or
 * has a wire type protobuf-c refuses. */
static bool wire_field_next(const uint8_t *bytes, size_t size, size_t *at, uint64_t *key,
                            uint64_t *varint)
{
    uint64_t length = 0;
    if (!wire_varint(bytes, size, at, key))
        return false;
    switch (*key & 7) {
    case 0:
        return wire_varint(bytes, size, at, varint);
    case 1:
        length = 8;
        break;
    case 5:
        length = 4;
        break;
    case 2:
        if (!wire_varint(bytes, size, at, &length))
            return false;
        break;
    default:
        return false;
    }
    if (length > size - *at)
        return false;
    *at += (size_t)length;
    return true;
}

enum ledger_err codec_varint_field(const uint8_t *bytes, size_t size, uint32_t number,
                                   enum ledger_err on_error, uint64_t *out)
{
    uint64_t value = 0;
    size_t at = 0;
    while (at < size) {
        uint64_t key = 0, varint = 0;
        if (!wire_field_next(bytes, size, &at, &key, &varint))
            return on_error;
        if (key >> 3 == number) {
            if ((key & 7) != 0)
                return on_error;
            value = varint; /* the last one counts, as protobuf-c reads it */
        }
    }
    *out = value;
    return LEDGER_ERR_OK;
}

/* Writes value as a varint at out; returns its length (at most 10). */
static size_t wire_put_varint(uint8_t *out, uint64_t value)
{
    size_t n = 0;
    while (value >= 0x80) {
        out[n++] = (uint8_t)(value | 0x80);
        value >>= 7;
    }
    out[n++] = (uint8_t)value;
    return n;
}

/* Writes one field of codec_patch as protobuf-c packs it (nothing for a
 * varint of 0); returns its length. */
static size_t wire_put_field(uint8_t *out, const struct codec_field *field)
{
    size_t n = 0;
    if (field->bytes == NULL) {
        if (field->varint != 0) {
            n = wire_put_varint(out, (uint64_t)field->number << 3);
            n += wire_put_varint(out + n, field->varint);
        }
        return n;
    }
    n = wire_put_varint(out, (uint64_t)field->number << 3 | 2);
    n += wire_put_varint(out + n, field->size);
    memcpy(out + n, field->bytes, field->size);
    return n + field->size;
}

/* The most a field's tag and length or varint take: a tag of a 32-bit field
 * number is 5 bytes, a 64-bit varint 10. */
#define CODEC_FIELD_FRAME_MAX (5 + 10)

enum ledger_err codec_patch(const uint8_t *bytes, size_t size, const struct codec_field *fields,
                            size_t count, enum ledger_err on_error, struct codec_packed *out)
{
    if (size > LEDGER_REQUEST_BYTES_MAX || count > LEDGER_REQUEST_BYTES_MAX)
        return LEDGER_ERR_TOO_LARGE;
    size_t room = size;
    for (size_t i = 0; i < count; i++) {
        if (fields[i].size > LEDGER_REQUEST_BYTES_MAX)
            return LEDGER_ERR_TOO_LARGE;
        room += CODEC_FIELD_FRAME_MAX + fields[i].size;
    }
    out->data = out->scratch;
    if (room > sizeof out->scratch) {
        out->data = malloc(room);
        if (out->data == NULL)
            return LEDGER_ERR_NO_MEMORY;
    }
    size_t at = 0, used = 0, next = 0;
    while (at < size) {
        size_t start = at;
        uint64_t key = 0, varint = 0;
        if (!wire_field_next(bytes, size, &at, &key, &varint)) {
            codec_packed_free(out);
            return on_error;
        }
        /* The fields set that come before this one, or in its place. */
        bool replaced = false;
        while (next < count && fields[next].number <= key >> 3) {
            replaced = fields[next].number == key >> 3;
            used += wire_put_field(out->data + used, &fields[next++]);
        }
        if (!replaced) {
            memcpy(out->data + used, bytes + start, at - start);
            used += at - start;
        }
    }
    while (next < count)
        used += wire_put_field(out->data + used, &fields[next++]);
    if (used > LEDGER_REQUEST_BYTES_MAX) {
        codec_packed_free(out);
        return LEDGER_ERR_TOO_LARGE;
    }
    out->size = used;
    return LEDGER_ERR_OK;
}

/* codec_message_unpack with protobuf-c's `allocator` (NULL: malloc). */
static enum ledger_err message_unpack(const ProtobufCMessageDescriptor *descriptor,
                                      ProtobufCAllocator *allocator, const uint8_t *bytes,
                                      size_t size, size_t size_max, enum ledger_err on_error,
                                      ProtobufCMessage **out)
{
    if (descriptor == NULL || out == NULL)
        return LEDGER_ERR_INTERNAL;
    if (size > size_max)
        return LEDGER_ERR_TOO_LARGE;
    if (bytes == NULL && size > 0)
        return on_error;
    static const uint8_t empty[1] = {0};
    ProtobufCMessage *message =
        protobuf_c_message_unpack(descriptor, allocator, size, bytes != NULL ? bytes : empty);
    if (message == NULL)
        return on_error;
    /* Bytes without a NUL have none in their strings: most records have no
     * NUL at all, and the walk of their fields is spared. */
    if (size > 0 && memchr(bytes, '\0', size) != NULL &&
        !strings_clean(descriptor, bytes, size, 0)) {
        protobuf_c_message_free_unpacked(message, allocator);
        return on_error;
    }
    *out = message;
    return LEDGER_ERR_OK;
}

enum ledger_err codec_message_unpack(const ProtobufCMessageDescriptor *descriptor,
                                     const uint8_t *bytes, size_t size, size_t size_max,
                                     enum ledger_err on_error, ProtobufCMessage **out)
{
    return message_unpack(descriptor, NULL, bytes, size, size_max, on_error, out);
}

bool codec_message_peek(const uint8_t *bytes, size_t size, const uint32_t *varint_numbers,
                        size_t varint_count, uint32_t bytes_number, uint64_t *varints_out,
                        const uint8_t **bytes_out, size_t *size_out)
{
    if (varint_count > CODEC_PEEK_VARINTS_MAX)
        abort(); /* a programmer error: no stored bytes can cause it */
    uint64_t varints[CODEC_PEEK_VARINTS_MAX] = {0};
    const uint8_t *found = NULL;
    size_t found_size = 0;
    size_t at = 0;
    while (at < size) {
        uint64_t key = 0, value = 0;
        if (!wire_varint(bytes, size, &at, &key))
            return false;
        uint64_t number = key >> 3;
        unsigned type = (unsigned)(key & 7);
        /* Which of the varints asked for this field is, or varint_count. */
        size_t which = 0;
        while (which < varint_count && varint_numbers[which] != number)
            which++;
        if ((which < varint_count && type != 0) || (number == bytes_number && type != 2))
            return false;
        switch (type) {
        case 0:
            if (!wire_varint(bytes, size, &at, &value))
                return false;
            if (which < varint_count)
                varints[which] = value;
            break;
        case 1:
        case 5:
            if (size - at < (type == 1 ? 8u : 4u))
                return false;
            at += type == 1 ? 8u : 4u;
            break;
        case 2:
            if (!wire_varint(bytes, size, &at, &value) || value > size - at)
                return false;
            if (number == bytes_number) {
                found = bytes + at;
                found_size = (size_t)value;
            }
            at += (size_t)value;
            break;
        default:
            return false;
        }
    }
    if (varint_count != 0)
        memcpy(varints_out, varints, varint_count * sizeof varints[0]);
    *bytes_out = found;
    *size_out = found_size;
    return true;
}

void codec_message_free(ProtobufCMessage *message)
{
    if (message != NULL)
        protobuf_c_message_free_unpacked(message, NULL);
}

static enum ledger_err event_unpack(ProtobufCAllocator *allocator, const uint8_t *bytes,
                                    size_t size, Ledger__V1__Event **out)
{
    ProtobufCMessage *message = NULL;
    enum ledger_err err = message_unpack(&ledger__v1__event__descriptor, allocator, bytes, size,
                                         LEDGER_REQUEST_BYTES_MAX, LEDGER_ERR_CORRUPT, &message);
    if (err == LEDGER_ERR_TOO_LARGE)
        err = LEDGER_ERR_CORRUPT; /* no record is ever written that large */
    if (err != LEDGER_ERR_OK)
        return err;
    *out = (Ledger__V1__Event *)message;
    return LEDGER_ERR_OK;
}

enum ledger_err codec_event_unpack(const uint8_t *bytes, size_t size, Ledger__V1__Event **out)
{
    return event_unpack(NULL, bytes, size, out);
}

/* ---- the arena ---------------------------------------------------------- */

/* A regular chunk holds this many bytes: the decoded form of a few dozen
 * records of the usual sizes (a few hundred bytes each). An allocation larger
 * than a quarter of it gets a chunk of its own, freed at the next reset. */
#define CODEC_ARENA_CHUNK_BYTES (64 * 1024)
/* Every allocation is aligned for any type (max_align_t). */
#define CODEC_ARENA_ALIGN _Alignof(max_align_t)

struct codec_arena_chunk {
    struct codec_arena_chunk *next;
    size_t capacity; /* bytes of data; CODEC_ARENA_CHUNK_BYTES for a regular chunk */
    _Alignas(max_align_t) uint8_t data[];
};

static void *arena_alloc(void *allocator_data, size_t size)
{
    struct codec_arena *arena = allocator_data;
    if (size > SIZE_MAX / 2)
        return NULL;
    size = size == 0 ? CODEC_ARENA_ALIGN
                     : (size + CODEC_ARENA_ALIGN - 1) & ~(size_t)(CODEC_ARENA_ALIGN - 1);
    if (size > CODEC_ARENA_CHUNK_BYTES / 4) {
        /* Its own chunk, behind the current one, which stays current. */
        struct codec_arena_chunk *own = malloc(sizeof *own + size);
        if (own == NULL)
            return NULL;
        own->capacity = size;
        if (arena->chunks == NULL) {
            own->next = NULL;
            arena->chunks = own;
            arena->used = size; /* full: the next small allocation takes a chunk */
        } else {
            own->next = arena->chunks->next;
            arena->chunks->next = own;
        }
        return own->data;
    }
    if (arena->chunks == NULL || arena->chunks->capacity - arena->used < size) {
        struct codec_arena_chunk *chunk = arena->spare;
        if (chunk != NULL) {
            arena->spare = chunk->next;
        } else {
            chunk = malloc(sizeof *chunk + CODEC_ARENA_CHUNK_BYTES);
            if (chunk == NULL)
                return NULL;
            chunk->capacity = CODEC_ARENA_CHUNK_BYTES;
        }
        chunk->next = arena->chunks;
        arena->chunks = chunk;
        arena->used = 0;
    }
    void *at = arena->chunks->data + arena->used;
    arena->used += size;
    return at;
}

/* Memory goes back at the reset, not piece by piece. */
static void arena_free(void *allocator_data, void *pointer)
{
    (void)allocator_data;
    (void)pointer;
}

enum ledger_err codec_event_unpack_arena(struct codec_arena *arena, const uint8_t *bytes,
                                         size_t size, Ledger__V1__Event **out)
{
    ProtobufCAllocator allocator = {
        .alloc = arena_alloc, .free = arena_free, .allocator_data = arena};
    return event_unpack(&allocator, bytes, size, out);
}

void codec_arena_reset(struct codec_arena *arena)
{
    while (arena->chunks != NULL) {
        struct codec_arena_chunk *chunk = arena->chunks;
        arena->chunks = chunk->next;
        if (chunk->capacity == CODEC_ARENA_CHUNK_BYTES) {
            chunk->next = arena->spare;
            arena->spare = chunk;
        } else {
            free(chunk);
        }
    }
    arena->used = 0;
}

void codec_arena_free(struct codec_arena *arena)
{
    codec_arena_reset(arena);
    while (arena->spare != NULL) {
        struct codec_arena_chunk *chunk = arena->spare;
        arena->spare = chunk->next;
        free(chunk);
    }
}

void codec_event_free(Ledger__V1__Event *event)
{
    if (event != NULL)
        ledger__v1__event__free_unpacked(event, NULL);
}

static enum ledger_err command_unpack(ProtobufCAllocator *allocator, const uint8_t *bytes,
                                      size_t size, Ledger__V1__Command **out)
{
    ProtobufCMessage *message = NULL;
    enum ledger_err err =
        message_unpack(&ledger__v1__command__descriptor, allocator, bytes, size,
                       LEDGER_REQUEST_BYTES_MAX, LEDGER_ERR_BAD_REQUEST, &message);
    if (err != LEDGER_ERR_OK)
        return err;
    *out = (Ledger__V1__Command *)message;
    return LEDGER_ERR_OK;
}

enum ledger_err codec_command_unpack(const uint8_t *bytes, size_t size, Ledger__V1__Command **out)
{
    return command_unpack(NULL, bytes, size, out);
}

enum ledger_err codec_command_unpack_arena(struct codec_arena *arena, const uint8_t *bytes,
                                           size_t size, Ledger__V1__Command **out)
{
    ProtobufCAllocator allocator = {
        .alloc = arena_alloc, .free = arena_free, .allocator_data = arena};
    return command_unpack(&allocator, bytes, size, out);
}

void codec_command_free(Ledger__V1__Command *command)
{
    if (command != NULL)
        ledger__v1__command__free_unpacked(command, NULL);
}

/* ---- body names, from the descriptors ----------------------------------- */

/* The name of a oneof member: the field with that number, if it belongs to a
 * oneof (the envelope's plain fields have numbers too). */
static const char *oneof_field_name(const ProtobufCMessageDescriptor *descriptor, int number)
{
    if (number <= 0)
        return "";
    const ProtobufCFieldDescriptor *field =
        protobuf_c_message_descriptor_get_field(descriptor, (unsigned)number);
    if (field == NULL || (field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) == 0)
        return "";
    return field->name;
}

static int oneof_field_number(const ProtobufCMessageDescriptor *descriptor, const char *name)
{
    if (name == NULL || name[0] == '\0')
        return 0;
    const ProtobufCFieldDescriptor *field =
        protobuf_c_message_descriptor_get_field_by_name(descriptor, name);
    if (field == NULL || (field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) == 0)
        return 0;
    return (int)field->id;
}

const char *codec_event_type_name(Ledger__V1__Event__BodyCase body_case)
{
    return oneof_field_name(&ledger__v1__event__descriptor, (int)body_case);
}

Ledger__V1__Event__BodyCase codec_event_type_from_name(const char *name)
{
    return (Ledger__V1__Event__BodyCase)oneof_field_number(&ledger__v1__event__descriptor, name);
}

const char *codec_command_type_name(Ledger__V1__Command__BodyCase body_case)
{
    return oneof_field_name(&ledger__v1__command__descriptor, (int)body_case);
}

Ledger__V1__Command__BodyCase codec_command_type_from_name(const char *name)
{
    return (Ledger__V1__Command__BodyCase)oneof_field_number(&ledger__v1__command__descriptor,
                                                             name);
}

const char *codec_query_type_name(Ledger__V1__Query__KindCase kind_case)
{
    return oneof_field_name(&ledger__v1__query__descriptor, (int)kind_case);
}

Ledger__V1__Query__KindCase codec_query_type_from_name(const char *name)
{
    return (Ledger__V1__Query__KindCase)oneof_field_number(&ledger__v1__query__descriptor, name);
}

/* ---- validators --------------------------------------------------------- */

bool codec_id_valid(const char *id)
{
    return ledger_id_well_formed(id);
}

bool codec_sku_valid(const char *sku)
{
    return ledger_sku_well_formed(sku);
}

bool codec_name_valid(const char *name)
{
    return ledger_name_check(name, true) == LEDGER_NAME_OK;
}

bool codec_name_recorded(const char *name)
{
    return ledger_name_check(name, false) == LEDGER_NAME_OK;
}

bool codec_money_valid(const Ledger__V1__Money *money, bool positive_only)
{
    if (money == NULL || money->currency == NULL)
        return false;
    const char *c = money->currency;
    for (int i = 0; i < 3; i++) {
        if (c[i] < 'A' || c[i] > 'Z')
            return false;
    }
    if (c[3] != '\0')
        return false;
    if (money->amount_minor < 0 || money->amount_minor > LEDGER_AMOUNT_MINOR_MAX)
        return false;
    if (positive_only && money->amount_minor == 0)
        return false;
    return true;
}

/* ---- enums -------------------------------------------------------------- */

struct enum_name {
    int value;
    const char *name;
};

static const struct enum_name role_names[] = {
    {LEDGER__V1__ROLE__ROLE_ADMIN_AGENT, "admin-agent"},
    {LEDGER__V1__ROLE__ROLE_SALES_AGENT, "sales-agent"},
    {LEDGER__V1__ROLE__ROLE_HELPDESK_AGENT, "helpdesk-agent"},
    {LEDGER__V1__ROLE__ROLE_CUSTOMER_USER, "customer-user"},
    {LEDGER__V1__ROLE__ROLE_AUDITOR, "auditor"},
    {LEDGER__V1__ROLE__ROLE_BILLING, "billing"},
    {LEDGER__V1__ROLE__ROLE_OPERATOR, "operator"},
    {LEDGER__V1__ROLE__ROLE_SYSTEM, "system"},
    {0, NULL},
};
static const struct enum_name permission_kind_names[] = {
    {LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_RESERVATIONS, "reservations"},
    {LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_SAVINGS_PLANS, "savings-plans"},
    {0, NULL},
};
static const struct enum_name offer_names[] = {
    {LEDGER__V1__OFFER__OFFER_AZURE_PLAN, "azure-plan"},
    {LEDGER__V1__OFFER__OFFER_AZURE_GLOBAL, "azure-global"},
    {LEDGER__V1__OFFER__OFFER_OTHER, "other"},
    {0, NULL},
};
static const struct enum_name subscription_status_names[] = {
    {LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_ACTIVE, "active"},
    {LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_SUSPENDED, "suspended"},
    {LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_DISABLED, "disabled"},
    {LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_EXPIRED, "expired"},
    {0, NULL},
};
static const struct enum_name azure_role_names[] = {
    {LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER, "owner"},
    {LEDGER__V1__AZURE_ROLE__AZURE_ROLE_RESERVATION_PURCHASER, "reservation-purchaser"},
    {LEDGER__V1__AZURE_ROLE__AZURE_ROLE_CONTRIBUTOR, "contributor"},
    {LEDGER__V1__AZURE_ROLE__AZURE_ROLE_READER, "reader"},
    {0, NULL},
};
static const struct enum_name term_names[] = {
    {LEDGER__V1__TERM__TERM_P1Y, "P1Y"},
    {LEDGER__V1__TERM__TERM_P3Y, "P3Y"},
    {LEDGER__V1__TERM__TERM_P5Y, "P5Y"},
    {0, NULL},
};
static const struct enum_name billing_plan_names[] = {
    {LEDGER__V1__BILLING_PLAN__BILLING_PLAN_UPFRONT, "upfront"},
    {LEDGER__V1__BILLING_PLAN__BILLING_PLAN_MONTHLY, "monthly"},
    {0, NULL},
};
static const struct enum_name scope_kind_names[] = {
    {LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SINGLE, "single"},
    {LEDGER__V1__SCOPE_KIND__SCOPE_KIND_RESOURCE_GROUP, "resource-group"},
    {LEDGER__V1__SCOPE_KIND__SCOPE_KIND_MANAGEMENT_GROUP, "management-group"},
    {LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SHARED, "shared"},
    {0, NULL},
};
static const struct enum_name purchaser_names[] = {
    {LEDGER__V1__PURCHASER__PURCHASER_PARTNER, "partner"},
    {LEDGER__V1__PURCHASER__PURCHASER_CUSTOMER, "customer"},
    {0, NULL},
};
static const struct enum_name reservation_state_names[] = {
    {LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_ACTIVE, "active"},
    {LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_CANCELLED, "cancelled"},
    {LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_EXCHANGED, "exchanged"},
    {LEDGER__V1__RESERVATION_STATE__RESERVATION_STATE_EXPIRED, "expired"},
    {0, NULL},
};

struct enum_table {
    const ProtobufCEnumDescriptor *descriptor;
    const struct enum_name *names;
};

static const struct enum_table enum_tables[CODEC_ENUM_COUNT] = {
    [CODEC_ENUM_ROLE] = {&ledger__v1__role__descriptor, role_names},
    [CODEC_ENUM_PERMISSION_KIND] = {&ledger__v1__permission_kind__descriptor,
                                    permission_kind_names},
    [CODEC_ENUM_OFFER] = {&ledger__v1__offer__descriptor, offer_names},
    [CODEC_ENUM_SUBSCRIPTION_STATUS] = {&ledger__v1__subscription_status__descriptor,
                                        subscription_status_names},
    [CODEC_ENUM_AZURE_ROLE] = {&ledger__v1__azure_role__descriptor, azure_role_names},
    [CODEC_ENUM_TERM] = {&ledger__v1__term__descriptor, term_names},
    [CODEC_ENUM_BILLING_PLAN] = {&ledger__v1__billing_plan__descriptor, billing_plan_names},
    [CODEC_ENUM_SCOPE_KIND] = {&ledger__v1__scope_kind__descriptor, scope_kind_names},
    [CODEC_ENUM_PURCHASER] = {&ledger__v1__purchaser__descriptor, purchaser_names},
    [CODEC_ENUM_RESERVATION_STATE] = {&ledger__v1__reservation_state__descriptor,
                                      reservation_state_names},
};

static const struct enum_table *enum_table_of(enum codec_enum which)
{
    if ((unsigned)which >= CODEC_ENUM_COUNT)
        return NULL;
    return &enum_tables[which];
}

bool codec_enum_declared(enum codec_enum which, int value)
{
    const struct enum_table *table = enum_table_of(which);
    return table != NULL && protobuf_c_enum_descriptor_get_value(table->descriptor, value) != NULL;
}

bool codec_enum_valid(enum codec_enum which, int value)
{
    return value != 0 && codec_enum_declared(which, value);
}

const char *codec_enum_name(enum codec_enum which, int value)
{
    const struct enum_table *table = enum_table_of(which);
    if (table == NULL || value == 0)
        return "unknown";
    for (const struct enum_name *entry = table->names; entry->name != NULL; entry++) {
        if (entry->value == value)
            return entry->name;
    }
    return "unknown";
}

int codec_enum_from_name(enum codec_enum which, const char *name)
{
    const struct enum_table *table = enum_table_of(which);
    if (table == NULL || name == NULL)
        return 0;
    for (const struct enum_name *entry = table->names; entry->name != NULL; entry++) {
        if (strcmp(entry->name, name) == 0)
            return entry->value;
    }
    return 0;
}

bool codec_role_valid(int value)
{
    return codec_enum_valid(CODEC_ENUM_ROLE, value);
}

bool codec_permission_kind_valid(int value)
{
    return codec_enum_valid(CODEC_ENUM_PERMISSION_KIND, value);
}

bool codec_offer_valid(int value)
{
    return codec_enum_valid(CODEC_ENUM_OFFER, value);
}

bool codec_subscription_status_valid(int value)
{
    return codec_enum_valid(CODEC_ENUM_SUBSCRIPTION_STATUS, value);
}

bool codec_azure_role_valid(int value)
{
    return codec_enum_valid(CODEC_ENUM_AZURE_ROLE, value);
}

bool codec_term_valid(int value)
{
    return codec_enum_valid(CODEC_ENUM_TERM, value);
}

bool codec_billing_plan_valid(int value)
{
    return codec_enum_valid(CODEC_ENUM_BILLING_PLAN, value);
}

bool codec_scope_kind_valid(int value)
{
    return codec_enum_valid(CODEC_ENUM_SCOPE_KIND, value);
}

bool codec_purchaser_valid(int value)
{
    return codec_enum_valid(CODEC_ENUM_PURCHASER, value);
}

bool codec_reservation_state_valid(int value)
{
    return codec_enum_valid(CODEC_ENUM_RESERVATION_STATE, value);
}

const char *codec_role_name(int value)
{
    return codec_enum_name(CODEC_ENUM_ROLE, value);
}

int codec_role_from_name(const char *name)
{
    return codec_enum_from_name(CODEC_ENUM_ROLE, name);
}
