#include "malloc_hooks.h"

#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "../common/tls.h"
#include "../common/util.h"
#include "hook_ring.h"

#if HOOKS_INTERPOSE

#define EXPORT __attribute__((visibility("default")))
#define NOINLINE __attribute__((noinline))
#define LIKELY(x) __builtin_expect(!!(x), 1)

/* ---- the next definitions, and the arena that serves their lookup ---- */

/* glibc's own entry points: used only if dlsym finds nothing.  Weak, so
 * that the library links where they do not exist (musl): NULL there. */
#define LIBC_FN __attribute__((weak))
extern void *__libc_malloc(size_t) LIBC_FN;
extern void __libc_free(void *) LIBC_FN;
extern void *__libc_calloc(size_t, size_t) LIBC_FN;
extern void *__libc_realloc(void *, size_t) LIBC_FN;
extern void *__libc_memalign(size_t, size_t) LIBC_FN;
extern void *__libc_valloc(size_t) LIBC_FN;
extern void *__libc_pvalloc(size_t) LIBC_FN;

typedef struct real_fns {
    void *(*malloc)(size_t);
    void (*free)(void *);
    void *(*calloc)(size_t, size_t);
    void *(*realloc)(void *, size_t);
    int (*posix_memalign)(void **, size_t, size_t);
    void *(*aligned_alloc)(size_t, size_t);
    void *(*memalign)(size_t, size_t);
    void *(*valloc)(size_t);
    void *(*pvalloc)(size_t);
} real_fns;

/*
 * What every call reads, in one cache line: the mode, and for free a
 * summary of the sampled-address set (bit i: word i of the bitmap below
 * is non-zero) that rejects most frees without touching another line.
 */
static struct {
    _Alignas(64) atomic_int mode; /* enum hook_mode */
    atomic_uint_fast64_t summary;
} g_hot;

static real_fns g_real;
static hook_ring g_hr;

/*
 * dlsym() itself may calloc (its error buffer) before we know where calloc
 * is.  Those few requests come from this bump arena; its blocks are never
 * reused, so they are zeroed, and never reach the real free.
 */
#define ARENA_SIZE (64 * 1024)
#define ARENA_HDR 16

static _Alignas(4096) unsigned char g_arena[ARENA_SIZE];
static atomic_size_t g_arena_used;

static int in_arena(const void *p)
{
    return (uintptr_t)p - (uintptr_t)g_arena < ARENA_SIZE;
}

static void *arena_alloc(size_t n, size_t align)
{
    size_t start, pos, end;

    if (align < ARENA_HDR)
        align = ARENA_HDR;
    if (n > ARENA_SIZE || align > 4096)
        return NULL;
    start = atomic_load(&g_arena_used);
    do {
        pos = (start + ARENA_HDR + align - 1) & ~(align - 1);
        end = pos + ((n + ARENA_HDR - 1) & ~(size_t)(ARENA_HDR - 1));
        if (end > ARENA_SIZE)
            return NULL;
    } while (!atomic_compare_exchange_weak(&g_arena_used, &start, end));
    memcpy(&g_arena[pos - sizeof(size_t)], &n, sizeof(n));
    return &g_arena[pos];
}

static size_t arena_size(const void *p)
{
    size_t n;

    memcpy(&n, (const unsigned char *)p - sizeof(size_t), sizeof(n));
    return n;
}

static void *fallback_aligned_alloc(size_t align, size_t n)
{
    return __libc_memalign(align, n);
}

static void *next(const char *name, void *fallback)
{
    void *f = dlsym(RTLD_NEXT, name);

    return f ? f : fallback;
}

static void resolve_all(void)
{
    g_real.malloc = next("malloc", (void *)__libc_malloc);
    g_real.free = next("free", (void *)__libc_free);
    g_real.calloc = next("calloc", (void *)__libc_calloc);
    g_real.realloc = next("realloc", (void *)__libc_realloc);
    g_real.memalign = next("memalign", (void *)__libc_memalign);
    g_real.valloc = next("valloc", (void *)__libc_valloc);
    g_real.pvalloc = next("pvalloc", (void *)__libc_pvalloc);
    g_real.aligned_alloc =
        next("aligned_alloc", (void *)fallback_aligned_alloc);
    g_real.posix_memalign = dlsym(RTLD_NEXT, "posix_memalign");
}

/*
 * Look the next definitions up once.  Returns 1 when they are usable; 0
 * means another lookup is under way (possibly our own, re-entered from
 * dlsym), and the caller serves the request from the arena.
 */
