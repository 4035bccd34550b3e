/* CPU-burning workload for tests: functions that spend an exact amount of
 * the calling thread's CPU time. */
#ifndef PYROSCOPE_TEST_WORKLOAD_H
#define PYROSCOPE_TEST_WORKLOAD_H

#include <stdint.h>
#include <time.h>

static inline double wl_clock(clockid_t clk)
{
    struct timespec ts;

    clock_gettime(clk, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline double wl_thread_cpu(void)
{
    return wl_clock(CLOCK_THREAD_CPUTIME_ID);
}

static inline double wl_mono(void)
{
    return wl_clock(CLOCK_MONOTONIC);
}

/* A numeric field of /proc/self/status ("Threads", "VmRSS"), -1 if none. */
long wl_status_field(const char *name);

void work_alpha(double seconds); /* named so tests can find them */
void work_beta(double seconds);
void work_gamma(double seconds);
void work_delta(double seconds);
/* Make a directory under /tmp; malloc'd path. */
char *wl_tempdir(const char *tag);
/* Paths of *.pb.gz files in dir containing `part` (NULL-terminated). */
char **wl_list(const char *dir, const char *part);
void wl_free_list(char **l);

#endif
