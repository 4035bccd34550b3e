/*
 * How the malloc and lock hooks write a sample into the ring.
 *
 * The ring belongs to the running profiler and is unmapped by
 * pyroscope_stop(), while hooks run on any thread at any time.  Each writer
 * announces itself in `inflight` before it looks at `ring`; the disabler
 * clears `ring` and then waits for `inflight` to drain.  Both sides use
 * sequentially consistent operations, so one of them always sees the other.
 * fork() pauses writers the same way: no thread is inside the unwinder
 * (which may hold a lock) through a hook when the child is cloned.
 */
#ifndef PYROSCOPE_HOOKS_HOOK_RING_H
#define PYROSCOPE_HOOKS_HOOK_RING_H

#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "../common/tls.h"
#include "../sampler/ring.h"
#include "../sampler/sampler.h"

/*
 * ASan and TSan define malloc and pthread_mutex_lock themselves and must
 * see every call from their own initialisation on; our definitions in an
 * executable would run (instrumented) before the sanitizer is set up and
 * hide the allocator it checks.  Sanitizer builds therefore do not
 * interpose: heap and lock profiling record nothing there.
 */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define HOOKS_INTERPOSE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define HOOKS_INTERPOSE 0
#endif
#endif
#ifndef HOOKS_INTERPOSE
#define HOOKS_INTERPOSE 1
#endif

/* Hook dispatch state, shared by the malloc and lock hooks. */
enum hook_mode {
    HOOK_BOOT = 0,      /* next functions not looked up yet */
    HOOK_RESOLVING = 1, /* one thread is looking them up */
    HOOK_OFF = 2,       /* resolved, not profiling */
    HOOK_ON = 3         /* resolved and profiling */
};

typedef struct hook_ring {
    _Atomic(ring *) ring;
    atomic_int inflight;
    atomic_int paused;
} hook_ring;

static inline void hook_ring_attach(hook_ring *h, ring *r)
{
    atomic_store(&h->ring, r);
}

/* Detach the ring and wait until no hook still writes into it. */
static inline void hook_ring_detach(hook_ring *h)
{
    atomic_store(&h->ring, NULL);
    while (atomic_load(&h->inflight) > 0)
        sched_yield();
}

/* Make new writers skip, and wait for the current ones to finish. */
static inline void hook_ring_pause(hook_ring *h)
{
    atomic_store(&h->paused, 1);
    while (atomic_load(&h->inflight) > 0)
        sched_yield();
}

static inline void hook_ring_resume(hook_ring *h)
{
    atomic_store(&h->paused, 0);
}

/* fork() child: a writer that only bumped `inflight` to see `paused` and
 * skip may have been cloned mid-way; its thread does not exist here, so
 * nobody would take the count back down. */
static inline void hook_ring_atfork_child(hook_ring *h)
{
    atomic_store(&h->inflight, 0);
}

/*
 * Every function of the hooks that can be on the stack while a sample is
 * taken lives in this section.  The captured stack drops the frames whose
 * pc falls inside it, whatever inlining and tail calls the compiler chose
 * (-O0 and -O2 differ), and starts with the public entry point instead.
 */
#define HOOK_TEXT __attribute__((section("pyroscope_hooks")))
extern const char __start_pyroscope_hooks[]
    __attribute__((visibility("hidden")));
extern const char __stop_pyroscope_hooks[]
    __attribute__((visibility("hidden")));

static inline int hook_own_pc(uint64_t pc)
{
    return pc - (uintptr_t)__start_pyroscope_hooks <
           (uintptr_t)__stop_pyroscope_hooks -
               (uintptr_t)__start_pyroscope_hooks;
}

/* Stack the unwinder may need below a hook: on a nearly full small
 * thread stack the sample keeps its value and only the leaf frame. */
#define HOOK_STACK_NEED (16 * 1024)

/*
 * The caller's stack into words[], leaf first: `leaf` (the entry address
 * of the public function: malloc, pthread_mutex_unlock...), then the
 * application's frames.  Must be called from HOOK_TEXT code.
 */
static inline __attribute__((always_inline)) int
hook_backtrace(uint64_t *words, int max, const void *leaf)
{
    int n = 0, skip = 0, i;

    if (!tls_stack_low(HOOK_STACK_NEED))
        n = sampler_backtrace(words + 1, max - 1, 0);

    while (skip < n && hook_own_pc(words[1 + skip]))
        skip++;
    for (i = skip; i < n; i++)
        words[1 + i - skip] = words[1 + i];
    /* +1: stacks of hooks are symbolized like return addresses (pc - 1). */
    words[0] = (uint64_t)(uintptr_t)leaf + 1;
    return 1 + n - skip;
}

/*
 * Write one sample.  `stack`/`nstack` is a stack captured earlier
 * (copied), else with `leaf` set the caller's stack is captured now
 * (hook_backtrace), else the sample has no stack.  The caller raises
 * hook_depth: the unwinder may allocate or lock.
 * @return 1 if published, 0 if detached, paused or the ring is full.
 */
static inline __attribute__((always_inline)) int
hook_ring_put(hook_ring *h, uint16_t type, int64_t v0, int64_t v1,
              uint64_t addr, const void *leaf, const uint64_t *stack,
              int nstack)
{
    ring_cell *c = NULL;
    ring *r;

    atomic_fetch_add(&h->inflight, 1);
    r = atomic_load(&h->ring);
    if (r && !atomic_load(&h->paused))
        c = ring_claim(r);
    if (c) {
        c->s.type = type;
        c->s.flags = 0;
        c->s.nlang = 0;
        c->s.tagset = pyroscope__tls.tagset;
        c->s.values[0] = v0;
        c->s.values[1] = v1;
        c->s.addr = addr;
        c->s.nnative = 0;
        if (stack) {
            int i;
            for (i = 0; i < nstack && i < RING_MAX_WORDS; i++)
                c->s.words[i] = stack[i];
            c->s.nnative = (uint16_t)i;
        } else if (leaf) {
            c->s.nnative =
                (uint16_t)hook_backtrace(c->s.words, RING_MAX_WORDS, leaf);
        }
        ring_publish(r, c);
    }
    atomic_fetch_sub(&h->inflight, 1);
    return c != NULL;
}

#endif
