/*
 * replay.h: the command requests the daemon refused, remembered until their
 * signature's timestamp leaves the authentication window.
 *
 * Why: a command that succeeded is idempotent by its command id (the engine's
 * index), but a refused one leaves no trace in the store; replayed later with
 * the same bytes (a captured request, within the window), it would be decided
 * again against a state that may have changed since (the permission granted
 * meanwhile) and could succeed. The server looks every command request up
 * here first and answers a remembered one with its first refusal.
 *
 * Owns: a ring of entries in arrival order (each a SHA-256 digest of the
 * principal id and the request's MAC, the time the entry may be forgotten,
 * the code and the index of the refused command in its batch)
 * and an open-addressing index over it. Entries leave the ring in order: when
 * they expire, or, with the ring full, the oldest one early (the caller
 * counts and logs it). Pure memory: no I/O, no clock (times are passed in).
 * Does not own: deciding what is remembered (server), the window (config).
 *
 * Not thread-safe: the server's loop thread is its only user.
 */
#ifndef LEDGER_REPLAY_H
#define LEDGER_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

struct replay_cache;

/* A cache of at most `capacity` entries (at least 1); memory is reserved up
 * front (about 64 bytes per entry). NO_MEMORY. */
__attribute__((warn_unused_result)) enum ledger_err replay_cache_new(size_t capacity,
                                                                     struct replay_cache **out);
void replay_cache_free(struct replay_cache *cache);

/* A request is named by its principal and its verified MAC (Request.mac):
 * the same bytes again have the same MAC, while a different request has a
 * different one even when its client reused a nonce, so that it is decided
 * and not answered with another request's refusal. */

/* Remembers that the request (principal_id, mac) was refused with `code`
 * (not OK) at command `failed_index` of its batch, until forget_us. Entries
 * whose forget_us is before now_us are dropped first. Returns true when the
 * ring was full and its oldest live entry was forgotten early to make room. */
bool replay_cache_remember(struct replay_cache *cache, const char *principal_id, const uint8_t *mac,
                           size_t mac_size, int64_t forget_us, int64_t now_us, enum ledger_err code,
                           uint32_t failed_index);

/* The code the request (principal_id, mac) was refused with, and through
 * failed_index_out (may be NULL) the index of the command refused, or OK
 * when it is not remembered (never refused, expired at now_us, or
 * forgotten; *failed_index_out is then 0). */
enum ledger_err replay_cache_find(struct replay_cache *cache, const char *principal_id,
                                  const uint8_t *mac, size_t mac_size, int64_t now_us,
                                  uint32_t *failed_index_out);

/* Entries remembered now (expired ones that were not yet dropped included). */
size_t replay_cache_count(const struct replay_cache *cache);

#endif
