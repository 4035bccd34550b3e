/*
 * pthread_create interposition: every thread the application starts runs
 * a trampoline that arms its CPU sampling before the thread's own function
 * and accounts for its unsampled CPU time when it exits.  Works when the
 * library is linked (our definition comes before libc's in symbol lookup)
 * and under LD_PRELOAD; a binding that dlopen()s the library does not
 * interpose, and threads there (and raw clone() threads) are found by the
 * sampler's /proc/self/task scan instead.
 */
#ifndef PYROSCOPE_HOOKS_THREAD_HOOKS_H
#define PYROSCOPE_HOOKS_THREAD_HOOKS_H

/* Threads started through the trampoline so far (for stats and tests). */
unsigned long thread_hooks_started(void);

#endif
