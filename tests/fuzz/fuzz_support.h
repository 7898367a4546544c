/*
 * fuzz_support.h: the fixed world the fuzz targets decide and query against.
 *
 * Owns: the fixture of docs/fuzzing.md: one partner "p1" (and an empty second
 * partner "p2"), one principal of every role with the same fixed secret, and a
 * customer "c1" of p1 that is onboarded, holds an active Azure plan
 * subscription with user u1 as Owner, has both purchase permissions on, two
 * reservations (one bought by the partner, one by the customer user) and two
 * savings plans. The same fixture exists twice: as a pure domain state (built
 * by deciding and evolving its commands, for fuzz_command and fuzz_record) and
 * as a real engine in a temporary data directory (for fuzz_request and
 * fuzz_query). Both number their events alike, so ids such as "res-<seq>"
 * are the same in both.
 * Does not own: what the targets check (each fuzz_<name>.c says).
 *
 * Every fixture is built once per process; a fixture that cannot be built
 * aborts with a message, since a fuzz run without it would test nothing.
 */
#ifndef LEDGER_FUZZ_SUPPORT_H
#define LEDGER_FUZZ_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec.h"
#include "domain.h"
#include "ledger_limits.h"

/* The fuzz targets' clock: 2026-01-01T00:00:00Z. Fixture events are recorded
 * at this time too; requests are signed with it. */
#define FUZZ_NOW_US INT64_C(1767225600000000)

#define FUZZ_PARTNER_ID       "p1"
#define FUZZ_OTHER_PARTNER_ID "p2"
#define FUZZ_CUSTOMER_ID      "c1"
#define FUZZ_USER             "u1"
#define FUZZ_OPERATOR_ID      "operator"

/* Every principal's secret: 32 bytes of 0x5a (docs/fuzzing.md), so that seed
 * requests carry MACs that verify and the request target can re-sign. */
extern const uint8_t fuzz_secret[LEDGER_SECRET_BYTES];

struct fuzz_principal {
    const char *id;
    Ledger__V1__Role role;
    const char *partner_id;
    const char *customer_id;
    const char *user;
    bool revoked;
};

/* One principal of every role (admin, sales, help desk, customer user,
 * auditor, billing, operator, an auditor of all partners, a revoked admin, an
 * admin of p2), the operator first. */
extern const struct fuzz_principal fuzz_principals[];
extern const size_t fuzz_principal_count;
const struct fuzz_principal *fuzz_principal_find(const char *id);
void fuzz_domain_principal(const struct fuzz_principal *principal, struct domain_principal *out);

/* The fixture's customer commands, serialized, in order, with who sends
 * them. fuzz_fixture_first_sequence is the sequence the first of them gets in
 * the engine (after the operator's setup). */
struct fuzz_step {
    const struct fuzz_principal *principal;
    uint8_t *bytes;
    size_t size;
};
size_t fuzz_fixture_customer_steps(const struct fuzz_step **out);
/* The operator's setup commands (partners, principals, the revocation). */
size_t fuzz_fixture_setup_steps(const struct fuzz_step **out);
uint64_t fuzz_fixture_first_sequence(void);

/* The fixed customer state of c1 after every customer step (built by
 * domain_decide + domain_customer_evolve). Borrowed: clone it to change it. */
const struct domain_customer *fuzz_customer_state(void);
/* Whether an add_principal command names a customer the fixture onboarded
 * (c1 of p1): what the engine tells domain_decide as
 * principal_customer_onboarded. False for every other command. */
bool fuzz_principal_customer_onboarded(const char *partner_id, const Ledger__V1__Command *command);
/* The sequence the next event of the fixture would get. */
uint64_t fuzz_next_sequence(void);

/* Writes a file (for corpus generation); false on any error. */
bool fuzz_write_file(const char *path, const uint8_t *bytes, size_t size);

/* Aborts with a message: a fixture could not be built, or a property a
 * target checks does not hold (libFuzzer then saves the input). */
__attribute__((noreturn, format(printf, 1, 2))) void fuzz_fail(const char *format, ...);

/* A property of the code under test; stays on in every build. */
#define FUZZ_CHECK(condition)                                                                      \
    do {                                                                                           \
        if (!(condition)) {                                                                        \
            fuzz_fail("%s:%d: check failed: %s", __FILE__, __LINE__, #condition);                  \
        }                                                                                          \
    } while (0)

#endif
