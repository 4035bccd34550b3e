#include "redact.h"

#include <stdio.h>
#include <string.h>

void redact_url(const char *url, char *out, size_t cap)
{
    const char *auth, *end, *at;

    if (!cap)
        return;
    if (!url) {
        snprintf(out, cap, "(null)");
        return;
    }
    auth = strstr(url, "://");
    auth = auth ? auth + 3 : url;
    end = auth + strcspn(auth, "/?#");
    /* The last '@' of the authority ends the userinfo (RFC 3986 3.2). */
    at = NULL;
    for (const char *p = auth; p < end; p++)
        if (*p == '@')
            at = p;
    if (!at) {
        snprintf(out, cap, "%s", url);
        return;
    }
    snprintf(out, cap, "%.*s" REDACTED "%s", (int)(auth - url), url, at);
}

void redact_mask(char *s, const char *secret)
{
    size_t n = secret ? strlen(secret) : 0, r = strlen(REDACTED);
    char *p, *from = s;

    if (!s || n < 4)
        return;
    while ((p = strstr(from, secret)) != NULL) {
        if (n >= r) {
            memcpy(p, REDACTED, r);
            memmove(p + r, p + n, strlen(p + n) + 1);
            from = p + r;
        } else {
            memset(p, '*', n);
            from = p + n;
        }
    }
}

void redact_printable(char *s)
{
    for (; s && *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
            *s = '?';
}

long redact_first_ctl(const char *s)
{
    const unsigned char *p;

    for (p = (const unsigned char *)s; p && *p; p++)
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
            return (long)(p - (const unsigned char *)s);
    return -1;
}
