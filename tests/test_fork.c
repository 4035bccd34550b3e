/*
 * fork: prefork-style children keep being profiled (fresh threads, timers,
 * buffers; pid tag updated) even when other threads hammer our locks at
 * fork time; with PYROSCOPE_FORK_STOP children run unprofiled.
 *
 * Under ASan there is no hammering: gcc 12's ASan allocator is not
 * fork-safe (a child inherits its lock held by whichever parent thread was
 * allocating, ours included, and hangs in its first malloc), and interning
 * new tag sets allocates.  Nor does the first fork come before our collector
 * has loaded the symbol tables.  glibc's malloc is fork-safe, so the plain build
 * keeps the full test.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/core.h"
#include "pyroscope.h"
#include "support/decode.h"
#include "support/test.h"
#include "support/workload.h"

static atomic_int g_stop;

/* New tag sets all the time: the table lock is taken constantly. */
static void *hammer(void *arg)
{
    char v[32];
    long i = 0;

    (void)arg;
    while (!atomic_load(&g_stop)) {
        pyroscope_tag t[] = {{"req", v}};
        snprintf(v, sizeof(v), "r%ld", i++ % 3000);
        if (pyroscope_scope_push(t, 1) == 0)
            pyroscope_scope_pop();
        free(malloc(64 + (size_t)(i % 4096)));
    }
    return NULL;
}

static pyroscope *start(const char *dir, int mode, char *pidbuf)
{
    pyroscope_config cfg = PYROSCOPE_CONFIG_INIT;
    static char url[300];
    static pyroscope_tag tags[1];
    pyroscope *p;

    snprintf(url, sizeof(url), "file://%s", dir);
    snprintf(pidbuf, 32, "%ld", (long)getpid());
    tags[0].key = "pid";
    tags[0].value = pidbuf;
    cfg.application_name = "test_fork";
    cfg.server_address = url;
    cfg.upload_interval_ms = 60000;
    cfg.fork_mode = mode;
    cfg.tags = tags;
    cfg.tags_count = 1;
    ASSERT_EQ(pyroscope_start(&p, &cfg), 0);
    return p;
}

static void child_main(int expect_profiling)
{
    pyroscope_tag t[] = {{"role", "child"}};
    pyroscope *p;

    alarm(30); /* a deadlock kills the child; the parent sees it */
    /* The restart is lazy (not inside fork()): wait for it. */
    if (expect_profiling)
        while (!pyroscope_current() && pyroscope__restart_pending())
            usleep(1000);
    else if (pyroscope__restart_pending())
        _exit(5);
    p = pyroscope_current();
    if ((p != NULL) != expect_profiling)
        _exit(3);
    if (pyroscope_scope_push(t, 1) != 0) /* the tag table lock works */
        _exit(4);
    usleep(150 * 1000);
    work_gamma(0.3);
    pyroscope_scope_pop();
    if (p)
        pyroscope_stop(p);
    _exit(0);
}

/* lazy: the zero-code mode's restart, 20 ms after fork() in a thread of
 * the child, instead of inside fork(). */
static void test_prefork(int lazy)
{
    char *dir = wl_tempdir("fork"), pid[32], want[32], **files;
    pthread_t h[2];
    pyroscope *p = start(dir, PYROSCOPE_FORK_CONTINUE, pid);
    int children = 8, status, found = 0, hammers = 2;
    pid_t kids[8];

    atomic_store(&g_stop, 0);
    pyroscope__fork_lazy(lazy);
#ifdef __SANITIZE_ADDRESS__
    /* Also let our collector finish loading symbol tables (a flush waits
     * for it), which allocates a lot right after start. */
    hammers = 0;
    ASSERT_EQ(pyroscope_flush(p, 0), 0);
#endif
    for (int i = 0; i < hammers; i++)
        pthread_create(&h[i], NULL, hammer, NULL);
    for (int i = 0; i < children; i++) {
        usleep(20 * 1000);
        kids[i] = fork();
        if (kids[i] == 0)
            child_main(1);
    }
    for (int i = 0; i < children; i++) {
        ASSERT(waitpid(kids[i], &status, 0) == kids[i]);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            FAILF("child %d: status %d", i, status);
    }
    atomic_store(&g_stop, 1);
    for (int i = 0; i < hammers; i++)
        pthread_join(h[i], NULL);
    pyroscope_stop(p);
    /* The first child's profile carries its own pid, not the parent's. */
    snprintf(want, sizeof(want), "%ld", (long)kids[0]);
    files = wl_list(dir, ".cpu.");
    for (char **f = files; *f; f++) {
        pb_profile *prof = decode_profile_file(*f);
        ASSERT(prof != NULL);
        ASSERT_EQ(pb_sum_with_label(prof, 0, "work_gamma", "pid", pid), 0);
        if (pb_sum_with_label(prof, 0, "work_gamma", "pid", want) >= 20 &&
            pb_sum_with_label(prof, 0, "work_gamma", "role", "child") >= 20)
            found = 1;
        decode_free(prof);
    }
    wl_free_list(files);
    ASSERT(found);
    free(dir);
    pyroscope__fork_lazy(0);
    printf("ok - %d children forked (%d threads hammering our locks), "
           "profiled with their own pid%s\n", children, hammers,
           lazy ? " (lazy restart)" : "");
}

static void test_fork_stop(void)
{
    char *dir = wl_tempdir("forkstop"), pid[32];
    pyroscope *p = start(dir, PYROSCOPE_FORK_STOP, pid);
    int status;
    pid_t kid = fork();

    if (kid == 0)
        child_main(0);
    ASSERT(waitpid(kid, &status, 0) == kid);
    ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ASSERT(pyroscope_current() == p); /* the parent is unaffected */
    pyroscope_stop(p);
    free(dir);
    TEST_OK("FORK_STOP: child runs unprofiled");
}

int main(void)
{
    test_prefork(0);
    test_prefork(1);
    test_fork_stop();
    return 0;
}
