/*
 * Ruby frame provider.
 *
 * The core sends a CPU signal to the thread that used the CPU and calls
 * capture() inside the handler.  Ruby's VM cannot be walked from a signal
 * handler, so capture() only decides whether the signal belongs to Ruby
 * code and registers a postponed job (async-signal-safe).  The job runs on
 * the next interrupt check of the thread holding the GVL, takes the stack
 * with rb_profile_frames() and reports it with pyroscope_add_sample().
 *
 * Attribution: only the thread holding the GVL runs Ruby code, and only it
 * passes the ruby_thread_has_gvl_p() test in capture(), so the job normally
 * runs on the very thread that was sampled.  The job compares pthread_self()
 * with the thread recorded in capture() and drops the weight (counted in
 * "mismatched") if the VM handed the GVL over in between; a thread that
 * blocks or exits before its job ran has its weight dropped by the next
 * sampled thread (capture()).  Signals on
 * threads that are not Ruby threads, or on Ruby threads running native code
 * with the GVL released, return 0: the core records their native stack.
 */
#include "pyroscope_ext.h"

#include <pthread.h>
#include <string.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <ruby/debug.h>
#include <ruby/st.h>

/* Exported by libruby (all 3.x) but not declared in its public headers. */
int ruby_thread_has_gvl_p(void);

#define FRAMES_MAX 512
#define TAGS_MAX 64
#define CACHE_MAX 65536

/* Pending deferred sample: the sampled thread and the accumulated weight.
 * Written by the signal handler, consumed by the job. */
static uintptr_t pending_thread;
static int64_t pending_weight;
static int provider_enabled;

/* Counters; atomics because the handler updates them. */
static uint64_t st_deferred;
static uint64_t st_native;
static uint64_t st_conflict;
static uint64_t st_register_failed;
static uint64_t st_jobs;
static uint64_t st_mismatched;
static uint64_t st_recorded;
static uint64_t st_add_failed;
static uint64_t st_job_ns; /* thread CPU time spent in record() */

#ifdef HAVE_RB_POSTPONED_JOB_PREREGISTER
static rb_postponed_job_handle_t job_handle;
#endif

/* Symbol cache: frame VALUE -> (label, path).  The cached frames are marked
 * with rb_gc_mark(), which pins them, so an address cannot be reused by
 * another object while it is a key here. */
struct frame_entry {
    VALUE frame;
    char *label;
    char *path;
    char hidden;  /* defined in one of the gem's own files */
};

/* The gem's own Ruby files (Native.hide_path): their frames are left out of
 * stacks, so users see their own code calling tag_wrapper's block, not our
 * plumbing.  Builtin (C) methods called by a hidden frame are left out with
 * it.  A handful of entries, set at load time. */
#define HIDDEN_MAX 16
static char *hidden_paths[HIDDEN_MAX];
static int hidden_count;

/* File names are reported as the official gem does: relative to the
 * working directory at start, else from the gem's directory on
 * (".../gems/x-1.0/lib/x.rb" -> "gems/x-1.0/lib/x.rb"), else relative to Ruby's
 * own library directory (".../ruby/3.1.0/set.rb" -> "set.rb"). */
static char start_cwd[4096];

static char *
short_path(const char *path)
{
    size_t n = strlen(start_cwd);
    const char *p;

    if (n > 1 && strncmp(path, start_cwd, n) == 0 && path[n] == '/')
        return strdup(path + n + 1);
    if ((p = strstr(path, "/gems/")) != NULL)
        return strdup(p + 1);
    if ((p = strstr(path, "/ruby/")) != NULL) {
        const char *q = strchr(p + strlen("/ruby/"), '/');

        if (q != NULL && q[1] != '\0')
            return strdup(q + 1);
    }
    return strdup(path);
}

/* report_thread_id: each Ruby sample gets thread_id=<OS thread id>, as the
 * official gem does. */
static int report_thread_id;
static char thread_id_buf[24];

static st_table *cache_index;
static struct frame_entry *cache;
static size_t cache_len, cache_cap;
static VALUE cache_holder = Qnil;

