#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "core.h"
#include "heap.h"
#include "otlp/otlp.h"
#include "pprof/pprof.h"
#include "push.pb-c.h"
#include "sampler/sampler.h"
#include "tags/tags.h"

#define NAMED_KEY (1ull << 63)
#define MAX_LABELS (TAGS_MAX_PER_SET + 64)
#define ALL_TAGSETS UINT64_MAX

typedef struct kind {
    uint16_t type;
    const char *suffix;   /* file:// name part */
    const char *name;     /* push API __name__ */
    const char *units;
    const char *aggregation;
    pprof_value_type types[4];
    size_t ntypes;
    pprof_value_type period_type;
} kind;

static const kind KINDS[] = {
    {SAMPLE_CPU, "cpu", "process_cpu", "samples", "sum",
     {{"samples", "count"}, {"cpu", "nanoseconds"}}, 2,
     {"cpu", "nanoseconds"}},
    {SAMPLE_HEAP_ALLOC, "memory", "memory", "bytes", "sum",
     {{"alloc_objects", "count"}, {"alloc_space", "bytes"},
      {"inuse_objects", "count"}, {"inuse_space", "bytes"}}, 4,
     {"space", "bytes"}},
    {SAMPLE_LOCK, "mutex", "mutex", "lock_samples", "sum",
     {{"contentions", "count"}, {"delay", "nanoseconds"}}, 2,
     {"contentions", "count"}},
    {SAMPLE_BLOCK, "block", "block", "lock_samples", "sum",
     {{"contentions", "count"}, {"delay", "nanoseconds"}}, 2,
     {"contentions", "count"}},
    /* The server names a profile with a "wall" sample type "wall". */
    {SAMPLE_WALL, "wall", "wall", "samples", "sum",
     {{"samples", "count"}, {"wall", "nanoseconds"}, {"cpu", "nanoseconds"}},
     3, {"wall", "nanoseconds"}},
    {SAMPLE_HEAP_LIVE, "memory", "memory", "bytes", "sum",
     {{"inuse_objects", "count"}, {"inuse_space", "bytes"}}, 2,
     {"space", "bytes"}},
};

static int64_t period_of(const pyroscope *p, const kind *k)
{
    if (k->type == SAMPLE_CPU || k->type == SAMPLE_WALL)
        return 1000000000LL / p->cfg.c.sample_rate;
    if (k->type == SAMPLE_HEAP_ALLOC || k->type == SAMPLE_HEAP_LIVE)
        return (int64_t)p->cfg.c.heap_sample_interval;
    return 1;
}

/* ---- labels: static tags overridden by the sample's tag set ---- */

typedef struct labels {
    pyroscope_tag kv[MAX_LABELS];
    size_t n;
    char strings[TAGS_MAX_PER_SET * (TAGS_MAX_KEY_LEN + TAGS_MAX_VALUE_LEN + 2)];
} labels;

static void labels_of(const pyroscope *p, uint64_t tagset, int with_static,
                      labels *out)
{
    size_t i, j, n;

    n = tags_get(tagset, out->kv, TAGS_MAX_PER_SET, out->strings,
                 sizeof(out->strings));
    out->n = n;
    if (!with_static)
        return;
    for (i = 0; i < p->nstatic && out->n < MAX_LABELS; i++) {
        for (j = 0; j < n && strcmp(out->kv[j].key, p->static_tags[i].key); j++)
            ;
        if (j == n)
            out->kv[out->n++] = p->static_tags[i];
    }
    /* Sorted, so a series is always named the same way. */
    qsort(out->kv, out->n, sizeof(out->kv[0]), tags_cmp_key);
}

/* ---- symbolization of one stack into location ids ---- */

static uint64_t named_location(pprof_builder *b, const named_frames *f,
                               uint64_t id)
{
    const named_frame *nf;

    if (!id || id > f->n)
        return 0;
    nf = &f->v[id - 1];
    return pprof_location(b, NAMED_KEY | id, 0, 0, nf->function, nf->file,
                          nf->line);
}

