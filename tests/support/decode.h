/* Decoding helpers for tests: gunzip + unpack a pprof, query it. */
#ifndef PYROSCOPE_TEST_DECODE_H
#define PYROSCOPE_TEST_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "profile.pb-c.h"

typedef Perftools__Profiles__Profile pb_profile;

/* gunzip into a malloc'd buffer; NULL if `in` is not gzip. */
unsigned char *test_gunzip(const unsigned char *in, size_t n, size_t *out);
/* gunzip (or pass through raw) and unpack; NULL on malformed input. */
pb_profile *decode_profile(const unsigned char *data, size_t len);
pb_profile *decode_profile_file(const char *path);
void decode_free(pb_profile *p);

const char *pb_string(const pb_profile *p, int64_t idx);
/* Index of the sample type named `type`, or -1. */
int pb_type_index(const pb_profile *p, const char *type);
/* Sum of value[vi] over samples whose stack contains `fn` (any frame). */
int64_t pb_sum_with(const pb_profile *p, int vi, const char *fn);
/* Same, over samples whose stack contains both `fn` and `fn2`. */
int64_t pb_sum_with_both(const pb_profile *p, int vi, const char *fn,
                         const char *fn2);
/* Same, restricted to samples with label key=value (value NULL: no key). */
int64_t pb_sum_with_label(const pb_profile *p, int vi, const char *fn,
                          const char *key, const char *value);
int64_t pb_sum(const pb_profile *p, int vi);
/* Name of the leaf function of sample i (or NULL). */
const char *pb_leaf(const pb_profile *p, size_t i);

/* Source file of function `fn` (first match), or NULL. */
const char *pb_function_file(const pb_profile *p, const char *fn);
/* Largest line number among locations in `fn` (0: none). */
int64_t pb_max_line(const pb_profile *p, const char *fn);

/* Sum value[vi] of samples containing `fn` over every profile file in
 * `dir` whose name contains `part`; `check` (may be NULL) asserts on each
 * decoded profile first. */
int64_t pb_sum_files(const char *dir, const char *part, const char *fn,
                     int vi, void (*check)(const pb_profile *));

/* Read a whole file; malloc'd. */
unsigned char *read_file(const char *path, size_t *len);

#endif
