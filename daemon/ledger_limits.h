/*
 * ledger_limits.h: every limit of the ledger, in one place, each with why it is what
 * it is (in the manner of SQLite's sqliteLimit.h). Limits that operators may
 * change are defaults here and settings in the config file (docs/operations.md).
 */
#ifndef LEDGER_LIMITS_H
#define LEDGER_LIMITS_H

#include <stdint.h>

/* Ids (partner, customer, subscription, principal, command, user, reservation)
 * are short printable strings: long enough for a GUID with a prefix, short
 * enough that an index key of three of them stays far below LMDB's 511-byte
 * key limit. */
#define LEDGER_ID_LENGTH_MAX 64
/* Free text (names) is shown in tables; a page of it is plenty. */
#define LEDGER_NAME_LENGTH_MAX 200
/* SKU and region names; Azure's longest SKU names are about 40 characters. */
#define LEDGER_SKU_LENGTH_MAX 80

/* Money: amounts are int64 minor units. A single purchase above 10^13 minor
 * units (USD 100 billion) is a typing mistake, and the cap keeps sums of many
 * purchases far from int64 overflow. */
#define LEDGER_AMOUNT_MINOR_MAX INT64_C(10000000000000)

/* Rule 7 of docs/domain.md: refunds per customer capped at USD 50,000 of cancelled
 * commitment in any rolling 365 days. */
#define LEDGER_REFUND_CAP_USD_MINOR INT64_C(5000000)
#define LEDGER_REFUND_WINDOW_US     (INT64_C(365) * 24 * 3600 * 1000000)

/* Reservation quantity: Azure allows up to a few thousand instances per order. */
#define LEDGER_QUANTITY_MAX 10000

/* Per-customer aggregate bounds (the decision state held in memory). A customer
 * with more than this is refused with a clear error rather than slowing every
 * decision; the numbers are far above what a reseller's customer holds. */
#define LEDGER_CUSTOMER_SUBSCRIPTIONS_MAX 256
#define LEDGER_CUSTOMER_ROLES_MAX         4096
#define LEDGER_CUSTOMER_RESERVATIONS_MAX  16384
#define LEDGER_CUSTOMER_SAVINGS_PLANS_MAX 4096
#define LEDGER_CUSTOMER_REFUNDS_MAX       4096

/* Holders of one subscription id that views_subscription_duplicates hands
 * over, earliest purchase first, when a log of an earlier build holds the id
 * under several customers of a partner (the others are counted, not named):
 * enough to name every holder of an id recorded by mistake for a few
 * customers, and a fixed array keeps the walk's memory the same however
 * many customers hold one id. */
#define LEDGER_DUPLICATE_HOLDERS_LISTED_MAX 16
/* Such ids `ledgerd rebuild` names after its report (it counts them all;
 * ledger-verify lists every one): enough to start with, short enough that
 * the views' report stays on one screen. */
#define LEDGER_REBUILD_DUPLICATES_SHOWN 5

/* Switch changes kept per customer for the permissions history and "as of"
 * answers: a switch turned on and off daily for eleven years. */
#define LEDGER_CUSTOMER_PERMISSION_CHANGES_MAX 8192

/* Subscription status changes kept per customer, so that purchases and grants
 * are decided against the status a subscription had at their business time:
 * as many as permission changes, shared by all of its subscriptions. */
#define LEDGER_CUSTOMER_STATUS_CHANGES_MAX 8192

/* Removed role assignments kept per customer, so that customer purchases are
 * decided against the roles held at their business time: as many as
 * permission changes, shared by all of its users and subscriptions. */
#define LEDGER_CUSTOMER_ROLE_REMOVALS_MAX 8192

/* Business time (Command.business_us) may be later than the time the ledger
 * records by at most the authentication window: clients' clocks are trusted
 * that far and no further, so that nobody can date a purchase or a refund in
 * the future. */
#define LEDGER_BUSINESS_FUTURE_US LEDGER_AUTH_WINDOW_US
/* The latest time any field may hold: 9999-12-31T23:59:59.999999Z. Adding a
 * five-year term to it stays far from int64 overflow. */
#define LEDGER_TIME_US_MAX INT64_C(253402300799999999)

/* Reservations returned by one exchange. */
#define LEDGER_EXCHANGE_RETURNS_MAX 32
/* Reservations one exchange buys in their place. The cloud's exchanges trade
 * a handful; as many as may be returned lets any regrouping (one for many,
 * many for one, or many for many) be recorded as one event, which stays well
 * under a kilobyte per replacement, and keeps the generated ids short
 * (res-<seq>-32, see the assertion below). */
