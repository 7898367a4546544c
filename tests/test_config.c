/*
 * test_config.c: the daemon's settings (daemon/config.c): defaults, every
 * setting read from a config file and from the command line, and refusals of
 * bad values, unknown keys and sections, repeated keys and malformed lines,
 * each with the file name and line number in the message.
 *
 * Method: configs are given as strings (config_load_string) or written to a
 * fresh directory; the sample written by config_write_sample must load both
 * as written and with every line uncommented, and tools/ledgerd.conf.sample
 * (under $LEDGER_SOURCE_DIR) must equal the sample written for
 * /var/lib/ledgerd.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "ledger_limits.h"
#include "test_util.h"

static void test_config_defaults(void **state)
{
    (void)state;
    struct config config;
    config_defaults(&config);
    assert_string_equal(config.data_dir, "./ledger-data");
    assert_string_equal(config.listen, "");
    assert_string_equal(config.events, "");
    assert_int_equal(config.request_bytes_max, LEDGER_REQUEST_BYTES_DEFAULT);
    assert_int_equal(config.batch_commands_max, LEDGER_BATCH_COMMANDS_DEFAULT);
    assert_int_equal(config.map_bytes_max, LEDGER_MAP_BYTES_MAX_DEFAULT);
    assert_int_equal(config.auth_window_s, 300);
    assert_int_equal(config.log_level, LOG_LEVEL_INFO);
    assert_string_equal(config.metrics_listen, "");
    assert_false(config.metrics_allow_remote);
    assert_int_equal(config.slow_commit_ms, 100);
    assert_int_equal(config.state_cache_bytes_max, LEDGER_STATE_CACHE_BYTES_MAX);
}

static void test_config_every_setting(void **state)
{
    (void)state;
    struct config config;
    config_defaults(&config);
    char error[CONFIG_ERROR_SIZE] = "";
    const char *text = "# a comment\n"
                       "; another\n"
                       "data = /srv/ledger\n"
                       "listen = tcp://127.0.0.1:7300\n"
                       "events = ipc:///run/ledger/events.sock\n"
                       "request_bytes_max = 2M\n"
                       "batch_commands_max = 50\n"
                       "map_bytes_max = 1G\n"
                       "auth_window_s = 60\n"
                       "log_level = debug\n"
                       "metrics_listen = 127.0.0.1:9108\n"
                       "metrics_allow_remote = true\n"
                       "slow_commit_ms = 250\n"
                       "state_cache_bytes_max = 64M\n"
                       "expiry_sweep_s = 60\n"
                       "inflight_requests_max = 1\n";
    assert_int_equal(config_load_string(&config, text, "t.conf", error), LEDGER_ERR_OK);
    assert_string_equal(config.data_dir, "/srv/ledger");
    assert_string_equal(config.listen, "tcp://127.0.0.1:7300");
    assert_string_equal(config.events, "ipc:///run/ledger/events.sock");
    assert_int_equal(config.request_bytes_max, 2 * 1024 * 1024);
    assert_int_equal(config.batch_commands_max, 50);
    assert_int_equal(config.map_bytes_max, UINT64_C(1) << 30);
    assert_int_equal(config.auth_window_s, 60);
    assert_int_equal(config.log_level, LOG_LEVEL_DEBUG);
    assert_string_equal(config.metrics_listen, "127.0.0.1:9108");
    assert_true(config.metrics_allow_remote);
    assert_int_equal(config.slow_commit_ms, 250);
    assert_int_equal(config.state_cache_bytes_max, UINT64_C(64) << 20);
    assert_int_equal(config.expiry_sweep_s, 60);
    assert_int_equal(config.inflight_requests_max, 1);

    /* The same under a [ledgerd] section; metrics off again. */
    config_defaults(&config);
    assert_int_equal(config_load_string(&config,
                                        "[ledgerd]\nlog_level = warn\nmetrics_listen = off\n"
                                        "metrics_allow_remote = false\nslow_commit_ms = 0\n",
                                        "t.conf", error),
                     LEDGER_ERR_OK);
    assert_int_equal(config.log_level, LOG_LEVEL_WARN);
    assert_string_equal(config.metrics_listen, "");
    assert_false(config.metrics_allow_remote);
    assert_int_equal(config.slow_commit_ms, 0);
}

/* Loads `text` expecting a refusal whose message starts with `prefix` and
 * contains `words`. */
static void expect_refused(const char *text, const char *prefix, const char *words)
{
    struct config config;
    config_defaults(&config);
    char error[CONFIG_ERROR_SIZE] = "";
    assert_int_equal(config_load_string(&config, text, "bad.conf", error),
                     LEDGER_ERR_INVALID_ARGUMENT);
    if (strncmp(error, prefix, strlen(prefix)) != 0 || strstr(error, words) == NULL) {
        fail_msg("config \"%s\": error \"%s\" lacks \"%s\" / \"%s\"", text, error, prefix, words);
    }
}

