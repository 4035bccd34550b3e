/*
 * Span profiles (traces to profiles).  In: pyroscope_span_begin/end on an
 * application thread set that thread's root span in its TLS block; the CPU
 * handler copies it into each sample.  Out: on the collector, a sample's
 * tag set plus its span becomes a derived tag set carrying the pprof labels
 * span_id (16 hex digits) and span_name, so push and OTLP uploads label
 * every sample with the span it ran in.
 */
#ifndef PYROSCOPE_SPAN_H
#define PYROSCOPE_SPAN_H

#include <stdint.h>

#include "core.h"

/*
 * The tag set a CPU sample is filed under: `tagset` itself when the sample
 * ran in no span (or the API keeps no per-sample labels: /ingest makes a
 * series per tag set, so spans would explode it), else the derived set.
 * Collector thread, p->lock held.
 */
uint64_t span_tagset(pyroscope *p, uint64_t tagset, uint64_t span_id,
                     const char *name);

#endif
