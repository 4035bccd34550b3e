/*
 * What reaches the wire and the log.  CR/LF in any value bound for a
 * header or the URL is refused with PYROSCOPE_EINVAL and a message that
 * does not show the value; no secret appears in any log line, even at
 * debug level and when the server echoes the request; 401 is logged once
 * and profiles are kept; Retry-After is honoured; 413 drops with a clear
 * line; redirects are not followed; the profile id is stable over retries.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "push.pb-c.h"
#include "pyroscope.h"
#include "support/http_server.h"
#include "support/test.h"
#include "support/workload.h"
#include "upload/http.h"
#include "upload/spool.h"

#define ID_HEADER "X-Pyroscope-Profile-ID"

/* ---- captured log ---- */

static pthread_mutex_t g_log_lock = PTHREAD_MUTEX_INITIALIZER;
static char g_log[1 << 20];
static size_t g_log_len;

static void capture(int level, const char *msg, void *payload)
{
    (void)payload;
    pthread_mutex_lock(&g_log_lock);
    g_log_len += (size_t)snprintf(g_log + g_log_len,
                                  sizeof(g_log) - g_log_len, "%d %s\n",
                                  level, msg);
    if (g_log_len >= sizeof(g_log))
        g_log_len = sizeof(g_log) - 1;
    pthread_mutex_unlock(&g_log_lock);
}

static void log_reset(void)
{
    pthread_mutex_lock(&g_log_lock);
    g_log_len = 0;
    g_log[0] = '\0';
    pthread_mutex_unlock(&g_log_lock);
}

static size_t log_count(const char *needle)
{
    size_t n = 0;
    const char *p;

    pthread_mutex_lock(&g_log_lock);
    for (p = g_log; (p = strstr(p, needle)) != NULL; p++)
        n++;
    pthread_mutex_unlock(&g_log_lock);
    return n;
}

static const char *const SECRETS[] = {"SEKRET-token-1", "SEKRET-pw-2",
                                      "SEKRET-url-3", "SEKRET-hdr-4",
                                      "SEKRET-user-5"};

static void assert_no_secret(const char *text, const char *where)
{
    size_t i;

    for (i = 0; i < sizeof(SECRETS) / sizeof(SECRETS[0]); i++)
        if (strstr(text, SECRETS[i]))
            FAILF("%s contains secret '%s':\n%s", where, SECRETS[i], text);
}

/* ---- 1: CR/LF refused, value never echoed ---- */

static pyroscope_config base(void)
{
    pyroscope_config c = PYROSCOPE_CONFIG_INIT;

    c.application_name = "wire";
    c.server_address = "http://127.0.0.1:1";
    c.log_level = PYROSCOPE_LOG_OFF;
    return c;
}

static void refused(const pyroscope_config *c, const char *field)
{
    pyroscope *p = NULL;
    int rc = pyroscope_start(&p, c);
    const char *e = pyroscope_last_error();

    if (rc != PYROSCOPE_EINVAL)
        FAILF("[%s] expected EINVAL, got %d (%s)", field, rc, e);
    if (strstr(e, "SEKRET") || strstr(e, "Injected") || strchr(e, '\r') ||
        strchr(e, '\n'))
        FAILF("[%s] message shows the value: '%s'", field, e);
    if (!strstr(e, field))
        FAILF("[%s] message does not name the field: '%s'", field, e);
    ASSERT(pyroscope_current() == NULL);
}

#define EVIL "SEKRET\r\nX-Injected: evil"