#define LEDGER_EXCHANGE_REPLACEMENTS_MAX 32

/* Requests. nanomsg's own default receive limit is 1 MiB; ours is explicit. */
#define LEDGER_REQUEST_BYTES_DEFAULT (1024 * 1024)
#define LEDGER_REQUEST_BYTES_MAX     (64 * 1024 * 1024)
/* An atomic batch (bulk import): a thousand commands of a few hundred bytes
 * stays well inside one request. */
#define LEDGER_BATCH_COMMANDS_DEFAULT 1000
#define LEDGER_BATCH_COMMANDS_MAX     100000
/* Requests decided in one group commit. Bounds the write transaction's size
 * and the latency of the last request in the group. */
#define LEDGER_GROUP_REQUESTS_MAX 1024
/* Command requests accepted but not yet answered (setting
 * inflight_requests_max); past this the daemon stops reading its socket
 * (back-pressure) instead of growing without bound. Each holds its request
 * (at most request_bytes_max) until answered, so the two bound the memory
 * requests take: 4 GiB with both at their defaults. */
#define LEDGER_INFLIGHT_REQUESTS_DEFAULT 4096
#define LEDGER_INFLIGHT_REQUESTS_MAX     65536

/* Authentication: a request's timestamp must be within this window of the
 * daemon's clock. Five minutes tolerates ordinary clock drift; a captured
 * request replayed later than that is refused as stale, and within it a
 * replayed command has no new effect: a committed one by the command-id
 * index, a refused one because the daemon remembers it (replay.h) and
 * answers the replay with the same refusal. */
#define LEDGER_AUTH_WINDOW_US (INT64_C(300) * 1000000)
/* The narrowest window a daemon accepts (auth_window_s >= 1). A request
 * refused STALE_REQUEST within this long of being signed and sent did not
 * leave any window while it waited in the daemon: the clocks disagree, and
 * signing it again cannot help. */
#define LEDGER_AUTH_WINDOW_MIN_US (INT64_C(1) * 1000000)
/* How many times libledger signs a request again, in one call, after
 * STALE_REQUEST: once for any (signed before the daemon started), and again
 * only when the refused attempt waited at least LEDGER_AUTH_WINDOW_MIN_US
 * (queued behind slow commits past the window). Bounded, so that a daemon
 * that is slow beyond its window ends the call instead of looping. */
#define LEDGER_STALE_RESIGNS_MAX 3
_Static_assert(LEDGER_AUTH_WINDOW_MIN_US <= LEDGER_AUTH_WINDOW_US, "the default is a window");
/* Refused command requests remembered for their window (about 64 bytes
 * each, 16 MiB reserved): a minute of refusals at over 4,000 a second. Past
 * it the oldest are forgotten early, which is logged and counted. */
#define LEDGER_REPLAY_REMEMBERED_MAX (256 * 1024)

#define LEDGER_SECRET_BYTES 32
#define LEDGER_NONCE_BYTES  16
#define LEDGER_MAC_BYTES    32

/* Queries. Pages bound the size of one reply. */
#define LEDGER_EVENTS_PAGE_DEFAULT 500
#define LEDGER_EVENTS_PAGE_MAX     10000
#define LEDGER_ROWS_PAGE_DEFAULT   100
#define LEDGER_ROWS_PAGE_MAX       10000
/* Unpaged view queries (reservations, orders, savings plans, permissions,
 * billing, principals) answer TOO_LARGE rather than a silently truncated
 * list past this many rows: at a few hundred bytes a row the reply stays far
 * below LEDGER_REQUEST_BYTES_MAX. */
#define LEDGER_VIEW_ROWS_MAX 100000
/* Activity rows one activity query may examine before it returns the page it
 * has (possibly empty) with a page token: a filter that matches rarely must
 * not make one request walk a partner's whole history. */
#define LEDGER_ACTIVITY_SCAN_MAX 100000
/* Event type filters in one events query. */
#define LEDGER_EVENT_TYPES_FILTER_MAX 32

/* Storage. LMDB's map is both the address space reserved and the largest the
 * file may grow: start small, grow by doubling on MDB_MAP_FULL up to the max. */
#define LEDGER_MAP_BYTES_INITIAL     (UINT64_C(64) * 1024 * 1024)
#define LEDGER_MAP_BYTES_MAX_DEFAULT (UINT64_C(64) * 1024 * 1024 * 1024)
/* LMDB reader slots: one per concurrent read transaction of any process. The
 * daemon uses a few; backups and offline tools one each. */