/* Language words -> named frame id, through the provider (cached). */
static uint64_t lang_frame_id(pyroscope *p, uint64_t w0, uint64_t w1)
{
    const pyroscope_frame_provider *prov = sampler_provider();
    uint64_t key = hash_u64(w0 ^ hash_u64(w1)) | 1, *cached, id;
    pyroscope_frame fr;

    cached = map_get(&p->lang_cache, key);
    if (cached)
        return *cached;
    memset(&fr, 0, sizeof(fr));
    if (!prov || !prov->symbolize ||
        prov->symbolize(w0, w1, &fr, prov->payload) != 0)
        id = frames_intern(&p->frames, "[unknown]", NULL, 0);
    else
        id = frames_intern(&p->frames, fr.function, fr.file, fr.line);
    map_put(&p->lang_cache, key, id);
    return id;
}

static uint64_t native_location(pyroscope *p, pprof_builder *b, uint64_t pc,
                                int leaf)
{
    const sym_mapping *m = symbols_mapping(p->syms, pc);
    uint64_t mid = 0;
    const char *fn;

    if (m)
        mid = pprof_mapping(b, m->start, m->limit, m->offset, m->path,
                            m->build_id, 1);
    const char *file = NULL;
    int line = 0;
    uint64_t at = leaf ? pc : pc - 1;

    /* A return address points past the call: look up the call itself. */
    fn = symbols_function(p->syms, at);
    if (fn && symbols_line(p->syms, at, &file, &line) != 0) {
        file = NULL;
        line = 0;
    }
    return pprof_location(b, pc, mid, pc, fn, file, line);
}

static size_t stack_locations(pyroscope *p, pprof_builder *b,
                              const agg_stack *s, uint64_t *out)
{
    size_t i, n = 0;
    uint64_t id, loc;

    for (i = 0; i < s->nlang; i++) {
        uint64_t w0 = s->words[2 * i], w1 = s->words[2 * i + 1];
        id = (s->flags & STACK_NAMED) ? w0 : lang_frame_id(p, w0, w1);
        loc = named_location(b, &p->frames, id);
        if (loc)
            out[n++] = loc;
    }
    for (i = 0; i < s->nnative; i++) {
        uint64_t pc = s->words[2 * (size_t)s->nlang + i];
        loc = native_location(p, b, pc, i == 0 && s->type == SAMPLE_CPU);
        if (loc)
            out[n++] = loc;
    }
    return n;
}

static int is_file_mode(const pyroscope *p)
{
    return strncmp(p->cfg.c.server_address, "file://", 7) == 0;
}

/* Build one profile of kind `k` from samples of `tagset` (or all, with
 * labels); returns the sample count, or -1 on error. */
static long build(pyroscope *p, const window *w, const kind *k,
                  uint64_t tagset, uint64_t end_ns, unsigned char **out,
                  size_t *len)
{
    pprof_builder *b;
    uint64_t locs[RING_MAX_WORDS];
    labels *lb = malloc(sizeof(*lb));
    const sym_mapping *main_map;
    size_t i, n;
    long count = 0;

    b = pprof_new(k->types, k->ntypes, k->period_type, period_of(p, k),
                  (int64_t)w->start_ns, (int64_t)(end_ns - w->start_ns));
    if (!b || !lb) {
        pprof_free(b);
        free(lb);
        return -1;
    }
    /* Readers take the first mapping for the main binary. */
    main_map = symbols_main(p->syms);
    if (main_map)
        pprof_mapping(b, main_map->start, main_map->limit, main_map->offset,
                      main_map->path, main_map->build_id, 1);
    for (i = 0; i < w->n; i++) {
        const agg_stack *s = &w->v[i];
        if (s->type != k->type || (tagset != ALL_TAGSETS && s->tagset != tagset))
            continue;
        n = stack_locations(p, b, s, locs);
        lb->n = 0;
        if (tagset == ALL_TAGSETS)
            labels_of(p, s->tagset, is_file_mode(p), lb);
        pprof_add_sample(b, locs, n, s->values, lb->kv, lb->n);
        count++;
    }
    free(lb);
    *out = NULL;
    if (pprof_encode(b, out, len) != 0)
        count = -1;
    pprof_free(b);
    return count;
}

/* ---- jobs ---- */

static char *series_name(const pyroscope *p, uint64_t tagset)
{
    labels *lb = malloc(sizeof(*lb));
    size_t i;
    buf b;

    if (!lb)
        return NULL;
    labels_of(p, tagset, 1, lb);
    buf_init(&b);
    /* No ".cpu" suffix: for pprof the server names the series after the
     * sample types and keeps the whole name as service_name. */
    buf_printf(&b, "%s{", p->cfg.c.application_name);
    for (i = 0; i < lb->n; i++)
        buf_printf(&b, "%s%s=%s", i ? "," : "", lb->kv[i].key,
                   lb->kv[i].value);
    buf_puts(&b, "}");
    free(lb);
    return buf_steal(&b, NULL);
}