static void test_crlf_struct(void)
{
    pyroscope_config c;
    pyroscope_tag hv[] = {{"X-Api-Key", EVIL}};
    pyroscope_tag hn[] = {{"X-A\r\nX-Injected", "v"}};
    pyroscope_tag hs[] = {{"X A", "v"}};
    pyroscope_tag tv[] = {{"k", EVIL}};
    pyroscope_tag tk[] = {{"k\r\nSEKRET", "v"}};

    c = base(), c.auth_token = EVIL;
    refused(&c, "auth_token");
    c = base(), c.tenant_id = EVIL;
    refused(&c, "tenant_id");
    c = base(), c.basic_auth_user = EVIL;
    refused(&c, "basic_auth_user");
    c = base(), c.basic_auth_user = "a:b";
    refused(&c, "basic_auth_user");
    c = base(), c.basic_auth_user = "u", c.basic_auth_password = EVIL;
    refused(&c, "basic_auth_password");
    c = base(), c.http_headers = hv, c.http_headers_count = 1;
    refused(&c, "X-Api-Key");
    c = base(), c.http_headers = hn, c.http_headers_count = 1;
    refused(&c, "http header 1");
    c = base(), c.http_headers = hs, c.http_headers_count = 1;
    refused(&c, "invalid name");
    c = base(), c.application_name = "app\r\nSEKRET";
    refused(&c, "application_name");
    c = base(), c.spy_name = EVIL;
    refused(&c, "spy_name");
    c = base(), c.server_address = "http://127.0.0.1:1/\r\nSEKRET";
    refused(&c, "server_address");
    c = base(), c.server_address = "http://u:SEKRET-url-3@h:1/p?q=1";
    refused(&c, "server_address");
    c = base(), c.server_address = "ftp://u:SEKRET-url-3@h:1";
    refused(&c, "server_address");
    c = base(), c.tags = tv, c.tags_count = 1;
    refused(&c, "tag value");
    c = base(), c.tags = tk, c.tags_count = 1;
    refused(&c, "tag key");
    c = base(), c.tls_insecure = 7;
    refused(&c, "tls_insecure");
    c = base(), c.tls_ca_file = "/nonexistent/ca.pem";
    refused(&c, "tls_ca_file");
    /* A control character in a scope tag never lands in the message. */
    ASSERT_EQ(pyroscope_tag_check("k", EVIL), PYROSCOPE_EINVAL);
    ASSERT(!strstr(pyroscope_last_error(), "SEKRET"));
    TEST_OK("CR/LF refused in every header- or URL-bound field, value not "
            "shown");
}

static void env_refused(const char *name, const char *value,
                        const char *field)
{
    pyroscope_config c = base();

    c.log_level = 0;
    setenv(name, value, 1);
    refused(&c, field);
    unsetenv(name);
}

static void test_crlf_env(void)
{
    env_refused("PYROSCOPE_AUTH_TOKEN", "tok\r\nX-Injected: evil",
                "auth_token");
    env_refused("PYROSCOPE_TENANT_ID", "t\r\nX-Injected: evil", "tenant_id");
    env_refused("PYROSCOPE_BASIC_AUTH_PASSWORD", EVIL, "basic_auth_password");
    env_refused("PYROSCOPE_HTTP_HEADERS", "Authorization=Bearer SEKRET-1",
                "PYROSCOPE_HTTP_HEADERS");
    env_refused("PYROSCOPE_HTTP_HEADERS", "{\"X-K\":\"a\r\nX-Injected: 1\"}",
                "X-K");
    env_refused("PYROSCOPE_LABELS", "k=a\r\nSEKRET", "tag value");
    env_refused("PYROSCOPE_TLS_INSECURE", "maybe", "PYROSCOPE_TLS_INSECURE");
    TEST_OK("CR/LF refused in PYROSCOPE_* variables, value not shown");
}

/* ---- 2: secrets in logs, status handling ---- */

static pyroscope *start_logged(const char *url, const char *spool)
{
    pyroscope_config c = PYROSCOPE_CONFIG_INIT;
    pyroscope_tag hdr[] = {{"X-Api-Key", "SEKRET-hdr-4"}};
    pyroscope *p;

    c.application_name = "wire-log";
    c.server_address = url;
    c.auth_token = "SEKRET-token-1";
    c.basic_auth_user = "SEKRET-user-5";
    c.basic_auth_password = "SEKRET-pw-2";
    c.http_headers = hdr;
    c.http_headers_count = 1;
    c.upload_interval_ms = 100;
    c.upload_timeout_ms = 2000;
    c.stop_timeout_ms = 500;
    c.spool_dir = spool;
    c.log_level = PYROSCOPE_LOG_DEBUG;
    c.log_fn = capture;
    ASSERT_EQ(pyroscope_start(&p, &c), 0);
    return p;
}

