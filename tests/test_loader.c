/*
 * The CPU sampler does not wait on a dynamic loader's lock that stays held.
 *
 * A thread inside dl_iterate_phdr() holds the loader's lock while its
 * callback runs; here the callback waits for a mutex that a busy thread
 * holds.  Were the busy thread's signal handler to unwind through
 * dl_iterate_phdr (libunwind does), it would wait on the loader's lock and
 * the two threads on each other: the host hangs.  The callback waits with
 * a deadline so that this test fails instead of hanging.  The CPU time the
 * busy thread spends meanwhile must still reach the profile.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "pyroscope.h"
#include "support/decode.h"
#include "support/test.h"
#include "support/workload.h"

#define DEADLINE_S 20

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_int g_holding, g_in_callback;
static int g_lock_rc = -1;
static double g_held_cpu, g_total_cpu;

static int callback(struct dl_phdr_info *info, size_t size, void *data)
{
    struct timespec until;

    (void)info, (void)size, (void)data;
    atomic_store(&g_in_callback, 1);
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += DEADLINE_S;
    g_lock_rc = pthread_mutex_timedlock(&g_mu, &until);
    if (g_lock_rc == 0)
        pthread_mutex_unlock(&g_mu);
    return 1;
}

static void *iterate(void *arg)
{
    (void)arg;
    while (!atomic_load(&g_holding))
        ;
    dl_iterate_phdr(callback, NULL);
    return NULL;
}

static atomic_int g_stop;
static _Atomic uint64_t g_sink;

/* A pure compute loop, so that a sample's leaf frame is this function
 * (work_alpha reads the thread's clock: a leaf there names libc). */
__attribute__((noinline)) static void burn_locked(void)
{
    uint64_t x = 88172645463325252ull;
    int i;

    while (!atomic_load_explicit(&g_stop, memory_order_relaxed))
        for (i = 0; i < 1000; i++)
            x = x * 6364136223846793005ull + 1442695040888963407ull;
    atomic_fetch_add_explicit(&g_sink, x, memory_order_relaxed);
}

/* A young thread: its first samples step a cursor, which finds every
 * frame's unwind table through dl_iterate_phdr. */
static void *busy(void *arg)
{
    struct timespec tick = {0, 1000 * 1000};
    double t0 = wl_thread_cpu();

    (void)arg;
    pthread_mutex_lock(&g_mu);
    atomic_store(&g_holding, 1);
    /* Asleep until the callback holds the loader's lock: a sample taken
     * while the other thread enters dl_iterate_phdr is the race that the
     * sampler does not close (loader_lock.c). */
    while (!atomic_load(&g_in_callback))
        nanosleep(&tick, NULL);
    burn_locked(); /* the loader's lock is held all along */
    g_held_cpu = wl_thread_cpu() - t0;
    pthread_mutex_unlock(&g_mu);
    work_alpha(0.1);
    g_total_cpu = wl_thread_cpu() - t0;
    return NULL;
}

/* Stop burn_locked after `seconds` of the thread's CPU time; 0 if that
 * took longer than the deadline. */
static int stop_after(pthread_t t, double seconds)
{
    struct timespec tick = {0, 5 * 1000 * 1000};
    clockid_t clk;
    double end = wl_mono() + DEADLINE_S;

    if (pthread_getcpuclockid(t, &clk) != 0)
        return 0;
    while (!atomic_load(&g_in_callback))
        nanosleep(&tick, NULL);
    for (;;) {
        if (wl_clock(clk) >= seconds)
            break;
        if (wl_mono() > end)
            return 0;
        nanosleep(&tick, NULL);
    }
    atomic_store(&g_stop, 1);
    return 1;
}

int main(void)
{
    pyroscope_config cfg = PYROSCOPE_CONFIG_INIT;
    char *dir = wl_tempdir("loader");
    char url[300];
    pthread_t a, b;
    pyroscope *p;
    int64_t locked, alpha;

    snprintf(url, sizeof(url), "file://%s", dir);
    cfg.application_name = "test_loader";
    cfg.server_address = url;
    cfg.upload_interval_ms = 60000;
    cfg.profile_types = PYROSCOPE_PROFILE_CPU;
    cfg.sample_rate = 1000;
    ASSERT_EQ(pyroscope_start(&p, &cfg), 0);
    pthread_create(&b, NULL, iterate, NULL);
    pthread_create(&a, NULL, busy, NULL);
    ASSERT(stop_after(a, 0.3));
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    ASSERT_EQ(pyroscope_flush(p, 5000), 0);
    pyroscope_stop(p);
    printf("callback's lock: %s; busy thread: %.3f s CPU with the loader "
           "locked, %.3f s in all\n", g_lock_rc == 0 ? "taken" :
           g_lock_rc == ETIMEDOUT ? "timed out" : "error",
           g_held_cpu, g_total_cpu);
    ASSERT_EQ(g_lock_rc, 0);
    /* A sample that cannot unwind while the lock is held keeps its leaf
     * frame and its weight (1 ms of CPU a sample at 1000 Hz). */
    locked = pb_sum_files(dir, ".cpu.", "burn_locked", 0, NULL);
    alpha = pb_sum_files(dir, ".cpu.", "work_alpha", 0, NULL);
    printf("burn_locked: %lld samples for %.0f ms of CPU; work_alpha: %lld "
           "samples for %.0f ms\n", (long long)locked, g_held_cpu * 1e3,
           (long long)alpha, (g_total_cpu - g_held_cpu) * 1e3);
    ASSERT_NEAR((double)locked / (g_held_cpu * 1e3), 1.0, 0.1);
    ASSERT_NEAR((double)(locked + alpha) / (g_total_cpu * 1e3), 1.0, 0.1);
    free(dir);
    TEST_OK("a busy thread's samples do not wait on a dl_iterate_phdr "
            "callback");
    return 0;
}
