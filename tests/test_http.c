/*
 * Our HTTP/1.1 client (src/upload/http.c, conn.c) against scripted peers:
 * the exact bytes of the request (request line, Host, basic auth, length,
 * configured headers with framing and CR/LF injection filtered out), and
 * replies as servers and proxies really send them: chunked, split into
 * small writes, preceded by 100 Continue, redirects, Retry-After as
 * seconds or as a date, garbage, silence, a closed connection; an HTTP
 * proxy in absolute form with Proxy-Authorization, a CONNECT tunnel the
 * proxy refuses, no_proxy; URL parsing; and that plain http never maps
 * OpenSSL.  "test_http dns-blackhole" (under support/dns_blackhole.sh):
 * a DNS server that never answers.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "support/test.h"
#include "support/workload.h"
#include "upload/http.h"

/* ---- a peer that answers one connection with a script ---- */

typedef struct peer {
    int fd, port;
    const char *const *reply; /* written one piece at a time */
    int piece_gap_ms;
    int silent;               /* read, never answer, wait for our close */
    int linger;               /* answer, then wait for our close */
    char req[1 << 16];
    size_t len;
    pthread_t thread;
} peer;

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* The request is whole when its header and Content-Length bytes came. */
static int request_complete(const peer *p)
{
    const char *end = memmem(p->req, p->len, "\r\n\r\n", 4), *cl;
    size_t want;

    if (!end)
        return 0;
    cl = strcasestr(p->req, "\r\nContent-Length:");
    want = (size_t)(end + 4 - p->req) + (cl ? strtoul(cl + 17, NULL, 10) : 0);
    return p->len >= want || p->len == sizeof(p->req) - 1;
}

static void *peer_main(void *arg)
{
    peer *p = arg;
    int c = accept(p->fd, NULL, NULL);
    ssize_t n;
    size_t i;

    if (c < 0)
        return NULL;
    while (!request_complete(p) &&
           (n = read(c, p->req + p->len, sizeof(p->req) - 1 - p->len)) > 0)
        p->len += (size_t)n;
    p->req[p->len] = '\0';
    if (p->silent) {
        char b[256];
        while (read(c, b, sizeof(b)) > 0) /* until the client gives up */
            ;
    }
    for (i = 0; p->reply && p->reply[i]; i++) {
        if (i && p->piece_gap_ms)
            sleep_ms(p->piece_gap_ms);
        if (write(c, p->reply[i], strlen(p->reply[i])) < 0)
            break;
    }
    if (p->linger) { /* keep the connection open until the client leaves */
        char b[256];
        while (read(c, b, sizeof(b)) > 0)
            ;
    }
    close(c);
    return NULL;
}

/* silent: 1 never answer, 2 answer and keep the connection open. */
static peer *peer_start(const char *const *reply, int gap_ms, int silent)
{
    peer *p = calloc(1, sizeof(*p));
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t al = sizeof(a);

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    p->fd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT(p->fd >= 0);
    ASSERT(bind(p->fd, (struct sockaddr *)&a, sizeof(a)) == 0);
    ASSERT(listen(p->fd, 4) == 0);
    ASSERT(getsockname(p->fd, (struct sockaddr *)&a, &al) == 0);
    p->port = ntohs(a.sin_port);
    p->reply = reply;
    p->piece_gap_ms = gap_ms;
    p->silent = silent & 1;
    p->linger = (silent & 2) != 0;
    ASSERT(pthread_create(&p->thread, NULL, peer_main, p) == 0);
    return p;
}

static void peer_join(peer *p)
{
    pthread_join(p->thread, NULL);
    close(p->fd);
}

/* ---- one call ---- */

static const char *const g_headers[] = {
    "X-Scope-OrgID: tenant-7",
    "Content-Length: 1",            /* framing is ours: dropped */
    "X-Evil: a\r\nX-Injected: b",   /* CR/LF: dropped */
};

