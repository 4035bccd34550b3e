/* Threads that block every signal, doing CPU work, malloc and locks. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "common.h"

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static long g_count;

static void *blocked(void *arg)
{
    sigset_t all;

    (void)arg;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    for (int i = 0; i < 3000; i++) {
        void *p = malloc(128 + (size_t)i);
        spin(5000);
        pthread_mutex_lock(&g_lock);
        g_count++;
        pthread_mutex_unlock(&g_lock);
        free(p);
    }
    return NULL;
}

int main(void)
{
    pthread_t t[3];
    sigset_t all;

    for (int i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, blocked, NULL);
    /* The main thread blocks them too, half way. */
    spin(2000000);
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    spin(2000000);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    printf("count %ld\n", g_count);
    return 0;
}
