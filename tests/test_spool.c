/*
 * The spool as a hostile neighbour sees it: planted records (the old
 * format with a path that moves the request to another port, bad MACs,
 * sealed records with fields outside the fixed set, symlinks, FIFOs,
 * group-writable and oversized files) are quarantined and never sent;
 * file:// names never come from a record; directory and key permissions;
 * claims that survive a dead claimer and are released or deleted only as
 * delivery demands.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zstd.h>

#include "common/sha256.h"
#include "pyroscope.h"
#include "support/http_server.h"
#include "support/test.h"
#include "support/workload.h"
#include "upload/record.h"
#include "upload/spool.h"

#define PUSH_PATH "/push.v1.PusherService/Push"

/* ---- helpers ---- */

static char *cat(const char *a, const char *b)
{
    char *d = malloc(strlen(a) + strlen(b) + 2);

    sprintf(d, "%s/%s", a, b);
    return d;
}

static int exists(const char *dir, const char *name)
{
    char *p = cat(dir, name);
    struct stat st;
    int r = lstat(p, &st) == 0;

    free(p);
    return r;
}

/* Number of entries of dir whose name starts with `prefix`. */
static size_t count_prefix(const char *dir, const char *prefix)
{
    char cmd[600], out[64];
    FILE *f;
    size_t n = 0;

    snprintf(cmd, sizeof(cmd), "ls -A '%s' | grep -c '^%s' || true", dir,
             prefix);
    f = popen(cmd, "r");
    if (f && fgets(out, sizeof(out), f))
        n = (size_t)atol(out);
    if (f)
        pclose(f);
    return n;
}

static upload_job make_job(const char *path, const char *file_name,
                           const char *ct, const char *body)
{
    upload_job j;

    memset(&j, 0, sizeof(j));
    j.path = str_dup(path);
    j.file_name = file_name ? str_dup(file_name) : NULL;
    j.content_type = ct;
    j.len = strlen(body);
    j.body = (unsigned char *)str_dup(body);
    upload_new_id(j.id);
    return j;
}

#define INGEST_PATH                                                           \
    "/ingest?name=app.cpu%7Benv%3Dci%7D&from=1700000000&until=1700000010"   \
    "&format=pprof&sampleRate=100&spyName=pyroscope-c&units=samples"        \
    "&aggregationType=sum"

static void write_plain(const char *dir, const char *name, const void *d,
                        size_t n, mode_t mode)
{
    char *p = cat(dir, name);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);

    ASSERT(fd >= 0);
    ASSERT((size_t)write(fd, d, n) == n);
    close(fd);
    chmod(p, mode);
    free(p);
}

/* ---- round trips and what spool_write refuses ---- */

static void roundtrip(spool *s, upload_job j)
{
    upload_job out;

    ASSERT_EQ(spool_write(s, &j), 0);
    ASSERT_EQ(spool_claim(s, &out), 0);
    ASSERT_STR_EQ(out.path, j.path);
    ASSERT_STR_EQ(out.id, j.id);
    ASSERT(out.content_type == j.content_type ||
           strcmp(out.content_type, j.content_type) == 0);
    ASSERT_EQ(out.len, j.len);
    ASSERT(memcmp(out.body, j.body, j.len) == 0);
    if (j.file_name)
        ASSERT_STR_EQ(out.file_name, j.file_name);
    else
        ASSERT(out.file_name == NULL);
    ASSERT(out.spool_ref && strncmp(out.spool_ref, ".claimed-", 9) == 0);
    spool_done(s, &out);
    upload_job_free(&out);
    upload_job_free(&j);
}

