#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "../common/log.h"
#include "../common/sha256.h"
#include "../common/util.h"
#include "record.h"
#include "../fdguard/fdguard.h"

#define PREFIX "pyroscope-spool-"
#define SUFFIX ".zst"
#define CLAIMED ".claimed-"
#define TMP ".tmp-"
#define QUARANTINE ".quarantine-"
#define KEY_NAME ".pyroscope-spool.key"
#define MAGIC "PYSPOOL2"
#define MAGIC_LEN 8
#define KEY_LEN 32
#define HEAD_LEN (MAGIC_LEN + SHA256_LEN)
#define MAX_RAW (RECORD_MAX_BODY + (1u << 20))
#define MAX_FILE (MAX_RAW + (1u << 20))
/* A claim whose owner cannot be checked (another pid namespace) is taken
 * back after this long; claims are held for one delivery attempt only. */
#define CLAIM_STALE_S 600
#define QUARANTINE_KEEP 16
/* Our names stay far below NAME_MAX; room for any d_name plus a prefix. */
#define NAME_BUF 512

struct spool {
    char dir[PATH_MAX];
    int dirfd;
    unsigned char key[KEY_LEN];
    atomic_uint seq;
    int have_proc; /* /proc/<pid>/stat tells whether a claimer lives */
};

/* ---- names ---- */

static int digits(const char *p, size_t min, size_t max)
{
    size_t n = 0;

    while (p[n] >= '0' && p[n] <= '9')
        n++;
    return n >= min && n <= max ? (int)n : -1;
}

/* Exactly PREFIX <20 digits>-<pid>-<seq>.zst, as spool_write names them. */
static int is_record_name(const char *name)
{
    const char *p = name;
    int n;

    if (strncmp(p, PREFIX, strlen(PREFIX)) != 0)
        return 0;
    p += strlen(PREFIX);
    if ((n = digits(p, 20, 20)) < 0 || p[n] != '-')
        return 0;
    p += n + 1;
    if ((n = digits(p, 1, 10)) < 0 || p[n] != '-')
        return 0;
    p += n + 1;
    if ((n = digits(p, 1, 10)) < 0)
        return 0;
    return strcmp(p + n, SUFFIX) == 0;
}

/* Parse "<pid>-<n>-" at p; the rest (after the last dash) in *rest. */
static int parse_owner(const char *p, long *pid, unsigned long long *n,
                       const char **rest)
{
    char *end;

    errno = 0;
    *pid = strtol(p, &end, 10);
    if (errno || end == p || *end != '-' || *pid <= 0)
        return -1;
    p = end + 1;
    *n = strtoull(p, &end, 10);
    if (errno || end == p || *end != '-')
        return -1;
    *rest = end + 1;
    return 0;
}

