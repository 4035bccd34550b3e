/*
 * _native.c - CPython extension over the pyroscope C core.
 *
 * Thin glue: argument checking of the user-facing API is done in
 * pyroscope/__init__.py; this module converts already-checked Python values
 * into the core's structs, maps core errors to Python exceptions, and
 * installs the Python frame provider from _frames.c.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pyroscope.h"
#include "_frames.h"
#include "_memory.h"

static pyroscope *g_prof;       /* the running profiler started by us */
static int g_gil_only = 1;      /* read in the signal handler */
static __thread int t_pushed;   /* this thread has one binding scope pushed */

static void wall_tags_set(unsigned long ident, const pyroscope_tag *tags,
                          size_t n);
static void wall_stop(void);

static PyObject *raise_core(int rc, const char *what)
{
    const char *detail = pyroscope_last_error();
    PyObject *exc = rc == PYROSCOPE_EINVAL  ? PyExc_ValueError
                    : rc == PYROSCOPE_ELIMIT ? PyExc_ValueError
                    : rc == PYROSCOPE_ENOMEM ? PyExc_MemoryError
                    : rc == PYROSCOPE_ENOENT ? PyExc_KeyError
                                             : PyExc_RuntimeError;
    if (detail && *detail)
        PyErr_Format(exc, "%s: %s (%s)", what, detail, pyroscope_strerror(rc));
    else
        PyErr_Format(exc, "%s: %s", what, pyroscope_strerror(rc));
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Frame provider                                                      */

static int capture_cb(uint64_t *words, int max, int64_t weight, void *payload)
{
    (void)weight;
    (void)payload;
    int n = pyf_capture(words, max, g_gil_only);
    return n == PYF_DROP ? PYROSCOPE_FRAMES_DEFERRED : n;
}

static int symbolize_cb(uint64_t w0, uint64_t w1, pyroscope_frame *out,
                        void *payload)
{
    (void)payload;
    return pyf_symbolize(w0, w1, &out->function, &out->file, &out->line);
}

static int g_native;

static int install_provider(pyroscope *p)
{
    if (!pyf_safe_reads())
        return 0; /* no safe reader: native stacks only */
    pyroscope_frame_provider prov;
    memset(&prov, 0, sizeof prov);
    prov.version = 1;
    prov.capture = capture_cb;
    prov.symbolize = symbolize_cb;
    prov.native_frames = g_native;
    return pyroscope_set_frame_provider(p, &prov);
}

/* ------------------------------------------------------------------ */
/* Helpers: a sequence of (str, str) pairs -> pyroscope_tag array.     */
/* The returned array borrows UTF-8 buffers owned by `seq_out`.        */

static int pairs_to_tags(PyObject *obj, PyObject **seq_out,
                         pyroscope_tag **tags_out, size_t *n_out)
{
    *seq_out = NULL;
    *tags_out = NULL;
    *n_out = 0;
    if (obj == Py_None)
        return 0;
    PyObject *seq = PySequence_Fast(obj, "expected a sequence of pairs");
    if (!seq)
        return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    pyroscope_tag *tags = n ? PyMem_Calloc((size_t)n, sizeof *tags) : NULL;
    if (n && !tags) {
        Py_DECREF(seq);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *it = PySequence_Fast_GET_ITEM(seq, i);
        if (!PyTuple_Check(it) || PyTuple_GET_SIZE(it) != 2 ||
            !PyUnicode_Check(PyTuple_GET_ITEM(it, 0)) ||
            !PyUnicode_Check(PyTuple_GET_ITEM(it, 1))) {
            PyErr_SetString(PyExc_TypeError, "expected (str, str) pairs");
            goto fail;
        }
        tags[i].key = PyUnicode_AsUTF8(PyTuple_GET_ITEM(it, 0));
        tags[i].value = PyUnicode_AsUTF8(PyTuple_GET_ITEM(it, 1));
        if (!tags[i].key || !tags[i].value)
            goto fail;
    }
    *seq_out = seq;
    *tags_out = tags;
    *n_out = (size_t)n;
    return 0;
fail:
    PyMem_Free(tags);
    Py_DECREF(seq);
    return -1;
}

static const char *opt_str(PyObject *o)
{
    if (o == Py_None || o == NULL)
        return NULL;
    const char *s = PyUnicode_AsUTF8(o);
    return (s && *s) ? s : NULL;
}

/* ------------------------------------------------------------------ */
/* start / stop                                                        */

static PyObject *py_start(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"application_name", "server_address",
                             "sample_rate", "upload_interval_ms", "tags",
                             "auth_token", "basic_auth_user",
                             "basic_auth_password", "tenant_id",
                             "http_headers", "log_level", "gil_only",
                             "native", "fork_mode", "roots", "api",
                             "profile_types", "spy_name", NULL};
    PyObject *app, *server, *tags_o = Py_None, *tok = Py_None,
             *user = Py_None, *pass = Py_None, *tenant = Py_None,
             *hdr_o = Py_None, *roots = Py_None;
    int rate = 100, upload_ms = 0, log_level = PYROSCOPE_LOG_WARN,
        gil_only = 1, native = 0, fork_mode = PYROSCOPE_FORK_CONTINUE,
        api = PYROSCOPE_API_PUSH;
    unsigned int types = PYROSCOPE_PROFILE_CPU;
    const char *spy = "pyspy";
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(
            args, kw, "UU|iiOOOOOOippiOiIs", kwlist, &app, &server, &rate,
            &upload_ms, &tags_o, &tok, &user, &pass, &tenant, &hdr_o,
            &log_level, &gil_only, &native, &fork_mode, &roots, &api,
            &types, &spy))
        return NULL;
    if (g_prof) {
        PyErr_SetString(PyExc_RuntimeError, "profiler already running");
        return NULL;
    }
    if (pyroscope_current() != NULL) {
        PyErr_SetString(PyExc_RuntimeError,
                        "another pyroscope profiler runs in this process");
        return NULL;
    }

    PyObject *tseq = NULL, *hseq = NULL;
    pyroscope_tag *tags = NULL, *hdrs = NULL;
    size_t ntags = 0, nhdrs = 0;
    if (pairs_to_tags(tags_o, &tseq, &tags, &ntags) != 0 ||
        pairs_to_tags(hdr_o, &hseq, &hdrs, &nhdrs) != 0)
        goto fail;

    /* Module-name roots (sys.path snapshot) for the symbolizer. */
    if (roots != Py_None) {
        PyObject *rs = PySequence_Fast(roots, "roots must be a sequence");
        if (!rs)
            goto fail;
        Py_ssize_t n = PySequence_Fast_GET_SIZE(rs);
        const char **r = PyMem_Calloc((size_t)n + 1, sizeof *r);
        int k = 0;
        for (Py_ssize_t i = 0; r && i < n; i++) {
            PyObject *it = PySequence_Fast_GET_ITEM(rs, i);
            if (PyUnicode_Check(it)) {
                const char *s = PyUnicode_AsUTF8(it);
                if (s && *s)
                    r[k++] = s;
                else
                    PyErr_Clear();
            }
        }
        if (r)
            pyf_set_roots(r, k);
        PyMem_Free(r);
        Py_DECREF(rs);
    } else {
        pyf_reset_cache();
    }

    pyroscope_config cfg;
    pyroscope_config_init(&cfg, PYROSCOPE_CONFIG_VERSION);
    cfg.application_name = PyUnicode_AsUTF8(app);
    cfg.server_address = PyUnicode_AsUTF8(server);
    if (!cfg.application_name || !cfg.server_address)
        goto fail;
    cfg.sample_rate = rate;
    cfg.upload_interval_ms = upload_ms;
    cfg.tags = tags;
    cfg.tags_count = ntags;
    cfg.auth_token = opt_str(tok);
    cfg.basic_auth_user = opt_str(user);
    cfg.basic_auth_password = opt_str(pass);
    cfg.tenant_id = opt_str(tenant);
    cfg.http_headers = hdrs;
    cfg.http_headers_count = nhdrs;
    cfg.profile_types = types;
    cfg.api = api;
    cfg.log_level = log_level;
    cfg.spy_name = spy;
    cfg.fork_mode = fork_mode;
    if (PyErr_Occurred())
        goto fail;

    const char *mode = getenv("PYROSCOPE_PYTHON_SAFE_READS");
    if (!(mode && strcmp(mode, "syscall") == 0))
        pyf_install_guard(); /* else / on failure: process_vm_readv */

    pyroscope *p = NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = pyroscope_start(&p, &cfg);
    Py_END_ALLOW_THREADS
    if (rc != 0) {
        raise_core(rc, "pyroscope_start");
        goto fail;
    }
    g_gil_only = gil_only;
    g_native = native;
    rc = install_provider(p);
    if (rc != 0) {
        Py_BEGIN_ALLOW_THREADS
        pyroscope_stop(p);
        Py_END_ALLOW_THREADS
        raise_core(rc, "pyroscope_set_frame_provider");
        goto fail;
    }
    g_prof = p;
    PyMem_Free(tags);
    PyMem_Free(hdrs);
    Py_XDECREF(tseq);
    Py_XDECREF(hseq);
    Py_RETURN_NONE;
