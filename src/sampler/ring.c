#include "ring.h"

#include <string.h>
#include <sys/mman.h>

/*
 * The cell sequence protocol (after D. Vyukov's bounded queue): a cell whose
 * seq equals the producer position is free; seq == pos + 1 means published;
 * the consumer hands it back with seq = pos + capacity.  A cell stores its
 * seq minus its index, so the fresh zero pages of the mapping already say
 * "free" and are not touched before a sample lands in them: writing 2048
 * initial seqs faulted in all 4 MB at every start (1000 page faults, most
 * of the start-up cost of a short preloaded program).
 */

static size_t seq_load(const ring *r, ring_cell *c, memory_order mo)
{
    return atomic_load_explicit(&c->seq, mo) + (size_t)(c - r->cells);
}

static void seq_store(const ring *r, ring_cell *c, size_t seq,
                      memory_order mo)
{
    atomic_store_explicit(&c->seq, seq - (size_t)(c - r->cells), mo);
}

int ring_init(ring *r, size_t capacity)
{
    size_t bytes = capacity * sizeof(ring_cell);
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
        size_t seq = seq_load(r, c, memory_order_acquire);
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
    size_t seq = seq_load(r, c, memory_order_relaxed);

    seq_store(r, c, seq + 1, memory_order_release);
}

ring_sample *ring_peek(ring *r)
{
    size_t pos = atomic_load_explicit(&r->tail, memory_order_relaxed);
    ring_cell *c = &r->cells[pos & r->mask];
    size_t seq = seq_load(r, c, memory_order_acquire);

    if (seq != pos + 1)
        return NULL;
    return &c->s;
}

void ring_consume(ring *r)
{
    size_t pos = atomic_load_explicit(&r->tail, memory_order_relaxed);
    ring_cell *c = &r->cells[pos & r->mask];

    seq_store(r, c, pos + r->mask + 1, memory_order_release);
    atomic_store_explicit(&r->tail, pos + 1, memory_order_relaxed);
}
