/*
 * Coexistence with the application's signals: a handler the application
 * installs on our signal after we started makes us move to another signal
 * (both keep working); syscalls are restarted, not failed with EINTR.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/time.h>
#include <unistd.h>

#include "pyroscope.h"
#include "sampler/sampler.h"
#include "support/test.h"
#include "support/workload.h"

static volatile sig_atomic_t g_app_ticks;
static atomic_int g_eintr;

static void app_handler(int sig)
{
    (void)sig;
    g_app_ticks++;
}

static void test_takeover(void)
{
    pyroscope_config cfg = PYROSCOPE_CONFIG_INIT;
    char *dir = wl_tempdir("sig"), url[300];
    struct itimerval it = {{0, 5000}, {0, 5000}};
    struct sigaction sa;
    pyroscope_stats before, after;
    pyroscope *p;
    int first;

    snprintf(url, sizeof(url), "file://%s", dir);
    cfg.application_name = "test_signals";
    cfg.server_address = url;
    cfg.sample_rate = 500;
    ASSERT_EQ(pyroscope_start(&p, &cfg), 0);
    first = sampler_signal();
    ASSERT_EQ(first, SIGPROF);
    work_alpha(0.2);
    /* The application now claims SIGPROF for itself. */
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = app_handler;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGPROF, &sa, NULL);
    setitimer(ITIMER_PROF, &it, NULL);
    /* The collector notices within a scan (50 ms), later under load. */
    for (double end = wl_mono() + 30; sampler_signal() == SIGPROF &&
                                      wl_mono() < end;)
        usleep(5000);
    ASSERT(sampler_signal() != SIGPROF);
    pyroscope_get_stats(p, &before);
    /* Both must keep working: work until each has seen enough, with a
     * deadline.  A fixed 0.4 s of CPU was too little on a loaded machine,
     * where expirations that meet a pending signal merge into it. */
    g_app_ticks = 0;
    after = before;
    for (double end = wl_mono() + 30;
         (g_app_ticks < 20 || after.samples - before.samples < 50) &&
         wl_mono() < end;) {
        work_alpha(0.1);
        pyroscope_get_stats(p, &after);
    }
    memset(&it, 0, sizeof(it));
    setitimer(ITIMER_PROF, &it, NULL);
    printf("moved from signal %d to %d; app saw %d ticks; we took %llu "
           "samples after the move\n", first, sampler_signal(),
           (int)g_app_ticks,
           (unsigned long long)(after.samples - before.samples));
    ASSERT(g_app_ticks >= 20);
    ASSERT(after.samples - before.samples >= 50);
    pyroscope_stop(p);
    signal(SIGPROF, SIG_DFL);
    free(dir);
    TEST_OK("application takes our signal: we move, both keep working");
}

static int g_pipe[2];

/* Blocks in read() until main writes: the only thread that can take the
 * process-wide profiling signal while main has it blocked. */
static void *reader(void *arg)
{
    char buf[16];
    ssize_t n;

    (void)arg;
    for (;;) {
        n = read(g_pipe[0], buf, sizeof(buf));
        if (n < 0 && errno == EINTR) {
            atomic_fetch_add(&g_eintr, 1);
            continue;
        }
        return NULL;
    }
}

static void test_no_eintr(void)
{
    pyroscope_config cfg = PYROSCOPE_CONFIG_INIT;
    char *dir = wl_tempdir("eintr"), url[300];
    pyroscope_stats st;
    sigset_t set, old;
    pyroscope *p;
    pthread_t r;

    /* setitimer mode: its signal goes to any thread that does not block
     * it, here the one sleeping in read(). */
    setenv("PYROSCOPE_FORCE_ITIMER", "1", 1);
    snprintf(url, sizeof(url), "file://%s", dir);
    cfg.application_name = "test_signals";
    cfg.server_address = url;
    cfg.sample_rate = 1000;
    ASSERT_EQ(pyroscope_start(&p, &cfg), 0);
    ASSERT(sampler_fallback());
    ASSERT_EQ(pipe(g_pipe), 0);
    pthread_create(&r, NULL, reader, NULL);
    sigemptyset(&set);
    sigaddset(&set, SIGPROF);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    /* Until 50 signals landed (a deadline, not a fixed time: on a loaded
     * machine the reader waits to be scheduled and expirations merge). */
    for (double end = wl_mono() + 30; wl_mono() < end;) {
        work_alpha(0.1);
        pyroscope_get_stats(p, &st);
        if (st.samples >= 50)
            break;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    ASSERT_EQ(write(g_pipe[1], "x", 1), 1);
    pthread_join(r, NULL);
    pyroscope_get_stats(p, &st);
    pyroscope_stop(p);
    unsetenv("PYROSCOPE_FORCE_ITIMER");
    close(g_pipe[0]);
    close(g_pipe[1]);
    printf("%llu signals landed on a thread blocked in read(); %d EINTR\n",
           (unsigned long long)st.samples, atomic_load(&g_eintr));
    ASSERT(st.samples >= 50);
    ASSERT_EQ(atomic_load(&g_eintr), 0);
    free(dir);
    TEST_OK("interrupted read() restarted, no EINTR (setitimer fallback)");
}

int main(void)
{
    test_takeover();
    test_no_eintr();
    return 0;
}
