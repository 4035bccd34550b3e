#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "common/util.h"
#include "tags/tags.h"

#define MAX_STATIC_TAGS 64
#define MAX_HEADERS 64

static char *own(config *c, const char *s)
{
    char **v;
    char *d;

    if (!s)
        return NULL;
    v = realloc(c->owned, (c->nowned + 1) * sizeof(*v));
    if (!v)
        return NULL;
    c->owned = v;
    d = str_dup(s);
    if (d)
        c->owned[c->nowned++] = d;
    return d;
}

static char *own_n(config *c, const char *s, size_t n)
{
    char tmp[1024];

    if (n >= sizeof(tmp))
        n = sizeof(tmp) - 1;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    return own(c, tmp);
}

static void trim(const char **b, const char **e)
{
    while (*b < *e && isspace((unsigned char)**b))
        (*b)++;
    while (*e > *b && isspace((unsigned char)(*e)[-1]))
        (*e)--;
}

int config_parse_kv(config *c, const char *s, char sep, char kvsep,
                    pyroscope_tag **out, size_t *n)
{
    const char *p = s;

    while (p && *p) {
        const char *end = strchr(p, sep), *eq, *kb, *ke, *vb, *ve;
        pyroscope_tag *t;
        if (!end)
            end = p + strlen(p);
        eq = memchr(p, kvsep, (size_t)(end - p));
        kb = p;
        ke = eq ? eq : end;
        trim(&kb, &ke);
        if (kb == ke && !eq) { /* empty item, e.g. trailing comma */
            p = *end ? end + 1 : end;
            continue;
        }
        if (!eq)
            return error_set(PYROSCOPE_EINVAL, "'%.*s' is not key%cvalue",
                             (int)(end - p), p, kvsep);
        vb = eq + 1;
        ve = end;
        trim(&vb, &ve);
        t = realloc(*out, (*n + 1) * sizeof(*t));
        if (!t)
            return PYROSCOPE_ENOMEM;
        *out = t;
        t[*n].key = own_n(c, kb, (size_t)(ke - kb));
        t[*n].value = own_n(c, vb, (size_t)(ve - vb));
        if (!t[*n].key || !t[*n].value)
            return PYROSCOPE_ENOMEM;
        (*n)++;
        p = *end ? end + 1 : end;
    }
    return 0;
}

long config_parse_duration_ms(const char *s)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || v < 0)
        return -1;
    if (*end == '\0' || strcmp(end, "s") == 0)
        return (long)(v * 1000);
    if (strcmp(end, "ms") == 0)
        return (long)v;
    if (strcmp(end, "m") == 0)
        return (long)(v * 60000);
    return -1;
}

long config_parse_profile_types(const char *s)
{
    static const struct {
        const char *name;
        unsigned bit;
    } names[] = {{"cpu", PYROSCOPE_PROFILE_CPU},
                 {"itimer", PYROSCOPE_PROFILE_CPU},
                 {"heap", PYROSCOPE_PROFILE_HEAP},
                 {"alloc", PYROSCOPE_PROFILE_HEAP},
                 {"memory", PYROSCOPE_PROFILE_HEAP},
                 {"lock", PYROSCOPE_PROFILE_LOCK},
                 {"mutex", PYROSCOPE_PROFILE_LOCK},
                 {"block", PYROSCOPE_PROFILE_BLOCK}};
    long bits = 0;
    const char *p = s;
    size_t i;

    while (*p) {
        const char *e = p + strcspn(p, ", ");
        int found = 0;
        for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
            if (strlen(names[i].name) == (size_t)(e - p) &&
                strncmp(names[i].name, p, (size_t)(e - p)) == 0) {
                bits |= names[i].bit;
                found = 1;
            }
        if (!found && e > p)
            return -1;
        p = *e ? e + 1 : e;
    }
    return bits;
}

