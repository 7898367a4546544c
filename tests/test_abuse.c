/*
 * test_abuse.c: hostile input against the real ledgerd, over its wire protocol.
 *
 * Goal: whatever a peer sends, the daemon answers with the exact refusal the
 * protocol names (docs/protocol.md, "the daemon checks, in this order"),
 * keeps serving, writes nothing, and logs the refusal with its code. The
 * cases: frames cut at every length, seeded random and mutated messages,
 * messages over request_bytes_max, unknown protobuf fields and unknown enum
 * values, out-of-range amounts and malformed currency codes, unknown
 * customers and subscriptions, another partner's ids, byte-exact replays,
 * stale timestamps both ways, wrong, short and missing MACs, revoked and
 * unknown principals, and a flood of unauthenticated requests from several
 * clients at once.
 *
 * Method: one daemon for the whole file (`ledgerd init`, then `ledgerd` with
 * `--request-bytes-max 4K` so that oversized messages stay cheap), its stderr
 * captured to a log file. A small world is built first: partners p-a and
 * p-b, an admin agent of each, an auditor, a revoked operator, a customer
 * with an Azure plan subscription under each partner, and a reservation of
 * p-a's customer c-a1.
 * Requests are built byte by byte with protobuf-c (codec.h) and signed with
 * HMAC-SHA256 (crypto.h) as a client written from the protocol document
 * would. Every case goes through abuse_case(): the reply's exact code (and
 * the echo of the nonce when the request decoded that far), a refusal line
 * naming the code in the part of the log written since the case began, a
 * valid head query answered right after, and the head sequence unchanged.
 * For random and mutated bytes the expected code comes from oracle_code(),
 * which applies the protocol's documented check order to the bytes locally.
 * The PRNG is xorshift64* with the fixed seed ABUSE_SEED, so a failing case
 * is reproducible. The count of cases is printed at the end.
 *
 * Decided behaviour for unknown protobuf fields (what protobuf-c does: it
 * keeps unknown fields in the decoded message and decodes undeclared enum
 * numbers as raw integers; the daemon checks every enum):
 *   - unknown fields in Request, SignedRequest, a Query with a known kind or a
 *     Command with a known body are accepted and ignored (the MAC and the
 *     command hash still cover the exact bytes);
 *   - an unknown RequestBody kind, Query kind or Command body (a newer
 *     client's oneof case, which arrives as an unknown field) is refused with
 *     UNKNOWN_MESSAGE;
 *   - a known field number with the wrong wire type does not decode:
 *     BAD_REQUEST;
 *   - an undeclared enum number (Role 99, Term 42, ...) is UNKNOWN_MESSAGE;
 *     the UNSPECIFIED zero is a missing field, INVALID_ARGUMENT.
 *
 * The daemon may be run under a wrapper (LEDGERD_WRAPPER="valgrind ..."),
 * split on spaces and put before the daemon's path.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <nanomsg/nn.h>
#include <nanomsg/reqrep.h>

#include "codec.h"
#include "crypto.h"
#include "ledger_limits.h"
#include "rawproto.h"
#include "test_util.h"

#define PATH_SIZE        1024
#define REPLY_TIMEOUT_MS 20000
/* The daemon's request_bytes_max in this file (--request-bytes-max 4K). */
#define ABUSE_REQUEST_BYTES_MAX 4096
/* The fixed seed of every random case. */
#define ABUSE_SEED UINT64_C(0x1ed6e5ab5eed)
/* Random messages of each kind (pure noise, Request-shaped noise, mutated
 * valid requests). */
#define ABUSE_RANDOM_EACH 100
/* Longest random message: well inside the 4 KiB limit. */
#define ABUSE_RANDOM_BYTES_MAX 600
/* The flood: clients and requests in all. */
#define FLOOD_CLIENTS  8
#define FLOOD_REQUESTS 5000
/* How much the daemon's resident memory may grow over the flood: the flood
 * holds nothing, so only allocator noise is allowed. Not checked under a
 * wrapper such as valgrind, whose own memory grows (its leak check judges). */
#define FLOOD_RSS_GROWTH_KIB_MAX 8192
/* The longest log the refusal checks read back. */
#define LOG_READ_BYTES_MAX (64 * 1024 * 1024)
#define PRINCIPALS_MAX     8
#define ARGS_MAX           48

struct principal {
    const char *id;
    uint8_t secret[LEDGER_SECRET_BYTES];
    bool revoked;
};

struct world {
    char root[PATH_SIZE - 128];
    char data[PATH_SIZE];
    char log_path[PATH_SIZE];
    char url[PATH_SIZE + 32];
    pid_t pid;
    int client;                                   /* REQ socket */
    struct principal operator_;                   /* "operator" */
    struct principal admin_a;                     /* admin agent of p-a */
    struct principal admin_b;                     /* admin agent of p-b */
    struct principal auditor;                     /* auditor of every partner */
    struct principal gone;                        /* an operator, revoked */
    char reservation_a[LEDGER_ID_LENGTH_MAX + 1]; /* a reservation of c-a1 */
    uint64_t head;                                /* the head every case must leave */
    uint64_t rng;                                 /* xorshift64* state */
    unsigned command_counter;
    unsigned cases; /* abuse cases run */
    unsigned flood_requests;
    unsigned oracle_open; /* random cases whose code the oracle left open */
};

static uint64_t rng_next(struct world *w)
{
    /* xorshift64* (Vigna): small, seeded, good enough for test input. */
    w->rng ^= w->rng >> 12;
    w->rng ^= w->rng << 25;
    w->rng ^= w->rng >> 27;
    return w->rng * UINT64_C(2685821657736338717);
}

static size_t rng_below(struct world *w, size_t bound)
{
    return bound == 0 ? 0 : (size_t)(rng_next(w) % bound);
}

/* --- the daemon --------------------------------------------------------------------- */

/* Runs ledgerd (behind $LEDGERD_WRAPPER, if set) with `args`, stdout and
 * stderr appended to the log. */
