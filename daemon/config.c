/*
 * config.c: settings, their parsing and the INI config file (see config.h).
 *
 * One table lists every setting with its parser, so that the command line, the
 * file and the sample cannot disagree about which settings exist.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ledger_limits.h"

/* sockaddr_un's sun_path holds 108 bytes with the NUL. */
#define CONFIG_IPC_PATH_LENGTH_MAX 107

typedef bool (*config_parse_fn)(struct config *config, const char *value, char *error);

static void set_error(char *error, const char *format, ...) __attribute__((format(printf, 2, 3)));

static void set_error(char *error, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    vsnprintf(error, CONFIG_ERROR_SIZE, format, args);
    va_end(args);
}

static bool parse_u64(const char *text, uint64_t *out)
{
    if (text[0] < '0' || text[0] > '9') {
        return false; /* no sign, no space, at least one digit */
    }
    errno = 0;
    char *end = NULL;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0') {
        return false;
    }
    *out = (uint64_t)value;
    return true;
}

bool config_parse_bytes(const char *text, uint64_t *out)
{
    if (text == NULL || text[0] < '0' || text[0] > '9') {
        return false;
    }
    errno = 0;
    char *end = NULL;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno != 0) {
        return false;
    }
    static const struct {
        const char *suffix;
        unsigned shift;
    } suffixes[] = {
        {"", 0},     {"K", 10},   {"M", 20},   {"G", 30},   {"T", 40},
        {"KiB", 10}, {"MiB", 20}, {"GiB", 30}, {"TiB", 40},
    };
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        if (strcmp(end, suffixes[i].suffix) == 0) {
            unsigned shift = suffixes[i].shift;
            if (shift > 0 && value > (UINT64_MAX >> shift)) {
                return false;
            }
            *out = (uint64_t)value << shift;
            return true;
        }
    }
    return false;
}

/* Every value reaches a parser through config_set, which refuses one
 * longer than CONFIG_VALUE_LENGTH_MAX: an address always fits its field. */
_Static_assert(CONFIG_VALUE_LENGTH_MAX < CONFIG_URL_SIZE, "an address value fits CONFIG_URL_SIZE");

/* Whether nanomsg can bind a TCP socket to `host` (`length` bytes, not
 * terminated): `*` or an IPv4 address. nanomsg 1.1.5 resolves neither host
 * names nor interface names when it binds ("No such device"), so
 * `localhost` would fail at every start, which no restart can fix. */
static bool tcp_host_bindable(const char *host, size_t length)
{
    if (length == 1 && host[0] == '*') {
        return true;
    }
    char literal[INET_ADDRSTRLEN];
    if (length >= sizeof literal) {
        return false;
    }
    memcpy(literal, host, length);
    literal[length] = '\0';
    struct in_addr address;
    return inet_pton(AF_INET, literal, &address) == 1;
}

static bool url_valid(const char *value, char *error)
{
    size_t length = strlen(value);
    if (strncmp(value, "ipc://", 6) == 0) {
        if (length == 6) {
            set_error(error, "ipc:// address without a path");
            return false;
        }
        if (value[6] != '/') {
            /* A relative path would be resolved against whatever working
             * directory the daemon has when it binds (systemd: /). */
            set_error(error, "an ipc:// address must name an absolute path: ipc:///abs/path "
                             "(three slashes)");
            return false;
        }
        if (length - 6 > CONFIG_IPC_PATH_LENGTH_MAX) {
            set_error(error,
                      "IPC socket path longer than %d bytes, the most a Unix socket address "
                      "holds: give a shorter path",
                      CONFIG_IPC_PATH_LENGTH_MAX);
            return false;
        }
        return true;
    }
    if (strncmp(value, "tcp://", 6) == 0) {
        const char *colon = strrchr(value + 6, ':');
        uint64_t port = 0;
        if (colon == NULL || colon == value + 6 || !parse_u64(colon + 1, &port) || port == 0 ||
            port > 65535) {
            set_error(error, "tcp:// address needs host:port (port 1..65535), e.g. "
                             "tcp://127.0.0.1:7300");
            return false;
        }
        /* The sockets keep nanomsg's IPv4-only default: an IPv6 host fails
         * to bind ("No such device", exit 1, which a supervisor restarts
         * forever) rather than being a configuration error. */
        const char *host = value + 6;
        size_t host_length = (size_t)(colon - host);
        if (memchr(host, ':', host_length) != NULL || host[0] == '[') {
            set_error(error, "tcp:// takes an IPv4 address or * (the sockets are IPv4 only), not "
                             "an IPv6 address");
            return false;
        }
        if (!tcp_host_bindable(host, host_length)) {
            set_error(error, "tcp:// takes an IPv4 address or * (nanomsg binds no host or "
                             "interface name): write tcp://127.0.0.1:PORT for this host only, or "
                             "tcp://*:PORT for every interface");
            return false;
        }
        return true;
    }
    set_error(error, "address must start with ipc:// or tcp://");
    return false;
}

