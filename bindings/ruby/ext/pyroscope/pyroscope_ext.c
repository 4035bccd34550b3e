/*
 * Pyroscope::Native: the C core's lifecycle, config and tag calls.
 *
 * lib/pyroscope.rb validates and normalises user input into plain Hashes of
 * Strings/Integers; this file maps them onto pyroscope_config and the tag
 * API, and turns core error codes into Ruby exceptions.
 */
#include "pyroscope_ext.h"

#include <string.h>

#include <ruby/thread.h>

#ifndef RBPYRO_CORE_FORK_AWARE
#define RBPYRO_CORE_FORK_AWARE 0
#endif

VALUE rbpyro_mPyroscope;
VALUE rbpyro_mNative;
VALUE rbpyro_eError;
ID rbpyro_id_tags_key;
pyroscope *rbpyro_handle;

/* How many scopes of ours this OS thread has pushed on the core (see
 * sync_thread_scope). */
static __thread int thread_scope_pushed;
/* The Hash last synced on this thread; compared by identity only. */
static __thread VALUE thread_scope_hash;

/* The core takes at most this many tags per scope; larger merged sets are
 * pushed as several scopes (keys are distinct, so they simply add up). */
#define SCOPE_CHUNK 16

#define CFG_TAGS_MAX 64
#define CFG_HEADERS_MAX 64

void
rbpyro_raise(int err, const char *what)
{
    const char *detail = pyroscope_last_error();
    VALUE klass = rbpyro_eError;

    if (err == PYROSCOPE_EINVAL || err == PYROSCOPE_ELIMIT)
        klass = rb_eArgError;
    if (detail != NULL && detail[0] != '\0')
        rb_raise(klass, "%s: %s", what, detail);
    rb_raise(klass, "%s: %s", what, pyroscope_strerror(err));
}

struct tags_fill {
    pyroscope_tag *out;
    size_t cap;
    size_t n;
};

static int
tags_fill_i(VALUE key, VALUE value, VALUE arg)
{
    struct tags_fill *f = (struct tags_fill *)arg;

    if (f->n >= f->cap)
        return ST_STOP;
    if (!RB_TYPE_P(key, T_STRING) || !RB_TYPE_P(value, T_STRING))
        return ST_CONTINUE;
    f->out[f->n].key = RSTRING_PTR(key);
    f->out[f->n].value = RSTRING_PTR(value);
    f->n++;
    return ST_CONTINUE;
}

size_t
rbpyro_tags_from_hash(VALUE hash, pyroscope_tag *out, size_t cap)
{
    struct tags_fill f;

    f.out = out;
    f.cap = cap;
    f.n = 0;
    if (RB_TYPE_P(hash, T_HASH))
        rb_hash_foreach(hash, tags_fill_i, (VALUE)&f);
    return f.n;
}

static VALUE
opt(VALUE opts, const char *name)
{
    return rb_hash_lookup(opts, ID2SYM(rb_intern(name)));
}

static const char *
opt_str(VALUE opts, const char *name)
{
    VALUE v = opt(opts, name);

    if (NIL_P(v))
        return NULL;
    if (!RB_TYPE_P(v, T_STRING))
        rb_raise(rb_eArgError, "%s must be a String", name);
    return StringValueCStr(v);
}

static int
opt_int(VALUE opts, const char *name)
{
    VALUE v = opt(opts, name);

    if (NIL_P(v))
        return 0;
    if (!RB_INTEGER_TYPE_P(v))
        rb_raise(rb_eArgError, "%s must be an Integer", name);
    return NUM2INT(v);
}

/* Convert a {String => String} Hash into pairs; strings stay owned by the
 * Hash, which the caller keeps alive. */