static int parse_int_env(const char *name, int *out)
{
    const char *v = getenv(name);
    char *end;
    long n;

    if (!v || !*v)
        return 0;
    errno = 0;
    n = strtol(v, &end, 10);
    if (errno || *end || n < 0 || n > 1000000000L)
        return error_set(PYROSCOPE_EINVAL, "%s='%s' is not a valid number",
                         name, v);
    *out = (int)n;
    return 0;
}

static int parse_log_level(const char *v, int *out)
{
    static const char *const names[] = {"off", "error", "warn", "info",
                                        "debug"};
    int i;

    if (strcasecmp(v, "none") == 0) {
        *out = PYROSCOPE_LOG_OFF;
        return 0;
    }
    for (i = 1; i < 5; i++)
        if (strcasecmp(v, names[i]) == 0 ||
            (i == 2 && strcasecmp(v, "warning") == 0)) {
            *out = i;
            return 0;
        }
    return error_set(PYROSCOPE_EINVAL,
                     "PYROSCOPE_LOG_LEVEL='%s' (expected none, error, warn, "
                     "info or debug)", v);
}

static const char *env_or(const char *v, const char *name)
{
    const char *e;

    if (v && *v)
        return v;
    e = getenv(name);
    return (e && *e) ? e : v;
}

static int merge_env(config *c)
{
    pyroscope_config *k = &c->c;
    const char *v;
    long n;
    int rc = 0;

    k->application_name = env_or(k->application_name,
                                 "PYROSCOPE_APPLICATION_NAME");
    k->server_address = env_or(k->server_address, "PYROSCOPE_SERVER_ADDRESS");
    k->auth_token = env_or(k->auth_token, "PYROSCOPE_AUTH_TOKEN");
    k->basic_auth_user = env_or(k->basic_auth_user,
                                "PYROSCOPE_BASIC_AUTH_USER");
    k->basic_auth_password = env_or(k->basic_auth_password,
                                    "PYROSCOPE_BASIC_AUTH_PASSWORD");
    k->tenant_id = env_or(k->tenant_id, "PYROSCOPE_TENANT_ID");
    k->spool_dir = env_or(k->spool_dir, "PYROSCOPE_SPOOL_DIR");
    if (!k->sample_rate)
        rc = parse_int_env("PYROSCOPE_SAMPLE_RATE", &k->sample_rate);
    v = getenv("PYROSCOPE_UPLOAD_INTERVAL");
    if (!rc && !k->upload_interval_ms && v && *v) {
        n = config_parse_duration_ms(v);
        if (n < 0)
            return error_set(PYROSCOPE_EINVAL,
                             "PYROSCOPE_UPLOAD_INTERVAL='%s' is not a "
                             "duration (10s, 500ms, 1m)", v);
        k->upload_interval_ms = (int)n;
    }
    v = getenv("PYROSCOPE_PROFILE_TYPES");
    if (!rc && !k->profile_types && v && *v) {
        n = config_parse_profile_types(v);
        if (n <= 0)
            return error_set(PYROSCOPE_EINVAL,
                             "PYROSCOPE_PROFILE_TYPES='%s' (expected a list "
                             "of cpu, heap, lock)", v);
        k->profile_types = (unsigned)n;
    }
    v = getenv("PYROSCOPE_LOG_LEVEL");
    if (!rc && !k->log_level && v && *v)
        rc = parse_log_level(v, &k->log_level);
    return rc;
}

static int copy_pairs(config *c, const pyroscope_tag *in, size_t n,
                      pyroscope_tag **out, size_t *outn)
{
    size_t i;

    if (n && !in)
        return error_set(PYROSCOPE_EINVAL, "tags/headers array is NULL");
    *out = calloc(n ? n : 1, sizeof(**out));
    if (!*out)
        return PYROSCOPE_ENOMEM;
    for (i = 0; i < n; i++) {
        (*out)[i].key = own(c, in[i].key);
        (*out)[i].value = own(c, in[i].value ? in[i].value : "");
        if (in[i].key && !(*out)[i].key)
            return PYROSCOPE_ENOMEM;
    }
    *outn = n;
    return 0;
}

