/*
 * pyroscope.h - in-process continuous profiler for Grafana Pyroscope.
 *
 * This is the whole public API.  Everything here is stable within a major
 * version; see docs/api-stability.md.  Names are prefixed pyroscope_ /
 * PYROSCOPE_.  All fallible calls return an int: 0 on success, a negative
 * pyroscope_error code otherwise; pyroscope_last_error() gives detail.
 */
#ifndef PYROSCOPE_H
#define PYROSCOPE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define PYROSCOPE_EXTERN __attribute__((visibility("default")))
#else
#define PYROSCOPE_EXTERN
#endif

#define PYROSCOPE_VERSION_MAJOR 0
#define PYROSCOPE_VERSION_MINOR 1
#define PYROSCOPE_VERSION_PATCH 0
#define PYROSCOPE_VERSION_STRING "0.1.0"
#define PYROSCOPE_VERSION_NUMBER                                              \
    (PYROSCOPE_VERSION_MAJOR * 10000 + PYROSCOPE_VERSION_MINOR * 100 +        \
     PYROSCOPE_VERSION_PATCH)

/* Error codes.  X(name, value, message); messages are static strings. */
#define PYROSCOPE_ERRNO_MAP(X)                                                \
    X(OK, 0, "success")                                                       \
    X(ERROR, -1, "internal error")                                            \
    X(EINVAL, -2, "invalid argument")                                         \
    X(ENOMEM, -3, "out of memory")                                            \
    X(EBUSY, -4, "profiler already running in this process")                  \
    X(ENOTSUP, -5, "not supported on this platform or build")                 \
    X(EIO, -6, "I/O or network error")                                        \
    X(ELIMIT, -7, "limit exceeded")                                           \
    X(ENOENT, -8, "not found")                                                \
    X(ESTATE, -9, "invalid state for this call")

typedef enum pyroscope_error {
#define PYROSCOPE_ERR_ENUM_(name, val, msg) PYROSCOPE_##name = val,
    PYROSCOPE_ERRNO_MAP(PYROSCOPE_ERR_ENUM_)
#undef PYROSCOPE_ERR_ENUM_
    PYROSCOPE_ERROR_MIN_ = -9
} pyroscope_error;

/* Profile types, a bit set in pyroscope_config.profile_types. */
enum pyroscope_profile_type {
    PYROSCOPE_PROFILE_CPU = 1u << 0,   /* on-CPU samples of every thread */
    PYROSCOPE_PROFILE_HEAP = 1u << 1,  /* sampled malloc/free */
    /* Lock contention as Go's mutex profile: the delay waiters spent on a
     * pthread mutex/rwlock, charged to the holder's stack at unlock. */
    PYROSCOPE_PROFILE_LOCK = 1u << 2,
    /* CPU profiles made only of pyroscope_add_sample() samples: no timers
     * and no signal (bindings whose engine samples itself, e.g. V8). */
    PYROSCOPE_PROFILE_CPU_EXTERNAL = 1u << 3,
    /* Go's block profile: time a thread waited for a mutex/rwlock or in a
     * condition wait, on the waiter's stack.  Added in 0.2. */
    PYROSCOPE_PROFILE_BLOCK = 1u << 4,
    /* Types for pyroscope_add_sample() only (not for profile_types): wall
     * time of an engine's sampler, and a live-heap snapshot that a managed
     * runtime takes itself (e.g. V8's sampling heap profiler). */
    PYROSCOPE_PROFILE_WALL = 1u << 5,
    PYROSCOPE_PROFILE_HEAP_LIVE = 1u << 6
};

/* Log levels, most severe first. */
enum pyroscope_log_level {
    PYROSCOPE_LOG_OFF = -1,    /* silence */
    PYROSCOPE_LOG_DEFAULT = 0, /* WARN, or PYROSCOPE_LOG_LEVEL */
    PYROSCOPE_LOG_ERROR = 1,
    PYROSCOPE_LOG_WARN = 2,
    PYROSCOPE_LOG_INFO = 3,
    PYROSCOPE_LOG_DEBUG = 4
};

/* Which server API uploads use. */
enum pyroscope_api {
    PYROSCOPE_API_INGEST = 0, /* POST /ingest, one series per tag set */
    PYROSCOPE_API_PUSH = 1,   /* connect PusherService/Push, pprof labels */
    PYROSCOPE_API_OTLP = 2    /* OTLP/HTTP profiles: /v1development/profiles */
};

