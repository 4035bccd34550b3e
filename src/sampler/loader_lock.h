/*
 * The dynamic loader's lock that dl_iterate_phdr() takes, which a
 * signal handler's unwind would wait on.
 */
#ifndef PYROSCOPE_SAMPLER_LOADER_LOCK_H
#define PYROSCOPE_SAMPLER_LOADER_LOCK_H

#include <stdint.h>

/* Find the lock (not in a handler; once per process is enough).  1 if
 * found, 0 if this loader's lock could not be told apart. */
int loader_lock_find(void);

/* Before an unwind (signal handler or hook): 1 if it may go on (the lock
 * is free, held by this thread, or unknown), 0 if the lock stayed half
 * taken or held elsewhere for ~100 us (do not unwind).  Spins, never
 * blocks, takes nothing. */
int loader_lock_check(void);

/* How many times loader_lock_check() gave up (for stats and tests). */
uint64_t loader_lock_gave_up(void);

#endif
