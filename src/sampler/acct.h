/*
 * Per-thread CPU-time accounting for CPU sample weights.
 *
 * Each thread has a sampling grid on its own CPU clock: points at
 * start + phase + k * period.  `acct` is the last grid point already
 * recorded.  A sample's weight is the number of grid points its thread's
 * CPU clock has passed since then, rather than 1 + the timer's overrun
 * count.  Under CPU contention, a thread that makes many syscalls can have
 * its CPU timer's signal held back by the kernel for hundreds of
 * milliseconds (see docs/internals/sampler.md); counting CPU time keeps the
 * totals exact and lets the collector send a catch-up signal
 * (sampler_watchdog) whose sample is weighted correctly.  Grid points a
 * thread passed but no signal recorded are found when it exits.
 *
 * The table is written under the sampler's thread lock (add/remove, by the
 * collector or by a thread registering itself) and read and advanced by
 * each thread's own signal handler, lock-free.  It holds ACCT_SLOTS
 * threads; beyond that threads still get timers, weighted by overrun.
 */
#ifndef PYROSCOPE_SAMPLER_ACCT_H
#define PYROSCOPE_SAMPLER_ACCT_H

#include <stdint.h>
#include <sys/types.h>

#define ACCT_SLOTS 32768

/* Map the table (first call) or empty it.  Not async-signal-safe. */
int acct_reset(void);
/* Start accounting tid with `grid_ns` as its last recorded grid point (may
 * be negative: a phase before the thread's first CPU nanosecond).  `perf_fd`
 * is the thread's perf event (-1: none) that the handler re-arms.  Returns
 * 0, or -1 when the table is full. */
int acct_add(pid_t tid, int64_t grid_ns, int perf_fd);
/* Forget tid; its last recorded grid point goes to *grid_ns (may be NULL).
 * When tid is the caller, its handler cannot race this: no signal needs
 * blocking.  -1 if tid is unknown. */
int acct_remove(pid_t tid, int64_t *grid_ns);
/* True once a thread did not fit: unknown threads then fall back to
 * overrun weights instead of being skipped. */
int acct_overflowed(void);

/*
 * Signal handler, on thread tid whose CPU clock reads now_ns: the number of
 * grid points to record (the accounted time advances by as many), 0 if none
 * was passed (a catch-up signal raced the timer: skip the sample), or -1 if
 * tid is not in the table.  Async-signal-safe.
 */
int64_t acct_take(pid_t tid, uint64_t now_ns, uint64_t period_ns);

/* Signal handler: samples tid took before this one (saturating). */
int acct_count_sample(pid_t tid);

/* The perf event fd of tid, or -1, with ACCT_PERF_FIRST set until
 * acct_perf_started() (its first overflow is the random phase, not a whole
 * period).  Async-signal-safe, as is acct_perf_started. */
#define ACCT_PERF_FIRST (1 << 30)
int acct_perf_fd(pid_t tid);
void acct_perf_started(pid_t tid);
/* Switch tid's source (the grid stays). */
void acct_set_perf(pid_t tid, int perf_fd);

/* CPU time of tid not yet covered by a sample, or 0 if tid is unknown. */
uint64_t acct_lag(pid_t tid, uint64_t cpu_ns);

#endif