static void test_config_bad_values(void **state)
{
    (void)state;
    expect_refused("listen = http://x:1\n", "bad.conf:1: ", "ipc:// or tcp://");
    expect_refused("\n\nlisten = tcp://host\n", "bad.conf:3: ", "host:port");
    expect_refused("listen = tcp://host:0\n", "bad.conf:1: ", "port");
    expect_refused("listen = tcp://host:65536\n", "bad.conf:1: ", "port");
    /* nanomsg's sockets are IPv4 only here: an IPv6 host could never bind. */
    expect_refused("events = tcp://[::1]:7301\n", "bad.conf:1: ",
                   "tcp:// takes an IPv4 address or * (the sockets are IPv4 only), not an IPv6 "
                   "address");
    expect_refused("listen = tcp://::1:7300\n", "bad.conf:1: ", "not an IPv6 address");
    /* nanomsg binds no host name and no interface name ("No such device" at
     * every start): only an address or *, refused here with what to write. */
    static const char *const names[] = {"localhost", "lo", "ledger.example.com", "127.0.0.1.5",
                                        "1270.0.0.1"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char text[128];
        snprintf(text, sizeof text, "events = tcp://%s:7301\n", names[i]);
        expect_refused(text, "bad.conf:1: events",
                       "tcp:// takes an IPv4 address or * (nanomsg binds no host or interface "
                       "name): write tcp://127.0.0.1:PORT for this host only, or tcp://*:PORT for "
                       "every interface");
    }
    expect_refused("listen = ipc://\n", "bad.conf:1: ", "without a path");
    /* A relative IPC path would depend on the daemon's working directory. */
    expect_refused("\nlisten = ipc://relative/ledger.sock\n", "bad.conf:2: listen",
                   "must name an absolute path: ipc:///abs/path");
    expect_refused("events = ipc://events.sock\n", "bad.conf:1: events",
                   "must name an absolute path");
    expect_refused("events = ipc:///"
                   "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                   "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
                   "bad.conf:1: ", "IPC socket path longer");
    expect_refused("request_bytes_max = 100\n", "bad.conf:1: ", "request_bytes_max");
    /* The range and the suffixes as the docs and the sample give them. */
    expect_refused("request_bytes_max = 65M\n", "bad.conf:1: ", "from 1K to 64M");
    expect_refused("request_bytes_max = 1GiB\n", "bad.conf:1: ", "suffixes K, M, G, T or KiB");
    expect_refused("request_bytes_max = -5\n", "bad.conf:1: ", "byte count");
    expect_refused("request_bytes_max = 1X\n", "bad.conf:1: ", "byte count");
    expect_refused("batch_commands_max = 0\n", "bad.conf:1: ", "1 to 100000");
    expect_refused("batch_commands_max = 100001\n", "bad.conf:1: ", "1 to 100000");
    expect_refused("batch_commands_max = 12abc\n", "bad.conf:1: ", "whole number");
    expect_refused("batch_commands_max = +5\n", "bad.conf:1: ", "whole number");
    expect_refused("batch_commands_max = 99999999999999999999999\n",
                   "bad.conf:1: ", "whole number");
    expect_refused("map_bytes_max = 1M\n", "bad.conf:1: ", "64M to 16T");
    expect_refused("map_bytes_max = 17T\n", "bad.conf:1: ", "64M to 16T");
    expect_refused("map_bytes_max = 99999999999T\n", "bad.conf:1: ", "64M to 16T");
    expect_refused("auth_window_s = 0\n", "bad.conf:1: ", "1 to 3600");
    expect_refused("auth_window_s = 3601\n", "bad.conf:1: ", "1 to 3600");
    expect_refused("auth_window_s = 1.5\n", "bad.conf:1: ", "whole number");
    expect_refused("log_level = verbose\n", "bad.conf:1: ", "error, warn, info, debug");
    expect_refused("inflight_requests_max = 0\n", "bad.conf:1: ", "1 to 65536");
    expect_refused("inflight_requests_max = 65537\n", "bad.conf:1: ", "1 to 65536");
    expect_refused("inflight_requests_max = -1\n", "bad.conf:1: ", "whole number");
    expect_refused("log_level = INFO\n", "bad.conf:1: ", "error, warn, info, debug");
    expect_refused("metrics_listen = 9108\n", "bad.conf:1: ", "host:port");
    expect_refused("metrics_listen = 127.0.0.1:0\n", "bad.conf:1: ", "port 1..65535");
    /* The example is the documented port. */
    expect_refused("metrics_listen = 9108\n", "bad.conf:1: ", "e.g. 127.0.0.1:9464");
    expect_refused("metrics_allow_remote = yes\n", "bad.conf:1: ", "true or false");
    expect_refused("metrics_allow_remote = TRUE\n", "bad.conf:1: ", "true or false");
    expect_refused("metrics_allow_remote = 1\n", "bad.conf:1: ", "true or false");
    expect_refused("metrics_allow_remote = \n", "bad.conf:1: ", "true or false");
    expect_refused("slow_commit_ms = 3600001\n", "bad.conf:1: ", "0 (off)");
    expect_refused("slow_commit_ms = -1\n", "bad.conf:1: ", "whole number");
    expect_refused("state_cache_bytes_max = 1023K\n", "bad.conf:1: ", "1M to 64G");
    expect_refused("state_cache_bytes_max = 65G\n", "bad.conf:1: ", "1M to 64G");
    expect_refused("state_cache_bytes_max = lots\n", "bad.conf:1: ", "1M to 64G");
    expect_refused("data = \n", "bad.conf:1: ", "data directory");
    expect_refused("expiry_sweep_s = 86401\n", "bad.conf:1: ", "from 0 (off) to 86400");
    expect_refused("expiry_sweep_s = -1\n", "bad.conf:1: ", "whole number of seconds");
}

