/*
 * At-least-once delivery of spooled profiles.
 *
 * 1. Short-lived processes take nothing: a run that stops at once, one
 *    killed before its first window, a child that execs at once (and a
 *    preloaded `timeout`, given the library path) leave every record as
 *    it was.
 * 2. Recovery under SIGKILL: a spool seeded by a real outage run plus
 *    synthetic records is drained by processes killed at random points,
 *    20 times, then by one that runs to the end.  Every seeded profile
 *    (stable id in X-Pyroscope-Profile-ID) must have reached the server at
 *    least once; duplicates are counted and reported.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <poll.h>
#include <stdlib.h>
#include <time.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pyroscope.h"
#include "support/http_server.h"
#include "support/test.h"
#include "support/workload.h"
#include "upload/spool.h"

#define ID_HEADER "X-Pyroscope-Profile-ID"
#define KILLS 20
#define SYNTHETIC 60

static char g_url[64];
static size_t g_base; /* requests before this were answered 503 */

static pyroscope *start_run(const char *spool, int interval_ms)
{
    pyroscope_config cfg = PYROSCOPE_CONFIG_INIT;
    pyroscope *p;

    cfg.application_name = "spool-kill";
    cfg.server_address = g_url;
    cfg.upload_interval_ms = interval_ms;
    cfg.upload_timeout_ms = 2000;
    cfg.upload_queue_max = 2;
    cfg.stop_timeout_ms = 500;
    cfg.spool_dir = spool;
    cfg.log_level = PYROSCOPE_LOG_OFF;
    if (pyroscope_start(&p, &cfg) != 0) {
        fprintf(stderr, "start: %s\n", pyroscope_last_error());
        _exit(3);
    }
    return p;
}

/* Sorted names of records and claims: the spool's state. */
static char *state(const char *dir)
{
    char cmd[600], *out = calloc(1, 65536);
    FILE *f;
    size_t n = 0, got;

    snprintf(cmd, sizeof(cmd),
             "ls -A '%s' | grep -E '^(pyroscope-spool-|\\.claimed-|\\.tmp-|"
             "\\.quarantine-)' | sort", dir);
    f = popen(cmd, "r");
    while (f && (got = fread(out + n, 1, 65535 - n, f)) > 0)
        n += got;
    if (f)
        pclose(f);
    return out;
}

/* Ids of the spooled records: claim each, note it, put it back. */
static char **spooled_ids(const char *dir, size_t *n)
{
    char **ids = NULL;
    upload_job *held = NULL;
    size_t i;
    spool *s;

    *n = 0;
    ASSERT_EQ(spool_open(&s, dir), 0);
    for (;;) {
        held = realloc(held, (*n + 1) * sizeof(*held));
        if (spool_claim(s, &held[*n]) != 0)
            break;
        ids = realloc(ids, (*n + 1) * sizeof(*ids));
        ids[*n] = strdup(held[*n].id);
        (*n)++;
    }
    for (i = 0; i < *n; i++) {
        spool_release(s, &held[i]);
        upload_job_free(&held[i]);
    }
    free(held);
    spool_close(s);
    return ids;
}

static size_t times_delivered(http_server *srv, const char *id)
{
    size_t i, n = 0;

    for (i = g_base; i < http_server_count(srv); i++) {
        http_request *r = http_server_get(srv, i);
        char *h = http_header(r, ID_HEADER);
        if (h && strcmp(h, id) == 0)
            n++;
        free(h);
        http_request_free(r);
        free(r);
    }
    return n;
}

static void reap(pid_t pid)
{
    int st;

    ASSERT(waitpid(pid, &st, 0) == pid);
}

/* ---- seeding ---- */

static void seed_outage_run(http_server *srv, const char *dir)
{
    pid_t pid;

    http_server_set(srv, HTTP_OK, 503);
    pid = fork();
    if (pid == 0) {
        pyroscope *p = start_run(dir, 100);
        work_alpha(1.0); /* ~10 windows, most evicted to the spool */
        pyroscope_stop(p);
        _exit(0);
    }
    reap(pid);
    g_base = http_server_count(srv);
    http_server_set(srv, HTTP_OK, 200);
}

static void seed_synthetic(const char *dir)
{
    spool *s;
    int i;

    ASSERT_EQ(spool_open(&s, dir), 0);
    for (i = 0; i < SYNTHETIC; i++) {
        upload_job j;
        char path[256];
        memset(&j, 0, sizeof(j));
        snprintf(path, sizeof(path),
                 "/ingest?name=spool-kill.cpu%%7Bseed%%3D%d%%7D&from=%d"
                 "&until=%d&format=pprof", i, 1700000000 + i,
                 1700000010 + i);
        j.path = strdup(path);
        j.body = (unsigned char *)strdup("synthetic");
        j.len = 9;
        upload_new_id(j.id);
        ASSERT_EQ(spool_write(s, &j), 0);
        upload_job_free(&j);
    }
    spool_close(s);
}

/* ---- 1: short-lived processes ---- */

static void expect_untouched(http_server *srv, const char *dir,
                             const char *before, char **ids, size_t nids,
                             const char *what)
{
    char *after = state(dir);
    size_t i;

    if (strcmp(before, after) != 0)
        FAILF("%s changed the spool:\n--- before\n%s--- after\n%s", what,
              before, after);
    for (i = 0; i < nids; i++)
        if (times_delivered(srv, ids[i]))
            FAILF("%s delivered spooled profile %s", what, ids[i]);
    free(after);
}