static pid_t spawn(struct world *w, const char *const *args)
{
    static char wrapper[1024];
    const char *argv[ARGS_MAX];
    size_t n = 0;
    const char *env = getenv("LEDGERD_WRAPPER");
    if (env != NULL && env[0] != '\0') {
        snprintf(wrapper, sizeof wrapper, "%s", env);
        for (char *word = strtok(wrapper, " "); word != NULL && n < ARGS_MAX / 2;
             word = strtok(NULL, " ")) {
            argv[n++] = word;
        }
    }
    argv[n++] = ledgerd_path();
    for (size_t i = 0; args[i] != NULL && n < ARGS_MAX - 1; i++) {
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(w->log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
            close(fd);
        }
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

/* The daemon's resident set in KiB (/proc/PID/status VmRSS); 0 if unknown. */
static unsigned long rss_kib(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *file = fopen(path, "r");
    if (file == NULL) {
        return 0;
    }
    char line[256];
    unsigned long kib = 0;
    while (fgets(line, sizeof line, file) != NULL) {
        if (sscanf(line, "VmRSS: %lu kB", &kib) == 1) {
            break;
        }
    }
    fclose(file);
    return kib;
}

/* Whether `pid` runs the ledgerd executable itself (and not a wrapper such
 * as valgrind, which runs the program inside its own process image, named
 * after the wrapper's tool). Read from /proc/PID/comm, which any user may
 * read: /proc/PID/exe is closed to all but root, since ledgerd makes itself
 * not dumpable (docs/security.md, "Secrets"). */
static bool process_is_ledgerd(pid_t pid)
{
    char path[64], name[32] = "";
    snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
    FILE *file = fopen(path, "r");
    if (file == NULL) {
        return false;
    }
    bool read = fgets(name, sizeof name, file) != NULL;
    fclose(file);
    return read && strncmp(name, "ledgerd", strlen("ledgerd")) == 0;
}

/* --- the log ------------------------------------------------------------------------ */

static long log_size(const struct world *w)
{
    struct stat st;
    return stat(w->log_path, &st) == 0 ? (long)st.st_size : 0;
}

/* The log from byte `from` on (malloc'd, NUL-terminated). */
static char *log_since(const struct world *w, long from)
{
    FILE *file = fopen(w->log_path, "r");
    assert_non_null(file);
    assert_int_equal(fseek(file, 0, SEEK_END), 0);
    long end = ftell(file);
    if (end - from > LOG_READ_BYTES_MAX) {
        from = end - LOG_READ_BYTES_MAX;
    }
    assert_int_equal(fseek(file, from, SEEK_SET), 0);
    size_t size = end > from ? (size_t)(end - from) : 0;
    char *text = malloc(size + 1);
    assert_non_null(text);
    size_t read = fread(text, 1, size, file);
    text[read] = '\0';
    fclose(file);
    return text;
}

/* Lines of `text` that contain both `a` and `b`. */
static unsigned count_lines_with(const char *text, const char *a, const char *b)
{
    unsigned count = 0;
    for (const char *line = text; *line != '\0';) {
        const char *end = strchr(line, '\n');
        size_t length = end ? (size_t)(end - line) : strlen(line);
        const char *found_a = strstr(line, a);
        const char *found_b = strstr(line, b);
        if (found_a != NULL && found_a < line + length && found_b != NULL &&
            found_b < line + length) {
            count++;
        }
        line += length + (end ? 1 : 0);
    }
    return count;
}

/* --- building requests -------------------------------------------------------------- */

/* Serialized command (malloc'd), with `extra` bytes appended. A NULL or
 * empty command_id gets a fresh one (the struct is left as it was). */
static ProtobufCBinaryData command_pack_extra(struct world *w, Ledger__V1__Command *command,
                                              const uint8_t *extra, size_t extra_size)
{
    char id[32];
    char *given = command->command_id;
    if (given == NULL || given[0] == '\0') {
        snprintf(id, sizeof id, "abuse-%u", ++w->command_counter);
        command->command_id = id;
    }
    ProtobufCBinaryData data = {0};
    assert_int_equal(codec_pack(&command->base, &data.data, &data.len), LEDGER_ERR_OK);
    bytes_append(&data.data, &data.len, extra, extra_size);
    command->command_id = given;
    return data;
}

static ProtobufCBinaryData command_pack(struct world *w, Ledger__V1__Command *command)
{
    return command_pack_extra(w, command, NULL, 0);
}

/* --- calls -------------------------------------------------------------------------- */

static Ledger__V1__Reply *call_ok(struct world *w, const uint8_t *bytes, size_t size,
                                  const char *what)
{
    Ledger__V1__Reply *reply = call_bytes(w->client, bytes, size);
    if (reply == NULL) {
        fail_msg("%s: no reply", what);
    }
    if (reply->code != LEDGER__V1__ERROR_CODE__OK) {
        fail_msg("%s: %s \"%s\"", what, ledger_err_name((enum ledger_err)reply->code),
                 reply->message ? reply->message : "");
    }
    return reply;
}

/* The head as the operator sees it: proves the daemon still serves. */
static uint64_t head_sequence(struct world *w)
{
    struct request_spec spec = {.principal_id = w->operator_.id, .secret = w->operator_.secret};
    size_t size = 0;
    uint8_t *bytes = request_head(&spec, &size);
    Ledger__V1__Reply *reply = call_ok(w, bytes, size, "head query");
    free(bytes);
    assert_non_null(reply->query);
    assert_non_null(reply->query->head);
    assert_int_equal(reply->query->head->tree_size, reply->head_sequence);
    assert_memory_equal(reply->request_nonce.data, spec.nonce, LEDGER_NONCE_BYTES);
    uint64_t head = reply->head_sequence;
    reply_free(reply);
    return head;
}

/* Commands that must be accepted (world building): the reply. */
static Ledger__V1__Reply *execute_ok(struct world *w, const struct principal *who,
                                     Ledger__V1__Command *command, const char *what)
{
    ProtobufCBinaryData data = command_pack(w, command);
    struct request_spec spec = {.principal_id = who->id, .secret = who->secret};
    size_t size = 0;
    uint8_t *bytes = request_batch(&spec, &data, 1, &size);
    Ledger__V1__Reply *reply = call_ok(w, bytes, size, what);
    free(bytes);
    free(data.data);
    assert_int_equal(reply->n_results, 1);
    return reply;
}

/*
 * One abuse case. Sends `bytes`, then asserts: the reply's code is
 * `expected` (any code when expected is negative: the oracle left it open)
 * with a message; the nonce is echoed when `spec` is given; a refusal line
 * naming the code was logged since the case began; the head did not move; a
 * valid query is answered right after. Returns the reply (caller frees).
 */
static Ledger__V1__Reply *abuse_case_reply(struct world *w, const char *label, const uint8_t *bytes,
                                           size_t size, const struct request_spec *spec,
                                           int expected)
{
    long log_from = log_size(w);
    Ledger__V1__Reply *reply = call_bytes(w->client, bytes, size);
    if (reply == NULL) {
        fail_msg("%s: no reply (expected %s); see %s", label,
                 expected >= 0 ? ledger_err_name((enum ledger_err)expected) : "any code",
                 w->log_path);
    }
    const char *code_name = ledger_err_name((enum ledger_err)reply->code);
    if (expected >= 0 && (int)reply->code != expected) {
        fail_msg("%s: reply %s \"%s\", expected %s", label, code_name,
                 reply->message ? reply->message : "", ledger_err_name((enum ledger_err)expected));
    }
    if (reply->code != LEDGER__V1__ERROR_CODE__OK) {
        if (reply->message == NULL || reply->message[0] == '\0') {
            fail_msg("%s: refusal %s without a message", label, code_name);
        }
        assert_int_equal(reply->n_results, 0);
        assert_null(reply->query);
        char needle[64];
        snprintf(needle, sizeof needle, "code=%s ", code_name);
        char *logged = log_since(w, log_from);
        unsigned lines = count_lines_with(logged, "request refused", needle);
        free(logged);
        if (lines == 0) {
            fail_msg("%s: no \"request refused ... %s\" line in %s", label, needle, w->log_path);
        }
    }
    if (spec != NULL) {
        if (reply->request_nonce.len != LEDGER_NONCE_BYTES ||
            memcmp(reply->request_nonce.data, spec->nonce, LEDGER_NONCE_BYTES) != 0) {
            fail_msg("%s: the reply does not echo the nonce", label);
        }
    }
    if (reply->head_sequence != w->head) {
        fail_msg("%s: reply head %llu, expected %llu", label,
                 (unsigned long long)reply->head_sequence, (unsigned long long)w->head);
    }
    uint64_t head = head_sequence(w);
    if (head != w->head) {
        fail_msg("%s: the head moved from %llu to %llu", label, (unsigned long long)w->head,
                 (unsigned long long)head);
    }
    w->cases++;
    return reply;
}

static void abuse_case(struct world *w, const char *label, const uint8_t *bytes, size_t size,
                       const struct request_spec *spec, int expected)
{
    reply_free(abuse_case_reply(w, label, bytes, size, spec, expected));
}

/* A command sent alone by `who`; must be refused with `expected`, at index 0. */
static void command_case(struct world *w, const char *label, const struct principal *who,
                         Ledger__V1__Command *command, enum ledger_err expected)
{
    ProtobufCBinaryData data = command_pack(w, command);
    struct request_spec spec = {.principal_id = who->id, .secret = who->secret};
    size_t size = 0;
    uint8_t *bytes = request_batch(&spec, &data, 1, &size);
    Ledger__V1__Reply *reply = abuse_case_reply(w, label, bytes, size, &spec, (int)expected);
    assert_int_equal(reply->failed_index, 0);
    reply_free(reply);
    free(bytes);
    free(data.data);
}

/* A query by `who`; must be refused with `expected`. */
static void query_case(struct world *w, const char *label, const struct principal *who,
                       Ledger__V1__Query *query, enum ledger_err expected)
{
    struct request_spec spec = {.principal_id = who->id, .secret = who->secret};
    size_t size = 0;
    uint8_t *bytes = request_query(&spec, query, &size);
    abuse_case(w, label, bytes, size, &spec, (int)expected);
    free(bytes);
}

/* A head query built from `spec`; must be refused with `expected`. */
static void head_case(struct world *w, const char *label, struct request_spec *spec,
                      enum ledger_err expected)
{
    size_t size = 0;
    uint8_t *bytes = request_head(spec, &size);
    abuse_case(w, label, bytes, size, spec, (int)expected);
    free(bytes);
}

/* --- the oracle --------------------------------------------------------------------- */

static const struct principal *principal_find(const struct world *w, const char *id)
{
    const struct principal *all[] = {&w->operator_, &w->admin_a, &w->admin_b, &w->auditor,
                                     &w->gone};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (strcmp(all[i]->id, id) == 0) {
            return all[i];
        }
    }
    return NULL;
}

/*
 * The code the protocol document's check order gives for `bytes`, computed
 * here from the bytes alone: TOO_LARGE, BAD_REQUEST, UNKNOWN_PRINCIPAL,
 * BAD_SIGNATURE, PRINCIPAL_REVOKED, STALE_REQUEST, BAD_REQUEST (nonce, body),
 * UNKNOWN_MESSAGE. -1 when the request passes those checks (the engine
 * decides then: the case asserts only that nothing was written).
 */
static int oracle_code(const struct world *w, const uint8_t *bytes, size_t size)
{
    if (size > ABUSE_REQUEST_BYTES_MAX) {
        return LEDGER_ERR_TOO_LARGE;
    }
    ProtobufCMessage *message = NULL;
    if (codec_message_unpack(&ledger__v1__request__descriptor, bytes, size, ABUSE_REQUEST_BYTES_MAX,
                             LEDGER_ERR_BAD_REQUEST, &message) != LEDGER_ERR_OK) {
        return LEDGER_ERR_BAD_REQUEST;
    }
    Ledger__V1__Request *request = (Ledger__V1__Request *)message;
    int code = -1;
    Ledger__V1__SignedRequest *signed_request = NULL;
    if (request->signed_.len == 0) {
        code = LEDGER_ERR_BAD_REQUEST;
        goto done;
    }
    message = NULL;
    if (codec_message_unpack(&ledger__v1__signed_request__descriptor, request->signed_.data,
                             request->signed_.len, ABUSE_REQUEST_BYTES_MAX, LEDGER_ERR_BAD_REQUEST,
                             &message) != LEDGER_ERR_OK) {
        code = LEDGER_ERR_BAD_REQUEST;
        goto done;
    }
    signed_request = (Ledger__V1__SignedRequest *)message;
    const char *id = signed_request->principal_id ? signed_request->principal_id : "";
    const struct principal *principal = codec_id_valid(id) ? principal_find(w, id) : NULL;
    if (principal == NULL) {
        code = LEDGER_ERR_UNKNOWN_PRINCIPAL;
        goto done;
    }
    uint8_t mac[CRYPTO_MAC_BYTES];
    crypto_hmac_sha256(principal->secret, LEDGER_SECRET_BYTES, request->signed_.data,
                       request->signed_.len, mac);
    if (request->mac.len != CRYPTO_MAC_BYTES ||
        !crypto_equal(mac, request->mac.data, CRYPTO_MAC_BYTES)) {
        code = LEDGER_ERR_BAD_SIGNATURE;
        goto done;
    }
    if (principal->revoked) {
        code = LEDGER_ERR_PRINCIPAL_REVOKED;
        goto done;
    }
    int64_t now = now_us();
    if (signed_request->timestamp_us < now - LEDGER_AUTH_WINDOW_US ||
        signed_request->timestamp_us > now + LEDGER_AUTH_WINDOW_US) {
        code = LEDGER_ERR_STALE_REQUEST;
        goto done;
    }
    const Ledger__V1__RequestBody *body = signed_request->body;
    if (signed_request->nonce.len != LEDGER_NONCE_BYTES || body == NULL) {
        code = LEDGER_ERR_BAD_REQUEST;
        goto done;
    }
    if (body->kind_case == LEDGER__V1__REQUEST_BODY__KIND__NOT_SET) {
        code =
            body->base.n_unknown_fields > 0 ? LEDGER_ERR_UNKNOWN_MESSAGE : LEDGER_ERR_BAD_REQUEST;
        goto done;
    }
    if (body->kind_case == LEDGER__V1__REQUEST_BODY__KIND_QUERY &&
        (body->query == NULL || body->query->kind_case == LEDGER__V1__QUERY__KIND__NOT_SET)) {
        code = body->query != NULL && body->query->base.n_unknown_fields > 0
                   ? LEDGER_ERR_UNKNOWN_MESSAGE
                   : LEDGER_ERR_BAD_REQUEST;
        goto done;
    }
    if (body->kind_case == LEDGER__V1__REQUEST_BODY__KIND_BATCH &&
        (body->batch == NULL || body->batch->n_commands == 0)) {
        code = LEDGER_ERR_BAD_REQUEST;
        goto done;
    }
done:
    codec_message_free(signed_request ? &signed_request->base : NULL);
    codec_message_free(&request->base);
    return code;
}

/* A case whose expected code is the oracle's; nonce echo is not checked (the
 * bytes may not decode that far). */
static void oracle_case(struct world *w, const char *label, const uint8_t *bytes, size_t size)
{
    int expected = oracle_code(w, bytes, size);
    if (expected < 0) {
        w->oracle_open++;
    }
    abuse_case(w, label, bytes, size, NULL, expected);
}

/* --- the world ---------------------------------------------------------------------- */

static void add_partner(struct world *w, const char *partner_id)
{
    Ledger__V1__AddPartner body = LEDGER__V1__ADD_PARTNER__INIT;
    body.partner_id = (char *)partner_id;
    body.name = (char *)partner_id;
    Ledger__V1__Command command = LEDGER__V1__COMMAND__INIT;
    command.partner_id = (char *)partner_id;
    command.body_case = LEDGER__V1__COMMAND__BODY_ADD_PARTNER;
    command.add_partner = &body;
    reply_free(execute_ok(w, &w->operator_, &command, "AddPartner"));
}

static void add_principal(struct world *w, struct principal *principal, Ledger__V1__Role role,
                          const char *partner_id)
{
    Ledger__V1__AddPrincipal body = LEDGER__V1__ADD_PRINCIPAL__INIT;
    body.principal_id = (char *)principal->id;
    body.role = role;
    body.partner_id = (char *)partner_id;
    Ledger__V1__Command command = LEDGER__V1__COMMAND__INIT;
    command.body_case = LEDGER__V1__COMMAND__BODY_ADD_PRINCIPAL;
    command.add_principal = &body;
    Ledger__V1__Reply *reply = execute_ok(w, &w->operator_, &command, "AddPrincipal");
    assert_int_equal(
        crypto_unhex(reply->results[0]->secret_hex, principal->secret, LEDGER_SECRET_BYTES),
        LEDGER_ERR_OK);
    reply_free(reply);
}

static void onboard(struct world *w, const struct principal *admin, const char *customer_id,
                    const char *subscription_id)
{
    Ledger__V1__OnboardCustomer onboard_body = LEDGER__V1__ONBOARD_CUSTOMER__INIT;
    onboard_body.name = (char *)customer_id;
    Ledger__V1__Command command = LEDGER__V1__COMMAND__INIT;
    command.customer_id = (char *)customer_id;
    command.body_case = LEDGER__V1__COMMAND__BODY_ONBOARD_CUSTOMER;
    command.onboard_customer = &onboard_body;
    reply_free(execute_ok(w, admin, &command, "OnboardCustomer"));
    Ledger__V1__PurchaseSubscription buy = LEDGER__V1__PURCHASE_SUBSCRIPTION__INIT;
    buy.subscription_id = (char *)subscription_id;
    buy.offer = LEDGER__V1__OFFER__OFFER_AZURE_PLAN;
    command.body_case = LEDGER__V1__COMMAND__BODY_PURCHASE_SUBSCRIPTION;
    command.purchase_subscription = &buy;
    reply_free(execute_ok(w, admin, &command, "PurchaseSubscription"));
}

/* A valid reservation purchase for c-a1 (the parts live in `parts`). */
struct reservation_parts {
    Ledger__V1__PurchaseReservation body;
    Ledger__V1__Scope scope;
    Ledger__V1__Money price;
    Ledger__V1__Money retail_price;
    Ledger__V1__Command command;
};

static void reservation_init(struct reservation_parts *p, const char *customer_id,
                             const char *subscription_id)
{
    ledger__v1__purchase_reservation__init(&p->body);
    ledger__v1__scope__init(&p->scope);
    ledger__v1__money__init(&p->price);
    ledger__v1__money__init(&p->retail_price);
    ledger__v1__command__init(&p->command);
    p->scope.kind = LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SHARED;
    p->price.amount_minor = 100000;
    p->price.currency = "USD";
    p->retail_price.amount_minor = 120000;
    p->retail_price.currency = "USD";
    p->body.billing_subscription_id = (char *)subscription_id;
    p->body.sku = "Standard_D2s_v3";
    p->body.region = "westeurope";
    p->body.quantity = 1;
    p->body.term = LEDGER__V1__TERM__TERM_P1Y;
    p->body.billing_plan = LEDGER__V1__BILLING_PLAN__BILLING_PLAN_UPFRONT;
    p->body.scope = &p->scope;
    p->body.price = &p->price;
    p->body.retail_price = &p->retail_price;
    p->command.customer_id = (char *)customer_id;
    p->command.body_case = LEDGER__V1__COMMAND__BODY_PURCHASE_RESERVATION;
    p->command.purchase_reservation = &p->body;
}

static int group_setup(void **state)
{
    if (crypto_init() != LEDGER_ERR_OK) {
        return -1;
    }
    struct world *w = calloc(1, sizeof *w);
    assert_non_null(w);
    w->client = -1;
    w->rng = ABUSE_SEED;
    w->operator_.id = "operator";
    w->admin_a.id = "admin-a";
    w->admin_b.id = "admin-b";
    w->auditor.id = "auditor";
    w->gone.id = "gone";
    test_make_dir(w->root, sizeof w->root, "abuse");
    snprintf(w->data, sizeof w->data, "%s/data", w->root);
    snprintf(w->log_path, sizeof w->log_path, "%s/ledgerd.log", w->root);
    snprintf(w->url, sizeof w->url, "ipc://%s/ledger.sock", w->data);
    const char *init[] = {"init", "--data", w->data, NULL};
    if (wait_exit(spawn(w, init), 120000) != 0 || !key_read(w->data, w->operator_.secret)) {
        fprintf(stderr, "ledgerd init failed; see %s\n", w->log_path);
        return -1;
    }
    const char *serve[] = {"--data", w->data, "--log-level", "info", "--request-bytes-max",
                           "4K",     NULL};
    w->pid = spawn(w, serve);
    /* Ready when a head query is answered (up to 60 s: a wrapper is slow). */
    bool ready = false;
    for (int attempt = 0; attempt < 120 && !ready; attempt++) {
        struct request_spec spec = {.principal_id = w->operator_.id, .secret = w->operator_.secret};
        ready = head_probe(w->url, &spec, 500);
        if (!ready && waitpid(w->pid, NULL, WNOHANG) == w->pid) {
            fprintf(stderr, "ledgerd exited at start; see %s\n", w->log_path);
            w->pid = 0;
            return -1;
        }
    }
    if (!ready) {
        fprintf(stderr, "ledgerd did not answer; see %s\n", w->log_path);
        return -1;
    }
    w->client = client_open(w->url, test_timeout_ms(REPLY_TIMEOUT_MS));

    add_partner(w, "p-a");
    add_partner(w, "p-b");
    add_principal(w, &w->admin_a, LEDGER__V1__ROLE__ROLE_ADMIN_AGENT, "p-a");
    add_principal(w, &w->admin_b, LEDGER__V1__ROLE__ROLE_ADMIN_AGENT, "p-b");
    add_principal(w, &w->auditor, LEDGER__V1__ROLE__ROLE_AUDITOR, "");
    add_principal(w, &w->gone, LEDGER__V1__ROLE__ROLE_OPERATOR, "");
    Ledger__V1__RevokePrincipal revoke = LEDGER__V1__REVOKE_PRINCIPAL__INIT;
    revoke.principal_id = "gone";
    Ledger__V1__Command command = LEDGER__V1__COMMAND__INIT;
    command.body_case = LEDGER__V1__COMMAND__BODY_REVOKE_PRINCIPAL;
    command.revoke_principal = &revoke;
    reply_free(execute_ok(w, &w->operator_, &command, "RevokePrincipal"));
    w->gone.revoked = true;
    onboard(w, &w->admin_a, "c-a1", "s-a1");
    onboard(w, &w->admin_b, "c-b1", "s-b1");
    struct reservation_parts parts;
    reservation_init(&parts, "c-a1", "s-a1");
    Ledger__V1__Reply *reply = execute_ok(w, &w->admin_a, &parts.command, "PurchaseReservation");
    assert_non_null(reply->results[0]->reservation_id);
    snprintf(w->reservation_a, sizeof w->reservation_a, "%s", reply->results[0]->reservation_id);
    reply_free(reply);
    w->head = head_sequence(w);
    *state = w;
    return 0;
}

static int group_teardown(void **state)
{
    struct world *w = *state;
    if (w == NULL) {
        return 0;
    }
    if (w->client >= 0) {
        nn_close(w->client);
    }
    int status = 0;
    if (w->pid > 0) {
        kill(w->pid, SIGTERM);
        status = wait_exit(w->pid, 120000);
    }
    print_message("abuse: %u cases run (%u flood requests among them; %u random cases passed "
                  "authentication), seed 0x%llx; daemon exit status %d\n",
                  w->cases, w->flood_requests, w->oracle_open, (unsigned long long)ABUSE_SEED,
                  status);
    bool keep = status != 0;
    if (keep) {
        fprintf(stderr, "ledgerd did not exit cleanly (%d); kept %s\n", status, w->root);
    } else {
        test_remove_dir(w->root);
    }
    free(w);
    return status == 0 ? 0 : -1;
}

/* --- tests -------------------------------------------------------------------------- */

/* Every frame length from 0 to one short of a valid request: the cut is
 * BAD_REQUEST, except the cut right after Request.signed, which decodes (the
 * MAC is simply absent): BAD_SIGNATURE with the nonce echoed. */
static void truncate_every_length(struct world *w, const char *what, uint8_t *bytes, size_t size,
                                  const struct request_spec *spec)
{
    /* Request = 0a <len signed> <signed> 12 20 <32-byte MAC>. */
    size_t signed_end = size - 2 - CRYPTO_MAC_BYTES;
    char label[96];
    for (size_t length = 0; length < size; length++) {
        snprintf(label, sizeof label, "%s cut to %zu of %zu bytes", what, length, size);
        bool mac_absent = length == signed_end;
        abuse_case(w, label, bytes, length, mac_absent ? spec : NULL,
                   mac_absent ? LEDGER_ERR_BAD_SIGNATURE : LEDGER_ERR_BAD_REQUEST);
    }
}

static void test_abuse_truncated_frames(void **state)
{
    struct world *w = *state;
    struct request_spec spec = {.principal_id = w->operator_.id, .secret = w->operator_.secret};
    size_t size = 0;
    uint8_t *bytes = request_head(&spec, &size);
    truncate_every_length(w, "head query", bytes, size, &spec);
    free(bytes);

    struct reservation_parts parts;
    reservation_init(&parts, "c-a1", "s-a1");
    ProtobufCBinaryData data = command_pack(w, &parts.command);
    struct request_spec command_spec = {.principal_id = w->admin_a.id, .secret = w->admin_a.secret};
    bytes = request_batch(&command_spec, &data, 1, &size);
    truncate_every_length(w, "purchase", bytes, size, &command_spec);
    free(bytes);

    /* The signed bytes themselves cut at every length and signed properly:
     * whatever still decodes is judged by the oracle (a principal alone is
     * STALE_REQUEST, a missing nonce or body BAD_REQUEST...). */
    struct request_spec full_spec = {.principal_id = w->admin_a.id, .secret = w->admin_a.secret};
    Ledger__V1__CommandBatch batch = LEDGER__V1__COMMAND_BATCH__INIT;
    batch.commands = &data;
    batch.n_commands = 1;
    Ledger__V1__RequestBody body = LEDGER__V1__REQUEST_BODY__INIT;
    body.kind_case = LEDGER__V1__REQUEST_BODY__KIND_BATCH;
    body.batch = &batch;
    Ledger__V1__SignedRequest signed_request = LEDGER__V1__SIGNED_REQUEST__INIT;
    crypto_random(full_spec.nonce, sizeof full_spec.nonce);
    signed_request.principal_id = "admin-a";
    signed_request.timestamp_us = now_us();
    signed_request.nonce.data = full_spec.nonce;
    signed_request.nonce.len = LEDGER_NONCE_BYTES;
    signed_request.body = &body;
    uint8_t *signed_bytes = NULL;
    size_t signed_size = 0;
    assert_int_equal(codec_pack(&signed_request.base, &signed_bytes, &signed_size), LEDGER_ERR_OK);
    char label[96];
    for (size_t length = 0; length < signed_size; length++) {
        uint8_t mac[CRYPTO_MAC_BYTES];
        crypto_hmac_sha256(w->admin_a.secret, LEDGER_SECRET_BYTES, signed_bytes, length, mac);
        Ledger__V1__Request request = LEDGER__V1__REQUEST__INIT;
        request.signed_.data = signed_bytes;
        request.signed_.len = length;
        request.mac.data = mac;
        request.mac.len = sizeof mac;
        uint8_t *request_bytes = NULL;
        assert_int_equal(codec_pack(&request.base, &request_bytes, &size), LEDGER_ERR_OK);
        snprintf(label, sizeof label, "signed purchase cut to %zu of %zu bytes", length,
                 signed_size);
        int expected = oracle_code(w, request_bytes, size);
        assert_true(expected >= 0); /* a cut request never passes the checks */
        abuse_case(w, label, request_bytes, size, NULL, expected);
        free(request_bytes);
    }
    free(signed_bytes);
    free(data.data);
}

static void test_abuse_random_bytes(void **state)
{
    struct world *w = *state;
    uint8_t bytes[ABUSE_RANDOM_BYTES_MAX + 64];
    char label[96];
    /* Noise. */
    for (int i = 0; i < ABUSE_RANDOM_EACH; i++) {
        size_t size = rng_below(w, ABUSE_RANDOM_BYTES_MAX + 1);
        for (size_t b = 0; b < size; b++) {
            bytes[b] = (uint8_t)rng_next(w);
        }
        snprintf(label, sizeof label, "random message %d (%zu bytes)", i, size);
        oracle_case(w, label, bytes, size);
    }
    /* A well-formed Request around random signed bytes and a random MAC: the
     * SignedRequest decoder gets the noise. */
    for (int i = 0; i < ABUSE_RANDOM_EACH; i++) {
        uint8_t noise[ABUSE_RANDOM_BYTES_MAX];
        uint8_t mac[CRYPTO_MAC_BYTES];
        size_t noise_size = 1 + rng_below(w, sizeof noise - 1);
        for (size_t b = 0; b < noise_size; b++) {
            noise[b] = (uint8_t)rng_next(w);
        }
        for (size_t b = 0; b < sizeof mac; b++) {
            mac[b] = (uint8_t)rng_next(w);
        }
        /* Every few, a real principal id first, so the MAC check is reached. */
        uint8_t *signed_bytes = NULL;
        size_t signed_size = 0;
        if (i % 4 == 0) {
            static const uint8_t principal[] = {0x0a, 0x08, 'o', 'p', 'e', 'r', 'a', 't', 'o', 'r'};
            bytes_append(&signed_bytes, &signed_size, principal, sizeof principal);
        }
        bytes_append(&signed_bytes, &signed_size, noise, noise_size);
        Ledger__V1__Request request = LEDGER__V1__REQUEST__INIT;
        request.signed_.data = signed_bytes;
        request.signed_.len = signed_size;
        request.mac.data = mac;
        request.mac.len = sizeof mac;
        uint8_t *request_bytes = NULL;
        size_t size = 0;
        assert_int_equal(codec_pack(&request.base, &request_bytes, &size), LEDGER_ERR_OK);
        snprintf(label, sizeof label, "random signed bytes %d (%zu bytes)", i, signed_size);
        oracle_case(w, label, request_bytes, size);
        free(request_bytes);
        free(signed_bytes);
    }
    /* A valid head query with 1..4 random bytes replaced. */
    for (int i = 0; i < ABUSE_RANDOM_EACH; i++) {
        struct request_spec spec = {.principal_id = w->operator_.id, .secret = w->operator_.secret};
        size_t size = 0;
        uint8_t *valid = request_head(&spec, &size);
        size_t changes = 1 + rng_below(w, 4);
        for (size_t c = 0; c < changes; c++) {
            size_t at = rng_below(w, size);
            valid[at] ^= (uint8_t)(1 + rng_below(w, 255));
        }
        snprintf(label, sizeof label, "mutated head query %d (%zu changes)", i, changes);
        oracle_case(w, label, valid, size);
        free(valid);
    }
}

/* A valid head query padded with an unknown field of Request (outside the
 * MAC) to exactly `target` bytes. */
static uint8_t *head_padded(struct request_spec *spec, size_t target, size_t *size_out)
{
    size_t size = 0;
    uint8_t *bytes = request_head(spec, &size);
    free(bytes);
    /* Field 15, length-delimited (0x7a), a 2-byte length (128..16383). */
    assert_true(target >= size + 3 + 128);
    size_t pad = target - size - 3;
    assert_true(pad < 16384);
    uint8_t *extra = calloc(1, target);
    assert_non_null(extra);
    extra[0] = 0x7a;
    extra[1] = (uint8_t)(0x80 | (pad & 0x7f));
    extra[2] = (uint8_t)(pad >> 7);
    memset(extra + 3, 'x', pad);
    spec->outer_extra = extra;
    spec->outer_extra_size = pad + 3;
    bytes = request_head(spec, &size);
    free(extra);
    spec->outer_extra = NULL;
    spec->outer_extra_size = 0;
    assert_int_equal(size, target);
    *size_out = size;
    return bytes;
}

static void test_abuse_oversized(void **state)
{
    struct world *w = *state;
    /* Exactly at the limit: answered. */
    struct request_spec spec = {.principal_id = w->operator_.id, .secret = w->operator_.secret};
    size_t size = 0;
    uint8_t *bytes = head_padded(&spec, ABUSE_REQUEST_BYTES_MAX, &size);
    Ledger__V1__Reply *reply = abuse_case_reply(w, "a valid request of exactly request_bytes_max",
                                                bytes, size, &spec, LEDGER_ERR_OK);
    assert_non_null(reply->query);
    reply_free(reply);
    free(bytes);
    /* One byte over: refused, although it is validly signed. */
    bytes = head_padded(&spec, ABUSE_REQUEST_BYTES_MAX + 1, &size);
    reply = abuse_case_reply(w, "a valid request one byte over request_bytes_max", bytes, size,
                             NULL, LEDGER_ERR_TOO_LARGE);
    assert_non_null(strstr(reply->message, "4097 bytes"));
    reply_free(reply);
    free(bytes);
    /* Noise over the limit, up to nanomsg's slack of 64 KiB. */
    static const size_t sizes[] = {ABUSE_REQUEST_BYTES_MAX + 1, ABUSE_REQUEST_BYTES_MAX + 100,
                                   2 * ABUSE_REQUEST_BYTES_MAX, 8 * ABUSE_REQUEST_BYTES_MAX,
                                   ABUSE_REQUEST_BYTES_MAX + 60000};
    char label[96];
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        uint8_t *noise = malloc(sizes[i]);
        assert_non_null(noise);
        for (size_t b = 0; b < sizes[i]; b++) {
            noise[b] = (uint8_t)rng_next(w);
        }
        snprintf(label, sizeof label, "%zu bytes of noise", sizes[i]);
        abuse_case(w, label, noise, sizes[i], NULL, LEDGER_ERR_TOO_LARGE);
        free(noise);
    }
    /* A signed batch of 60 valid commands (over 4 KiB): nothing of it is
     * written. */
    ProtobufCBinaryData commands[60];
    struct reservation_parts parts;
    reservation_init(&parts, "c-a1", "s-a1");
    for (size_t i = 0; i < 60; i++) {
        commands[i] = command_pack(w, &parts.command);
    }
    struct request_spec batch_spec = {.principal_id = w->admin_a.id, .secret = w->admin_a.secret};
    bytes = request_batch(&batch_spec, commands, 60, &size);
    assert_true(size > ABUSE_REQUEST_BYTES_MAX);
    abuse_case(w, "a signed batch over request_bytes_max", bytes, size, NULL, LEDGER_ERR_TOO_LARGE);
    free(bytes);
    for (size_t i = 0; i < 60; i++) {
        free(commands[i].data);
    }
}

