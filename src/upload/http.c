#include "http.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../common/redact.h"
#include "../common/util.h"
#include "pyroscope.h"

/* A reply's status line and headers must fit; ours are a few hundred
 * bytes, a proxy's or load balancer's rarely more than a few KiB. */
#define HEAD_MAX 16384
/* Raw body bytes read for the first HTTP_REPLY_MAX of text (chunked
 * framing costs a few bytes per chunk). */
#define RAW_BODY_MAX 4096

/* ---- small codecs ---- */

void http_base64(const void *p, size_t n, char *out)
{
    static const char a[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *s = p;
    size_t i;

    for (i = 0; i + 2 < n; i += 3) {
        *out++ = a[s[i] >> 2];
        *out++ = a[((s[i] & 3) << 4) | (s[i + 1] >> 4)];
        *out++ = a[((s[i + 1] & 15) << 2) | (s[i + 2] >> 6)];
        *out++ = a[s[i + 2] & 63];
    }
    if (i < n) {
        *out++ = a[s[i] >> 2];
        *out++ = a[((s[i] & 3) << 4) | (i + 1 < n ? s[i + 1] >> 4 : 0)];
        *out++ = i + 1 < n ? a[(s[i + 1] & 15) << 2] : '=';
        *out++ = '=';
    }
    *out = '\0';
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decoded copy of s[0..n), or NULL. */
static char *pct_decode(const char *s, size_t n)
{
    char *out = malloc(n + 1), *w = out;
    size_t i;

    if (!out)
        return NULL;
    for (i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 &&
            hexval(s[i + 2]) >= 0) {
            *w++ = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else {
            *w++ = s[i];
        }
    }
    *w = '\0';
    return out;
}

/* "Basic base64(user:password)", or NULL. */
static char *basic_credentials(const char *user, const char *password)
{
    size_t ul = strlen(user), pl = password ? strlen(password) : 0;
    char *plain = malloc(ul + pl + 2), *out;

    if (!plain)
        return NULL;
    memcpy(plain, user, ul);
    plain[ul] = ':';
    memcpy(plain + ul + 1, password ? password : "", pl + 1);
    out = malloc(6 + 4 * ((ul + pl + 3) / 3) + 1);
    if (out) {
        memcpy(out, "Basic ", 6);
        http_base64(plain, ul + pl + 1, out + 6);
    }
    memset(plain, 0, ul + pl + 1);
    free(plain);
    return out;
}

/* ---- targets ---- */

/* host[:port] of an authority (userinfo already cut off). */
static int parse_hostport(const char *a, size_t n, const char *defport,
                          char *host, char *port)
{
    const char *colon, *end = a + n;
    size_t hl;
    long v;
    char *e;

    if (n && a[0] == '[') {
        const char *close = memchr(a, ']', n);
        if (!close)
            return -1;
        hl = (size_t)(close - a - 1);
        if (hl == 0 || hl >= 256)
            return -1;
        memcpy(host, a + 1, hl);
        colon = close + 1 < end && close[1] == ':' ? close + 1 : NULL;
        if (!colon && close + 1 != end)
            return -1;
    } else {
        colon = memchr(a, ':', n);
        hl = colon ? (size_t)(colon - a) : n;
        if (hl == 0 || hl >= 256)
            return -1;
        memcpy(host, a, hl);
    }
    host[hl] = '\0';
    if (strpbrk(host, " \t\r\n/\\@") || redact_first_ctl(host) >= 0)
        return -1;
    if (!colon || colon + 1 == end) {
        snprintf(port, 8, "%s", defport);
        return 0;
    }
    v = strtol(colon + 1, &e, 10);
    if (e != end || v <= 0 || v > 65535 || !isdigit((unsigned char)colon[1]))
        return -1;
    snprintf(port, 8, "%ld", v);
    return 0;
}

int http_target_parse(http_target *t, const char *url, char *err, size_t n)
{
    const char *auth, *end, *at = NULL, *p, *colon;
    size_t len;

    memset(t, 0, sizeof(*t));
    if (strncasecmp(url, "https://", 8) == 0)
        t->tls = 1;
    else if (strncasecmp(url, "http://", 7) != 0)
        goto bad;
    auth = url + (t->tls ? 8 : 7);
    end = auth + strcspn(auth, "/?#");
    for (p = auth; p < end; p++)
        if (*p == '@')
            at = p;
    if (at) {
        colon = memchr(auth, ':', (size_t)(at - auth));
        t->user = pct_decode(auth, (size_t)((colon ? colon : at) - auth));
        t->password = colon ? pct_decode(colon + 1, (size_t)(at - colon - 1))
                            : NULL;
        if (!t->user || (colon && !t->password))
            goto bad;
        auth = at + 1;
    }
    if (parse_hostport(auth, (size_t)(end - auth), t->tls ? "443" : "80",
                       t->host, t->port) != 0)
        goto bad;
    len = (size_t)(end - auth);
    if (len >= sizeof(t->authority))
        goto bad;
    memcpy(t->authority, auth, len);
    t->authority[len] = '\0';
    if (len && t->authority[len - 1] == ':')
        t->authority[len - 1] = '\0';
    if (strpbrk(end, "?#"))
        goto bad; /* our path and query go after the prefix */
    t->prefix = str_dup(end);
    if (!t->prefix)
        goto bad;
    len = strlen(t->prefix);
    while (len > 0 && t->prefix[len - 1] == '/')
        t->prefix[--len] = '\0';
    if (strpbrk(t->prefix, " \t\r\n") || redact_first_ctl(t->prefix) >= 0)
        goto bad;
    return 0;
bad:
    snprintf(err, n, "not a valid http:// or https:// URL (scheme://"
             "host[:port][/path], no query)");
    http_target_free(t);
    return -1;
}

/* no_proxy: "*", or names and domains separated by commas or blanks;
 * ".example.com" and "example.com" both match the domain and its hosts. */
static int no_proxy_matches(const char *list, const char *host)
{
    size_t hl = strlen(host);
    const char *p = list;

    while (*p) {
        size_t n;
        p += strspn(p, ", \t");
        n = strcspn(p, ", \t");
        if (n == 1 && *p == '*')
            return 1;
        if (n && *p == '.')
            p++, n--;
        if (n && n <= hl && strncasecmp(host + hl - n, p, n) == 0 &&
            (n == hl || host[hl - n - 1] == '.'))
            return 1;
        p += n;
    }
    return 0;
}

static const char *env_first(const char *a, const char *b)
{
    const char *v = a ? getenv(a) : NULL;

    if (!v || !*v)
        v = b ? getenv(b) : NULL;
    return v && *v ? v : NULL;
}

const char *http_env_proxy(const http_target *t)
{
    const char *np = env_first("no_proxy", "NO_PROXY");
    const char *p;

    if (np && no_proxy_matches(np, t->host))
        return NULL;
    /* Upper-case HTTP_PROXY is not read: a CGI host sets it from a
     * request's "Proxy:" header (curl ignores it for the same reason). */
    p = t->tls ? env_first("https_proxy", "HTTPS_PROXY")
               : env_first("http_proxy", NULL);
    return p ? p : env_first("all_proxy", "ALL_PROXY");
}

int http_target_set_proxy(http_target *t, const char *proxy, char *err,
                          size_t n)
{
    http_target pt;
    const char *url = proxy;
    char *withscheme = NULL;
    int rc = 0;

    if (!strstr(proxy, "://")) {
        size_t l = strlen(proxy);
        withscheme = malloc(l + 8);
        if (!withscheme)
            return -1;
        memcpy(withscheme, "http://", 7);
        memcpy(withscheme + 7, proxy, l + 1);
        url = withscheme;
    } else if (strncasecmp(proxy, "http://", 7) != 0) {
        snprintf(err, n, "only http:// proxies are supported (not %.*s)",
                 (int)strcspn(proxy, ":"), proxy);
        return -1;
    }
    if (http_target_parse(&pt, url, err, n) != 0) {
        free(withscheme);
        return -1;
    }
    free(withscheme);
    /* curl's default proxy port, so that one environment serves both. */
    if (!strchr(pt.authority[0] == '[' ? strchr(pt.authority, ']')
                                       : pt.authority, ':'))
        snprintf(pt.port, sizeof(pt.port), "1080");
    snprintf(t->proxy_host, sizeof(t->proxy_host), "%s", pt.host);
    snprintf(t->proxy_port, sizeof(t->proxy_port), "%s", pt.port);
    free(t->proxy_auth);
    t->proxy_auth = pt.user ? basic_credentials(pt.user, pt.password) : NULL;
    if (pt.user && !t->proxy_auth)
        rc = -1;
    t->via_proxy = rc == 0;
    http_target_free(&pt);
    return rc;
}

static void wipe_free(char *s)
{
    if (s)
        memset(s, 0, strlen(s));
    free(s);
}

void http_target_free(http_target *t)
{
    free(t->prefix);
    wipe_free(t->user);
    wipe_free(t->password);
    wipe_free(t->proxy_auth);
    t->prefix = t->user = t->password = t->proxy_auth = NULL;
}

/* ---- the request ---- */

/* Framing is ours: a configured header must not add a second length. */
static int framing_header(const char *line)
{
    static const char *const own[] = {"host:", "content-length:",
                                      "transfer-encoding:", "connection:",
                                      "content-type:", "expect:"};
    size_t i;

    for (i = 0; i < sizeof(own) / sizeof(own[0]); i++)
        if (strncasecmp(line, own[i], strlen(own[i])) == 0)
            return 1;
    return 0;
}

static char *request_head(const http_call *c, size_t body_len)
{
    const http_target *t = c->target;
    char *auth = NULL;
    size_t i;
    buf b;

    buf_init(&b);
    buf_puts(&b, "POST ");
    if (t->via_proxy && !t->tls)
        buf_printf(&b, "http://%s", t->authority);
    buf_printf(&b, "%s%s HTTP/1.1\r\nHost: %s\r\n", t->prefix, c->path,
               t->authority);
    buf_printf(&b, "User-Agent: pyroscope-c/%s\r\nAccept: */*\r\n",
               PYROSCOPE_VERSION_STRING);
    if (c->user && (auth = basic_credentials(c->user, c->password))) {
        buf_printf(&b, "Authorization: %s\r\n", auth);
        wipe_free(auth);
    }
    if (t->via_proxy && !t->tls && t->proxy_auth)
        buf_printf(&b, "Proxy-Authorization: %s\r\n", t->proxy_auth);
    for (i = 0; i < c->nheaders; i++)
        if (!framing_header(c->headers[i]) &&
            !strpbrk(c->headers[i], "\r\n"))
            buf_printf(&b, "%s\r\n", c->headers[i]);
    if (c->content_type)
        buf_printf(&b, "Content-Type: %s\r\n", c->content_type);
    buf_printf(&b, "Content-Length: %zu\r\nConnection: close\r\n\r\n",
               body_len);
    return buf_steal(&b, NULL);
}

/* ---- the reply ---- */

typedef struct reader {
    conn *c;
    const net_clock *clk;
    char head[HEAD_MAX + 1];
    size_t len;       /* bytes in head */
    size_t head_end;  /* offset after the blank line, 0 until found */
    char *err;
    size_t errn;
} reader;

static size_t find_blank_line(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i + 1 < n; i++) {
        if (s[i] == '\n' && s[i + 1] == '\n')
            return i + 2;
        if (i + 3 < n && memcmp(s + i, "\r\n\r\n", 4) == 0)
            return i + 4;
    }
    return 0;
}

/* Read until a complete header block is in r->head. */
static int read_head(reader *r)
{
    size_t got;
    int rc;

    while (!(r->head_end = find_blank_line(r->head, r->len))) {
        if (r->len >= HEAD_MAX) {
            snprintf(r->err, r->errn, "the reply's header is over %d bytes",
                     HEAD_MAX);
            return NET_PROTOCOL;
        }
        rc = conn_read(r->c, r->head + r->len, HEAD_MAX - r->len, &got,
                       r->clk, r->err, r->errn);
        if (rc != NET_OK)
            return rc;
        if (got == 0) {
            snprintf(r->err, r->errn, r->len ? "the reply ended in its "
                     "header" : "the server closed the connection without "
                     "a reply");
            return r->len ? NET_PROTOCOL : NET_IO;
        }
        r->len += got;
        r->head[r->len] = '\0';
    }
    return NET_OK;
}

static long parse_status(const char *s)
{
    if (strncmp(s, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)s[7]) ||
        s[8] != ' ' || !isdigit((unsigned char)s[9]) ||
        !isdigit((unsigned char)s[10]) || !isdigit((unsigned char)s[11]) ||
        (s[12] != ' ' && s[12] != '\r' && s[12] != '\n'))
        return -1;
    return strtol(s + 9, NULL, 10);
}

