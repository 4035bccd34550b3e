#include "conn.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../common/util.h"
#include "../fdguard/fdguard.h"

/* Longest single wait between looks at the abort callback. */
#define SLICE_MS 100

static int wait_fd(int fd, short events, uint64_t deadline,
                   const net_clock *clk)
{
    struct pollfd p = {.fd = fd, .events = events};
    uint64_t now;
    int rc, ms;

    for (;;) {
        now = time_mono_ns();
        if (now >= deadline || now >= clk->deadline_ns)
            return NET_TIMEOUT;
        if (clk->abort && clk->abort(clk->arg))
            return NET_ABORTED;
        if (deadline > clk->deadline_ns)
            deadline = clk->deadline_ns;
        ms = (int)((deadline - now) / 1000000u) + 1;
        rc = poll(&p, 1, ms < SLICE_MS ? ms : SLICE_MS);
        if (rc > 0)
            return NET_OK;
        if (rc < 0 && errno != EINTR)
            return NET_IO;
    }
}

/* ---- name resolution ----
 * getaddrinfo() has no timeout and may wait on DNS for a long time; it runs
 * on a thread of its own that the request stops waiting for at its
 * deadline.  Whoever of the two finishes last frees the lookup. */

typedef struct lookup {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int refs, done, rc;
    struct addrinfo *res;
    char host[256], port[16];
} lookup;

static void lookup_unref(lookup *l)
{
    int left;

    pthread_mutex_lock(&l->lock);
    left = --l->refs;
    pthread_mutex_unlock(&l->lock);
    if (left)
        return;
    if (l->res)
        freeaddrinfo(l->res);
    pthread_mutex_destroy(&l->lock);
    pthread_cond_destroy(&l->cond);
    free(l);
}

/* At most one lookup thread at a time: while a DNS server black-holes
 * queries, every retry would otherwise leave one more thread waiting in
 * getaddrinfo().  A retry for the same name waits on the lookup still in
 * flight.  The pid check keeps a forked child from waiting on a thread
 * that did not survive the fork. */
static pthread_mutex_t g_inflight_lock = PTHREAD_MUTEX_INITIALIZER;
static lookup *g_inflight;
static pid_t g_inflight_pid;

static lookup *inflight_take(const char *host, const char *port)
{
    lookup *l = NULL;

    pthread_mutex_lock(&g_inflight_lock);
    if (g_inflight && g_inflight_pid == getpid()) {
        pthread_mutex_lock(&g_inflight->lock);
        if (!g_inflight->done && !strcmp(g_inflight->host, host) &&
            !strcmp(g_inflight->port, port)) {
            g_inflight->refs++;
            l = g_inflight;
        }
        pthread_mutex_unlock(&g_inflight->lock);
    }
    pthread_mutex_unlock(&g_inflight_lock);
    return l;
}

/* Remember l as the lookup in flight (one reference of its own), dropping
 * the previous one. */
static void inflight_set(lookup *l)
{
    lookup *old;

    pthread_mutex_lock(&l->lock);
    l->refs++;
    pthread_mutex_unlock(&l->lock);
    pthread_mutex_lock(&g_inflight_lock);
    old = g_inflight_pid == getpid() ? g_inflight : NULL;
    g_inflight = l;
    g_inflight_pid = getpid();
    pthread_mutex_unlock(&g_inflight_lock);
    if (old)
        lookup_unref(old);
}

static const struct addrinfo g_hints = {.ai_family = AF_UNSPEC,
                                        .ai_socktype = SOCK_STREAM,
                                        .ai_flags = AI_ADDRCONFIG};

static void *lookup_main(void *arg)
{
    lookup *l = arg;
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(l->host, l->port, &g_hints, &res);

    pthread_mutex_lock(&l->lock);
    l->rc = rc;
    l->res = res;
    l->done = 1;
    pthread_cond_broadcast(&l->cond);
    pthread_mutex_unlock(&l->lock);
    lookup_unref(l);
    return NULL;
}

static lookup *lookup_new(const char *host, const char *port)
{
    lookup *l = calloc(1, sizeof(*l));
    pthread_condattr_t ca;

    if (!l)
        return NULL;
    snprintf(l->host, sizeof(l->host), "%s", host);
    snprintf(l->port, sizeof(l->port), "%s", port);
    pthread_mutex_init(&l->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&l->cond, &ca);
    pthread_condattr_destroy(&ca);
    l->refs = 2;
    return l;
}

