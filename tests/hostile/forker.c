/*
 * fork, vfork+exec, posix_spawn and daemon() while other threads hammer
 * malloc and a mutex.  Every child must run to its normal exit.
 */
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

extern char **environ;

#define ROUNDS 6

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
/* Only ever taken by the forking thread: a child may use it (g_lock may be
 * held by a busy thread that does not exist in the child). */
static pthread_mutex_t g_child_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int g_stop;

static void *busy(void *arg)
{
    (void)arg;
    for (long i = 0; !atomic_load(&g_stop); i++) {
        void *p = malloc(32 + (size_t)(i % 4096));
        pthread_mutex_lock(&g_lock);
        spin(100);
        pthread_mutex_unlock(&g_lock);
        free(p);
    }
    return NULL;
}

/* What a forked child does before it exits: allocate and lock. */
static void child_work(void)
{
    void *p = malloc(1000);

    pthread_mutex_lock(&g_child_lock);
    spin(20000);
    pthread_mutex_unlock(&g_child_lock);
    free(p);
}

static int exit_code(pid_t pid)
{
    int status;

    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int do_fork(void)
{
    pid_t pid = fork();

    if (pid == 0) {
        child_work();
        _exit(11);
    }
    return exit_code(pid) == 11;
}

static int do_vfork(const char *self)
{
    pid_t pid = vfork();

    if (pid == 0) {
        execl(self, self, "child", (char *)NULL);
        _exit(127);
    }
    return exit_code(pid) == 12;
}

static int do_spawn(const char *self)
{
    char *argv[] = {(char *)self, "child", NULL};
    pid_t pid;

    if (posix_spawn(&pid, self, NULL, NULL, argv, environ) != 0)
        return 0;
    return exit_code(pid) == 12;
}

/* daemon() forks again and exits the middle process; the daemon reports
 * back through a pipe. */
static int do_daemon(void)
{
    int fd[2];
    char c = 0;
    pid_t pid;

    if (pipe(fd) != 0)
        return 0;
    pid = fork();
    if (pid == 0) {
        close(fd[0]);
        if (daemon(1, 1) != 0)
            _exit(1);
        child_work();
        c = 'd';
        if (write(fd[1], &c, 1) != 1)
            _exit(1);
        _exit(0);
    }
    close(fd[1]);
    if (exit_code(pid) != 0 || read(fd[0], &c, 1) != 1)
        c = 0;
    close(fd[0]);
    return c == 'd';
}

int main(int argc, char **argv)
{
    pthread_t t[3];
    int forks = 0, vforks = 0, spawns = 0, daemons = 0;

    if (argc > 1 && strcmp(argv[1], "child") == 0) {
        child_work();
        return 12;
    }
    for (int i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, busy, NULL);
    for (int i = 0; i < ROUNDS; i++) {
        forks += do_fork();
        vforks += do_vfork("/proc/self/exe");
        spawns += do_spawn("/proc/self/exe");
        daemons += do_daemon();
    }
    atomic_store(&g_stop, 1);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    printf("fork %d vfork %d spawn %d daemon %d of %d\n", forks, vforks,
           spawns, daemons, ROUNDS);
    return 0;
}
