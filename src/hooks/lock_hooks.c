#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
/* Defines them: no versioned references here (common/util.h). */
#define PYROSCOPE_DEFINES_COND_HOOKS 1
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

/* Waiter-side stacks are captured before blocking: keep them short. */
#define LOCK_STACK_WORDS 128

enum lock_kind { LOCK_MUTEX, LOCK_RD, LOCK_WR };

typedef int (*lock_fn)(void *);
typedef int (*cond_wait_fn)(pthread_cond_t *, pthread_mutex_t *);
typedef int (*cond_timed_fn)(pthread_cond_t *, pthread_mutex_t *,
                             const struct timespec *);

typedef struct real_fns {
    lock_fn mutex_lock, mutex_trylock, mutex_unlock;
    lock_fn rdlock, tryrdlock, wrlock, trywrlock, rw_unlock;
    cond_wait_fn cond_wait;
    cond_timed_fn cond_timedwait;
} real_fns;

/* What each public function jumps to: the real one while off. */
typedef struct fn_table {
    lock_fn mutex_lock, mutex_unlock, rdlock, wrlock, rw_unlock;
    cond_wait_fn cond_wait;
    cond_timed_fn cond_timedwait;
} fn_table;

static real_fns g_real;
static fn_table g_off;
static atomic_int g_mode; /* enum hook_mode */
static hook_ring g_hr;
static int64_t g_threshold_ns;
static int g_rate = 1;
static int g_holder_on, g_block_on; /* mutex and block profiles */
static _Atomic(pthread_t) g_resolver;

/* ---- waiters, by lock: what the holder charges at unlock ---- */

/*
 * A thread that blocks on a lock puts its start time into a slot of the
 * lock's entry.  The holder, at unlock and while it still holds the lock,
 * moves every slot's time forward to "now" with a CAS and is charged the
 * difference: the time those waiters spent waiting while it held the lock
 * (Go's mutex profile).  The next holder is charged from there on.  A
 * waiter empties its own slot once it has the lock.  The entry's key packs
 * the lock address (48 bits) and the number of waiters using it, so it is
 * claimed, shared and released with single CASes; nothing blocks.
 */
#define LW_ENTRIES 512
#define LW_SLOTS 15
#define LW_PROBES 4

typedef struct lw_entry {
    _Alignas(64) atomic_uint_fast64_t key; /* addr << 16 | waiters */
    atomic_uint_fast64_t slot[LW_SLOTS];   /* wait start (ns), 0 = free */
} lw_entry;

static lw_entry g_lw[LW_ENTRIES];
static atomic_int g_waiting;            /* registered waiters, all locks */
static atomic_int g_lw_used;            /* an entry was ever claimed */
static atomic_uint_fast64_t g_untracked; /* no entry or slot was free */

static size_t lw_index(uintptr_t a)
{
    return (size_t)((a * 0x9e3779b97f4a7c15ull) >> 55);
}

static lw_entry *lw_claim(uintptr_t a)
{
    size_t h = lw_index(a);
    int i;

    for (i = 0; i < LW_PROBES; i++) {
        lw_entry *e = &g_lw[(h + (size_t)i) % LW_ENTRIES];
        uint64_t k = atomic_load(&e->key);
        for (;;) {
            uint64_t want;
            if (k == 0)
                want = ((uint64_t)a << 16) | 1;
            else if (k >> 16 == a && (k & 0xffff) != 0xffff)
                want = k + 1;
            else
                break;
            if (atomic_compare_exchange_weak(&e->key, &k, want)) {
                if (!atomic_load_explicit(&g_lw_used, memory_order_relaxed))
                    atomic_store(&g_lw_used, 1);
                return e;
            }
        }
    }
    return NULL;
}

static void lw_release(lw_entry *e, uintptr_t a)
{
    uint64_t k = atomic_fetch_sub(&e->key, 1) - 1;

    if ((k & 0xffff) == 0) {
        uint64_t idle = (uint64_t)a << 16;
        atomic_compare_exchange_strong(&e->key, &idle, 0);
    }
}

