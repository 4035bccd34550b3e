/* Public entry points: wires sampler, collector, export and upload. */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/redact.h"
#include "common/util.h"
#include "core.h"
#include "heap.h"
#include "hook_switch.h"
#include "sampler/sampler.h"
#include "tags/tags.h"
#include "../fdguard/fdguard.h"

#define RING_CAPACITY 2048

static pthread_mutex_t g_start_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic(pyroscope *) g_current;
static pthread_once_t g_atfork_once = PTHREAD_ONCE_INIT;
static void install_atfork(void);

pyroscope *pyroscope_current(void)
{
    return atomic_load(&g_current);
}

static int copy_static_tags(pyroscope *p)
{
    size_t i, n = p->cfg.c.tags_count;

    p->static_tags = calloc(n ? n : 1, sizeof(*p->static_tags));
    if (!p->static_tags)
        return PYROSCOPE_ENOMEM;
    for (i = 0; i < n; i++) {
        p->static_tags[i].key = str_dup(p->cfg.c.tags[i].key);
        p->static_tags[i].value = str_dup(p->cfg.c.tags[i].value);
        p->nstatic++;
        if (!p->static_tags[i].key || !p->static_tags[i].value)
            return PYROSCOPE_ENOMEM;
    }
    return 0;
}

static void free_static_tags(pyroscope *p)
{
    size_t i;

    for (i = 0; i < p->nstatic; i++) {
        free((char *)p->static_tags[i].key);
        free((char *)p->static_tags[i].value);
    }
    free(p->static_tags);
    p->static_tags = NULL;
    p->nstatic = 0;
}

static void destroy(pyroscope *p)
{
    if (!p)
        return;
    window_free(&p->win);
    frames_reset(&p->frames);
    map_free(&p->lang_cache);
    map_free(&p->span_cache);
    symbols_free(p->syms);
    ring_destroy(&p->ring);
    free_static_tags(p);
    config_free(&p->cfg);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
    free(p);
}

static pyroscope *alloc_handle(void)
{
    pyroscope *p = calloc(1, sizeof(*p));
    pthread_condattr_t ca;

    if (!p)
        return NULL;
    pthread_mutex_init(&p->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cond, &ca);
    pthread_condattr_destroy(&ca);
    window_init(&p->win, time_now_ns());
    return p;
}

static int start_upload(pyroscope *p)
{
    const pyroscope_config *c = &p->cfg.c;
    upload_opts o;

    memset(&o, 0, sizeof(o));
    o.server = c->server_address;
    o.auth_token = c->auth_token;
    o.basic_user = c->basic_auth_user;
    o.basic_password = c->basic_auth_password;
    o.tenant_id = c->tenant_id;
    o.headers = c->http_headers;
    o.nheaders = c->http_headers_count;
    o.timeout_ms = c->upload_timeout_ms;
    o.queue_max = c->upload_queue_max;
    o.spool_dir = c->spool_dir;
    o.spool_max_bytes = c->spool_max_bytes;
    o.tls_ca_file = c->tls_ca_file;
    o.tls_insecure = c->tls_insecure;
    o.idle_claim_ms = c->upload_interval_ms;
    o.thread_init = sampler_exclude_self;
    return upload_new(&p->up, &o);
}

static int start_sampling(pyroscope *p)
{
    sampler_opts so;
    int rc;

    if (p->cfg.c.profile_types & PYROSCOPE_PROFILE_CPU) {
        so.rate_hz = p->cfg.c.sample_rate;
        so.signo = p->cfg.c.signal;
        so.ring = &p->ring;
        rc = sampler_start(&so);
        if (rc)
            return rc;
    }
    hooks_enable(p, &p->ring);
    return 0;
}

/* Everything but the sampling itself; undone by destroy() on failure. */
static int prepare(pyroscope *p, const pyroscope_config *cfg)
{
    int rc = config_build(&p->cfg, cfg);

    if (rc)
        return rc;
    log_configure(p->cfg.c.log_level ? p->cfg.c.log_level : PYROSCOPE_LOG_WARN,
                  p->cfg.c.log_fn, p->cfg.c.log_payload);
    rc = copy_static_tags(p);
    if (rc)
        return rc;
    if (ring_init(&p->ring, RING_CAPACITY) != 0)
        return error_set(PYROSCOPE_ENOMEM, "cannot map the sample ring");
    p->syms = symbols_new();
    if (!p->syms)
        return PYROSCOPE_ENOMEM;
    if (p->cfg.c.profile_types & PYROSCOPE_PROFILE_CPU)
        sampler_reserve_fds(); /* before our first thread */
    return start_upload(p);
}

