/* Many threads, one mutex and one rwlock, all the time contended. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "common.h"

#define THREADS 8
#define ITERS 3000

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_rwlock_t g_rw = PTHREAD_RWLOCK_INITIALIZER;
static long g_counter, g_writes;

static void *worker(void *arg)
{
    long reads = 0;

    (void)arg;
    for (int i = 0; i < ITERS; i++) {
        pthread_mutex_lock(&g_lock);
        g_counter++;
        spin(3000);
        pthread_mutex_unlock(&g_lock);
        if (i % 8 == 0) {
            pthread_rwlock_wrlock(&g_rw);
            g_writes++;
            pthread_rwlock_unlock(&g_rw);
        } else {
            pthread_rwlock_rdlock(&g_rw);
            reads += g_writes >= 0;
            pthread_rwlock_unlock(&g_rw);
        }
        if (i % 16 == 0)
            free(malloc(64 + (size_t)(i % 2000)));
    }
    return (void *)reads;
}

int main(void)
{
    pthread_t t[THREADS];
    long reads = 0;
    void *r;

    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, worker, NULL);
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], &r);
        reads += (long)r;
    }
    printf("counter %ld writes %ld reads %ld\n", g_counter, g_writes, reads);
    return 0;
}
