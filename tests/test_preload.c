/*
 * Zero-code mode: an unmodified program run with LD_PRELOAD=libpyroscope.so
 * and PYROSCOPE_* variables is profiled, flushed at exit, survives bad
 * configuration, keeps its own SIGPROF handler working, and its forked child
 * is profiled too.
 *
 *   test_preload LIBPYROSCOPE_SO VICTIM
 */
#include <sys/wait.h>
#include <unistd.h>

#include "support/decode.h"
#include "support/test.h"
#include "support/workload.h"

static const char *g_lib, *g_victim;

/* Run the victim in `mode` with env; return its exit status; stderr and
 * stdout go to `out` (malloc'd). */
static int run(const char *mode, char *const env[], char **out)
{
    char tmpl[] = "/tmp/pyroscope-victim-out-XXXXXX";
    int fd = mkstemp(tmpl), status;
    pid_t pid = fork();
    size_t n;

    if (pid == 0) {
        char *argv[] = {(char *)g_victim, (char *)mode, NULL};
        dup2(fd, 1);
        dup2(fd, 2);
        alarm(60); /* a hang fails the test instead of blocking ctest */
        execve(g_victim, argv, env);
        _exit(127);
    }
    waitpid(pid, &status, 0);
    close(fd);
    *out = (char *)read_file(tmpl, &n);
    (*out)[n] = '\0';
    unlink(tmpl);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

#define ENV(...)                                                              \
    char pre[512], srv[512];                                                  \
    char *env[] = {pre, srv, "PYROSCOPE_APPLICATION_NAME=victim",             \
                   "PYROSCOPE_UPLOAD_INTERVAL=60s", __VA_ARGS__, NULL};       \
    snprintf(pre, sizeof(pre), "LD_PRELOAD=%s", g_lib);                       \
    snprintf(srv, sizeof(srv), "PYROSCOPE_SERVER_ADDRESS=file://%s", dir)

static void test_plain(void)
{
    char *dir = wl_tempdir("preload"), *out;
    int64_t a, b;
    ENV("PYROSCOPE_SAMPLE_RATE=200");

    ASSERT_EQ(run("plain", env, &out), 0);
    a = pb_sum_files(dir, ".cpu.", "victim_hot_a", 0, NULL);
    b = pb_sum_files(dir, ".cpu.", "victim_hot_b", 0, NULL);
    printf("preload: victim_hot_a %lld, victim_hot_b %lld samples\n",
           (long long)a, (long long)b);
    /* 2 threads x 1 s of CPU at 200 Hz = 400 samples, flushed at exit. */
    ASSERT(a + b >= 360);
    ASSERT_NEAR((double)a / (double)(a + b), 0.75, 0.03);
    free(out);
    free(dir);
    TEST_OK("unmodified program profiled, flushed at exit");
}

static void test_bad_config(void)
{
    char *dir = wl_tempdir("preload-bad"), *out, **files;
    ENV("PYROSCOPE_SAMPLE_RATE=lots");

    ASSERT_EQ(run("plain", env, &out), 0);
    ASSERT(strstr(out, "not profiling this process") != NULL);
    ASSERT(strstr(out, "PYROSCOPE_SAMPLE_RATE") != NULL);
    files = wl_list(dir, NULL);
    ASSERT(files[0] == NULL);
    wl_free_list(files);
    free(out);
    free(dir);
    TEST_OK("bad configuration: one log line, program runs unprofiled");
}

static void test_app_sigprof(void)
{
    char *dir = wl_tempdir("preload-sigprof"), *out;
    int64_t a;
    ENV("PYROSCOPE_LOG_LEVEL=info");

    ASSERT_EQ(run("sigprof", env, &out), 0);
    ASSERT(strstr(out, "app ticks") != NULL);
    printf("%s", strstr(out, "app ticks"));
    a = pb_sum_files(dir, ".cpu.", "victim_hot_a", 0, NULL);
    ASSERT(a >= 100);
    free(out);
    free(dir);
    TEST_OK("application's own SIGPROF handler keeps working");
}

static void test_fork(void)
{
    char *dir = wl_tempdir("preload-fork"), *out;
    int64_t child;
    ENV("PYROSCOPE_SAMPLE_RATE=100");

    ASSERT_EQ(run("fork", env, &out), 0);
    child = pb_sum_files(dir, ".cpu.", "victim_child_work", 0, NULL);
    printf("forked child: victim_child_work %lld samples\n", (long long)child);
    ASSERT(child >= 35); /* 0.5 s at 100 Hz */
    free(out);
    free(dir);
    TEST_OK("forked child profiled and flushed");
}

int main(int argc, char **argv)
{
    ASSERT(argc == 3);
    g_lib = argv[1];
    g_victim = argv[2];
    test_plain();
    test_bad_config();
    test_app_sigprof();
    test_fork();
    return 0;
}