/* Loads `text` over the defaults, expecting it to be taken. */
static void expect_loaded(struct config *config, const char *text)
{
    config_defaults(config);
    char error[CONFIG_ERROR_SIZE] = "";
    if (config_load_string(config, text, "ok.conf", error) != LEDGER_ERR_OK) {
        fail_msg("config \"%s\": refused: %s", text, error);
    }
}

/* Addresses at the edges of host:port: an empty host, an empty or signed
 * port, a port one past its range, a one-byte host that is not `*`, and a
 * bracketed host; each refused with the words that say what to write. An
 * empty metrics_listen, like `off`, turns off an endpoint the file set. */
static void test_config_address_edges(void **state)
{
    (void)state;
    expect_refused("listen = tcp://:7300\n", "bad.conf:1: listen", "needs host:port");
    expect_refused("listen = tcp://127.0.0.1:\n", "bad.conf:1: listen", "needs host:port");
    expect_refused("events = tcp://127.0.0.1:x7301\n", "bad.conf:1: events", "needs host:port");
    expect_refused("events = tcp://127.0.0.1:+7301\n", "bad.conf:1: events", "needs host:port");
    expect_refused("listen = tcp://1:7300\n", "bad.conf:1: listen",
                   "tcp:// takes an IPv4 address or * (nanomsg binds no host");
    expect_refused("listen = tcp://[127.0.0.1]:7300\n", "bad.conf:1: listen",
                   "not an IPv6 address");
    expect_refused("metrics_listen = :9464\n", "bad.conf:1: metrics_listen",
                   "must be off or host:port (port 1..65535)");
    expect_refused("metrics_listen = 127.0.0.1:65536\n", "bad.conf:1: metrics_listen",
                   "must be off or host:port (port 1..65535)");
    expect_refused("metrics_listen = 127.0.0.1:\n", "bad.conf:1: metrics_listen",
                   "must be off or host:port (port 1..65535)");
    struct config config;
    expect_loaded(&config, "listen = tcp://*:7300\nmetrics_listen = 127.0.0.1:9464\n");
    assert_string_equal(config.listen, "tcp://*:7300");
    assert_string_equal(config.metrics_listen, "127.0.0.1:9464");
    char error[CONFIG_ERROR_SIZE] = "";
    assert_int_equal(config_set(&config, "metrics_listen", "", error), LEDGER_ERR_OK);
    assert_string_equal(config.metrics_listen, "");
    expect_loaded(&config, "metrics_listen = 127.0.0.1:9464\n");
    assert_int_equal(config_set(&config, "metrics_listen", "off", error), LEDGER_ERR_OK);
    assert_string_equal(config.metrics_listen, "");
}

/* Each range includes both of its ends, as the docs and the sample give
 * them: a refusal at an end would turn away a value the docs promise. */
static void test_config_range_ends(void **state)
{
    (void)state;
    struct config config;
    expect_loaded(&config, "request_bytes_max = 1K\nmap_bytes_max = 64M\n"
                           "state_cache_bytes_max = 1M\nbatch_commands_max = 1\n"
                           "auth_window_s = 1\nslow_commit_ms = 0\nexpiry_sweep_s = 0\n");
    assert_int_equal(config.request_bytes_max, CONFIG_REQUEST_BYTES_MIN);
    assert_int_equal(config.map_bytes_max, LEDGER_MAP_BYTES_INITIAL);
    assert_int_equal(config.state_cache_bytes_max, CONFIG_STATE_CACHE_BYTES_MIN);
    assert_int_equal(config.batch_commands_max, 1);
    assert_int_equal(config.auth_window_s, CONFIG_AUTH_WINDOW_S_MIN);
    assert_int_equal(config.slow_commit_ms, 0);
    assert_int_equal(config.expiry_sweep_s, 0);

    expect_loaded(&config, "request_bytes_max = 64M\nmap_bytes_max = 16T\n"
                           "state_cache_bytes_max = 64G\nbatch_commands_max = 100000\n"
                           "auth_window_s = 3600\nslow_commit_ms = 3600000\n"
                           "expiry_sweep_s = 86400\ninflight_requests_max = 65536\n"
                           "listen = tcp://127.0.0.1:65535\nmetrics_listen = 127.0.0.1:65535\n");
    assert_int_equal(config.request_bytes_max, LEDGER_REQUEST_BYTES_MAX);
    assert_int_equal(config.map_bytes_max, CONFIG_MAP_BYTES_MAX_LIMIT);
    assert_int_equal(config.state_cache_bytes_max, CONFIG_STATE_CACHE_BYTES_MAX);
    assert_int_equal(config.batch_commands_max, LEDGER_BATCH_COMMANDS_MAX);
    assert_int_equal(config.auth_window_s, CONFIG_AUTH_WINDOW_S_MAX);
    assert_int_equal(config.slow_commit_ms, CONFIG_SLOW_COMMIT_MS_MAX);
    assert_int_equal(config.expiry_sweep_s, CONFIG_EXPIRY_SWEEP_S_MAX);
    assert_int_equal(config.inflight_requests_max, LEDGER_INFLIGHT_REQUESTS_MAX);
    assert_string_equal(config.listen, "tcp://127.0.0.1:65535");
    assert_string_equal(config.metrics_listen, "127.0.0.1:65535");
}

