/*
 * Per-thread CPU-time accounting for CPU sample weights.
 *
 * A sample's weight is the thread's CPU time since its previous sample, in
 * whole periods, rather than 1 + the timer's overrun count.  Under CPU
 * contention, a thread that makes many syscalls can have its CPU timer's
 * signal held back by the kernel for hundreds of milliseconds (see
 * docs/internals/sampler.md); counting CPU time keeps the totals exact and
 * lets the collector send a catch-up signal (sampler_watchdog) whose sample
 * is weighted correctly.
 *
 * The table is written by the collector (add/remove, under the sampler's
 * thread lock) and read and advanced by each thread's own signal handler,
 * lock-free.
 */
#ifndef PYROSCOPE_SAMPLER_ACCT_H
#define PYROSCOPE_SAMPLER_ACCT_H

#include <stdint.h>
#include <sys/types.h>

void acct_reset(void);
/* Start accounting tid from cpu_ns (its CPU clock when its timer was armed). */
void acct_add(pid_t tid, uint64_t cpu_ns);
void acct_remove(pid_t tid);

/*
 * Signal handler, on thread tid whose CPU clock reads now_ns: the number of
 * periods to record (the accounted time advances by as many), 0 if less than
 * half a period is unaccounted (a catch-up signal raced the timer: skip the
 * sample), or -1 if tid is not in the table.  Async-signal-safe.
 */
int64_t acct_take(pid_t tid, uint64_t now_ns, uint64_t period_ns);

/* CPU time of tid not yet covered by a sample, or 0 if tid is unknown. */
uint64_t acct_lag(pid_t tid, uint64_t cpu_ns);

#endif
