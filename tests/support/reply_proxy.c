/*
 * reply_proxy.c: a man in the middle that may alter the daemon's replies
 * (reply_proxy.h).
 */
#include "reply_proxy.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nanomsg/nn.h>
#include <nanomsg/reqrep.h>

struct reply_proxy {
    int listen_sock; /* REP, bound to the listen URL */
    int daemon_sock; /* REQ to the daemon; -1 after a request it did not answer */
    char daemon_url[1024];
    int timeout_ms;
    int stop_pipe[2]; /* a byte written to [1] stops the thread */
    pthread_t thread;
    pthread_mutex_t lock; /* guards fn, context and replies */
    reply_proxy_fn fn;
    void *context;
    unsigned long replies;
};

enum wait_result { WAIT_READY, WAIT_TIMEOUT, WAIT_STOP };

static int64_t monotonic_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* Waits until `sock` has a message to receive, the proxy is stopped, or the
 * monotonic clock passes deadline_ms (-1: no deadline). */
static enum wait_result wait_readable(const struct reply_proxy *proxy, int sock,
                                      int64_t deadline_ms)
{
    int fd = -1;
    size_t size = sizeof fd;
    if (nn_getsockopt(sock, NN_SOL_SOCKET, NN_RCVFD, &fd, &size) < 0) {
        return WAIT_STOP;
    }
    for (;;) {
        int wait_ms = -1;
        if (deadline_ms >= 0) {
            int64_t left = deadline_ms - monotonic_ms();
            if (left <= 0) {
                return WAIT_TIMEOUT;
            }
            wait_ms = left > INT32_MAX ? INT32_MAX : (int)left;
        }
        struct pollfd fds[2] = {{.fd = proxy->stop_pipe[0], .events = POLLIN},
                                {.fd = fd, .events = POLLIN}};
        int ready = poll(fds, 2, wait_ms);
        if (ready < 0 && errno != EINTR) {
            return WAIT_STOP;
        }
        if (ready > 0 && fds[0].revents != 0) {
            return WAIT_STOP;
        }
        if (ready > 0 && fds[1].revents != 0) {
            return WAIT_READY;
        }
    }
}

static int daemon_open(const struct reply_proxy *proxy)
{
    int sock = nn_socket(AF_SP, NN_REQ);
    int max = -1; /* replies of any size */
    if (sock < 0) {
        return -1;
    }
    if (nn_setsockopt(sock, NN_SOL_SOCKET, NN_SNDTIMEO, &proxy->timeout_ms,
                      sizeof proxy->timeout_ms) < 0 ||
        nn_setsockopt(sock, NN_SOL_SOCKET, NN_RCVMAXSIZE, &max, sizeof max) < 0 ||
        nn_connect(sock, proxy->daemon_url) < 0) {
        nn_close(sock);
        return -1;
    }
    return sock;
}

/* The daemon's reply to `request` (nn_freemsg it), or NULL when none came
 * in time or the proxy is stopping (*stop set). */
static void *forward(struct reply_proxy *proxy, const void *request, size_t size,
                     size_t *reply_size, bool *stop)
{
    int64_t deadline = monotonic_ms() + proxy->timeout_ms;
    if (proxy->daemon_sock < 0) {
        proxy->daemon_sock = daemon_open(proxy);
    }
    void *reply = NULL;
    int received = -1;
    if (proxy->daemon_sock >= 0 && nn_send(proxy->daemon_sock, request, size, 0) >= 0) {
        while (received < 0) {
            enum wait_result waited = wait_readable(proxy, proxy->daemon_sock, deadline);
            if (waited != WAIT_READY) {
                *stop = waited == WAIT_STOP;
                break;
            }
            received = nn_recv(proxy->daemon_sock, &reply, NN_MSG, NN_DONTWAIT);
        }
    }
    if (received < 0) {
        /* A REQ socket that gave up on a request keeps its late reply,
         * which the next reply would overwrite without freeing it (nanomsg
         * 1.1.5, req.c): start afresh instead. */
        if (proxy->daemon_sock >= 0) {
            nn_close(proxy->daemon_sock);
        }
        proxy->daemon_sock = -1;
        return NULL;
    }
    *reply_size = (size_t)received;
    return reply;
}

static Ledger__V1__SignedRequest *request_decode(const void *bytes, size_t size)
{
    Ledger__V1__Request *request = ledger__v1__request__unpack(NULL, size, bytes);
    if (request == NULL) {
        return NULL;
    }
    Ledger__V1__SignedRequest *signed_request =
        ledger__v1__signed_request__unpack(NULL, request->signed_.len, request->signed_.data);
    ledger__v1__request__free_unpacked(request, NULL);
    return signed_request;
}

/* The reply as the callback leaves it, packed into *out (malloc'd), or
 * false to pass the daemon's bytes on unchanged. */
static bool reply_altered(struct reply_proxy *proxy, const void *request, size_t request_size,
                          const void *reply_bytes, size_t reply_size, uint8_t **out,
                          size_t *out_size)
{
    bool altered = false;
    pthread_mutex_lock(&proxy->lock);
    proxy->replies++;
    if (proxy->fn != NULL) {
        Ledger__V1__Reply *reply = ledger__v1__reply__unpack(NULL, reply_size, reply_bytes);
        Ledger__V1__SignedRequest *decoded = request_decode(request, request_size);
        if (reply != NULL) {
            proxy->fn(proxy->context, decoded, reply);
            *out_size = ledger__v1__reply__get_packed_size(reply);
            *out = malloc(*out_size + 1);
            altered = *out != NULL;
            if (altered) {
                ledger__v1__reply__pack(reply, *out);
            }
            ledger__v1__reply__free_unpacked(reply, NULL);
        }
        if (decoded != NULL) {
            ledger__v1__signed_request__free_unpacked(decoded, NULL);
        }
    }
    pthread_mutex_unlock(&proxy->lock);
    return altered;
}

