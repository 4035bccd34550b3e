#include "fdguard.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../common/util.h"

#define WORDS (FDGUARD_MAX / 64)

/* One bit per descriptor: a lock-free test on every host close(). */
static _Atomic uint64_t g_bits[WORDS];
/* Words in use are below this: fork's child reads no further (untouched
 * pages would each be a page fault in a child that only execs). */
static atomic_int g_top;

/* FDGUARD() calls in flight (fdguard.h). */
static atomic_int g_opening;

typedef int (*close_fn)(int);
static _Atomic(close_fn) g_next_close;

static int in_range(int fd)
{
    return fd >= 0 && fd < FDGUARD_MAX;
}

int fdguard_owned(int fd)
{
    uint64_t w;

    if (!in_range(fd))
        return 0;
    w = atomic_load_explicit(&g_bits[fd / 64], memory_order_acquire);
    return (int)((w >> (fd % 64)) & 1);
}

long fdguard_next_owned(unsigned first, unsigned last)
{
    unsigned fd = first;

    while (fd <= last && fd < FDGUARD_MAX) {
        uint64_t w = atomic_load_explicit(&g_bits[fd / 64],
                                          memory_order_acquire);

        w >>= fd % 64; /* bits from fd up in this word */
        if (w) {
            fd += (unsigned)__builtin_ctzll(w);
            return fd <= last && fd < FDGUARD_MAX ? (long)fd : -1;
        }
        fd = (fd / 64 + 1) * 64;
    }
    return -1;
}

static int own(int fd)
{
    int top;

    if (!in_range(fd))
        return fd;
    atomic_fetch_or(&g_bits[fd / 64], (uint64_t)1 << (fd % 64));
    top = atomic_load(&g_top);
    while (fd / 64 >= top &&
           !atomic_compare_exchange_weak(&g_top, &top, fd / 64 + 1))
        ;
    return fd;
}

void fdguard_begin(void)
{
    atomic_fetch_add(&g_opening, 1);
}

int fdguard_end(int fd)
{
    int saved = errno;

    own(fd);
    atomic_fetch_sub(&g_opening, 1);
    errno = saved;
    return fd;
}

void fdguard_settle(void)
{
    uint64_t give_up;

    if (!atomic_load(&g_opening))
        return;
    /* An open of ours that blocks: the host's close goes on after 10 ms. */
    give_up = time_mono_ns() + 10000000ull;
    while (atomic_load(&g_opening) && time_mono_ns() < give_up)
        sched_yield();
}

static void disown(int fd)
{
    if (in_range(fd))
        atomic_fetch_and(&g_bits[fd / 64], ~((uint64_t)1 << (fd % 64)));
}

static int sys_close(int fd)
{
    return (int)syscall(SYS_close, fd);
}

int fdguard_real_close(int fd)
{
    close_fn f = atomic_load_explicit(&g_next_close, memory_order_acquire);

    if (!f) {
        /* dlsym may allocate: normally done by fdguard_init. */
        f = (close_fn)dlsym(RTLD_NEXT, "close");
        if (!f)
            f = sys_close;
        atomic_store_explicit(&g_next_close, f, memory_order_release);
    }
    return f(fd);
}

/* Looked up at load, so that no close of ours (some run in a forked
 * child, or with our locks held) is the one that calls dlsym. */
__attribute__((constructor)) static void fdguard_init(void)
{
    int saved = errno;

    (void)fdguard_real_close(-1); /* resolves; EBADF */
    errno = saved;
}

/*
 * Closed first, unmarked after: in between, a host close() of the same
 * number (now the host's own, if it just opened one) is refused; the other
 * order would let our close hit a number the host reused.
 */
int fdguard_close(int fd)
{
    int rc;

    if (fd < 0)
        return 0;
    rc = fdguard_real_close(fd);
    disown(fd);
    return rc;
}

FILE *fdguard_fopen(const char *path, const char *mode)
{
    FILE *f;

    fdguard_begin();
    f = fopen(path, mode);
    fdguard_end(f ? fileno(f) : -1);
    return f;
}

int fdguard_fclose(FILE *f)
{
    int fd = fileno(f), rc = fclose(f);

    disown(fd);
    return rc;
}

DIR *fdguard_opendir(const char *path)
{
    DIR *d;

    fdguard_begin();
    d = opendir(path);
    fdguard_end(d ? dirfd(d) : -1);
    return d;
}

int fdguard_closedir(DIR *d)
{
    int fd = dirfd(d), rc = closedir(d);

    disown(fd);
    return rc;
}

void fdguard_atfork_child(void)
{
    int w, b;

    atomic_store(&g_opening, 0); /* the threads that opened are gone */
    for (w = 0; w < atomic_load(&g_top); w++) {
        /* Empty words stay unwritten: their pages stay shared (no copy
         * in a child that execs at once). */
        uint64_t bits = atomic_load(&g_bits[w]) ? atomic_exchange(&g_bits[w], 0)
                                                 : 0;

        for (b = 0; bits; b++, bits >>= 1)
            if (bits & 1)
                sys_close(w * 64 + b);
    }
}
