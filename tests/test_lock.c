/*
 * Lock-contention profiling of pthread mutexes and rwlocks.
 *
 *   test_lock split   the holder makes wait_alpha wait 3x as long as
 *                     wait_beta: delay splits 75/25 within 3 points;
 *                     wait_gamma (rwlock) is recorded; wait_delta's short
 *                     waits stay under the threshold and are not
 *   test_lock off     lock profiling off: no mutex profile, no samples
 */
#include <pthread.h>
#include <semaphore.h>
#include <unistd.h>

#include "pyroscope.h"
#include "support/decode.h"
#include "support/test.h"
#include "support/workload.h"

#define CYCLES 10
#define NWAITERS 4
#define THRESHOLD_NS (2 * 1000 * 1000)

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_rwlock_t g_rw = PTHREAD_RWLOCK_INITIALIZER;
static sem_t g_go[NWAITERS], g_done[NWAITERS];

__attribute__((noinline)) void wait_alpha(void)
{
    pthread_mutex_lock(&g_mu);
    pthread_mutex_unlock(&g_mu);
}

__attribute__((noinline)) void wait_beta(void)
{
    pthread_mutex_lock(&g_mu);
    pthread_mutex_unlock(&g_mu);
}

__attribute__((noinline)) void wait_gamma(void)
{
    pthread_rwlock_wrlock(&g_rw);
    pthread_rwlock_unlock(&g_rw);
}

/* The holder keeps delta's lock for 0.2 ms, but on a loaded machine a wait
 * can still pass the threshold: count those, as timed from outside the
 * hook (which times a sub-interval), so the check stays sound. */
static int g_delta_long;

__attribute__((noinline)) void wait_delta(void)
{
    double t0 = wl_mono();

    pthread_mutex_lock(&g_mu);
    if ((wl_mono() - t0) * 1e9 >= THRESHOLD_NS)
        g_delta_long++;
    pthread_mutex_unlock(&g_mu);
}

static void (*const g_wait[NWAITERS])(void) = {wait_alpha, wait_beta,
                                               wait_gamma, wait_delta};
/* How long the holder keeps the lock while each waiter waits (us). */
static const int g_hold_us[NWAITERS] = {30000, 10000, 5000, 200};

static void *waiter(void *arg)
{
    int i = (int)(intptr_t)arg;

    for (int c = 0; c < CYCLES; c++) {
        sem_wait(&g_go[i]);
        g_wait[i]();
        sem_post(&g_done[i]);
    }
    return NULL;
}

/* Hold the lock waiter `i` needs while it tries to take it. */
static void hold_for(int i)
{
    if (i == 2)
        pthread_rwlock_rdlock(&g_rw);
    else
        pthread_mutex_lock(&g_mu);
    sem_post(&g_go[i]);
    usleep((useconds_t)g_hold_us[i]);
    if (i == 2)
        pthread_rwlock_unlock(&g_rw);
    else
        pthread_mutex_unlock(&g_mu);
    sem_wait(&g_done[i]);
}

static char *g_dir;

static pyroscope *start(const char *name, unsigned types)
{
    static char url[512];
    pyroscope_config cfg = PYROSCOPE_CONFIG_INIT;
    pyroscope *p;

    g_dir = wl_tempdir(name);
    snprintf(url, sizeof(url), "file://%s", g_dir);
    cfg.application_name = name;
    cfg.server_address = url;
    cfg.upload_interval_ms = 60000;
    cfg.profile_types = types;
    cfg.lock_threshold_ns = THRESHOLD_NS;
    ASSERT_EQ(pyroscope_start(&p, &cfg), 0);
    return p;
}

static void run_contention(void)
{
    pthread_t t[NWAITERS];
    int i, c;

    for (i = 0; i < NWAITERS; i++) {
        sem_init(&g_go[i], 0, 0);
        sem_init(&g_done[i], 0, 0);
        pthread_create(&t[i], NULL, waiter, (void *)(intptr_t)i);
    }
    for (c = 0; c < CYCLES; c++)
        for (i = 0; i < NWAITERS; i++)
            hold_for(i);
    for (i = 0; i < NWAITERS; i++)
        pthread_join(t[i], NULL);
}

static void check_types(const pb_profile *prof)
{
    ASSERT_EQ(pb_type_index(prof, "contentions"), 0);
    ASSERT_EQ(pb_type_index(prof, "delay"), 1);
}

/* Sum value `vi` of samples containing `fn` over every mutex profile. */
static int64_t sum_all(const char *fn, int vi)
{
    return pb_sum_files(g_dir, ".mutex.", fn, vi, check_types);
}

static int test_split(void)
{
    pyroscope *p = start("test_lock_split", PYROSCOPE_PROFILE_LOCK);
    int64_t alpha, beta, gamma;

    run_contention();
    ASSERT_EQ(pyroscope_flush(p, 5000), 0);
    pyroscope_stop(p);
    alpha = sum_all("wait_alpha", 1);
    beta = sum_all("wait_beta", 1);
    gamma = sum_all("wait_gamma", 1);
    printf("delay ns: alpha %lld beta %lld gamma %lld delta %lld\n",
           (long long)alpha, (long long)beta, (long long)gamma,
           (long long)sum_all("wait_delta", 1));
    ASSERT(alpha > 0 && beta > 0);
    ASSERT_NEAR((double)alpha / (double)(alpha + beta), 0.75, 0.03);
    ASSERT_NEAR((double)alpha / 1e9, CYCLES * g_hold_us[0] / 1e6, 0.1);
    ASSERT_EQ(sum_all("wait_alpha", 0), CYCLES);
    ASSERT(gamma > 0);
    ASSERT(sum_all("pthread_rwlock_wrlock", 1) == gamma);
    /* Usually 0 and 0: only waits past the threshold are recorded. */
    printf("wait_delta: %lld recorded, %d waits over the threshold\n",
           (long long)sum_all("wait_delta", 0), g_delta_long);
    ASSERT(sum_all("wait_delta", 0) <= g_delta_long);
    TEST_OK("lock delay split 75/25, rwlock, threshold");
    return 0;
}

static int test_off(void)
{
    pyroscope *p = start("test_lock_off", PYROSCOPE_PROFILE_CPU);
    pyroscope_stats st;
    char **files;

    run_contention();
    ASSERT_EQ(pyroscope_flush(p, 5000), 0);
    ASSERT_EQ(pyroscope_get_stats(p, &st), 0);
    ASSERT_EQ(st.lock_samples, 0);
    pyroscope_stop(p);
    files = wl_list(g_dir, ".mutex.");
    ASSERT(files[0] == NULL);
    wl_free_list(files);
    TEST_OK("lock profiling off records nothing");
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "split";

    skip_hooks_if_sanitized(mode);

    if (!strcmp(mode, "split"))
        return test_split();
    if (!strcmp(mode, "off"))
        return test_off();
    FAILF("unknown mode %s", mode);
}
