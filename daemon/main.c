/*
 * main.c: the ledgerd executable: serve, init, rebuild, restore.
 *
 * Owns: the command line, the order of start-up (settings, first-start
 * initialization, engine, server) and exit codes: 0 success; 1 failure (and,
 * for rebuild, differences found); 2 usage or configuration errors.
 * Does not own: settings' meaning and parsing (config), serving (server), the
 * data directory's contents (engine).
 *
 * Never prints a secret: `init` says where the operator key file went. Nor
 * lets one reach a core dump: every command turns core dumps off first.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "crypto.h"
#include "engine.h"
#include "error.h"
#include "log.h"
#include "metrics.h"
#include "progress.h"
#include "server.h"
#include "views.h"

#ifndef LEDGERD_VERSION
#define LEDGERD_VERSION "0.0.0"
#endif

#define EXIT_OK       0
#define EXIT_FAILURE_ 1
#define EXIT_USAGE    2

/* The operator key file's name inside a data directory. */
#define MAIN_OPERATOR_KEY_FILE "operator.key"
#define MAIN_OPERATOR_DEFAULT  "operator"
/* Settings given on the command line: one per setting at most, plus repeats. */
#define MAIN_SETTINGS_MAX 32
/* Files of a backup directory copied by restore (a backup holds a handful). */
#define MAIN_RESTORE_FILES_MAX 64

static const char usage_text[] =
    "usage: ledgerd [--data DIR] [--config FILE] [--listen URL] [--events URL]\n"
    "               [--log-level error|warn|info|debug] [--request-bytes-max N]\n"
    "               [--batch-commands-max N] [--map-bytes-max N] [--auth-window-s S]\n"
    "               [--slow-commit-ms MS] [--metrics-listen HOST:PORT|off]\n"
    "               [--metrics-allow-remote true|false] [--state-cache-bytes-max N]\n"
    "               [--expiry-sweep-s S] [--inflight-requests-max N]\n"
    "       ledgerd init --data DIR [--operator ID]\n"
    "       ledgerd rebuild --data DIR [--config FILE]\n"
    "       ledgerd restore --from BACKUP --data DIR [--head-key FILE] [--config FILE]\n"
    "       ledgerd --help | --version\n"
    "\n"
    "Serves the ledger in DIR (default ./ledger-data, initialized on first start)\n"
    "on a nanomsg request socket (default ipc://<DIR>/ledger.sock) and publishes a\n"
    "doorbell after each commit (default ipc://<DIR>/events.sock). Settings come\n"
    "from the command line, then the config file (--config, or DIR/ledgerd.conf\n"
    "when it exists), then defaults; see DIR/ledgerd.conf for all of them.\n"
    "SIGTERM or SIGINT: finish the requests in flight and exit 0. Exit 1 when the\n"
    "storage became unusable (a failed write; see the log): restart it.\n"
    "\n"
    "commands:\n"
    "  init      create DIR: the store, the head-signing key, a config file and a\n"
    "            first operator principal (default id \"operator\") whose secret is\n"
    "            written to DIR/operator.key (mode 0600)\n"
    "  rebuild   replay the log into fresh views and compare them with the old\n"
    "            ones (the daemon must be stopped); exit 0 same, 1 differences\n"
    "  restore   copy a backup directory (written by the daemon's backup query)\n"
    "            into a new data directory, never over an existing one;\n"
    "            --head-key copies the head-signing key, which backups lack.\n"
    "            It prints that key's public key (or that of a backup's own\n"
    "            head.key) to compare with the one published for the ledger's\n"
    "            auditors, and warns when, without --head-key, it keeps a\n"
    "            backup's own head.key unchecked\n"
    "\n"
    "exit status: 0 success, 1 failure (rebuild: differences), 2 usage or config error\n"
    "(rebuild: also a rebuild that failed)\n";

static void usage_error(const char *format, ...) __attribute__((format(printf, 1, 2)));
static void usage_error(const char *format, ...)
{
    fprintf(stderr, "ledgerd: ");
    va_list args;
    va_start(args, format);
    vfprintf(stderr, format, args);
    va_end(args);
    fprintf(stderr, "\n(see ledgerd --help)\n");
}

/* --- command line ------------------------------------------------------------------- */

enum main_option {
    OPTION_HELP = 'h',
    OPTION_VERSION = 'V',
    OPTION_CONFIG = 256,
    OPTION_OPERATOR,
    OPTION_FROM,
    OPTION_HEAD_KEY,
    OPTION_SETTING, /* and up: one per setting, in setting_options order */
};

/* Settings as options: --log-level sets log_level. */
static const char *const setting_keys[] = {
    "data",
    "listen",
    "events",
    "request_bytes_max",
    "batch_commands_max",
    "map_bytes_max",
    "auth_window_s",
    "log_level",
    "metrics_listen",
    "slow_commit_ms",
    "metrics_allow_remote",
    "state_cache_bytes_max",
    "expiry_sweep_s",
    "inflight_requests_max",
};
#define SETTING_COUNT (sizeof setting_keys / sizeof setting_keys[0])

struct command_line {
    const char *command; /* NULL (serve), "init", "rebuild", "restore" */
    const char *config_path;
    const char *operator_id;
    const char *from;
    const char *head_key;
    size_t setting_count;
    const char *setting_key[MAIN_SETTINGS_MAX];
    const char *setting_value[MAIN_SETTINGS_MAX];
    bool data_given;
    const char *data_dir; /* the last --data */
};

