/*
 * Tags: validation, scope nesting, per-thread attribution in uploads (one
 * /ingest series per tag set; pprof labels on the push API), and the bound
 * on live tag sets.
 */
#include <pthread.h>
#include <unistd.h>

#include "push.pb-c.h"
#include "pyroscope.h"
#include "support/decode.h"
#include "support/http_server.h"
#include "support/test.h"
#include "support/workload.h"
#include "tags/tags.h"

#define T(k, v) {(k), (v)}

static void push_refused(const char *key, const char *value, int code)
{
    pyroscope_tag t[] = {T(key, value)};
    uint64_t before = pyroscope_scope_current();
    int rc = pyroscope_scope_push(t, 1);

    if (rc != code)
        FAILF("push {%s=%s}: expected %d, got %d (%s)", key ? key : "NULL",
              value ? value : "NULL", code, rc, pyroscope_last_error());
    ASSERT(strlen(pyroscope_last_error()) > 10);
    ASSERT(pyroscope_scope_current() == before); /* nothing pushed */
}

static void test_validation(void)
{
    char long_key[128], long_val[300];
    pyroscope_tag many[17];
    int i;

    push_refused("", "x", PYROSCOPE_EINVAL);
    push_refused(NULL, "x", PYROSCOPE_EINVAL);
    push_refused("1abc", "x", PYROSCOPE_EINVAL);
    push_refused("a-b", "x", PYROSCOPE_EINVAL);
    push_refused("a b", "x", PYROSCOPE_EINVAL);
    push_refused("__name__", "x", PYROSCOPE_EINVAL);
    push_refused("service_name", "x", PYROSCOPE_EINVAL);
    push_refused("k", "a{b", PYROSCOPE_EINVAL);
    push_refused("k", "a}b", PYROSCOPE_EINVAL);
    push_refused("k", "a,b", PYROSCOPE_EINVAL);
    push_refused("k", "a=b", PYROSCOPE_EINVAL);
    push_refused("k", "a\"b", PYROSCOPE_EINVAL);
    push_refused("k", "a\nb", PYROSCOPE_EINVAL);
    memset(long_key, 'k', 101), long_key[101] = '\0';
    push_refused(long_key, "x", PYROSCOPE_ELIMIT);
    memset(long_val, 'v', 257), long_val[257] = '\0';
    push_refused("k", long_val, PYROSCOPE_ELIMIT);
    for (i = 0; i < 17; i++)
        many[i].key = "k", many[i].value = "v";
    ASSERT_EQ(pyroscope_scope_push(many, 17), PYROSCOPE_ELIMIT);
    ASSERT_EQ(pyroscope_scope_push(NULL, 1), PYROSCOPE_EINVAL);
    ASSERT_EQ(pyroscope_tag_check("ok.key_1", "fine/value:ok"), 0);
    ASSERT_EQ(pyroscope_tag_check("ok", ""), PYROSCOPE_EINVAL);
    TEST_OK("invalid tags refused");
}

static int has_pair(uint64_t id, const char *k, const char *v)
{
    pyroscope_tag kv[64];
    char strings[8192];
    size_t n = tags_get(id, kv, 64, strings, sizeof(strings)), i;

    for (i = 0; i < n; i++)
        if (!strcmp(kv[i].key, k))
            return v && !strcmp(kv[i].value, v);
    return v == NULL;
}