int pyroscope_start(pyroscope **out, const pyroscope_config *cfg)
{
    char shown[512];
    pyroscope *p;
    int rc;

    error_clear();
    if (!out)
        return error_set(PYROSCOPE_EINVAL, "out is NULL");
    pthread_once(&g_atfork_once, install_atfork);
    pthread_mutex_lock(&g_start_lock);
    if (atomic_load(&g_current)) {
        pthread_mutex_unlock(&g_start_lock);
        return error_set(PYROSCOPE_EBUSY, "a profiler is already running");
    }
    p = alloc_handle();
    rc = p ? prepare(p, cfg) : PYROSCOPE_ENOMEM;
    if (!rc)
        rc = collector_start(p);
    if (rc) {
        if (p && p->up)
            upload_free(p->up, 0);
        destroy(p);
        pthread_mutex_unlock(&g_start_lock);
        return rc;
    }
    rc = start_sampling(p);
    if (rc) {
        collector_stop(p);
        upload_free(p->up, 0);
        destroy(p);
        pthread_mutex_unlock(&g_start_lock);
        return rc;
    }
    atomic_store(&g_current, p);
    pthread_mutex_unlock(&g_start_lock);
    redact_url(p->cfg.c.server_address, shown, sizeof(shown));
    LOG_INFO("profiling %s at %d Hz to %s", p->cfg.c.application_name,
             p->cfg.c.sample_rate, shown);
    *out = p;
    return 0;
}

void pyroscope_stop(pyroscope *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&g_start_lock);
    hooks_disable();
    sampler_stop();
    collector_stop(p);
    /* The last window is symbolized; the provider's payload belongs to a
     * binding that may free it once we return. */
    sampler_set_provider(NULL);
    upload_free(p->up, p->cfg.c.stop_timeout_ms);
    heap_reset();
    atomic_store(&g_current, NULL);
    destroy(p);
    pthread_mutex_unlock(&g_start_lock);
}

int pyroscope_flush(pyroscope *p, int timeout_ms)
{
    if (!p)
        return error_set(PYROSCOPE_EINVAL, "p is NULL");
    collector_flush(p);
    if (timeout_ms <= 0)
        return 0;
    return upload_flush(p->up, timeout_ms);
}

int pyroscope_get_stats(pyroscope *p, pyroscope_stats *out)
{
    upload_stats us;

    if (!p || !out)
        return error_set(PYROSCOPE_EINVAL, "NULL argument");
    memset(out, 0, sizeof(*out));
    upload_get_stats(p->up, &us);
    if (p->cfg.c.profile_types & PYROSCOPE_PROFILE_CPU)
        out->samples = sampler_samples();
    out->samples_dropped = atomic_load(&p->ring.dropped);
    out->profiles_uploaded = us.uploaded;
    out->profiles_dropped = us.dropped;
    out->upload_failures = us.failures;
    out->queued_bytes = us.queued_bytes;
    out->profiles_spooled = us.spooled;
    out->threads_profiled = sampler_threads();
    out->overhead_ns = time_thread_cpu_ns(p->collector) +
                      upload_thread_cpu_ns(p->up);
    if (p->cfg.c.profile_types & PYROSCOPE_PROFILE_CPU)
        out->overhead_ns += sampler_handler_ns();
    pthread_mutex_lock(&p->lock);
    out->heap_samples = p->heap_samples;
    out->lock_samples = p->lock_samples;
    pthread_mutex_unlock(&p->lock);
    return 0;
}

int pyroscope_set_frame_provider(pyroscope *p,
                                 const pyroscope_frame_provider *provider)
{
    if (!p)
        return error_set(PYROSCOPE_EINVAL, "p is NULL");
    if (provider && (provider->version != 1 || !provider->capture))
        return error_set(PYROSCOPE_EINVAL,
                         "frame provider needs version 1 and a capture "
                         "function");
    /* Frames captured so far are symbolized by the provider that captured
     * them: close the window before switching. */
    if (sampler_provider())
        collector_flush(p);
    sampler_set_provider(provider);
    return 0;
}

/* ---- fork ---- */

/*
 * Only the forking thread exists in the child: our collector and upload
 * threads are gone and any lock they held stays held.  So the child never
 * touches the parent's handle (it is abandoned: a one-time leak of its
 * buffers) and starts a fresh profiler from a copy of its configuration.
 */

static void atfork_prepare(void)
{
    /* No start or stop may be half done when the child is cloned. */
    pthread_mutex_lock(&g_start_lock);
    sampler_fork_prepare();
}

static void atfork_parent(void)
{
    sampler_fork_resume();
    pthread_mutex_unlock(&g_start_lock);
}