static void test_roundtrip_and_refusals(void)
{
    char *dir = wl_tempdir("spool_rt");
    static const char *const evil_paths[] = {
        "@127.0.0.1:18322/stolen?x=",           /* the reported attack */
        "/ingest?name=a.cpu%7B%7D&from=1&until=2&host=evil",
        "/ingest?name=a.cpu%7B%7D%0D%0AX-Injected%3A%201&from=1&until=2",
        "/ingest?name=a.cpu%7B%7D&from=1&until=2&from=3",
        "/ingest?name=a.cpu%7B%7D&from=1",       /* until missing */
        "/ingest?name=a.cpu{}&from=1&until=2",   /* not percent-encoded */
        "/ingest?name=a.cpu%7B%7D&from=1&until=2&format=../x",
        "//127.0.0.1:18322/x", "", "/other"};
    static const char *const evil_files[] = {
        "../ESCAPED", "app.cpu.1.2.pb.gz/../../x", ".hidden.cpu.1.2.pb.gz",
        "app.cpu.1.x.pb.gz", "app/sub.cpu.1.2.pb.gz", "app.cpu.1.2.exe"};
    spool *s;
    size_t i, files;
    uint64_t bytes;
    upload_job j;

    ASSERT_EQ(spool_open(&s, dir), 0);
    roundtrip(s, make_job(INGEST_PATH, NULL, NULL, "pprof-bytes"));
    roundtrip(s, make_job(PUSH_PATH, NULL, "application/proto", "push"));
    roundtrip(s, make_job("/v1development/profiles", NULL,
                          "application/x-protobuf", "otlp"));
    roundtrip(s, make_job("", "my.app.cpu.1700000000123.7.pb.gz", NULL, "f"));
    for (i = 0; i < sizeof(evil_paths) / sizeof(evil_paths[0]); i++) {
        j = make_job(evil_paths[i], NULL, NULL, "x");
        if (spool_write(s, &j) == 0)
            FAILF("spool_write accepted path '%s'", evil_paths[i]);
        upload_job_free(&j);
    }
    for (i = 0; i < sizeof(evil_files) / sizeof(evil_files[0]); i++) {
        j = make_job("", evil_files[i], NULL, "x");
        if (spool_write(s, &j) == 0)
            FAILF("spool_write accepted file name '%s'", evil_files[i]);
        upload_job_free(&j);
    }
    j = make_job(INGEST_PATH, NULL, "text/evil", "x");
    ASSERT(spool_write(s, &j) != 0);
    upload_job_free(&j);
    spool_usage(dir, &files, &bytes);
    ASSERT_EQ(files, 0);
    spool_close(s);
    free(dir);
    TEST_OK("records round-trip; paths and names outside the fixed set are "
            "refused");
}

/* ---- directory and key ---- */

static void test_dir_and_key(void)
{
    char *base = wl_tempdir("spool_dir"), *dir = cat(base, "new"), *key;
    char *priv, sub[64];
    struct stat st;
    spool *s;

    ASSERT_EQ(spool_open(&s, dir), 0);
    ASSERT_STR_EQ(spool_path(s), dir);
    ASSERT(stat(dir, &st) == 0 && (st.st_mode & 0777) == 0700);
    key = cat(dir, ".pyroscope-spool.key");
    ASSERT(stat(key, &st) == 0 && (st.st_mode & 0777) == 0600);
    ASSERT_EQ(st.st_size, 32);
    spool_close(s);
    /* A key others can read is refused, not used. */
    chmod(key, 0644);
    ASSERT_EQ(spool_open(&s, dir), PYROSCOPE_EINVAL);
    ASSERT(strstr(pyroscope_last_error(), "key") != NULL);
    chmod(key, 0600);
    /* A shared directory (like /tmp) gets a private subdirectory. */
    chmod(dir, 01777);
    ASSERT_EQ(spool_open(&s, dir), 0);
    snprintf(sub, sizeof(sub), "pyroscope-%ld", (long)geteuid());
    priv = cat(dir, sub);
    ASSERT_STR_EQ(spool_path(s), priv);
    ASSERT(lstat(priv, &st) == 0 && (st.st_mode & 0777) == 0700);
    spool_close(s);
    /* ... and a planted symlink in its place is refused. */
    {
        char cmd[1200];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s' && ln -s /tmp '%s'", priv,
                 priv);
        ASSERT(system(cmd) == 0);
    }
    ASSERT_EQ(spool_open(&s, dir), PYROSCOPE_EINVAL);
    ASSERT(strstr(pyroscope_last_error(), "not a private directory"));
    unlink(priv);
    free(priv);
    free(key);
    free(dir);
    free(base);
    TEST_OK("spool dir 0700, key 0600, shared dirs get a private subdir");
}

