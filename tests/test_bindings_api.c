/*
 * The hooks language bindings use: a frame provider that contributes
 * language frames from inside the signal handler (symbolized later on the
 * collector thread), and pyroscope_add_sample() for samples a binding
 * collected itself (with explicit tags, or the thread's scope).
 */
#include <stdatomic.h>

#include "pyroscope.h"
#include "support/decode.h"
#include "support/test.h"
#include "support/workload.h"

static atomic_int g_phase; /* which fake "language function" runs now */
static atomic_int g_symbolized;

/* Async-signal-safe: writes two frames as (code id, line) word pairs. */
static int capture(uint64_t *words, int max, int64_t weight, void *payload)
{
    (void)weight, (void)payload;
    if (max < 2)
        return 0;
    words[0] = 100 + (uint64_t)atomic_load(&g_phase); /* leaf */
    words[1] = 42;
    words[2] = 1; /* caller: "main.run" */
    words[3] = 7;
    return 2;
}

static int symbolize(uint64_t w0, uint64_t w1, pyroscope_frame *out,
                     void *payload)
{
    (void)payload;
    atomic_fetch_add(&g_symbolized, 1);
    if (w0 == 1)
        out->function = "main.run";
    else if (w0 == 100)
        out->function = "app.parse";
    else if (w0 == 101)
        out->function = "app.render";
    else
        return -1;
    out->file = "app.py";
    out->line = (int64_t)w1;
    return 0;
}

static pyroscope *start_file(const char *dir, unsigned types)
{
    pyroscope_config cfg = PYROSCOPE_CONFIG_INIT;
    static char url[300];
    pyroscope *p;

    snprintf(url, sizeof(url), "file://%s", dir);
    cfg.application_name = "test_bindings";
    cfg.server_address = url;
    cfg.upload_interval_ms = 60000;
    cfg.profile_types = types;
    cfg.sample_rate = 200;
    ASSERT_EQ(pyroscope_start(&p, &cfg), 0);
    return p;
}

static pb_profile *only_profile(const char *dir)
{
    char **files = wl_list(dir, ".cpu.");
    pb_profile *prof;

    ASSERT(files[0] != NULL && files[1] == NULL);
    prof = decode_profile_file(files[0]);
    ASSERT(prof != NULL);
    wl_free_list(files);
    return prof;
}

/*
 * Removing the provider closes the window first (its frames must be
 * symbolized while it exists); a sample taken between that and stop lands
 * in a second, small profile without language frames.  Return the one with
 * them.
 */
static pb_profile *provider_profile(const char *dir)
{
    char **files = wl_list(dir, ".cpu."), **f;
    pb_profile *found = NULL;

    for (f = files; *f; f++) {
        pb_profile *prof = decode_profile_file(*f);

        ASSERT(prof != NULL);
        if (pb_sum_with(prof, 0, "main.run") > 0) {
            ASSERT(found == NULL);
            found = prof;
        } else {
            decode_free(prof);
        }
    }
    wl_free_list(files);
    ASSERT(found != NULL);
    return found;
}

