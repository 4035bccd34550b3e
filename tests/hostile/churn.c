/* Thread churn: thousands of short threads, each allocating and locking. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "common.h"

#define TOTAL 2000
#define BATCH 16

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static long g_sum;

static void *short_thread(void *arg)
{
    long id = (long)arg;
    char *p = malloc(100 + (size_t)(id % 500));

    p[0] = (char)id;
    spin(2000);
    pthread_mutex_lock(&g_lock);
    g_sum += id;
    pthread_mutex_unlock(&g_lock);
    free(p);
    return NULL;
}

int main(void)
{
    pthread_t t[BATCH];
    int created = 0;

    for (long i = 0; i < TOTAL; i += BATCH) {
        for (long j = 0; j < BATCH; j++)
            created += pthread_create(&t[j], NULL, short_thread,
                                      (void *)(i + j)) == 0;
        for (long j = 0; j < BATCH; j++)
            pthread_join(t[j], NULL);
    }
    printf("threads %d sum %ld\n", created, g_sum);
    return 0;
}
