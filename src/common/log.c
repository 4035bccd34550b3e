#include "log.h"
#include "tls.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int g_level = PYROSCOPE_LOG_WARN;
static pyroscope_log_fn g_fn;
static void *g_payload;
static char g_error_oom[] = "out of memory (no room for the detail)";

static const char *const level_names[] = {"", "error", "warn", "info",
                                          "debug"};

void log_configure(int level, pyroscope_log_fn fn, void *payload)
{
    g_level = level;
    g_fn = fn;
    g_payload = payload;
}

int log_level(void)
{
    return g_level;
}

void log_msg(int level, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;

    if (level > g_level || level <= 0)
        return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (g_fn) {
        g_fn(level, buf, g_payload);
        return;
    }
    fprintf(stderr, "[pyroscope] %s: %s\n", level_names[level], buf);
}

int error_set(int code, const char *fmt, ...)
{
    tls_ext *e = tls_ext_get();
    va_list ap;

    if (!e)
        return code;
    va_start(ap, fmt);
    vsnprintf(e->error, sizeof(e->error), fmt, ap);
    va_end(ap);
    return code;
}

void error_clear(void)
{
    if (pyroscope__tls.ext)
        pyroscope__tls.ext->error[0] = '\0';
}

const char *pyroscope_last_error(void)
{
    tls_ext *e = tls_ext_get();

    return e ? e->error : g_error_oom;
}

const char *pyroscope_strerror(int err)
{
    switch (err) {
#define PYROSCOPE_ERR_CASE_(name, val, msg)                                   \
    case val:                                                                 \
        return msg;
        PYROSCOPE_ERRNO_MAP(PYROSCOPE_ERR_CASE_)
#undef PYROSCOPE_ERR_CASE_
    default:
        return "unknown error";
    }
}

int pyroscope_version_number(void)
{
    return PYROSCOPE_VERSION_NUMBER;
}

const char *pyroscope_version(void)
{
    return PYROSCOPE_VERSION_STRING;
}
