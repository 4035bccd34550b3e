/*
 * _frames.h - Python frame capture (signal handler) and symbolization
 * (collector thread) for the pyroscope binding.  See _frames.c for the
 * safety argument.  No dependency on the C core: the glue in _native.c
 * adapts these to pyroscope_frame_provider.
 */
#ifndef PYROSCOPE_PY_FRAMES_H
#define PYROSCOPE_PY_FRAMES_H

#include <stdint.h>

/* Capture result that means "drop this sample" (thread not holding the GIL
 * while gil_only is on).  Mapped to PYROSCOPE_FRAMES_DEFERRED by the glue. */
#define PYF_DROP (-1)

/* Call once with the GIL held (module init).  Returns 0, or -1 if the safe
 * memory reader is unavailable (then capture always returns 0). */
int pyf_init(void);

/* Arm the SIGSEGV/SIGBUS guard that lets the signal handler read memory
 * directly (see _frames.c).  Without it every read is a process_vm_readv.
 * Returns 0 or -1. */
int pyf_install_guard(void);
int pyf_guarded(void);
int pyf_debug_probe(uintptr_t addr);

/* 1 when process_vm_readv works in this process (safe reads enabled). */
int pyf_safe_reads(void);

/* Async-signal-safe.  Walks the calling thread's Python frames, leaf first,
 * writing (code pointer, fingerprint<<32 | instruction byte offset) pairs.
 * Returns frames written, 0 for "not a Python thread / no frames", or
 * PYF_DROP when gil_only is set and the thread does not hold the GIL. */
int pyf_capture(uint64_t *words, int max, int gil_only);

/* Walk another thread's frames (a PyThreadState *) with guarded reads.
 * With the GIL held the chain cannot change; without it (the wall-clock
 * sampler) the stack may be torn, as py-spy's non-blocking mode.  Same
 * words as capture. */
int pyf_capture_thread(void *tstate, uint64_t *words, int max);

/* Without the GIL (any thread, not a signal handler): up to `max` thread
 * states of interpreter `interp` and their thread idents.  The list may be
 * stale; pass each entry to pyf_capture_thread, whose reads are guarded.
 * Needs the fault guard (returns 0 without it). */
int pyf_list_threads(void *interp, uintptr_t *ts, unsigned long *ids,
                     int max);

/* Line numbers reported (pyroscope-io's LineNo). */
#define PYF_LINE_LAST 0  /* line of the current instruction */
#define PYF_LINE_FIRST 1 /* first line of the function */
#define PYF_LINE_NONE 2  /* 0 */

/* Function names: 0 = co_name (as pyroscope-io), 1 = module.qualname. */
void pyf_set_naming(int qualified, int line_mode);

/* Like pyf_symbolize, but returns malloc'ed copies (free both); for
 * callers other than the core's collector.  Returns 0 or -1. */
int pyf_symbolize_copy(uint64_t w0, uint64_t w1, char **function,
                       char **file, int64_t *line);

/* Collector thread (no GIL needed).  Fills function/file/line for one pair.
 * Strings stay valid until the next pyf_symbolize call.  Returns 0 or -1. */
int pyf_symbolize(uint64_t w0, uint64_t w1, const char **function,
                  const char **file, int64_t *line);

/* With the GIL held and the profiler stopped: set the directories used to
 * turn a file name into a dotted module name (a snapshot of sys.path). */
void pyf_set_roots(const char *const *roots, int n);

/* Drop the symbol cache (after fork, or on reconfigure). */
void pyf_reset_cache(void);

#endif
