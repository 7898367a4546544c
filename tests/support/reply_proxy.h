/*
 * reply_proxy.h: a man in the middle between a client and a real ledgerd,
 * for tests of clients that must not take the daemon's word (ledgerctl's
 * audit verbs, docs/verification.md).
 *
 * Owns: one thread serving a REP socket on a URL of the test's choosing
 * (ipc://...), which forwards each request byte for byte to the daemon's
 * request URL and passes the daemon's reply back, after a callback set by
 * the test may have changed the decoded ledger.v1.Reply (a lying daemon, or
 * anyone on the path: replies carry no MAC, docs/protocol.md). Requests are
 * never changed, so the reply still echoes the client's nonce. Every wait
 * has a deadline, and stopping wakes the thread at once, even mid-request.
 * Does not own: what a test forges, or what it expects of the client.
 *
 * A reply that does not decode is passed on unchanged; a reply the daemon
 * does not give within the deadline is not answered (the client times out
 * and resends, as with a daemon that is gone).
 */
#ifndef LEDGER_REPLY_PROXY_H
#define LEDGER_REPLY_PROXY_H

#include <stdbool.h>
#include <stddef.h>

#include "ledger.pb-c.h"

struct reply_proxy;

/* Called on the proxy's thread with each reply before it is passed back,
 * and the request it answers (NULL when that does not decode). Whatever the
 * callback puts into the reply must come from malloc (or, for a whole
 * submessage, from a ledger__v1__*__unpack with the default allocator) and
 * whatever it takes out it frees: the proxy frees the reply with
 * ledger__v1__reply__free_unpacked once it is sent. The helpers below keep
 * to that rule. */
typedef void (*reply_proxy_fn)(void *context, const Ledger__V1__SignedRequest *request,
                               Ledger__V1__Reply *reply);

/* Binds listen_url and starts the thread, forwarding to daemon_url and
 * waiting up to timeout_ms for each of the daemon's replies. The socket
 * listens when this returns. NULL on failure (errno set). Replies pass
 * unchanged until reply_proxy_set gives a callback. */
struct reply_proxy *reply_proxy_start(const char *listen_url, const char *daemon_url,
                                      int timeout_ms);

/* The callback for the replies from now on (NULL: pass them unchanged). It
 * never runs while this call waits, so once this returns the previous
 * callback has finished with its context. */
void reply_proxy_set(struct reply_proxy *proxy, reply_proxy_fn fn, void *context);

/* How many replies the proxy has passed back so far. */
unsigned long reply_proxy_replies(struct reply_proxy *proxy);

/* Stops the thread, closes the sockets and frees the proxy; NULL is fine. */
void reply_proxy_stop(struct reply_proxy *proxy);

/* Replaces a bytes field by a copy of `size` bytes of data. */
bool reply_proxy_bytes_set(ProtobufCBinaryData *field, const void *data, size_t size);

/* Resizes a repeated bytes field (a proof's path) to `count` items: items
 * cut off are freed, new items are copies of `size` bytes of fill. */
bool reply_proxy_items_resize(ProtobufCBinaryData **items, size_t *n_items, size_t count,
                              const void *fill, size_t size);

#endif