static int merge_env_lists(config *c)
{
    const char *v = getenv("PYROSCOPE_LABELS");
    int rc = 0;

    if (v && *v && c->c.tags_count == 0)
        rc = config_parse_kv(c, v, ',', '=', &c->tags, &c->c.tags_count);
    v = getenv("PYROSCOPE_HTTP_HEADERS");
    if (!rc && v && *v && c->c.http_headers_count == 0) {
        /* Accept the agents' JSON form {"K":"V"} or "K: V, K2: V2". */
        char tmp[4096], *q = tmp;
        const char *p;
        for (p = v; *p && q < tmp + sizeof(tmp) - 1; p++)
            if (!strchr("{}\"", *p))
                *q++ = *p;
        *q = '\0';
        rc = config_parse_kv(c, tmp, ',', ':', &c->headers,
                             &c->c.http_headers_count);
    }
    return rc;
}

static void apply_defaults(pyroscope_config *k)
{
    if (!k->sample_rate)
        k->sample_rate = 100;
    if (!k->upload_interval_ms)
        k->upload_interval_ms = 10000;
    if (!k->profile_types)
        k->profile_types = PYROSCOPE_PROFILE_CPU;
    if (!k->log_level)
        k->log_level = PYROSCOPE_LOG_WARN;
    if (!k->spy_name)
        k->spy_name = "pyroscope-c";
    if (!k->upload_timeout_ms)
        k->upload_timeout_ms = 10000;
    if (!k->upload_queue_max)
        k->upload_queue_max = 32;
    if (!k->stop_timeout_ms)
        k->stop_timeout_ms = 5000;
    if (!k->heap_sample_interval)
        k->heap_sample_interval = 512 * 1024;
    if (!k->lock_sample_rate)
        k->lock_sample_rate = 1;
    if (!k->spool_max_bytes)
        k->spool_max_bytes = 64u << 20;
    if (!k->server_address)
        k->server_address = "http://localhost:4040";
}

static int validate_app_name(const char *name)
{
    const char *p;

    if (!name || !*name)
        return error_set(PYROSCOPE_EINVAL,
                         "application_name is required (or set "
                         "PYROSCOPE_APPLICATION_NAME)");
    for (p = name; *p; p++)
        if ((unsigned char)*p < 0x21 || strchr("{},=\"\\", *p))
            return error_set(PYROSCOPE_EINVAL,
                             "application_name '%s' contains '%c' at offset "
                             "%d", name, *p, (int)(p - name));
    return 0;
}

