/*
 * oldlog.h: writes records as earlier builds wrote them, for tests of what
 * this build makes of their logs (a rebuild, the offline verifier).
 *
 * Owns: appending an event straight to the log and the Merkle tree
 * (store_append, merkle_append) in a write transaction of its own, and the
 * envelope a commit of an earlier build gave the events it appends by name.
 * Does not own: decisions, views, the stream and command indexes. Nothing
 * checks the events against the rules of this build, which is the point: a
 * log can hold what this build would refuse. engine_rebuild derives the
 * views and indexes of such a log.
 */
#ifndef LEDGER_OLDLOG_H
#define LEDGER_OLDLOG_H

#include <stdint.h>

#include "codec.h"
#include "error.h"
#include "store.h"

/* The time every event appended by name is recorded and dated at
 * (2025-01-01T00:00:00Z). */
#define OLDLOG_TIME_US INT64_C(1735689600000000)

/* Appends `event` as the next record: sets its sequence, keeps the rest of
 * its envelope and its body as the caller set them. `store` and `event`
 * borrowed. *sequence_out (may be NULL) is the record's sequence. Errors:
 * those of codec_pack, store_append, merkle_append and the commit. */
__attribute__((warn_unused_result)) enum ledger_err
oldlog_append(struct store *store, Ledger__V1__Event *event, uint64_t *sequence_out);

/* Where an event appended by name goes, and the schema version it records
 * (LEDGER_SCHEMA_VERSION for this build's; another for a test of what a
 * rebuild makes of one it does not read). Its command id is made of the
 * partner, customer and stream version, which no two such events share. */
struct oldlog_envelope {
    const char *partner_id;
    const char *customer_id; /* "" for an event of no customer's stream */
    uint64_t stream_version; /* 0 for an event of no customer's stream, else 1, 2, ... */
    uint32_t schema_version;
};

/* Appends a PartnerRegistered by the operator, of the envelope's partner. */
__attribute__((warn_unused_result)) enum ledger_err
oldlog_partner_registered(struct store *store, const struct oldlog_envelope *at,
                          uint64_t *sequence_out);

/* Appends a SubscriptionPurchased of `subscription_id` by the partner's
 * admin agent, for the envelope's customer. */
__attribute__((warn_unused_result)) enum ledger_err
oldlog_subscription_purchased(struct store *store, const struct oldlog_envelope *at,
                              const char *subscription_id, uint64_t *sequence_out);

/* The log the reports of shared subscription ids are tested on, appended
 * to whatever `store` holds: partners p-a and p-b registered; sub-shared
 * bought by c-2 of p-a, then by c-1 of p-a (the one id two customers of
 * one partner hold, named in that order, the reverse of the index's), and
 * by c-1 of p-b; sub-moved by c-3 of p-a and c-4 of p-b (customers of two
 * partners: no finding); sub-once by c-1 of p-a. */
struct oldlog_shared {
    uint64_t first;  /* the SubscriptionPurchased of sub-shared by c-2 of p-a */
    uint64_t second; /* and by c-1 of p-a */
};
__attribute__((warn_unused_result)) enum ledger_err
oldlog_shared_subscription(struct store *store, struct oldlog_shared *out);

#endif
