/*
 * Span profiles over the core's span API (pyroscope_span_begin/_end).
 *
 * The core keeps one span stack per OS thread and labels that thread's CPU
 * samples with its outermost span.  Two things need help from us:
 *
 *  - Ruby samples are reported by the postponed job (ruby_frames.c) with an
 *    explicit tag array, and the core applies the thread's span only to
 *    samples reported without one.  The job runs on the sampled thread, so
 *    it asks rbpyro_span_tags() for that thread's outermost span and adds
 *    span_id/span_name itself (push, OTLP and file:// only, as the core).
 *    Native samples (GVL released) are labelled by the core directly.
 *
 *  - OpenTelemetry may finish a span on another thread than the one that
 *    started it, and spans may finish out of order.  The core's calls only
 *    act on the calling thread, so each thread's open spans are tracked
 *    here (struct tspans) and every span_begin returns a handle naming its
 *    thread and slot.  Finishing a handle marks its slot; the owner thread
 *    brings the core in line (sync) right away when it is the caller, else
 *    at its next span call or its next Ruby sample.  The core's state is
 *    then rebuilt as "the open spans of this thread, in start order", so an
 *    out-of-order finish neither ends another span nor leaves its label.
 *
 * All of this runs with the GVL held, except the thread-exit destructor,
 * which only touches the atomic refs/alive fields.
 */
#include "pyroscope_ext.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SPANS_MAX 16      /* open spans tracked per thread */
#define SPAN_NAME_LEN 200 /* the core cuts names at 200 bytes too */

struct slot {
    uint64_t id;
    uint64_t seq;
    int ended;
    int has_name;
    char name[SPAN_NAME_LEN + 1];
};

struct tspans {
    int refs;       /* atomic: the owner thread + live handles */
    int alive;      /* atomic: still attached to its OS thread */
    VALUE thread;   /* the Ruby thread it belongs to (identity only) */
    int n;          /* open slots, in start order */
    int core;       /* pyroscope_span_begin calls not yet ended */
    int dirty;      /* a slot was ended but the core not yet synced */
    uint64_t next_seq;
    struct slot s[SPANS_MAX];
};

struct handle {
    struct tspans *ts;
    uint64_t seq;
    int done;
};

static __thread struct tspans *tls_ts;
static pthread_key_t ts_key;
static int labels_enabled; /* the running profiler records spans */
static char hex_buf[17];   /* used by the job, one at a time (GVL) */

void
rbpyro_spans_configure(const pyroscope_config *cfg)
{
    const char *addr = cfg->server_address;
    const char *api = getenv("PYROSCOPE_API");
    int ingest = cfg->api == PYROSCOPE_API_INGEST;

    /* The core's own environment rules (src/config.c): PYROSCOPE_API picks
     * the API when the config leaves the default (ingest), and
     * PYROSCOPE_SERVER_ADDRESS fills an unset address. */
    if (ingest && api != NULL && *api != '\0' && strcmp(api, "ingest") != 0)
        ingest = 0;
    if (addr == NULL)
        addr = getenv("PYROSCOPE_SERVER_ADDRESS");
    labels_enabled = !ingest ||
                     (addr != NULL && strncmp(addr, "file://", 7) == 0);
}

static void
ts_unref(struct tspans *ts)
{
    if (__atomic_sub_fetch(&ts->refs, 1, __ATOMIC_ACQ_REL) == 0)
        free(ts);
}

/* pthread key destructor: the OS thread exits (no GVL). */
static void
ts_thread_exit(void *p)
{
    struct tspans *ts = p;

    __atomic_store_n(&ts->alive, 0, __ATOMIC_RELEASE);
    ts_unref(ts);
}

/* On the owner thread: end every core span of ours and forget the state
 * (its handles become no-ops). */
static void
ts_detach(struct tspans *ts)
{
    while (ts->core > 0) {
        pyroscope_span_end();
        ts->core--;
    }
    ts->n = 0;
    __atomic_store_n(&ts->alive, 0, __ATOMIC_RELEASE);
    tls_ts = NULL;
    pthread_setspecific(ts_key, NULL);
    ts_unref(ts);
}

