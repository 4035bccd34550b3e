#include "ring.h"

#include <string.h>
#include <sys/mman.h>

/*
 * The cell sequence protocol (after D. Vyukov's bounded queue): a cell whose
 * seq equals the producer position is free; seq == pos + 1 means published;
 * the consumer hands it back with seq = pos + capacity.
 */

int ring_init(ring *r, size_t capacity)
{
    size_t i, bytes = capacity * sizeof(ring_cell);
    void *mem;

    memset(r, 0, sizeof(*r));
    if (capacity == 0 || (capacity & (capacity - 1)))
        return -1;
    mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        return -1;
    /* A forked child never uses its parent's ring (it starts a profiler
     * of its own), and these 4 MB of touched pages made every fork copy
     * their page table entries and every later parent write fault. */
    (void)madvise(mem, bytes, MADV_DONTFORK);
    r->cells = mem;
    r->mask = capacity - 1;
    for (i = 0; i < capacity; i++)
        atomic_init(&r->cells[i].seq, i);
    return 0;
}

void ring_destroy(ring *r)
{
    if (r->cells)
        munmap(r->cells, (r->mask + 1) * sizeof(ring_cell));
    r->cells = NULL;
}

ring_cell *ring_claim(ring *r)
{
    size_t pos = atomic_load_explicit(&r->head, memory_order_relaxed);

    for (;;) {
        ring_cell *c = &r->cells[pos & r->mask];
        size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
        intptr_t dif = (intptr_t)seq - (intptr_t)pos;

        if (dif == 0) {
            if (atomic_compare_exchange_weak_explicit(
                    &r->head, &pos, pos + 1, memory_order_relaxed,
                    memory_order_relaxed))
                return c;
        } else if (dif < 0) {
            atomic_fetch_add_explicit(&r->dropped, 1, memory_order_relaxed);
            return NULL;
        } else {
            pos = atomic_load_explicit(&r->head, memory_order_relaxed);
        }
    }
}

void ring_publish(ring *r, ring_cell *c)
{
    size_t seq = atomic_load_explicit(&c->seq, memory_order_relaxed);

    (void)r;
    atomic_store_explicit(&c->seq, seq + 1, memory_order_release);
}

ring_sample *ring_peek(ring *r)
{
    size_t pos = atomic_load_explicit(&r->tail, memory_order_relaxed);
    ring_cell *c = &r->cells[pos & r->mask];
    size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);

    if (seq != pos + 1)
        return NULL;
    return &c->s;
}

void ring_consume(ring *r)
{
    size_t pos = atomic_load_explicit(&r->tail, memory_order_relaxed);
    ring_cell *c = &r->cells[pos & r->mask];

    atomic_store_explicit(&c->seq, pos + r->mask + 1, memory_order_release);
    atomic_store_explicit(&r->tail, pos + 1, memory_order_relaxed);
}
