/*
 * Shared declarations of the Ruby extension (pyroscope/pyroscope_ext).
 *
 * pyroscope_ext.c binds the core's lifecycle, config and tag calls;
 * ruby_frames.c is the frame provider that turns CPU signals into Ruby
 * stacks through postponed jobs.
 */
#ifndef PYROSCOPE_RUBY_EXT_H
#define PYROSCOPE_RUBY_EXT_H

#include <ruby.h>
#include <stdint.h>

#include "pyroscope.h"

/* Fiber-local key holding the merged tag Hash of the running fiber. */
#define RBPYRO_TAGS_KEY "__pyroscope_tags"
/* Thread variable holding the Hash the core's thread scope was synced to
 * (keeps it alive; the C side compares identity only). */
#define RBPYRO_SYNCED_KEY "__pyroscope_synced"

extern VALUE rbpyro_mPyroscope;
extern VALUE rbpyro_mNative;
extern VALUE rbpyro_eError;
extern ID rbpyro_id_tags_key;

/* The running profiler as seen by Ruby code and postponed jobs; NULL when
 * stopped.  Only written with the GVL held. */
extern pyroscope *rbpyro_handle;

/* Raise ArgumentError (EINVAL/ELIMIT) or Pyroscope::Error for `err`. */
void rbpyro_raise(int err, const char *what);

/* Fill `out` (max `cap`) from a frozen {String => String} Hash; returns the
 * count.  The strings are borrowed from the Hash. */
size_t rbpyro_tags_from_hash(VALUE hash, pyroscope_tag *out, size_t cap);

/* Make the core's scope of this OS thread equal to `hash` (the merged tags
 * of the running fiber; nil for none); returns 0 or a core error code.  The
 * _if_stale form does nothing (returns 0) if `hash` is the one synced last,
 * else syncs and returns 1. */
int rbpyro_sync_thread_scope(VALUE hash);
int rbpyro_sync_thread_scope_if_stale(VALUE hash);

/* Spans (spans.c): rbpyro_spans_configure() before pyroscope_start();
 * rbpyro_span_tags() appends the calling thread's span labels for a Ruby
 * sample (n tags used of cap) and returns the new count. */
void rbpyro_spans_init(VALUE mNative);
void rbpyro_spans_configure(const pyroscope_config *cfg);
size_t rbpyro_span_tags(pyroscope_tag *tags, size_t n, size_t cap);

/* Frame provider (ruby_frames.c). */
void rbpyro_frames_init(VALUE mNative);
int rbpyro_frames_install(pyroscope *p);
void rbpyro_frames_reset_after_fork(void);

#endif