static void test_abuse_unknown_fields(void **state)
{
    struct world *w = *state;
    /* Field 15 varint 1, and field 1000 length-delimited "zz". */
    static const uint8_t unknown[] = {0x78, 0x01, 0xc2, 0x3e, 0x02, 'z', 'z'};
    /* Accepted and ignored: outside the MAC (Request), inside it
     * (SignedRequest), in a Query with a known kind. */
    struct request_spec outer = {.principal_id = w->operator_.id,
                                 .secret = w->operator_.secret,
                                 .outer_extra = unknown,
                                 .outer_extra_size = sizeof unknown};
    size_t size = 0;
    uint8_t *bytes = request_head(&outer, &size);
    reply_free(
        abuse_case_reply(w, "unknown fields in Request", bytes, size, &outer, LEDGER_ERR_OK));
    free(bytes);
    struct request_spec inner = {.principal_id = w->operator_.id,
                                 .secret = w->operator_.secret,
                                 .signed_extra = unknown,
                                 .signed_extra_size = sizeof unknown};
    bytes = request_head(&inner, &size);
    reply_free(
        abuse_case_reply(w, "unknown fields in SignedRequest", bytes, size, &inner, LEDGER_ERR_OK));
    free(bytes);
    /* A Query with a known kind and an unknown field, built by hand. */
    struct request_spec query_spec = {.principal_id = w->operator_.id,
                                      .secret = w->operator_.secret};
    Ledger__V1__SignedRequest signed_request = LEDGER__V1__SIGNED_REQUEST__INIT;
    crypto_random(query_spec.nonce, sizeof query_spec.nonce);
    signed_request.principal_id = "operator";
    signed_request.timestamp_us = now_us();
    signed_request.nonce.data = query_spec.nonce;
    signed_request.nonce.len = LEDGER_NONCE_BYTES;
    uint8_t *signed_bytes = NULL;
    size_t signed_size = 0;
    assert_int_equal(codec_pack(&signed_request.base, &signed_bytes, &signed_size), LEDGER_ERR_OK);
    /* body (4) = RequestBody{query (2) = Query{head (18) = {}, field 40 = 7}} */
    static const uint8_t body_bytes[] = {0x22, 0x08, 0x12, 0x06, 0x92,
                                         0x01, 0x00, 0xc0, 0x02, 0x07};
    bytes_append(&signed_bytes, &signed_size, body_bytes, sizeof body_bytes);
    uint8_t mac[CRYPTO_MAC_BYTES];
    crypto_hmac_sha256(w->operator_.secret, LEDGER_SECRET_BYTES, signed_bytes, signed_size, mac);
    Ledger__V1__Request request = LEDGER__V1__REQUEST__INIT;
    request.signed_.data = signed_bytes;
    request.signed_.len = signed_size;
    request.mac.data = mac;
    request.mac.len = sizeof mac;
    assert_int_equal(codec_pack(&request.base, &bytes, &size), LEDGER_ERR_OK);
    reply_free(abuse_case_reply(w, "an unknown field in a head Query", bytes, size, &query_spec,
                                LEDGER_ERR_OK));
    free(bytes);

    /* Refused with UNKNOWN_MESSAGE: a RequestBody kind (field 9), a Query
     * kind (field 30) and a Command body (field 60) this daemon does not
     * know. */
    static const uint8_t unknown_body_kind[] = {0x22, 0x02, 0x48, 0x01};
    static const uint8_t unknown_query_kind[] = {0x22, 0x05, 0x12, 0x03, 0xf2, 0x01, 0x00};
    const struct {
        const char *label;
        const uint8_t *bytes;
        size_t size;
    } unknown_kinds[] = {
        {"an unknown RequestBody kind", unknown_body_kind, sizeof unknown_body_kind},
        {"an unknown Query kind", unknown_query_kind, sizeof unknown_query_kind},
    };
    for (size_t i = 0; i < sizeof unknown_kinds / sizeof unknown_kinds[0]; i++) {
        size_t envelope_size = signed_size - sizeof body_bytes;
        uint8_t *custom = malloc(envelope_size + unknown_kinds[i].size);
        assert_non_null(custom);
        memcpy(custom, signed_bytes, envelope_size);
        memcpy(custom + envelope_size, unknown_kinds[i].bytes, unknown_kinds[i].size);
        crypto_hmac_sha256(w->operator_.secret, LEDGER_SECRET_BYTES, custom,
                           envelope_size + unknown_kinds[i].size, mac);
        request.signed_.data = custom;
        request.signed_.len = envelope_size + unknown_kinds[i].size;
        assert_int_equal(codec_pack(&request.base, &bytes, &size), LEDGER_ERR_OK);
        abuse_case(w, unknown_kinds[i].label, bytes, size, &query_spec, LEDGER_ERR_UNKNOWN_MESSAGE);
        free(bytes);
        free(custom);
    }
    free(signed_bytes);

    /* A command with an unknown body (field 60) only. */
    Ledger__V1__Command command = LEDGER__V1__COMMAND__INIT;
    command.customer_id = "c-a1";
    static const uint8_t unknown_command_body[] = {0xe2, 0x03, 0x00}; /* field 60, empty */
    ProtobufCBinaryData data =
        command_pack_extra(w, &command, unknown_command_body, sizeof unknown_command_body);
    struct request_spec command_spec = {.principal_id = w->admin_a.id, .secret = w->admin_a.secret};
    bytes = request_batch(&command_spec, &data, 1, &size);
    abuse_case(w, "an unknown Command body", bytes, size, &command_spec,
               LEDGER_ERR_UNKNOWN_MESSAGE);
    free(bytes);
    free(data.data);

    /* A known field with the wrong wire type does not decode: SignedRequest
     * field 1 (principal_id, a string) sent as a varint. */
    static const uint8_t wrong_type[] = {0x08, 0x01};
    struct request_spec wrong = {.principal_id = w->operator_.id,
                                 .secret = w->operator_.secret,
                                 .signed_extra = wrong_type,
                                 .signed_extra_size = 2};
    bytes = request_head(&wrong, &size);
    abuse_case(w, "a known field with the wrong wire type", bytes, size, NULL,
               LEDGER_ERR_BAD_REQUEST);
    free(bytes);

    /* A command with unknown fields is accepted; the fields are ignored but
     * the command's hash covers them: the same id without them is
     * COMMAND_ID_REUSED, the same bytes again a duplicate. */
    Ledger__V1__PurchaseSubscription buy = LEDGER__V1__PURCHASE_SUBSCRIPTION__INIT;
    buy.subscription_id = "s-a-unknown";
    buy.offer = LEDGER__V1__OFFER__OFFER_AZURE_PLAN;
    command.command_id = "unknown-fields-1";
    command.body_case = LEDGER__V1__COMMAND__BODY_PURCHASE_SUBSCRIPTION;
    command.purchase_subscription = &buy;
    data = command_pack_extra(w, &command, unknown, sizeof unknown);
    struct request_spec accepted = {.principal_id = w->admin_a.id, .secret = w->admin_a.secret};
    bytes = request_batch(&accepted, &data, 1, &size);
    Ledger__V1__Reply *reply = call_ok(w, bytes, size, "a command with unknown fields");
    assert_false(reply->results[0]->duplicate);
    assert_int_equal(reply->results[0]->first_sequence, w->head + 1);
    w->head++;
    reply_free(reply);
    assert_int_equal(head_sequence(w), w->head);
    free(bytes);
    bytes = request_batch(&accepted, &data, 1, &size);
    reply = abuse_case_reply(w, "a command with unknown fields, again", bytes, size, &accepted,
                             LEDGER_ERR_OK);
    assert_true(reply->results[0]->duplicate);
    reply_free(reply);
    free(bytes);
    free(data.data);
    data = command_pack(w, &command);
    command_spec =
        (struct request_spec){.principal_id = w->admin_a.id, .secret = w->admin_a.secret};
    bytes = request_batch(&command_spec, &data, 1, &size);
    abuse_case(w, "the same command id without the unknown fields", bytes, size, &command_spec,
               LEDGER_ERR_COMMAND_ID_REUSED);
    free(bytes);
    free(data.data);
}

