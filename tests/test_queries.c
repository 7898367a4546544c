/*
 * test_queries.c: what the engine answers at the edges of its queries and of
 * the checks of saved heads (daemon/engine_query.c) that the module tests of
 * the views and the engine leave: the sizes a consistency proof needs, a
 * backup named by a relative path, a saved head whose root, signature or
 * public key has the wrong length or that another ledger signed, a
 * head-signing key file that holds no key.
 *
 * Method: a fresh engine (tests/support/engine_fixture.h) queried as its
 * operator through engine_query, as the server does; the files a backup
 * writes are read back and altered by hand, and every refusal is checked
 * for its code and for a message that says what is wrong.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "codec.h"
#include "engine.h"
#include "support/engine_fixture.h"
#include "test_util.h"

#define assert_ok(expression) assert_int_equal((expression), LEDGER_ERR_OK)

/* snprintf into an array, which must hold the whole text. */
#define path_format(out, ...)                                                                      \
    do {                                                                                           \
        int written_ = snprintf((out), sizeof(out), __VA_ARGS__);                                  \
        assert_true(written_ > 0 && (size_t)written_ < sizeof(out));                               \
    } while (0)

struct fixture {
    char dir[512];
    char outside[512]; /* for backups, which may not be inside the data directory */
    struct engine *engine;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    test_make_dir(f->dir, sizeof f->dir, "queries");
    test_make_dir(f->outside, sizeof f->outside, "queries-backups");
    f->engine = test_engine_new(f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    engine_close(f->engine);
    test_remove_dir(f->dir);
    test_remove_dir(f->outside);
    free(f);
    return 0;
}

static const struct engine_principal operator_principal = {
    .id = "operator",
    .role = LEDGER__V1__ROLE__ROLE_OPERATOR,
};

static int64_t now_us(void)
{
    return (int64_t)time(NULL) * 1000000;
}

/* A backup query for `directory` as the operator. */
static enum ledger_err backup(struct fixture *f, const char *directory,
                              Ledger__V1__QueryResult **out, char message[ENGINE_MESSAGE_SIZE])
{
    Ledger__V1__BackupQuery body = LEDGER__V1__BACKUP_QUERY__INIT;
    body.directory = (char *)directory;
    Ledger__V1__Query query = LEDGER__V1__QUERY__INIT;
    query.kind_case = LEDGER__V1__QUERY__KIND_BACKUP;
    query.backup = &body;
    *out = NULL;
    return engine_query(f->engine, &operator_principal, &query, now_us(), out, message);
}

static bool file_exists(const char *dir, const char *name)
{
    char path[PATH_MAX];
    path_format(path, "%s/%s", dir, name);
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* A relative backup directory is taken from the daemon's working directory
 * (docs/protocol.md, backup): the copy and its head are made there, the
 * head checks against the ledger, and the same name again is refused as a
 * directory that exists. */
static void test_queries_backup_relative_path(void **state)
{
    struct fixture *f = *state;
    char cwd[PATH_MAX];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(f->outside), 0);
    Ledger__V1__QueryResult *result = NULL;
    char message[ENGINE_MESSAGE_SIZE];
    enum ledger_err err = backup(f, "relative-backup", &result, message);
    enum ledger_err again = LEDGER_ERR_OK;
    char again_message[ENGINE_MESSAGE_SIZE];
    Ledger__V1__QueryResult *again_result = NULL;
    if (err == LEDGER_ERR_OK) {
        again = backup(f, "relative-backup", &again_result, again_message);
    }
    assert_int_equal(chdir(cwd), 0);
    if (err != LEDGER_ERR_OK) {
        fail_msg("%s: %s", ledger_err_name(err), message);
    }
    assert_non_null(result->head);
    assert_int_equal(result->head->tree_size, engine_head_sequence(f->engine));
    engine_result_free(result);
    char copy[PATH_MAX];
    path_format(copy, "%s/relative-backup", f->outside);
    assert_true(file_exists(copy, "data.mdb"));
    assert_true(file_exists(copy, "head.pb"));
    char head[PATH_MAX];
    path_format(head, "%s/head.pb", copy);
    assert_ok(engine_check_head_file(f->engine, head, message));

    assert_int_equal(again, LEDGER_ERR_INVALID_ARGUMENT);
    assert_null(again_result);
    assert_non_null(strstr(again_message, "relative-backup"));
    assert_non_null(strstr(again_message, "it already exists; give a new one"));
}

/* A parent that cannot be reached for a reason of its path -- a loop of
 * symbolic links, a directory name in it longer than 255 bytes -- is the
 * asker's to fix, as a parent that does not exist is: INVALID_ARGUMENT,
 * naming the directory and saying what is wrong with its path (not
 * STORAGE_ERROR, which tells to retry and read the daemon's log), and
 * nothing is made. */
static void test_queries_backup_parent_path_unusable(void **state)
{
    struct fixture *f = *state;
    char a[PATH_MAX], b[PATH_MAX], target[PATH_MAX], message[ENGINE_MESSAGE_SIZE];
    path_format(a, "%s/loop-a", f->outside);
    path_format(b, "%s/loop-b", f->outside);
    assert_int_equal(symlink(b, a), 0);
    assert_int_equal(symlink(a, b), 0);
    path_format(target, "%s/new-backup", a);
    Ledger__V1__QueryResult *result = NULL;
    assert_int_equal(backup(f, target, &result, message), LEDGER_ERR_INVALID_ARGUMENT);
    assert_null(result);
    assert_non_null(strstr(message, "cannot create the backup directory"));
    assert_non_null(strstr(message, "new-backup"));
    assert_non_null(strstr(message, "symbolic links"));

    char long_name[NAME_MAX + 2];
    memset(long_name, 'x', NAME_MAX + 1);
    long_name[NAME_MAX + 1] = '\0';
    path_format(target, "%s/%s/new-backup", f->outside, long_name);
    assert_int_equal(backup(f, target, &result, message), LEDGER_ERR_INVALID_ARGUMENT);
    assert_null(result);
    assert_non_null(strstr(message, "cannot create the backup directory"));
    assert_non_null(strstr(message, "longer than 255 bytes"));
    /* Nothing made beside the two links. */
    DIR *listing = opendir(f->outside);
    assert_non_null(listing);
    size_t entries = 0;
    for (struct dirent *entry; (entry = readdir(listing)) != NULL;) {
        entries += strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0;
    }
    closedir(listing);
    assert_int_equal(entries, 2);
}

/* Writes `head` packed into `path`. */
static void head_write(const char *path, const Ledger__V1__SignedHead *head)
{
    uint8_t *bytes = NULL;
    size_t size = 0;
    assert_ok(codec_pack(&head->base, &bytes, &size));
    FILE *file = fopen(path, "wb");
    assert_non_null(file);
    assert_int_equal(fwrite(bytes, 1, size, file), size);
    assert_int_equal(fclose(file), 0);
    free(bytes);
}

/* A saved head whose root, signature or public key is not of its length
 * is not a head: engine_check_head_file says CORRUPT and which fields,
 * and no public key is read from it. A good one names the ledger's key; a
 * missing one is NOT_FOUND. */
static void test_queries_saved_head_of_wrong_lengths(void **state)
{
    struct fixture *f = *state;
    char copy[PATH_MAX], path[PATH_MAX], message[ENGINE_MESSAGE_SIZE];
    path_format(copy, "%s/backup", f->outside);
    assert_ok(engine_backup(f->engine, copy));
    path_format(path, "%s/head.pb", copy);
    uint8_t bytes[LEDGER_HEAD_FILE_MAX];
    size_t size = test_read_bytes(path, bytes, sizeof bytes);
    assert_true(size > 0 && size < sizeof bytes);
    ProtobufCMessage *message_out = NULL;
    assert_ok(codec_message_unpack(&ledger__v1__signed_head__descriptor, bytes, size, size,
                                   LEDGER_ERR_CORRUPT, &message_out));
    Ledger__V1__SignedHead *head = (Ledger__V1__SignedHead *)message_out;

    char want[ENGINE_PUBLIC_KEY_HEX_SIZE], got[ENGINE_PUBLIC_KEY_HEX_SIZE];
    assert_true(engine_head_public_key_hex(f->engine, want));
    assert_true(engine_head_file_public_key_hex(path, got));
    assert_string_equal(got, want);
    assert_ok(engine_check_head_file(f->engine, path, message));

    ProtobufCBinaryData *fields[] = {&head->root_hash, &head->signature, &head->public_key};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        size_t length = fields[i]->len;
        fields[i]->len = length - 1;
        head_write(path, head);
        fields[i]->len = length;
        message[0] = '\0';
        if (engine_check_head_file(f->engine, path, message) != LEDGER_ERR_CORRUPT ||
            strcmp(message, "its root, signature or public key has the wrong length") != 0) {
            fail_msg("field %zu one byte short: %s", i, message);
        }
        got[0] = '\0';
        assert_false(engine_head_file_public_key_hex(path, got));
        assert_string_equal(got, "");
    }
    codec_message_free(message_out);

