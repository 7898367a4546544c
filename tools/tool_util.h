/*
 * tool_util.h: small helpers the measuring tools share (ledger-bench,
 * ledger-soak): clocks, a comparison for qsort, removing a scratch directory.
 * Header-only, like tests/test_util.h, so each tool stays one file.
 */
#ifndef LEDGER_TOOL_UTIL_H
#define LEDGER_TOOL_UTIL_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A monotonic clock in nanoseconds, for durations. */
static inline int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The wall clock in microseconds since the epoch, for business times. */
static inline int64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* qsort order of uint32_t values. */
static inline int compare_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Removes a directory and everything below it (links are removed, not
 * followed); what cannot be removed is left. */
static inline void remove_tree(const char *path)
{
    DIR *dir = opendir(path);
    if (dir != NULL) {
        struct dirent *entry;
        while ((entry = readdir(dir)) != NULL) {
            if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0) {
                continue;
            }
            char child[4096];
            int written = snprintf(child, sizeof child, "%s/%s", path, entry->d_name);
            if (written < 0 || (size_t)written >= sizeof child) {
                continue;
            }
            struct stat st;
            if (lstat(child, &st) == 0 && S_ISDIR(st.st_mode)) {
                remove_tree(child);
            } else {
                unlink(child);
            }
        }
        closedir(dir);
    }
    rmdir(path);
}

#endif
