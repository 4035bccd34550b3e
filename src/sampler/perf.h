/*
 * Per-thread CPU-clock sampling through perf_event_open: a software
 * task-clock event with a sampling period, whose overflow sends our signal
 * to its thread (F_SETOWN_EX + F_SETSIG).  The kernel drives it with a
 * high-resolution timer while the thread runs, so it fires every period of
 * CPU time, not on the scheduler tick as POSIX CPU timers do (at most
 * CONFIG_HZ signals per CPU second: 250 here).
 */
#ifndef PYROSCOPE_SAMPLER_PERF_H
#define PYROSCOPE_SAMPLER_PERF_H

#include <stdint.h>
#include <sys/types.h>

/* Whether perf events work here (probed once per start on the calling
 * thread); logs why not.  `budget` caps the fds used at once. */
int perf_probe(int signo, int budget);
/* Grow the descriptor table to where our event fds will go, now: when
 * the process still has one thread the kernel grows it at once; once
 * threads share it, each growth waits for an RCU grace period (~10 ms,
 * paid at every start of a preloaded short-lived program).  The caller
 * then starts its threads.  Nothing when PYROSCOPE_CPU_SOURCE rules perf
 * out. */
void perf_reserve_fds(void);
/* Open a disabled event on tid that signals it after `first_ns` of its CPU
 * time (perf_rearm sets the whole period after that).  Returns the fd
 * (placed high, close-on-exec) or -1 (budget spent, or any failure: use a
 * POSIX timer). */
int perf_open_thread(pid_t tid, int signo, uint64_t first_ns);
/* Start it, first overflow after `first_ns` (refined from the open's):
 * 0, or -1. */
int perf_enable(int fd, uint64_t first_ns);
void perf_close_thread(int fd);
/* Signal handler: re-arm fd for its next overflow (each overflow disarms
 * the event, which is how it signals), after `period_ns` if set_period
 * (else the period stays).  Async-signal-safe. */
void perf_rearm(int fd, uint64_t period_ns, int set_period);
/* fds open now. */
int perf_open_count(void);
/* After fork: the child's copies of the parent's fds are closed by the
 * caller; forget the count. */
void perf_atfork_child(void);

#endif
