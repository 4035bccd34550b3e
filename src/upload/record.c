#include "record.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum kind { K_INGEST = 1, K_PUSH = 2, K_FILE = 3, K_OTLP = 4 };

#define PUSH_PATH "/push.v1.PusherService/Push"
#define OTLP_PROFILES_PATH "/v1development/profiles" /* otlp.h's OTLP_PATH */
#define INGEST_PREFIX "/ingest?"
#define MAX_FIELD 4096

/* Content types are static strings in jobs; NULL = multipart "profile". */
static const char *const CONTENT_TYPES[] = {
    NULL, "application/proto", "application/octet-stream",
    "application/x-protobuf", UPLOAD_FORM_BLOCK};
#define N_CONTENT_TYPES (sizeof(CONTENT_TYPES) / sizeof(CONTENT_TYPES[0]))

typedef int (*check_fn)(const char *v, size_t n);

typedef struct field {
    uint8_t id;
    uint8_t kind;
    const char *name; /* query parameter, or part of a file name */
    check_fn check;
    int required;
} field;

static int is_word_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

static int check_word(const char *v, size_t n)
{
    size_t i;

    if (n == 0 || n > 64)
        return 0;
    for (i = 0; i < n; i++)
        if (!is_word_char((unsigned char)v[i]))
            return 0;
    return 1;
}

static int check_digits(const char *v, size_t n)
{
    size_t i;

    if (n == 0 || n > 20)
        return 0;
    for (i = 0; i < n; i++)
        if (v[i] < '0' || v[i] > '9')
            return 0;
    return 1;
}

static int check_format(const char *v, size_t n)
{
    return n == 5 && memcmp(v, "pprof", 5) == 0;
}

static int check_aggregation(const char *v, size_t n)
{
    return (n == 3 && memcmp(v, "sum", 3) == 0) ||
           (n == 7 && memcmp(v, "average", 7) == 0);
}

/* app.type{k=v,...}: printable, one brace pair at the end. */
static int check_series(const char *v, size_t n)
{
    const char *open = memchr(v, '{', n);
    size_t i;

    if (n < 4 || !open || open == v || v[n - 1] != '}')
        return 0;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c < 0x20 || c == 0x7f)
            return 0;
        if ((c == '{' && v + i != open) || (c == '}' && i != n - 1))
            return 0;
    }
    return 1;
}

static int check_app(const char *v, size_t n);
static int check_type(const char *v, size_t n);

/* The whole fixed set, in the order requests list them. */
static const field FIELDS[] = {
    {1, K_INGEST, "name", check_series, 1},
    {2, K_INGEST, "from", check_digits, 1},
    {3, K_INGEST, "until", check_digits, 1},
    {4, K_INGEST, "format", check_format, 0},
    {5, K_INGEST, "sampleRate", check_digits, 0},
    {6, K_INGEST, "spyName", check_word, 0},
    {7, K_INGEST, "units", check_word, 0},
    {8, K_INGEST, "aggregationType", check_aggregation, 0},
    {31, K_FILE, "app", check_app, 1},
    {32, K_FILE, "type", check_type, 1},
    {33, K_FILE, "start", check_digits, 1},
    {34, K_FILE, "seq", check_digits, 1},
};
#define N_FIELDS (sizeof(FIELDS) / sizeof(FIELDS[0]))

typedef struct value {
    const field *f;
    char *v;
    size_t n;
} value;

typedef struct fields {
    value v[N_FIELDS];
    size_t n;
} fields;

static const field *field_by_name(int kind, const char *name, size_t n)
{
    size_t i;

    for (i = 0; i < N_FIELDS; i++)
        if (FIELDS[i].kind == kind && strlen(FIELDS[i].name) == n &&
            memcmp(FIELDS[i].name, name, n) == 0)
            return &FIELDS[i];
    return NULL;
}

static const field *field_by_id(unsigned id)
{
    size_t i;

    for (i = 0; i < N_FIELDS; i++)
        if (FIELDS[i].id == id)
            return &FIELDS[i];
    return NULL;
}

static void fields_free(fields *fs)
{
    size_t i;

    for (i = 0; i < fs->n; i++)
        free(fs->v[i].v);
    fs->n = 0;
}