static bool parse_data(struct config *config, const char *value, char *error)
{
    size_t length = strlen(value);
    if (length == 0 || length >= sizeof config->data_dir) {
        set_error(error, "data directory must be 1..%zu bytes", sizeof config->data_dir - 1);
        return false;
    }
    memcpy(config->data_dir, value, length + 1);
    return true;
}

static bool parse_listen(struct config *config, const char *value, char *error)
{
    if (!url_valid(value, error)) {
        return false;
    }
    snprintf(config->listen, sizeof config->listen, "%s", value);
    return true;
}

static bool parse_events(struct config *config, const char *value, char *error)
{
    if (!url_valid(value, error)) {
        return false;
    }
    snprintf(config->events, sizeof config->events, "%s", value);
    return true;
}

/* A whole number within [1, max] into *out. */
static bool parse_count_within(const char *value, uint32_t max, uint32_t *out, char *error)
{
    uint64_t count = 0;
    if (!parse_u64(value, &count) || count < 1 || count > max) {
        set_error(error, "must be a whole number from 1 to %u", max);
        return false;
    }
    *out = (uint32_t)count;
    return true;
}

static bool parse_batch_commands_max(struct config *config, const char *value, char *error)
{
    return parse_count_within(value, LEDGER_BATCH_COMMANDS_MAX, &config->batch_commands_max, error);
}

static bool parse_inflight_requests_max(struct config *config, const char *value, char *error)
{
    return parse_count_within(value, LEDGER_INFLIGHT_REQUESTS_MAX, &config->inflight_requests_max,
                              error);
}

/* A byte count within [min, max] into *out; `range` names the bounds for the
 * error ("64M to 16T"). */
static bool parse_bytes_within(const char *value, uint64_t min, uint64_t max, const char *range,
                               uint64_t *out, char *error)
{
    uint64_t bytes = 0;
    if (!config_parse_bytes(value, &bytes) || bytes < min || bytes > max) {
        set_error(error, "must be a byte count from %s (suffixes K, M, G, T or KiB, MiB, GiB, TiB)",
                  range);
        return false;
    }
    *out = bytes;
    return true;
}

static bool parse_request_bytes_max(struct config *config, const char *value, char *error)
{
    return parse_bytes_within(value, CONFIG_REQUEST_BYTES_MIN, LEDGER_REQUEST_BYTES_MAX,
                              "1K to 64M", &config->request_bytes_max, error);
}

static bool parse_map_bytes_max(struct config *config, const char *value, char *error)
{
    return parse_bytes_within(value, LEDGER_MAP_BYTES_INITIAL, CONFIG_MAP_BYTES_MAX_LIMIT,
                              "64M to 16T", &config->map_bytes_max, error);
}

static bool parse_state_cache_bytes_max(struct config *config, const char *value, char *error)
{
    return parse_bytes_within(value, CONFIG_STATE_CACHE_BYTES_MIN, CONFIG_STATE_CACHE_BYTES_MAX,
                              "1M to 64G", &config->state_cache_bytes_max, error);
}

_Static_assert(CONFIG_AUTH_WINDOW_S_MIN *INT64_C(1000000) == LEDGER_AUTH_WINDOW_MIN_US,
               "libledger's idea of the narrowest window is the daemon's");