static void post(const http_target *t, const char *path, http_reply *r,
                 int timeout_ms, int (*abort_fn)(void *), tls_ctx *tls)
{
    static const char body[] = "profile-bytes\0with a NUL";
    http_piece pieces[2] = {{"multipart-head|", 15}, {body, sizeof(body)}};
    http_call c = {0};

    c.target = t;
    c.path = path;
    c.headers = g_headers;
    c.nheaders = 3;
    c.user = "u";
    c.password = "p";
    c.content_type = "application/octet-stream";
    c.body = pieces;
    c.nbody = 2;
    c.tls = tls;
    c.timeout_ns = (uint64_t)timeout_ms * 1000000ull;
    c.connect_timeout_ns = c.timeout_ns;
    c.abort = abort_fn;
    http_post(&c, r);
}

static void target_for(http_target *t, int port, const char *prefix)
{
    char url[128], err[200];

    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, prefix);
    if (http_target_parse(t, url, err, sizeof(err)) != 0)
        FAILF("%s: %s", url, err);
}

/* ---- tests ---- */

static void test_parse(void)
{
    http_target t;
    char err[200];

    ASSERT_EQ(http_target_parse(&t, "http://pyro", err, sizeof(err)), 0);
    ASSERT_STR_EQ(t.host, "pyro");
    ASSERT_STR_EQ(t.port, "80");
    ASSERT_STR_EQ(t.authority, "pyro");
    ASSERT_STR_EQ(t.prefix, "");
    ASSERT(!t.tls && !t.user);
    http_target_free(&t);
    ASSERT_EQ(http_target_parse(&t, "https://u%40x:p%3Aw@Example.com:8443/"
                                "base//", err, sizeof(err)), 0);
    ASSERT(t.tls);
    ASSERT_STR_EQ(t.user, "u@x");
    ASSERT_STR_EQ(t.password, "p:w");
    ASSERT_STR_EQ(t.port, "8443");
    ASSERT_STR_EQ(t.authority, "Example.com:8443");
    ASSERT_STR_EQ(t.prefix, "/base");
    http_target_free(&t);
    ASSERT_EQ(http_target_parse(&t, "http://[::1]:4040", err, sizeof(err)),
              0);
    ASSERT_STR_EQ(t.host, "::1");
    ASSERT_STR_EQ(t.authority, "[::1]:4040");
    http_target_free(&t);
    ASSERT_EQ(http_target_parse(&t, "https://h", err, sizeof(err)), 0);
    ASSERT_STR_EQ(t.port, "443");
    http_target_free(&t);
    static const char *const bad[] = {
        "http://", "http://h:0", "http://h:99999", "http://h:80a",
        "http://h/x?y=1", "ftp://h", "http://[::1", "http://a b/"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        if (http_target_parse(&t, bad[i], err, sizeof(err)) == 0)
            FAILF("'%s' was accepted", bad[i]);
        ASSERT(err[0]);
    }
    TEST_OK("URLs: userinfo decoded, IPv6, default ports, prefix; bad ones "
            "refused");
}

static void test_codecs(void)
{
    static const char *const in[] = {"", "f", "fo", "foo", "foob", "foobar"};
    static const char *const out[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==",
                                      "Zm9vYmFy"};
    struct tm tm = {0};
    char b[32];
    time_t now;

    for (size_t i = 0; i < 6; i++) {
        http_base64(in[i], strlen(in[i]), b);
        ASSERT_STR_EQ(b, out[i]);
    }
    tm.tm_year = 2015 - 1900;
    tm.tm_mon = 9;
    tm.tm_mday = 21;
    tm.tm_hour = 7;
    tm.tm_min = 27;
    now = timegm(&tm);
    ASSERT_EQ(http_parse_retry_after("120", now), 120000);
    ASSERT_EQ(http_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
              60000);
    ASSERT_EQ(http_parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now), 0);
    ASSERT_EQ(http_parse_retry_after("99999999", now),
              HTTP_RETRY_AFTER_MAX_MS);
    ASSERT_EQ(http_parse_retry_after("soon", now), 0);
    TEST_OK("base64 vectors; Retry-After as seconds and as an HTTP date");
}

