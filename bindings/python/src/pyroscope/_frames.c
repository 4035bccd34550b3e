/*
 * _frames.c - Python stack capture for the pyroscope binding.
 *
 * Design (and why it is safe)
 * ---------------------------
 * capture (inside the core's CPU-timer signal handler, on the sampled thread):
 *   1. PyGILState_GetThisThreadState(): a pthread_getspecific() read, no
 *      lock, no allocation.  NULL means "not a Python thread": we return 0
 *      and the core records the native stack instead.
 *   2. With gil_only, PyGILState_Check() (an atomic/TLS read) decides whether
 *      the thread holds the GIL; if not the sample is dropped.
 *   3. Walk the thread's frame chain (tstate->frame on 3.9/3.10,
 *      cframe->current_frame on 3.11/3.12, tstate->current_frame on 3.13),
 *      copying for each frame only (code object address, instruction offset)
 *      plus a 32-bit fingerprint of the code object (file/name pointers and
 *      first line).
 *   Memory is read so that a bad pointer cannot crash the process.  A
 *   pointer can be stale when the signal lands half-way through a frame
 *   push/pop the compiler reordered, when a data-stack chunk was just
 *   unmapped, or when the thread state is being torn down.  Two readers:
 *   - guarded direct reads (default): plain loads with a SIGSEGV/SIGBUS
 *     handler armed; a fault on the address being read siglongjmps back to
 *     pyf_capture(), which keeps the frames gathered so far.  Faults
 *     elsewhere go to the previous handler / default action unchanged.
 *   - process_vm_readv() on our own pid (if the guard cannot be installed,
 *     or PYROSCOPE_PYTHON_SAFE_READS=syscall): a syscall that returns EFAULT.
 *   Either way the walk stops at the first unreadable pointer and values
 *   read are validated (code object type, refcount range) before use.
 *   The chain walked is the sampled thread's own, which cannot change while
 *   that thread sits in the handler, so the common case is an exact stack.
 *   The handler never touches a reference count, never allocates and never
 *   takes a lock.  (On 3.12+ PyGILState_Check reads libpython's _Py_tss_tstate
 *   through __tls_get_addr; the thread has a Python thread state, so it has
 *   touched that TLS before and the call does not allocate.)
 *
 * symbolize (on the core's collector thread, later, WITHOUT the GIL):
 *   The code object may have died between capture and now, and its memory
 *   may hold another object.  So the symbolizer re-reads the code object with
 *   process_vm_readv, checks that its type is still PyCode_Type, that its
 *   reference count is plausible (a freed pymalloc block holds a free-list
 *   pointer there) and that the fingerprint still matches the one recorded in
 *   the signal handler; only then does it copy the (immutable) name, file and
 *   line-table objects, again through safe reads, and re-validates the code
 *   object afterwards.  Results are cached per (code address, fingerprint).
 *   A reused address with a different code object gives a different
 *   fingerprint, so it is never confused with the old one; an identical
 *   fingerprint means the same file/function/first line anyway.  Nothing
 *   here needs the GIL, so the collector never competes with Python threads.
 *
 *   Line numbers are decoded from the copied line table with our own
 *   decoder for the three formats (3.9 co_lnotab, 3.10 co_linetable, 3.11+
 *   location table), so no interpreter function runs on a possibly-dead
 *   object.
 */
#define Py_BUILD_CORE 1
#include <Python.h>
#include <internal/pycore_interp.h> /* the interpreter's thread list */
#if PY_VERSION_HEX >= 0x030B0000
#include <internal/pycore_code.h>
#include <internal/pycore_frame.h>
#else
#include <frameobject.h>
#endif

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include "_frames.h"

#if PY_VERSION_HEX < 0x03090000
#error "pyroscope needs CPython 3.9 or newer"
#endif
#ifdef Py_GIL_DISABLED
#error "free-threaded CPython is not supported yet (frame layout and GIL checks differ)"
#endif
#if PY_VERSION_HEX >= 0x030E0000
#error "CPython 3.14+ is not supported yet: _frames.c must be ported to its frame layout"
#endif

static volatile pid_t g_pid;
/* Naming: 0 = bare co_name as py-spy (and so pyroscope-io) reports it,
 * 1 = module-qualified co_qualname.  Line: PYF_LINE_*. */