/* Scratch buffers for the job; jobs run with the GVL held, one at a time. */
static VALUE job_frames[FRAMES_MAX];
static int job_lines[FRAMES_MAX];
static pyroscope_frame job_out[FRAMES_MAX];
static pyroscope_tag job_tags[TAGS_MAX];

static void
cache_clear(void)
{
    size_t i;

    for (i = 0; i < cache_len; i++) {
        free(cache[i].label);
        free(cache[i].path);
    }
    cache_len = 0;
    if (cache_index != NULL)
        st_clear(cache_index);
}

static void
cache_mark(void *ptr)
{
    size_t i;

    (void)ptr;
    for (i = 0; i < cache_len; i++)
        rb_gc_mark(cache[i].frame);
}

static size_t
cache_memsize(const void *ptr)
{
    (void)ptr;
    return cache_cap * sizeof(*cache);
}

static const rb_data_type_t cache_type = {
    .wrap_struct_name = "Pyroscope::FrameCache",
    .function = {.dmark = cache_mark, .dsize = cache_memsize},
    .flags = RUBY_TYPED_FREE_IMMEDIATELY
};

static char *
dup_str(VALUE s)
{
    if (!RB_TYPE_P(s, T_STRING))
        return NULL;
    return strndup(RSTRING_PTR(s), (size_t)RSTRING_LEN(s));
}

static char *
frame_label(VALUE frame)
{
    VALUE label = rb_profile_frame_full_label(frame);
    char *out = dup_str(label);

    return out != NULL ? out : strdup("<unknown>");
}

static const struct frame_entry *
cache_lookup(VALUE frame)
{
    st_data_t idx;
    struct frame_entry *e;

    if (st_lookup(cache_index, (st_data_t)frame, &idx))
        return &cache[idx];
    if (cache_len >= CACHE_MAX)
        cache_clear();
    if (cache_len == cache_cap) {
        size_t ncap = cache_cap ? cache_cap * 2 : 256;
        struct frame_entry *n = realloc(cache, ncap * sizeof(*n));

        if (n == NULL)
            return NULL;
        cache = n;
        cache_cap = ncap;
    }
    e = &cache[cache_len];
    e->frame = frame;
    e->label = frame_label(frame);
    e->path = dup_str(rb_profile_frame_path(frame));
    e->hidden = 0;
    for (int i = 0; e->path != NULL && i < hidden_count; i++)
        if (strcmp(e->path, hidden_paths[i]) == 0)
            e->hidden = 1;
    if (e->path != NULL && e->path[0] == '/') {
        char *s = short_path(e->path);

        if (s != NULL) {
            free(e->path);
            e->path = s;
        }
    }
    st_insert(cache_index, (st_data_t)frame, (st_data_t)cache_len);
    cache_len++;
    return e;
}

static size_t
current_tags(void)
{
    VALUE h = rb_thread_local_aref(rb_thread_current(), rbpyro_id_tags_key);

    /* No fiber-switch hook exists, so the thread scope (used for native
     * samples) may still hold another fiber's tags: refresh it here.  Only
     * towards a fiber that has tags: a fiber without any (say, one that has
     * just started) leaves the scope as it is, so a tag_wrapper entered next
     * still sees the enclosing tags as the ones to hand back on exit. */
    if (RB_TYPE_P(h, T_HASH) && rbpyro_sync_thread_scope_if_stale(h))
        rb_funcall(rb_thread_current(), rb_intern("thread_variable_set"), 2,
                   ID2SYM(rb_intern(RBPYRO_SYNCED_KEY)), h);
    if (!RB_TYPE_P(h, T_HASH))
        return 0;
    return rbpyro_tags_from_hash(h, job_tags, TAGS_MAX);
}

static void
record(int64_t weight)
{
    int n = rb_profile_frames(0, FRAMES_MAX, job_frames, job_lines);
    int i, m = 0, run = 0;
    size_t ntags;
    int rc;