/* The value of header `name` in the block [s, end), trimmed, into out. */
static int header_value(const char *s, const char *end, const char *name,
                        char *out, size_t cap)
{
    size_t nl = strlen(name);
    const char *line = memchr(s, '\n', (size_t)(end - s));

    while (line && ++line < end) {
        const char *eol = memchr(line, '\n', (size_t)(end - line)), *v;
        size_t vl;
        if (!eol)
            eol = end;
        if ((size_t)(eol - line) > nl && line[nl] == ':' &&
            strncasecmp(line, name, nl) == 0) {
            v = line + nl + 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            vl = (size_t)(eol - v);
            while (vl && isspace((unsigned char)v[vl - 1]))
                vl--;
            if (vl >= cap)
                vl = cap - 1;
            memcpy(out, v, vl);
            out[vl] = '\0';
            return 1;
        }
        line = eol;
    }
    return 0;
}

/* Skip interim 1xx answers; the final status, or -1 if not HTTP. */
static long final_head(reader *r, int *rc)
{
    long status;

    for (;;) {
        if ((*rc = read_head(r)) != NET_OK)
            return -1;
        status = parse_status(r->head);
        if (status < 0) {
            snprintf(r->err, r->errn, "the reply is not HTTP/1.x");
            *rc = NET_PROTOCOL;
            return -1;
        }
        if (status >= 200 || status < 100)
            return status;
        memmove(r->head, r->head + r->head_end, r->len - r->head_end);
        r->len -= r->head_end;
        r->head[r->len] = '\0';
    }
}

