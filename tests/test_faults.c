/*
 * test_faults.c: the engine's error paths that a SIGKILL cannot reach.
 *
 * Goal: when LMDB or the system fails in the middle of a command (a commit
 * that fails with EIO, an fdatasync or a page write that fails with EIO, a
 * put that fails with MDB_MAP_FULL, ENOMEM or EIO, an allocation that fails
 * anywhere on the command's path), engine_execute returns the documented code (STORAGE_ERROR
 * for I/O errors, NO_MEMORY for memory, STORAGE_FULL only when the map cannot
 * grow: a map-full below the maximum is absorbed by growing and retrying) and
 * leaves nothing half-written: the head does not move, the command id is not
 * taken (the same command sent again is committed as new, not answered as a
 * duplicate), the in-memory state is not ahead of the log (the retry is not
 * refused as if the first attempt had happened), and after reopening the
 * directory every view equals a fresh replay (engine_rebuild finds 0
 * differences). The cache of refused requests (replay.c) whose allocation
 * fails is NO_MEMORY and makes no cache.
 *
 * Method: link-time wrapping (-Wl,--wrap=..., set on this target only in
 * tests/CMakeLists.txt). Each __wrap_ function calls the real one unless a
 * test armed it to fail its Nth call from now; each test sweeps N from 1
 * until the command completes without reaching the fault, so every call site
 * on the command's path fails once. LMDB is linked statically into this test
 * (whole archive) so that its internal fdatasync, pwrite, writev and
 * allocations are wrapped too. A failed write of LMDB's meta page leaves the
 * environment refusing every transaction (MDB_PANIC) until it is reopened:
 * test_faults_write_eio pins that down. The mkdirat and mdb_txn_commit
 * wrappers can also hold the call until the test lets it go: a second backup
 * then surely comes while the first still runs (one at a time: UNAVAILABLE),
 * and requests surely queue behind a running commit (two copies of the same
 * request bytes: the second answered by the first's outcome; a client that
 * goes away before its reply), and a second signal surely comes while the
 * daemon still stops. The expiry schedule's scan (engine_expiries_due) and
 * the row queries of the server's workers (engine_query off the loop's
 * thread) can be held the same way, and the schedule's timer ticks
 * (sweep_tick) are counted: a stop surely comes during a scan, and the timer
 * surely fires while every worker is busy. free is wrapped too, with
 * crypto_random: a new principal's secret is then known, and each freed
 * block is searched for it (a copy freed without being wiped). It includes <lmdb.h>, as only
 * test_store and test_verify also do: it must, to declare the wrapped
 * functions and return LMDB's own codes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <lmdb.h>
#include <nanomsg/nn.h>
#include <pthread.h>

#include "engine.h"
#include "rawproto.h"
#include "replay.h"
#include "server.h"
#include "sweep.h"
#include "test_util.h"

#define NOW_US INT64_C(1767225600000000) /* 2026-01-01T00:00:00Z */
/* When customer_batch's customers were onboarded. */
#define ONBOARDED_US INT64_C(1577836800000000) /* 2020-01-01T00:00:00Z */
/* No command's path makes this many calls to one wrapped function: a sweep
 * that reaches it is a runaway. */
#define FAULT_SWEEP_MAX 100000
/* The smallest map the store accepts (its initial size): a map that cannot grow. */
#define FAULT_MAP_BYTES (UINT64_C(64) * 1024 * 1024)

/* --- the wrappers ---------------------------------------------------------------------- */

struct fault {
    long countdown; /* 0: disarmed; n: the nth call from now fails */
    int error;      /* what the failing call returns (or sets errno to) */
    unsigned long fired;
    unsigned long calls; /* every call, armed or not */
};

static struct fault fault_commit, fault_put, fault_sync, fault_alloc, fault_write, fault_fsync,
    fault_copy_write, fault_mkdirat, fault_rename, fault_read;
/* When set, only the puts of this key count toward fault_put, and the one
 * that fails leaves LMDB's transaction failed, as a put that really fills the
 * map (or fails for want of memory, or to write a spilled page) does: LMDB
 * then refuses every call on it but the abort. The map sizes that put and
 * the last put of the key saw are kept. */
static char fault_put_key[32];
static uint64_t fault_put_key_failed_map, fault_put_key_last_map;
/* The name the last mkdirat made (a backup's partial directory). */
static char mkdirat_name[NAME_MAX + 1];
/* Races a backup's steps, as another process could: mkdirat's directory is
 * moved away and a symbolic link put in its place; renameat2's target is
 * made first. */
static bool race_mkdirat, race_rename;
/* fstatvfs reports no room left, as on a full file system. */
static bool disk_full;
/* A call held until the test lets it go: a backup at its mkdirat, as a
 * backup of a large ledger is still copying when the next request comes; a
 * group at its mdb_txn_commit, as a slow disk holds a commit while requests
 * queue behind it. */
struct gate {
    bool closed;      /* the next call waits */
    unsigned waiting; /* how many calls wait */
};
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_changed = PTHREAD_COND_INITIALIZER;
static struct gate gate_mkdirat, gate_commit;
/* The expiry schedule watched: the ticks of its timer and its scans are
 * counted (and the ticks seen when the first scan began kept), and a scan
 * can be held at its start, as a scan of many reservations still reads when
 * a stop comes. A row query on a worker thread can be held too, as a large
 * one still reads while the schedule's timer fires; the loop's own queries
 * are never held (the loop is the thread of serve_main). */
static struct gate gate_scan, gate_row_query;
/* A scan that found expiries can be held once it has them, before the
 * schedule commits them, as a reservation changes meanwhile. */
static struct gate gate_scan_found;
/* A commit can be held once LMDB has made it visible (its mdb_txn_commit
 * returned), before the engine records the new head: the nth
 * mdb_txn_commit from when committed_countdown is set (the nested
 * transactions of requests of several commands commit through it too)
 * passes gate_committed after committing. */
static struct gate gate_committed;
static _Atomic long committed_countdown;
static _Atomic uint64_t sweep_ticks, sweep_scans, ticks_at_first_scan;
static pthread_t loop_thread;

/* Waits while `gate` is closed. */
static void gate_pass(struct gate *gate)
{
    pthread_mutex_lock(&gate_lock);
    if (gate->closed) {
        gate->waiting++;
        pthread_cond_broadcast(&gate_changed);
        while (gate->closed) {
            pthread_cond_wait(&gate_changed, &gate_lock);
        }
        gate->waiting--;
    }
    pthread_mutex_unlock(&gate_lock);
}

static void gate_set(struct gate *gate, bool closed)
{
    pthread_mutex_lock(&gate_lock);
    gate->closed = closed;
    pthread_cond_broadcast(&gate_changed);
    pthread_mutex_unlock(&gate_lock);
}

/* Waits up to 20 s for `calls` calls to wait at `gate` together. */
static bool gate_reached_by(struct gate *gate, unsigned calls)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 20;
    pthread_mutex_lock(&gate_lock);
    int rc = 0;
    while (gate->waiting < calls && rc == 0) {
        rc = pthread_cond_timedwait(&gate_changed, &gate_lock, &until);
    }
    bool reached = gate->waiting >= calls;
    pthread_mutex_unlock(&gate_lock);
    return reached;
}

/* Waits up to 20 s for a call to wait at `gate`. */
static bool gate_reached(struct gate *gate)
{
    return gate_reached_by(gate, 1);
}

/* The faults are armed by the test's thread and hit by the daemon's threads
 * (the loop, the commit thread, the query workers, a rebuild's digest
 * thread): every access holds fault_lock. */
static pthread_mutex_t fault_lock = PTHREAD_MUTEX_INITIALIZER;

static bool fault_hit(struct fault *fault)
{
    pthread_mutex_lock(&fault_lock);
    bool hit = false;
    fault->calls++;
    if (fault->countdown > 0 && --fault->countdown == 0) {
        fault->fired++;
        hit = true;
    }
    pthread_mutex_unlock(&fault_lock);
    return hit;
}

static void fault_arm(struct fault *fault, long nth, int error)
{
    pthread_mutex_lock(&fault_lock);
    fault->countdown = nth;
    fault->error = error;
    fault->fired = 0;
    pthread_mutex_unlock(&fault_lock);
}

static unsigned long fault_fired(struct fault *fault)
{
    pthread_mutex_lock(&fault_lock);
    unsigned long fired = fault->fired;
    pthread_mutex_unlock(&fault_lock);
    return fired;
}

static unsigned long fault_calls(struct fault *fault)
{
    pthread_mutex_lock(&fault_lock);
    unsigned long calls = fault->calls;
    pthread_mutex_unlock(&fault_lock);
    return calls;
}

static void fault_disarm_all(void)
{
    pthread_mutex_lock(&fault_lock);
    fault_commit.countdown = 0;
    fault_put.countdown = 0;
    fault_read.countdown = 0;
    fault_sync.countdown = 0;
    fault_alloc.countdown = 0;
    fault_write.countdown = 0;
    fault_fsync.countdown = 0;
    fault_copy_write.countdown = 0;
    fault_mkdirat.countdown = 0;
    fault_rename.countdown = 0;
    fault_put_key[0] = '\0';
    pthread_mutex_unlock(&fault_lock);
    race_mkdirat = false;
    race_rename = false;
    disk_full = false;
}

int __real_mdb_txn_commit(MDB_txn *txn);
int __wrap_mdb_txn_commit(MDB_txn *txn);
int __real_mdb_put(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *data, unsigned int flags);
int __wrap_mdb_put(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *data, unsigned int flags);
int __real_mdb_get(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *data);
int __wrap_mdb_get(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *data);
int __real_mdb_cursor_get(MDB_cursor *cursor, MDB_val *key, MDB_val *data, MDB_cursor_op op);
int __wrap_mdb_cursor_get(MDB_cursor *cursor, MDB_val *key, MDB_val *data, MDB_cursor_op op);
int __real_fdatasync(int fd);
int __wrap_fdatasync(int fd);
ssize_t __real_pwrite(int fd, const void *buffer, size_t size, off_t offset);
ssize_t __wrap_pwrite(int fd, const void *buffer, size_t size, off_t offset);
ssize_t __real_writev(int fd, const struct iovec *vectors, int count);
ssize_t __wrap_writev(int fd, const struct iovec *vectors, int count);
int __real_fsync(int fd);
int __wrap_fsync(int fd);
ssize_t __real_write(int fd, const void *buffer, size_t size);
ssize_t __wrap_write(int fd, const void *buffer, size_t size);
int __real_mkdirat(int dirfd, const char *path, mode_t mode);
int __wrap_mkdirat(int dirfd, const char *path, mode_t mode);
int __real_renameat2(int from_dirfd, const char *from, int to_dirfd, const char *to,
                     unsigned flags);
int __wrap_renameat2(int from_dirfd, const char *from, int to_dirfd, const char *to,
                     unsigned flags);
int __real_fstatvfs(int fd, struct statvfs *out);
int __wrap_fstatvfs(int fd, struct statvfs *out);
void *__real_calloc(size_t count, size_t size);
/* A backup: the partial directory it builds in, and its rename to the
 * final name. */
int __wrap_mkdirat(int dirfd, const char *path, mode_t mode)
{
    gate_pass(&gate_mkdirat);
    snprintf(mkdirat_name, sizeof mkdirat_name, "%s", path);
    if (fault_hit(&fault_mkdirat)) {
        errno = fault_mkdirat.error;
        return -1;
    }
    int rc = __real_mkdirat(dirfd, path, mode);
    if (rc == 0 && race_mkdirat) {
        char moved[NAME_MAX + 16];
        snprintf(moved, sizeof moved, "%s.moved", path);
        if (renameat(dirfd, path, dirfd, moved) != 0 || symlinkat(moved, dirfd, path) != 0) {
            abort();
        }
    }
    return rc;
}

int __wrap_renameat2(int from_dirfd, const char *from, int to_dirfd, const char *to, unsigned flags)
{
    if (fault_hit(&fault_rename)) {
        errno = fault_rename.error;
        return -1;
    }
    if (race_rename && __real_mkdirat(to_dirfd, to, 0700) != 0) {
        abort();
    }
    return __real_renameat2(from_dirfd, from, to_dirfd, to, flags);
}

void *__wrap_calloc(size_t count, size_t size);
void *__real_malloc(size_t size);
void *__wrap_malloc(size_t size);
void *__real_realloc(void *pointer, size_t size);
void *__wrap_realloc(void *pointer, size_t size);

/* A failed commit ends the transaction, as LMDB's own failures do. */
int __wrap_mdb_txn_commit(MDB_txn *txn)
{
    gate_pass(&gate_commit);
    if (fault_hit(&fault_commit)) {
        mdb_txn_abort(txn);
        return fault_commit.error;
    }
    int rc = __real_mdb_txn_commit(txn);
    if (atomic_load(&committed_countdown) > 0 && atomic_fetch_sub(&committed_countdown, 1) == 1) {
        gate_pass(&gate_committed);
    }
    return rc;
}

enum ledger_err __real_engine_query(struct engine *engine, const struct engine_principal *principal,
                                    const Ledger__V1__Query *query, int64_t now_us,
                                    Ledger__V1__QueryResult **out,
                                    char message[ENGINE_MESSAGE_SIZE]);
enum ledger_err __wrap_engine_query(struct engine *engine, const struct engine_principal *principal,
                                    const Ledger__V1__Query *query, int64_t now_us,
                                    Ledger__V1__QueryResult **out,
                                    char message[ENGINE_MESSAGE_SIZE]);
enum ledger_err __real_engine_expiries_due(struct engine *engine, int64_t now_us,
                                           struct store_position *position,
                                           struct engine_expiry *out, size_t max,
                                           size_t *count_out);
enum ledger_err __wrap_engine_expiries_due(struct engine *engine, int64_t now_us,
                                           struct store_position *position,
                                           struct engine_expiry *out, size_t max,
                                           size_t *count_out);
void __real_sweep_tick(struct sweep *sweep);
void __wrap_sweep_tick(struct sweep *sweep);

enum ledger_err __wrap_engine_query(struct engine *engine, const struct engine_principal *principal,
                                    const Ledger__V1__Query *query, int64_t now_us,
                                    Ledger__V1__QueryResult **out,
                                    char message[ENGINE_MESSAGE_SIZE])
{
    if (!pthread_equal(pthread_self(), loop_thread)) {
        gate_pass(&gate_row_query);
    }
    return __real_engine_query(engine, principal, query, now_us, out, message);
}

enum ledger_err __wrap_engine_expiries_due(struct engine *engine, int64_t now_us,
                                           struct store_position *position,
                                           struct engine_expiry *out, size_t max, size_t *count_out)
{
    if (atomic_fetch_add(&sweep_scans, 1) == 0) {
        atomic_store(&ticks_at_first_scan, atomic_load(&sweep_ticks));
    }
    gate_pass(&gate_scan);
    enum ledger_err err = __real_engine_expiries_due(engine, now_us, position, out, max, count_out);
    if (err == LEDGER_ERR_OK && *count_out > 0) {
        gate_pass(&gate_scan_found);
    }
    return err;
}

void __wrap_sweep_tick(struct sweep *sweep)
{
    atomic_fetch_add(&sweep_ticks, 1);
    __real_sweep_tick(sweep);
}

/* Arms fault_put for the nth put of `key` only (fault_put_key). */
static void fault_arm_put_key(const char *key, long nth, int error)
{
    fault_arm(&fault_put, nth, error);
    pthread_mutex_lock(&fault_lock);
    snprintf(fault_put_key, sizeof fault_put_key, "%s", key);
    fault_put_key_failed_map = 0;
    fault_put_key_last_map = 0;
    pthread_mutex_unlock(&fault_lock);
}

static uint64_t txn_map_bytes(MDB_txn *txn)
{
    MDB_envinfo info;
    if (mdb_env_info(mdb_txn_env(txn), &info) != MDB_SUCCESS) {
        abort();
    }
    return info.me_mapsize;
}

/* Leaves `txn` failed by LMDB itself: a value reserved as large as the whole
 * map asks it for more pages than the map holds (MDB_MAP_FULL), which marks
 * the transaction failed. */
static void txn_leave_failed(MDB_txn *txn, MDB_dbi dbi, MDB_val *key)
{
    MDB_val whole_map = {.mv_size = txn_map_bytes(txn), .mv_data = NULL};
    MDB_stat stat;
    if (__real_mdb_put(txn, dbi, key, &whole_map, MDB_RESERVE) != MDB_MAP_FULL ||
        mdb_stat(txn, dbi, &stat) != MDB_BAD_TXN) {
        abort();
    }
}

