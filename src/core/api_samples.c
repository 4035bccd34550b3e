/* Static tags and samples reported by bindings. */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/tls.h"
#include "common/util.h"
#include "core.h"
#include "sampler/ring.h"
#include "span.h"
#include "tags/tags.h"

#define MAX_STATIC_TAGS 64
#define MAX_ADDED_FRAMES (RING_MAX_WORDS / 2)

int pyroscope_tag_set(pyroscope *p, const char *key, const char *value)
{
    pyroscope_tag *t;
    char *k, *v;
    size_t i;
    int rc;

    if (!p)
        return error_set(PYROSCOPE_EINVAL, "p is NULL");
    rc = pyroscope_tag_check(key, value);
    if (rc)
        return rc;
    k = str_dup(key);
    v = str_dup(value);
    if (!k || !v) {
        free(k);
        free(v);
        return PYROSCOPE_ENOMEM;
    }
    pthread_mutex_lock(&p->lock);
    for (i = 0; i < p->nstatic && strcmp(p->static_tags[i].key, key); i++)
        ;
    if (i < p->nstatic) {
        free(k);
        free((char *)p->static_tags[i].value);
        p->static_tags[i].value = v;
        pthread_mutex_unlock(&p->lock);
        return 0;
    }
    rc = PYROSCOPE_ELIMIT;
    if (p->nstatic < MAX_STATIC_TAGS) {
        t = realloc(p->static_tags, (p->nstatic + 1) * sizeof(*t));
        rc = t ? 0 : PYROSCOPE_ENOMEM;
        if (t) {
            p->static_tags = t;
            t[p->nstatic].key = k;
            t[p->nstatic++].value = v;
        }
    }
    pthread_mutex_unlock(&p->lock);
    if (rc) {
        free(k);
        free(v);
        if (rc == PYROSCOPE_ELIMIT)
            error_set(rc, "more than %d static tags", MAX_STATIC_TAGS);
    }
    return rc;
}

int pyroscope_tag_unset(pyroscope *p, const char *key)
{
    size_t i;

    if (!p || !key)
        return error_set(PYROSCOPE_EINVAL, "NULL argument");
    pthread_mutex_lock(&p->lock);
    for (i = 0; i < p->nstatic && strcmp(p->static_tags[i].key, key); i++)
        ;
    if (i == p->nstatic) {
        pthread_mutex_unlock(&p->lock);
        return error_set(PYROSCOPE_ENOENT, "no static tag '%s'", key);
    }
    free((char *)p->static_tags[i].key);
    free((char *)p->static_tags[i].value);
    p->static_tags[i] = p->static_tags[--p->nstatic];
    pthread_mutex_unlock(&p->lock);
    return 0;
}

static int check_sample(unsigned int type, size_t nframes, size_t nvalues,
                        const pyroscope_frame *frames, const int64_t *values)
{
    size_t want = (type == PYROSCOPE_PROFILE_CPU ||
                   type == PYROSCOPE_PROFILE_CPU_EXTERNAL) ? 1
                  : type == PYROSCOPE_PROFILE_HEAP ? 4
                  : type == PYROSCOPE_PROFILE_LOCK ? 2
                  : type == PYROSCOPE_PROFILE_BLOCK ? 2
                  : type == PYROSCOPE_PROFILE_WALL ? 3
                  : type == PYROSCOPE_PROFILE_HEAP_LIVE ? 2
                                                   : 0;

    if (!want)
        return error_set(PYROSCOPE_EINVAL,
                         "type must be exactly one PYROSCOPE_PROFILE_* bit");
    /* CPU may also give its CPU time: {count, cpu ns}. */
    if (want == 1 && nvalues == 2 && values)
        return nframes && !frames
                   ? error_set(PYROSCOPE_EINVAL, "frames is NULL")
                   : 0;
    if (nvalues != want || !values)
        return error_set(PYROSCOPE_EINVAL, "this type takes %zu values", want);
    if (nframes && !frames)
        return error_set(PYROSCOPE_EINVAL, "frames is NULL");
    return 0;
}

int pyroscope_add_sample(pyroscope *p, unsigned int type,
                         const pyroscope_frame *frames, size_t frames_count,
                         const int64_t *values, size_t values_count,
                         const pyroscope_tag *tags, size_t tags_count)
{
    uint64_t words[2 * MAX_ADDED_FRAMES], tagset;
    int64_t v[4] = {0, 0, 0, 0};
    uint16_t stype;
    size_t i, n;
    int rc;

    if (!p)
        return error_set(PYROSCOPE_EINVAL, "p is NULL");
    rc = check_sample(type, frames_count, values_count, frames, values);
    if (rc)
        return rc;
    tagset = tags_current();
    if (tags) {
        rc = tags_intern(tags, tags_count, &tagset);
        if (rc)
            return rc;
    }
    n = frames_count < MAX_ADDED_FRAMES ? frames_count : MAX_ADDED_FRAMES;
    stype = (type == PYROSCOPE_PROFILE_CPU ||
             type == PYROSCOPE_PROFILE_CPU_EXTERNAL) ? SAMPLE_CPU
            : type == PYROSCOPE_PROFILE_HEAP ? SAMPLE_HEAP_ALLOC
            : type == PYROSCOPE_PROFILE_BLOCK ? SAMPLE_BLOCK
            : type == PYROSCOPE_PROFILE_WALL ? SAMPLE_WALL
            : type == PYROSCOPE_PROFILE_HEAP_LIVE ? SAMPLE_HEAP_LIVE
                                             : SAMPLE_LOCK;
    memcpy(v, values, values_count * sizeof(*values));
    if (stype == SAMPLE_CPU && values_count == 1)
        v[1] = v[0] * (1000000000LL / p->cfg.c.sample_rate);
    pthread_mutex_lock(&p->lock);
    if (p->stopping) {
        pthread_mutex_unlock(&p->lock);
        return error_set(PYROSCOPE_ESTATE, "profiler is stopping");
    }
    /* A sample reported from the thread that took it (deferred capture)
     * ran in that thread's span. */
    if (stype == SAMPLE_CPU && !tags) {
        const char *span_name = NULL;
        uint64_t span_id = tls_span(&span_name);

        tagset = span_tagset(p, tagset, span_id, span_name);
    }
    for (i = 0; i < n; i++) {
        words[2 * i] = frames_intern(&p->frames, frames[i].function,
                                     frames[i].file, frames[i].line);
        words[2 * i + 1] = 0;
    }
    rc = window_add(&p->win, stype, STACK_NAMED, tagset, words, (uint16_t)n,
                    0, v, 4) < 0
             ? PYROSCOPE_ENOMEM
             : 0;
    pthread_mutex_unlock(&p->lock);
    return rc;
}