static void test_abuse_unknown_enum_values(void **state)
{
    struct world *w = *state;
    /* AddPrincipal.role (operator). */
    static const struct {
        int role;
        enum ledger_err expected;
    } roles[] = {{99, LEDGER_ERR_UNKNOWN_MESSAGE},
                 {-1, LEDGER_ERR_UNKNOWN_MESSAGE},
                 {INT32_MAX, LEDGER_ERR_UNKNOWN_MESSAGE},
                 {0, LEDGER_ERR_INVALID_ARGUMENT}};
    char label[96];
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++) {
        Ledger__V1__AddPrincipal body = LEDGER__V1__ADD_PRINCIPAL__INIT;
        body.principal_id = "new-principal";
        body.role = (Ledger__V1__Role)roles[i].role;
        Ledger__V1__Command command = LEDGER__V1__COMMAND__INIT;
        command.body_case = LEDGER__V1__COMMAND__BODY_ADD_PRINCIPAL;
        command.add_principal = &body;
        snprintf(label, sizeof label, "AddPrincipal role %d", roles[i].role);
        command_case(w, label, &w->operator_, &command, roles[i].expected);
    }
    /* PurchaseReservation enums. */
    struct reservation_parts parts;
    reservation_init(&parts, "c-a1", "s-a1");
    parts.body.term = (Ledger__V1__Term)42;
    command_case(w, "PurchaseReservation term 42", &w->admin_a, &parts.command,
                 LEDGER_ERR_UNKNOWN_MESSAGE);
    parts.body.term = (Ledger__V1__Term)-7;
    command_case(w, "PurchaseReservation term -7", &w->admin_a, &parts.command,
                 LEDGER_ERR_UNKNOWN_MESSAGE);
    parts.body.term = LEDGER__V1__TERM__TERM_UNSPECIFIED;
    command_case(w, "PurchaseReservation term unspecified", &w->admin_a, &parts.command,
                 LEDGER_ERR_INVALID_ARGUMENT);
    reservation_init(&parts, "c-a1", "s-a1");
    parts.body.billing_plan = (Ledger__V1__BillingPlan)9;
    command_case(w, "PurchaseReservation billing plan 9", &w->admin_a, &parts.command,
                 LEDGER_ERR_UNKNOWN_MESSAGE);
    reservation_init(&parts, "c-a1", "s-a1");
    parts.scope.kind = (Ledger__V1__ScopeKind)77;
    command_case(w, "PurchaseReservation scope kind 77", &w->admin_a, &parts.command,
                 LEDGER_ERR_UNKNOWN_MESSAGE);
    /* PurchaseSubscription.offer, SetSubscriptionStatus.status,
     * GrantPermission.kind, AssignRole.role. */
    Ledger__V1__Command command = LEDGER__V1__COMMAND__INIT;
    command.customer_id = "c-a1";
    Ledger__V1__PurchaseSubscription buy = LEDGER__V1__PURCHASE_SUBSCRIPTION__INIT;
    buy.subscription_id = "s-a-enum";
    buy.offer = (Ledger__V1__Offer)99;
    command.body_case = LEDGER__V1__COMMAND__BODY_PURCHASE_SUBSCRIPTION;
    command.purchase_subscription = &buy;
    command_case(w, "PurchaseSubscription offer 99", &w->admin_a, &command,
                 LEDGER_ERR_UNKNOWN_MESSAGE);
    Ledger__V1__SetSubscriptionStatus status = LEDGER__V1__SET_SUBSCRIPTION_STATUS__INIT;
    status.subscription_id = "s-a1";
    status.status = (Ledger__V1__SubscriptionStatus)99;
    command.body_case = LEDGER__V1__COMMAND__BODY_SET_SUBSCRIPTION_STATUS;
    command.set_subscription_status = &status;
    command_case(w, "SetSubscriptionStatus status 99", &w->admin_a, &command,
                 LEDGER_ERR_UNKNOWN_MESSAGE);
    Ledger__V1__GrantPermission grant = LEDGER__V1__GRANT_PERMISSION__INIT;
    grant.kind = (Ledger__V1__PermissionKind)3;
    command.body_case = LEDGER__V1__COMMAND__BODY_GRANT_PERMISSION;
    command.grant_permission = &grant;
    command_case(w, "GrantPermission kind 3", &w->admin_a, &command, LEDGER_ERR_UNKNOWN_MESSAGE);
    Ledger__V1__AssignRole assign = LEDGER__V1__ASSIGN_ROLE__INIT;
    assign.subscription_id = "s-a1";
    assign.user = "alice";
    assign.role = (Ledger__V1__AzureRole)12;
    command.body_case = LEDGER__V1__COMMAND__BODY_ASSIGN_ROLE;
    command.assign_role = &assign;
    command_case(w, "AssignRole role 12", &w->admin_a, &command, LEDGER_ERR_UNKNOWN_MESSAGE);
    /* PurchaseSavingsPlan.term. */
    Ledger__V1__Money hourly = LEDGER__V1__MONEY__INIT;
    hourly.amount_minor = 100;
    hourly.currency = "USD";
    Ledger__V1__PurchaseSavingsPlan plan = LEDGER__V1__PURCHASE_SAVINGS_PLAN__INIT;
    plan.billing_subscription_id = "s-a1";
    plan.hourly_commitment = &hourly;
    plan.term = (Ledger__V1__Term)42;
    plan.billing_plan = LEDGER__V1__BILLING_PLAN__BILLING_PLAN_MONTHLY;
    plan.scope = &parts.scope;
    plan.price = &parts.price;
    plan.retail_price = &parts.retail_price;
    parts.scope.kind = LEDGER__V1__SCOPE_KIND__SCOPE_KIND_SHARED;
    command.body_case = LEDGER__V1__COMMAND__BODY_PURCHASE_SAVINGS_PLAN;
    command.purchase_savings_plan = &plan;
    command_case(w, "PurchaseSavingsPlan term 42", &w->admin_a, &command,
                 LEDGER_ERR_UNKNOWN_MESSAGE);
}

