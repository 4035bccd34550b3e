/*
 * Why an unwind takes the loader's lock first, and never waits for it.
 *
 * libunwind finds unwind tables with dl_iterate_phdr(), which takes glibc's
 * dl_load_write_lock, a recursive mutex.  glibc takes such a mutex by first
 * taking the lock word and only then recording the owner (and on release
 * clears the owner before the word).  A CPU-timer signal that lands on a
 * thread between those two steps, inside dlopen or dlclose or the host's
 * own dl_iterate_phdr, makes the handler's dl_iterate_phdr see a lock held
 * by "nobody": it waits on its own thread for good (the dlopen hostile host
 * hung 1 run in 1260 with gdb showing exactly that).  Another thread that
 * holds the lock may in turn wait on a lock the interrupted code holds.
 *
 * Checking the lock first and unwinding next leaves a window for another
 * thread to take it in between (the test for this hung 1 run in 8 that
 * way).  So the handler takes the lock itself with a trylock before it
 * unwinds, and skips the sample when that fails (its CPU time goes to the
 * thread's next one).  A trylock never waits: it succeeds on a free lock,
 * counts one more on a lock this thread properly holds (a signal inside
 * dl_iterate_phdr's callback), and fails on a lock half taken or released.
 * libunwind's own dl_iterate_phdr then takes it again, recursively.
 *
 * The lock's address is private to the loader: we find it once by asking
 * dl_iterate_phdr to hold it, and looking in ld.so's _rtld_global for the
 * recursive mutex that this thread owns inside the callback and not
 * outside.  The trylock and unlock are libc's own, looked up then: the
 * library's lock hooks must not see them.
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

typedef int (*mutex_fn)(pthread_mutex_t *);
static mutex_fn g_trylock, g_unlock;

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

int loader_lock_find(void)
{
    scan s = {0};
    const mutex_head *lock;

    if (atomic_load(&g_lock))
        return 1;
    *(void **)&g_trylock = dlsym(RTLD_NEXT, "pthread_mutex_trylock");
    *(void **)&g_unlock = dlsym(RTLD_NEXT, "pthread_mutex_unlock");
    if (!g_trylock || !g_unlock || !rtld_global(&s.base, &s.size))
        return 0;
    s.tid = (pid_t)syscall(SYS_gettid);
    dl_iterate_phdr(held_inside, &s);
    lock = pick(&s);
    if (!lock)
        return 0;
    atomic_store(&g_lock, lock);
    return 1;
}

int loader_lock_try(void)
{
    const mutex_head *m = atomic_load_explicit(&g_lock, memory_order_relaxed);

    if (!m)
        return 0;
    return g_trylock((pthread_mutex_t *)(uintptr_t)m) == 0 ? 1 : -1;
}

void loader_lock_release(void)
{
    const mutex_head *m = atomic_load_explicit(&g_lock, memory_order_relaxed);

    g_unlock((pthread_mutex_t *)(uintptr_t)m);
}
