/*
 * test_util.h: helpers shared by the tests: fresh temporary directories under
 * $LEDGER_TEST_TMP (set by ctest to the build's tests directory) or /tmp, and
 * their removal, file copies, a byte of a file flipped, a free TCP port,
 * timeouts that stretch for slow runs. Header-only so each test
 * executable stays one file.
 */
#ifndef LEDGER_TEST_UTIL_H
#define LEDGER_TEST_UTIL_H

#include <arpa/inet.h>
#include <ftw.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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

/* Reads the whole file at `path` into `buffer` (at most `capacity` bytes):
 * its size, or SIZE_MAX when it cannot be read or does not fit. */
static inline size_t test_read_bytes(const char *path, void *buffer, size_t capacity)
{
    FILE *file = fopen(path, "rb");
    if (file == NULL) {
        return SIZE_MAX;
    }
    size_t size = fread(buffer, 1, capacity, file);
    bool whole = !ferror(file) && fgetc(file) == EOF;
    fclose(file);
    return whole ? size : SIZE_MAX;
}

/* Copies the file `from` to `to` (created or replaced); false on any error. */
static inline bool test_copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb");
    FILE *out = in != NULL ? fopen(to, "wb") : NULL;
    bool ok = in != NULL && out != NULL;
    char buffer[65536];
    size_t n;
    while (ok && (n = fread(buffer, 1, sizeof buffer, in)) > 0) {
        ok = fwrite(buffer, 1, n, out) == n;
    }
    ok = ok && !ferror(in);
    if (in != NULL) {
        fclose(in);
    }
    if (out != NULL && fclose(out) != 0) {
        ok = false;
    }
    return ok;
}

/* Flips the lowest bit of the byte at `offset` within `pattern`, in the
 * file at `path`, where the pattern occurs exactly once (as a test that
 * damages a record of data.mdb behind the store's back does): false when
 * the file cannot be read or written, or holds the pattern not once. */
static inline bool test_flip_byte_once(const char *path, const void *pattern, size_t pattern_size,
                                       size_t offset)
{
    FILE *file = fopen(path, "r+b");
    long size = -1;
    if (file == NULL || fseek(file, 0, SEEK_END) != 0 || (size = ftell(file)) <= 0 ||
        offset >= pattern_size) {
        if (file != NULL) {
            fclose(file);
        }
        return false;
    }
    uint8_t *bytes = malloc((size_t)size);
    rewind(file);
    bool ok = bytes != NULL && fread(bytes, 1, (size_t)size, file) == (size_t)size;
    long found = -1;
    unsigned occurrences = 0;
    for (long at = 0; ok && at + (long)pattern_size <= size; at++) {
        if (memcmp(bytes + at, pattern, pattern_size) == 0) {
            found = at;
            occurrences++;
        }
    }
    ok = ok && occurrences == 1;
    if (ok) {
        uint8_t flipped = bytes[found + (long)offset] ^ 0x01;
        ok = fseek(file, found + (long)offset, SEEK_SET) == 0 && fputc(flipped, file) != EOF;
    }
    free(bytes);
    return fclose(file) == 0 && ok;
}

/* A TCP port of 127.0.0.1 nobody listens on now: the kernel's pick for a
 * socket just closed. Aborts the test when there is none. */
static inline unsigned test_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t size = sizeof address;
    if (fd < 0 || bind(fd, (struct sockaddr *)&address, sizeof address) != 0 ||
        getsockname(fd, (struct sockaddr *)&address, &size) != 0) {
        perror("test_free_port");
        abort();
    }
    close(fd);
    return ntohs(address.sin_port);
}

/* Removes a directory and everything below it. */
static inline void test_remove_dir(const char *dir)
{
    nftw(dir, test_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
