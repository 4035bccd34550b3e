/* CPU-burning workload for tests: functions that spend an exact amount of
 * the calling thread's CPU time. */
#ifndef PYROSCOPE_TEST_WORKLOAD_H
#define PYROSCOPE_TEST_WORKLOAD_H

#include <stdint.h>
#include <time.h>

static inline double wl_thread_cpu(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline double wl_mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

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
