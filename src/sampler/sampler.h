/*
 * CPU sampler: a CPU-time timer per thread delivers a signal to that thread;
 * the handler captures the stack into the ring.  Also the native stack
 * capture used by the heap and lock hooks.
 *
 * In: the rate, the signal and the ring from the wiring (core/), a frame
 * provider of a binding, thread starts and exits from hooks/thread_hooks.c.
 * Out: SAMPLE_CPU cells in the ring (ring.h, the one hand-over point to
 * the collector), each a raw stack of pcs and language words, weighted by
 * the thread's CPU time (acct.h), with its tag set and span.
 */
#ifndef PYROSCOPE_SAMPLER_H
#define PYROSCOPE_SAMPLER_H

#include <stdint.h>

#include "pyroscope.h"
#include "ring.h"

typedef struct sampler_opts {
    int rate_hz;
    int signo;       /* 0: SIGPROF unless the app uses it, then an RT signal */
    ring *ring;
} sampler_opts;

int sampler_start(const sampler_opts *o);
/* Before the profiler starts its threads: see perf_reserve_fds(). */
void sampler_reserve_fds(void);
/* Disarm every timer; the handler stays installed (ignores late signals). */
void sampler_stop(void);
/* Arm timers on new threads and delete those of exited ones. */
void sampler_scan_threads(void);
/* Signal threads whose CPU timer is overdue (collector, every tick). */
void sampler_watchdog(void);
/* Never sample the calling thread (our own collector and uploader). */
void sampler_exclude_self(void);
void sampler_set_provider(const pyroscope_frame_provider *p);
const pyroscope_frame_provider *sampler_provider(void);
uint64_t sampler_threads(void);
uint64_t sampler_samples(void);
/* Signals that arrived while the thread was inside our own code (the
 * re-entrancy guard was up) and so took no sample. */
uint64_t sampler_deferred(void);
/* Time spent inside the signal handler since start, in ns. */
uint64_t sampler_handler_ns(void);
int sampler_signal(void);
/* True when per-thread timers failed and setitimer(ITIMER_PROF) is used. */
int sampler_fallback(void);
/*
 * For thread_hooks.c, in a thread the application starts: whether to wrap
 * it (sampling runs, the creator is not one of ours), then at its start
 * arm its sampling and record the periods its start-up used, and at its
 * exit record the periods it used since its last sample (fn: its start
 * routine; trampoline: ours; start_ret: the return address into libc's
 * thread start).  Not async-signal-safe.
 */
int sampler_thread_wanted(void);
void sampler_thread_begin(uintptr_t trampoline, uintptr_t start_ret);
void sampler_thread_end(uintptr_t fn, uintptr_t trampoline,
                        uintptr_t start_ret);
/*
 * For exec_hooks.c, around an exec* call of the application: stop the
 * calling thread's CPU source and take our pending signal, so none can
 * reach the new image (returns whether it stopped one); re-arm if the
 * exec failed.  Both keep errno; safe in a vfork child (they do nothing).
 */
int sampler_exec_prepare(void);
void sampler_exec_failed(int stopped);
/* Periods recorded at thread exits since start. */
uint64_t sampler_exit_samples(void);
/* Around fork(): no handler may be mid-unwind when the process is cloned
 * (prepare waits for them); resume in the parent.  The child's reset is
 * sampler_atfork_child(). */
void sampler_fork_prepare(void);
void sampler_fork_resume(void);
/* Forget the parent's timers and thread list (child after fork). */
void sampler_atfork_child(void);

/*
 * Capture the caller's native stack into words (leaf first) skipping `skip`
 * frames; returns the count.  Not for use in the CPU signal handler.
 */
int sampler_backtrace(uint64_t *words, int max, int skip);
/* The same from the caller's caller on, with a cursor: cheaper in a thread
 * that walks its stack only once. */
int sampler_backtrace_cold(uint64_t *words, int max);

#endif
