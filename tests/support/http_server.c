#define _GNU_SOURCE
#include "http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct http_server {
    int fd, port;
    atomic_int stop;
    int mode, status;
    char *extra, *body; /* http_server_reply() */
    int delay_ms;
    pthread_t thread;
    pthread_mutex_t lock;
    http_request *reqs;
    size_t n;
};

/*
 * Held by the serving thread while it allocates (reading and storing a
 * request) and taken by every fork() of the test process: a sanitizer's
 * allocator has no fork handlers of its own, so a child forked while this
 * thread was inside malloc would find the allocator's lock held for good
 * (seen as a child of test_spool_kill hung in curl_global_init under ASan).
 * answer() runs without it: HTTP_HANG may hold a connection for seconds.
 */
static pthread_mutex_t g_busy = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t g_busy_once = PTHREAD_ONCE_INIT;

static void busy_lock(void) { pthread_mutex_lock(&g_busy); }
static void busy_unlock(void) { pthread_mutex_unlock(&g_busy); }
static void busy_child(void) { pthread_mutex_init(&g_busy, NULL); }
static void busy_register(void)
{
    pthread_atfork(busy_lock, busy_unlock, busy_child);
}

static char *dupn(const char *s, size_t n)
{
    char *d = malloc(n + 1);

    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

/* Read until the header end, then the body by Content-Length or chunks. */
static int read_request(int fd, http_request *r)
{
    size_t cap = 65536, len = 0, hdr_end = 0, clen = 0;
    char *buf = malloc(cap), *he, *cl;
    ssize_t got;
    int sent_continue = 0;

    for (;;) {
        struct pollfd pfd = {fd, POLLIN, 0};
        if (hdr_end && len >= hdr_end + clen)
            break;
        if (hdr_end && !sent_continue && strcasestr(r->headers,
                                                    "Expect: 100-continue")) {
            (void)!write(fd, "HTTP/1.1 100 Continue\r\n\r\n", 25);
            sent_continue = 1;
        }
        if (poll(&pfd, 1, 5000) <= 0)
            goto fail;
        if (len + 65536 > cap)
            buf = realloc(buf, cap *= 2);
        got = read(fd, buf + len, cap - len - 1);
        if (got <= 0)
            goto fail;
        len += (size_t)got;
        buf[len] = '\0';
        if (!hdr_end && (he = strstr(buf, "\r\n\r\n")) != NULL) {
            char *sp1 = strchr(buf, ' '), *sp2 = sp1 ? strchr(sp1 + 1, ' ') : 0;
            hdr_end = (size_t)(he - buf) + 4;
            if (!sp2)
                goto fail;
            r->method = dupn(buf, (size_t)(sp1 - buf));
            r->target = dupn(sp1 + 1, (size_t)(sp2 - sp1 - 1));
            r->headers = dupn(buf, hdr_end);
            cl = strcasestr(r->headers, "Content-Length:");
            clen = cl ? strtoul(cl + 15, NULL, 10) : 0;
        }
    }
    r->body = malloc(clen + 1);
    memcpy(r->body, buf + hdr_end, clen);
    r->len = clen;
    free(buf);
    return 0;
fail:
    free(buf);
    return -1;
}

static void answer(http_server *s, int fd)
{
    char resp[4096];
    int mode, status, delay;
    const char *extra, *body;

    pthread_mutex_lock(&s->lock);
    mode = s->mode;
    status = s->status;
    delay = s->delay_ms;
    extra = s->extra ? s->extra : "";
    body = s->body ? s->body : "{}";
    snprintf(resp, sizeof(resp),
             "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nConnection: close\r\n"
             "%s\r\n%s", status, strlen(body), extra, body);
    pthread_mutex_unlock(&s->lock);
    if (mode == HTTP_HANG) {
        struct pollfd pfd = {fd, POLLIN, 0};
        while (!s->stop && poll(&pfd, 1, 100) == 0)
            ;
        return;
    }
    if (mode == HTTP_GARBAGE) {
        (void)!write(fd, "\x01\x02garbage\xff\r\n\r\n", 14);
        return;
    }
    if (mode == HTTP_CLOSE)
        return;
    if (delay > 0)
        poll(NULL, 0, delay);
    (void)!write(fd, resp, strlen(resp));
}

static void *serve(void *arg)
{
    http_server *s = arg;

    while (!s->stop) {
        struct pollfd pfd = {s->fd, POLLIN, 0};
        http_request r;
        int c;
        if (poll(&pfd, 1, 50) <= 0)
            continue;
        c = accept(s->fd, NULL, NULL);
        if (c < 0)
            continue;
        memset(&r, 0, sizeof(r));
        busy_lock();
        if (read_request(c, &r) == 0) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            r.t = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
            pthread_mutex_lock(&s->lock);
            s->reqs = realloc(s->reqs, (s->n + 1) * sizeof(r));
            s->reqs[s->n++] = r;
            pthread_mutex_unlock(&s->lock);
            busy_unlock();
            answer(s, c);
        } else {
            http_request_free(&r);
            busy_unlock();
        }
        close(c);
    }
    return NULL;
}

