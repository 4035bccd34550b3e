/*
 * Overhead of the malloc hooks on a malloc-heavy loop, in one run:
 *   not started | profiler running, heap off (CPU) | heap on (CPU + HEAP)
 * Each phase runs ROUNDS times, interleaved, and the fastest round counts
 * (other processes only ever make a round slower).  Time is the loop
 * thread's CPU time, so a busy machine descheduling it does not count; the
 * collector's own CPU (another thread) is not included.  After each start
 * an untimed warm-up cycles the sample ring once: its first touch (page
 * faults on 4 MiB) is a one-time start cost, not per-allocation overhead.
 * Prints ns per malloc+free pair and the on/off ratio; the goal is <= 1.05.
 *
 *   bench_malloc [ops_millions] [heap_interval_bytes]
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "pyroscope.h"

#define SLOTS 4096
#define ROUNDS 30

static void *g_slot[SLOTS];

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Free a random live block, allocate a new one of 16..1039 bytes. */
static __attribute__((noinline)) double churn(long ops)
{
    uint64_t x = 88172645463325252ull;
    double t0 = now();

    for (long i = 0; i < ops; i++) {
        size_t k;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        k = (size_t)(x % SLOTS);
        free(g_slot[k]);
        g_slot[k] = malloc(16 + (size_t)((x >> 20) % 1024));
        *(volatile char *)g_slot[k] = 1;
    }
    return (now() - t0) * 1e9 / (double)ops;
}

static pyroscope *start(unsigned types, size_t interval)
{
    pyroscope_config cfg = PYROSCOPE_CONFIG_INIT;
    pyroscope *p = NULL;

    cfg.application_name = "bench_malloc";
    cfg.server_address = "file:///tmp";
    cfg.upload_interval_ms = 60000;
    cfg.profile_types = types;
    cfg.heap_sample_interval = interval;
    cfg.log_level = PYROSCOPE_LOG_ERROR;
    if (pyroscope_start(&p, &cfg) != 0) {
        fprintf(stderr, "start: %s\n", pyroscope_last_error());
        exit(1);
    }
    return p;
}

static double min_of(double a, double b)
{
    return a < b ? a : b;
}

int main(int argc, char **argv)
{
    long ops = (argc > 1 ? atol(argv[1]) : 1) * 1000000L;
    size_t interval = argc > 2 ? (size_t)atol(argv[2]) : 0;
    double none = 1e9, off = 1e9, on = 1e9;
    pyroscope_stats st;
    uint64_t samples = 0;
    pyroscope *p;

    churn(ops / 5); /* warm the allocator's free lists */
    for (int r = 0; r < ROUNDS; r++) {
        none = min_of(none, churn(ops));
        p = start(PYROSCOPE_PROFILE_CPU, interval);
        churn(2 * ops);
        off = min_of(off, churn(ops));
        pyroscope_stop(p);
        p = start(PYROSCOPE_PROFILE_CPU | PYROSCOPE_PROFILE_HEAP, interval);
        churn(2 * ops);
        on = min_of(on, churn(ops));
        pyroscope_get_stats(p, &st);
        samples += st.heap_samples;
        pyroscope_stop(p);
    }
    printf("malloc+free, ns/op (best of %d x %ld ops, interval %zu B):\n",
           ROUNDS, ops, interval ? interval : (size_t)512 * 1024);
    printf("  not started   %7.2f\n", none);
    printf("  heap off      %7.2f\n", off);
    printf("  heap on       %7.2f  (%llu heap samples)\n", on,
           (unsigned long long)samples);
    printf("  on/off ratio  %7.3f\n", on / off);
    printf("  on/not-started %6.3f\n", on / none);
    return 0;
}
