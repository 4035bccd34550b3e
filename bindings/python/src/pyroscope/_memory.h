/*
 * _memory.h - Python memory profiling (pyroscope-io's mem_enabled).
 *
 * Wraps CPython's object allocator (and optionally the PyMem domain) with
 * PyMem_SetAllocator.  Allocations are sampled by bytes (a Poisson process
 * with mean `interval` bytes, like Go's MemProfileRate); a sampled block
 * records the Python stack that allocated it.  Frees of sampled blocks are
 * matched, so the report has alloc and in-use objects/space per stack.
 * Every function needs the GIL (both hooked domains require it).
 */
#ifndef PYROSCOPE_PY_MEMORY_H
#define PYROSCOPE_PY_MEMORY_H

#include <stddef.h>
#include <stdint.h>

#include "pyroscope.h"

/* Install the hooks.  Returns 0, or -1 if already installed. */
int pym_start(size_t interval, int max_frames, int mem_domain);

/* Remove the hooks.  Sampled blocks still alive stay tracked until freed
 * (their free goes through the original allocator either way). */
void pym_stop(void);

/* Hand every stack to the core: alloc counts since the last report and
 * what is live now.  Returns the number of stacks reported, -1 on error. */
int pym_report(pyroscope *p);

/* Counters for tests: sampled allocations, live sampled blocks. */
void pym_counts(uint64_t *sampled, uint64_t *live, uint64_t *stacks);

/* In a forked child (GIL held by the forking thread): nothing to do but
 * keep the tables, which are consistent since we hold the GIL. */

#endif