http_server *http_server_start(void)
{
    http_server *s = calloc(1, sizeof(*s));
    struct sockaddr_in a;
    socklen_t al = sizeof(a);
    int one = 1;

    pthread_once(&g_busy_once, busy_register);
    s->status = 200;
    pthread_mutex_init(&s->lock, NULL);
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(s->fd, (struct sockaddr *)&a, sizeof(a)) || listen(s->fd, 64) ||
        getsockname(s->fd, (struct sockaddr *)&a, &al)) {
        close(s->fd);
        free(s);
        return NULL;
    }
    s->port = ntohs(a.sin_port);
    pthread_create(&s->thread, NULL, serve, s);
    return s;
}

int http_server_port(const http_server *s)
{
    return s->port;
}

void http_server_set(http_server *s, int mode, int status)
{
    pthread_mutex_lock(&s->lock);
    s->mode = mode;
    s->status = status;
    free(s->extra);
    free(s->body);
    s->extra = s->body = NULL;
    pthread_mutex_unlock(&s->lock);
}

void http_server_delay(http_server *s, int ms)
{
    pthread_mutex_lock(&s->lock);
    s->delay_ms = ms;
    pthread_mutex_unlock(&s->lock);
}

void http_server_reply(http_server *s, int status, const char *headers,
                       const char *body)
{
    pthread_mutex_lock(&s->lock);
    s->mode = HTTP_OK;
    s->status = status;
    free(s->extra);
    free(s->body);
    s->extra = headers ? strdup(headers) : NULL;
    s->body = body ? strdup(body) : NULL;
    pthread_mutex_unlock(&s->lock);
}

size_t http_server_count(http_server *s)
{
    size_t n;

    pthread_mutex_lock(&s->lock);
    n = s->n;
    pthread_mutex_unlock(&s->lock);
    return n;
}

http_request *http_server_get(http_server *s, size_t i)
{
    http_request *r = NULL;

    pthread_mutex_lock(&s->lock);
    if (i < s->n) {
        r = calloc(1, sizeof(*r));
        r->method = strdup(s->reqs[i].method);
        r->target = strdup(s->reqs[i].target);
        r->headers = strdup(s->reqs[i].headers);
        r->body = malloc(s->reqs[i].len + 1);
        memcpy(r->body, s->reqs[i].body, s->reqs[i].len);
        r->len = s->reqs[i].len;
        r->t = s->reqs[i].t;
    }
    pthread_mutex_unlock(&s->lock);
    return r;
}

void http_request_free(http_request *r)
{
    if (!r)
        return;
    free(r->method);
    free(r->target);
    free(r->headers);
    free(r->body);
}

void http_server_stop(http_server *s)
{
    size_t i;

    s->stop = 1;
    pthread_join(s->thread, NULL);
    close(s->fd);
    for (i = 0; i < s->n; i++)
        http_request_free(&s->reqs[i]);
    free(s->reqs);
    free(s->extra);
    free(s->body);
    free(s);
}

char *http_header(const http_request *r, const char *name)
{
    const char *p = r->headers;
    size_t nl = strlen(name);

    while ((p = strstr(p, "\r\n")) != NULL) {
        p += 2;
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1, *e = strstr(v, "\r\n");
            while (*v == ' ')
                v++;
            return dupn(v, (size_t)(e - v));
        }
    }
    return NULL;
}

static int hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : (c | 32) - 'a' + 10;
}

char *http_query(const http_request *r, const char *name)
{
    const char *q = strchr(r->target, '?');
    size_t nl = strlen(name);

    while (q) {
        q++;
        if (strncmp(q, name, nl) == 0 && q[nl] == '=') {
            const char *v = q + nl + 1, *e = v + strcspn(v, "&");
            char *out = malloc((size_t)(e - v) + 1), *o = out;
            for (; v < e; v++) {
                if (*v == '%' && v + 2 < e + 1) {
                    *o++ = (char)(hexval(v[1]) * 16 + hexval(v[2]));
                    v += 2;
                } else {
                    *o++ = *v == '+' ? ' ' : *v;
                }
            }
            *o = '\0';
            return out;
        }
        q = strchr(q, '&');
    }
    return NULL;
}

const unsigned char *http_multipart(const http_request *r, const char *name,
                                    size_t *len)
{
    char *ct = http_header(r, "Content-Type"), *b, needle[256], delim[200];
    const unsigned char *p, *start, *end;

    if (!ct || !(b = strstr(ct, "boundary="))) {
        free(ct);
        return NULL;
    }
    snprintf(delim, sizeof(delim), "\r\n--%s", b + 9);
    snprintf(needle, sizeof(needle), "name=\"%s\"", name);
    free(ct);
    p = memmem(r->body, r->len, needle, strlen(needle));
    if (!p)
        return NULL;
    start = memmem(p, r->len - (size_t)(p - r->body), "\r\n\r\n", 4);
    if (!start)
        return NULL;
    start += 4;
    end = memmem(start, r->len - (size_t)(start - r->body), delim,
                 strlen(delim));
    if (!end)
        return NULL;
    *len = (size_t)(end - start);
    return start;
}
