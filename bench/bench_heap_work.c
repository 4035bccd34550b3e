/*
 * One workload process of bench_heap (see bench_heap.c).  Built twice:
 * bench_heap_work (plain, and for the LD_PRELOAD runs) and
 * bench_heap_linked (linked to libpyroscope.so, starts the profiler).
 *
 *   bench_heap_work   tight|heavy ops_per_half
 *   bench_heap_linked tight|heavy ops_per_half none|cpu|heap
 *
 * Runs PAIRS pairs of timed halves: the workload through malloc (hooked
 * when the library is there) and the same workload through glibc's
 * __libc_malloc, interleaved.  Thread CPU time.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef BENCH_LINKED
#include "pyroscope.h"
#endif

#define PAIRS 41
#define SLOTS 8192

/* glibc's own entry points: the baseline, called in the same process and
 * interleaved with the (possibly hooked) malloc, so both halves of a pair
 * see the same machine. */
extern void *__libc_malloc(size_t);
extern void __libc_free(void *);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);

static void *volatile g_sink;

static double cpu(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static inline uint64_t xorshift(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/*
 * tight: malloc and free right away, 16..256 bytes: the allocator's best
 * case, where a hook's cost shows the most.
 * heavy: an allocation-heavy program: a working set of 8192 blocks
 * replaced at random (mostly 16..527 bytes, 1 in 64 of 4..68 KiB, a
 * quarter calloc'd), and a string grown by realloc.
 */
#define WORKLOADS(sfx, MALLOC, FREE, CALLOC, REALLOC)                         \
    static __attribute__((noinline)) void tight_##sfx(long ops)              \
    {                                                                         \
        static uint64_t x = 88172645463325252ull;                             \
                                                                              \
        for (long i = 0; i < ops; i++) {                                      \
            char *p = MALLOC(16 + (size_t)(xorshift(&x) % 241));              \
            p[0] = 1;                                                         \
            g_sink = p;                                                       \
            FREE(p);                                                          \
        }                                                                     \
    }                                                                         \
    static void *g_slot_##sfx[SLOTS];                                         \
    static __attribute__((noinline)) void heavy_##sfx(long ops)              \
    {                                                                         \
        static uint64_t x = 0x9e3779b97f4a7c15ull;                            \
        static char *grow;                                                    \
        static size_t glen;                                                   \
                                                                              \
        for (long i = 0; i < ops; i++) {                                      \
            uint64_t r = xorshift(&x);                                        \
            size_t k = (size_t)(r % SLOTS), n;                                \
                                                                              \
            FREE(g_slot_##sfx[k]);                                            \
            if ((r >> 20) % 64 == 0)                                          \
                n = 4096 + (size_t)((r >> 32) % 65536);                       \
            else                                                              \
                n = 16 + (size_t)((r >> 32) % 512);                           \
            g_slot_##sfx[k] = (r >> 40) % 4 ? MALLOC(n) : CALLOC(1, n);       \
            *(volatile char *)g_slot_##sfx[k] = 1;                            \
            if (i % 16 == 0) {                                                \
                glen = glen > 65536 ? 64 : glen + 64;                         \
                grow = REALLOC(grow, glen);                                   \
                grow[glen - 1] = 1;                                           \
            }                                                                 \
        }                                                                     \
    }

WORKLOADS(hooked, malloc, free, calloc, realloc)
WORKLOADS(glibc, __libc_malloc, __libc_free, __libc_calloc, __libc_realloc)

static double timed(void (*fn)(long), long ops)
{
    double t0 = cpu(CLOCK_THREAD_CPUTIME_ID);

    fn(ops);
    return (cpu(CLOCK_THREAD_CPUTIME_ID) - t0) / (double)ops;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}
#ifdef BENCH_LINKED
static pyroscope *start(const char *what)
{
    pyroscope_config cfg = PYROSCOPE_CONFIG_INIT;
    pyroscope *p = NULL;

    if (!strcmp(what, "none"))
        return NULL;
    cfg.application_name = "heap-bench";
    cfg.server_address = getenv("PYROSCOPE_SERVER_ADDRESS");
    cfg.upload_interval_ms = 60000;
    cfg.log_level = PYROSCOPE_LOG_ERROR;
    cfg.profile_types = PYROSCOPE_PROFILE_CPU;
    if (!strcmp(what, "heap"))
        cfg.profile_types |= PYROSCOPE_PROFILE_HEAP;
    /* To tell the per-call cost from the per-sample cost. */
    if (getenv("BENCH_HEAP_INTERVAL"))
        cfg.heap_sample_interval = (size_t)atoll(getenv("BENCH_HEAP_INTERVAL"));
    if (pyroscope_start(&p, &cfg) != 0) {
        fprintf(stderr, "start: %s\n", pyroscope_last_error());
        exit(1);
    }
    return p;
}
#endif

int main(int argc, char **argv)
{
    int heavy = argc > 1 && !strcmp(argv[1], "heavy");
    long ops = argc > 2 ? atol(argv[2]) : 200000;
    void (*hooked)(long) = heavy ? heavy_hooked : tight_hooked;
    void (*base)(long) = heavy ? heavy_glibc : tight_glibc;
    double h[PAIRS], g[PAIRS], r[PAIRS], p0;

#ifdef BENCH_LINKED
    pyroscope *p = start(argc > 3 ? argv[3] : "none");
#endif
    hooked(ops); /* warm the allocator's free lists and our ring */
    base(ops);
    p0 = cpu(CLOCK_PROCESS_CPUTIME_ID);
    /* Pairs in alternating order (ABBA...) cancel a drift within a pair. */
    for (int i = 0; i < PAIRS; i++) {
        if (i % 2) {
            h[i] = timed(hooked, ops);
            g[i] = timed(base, ops);
        } else {
            g[i] = timed(base, ops);
            h[i] = timed(hooked, ops);
        }
        r[i] = h[i] / g[i];
    }
    p0 = (cpu(CLOCK_PROCESS_CPUTIME_ID) - p0) / (2.0 * PAIRS * ops);
    qsort(h, PAIRS, sizeof(double), cmp);
    qsort(g, PAIRS, sizeof(double), cmp);
    qsort(r, PAIRS, sizeof(double), cmp);
    /* hooked ns/op, glibc ns/op (medians), median paired ratio, process
     * CPU per op over both halves */
    printf("%.4f %.4f %.5f %.4f\n", h[PAIRS / 2], g[PAIRS / 2], r[PAIRS / 2],
           p0);
#ifdef BENCH_LINKED
    pyroscope_stop(p);
#endif
    return 0;
}