/* Our name in the log and in ".quarantine-<name>": only [A-Za-z0-9._-]. */
static void sanitize(const char *name, char *out, size_t cap)
{
    size_t i;

    for (i = 0; name[i] && i + 1 < cap; i++) {
        unsigned char c = (unsigned char)name[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                 (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
        out[i] = ok ? (char)c : '_';
    }
    out[i] = '\0';
}

/* ---- who is alive ---- */

/* Field 22 of /proc/<pid>/stat (start time in ticks since boot): 0, or -1
 * if there is no such process, -2 if it cannot be read. */
static int proc_start(long pid, unsigned long long *out)
{
    char path[64], b[1024], *p;
    ssize_t n;
    int fd, i;

    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    fd = FDGUARD(open(path, O_RDONLY | O_CLOEXEC));
    if (fd < 0)
        return errno == ENOENT || errno == ESRCH ? -1 : -2;
    n = read(fd, b, sizeof(b) - 1);
    fdguard_close(fd);
    if (n <= 0)
        return -2;
    b[n] = '\0';
    p = strrchr(b, ')'); /* the command name may hold anything */
    if (!p)
        return -2;
    for (i = 0; i < 20 && p; i++)
        p = strchr(p + 1, ' ');
    if (!p)
        return -2;
    *out = strtoull(p + 1, NULL, 10);
    return 0;
}

static unsigned long long self_start(void)
{
    unsigned long long st = 0;

    return proc_start((long)getpid(), &st) == 0 ? st : 0;
}

static int owner_alive(const spool *s, long pid, unsigned long long start)
{
    unsigned long long now = 0;
    int r;

    if (s->have_proc) {
        r = proc_start(pid, &now);
        if (r == 0)
            return now == start; /* else the pid was reused */
        if (r == -1)
            return 0;
    }
    return !(kill((pid_t)pid, 0) != 0 && errno == ESRCH);
}

/* ---- files ---- */

static int write_all(int fd, const void *data, size_t len)
{
    const unsigned char *p = data;
    ssize_t w;

    while (len > 0) {
        w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Create `name` atomically: a private temp file (named after us, so a
 * leftover of a dead writer can be recognised) renamed into place. */
static int put_file(spool *s, const char *name, const void *a, size_t alen,
                    const void *b, size_t blen, int replace)
{
    char tmp[NAME_BUF];
    int fd, rc;

    snprintf(tmp, sizeof(tmp), TMP "%ld-%llu-%s", (long)getpid(),
             self_start(), name);
    fd = FDGUARD(openat(s->dirfd, tmp,
                        O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                        0600));
    if (fd < 0)
        return -1;
    rc = write_all(fd, a, alen) || write_all(fd, b, blen) ? -1 : 0;
    if (fdguard_close(fd) != 0)
        rc = -1;
    if (rc == 0 && replace)
        rc = renameat(s->dirfd, tmp, s->dirfd, name);
    else if (rc == 0) /* keep an existing file (the key) */
        rc = linkat(s->dirfd, tmp, s->dirfd, name, 0) == 0 || errno == EEXIST
                 ? 0 : -1;
    if (rc != 0 || !replace)
        unlinkat(s->dirfd, tmp, 0);
    return rc;
}

/* Open a file we are about to trust: ours, regular, not writable by
 * others, one link, size in [min, max]; -1 with *why set. */
static int open_trusted(spool *s, const char *name, off_t min, off_t max,
                        struct stat *st, const char **why)
{
    int fd = FDGUARD(openat(s->dirfd, name, O_RDONLY | O_NOFOLLOW |
                            O_NONBLOCK | O_NOCTTY | O_CLOEXEC));

    if (fd < 0) {
        *why = errno == ELOOP ? "it is a symbolic link" : "it cannot be opened";
        return -1;
    }
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode))
        *why = "it is not a regular file";
    else if (st->st_uid != geteuid())
        *why = "it is owned by another user";
    else if (st->st_mode & 022)
        *why = "group or others may write it";
    else if (st->st_nlink != 1)
        *why = "it has other hard links";
    else if (st->st_size < min || st->st_size > max)
        *why = "its size is out of bounds";
    else
        return fd;
    fdguard_close(fd);
    errno = EPERM; /* not ENOENT: the file is there */
    return -1;
}

static unsigned char *read_fd(int fd, size_t len)
{
    unsigned char *d = malloc(len ? len : 1);
    size_t got = 0;
    ssize_t r;

    while (d && got < len) {
        r = read(fd, d + got, len - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            free(d);
            return NULL;
        }
        got += (size_t)r;
    }
    return d;
}

/* ---- the key ---- */

/* 0 with s->key set, 1 if there is no key yet, -1 if the file is not a
 * private key of ours (error set). */
static int read_key(spool *s)
{
    struct stat st;
    const char *why = "it cannot be read";
    unsigned char *k = NULL;
    int fd = open_trusted(s, KEY_NAME, KEY_LEN, KEY_LEN, &st, &why);

    if (fd < 0 && errno == ENOENT)
        return 1;
    if (fd >= 0 && (st.st_mode & 077))
        why = "group or others may read it";
    else if (fd >= 0)
        k = read_fd(fd, KEY_LEN);
    if (fd >= 0)
        fdguard_close(fd);
    if (!k) {
        error_set(PYROSCOPE_EINVAL, "spool key %s/" KEY_NAME ": %s", s->dir,
                  why);
        return -1;
    }
    memcpy(s->key, k, KEY_LEN);
    memset(k, 0, KEY_LEN);
    free(k);
    return 0;
}

static int load_key(spool *s)
{
    unsigned char fresh[KEY_LEN];
    int rc = read_key(s);

    if (rc == 1) {
        if (random_bytes(fresh, sizeof(fresh)) != 0)
            return error_set(PYROSCOPE_EIO, "no random bytes for the spool "
                             "key");
        /* Two processes may race here: linkat keeps the first key. */
        put_file(s, KEY_NAME, fresh, sizeof(fresh), NULL, 0, 0);
        memset(fresh, 0, sizeof(fresh));
        rc = read_key(s);
    }
    if (rc == 1)
        error_set(PYROSCOPE_EINVAL, "spool key %s/" KEY_NAME
                  " cannot be created: %s", s->dir, strerror(errno));
    return rc == 0 ? 0 : PYROSCOPE_EINVAL;
}

/* ---- opening ---- */

static int private_subdir(const char *dir, char *out, size_t cap)
{
    struct stat st;

    snprintf(out, cap, "%s/pyroscope-%ld", dir, (long)geteuid());
    if (mkdir(out, 0700) != 0 && errno != EEXIST)
        return error_set(PYROSCOPE_EINVAL, "spool_dir: cannot create %s: %s",
                         out, strerror(errno));
    if (lstat(out, &st) != 0 || !S_ISDIR(st.st_mode) ||
        st.st_uid != geteuid() || (st.st_mode & 077))
        return error_set(PYROSCOPE_EINVAL,
                         "spool_dir: %s is not a private directory of uid %ld "
                         "(someone else made it?); choose another spool_dir",
                         out, (long)geteuid());
    return 0;
}

static int pick_dir(spool *s, const char *dir)
{
    struct stat st;

    if (stat(dir, &st) != 0 && errno == ENOENT && mkdir(dir, 0700) != 0 &&
        errno != EEXIST)
        return error_set(PYROSCOPE_EINVAL, "spool_dir %s: cannot create: %s",
                         dir, strerror(errno));
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return error_set(PYROSCOPE_EINVAL,
                         "spool_dir %s is not a directory", dir);
    if (st.st_uid == geteuid() && !(st.st_mode & 022)) {
        snprintf(s->dir, sizeof(s->dir), "%s", dir);
        return 0;
    }
    /* Shared, like /tmp: others could plant or swap files here. */
    if (private_subdir(dir, s->dir, sizeof(s->dir)) != 0)
        return PYROSCOPE_EINVAL;
    LOG_INFO("spool_dir %s is shared with other users: spooling to %s", dir,
             s->dir);
    return 0;
}

int spool_open(spool **out, const char *dir)
{
    spool *s = calloc(1, sizeof(*s));
    int rc;

    if (!s)
        return PYROSCOPE_ENOMEM;
    s->dirfd = -1;
    s->have_proc = self_start() != 0;
    rc = pick_dir(s, dir);
    if (rc == 0) {
        s->dirfd = FDGUARD(open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (s->dirfd < 0 || faccessat(s->dirfd, ".", W_OK, 0) != 0)
            rc = error_set(PYROSCOPE_EINVAL,
                           "spool_dir %s is not a writable directory: %s",
                           s->dir, strerror(errno));
    }
    if (rc == 0)
        rc = load_key(s);
    if (rc != 0) {
        spool_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

void spool_close(spool *s)
{
    if (!s)
        return;
    if (s->dirfd >= 0)
        fdguard_close(s->dirfd);
    memset(s->key, 0, sizeof(s->key));
    free(s);
}

const char *spool_path(const spool *s)
{
    return s->dir;
}

/* ---- writing ---- */

static void mac_of(const spool *s, const void *c, size_t clen,
                   unsigned char out[SHA256_LEN])
{
    hmac_sha256(s->key, KEY_LEN, MAGIC, MAGIC_LEN, c, clen, out);
}

/* File layout: MAGIC, HMAC(key, MAGIC || frame), zstd frame of record. */
static int seal(spool *s, const unsigned char *rec, size_t len,
                const char *name)
{
    size_t bound = ZSTD_compressBound(len), clen;
    unsigned char head[HEAD_LEN];
    char fresh[NAME_BUF];
    void *c = malloc(bound);
    int rc = -1;

    if (!name) {
        snprintf(fresh, sizeof(fresh), PREFIX "%020llu-%ld-%u" SUFFIX,
                 (unsigned long long)time_now_ns(), (long)getpid(),
                 atomic_fetch_add(&s->seq, 1) % 1000000000u);
        name = fresh;
    }
    if (c) {
        clen = ZSTD_compress(c, bound, rec, len, 3);
        if (!ZSTD_isError(clen)) {
            memcpy(head, MAGIC, MAGIC_LEN);
            mac_of(s, c, clen, head + MAGIC_LEN);
            rc = put_file(s, name, head, sizeof(head), c, clen, 1);
        }
    }
    free(c);
    return rc;
}

int spool_write_raw(spool *s, const unsigned char *rec, size_t len,
                    const char *name)
{
    return seal(s, rec, len, name);
}

int spool_write(spool *s, const upload_job *job)
{
    const char *why = "out of memory";
    buf raw;
    int rc;

    buf_init(&raw);
    rc = record_encode(job, &raw, &why);
    if (rc == 0 && seal(s, (unsigned char *)raw.data, raw.len, NULL) != 0) {
        why = strerror(errno);
        rc = -1;
    }
    if (rc != 0)
        LOG_WARN("spool: cannot keep a profile in %s (%s): dropped", s->dir,
                 why);
    buf_free(&raw);
    return rc;
}

/* ---- reading ---- */

static int unseal(spool *s, const unsigned char *d, size_t n, upload_job *out,
                  const char **why)
{
    unsigned char mac[SHA256_LEN], *raw;
    const unsigned char *c = d + HEAD_LEN;
    size_t clen = n - HEAD_LEN, rlen;
    unsigned long long size;
    int rc;

    if (memcmp(d, MAGIC, MAGIC_LEN) != 0) {
        *why = "it is not a spool record of this version";
        return -1;
    }
    mac_of(s, c, clen, mac);
    if (!mac_equal(mac, d + MAGIC_LEN, SHA256_LEN)) {
        *why = "its MAC does not match (another key, or altered)";
        return -1;
    }
    size = ZSTD_getFrameContentSize(c, clen);
    if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN ||
        size > MAX_RAW || ZSTD_findFrameCompressedSize(c, clen) != clen) {
        *why = "its compressed frame is malformed";
        return -1;
    }
    raw = malloc(size ? size : 1);
    if (!raw) {
        *why = "out of memory";
        return -1;
    }
    rlen = ZSTD_decompress(raw, size, c, clen);
    rc = ZSTD_isError(rlen) || rlen != size
             ? (*why = "its compressed frame is malformed", -1)
             : record_decode(raw, rlen, out, why);
    free(raw);
    return rc;
}

static int load(spool *s, const char *name, upload_job *out, const char **why)
{
    struct stat st;
    unsigned char *d;
    int fd = open_trusted(s, name, HEAD_LEN + 1, MAX_FILE, &st, why), rc;

    if (fd < 0)
        return -1;
    d = read_fd(fd, (size_t)st.st_size);
    fdguard_close(fd);
    if (!d) {
        *why = "it cannot be read";
        return -1;
    }
    rc = unseal(s, d, (size_t)st.st_size, out, why);
    free(d);
    return rc;
}

static void quarantine(spool *s, const char *from, const char *orig,
                       const char *why)
{
    char clean[200], to[NAME_BUF];

    sanitize(orig, clean, sizeof(clean));
    snprintf(to, sizeof(to), QUARANTINE "%s", clean);
    if (renameat(s->dirfd, from, s->dirfd, to) != 0)
        return; /* gone already: someone else dealt with it */
    LOG_WARN("spool: rejected %s in %s because %s; moved aside as %s, "
             "never sent", clean, s->dir, why, to);
}

/* ".claimed-<pid>-<start>-<time>-<record>": 0 with the parts, or -1. */
static int parse_claim(const char *name, long *pid, unsigned long long *start,
                       unsigned long long *when, const char **orig)
{
    const char *rest;
    char *end;

    if (strncmp(name, CLAIMED, strlen(CLAIMED)) != 0 ||
        parse_owner(name + strlen(CLAIMED), pid, start, &rest) != 0)
        return -1;
    errno = 0;
    *when = strtoull(rest, &end, 10);
    if (errno || end == rest || *end != '-' || !is_record_name(end + 1))
        return -1;
    *orig = end + 1;
    return 0;
}

/* A claim whose owner died (or that is very old) goes back under its
 * record name, so that its profile is delivered by someone else. */
static const char *reclaim_if_stale(spool *s, const char *name)
{
    unsigned long long start, when;
    const char *orig;
    long pid;

    if (parse_claim(name, &pid, &start, &when, &orig) != 0)
        return NULL;
    if (owner_alive(s, pid, start) &&
        (unsigned long long)time(NULL) < when + CLAIM_STALE_S)
        return NULL;
    if (renameat(s->dirfd, name, s->dirfd, orig) != 0)
        return NULL;
    LOG_DEBUG("spool: took back %s from process %ld", orig, pid);
    return orig;
}

static void consider(const char *n, char *out, size_t cap, int *found)
{
    if ((!*found || strcmp(n, out) < 0) && strlen(n) < cap) {
        memcpy(out, n, strlen(n) + 1);
        *found = 1;
    }
}

/* Leftover temp file of a writer that died before renaming it. */
static void drop_if_orphan(spool *s, const char *name)
{
    unsigned long long start;
    const char *rest;
    long pid;

    if (parse_owner(name + strlen(TMP), &pid, &start, &rest) == 0 &&
        !owner_alive(s, pid, start))
        unlinkat(s->dirfd, name, 0);
}

/* Oldest record name into out; tidies claims and temp files on the way. */
static int scan(spool *s, char *out, size_t cap)
{
    int fd = FDGUARD(openat(s->dirfd, ".",
                            O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *de;
    int found = 0;

    if (!d) {
        if (fd >= 0)
            fdguard_close(fd);
        return 0;
    }
    while ((de = readdir(d)) != NULL) {
        const char *n = de->d_name, *back;
        if (strncmp(n, CLAIMED, strlen(CLAIMED)) == 0) {
            /* readdir may not show the new name in this pass */
            if ((back = reclaim_if_stale(s, n)) != NULL)
                consider(back, out, cap, &found);
        } else if (strncmp(n, TMP, strlen(TMP)) == 0) {
            drop_if_orphan(s, n);
        } else if (strncmp(n, PREFIX, strlen(PREFIX)) != 0) {
            continue;
        } else if (!is_record_name(n)) {
            quarantine(s, n, n, "its name is not one we write");
        } else {
            consider(n, out, cap, &found);
        }
    }
    fdguard_closedir(d);
    return found;
}

int spool_claim(spool *s, upload_job *out)
{
    char name[128], claimed[NAME_BUF]; /* record names are ~62 bytes */
    const char *why = NULL;
    int tries;

    for (tries = 0; tries < 256 && scan(s, name, sizeof(name)); tries++) {
        snprintf(claimed, sizeof(claimed), CLAIMED "%ld-%llu-%llu-%s",
                 (long)getpid(), self_start(),
                 (unsigned long long)time(NULL), name);
        if (renameat(s->dirfd, name, s->dirfd, claimed) != 0)
            continue; /* another process took it */
        if (load(s, claimed, out, &why) == 0) {
            out->spool_ref = str_dup(claimed);
            if (out->spool_ref)
                return 0;
            upload_job_free(out);
            renameat(s->dirfd, claimed, s->dirfd, name);
            return -1;
        }
        quarantine(s, claimed, name, why);
    }
    return -1;
}

void spool_done(spool *s, upload_job *job)
{
    if (!job->spool_ref)
        return;
    if (unlinkat(s->dirfd, job->spool_ref, 0) != 0)
        LOG_DEBUG("spool: %s was taken back by another process (it may be "
                  "delivered twice)", job->spool_ref);
    free(job->spool_ref);
    job->spool_ref = NULL;
}

void spool_release(spool *s, upload_job *job)
{
    unsigned long long start, when;
    const char *orig;
    long pid;

    if (!job->spool_ref)
        return;
    if (parse_claim(job->spool_ref, &pid, &start, &when, &orig) == 0)
        renameat(s->dirfd, job->spool_ref, s->dirfd, orig);
    free(job->spool_ref);
    job->spool_ref = NULL;
}

/* ---- space ---- */

typedef struct entry {
    char *name;
    uint64_t size;
    int claimed;
} entry;

typedef struct listing {
    entry *v;
    size_t n, cap;
    uint64_t bytes;
} listing;

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const entry *)a)->name, ((const entry *)b)->name);
}

/* Records (and claimed records) or, with `quar`, quarantined files. */
static void list_dir(int dirfd, int quar, listing *l)
{
    int fd = FDGUARD(openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *de;
    struct stat st;

    memset(l, 0, sizeof(*l));
    if (!d) {
        if (fd >= 0)
            fdguard_close(fd);
        return;
    }
    while ((de = readdir(d)) != NULL) {
        const char *n = de->d_name;
        int claimed = strncmp(n, CLAIMED, strlen(CLAIMED)) == 0;
        int ok = quar ? strncmp(n, QUARANTINE, strlen(QUARANTINE)) == 0
                      : (claimed || is_record_name(n));
        if (!ok || fstatat(dirfd, n, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            array_grow((void **)&l->v, &l->cap, l->n + 1, sizeof(entry)))
            continue;
        l->v[l->n].name = str_dup(n);
        if (!l->v[l->n].name)
            continue;
        l->v[l->n].size = (uint64_t)st.st_size;
        l->v[l->n++].claimed = claimed;
        l->bytes += (uint64_t)st.st_size;
    }
    fdguard_closedir(d);
    if (l->n)
        qsort(l->v, l->n, sizeof(entry), entry_cmp);
}

static void listing_free(listing *l)
{
    size_t i;

    for (i = 0; i < l->n; i++)
        free(l->v[i].name);
    free(l->v);
}

size_t spool_trim(spool *s, uint64_t max_bytes)
{
    listing l;
    size_t i, deleted = 0;

    list_dir(s->dirfd, 0, &l);
    /* Names sort by creation time: the front is the oldest. */
    for (i = 0; i < l.n && l.bytes > max_bytes; i++) {
        if (l.v[i].claimed || unlinkat(s->dirfd, l.v[i].name, 0) != 0)
            continue;
        l.bytes -= l.v[i].size;
        deleted++;
    }
    listing_free(&l);
    list_dir(s->dirfd, 1, &l);
    for (i = 0; i + QUARANTINE_KEEP < l.n; i++)
        unlinkat(s->dirfd, l.v[i].name, 0);
    listing_free(&l);
    return deleted;
}

void spool_usage(const char *dir, size_t *files, uint64_t *bytes)
{
    int fd = FDGUARD(open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    listing l;

    *files = 0;
    *bytes = 0;
    if (fd < 0)
        return;
    list_dir(fd, 0, &l);
    *files = l.n;
    *bytes = l.bytes;
    listing_free(&l);
    fdguard_close(fd);
}
