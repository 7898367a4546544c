/*
 * ctl_verbs_backup.c: the backup verb (operator): the daemon writes a hot
 * backup into a new directory on its own host, and the head it sends beside
 * it is checked as `head` checks the current one (ctl_head_check). On a
 * terminal, when the daemon is on this host, a progress bar follows the size
 * of the copy from a thread that watches its partial directory.
 */
#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ctl_verbs_internal.h"
#include "progress.h"

/* A backup copies the whole store: it may take minutes, so unless the user
 * chose a timeout it gets this one, and it is not resent (a second request
 * while the first still runs would only be refused). */
#define BACKUP_TIMEOUT_MS (30 * 60 * 1000)

const struct ctl_option ctl__backup_options[] = {
    {"out", CTL_OPTION_VALUE, "DIR",
     "where the daemon writes the backup, on its own host (must not exist yet; a relative DIR is "
     "made absolute here)",
     false},
    {"dir", CTL_OPTION_VALUE, "DIR", "the same as --out", false},
    OPT_END,
};

/* A bar for a backup the daemon writes on this host (an IPC socket): the
 * copy's data.mdb grows to about the store's pages in use. The daemon
 * builds it in a partial directory beside DIR (".NAME.partial-...", see
 * LEDGER_BACKUP_PARTIAL_NAME_KEPT) and renames it when whole. A thread
 * watches the file while the request waits for its answer. */
struct backup_watch {
    struct progress bar;
    char parent[4200];
    char prefix[LEDGER_BACKUP_PARTIAL_NAME_KEPT + 16];
    pthread_mutex_t lock;
    pthread_cond_t changed;
    bool done;
};

/* The bytes of the data.mdb being written: the largest in a partial
 * directory of this backup (one left by an interrupted backup of the same
 * name may be there too, never larger than the store). */
static uint64_t backup_watch_bytes(const struct backup_watch *watch)
{
    uint64_t bytes = 0;
    DIR *handle = opendir(watch->parent);
    if (handle == NULL) {
        return 0;
    }
    size_t prefix_length = strlen(watch->prefix);
    struct dirent *entry;
    /* A parent of backups holds few entries; bounded all the same. */
    for (unsigned seen = 0; seen < 100000 && (entry = readdir(handle)) != NULL; seen++) {
        char path[4200 + 2 * NAME_MAX];
        struct stat info;
        if (strncmp(entry->d_name, watch->prefix, prefix_length) == 0 &&
            snprintf(path, sizeof path, "%s/%s/data.mdb", watch->parent, entry->d_name) <
                (int)sizeof path &&
            stat(path, &info) == 0 && (uint64_t)info.st_size > bytes) {
            bytes = (uint64_t)info.st_size;
        }
    }
    closedir(handle);
    return bytes;
}

/* Fills the watch's parent and prefix from the backup directory `dir`;
 * false when they do not fit. */
static bool backup_watch_names(struct backup_watch *watch, const char *dir)
{
    const char *slash = strrchr(dir, '/');
    const char *name = slash != NULL ? slash + 1 : dir;
    int parent_length = slash == NULL  ? snprintf(watch->parent, sizeof watch->parent, ".")
                        : slash == dir ? snprintf(watch->parent, sizeof watch->parent, "/")
                                       : snprintf(watch->parent, sizeof watch->parent, "%.*s",
                                                  (int)(slash - dir), dir);
    int prefix_length = snprintf(watch->prefix, sizeof watch->prefix, ".%.*s.partial-",
                                 LEDGER_BACKUP_PARTIAL_NAME_KEPT, name);
    return name[0] != '\0' && parent_length > 0 && (size_t)parent_length < sizeof watch->parent &&
           prefix_length > 0 && (size_t)prefix_length < sizeof watch->prefix;
}

static void *backup_watch_main(void *argument)
{
    struct backup_watch *watch = argument;
    pthread_mutex_lock(&watch->lock);
    while (!watch->done) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 100 * 1000 * 1000;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&watch->changed, &watch->lock, &until);
        if (!watch->done) {
            uint64_t bytes = backup_watch_bytes(watch);
            progress_update(&watch->bar, bytes < watch->bar.total ? bytes : watch->bar.total - 1);
        }
    }
    pthread_mutex_unlock(&watch->lock);
    return NULL;
}

/* The store's bytes in use (the stats query), or 0 when unknown. */
static uint64_t store_used_bytes(struct ctl_context *context)
{
    Ledger__V1__StatsQuery stats = LEDGER__V1__STATS_QUERY__INIT;
    Ledger__V1__Query query = LEDGER__V1__QUERY__INIT;
    query.kind_case = LEDGER__V1__QUERY__KIND_STATS;
    query.stats = &stats;
    Ledger__V1__QueryResult *result = NULL;
    uint64_t used = 0;
    if (ctl_query(context, &query, &result) == LEDGER_ERR_OK) {
        for (size_t i = 0; i < result->n_stats; i++) {
            if (strcmp(result->stats[i]->name, "ledger_map_used_bytes") == 0 &&
                result->stats[i]->value > 0) {
                used = (uint64_t)result->stats[i]->value;
            }
        }
        ledger_query_result_free(result);
    }
    context->message[0] = '\0';
    return used;
}

