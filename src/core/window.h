/*
 * One upload window of aggregated samples: identical stacks with the same
 * tag set and type are merged and their values summed.  Frames are kept raw
 * (pcs and language words) and symbolized only when the window is exported.
 */
#ifndef PYROSCOPE_WINDOW_H
#define PYROSCOPE_WINDOW_H

#include <stddef.h>
#include <stdint.h>

#include "common/map.h"

#define WINDOW_VALUES 4
#define STACK_NAMED 1 /* language words are (named frame id, 0) */

typedef struct agg_stack {
    uint16_t type;    /* ring_sample_type, or SAMPLE_HEAP_ALLOC for heap */
    uint16_t flags;
    uint16_t nlang;
    uint16_t nnative;
    uint64_t tagset;
    int64_t values[WINDOW_VALUES];
    uint64_t *words; /* 2 * nlang + nnative */
} agg_stack;

typedef struct window {
    map index; /* stack hash -> position + 1 */
    agg_stack *v;
    size_t n, cap;
    uint64_t start_ns;
} window;

void window_init(window *w, uint64_t start_ns);
void window_free(window *w);
/* Add `values` to the stack's entry (created on first use); returns the
 * entry's position or -1 on allocation failure. */
long window_add(window *w, uint16_t type, uint16_t flags, uint64_t tagset,
                const uint64_t *words, uint16_t nlang, uint16_t nnative,
                const int64_t *values, int nvalues);

#endif