/* ---- planted records ---- */

/* The old format (PYSPOOL1), exactly as the reported attack wrote it. */
static void plant_legacy(const char *dir, const char *name, const char *path)
{
    const char *fn = "";
    uint32_t l[3] = {(uint32_t)strlen(path), 0, 0};
    uint64_t bl = 4;
    unsigned char raw[512], c[1024], *p = raw;
    size_t n;

    memcpy(p, "PYSPOOL1", 8), p += 8;
    memcpy(p, l, sizeof(l)), p += sizeof(l);
    memcpy(p, &bl, sizeof(bl)), p += sizeof(bl);
    memcpy(p, path, l[0]), p += l[0];
    memcpy(p, fn, 0);
    memcpy(p, "EVIL", 4), p += 4;
    n = ZSTD_compress(c, sizeof(c), raw, (size_t)(p - raw), 3);
    ASSERT(!ZSTD_isError(n));
    write_plain(dir, name, c, n, 0600);
}

static void put_u16(unsigned char **p, unsigned v)
{
    (*p)[0] = (unsigned char)v;
    (*p)[1] = (unsigned char)(v >> 8);
    *p += 2;
}

/* A record sealed with the right key but built by hand. */
static size_t hand_record(unsigned char *out, int version, int kind,
                          const char *fields, size_t nfields,
                          const char *body, int extra_tail)
{
    unsigned char *p = out;
    const char *f = fields;
    size_t i, n = strlen(body);

    *p++ = (unsigned char)version;
    *p++ = (unsigned char)kind;
    *p++ = 0;
    *p++ = (unsigned char)nfields;
    memcpy(p, "0123456789abcdef0123456789abcdef", 32), p += 32;
    /* fields: "<id>:<value>\n"... */
    for (i = 0; i < nfields; i++) {
        int id = atoi(f);
        const char *v = strchr(f, ':') + 1, *e = strchr(v, '\n');
        *p++ = (unsigned char)id;
        put_u16(&p, (unsigned)(e - v));
        memcpy(p, v, (size_t)(e - v)), p += e - v;
        f = e + 1;
    }
    p[0] = (unsigned char)n, p[1] = p[2] = p[3] = 0, p += 4;
    memcpy(p, body, n), p += n;
    if (extra_tail)
        *p++ = 'X';
    return (size_t)(p - out);
}

static size_t claim_all(spool *s)
{
    upload_job j;
    size_t n = 0;

    while (spool_claim(s, &j) == 0) {
        n++;
        spool_done(s, &j);
        upload_job_free(&j);
    }
    return n;
}

