/*
 * Tiny sigaltstacks and deep recursion: the application's own handler runs
 * on a small alternate stack (profiling signals may land while it runs),
 * a thread on a minimal pthread stack does work, and another recurses
 * 50,000 frames deep before it burns CPU at the bottom.
 */
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static volatile sig_atomic_t g_handled;

static void on_usr1(int sig)
{
    (void)sig;
    spin(20000); /* long enough for a timer signal to arrive in here */
    g_handled++;
}

__attribute__((noinline)) static long recurse(int depth)
{
    volatile long here = depth;

    if (depth == 0)
        return (long)(spin(20000000) & 1) + here;
    return recurse(depth - 1) + here - depth + 1;
}

static void *deep(void *arg)
{
    (void)arg;
    return (void *)recurse(50000);
}

static void *small(void *arg)
{
    long n = 0;

    (void)arg;
    for (int i = 0; i < 200; i++) {
        void *p = malloc(64);
        n += (long)(spin(10000) & 1) + 1;
        free(p);
    }
    return (void *)n;
}

int main(void)
{
    pthread_attr_t big, tiny;
    pthread_t d, s;
    stack_t ss;
    struct sigaction sa;
    void *rd, *rs;

    /* 16 KiB: a few signal frames with AVX-512 state.  (At MINSIGSTKSZ
     * any second signal that lands in the handler, ours or the
     * application's, overflows it: the kernel's frame alone fills it.) */
    ss.ss_size = 16384;
    ss.ss_sp = malloc(ss.ss_size);
    ss.ss_flags = 0;
    if (sigaltstack(&ss, NULL) != 0)
        return 2;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_usr1;
    sa.sa_flags = SA_ONSTACK | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);

    pthread_attr_init(&big);
    pthread_attr_setstacksize(&big, 64u << 20);
    pthread_create(&d, &big, deep, NULL);
    pthread_attr_init(&tiny);
    pthread_attr_setstacksize(&tiny, PTHREAD_STACK_MIN);
    pthread_create(&s, &tiny, small, NULL);
    for (int i = 0; i < 300; i++)
        raise(SIGUSR1);
    pthread_join(d, &rd);
    pthread_join(s, &rs);
    printf("handled %d deep %ld small %ld\n", (int)g_handled, (long)rd,
           (long)rs);
    return 0;
}
