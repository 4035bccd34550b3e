/*
 * Two hot functions on two threads, profiled end to end.
 *
 *   cpu_hotspots [seconds]
 *
 * Configure with PYROSCOPE_SERVER_ADDRESS (http://host:4040 or file://DIR)
 * and PYROSCOPE_APPLICATION_NAME; about 75% of the CPU goes to
 * hot_compress() and 25% to hot_checksum().
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "pyroscope.h"

static volatile uint64_t sink;

static double thread_cpu_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

__attribute__((noinline)) void hot_compress(double seconds)
{
    double end = thread_cpu_s() + seconds;
    uint64_t x = 1;

    while (thread_cpu_s() < end)
        for (int i = 0; i < 2000; i++)
            x = x * 6364136223846793005ull + 1442695040888963407ull;
    sink += x;
}

__attribute__((noinline)) void hot_checksum(double seconds)
{
    double end = thread_cpu_s() + seconds;
    uint64_t x = 7;

    while (thread_cpu_s() < end)
        for (int i = 0; i < 2000; i++)
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    sink += x;
}

static void *worker(void *arg)
{
    double seconds = *(double *)arg;

    for (double done = 0; done < seconds; done += 0.2) {
        hot_compress(0.15);
        hot_checksum(0.05);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 5;
    pyroscope_config cfg = PYROSCOPE_CONFIG_INIT;
    pyroscope_tag tags[] = {{"example", "cpu_hotspots"}};
    pyroscope *p;
    pthread_t t[2];
    int rc;

    /* PYROSCOPE_APPLICATION_NAME, when set, names it (a NULL field takes
     * the environment). */
    if (!getenv("PYROSCOPE_APPLICATION_NAME"))
        cfg.application_name = "cpu_hotspots";
    cfg.tags = tags;
    cfg.tags_count = 1;
    rc = pyroscope_start(&p, &cfg);
    if (rc != 0) {
        fprintf(stderr, "pyroscope_start: %s: %s\n", pyroscope_strerror(rc),
                pyroscope_last_error());
        return 1;
    }
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, worker, &seconds);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    pyroscope_stop(p); /* uploads the last window */
    printf("done: %.1f s of work on 2 threads\n", seconds);
    return 0;
}