static int g_qualified;
static int g_line_mode;
/* The symbol cache is shared by the collector thread and the binding's
 * own samplers (wall clock, memory); this lock serializes them.  Never
 * taken in a signal handler. */
static pthread_mutex_t g_sym_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_ready;
static uintptr_t g_code_type, g_bytes_type, g_unicode_type;

/* ------------------------------------------------------------------ */
/* Safe reads                                                          */

static int safe_read(void *dst, uintptr_t src, size_t n)
{
    if (src < 4096)
        return -1;
    struct iovec l = {dst, n}, r = {(void *)src, n};
    return process_vm_readv(g_pid, &l, 1, &r, 1, 0) == (ssize_t)n ? 0 : -1;
}

/* Guarded direct reads, for the signal handler.  process_vm_readv costs
 * ~1-3 us per call (much more under nested virtualization), i.e. several us
 * per frame; a plain load costs nanoseconds.  So in the handler we read
 * memory directly, with a SIGSEGV/SIGBUS handler armed: if the fault address
 * is the one this thread is reading inside a walk, the handler siglongjmps
 * back into pyf_capture(), which returns the frames gathered so far.  Any
 * other fault is passed to the previous handler (or the default action). */
typedef struct walk_guard {
    sigjmp_buf *jmp;
    uintptr_t lo, hi; /* the read in progress */
} walk_guard;
static __thread walk_guard t_guard __attribute__((tls_model("initial-exec")));
static struct sigaction g_prev_segv, g_prev_bus;
static int g_guard_installed;

static void on_fault(int sig, siginfo_t *si, void *uc)
{
    walk_guard *g = &t_guard;
    uintptr_t a = (uintptr_t)si->si_addr;
    if (g->jmp && a >= g->lo && a < g->hi) {
        sigjmp_buf *j = g->jmp;
        g->jmp = NULL;
        siglongjmp(*j, 1);
    }
    struct sigaction *prev = sig == SIGBUS ? &g_prev_bus : &g_prev_segv;
    if ((prev->sa_flags & SA_SIGINFO) && prev->sa_sigaction) {
        prev->sa_sigaction(sig, si, uc);
        return;
    }
    if (!(prev->sa_flags & SA_SIGINFO) && prev->sa_handler != SIG_DFL &&
        prev->sa_handler != SIG_IGN) {
        prev->sa_handler(sig);
        return;
    }
    /* Default action: reinstall it; the faulting instruction re-executes
     * and the process dies of the original signal, core dump included. */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, NULL);
}

static int direct_read(void *dst, uintptr_t src, size_t n)
{
    if (src < 4096 || (src & 7))
        return -1;
    t_guard.lo = src;
    t_guard.hi = src + n;
    memcpy(dst, (const void *)src, n);
    return 0;
}

int pyf_install_guard(void)
{
    if (g_guard_installed)
        return 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSEGV, &sa, &g_prev_segv) != 0)
        return -1;
    if (sigaction(SIGBUS, &sa, &g_prev_bus) != 0) {
        sigaction(SIGSEGV, &g_prev_segv, NULL);
        return -1;
    }
    g_guard_installed = 1;
    return 0;
}

int pyf_guarded(void) { return g_guard_installed; }

/* Test hook: a guarded direct read of `addr`; -1 if it faulted. */
int pyf_debug_probe(uintptr_t addr)
{
    volatile int ok = -1;
    uint64_t v;
    sigjmp_buf env;
    if (!g_guard_installed || t_guard.jmp)
        return -2;
    if (sigsetjmp(env, 0) == 0) {
        t_guard.jmp = &env;
        t_guard.lo = addr;
        t_guard.hi = addr + sizeof v;
        memcpy(&v, (const void *)addr, sizeof v);
        __asm__ volatile("" : : "r"(v) : "memory");
        ok = 0;
    }
    t_guard.jmp = NULL;
    return ok;
}

static void atfork_child(void)
{
    g_pid = getpid();
    /* The collector thread that owned the cache (and maybe its lock)
     * does not exist here. */
    pthread_mutex_init(&g_sym_lock, NULL);
    pyf_reset_cache();
}