static size_t
opt_pairs(VALUE opts, const char *name, pyroscope_tag *out, size_t cap)
{
    VALUE h = opt(opts, name);
    VALUE keys;
    long i;

    if (NIL_P(h))
        return 0;
    if (!RB_TYPE_P(h, T_HASH))
        rb_raise(rb_eArgError, "%s must be a Hash", name);
    if ((size_t)RHASH_SIZE(h) > cap)
        rb_raise(rb_eArgError, "%s: at most %zu entries", name, cap);
    keys = rb_funcall(h, rb_intern("keys"), 0);
    for (i = 0; i < RARRAY_LEN(keys); i++) {
        VALUE k = RARRAY_AREF(keys, i);
        VALUE v = rb_hash_aref(h, k);

        if (!RB_TYPE_P(k, T_STRING) || !RB_TYPE_P(v, T_STRING))
            rb_raise(rb_eArgError, "%s: keys and values must be Strings",
                     name);
        out[i].key = StringValueCStr(k);
        out[i].value = StringValueCStr(v);
    }
    return (size_t)i;
}

/* Native.start(opts) -> true.  Raises ArgumentError on a bad config and
 * Pyroscope::Error if the core cannot start. */
static VALUE
native_start(VALUE self, VALUE opts)
{
    pyroscope_config cfg;
    pyroscope_tag tags[CFG_TAGS_MAX];
    pyroscope_tag headers[CFG_HEADERS_MAX];
    pyroscope *p = NULL;
    int rc;

    (void)self;
    Check_Type(opts, T_HASH);
    if (rbpyro_handle != NULL)
        rb_raise(rbpyro_eError, "pyroscope is already running");
    pyroscope_config_init(&cfg, PYROSCOPE_CONFIG_VERSION);
    cfg.application_name = opt_str(opts, "application_name");
    cfg.server_address = opt_str(opts, "server_address");
    cfg.sample_rate = opt_int(opts, "sample_rate");
    cfg.upload_interval_ms = opt_int(opts, "upload_interval_ms");
    cfg.tags_count = opt_pairs(opts, "tags", tags, CFG_TAGS_MAX);
    cfg.tags = cfg.tags_count ? tags : NULL;
    cfg.auth_token = opt_str(opts, "auth_token");
    cfg.basic_auth_user = opt_str(opts, "basic_auth_username");
    cfg.basic_auth_password = opt_str(opts, "basic_auth_password");
    cfg.tenant_id = opt_str(opts, "tenant_id");
    cfg.http_headers_count =
        opt_pairs(opts, "http_headers", headers, CFG_HEADERS_MAX);
    cfg.http_headers = cfg.http_headers_count ? headers : NULL;
    cfg.log_level = opt_int(opts, "log_level");
    cfg.spy_name = opt_str(opts, "spy_name");
    cfg.api = opt_int(opts, "api");
    cfg.upload_timeout_ms = opt_int(opts, "upload_timeout_ms");
    cfg.stop_timeout_ms = opt_int(opts, "stop_timeout_ms");
    cfg.fork_mode = opt_int(opts, "fork_mode");
    cfg.profile_types = PYROSCOPE_PROFILE_CPU;

    rbpyro_spans_configure(&cfg);
    rc = pyroscope_start(&p, &cfg);
    RB_GC_GUARD(opts);
    if (rc != 0)
        rbpyro_raise(rc, "pyroscope: cannot start");
    rc = rbpyro_frames_install(p);
    if (rc != 0) {
        pyroscope_stop(p);
        rbpyro_raise(rc, "pyroscope: cannot install the Ruby frame provider");
    }
    rbpyro_handle = p;
    return Qtrue;
}

static void *
stop_nogvl(void *arg)
{
    pyroscope_stop((pyroscope *)arg);
    return NULL;
}

/* Native.stop -> true if a profiler was running. */
static VALUE
native_stop(VALUE self)
{
    pyroscope *p = rbpyro_handle;

    (void)self;
    if (p == NULL)
        return Qfalse;
    /* Pending postponed jobs see NULL and do nothing; they cannot run while
     * we hold the GVL here. */
    rbpyro_handle = NULL;
    pyroscope_set_frame_provider(p, NULL);
    rb_thread_call_without_gvl(stop_nogvl, p, NULL, NULL);
    return Qtrue;
}

