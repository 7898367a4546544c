/*
 * config.h: the daemon's settings: defaults, the config file, the command line.
 *
 * Owns: the list of settings, their defaults and allowed ranges, parsing of
 * values, the INI config file (through inih; the only includer of <ini.h>) and
 * the commented sample file written by `ledgerd init`.
 * Does not own: what the settings do (server, engine, main).
 *
 * File format (INI): `key = value` lines, at the top or under a [ledgerd]
 * section; '#' or ';' start a comment line. Every key is one of the
 * command-line options without its leading dashes. Unknown keys, unknown
 * sections, a key given twice and bad values are refused with the file name
 * and line number. Precedence: command line over file over defaults.
 */
#ifndef LEDGER_CONFIG_H
#define LEDGER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "log.h"

/* Addresses are nanomsg URLs ("ipc:///abs/path", "tcp://host:port"); an IPC
 * path is bounded by sockaddr_un's 108 bytes anyway, and host names by 253. */
#define CONFIG_URL_SIZE 512
/* The data directory's path (PATH_MAX on Linux, without needing limits.h). */
#define CONFIG_PATH_SIZE 4096
/* Room for one error message (file name, line number, key, reason). */
#define CONFIG_ERROR_SIZE 512
/* Room for this many settings (config.c asserts it holds them all). */
#define CONFIG_SETTINGS_MAX 32
/* Settings are short; inih reads lines of up to 200 bytes. */
#define CONFIG_VALUE_LENGTH_MAX 200

/* The time window of request timestamps: at least a second, at most an hour
 * (a larger window only lengthens the time a captured request stays usable). */
#define CONFIG_AUTH_WINDOW_S_MIN 1
#define CONFIG_AUTH_WINDOW_S_MAX 3600
/* Slow-commit threshold: 0 turns the log line off; an hour is surely slow. */
#define CONFIG_SLOW_COMMIT_MS_MAX 3600000
/* The expiry schedule runs at most daily: an expiry recorded a day late is
 * still dated at the expiry, but views show the reservation active meanwhile. */
#define CONFIG_EXPIRY_SWEEP_S_MAX 86400
/* The smallest request limit: a signed request with a small query is under
 * 200 bytes; 1 KiB leaves room for any single small command. */
#define CONFIG_REQUEST_BYTES_MIN 1024
/* The largest map: 16 TiB, far beyond any ledger and below address-space
 * limits of 64-bit Linux (128 TiB of user space). */
#define CONFIG_MAP_BYTES_MAX_LIMIT (UINT64_C(16) * 1024 * 1024 * 1024 * 1024)
/* Bounds of state_cache_bytes_max. */
#define CONFIG_STATE_CACHE_BYTES_MIN (UINT64_C(1) * 1024 * 1024)
#define CONFIG_STATE_CACHE_BYTES_MAX (UINT64_C(64) * 1024 * 1024 * 1024)

struct config {
    char data_dir[CONFIG_PATH_SIZE];      /* "data"; default ./ledger-data */
    char listen[CONFIG_URL_SIZE];         /* "" = ipc://<abs data dir>/ledger.sock */
    char events[CONFIG_URL_SIZE];         /* "" = ipc://<abs data dir>/events.sock */
    uint64_t request_bytes_max;           /* default LEDGER_REQUEST_BYTES_DEFAULT */
    uint32_t batch_commands_max;          /* default LEDGER_BATCH_COMMANDS_DEFAULT */
    uint64_t map_bytes_max;               /* default LEDGER_MAP_BYTES_MAX_DEFAULT */
    uint32_t auth_window_s;               /* default LEDGER_AUTH_WINDOW_US in seconds */
    enum log_level log_level;             /* default info */
    char metrics_listen[CONFIG_URL_SIZE]; /* "" = off (the default) */
    bool metrics_allow_remote;            /* default false: metrics on loopback only */
    uint32_t slow_commit_ms;              /* default LEDGER_SLOW_COMMIT_US in ms; 0 = off */
    uint32_t expiry_sweep_s;              /* default LEDGER_EXPIRY_SWEEP_S; 0 = off */
    uint64_t state_cache_bytes_max;       /* default LEDGER_STATE_CACHE_BYTES_MAX */
    uint32_t inflight_requests_max;       /* default LEDGER_INFLIGHT_REQUESTS_DEFAULT */
    /* Where each setting came from, for errors found once all are known
     * (config_addresses_check): the config file read, and the line of each
     * setting it gave (0: a default or the command line), in the order of
     * the settings table. */
    char file_name[CONFIG_PATH_SIZE];
    unsigned file_lines[CONFIG_SETTINGS_MAX];
};