/* The calling thread's state.  Ruby reuses native threads for new Ruby
 * threads: state left by a previous Ruby thread is dropped, so its spans do
 * not label the new one's samples. */
static struct tspans *
ts_current(int create)
{
    struct tspans *ts = tls_ts;
    VALUE th = rb_thread_current();

    if (ts != NULL && ts->thread != th) {
        ts_detach(ts);
        ts = NULL;
    }
    if (ts == NULL && create) {
        ts = calloc(1, sizeof(*ts));
        if (ts == NULL)
            return NULL;
        ts->refs = 1;
        ts->alive = 1;
        ts->thread = th;
        if (pthread_setspecific(ts_key, ts) != 0) {
            free(ts);
            return NULL;
        }
        tls_ts = ts;
    }
    return ts;
}

/* On the owner thread: drop ended slots and make the core's span stack the
 * remaining ones, in start order.  Only the part above the first ended slot
 * is redone. */
static void
ts_sync(struct tspans *ts)
{
    int first, i, j;

    ts->dirty = 0;
    for (first = 0; first < ts->n && !ts->s[first].ended; first++)
        ;
    if (first == ts->n)
        return;
    while (ts->core > first) {
        pyroscope_span_end();
        ts->core--;
    }
    for (i = j = first; i < ts->n; i++)
        if (!ts->s[i].ended) {
            if (i != j)
                ts->s[j] = ts->s[i];
            j++;
        }
    ts->n = j;
    for (i = first; i < ts->n; i++) {
        struct slot *s = &ts->s[i];

        if (pyroscope_span_begin(s->id, s->has_name ? s->name : NULL) == 0)
            ts->core++;
        else
            break; /* out of memory: the rest stay unlabelled */
    }
    ts->n = ts->core;
}

/* For the postponed job on the sampled thread: append span_id/span_name
 * of this thread's outermost open span to `tags` (n used of cap). */
size_t
rbpyro_span_tags(pyroscope_tag *tags, size_t n, size_t cap)
{
    struct tspans *ts;

    if (!labels_enabled || tls_ts == NULL)
        return n;
    ts = ts_current(0);
    if (ts == NULL)
        return n;
    if (ts->dirty)
        ts_sync(ts);
    if (ts->n == 0 || n >= cap)
        return n;
    snprintf(hex_buf, sizeof(hex_buf), "%016llx",
             (unsigned long long)ts->s[0].id);
    tags[n].key = "span_id";
    tags[n++].value = hex_buf;
    if (ts->s[0].has_name && n < cap) {
        tags[n].key = "span_name";
        tags[n++].value = ts->s[0].name;
    }
    return n;
}

static void
handle_free(void *p)
{
    struct handle *h = p;

    if (h->ts != NULL)
        ts_unref(h->ts);
    free(h);
}

static size_t
handle_size(const void *p)
{
    (void)p;
    return sizeof(struct handle);
}

static const rb_data_type_t handle_type = {
    .wrap_struct_name = "Pyroscope::Native::Span",
    .function = {.dfree = handle_free, .dsize = handle_size},
    .flags = RUBY_TYPED_FREE_IMMEDIATELY
};

static VALUE cSpan;

/*
 * Native.span_begin(span_id, name = nil) -> handle or nil.
 * Starts a span on the calling thread (see pyroscope_span_begin).  nil when
 * the thread already has SPANS_MAX open spans.  Raises ArgumentError for a
 * span id outside 1..2**64-1.
 */