    path_format(path, "%s/no-such-head.pb", copy);
    assert_int_equal(engine_check_head_file(f->engine, path, message), LEDGER_ERR_NOT_FOUND);
    assert_false(engine_head_file_public_key_hex(path, got));
}

/* Comparing two head-signing key files, the first of which holds no key:
 * refused with what the first one is not, before the second is read; the
 * data directory's own key is the same as itself. */
static void test_queries_head_keys_same_of_no_key(void **state)
{
    struct fixture *f = *state;
    char own[PATH_MAX], other[PATH_MAX], message[ENGINE_MESSAGE_SIZE];
    path_format(own, "%s/head.key", f->dir);
    path_format(other, "%s/not-a-key", f->dir);
    FILE *file = fopen(other, "w");
    assert_non_null(file);
    assert_true(fputs("not a key\n", file) >= 0);
    assert_int_equal(fclose(file), 0);
    assert_ok(engine_check_head_keys_same(own, own, message));
    message[0] = '\0';
    enum ledger_err err = engine_check_head_keys_same(other, own, message);
    assert_int_equal(err, LEDGER_ERR_INVALID_ARGUMENT);
    assert_string_equal(message, "it does not hold the 128 hex digits of an Ed25519 secret key "
                                 "(what a data directory's head.key holds)");
    /* The other way round, the second file is the one named. */
    message[0] = '\0';
    assert_int_equal(engine_check_head_keys_same(own, other, message), LEDGER_ERR_MISMATCH);
    assert_non_null(strstr(message, other));
}