static const char *proxy_for(const char *url)
{
    static char keep[256];
    http_target t;
    char err[200];
    const char *p;

    ASSERT_EQ(http_target_parse(&t, url, err, sizeof(err)), 0);
    p = http_env_proxy(&t);
    snprintf(keep, sizeof(keep), "%s", p ? p : "(direct)");
    http_target_free(&t);
    return keep;
}

static void test_env_proxy(void)
{
    static const char *const vars[] = {"http_proxy", "HTTP_PROXY",
        "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "no_proxy",
        "NO_PROXY"};
    for (size_t i = 0; i < 8; i++)
        unsetenv(vars[i]);
    ASSERT_STR_EQ(proxy_for("http://pyro.example.com"), "(direct)");
    setenv("HTTP_PROXY", "http://evil:1", 1); /* httpoxy: never read */
    ASSERT_STR_EQ(proxy_for("http://pyro.example.com"), "(direct)");
    setenv("http_proxy", "http://px:3128", 1);
    setenv("HTTPS_PROXY", "http://spx:3129", 1);
    ASSERT_STR_EQ(proxy_for("http://pyro.example.com"), "http://px:3128");
    ASSERT_STR_EQ(proxy_for("https://pyro.example.com"), "http://spx:3129");
    setenv("no_proxy", "localhost, .example.com", 1);
    ASSERT_STR_EQ(proxy_for("http://pyro.example.com"), "(direct)");
    ASSERT_STR_EQ(proxy_for("http://example.com"), "(direct)");
    ASSERT_STR_EQ(proxy_for("http://notexample.com"), "http://px:3128");
    ASSERT_STR_EQ(proxy_for("http://localhost:4040"), "(direct)");
    setenv("no_proxy", "*", 1);
    ASSERT_STR_EQ(proxy_for("https://pyro.example.com"), "(direct)");
    unsetenv("no_proxy");
    unsetenv("http_proxy");
    unsetenv("HTTPS_PROXY");
    unsetenv("HTTP_PROXY");
    setenv("ALL_PROXY", "px2:8080", 1);
    ASSERT_STR_EQ(proxy_for("https://pyro.example.com"), "px2:8080");
    unsetenv("ALL_PROXY");
    TEST_OK("proxy environment as curl reads it (no HTTP_PROXY), no_proxy");
}

static void test_request_and_chunked(void)
{
    static const char *const reply[] = {
        "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"
        "Transfer-Encoding: chunked\r\n\r\n",
        "5\r\nhello\r\n", "6\r\n world\r\n", "0\r\n\r\n", NULL};
    peer *p = peer_start(reply, 30, 0);
    char want[128];
    http_target t;
    http_reply r;

    target_for(&t, p->port, "/pre/");
    post(&t, "/ingest?name=a%7Bb%7D", &r, 5000, NULL, NULL);
    peer_join(p);
    ASSERT_EQ(r.fail, NET_OK);
    ASSERT_EQ(r.status, 400);
    ASSERT_STR_EQ(r.text, "hello world");
    ASSERT_EQ(http_verdict(r.fail, r.status), HTTP_DROP);
    ASSERT(strncmp(p->req, "POST /pre/ingest?name=a%7Bb%7D HTTP/1.1\r\n",
                   41) == 0);
    snprintf(want, sizeof(want), "\r\nHost: 127.0.0.1:%d\r\n", p->port);
    ASSERT(strstr(p->req, want));
    ASSERT(strstr(p->req, "\r\nAuthorization: Basic dTpw\r\n"));
    ASSERT(strstr(p->req, "\r\nX-Scope-OrgID: tenant-7\r\n"));
    ASSERT(!strstr(p->req, "X-Injected") && !strstr(p->req, "X-Evil"));
    snprintf(want, sizeof(want), "\r\nContent-Length: %d\r\n", 15 + 25);
    ASSERT(strstr(p->req, want));
    ASSERT(strstr(strstr(p->req, "Content-Length:") + 1, "Content-Length:")
           == NULL); /* one length: ours */
    ASSERT(strstr(p->req, "\r\nConnection: close\r\n"));
    ASSERT(memcmp(p->req + p->len - 25, "profile-bytes\0with a NUL", 25) == 0);
    ASSERT(memcmp(p->req + p->len - 40, "multipart-head|", 15) == 0);
    http_target_free(&t);
    free(p);
    TEST_OK("request bytes exact (framing and injected headers dropped); "
            "a chunked reply in pieces read whole");
}