/* What a forked child does. */
enum pyroscope_fork_mode {
    PYROSCOPE_FORK_CONTINUE = 0, /* child restarts profiling, pid tag updated */
    PYROSCOPE_FORK_STOP = 1      /* child runs unprofiled */
};

/* A key/value pair: a tag, or an HTTP header (key = header name). */
typedef struct pyroscope_tag {
    const char *key;
    const char *value;
} pyroscope_tag;

/*
 * Log callback.  Called from any thread, never from a signal handler.
 * `msg` is valid only during the call.
 */
typedef void (*pyroscope_log_fn)(int level, const char *msg, void *payload);

#define PYROSCOPE_CONFIG_VERSION 2

/*
 * Profiler configuration.  Initialise with PYROSCOPE_CONFIG_INIT or
 * pyroscope_config_init(); fields are only ever appended.  Strings and arrays
 * are copied by pyroscope_start(); the caller keeps ownership.  A NULL/0
 * field takes the value of the matching PYROSCOPE_* environment variable if
 * set, else the documented default.
 */
typedef struct pyroscope_config {
    unsigned int version;          /* PYROSCOPE_CONFIG_VERSION */
    const char *application_name;  /* required; env PYROSCOPE_APPLICATION_NAME */
    const char *server_address;    /* http(s)://host:port or file://DIR */
    int sample_rate;               /* Hz, default 100, max 10000 */
    int upload_interval_ms;        /* default 10000, min 100 */
    const pyroscope_tag *tags;     /* static tags */
    size_t tags_count;
    const char *auth_token;        /* Authorization: Bearer */
    const char *basic_auth_user;
    const char *basic_auth_password;
    const char *tenant_id;         /* X-Scope-OrgID */
    const pyroscope_tag *http_headers; /* extra headers: key = name */
    size_t http_headers_count;
    unsigned int profile_types;    /* pyroscope_profile_type bits; default CPU */
    int log_level;                 /* pyroscope_log_level; 0 = WARN */
    pyroscope_log_fn log_fn;       /* default: stderr */
    void *log_payload;
    const char *spy_name;          /* default "pyroscope-c"; bindings set theirs */
    int api;                       /* pyroscope_api, default INGEST */
    int upload_timeout_ms;         /* per request, default 10000 */
    int upload_queue_max;          /* profiles kept while uploads fail, default 32 */
    int stop_timeout_ms;           /* bound on pyroscope_stop() flush, default 5000 */
    const char *spool_dir;         /* optional: spill queued profiles here (zstd) */
    size_t heap_sample_interval;   /* mean bytes between heap samples, 512 KiB */
    int64_t lock_threshold_ns;     /* record contentions at least this long, 0 */
    int lock_sample_rate;          /* record 1 in N contentions, default 1 */
    int fork_mode;                 /* pyroscope_fork_mode */
    int signal;                    /* 0 = pick (SIGPROF, or a free RT signal) */
    uint64_t spool_max_bytes;      /* disk bound of spool_dir, default 64 MiB */
    /* Version 2 (0.1.0). */
    const char *tls_ca_file;       /* PEM CA bundle that verifies https servers
                                      instead of the system's; env
                                      PYROSCOPE_TLS_CA_FILE */
    int tls_insecure;              /* 1: skip certificate and host name
                                      checks (testing only; logged); env
                                      PYROSCOPE_TLS_INSECURE */
} pyroscope_config;

#ifdef __cplusplus
#define PYROSCOPE_CONFIG_INIT {PYROSCOPE_CONFIG_VERSION}
#else
#define PYROSCOPE_CONFIG_INIT {.version = PYROSCOPE_CONFIG_VERSION}
#endif

/*
 * Initialise `cfg` with defaults (all zero: "use env or built-in default").
 * @return 0, or PYROSCOPE_EINVAL if `version` is unknown or `cfg` is NULL.
 */
PYROSCOPE_EXTERN int pyroscope_config_init(pyroscope_config *cfg,
                                           unsigned int version);

/* The opaque profiler handle.  One may run per process at a time. */
typedef struct pyroscope pyroscope;

