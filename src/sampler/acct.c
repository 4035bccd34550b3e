#include "acct.h"

#include <stdatomic.h>
#include <stddef.h>
#include <sys/mman.h>

/* Open addressing, linear probing.  32768 slots hold ten thousand threads
 * at under a third full.  Mapped on first use; untouched pages cost no
 * memory. */
#define SLOTS ACCT_SLOTS
#define EMPTY 0
#define GONE (-1)

typedef struct slot {
    atomic_int tid;
    atomic_int perf_fd;
    atomic_int nsamples;
    _Atomic int64_t acct_ns; /* last grid point already recorded */
} slot;

static slot *_Atomic g_slots;
static int g_gone;  /* tombstones; under the sampler's lock */
static int g_used;  /* live entries; same */
static atomic_int g_overflow;

static unsigned home(pid_t tid)
{
    return ((unsigned)tid * 2654435761u) & (SLOTS - 1);
}

static slot *find(pid_t tid)
{
    slot *tab = atomic_load_explicit(&g_slots, memory_order_acquire);
    unsigned i = home(tid), n;

    if (!tab)
        return NULL;
    for (n = 0; n < SLOTS; n++, i = (i + 1) & (SLOTS - 1)) {
        int t = atomic_load_explicit(&tab[i].tid, memory_order_acquire);

        if (t == tid)
            return &tab[i];
        if (t == EMPTY)
            return NULL;
    }
    return NULL;
}

/*
 * A fresh anonymous mapping over the old one empties it in one step and
 * gives its pages back; a handler reading meanwhile sees each page either
 * old or zero, never torn.
 */
int acct_reset(void)
{
    slot *tab = atomic_load(&g_slots);
    int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
    void *m;

    m = mmap(tab, SLOTS * sizeof(slot), PROT_READ | PROT_WRITE,
             flags | (tab ? MAP_FIXED : 0), -1, 0);
    g_gone = g_used = 0;
    atomic_store(&g_overflow, 0);
    if (m == MAP_FAILED)
        return tab ? 0 : -1;
    atomic_store(&g_slots, (slot *)m);
    return 0;
}

static int insert(slot *tab, pid_t tid, int64_t grid_ns, int perf_fd)
{
    unsigned i = home(tid), n;

    for (n = 0; n < SLOTS; n++, i = (i + 1) & (SLOTS - 1)) {
        int t = atomic_load_explicit(&tab[i].tid, memory_order_relaxed);

        if (t != EMPTY && t != GONE)
            continue;
        if (t == GONE)
            g_gone--;
        atomic_store_explicit(&tab[i].acct_ns, grid_ns, memory_order_relaxed);
        atomic_store_explicit(&tab[i].perf_fd, perf_fd, memory_order_relaxed);
        atomic_store_explicit(&tab[i].nsamples, 0, memory_order_relaxed);
        /* Publish the time before the tid a handler looks up. */
        atomic_store_explicit(&tab[i].tid, tid, memory_order_release);
        g_used++;
        return 0;
    }
    return -1;
}

/* Tombstones make misses probe further; past a quarter of the table, lay
 * the live entries out again.  A handler racing this may miss its slot once
 * and skip that sample. */
static void compact(void)
{
    static struct {
        pid_t tid;
        int fd;
        int64_t acct;
    } live[SLOTS];
    slot *tab = atomic_load(&g_slots);
    int n = 0, i;

    for (i = 0; i < SLOTS; i++) {
        int t = atomic_load(&tab[i].tid);

        if (t != EMPTY && t != GONE) {
            live[n].tid = t;
            live[n].fd = atomic_load(&tab[i].perf_fd);
            live[n++].acct = atomic_load(&tab[i].acct_ns);
        }
        atomic_store(&tab[i].tid, EMPTY);
    }
    g_gone = g_used = 0;
    for (i = 0; i < n; i++)
        insert(tab, live[i].tid, live[i].acct, live[i].fd);
}

int acct_add(pid_t tid, int64_t grid_ns, int perf_fd)
{
    slot *s = find(tid), *tab = atomic_load(&g_slots);

    if (s) {
        atomic_store(&s->acct_ns, grid_ns);
        atomic_store(&s->perf_fd, perf_fd);
        return 0;
    }
    if (!tab)
        return -1;
    if (g_gone > SLOTS / 4)
        compact();
    /* Keep a quarter free so that misses stay short. */
    if (g_used + g_gone >= SLOTS - SLOTS / 4 ||
        insert(tab, tid, grid_ns, perf_fd) != 0) {
        atomic_store(&g_overflow, 1);
        return -1;
    }
    return 0;
}

int acct_remove(pid_t tid, int64_t *grid_ns)
{
    slot *s = find(tid);

    if (!s)
        return -1;
    /* Gone first: a handler that runs after this finds no slot; one that
     * ran before has finished, its thread being the caller. */
    atomic_store_explicit(&s->tid, GONE, memory_order_seq_cst);
    atomic_store(&s->perf_fd, -1);
    if (grid_ns)
        *grid_ns = atomic_load(&s->acct_ns);
    g_gone++;
    g_used--;
    return 0;
}

int acct_overflowed(void)
{
    return atomic_load_explicit(&g_overflow, memory_order_relaxed);
}

int64_t acct_take(pid_t tid, uint64_t now_ns, uint64_t period_ns)
{
    slot *s = find(tid);
    int64_t acct, lag, periods;

    if (!s)
        return -1;
    /* Only this thread's handler (and its own exit, with the signal
     * blocked) advances its slot: no compare-and-swap needed. */
    acct = atomic_load_explicit(&s->acct_ns, memory_order_relaxed);
    lag = (int64_t)now_ns - acct;
    /* Timers are armed after the grid is read, so they never fire before
     * a grid point: no slack (any would claim points not reached, a bias
     * of slack / period per short thread). */
    if (lag <= 0)
        return 0;
    periods = lag / (int64_t)period_ns;
    if (periods > 0)
        atomic_store_explicit(&s->acct_ns, acct + periods * (int64_t)period_ns,
                              memory_order_relaxed);
    return periods;
}

int acct_count_sample(pid_t tid)
{
    slot *s = find(tid);
    int n;

    if (!s)
        return 1 << 20;
    /* Only the thread's own handler writes it. */
    n = atomic_load_explicit(&s->nsamples, memory_order_relaxed);
    if (n < (1 << 20))
        atomic_store_explicit(&s->nsamples, n + 1, memory_order_relaxed);
    return n;
}

void acct_set_perf(pid_t tid, int perf_fd)
{
    slot *s = find(tid);

    if (s)
        atomic_store(&s->perf_fd, perf_fd);
}

int acct_perf_fd(pid_t tid)
{
    slot *s = find(tid);

    return s ? atomic_load_explicit(&s->perf_fd, memory_order_relaxed) : -1;
}

void acct_perf_started(pid_t tid)
{
    slot *s = find(tid);

    if (s)
        atomic_fetch_and_explicit(&s->perf_fd, ~ACCT_PERF_FIRST,
                                  memory_order_relaxed);
}

uint64_t acct_lag(pid_t tid, uint64_t cpu_ns)
{
    slot *s = find(tid);
    int64_t acct;

    if (!s)
        return 0;
    acct = atomic_load_explicit(&s->acct_ns, memory_order_relaxed);
    return (int64_t)cpu_ns > acct ? (uint64_t)((int64_t)cpu_ns - acct) : 0;
}