static void expect_status(const char *const *reply, int gap, long status,
                          const char *what, http_reply *r)
{
    peer *p = peer_start(reply, gap, 0);
    http_target t;

    target_for(&t, p->port, "");
    post(&t, "/push", r, 5000, NULL, NULL);
    peer_join(p);
    if (r->fail != NET_OK || r->status != status)
        FAILF("%s: fail %d status %ld (%s)", what, r->fail, r->status,
              r->error);
    http_target_free(&t);
    free(p);
}

static void test_replies(void)
{
    static const char *const cont[] = {
        "HTTP/1.1 100 Continue\r\n\r\n",
        "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 7\r\n"
        "Content-Length: 4\r\n\r\nbusy", NULL};
    static const char *const moved[] = {
        "HTTP/1.1 308 Permanent Redirect\r\nLocation: https://other.example/"
        "push\r\nContent-Length: 0\r\n\r\n", NULL};
    static const char *const byte_by_byte[] = {
        "H", "TTP/1.", "1 5", "00 Oops\r", "\n", "Content-Length: 2\r\n",
        "\r", "\n", "o", "k", NULL};
    static const char *const ok_open[] = {
        "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\n{}", NULL};
    static const char *const bare_lf[] = {
        "HTTP/1.0 429 Too Many\nRetry-After: 2\n\nslow", NULL};
    http_reply r;

    expect_status(cont, 20, 503, "100 Continue, then 503", &r);
    ASSERT_EQ(r.retry_after_ms, 7000);
    ASSERT_STR_EQ(r.text, "busy");
    ASSERT_EQ(http_verdict(r.fail, r.status), HTTP_RETRY);
    expect_status(moved, 0, 308, "redirect", &r);
    ASSERT_STR_EQ(r.location, "https://other.example/push");
    ASSERT_EQ(http_verdict(r.fail, r.status), HTTP_CONFIG);
    expect_status(byte_by_byte, 5, 500, "a reply in tiny writes", &r);
    ASSERT_STR_EQ(r.text, "ok");
    ASSERT_EQ(http_verdict(r.fail, r.status), HTTP_RETRY);
    {
        peer *p = peer_start(ok_open, 0, 2);
        double t0;
        http_target t;

        target_for(&t, p->port, "");
        t0 = wl_mono();
        post(&t, "/push", &r, 5000, NULL, NULL);
        printf("2xx without a length on an open connection: %ld after "
               "%.2f s\n", r.status, wl_mono() - t0);
        ASSERT_EQ(r.fail, NET_OK);
        ASSERT_EQ(r.status, 200);
        ASSERT(wl_mono() - t0 < 2.0); /* not the 5 s deadline */
        peer_join(p);
        http_target_free(&t);
        free(p);
    }
    expect_status(bare_lf, 0, 429, "bare LF line ends, read to EOF", &r);
    ASSERT_EQ(r.retry_after_ms, 2000);
    ASSERT_STR_EQ(r.text, "slow");
    TEST_OK("1xx skipped, Retry-After, Location, tiny writes, bare LF, "
            "EOF-delimited body; a 2xx body is not waited for");
}

