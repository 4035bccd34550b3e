#include "spool.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "../common/util.h"

#define MAGIC "PYSPOOL1"
#define PREFIX "pyroscope-spool-"
#define MAX_SPOOL_FILE (256u << 20)

/* Record: magic, 3 x u32 string lengths, u64 body length, strings, body. */
static unsigned char *serialize(const upload_job *job, size_t *len)
{
    const char *ct = job->content_type ? job->content_type : "";
    const char *fn = job->file_name ? job->file_name : "";
    uint32_t l[3] = {(uint32_t)strlen(job->path ? job->path : ""),
                     (uint32_t)strlen(ct), (uint32_t)strlen(fn)};
    uint64_t bl = job->len;
    size_t n = 8 + sizeof(l) + sizeof(bl) + l[0] + l[1] + l[2] + job->len;
    unsigned char *d = malloc(n), *p = d;

    if (!d)
        return NULL;
    memcpy(p, MAGIC, 8), p += 8;
    memcpy(p, l, sizeof(l)), p += sizeof(l);
    memcpy(p, &bl, sizeof(bl)), p += sizeof(bl);
    memcpy(p, job->path ? job->path : "", l[0]), p += l[0];
    memcpy(p, ct, l[1]), p += l[1];
    memcpy(p, fn, l[2]), p += l[2];
    memcpy(p, job->body, job->len);
    *len = n;
    return d;
}

static char *take_str(const unsigned char **p, uint32_t n)
{
    char *s = malloc((size_t)n + 1);

    if (s) {
        memcpy(s, *p, n);
        s[n] = '\0';
    }
    *p += n;
    return s;
}

/* Content types are static strings in jobs: map back to ours. */
static const char *known_type(const char *ct)
{
    return strcmp(ct, "application/proto") == 0 ? "application/proto" : NULL;
}

static int deserialize(const unsigned char *d, size_t n, upload_job *out)
{
    const unsigned char *p = d + 8;
    uint32_t l[3];
    uint64_t bl;
    char *ct;

    if (n < 8 + sizeof(l) + sizeof(bl) || memcmp(d, MAGIC, 8) != 0)
        return -1;
    memcpy(l, p, sizeof(l)), p += sizeof(l);
    memcpy(&bl, p, sizeof(bl)), p += sizeof(bl);
    if ((uint64_t)l[0] + l[1] + l[2] + bl > n - (size_t)(p - d))
        return -1;
    memset(out, 0, sizeof(*out));
    out->path = take_str(&p, l[0]);
    ct = take_str(&p, l[1]);
    out->content_type = ct ? known_type(ct) : NULL;
    free(ct);
    out->file_name = take_str(&p, l[2]);
    out->body = malloc(bl ? bl : 1);
    if (!out->path || !out->file_name || !out->body) {
        upload_job_free(out);
        return -1;
    }
    memcpy(out->body, p, bl);
    out->len = bl;
    return 0;
}

int spool_write(const char *dir, const upload_job *job)
{
    static unsigned seq;
    char path[4096], tmp[4200];
    size_t raw_len, bound, clen;
    unsigned char *raw = serialize(job, &raw_len);
    void *c;
    FILE *f;
    int rc = -1;

    if (!raw)
        return -1;
    bound = ZSTD_compressBound(raw_len);
    c = malloc(bound);
    if (c) {
        clen = ZSTD_compress(c, bound, raw, raw_len, 3);
        snprintf(path, sizeof(path), "%s/" PREFIX "%020llu-%ld-%u.zst", dir,
                 (unsigned long long)time_now_ns(), (long)getpid(), seq++);
        snprintf(tmp, sizeof(tmp), "%s.tmp", path);
        f = ZSTD_isError(clen) ? NULL : fopen(tmp, "wbe");
        if (f) {
            rc = fwrite(c, 1, clen, f) == clen ? 0 : -1;
            if (fclose(f) != 0 || rc != 0 || rename(tmp, path) != 0) {
                unlink(tmp);
                rc = -1;
            }
        }
    }
    free(c);
    free(raw);
    return rc;
}

static int is_spool_file(const char *name)
{
    size_t n = strlen(name);

    return strncmp(name, PREFIX, strlen(PREFIX)) == 0 && n > 4 &&
           strcmp(name + n - 4, ".zst") == 0;
}

/* Name of the oldest spool file (names sort by time), or 0. */
static int oldest(const char *dir, char *out, size_t cap)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int found = 0;

    if (!d)
        return 0;
    while ((de = readdir(d)) != NULL) {
        if (!is_spool_file(de->d_name))
            continue;
        if (!found || strcmp(de->d_name, out) < 0) {
            snprintf(out, cap, "%s", de->d_name);
            found = 1;
        }
    }
    closedir(d);
    return found;
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rbe");
    unsigned char *d = NULL;
    long n;

    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 &&
        (size_t)n < MAX_SPOOL_FILE && fseek(f, 0, SEEK_SET) == 0) {
        d = malloc((size_t)n);
        if (d && fread(d, 1, (size_t)n, f) != (size_t)n) {
            free(d);
            d = NULL;
        }
        *len = (size_t)n;
    }
    fclose(f);
    return d;
}

static int decode_file(const char *path, upload_job *out)
{
    size_t clen = 0, rlen;
    unsigned char *c = slurp(path, &clen), *raw;
    unsigned long long size;
    int rc = -1;

    if (!c)
        return -1;
    size = ZSTD_getFrameContentSize(c, clen);
    if (size != ZSTD_CONTENTSIZE_ERROR && size != ZSTD_CONTENTSIZE_UNKNOWN &&
        size < MAX_SPOOL_FILE) {
        raw = malloc(size ? size : 1);
        rlen = raw ? ZSTD_decompress(raw, size, c, clen) : 0;
        if (raw && !ZSTD_isError(rlen))
            rc = deserialize(raw, rlen, out);
        free(raw);
    }
    free(c);
    return rc;
}

int spool_take(const char *dir, upload_job *out)
{
    char name[512], path[4096], claimed[4200];

    while (oldest(dir, name, sizeof(name))) {
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        snprintf(claimed, sizeof(claimed), "%s/.claimed-%ld-%s", dir,
                 (long)getpid(), name);
        if (rename(path, claimed) != 0)
            continue; /* another process took it */
        if (decode_file(claimed, out) == 0) {
            unlink(claimed);
            return 0;
        }
        unlink(claimed); /* corrupt: nothing to deliver */
    }
    return -1;
}

void spool_usage(const char *dir, size_t *files, uint64_t *bytes)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char path[4096];
    struct stat st;

    *files = 0;
    *bytes = 0;
    while (d && (de = readdir(d)) != NULL) {
        if (!is_spool_file(de->d_name))
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if (stat(path, &st) == 0) {
            (*files)++;
            *bytes += (uint64_t)st.st_size;
        }
    }
    if (d)
        closedir(d);
}

size_t spool_trim(const char *dir, uint64_t max_bytes)
{
    char name[512], path[4096];
    size_t files, deleted = 0;
    uint64_t bytes;

    spool_usage(dir, &files, &bytes);
    while (bytes > max_bytes && oldest(dir, name, sizeof(name))) {
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        if (stat(path, &st) != 0 || unlink(path) != 0)
            break;
        bytes -= (uint64_t)st.st_size;
        deleted++;
    }
    return deleted;
}
