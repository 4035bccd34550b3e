#include "hooks.h"

#include "common/log.h"
#include "sampler/lock_hooks.h"
#include "sampler/malloc_hooks.h"

static pthread_once_t g_atfork_once = PTHREAD_ONCE_INIT;
static uint64_t g_set_full_reported;

/*
 * A forked child has one thread and no collector: hooks writing into the
 * inherited ring would only unwind (libunwind may hold a lock another
 * parent thread had) for samples nobody drains.  The child runs unhooked
 * until profiling is started again there.
 */
static void atfork_child(void)
{
    malloc_hooks_atfork_child();
    lock_hooks_atfork_child();
}

static void register_atfork(void)
{
    pthread_atfork(NULL, NULL, atfork_child);
}

void hooks_enable(pyroscope *p, ring *r)
{
    const pyroscope_config *c = &p->cfg.c;

    pthread_once(&g_atfork_once, register_atfork);
    if (c->profile_types & PYROSCOPE_PROFILE_HEAP)
        malloc_hooks_enable(r, c->heap_sample_interval);
    if (c->profile_types & PYROSCOPE_PROFILE_LOCK)
        lock_hooks_enable(r, c->lock_threshold_ns, c->lock_sample_rate);
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