static void ingest_job(pyroscope *p, const window *w, const kind *k,
                       uint64_t tagset, uint64_t end_ns,
                       unsigned char *body, size_t len)
{
    upload_job job;
    char *name = series_name(p, tagset), *ename, *espy;
    uint64_t from = w->start_ns / 1000000000ull;
    uint64_t until = (end_ns + 999999999ull) / 1000000000ull;
    buf b;

    memset(&job, 0, sizeof(job));
    ename = name ? upload_escape(name) : NULL;
    espy = upload_escape(p->cfg.c.spy_name);
    /* No format=pprof: the server would then read the multipart body as
     * a raw pprof ("wrong wireType" on the boundary, HTTP 422); it finds
     * the "profile" field from the multipart Content-Type, as the Go SDK's
     * uploads do. */
    buf_init(&b);
    buf_printf(&b,
               "/ingest?name=%s&from=%llu&until=%llu"
               "&sampleRate=%d&spyName=%s&units=%s&aggregationType=%s",
               ename ? ename : "", (unsigned long long)from,
               (unsigned long long)(until > from ? until : from + 1),
               p->cfg.c.sample_rate, espy ? espy : "", k->units,
               k->aggregation);
    job.path = buf_steal(&b, NULL);
    if (k->type == SAMPLE_BLOCK)
        job.content_type = UPLOAD_FORM_BLOCK;
    job.body = body;
    job.len = len;
    free(name);
    free(ename);
    free(espy);
    if (!job.path) {
        upload_job_free(&job);
        return;
    }
    upload_enqueue(p->up, &job);
}

static void file_job(pyroscope *p, const window *w, const kind *k,
                     unsigned char *body, size_t len)
{
    upload_job job;
    buf b;

    memset(&job, 0, sizeof(job));
    buf_init(&b);
    buf_printf(&b, "%s.%s.%llu.%llu.pb.gz", p->cfg.c.application_name,
               k->suffix, (unsigned long long)w->start_ns,
               (unsigned long long)p->seq++);
    job.file_name = buf_steal(&b, NULL);
    job.path = str_dup("");
    job.body = body;
    job.len = len;
    upload_enqueue(p->up, &job);
}

static void push_job(pyroscope *p, const kind *k, unsigned char *body,
                     size_t len);
static void otlp_job(pyroscope *p, const kind *k, unsigned char *body,
                     size_t len);

static void export_kind(pyroscope *p, const window *w, const kind *k,
                        uint64_t end_ns)
{
    unsigned char *body = NULL;
    size_t i, len;
    map seen;

    if (is_file_mode(p) || p->cfg.c.api != PYROSCOPE_API_INGEST) {
        if (build(p, w, k, ALL_TAGSETS, end_ns, &body, &len) <= 0) {
            free(body);
            return;
        }
        if (is_file_mode(p))
            file_job(p, w, k, body, len);
        else if (p->cfg.c.api == PYROSCOPE_API_OTLP)
            otlp_job(p, k, body, len);
        else
            push_job(p, k, body, len);
        return;
    }
    /* /ingest carries tags in the series name: one request per tag set. */
    map_init(&seen);
    for (i = 0; i < w->n; i++) {
        uint64_t ts = w->v[i].tagset;
        if (w->v[i].type != k->type || map_get(&seen, ts + 1))
            continue;
        map_put(&seen, ts + 1, 1);
        if (build(p, w, k, ts, end_ns, &body, &len) > 0)
            ingest_job(p, w, k, ts, end_ns, body, len);
        else
            free(body);
    }
    map_free(&seen);
}

/* A wall profile carries its cpu column only when a sample has one, so
 * that the server makes no empty CPU series of it. */
static const kind *without_empty_cpu(const window *w, const kind *k,
                                     kind *tmp)
{
    size_t i;

    if (k->type != SAMPLE_WALL)
        return k;
    for (i = 0; i < w->n; i++)
        if (w->v[i].type == SAMPLE_WALL && w->v[i].values[2])
            return k;
    *tmp = *k;
    tmp->ntypes = 2;
    return tmp;
}