struct flush_args {
    pyroscope *p;
    int timeout_ms;
    int rc;
};

static void *
flush_nogvl(void *arg)
{
    struct flush_args *a = arg;

    a->rc = pyroscope_flush(a->p, a->timeout_ms);
    return NULL;
}

/* Native.flush(timeout_ms) -> true when everything was delivered. */
static VALUE
native_flush(VALUE self, VALUE timeout)
{
    struct flush_args a;

    (void)self;
    if (rbpyro_handle == NULL)
        return Qfalse;
    a.p = rbpyro_handle;
    a.timeout_ms = NUM2INT(timeout);
    a.rc = 0;
    rb_thread_call_without_gvl(flush_nogvl, &a, NULL, NULL);
    return a.rc == 0 ? Qtrue : Qfalse;
}

static VALUE
native_running_p(VALUE self)
{
    (void)self;
    return rbpyro_handle != NULL ? Qtrue : Qfalse;
}

#define STAT(h, s, f) \
    rb_hash_aset(h, ID2SYM(rb_intern(#f)), ULL2NUM((s).f))

static VALUE
native_stats(VALUE self)
{
    pyroscope_stats s;
    VALUE h;

    (void)self;
    if (rbpyro_handle == NULL)
        return Qnil;
    memset(&s, 0, sizeof(s));
    if (pyroscope_get_stats(rbpyro_handle, &s) != 0)
        return Qnil;
    h = rb_hash_new();
    STAT(h, s, samples);
    STAT(h, s, samples_dropped);
    STAT(h, s, profiles_uploaded);
    STAT(h, s, profiles_dropped);
    STAT(h, s, upload_failures);
    STAT(h, s, threads_profiled);
    STAT(h, s, queued_bytes);
    return h;
}

/* Native.check_tag(key, value): raises ArgumentError with the core's
 * detail if the pair is not a valid tag. */
static VALUE
native_check_tag(VALUE self, VALUE key, VALUE value)
{
    int rc;

    (void)self;
    rc = pyroscope_tag_check(StringValueCStr(key), StringValueCStr(value));
    if (rc != 0)
        rbpyro_raise(rc, "pyroscope: invalid tag");
    return Qnil;
}

static VALUE
native_tag_set(VALUE self, VALUE key, VALUE value)
{
    int rc;

    (void)self;
    if (rbpyro_handle == NULL)
        return Qfalse;
    rc = pyroscope_tag_set(rbpyro_handle, StringValueCStr(key),
                           StringValueCStr(value));
    if (rc != 0)
        rbpyro_raise(rc, "pyroscope: cannot set tag");
    return Qtrue;
}

static VALUE
native_tag_unset(VALUE self, VALUE key)
{
    (void)self;
    if (rbpyro_handle == NULL)
        return Qfalse;
    return pyroscope_tag_unset(rbpyro_handle, StringValueCStr(key)) == 0
               ? Qtrue : Qfalse;
}

/*
 * Native.sync_thread_scope(hash_or_nil) -> 0 or an error code.
 *
 * Makes the core's scope of this OS thread equal to `hash`, the merged tags
 * of the fiber that just changed them.  It is used for samples recorded
 * without Ruby frames (GVL released); Ruby samples carry their fiber's tags
 * explicitly.  We keep at most one scope of ours pushed per thread, so
 * fibers interleaving tag_wrapper blocks cannot unbalance the core's stack.
 */
int
rbpyro_sync_thread_scope(VALUE hash)
{
    pyroscope_tag tags[CFG_TAGS_MAX];
    size_t n, i;
    int rc = 0;

    while (thread_scope_pushed > 0) {
        pyroscope_scope_pop();
        thread_scope_pushed--;
    }
    thread_scope_hash = hash;
    n = rbpyro_tags_from_hash(hash, tags, CFG_TAGS_MAX);
    for (i = 0; i < n; i += SCOPE_CHUNK) {
        size_t chunk = n - i < SCOPE_CHUNK ? n - i : SCOPE_CHUNK;

        rc = pyroscope_scope_push(tags + i, chunk);
        if (rc != 0)
            break;
        thread_scope_pushed++;
    }
    RB_GC_GUARD(hash);
    return rc;
}

int
rbpyro_sync_thread_scope_if_stale(VALUE hash)
{
    if (hash == thread_scope_hash)
        return 0;
    rbpyro_sync_thread_scope(hash);
    return 1;
}

static VALUE
native_sync_thread_scope(VALUE self, VALUE hash)
{
    (void)self;
    return INT2FIX(rbpyro_sync_thread_scope(hash));
}

/*
 * Native.after_fork_child -> true if the child is still profiled.
 *
 * The parent's handle is never stopped in the child: its collector and
 * uploader threads do not exist here, so pyroscope_stop() would wait for
 * them forever.  A core with fork support (pthread_atfork; detected by
 * extconf.rb) restarts or stops itself per cfg.fork_mode and
 * pyroscope_current() tells which; with an older core the child simply runs
 * unprofiled.
 */
static VALUE
native_after_fork_child(VALUE self)
{
    pyroscope *p = pyroscope_current();

    (void)self;
    rbpyro_frames_reset_after_fork();
    rbpyro_handle = NULL;
#if RBPYRO_CORE_FORK_AWARE
    if (p != NULL && rbpyro_frames_install(p) == 0)
        rbpyro_handle = p;
#else
    (void)p;
#endif
    return rbpyro_handle != NULL ? Qtrue : Qfalse;
}

static VALUE
native_version(VALUE self)
{
    (void)self;
    return rb_str_new_cstr(pyroscope_version());
}

void
Init_pyroscope_ext(void)
{
    VALUE m;

    rbpyro_mPyroscope = rb_define_module("Pyroscope");
    rbpyro_eError = rb_define_class_under(rbpyro_mPyroscope, "Error",
                                          rb_eStandardError);
    m = rb_define_module_under(rbpyro_mPyroscope, "Native");
    rbpyro_mNative = m;
    rbpyro_id_tags_key = rb_intern(RBPYRO_TAGS_KEY);

    rb_define_module_function(m, "start", native_start, 1);
    rb_define_module_function(m, "stop", native_stop, 0);
    rb_define_module_function(m, "flush", native_flush, 1);
    rb_define_module_function(m, "running?", native_running_p, 0);
    rb_define_module_function(m, "stats", native_stats, 0);
    rb_define_module_function(m, "check_tag", native_check_tag, 2);
    rb_define_module_function(m, "tag_set", native_tag_set, 2);
    rb_define_module_function(m, "tag_unset", native_tag_unset, 1);
    rb_define_module_function(m, "sync_thread_scope",
                              native_sync_thread_scope, 1);
    rb_define_module_function(m, "after_fork_child",
                              native_after_fork_child, 0);
    rb_define_module_function(m, "core_version", native_version, 0);
    rb_define_const(m, "FORK_CONTINUE", INT2FIX(PYROSCOPE_FORK_CONTINUE));
    rb_define_const(m, "FORK_STOP", INT2FIX(PYROSCOPE_FORK_STOP));
    rb_define_const(m, "API_INGEST", INT2FIX(PYROSCOPE_API_INGEST));
    rb_define_const(m, "API_PUSH", INT2FIX(PYROSCOPE_API_PUSH));
    rb_define_const(m, "CORE_FORK_AWARE", RBPYRO_CORE_FORK_AWARE ? Qtrue : Qfalse);
    rbpyro_frames_init(m);
    rbpyro_spans_init(m);
}
