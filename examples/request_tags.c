/*
 * Request-handler style tagging: worker threads take "requests" from a queue
 * and handle each inside a tag scope naming its endpoint and customer tier,
 * so in Pyroscope the flame graph can be filtered by endpoint=/checkout.
 *
 *   request_tags [requests]
 *
 * 75% of the CPU goes to price_cart (/checkout), 25% to render_search.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "pyroscope.h"

typedef struct request {
    const char *endpoint;
    const char *tier;
    int cost; /* us of CPU time */
} request;

static volatile uint64_t sink;

static double thread_cpu_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Work is measured in this thread's CPU time, so a /checkout (47.4 ms)
 * takes three times the CPU of a /search (15.8 ms) whatever else the machine
 * does: 75% price_cart, 25% render_search.  Not multiples of the 10 ms
 * sampling period: a request pair of exactly 3 periods would lock the
 * sampling phase to the request boundaries and bias the split. */
__attribute__((noinline)) static void price_cart(int cost)
{
    double end = thread_cpu_s() + cost / 1e6;
    uint64_t x = 1;

    while (thread_cpu_s() < end)
        for (int i = 0; i < 2000; i++)
            x = x * 6364136223846793005ull + 1;
    sink += x;
}

__attribute__((noinline)) static void render_search(int cost)
{
    double end = thread_cpu_s() + cost / 1e6;
    uint64_t x = 3;

    while (thread_cpu_s() < end)
        for (int i = 0; i < 2000; i++)
            x ^= (x << 7) ^ (x >> 9);
    sink += x;
}

static void handle(const request *r)
{
    pyroscope_tag tags[] = {{"endpoint", r->endpoint}, {"tier", r->tier}};

    /* Everything sampled on this thread inside the block carries the tags. */
    PYROSCOPE_WITH_TAGS(tags, 2) {
        if (r->endpoint[1] == 'c')
            price_cart(r->cost);
        else
            render_search(r->cost);
    }
}

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_next, g_total;

static void *worker(void *arg)
{
    static const request kinds[] = {{"/checkout", "gold", 47400},
                                    {"/search", "free", 15800}};

    (void)arg;
    for (;;) {
        int i;
        pthread_mutex_lock(&g_lock);
        i = g_next++;
        pthread_mutex_unlock(&g_lock);
        if (i >= g_total)
            return NULL;
        handle(&kinds[i % 2]);
    }
}

int main(int argc, char **argv)
{
    pyroscope_config cfg = PYROSCOPE_CONFIG_INIT;
    pyroscope *p;
    pthread_t t[2];
    int rc;

    g_total = argc > 1 ? atoi(argv[1]) : 300; /* 9.5 s of CPU */
    if (!getenv("PYROSCOPE_APPLICATION_NAME"))
        cfg.application_name = "request_tags";
    rc = pyroscope_start(&p, &cfg); /* server address from the environment */
    if (rc != 0) {
        fprintf(stderr, "pyroscope_start: %s\n", pyroscope_last_error());
        return 1;
    }
    pyroscope_tag_set(p, "version", "1.0.0");
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, worker, NULL);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    pyroscope_stop(p);
    printf("handled %d requests\n", g_total);
    return 0;
}