    /* Frames come innermost first; `run` counts the builtin frames just
     * emitted, which a hidden caller takes back out. */
    for (i = 0; i < n; i++) {
        const struct frame_entry *e = cache_lookup(job_frames[i]);

        if (e == NULL)
            continue;
        if (e->hidden) {
            m -= run;
            run = 0;
            continue;
        }
        run = e->path == NULL ? run + 1 : 0;
        job_out[m].function = e->label;
        job_out[m].file = e->path;
        job_out[m].line = job_lines[i] > 0 ? job_lines[i] : 0;
        m++;
    }
    if (m == 0) {
        job_out[0].function = "[ruby]";
        job_out[0].file = NULL;
        job_out[0].line = 0;
        m = 1;
    }
    ntags = current_tags();
    /* The job runs on the sampled thread: its span, if any. */
    ntags = rbpyro_span_tags(job_tags, ntags, TAGS_MAX);
    if (report_thread_id && ntags < TAGS_MAX) {
        snprintf(thread_id_buf, sizeof(thread_id_buf), "%ld",
                 (long)syscall(SYS_gettid));
        job_tags[ntags].key = "thread_id";
        job_tags[ntags].value = thread_id_buf;
        ntags++;
    }
    /* A non-NULL tag array (even with 0 tags) means "exactly these", so a
     * fiber without tags does not inherit the thread scope of another. */
    rc = pyroscope_add_sample(rbpyro_handle, PYROSCOPE_PROFILE_CPU, job_out,
                              (size_t)m, &weight, 1, job_tags, ntags);
    if (rc == 0)
        __atomic_add_fetch(&st_recorded, 1, __ATOMIC_RELAXED);
    else
        __atomic_add_fetch(&st_add_failed, 1, __ATOMIC_RELAXED);
}