/* Decode chunked framing of raw[0..n) into out (at most cap bytes). */
static size_t dechunk(const char *raw, size_t n, char *out, size_t cap)
{
    size_t i = 0, w = 0;

    while (i < n && w < cap) {
        char *e;
        unsigned long sz = strtoul(raw + i, &e, 16);
        const char *nl = memchr(raw + i, '\n', n - i);
        if (e == raw + i || !nl || sz == 0)
            break;
        i = (size_t)(nl - raw) + 1;
        if (sz > n - i)
            sz = n - i;
        if (sz > cap - w)
            sz = cap - w;
        memcpy(out + w, raw + i, sz);
        w += sz;
        i += sz;
        while (i < n && (raw[i] == '\r' || raw[i] == '\n'))
            i++;
    }
    return w;
}

/* The first bytes of the body; read errors only end it early. */
static void read_body(reader *r, http_reply *out)
{
    char raw[RAW_BODY_MAX + 1], v[32];
    const char *hend = r->head + r->head_end;
    net_clock brief = *r->clk; /* the words are worth 2 s at most */
    size_t n = r->len - r->head_end, want = RAW_BODY_MAX, got;
    int chunked = 0;

    if (brief.deadline_ns > time_mono_ns() + 2000000000ull)
        brief.deadline_ns = time_mono_ns() + 2000000000ull;
    if (header_value(r->head, hend, "Transfer-Encoding", v, sizeof(v)))
        chunked = strstr(v, "chunked") != NULL;
    if (!chunked && header_value(r->head, hend, "Content-Length", v,
                                 sizeof(v)))
        want = strtoul(v, NULL, 10);
    if (!chunked && want > HTTP_REPLY_MAX)
        want = HTTP_REPLY_MAX;
    if (n > RAW_BODY_MAX)
        n = RAW_BODY_MAX;
    if (!chunked && n > want)
        n = want; /* bytes past Content-Length are not this body */
    memcpy(raw, hend, n);
    while (n < want && !(chunked && n >= 5 &&
                         memmem(raw, n, "0\r\n\r\n", 5))) {
        if (conn_read(r->c, raw + n, want - n, &got, &brief, r->err,
                      r->errn) != NET_OK || got == 0)
            break;
        n += got;
    }
    r->err[0] = '\0';
    if (chunked) {
        out->len = dechunk(raw, n, out->text, HTTP_REPLY_MAX);
    } else {
        out->len = n < HTTP_REPLY_MAX ? n : HTTP_REPLY_MAX;
        memcpy(out->text, raw, out->len);
    }
    out->text[out->len] = '\0';
}

