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

#include <stdatomic.h>
#include <stdint.h>

typedef struct tls_ext tls_ext; /* defined by tls.c, extended per module */

typedef struct tls_state {
    uint64_t tagset;        /* current tag set id, read by the handler */
    int64_t heap_countdown; /* bytes until the next heap sample */
    int32_t hook_depth;     /* the re-entrancy guard, see below */
    int32_t heap_ready;     /* countdown initialised */
    uintptr_t stack_lo;     /* lowest stack address if small, else 0 */
    tls_ext *ext;
    /* Pages already checked during this thread's walk (sampler/unwind.c). */
    uintptr_t good_pages[4];
    int32_t good_n;
    int32_t walking;
} tls_state;

extern __thread tls_state pyroscope__tls
    __attribute__((tls_model("initial-exec")));

/*
 * The re-entrancy guard (docs/internals/locks.md).  It is raised while this
 * thread runs our own code inside a host call: the CPU signal handler, a
 * hook that records a sample (and so runs the unwinder), our allocations,
 * and permanently on our own threads.  While it is up the malloc and lock
 * hooks call straight through to the real functions, and the signal
 * handler does not sample: the code it interrupted may be inside the
 * unwinder, whose per-thread cache and locks are not re-entrant.
 * Async-signal-safe: a handler that raises it lowers it before returning,
 * so an interrupted increment still sees its own value.
 */
static inline int tls_guard_up(void)
{
    return pyroscope__tls.hook_depth > 0;
}

static inline void tls_guard_raise(void)
{
    pyroscope__tls.hook_depth++;
    atomic_signal_fence(memory_order_seq_cst);
}

static inline void tls_guard_lower(void)
{
    atomic_signal_fence(memory_order_seq_cst);
    pyroscope__tls.hook_depth--;
}

/*
 * Whether fewer than `need` bytes of the thread's stack are left below the
 * caller, so that unwinding here could overflow it.  Known only for the
 * small stacks of threads started through our pthread_create
 * (thread_hooks.c); a stack we know nothing of is taken to be big enough.
 * Async-signal-safe.  An address below the bound (another stack, such as
 * an alternate signal stack) wraps to a large distance: not low.
 */
static inline int tls_stack_low(uintptr_t need)
{
    uintptr_t lo = pyroscope__tls.stack_lo;

    return lo && (uintptr_t)__builtin_frame_address(0) - lo < need;
}

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