static int command_line_parse(int argc, char **argv, struct command_line *line)
{
    /* Long names with dashes for each setting key. */
    static char names[SETTING_COUNT][32];
    struct option options[SETTING_COUNT + 8];
    size_t n = 0;
    for (size_t i = 0; i < SETTING_COUNT; i++) {
        snprintf(names[i], sizeof names[i], "%s", setting_keys[i]);
        for (char *c = names[i]; *c; c++) {
            if (*c == '_') {
                *c = '-';
            }
        }
        options[n++] = (struct option){names[i], required_argument, NULL, OPTION_SETTING + (int)i};
    }
    options[n++] = (struct option){"config", required_argument, NULL, OPTION_CONFIG};
    options[n++] = (struct option){"operator", required_argument, NULL, OPTION_OPERATOR};
    options[n++] = (struct option){"from", required_argument, NULL, OPTION_FROM};
    options[n++] = (struct option){"head-key", required_argument, NULL, OPTION_HEAD_KEY};
    options[n++] = (struct option){"help", no_argument, NULL, OPTION_HELP};
    options[n++] = (struct option){"version", no_argument, NULL, OPTION_VERSION};
    options[n] = (struct option){NULL, 0, NULL, 0};

    memset(line, 0, sizeof *line);
    int first = 1;
    if (argc > 1 && argv[1][0] != '-') {
        line->command = argv[1];
        if (strcmp(line->command, "init") != 0 && strcmp(line->command, "rebuild") != 0 &&
            strcmp(line->command, "restore") != 0) {
            usage_error("unknown command \"%s\"", line->command);
            return EXIT_USAGE;
        }
        first = 2;
    }
    /* getopt_long starts at optind; skip the command word. */
    optind = first;
    opterr = 0;
    for (;;) {
        int index = 0;
        int c = getopt_long(argc, argv, ":hV", options, &index);
        if (c == -1) {
            break;
        }
        switch (c) {
        case OPTION_HELP:
            fputs(usage_text, stdout);
            return -1;
        case OPTION_VERSION:
            printf("ledgerd %s\n", LEDGERD_VERSION);
            return -1;
        case OPTION_CONFIG:
            line->config_path = optarg;
            break;
        case OPTION_OPERATOR:
            line->operator_id = optarg;
            break;
        case OPTION_FROM:
            line->from = optarg;
            break;
        case OPTION_HEAD_KEY:
            line->head_key = optarg;
            break;
        case ':':
            usage_error("%s needs a value", argv[optind - 1]);
            return EXIT_USAGE;
        case '?':
            usage_error("unknown option \"%s\"", argv[optind - 1]);
            return EXIT_USAGE;
        default:
            if (c >= OPTION_SETTING && c < OPTION_SETTING + (int)SETTING_COUNT) {
                if (line->setting_count >= MAIN_SETTINGS_MAX) {
                    usage_error("more than %d settings on the command line; put them in the "
                                "config file (--config FILE)",
                                MAIN_SETTINGS_MAX);
                    return EXIT_USAGE;
                }
                const char *key = setting_keys[c - OPTION_SETTING];
                line->setting_key[line->setting_count] = key;
                line->setting_value[line->setting_count] = optarg;
                line->setting_count++;
                if (strcmp(key, "data") == 0) {
                    line->data_given = true;
                    line->data_dir = optarg;
                }
            } else {
                usage_error("unknown option \"%s\"", argv[optind - 1]);
                return EXIT_USAGE;
            }
        }
    }
    if (optind < argc) {
        usage_error("unexpected argument \"%s\"", argv[optind]);
        return EXIT_USAGE;
    }
    if (line->operator_id && (line->command == NULL || strcmp(line->command, "init") != 0)) {
        usage_error("%s is only for ledgerd init", "--operator");
        return EXIT_USAGE;
    }
    if ((line->from || line->head_key) &&
        (line->command == NULL || strcmp(line->command, "restore") != 0)) {
        usage_error("%s are only for ledgerd restore", "--from and --head-key");
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

/* Warns when users other than the file's owner may write the config file
 * at `path`: they could point the daemon at another data directory, open
 * its sockets over TCP or its metrics endpoint to the network. It is used
 * all the same (it holds no secret, and the daemon's user may mean it). */
static void config_mode_check(const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0 && (st.st_mode & 022) != 0) {
        char quoted[LOG_QUOTE_SIZE(256)];
        log_write(LOG_LEVEL_WARN, "config file writable by other users",
                  "config=%s mode=%03o action=\"chmod go-w it: whoever may write it chooses the "
                  "data directory, the sockets and the metrics endpoint\"",
                  log_quote(path, 256, quoted, sizeof quoted), (unsigned)(st.st_mode & 0777));
    }
}

/* Settings: defaults, then the config file, then the command line. */
static int settings_resolve(const struct command_line *line, struct config *config)
{
    const char *loaded = NULL;
    char path[CONFIG_PATH_SIZE + 32];
    char error[CONFIG_ERROR_SIZE];
    config_defaults(config);
    if (line->config_path != NULL) {
        if (config_load(config, line->config_path, error) != LEDGER_ERR_OK) {
            fprintf(stderr, "ledgerd: %s\n", error);
            return EXIT_USAGE;
        }
        loaded = line->config_path;
    } else {
        const char *dir = line->data_given ? line->data_dir : CONFIG_DATA_DIR_DEFAULT;
        int n = snprintf(path, sizeof path, "%s/%s", dir, CONFIG_FILE_NAME);
        if (n > 0 && (size_t)n < sizeof path && access(path, F_OK) == 0) {
            if (config_load(config, path, error) != LEDGER_ERR_OK) {
                fprintf(stderr, "ledgerd: %s\n", error);
                return EXIT_USAGE;
            }
            loaded = path;
        }
    }
    for (size_t i = 0; i < line->setting_count; i++) {
        const char *key = line->setting_key[i];
        if (config_set(config, key, line->setting_value[i], error) != LEDGER_ERR_OK) {
            /* config_set names the file's key ("map_bytes_max = \"1M\": ..."):
             * name the option as it was typed instead (--map-bytes-max). */
            char option[32];
            snprintf(option, sizeof option, "%s", key);
            for (char *c = option; *c; c++) {
                *c = *c == '_' ? '-' : *c;
            }
            size_t length = strlen(key);
            const char *rest = error;
            if (strncmp(error, key, length) == 0) {
                rest = error + length; /* " = \"VALUE\": reason" or ": reason" */
                rest += strncmp(rest, " = ", 3) == 0 ? 2 : 0;
            }
            fprintf(stderr, "ledgerd: --%s%s\n", option, rest);
            return EXIT_USAGE;
        }
    }
    log_set_level(config->log_level);
    if (loaded != NULL) {
        config_mode_check(loaded);
    }
    return EXIT_OK;
}

/* An absolute form of `path`, which may not exist yet: realpath when it
 * exists; else, when its parent exists, the parent's realpath joined with
 * its last name (so that the path named before the directory is made is
 * the one realpath gives once it is: a default socket address too long
 * through a link is refused before anything is made); else the working
 * directory joined. */
static int path_absolute(const char *path, char out[CONFIG_PATH_SIZE])
{
    char resolved[PATH_MAX];
    if (realpath(path, resolved) != NULL) {
        int n = snprintf(out, CONFIG_PATH_SIZE, "%s", resolved);
        return (n < 0 || n >= CONFIG_PATH_SIZE) ? -1 : 0;
    }
    /* Trailing slashes name the same directory ("ledger-data/"): without
     * them a directory yet to be made is named through its parent's
     * realpath like any other, as it will be once made, and no "//" shows
     * in the paths built on it. */
    char trimmed[PATH_MAX];
    size_t length = strnlen(path, sizeof trimmed);
    if (length >= sizeof trimmed) {
        return -1;
    }
    memcpy(trimmed, path, length + 1);
    while (length > 1 && trimmed[length - 1] == '/') {
        trimmed[--length] = '\0';
    }
    path = trimmed;
    const char *slash = strrchr(path, '/');
    if (slash != NULL && slash != path && slash[1] != '\0' && strcmp(slash + 1, ".") != 0 &&
        strcmp(slash + 1, "..") != 0 && (size_t)(slash - path) < PATH_MAX) {
        char parent[PATH_MAX];
        memcpy(parent, path, (size_t)(slash - path));
        parent[slash - path] = '\0';
        if (realpath(parent, resolved) != NULL) {
            int n = snprintf(out, CONFIG_PATH_SIZE, "%s%s%s", resolved,
                             strcmp(resolved, "/") == 0 ? "" : "/", slash + 1);
            return (n < 0 || n >= CONFIG_PATH_SIZE) ? -1 : 0;
        }
    }
    if (path[0] == '/') {
        int n = snprintf(out, CONFIG_PATH_SIZE, "%s", path);
        return (n < 0 || n >= CONFIG_PATH_SIZE) ? -1 : 0;
    }
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof cwd) == NULL) {
        return -1;
    }
    /* "./ledger-data" (the default) is named as "<cwd>/ledger-data". */
    while (path[0] == '.' && path[1] == '/') {
        path += 2;
        while (path[0] == '/') {
            path++;
        }
    }
    int n = path[0] == '\0' ? snprintf(out, CONFIG_PATH_SIZE, "%s", cwd)
                            : snprintf(out, CONFIG_PATH_SIZE, "%s/%s", cwd, path);
    return (n < 0 || n >= CONFIG_PATH_SIZE) ? -1 : 0;
}

static int path_join(const char *dir, const char *name, char out[CONFIG_PATH_SIZE])
{
    int n = snprintf(out, CONFIG_PATH_SIZE, "%s/%s", dir, name);
    return (n < 0 || n >= CONFIG_PATH_SIZE) ? -1 : 0;
}

/* Whether a data directory was never initialized: missing, or without the
 * store and the head key (it may already hold a config file): a first start. */
static bool directory_fresh(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        return errno == ENOENT;
    }
    char data[CONFIG_PATH_SIZE], key[CONFIG_PATH_SIZE];
    if (!S_ISDIR(st.st_mode) || path_join(path, "data.mdb", data) != 0 ||
        path_join(path, "head.key", key) != 0) {
        return false;
    }
    return access(data, F_OK) != 0 && errno == ENOENT && access(key, F_OK) != 0 && errno == ENOENT;
}

static void engine_options_from(const struct config *config, const char *data_dir,
                                struct engine_options *options)
{
    memset(options, 0, sizeof *options);
    options->data_dir = data_dir;
    options->map_bytes_max = config->map_bytes_max;
    options->batch_commands_max = config->batch_commands_max;
    options->state_cache_bytes_max = config->state_cache_bytes_max;
}

/* Whether `dir` holds a head.key but no store: the store was lost or moved
 * away. Neither init (a signing key is there) nor a start can proceed. */
static bool head_key_without_store(const char *dir)
{
    char key[CONFIG_PATH_SIZE];
    return !engine_present(dir) && path_join(dir, "head.key", key) == 0 && access(key, F_OK) == 0;
}

/* Whether `path` exists and is something other than a directory. */
static bool path_is_not_directory(const char *path)
{
    struct stat info;
    return stat(path, &info) == 0 && !S_ISDIR(info.st_mode);
}

/* Whether a path above `dir` (its parent, or one further up) exists and is
 * something other than a directory, so that `dir` can never be one; the
 * first such path goes to `file`. */
static bool path_has_file_above(const char *dir, char file[CONFIG_PATH_SIZE])
{
    int n = snprintf(file, CONFIG_PATH_SIZE, "%s", dir);
    if (n <= 0 || n >= CONFIG_PATH_SIZE) {
        return false;
    }
    for (char *slash = strchr(file + 1, '/'); slash != NULL; slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        if (path_is_not_directory(file)) {
            return true;
        }
        *slash = '/';
    }
    return false;
}