static VALUE
span_begin(int argc, VALUE *argv, VALUE self)
{
    VALUE vid, vname, obj;
    struct tspans *ts;
    struct handle *h;
    struct slot *s;
    uint64_t id;
    int rc;

    (void)self;
    rb_scan_args(argc, argv, "11", &vid, &vname);
    if (!RB_INTEGER_TYPE_P(vid) || RTEST(rb_funcall(vid, '<', 1, INT2FIX(1))) ||
        RTEST(rb_funcall(vid, '>', 1, ULL2NUM(UINT64_MAX))))
        rb_raise(rb_eArgError, "span_begin: span id must be an Integer in "
                               "1..2**64-1");
    id = NUM2ULL(vid);
    if (!NIL_P(vname))
        StringValueCStr(vname);
    ts = ts_current(1);
    if (ts == NULL)
        rb_raise(rb_eNoMemError, "span_begin");
    if (ts->dirty)
        ts_sync(ts);
    if (ts->n >= SPANS_MAX)
        return Qnil;
    obj = TypedData_Make_Struct(cSpan, struct handle, &handle_type, h);
    rc = pyroscope_span_begin(id, NIL_P(vname) ? NULL : RSTRING_PTR(vname));
    if (rc != 0)
        rbpyro_raise(rc, "pyroscope: span_begin");
    ts->core++;
    s = &ts->s[ts->n++];
    s->id = id;
    s->seq = ++ts->next_seq;
    s->ended = 0;
    s->has_name = !NIL_P(vname) && RSTRING_LEN(vname) > 0;
    if (s->has_name)
        snprintf(s->name, sizeof(s->name), "%s", RSTRING_PTR(vname));
    __atomic_add_fetch(&ts->refs, 1, __ATOMIC_ACQ_REL);
    h->ts = ts;
    h->seq = s->seq;
    RB_GC_GUARD(vname);
    return obj;
}

/* Mark the slot of `seq` ended; 1 if it was open. */
static int
ts_end(struct tspans *ts, uint64_t seq)
{
    int i;

    if (!__atomic_load_n(&ts->alive, __ATOMIC_ACQUIRE))
        return 0;
    for (i = 0; i < ts->n; i++)
        if (ts->s[i].seq == seq && !ts->s[i].ended) {
            ts->s[i].ended = 1;
            ts->dirty = 1;
            if (ts == tls_ts && ts->thread == rb_thread_current())
                ts_sync(ts);
            return 1;
        }
    return 0;
}

/*
 * Native.span_finish(handle) -> true if the span was still open.
 * From any thread: the span's own thread stops being labelled with it at
 * once if it is the caller, else at its next span call or Ruby sample.
 */
static VALUE
span_finish(VALUE self, VALUE obj)
{
    struct handle *h;

    (void)self;
    TypedData_Get_Struct(obj, struct handle, &handle_type, h);
    if (h->done || h->ts == NULL)
        return Qfalse;
    h->done = 1;
    return ts_end(h->ts, h->seq) ? Qtrue : Qfalse;
}

/* Native.span_end -> true if a span was open: ends the span begun last on
 * the calling thread (pyroscope_span_end). */
static VALUE
span_end(VALUE self)
{
    struct tspans *ts = ts_current(0);
    int i;

    (void)self;
    if (ts == NULL)
        return Qfalse;
    if (ts->dirty)
        ts_sync(ts);
    for (i = ts->n - 1; i >= 0; i--)
        if (!ts->s[i].ended)
            return ts_end(ts, ts->s[i].seq) ? Qtrue : Qfalse;
    return Qfalse;
}

/* Native.span_depth -> open spans of the calling thread (tests). */
static VALUE
span_depth(VALUE self)
{
    struct tspans *ts = ts_current(0);
    int i, n = 0;

    (void)self;
    if (ts == NULL)
        return INT2FIX(0);
    if (ts->dirty)
        ts_sync(ts);
    for (i = 0; i < ts->n; i++)
        n += !ts->s[i].ended;
    return INT2FIX(n);
}

/* Native.span_labels? -> true if the running profiler records span labels
 * (push, OTLP, file://); false when stopped or on the /ingest API. */
static VALUE
span_labels_p(VALUE self)
{
    (void)self;
    return rbpyro_handle != NULL && labels_enabled ? Qtrue : Qfalse;
}

void
rbpyro_spans_init(VALUE mNative)
{
    pthread_key_create(&ts_key, ts_thread_exit);
    cSpan = rb_define_class_under(mNative, "Span", rb_cObject);
    rb_undef_alloc_func(cSpan);
    rb_define_module_function(mNative, "span_begin", span_begin, -1);
    rb_define_module_function(mNative, "span_end", span_end, 0);
    rb_define_module_function(mNative, "span_finish", span_finish, 1);
    rb_define_module_function(mNative, "span_depth", span_depth, 0);
    rb_define_module_function(mNative, "span_labels?", span_labels_p, 0);
}
