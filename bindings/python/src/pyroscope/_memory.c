/*
 * _memory.c - sampled Python allocations with Python stacks.
 *
 * The hooks sit in front of CPython's allocator for the OBJ domain (every
 * PyObject) and, with mem_domain, the MEM domain (PyMem_Malloc: list
 * storage, dict tables, bytes buffers...).  Both domains are only called
 * with the GIL held, so our state needs no lock: the GIL serializes it.
 *
 * Cost on the common path: one subtraction and a compare per allocation;
 * one load per free while sampled blocks are alive (an open-addressing set
 * of sampled addresses, probed only when it is not empty).  The stack walk
 * happens once per `interval` bytes on average.
 *
 * Why a Poisson process by bytes: the chance that an allocation of n bytes
 * is sampled is 1 - exp(-n/interval), independent of allocation order, so
 * the estimate weight 1/(1 - exp(-n/interval)) is unbiased for objects and
 * space (the same scheme as Go's runtime.MemProfileRate).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "_frames.h"
#include "_memory.h"

#define MAX_FRAMES 256
#define STACK_BUCKETS 4096 /* power of two */
#define MAX_STACKS 50000

typedef struct mstack {
    struct mstack *next; /* bucket chain */
    uint64_t hash;
    int n;
    uint64_t *words;         /* 2 * n capture words, for equality */
    pyroscope_frame *frames; /* symbolized when the stack is first seen */
    int64_t alloc_obj, alloc_bytes, live_obj, live_bytes;
} mstack;

typedef struct live {
    uintptr_t ptr; /* 0 = empty slot */
    mstack *st;
    int64_t obj, bytes;
} live;

typedef struct hooked {
    PyMemAllocatorEx orig;
    PyMemAllocatorDomain dom;
    int installed;
} hooked;

static hooked g_obj = {.dom = PYMEM_DOMAIN_OBJ};
static hooked g_mem = {.dom = PYMEM_DOMAIN_MEM};
static int g_on;        /* accounting enabled */
static int g_busy;      /* inside sample(): our own work is not sampled */
static int64_t g_left;  /* bytes until the next sample */
static size_t g_interval;
static int g_max_frames;
static uint64_t g_rng = 0x9E3779B97F4A7C15ull;

static mstack *g_buckets[STACK_BUCKETS];
static size_t g_nstacks;
static mstack g_overflow; /* catch-all once MAX_STACKS is reached */
static pyroscope_frame g_overflow_frame = {"<stack table full>", NULL, 0};

static live *g_live;
static size_t g_live_cap, g_live_n;
static uint64_t g_sampled;

/* ---- random intervals ---- */

static uint64_t rng_next(void)
{
    uint64_t x = g_rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    g_rng = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static int64_t next_interval(void)
{
    /* u in (0, 1]: -log(u) is exponential with mean 1. */
    double u = ((double)(rng_next() >> 11) + 1.0) / 9007199254740992.0;
    double v = -log(u) * (double)g_interval;
    return v < 1.0 ? 1 : (int64_t)v;
}

/* ---- set of sampled addresses (linear probing, backward-shift delete) */

static size_t slot_of(uintptr_t p, size_t cap)
{
    uint64_t h = (uint64_t)p * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 20) & (cap - 1);
}

static int live_grow(void)
{
    size_t cap = g_live_cap ? g_live_cap * 2 : 1024;
    live *t = calloc(cap, sizeof *t);
    if (!t)
        return -1;
    for (size_t i = 0; i < g_live_cap; i++) {
        if (!g_live[i].ptr)
            continue;
        size_t j = slot_of(g_live[i].ptr, cap);
        while (t[j].ptr)
            j = (j + 1) & (cap - 1);
        t[j] = g_live[i];
    }
    free(g_live);
    g_live = t;
    g_live_cap = cap;
    return 0;
}

static void live_del_at(size_t i)
{
    size_t cap = g_live_cap, j = i;
    g_live[i].ptr = 0;
    g_live_n--;
    for (;;) {
        j = (j + 1) & (cap - 1);
        if (!g_live[j].ptr)
            return;
        size_t k = slot_of(g_live[j].ptr, cap);
        /* Move j back to the hole if its home is not in (i, j]. */
        if ((j > i && (k <= i || k > j)) || (j < i && (k <= i && k > j))) {
            g_live[i] = g_live[j];
            g_live[j].ptr = 0;
            i = j;
        }
    }
}

