#include "thread_hooks.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "../common/tls.h"
#include "../sampler/sampler.h"

typedef int (*create_fn)(pthread_t *, const pthread_attr_t *,
                         void *(*)(void *), void *);

typedef struct start_ctx {
    void *(*fn)(void *);
    void *arg;
    uintptr_t start_ret; /* return address into libc's start_thread */
    int small_stack;     /* look the stack's bounds up (tls_stack_low) */
} start_ctx;

/* Below this a thread's stack is small enough that our unwinding could
 * overflow it when the thread is deep: its bounds are recorded. */
#define SMALL_STACK (1024 * 1024)

static _Atomic(create_fn) g_real;
static pthread_key_t g_exit_key;
static pthread_once_t g_key_once = PTHREAD_ONCE_INIT;
static int g_key_ok;
static atomic_ulong g_started;

/*
 * The next pthread_create in lookup order: libc's, or another interposer's
 * (a sanitizer, a second profiler).  dlsym may allocate, which is fine
 * here (never in a signal handler); two threads racing store the same
 * pointer.  The default version is the current one (GLIBC_2.34 on
 * x86-64); the older ones only differ for binaries linked long ago, which
 * bind to their own version through ours being unversioned.
 */
static create_fn real_create(void)
{
    create_fn f = atomic_load_explicit(&g_real, memory_order_acquire);

    if (f)
        return f;
    f = (create_fn)dlsym(RTLD_NEXT, "pthread_create");
#ifdef __GLIBC__ /* musl has one version of everything and no dlvsym */
    if (!f)
        f = (create_fn)dlvsym(RTLD_NEXT, "pthread_create", "GLIBC_2.2.5");
#endif
    if (f)
        atomic_store_explicit(&g_real, f, memory_order_release);
    return f;
}

static void *thread_trampoline(void *p);

static void free_ctx(start_ctx *c)
{
    pyroscope__tls.hook_depth++; /* our own allocation is not profiled */
    free(c);
    pyroscope__tls.hook_depth--;
}

/* pthread_exit() or cancellation: the trampoline's own exit path does not
 * run, the key's destructor does. */
static void on_exit_key(void *p)
{
    start_ctx *c = p;

    sampler_thread_end((uintptr_t)c->fn, (uintptr_t)thread_trampoline,
                       c->start_ret);
    free_ctx(c);
}

static void make_key(void)
{
    g_key_ok = pthread_key_create(&g_exit_key, on_exit_key) == 0;
}

/* Whether the new thread's stack is small: from its attributes, else the
 * process default (ulimit -s, pthread_setattr_default_np).  Cheap: no
 * syscall, so thread churn does not pay for it. */
static int stack_is_small(const pthread_attr_t *attr)
{
    pthread_attr_t def;
    size_t size = 0;

    if (attr)
        return pthread_attr_getstacksize(attr, &size) == 0 &&
               size < SMALL_STACK;
#ifdef __GLIBC__
    if (pthread_getattr_default_np(&def) != 0)
        return 0;
    if (pthread_attr_getstacksize(&def, &size) != 0)
        size = SMALL_STACK;
    pthread_attr_destroy(&def);
    return size < SMALL_STACK;
#else
    (void)def;
    return 1; /* musl's default is 128 KiB */
#endif
}

/* Records the calling thread's lowest stack address for tls_stack_low.
 * pthread_getattr_np may allocate: the guard keeps that unprofiled. */
static void record_stack_bounds(void)
{
    pthread_attr_t a;
    void *lo;
    size_t size;

    pyroscope__tls.hook_depth++;
    if (pthread_getattr_np(pthread_self(), &a) == 0) {
        if (pthread_attr_getstack(&a, &lo, &size) == 0)
            pyroscope__tls.stack_lo = (uintptr_t)lo;
        pthread_attr_destroy(&a);
    }
    pyroscope__tls.hook_depth--;
}

/* Named in profiles: the frame above every sampled thread's function,
 * and the one our own arming cost shows under. */
__attribute__((noinline)) static void *thread_trampoline(void *p)
{
    start_ctx *c = p;
    void *ret;

    c->start_ret = (uintptr_t)__builtin_return_address(0);
    atomic_fetch_add_explicit(&g_started, 1, memory_order_relaxed);
    if (g_key_ok)
        pthread_setspecific(g_exit_key, c);
    if (c->small_stack)
        record_stack_bounds();
    sampler_thread_begin((uintptr_t)thread_trampoline, c->start_ret);
    ret = c->fn(c->arg);
    if (g_key_ok)
        pthread_setspecific(g_exit_key, NULL);
    sampler_thread_end((uintptr_t)c->fn, (uintptr_t)thread_trampoline,
                       c->start_ret);
    free_ctx(c);
    return ret;
}

/* Keeps the trampoline frame in the stacks: it must not become a tail
 * call (its caller's return address is what start_ret records). */
__attribute__((visibility("default"))) int
pthread_create(pthread_t *t, const pthread_attr_t *attr,
               void *(*fn)(void *), void *arg)
{
    create_fn real = real_create();
    start_ctx *c;
    int rc;

    if (!real)
        return EAGAIN;
    /* Not profiling (yet, or any more), or one of our own threads: the
     * plain call, nothing allocated. */
    if (!sampler_thread_wanted())
        return real(t, attr, fn, arg);
    pthread_once(&g_key_once, make_key);
    pyroscope__tls.hook_depth++;
    c = malloc(sizeof(*c));
    pyroscope__tls.hook_depth--;
    if (!c)
        return real(t, attr, fn, arg);
    c->fn = fn;
    c->arg = arg;
    c->start_ret = 0;
    c->small_stack = stack_is_small(attr);
    rc = real(t, attr, thread_trampoline, c);
    if (rc != 0)
        free_ctx(c);
    return rc;
}

unsigned long thread_hooks_started(void)
{
    return atomic_load(&g_started);
}