#define LEDGER_READERS_MAX 126
/* A write transaction that fails with MDB_MAP_FULL is retried after growing;
 * doubling from 64 MiB reaches 64 GiB in ten steps. */
#define LEDGER_MAP_GROW_RETRIES_MAX 16
/* Growing the map remaps the file, so it waits for the process's open
 * transactions (queries on other threads) to end and holds new ones back.
 * Queries last milliseconds; a transaction still open after this long is a
 * bug or a stuck client, and the growth gives up (STORAGE_ERROR) rather than
 * stall the writer and every reader behind it. */
#define LEDGER_MAP_GROW_WAIT_MS 10000
/* A backup is built in a partial directory beside its final name,
 * ".NAME.partial-PID-TIME_US" (docs/operations.md, Backup), and renamed when
 * whole. It keeps at most this many bytes of NAME, so that it fits a file
 * name (NAME_MAX, 255) with the pid and the time (20 digits each at most);
 * ledgerctl's progress bar finds the partial directory by the same prefix. */
#define LEDGER_BACKUP_PARTIAL_NAME_KEPT 180
/* Customer states kept in memory between commands: at most this many, and
 * at most this many bytes (domain_customer_bytes); past either bound the cache
 * is emptied after a commit and states reload from the log as needed. */
#define LEDGER_STATE_CACHE_MAX       65536
#define LEDGER_STATE_CACHE_BYTES_MAX (UINT64_C(256) * 1024 * 1024)

/* How often, by default, the daemon records the expiry of reservations
 * past their term (expiry_sweep_s): five minutes keeps the views close to
 * the truth while each sweep (which reads every reservation row) stays rare. */
#define LEDGER_EXPIRY_SWEEP_S 300
/* Reservation rows one scan of a sweep reads in its read transaction; a
 * sweep over more goes on in further scans, each from where the last
 * stopped, so no read transaction stays open long enough to hold back the
 * reuse of pages. */
#define LEDGER_EXPIRY_SCAN_ROWS 65536

/* A saved head file (a backup's head.pb, `ledgerctl head --save`) is one
 * serialized SignedHead, about 150 bytes: a larger file is no head, and is
 * refused whole rather than read in part by ledgerd, ledgerctl and
 * ledger-verify alike. */
#define LEDGER_HEAD_FILE_MAX 4096

/* Commits slower than this are logged. */
#define LEDGER_SLOW_COMMIT_US 100000

/* Events schema version written by this build (Event.schema_version).
 * 1: the first. 2: an exchange may buy several replacements
 * (ReservationExchanged.replacements, field 4, which version 1 holds exactly
 * once): builds that know only version 1 would read several as one, so they
 * must refuse these records instead (docs/events.md, "Schema evolution"). */
#define LEDGER_SCHEMA_VERSION 2

_Static_assert(LEDGER_BATCH_COMMANDS_DEFAULT <= LEDGER_BATCH_COMMANDS_MAX,
               "default batch within maximum");
_Static_assert(LEDGER_REQUEST_BYTES_DEFAULT <= LEDGER_REQUEST_BYTES_MAX,
               "default request size within maximum");
_Static_assert(LEDGER_EVENTS_PAGE_DEFAULT <= LEDGER_EVENTS_PAGE_MAX, "default page within max");
_Static_assert(LEDGER_ROWS_PAGE_DEFAULT <= LEDGER_ROWS_PAGE_MAX, "default page within max");
_Static_assert(LEDGER_ROWS_PAGE_MAX <= LEDGER_ACTIVITY_SCAN_MAX, "a full page can be found");
_Static_assert(LEDGER_INFLIGHT_REQUESTS_DEFAULT <= LEDGER_INFLIGHT_REQUESTS_MAX,
               "default requests in flight within maximum");
_Static_assert(3 * (LEDGER_ID_LENGTH_MAX + 1) + 8 < 511, "index keys fit LMDB's key limit");
/* "res-" + 20 digits of a u64 sequence + "-" + the replacement's number. */
_Static_assert(4 + 20 + 1 + 2 <= LEDGER_ID_LENGTH_MAX && LEDGER_EXCHANGE_REPLACEMENTS_MAX < 100,
               "an exchange's generated ids fit an id");
_Static_assert(LEDGER_MAP_BYTES_INITIAL <= LEDGER_MAP_BYTES_MAX_DEFAULT, "initial map within max");

#endif