/* A child that execs at once, while the parent has not delivered. */
static void fork_exec_case(http_server *srv, const char *dir,
                           const char *before, char **ids, size_t nids)
{
    pid_t pid;

    if (!fork_may_allocate()) {
        printf("skip - fork + exec: the child restarts the profiler and "
               "ASan's allocator is not fork-safe\n");
        return;
    }
    pid = fork();
    if (pid == 0) {
        pyroscope *p = start_run(dir, 10000);
        pid_t c = fork();
        if (c == 0) {
            execl("/bin/true", "true", (char *)NULL);
            _exit(127);
        }
        waitpid(c, NULL, 0);
        pyroscope_stop(p);
        _exit(0);
    }
    reap(pid);
    expect_untouched(srv, dir, before, ids, nids, "fork + exec");
}

static void test_short_lived(http_server *srv, const char *dir,
                             const char *lib)
{
    char *before = state(dir), **ids;
    size_t nids, i;
    pid_t pid;

    ids = spooled_ids(dir, &nids);
    ASSERT(nids >= 10);
    free(before);
    before = state(dir);
    /* Starts and stops at once (a CLI tool). */
    pid = fork();
    if (pid == 0) {
        pyroscope_stop(start_run(dir, 10000));
        _exit(0);
    }
    reap(pid);
    expect_untouched(srv, dir, before, ids, nids, "a run that stopped");
    /* Killed before its first window (`timeout` sending SIGKILL). */
    pid = fork();
    if (pid == 0) {
        start_run(dir, 10000);
        kill(getpid(), SIGKILL);
        _exit(0);
    }
    reap(pid);
    expect_untouched(srv, dir, before, ids, nids, "a killed run");
    fork_exec_case(srv, dir, before, ids, nids);
    if (lib) { /* zero-code mode: a preloaded `timeout` around sleep */
        char cmd[2048];
        snprintf(cmd, sizeof(cmd),
                 "LD_PRELOAD='%s' PYROSCOPE_APPLICATION_NAME=spool-kill "
                 "PYROSCOPE_SERVER_ADDRESS='%s' PYROSCOPE_SPOOL_DIR='%s' "
                 "PYROSCOPE_LOG_LEVEL=off timeout 0.3 sleep 5; true", lib,
                 g_url, dir);
        ASSERT(system(cmd) == 0);
        expect_untouched(srv, dir, before, ids, nids, "preloaded timeout");
    }
    for (i = 0; i < nids; i++)
        free(ids[i]);
    free(ids);
    free(before);
    TEST_OK("short-lived processes leave spooled records alone");
}

/* ---- 2: recovery under SIGKILL ---- */

static int spool_empty(const char *dir)
{
    size_t files;
    uint64_t bytes;

    spool_usage(dir, &files, &bytes);
    return files == 0;
}

static void drain_forever(const char *dir)
{
    start_run(dir, 100);
    for (;;)
        work_alpha(0.05);
}

/* Kill a draining run at a random point after its first request. */
static int kill_round(http_server *srv, const char *dir, unsigned *seed)
{
    size_t before = http_server_count(srv);
    double t0 = wl_mono();
    int was_draining;
    pid_t pid = fork();

    if (pid == 0)
        drain_forever(dir);
    while (http_server_count(srv) == before && wl_mono() - t0 < 60)
        poll(NULL, 0, 5);
    poll(NULL, 0, (int)(rand_r(seed) % 250));
    was_draining = !spool_empty(dir);
    kill(pid, SIGKILL);
    reap(pid);
    return was_draining;
}

static void test_kill_during_recovery(http_server *srv, const char *dir)
{
    unsigned seed = (unsigned)getpid() ^ (unsigned)time(NULL);
    size_t nids, i, missing = 0, dups = 0, left;
    char **ids = spooled_ids(dir, &nids), *rest;
    int k, mid = 0;
    double t0;
    pid_t pid;

    printf("kill test: %zu spooled profiles, seed %u\n", nids, seed);
    http_server_delay(srv, 20); /* recovery spans many kills */
    for (k = 0; k < KILLS; k++)
        mid += kill_round(srv, dir, &seed);
    http_server_delay(srv, 0);
    /* One run to the end: everything left is delivered. */
    pid = fork();
    if (pid == 0) {
        pyroscope *p = start_run(dir, 100);
        double t1 = wl_mono();
        while (!spool_empty(dir) && wl_mono() - t1 < 120)
            work_alpha(0.05);
        pyroscope_stop(p);
        _exit(spool_empty(dir) ? 0 : 1);
    }
    t0 = wl_mono();
    reap(pid);
    for (i = 0; i < nids; i++) {
        size_t n = times_delivered(srv, ids[i]);
        if (n == 0)
            missing++;
        else
            dups += n - 1;
        free(ids[i]);
    }
    free(ids);
    rest = state(dir);
    left = strlen(rest);
    printf("kill test: %d kills (%d while records were left), %zu "
           "profiles missing, %zu duplicate deliveries; final run %.1f s\n",
           KILLS, mid, missing, dups, wl_mono() - t0);
    if (left)
        FAILF("spool not empty after recovery:\n%s", rest);
    ASSERT_EQ(missing, 0);
    ASSERT(mid >= KILLS / 2); /* the kills did land during recovery */
    free(rest);
    TEST_OK("20 SIGKILLs during recovery: every spooled profile delivered");
}

int main(int argc, char **argv)
{
    http_server *srv = http_server_start();
    char *dir = wl_tempdir("spool_kill");

    snprintf(g_url, sizeof(g_url), "http://127.0.0.1:%d",
             http_server_port(srv));
    seed_outage_run(srv, dir);
    seed_synthetic(dir);
    test_short_lived(srv, dir, argc > 1 ? argv[1] : NULL);
    test_kill_during_recovery(srv, dir);
    http_server_stop(srv);
    free(dir);
    return 0;
}
