/*
 * The host must not hang or crash when the server is down, slow, failing or
 * talking garbage; profiles queued during an outage are delivered after it;
 * the queue stays bounded.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "pyroscope.h"
#include "support/decode.h"
#include "support/http_server.h"
#include "support/test.h"
#include "support/workload.h"

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int closed_port(void)
{
    struct sockaddr_in a;
    socklen_t al = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, (struct sockaddr *)&a, sizeof(a));
    getsockname(fd, (struct sockaddr *)&a, &al);
    port = ntohs(a.sin_port);
    close(fd); /* nothing listens there now */
    return port;
}

static pyroscope *start_at(int port, int queue_max)
{
    pyroscope_config cfg = PYROSCOPE_CONFIG_INIT;
    static char url[64];
    pyroscope *p;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
    cfg.application_name = "test_faults";
    cfg.server_address = url;
    cfg.upload_interval_ms = 60000;
    cfg.upload_timeout_ms = 1000;
    cfg.stop_timeout_ms = 1500;
    cfg.upload_queue_max = queue_max;
    cfg.log_level = PYROSCOPE_LOG_OFF;
    ASSERT_EQ(pyroscope_start(&p, &cfg), 0);
    return p;
}

/* stop() must return within stop_timeout_ms plus joining our threads. */
static void stop_bounded(pyroscope *p, const char *what)
{
    double t0 = now_s(), took;

    pyroscope_stop(p);
    took = now_s() - t0;
    printf("%s: stop took %.2f s (bound 1.5 s + upload timeout 1 s)\n", what,
           took);
    ASSERT(took < 8.0);
}

static void test_server_down(void)
{
    pyroscope *p = start_at(closed_port(), 8);
    pyroscope_stats st;

    work_alpha(0.2);
    ASSERT_EQ(pyroscope_flush(p, 1500), PYROSCOPE_EIO);
    ASSERT_EQ(pyroscope_get_stats(p, &st), 0);
    ASSERT(st.upload_failures >= 1);
    ASSERT_EQ(st.profiles_uploaded, 0);
    stop_bounded(p, "server down");
    TEST_OK("server down");
}

static void test_hang(void)
{
    http_server *s = http_server_start();
    pyroscope *p;

    http_server_set(s, HTTP_HANG, 0);
    p = start_at(http_server_port(s), 8);
    work_alpha(0.2);
    ASSERT_EQ(pyroscope_flush(p, 500), PYROSCOPE_EIO);
    stop_bounded(p, "server hangs");
    http_server_stop(s);
    TEST_OK("server hangs");
}

static void fail_then_recover(int mode, int status, const char *what)
{
    http_server *s = http_server_start();
    pyroscope_stats st;
    pyroscope *p;
    size_t n;

    http_server_set(s, mode, status);
    p = start_at(http_server_port(s), 8);
    work_alpha(0.2);
    ASSERT_EQ(pyroscope_flush(p, 2000), PYROSCOPE_EIO);
    ASSERT_EQ(pyroscope_get_stats(p, &st), 0);
    ASSERT(st.upload_failures >= 2); /* retried */
    ASSERT(st.queued_bytes > 0);     /* kept, not lost */
    n = http_server_count(s);
    http_server_set(s, HTTP_OK, 200);
    ASSERT_EQ(pyroscope_flush(p, 40000), 0);
    ASSERT_EQ(pyroscope_get_stats(p, &st), 0);
    ASSERT(st.profiles_uploaded >= 1);
    ASSERT_EQ(st.queued_bytes, 0);
    ASSERT(http_server_count(s) > n);
    stop_bounded(p, what);
    http_server_stop(s);
    printf("ok - %s, then recovery\n", what);
}

static void test_queue_bound(void)
{
    pyroscope *p = start_at(closed_port(), 2);
    pyroscope_stats st;
    int i;

    for (i = 0; i < 6; i++) {
        work_alpha(0.05);
        pyroscope_flush(p, 0);
    }
    ASSERT_EQ(pyroscope_get_stats(p, &st), 0);
    printf("queue bound: %llu dropped, %llu bytes queued\n",
           (unsigned long long)st.profiles_dropped,
           (unsigned long long)st.queued_bytes);
    ASSERT(st.profiles_dropped >= 3);
    ASSERT(st.queued_bytes < 64 * 1024);
    stop_bounded(p, "queue bound");
    TEST_OK("queue bounded, oldest dropped");
}

int main(void)
{
    test_server_down();
    test_hang();
    fail_then_recover(HTTP_OK, 500, "HTTP 500");
    fail_then_recover(HTTP_OK, 429, "HTTP 429");
    fail_then_recover(HTTP_GARBAGE, 0, "garbage answer");
    fail_then_recover(HTTP_CLOSE, 0, "connection closed");
    test_queue_bound();
    return 0;
}
