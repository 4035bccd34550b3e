/*
 * Our HTTP/1.1 client for uploads: one POST per connection (Connection:
 * close), http or https (tls.h), optionally through an HTTP proxy (plain
 * requests in absolute form, https through CONNECT), basic auth, the
 * server's status, Retry-After and Location, and the first bytes of the
 * reply for error messages.  Never follows a redirect: credentials stay
 * with the configured server.  Why not libcurl: it maps ~30 libraries into
 * the host, which every fork of the host copies (docs/internals/upload.md).
 * In: a parsed target and a request.  Out: an http_reply.
 */
#ifndef PYROSCOPE_UPLOAD_HTTP_H
#define PYROSCOPE_UPLOAD_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "conn.h"

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

/* Where requests go: parsed once from server_address (and the proxy
 * environment). */
typedef struct http_target {
    int tls;
    char host[256];     /* an IPv6 address without its brackets */
    char port[8];
    char authority[300]; /* the Host header: host[:port] as written */
    char *prefix;        /* path before ours, no trailing '/' ("" if none) */
    char *user, *password; /* decoded user:password@ of the URL, or NULL */
    int via_proxy;
    char proxy_host[256], proxy_port[8];
    char *proxy_auth;    /* "Basic ..." for Proxy-Authorization, or NULL */
} http_target;

/* 0, or -1 with a sentence in err (no credentials in it). */
int http_target_parse(http_target *t, const char *url, char *err, size_t n);
/* The proxy the environment names for this target (https_proxy,
 * HTTPS_PROXY, http_proxy, all_proxy, ALL_PROXY, minus no_proxy /
 * NO_PROXY, as curl reads them), or NULL for a direct connection. */
const char *http_env_proxy(const http_target *t);
/* Send through the proxy URL http://[user:pass@]host[:port] (port 1080
 * when absent, as curl does).  0, or -1 with err. */
int http_target_set_proxy(http_target *t, const char *proxy, char *err,
                          size_t n);
void http_target_free(http_target *t);

typedef struct http_piece {
    const void *data;
    size_t len;
} http_piece;

typedef struct http_call {
    const http_target *target;
    const char *path;         /* after the prefix; starts with '/' */
    const char *const *headers; /* "Name: value" lines */
    size_t nheaders;
    const char *user, *password; /* basic auth, or NULL */
    const char *content_type;
    const http_piece *body;   /* sent one after the other */
    size_t nbody;
    tls_ctx *tls;             /* for https targets */
    uint64_t timeout_ns, connect_timeout_ns;
    int (*abort)(void *arg);
    void *abort_arg;
} http_call;

typedef struct http_reply {
    int fail;                 /* enum net_fail; NET_OK: status is valid */
    long status;
    long retry_after_ms;      /* bounded; 0 if none */
    char location[512];       /* of a redirect */
    char text[HTTP_REPLY_MAX + 1]; /* start of the body, NUL-terminated */
    size_t len;
    char error[NET_ERR_MAX];  /* why there is no status */
} http_reply;

void http_post(const http_call *call, http_reply *r);

/* Clamp a Retry-After in seconds (negative: none) to a wait in ms. */
long http_clamp_retry_after(long long seconds);
/* A Retry-After value, seconds or an HTTP date, as a bounded wait in ms
 * from `now` (0 if it cannot be read). */
long http_parse_retry_after(const char *value, time_t now);
/* Verdict for a transfer result (net_fail) and HTTP status. */
int http_verdict(int fail, long status);
/* 1 if the failure says our TLS configuration is wrong. */
int http_tls_failure(int fail);
/* The standard base64 of p[0..n), NUL-terminated, in out (room for
 * 4*((n+2)/3)+1 bytes). */
void http_base64(const void *p, size_t n, char *out);

#endif