static void test_sealed_but_malformed(void)
{
    char *dir = wl_tempdir("spool_bad");
    static const struct {
        int version, kind;
        const char *fields;
        size_t n;
        int tail;
    } bad[] = {
        {1, 1, "1:a.cpu{}\n2:1\n3:2\n", 3, 0},           /* old version */
        {2, 9, "1:a.cpu{}\n2:1\n3:2\n", 3, 0},           /* unknown kind */
        {2, 1, "2:1\n1:a.cpu{}\n3:2\n", 3, 0},           /* out of order */
        {2, 1, "1:a.cpu{}\n2:1\n3:2\n", 3, 1},           /* trailing byte */
        {2, 1, "1:a.cpu{}\r\nX: y\n2:1\n3:2\n", 3, 0},   /* CR in a value */
        {2, 1, "1:a.cpu{}\n2:1\n3:2\n99:x\n", 4, 0},     /* unknown field */
        {2, 1, "1:a.cpu{}\n2:1\n", 2, 0},                /* until missing */
        {2, 1, "1:a.cpu{}\n2:-1\n3:2\n", 3, 0},          /* not digits */
        {2, 2, "1:a.cpu{}\n", 1, 0},                     /* push + fields */
        {2, 3, "31:..\n32:cpu\n33:1\n34:2\n", 4, 0},     /* traversal app */
        {2, 3, "31:../ESCAPED\n32:cpu\n33:1\n34:2\n", 4, 0},
        {2, 3, "31:app\n32:c/u\n33:1\n34:2\n", 4, 0},
        {2, 1, "31:app\n32:cpu\n33:1\n34:2\n", 4, 0},    /* field of kind 3 */
    };
    unsigned char rec[1024];
    char name[128];
    size_t i, n, files;
    uint64_t bytes;
    spool *s;

    ASSERT_EQ(spool_open(&s, dir), 0);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        n = hand_record(rec, bad[i].version, bad[i].kind, bad[i].fields,
                        bad[i].n, "body", bad[i].tail);
        snprintf(name, sizeof(name), "pyroscope-spool-%020zu-1-%zu.zst",
                 i + 1, i);
        ASSERT_EQ(spool_write_raw(s, rec, n, name), 0);
    }
    /* A good one behind them, to show the scan goes on. */
    n = hand_record(rec, 2, 3, "31:app\n32:cpu\n33:1\n34:2\n", 4, "ok", 0);
    ASSERT_EQ(spool_write_raw(s, rec, n,
                              "pyroscope-spool-00000000000000000099-1-0.zst"),
              0);
    ASSERT_EQ(claim_all(s), 1);
    ASSERT_EQ(count_prefix(dir, "\\.quarantine-"),
              sizeof(bad) / sizeof(bad[0]));
    spool_usage(dir, &files, &bytes);
    ASSERT_EQ(files, 0);
    spool_close(s);
    free(dir);
    TEST_OK("sealed records outside the fixed set are quarantined");
}

/* Write a valid record with `s`, rename it to `name` (the planted files
 * all have names of that all-zero form, so the new one is the other) and
 * run `then` on it (a shell command taking the file name). */
static void plant_own_record(spool *s, const char *dir, const char *name,
                             const char *then)
{
    upload_job j = make_job(INGEST_PATH, NULL, NULL, "x");
    char cmd[1400];

    ASSERT_EQ(spool_write(s, &j), 0);
    upload_job_free(&j);
    snprintf(cmd, sizeof(cmd),
             "cd '%s' && f=$(ls pyroscope-spool-* | grep -v '^pyroscope-"
             "spool-0000000000000000000' | grep -v red) && mv \"$f\" %s && "
             "%s %s", dir, name, then, name);
    ASSERT(system(cmd) == 0);
}

