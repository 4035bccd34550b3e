/*
 * SHA-256 and HMAC-SHA-256 (FIPS 180-4, RFC 2104), for authenticating
 * spool records.  Not constant-time in the length of the input, which is
 * public; the comparison helper is constant-time in the MAC.
 */
#ifndef PYROSCOPE_COMMON_SHA256_H
#define PYROSCOPE_COMMON_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN 32

typedef struct sha256_ctx {
    uint32_t h[8];
    uint64_t total;        /* bytes hashed so far */
    unsigned char blk[64];
    size_t used;           /* bytes waiting in blk */
} sha256_ctx;

void sha256_init(sha256_ctx *c);
void sha256_update(sha256_ctx *c, const void *data, size_t len);
void sha256_final(sha256_ctx *c, unsigned char out[SHA256_LEN]);

/* HMAC-SHA-256 of the concatenation of two parts (either may be empty). */
void hmac_sha256(const unsigned char *key, size_t key_len, const void *a,
                 size_t alen, const void *b, size_t blen,
                 unsigned char out[SHA256_LEN]);
/* 1 if the MACs are equal; time does not depend on where they differ. */
int mac_equal(const unsigned char *a, const unsigned char *b, size_t n);

#endif