/* A static "pid" tag that named the parent now names the child. */
static void update_pid_tag(pyroscope_tag *tags, size_t n, char *buf,
                           size_t cap)
{
    char parent[32];
    size_t i;

    snprintf(parent, sizeof(parent), "%ld", (long)getppid());
    for (i = 0; i < n; i++)
        if (!strcmp(tags[i].key, "pid") && !strcmp(tags[i].value, parent)) {
            snprintf(buf, cap, "%ld", (long)getpid());
            tags[i].value = buf;
        }
}

static void restart_in_child(const pyroscope *old)
{
    pyroscope_config cfg = old->cfg.c;
    pyroscope_tag tags[64];
    char pid[32];
    size_t n = old->nstatic < 64 ? old->nstatic : 64;
    pyroscope *p;

    memcpy(tags, old->static_tags, n * sizeof(tags[0]));
    update_pid_tag(tags, n, pid, sizeof(pid));
    cfg.tags = tags;
    cfg.tags_count = n;
    if (pyroscope_start(&p, &cfg) != 0)
        LOG_WARN("profiling not restarted after fork: %s",
                 pyroscope_last_error());
}

/*
 * Under LD_PRELOAD (pyroscope__fork_lazy) the restart is lazy: most
 * children of a busy program exec or exit within a millisecond, and a full
 * start (threads, ring, uploader) inside fork() made fork+exec about 10x
 * slower.  So the child only creates one thread that waits
 * RESTART_DELAY_NS and then starts; exec and _exit take it away with them.
 * g_pending is the handle to copy: a child that forks again before its own
 * restart passes it on to the grandchild.  Linked users (and the language
 * bindings, which adopt pyroscope_current() right after fork) keep the
 * restart inside fork().
 */
#define RESTART_DELAY_NS (20 * 1000000L)

static const pyroscope *g_pending;
static int g_restart_cancelled;
static int g_lazy_restart;

void pyroscope__fork_lazy(int lazy)
{
    g_lazy_restart = lazy;
}

static void *restarter(void *arg)
{
    struct timespec d = {0, RESTART_DELAY_NS};
    const pyroscope *old = NULL;

    (void)arg;
    sampler_exclude_self();
    while (nanosleep(&d, &d) != 0)
        ;
    pthread_mutex_lock(&g_start_lock);
    if (!g_restart_cancelled && !atomic_load(&g_current))
        old = g_pending;
    pthread_mutex_unlock(&g_start_lock);
    if (old)
        restart_in_child(old); /* takes g_start_lock itself */
    /* Pending until now: a waiter never sees neither pending nor running. */
    pthread_mutex_lock(&g_start_lock);
    g_pending = NULL;
    pthread_mutex_unlock(&g_start_lock);
    return NULL;
}

static void schedule_restart(const pyroscope *old)
{
    pthread_attr_t a;
    sigset_t all, mask;
    pthread_t t;

    g_pending = old;
    g_restart_cancelled = 0;
    /* Process-directed signals must keep going to the application. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &mask);
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &a, restarter, NULL) != 0) {
        g_pending = NULL;
        LOG_WARN("profiling not restarted after fork: no thread");
    }
    pthread_attr_destroy(&a);
    pthread_sigmask(SIG_SETMASK, &mask, NULL);
}

int pyroscope__restart_pending(void)
{
    int pending;

    pthread_mutex_lock(&g_start_lock);
    pending = g_pending != NULL && !g_restart_cancelled;
    pthread_mutex_unlock(&g_start_lock);
    return pending;
}

void pyroscope__restart_cancel(void)
{
    pthread_mutex_lock(&g_start_lock);
    g_restart_cancelled = 1;
    pthread_mutex_unlock(&g_start_lock);
}

static void atfork_child(void)
{
    const pyroscope *old = atomic_load(&g_current);

    pthread_mutex_init(&g_start_lock, NULL);
    hooks_atfork_child();
    tags_atfork_child();
    sampler_atfork_child();
    /* After the sampler closed its perf fds, before a restart opens new
     * descriptors: the parent's are of no use here. */
    fdguard_atfork_child();
    if (!old && !g_restart_cancelled)
        old = g_pending; /* forked again before its own restart */
    g_pending = NULL;
    if (!old)
        return;
    atomic_store(&g_current, NULL);
    hooks_disable();
    heap_atfork_child();
    if (old->cfg.c.fork_mode != PYROSCOPE_FORK_CONTINUE)
        return;
    if (g_lazy_restart)
        schedule_restart(old);
    else
        restart_in_child(old);
}

static void install_atfork(void)
{
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}
