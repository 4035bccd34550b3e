/*
 * Replaces its own image again and again, as shell scripts that end in
 * `exec` and launcher shims (pyenv, rbenv, nvm) do: each hop burns a few
 * ms of CPU first, so profiling signals fall due around the exec, and the
 * hops go through every exec* entry point in turn.  A failed exec on the
 * way must leave the process running as before.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

#define HOPS 24
#define SELF "/proc/self/exe"

extern char **environ;

static void failed_exec(void)
{
    char *argv[] = {"missing", NULL};
    int rc = execv("/nonexistent/hostile-execer", argv);

    printf("failed exec: rc %d %s\n", rc, errno == ENOENT ? "ENOENT" : "?");
}

int main(int argc, char **argv)
{
    int hop = argc > 1 ? atoi(argv[1]) : 0;
    char next[16];
    char *v[] = {argv[0], next, NULL};

    spin(3000000);
    if (hop == 0)
        failed_exec();
    if (hop >= HOPS) {
        printf("hops %d\n", hop);
        return 0;
    }
    snprintf(next, sizeof(next), "%d", hop + 1);
    fflush(stdout);
    switch (hop % 6) {
    case 0:
        execv(SELF, v);
        break;
    case 1:
        execve(SELF, v, environ);
        break;
    case 2:
        execl(SELF, argv[0], next, (char *)NULL);
        break;
    case 3:
        execle(SELF, argv[0], next, (char *)NULL, environ);
        break;
    case 4:
        execvp(SELF, v);
        break;
    default:
        execlp(SELF, argv[0], next, (char *)NULL);
        break;
    }
    printf("exec failed at hop %d: %s\n", hop, strerror(errno));
    return 1;
}