static void expect_fail(const char *const *reply, int silent, int timeout_ms,
                        int (*abort_fn)(void *), int want, const char *what)
{
    peer *p = peer_start(reply, 0, silent);
    double t0 = wl_mono(), dt;
    http_target t;
    http_reply r;

    target_for(&t, p->port, "");
    post(&t, "/push", &r, timeout_ms, abort_fn, NULL);
    dt = wl_mono() - t0;
    peer_join(p);
    printf("%s: fail %d after %.2f s: %s\n", what, r.fail, dt, r.error);
    if (r.fail != want)
        FAILF("%s: fail %d, wanted %d", what, r.fail, want);
    ASSERT(r.error[0]);
    ASSERT_EQ(http_verdict(r.fail, 0), HTTP_RETRY);
    http_target_free(&t);
    free(p);
}

static double g_abort_at;

static int abort_soon(void *arg)
{
    (void)arg;
    return wl_mono() >= g_abort_at;
}

static void test_failures(void)
{
    static const char *const ssh[] = {"SSH-2.0-OpenSSH_9.2\r\n\r\n", NULL};
    static const char *const nothing[] = {NULL};
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t al = sizeof(a);
    http_target t;
    http_reply r;
    double t0;
    int fd;

    expect_fail(ssh, 0, 5000, NULL, NET_PROTOCOL, "not HTTP");
    expect_fail(nothing, 0, 5000, NULL, NET_IO, "closed without a reply");
    t0 = wl_mono();
    expect_fail(nothing, 1, 300, NULL, NET_TIMEOUT, "silent server");
    ASSERT(wl_mono() - t0 < 3.0);
    g_abort_at = wl_mono() + 0.2;
    expect_fail(nothing, 1, 20000, abort_soon, NET_ABORTED, "aborted");
    ASSERT(wl_mono() - t0 < 6.0);
    /* A port nobody listens on: bind one, learn it, close it. */
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
    ASSERT(getsockname(fd, (struct sockaddr *)&a, &al) == 0);
    close(fd);
    target_for(&t, ntohs(a.sin_port), "");
    post(&t, "/push", &r, 2000, NULL, NULL);
    printf("refused: %s\n", r.error);
    ASSERT_EQ(r.fail, NET_CONNECT);
    ASSERT(strstr(r.error, "127.0.0.1 port"));
    http_target_free(&t);
    ASSERT_EQ(http_target_parse(&t, "http://no-such-host.invalid:4040",
                                r.error, sizeof(r.error)), 0);
    t0 = wl_mono();
    post(&t, "/push", &r, 2000, NULL, NULL);
    printf("unresolvable: fail %d after %.2f s: %s\n", r.fail, wl_mono() - t0,
           r.error);
    ASSERT(r.fail == NET_RESOLVE || r.fail == NET_TIMEOUT);
    ASSERT(wl_mono() - t0 < 4.0);
    http_target_free(&t);
    TEST_OK("not HTTP, closed, silent (timeout), aborted, refused, "
            "unresolvable: each its own error, within the deadline");
}

