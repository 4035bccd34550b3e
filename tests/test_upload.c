/*
 * Upload to a real HTTP server on loopback: the request carries the series
 * name with tags, time range and sample rate (no format: the body is
 * multipart), the auth and tenant headers, and a multipart body whose
 * "profile" decodes to a CPU profile with the function that burned the CPU.
 * A rejection is logged with the status and the server's text, bounded and
 * without our credentials.
 */
#define _GNU_SOURCE /* memmem */
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "pyroscope.h"
#include "support/decode.h"
#include "support/http_server.h"
#include "support/test.h"
#include "support/workload.h"

static http_request *only_request(http_server *s)
{
    ASSERT(http_server_count(s) >= 1);
    return http_server_get(s, 0);
}

static void check_query(const http_request *r)
{
    char *name = http_query(r, "name"), *from = http_query(r, "from");
    char *until = http_query(r, "until"), *fmt = http_query(r, "format");
    char *rate = http_query(r, "sampleRate"), *spy = http_query(r, "spyName");
    long long now = (long long)time(NULL);

    ASSERT_STR_EQ(r->method, "POST");
    ASSERT(strncmp(r->target, "/base/ingest?", 13) == 0);
    /* The application name alone: for pprof the server takes the type from
     * the sample types and would keep a ".cpu" in service_name. */
    ASSERT_STR_EQ(name, "test_upload{env=ci,region=eu-west}");
    ASSERT(from && until);
    ASSERT(atoll(until) > atoll(from));
    ASSERT(atoll(from) > now - 120 && atoll(until) <= now + 2);
    /* format=pprof would make the server read the multipart body as a raw
     * pprof (HTTP 422): the multipart Content-Type says what it is. */
    ASSERT(fmt == NULL);
    ASSERT_STR_EQ(rate, "100");
    ASSERT_STR_EQ(spy, "pyroscope-c");
    free(name), free(from), free(until), free(fmt), free(rate), free(spy);
}

static void check_headers(const http_request *r)
{
    char *auth = http_header(r, "Authorization");
    char *org = http_header(r, "X-Scope-OrgID");
    char *extra = http_header(r, "X-Extra");

    ASSERT_STR_EQ(auth, "Bearer tok-123");
    ASSERT_STR_EQ(org, "tenant-a");
    ASSERT_STR_EQ(extra, "yes please");
    free(auth), free(org), free(extra);
}

static void check_body(const http_request *r)
{
    size_t len = 0;
    const unsigned char *body = http_multipart(r, "profile", &len);
    pb_profile *prof;
    int si;

    ASSERT(body != NULL && len > 0);
    prof = decode_profile(body, len);
    ASSERT(prof != NULL);
    si = pb_type_index(prof, "samples");
    ASSERT(si == 0);
    ASSERT(pb_type_index(prof, "cpu") == 1);
    ASSERT(prof->time_nanos > 0 && prof->duration_nanos > 0);
    ASSERT(prof->n_mapping > 0);
    /* 0.5 s at 100 Hz: about 50 samples in work_alpha. */
    ASSERT(pb_sum_with(prof, si, "work_alpha") >= 30);
    decode_free(prof);
}

static void test_ingest(void)
{
    http_server *s = http_server_start();
    pyroscope_tag tags[] = {{"region", "eu-west"}, {"env", "ci"}};
    pyroscope_tag headers[] = {{"X-Extra", "yes please"}};
    pyroscope_config cfg = PYROSCOPE_CONFIG_INIT;
    char url[128];
    pyroscope *p;
    http_request *r;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/base/",
             http_server_port(s));
    cfg.application_name = "test_upload";
    cfg.server_address = url;
    cfg.tags = tags;
    cfg.tags_count = 2;
    cfg.auth_token = "tok-123";
    cfg.tenant_id = "tenant-a";
    cfg.http_headers = headers;
    cfg.http_headers_count = 1;
    cfg.upload_interval_ms = 60000;
    ASSERT_EQ(pyroscope_start(&p, &cfg), 0);
    work_alpha(0.5);
    ASSERT_EQ(pyroscope_flush(p, 5000), 0);
    pyroscope_stop(p);
    r = only_request(s);
    check_query(r);
    check_headers(r);
    check_body(r);
    http_request_free(r);
    free(r);
    http_server_stop(s);
    TEST_OK("ingest request");
}

