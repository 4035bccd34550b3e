/*
 * pprof profile builder: string table, mappings, functions, locations and
 * samples, encoded with protobuf-c and gzip-compressed.  Knows nothing about
 * how stacks were captured.  In: from core/export.c, one window's sample
 * types, mappings, locations (named or address-only) and samples with
 * values and labels.  Out: the gzip'd profile.proto bytes.
 */
#ifndef PYROSCOPE_PPROF_H
#define PYROSCOPE_PPROF_H

#include <stddef.h>
#include <stdint.h>

#include "pyroscope.h"

typedef struct pprof_value_type {
    const char *type;
    const char *unit;
} pprof_value_type;

typedef struct pprof_builder pprof_builder;

pprof_builder *pprof_new(const pprof_value_type *types, size_t ntypes,
                         pprof_value_type period_type, int64_t period,
                         int64_t time_nanos, int64_t duration_nanos);
void pprof_free(pprof_builder *b);

/* Id of a mapping (deduplicated on `start`); 0 on allocation failure. */
uint64_t pprof_mapping(pprof_builder *b, uint64_t start, uint64_t limit,
                       uint64_t offset, const char *file,
                       const char *build_id, int has_functions);

/*
 * Id of the location deduplicated on `key` (chosen by the caller, non-zero):
 * a native pc, or a hash of a language frame.  `function` NULL gives an
 * address-only location that readers symbolize from the mapping.
 */
uint64_t pprof_location(pprof_builder *b, uint64_t key, uint64_t mapping_id,
                        uint64_t address, const char *function,
                        const char *file, int64_t line);

/* Add one sample; `locs` leaf first, one value per sample type. */
int pprof_add_sample(pprof_builder *b, const uint64_t *locs, size_t nlocs,
                     const int64_t *values, const pyroscope_tag *labels,
                     size_t nlabels);

size_t pprof_sample_count(const pprof_builder *b);

/* Serialise and gzip; *out is malloc'd. */
int pprof_encode(pprof_builder *b, unsigned char **out, size_t *len);

/* gzip `in` into a malloc'd buffer. */
int pprof_gzip(const unsigned char *in, size_t n, unsigned char **out,
               size_t *outlen);

#endif
