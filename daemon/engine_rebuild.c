/*
 * engine_rebuild.c: `ledgerd rebuild`. Drops every derived database (streams,
 * command ids, the Merkle tree, the views), replays the log from sequence 1
 * through the functions live commits use (the stream index aside, below),
 * and compares a digest of each derived database before and after (the
 * "before" digests are taken on a second thread while the replay runs, from
 * a read transaction opened ahead of its first write; the "after" ones by
 * two threads). The log is read, checked against its leaf hashes and decoded
 * on a thread of its own ahead of the replay (rebuild_reader), which also
 * hashes the interior nodes of the Merkle tree each leaf completes and packs
 * each command's result; the replay stores them, keeping the tree's right
 * edge in memory (merkle_refill_add_nodes), and each customer's stream
 * version is kept in memory (rebuild_stream_add), so that neither is read
 * back; the stream index is written a stream after another, in key order,
 * in large runs (rebuild_streams_flush) instead of an insert per event.
 * Runs in the store's bulk mode (one sync at the end); a rebuild that fails
 * or is interrupted part way leaves the views partly rebuilt and the layout
 * VIEWS_LAYOUT_REBUILDING, which the daemon refuses to serve: run it again.
 * Also names, for a verifier that compares a derived database with its
 * replay entry by entry, the event an entry comes from (engine_entry_origin),
 * and, for both, the subscription ids a log of an earlier build holds under
 * several customers of one partner (engine_subscription_duplicates).
 */
#include "engine.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "codec.h"
#include "crypto.h"
#include "domain.h"
#include "engine_internal.h"
#include "merkle.h"
#include "store.h"
#include "views.h"

/* Rebuild commits every this many events, bounding the write transaction's
 * dirty pages. */
#define ENGINE_REBUILD_COMMIT_EVERY 20000
/* and reports progress every this many. */
#define ENGINE_REBUILD_PROGRESS_EVERY 4096

/* Digests of the derived databases, taken by up to two threads at once:
 * each worker reads in its own read transaction and takes the next database
 * not yet claimed. A read transaction opened before the replay's first write
 * keeps seeing the views as they were, so the digests of "before" are taken
 * beside the replay, on the second core, instead of ahead of it. */
struct digest_share {
    atomic_int next; /* the next database to claim */
    uint8_t (*digests)[32];
};

struct digest_worker {
    struct digest_share *share;
    struct store_txn *txn; /* the worker's own; it aborts it */
    enum ledger_err err;
    pthread_t thread;
    bool started;
};

static void *digest_run(void *argument)
{
    struct digest_worker *worker = argument;
    for (;;) {
        int db = atomic_fetch_add(&worker->share->next, 1);
        if (db >= STORE_DB_COUNT || worker->err != LEDGER_ERR_OK) {
            break;
        }
        if (store_db_derived((enum store_db)db)) {
            worker->err = views_digest(worker->txn, (enum store_db)db, worker->share->digests[db]);
        }
    }
    store_abort(worker->txn);
    worker->txn = NULL;
    return NULL;
}

/* Opens the worker's read transaction (now: its snapshot is what it
 * digests) and, when `threaded`, starts it on a thread of its own;
 * digest_join runs it on the caller's thread otherwise, or when no thread
 * could be started. */
static enum ledger_err digest_start(struct engine *engine, struct digest_share *share,
                                    bool threaded, struct digest_worker *worker)
{
    memset(worker, 0, sizeof *worker);
    worker->share = share;
    enum ledger_err err = store_begin(engine->store, false, &worker->txn);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    worker->started = threaded && pthread_create(&worker->thread, NULL, digest_run, worker) == 0;
    return LEDGER_ERR_OK;
}

static enum ledger_err digest_join(struct digest_worker *worker)
{
    if (worker->started) {
        pthread_join(worker->thread, NULL);
        worker->started = false;
    } else if (worker->txn != NULL) {
        digest_run(worker);
    }
    return worker->err;
}

/* Every derived database's digest as it is now, two threads sharing them. */
static enum ledger_err digest_all(struct engine *engine, uint8_t digests[STORE_DB_COUNT][32])
{
    struct digest_share share = {.digests = digests};
    atomic_init(&share.next, 0);
    struct digest_worker helper, self;
    enum ledger_err err = digest_start(engine, &share, true, &helper);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    err = digest_start(engine, &share, false, &self);
    if (err == LEDGER_ERR_OK) {
        err = digest_join(&self);
    }
    enum ledger_err joined = digest_join(&helper);
    return err != LEDGER_ERR_OK ? err : joined;
}