static void test_abuse_amounts_and_currencies(void **state)
{
    struct world *w = *state;
    static const int64_t bad_amounts[] = {
        -1, 0, INT64_MIN, INT64_MAX, LEDGER_AMOUNT_MINOR_MAX + 1, -LEDGER_AMOUNT_MINOR_MAX};
    char label[96];
    struct reservation_parts parts;
    for (size_t i = 0; i < sizeof bad_amounts / sizeof bad_amounts[0]; i++) {
        reservation_init(&parts, "c-a1", "s-a1");
        parts.price.amount_minor = bad_amounts[i];
        snprintf(label, sizeof label, "reservation price %lld", (long long)bad_amounts[i]);
        command_case(w, label, &w->admin_a, &parts.command, LEDGER_ERR_INVALID_AMOUNT);
        reservation_init(&parts, "c-a1", "s-a1");
        parts.retail_price.amount_minor = bad_amounts[i];
        snprintf(label, sizeof label, "reservation retail price %lld", (long long)bad_amounts[i]);
        command_case(w, label, &w->admin_a, &parts.command, LEDGER_ERR_INVALID_AMOUNT);
    }
    /* The largest amount is accepted by the shape check (and then decided):
     * the exchange and cap sums of such amounts must not overflow. Here the
     * price is merely huge and valid, so it is bought. */
    static const char *const bad_currencies[] = {"usd", "US",  "U5D",  "USDD",
                                                 "",    "U D", "1234", "\xc3\x9cSD"};
    for (size_t i = 0; i < sizeof bad_currencies / sizeof bad_currencies[0]; i++) {
        reservation_init(&parts, "c-a1", "s-a1");
        parts.price.currency = (char *)bad_currencies[i];
        parts.retail_price.currency = (char *)bad_currencies[i];
        snprintf(label, sizeof label, "reservation currency \"%s\"", bad_currencies[i]);
        command_case(w, label, &w->admin_a, &parts.command, LEDGER_ERR_INVALID_AMOUNT);
    }
    /* Two valid but different currencies. */
    reservation_init(&parts, "c-a1", "s-a1");
    parts.retail_price.currency = "EUR";
    command_case(w, "reservation price USD, retail EUR", &w->admin_a, &parts.command,
                 LEDGER_ERR_CURRENCY_MISMATCH);
    /* A savings plan's hourly commitment. */
    reservation_init(&parts, "c-a1", "s-a1");
    Ledger__V1__Money hourly = LEDGER__V1__MONEY__INIT;
    hourly.currency = "USD";
    Ledger__V1__PurchaseSavingsPlan plan = LEDGER__V1__PURCHASE_SAVINGS_PLAN__INIT;
    plan.billing_subscription_id = "s-a1";
    plan.hourly_commitment = &hourly;
    plan.term = LEDGER__V1__TERM__TERM_P1Y;
    plan.billing_plan = LEDGER__V1__BILLING_PLAN__BILLING_PLAN_MONTHLY;
    plan.scope = &parts.scope;
    plan.price = &parts.price;
    plan.retail_price = &parts.retail_price;
    Ledger__V1__Command command = LEDGER__V1__COMMAND__INIT;
    command.customer_id = "c-a1";
    command.body_case = LEDGER__V1__COMMAND__BODY_PURCHASE_SAVINGS_PLAN;
    command.purchase_savings_plan = &plan;
    for (size_t i = 0; i < sizeof bad_amounts / sizeof bad_amounts[0]; i++) {
        hourly.amount_minor = bad_amounts[i];
        snprintf(label, sizeof label, "savings plan hourly commitment %lld",
                 (long long)bad_amounts[i]);
        command_case(w, label, &w->admin_a, &command, LEDGER_ERR_INVALID_AMOUNT);
    }
    hourly.amount_minor = 100;
    hourly.currency = "usd";
    command_case(w, "savings plan hourly commitment in \"usd\"", &w->admin_a, &command,
                 LEDGER_ERR_INVALID_AMOUNT);
    /* A cancellation's refund (of an existing reservation). */
    Ledger__V1__Money refund = LEDGER__V1__MONEY__INIT;
    refund.currency = "USD";
    Ledger__V1__CancelReservation cancel = LEDGER__V1__CANCEL_RESERVATION__INIT;
    cancel.reservation_id = w->reservation_a;
    cancel.refund = &refund;
    command.body_case = LEDGER__V1__COMMAND__BODY_CANCEL_RESERVATION;
    command.cancel_reservation = &cancel;
    static const int64_t bad_refunds[] = {-1, INT64_MIN, INT64_MAX, LEDGER_AMOUNT_MINOR_MAX + 1};
    for (size_t i = 0; i < sizeof bad_refunds / sizeof bad_refunds[0]; i++) {
        refund.amount_minor = bad_refunds[i];
        snprintf(label, sizeof label, "cancellation refund %lld", (long long)bad_refunds[i]);
        command_case(w, label, &w->admin_a, &command, LEDGER_ERR_INVALID_AMOUNT);
    }
    refund.amount_minor = 10;
    refund.currency = "Usd";
    command_case(w, "cancellation refund in \"Usd\"", &w->admin_a, &command,
                 LEDGER_ERR_INVALID_AMOUNT);
}

