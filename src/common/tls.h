/*
 * All of the library's thread-local state.
 *
 * Only this small struct is initial-exec TLS: the signal handler and the
 * malloc hooks read it without calling __tls_get_addr (which may allocate).
 * Initial-exec TLS of a dlopen'ed library (every language binding) must fit
 * in glibc's small static TLS surplus, so everything large hangs off `ext`,
 * allocated on first use from ordinary code.
 */
#ifndef PYROSCOPE_COMMON_TLS_H
#define PYROSCOPE_COMMON_TLS_H

#include <stdint.h>

typedef struct tls_ext tls_ext; /* defined by tls.c, extended per module */

typedef struct tls_state {
    uint64_t tagset;        /* current tag set id, read by the handler */
    int64_t heap_countdown; /* bytes until the next heap sample */
    int32_t hook_depth;     /* >0 while inside our own hooks */
    int32_t heap_ready;     /* countdown initialised */
    tls_ext *ext;
} tls_state;

extern __thread tls_state pyroscope__tls
    __attribute__((tls_model("initial-exec")));

#define TLS_MAX_DEPTH 32
#define TLS_CACHE_SIZE 64

typedef struct tls_cache_entry {
    uint64_t hash;
    uint64_t id;
    uint64_t epoch;
} tls_cache_entry;

struct tls_ext {
    uint64_t stack[TLS_MAX_DEPTH];
    int depth;
    /* Span profiles: the thread's outermost active span (0 = none) and its
     * interned name, read by the CPU signal handler on this thread. */
    volatile uint64_t span_id;
    const char *volatile span_name;
    int span_depth;
    tls_cache_entry cache[TLS_CACHE_SIZE];
    char error[512];
};

/* The span the calling thread runs, for its own signal handler.
 * Async-signal-safe: reads only memory allocated before. */
static inline uint64_t tls_span(const char **name)
{
    tls_ext *e = pyroscope__tls.ext;

    if (!e || !e->span_id)
        return 0;
    *name = e->span_name;
    return e->span_id;
}

/* This thread's extension block, allocated on first use; NULL if out of
 * memory.  Not async-signal-safe. */
tls_ext *tls_ext_get(void);

#endif