/* The replay reads, checks and decodes the log on a second thread, the
 * reader, while the calling thread writes what each record implies: reading a
 * record, hashing it and decoding it take a seventh of a record's time, and
 * the writer need not wait for them. The reader also hashes the tree nodes
 * each leaf completes (a seventh of the writer's instructions when it hashed
 * them) and packs each command's result, so that the writer only stores
 * them. The reader hands over batches of decoded records through a ring; a
 * batch comes back to it once written, and it frees the batch's events
 * before filling it again. */
#define REBUILD_BATCH_RECORDS 256
#define REBUILD_BATCHES       8
/* The reader's read transaction keeps every page freed after it began from
 * being reused, so it renews it every this many batches (4,096 records, a
 * fifth of ENGINE_REBUILD_COMMIT_EVERY): the file grows by no more than the
 * pages the replay frees meanwhile. */
#define REBUILD_READER_RENEW_BATCHES 16
/* The leaves 0..n-1 complete n - popcount(n) interior nodes of the tree, so
 * those of a batch, leaves a..a+k-1, complete k + popcount(a) -
 * popcount(a + k) <= k + 64 of them. */
#define REBUILD_BATCH_NODES_MAX (REBUILD_BATCH_RECORDS + 64)

/* One record, read, checked against its leaf hash and decoded, with the
 * interior nodes of the tree its leaf completes and, for a command's event,
 * its command result packed (engine__result_pack). */
struct rebuild_record {
    Ledger__V1__Event *event; /* in the batch's arena */
    uint8_t leaf[STORE_HASH_BYTES];
    const uint8_t (*nodes)[MERKLE_HASH_BYTES]; /* in the batch's nodes, lowest level first */
    unsigned node_count;
    size_t result_at, result_size; /* in the batch's results */
    enum ledger_err result_err;    /* why the result could not be packed */
};

struct rebuild_batch {
    struct rebuild_record records[REBUILD_BATCH_RECORDS];
    struct codec_arena arena; /* the records' events, dropped together */
    uint8_t nodes[REBUILD_BATCH_NODES_MAX][MERKLE_HASH_BYTES]; /* the records' tree nodes */
    unsigned node_count;
    uint8_t *results; /* the records' packed command results, malloc'd, kept across fills */
    size_t results_size, results_capacity;
    uint64_t first;      /* the sequence of records[0] */
    unsigned count;      /* the records decoded, in sequence order */
    enum ledger_err err; /* OK, or why record first + count could not be */
    char why[ENGINE_MESSAGE_SIZE];
};

struct rebuild_reader {
    struct store *store;
    struct store_txn *txn;           /* the reader's own read transaction */
    struct store_cursor *log, *leaf; /* in txn: consecutive records are a step apart */
    uint64_t next;                   /* the next sequence to read */
    uint64_t total;                  /* the last sequence */
    unsigned batches_since_renew;
    /* The tree's right edge over the leaves read so far: the reader hashes
     * the nodes each leaf completes, so that the replay only stores them
     * (merkle_refill_add_nodes). */
    struct merkle_builder tree;
    struct rebuild_batch batches[REBUILD_BATCHES];
    pthread_mutex_t lock;
    pthread_cond_t changed;
    uint64_t filled;   /* batches handed to the writer, under lock */
    uint64_t returned; /* batches the writer is done with, under lock */
    bool stop;         /* the writer wants no more, under lock */
    pthread_t thread;
    bool started;
};

/* Whether a failure is the storage's or the system's, which a record cannot
 * cause: it names no record (engine_rebuild_failure). */
static bool rebuild_storage_failure(enum ledger_err err)
{
    return err == LEDGER_ERR_STORAGE_FULL || err == LEDGER_ERR_STORAGE_ERROR ||
           err == LEDGER_ERR_DISK_FULL || err == LEDGER_ERR_NO_MEMORY;
}

/* Reads and decodes one record into `arena`: its leaf hash must match the stored one, and
 * its envelope must name its own sequence and a schema this build reads. On
 * failure `why` says what was wrong with the record (engine_rebuild_failure),
 * unless the storage failed. */