static void test_planted_files(void)
{
    char *dir = wl_tempdir("spool_plant"), *p, victim[600];
    unsigned char junk[64];
    upload_job j;
    spool *s, *other;
    char *odir = wl_tempdir("spool_other");
    int i, planted;

    ASSERT_EQ(spool_open(&s, dir), 0);
    ASSERT_EQ(spool_open(&other, odir), 0);
    /* 1: the old format, with the path that moved the request. */
    plant_legacy(dir, "pyroscope-spool-00000000000000000001-1-0.zst",
                 "@127.0.0.1:18322/stolen?x=");
    /* 2: our format, sealed with another spool's key. */
    j = make_job(INGEST_PATH, NULL, NULL, "x");
    ASSERT_EQ(spool_write(other, &j), 0);
    upload_job_free(&j);
    {
        char cmd[1400];
        snprintf(cmd, sizeof(cmd),
                 "mv '%s'/pyroscope-spool-* "
                 "'%s'/pyroscope-spool-00000000000000000002-1-0.zst", odir,
                 dir);
        ASSERT(system(cmd) == 0);
    }
    /* 3: a symlink to a file of ours. */
    snprintf(victim, sizeof(victim), "%s/victim", odir);
    write_plain(odir, "victim", "precious", 8, 0600);
    p = cat(dir, "pyroscope-spool-00000000000000000003-1-0.zst");
    ASSERT(symlink(victim, p) == 0);
    free(p);
    /* 4: a FIFO (opening it must not block). */
    p = cat(dir, "pyroscope-spool-00000000000000000004-1-0.zst");
    ASSERT(mkfifo(p, 0600) == 0);
    free(p);
    /* 5: a valid record others may write. */
    plant_own_record(s, dir, "pyroscope-spool-00000000000000000005-1-0.zst",
                     "chmod 0622");
    /* 6: too large (sparse). */
    p = cat(dir, "pyroscope-spool-00000000000000000006-1-0.zst");
    {
        int fd = open(p, O_WRONLY | O_CREAT, 0600);
        ASSERT(fd >= 0 && ftruncate(fd, 200ll << 20) == 0);
        close(fd);
    }
    free(p);
    /* 7: garbage; 8: a name with our prefix we never write. */
    for (i = 0; i < 64; i++)
        junk[i] = (unsigned char)(i * 37);
    write_plain(dir, "pyroscope-spool-00000000000000000007-1-0.zst", junk,
                sizeof(junk), 0600);
    write_plain(dir, "pyroscope-spool-\x1b[31mred;.zst", junk, 0, 0600);
    /* 9: a valid record of ours given to another user (needs root, as in
     * CI: a planter's file carries the planter's uid). */
    planted = 8;
    if (geteuid() == 0) {
        plant_own_record(s, dir,
                         "pyroscope-spool-00000000000000000009-1-0.zst",
                         "chown 65534");
        planted = 9;
    } else {
        printf("  (not root: the other-owner case is not planted)\n");
    }
    ASSERT_EQ(claim_all(s), 0);
    ASSERT_EQ(count_prefix(dir, "\\.quarantine-"), planted);
    ASSERT(count_prefix(dir, "pyroscope-spool-") == 0);
    /* The symlink was moved, its target untouched. */
    {
        FILE *f = fopen(victim, "r");
        char b[16] = {0};
        ASSERT(f && fread(b, 1, 8, f) == 8);
        fclose(f);
        ASSERT_STR_EQ(b, "precious");
    }
    spool_close(s);
    spool_close(other);
    free(dir);
    free(odir);
    TEST_OK("planted records (old format, foreign key, symlink, FIFO, "
            "group-writable, oversized, garbage, odd name, another owner) "
            "quarantined");
}

/* The reported attack end to end: nothing reaches the other port. */
static void test_planted_attack_end_to_end(void)
{
    http_server *good = http_server_start(), *evil = http_server_start();
    pyroscope_config cfg = PYROSCOPE_CONFIG_INIT;
    char *dir = wl_tempdir("spool_e2e"), url[64], path[128];
    double t0;
    pyroscope *p;

    snprintf(path, sizeof(path), "@127.0.0.1:%d/stolen?x=",
             http_server_port(evil));
    plant_legacy(dir, "pyroscope-spool-00000000000000000001-1-0.zst", path);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", http_server_port(good));
    cfg.application_name = "spool-e2e";
    cfg.server_address = url;
    cfg.auth_token = "tok-must-stay-home";
    cfg.upload_interval_ms = 100;
    cfg.spool_dir = dir;
    cfg.log_level = PYROSCOPE_LOG_OFF;
    ASSERT_EQ(pyroscope_start(&p, &cfg), 0);
    /* The first own delivery makes the run look at the spool. */
    t0 = wl_mono();
    while (count_prefix(dir, "\\.quarantine-") == 0 && wl_mono() - t0 < 60)
        work_alpha(0.05);
    pyroscope_stop(p);
    ASSERT_EQ(count_prefix(dir, "\\.quarantine-"), 1);
    ASSERT(http_server_count(good) >= 1);
    ASSERT_EQ(http_server_count(evil), 0);
    http_server_stop(good);
    http_server_stop(evil);
    free(dir);
    TEST_OK("the planted path attack sends nothing anywhere");
}