fail:
    PyMem_Free(tags);
    PyMem_Free(hdrs);
    Py_XDECREF(tseq);
    Py_XDECREF(hseq);
    return NULL;
}

static PyObject *py_stop(PyObject *self, PyObject *noargs)
{
    (void)self;
    (void)noargs;
    pyroscope *p = g_prof;
    if (!p)
        Py_RETURN_FALSE;
    Py_BEGIN_ALLOW_THREADS
    wall_stop();
    Py_END_ALLOW_THREADS
    g_prof = NULL;
    Py_BEGIN_ALLOW_THREADS
    pyroscope_stop(p);
    Py_END_ALLOW_THREADS
    /* The collector thread is joined: the symbol cache is ours now. */
    pyf_reset_cache();
    Py_RETURN_TRUE;
}

static PyObject *py_flush(PyObject *self, PyObject *arg)
{
    (void)self;
    int ms = (int)PyLong_AsLong(arg);
    if (ms == -1 && PyErr_Occurred())
        return NULL;
    if (!g_prof)
        Py_RETURN_FALSE;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = pyroscope_flush(g_prof, ms);
    Py_END_ALLOW_THREADS
    return PyBool_FromLong(rc == 0);
}

static PyObject *py_running(PyObject *self, PyObject *noargs)
{
    (void)self;
    (void)noargs;
    return PyBool_FromLong(g_prof != NULL);
}

