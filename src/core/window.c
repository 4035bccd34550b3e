#include "window.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"

void window_init(window *w, uint64_t start_ns)
{
    memset(w, 0, sizeof(*w));
    map_init(&w->index);
    w->start_ns = start_ns;
}

void window_free(window *w)
{
    size_t i;

    for (i = 0; i < w->n; i++)
        free(w->v[i].words);
    free(w->v);
    map_free(&w->index);
    memset(w, 0, sizeof(*w));
}

static int same(const agg_stack *s, uint16_t type, uint16_t flags,
                uint64_t tagset, const uint64_t *words, uint16_t nlang,
                uint16_t nnative)
{
    return s->type == type && s->flags == flags && s->tagset == tagset &&
           s->nlang == nlang && s->nnative == nnative &&
           memcmp(s->words, words,
                  (2 * (size_t)nlang + nnative) * sizeof(*words)) == 0;
}

static long append(window *w, uint16_t type, uint16_t flags, uint64_t tagset,
                   const uint64_t *words, uint16_t nlang, uint16_t nnative)
{
    size_t nw = 2 * (size_t)nlang + nnative;
    agg_stack *s;

    if (array_grow((void **)&w->v, &w->cap, w->n + 1, sizeof(*w->v)) != 0)
        return -1;
    s = &w->v[w->n];
    memset(s, 0, sizeof(*s));
    s->words = malloc((nw ? nw : 1) * sizeof(*words));
    if (!s->words)
        return -1;
    memcpy(s->words, words, nw * sizeof(*words));
    s->type = type;
    s->flags = flags;
    s->tagset = tagset;
    s->nlang = nlang;
    s->nnative = nnative;
    return (long)w->n++;
}

long window_add(window *w, uint16_t type, uint16_t flags, uint64_t tagset,
                const uint64_t *words, uint16_t nlang, uint16_t nnative,
                const int64_t *values, int nvalues)
{
    size_t nw = 2 * (size_t)nlang + nnative;
    uint64_t h = hash_bytes(words, nw * sizeof(*words),
                            tagset ^ ((uint64_t)type << 48) ^
                                ((uint64_t)flags << 32) ^ nlang);
    uint64_t *pos;
    long i;
    int k;

    /* Probe past colliding keys until the stack itself matches. */
    for (;; h = hash_u64(h)) {
        h |= 1;
        pos = map_get(&w->index, h);
        if (!pos)
            break;
        if (same(&w->v[*pos - 1], type, flags, tagset, words, nlang, nnative))
            break;
    }
    if (pos) {
        i = (long)*pos - 1;
    } else {
        i = append(w, type, flags, tagset, words, nlang, nnative);
        if (i < 0 || map_put(&w->index, h, (uint64_t)i + 1) != 0)
            return -1;
    }
    for (k = 0; k < nvalues && k < WINDOW_VALUES; k++)
        w->v[i].values[k] += values[k];
    return i;
}
