/*
 * Sampled heap profiling: the library defines malloc, free and the rest of
 * the family and forwards them to the next definition (RTLD_NEXT).
 * See docs/internals/heap.md.
 */
#ifndef PYROSCOPE_HOOKS_MALLOC_HOOKS_H
#define PYROSCOPE_HOOKS_MALLOC_HOOKS_H

#include <stddef.h>
#include <stdint.h>

#include "../sampler/ring.h"

/* Start sampling about one allocation per `interval` bytes into `r`. */
void malloc_hooks_enable(ring *r, size_t interval);
/* Stop sampling; returns once no hook writes into the ring any more. */
void malloc_hooks_disable(void);
/* fork(): pause (1) before, resume (0) after, in parent and child alike.
 * Pausing waits until no hook is writing a sample (or unwinding). */
void malloc_hooks_pause(int pause);
/* fork() child, before anything else touches the hooks. */
void malloc_hooks_atfork_child(void);
/* Sampled allocations skipped because the sampled-address set was full. */
uint64_t malloc_hooks_set_full(void);
/* Estimated bytes and objects of sampled allocations that could not be
 * recorded since the last call (ring or sampled-address set full). */
void malloc_hooks_lost(int64_t *bytes, int64_t *objects);
/* 1 when the process's malloc is ours (LD_PRELOAD, linked). */
int malloc_hooks_interposed(void);
/* 0 in ASan/TSan builds, which keep malloc and locks to themselves. */
int malloc_hooks_available(void);

#endif