/* Says, when a path above `dir` is a file (path_has_file_above), that `dir`
 * cannot be a data directory and which file is in the way; returns whether
 * it did. */
static bool print_file_above(const char *what, const char *dir)
{
    char file[CONFIG_PATH_SIZE];
    if (!path_has_file_above(dir, file)) {
        return false;
    }
    fprintf(stderr,
            "ledgerd: %s: %s cannot be a directory: %s on its path is a file, not a directory; "
            "give --data a path of directories (ledgerd init --data DIR creates the last one)\n",
            what, dir, file);
    return true;
}

/* Says, when `dir` cannot even be looked up for a reason other than its
 * absence (a name too long, a loop of links), that reason and to give
 * another --data; returns whether it did. */
static bool print_path_unusable(const char *what, const char *dir)
{
    struct stat st;
    if (stat(dir, &st) == 0 || errno == ENOENT) {
        return false;
    }
    fprintf(stderr, "ledgerd: %s %s: %s; give --data another directory\n", what, dir,
            strerror(errno));
    return true;
}

static void print_head_key_without_store(const char *what, const char *dir)
{
    fprintf(stderr,
            "ledgerd: %s: %s holds a head-signing key (head.key) but no ledger (no data.mdb): "
            "its store is missing. To bring the ledger back, restore a backup into a new "
            "directory with `ledgerd restore --from BACKUP --data NEWDIR --head-key "
            "%s/head.key`; to start a new ledger here, first move head.key away (keep it while "
            "anyone holds heads it signed)\n",
            what, dir, dir);
}

/* Whether the head.key of `dir`, a ledger's, is there but cannot be used
 * (it cannot be read, or holds no head-signing key), after saying what is
 * wrong with it and why. A missing one is a backup's case, said elsewhere. */
static bool print_head_key_unusable(const char *what, const char *dir)
{
    char key_path[CONFIG_PATH_SIZE], message[ENGINE_MESSAGE_SIZE];
    if (!engine_present(dir) || path_join(dir, "head.key", key_path) != 0) {
        return false;
    }
    enum ledger_err err = engine_check_head_key_file(key_path, NULL, message);
    if (err == LEDGER_ERR_OK || err == LEDGER_ERR_NOT_FOUND) {
        return false;
    }
    fprintf(stderr,
            "ledgerd: %s %s: its head-signing key %s is there but cannot be used: %s; put a "
            "copy of this ledger's head.key there (the file of 128 hex digits ledgerd init "
            "wrote, mode 0600)\n",
            what, dir, key_path, message);
    return true;
}

/* "user NAME (uid N)" for `uid`, or "uid N" when it has no name; the name
 * alone also goes to `name` when given. Whether it has one. */
static bool user_name(uid_t uid, char *out, size_t size, char *name, size_t name_size)
{
    const struct passwd *user = getpwuid(uid);
    if (user == NULL || user->pw_name == NULL) {
        snprintf(out, size, "uid %u", (unsigned)uid);
        return false;
    }
    snprintf(out, size, "user %s (uid %u)", user->pw_name, (unsigned)uid);
    if (name != NULL) {
        snprintf(name, name_size, "%s", user->pw_name);
    }
    return true;
}

/* Says, when this process may not use `dir` (engine_dir_access_denied),
 * which path refused it and that ledgerd must run as the directory's owner;
 * returns whether it did. */
static bool print_access_denied(const char *what, const char *dir)
{
    char denied[PATH_MAX];
    if (!engine_dir_access_denied(dir, true, denied)) {
        return false;
    }
    char self[96], owner[96];
    user_name(geteuid(), self, sizeof self, NULL, 0);
    struct stat st;
    if (stat(dir, &st) == 0) {
        /* sudo -u takes a name, or #uid. */
        char sudo_user[64];
        if (!user_name(st.st_uid, owner, sizeof owner, sudo_user, sizeof sudo_user)) {
            snprintf(sudo_user, sizeof sudo_user, "#%u", (unsigned)st.st_uid);
        }
        fprintf(stderr,
                "ledgerd: %s %s: permission denied on %s for %s: ledgerd must run as the data "
                "directory's owner, %s, and every directory above it must let that user "
                "through: run it as that user (e.g. sudo -u %s ledgerd ...), or give --data "
                "a directory of this user's\n",
                what, dir, denied, self, owner, sudo_user);
    } else {
        fprintf(stderr,
                "ledgerd: %s %s: permission denied on %s for %s, which may not create the "
                "directory there: create it as a user that may, owned by the user ledgerd runs "
                "as (e.g. install -d -m 700 -o USER %s), or give --data a directory this user "
                "may create\n",
                what, dir, denied, self, dir);
    }
    return true;
}

static void print_engine_error(const char *what, const char *dir, enum ledger_err err)
{
    if (print_access_denied(what, dir)) {
        return;
    }
    if ((err == LEDGER_ERR_IO_ERROR || err == LEDGER_ERR_CORRUPT) &&
        print_head_key_unusable(what, dir)) {
        return;
    }
    if (path_is_not_directory(dir)) {
        fprintf(stderr,
                "ledgerd: %s: %s is not a directory: give --data a data directory (ledgerd "
                "init --data DIR creates one)\n",
                what, dir);
    } else if (print_file_above(what, dir)) {
        /* said */
    } else if (print_path_unusable(what, dir)) {
        /* said */
    } else if (err == LEDGER_ERR_DATA_DIR_LOCKED) {
        fprintf(stderr,
                "ledgerd: %s is in use by another ledgerd process (it holds %s/ledgerd.lock); "
                "stop that one first or use another --data directory\n",
                dir, dir);
    } else if (err == LEDGER_ERR_NOT_FOUND && engine_present(dir)) {
        fprintf(stderr,
                "ledgerd: %s: %s holds a ledger but not its head-signing key (head.key), like a "
                "backup: copy the original data directory's head.key into it (or restore it "
                "with `ledgerd restore --head-key FILE`); do not run ledgerd init on it\n",
                what, dir);
    } else if (err == LEDGER_ERR_NOT_FOUND && head_key_without_store(dir)) {
        print_head_key_without_store(what, dir);
    } else if (err == LEDGER_ERR_NOT_FOUND) {
        fprintf(stderr, "ledgerd: %s: %s is not an initialized data directory (run ledgerd init)\n",
                what, dir);
    } else {
        const char *detail = engine_open_detail();
        fprintf(stderr, "ledgerd: %s %s: %s (%s)%s%s\n", what, dir, ledger_strerror(err),
                ledger_err_name(err), detail[0] ? ": " : "", detail);
    }
}

/* --- init --------------------------------------------------------------------------- */

/* The directory `dir` names its entry in: *parent, and whether there is one
 * to name ("/srv/ledger" is in "/srv"; "ledger" and "/ledger" name none). */
static bool parent_dir(const char *dir, char parent[CONFIG_PATH_SIZE])
{
    snprintf(parent, CONFIG_PATH_SIZE, "%s", dir);
    char *slash = strrchr(parent, '/');
    if (slash == NULL) {
        return false;
    }
    *slash = '\0';
    return parent[0] != '\0';
}

/* Says why the data directory `dir` could not be made when its parent does
 * not exist (errno `error`); returns whether it did. */
static bool print_missing_parent(const char *dir, int error)
{
    char parent[CONFIG_PATH_SIZE];
    if (error != ENOENT || !parent_dir(dir, parent)) {
        return false;
    }
    fprintf(stderr,
            "ledgerd: cannot create the data directory %s: its parent directory %s does not "
            "exist: create it first (mkdir -p %s), or give --data a directory whose parent "
            "exists\n",
            dir, parent, parent);
    return true;
}

/* Says that the data directory `dir` could not be made, with errno `error`. */
static void print_create_failure(const char *dir, int error)
{
    fprintf(stderr,
            "ledgerd: cannot create the data directory %s: %s; fix that, or give --data "
            "another directory\n",
            dir, strerror(error));
}

/* Makes the data directory `dir` (absolute; mode 0700), setting *created,
 * or says why it cannot be made and what to do. One that another process
 * made meanwhile (a concurrent first start) is no failure: *created is then
 * false, and the initialization's lock decides which of the two goes on. */