/* Register a wait that started at t0; NULL if it cannot be tracked. */
static atomic_uint_fast64_t *lw_enter(const void *l, uint64_t t0,
                                      lw_entry **out)
{
    uintptr_t a = (uintptr_t)l;
    lw_entry *e;
    int j;

    if (a >> 48 || !(e = lw_claim(a))) {
        atomic_fetch_add_explicit(&g_untracked, 1, memory_order_relaxed);
        return NULL;
    }
    for (j = 0; j < LW_SLOTS; j++) {
        uint64_t zero = 0;
        if (atomic_compare_exchange_strong(&e->slot[j], &zero, t0)) {
            atomic_fetch_add(&g_waiting, 1);
            *out = e;
            return &e->slot[j];
        }
    }
    lw_release(e, a);
    atomic_fetch_add_explicit(&g_untracked, 1, memory_order_relaxed);
    return NULL;
}

static void lw_leave(lw_entry *e, atomic_uint_fast64_t *slot, const void *l)
{
    atomic_store(slot, 0);
    atomic_fetch_sub(&g_waiting, 1);
    lw_release(e, (uintptr_t)l);
}

static lw_entry *lw_find(const void *l)
{
    uintptr_t a = (uintptr_t)l;
    size_t h = lw_index(a);
    int i;

    for (i = 0; i < LW_PROBES; i++) {
        lw_entry *e = &g_lw[(h + (size_t)i) % LW_ENTRIES];
        uint64_t k = atomic_load(&e->key);
        if (k >> 16 == a && (k & 0xffff) != 0)
            return e;
    }
    return NULL;
}

/* The waiting time of `e`'s waiters up to `now`, restarted from `now`. */
static uint64_t lw_charge(lw_entry *e, uint64_t now)
{
    uint64_t total = 0;
    int j;

    for (j = 0; j < LW_SLOTS; j++) {
        uint64_t v = atomic_load_explicit(&e->slot[j], memory_order_relaxed);
        if (v && v < now &&
            atomic_compare_exchange_strong(&e->slot[j], &v, now))
            total += now - v;
    }
    return total;
}

/* ---- looking the real functions up ---- */

static void resolve_all(void)
{
    g_real.mutex_lock = (lock_fn)dlsym(RTLD_NEXT, "pthread_mutex_lock");
    g_real.mutex_trylock = (lock_fn)dlsym(RTLD_NEXT, "pthread_mutex_trylock");
    g_real.mutex_unlock = (lock_fn)dlsym(RTLD_NEXT, "pthread_mutex_unlock");
    g_real.rdlock = (lock_fn)dlsym(RTLD_NEXT, "pthread_rwlock_rdlock");
    g_real.tryrdlock = (lock_fn)dlsym(RTLD_NEXT, "pthread_rwlock_tryrdlock");
    g_real.wrlock = (lock_fn)dlsym(RTLD_NEXT, "pthread_rwlock_wrlock");
    g_real.trywrlock = (lock_fn)dlsym(RTLD_NEXT, "pthread_rwlock_trywrlock");
    g_real.rw_unlock = (lock_fn)dlsym(RTLD_NEXT, "pthread_rwlock_unlock");
    g_real.cond_wait =
        (cond_wait_fn)pyroscope__next_cond("pthread_cond_wait");
    g_real.cond_timedwait =
        (cond_timed_fn)pyroscope__next_cond("pthread_cond_timedwait");
    g_off.mutex_lock = g_real.mutex_lock;
    g_off.mutex_unlock = g_real.mutex_unlock;
    g_off.rdlock = g_real.rdlock;
    g_off.wrlock = g_real.wrlock;
    g_off.rw_unlock = g_real.rw_unlock;
    g_off.cond_wait = g_real.cond_wait;
    g_off.cond_timedwait = g_real.cond_timedwait;
}

static void install(const fn_table *t);

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
        install(&g_off);
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

/* ---- profiling ---- */

static int do_lock(int kind, void *l)
{
    if (kind == LOCK_MUTEX)
        return g_real.mutex_lock(l);
    return kind == LOCK_RD ? g_real.rdlock(l) : g_real.wrlock(l);
}

static int do_unlock(int kind, void *l)
{
    return kind == LOCK_MUTEX ? g_real.mutex_unlock(l) : g_real.rw_unlock(l);
}

/* 1 in g_rate events, chosen by a hash: no shared counter to bounce. */
static int chosen(uint64_t t0, const void *l)
{
    return g_rate <= 1 ||
           hash_u64(t0 ^ (uintptr_t)l) % (uint64_t)g_rate == 0;
}

