#include "hook_switch.h"

#include "common/log.h"
#include "hooks/hooks.h"

static pthread_once_t g_atfork_once = PTHREAD_ONCE_INIT;
static uint64_t g_set_full_reported;

/*
 * No thread may be inside a hook's sample write when fork() clones the
 * process: it could hold a libunwind lock the child then waits for, and
 * its `inflight` count would make hooks_disable() in the child (the fork
 * handler in pyroscope.c) wait forever.  So fork waits for writers to
 * finish, and writers skip while it runs.  A writer can still be cloned
 * between bumping `inflight` and seeing `paused`, so the child zeroes the
 * counts first (hooks_atfork_child, from pyroscope.c's child handler).
 * Registered after pyroscope.c's handlers: this prepare runs first, this
 * child handler last.
 */
static void atfork_prepare(void)
{
    malloc_hooks_pause(1);
    lock_hooks_pause(1);
}

static void atfork_resume(void)
{
    malloc_hooks_pause(0);
    lock_hooks_pause(0);
}

static void register_atfork(void)
{
    pthread_atfork(atfork_prepare, atfork_resume, atfork_resume);
}

void hooks_atfork_child(void)
{
    malloc_hooks_atfork_child();
    lock_hooks_atfork_child();
}

void hooks_enable(pyroscope *p, ring *r)
{
    const pyroscope_config *c = &p->cfg.c;

    pthread_once(&g_atfork_once, register_atfork);
    if ((c->profile_types & PYROSCOPE_PROFILE_HEAP) &&
        !malloc_hooks_available())
        LOG_WARN("heap profiling is not available in sanitizer builds");
    if ((c->profile_types &
         (PYROSCOPE_PROFILE_LOCK | PYROSCOPE_PROFILE_BLOCK)) &&
        !lock_hooks_available())
        LOG_WARN("lock profiling is not available in sanitizer builds");
    if (c->profile_types & PYROSCOPE_PROFILE_HEAP)
        malloc_hooks_enable(r, c->heap_sample_interval);
    if (c->profile_types & (PYROSCOPE_PROFILE_LOCK | PYROSCOPE_PROFILE_BLOCK))
        lock_hooks_enable(r, c->lock_threshold_ns, c->lock_sample_rate,
                          !!(c->profile_types & PYROSCOPE_PROFILE_LOCK),
                          !!(c->profile_types & PYROSCOPE_PROFILE_BLOCK));
}

void hooks_disable(void)
{
    uint64_t full;

    malloc_hooks_disable();
    lock_hooks_disable();
    full = malloc_hooks_set_full();
    if (full > g_set_full_reported)
        LOG_WARN("heap: %llu sampled allocations skipped (sampled-address "
                 "set full; raise heap_sample_interval)",
                 (unsigned long long)(full - g_set_full_reported));
    g_set_full_reported = full;
}
