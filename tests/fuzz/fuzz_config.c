/*
 * fuzz_config.c: libFuzzer target for the daemon's config file parser
 * (daemon/config.c over inih) and its value parsers.
 *
 * Method: an input is the contents of a config file. It is read twice over
 * the defaults: from a string (config_load_string) and from a file
 * (config_load, through a memfd named by /proc/self/fd, so nothing touches
 * the disk). Then its first line is split at the first '=' into a key and a
 * value for config_key_known, config_set and config_parse_bytes, the way the
 * command line hands them over.
 *
 * Checked: no crash, leak or undefined behaviour; results are OK or
 * INVALID_ARGUMENT (never IO_ERROR for a readable file); a refusal has a
 * message, terminated; the string and the file readers agree on contents
 * without NUL bytes; accepted settings lie within their documented ranges
 * and their strings are terminated; a refused config_set leaves the settings
 * as they were.
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "fuzz_support.h"
#include "ledger_limits.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int memory_file = -1;
static char memory_path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    memory_file = memfd_create("fuzz-config", MFD_CLOEXEC);
    if (memory_file < 0) {
        fuzz_fail("memfd_create failed");
    }
    snprintf(memory_path, sizeof memory_path, "/proc/self/fd/%d", memory_file);
    return 0;
}

static void check_config(const struct config *config)
{
    FUZZ_CHECK(memchr(config->data_dir, '\0', sizeof config->data_dir) != NULL);
    FUZZ_CHECK(memchr(config->listen, '\0', sizeof config->listen) != NULL);
    FUZZ_CHECK(memchr(config->events, '\0', sizeof config->events) != NULL);
    FUZZ_CHECK(memchr(config->metrics_listen, '\0', sizeof config->metrics_listen) != NULL);
    FUZZ_CHECK(config->data_dir[0] != '\0');
    FUZZ_CHECK(config->request_bytes_max >= CONFIG_REQUEST_BYTES_MIN &&
               config->request_bytes_max <= LEDGER_REQUEST_BYTES_MAX);
    FUZZ_CHECK(config->batch_commands_max >= 1 &&
               config->batch_commands_max <= LEDGER_BATCH_COMMANDS_MAX);
    FUZZ_CHECK(config->map_bytes_max <= CONFIG_MAP_BYTES_MAX_LIMIT);
    FUZZ_CHECK(config->auth_window_s >= CONFIG_AUTH_WINDOW_S_MIN &&
               config->auth_window_s <= CONFIG_AUTH_WINDOW_S_MAX);
    FUZZ_CHECK(config->slow_commit_ms <= CONFIG_SLOW_COMMIT_MS_MAX);
    FUZZ_CHECK(log_level_name(config->log_level) != NULL);
}

static void check_error(enum ledger_err err, const char error[CONFIG_ERROR_SIZE])
{
    FUZZ_CHECK(err == LEDGER_ERR_OK || err == LEDGER_ERR_INVALID_ARGUMENT);
    if (err != LEDGER_ERR_OK) {
        FUZZ_CHECK(memchr(error, '\0', CONFIG_ERROR_SIZE) != NULL);
        FUZZ_CHECK(error[0] != '\0');
    }
}

/* The first line as `key=value`, as a command line would give it. */
static void set_first_line(const char *text)
{
    size_t line_length = strcspn(text, "\r\n");
    char *line = strndup(text, line_length);
    FUZZ_CHECK(line != NULL);
    char *equals = strchr(line, '=');
    const char *key = line, *value = "";
    if (equals != NULL) {
        *equals = '\0';
        value = equals + 1;
    }
    (void)config_key_known(key);
    uint64_t bytes = 0;
    (void)config_parse_bytes(value, &bytes);

    struct config config, before;
    memset(&config, 0, sizeof config);
    config_defaults(&config);
    before = config;
    char error[CONFIG_ERROR_SIZE];
    enum ledger_err err = config_set(&config, key, value, error);
    check_error(err, error);
    if (err == LEDGER_ERR_OK) {
        FUZZ_CHECK(config_key_known(key));
        check_config(&config);
    } else {
        FUZZ_CHECK(memcmp(&config, &before, sizeof config) == 0);
    }
    free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    FUZZ_CHECK(text != NULL);
    if (size > 0) {
        memcpy(text, data, size);
    }
    text[size] = '\0';

    struct config from_string, from_file;
    memset(&from_string, 0, sizeof from_string);
    memset(&from_file, 0, sizeof from_file);
    config_defaults(&from_string);
    config_defaults(&from_file);
    char error[CONFIG_ERROR_SIZE];
    enum ledger_err string_err = config_load_string(&from_string, text, "fuzz.conf", error);
    check_error(string_err, error);
    if (string_err == LEDGER_ERR_OK) {
        check_config(&from_string);
    }

    FUZZ_CHECK(ftruncate(memory_file, 0) == 0);
    FUZZ_CHECK(size == 0 || pwrite(memory_file, data, size, 0) == (ssize_t)size);
    enum ledger_err file_err = config_load(&from_file, memory_path, error);
    check_error(file_err, error);
    if (file_err == LEDGER_ERR_OK) {
        check_config(&from_file);
    }
    if (memchr(data, '\0', size) == NULL) {
        FUZZ_CHECK(file_err == string_err);
        if (file_err == LEDGER_ERR_OK) {
            /* The same settings from the same lines; only the file's name
             * differs ("fuzz.conf" against the memory file's path), when
             * the file set anything. */
            FUZZ_CHECK(from_string.file_name[0] == '\0' ||
                       strcmp(from_string.file_name, "fuzz.conf") == 0);
            memcpy(from_file.file_name, from_string.file_name, sizeof from_file.file_name);
            FUZZ_CHECK(memcmp(&from_string, &from_file, sizeof from_string) == 0);
        }
    }

    set_first_line(text);
    free(text);
    return 0;
}