static bool parse_auth_window_s(struct config *config, const char *value, char *error)
{
    uint64_t seconds = 0;
    if (!parse_u64(value, &seconds) || seconds < CONFIG_AUTH_WINDOW_S_MIN ||
        seconds > CONFIG_AUTH_WINDOW_S_MAX) {
        set_error(error, "must be a whole number of seconds from %d to %d",
                  CONFIG_AUTH_WINDOW_S_MIN, CONFIG_AUTH_WINDOW_S_MAX);
        return false;
    }
    config->auth_window_s = (uint32_t)seconds;
    return true;
}

static bool parse_log_level(struct config *config, const char *value, char *error)
{
    if (!log_level_parse(value, &config->log_level)) {
        set_error(error, "must be one of error, warn, info, debug");
        return false;
    }
    return true;
}

static bool parse_metrics_listen(struct config *config, const char *value, char *error)
{
    if (strcmp(value, "off") == 0 || value[0] == '\0') {
        config->metrics_listen[0] = '\0';
        return true;
    }
    /* host:port, as the metrics module will bind it. */
    const char *colon = strrchr(value, ':');
    uint64_t port = 0;
    if (strlen(value) >= sizeof config->metrics_listen || colon == NULL || colon == value ||
        !parse_u64(colon + 1, &port) || port == 0 || port > 65535) {
        set_error(error, "must be off or host:port (port 1..65535), e.g. 127.0.0.1:9464");
        return false;
    }
    snprintf(config->metrics_listen, sizeof config->metrics_listen, "%s", value);
    return true;
}

static bool parse_metrics_allow_remote(struct config *config, const char *value, char *error)
{
    if (strcmp(value, "true") == 0) {
        config->metrics_allow_remote = true;
        return true;
    }
    if (strcmp(value, "false") == 0) {
        config->metrics_allow_remote = false;
        return true;
    }
    set_error(error, "must be true or false");
    return false;
}

static bool parse_slow_commit_ms(struct config *config, const char *value, char *error)
{
    uint64_t ms = 0;
    if (!parse_u64(value, &ms) || ms > CONFIG_SLOW_COMMIT_MS_MAX) {
        set_error(error, "must be a whole number of milliseconds from 0 (off) to %d",
                  CONFIG_SLOW_COMMIT_MS_MAX);
        return false;
    }
    config->slow_commit_ms = (uint32_t)ms;
    return true;
}

static bool parse_expiry_sweep_s(struct config *config, const char *value, char *error)
{
    uint64_t seconds = 0;
    if (!parse_u64(value, &seconds) || seconds > CONFIG_EXPIRY_SWEEP_S_MAX) {
        set_error(error, "must be a whole number of seconds from 0 (off) to %d",
                  CONFIG_EXPIRY_SWEEP_S_MAX);
        return false;
    }
    config->expiry_sweep_s = (uint32_t)seconds;
    return true;
}

/* Every setting: its key, parser and the sample file's description. The
 * sample's default value is written by config_write_sample from the defaults. */
