#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
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

/* Ours: entry addresses name the leaf frame of a sample. */
EXPORT void *malloc(size_t n);
EXPORT void *calloc(size_t k, size_t n);
EXPORT void *realloc(void *old, size_t n);
EXPORT int posix_memalign(void **out, size_t align, size_t n);
EXPORT void *aligned_alloc(size_t align, size_t n);
EXPORT void *memalign(size_t align, size_t n);
EXPORT void *valloc(size_t n);
EXPORT void *pvalloc(size_t n);

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

static void switch_to_off(void);

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
    switch_to_off();
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

    if (!a)
        return 0; /* free(NULL): 0 marks an empty slot */

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
static inline __attribute__((always_inline)) int set_maybe(uintptr_t a)
{
    size_t b = set_index(a);

    if (!(atomic_load_explicit(&g_hot.summary, memory_order_relaxed) &
          (1ull << (b / 64))))
        return 0;
    return (atomic_load_explicit(&g_set_bits[b / 64], memory_order_relaxed) &
            (1ull << (b % 64))) != 0;
}

static inline __attribute__((always_inline)) int set_remove(uintptr_t a)
{
    return set_maybe(a) && set_remove_slow(a, set_index(a));
}

/* Only buckets that hold entries are written (their count says so): the
 * table is 256 KiB of zero pages until used, and clearing all of it made
 * every start fault in 64 pages. */
