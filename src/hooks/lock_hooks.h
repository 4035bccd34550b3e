/*
 * Lock-contention profiling: the library defines pthread_mutex_lock/unlock,
 * pthread_rwlock_rdlock/wrlock/unlock and pthread_cond_wait/timedwait and
 * forwards them to the next definition.
 * See docs/internals/heap.md.
 */
#ifndef PYROSCOPE_HOOKS_LOCK_HOOKS_H
#define PYROSCOPE_HOOKS_LOCK_HOOKS_H

#include <stdint.h>

#include "../sampler/ring.h"

/*
 * Record contention events of at least `threshold_ns`, 1 in `rate`, into
 * `r`: with `holder`, SAMPLE_LOCK on the holder's stack at unlock (the
 * waiters' delay it caused, Go's mutex profile); with `block`,
 * SAMPLE_BLOCK on the waiter's stack (Go's block profile, which also
 * covers condition variable waits).
 */
void lock_hooks_enable(ring *r, int64_t threshold_ns, int rate, int holder,
                       int block);
/* Waits not charged to a holder: no free entry or slot (many waiters). */
uint64_t lock_hooks_untracked(void);
/* Stop recording; returns once no hook writes into the ring any more. */
void lock_hooks_disable(void);
/* fork(): pause (1) before, resume (0) after, in parent and child alike.
 * Pausing waits until no hook is writing a sample (or unwinding). */
void lock_hooks_pause(int pause);
/* fork() child, before anything else touches the hooks. */
void lock_hooks_atfork_child(void);
/* 0 in ASan/TSan builds, which keep malloc and locks to themselves. */
int lock_hooks_available(void);

#endif
