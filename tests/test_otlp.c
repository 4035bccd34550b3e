/*
 * OTLP profiles export.  First the converter on a pprof with known content
 * (every stack, value, label and the heap profiles' names are checked
 * exactly), then the whole path: a profiler with api = OTLP posts to a
 * server on loopback, and the decoded request carries the service name,
 * the static tags, the CPU profile with the burning function, and each
 * scope's tag on exactly that scope's samples.
 */
#include "otlp.pb-c.h"
#include "otlp/otlp.h"
#include "pprof/pprof.h"
#include "pyroscope.h"
#include "support/decode.h"
#include "support/http_server.h"
#include "support/test.h"
#include "support/workload.h"

typedef Pyroscope__Otlp__ExportProfilesServiceRequest otlp_req;

static const char *str(const otlp_req *r, int32_t i)
{
    const Pyroscope__Otlp__ProfilesDictionary *d = r->dictionary;

    ASSERT(i >= 0 && (size_t)i < d->n_string_table);
    return d->string_table[i];
}

/* Does sample s's stack contain function `fn`? */
static int has_fn(const otlp_req *r, const Pyroscope__Otlp__Sample *s,
                  const char *fn)
{
    const Pyroscope__Otlp__ProfilesDictionary *d = r->dictionary;
    const Pyroscope__Otlp__Stack *st;
    size_t i, j;

    ASSERT(s->stack_index > 0 && (size_t)s->stack_index < d->n_stack_table);
    st = d->stack_table[s->stack_index];
    for (i = 0; i < st->n_location_indices; i++) {
        const Pyroscope__Otlp__Location *l;

        ASSERT((size_t)st->location_indices[i] < d->n_location_table);
        l = d->location_table[st->location_indices[i]];
        for (j = 0; j < l->n_lines; j++) {
            const Pyroscope__Otlp__Function *f;

            ASSERT((size_t)l->lines[j]->function_index < d->n_function_table);
            f = d->function_table[l->lines[j]->function_index];
            if (!strcmp(str(r, f->name_strindex), fn))
                return 1;
        }
    }
    return 0;
}

/* Value of sample attribute `key`, or NULL. */
static const char *attr(const otlp_req *r, const Pyroscope__Otlp__Sample *s,
                        const char *key)
{
    const Pyroscope__Otlp__ProfilesDictionary *d = r->dictionary;
    size_t i;

    for (i = 0; i < s->n_attribute_indices; i++) {
        const Pyroscope__Otlp__KeyValueAndUnit *a;

        ASSERT((size_t)s->attribute_indices[i] < d->n_attribute_table);
        a = d->attribute_table[s->attribute_indices[i]];
        if (!strcmp(str(r, a->key_strindex), key))
            return a->value ? a->value->string_value : NULL;
    }
    return NULL;
}

static const char *resource_attr(const otlp_req *r, const char *key)
{
    const Pyroscope__Otlp__Resource *res = r->resource_profiles[0]->resource;
    size_t i;

    for (i = 0; i < res->n_attributes; i++)
        if (!strcmp(res->attributes[i]->key, key))
            return res->attributes[i]->value->string_value;
    return NULL;
}

static Pyroscope__Otlp__Profile **profiles(const otlp_req *r, size_t *n)
{
    ASSERT_EQ(r->n_resource_profiles, 1);
    ASSERT_EQ(r->resource_profiles[0]->n_scope_profiles, 1);
    *n = r->resource_profiles[0]->scope_profiles[0]->n_profiles;
    return r->resource_profiles[0]->scope_profiles[0]->profiles;
}

/* Sum of the profile's values over samples containing fn (and, when key is
 * set, carrying key=value). */
static int64_t sum(const otlp_req *r, const Pyroscope__Otlp__Profile *p,
                   const char *fn, const char *key, const char *value)
{
    int64_t total = 0;
    size_t i;

    for (i = 0; i < p->n_samples; i++) {
        const Pyroscope__Otlp__Sample *s = p->samples[i];
        const char *v = key ? attr(r, s, key) : NULL;

        ASSERT_EQ(s->n_values, 1);
        if ((!fn || has_fn(r, s, fn)) &&
            (!key || (v && !strcmp(v, value))))
            total += s->values[0];
    }
    return total;
}

