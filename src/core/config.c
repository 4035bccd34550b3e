#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/log.h"
#include "common/redact.h"
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

static int memchr_ctl(const char *p, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if ((unsigned char)p[i] < 0x20 || (unsigned char)p[i] == 0x7f)
            return 1;
    return 0;
}

/* `what` names the source in errors; a secret source (headers) never has
 * its text echoed, and nothing with a control character is echoed. */
static int parse_kv(config *c, const char *s, char sep, char kvsep,
                    pyroscope_tag **out, size_t *n, const char *what,
                    int secret)
{
    const char *p = s;
    size_t item = 0;

    while (p && *p) {
        const char *end = strchr(p, sep), *eq, *kb, *ke, *vb, *ve;
        pyroscope_tag *t;
        if (!end)
            end = p + strlen(p);
        item++;
        eq = memchr(p, kvsep, (size_t)(end - p));
        kb = p;
        ke = eq ? eq : end;
        trim(&kb, &ke);
        if (kb == ke && !eq) { /* empty item, e.g. trailing comma */
            p = *end ? end + 1 : end;
            continue;
        }
        if (!eq && (secret || memchr_ctl(p, (size_t)(end - p))))
            return error_set(PYROSCOPE_EINVAL,
                             "%s: item %zu is not key%cvalue (text not "
                             "shown)", what, item, kvsep);
        if (!eq)
            return error_set(PYROSCOPE_EINVAL, "%s: '%.*s' is not key%cvalue",
                             what, (int)(end - p), p, kvsep);
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

int config_parse_kv(config *c, const char *s, char sep, char kvsep,
                    pyroscope_tag **out, size_t *n)
{
    return parse_kv(c, s, sep, kvsep, out, n, "PYROSCOPE_LABELS", 0);
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

static int parse_bool_env(const char *name, int *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    const char *v = getenv(name);
    size_t i;

    if (!v || !*v)
        return 0;
    for (i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(v, no[i]) == 0)
            return 0;
    }
    return error_set(PYROSCOPE_EINVAL,
                     "%s is not a boolean (expected 1/0, true/false, yes/no, "
                     "on/off)", name);
}

static int parse_log_level(const char *v, int *out)
{
    static const char *const names[] = {"off", "error", "warn", "info",
                                        "debug"};
    int i;

    if (strcasecmp(v, "none") == 0 || strcasecmp(v, names[0]) == 0) {
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

/*
 * PYROSCOPE_API picks the upload API when the config leaves the default.
 * With OTLP, the OpenTelemetry names fill what PYROSCOPE_* left unset:
 * OTEL_EXPORTER_OTLP_ENDPOINT is the base URL (the profiles path is
 * appended, as the OTLP exporter spec says for the generic variable) and
 * OTEL_SERVICE_NAME the application name.
 */
static int merge_env_api(pyroscope_config *k)
{
    static const char *const names[] = {"ingest", "push", "otlp"};
    const char *v = getenv("PYROSCOPE_API");
    int i;

    if (k->api == PYROSCOPE_API_INGEST && v && *v) {
        for (i = 0; i < 3 && strcasecmp(v, names[i]); i++)
            ;
        if (i == 3)
            return error_set(PYROSCOPE_EINVAL,
                             "PYROSCOPE_API='%s' (expected ingest, push or "
                             "otlp)", v);
        k->api = i;
    }
    if (k->api == PYROSCOPE_API_OTLP) {
        k->server_address = env_or(k->server_address,
                                   "OTEL_EXPORTER_OTLP_ENDPOINT");
        k->application_name = env_or(k->application_name,
                                     "OTEL_SERVICE_NAME");
    }
    return 0;
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
    k->tls_ca_file = env_or(k->tls_ca_file, "PYROSCOPE_TLS_CA_FILE");
    if (!k->tls_insecure)
        rc = parse_bool_env("PYROSCOPE_TLS_INSECURE", &k->tls_insecure);
    if (!rc && !k->sample_rate)
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
    if (!rc)
        rc = merge_env_api(k);
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
        rc = parse_kv(c, tmp, ',', ':', &c->headers,
                      &c->c.http_headers_count, "PYROSCOPE_HTTP_HEADERS", 1);
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

/* A control character in a value bound for a header line or the URL
 * (CR/LF would start a new header).  The message names the field and the
 * offset, never the value: it may be a secret, and echoing the line break
 * would split the log line too. */
static int check_ctl(const char *field, const char *v)
{
    long at = redact_first_ctl(v);
    unsigned char c;

    if (at < 0)
        return 0;
    c = (unsigned char)v[at];
    return error_set(PYROSCOPE_EINVAL,
                     "%s contains control character 0x%02x%s at offset %ld "
                     "(value not shown)", field, c,
                     c == '\r' ? " (CR)" : c == '\n' ? " (LF)" : "", at);
}

static int validate_app_name(const char *name)
{
    const char *p;
    int rc;

    if (!name || !*name)
        return error_set(PYROSCOPE_EINVAL,
                         "application_name is required (or set "
                         "PYROSCOPE_APPLICATION_NAME)");
    rc = check_ctl("application_name", name);
    if (rc)
        return rc;
    for (p = name; *p; p++)
        if ((unsigned char)*p < 0x21 || strchr("{},=\"\\", *p))
            return error_set(PYROSCOPE_EINVAL,
                             "application_name '%s' contains '%c' at offset "
                             "%d", name, *p, (int)(p - name));
    return 0;
}

static int validate_server(const char *url)
{
    char shown[512];
    int rc = check_ctl("server_address", url);

    if (rc || strncmp(url, "file://", 7) == 0)
        return rc;
    redact_url(url, shown, sizeof(shown));
    /* Request paths are appended to the base: a query or fragment in it
     * would swallow them. */
    if (strpbrk(url, " ?#"))
        return error_set(PYROSCOPE_EINVAL,
                         "server_address '%s' must not contain spaces, a "
                         "query (?) or a fragment (#)", shown);
    return 0;
}

static int is_token_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Names are RFC 9110 tokens; values may be secrets and are never shown. */
static int validate_header(size_t i, const char *n, const char *v)
{
    char field[160];
    const char *p;

    if (!n || !*n)
        return error_set(PYROSCOPE_EINVAL, "http header %zu has an empty "
                         "name", i + 1);
    for (p = n; *p; p++)
        if (!is_token_char((unsigned char)*p))
            break;
    if (*p && redact_first_ctl(n) >= 0)
        return error_set(PYROSCOPE_EINVAL,
                         "http header %zu: the name contains a control "
                         "character at offset %d", i + 1, (int)(p - n));
    if (*p)
        return error_set(PYROSCOPE_EINVAL,
                         "http header '%s' has an invalid name (offset %d is "
                         "not a token character)", n, (int)(p - n));
    snprintf(field, sizeof(field), "http header '%.100s' value", n);
    return check_ctl(field, v);
}

/* Everything that ends up in a request line or header. */
static int validate_wire(const config *c)
{
    const pyroscope_config *k = &c->c;
    size_t i;
    int rc = validate_server(k->server_address);

    if (!rc && k->auth_token)
        rc = check_ctl("auth_token", k->auth_token);
    if (!rc && k->basic_auth_user)
        rc = check_ctl("basic_auth_user", k->basic_auth_user);
    if (!rc && k->basic_auth_user && strchr(k->basic_auth_user, ':'))
        rc = error_set(PYROSCOPE_EINVAL,
                       "basic_auth_user must not contain ':' (RFC 7617)");
    if (!rc && k->basic_auth_password)
        rc = check_ctl("basic_auth_password", k->basic_auth_password);
    if (!rc && k->tenant_id)
        rc = check_ctl("tenant_id", k->tenant_id);
    if (!rc && k->spy_name)
        rc = check_ctl("spy_name", k->spy_name);
    if (!rc && k->http_headers_count > MAX_HEADERS)
        rc = error_set(PYROSCOPE_ELIMIT, "too many http headers");
    for (i = 0; !rc && i < k->http_headers_count; i++)
        rc = validate_header(i, c->headers[i].key, c->headers[i].value);
    return rc;
}

static int validate_tls(const pyroscope_config *k)
{
    if (k->tls_insecure != 0 && k->tls_insecure != 1)
        return error_set(PYROSCOPE_EINVAL, "tls_insecure %d is not 0 or 1",
                         k->tls_insecure);
    if (!k->tls_ca_file)
        return 0;
    if (check_ctl("tls_ca_file", k->tls_ca_file))
        return PYROSCOPE_EINVAL;
    if (access(k->tls_ca_file, R_OK) != 0)
        return error_set(PYROSCOPE_EINVAL, "tls_ca_file %s: %s",
                         k->tls_ca_file, strerror(errno));
    return 0;
}

static int validate(const config *c)
{
    const pyroscope_config *k = &c->c;
    size_t i;
    int rc = validate_app_name(k->application_name);

    if (!rc)
        rc = validate_wire(c);
    if (!rc)
        rc = validate_tls(k);
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
    if (k->api != PYROSCOPE_API_INGEST && k->api != PYROSCOPE_API_PUSH &&
        k->api != PYROSCOPE_API_OTLP)
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
    return 0;
}

static int own_strings(config *c)
{
    pyroscope_config *k = &c->c;
    const char **fields[] = {&k->application_name, &k->server_address,
                             &k->auth_token,       &k->basic_auth_user,
                             &k->basic_auth_password, &k->tenant_id,
                             &k->spy_name,         &k->spool_dir,
                             &k->tls_ca_file};
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

static size_t config_size(unsigned int version)
{
    if (version == 1)
        return offsetof(pyroscope_config, tls_ca_file);
    return sizeof(pyroscope_config);
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
    /* A caller built against an older header passed a smaller struct:
     * read only the fields its version has; the rest stay 0 (defaults). */
    if (in)
        memcpy(&out->c, in, config_size(in->version));
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
    memset(cfg, 0, config_size(version));
    cfg->version = version;
    return 0;
}