static bool data_dir_create(const char *dir, bool *created)
{
    *created = mkdir(dir, 0700) == 0;
    if (*created || errno == EEXIST) {
        return true;
    }
    int error = errno;
    if (!print_missing_parent(dir, error) &&
        !print_access_denied("cannot create the data directory", dir)) {
        print_create_failure(dir, error);
    }
    return false;
}

/* Initializes `dir` (absolute). Returns the engine's code; reports on stdout
 * (init command) or as log lines (first start of the daemon). */
static enum ledger_err data_dir_initialize_now(const struct config *config, const char *dir,
                                               const char *operator_id, bool as_log)
{
    char key_path[CONFIG_PATH_SIZE], config_path[CONFIG_PATH_SIZE];
    if (path_join(dir, MAIN_OPERATOR_KEY_FILE, key_path) != 0 ||
        path_join(dir, CONFIG_FILE_NAME, config_path) != 0) {
        fprintf(stderr, "ledgerd: %s: path too long\n", dir);
        return LEDGER_ERR_INVALID_ARGUMENT;
    }
    /* The store, the keys and the IPC sockets live in it: an existing
     * directory other users can reach is refused, never tightened behind
     * its owner's back (one made here is made 0700). */
    struct stat st;
    if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 077) != 0) {
        fprintf(stderr,
                "ledgerd: cannot initialize %s: other users can reach it (mode %03o), and the "
                "ledger's keys and sockets must be its owner's alone: run chmod 700 %s, or give "
                "a directory that does not exist yet\n",
                dir, (unsigned)(st.st_mode & 0777), dir);
        return LEDGER_ERR_FORBIDDEN;
    }
    /* The new operator's secret goes to operator.key: one found there (the
     * operator's of a ledger whose store was moved away, still needed to
     * use a backup of it) would be replaced and lost. (An initialized
     * directory is refused below as such.) */
    if (directory_fresh(dir) && lstat(key_path, &st) == 0 && !S_ISDIR(st.st_mode)) {
        fprintf(stderr,
                "ledgerd: cannot initialize %s: it already holds an operator.key, which "
                "initializing would replace with the new operator's: move it away (keep it if "
                "it is the key of a ledger you may restore), then initialize again\n",
                dir);
        return LEDGER_ERR_PRINCIPAL_EXISTS;
    }
    /* Made here rather than by engine_init, so that a failure names its
     * cause; removed again if init fails. */
    bool dir_created = false;
    bool absent = lstat(dir, &st) != 0;
    if (absent && errno != ENOENT) {
        /* Not even looked up: a file on the way, a directory on the way
         * this user may not pass, a name too long, a loop of links. */
        int error = errno;
        if (!print_file_above("cannot initialize", dir) &&
            !print_access_denied("cannot initialize", dir)) {
            print_create_failure(dir, error);
        }
        return LEDGER_ERR_IO_ERROR;
    }
    if (absent && !data_dir_create(dir, &dir_created)) {
        return LEDGER_ERR_IO_ERROR;
    }
    struct engine_options options;
    engine_options_from(config, dir, &options);
    enum ledger_err err = engine_init(&options, operator_id, key_path);
    if (err == LEDGER_ERR_DATA_DIR_LOCKED) {
        /* Another process is initializing it: what is in it is that one's. */
        fprintf(stderr,
                "ledgerd: cannot initialize %s: another ledgerd process is initializing it "
                "right now; let that one finish (then start ledgerd on it, or stop the one "
                "that serves it)\n",
                dir);
        return err;
    }
    if (err != LEDGER_ERR_OK && dir_created) {
        rmdir(dir);
    }
    if (err == LEDGER_ERR_PRINCIPAL_EXISTS) {
        char head_key[CONFIG_PATH_SIZE];
        if (path_join(dir, "head.key", head_key) == 0 && access(head_key, F_OK) != 0) {
            fprintf(stderr,
                    "ledgerd: %s already holds a ledger (a backup or a copy without its "
                    "head.key); init would give it a new signing key: copy the original "
                    "head.key into it instead\n",
                    dir);
        } else if (head_key_without_store(dir)) {
            print_head_key_without_store("cannot initialize", dir);
        } else {
            fprintf(stderr, "ledgerd: %s is already initialized\n", dir);
        }
        return err;
    }
    if (err != LEDGER_ERR_OK) {
        print_engine_error("cannot initialize", dir, err);
        fprintf(stderr,
                "ledgerd: nothing of it was kept in %s: once that is fixed, initialize it "
                "again\n",
                dir);
        return err;
    }
    bool config_written = false;
    if (access(config_path, F_OK) != 0) {
        const char *why = NULL;
        if (config_write_sample(config_path, dir) == LEDGER_ERR_OK) {
            config_written = true;
        } else {
            /* access() found no file there: one that exists all the same is
             * a link to a file that does not (never written through). */
            why = errno == EEXIST ? "it is a link to a file that does not exist" : strerror(errno);
        }
        if (why == NULL) {
            /* written */
        } else if (as_log) {
            char quoted[LOG_QUOTE_SIZE(256)];
            log_write(LOG_LEVEL_WARN, "sample config file not written",
                      "config=%s error=\"%s\" action=\"the settings are the defaults and the "
                      "command line's until a config file is there\"",
                      log_quote(config_path, 256, quoted, sizeof quoted), why);
        } else {
            fprintf(stderr,
                    "ledgerd: warning: cannot write the sample config file %s: %s; the "
                    "settings are the defaults and the command line's until a config file is "
                    "there\n",
                    config_path, why);
        }
    }
    if (as_log) {
        char quoted_dir[LOG_QUOTE_SIZE(256)], quoted_key[LOG_QUOTE_SIZE(256)];
        log_write(LOG_LEVEL_INFO, "initialized data directory", "data=%s operator=%s key_file=%s",
                  log_quote(dir, 256, quoted_dir, sizeof quoted_dir), operator_id,
                  log_quote(key_path, 256, quoted_key, sizeof quoted_key));
    } else {
        printf("initialized %s\n", dir);
        printf("operator principal \"%s\": its key is in %s (mode 0600; keep it secret)\n",
               operator_id, key_path);
        if (config_written) {
            printf("config file: %s\n", config_path);
        }
    }
    return LEDGER_ERR_OK;
}

/* data_dir_initialize_now with the signals that stop the daemon held back
 * until it is done: stopped in between (systemctl stop during a first start,
 * Ctrl-C), it would leave a store whose first operator has no key file, a
 * directory that passes for initialized and that nobody can use. A signal
 * that came meanwhile acts when it is over. */
static enum ledger_err data_dir_initialize(const struct config *config, const char *dir,
                                           const char *operator_id, bool as_log)
{
    sigset_t stop, previous;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGHUP);
    sigaddset(&stop, SIGQUIT);
    bool held = sigprocmask(SIG_BLOCK, &stop, &previous) == 0;
    enum ledger_err err = data_dir_initialize_now(config, dir, operator_id, as_log);
    if (held) {
        sigprocmask(SIG_SETMASK, &previous, NULL);
    }
    return err;
}

static int command_init(const struct command_line *line, const struct config *config)
{
    if (!line->data_given) {
        usage_error("%s", "init needs --data DIR");
        return EXIT_USAGE;
    }
    char dir[CONFIG_PATH_SIZE];
    if (path_absolute(config->data_dir, dir) != 0) {
        fprintf(stderr, "ledgerd: %s: path too long\n", config->data_dir);
        return EXIT_USAGE;
    }
    const char *operator_id = line->operator_id ? line->operator_id : MAIN_OPERATOR_DEFAULT;
    /* Checked before anything is created: engine_init would refuse it too,
     * but a usage error deserves its own words. */
    char message[ENGINE_MESSAGE_SIZE];
    if (engine_operator_id_check(operator_id, message) != LEDGER_ERR_OK) {
        fprintf(stderr, "ledgerd: --operator \"%s\": %s; choose another id\n", operator_id,
                message);
        return EXIT_USAGE;
    }
    enum ledger_err err = data_dir_initialize(config, dir, operator_id, false);
    return err == LEDGER_ERR_OK ? EXIT_OK : EXIT_FAILURE_;
}

/* --- rebuild ------------------------------------------------------------------------ */

struct rebuild_context {
    struct progress progress;
    bool started;
};

static void rebuild_progress(void *context, uint64_t done, uint64_t total)
{
    struct rebuild_context *rebuild = context;
    if (!rebuild->started) {
        /* Not started before the replay (a map growth starts it again). */
        progress_start(&rebuild->progress, "rebuild", "events", total, false);
        rebuild->started = true;
    }
    rebuild->progress.total = total;
    progress_update(&rebuild->progress, done);
    if (done >= total) {
        progress_finish(&rebuild->progress, done);
        rebuild->started = false;
    }
}

