#include "ssl.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* OpenSSL's ABI, declared here so that building needs no OpenSSL headers:
 * every object is opaque and every call below is a real function (not a
 * macro) in both 1.1.1 and 3.x. */
#define SSL_VERIFY_NONE 0
#define SSL_VERIFY_PEER 1
#define SSL_ERROR_SSL 1
#define SSL_ERROR_WANT_READ 2
#define SSL_ERROR_WANT_WRITE 3
#define SSL_ERROR_SYSCALL 5
#define SSL_ERROR_ZERO_RETURN 6
#define SSL_CTRL_MODE 33
#define SSL_CTRL_SET_TLSEXT_HOSTNAME 55
#define SSL_CTRL_SET_MIN_PROTO_VERSION 123
#define SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER 2L
#define TLS1_2_VERSION 0x0303
#define OPENSSL_INIT_NO_ATEXIT 0x00080000ull
#define X509_V_OK 0

static struct {
    int (*init_ssl)(uint64_t, const void *);
    const void *(*client_method)(void);
    void *(*ctx_new)(const void *);
    void (*ctx_free)(void *);
    void (*ctx_set_verify)(void *, int, void *);
    int (*ctx_default_paths)(void *);
    int (*ctx_load_locations)(void *, const char *, const char *);
    long (*ctx_ctrl)(void *, int, long, void *);
    void *(*ssl_new)(void *);
    void (*ssl_free)(void *);
    int (*set_fd)(void *, int);
    long (*ssl_ctrl)(void *, int, long, void *);
    int (*set1_host)(void *, const char *);
    void *(*get0_param)(void *);
    int (*param_set1_ip_asc)(void *, const char *);
    int (*connect)(void *);
    int (*read)(void *, void *, int);
    int (*write)(void *, const void *, int);
    int (*get_error)(const void *, int);
    long (*verify_result)(const void *);
    const char *(*verify_string)(long);
    unsigned long (*err_get)(void);
    void (*err_string)(unsigned long, char *, size_t);
    void (*err_clear)(void);
} ossl;

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static char g_why[200]; /* empty once loaded */

struct tls_ctx {
    void *ctx;
    int insecure;
};

struct tls_session {
    void *ssl;
    int verify;     /* the peer is checked (not insecure) */
    int last_error; /* SSL_get_error of the last failed call */
};

static int bind_all(void *h)
{
#define BIND(field, name)                                                  \
    if (!(*(void **)&ossl.field = dlsym(h, name))) {                       \
        snprintf(g_why, sizeof(g_why), "OpenSSL has no %s", name);         \
        return -1;                                                         \
    }
    BIND(init_ssl, "OPENSSL_init_ssl")
    BIND(client_method, "TLS_client_method")
    BIND(ctx_new, "SSL_CTX_new")
    BIND(ctx_free, "SSL_CTX_free")
    BIND(ctx_set_verify, "SSL_CTX_set_verify")
    BIND(ctx_default_paths, "SSL_CTX_set_default_verify_paths")
    BIND(ctx_load_locations, "SSL_CTX_load_verify_locations")
    BIND(ctx_ctrl, "SSL_CTX_ctrl")
    BIND(ssl_new, "SSL_new")
    BIND(ssl_free, "SSL_free")
    BIND(set_fd, "SSL_set_fd")
    BIND(ssl_ctrl, "SSL_ctrl")
    BIND(set1_host, "SSL_set1_host")
    BIND(get0_param, "SSL_get0_param")
    BIND(param_set1_ip_asc, "X509_VERIFY_PARAM_set1_ip_asc")
    BIND(connect, "SSL_connect")
    BIND(read, "SSL_read")
    BIND(write, "SSL_write")
    BIND(get_error, "SSL_get_error")
    BIND(verify_result, "SSL_get_verify_result")
    BIND(verify_string, "X509_verify_cert_error_string")
    BIND(err_get, "ERR_get_error")
    BIND(err_string, "ERR_error_string_n")
    BIND(err_clear, "ERR_clear_error")
#undef BIND
    return 0;
}

static void load_once(void)
{
    static const char *const names[] = {"libssl.so.3", "libssl.so.1.1",
                                        "libssl.so"};
    void *h = NULL;
    size_t i;

    for (i = 0; !h && i < sizeof(names) / sizeof(names[0]); i++)
        h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(g_why, sizeof(g_why), "https needs OpenSSL (libssl.so.3 "
                 "or libssl.so.1.1, e.g. the libssl3 package), which this "
                 "machine does not have");
        return;
    }
    if (bind_all(h) != 0)
        return; /* the library stays: unloading OpenSSL is never safe */
    /* No atexit clean-up: exit() must not free OpenSSL's state under an
     * upload that is still running on our thread. */
    if (!ossl.init_ssl(OPENSSL_INIT_NO_ATEXIT, NULL) &&
        !ossl.init_ssl(0, NULL)) {
        snprintf(g_why, sizeof(g_why), "OpenSSL did not initialise");
        return;
    }
    g_why[0] = '\0';
}

static void last_ossl_error(char *err, size_t n, const char *what)
{
    unsigned long e = ossl.err_get();
    char detail[160] = "";

    if (e)
        ossl.err_string(e, detail, sizeof(detail));
    snprintf(err, n, "%s%s%s", what, detail[0] ? ": " : "", detail);
    ossl.err_clear();
}

