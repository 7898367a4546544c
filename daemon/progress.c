/*
 * progress.c: the terminal progress bar of progress.h.
 * Line format: "verify  [#########.........]  45%  450000/1000000 events
 * 512340/s  1s left", redrawn in place with a carriage return.
 */
#include "progress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

#define PROGRESS_BAR_WIDTH 30
#define PROGRESS_REDRAW_NS 100000000ULL

uint64_t progress_now_ns(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000000ULL + (uint64_t)now.tv_nsec;
}

void progress_start(struct progress *progress, const char *label, const char *unit, uint64_t total,
                    bool force)
{
    progress->label = label;
    progress->unit = unit;
    progress->total = total;
    progress->enabled = force || isatty(STDERR_FILENO);
    progress->started_ns = progress_now_ns();
    progress->drawn_ns = 0;
}

static void draw(struct progress *progress, uint64_t done, uint64_t now_ns, const char *end)
{
    double elapsed_s = (double)(now_ns - progress->started_ns) / 1e9;
    double rate = elapsed_s > 0 ? (double)done / elapsed_s : 0.0;
    unsigned percent = progress->total ? (unsigned)(done * 100 / progress->total) : 100;
    unsigned filled = percent * PROGRESS_BAR_WIDTH / 100;
    char bar[PROGRESS_BAR_WIDTH + 1];
    for (unsigned i = 0; i < PROGRESS_BAR_WIDTH; i++) {
        bar[i] = i < filled ? '#' : '.';
    }
    bar[PROGRESS_BAR_WIDTH] = '\0';
    double left_s =
        rate > 0 && progress->total > done ? (double)(progress->total - done) / rate : 0.0;
    fprintf(stderr, "\r%-8s [%s] %3u%%  %llu/%llu %s  %.0f/s  %.0fs left %s", progress->label, bar,
            percent, (unsigned long long)done, (unsigned long long)progress->total, progress->unit,
            rate, left_s, end);
    fflush(stderr);
}

void progress_update(struct progress *progress, uint64_t done)
{
    if (!progress->enabled) {
        return;
    }
    uint64_t now_ns = progress_now_ns();
    if (now_ns - progress->drawn_ns < PROGRESS_REDRAW_NS) {
        return;
    }
    progress->drawn_ns = now_ns;
    draw(progress, done, now_ns, "");
}

void progress_finish(struct progress *progress, uint64_t done)
{
    if (progress->enabled) {
        draw(progress, done, progress_now_ns(), "\n");
    }
}
