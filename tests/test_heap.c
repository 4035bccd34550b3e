/*
 * Heap profiling: sampled malloc/free with unbiased estimates.
 *
 *   test_heap split   alloc_alpha allocates 3x the bytes of alloc_beta:
 *                     alloc_space splits 75/25 within 3 points
 *   test_heap inuse   keep_alpha keeps a quarter of what it allocates live:
 *                     inuse_space matches it within 15%, churn_beta ~0
 *   test_heap total   at the default 512 KiB mean, two threads allocate
 *                     ~6 GiB in sizes from 16 B to 2 MiB: estimated
 *                     alloc_space within 5% of the bytes really
 *                     allocated, alloc_objects within 10% of the count
 *   test_heap off     heap profiling off: no memory profile, no samples
 *   test_heap fork    children of a heap-profiled process never deadlock
 *                     in malloc
 */
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pyroscope.h"
#include "support/decode.h"
#include "support/test.h"
#include "support/workload.h"

#define INTERVAL (16 * 1024)
#define MB (1024 * 1024)

static void *volatile g_sink;
static uint64_t g_rng = 88172645463325252ull;

/* Sizes 64..4159 bytes: the scaling must hold for sizes below and near
 * the interval alike. */
static size_t next_size(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return 64 + (size_t)(g_rng % 4096);
}

__attribute__((noinline)) void *alloc_alpha(size_t n)
{
    void *p = malloc(n);

    g_sink = p;
    return p;
}

__attribute__((noinline)) void *alloc_beta(size_t n)
{
    void *p = calloc(1, n);

    g_sink = p;
    return p;
}

__attribute__((noinline)) void *keep_alpha(size_t n)
{
    void *p = malloc(n);

    g_sink = p;
    return p;
}

__attribute__((noinline)) void *churn_beta(size_t n)
{
    void *p = realloc(NULL, n);

    g_sink = p;
    return p;
}

static char *g_dir;

static size_t g_interval = INTERVAL;

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
    cfg.heap_sample_interval = g_interval;
    ASSERT_EQ(pyroscope_start(&p, &cfg), 0);
    return p;
}

/* Share of alloc samples that reached the collector, at worst: the ring
 * drops when the collector falls behind (a loaded machine). */
static double print_stats(pyroscope *p)
{
    pyroscope_stats st;

    ASSERT_EQ(pyroscope_get_stats(p, &st), 0);
    printf("heap samples %llu, dropped %llu\n",
           (unsigned long long)st.heap_samples,
           (unsigned long long)st.samples_dropped);
    return (double)st.heap_samples /
           (double)(st.heap_samples + st.samples_dropped + 1);
}

static void check_types(const pb_profile *prof)
{
    ASSERT_EQ(pb_type_index(prof, "alloc_objects"), 0);
    ASSERT_EQ(pb_type_index(prof, "alloc_space"), 1);
    ASSERT_EQ(pb_type_index(prof, "inuse_objects"), 2);
    ASSERT_EQ(pb_type_index(prof, "inuse_space"), 3);
    ASSERT_EQ(prof->period, g_interval ? g_interval : 512 * 1024);
}

/* Sum value `vi` of samples containing `fn` over every memory profile. */
static int64_t sum_all(const char *fn, int vi)
{
    return pb_sum_files(g_dir, ".memory.", fn, vi, check_types);
}

static int test_split(void)
{
    pyroscope *p = start("test_heap_split", PYROSCOPE_PROFILE_HEAP);
    int64_t alpha, beta, total = 0;
    double kept;
    long iter = 0;
    size_t n;

    /* ~240 MB in all, ~15000 samples; interleaved so that a ring overrun
     * (dropped samples) cannot favour one side. */
    while (total < 240 * MB) {
        for (int i = 0; i < 3; i++) {
            n = next_size();
            free(alloc_alpha(n));
            total += (int64_t)n;
        }
        n = next_size();
        free(alloc_beta(n));
        total += (int64_t)n;
        if (++iter % 256 == 0)
            usleep(1000); /* let the collector keep up with the ring */
    }
    ASSERT_EQ(pyroscope_flush(p, 5000), 0);
    kept = print_stats(p);
    pyroscope_stop(p);
    alpha = sum_all("alloc_alpha", 1);
    beta = sum_all("alloc_beta", 1);
    printf("alloc_space: alpha %lld beta %lld (allocated %lld)\n",
           (long long)alpha, (long long)beta, (long long)total);
    ASSERT(alpha > 0 && beta > 0);
    ASSERT_NEAR((double)alpha / (double)(alpha + beta), 0.75, 0.03);
    ASSERT((double)(alpha + beta) / (double)total < 1.1);
    ASSERT((double)(alpha + beta) / (double)total > 0.9 * kept);
    ASSERT(sum_all("alloc_alpha", 0) > 0);
    TEST_OK("heap alloc_space split 75/25");
    return 0;
}