static void test_basic_auth(void)
{
    http_server *s = http_server_start();
    pyroscope_config cfg = PYROSCOPE_CONFIG_INIT;
    char url[128], *auth;
    pyroscope *p;
    http_request *r;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d", http_server_port(s));
    cfg.application_name = "test_upload";
    cfg.server_address = url;
    cfg.basic_auth_user = "user";
    cfg.basic_auth_password = "secret";
    cfg.upload_interval_ms = 60000;
    ASSERT_EQ(pyroscope_start(&p, &cfg), 0);
    work_alpha(0.2);
    ASSERT_EQ(pyroscope_flush(p, 5000), 0);
    pyroscope_stop(p);
    r = only_request(s);
    auth = http_header(r, "Authorization");
    ASSERT_STR_EQ(auth, "Basic dXNlcjpzZWNyZXQ="); /* user:secret */
    free(auth);
    http_request_free(r);
    free(r);
    http_server_stop(s);
    TEST_OK("basic auth");
}

static char g_log[4096];
static pthread_mutex_t g_log_lock = PTHREAD_MUTEX_INITIALIZER;

static void keep_log(int level, const char *msg, void *payload)
{
    (void)level, (void)payload;
    pthread_mutex_lock(&g_log_lock);
    if (strlen(g_log) + strlen(msg) + 2 < sizeof(g_log)) {
        strcat(g_log, msg);
        strcat(g_log, "\n");
    }
    pthread_mutex_unlock(&g_log_lock);
}

static void test_rejection_logged(void)
{
    http_server *s = http_server_start();
    pyroscope_config cfg = PYROSCOPE_CONFIG_INIT;
    char url[128], reply[1024], *line;
    pyroscope *p;
    size_t i;

    /* A long reply with a newline and a tab that echoes our token twice:
     * early, and across the point where the logged line is cut. */
    snprintf(reply, sizeof(reply), "{\"code\":\"invalid_argument\",\n"
             "\t\"message\":\"proto: wrong wireType tok-SeCrEt-9 ");
    for (i = strlen(reply); i < 290; i++)
        reply[i] = 'y';
    memcpy(reply + i, "tok-SeCrEt-9", 12);
    for (i += 12; i < sizeof(reply) - 1; i++)
        reply[i] = 'x';
    reply[i] = '\0';
    http_server_reply(s, 422, NULL, reply);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", http_server_port(s));
    cfg.application_name = "test_upload";
    cfg.server_address = url;
    cfg.auth_token = "tok-SeCrEt-9";
    cfg.upload_interval_ms = 60000;
    cfg.log_fn = keep_log;
    ASSERT_EQ(pyroscope_start(&p, &cfg), 0);
    work_alpha(0.2);
    pyroscope_flush(p, 5000); /* 422 drops the job: the queue empties */
    pyroscope_stop(p);
    pthread_mutex_lock(&g_log_lock);
    line = strstr(g_log, "rejected: HTTP 422: ");
    ASSERT(line != NULL);
    ASSERT(strstr(line, "\"code\":\"invalid_argument\", \"message\":"
                        "\"proto: wrong wireType ") != NULL);
    ASSERT(strstr(g_log, "SeCrEt") == NULL);
    ASSERT(strstr(g_log, "tok-S") == NULL); /* not even a cut prefix */
    ASSERT(strstr(line, "wireType [redacted] yyy") != NULL);
    ASSERT(strchr(line, '\t') == NULL);
    /* Bounded: the 1 KiB reply is cut to a few hundred characters. */
    ASSERT(strcspn(line, "\n") < 400);
    ASSERT(strstr(line, "...") != NULL);
    pthread_mutex_unlock(&g_log_lock);
    http_server_stop(s);
    TEST_OK("rejection logged with the server's text");
}

/* Lines by level, "W " / "I " / "D " first. */
static char g_levels[16384];

static void keep_levels(int level, const char *msg, void *payload)
{
    const char *tag = level <= PYROSCOPE_LOG_WARN ? "W " :
                      level == PYROSCOPE_LOG_INFO ? "I " : "D ";

    (void)payload;
    pthread_mutex_lock(&g_log_lock);
    if (strlen(g_levels) + strlen(msg) + 4 < sizeof(g_levels)) {
        strcat(g_levels, tag);
        strcat(g_levels, msg);
        strcat(g_levels, "\n");
    }
    pthread_mutex_unlock(&g_log_lock);
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;

    for (; (hay = strstr(hay, needle)) != NULL; hay++)
        n++;
    return n;
}

/* An outage is reported once, with the address (credentials redacted) and
 * the reason; repeats go to debug; the recovery is reported too. */
