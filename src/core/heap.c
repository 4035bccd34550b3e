#include "heap.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/map.h"
#include "common/util.h"
#include "hooks/hooks.h"

typedef struct live_block {
    uint64_t addr;
    int64_t count, bytes; /* scaled estimates */
    uint64_t tagset;
    uint16_t flags, nlang, nnative;
    uint64_t *words;
} live_block;

static map g_index; /* addr -> position + 1 */
static live_block *g_live;
static size_t g_n, g_cap;

/*
 * With a mean sampling interval R bytes, an allocation of s bytes is sampled
 * with probability 1 - exp(-s/R); dividing by it makes the sums unbiased.
 */
static void scale(size_t size, size_t interval, int64_t *count,
                  int64_t *bytes)
{
    double prob = 1.0 - exp(-(double)size / (double)interval);

    if (prob <= 0)
        prob = 1e-12;
    *count = (int64_t)(1.0 / prob + 0.5);
    *bytes = (int64_t)((double)size / prob + 0.5);
}

static void remember(const ring_sample *s, int64_t count, int64_t bytes)
{
    size_t nw = 2 * (size_t)s->nlang + s->nnative;
    live_block *b;

    if (array_grow((void **)&g_live, &g_cap, g_n + 1, sizeof(*g_live)) != 0)
        return;
    b = &g_live[g_n];
    b->words = malloc((nw ? nw : 1) * sizeof(uint64_t));
    if (!b->words)
        return;
    memcpy(b->words, s->words, nw * sizeof(uint64_t));
    b->addr = s->addr;
    b->count = count;
    b->bytes = bytes;
    b->tagset = s->tagset;
    b->flags = s->flags;
    b->nlang = s->nlang;
    b->nnative = s->nnative;
    if (map_put(&g_index, s->addr | 1, ++g_n) != 0)
        free(g_live[--g_n].words);
}

static void forget(uint64_t addr)
{
    uint64_t *pos = map_get(&g_index, addr | 1);
    size_t i;

    if (!pos)
        return;
    i = *pos - 1;
    map_del(&g_index, addr | 1);
    /* Compact the array by moving the last block into the hole. */
    free(g_live[i].words);
    if (i != g_n - 1) {
        g_live[i] = g_live[g_n - 1];
        map_put(&g_index, g_live[i].addr | 1, i + 1);
    }
    g_n--;
}

void heap_collect(pyroscope *p, const ring_sample *s)
{
    int64_t v[4] = {0, 0, 0, 0};

    if (s->type == SAMPLE_HEAP_FREE) {
        forget(s->addr);
        return;
    }
    scale((size_t)s->values[0], p->cfg.c.heap_sample_interval, &v[0], &v[1]);
    window_add(&p->win, SAMPLE_HEAP_ALLOC, s->flags, s->tagset, s->words,
               s->nlang, s->nnative, v, 4);
    p->heap_samples++;
    forget(s->addr); /* an address reused without a sampled free */
    remember(s, v[0], v[1]);
}

void heap_add_inuse(pyroscope *p, window *w)
{
    size_t i;

    (void)p;
    for (i = 0; i < g_n; i++) {
        const live_block *b = &g_live[i];
        int64_t v[4] = {0, 0, b->count, b->bytes};
        window_add(w, SAMPLE_HEAP_ALLOC, b->flags, b->tagset, b->words,
                   b->nlang, b->nnative, v, 4);
    }
}

void heap_reset(void)
{
    size_t i;

    for (i = 0; i < g_n; i++)
        free(g_live[i].words);
    free(g_live);
    g_live = NULL;
    g_n = g_cap = 0;
    map_free(&g_index);
}

size_t heap_live_blocks(void)
{
    return g_n;
}

void heap_atfork_child(void)
{
    g_live = NULL;
    g_n = g_cap = 0;
    map_init(&g_index);
}

/*
 * Samples the hooks could not record (ring or sampled-address set full)
 * still count in alloc_*: under one "[lost]" frame, so the totals stay
 * unbiased even when their stacks are gone.
 */
void heap_add_lost(pyroscope *p)
{
    int64_t v[4] = {0, 0, 0, 0};
    uint64_t words[2] = {0, 0};

    malloc_hooks_lost(&v[1], &v[0]);
    if (!v[0] && !v[1])
        return;
    words[0] = frames_intern(&p->frames, "[lost]", NULL, 0);
    window_add(&p->win, SAMPLE_HEAP_ALLOC, STACK_NAMED, 0, words, 1, 0, v, 4);
}