static void test_nesting(void)
{
    pyroscope_tag a[] = {T("endpoint", "/a"), T("tenant", "t1")};
    pyroscope_tag b[] = {T("endpoint", "/b")};
    pyroscope_tag del[] = {T("tenant", "")};
    uint64_t outer, inner, saved;
    int depth = 0;

    ASSERT_EQ(pyroscope_scope_current(), 0);
    ASSERT_EQ(pyroscope_scope_push(a, 2), 0);
    outer = pyroscope_scope_current();
    ASSERT(has_pair(outer, "endpoint", "/a") && has_pair(outer, "tenant", "t1"));
    ASSERT_EQ(pyroscope_scope_push(b, 1), 0);
    inner = pyroscope_scope_current();
    ASSERT(has_pair(inner, "endpoint", "/b") && has_pair(inner, "tenant", "t1"));
    ASSERT_EQ(pyroscope_scope_push(del, 1), 0);
    ASSERT(has_pair(pyroscope_scope_current(), "tenant", NULL));
    pyroscope_scope_pop();
    ASSERT_EQ(pyroscope_scope_current(), inner);
    pyroscope_scope_pop();
    ASSERT_EQ(pyroscope_scope_current(), outer);
    /* The same set pushed again is the same id (interned). */
    ASSERT_EQ(pyroscope_scope_push(b, 1), 0);
    ASSERT_EQ(pyroscope_scope_current(), inner);
    saved = pyroscope_scope_restore(0);
    ASSERT_EQ(saved, inner);
    ASSERT_EQ(pyroscope_scope_current(), 0);
    pyroscope_scope_restore(saved);
    pyroscope_scope_pop();
    pyroscope_scope_pop();
    pyroscope_scope_pop(); /* extra pop is a no-op */
    ASSERT_EQ(pyroscope_scope_current(), 0);
    PYROSCOPE_WITH_TAGS(b, 1) {
        ASSERT(has_pair(pyroscope_scope_current(), "endpoint", "/b"));
        ASSERT(has_pair(pyroscope_scope_current(), "tenant", NULL));
        depth++;
    }
    ASSERT_EQ(depth, 1);
    ASSERT_EQ(pyroscope_scope_current(), 0);
    for (int i = 0; i < 32; i++)
        ASSERT_EQ(pyroscope_scope_push(b, 1), 0);
    ASSERT_EQ(pyroscope_scope_push(b, 1), PYROSCOPE_ELIMIT);
    for (int i = 0; i < 32; i++)
        pyroscope_scope_pop();
    TEST_OK("scope nesting, inner wins, restore");
}

/* ---- attribution across threads ---- */

static void *tagged_worker(void *arg)
{
    pyroscope_tag a[] = {T("endpoint", "a")}, b[] = {T("endpoint", "b")};

    (void)arg;
    usleep(150 * 1000); /* let the collector arm our timer */
    for (int i = 0; i < 4; i++) {
        pyroscope_scope_push(a, 1);
        work_alpha(0.12);
        pyroscope_scope_pop();
        pyroscope_scope_push(b, 1);
        work_beta(0.12);
        pyroscope_scope_pop();
    }
    return NULL;
}

static void run_workload(pyroscope *p)
{
    pthread_t t[2];

    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, tagged_worker, NULL);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    ASSERT_EQ(pyroscope_flush(p, 5000), 0);
}

static pyroscope *start(http_server *s, int api)
{
    pyroscope_config cfg = PYROSCOPE_CONFIG_INIT;
    pyroscope_tag st[] = {T("env", "ci")};
    static char url[64];
    pyroscope *p;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d", http_server_port(s));
    cfg.application_name = "test_tags";
    cfg.server_address = url;
    cfg.tags = st;
    cfg.tags_count = 1;
    cfg.api = api;
    cfg.sample_rate = 250;
    cfg.upload_interval_ms = 60000;
    ASSERT_EQ(pyroscope_start(&p, &cfg), 0);
    return p;
}

static void test_ingest_series(void)
{
    http_server *s = http_server_start();
    pyroscope *p = start(s, PYROSCOPE_API_INGEST);
    int seen_a = 0, seen_b = 0;

    run_workload(p);
    pyroscope_stop(p);
    for (size_t i = 0; i < http_server_count(s); i++) {
        http_request *r = http_server_get(s, i);
        char *name = http_query(r, "name");
        size_t len = 0;
        const unsigned char *body = http_multipart(r, "profile", &len);
        pb_profile *prof = decode_profile(body, len);
        int64_t alpha, beta;
        ASSERT(prof != NULL);
        alpha = pb_sum_with(prof, 0, "work_alpha");
        beta = pb_sum_with(prof, 0, "work_beta");
        printf("series %s: alpha %lld beta %lld\n", name, (long long)alpha,
               (long long)beta);
        if (!strcmp(name, "test_tags{endpoint=a,env=ci}")) {
            ASSERT(alpha >= 100 && beta == 0);
            seen_a = 1;
        } else if (!strcmp(name, "test_tags{endpoint=b,env=ci}")) {
            ASSERT(beta >= 100 && alpha == 0);
            seen_b = 1;
        } else {
            ASSERT_STR_EQ(name, "test_tags{env=ci}");
            ASSERT(alpha == 0 && beta == 0);
        }
        decode_free(prof);
        free(name);
        http_request_free(r);
        free(r);
    }
    ASSERT(seen_a && seen_b);
    http_server_stop(s);
    TEST_OK("ingest: one series per tag set, samples on the right one");
}

