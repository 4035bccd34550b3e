#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/util.h"
#include "core.h"
#include "heap.h"
#include "span.h"
#include "sampler/sampler.h"
#include "tags/tags.h"

#define SCAN_EVERY_NS (50 * 1000000ull)
/* Symbol tables are read ahead (so the first export does not stall) only
 * once the process has lived this long: a short-lived program (a command
 * of a preloaded shell script) exits first and its export reads only the
 * few modules its samples are in; reading every mapped module's tables
 * at start was 3-4 ms of CPU per process. */
#define PREWARM_AFTER_NS (1000 * 1000000ull)

static void add_cpu(pyroscope *p, const ring_sample *s)
{
    int64_t v[2];

    v[0] = s->values[0];
    v[1] = s->values[0] * (1000000000LL / p->cfg.c.sample_rate);
    window_add(&p->win, SAMPLE_CPU, s->flags,
               span_tagset(p, s->tagset, s->span_id, s->span_name), s->words,
               s->nlang, s->nnative, v, 2);
}

static void add_lock(pyroscope *p, const ring_sample *s)
{
    window_add(&p->win, s->type, s->flags, s->tagset, s->words, s->nlang,
               s->nnative, s->values, 2);
    p->lock_samples++;
}

/* Move everything the signal handler and hooks produced into the window. */
static void drain(pyroscope *p)
{
    ring_sample *s;

    pthread_mutex_lock(&p->lock);
    while ((s = ring_peek(&p->ring)) != NULL) {
        switch (s->type) {
        case SAMPLE_CPU:
            add_cpu(p, s);
            break;
        case SAMPLE_LOCK:
        case SAMPLE_BLOCK:
            add_lock(p, s);
            break;
        case SAMPLE_HEAP_ALLOC:
        case SAMPLE_HEAP_FREE:
            heap_collect(p, s);
            break;
        default:
            break;
        }
        ring_consume(&p->ring);
    }
    heap_add_lost(p);
    pthread_mutex_unlock(&p->lock);
}

static void close_window(pyroscope *p)
{
    uint64_t now = time_now_ns();
    window old;

    pthread_mutex_lock(&p->lock);
    old = p->win;
    window_init(&p->win, now);
    pthread_mutex_unlock(&p->lock);
    export_window(p, &old, now);
    window_free(&old);
    tags_gc();
}

/*
 * How often to drain the ring and run the sampler's watchdog: often enough
 * that 2048 cells never fill, and that a thread whose timer the kernel holds
 * back gets a catch-up sample within ~2 periods at 100 Hz.  With a 20 ms
 * tick the contended 75/25 test read 0.72-0.78, with 10 ms 0.73-0.77; the
 * cost is ~0.1% of one CPU (bench_cpu's direct figure).
 */
#define TICK_NS (10 * 1000000ull)

static void wait_tick_locked(pyroscope *p)
{
    struct timespec ts = time_deadline(TICK_NS);

    pthread_cond_timedwait(&p->cond, &p->lock, &ts);
}

static void *collector_main(void *arg)
{
    pyroscope *p = arg;
    uint64_t interval = (uint64_t)p->cfg.c.upload_interval_ms * 1000000ull;
    uint64_t next_scan = 0, window_end = time_mono_ns() + interval;
    uint64_t prewarm_at = time_mono_ns() + PREWARM_AFTER_NS;
    int flush;

    sampler_exclude_self();
    pthread_mutex_lock(&p->lock);
    while (!p->stopping) {
        wait_tick_locked(p);
        flush = p->flush_requested;
        pthread_mutex_unlock(&p->lock);
        drain(p);
        if (prewarm_at && time_mono_ns() >= prewarm_at) {
            /* Only this thread uses p->syms: no lock needed to fill it. */
            symbols_prewarm(p->syms, &p->stopping);
            prewarm_at = 0;
        }
        sampler_watchdog();
        if (time_mono_ns() >= next_scan) {
            sampler_scan_threads();
            next_scan = time_mono_ns() + SCAN_EVERY_NS;
        }
        if (flush || time_mono_ns() >= window_end) {
            close_window(p);
            window_end = time_mono_ns() + interval;
        }
        pthread_mutex_lock(&p->lock);
        if (flush) {
            p->flush_requested = 0;
            p->flush_generation++;
            pthread_cond_broadcast(&p->cond);
        }
    }
    pthread_mutex_unlock(&p->lock);
    drain(p);
    close_window(p);
    return NULL;
}

int collector_start(pyroscope *p)
{
    if (pthread_create(&p->collector, NULL, collector_main, p) != 0)
        return error_set(PYROSCOPE_ERROR, "cannot start collector thread");
    return 0;
}

void collector_stop(pyroscope *p)
{
    pthread_mutex_lock(&p->lock);
    __atomic_store_n(&p->stopping, 1, __ATOMIC_RELAXED); /* read by prewarm */
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->collector, NULL);
}

void collector_flush(pyroscope *p)
{
    uint64_t gen;

    pthread_mutex_lock(&p->lock);
    gen = p->flush_generation;
    p->flush_requested = 1;
    pthread_cond_broadcast(&p->cond);
    while (p->flush_generation == gen && !p->stopping)
        pthread_cond_wait(&p->cond, &p->lock);
    pthread_mutex_unlock(&p->lock);
}