enum ledger_err ctl__run_backup(struct ctl_context *context, const struct ctl_args *args)
{
    Ledger__V1__BackupQuery backup = LEDGER__V1__BACKUP_QUERY__INIT;
    Ledger__V1__Query query = LEDGER__V1__QUERY__INIT;
    const char *dir = ctl_arg(args, "out");
    char absolute[4096];
    if (dir != NULL && ctl_flag(args, "dir")) {
        return ctl__usage(context, "out", "give --out or --dir, not both");
    }
    if (dir == NULL) {
        dir = ctl_arg(args, "dir");
    }
    if (dir == NULL || dir[0] == '\0') {
        return ctl__usage(context, "out", "is required (DIR): a directory that does not exist yet");
    }
    /* The daemon resolves paths from its own working directory: send an
     * absolute one, resolved here. */
    if (dir[0] != '/') {
        char cwd[sizeof absolute];
        if (getcwd(cwd, sizeof cwd) == NULL) {
            return ctl__usage(context, "out", "give an absolute path");
        }
        /* Whole, or refused: a shortened path names another directory. */
        int length = snprintf(absolute, sizeof absolute, "%s/%s", cwd, dir);
        if (length < 0 || (size_t)length >= sizeof absolute) {
            return ctl_fail(context, LEDGER_ERR_USAGE,
                            "--out: the path made absolute is longer than %zu bytes; give a "
                            "shorter one",
                            sizeof absolute - 1);
        }
        dir = absolute;
    }
    if (!ctl_flag(args, "timeout-ms")) {
        context->options.timeout_ms = BACKUP_TIMEOUT_MS;
    }
    if (!ctl_flag(args, "retries")) {
        context->options.retries = 0;
    }
    backup.directory = (char *)(uintptr_t)dir;
    query.kind_case = LEDGER__V1__QUERY__KIND_BACKUP;
    query.backup = &backup;
    /* On a terminal, and when the daemon writes on this host, a bar. */
    struct backup_watch watch = {.done = false};
    bool watching = false;
    if (isatty(fileno(context->err)) && context->options.request_url != NULL &&
        strncmp(context->options.request_url, "ipc://", 6) == 0) {
        uint64_t total = store_used_bytes(context);
        if (total > 0 && backup_watch_names(&watch, dir)) {
            progress_start(&watch.bar, "backup", "bytes", total, false);
            watching = pthread_mutex_init(&watch.lock, NULL) == 0;
            if (watching && pthread_cond_init(&watch.changed, NULL) != 0) {
                pthread_mutex_destroy(&watch.lock);
                watching = false;
            }
        }
    }
    pthread_t watcher;
    if (watching && pthread_create(&watcher, NULL, backup_watch_main, &watch) != 0) {
        pthread_cond_destroy(&watch.changed);
        pthread_mutex_destroy(&watch.lock);
        watching = false;
    }
    Ledger__V1__QueryResult *result = NULL;
    enum ledger_err err = ctl_query(context, &query, &result);
    if (watching) {
        pthread_mutex_lock(&watch.lock);
        watch.done = true;
        pthread_cond_signal(&watch.changed);
        pthread_mutex_unlock(&watch.lock);
        pthread_join(watcher, NULL);
        pthread_cond_destroy(&watch.changed);
        pthread_mutex_destroy(&watch.lock);
        if (err == LEDGER_ERR_OK) {
            /* Whole, and renamed to its final name. */
            char path[4200];
            struct stat info;
            snprintf(path, sizeof path, "%s/data.mdb", dir);
            watch.bar.total = stat(path, &info) == 0 ? (uint64_t)info.st_size : 0;
            progress_finish(&watch.bar, watch.bar.total);
        } else {
            /* A failed backup removed what it wrote. */
            progress_finish(&watch.bar, 0);
        }
    }
    if (err != LEDGER_ERR_OK) {
        return err;
    }
    if (result->head == NULL) {
        err = LEDGER_ERR_PROTOCOL_ERROR;
        snprintf(context->message, sizeof context->message, "the reply carries no head");
    } else {
        err = ctl_head_check(context, result->head, "backup's");
    }
    if (err != LEDGER_ERR_OK) {
        /* The daemon answered for a backup with a head it cannot vouch for,
         * or none: say where it is, so that it is not kept as a good one. */
        size_t length = strlen(context->message);
        snprintf(context->message + length, sizeof context->message - length,
                 "; do not keep the backup in %s: check it with ledger-verify --head", dir);
    } else {
        struct ctl_extra extras[2] = {{"verified", NULL, 1, true}, {"directory", dir, 0, false}};
        err = ctl_output_message_extras(context->out, context->format, "head", &result->head->base,
                                        extras, 2);
        if (err == LEDGER_ERR_OK && context->format == CTL_FORMAT_TABLE) {
            fprintf(context->err, "backup written to %s (head.pb beside it)\n", dir);
        }
    }
    ledger_query_result_free(result);
    return err;
}