int pyf_init(void)
{
    g_pid = getpid();
    g_code_type = (uintptr_t)&PyCode_Type;
    g_bytes_type = (uintptr_t)&PyBytes_Type;
    g_unicode_type = (uintptr_t)&PyUnicode_Type;
    long probe = 0x5eed, out = 0;
    if (safe_read(&out, (uintptr_t)&probe, sizeof probe) != 0 ||
        out != 0x5eed)
        return -1;
    static int atfork_done;
    if (!atfork_done) {
        pthread_atfork(NULL, NULL, atfork_child);
        atfork_done = 1;
    }
    g_ready = 1;
    return 0;
}

int pyf_safe_reads(void) { return g_ready; }

/* ------------------------------------------------------------------ */
/* Version specifics                                                   */

#if PY_VERSION_HEX >= 0x030B0000
typedef _PyInterpreterFrame frame_t;
#define FRAME_COPY offsetof(_PyInterpreterFrame, localsplus)
#define CODE_COPY offsetof(PyCodeObject, co_code_adaptive)
#define CODE_NAME(c) ((uintptr_t)(c)->co_qualname)
#define CODE_SHORT(c) ((uintptr_t)(c)->co_name)
#else
typedef PyFrameObject frame_t;
#define FRAME_COPY offsetof(PyFrameObject, f_blockstack)
#define CODE_COPY sizeof(PyCodeObject)
#define CODE_NAME(c) ((uintptr_t)(c)->co_name)
#define CODE_SHORT(c) ((uintptr_t)(c)->co_name)
#endif

#if PY_VERSION_HEX >= 0x030A0000
#define CODE_LINES(c) ((uintptr_t)(c)->co_linetable)
#else
#define CODE_LINES(c) ((uintptr_t)(c)->co_lnotab)
#endif

static uint32_t fingerprint(const PyCodeObject *c)
{
    uint64_t h = (uint64_t)(uintptr_t)c->co_filename * 0x9E3779B97F4A7C15ull;
    h ^= (uint64_t)CODE_NAME(c) + 0x7f4a7c15ull + (h << 6) + (h >> 2);
    h ^= (uint64_t)(uint32_t)c->co_firstlineno * 0xC2B2AE3D27D4EB4Full;
    h ^= h >> 29;
    return (uint32_t)(h ^ (h >> 32));
}

static int code_plausible(const PyCodeObject *c)
{
    Py_ssize_t rc = ((const PyObject *)c)->ob_refcnt;
    return (uintptr_t)Py_TYPE(c) == g_code_type && rc > 0 &&
           rc < ((Py_ssize_t)1 << 40);
}

typedef int (*reader_fn)(void *dst, uintptr_t src, size_t n);

static uintptr_t current_frame(PyThreadState *ts, reader_fn rd)
{
    uintptr_t fr = 0;
#if PY_VERSION_HEX >= 0x030D0000
    if (rd(&fr, (uintptr_t)&ts->current_frame, sizeof fr) != 0)
        return 0;
#elif PY_VERSION_HEX >= 0x030B0000
    uintptr_t cf = 0;
    if (rd(&cf, (uintptr_t)&ts->cframe, sizeof cf) != 0 || !cf ||
        rd(&fr, cf + offsetof(_PyCFrame, current_frame), sizeof fr) != 0)
        return 0;
#else
    if (rd(&fr, (uintptr_t)&ts->frame, sizeof fr) != 0)
        return 0;
#endif
    return fr;
}

/* Walk the frame chain of `ts` with reader `rd`; *n counts frames written
 * (volatile: it must be right after a siglongjmp out of a faulting read). */