static void wait_requests(http_server *s, size_t n, double timeout)
{
    double t0 = wl_mono();

    while (http_server_count(s) < n && wl_mono() - t0 < timeout)
        work_alpha(0.02);
    if (http_server_count(s) < n)
        FAILF("only %zu of %zu requests in %.0f s", http_server_count(s), n,
              timeout);
}

static void test_secrets_and_401(void)
{
    http_server *s = http_server_start();
    char url[128], *dir = wl_tempdir("wire401");
    pyroscope_stats st;
    size_t files, n;
    uint64_t bytes;
    pyroscope *p;

    snprintf(url, sizeof(url), "http://SEKRET-url-3:SEKRET-url-3@127.0.0.1:%d",
             http_server_port(s));
    log_reset();
    /* The server echoes what we sent, as some proxies do. */
    http_server_reply(s, 401, NULL, "invalid token SEKRET-token-1 for "
                      "SEKRET-user-5:SEKRET-pw-2 (X-Api-Key: SEKRET-hdr-4)");
    p = start_logged(url, dir);
    wait_requests(s, 1, 60);
    /* More windows close; none may be dropped, and no quick retry. */
    work_alpha(1.0);
    pyroscope_get_stats(p, &st);
    ASSERT_EQ(st.profiles_dropped, 0);
    n = http_server_count(s);
    pyroscope_stop(p);
    ASSERT(n <= 2); /* one attempt, not a retry storm */
    ASSERT_EQ(log_count("1 upload to"), 1); /* one ERROR line ... */
    ASSERT(log_count("HTTP 401: invalid token [redacted]") >= 1);
    ASSERT(log_count("X-Api-Key") >= 1);  /* header names at debug */
    assert_no_secret(g_log, "the log");
    spool_usage(dir, &files, &bytes);
    ASSERT(files >= 2); /* kept for when the token is fixed */
    printf("401: %zu request(s), %zu profiles kept in the spool\n", n, files);
    /* The operator fixes the server: the next run delivers them all. */
    http_server_set(s, HTTP_OK, 200);
    p = start_logged(url, dir);
    work_alpha(0.3);
    ASSERT_EQ(pyroscope_flush(p, 30000), 0);
    pyroscope_stop(p);
    spool_usage(dir, &files, &bytes);
    ASSERT_EQ(files, 0);
    assert_no_secret(g_log, "the log");
    http_server_stop(s);
    free(dir);
    TEST_OK("401: logged once with the server's words, secrets masked, "
            "profiles kept and delivered later");
}

static void test_retry_after(void)
{
    http_server *s = http_server_start();
    http_request *a, *b;
    char url[64], *ida, *idb;
    pyroscope *p;
    double gap;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d", http_server_port(s));
    log_reset();
    http_server_reply(s, 429, "Retry-After: 3\r\n", "slow down");
    p = start_logged(url, NULL);
    wait_requests(s, 1, 60);
    wait_requests(s, 2, 60);
    http_server_set(s, HTTP_OK, 200);
    pyroscope_stop(p);
    a = http_server_get(s, 0);
    b = http_server_get(s, 1);
    gap = b->t - a->t;
    ida = http_header(a, ID_HEADER);
    idb = http_header(b, ID_HEADER);
    printf("429 with Retry-After: 3 -> next attempt after %.2f s\n", gap);
    ASSERT(gap >= 2.9); /* our own backoff would have been 0.5 s */
    ASSERT(ida && strlen(ida) == 32);
    ASSERT_STR_EQ(ida, idb); /* the same profile, the same id */
    free(ida), free(idb);
    http_request_free(a), free(a);
    http_request_free(b), free(b);
    ASSERT_EQ(http_clamp_retry_after(-1), 0);
    ASSERT_EQ(http_clamp_retry_after(7), 7000);
    ASSERT_EQ(http_clamp_retry_after(86400), HTTP_RETRY_AFTER_MAX_MS);
    assert_no_secret(g_log, "the log");
    http_server_stop(s);
    TEST_OK("Retry-After honoured (bounded); the id is stable over retries");
}

