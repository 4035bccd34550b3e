#include "upload.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/util.h"
#include "spool.h"

#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000

typedef struct qnode {
    upload_job job;
    struct qnode *next;
} qnode;

struct upload {
    char *base_url; /* without trailing slash */
    char *file_dir; /* file:// mode */
    struct curl_slist *headers;
    char *userpwd;
    char *token, *password; /* masked in logged server replies */
    int timeout_ms;
    int queue_max;
    char *spool_dir;
    uint64_t spool_max_bytes;
    void (*thread_init)(void);

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

static pthread_once_t g_curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

void upload_job_free(upload_job *job)
{
    free(job->path);
    free(job->file_name);
    free(job->body);
    memset(job, 0, sizeof(*job));
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

static int write_file(upload *u, const upload_job *job)
{
    char path[4096], tmp[4200];
    FILE *f;
    size_t w;

    snprintf(path, sizeof(path), "%s/%s", u->file_dir, job->file_name);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    f = fopen(tmp, "wbe");
    if (!f) {
        LOG_WARN("cannot write %s: %s", tmp, strerror(errno));
        return -1;
    }
    w = fwrite(job->body, 1, job->len, f);
    if (fclose(f) != 0 || w != job->len || rename(tmp, path) != 0) {
        LOG_WARN("cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

static int abort_cb(void *p, curl_off_t a, curl_off_t b, curl_off_t c,
                    curl_off_t d)
{
    upload *u = p;
    int stop;

    (void)a, (void)b, (void)c, (void)d;
    pthread_mutex_lock(&u->lock);
    stop = u->stopping && time_mono_ns() > u->deadline_ns;
    pthread_mutex_unlock(&u->lock);
    return stop;
}

/* ---- the server's answer, kept for the log ---- */

#define REPLY_KEEP 2048 /* bytes of a response body kept */
#define REPLY_LOG 300   /* characters of it that reach the log */

typedef struct reply {
    char data[REPLY_KEEP];
    size_t len;
} reply;

/* Keeps the first REPLY_KEEP bytes, swallows the rest. */
static size_t keep_cb(char *p, size_t s, size_t n, void *ud)
{
    reply *r = ud;
    size_t len = s * n, room = sizeof(r->data) - r->len;

    if (len < room)
        room = len;
    memcpy(r->data + r->len, p, room);
    r->len += room;
    return s * n;
}

/* Hide `secret` (when long enough to matter) wherever the server echoed
 * it; done on the raw reply, before it is cut, so no prefix survives. */
static void mask(char *text, size_t len, const char *secret)
{
    size_t n = secret ? strlen(secret) : 0, i;

    if (n < 4 || n > len)
        return;
    for (i = 0; i + n <= len; i++)
        if (text[i] == secret[0] && memcmp(text + i, secret, n) == 0) {
            memset(text + i, '*', n);
            i += n - 1;
        }
}

/* One printable line: controls become spaces, runs of spaces collapse, at
 * most REPLY_LOG characters; our credentials never appear in it. */
static void reply_text(const upload *u, reply *r, char *out, size_t cap)
{
    size_t i, n = 0;
    int space = 1;

    mask(r->data, r->len, u->token);
    mask(r->data, r->len, u->password);
    for (i = 0; i < r->len && n + 4 < cap && n < REPLY_LOG; i++) {
        unsigned char c = (unsigned char)r->data[i];
        if (c < 0x20 || c > 0x7e)
            c = ' ';
        if (c == ' ' && space)
            continue;
        space = c == ' ';
        out[n++] = (char)c;
    }
    while (n > 0 && out[n - 1] == ' ')
        n--;
    if (i < r->len && n + 4 < cap)
        memcpy(out + n, "...", 3), n += 3;
    out[n] = '\0';
}

/* "/ingest?name=..." -> "/ingest": the query is long and not needed here. */
static void path_only(const char *path, char *out, size_t cap)
{
    size_t n = strcspn(path, "?");

    if (n >= cap)
        n = cap - 1;
    memcpy(out, path, n);
    out[n] = '\0';
}

/* 0 delivered, 1 retry later, -1 give up on this job. */
static int post(upload *u, const upload_job *job)
{
    CURL *c = curl_easy_init();
    curl_mime *mime = NULL;
    struct curl_slist *hdrs = NULL, *h;
    char *url;
    long status = 0;
    CURLcode rc;
    reply *ans = calloc(1, sizeof(*ans));
    char where[128], text[REPLY_LOG + 8];
    buf b;

    if (!c || !ans) {
        if (c)
            curl_easy_cleanup(c);
        free(ans);
        return 1;
    }
    buf_init(&b);
    buf_printf(&b, "%s%s", u->base_url, job->path);
    url = buf_steal(&b, NULL);
    for (h = u->headers; h; h = h->next)
        hdrs = curl_slist_append(hdrs, h->data);
    if (job->content_type) {
        char ct[128];
        snprintf(ct, sizeof(ct), "Content-Type: %s", job->content_type);
        hdrs = curl_slist_append(hdrs, ct);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, job->body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)job->len);
    } else {
        curl_mimepart *part;
        mime = curl_mime_init(c);
        part = curl_mime_addpart(mime);
        curl_mime_name(part, "profile");
        curl_mime_filename(part, "profile.pprof");
        curl_mime_type(part, "application/octet-stream");
        curl_mime_data(part, (const char *)job->body, job->len);
        curl_easy_setopt(c, CURLOPT_MIMEPOST, mime);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)u->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(u->timeout_ms < 5000 ? u->timeout_ms : 5000));
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, abort_cb);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, u);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, keep_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, ans);
    curl_easy_setopt(c, CURLOPT_USERAGENT,
                     "pyroscope-c/" PYROSCOPE_VERSION_STRING);
    if (u->userpwd) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERPWD, u->userpwd);
    }
    rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    curl_mime_free(mime);
    curl_slist_free_all(hdrs);
    free(url);
    if (rc != CURLE_OK) {
        LOG_WARN("upload failed: %s", curl_easy_strerror(rc));
        free(ans);
        return 1;
    }
    path_only(job->path, where, sizeof(where));
    reply_text(u, ans, text, sizeof(text));
    if (status >= 200 && status < 300) {
        LOG_DEBUG("uploaded %zu bytes to %s: HTTP %ld", job->len, where,
                  status);
        free(ans);
        return 0;
    }
    LOG_WARN("upload to %s rejected: HTTP %ld: %s", where, status,
             *text ? text : "(empty response)");
    free(ans);
    return (status >= 500 || status == 429 || status == 408) ? 1 : -1;
}

