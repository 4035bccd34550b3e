#include "tls.h"

#include <pthread.h>
#include <stdlib.h>

__thread tls_state pyroscope__tls __attribute__((tls_model("initial-exec")));

static pthread_key_t g_key;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void free_ext(void *p)
{
    /* The thread is exiting: its handler can no longer run, but clear the
     * pointer first anyway so no late reader sees freed memory. */
    pyroscope__tls.ext = NULL;
    free(p);
}

static void make_key(void)
{
    pthread_key_create(&g_key, free_ext);
}

tls_ext *tls_ext_get(void)
{
    tls_ext *e = pyroscope__tls.ext;

    if (e)
        return e;
    pthread_once(&g_once, make_key);
    tls_guard_raise(); /* our own allocation is not profiled */
    e = calloc(1, sizeof(*e));
    tls_guard_lower();
    if (!e)
        return NULL;
    pthread_setspecific(g_key, e);
    pyroscope__tls.ext = e;
    return e;
}
