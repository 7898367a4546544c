/*
 * histload.c: a generated history into an engine, grouped like a daemon's
 * group commits (histload.h).
 */
#include "histload.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger_limits.h"

struct histload {
    struct engine *engine;
    struct histgen *gen;
    uint64_t next_sequence;
    int64_t now_us;
    struct engine_principal principals[HISTLOAD_GROUP_REQUESTS_MAX];
    struct engine_request requests[HISTLOAD_GROUP_REQUESTS_MAX];
    ProtobufCBinaryData commands[HISTLOAD_GROUP_COMMANDS_MAX];
    char command_ids[HISTLOAD_GROUP_COMMANDS_MAX][LEDGER_ID_LENGTH_MAX + 1];
    size_t request_count, command_count;
    char error[ENGINE_MESSAGE_SIZE + 256]; /* a refusal's message and what it refused */
};

enum ledger_err histload_new(struct engine *engine, struct histgen *gen, int64_t now_us,
                             struct histload **out)
{
    struct histload *load = calloc(1, sizeof *load);
    if (load == NULL) {
        return LEDGER_ERR_NO_MEMORY;
    }
    load->engine = engine;
    load->gen = gen;
    load->now_us = now_us;
    load->next_sequence = engine_head_sequence(engine) + 1;
    *out = load;
    return LEDGER_ERR_OK;
}

/* Clears the pending group's requests and commands. */
static void release(struct histload *load)
{
    for (size_t r = 0; r < load->request_count; r++) {
        engine_request_clear(&load->requests[r]);
    }
    for (size_t i = 0; i < load->command_count; i++) {
        free(load->commands[i].data);
    }
    load->request_count = 0;
    load->command_count = 0;
}

void histload_free(struct histload *load)
{
    if (load != NULL) {
        release(load);
        free(load);
    }
}

/* Checks every request of an executed group: accepted, with the sequences
 * predicted for its commands (the first of the group being `first`). */
static enum ledger_err check_group(struct histload *load, uint64_t first)
{
    size_t base = 0;
    for (size_t r = 0; r < load->request_count; r++) {
        const struct engine_request *request = &load->requests[r];
        if (request->err != LEDGER_ERR_OK) {
            snprintf(load->error, sizeof load->error, "command %s of %s was refused: %s: %s",
                     load->command_ids[base + request->failed_index], request->principal->id,
                     ledger_err_name(request->err), request->message);
            return request->err;
        }
        for (size_t i = 0; i < request->command_count; i++) {
            uint64_t got = request->results[i].message.first_sequence;
            if (got != first + base + i) {
                snprintf(load->error, sizeof load->error,
                         "command %s got sequence %" PRIu64 ", not %" PRIu64,
                         load->command_ids[base + i], got, first + base + i);
                return LEDGER_ERR_INTERNAL;
            }
        }
        base += request->command_count;
    }
    if (engine_head_sequence(load->engine) != load->next_sequence - 1) {
        snprintf(load->error, sizeof load->error, "the head is %" PRIu64 ", not %" PRIu64,
                 engine_head_sequence(load->engine), load->next_sequence - 1);
        return LEDGER_ERR_INTERNAL;
    }
    return LEDGER_ERR_OK;
}

enum ledger_err histload_flush(struct histload *load)
{
    if (load->request_count == 0) {
        return LEDGER_ERR_OK;
    }
    uint64_t first = load->next_sequence - load->command_count;
    enum ledger_err err =
        engine_execute(load->engine, load->requests, load->request_count, load->now_us);
    if (err != LEDGER_ERR_OK) {
        snprintf(load->error, sizeof load->error, "the group failed: %s: %s", ledger_err_name(err),
                 ledger_strerror(err));
    } else {
        err = check_group(load, first);
    }
    release(load);
    return err;
}

enum ledger_err histload_add(struct histload *load, const struct histgen_item *item)
{
    struct engine_request *last =
        load->request_count ? &load->requests[load->request_count - 1] : NULL;
    bool same_principal = last != NULL && strcmp(last->principal->id, item->principal.id) == 0 &&
                          last->command_count < HISTLOAD_REQUEST_COMMANDS_MAX;
    if (load->command_count == HISTLOAD_GROUP_COMMANDS_MAX ||
        (!same_principal && load->request_count == HISTLOAD_GROUP_REQUESTS_MAX)) {
        enum ledger_err err = histload_flush(load);
        if (err != LEDGER_ERR_OK) {
            return err;
        }
        last = NULL;
        same_principal = false;
    }
    ProtobufCBinaryData *command = &load->commands[load->command_count];
    command->data = malloc(item->command_size ? item->command_size : 1);
    if (command->data == NULL) {
        return LEDGER_ERR_NO_MEMORY;
    }
    memcpy(command->data, item->command, item->command_size);
    command->len = item->command_size;
    snprintf(load->command_ids[load->command_count], sizeof load->command_ids[0], "%s",
             item->command_id);
    load->command_count++;
    if (same_principal) {
        last->command_count++;
    } else {
        struct engine_principal *p = &load->principals[load->request_count];
        memset(p, 0, sizeof *p);
        snprintf(p->id, sizeof p->id, "%s", item->principal.id);
        p->role = item->principal.role;
        snprintf(p->partner_id, sizeof p->partner_id, "%s", item->principal.partner_id);
        snprintf(p->customer_id, sizeof p->customer_id, "%s", item->principal.customer_id);
        snprintf(p->user, sizeof p->user, "%s", item->principal.user);
        struct engine_request *request = &load->requests[load->request_count++];
        memset(request, 0, sizeof *request);
        request->principal = p;
        request->commands = command;
        request->command_count = 1;
    }
    if (item->business_us > load->now_us) {
        load->now_us = item->business_us; /* the ledger's clock: the newest business time */
    }
    histgen_accepted(load->gen, load->next_sequence++);
    return LEDGER_ERR_OK;
}

enum ledger_err histload_all(struct histload *load)
{
    struct histgen_item item;
    enum ledger_err err = LEDGER_ERR_OK;
    while (err == LEDGER_ERR_OK && histgen_next(load->gen, &item)) {
        if (item.expected_err != LEDGER_ERR_OK) {
            histgen_refused(load->gen);
            snprintf(load->error, sizeof load->error,
                     "the generator made a deliberately invalid command (%s); histload loads "
                     "valid histories only",
                     item.command_id);
            return LEDGER_ERR_INVALID_ARGUMENT;
        }
        err = histload_add(load, &item);
    }
    return err == LEDGER_ERR_OK ? histload_flush(load) : err;
}

uint64_t histload_next_sequence(const struct histload *load)
{
    return load->next_sequence;
}

const char *histload_error(const struct histload *load)
{
    return load->error;
}