static int fields_has(const fields *fs, const field *f)
{
    size_t i;

    for (i = 0; i < fs->n; i++)
        if (fs->v[i].f == f)
            return 1;
    return 0;
}

/* Add a checked copy; -1 if unknown, repeated, invalid or out of memory. */
static int fields_add(fields *fs, const field *f, const char *v, size_t n,
                      const char **why)
{
    char *d;

    if (!f || fields_has(fs, f) || fs->n == N_FIELDS) {
        *why = f ? "a field is repeated" : "a field is not in the fixed set";
        return -1;
    }
    if (n > MAX_FIELD || !f->check(v, n)) {
        *why = "a field value breaks its rule";
        return -1;
    }
    d = malloc(n + 1);
    if (!d) {
        *why = "out of memory";
        return -1;
    }
    memcpy(d, v, n);
    d[n] = '\0';
    fs->v[fs->n].f = f;
    fs->v[fs->n].v = d;
    fs->v[fs->n++].n = n;
    return 0;
}

static int fields_complete(const fields *fs, int kind, const char **why)
{
    size_t i;

    for (i = 0; i < N_FIELDS; i++)
        if (FIELDS[i].kind == kind && FIELDS[i].required &&
            !fields_has(fs, &FIELDS[i])) {
            *why = "a required field is missing";
            return -1;
        }
    return 0;
}

/* ---- from a job ---- */

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Strict percent-decoding of what upload_escape() produces. */
static char *unescape(const char *s, size_t n, size_t *out_len)
{
    char *d = malloc(n + 1), *o = d;
    size_t i;

    if (!d)
        return NULL;
    for (i = 0; i < n; i++) {
        if (s[i] == '%') {
            int hi = i + 2 < n ? hexval((unsigned char)s[i + 1]) : -1;
            int lo = hi >= 0 ? hexval((unsigned char)s[i + 2]) : -1;
            if (lo < 0) {
                free(d);
                return NULL;
            }
            *o++ = (char)(hi * 16 + lo);
            i += 2;
        } else if (is_word_char((unsigned char)s[i]) || s[i] == '~') {
            *o++ = s[i];
        } else {
            free(d);
            return NULL;
        }
    }
    *o = '\0';
    *out_len = (size_t)(o - d);
    return d;
}

static int parse_query(const char *q, fields *fs, const char **why)
{
    while (*q) {
        const char *amp = q + strcspn(q, "&"), *eq = memchr(q, '=', amp - q);
        size_t n;
        char *v;
        int rc;

        if (!eq) {
            *why = "a query parameter has no value";
            return -1;
        }
        v = unescape(eq + 1, (size_t)(amp - eq - 1), &n);
        if (!v) {
            *why = "a query value is not strictly percent-encoded";
            return -1;
        }
        rc = fields_add(fs, field_by_name(K_INGEST, q, (size_t)(eq - q)), v,
                        n, why);
        free(v);
        if (rc)
            return -1;
        q = *amp ? amp + 1 : amp;
    }
    return fields_complete(fs, K_INGEST, why);
}

/* An application name as one safe path component. */
static int check_app(const char *v, size_t n)
{
    size_t i;

    if (n == 0 || n > 200 || v[0] == '.')
        return 0;
    for (i = 0; i < n; i++)
        if (!is_word_char((unsigned char)v[i]))
            return 0;
    return 1;
}

static int check_type(const char *v, size_t n)
{
    return check_word(v, n) && !memchr(v, '.', n);
}

/* Split "<app>.<type>.<start>.<seq>.pb.gz" (as export.c names file://
 * profiles) from the right, since app names may hold dots. */
static int parse_file_name(const char *name, fields *fs, const char **why)
{
    static const char *const parts[] = {"seq", "start", "type"};
    size_t n = strlen(name), sl = strlen(".pb.gz"), i;
    const char *end, *dot;

    *why = "the file name is not <app>.<type>.<start>.<seq>.pb.gz";
    if (n <= sl || strcmp(name + n - sl, ".pb.gz") != 0)
        return -1;
    end = name + n - sl;
    for (i = 0; i < 3; i++) {
        for (dot = end - 1; dot > name && *dot != '.'; dot--)
            ;
        if (dot <= name ||
            fields_add(fs, field_by_name(K_FILE, parts[i], strlen(parts[i])),
                       dot + 1, (size_t)(end - dot - 1), why) != 0)
            return -1;
        end = dot;
    }
    return fields_add(fs, field_by_name(K_FILE, "app", 3), name,
                      (size_t)(end - name), why);
}

