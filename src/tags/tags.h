/*
 * Tag validation, per-thread tag scopes and the table of interned tag sets.
 *
 * A tag set is identified by a 64-bit id (0 = no tags) that the signal
 * handler copies from a thread-local; the collector turns ids back into
 * key/value lists.  Sets are reference counted by the scopes that hold them
 * and freed by tags_gc() once unused for a whole upload window.  In: tags
 * from the API and the config.  Out: ids into samples (through
 * common/tls.h) and, on the collector, the labels of each id.
 */
#ifndef PYROSCOPE_TAGS_H
#define PYROSCOPE_TAGS_H

#include <stdint.h>
#include <stddef.h>

#include "pyroscope.h"

#define TAGS_MAX_KEY_LEN 100
#define TAGS_MAX_VALUE_LEN 256
#define TAGS_MAX_PER_SCOPE 16
#define TAGS_MAX_PER_SET 64
#define TAGS_MAX_DEPTH 32
#define TAGS_MAX_SETS 4096

/* 0 if valid, else PYROSCOPE_EINVAL/ELIMIT with pyroscope_last_error() set. */
int tags_check_key(const char *key);
int tags_check_value(const char *value, int allow_empty);

/* qsort comparator of pyroscope_tag by key. */
int tags_cmp_key(const void *a, const void *b);

/* The calling thread's current tag set id.  Async-signal-safe. */
uint64_t tags_current(void);

/*
 * Copy the key/value pairs of set `id` into `out` (sorted by key), under the
 * table lock.  Strings are copied into `strbuf` (size `strcap`).  Returns the
 * number of pairs, 0 for an unknown/freed id.  Collector thread only.
 */
size_t tags_get(uint64_t id, pyroscope_tag *out, size_t max, char *strbuf,
                size_t strcap);

/* Intern an explicit list (for pyroscope_add_sample); takes a reference
 * held until the next tags_gc() window passes. */
int tags_intern(const pyroscope_tag *tags, size_t n, uint64_t *out);

/* The same without the value check: for sets that only ever become pprof
 * labels (span names such as "GET /users/{id}"), never an /ingest series
 * name.  Keys and values must still fit the length limits. */
int tags_intern_labels(const pyroscope_tag *tags, size_t n, uint64_t *out);

/* Start a new window; free sets unused for the last full window. */
void tags_gc(void);

/* Number of live tag sets (for tests and stats). */
size_t tags_live(void);

/* After fork in the child: the table lock may have been held. */
void tags_atfork_child(void);

#endif