static int resolve(void)
{
    int expected = HOOK_BOOT;

    if (atomic_load(&g_hot.mode) >= HOOK_OFF)
        return 1;
    if (!atomic_compare_exchange_strong(&g_hot.mode, &expected, HOOK_RESOLVING))
        return atomic_load(&g_hot.mode) >= HOOK_OFF;
    resolve_all();
    atomic_store(&g_hot.mode, HOOK_OFF);
    return 1;
}

/* Resolve before main() while the process is most likely single-threaded. */
__attribute__((constructor)) static void malloc_hooks_init(void)
{
    resolve();
}

/* ---- the set of sampled live addresses, read by every free ---- */

/*
 * Open addressing with one 64-byte bucket of 8 slots per hash: a lookup
 * reads one cache line, and a delete can simply zero its slot because
 * nothing probes past the bucket.  A full bucket refuses the sample
 * (counted) instead of growing: the set never allocates.  Every free
 * first tests g_hot.summary, then its bucket's bit in a 512-byte bitmap of
 * non-empty buckets: the 256 KiB of buckets, or even 4 KiB of counts, cost
 * a cache miss per free in a malloc-heavy loop.
 */
#define SET_BUCKETS 4096
#define SET_WAYS 8

typedef struct set_bucket {
    _Alignas(64) atomic_uintptr_t slot[SET_WAYS];
} set_bucket;

static set_bucket g_set[SET_BUCKETS];
static atomic_uchar g_set_used[SET_BUCKETS];     /* entries per bucket */
static atomic_uint_fast64_t g_set_bits[SET_BUCKETS / 64]; /* used != 0 */
static atomic_uint_fast64_t g_set_full;

static inline size_t set_index(uintptr_t a)
{
    return (size_t)((a * 0x9e3779b97f4a7c15ull) >> 52);
}

static int set_insert(uintptr_t a)
{
    size_t b = set_index(a);
    int i;

    for (i = 0; i < SET_WAYS; i++) {
        uintptr_t zero = 0;
        if (atomic_compare_exchange_strong(&g_set[b].slot[i], &zero, a)) {
            atomic_fetch_add(&g_set_used[b], 1);
            atomic_fetch_or(&g_set_bits[b / 64], 1ull << (b % 64));
            atomic_fetch_or(&g_hot.summary, 1ull << (b / 64));
            return 1;
        }
    }
    atomic_fetch_add_explicit(&g_set_full, 1, memory_order_relaxed);
    return 0;
}

/*
 * The bucket emptied: clear its bit, unless an insert raced in.  Clearing
 * and then re-reading the count (all seq_cst) guarantees the bit is set
 * again whenever an insert's count increment is not seen here; the same
 * goes one level up for the summary bit and the bitmap word.
 */
static void set_bit_drop(size_t b)
{
    uint64_t bit = 1ull << (b % 64), word = 1ull << (b / 64);

    atomic_fetch_and(&g_set_bits[b / 64], ~bit);
    if (atomic_load(&g_set_used[b]) != 0)
        atomic_fetch_or(&g_set_bits[b / 64], bit);
    if (atomic_load(&g_set_bits[b / 64]) != 0)
        return;
    atomic_fetch_and(&g_hot.summary, ~word);
    if (atomic_load(&g_set_bits[b / 64]) != 0)
        atomic_fetch_or(&g_hot.summary, word);
}

static NOINLINE int set_remove_slow(uintptr_t a, size_t b)
{
    int i;

    for (i = 0; i < SET_WAYS; i++) {
        uintptr_t want = a;
        if (atomic_load_explicit(&g_set[b].slot[i], memory_order_relaxed) ==
                a &&
            atomic_compare_exchange_strong(&g_set[b].slot[i], &want, 0)) {
            if (atomic_fetch_sub(&g_set_used[b], 1) == 1)
                set_bit_drop(b);
            return 1;
        }
    }
    return 0;
}

/* Inlined into free: a multiply and one bit test when not sampled. */
static inline __attribute__((always_inline)) int set_remove(uintptr_t a)
{
    size_t b = set_index(a);

    if (!(atomic_load_explicit(&g_hot.summary, memory_order_relaxed) &
          (1ull << (b / 64))))
        return 0;
    if (!(atomic_load_explicit(&g_set_bits[b / 64], memory_order_relaxed) &
          (1ull << (b % 64))))
        return 0;
    return set_remove_slow(a, b);
}