/* After fork in the child: the core either keeps profiling (same handle)
 * or stopped (pyroscope_current() is NULL).  Sync our view with it. */
static PyObject *py_after_fork_child(PyObject *self, PyObject *noargs)
{
    (void)self;
    (void)noargs;
    /* The core abandons the parent's handle in the child and, with
     * FORK_CONTINUE, starts a fresh profiler from a copy of its config (in
     * its pthread_atfork child handler).  Adopt that one and give it our
     * frame provider; never touch the parent's handle. */
    pyroscope *cur = pyroscope_current();
    if (g_prof && cur != g_prof) {
        g_prof = cur;
        if (cur && install_provider(cur) != 0)
            g_prof = NULL;
    }
    return PyBool_FromLong(g_prof != NULL);
}

/* ------------------------------------------------------------------ */
/* Tags                                                                */

static PyObject *py_tag_set(PyObject *self, PyObject *args)
{
    (void)self;
    const char *k, *v;
    if (!PyArg_ParseTuple(args, "ss", &k, &v))
        return NULL;
    if (!g_prof) {
        PyErr_SetString(PyExc_RuntimeError, "profiler not running");
        return NULL;
    }
    int rc = pyroscope_tag_set(g_prof, k, v);
    if (rc)
        return raise_core(rc, "tag");
    Py_RETURN_NONE;
}

static PyObject *py_tag_unset(PyObject *self, PyObject *args)
{
    (void)self;
    const char *k;
    if (!PyArg_ParseTuple(args, "s", &k))
        return NULL;
    if (!g_prof)
        Py_RETURN_FALSE;
    return PyBool_FromLong(pyroscope_tag_unset(g_prof, k) == 0);
}

