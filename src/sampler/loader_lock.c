/*
 * Why an unwind looks at the loader's lock first.
 *
 * libunwind finds unwind tables with dl_iterate_phdr(), which takes glibc's
 * dl_load_write_lock, a recursive mutex.  glibc takes such a mutex by first
 * taking the lock word and only then recording the owner (and on release
 * clears the owner before the word).  A CPU-timer signal that lands on a
 * thread between those two steps, inside dlopen or dlclose or the host's
 * own dl_iterate_phdr, makes the handler's dl_iterate_phdr see a lock held
 * by "nobody": it waits on its own thread for good (the dlopen hostile host
 * hung 1 run in 1260 with gdb showing exactly that).  A host thread that
 * holds the lock while its callback waits on a lock the interrupted code
 * holds would hang the two threads on each other the same way.
 *
 * So before it unwinds, a sampler waits (spinning, for at most
 * LOADER_WAIT_NS) until the lock is free or properly held by its own
 * thread (a signal inside a dl_iterate_phdr callback: the lock is
 * recursive).  Short holds (another walk's table lookup, an exception's
 * FDE search, a dlopen's list update) end well inside the bound; a lock
 * that stays half taken or held elsewhere runs it out, and that sample
 * keeps its weight and its leaf frame only (unwind.c).
 *
 * What is left: a host thread that takes the lock during our walk (after
 * the check) and then waits on us.  Closing that needs the walk to hold the
 * lock, and that serialises every sampler behind one lock: a holder
 * preempted on a loaded machine stalled all the others for 25-500 ms, and
 * 128 busy threads on 2 CPUs lost 8-14% of their stacks.  The check fixes
 * the hang that was seen; the race needs a host callback that blocks, in
 * the ~25 us of a walk.
 *
 * The lock's address is private to the loader: we find it once by asking
 * dl_iterate_phdr to hold it, and looking in ld.so's _rtld_global for the
 * recursive mutex that this thread owns inside the callback and not
 * outside.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "loader_lock.h"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../common/util.h"

/* Longer than a short hold, short against a 1 ms period. */
#define LOADER_WAIT_NS 100000

/* The head of glibc's struct __pthread_mutex_s (x86-64 and aarch64). */
typedef struct mutex_head {
    int lock;
    unsigned int count;
    int owner;
    unsigned int nusers;
    int kind;
} mutex_head;

#define MAX_CANDIDATES 4

typedef struct scan {
    const unsigned char *base;
    size_t size;
    pid_t tid;
    const mutex_head *found[MAX_CANDIDATES];
    int n;
} scan;

static const mutex_head *_Atomic g_lock;

#ifdef __GLIBC__ /* the lock's layout and _rtld_global are glibc's */
static int owned_by(const mutex_head *m, pid_t tid)
{
    return m->lock != 0 && m->owner == tid && m->count >= 1 &&
           (m->kind & 0x7f) == PTHREAD_MUTEX_RECURSIVE_NP;
}

static int held_inside(struct dl_phdr_info *info, size_t size, void *data)
{
    scan *s = data;
    size_t off;

    (void)info, (void)size;
    for (off = 0; off + sizeof(mutex_head) <= s->size;
         off += _Alignof(pthread_mutex_t)) {
        const mutex_head *m = (const void *)(s->base + off);

        if (owned_by(m, s->tid) && s->n < MAX_CANDIDATES)
            s->found[s->n++] = m;
    }
    return 1; /* the first object is enough: the lock is held now */
}

/* ld.so's _rtld_global, where its locks live, and its size. */
static int rtld_global(const unsigned char **base, size_t *size)
{
    void *sym = dlsym(RTLD_DEFAULT, "_rtld_global");
    const ElfW(Sym) *ent = NULL;
    Dl_info info;

    if (!sym || !dladdr1(sym, &info, (void **)&ent, RTLD_DL_SYMENT) ||
        !ent || ent->st_size < sizeof(mutex_head))
        return 0;
    *base = sym;
    *size = ent->st_size;
    return 1;
}


/* The lock, recognised among the candidates found inside the callback. */
static const mutex_head *pick(const scan *s)
{
    const mutex_head *lock = NULL;
    int i;

    /* Locks this thread held before the call (we may run inside dlopen,
     * from a constructor) are still held now: not the one we want. */
    for (i = 0; i < s->n; i++)
        if (!owned_by(s->found[i], s->tid)) {
            if (lock)
                return NULL; /* two candidates: cannot tell */
            lock = s->found[i];
        }
    return lock;
}

#endif /* __GLIBC__ */

int loader_lock_find(void)
{
#ifdef __GLIBC__
    scan s = {0};
    const mutex_head *lock;

    if (atomic_load(&g_lock))
        return 1;
    if (!rtld_global(&s.base, &s.size))
        return 0;
    s.tid = (pid_t)syscall(SYS_gettid);
    dl_iterate_phdr(held_inside, &s);
    lock = pick(&s);
    if (!lock)
        return 0;
    atomic_store(&g_lock, lock);
    return 1;
#else
    return 0; /* another libc: no lock known, unwinds go on as before */
#endif
}

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static atomic_uint_fast64_t g_gave_up;

/* Free, or held by this thread with its owner recorded. */
static int usable(const mutex_head *m, pid_t *self)
{
    int owner;

    if (__atomic_load_n(&m->lock, __ATOMIC_ACQUIRE) == 0)
        return 1;
    owner = __atomic_load_n(&m->owner, __ATOMIC_RELAXED);
    if (owner == 0)
        return 0; /* half taken or half released */
    if (!*self)
        *self = (pid_t)syscall(SYS_gettid);
    return owner == *self;
}

int loader_lock_check(void)
{
    const mutex_head *m = atomic_load_explicit(&g_lock, memory_order_relaxed);
    uint64_t start;
    pid_t self = 0;
    int i;

    if (!m || usable(m, &self))
        return 1;
    start = time_mono_ns();
    do {
        for (i = 0; i < 64; i++)
            cpu_relax();
        if (usable(m, &self))
            return 1;
    } while (time_mono_ns() - start < LOADER_WAIT_NS);
    atomic_fetch_add_explicit(&g_gave_up, 1, memory_order_relaxed);
    return 0;
}

uint64_t loader_lock_gave_up(void)
{
    return atomic_load_explicit(&g_gave_up, memory_order_relaxed);
}
