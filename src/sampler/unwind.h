/* Native stack capture with libunwind. */
#ifndef PYROSCOPE_SAMPLER_UNWIND_H
#define PYROSCOPE_SAMPLER_UNWIND_H

#include <stdint.h>

/* Walk from a signal's ucontext; leaf (the interrupted pc) first.  `young`:
 * the thread took few samples yet (see unwind.c). */
int unwind_from_signal(void *ucontext, uint64_t *pcs, int max, int young);

/* Before sampling starts (not in a handler): no libunwind cache, so an
 * unwind takes no lock of libunwind's (unwind.c says why).  1 if set. */
int unwind_setup(void);

/* Reads checked after a walk fell back to frame pointers (unwind.c). */
unsigned long unwind_checked_reads(void);

#endif