static void forget(void *p)
{
    size_t i = slot_of((uintptr_t)p, g_live_cap);
    while (g_live[i].ptr) {
        if (g_live[i].ptr == (uintptr_t)p) {
            mstack *st = g_live[i].st;
            st->live_obj -= g_live[i].obj;
            st->live_bytes -= g_live[i].bytes;
            live_del_at(i);
            return;
        }
        i = (i + 1) & (g_live_cap - 1);
    }
}

static void remember(void *p, mstack *st, int64_t obj, int64_t bytes)
{
    if ((g_live_n + 1) * 2 > g_live_cap && live_grow() != 0)
        return;
    size_t i = slot_of((uintptr_t)p, g_live_cap);
    while (g_live[i].ptr && g_live[i].ptr != (uintptr_t)p)
        i = (i + 1) & (g_live_cap - 1);
    if (g_live[i].ptr) { /* address reused without a seen free */
        g_live[i].st->live_obj -= g_live[i].obj;
        g_live[i].st->live_bytes -= g_live[i].bytes;
        g_live_n--;
    }
    g_live[i] = (live){(uintptr_t)p, st, obj, bytes};
    g_live_n++;
    st->live_obj += obj;
    st->live_bytes += bytes;
}

/* ---- stacks ---- */

static uint64_t words_hash(const uint64_t *w, int n)
{
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < 2 * n; i++) {
        h ^= w[i];
        h *= 1099511628211ull;
        h ^= h >> 31;
    }
    return h;
}

static void stack_free(mstack *st)
{
    for (int i = 0; st->frames && i < st->n; i++) {
        free((char *)st->frames[i].function);
        free((char *)st->frames[i].file);
    }
    free(st->frames);
    free(st->words);
    free(st);
}

static mstack *stack_new(const uint64_t *w, int n, uint64_t h)
{
    mstack *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    st->hash = h;
    st->n = n;
    st->words = malloc(sizeof(uint64_t) * 2 * (size_t)(n ? n : 1));
    st->frames = calloc((size_t)(n ? n : 1), sizeof *st->frames);
    if (!st->words || !st->frames) {
        stack_free(st);
        return NULL;
    }
    memcpy(st->words, w, sizeof(uint64_t) * 2 * (size_t)n);
    for (int i = 0; i < n; i++) {
        char *fn = NULL, *file = NULL;
        int64_t line = 0;
        if (pyf_symbolize_copy(w[2 * i], w[2 * i + 1], &fn, &file, &line))
            fn = strdup("<unknown>");
        st->frames[i].function = fn;
        st->frames[i].file = file;
        st->frames[i].line = line;
    }
    if (n == 0) {
        st->frames[0].function = strdup("<no Python frame>");
        st->n = 1;
    }
    return st;
}

static mstack *stack_get(const uint64_t *w, int n)
{
    uint64_t h = words_hash(w, n);
    mstack **b = &g_buckets[h & (STACK_BUCKETS - 1)];
    for (mstack *st = *b; st; st = st->next)
        if (st->hash == h && st->words && (st->n == n || (n == 0 && st->n == 1)) &&
            memcmp(st->words, w, sizeof(uint64_t) * 2 * (size_t)n) == 0)
            return st;
    if (g_nstacks >= MAX_STACKS)
        return &g_overflow;
    mstack *st = stack_new(w, n, h);
    if (!st)
        return &g_overflow;
    st->next = *b;
    *b = st;
    g_nstacks++;
    return st;
}

/* ---- the hooks ---- */

static void sample(void *p, size_t n)
{
    uint64_t words[2 * MAX_FRAMES];
    double w;
    int nf;

    g_busy = 1;
    g_left = next_interval();
    w = 1.0 / (1.0 - exp(-(double)n / (double)g_interval));
    nf = pyf_capture_thread(PyGILState_GetThisThreadState(), words,
                            g_max_frames);
    if (nf < 0)
        nf = 0;
    mstack *st = stack_get(words, nf);
    int64_t obj = (int64_t)(w + 0.5), bytes = (int64_t)(w * (double)n + 0.5);
    if (obj < 1)
        obj = 1;
    st->alloc_obj += obj;
    st->alloc_bytes += bytes;
    remember(p, st, obj, bytes);
    g_sampled++;
    g_busy = 0;
}

