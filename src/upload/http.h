/*
 * The security-relevant libcurl settings of every upload request and the
 * reading of the server's answer: http/https only, no redirects, TLS
 * verification (CA file, explicit insecure switch), the first bytes of the
 * reply for error messages, and what a status means for the job.
 */
#ifndef PYROSCOPE_UPLOAD_HTTP_H
#define PYROSCOPE_UPLOAD_HTTP_H

#include <curl/curl.h>

/* What to do with a job after one attempt. */
enum http_verdict {
    HTTP_DROP = -1,     /* the server refused this profile for good */
    HTTP_DELIVERED = 0, /* 2xx */
    HTTP_RETRY = 1,     /* network error, 408, 429, 5xx: back off, retry */
    HTTP_CONFIG = 2     /* our configuration is wrong: keep, back off long */
};

#define HTTP_REPLY_MAX 512
/* Longest wait a Retry-After may ask of us. */
#define HTTP_RETRY_AFTER_MAX_MS 300000L

typedef struct http_reply {
    char text[HTTP_REPLY_MAX + 1]; /* start of the body, NUL-terminated */
    size_t len;
    char error[CURL_ERROR_SIZE];   /* curl's detail for a failed transfer */
} http_reply;

/* Protocols http/https only, never follow a redirect, verify the peer
 * unless `insecure`, trust `ca_file` (PEM) instead of the system store
 * when set. */
void http_secure(CURL *c, const char *ca_file, int insecure);
/* Keep the first bytes of the reply body and curl's error text in *r. */
void http_capture(CURL *c, http_reply *r);
/* Retry-After of the last response as a bounded wait in ms (0 if none). */
long http_retry_after_ms(CURL *c);
/* Clamp a Retry-After in seconds (negative: none) to a wait in ms. */
long http_clamp_retry_after(long long seconds);
/* Verdict for a transfer result and HTTP status. */
int http_verdict(CURLcode rc, long status);
/* 1 if rc says the server's certificate could not be verified. */
int http_tls_failure(CURLcode rc);

#endif