/* ---- the converter on known input ---- */

static unsigned char *known_pprof(const pprof_value_type *types, size_t nt,
                                  pprof_value_type period_type,
                                  int64_t period, const int64_t *va,
                                  const int64_t *vb, size_t *len)
{
    pprof_builder *b = pprof_new(types, nt, period_type, period,
                                 1700000000000000000LL, 10000000000LL);
    pyroscope_tag la[] = {{"endpoint", "/a"}}, lb[] = {{"endpoint", "/b"}};
    uint64_t m = pprof_mapping(b, 0x1000, 0x9000, 0, "/bin/app", "abcd", 1);
    uint64_t fa = pprof_location(b, 1, m, 0x1100, "fn_a", "a.c", 10);
    uint64_t fb = pprof_location(b, 2, m, 0x1200, "fn_b", "b.c", 20);
    uint64_t mn = pprof_location(b, 3, m, 0x1300, "main", "m.c", 5);
    uint64_t sa[] = {fa, mn}, sb[] = {fb, mn};
    unsigned char *out = NULL;

    ASSERT(b && m && fa && fb && mn);
    ASSERT_EQ(pprof_add_sample(b, sa, 2, va, la, 1), 0);
    ASSERT_EQ(pprof_add_sample(b, sb, 2, vb, lb, 1), 0);
    ASSERT_EQ(pprof_encode(b, &out, len), 0);
    pprof_free(b);
    return out;
}

static otlp_req *convert(const unsigned char *pp, size_t len,
                         const char *name)
{
    pyroscope_tag attrs[] = {{"env", "ci"}};
    otlp_resource res = {"svc", attrs, 1, "pyroscope-c", "9.9", name};
    unsigned char *out;
    size_t outlen;
    otlp_req *r;

    ASSERT_EQ(otlp_from_pprof(pp, len, &res, &out, &outlen), 0);
    r = pyroscope__otlp__export_profiles_service_request__unpack(NULL, outlen,
                                                                 out);
    ASSERT(r != NULL && r->dictionary != NULL);
    free(out);
    ASSERT_STR_EQ(resource_attr(r, "service.name"), "svc");
    ASSERT_STR_EQ(resource_attr(r, "env"), "ci");
    ASSERT_STR_EQ(r->resource_profiles[0]->scope_profiles[0]->scope->name,
                  "pyroscope-c");
    /* OTLP's zero entries. */
    ASSERT_STR_EQ(str(r, 0), "");
    ASSERT(r->dictionary->n_stack_table >= 1 &&
           r->dictionary->stack_table[0]->n_location_indices == 0);
    return r;
}