static inline void account(void *p, size_t n)
{
    if (!g_on || g_busy)
        return;
    g_left -= (int64_t)n;
    if (g_left <= 0)
        sample(p, n);
}

static inline void unaccount(void *p)
{
    if (g_live_n)
        forget(p);
}

static void *h_malloc(void *ctx, size_t n)
{
    hooked *h = ctx;
    void *p = h->orig.malloc(h->orig.ctx, n);
    if (p)
        account(p, n);
    return p;
}

static void *h_calloc(void *ctx, size_t nelem, size_t elsize)
{
    hooked *h = ctx;
    void *p = h->orig.calloc(h->orig.ctx, nelem, elsize);
    if (p)
        account(p, nelem * elsize);
    return p;
}

static void *h_realloc(void *ctx, void *old, size_t n)
{
    hooked *h = ctx;
    if (old)
        unaccount(old);
    void *p = h->orig.realloc(h->orig.ctx, old, n);
    if (p)
        account(p, n);
    return p;
}

static void h_free(void *ctx, void *p)
{
    hooked *h = ctx;
    if (p)
        unaccount(p);
    h->orig.free(h->orig.ctx, p);
}

static void install(hooked *h)
{
    PyMemAllocatorEx a;
    if (h->installed)
        return; /* a pass-through hook stays once installed (see pym_stop) */
    PyMem_GetAllocator(h->dom, &h->orig);
    a.ctx = h;
    a.malloc = h_malloc;
    a.calloc = h_calloc;
    a.realloc = h_realloc;
    a.free = h_free;
    PyMem_SetAllocator(h->dom, &a);
    h->installed = 1;
}

int pym_start(size_t interval, int max_frames, int mem_domain)
{
    if (g_on)
        return -1;
    g_interval = interval ? interval : 512 * 1024;
    g_max_frames = max_frames < 1 ? 1
                   : max_frames > MAX_FRAMES ? MAX_FRAMES
                                             : max_frames;
    g_rng ^= (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ull ^ (uint64_t)getpid();
    if (!g_rng)
        g_rng = 1;
    g_left = next_interval();
    g_overflow.n = 1;
    g_overflow.frames = &g_overflow_frame;
    install(&g_obj);
    if (mem_domain)
        install(&g_mem);
    g_on = 1;
    return 0;
}

void pym_stop(void)
{
    /* Only turn accounting off.  Unhooking could remove a hook installed
     * after ours (tracemalloc wraps whatever is current), so the hooks stay
     * as pass-throughs; frees keep updating the live set. */
    g_on = 0;
}

int pym_report(pyroscope *p)
{
    static const pyroscope_tag none[1] = {{NULL, NULL}};
    int reported = 0;

    if (!p)
        return -1;
    for (size_t b = 0; b <= STACK_BUCKETS; b++) {
        mstack **pp = b < STACK_BUCKETS ? &g_buckets[b] : NULL;
        mstack *st = pp ? *pp : &g_overflow;
        while (st) {
            mstack *next = pp ? st->next : NULL;
            if (!st->alloc_obj && !st->live_obj) {
                if (pp) { /* unlink and free: nothing refers to it */
                    *pp = next;
                    stack_free(st);
                    g_nstacks--;
                }
                st = next;
                continue;
            }
            int64_t v[4] = {st->alloc_obj, st->alloc_bytes, st->live_obj,
                            st->live_bytes};
            if (v[2] < 0 || v[3] < 0)
                v[2] = v[3] = 0;
            if (pyroscope_add_sample(p, PYROSCOPE_PROFILE_HEAP, st->frames,
                                     (size_t)st->n, v, 4, none, 0) == 0)
                reported++;
            st->alloc_obj = st->alloc_bytes = 0;
            if (pp)
                pp = &st->next;
            st = next;
        }
    }
    return reported;
}

void pym_counts(uint64_t *sampled, uint64_t *livep, uint64_t *stacks)
{
    *sampled = g_sampled;
    *livep = g_live_n;
    *stacks = g_nstacks;
}
