/*
 * Fork cost under LD_PRELOAD: a program that forks and execs N children,
 * timed unprofiled and with libpyroscope.so preloaded (profile types
 * cpu,heap,lock), paired and interleaved over several rounds in one run.
 * The children exec /bin/true with LD_PRELOAD removed from their
 * environment, so what is measured is what the profiler adds to fork()
 * itself (it used to restart inside the child: ~10x).  A second pair lets
 * the children inherit LD_PRELOAD, as a real zero-code deployment does;
 * each exec'd image then loads the library and its dependencies (libunwind,
 * protobuf-c, zlib, zstd), which is reported, not gated.  A third pair
 * raises the soft descriptor limit to the hard one first (Go does so at
 * start, services often run with 1048576): fork copies the descriptor
 * table up to the highest open number, so where our descriptors go counts.
 *
 *   bench_fork [rounds] [children]       (goal: ratio <= 1.20)
 *   BENCH_FORK_LIB=/other/libpyroscope.so bench_fork ...
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The environment without LD_PRELOAD (or with, if keep). */
static char **child_env(int keep)
{
    static char *env[512];
    int n = 0;

    for (char **e = environ; *e && n < 511; e++)
        if (keep || strncmp(*e, "LD_PRELOAD=", 11) != 0)
            env[n++] = *e;
    env[n] = NULL;
    return env;
}

static int worker(int children, int keep)
{
    char *argv[] = {"true", NULL};
    char **env = child_env(keep);
    int status, bad = 0;

    for (int i = 0; i < children; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            execve("/bin/true", argv, env);
            _exit(127);
        }
        if (pid < 0 || waitpid(pid, &status, 0) != pid || status != 0)
            bad++;
    }
    return bad ? 1 : 0;
}

/* Run this program as a worker; wall seconds, or -1 on failure. */
/* keep 2: children unprofiled, the worker's soft descriptor limit raised
 * to its hard limit first, as Go programs and many services run. */
static double timed(const char *self, int children, int preload, int keep)
{
    char n[16], k[4];
    double t0 = now();
    int status;
    pid_t pid;

    snprintf(n, sizeof(n), "%d", children);
    snprintf(k, sizeof(k), "%d", keep == 1);
    pid = fork();
    if (pid == 0) {
        struct rlimit rl;
        if (keep == 2 && getrlimit(RLIMIT_NOFILE, &rl) == 0) {
            rl.rlim_cur = rl.rlim_max;
            setrlimit(RLIMIT_NOFILE, &rl);
        }
        if (preload) {
            const char *lib = getenv("BENCH_FORK_LIB"); /* another build */
            setenv("LD_PRELOAD", lib ? lib : PYROSCOPE_LIB, 1);
            setenv("PYROSCOPE_APPLICATION_NAME", "host-bench-fork", 1);
            setenv("PYROSCOPE_SERVER_ADDRESS", "file:///tmp", 1);
            setenv("PYROSCOPE_PROFILE_TYPES", "cpu,heap,lock", 1);
            setenv("PYROSCOPE_UPLOAD_INTERVAL", "60s", 1);
        }
        execl(self, self, "--worker", n, k, (char *)NULL);
        _exit(127);
    }
    if (waitpid(pid, &status, 0) != pid || status != 0)
        return -1;
    return now() - t0;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static int pair(const char *self, int rounds, int children, int keep,
                double *ratio)
{
    double off[32], on[32];

    for (int r = 0; r < rounds; r++) {
        /* Alternate the order so drift in the machine's load cancels. */
        int first = r % 2;
        double a = timed(self, children, first, keep);
        double b = timed(self, children, !first, keep);
        if (a < 0 || b < 0)
            return -1;
        off[r] = first ? b : a;
        on[r] = first ? a : b;
    }
    qsort(off, (size_t)rounds, sizeof(off[0]), cmp);
    qsort(on, (size_t)rounds, sizeof(on[0]), cmp);
    *ratio = on[rounds / 2] / off[rounds / 2];
    printf("%-32s unprofiled %.3f s, preloaded %.3f s (medians of %d): "
           "ratio %.2f\n", keep == 1   ? "children inherit LD_PRELOAD:"
                            : keep == 2 ? "fd limit raised to the hard one:"
                                        : "fork+exec (children unprofiled):",
           off[rounds / 2], on[rounds / 2], rounds, *ratio);
    return 0;
}

int main(int argc, char **argv)
{
    int rounds, children;
    double ratio, inherit, raised;

    if (argc > 3 && strcmp(argv[1], "--worker") == 0)
        return worker(atoi(argv[2]), atoi(argv[3]));
    rounds = argc > 1 ? atoi(argv[1]) : 5;
    children = argc > 2 ? atoi(argv[2]) : 200;
    if (rounds < 1 || rounds > 32)
        rounds = 5;
    if (pair("/proc/self/exe", rounds, children, 0, &ratio) != 0 ||
        pair("/proc/self/exe", rounds, children, 2, &raised) != 0 ||
        pair("/proc/self/exe", rounds, children, 1, &inherit) != 0) {
        fprintf(stderr, "bench_fork: a run failed\n");
        return 1;
    }
    printf("bench_fork: %d fork+exec per run, ratio %.2f (goal <= 1.20)\n",
           children, ratio);
    return 0;
}
