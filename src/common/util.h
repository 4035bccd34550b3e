/* Small helpers: growable buffers, time, hashing.  Depends on nothing. */
#ifndef PYROSCOPE_COMMON_UTIL_H
#define PYROSCOPE_COMMON_UTIL_H

#include <stddef.h>
#include <stdint.h>

typedef struct buf {
    char *data;
    size_t len;
    size_t cap;
    int oom; /* sticky: once an append failed the buffer is unusable */
} buf;

void buf_init(buf *b);
void buf_free(buf *b);
void buf_append(buf *b, const void *data, size_t len);
void buf_puts(buf *b, const char *s);
void buf_printf(buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Detach the data (NUL-terminated) and reset; NULL if an append failed. */
char *buf_steal(buf *b, size_t *len);

#include <pthread.h>
#include <time.h>

/*
 * The library defines pthread_cond_wait/timedwait itself (block profile,
 * src/hooks/lock_hooks.c).  Its own calls would be unversioned
 * references resolved at run time: in a dlopen'ed copy (every binding)
 * they can bind to glibc's old-ABI versions while pthread_cond_signal is
 * the current one, and wakeups are lost.  So our own code waits through
 * these, which call glibc's current version directly (and are not
 * profiled: our waits are not the application's).
 */
/* The next definition of pthread_cond_wait/timedwait after ours. */
void *pyroscope__next_cond(const char *name);
int pyroscope__cond_wait(pthread_cond_t *c, pthread_mutex_t *m);
int pyroscope__cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m,
                              const struct timespec *abstime);
#ifndef PYROSCOPE_DEFINES_COND_HOOKS
#define pthread_cond_wait pyroscope__cond_wait
#define pthread_cond_timedwait pyroscope__cond_timedwait
#endif

/* Reading of `clk` in ns, 0 on error; async-signal-safe. */
uint64_t time_clock_ns(clockid_t clk);
uint64_t time_now_ns(void);  /* CLOCK_REALTIME */
uint64_t time_mono_ns(void); /* CLOCK_MONOTONIC */
/* CPU time thread `t` has used, ns (0 if unknown). */
uint64_t time_thread_cpu_ns(pthread_t t);
/* CLOCK_MONOTONIC deadline `ns` from now, for pthread_cond_timedwait on a
 * condition created with that clock. */
struct timespec time_deadline(uint64_t ns);

uint64_t hash_bytes(const void *p, size_t n, uint64_t seed);
uint64_t hash_u64(uint64_t x);

char *str_dup(const char *s); /* NULL-safe strdup */

/* Make room for `need` elements of `elem` bytes in the growable array *v of
 * capacity *cap (doubling, from 16); 0 or -1 with *v untouched. */
int array_grow(void **v, size_t *cap, size_t need, size_t elem);

/* n bytes from the kernel's CSPRNG (getrandom, else /dev/urandom); 0 or
 * -1.  Never blocks for long: falls back rather than wait for entropy. */
int random_bytes(void *out, size_t n);

#endif