/* A config of `lines` lines where line `long_line` is "data = /d/aaa...":
 * `length` bytes without its newline. Free with free(). */
static char *config_with_long_line(unsigned lines, unsigned long_line, size_t length)
{
    char *text = malloc(lines * 32 + length + 2);
    assert_non_null(text);
    size_t used = 0;
    for (unsigned line = 1; line <= lines; line++) {
        if (line == long_line) {
            used += (size_t)sprintf(text + used, "data = /d/");
            memset(text + used, 'a', length - strlen("data = /d/"));
            used += length - strlen("data = /d/");
            text[used++] = '\n';
        } else {
            used += (size_t)sprintf(text + used, "# comment %u\n", line);
        }
    }
    text[used] = '\0';
    return text;
}

/* The config library holds 199 bytes of a line: a longer line is refused by
 * its own number, not cut into a value and a line the file does not have. */
static void test_config_long_line(void **state)
{
    (void)state;
    struct config config;
    config_defaults(&config);
    char error[CONFIG_ERROR_SIZE] = "";
    char *text = config_with_long_line(3, 3, 199);
    assert_int_equal(config_load_string(&config, text, "ok.conf", error), LEDGER_ERR_OK);
    assert_int_equal(strlen(config.data_dir), 199 - strlen("data = "));
    free(text);
    /* A line that fills the buffer with its newline, or that needs a peek at
     * the next byte to find it, leaves the line after it whole. */
    for (size_t length = 198; length <= 199; length++) {
        text = config_with_long_line(3, 2, length);
        expect_loaded(&config, text);
        assert_int_equal(strlen(config.data_dir), length - strlen("data = "));
        free(text);
    }

    text = config_with_long_line(3, 2, 200);
    expect_refused(text, "bad.conf:2: ", "longer than 199 bytes");
    expect_refused(text, "bad.conf:2: ", "shorten it");
    free(text);
    text = config_with_long_line(1, 1, 450);
    expect_refused(text, "bad.conf:1: ", "longer than 199 bytes");
    free(text);

    /* The same from a file, the settings before the line left for the caller
     * to drop (it stops on any error). */
    char dir[512], path[600];
    test_make_dir(dir, sizeof dir, "config-long");
    snprintf(path, sizeof path, "%s/ledgerd.conf", dir);
    text = config_with_long_line(4, 4, 300);
    FILE *file = fopen(path, "w");
    assert_non_null(file);
    fputs(text, file);
    fclose(file);
    free(text);
    config_defaults(&config);
    assert_int_equal(config_load(&config, path, error), LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(error, ":4: the line is longer than 199 bytes"));
    assert_non_null(strstr(error, path));
    assert_int_equal(unlink(path), 0);
    assert_int_equal(rmdir(dir), 0);
}

/* A last line without its newline that fills the config library's 199
 * bytes ends with the file: it is taken whole; one byte more and it is
 * refused by its number, as with a newline. */
static void test_config_long_last_line_without_newline(void **state)
{
    (void)state;
    struct config config;
    char *text = config_with_long_line(2, 2, 199);
    text[strlen(text) - 1] = '\0'; /* the newline */
    expect_loaded(&config, text);
    assert_int_equal(strlen(config.data_dir), 199 - strlen("data = "));
    assert_int_equal(config.data_dir[strlen(config.data_dir) - 1], 'a');
    free(text);
    text = config_with_long_line(2, 2, 200);
    text[strlen(text) - 1] = '\0';
    expect_refused(text, "bad.conf:2: ", "the line is longer than 199 bytes");
    free(text);
}

static void test_config_unknown_and_malformed(void **state)
{
    (void)state;
    expect_refused("log_level = info\nlisten_url = ipc:///x\n",
                   "bad.conf:2: ", "unknown setting \"listen_url\"");
    expect_refused("[server]\nlog_level = info\n", "bad.conf:2: ", "unknown section [server]");
    expect_refused("log_level = info\nlog_level = debug\n",
                   "bad.conf:2: ", "log_level given twice");
    expect_refused("log_level info\n", "bad.conf:1: ", "not a `key = value` line");
    expect_refused("[ledgerd\nlog_level = info\n", "bad.conf:1: ", "not a `key = value` line");
    /* The first bad line is reported, and the later good lines do not hide it. */
    expect_refused("log_level = info\nbogus = 1\nauth_window_s = 0\n", "bad.conf:2: ", "bogus");
    /* inih reads an indented line as more of the value above it: the line
     * is named for its indentation, not as the key above given twice. */
    expect_refused("[ledgerd]\nlog_level = debug\n    auth_window_s = 60\n", "bad.conf:3: ",
                   "the line is indented, which continues the value of log_level above it; "
                   "remove the indentation");
    expect_refused("log_level = debug\n# a comment\n\tlisten = ipc:///x\n",
                   "bad.conf:3: ", "the line is indented");
    /* inih strips only a `;` comment after a value: a `#` one would be read
     * as part of it, and a data directory or socket path so misread would
     * be used (a new, empty ledger) rather than refused. */
    expect_refused("data = /var/lib/ledgerd # the main one\n", "bad.conf:1: ",
                   "data = \"/var/lib/ledgerd # the main one\": a comment after a value must "
                   "start with ';'");
    expect_refused("[ledgerd]\nlisten = ipc:///run/ledger.sock\t# local only\n",
                   "bad.conf:2: ", "put a `#` comment on a line of its own");
    struct config config;
    config_defaults(&config);
    char error[CONFIG_ERROR_SIZE] = "";
    assert_int_equal(config_load_string(&config,
                                        "data = /srv/ledger#1 ; the main one\n"
                                        "log_level = warn ; quieter\n",
                                        "ok.conf", error),
                     LEDGER_ERR_OK);
    assert_string_equal(config.data_dir, "/srv/ledger#1");
    assert_int_equal(config.log_level, LOG_LEVEL_WARN);
    /* Values are not quoted: inih keeps quotes, and a quoted data directory
     * would be a relative path whose name holds them (a new, empty ledger). */
    expect_refused("data = \"/var/lib/ledgerd\"\n", "bad.conf:1: ",
                   "data = \"\"/var/lib/ledgerd\"\": values are written without quotes");
    expect_refused("log_level = 'debug'\n", "bad.conf:1: ", "values are written without quotes");
    /* The same key given twice, unindented, is still said to be given twice. */
    expect_refused("log_level = info\n  # indented comment\nlog_level = debug\n",
                   "bad.conf:3: ", "log_level given twice");
}