static void test_proxies(void)
{
    static const char *const ok[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", NULL};
    static const char *const refuse[] = {
        "HTTP/1.1 407 Proxy Authentication Required\r\n"
        "Proxy-Authenticate: Basic realm=\"corp\"\r\n\r\n", NULL};
    char proxy[128], err[200];
    tls_ctx *tls;
    http_target t;
    http_reply r;
    peer *p;

    p = peer_start(ok, 0, 0);
    ASSERT_EQ(http_target_parse(&t, "http://pyro.test:4040/base", err,
                                sizeof(err)), 0);
    snprintf(proxy, sizeof(proxy), "http://pu:pp@127.0.0.1:%d", p->port);
    ASSERT_EQ(http_target_set_proxy(&t, proxy, err, sizeof(err)), 0);
    post(&t, "/ingest", &r, 5000, NULL, NULL);
    peer_join(p);
    ASSERT_EQ(r.fail, NET_OK);
    ASSERT_EQ(r.status, 200);
    ASSERT(strncmp(p->req, "POST http://pyro.test:4040/base/ingest HTTP/1.1"
                   "\r\nHost: pyro.test:4040\r\n", 65) == 0);
    ASSERT(strstr(p->req, "\r\nProxy-Authorization: Basic cHU6cHA=\r\n"));
    http_target_free(&t);
    free(p);

    tls = tls_ctx_new(NULL, 1, err, sizeof(err));
    if (!tls) {
        printf("skip - CONNECT: %s\n", err);
    } else {
        p = peer_start(refuse, 0, 0);
        ASSERT_EQ(http_target_parse(&t, "https://pyro.test:9443", err,
                                    sizeof(err)), 0);
        snprintf(proxy, sizeof(proxy), "127.0.0.1:%d", p->port);
        ASSERT_EQ(http_target_set_proxy(&t, proxy, err, sizeof(err)), 0);
        post(&t, "/push", &r, 5000, NULL, tls);
        peer_join(p);
        printf("CONNECT refused: %s\n", r.error);
        ASSERT_EQ(r.fail, NET_PROXY);
        ASSERT_EQ(r.status, 407);
        ASSERT_EQ(http_verdict(r.fail, r.status), HTTP_CONFIG);
        ASSERT(strncmp(p->req, "CONNECT pyro.test:9443 HTTP/1.1\r\n", 33) == 0);
        ASSERT(!strstr(p->req, "Authorization: Basic dTpw")); /* not ours */
        http_target_free(&t);
        tls_ctx_free(tls);
        free(p);
    }
    ASSERT(http_target_set_proxy(&t, "socks5://127.0.0.1:1080", err,
                                 sizeof(err)) != 0);
    printf("socks5: %s\n", err);
    TEST_OK("HTTP proxy in absolute form with its credentials; a refused "
            "CONNECT is a configuration error; socks refused at start");
}

/* Plain http must not have loaded OpenSSL (run before anything https). */
static void assert_no_openssl(void)
{
    char line[512];
    FILE *f = fopen("/proc/self/maps", "r");

    ASSERT(f);
    while (fgets(line, sizeof(line), f))
        if (strstr(line, "libssl") || strstr(line, "libcrypto"))
            FAILF("plain http mapped %s", line);
    fclose(f);
    TEST_OK("plain http maps no TLS library");
}

/* Under tests/support/dns_blackhole.sh: every query goes unanswered.  Each
 * attempt must end at its deadline and the lookup threads must not pile
 * up (one stays in getaddrinfo; retries wait on it). */
static void test_dns_blackhole(void)
{
    int before = (int)wl_status_field("Threads"), most = 0;
    http_target t;
    http_reply r;

    ASSERT_EQ(http_target_parse(&t, "http://pyroscope.blackhole.test:4040",
                                r.error, sizeof(r.error)), 0);
    for (int i = 0; i < 8; i++) {
        double t0 = wl_mono();
        post(&t, "/push", &r, 300, NULL, NULL);
        if (r.fail != NET_TIMEOUT || wl_mono() - t0 > 2.0)
            FAILF("attempt %d: fail %d after %.2f s: %s", i, r.fail,
                  wl_mono() - t0, r.error);
        if ((int)wl_status_field("Threads") > most)
            most = (int)wl_status_field("Threads");
    }
    printf("8 attempts: each timed out at 0.3 s (%s); threads %d -> at most "
           "%d\n", r.error, before, most);
    ASSERT(most <= before + 1);
    http_target_free(&t);
    TEST_OK("a DNS server that never answers: bounded attempts, one lookup "
            "thread");
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "dns-blackhole")) {
        test_dns_blackhole();
        return 0;
    }
    test_parse();
    test_codecs();
    test_env_proxy();
    test_request_and_chunked();
    test_replies();
    test_failures();
    assert_no_openssl();
    test_proxies();
    return 0;
}