static const char *series_label(Push__V1__RawProfileSeries *se, const char *k)
{
    for (size_t i = 0; i < se->n_labels; i++)
        if (!strcmp(se->labels[i]->name, k))
            return se->labels[i]->value;
    return NULL;
}

static void test_push_labels(void)
{
    http_server *s = http_server_start();
    pyroscope *p = start(s, PYROSCOPE_API_PUSH);
    http_request *r;
    Push__V1__PushRequest *req;
    Push__V1__RawProfileSeries *se;
    pb_profile *prof;
    char *ct;

    run_workload(p);
    pyroscope_stop(p);
    /* The flush sent the workload's window; stop may send one more with
     * what was sampled after it (a slow machine, a sanitizer). */
    ASSERT(http_server_count(s) >= 1);
    r = http_server_get(s, 0);
    ASSERT_STR_EQ(r->target, "/push.v1.PusherService/Push");
    ct = http_header(r, "Content-Type");
    ASSERT_STR_EQ(ct, "application/proto");
    free(ct);
    req = push__v1__push_request__unpack(NULL, r->len, r->body);
    ASSERT(req && req->n_series == 1 && req->series[0]->n_samples == 1);
    se = req->series[0];
    ASSERT_STR_EQ(series_label(se, "__name__"), "process_cpu");
    ASSERT_STR_EQ(series_label(se, "service_name"), "test_tags");
    ASSERT_STR_EQ(series_label(se, "env"), "ci");
    ASSERT(strlen(se->samples[0]->id) > 0);
    prof = decode_profile(se->samples[0]->raw_profile.data,
                          se->samples[0]->raw_profile.len);
    ASSERT(prof != NULL);
    printf("push: alpha/a %lld alpha/b %lld beta/b %lld beta/a %lld "
           "samples %zu\n",
           (long long)pb_sum_with_label(prof, 0, "work_alpha", "endpoint", "a"),
           (long long)pb_sum_with_label(prof, 0, "work_alpha", "endpoint", "b"),
           (long long)pb_sum_with_label(prof, 0, "work_beta", "endpoint", "b"),
           (long long)pb_sum_with_label(prof, 0, "work_beta", "endpoint", "a"),
           prof->n_sample);
    ASSERT(pb_sum_with_label(prof, 0, "work_alpha", "endpoint", "a") >= 100);
    ASSERT_EQ(pb_sum_with_label(prof, 0, "work_alpha", "endpoint", "b"), 0);
    ASSERT(pb_sum_with_label(prof, 0, "work_beta", "endpoint", "b") >= 100);
    ASSERT_EQ(pb_sum_with_label(prof, 0, "work_beta", "endpoint", "a"), 0);
    decode_free(prof);
    push__v1__push_request__free_unpacked(req, NULL);
    http_request_free(r);
    free(r);
    http_server_stop(s);
    TEST_OK("push API: per-sample labels");
}

/* ---- memory bound ---- */

static void test_live_bound(void)
{
    char *dir = wl_tempdir("tagsgc"), url[300], v[32];
    pyroscope_config cfg = PYROSCOPE_CONFIG_INIT;
    pyroscope *p;
    size_t before = tags_live();
    int i, rc = 0;

    snprintf(url, sizeof(url), "file://%s", dir);
    cfg.application_name = "test_tags";
    cfg.server_address = url;
    cfg.upload_interval_ms = 60000;
    ASSERT_EQ(pyroscope_start(&p, &cfg), 0);
    for (i = 0; i < TAGS_MAX_SETS + 10 && rc == 0; i++) {
        pyroscope_tag t[] = {T("request_id", v)};
        snprintf(v, sizeof(v), "r%d", i);
        rc = pyroscope_scope_push(t, 1);
        if (rc == 0)
            pyroscope_scope_pop();
    }
    ASSERT_EQ(rc, PYROSCOPE_ELIMIT);
    ASSERT(strstr(pyroscope_last_error(), "live tag sets") != NULL);
    ASSERT(tags_live() <= TAGS_MAX_SETS);
    /* Unused sets survive the window they were used in, then go. */
    pyroscope_flush(p, 1000);
    pyroscope_flush(p, 1000);
    printf("live tag sets: %zu before, %zu after two windows\n", before,
           tags_live());
    ASSERT(tags_live() <= before + 1);
    pyroscope_stop(p);
    free(dir);
    TEST_OK("live tag sets bounded and freed after upload");
}

int main(void)
{
    test_validation();
    test_nesting();
    test_ingest_series();
    test_push_labels();
    test_live_bound();
    return 0;
}