static void test_convert_cpu(void)
{
    pprof_value_type t[] = {{"samples", "count"}, {"cpu", "nanoseconds"}};
    /* fn_a's CPU is 7.4 periods of 10 ms (a weighted sample), fn_b's 3:
     * whole samples go out, the 0.4 left over is carried to the next
     * sample and is still below one period at the end. */
    int64_t va[] = {7, 74000000}, vb[] = {3, 30000000};
    pprof_value_type pt = {"cpu", "nanoseconds"};
    size_t len, n;
    unsigned char *pp = known_pprof(t, 2, pt, 10000000, va, vb, &len);
    otlp_req *r = convert(pp, len, "process_cpu");
    Pyroscope__Otlp__Profile **p = profiles(r, &n);

    ASSERT_EQ(n, 1);
    ASSERT_STR_EQ(str(r, p[0]->sample_type->type_strindex), "samples");
    ASSERT_STR_EQ(str(r, p[0]->sample_type->unit_strindex), "count");
    ASSERT_STR_EQ(str(r, p[0]->period_type->type_strindex), "cpu");
    ASSERT_STR_EQ(str(r, p[0]->period_type->unit_strindex), "nanoseconds");
    ASSERT_EQ(p[0]->period, 10000000);
    ASSERT_EQ(p[0]->time_unix_nano, 1700000000000000000ULL);
    ASSERT_EQ(p[0]->duration_nano, 10000000000ULL);
    ASSERT_EQ(sum(r, p[0], "fn_a", NULL, NULL), 7);
    ASSERT_EQ(sum(r, p[0], "fn_b", NULL, NULL), 3);
    ASSERT_EQ(sum(r, p[0], "main", NULL, NULL), 10);
    ASSERT_EQ(sum(r, p[0], "fn_a", "endpoint", "/a"), 7);
    ASSERT_EQ(sum(r, p[0], "fn_a", "endpoint", "/b"), 0);
    ASSERT_EQ(sum(r, p[0], "fn_b", "endpoint", "/b"), 3);
    /* The mapping survives with its file. */
    ASSERT_STR_EQ(str(r, r->dictionary->mapping_table[1]->filename_strindex),
                  "/bin/app");
    pyroscope__otlp__export_profiles_service_request__free_unpacked(r, NULL);
    free(pp);
    TEST_OK("cpu pprof becomes one samples/count profile, stacks and labels "
            "intact");
}

static void test_convert_heap(void)
{
    pprof_value_type t[] = {{"alloc_objects", "count"},
                            {"alloc_space", "bytes"},
                            {"inuse_objects", "count"},
                            {"inuse_space", "bytes"}};
    int64_t va[] = {3, 3000, 1, 1000}, vb[] = {1, 1000, 0, 0};
    pprof_value_type pt = {"space", "bytes"};
    const char *names[] = {"alloc_objects", "alloc_space", "inuse_objects",
                           "inuse_space"};
    size_t len, n, i;
    unsigned char *pp = known_pprof(t, 4, pt, 524288, va, vb, &len);
    otlp_req *r = convert(pp, len, "memory");
    Pyroscope__Otlp__Profile **p = profiles(r, &n);

    ASSERT_EQ(n, 4);
    for (i = 0; i < 4; i++) {
        ASSERT_STR_EQ(str(r, p[i]->sample_type->type_strindex), names[i]);
        /* Pyroscope names an OTLP profile after its period type. */
        ASSERT_STR_EQ(str(r, p[i]->period_type->type_strindex), "memory");
        ASSERT_STR_EQ(str(r, p[i]->period_type->unit_strindex), "bytes");
        ASSERT_EQ(sum(r, p[i], "fn_a", NULL, NULL), va[i]);
        ASSERT_EQ(sum(r, p[i], "fn_b", NULL, NULL), vb[i]);
    }
    /* Zero values are left out: fn_b holds nothing in use. */
    ASSERT_EQ(p[3]->n_samples, 1);
    pyroscope__otlp__export_profiles_service_request__free_unpacked(r, NULL);
    free(pp);
    TEST_OK("heap pprof becomes four profiles named memory");
}

static void test_convert_garbage(void)
{
    unsigned char junk[] = {0x1f, 0x8b, 0x08, 0x00, 0xff, 0xff};
    otlp_resource res = {"svc", NULL, 0, "s", "v", "process_cpu"};
    unsigned char *out = (unsigned char *)"x";
    size_t outlen = 1;

    ASSERT_EQ(otlp_from_pprof(junk, sizeof(junk), &res, &out, &outlen),
              PYROSCOPE_EINVAL);
    ASSERT(out == NULL && outlen == 0);
    TEST_OK("undecodable pprof is refused");
}

/* ---- end to end through the upload path ---- */

