/*
 * Cost of the malloc hooks against plain glibc, as paired ratios in one
 * run.  Each round runs every variant once, each in a fresh process
 * (bench_heap_work / bench_heap_linked).  Inside each process the
 * workload alternates, in short halves, between malloc (our hooks when
 * the library is loaded) and glibc's own __libc_malloc: the median ratio
 * of those pairs is what the hooks add, measured on the same machine state
 * (on a shared VM, CPU time between processes varies by 2x).  The "glibc"
 * variant (no library) checks the method: its ratio should be 1.
 * Reported: the median over rounds, [min..max], and the difference in ns
 * per operation (a malloc+free pair for "tight").
 *
 *   bench_heap [rounds] [ops_per_half]
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

/* Run one variant: hooked and glibc ns/op, paired ratio, process ns/op. */
static int run(const variant *v, const char *wl, const char *ops, double *out)
{
    int fd[2], status;
    char buf[256];
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
    return sscanf(buf, "%lf %lf %lf %lf", &out[0], &out[1], &out[2],
                  &out[3]) == 4
               ? 0
               : -1;
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

/* m[variant][round][0..3]: hooked ns, glibc ns, paired ratio, proc ns */
static void report(const char *wl, int rounds, double m[][64][4])
{
    double r[64], d[64], x[64], base[64];

    for (int k = 0; k < rounds; k++)
        base[k] = m[0][k][1];
    printf("%s: glibc %.2f ns/op\n", wl, median(base, rounds));
    printf("  %-11s %8s %17s %8s %13s\n", "variant", "in-proc",
           "[min..max]", "+ns/op", "vs glibc proc");
    for (int i = 0; i < NV; i++) {
        for (int k = 0; k < rounds; k++) {
            r[k] = m[i][k][2];
            d[k] = m[i][k][0] - m[i][k][1];
            /* Against the plain process of the same round. */
            x[k] = m[i][k][0] / m[0][k][0];
        }
        double mr = median(r, rounds);
        printf("  %-11s %8.4f [%.4f..%.4f] %+8.2f %13.4f\n", V[i].name, mr,
               r[0], r[rounds - 1], median(d, rounds), median(x, rounds));
    }
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 5;
    const char *ops[2] = {argc > 2 ? argv[2] : "200000",
                          argc > 2 ? argv[2] : "50000"};
    static const char *wls[2] = {"tight", "heavy"};
    static double m[2][NV][64][4];
    char tmpl[] = "/tmp/pyroscope-heap-bench-XXXXXX";
    ssize_t n;

    if (rounds < 1 || rounds > 64)
        rounds = 5;
    n = readlink("/proc/self/exe", g_dir, sizeof(g_dir) - 1);
    if (n <= 0 || !mkdtemp(tmpl))
        return 1;
    g_dir[n] = 0;
    *strrchr(g_dir, '/') = 0;
    snprintf(g_url, sizeof(g_url), "file://%s", tmpl);
    for (int k = 0; k < rounds; k++)
        for (int w = 0; w < 2; w++)
            for (int i = 0; i < NV; i++)
                if (run(&V[i], wls[w], ops[w], m[w][i][k])) {
                    fprintf(stderr, "%s %s failed\n", V[i].name, wls[w]);
                    return 1;
                }
    printf("bench_heap: thread CPU; in-proc = median over %d processes of "
           "the median\npaired ratio hooked/glibc (__libc_malloc) inside "
           "each; +ns/op = hooked - glibc;\nlast column: hooked time over "
           "the plain process of the same round\n", rounds);
    for (int w = 0; w < 2; w++)
        report(wls[w], rounds, m[w]);
    return 0;
}
