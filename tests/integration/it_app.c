/*
 * Heap and lock workloads linked with pyroscope, for the integration checks
 * against a real server.  Configured from the environment
 * (PYROSCOPE_APPLICATION_NAME, PYROSCOPE_SERVER_ADDRESS, PYROSCOPE_API ...);
 * each major/minor pair is built to a 3:1 ratio and the major part runs
 * inside a tag scope `part=major` (the minor one in `part=minor`).
 *
 *   it_app heap   it_alloc_major allocates 3x the bytes of it_alloc_minor
 *                 and keeps 3x as many bytes in use until stop
 *   it_app lock   it_wait_major meets a held mutex 3x as often as
 *                 it_wait_minor, for the same hold time (5 ms) each; the
 *                 holder holds it in it_hold_major for the major waits
 *                 and in it_hold_minor for the minor ones.  Go's meaning:
 *                 the mutex profile charges holders (it_hold_*), the
 *                 block profile waiters (it_wait_*).
 */
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pyroscope.h"

#define CHUNK (64 * 1024)
#define KEEP_MAX 1024

static void *g_keep[KEEP_MAX];
static size_t g_nkeep;
static volatile uint64_t sink;

static void touch(char *p, size_t n)
{
    for (size_t i = 0; i < n; i += 4096)
        p[i] = (char)i;
    sink += (uint64_t)(uintptr_t)p;
}

/* `churn` chunks allocated and freed, `keep` chunks kept until exit. */
static void allocate(int churn, int keep)
{
    for (int i = 0; i < churn; i++) {
        char *p = malloc(CHUNK);
        touch(p, CHUNK);
        free(p);
    }
    for (int i = 0; i < keep && g_nkeep < KEEP_MAX; i++) {
        char *p = malloc(CHUNK);
        touch(p, CHUNK);
        g_keep[g_nkeep++] = p;
    }
}

__attribute__((noinline)) void it_alloc_major(int churn, int keep)
{
    allocate(churn, keep);
    __asm__ volatile("" ::: "memory"); /* no tail call: keep this frame */
}

__attribute__((noinline)) void it_alloc_minor(int churn, int keep)
{
    allocate(churn, keep);
    __asm__ volatile("" ::: "memory");
}

static void run_heap(void)
{
    pyroscope_tag major[] = {{"part", "major"}};
    pyroscope_tag minor[] = {{"part", "minor"}};

    /* 4800 x 64 KiB churned (300 MiB) and 480 x 64 KiB kept (30 MiB). */
    for (int round = 0; round < 40; round++) {
        PYROSCOPE_WITH_TAGS(major, 1) { it_alloc_major(90, 9); }
        PYROSCOPE_WITH_TAGS(minor, 1) { it_alloc_minor(30, 3); }
    }
}

/* ---- lock: a holder thread keeps the mutex while one waiter waits ---- */

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static sem_t g_go, g_done;
static atomic_int g_trying;

static void wait_once(void)
{
    atomic_store(&g_trying, 1);
    pthread_mutex_lock(&g_mu); /* busy: the holder has it */
    pthread_mutex_unlock(&g_mu);
}

__attribute__((noinline)) void it_wait_major(void)
{
    wait_once();
    __asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void it_wait_minor(void)
{
    wait_once();
    __asm__ volatile("" ::: "memory");
}

static int g_rounds = 200;

static void *waiter(void *arg)
{
    pyroscope_tag major[] = {{"part", "major"}};
    pyroscope_tag minor[] = {{"part", "minor"}};

    (void)arg;
    for (int i = 0; i < g_rounds; i++) {
        sem_wait(&g_go);
        if (i % 4 != 3) {
            PYROSCOPE_WITH_TAGS(major, 1) { it_wait_major(); }
        } else {
            PYROSCOPE_WITH_TAGS(minor, 1) { it_wait_minor(); }
        }
        sem_post(&g_done);
    }
    return NULL;
}

/* Holds g_mu for `hold` once the waiter is about to block on it. */
static void hold_once(const struct timespec *hold)
{
    pthread_mutex_lock(&g_mu);
    atomic_store(&g_trying, 0);
    sem_post(&g_go);
    while (!atomic_load(&g_trying))
        sched_yield();
    nanosleep(hold, NULL); /* the waiter is blocked on g_mu now */
    pthread_mutex_unlock(&g_mu);
}

__attribute__((noinline)) void it_hold_major(const struct timespec *hold)
{
    hold_once(hold);
    __asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void it_hold_minor(const struct timespec *hold)
{
    hold_once(hold);
    __asm__ volatile("" ::: "memory");
}

static void run_lock(void)
{
    /* 5 ms: the waiter's wake-up jitter is small next to it. */
    struct timespec hold = {0, 5 * 1000 * 1000};
    pyroscope_tag major[] = {{"part", "major"}};
    pyroscope_tag minor[] = {{"part", "minor"}};
    pthread_t t;

    sem_init(&g_go, 0, 0);
    sem_init(&g_done, 0, 0);
    pthread_create(&t, NULL, waiter, NULL);
    for (int i = 0; i < g_rounds; i++) {
        if (i % 4 != 3) {
            PYROSCOPE_WITH_TAGS(major, 1) { it_hold_major(&hold); }
        } else {
            PYROSCOPE_WITH_TAGS(minor, 1) { it_hold_minor(&hold); }
        }
        sem_wait(&g_done);
    }
    pthread_join(t, NULL);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    pyroscope_config cfg = PYROSCOPE_CONFIG_INIT;
    pyroscope *p;
    int rc;

    if (!strcmp(mode, "heap")) {
        cfg.profile_types = PYROSCOPE_PROFILE_HEAP;
        /* 16 KiB: ~1900 samples of the 30 MiB kept, so the in-use split
         * is within a point (1 sigma) of 75%. */
        cfg.heap_sample_interval = 16 * 1024;
    } else if (!strcmp(mode, "lock")) {
        cfg.profile_types = PYROSCOPE_PROFILE_LOCK | PYROSCOPE_PROFILE_BLOCK;
    } else {
        fprintf(stderr, "usage: it_app heap|lock\n");
        return 2;
    }
    if (getenv("IT_API_PUSH"))
        cfg.api = PYROSCOPE_API_PUSH;
    rc = pyroscope_start(&p, &cfg);
    if (rc != 0) {
        fprintf(stderr, "pyroscope_start: %s\n", pyroscope_last_error());
        return 1;
    }
    if (mode[0] == 'h')
        run_heap();
    else
        run_lock();
    pyroscope_stop(p); /* the last window holds the in-use bytes */
    for (size_t i = 0; i < g_nkeep; i++)
        free(g_keep[i]);
    printf("%s done\n", mode);
    return 0;
}
