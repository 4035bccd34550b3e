/*
 * Background delivery of encoded profiles: a bounded queue (oldest dropped
 * first) drained by one thread that POSTs (http.h), retrying with
 * backoff on network errors, 5xx and 429; or writes files for file:// URLs.
 * Knows nothing about pprof: jobs are opaque bytes plus a request path.
 * Jobs that do not fit go to a spool directory (spool.h) and come back
 * only after a delivery succeeded; docs/internals/upload.md.  In: jobs
 * from core/export.c.  Out: HTTP requests to the server, or files.
 */
#ifndef PYROSCOPE_UPLOAD_H
#define PYROSCOPE_UPLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "pyroscope.h"

typedef struct upload_opts {
    const char *server; /* http(s)://host[:port][/prefix] or file://DIR */
    const char *auth_token;
    const char *basic_user;
    const char *basic_password;
    const char *tenant_id;
    const pyroscope_tag *headers;
    size_t nheaders;
    int timeout_ms;
    int queue_max;
    const char *spool_dir;
    uint64_t spool_max_bytes;
    void (*thread_init)(void); /* run first on the upload thread */
    const char *tls_ca_file;   /* NULL: the system's CA store */
    int tls_insecure;          /* 1: no certificate or host name checks */
    /* An idle process (nothing of its own to send) takes one spooled job
     * after this long without work; 0 = only after its own successes. */
    int idle_claim_ms;
} upload_opts;

#define UPLOAD_ID_LEN 32

/*
 * content_type of an /ingest job whose multipart form also carries a
 * sample_type_config naming contentions/delay block_count/block_duration:
 * without it the server files every contentions profile as "mutex".
 */
#define UPLOAD_FORM_BLOCK "multipart/form-data; profile=block"

typedef struct upload_job {
    char *path;          /* "/ingest?name=..." appended to the server URL */
    char *file_name;     /* used in file:// mode */
    /* static; NULL = multipart field "profile" (or UPLOAD_FORM_BLOCK) */
    const char *content_type;
    unsigned char *body;
    size_t len;
    /* Stable profile id (lowercase hex), sent with every attempt so a
     * server or test can drop duplicates; set by upload_enqueue if empty. */
    char id[UPLOAD_ID_LEN + 1];
    char *spool_ref;     /* claimed spool record this job came from */
} upload_job;

typedef struct upload_stats {
    uint64_t uploaded, dropped, failures, queued_bytes, spooled;
} upload_stats;

typedef struct upload upload;

/* 0 or a PYROSCOPE_E* code with pyroscope_last_error() set. */
int upload_new(upload **out, const upload_opts *o);
/* Take ownership of *job (also on failure); never blocks. */
void upload_enqueue(upload *u, upload_job *job);
/* Wait until the queue is empty; PYROSCOPE_EIO on timeout. */
int upload_flush(upload *u, int timeout_ms);
/* Try to deliver what is queued within timeout_ms, then stop and free. */
void upload_free(upload *u, int timeout_ms);
void upload_get_stats(upload *u, upload_stats *out);
/* CPU time used by the upload thread so far, ns. */
uint64_t upload_thread_cpu_ns(upload *u);
void upload_job_free(upload_job *job);
/* Fill id[UPLOAD_ID_LEN + 1] with a fresh random profile id. */
void upload_new_id(char *id);
/* Percent-encode `s` for a URL query into a malloc'd string. */
char *upload_escape(const char *s);

#endif