static void rebuild_report(void *context, const char *view, bool same)
{
    (void)context;
    printf("%-24s %s\n", view, same ? "same" : "DIFFERENT");
}

/* The subscription ids the rebuilt index shows two or more customers of
 * one partner holding: how many, and the first of them. */
struct rebuild_duplicates {
    size_t shown;
    char lines[LEDGER_REBUILD_DUPLICATES_SHOWN][VIEWS_DUPLICATE_TEXT_SIZE];
};

static enum ledger_err rebuild_duplicate(void *context,
                                         const struct views_subscription_duplicate *duplicate)
{
    struct rebuild_duplicates *found = context;
    if (found->shown < LEDGER_REBUILD_DUPLICATES_SHOWN) {
        views_subscription_duplicate_text(duplicate, found->lines[found->shown++]);
    }
    return LEDGER_ERR_OK;
}

/* After the views' report: the subscription ids a log of an earlier build
 * holds under two or more customers of one partner, counted, and the first
 * LEDGER_REBUILD_DUPLICATES_SHOWN named. A finding, not a failure: the exit
 * status is the views'. */
static void rebuild_duplicates_report(struct engine *engine, const char *data_dir)
{
    static struct rebuild_duplicates found; /* large: not on the stack */
    found.shown = 0;
    uint64_t ids = 0;
    enum ledger_err err = engine_subscription_duplicates(engine, rebuild_duplicate, &found, &ids);
    if (err != LEDGER_ERR_OK) {
        fprintf(stderr,
                "ledgerd: the rebuilt subscriptions index could not be read for ids that "
                "customers of one partner share: %s (%s); check %s with ledger-verify\n",
                ledger_strerror(err), ledger_err_name(err), data_dir);
        return;
    }
    if (ids == 0) {
        return;
    }
    printf("%llu " VIEWS_DUPLICATES_NOTE "; nothing is lost, and new purchases of such an id are "
           "refused for every customer of its partner (docs/operations.md, \"Subscription ids two "
           "customers hold\"):\n",
           (unsigned long long)ids);
    for (size_t i = 0; i < found.shown; i++) {
        printf("  %s\n", found.lines[i]);
    }
    if (ids > found.shown) {
        printf("  and %llu more: ledger-verify %s lists every one\n",
               (unsigned long long)(ids - found.shown), data_dir);
    }
}

static int command_rebuild(const struct command_line *line, const struct config *config)
{
    if (!line->data_given) {
        usage_error("%s", "rebuild needs --data DIR");
        return EXIT_USAGE;
    }
    struct engine_options options;
    engine_options_from(config, config->data_dir, &options);
    struct engine *engine = NULL;
    enum ledger_err err = engine_open(&options, &engine);
    if (err != LEDGER_ERR_OK) {
        print_engine_error("cannot open", config->data_dir, err);
        return EXIT_USAGE;
    }
    struct rebuild_context context = {0};
    unsigned differences = 0;
    uint64_t layout = 0;
    bool upgrade = !engine_views_current(engine, &layout);
    if (upgrade && layout == ENGINE_VIEWS_LAYOUT_REBUILDING) {
        printf("an earlier rebuild did not finish: deriving the views again, without "
               "comparing\n");
    } else if (upgrade) {
        printf("the views were written by %s build (layout %llu): deriving them again "
               "in this build's layout, without comparing\n",
               layout > ENGINE_VIEWS_LAYOUT ? "a newer" : "an older", (unsigned long long)layout);
    }
    err = engine_rebuild(engine, rebuild_progress, &context, rebuild_report, &differences);
    char why[ENGINE_MESSAGE_SIZE];
    uint64_t failed_at = err != LEDGER_ERR_OK ? engine_rebuild_failure(engine, why) : 0;
    if (err != LEDGER_ERR_OK) {
        engine_close(engine);
    }
    if (failed_at != 0) {
        fprintf(stderr,
                "ledgerd: rebuild failed at sequence %llu: %s (%s); the log is damaged there: "
                "check it with ledger-verify and restore a backup\n",
                (unsigned long long)failed_at, why, ledger_err_name(err));
        return EXIT_USAGE;
    }
    if (err != LEDGER_ERR_OK) {
        fprintf(stderr, "ledgerd: rebuild failed: %s (%s)\n", ledger_strerror(err),
                ledger_err_name(err));
        return EXIT_USAGE;
    }
    if (differences > 0) {
        printf("%u view(s) differed from the log's replay; they now match it\n", differences);
    } else {
        printf(upgrade ? "every view is derived again from the log; the data directory can serve\n"
                       : "every view matches the log's replay\n");
    }
    rebuild_duplicates_report(engine, config->data_dir);
    engine_close(engine);
    return differences > 0 ? EXIT_FAILURE_ : EXIT_OK;
}

/* --- restore ------------------------------------------------------------------------ */

/* Copies the regular file `from` into the new file `to` (mode `mode`).
 * `follow`: whether `from` may be a symbolic link (the operator's own
 * --head-key may; a file of a backup may not, since the daemon's user, who
 * writes backups, could point one at a file only root may read). */
static bool file_copy(const char *from, const char *to, mode_t mode, bool follow)
{
    /* O_NONBLOCK: a FIFO put in place of a file does not hang the open. */
    int in = open(from, O_RDONLY | O_CLOEXEC | O_NONBLOCK | (follow ? 0 : O_NOFOLLOW));
    if (in < 0) {
        return false;
    }
    struct stat info;
    if (fstat(in, &info) != 0 || !S_ISREG(info.st_mode)) {
        close(in);
        errno = EINVAL;
        return false;
    }
    int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (out < 0) {
        close(in);
        return false;
    }
    bool ok = true;
    char buffer[64 * 1024];
    for (;;) {
        ssize_t got = read(in, buffer, sizeof buffer);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            ok = got == 0;
            break;
        }
        for (ssize_t done = 0; done < got;) {
            ssize_t put = write(out, buffer + done, (size_t)(got - done));
            if (put < 0 && errno == EINTR) {
                continue;
            }
            if (put <= 0) {
                ok = false;
                break;
            }
            done += put;
        }
        if (!ok) {
            break;
        }
    }
    /* The buffer has just held the file's bytes, head.key's secret among
     * them: wiped before the stack frame is given back. */
    crypto_wipe(buffer, sizeof buffer);
    ok = ok && fsync(out) == 0;
    ok = (close(out) == 0) && ok;
    close(in);
    return ok;
}

/* Files that belong to one running environment and never to a copy. */
static bool restore_skipped(const char *name)
{
    return strcmp(name, "lock.mdb") == 0 || strcmp(name, "ledgerd.lock") == 0 ||
           strcmp(name, "ledger.sock") == 0 || strcmp(name, "events.sock") == 0;
}

/* A directory with more files to copy than any backup holds (a dumping
 * ground, or the wrong directory): says so and what to give instead. */
static void restore_say_crowded(const char *from)
{
    fprintf(stderr,
            "ledgerd: %s holds too many files for a backup (more than %d to copy, --head-key "
            "counted): a backup `ledgerctl backup` made holds data.mdb and head.pb; give that "
            "directory, or move the other files out of this one\n",
            from, MAIN_RESTORE_FILES_MAX);
}

static void restore_undo(const char *dir, char names[][NAME_MAX + 1], size_t count)
{
    char path[CONFIG_PATH_SIZE];
    for (size_t i = 0; i < count; i++) {
        if (path_join(dir, names[i], path) == 0) {
            unlink(path);
        }
    }
    /* Files engine_open may have made in the new directory. */
    const char *made[] = {"lock.mdb", "ledgerd.lock"};
    for (size_t i = 0; i < 2; i++) {
        if (path_join(dir, made[i], path) == 0) {
            unlink(path);
        }
    }
    rmdir(dir);
}

/* Checks --head-key before anything is written: a file that is not a
 * head-signing key (a principal's key file given by mistake) or not the key
 * that signed the backup's head would otherwise make the restored copy fail
 * to open, or sign heads no saved head matches. A backup with its own
 * head.key keeps it, so that key must be --head-key's: another one (planted
 * by whoever could write the backup) would sign heads no auditor's saved
 * head matches, or vouch for a head.pb forged with it. Returns 0 when
 * restore may go on, else -1 after saying why. */
