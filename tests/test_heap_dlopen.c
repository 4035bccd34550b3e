/*
 * A binding's view: libpyroscope.so dlopen'ed (RTLD_LOCAL), as Python,
 * Ruby and Node load their extensions.  Its malloc hooks then come after
 * libc's and never run, and the binding reports allocations itself with
 * pyroscope_heap_alloc/free.
 *
 *   test_heap_dlopen LIB   64 MiB of plain malloc record no heap sample;
 *                          64 MiB reported through the API at a 16 KiB
 *                          mean give the expected number of samples
 *                          (within 5 standard deviations)
 *
 * Deliberately not linked with the library or the test support code
 * (which links the static library and would interpose malloc itself).
 */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pyroscope.h"

#define INTERVAL (16 * 1024)
#define MB (1024 * 1024)

#define CHECK(c)                                                              \
    do {                                                                      \
        if (!(c)) {                                                           \
            fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #c);   \
            exit(1);                                                          \
        }                                                                     \
    } while (0)

typedef struct api {
    int (*start)(pyroscope **, const pyroscope_config *);
    void (*stop)(pyroscope *);
    int (*flush)(pyroscope *, int);
    int (*stats)(pyroscope *, pyroscope_stats *);
    void (*alloc)(void *, size_t);
    void (*free)(void *);
    int (*interposed)(void);
} api;

static void *must(void *lib, const char *name)
{
    void *f = dlsym(lib, name);

    if (!f) {
        fprintf(stderr, "%s: %s\n", name, dlerror());
        exit(1);
    }
    return f;
}

static uint64_t heap_samples(const api *a, pyroscope *p)
{
    pyroscope_stats st;

    CHECK(a->flush(p, 5000) == 0);
    CHECK(a->stats(p, &st) == 0);
    printf("heap samples %llu, dropped %llu\n",
           (unsigned long long)st.heap_samples,
           (unsigned long long)st.samples_dropped);
    return st.heap_samples + st.samples_dropped;
}

int main(int argc, char **argv)
{
    pyroscope_config cfg = PYROSCOPE_CONFIG_INIT;
    char dir[] = "/tmp/pyroscope-heap-dlopen-XXXXXX", url[64];
    double expect = 0;
    uint64_t plain, reported;
    void *lib, *keep;
    pyroscope *p;
    api a;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    printf("skipped: sanitizer builds have no heap hooks\n");
    return 77;
#endif
    CHECK(argc > 1 && mkdtemp(dir));
    lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 1;
    }
    a.start = (int (*)(pyroscope **, const pyroscope_config *))must(
        lib, "pyroscope_start");
    a.stop = (void (*)(pyroscope *))must(lib, "pyroscope_stop");
    a.flush = (int (*)(pyroscope *, int))must(lib, "pyroscope_flush");
    a.stats = (int (*)(pyroscope *, pyroscope_stats *))must(
        lib, "pyroscope_get_stats");
    a.alloc = (void (*)(void *, size_t))must(lib, "pyroscope_heap_alloc");
    a.free = (void (*)(void *))must(lib, "pyroscope_heap_free");
    a.interposed = (int (*)(void))must(lib, "pyroscope_heap_interposed");
    snprintf(url, sizeof(url), "file://%s", dir);
    cfg.application_name = "test_heap_dlopen";
    cfg.server_address = url;
    cfg.upload_interval_ms = 60000;
    cfg.profile_types = PYROSCOPE_PROFILE_HEAP;
    cfg.heap_sample_interval = INTERVAL;
    CHECK(a.start(&p, &cfg) == 0);
    CHECK(a.interposed() == 0);
    for (size_t total = 0; total < 64 * MB; total += 4096)
        free(malloc(4096));
    plain = heap_samples(&a, p);
    CHECK(plain == 0); /* malloc does not reach the dlopen'ed hooks */
    keep = malloc(1 << 20);
    a.alloc(keep, 1 << 20); /* sampled almost surely, stays live */
    expect += 1 - exp(-(double)(1 << 20) / INTERVAL);
    for (size_t total = 0, n; total < 64 * MB; total += n) {
        void *b;
        n = 64 + total % 8000;
        b = malloc(n);
        a.alloc(b, n);
        expect += 1 - exp(-(double)n / INTERVAL);
        a.free(b);
        free(b);
    }
    reported = heap_samples(&a, p) - plain;
    printf("reported: %llu samples, expected %.0f\n",
           (unsigned long long)reported, expect);
    CHECK(fabs((double)reported - expect) < 5 * sqrt(expect));
    a.free(keep);
    free(keep);
    a.stop(p);
    printf("ok - dlopen'ed library: heap samples through the API only\n");
    return 0;
}