/* A reply whose body we read: only a refusal's, for the log.  Not a 2xx
 * (nothing in it is used, and a server that keeps the connection open
 * without a length would hold us to the deadline; after a tunnel's 200
 * come TLS bytes), not 1xx, 204 or 304. */
static int has_body(long status)
{
    return status >= 300 && status != 304;
}

static void read_reply(conn *c, const net_clock *clk, http_reply *out)
{
    reader *r = malloc(sizeof(*r));
    const char *hend;
    char v[128];
    int rc;

    if (!r) {
        out->fail = NET_NOMEM;
        return;
    }
    r->c = c;
    r->clk = clk;
    r->len = r->head_end = 0;
    r->err = out->error;
    r->errn = sizeof(out->error);
    out->status = final_head(r, &rc);
    if (out->status < 0) {
        out->status = 0;
        out->fail = rc;
        free(r);
        return;
    }
    hend = r->head + r->head_end;
    if (header_value(r->head, hend, "Retry-After", v, sizeof(v)))
        out->retry_after_ms = http_parse_retry_after(v, time(NULL));
    header_value(r->head, hend, "Location", out->location,
                 sizeof(out->location));
    if (has_body(out->status))
        read_body(r, out);
    out->fail = NET_OK;
    free(r);
}

/* ---- one POST ---- */