int __wrap_mdb_put(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *data, unsigned int flags)
{
    pthread_mutex_lock(&fault_lock);
    size_t chosen_size = strlen(fault_put_key);
    bool chosen = chosen_size > 0 && chosen_size == key->mv_size &&
                  memcmp(fault_put_key, key->mv_data, chosen_size) == 0;
    pthread_mutex_unlock(&fault_lock);
    if (chosen_size > 0 && !chosen) {
        return __real_mdb_put(txn, dbi, key, data, flags);
    }
    bool hit = fault_hit(&fault_put);
    if (chosen) {
        uint64_t map = txn_map_bytes(txn);
        pthread_mutex_lock(&fault_lock);
        fault_put_key_last_map = map;
        fault_put_key_failed_map = hit ? map : fault_put_key_failed_map;
        pthread_mutex_unlock(&fault_lock);
        if (hit) {
            txn_leave_failed(txn, dbi, key);
        }
    }
    return hit ? fault_put.error : __real_mdb_put(txn, dbi, key, data, flags);
}

/* The project's reads (LMDB's own calls inside the library are not
 * wrapped): a get or a cursor step that finds a damaged page. */
int __wrap_mdb_get(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *data)
{
    return fault_hit(&fault_read) ? fault_read.error : __real_mdb_get(txn, dbi, key, data);
}

int __wrap_mdb_cursor_get(MDB_cursor *cursor, MDB_val *key, MDB_val *data, MDB_cursor_op op)
{
    return fault_hit(&fault_read) ? fault_read.error : __real_mdb_cursor_get(cursor, key, data, op);
}

int __wrap_fdatasync(int fd)
{
    if (fault_hit(&fault_sync)) {
        errno = fault_sync.error;
        return -1;
    }
    return __real_fdatasync(fd);
}

/* LMDB writes pages with pwrite (one page) or writev (several), and the meta
 * page with pwrite on its O_DSYNC descriptor. */
/* LMDB's page writes. An armed fault_write with error 0 cuts the write short
 * instead (nothing written, a count below the size returned), as a full file
 * system cuts the write that finds some room. */
ssize_t __wrap_pwrite(int fd, const void *buffer, size_t size, off_t offset)
{
    if (fault_hit(&fault_write)) {
        errno = fault_write.error;
        return fault_write.error == 0 ? (ssize_t)size / 2 : -1;
    }
    return __real_pwrite(fd, buffer, size, offset);
}

ssize_t __wrap_writev(int fd, const struct iovec *vectors, int count)
{
    if (fault_hit(&fault_write)) {
        errno = fault_write.error;
        return fault_write.error == 0 ? (ssize_t)vectors[0].iov_len / 2 : -1;
    }
    return __real_writev(fd, vectors, count);
}

int __wrap_fstatvfs(int fd, struct statvfs *out)
{
    int rc = __real_fstatvfs(fd, out);
    if (rc == 0 && disk_full) {
        out->f_bavail = 0;
    }
    return rc;
}

/* A backup: fsync of its files and directory, and write, with which LMDB's
 * compacting copy fills the new data file (as the backup does its head). */
int __wrap_fsync(int fd)
{
    if (fault_hit(&fault_fsync)) {
        errno = fault_fsync.error;
        return -1;
    }
    return __real_fsync(fd);
}

ssize_t __wrap_write(int fd, const void *buffer, size_t size)
{
    if (fault_hit(&fault_copy_write)) {
        errno = fault_copy_write.error;
        return -1;
    }
    return __real_write(fd, buffer, size);
}

void *__wrap_calloc(size_t count, size_t size)
{
    if (fault_hit(&fault_alloc)) {
        errno = ENOMEM;
        return NULL;
    }
    return __real_calloc(count, size);
}

void *__wrap_malloc(size_t size)
{
    if (fault_hit(&fault_alloc)) {
        errno = ENOMEM;
        return NULL;
    }
    return __real_malloc(size);
}

void *__wrap_realloc(void *pointer, size_t size)
{
    if (fault_hit(&fault_alloc)) {
        errno = ENOMEM;
        return NULL;
    }
    return __real_realloc(pointer, size);
}

/* While secret_watch is set, crypto_random fills with SECRET_WATCH_BYTE, so
 * that a new principal's secret is known in advance (as its hex text,
 * SECRET_WATCH_HEX), and each block freed through free is searched for that
 * text: a block that still holds it is a copy of the secret freed without
 * being wiped. Only the project's calls (and LMDB's) are wrapped: nanomsg's
 * and protobuf-c's own frees are not seen. */
#define SECRET_WATCH_BYTE 0x5a
#define SECRET_WATCH_HEX  "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"
_Static_assert(sizeof SECRET_WATCH_HEX - 1 == 2 * LEDGER_SECRET_BYTES, "a secret's hex text");
static atomic_bool secret_watch;
static atomic_ulong secret_freed_unwiped;

void __real_crypto_random(void *out, size_t size);
void __wrap_crypto_random(void *out, size_t size);
void __real_free(void *pointer);
void __wrap_free(void *pointer);

void __wrap_crypto_random(void *out, size_t size)
{
    if (atomic_load(&secret_watch)) {
        memset(out, SECRET_WATCH_BYTE, size);
        return;
    }
    __real_crypto_random(out, size);
}

void __wrap_free(void *pointer)
{
    if (pointer != NULL && atomic_load(&secret_watch)) {
        const char *bytes = pointer;
        size_t size = malloc_usable_size(pointer);
        size_t needle = sizeof SECRET_WATCH_HEX - 1;
        for (size_t i = 0; i + needle <= size; i++) {
            if (memcmp(bytes + i, SECRET_WATCH_HEX, needle) == 0) {
                atomic_fetch_add(&secret_freed_unwiped, 1);
                break;
            }
        }
    }
    __real_free(pointer);
}

/* --- fixture ----------------------------------------------------------------------------- */

struct fixture {
    char dir[512];
    struct engine_options options;
    struct engine *engine;
    struct engine_principal operator_principal;
    struct engine_principal admin;
    int64_t now_us;
    unsigned next_customer;
    unsigned long injected; /* faults fired in this test */
    unsigned long rebuilds;
    bool quiet; /* no summary at teardown */
};

static struct engine_principal make_principal(const char *id, Ledger__V1__Role role,
                                              const char *partner)
{
    struct engine_principal p = {0};
    snprintf(p.id, sizeof p.id, "%s", id);
    p.role = role;
    snprintf(p.partner_id, sizeof p.partner_id, "%s", partner);
    return p;
}

/* The serialized commands of one request and their storage. */
struct request_bytes {
    size_t count;
    ProtobufCBinaryData data[4];
};

static void request_bytes_free(struct request_bytes *bytes)
{
    for (size_t i = 0; i < bytes->count; i++) {
        free(bytes->data[i].data);
    }
    bytes->count = 0;
}

static void pack_into(struct request_bytes *bytes, Ledger__V1__Command *command)
{
    assert_true(bytes->count < sizeof bytes->data / sizeof bytes->data[0]);
    uint8_t *packed = NULL;
    size_t size = 0;
    assert_int_equal(LEDGER_ERR_OK, codec_pack(&command->base, &packed, &size));
    bytes->data[bytes->count].data = packed;
    bytes->data[bytes->count].len = size;
    bytes->count++;
}

/* A batch of `count` commands of the admin agent: onboard a new customer, buy
 * it a subscription of its own (a subscription id names one customer's),
 * turn a permission on (in that order, as many as asked). */
static void customer_batch(struct fixture *f, size_t count, struct request_bytes *out)
{
    char customer[32], subscription[32], ids[3][48];
    unsigned n = ++f->next_customer;
    snprintf(customer, sizeof customer, "c%u", n);
    snprintf(subscription, sizeof subscription, "s-c%u", n);
    Ledger__V1__OnboardCustomer onboard = LEDGER__V1__ONBOARD_CUSTOMER__INIT;
    onboard.name = (char *)"Fault Customer";
    Ledger__V1__PurchaseSubscription purchase = LEDGER__V1__PURCHASE_SUBSCRIPTION__INIT;
    purchase.subscription_id = subscription;
    purchase.offer = LEDGER__V1__OFFER__OFFER_AZURE_PLAN;
    Ledger__V1__GrantPermission grant = LEDGER__V1__GRANT_PERMISSION__INIT;
    grant.kind = LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_RESERVATIONS;
    out->count = 0;
    for (size_t i = 0; i < count && i < 3; i++) {
        Ledger__V1__Command command = LEDGER__V1__COMMAND__INIT;
        snprintf(ids[i], sizeof ids[i], "cmd-%u-%zu", n, i);
        command.command_id = ids[i];
        command.customer_id = customer;
        if (i == 0) {
            /* Onboarded long before the fixture's clock, so that tests may
             * date the customer's commands back (none is dated before its
             * onboarding). */
            command.business_us = ONBOARDED_US;
            command.body_case = LEDGER__V1__COMMAND__BODY_ONBOARD_CUSTOMER;
            command.onboard_customer = &onboard;
        } else if (i == 1) {
            command.body_case = LEDGER__V1__COMMAND__BODY_PURCHASE_SUBSCRIPTION;
            command.purchase_subscription = &purchase;
        } else {
            command.body_case = LEDGER__V1__COMMAND__BODY_GRANT_PERMISSION;
            command.grant_permission = &grant;
        }
        pack_into(out, &command);
    }
}

/* How far each execute moves the fixture's clock. */
#define EXECUTE_STEP_US INT64_C(1000000)

/* Executes requests as one group, request i signed at signed_us[i] (none
 * when signed_us is NULL); returns engine_execute's code. */
static enum ledger_err execute_signed(struct fixture *f, const struct engine_principal *principal,
                                      struct request_bytes *bytes, size_t request_count,
                                      const int64_t *signed_us, struct engine_request *requests)
{
    for (size_t i = 0; i < request_count; i++) {
        struct engine_request request = {.principal = principal,
                                         .commands = bytes[i].data,
                                         .command_count = bytes[i].count,
                                         .signed_us = signed_us ? signed_us[i] : 0};
        requests[i] = request;
    }
    f->now_us += EXECUTE_STEP_US;
    return engine_execute(f->engine, requests, request_count, f->now_us);
}

static enum ledger_err execute(struct fixture *f, const struct engine_principal *principal,
                               struct request_bytes *bytes, size_t request_count,
                               struct engine_request *requests)
{
    return execute_signed(f, principal, bytes, request_count, NULL, requests);
}

static void engine_reopen(struct fixture *f)
{
    engine_close(f->engine);
    f->engine = NULL;
    assert_int_equal(LEDGER_ERR_OK, engine_open(&f->options, &f->engine));
}

static int setup_with(void **state, uint64_t map_bytes_max)
{
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    test_make_dir(f->dir, sizeof f->dir, "faults");
    char key_path[600];
    snprintf(key_path, sizeof key_path, "%s/operator.key", f->dir);
    f->options.data_dir = f->dir;
    if (map_bytes_max != 0) {
        f->options.map_bytes = map_bytes_max;
        f->options.map_bytes_max = map_bytes_max;
    }
    assert_int_equal(LEDGER_ERR_OK, engine_init(&f->options, "operator", key_path));
    assert_int_equal(LEDGER_ERR_OK, engine_open(&f->options, &f->engine));
    assert_int_equal(LEDGER_ERR_OK,
                     engine_principal_lookup(f->engine, "operator", &f->operator_principal));
    f->admin = make_principal("admin-1", LEDGER__V1__ROLE__ROLE_ADMIN_AGENT, "p1");
    f->now_us = NOW_US;
    /* The partner and its admin agent, as the operator. */
    Ledger__V1__AddPartner partner = LEDGER__V1__ADD_PARTNER__INIT;
    partner.partner_id = (char *)"p1";
    partner.name = (char *)"Fault Partner";
    Ledger__V1__Command command = LEDGER__V1__COMMAND__INIT;
    command.command_id = (char *)"setup-partner";
    command.partner_id = (char *)"p1";
    command.body_case = LEDGER__V1__COMMAND__BODY_ADD_PARTNER;
    command.add_partner = &partner;
    struct request_bytes bytes = {0};
    pack_into(&bytes, &command);
    struct engine_request request;
    assert_int_equal(LEDGER_ERR_OK, execute(f, &f->operator_principal, &bytes, 1, &request));
    assert_int_equal(LEDGER_ERR_OK, request.err);
    engine_request_clear(&request);
    request_bytes_free(&bytes);
    /* A first customer, so that later commands also touch existing rows. */
    customer_batch(f, 3, &bytes);
    assert_int_equal(LEDGER_ERR_OK, execute(f, &f->admin, &bytes, 1, &request));
    assert_int_equal(LEDGER_ERR_OK, request.err);
    engine_request_clear(&request);
    request_bytes_free(&bytes);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_with(state, 0);
}

static int setup_small_map(void **state)
{
    return setup_with(state, FAULT_MAP_BYTES);
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    fault_disarm_all();
    if (!f->quiet) {
        printf("  %lu faults injected, %lu rebuilds with 0 differences\n", f->injected,
               f->rebuilds);
    }
    engine_close(f->engine);
    test_remove_dir(f->dir);
    free(f);
    return 0;
}

/* The views equal a fresh replay of the log. */
static void expect_views_replay(struct fixture *f)
{
    unsigned differences = 99;
    assert_int_equal(LEDGER_ERR_OK, engine_rebuild(f->engine, NULL, NULL, NULL, &differences));
    assert_int_equal(0, differences);
    f->rebuilds++;
}

/* After a failed request: nothing moved, and the same bytes now commit as new.
 * `reopen` also reopens the directory and replays the views. */
static void expect_clean_failure(struct fixture *f, uint64_t head_before,
                                 struct request_bytes *bytes, bool reopen)
{
    assert_int_equal(head_before, engine_head_sequence(f->engine));
    struct engine_request request;
    assert_int_equal(LEDGER_ERR_OK, execute(f, &f->admin, bytes, 1, &request));
    assert_int_equal(LEDGER_ERR_OK, request.err);
    for (size_t i = 0; i < bytes->count; i++) {
        /* Not a duplicate: the failed attempt did not take the command id. */
        assert_false(request.results[i].message.duplicate);
        assert_int_equal(head_before + 1 + i, request.results[i].message.first_sequence);
    }
    engine_request_clear(&request);
    assert_int_equal(head_before + bytes->count, engine_head_sequence(f->engine));
    if (reopen) {
        engine_reopen(f);
        assert_int_equal(head_before + bytes->count, engine_head_sequence(f->engine));
        expect_views_replay(f);
    }
}

/* Fails the nth call of one wrapped function on the path of a batch of
 * `commands` with `error`: the request must fail with `expected` (or succeed
 * when `expected` is OK: the fault absorbed) and leave no trace. Returns
 * false when the batch made fewer than nth calls (and then it went through). */
static bool inject_once(struct fixture *f, struct fault *fault, long nth, int error,
                        size_t commands, enum ledger_err expected, bool reopen)
{
    struct request_bytes bytes = {0};
    customer_batch(f, commands, &bytes);
    uint64_t head_before = engine_head_sequence(f->engine);
    fault_arm(fault, nth, error);
    struct engine_request request;
    enum ledger_err err = execute(f, &f->admin, &bytes, 1, &request);
    bool fired = fault->fired != 0;
    fault_disarm_all();
    if (!fired) {
        /* Past the last call: the command went through untouched. */
        assert_int_equal(LEDGER_ERR_OK, err);
        assert_int_equal(LEDGER_ERR_OK, request.err);
        engine_request_clear(&request);
        request_bytes_free(&bytes);
        assert_int_equal(head_before + commands, engine_head_sequence(f->engine));
        return false;
    }
    f->injected++;
    if (expected == LEDGER_ERR_OK) {
        /* Absorbed: committed once, and only once. */
        if (err != LEDGER_ERR_OK || request.err != LEDGER_ERR_OK) {
            fail_msg("fault at call %ld: %s / %s: %s", nth, ledger_err_name(err),
                     ledger_err_name(request.err), request.message);
        }
        assert_int_equal(head_before + commands, engine_head_sequence(f->engine));
        engine_request_clear(&request);
        /* The same bytes again are a duplicate. */
        assert_int_equal(LEDGER_ERR_OK, execute(f, &f->admin, &bytes, 1, &request));
        assert_true(request.results[0].message.duplicate);
        engine_request_clear(&request);
        if (reopen) {
            engine_reopen(f);
            expect_views_replay(f);
        }
    } else {
        if (request.err != expected) {
            fail_msg("fault at call %ld: expected %s, got %s (engine_execute %s): %s", nth,
                     ledger_err_name(expected), ledger_err_name(request.err), ledger_err_name(err),
                     request.message);
        }
        /* A storage failure fails the group: engine_execute says so too. */
        assert_int_equal(expected, err);
        assert_null(request.results);
        engine_request_clear(&request);
        expect_clean_failure(f, head_before, &bytes, reopen);
    }
    request_bytes_free(&bytes);
    return true;
}

/* Sweeps a fault over every call of one wrapped function on the path of a
 * batch (inject_once with nth = 1, 2, ...); returns the number of call sites. */
static long sweep(struct fixture *f, struct fault *fault, int error, size_t commands,
                  enum ledger_err expected, bool reopen_each)
{
    for (long nth = 1; nth < FAULT_SWEEP_MAX; nth++) {
        if (!inject_once(f, fault, nth, error, commands, expected, reopen_each)) {
            return nth - 1;
        }
    }
    fail_msg("sweep did not end");
    return 0;
}

/* --- tests ------------------------------------------------------------------------------ */

