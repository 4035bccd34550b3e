/*
 * Bounded multi-producer / single-consumer queue of stack samples.
 *
 * Producers are signal handlers (and allocation hooks): they claim a cell
 * with one CAS, write the sample in place and publish it.  Nothing blocks:
 * when the ring is full the sample is dropped and counted.  Cells are
 * allocated once, up front, with mmap so that no producer ever allocates.
 */
#ifndef PYROSCOPE_SAMPLER_RING_H
#define PYROSCOPE_SAMPLER_RING_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define RING_MAX_WORDS 254

enum ring_sample_type {
    SAMPLE_EMPTY = 0,   /* claimed but abandoned (deferred capture) */
    SAMPLE_CPU = 1,
    SAMPLE_HEAP_ALLOC = 2,
    SAMPLE_HEAP_FREE = 3,
    SAMPLE_LOCK = 4,     /* mutex: holder stack, waiters' delay */
    SAMPLE_BLOCK = 5,    /* block: waiter stack, its own wait */
    SAMPLE_WALL = 6,     /* pyroscope_add_sample() only */
    SAMPLE_HEAP_LIVE = 7 /* pyroscope_add_sample() only */
};

typedef struct ring_sample {
    uint16_t type;
    uint16_t nlang;   /* language frames: 2 words each, first in words[] */
    uint16_t nnative; /* native pcs after the language words */
    uint16_t flags;
    uint64_t tagset;
    int64_t values[2]; /* CPU {weight}, HEAP {size, 0}, LOCK/BLOCK {n, ns} */
    uint64_t addr;     /* HEAP: block address */
    uint64_t span_id;  /* CPU: the thread's root span, 0 = none */
    const char *span_name;
    uint64_t words[RING_MAX_WORDS];
} ring_sample;

typedef struct ring_cell {
    atomic_size_t seq;
    ring_sample s;
} ring_cell;

typedef struct ring {
    ring_cell *cells;
    size_t mask;
    atomic_size_t head;
    atomic_size_t tail;
    atomic_uint_fast64_t dropped;
} ring;

int ring_init(ring *r, size_t capacity_pow2);
void ring_destroy(ring *r);

/* Claim a cell to fill; NULL (and dropped++) when full. Async-signal-safe. */
ring_cell *ring_claim(ring *r);
/* Make a claimed cell visible to the consumer. Async-signal-safe. */
void ring_publish(ring *r, ring_cell *c);

/* Consumer: the next published sample, or NULL; then ring_consume(). */
ring_sample *ring_peek(ring *r);
void ring_consume(ring *r);

#endif
