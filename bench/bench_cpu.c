/*
 * CPU overhead of profiling: the same fixed amount of work on two threads,
 * unprofiled and profiled at 100 Hz and 1000 Hz, interleaved over several
 * rounds in one run.  Reports process CPU time (which includes our own
 * collector and upload threads) as a ratio to the unprofiled median.
 *
 *   bench_cpu [rounds] [iterations]
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pyroscope.h"

static volatile uint64_t sink;
static long g_iters;
static char g_url[300];
static double g_startup;
static double g_own_ns[2], g_work_s[2], g_samples[2];
static int g_starts;

static double cpu_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

__attribute__((noinline)) static uint64_t leaf(uint64_t x)
{
    for (int i = 0; i < 1000; i++)
        x = x * 6364136223846793005ull + 1442695040888963407ull;
    return x;
}

__attribute__((noinline)) static uint64_t middle(uint64_t x)
{
    return leaf(x) ^ leaf(x + 1);
}

static void *worker(void *arg)
{
    uint64_t x = (uintptr_t)arg;

    for (long i = 0; i < g_iters; i++)
        x = middle(x);
    sink += x;
    return NULL;
}

static double run(int rate)
{
    pyroscope_config cfg = PYROSCOPE_CONFIG_INIT;
    pyroscope *p = NULL;
    pyroscope_stats st0;
    pthread_t t[2];
    double t0, took;

    if (rate) {
        cfg.application_name = "bench_cpu";
        cfg.server_address = g_url;
        cfg.sample_rate = rate;
        cfg.upload_interval_ms = 10000;
        t0 = cpu_now();
        if (pyroscope_start(&p, &cfg) != 0) {
            fprintf(stderr, "start: %s\n", pyroscope_last_error());
            exit(1);
        }
        /* Steady state only: wait until the collector has read the symbol
         * tables (a one-time cost, reported separately). */
        pyroscope_flush(p, 0);
        g_startup += cpu_now() - t0;
        g_starts++;
        pyroscope_get_stats(p, &st0);
    }
    t0 = cpu_now();
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i + 1));
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    took = cpu_now() - t0;
    if (p) {
        pyroscope_stats st;
        pyroscope_get_stats(p, &st);
        g_own_ns[rate == 100 ? 0 : 1] +=
            (double)(st.overhead_ns - st0.overhead_ns);
        g_work_s[rate == 100 ? 0 : 1] += took;
        g_samples[rate == 100 ? 0 : 1] += (double)st.samples;
        pyroscope_stop(p);
    }
    return took;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 7;
    const int rates[3] = {0, 100, 1000};
    double *v[3], med[3], *ratio[3] = {0};

    char tmpl[] = "/tmp/pyroscope-bench-XXXXXX";

    if (!mkdtemp(tmpl))
        return 1;
    snprintf(g_url, sizeof(g_url), "file://%s", tmpl);
    g_iters = argc > 2 ? atol(argv[2]) : 300000;
    for (int k = 0; k < 3; k++)
        v[k] = calloc((size_t)rounds, sizeof(double));
    run(0); /* warm up */
    for (int r = 0; r < rounds; r++)
        for (int k = 0; k < 3; k++)
            v[k][r] = run(rates[k]);
    /* Paired ratios: each round's profiled run against the unprofiled run
     * of the same round, so slow drifts of the machine cancel out. */
    for (int k = 1; k < 3; k++) {
        ratio[k] = calloc((size_t)rounds, sizeof(double));
        for (int r = 0; r < rounds; r++)
            ratio[k][r] = v[k][r] / v[0][r];
        qsort(ratio[k], (size_t)rounds, sizeof(double), cmp);
    }
    for (int k = 0; k < 3; k++) {
        qsort(v[k], (size_t)rounds, sizeof(double), cmp);
        med[k] = v[k][rounds / 2];
    }
    printf("bench_cpu: %d rounds, median process CPU seconds\n", rounds);
    printf("  unprofiled   %.3f s\n", med[0]);
    printf("  100 Hz       %.3f s  paired ratio median %.4f [%.4f..%.4f] "
           "(goal <= 1.01)\n", med[1], ratio[1][rounds / 2], ratio[1][0],
           ratio[1][rounds - 1]);
    printf("  1000 Hz      %.3f s  paired ratio median %.4f [%.4f..%.4f] "
           "(goal <= 1.03)\n", med[2], ratio[2][rounds / 2], ratio[2][0],
           ratio[2][rounds - 1]);
    printf("  start-up (start + symbol tables), once per start: %.1f ms CPU\n",
           g_startup / g_starts * 1000);
    /* Direct accounting is far less noisy than the ratios above. */
    for (int k = 0; k < 2; k++)
        printf("  direct: %4d Hz: our CPU (handler + threads) %.3f%% of the "
               "run, %.1f us per sample\n", k ? 1000 : 100,
               g_own_ns[k] / 1e9 / g_work_s[k] * 100,
               g_own_ns[k] / 1e3 / (g_samples[k] ? g_samples[k] : 1));
    return 0;
}