static void test_faults_commit_eio(void **state)
{
    struct fixture *f = *state;
    /* Every commit on the path (the nested transaction of a request of
     * several commands, the group's transaction) failing with EIO:
     * STORAGE_ERROR, nothing written. */
    long sites = sweep(f, &fault_commit, EIO, 3, LEDGER_ERR_STORAGE_ERROR, true);
    assert_true(sites >= 2);
    sites = sweep(f, &fault_commit, EIO, 1, LEDGER_ERR_STORAGE_ERROR, true);
    assert_true(sites >= 1);
}

static void test_faults_commit_enospc(void **state)
{
    struct fixture *f = *state;
    /* A full file system at commit is a storage error, not STORAGE_FULL (which
     * names the configured maximum): the operator must make room. */
    assert_true(sweep(f, &fault_commit, ENOSPC, 1, LEDGER_ERR_DISK_FULL, false) >= 1);
    assert_false(engine_unusable(f->engine));
    engine_reopen(f);
    expect_views_replay(f);
}

static void test_faults_write_cut_short_by_full_disk(void **state)
{
    struct fixture *f = *state;
#ifndef LEDGER_FAULTS_STATIC_LMDB
    (void)f;
    skip(); /* LMDB's own writes are wrapped only when it is linked statically */
#else
    /* A full file system cuts the commit's page write short, and LMDB reports
     * that as EIO: the commit is refused with DISK_FULL (free space, then
     * retry), nothing written, not as an unexplained STORAGE_ERROR. */
    disk_full = true;
    assert_true(inject_once(f, &fault_write, 1, 0, 2, LEDGER_ERR_DISK_FULL, true));
    /* The same short write with room left is the host's I/O problem. */
    assert_true(inject_once(f, &fault_write, 1, 0, 2, LEDGER_ERR_STORAGE_ERROR, true));
#endif
}

/* --- the daemon when the storage becomes unusable ------------------------ */

struct served {
    struct server *server;
    enum ledger_err result;
    char listen[700], events[700];
    pthread_t thread;
    FILE *log_file;
    int saved_stderr;
    uint32_t inflight_max;  /* 0: LEDGER_INFLIGHT_REQUESTS_DEFAULT */
    int64_t auth_window_us; /* 0: LEDGER_AUTH_WINDOW_US */
};

static void *serve_main(void *argument)
{
    struct served *served = argument;
    loop_thread = pthread_self();
    served->result = server_run(served->server);
    return NULL;
}

/* The server over the fixture's engine, on sockets in its directory, runs on
 * a thread; the operator's signed commands reach it through a raw REQ
 * socket. Each of the commit's writes fails once in turn until one leaves
 * LMDB unusable (the meta page's): that command is answered STORAGE_ERROR
 * like the others, and then the server stops by itself and server_run
 * returns STORAGE_ERROR (ledgerd exits 1, so that systemd restarts it).
 * Nothing was written. */
/* Starts the server over the fixture's engine on a thread, its log lines
 * (stderr) going to a file of the fixture's directory; served_end reads them
 * back once the server has stopped. */
static void served_start(struct fixture *f, uint32_t expiry_sweep_s, struct served *served)
{
    snprintf(served->listen, sizeof served->listen, "ipc://%s/ledger.sock", f->dir);
    snprintf(served->events, sizeof served->events, "ipc://%s/events.sock", f->dir);
    struct server_options options = {
        .listen_url = served->listen,
        .events_url = served->events,
        .data_dir = f->dir,
        .version = "test",
        .request_bytes_max = LEDGER_REQUEST_BYTES_DEFAULT,
        .batch_commands_max = LEDGER_BATCH_COMMANDS_DEFAULT,
        .auth_window_us = served->auth_window_us ? served->auth_window_us : LEDGER_AUTH_WINDOW_US,
        .inflight_requests_max =
            served->inflight_max ? served->inflight_max : LEDGER_INFLIGHT_REQUESTS_DEFAULT,
        .expiry_sweep_s = expiry_sweep_s,
    };
    assert_int_equal(LEDGER_ERR_OK, server_create(f->engine, &options, &served->server));
    char log_path[700];
    snprintf(log_path, sizeof log_path, "%s/server.log", f->dir);
    served->log_file = fopen(log_path, "w+");
    assert_non_null(served->log_file);
    served->saved_stderr = dup(STDERR_FILENO);
    assert_true(served->saved_stderr >= 0);
    assert_true(dup2(fileno(served->log_file), STDERR_FILENO) >= 0);
    assert_int_equal(0, pthread_create(&served->thread, NULL, serve_main, served));
}

/* Waits for the server's thread, restores stderr and returns its log lines
 * (static storage). */
static const char *served_end(struct served *served)
{
    assert_int_equal(0, pthread_join(served->thread, NULL));
    assert_true(dup2(served->saved_stderr, STDERR_FILENO) >= 0);
    close(served->saved_stderr);
    static char log_text[65536];
    rewind(served->log_file);
    log_text[fread(log_text, 1, sizeof log_text - 1, served->log_file)] = '\0';
    fclose(served->log_file);
    return log_text;
}

/* Starts the server (no expiry schedule) and reads the operator's secret. */
static void served_open(struct fixture *f, struct served *served,
                        uint8_t secret[LEDGER_SECRET_BYTES])
{
    served_start(f, 0, served);
    assert_true(key_read(f->dir, secret));
}

/* Stops the server with SIGTERM, as an operator does; it must return OK.
 * Returns its log lines (served_end's). */
static const char *served_close(struct served *served)
{
    assert_int_equal(0, kill(getpid(), SIGTERM));
    const char *log_text = served_end(served);
    assert_int_equal(LEDGER_ERR_OK, served->result);
    server_destroy(served->server);
    return log_text;
}

static void test_faults_daemon_stops_when_storage_unusable(void **state)
{
    struct fixture *f = *state;
#ifndef LEDGER_FAULTS_STATIC_LMDB
    /* LMDB is a shared library here: the meta-page write that leaves it
     * unusable cannot be made to fail. */
    (void)f;
    skip();
#endif
    struct served served = {0};
    served_start(f, 0, &served);
    const char *listen = served.listen;
    uint8_t secret[LEDGER_SECRET_BYTES];
    assert_true(key_read(f->dir, secret));
    int sock = client_open(listen, 10000);
    uint64_t head_before = engine_head_sequence(f->engine);
    bool unusable = false;
    long nth = 1;
    for (; nth < FAULT_SWEEP_MAX && !unusable; nth++) {
        char command_id[32], partner_id[32];
        snprintf(command_id, sizeof command_id, "lost-%ld", nth);
        snprintf(partner_id, sizeof partner_id, "p-lost-%ld", nth);
        Ledger__V1__AddPartner partner = LEDGER__V1__ADD_PARTNER__INIT;
        partner.partner_id = partner_id;
        partner.name = (char *)"Lost Partner";
        Ledger__V1__Command command = LEDGER__V1__COMMAND__INIT;
        command.command_id = command_id;
        command.partner_id = partner_id;
        command.body_case = LEDGER__V1__COMMAND__BODY_ADD_PARTNER;
        command.add_partner = &partner;
        ProtobufCBinaryData data = {0};
        assert_int_equal(LEDGER_ERR_OK, codec_pack(&command.base, &data.data, &data.len));
        struct request_spec spec = {.principal_id = "operator", .secret = secret};
        size_t size = 0;
        uint8_t *bytes = request_batch(&spec, &data, 1, &size);
        fault_arm(&fault_write, nth, EIO);
        Ledger__V1__Reply *reply = call_bytes(sock, bytes, size);
        bool fired = fault_fired(&fault_write) != 0;
        fault_disarm_all();
        free(bytes);
        free(data.data);
        if (reply == NULL) {
            fail_msg("no reply at write %ld", nth);
        }
        if (!fired) {
            fail_msg("no failed write of a commit left the storage unusable (%ld writes)", nth);
        }
        f->injected++;
        assert_int_equal(LEDGER_ERR_STORAGE_ERROR, (int)reply->code);
        reply_free(reply);
        unusable = engine_unusable(f->engine);
    }
    assert_true(unusable);
    /* The server stops by itself and says why. */
    const char *log_text = served_end(&served);
    /* The reply says "see the daemon's log": the log names the store's cause. */
    if (strstr(log_text, "commit failed code=STORAGE_ERROR") == NULL ||
        strstr(log_text, "detail=\"mdb_txn_commit: Input/output error\"") == NULL) {
        fail_msg("the log does not name the cause:\n%s", log_text);
    }
    /* ... and why it stops, and what to do (docs/operations.md, "The log"). */
    if (strstr(log_text, "ERROR storage unusable reason=\"a failed write left LMDB refusing "
                         "every transaction until it is reopened; nothing acknowledged is "
                         "lost\" action=\"stopping; restart ledgerd") == NULL) {
        fail_msg("the log does not say the storage is unusable:\n%s", log_text);
    }
    assert_int_equal(LEDGER_ERR_STORAGE_ERROR, served.result);
    server_destroy(served.server);
    nn_close(sock);
    printf("the write %ld of a commit left LMDB unusable; the server stopped\n", nth - 1);
    engine_reopen(f);
    assert_false(engine_unusable(f->engine));
    assert_int_equal(head_before, engine_head_sequence(f->engine));
    expect_views_replay(f);
}

/* Waits up to 20 s for a server counter to reach `least`. */
static bool counter_reaches(const _Atomic uint64_t *counter, uint64_t least)
{
    for (int waited_ms = 0; waited_ms < 20000; waited_ms += 10) {
        if (atomic_load(counter) >= least) {
            return true;
        }
        struct timespec pause = {.tv_nsec = 10 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    return false;
}

/* A command of customer c1 dated `business_us`, its body still to set. */
static Ledger__V1__Command c1_command(const char *command_id, int64_t business_us,
                                      Ledger__V1__Command__BodyCase body_case)
{
    Ledger__V1__Command command = LEDGER__V1__COMMAND__INIT;
    command.command_id = (char *)command_id;
    command.customer_id = (char *)"c1";
    command.business_us = business_us;
    command.body_case = body_case;
    return command;
}

/* Commits a reservation of customer c1 whose term ended long before today:
 * the expiry schedule's first sweep finds it due. */
static void reservation_past_term_add(struct fixture *f, char id_out[LEDGER_ID_LENGTH_MAX + 1])
{
    /* A reservation of c1 bought two years before the fixture's clock: its
     * P1Y term ended long before today's wall clock, which the sweep uses.
     * Billed to a subscription bought then too (rule 4 at the purchase's
     * business time). */
    const int64_t then_us = NOW_US - 2 * INT64_C(365) * 86400 * 1000000;
    Ledger__V1__PurchaseSubscription subscription = LEDGER__V1__PURCHASE_SUBSCRIPTION__INIT;
    subscription.subscription_id = (char *)"s-old";
    subscription.offer = LEDGER__V1__OFFER__OFFER_AZURE_PLAN;
    Ledger__V1__Command bought =
        c1_command("old-subscription", then_us, LEDGER__V1__COMMAND__BODY_PURCHASE_SUBSCRIPTION);
    bought.purchase_subscription = &subscription;
    Ledger__V1__Money price = LEDGER__V1__MONEY__INIT;
    price.amount_minor = 120000;
    price.currency = (char *)"USD";
    Ledger__V1__Scope scope = LEDGER__V1__SCOPE__INIT;
    scope.kind = LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SHARED;
    Ledger__V1__PurchaseReservation purchase = LEDGER__V1__PURCHASE_RESERVATION__INIT;
    purchase.billing_subscription_id = (char *)"s-old";
    purchase.sku = (char *)"Standard_D2s_v5";
    purchase.region = (char *)"westeurope";
    purchase.quantity = 1;
    purchase.term = LEDGER__V1__TERM__TERM_P1Y;
    purchase.billing_plan = LEDGER__V1__BILLING_PLAN__BILLING_PLAN_UPFRONT;
    purchase.scope = &scope;
    purchase.price = &price;
    purchase.retail_price = &price;
    Ledger__V1__Command command =
        c1_command("old-purchase", then_us, LEDGER__V1__COMMAND__BODY_PURCHASE_RESERVATION);
    command.purchase_reservation = &purchase;
    struct request_bytes bytes = {0};
    pack_into(&bytes, &bought);
    pack_into(&bytes, &command);
    struct engine_request request;
    assert_int_equal(LEDGER_ERR_OK, execute(f, &f->admin, &bytes, 1, &request));
    assert_int_equal(LEDGER_ERR_OK, request.err);
    if (id_out != NULL) {
        snprintf(id_out, LEDGER_ID_LENGTH_MAX + 1, "%s", request.results[1].reservation_id);
    }
    engine_request_clear(&request);
    request_bytes_free(&bytes);
}

/* The expiry schedule's commit fails: the log says so with the store's
 * cause (detail=) and what happens next, nothing is written, and the next
 * sweep expires the reservation. */
static void test_faults_expiry_sweep_commit_fails(void **state)
{
    struct fixture *f = *state;
    reservation_past_term_add(f, NULL);
    uint64_t head_before = engine_head_sequence(f->engine);

    /* The first commit from now (the first sweep's, a second after the
     * start) fails; the second sweep's succeeds. */
    fault_arm(&fault_commit, 1, EIO);
    struct served served = {0};
    served_start(f, 1, &served);
    const struct server_counters *counters = server_counters(served.server);
    bool failed = counter_reaches(&counters->commit_failures, 1);
    bool expired = counter_reaches(&counters->reservations_expired, 1);
    assert_int_equal(0, kill(getpid(), SIGTERM));
    const char *log_text = served_end(&served);
    fault_disarm_all();
    assert_int_equal(LEDGER_ERR_OK, served.result);
    /* The metrics count both sweeps' commits, and the one event appended. */
    uint64_t commits = atomic_load(&counters->commits);
    uint64_t appended = atomic_load(&counters->events_appended);
    server_destroy(served.server);
    if (commits != 2 || appended != 1) {
        fail_msg("commits %" PRIu64 " (expected 2), events appended %" PRIu64 " (expected 1)",
                 commits, appended);
    }
    if (!failed || !expired || fault_fired(&fault_commit) != 1) {
        fail_msg("failed %d, expired %d, faults fired %lu:\n%s", failed, expired,
                 fault_fired(&fault_commit), log_text);
    }
    f->injected++;
    if (strstr(log_text, "expiry sweep failed stage=commit code=STORAGE_ERROR due=1") == NULL ||
        strstr(log_text, "detail=\"mdb_txn_commit: Input/output error\"") == NULL ||
        strstr(log_text, "action=\"the next sweep starts again from the first reservation\"") ==
            NULL ||
        strstr(log_text, "reservations expired count=1 due=1") == NULL) {
        fail_msg("the log does not tell the failed sweep and the next one:\n%s", log_text);
    }
    /* Every scan was queued: a failed commit is the only fault of the run. */
    if (strstr(log_text, "cannot queue") != NULL) {
        fail_msg("a scan of the sweep was not queued:\n%s", log_text);
    }
    /* One ReservationExpired, from the second sweep only. */
    assert_int_equal(head_before + 1, engine_head_sequence(f->engine));
    engine_reopen(f);
    expect_views_replay(f);
}

static void test_faults_fdatasync_eio(void **state)
{
    struct fixture *f = *state;
    /* LMDB's fdatasync of the data pages fails: the meta page is not
     * written, so the commit never happened. */
    long sites = sweep(f, &fault_sync, EIO, 2, LEDGER_ERR_STORAGE_ERROR, true);
#ifdef LEDGER_FAULTS_STATIC_LMDB
    assert_true(sites >= 1);
#else
    (void)sites; /* LMDB is a shared library here: its fdatasync cannot be wrapped */
#endif
}

static void test_faults_write_eio(void **state)
{
    struct fixture *f = *state;
    /* Each write LMDB makes in a commit (data pages, then the meta page that
     * makes the commit visible) fails once with EIO: STORAGE_ERROR, and the
     * commit did not happen. A failed meta-page write leaves LMDB's
     * environment unusable (MDB_PANIC) until it is reopened: the next
     * command then fails with STORAGE_ERROR too, and after a reopen (what a
     * restart of the daemon does) the same command commits as new. */
    long nth = 1;
    unsigned panics = 0;
    for (; nth < FAULT_SWEEP_MAX; nth++) {
        struct request_bytes bytes = {0};
        customer_batch(f, 2, &bytes);
        uint64_t head_before = engine_head_sequence(f->engine);
        fault_arm(&fault_write, nth, EIO);
        struct engine_request request;
        enum ledger_err err = execute(f, &f->admin, &bytes, 1, &request);
        bool fired = fault_fired(&fault_write) != 0;
        fault_disarm_all();
        if (!fired) {
            assert_int_equal(LEDGER_ERR_OK, err);
            engine_request_clear(&request);
            request_bytes_free(&bytes);
            break;
        }
        f->injected++;
        assert_int_equal(LEDGER_ERR_STORAGE_ERROR, err);
        assert_int_equal(LEDGER_ERR_STORAGE_ERROR, request.err);
        engine_request_clear(&request);
        assert_int_equal(head_before, engine_head_sequence(f->engine));
        err = execute(f, &f->admin, &bytes, 1, &request);
        if (err == LEDGER_ERR_OK) {
            assert_false(engine_unusable(f->engine));
            assert_int_equal(LEDGER_ERR_OK, request.err);
            assert_false(request.results[0].message.duplicate);
            engine_request_clear(&request);
            engine_reopen(f);
        } else {
            assert_int_equal(LEDGER_ERR_STORAGE_ERROR, err);
            engine_request_clear(&request);
            /* Reads too: the whole environment is refused until reopened. */
            Ledger__V1__ReservationsQuery reservations = LEDGER__V1__RESERVATIONS_QUERY__INIT;
            reservations.customer_id = (char *)"c1";
            Ledger__V1__Query query = LEDGER__V1__QUERY__INIT;
            query.kind_case = LEDGER__V1__QUERY__KIND_RESERVATIONS;
            query.reservations = &reservations;
            Ledger__V1__QueryResult *result = NULL;
            char message[ENGINE_MESSAGE_SIZE] = "";
            assert_int_equal(LEDGER_ERR_STORAGE_ERROR, engine_query(f->engine, &f->admin, &query,
                                                                    f->now_us, &result, message));
            assert_null(result);
            /* The failed commit found out at once; the daemon exits on it. */
            assert_true(engine_unusable(f->engine));
            panics++;
            engine_reopen(f);
            assert_false(engine_unusable(f->engine));
            assert_int_equal(head_before, engine_head_sequence(f->engine));
            expect_clean_failure(f, head_before, &bytes, false);
            engine_reopen(f);
        }
        assert_int_equal(head_before + bytes.count, engine_head_sequence(f->engine));
        expect_views_replay(f);
        request_bytes_free(&bytes);
    }
    printf("write sweep: %ld write calls in a commit failed once each; %u left LMDB unusable "
           "until reopened\n",
           nth - 1, panics);
#ifdef LEDGER_FAULTS_STATIC_LMDB
    assert_true(nth - 1 >= 2);
    assert_true(panics >= 1);
#endif
}

static void test_faults_put_map_full_grows(void **state)
{
    /* MDB_MAP_FULL below the maximum: the engine grows the map and retries
     * the whole group; the caller sees OK and one copy of each command. Each
     * injection really doubles the map, so each call site gets a fresh
     * directory (ten doublings reach the default maximum). */
    (void)state;
    unsigned long injected = 0;
    long nth = 1;
    for (; nth < FAULT_SWEEP_MAX; nth++) {
        void *fresh = NULL;
        assert_int_equal(0, setup(&fresh));
        struct fixture *f = fresh;
        f->quiet = true;
        bool fired = inject_once(f, &fault_put, nth, MDB_MAP_FULL, 3, LEDGER_ERR_OK, true);
        injected += f->injected;
        teardown(&fresh);
        if (!fired) {
            break;
        }
    }
    printf("map-full sweep: %ld mdb_put call sites, %lu faults absorbed by growth\n", nth - 1,
           injected);
    assert_true(nth - 1 >= 5);
}

static void test_faults_put_map_full_at_maximum(void **state)
{
    struct fixture *f = *state;
    /* The map is at its maximum: STORAGE_FULL, nothing written; the next
     * command (no fault) goes through. */
    long sites = sweep(f, &fault_put, MDB_MAP_FULL, 3, LEDGER_ERR_STORAGE_FULL, true);
    assert_true(sites >= 5);
}

static void test_faults_put_enomem(void **state)
{
    struct fixture *f = *state;
    assert_true(sweep(f, &fault_put, ENOMEM, 3, LEDGER_ERR_NO_MEMORY, false) >= 5);
    engine_reopen(f);
    expect_views_replay(f);
}

static void test_faults_put_eio(void **state)
{
    struct fixture *f = *state;
    assert_true(sweep(f, &fault_put, EIO, 2, LEDGER_ERR_STORAGE_ERROR, false) >= 3);
    engine_reopen(f);
    expect_views_replay(f);
}

static void test_faults_allocation(void **state)
{
    struct fixture *f = *state;
    /* Every allocation on the path of a three-command batch (ours and, when
     * linked statically, LMDB's) fails once: NO_MEMORY, nothing written. */
    long sites = sweep(f, &fault_alloc, ENOMEM, 3, LEDGER_ERR_NO_MEMORY, false);
    printf("allocation sweep: %ld allocation sites on the path of a 3-command batch\n", sites);
    assert_true(sites >= 10);
    engine_reopen(f);
    expect_views_replay(f);
}

static void test_faults_replay_cache_allocation(void **state)
{
    (void)state;
    /* The cache of refused requests makes three allocations: whichever
     * fails, it is NO_MEMORY and no cache is made. */
    for (long nth = 1; nth <= 3; nth++) {
        struct replay_cache *cache = NULL;
        fault_arm(&fault_alloc, nth, ENOMEM);
        assert_int_equal(replay_cache_new(4, &cache), LEDGER_ERR_NO_MEMORY);
        fault_disarm_all();
        assert_int_equal(fault_fired(&fault_alloc), 1);
        assert_null(cache);
    }
    struct replay_cache *cache = NULL;
    fault_arm(&fault_alloc, 4, ENOMEM);
    assert_int_equal(replay_cache_new(4, &cache), LEDGER_ERR_OK);
    fault_disarm_all();
    assert_int_equal(fault_fired(&fault_alloc), 0);
    assert_int_equal(replay_cache_count(cache), 0);
    replay_cache_free(cache);
}

static void test_faults_group_fails_together(void **state)
{
    struct fixture *f = *state;
    /* Three requests in one group commit; the group's commit fails: all three
     * get STORAGE_ERROR and none is written; then each commits alone. */
    struct request_bytes bytes[3] = {{0}};
    for (size_t i = 0; i < 3; i++) {
        customer_batch(f, 2, &bytes[i]);
    }
    /* A probe group of the same shape counts the commits of a group (nested
     * ones and the group's own); the group's is the last. */
    struct request_bytes probe[3] = {{0}};
    for (size_t i = 0; i < 3; i++) {
        customer_batch(f, 2, &probe[i]);
    }
    struct engine_request requests[3];
    unsigned long calls_before = fault_calls(&fault_commit);
    assert_int_equal(LEDGER_ERR_OK, execute(f, &f->admin, probe, 3, requests));
    long commits = (long)(fault_calls(&fault_commit) - calls_before);
    assert_true(commits >= 1);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(LEDGER_ERR_OK, requests[i].err);
        engine_request_clear(&requests[i]);
        request_bytes_free(&probe[i]);
    }
    uint64_t head_before = engine_head_sequence(f->engine);
    fault_arm(&fault_commit, commits, EIO);
    enum ledger_err err = execute(f, &f->admin, bytes, 3, requests);
    assert_int_equal(1, fault_fired(&fault_commit));
    fault_disarm_all();
    f->injected++;
    assert_int_equal(LEDGER_ERR_STORAGE_ERROR, err);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(LEDGER_ERR_STORAGE_ERROR, requests[i].err);
        assert_null(requests[i].results);
        engine_request_clear(&requests[i]);
    }
    assert_int_equal(head_before, engine_head_sequence(f->engine));
    for (size_t i = 0; i < 3; i++) {
        expect_clean_failure(f, head_before + 2 * i, &bytes[i], false);
        request_bytes_free(&bytes[i]);
    }
    engine_reopen(f);
    expect_views_replay(f);
}

