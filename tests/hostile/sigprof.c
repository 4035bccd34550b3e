/*
 * An application that owns SIGPROF and ITIMER_PROF (its own profiler, or a
 * runtime): it must get its ticks, and its handler must be the one
 * installed.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "common.h"

static volatile sig_atomic_t g_ticks;

static void on_prof(int sig)
{
    (void)sig;
    g_ticks++;
}

int main(void)
{
    struct itimerval it = {{0, 2000}, {0, 2000}};
    struct sigaction sa, now;
    int ours;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_prof;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPROF, &sa, NULL);
    setitimer(ITIMER_PROF, &it, NULL);
    while (g_ticks < 50)
        spin(100000);
    memset(&it, 0, sizeof(it));
    setitimer(ITIMER_PROF, &it, NULL);
    sigaction(SIGPROF, NULL, &now);
    ours = !(now.sa_flags & SA_SIGINFO) && now.sa_handler == on_prof;
    printf("ticks >= 50, handler still ours: %s\n", ours ? "yes" : "no");
    return 0;
}