static int restore_head_key_refused(const struct command_line *line)
{
    char own[CONFIG_PATH_SIZE], head[CONFIG_PATH_SIZE], message[ENGINE_MESSAGE_SIZE];
    struct stat st;
    if (line->head_key == NULL) {
        return 0;
    }
    /* Read here and again when copied: a pipe (a process substitution,
     * <(...)) is empty the second time, and a FIFO nobody writes would hang
     * the first read. Only a regular file holds a key for both. */
    if (stat(line->head_key, &st) == 0 && !S_ISREG(st.st_mode)) {
        fprintf(stderr,
                "ledgerd: --head-key %s is %s, not a file: give the path of a copy of the "
                "head.key of the data directory the backup was taken from\n",
                line->head_key,
                S_ISDIR(st.st_mode)    ? "a directory"
                : S_ISFIFO(st.st_mode) ? "a pipe (restore reads the key twice)"
                                       : "a device or socket");
        return -1;
    }
    bool has_own = path_join(line->from, "head.key", own) == 0 && lstat(own, &st) == 0;
    enum ledger_err err =
        has_own
            ? engine_check_head_keys_same(line->head_key, own, message)
            : engine_check_head_key_file(line->head_key,
                                         path_join(line->from, "head.pb", head) == 0 ? head : NULL,
                                         message);
    if (err == LEDGER_ERR_OK) {
        return 0;
    }
    if (err == LEDGER_ERR_INVALID_ARGUMENT) {
        fprintf(stderr,
                "ledgerd: --head-key %s is not a head-signing key: %s; give a copy of the "
                "head.key of the data directory the backup was taken from\n",
                line->head_key, message);
    } else if (err == LEDGER_ERR_MISMATCH && has_own) {
        fprintf(stderr,
                "ledgerd: the backup's head.key is not the key --head-key %s gives: %s; the "
                "backup is of another ledger or was altered: check it with `ledger-verify "
                "--head SAVED-HEAD %s` against a head saved from the ledger, or restore from "
                "another backup\n",
                line->head_key, message, line->from);
    } else if (err == LEDGER_ERR_MISMATCH) {
        fprintf(stderr,
                "ledgerd: --head-key %s is not the key that signed the backup's head: %s; give "
                "a copy of the head.key of the data directory the backup was taken from\n",
                line->head_key, message);
    } else {
        fprintf(stderr, "ledgerd: cannot read --head-key %s: %s\n", line->head_key,
                message[0] ? message : ledger_strerror(err));
    }
    return -1;
}

/* Whether the head.key restore copied from the backup into `dir` (without
 * --head-key, which is checked before) holds no head-signing key, after
 * saying so: the copy then fails to open, and its log is not to blame. */
static bool restore_own_head_key_unusable(const struct command_line *line, const char *dir)
{
    char key_path[CONFIG_PATH_SIZE], message[ENGINE_MESSAGE_SIZE];
    if (line->head_key != NULL || path_join(dir, "head.key", key_path) != 0) {
        return false;
    }
    enum ledger_err err = engine_check_head_key_file(key_path, NULL, message);
    if (err == LEDGER_ERR_OK || err == LEDGER_ERR_NOT_FOUND) {
        return false;
    }
    fprintf(stderr,
            "ledgerd: the backup's head.key (%s/head.key) cannot be used: %s; restore again "
            "with --head-key FILE, a copy of the original head.key kept apart from the "
            "backups, or from a backup `ledgerctl backup` made (which holds none)\n",
            line->from, message[0] ? message : ledger_strerror(err));
    return true;
}

/* Copies the backup line->from into the new directory `dir` and opens the
 * copy; removes it again when anything fails. */
static int restore_into(const struct command_line *line, const struct config *config,
                        const char *dir)
{
    struct stat st;
    if (mkdir(dir, 0700) != 0) {
        int error = errno;
        char parent[CONFIG_PATH_SIZE];
        if (print_missing_parent(dir, error)) {
            /* said */
        } else if (error == EACCES || error == EPERM) {
            fprintf(stderr,
                    "ledgerd: cannot create the data directory %s: %s: run restore as a user "
                    "that may create it in %s (root, when that directory is root's), then give "
                    "the new directory to the user ledgerd runs as (e.g. chown -R "
                    "ledgerd:ledgerd %s)\n",
                    dir, strerror(error), parent_dir(dir, parent) ? parent : ".", dir);
        } else {
            print_create_failure(dir, error);
        }
        return EXIT_FAILURE_;
    }
    static char names[MAIN_RESTORE_FILES_MAX][NAME_MAX + 1];
    size_t count = 0;
    bool ok = true;
    bool has_head_key = false;
    DIR *source = opendir(line->from);
    if (source == NULL) {
        fprintf(stderr, "ledgerd: cannot read %s: %s\n", line->from, strerror(errno));
        ok = false;
    }
    struct dirent *entry;
    while (ok && (entry = readdir(source)) != NULL) {
        char from[CONFIG_PATH_SIZE], to[CONFIG_PATH_SIZE];
        if (restore_skipped(entry->d_name) || path_join(line->from, entry->d_name, from) != 0 ||
            lstat(from, &st) != 0) {
            continue;
        }
        if (S_ISLNK(st.st_mode)) {
            /* Never followed: restore runs as root, and its copy is then
             * given to the daemon's user, who may write the backups. */
            fprintf(stderr,
                    "ledgerd: %s is a symbolic link: a backup holds its own files only, and "
                    "restore follows no link out of it; remove the link (or restore from a "
                    "backup `ledgerctl backup` made)\n",
                    from);
            ok = false;
            break;
        }
        if (!S_ISREG(st.st_mode)) {
            continue;
        }
        if (count >= MAIN_RESTORE_FILES_MAX || path_join(dir, entry->d_name, to) != 0) {
            restore_say_crowded(line->from);
            ok = false;
            break;
        }
        snprintf(names[count], sizeof names[count], "%s", entry->d_name);
        count++;
        /* 0600 whatever the backup's mode: the daemon opens data.mdb
         * read-write (a backup kept read-only must restore into a directory
         * that serves), and nothing in it is for other users. */
        if (!file_copy(from, to, 0600, false)) {
            fprintf(stderr, "ledgerd: cannot copy %s to %s: %s\n", from, to, strerror(errno));
            ok = false;
        }
        has_head_key = has_head_key || strcmp(entry->d_name, "head.key") == 0;
    }
    if (source != NULL) {
        closedir(source);
    }
    if (ok && line->head_key != NULL) {
        char to[CONFIG_PATH_SIZE];
        if (has_head_key) {
            fprintf(stderr, "ledgerd: the backup has its own head.key, the key --head-key gives; "
                            "it is kept\n");
        } else if (count >= MAIN_RESTORE_FILES_MAX) {
            /* No room to record the key for the undo: the backup's files
             * took every slot. */
            restore_say_crowded(line->from);
            ok = false;
        } else if (path_join(dir, "head.key", to) == 0 &&
                   file_copy(line->head_key, to, 0600, true)) {
            snprintf(names[count], sizeof names[count], "head.key");
            count++;
            has_head_key = true;
        } else {
            fprintf(stderr, "ledgerd: cannot copy %s: %s\n", line->head_key, strerror(errno));
            ok = false;
        }
    }
    /* The copy must open as a ledger: read-write when it can sign heads
     * (which also makes it ready to serve), else read-only. */
    uint64_t head = 0;
    bool has_head = false;
    char public_key[ENGINE_PUBLIC_KEY_HEX_SIZE] = "";
    if (ok) {
        struct engine_options options;
        engine_options_from(config, dir, &options);
        options.read_only = !has_head_key;
        struct engine *engine = NULL;
        enum ledger_err err = engine_open(&options, &engine);
        if (err == LEDGER_ERR_NOT_FOUND) {
            fprintf(stderr,
                    "ledgerd: %s is not a ledger backup: its data.mdb holds no ledger (an "
                    "empty log); take backups with `ledgerctl backup`\n",
                    line->from);
            ok = false;
        } else if ((err == LEDGER_ERR_CORRUPT || err == LEDGER_ERR_IO_ERROR) &&
                   restore_own_head_key_unusable(line, dir)) {
            ok = false;
        } else if (err == LEDGER_ERR_CORRUPT) {
            /* A data.mdb cut short (a copy made another way, or a backup
             * directory of an older build that a crash interrupted) is
             * refused here, as truncated, before any page of it is read. */
            const char *detail = engine_open_detail();
            fprintf(stderr,
                    "ledgerd: the restored copy does not open: %s (%s)%s%s; `ledger-verify %s` "
                    "names the damage\n",
                    ledger_strerror(err), ledger_err_name(err), detail[0] ? ": " : "", detail,
                    line->from);
            ok = false;
        } else if (err != LEDGER_ERR_OK) {
            const char *detail = engine_open_detail();
            fprintf(stderr, "ledgerd: the restored copy does not open: %s (%s)%s%s\n",
                    ledger_strerror(err), ledger_err_name(err), detail[0] ? ": " : "", detail);
            ok = false;
        } else {
            /* The backup's head.pb, when it has one, must be what its log
             * holds: a copy cut short or altered is refused. */
            char head_path[CONFIG_PATH_SIZE], message[ENGINE_MESSAGE_SIZE];
            enum ledger_err checked = path_join(dir, "head.pb", head_path) == 0
                                          ? engine_check_head_file(engine, head_path, message)
                                          : LEDGER_ERR_NOT_FOUND;
            has_head = checked != LEDGER_ERR_NOT_FOUND;
            if (checked != LEDGER_ERR_OK && checked != LEDGER_ERR_NOT_FOUND) {
                fprintf(stderr, "ledgerd: the backup's head.pb does not match its data: %s (%s)\n",
                        message[0] ? message : ledger_strerror(checked), ledger_err_name(checked));
                ok = false;
            }
            head = engine_head_sequence(engine);
            if (!engine_head_public_key_hex(engine, public_key)) {
                public_key[0] = '\0';
            }
            engine_close(engine);
        }
    }
    if (!ok) {
        restore_undo(dir, names, count);
        return EXIT_FAILURE_;
    }
    printf("restored %s into %s: %llu event%s\n", line->from, dir, (unsigned long long)head,
           head == 1 ? "" : "s");
    if (!has_head) {
        /* Every backup ledgerctl makes has its head.pb; restoring a copy of
         * a data directory (which has none) is allowed, but nothing signed
         * vouches for it. */
        printf("note: %s has no head.pb, so it is not a backup `ledgerctl backup` made and no "
               "signed head was checked against it; run `ledger-verify %s` before starting "
               "ledgerd\n",
               line->from, dir);
    }
    if (public_key[0] != '\0' && line->head_key != NULL) {
        printf("head-signing key: public key %s (the key --head-key %s gives)\n", public_key,
               line->head_key);
    } else if (public_key[0] != '\0') {
        /* Whoever could write the backup could have put a key of their own
         * there, and signed a forged head.pb with it: only the operator
         * can tell, by the public key. */
        printf("head-signing key: public key %s (the backup's own head.key)\n"
               "warning: the backup's own head.key was kept unchecked: compare its public key "
               "above with the ledger's, as published for its auditors (docs/verification.md), "
               "before starting ledgerd, or restore again with --head-key FILE (a copy of the "
               "original head.key kept apart from the backups), which is checked\n",
               public_key);
    }
    char signer[ENGINE_PUBLIC_KEY_HEX_SIZE];
    char head_path[CONFIG_PATH_SIZE];
    if (!has_head_key && has_head && path_join(dir, "head.pb", head_path) == 0 &&
        engine_head_file_public_key_hex(head_path, signer)) {
        /* The key to copy is the one that signed the saved head: ledgerd
         * refuses to start with another. */
        printf("note: the backup's head.pb was signed by the key with public key %s: the "
               "head.key to copy holds that one; compare it with the ledger's, as published "
               "for its auditors\n",
               signer);
    }
    if (!has_head_key) {
        printf("note: the backup holds no head.key; copy the original data directory's "
               "head.key into %s (or run restore again with --head-key FILE) before starting "
               "ledgerd\n",
               dir);
    }
    return EXIT_OK;
}

