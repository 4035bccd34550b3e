#include "acct.h"

#include <stdatomic.h>
#include <stddef.h>

/* Open addressing, linear probing.  2048 slots cover any sane thread count;
 * threads beyond what fits fall back to overrun-based weights. */
#define SLOTS 2048
#define EMPTY 0
#define GONE (-1)

typedef struct slot {
    atomic_int tid;
    _Atomic uint64_t acct_ns; /* CPU time already covered by samples */
} slot;

static slot g_slots[SLOTS];
static int g_gone; /* tombstones; collector only */

static unsigned home(pid_t tid)
{
    return ((unsigned)tid * 2654435761u) & (SLOTS - 1);
}

static slot *find(pid_t tid)
{
    unsigned i = home(tid), n;

    for (n = 0; n < SLOTS; n++, i = (i + 1) & (SLOTS - 1)) {
        int t = atomic_load_explicit(&g_slots[i].tid, memory_order_acquire);

        if (t == tid)
            return &g_slots[i];
        if (t == EMPTY)
            return NULL;
    }
    return NULL;
}

void acct_reset(void)
{
    for (int i = 0; i < SLOTS; i++)
        atomic_store_explicit(&g_slots[i].tid, EMPTY, memory_order_relaxed);
    g_gone = 0;
}

static void insert(pid_t tid, uint64_t cpu_ns)
{
    unsigned i = home(tid), n;

    for (n = 0; n < SLOTS; n++, i = (i + 1) & (SLOTS - 1)) {
        int t = atomic_load_explicit(&g_slots[i].tid, memory_order_relaxed);

        if (t != EMPTY && t != GONE)
            continue;
        if (t == GONE)
            g_gone--;
        atomic_store_explicit(&g_slots[i].acct_ns, cpu_ns,
                              memory_order_relaxed);
        /* Publish the time before the tid a handler looks up. */
        atomic_store_explicit(&g_slots[i].tid, tid, memory_order_release);
        return;
    }
}

/* Tombstones make misses probe further; past a quarter of the table, lay
 * the live entries out again.  A handler racing this may miss its slot once
 * and weigh that sample by the timer's overrun instead. */
static void compact(void)
{
    static struct {
        pid_t tid;
        uint64_t acct;
    } live[SLOTS];
    int n = 0, i;

    for (i = 0; i < SLOTS; i++) {
        int t = atomic_load(&g_slots[i].tid);

        if (t != EMPTY && t != GONE) {
            live[n].tid = t;
            live[n++].acct = atomic_load(&g_slots[i].acct_ns);
        }
    }
    acct_reset();
    for (i = 0; i < n; i++)
        insert(live[i].tid, live[i].acct);
}

void acct_add(pid_t tid, uint64_t cpu_ns)
{
    slot *s = find(tid);

    if (s) {
        atomic_store(&s->acct_ns, cpu_ns);
        return;
    }
    if (g_gone > SLOTS / 4)
        compact();
    insert(tid, cpu_ns);
}

void acct_remove(pid_t tid)
{
    slot *s = find(tid);

    if (s) {
        atomic_store_explicit(&s->tid, GONE, memory_order_release);
        g_gone++;
    }
}

int64_t acct_take(pid_t tid, uint64_t now_ns, uint64_t period_ns)
{
    slot *s = find(tid);
    uint64_t acct;
    int64_t periods;

    if (!s)
        return -1;
    /* Only this thread's handler advances its slot, and the signal is
     * blocked while the handler runs: no compare-and-swap needed. */
    acct = atomic_load_explicit(&s->acct_ns, memory_order_relaxed);
    if (now_ns < acct)
        return 0;
    /* Round to the nearest period: the timer and our start time are not
     * read at the same instant, so a timely signal can land a hair early. */
    periods = (int64_t)((now_ns - acct + period_ns / 2) / period_ns);
    if (periods > 0)
        atomic_store_explicit(&s->acct_ns, acct + (uint64_t)periods * period_ns,
                              memory_order_relaxed);
    return periods;
}

uint64_t acct_lag(pid_t tid, uint64_t cpu_ns)
{
    slot *s = find(tid);
    uint64_t acct;

    if (!s)
        return 0;
    acct = atomic_load_explicit(&s->acct_ns, memory_order_relaxed);
    return cpu_ns > acct ? cpu_ns - acct : 0;
}
