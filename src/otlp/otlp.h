/*
 * OTLP profiles export: turns one pprof profile (what src/pprof/ built for
 * a window) into an OpenTelemetry ExportProfilesServiceRequest
 * (profiles v1development) for POST /v1development/profiles.  In: gzip'd or
 * raw pprof bytes plus the resource (service name, static tags).  Out:
 * serialized protobuf bytes.  Knows nothing of sampling or uploading.
 */
#ifndef PYROSCOPE_OTLP_H
#define PYROSCOPE_OTLP_H

#include <stddef.h>
#include <stdint.h>

#include "pyroscope.h"

#define OTLP_PATH "/v1development/profiles"

typedef struct otlp_resource {
    const char *service_name;    /* resource attribute service.name */
    const pyroscope_tag *attrs;  /* more resource attributes (static tags) */
    size_t nattrs;
    const char *scope_name;      /* instrumentation scope */
    const char *scope_version;
    /*
     * Pyroscope names an OTLP profile after its period type, so every
     * non-CPU sample type is sent with this period type (e.g. "memory",
     * "mutex") to land under the same __name__ as the pprof paths.  CPU
     * profiles (samples/count + cpu/nanoseconds) become one samples/count
     * profile with period type cpu/nanoseconds, which Pyroscope maps to
     * process_cpu.
     */
    const char *profile_name;
} otlp_resource;

/*
 * Convert; *out is malloc'd.  0 on success, PYROSCOPE_EINVAL if the pprof
 * does not decode, PYROSCOPE_ENOMEM on allocation failure.
 */
int otlp_from_pprof(const unsigned char *pprof, size_t len,
                    const otlp_resource *res, unsigned char **out,
                    size_t *outlen);

#endif
