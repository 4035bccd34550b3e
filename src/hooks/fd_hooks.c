/*
 * close, close_range and closefrom: in, the host's calls; out, the same
 * calls minus the descriptors of ours (fdguard.h says why).  A refused
 * close reports success: to the host the number is closed, and the next
 * descriptor it opens gets another number.  dup2/dup3 onto one of ours
 * still replace it (the host asked for that exact number); our next write
 * then fails or lands in the host's file, which is why our descriptors are
 * short-lived where they can be.
 */
#include "fd_hooks.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../fdguard/fdguard.h"

#define EXPORT __attribute__((visibility("default")))

typedef int (*close_range_fn)(unsigned, unsigned, int);
typedef void (*closefrom_fn)(int);

EXPORT int close(int fd)
{
    fdguard_settle();
    if (fdguard_owned(fd))
        return 0;
    return fdguard_real_close(fd);
}

static int next_close_range(unsigned first, unsigned last, int flags)
{
    static close_range_fn f;

    if (!f)
        f = (close_range_fn)dlsym(RTLD_NEXT, "close_range");
    if (f)
        return f(first, last, flags);
#ifdef SYS_close_range
    return (int)syscall(SYS_close_range, first, last, flags);
#else
    errno = ENOSYS;
    return -1;
#endif
}

/* [first, last] in the pieces between our descriptors. */
static int close_pieces(unsigned first, unsigned last, int flags)
{
    long ours;

    fdguard_settle();
    while ((ours = fdguard_next_owned(first, last)) >= 0) {
        if ((unsigned)ours > first &&
            next_close_range(first, (unsigned)ours - 1, flags) != 0)
            return -1;
        if ((unsigned)ours == last)
            return 0;
        first = (unsigned)ours + 1;
    }
    return next_close_range(first, last, flags);
}

EXPORT int close_range(unsigned first, unsigned last, int flags)
{
    if (first > last) {
        errno = EINVAL;
        return -1;
    }
    return close_pieces(first, last, flags);
}

EXPORT void closefrom(int lowfd)
{
    static closefrom_fn f;

    if (lowfd < 0)
        lowfd = 0;
    if (close_pieces((unsigned)lowfd, UINT_MAX, 0) == 0)
        return;
    /* No close_range here (old kernel): one by one, ours skipped. */
    if (!f)
        f = (closefrom_fn)dlsym(RTLD_NEXT, "closefrom");
    if (f && fdguard_next_owned((unsigned)lowfd, UINT_MAX) < 0) {
        f(lowfd);
        return;
    }
    for (long fd = lowfd, max = sysconf(_SC_OPEN_MAX); fd < max; fd++)
        close((int)fd);
}