EXPORT int pthread_mutex_lock(pthread_mutex_t *l);
EXPORT int pthread_mutex_unlock(pthread_mutex_t *l);
EXPORT int pthread_rwlock_rdlock(pthread_rwlock_t *l);
EXPORT int pthread_rwlock_wrlock(pthread_rwlock_t *l);
EXPORT int pthread_rwlock_unlock(pthread_rwlock_t *l);
EXPORT int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m);
EXPORT int pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m,
                                  const struct timespec *abstime);

static const void *lock_leaf(int kind)
{
    if (kind == LOCK_MUTEX)
        return (const void *)pthread_mutex_lock;
    return kind == LOCK_RD ? (const void *)pthread_rwlock_rdlock
                           : (const void *)pthread_rwlock_wrlock;
}

static void put_block(uint64_t wait, const void *l, const uint64_t *stack,
                      int n)
{
    pyroscope__tls.hook_depth++;
    hook_ring_put(&g_hr, SAMPLE_BLOCK, g_rate, (int64_t)wait * g_rate,
                  (uintptr_t)l, NULL, stack, n);
    pyroscope__tls.hook_depth--;
}

/*
 * The lock is busy.  The waiter's own stack (block profile) is captured
 * before it blocks, never while it holds the lock it waits for; the wait
 * is registered so that the holders are charged for it (mutex profile).
 */
static HOOK_TEXT NOINLINE int lock_contended(int kind, void *l)
{
    uint64_t stack[LOCK_STACK_WORDS], t0, wait;
    atomic_uint_fast64_t *slot = NULL;
    lw_entry *e = NULL;
    int n = 0, rc;

    /* The holder is charged from the moment the lock was found busy; the
     * waiter's own wait starts after our unwinding. */
    t0 = time_mono_ns();
    if (g_holder_on)
        slot = lw_enter(l, t0, &e);
    if (g_block_on && chosen(t0, l)) {
        pyroscope__tls.hook_depth++;
        n = hook_backtrace(stack, LOCK_STACK_WORDS, lock_leaf(kind));
        pyroscope__tls.hook_depth--;
        t0 = time_mono_ns();
    }
    rc = do_lock(kind, l);
    wait = time_mono_ns() - t0;
    if (slot)
        lw_leave(e, slot, l);
    if (n && (int64_t)wait >= g_threshold_ns)
        put_block(wait, l, stack, n);
    return rc;
}

/*
 * Unlock with waiters: charge their waiting time to this holder while it
 * still holds the lock, release it, and only then capture the holder's
 * stack (no unwinding while holding the application's lock).
 */
static HOOK_TEXT NOINLINE int unlock_contended(int kind, void *l)
{
    lw_entry *e = lw_find(l);
    uint64_t now, charge;
    int rc;

    if (!e)
        return do_unlock(kind, l);
    now = time_mono_ns();
    charge = lw_charge(e, now);
    rc = do_unlock(kind, l);
    if (charge > 0 && (int64_t)charge >= g_threshold_ns && chosen(now, l)) {
        pyroscope__tls.hook_depth++;
        hook_ring_put(&g_hr, SAMPLE_LOCK, g_rate, (int64_t)charge * g_rate,
                      (uintptr_t)l,
                      kind == LOCK_MUTEX ? (const void *)pthread_mutex_unlock
                                         : (const void *)pthread_rwlock_unlock,
                      NULL, 0);
        pyroscope__tls.hook_depth--;
    }
    return rc;
}

/* Only a busy lock costs more than one trylock.  Any trylock result but
 * EBUSY (success, EOWNERDEAD on a robust mutex, EAGAIN, EINVAL) is already
 * what the lock call would have returned. */
#define LOCK_ON(name, kind, real, try)                                        \
    static HOOK_TEXT int name(void *l)                                        \
    {                                                                         \
        int rc;                                                               \
                                                                              \
        if (pyroscope__tls.hook_depth > 0)                                    \
            return g_real.real(l);                                            \
        rc = g_real.try(l);                                                   \
        if (LIKELY(rc != EBUSY))                                              \
            return rc;                                                        \
        return lock_contended(kind, l);                                       \
    }

LOCK_ON(mutex_lock_on, LOCK_MUTEX, mutex_lock, mutex_trylock)
LOCK_ON(rdlock_on, LOCK_RD, rdlock, tryrdlock)
LOCK_ON(wrlock_on, LOCK_WR, wrlock, trywrlock)

