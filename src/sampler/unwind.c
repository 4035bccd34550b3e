#define UNW_LOCAL_ONLY
#include "unwind.h"

#include <libunwind.h>

#include "loader_lock.h"
#include "sampler.h"

static int unwind_cursor(void *ucontext, uint64_t *pcs, int max);

/*
 * ThreadSanitizer builds walk with the cursor only: libunwind's trace cache
 * frees itself in a thread-exit destructor that takes a mutex after TSan has
 * torn the thread down.
 */
#ifdef PYROSCOPE_CURSOR_UNWIND
#define unw_backtrace cursor_backtrace
static int cursor_backtrace(void **buf, int size)
{
    unw_context_t ctx;
    unw_cursor_t cursor;
    unw_word_t ip;
    int n = 0;

    if (unw_getcontext(&ctx) < 0 || unw_init_local(&cursor, &ctx) < 0)
        return 0;
    do {
        if (unw_get_reg(&cursor, UNW_REG_IP, &ip) < 0 || ip == 0)
            break;
        buf[n++] = (void *)(uintptr_t)ip;
    } while (n < size && unw_step(&cursor) > 0);
    return n;
}
#endif

#include <ucontext.h>

/*
 * unw_backtrace() uses libunwind's per-thread trace cache (x86-64 "fast
 * trace"), several times cheaper than stepping a cursor.  It starts in this
 * handler, so drop the frames up to the interrupted pc, which the ucontext
 * tells exactly.
 */
static int unwind_fast(void *ucontext, uint64_t *pcs, int max)
{
    const ucontext_t *uc = ucontext;
    uint64_t pc = (uint64_t)uc->uc_mcontext.gregs[REG_RIP];
    void *buf[RING_MAX_WORDS + 16];
    int n, i, start = -1, want = max + 16;

    if (want > (int)(sizeof(buf) / sizeof(buf[0])))
        want = (int)(sizeof(buf) / sizeof(buf[0]));
    n = unw_backtrace(buf, want);
    for (i = 0; i < n && i < 16; i++)
        if ((uint64_t)(uintptr_t)buf[i] == pc) {
            start = i;
            break;
        }
    if (start < 0)
        return -1;
    for (i = start; i < n && i - start < max; i++)
        pcs[i - start] = (uint64_t)(uintptr_t)buf[i];
    return i - start;
}


/*
 * libunwind's default cache of unwind rules is process-wide, behind a
 * lock that it holds while it calls dl_iterate_phdr, which takes the
 * loader's lock.  A thread inside dlopen/dlclose holds the loader's lock;
 * if our signal lands there, its unwind waits for libunwind's lock, held
 * by another thread's unwind that waits for the loader's lock: a deadlock
 * (the dlopen hostile host hung in 12 of 120 runs at 1000 Hz; gdb showed
 * exactly that cycle).  UNW_CACHE_PER_THREAD would avoid the lock, but
 * Debian's libunwind is built without per-thread caches and then takes
 * the global lock anyway; without a cache libunwind takes no lock at all
 * (the loader's lock is recursive, so an interrupted holder goes on).
 * unw_backtrace keeps its own per-thread trace cache, so only the frames
 * it cannot trace pay for parsing their unwind rules again: at 1000 Hz
 * bench_cpu measured 18 us per sample instead of 7 (1.8% of the run
 * instead of 0.7%), at 100 Hz no difference.
 */
int unwind_setup(void)
{
    return unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_NONE) == 0;
}

/* The interrupted PC alone, for a sample that may not unwind. */
static int leaf_only(const void *ucontext, uint64_t *pcs, int max)
{
    const ucontext_t *uc = ucontext;
    uint64_t pc = 0;

    if (!uc || max < 1)
        return 0;
#if defined(__x86_64__)
    pc = (uint64_t)uc->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
    pc = (uint64_t)uc->uc_mcontext.pc;
#endif
    if (!pc)
        return 0;
    pcs[0] = pc;
    return 1;
}

static int unwind_walk(void *ucontext, uint64_t *pcs, int max, int young)
{
    int fast;

    /* libunwind's fast trace cache is per thread and starts cold: a
     * thread's first fast walk costs ~200 us (every frame's unwind info
     * parsed, the cache mapped), a cursor walk ~25 us.  Young threads, which
     * may never take enough samples to pay that back, step a cursor. */
    if (young)
        return unwind_cursor(ucontext, pcs, max);
    fast = unwind_fast(ucontext, pcs, max);

    if (fast > 0)
        return fast;
    return unwind_cursor(ucontext, pcs, max);
}

int unwind_from_signal(void *ucontext, uint64_t *pcs, int max, int young)
{
    /* The loader's lock stayed taken (loader_lock.c): unwinding could wait
     * on this very thread.  The sample keeps its weight and its leaf. */
    if (!loader_lock_check())
        return leaf_only(ucontext, pcs, max);
    return unwind_walk(ucontext, pcs, max, young);
}

static int unwind_cursor(void *ucontext, uint64_t *pcs, int max)
{
    unw_cursor_t cursor;
    unw_word_t ip;
    int n = 0;

    /* On x86-64 Linux a ucontext_t is a valid unw_context_t. */
    if (unw_init_local2(&cursor, (unw_context_t *)ucontext,
                        UNW_INIT_SIGNAL_FRAME) < 0)
        return 0;
    do {
        if (unw_get_reg(&cursor, UNW_REG_IP, &ip) < 0 || ip == 0)
            break;
        pcs[n++] = (uint64_t)ip;
    } while (n < max && unw_step(&cursor) > 0);
    return n;
}

int sampler_backtrace(uint64_t *words, int max, int skip)
{
    void *tmp[RING_MAX_WORDS + 8];
    int n, i, want = max + skip + 1;

    if (want > (int)(sizeof(tmp) / sizeof(tmp[0])))
        want = (int)(sizeof(tmp) / sizeof(tmp[0]));
    /* A hook may run while the host holds a lock that a thread inside
     * dl_iterate_phdr waits for: no wait on a loader's lock that stays
     * held (the caller keeps its leaf frame). */
    if (!loader_lock_check())
        return 0;
    n = unw_backtrace(tmp, want);
    /* +1: this function's own frame. */
    skip += 1;
    for (i = skip; i < n && i - skip < max; i++)
        words[i - skip] = (uint64_t)(uintptr_t)tmp[i];
    return n > skip ? (n - skip < max ? n - skip : max) : 0;
}

int sampler_backtrace_cold(uint64_t *words, int max)
{
    unw_context_t ctx;
    unw_cursor_t cursor;
    unw_word_t ip;
    int n = 0;

    /* A cursor walk: no per-thread trace cache to fill (see
     * unwind_from_signal), for threads that walk once, at their exit.
     * Our thread lock is held: no wait on a loader's lock that stays held. */
    if (!loader_lock_check() || unw_getcontext(&ctx) < 0 ||
        unw_init_local(&cursor, &ctx) < 0)
        return 0;
    while (n < max && unw_step(&cursor) > 0) {
        if (unw_get_reg(&cursor, UNW_REG_IP, &ip) < 0 || ip == 0)
            break;
        words[n++] = (uint64_t)ip;
    }
    return n;
}