static int command_restore(const struct command_line *line, const struct config *config)
{
    if (line->from == NULL || !line->data_given) {
        usage_error("%s", "restore needs --from BACKUP and --data DIR");
        return EXIT_USAGE;
    }
    const char *dir = config->data_dir;
    struct stat st;
    char denied[PATH_MAX];
    if (engine_dir_access_denied(line->from, false, denied)) {
        fprintf(stderr,
                "ledgerd: cannot read the backup %s: permission denied on %s for uid %u: run "
                "restore as a user that may read it (its owner, or root)\n",
                line->from, denied, (unsigned)geteuid());
        return EXIT_FAILURE_;
    }
    if (!engine_present(line->from)) {
        fprintf(stderr, "ledgerd: %s is not a backup directory (no data.mdb in it)\n", line->from);
        return EXIT_FAILURE_;
    }
    bool exists = lstat(dir, &st) == 0;
    if (!exists && errno != ENOENT) {
        int error = errno;
        if (!print_file_above("cannot restore", dir)) {
            fprintf(stderr, "ledgerd: cannot restore into %s: %s; give --data another directory\n",
                    dir, strerror(error));
        }
        return EXIT_FAILURE_;
    }
    if (exists) {
        fprintf(stderr, "ledgerd: %s already exists; restore writes only into a new directory\n",
                dir);
        return EXIT_FAILURE_;
    }
    if (restore_head_key_refused(line) != 0) {
        return EXIT_FAILURE_;
    }
    /* A data directory a daemon serves changes while it is copied: the copy
     * would be torn. Held until the copy is done, so none starts meanwhile. */
    int source_lock = -1;
    enum ledger_err held = engine_dir_hold(line->from, &source_lock);
    if (held == LEDGER_ERR_DATA_DIR_LOCKED) {
        fprintf(stderr,
                "ledgerd: %s is in use by a ledgerd process (it holds %s/ledgerd.lock), which "
                "may write it while it is copied: take a hot backup with `ledgerctl backup --out "
                "DIR` from that daemon and restore from DIR, or stop the daemon first\n",
                line->from, line->from);
        return EXIT_FAILURE_;
    }
    if (held != LEDGER_ERR_OK) {
        const char *detail = engine_open_detail();
        fprintf(stderr,
                "ledgerd: cannot read %s/ledgerd.lock, which tells whether a ledgerd process "
                "serves %s: %s (%s)%s%s; if none does, remove it (restore does not copy it), or "
                "restore from a backup `ledgerctl backup` made\n",
                line->from, line->from, ledger_strerror(held), ledger_err_name(held),
                detail[0] ? ": " : "", detail);
        return EXIT_FAILURE_;
    }
    int status = restore_into(line, config, dir);
    engine_dir_release(source_lock);
    return status;
}

/* --- serve -------------------------------------------------------------------------- */

/* Whether the head.key of `dir` is not the key that signed its saved head
 * (head.pb, which a restored directory keeps from its backup), after saying
 * so: such a key would sign heads no one who kept the ledger's heads can
 * match. A directory without a saved head has nothing to compare with. */
static bool head_key_mismatched(const char *dir)
{
    char key_path[CONFIG_PATH_SIZE], head_path[CONFIG_PATH_SIZE], message[ENGINE_MESSAGE_SIZE];
    if (path_join(dir, "head.key", key_path) != 0 || path_join(dir, "head.pb", head_path) != 0 ||
        engine_check_head_key_file(key_path, head_path, message) != LEDGER_ERR_MISMATCH) {
        return false;
    }
    fprintf(stderr,
            "ledgerd: cannot open %s: its head.key is not the key that signed the ledger's saved "
            "head (%s): %s; put the head.key of the data directory this ledger was backed up "
            "from into %s\n",
            dir, head_path, message, dir);
    return true;
}

/* The addresses the daemon binds for the data directory `dir` (absolute):
 * the settings', or the defaults inside it. EXIT_USAGE, after saying why,
 * when a default is too long or two addresses are the same. */