static void test_config_set_from_command_line(void **state)
{
    (void)state;
    struct config config;
    config_defaults(&config);
    char error[CONFIG_ERROR_SIZE] = "";
    assert_int_equal(config_set(&config, "log_level", "error", error), LEDGER_ERR_OK);
    assert_int_equal(config.log_level, LOG_LEVEL_ERROR);
    /* A refused value leaves the setting as it was and names it. */
    assert_int_equal(config_set(&config, "auth_window_s", "0", error), LEDGER_ERR_INVALID_ARGUMENT);
    assert_int_equal(config.auth_window_s, 300);
    assert_non_null(strstr(error, "auth_window_s"));
    assert_int_equal(config_set(&config, "nope", "1", error), LEDGER_ERR_INVALID_ARGUMENT);
    assert_string_equal(error, "unknown setting \"nope\"");
    /* A value past CONFIG_VALUE_LENGTH_MAX is refused whole, not cut. */
    char long_value[CONFIG_VALUE_LENGTH_MAX + 2];
    memset(long_value, 'a', sizeof long_value - 1);
    long_value[sizeof long_value - 1] = '\0';
    assert_int_equal(config_set(&config, "metrics_listen", long_value, error),
                     LEDGER_ERR_INVALID_ARGUMENT);
    assert_string_equal(error, "metrics_listen: value longer than 200 bytes");
    long_value[CONFIG_VALUE_LENGTH_MAX] = '\0';
    assert_int_equal(config_set(&config, "metrics_listen", long_value, error),
                     LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(error, "host:port"));
    assert_true(config_key_known("slow_commit_ms"));
    assert_false(config_key_known("slow-commit-ms"));
    assert_false(config_key_known(NULL));
}

static void test_config_bytes(void **state)
{
    (void)state;
    uint64_t bytes = 0;
    assert_true(config_parse_bytes("0", &bytes));
    assert_int_equal(bytes, 0);
    /* Every leading digit, the first and last included. */
    assert_true(config_parse_bytes("9", &bytes));
    assert_int_equal(bytes, 9);
    assert_true(config_parse_bytes("0K", &bytes));
    assert_int_equal(bytes, 0);
    assert_true(config_parse_bytes("1536", &bytes));
    assert_int_equal(bytes, 1536);
    assert_true(config_parse_bytes("4K", &bytes));
    assert_int_equal(bytes, 4096);
    assert_true(config_parse_bytes("3MiB", &bytes));
    assert_int_equal(bytes, 3 * 1024 * 1024);
    assert_true(config_parse_bytes("2T", &bytes));
    assert_int_equal(bytes, UINT64_C(2) << 40);
    assert_false(config_parse_bytes("", &bytes));
    assert_false(config_parse_bytes("K", &bytes));
    assert_false(config_parse_bytes(" 4K", &bytes));
    assert_false(config_parse_bytes("+4", &bytes));
    assert_false(config_parse_bytes("4 K", &bytes));
    assert_false(config_parse_bytes("4k", &bytes));
    assert_true(config_parse_bytes("16777215T", &bytes)); /* the largest whole T */
    assert_int_equal(bytes, UINT64_C(16777215) << 40);
    assert_false(config_parse_bytes("16777216T", &bytes)); /* 2^64: overflow */
    assert_false(config_parse_bytes("18446744073709551616", &bytes));
}