static enum ledger_err rebuild_decode(struct rebuild_reader *reader, struct codec_arena *arena,
                                      uint64_t sequence, struct rebuild_record *out,
                                      char why[ENGINE_MESSAGE_SIZE])
{
    struct store_val record;
    enum ledger_err err = store_record_next(reader->log, sequence, &record);
    if (rebuild_storage_failure(err)) {
        return err;
    }
    if (err != LEDGER_ERR_OK) {
        /* The store's reason (this thread's): a node's size altered past
         * the end of the file, say. */
        snprintf(why, ENGINE_MESSAGE_SIZE, "the record could not be read: %s",
                 err == LEDGER_ERR_NOT_FOUND ? "it is missing" : store_last_error(NULL));
        return err == LEDGER_ERR_NOT_FOUND ? LEDGER_ERR_CORRUPT : err;
    }
    uint8_t stored_leaf[STORE_HASH_BYTES];
    crypto_sha256_prefixed(0x00, record.data, record.size, out->leaf);
    err = store_leaf_next(reader->leaf, sequence, stored_leaf);
    if (rebuild_storage_failure(err)) {
        return err;
    }
    if (err != LEDGER_ERR_OK || !crypto_equal(out->leaf, stored_leaf, sizeof stored_leaf)) {
        engine__set_message(why, "the record's bytes do not match its stored leaf hash");
        return LEDGER_ERR_CORRUPT;
    }
    Ledger__V1__Event *event = NULL;
    err = codec_event_unpack_arena(arena, record.data, record.size, &event);
    if (err != LEDGER_ERR_OK) {
        if (!rebuild_storage_failure(err)) { /* not out of memory: the bytes */
            engine__set_message(why, "the record does not decode as ledger.v1.Event");
        }
        return err;
    }
    /* A schema version this build does not know (a record of a newer build)
     * is refused, never projected with an older meaning (docs/events.md). */
    if (event->sequence != sequence) {
        snprintf(why, ENGINE_MESSAGE_SIZE, "the record names sequence %llu",
                 (unsigned long long)event->sequence);
        err = LEDGER_ERR_CORRUPT;
    } else if (event->schema_version < 1 || event->schema_version > LEDGER_SCHEMA_VERSION) {
        snprintf(why, ENGINE_MESSAGE_SIZE,
                 "the record's schema version %u is not one this build reads (1..%d)",
                 (unsigned)event->schema_version, LEDGER_SCHEMA_VERSION);
        err = LEDGER_ERR_CORRUPT;
    }
    if (err != LEDGER_ERR_OK) {
        return err; /* the event goes with the arena */
    }
    out->event = event;
    return LEDGER_ERR_OK;
}

static void rebuild_batch_free(struct rebuild_batch *batch)
{
    codec_arena_reset(&batch->arena);
    batch->count = 0;
    batch->node_count = 0;
    batch->results_size = 0;
}

/* Whether the event is a command's, whose result the command-id index
 * records. */
static bool rebuild_has_result(const Ledger__V1__Event *event)
{
    return event->actor != NULL && event->command_id[0] != '\0';
}

/* Packs the command result of the record's event, if it has one, at the end
 * of the batch's results; a failure is the record's, for the replay to
 * return where it writes the result. */
static void rebuild_result_pack(struct rebuild_batch *batch, struct rebuild_record *record)
{
    record->result_at = record->result_size = 0;
    record->result_err = LEDGER_ERR_OK;
    if (!rebuild_has_result(record->event)) {
        return;
    }
    struct codec_packed packed;
    record->result_err = engine__result_pack(record->event, &packed);
    if (record->result_err != LEDGER_ERR_OK) {
        return;
    }
    if (packed.size > batch->results_capacity - batch->results_size) {
        /* Doubling: a batch's results take a few reallocations, once. */
        size_t capacity = 2 * batch->results_capacity + packed.size;
        uint8_t *results = realloc(batch->results, capacity);
        if (results == NULL) {
            record->result_err = LEDGER_ERR_NO_MEMORY;
            codec_packed_free(&packed);
            return;
        }
        batch->results = results;
        batch->results_capacity = capacity;
    }
    if (packed.size > 0) {
        memcpy(batch->results + batch->results_size, packed.data, packed.size);
    }
    record->result_at = batch->results_size;
    record->result_size = packed.size;
    batch->results_size += packed.size;
    codec_packed_free(&packed);
}

/* merkle_completed_fn of the reader: keeps the node in the batch. */
static void rebuild_node_keep(void *context, unsigned level, uint64_t index,
                              const uint8_t hash[MERKLE_HASH_BYTES])
{
    struct rebuild_batch *batch = context;
    (void)level;
    (void)index;
    if (batch->node_count >= REBUILD_BATCH_NODES_MAX) {
        abort(); /* REBUILD_BATCH_NODES_MAX says why it cannot be */
    }
    memcpy(batch->nodes[batch->node_count++], hash, MERKLE_HASH_BYTES);
}

/* Ends the reader's read transaction, if it has one, and its cursors. */
static void rebuild_reader_end(struct rebuild_reader *reader)
{
    store_cursor_close(reader->log);
    store_cursor_close(reader->leaf);
    reader->log = reader->leaf = NULL;
    if (reader->txn != NULL) {
        store_abort(reader->txn);
        reader->txn = NULL;
    }
}

/* Frees what the batch held and decodes the next records into it, up to a
 * batch or the end of the log, stopping at the first that fails. */