static const struct config_setting {
    const char *key;
    config_parse_fn parse;
    const char *help;
} config_settings[] = {
    {"data", parse_data,
     "The data directory (LMDB environment, keys, sockets). Relative paths are\n"
     "# relative to the working directory. Usually given with --data instead."},
    {"listen", parse_listen,
     "Address of the request socket (nanomsg REQ/REP): ipc:///path or\n"
     "# tcp://host:port, host an IPv4 address or * (every interface), not a name.\n"
     "# TCP is authenticated but not encrypted: prefer IPC, or a tunnel. Default:\n"
     "# ipc://<data dir>/ledger.sock."},
    {"events", parse_events,
     "Address of the doorbell socket (nanomsg PUB). Default:\n"
     "# ipc://<data dir>/events.sock."},
    {"request_bytes_max", parse_request_bytes_max,
     "Largest request accepted, in bytes (suffixes K, M, G, T or KiB..TiB, powers\n"
     "# of 1024); bigger ones are refused with TOO_LARGE. 1K to 64M."},
    {"batch_commands_max", parse_batch_commands_max,
     "Most commands in one atomic batch (BATCH_TOO_LARGE past it). 1 to 100000."},
    {"map_bytes_max", parse_map_bytes_max,
     "Largest size the ledger file may grow to (suffixes K, M, G, T or KiB..TiB);\n"
     "# past it commands fail with STORAGE_FULL. 64M to 16T."},
    {"auth_window_s", parse_auth_window_s,
     "Accepted difference between a request's timestamp and the daemon's clock,\n"
     "# in seconds (STALE_REQUEST past it). 1 to 3600."},
    {"log_level", parse_log_level, "Most verbose log level written: error, warn, info or debug."},
    {"metrics_listen", parse_metrics_listen,
     "host:port of the Prometheus metrics endpoint (HTTP GET /metrics), or off.\n"
     "# Only a loopback address (127.0.0.1:9464, [::1]:9464) is accepted unless\n"
     "# metrics_allow_remote is true. Example: 127.0.0.1:9464."},
    {"metrics_allow_remote", parse_metrics_allow_remote,
     "true lets metrics_listen bind a non-loopback address. The metrics carry no\n"
     "# secret but are not authenticated: firewall the port. true or false."},
    {"slow_commit_ms", parse_slow_commit_ms,
     "Commits slower than this many milliseconds are logged (0: never). 0 to\n"
     "# 3600000."},
    {"state_cache_bytes_max", parse_state_cache_bytes_max,
     "Memory for customers' states kept between commands (suffixes K, M, G, T or\n"
     "# KiB..TiB); past it the cache is emptied and states reload from the log.\n"
     "# 1M to 64G."},
    {"expiry_sweep_s", parse_expiry_sweep_s,
     "How often, in seconds, the daemon records the expiry of reservations past\n"
     "# their term with auto-renewal off (as its own principal, dated at the\n"
     "# expiry). 0: never (the partner records them). 0 to 86400."},
    {"inflight_requests_max", parse_inflight_requests_max,
     "Most command requests accepted and not yet answered; with that many, the\n"
     "# daemon stops reading requests until one is answered (clients wait, nothing\n"
     "# is refused). Each holds up to request_bytes_max of memory. 1 to 65536."},
};

#define CONFIG_SETTING_COUNT (sizeof config_settings / sizeof config_settings[0])
_Static_assert(CONFIG_SETTING_COUNT <= 32, "settings seen are tracked in a 32-bit mask");
_Static_assert(CONFIG_SETTING_COUNT <= CONFIG_SETTINGS_MAX, "one file line per setting");

void config_defaults(struct config *config)
{
    memset(config, 0, sizeof *config);
    snprintf(config->data_dir, sizeof config->data_dir, "%s", CONFIG_DATA_DIR_DEFAULT);
    config->request_bytes_max = LEDGER_REQUEST_BYTES_DEFAULT;
    config->batch_commands_max = LEDGER_BATCH_COMMANDS_DEFAULT;
    config->map_bytes_max = LEDGER_MAP_BYTES_MAX_DEFAULT;
    config->auth_window_s = (uint32_t)(LEDGER_AUTH_WINDOW_US / 1000000);
    config->log_level = LOG_LEVEL_INFO;
    config->slow_commit_ms = (uint32_t)(LEDGER_SLOW_COMMIT_US / 1000);
    config->state_cache_bytes_max = LEDGER_STATE_CACHE_BYTES_MAX;
    config->expiry_sweep_s = LEDGER_EXPIRY_SWEEP_S;
    config->inflight_requests_max = LEDGER_INFLIGHT_REQUESTS_DEFAULT;
}

static const struct config_setting *setting_find(const char *key, size_t *index_out)
{
    for (size_t i = 0; i < CONFIG_SETTING_COUNT; i++) {
        if (strcmp(config_settings[i].key, key) == 0) {
            if (index_out) {
                *index_out = i;
            }
            return &config_settings[i];
        }
    }
    return NULL;
}

bool config_key_known(const char *key)
{
    return key != NULL && setting_find(key, NULL) != NULL;
}