static void walk(PyThreadState *ts, uint64_t *words, int max, reader_fn rd,
                 volatile int *n)
{
    uintptr_t fr = current_frame(ts, rd);
    int guard = 0;
    union {
        frame_t f;
        char raw[FRAME_COPY];
    } fb;
    union {
        PyCodeObject c;
        char raw[CODE_COPY];
    } cb;
    while (fr && *n < max && guard++ < 4096) {
        if (rd(&fb, fr, FRAME_COPY) != 0)
            break;
        frame_t *f = &fb.f;
        uintptr_t code, next;
        int64_t off; /* byte offset of the current instruction, -1 unknown */
#if PY_VERSION_HEX >= 0x030B0000
        next = (uintptr_t)f->previous;
#if PY_VERSION_HEX >= 0x030C0000
        if (f->owner == FRAME_OWNED_BY_CSTACK) {
            fr = next;
            continue;
        }
#endif
#if PY_VERSION_HEX >= 0x030D0000
        code = (uintptr_t)f->f_executable;
        uintptr_t ip = (uintptr_t)f->instr_ptr;
#else
        code = (uintptr_t)f->f_code;
        uintptr_t ip = (uintptr_t)f->prev_instr;
#endif
        off = (int64_t)ip -
              (int64_t)(code + offsetof(PyCodeObject, co_code_adaptive));
#else
        next = (uintptr_t)f->f_back;
        code = (uintptr_t)f->f_code;
#if PY_VERSION_HEX >= 0x030A0000
        off = f->f_lasti < 0 ? -1 : (int64_t)f->f_lasti * 2;
#else
        off = f->f_lasti;
#endif
#endif
        if (rd(&cb, code, CODE_COPY) != 0 || !code_plausible(&cb.c)) {
            fr = next;
            continue;
        }
#if PY_VERSION_HEX >= 0x030B0000
        /* Frame still being set up (CPython's _PyFrame_IsIncomplete). */
        if (f->owner != FRAME_OWNED_BY_GENERATOR &&
            off / 2 < cb.c._co_firsttraceable) {
            fr = next;
            continue;
        }
#endif
        if (off < 0 || off > 0x7fffffff)
            off = 0xffffffff;
        int i = *n;
        words[2 * i] = code;
        words[2 * i + 1] = ((uint64_t)fingerprint(&cb.c) << 32) |
                           (uint64_t)(uint32_t)off;
        *n = i + 1;
        fr = next;
    }
}

int pyf_capture(uint64_t *words, int max, int gil_only)
{
    if (!g_ready)
        return 0;
    PyThreadState *ts = PyGILState_GetThisThreadState();
    if (ts == NULL)
        return 0;
    if (gil_only && !PyGILState_Check())
        return PYF_DROP;
    volatile int n = 0;
    if (g_guard_installed && !t_guard.jmp) {
        sigjmp_buf env;
        if (sigsetjmp(env, 0) == 0) {
            t_guard.jmp = &env;
            walk(ts, words, max, direct_read, &n);
        }
        t_guard.jmp = NULL;
    } else {
        walk(ts, words, max, safe_read, &n);
    }
    return n;
}

int pyf_capture_thread(void *tstate, uint64_t *words, int max)
{
    if (!g_ready || !tstate)
        return 0;
    volatile int n = 0;
    if (g_guard_installed && !t_guard.jmp) {
        sigjmp_buf env;
        if (sigsetjmp(env, 0) == 0) {
            t_guard.jmp = &env;
            walk((PyThreadState *)tstate, words, max, direct_read, &n);
        }
        t_guard.jmp = NULL;
    } else {
        walk((PyThreadState *)tstate, words, max, safe_read, &n);
    }
    return n;
}

/* Thread list of `interp`, read WITHOUT the GIL through guarded reads: a
 * thread state freed under us yields garbage that the frame walk's
 * validation rejects, never a crash. */
static uintptr_t thread_head(PyInterpreterState *is)
{
#if PY_VERSION_HEX >= 0x030B0000
    return (uintptr_t)&is->threads.head;
#else
    return (uintptr_t)&is->tstate_head;
#endif
}

static void list_threads(uintptr_t head_addr, uintptr_t *ts, unsigned long *ids,
                         int max, volatile int *n)
{
    uintptr_t cur = 0;
    if (direct_read(&cur, head_addr, sizeof cur) != 0)
        return;
    while (cur && *n < max) {
        unsigned long id = 0;
        uintptr_t next = 0;
        if (direct_read(&id, cur + offsetof(PyThreadState, thread_id),
                        sizeof id) != 0 ||
            direct_read(&next, cur + offsetof(PyThreadState, next),
                        sizeof next) != 0)
            return;
        int i = *n;
        ts[i] = cur;
        ids[i] = id;
        *n = i + 1;
        cur = next;
    }
}

int pyf_list_threads(void *interp, uintptr_t *ts, unsigned long *ids, int max)
{
    volatile int n = 0;
    if (!g_ready || !interp || !g_guard_installed || t_guard.jmp)
        return 0;
    sigjmp_buf env;
    if (sigsetjmp(env, 0) == 0) {
        t_guard.jmp = &env;
        list_threads(thread_head((PyInterpreterState *)interp), ts, ids, max,
                     &n);
    }
    t_guard.jmp = NULL;
    return n;
}