static void test_export(void)
{
    http_server *s = http_server_start();
    pyroscope_tag tags[] = {{"env", "ci"}};
    pyroscope_tag ta[] = {{"endpoint", "/alpha"}};
    pyroscope_tag tb[] = {{"endpoint", "/beta"}};
    pyroscope_config cfg = PYROSCOPE_CONFIG_INIT;
    char url[128], *ct, *ce;
    pyroscope *p;
    http_request *rq;
    otlp_req *r;
    Pyroscope__Otlp__Profile **pr;
    unsigned char *plain;
    size_t n, plain_len = 0;
    int64_t alpha, beta;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d", http_server_port(s));
    cfg.application_name = "test_otlp";
    cfg.server_address = url;
    cfg.tags = tags;
    cfg.tags_count = 1;
    cfg.api = PYROSCOPE_API_OTLP;
    cfg.upload_interval_ms = 60000;
    ASSERT_EQ(pyroscope_start(&p, &cfg), 0);
    ASSERT_EQ(pyroscope_scope_push(ta, 1), 0);
    work_alpha(0.4);
    pyroscope_scope_pop();
    ASSERT_EQ(pyroscope_scope_push(tb, 1), 0);
    work_beta(0.2);
    pyroscope_scope_pop();
    ASSERT_EQ(pyroscope_flush(p, 10000), 0);
    pyroscope_stop(p);

    ASSERT(http_server_count(s) >= 1);
    rq = http_server_get(s, 0);
    ASSERT_STR_EQ(rq->method, "POST");
    ASSERT_STR_EQ(rq->target, "/v1development/profiles");
    ct = http_header(rq, "Content-Type");
    ASSERT_STR_EQ(ct, "application/x-protobuf");
    free(ct);
    ce = http_header(rq, "Content-Encoding");
    ASSERT_STR_EQ(ce, "gzip");
    free(ce);
    plain = test_gunzip(rq->body, rq->len, &plain_len);
    ASSERT(plain != NULL);
    printf("  OTLP request %zu bytes gzip'ed, %zu plain\n", rq->len,
           plain_len);
    r = pyroscope__otlp__export_profiles_service_request__unpack(
        NULL, plain_len, plain);
    ASSERT(r != NULL && r->dictionary != NULL);
    ASSERT_STR_EQ(resource_attr(r, "service.name"), "test_otlp");
    ASSERT_STR_EQ(resource_attr(r, "env"), "ci");
    pr = profiles(r, &n);
    ASSERT_EQ(n, 1);
    ASSERT_STR_EQ(str(r, pr[0]->period_type->type_strindex), "cpu");
    ASSERT_EQ(pr[0]->period, 10000000);
    /* 0.4 s at 100 Hz is about 40 samples; a loaded machine may give
     * fewer, never none. */
    alpha = sum(r, pr[0], "work_alpha", NULL, NULL);
    beta = sum(r, pr[0], "work_beta", NULL, NULL);
    printf("  work_alpha %lld samples, work_beta %lld\n", (long long)alpha,
           (long long)beta);
    ASSERT(alpha >= 20 && beta >= 10);
    /* Each scope's tag is on its own samples and only there. */
    ASSERT_EQ(sum(r, pr[0], "work_alpha", "endpoint", "/alpha"), alpha);
    ASSERT_EQ(sum(r, pr[0], "work_beta", "endpoint", "/beta"), beta);
    ASSERT_EQ(sum(r, pr[0], "work_alpha", "endpoint", "/beta"), 0);
    pyroscope__otlp__export_profiles_service_request__free_unpacked(r, NULL);
    free(plain);
    http_request_free(rq);
    free(rq);
    http_server_stop(s);
    TEST_OK("profiler exports OTLP with service name, tags and stacks");
}

static void test_env(void)
{
    pyroscope_config cfg = PYROSCOPE_CONFIG_INIT;
    pyroscope *p;

    setenv("PYROSCOPE_API", "bogus", 1);
    cfg.application_name = "test_otlp";
    cfg.server_address = "file:///tmp";
    ASSERT_EQ(pyroscope_start(&p, &cfg), PYROSCOPE_EINVAL);
    ASSERT(strstr(pyroscope_last_error(), "PYROSCOPE_API") != NULL);
    unsetenv("PYROSCOPE_API");
    TEST_OK("PYROSCOPE_API rejects unknown names");
}