/* No waiter registered anywhere (the common case): just unlock. */
#define UNLOCK_ON(name, kind, real)                                           \
    static HOOK_TEXT int name(void *l)                                        \
    {                                                                         \
        if (LIKELY(atomic_load_explicit(&g_waiting,                           \
                                        memory_order_relaxed) == 0) ||        \
            pyroscope__tls.hook_depth > 0)                                    \
            return g_real.real(l);                                            \
        return unlock_contended(kind, l);                                     \
    }

UNLOCK_ON(mutex_unlock_on, LOCK_MUTEX, mutex_unlock)
UNLOCK_ON(rw_unlock_on, LOCK_RD, rw_unlock)

/*
 * A condition wait is blocking (block profile) but contends for nothing.
 * The caller holds `m` before and after the wait, so a recorded wait
 * releases `m`, captures the stack, and takes `m` again before returning:
 * to the caller this is a wakeup that another thread raced for `m`, which
 * condition waits always allow.  A robust mutex whose owner died
 * (EOWNERDEAD) is returned as is, not released.
 */
static HOOK_TEXT NOINLINE void cond_record(pthread_mutex_t *m, uint64_t wait,
                                          const void *leaf)
{
    uint64_t stack[LOCK_STACK_WORDS];
    int n;

    if (g_real.mutex_unlock(m) != 0)
        return;
    pyroscope__tls.hook_depth++;
    n = hook_backtrace(stack, LOCK_STACK_WORDS, leaf);
    pyroscope__tls.hook_depth--;
    g_real.mutex_lock(m);
    put_block(wait, m, stack, n);
}

static HOOK_TEXT int cond_wait_on(pthread_cond_t *c, pthread_mutex_t *m)
{
    uint64_t t0, wait;
    int rc;

    if (!g_block_on || pyroscope__tls.hook_depth > 0)
        return g_real.cond_wait(c, m);
    t0 = time_mono_ns();
    rc = g_real.cond_wait(c, m);
    wait = time_mono_ns() - t0;
    if (rc == 0 && (int64_t)wait >= g_threshold_ns && chosen(t0, c))
        cond_record(m, wait, (const void *)pthread_cond_wait);
    return rc;
}

static HOOK_TEXT int cond_timedwait_on(pthread_cond_t *c, pthread_mutex_t *m,
                                       const struct timespec *abstime)
{
    uint64_t t0, wait;
    int rc;

    if (!g_block_on || pyroscope__tls.hook_depth > 0)
        return g_real.cond_timedwait(c, m, abstime);
    t0 = time_mono_ns();
    rc = g_real.cond_timedwait(c, m, abstime);
    wait = time_mono_ns() - t0;
    if ((rc == 0 || rc == ETIMEDOUT) && (int64_t)wait >= g_threshold_ns &&
        chosen(t0, c))
        cond_record(m, wait, (const void *)pthread_cond_timedwait);
    return rc;
}

static const fn_table g_on = {mutex_lock_on, mutex_unlock_on, rdlock_on,
                              wrlock_on,     rw_unlock_on,    cond_wait_on,
                              cond_timedwait_on};

/* ---- dispatch: each public function is one indirect jump ---- */

static int boot_mutex_lock(void *l);
static int boot_mutex_unlock(void *l);
static int boot_rdlock(void *l);
static int boot_wrlock(void *l);
static int boot_rw_unlock(void *l);
static int boot_cond_wait(pthread_cond_t *c, pthread_mutex_t *m);
static int boot_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m,
                               const struct timespec *abstime);

static _Alignas(64) fn_table g_fn = {
    boot_mutex_lock, boot_mutex_unlock, boot_rdlock,        boot_wrlock,
    boot_rw_unlock,  boot_cond_wait,    boot_cond_timedwait};

#define CALL(f) __atomic_load_n(&g_fn.f, __ATOMIC_ACQUIRE)

static void install(const fn_table *t)
{
    __atomic_store_n(&g_fn.mutex_lock, t->mutex_lock, __ATOMIC_RELEASE);
    __atomic_store_n(&g_fn.mutex_unlock, t->mutex_unlock, __ATOMIC_RELEASE);
    __atomic_store_n(&g_fn.rdlock, t->rdlock, __ATOMIC_RELEASE);
    __atomic_store_n(&g_fn.wrlock, t->wrlock, __ATOMIC_RELEASE);
    __atomic_store_n(&g_fn.rw_unlock, t->rw_unlock, __ATOMIC_RELEASE);
    __atomic_store_n(&g_fn.cond_wait, t->cond_wait, __ATOMIC_RELEASE);
    __atomic_store_n(&g_fn.cond_timedwait, t->cond_timedwait,
                     __ATOMIC_RELEASE);
}