tls_ctx *tls_ctx_new(const char *ca_file, int insecure, char *err, size_t n)
{
    tls_ctx *t;

    pthread_once(&g_once, load_once);
    if (g_why[0] || !ossl.ctx_new) {
        snprintf(err, n, "%s", g_why[0] ? g_why : "OpenSSL not loaded");
        return NULL;
    }
    t = calloc(1, sizeof(*t));
    if (!t || !(t->ctx = ossl.ctx_new(ossl.client_method()))) {
        free(t);
        last_ossl_error(err, n, "cannot create a TLS context");
        return NULL;
    }
    t->insecure = insecure;
    ossl.ctx_ctrl(t->ctx, SSL_CTRL_SET_MIN_PROTO_VERSION, TLS1_2_VERSION,
                  NULL);
    /* A retried SSL_write after WANT_WRITE passes the same bytes, but not
     * always from the same address. */
    ossl.ctx_ctrl(t->ctx, SSL_CTRL_MODE, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER,
                  NULL);
    ossl.ctx_set_verify(t->ctx, insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER,
                        NULL);
    if (ca_file && *ca_file
            ? ossl.ctx_load_locations(t->ctx, ca_file, NULL) != 1
            : ossl.ctx_default_paths(t->ctx) != 1) {
        char what[600];
        snprintf(what, sizeof(what), "cannot load the CA certificates %s",
                 ca_file && *ca_file ? ca_file : "of the system");
        last_ossl_error(err, n, what);
        tls_ctx_free(t);
        return NULL;
    }
    return t;
}

void tls_ctx_free(tls_ctx *t)
{
    if (!t)
        return;
    ossl.ctx_free(t->ctx);
    free(t);
}

static int is_ip(const char *host)
{
    unsigned char a[16];

    return inet_pton(AF_INET, host, a) == 1 ||
           inet_pton(AF_INET6, host, a) == 1;
}

tls_session *tls_session_new(tls_ctx *t, int fd, const char *host,
                             char *err, size_t n)
{
    tls_session *s = calloc(1, sizeof(*s));
    int ok;

    ossl.err_clear();
    if (!s || !(s->ssl = ossl.ssl_new(t->ctx))) {
        free(s);
        last_ossl_error(err, n, "cannot create a TLS session");
        return NULL;
    }
    s->verify = !t->insecure;
    ok = ossl.set_fd(s->ssl, fd) == 1;
    if (ok && !is_ip(host)) /* SNI carries names only */
        ok = ossl.ssl_ctrl(s->ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, 0,
                           (void *)host) == 1;
    if (ok && !t->insecure)
        ok = is_ip(host)
                 ? ossl.param_set1_ip_asc(ossl.get0_param(s->ssl), host) == 1
                 : ossl.set1_host(s->ssl, host) == 1;
    if (!ok) {
        last_ossl_error(err, n, "cannot set up the TLS session");
        tls_session_free(s);
        return NULL;
    }
    return s;
}

static int status_of(tls_session *s, int rc)
{
    int e = ossl.get_error(s->ssl, rc);

    s->last_error = e;
    if (e == SSL_ERROR_WANT_READ)
        return TLS_WANT_READ;
    if (e == SSL_ERROR_WANT_WRITE)
        return TLS_WANT_WRITE;
    if (e == SSL_ERROR_ZERO_RETURN)
        return TLS_CLOSED;
    if (e == SSL_ERROR_SSL && s->verify &&
        ossl.verify_result(s->ssl) != X509_V_OK)
        return TLS_VERIFY_FAILED;
    return TLS_FAILED;
}

int tls_handshake(tls_session *s)
{
    int rc;

    ossl.err_clear();
    rc = ossl.connect(s->ssl);
    return rc == 1 ? TLS_DONE : status_of(s, rc);
}

int tls_write(tls_session *s, const void *p, size_t len, size_t *done)
{
    int rc;

    ossl.err_clear();
    rc = ossl.write(s->ssl, p, len > (1u << 30) ? 1 << 30 : (int)len);
    if (rc > 0) {
        *done = (size_t)rc;
        return TLS_DONE;
    }
    return status_of(s, rc);
}

int tls_read(tls_session *s, void *p, size_t len, size_t *got)
{
    int rc;

    ossl.err_clear();
    rc = ossl.read(s->ssl, p, len > (1u << 30) ? 1 << 30 : (int)len);
    if (rc > 0) {
        *got = (size_t)rc;
        return TLS_DONE;
    }
    return status_of(s, rc);
}

void tls_describe(tls_session *s, int status, char *err, size_t n)
{
    if (status == TLS_VERIFY_FAILED) {
        snprintf(err, n, "certificate verify failed: %s",
                 ossl.verify_string(ossl.verify_result(s->ssl)));
        ossl.err_clear();
    } else if (s->last_error == SSL_ERROR_SYSCALL) {
        last_ossl_error(err, n, "TLS connection lost");
    } else {
        last_ossl_error(err, n, "TLS error");
    }
}

void tls_session_free(tls_session *s)
{
    if (!s)
        return;
    ossl.ssl_free(s->ssl);
    free(s);
}