static void *proxy_main(void *argument)
{
    struct reply_proxy *proxy = argument;
    bool stop = false;
    while (!stop) {
        enum wait_result waited = wait_readable(proxy, proxy->listen_sock, -1);
        if (waited != WAIT_READY) {
            break;
        }
        void *request = NULL;
        int size = nn_recv(proxy->listen_sock, &request, NN_MSG, NN_DONTWAIT);
        if (size < 0) {
            continue; /* taken back, or not whole yet */
        }
        size_t reply_size = 0;
        void *reply = forward(proxy, request, (size_t)size, &reply_size, &stop);
        if (reply != NULL) {
            uint8_t *altered = NULL;
            size_t altered_size = 0;
            if (reply_altered(proxy, request, (size_t)size, reply, reply_size, &altered,
                              &altered_size)) {
                nn_send(proxy->listen_sock, altered, altered_size, NN_DONTWAIT);
                free(altered);
            } else {
                nn_send(proxy->listen_sock, reply, reply_size, NN_DONTWAIT);
            }
            nn_freemsg(reply);
        }
        nn_freemsg(request);
    }
    return NULL;
}

struct reply_proxy *reply_proxy_start(const char *listen_url, const char *daemon_url,
                                      int timeout_ms)
{
    struct reply_proxy *proxy = calloc(1, sizeof *proxy);
    if (proxy == NULL) {
        return NULL;
    }
    proxy->listen_sock = -1;
    proxy->daemon_sock = -1;
    proxy->stop_pipe[0] = proxy->stop_pipe[1] = -1;
    proxy->timeout_ms = timeout_ms;
    if (strlen(daemon_url) >= sizeof proxy->daemon_url) {
        errno = ENAMETOOLONG;
        free(proxy);
        return NULL;
    }
    strcpy(proxy->daemon_url, daemon_url);
    pthread_mutex_init(&proxy->lock, NULL);
    int err = 0;
    /* Close-on-exec: the clients the test forks must not hold the pipe. */
    if (pipe(proxy->stop_pipe) != 0 || fcntl(proxy->stop_pipe[0], F_SETFD, FD_CLOEXEC) != 0 ||
        fcntl(proxy->stop_pipe[1], F_SETFD, FD_CLOEXEC) != 0 ||
        (proxy->listen_sock = nn_socket(AF_SP, NN_REP)) < 0 ||
        nn_bind(proxy->listen_sock, listen_url) < 0 ||
        (err = pthread_create(&proxy->thread, NULL, proxy_main, proxy)) != 0) {
        int saved = err != 0 ? err : errno;
        if (proxy->listen_sock >= 0) {
            nn_close(proxy->listen_sock);
        }
        for (int i = 0; i < 2; i++) {
            if (proxy->stop_pipe[i] >= 0) {
                close(proxy->stop_pipe[i]);
            }
        }
        pthread_mutex_destroy(&proxy->lock);
        free(proxy);
        errno = saved;
        return NULL;
    }
    return proxy;
}

void reply_proxy_set(struct reply_proxy *proxy, reply_proxy_fn fn, void *context)
{
    pthread_mutex_lock(&proxy->lock);
    proxy->fn = fn;
    proxy->context = context;
    pthread_mutex_unlock(&proxy->lock);
}

unsigned long reply_proxy_replies(struct reply_proxy *proxy)
{
    pthread_mutex_lock(&proxy->lock);
    unsigned long replies = proxy->replies;
    pthread_mutex_unlock(&proxy->lock);
    return replies;
}

void reply_proxy_stop(struct reply_proxy *proxy)
{
    if (proxy == NULL) {
        return;
    }
    ssize_t written;
    do {
        written = write(proxy->stop_pipe[1], "x", 1);
    } while (written < 0 && errno == EINTR);
    pthread_join(proxy->thread, NULL);
    if (proxy->daemon_sock >= 0) {
        nn_close(proxy->daemon_sock);
    }
    nn_close(proxy->listen_sock);
    close(proxy->stop_pipe[0]);
    close(proxy->stop_pipe[1]);
    pthread_mutex_destroy(&proxy->lock);
    free(proxy);
}

bool reply_proxy_bytes_set(ProtobufCBinaryData *field, const void *data, size_t size)
{
    uint8_t *copy = malloc(size + 1);
    if (copy == NULL) {
        return false;
    }
    if (size > 0) {
        memcpy(copy, data, size);
    }
    free(field->data);
    field->data = copy;
    field->len = size;
    return true;
}

bool reply_proxy_items_resize(ProtobufCBinaryData **items, size_t *n_items, size_t count,
                              const void *fill, size_t size)
{
    for (size_t i = count; i < *n_items; i++) {
        free((*items)[i].data);
    }
    if (count < *n_items) {
        *n_items = count;
        return true;
    }
    ProtobufCBinaryData *grown = realloc(*items, (count + 1) * sizeof *grown);
    if (grown == NULL) {
        return false;
    }
    *items = grown;
    while (*n_items < count) {
        grown[*n_items] = (ProtobufCBinaryData){0, NULL};
        if (!reply_proxy_bytes_set(&grown[*n_items], fill, size)) {
            return false;
        }
        (*n_items)++;
    }
    return true;
}
