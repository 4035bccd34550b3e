/* Minimal assertion helpers: print both sides and exit non-zero. */
#ifndef PYROSCOPE_TEST_H
#define PYROSCOPE_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAILF(...)                                                            \
    do {                                                                      \
        fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                       \
        fprintf(stderr, __VA_ARGS__);                                         \
        fprintf(stderr, "\n");                                                \
        exit(1);                                                              \
    } while (0)

#define ASSERT(c)                                                             \
    do {                                                                      \
        if (!(c))                                                             \
            FAILF("assertion failed: %s", #c);                                \
    } while (0)

#define ASSERT_EQ(a, b)                                                       \
    do {                                                                      \
        long long a_ = (long long)(a), b_ = (long long)(b);                   \
        if (a_ != b_)                                                         \
            FAILF("%s == %s failed: %lld != %lld", #a, #b, a_, b_);           \
    } while (0)

#define ASSERT_STR_EQ(a, b)                                                   \
    do {                                                                      \
        const char *a_ = (a), *b_ = (b);                                      \
        if (!a_ || !b_ || strcmp(a_, b_))                                     \
            FAILF("%s == %s failed: '%s' != '%s'", #a, #b, a_ ? a_ : "(null)", \
                  b_ ? b_ : "(null)");                                        \
    } while (0)

#define ASSERT_NEAR(a, b, tol)                                                \
    do {                                                                      \
        double a_ = (a), b_ = (b);                                            \
        if (a_ - b_ > (tol) || b_ - a_ > (tol))                               \
            FAILF("%s ~ %s failed: %.4f vs %.4f (tolerance %.4f)", #a, #b,    \
                  a_, b_, (double)(tol));                                     \
    } while (0)

/*
 * ASan and TSan own malloc and the pthread locks, so sanitizer builds of the
 * library do not interpose them: heap/lock modes other than "off" are
 * skipped (exit 77, ctest's SKIP_RETURN_CODE).
 */
/* Whether this build of the library interposes malloc and the locks. */
static inline int hooks_interposed(void)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    return 0;
#else
    return 1;
#endif
}

/*
 * Whether a child forked while the profiler runs may allocate.  ASan's
 * allocator (GCC 12) has no fork handlers: a child cloned while one of the
 * profiler's threads was inside malloc finds the allocator's lock held for
 * good, and the library restarts itself in the child.  glibc's malloc, and
 * jemalloc and tcmalloc, take their locks across fork.
 */
static inline int fork_may_allocate(void)
{
#if defined(__SANITIZE_ADDRESS__)
    return 0;
#else
    return 1;
#endif
}

static inline void skip_hooks_if_sanitized(const char *mode)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    if (strcmp(mode, "off") != 0) {
        printf("skip - %s: ASan/TSan own malloc and the pthread locks, so "
               "sanitizer builds of the library do not interpose them\n",
               mode);
        exit(77);
    }
#else
    (void)mode;
#endif
}

#define TEST_OK(name) printf("ok - %s\n", name)

#endif