/* Zero-code OTLP: the API, endpoint and service name from the environment
 * alone (PYROSCOPE_API and the OpenTelemetry exporter's own names). */
static void test_env_otlp(void)
{
    http_server *s = http_server_start();
    pyroscope_config cfg = PYROSCOPE_CONFIG_INIT;
    char url[128];
    pyroscope *p;
    http_request *rq;
    otlp_req *r;
    unsigned char *plain;
    size_t plain_len = 0;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d", http_server_port(s));
    setenv("PYROSCOPE_API", "otlp", 1);
    setenv("OTEL_EXPORTER_OTLP_ENDPOINT", url, 1);
    setenv("OTEL_SERVICE_NAME", "otel_env_service", 1);
    cfg.upload_interval_ms = 60000;
    ASSERT_EQ(pyroscope_start(&p, &cfg), 0);
    work_alpha(0.2);
    ASSERT_EQ(pyroscope_flush(p, 10000), 0);
    pyroscope_stop(p);
    unsetenv("PYROSCOPE_API");
    unsetenv("OTEL_EXPORTER_OTLP_ENDPOINT");
    unsetenv("OTEL_SERVICE_NAME");

    ASSERT(http_server_count(s) >= 1);
    rq = http_server_get(s, 0);
    ASSERT_STR_EQ(rq->target, "/v1development/profiles");
    plain = test_gunzip(rq->body, rq->len, &plain_len);
    ASSERT(plain != NULL);
    r = pyroscope__otlp__export_profiles_service_request__unpack(
        NULL, plain_len, plain);
    ASSERT(r != NULL);
    ASSERT_STR_EQ(resource_attr(r, "service.name"), "otel_env_service");
    pyroscope__otlp__export_profiles_service_request__free_unpacked(r, NULL);
    free(plain);
    http_request_free(rq);
    free(rq);
    http_server_stop(s);
    TEST_OK("PYROSCOPE_API=otlp with OTEL_EXPORTER_OTLP_ENDPOINT and "
            "OTEL_SERVICE_NAME exports to that endpoint under that name");
}

/*
 * For tests/integration/otlp.py: profile a 75/25 work_alpha/work_beta
 * split, each in its own tag scope, with api = OTLP to a real server;
 * every work_alpha chunk runs in a span of its own.
 * Long chunks keep the split exact to well under a point.
 */
static int workload(const char *url, const char *run)
{
    pyroscope_tag tags[] = {{"run", run}};
    pyroscope_tag ta[] = {{"endpoint", "/alpha"}};
    pyroscope_tag tb[] = {{"endpoint", "/beta"}};
    pyroscope_config cfg = PYROSCOPE_CONFIG_INIT;
    pyroscope *p;
    int i, rc;

    cfg.application_name = "test_otlp";
    cfg.server_address = url;
    cfg.tags = tags;
    cfg.tags_count = 1;
    cfg.api = PYROSCOPE_API_OTLP;
    cfg.upload_interval_ms = 2000;
    if ((rc = pyroscope_start(&p, &cfg)) != 0) {
        fprintf(stderr, "start: %s\n", pyroscope_last_error());
        return 1;
    }
    for (i = 0; i < 10; i++) {
        /* Each alpha chunk is a root span: 0x5a5a0000 + i, "alpha-op". */
        pyroscope_span_begin(0x5a5a0000ull + (uint64_t)i, "alpha-op");
        PYROSCOPE_WITH_TAGS(ta, 1) { work_alpha(0.3); }
        pyroscope_span_end();
        PYROSCOPE_WITH_TAGS(tb, 1) { work_beta(0.1); }
    }
    rc = pyroscope_flush(p, 20000);
    pyroscope_stop(p);
    return rc != 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "--workload"))
        return workload(argv[2], argv[3]);
    test_convert_cpu();
    test_convert_heap();
    test_convert_garbage();
    test_env();
    test_env_otlp();
    test_export();
    return 0;
}