/* Before the lookup: a re-entered resolver's own call passes unlocked. */
#define BOOT(name, f)                                                         \
    static int name(void *l)                                                  \
    {                                                                         \
        return resolve() ? CALL(f)(l) : 0;                                    \
    }

BOOT(boot_mutex_lock, mutex_lock)
BOOT(boot_mutex_unlock, mutex_unlock)
BOOT(boot_rdlock, rdlock)
BOOT(boot_wrlock, wrlock)
BOOT(boot_rw_unlock, rw_unlock)

static int boot_cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
{
    while (!resolve())
        sched_yield();
    return CALL(cond_wait)(c, m);
}

static int boot_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m,
                               const struct timespec *abstime)
{
    while (!resolve())
        sched_yield();
    return CALL(cond_timedwait)(c, m, abstime);
}

EXPORT HOOK_TEXT int pthread_mutex_lock(pthread_mutex_t *l)
{
    return CALL(mutex_lock)(l);
}

EXPORT HOOK_TEXT int pthread_mutex_unlock(pthread_mutex_t *l)
{
    return CALL(mutex_unlock)(l);
}

EXPORT HOOK_TEXT int pthread_rwlock_rdlock(pthread_rwlock_t *l)
{
    return CALL(rdlock)(l);
}

EXPORT HOOK_TEXT int pthread_rwlock_wrlock(pthread_rwlock_t *l)
{
    return CALL(wrlock)(l);
}

EXPORT HOOK_TEXT int pthread_rwlock_unlock(pthread_rwlock_t *l)
{
    return CALL(rw_unlock)(l);
}

EXPORT HOOK_TEXT int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
{
    return CALL(cond_wait)(c, m);
}

EXPORT HOOK_TEXT int pthread_cond_timedwait(pthread_cond_t *c,
                                            pthread_mutex_t *m,
                                            const struct timespec *abstime)
{
    return CALL(cond_timedwait)(c, m, abstime);
}

/* ---- switching ---- */

void lock_hooks_enable(ring *r, int64_t threshold_ns, int rate, int holder,
                       int block)
{
    while (!resolve())
        sched_yield();
    g_threshold_ns = threshold_ns > 0 ? threshold_ns : 0;
    g_rate = rate > 1 ? rate : 1;
    g_holder_on = holder;
    g_block_on = block;
    hook_ring_attach(&g_hr, r);
    atomic_store(&g_mode, HOOK_ON);
    install(&g_on);
}

void lock_hooks_disable(void)
{
    int on = HOOK_ON;

    if (atomic_compare_exchange_strong(&g_mode, &on, HOOK_OFF))
        install(&g_off);
    hook_ring_detach(&g_hr);
}

uint64_t lock_hooks_untracked(void)
{
    return atomic_load(&g_untracked);
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
    size_t i;
    int j;

    hook_ring_atfork_child(&g_hr);
    /* Waiters of the parent's other threads do not exist here.  Only
     * words in use are written, and nothing is read before a first use:
     * the table's pages are shared with the parent (or not mapped at all)
     * until touched, and a child that execs at once should not fault in
     * 64 KiB of zeros first. */
    for (i = 0; atomic_load(&g_lw_used) && i < LW_ENTRIES; i++) {
        if (atomic_load(&g_lw[i].key))
            atomic_store(&g_lw[i].key, 0);
        for (j = 0; j < LW_SLOTS; j++)
            if (atomic_load(&g_lw[i].slot[j]))
                atomic_store(&g_lw[i].slot[j], 0);
    }
    atomic_store(&g_waiting, 0);
}

#else /* sanitizer build: see hook_ring.h */

void lock_hooks_enable(ring *r, int64_t threshold_ns, int rate, int holder,
                       int block)
{
    (void)r;
    (void)threshold_ns;
    (void)rate;
    (void)holder;
    (void)block;
}

uint64_t lock_hooks_untracked(void)
{
    return 0;
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
