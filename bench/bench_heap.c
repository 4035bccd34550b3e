/*
 * Cost of the malloc hooks against plain glibc, as paired ratios in one
 * run.  Each round runs every variant once, each in a fresh process
 * (bench_heap_work / bench_heap_linked), interleaved; a variant's ratio in
 * a round is its time over the glibc run of the same round, so slow drifts
 * of a loaded machine cancel.  Reported: the median ratio over the rounds,
 * [min..max], and the median difference in ns per malloc+free pair.
 *
 *   bench_heap [rounds] [ops]
 *
 * Variants, for the "tight" (malloc+free at once, 16..256 B) and "heavy"
 * (random working set, calloc, realloc, some large blocks) workloads:
 *   glibc          the plain binary
 *   pre-loaded     LD_PRELOAD=libpyroscope.so, PYROSCOPE_AUTOSTART=0
 *   pre-cpu        LD_PRELOAD, profiling CPU only (heap off)
 *   pre-heap       LD_PRELOAD, CPU + heap at the default 512 KiB mean
 *   link-cpu       linked to libpyroscope.so, started with CPU only
 *   link-heap      linked, CPU + heap
 * Goals: heap off (pre-loaded, pre-cpu, link-cpu) < 1 ns over glibc; heap
 * on <= 1.05x glibc.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef BENCH_LIB
#error "BENCH_LIB: path of libpyroscope.so"
#endif

typedef struct variant {
    const char *name;
    const char *exe; /* next to this program */
    const char *mode;
    const char *preload_types; /* NULL: no LD_PRELOAD */
} variant;

static const variant V[] = {
    {"glibc", "bench_heap_work", NULL, NULL},
    {"pre-loaded", "bench_heap_work", NULL, ""},
    {"pre-cpu", "bench_heap_work", NULL, "cpu"},
    {"pre-heap", "bench_heap_work", NULL, "cpu,heap"},
    {"link-cpu", "bench_heap_linked", "cpu", NULL},
    {"link-heap", "bench_heap_linked", "heap", NULL},
};
#define NV (int)(sizeof(V) / sizeof(V[0]))

static char g_dir[4096];
static char g_url[4200];

static void child(const variant *v, const char *wl, const char *ops)
{
    char exe[4200];

    snprintf(exe, sizeof(exe), "%s/%s", g_dir, v->exe);
    setenv("PYROSCOPE_APPLICATION_NAME", "heap-bench", 1);
    setenv("PYROSCOPE_SERVER_ADDRESS", g_url, 1);
    setenv("PYROSCOPE_UPLOAD_INTERVAL", "60s", 1);
    setenv("PYROSCOPE_LOG_LEVEL", "error", 1);
    if (v->preload_types) {
        setenv("LD_PRELOAD", BENCH_LIB, 1);
        if (*v->preload_types)
            setenv("PYROSCOPE_PROFILE_TYPES", v->preload_types, 1);
        else
            setenv("PYROSCOPE_AUTOSTART", "0", 1);
    }
    if (v->mode)
        execl(exe, exe, wl, ops, v->mode, (char *)NULL);
    else
        execl(exe, exe, wl, ops, (char *)NULL);
    perror(exe);
    _exit(127);
}

/* Run one variant; fills thread and process ns per op. */
static int run(const variant *v, const char *wl, const char *ops,
               double *thr, double *proc)
{
    int fd[2], status;
    char buf[128];
    ssize_t n;
    pid_t pid;

    if (pipe(fd) != 0)
        return -1;
    pid = fork();
    if (pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        child(v, wl, ops);
    }
    close(fd[1]);
    n = read(fd[0], buf, sizeof(buf) - 1);
    close(fd[0]);
    waitpid(pid, &status, 0);
    if (n <= 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return -1;
    buf[n] = 0;
    return sscanf(buf, "%lf %lf", thr, proc) == 2 ? 0 : -1;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void report(const char *wl, int rounds, double t[][64], double p[][64])
{
    double r[64], d[64], pr[64], base[64];

    for (int k = 0; k < rounds; k++)
        base[k] = t[0][k];
    printf("%s: glibc %.2f ns/op (median of %d rounds)\n", wl,
           median(base, rounds), rounds);
    printf("  %-11s %8s %17s %9s %10s\n", "variant", "ratio", "[min..max]",
           "+ns/op", "proc ratio");
    for (int i = 1; i < NV; i++) {
        for (int k = 0; k < rounds; k++) {
            r[k] = t[i][k] / t[0][k];
            d[k] = t[i][k] - t[0][k];
            pr[k] = p[i][k] / p[0][k];
        }
        double mr = median(r, rounds);
        printf("  %-11s %8.4f [%.4f..%.4f] %+9.2f %10.4f\n", V[i].name, mr,
               r[0], r[rounds - 1], median(d, rounds), median(pr, rounds));
    }
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 7;
    const char *ops = argc > 2 ? argv[2] : "2000000";
    static const char *wls[2] = {"tight", "heavy"};
    static double t[2][NV][64], p[2][NV][64];
    char tmpl[] = "/tmp/pyroscope-heap-bench-XXXXXX";
    ssize_t n;

    if (rounds < 1 || rounds > 64)
        rounds = 7;
    n = readlink("/proc/self/exe", g_dir, sizeof(g_dir) - 1);
    if (n <= 0 || !mkdtemp(tmpl))
        return 1;
    g_dir[n] = 0;
    *strrchr(g_dir, '/') = 0;
    snprintf(g_url, sizeof(g_url), "file://%s", tmpl);
    for (int k = 0; k < rounds; k++)
        for (int w = 0; w < 2; w++)
            for (int i = 0; i < NV; i++)
                if (run(&V[i], wls[w], ops, &t[w][i][k], &p[w][i][k])) {
                    fprintf(stderr, "%s %s failed\n", V[i].name, wls[w]);
                    return 1;
                }
    printf("bench_heap: thread CPU ns per op, paired ratio to glibc\n");
    for (int w = 0; w < 2; w++)
        report(wls[w], rounds, t[w], p[w]);
    return 0;
}
