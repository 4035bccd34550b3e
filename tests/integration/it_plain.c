/*
 * A program that knows nothing of pyroscope, for the zero-code (LD_PRELOAD)
 * integration checks against a real server.
 *
 *   it_plain split SECONDS   2 threads, 75% it_cpu_major / 25% it_cpu_minor
 *   it_plain solo SECONDS    1 thread, all in it_cpu_solo
 *
 * Work is measured in thread CPU time, so the split holds on a loaded
 * machine.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile uint64_t sink;

static double cpu_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define BURN(name)                                                            \
    __attribute__((noinline)) void name(double s)                             \
    {                                                                         \
        double end = cpu_s() + s;                                             \
        uint64_t x = 1;                                                       \
        while (cpu_s() < end)                                                 \
            for (int i = 0; i < 2000; i++)                                    \
                x = x * 6364136223846793005ull + 1;                           \
        sink += x;                                                            \
    }

BURN(it_cpu_major)
BURN(it_cpu_minor)
BURN(it_cpu_solo)

static double g_seconds;

static void *split_worker(void *arg)
{
    (void)arg;
    for (double done = 0; done < g_seconds; done += 0.2) {
        it_cpu_major(0.15);
        it_cpu_minor(0.05);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "split";
    pthread_t t[2];

    g_seconds = argc > 2 ? atof(argv[2]) : 3;
    if (!strcmp(mode, "solo")) {
        it_cpu_solo(g_seconds);
        return 0;
    }
    if (strcmp(mode, "split")) {
        fprintf(stderr, "usage: it_plain split|solo SECONDS\n");
        return 2;
    }
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, split_worker, NULL);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    return 0;
}