static void rebuild_reader_fill(struct rebuild_reader *reader, struct rebuild_batch *batch)
{
    rebuild_batch_free(batch);
    batch->first = reader->next;
    batch->err = LEDGER_ERR_OK;
    batch->why[0] = '\0';
    if (reader->txn != NULL && reader->batches_since_renew >= REBUILD_READER_RENEW_BATCHES) {
        rebuild_reader_end(reader);
    }
    if (reader->txn == NULL) {
        reader->batches_since_renew = 0;
        batch->err = store_begin(reader->store, false, &reader->txn);
        if (batch->err == LEDGER_ERR_OK) {
            batch->err = store_cursor_open(reader->txn, STORE_DB_LOG, &reader->log);
        }
        if (batch->err == LEDGER_ERR_OK) {
            batch->err = store_cursor_open(reader->txn, STORE_DB_LEAF, &reader->leaf);
        }
        if (batch->err != LEDGER_ERR_OK) {
            rebuild_reader_end(reader); /* the storage's failure: no record named */
            return;
        }
    }
    reader->batches_since_renew++;
    while (batch->count < REBUILD_BATCH_RECORDS && reader->next <= reader->total) {
        struct rebuild_record *record = &batch->records[batch->count];
        batch->err = rebuild_decode(reader, &batch->arena, reader->next, record, batch->why);
        if (batch->err != LEDGER_ERR_OK) {
            return;
        }
        unsigned first_node = batch->node_count;
        merkle_builder_add_nodes(&reader->tree, record->leaf, rebuild_node_keep, batch);
        record->nodes = (const uint8_t(*)[MERKLE_HASH_BYTES])(batch->nodes + first_node);
        record->node_count = batch->node_count - first_node;
        rebuild_result_pack(batch, record);
        batch->count++;
        reader->next++;
    }
}

static void *rebuild_reader_run(void *argument)
{
    struct rebuild_reader *reader = argument;
    for (bool more = true; more;) {
        pthread_mutex_lock(&reader->lock);
        while (!reader->stop && reader->filled - reader->returned == REBUILD_BATCHES) {
            pthread_cond_wait(&reader->changed, &reader->lock);
        }
        struct rebuild_batch *batch = &reader->batches[reader->filled % REBUILD_BATCHES];
        more = !reader->stop;
        pthread_mutex_unlock(&reader->lock);
        if (!more) {
            break;
        }
        rebuild_reader_fill(reader, batch);
        /* After a failed record or the last one there is nothing more to read. */
        more = batch->err == LEDGER_ERR_OK && reader->next <= reader->total;
        pthread_mutex_lock(&reader->lock);
        reader->filled++;
        pthread_cond_signal(&reader->changed);
        pthread_mutex_unlock(&reader->lock);
    }
    rebuild_reader_end(reader);
    return NULL;
}

/* Starts the reader of sequences 1..total on a thread of its own; when no
 * thread can be had, rebuild_reader_next fills each batch on the caller's. */
static void rebuild_reader_start(struct rebuild_reader *reader, struct store *store, uint64_t total)
{
    memset(reader, 0, sizeof *reader);
    reader->store = store;
    reader->next = 1;
    reader->total = total;
    merkle_builder_init(&reader->tree);
    reader->started = pthread_mutex_init(&reader->lock, NULL) == 0;
    if (reader->started && pthread_cond_init(&reader->changed, NULL) != 0) {
        pthread_mutex_destroy(&reader->lock);
        reader->started = false;
    }
    if (reader->started && pthread_create(&reader->thread, NULL, rebuild_reader_run, reader) != 0) {
        pthread_cond_destroy(&reader->changed);
        pthread_mutex_destroy(&reader->lock);
        reader->started = false;
    }
}

/* The next batch, in sequence order; give it back with rebuild_reader_done
 * before asking for another. Borrowed from the reader. */
static struct rebuild_batch *rebuild_reader_next(struct rebuild_reader *reader)
{
    if (!reader->started) {
        rebuild_reader_fill(reader, &reader->batches[0]);
        return &reader->batches[0];
    }
    pthread_mutex_lock(&reader->lock);
    while (reader->filled == reader->returned) {
        pthread_cond_wait(&reader->changed, &reader->lock);
    }
    struct rebuild_batch *batch = &reader->batches[reader->returned % REBUILD_BATCHES];
    pthread_mutex_unlock(&reader->lock);
    return batch;
}

static void rebuild_reader_done(struct rebuild_reader *reader)
{
    if (reader->started) {
        pthread_mutex_lock(&reader->lock);
        reader->returned++;
        pthread_cond_signal(&reader->changed);
        pthread_mutex_unlock(&reader->lock);
    }
}

/* Stops the reader, waits for it and frees every event it decoded. */
static void rebuild_reader_stop(struct rebuild_reader *reader)
{
    if (reader->started) {
        pthread_mutex_lock(&reader->lock);
        reader->stop = true;
        pthread_cond_signal(&reader->changed);
        pthread_mutex_unlock(&reader->lock);
        pthread_join(reader->thread, NULL);
        pthread_cond_destroy(&reader->changed);
        pthread_mutex_destroy(&reader->lock);
        reader->started = false;
    } else {
        rebuild_reader_end(reader);
    }
    for (int i = 0; i < REBUILD_BATCHES; i++) {
        rebuild_batch_free(&reader->batches[i]);
        codec_arena_free(&reader->batches[i].arena);
        free(reader->batches[i].results);
    }
}