static void test_config_file_and_sample(void **state)
{
    (void)state;
    char dir[512], path[600];
    test_make_dir(dir, sizeof dir, "config");
    snprintf(path, sizeof path, "%s/ledgerd.conf", dir);
    struct config config;
    config_defaults(&config);
    char error[CONFIG_ERROR_SIZE] = "";
    assert_int_equal(config_load(&config, path, error), LEDGER_ERR_IO_ERROR);
    assert_non_null(strstr(error, path));
    /* A directory is no config file, though it opens. */
    assert_int_equal(config_load(&config, dir, error), LEDGER_ERR_IO_ERROR);
    assert_non_null(strstr(error, "is a directory"));

    assert_int_equal(config_write_sample(path, dir), LEDGER_ERR_OK);
    /* Never over an existing file. */
    assert_int_equal(config_write_sample(path, dir), LEDGER_ERR_IO_ERROR);
    assert_int_equal(config_load(&config, path, error), LEDGER_ERR_OK);
    struct config defaults;
    config_defaults(&defaults);
    assert_memory_equal(&config, &defaults, sizeof config);

    /* Every setting is in the sample, and uncommented the sample still loads
     * (to the defaults, the data dir and the addresses shown). */
    FILE *file = fopen(path, "r");
    assert_non_null(file);
    static char text[16384], uncommented[16384], sample[16384];
    size_t size = fread(text, 1, sizeof text - 1, file);
    fclose(file);
    text[size] = '\0';
    memcpy(sample, text, size + 1);
    const char *keys[] = {"data",
                          "listen",
                          "events",
                          "request_bytes_max",
                          "batch_commands_max",
                          "map_bytes_max",
                          "auth_window_s",
                          "log_level",
                          "metrics_listen",
                          "metrics_allow_remote",
                          "slow_commit_ms",
                          "state_cache_bytes_max",
                          "expiry_sweep_s",
                          "inflight_requests_max"};
    size_t used = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
            char prefix[64];
            snprintf(prefix, sizeof prefix, "# %s = ", keys[i]);
            if (strncmp(line, prefix, strlen(prefix)) == 0) {
                line += 2;
                break;
            }
        }
        used += (size_t)snprintf(uncommented + used, sizeof uncommented - used, "%s\n", line);
    }
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char wanted[64];
        snprintf(wanted, sizeof wanted, "\n%s = ", keys[i]);
        if (strstr(uncommented, wanted) == NULL) {
            fail_msg("sample lacks %s", keys[i]);
        }
    }
    /* Each bounded setting's comment gives its range, as the operations
     * guide's table does. */
    static const struct {
        const char *key;
        const char *range;
    } ranges[] = {
        {"request_bytes_max", "1K to 64M"},    {"batch_commands_max", "1 to 100000"},
        {"map_bytes_max", "64M to 16T"},       {"auth_window_s", "1 to 3600"},
        {"slow_commit_ms", "0 to\n# 3600000"}, {"state_cache_bytes_max", "1M to 64G"},
        {"expiry_sweep_s", "0 to 86400"},      {"inflight_requests_max", "1 to 65536"},
    };
    for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++) {
        char wanted[64];
        snprintf(wanted, sizeof wanted, "\n# %s = ", ranges[i].key);
        const char *setting = strstr(sample, wanted);
        assert_non_null(setting);
        const char *comment = setting;
        while (comment > sample && strncmp(comment, "\n\n", 2) != 0) {
            comment--;
        }
        const char *range = strstr(comment, ranges[i].range);
        if (range == NULL || range > setting) {
            fail_msg("the sample's comment on %s lacks its range %s", ranges[i].key,
                     ranges[i].range);
        }
    }
    config_defaults(&config);
    assert_int_equal(config_load_string(&config, uncommented, "sample", error), LEDGER_ERR_OK);
    assert_string_equal(config.data_dir, dir);
    char listen[CONFIG_URL_SIZE];
    assert_int_equal(config_default_url(dir, "ledger.sock", listen), LEDGER_ERR_OK);
    assert_string_equal(config.listen, listen);
    assert_int_equal(config.request_bytes_max, defaults.request_bytes_max);
    assert_int_equal(config.map_bytes_max, defaults.map_bytes_max);
    assert_int_equal(config.batch_commands_max, defaults.batch_commands_max);
    assert_int_equal(config.auth_window_s, defaults.auth_window_s);
    assert_int_equal(config.slow_commit_ms, defaults.slow_commit_ms);
    assert_int_equal(config.expiry_sweep_s, defaults.expiry_sweep_s);
    assert_int_equal(config.inflight_requests_max, LEDGER_INFLIGHT_REQUESTS_DEFAULT);

    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    test_remove_dir(dir);
}

/* The sample of a data directory too long for its default IPC sockets
 * (more than 107 bytes with "/ledger.sock") shows the addresses as
 * placeholders, never a default cut short or one that would not bind, names
 * the directory itself in full, and still loads as written. */
static void test_config_sample_of_a_deep_directory(void **state)
{
    (void)state;
    char dir[512], path[600];
    test_make_dir(dir, sizeof dir, "config-deep");
    snprintf(path, sizeof path, "%s/ledgerd.conf", dir);
    char deep[300];
    snprintf(deep, sizeof deep, "/srv/%0150d/ledger-data", 0);
    char url[CONFIG_URL_SIZE];
    assert_int_equal(config_default_url(deep, "ledger.sock", url), LEDGER_ERR_INVALID_ARGUMENT);
    assert_int_equal(config_write_sample(path, deep), LEDGER_ERR_OK);
    FILE *file = fopen(path, "r");
    assert_non_null(file);
    static char text[16384];
    size_t size = fread(text, 1, sizeof text - 1, file);
    fclose(file);
    text[size] = '\0';
    assert_non_null(strstr(text, "\n# listen = ipc://<data dir>/ledger.sock\n"));
    assert_non_null(strstr(text, "\n# events = ipc://<data dir>/events.sock\n"));
    char data_line[400];
    snprintf(data_line, sizeof data_line, "\n# data = %s\n", deep);
    assert_non_null(strstr(text, data_line));
    assert_null(strstr(text, "ipc:///srv/"));
    struct config config, defaults;
    config_defaults(&config);
    config_defaults(&defaults);
    char error[CONFIG_ERROR_SIZE] = "";
    assert_int_equal(config_load(&config, path, error), LEDGER_ERR_OK);
    assert_memory_equal(&config, &defaults, sizeof config);
    test_remove_dir(dir);
}

