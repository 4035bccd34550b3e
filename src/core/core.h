/*
 * The wiring: the profiler handle and what only the files of src/core/
 * share.  core/ is the one folder that includes the others.
 *
 * In: the public API (pyroscope.h) and its configuration; ring cells from
 * sampler/ and hooks/.  The collector thread drains the ring into a window
 * (window.h; heap.c for heap samples), names frames with symbols/ at the
 * window's end, encodes with pprof/ (and otlp/) and hands the bytes to
 * upload/.  Out: upload jobs (path + bytes).  docs/internals/pipeline.md.
 */
#ifndef PYROSCOPE_CORE_H
#define PYROSCOPE_CORE_H

#include <pthread.h>
#include <stdint.h>

#include "common/map.h"
#include "config.h"
#include "pyroscope.h"
#include "sampler/ring.h"
#include "symbols/symbols.h"
#include "upload/upload.h"
#include "window.h"

typedef struct named_frame {
    char *function;
    char *file;
    int64_t line;
} named_frame;

typedef struct named_frames {
    map index; /* hash -> id */
    named_frame *v;
    size_t n, cap;
} named_frames;

struct pyroscope {
    config cfg;
    ring ring;
    upload *up;
    symbols *syms;

    pthread_t collector;
    pthread_mutex_t lock; /* window, frames, static tags, flags below */
    pthread_cond_t cond;
    window win;
    named_frames frames;
    map lang_cache;       /* provider words -> named frame id, per window */
    map span_cache;       /* (tag set, span) -> derived tag set, per window */
    uint64_t spans_unlabelled; /* span samples left without span labels */
    pyroscope_tag *static_tags;
    size_t nstatic;
    int stopping;
    int flush_requested;
    uint64_t flush_generation;
    uint64_t seq;         /* file names */
    uint64_t heap_samples, lock_samples;
};

/* pyroscope.c: with lazy restarts on (zero-code mode), a fork() child
 * starts profiling RESTART_DELAY_NS after the fork, not inside it.
 * Pending: 1 while that restart is still to come.  Cancel: never restart
 * (the process exits). */
void pyroscope__fork_lazy(int lazy);
int pyroscope__restart_pending(void);
void pyroscope__restart_cancel(void);

/* collector.c */
int collector_start(pyroscope *p);
void collector_stop(pyroscope *p);
/* Close the window now; returns once its profiles are queued. */
void collector_flush(pyroscope *p);

/* export.c: turn a closed window into upload jobs.  Called unlocked with a
 * window the collector owns; takes p->lock briefly for names and tags. */
void export_window(pyroscope *p, window *w, uint64_t end_ns);

/* frames.c */
uint64_t frames_intern(named_frames *f, const char *function,
                       const char *file, int64_t line);
void frames_reset(named_frames *f);

#endif