static void test_provider(void)
{
    char *dir = wl_tempdir("provider");
    pyroscope *p = start_file(dir, PYROSCOPE_PROFILE_CPU);
    pyroscope_frame_provider prov = {1, capture, symbolize, NULL, 1};
    pyroscope_frame_provider bad = {2, capture, symbolize, NULL, 0};
    pb_profile *prof;
    int64_t parse, render, run, native;

    ASSERT_EQ(pyroscope_set_frame_provider(p, &bad), PYROSCOPE_EINVAL);
    ASSERT_EQ(pyroscope_set_frame_provider(p, &prov), 0);
    atomic_store(&g_phase, 0);
    work_alpha(0.6);
    atomic_store(&g_phase, 1);
    work_alpha(0.2);
    ASSERT_EQ(pyroscope_set_frame_provider(p, NULL), 0);
    pyroscope_stop(p);
    prof = provider_profile(dir);
    parse = pb_sum_with(prof, 0, "app.parse");
    render = pb_sum_with(prof, 0, "app.render");
    run = pb_sum_with(prof, 0, "main.run");
    /* Only samples with language frames: one taken between start and
     * set_frame_provider carries the native stack alone. */
    native = pb_sum_with_both(prof, 0, "main.run", "main");
    printf("provider: parse %lld render %lld run %lld native %lld; "
           "%d symbolize calls\n", (long long)parse, (long long)render,
           (long long)run, (long long)native, atomic_load(&g_symbolized));
    ASSERT_NEAR((double)parse / (double)(parse + render), 0.75, 0.03);
    ASSERT_EQ(run, parse + render);  /* the caller frame is on every stack */
    /* native_frames = 1 appends the native stack to every sample.  (Not
     * always under work_alpha: a sample may land in the calls between.) */
    ASSERT_EQ(native, parse + render);
    ASSERT(pb_sum_with(prof, 0, "work_alpha") >= (parse + render) * 9 / 10);
    /* Symbolized once per distinct frame per window, not per sample. */
    ASSERT(atomic_load(&g_symbolized) <= 4);
    decode_free(prof);
    free(dir);
    TEST_OK("frame provider: language frames from the signal handler");
}

static void test_add_sample(void)
{
    char *dir = wl_tempdir("addsample");
    pyroscope *p = start_file(dir, PYROSCOPE_PROFILE_CPU_EXTERNAL);
    pyroscope_frame stack[] = {{"render", "views.js", 12},
                               {"handler", "server.js", 40}};
    pyroscope_tag tags[] = {{"route", "/home"}}, scope[] = {{"route", "/api"}};
    int64_t one = 1, three = 3, four[4] = {0};
    pyroscope_stats st;
    pb_profile *prof;

    ASSERT_EQ(pyroscope_add_sample(p, PYROSCOPE_PROFILE_CPU, stack, 2, &three,
                                   1, tags, 1), 0);
    ASSERT_EQ(pyroscope_scope_push(scope, 1), 0);
    ASSERT_EQ(pyroscope_add_sample(p, PYROSCOPE_PROFILE_CPU, stack, 1, &one,
                                   1, NULL, 0), 0);
    pyroscope_scope_pop();
    ASSERT_EQ(pyroscope_add_sample(p, 3, stack, 2, &one, 1, NULL, 0),
              PYROSCOPE_EINVAL);
    ASSERT_EQ(pyroscope_add_sample(p, PYROSCOPE_PROFILE_CPU, stack, 2, four,
                                   4, NULL, 0), PYROSCOPE_EINVAL);
    ASSERT_EQ(pyroscope_add_sample(p, PYROSCOPE_PROFILE_CPU, NULL, 2, &one, 1,
                                   NULL, 0), PYROSCOPE_EINVAL);
    ASSERT_EQ(pyroscope_add_sample(NULL, PYROSCOPE_PROFILE_CPU, stack, 2,
                                   &one, 1, NULL, 0), PYROSCOPE_EINVAL);
    work_alpha(0.2); /* no timers in external mode: not sampled */
    pyroscope_get_stats(p, &st);
    ASSERT_EQ(st.samples, 0);
    ASSERT_EQ(pyroscope_flush(p, 5000), 0);
    pyroscope_stop(p);
    prof = only_profile(dir);
    ASSERT_EQ(pb_sum_with_label(prof, 0, "handler", "route", "/home"), 3);
    ASSERT_EQ(pb_sum_with_label(prof, 0, "render", "route", "/api"), 1);
    ASSERT_EQ(pb_sum_with_label(prof, 1, "handler", "route", "/home"),
              3 * (1000000000 / 200));
    ASSERT_EQ(pb_sum_with(prof, 0, "work_alpha"), 0);
    ASSERT_STR_EQ(pb_leaf(prof, 0), "render");
    decode_free(prof);
    free(dir);
    TEST_OK("add_sample: external samples with tags, bad calls refused");
}

int main(void)
{
    test_provider();
    test_add_sample();
    return 0;
}