static int deliver(upload *u, const upload_job *job)
{
    if (u->file_dir)
        return write_file(u, job) == 0 ? 0 : -1;
    return post(u, job);
}

/* ---- the queue ---- */

static void drop_head_locked(upload *u)
{
    qnode *n = u->head;

    u->head = n->next;
    if (!u->head)
        u->tail = NULL;
    u->qlen--;
    u->stats.queued_bytes -= n->job.len;
    upload_job_free(&n->job);
    free(n);
}

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

/* Spill evicted jobs to disk when a spool is configured, else drop them. */
static void dispose(upload *u, qnode *list)
{
    while (list) {
        qnode *next = list->next;
        int kept = u->spool_dir && spool_write(u->spool_dir, &list->job) == 0;
        pthread_mutex_lock(&u->lock);
        if (kept)
            u->stats.spooled++;
        else
            u->stats.dropped++;
        pthread_mutex_unlock(&u->lock);
        upload_job_free(&list->job);
        free(list);
        list = next;
    }
    if (u->spool_dir) {
        size_t gone = spool_trim(u->spool_dir, u->spool_max_bytes);
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

/* After a success (the server is back) bring one spooled job in front. */
static void unspool_one_locked(upload *u)
{
    upload_job job;
    qnode *n;
    int rc;

    if (!u->spool_dir || u->qlen >= (size_t)u->queue_max)
        return;
    pthread_mutex_unlock(&u->lock);
    rc = spool_take(u->spool_dir, &job);
    n = rc == 0 ? malloc(sizeof(*n)) : NULL;
    pthread_mutex_lock(&u->lock);
    if (rc != 0)
        return;
    if (!n) {
        upload_job_free(&job);
        return;
    }
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

static void *thread_main(void *arg)
{
    upload *u = arg;
    int backoff = 0, rc;

    if (u->thread_init)
        u->thread_init();
    pthread_mutex_lock(&u->lock);
    unspool_one_locked(u); /* left over from an earlier run */
    for (;;) {
        while (!u->head && !u->stopping)
            pthread_cond_wait(&u->cond, &u->lock);
        if (!u->head || past_deadline_locked(u))
            break;
        u->busy = 1;
        pthread_mutex_unlock(&u->lock);
        rc = deliver(u, &u->head->job);
        pthread_mutex_lock(&u->lock);
        u->busy = 0;
        if (rc == 0) {
            u->stats.uploaded++;
            backoff = 0;
        } else {
            u->stats.failures++;
        }
        if (rc <= 0) {
            drop_head_locked(u);
            if (rc < 0)
                u->stats.dropped++;
            else if (!u->stopping)
                unspool_one_locked(u);
            pthread_cond_broadcast(&u->cond);
            continue;
        }
        backoff = backoff ? backoff * 2 : BACKOFF_MIN_MS;
        if (backoff > BACKOFF_MAX_MS)
            backoff = BACKOFF_MAX_MS;
        if (u->stopping) {
            uint64_t left = u->deadline_ns > time_mono_ns()
                                ? (u->deadline_ns - time_mono_ns()) / 1000000
                                : 0;
            if ((uint64_t)backoff > left)
                backoff = (int)left;
        }
        wait_backoff_locked(u, backoff + (int)(hash_u64(time_mono_ns()) % 100));
    }
    pthread_mutex_unlock(&u->lock);
    return NULL;
}

/* ---- setup ---- */

static int add_header(upload *u, const char *name, const char *value)
{
    char line[2048];
    struct curl_slist *l;

    snprintf(line, sizeof(line), "%s: %s", name, value);
    l = curl_slist_append(u->headers, line);
    if (!l)
        return -1;
    u->headers = l;
    return 0;
}

static int setup_target(upload *u, const upload_opts *o)
{
    size_t n;

    if (strncmp(o->server, "file://", 7) == 0) {
        u->file_dir = str_dup(o->server + 7);
        if (!u->file_dir)
            return PYROSCOPE_ENOMEM;
        if (access(u->file_dir, W_OK) != 0)
            return error_set(PYROSCOPE_EINVAL,
                             "server_address %s: directory not writable: %s",
                             o->server, strerror(errno));
        return 0;
    }
    if (strncmp(o->server, "http://", 7) && strncmp(o->server, "https://", 8))
        return error_set(PYROSCOPE_EINVAL,
                         "server_address '%s' must start with http://, "
                         "https:// or file://", o->server);
    u->base_url = str_dup(o->server);
    if (!u->base_url)
        return PYROSCOPE_ENOMEM;
    n = strlen(u->base_url);
    while (n > 0 && u->base_url[n - 1] == '/')
        u->base_url[--n] = '\0';
    return 0;
}

static int setup_auth(upload *u, const upload_opts *o)
{
    size_t i;
    buf b;

    if (o->auth_token && *o->auth_token) {
        u->token = str_dup(o->auth_token);
        buf_init(&b);
        buf_printf(&b, "Bearer %s", o->auth_token);
        if (add_header(u, "Authorization", b.data ? b.data : "") != 0) {
            buf_free(&b);
            return PYROSCOPE_ENOMEM;
        }
        buf_free(&b);
    }
    if (o->basic_user && *o->basic_user) {
        buf_init(&b);
        buf_printf(&b, "%s:%s", o->basic_user,
                   o->basic_password ? o->basic_password : "");
        u->userpwd = buf_steal(&b, NULL);
        if (o->basic_password)
            u->password = str_dup(o->basic_password);
    }
    if (o->tenant_id && *o->tenant_id &&
        add_header(u, "X-Scope-OrgID", o->tenant_id) != 0)
        return PYROSCOPE_ENOMEM;
    for (i = 0; i < o->nheaders; i++)
        if (add_header(u, o->headers[i].key, o->headers[i].value) != 0)
            return PYROSCOPE_ENOMEM;
    return 0;
}

static void destroy(upload *u)
{
    while (u->head)
        drop_head_locked(u);
    curl_slist_free_all(u->headers);
    free(u->userpwd);
    free(u->token);
    free(u->password);
    free(u->base_url);
    free(u->file_dir);
    free(u->spool_dir);
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
    pthread_once(&g_curl_once, curl_init_once);
    pthread_mutex_init(&u->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&u->cond, &ca);
    pthread_condattr_destroy(&ca);
    u->timeout_ms = o->timeout_ms;
    u->queue_max = o->queue_max;
    u->thread_init = o->thread_init;
    u->spool_max_bytes = o->spool_max_bytes;
    if (o->spool_dir && *o->spool_dir) {
        u->spool_dir = str_dup(o->spool_dir);
        if (!u->spool_dir || access(o->spool_dir, W_OK) != 0) {
            destroy(u);
            return error_set(PYROSCOPE_EINVAL,
                             "spool_dir %s is not a writable directory",
                             o->spool_dir);
        }
    }
    rc = setup_target(u, o);
    if (rc == 0)
        rc = setup_auth(u, o);
    if (rc == 0 && pthread_create(&u->thread, NULL, thread_main, u) != 0)
        rc = error_set(PYROSCOPE_ERROR, "cannot start upload thread");
    if (rc != 0) {
        destroy(u);
        return rc;
    }
    *out = u;
    return 0;
}

int upload_flush(upload *u, int timeout_ms)
{
    uint64_t deadline = time_mono_ns() + (uint64_t)timeout_ms * 1000000ull;
    int rc;

    pthread_mutex_lock(&u->lock);
    while ((u->head || u->busy) && time_mono_ns() < deadline)
        wait_ms_locked(u, 50);
    rc = (u->head || u->busy) ? PYROSCOPE_EIO : 0;
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
    if (u->qlen && u->spool_dir) {
        size_t n = u->qlen;
        qnode *all = u->head;
        u->head = u->tail = NULL;
        u->qlen = 0;
        dispose(u, all); /* a later run delivers them */
        LOG_INFO("spooled %zu undelivered profile(s) to %s", n, u->spool_dir);
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