/* The replay keeps each customer's stream version in memory, so that adding
 * an event to a stream need not read the stream index back: as the version
 * of an otherwise empty customer state in a state_map. At most this many
 * customers (a few hundred bytes each); past it the map starts over, and a
 * customer not in it is read from the index once. */
#define REBUILD_STREAMS_CACHED_MAX 65536
/* Nor does the replay insert each event into the stream index, a B-tree
 * search at a random place each time: it writes the index a stream after
 * another, in key order, once this many events wait (16 bytes each) and at
 * the end. The first write into the dropped index appends (MDB_APPEND). */
#define REBUILD_STREAMS_PENDING_MAX (1u << 19)

/* An event of a stream, not yet in the index. */
struct stream_event {
    const struct domain_customer *stream; /* the map's, alive until it is cleared */
    uint64_t sequence;
};

struct rebuild_streams {
    struct state_map versions;
    struct stream_event *pending; /* in sequence order */
    size_t pending_count;
    bool written; /* the index holds streams already: no more appending */
};

static int stream_order(const void *a, const void *b)
{
    const struct domain_customer *x = *(const struct domain_customer *const *)a;
    const struct domain_customer *y = *(const struct domain_customer *const *)b;
    int partner = strcmp(x->partner_id, y->partner_id);
    /* The index's key order: partner_id NUL customer_id NUL version. */
    return partner != 0 ? partner : strcmp(x->customer_id, y->customer_id);
}

static int stream_by_address(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)(*(const struct domain_customer *const *)a);
    uintptr_t y = (uintptr_t)(*(const struct domain_customer *const *)b);
    return (x > y) - (x < y);
}

/* Writes the waiting events into the index, stream by stream in key order,
 * each stream's in sequence order (a counting sort by the stream's rank). */
static enum ledger_err rebuild_streams_flush(struct rebuild_streams *streams, struct store_txn *txn)
{
    if (streams->pending_count == 0) {
        return LEDGER_ERR_OK;
    }
    size_t count = streams->versions.count;
    const struct domain_customer **order = calloc(count, sizeof *order);
    const struct domain_customer **by_address = calloc(count, sizeof *by_address);
    size_t *first = calloc(count + 1, sizeof *first);
    uint64_t *sequences = calloc(streams->pending_count, sizeof *sequences);
    enum ledger_err err =
        order && by_address && first && sequences ? LEDGER_ERR_OK : LEDGER_ERR_NO_MEMORY;
    for (size_t i = 0, n = 0; err == LEDGER_ERR_OK && i < streams->versions.capacity; i++) {
        if (streams->versions.entries[i].used) {
            order[n] = streams->versions.entries[i].state;
            by_address[n++] = streams->versions.entries[i].state;
        }
    }
    if (err == LEDGER_ERR_OK) {
        qsort(order, count, sizeof *order, stream_order);
        qsort(by_address, count, sizeof *by_address, stream_by_address);
        /* first[r + 1] counts the events of the stream of rank r, then
         * becomes where they go. */
        size_t *rank = calloc(count, sizeof *rank);
        err = rank ? LEDGER_ERR_OK : LEDGER_ERR_NO_MEMORY;
        for (size_t r = 0; err == LEDGER_ERR_OK && r < count; r++) {
            const struct domain_customer **at =
                bsearch(&order[r], by_address, count, sizeof *by_address, stream_by_address);
            rank[at - by_address] = r;
        }
        size_t *event_rank =
            err == LEDGER_ERR_OK ? calloc(streams->pending_count, sizeof *event_rank) : NULL;
        err = event_rank ? err : LEDGER_ERR_NO_MEMORY;
        for (size_t i = 0; err == LEDGER_ERR_OK && i < streams->pending_count; i++) {
            const struct domain_customer **at =
                bsearch(&streams->pending[i].stream, by_address, count, sizeof *by_address,
                        stream_by_address);
            event_rank[i] = rank[at - by_address];
            first[event_rank[i] + 1]++;
        }
        for (size_t r = 0; err == LEDGER_ERR_OK && r < count; r++) {
            first[r + 1] += first[r];
        }
        for (size_t i = 0; err == LEDGER_ERR_OK && i < streams->pending_count; i++) {
            sequences[first[event_rank[i]]++] = streams->pending[i].sequence;
        }
        free(event_rank);
        free(rank);
    }
    /* first[r] is now where the stream of rank r + 1 starts. */
    for (size_t r = 0, start = 0; err == LEDGER_ERR_OK && r < count; r++) {
        size_t events = first[r] - start;
        if (events > 0) {
            err = store_stream_fill(txn, order[r]->partner_id, order[r]->customer_id,
                                    order[r]->version - events + 1, sequences + start, events,
                                    !streams->written);
        }
        start = first[r];
    }
    free(sequences);
    free(first);
    free(by_address);
    free(order);
    if (err == LEDGER_ERR_OK) {
        streams->written = true;
        streams->pending_count = 0;
    }
    return err;
}

