/*
 * Zero-code mode: when libpyroscope.so is in LD_PRELOAD (or
 * PYROSCOPE_AUTOSTART=1), start from a constructor with the configuration
 * from PYROSCOPE_* variables and flush at normal exit.  A bad configuration
 * is logged once and the program runs unprofiled.
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "core.h"
#include "pyroscope.h"

static int g_auto;

static int preloaded(void)
{
    const char *pre = getenv("LD_PRELOAD"), *force = getenv("PYROSCOPE_AUTOSTART");
    const char *base;
    Dl_info info;

    if (force && *force)
        return strcmp(force, "0") != 0;
    if (!pre || !*pre || !dladdr((void *)preloaded, &info) || !info.dli_fname)
        return 0;
    base = strrchr(info.dli_fname, '/');
    base = base ? base + 1 : info.dli_fname;
    /* Our file name as a whole entry of the list (':' or ' ' separated). */
    for (const char *p = strstr(pre, base); p; p = strstr(p + 1, base)) {
        char after = p[strlen(base)];
        if (after == '\0' || after == ':' || after == ' ')
            return 1;
    }
    return 0;
}

static void stop_at_exit(void)
{
    /* The current handle, not the one we started: after fork the child
     * runs a new one (or is about to: no restart while exiting). */
    pyroscope__restart_cancel();
    if (g_auto)
        pyroscope_stop(pyroscope_current());
    g_auto = 0;
}

__attribute__((constructor)) static void pyroscope_autostart(void)
{
    pyroscope *p;
    int rc;

    if (!preloaded())
        return;
    rc = pyroscope_start(&p, NULL);
    if (rc != 0) {
        log_msg(PYROSCOPE_LOG_ERROR,
                "not profiling this process: %s (%s)", pyroscope_last_error(),
                pyroscope_strerror(rc));
        return;
    }
    g_auto = 1;
    /* A preloaded program knows nothing of us: no binding adopts the
     * child's handle right after fork, so the child may start later. */
    pyroscope__fork_lazy(1);
    atexit(stop_at_exit);
}
