/*
 * Interposers: the library's own malloc family, pthread mutex/rwlock/cond
 * functions, pthread_create and the exec* family, each forwarding to the
 * next definition.
 *
 * In: calls of the application (any thread, any time); the ring and the
 * sampling settings from the wiring (core/hook_switch.c).  Out: sampled
 * SAMPLE_HEAP_ALLOC/FREE, SAMPLE_LOCK and SAMPLE_BLOCK cells in the
 * sampler's ring (hook_ring.h), stacks from sampler_backtrace(); new
 * threads get their CPU timer through the sampler before their own code;
 * an exec stops the calling thread's timer first (exec_hooks.c).
 *
 * This is what the rest of the library includes; the per-file headers
 * below stay separate because each interposer is enabled on its own.
 */
#ifndef PYROSCOPE_HOOKS_H
#define PYROSCOPE_HOOKS_H

#include "exec_hooks.h"
#include "fd_hooks.h"
#include "lock_hooks.h"
#include "malloc_hooks.h"
#include "thread_hooks.h"

#endif
