/*
 * TLS for https uploads through the system's OpenSSL (libssl.so.3 or
 * .so.1.1), loaded with dlopen on the first https request.  Why not link
 * it: a process that uploads over plain http (most in-cluster servers)
 * then maps no TLS library at all, every fork of the host copies fewer
 * mappings, and a wheel or gem built once runs against whatever OpenSSL
 * the machine has.  Sessions are non-blocking: each call says whether it
 * needs the socket readable or writable, and conn.c waits for that.
 * In: a connected socket.  Out: an encrypted byte stream.
 */
#ifndef PYROSCOPE_UPLOAD_SSL_H
#define PYROSCOPE_UPLOAD_SSL_H

#include <stddef.h>

typedef struct tls_ctx tls_ctx;
typedef struct tls_session tls_session;

enum tls_status {
    TLS_DONE = 0,
    TLS_WANT_READ = 1,
    TLS_WANT_WRITE = 2,
    TLS_CLOSED = 3,       /* the peer ended the stream */
    TLS_FAILED = -1,
    TLS_VERIFY_FAILED = -2 /* the peer's certificate or name did not check */
};

/* A context with the CA store (ca_file, or the system's when NULL) and
 * verification on unless `insecure`; NULL with a reason in err when
 * OpenSSL cannot be loaded or the CA file cannot be read. */
tls_ctx *tls_ctx_new(const char *ca_file, int insecure, char *err, size_t n);
/* Accepts NULL. */
void tls_ctx_free(tls_ctx *ctx);

/* A client session on fd for `host` (SNI and the name or IP address its
 * certificate must carry). */
tls_session *tls_session_new(tls_ctx *ctx, int fd, const char *host,
                             char *err, size_t n);
int tls_handshake(tls_session *s);
/* *done / *got: bytes moved when TLS_DONE. */
int tls_write(tls_session *s, const void *p, size_t len, size_t *done);
int tls_read(tls_session *s, void *p, size_t len, size_t *got);
/* Why the last call failed, for a log line. */
void tls_describe(tls_session *s, int status, char *err, size_t n);
/* Accepts NULL; does not close the descriptor. */
void tls_session_free(tls_session *s);

#endif
