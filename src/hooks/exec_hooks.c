/*
 * exec* interposition: in, the application's calls that replace the
 * process image; out, the same calls, bracketed by sampler_exec_prepare()
 * and sampler_exec_failed() so that no CPU-time signal of ours is pending
 * when the new image starts (it would be killed by it: cpu.c says why).
 *
 * glibc's execv, execvp, execl... call its internal execve directly, not
 * through the exported symbol, so each entry point is wrapped.  The next
 * definitions are looked up at load time: an exec may come from a vfork
 * child, where dlsym (which may allocate or lock) must not run.
 */
#include "exec_hooks.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <unistd.h>

#include "../sampler/sampler.h"

#define EXPORT __attribute__((visibility("default")))

typedef int (*execve_fn)(const char *, char *const[], char *const[]);
typedef int (*execv_fn)(const char *, char *const[]);
typedef int (*fexecve_fn)(int, char *const[], char *const[]);
typedef int (*execveat_fn)(int, const char *, char *const[], char *const[],
                           int);

static struct {
    execve_fn execve, execvpe;
    execv_fn execv, execvp;
    fexecve_fn fexecve;
    execveat_fn execveat;
} g_next;

static void *next(const char *name)
{
    return dlsym(RTLD_NEXT, name);
}

__attribute__((constructor)) static void exec_hooks_init(void)
{
    g_next.execve = (execve_fn)next("execve");
    g_next.execvpe = (execve_fn)next("execvpe");
    g_next.execv = (execv_fn)next("execv");
    g_next.execvp = (execv_fn)next("execvp");
    g_next.fexecve = (fexecve_fn)next("fexecve");
    g_next.execveat = (execveat_fn)next("execveat");
}

/* An exec before our constructor ran (another library's constructor):
 * look up then; no vfork child can exist yet that we know of. */
#define NEXT(fn)                                                              \
    (g_next.fn ? g_next.fn : (exec_hooks_init(), g_next.fn))

/* The call failed (or no next definition exists): errno says why. */
static int missing(void)
{
    errno = ENOSYS;
    return -1;
}

/* Every vector form: `call` (the next definition `f`) between the
 * sampler's prepare and, if it returns, its re-arm. */
#define BRACKETED(f, call)                                                    \
    do {                                                                      \
        int stopped_, rc_;                                                    \
        if (!(f))                                                             \
            return missing();                                                 \
        stopped_ = sampler_exec_prepare();                                    \
        rc_ = (call);                                                         \
        sampler_exec_failed(stopped_);                                        \
        return rc_;                                                           \
    } while (0)

EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
    execve_fn f = NEXT(execve);

    BRACKETED(f, f(path, argv, envp));
}

EXPORT int execv(const char *path, char *const argv[])
{
    execv_fn f = NEXT(execv);

    BRACKETED(f, f(path, argv));
}

EXPORT int execvp(const char *file, char *const argv[])
{
    execv_fn f = NEXT(execvp);

    BRACKETED(f, f(file, argv));
}

EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
    execve_fn f = NEXT(execvpe);

    BRACKETED(f, f(file, argv, envp));
}

EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
    fexecve_fn f = NEXT(fexecve);

    BRACKETED(f, f(fd, argv, envp));
}

EXPORT int execveat(int dirfd, const char *path, char *const argv[],
                    char *const envp[], int flags)
{
    execveat_fn f = NEXT(execveat);

    BRACKETED(f, f(dirfd, path, argv, envp, flags));
}

/*
 * The list forms: the arguments are gathered into an array on the stack
 * (as libc's own execl does) and handed to the vector forms above, which
 * do the bracketing.  With `with_env` the pointer after the NULL is envp.
 */
/* Arguments from arg0 up to the NULL: 0 when arg0 is that NULL. */
static size_t count_args(const char *arg0, va_list ap)
{
    size_t n = 0;
    va_list c;

    if (!arg0)
        return 0;
    va_copy(c, ap);
    for (n = 1; va_arg(c, const char *); n++)
        ;
    va_end(c);
    return n;
}

/* Fill argv[0..n] (NULL-terminated) and step over the terminating NULL,
 * so that for execle the next argument is envp. */
static void gather(char **argv, size_t n, const char *arg0, va_list *ap)
{
    size_t i;

    if (n)
        argv[0] = (char *)arg0;
    for (i = 1; i < n; i++)
        argv[i] = va_arg(*ap, char *);
    argv[n] = NULL;
    if (n)
        (void)va_arg(*ap, char *);
}

EXPORT int execl(const char *path, const char *arg0, ...)
{
    va_list ap;
    size_t n;

    va_start(ap, arg0);
    n = count_args(arg0, ap);
    {
        char *argv[n + 1];
        gather(argv, n, arg0, &ap);
        va_end(ap);
        return execv(path, argv);
    }
}

EXPORT int execlp(const char *file, const char *arg0, ...)
{
    va_list ap;
    size_t n;

    va_start(ap, arg0);
    n = count_args(arg0, ap);
    {
        char *argv[n + 1];
        gather(argv, n, arg0, &ap);
        va_end(ap);
        return execvp(file, argv);
    }
}

EXPORT int execle(const char *path, const char *arg0, ...)
{
    va_list ap;
    size_t n;

    va_start(ap, arg0);
    n = count_args(arg0, ap);
    {
        char *argv[n + 1];
        char *const *envp;
        gather(argv, n, arg0, &ap);
        envp = va_arg(ap, char *const *);
        va_end(ap);
        return execve(path, argv, envp);
    }
}
