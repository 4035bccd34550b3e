/*
 * Collector side of heap profiling: scales sampled allocations to unbiased
 * estimates and tracks sampled blocks until they are freed (in-use space).
 */
#ifndef PYROSCOPE_HEAP_H
#define PYROSCOPE_HEAP_H

#include "core.h"

/* Account an alloc or free sample (p->lock held). */
void heap_collect(pyroscope *p, const ring_sample *s);
/* Add in-use values of every live sampled block to `w` (p->lock held). */
void heap_add_inuse(pyroscope *p, window *w);
/* Forget every live block (stop, fork child). */
void heap_reset(void);
size_t heap_live_blocks(void);
/* Add the estimate of samples the hooks lost to the window (p->lock held). */
void heap_add_lost(pyroscope *p);
/* Child after fork: forget the table without freeing (it may be mid-update). */
void heap_atfork_child(void);

#endif
