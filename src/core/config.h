/*
 * The profiler's own copy of its configuration: user config merged with
 * PYROSCOPE_* environment variables and defaults, validated, strings owned.
 */
#ifndef PYROSCOPE_CONFIG_H
#define PYROSCOPE_CONFIG_H

#include "pyroscope.h"

typedef struct config {
    pyroscope_config c;      /* every string below points into owned memory */
    pyroscope_tag *tags;     /* owned copies */
    pyroscope_tag *headers;
    char **owned;            /* every string we allocated */
    size_t nowned;
} config;

/* Build `out` from `in` (may be NULL) and the environment; on error
 * returns PYROSCOPE_EINVAL/ENOMEM with pyroscope_last_error() set. */
int config_build(config *out, const pyroscope_config *in);
void config_free(config *c);

/* Parse "k=v,k2=v2" into owned tags (helper shared with bindings' env). */
int config_parse_kv(config *c, const char *s, char sep, char kvsep,
                    pyroscope_tag **out, size_t *n);
/* "10s", "500ms", "2m", "15" (seconds) -> ms; -1 if invalid. */
long config_parse_duration_ms(const char *s);
/* "cpu,heap,lock" -> bits; -1 if a name is unknown. */
long config_parse_profile_types(const char *s);

#endif