static void set_clear(void)
{
    size_t i, j;

    for (i = 0; i < SET_BUCKETS; i++) {
        for (j = 0; j < SET_WAYS; j++)
            atomic_store_explicit(&g_set[i].slot[j], 0, memory_order_relaxed);
        atomic_store_explicit(&g_set_used[i], 0, memory_order_relaxed);
    }
    for (i = 0; i < SET_BUCKETS / 64; i++)
        atomic_store_explicit(&g_set_bits[i], 0, memory_order_relaxed);
    atomic_store(&g_hot.summary, 0);
}

uint64_t malloc_hooks_set_full(void)
{
    return atomic_load(&g_set_full);
}

/* ---- sampling ---- */

static atomic_size_t g_interval;
static atomic_int g_generation;
static atomic_uint_fast64_t g_rng;

/* Bytes to the next sample point: exponential with mean g_interval. */
static int64_t draw_interval(void)
{
    uint64_t x = hash_u64(atomic_fetch_add_explicit(
        &g_rng, 0x9e3779b97f4a7c15ull, memory_order_relaxed));
    double u = ((double)(x >> 11) + 0.5) / 9007199254740992.0;

    return (int64_t)(-log(u) * (double)atomic_load(&g_interval)) + 1;
}

/*
 * Slow path, once per sample point.  A thread whose countdown belongs to
 * an older session (heap_ready != generation) draws a fresh one first.
 */
static NOINLINE void sample_alloc(void *p, size_t n)
{
    tls_state *t = &pyroscope__tls;
    int gen = atomic_load_explicit(&g_generation, memory_order_relaxed);

    if (t->heap_ready != gen) {
        t->heap_ready = gen;
        t->heap_countdown = draw_interval() - (int64_t)n;
        if (t->heap_countdown > 0)
            return;
    }
    t->heap_countdown = draw_interval();
    if (t->hook_depth > 0)
        return;
    t->hook_depth++;
    if (set_insert((uintptr_t)p) &&
        !hook_ring_put(&g_hr, SAMPLE_HEAP_ALLOC, (int64_t)n, 0,
                       (uintptr_t)p, 1))
        set_remove((uintptr_t)p);
    t->hook_depth--;
}

/* The unsampled path: one thread-local subtraction, no lock.  Always
 * inlined, so sample_alloc's caller is the public hook (the leaf frame). */
static inline __attribute__((always_inline)) void account(void *p, size_t n)
{
    if (!p)
        return;
    pyroscope__tls.heap_countdown -= (int64_t)n;
    if (pyroscope__tls.heap_countdown <= 0)
        sample_alloc(p, n);
}

/*
 * Report the free before the block goes back to the allocator: after that
 * another thread may get the same address, and its alloc sample must come
 * later in the ring than this free.
 */
static inline __attribute__((always_inline)) void note_free(void *p)
{
    if (set_remove((uintptr_t)p))
        hook_ring_put(&g_hr, SAMPLE_HEAP_FREE, 0, 0, (uintptr_t)p, 0);
}

static int mode(void)
{
    return atomic_load_explicit(&g_hot.mode, memory_order_acquire);
}

/* ---- the interposed functions ---- */

EXPORT void *malloc(size_t n)
{
    int m = mode();
    void *p;

    if (LIKELY(m == HOOK_OFF))
        return g_real.malloc(n);
    if (m < HOOK_OFF && !resolve())
        return arena_alloc(n, ARENA_HDR);
    p = g_real.malloc(n);
    if (m == HOOK_ON)
        account(p, n);
    return p;
}

EXPORT void free(void *p)
{
    int m = mode();

    if (!p || in_arena(p))
        return;
    if (LIKELY(m == HOOK_OFF)) {
        g_real.free(p);
        return;
    }
    if (m < HOOK_OFF && !resolve()) {
        __libc_free(p); /* only glibc can have made it this early */
        return;
    }
    if (m == HOOK_ON)
        note_free(p);
    g_real.free(p);
}