/* ---- file:// names ---- */

/* Spool one hand-made record (`fields`, `body`) in `dir`, then start a
 * file:// run into `out` that will take it. */
static pyroscope *start_file_mode(const char *dir, const char *out,
                                  const char *app, const char *fields,
                                  const char *body)
{
    pyroscope_config cfg = PYROSCOPE_CONFIG_INIT;
    unsigned char rec[1024];
    char url[600];
    pyroscope *p;
    spool *s;
    size_t n;

    ASSERT_EQ(spool_open(&s, dir), 0);
    n = hand_record(rec, 2, 3, fields, 4, body, 0);
    ASSERT_EQ(spool_write_raw(s, rec, n, NULL), 0);
    spool_close(s);
    snprintf(url, sizeof(url), "file://%s", out);
    cfg.application_name = app;
    cfg.server_address = url;
    cfg.upload_interval_ms = 100;
    cfg.spool_dir = dir;
    cfg.log_level = PYROSCOPE_LOG_OFF;
    ASSERT_EQ(pyroscope_start(&p, &cfg), 0);
    return p;
}

static void test_file_mode_names(void)
{
    char *dir = wl_tempdir("spool_fm"), *out = wl_tempdir("spool_fm_out");
    char *parent, **files;
    pyroscope *p;
    double t0;

    p = start_file_mode(dir, out, "spool-fm",
                        "31:spooled.app\n32:cpu\n33:123\n34:4\n",
                        "body-of-a-spooled-profile");
    t0 = wl_mono();
    while (!exists(out, "spooled.app.cpu.123.4.pb.gz") && wl_mono() - t0 < 60)
        work_alpha(0.05);
    pyroscope_stop(p);
    ASSERT(exists(out, "spooled.app.cpu.123.4.pb.gz"));
    /* Nothing landed next to the target directory. */
    parent = strdup(out);
    *strrchr(parent, '/') = '\0';
    ASSERT(!exists(parent, "ESCAPED"));
    files = wl_list(out, "spool-fm.cpu.");
    ASSERT(files[0] != NULL); /* the run's own profiles too */
    wl_free_list(files);
    free(parent);
    free(dir);
    free(out);
    TEST_OK("file:// names are generated from checked parts");
}

/* A spooled record whose file:// write fails (here a directory sits where
 * its temporary file goes) is kept, not deleted, and written once the
 * obstacle is gone. */
static void test_file_mode_write_failure(void)
{
    char *dir = wl_tempdir("spool_fw"), *out = wl_tempdir("spool_fw_out");
    char block[700];
    pyroscope_stats st;
    pyroscope *p;
    double t0;

    snprintf(block, sizeof(block), "%s/kept.app.cpu.77.5.pb.gz.tmp", out);
    ASSERT_EQ(mkdir(block, 0700), 0);
    p = start_file_mode(dir, out, "spool-fw",
                        "31:kept.app\n32:cpu\n33:77\n34:5\n",
                        "body-of-a-kept-profile");
    /* Wait until a write has failed, then clear the way. */
    t0 = wl_mono();
    do {
        work_alpha(0.02);
        ASSERT_EQ(pyroscope_get_stats(p, &st), 0);
    } while (st.upload_failures == 0 && wl_mono() - t0 < 60);
    ASSERT(st.upload_failures > 0);
    ASSERT_EQ(st.profiles_dropped, 0);
    ASSERT_EQ(rmdir(block), 0);
    t0 = wl_mono();
    while (!exists(out, "kept.app.cpu.77.5.pb.gz") && wl_mono() - t0 < 60)
        work_alpha(0.05);
    pyroscope_stop(p);
    ASSERT(exists(out, "kept.app.cpu.77.5.pb.gz"));
    free(dir);
    free(out);
    TEST_OK("a file:// write that fails keeps the profile for a retry");
}

/* ---- claims ---- */

