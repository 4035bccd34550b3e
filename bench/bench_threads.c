/*
 * Cost of profiling many threads and short-lived threads.
 *
 * 1. The profiler's own CPU (collector + uploader + signal handler +
 *    thread hooks: pyroscope_stats.overhead_ns) while 10,000 threads are
 *    parked and 2 spin, per second of wall time: the goal is under 1% of a
 *    core.  Measured over a steady window after the threads started.
 * 2. Thread churn (threads of ~1 ms CPU, 2 at a time): process CPU
 *    profiled at 100 Hz and at 1000 Hz against unprofiled, as paired
 *    ratios of interleaved rounds in one run.
 *
 *   bench_threads [idle_threads] [window_s] [rounds] [churn_threads]
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pyroscope.h"

static char g_url[300];
static atomic_int g_stop;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cond = PTHREAD_COND_INITIALIZER;
static int g_release;
static volatile uint64_t g_sink;

static double clock_s(clockid_t c)
{
    struct timespec ts;

    clock_gettime(c, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *parked(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&g_lock);
    while (!g_release)
        pthread_cond_wait(&g_cond, &g_lock);
    pthread_mutex_unlock(&g_lock);
    return NULL;
}

__attribute__((noinline)) static void *spin(void *arg)
{
    uint64_t x = (uintptr_t)arg;

    while (!atomic_load_explicit(&g_stop, memory_order_relaxed))
        for (int i = 0; i < 10000; i++)
            x = x * 6364136223846793005ull + 1442695040888963407ull;
    g_sink += x;
    return NULL;
}

__attribute__((noinline)) static void *one_ms(void *arg)
{
    double end = clock_s(CLOCK_THREAD_CPUTIME_ID) + 0.001;
    uint64_t x = (uintptr_t)arg;

    while (clock_s(CLOCK_THREAD_CPUTIME_ID) < end)
        for (int i = 0; i < 2000; i++)
            x = x * 6364136223846793005ull + 1442695040888963407ull;
    g_sink += x;
    return NULL;
}

static pyroscope *start(int rate)
{
    pyroscope_config cfg = PYROSCOPE_CONFIG_INIT;
    pyroscope *p;

    cfg.application_name = "bench_threads";
    cfg.server_address = g_url;
    cfg.sample_rate = rate;
    if (pyroscope_start(&p, &cfg) != 0) {
        fprintf(stderr, "start: %s\n", pyroscope_last_error());
        exit(1);
    }
    pyroscope_flush(p, 0); /* symbol tables read: steady state */
    return p;
}

static void spawn(pthread_t *t, void *(*fn)(void *), void *arg)
{
    pthread_attr_t a;

    pthread_attr_init(&a);
    pthread_attr_setstacksize(&a, 128 * 1024);
    while (pthread_create(t, &a, fn, arg) != 0)
        usleep(1000);
    pthread_attr_destroy(&a);
}

static void idle_threads(int n, double window)
{
    pthread_t *t = calloc((size_t)n + 2, sizeof(*t));
    pyroscope_stats a, b;
    pyroscope *p = start(100);
    double w0, w1;

    for (int i = 0; i < n; i++)
        spawn(&t[i], parked, NULL);
    for (int i = 0; i < 2; i++)
        spawn(&t[n + i], spin, (void *)(uintptr_t)(i + 1));
    sleep(2); /* past the start-up scans */
    pyroscope_get_stats(p, &a);
    w0 = clock_s(CLOCK_MONOTONIC);
    usleep((useconds_t)(window * 1e6));
    pyroscope_get_stats(p, &b);
    w1 = clock_s(CLOCK_MONOTONIC);
    printf("  %d parked + 2 spinning threads, %.1f s window: profiler CPU "
           "%.3f%% of a core (goal < 1%%), %llu threads armed, %llu samples\n",
           n, w1 - w0,
           (double)(b.overhead_ns - a.overhead_ns) / 1e9 / (w1 - w0) * 100,
           (unsigned long long)b.threads_profiled,
           (unsigned long long)(b.samples - a.samples));
    atomic_store(&g_stop, 1);
    pthread_mutex_lock(&g_lock);
    g_release = 1;
    pthread_cond_broadcast(&g_cond);
    pthread_mutex_unlock(&g_lock);
    for (int i = 0; i < n + 2; i++)
        pthread_join(t[i], NULL);
    pyroscope_stop(p);
    free(t);
}

static double churn(int rate, int n)
{
    pyroscope *p = rate ? start(rate) : NULL;
    double c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID), took;
    pthread_t t[2];

    for (int i = 0; i < n; i += 2) {
        for (int k = 0; k < 2; k++)
            spawn(&t[k], one_ms, (void *)(uintptr_t)(i + k + 1));
        for (int k = 0; k < 2; k++)
            pthread_join(t[k], NULL);
    }
    took = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    if (p)
        pyroscope_stop(p);
    return took;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int idle = argc > 1 ? atoi(argv[1]) : 10000;
    double window = argc > 2 ? atof(argv[2]) : 5.0;
    int rounds = argc > 3 ? atoi(argv[3]) : 5;
    int nchurn = argc > 4 ? atoi(argv[4]) : 2000;
    char tmpl[] = "/tmp/pyroscope-bench-XXXXXX";
    double *r[2];

    if (!mkdtemp(tmpl))
        return 1;
    snprintf(g_url, sizeof(g_url), "file://%s", tmpl);
    printf("bench_threads\n");
    idle_threads(idle, window);
    for (int k = 0; k < 2; k++)
        r[k] = calloc((size_t)rounds, sizeof(double));
    churn(0, nchurn / 4); /* warm up */
    for (int i = 0; i < rounds; i++) {
        double base = churn(0, nchurn);
        r[0][i] = churn(100, nchurn) / base;
        r[1][i] = churn(1000, nchurn) / base;
    }
    for (int k = 0; k < 2; k++) {
        qsort(r[k], (size_t)rounds, sizeof(double), cmp);
        printf("  churn %d threads x 1 ms, 2 at a time, %4d Hz: process CPU "
               "paired ratio median %.4f [%.4f..%.4f]\n", nchurn,
               k ? 1000 : 100, r[k][rounds / 2], r[k][0], r[k][rounds - 1]);
    }
    return 0;
}