/*
 * Validate `cfg`, merge environment defaults and start profiling.
 *
 * Starts the collector and uploader threads and arms a CPU-time timer on
 * every thread of the process (and on threads created later).
 * @param[out] out  the new handle, set only on success
 * @param cfg       configuration, or NULL for environment + defaults
 * @return 0; PYROSCOPE_EINVAL on bad config (nothing started, detail in
 *         pyroscope_last_error()); PYROSCOPE_EBUSY if a profiler already
 *         runs; PYROSCOPE_ENOMEM; PYROSCOPE_ENOTSUP.
 * Thread-safe; not async-signal-safe.
 */
PYROSCOPE_EXTERN int pyroscope_start(pyroscope **out,
                                     const pyroscope_config *cfg);

/*
 * Stop profiling, upload what was collected and free the handle.
 * Returns within cfg.stop_timeout_ms (+ the time to join our threads) even if
 * the server hangs.  Accepts NULL (no-op).  Not async-signal-safe.
 */
PYROSCOPE_EXTERN void pyroscope_stop(pyroscope *p);

/*
 * Close the current profiling window now and upload it; wait up to
 * `timeout_ms` for the queue to drain (0: do not wait).
 * @return 0 when everything queued was delivered, PYROSCOPE_EIO if the
 *         deadline passed or uploads failed (the profiles stay queued).
 */
PYROSCOPE_EXTERN int pyroscope_flush(pyroscope *p, int timeout_ms);

/* The running profiler, or NULL.  For bindings and the zero-code mode. */
PYROSCOPE_EXTERN pyroscope *pyroscope_current(void);

/* Static message for an error code; never NULL. */
PYROSCOPE_EXTERN const char *pyroscope_strerror(int err);

/*
 * Detail of the last error on this thread ("tag key 'a b' is not a valid
 * label name"), or "" if none.  Valid until the next call on this thread.
 */
PYROSCOPE_EXTERN const char *pyroscope_last_error(void);

/* Library version, for checking header/library match. */
PYROSCOPE_EXTERN int pyroscope_version_number(void);
PYROSCOPE_EXTERN const char *pyroscope_version(void);

/* ------------------------------------------------------------------ */
/* Tags                                                                */

/*
 * Set (or replace) a static tag applied to every sample of this process.
 * @return 0; PYROSCOPE_EINVAL if key is not a label name ([a-zA-Z_][a-zA-Z0-9_.]*)
 *         or the value contains { } , = or control characters; PYROSCOPE_ELIMIT
 *         past 64 tags or 256 bytes.  Thread-safe.
 */
PYROSCOPE_EXTERN int pyroscope_tag_set(pyroscope *p, const char *key,
                                       const char *value);
/* Remove a static tag.  @return 0 or PYROSCOPE_ENOENT. */
PYROSCOPE_EXTERN int pyroscope_tag_unset(pyroscope *p, const char *key);

/*
 * Push a tag scope on the calling thread: samples taken on this thread until
 * the matching pyroscope_scope_pop() carry these tags, merged with outer
 * scopes (inner wins on the same key).  A value of NULL or "" removes the
 * key inside this scope.  Strings are copied.  Works before start and after
 * stop (scopes are per thread, not per handle).
 *
 * Cheap: after the first use of a tag set, no syscall and no lock.
 * @return 0; PYROSCOPE_EINVAL (bad key/value); PYROSCOPE_ELIMIT (more than 16
 *         tags per scope, nesting deeper than 32, or too many distinct live
 *         tag sets).  On error nothing is pushed.  Not async-signal-safe.
 */
PYROSCOPE_EXTERN int pyroscope_scope_push(const pyroscope_tag *tags,
                                          size_t count);
/* Pop the innermost scope of this thread; no-op when none. */
PYROSCOPE_EXTERN void pyroscope_scope_pop(void);

/*
 * Opaque id of the calling thread's current merged tag set (0 = none).
 * For bindings that carry tags across threads (async tasks): save it, and
 * restore with pyroscope_scope_restore() on the thread that resumes.
 */
PYROSCOPE_EXTERN uint64_t pyroscope_scope_current(void);
/* Make `id` the current tag set of this thread; returns the previous one. */
PYROSCOPE_EXTERN uint64_t pyroscope_scope_restore(uint64_t id);

