#include "lock_hooks.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "../common/tls.h"
#include "../common/util.h"
#include "hook_ring.h"

#if HOOKS_INTERPOSE

#define EXPORT __attribute__((visibility("default")))
#define NOINLINE __attribute__((noinline))
#define LIKELY(x) __builtin_expect(!!(x), 1)
/* Keeps the hook's own frame on the stack (forbids a tail call). */
#define NO_TAIL_CALL() __asm__ volatile("" ::: "memory")

enum lock_kind { LOCK_MUTEX, LOCK_RD, LOCK_WR };

typedef struct real_fns {
    int (*mutex_lock)(pthread_mutex_t *);
    int (*mutex_trylock)(pthread_mutex_t *);
    int (*rdlock)(pthread_rwlock_t *);
    int (*tryrdlock)(pthread_rwlock_t *);
    int (*wrlock)(pthread_rwlock_t *);
    int (*trywrlock)(pthread_rwlock_t *);
} real_fns;

static real_fns g_real;
static atomic_int g_mode; /* enum hook_mode */
static hook_ring g_hr;
static int64_t g_threshold_ns;
static int g_rate = 1;
static _Atomic(pthread_t) g_resolver;

static void resolve_all(void)
{
    g_real.mutex_lock = dlsym(RTLD_NEXT, "pthread_mutex_lock");
    g_real.mutex_trylock = dlsym(RTLD_NEXT, "pthread_mutex_trylock");
    g_real.rdlock = dlsym(RTLD_NEXT, "pthread_rwlock_rdlock");
    g_real.tryrdlock = dlsym(RTLD_NEXT, "pthread_rwlock_tryrdlock");
    g_real.wrlock = dlsym(RTLD_NEXT, "pthread_rwlock_wrlock");
    g_real.trywrlock = dlsym(RTLD_NEXT, "pthread_rwlock_trywrlock");
}

/*
 * Look the next definitions up once; other threads wait for it.  glibc's
 * dlsym takes only internal locks, so the resolver never re-enters here;
 * if some other interposer made it do so, that single bootstrap call is let
 * through unlocked rather than deadlocking (returns 0).
 */
static int resolve(void)
{
    int expected = HOOK_BOOT;

    if (atomic_compare_exchange_strong(&g_mode, &expected, HOOK_RESOLVING)) {
        atomic_store(&g_resolver, pthread_self());
        resolve_all();
        atomic_store(&g_mode, HOOK_OFF);
        return 1;
    }
    while (atomic_load(&g_mode) == HOOK_RESOLVING) {
        if (pthread_equal(atomic_load(&g_resolver), pthread_self()))
            return 0;
        sched_yield();
    }
    return 1;
}

__attribute__((constructor)) static void lock_hooks_init(void)
{
    resolve();
}

static int do_lock(int kind, void *l)
{
    if (kind == LOCK_MUTEX)
        return g_real.mutex_lock(l);
    return kind == LOCK_RD ? g_real.rdlock(l) : g_real.wrlock(l);
}

static int do_trylock(int kind, void *l)
{
    if (kind == LOCK_MUTEX)
        return g_real.mutex_trylock(l);
    return kind == LOCK_RD ? g_real.tryrdlock(l) : g_real.trywrlock(l);
}

/* 1 in g_rate contentions, chosen by a hash: no shared counter to bounce. */
static int chosen(uint64_t t0, const void *l)
{
    return g_rate <= 1 ||
           hash_u64(t0 ^ (uintptr_t)l) % (uint64_t)g_rate == 0;
}

/* Wait for the lock until `deadline` (CLOCK_MONOTONIC) at most. */
static int do_clocklock(int kind, void *l, const struct timespec *deadline)
{
    if (kind == LOCK_MUTEX)
        return pthread_mutex_clocklock(l, CLOCK_MONOTONIC, deadline);
    if (kind == LOCK_RD)
        return pthread_rwlock_clockrdlock(l, CLOCK_MONOTONIC, deadline);
    return pthread_rwlock_clockwrlock(l, CLOCK_MONOTONIC, deadline);
}

static struct timespec mono_ts(uint64_t ns)
{
    struct timespec ts;

    ts.tv_sec = (time_t)(ns / 1000000000ull);
    ts.tv_nsec = (long)(ns % 1000000000ull);
    return ts;
}

