#include "upload.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/redact.h"
#include "../common/util.h"
#include "http.h"
#include "spool.h"
#include "../fdguard/fdguard.h"

#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000
/* After a configuration error (401/403, redirect, TLS): the operator has
 * to act, so retry rarely; stop() cuts this wait short. */
#define CONFIG_BACKOFF_MS 300000
#define ID_HEADER "X-Pyroscope-Profile-ID"
/* Not an attempt: a spooled job for the other mode, handed back. */
#define V_FOREIGN 3

typedef struct qnode {
    upload_job job;
    struct qnode *next;
} qnode;

struct upload {
    char *shown_url; /* server_address with userinfo redacted, for logs */
    char *file_dir; /* file:// mode */
    http_target target;  /* http(s) mode */
    char **headers;      /* "Name: value": auth, tenant, configured */
    size_t nheaders;
    tls_ctx *tls;        /* made at the first https request */
    char *basic_user, *basic_password;
    char *tls_ca_file;
    int tls_insecure;
    char **secrets; /* masked in anything the server says back */
    size_t nsecrets;
    int timeout_ms;
    int queue_max;
    spool *spool;
    uint64_t spool_max_bytes;
    void (*thread_init)(void);
    int idle_claim_ms;
    long config_status;  /* config error already logged (-1: none) */
    int failing;         /* the last attempt did not deliver */
    uint64_t outage_failures; /* failed attempts since the last delivery */
    uint64_t outage_logged_ns; /* when the outage was last logged at WARN */
    int spool_foreign;   /* met a record for another mode: stop claiming */

    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    qnode *head, *tail;
    size_t qlen;
    int busy;           /* the thread holds the head job */
    int stopping;
    uint64_t deadline_ns; /* when stopping: give up at this time */
    upload_stats stats;
};

void upload_job_free(upload_job *job)
{
    free(job->path);
    free(job->file_name);
    free(job->body);
    free(job->spool_ref);
    memset(job, 0, sizeof(*job));
}

void upload_new_id(char *id)
{
    static const char hexd[] = "0123456789abcdef";
    unsigned char r[UPLOAD_ID_LEN / 2];
    uint64_t a, b;
    size_t i;

    if (random_bytes(r, sizeof(r)) != 0) {
        /* Unique is what matters here, not unpredictable. */
        a = hash_u64(time_now_ns() ^ ((uint64_t)getpid() << 32));
        b = hash_u64(a ^ time_mono_ns());
        memcpy(r, &a, 8);
        memcpy(r + 8, &b, 8);
    }
    for (i = 0; i < sizeof(r); i++) {
        id[2 * i] = hexd[r[i] >> 4];
        id[2 * i + 1] = hexd[r[i] & 15];
    }
    id[UPLOAD_ID_LEN] = '\0';
}

char *upload_escape(const char *s)
{
    static const char hexd[] = "0123456789ABCDEF";
    buf b;
    const unsigned char *p;

    buf_init(&b);
    for (p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
            (*p >= '0' && *p <= '9') || strchr("-_.~", *p)) {
            buf_append(&b, p, 1);
        } else {
            char e[3] = {'%', hexd[*p >> 4], hexd[*p & 15]};
            buf_append(&b, e, 3);
        }
    }
    return buf_steal(&b, NULL);
}

/* ---- delivery ---- */

/* One path component that cannot leave the directory. */
static int safe_file_name(const char *n)
{
    if (!n || !*n || n[0] == '.' || strlen(n) > 255)
        return 0;
    for (; *n; n++)
        if (!((*n >= 'a' && *n <= 'z') || (*n >= 'A' && *n <= 'Z') ||
              (*n >= '0' && *n <= '9') || strchr("._-", *n)))
            return 0;
    return 1;
}

/* HTTP_DELIVERED, HTTP_DROP for a name we will never write, or HTTP_RETRY
 * when the directory cannot take the file now (full disk, removed, ...):
 * the profile and its spool record wait like they would for a server. */