static void
job(void *arg)
{
    uintptr_t who = __atomic_load_n(&pending_thread, __ATOMIC_ACQUIRE);
    int64_t w = __atomic_exchange_n(&pending_weight, 0, __ATOMIC_ACQ_REL);

    (void)arg;
    __atomic_compare_exchange_n(&pending_thread, &who, 0, 0,
                                __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
    __atomic_add_fetch(&st_jobs, 1, __ATOMIC_RELAXED);
    if (w <= 0 || rbpyro_handle == NULL)
        return;
    if (who != (uintptr_t)pthread_self()) {
        __atomic_add_fetch(&st_mismatched, (uint64_t)w, __ATOMIC_RELAXED);
        return;
    }
    {
        struct timespec t0, t1;

        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
        record(w);
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
        __atomic_add_fetch(&st_job_ns,
                           (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000000000LL +
                                      (t1.tv_nsec - t0.tv_nsec)),
                           __ATOMIC_RELAXED);
    }
}

static int
register_job(void)
{
#ifdef HAVE_RB_POSTPONED_JOB_PREREGISTER
    rb_postponed_job_trigger(job_handle);
    return 1;
#else
    return rb_postponed_job_register_one(0, job, NULL);
#endif
}

/* Runs inside the signal handler: async-signal-safe code only. */
static int
capture(uint64_t *words, int max, int64_t weight, void *payload)
{
    uintptr_t self, prev;

    (void)words;
    (void)max;
    (void)payload;
    if (!__atomic_load_n(&provider_enabled, __ATOMIC_ACQUIRE))
        return 0;
    /* Also false on non-Ruby threads (no execution context). */
    if (!ruby_thread_has_gvl_p()) {
        __atomic_add_fetch(&st_native, 1, __ATOMIC_RELAXED);
        return 0;
    }
    self = (uintptr_t)pthread_self();
    prev = __atomic_exchange_n(&pending_thread, self, __ATOMIC_ACQ_REL);
    if (prev != 0 && prev != self) {
        /* The previous GVL holder left (blocked or exited) before its
         * interrupt check ran the job: its stack is gone, so its weight
         * cannot be attributed.  Drop it here rather than keep the slot
         * claimed, which would stall sampling until some other postponed
         * job happened to flush the VM's queue. */
        int64_t stale = __atomic_exchange_n(&pending_weight, 0,
                                            __ATOMIC_ACQ_REL);

        __atomic_add_fetch(&st_conflict, 1, __ATOMIC_RELAXED);
        if (stale > 0)
            __atomic_add_fetch(&st_mismatched, (uint64_t)stale,
                               __ATOMIC_RELAXED);
    }
    __atomic_add_fetch(&pending_weight, weight > 0 ? weight : 1,
                       __ATOMIC_ACQ_REL);
    if (register_job() == 0)
        __atomic_add_fetch(&st_register_failed, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&st_deferred, 1, __ATOMIC_RELAXED);
    return PYROSCOPE_FRAMES_DEFERRED;
}

static int
symbolize(uint64_t w0, uint64_t w1, pyroscope_frame *out, void *payload)
{
    /* capture() never writes raw frames. */
    (void)w0;
    (void)w1;
    (void)out;
    (void)payload;
    return -1;
}

static const pyroscope_frame_provider provider = {
    1, capture, symbolize, NULL, 0
};

int
rbpyro_frames_install(pyroscope *p)
{
    if (getcwd(start_cwd, sizeof(start_cwd)) == NULL)
        start_cwd[0] = '\0';
    rbpyro_frames_reset_after_fork();
    __atomic_store_n(&provider_enabled, 1, __ATOMIC_RELEASE);
    return pyroscope_set_frame_provider(p, &provider);
}

void
rbpyro_frames_reset_after_fork(void)
{
    __atomic_store_n(&pending_weight, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&pending_thread, 0, __ATOMIC_RELEASE);
}

#define STAT(h, name, var)                                                    \
    rb_hash_aset(h, ID2SYM(rb_intern(name)),                                  \
                 ULL2NUM(__atomic_load_n(&(var), __ATOMIC_RELAXED)))

/* Native.frame_stats -> Hash of the provider's counters. */
static VALUE
frame_stats(VALUE self)
{
    VALUE h = rb_hash_new();

    (void)self;
    STAT(h, "deferred", st_deferred);
    STAT(h, "native", st_native);
    STAT(h, "conflict", st_conflict);
    STAT(h, "register_failed", st_register_failed);
    STAT(h, "jobs", st_jobs);
    STAT(h, "mismatched", st_mismatched);
    STAT(h, "recorded", st_recorded);
    STAT(h, "add_failed", st_add_failed);
    STAT(h, "job_ns", st_job_ns);
    rb_hash_aset(h, ID2SYM(rb_intern("cached_frames")), SIZET2NUM(cache_len));
    return h;
}

/* Native.report_thread_id = bool */
static VALUE
set_report_thread_id(VALUE self, VALUE on)
{
    (void)self;
    report_thread_id = RTEST(on);
    return on;
}

/* Native.hide_path(path): leave frames of this Ruby file out of stacks. */
static VALUE
hide_path(VALUE self, VALUE path)
{
    char *dup;

    (void)self;
    StringValue(path);
    for (int i = 0; i < hidden_count; i++)
        if (strcmp(hidden_paths[i], StringValueCStr(path)) == 0)
            return Qfalse;
    if (hidden_count >= HIDDEN_MAX)
        rb_raise(rb_eArgError, "at most %d hidden paths", HIDDEN_MAX);
    dup = strdup(StringValueCStr(path));
    if (dup == NULL)
        rb_raise(rb_eNoMemError, "hide_path");
    hidden_paths[hidden_count++] = dup;
    /* Entries cached before this call keep their old flag. */
    cache_clear();
    return Qtrue;
}

void
rbpyro_frames_init(VALUE mNative)
{
    cache_index = st_init_numtable();
    cache_holder = TypedData_Wrap_Struct(rb_cObject, &cache_type, NULL);
    rb_gc_register_mark_object(cache_holder);
#ifdef HAVE_RB_POSTPONED_JOB_PREREGISTER
    job_handle = rb_postponed_job_preregister(0, job, NULL);
#endif
    rb_define_module_function(mNative, "frame_stats", frame_stats, 0);
    rb_define_module_function(mNative, "hide_path", hide_path, 1);
    rb_define_module_function(mNative, "report_thread_id=",
                              set_report_thread_id, 1);
}