static void test_outage_logged_once(void)
{
    http_server *s = http_server_start();
    pyroscope_config cfg = PYROSCOPE_CONFIG_INIT;
    pyroscope_stats st;
    char url[128], want[160];
    pyroscope *p;
    int i;

    http_server_set(s, HTTP_OK, 503);
    snprintf(url, sizeof(url), "http://user:pw-SeCrEt-7@127.0.0.1:%d",
             http_server_port(s));
    cfg.application_name = "test_upload";
    cfg.server_address = url;
    cfg.upload_interval_ms = 200;
    cfg.log_level = PYROSCOPE_LOG_DEBUG;
    cfg.log_fn = keep_levels;
    ASSERT_EQ(pyroscope_start(&p, &cfg), 0);
    /* Deadline, not a fixed wait: at least 3 failed attempts. */
    for (i = 0; i < 600; i++) {
        work_alpha(0.05);
        pyroscope_get_stats(p, &st);
        if (st.upload_failures >= 3)
            break;
    }
    ASSERT(st.upload_failures >= 3);
    http_server_set(s, HTTP_OK, 200);
    ASSERT_EQ(pyroscope_flush(p, 30000), 0);
    pyroscope_stop(p);
    pthread_mutex_lock(&g_log_lock);
    snprintf(want, sizeof(want),
             "W upload to http://[redacted]@127.0.0.1:%d rejected: HTTP 503",
             http_server_port(s));
    printf("  %llu failed attempts; warn lines: %zu\n",
           (unsigned long long)st.upload_failures, count(g_levels, "\nW "));
    ASSERT_EQ(count(g_levels, want), 1);
    ASSERT(count(g_levels, "D upload to http://[redacted]@127.0.0.1") >= 2);
    ASSERT(count(g_levels, "I upload to http://[redacted]@127.0.0.1") == 1);
    ASSERT(strstr(g_levels, "works again after") != NULL);
    ASSERT(strstr(g_levels, "SeCrEt") == NULL);
    pthread_mutex_unlock(&g_log_lock);
    http_server_stop(s);
    TEST_OK("outage logged once with the address, repeats at debug");
}

/* ---- block vs mutex over /ingest ---- */

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;

static void *contend(void *arg)
{
    struct timespec hold = {0, 2 * 1000 * 1000};

    (void)arg;
    for (int i = 0; i < 40; i++) {
        pthread_mutex_lock(&g_mu);
        nanosleep(&hold, NULL);
        pthread_mutex_unlock(&g_mu);
    }
    return NULL;
}

/* Whether the form part `name` of `r` contains `text`. */
static int part_has(const http_request *r, const char *name, const char *text)
{
    size_t len = 0;
    const unsigned char *v = http_multipart(r, name, &len);

    return v && memmem(v, len, text, strlen(text)) != NULL;
}

/*
 * The server files every contentions/delay profile as "mutex" unless the
 * form's sample_type_config names the types block_count/block_duration:
 * the block profile carries it (and its stacks are the waiters', ending in
 * pthread_mutex_lock), the mutex profile does not.
 */
static void test_block_form(void)
{
    http_server *s = http_server_start();
    pyroscope_config cfg = PYROSCOPE_CONFIG_INIT;
    char url[128];
    pyroscope *p;
    pthread_t t[3];
    int blocks = 0, mutexes = 0;

    if (!hooks_interposed()) {
        printf("skip - block/mutex form: sanitizer builds do not interpose "
               "the pthread locks\n");
        http_server_stop(s);
        return;
    }
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", http_server_port(s));
    cfg.application_name = "test_upload";
    cfg.server_address = url;
    cfg.upload_interval_ms = 60000;
    cfg.profile_types = PYROSCOPE_PROFILE_LOCK | PYROSCOPE_PROFILE_BLOCK;
    ASSERT_EQ(pyroscope_start(&p, &cfg), 0);
    for (int i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, contend, NULL);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    ASSERT_EQ(pyroscope_flush(p, 5000), 0);
    pyroscope_stop(p);
    for (size_t i = 0; i < http_server_count(s); i++) {
        http_request *r = http_server_get(s, i);
        size_t len = 0;
        const unsigned char *body = http_multipart(r, "profile", &len);
        pb_profile *prof = decode_profile(body, len);

        ASSERT(prof != NULL);
        ASSERT_EQ(pb_type_index(prof, "contentions"), 0);
        if (part_has(r, "sample_type_config", "\"block_count\"")) {
            ASSERT(part_has(r, "sample_type_config", "\"block_duration\""));
            ASSERT(pb_sum_with(prof, 0, "pthread_mutex_lock") > 0);
            blocks++;
        } else {
            ASSERT(http_multipart(r, "sample_type_config", &len) == NULL);
            ASSERT(pb_sum_with(prof, 0, "pthread_mutex_unlock") > 0);
            mutexes++;
        }
        decode_free(prof);
        http_request_free(r);
        free(r);
    }
    printf("block profiles %d, mutex profiles %d\n", blocks, mutexes);
    ASSERT(blocks >= 1 && mutexes >= 1);
    http_server_stop(s);
    TEST_OK("block profile's form names its sample types, mutex's does not");
}

int main(void)
{
    test_ingest();
    test_block_form();
    test_basic_auth();
    test_rejection_logged();
    test_outage_logged_once();
    return 0;
}