static int write_file(upload *u, const upload_job *job)
{
    char path[4096], tmp[4200];
    FILE *f;
    size_t w;

    if (!safe_file_name(job->file_name)) {
        LOG_WARN("file:// profile has an unsafe file name: dropped");
        return HTTP_DROP;
    }
    snprintf(path, sizeof(path), "%s/%s", u->file_dir, job->file_name);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    f = fdguard_fopen(tmp, "wbex");
    if (!f && errno == EEXIST && unlink(tmp) == 0)
        f = fdguard_fopen(tmp, "wbex"); /* a leftover of a run that died */
    if (!f) {
        LOG_WARN("cannot write %s: %s", tmp, strerror(errno));
        return HTTP_RETRY;
    }
    w = fwrite(job->body, 1, job->len, f);
    if (fdguard_fclose(f) != 0 || w != job->len || rename(tmp, path) != 0) {
        LOG_WARN("cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        return HTTP_RETRY;
    }
    return HTTP_DELIVERED;
}

static int abort_cb(void *p)
{
    upload *u = p;
    int stop;

    pthread_mutex_lock(&u->lock);
    stop = u->stopping && time_mono_ns() > u->deadline_ns;
    pthread_mutex_unlock(&u->lock);
    return stop;
}

/* A configuration error is logged once per kind until a delivery works;
 * repeats go to debug. */
static void config_error(upload *u, long key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void config_error(upload *u, long key, const char *fmt, ...)
{
    char msg[900];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (u->config_status == key) {
        LOG_DEBUG("%s", msg);
        return;
    }
    u->config_status = key;
    LOG_ERROR("%s; profiles are kept and retried every %d s", msg,
              CONFIG_BACKOFF_MS / 1000);
}

/* A reply cut at HTTP_REPLY_MAX may end in the first bytes of a secret
 * that masking cannot recognise: cut those too. */
static void cut_partial_secret(upload *u, char *t)
{
    size_t i, k, n = strlen(t), sl;

    for (i = 0; i < u->nsecrets; i++) {
        sl = strlen(u->secrets[i]);
        for (k = sl - 1 < n ? sl - 1 : n; k > 0; k--)
            if (memcmp(t + n - k, u->secrets[i], k) == 0) {
                t[n - k] = '\0';
                n -= k;
                break;
            }
    }
}

/* JSON and HTML replies span lines: one line for the log, each run of
 * white space a single blank. */
static void squeeze_space(char *t)
{
    char *w = t;
    int blank = 1;

    for (; *t; t++) {
        int ws = *t == ' ' || *t == '\t' || *t == '\r' || *t == '\n';
        if (ws && blank)
            continue;
        blank = ws;
        *w++ = ws ? ' ' : *t;
    }
    *w = '\0';
}

/* Every configured secret in t masked (before any other rewriting of t,
 * which could split one). */
static void mask_secrets(upload *u, char *t)
{
    size_t i;

    for (i = 0; i < u->nsecrets; i++)
        redact_mask(t, u->secrets[i]);
}

/* The server's words, safe to log: printable, and without our secrets in
 * case it echoes the request. */
static void reply_text(upload *u, const http_reply *r, char *out, size_t cap)
{
    char t[HTTP_REPLY_MAX + 1];
    size_t i;

    memcpy(t, r->text, r->len);
    t[r->len] = '\0';
    if (r->len == HTTP_REPLY_MAX)
        cut_partial_secret(u, t);
    mask_secrets(u, t);
    for (i = strlen(t); i > 0 && strchr(" \t\r\n", t[i - 1]); i--)
        t[i - 1] = '\0';
    squeeze_space(t);
    redact_printable(t);
    if (!t[0])
        strcpy(t, "(empty body)");
    if (strlen(t) > 200)
        strcpy(t + 197, "...");
    i = strlen(t) < cap ? strlen(t) : cap - 1;
    memcpy(out, t, i);
    out[i] = '\0';
}

/*
 * A network error or retryable answer: the first of an outage is logged
 * with the server's address (credentials redacted) and the reason, the
 * repeats at debug level with one reminder every 5 minutes, so a long
 * outage does not flood the host's log.
 */
static void outage_log(upload *u, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void outage_log(upload *u, const char *fmt, ...)
{
    uint64_t now = time_now_ns();
    char msg[700];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (u->outage_failures++ == 0 ||
        now - u->outage_logged_ns >= 300 * 1000000000ull) {
        u->outage_logged_ns = now;
        LOG_WARN("upload to %s %s (%llu failed attempt%s; retrying with "
                 "backoff, repeats logged at debug level)", u->shown_url, msg,
                 (unsigned long long)u->outage_failures,
                 u->outage_failures == 1 ? "" : "s");
    } else {
        LOG_DEBUG("upload to %s %s", u->shown_url, msg);
    }
}

static void outage_over(upload *u)
{
    if (u->outage_failures > 0)
        LOG_INFO("upload to %s works again after %llu failed attempt%s",
                 u->shown_url, (unsigned long long)u->outage_failures,
                 u->outage_failures == 1 ? "" : "s");
    u->outage_failures = 0;
}

static int transfer_failed(upload *u, const http_reply *r)
{
    char clean[NET_ERR_MAX];

    snprintf(clean, sizeof(clean), "%s", r->error[0] ? r->error : "failed");
    mask_secrets(u, clean);
    redact_printable(clean);
    if (r->fail == NET_TLS_VERIFY) {
        config_error(u, -2, "upload to %s: TLS verification failed: %s (set "
                     "tls_ca_file / PYROSCOPE_TLS_CA_FILE to the CA that "
                     "signed the server's certificate)", u->shown_url, clean);
        return HTTP_CONFIG;
    }
    if (r->fail == NET_TLS_MISSING) {
        config_error(u, -3, "upload to %s: %s", u->shown_url, clean);
        return HTTP_CONFIG;
    }
    if (http_verdict(r->fail, r->status) == HTTP_CONFIG) {
        config_error(u, -4, "upload to %s: %s (check the proxy's "
                     "credentials in https_proxy / all_proxy)", u->shown_url,
                     clean);
        return HTTP_CONFIG;
    }
    outage_log(u, "failed: %s", clean);
    return HTTP_RETRY;
}

/* Log what the answer means and return its verdict (http.h). */
static int judge(upload *u, long status, const upload_job *job,
                 const http_reply *r, long *wait_ms)
{
    int v = http_verdict(NET_OK, status);
    char msg[256], where[512];

    if (v == HTTP_DELIVERED) {
        u->config_status = -1;
        outage_over(u);
        return v;
    }
    reply_text(u, r, msg, sizeof(msg));
    if (status >= 300 && status < 400) {
        redact_url(r->location[0] ? r->location : "(no Location)", where,
                   sizeof(where));
        redact_printable(where);
        config_error(u, status, "upload to %s: HTTP %ld redirect to %s is "
                     "not followed (credentials stay with server_address): "
                     "set server_address to the final URL", u->shown_url,
                     status, where);
    } else if (v == HTTP_CONFIG) {
        config_error(u, status, "upload to %s refused: HTTP %ld: %s (check "
                     "auth_token, basic auth, tenant_id and server_address)",
                     u->shown_url, status, msg);
    } else if (status == 413) {
        LOG_WARN("the server refused a %zu-byte profile as too large (HTTP "
                 "413: %s): dropped; its limit is "
                 "-validation.max-profile-size-bytes", job->len, msg);
    } else if (v == HTTP_RETRY) {
        if (status == 429 || status == 503)
            *wait_ms = r->retry_after_ms;
        outage_log(u, "rejected: HTTP %ld: %s", status, msg);
    } else {
        LOG_WARN("upload rejected: HTTP %ld: %s: profile dropped", status,
                 msg);
    }
    return v;
}

/* The multipart form of an /ingest upload around the profile: the part
 * before it and everything after it (for a block profile, the sample
 * types' display names the server files it by).  One random boundary per
 * request: the profile's bytes would have to contain it by chance. */
static int ingest_form(const upload_job *job, char *boundary, buf *pre,
                       buf *post)
{
    static const char block_types[] =
        "{\"contentions\":{\"units\":\"lock_samples\","
        "\"display-name\":\"block_count\"},"
        "\"delay\":{\"units\":\"lock_nanoseconds\","
        "\"display-name\":\"block_duration\"}}";
    char id[UPLOAD_ID_LEN + 1];

    upload_new_id(id);
    snprintf(boundary, 64, "pyroscope-%s", id);
    buf_printf(pre, "--%s\r\nContent-Disposition: form-data; name=\"profile\"; "
               "filename=\"profile.pprof\"\r\nContent-Type: "
               "application/octet-stream\r\n\r\n", boundary);
    buf_puts(post, "\r\n");
    if (job->content_type)
        buf_printf(post, "--%s\r\nContent-Disposition: form-data; "
                   "name=\"sample_type_config\"; filename=\""
                   "sample_type_config.json\"\r\nContent-Type: "
                   "application/json\r\n\r\n%s\r\n", boundary, block_types);
    buf_printf(post, "--%s--\r\n", boundary);
    return pre->data && post->data ? 0 : -1;
}

/* The TLS context, made once: loading the CA store costs milliseconds. */
static tls_ctx *tls_for(upload *u, http_reply *r)
{
    if (!u->tls)
        u->tls = tls_ctx_new(u->tls_ca_file, u->tls_insecure, r->error,
                             sizeof(r->error));
    if (!u->tls)
        r->fail = NET_TLS_MISSING;
    return u->tls;
}

static int bad_path(const char *path)
{
    /* The path is ours (export.c or a spool record rebuilt from a fixed
     * set); still, nothing but a plain absolute path joins the base. */
    return !path || path[0] != '/' || strpbrk(path, " @\\#") ||
           redact_first_ctl(path) >= 0;
}

/* One attempt; an http_verdict.  *wait_ms: a delay the server asked for. */
static int post(upload *u, const upload_job *job, long *wait_ms)
{
    char boundary[64], ct[128], idh[64];
    http_call call = {0};
    http_piece body[3];
    http_reply reply;
    const char **hdrs;
    buf pre, tail;
    size_t nh = 0;
    int v;

    if (bad_path(job->path)) {
        LOG_WARN("a profile has a malformed request path: dropped");
        return HTTP_DROP;
    }
    hdrs = calloc(u->nheaders + 2, sizeof(*hdrs));
    if (!hdrs)
        return HTTP_RETRY;
    for (nh = 0; nh < u->nheaders; nh++)
        hdrs[nh] = u->headers[nh];
    snprintf(idh, sizeof(idh), ID_HEADER ": %s", job->id);
    hdrs[nh++] = idh;
    buf_init(&pre);
    buf_init(&tail);
    if (job->content_type && strcmp(job->content_type, UPLOAD_FORM_BLOCK)) {
        call.content_type = job->content_type;
        /* A protobuf request never starts with gzip's magic (its first
         * byte is a field tag), so the body says how it was encoded; a
         * spooled record needs no flag of its own for it. */
        if (job->len >= 2 && job->body[0] == 0x1f && job->body[1] == 0x8b)
            hdrs[nh++] = "Content-Encoding: gzip";
        body[0] = (http_piece){job->body, job->len};
        call.nbody = 1;
    } else {
        if (ingest_form(job, boundary, &pre, &tail) != 0) {
            buf_free(&pre), buf_free(&tail), free(hdrs);
            return HTTP_RETRY;
        }
        snprintf(ct, sizeof(ct), "multipart/form-data; boundary=%s",
                 boundary);
        call.content_type = ct;
        body[0] = (http_piece){pre.data, pre.len};
        body[1] = (http_piece){job->body, job->len};
        body[2] = (http_piece){tail.data, tail.len};
        call.nbody = 3;
    }
    call.target = &u->target;
    call.path = job->path;
    call.headers = hdrs;
    call.nheaders = nh;
    call.user = u->basic_user ? u->basic_user : u->target.user;
    call.password = u->basic_user ? u->basic_password : u->target.password;
    call.body = body;
    call.timeout_ns = (uint64_t)u->timeout_ms * 1000000ull;
    call.connect_timeout_ns =
        (uint64_t)(u->timeout_ms < 5000 ? u->timeout_ms : 5000) * 1000000ull;
    call.abort = abort_cb;
    call.abort_arg = u;
    memset(&reply, 0, sizeof(reply));
    if (!u->target.tls || (call.tls = tls_for(u, &reply)))
        http_post(&call, &reply);
    LOG_DEBUG("POST %s%.*s: %s %ld (profile %s, %zu bytes)", u->shown_url,
              (int)strcspn(job->path, "?"), job->path,
              reply.fail == NET_OK ? "HTTP" : "network error",
              reply.fail == NET_OK ? reply.status : (long)reply.fail, job->id,
              job->len);
    *wait_ms = 0;
    v = reply.fail != NET_OK ? transfer_failed(u, &reply)
                             : judge(u, reply.status, job, &reply, wait_ms);
    buf_free(&pre);
    buf_free(&tail);
    free(hdrs);
    return v;
}

/* A spooled job of the other mode (file:// vs http) stays for a process
 * of that mode; this one stops taking records. */
static int foreign(upload *u, const upload_job *job)
{
    int file_job = job->file_name != NULL;

    if (!job->spool_ref || file_job == (u->file_dir != NULL))
        return 0;
    if (!u->spool_foreign)
        LOG_INFO("spool holds profiles for a %s target; leaving them for a "
                 "process configured that way", file_job ? "file://" : "http");
    u->spool_foreign = 1;
    return 1;
}

static int deliver(upload *u, const upload_job *job, long *wait_ms)
{
    *wait_ms = 0;
    if (u->file_dir)
        return write_file(u, job);
    return post(u, job, wait_ms);
}

/* ---- the queue ---- */


/* Unlink the oldest job the thread is not sending; NULL if none. */
static qnode *evict_locked(upload *u)
{
    qnode *victim;

    if (!u->head || (u->busy && !u->head->next))
        return NULL;
    if (u->busy) {
        victim = u->head->next;
        u->head->next = victim->next;
        if (u->tail == victim)
            u->tail = u->head;
    } else {
        victim = u->head;
        u->head = victim->next;
        if (!u->head)
            u->tail = NULL;
    }
    u->qlen--;
    u->stats.queued_bytes -= victim->job.len;
    return victim;
}

/* Spill evicted jobs to disk when a spool is configured, else drop them.
 * A job that came from the spool just goes back to its record. */
static void dispose(upload *u, qnode *list)
{
    size_t gone;

    while (list) {
        qnode *next = list->next;
        int kept = 0, back = list->job.spool_ref != NULL;
        if (back)
            spool_release(u->spool, &list->job);
        else if (u->spool)
            kept = spool_write(u->spool, &list->job) == 0;
        pthread_mutex_lock(&u->lock);
        if (kept)
            u->stats.spooled++;
        else if (!back)
            u->stats.dropped++;
        pthread_mutex_unlock(&u->lock);
        upload_job_free(&list->job);
        free(list);
        list = next;
    }
    if (u->spool) {
        gone = spool_trim(u->spool, u->spool_max_bytes);
        if (gone)
            LOG_WARN("spool %s is over spool_max_bytes (%llu): deleted the "
                     "%zu oldest profile(s)", spool_path(u->spool),
                     (unsigned long long)u->spool_max_bytes, gone);
        pthread_mutex_lock(&u->lock);
        u->stats.dropped += gone;
        pthread_mutex_unlock(&u->lock);
    }
}

void upload_enqueue(upload *u, upload_job *job)
{
    qnode *n = malloc(sizeof(*n)), *evicted = NULL, *v;

    if (!n) {
        upload_job_free(job);
        return;
    }
    if (!job->id[0])
        upload_new_id(job->id);
    n->job = *job;
    n->next = NULL;
    memset(job, 0, sizeof(*job));
    pthread_mutex_lock(&u->lock);
    /* Never evict the head while the thread is sending it. */
    while (u->qlen >= (size_t)u->queue_max && (v = evict_locked(u))) {
        v->next = evicted;
        evicted = v;
    }
    if (u->tail)
        u->tail->next = n;
    else
        u->head = n;
    u->tail = n;
    u->qlen++;
    u->stats.queued_bytes += n->job.len;
    pthread_cond_broadcast(&u->cond);
    pthread_mutex_unlock(&u->lock);
    dispose(u, evicted);
}

/*
 * After a success (the server is back) claim one spooled job and put it in
 * front.  Never at start-up or while stopping: a process that has not
 * delivered anything itself (a preloaded `timeout`, a child that execs at
 * once) must not hold records it may not live to deliver.  `busy` keeps
 * upload_flush() waiting while the lock is dropped.
 */
static void unspool_one_locked(upload *u)
{
    int was_busy = u->busy, rc;
    upload_job job;
    qnode *n;

    if (!u->spool || u->spool_foreign || u->stopping ||
        u->qlen >= (size_t)u->queue_max)
        return;
    u->busy = 1;
    pthread_mutex_unlock(&u->lock);
    rc = spool_claim(u->spool, &job);
    n = rc == 0 ? malloc(sizeof(*n)) : NULL;
    if (rc == 0 && !n) {
        spool_release(u->spool, &job);
        upload_job_free(&job);
    }
    pthread_mutex_lock(&u->lock);
    u->busy = was_busy;
    if (!n)
        return;
    n->job = job;
    n->next = u->head;
    u->head = n;
    if (!u->tail)
        u->tail = n;
    u->qlen++;
    u->stats.queued_bytes += job.len;
}

static void wait_ms_locked(upload *u, int ms)
{
    struct timespec ts = time_deadline((uint64_t)ms * 1000000u);

    pthread_cond_timedwait(&u->cond, &u->lock, &ts);
}

/* New jobs wake the condition too: keep waiting out the backoff. */
static void wait_backoff_locked(upload *u, int ms)
{
    uint64_t until = time_mono_ns() + (uint64_t)ms * 1000000ull, now;

    for (;;) {
        now = time_mono_ns();
        /* stop() shortens the wait to its deadline, never lengthens it. */
        if (u->stopping && u->deadline_ns < until)
            until = u->deadline_ns;
        if (now >= until)
            return;
        wait_ms_locked(u, (int)((until - now) / 1000000ull) + 1);
    }
}

static int past_deadline_locked(upload *u)
{
    return u->stopping && time_mono_ns() >= u->deadline_ns;
}

/* Take the head job out of the queue; the caller owns the node. */
static qnode *detach_head_locked(upload *u)
{
    qnode *n = u->head;

    u->head = n->next;
    if (!u->head)
        u->tail = NULL;
    u->qlen--;
    u->stats.queued_bytes -= n->job.len;
    return n;
}

static void drop_head_locked(upload *u)
{
    qnode *n = detach_head_locked(u);

    upload_job_free(&n->job);
    free(n);
}

/*
 * Settle the head job after an attempt with verdict v.  Delivered: its
 * record (if any) is deleted only now.  Dropped by the server: the record
 * goes too.  Not delivered: a spooled job returns to its record at once,
 * so no claim is held across a backoff; other jobs stay queued.
 */
static void settle_head_locked(upload *u, int v)
{
    qnode *n;

    if (v == HTTP_DELIVERED || v == HTTP_DROP) {
        n = detach_head_locked(u);
        pthread_mutex_unlock(&u->lock);
        spool_done(u->spool, &n->job);
    } else if (u->head->job.spool_ref) {
        n = detach_head_locked(u);
        pthread_mutex_unlock(&u->lock);
        spool_release(u->spool, &n->job);
    } else {
        return;
    }
    upload_job_free(&n->job);
    free(n);
    pthread_mutex_lock(&u->lock);
}

static int next_backoff(int backoff, int v, long asked_ms)
{
    if (v == HTTP_CONFIG)
        return CONFIG_BACKOFF_MS;
    backoff = backoff ? backoff * 2 : BACKOFF_MIN_MS;
    if (backoff > BACKOFF_MAX_MS)
        backoff = BACKOFF_MAX_MS;
    /* Retry-After (429/503) wins over our own schedule, bounded. */
    return asked_ms > backoff ? (int)asked_ms : backoff;
}

/* Sleep until there is a job or stop(); an idle process with a spool
 * looks at it once per idle_claim_ms, so records left by dead processes
 * are delivered even when this one has nothing to send. */
static void wait_for_work_locked(upload *u)
{
    uint64_t idle = (uint64_t)u->idle_claim_ms * 1000000ull;
    uint64_t until = time_mono_ns() + idle;

    while (!u->head && !u->stopping) {
        if (!u->spool || u->spool_foreign || u->idle_claim_ms <= 0) {
            pthread_cond_wait(&u->cond, &u->lock);
            continue;
        }
        if (time_mono_ns() < until) {
            wait_ms_locked(u, (int)((until - time_mono_ns()) / 1000000ull) +
                                  1);
            continue;
        }
        unspool_one_locked(u);
        until = time_mono_ns() + idle;
    }
}

static void count_locked(upload *u, int v)
{
    if (v == HTTP_DELIVERED)
        u->stats.uploaded++;
    else
        u->stats.failures++;
    if (v == HTTP_DROP)
        u->stats.dropped++;
    u->failing = v == HTTP_RETRY || v == HTTP_CONFIG;
}

static void *thread_main(void *arg)
{
    upload *u = arg;
    int backoff = 0, wait, v;
    long asked;

    if (u->thread_init)
        u->thread_init();
    pthread_mutex_lock(&u->lock);
    for (;;) {
        wait_for_work_locked(u);
        if (!u->head || past_deadline_locked(u))
            break;
        u->busy = 1;
        pthread_mutex_unlock(&u->lock);
        v = foreign(u, &u->head->job) ? V_FOREIGN
                                       : deliver(u, &u->head->job, &asked);
        pthread_mutex_lock(&u->lock);
        if (v != V_FOREIGN)
            count_locked(u, v);
        /* Still busy: upload_flush() must not see the gap between this
         * job and the spooled one that follows it. */
        settle_head_locked(u, v);
        if (v == HTTP_DELIVERED) {
            backoff = 0;
            unspool_one_locked(u);
        }
        u->busy = 0;
        pthread_cond_broadcast(&u->cond);
        if (v != HTTP_RETRY && v != HTTP_CONFIG)
            continue;
        wait = next_backoff(backoff, v, asked);
        if (v == HTTP_RETRY)
            backoff = wait < BACKOFF_MAX_MS ? wait : BACKOFF_MAX_MS;
        wait_backoff_locked(u, wait + (int)(hash_u64(time_mono_ns()) % 100));
    }
    pthread_mutex_unlock(&u->lock);
    return NULL;
}

/* ---- setup ---- */

static int add_header(upload *u, const char *name, const char *value)
{
    char **v = realloc(u->headers, (u->nheaders + 1) * sizeof(*v));
    buf b;

    if (!v)
        return -1;
    u->headers = v;
    buf_init(&b);
    buf_printf(&b, "%s: %s", name, value);
    v[u->nheaders] = buf_steal(&b, NULL);
    return v[u->nheaders++] ? 0 : -1;
}

static int add_secret(upload *u, const char *s, size_t n)
{
    char **v;

    if (n < 4)
        return 0; /* see redact_mask() */
    v = realloc(u->secrets, (u->nsecrets + 1) * sizeof(*v));
    if (!v)
        return -1;
    u->secrets = v;
    v[u->nsecrets] = malloc(n + 1);
    if (!v[u->nsecrets])
        return -1;
    memcpy(v[u->nsecrets], s, n);
    v[u->nsecrets++][n] = '\0';
    return 0;
}

/* user:password@ of the server URL, both parts masked in replies. */
static int add_url_secrets(upload *u, const char *url)
{
    const char *auth = strstr(url, "://"), *end, *at = NULL, *colon, *p;

    if (!auth)
        return 0;
    auth += 3;
    end = auth + strcspn(auth, "/?#");
    for (p = auth; p < end; p++)
        if (*p == '@')
            at = p;
    if (!at)
        return 0;
    colon = memchr(auth, ':', (size_t)(at - auth));
    if (!colon)
        return add_secret(u, auth, (size_t)(at - auth));
    return add_secret(u, auth, (size_t)(colon - auth)) ||
           add_secret(u, colon + 1, (size_t)(at - colon - 1));
}

/* The proxy the environment asks for; one that cannot be used is an
 * error at start, not a silent direct connection. */
static int setup_proxy(upload *u)
{
    const char *proxy = http_env_proxy(&u->target);
    char shown[512], why[200];

    if (!proxy)
        return 0;
    redact_url(proxy, shown, sizeof(shown));
    redact_printable(shown);
    if (add_url_secrets(u, proxy) != 0)
        return PYROSCOPE_ENOMEM;
    if (http_target_set_proxy(&u->target, proxy, why, sizeof(why)) != 0)
        return error_set(PYROSCOPE_EINVAL, "proxy '%s' from the environment "
                         "(https_proxy, http_proxy or all_proxy): %s; add the "
                         "server's host to no_proxy to connect directly",
                         shown, why);
    LOG_INFO("uploading to %s through the proxy %s", u->shown_url, shown);
    return 0;
}

static int setup_target(upload *u, const upload_opts *o)
{
    char shown[512], why[200];
    size_t n;

    redact_url(o->server, shown, sizeof(shown));
    redact_printable(shown);
    u->shown_url = str_dup(shown);
    if (!u->shown_url)
        return PYROSCOPE_ENOMEM;
    if (strncmp(o->server, "file://", 7) == 0) {
        u->file_dir = str_dup(o->server + 7);
        if (!u->file_dir)
            return PYROSCOPE_ENOMEM;
        if (access(u->file_dir, W_OK) != 0)
            return error_set(PYROSCOPE_EINVAL,
                             "server_address %s: directory not writable: %s",
                             shown, strerror(errno));
        return 0;
    }
    if (strncmp(o->server, "http://", 7) && strncmp(o->server, "https://", 8))
        return error_set(PYROSCOPE_EINVAL,
                         "server_address '%s' must start with http://, "
                         "https:// or file://", shown);
    if (http_target_parse(&u->target, o->server, why, sizeof(why)) != 0)
        return error_set(PYROSCOPE_EINVAL, "server_address '%s': %s", shown,
                         why);
    if (add_url_secrets(u, o->server) != 0)
        return PYROSCOPE_ENOMEM;
    n = strlen(u->shown_url);
    while (n > 0 && u->shown_url[n - 1] == '/')
        u->shown_url[--n] = '\0';
    return setup_proxy(u);
}

static int setup_auth(upload *u, const upload_opts *o)
{
    size_t i;
    int rc = 0;
    buf b;

    if (o->auth_token && *o->auth_token) {
        buf_init(&b);
        buf_printf(&b, "Bearer %s", o->auth_token);
        rc |= add_header(u, "Authorization", b.data ? b.data : "");
        rc |= add_secret(u, o->auth_token, strlen(o->auth_token));
        buf_free(&b);
    }
    if (o->basic_user && *o->basic_user) {
        const char *pw = o->basic_password ? o->basic_password : "";
        u->basic_user = str_dup(o->basic_user);
        u->basic_password = str_dup(pw);
        rc |= !u->basic_user || !u->basic_password;
        rc |= add_secret(u, pw, strlen(pw));
        rc |= add_secret(u, o->basic_user, strlen(o->basic_user));
    }
    if (o->tenant_id && *o->tenant_id)
        rc |= add_header(u, "X-Scope-OrgID", o->tenant_id);
    for (i = 0; i < o->nheaders; i++) {
        const char *v = o->headers[i].value ? o->headers[i].value : "";
        rc |= add_header(u, o->headers[i].key, v);
        rc |= add_secret(u, v, strlen(v));
    }
    return rc ? PYROSCOPE_ENOMEM : 0;
}

/* Header names for the debug log; values are never logged. */
static void log_header_names(upload *u)
{
    size_t i;
    buf b;

    if (log_level() < PYROSCOPE_LOG_DEBUG || u->file_dir)
        return;
    buf_init(&b);
    for (i = 0; i < u->nheaders; i++)
        buf_printf(&b, "%s%.*s", b.len ? ", " : "",
                   (int)strcspn(u->headers[i], ":"), u->headers[i]);
    LOG_DEBUG("uploading to %s with headers: %s%s", u->shown_url,
              b.data ? b.data : "(none)", u->basic_user ? " + basic auth" : "");
    buf_free(&b);
}

static int setup_tls(upload *u, const upload_opts *o)
{
    u->tls_insecure = o->tls_insecure;
    if (o->tls_ca_file && *o->tls_ca_file) {
        u->tls_ca_file = str_dup(o->tls_ca_file);
        if (!u->tls_ca_file)
            return PYROSCOPE_ENOMEM;
    }
    if (u->tls_insecure && u->target.tls)
        LOG_WARN("tls_insecure is set: the certificate of %s is not checked, "
                 "so anyone on the path can read the credentials and "
                 "profiles", u->shown_url);
    return 0;
}

static int setup_spool(upload *u, const upload_opts *o)
{
    if (!o->spool_dir || !*o->spool_dir)
        return 0;
    return spool_open(&u->spool, o->spool_dir);
}

static void destroy(upload *u)
{
    size_t i;

    while (u->head)
        drop_head_locked(u);
    for (i = 0; i < u->nheaders; i++) {
        memset(u->headers[i], 0, strlen(u->headers[i]));
        free(u->headers[i]);
    }
    free(u->headers);
    http_target_free(&u->target);
    tls_ctx_free(u->tls);
    for (i = 0; i < u->nsecrets; i++) {
        memset(u->secrets[i], 0, strlen(u->secrets[i]));
        free(u->secrets[i]);
    }
    free(u->secrets);
    if (u->basic_password)
        memset(u->basic_password, 0, strlen(u->basic_password));
    free(u->basic_password);
    free(u->basic_user);
    free(u->tls_ca_file);
    free(u->shown_url);
    free(u->file_dir);
    spool_close(u->spool);
    pthread_mutex_destroy(&u->lock);
    pthread_cond_destroy(&u->cond);
    free(u);
}

int upload_new(upload **out, const upload_opts *o)
{
    upload *u = calloc(1, sizeof(*u));
    pthread_condattr_t ca;
    int rc;

    if (!u)
        return PYROSCOPE_ENOMEM;
    pthread_mutex_init(&u->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&u->cond, &ca);
    pthread_condattr_destroy(&ca);
    u->timeout_ms = o->timeout_ms;
    u->queue_max = o->queue_max;
    u->thread_init = o->thread_init;
    u->spool_max_bytes = o->spool_max_bytes;
    u->idle_claim_ms = o->idle_claim_ms;
    u->config_status = -1;
    rc = setup_target(u, o);
    if (rc == 0)
        rc = setup_auth(u, o);
    if (rc == 0)
        rc = setup_tls(u, o);
    if (rc == 0)
        rc = setup_spool(u, o);
    if (rc == 0)
        log_header_names(u);
    if (rc == 0 && pthread_create(&u->thread, NULL, thread_main, u) != 0)
        rc = error_set(PYROSCOPE_ERROR, "cannot start upload thread");
    if (rc != 0) {
        destroy(u);
        return rc;
    }
    *out = u;
    return 0;
}

/* Also EIO when the queue emptied only because a failed spooled job went
 * back to its record: nothing queued, but not delivered either. */
int upload_flush(upload *u, int timeout_ms)
{
    uint64_t deadline = time_mono_ns() + (uint64_t)timeout_ms * 1000000ull;
    int rc;

    pthread_mutex_lock(&u->lock);
    while ((u->head || u->busy) && time_mono_ns() < deadline)
        wait_ms_locked(u, 50);
    rc = (u->head || u->busy || u->failing) ? PYROSCOPE_EIO : 0;
    pthread_mutex_unlock(&u->lock);
    return rc;
}

void upload_free(upload *u, int timeout_ms)
{
    if (!u)
        return;
    pthread_mutex_lock(&u->lock);
    u->stopping = 1;
    u->deadline_ns = time_mono_ns() + (uint64_t)timeout_ms * 1000000ull;
    pthread_cond_broadcast(&u->cond);
    pthread_mutex_unlock(&u->lock);
    pthread_join(u->thread, NULL);
    if (u->qlen && u->spool) {
        size_t n = u->qlen;
        qnode *all = u->head;
        u->head = u->tail = NULL;
        u->qlen = 0;
        u->stats.queued_bytes = 0;
        dispose(u, all); /* a later run delivers them */
        LOG_INFO("spooled %zu undelivered profile(s) to %s", n,
                 spool_path(u->spool));
    } else if (u->qlen) {
        LOG_WARN("stopping with %zu profile(s) undelivered", u->qlen);
    }
    destroy(u);
}

void upload_get_stats(upload *u, upload_stats *out)
{
    pthread_mutex_lock(&u->lock);
    *out = u->stats;
    pthread_mutex_unlock(&u->lock);
}

uint64_t upload_thread_cpu_ns(upload *u)
{
    return time_thread_cpu_ns(u->thread);
}