/* --- the refusal horizon's put ------------------------------------------------------------ */

/* The refusal horizon's meta key (docs/store.md). */
#define HORIZON_KEY "refused-until"

/* A group whose refusal moves the refusal horizon: a new customer's batch, a
 * grant for a customer that does not exist (refused CUSTOMER_NOT_FOUND, a
 * refusal decided, not a transient failure) and another new customer's
 * batch, all signed 90 s ahead of the clock of the next execute_signed. */
struct horizon_group {
    struct request_bytes bytes[3];
    int64_t signed_us[3];
    int64_t horizon;      /* where its refusal moves the refusal horizon */
    uint64_t head_before; /* the head when it was made */
    struct engine_request requests[3];
};

static void horizon_group_make(struct fixture *f, struct horizon_group *group)
{
    customer_batch(f, 2, &group->bytes[0]);
    customer_batch(f, 2, &group->bytes[2]);
    Ledger__V1__GrantPermission grant = LEDGER__V1__GRANT_PERMISSION__INIT;
    grant.kind = LEDGER__V1__PERMISSION_KIND__PERMISSION_KIND_RESERVATIONS;
    Ledger__V1__Command command = LEDGER__V1__COMMAND__INIT;
    command.command_id = (char *)"horizon-refused";
    command.customer_id = (char *)"c-unknown";
    command.body_case = LEDGER__V1__COMMAND__BODY_GRANT_PERMISSION;
    command.grant_permission = &grant;
    group->bytes[1].count = 0;
    pack_into(&group->bytes[1], &command);
    group->horizon = f->now_us + EXECUTE_STEP_US + INT64_C(90000000);
    for (size_t i = 0; i < 3; i++) {
        group->signed_us[i] = group->horizon;
    }
    group->head_before = engine_head_sequence(f->engine);
}

static enum ledger_err horizon_group_execute(struct fixture *f, struct horizon_group *group)
{
    return execute_signed(f, &f->admin, group->bytes, 3, group->signed_us, group->requests);
}

/* Executes the group with the put of the horizon failing once with `error`
 * and leaving LMDB's transaction failed; returns engine_execute's code, and
 * the map sizes the failed put and the last put of the horizon saw. */
static enum ledger_err horizon_group_put_failing(struct fixture *f, struct horizon_group *group,
                                                 int error, uint64_t *failed_map,
                                                 uint64_t *last_map)
{
    fault_arm_put_key(HORIZON_KEY, 1, error);
    enum ledger_err err = horizon_group_execute(f, group);
    assert_int_equal(1, fault_fired(&fault_put));
    pthread_mutex_lock(&fault_lock);
    *failed_map = fault_put_key_failed_map;
    *last_map = fault_put_key_last_map;
    pthread_mutex_unlock(&fault_lock);
    fault_disarm_all();
    f->injected++;
    return err;
}

/* The group committed once: its batches new, in order after its
 * head_before, the grant refused, the horizon moved. */
static void expect_horizon_group_committed(struct fixture *f, struct horizon_group *group)
{
    struct engine_request *requests = group->requests;
    assert_int_equal(LEDGER_ERR_CUSTOMER_NOT_FOUND, requests[1].err);
    assert_null(requests[1].results);
    uint64_t next = group->head_before + 1;
    for (size_t i = 0; i < 3; i += 2) {
        assert_int_equal(LEDGER_ERR_OK, requests[i].err);
        for (size_t c = 0; c < requests[i].command_count; c++) {
            assert_false(requests[i].results[c].message.duplicate);
            assert_int_equal(next++, requests[i].results[c].message.first_sequence);
        }
    }
    assert_int_equal(next - 1, engine_head_sequence(f->engine));
    assert_int_equal(group->horizon, engine_refused_until(f->engine));
    for (size_t i = 0; i < 3; i++) {
        engine_request_clear(&requests[i]);
    }
}

/* Reopens the directory: the head and the refusal horizon are `head` and
 * `horizon`, and the views equal a replay. */
static void expect_reopened(struct fixture *f, uint64_t head, int64_t horizon)
{
    engine_reopen(f);
    assert_int_equal(head, engine_head_sequence(f->engine));
    assert_int_equal(horizon, engine_refused_until(f->engine));
    expect_views_replay(f);
}

static void test_faults_horizon_put_map_full_grows(void **state)
{
    struct fixture *f = *state;
    /* The put of the refusal horizon, after the group's requests, fills the
     * map and leaves LMDB's transaction failed. The engine must not read
     * that transaction again (the store's check of the read would abort the
     * daemon): it grows the map and retries the group, which commits once. */
    struct horizon_group group = {0};
    horizon_group_make(f, &group);
    uint64_t failed_map = 0, retried_map = 0;
    assert_int_equal(LEDGER_ERR_OK,
                     horizon_group_put_failing(f, &group, MDB_MAP_FULL, &failed_map, &retried_map));
    assert_int_equal(2 * failed_map, retried_map);
    expect_horizon_group_committed(f, &group);
    uint64_t head_after = engine_head_sequence(f->engine);
    /* Sent again: the batches are duplicates, the grant is refused again. */
    assert_int_equal(LEDGER_ERR_OK, horizon_group_execute(f, &group));
    assert_true(group.requests[0].results[0].message.duplicate);
    assert_int_equal(LEDGER_ERR_CUSTOMER_NOT_FOUND, group.requests[1].err);
    assert_true(group.requests[2].results[0].message.duplicate);
    for (size_t i = 0; i < 3; i++) {
        engine_request_clear(&group.requests[i]);
        request_bytes_free(&group.bytes[i]);
    }
    assert_int_equal(head_after, engine_head_sequence(f->engine));
    expect_reopened(f, head_after, group.horizon);
}

static void test_faults_horizon_put_eio(void **state)
{
    struct fixture *f = *state;
    /* The same put failing with EIO: the whole group fails with
     * STORAGE_ERROR, nothing is written (the horizon neither), and the next
     * group is served. */
    struct horizon_group group = {0};
    horizon_group_make(f, &group);
    int64_t horizon_before = engine_refused_until(f->engine);
    uint64_t failed_map = 0, last_map = 0;
    assert_int_equal(LEDGER_ERR_STORAGE_ERROR,
                     horizon_group_put_failing(f, &group, EIO, &failed_map, &last_map));
    assert_int_equal(failed_map, last_map); /* not retried */
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(LEDGER_ERR_STORAGE_ERROR, group.requests[i].err);
        assert_null(group.requests[i].results);
        engine_request_clear(&group.requests[i]);
    }
    assert_int_equal(group.head_before, engine_head_sequence(f->engine));
    assert_int_equal(horizon_before, engine_refused_until(f->engine));
    expect_reopened(f, group.head_before, horizon_before);
    /* The next group: the same requests, committed once. */
    assert_int_equal(LEDGER_ERR_OK, horizon_group_execute(f, &group));
    expect_horizon_group_committed(f, &group);
    for (size_t i = 0; i < 3; i++) {
        request_bytes_free(&group.bytes[i]);
    }
    expect_reopened(f, group.head_before + 4, group.horizon);
}

/* Whether a partial directory of the backup `dir` (".NAME.partial-...",
 * beside it) is left in its parent. */
static bool backup_partial_left(const char *dir)
{
    char parent[600], prefix[300];
    snprintf(parent, sizeof parent, "%s", dir);
    char *slash = strrchr(parent, '/');
    assert_non_null(slash);
    *slash = '\0';
    snprintf(prefix, sizeof prefix, ".%s.partial-", slash + 1);
    DIR *handle = opendir(parent);
    assert_non_null(handle);
    bool found = false;
    struct dirent *entry;
    while (!found && (entry = readdir(handle)) != NULL) {
        found = strncmp(entry->d_name, prefix, strlen(prefix)) == 0;
    }
    closedir(handle);
    return found;
}

/* Each of LMDB's copy writes can fail only where LMDB is linked in whole;
 * the backup's own write of head.pb always. */
#ifdef LEDGER_FAULTS_STATIC_LMDB
#define FAULT_BACKUP_WRITE_SITES 2
#else
#define FAULT_BACKUP_WRITE_SITES 1
#endif

/* A backup that fails at any fsync or write of its files, at making its
 * directory or renaming it to its final name (or for want of memory) fails
 * with the code that names the cause, leaves no directory behind, neither
 * of the final name (the same name can be given again) nor a partial one,
 * and leaves the ledger serving. */