void export_window(pyroscope *p, window *w, uint64_t end_ns)
{
    size_t i;
    kind tmp;

    pthread_mutex_lock(&p->lock);
    if (p->cfg.c.profile_types & PYROSCOPE_PROFILE_HEAP)
        heap_add_inuse(p, w);
    for (i = 0; i < sizeof(KINDS) / sizeof(KINDS[0]); i++)
        export_kind(p, w, without_empty_cpu(w, &KINDS[i], &tmp), end_ns);
    map_clear(&p->lang_cache);
    map_clear(&p->span_cache);
    /* Named frames are only referenced by windows; drop them when the
     * table is large and the new window holds no reference yet. */
    if (p->frames.n > 100000 && p->win.n == 0)
        frames_reset(&p->frames);
    pthread_mutex_unlock(&p->lock);
}

/* ---- push API: connect unary call with a protobuf PushRequest ---- */

static void push_job(pyroscope *p, const kind *k, unsigned char *body,
                     size_t len)
{
    Push__V1__LabelPair lp[2 + 64], *lpp[2 + 64];
    Push__V1__RawSample rs = PUSH__V1__RAW_SAMPLE__INIT, *rsp = &rs;
    Push__V1__RawProfileSeries se = PUSH__V1__RAW_PROFILE_SERIES__INIT;
    Push__V1__RawProfileSeries *sep = &se;
    Push__V1__PushRequest req = PUSH__V1__PUSH_REQUEST__INIT;
    upload_job job;
    size_t i, n = 0;

    push__v1__label_pair__init(&lp[n]);
    lp[n].name = "__name__";
    lp[n++].value = (char *)k->name;
    push__v1__label_pair__init(&lp[n]);
    lp[n].name = "service_name";
    lp[n++].value = (char *)p->cfg.c.application_name;
    for (i = 0; i < p->nstatic && n < 66; i++) {
        push__v1__label_pair__init(&lp[n]);
        lp[n].name = (char *)p->static_tags[i].key;
        lp[n++].value = (char *)p->static_tags[i].value;
    }
    for (i = 0; i < n; i++)
        lpp[i] = &lp[i];
    /* The sample ID is the job's stable profile id (upload.h). */
    memset(&job, 0, sizeof(job));
    upload_new_id(job.id);
    rs.raw_profile.data = body;
    rs.raw_profile.len = len;
    rs.id = job.id;
    se.n_labels = n;
    se.labels = lpp;
    se.n_samples = 1;
    se.samples = &rsp;
    req.n_series = 1;
    req.series = &sep;
    job.len = push__v1__push_request__get_packed_size(&req);
    job.body = malloc(job.len ? job.len : 1);
    if (job.body)
        push__v1__push_request__pack(&req, job.body);
    free(body);
    job.path = str_dup("/push.v1.PusherService/Push");
    job.content_type = "application/proto";
    if (!job.body || !job.path) {
        upload_job_free(&job);
        return;
    }
    upload_enqueue(p->up, &job);
}

/* ---- OTLP: the same pprof, converted to ExportProfilesServiceRequest ---- */

static void otlp_job(pyroscope *p, const kind *k, unsigned char *body,
                     size_t len)
{
    otlp_resource r;
    upload_job job;
    int rc;

    memset(&r, 0, sizeof(r));
    r.service_name = p->cfg.c.application_name;
    r.attrs = p->static_tags;
    r.nattrs = p->nstatic;
    r.scope_name = "pyroscope-c";
    r.scope_version = pyroscope_version();
    r.profile_name = k->name;
    memset(&job, 0, sizeof(job));
    rc = otlp_from_pprof(body, len, &r, &job.body, &job.len);
    free(body);
    if (rc != 0) {
        LOG_WARN("otlp: %s profile not converted (%s); dropped", k->name,
                 pyroscope_strerror(rc));
        return;
    }
    /* OTLP/HTTP allows a gzip'ed body (the uploader adds the header); the
     * request's string table compresses several-fold.  Without memory
     * for it the plain body goes. */
    {
        unsigned char *gz;
        size_t gzlen;
        if (pprof_gzip(job.body, job.len, &gz, &gzlen) == 0) {
            free(job.body);
            job.body = gz;
            job.len = gzlen;
        }
    }
    job.path = str_dup(OTLP_PATH);
    job.content_type = "application/x-protobuf";
    if (!job.path) {
        upload_job_free(&job);
        return;
    }
    upload_enqueue(p->up, &job);
}