/* The default data directory, relative to the working directory. */
#define CONFIG_DATA_DIR_DEFAULT "./ledger-data"
/* The config file's name inside a data directory. */
#define CONFIG_FILE_NAME "ledgerd.conf"

/* Fills every setting with its default. */
void config_defaults(struct config *config);

/* Whether `key` names a setting ("listen", "log_level", ...). */
bool config_key_known(const char *key);

/* Sets one setting from text (the file's value or a command-line argument).
 * `key` and `value` borrowed. On failure the setting is unchanged and `error`
 * says why (without a location): INVALID_ARGUMENT for an unknown key or a bad
 * value. */
__attribute__((warn_unused_result)) enum ledger_err config_set(struct config *config,
                                                               const char *key, const char *value,
                                                               char error[CONFIG_ERROR_SIZE]);

/* Reads a config file over the current settings. IO_ERROR when it cannot be
 * read; INVALID_ARGUMENT on the first bad line, with `error` saying
 * "FILE:LINE: reason". Settings of lines before a bad one may have been
 * applied; callers stop on any error. */
__attribute__((warn_unused_result)) enum ledger_err
config_load(struct config *config, const char *path, char error[CONFIG_ERROR_SIZE]);

/* The same for a config held in a string (tests); `name` is used in errors. */
__attribute__((warn_unused_result)) enum ledger_err
config_load_string(struct config *config, const char *text, const char *name,
                   char error[CONFIG_ERROR_SIZE]);

/* Writes the commented sample config (every setting, commented out, at its
 * default; addresses shown for `data_dir_absolute`) to a new file at `path`
 * (mode 0644; refused with IO_ERROR if it exists, even as a link to a file
 * that does not; on IO_ERROR, errno says why and nothing is left at `path`). */
__attribute__((warn_unused_result)) enum ledger_err
config_write_sample(const char *path, const char *data_dir_absolute);

/* The default addresses for a data directory (absolute path). INVALID_ARGUMENT
 * when the path is too long for an address. */
__attribute__((warn_unused_result)) enum ledger_err
config_default_url(const char *data_dir_absolute, const char *socket_name,
                   char out[CONFIG_URL_SIZE]);

/* Checks the addresses the daemon binds against each other, once every
 * source of settings is applied: the request socket (listen_url), the
 * doorbell (events_url), both with their defaults filled in
 * (config_default_url), and the metrics endpoint (config->metrics_listen,
 * when on). Each needs its own: INVALID_ARGUMENT when two are the same IPC
 * path or the same TCP port of one host (or of every interface, "*" or
 * 0.0.0.0), with `error` naming the setting as it was given ("FILE:LINE:
 * events = ..." or "--events ...") and the one it collides with. Borrowed. */
__attribute__((warn_unused_result)) enum ledger_err
config_addresses_check(const struct config *config, const char *listen_url, const char *events_url,
                       char error[CONFIG_ERROR_SIZE]);

/* Parses a byte count: digits with an optional suffix K, M, G or T (also KiB,
 * MiB, GiB, TiB; powers of 1024). false on anything else or overflow. */
bool config_parse_bytes(const char *text, uint64_t *out);

#endif
