/*
 * Lock-contention profiling: the library defines pthread_mutex_lock and
 * pthread_rwlock_rdlock/wrlock and forwards them to the next definition.
 * See docs/internals/heap.md.
 */
#ifndef PYROSCOPE_SAMPLER_LOCK_HOOKS_H
#define PYROSCOPE_SAMPLER_LOCK_HOOKS_H

#include <stdint.h>

#include "ring.h"

/* Record contentions of at least `threshold_ns`, 1 in `rate`, into `r`. */
void lock_hooks_enable(ring *r, int64_t threshold_ns, int rate);
/* Stop recording; returns once no hook writes into the ring any more. */
void lock_hooks_disable(void);
/* Forked child: stop without waiting for the parent's other threads. */
void lock_hooks_atfork_child(void);

#endif
