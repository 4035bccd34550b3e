/*
 * Request-handler style tagging: worker threads take "requests" from a queue
 * and handle each inside a tag scope naming its endpoint and customer tier,
 * so in Pyroscope the flame graph can be filtered by endpoint=/checkout.
 *
 *   request_tags [requests]
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "pyroscope.h"

typedef struct request {
    const char *endpoint;
    const char *tier;
    int cost; /* units of work */
} request;

static volatile uint64_t sink;

__attribute__((noinline)) static void price_cart(int cost)
{
    uint64_t x = 1;

    for (long i = 0; i < cost * 400000L; i++)
        x = x * 6364136223846793005ull + 1;
    sink += x;
}

__attribute__((noinline)) static void render_search(int cost)
{
    uint64_t x = 3;

    for (long i = 0; i < cost * 400000L; i++)
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
    static const request kinds[] = {{"/checkout", "gold", 3},
                                    {"/search", "free", 1}};

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

    g_total = argc > 1 ? atoi(argv[1]) : 2000;
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
