#include "http.h"

#include <string.h>
#include <sys/socket.h>

#include "../fdguard/fdguard.h"

/* curl's connections are descriptors of ours too (fdguard.h): a host that
 * closes every descriptor must not get our request written into its own. */
static curl_socket_t open_socket(void *ud, curlsocktype purpose,
                                 struct curl_sockaddr *a)
{
    int fd;

    (void)ud;
    (void)purpose;
    fd = FDGUARD(socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol));
    return fd < 0 ? CURL_SOCKET_BAD : fd;
}

static int close_socket(void *ud, curl_socket_t fd)
{
    (void)ud;
    return fdguard_close(fd);
}

void http_secure(CURL *c, const char *ca_file, int insecure)
{
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85: the _STR forms */
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(c, CURLOPT_PROTOCOLS,
                     (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS,
                     (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    /* A redirect could carry the token or basic auth to another host. */
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_UNRESTRICTED_AUTH, 0L);
    curl_easy_setopt(c, CURLOPT_NETRC, (long)CURL_NETRC_IGNORED);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, insecure ? 0L : 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, insecure ? 0L : 2L);
    if (ca_file && *ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, ca_file);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(c, CURLOPT_CLOSESOCKETFUNCTION, close_socket);
}

static size_t keep_cb(char *p, size_t s, size_t n, void *ud)
{
    http_reply *r = ud;
    size_t len = s * n, room = HTTP_REPLY_MAX - r->len;

    if (room > len)
        room = len;
    memcpy(r->text + r->len, p, room);
    r->len += room;
    r->text[r->len] = '\0';
    return len; /* the rest is read and discarded */
}

void http_capture(CURL *c, http_reply *r)
{
    memset(r, 0, sizeof(*r));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, keep_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, r->error);
}

long http_clamp_retry_after(long long seconds)
{
    if (seconds <= 0)
        return 0;
    if (seconds > HTTP_RETRY_AFTER_MAX_MS / 1000)
        return HTTP_RETRY_AFTER_MAX_MS;
    return (long)seconds * 1000;
}

long http_retry_after_ms(CURL *c)
{
#if LIBCURL_VERSION_NUM >= 0x074200 /* 7.66: both forms, date or seconds */
    curl_off_t s = 0;

    if (curl_easy_getinfo(c, CURLINFO_RETRY_AFTER, &s) == CURLE_OK)
        return http_clamp_retry_after((long long)s);
#else
    (void)c;
#endif
    return 0;
}

int http_tls_failure(CURLcode rc)
{
    return rc == CURLE_PEER_FAILED_VERIFICATION ||
           rc == CURLE_SSL_CACERT_BADFILE || rc == CURLE_SSL_CERTPROBLEM ||
           rc == CURLE_SSL_ISSUER_ERROR;
}

int http_verdict(CURLcode rc, long status)
{
    /* Not CURLE_UNSUPPORTED_PROTOCOL: curl also says that of a garbled
     * reply (HTTP/0.9), which is the server's fault and may pass. */
    if (rc != CURLE_OK)
        return http_tls_failure(rc) ? HTTP_CONFIG : HTTP_RETRY;
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
