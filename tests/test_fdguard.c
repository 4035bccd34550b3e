/*
 * A host that closes every descriptor it did not open (daemons, sandboxes)
 * and reuses the numbers: nothing of ours may read from or write to its
 * descriptors afterwards, and profiling goes on.
 *
 * Two ways in which we used to touch them:
 * - our own descriptors (the upload's files and sockets, /proc reads, the
 *   spool directory, perf events), closed under us: our next write landed
 *   in the host's pipe or file.  Part 1 closes everything in a loop with
 *   close(), close_range() and closefrom() while a busy thread is sampled
 *   and profiles are written, and checks the host's own pipe and file.
 * - libunwind's memory checks, which go through a pipe it opened at init,
 *   once a walk reaches code without unwind info.  Part 2 runs its pipe
 *   round trips under a frame of generated code (no unwind info, a frame
 *   pointer), so that every sample taken there falls back.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "pyroscope.h"
#include "support/decode.h"
#include "support/test.h"
#include "support/workload.h"

#define ROUNDS 24
#define DEADLINE_S 60

static atomic_int g_stop;
static int g_max_fd = 1024;

static void *busy(void *arg)
{
    (void)arg;
    while (!atomic_load(&g_stop))
        work_alpha(0.01);
    return NULL;
}

/* Close every descriptor from 3 up, one of three ways by round.  A close
 * of an open descriptor must report success (ours stay open, unseen);
 * EBADF only means the number was one of our short-lived ones, closed by
 * our thread between the fcntl and the close. */
static void close_all(int round)
{
    int fd;

    if (round % 3 == 1 && close_range(3, ~0U, 0) == 0)
        return;
    if (round % 3 == 2) {
        closefrom(3);
        return;
    }
    for (fd = 3; fd < g_max_fd; fd++)
        if (fcntl(fd, F_GETFD) != -1 && close(fd) != 0 && errno != EBADF)
            FAILF("close(%d) of an open descriptor failed: %s", fd,
                  strerror(errno));
}

/* 200 round trips of 4 KiB through a pipe of the host's; 1 if intact.
 * Each leaves the pipe empty, so a stray byte of anyone else's shows. */
static int pipe_roundtrip(void)
{
    char out[4096], in[sizeof(out) + 1];
    int fd[2], ok = 1, r;

    if (pipe(fd) != 0)
        return 0;
    fcntl(fd[0], F_SETFL, O_NONBLOCK);
    for (r = 0; r < 200 && ok; r++) {
        for (size_t i = 0; i < sizeof(out); i++)
            out[i] = (char)(i * 7 + (size_t)r);
        ok = write(fd[1], out, sizeof(out)) == (ssize_t)sizeof(out) &&
             read(fd[0], in, sizeof(in)) == (ssize_t)sizeof(out) &&
             memcmp(in, out, sizeof(out)) == 0;
        work_beta(0.0002);
    }
    close(fd[0]);
    close(fd[1]);
    return ok;
}

/* A file of the host's written while we sample and upload; 1 if intact. */
static int file_roundtrip(void)
{
    char path[] = "/tmp/test-fdguard-XXXXXX", buf[512];
    int fd = mkstemp(path), ok = 1, i;
    off_t end;

    if (fd < 0)
        return 0;
    unlink(path);
    for (i = 0; i < 400 && ok; i++) {
        memset(buf, 'a' + i % 26, sizeof(buf));
        ok = write(fd, buf, sizeof(buf)) == (ssize_t)sizeof(buf);
        if (i % 50 == 0)
            work_beta(0.005);
    }
    end = lseek(fd, 0, SEEK_CUR);
    lseek(fd, 0, SEEK_SET);
    for (i = 0; i < 400 && ok; i++) {
        ok = read(fd, buf, sizeof(buf)) == (ssize_t)sizeof(buf);
        for (size_t j = 0; ok && j < sizeof(buf); j++)
            ok = buf[j] == 'a' + i % 26;
    }
    close(fd);
    return ok && end == 400 * (off_t)sizeof(buf);
}

static int count_profiles(const char *dir)
{
    char **l = wl_list(dir, ".cpu.");
    int n = 0;

    while (l && l[n])
        n++;
    wl_free_list(l);
    return n;
}

static void part1(const char *dir)
{
    int round, bad = 0, before, after;
    double end = wl_mono() + DEADLINE_S;

    close_all(0);
    before = count_profiles(dir);
    for (round = 0; round < ROUNDS && wl_mono() < end; round++) {
        close_all(round);
        bad += !pipe_roundtrip();
        bad += !file_roundtrip();
    }
    /* Profiles go on being written after their descriptors were "closed". */
    while ((after = count_profiles(dir)) <= before + 2 && wl_mono() < end)
        work_beta(0.05);
    printf("part 1: %d rounds, %d damaged round trips; profiles %d -> %d\n",
           round, bad, before, after);
    ASSERT_EQ(bad, 0);
    ASSERT(after > before + 2);
}

#if defined(__x86_64__)
/* push rbp; mov rbp, rsp; call rdi; pop rbp; ret */
static const unsigned char g_stub[] = {0x55, 0x48, 0x89, 0xe5, 0xff,
                                       0xd7, 0x5d, 0xc3};
static int g_stub_ok;

static void under_stub(void)
{
    int i;

    g_stub_ok = 1;
    for (i = 0; i < 5; i++)
        g_stub_ok &= pipe_roundtrip();
}

static void part2(void)
{
    void (*stub)(void (*)(void));
    unsigned char *page;
    int round, bad = 0;

    page = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT(page != MAP_FAILED);
    memcpy(page, g_stub, sizeof(g_stub));
    ASSERT_EQ(mprotect(page, 4096, PROT_READ | PROT_EXEC), 0);
    *(void **)&stub = page;
    for (round = 0; round < 8; round++) {
        close_all(round);
        stub(under_stub);
        bad += !g_stub_ok;
    }
    munmap(page, 4096);
    printf("part 2: %d rounds under code without unwind info, %d damaged\n",
           round, bad);
    ASSERT_EQ(bad, 0);
}
#else
static void part2(void)
{
    printf("part 2: skipped (the stub is x86-64 code)\n");
}
#endif

int main(void)
{
    pyroscope_config cfg = PYROSCOPE_CONFIG_INIT;
    char *dir = wl_tempdir("fdguard");
    char url[300];
    struct rlimit rl;
    pthread_t t;
    pyroscope *p;
    int64_t alpha;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536)
        g_max_fd = (int)rl.rlim_cur;
    snprintf(url, sizeof(url), "file://%s", dir);
    cfg.application_name = "test_fdguard";
    cfg.server_address = url;
    cfg.upload_interval_ms = 100;
    cfg.profile_types = PYROSCOPE_PROFILE_CPU;
    cfg.sample_rate = 1000;
    ASSERT_EQ(pyroscope_start(&p, &cfg), 0);
    pthread_create(&t, NULL, busy, NULL);
    part1(dir);
    part2();
    atomic_store(&g_stop, 1);
    pthread_join(t, NULL);
    ASSERT_EQ(pyroscope_flush(p, 5000), 0);
    pyroscope_stop(p);
    alpha = pb_sum_files(dir, ".cpu.", "work_alpha", 0, NULL);
    printf("work_alpha: %lld samples in the profiles\n", (long long)alpha);
    ASSERT(alpha > 0);
    free(dir);
    TEST_OK("a host that closes every descriptor keeps its own intact");
    return 0;
}
