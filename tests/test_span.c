/*
 * Span profiles: samples taken inside pyroscope_span_begin/end carry the
 * root span's span_id and span_name labels, child spans do not relabel,
 * other threads keep their own span, samples outside any span carry none,
 * and with /ingest (one series per tag set) spans never reach the series
 * name.
 */
#include <pthread.h>

#include "pyroscope.h"
#include "support/decode.h"
#include "support/http_server.h"
#include "support/test.h"
#include "support/workload.h"

#define ROOT 0x1122334455667788ull
#define ROOT_HEX "1122334455667788"

/* Sum over every profile in dir of fn's samples with key=value (value NULL:
 * without the key), and of all of fn's samples. */
static void sums(const char *dir, const char *fn, const char *key,
                 const char *value, int64_t *with, int64_t *all)
{
    char **files = wl_list(dir, ".cpu.");
    size_t i;

    *with = *all = 0;
    for (i = 0; files && files[i]; i++) {
        pb_profile *p = decode_profile_file(files[i]);
        int vi;

        ASSERT(p != NULL);
        vi = pb_type_index(p, "samples");
        *with += pb_sum_with_label(p, vi, fn, key, value);
        *all += pb_sum_with(p, vi, fn);
        decode_free(p);
    }
    wl_free_list(files);
}

static void *other_thread(void *arg)
{
    (void)arg;
    ASSERT_EQ(pyroscope_span_begin(0xabc, "worker-span"), 0);
    work_delta(0.3);
    pyroscope_span_end();
    return NULL;
}

static void test_labels(void)
{
    char *dir = wl_tempdir("span"), url[512];
    pyroscope_config cfg = PYROSCOPE_CONFIG_INIT;
    pyroscope *p;
    pthread_t t;
    int64_t with, all;

    snprintf(url, sizeof(url), "file://%s", dir);
    cfg.application_name = "test_span";
    cfg.server_address = url;
    cfg.upload_interval_ms = 60000;
    ASSERT_EQ(pyroscope_start(&p, &cfg), 0);
    ASSERT_EQ(pyroscope_span_begin(0, "x"), PYROSCOPE_EINVAL);
    pthread_create(&t, NULL, other_thread, NULL);
    ASSERT_EQ(pyroscope_span_begin(ROOT, "GET /users/{id}"), 0);
    work_alpha(0.3);
    ASSERT_EQ(pyroscope_span_begin(0x99, "child"), 0);
    work_beta(0.2);
    pyroscope_span_end();
    pyroscope_span_end();
    pyroscope_span_end(); /* unmatched: ignored */
    work_gamma(0.2);
    pthread_join(t, NULL);
    ASSERT_EQ(pyroscope_flush(p, 10000), 0);
    pyroscope_stop(p);

    sums(dir, "work_alpha", "span_id", ROOT_HEX, &with, &all);
    printf("  work_alpha: %lld of %lld samples in the root span\n",
           (long long)with, (long long)all);
    ASSERT(all >= 10 && with == all);
    sums(dir, "work_alpha", "span_name", "GET /users/{id}", &with, &all);
    ASSERT(with == all);
    /* The child span's samples belong to the root span. */
    sums(dir, "work_beta", "span_id", ROOT_HEX, &with, &all);
    ASSERT(all >= 5 && with == all);
    sums(dir, "work_delta", "span_id", "0000000000000abc", &with, &all);
    ASSERT(all >= 5 && with == all);
    sums(dir, "work_delta", "span_name", "worker-span", &with, &all);
    ASSERT(with == all);
    /* After the root span ended: no span labels. */
    sums(dir, "work_gamma", "span_id", NULL, &with, &all);
    ASSERT(all >= 5 && with == all);
    free(dir);
    TEST_OK("span labels on root span samples, per thread, none outside");
}

static void test_ingest_keeps_series(void)
{
    http_server *s = http_server_start();
    pyroscope_config cfg = PYROSCOPE_CONFIG_INIT;
    char url[128];
    pyroscope *p;
    size_t i;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d", http_server_port(s));
    cfg.application_name = "test_span";
    cfg.server_address = url;
    cfg.upload_interval_ms = 60000;
    ASSERT_EQ(pyroscope_start(&p, &cfg), 0);
    ASSERT_EQ(pyroscope_span_begin(ROOT, "root"), 0);
    work_alpha(0.2);
    pyroscope_span_end();
    ASSERT_EQ(pyroscope_flush(p, 10000), 0);
    pyroscope_stop(p);
    ASSERT(http_server_count(s) >= 1);
    for (i = 0; i < http_server_count(s); i++) {
        http_request *r = http_server_get(s, i);
        char *name = http_query(r, "name");

        ASSERT(name && !strstr(name, "span_id") && !strstr(name, ROOT_HEX));
        free(name);
        http_request_free(r);
        free(r);
    }
    http_server_stop(s);
    TEST_OK("ingest: spans stay out of series names");
}

int main(void)
{
    test_labels();
    test_ingest_keeps_series();
    return 0;
}