static PyObject *py_tag_check(PyObject *self, PyObject *args)
{
    (void)self;
    const char *k, *v;
    if (!PyArg_ParseTuple(args, "ss", &k, &v))
        return NULL;
    int rc = pyroscope_tag_check(k, v);
    if (rc)
        return raise_core(rc, "invalid tag");
    Py_RETURN_NONE;
}

/* Replace this thread's binding scope with `pairs` (None/empty = none).
 * Validates first, so on error the previous scope is left in place. */
static PyObject *py_set_thread_tags(PyObject *self, PyObject *arg)
{
    (void)self;
    PyObject *seq = NULL;
    pyroscope_tag *tags = NULL;
    size_t n = 0;
    if (pairs_to_tags(arg, &seq, &tags, &n) != 0)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        int rc = pyroscope_tag_check(tags[i].key, tags[i].value);
        if (rc) {
            PyMem_Free(tags);
            Py_XDECREF(seq);
            return raise_core(rc, "invalid tag");
        }
    }
    wall_tags_set((unsigned long)pthread_self(), tags, n);
    if (t_pushed) {
        pyroscope_scope_pop();
        t_pushed = 0;
    }
    int rc = 0;
    if (n) {
        rc = pyroscope_scope_push(tags, n);
        if (rc == 0)
            t_pushed = 1;
    }
    PyMem_Free(tags);
    Py_XDECREF(seq);
    if (rc)
        return raise_core(rc, "tag scope");
    Py_RETURN_NONE;
}

static PyObject *py_scope_current(PyObject *self, PyObject *noargs)
{
    (void)self;
    (void)noargs;
    return PyLong_FromUnsignedLongLong(pyroscope_scope_current());
}

/* ------------------------------------------------------------------ */
/* Span profiles (pyroscope.otel)                                      */

/* The core keeps the span in the calling thread's TLS and its CPU signal
 * handler reads it on the interrupted thread, which is the thread whose
 * Python stack capture_cb walks: so a span begun here labels exactly the
 * samples of the Python code this thread runs.  Per thread: the caller
 * (pyroscope.otel) must end on the thread that began. */
static PyObject *py_span_begin(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *id_o;
    const char *name;
    if (!PyArg_ParseTuple(args, "Oz", &id_o, &name))
        return NULL;
    if (!PyLong_Check(id_o)) {
        PyErr_SetString(PyExc_TypeError, "span id must be an int");
        return NULL;
    }
    /* Range-checked: "K" would silently wrap a negative or huge id. */
    unsigned long long id = PyLong_AsUnsignedLongLong(id_o);
    if (id == (unsigned long long)-1 && PyErr_Occurred())
        return NULL;
    int rc = pyroscope_span_begin((uint64_t)id, name);
    if (rc)
        return raise_core(rc, "span_begin");
    Py_RETURN_NONE;
}