static const struct engine_principal auditor_principal = {
    .id = "auditor-all",
    .role = LEDGER__V1__ROLE__ROLE_AUDITOR,
};

/* A consistency query of from_size .. to_size as an auditor of all
 * partners. */
static enum ledger_err consistency(struct fixture *f, uint64_t from_size, uint64_t to_size,
                                   Ledger__V1__QueryResult **out, char message[ENGINE_MESSAGE_SIZE])
{
    Ledger__V1__ConsistencyQuery body = LEDGER__V1__CONSISTENCY_QUERY__INIT;
    body.from_size = from_size;
    body.to_size = to_size;
    Ledger__V1__Query query = LEDGER__V1__QUERY__INIT;
    query.kind_case = LEDGER__V1__QUERY__KIND_CONSISTENCY;
    query.consistency = &body;
    *out = NULL;
    return engine_query(f->engine, &auditor_principal, &query, now_us(), out, message);
}

/* A consistency proof needs 0 < from_size <= to_size: a from_size of 0 or
 * above to_size is INVALID_ARGUMENT, a to_size past the head NOT_FOUND
 * (docs/protocol.md, "Queries"), each message giving the three sizes; the
 * proof of the head to itself is empty. */
static void test_queries_consistency_sizes(void **state)
{
    struct fixture *f = *state;
    Ledger__V1__QueryResult *result = NULL;
    char message[ENGINE_MESSAGE_SIZE];
    uint64_t head = engine_head_sequence(f->engine);
    assert_int_equal(head, 1);
    assert_int_equal(consistency(f, 0, 0, &result, message), LEDGER_ERR_INVALID_ARGUMENT);
    assert_null(result);
    assert_string_equal(message, "need 0 < from_size (0) <= to_size (1) <= head (1)");
    assert_int_equal(consistency(f, 2, 1, &result, message), LEDGER_ERR_INVALID_ARGUMENT);
    assert_string_equal(message, "need 0 < from_size (2) <= to_size (1) <= head (1)");
    assert_int_equal(consistency(f, 1, 2, &result, message), LEDGER_ERR_NOT_FOUND);
    assert_string_equal(message, "need 0 < from_size (1) <= to_size (2) <= head (1)");
    assert_ok(consistency(f, 1, 0, &result, message));
    assert_non_null(result->consistency);
    assert_int_equal(result->consistency->from_size, 1);
    assert_int_equal(result->consistency->to_size, 1);
    assert_int_equal(result->consistency->n_path, 0);
    engine_result_free(result);
}

/* A saved head of another ledger, whose signature verifies with the key it
 * names, is not this ledger's: MISMATCH, saying that its signature does not
 * verify with this ledger's key, though the other ledger's log has the same
 * size. */
static void test_queries_saved_head_of_another_ledger(void **state)
{
    struct fixture *f = *state;
    char other_dir[512], copy[PATH_MAX], path[PATH_MAX], message[ENGINE_MESSAGE_SIZE];
    test_make_dir(other_dir, sizeof other_dir, "queries-other");
    struct engine *other = test_engine_new(other_dir);
    path_format(copy, "%s/other-backup", f->outside);
    assert_ok(engine_backup(other, copy));
    path_format(path, "%s/head.pb", copy);
    assert_ok(engine_check_head_file(other, path, message));
    assert_int_equal(engine_head_sequence(other), engine_head_sequence(f->engine));
    engine_close(other);
    test_remove_dir(other_dir);
    message[0] = '\0';
    assert_int_equal(engine_check_head_file(f->engine, path, message), LEDGER_ERR_MISMATCH);
    assert_string_equal(message, "its signature does not verify with this ledger's key");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_queries_backup_relative_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queries_backup_parent_path_unusable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queries_saved_head_of_wrong_lengths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queries_head_keys_same_of_no_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queries_consistency_sizes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queries_saved_head_of_another_ledger, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
