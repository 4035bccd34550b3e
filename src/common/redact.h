/*
 * Keeping secrets out of log lines and error messages: URL userinfo is
 * replaced, configured secret strings are masked wherever they appear (for
 * instance in a server's error reply that echoes the request).
 */
#ifndef PYROSCOPE_COMMON_REDACT_H
#define PYROSCOPE_COMMON_REDACT_H

#include <stddef.h>

#define REDACTED "[redacted]"

/* Copy `url` into out[cap] with "user:password@" shown as "[redacted]@". */
void redact_url(const char *url, char *out, size_t cap);
/* Mask every occurrence of `secret` (if at least 4 bytes) in s, in place;
 * shorter secrets would mask ordinary words and are left alone. */
void redact_mask(char *s, const char *secret);
/* Make s printable in place: control and non-ASCII bytes become '?', so a
 * peer's text cannot add lines or escape sequences to our log. */
void redact_printable(char *s);
/* Index of the first byte of s that is CR, LF or another control character
 * other than TAB, or -1. */
long redact_first_ctl(const char *s);

#endif
