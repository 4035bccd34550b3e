/*
 * Upload to a real HTTP server on loopback: the request carries the series
 * name with tags, time range, format and sample rate, the auth and tenant
 * headers, and a multipart body whose "profile" decodes to a CPU profile
 * with the function that burned the CPU.
 */
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
    ASSERT_STR_EQ(name, "test_upload.cpu{env=ci,region=eu-west}");
    ASSERT(from && until);
    ASSERT(atoll(until) > atoll(from));
    ASSERT(atoll(from) > now - 120 && atoll(until) <= now + 2);
    ASSERT_STR_EQ(fmt, "pprof");
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

int main(void)
{
    test_ingest();
    test_basic_auth();
    return 0;
}