static int serve_addresses(const struct config *config, const char *dir,
                           char listen[CONFIG_URL_SIZE], char events[CONFIG_URL_SIZE])
{
    snprintf(listen, CONFIG_URL_SIZE, "%s", config->listen);
    snprintf(events, CONFIG_URL_SIZE, "%s", config->events);
    if ((listen[0] == '\0' && config_default_url(dir, "ledger.sock", listen) != LEDGER_ERR_OK) ||
        (events[0] == '\0' && config_default_url(dir, "events.sock", events) != LEDGER_ERR_OK)) {
        fprintf(stderr,
                "ledgerd: %s is too long a path for an IPC socket (at most 107 bytes); set "
                "--listen and --events\n",
                dir);
        return EXIT_USAGE;
    }
    char error[CONFIG_ERROR_SIZE];
    if (config_addresses_check(config, listen, events, error) != LEDGER_ERR_OK) {
        fprintf(stderr, "ledgerd: %s\n", error);
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

static int command_serve(const struct command_line *line, struct config *config)
{
    (void)line;
    if (config->metrics_listen[0] != '\0') {
        /* Refuse a bad metrics address before touching the data directory. */
        char error[METRICS_ERROR_SIZE];
        if (metrics_listen_check(config->metrics_listen, config->metrics_allow_remote, error) !=
            LEDGER_ERR_OK) {
            fprintf(stderr, "ledgerd: %s\n", error);
            return EXIT_USAGE;
        }
    }

    char dir[CONFIG_PATH_SIZE];
    if (path_absolute(config->data_dir, dir) != 0) {
        fprintf(stderr, "ledgerd: %s: path too long\n", config->data_dir);
        return EXIT_USAGE;
    }
    char listen[CONFIG_URL_SIZE], events[CONFIG_URL_SIZE];
    if (serve_addresses(config, dir, listen, events) != EXIT_OK) {
        return EXIT_USAGE;
    }
    if (directory_fresh(dir)) {
        if (data_dir_initialize(config, dir, MAIN_OPERATOR_DEFAULT, true) != LEDGER_ERR_OK) {
            return EXIT_FAILURE_;
        }
        /* Now it exists: resolve links too, and the default addresses in it
         * with them. */
        if (path_absolute(config->data_dir, dir) != 0) {
            return EXIT_FAILURE_;
        }
        if (serve_addresses(config, dir, listen, events) != EXIT_OK) {
            return EXIT_USAGE;
        }
    }
    if (head_key_mismatched(dir)) {
        return EXIT_FAILURE_;
    }
    struct engine_options options;
    engine_options_from(config, dir, &options);
    struct engine *engine = NULL;
    enum ledger_err err = engine_open(&options, &engine);
    if (err != LEDGER_ERR_OK) {
        print_engine_error("cannot open", dir, err);
        return EXIT_FAILURE_;
    }
    uint64_t layout = 0;
    if (!engine_views_current(engine, &layout) && layout == ENGINE_VIEWS_LAYOUT_REBUILDING) {
        fprintf(stderr,
                "ledgerd: %s: a rebuild of its views did not finish (it was interrupted or "
                "failed), so they are incomplete; run `ledgerd rebuild --data %s` again, then "
                "start\n",
                dir, dir);
        engine_close(engine);
        return EXIT_FAILURE_;
    }
    if (!engine_views_current(engine, &layout)) {
        /* A newer layout: this build was started again after a newer one
         * served the directory (a downgrade without restoring a backup). */
        bool newer = layout > ENGINE_VIEWS_LAYOUT;
        fprintf(stderr,
                "ledgerd: %s: its views were written by %s build (layout %llu, this "
                "build writes %llu); run `ledgerd rebuild --data %s` once, then start again%s "
                "(docs/operations.md, \"Upgrade\")\n",
                dir, newer ? "a newer" : "an older", (unsigned long long)layout,
                (unsigned long long)ENGINE_VIEWS_LAYOUT, dir,
                newer ? ", or serve it with that newer build" : "");
        engine_close(engine);
        return EXIT_FAILURE_;
    }
    struct server_options server_options = {
        .listen_url = listen,
        .events_url = events,
        .data_dir = dir,
        .version = LEDGERD_VERSION,
        .request_bytes_max = (size_t)config->request_bytes_max,
        .batch_commands_max = config->batch_commands_max,
        .auth_window_us = (int64_t)config->auth_window_s * 1000000,
        .slow_commit_ms = config->slow_commit_ms,
        .expiry_sweep_s = config->expiry_sweep_s,
        .inflight_requests_max = config->inflight_requests_max,
    };
    struct server *server = NULL;
    err = server_create(engine, &server_options, &server);
    if (err == LEDGER_ERR_UNAVAILABLE || err == LEDGER_ERR_INVALID_ARGUMENT) {
        /* A bind failed: the "cannot bind" line above names the address and
         * the system's reason. */
        fprintf(stderr,
                "ledgerd: cannot listen on %s and %s: the error above says which address and "
                "why (in use by another process, a directory that does not exist, an address "
                "that is not this host's); set --listen or --events\n",
                listen, events);
        engine_close(engine);
        return EXIT_FAILURE_;
    }
    if (err != LEDGER_ERR_OK) {
        fprintf(stderr, "ledgerd: cannot serve on %s and %s: %s (%s)\n", listen, events,
                ledger_strerror(err), ledger_err_name(err));
        engine_close(engine);
        return EXIT_FAILURE_;
    }
    /* The metrics endpoint reads the server's counters and the engine from its
     * own thread: it starts after both exist and stops before either goes. */
    struct metrics *metrics = NULL;
    if (config->metrics_listen[0] != '\0') {
        struct metrics_options metrics_options = {
            .listen = config->metrics_listen,
            .allow_remote = config->metrics_allow_remote,
            .engine = engine,
            .counters = server_counters(server),
        };
        err = metrics_start(&metrics_options, &metrics);
        if (err == LEDGER_ERR_UNAVAILABLE) {
            /* The bind failed: the "metrics not served" line above says why. */
            fprintf(stderr,
                    "ledgerd: cannot serve metrics on %s: the error above says why (the port is "
                    "in use by another process, or the address is not this host's); set "
                    "metrics_listen (--metrics-listen) to a free address of this host, or off\n",
                    config->metrics_listen);
        } else if (err != LEDGER_ERR_OK) {
            fprintf(stderr, "ledgerd: cannot serve metrics on %s: %s (%s)\n",
                    config->metrics_listen, ledger_strerror(err), ledger_err_name(err));
        }
        if (err != LEDGER_ERR_OK) {
            server_destroy(server);
            engine_close(engine);
            return EXIT_FAILURE_;
        }
    }
    err = server_run(server);
    metrics_stop(metrics);
    server_destroy(server);
    engine_close(engine);
    return err == LEDGER_ERR_OK ? EXIT_OK : EXIT_FAILURE_;
}

/* Turns core dumps off for this process, before any secret is read: the
 * principals' secrets pass through memory with every request, the head
 * signing key stays there, and a new principal's secret is there until its
 * reply is sent; a core file would hold them all. RLIMIT_CORE 0 (soft and
 * hard, so nothing in the process raises it again) stops core files; a
 * process that is not dumpable is not dumped even to a crash collector that
 * core_pattern pipes to (the kernel ignores RLIMIT_CORE for those), nor
 * ptraced by other processes of its user. Returns false when either could
 * not be set. */
static bool core_dumps_off(void)
{
    const struct rlimit none = {.rlim_cur = 0, .rlim_max = 0};
    bool limited = setrlimit(RLIMIT_CORE, &none) == 0;
    bool undumpable = prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0;
    return limited && undumpable;
}

/* Opens /dev/null on whichever of the standard descriptors 0, 1 and 2 is
 * closed (a supervisor's `2>&-`). Left closed, their numbers would go to the
 * first files opened (the lock file, lock.mdb, data.mdb), and every log line
 * written to descriptor 2 would land in one of them: over data.mdb, it
 * destroys the ledger. False when one cannot be opened. */
static bool standard_descriptors_open(void)
{
    for (int fd = STDIN_FILENO; fd <= STDERR_FILENO; fd++) {
        if (fcntl(fd, F_GETFD) != -1 || errno != EBADF) {
            continue;
        }
        /* open returns the lowest free descriptor: this one. */
        int opened = open("/dev/null", O_RDWR | O_NOCTTY);
        if (opened != fd) {
            if (opened >= 0) {
                close(opened);
            }
            return false;
        }
    }
    return true;
}

int main(int argc, char **argv)
{
    if (!standard_descriptors_open()) {
        /* Nowhere to say it: the log itself is what cannot be had. */
        return EXIT_FAILURE_;
    }
    if (!core_dumps_off()) {
        log_write(LOG_LEVEL_WARN, "cannot turn core dumps off", "error=\"%s\"", strerror(errno));
    }
    /* A peer that goes away must not kill the daemon with SIGPIPE: writes
     * report EPIPE instead. */
    struct sigaction ignore = {.sa_handler = SIG_IGN};
    sigemptyset(&ignore.sa_mask);
    sigaction(SIGPIPE, &ignore, NULL);

    struct command_line line;
    int status = command_line_parse(argc, argv, &line);
    if (status != EXIT_OK) {
        return status < 0 ? EXIT_OK : status;
    }
    struct config config;
    status = settings_resolve(&line, &config);
    if (status != EXIT_OK) {
        return status;
    }
    if (line.command == NULL) {
        return command_serve(&line, &config);
    }
    if (strcmp(line.command, "init") == 0) {
        return command_init(&line, &config);
    }
    if (strcmp(line.command, "rebuild") == 0) {
        return command_rebuild(&line, &config);
    }
    return command_restore(&line, &config);
}
