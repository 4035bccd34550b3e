/*
 * One client connection for an upload: name resolution that a hung DNS
 * server cannot stall past the deadline, a non-blocking connect to each
 * address in turn, then plain or TLS bytes.  Every wait is bounded by the
 * request's deadline and polls an abort callback (stop() cuts uploads
 * short).  Sockets are ours for fdguard (a host that closes every
 * descriptor keeps them) and never raise SIGPIPE in the host.
 * In: host, port, bytes.  Out: bytes, or an error kind with a sentence.
 */
#ifndef PYROSCOPE_UPLOAD_CONN_H
#define PYROSCOPE_UPLOAD_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "ssl.h"

/* Why a request did not get an HTTP answer. */
enum net_fail {
    NET_OK = 0,
    NET_RESOLVE,     /* the host name does not resolve */
    NET_CONNECT,     /* refused, unreachable */
    NET_TIMEOUT,
    NET_IO,          /* reset, closed early */
    NET_TLS,         /* handshake or record failure */
    NET_TLS_VERIFY,  /* certificate or host name did not check */
    NET_TLS_MISSING, /* https without OpenSSL, or an unreadable CA file */
    NET_PROTOCOL,    /* the answer is not HTTP */
    NET_PROXY,       /* the proxy refused the tunnel */
    NET_ABORTED,     /* the abort callback said stop */
    NET_NOMEM
};

typedef struct net_clock {
    uint64_t deadline_ns;         /* CLOCK_MONOTONIC */
    int (*abort)(void *arg);      /* non-zero: give up now; may be NULL */
    void *arg;
} net_clock;

typedef struct conn {
    int fd;
    tls_session *tls;
} conn;

#define NET_ERR_MAX 256

/* Connect to host:port (connect itself bounded by connect_ns from now
 * as well as by the clock).  0 or a net_fail with err filled. */
int conn_open(conn *c, const char *host, const char *port,
              uint64_t connect_ns, const net_clock *clk, char *err,
              size_t n);
/* TLS over the open connection, verified for `host`. */
int conn_start_tls(conn *c, tls_ctx *ctx, const char *host,
                   const net_clock *clk, char *err, size_t n);
int conn_write(conn *c, const void *p, size_t len, const net_clock *clk,
               char *err, size_t n);
/* *got = 0 at the end of the stream. */
int conn_read(conn *c, void *p, size_t len, size_t *got,
              const net_clock *clk, char *err, size_t n);
/* Accepts a connection that never opened (fd -1). */
void conn_close(conn *c);

#endif