static int kind_of(const upload_job *job, fields *fs, const char **why)
{
    if (job->file_name && *job->file_name)
        return parse_file_name(job->file_name, fs, why) ? -1 : K_FILE;
    if (job->path && strcmp(job->path, PUSH_PATH) == 0)
        return K_PUSH;
    if (job->path && strcmp(job->path, OTLP_PROFILES_PATH) == 0)
        return K_OTLP;
    if (job->path &&
        strncmp(job->path, INGEST_PREFIX, strlen(INGEST_PREFIX)) == 0)
        return parse_query(job->path + strlen(INGEST_PREFIX), fs, why)
                   ? -1 : K_INGEST;
    *why = "the request path is not one of the known APIs";
    return -1;
}

static int content_index(const char *ct)
{
    size_t i;

    for (i = 0; i < N_CONTENT_TYPES; i++)
        if (ct == CONTENT_TYPES[i] ||
            (ct && CONTENT_TYPES[i] && strcmp(ct, CONTENT_TYPES[i]) == 0))
            return (int)i;
    return -1;
}

static int is_id(const char *id)
{
    size_t i;

    for (i = 0; i < UPLOAD_ID_LEN; i++)
        if (hexval((unsigned char)id[i]) < 0 || (id[i] >= 'A' && id[i] <= 'F'))
            return 0;
    return id[UPLOAD_ID_LEN] == '\0';
}

static void put_le(buf *b, uint64_t v, int bytes)
{
    unsigned char d[8];
    int i;

    for (i = 0; i < bytes; i++)
        d[i] = (unsigned char)(v >> (8 * i));
    buf_append(b, d, (size_t)bytes);
}

/*
 * Layout: u8 version, u8 kind, u8 content type, u8 field count, 32 hex
 * bytes of profile id, then per field u8 id + u16 length + bytes (fixed
 * table order), then u32 body length + body.  Integers little-endian.
 */
int record_encode(const upload_job *job, buf *out, const char **why)
{
    fields fs;
    int kind, ct = content_index(job->content_type);
    size_t i, j;

    memset(&fs, 0, sizeof(fs));
    if (ct < 0 || !is_id(job->id) || job->len > RECORD_MAX_BODY) {
        *why = ct < 0 ? "unknown content type"
               : job->len > RECORD_MAX_BODY ? "the body is too large"
                                            : "the profile id is malformed";
        return -1;
    }
    kind = kind_of(job, &fs, why);
    if (kind < 0) {
        fields_free(&fs);
        return -1;
    }
    put_le(out, RECORD_VERSION, 1);
    put_le(out, (uint64_t)kind, 1);
    put_le(out, (uint64_t)ct, 1);
    put_le(out, fs.n, 1);
    buf_append(out, job->id, UPLOAD_ID_LEN);
    for (i = 0; i < N_FIELDS; i++)
        for (j = 0; j < fs.n; j++)
            if (fs.v[j].f == &FIELDS[i]) {
                put_le(out, FIELDS[i].id, 1);
                put_le(out, fs.v[j].n, 2);
                buf_append(out, fs.v[j].v, fs.v[j].n);
            }
    put_le(out, job->len, 4);
    buf_append(out, job->body, job->len);
    fields_free(&fs);
    if (out->oom)
        *why = "out of memory";
    return out->oom ? -1 : 0;
}

/* ---- back to a job ---- */

typedef struct reader {
    const unsigned char *p, *end;
} reader;

static int get_le(reader *r, int bytes, uint64_t *v)
{
    int i;

    if (r->end - r->p < bytes)
        return -1;
    *v = 0;
    for (i = 0; i < bytes; i++)
        *v |= (uint64_t)r->p[i] << (8 * i);
    r->p += bytes;
    return 0;
}

static const char *field_value(const fields *fs, const char *name)
{
    size_t i;

    for (i = 0; i < fs->n; i++)
        if (strcmp(fs->v[i].f->name, name) == 0)
            return fs->v[i].v;
    return NULL;
}