static unsigned long long start_of(long pid)
{
    char path[64], b[1024], *q;
    FILE *f;
    int i;

    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    f = fopen(path, "r");
    ASSERT(f && fgets(b, sizeof(b), f));
    fclose(f);
    q = strrchr(b, ')');
    for (i = 0; i < 20; i++)
        q = strchr(q + 1, ' ');
    return strtoull(q + 1, NULL, 10);
}

static void rename_in(const char *dir, const char *from, const char *to)
{
    char *a = cat(dir, from), *b = cat(dir, to);

    ASSERT(rename(a, b) == 0);
    free(a);
    free(b);
}

static void test_claims(void)
{
    char *dir = wl_tempdir("spool_claim"), claimed[300], rec[128];
    upload_job j, out;
    size_t files;
    uint64_t bytes;
    pid_t dead;
    spool *s;

    ASSERT_EQ(spool_open(&s, dir), 0);
    j = make_job(INGEST_PATH, NULL, NULL, "x");
    ASSERT_EQ(spool_write(s, &j), 0);
    upload_job_free(&j);
    /* Released: back under the same name, claimable again. */
    ASSERT_EQ(spool_claim(s, &out), 0);
    ASSERT_EQ(count_prefix(dir, "pyroscope-spool-"), 0);
    ASSERT_EQ(spool_claim(s, &j), -1); /* held by us */
    spool_release(s, &out);
    upload_job_free(&out);
    ASSERT_EQ(count_prefix(dir, "pyroscope-spool-"), 1);
    ASSERT_EQ(count_prefix(dir, "\\.claimed-"), 0);
    /* Claimed by a live process (our parent): left alone. */
    {
        char cmd[700], name[128] = "";
        FILE *f;
        snprintf(cmd, sizeof(cmd), "ls '%s' | grep '^pyroscope-spool-'", dir);
        f = popen(cmd, "r");
        ASSERT(f && fgets(name, sizeof(name), f));
        pclose(f);
        name[strcspn(name, "\n")] = '\0';
        snprintf(rec, sizeof(rec), "%s", name);
    }
    snprintf(claimed, sizeof(claimed), ".claimed-%ld-%llu-%llu-%s",
             (long)getppid(), start_of((long)getppid()),
             (unsigned long long)time(NULL), rec);
    rename_in(dir, rec, claimed);
    ASSERT_EQ(spool_claim(s, &out), -1);
    spool_usage(dir, &files, &bytes);
    ASSERT_EQ(files, 1); /* still counted as spooled */
    /* A dead claimer (a child that exited): taken back. */
    dead = fork();
    if (dead == 0)
        _exit(0);
    waitpid(dead, NULL, 0);
    {
        char c2[300];
        snprintf(c2, sizeof(c2), ".claimed-%ld-123-%llu-%s", (long)dead,
                 (unsigned long long)time(NULL), rec);
        rename_in(dir, claimed, c2);
        snprintf(claimed, sizeof(claimed), "%s", c2);
    }
    ASSERT_EQ(spool_claim(s, &out), 0);
    spool_release(s, &out);
    upload_job_free(&out);
    /* Our parent's pid with another start time: the pid was reused. */
    snprintf(claimed, sizeof(claimed), ".claimed-%ld-%llu-%llu-%s",
             (long)getppid(), start_of((long)getppid()) + 1,
             (unsigned long long)time(NULL), rec);
    rename_in(dir, rec, claimed);
    ASSERT_EQ(spool_claim(s, &out), 0);
    spool_release(s, &out);
    upload_job_free(&out);
    /* A live owner, but claimed an hour ago: stale. */
    snprintf(claimed, sizeof(claimed), ".claimed-%ld-%llu-%llu-%s",
             (long)getppid(), start_of((long)getppid()),
             (unsigned long long)time(NULL) - 3600, rec);
    rename_in(dir, rec, claimed);
    ASSERT_EQ(spool_claim(s, &out), 0);
    /* Trimming never deletes what someone is delivering. */
    ASSERT_EQ(spool_trim(s, 0), 0);
    ASSERT_EQ(count_prefix(dir, "\\.claimed-"), 1);
    spool_done(s, &out);
    upload_job_free(&out);
    spool_usage(dir, &files, &bytes);
    ASSERT_EQ(files, 0);
    /* A dead writer's temp file is cleaned up by the next scan. */
    {
        char tmp[200];
        snprintf(tmp, sizeof(tmp), ".tmp-%ld-1-pyroscope-spool-x", (long)dead);
        write_plain(dir, tmp, "half", 4, 0600);
        ASSERT_EQ(spool_claim(s, &out), -1);
        ASSERT(!exists(dir, tmp));
    }
    spool_close(s);
    free(dir);
    TEST_OK("claims: released, kept for live owners, taken back from dead "
            "or stale ones, never trimmed");
}

