/*
 * Lock profiles of pthread mutexes, rwlocks and condition variables, with
 * Go's semantics: `mutex` charges the waiters' delay to the holder's stack
 * at unlock, `block` charges each wait to the waiter's own stack.
 *
 *   test_lock split   the holder makes wait_alpha wait 3x as long as
 *                     wait_beta: block delay splits as the callers timed
 *                     their waits (about 75/25) within 3 points;
 *                     wait_gamma (rwlock) is recorded; wait_delta's short
 *                     waits stay under the threshold and are not
 *   test_lock holder  lock_heavy holds a shared mutex 3x as long as
 *                     lock_light, taking turns: mutex delay (holder side)
 *                     splits 75/25 and block delay (waiter side) 25/75,
 *                     each within 3 points; a rwlock reader that makes a
 *                     writer wait is charged under pthread_rwlock_unlock
 *   test_lock cond    condition waits of 30 ms and 10 ms: block split as
 *                     the callers timed it (within 3 points), about
 *                     75/25; nothing in the mutex profile
 *   test_lock off     lock profiling off: no mutex/block profile
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

/* Each waiter's lock waits as its caller timed them (ns): on a loaded
 * machine the holder's sleeps overrun, so the truth is measured, not the
 * sleeps asked for. */
static double g_waited_ns[2];

static void timed_lock(int i)
{
    double t0 = wl_mono();

    pthread_mutex_lock(&g_mu);
    g_waited_ns[i] += (wl_mono() - t0) * 1e9;
}

__attribute__((noinline)) void wait_alpha(void)
{
    timed_lock(0);
    pthread_mutex_unlock(&g_mu);
}

__attribute__((noinline)) void wait_beta(void)
{
    timed_lock(1);
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
__attribute__((noinline)) static void hold_for(int i)
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

static pyroscope *start_t(const char *name, unsigned types,
                          int64_t threshold)
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
    cfg.lock_threshold_ns = threshold;
    ASSERT_EQ(pyroscope_start(&p, &cfg), 0);
    return p;
}