static char *build_path(int kind, const fields *fs)
{
    size_t i, j;
    buf b;

    if (kind == K_PUSH)
        return str_dup(PUSH_PATH);
    if (kind == K_OTLP)
        return str_dup(OTLP_PROFILES_PATH);
    if (kind == K_FILE)
        return str_dup("");
    buf_init(&b);
    buf_puts(&b, INGEST_PREFIX);
    for (i = 0, j = 0; i < N_FIELDS; i++) {
        const char *v = field_value(fs, FIELDS[i].name);
        char *e;
        if (FIELDS[i].kind != K_INGEST || !v)
            continue;
        e = upload_escape(v);
        buf_printf(&b, "%s%s=%s", j++ ? "&" : "", FIELDS[i].name,
                   e ? e : "");
        if (!e)
            b.oom = 1;
        free(e);
    }
    return buf_steal(&b, NULL);
}

/* Generated from parts that each passed their rule, never copied whole. */
static char *build_file_name(const fields *fs)
{
    buf b;

    buf_init(&b);
    buf_printf(&b, "%s.%s.%s.%s.pb.gz", field_value(fs, "app"),
               field_value(fs, "type"),
               field_value(fs, "start"), field_value(fs, "seq"));
    return buf_steal(&b, NULL);
}

static int read_fields(reader *r, int kind, unsigned count, fields *fs,
                       const char **why)
{
    unsigned i, last = 0;
    uint64_t id, len;

    for (i = 0; i < count; i++) {
        const field *f;
        if (get_le(r, 1, &id) || get_le(r, 2, &len) ||
            (uint64_t)(r->end - r->p) < len) {
            *why = "the record is truncated";
            return -1;
        }
        f = field_by_id((unsigned)id);
        if (!f || f->kind != kind || id <= last) {
            *why = "a field is unknown, misplaced or out of order";
            return -1;
        }
        last = (unsigned)id;
        if (memchr(r->p, '\0', len)) {
            *why = "a field value holds a NUL byte";
            return -1;
        }
        if (fields_add(fs, f, (const char *)r->p, len, why))
            return -1;
        r->p += len;
    }
    return fields_complete(fs, kind, why);
}

static int read_head(reader *r, uint64_t *kind, uint64_t *ct,
                     uint64_t *count, upload_job *out, const char **why)
{
    uint64_t version;

    if (get_le(r, 1, &version) || get_le(r, 1, kind) || get_le(r, 1, ct) ||
        get_le(r, 1, count) || r->end - r->p < UPLOAD_ID_LEN) {
        *why = "the record is truncated";
        return -1;
    }
    if (version != RECORD_VERSION) {
        *why = "unknown record version";
        return -1;
    }
    if (*kind < K_INGEST || *kind > K_OTLP || *ct >= N_CONTENT_TYPES ||
        ((*kind == K_PUSH || *kind == K_OTLP) && *count != 0)) {
        *why = "unknown API kind or content type";
        return -1;
    }
    memcpy(out->id, r->p, UPLOAD_ID_LEN);
    out->id[UPLOAD_ID_LEN] = '\0';
    r->p += UPLOAD_ID_LEN;
    if (!is_id(out->id)) {
        *why = "the profile id is malformed";
        return -1;
    }
    return 0;
}

int record_decode(const unsigned char *d, size_t n, upload_job *out,
                  const char **why)
{
    reader r = {d, d + n};
    uint64_t kind, ct, count, blen;
    fields fs;

    memset(out, 0, sizeof(*out));
    memset(&fs, 0, sizeof(fs));
    if (read_head(&r, &kind, &ct, &count, out, why) ||
        read_fields(&r, (int)kind, (unsigned)count, &fs, why))
        goto fail;
    if (get_le(&r, 4, &blen) || blen != (uint64_t)(r.end - r.p)) {
        *why = "the body length does not match the record";
        goto fail;
    }
    out->content_type = CONTENT_TYPES[ct];
    out->path = build_path((int)kind, &fs);
    out->file_name = kind == K_FILE ? build_file_name(&fs) : NULL;
    out->body = malloc(blen ? blen : 1);
    if (!out->path || !out->body || (kind == K_FILE && !out->file_name)) {
        *why = "out of memory";
        goto fail;
    }
    memcpy(out->body, r.p, blen);
    out->len = blen;
    fields_free(&fs);
    return 0;
fail:
    fields_free(&fs);
    upload_job_free(out);
    return -1;
}
