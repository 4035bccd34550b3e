/*
 * Switches the heap (malloc family) and lock (pthread mutex/rwlock) hooks
 * of hooks/ on and off with the profiler, and pauses them around fork().
 * They record sampled events into the ring only while enabled; otherwise
 * they cost one relaxed load on top of the real call.
 */
#ifndef PYROSCOPE_CORE_HOOK_SWITCH_H
#define PYROSCOPE_CORE_HOOK_SWITCH_H

#include "core.h"

void hooks_enable(pyroscope *p, ring *r);
void hooks_disable(void);
/* First thing in a fork() child: forget writers of threads that were not
 * cloned. */
void hooks_atfork_child(void);

#endif