static PyObject *py_span_end(PyObject *self, PyObject *noargs)
{
    (void)self;
    (void)noargs;
    pyroscope_span_end();
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------ */
/* Introspection                                                       */

static PyObject *py_stats(PyObject *self, PyObject *noargs)
{
    (void)self;
    (void)noargs;
    if (!g_prof)
        Py_RETURN_NONE;
    pyroscope_stats s;
    memset(&s, 0, sizeof s);
    if (pyroscope_get_stats(g_prof, &s) != 0)
        Py_RETURN_NONE;
    return Py_BuildValue(
        "{s:K,s:K,s:K,s:K,s:K,s:K,s:K}", "samples",
        (unsigned long long)s.samples, "samples_dropped",
        (unsigned long long)s.samples_dropped, "profiles_uploaded",
        (unsigned long long)s.profiles_uploaded, "profiles_dropped",
        (unsigned long long)s.profiles_dropped, "upload_failures",
        (unsigned long long)s.upload_failures, "threads_profiled",
        (unsigned long long)s.threads_profiled, "queued_bytes",
        (unsigned long long)s.queued_bytes);
}

/* Capture + symbolize the calling thread's stack right now, outside any
 * signal handler: lets tests check the frame walker on every CPython. */
static PyObject *py_debug_stack(PyObject *self, PyObject *noargs)
{
    (void)self;
    (void)noargs;
    uint64_t words[2 * 256];
    int n = pyf_capture(words, 256, 0);
    PyObject *out = PyList_New(0);
    if (!out || n <= 0)
        return out;
    /* The symbol cache belongs to the collector thread while profiling. */
    if (g_prof) {
        Py_DECREF(out);
        PyErr_SetString(PyExc_RuntimeError, "stop the profiler first");
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        const char *fn = NULL, *file = NULL;
        int64_t line = 0;
        if (pyf_symbolize(words[2 * i], words[2 * i + 1], &fn, &file,
                          &line) != 0)
            continue;
        PyObject *t = Py_BuildValue("(szL)", fn, file, (long long)line);
        if (!t || PyList_Append(out, t) != 0) {
            Py_XDECREF(t);
            Py_DECREF(out);
            return NULL;
        }
        Py_DECREF(t);
    }
    return out;
}

static PyObject *py_read_mode(PyObject *self, PyObject *noargs)
{
    (void)self;
    (void)noargs;
    return PyUnicode_FromString(pyf_guarded() ? "guarded" : "syscall");
}

static PyObject *py_debug_probe(PyObject *self, PyObject *arg)
{
    (void)self;
    unsigned long long a = PyLong_AsUnsignedLongLong(arg);
    if (a == (unsigned long long)-1 && PyErr_Occurred())
        return NULL;
    if (!pyf_guarded() && pyf_install_guard() != 0) {
        PyErr_SetString(PyExc_RuntimeError, "cannot install fault guard");
        return NULL;
    }
    return PyBool_FromLong(pyf_debug_probe((uintptr_t)a) == 0);
}

static PyObject *py_set_roots(PyObject *self, PyObject *roots)
{
    (void)self;
    if (g_prof) {
        PyErr_SetString(PyExc_RuntimeError, "stop the profiler first");
        return NULL;
    }
    PyObject *rs = PySequence_Fast(roots, "roots must be a sequence");
    if (!rs)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(rs);
    const char **r = PyMem_Calloc((size_t)n + 1, sizeof *r);
    int k = 0;
    for (Py_ssize_t i = 0; r && i < n; i++) {
        PyObject *it = PySequence_Fast_GET_ITEM(rs, i);
        const char *s = PyUnicode_Check(it) ? PyUnicode_AsUTF8(it) : NULL;
        if (s && *s)
            r[k++] = s;
    }
    PyErr_Clear();
    if (r)
        pyf_set_roots(r, k);
    PyMem_Free(r);
    Py_DECREF(rs);
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------ */
/* Wall-clock sampling (oncpu=False) and memory profiling               */

static const pyroscope_tag g_no_tags[1] = {{NULL, NULL}};

/* Wall-clock sampler: a plain pthread, never holding the GIL, that every
 * period walks every Python thread's stack (guarded reads, as in the CPU
 * signal handler) and adds it as one sample per elapsed period.  Not
 * needing the GIL matters: a sampler that waits for it runs right after
 * the holder released it, i.e. when that thread enters a blocking call,
 * and would charge the wait to the blocking call.  The tags of each
 * thread are mirrored here by set_thread_tags (the sampler cannot read
 * the core's per-thread scopes of other threads). */

#define WALL_MAX_THREADS 256
#define WALL_MAX_TAGS 16

typedef struct wall_tags {
    unsigned long ident;
    int n;
    char *kv[2 * WALL_MAX_TAGS];
} wall_tags;

static pthread_mutex_t g_wall_lock = PTHREAD_MUTEX_INITIALIZER;
static wall_tags *g_wall_tags;
static size_t g_wall_ntags, g_wall_captags;
static pthread_t g_wall_thread;
static volatile int g_wall_on;
static int g_wall_running;
static int g_wall_rate = 100;
static unsigned long g_wall_exclude;
static PyInterpreterState *g_wall_interp;

static void wall_tags_clear(wall_tags *t)
{
    for (int i = 0; i < 2 * t->n; i++)
        free(t->kv[i]);
    t->n = 0;
}

/* Mirror the calling thread's merged tags (GIL held). */
static void wall_tags_set(unsigned long ident, const pyroscope_tag *tags,
                          size_t n)
{
    size_t i;
    pthread_mutex_lock(&g_wall_lock);
    for (i = 0; i < g_wall_ntags && g_wall_tags[i].ident != ident; i++)
        ;
    if (i == g_wall_ntags) {
        if (!n)
            goto out;
        if (g_wall_ntags == g_wall_captags) {
            size_t cap = g_wall_captags ? 2 * g_wall_captags : 16;
            wall_tags *t = realloc(g_wall_tags, cap * sizeof *t);
            if (!t)
                goto out;
            g_wall_tags = t;
            g_wall_captags = cap;
        }
        memset(&g_wall_tags[i], 0, sizeof g_wall_tags[i]);
        g_wall_tags[i].ident = ident;
        g_wall_ntags++;
    }
    wall_tags_clear(&g_wall_tags[i]);
    if (!n) { /* drop the entry */
        g_wall_tags[i] = g_wall_tags[--g_wall_ntags];
        goto out;
    }
    for (size_t k = 0; k < n && k < WALL_MAX_TAGS; k++) {
        g_wall_tags[i].kv[2 * k] = strdup(tags[k].key);
        g_wall_tags[i].kv[2 * k + 1] = strdup(tags[k].value);
        g_wall_tags[i].n = (int)k + 1;
    }
out:
    pthread_mutex_unlock(&g_wall_lock);
}

/* Copy ident's tags into `out` (strings duplicated); returns the count. */
static size_t wall_tags_get(unsigned long ident, pyroscope_tag *out)
{
    size_t n = 0;
    pthread_mutex_lock(&g_wall_lock);
    for (size_t i = 0; i < g_wall_ntags; i++) {
        if (g_wall_tags[i].ident != ident)
            continue;
        for (int k = 0; k < g_wall_tags[i].n; k++) {
            out[n].key = strdup(g_wall_tags[i].kv[2 * k]);
            out[n].value = strdup(g_wall_tags[i].kv[2 * k + 1]);
            if (out[n].key && out[n].value)
                n++;
            else {
                free((char *)out[n].key);
                free((char *)out[n].value);
            }
        }
        break;
    }
    pthread_mutex_unlock(&g_wall_lock);
    return n;
}

static void wall_sample_thread(pyroscope *p, uintptr_t ts, unsigned long id,
                               int64_t weight)
{
    uint64_t words[2 * 256];
    pyroscope_frame frames[256];
    pyroscope_tag tags[WALL_MAX_TAGS];
    int n = pyf_capture_thread((void *)ts, words, 256), k = 0;
    for (int i = 0; i < n; i++) {
        char *fn, *file;
        int64_t line;
        if (pyf_symbolize_copy(words[2 * i], words[2 * i + 1], &fn, &file,
                               &line) != 0)
            continue;
        frames[k].function = fn;
        frames[k].file = file;
        frames[k++].line = line;
    }
    size_t nt = k ? wall_tags_get(id, tags) : 0;
    if (k)
        pyroscope_add_sample(p, PYROSCOPE_PROFILE_CPU_EXTERNAL, frames,
                             (size_t)k, &weight, 1, nt ? tags : g_no_tags,
                             nt);
    for (size_t i = 0; i < nt; i++) {
        free((char *)tags[i].key);
        free((char *)tags[i].value);
    }
    for (int i = 0; i < k; i++) {
        free((char *)frames[i].function);
        free((char *)frames[i].file);
    }
}

static void *wall_main(void *arg)
{
    uintptr_t ts[WALL_MAX_THREADS];
    unsigned long ids[WALL_MAX_THREADS];
    int64_t period = 1000000000LL / g_wall_rate;
    struct timespec next;
    (void)arg;
    clock_gettime(CLOCK_MONOTONIC, &next);
    int64_t last = (int64_t)next.tv_sec * 1000000000LL + next.tv_nsec;
    while (g_wall_on) {
        next.tv_nsec += period;
        while (next.tv_nsec >= 1000000000L) {
            next.tv_nsec -= 1000000000L;
            next.tv_sec++;
        }
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        int64_t t = (int64_t)now.tv_sec * 1000000000LL + now.tv_nsec;
        int64_t w = (t - last) / period;
        if (w < 1)
            continue;
        last += w * period;
        if (w > 100) /* suspended: do not invent a long stall */
            w = 100;
        if (t - ((int64_t)next.tv_sec * 1000000000LL + next.tv_nsec) >
            10 * period)
            next = now; /* far behind: resynchronize */
        pyroscope *p = g_prof;
        if (!p || !g_wall_on)
            break;
        int n = pyf_list_threads(g_wall_interp, ts, ids, WALL_MAX_THREADS);
        for (int i = 0; i < n && g_wall_on; i++)
            if (ids[i] != g_wall_exclude)
                wall_sample_thread(p, ts[i], ids[i], w);
    }
    return NULL;
}

static int wall_start(int rate)
{
    if (g_wall_running)
        return 0;
    g_wall_rate = rate > 0 ? rate : 100;
    g_wall_interp = PyThreadState_GetInterpreter(PyThreadState_Get());
    g_wall_on = 1;
    if (pthread_create(&g_wall_thread, NULL, wall_main, NULL) != 0) {
        g_wall_on = 0;
        return -1;
    }
    g_wall_running = 1;
    return 0;
}

/* Call with the GIL released (the sampler never takes it, so no wait). */
static void wall_stop(void)
{
    if (!g_wall_running)
        return;
    g_wall_on = 0;
    pthread_join(g_wall_thread, NULL);
    g_wall_running = 0;
}

static PyObject *py_wall_start(PyObject *self, PyObject *args)
{
    int rate;
    unsigned long exclude = 0;
    (void)self;
    if (!PyArg_ParseTuple(args, "i|k", &rate, &exclude))
        return NULL;
    g_wall_exclude = exclude;
    if (wall_start(rate) != 0) {
        PyErr_SetString(PyExc_RuntimeError,
                        "cannot start the wall-clock sampler thread");
        return NULL;
    }
    Py_RETURN_NONE;
}

/* In a forked child: the sampler thread is gone and its lock may be. */
static void wall_atfork_child(void)
{
    pthread_mutex_init(&g_wall_lock, NULL);
    g_wall_running = 0;
    g_wall_on = 0;
}

static PyObject *py_mem_start(PyObject *self, PyObject *args)
{
    Py_ssize_t interval;
    int max_frames, mem_domain;
    (void)self;
    if (!PyArg_ParseTuple(args, "nip", &interval, &max_frames, &mem_domain))
        return NULL;
    if (interval < 1) {
        PyErr_SetString(PyExc_ValueError, "mem_heap_sample_size must be > 0");
        return NULL;
    }
    return PyBool_FromLong(
        pym_start((size_t)interval, max_frames, mem_domain) == 0);
}

static PyObject *py_mem_stop(PyObject *self, PyObject *noargs)
{
    (void)self;
    (void)noargs;
    pym_stop();
    Py_RETURN_NONE;
}

static PyObject *py_mem_report(PyObject *self, PyObject *noargs)
{
    (void)self;
    (void)noargs;
    return PyLong_FromLong(g_prof ? pym_report(g_prof) : 0);
}

static PyObject *py_mem_counts(PyObject *self, PyObject *noargs)
{
    uint64_t a, b, c;
    (void)self;
    (void)noargs;
    pym_counts(&a, &b, &c);
    return Py_BuildValue("{s:K,s:K,s:K}", "sampled", (unsigned long long)a,
                         "live", (unsigned long long)b, "stacks",
                         (unsigned long long)c);
}

static PyObject *py_set_naming(PyObject *self, PyObject *args)
{
    int qualified, line_mode;
    (void)self;
    if (!PyArg_ParseTuple(args, "pi", &qualified, &line_mode))
        return NULL;
    pyf_set_naming(qualified, line_mode);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"wall_start", py_wall_start, METH_VARARGS, NULL},
    {"mem_start", py_mem_start, METH_VARARGS, NULL},
    {"mem_stop", py_mem_stop, METH_NOARGS, NULL},
    {"mem_report", py_mem_report, METH_NOARGS, NULL},
    {"mem_counts", py_mem_counts, METH_NOARGS, NULL},
    {"set_naming", py_set_naming, METH_VARARGS, NULL},
    {"start", (PyCFunction)(void (*)(void))py_start,
     METH_VARARGS | METH_KEYWORDS, "start the profiler (internal)"},
    {"stop", py_stop, METH_NOARGS, "stop and flush; False if not running"},
    {"flush", py_flush, METH_O, "flush(timeout_ms) -> delivered"},
    {"running", py_running, METH_NOARGS, NULL},
    {"after_fork_child", py_after_fork_child, METH_NOARGS, NULL},
    {"tag_set", py_tag_set, METH_VARARGS, NULL},
    {"tag_unset", py_tag_unset, METH_VARARGS, NULL},
    {"tag_check", py_tag_check, METH_VARARGS, NULL},
    {"set_thread_tags", py_set_thread_tags, METH_O, NULL},
    {"scope_current", py_scope_current, METH_NOARGS, NULL},
    {"span_begin", py_span_begin, METH_VARARGS, NULL},
    {"span_end", py_span_end, METH_NOARGS, NULL},
    {"stats", py_stats, METH_NOARGS, NULL},
    {"debug_stack", py_debug_stack, METH_NOARGS, NULL},
    {"set_roots", py_set_roots, METH_O, NULL},
    {"read_mode", py_read_mode, METH_NOARGS, NULL},
    {"debug_probe", py_debug_probe, METH_O, NULL},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef moddef = {PyModuleDef_HEAD_INIT, "_native",
                                    "pyroscope C core binding", -1, methods,
                                    NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__native(void)
{
    if (pyroscope_version_number() / 100 != PYROSCOPE_VERSION_NUMBER / 100) {
        PyErr_Format(PyExc_ImportError,
                     "pyroscope core %s does not match header %s",
                     pyroscope_version(), PYROSCOPE_VERSION_STRING);
        return NULL;
    }
    PyObject *m = PyModule_Create(&moddef);
    if (!m)
        return NULL;
    pthread_atfork(NULL, NULL, wall_atfork_child);
    int safe = pyf_init() == 0;
    PyModule_AddIntConstant(m, "SAFE_READS", safe);
    PyModule_AddIntConstant(m, "FORK_CONTINUE", PYROSCOPE_FORK_CONTINUE);
    PyModule_AddIntConstant(m, "FORK_STOP", PYROSCOPE_FORK_STOP);
    PyModule_AddIntConstant(m, "LOG_ERROR", PYROSCOPE_LOG_ERROR);
    PyModule_AddIntConstant(m, "LOG_OFF", PYROSCOPE_LOG_OFF);
    PyModule_AddIntConstant(m, "API_INGEST", PYROSCOPE_API_INGEST);
    PyModule_AddIntConstant(m, "API_PUSH", PYROSCOPE_API_PUSH);
    PyModule_AddIntConstant(m, "PROFILE_CPU", PYROSCOPE_PROFILE_CPU);
    PyModule_AddIntConstant(m, "PROFILE_CPU_EXTERNAL",
                            PYROSCOPE_PROFILE_CPU_EXTERNAL);
    PyModule_AddIntConstant(m, "PROFILE_HEAP", PYROSCOPE_PROFILE_HEAP);
    PyModule_AddIntConstant(m, "LOG_WARN", PYROSCOPE_LOG_WARN);
    PyModule_AddIntConstant(m, "LOG_INFO", PYROSCOPE_LOG_INFO);
    PyModule_AddIntConstant(m, "LOG_DEBUG", PYROSCOPE_LOG_DEBUG);
    PyModule_AddStringConstant(m, "CORE_VERSION", pyroscope_version());
    return m;
}