/*
 * Only a busy lock costs more than one trylock.  A chosen contention first
 * waits up to the threshold; a wait that reaches it will be recorded, so
 * its stack is captured then, before the lock is ours: unwinding while
 * holding the host's lock would make every lock the unwinder takes (its
 * cache, the loader's) nest inside it (docs/internals/locks.md).  Then it
 * waits for good, and the whole wait is recorded, scaled by the rate.
 * Any trylock or timed-wait result but EBUSY or ETIMEDOUT (success,
 * EOWNERDEAD on a robust mutex, EDEADLK, EAGAIN, EINVAL) is already what
 * the lock call would have returned.
 */
static inline __attribute__((always_inline)) int lock_profiled(int kind,
                                                              void *l)
{
    uint64_t words[RING_MAX_WORDS];
    struct timespec deadline;
    uint64_t t0, wait;
    int rc, n;

    if (tls_guard_up())
        return do_lock(kind, l);
    rc = do_trylock(kind, l);
    if (rc != EBUSY)
        return rc;
    t0 = time_mono_ns();
    if (!chosen(t0, l))
        return do_lock(kind, l);
    deadline = mono_ts(t0 + (uint64_t)g_threshold_ns);
    rc = do_clocklock(kind, l, &deadline);
    if (rc != ETIMEDOUT)
        return rc;
    tls_guard_raise();
    n = hook_ring_capture(&g_hr, words, RING_MAX_WORDS);
    tls_guard_lower();
    rc = do_lock(kind, l);
    wait = time_mono_ns() - t0;
    if (n >= 0)
        hook_ring_put_words(&g_hr, SAMPLE_LOCK, g_rate, (int64_t)wait * g_rate,
                            (uintptr_t)l, words, n);
    return rc;
}

/*
 * Cold path: first call before the constructor ran, or a profiled call.
 * Its callers must not tail-call it: the stack is captured with one frame
 * (this one) skipped, which leaves the public hook as the leaf.
 */
static NOINLINE int lock_slow(int m, int kind, void *l)
{
    if (m < HOOK_OFF && !resolve())
        return 0;
    if (m == HOOK_ON)
        return lock_profiled(kind, l);
    return do_lock(kind, l);
}

static int mode(void)
{
    return atomic_load_explicit(&g_mode, memory_order_acquire);
}

EXPORT int pthread_mutex_lock(pthread_mutex_t *l)
{
    int m = mode(), rc;

    if (LIKELY(m == HOOK_OFF))
        return g_real.mutex_lock(l);
    rc = lock_slow(m, LOCK_MUTEX, l);
    NO_TAIL_CALL();
    return rc;
}

EXPORT int pthread_rwlock_rdlock(pthread_rwlock_t *l)
{
    int m = mode(), rc;

    if (LIKELY(m == HOOK_OFF))
        return g_real.rdlock(l);
    rc = lock_slow(m, LOCK_RD, l);
    NO_TAIL_CALL();
    return rc;
}

EXPORT int pthread_rwlock_wrlock(pthread_rwlock_t *l)
{
    int m = mode(), rc;

    if (LIKELY(m == HOOK_OFF))
        return g_real.wrlock(l);
    rc = lock_slow(m, LOCK_WR, l);
    NO_TAIL_CALL();
    return rc;
}

void lock_hooks_enable(ring *r, int64_t threshold_ns, int rate)
{
    while (!resolve())
        sched_yield();
    g_threshold_ns = threshold_ns > 0 ? threshold_ns : 0;
    g_rate = rate > 1 ? rate : 1;
    hook_ring_attach(&g_hr, r);
    atomic_store(&g_mode, HOOK_ON);
}

void lock_hooks_disable(void)
{
    int on = HOOK_ON;

    atomic_compare_exchange_strong(&g_mode, &on, HOOK_OFF);
    hook_ring_detach(&g_hr);
}

void lock_hooks_pause(int pause)
{
    if (pause)
        hook_ring_pause(&g_hr);
    else
        hook_ring_resume(&g_hr);
}

void lock_hooks_atfork_child(void)
{
    hook_ring_atfork_child(&g_hr);
}

#else /* sanitizer build: see hook_ring.h */

void lock_hooks_enable(ring *r, int64_t threshold_ns, int rate)
{
    (void)r;
    (void)threshold_ns;
    (void)rate;
}

void lock_hooks_disable(void)
{
}

void lock_hooks_pause(int pause)
{
    (void)pause;
}

void lock_hooks_atfork_child(void)
{
}

#endif

int lock_hooks_available(void)
{
    return HOOKS_INTERPOSE;
}