void pyf_set_naming(int qualified, int line_mode)
{
    pthread_mutex_lock(&g_sym_lock);
    if (g_qualified != qualified || g_line_mode != line_mode) {
        g_qualified = qualified;
        g_line_mode = line_mode;
        pyf_reset_cache();
    }
    pthread_mutex_unlock(&g_sym_lock);
}

/* ------------------------------------------------------------------ */
/* Symbolization                                                       */

typedef struct entry {
    uintptr_t code;
    uint32_t fp;
    int firstlineno;
    char *function;
    char *file;
    unsigned char *lines;
    size_t lines_len;
} entry;

#define CACHE_CAP 8192 /* power of two */
static entry *g_cache[CACHE_CAP];
static int g_cache_count;
static char **g_roots;
static int g_nroots;

void pyf_reset_cache(void)
{
    /* Called on the collector thread (or in a fork child, or with the
     * profiler stopped): nobody else touches the cache. */
    for (int i = 0; i < CACHE_CAP; i++) {
        entry *e = g_cache[i];
        if (e) {
            free(e->function);
            free(e->file);
            free(e->lines);
            free(e);
            g_cache[i] = NULL;
        }
    }
    g_cache_count = 0;
}

void pyf_set_roots(const char *const *roots, int n)
{
    for (int i = 0; i < g_nroots; i++)
        free(g_roots[i]);
    free(g_roots);
    g_roots = NULL;
    g_nroots = 0;
    if (n <= 0)
        return;
    g_roots = calloc((size_t)n, sizeof(char *));
    if (!g_roots)
        return;
    for (int i = 0; i < n; i++) {
        size_t len = strlen(roots[i]);
        while (len > 1 && roots[i][len - 1] == '/')
            len--;
        char *s = malloc(len + 1);
        if (!s)
            continue;
        memcpy(s, roots[i], len);
        s[len] = 0;
        g_roots[g_nroots++] = s;
    }
    pyf_reset_cache();
}

/* Copy a str object as UTF-8 (compact strings only; code names are). */
static char *read_str(uintptr_t addr)
{
    PyASCIIObject a;
    if (safe_read(&a, addr, sizeof a) != 0)
        return NULL;
    if ((uintptr_t)Py_TYPE(&a) != g_unicode_type || !a.state.compact ||
        a.length < 0 || a.length > 4096)
        return NULL;
    size_t len = (size_t)a.length;
    unsigned kind = a.state.kind;
    uintptr_t data = addr + (a.state.ascii ? sizeof(PyASCIIObject)
                                           : sizeof(PyCompactUnicodeObject));
    if (a.state.ascii)
        kind = 1;
    if (kind != 1 && kind != 2 && kind != 4)
        return NULL;
    unsigned char *raw = malloc(len * kind + 1);
    char *out = malloc(len * 4 + 1);
    if (!raw || !out || safe_read(raw, data, len * kind) != 0) {
        free(raw);
        free(out);
        return NULL;
    }
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        uint32_t ch = kind == 1 ? raw[i]
                      : kind == 2 ? ((uint16_t *)raw)[i]
                                  : ((uint32_t *)raw)[i];
        if (ch < 0x80) {
            out[o++] = (char)ch;
        } else if (ch < 0x800) {
            out[o++] = (char)(0xC0 | (ch >> 6));
            out[o++] = (char)(0x80 | (ch & 0x3F));
        } else if (ch < 0x10000) {
            out[o++] = (char)(0xE0 | (ch >> 12));
            out[o++] = (char)(0x80 | ((ch >> 6) & 0x3F));
            out[o++] = (char)(0x80 | (ch & 0x3F));
        } else {
            out[o++] = (char)(0xF0 | (ch >> 18));
            out[o++] = (char)(0x80 | ((ch >> 12) & 0x3F));
            out[o++] = (char)(0x80 | ((ch >> 6) & 0x3F));
            out[o++] = (char)(0x80 | (ch & 0x3F));
        }
    }
    out[o] = 0;
    free(raw);
    return out;
}