static int open_tunnel(conn *c, const http_call *call, const net_clock *clk,
                       http_reply *out)
{
    const http_target *t = call->target;
    int v6 = strchr(t->host, ':') != NULL; /* bracketed, as in a URL */
    char where[300];
    http_reply pr;
    buf b;
    int rc;

    snprintf(where, sizeof(where), "%s%s%s:%s", v6 ? "[" : "", t->host,
             v6 ? "]" : "", t->port);
    buf_init(&b);
    buf_printf(&b, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n", where, where);
    if (t->proxy_auth)
        buf_printf(&b, "Proxy-Authorization: %s\r\n", t->proxy_auth);
    buf_puts(&b, "\r\n");
    rc = b.data ? conn_write(c, b.data, b.len, clk, out->error,
                             sizeof(out->error))
                : NET_NOMEM;
    if (b.data)
        memset(b.data, 0, b.len);
    buf_free(&b);
    if (rc != NET_OK)
        return rc;
    memset(&pr, 0, sizeof(pr));
    read_reply(c, clk, &pr);
    if (pr.fail != NET_OK) {
        snprintf(out->error, sizeof(out->error), "proxy %.100s: %.140s",
                 t->proxy_host, pr.error);
        return pr.fail;
    }
    if (pr.status < 200 || pr.status >= 300) {
        snprintf(out->error, sizeof(out->error), "proxy %.100s port %s refused "
                 "the tunnel: HTTP %ld", t->proxy_host, t->proxy_port,
                 pr.status);
        out->status = pr.status;
        return NET_PROXY;
    }
    return NET_OK;
}

static int connect_target(conn *c, const http_call *call,
                          const net_clock *clk, http_reply *out)
{
    const http_target *t = call->target;
    int rc;

    rc = conn_open(c, t->via_proxy ? t->proxy_host : t->host,
                   t->via_proxy ? t->proxy_port : t->port,
                   call->connect_timeout_ns, clk, out->error,
                   sizeof(out->error));
    if (rc == NET_OK && t->via_proxy && t->tls)
        rc = open_tunnel(c, call, clk, out);
    if (rc == NET_OK && t->tls) {
        if (!call->tls) {
            snprintf(out->error, sizeof(out->error), "no TLS context");
            return NET_TLS_MISSING;
        }
        rc = conn_start_tls(c, call->tls, t->host, clk, out->error,
                            sizeof(out->error));
    }
    return rc;
}

static int send_request(conn *c, const http_call *call, const net_clock *clk,
                        http_reply *out)
{
    size_t i, total = 0;
    char *head;
    int rc;

    for (i = 0; i < call->nbody; i++)
        total += call->body[i].len;
    head = request_head(call, total);
    if (!head)
        return NET_NOMEM;
    rc = conn_write(c, head, strlen(head), clk, out->error,
                    sizeof(out->error));
    wipe_free(head); /* it holds the credentials */
    for (i = 0; rc == NET_OK && i < call->nbody; i++)
        rc = conn_write(c, call->body[i].data, call->body[i].len, clk,
                        out->error, sizeof(out->error));
    return rc;
}

/* Failures of a wait say which limit ended them. */
static void explain(const http_call *call, http_reply *out)
{
    if (out->fail == NET_ABORTED)
        snprintf(out->error, sizeof(out->error), "cut short: the profiler "
                 "is stopping");
    else if (out->fail == NET_TIMEOUT && !strcmp(out->error, "timed out"))
        snprintf(out->error, sizeof(out->error), "no answer within the "
                 "%llu ms upload timeout",
                 (unsigned long long)(call->timeout_ns / 1000000u));
}

void http_post(const http_call *call, http_reply *out)
{
    net_clock clk = {time_mono_ns() + call->timeout_ns, call->abort,
                     call->abort_arg};
    net_clock late;
    conn c;
    int rc;

    memset(out, 0, sizeof(*out));
    rc = connect_target(&c, call, &clk, out);
    if (rc == NET_OK)
        rc = send_request(&c, call, &clk, out);
    if (rc == NET_OK) {
        read_reply(&c, &clk, out);
    } else if (c.fd >= 0 && (rc == NET_IO || rc == NET_TLS)) {
        /* A server may answer (413) and close before taking the whole
         * body: its answer says more than our broken pipe. */
        late = clk;
        if (late.deadline_ns > time_mono_ns() + 1000000000ull)
            late.deadline_ns = time_mono_ns() + 1000000000ull;
        read_reply(&c, &late, out);
        if (out->fail != NET_OK)
            out->fail = rc;
    } else {
        out->fail = rc;
    }
    conn_close(&c);
    explain(call, out);
}

/* ---- what an answer means ---- */

long http_clamp_retry_after(long long seconds)
{
    if (seconds <= 0)
        return 0;
    if (seconds > HTTP_RETRY_AFTER_MAX_MS / 1000)
        return HTTP_RETRY_AFTER_MAX_MS;
    return (long)seconds * 1000;
}

long http_parse_retry_after(const char *v, time_t now)
{
    struct tm tm;
    char *e;
    long long s = strtoll(v, &e, 10);

    if (e != v && *e == '\0')
        return http_clamp_retry_after(s);
    memset(&tm, 0, sizeof(tm));
    e = strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (!e || *e)
        return 0;
    return http_clamp_retry_after((long long)(timegm(&tm) - now));
}

int http_tls_failure(int fail)
{
    return fail == NET_TLS_VERIFY || fail == NET_TLS_MISSING;
}

int http_verdict(int fail, long status)
{
    if (fail == NET_PROXY && (status == 407 || status == 403))
        return HTTP_CONFIG;
    if (fail != NET_OK)
        return http_tls_failure(fail) ? HTTP_CONFIG : HTTP_RETRY;
    if (status >= 200 && status < 300)
        return HTTP_DELIVERED;
    /* Redirects are not followed; auth and a wrong URL are ours to fix,
     * and the profiles wait for the fix instead of being thrown away. */
    if ((status >= 300 && status < 400) || status == 401 || status == 403 ||
        status == 404 || status == 407)
        return HTTP_CONFIG;
    if (status >= 500 || status == 408 || status == 429 || status == 425)
        return HTTP_RETRY;
    return HTTP_DROP; /* 400, 413, 422...: this profile will never pass */
}
