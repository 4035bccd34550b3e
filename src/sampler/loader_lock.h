/*
 * The dynamic loader's lock that dl_iterate_phdr() takes, which a
 * signal handler's unwind takes with it.
 */
#ifndef PYROSCOPE_SAMPLER_LOADER_LOCK_H
#define PYROSCOPE_SAMPLER_LOADER_LOCK_H

/* Find the lock (not in a handler; once per process is enough).  1 if
 * found, 0 if this loader's lock could not be told apart. */
int loader_lock_find(void);

/* Signal handler, before it unwinds: 1 if it now holds the lock (release
 * it after), 0 if the lock is unknown (unwind anyway), -1 if the lock is
 * held elsewhere or half taken (do not unwind).  Never waits. */
int loader_lock_try(void);
void loader_lock_release(void);

#endif
