/*
 * One workload process of bench_heap (see bench_heap.c).  Built twice:
 * bench_heap_work (plain: the glibc baseline, and the LD_PRELOAD runs) and
 * bench_heap_linked (linked to libpyroscope.so, starts the profiler itself).
 *
 *   bench_heap_work   tight|heavy ops
 *   bench_heap_linked tight|heavy ops none|cpu|heap
 *
 * Prints "<thread ns/op> <process ns/op>", the best of REPS timed loops.
 * Thread CPU time of the loop is the hook cost; process CPU time also
 * counts our collector thread.
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

#define REPS 5
#define SLOTS 8192

static void *g_slot[SLOTS];
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

/* malloc and free right away, 16..256 bytes: the allocator's best case,
 * where a hook's cost shows the most. */
static __attribute__((noinline)) void tight(long ops)
{
    uint64_t x = 88172645463325252ull;

    for (long i = 0; i < ops; i++) {
        char *p = malloc(16 + (size_t)(xorshift(&x) % 241));
        p[0] = 1;
        g_sink = p;
        free(p);
    }
}

/* An allocation-heavy program: a working set of 8192 blocks replaced at
 * random (mostly 16..527 bytes, 1 in 64 of 4..68 KiB), a string grown by
 * realloc, and calloc'd nodes. */
static __attribute__((noinline)) void heavy(long ops)
{
    uint64_t x = 0x9e3779b97f4a7c15ull;
    char *grow = NULL;
    size_t glen = 0;

    for (long i = 0; i < ops; i++) {
        uint64_t r = xorshift(&x);
        size_t k = (size_t)(r % SLOTS), n;

        free(g_slot[k]);
        if ((r >> 20) % 64 == 0)
            n = 4096 + (size_t)((r >> 32) % 65536);
        else
            n = 16 + (size_t)((r >> 32) % 512);
        g_slot[k] = (r >> 40) % 4 ? malloc(n) : calloc(1, n);
        *(volatile char *)g_slot[k] = 1;
        if (i % 16 == 0) {
            glen = glen > 65536 ? 64 : glen + 64;
            grow = realloc(grow, glen);
            grow[glen - 1] = 1;
        }
    }
    free(grow);
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
    if (pyroscope_start(&p, &cfg) != 0) {
        fprintf(stderr, "start: %s\n", pyroscope_last_error());
        exit(1);
    }
    return p;
}
#endif

int main(int argc, char **argv)
{
    const char *wl = argc > 1 ? argv[1] : "tight";
    long ops = argc > 2 ? atol(argv[2]) : 2000000;
    void (*fn)(long) = strcmp(wl, "heavy") ? tight : heavy;
    double best_t = 1e18, best_p = 1e18;

#ifdef BENCH_LINKED
    pyroscope *p = start(argc > 3 ? argv[3] : "none");
#endif
    fn(ops / 4); /* warm the allocator's free lists and our ring */
    for (int r = 0; r < REPS; r++) {
        double t0 = cpu(CLOCK_THREAD_CPUTIME_ID);
        double p0 = cpu(CLOCK_PROCESS_CPUTIME_ID);
        double t, pr;
        fn(ops);
        t = (cpu(CLOCK_THREAD_CPUTIME_ID) - t0) / (double)ops;
        pr = (cpu(CLOCK_PROCESS_CPUTIME_ID) - p0) / (double)ops;
        best_t = t < best_t ? t : best_t;
        best_p = pr < best_p ? pr : best_p;
    }
    printf("%.4f %.4f\n", best_t, best_p);
#ifdef BENCH_LINKED
    pyroscope_stop(p);
#endif
    return 0;
}