/* Inuse value `vi` of `fn` in each memory profile must be near `want`. */
static void check_inuse(const char *fn, double want, double tol)
{
    char **files = wl_list(g_dir, ".memory."), **f;
    int seen = 0;

    for (f = files; *f; f++, seen++) {
        pb_profile *prof = decode_profile_file(*f);
        int64_t got;
        ASSERT(prof != NULL);
        got = pb_sum_with(prof, 3, fn);
        printf("%s: inuse_space %s %lld, expected %.0f\n", *f, fn,
               (long long)got, want);
        ASSERT_NEAR((double)got, want, tol);
        decode_free(prof);
    }
    wl_free_list(files);
    ASSERT(seen >= 1);
}

static int test_inuse(void)
{
    pyroscope *p = start("test_heap_inuse", PYROSCOPE_PROFILE_HEAP);
    static void *kept[64 * 1024];
    int64_t allocated = 0, live = 0, churned = 0;
    size_t nkept = 0, i, iter;
    double drop;

    /* Every 4th block stays live: a quarter of keep_alpha's bytes. */
    for (iter = 0; allocated < 64 * MB; iter++) {
        size_t n = next_size();
        void *b = keep_alpha(n);
        allocated += (int64_t)n;
        if (iter % 4 == 0) {
            ASSERT(nkept < sizeof(kept) / sizeof(kept[0]));
            kept[nkept++] = b;
            live += (int64_t)n;
        } else {
            free(b);
        }
        n = next_size();
        free(churn_beta(n));
        churned += (int64_t)n;
        if (iter % 64 == 63)
            usleep(1000); /* let the collector keep up with the ring */
    }
    ASSERT_EQ(pyroscope_flush(p, 5000), 0);
    /* A dropped free keeps a block "live": widen the bounds by the drops
     * a busy machine caused (normally none). */
    drop = 1.0 - print_stats(p);
    pyroscope_stop(p);
    printf("kept %zu blocks, %lld of %lld bytes live\n", nkept,
           (long long)live, (long long)allocated);
    check_inuse("keep_alpha", (double)live, (0.15 + 4 * drop) * (double)live);
    check_inuse("churn_beta", 0, (0.05 + 8 * drop) * (double)live);
    ASSERT_NEAR((double)sum_all("keep_alpha", 1) / (double)allocated, 1.0,
                0.1 + drop);
    ASSERT_NEAR((double)sum_all("churn_beta", 1) / (double)churned, 1.0,
                0.1 + drop);
    for (i = 0; i < nkept; i++)
        free(kept[i]);
    TEST_OK("heap inuse_space of live blocks");
    return 0;
}

/* ---- the estimator over a long run at the default mean ---- */

#define TOTAL_THREADS 2

static int g_burst; /* no pauses: the ring overflows, samples are lost */

typedef struct total_job {
    uint64_t rng;
    int64_t bytes, objects;
    double var_bytes, var_objects; /* of the estimator, for these sizes */
} total_job;

__attribute__((noinline)) void *alloc_total(size_t n)
{
    void *p = malloc(n);

    g_sink = p;
    return p;
}

/* 60% of the calls 16..271 B, 30% 1..17 KiB, 9% 64..320 KiB, 1% up to
 * 2 MiB: most of the count is small, most of the bytes large, and sizes
 * on both sides of the 512 KiB mean. */
static size_t total_size(uint64_t *x)
{
    uint64_t r;

    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    r = *x;
    switch (r % 100) {
    case 0:
        return 512 * 1024 + (size_t)((r >> 8) % (1536 * 1024));
    case 1: case 2: case 3: case 4: case 5: case 6: case 7: case 8: case 9:
        return 64 * 1024 + (size_t)((r >> 8) % (256 * 1024));
    default:
        if (r % 100 < 40)
            return 1024 + (size_t)((r >> 8) % 16384);
        return 16 + (size_t)((r >> 8) % 256);
    }
}

static void *total_thread(void *arg)
{
    total_job *j = arg;
    long i = 0;

    while (j->bytes < 3LL * 1024 * MB) {
        size_t n = total_size(&j->rng);
        double q = 1.0 - exp(-(double)n / (512.0 * 1024));
        free(alloc_total(n));
        j->bytes += (int64_t)n;
        j->objects++;
        /* A block kept with probability q and weighted 1/q contributes
         * variance (1 - q) / q times its value squared. */
        j->var_bytes += (double)n * (double)n * (1 - q) / q;
        j->var_objects += (1 - q) / q;
        if (++i % 256 == 0 && !g_burst)
            usleep(200); /* let the collector keep up with the ring */
    }
    return NULL;
}