static void test_faults_backup(void **state)
{
    struct fixture *f = *state;
    struct {
        struct fault *fault;
        int error;
        enum ledger_err expected; /* LEDGER_ERR_OK: any failure */
        long min_sites;
    } cases[] = {
        /* data, its directory, head, its directory, the parent after the rename */
        {&fault_fsync, EIO, LEDGER_ERR_STORAGE_ERROR, 5},
        {&fault_fsync, ENOSPC, LEDGER_ERR_DISK_FULL, 5},
        {&fault_fsync, EDQUOT, LEDGER_ERR_DISK_FULL, 5},
        {&fault_copy_write, ENOSPC, LEDGER_ERR_DISK_FULL, FAULT_BACKUP_WRITE_SITES},
        {&fault_copy_write, EDQUOT, LEDGER_ERR_DISK_FULL, FAULT_BACKUP_WRITE_SITES},
        {&fault_copy_write, EIO, LEDGER_ERR_STORAGE_ERROR, FAULT_BACKUP_WRITE_SITES},
        {&fault_mkdirat, ENOSPC, LEDGER_ERR_DISK_FULL, 1},
        {&fault_mkdirat, EDQUOT, LEDGER_ERR_DISK_FULL, 1},
        {&fault_mkdirat, EROFS, LEDGER_ERR_INVALID_ARGUMENT, 1},
        {&fault_mkdirat, EACCES, LEDGER_ERR_INVALID_ARGUMENT, 1},
        {&fault_mkdirat, EIO, LEDGER_ERR_STORAGE_ERROR, 1},
        {&fault_rename, EIO, LEDGER_ERR_STORAGE_ERROR, 1},
        {&fault_rename, ENOSPC, LEDGER_ERR_DISK_FULL, 1},
        {&fault_alloc, ENOMEM, LEDGER_ERR_OK, 1},
    };
    char dir[600];
    snprintf(dir, sizeof dir, "%s-backup", f->dir);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        long sites = 0;
        for (long nth = 1; nth < FAULT_SWEEP_MAX; nth++) {
            fault_arm(cases[c].fault, nth, cases[c].error);
            enum ledger_err err = engine_backup(f->engine, dir);
            bool fired = cases[c].fault->fired != 0;
            fault_disarm_all();
            if (!fired) {
                assert_int_equal(LEDGER_ERR_OK, err);
                break;
            }
            f->injected++;
            sites++;
            if (cases[c].expected != LEDGER_ERR_OK && err != cases[c].expected) {
                fail_msg("case %zu, fault at call %ld: expected %s, got %s", c, nth,
                         ledger_err_name(cases[c].expected), ledger_err_name(err));
            }
            assert_int_not_equal(LEDGER_ERR_OK, err);
            struct stat info;
            if (stat(dir, &info) == 0) {
                fail_msg("case %zu, fault at call %ld: %s left behind", c, nth, dir);
            }
            assert_int_equal(ENOENT, errno);
            if (backup_partial_left(dir)) {
                fail_msg("case %zu, fault at call %ld: a partial backup left behind", c, nth);
            }
        }
        if (sites < cases[c].min_sites) {
            fail_msg("case %zu: %ld call sites, expected at least %ld", c, sites,
                     cases[c].min_sites);
        }
        /* The backup made once the fault is past is whole, under its final
         * name, and was built under a partial one. */
        char path[700], prefix[300];
        struct stat info;
        snprintf(path, sizeof path, "%s/data.mdb", dir);
        assert_int_equal(0, stat(path, &info));
        assert_true(info.st_size > 0);
        snprintf(path, sizeof path, "%s/head.pb", dir);
        assert_int_equal(0, stat(path, &info));
        assert_true(info.st_size > 0);
        snprintf(prefix, sizeof prefix, ".%s.partial-", strrchr(dir, '/') + 1);
        assert_int_equal(0, strncmp(mkdirat_name, prefix, strlen(prefix)));
        assert_false(backup_partial_left(dir));
        test_remove_dir(dir);
    }

    /* The final name made by another process while the backup was built:
     * refused as existing, not replaced (rename(2) alone would replace an
     * empty directory), the operator told so, and the partial one
     * removed. */
    race_rename = true;
    Ledger__V1__BackupQuery backup = LEDGER__V1__BACKUP_QUERY__INIT;
    backup.directory = dir;
    Ledger__V1__Query query = LEDGER__V1__QUERY__INIT;
    query.kind_case = LEDGER__V1__QUERY__KIND_BACKUP;
    query.backup = &backup;
    Ledger__V1__QueryResult *result = NULL;
    char message[ENGINE_MESSAGE_SIZE];
    assert_int_equal(LEDGER_ERR_INVALID_ARGUMENT, engine_query(f->engine, &f->operator_principal,
                                                               &query, NOW_US, &result, message));
    fault_disarm_all();
    assert_null(result);
    if (strstr(message, "it already exists; give a new one") == NULL) {
        fail_msg("the refusal does not say the directory exists: %s", message);
    }
    assert_false(backup_partial_left(dir));
    struct stat info;
    assert_int_equal(0, stat(dir, &info));
    assert_true(S_ISDIR(info.st_mode));
    assert_int_equal(0, rmdir(dir));

    /* The partial directory replaced by a symbolic link as soon as it was
     * made: nothing is written through the link, and neither the link nor
     * the directory moved away is removed. */
    race_mkdirat = true;
    assert_int_equal(LEDGER_ERR_STORAGE_ERROR, engine_backup(f->engine, dir));
    fault_disarm_all();
    char parent[600], link[900], moved[920], inside[1000];
    snprintf(parent, sizeof parent, "%s", dir);
    *strrchr(parent, '/') = '\0';
    snprintf(link, sizeof link, "%s/%s", parent, mkdirat_name);
    snprintf(moved, sizeof moved, "%s.moved", link);
    assert_int_equal(0, lstat(link, &info));
    assert_true(S_ISLNK(info.st_mode));
    assert_int_equal(0, stat(moved, &info));
    snprintf(inside, sizeof inside, "%s/data.mdb", moved);
    assert_int_not_equal(0, stat(inside, &info));
    assert_int_equal(0, unlink(link));
    assert_int_equal(0, rmdir(moved));
    assert_int_not_equal(0, stat(dir, &info));

    /* Still serving. */
    struct request_bytes bytes = {0};
    customer_batch(f, 1, &bytes);
    uint64_t head_before = engine_head_sequence(f->engine);
    struct engine_request request;
    assert_int_equal(LEDGER_ERR_OK, execute(f, &f->admin, &bytes, 1, &request));
    assert_int_equal(LEDGER_ERR_OK, request.err);
    engine_request_clear(&request);
    request_bytes_free(&bytes);
    assert_int_equal(head_before + 1, engine_head_sequence(f->engine));
}

/* Names a backup refuses before it makes anything, with INVALID_ARGUMENT:
 * none, no last component, a parent that is missing or not a directory,
 * and a name that exists (a directory, or a symbolic link to a missing
 * one). Trailing slashes are dropped; a relative name is made in the
 * working directory. */
static void test_faults_backup_refused_names(void **state)
{
    struct fixture *f = *state;
    char dir[600], file[600], under_file[700], missing[700], dot[700], link[600], slashed[700];
    snprintf(dir, sizeof dir, "%s-named", f->dir);
    snprintf(file, sizeof file, "%s-file", f->dir);
    snprintf(under_file, sizeof under_file, "%s/backup", file);
    snprintf(missing, sizeof missing, "%s-missing/backup", f->dir);
    snprintf(dot, sizeof dot, "%s/..", f->dir);
    snprintf(link, sizeof link, "%s-link", f->dir);
    snprintf(slashed, sizeof slashed, "%s//", dir);
    FILE *handle = fopen(file, "w");
    assert_non_null(handle);
    fclose(handle);
    assert_int_equal(0, symlink(missing, link));
    const char *refused[] = {"", "/", dot, under_file, missing, f->dir, link};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        if (engine_backup(f->engine, refused[i]) != LEDGER_ERR_INVALID_ARGUMENT) {
            fail_msg("backup into \"%s\" not refused", refused[i]);
        }
    }
    struct stat info;
    assert_int_not_equal(0, stat(missing, &info));
    assert_int_equal(0, unlink(link));
    assert_int_equal(0, unlink(file));
    assert_int_equal(LEDGER_ERR_OK, engine_backup(f->engine, slashed));
    assert_int_equal(0, stat(dir, &info));
    assert_true(S_ISDIR(info.st_mode));
    assert_false(backup_partial_left(dir));
    /* Made once, refused the second time. */
    assert_int_equal(LEDGER_ERR_INVALID_ARGUMENT, engine_backup(f->engine, dir));
    test_remove_dir(dir);
    /* A relative name is taken from the working directory
     * (docs/protocol.md, backup). */
    char cwd[PATH_MAX], made[700], elsewhere[600];
    snprintf(elsewhere, sizeof elsewhere, "%s-cwd", f->dir);
    assert_int_equal(0, mkdir(elsewhere, 0700));
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(0, chdir(elsewhere));
    enum ledger_err relative = engine_backup(f->engine, "relative-backup");
    assert_int_equal(0, chdir(cwd));
    assert_int_equal(LEDGER_ERR_OK, relative);
    snprintf(made, sizeof made, "%s/relative-backup/head.pb", elsewhere);
    assert_int_equal(0, stat(made, &info));
    test_remove_dir(elsewhere);
    /* Nor one inside the data directory, relative or not. */
    assert_int_equal(0, chdir(f->dir));
    relative = engine_backup(f->engine, "relative-backup");
    assert_int_equal(0, chdir(cwd));
    assert_int_equal(LEDGER_ERR_INVALID_ARGUMENT, relative);
    snprintf(made, sizeof made, "%s/relative-backup", f->dir);
    assert_int_not_equal(0, stat(made, &info));
}

/* The bytes of a backup request of the operator for `dir` (malloc'd), its
 * nonce kept in spec->nonce. */
static uint8_t *backup_request(struct request_spec *spec, const char *dir, size_t *size_out)
{
    Ledger__V1__BackupQuery backup = LEDGER__V1__BACKUP_QUERY__INIT;
    backup.directory = (char *)dir;
    Ledger__V1__Query query = LEDGER__V1__QUERY__INIT;
    query.kind_case = LEDGER__V1__QUERY__KIND_BACKUP;
    query.backup = &backup;
    return request_query(spec, &query, size_out);
}

/* One request sent, and its reply awaited, on a REQ socket and a thread of
 * their own, while the test does other things. */
struct call {
    int sock;
    const uint8_t *bytes; /* borrowed until call_finish */
    size_t size;
    Ledger__V1__Reply *reply;
    pthread_t thread;
};

static void *call_main(void *argument)
{
    struct call *call = argument;
    call->reply = call_bytes(call->sock, call->bytes, call->size);
    return NULL;
}

static void call_start(struct call *call, const char *url, const uint8_t *bytes, size_t size)
{
    *call = (struct call){.sock = client_open(url, 30000), .bytes = bytes, .size = size};
    assert_int_equal(0, pthread_create(&call->thread, NULL, call_main, call));
}

/* The reply (NULL on a timeout); the caller frees it with reply_free. */
static Ledger__V1__Reply *call_finish(struct call *call)
{
    assert_int_equal(0, pthread_join(call->thread, NULL));
    nn_close(call->sock);
    return call->reply;
}

/* One backup at a time: a backup asked for while another is still copying
 * is refused UNAVAILABLE, saying so, with its nonce echoed and a log line,
 * and makes no directory; the loop keeps answering other requests
 * meanwhile, and once the first is done the slot is free again. The first
 * backup is held at its mkdirat, so that the second surely comes while it
 * runs. */
static void test_faults_backup_while_one_runs(void **state)
{
    struct fixture *f = *state;
    struct served served = {0};
    uint8_t secret[LEDGER_SECRET_BYTES];
    served_open(f, &served, secret);
    char first_dir[600], second_dir[600];
    snprintf(first_dir, sizeof first_dir, "%s-first", f->dir);
    snprintf(second_dir, sizeof second_dir, "%s-second", f->dir);
    struct request_spec spec = {.principal_id = "operator", .secret = secret};
    size_t first_size = 0, second_size = 0, head_size = 0;
    uint8_t *first_bytes = backup_request(&spec, first_dir, &first_size);
    uint8_t *second_bytes = backup_request(&spec, second_dir, &second_size);
    uint8_t nonce[LEDGER_NONCE_BYTES];
    memcpy(nonce, spec.nonce, sizeof nonce);
    uint8_t *head_bytes = request_head(&spec, &head_size);

    gate_set(&gate_mkdirat, true);
    struct call first;
    call_start(&first, served.listen, first_bytes, first_size);
    if (!gate_reached(&gate_mkdirat)) {
        gate_set(&gate_mkdirat, false);
        fail_msg("the first backup did not reach its mkdirat");
    }
    int sock = client_open(served.listen, 30000);
    Ledger__V1__Reply *refused = call_bytes(sock, second_bytes, second_size);
    Ledger__V1__Reply *head = call_bytes(sock, head_bytes, head_size);
    gate_set(&gate_mkdirat, false);
    Ledger__V1__Reply *done = call_finish(&first);

    assert_non_null(refused);
    assert_int_equal(LEDGER_ERR_UNAVAILABLE, (int)refused->code);
    assert_string_equal(refused->message,
                        "a backup is already running; retry when it has finished");
    assert_int_equal(LEDGER_NONCE_BYTES, refused->request_nonce.len);
    assert_memory_equal(nonce, refused->request_nonce.data, LEDGER_NONCE_BYTES);
    assert_null(refused->query);
    reply_free(refused);
    struct stat info;
    assert_int_not_equal(0, stat(second_dir, &info));
    assert_non_null(head);
    assert_int_equal(LEDGER_ERR_OK, (int)head->code);
    reply_free(head);
    assert_non_null(done);
    assert_int_equal(LEDGER_ERR_OK, (int)done->code);
    reply_free(done);
    assert_int_equal(0, stat(first_dir, &info));

    /* The slot is free again: the refused request, signed anew, is served. */
    free(second_bytes);
    second_bytes = backup_request(&spec, second_dir, &second_size);
    Ledger__V1__Reply *second = call_bytes(sock, second_bytes, second_size);
    assert_non_null(second);
    assert_int_equal(LEDGER_ERR_OK, (int)second->code);
    reply_free(second);
    assert_int_equal(0, stat(second_dir, &info));

    nn_close(sock);
    free(first_bytes);
    free(second_bytes);
    free(head_bytes);
    const char *log_text = served_close(&served);
    if (strstr(log_text, "request refused principal=operator code=UNAVAILABLE reason=\"a backup "
                         "is already running; retry when it has finished\"") == NULL) {
        fail_msg("the log does not name the refused backup:\n%s", log_text);
    }
    test_remove_dir(first_dir);
    test_remove_dir(second_dir);
}

/* The bytes of a request of the operator adding partner `partner_id`
 * (malloc'd). */
static uint8_t *add_partner_request(const uint8_t secret[LEDGER_SECRET_BYTES],
                                    const char *command_id, const char *partner_id,
                                    size_t *size_out)
{
    Ledger__V1__AddPartner partner = LEDGER__V1__ADD_PARTNER__INIT;
    partner.partner_id = (char *)partner_id;
    partner.name = (char *)"Resent Partner";
    Ledger__V1__Command command = LEDGER__V1__COMMAND__INIT;
    command.command_id = (char *)command_id;
    command.partner_id = (char *)partner_id;
    command.body_case = LEDGER__V1__COMMAND__BODY_ADD_PARTNER;
    command.add_partner = &partner;
    ProtobufCBinaryData data = {0};
    assert_int_equal(LEDGER_ERR_OK, codec_pack(&command.base, &data.data, &data.len));
    struct request_spec spec = {.principal_id = "operator", .secret = secret};
    uint8_t *bytes = request_batch(&spec, &data, 1, size_out);
    free(data.data);
    return bytes;
}

/* The same request bytes received twice while a commit runs (a client's
 * resend, or one request sent on two connections) queue together, but the
 * second copy waits for a later group, where the first copy's outcome
 * answers it: a committed command as a duplicate of itself (nothing appended
 * twice), a refused one with the same refusal, said to be a replay (not
 * decided again). The running commit is held at its mdb_txn_commit until
 * all four copies are queued (the in-flight gauge says so). */
static void test_faults_resent_request_waits_for_its_first_copy(void **state)
{
    struct fixture *f = *state;
    struct served served = {0};
    uint8_t secret[LEDGER_SECRET_BYTES];
    served_open(f, &served, secret);
    const struct server_counters *counters = server_counters(served.server);
    size_t held_size = 0, new_size = 0, exists_size = 0;
    uint8_t *held = add_partner_request(secret, "held-1", "p-held", &held_size);
    uint8_t *fresh = add_partner_request(secret, "resent-1", "p-resent", &new_size);
    uint8_t *exists = add_partner_request(secret, "resent-2", "p1", &exists_size);
    uint64_t head_before = engine_head_sequence(f->engine);

    gate_set(&gate_commit, true);
    struct call running, copies[4];
    call_start(&running, served.listen, held, held_size);
    bool reached = gate_reached(&gate_commit);
    if (reached) {
        call_start(&copies[0], served.listen, fresh, new_size);
        call_start(&copies[1], served.listen, fresh, new_size);
        call_start(&copies[2], served.listen, exists, exists_size);
        call_start(&copies[3], served.listen, exists, exists_size);
    }
    bool queued = reached && counter_reaches(&counters->inflight_requests, 5);
    gate_set(&gate_commit, false);
    Ledger__V1__Reply *first = call_finish(&running);
    Ledger__V1__Reply *replies[4] = {NULL};
    for (size_t i = 0; reached && i < 4; i++) {
        replies[i] = call_finish(&copies[i]);
    }
    assert_true(reached);
    assert_true(queued);
    assert_non_null(first);
    assert_int_equal(LEDGER_ERR_OK, (int)first->code);
    reply_free(first);

    /* The new command: committed once, the other copy its duplicate. */
    for (size_t i = 0; i < 4; i++) {
        assert_non_null(replies[i]);
    }
    assert_int_equal(LEDGER_ERR_OK, (int)replies[0]->code);
    assert_int_equal(LEDGER_ERR_OK, (int)replies[1]->code);
    assert_int_equal(1, replies[0]->n_results);
    assert_int_equal(1, replies[1]->n_results);
    const Ledger__V1__CommandResult *a = replies[0]->results[0], *b = replies[1]->results[0];
    assert_true(a->duplicate != b->duplicate);
    assert_int_equal(a->first_sequence, b->first_sequence);
    assert_int_equal(head_before + 2, engine_head_sequence(f->engine));

    /* The refused command: the same code twice, the second said to be a
     * replay of the first. */
    assert_int_equal(LEDGER_ERR_PARTNER_EXISTS, (int)replies[2]->code);
    assert_int_equal(LEDGER_ERR_PARTNER_EXISTS, (int)replies[3]->code);
    static const char replayed[] = "these request bytes were refused before; a replay gets the "
                                   "same answer: sign a new request to try again";
    bool second_replayed = strcmp(replies[3]->message, replayed) == 0;
    const char *decided = second_replayed ? replies[2]->message : replies[3]->message;
    const char *answered = second_replayed ? replies[3]->message : replies[2]->message;
    assert_string_equal(answered, replayed);
    assert_string_not_equal(decided, replayed);
    assert_int_equal(1, atomic_load(&counters->replays_refused));
    for (size_t i = 0; i < 4; i++) {
        reply_free(replies[i]);
    }

    free(held);
    free(fresh);
    free(exists);
    served_close(&served);
    expect_views_replay(f);
}