/* tools/ledgerd.conf.sample is what `ledgerd init --data /var/lib/ledgerd`
 * writes, byte for byte: the operations guide installs it as
 * /etc/ledgerd/ledgerd.conf. When a setting changes, regenerate it with
 * LEDGER_UPDATE_SAMPLE=1 set while this test runs. */
static void test_config_sample_file_is_current(void **state)
{
    (void)state;
    const char *source = getenv("LEDGER_SOURCE_DIR");
    if (source == NULL) {
        skip();
    }
    char dir[512], path[600], checked_in[1024];
    test_make_dir(dir, sizeof dir, "config-sample");
    snprintf(path, sizeof path, "%s/ledgerd.conf", dir);
    snprintf(checked_in, sizeof checked_in, "%s/tools/ledgerd.conf.sample", source);
    assert_int_equal(config_write_sample(path, "/var/lib/ledgerd"), LEDGER_ERR_OK);
    static char generated[16384], stored[16384];
    FILE *file = fopen(path, "r");
    assert_non_null(file);
    size_t generated_size = fread(generated, 1, sizeof generated - 1, file);
    fclose(file);
    generated[generated_size] = '\0';
    const char *update = getenv("LEDGER_UPDATE_SAMPLE");
    if (update != NULL && strcmp(update, "1") == 0) {
        file = fopen(checked_in, "w");
        assert_non_null(file);
        assert_int_equal(fwrite(generated, 1, generated_size, file), generated_size);
        assert_int_equal(fclose(file), 0);
    }
    file = fopen(checked_in, "r");
    if (file == NULL) {
        fail_msg("cannot open %s", checked_in);
    }
    size_t stored_size = fread(stored, 1, sizeof stored - 1, file);
    fclose(file);
    stored[stored_size] = '\0';
    test_remove_dir(dir);
    if (strcmp(stored, generated) != 0) {
        fail_msg("%s differs from what ledgerd init writes; run this test with "
                 "LEDGER_UPDATE_SAMPLE=1 to regenerate it",
                 checked_in);
    }
}

static void test_config_default_url(void **state)
{
    (void)state;
    char url[CONFIG_URL_SIZE];
    assert_int_equal(config_default_url("/var/lib/ledger", "ledger.sock", url), LEDGER_ERR_OK);
    assert_string_equal(url, "ipc:///var/lib/ledger/ledger.sock");
    char long_dir[200];
    memset(long_dir, 'd', sizeof long_dir - 1);
    long_dir[0] = '/';
    long_dir[sizeof long_dir - 1] = '\0';
    assert_int_equal(config_default_url(long_dir, "ledger.sock", url), LEDGER_ERR_INVALID_ARGUMENT);
}

/* An IPC socket path fits sockaddr_un's 108 bytes with its terminator: 107
 * bytes are taken, from a file and for the default under the data directory,
 * and 108 are refused rather than cut short at bind. */
static void test_config_ipc_path_length_edge(void **state)
{
    (void)state;
    char text[CONFIG_URL_SIZE];
    char path[108 + 1];
    memset(path, 'p', sizeof path - 1);
    path[0] = '/';
    path[107] = '\0';
    struct config config;
    snprintf(text, sizeof text, "listen = ipc://%s\n", path);
    expect_loaded(&config, text);
    assert_int_equal(strlen(config.listen), strlen("ipc://") + 107);
    path[107] = 'p';
    path[108] = '\0';
    snprintf(text, sizeof text, "listen = ipc://%s\n", path);
    expect_refused(text, "bad.conf:1: listen",
                   "IPC socket path longer than 107 bytes, the most a Unix socket address holds: "
                   "give a shorter path");

    /* The directory plus "/ledger.sock" (12 bytes) makes the path. */
    char url[CONFIG_URL_SIZE];
    path[107 - 12] = '\0';
    assert_int_equal(config_default_url(path, "ledger.sock", url), LEDGER_ERR_OK);
    assert_int_equal(strlen(url), strlen("ipc://") + 107);
    path[107 - 12] = 'p';
    path[108 - 12] = '\0';
    assert_int_equal(config_default_url(path, "ledger.sock", url), LEDGER_ERR_INVALID_ARGUMENT);
}

/* `text` loads, and then config_addresses_check with the given addresses
 * (NULL: the setting's own) refuses them with an error that has `first` and
 * `second`. */
static void expect_addresses_refused(const char *text, const char *listen, const char *events,
                                     const char *first, const char *second)
{
    struct config config;
    config_defaults(&config);
    char error[CONFIG_ERROR_SIZE] = "";
    assert_int_equal(config_load_string(&config, text, "ledgerd.conf", error), LEDGER_ERR_OK);
    enum ledger_err err = config_addresses_check(&config, listen ? listen : config.listen,
                                                 events ? events : config.events, error);
    if (err != LEDGER_ERR_INVALID_ARGUMENT || strstr(error, first) == NULL ||
        strstr(error, second) == NULL) {
        fail_msg("\"%s\": %s \"%s\", expected \"%s\" and \"%s\"", text, ledger_err_name(err), error,
                 first, second);
    }
}

