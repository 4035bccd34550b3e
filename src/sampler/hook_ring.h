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
#ifndef PYROSCOPE_SAMPLER_HOOK_RING_H
#define PYROSCOPE_SAMPLER_HOOK_RING_H

#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "../common/tls.h"
#include "ring.h"
#include "sampler.h"

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
 * Write one sample; `unwind` captures the caller's stack.  Inlined so that
 * the frames to skip are: sampler_backtrace's caller (skip 1 = the hook
 * helper), leaving the public hook (malloc, pthread_mutex_lock) as the leaf.
 * The caller raises hook_depth: the unwinder may allocate or lock.
 * @return 1 if published, 0 if detached, paused or the ring is full.
 */
static inline __attribute__((always_inline)) int
hook_ring_put(hook_ring *h, uint16_t type, int64_t v0, int64_t v1,
              uint64_t addr, int unwind)
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
        if (unwind)
            c->s.nnative =
                (uint16_t)sampler_backtrace(c->s.words, RING_MAX_WORDS, 1);
        ring_publish(r, c);
    }
    atomic_fetch_sub(&h->inflight, 1);
    return c != NULL;
}

/*
 * Capture the caller's stack into `words` now and publish it later: for a
 * hook that must not unwind at the moment it records (the lock hook holds
 * the host's lock by then).  Counts as a writer while it unwinds, so fork
 * never clones a thread that is inside the unwinder; skips while paused.
 * Same inlining rule as hook_ring_put.  The caller raises the guard.
 * @return the number of frames, or -1 if detached or paused.
 */
static inline __attribute__((always_inline)) int
hook_ring_capture(hook_ring *h, uint64_t *words, int max)
{
    int n = -1;

    atomic_fetch_add(&h->inflight, 1);
    if (atomic_load(&h->ring) && !atomic_load(&h->paused))
        n = sampler_backtrace(words, max, 1);
    atomic_fetch_sub(&h->inflight, 1);
    return n;
}

/* Publish a stack captured earlier; no unwinding, no lock, no allocation.
 * @return 1 if published, 0 if detached, paused or the ring is full. */
static inline int hook_ring_put_words(hook_ring *h, uint16_t type, int64_t v0,
                                      int64_t v1, uint64_t addr,
                                      const uint64_t *words, int n)
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
        c->s.nnative = (uint16_t)n;
        memcpy(c->s.words, words, (size_t)n * sizeof(words[0]));
        ring_publish(r, c);
    }
    atomic_fetch_sub(&h->inflight, 1);
    return c != NULL;
}

#endif