static int start_lookup(lookup *l)
{
    pthread_attr_t a;
    sigset_t all, old;
    pthread_t t;
    int rc;

    /* The host's process-directed signals must not land on this thread. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    rc = pthread_create(&t, &a, lookup_main, l);
    pthread_attr_destroy(&a);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

/* Wait for the lookup thread; NET_OK with *res ours, or why not. */
static int await_lookup(lookup *l, const net_clock *clk,
                        struct addrinfo **res, char *err, size_t n)
{
    int rc = NET_TIMEOUT;
    struct timespec ts;

    pthread_mutex_lock(&l->lock);
    while (!l->done && time_mono_ns() < clk->deadline_ns) {
        if (clk->abort && clk->abort(clk->arg)) {
            rc = NET_ABORTED;
            break;
        }
        ts = time_deadline(SLICE_MS * 1000000ull);
        pthread_cond_timedwait(&l->cond, &l->lock, &ts);
    }
    if (l->done && l->rc == 0) {
        *res = l->res;
        l->res = NULL;
        rc = NET_OK;
    } else if (l->done) {
        snprintf(err, n, "cannot resolve %s: %s", l->host,
                 gai_strerror(l->rc));
        rc = NET_RESOLVE;
    } else if (rc == NET_TIMEOUT) {
        snprintf(err, n, "resolving %s timed out", l->host);
    }
    pthread_mutex_unlock(&l->lock);
    return rc;
}

static int resolve(const char *host, const char *port, const net_clock *clk,
                   struct addrinfo **res, char *err, size_t n)
{
    struct addrinfo numeric = g_hints;
    lookup *l;
    int rc;

    /* An address needs no DNS and no thread. */
    numeric.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    if (getaddrinfo(host, port, &numeric, res) == 0)
        return NET_OK;
    l = inflight_take(host, port);
    if (!l) {
        l = lookup_new(host, port);
        if (!l)
            return NET_NOMEM;
        if (start_lookup(l) != 0) {
            l->refs = 1;
            lookup_unref(l);
            snprintf(err, n, "cannot start a thread to resolve %s", host);
            return NET_RESOLVE;
        }
        inflight_set(l);
    }
    rc = await_lookup(l, clk, res, err, n);
    lookup_unref(l);
    return rc;
}

/* ---- connect ---- */

static int connect_one(const struct addrinfo *ai, uint64_t until,
                       const net_clock *clk, int *fd_out, int *why)
{
    int fd, rc, soerr = 0, one = 1;
    socklen_t len = sizeof(soerr);

    fd = FDGUARD(socket(ai->ai_family,
                        ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                        ai->ai_protocol));
    if (fd < 0) {
        *why = errno;
        return NET_CONNECT;
    }
    rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
        rc = wait_fd(fd, POLLOUT, until, clk);
        if (rc != NET_OK) {
            fdguard_close(fd);
            *why = ETIMEDOUT;
            return rc;
        }
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
        rc = soerr ? -1 : 0;
        errno = soerr;
    }
    if (rc != 0) {
        *why = errno;
        fdguard_close(fd);
        return NET_CONNECT;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    *fd_out = fd;
    return NET_OK;
}

int conn_open(conn *c, const char *host, const char *port,
              uint64_t connect_ns, const net_clock *clk, char *err, size_t n)
{
    uint64_t until = time_mono_ns() + connect_ns;
    struct addrinfo *res = NULL, *ai;
    int rc, why = 0, left;

    c->fd = -1;
    c->tls = NULL;
    rc = resolve(host, port, clk, &res, err, n);
    if (rc != NET_OK)
        return rc;
    rc = NET_CONNECT;
    for (ai = res, left = 0; ai; ai = ai->ai_next)
        left++;
    for (ai = res; ai; ai = ai->ai_next, left--) {
        /* Each address gets its share of what is left, so a black-holed
         * first address (IPv6 without a route that drops, not refuses)
         * does not use up the time of the next one. */
        uint64_t now = time_mono_ns();
        uint64_t share = until > now ? (until - now) / (uint64_t)left : 0;
        rc = connect_one(ai, now + share, clk, &c->fd, &why);
        if (rc == NET_OK || rc == NET_ABORTED)
            break;
    }
    freeaddrinfo(res);
    if (rc == NET_TIMEOUT)
        snprintf(err, n, "connecting to %s port %s timed out", host, port);
    else if (rc == NET_CONNECT)
        snprintf(err, n, "cannot connect to %s port %s: %s", host, port,
                 strerror(why));
    return rc;
}

/* ---- bytes ---- */

/* OpenSSL writes with write(2): a peer that went away raises SIGPIPE,
 * which must stay on this thread (blocked here) and not reach the host. */
static void quiet_sigpipe(void)
{
    sigset_t s;

    sigemptyset(&s);
    sigaddset(&s, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &s, NULL);
}

static void drop_sigpipe(void)
{
    struct timespec zero = {0, 0};
    sigset_t s, pend;

    sigemptyset(&s);
    sigaddset(&s, SIGPIPE);
    if (sigpending(&pend) == 0 && sigismember(&pend, SIGPIPE))
        sigtimedwait(&s, NULL, &zero);
}

/* Wait as a TLS call asked; NET_OK to call again. */
static int tls_wait(conn *c, int st, const net_clock *clk, char *err,
                    size_t n)
{
    int rc;

    if (st != TLS_WANT_READ && st != TLS_WANT_WRITE) {
        tls_describe(c->tls, st, err, n);
        drop_sigpipe();
        return st == TLS_VERIFY_FAILED ? NET_TLS_VERIFY : NET_TLS;
    }
    rc = wait_fd(c->fd, st == TLS_WANT_READ ? POLLIN : POLLOUT,
                 clk->deadline_ns, clk);
    if (rc == NET_TIMEOUT)
        snprintf(err, n, "timed out");
    return rc;
}

int conn_start_tls(conn *c, tls_ctx *ctx, const char *host,
                   const net_clock *clk, char *err, size_t n)
{
    int st, rc;

    quiet_sigpipe();
    c->tls = tls_session_new(ctx, c->fd, host, err, n);
    if (!c->tls)
        return NET_TLS;
    while ((st = tls_handshake(c->tls)) != TLS_DONE)
        if ((rc = tls_wait(c, st, clk, err, n)) != NET_OK)
            return rc;
    return NET_OK;
}

static int plain_wait(conn *c, short ev, const net_clock *clk, char *err,
                      size_t n)
{
    int rc = wait_fd(c->fd, ev, clk->deadline_ns, clk);

    if (rc == NET_TIMEOUT)
        snprintf(err, n, "timed out");
    return rc;
}

int conn_write(conn *c, const void *p, size_t len, const net_clock *clk,
               char *err, size_t n)
{
    const char *b = p;
    size_t done;
    ssize_t w;
    int rc;

    while (len > 0) {
        if (c->tls) {
            rc = tls_write(c->tls, b, len, &done);
            if (rc != TLS_DONE) {
                if ((rc = tls_wait(c, rc, clk, err, n)) != NET_OK)
                    return rc;
                continue;
            }
        } else {
            w = send(c->fd, b, len, MSG_NOSIGNAL);
            if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
                if ((rc = plain_wait(c, POLLOUT, clk, err, n)) != NET_OK)
                    return rc;
                continue;
            }
            if (w < 0) {
                snprintf(err, n, "send failed: %s", strerror(errno));
                return NET_IO;
            }
            done = (size_t)w;
        }
        b += done;
        len -= done;
    }
    return NET_OK;
}

int conn_read(conn *c, void *p, size_t len, size_t *got,
              const net_clock *clk, char *err, size_t n)
{
    ssize_t r;
    int rc;

    for (;;) {
        *got = 0;
        if (c->tls) {
            rc = tls_read(c->tls, p, len, got);
            if (rc == TLS_DONE || rc == TLS_CLOSED)
                return NET_OK;
            if ((rc = tls_wait(c, rc, clk, err, n)) != NET_OK)
                return rc;
            continue;
        }
        r = recv(c->fd, p, len, 0);
        if (r >= 0) {
            *got = (size_t)r;
            return NET_OK;
        }
        if (errno != EAGAIN && errno != EINTR) {
            snprintf(err, n, "receive failed: %s", strerror(errno));
            return NET_IO;
        }
        if ((rc = plain_wait(c, POLLIN, clk, err, n)) != NET_OK)
            return rc;
    }
}

void conn_close(conn *c)
{
    tls_session_free(c->tls);
    c->tls = NULL;
    if (c->fd >= 0)
        fdguard_close(c->fd);
    c->fd = -1;
}