/* An AddPrincipal of an admin agent of partner_id, in command (whose body is
 * add; both borrowed, the ids too). */
static void add_admin_command(Ledger__V1__AddPrincipal *add, Ledger__V1__Command *command,
                              const char *principal_id, const char *partner_id,
                              const char *command_id)
{
    ledger__v1__add_principal__init(add);
    add->principal_id = (char *)principal_id;
    add->role = LEDGER__V1__ROLE__ROLE_ADMIN_AGENT;
    add->partner_id = (char *)partner_id;
    ledger__v1__command__init(command);
    command->command_id = (char *)command_id;
    command->body_case = LEDGER__V1__COMMAND__BODY_ADD_PRINCIPAL;
    command->add_principal = add;
}

/* A replay that waits in the queue while its timestamp leaves the window
 * is not decided again. A command request refused PARTNER_NOT_FOUND is
 * remembered until its timestamp leaves the window (3 s here); its replay
 * is authenticated inside the window but queued behind a commit, held at its
 * mdb_txn_commit, that registers the partner; the commit is let go only
 * once the window has passed. The replay must be refused STALE_REQUEST:
 * decided again, it would now add the principal, an effect its signer never
 * had (docs/protocol.md, "Replays, nonces and timestamps"). */
static void test_faults_replay_queued_past_its_window(void **state)
{
    struct fixture *f = *state;
    const int64_t window_us = INT64_C(3000000);
    struct served served = {.auth_window_us = window_us};
    uint8_t secret[LEDGER_SECRET_BYTES];
    served_open(f, &served, secret);
    const struct server_counters *counters = server_counters(served.server);

    Ledger__V1__AddPrincipal add;
    Ledger__V1__Command command;
    add_admin_command(&add, &command, "late-agent", "p-late", "late-1");
    ProtobufCBinaryData data = {0};
    assert_int_equal(LEDGER_ERR_OK, codec_pack(&command.base, &data.data, &data.len));
    int64_t signed_us = now_us();
    struct request_spec spec = {
        .principal_id = "operator", .secret = secret, .timestamp_us = signed_us};
    size_t refused_size = 0, partner_size = 0;
    uint8_t *refused = request_batch(&spec, &data, 1, &refused_size);
    free(data.data);
    uint8_t *partner = add_partner_request(secret, "late-partner", "p-late", &partner_size);

    int sock = client_open(served.listen, 30000);
    Ledger__V1__Reply *first = call_bytes(sock, refused, refused_size);
    assert_non_null(first);
    assert_int_equal(LEDGER_ERR_PARTNER_NOT_FOUND, (int)first->code);
    reply_free(first);

    gate_set(&gate_commit, true);
    struct call running, replay;
    call_start(&running, served.listen, partner, partner_size);
    bool reached = gate_reached(&gate_commit);
    if (reached) {
        call_start(&replay, served.listen, refused, refused_size);
    }
    bool queued = reached && counter_reaches(&counters->inflight_requests, 2);
    bool in_window = now_us() < signed_us + window_us;
    while (now_us() <= signed_us + window_us + 100000) {
        sleep_ms(50);
    }
    gate_set(&gate_commit, false);
    Ledger__V1__Reply *registered = call_finish(&running);
    Ledger__V1__Reply *replayed = reached ? call_finish(&replay) : NULL;
    assert_true(reached);
    assert_true(queued);
    if (!in_window) {
        fail_msg("the replay was not queued within the window; the machine is too slow");
    }
    assert_non_null(registered);
    assert_int_equal(LEDGER_ERR_OK, (int)registered->code);
    reply_free(registered);
    assert_non_null(replayed);
    assert_int_equal(LEDGER_ERR_STALE_REQUEST, (int)replayed->code);
    assert_int_equal(0, replayed->n_results);
    assert_string_equal(replayed->message,
                        "the timestamp left the window while the request waited; sign it again "
                        "(a new timestamp and nonce, the same command ids)");
    reply_free(replayed);
    struct engine_principal principal;
    assert_int_equal(LEDGER_ERR_UNKNOWN_PRINCIPAL,
                     engine_principal_lookup(f->engine, "late-agent", &principal));

    nn_close(sock);
    free(refused);
    free(partner);
    served_close(&served);
    expect_views_replay(f);
}

/* A new principal's secret leaves the daemon in the first reply to its
 * AddPrincipal or RotatePrincipalSecret, and every copy the daemon made of
 * it (the engine's result, the packed reply) is wiped before it is freed:
 * no block freed while the daemon adds and rotates a principal still holds
 * the secret's text. */
static void test_faults_new_secret_wiped_before_free(void **state)
{
    struct fixture *f = *state;
    struct served served = {0};
    uint8_t secret[LEDGER_SECRET_BYTES];
    served_open(f, &served, secret);
    int sock = client_open(served.listen, 30000);
    size_t size = 0;
    uint8_t *bytes = add_partner_request(secret, "wipe-partner", "p-wipe", &size);
    Ledger__V1__Reply *reply = call_bytes(sock, bytes, size);
    free(bytes);
    assert_non_null(reply);
    assert_int_equal(LEDGER_ERR_OK, (int)reply->code);
    reply_free(reply);

    Ledger__V1__AddPrincipal add;
    Ledger__V1__Command commands[2] = {LEDGER__V1__COMMAND__INIT, LEDGER__V1__COMMAND__INIT};
    add_admin_command(&add, &commands[0], "wipe-agent", "p-wipe", "wipe-add");
    Ledger__V1__RotatePrincipalSecret rotate = LEDGER__V1__ROTATE_PRINCIPAL_SECRET__INIT;
    rotate.principal_id = (char *)"wipe-agent";
    commands[1].command_id = (char *)"wipe-rotate";
    commands[1].body_case = LEDGER__V1__COMMAND__BODY_ROTATE_PRINCIPAL_SECRET;
    commands[1].rotate_principal_secret = &rotate;
    atomic_store(&secret_freed_unwiped, 0);
    atomic_store(&secret_watch, true);
    for (size_t i = 0; i < 2; i++) {
        ProtobufCBinaryData data = {0};
        assert_int_equal(LEDGER_ERR_OK, codec_pack(&commands[i].base, &data.data, &data.len));
        struct request_spec spec = {.principal_id = "operator", .secret = secret};
        bytes = request_batch(&spec, &data, 1, &size);
        free(data.data);
        reply = call_bytes(sock, bytes, size);
        free(bytes);
        assert_non_null(reply);
        assert_int_equal(LEDGER_ERR_OK, (int)reply->code);
        assert_int_equal(1, reply->n_results);
        /* The watched secret is the one sent: the watch sees what it must. */
        assert_string_equal(SECRET_WATCH_HEX, reply->results[0]->secret_hex);
        memset(reply->results[0]->secret_hex, 0, strlen(reply->results[0]->secret_hex));
        reply_free(reply);
    }
    nn_close(sock);
    /* The server frees its packed reply after handing it to nanomsg: once
     * it has stopped, every such free has happened. */
    served_close(&served);
    atomic_store(&secret_watch, false);
    assert_int_equal(0, atomic_load(&secret_freed_unwiped));
}

/* The head as replies name it is never behind what a query read: with a
 * commit held after LMDB made it visible and before the engine recorded the
 * new head, a head query (answered on the loop meanwhile) already sees the
 * new event, and its reply's head_sequence must not name the older head (a
 * subscriber that got the event would take that for a history cut back). */
static void test_faults_reply_head_not_behind_what_a_query_read(void **state)
{
    struct fixture *f = *state;
    struct served served = {0};
    uint8_t secret[LEDGER_SECRET_BYTES];
    served_open(f, &served, secret);
    uint64_t head_before = engine_head_sequence(f->engine);
    size_t add_size = 0;
    uint8_t *add = add_partner_request(secret, "visible-1", "p-visible", &add_size);
    struct request_spec spec = {.principal_id = "operator", .secret = secret};
    Ledger__V1__HeadQuery head_query = LEDGER__V1__HEAD_QUERY__INIT;
    Ledger__V1__Query query = LEDGER__V1__QUERY__INIT;
    query.kind_case = LEDGER__V1__QUERY__KIND_HEAD;
    query.head = &head_query;
    size_t query_size = 0;
    uint8_t *query_bytes = request_query(&spec, &query, &query_size);

    /* A lone command runs in the group's transaction (no nested one): its
     * commit is the first. */
    gate_set(&gate_committed, true);
    atomic_store(&committed_countdown, 1);
    struct call running;
    call_start(&running, served.listen, add, add_size);
    bool reached = gate_reached(&gate_committed);
    Ledger__V1__Reply *head_reply = NULL;
    if (reached) {
        int sock = client_open(served.listen, 30000);
        head_reply = call_bytes(sock, query_bytes, query_size);
        nn_close(sock);
    }
    gate_set(&gate_committed, false);
    atomic_store(&committed_countdown, 0);
    Ledger__V1__Reply *added = call_finish(&running);
    served_close(&served);
    assert_true(reached);
    assert_non_null(added);
    assert_int_equal(LEDGER_ERR_OK, (int)added->code);
    bool answered = head_reply != NULL && head_reply->code == LEDGER__V1__ERROR_CODE__OK &&
                    head_reply->query != NULL && head_reply->query->head != NULL;
    assert_true(answered);
    uint64_t tree_size = answered ? head_reply->query->head->tree_size : 0;
    uint64_t named = answered ? head_reply->head_sequence : 0;
    /* The query saw the held commit... */
    assert_int_equal(head_before + 1, tree_size);
    /* ... and its reply does not name an older head. */
    if (named < tree_size) {
        fail_msg("the reply names head %llu beside a head of tree size %llu",
                 (unsigned long long)named, (unsigned long long)tree_size);
    }
    reply_free(added);
    reply_free(head_reply);
    free(add);
    free(query_bytes);
}

