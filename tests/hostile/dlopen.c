/*
 * dlopen/dlclose of a library whose code is hot: samples land in code that
 * is unmapped soon after, and the next mapping may reuse the addresses.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

static atomic_int g_stop;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

static void *background(void *arg)
{
    (void)arg;
    while (!atomic_load(&g_stop)) {
        pthread_mutex_lock(&g_lock);
        free(malloc(256));
        pthread_mutex_unlock(&g_lock);
        spin(1000);
    }
    return NULL;
}

int main(void)
{
    char path[4096];
    ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 64);
    unsigned long sum = 0;
    int loads = 0;
    pthread_t t;

    if (n <= 0)
        return 2;
    path[n] = '\0';
    strcpy(strrchr(path, '/') + 1, "libhostile_hot.so");
    pthread_create(&t, NULL, background, NULL);
    for (int i = 0; i < 150; i++) {
        void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        unsigned long (*fn)(unsigned long);
        if (!h) {
            fprintf(stderr, "dlopen: %s\n", dlerror());
            return 3;
        }
        *(void **)&fn = dlsym(h, "hot_work");
        if (fn) {
            sum += fn(100000);
            loads++;
        }
        dlclose(h);
    }
    atomic_store(&g_stop, 1);
    pthread_join(t, NULL);
    printf("loads %d sum %lu\n", loads, sum);
    return 0;
}
