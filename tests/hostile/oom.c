/*
 * malloc returning NULL: the address space is capped (RLIMIT_AS) a little
 * above what the process uses, the program allocates until malloc fails,
 * frees everything and carries on.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "common.h"

#define MAX_BLOCKS 4096

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

static unsigned long vm_bytes(void)
{
    unsigned long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");

    if (f) {
        if (fscanf(f, "%lu", &pages) != 1)
            pages = 0;
        fclose(f);
    }
    return pages * 4096ul;
}

static int exhaust(void)
{
    static void *blocks[MAX_BLOCKS];
    int n = 0, got_null = 0;

    while (n < MAX_BLOCKS) {
        void *p = malloc(256 * 1024);
        if (!p) {
            got_null = 1;
            break;
        }
        memset(p, 1, 4096);
        pthread_mutex_lock(&g_lock);
        blocks[n++] = p;
        pthread_mutex_unlock(&g_lock);
    }
    /* Small requests may still fit: keep asking until those fail too. */
    for (int i = 0; got_null && i < 100000; i++) {
        void *p = malloc(64);
        if (!p)
            break;
        if (n == MAX_BLOCKS) {
            free(p);
            break;
        }
        blocks[n++] = p;
    }
    while (n > 0)
        free(blocks[--n]);
    return got_null;
}

int main(void)
{
    struct rlimit rl;
    int nulls = 0;
    void *huge;

    rl.rlim_cur = rl.rlim_max = vm_bytes() + (96ul << 20);
    if (setrlimit(RLIMIT_AS, &rl) != 0)
        return 2;
    for (int round = 0; round < 3; round++) {
        nulls += exhaust();
        spin(1000000);
    }
    huge = malloc((size_t)1 << 40);
    printf("malloc failed in %d of 3 rounds, huge %s\n", nulls,
           huge ? "allocated" : "NULL");
    free(huge);
    return 0;
}
