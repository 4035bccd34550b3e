/*
 * An ordinary program that knows nothing of pyroscope, for the LD_PRELOAD
 * tests.  Modes:
 *   victim plain    75% victim_hot_a / 25% victim_hot_b on two threads
 *   victim sigprof  the same, with its own SIGPROF handler and ITIMER_PROF;
 *                   prints how many ticks its handler saw
 *   victim fork     forks; the child runs victim_child_work, both exit 0
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile uint64_t sink;
static volatile sig_atomic_t ticks;

static double cpu(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define BURN(name)                                                            \
    __attribute__((noinline)) static void name(double s)                      \
    {                                                                         \
        double end = cpu() + s;                                               \
        uint64_t x = 1;                                                       \
        while (cpu() < end)                                                   \
            for (int i = 0; i < 3000; i++)                                    \
                x = x * 6364136223846793005ull + 1;                           \
        sink += x;                                                            \
    }

BURN(victim_hot_a)
BURN(victim_hot_b)
BURN(victim_child_work)

static void *worker(void *arg)
{
    (void)arg;
    usleep(150 * 1000);
    for (int i = 0; i < 5; i++) {
        victim_hot_a(0.15);
        victim_hot_b(0.05);
    }
    return NULL;
}

static void on_prof(int sig)
{
    (void)sig;
    ticks++;
}

static int run_threads(void)
{
    pthread_t t[2];

    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, worker, NULL);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    return 0;
}

static int run_fork(void)
{
    int status = 0;
    pid_t pid;

    victim_hot_a(0.2);
    pid = fork();
    if (pid == 0) {
        usleep(150 * 1000);
        victim_child_work(0.5);
        exit(0); /* normal exit: the preloaded library flushes */
    }
    victim_hot_b(0.2);
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0) {
        fprintf(stderr, "child failed: %d\n", status);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "plain";

    if (!strcmp(mode, "fork"))
        return run_fork();
    if (!strcmp(mode, "sigprof")) {
        struct sigaction sa;
        struct itimerval it = {{0, 10000}, {0, 10000}};
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_prof;
        sa.sa_flags = SA_RESTART;
        sigaction(SIGPROF, &sa, NULL);
        setitimer(ITIMER_PROF, &it, NULL);
        run_threads();
        printf("app ticks %d\n", (int)ticks);
        return ticks > 0 ? 0 : 1;
    }
    return run_threads();
}
