#define UNW_LOCAL_ONLY
#include "unwind.h"

#include <libunwind.h>
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/tls.h"

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
 * Where unwind info is missing (code without .eh_frame, the bottom of a
 * stack that has no end marker, as under a constructor run by ld.so),
 * libunwind falls back to the frame-pointer chain and then checks each
 * address before reading it: it reads and writes one byte through a pipe
 * it opened once, at init.  A program that closes every descriptor and
 * reuses the numbers (daemons, sandboxes) then has our handler read from
 * and write into its own pipes and files: corrupt output or a blocked
 * read (the closefds hostile host).  So the local address space gets our
 * memory accessor instead: it checks the same addresses with
 * process_vm_readv on this very process, which needs no descriptor and
 * fails with EFAULT where a plain read would fault.
 *
 * libunwind only checks while a walk has fallen back, and says so in one
 * of two ways, both internal: 1.6 on x86-64 passes the context pointer as
 * the accessors' argument with the low bit set; older releases (and
 * aarch64) pass the cursor, whose last two fields are `int validate;
 * ucontext_t *uc;`.  Which one is found once, from a fresh cursor: its
 * first word (the accessors' argument) is the context or the cursor.  If
 * neither, libunwind's own accessor stays.
 */
enum { LAYOUT_UNKNOWN, LAYOUT_TAGGED, LAYOUT_FIELD };
static int g_layout;
static ptrdiff_t g_validate_off = -1; /* LAYOUT_FIELD */
static int g_vm_read_ok;              /* process_vm_readv works here */
static _Atomic unsigned long g_checked; /* reads checked, for the log */

/* Offset of the word in `cur` equal to `uc`, or -1 unless exactly one. */
static ptrdiff_t find_word(const unw_cursor_t *cur, const void *uc)
{
    const unw_word_t *w = (const unw_word_t *)cur;
    size_t i, n = sizeof(*cur) / sizeof(*w);
    ptrdiff_t at = -1;

    for (i = 1; i < n; i++)
        if (w[i] == (unw_word_t)(uintptr_t)uc) {
            if (at >= 0)
                return -1;
            at = (ptrdiff_t)(i * sizeof(*w));
        }
    return at;
}

static int detect_layout(void)
{
    unw_context_t ctx;
    unw_cursor_t cur;
    unw_word_t arg;
    ptrdiff_t uc_off;
    int flag;

    if (unw_getcontext(&ctx) < 0 || unw_init_local(&cur, &ctx) < 0)
        return LAYOUT_UNKNOWN;
    memcpy(&arg, &cur, sizeof(arg));
    if (arg == (unw_word_t)(uintptr_t)&ctx)
        return LAYOUT_TAGGED;
    if (arg != (unw_word_t)(uintptr_t)&cur)
        return LAYOUT_UNKNOWN;
    uc_off = find_word(&cur, &ctx);
    if (uc_off < (ptrdiff_t)sizeof(unw_word_t))
        return LAYOUT_UNKNOWN;
    g_validate_off = uc_off - (ptrdiff_t)sizeof(unw_word_t);
    memcpy(&flag, (const char *)&cur + g_validate_off, sizeof(flag));
    return flag == 0 ? LAYOUT_FIELD : LAYOUT_UNKNOWN;
}

/* One word of this process's memory, or -1 where reading would fault. */
static int read_checked(unw_word_t addr, unw_word_t *val)
{
    struct iovec local = {val, sizeof(*val)};
    struct iovec remote = {(void *)(uintptr_t)addr, sizeof(*val)};
    int saved = errno;
    ssize_t n;

    if (!g_vm_read_ok)
        return -1; /* no way to check: end the walk here */
    n = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
    errno = saved;
    return n == (ssize_t)sizeof(*val) ? 0 : -1;
}

static int wants_check(const void *arg)
{
    int validate = 0;

    if (g_layout == LAYOUT_TAGGED)
        return (int)((uintptr_t)arg & 1);
    if (arg)
        memcpy(&validate, (const char *)arg + g_validate_off,
               sizeof(validate));
    return validate;
}

/*
 * A fallen-back walk reads the same few stack pages over and over: each
 * page is checked once per walk of ours (pyroscope__tls.walking), so a
 * 270-frame walk makes a handful of system calls, not one per read (4.3
 * million in the 50,000-frame altstack host at 1000 Hz, which then spent
 * all its time in the handler).  Outside our walks nothing is cached.
 */
#define PAGE_OF(a) ((uintptr_t)(a) & ~(uintptr_t)4095)

/*
 * The accessor's own loads and stores: libunwind reads unaligned words
 * (unwind tables) and stack slots beyond any frame of ours, as its own
 * accessor does; sanitizer builds must not take those for our bugs.
 */
#define RAW_ACCESS __attribute__((no_sanitize("address", "undefined")))

RAW_ACCESS static unw_word_t raw_load(unw_word_t addr)
{
    unw_word_t v;

    __builtin_memcpy(&v, (const void *)(uintptr_t)addr, sizeof(v));
    return v;
}

RAW_ACCESS static void raw_store(unw_word_t addr, unw_word_t v)
{
    __builtin_memcpy((void *)(uintptr_t)addr, &v, sizeof(v));
}

static int page_checked(uintptr_t page)
{
    tls_state *t = &pyroscope__tls;
    int i;

    for (i = 0; i < t->good_n; i++)
        if (t->good_pages[i] == page)
            return 1;
    return 0;
}

static void page_ok(uintptr_t page)
{
    tls_state *t = &pyroscope__tls;
    int n = (int)(sizeof(t->good_pages) / sizeof(t->good_pages[0]));

    if (t->good_n < n)
        t->good_pages[t->good_n++] = page;
    else
        t->good_pages[(page >> 12) % (unsigned)n] = page;
}

static int checked_read(unw_word_t addr, unw_word_t *val)
{
    int whole = PAGE_OF(addr) == PAGE_OF(addr + sizeof(*val) - 1);
    int cache = whole && pyroscope__tls.walking;

    if (cache && page_checked(PAGE_OF(addr))) {
        *val = raw_load(addr);
        return 0;
    }
    atomic_fetch_add_explicit(&g_checked, 1, memory_order_relaxed);
    if (read_checked(addr, val) != 0)
        return -1;
    if (cache)
        page_ok(PAGE_OF(addr));
    return 0;
}

static int safe_access_mem(unw_addr_space_t as, unw_word_t addr,
                           unw_word_t *val, int write, void *arg)
{
    (void)as;
    if (write) {
        raw_store(addr, *val);
        return 0;
    }
    if (wants_check(arg))
        return checked_read(addr, val);
    *val = raw_load(addr);
    return 0;
}

/* Around each walk of ours: the handler never samples while a hook's walk
 * is in progress on this thread (the guard), so walks do not nest. */
static void walk_begin(void)
{
    pyroscope__tls.good_n = 0;
    pyroscope__tls.walking = 1;
    atomic_signal_fence(memory_order_seq_cst);
}

static void walk_end(void)
{
    atomic_signal_fence(memory_order_seq_cst);
    pyroscope__tls.walking = 0;
}

unsigned long unwind_checked_reads(void)
{
    return atomic_load(&g_checked);
}

static void safe_reads_setup(void)
{
    unw_accessors_t *acc = unw_get_accessors(unw_local_addr_space);
    unw_word_t probe, got = 0;

    if (!acc || acc->access_mem == safe_access_mem)
        return;
    g_layout = detect_layout();
    if (g_layout == LAYOUT_UNKNOWN) {
        LOG_DEBUG("libunwind's cursor layout is not a known one: its own "
                  "memory checks (through a pipe) stay");
        return;
    }
    g_vm_read_ok = 1;
    probe = (unw_word_t)(uintptr_t)&got;
    if (read_checked((unw_word_t)(uintptr_t)&probe, &got) != 0 ||
        got != probe) {
        g_vm_read_ok = 0;
        LOG_DEBUG("process_vm_readv is not allowed here: walks stop where "
                  "unwind info ends");
    }
    acc->access_mem = safe_access_mem;
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
    safe_reads_setup();
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
    int n;

    if (!loader_lock_check())
        return leaf_only(ucontext, pcs, max);
    walk_begin();
    n = unwind_walk(ucontext, pcs, max, young);
    walk_end();
    return n;
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
    walk_begin();
    n = unw_backtrace(tmp, want);
    walk_end();
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
    walk_begin();
    while (n < max && unw_step(&cursor) > 0) {
        if (unw_get_reg(&cursor, UNW_REG_IP, &ip) < 0 || ip == 0)
            break;
        words[n++] = (uint64_t)ip;
    }
    walk_end();
    return n;
}
