#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "util.h"
#include "../fdguard/fdguard.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

void buf_init(buf *b)
{
    memset(b, 0, sizeof(*b));
}

void buf_free(buf *b)
{
    free(b->data);
    buf_init(b);
}

static int buf_reserve(buf *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    size_t cap;
    char *p;

    if (b->oom)
        return -1;
    if (need <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    p = realloc(b->data, cap);
    if (!p) {
        b->oom = 1;
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

void buf_append(buf *b, const void *data, size_t len)
{
    if (buf_reserve(b, len))
        return;
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void buf_puts(buf *b, const char *s)
{
    buf_append(b, s, strlen(s));
}

void buf_printf(buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || buf_reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

char *buf_steal(buf *b, size_t *len)
{
    char *d;

    if (b->oom) {
        buf_free(b);
        return NULL;
    }
    if (!b->data)
        buf_reserve(b, 0);
    d = b->data;
    if (len)
        *len = b->len;
    buf_init(b);
    return d;
}

uint64_t time_clock_ns(clockid_t clk)
{
    struct timespec ts;

    if (clock_gettime(clk, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t time_now_ns(void)
{
    return time_clock_ns(CLOCK_REALTIME);
}

uint64_t time_mono_ns(void)
{
    return time_clock_ns(CLOCK_MONOTONIC);
}

uint64_t time_thread_cpu_ns(pthread_t t)
{
    clockid_t clk;

    if (pthread_getcpuclockid(t, &clk) != 0)
        return 0;
    return time_clock_ns(clk);
}

struct timespec time_deadline(uint64_t ns)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(ns / 1000000000u);
    ts.tv_nsec += (long)(ns % 1000000000u);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

uint64_t hash_bytes(const void *p, size_t n, uint64_t seed)
{
    const unsigned char *s = p;
    uint64_t h = 1469598103934665603ull ^ seed;
    size_t i;

    for (i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ull;
    }
    return hash_u64(h);
}

uint64_t hash_u64(uint64_t x)
{
    /* splitmix64 finaliser: FNV alone mixes the high bits poorly. */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

char *str_dup(const char *s)
{
    size_t n;
    char *d;

    if (!s)
        return NULL;
    n = strlen(s) + 1;
    d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

int array_grow(void **v, size_t *cap, size_t need, size_t elem)
{
    size_t c = *cap ? *cap : 16;
    void *p;

    if (need <= *cap)
        return 0;
    while (c < need)
        c *= 2;
    p = realloc(*v, c * elem);
    if (!p)
        return -1;
    *v = p;
    *cap = c;
    return 0;
}

static int urandom(unsigned char *p, size_t n)
{
    int fd = FDGUARD(open("/dev/urandom", O_RDONLY | O_CLOEXEC));
    ssize_t got;

    if (fd < 0)
        return -1;
    while (n > 0) {
        got = read(fd, p, n);
        if (got <= 0 && errno != EINTR)
            break;
        if (got > 0)
            p += got, n -= (size_t)got;
    }
    fdguard_close(fd);
    return n == 0 ? 0 : -1;
}

int random_bytes(void *out, size_t n)
{
    unsigned char *p = out;
    ssize_t got;

    while (n > 0) {
        got = getrandom(p, n, GRND_NONBLOCK);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return urandom(p, n);
        p += got;
        n -= (size_t)got;
    }
    return 0;
}

/* ---- condition waits of our own threads (see util.h) ---- */

/*
 * The next pthread_cond_* in lookup order.  glibc's plain dlsym can return
 * the old-ABI version, so the current one is asked for by version; but a
 * versioned lookup skips an unversioned interposer between us and libc (a
 * sanitizer, a second profiler), which then never sees the wait release
 * and retake the mutex (TSan reports a double lock).  So when the default
 * lookup lands in another object than the versioned one, that interposer
 * is the next one and is called.
 */
void *pyroscope__next_cond(const char *name)
{
    void *d = dlsym(RTLD_NEXT, name);
    void *v = NULL;

#ifdef __GLIBC__ /* musl has one pthread_cond_t and no dlvsym */
    Dl_info a, b;

    /* x86-64 and aarch64 names of the current pthread_cond_t ABI. */
    v = dlvsym(RTLD_NEXT, name, "GLIBC_2.3.2");
    if (!v)
        v = dlvsym(RTLD_NEXT, name, "GLIBC_2.17");
    if (v && d && d != v && dladdr(v, &a) && dladdr(d, &b) &&
        a.dli_fbase != b.dli_fbase)
        return d;
#endif
    return v ? v : d;
}

int pyroscope__cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
{
    static int (*_Atomic fn)(pthread_cond_t *, pthread_mutex_t *);
    int (*f)(pthread_cond_t *, pthread_mutex_t *) = fn;

    if (!f) {
        f = (int (*)(pthread_cond_t *, pthread_mutex_t *))pyroscope__next_cond(
            "pthread_cond_wait");
        fn = f;
    }
    return f(c, m);
}

int pyroscope__cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m,
                              const struct timespec *abstime)
{
    typedef int (*timed_fn)(pthread_cond_t *, pthread_mutex_t *,
                            const struct timespec *);
    static timed_fn _Atomic fn;
    timed_fn f = fn;

    if (!f) {
        f = (timed_fn)pyroscope__next_cond("pthread_cond_timedwait");
        fn = f;
    }
    return f(c, m, abstime);
}