static void set_clear(void)
{
    size_t i, j;

    for (i = 0; i < SET_BUCKETS; i++) {
        if (!atomic_load_explicit(&g_set_used[i], memory_order_relaxed))
            continue;
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
/* Estimated bytes and objects of samples lost (ring full, set full). */
static atomic_int_fast64_t g_lost_bytes, g_lost_objects;

/* Bytes to the next sample point: exponential with mean g_interval. */
static int64_t draw_interval(void)
{
    uint64_t x = hash_u64(atomic_fetch_add_explicit(
        &g_rng, 0x9e3779b97f4a7c15ull, memory_order_relaxed));
    double u = ((double)(x >> 11) + 0.5) / 9007199254740992.0;

    return (int64_t)(-log(u) * (double)atomic_load(&g_interval)) + 1;
}

/*
 * A sample that cannot be recorded still counts: its estimate goes to the
 * lost totals, which the collector adds under a "[lost]" frame, so the
 * byte totals stay unbiased when the ring overflows.
 */
static void lose(size_t n)
{
    double prob = 1.0 - exp(-(double)n / (double)atomic_load(&g_interval));

    if (prob <= 0)
        return;
    atomic_fetch_add(&g_lost_bytes, (int64_t)((double)n / prob + 0.5));
    atomic_fetch_add(&g_lost_objects, (int64_t)(1.0 / prob + 0.5));
}

/*
 * Slow path, once per sample point.  A thread whose countdown belongs to
 * an older session (heap_ready != generation) draws a fresh one first.
 */
static HOOK_TEXT NOINLINE void sample_alloc(void *p, size_t n,
                                            const void *leaf)
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
    if (t->hook_depth > 0 || !p)
        return;
    t->hook_depth++;
    if (!set_insert((uintptr_t)p)) {
        lose(n);
    } else if (!hook_ring_put(&g_hr, SAMPLE_HEAP_ALLOC, (int64_t)n, 0,
                              (uintptr_t)p, leaf, NULL, 0)) {
        set_remove((uintptr_t)p);
        if (atomic_load(&g_hr.ring))
            lose(n);
    }
    t->hook_depth--;
}

/* The unsampled path: one thread-local subtraction and a branch.
 * Non-zero when this allocation holds a sample point. */
static inline __attribute__((always_inline)) int count_down(size_t n)
{
    pyroscope__tls.heap_countdown -= (int64_t)n;
    return pyroscope__tls.heap_countdown <= 0;
}

/*
 * Report the free before the block goes back to the allocator: after that
 * another thread may get the same address, and its alloc sample must come
 * later in the ring than this free.
 */
static inline __attribute__((always_inline)) void note_free(void *p)
{
    if (set_remove((uintptr_t)p))
        hook_ring_put(&g_hr, SAMPLE_HEAP_FREE, 0, 0, (uintptr_t)p, NULL,
                      NULL, 0);
}

/* ---- dispatch ---- */

/*
 * Each public function is one indirect jump through this table: to the
 * boot functions until the next definitions are known, then straight to
 * them (heap profiling off: no cost but that jump), or to the *_on
 * functions while profiling.  Switching stores the pointers.
 */
typedef real_fns fn_table; /* the same nine entry points */

static fn_table g_off; /* what "off" jumps to */

#define CALL(f) __atomic_load_n(&g_fn.f, __ATOMIC_ACQUIRE)

/* ---- boot: first calls, before (or while) the lookup runs ---- */

static void *boot_malloc(size_t n);
static void boot_free(void *p);
static void *boot_calloc(size_t k, size_t n);
static void *boot_realloc(void *old, size_t n);
static int boot_posix_memalign(void **out, size_t align, size_t n);
static void *boot_aligned_alloc(size_t align, size_t n);
static void *boot_memalign(size_t align, size_t n);
static void *boot_valloc(size_t n);
static void *boot_pvalloc(size_t n);

static _Alignas(64) fn_table g_fn = {
    boot_malloc, boot_free, boot_calloc, boot_realloc, boot_posix_memalign,
    boot_aligned_alloc, boot_memalign, boot_valloc, boot_pvalloc};

static void *boot_malloc(size_t n)
{
    if (!resolve())
        return arena_alloc(n, ARENA_HDR);
    return CALL(malloc)(n);
}

static void boot_free(void *p)
{
    if (!p || in_arena(p))
        return;
    if (!resolve()) {
        __libc_free(p); /* only glibc can have made it this early */
        return;
    }
    CALL(free)(p);
}

static void *boot_calloc(size_t k, size_t n)
{
    size_t total;

    if (resolve())
        return CALL(calloc)(k, n);
    if (__builtin_mul_overflow(k, n, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return arena_alloc(total, ARENA_HDR);
}

static void *realloc_from_arena(void *old, size_t n)
{
    size_t have = arena_size(old);
    void *p = malloc(n);

    if (p)
        memcpy(p, old, have < n ? have : n);
    return p;
}

static void *boot_realloc(void *old, size_t n)
{
    if (old && in_arena(old))
        return realloc_from_arena(old, n);
    if (resolve())
        return CALL(realloc)(old, n);
    return old ? __libc_realloc(old, n) : arena_alloc(n, ARENA_HDR);
}

static int boot_posix_memalign(void **out, size_t align, size_t n)
{
    if (resolve())
        return CALL(posix_memalign)(out, align, n);
    *out = arena_alloc(n, align);
    return *out ? 0 : ENOMEM;
}

static void *boot_aligned_alloc(size_t align, size_t n)
{
    return resolve() ? CALL(aligned_alloc)(align, n) : arena_alloc(n, align);
}

static void *boot_memalign(size_t align, size_t n)
{
    return resolve() ? CALL(memalign)(align, n) : arena_alloc(n, align);
}

static void *boot_valloc(size_t n)
{
    return resolve() ? CALL(valloc)(n) : arena_alloc(n, 4096);
}

static void *boot_pvalloc(size_t n)
{
    return resolve() ? CALL(pvalloc)(n) : arena_alloc(n, 4096);
}

/* ---- off: arena blocks never reach the real free/realloc ---- */

static void free_checked(void *p)
{
    if (!in_arena(p))
        g_real.free(p);
}

static void *realloc_checked(void *old, size_t n)
{
    if (old && in_arena(old))
        return realloc_from_arena(old, n);
    return g_real.realloc(old, n);
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

/* Called once the lookup is done (mode OFF): leave the boot functions. */
static void install_off(void)
{
    int arena = atomic_load(&g_arena_used) != 0;

    g_off.malloc = g_real.malloc;
    g_off.free = arena ? free_checked : g_real.free;
    g_off.calloc = g_real.calloc;
    g_off.realloc = arena ? realloc_checked : g_real.realloc;
    g_off.posix_memalign =
        g_real.posix_memalign ? g_real.posix_memalign : posix_memalign_next;
    g_off.aligned_alloc = g_real.aligned_alloc;
    g_off.memalign = g_real.memalign;
    g_off.valloc = g_real.valloc;
    g_off.pvalloc = g_real.pvalloc;
}

/* ---- on: count down, and sample once per sample point ---- */


static HOOK_TEXT NOINLINE void *malloc_sampled(size_t n)
{
    void *p = g_real.malloc(n);

    sample_alloc(p, n, (const void *)malloc);
    return p;
}

static HOOK_TEXT void *malloc_on(size_t n)
{
    if (LIKELY(!count_down(n)))
        return g_real.malloc(n);
    return malloc_sampled(n);
}

static HOOK_TEXT NOINLINE void free_sampled(void *p)
{
    note_free(p);
    g_real.free(p);
}

/* Most frees are of blocks that were never sampled: rejected by the bit
 * tests, then a tail jump.  free(NULL) takes the same path (the set never
 * holds 0).  The arena check is only needed if the bootstrap used it. */
static HOOK_TEXT void free_on(void *p)
{
    if (LIKELY(!set_maybe((uintptr_t)p))) {
        g_real.free(p);
        return;
    }
    free_sampled(p);
}

static HOOK_TEXT void free_on_checked(void *p)
{
    if (in_arena(p))
        return;
    free_on(p);
}

static HOOK_TEXT NOINLINE void *calloc_sampled(size_t k, size_t n)
{
    void *p = g_real.calloc(k, n);

    sample_alloc(p, k * n, (const void *)calloc);
    return p;
}

static HOOK_TEXT void *calloc_on(size_t k, size_t n)
{
    size_t total;

    if (__builtin_mul_overflow(k, n, &total) || LIKELY(!count_down(total)))
        return g_real.calloc(k, n);
    return calloc_sampled(k, n);
}

static HOOK_TEXT NOINLINE void *realloc_sampled(void *old, size_t n)
{
    void *p = g_real.realloc(old, n);

    sample_alloc(p, n, (const void *)realloc);
    return p;
}

static HOOK_TEXT void *realloc_on(void *old, size_t n)
{
    if (old) {
        if (in_arena(old))
            return realloc_from_arena(old, n);
        note_free(old);
    }
    if (n == 0 || LIKELY(!count_down(n)))
        return g_real.realloc(old, n);
    return realloc_sampled(old, n);
}

static HOOK_TEXT NOINLINE int pm_sampled(void **out, size_t align, size_t n)
{
    int rc = posix_memalign_next(out, align, n);

    sample_alloc(rc == 0 ? *out : NULL, n, (const void *)posix_memalign);
    return rc;
}

static HOOK_TEXT int posix_memalign_on(void **out, size_t align, size_t n)
{
    if (LIKELY(!count_down(n)))
        return posix_memalign_next(out, align, n);
    return pm_sampled(out, align, n);
}

/* The aligned family: (align, n) or (n) with the alignment implied. */
#define ALIGNED_ON(name, params, args, size)                                 \
    static HOOK_TEXT NOINLINE void *name##_sampled params                    \
    {                                                                         \
        void *p = g_real.name args;                                           \
                                                                              \
        sample_alloc(p, size, (const void *)name);                            \
        return p;                                                             \
    }                                                                         \
    static HOOK_TEXT void *name##_on params                                   \
    {                                                                         \
        if (LIKELY(!count_down(size)))                                        \
            return g_real.name args;                                          \
        return name##_sampled args;                                           \
    }

ALIGNED_ON(aligned_alloc, (size_t align, size_t n), (align, n), n)
ALIGNED_ON(memalign, (size_t align, size_t n), (align, n), n)
ALIGNED_ON(valloc, (size_t n), (n), n)
ALIGNED_ON(pvalloc, (size_t n), (n), n)

static fn_table g_on = {
    malloc_on, free_on, calloc_on, realloc_on, posix_memalign_on,
    aligned_alloc_on, memalign_on, valloc_on, pvalloc_on};

static void install(const fn_table *t)
{
    __atomic_store_n(&g_fn.malloc, t->malloc, __ATOMIC_RELEASE);
    __atomic_store_n(&g_fn.free, t->free, __ATOMIC_RELEASE);
    __atomic_store_n(&g_fn.calloc, t->calloc, __ATOMIC_RELEASE);
    __atomic_store_n(&g_fn.realloc, t->realloc, __ATOMIC_RELEASE);
    __atomic_store_n(&g_fn.posix_memalign, t->posix_memalign,
                     __ATOMIC_RELEASE);
    __atomic_store_n(&g_fn.aligned_alloc, t->aligned_alloc, __ATOMIC_RELEASE);
    __atomic_store_n(&g_fn.memalign, t->memalign, __ATOMIC_RELEASE);
    __atomic_store_n(&g_fn.valloc, t->valloc, __ATOMIC_RELEASE);
    __atomic_store_n(&g_fn.pvalloc, t->pvalloc, __ATOMIC_RELEASE);
}

static void switch_to_off(void)
{
    install_off();
    install(&g_off);
}

/* ---- the interposed functions: one jump each ---- */

EXPORT HOOK_TEXT void *malloc(size_t n)
{
    return CALL(malloc)(n);
}

EXPORT HOOK_TEXT void free(void *p)
{
    CALL(free)(p);
}

EXPORT HOOK_TEXT void *calloc(size_t k, size_t n)
{
    return CALL(calloc)(k, n);
}

EXPORT HOOK_TEXT void *realloc(void *old, size_t n)
{
    return CALL(realloc)(old, n);
}

EXPORT HOOK_TEXT int posix_memalign(void **out, size_t align, size_t n)
{
    return CALL(posix_memalign)(out, align, n);
}

EXPORT HOOK_TEXT void *aligned_alloc(size_t align, size_t n)
{
    return CALL(aligned_alloc)(align, n);
}

EXPORT HOOK_TEXT void *memalign(size_t align, size_t n)
{
    return CALL(memalign)(align, n);
}

EXPORT HOOK_TEXT void *valloc(size_t n)
{
    return CALL(valloc)(n);
}

EXPORT HOOK_TEXT void *pvalloc(size_t n)
{
    return CALL(pvalloc)(n);
}

/* ---- reported by a binding (the library is dlopen'ed) ---- */

EXPORT void pyroscope_heap_alloc(void *p, size_t n);

static int g_interposed = -1;

/* Our own malloc: `malloc` itself would name the first definition in the
 * global scope, which is libc's when we are dlopen'ed. */
extern void *malloc_hooks_own_malloc(size_t n)
    __attribute__((alias("malloc"), visibility("hidden"), copy(malloc)));

/* Does the process's malloc reach ours?  Looked up once, not in a hook. */
int malloc_hooks_interposed(void)
{
    if (g_interposed < 0)
        g_interposed =
            dlsym(RTLD_DEFAULT, "malloc") == (void *)malloc_hooks_own_malloc;
    return g_interposed;
}

static HOOK_TEXT NOINLINE void reported_sampled(void *p, size_t n)
{
    sample_alloc(p, n, (const void *)pyroscope_heap_alloc);
}

EXPORT HOOK_TEXT void pyroscope_heap_alloc(void *p, size_t n)
{
    if (!p || g_interposed != 0 ||
        atomic_load_explicit(&g_hot.mode, memory_order_acquire) != HOOK_ON)
        return;
    if (count_down(n))
        reported_sampled(p, n);
}

EXPORT void pyroscope_heap_free(void *p)
{
    if (!p || g_interposed != 0 ||
        atomic_load_explicit(&g_hot.mode, memory_order_acquire) != HOOK_ON)
        return;
    note_free(p);
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
    malloc_hooks_interposed();
    set_clear();
    atomic_store(&g_interval, interval ? interval : 512 * 1024);
    atomic_fetch_add(&g_rng, hash_u64((uintptr_t)&interval ^ (uintptr_t)r));
    /* Skip 0, the value of a thread that never ran the slow path. */
    if (atomic_fetch_add(&g_generation, 1) == -1)
        atomic_fetch_add(&g_generation, 1);
    hook_ring_attach(&g_hr, r);
    atomic_store(&g_hot.mode, HOOK_ON);
    if (atomic_load(&g_arena_used))
        g_on.free = free_on_checked;
    install(&g_on);
}

void malloc_hooks_disable(void)
{
    int on = HOOK_ON;

    if (atomic_compare_exchange_strong(&g_hot.mode, &on, HOOK_OFF))
        install(&g_off);
    hook_ring_detach(&g_hr);
}

void malloc_hooks_lost(int64_t *bytes, int64_t *objects)
{
    *bytes = atomic_exchange(&g_lost_bytes, 0);
    *objects = atomic_exchange(&g_lost_objects, 0);
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

void pyroscope_heap_alloc(void *p, size_t n)
{
    (void)p;
    (void)n;
}

void pyroscope_heap_free(void *p)
{
    (void)p;
}

int malloc_hooks_interposed(void)
{
    return 0;
}

void malloc_hooks_lost(int64_t *bytes, int64_t *objects)
{
    *bytes = *objects = 0;
}

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

int pyroscope_heap_interposed(void)
{
    return malloc_hooks_interposed();
}