static pyroscope *start(const char *name, unsigned types)
{
    return start_t(name, types, THRESHOLD_NS);
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

/* Sum value `vi` of samples containing `fn` over every `kind` profile. */
static int64_t sum_kind(const char *kind, const char *fn, int vi)
{
    return pb_sum_files(g_dir, kind, fn, vi, check_types);
}

static int64_t sum_all(const char *fn, int vi)
{
    return sum_kind(".block.", fn, vi);
}

static int test_split(void)
{
    pyroscope *p = start("test_lock_split",
                         PYROSCOPE_PROFILE_LOCK | PYROSCOPE_PROFILE_BLOCK);
    int64_t alpha, beta, gamma;

    run_contention();
    ASSERT_EQ(pyroscope_flush(p, 5000), 0);
    pyroscope_stop(p);
    alpha = sum_all("wait_alpha", 1);
    beta = sum_all("wait_beta", 1);
    gamma = sum_all("wait_gamma", 1);
    printf("block delay ns: alpha %lld beta %lld gamma %lld delta %lld\n",
           (long long)alpha, (long long)beta, (long long)gamma,
           (long long)sum_all("wait_delta", 1));
    printf("waits timed by the callers: alpha %.0f beta %.0f ns\n",
           g_waited_ns[0], g_waited_ns[1]);
    ASSERT(alpha > 0 && beta > 0);
    ASSERT_NEAR((double)alpha / (double)(alpha + beta),
                g_waited_ns[0] / (g_waited_ns[0] + g_waited_ns[1]), 0.03);
    /* The hook times a sub-interval of the caller's wait. */
    ASSERT((double)alpha <= g_waited_ns[0]);
    ASSERT_NEAR((double)alpha / g_waited_ns[0], 1.0, 0.1);
    ASSERT_EQ(sum_all("wait_alpha", 0), CYCLES);
    ASSERT(gamma > 0);
    ASSERT(sum_all("pthread_rwlock_wrlock", 1) == gamma);
    /* Usually 0 and 0: only waits past the threshold are recorded. */
    printf("wait_delta: %lld recorded, %d waits over the threshold\n",
           (long long)sum_all("wait_delta", 0), g_delta_long);
    ASSERT(sum_all("wait_delta", 0) <= g_delta_long);
    /* The holder side: every wait above was caused by hold_for. */
    printf("mutex delay ns: hold_for %lld, wait_alpha %lld\n",
           (long long)sum_kind(".mutex.", "hold_for", 1),
           (long long)sum_kind(".mutex.", "wait_alpha", 1));
    ASSERT(sum_kind(".mutex.", "hold_for", 1) > 0.9 * (double)(alpha + beta));
    ASSERT_EQ(sum_kind(".mutex.", "wait_alpha", 1), 0);
    TEST_OK("block delay split 75/25, rwlock, threshold");
    return 0;
}

/* ---- holder side: two threads take turns on one mutex ---- */

#define TURNS 15
#define UNIT_US 20000
/* The holder's frame must be on the stack at unlock: no tail call. */
#define NO_TAIL_CALL() __asm__ volatile("" ::: "memory")

static pthread_mutex_t g_shared = PTHREAD_MUTEX_INITIALIZER;
static sem_t g_turn_heavy, g_turn_light;
static double g_waited_heavy, g_waited_light; /* as timed by the caller */

static void sleep_us(int us)
{
    double end = wl_mono() + us / 1e6, left;

    while ((left = end - wl_mono()) > 0)
        usleep(left > 1e-3 ? 1000 : (useconds_t)(left * 1e6) + 1);
}

/* Holds the mutex for 3 units; lock_light waits for it meanwhile. */
__attribute__((noinline)) void lock_heavy(void)
{
    double t0 = wl_mono();

    pthread_mutex_lock(&g_shared);
    g_waited_heavy += wl_mono() - t0;
    sem_post(&g_turn_light);
    sleep_us(3 * UNIT_US);
    pthread_mutex_unlock(&g_shared);
    NO_TAIL_CALL();
}

__attribute__((noinline)) void lock_light(void)
{
    double t0 = wl_mono();

    pthread_mutex_lock(&g_shared);
    g_waited_light += wl_mono() - t0;
    sem_post(&g_turn_heavy);
    sleep_us(UNIT_US);
    pthread_mutex_unlock(&g_shared);
    NO_TAIL_CALL();
}

/* One call more than lock_light: the first is uncontended, so each side
 * then makes the other wait TURNS times. */
static void *heavy_thread(void *arg)
{
    (void)arg;
    for (int i = 0; i < TURNS + 1; i++) {
        sem_wait(&g_turn_heavy);
        lock_heavy();
    }
    return NULL;
}

static void *light_thread(void *arg)
{
    (void)arg;
    for (int i = 0; i < TURNS; i++) {
        sem_wait(&g_turn_light);
        lock_light();
    }
    return NULL;
}

static pthread_rwlock_t g_rw2 = PTHREAD_RWLOCK_INITIALIZER;
static sem_t g_rw_go, g_rw_done;

/* A reader holding the lock for 2 units while a writer waits. */
__attribute__((noinline)) void rw_reader_holds(void)
{
    pthread_rwlock_rdlock(&g_rw2);
    sem_post(&g_rw_go);
    sleep_us(2 * UNIT_US);
    pthread_rwlock_unlock(&g_rw2);
    sem_wait(&g_rw_done);
}

__attribute__((noinline)) void rw_writer_waits(void)
{
    pthread_rwlock_wrlock(&g_rw2);
    pthread_rwlock_unlock(&g_rw2);
}

static void *writer_thread(void *arg)
{
    (void)arg;
    for (int i = 0; i < TURNS / 3; i++) {
        sem_wait(&g_rw_go);
        rw_writer_waits();
        sem_post(&g_rw_done);
    }
    return NULL;
}

static void run_turns(void)
{
    pthread_t t[3];

    sem_init(&g_turn_heavy, 0, 1);
    sem_init(&g_turn_light, 0, 0);
    sem_init(&g_rw_go, 0, 0);
    sem_init(&g_rw_done, 0, 0);
    pthread_create(&t[0], NULL, heavy_thread, NULL);
    pthread_create(&t[1], NULL, light_thread, NULL);
    pthread_join(t[0], NULL);
    pthread_join(t[1], NULL);
    pthread_create(&t[2], NULL, writer_thread, NULL);
    for (int i = 0; i < TURNS / 3; i++)
        rw_reader_holds();
    pthread_join(t[2], NULL);
}

static int test_holder(void)
{
    pyroscope *p = start_t("test_lock_holder",
                           PYROSCOPE_PROFILE_LOCK | PYROSCOPE_PROFILE_BLOCK, 0);
    int64_t mh, ml, bh, bl, unlock, rw;
    double share;

    run_turns();
    ASSERT_EQ(pyroscope_flush(p, 5000), 0);
    pyroscope_stop(p);
    mh = sum_kind(".mutex.", "lock_heavy", 1);
    ml = sum_kind(".mutex.", "lock_light", 1);
    bh = sum_kind(".block.", "lock_heavy", 1);
    bl = sum_kind(".block.", "lock_light", 1);
    unlock = sum_kind(".mutex.", "pthread_mutex_unlock", 1);
    rw = sum_kind(".mutex.", "rw_reader_holds", 1);
    printf("waits timed by the callers: heavy %.1f ms, light %.1f ms\n",
           g_waited_heavy * 1e3, g_waited_light * 1e3);
    printf("mutex delay ns: heavy %lld light %lld (under unlock %lld)\n",
           (long long)mh, (long long)ml, (long long)unlock);
    printf("block delay ns: heavy %lld light %lld\n", (long long)bh,
           (long long)bl);
    printf("rwlock: reader charged %lld ns, writer waited %lld ns\n",
           (long long)rw, (long long)sum_kind(".block.", "rw_writer_waits", 1));
    ASSERT(mh > 0 && ml > 0 && bh > 0 && bl > 0);
    share = (double)mh / (double)(mh + ml);
    printf("holder share of lock_heavy %.3f (truth 0.75)\n", share);
    ASSERT_NEAR(share, 0.75, 0.03);
    share = (double)bh / (double)(bh + bl);
    printf("waiter share of lock_heavy %.3f (truth 0.25)\n", share);
    ASSERT_NEAR(share, 0.25, 0.03);
    /* The holder's stack ends in the unlock that released the waiters. */
    ASSERT(unlock >= mh + ml);
    ASSERT_EQ(sum_kind(".mutex.", "pthread_mutex_lock", 1), 0);
    /* Both views count the same waiting, within the callers' timing. */
    ASSERT_NEAR((double)(mh + ml) / 1e9,
                g_waited_heavy + g_waited_light, 0.1 * (mh + ml) / 1e9 + 0.01);
    ASSERT_NEAR((double)rw / 1e9, (TURNS / 3) * 2 * UNIT_US / 1e6, 0.03);
    ASSERT(sum_kind(".mutex.", "pthread_rwlock_unlock", 1) >= rw);
    TEST_OK("mutex delay on the holder 75/25, block on the waiter 25/75");
    return 0;
}

/* ---- condition variables: block profile only ---- */

static pthread_mutex_t g_cm = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static int g_ticket, g_waiting_for;

static void cond_wait_for(int want)
{
    pthread_mutex_lock(&g_cm);
    g_waiting_for = want;
    while (g_ticket < want)
        pthread_cond_wait(&g_cv, &g_cm);
    pthread_mutex_unlock(&g_cm);
}

/* Returns once the waiter for ticket `want` is inside pthread_cond_wait:
 * it set g_waiting_for while holding g_cm, and only the wait releases it.
 * So the signaller's delay below is the wait, however long the waiter
 * took to get there. */
static void until_waiting(int want)
{
    for (;;) {
        int w;
        pthread_mutex_lock(&g_cm);
        w = g_waiting_for;
        pthread_mutex_unlock(&g_cm);
        if (w == want)
            return;
        usleep(200);
    }
}

static double g_cond_alpha, g_cond_beta; /* as timed by the callers */

__attribute__((noinline)) void cond_alpha(int want)
{
    double t0 = wl_mono();

    cond_wait_for(want);
    g_cond_alpha += wl_mono() - t0;
}

__attribute__((noinline)) void cond_beta(int want)
{
    double t0 = wl_mono();

    cond_wait_for(want);
    g_cond_beta += wl_mono() - t0;
}

static void *cond_thread(void *arg)
{
    (void)arg;
    for (int i = 0; i < TURNS; i++) {
        cond_alpha(2 * i + 1);
        cond_beta(2 * i + 2);
    }
    return NULL;
}

static int test_cond(void)
{
    pyroscope *p = start_t("test_lock_cond",
                           PYROSCOPE_PROFILE_LOCK | PYROSCOPE_PROFILE_BLOCK, 0);
    pthread_t t;
    int64_t a, b;

    pthread_create(&t, NULL, cond_thread, NULL);
    for (int i = 0; i < 2 * TURNS; i++) {
        until_waiting(i + 1);
        sleep_us(i % 2 ? UNIT_US : 3 * UNIT_US);
        pthread_mutex_lock(&g_cm);
        g_ticket++;
        pthread_cond_signal(&g_cv);
        pthread_mutex_unlock(&g_cm);
    }
    pthread_join(t, NULL);
    ASSERT_EQ(pyroscope_flush(p, 5000), 0);
    pyroscope_stop(p);
    a = sum_kind(".block.", "cond_alpha", 1);
    b = sum_kind(".block.", "cond_beta", 1);
    printf("cond block delay ns: alpha %lld beta %lld\n", (long long)a,
           (long long)b);
    printf("timed by the callers: alpha %.1f ms beta %.1f ms\n",
           g_cond_alpha * 1e3, g_cond_beta * 1e3);
    ASSERT(a > 0 && b > 0);
    ASSERT_NEAR((double)a / (double)(a + b),
                g_cond_alpha / (g_cond_alpha + g_cond_beta), 0.03);
    ASSERT_NEAR((double)a / (double)(a + b), 0.75, 0.05);
    ASSERT(sum_kind(".block.", "pthread_cond_wait", 1) >= a + b);
    ASSERT_EQ(sum_kind(".mutex.", "cond_alpha", 1), 0);
    TEST_OK("condition waits in the block profile, 75/25");
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
    files = wl_list(g_dir, ".block.");
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
    if (!strcmp(mode, "holder"))
        return test_holder();
    if (!strcmp(mode, "cond"))
        return test_cond();
    if (!strcmp(mode, "off"))
        return test_off();
    FAILF("unknown mode %s", mode);
}
