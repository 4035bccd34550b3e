#include "span.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/tls.h"
#include "common/util.h"
#include "tags/tags.h"

#define SPAN_NAMES_MAX 4096
#define SPAN_NAME_MAX 200

/*
 * Span names are few (one per operation, not per request) and the handler
 * keeps a bare pointer to them, so they are interned once and never freed.
 * Past SPAN_NAMES_MAX distinct names, new ones go unnamed rather than
 * growing without bound.
 */
static pthread_mutex_t g_names_lock = PTHREAD_MUTEX_INITIALIZER;
static char *g_names[SPAN_NAMES_MAX];
static size_t g_nnames;

static const char *intern_name(const char *name)
{
    char cut[SPAN_NAME_MAX + 1];
    const char *found = NULL;
    size_t i;

    if (!name || !*name)
        return NULL;
    snprintf(cut, sizeof(cut), "%s", name);
    pthread_mutex_lock(&g_names_lock);
    for (i = 0; i < g_nnames && !found; i++)
        if (!strcmp(g_names[i], cut))
            found = g_names[i];
    if (!found && g_nnames < SPAN_NAMES_MAX) {
        pyroscope__tls.hook_depth++; /* our own allocation */
        g_names[g_nnames] = str_dup(cut);
        pyroscope__tls.hook_depth--;
        found = g_names[g_nnames];
        if (found)
            g_nnames++;
    }
    pthread_mutex_unlock(&g_names_lock);
    return found;
}

PYROSCOPE_EXTERN int pyroscope_span_begin(uint64_t span_id, const char *name)
{
    tls_ext *e;
    const char *n;

    if (span_id == 0)
        return error_set(PYROSCOPE_EINVAL, "span id 0 is reserved for "
                                           "\"no span\"");
    e = tls_ext_get();
    if (!e)
        return PYROSCOPE_ENOMEM;
    if (e->span_depth++ > 0)
        return 0; /* a child span: samples keep the root's labels */
    n = intern_name(name);
    /* The handler runs on this thread: name first, then the id it keys on. */
    e->span_name = n;
    atomic_signal_fence(memory_order_seq_cst);
    e->span_id = span_id;
    return 0;
}

PYROSCOPE_EXTERN void pyroscope_span_end(void)
{
    tls_ext *e = pyroscope__tls.ext;

    if (!e || e->span_depth <= 0)
        return;
    if (--e->span_depth == 0)
        e->span_id = 0;
}

static uint64_t derive(pyroscope *p, uint64_t tagset, uint64_t span_id,
                       const char *name)
{
    pyroscope_tag kv[TAGS_MAX_PER_SET];
    char strings[TAGS_MAX_PER_SET * (TAGS_MAX_KEY_LEN + TAGS_MAX_VALUE_LEN + 2)];
    char hex[17];
    size_t n = tags_get(tagset, kv, TAGS_MAX_PER_SET - 2, strings,
                        sizeof(strings));
    uint64_t id = 0;

    snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)span_id);
    kv[n].key = "span_id";
    kv[n++].value = hex;
    if (name) {
        kv[n].key = "span_name";
        kv[n++].value = name;
    }
    if (tags_intern_labels(kv, n, &id) != 0)
        return 0;
    return id;
}

uint64_t span_tagset(pyroscope *p, uint64_t tagset, uint64_t span_id,
                     const char *name)
{
    uint64_t key, *hit, id;

    if (!span_id || (p->cfg.c.api == PYROSCOPE_API_INGEST &&
                     strncmp(p->cfg.c.server_address, "file://", 7) != 0))
        return tagset;
    key = hash_u64(tagset ^ hash_u64(span_id ^ (uint64_t)(uintptr_t)name)) | 1;
    hit = map_get(&p->span_cache, key);
    if (hit)
        return *hit;
    id = derive(p, tagset, span_id, name);
    if (!id) {
        /* The tag set table is full (TAGS_MAX_SETS live sets): keep the
         * sample, without its span. */
        if (p->spans_unlabelled++ == 0)
            LOG_WARN("span profiles: too many spans in one window; some "
                     "samples are uploaded without span labels");
        return tagset;
    }
    map_put(&p->span_cache, key, id);
    return id;
}