EXPORT void *calloc(size_t k, size_t n)
{
    int m = mode();
    size_t total;
    void *p;

    if (LIKELY(m == HOOK_OFF))
        return g_real.calloc(k, n);
    if (__builtin_mul_overflow(k, n, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    if (m < HOOK_OFF && !resolve())
        return arena_alloc(total, ARENA_HDR);
    p = g_real.calloc(k, n);
    if (m == HOOK_ON)
        account(p, total);
    return p;
}

static void *realloc_from_arena(void *old, size_t n)
{
    size_t have = arena_size(old);
    void *p = malloc(n);

    if (p)
        memcpy(p, old, have < n ? have : n);
    return p;
}

EXPORT void *realloc(void *old, size_t n)
{
    int m = mode();
    void *p;

    if (old && in_arena(old))
        return realloc_from_arena(old, n);
    if (LIKELY(m == HOOK_OFF))
        return g_real.realloc(old, n);
    if (m < HOOK_OFF && !resolve())
        return old ? __libc_realloc(old, n) : arena_alloc(n, ARENA_HDR);
    if (m == HOOK_ON && old)
        note_free(old);
    p = g_real.realloc(old, n);
    if (m == HOOK_ON && n)
        account(p, n);
    return p;
}

EXPORT void *memalign(size_t align, size_t n)
{
    int m = mode();
    void *p;

    if (LIKELY(m == HOOK_OFF))
        return g_real.memalign(align, n);
    if (m < HOOK_OFF && !resolve())
        return arena_alloc(n, align);
    p = g_real.memalign(align, n);
    if (m == HOOK_ON)
        account(p, n);
    return p;
}

EXPORT void *aligned_alloc(size_t align, size_t n)
{
    int m = mode();
    void *p;

    if (LIKELY(m == HOOK_OFF))
        return g_real.aligned_alloc(align, n);
    if (m < HOOK_OFF && !resolve())
        return arena_alloc(n, align);
    p = g_real.aligned_alloc(align, n);
    if (m == HOOK_ON)
        account(p, n);
    return p;
}

static int posix_memalign_next(void **out, size_t align, size_t n)
{
    if (g_real.posix_memalign)
        return g_real.posix_memalign(out, align, n);
    if (align < sizeof(void *) || (align & (align - 1)))
        return EINVAL;
    *out = __libc_memalign(align, n);
    return *out ? 0 : ENOMEM;
}

EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
    int m = mode(), rc;

    if (LIKELY(m == HOOK_OFF))
        return posix_memalign_next(out, align, n);
    if (m < HOOK_OFF && !resolve()) {
        *out = arena_alloc(n, align);
        return *out ? 0 : ENOMEM;
    }
    rc = posix_memalign_next(out, align, n);
    if (m == HOOK_ON && rc == 0)
        account(*out, n);
    return rc;
}

EXPORT void *valloc(size_t n)
{
    int m = mode();
    void *p;

    if (LIKELY(m == HOOK_OFF))
        return g_real.valloc(n);
    if (m < HOOK_OFF && !resolve())
        return arena_alloc(n, 4096);
    p = g_real.valloc(n);
    if (m == HOOK_ON)
        account(p, n);
    return p;
}

EXPORT void *pvalloc(size_t n)
{
    int m = mode();
    void *p;

    if (LIKELY(m == HOOK_OFF))
        return g_real.pvalloc(n);
    if (m < HOOK_OFF && !resolve())
        return arena_alloc(n, 4096);
    p = g_real.pvalloc(n);
    if (m == HOOK_ON)
        account(p, n);
    return p;
}

/* ---- switching ---- */

static void wait_resolved(void)
{
    while (!resolve())
        sched_yield();
}

void malloc_hooks_enable(ring *r, size_t interval)
{
    wait_resolved();
    set_clear();
    atomic_store(&g_interval, interval ? interval : 512 * 1024);
    atomic_fetch_add(&g_rng, hash_u64((uintptr_t)&interval ^ (uintptr_t)r));
    /* Skip 0, the value of a thread that never ran the slow path. */
    if (atomic_fetch_add(&g_generation, 1) == -1)
        atomic_fetch_add(&g_generation, 1);
    hook_ring_attach(&g_hr, r);
    atomic_store(&g_hot.mode, HOOK_ON);
}

void malloc_hooks_disable(void)
{
    int on = HOOK_ON;

    atomic_compare_exchange_strong(&g_hot.mode, &on, HOOK_OFF);
    hook_ring_detach(&g_hr);
}

void malloc_hooks_pause(int pause)
{
    if (pause)
        hook_ring_pause(&g_hr);
    else
        hook_ring_resume(&g_hr);
}

void malloc_hooks_atfork_child(void)
{
    hook_ring_atfork_child(&g_hr);
}

#else /* sanitizer build: see hook_ring.h */

void malloc_hooks_enable(ring *r, size_t interval)
{
    (void)r;
    (void)interval;
}

void malloc_hooks_disable(void)
{
}

void malloc_hooks_pause(int pause)
{
    (void)pause;
}

void malloc_hooks_atfork_child(void)
{
}

uint64_t malloc_hooks_set_full(void)
{
    return 0;
}

#endif

int malloc_hooks_available(void)
{
    return HOOKS_INTERPOSE;
}