/* Validate a tag without using it; same rules as pyroscope_tag_set(). */
PYROSCOPE_EXTERN int pyroscope_tag_check(const char *key, const char *value);

#ifdef __cplusplus
} /* extern "C" */
#endif

/* C scope form: PYROSCOPE_WITH_TAGS(tags, n) { ... }  (do not `return` out) */
#define PYROSCOPE_WITH_TAGS(tags, n)                                          \
    for (int pyroscope_once_ = (pyroscope_scope_push((tags), (n)) == 0)       \
                                   ? 1 : 2;                                   \
         pyroscope_once_ > 0;                                                 \
         pyroscope_once_ == 1 ? pyroscope_scope_pop() : (void)0,              \
             pyroscope_once_ = 0)

#ifdef __cplusplus
namespace pyroscope_cxx {
/* RAII scope: pyroscope_cxx::scope s({{"endpoint", "/checkout"}}); */
class scope {
  public:
    scope(const pyroscope_tag *tags, size_t n)
        : ok_(pyroscope_scope_push(tags, n) == 0) {}
    template <size_t N>
    explicit scope(const pyroscope_tag (&tags)[N])
        : ok_(pyroscope_scope_push(tags, N) == 0) {}
    ~scope() { if (ok_) pyroscope_scope_pop(); }
    bool ok() const { return ok_; }
    scope(const scope &) = delete;
    scope &operator=(const scope &) = delete;

  private:
    bool ok_;
};
} /* namespace pyroscope_cxx */
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Language bindings                                                   */

/* A symbolized frame.  Strings need only live during the call that takes it. */
typedef struct pyroscope_frame {
    const char *function; /* "module.func", "Class#method", "fn" */
    const char *file;     /* may be NULL */
    int64_t line;         /* 0 if unknown */
} pyroscope_frame;

#define PYROSCOPE_FRAMES_DEFERRED (-1000)

/*
 * Frame provider, called INSIDE the CPU signal handler on the sampled
 * thread, so it must be async-signal-safe (no malloc, locks, stdio).
 * It writes up to `max` raw frames, leaf first, as pairs of opaque words
 * (words[2*i], words[2*i+1]) - e.g. a code object and an instruction offset -
 * and returns how many it wrote.  0 means "no language frames: use the
 * native stack".  PYROSCOPE_FRAMES_DEFERRED means "the binding took the
 * sample itself and will report it later with pyroscope_add_sample()" (e.g.
 * Ruby's postponed jobs); the core then records nothing for this signal.
 * `weight` is the number of sampling periods this signal stands for.
 */
typedef int (*pyroscope_frame_capture_fn)(uint64_t *words, int max,
                                          int64_t weight, void *payload);

/*
 * Turn one raw frame into names, on the collector thread (not in a signal
 * handler).  Return 0 and fill `out` (strings valid until the next call on
 * the same provider), or non-zero to drop the frame.  The core caches the
 * result per (word0, word1) for one upload window.
 */
typedef int (*pyroscope_frame_symbolize_fn)(uint64_t word0, uint64_t word1,
                                            pyroscope_frame *out,
                                            void *payload);

typedef struct pyroscope_frame_provider {
    unsigned int version; /* 1 */
    pyroscope_frame_capture_fn capture;
    pyroscope_frame_symbolize_fn symbolize;
    void *payload;
    int native_frames;    /* 1: append native frames above the language ones */
} pyroscope_frame_provider;

/*
 * Install (or with NULL remove) the frame provider.  One at a time.  When
 * one is replaced, the current window is closed first so that its frames are
 * symbolized by the provider that captured them; keep the old provider's
 * payload alive until this call returns.
 * @return 0, PYROSCOPE_EINVAL.  Thread-safe; not async-signal-safe.
 */
PYROSCOPE_EXTERN int pyroscope_set_frame_provider(
    pyroscope *p, const pyroscope_frame_provider *provider);

