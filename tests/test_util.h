/*
 * test_util.h: helpers shared by the tests: fresh temporary directories under
 * $LEDGER_TEST_TMP (set by ctest to the build's tests directory) or /tmp, and
 * their removal, timeouts that stretch for slow runs. Header-only so each test executable stays one
 * file.
 */
#ifndef LEDGER_TEST_UTIL_H
#define LEDGER_TEST_UTIL_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Makes a new empty directory named after `label`; aborts the test on failure. */
static inline void test_make_dir(char *out, size_t size, const char *label)
{
    const char *base = getenv("LEDGER_TEST_TMP");
    snprintf(out, size, "%s/%s-XXXXXX", base && base[0] ? base : "/tmp", label);
    if (!mkdtemp(out)) {
        perror("mkdtemp");
        abort();
    }
}

static inline int test_remove_entry(const char *path, const struct stat *st, int flag,
                                    struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* A timeout of `ms` milliseconds, stretched by $LEDGER_TEST_TIMEOUT_SCALE (a
 * whole number, 1 to 1000; scripts/valgrind.sh sets it) for slow runs. */
static inline int test_timeout_ms(int ms)
{
    const char *text = getenv("LEDGER_TEST_TIMEOUT_SCALE");
    long scale = text && text[0] ? strtol(text, NULL, 10) : 1;
    if (scale < 1 || scale > 1000) {
        scale = 1;
    }
    return (int)(ms * scale);
}

/* Removes a directory and everything below it. */
static inline void test_remove_dir(const char *dir)
{
    nftw(dir, test_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
