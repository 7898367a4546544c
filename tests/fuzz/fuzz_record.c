/*
 * fuzz_record.c: libFuzzer target for the record decoder that replay,
 * rebuild and verification use (codec_event_unpack) and for evolving a
 * customer's state by a record (domain_customer_evolve).
 *
 * Method: an input is one of two shapes.
 *   A record: the bytes of one stored record (a serialized Event). When it
 *   decodes, it is named (event type, activity action, partner visibility)
 *   and applied to copies of two states: a fresh customer and the fixture
 *   customer c1 (fuzz_support.h). Each is tried twice: with the record as it
 *   is, and with its envelope forced to fit the state (partner, customer,
 *   the next stream version, schema version 1), so that nonsense bodies
 *   reach the body checks instead of stopping at the envelope.
 *   A stream: the byte 0xff (which starts no protobuf message: field 31
 *   with the undefined wire type 7), then up to FUZZ_STREAM_RECORDS_MAX
 *   records, each a 2-byte big-endian length and the record. They are
 *   replayed in order into one fresh state, envelopes forced, as replay
 *   does with a customer's stream, so that later records meet the states
 *   earlier ones made (cancel after exchange, renew after expiry...). The
 *   same records are replayed beside it by business time
 *   (domain_customer_evolve_dated), dated at the first record's business
 *   time, as "as of" answers replay.
 *
 * Checked: no crash, leak or undefined behaviour; a record that does not
 * decode is CORRUPT; evolve returns OK, CORRUPT or NO_MEMORY; after an error
 * the state is unchanged (version, onboarding, switches and every array's
 * length); after OK the state is at the record's stream version. By
 * business time: the whole state fails exactly where plain evolve does,
 * the dated state after CORRUPT is as it was, and after OK holds no more
 * of anything than the whole state, at its version, and took the record
 * only if dated at or before the date.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "domain.h"
#include "fuzz_support.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    (void)fuzz_customer_state();
    return 0;
}

/* What a failed evolve must leave as it was. */
struct summary {
    uint64_t version;
    bool onboarded, retail_prices_visible;
    bool permission_on[3];
    size_t counts[7];
};

static void summarize(const struct domain_customer *customer, struct summary *out)
{
    memset(out, 0, sizeof *out);
    out->version = customer->version;
    out->onboarded = customer->onboarded;
    out->retail_prices_visible = customer->retail_prices_visible;
    memcpy(out->permission_on, customer->permission_on, sizeof out->permission_on);
    out->counts[0] = customer->subscription_count;
    out->counts[1] = customer->role_count;
    out->counts[2] = customer->permission_change_count;
    out->counts[3] = customer->reservation_count;
    out->counts[4] = customer->savings_plan_count;
    out->counts[5] = customer->refund_count;
    out->counts[6] = customer->role_removal_count;
}

/* Evolves `state` in place and checks the outcome. */
static void evolve_checked(struct domain_customer *state, const Ledger__V1__Event *event)
{
    struct summary before, after;
    summarize(state, &before);
    enum ledger_err err = domain_customer_evolve(state, event);
    summarize(state, &after);
    if (err == LEDGER_ERR_OK) {
        FUZZ_CHECK(state->version == event->stream_version);
        FUZZ_CHECK(state->version == before.version + 1);
    } else {
        FUZZ_CHECK(err == LEDGER_ERR_CORRUPT || err == LEDGER_ERR_NO_MEMORY);
        FUZZ_CHECK(memcmp(&before, &after, sizeof before) == 0);
    }
}

static void evolve_copy(const struct domain_customer *state, const Ledger__V1__Event *event)
{
    struct domain_customer *copy = domain_customer_clone(state);
    FUZZ_CHECK(copy != NULL);
    evolve_checked(copy, event);
    domain_customer_free(copy);
}

/* An event's envelope, saved while it is forced to fit a state. */
struct envelope {
    char *partner_id, *customer_id;
    uint64_t stream_version;
    uint32_t schema_version;
};

static void envelope_force(Ledger__V1__Event *event, const struct domain_customer *state,
                           struct envelope *saved)
{
    saved->partner_id = event->partner_id;
    saved->customer_id = event->customer_id;
    saved->stream_version = event->stream_version;
    saved->schema_version = event->schema_version;
    event->partner_id = (char *)state->partner_id;
    event->customer_id = (char *)state->customer_id;
    event->stream_version = state->version + 1;
    event->schema_version = LEDGER_SCHEMA_VERSION;
}

/* Puts the decoded strings back, so that the event frees what it owns. */
static void envelope_restore(Ledger__V1__Event *event, const struct envelope *saved)
{
    event->partner_id = saved->partner_id;
    event->customer_id = saved->customer_id;
    event->stream_version = saved->stream_version;
    event->schema_version = saved->schema_version;
}