static void test_trim_and_quarantine_bound(void)
{
    char *dir = wl_tempdir("spool_trim"), name[128];
    upload_job j;
    size_t files, i;
    uint64_t bytes;
    spool *s;

    ASSERT_EQ(spool_open(&s, dir), 0);
    for (i = 0; i < 10; i++) {
        j = make_job(INGEST_PATH, NULL, NULL, "0123456789abcdef");
        ASSERT_EQ(spool_write(s, &j), 0);
        upload_job_free(&j);
    }
    spool_usage(dir, &files, &bytes);
    ASSERT_EQ(files, 10);
    i = spool_trim(s, bytes / 2); /* sizes differ by a byte or so */
    spool_usage(dir, &files, &bytes);
    ASSERT(files >= 4 && files <= 5);
    ASSERT_EQ(i, 10 - files);
    for (i = 0; i < 30; i++) {
        snprintf(name, sizeof(name), ".quarantine-q%02zu", i);
        write_plain(dir, name, "q", 1, 0600);
    }
    spool_trim(s, UINT64_MAX);
    ASSERT_EQ(count_prefix(dir, "\\.quarantine-"), 16);
    ASSERT(exists(dir, ".quarantine-q29") && !exists(dir, ".quarantine-q00"));
    spool_close(s);
    free(dir);
    TEST_OK("trim deletes the oldest records; quarantine keeps the last 16");
}

static void hex_is(const unsigned char *d, const char *want)
{
    char got[2 * SHA256_LEN + 1];
    int i;

    for (i = 0; i < SHA256_LEN; i++)
        sprintf(got + 2 * i, "%02x", d[i]);
    ASSERT_STR_EQ(got, want);
}

/* FIPS 180-4 and RFC 4231 vectors, the long one fed in odd chunks. */
static void test_sha256(void)
{
    static char a[997];
    unsigned char out[SHA256_LEN];
    sha256_ctx c;
    size_t left = 1000000, n;

    sha256_init(&c);
    sha256_update(&c, "abc", 3);
    sha256_final(&c, out);
    hex_is(out, "ba7816bf8f01cfea414140de5dae2223"
                "b00361a396177a9cb410ff61f20015ad");
    memset(a, 'a', sizeof(a));
    sha256_init(&c);
    for (; left; left -= n) {
        n = left < sizeof(a) ? left : sizeof(a);
        sha256_update(&c, a, n);
    }
    sha256_final(&c, out);
    hex_is(out, "cdc76e5c9914fb9281a1c7e284d73e67"
                "f1809a48a497200e046d39ccc7112cd0");
    hmac_sha256((const unsigned char *)"Jefe", 4, "what do ya want ", 16,
                "for nothing?", 12, out);
    hex_is(out, "5bdcc146bf60754e6a042426089575c7"
                "5a003f089d2739839dec58b964ec3843");
    TEST_OK("SHA-256 and HMAC-SHA-256 match the published vectors");
}

int main(void)
{
    test_sha256();
    test_roundtrip_and_refusals();
    test_dir_and_key();
    test_sealed_but_malformed();
    test_planted_files();
    test_planted_attack_end_to_end();
    test_file_mode_names();
    test_file_mode_write_failure();
    test_claims();
    test_trim_and_quarantine_bound();
    return 0;
}