/* CPU time of the whole test process, the served loop's thread included. */
static int64_t process_cpu_us(void)
{
    struct timespec now;
    assert_int_equal(0, clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now));
    return (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

#define PAUSED_WATCH_MS   500
#define PAUSED_CPU_US_MAX 150000

/* While reading is paused (inflight_requests_max command requests
 * unanswered), a request waiting in the socket leaves its descriptor
 * readable: the loop stops polling it, rather than waking for it again and
 * again without reading. With the one commit held at its mdb_txn_commit and
 * a second request waiting, the process (every other thread of which is
 * blocked) takes well under a third of the wall time in CPU; a loop that
 * kept polling would take most of a core. Released, both are answered. */
static void test_faults_paused_reading_does_not_poll(void **state)
{
    struct fixture *f = *state;
    struct served served = {.inflight_max = 1u};
    uint8_t secret[LEDGER_SECRET_BYTES];
    served_open(f, &served, secret);
    const struct server_counters *counters = server_counters(served.server);
    size_t held_size = 0, waiting_size = 0;
    uint8_t *held = add_partner_request(secret, "paused-1", "p-paused-1", &held_size);
    uint8_t *waiting = add_partner_request(secret, "paused-2", "p-paused-2", &waiting_size);

    gate_set(&gate_commit, true);
    struct call running, second;
    call_start(&running, served.listen, held, held_size);
    bool reached = gate_reached(&gate_commit);
    bool paused = reached && counter_reaches(&counters->backpressure_pauses, 1);
    int64_t cpu_us = -1;
    call_start(&second, served.listen, waiting, waiting_size);
    if (paused) {
        /* Let the request reach the daemon's socket, then watch. */
        struct timespec settle = {.tv_nsec = 200 * 1000 * 1000};
        nanosleep(&settle, NULL);
        int64_t before = process_cpu_us();
        struct timespec watch = {.tv_nsec = PAUSED_WATCH_MS * 1000 * 1000};
        nanosleep(&watch, NULL);
        cpu_us = process_cpu_us() - before;
    }
    uint64_t read_while_paused = atomic_load(&counters->inflight_requests);
    gate_set(&gate_commit, false);
    Ledger__V1__Reply *first = call_finish(&running);
    Ledger__V1__Reply *later = call_finish(&second);
    assert_true(reached);
    assert_true(paused);
    print_message("paused for %d ms: %" PRId64 " us of CPU\n", PAUSED_WATCH_MS, cpu_us);
    assert_true(cpu_us >= 0 && cpu_us < PAUSED_CPU_US_MAX);
    assert_int_equal(1, read_while_paused);
    assert_non_null(first);
    assert_non_null(later);
    assert_int_equal(LEDGER_ERR_OK, (int)first->code);
    assert_int_equal(LEDGER_ERR_OK, (int)later->code);
    reply_free(first);
    reply_free(later);
    free(held);
    free(waiting);
    served_close(&served);
    expect_views_replay(f);
}

/* A client that goes away while its command commits loses only the reply:
 * the command is committed and durable, the server goes on serving, and the
 * same bytes sent again from a new connection get the stored result
 * (duplicate), nothing appended twice. The commit ahead of it is held at
 * its mdb_txn_commit until the request is queued and its client closed. */
static void test_faults_client_gone_before_its_reply(void **state)
{
    struct fixture *f = *state;
    struct served served = {0};
    uint8_t secret[LEDGER_SECRET_BYTES];
    served_open(f, &served, secret);
    const struct server_counters *counters = server_counters(served.server);
    size_t held_size = 0, gone_size = 0;
    uint8_t *held = add_partner_request(secret, "ahead-1", "p-ahead", &held_size);
    uint8_t *gone = add_partner_request(secret, "gone-1", "p-gone", &gone_size);
    uint64_t head_before = engine_head_sequence(f->engine);

    gate_set(&gate_commit, true);
    struct call running;
    call_start(&running, served.listen, held, held_size);
    bool reached = gate_reached(&gate_commit);
    int sock = client_open(served.listen, 30000);
    bool sent = reached && nn_send(sock, gone, gone_size, 0) == (int)gone_size;
    bool queued = sent && counter_reaches(&counters->inflight_requests, 2);
    nn_close(sock);
    gate_set(&gate_commit, false);
    Ledger__V1__Reply *first = call_finish(&running);
    assert_true(reached);
    assert_true(queued);
    assert_non_null(first);
    assert_int_equal(LEDGER_ERR_OK, (int)first->code);
    reply_free(first);

    /* Both committed, once the gone client's group is answered. */
    assert_true(counter_reaches(&counters->commits, 2));
    assert_int_equal(head_before + 2, engine_head_sequence(f->engine));
    sock = client_open(served.listen, 30000);
    Ledger__V1__Reply *again = call_bytes(sock, gone, gone_size);
    nn_close(sock);
    assert_non_null(again);
    assert_int_equal(LEDGER_ERR_OK, (int)again->code);
    assert_int_equal(1, again->n_results);
    assert_true(again->results[0]->duplicate);
    assert_int_equal(head_before + 2, again->results[0]->first_sequence);
    reply_free(again);
    assert_int_equal(head_before + 2, engine_head_sequence(f->engine));

    free(held);
    free(gone);
    served_close(&served);
    engine_reopen(f);
    assert_int_equal(head_before + 2, engine_head_sequence(f->engine));
}

/* Waits up to 20 s for the served server's log (its stderr, a file of the
 * fixture's directory) to hold `text`. */
static bool served_log_reaches(struct fixture *f, const char *text)
{
    char path[700];
    snprintf(path, sizeof path, "%s/server.log", f->dir);
    static char log_text[65536];
    for (int waited_ms = 0; waited_ms < 20000; waited_ms += 10) {
        size_t size = test_read_bytes(path, log_text, sizeof log_text - 1);
        if (size != SIZE_MAX) {
            log_text[size] = '\0';
            if (strstr(log_text, text) != NULL) {
                return true;
            }
        }
        struct timespec pause = {.tv_nsec = 10 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    return false;
}

/* Once a call waits at `gate`, stops the served server with SIGTERM and waits
 * for its log to say `stopping_line`. *reached says whether the call came;
 * the result, whether the stop was logged. The gate stays closed. */
static bool stop_when_held(struct fixture *f, struct gate *gate, const char *stopping_line,
                           bool *reached)
{
    *reached = gate_reached(gate);
    return *reached && kill(getpid(), SIGTERM) == 0 && served_log_reaches(f, stopping_line);
}

/* A second signal while the daemon stops (an operator's Ctrl-C after a
 * SIGTERM, a service manager's SIGTERM after a Ctrl-C) is logged and
 * changes nothing: the commit in flight still ends, its request is
 * answered, and the server returns OK. The commit is held at its
 * mdb_txn_commit until both signals were handled (the log says so). */
static void test_faults_second_signal_while_stopping(void **state)
{
    struct fixture *f = *state;
    struct served served = {0};
    uint8_t secret[LEDGER_SECRET_BYTES];
    served_open(f, &served, secret);
    size_t size = 0;
    uint8_t *bytes = add_partner_request(secret, "stopping-1", "p-stopping", &size);
    uint64_t head_before = engine_head_sequence(f->engine);

    gate_set(&gate_commit, true);
    struct call running;
    call_start(&running, served.listen, bytes, size);
    bool reached = gate_reached(&gate_commit);
    bool first = reached && kill(getpid(), SIGTERM) == 0 &&
                 served_log_reaches(f, "stopping signal=SIGTERM inflight=1");
    bool second = first && kill(getpid(), SIGINT) == 0 &&
                  served_log_reaches(f, "already stopping signal=SIGINT inflight=1");
    gate_set(&gate_commit, false);
    Ledger__V1__Reply *reply = call_finish(&running);
    const char *log_text = served_end(&served);
    if (!reached || !first || !second) {
        fail_msg("reached %d, first %d, second %d:\n%s", reached, first, second, log_text);
    }
    assert_int_equal(LEDGER_ERR_OK, served.result);
    server_destroy(served.server);
    assert_non_null(reply);
    assert_int_equal(LEDGER_ERR_OK, (int)reply->code);
    assert_int_equal(1, reply->n_results);
    assert_false(reply->results[0]->duplicate);
    reply_free(reply);
    free(bytes);
    assert_int_equal(head_before + 1, engine_head_sequence(f->engine));
    assert_non_null(strstr(log_text, "stopped"));
}

/* A request that comes while the expiry schedule's commit runs waits for it
 * and is committed once it ends, also when the daemon was told to stop in
 * between: the stop waits for the request, which is answered, and the
 * server returns OK. The sweep's commit is held at its mdb_txn_commit until
 * the request is queued and SIGTERM handled (the log says so). */
static void test_faults_request_queued_behind_a_sweep_commit(void **state)
{
    struct fixture *f = *state;
    reservation_past_term_add(f, NULL);
    uint64_t head_before = engine_head_sequence(f->engine);
    struct served served = {0};
    uint8_t secret[LEDGER_SECRET_BYTES];
    /* The first commit from now is the first sweep's, a second after the
     * start: it expires the reservation. */
    gate_set(&gate_commit, true);
    served_start(f, 1, &served);
    assert_true(key_read(f->dir, secret));
    const struct server_counters *counters = server_counters(served.server);
    size_t size = 0;
    uint8_t *bytes = add_partner_request(secret, "behind-sweep-1", "p-behind-sweep", &size);

    bool reached = gate_reached(&gate_commit);
    struct call behind;
    if (reached) {
        call_start(&behind, served.listen, bytes, size);
    }
    bool queued = reached && counter_reaches(&counters->inflight_requests, 1);
    bool stopping = queued && kill(getpid(), SIGTERM) == 0 &&
                    served_log_reaches(f, "stopping signal=SIGTERM inflight=1");
    gate_set(&gate_commit, false);
    Ledger__V1__Reply *reply = reached ? call_finish(&behind) : NULL;
    if (!reached || !queued || !stopping || reply == NULL) {
        fail_msg("reached %d, queued %d, stopping %d, answered %d", reached, queued, stopping,
                 reply != NULL);
    }
    const char *log_text = served_end(&served);
    assert_int_equal(LEDGER_ERR_OK, served.result);
    server_destroy(served.server);
    assert_int_equal(LEDGER_ERR_OK, (int)reply->code);
    assert_int_equal(1, reply->n_results);
    assert_false(reply->results[0]->duplicate);
    reply_free(reply);
    free(bytes);
    if (strstr(log_text, "reservations expired count=1 due=1") == NULL) {
        fail_msg("the sweep's commit did not expire the reservation:\n%s", log_text);
    }
    /* The expiry, then the request's partner. */
    assert_int_equal(head_before + 2, engine_head_sequence(f->engine));
    engine_reopen(f);
    expect_views_replay(f);
}

/* A stop asked for while the expiry schedule's commit runs waits for that
 * commit and then finishes: the expiry is recorded and the server returns
 * OK. The sweep's commit is held at its mdb_txn_commit until SIGTERM was
 * handled (the log says so). */
static void test_faults_stop_during_a_sweep_commit(void **state)
{
    struct fixture *f = *state;
    reservation_past_term_add(f, NULL);
    uint64_t head_before = engine_head_sequence(f->engine);
    struct served served = {0};
    /* The first commit from now is the first sweep's, a second after the
     * start. */
    gate_set(&gate_commit, true);
    served_start(f, 1, &served);
    bool reached = false;
    bool stopping = stop_when_held(f, &gate_commit, "stopping signal=SIGTERM inflight=0", &reached);
    gate_set(&gate_commit, false);
    const char *log_text = served_end(&served);
    if (!reached || !stopping) {
        fail_msg("reached %d, stopping %d:\n%s", reached, stopping, log_text);
    }
    assert_int_equal(LEDGER_ERR_OK, served.result);
    server_destroy(served.server);
    if (strstr(log_text, "reservations expired count=1 due=1") == NULL ||
        strstr(log_text, "stopped") == NULL) {
        fail_msg("the sweep's commit did not end before the stop:\n%s", log_text);
    }
    assert_int_equal(head_before + 1, engine_head_sequence(f->engine));
    engine_reopen(f);
    expect_views_replay(f);
}

/* A stop asked for while the expiry schedule's scan runs waits for the scan
 * and then finishes; what the scan found is not committed (the next start's
 * sweep finds it again). The scan is held at its start until SIGTERM was
 * handled (the log says so). */
static void test_faults_stop_during_a_sweep_scan(void **state)
{
    struct fixture *f = *state;
    reservation_past_term_add(f, NULL);
    uint64_t head_before = engine_head_sequence(f->engine);
    struct served served = {0};
    /* The first sweep's scan, a second after the start, finds the
     * reservation due. */
    gate_set(&gate_scan, true);
    served_start(f, 1, &served);
    bool reached = false;
    bool stopping = stop_when_held(f, &gate_scan, "stopping signal=SIGTERM inflight=0", &reached);
    gate_set(&gate_scan, false);
    bool stopped = served_log_reaches(f, "INFO  stopped");
    if (!reached || !stopping || !stopped) {
        /* A server that never stops keeps its thread: not joined. */
        fail_msg("reached %d, stopping %d, stopped %d", reached, stopping, stopped);
    }
    const char *log_text = served_end(&served);
    assert_int_equal(LEDGER_ERR_OK, served.result);
    server_destroy(served.server);
    if (strstr(log_text, "reservations expired") != NULL) {
        fail_msg("a sweep was committed while stopping:\n%s", log_text);
    }
    assert_int_equal(head_before, engine_head_sequence(f->engine));
    engine_reopen(f);
    expect_views_replay(f);
}

/* A reservation the schedule's scan found due and its partner then recorded
 * as expired, before the schedule's commit: the schedule's expiry is
 * refused by the rules, counted and logged once as `expiries refused`
 * naming it (docs/operations.md: nothing to do), nothing is appended for
 * it, and the server goes on. The scan is held once it has found the
 * reservation; the partner's expiry is committed meanwhile. */
static void test_faults_expiry_refused_when_recorded_after_the_scan(void **state)
{
    struct fixture *f = *state;
    char reservation_id[LEDGER_ID_LENGTH_MAX + 1];
    reservation_past_term_add(f, reservation_id);
    struct served served = {0};
    gate_set(&gate_scan_found, true);
    served_start(f, 1, &served);
    const struct server_counters *counters = server_counters(served.server);
    bool reached = gate_reached(&gate_scan_found);
    uint64_t head_before = engine_head_sequence(f->engine);
    enum ledger_err partner_err = LEDGER_ERR_INTERNAL;
    if (reached) {
        Ledger__V1__ExpireReservation body = LEDGER__V1__EXPIRE_RESERVATION__INIT;
        body.reservation_id = reservation_id;
        Ledger__V1__Command command =
            c1_command("partner-expiry", f->now_us, LEDGER__V1__COMMAND__BODY_EXPIRE_RESERVATION);
        command.expire_reservation = &body;
        struct request_bytes bytes = {0};
        pack_into(&bytes, &command);
        struct engine_request request;
        if (execute(f, &f->admin, &bytes, 1, &request) == LEDGER_ERR_OK) {
            partner_err = request.err;
        }
        engine_request_clear(&request);
        request_bytes_free(&bytes);
    }
    gate_set(&gate_scan_found, false);
    bool refused = reached && counter_reaches(&counters->expiries_refused, 1);
    uint64_t expiries_refused = atomic_load(&counters->expiries_refused);
    uint64_t reservations_expired = atomic_load(&counters->reservations_expired);
    const char *log_text = served_close(&served);
    assert_true(reached);
    assert_int_equal(LEDGER_ERR_OK, partner_err);
    if (!refused) {
        fail_msg("no expiry refused:\n%s", log_text);
    }
    char wanted[2 * LEDGER_ID_LENGTH_MAX + 160];
    snprintf(wanted, sizeof wanted,
             "WARN  expiries refused count=1 due=1 first_reservation=%s "
             "code=RESERVATION_NOT_ACTIVE reason=\"reservation %s is expired, not active\"",
             reservation_id, reservation_id);
    if (strstr(log_text, wanted) == NULL) {
        fail_msg("wanted \"%s\" in:\n%s", wanted, log_text);
    }
    assert_int_equal(1, expiries_refused);
    assert_int_equal(0, reservations_expired);
    assert_null(strstr(log_text, "reservations expired"));
    /* The partner's expiry alone was appended. */
    assert_int_equal(head_before + 1, engine_head_sequence(f->engine));
    engine_reopen(f);
    expect_views_replay(f);
}

/* The expiry schedule's scan takes a row-query worker's place: when its timer
 * fires while every worker is busy, the sweep waits, and starts as soon as a
 * worker frees, not at the timer's next tick. The workers' queries are held
 * until the timer fired; the first scan must then see one tick only. */
static void test_faults_sweep_waits_for_a_free_query_worker(void **state)
{
    struct fixture *f = *state;
    reservation_past_term_add(f, NULL);
    uint64_t head_before = engine_head_sequence(f->engine);
    atomic_store(&sweep_ticks, 0);
    atomic_store(&sweep_scans, 0);
    atomic_store(&ticks_at_first_scan, 0);
    struct served served = {0};
    uint8_t secret[LEDGER_SECRET_BYTES];
    gate_set(&gate_row_query, true);
    /* The timer fires 3 s after the start, and every 3 s. */
    served_start(f, 3, &served);
    assert_true(key_read(f->dir, secret));
    struct request_spec spec = {.principal_id = "operator", .secret = secret};
    /* The principals list: a row query the operator may ask. */
    Ledger__V1__PrincipalsQuery principals = LEDGER__V1__PRINCIPALS_QUERY__INIT;
    Ledger__V1__Query query = LEDGER__V1__QUERY__INIT;
    query.kind_case = LEDGER__V1__QUERY__KIND_PRINCIPALS;
    query.principals = &principals;
    uint8_t *bytes[SERVER_QUERY_WORKERS];
    size_t sizes[SERVER_QUERY_WORKERS];
    struct call calls[SERVER_QUERY_WORKERS];
    for (size_t i = 0; i < SERVER_QUERY_WORKERS; i++) {
        bytes[i] = request_query(&spec, &query, &sizes[i]);
        call_start(&calls[i], served.listen, bytes[i], sizes[i]);
    }
    bool held = gate_reached_by(&gate_row_query, SERVER_QUERY_WORKERS);
    bool ticked = held && counter_reaches(&sweep_ticks, 1);
    uint64_t scans_while_held = atomic_load(&sweep_scans);
    gate_set(&gate_row_query, false);
    for (size_t i = 0; i < SERVER_QUERY_WORKERS; i++) {
        Ledger__V1__Reply *reply = call_finish(&calls[i]);
        assert_non_null(reply);
        assert_int_equal(LEDGER_ERR_OK, (int)reply->code);
        reply_free(reply);
        free(bytes[i]);
    }
    bool expired = served_log_reaches(f, "reservations expired count=1 due=1");
    const char *log_text = served_close(&served);
    if (!held || !ticked || scans_while_held != 0 || !expired) {
        fail_msg("held %d, ticked %d, scans while held %" PRIu64 ", expired %d:\n%s", held, ticked,
                 scans_while_held, expired, log_text);
    }
    if (atomic_load(&ticks_at_first_scan) != 1) {
        fail_msg("the sweep waited for the timer's tick %" PRIu64 " instead of a free worker",
                 (uint64_t)atomic_load(&ticks_at_first_scan));
    }
    assert_int_equal(head_before + 1, engine_head_sequence(f->engine));
}

/* A stop asked for while a row query runs on a worker waits for the query,
 * which is answered, and then finishes. The query is held at its start
 * until SIGTERM was handled (the log says so). */
static void test_faults_stop_during_a_row_query(void **state)
{
    struct fixture *f = *state;
    struct served served = {0};
    uint8_t secret[LEDGER_SECRET_BYTES];
    served_open(f, &served, secret);
    struct request_spec spec = {.principal_id = "operator", .secret = secret};
    Ledger__V1__PrincipalsQuery principals = LEDGER__V1__PRINCIPALS_QUERY__INIT;
    Ledger__V1__Query query = LEDGER__V1__QUERY__INIT;
    query.kind_case = LEDGER__V1__QUERY__KIND_PRINCIPALS;
    query.principals = &principals;
    size_t size = 0;
    uint8_t *bytes = request_query(&spec, &query, &size);
    gate_set(&gate_row_query, true);
    struct call held;
    call_start(&held, served.listen, bytes, size);
    bool reached = false;
    bool stopping = stop_when_held(f, &gate_row_query, "stopping signal=SIGTERM", &reached);
    gate_set(&gate_row_query, false);
    Ledger__V1__Reply *reply = call_finish(&held);
    bool stopped = served_log_reaches(f, "INFO  stopped");
    if (!reached || !stopping || !stopped) {
        /* A server that never stops keeps its thread: not joined. */
        fail_msg("reached %d, stopping %d, stopped %d", reached, stopping, stopped);
    }
    const char *log_text = served_end(&served);
    assert_int_equal(LEDGER_ERR_OK, served.result);
    server_destroy(served.server);
    if (reply == NULL || reply->code != LEDGER__V1__ERROR_CODE__OK || reply->query == NULL ||
        reply->query->n_principals == 0) {
        fail_msg("the held query was not answered:\n%s", log_text);
    }
    reply_free(reply);
    free(bytes);
}

/* Once a stop was asked for, no request is read any more: one sent while the
 * commit in flight is held gets no answer and is not committed, while the
 * one in flight is committed and answered. (The late request is given two
 * seconds to arrive: enough for a daemon that still read to have queued it;
 * one that does not read never does.) */
static void test_faults_no_request_read_while_stopping(void **state)
{
    struct fixture *f = *state;
    uint64_t head_before = engine_head_sequence(f->engine);
    struct served served = {0};
    uint8_t secret[LEDGER_SECRET_BYTES];
    served_open(f, &served, secret);
    size_t first_size = 0, late_size = 0;
    uint8_t *first_bytes = add_partner_request(secret, "stop-read-1", "p-stop-read-1", &first_size);
    uint8_t *late_bytes = add_partner_request(secret, "stop-read-2", "p-stop-read-2", &late_size);
    gate_set(&gate_commit, true);
    struct call first;
    call_start(&first, served.listen, first_bytes, first_size);
    bool reached = false;
    bool stopping = stop_when_held(f, &gate_commit, "stopping signal=SIGTERM inflight=1", &reached);
    Ledger__V1__Reply *late = NULL;
    if (stopping) {
        int sock = client_open(served.listen, 2000);
        late = call_bytes(sock, late_bytes, late_size);
        nn_close(sock);
    }
    gate_set(&gate_commit, false);
    Ledger__V1__Reply *answered = call_finish(&first);
    const char *log_text = served_end(&served);
    if (!reached || !stopping) {
        fail_msg("reached %d, stopping %d:\n%s", reached, stopping, log_text);
    }
    assert_int_equal(LEDGER_ERR_OK, served.result);
    server_destroy(served.server);
    assert_non_null(answered);
    assert_int_equal(LEDGER_ERR_OK, (int)answered->code);
    reply_free(answered);
    if (late != NULL) {
        fail_msg("a request sent while stopping was answered %s: %s",
                 ledger_err_name((enum ledger_err)late->code), late->message);
    }
    /* The first partner only. */
    assert_int_equal(head_before + 1, engine_head_sequence(f->engine));
    free(first_bytes);
    free(late_bytes);
}

/* --- the served request path's allocations -------------------------------------------- */

/* Every allocation on a served command's path (the server's, the engine's
 * and, linked statically, LMDB's) fails once in turn, as a daemon short of
 * memory meets it anywhere. The client is answered every time, OK or
 * NO_MEMORY with a message, never left waiting; the daemon keeps serving;
 * and the same bytes sent again complete the command exactly once. A
 * NO_MEMORY given after the command was committed (its reply could not be
 * built) says so, so that nobody runs it again under a new id. Between
 * arming the fault and receiving the reply this thread runs only nanomsg,
 * whose allocations are not wrapped: every fault fires on the daemon's
 * side. */
static void test_faults_served_command_allocation(void **state)
{
    struct fixture *f = *state;
    struct served served = {0};
    uint8_t secret[LEDGER_SECRET_BYTES];
    served_open(f, &served, secret);
    int sock = client_open(served.listen, 30000);
    unsigned long refused_before_commit = 0, refused_after_commit = 0;
    long nth = 1;
    for (; nth < FAULT_SWEEP_MAX; nth++) {
        char command_id[32], partner_id[32];
        snprintf(command_id, sizeof command_id, "alloc-%ld", nth);
        snprintf(partner_id, sizeof partner_id, "p-alloc-%ld", nth);
        size_t size = 0;
        uint8_t *bytes = add_partner_request(secret, command_id, partner_id, &size);
        uint64_t head_before = engine_head_sequence(f->engine);
        fault_arm(&fault_alloc, nth, ENOMEM);
        int sent = nn_send(sock, bytes, size, 0);
        void *raw = NULL;
        int received = sent == (int)size ? nn_recv(sock, &raw, NN_MSG, 0) : -1;
        bool fired = fault_fired(&fault_alloc) != 0;
        fault_disarm_all();
        if (received < 0) {
            fail_msg("no reply when allocation %ld failed: %s", nth, nn_strerror(nn_errno()));
        }
        ProtobufCMessage *message = NULL;
        assert_int_equal(LEDGER_ERR_OK,
                         codec_message_unpack(&ledger__v1__reply__descriptor, raw, (size_t)received,
                                              LEDGER_REQUEST_BYTES_MAX, LEDGER_ERR_BAD_REQUEST,
                                              &message));
        nn_freemsg(raw);
        Ledger__V1__Reply *reply = (Ledger__V1__Reply *)message;
        if (reply->code != LEDGER__V1__ERROR_CODE__OK && (int)reply->code != LEDGER_ERR_NO_MEMORY) {
            fail_msg("allocation %ld failed: answered %s: %s", nth,
                     ledger_err_name((enum ledger_err)reply->code), reply->message);
        }
        bool first_ok = reply->code == LEDGER__V1__ERROR_CODE__OK;
        char first_message[ENGINE_MESSAGE_SIZE];
        snprintf(first_message, sizeof first_message, "%s", reply->message ? reply->message : "");
        reply_free(reply);
        assert_true(first_ok || first_message[0] != '\0');
        assert_true(first_ok || fired);
        /* The same bytes again: the command is done once, whatever happened. */
        Ledger__V1__Reply *again = call_bytes(sock, bytes, size);
        free(bytes);
        assert_non_null(again);
        if (again->code != LEDGER__V1__ERROR_CODE__OK) {
            fail_msg("allocation %ld: the resend was answered %s: %s", nth,
                     ledger_err_name((enum ledger_err)again->code), again->message);
        }
        assert_int_equal(1, again->n_results);
        bool duplicate = again->results[0]->duplicate;
        reply_free(again);
        assert_int_equal(head_before + 1, engine_head_sequence(f->engine));
        if (first_ok) {
            assert_true(duplicate);
        } else if (duplicate) {
            refused_after_commit++;
            if (strstr(first_message, "were committed") == NULL) {
                fail_msg("allocation %ld: NO_MEMORY after the command was committed says "
                         "\"%s\", not that it was committed",
                         nth, first_message);
            }
        } else {
            refused_before_commit++;
        }
        if (!fired) {
            break;
        }
        f->injected++;
    }
    nn_close(sock);
    served_close(&served);
    printf("served allocation sweep: %ld sites; NO_MEMORY %lu times before the commit, %lu "
           "after it\n",
           nth - 1, refused_before_commit, refused_after_commit);
    assert_true(refused_before_commit > 0);
    assert_true(refused_after_commit > 0);
    engine_reopen(f);
    expect_views_replay(f);
}

/* Sends `query` as the operator while each allocation of its answer fails
 * in turn (nth = 1, 2, ...), until one is answered without a fault: every
 * attempt must be answered, OK or NO_MEMORY with a message and no result.
 * Returns the number of allocation sites; *refused_out: how many attempts
 * were answered NO_MEMORY; *full_out: the rows of the full answer (stats'
 * figures or principals). */
static long served_query_allocation_sweep(int sock, const uint8_t secret[LEDGER_SECRET_BYTES],
                                          Ledger__V1__Query *query, unsigned long *refused_out,
                                          size_t *full_out)
{
    *refused_out = 0;
    *full_out = 0;
    for (long nth = 1; nth < FAULT_SWEEP_MAX; nth++) {
        struct request_spec spec = {.principal_id = "operator", .secret = secret};
        size_t size = 0;
        uint8_t *bytes = request_query(&spec, query, &size);
        fault_arm(&fault_alloc, nth, ENOMEM);
        int sent = nn_send(sock, bytes, size, 0);
        void *raw = NULL;
        int received = sent == (int)size ? nn_recv(sock, &raw, NN_MSG, 0) : -1;
        bool fired = fault_fired(&fault_alloc) != 0;
        fault_disarm_all();
        free(bytes);
        if (received < 0) {
            fail_msg("no reply when allocation %ld failed: %s", nth, nn_strerror(nn_errno()));
        }
        ProtobufCMessage *message = NULL;
        assert_int_equal(LEDGER_ERR_OK,
                         codec_message_unpack(&ledger__v1__reply__descriptor, raw, (size_t)received,
                                              LEDGER_REQUEST_BYTES_MAX, LEDGER_ERR_BAD_REQUEST,
                                              &message));
        nn_freemsg(raw);
        Ledger__V1__Reply *reply = (Ledger__V1__Reply *)message;
        if (reply->code == LEDGER__V1__ERROR_CODE__OK) {
            assert_non_null(reply->query);
            if (!fired) {
                *full_out = reply->query->n_stats + reply->query->n_principals;
            }
        } else if ((int)reply->code == LEDGER_ERR_NO_MEMORY) {
            assert_true(fired);
            assert_true(reply->message != NULL && reply->message[0] != '\0');
            assert_null(reply->query);
            (*refused_out)++;
        } else {
            fail_msg("allocation %ld failed: answered %s: %s", nth,
                     ledger_err_name((enum ledger_err)reply->code), reply->message);
        }
        reply_free(reply);
        if (!fired) {
            return nth - 1;
        }
    }
    fail_msg("the sweep did not end");
    return 0;
}

/* The same for a stats query, answered on the loop from the engine's
 * figures and the server's counters, and for the principals, answered on a
 * worker of the thread pool: each allocation of the answer fails once in
 * turn (each figure's, of which there are many), and the client is
 * answered NO_MEMORY with a message (or OK), the partial answer freed (the
 * sanitizer build finds a leak), and the next query is answered in full. */
static void test_faults_served_query_allocation(void **state)
{
    struct fixture *f = *state;
    struct served served = {0};
    uint8_t secret[LEDGER_SECRET_BYTES];
    served_open(f, &served, secret);
    int sock = client_open(served.listen, 30000);
    Ledger__V1__StatsQuery stats = LEDGER__V1__STATS_QUERY__INIT;
    Ledger__V1__Query query = LEDGER__V1__QUERY__INIT;
    query.kind_case = LEDGER__V1__QUERY__KIND_STATS;
    query.stats = &stats;
    unsigned long stats_refused = 0, principals_refused = 0;
    size_t figures = 0, principals = 0;
    long stats_sites =
        served_query_allocation_sweep(sock, secret, &query, &stats_refused, &figures);
    Ledger__V1__PrincipalsQuery principals_query = LEDGER__V1__PRINCIPALS_QUERY__INIT;
    query.kind_case = LEDGER__V1__QUERY__KIND_PRINCIPALS;
    query.principals = &principals_query;
    long principals_sites =
        served_query_allocation_sweep(sock, secret, &query, &principals_refused, &principals);
    nn_close(sock);
    served_close(&served);
    f->injected += (unsigned long)(stats_sites + principals_sites);
    printf("served query allocation sweeps: stats %ld sites, %lu answered NO_MEMORY, %zu "
           "figures; principals %ld sites, %lu answered NO_MEMORY, %zu rows\n",
           stats_sites, stats_refused, figures, principals_sites, principals_refused, principals);
    assert_true(stats_refused > 0);
    assert_true(principals_refused > 0);
    /* The engine's figures and every counter of the metrics endpoint; the
     * operator, the one principal added (the fixture's admin agent acts
     * on the engine directly). */
    assert_true(figures > 20);
    assert_int_equal(principals, 1);
}

/* --- the rebuild's storage failures ------------------------------------------------------------
 */

/* Fails each call of `fault` in an engine_rebuild in turn with EIO, until
 * a rebuild reaches none: each failed rebuild returns STORAGE_ERROR, leaves
 * the differences untouched, names no record (the log is not damaged there,
 * and `ledgerd rebuild` must not say it is), leaves the storage usable, and
 * writes nothing (the views still equal a replay); the last one succeeds
 * with 0 differences. Returns how many calls failed. */
static long rebuild_fault_sweep(struct fixture *f, struct fault *fault)
{
    long nth = 1;
    for (; nth < FAULT_SWEEP_MAX; nth++) {
        fault_arm(fault, nth, EIO);
        unsigned differences = 77;
        enum ledger_err err = engine_rebuild(f->engine, NULL, NULL, NULL, &differences);
        bool fired = fault_fired(fault) > 0;
        fault_disarm_all();
        if (!fired) {
            assert_int_equal(LEDGER_ERR_OK, err);
            assert_int_equal(0, differences);
            break;
        }
        f->injected++;
        assert_int_equal(LEDGER_ERR_STORAGE_ERROR, err);
        assert_int_equal(77, differences);
        char why[ENGINE_MESSAGE_SIZE];
        assert_int_equal(0, engine_rebuild_failure(f->engine, why));
        assert_string_equal("", why);
        assert_false(engine_unusable(f->engine));
        expect_views_replay(f);
    }
    assert_true(nth < FAULT_SWEEP_MAX);
    return nth - 1;
}

/* Each put of a rebuild in turn (a view's row, a Merkle node, a stream
 * version, a command's result, the layout), and bulk mode ends. */
static void test_faults_rebuild_storage_failure_names_no_record(void **state)
{
    /* The setup's commands wrote rows of several views: many puts failed. */
    assert_true(rebuild_fault_sweep(*state, &fault_put) >= 10);
}

/* Each commit's flush, then the flush that ends the rebuild's bulk mode
 * (mdb_env_sync's fdatasync). */
static void test_faults_rebuild_sync_failure_names_no_record(void **state)
{
    assert_true(rebuild_fault_sweep(*state, &fault_sync) >= 1);
}

/* --- the project's reads ---------------------------------------------------------------- */

/* Every read on the path of a batch (each mdb_get and cursor step of the
 * command-id index, the customer's state, the views' rows, the tree) finds a
 * damaged page in turn: the request fails CORRUPT, nothing is written, the
 * in-memory state is not ahead of the log, and the same batch commits once
 * the read succeeds again. */
static void test_faults_read_corrupted(void **state)
{
    struct fixture *f = *state;
    long sites = sweep(f, &fault_read, MDB_CORRUPTED, 3, LEDGER_ERR_CORRUPT, false);
    printf("read sweep: %ld mdb_get and cursor steps on the path of a 3-command batch\n", sites);
    assert_true(sites >= 5);
    engine_reopen(f);
    expect_views_replay(f);
}

/* A query whose reads find a damaged page, read by read: CORRUPT with a
 * message, no result, and the same query answered in full right after. */
static void test_faults_query_read_corrupted(void **state)
{
    struct fixture *f = *state;
    struct request_bytes bytes = {0};
    customer_batch(f, 3, &bytes);
    struct engine_request request;
    assert_int_equal(LEDGER_ERR_OK, execute(f, &f->admin, &bytes, 1, &request));
    assert_int_equal(LEDGER_ERR_OK, request.err);
    engine_request_clear(&request);
    request_bytes_free(&bytes);

    Ledger__V1__ActivityQuery activity = LEDGER__V1__ACTIVITY_QUERY__INIT;
    Ledger__V1__Query query = LEDGER__V1__QUERY__INIT;
    query.kind_case = LEDGER__V1__QUERY__KIND_ACTIVITY;
    query.activity = &activity;
    Ledger__V1__QueryResult *whole = NULL;
    char message[ENGINE_MESSAGE_SIZE] = "";
    assert_int_equal(LEDGER_ERR_OK,
                     engine_query(f->engine, &f->admin, &query, f->now_us, &whole, message));
    assert_non_null(whole);
    size_t whole_size = protobuf_c_message_get_packed_size(&whole->base);
    long nth = 1;
    for (; nth < FAULT_SWEEP_MAX; nth++) {
        fault_arm(&fault_read, nth, MDB_CORRUPTED);
        Ledger__V1__QueryResult *result = NULL;
        message[0] = '\0';
        enum ledger_err err =
            engine_query(f->engine, &f->admin, &query, f->now_us, &result, message);
        bool fired = fault_fired(&fault_read) > 0;
        fault_disarm_all();
        if (!fired) {
            assert_int_equal(LEDGER_ERR_OK, err);
            assert_int_equal(whole_size, protobuf_c_message_get_packed_size(&result->base));
            protobuf_c_message_free_unpacked(&result->base, NULL);
            break;
        }
        if (err != LEDGER_ERR_CORRUPT) {
            fail_msg("read %ld failed: expected CORRUPT, got %s: %s", nth, ledger_err_name(err),
                     message);
        }
        assert_null(result);
        assert_true(message[0] != '\0');
        assert_false(engine_unusable(f->engine));
    }
    printf("query read sweep: %ld reads of an activity query\n", nth - 1);
    assert_true(nth - 1 >= 3);
    protobuf_c_message_free_unpacked(&whole->base, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_faults_replay_cache_allocation),
        cmocka_unit_test_setup_teardown(test_faults_commit_eio, setup, teardown),
        cmocka_unit_test_setup_teardown(test_faults_commit_enospc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_faults_write_cut_short_by_full_disk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_faults_fdatasync_eio, setup, teardown),
        cmocka_unit_test_setup_teardown(test_faults_write_eio, setup, teardown),
        cmocka_unit_test_setup_teardown(test_faults_daemon_stops_when_storage_unusable, setup,
                                        teardown),
        cmocka_unit_test(test_faults_put_map_full_grows),
        cmocka_unit_test_setup_teardown(test_faults_put_map_full_at_maximum, setup_small_map,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_faults_expiry_sweep_commit_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_faults_stop_during_a_sweep_scan, setup, teardown),
        cmocka_unit_test_setup_teardown(test_faults_expiry_refused_when_recorded_after_the_scan,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_faults_stop_during_a_row_query, setup, teardown),
        cmocka_unit_test_setup_teardown(test_faults_no_request_read_while_stopping, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_faults_sweep_waits_for_a_free_query_worker, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_faults_put_enomem, setup, teardown),
        cmocka_unit_test_setup_teardown(test_faults_put_eio, setup, teardown),
        cmocka_unit_test_setup_teardown(test_faults_allocation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_faults_group_fails_together, setup, teardown),
        cmocka_unit_test_setup_teardown(test_faults_horizon_put_map_full_grows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_faults_horizon_put_eio, setup, teardown),
        cmocka_unit_test_setup_teardown(test_faults_backup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_faults_backup_refused_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_faults_backup_while_one_runs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_faults_paused_reading_does_not_poll, setup, teardown),
        cmocka_unit_test_setup_teardown(test_faults_reply_head_not_behind_what_a_query_read, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_faults_resent_request_waits_for_its_first_copy, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_faults_replay_queued_past_its_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_faults_new_secret_wiped_before_free, setup, teardown),
        cmocka_unit_test_setup_teardown(test_faults_client_gone_before_its_reply, setup, teardown),
        cmocka_unit_test_setup_teardown(test_faults_second_signal_while_stopping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_faults_request_queued_behind_a_sweep_commit, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_faults_stop_during_a_sweep_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_faults_served_command_allocation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_faults_served_query_allocation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_faults_rebuild_storage_failure_names_no_record, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_faults_rebuild_sync_failure_names_no_record, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_faults_read_corrupted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_faults_query_read_corrupted, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
