/*
 * A long outage: windows keep closing while the server answers 503.  Memory
 * stays bounded (a few profiles in RAM, the rest spooled to disk with zstd),
 * everything is delivered once the server is back, and what is still queued
 * at stop() is spooled and delivered by the next run.
 */
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "pyroscope.h"
#include "support/decode.h"
#include "support/http_server.h"
#include "support/test.h"
#include "support/workload.h"
#include "upload/spool.h"

static atomic_int g_stop;

static void *busy(void *arg)
{
    (void)arg;
    while (!atomic_load(&g_stop))
        work_delta(0.01);
    return NULL;
}

static pyroscope *start(http_server *s, const char *spool)
{
    pyroscope_config cfg = PYROSCOPE_CONFIG_INIT;
    static char url[64];
    pyroscope *p;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d", http_server_port(s));
    cfg.application_name = "test_outage";
    cfg.server_address = url;
    cfg.upload_interval_ms = 100;
    cfg.upload_timeout_ms = 500;
    cfg.upload_queue_max = 4;
    cfg.stop_timeout_ms = 500;
    cfg.spool_dir = spool;
    cfg.log_level = PYROSCOPE_LOG_OFF;
    ASSERT_EQ(pyroscope_start(&p, &cfg), 0);
    return p;
}

static size_t ok_requests(http_server *s)
{
    return http_server_count(s);
}

static void test_outage_and_recovery(void)
{
    http_server *s = http_server_start();
    char *spool = wl_tempdir("spool");
    pyroscope_stats st;
    pthread_t t;
    long rss0, rss1;
    size_t files, before;
    double t0;
    uint64_t bytes;
    pyroscope *p;

    http_server_set(s, HTTP_OK, 503);
    p = start(s, spool);
    pthread_create(&t, NULL, busy, NULL);
    /* The baseline is taken once the first window has been symbolized and
     * failed to upload: symbol and line tables (also those of separate
     * debug files, e.g. libc6-dbg's) are loaded by then. */
    for (before = 0; before < 300; before++) {
        pyroscope_get_stats(p, &st);
        if (st.upload_failures > 0)
            break;
        usleep(100 * 1000);
    }
    ASSERT(st.upload_failures > 0);
    rss0 = wl_status_field("VmRSS");
    /* ~40 windows while the server fails (a deadline, not a sleep: a
     * loaded machine closes fewer windows per second). */
    t0 = wl_mono();
    do {
        poll(NULL, 0, 100);
        pyroscope_get_stats(p, &st);
        spool_usage(spool, &files, &bytes);
    } while ((wl_mono() - t0 < 4 || files < 20 || st.profiles_spooled < 20) &&
             wl_mono() - t0 < 120);
    rss1 = wl_status_field("VmRSS");
    printf("outage: %llu failed attempts, %llu bytes in RAM, %zu files / "
           "%llu bytes spooled, RSS %ld -> %ld KiB\n",
           (unsigned long long)st.upload_failures,
           (unsigned long long)st.queued_bytes, files,
           (unsigned long long)bytes, rss0, rss1);
    ASSERT(st.profiles_uploaded == 0);
    ASSERT(st.queued_bytes <= 4 * 64 * 1024); /* at most 4 profiles */
    ASSERT(files >= 20 && st.profiles_spooled >= 20);
    ASSERT_EQ(st.profiles_dropped, 0);
#ifndef __SANITIZE_ADDRESS__ /* ASan's quarantine holds freed memory */
    ASSERT(rss1 - rss0 < 8 * 1024);
#endif
    /* Recovery: everything, spooled or queued, gets delivered. */
    before = ok_requests(s);
    http_server_set(s, HTTP_OK, 200);
    atomic_store(&g_stop, 1);
    pthread_join(t, NULL);
    ASSERT_EQ(pyroscope_flush(p, 60000), 0);
    pyroscope_get_stats(p, &st);
    spool_usage(spool, &files, &bytes);
    printf("recovery: %llu profiles delivered, %zu left in the spool\n",
           (unsigned long long)st.profiles_uploaded, files);
    ASSERT_EQ(files, 0);
    ASSERT(st.profiles_uploaded >= st.profiles_spooled + 1);
    ASSERT(ok_requests(s) > before);
    pyroscope_stop(p);
    http_server_stop(s);
    free(spool);
    TEST_OK("outage: bounded memory, spooled, all delivered after recovery");
}

static void test_stop_spools_for_next_run(void)
{
    http_server *s = http_server_start();
    char *spool = wl_tempdir("spool2");
    pyroscope_stats st;
    size_t files;
    uint64_t bytes;
    pyroscope *p;

    http_server_set(s, HTTP_OK, 503);
    p = start(s, spool);
    work_delta(0.3);
    pyroscope_flush(p, 0);
    pyroscope_stop(p);
    spool_usage(spool, &files, &bytes);
    ASSERT(files >= 1);
    http_server_set(s, HTTP_OK, 200);
    p = start(s, spool);
    /* A run takes spooled profiles once it has delivered one of its own
     * (or has been idle for an upload interval): give it a window. */
    work_delta(0.2);
    ASSERT_EQ(pyroscope_flush(p, 20000), 0);
    pyroscope_get_stats(p, &st);
    ASSERT(st.profiles_uploaded >= files);
    spool_usage(spool, &files, &bytes);
    ASSERT_EQ(files, 0);
    pyroscope_stop(p);
    /* What arrived is a real profile of the first run's work. */
    for (size_t i = 0, found = 0; i < http_server_count(s); i++) {
        http_request *r = http_server_get(s, i);
        size_t len = 0;
        const unsigned char *b = http_multipart(r, "profile", &len);
        pb_profile *prof = b ? decode_profile(b, len) : NULL;
        if (prof && pb_sum_with(prof, 0, "work_delta") > 0)
            found = 1;
        decode_free(prof);
        http_request_free(r);
        free(r);
        if (i + 1 == http_server_count(s))
            ASSERT(found);
    }
    http_server_stop(s);
    free(spool);
    TEST_OK("stop during an outage spools; the next run delivers");
}

int main(void)
{
    test_outage_and_recovery();
    test_stop_spools_for_next_run();
    return 0;
}