static unsigned char *read_bytes(uintptr_t addr, size_t *len_out)
{
    PyBytesObject b;
    if (safe_read(&b, addr, offsetof(PyBytesObject, ob_sval)) != 0)
        return NULL;
    if ((uintptr_t)Py_TYPE(&b) != g_bytes_type || Py_SIZE(&b) < 0 ||
        Py_SIZE(&b) > (1 << 22))
        return NULL;
    size_t len = (size_t)Py_SIZE(&b);
    unsigned char *out = malloc(len + 1);
    if (!out)
        return NULL;
    if (len && safe_read(out, addr + offsetof(PyBytesObject, ob_sval), len)) {
        free(out);
        return NULL;
    }
    *len_out = len;
    return out;
}

/* "pkg.mod" from "/root/pkg/mod.py" using the longest matching root. */
static char *module_name(const char *file)
{
    size_t flen = strlen(file);
    const char *rel = NULL;
    if (strncmp(file, "<frozen ", 8) == 0 && flen > 9 &&
        file[flen - 1] == '>') {
        size_t l = flen - 9;
        char *m = malloc(l + 1);
        if (m) {
            memcpy(m, file + 8, l);
            m[l] = 0;
        }
        return m;
    }
    if (file[0] == '<')
        return NULL;
    size_t best = 0;
    for (int i = 0; i < g_nroots; i++) {
        size_t rl = strlen(g_roots[i]);
        if (rl > best && rl < flen && strncmp(file, g_roots[i], rl) == 0 &&
            file[rl] == '/') {
            best = rl;
            rel = file + rl + 1;
        }
    }
    if (!rel) {
        const char *slash = strrchr(file, '/');
        rel = slash ? slash + 1 : file;
    }
    size_t l = strlen(rel);
    if (l > 3 && strcmp(rel + l - 3, ".py") == 0)
        l -= 3;
    char *m = malloc(l + 1);
    if (!m)
        return NULL;
    for (size_t i = 0; i < l; i++)
        m[i] = rel[i] == '/' ? '.' : rel[i];
    m[l] = 0;
    if (l > 9 && strcmp(m + l - 9, ".__init__") == 0)
        m[l - 9] = 0;
    return m;
}

static entry *load(uintptr_t code, uint32_t fp)
{
    union {
        PyCodeObject c;
        char raw[CODE_COPY];
    } cb, cb2;
    if (safe_read(&cb, code, CODE_COPY) != 0 || !code_plausible(&cb.c) ||
        fingerprint(&cb.c) != fp)
        return NULL;
    entry *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->code = code;
    e->fp = fp;
    e->firstlineno = cb.c.co_firstlineno;
    char *name = read_str(g_qualified ? CODE_NAME(&cb.c) : CODE_SHORT(&cb.c));
    e->file = read_str((uintptr_t)cb.c.co_filename);
    e->lines = read_bytes(CODE_LINES(&cb.c), &e->lines_len);
    /* Re-validate: the object must not have changed under us. */
    if (!name || !e->file || safe_read(&cb2, code, CODE_COPY) != 0 ||
        !code_plausible(&cb2.c) || fingerprint(&cb2.c) != fp ||
        CODE_LINES(&cb2.c) != CODE_LINES(&cb.c)) {
        free(name);
        free(e->file);
        free(e->lines);
        free(e);
        return NULL;
    }
    char *mod = g_qualified ? module_name(e->file) : NULL;
    if (mod && *mod) {
        size_t ml = strlen(mod), nl = strlen(name);
        e->function = malloc(ml + nl + 2);
        if (e->function) {
            memcpy(e->function, mod, ml);
            e->function[ml] = '.';
            memcpy(e->function + ml + 1, name, nl + 1);
        }
        free(name);
    } else {
        e->function = name;
    }
    free(mod);
    if (!e->function) {
        free(e->file);
        free(e->lines);
        free(e);
        return NULL;
    }
    return e;
}

#if PY_VERSION_HEX >= 0x030B0000
static unsigned read_varint(const unsigned char **p, const unsigned char *end)
{
    unsigned v = 0, shift = 0;
    while (*p < end) {
        unsigned b = *(*p)++;
        v |= (b & 63) << shift;
        shift += 6;
        if (!(b & 64) || shift > 30)
            break;
    }
    return v;
}
static int read_svarint(const unsigned char **p, const unsigned char *end)
{
    unsigned u = read_varint(p, end);
    return (u & 1) ? -(int)(u >> 1) : (int)(u >> 1);
}
#endif