/*
 * Report a sample that a binding collected itself (deferred capture, an
 * engine profiler such as V8's, or heap samples of a managed runtime).
 * @param type    one PYROSCOPE_PROFILE_* bit
 * @param frames  leaf first
 * @param values  CPU: {sample count} (each worth 1e9/sample_rate ns), or
 *                {sample count, cpu ns} when the binding measured the time;
 *                HEAP: {alloc objects, alloc bytes, inuse objects, inuse bytes};
 *                LOCK, BLOCK: {contentions, delay ns};
 *                WALL: {samples, wall ns, cpu ns} (the cpu column is sent
 *                only when some sample of the window has one);
 *                HEAP_LIVE: {inuse objects, inuse bytes} (one snapshot per
 *                window, period heap_sample_interval)
 * @param tags    tags of this sample, or NULL for the calling thread's scope
 * @return 0; PYROSCOPE_EINVAL; PYROSCOPE_ESTATE if `p` is stopping.
 * Thread-safe; not async-signal-safe.
 */
PYROSCOPE_EXTERN int pyroscope_add_sample(pyroscope *p, unsigned int type,
                                          const pyroscope_frame *frames,
                                          size_t frames_count,
                                          const int64_t *values,
                                          size_t values_count,
                                          const pyroscope_tag *tags,
                                          size_t tags_count);

/*
 * Span profiles (traces to profiles).  Mark the calling thread as running
 * span `span_id` (an OpenTelemetry span id as a 64-bit integer, non-zero)
 * named `name` (may be NULL; copied, at most 200 bytes kept).  CPU samples
 * taken on this thread until the matching pyroscope_span_end() carry the
 * pprof labels span_id (16 lower-case hex digits) and span_name, which
 * Grafana uses to link a trace's spans to their profiles.
 *
 * Nestable: inner begin/end pairs are counted but do not relabel, so only
 * the outermost (local root) span labels samples, as the official
 * OpenTelemetry span processors do.  Cheap: no lock and no allocation
 * once a span name has been seen on any thread.  Labels need per-sample
 * pprof labels: with api = PUSH or OTLP (and file://) they are sent; with
 * INGEST, which makes one series per tag set, spans are not recorded.
 * @return 0; PYROSCOPE_EINVAL for span id 0; PYROSCOPE_ENOMEM.
 * Thread-safe (per thread); not async-signal-safe.
 */
PYROSCOPE_EXTERN int pyroscope_span_begin(uint64_t span_id, const char *name);
/* End the span begun last on this thread; extra calls are ignored. */
PYROSCOPE_EXTERN void pyroscope_span_end(void);

/*
 * Heap samples for a library that is dlopen'ed (every language binding):
 * its malloc hooks then come after libc's malloc and are never called, so
 * a binding reports allocations it sees through its runtime's own
 * allocator hooks (PyMem_SetAllocator, ...).  Each call costs a
 * thread-local countdown; about one allocation per heap_sample_interval
 * bytes is sampled, with the caller's native stack, and weighted exactly
 * like the malloc hooks' samples.  Report every free of a reported block
 * (pyroscope_heap_free, before the block is released) so in-use values
 * stay right.  Both do nothing unless heap profiling runs, and nothing
 * when the malloc hooks are interposed (LD_PRELOAD, or linked into the
 * executable), where malloc already sees the allocation.
 * Thread-safe, never allocates; not async-signal-safe.  Added in 0.2.
 */
PYROSCOPE_EXTERN void pyroscope_heap_alloc(void *ptr, size_t size);
PYROSCOPE_EXTERN void pyroscope_heap_free(void *ptr);
/* 1 if the malloc hooks see this process's malloc calls, else 0. */
PYROSCOPE_EXTERN int pyroscope_heap_interposed(void);

/* Counters for health checks and tests. */
typedef struct pyroscope_stats {
    uint64_t samples;         /* CPU signals recorded */
    uint64_t samples_dropped; /* ring full or handler re-entered */
    uint64_t profiles_uploaded;
    uint64_t profiles_dropped;   /* queue overflow (oldest dropped) */
    uint64_t upload_failures;    /* failed attempts, incl. retries */
    uint64_t threads_profiled;   /* threads with an armed timer now */
    uint64_t heap_samples;
    uint64_t lock_samples;
    uint64_t queued_bytes;       /* bytes held for upload now */
    uint64_t profiles_spooled;   /* written to spool_dir (outage, stop) */
    uint64_t overhead_ns;        /* CPU we used: signal handler + our threads */
} pyroscope_stats;

PYROSCOPE_EXTERN int pyroscope_get_stats(pyroscope *p, pyroscope_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* PYROSCOPE_H */