static void test_abuse_unknown_ids(void **state)
{
    struct world *w = *state;
    struct reservation_parts parts;
    reservation_init(&parts, "c-nope", "s-a1");
    command_case(w, "purchase for an unknown customer", &w->admin_a, &parts.command,
                 LEDGER_ERR_CUSTOMER_NOT_FOUND);
    /* Customers are per partner: p-b's customer is unknown to p-a. */
    reservation_init(&parts, "c-b1", "s-b1");
    command_case(w, "purchase for another partner's customer id", &w->admin_a, &parts.command,
                 LEDGER_ERR_CUSTOMER_NOT_FOUND);
    reservation_init(&parts, "c-a1", "s-nope");
    command_case(w, "purchase on an unknown subscription", &w->admin_a, &parts.command,
                 LEDGER_ERR_SUBSCRIPTION_NOT_FOUND);
    reservation_init(&parts, "c-a1", "s-b1");
    command_case(w, "purchase on another customer's subscription", &w->admin_a, &parts.command,
                 LEDGER_ERR_SUBSCRIPTION_NOT_FOUND);
    Ledger__V1__Command command = LEDGER__V1__COMMAND__INIT;
    command.customer_id = "c-nope";
    Ledger__V1__PurchaseSubscription buy = LEDGER__V1__PURCHASE_SUBSCRIPTION__INIT;
    buy.subscription_id = "s-new";
    buy.offer = LEDGER__V1__OFFER__OFFER_AZURE_PLAN;
    command.body_case = LEDGER__V1__COMMAND__BODY_PURCHASE_SUBSCRIPTION;
    command.purchase_subscription = &buy;
    command_case(w, "subscription for an unknown customer", &w->admin_a, &command,
                 LEDGER_ERR_CUSTOMER_NOT_FOUND);
    command.customer_id = "c-a1";
    Ledger__V1__SetSubscriptionStatus status = LEDGER__V1__SET_SUBSCRIPTION_STATUS__INIT;
    status.subscription_id = "s-nope";
    status.status = LEDGER__V1__SUBSCRIPTION_STATUS__SUBSCRIPTION_STATUS_SUSPENDED;
    command.body_case = LEDGER__V1__COMMAND__BODY_SET_SUBSCRIPTION_STATUS;
    command.set_subscription_status = &status;
    command_case(w, "status of an unknown subscription", &w->admin_a, &command,
                 LEDGER_ERR_SUBSCRIPTION_NOT_FOUND);
    Ledger__V1__AssignRole assign = LEDGER__V1__ASSIGN_ROLE__INIT;
    assign.subscription_id = "s-nope";
    assign.user = "alice";
    assign.role = LEDGER__V1__AZURE_ROLE__AZURE_ROLE_OWNER;
    command.body_case = LEDGER__V1__COMMAND__BODY_ASSIGN_ROLE;
    command.assign_role = &assign;
    command_case(w, "role on an unknown subscription", &w->admin_a, &command,
                 LEDGER_ERR_SUBSCRIPTION_NOT_FOUND);
    Ledger__V1__Money refund = LEDGER__V1__MONEY__INIT;
    refund.amount_minor = 10;
    refund.currency = "USD";
    Ledger__V1__CancelReservation cancel = LEDGER__V1__CANCEL_RESERVATION__INIT;
    cancel.reservation_id = "res-999999";
    cancel.refund = &refund;
    command.body_case = LEDGER__V1__COMMAND__BODY_CANCEL_RESERVATION;
    command.cancel_reservation = &cancel;
    command_case(w, "cancel an unknown reservation", &w->admin_a, &command,
                 LEDGER_ERR_RESERVATION_NOT_FOUND);
    /* Ids that are not ids at all. */
    reservation_init(&parts, "c a1", "s-a1");
    command_case(w, "a customer id with a space", &w->admin_a, &parts.command,
                 LEDGER_ERR_INVALID_ARGUMENT);
    parts.command.customer_id = "c-a1";
    parts.command.command_id = "bad id!";
    command_case(w, "a malformed command id", &w->admin_a, &parts.command,
                 LEDGER_ERR_INVALID_ARGUMENT);
    char long_id[LEDGER_ID_LENGTH_MAX + 2];
    memset(long_id, 'c', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    parts.command.command_id = long_id;
    command_case(w, "a 65-character command id", &w->admin_a, &parts.command,
                 LEDGER_ERR_INVALID_ARGUMENT);
}

static void test_abuse_other_partner(void **state)
{
    struct world *w = *state;
    struct reservation_parts parts;
    reservation_init(&parts, "c-b1", "s-b1");
    parts.command.partner_id = "p-b";
    command_case(w, "purchase naming another partner", &w->admin_a, &parts.command,
                 LEDGER_ERR_PARTNER_MISMATCH);
    reservation_init(&parts, "c-a1", "s-a1");
    parts.command.partner_id = "p-a";
    command_case(w, "p-a's purchase sent by p-b's agent", &w->admin_b, &parts.command,
                 LEDGER_ERR_PARTNER_MISMATCH);
    Ledger__V1__OnboardCustomer onboard_body = LEDGER__V1__ONBOARD_CUSTOMER__INIT;
    onboard_body.name = "Intruder";
    Ledger__V1__Command command = LEDGER__V1__COMMAND__INIT;
    command.partner_id = "p-b";
    command.customer_id = "c-intruder";
    command.body_case = LEDGER__V1__COMMAND__BODY_ONBOARD_CUSTOMER;
    command.onboard_customer = &onboard_body;
    command_case(w, "onboarding into another partner", &w->admin_a, &command,
                 LEDGER_ERR_PARTNER_MISMATCH);
    command.partner_id = "p-nope";
    command_case(w, "onboarding into an unknown partner", &w->admin_a, &command,
                 LEDGER_ERR_PARTNER_MISMATCH);
    Ledger__V1__ReservationsQuery reservations = LEDGER__V1__RESERVATIONS_QUERY__INIT;
    reservations.customer_id = "c-b1";
    Ledger__V1__Query query = LEDGER__V1__QUERY__INIT;
    query.partner_id = "p-b";
    query.kind_case = LEDGER__V1__QUERY__KIND_RESERVATIONS;
    query.reservations = &reservations;
    query_case(w, "reservations of another partner", &w->admin_a, &query,
               LEDGER_ERR_PARTNER_MISMATCH);
    Ledger__V1__BillingQuery billing = LEDGER__V1__BILLING_QUERY__INIT;
    billing.month = "2026-11";
    query.kind_case = LEDGER__V1__QUERY__KIND_BILLING;
    query.billing = &billing;
    query_case(w, "billing of another partner", &w->admin_a, &query, LEDGER_ERR_PARTNER_MISMATCH);
    /* A role that may not: an auditor's command, an admin agent's events
     * query. */
    reservation_init(&parts, "c-a1", "s-a1");
    parts.command.partner_id = "p-a";
    command_case(w, "an auditor's purchase", &w->auditor, &parts.command, LEDGER_ERR_FORBIDDEN);
    Ledger__V1__EventsQuery events = LEDGER__V1__EVENTS_QUERY__INIT;
    query.partner_id = "";
    query.kind_case = LEDGER__V1__QUERY__KIND_EVENTS;
    query.events = &events;
    query_case(w, "an admin agent's events query", &w->admin_a, &query, LEDGER_ERR_FORBIDDEN);
}

static void test_abuse_replays(void **state)
{
    struct world *w = *state;
    /* A command's exact bytes again: the original result, duplicate, nothing
     * appended. */
    Ledger__V1__PurchaseSubscription buy = LEDGER__V1__PURCHASE_SUBSCRIPTION__INIT;
    buy.subscription_id = "s-a-replay";
    buy.offer = LEDGER__V1__OFFER__OFFER_AZURE_GLOBAL;
    Ledger__V1__Command command = LEDGER__V1__COMMAND__INIT;
    command.customer_id = "c-a1";
    command.command_id = "replay-1";
    command.body_case = LEDGER__V1__COMMAND__BODY_PURCHASE_SUBSCRIPTION;
    command.purchase_subscription = &buy;
    ProtobufCBinaryData data = command_pack(w, &command);
    struct request_spec spec = {.principal_id = w->admin_a.id, .secret = w->admin_a.secret};
    size_t size = 0;
    uint8_t *captured = request_batch(&spec, &data, 1, &size);
    Ledger__V1__Reply *first = call_ok(w, captured, size, "the original command");
    assert_false(first->results[0]->duplicate);
    w->head++;
    assert_int_equal(first->results[0]->first_sequence, w->head);
    assert_int_equal(head_sequence(w), w->head);
    for (int i = 0; i < 3; i++) {
        Ledger__V1__Reply *again = abuse_case_reply(w, "a command replayed byte for byte", captured,
                                                    size, &spec, LEDGER_ERR_OK);
        assert_true(again->results[0]->duplicate);
        assert_int_equal(again->results[0]->first_sequence, first->results[0]->first_sequence);
        assert_int_equal(again->results[0]->stream_version, first->results[0]->stream_version);
        reply_free(again);
    }
    reply_free(first);
    free(captured);
    free(data.data);

    /* A refused command's bytes again: the same refusal, still nothing. */
    struct reservation_parts parts;
    reservation_init(&parts, "c-a1", "s-a1");
    parts.price.amount_minor = -5;
    data = command_pack(w, &parts.command);
    spec = (struct request_spec){.principal_id = w->admin_a.id, .secret = w->admin_a.secret};
    captured = request_batch(&spec, &data, 1, &size);
    for (int i = 0; i < 3; i++) {
        abuse_case(w, "a refused command replayed", captured, size, &spec,
                   LEDGER_ERR_INVALID_AMOUNT);
    }
    free(captured);
    free(data.data);

    /* A query's exact bytes again: the same answer. */
    Ledger__V1__ReservationsQuery reservations = LEDGER__V1__RESERVATIONS_QUERY__INIT;
    reservations.customer_id = "c-a1";
    Ledger__V1__Query query = LEDGER__V1__QUERY__INIT;
    query.kind_case = LEDGER__V1__QUERY__KIND_RESERVATIONS;
    query.reservations = &reservations;
    spec = (struct request_spec){.principal_id = w->admin_a.id, .secret = w->admin_a.secret};
    captured = request_query(&spec, &query, &size);
    Ledger__V1__Reply *original = call_ok(w, captured, size, "the original query");
    assert_true(original->query->n_reservations >= 1);
    uint8_t *original_bytes = NULL;
    size_t original_size = 0;
    assert_int_equal(codec_pack(&original->query->base, &original_bytes, &original_size),
                     LEDGER_ERR_OK);
    for (int i = 0; i < 3; i++) {
        Ledger__V1__Reply *again = abuse_case_reply(w, "a query replayed byte for byte", captured,
                                                    size, &spec, LEDGER_ERR_OK);
        uint8_t *again_bytes = NULL;
        size_t again_size = 0;
        assert_int_equal(codec_pack(&again->query->base, &again_bytes, &again_size), LEDGER_ERR_OK);
        assert_int_equal(again_size, original_size);
        assert_memory_equal(again_bytes, original_bytes, original_size);
        assert_int_equal(again->head_sequence, original->head_sequence);
        free(again_bytes);
        reply_free(again);
    }
    free(original_bytes);
    reply_free(original);
    free(captured);
}

static void test_abuse_stale_timestamps(void **state)
{
    struct world *w = *state;
    const struct {
        const char *label;
        int64_t timestamp_us;
    } stale[] = {
        {"301 s old", now_us() - INT64_C(301) * 1000000},
        {"301 s ahead", now_us() + INT64_C(301) * 1000000},
        {"a day old", now_us() - INT64_C(86400) * 1000000},
        {"a year ahead", now_us() + INT64_C(365) * 86400 * 1000000},
        {"timestamp 0", 0},
        {"timestamp -1", -1},
        {"timestamp INT64_MIN", INT64_MIN},
        {"timestamp INT64_MAX", INT64_MAX},
    };
    for (size_t i = 0; i < sizeof stale / sizeof stale[0]; i++) {
        struct request_spec spec = {.principal_id = w->operator_.id,
                                    .secret = w->operator_.secret,
                                    .timestamp_us = stale[i].timestamp_us,
                                    .timestamp_set = true};
        head_case(w, stale[i].label, &spec, LEDGER_ERR_STALE_REQUEST);
    }
    /* A stale command writes nothing. */
    struct reservation_parts parts;
    reservation_init(&parts, "c-a1", "s-a1");
    ProtobufCBinaryData data = command_pack(w, &parts.command);
    struct request_spec spec = {.principal_id = w->admin_a.id,
                                .secret = w->admin_a.secret,
                                .timestamp_us = now_us() - INT64_C(400) * 1000000,
                                .timestamp_set = true};
    size_t size = 0;
    uint8_t *bytes = request_batch(&spec, &data, 1, &size);
    abuse_case(w, "a stale purchase", bytes, size, &spec, LEDGER_ERR_STALE_REQUEST);
    free(bytes);
    free(data.data);
    /* The MAC is checked first: stale and wrongly signed is BAD_SIGNATURE. */
    uint8_t wrong[LEDGER_SECRET_BYTES] = {1};
    struct request_spec both = {.principal_id = w->operator_.id,
                                .secret = wrong,
                                .timestamp_us = now_us() - INT64_C(400) * 1000000,
                                .timestamp_set = true};
    head_case(w, "stale and wrongly signed", &both, LEDGER_ERR_BAD_SIGNATURE);
}

static void test_abuse_wrong_keys(void **state)
{
    struct world *w = *state;
    uint8_t wrong[LEDGER_SECRET_BYTES];
    memcpy(wrong, w->operator_.secret, sizeof wrong);
    wrong[LEDGER_SECRET_BYTES - 1] ^= 0x80;
    struct request_spec spec = {.principal_id = w->operator_.id, .secret = wrong};
    head_case(w, "a key one bit off", &spec, LEDGER_ERR_BAD_SIGNATURE);
    spec = (struct request_spec){.principal_id = w->operator_.id, .secret = w->admin_a.secret};
    head_case(w, "another principal's key", &spec, LEDGER_ERR_BAD_SIGNATURE);
    spec = (struct request_spec){.principal_id = "operator"};
    head_case(w, "a MAC of zeros", &spec, LEDGER_ERR_BAD_SIGNATURE);
    static const int mac_sizes[] = {-1, 1, 16, 31, 33, 64};
    char label[64];
    for (size_t i = 0; i < sizeof mac_sizes / sizeof mac_sizes[0]; i++) {
        spec = (struct request_spec){.principal_id = w->operator_.id,
                                     .secret = w->operator_.secret,
                                     .mac_size = mac_sizes[i]};
        snprintf(label, sizeof label, "a MAC of %d bytes", mac_sizes[i] < 0 ? 0 : mac_sizes[i]);
        head_case(w, label, &spec, LEDGER_ERR_BAD_SIGNATURE);
    }
    /* A valid MAC over other bytes: the signed bytes changed after signing
     * (the last byte of the nonce). */
    spec = (struct request_spec){.principal_id = w->operator_.id, .secret = w->operator_.secret};
    size_t size = 0;
    uint8_t *bytes = request_head(&spec, &size);
    for (size_t i = 0; i + LEDGER_NONCE_BYTES <= size; i++) {
        if (memcmp(bytes + i, spec.nonce, LEDGER_NONCE_BYTES) == 0) {
            bytes[i + LEDGER_NONCE_BYTES - 1] ^= 0x01;
            spec.nonce[LEDGER_NONCE_BYTES - 1] ^= 0x01;
            break;
        }
    }
    abuse_case(w, "signed bytes changed after signing", bytes, size, &spec,
               LEDGER_ERR_BAD_SIGNATURE);
    free(bytes);
    /* A command signed with the wrong key writes nothing. */
    struct reservation_parts parts;
    reservation_init(&parts, "c-a1", "s-a1");
    ProtobufCBinaryData data = command_pack(w, &parts.command);
    spec = (struct request_spec){.principal_id = w->admin_a.id, .secret = w->admin_b.secret};
    bytes = request_batch(&spec, &data, 1, &size);
    abuse_case(w, "a purchase signed with another agent's key", bytes, size, &spec,
               LEDGER_ERR_BAD_SIGNATURE);
    free(bytes);
    free(data.data);
}

static void test_abuse_revoked_and_unknown_principals(void **state)
{
    struct world *w = *state;
    struct request_spec spec = {.principal_id = w->gone.id, .secret = w->gone.secret};
    head_case(w, "a revoked principal's query", &spec, LEDGER_ERR_PRINCIPAL_REVOKED);
    /* Its command too (it was an operator). */
    Ledger__V1__AddPartner add = LEDGER__V1__ADD_PARTNER__INIT;
    add.partner_id = "p-revoked";
    add.name = "Revoked";
    Ledger__V1__Command command = LEDGER__V1__COMMAND__INIT;
    command.partner_id = "p-revoked";
    command.body_case = LEDGER__V1__COMMAND__BODY_ADD_PARTNER;
    command.add_partner = &add;
    command_case(w, "a revoked principal's command", &w->gone, &command,
                 LEDGER_ERR_PRINCIPAL_REVOKED);
    /* The order of checks: the MAC before revocation, revocation before
     * time. */
    spec = (struct request_spec){.principal_id = w->gone.id, .secret = w->operator_.secret};
    head_case(w, "a revoked principal, wrong key", &spec, LEDGER_ERR_BAD_SIGNATURE);
    spec = (struct request_spec){.principal_id = w->gone.id,
                                 .secret = w->gone.secret,
                                 .timestamp_us = INT64_C(1) << 40,
                                 .timestamp_set = true};
    head_case(w, "a revoked principal, stale", &spec, LEDGER_ERR_PRINCIPAL_REVOKED);

    char long_id[LEDGER_ID_LENGTH_MAX + 2];
    memset(long_id, 'o', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    const char *unknown[] = {
        "nobody",   "", long_id, "oper ator", "operator\n", "OPERATOR", "\xc3\xa9t\xc3\xa9",
        "operator."};
    char label[128];
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        spec = (struct request_spec){.principal_id = unknown[i], .secret = w->operator_.secret};
        snprintf(label, sizeof label, "unknown principal \"%.40s\"", unknown[i]);
        head_case(w, label, &spec, LEDGER_ERR_UNKNOWN_PRINCIPAL);
    }
    /* A principal id with an embedded NUL: no string field may hold one
     * (as a C string it would be read as "op"), so the request does not
     * decode, whoever "op" might be. */
    static const uint8_t nul_id[] = {0x0a, 0x03, 'o', 'p', 0x00};
    size_t size = 0;
    uint8_t *bytes = NULL;
    uint8_t *signed_bytes = NULL;
    size_t signed_size = 0;
    bytes_append(&signed_bytes, &signed_size, nul_id, sizeof nul_id);
    Ledger__V1__Request request = LEDGER__V1__REQUEST__INIT;
    request.signed_.data = signed_bytes;
    request.signed_.len = signed_size;
    uint8_t mac[CRYPTO_MAC_BYTES] = {0};
    request.mac.data = mac;
    request.mac.len = sizeof mac;
    assert_int_equal(codec_pack(&request.base, &bytes, &size), LEDGER_ERR_OK);
    abuse_case(w, "a principal id with a NUL", bytes, size, NULL, LEDGER_ERR_BAD_REQUEST);
    free(bytes);
    free(signed_bytes);
}

/* --- the flood ---------------------------------------------------------------------- */

struct flooder {
    pthread_t thread;
    const struct world *world;
    unsigned index;
    unsigned requests;
    unsigned answered;
    unsigned wrong_code; /* replies with another code than expected */
    unsigned no_reply;
};

static void *flooder_main(void *argument)
{
    struct flooder *flooder = argument;
    const struct world *w = flooder->world;
    int sock = nn_socket(AF_SP, NN_REQ);
    if (sock < 0) {
        flooder->no_reply = flooder->requests;
        return NULL;
    }
    int timeout_ms = test_timeout_ms(REPLY_TIMEOUT_MS);
    nn_setsockopt(sock, NN_SOL_SOCKET, NN_RCVTIMEO, &timeout_ms, sizeof timeout_ms);
    nn_setsockopt(sock, NN_SOL_SOCKET, NN_SNDTIMEO, &timeout_ms, sizeof timeout_ms);
    nn_connect(sock, w->url);
    uint8_t wrong[LEDGER_SECRET_BYTES];
    memset(wrong, (int)flooder->index + 1, sizeof wrong);
    for (unsigned i = 0; i < flooder->requests; i++) {
        /* Two in three: a real principal with a bad MAC; one in three: a
         * principal that does not exist. */
        bool unknown = i % 3 == 2;
        uint8_t nonce[LEDGER_NONCE_BYTES];
        crypto_random(nonce, sizeof nonce);
        Ledger__V1__HeadQuery head = LEDGER__V1__HEAD_QUERY__INIT;
        Ledger__V1__Query query = LEDGER__V1__QUERY__INIT;
        query.kind_case = LEDGER__V1__QUERY__KIND_HEAD;
        query.head = &head;
        Ledger__V1__RequestBody body = LEDGER__V1__REQUEST_BODY__INIT;
        body.kind_case = LEDGER__V1__REQUEST_BODY__KIND_QUERY;
        body.query = &query;
        char id[32];
        snprintf(id, sizeof id, "flood-%u-%u", flooder->index, i);
        Ledger__V1__SignedRequest signed_request = LEDGER__V1__SIGNED_REQUEST__INIT;
        signed_request.principal_id = unknown ? id : "operator";
        signed_request.timestamp_us = now_us();
        signed_request.nonce.data = nonce;
        signed_request.nonce.len = sizeof nonce;
        signed_request.body = &body;
        uint8_t signed_bytes[256];
        size_t signed_size = ledger__v1__signed_request__pack(&signed_request, signed_bytes);
        uint8_t mac[CRYPTO_MAC_BYTES];
        crypto_hmac_sha256(wrong, sizeof wrong, signed_bytes, signed_size, mac);
        Ledger__V1__Request request = LEDGER__V1__REQUEST__INIT;
        request.signed_.data = signed_bytes;
        request.signed_.len = signed_size;
        request.mac.data = mac;
        request.mac.len = sizeof mac;
        uint8_t bytes[512];
        size_t size = ledger__v1__request__pack(&request, bytes);
        Ledger__V1__Reply *reply = call_bytes(sock, bytes, size);
        if (reply == NULL) {
            flooder->no_reply++;
            continue;
        }
        flooder->answered++;
        Ledger__V1__ErrorCode expected = unknown ? LEDGER__V1__ERROR_CODE__UNKNOWN_PRINCIPAL
                                                 : LEDGER__V1__ERROR_CODE__BAD_SIGNATURE;
        if (reply->code != expected || reply->request_nonce.len != sizeof nonce ||
            memcmp(reply->request_nonce.data, nonce, sizeof nonce) != 0) {
            flooder->wrong_code++;
        }
        reply_free(reply);
    }
    nn_close(sock);
    return NULL;
}

static void test_abuse_flood_unauthenticated(void **state)
{
    struct world *w = *state;
    uint64_t head = head_sequence(w);
    assert_int_equal(head, w->head);
    /* Warm up the allocator with a first flood, then measure a second one:
     * steady state must not grow. */
    unsigned long rss_before = 0;
    unsigned total_bad_mac = 0, total_unknown = 0;
    long log_from = 0;
    for (int round = 0; round < 2; round++) {
        if (round == 1) {
            rss_before = rss_kib(w->pid);
            log_from = log_size(w);
        }
        struct flooder flooders[FLOOD_CLIENTS];
        for (unsigned c = 0; c < FLOOD_CLIENTS; c++) {
            flooders[c] = (struct flooder){
                .world = w, .index = c, .requests = FLOOD_REQUESTS / FLOOD_CLIENTS};
            assert_int_equal(pthread_create(&flooders[c].thread, NULL, flooder_main, &flooders[c]),
                             0);
        }
        for (unsigned c = 0; c < FLOOD_CLIENTS; c++) {
            assert_int_equal(pthread_join(flooders[c].thread, NULL), 0);
        }
        for (unsigned c = 0; c < FLOOD_CLIENTS; c++) {
            if (flooders[c].no_reply != 0 || flooders[c].wrong_code != 0) {
                fail_msg("flood client %u: %u unanswered, %u with a wrong code or nonce", c,
                         flooders[c].no_reply, flooders[c].wrong_code);
            }
            assert_int_equal(flooders[c].answered, flooders[c].requests);
            if (round == 1) {
                w->flood_requests += flooders[c].answered;
                w->cases += flooders[c].answered;
                total_unknown += flooders[c].requests / 3;
                total_bad_mac += flooders[c].requests - flooders[c].requests / 3;
            }
        }
        /* Still serving, nothing written. */
        assert_int_equal(head_sequence(w), w->head);
    }
    unsigned long rss_after = rss_kib(w->pid);
    /* Under a wrapper (valgrind, by LEDGERD_WRAPPER or --trace-children) the
     * process's memory is the wrapper's: its own leak check judges the
     * daemon then. The process image tells: it is not ledgerd. */
    bool wrapped = !process_is_ledgerd(w->pid);
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    /* The same in a sanitizer build (the daemon is built like this test):
     * AddressSanitizer holds freed memory in quarantine, and LeakSanitizer
     * judges the daemon at its exit (group_teardown asserts status 0);
     * ThreadSanitizer's shadow and access history grow with the work. */
    wrapped = true;
#endif
    print_message("flood: %u requests from %d clients; daemon RSS %lu KiB -> %lu KiB%s\n",
                  w->flood_requests, FLOOD_CLIENTS, rss_before, rss_after,
                  wrapped ? " (not judged: wrapper or sanitizer)" : "");
    if (!wrapped && rss_before > 0 && rss_after > rss_before + FLOOD_RSS_GROWTH_KIB_MAX) {
        fail_msg("the daemon grew from %lu KiB to %lu KiB over %u refused requests", rss_before,
                 rss_after, w->flood_requests);
    }
    /* Every refusal of the measured round was logged with its code. */
    char *logged = log_since(w, log_from);
    unsigned bad_mac_lines = count_lines_with(logged, "request refused", "code=BAD_SIGNATURE ");
    unsigned unknown_lines = count_lines_with(logged, "request refused", "code=UNKNOWN_PRINCIPAL ");
    free(logged);
    assert_int_equal(bad_mac_lines, total_bad_mac);
    assert_int_equal(unknown_lines, total_unknown);
    /* A valid command right after is served. */
    Ledger__V1__PurchaseSubscription buy = LEDGER__V1__PURCHASE_SUBSCRIPTION__INIT;
    buy.subscription_id = "s-a-after-flood";
    buy.offer = LEDGER__V1__OFFER__OFFER_AZURE_PLAN;
    Ledger__V1__Command command = LEDGER__V1__COMMAND__INIT;
    command.customer_id = "c-a1";
    command.body_case = LEDGER__V1__COMMAND__BODY_PURCHASE_SUBSCRIPTION;
    command.purchase_subscription = &buy;
    Ledger__V1__Reply *reply = execute_ok(w, &w->admin_a, &command, "a command after the flood");
    w->head++;
    assert_int_equal(reply->results[0]->first_sequence, w->head);
    reply_free(reply);
    assert_int_equal(head_sequence(w), w->head);
}

/* Per test: the cases it ran, printed after it. */
static unsigned cases_at_start;

static int case_count_start(void **state)
{
    cases_at_start = ((struct world *)*state)->cases;
    return 0;
}

static int case_count_print(void **state)
{
    print_message("%u cases\n", ((struct world *)*state)->cases - cases_at_start);
    return 0;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_abuse_truncated_frames, case_count_start,
                                        case_count_print),
        cmocka_unit_test_setup_teardown(test_abuse_random_bytes, case_count_start,
                                        case_count_print),
        cmocka_unit_test_setup_teardown(test_abuse_oversized, case_count_start, case_count_print),
        cmocka_unit_test_setup_teardown(test_abuse_unknown_fields, case_count_start,
                                        case_count_print),
        cmocka_unit_test_setup_teardown(test_abuse_unknown_enum_values, case_count_start,
                                        case_count_print),
        cmocka_unit_test_setup_teardown(test_abuse_amounts_and_currencies, case_count_start,
                                        case_count_print),
        cmocka_unit_test_setup_teardown(test_abuse_unknown_ids, case_count_start, case_count_print),
        cmocka_unit_test_setup_teardown(test_abuse_other_partner, case_count_start,
                                        case_count_print),
        cmocka_unit_test_setup_teardown(test_abuse_replays, case_count_start, case_count_print),
        cmocka_unit_test_setup_teardown(test_abuse_stale_timestamps, case_count_start,
                                        case_count_print),
        cmocka_unit_test_setup_teardown(test_abuse_wrong_keys, case_count_start, case_count_print),
        cmocka_unit_test_setup_teardown(test_abuse_revoked_and_unknown_principals, case_count_start,
                                        case_count_print),
        cmocka_unit_test_setup_teardown(test_abuse_flood_unauthenticated, case_count_start,
                                        case_count_print),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