/* Line of the instruction at byte offset `off` (-1 unknown). */
static int64_t decode_line(const entry *e, int64_t off)
{
    if (off < 0 || !e->lines)
        return e->firstlineno;
    const unsigned char *p = e->lines, *end = e->lines + e->lines_len;
    int line = e->firstlineno;
#if PY_VERSION_HEX >= 0x030B0000
    /* Location table (Objects/locations.md): per entry a header byte
     * 1CCCCLLL (code, length-1 in code units), then code-specific data. */
    int64_t target = off / 2, addr = 0;
    while (p < end) {
        unsigned h = *p++;
        if (!(h & 0x80))
            continue;
        int code = (h >> 3) & 15, len = (h & 7) + 1, has_line = 1;
        const unsigned char *q = p;
        if (code == 15)
            has_line = 0;
        else if (code == 14 || code == 13)
            line += read_svarint(&q, end);
        else if (code >= 10)
            line += code - 10;
        while (p < end && !(*p & 0x80))
            p++;
        if (target >= addr && target < addr + len)
            return has_line ? line : e->firstlineno;
        addr += len;
    }
    return e->firstlineno;
#elif PY_VERSION_HEX >= 0x030A0000
    /* co_linetable: (byte delta, signed line delta or -128) pairs. */
    int64_t start, endaddr = 0;
    for (; p + 1 < end; p += 2) {
        start = endaddr;
        endaddr += p[0];
        signed char ld = (signed char)p[1];
        int cur = -1;
        if (ld != -128) {
            line += ld;
            cur = line;
        }
        if (off >= start && off < endaddr)
            return cur < 0 ? e->firstlineno : cur;
    }
    return line;
#else
    /* co_lnotab: (byte delta, signed line delta) pairs. */
    int64_t addr = 0;
    for (; p + 1 < end; p += 2) {
        addr += p[0];
        if (addr > off)
            break;
        line += (signed char)p[1];
    }
    return line;
#endif
}

static int symbolize_locked(uint64_t w0, uint64_t w1, const char **function,
                            const char **file, int64_t *line)
{
    uintptr_t code = (uintptr_t)w0;
    uint32_t fp = (uint32_t)(w1 >> 32);
    uint32_t off32 = (uint32_t)w1;
    int64_t off = off32 == 0xffffffffu ? -1 : (int64_t)off32;
    size_t h = (size_t)((code >> 4) ^ (code >> 17) ^ fp) & (CACHE_CAP - 1);
    entry *e = NULL;
    for (size_t i = 0; i < CACHE_CAP; i++) {
        entry *c = g_cache[(h + i) & (CACHE_CAP - 1)];
        if (!c)
            break;
        if (c->code == code && c->fp == fp) {
            e = c;
            break;
        }
    }
    if (!e) {
        e = load(code, fp);
        if (!e) {
            /* Code object gone (or never valid): keep the sample's weight
             * on an explicit placeholder rather than on the caller. */
            *function = "<unknown>";
            *file = NULL;
            *line = 0;
            return 0;
        }
        if (g_cache_count >= CACHE_CAP * 3 / 4)
            pyf_reset_cache();
        size_t i = h;
        while (g_cache[i])
            i = (i + 1) & (CACHE_CAP - 1);
        g_cache[i] = e;
        g_cache_count++;
    }
    *function = e->function;
    *file = e->file;
    *line = g_line_mode == PYF_LINE_NONE    ? 0
            : g_line_mode == PYF_LINE_FIRST ? e->firstlineno
                                            : decode_line(e, off);
    return 0;
}

int pyf_symbolize(uint64_t w0, uint64_t w1, const char **function,
                  const char **file, int64_t *line)
{
    pthread_mutex_lock(&g_sym_lock);
    int rc = symbolize_locked(w0, w1, function, file, line);
    pthread_mutex_unlock(&g_sym_lock);
    return rc;
}

int pyf_symbolize_copy(uint64_t w0, uint64_t w1, char **function,
                       char **file, int64_t *line)
{
    const char *fn = NULL, *fl = NULL;
    pthread_mutex_lock(&g_sym_lock);
    int rc = symbolize_locked(w0, w1, &fn, &fl, line);
    *function = rc == 0 && fn ? strdup(fn) : NULL;
    *file = rc == 0 && fl ? strdup(fl) : NULL;
    pthread_mutex_unlock(&g_sym_lock);
    return *function ? 0 : -1;
}