static void rebuild_streams_free(struct rebuild_streams *streams)
{
    engine__state_map_clear(&streams->versions);
    free(streams->pending);
    memset(streams, 0, sizeof *streams);
}

/* store_stream_add through the replay's streams: the version from memory,
 * the index written later (rebuild_streams_flush). */
static enum ledger_err rebuild_stream_add(struct rebuild_streams *streams, struct store_txn *txn,
                                          const Ledger__V1__Event *event, uint64_t sequence,
                                          uint64_t *version_out)
{
    if (strlen(event->partner_id) >= DOMAIN_ID_SIZE ||
        strlen(event->customer_id) >= DOMAIN_ID_SIZE) {
        /* Not a key of the map; the store refuses such ids. */
        return store_stream_add(txn, event->partner_id, event->customer_id, sequence, version_out);
    }
    enum ledger_err err = LEDGER_ERR_OK;
    if (streams->pending == NULL) {
        streams->pending = malloc(REBUILD_STREAMS_PENDING_MAX * sizeof *streams->pending);
        err = streams->pending ? LEDGER_ERR_OK : LEDGER_ERR_NO_MEMORY;
    }
    if (err == LEDGER_ERR_OK && streams->pending_count == REBUILD_STREAMS_PENDING_MAX) {
        err = rebuild_streams_flush(streams, txn);
    }
    char key[2 * DOMAIN_ID_SIZE];
    size_t key_size = engine__state_key(event->partner_id, event->customer_id, key);
    struct state_entry *entry =
        err == LEDGER_ERR_OK ? engine__state_map_find(&streams->versions, key, key_size) : NULL;
    struct domain_customer *stream = entry != NULL ? entry->state : NULL;
    if (err == LEDGER_ERR_OK && stream == NULL) {
        if (streams->versions.count >= REBUILD_STREAMS_CACHED_MAX) {
            /* The waiting events point into the map: written first. */
            err = rebuild_streams_flush(streams, txn);
            engine__state_map_clear(&streams->versions);
        }
        uint64_t last = 0;
        if (err == LEDGER_ERR_OK) {
            err = store_stream_version(txn, event->partner_id, event->customer_id, &last);
        }
        if (err == LEDGER_ERR_OK) {
            stream = domain_customer_new(event->partner_id, event->customer_id);
            err = stream == NULL ? LEDGER_ERR_NO_MEMORY : LEDGER_ERR_OK;
        }
        if (err == LEDGER_ERR_OK) {
            stream->version = last;
            err = engine__state_map_put(&streams->versions, key, key_size, stream);
            if (err != LEDGER_ERR_OK) {
                domain_customer_free(stream);
            }
        }
    }
    if (err == LEDGER_ERR_OK) {
        stream->version++;
        streams->pending[streams->pending_count++] =
            (struct stream_event){.stream = stream, .sequence = sequence};
        *version_out = stream->version;
    }
    return err;
}

/* Re-derives everything the record `i` of `batch` implies, as a live commit
 * did: the nodes of the Merkle tree its leaf completes, its stream version,
 * its views and its command's result. On failure `why` says what was wrong
 * with the record (engine_rebuild_failure). */