enum ledger_err config_set(struct config *config, const char *key, const char *value,
                           char error[CONFIG_ERROR_SIZE])
{
    const struct config_setting *setting = setting_find(key, NULL);
    if (setting == NULL) {
        set_error(error, "unknown setting \"%.64s\"", key);
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    if (strlen(value) > CONFIG_VALUE_LENGTH_MAX && strcmp(key, "data") != 0) {
        set_error(error, "%s: value longer than %d bytes", key, CONFIG_VALUE_LENGTH_MAX);
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    /* Parse into a copy so that a refused value leaves the setting as it was. */
    struct config copy = *config;
    char reason[CONFIG_ERROR_SIZE];
    if (!setting->parse(&copy, value, reason)) {
        set_error(error, "%s = \"%.64s\": %s", key, value, reason);
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    *config = copy;
    /* Not from a file's line (load_handler records the line after this). */
    config->file_lines[setting - config_settings] = 0;
    return LEDGER_ERR_OK;
}

/* inih reads each line into a buffer of a size fixed when the library was
 * built (INI_MAX_LINE, 200 bytes in Debian's), and takes the rest of a longer
 * line for a line of its own: the error would then name a line the file does
 * not have, or a cut value could pass. This reader stops at such a line
 * instead, and remembers which it is. It reads a file, or else a string. */
struct line_reader {
    FILE *file;
    const char *text;
    unsigned line;      /* lines handed to inih so far */
    unsigned long_line; /* the first line too long for inih, or 0 */
    bool indented;      /* the line handed last begins with a space or tab */
    int line_bytes_max; /* the longest line inih holds, without its newline */
};

struct load_context {
    struct config *config;
    const struct line_reader *reader; /* the line being read */
    const char *name;                 /* the file's, for config->file_name */
    uint32_t seen_mask;
    bool failed;
    char error[CONFIG_ERROR_SIZE]; /* the first error, without location */
};

/* inih calls this for each `key = value`; returning 0 marks the line bad (inih
 * then reports the first bad line's number). */
static int load_handler(void *user, const char *section, const char *key, const char *value)
{
    struct load_context *context = user;
    char reason[CONFIG_ERROR_SIZE];
    bool ok = true;
    if (section[0] != '\0' && strcmp(section, "ledgerd") != 0) {
        set_error(reason, "unknown section [%.64s] (use [ledgerd] or none)", section);
        ok = false;
    } else {
        size_t index = 0;
        if (setting_find(key, &index) == NULL) {
            set_error(reason, "unknown setting \"%.64s\"", key);
            ok = false;
        } else if (context->seen_mask & (UINT32_C(1) << index)) {
            /* inih reads an indented line as more of the value above it,
             * and hands it over under that line's key. */
            if (context->reader->indented) {
                set_error(reason,
                          "the line is indented, which continues the value of %s above it; "
                          "remove the indentation",
                          key);
            } else {
                set_error(reason, "%s given twice", key);
            }
            ok = false;
        } else if (value[0] == '"' || value[0] == '\'') {
            /* inih keeps quotes: a quoted data directory would be a relative
             * path whose name holds them, and be used as such. */
            set_error(reason,
                      "%s = \"%.64s\": values are written without quotes (inih keeps them as "
                      "part of the value): remove them",
                      key, value);
            ok = false;
        } else if (strstr(value, " #") != NULL || strstr(value, "\t#") != NULL) {
            /* inih strips a comment after a value only when it starts with
             * ';': a `#` one would be taken for part of the value, and a
             * path so misread used (a new, empty data directory). */
            set_error(reason,
                      "%s = \"%.64s\": a comment after a value must start with ';' (inih reads "
                      "` # ...` as part of the value): put a `#` comment on a line of its own",
                      key, value);
            ok = false;
        } else {
            context->seen_mask |= UINT32_C(1) << index;
            ok = config_set(context->config, key, value, reason) == LEDGER_ERR_OK;
            if (ok) {
                /* A file that sets nothing leaves the settings as they were. */
                snprintf(context->config->file_name, sizeof context->config->file_name, "%s",
                         context->name);
                context->config->file_lines[index] = context->reader->line;
            }
        }
    }
    if (!ok && !context->failed) {
        context->failed = true;
        memcpy(context->error, reason, sizeof context->error);
    }
    return ok ? 1 : 0;
}

static enum ledger_err load_result(struct load_context *context, int line, const char *name,
                                   char error[CONFIG_ERROR_SIZE])
{
    if (line == 0) {
        return LEDGER_ERR_OK;
    }
    if (line < 0) {
        set_error(error, "%s: cannot read the file", name);
        return LEDGER_ERR_IO_ERROR;
    }
    if (context->failed) {
        set_error(error, "%s:%d: %s", name, line, context->error);
    } else {
        /* inih's own parse errors: no '=' or ':', an unclosed [section]. */
        set_error(error, "%s:%d: not a `key = value` line or [section]", name, line);
    }
    return LEDGER_ERR_INVALID_ARGUMENT;
}

static int reader_char(struct line_reader *reader)
{
    if (reader->file != NULL) {
        return getc(reader->file);
    }
    return *reader->text != '\0' ? (unsigned char)*reader->text++ : EOF;
}

static char *reader_line(char *out, int size, void *stream)
{
    struct line_reader *reader = stream;
    int length = 0;
    int c = EOF;
    while (length < size - 1 && (c = reader_char(reader)) != EOF) {
        out[length++] = (char)c;
        if (c == '\n') {
            break;
        }
    }
    if (length == 0) {
        return NULL;
    }
    out[length] = '\0';
    reader->line++;
    reader->indented = out[0] == ' ' || out[0] == '\t';
    if (length == size - 1 && out[length - 1] != '\n') {
        /* The buffer is full: the line fits only if it ends here. */
        c = reader_char(reader);
        if (c != EOF && c != '\n') {
            reader->long_line = reader->line;
            reader->line_bytes_max = size - 1;
            return NULL;
        }
    }
    return out;
}

static enum ledger_err load_lines(struct config *config, struct line_reader *reader,
                                  const char *name, char error[CONFIG_ERROR_SIZE])
{
    struct load_context context = {.config = config, .reader = reader, .name = name};
    int line = ini_parse_stream(reader_line, reader, load_handler, &context);
    if (line == 0 && reader->long_line != 0) {
        set_error(error,
                  "%s:%u: the line is longer than %d bytes, the most a config line may hold; "
                  "shorten it (a longer data directory can be given with --data)",
                  name, reader->long_line, reader->line_bytes_max);
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    return load_result(&context, line, name, error);
}

enum ledger_err config_load(struct config *config, const char *path, char error[CONFIG_ERROR_SIZE])
{
    FILE *file = fopen(path, "re");
    if (file == NULL) {
        set_error(error, "%s: cannot open: %s", path, strerror(errno));
        return LEDGER_ERR_IO_ERROR;
    }
    /* A directory opens, and reads as nothing: it would be taken silently
     * for an empty file. */
    struct stat info;
    if (fstat(fileno(file), &info) == 0 && S_ISDIR(info.st_mode)) {
        fclose(file);
        set_error(error,
                  "%s: is a directory: give the config file's path (for example "
                  "/etc/ledgerd/ledgerd.conf)",
                  path);
        return LEDGER_ERR_IO_ERROR;
    }
    struct line_reader reader = {.file = file};
    enum ledger_err err = load_lines(config, &reader, path, error);
    fclose(file);
    return err;
}

enum ledger_err config_load_string(struct config *config, const char *text, const char *name,
                                   char error[CONFIG_ERROR_SIZE])
{
    struct line_reader reader = {.text = text};
    return load_lines(config, &reader, name, error);
}

enum ledger_err config_default_url(const char *data_dir_absolute, const char *socket_name,
                                   char out[CONFIG_URL_SIZE])
{
    char url[CONFIG_URL_SIZE];
    int n = snprintf(url, sizeof url, "ipc://%s/%s", data_dir_absolute, socket_name);
    if (n < 0 || (size_t)n >= sizeof url || (size_t)n - 6 > CONFIG_IPC_PATH_LENGTH_MAX) {
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    memcpy(out, url, (size_t)n + 1);
    return LEDGER_ERR_OK;
}

/* One address the daemon binds, for config_addresses_check. */
struct bound_address {
    const char *key; /* the setting */
    const char *url; /* as bound: "ipc:///path", "tcp://host:port" or metrics' "host:port" */
    bool given;      /* set by the file or the command line, not a default */
};

/* Splits a TCP address ("tcp://host:port", or metrics' "host:port") into its
 * host (length *host_length) and port; false for an IPC one. */
static bool tcp_endpoint(const char *url, const char **host, size_t *host_length, uint64_t *port)
{
    if (strncmp(url, "ipc://", 6) == 0) {
        return false;
    }
    const char *start = strncmp(url, "tcp://", 6) == 0 ? url + 6 : url;
    const char *colon = strrchr(start, ':');
    if (colon == NULL || !parse_u64(colon + 1, port)) {
        return false;
    }
    *host = start;
    *host_length = (size_t)(colon - start);
    return true;
}

/* Whether a TCP host means every interface. */
static bool host_any(const char *host, size_t length)
{
    static const char *const any[] = {"*", "0.0.0.0", "[::]", "::"};
    for (size_t i = 0; i < sizeof any / sizeof any[0]; i++) {
        if (strlen(any[i]) == length && strncmp(host, any[i], length) == 0) {
            return true;
        }
    }
    return false;
}

static bool addresses_collide(const char *a, const char *b)
{
    const char *host_a = NULL, *host_b = NULL;
    size_t length_a = 0, length_b = 0;
    uint64_t port_a = 0, port_b = 0;
    bool tcp_a = tcp_endpoint(a, &host_a, &length_a, &port_a);
    bool tcp_b = tcp_endpoint(b, &host_b, &length_b, &port_b);
    if (!tcp_a && !tcp_b) {
        return strcmp(a, b) == 0;
    }
    if (tcp_a != tcp_b || port_a != port_b) {
        return false;
    }
    return host_any(host_a, length_a) || host_any(host_b, length_b) ||
           (length_a == length_b && strncasecmp(host_a, host_b, length_a) == 0);
}

/* Where `key` came from: "FILE:LINE", "--key" or "its default". */
static void setting_origin(const struct config *config, const struct bound_address *address,
                           char *out, size_t size)
{
    size_t index = 0;
    (void)setting_find(address->key, &index);
    if (config->file_lines[index] > 0) {
        snprintf(out, size, "%s:%u", config->file_name, config->file_lines[index]);
    } else if (address->given) {
        snprintf(out, size, "--%s", address->key);
        for (char *c = out; *c != '\0'; c++) {
            *c = *c == '_' ? '-' : *c;
        }
    } else {
        snprintf(out, size, "its default");
    }
}

enum ledger_err config_addresses_check(const struct config *config, const char *listen_url,
                                       const char *events_url, char error[CONFIG_ERROR_SIZE])
{
    const struct bound_address addresses[] = {
        {"listen", listen_url, config->listen[0] != '\0'},
        {"events", events_url, config->events[0] != '\0'},
        {"metrics_listen", config->metrics_listen, true},
    };
    size_t count = config->metrics_listen[0] != '\0' ? 3 : 2;
    for (size_t second = 1; second < count; second++) {
        for (size_t first = 0; first < second; first++) {
            if (!addresses_collide(addresses[first].url, addresses[second].url)) {
                continue;
            }
            /* Blame the one that was given (both may have been). */
            const struct bound_address *blamed = &addresses[second];
            const struct bound_address *other = &addresses[first];
            if (!blamed->given) {
                blamed = &addresses[first];
                other = &addresses[second];
            }
            char where[CONFIG_PATH_SIZE + 32], other_where[CONFIG_PATH_SIZE + 32];
            setting_origin(config, blamed, where, sizeof where);
            setting_origin(config, other, other_where, sizeof other_where);
            bool in_file = where[0] != '-';
            set_error(error,
                      "%.200s%s%s%s \"%.120s\": the same address as %s (%.200s); the request "
                      "socket (listen), the doorbell (events) and the metrics endpoint "
                      "(metrics_listen) each need an address of their own: change one of them",
                      where, in_file ? ": " : "", in_file ? blamed->key : "", in_file ? " =" : "",
                      blamed->url, other->key, other_where);
            return LEDGER_ERR_INVALID_ARGUMENT;
        }
    }
    return LEDGER_ERR_OK;
}

/* Formats a byte count the way the parser reads it back, in the largest unit
 * that divides it. */
static void bytes_text(uint64_t bytes, char *out, size_t size)
{
    static const char *const units[] = {"T", "G", "M", "K"};
    static const unsigned shifts[] = {40, 30, 20, 10};
    for (size_t i = 0; i < 4; i++) {
        uint64_t unit = UINT64_C(1) << shifts[i];
        if (bytes >= unit && bytes % unit == 0) {
            snprintf(out, size, "%llu%s", (unsigned long long)(bytes / unit), units[i]);
            return;
        }
    }
    snprintf(out, size, "%llu", (unsigned long long)bytes);
}

enum ledger_err config_write_sample(const char *path, const char *data_dir_absolute)
{
    struct config defaults;
    config_defaults(&defaults);
    char listen[CONFIG_URL_SIZE] = "ipc://<data dir>/ledger.sock";
    char events[CONFIG_URL_SIZE] = "ipc://<data dir>/events.sock";
    if (config_default_url(data_dir_absolute, "ledger.sock", listen) != LEDGER_ERR_OK ||
        config_default_url(data_dir_absolute, "events.sock", events) != LEDGER_ERR_OK) {
        snprintf(listen, sizeof listen, "ipc://<data dir>/ledger.sock");
        snprintf(events, sizeof events, "ipc://<data dir>/events.sock");
    }
    char request_bytes[32], map_bytes[32], cache_bytes[32];
    bytes_text(defaults.request_bytes_max, request_bytes, sizeof request_bytes);
    bytes_text(defaults.map_bytes_max, map_bytes, sizeof map_bytes);
    bytes_text(defaults.state_cache_bytes_max, cache_bytes, sizeof cache_bytes);
    char values[CONFIG_SETTING_COUNT][CONFIG_URL_SIZE + CONFIG_PATH_SIZE];
    snprintf(values[0], sizeof values[0], "%s", data_dir_absolute);
    snprintf(values[1], sizeof values[1], "%s", listen);
    snprintf(values[2], sizeof values[2], "%s", events);
    snprintf(values[3], sizeof values[3], "%s", request_bytes);
    snprintf(values[4], sizeof values[4], "%u", defaults.batch_commands_max);
    snprintf(values[5], sizeof values[5], "%s", map_bytes);
    snprintf(values[6], sizeof values[6], "%u", defaults.auth_window_s);
    snprintf(values[7], sizeof values[7], "%s", log_level_name(defaults.log_level));
    snprintf(values[8], sizeof values[8], "off");
    snprintf(values[9], sizeof values[9], "%s", defaults.metrics_allow_remote ? "true" : "false");
    snprintf(values[10], sizeof values[10], "%u", defaults.slow_commit_ms);
    snprintf(values[11], sizeof values[11], "%s", cache_bytes);
    snprintf(values[12], sizeof values[12], "%u", defaults.expiry_sweep_s);
    snprintf(values[13], sizeof values[13], "%u", defaults.inflight_requests_max);
    _Static_assert(CONFIG_SETTING_COUNT == 14, "one sample value per setting");

    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        return LEDGER_ERR_IO_ERROR;
    }
    FILE *file = fdopen(fd, "w");
    if (file == NULL) {
        int error = errno;
        close(fd);
        unlink(path);
        errno = error;
        return LEDGER_ERR_IO_ERROR;
    }
    fprintf(file, "# ledgerd.conf: settings of ledgerd for this data directory.\n"
                  "#\n"
                  "# Each line below shows a setting at its default, commented out: remove\n"
                  "# the '#' and change the value to use another. Every setting can also be\n"
                  "# given on the command line (--listen URL, --log-level debug, ...), which\n"
                  "# wins over this file. Unknown settings are refused.\n"
                  "\n"
                  "[ledgerd]\n");
    for (size_t i = 0; i < CONFIG_SETTING_COUNT; i++) {
        fprintf(file, "\n# %s\n# %s = %s\n", config_settings[i].help, config_settings[i].key,
                values[i]);
    }
    bool ok = fflush(file) == 0 && fsync(fd) == 0;
    int error = errno;
    ok = fclose(file) == 0 && ok;
    if (!ok) {
        error = error != 0 ? error : errno;
        unlink(path);
        errno = error;
        return LEDGER_ERR_IO_ERROR;
    }
    return LEDGER_ERR_OK;
}