/* The request socket, the doorbell and the metrics endpoint each need an
 * address of their own: a collision is refused at once, naming the setting
 * with its file and line (or its option), instead of a bind that fails. */
static void test_config_addresses_differ(void **state)
{
    (void)state;
    expect_addresses_refused("listen = ipc:///run/l.sock\nevents = ipc:///run/l.sock\n", NULL, NULL,
                             "ledgerd.conf:2: events = \"ipc:///run/l.sock\"",
                             "the same address as listen (ledgerd.conf:1)");
    expect_addresses_refused("listen = tcp://127.0.0.1:7300\nevents = tcp://*:7300\n", NULL, NULL,
                             "ledgerd.conf:2: events", "as listen (ledgerd.conf:1)");
    /* A default address (filled in by the caller) collides with a given one. */
    expect_addresses_refused("events = ipc:///d/ledger.sock\n", "ipc:///d/ledger.sock", NULL,
                             "ledgerd.conf:1: events", "as listen (its default)");
    /* The given one is blamed whichever comes first: listen given as the
     * doorbell's default address. */
    expect_addresses_refused("listen = ipc:///d/events.sock\n", NULL, "ipc:///d/events.sock",
                             "ledgerd.conf:1: listen = \"ipc:///d/events.sock\"",
                             "the same address as events (its default)");
    expect_addresses_refused("listen = tcp://127.0.0.1:9464\n[ledgerd]\nmetrics_listen = "
                             "127.0.0.1:9464\n",
                             NULL, "ipc:///d/events.sock", "ledgerd.conf:3: metrics_listen",
                             "as listen (ledgerd.conf:1)");
    /* Every spelling of "every interface" takes the port on every host. */
    static const char *const any_host[] = {"*", "0.0.0.0"};
    for (size_t i = 0; i < sizeof any_host / sizeof any_host[0]; i++) {
        char text[128];
        snprintf(text, sizeof text, "listen = tcp://%s:7300\nevents = tcp://127.0.0.1:7300\n",
                 any_host[i]);
        expect_addresses_refused(text, NULL, NULL, "ledgerd.conf:2: events",
                                 "as listen (ledgerd.conf:1)");
    }
    /* The metrics endpoint, which may bind IPv6, spells it [::]. */
    expect_addresses_refused("listen = tcp://127.0.0.1:7300\nmetrics_listen = [::]:7300\n", NULL,
                             NULL, "ledgerd.conf:2: metrics_listen", "as listen (ledgerd.conf:1)");
    /* A command-line value is named as its option. */
    struct config config;
    config_defaults(&config);
    char error[CONFIG_ERROR_SIZE] = "";
    assert_int_equal(config_load_string(&config, "listen = ipc:///run/a.sock\n", "f.conf", error),
                     LEDGER_ERR_OK);
    assert_int_equal(config_set(&config, "events", "ipc:///run/a.sock", error), LEDGER_ERR_OK);
    assert_int_equal(config_addresses_check(&config, config.listen, config.events, error),
                     LEDGER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(error, "--events \"ipc:///run/a.sock\": the same address as listen "
                                  "(f.conf:1)"));
    /* Different ones pass: other paths, ports, hosts. */
    config_defaults(&config);
    assert_int_equal(config_load_string(&config,
                                        "listen = tcp://127.0.0.1:7300\nevents = "
                                        "tcp://127.0.0.2:7300\nmetrics_listen = 127.0.0.1:7301\n",
                                        "f.conf", error),
                     LEDGER_ERR_OK);
    assert_int_equal(config_addresses_check(&config, config.listen, config.events, error),
                     LEDGER_ERR_OK);
    config_defaults(&config);
    assert_int_equal(
        config_addresses_check(&config, "ipc:///d/ledger.sock", "ipc:///d/events.sock", error),
        LEDGER_ERR_OK);
    /* A host that only begins like another, and an IPC path that reads like
     * a host and port, are other addresses. */
    assert_int_equal(
        config_addresses_check(&config, "tcp://127.0.0.1:7300", "tcp://127.0.0.10:7300", error),
        LEDGER_ERR_OK);
    assert_int_equal(
        config_addresses_check(&config, "tcp://127.0.0.1:7300", "ipc://127.0.0.1:7300", error),
        LEDGER_ERR_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_defaults),
        cmocka_unit_test(test_config_every_setting),
        cmocka_unit_test(test_config_bad_values),
        cmocka_unit_test(test_config_address_edges),
        cmocka_unit_test(test_config_range_ends),
        cmocka_unit_test(test_config_unknown_and_malformed),
        cmocka_unit_test(test_config_long_line),
        cmocka_unit_test(test_config_long_last_line_without_newline),
        cmocka_unit_test(test_config_set_from_command_line),
        cmocka_unit_test(test_config_bytes),
        cmocka_unit_test(test_config_file_and_sample),
        cmocka_unit_test(test_config_sample_of_a_deep_directory),
        cmocka_unit_test(test_config_sample_file_is_current),
        cmocka_unit_test(test_config_default_url),
        cmocka_unit_test(test_config_ipc_path_length_edge),
        cmocka_unit_test(test_config_addresses_differ),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