static enum ledger_err rebuild_apply(struct store_txn *txn, struct merkle_refill *tree,
                                     struct rebuild_streams *streams, uint64_t sequence,
                                     const struct rebuild_batch *batch, unsigned i,
                                     char why[ENGINE_MESSAGE_SIZE])
{
    const struct rebuild_record *record = &batch->records[i];
    const Ledger__V1__Event *event = record->event;
    enum ledger_err err =
        merkle_refill_add_nodes(tree, txn, record->leaf, record->nodes, record->node_count);
    if (err == LEDGER_ERR_OK && event->customer_id[0] != '\0') {
        uint64_t version = 0;
        err = rebuild_stream_add(streams, txn, event, sequence, &version);
        if (err == LEDGER_ERR_INVALID_ARGUMENT) {
            /* The store refuses an id no decision accepts: the record's fault. */
            engine__set_message(why, "the record's partner or customer id is not 1 to 64 bytes: "
                                     "the stream index cannot hold it");
            err = LEDGER_ERR_CORRUPT;
        } else if (err == LEDGER_ERR_OK && version != event->stream_version) {
            snprintf(why, ENGINE_MESSAGE_SIZE,
                     "the record is version %llu of customer %.64s's stream, which the log "
                     "before it makes version %llu",
                     (unsigned long long)event->stream_version, event->customer_id,
                     (unsigned long long)version);
            err = LEDGER_ERR_CORRUPT;
        }
    }
    if (err == LEDGER_ERR_OK) {
        err = views_apply(txn, event);
        if (err != LEDGER_ERR_OK && !rebuild_storage_failure(err)) {
            snprintf(why, ENGINE_MESSAGE_SIZE,
                     "the event does not apply to the views the log before it makes (%s)",
                     ledger_strerror(err));
        }
    }
    if (err == LEDGER_ERR_OK && rebuild_has_result(event)) {
        err = record->result_err;
        if (err == LEDGER_ERR_OK) {
            err = engine__result_put(txn, event->actor->principal_id, event,
                                     batch->results + record->result_at, record->result_size);
        }
        /* A live commit takes a command id once, and refuses ids the index
         * cannot hold: a log with either was not written by one. */
        if (err == LEDGER_ERR_COMMAND_ID_REUSED) {
            snprintf(why, ENGINE_MESSAGE_SIZE,
                     "the record's command id %.64s of principal %.64s is an earlier record's",
                     event->command_id, event->actor->principal_id);
            err = LEDGER_ERR_CORRUPT;
        } else if (err == LEDGER_ERR_INVALID_ARGUMENT) {
            engine__set_message(why, "the record's principal or command id is not 1 to 64 bytes: "
                                     "the command index cannot hold it");
            err = LEDGER_ERR_CORRUPT;
        }
    }
    return err;
}

uint64_t engine_rebuild_failure(const struct engine *engine, char why[ENGINE_MESSAGE_SIZE])
{
    engine__set_message(why, engine->rebuild_failure);
    return engine->rebuild_failed_sequence;
}

/* Drops the derived databases and replays the whole log into them. */
static enum ledger_err rebuild_replay(struct engine *engine, engine_progress_fn progress,
                                      void *context)
{
    struct store_txn *txn = NULL;
    enum ledger_err err = store_begin(engine->store, true, &txn);
    for (int db = 0; err == LEDGER_ERR_OK && db < STORE_DB_COUNT; db++) {
        if (store_db_derived((enum store_db)db)) {
            err = store_drop(txn, (enum store_db)db);
        }
    }
    /* Until the last transaction records the layout, the store says that its
     * views are incomplete: an interrupted rebuild is refused at start. */
    if (err == LEDGER_ERR_OK) {
        err = views_layout_mark_rebuilding(txn);
    }
    uint64_t total = err == LEDGER_ERR_OK ? store_last_sequence(txn) : 0;
    if (err == LEDGER_ERR_OK && progress) {
        progress(context, 0, total); /* the clock of the rate starts here */
    }
    engine->rebuild_failed_sequence = 0;
    engine->rebuild_failure[0] = '\0';
    struct merkle_refill tree;
    merkle_refill_init(&tree);
    struct rebuild_streams streams = {0};
    struct rebuild_reader reader;
    bool reading = err == LEDGER_ERR_OK;
    if (reading) {
        rebuild_reader_start(&reader, engine->store, total);
    }
    for (uint64_t s = 1; err == LEDGER_ERR_OK && s <= total;) {
        struct rebuild_batch *batch = rebuild_reader_next(&reader);
        for (unsigned i = 0; err == LEDGER_ERR_OK && i < batch->count; i++, s++) {
            err = rebuild_apply(txn, &tree, &streams, s, batch, i, engine->rebuild_failure);
            if (err != LEDGER_ERR_OK && engine->rebuild_failure[0] != '\0') {
                /* The record's fault; a storage failure names no record. */
                engine->rebuild_failed_sequence = s;
            }
            if (err == LEDGER_ERR_OK && s % ENGINE_REBUILD_COMMIT_EVERY == 0 && s < total) {
                err = merkle_refill_flush(&tree, txn);
                if (err == LEDGER_ERR_OK) {
                    err = store_commit(txn);
                    txn = NULL;
                }
                if (err == LEDGER_ERR_OK) {
                    /* The views are committed part way: until the last
                     * commit, they are what the store now says, not current. */
                    engine->views_layout = VIEWS_LAYOUT_REBUILDING;
                    err = store_begin(engine->store, true, &txn);
                }
            }
            if (err == LEDGER_ERR_OK && progress && s % ENGINE_REBUILD_PROGRESS_EVERY == 0 &&
                s < total) {
                progress(context, s, total);
            }
        }
        if (err == LEDGER_ERR_OK && batch->err != LEDGER_ERR_OK) {
            err = batch->err;
            if (batch->why[0] != '\0') {
                engine->rebuild_failed_sequence = s;
                engine__set_message(engine->rebuild_failure, batch->why);
            }
        }
        rebuild_reader_done(&reader);
    }
    if (reading) {
        rebuild_reader_stop(&reader);
    }
    if (txn) {
        if (err == LEDGER_ERR_OK) {
            err = merkle_refill_flush(&tree, txn);
        }
        if (err == LEDGER_ERR_OK) {
            err = rebuild_streams_flush(&streams, txn);
        }
        if (err == LEDGER_ERR_OK) {
            err = views_layout_set(txn);
        }
        if (err == LEDGER_ERR_OK) {
            err = store_commit(txn);
        } else {
            store_abort(txn);
        }
        if (err == LEDGER_ERR_OK) {
            engine->views_layout = VIEWS_LAYOUT_VERSION;
        }
    }
    rebuild_streams_free(&streams);
    if (err == LEDGER_ERR_OK && progress) {
        progress(context, total, total);
    }
    return err;
}

