#define _GNU_SOURCE
#include "workload.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stdatomic.h>

_Atomic uint64_t wl_sink;

#define BURN(name, op)                                                        \
    __attribute__((noinline)) void name(double seconds)                       \
    {                                                                         \
        double end = wl_thread_cpu() + seconds;                               \
        uint64_t x = 88172645463325252ull;                                    \
        while (wl_thread_cpu() < end)                                         \
            for (int i = 0; i < 4000; i++)                                    \
                op;                                                           \
        atomic_fetch_add_explicit(&wl_sink, x, memory_order_relaxed);        \
    }

BURN(work_alpha, x = x * 6364136223846793005ull + 1442695040888963407ull)
BURN(work_beta, (x ^= x << 13, x ^= x >> 7, x ^= x << 17))
BURN(work_gamma, x = (x >> 3) ^ (x * 0x9e3779b97f4a7c15ull))
BURN(work_delta, x = x * 0xff51afd7ed558ccdull + (x >> 29))

long wl_status_field(const char *name)
{
    FILE *f = fopen("/proc/self/status", "r");
    size_t n = strlen(name);
    char line[256];
    long v = -1;

    while (f && fgets(line, sizeof(line), f))
        if (!strncmp(line, name, n) && line[n] == ':') {
            v = strtol(line + n + 1, NULL, 10);
            break;
        }
    if (f)
        fclose(f);
    return v;
}

char *wl_tempdir(const char *tag)
{
    char tmpl[256];
    char *d;

    snprintf(tmpl, sizeof(tmpl), "/tmp/pyroscope-%s-XXXXXX", tag);
    d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

char **wl_list(const char *dir, const char *part)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char **out = calloc(1, sizeof(char *));
    size_t n = 0;

    while (d && (de = readdir(d)) != NULL) {
        if (!strstr(de->d_name, ".pb.gz") || strstr(de->d_name, ".tmp") ||
            (part && !strstr(de->d_name, part)))
            continue;
        out = realloc(out, (n + 2) * sizeof(char *));
        if (asprintf(&out[n], "%s/%s", dir, de->d_name) < 0)
            break;
        out[++n] = NULL;
    }
    if (d)
        closedir(d);
    return out;
}

void wl_free_list(char **l)
{
    for (char **p = l; p && *p; p++)
        free(*p);
    free(l);
}