static int validate(const config *c)
{
    const pyroscope_config *k = &c->c;
    size_t i;
    int rc = validate_app_name(k->application_name);

    if (rc)
        return rc;
    if (k->sample_rate < 1 || k->sample_rate > 10000)
        return error_set(PYROSCOPE_EINVAL,
                         "sample_rate %d out of range 1..10000 Hz",
                         k->sample_rate);
    if (k->upload_interval_ms < 100)
        return error_set(PYROSCOPE_EINVAL,
                         "upload_interval_ms %d below the minimum of 100",
                         k->upload_interval_ms);
    if (k->profile_types & ~31u)
        return error_set(PYROSCOPE_EINVAL, "unknown profile type bits 0x%x",
                         k->profile_types & ~31u);
    if (k->log_level < PYROSCOPE_LOG_OFF || k->log_level > PYROSCOPE_LOG_DEBUG)
        return error_set(PYROSCOPE_EINVAL, "log_level %d out of range",
                         k->log_level);
    if (k->api != PYROSCOPE_API_INGEST && k->api != PYROSCOPE_API_PUSH)
        return error_set(PYROSCOPE_EINVAL, "api %d unknown", k->api);
    if (k->upload_timeout_ms < 0 || k->upload_queue_max < 0 ||
        k->stop_timeout_ms < 0 || k->lock_sample_rate < 0 ||
        k->lock_threshold_ns < 0)
        return error_set(PYROSCOPE_EINVAL, "negative timeout or limit");
    if (k->fork_mode != PYROSCOPE_FORK_CONTINUE &&
        k->fork_mode != PYROSCOPE_FORK_STOP)
        return error_set(PYROSCOPE_EINVAL, "fork_mode %d unknown",
                         k->fork_mode);
    if (k->tags_count > MAX_STATIC_TAGS)
        return error_set(PYROSCOPE_ELIMIT, "%zu static tags (max %d)",
                         k->tags_count, MAX_STATIC_TAGS);
    for (i = 0; i < k->tags_count; i++) {
        rc = tags_check_key(c->tags[i].key);
        if (!rc)
            rc = tags_check_value(c->tags[i].value, 0);
        if (rc)
            return rc;
    }
    if (k->http_headers_count > MAX_HEADERS)
        return error_set(PYROSCOPE_ELIMIT, "too many http headers");
    for (i = 0; i < k->http_headers_count; i++) {
        const char *n = c->headers[i].key, *v = c->headers[i].value;
        if (!n || !*n || strpbrk(n, ": \r\n") || strpbrk(v, "\r\n"))
            return error_set(PYROSCOPE_EINVAL,
                             "http header '%s' has an invalid name or value",
                             n ? n : "(null)");
    }
    return 0;
}

static int own_strings(config *c)
{
    pyroscope_config *k = &c->c;
    const char **fields[] = {&k->application_name, &k->server_address,
                             &k->auth_token,       &k->basic_auth_user,
                             &k->basic_auth_password, &k->tenant_id,
                             &k->spy_name,         &k->spool_dir};
    size_t i;

    for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        if (!*fields[i])
            continue;
        *fields[i] = own(c, *fields[i]);
        if (!*fields[i])
            return PYROSCOPE_ENOMEM;
    }
    return 0;
}

int config_build(config *out, const pyroscope_config *in)
{
    int rc;

    memset(out, 0, sizeof(*out));
    if (in && (in->version == 0 || in->version > PYROSCOPE_CONFIG_VERSION))
        return error_set(PYROSCOPE_EINVAL,
                         "config version %u unknown (this library knows "
                         "1..%d): use PYROSCOPE_CONFIG_INIT",
                         in->version, PYROSCOPE_CONFIG_VERSION);
    if (in)
        out->c = *in;
    out->c.version = PYROSCOPE_CONFIG_VERSION;
    rc = copy_pairs(out, in ? in->tags : NULL, in ? in->tags_count : 0,
                    &out->tags, &out->c.tags_count);
    if (!rc)
        rc = copy_pairs(out, in ? in->http_headers : NULL,
                        in ? in->http_headers_count : 0, &out->headers,
                        &out->c.http_headers_count);
    if (!rc)
        rc = merge_env(out);
    if (!rc)
        rc = merge_env_lists(out);
    if (!rc) {
        apply_defaults(&out->c);
        rc = own_strings(out);
    }
    out->c.tags = out->tags;
    out->c.http_headers = out->headers;
    if (!rc)
        rc = validate(out);
    if (rc)
        config_free(out);
    return rc;
}

void config_free(config *c)
{
    size_t i;

    for (i = 0; i < c->nowned; i++)
        free(c->owned[i]);
    free(c->owned);
    free(c->tags);
    free(c->headers);
    memset(c, 0, sizeof(*c));
}

int pyroscope_config_init(pyroscope_config *cfg, unsigned int version)
{
    if (!cfg)
        return error_set(PYROSCOPE_EINVAL, "cfg is NULL");
    if (version == 0 || version > PYROSCOPE_CONFIG_VERSION)
        return error_set(PYROSCOPE_EINVAL, "config version %u unknown",
                         version);
    memset(cfg, 0, sizeof(*cfg));
    cfg->version = version;
    return 0;
}