static int test_total(int burst)
{
    pyroscope *p;
    total_job jobs[TOTAL_THREADS];
    pthread_t t[TOTAL_THREADS];
    int64_t bytes = 0, objects = 0, est_b, est_o, lost_b, lost_o;
    double sd_b = 0, sd_o = 0;
    int i;

    pyroscope_stats st;

    g_burst = burst;
    g_interval = 0; /* the default */
    p = start("test_heap_total", PYROSCOPE_PROFILE_HEAP);
    for (i = 0; i < TOTAL_THREADS; i++) {
        jobs[i].rng = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
        jobs[i].bytes = jobs[i].objects = 0;
        jobs[i].var_bytes = jobs[i].var_objects = 0;
        pthread_create(&t[i], NULL, total_thread, &jobs[i]);
    }
    for (i = 0; i < TOTAL_THREADS; i++) {
        pthread_join(t[i], NULL);
        bytes += jobs[i].bytes;
        objects += jobs[i].objects;
        sd_b += jobs[i].var_bytes;
        sd_o += jobs[i].var_objects;
    }
    sd_b = sqrt(sd_b);
    sd_o = sqrt(sd_o);
    ASSERT_EQ(pyroscope_flush(p, 5000), 0);
    print_stats(p);
    ASSERT_EQ(pyroscope_get_stats(p, &st), 0);
    pyroscope_stop(p);
    est_b = sum_all("alloc_total", 1);
    est_o = sum_all("alloc_total", 0);
    lost_b = sum_all("[lost]", 1);
    lost_o = sum_all("[lost]", 0);
    printf("alloc_space estimate %lld + lost %lld of %lld bytes: %.4f\n",
           (long long)est_b, (long long)lost_b, (long long)bytes,
           (double)(est_b + lost_b) / (double)bytes);
    printf("alloc_objects estimate %lld + lost %lld of %lld: %.4f\n",
           (long long)est_o, (long long)lost_o, (long long)objects,
           (double)(est_o + lost_o) / (double)objects);
    printf("standard deviation of the estimator: bytes %.4f, objects "
           "%.4f (relative)\n", sd_b / (double)bytes, sd_o / (double)objects);
    /* Unbiased: within 4 standard deviations; and within 5% for bytes
     * (the sizes make sd about 1%). */
    ASSERT_NEAR((double)(est_b + lost_b), (double)bytes, 4 * sd_b);
    ASSERT_NEAR((double)(est_b + lost_b) / (double)bytes, 1.0, 0.05);
    ASSERT_NEAR((double)(est_o + lost_o), (double)objects, 4 * sd_o);
    /* Samples the full ring refused are still counted. */
    ASSERT(st.samples_dropped == 0 || lost_b > 0);
    TEST_OK("heap estimate within 5% of the bytes allocated");
    return 0;
}

static int test_off(void)
{
    pyroscope *p = start("test_heap_off",
                         PYROSCOPE_PROFILE_CPU | PYROSCOPE_PROFILE_LOCK);
    pyroscope_stats st;
    char **files;
    int64_t total = 0;

    while (total < 64 * MB) {
        size_t n = next_size();
        free(alloc_alpha(n));
        total += (int64_t)n;
    }
    work_alpha(0.05);
    ASSERT_EQ(pyroscope_flush(p, 5000), 0);
    ASSERT_EQ(pyroscope_get_stats(p, &st), 0);
    ASSERT_EQ(st.heap_samples, 0);
    pyroscope_stop(p);
    files = wl_list(g_dir, ".memory.");
    ASSERT(files[0] == NULL);
    wl_free_list(files);
    files = wl_list(g_dir, ".cpu.");
    ASSERT(files[0] != NULL); /* the profiler did run */
    wl_free_list(files);
    TEST_OK("heap profiling off records nothing");
    return 0;
}

static volatile int g_stop;

static void *churn(void *arg)
{
    (void)arg;
    while (!g_stop)
        free(alloc_alpha(next_size() * 4));
    return NULL;
}

static void child_work(void)
{
    for (int i = 0; i < 20000; i++) {
        char *s = malloc(64 + (size_t)i % 8192);
        s[0] = 1;
        s = realloc(s, 128 + (size_t)i % 4096);
        free(s);
    }
    _exit(0);
}

/* Wait for `pid` up to 20 s; a child still running is deadlocked. */
static void reap(pid_t pid)
{
    int status = 0;

    for (int waited = 0; waited < 20000; waited += 10) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
            return;
        }
        usleep(10 * 1000);
    }
    kill(pid, SIGKILL);
    FAILF("child %d did not finish: deadlocked in malloc?", (int)pid);
}

static int test_fork(void)
{
    pyroscope *p = start("test_heap_fork", PYROSCOPE_PROFILE_HEAP);
    pthread_t t[2];
    int i;

    for (i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, churn, NULL);
    for (i = 0; i < 40; i++) {
        pid_t pid = fork();
        ASSERT(pid >= 0);
        if (pid == 0)
            child_work();
        reap(pid);
    }
    g_stop = 1;
    for (i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    pyroscope_stop(p);
    TEST_OK("fork children of a heap-profiled process do not deadlock");
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "split";

    skip_hooks_if_sanitized(mode);

    if (!strcmp(mode, "split"))
        return test_split();
    if (!strcmp(mode, "inuse"))
        return test_inuse();
    if (!strcmp(mode, "total"))
        return test_total(0);
    if (!strcmp(mode, "burst"))
        return test_total(1);
    if (!strcmp(mode, "off"))
        return test_off();
    if (!strcmp(mode, "fork"))
        return test_fork();
    FAILF("unknown mode %s", mode);
}