enum ledger_err engine_rebuild(struct engine *engine, engine_progress_fn progress, void *context,
                               void (*report)(void *context, const char *view, bool same),
                               unsigned *differences_out)
{
    uint8_t before[STORE_DB_COUNT][32] = {{0}}, after[STORE_DB_COUNT][32] = {{0}};
    /* Views of an older layout, or of a rebuild that did not finish, are
     * derived again in this one: there is nothing to compare them with. */
    bool comparable = engine->views_layout == VIEWS_LAYOUT_VERSION;
    enum ledger_err err = store_bulk(engine->store, true);
    /* The views as they were are digested beside the replay (digest_share). */
    struct digest_share share_before = {.digests = before};
    atomic_init(&share_before.next, 0);
    struct digest_worker worker_before = {.txn = NULL};
    bool digesting = false;
    if (err == LEDGER_ERR_OK) {
        err = digest_start(engine, &share_before, true, &worker_before);
        digesting = err == LEDGER_ERR_OK;
    }
    for (unsigned attempt = 0; err == LEDGER_ERR_OK; attempt++) {
        err = rebuild_replay(engine, progress, context);
        if (digesting) {
            /* Before the map may grow: that needs no transaction open. */
            enum ledger_err digested = digest_join(&worker_before);
            digesting = false;
            if (err == LEDGER_ERR_OK) {
                err = digested;
            }
        }
        if (err != LEDGER_ERR_STORAGE_FULL || attempt == LEDGER_MAP_GROW_RETRIES_MAX) {
            break;
        }
        /* The rebuilt views need more room than the old ones: grow and replay
         * again from the start, which stays correct. */
        err = store_grow(engine->store);
    }
    enum ledger_err synced = store_bulk(engine->store, false);
    if (err == LEDGER_ERR_OK) {
        err = synced;
    }
    engine__state_map_clear(&engine->cache);
    engine->cache_bytes = 0;
    if (err == LEDGER_ERR_OK) {
        err = digest_all(engine, after);
    }
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    unsigned differences = 0;
    for (int db = 0; comparable && db < STORE_DB_COUNT; db++) {
        if (!store_db_derived((enum store_db)db)) {
            continue;
        }
        bool same = memcmp(before[db], after[db], 32) == 0;
        differences += same ? 0 : 1;
        if (report) {
            report(context, store_db_name((enum store_db)db), same);
        }
    }
    *differences_out = differences;
    return LEDGER_ERR_OK;
}

enum ledger_err engine_subscription_duplicates(struct engine *engine, engine_duplicate_fn fn,
                                               void *context, uint64_t *ids_out)
{
    struct store_txn *txn = NULL;
    enum ledger_err err = store_begin(engine->store, false, &txn);
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    err = views_subscription_duplicates(txn, fn, context, ids_out);
    store_abort(txn);
    return err;
}

void engine_entry_origin(enum store_db db, struct store_val key, struct store_val value,
                         struct store_origin *out)
{
    switch (db) {
    case STORE_DB_STREAM:
        store_entry_origin(db, key, value, out);
        break;
    case STORE_DB_COMMAND: {
        store_entry_origin(db, key, value, out);
        /* The value is the command's content hash, then its result. */
        ProtobufCMessage *result = NULL;
        if (value.size >= STORE_HASH_BYTES &&
            codec_message_unpack(&ledger__v1__command_result__descriptor,
                                 value.data + STORE_HASH_BYTES, value.size - STORE_HASH_BYTES,
                                 LEDGER_REQUEST_BYTES_MAX, LEDGER_ERR_CORRUPT,
                                 &result) == LEDGER_ERR_OK) {
            out->sequence = ((Ledger__V1__CommandResult *)result)->first_sequence;
            codec_message_free(result);
        }
        break;
    }
    case STORE_DB_MERKLE:
        merkle_entry_origin(key, value, out);
        break;
    default:
        views_entry_origin(db, key, value, out);
        break;
    }
}