/* Applies the event as it is, then with its envelope made to fit `state`. */
static void evolve_both_ways(const struct domain_customer *state, Ledger__V1__Event *event)
{
    evolve_copy(state, event);
    struct envelope saved;
    envelope_force(event, state, &saved);
    evolve_copy(state, event);
    envelope_restore(event, &saved);
}

#define FUZZ_STREAM_MARK        0xff
#define FUZZ_STREAM_RECORDS_MAX 64

/* A stream replayed by business time beside the plain replay. */
struct dated_replay {
    struct domain_customer *known, *dated;
    int64_t dated_us;
    bool dated_set, stopped;
};

/* Replays the record by business time; `applied`: whether plain evolve took
 * it (the envelope was forced to fit both, which share their version). */
static void dated_step(struct dated_replay *r, const Ledger__V1__Event *event, bool applied)
{
    if (r->stopped) {
        return;
    }
    if (!r->dated_set) {
        r->dated_us = domain_event_business_us(event);
        r->dated_set = true;
    }
    struct summary before, after;
    summarize(r->dated, &before);
    bool included = false;
    enum ledger_err err =
        domain_customer_evolve_dated(r->known, r->dated, event, r->dated_us, &included);
    if (err == LEDGER_ERR_NO_MEMORY) {
        r->stopped = true;
        return;
    }
    FUZZ_CHECK(err == LEDGER_ERR_OK || err == LEDGER_ERR_CORRUPT);
    FUZZ_CHECK((err == LEDGER_ERR_OK) == applied);
    summarize(r->dated, &after);
    if (err != LEDGER_ERR_OK) {
        FUZZ_CHECK(memcmp(&before, &after, sizeof before) == 0);
        return;
    }
    FUZZ_CHECK(!included || domain_event_business_us(event) <= r->dated_us);
    FUZZ_CHECK(r->dated->version == r->known->version);
    FUZZ_CHECK(r->dated->subscription_count <= r->known->subscription_count);
    FUZZ_CHECK(r->dated->reservation_count <= r->known->reservation_count);
    FUZZ_CHECK(r->dated->savings_plan_count <= r->known->savings_plan_count);
    FUZZ_CHECK(r->dated->permission_change_count <= r->known->permission_change_count);
    FUZZ_CHECK(r->dated->onboarded ||
               (r->dated->reservation_count == 0 && r->dated->subscription_count == 0));
}

static void replay_stream(const uint8_t *data, size_t size)
{
    struct domain_customer *state = domain_customer_new(FUZZ_PARTNER_ID, FUZZ_CUSTOMER_ID);
    FUZZ_CHECK(state != NULL);
    struct dated_replay dated = {
        .known = domain_customer_new(FUZZ_PARTNER_ID, FUZZ_CUSTOMER_ID),
        .dated = domain_customer_new(FUZZ_PARTNER_ID, FUZZ_CUSTOMER_ID),
    };
    FUZZ_CHECK(dated.known != NULL && dated.dated != NULL);
    size_t offset = 0;
    for (unsigned n = 0; n < FUZZ_STREAM_RECORDS_MAX && size - offset >= 2; n++) {
        size_t length = (size_t)data[offset] << 8 | data[offset + 1];
        offset += 2;
        if (length > size - offset) {
            length = size - offset;
        }
        Ledger__V1__Event *event = NULL;
        enum ledger_err err = codec_event_unpack(data + offset, length, &event);
        if (err == LEDGER_ERR_OK) {
            struct envelope saved;
            envelope_force(event, state, &saved);
            evolve_checked(state, event);
            dated_step(&dated, event, state->version == event->stream_version);
            envelope_restore(event, &saved);
            codec_event_free(event);
        } else {
            FUZZ_CHECK(err == LEDGER_ERR_CORRUPT);
        }
        offset += length;
    }
    domain_customer_free(state);
    domain_customer_free(dated.known);
    domain_customer_free(dated.dated);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 0 && data[0] == FUZZ_STREAM_MARK) {
        replay_stream(data + 1, size - 1);
        return 0;
    }
    Ledger__V1__Event *event = NULL;
    enum ledger_err err = codec_event_unpack(data, size, &event);
    if (err != LEDGER_ERR_OK) {
        FUZZ_CHECK(err == LEDGER_ERR_CORRUPT);
        return 0;
    }
    (void)strlen(codec_event_type_name(event->body_case));
    FUZZ_CHECK(domain_action_name(event) != NULL);
    (void)domain_partner_visible(event);

    struct domain_customer *fresh = domain_customer_new(FUZZ_PARTNER_ID, FUZZ_CUSTOMER_ID);
    FUZZ_CHECK(fresh != NULL);
    evolve_both_ways(fresh, event);
    domain_customer_free(fresh);
    evolve_both_ways(fuzz_customer_state(), event);
    codec_event_free(event);
    return 0;
}