static void test_413_and_redirect(void)
{
    http_server *s = http_server_start(), *other = http_server_start();
    char url[64], loc[160];
    pyroscope_stats st;
    pyroscope *p;
    size_t n;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d", http_server_port(s));
    log_reset();
    http_server_reply(s, 413, NULL, "profile too big");
    p = start_logged(url, NULL);
    wait_requests(s, 2, 60);
    pyroscope_get_stats(p, &st);
    ASSERT(st.profiles_dropped >= 1);
    ASSERT(log_count("too large (HTTP 413: profile too big): dropped") >= 1);
    /* A redirect is not followed, credentials stay home. */
    snprintf(loc, sizeof(loc),
             "Location: http://SEKRET-url-3:x@127.0.0.1:%d/ingest\r\n",
             http_server_port(other));
    http_server_reply(s, 307, loc, "");
    n = http_server_count(s);
    wait_requests(s, n + 1, 60);
    work_alpha(0.3);
    pyroscope_stop(p);
    ASSERT_EQ(http_server_count(other), 0);
    ASSERT(log_count("redirect to http://[redacted]@127.0.0.1") >= 1);
    ASSERT(log_count("is not followed") >= 1);
    assert_no_secret(g_log, "the log");
    http_server_stop(s);
    http_server_stop(other);
    TEST_OK("413 dropped with a clear line; redirects not followed");
}

/* A caller built against the version 1 header passes a smaller struct:
 * the fields added in version 2 (TLS) must not be read from it. */
static void test_config_v1_struct(void)
{
    pyroscope_config c;
    pyroscope *p;

    memset(&c, 0xAB, sizeof(c)); /* what lies past a v1 struct */
    ASSERT_EQ(pyroscope_config_init(&c, 1), 0);
    ASSERT(c.tls_insecure != 0 && c.tls_insecure != 1); /* not touched */
    c.application_name = "wire-v1";
    c.server_address = "http://127.0.0.1:1";
    c.log_level = PYROSCOPE_LOG_OFF;
    ASSERT_EQ(pyroscope_start(&p, &c), 0);
    pyroscope_stop(p);
    TEST_OK("version 1 config structs: the v2 tail is neither written nor "
            "read");
}

/* Push API: the RawSample ID in the body is the header's profile id. */
static void test_push_id(void)
{
    http_server *s = http_server_start();
    pyroscope_config c = PYROSCOPE_CONFIG_INIT;
    Push__V1__PushRequest *req;
    http_request *r;
    char url[64], *id;
    pyroscope *p;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d", http_server_port(s));
    c.application_name = "wire-push";
    c.server_address = url;
    c.api = PYROSCOPE_API_PUSH;
    c.upload_interval_ms = 100;
    c.log_level = PYROSCOPE_LOG_OFF;
    ASSERT_EQ(pyroscope_start(&p, &c), 0);
    wait_requests(s, 1, 60);
    pyroscope_stop(p);
    r = http_server_get(s, 0);
    id = http_header(r, ID_HEADER);
    req = push__v1__push_request__unpack(NULL, r->len, r->body);
    ASSERT(req && req->n_series == 1 && req->series[0]->n_samples == 1);
    ASSERT(id && strlen(id) == 32);
    ASSERT_STR_EQ(req->series[0]->samples[0]->id, id);
    push__v1__push_request__free_unpacked(req, NULL);
    free(id);
    http_request_free(r);
    free(r);
    http_server_stop(s);
    TEST_OK("push: the sample ID is the stable profile id of the header");
}

int main(void)
{
    test_config_v1_struct();
    test_push_id();
    test_crlf_struct();
    test_crlf_env();
    test_secrets_and_401();
    test_retry_after();
    test_413_and_redirect();
    return 0;
}
