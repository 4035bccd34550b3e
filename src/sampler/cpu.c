#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/map.h"
#include "../common/tls.h"
#include "../common/util.h"
#include "../hooks/hooks.h"
#include "../tags/tags.h"
#include "acct.h"
#include "loader_lock.h"
#include "perf.h"
#include "sampler.h"
#include "unwind.h"
#include "../fdguard/fdguard.h"

/* musl names the SIGEV_THREAD_ID target field; glibc 2.36 does not. */
#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif

/* Marks our timers' signals so foreign ones can be passed on. */
#define TIMER_MAGIC ((void *)(uintptr_t)0x7079726f73636f70ull)
#define MAX_EXCLUDED 16

typedef struct thread_timer {
    pid_t tid;
    int perf_fd;       /* -1: a POSIX CPU timer instead */
    timer_t timer;
    int seen;
    int hot;           /* in g_hot: ran lately */
    int idle_passes;   /* watchdog passes without CPU use */
    uint64_t cpu_seen; /* its CPU clock at the previous watchdog pass */
} thread_timer;

/* Watchdog passes a thread may stay idle before it leaves the hot list,
 * and idle threads looked at per pass (a sweep of 10,000 takes 2.5 s). */
#define HOT_IDLE_PASSES 8
#define COLD_PER_PASS 40

static ring *g_ring;
static int g_signo;
static long g_period_ns;
static atomic_int g_active;
static int g_fallback;
static struct sigaction g_old_action;
static int g_installed;
static atomic_uint_fast64_t g_samples;
static atomic_uint_fast64_t g_handler_ns; /* CPU: handler + thread hooks */
static atomic_uint_fast64_t g_exit_samples;
static atomic_uint_fast64_t g_start_samples;
static pid_t g_owner; /* the process sampling was started in */
static atomic_uint_fast64_t g_upgrades; /* threads moved to perf events */
static atomic_uint_fast64_t g_phase;
static int g_use_perf;
static atomic_uint_fast64_t g_nudges;
static atomic_uint_fast64_t g_deferred; /* signals that found the guard up */
static atomic_int g_in_handler; /* handlers running now */
static atomic_int g_forking;
static atomic_int g_excluded[MAX_EXCLUDED];

static pyroscope_frame_provider g_provider_slots[2];
static _Atomic(const pyroscope_frame_provider *) g_provider;

static pthread_mutex_t g_threads_lock = PTHREAD_MUTEX_INITIALIZER;
static thread_timer *g_threads;
static size_t g_nthreads, g_cap_threads;
static map g_index;          /* tid -> index + 1 into g_threads */
static pid_t *g_hot;         /* threads that ran lately (watchdog) */
static size_t g_nhot, g_cap_hot;
static size_t g_cold_cursor;

/* ---- the signal handler ---- */

static pid_t gettid_raw(void)
{
    return (pid_t)syscall(SYS_gettid);
}

/* A perf event's overflow: POLL_HUP from the fd this thread's slot names.
 * Anything else with that code (the application's own F_SETSIG I/O) is
 * not ours. */
static int is_our_perf(const siginfo_t *si, pid_t tid, int *fd, int *first)
{
    int v;

    if (g_fallback || si->si_code != POLL_HUP)
        return 0;
    v = acct_perf_fd(tid);
    if (v < 0 || (v & ~ACCT_PERF_FIRST) != si->si_fd)
        return 0;
    *fd = si->si_fd;
    *first = (v & ACCT_PERF_FIRST) != 0;
    return 1;
}

static int is_ours(const siginfo_t *si)
{
    if (g_fallback)
        return si->si_code == SI_KERNEL;
    if (si->si_value.sival_ptr != TIMER_MAGIC)
        return 0;
    /* SI_QUEUE: a catch-up signal from our watchdog, never another process. */
    return si->si_code == SI_TIMER ||
           (si->si_code == SI_QUEUE && si->si_pid == getpid());
}

static void chain(int sig, siginfo_t *si, void *uc)
{
    if (g_old_action.sa_flags & SA_SIGINFO) {
        if (g_old_action.sa_sigaction)
            g_old_action.sa_sigaction(sig, si, uc);
    } else if (g_old_action.sa_handler != SIG_DFL &&
               g_old_action.sa_handler != SIG_IGN &&
               g_old_action.sa_handler) {
        g_old_action.sa_handler(sig);
    }
}

/* Periods of CPU time this sample stands for; 0 to skip it. */
static int64_t sample_weight(const siginfo_t *si, pid_t tid, uint64_t now)
{
    int64_t w;

    if (g_fallback)
        return 1;
    if (now != 0) {
        w = acct_take(tid, now, (uint64_t)g_period_ns);
        if (w >= 0)
            return w;
    }
    /* Not in the table: a thread that did not fit weighs by overrun; one
     * just removed (it exits, or the sampler stops) gets nothing. */
    if (!acct_overflowed())
        return 0;
    return 1 + (si->si_code == SI_TIMER && si->si_overrun > 0 ?
                si->si_overrun : 0);
}

/* Samples a thread takes with a cursor walk before the fast one. */
#define YOUNG_SAMPLES 8

static void record(int64_t weight, void *uc, pid_t tid)
{
    const pyroscope_frame_provider *prov;
    ring_cell *c;
    ring_sample *s;
    int n = 0;

    if (weight <= 0)
        return;
    c = ring_claim(g_ring);
    if (!c)
        return;
    s = &c->s;
    s->type = SAMPLE_CPU;
    s->flags = 0;
    s->tagset = tags_current();
    s->span_id = tls_span(&s->span_name);
    s->values[0] = weight;
    s->nlang = 0;
    s->nnative = 0;
    prov = atomic_load_explicit(&g_provider, memory_order_acquire);
    if (prov && prov->capture) {
        n = prov->capture(s->words, RING_MAX_WORDS / 2, weight, prov->payload);
        if (n == PYROSCOPE_FRAMES_DEFERRED) {
            s->type = SAMPLE_EMPTY;
            ring_publish(g_ring, c);
            return;
        }
        s->nlang = (uint16_t)(n > 0 ? n : 0);
    }
    if (s->nlang == 0 || prov->native_frames)
        s->nnative = (uint16_t)unwind_from_signal(
            uc, s->words + 2 * s->nlang, RING_MAX_WORDS - 2 * s->nlang,
            tid && acct_count_sample(tid) < YOUNG_SAMPLES);
    atomic_fetch_add_explicit(&g_samples, 1, memory_order_relaxed);
    ring_publish(g_ring, c);
}

static uint64_t self_cpu_ns(void)
{
    return time_clock_ns(CLOCK_THREAD_CPUTIME_ID);
}

/*
 * Our cost is the CPU time the handler takes, from the thread's CPU clock
 * (which the weight needs anyway).  Wall time would count every time a
 * thread is preempted inside the handler: with 128 threads on 2 CPUs that
 * read several times the whole process CPU.
 */
static uint64_t sample(const siginfo_t *si, void *uc, pid_t tid)
{
    uint64_t a = g_fallback ? 0 : self_cpu_ns(), b;

    record(sample_weight(si, tid, a), uc, tid);
    if (!a)
        return 0;
    b = self_cpu_ns();
    if (b > a)
        atomic_fetch_add_explicit(&g_handler_ns, b - a, memory_order_relaxed);
    return b; /* the re-arm reads the clock from here: one syscall less */
}

/*
 * The event does not count from its overflow until this re-arm (signal
 * delivery and our handler): left alone, each sample would land later on
 * the thread's grid, which at 1000 Hz shifts samples towards the end of
 * short threads.  So when we are more than 1/16 period past the last grid
 * point, the next period is what is left to the next point (and the one
 * after is a whole period again).
 */
static void rearm(int fd, pid_t tid, int period_changed, uint64_t now)
{
    uint64_t p = (uint64_t)g_period_ns, lag, next = p;

    if (!now) {
        /* No sample was taken (deferred: our own code, a small stack, a
         * fork being prepared): the CPU time waits for the next sample,
         * and aiming at the grid would re-arm at 10 us again and again
         * while the deferral lasts (~2500 signals per fork in the parent).
         * A whole period. */
        if (period_changed)
            acct_perf_started(tid);
        perf_rearm(fd, p, 1);
        return;
    }
    lag = acct_lag(tid, now);

    if (lag > p / 16) {
        next = lag < p - 10000 ? p - lag : 10000;
        acct_set_perf(tid, fd | ACCT_PERF_FIRST);
    } else if (period_changed) {
        acct_perf_started(tid);
    } else {
        perf_rearm(fd, p, 0);
        return;
    }
    perf_rearm(fd, next, 1);
}

/*
 * The handler runs on the interrupted stack (no SA_ONSTACK).  When that is
 * the application's alternate signal stack (our signal landed inside its
 * handler), it may be a few KiB: too small for the unwinder.  The kernel
 * describes the altstack in the signal's ucontext (uc_stack: where it is,
 * and SS_ONSTACK if the interrupted code ran on it), so this costs no
 * syscall.  The same goes for a thread started on a small stack that is
 * nearly used up (tls_stack_low).
 */
#define HANDLER_STACK_NEED (24 * 1024)

static int on_small_stack(const ucontext_t *uc)
{
    char here;

    if (tls_stack_low(HANDLER_STACK_NEED))
        return 1;
    if (!uc || !(uc->uc_stack.ss_flags & SS_ONSTACK))
        return 0;
    return (uintptr_t)&here < (uintptr_t)uc->uc_stack.ss_sp +
                                  HANDLER_STACK_NEED;
}

static void on_signal(int sig, siginfo_t *si, void *uc)
{
    int saved_errno = errno, perf_fd = -1, first = 0;
    uint64_t now = 0;
    pid_t tid = 0;

    if (si->si_code == POLL_HUP) {
        tid = gettid_raw();
        if (!is_our_perf(si, tid, &perf_fd, &first)) {
            chain(sig, si, uc);
            errno = saved_errno;
            return;
        }
    } else if (!is_ours(si)) {
        chain(sig, si, uc);
        errno = saved_errno;
        return;
    } else if (!g_fallback) {
        tid = gettid_raw();
    }
    if (atomic_load_explicit(&g_active, memory_order_relaxed)) {
        /* While fork() is being prepared no handler may start unwinding:
         * a libunwind lock held at the clone would stay held in the child. */
        atomic_fetch_add(&g_in_handler, 1);
        if (tls_guard_up() || on_small_stack(uc)) {
            /* Interrupted our own code, maybe inside the unwinder, or
             * running on a tiny or nearly full stack: no sample.  Its CPU time
             * is not lost: the thread's next sample is weighted by all CPU
             * time since the last one (acct.h). */
            atomic_fetch_add_explicit(&g_deferred, 1, memory_order_relaxed);
        } else if (!atomic_load(&g_forking)) {
            /* Locks and allocations of the unwinder go to the real
             * functions, never into a hook that would unwind again. */
            tls_guard_raise();
            now = sample(si, uc, tid);
            tls_guard_lower();
        }
        atomic_fetch_sub(&g_in_handler, 1);
    }
    /* An overflow disarms the event: re-arm it whatever happened above. */
    if (perf_fd >= 0)
        rearm(perf_fd, tid, first, now);
    errno = saved_errno;
}

/* ---- signal selection ---- */

static int signal_is_free(int sig)
{
    struct sigaction old;

    if (sigaction(sig, NULL, &old) != 0)
        return 0;
    if (old.sa_flags & SA_SIGINFO)
        return old.sa_sigaction == on_signal;
    return old.sa_handler == SIG_DFL || old.sa_handler == SIG_IGN;
}

static int pick_signal(int wanted)
{
    int sig;

    if (wanted)
        return wanted;
    if (signal_is_free(SIGPROF))
        return SIGPROF;
    /* The application owns SIGPROF: leave it alone and use an RT signal. */
    for (sig = SIGRTMIN + 4; sig <= SIGRTMAX - 4; sig++)
        if (signal_is_free(sig))
            return sig;
    return SIGPROF; /* every candidate taken: share SIGPROF and chain */
}

static int install_handler(int sig)
{
    struct sigaction sa;
    struct sigaction old;

    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(sig, &sa, &old) != 0)
        return -1;
    /* Re-starting must not make us chain to ourselves. */
    if (!((old.sa_flags & SA_SIGINFO) && old.sa_sigaction == on_signal))
        g_old_action = old;
    g_installed = 1;
    if (sig != SIGPROF || g_old_action.sa_handler != SIG_DFL)
        LOG_INFO("sampling with signal %d", sig);
    return 0;
}

/* ---- per-thread timers ---- */

static clockid_t thread_cpu_clock(pid_t tid)
{
    /* Linux encodes a thread's CPU clock as ~tid << 3 | CPUCLOCK_SCHED |
     * CPUCLOCK_PERTHREAD; any thread of the process may use it. */
    return (clockid_t)((~(unsigned)tid) << 3) | 6;
}

static uint64_t thread_cpu_ns(pid_t tid)
{
    return time_clock_ns(thread_cpu_clock(tid));
}

/*
 * Where a new thread's first sample falls, in (0, period]: a Weyl sequence
 * (golden-ratio steps from a random start) rather than independent random
 * draws.  Each thread's expected sample count is still its CPU / period,
 * also for threads shorter than a period; and because successive threads'
 * phases spread evenly, the totals over many short threads stay within a
 * few samples of CPU x rate instead of a binomial's square root.
 */
static uint64_t next_phase(void)
{
    uint64_t u = atomic_fetch_add_explicit(&g_phase, 0x9e3779b97f4a7c15ull,
                                           memory_order_relaxed);
    uint64_t ph = (uint64_t)(((unsigned __int128)u * (uint64_t)g_period_ns)
                             >> 64);

    return ph + 1;
}

static int arm_posix(pid_t tid, uint64_t first_ns, timer_t *out)
{
    struct sigevent sev;
    struct itimerspec its;

    memset(&sev, 0, sizeof(sev));
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = g_signo;
    sev.sigev_value.sival_ptr = TIMER_MAGIC;
    sev.sigev_notify_thread_id = tid;
    if (timer_create(thread_cpu_clock(tid), &sev, out) != 0)
        return -1;
    its.it_interval.tv_sec = g_period_ns / 1000000000L;
    its.it_interval.tv_nsec = g_period_ns % 1000000000L;
    its.it_value.tv_sec = (time_t)(first_ns / 1000000000ull);
    its.it_value.tv_nsec = (long)(first_ns % 1000000000ull);
    if (timer_settime(*out, 0, &its, NULL) != 0) {
        timer_delete(*out);
        return -1;
    }
    return 0;
}

/* CPU time tid has until grid point `at`; at least 10 us. */
static uint64_t remaining(int64_t at, pid_t tid)
{
    int64_t left = at - (int64_t)thread_cpu_ns(tid);

    return left > 10000 ? (uint64_t)left : 10000;
}

/*
 * Start sampling tid: its grid is read before the timer starts, so no
 * signal can come before a grid point; the slot exists before the first
 * signal can.  Called with g_threads_lock held.
 *
 * A thread that arms itself from our trampoline (`passed` non-NULL) has
 * its grid laid from its first CPU nanosecond: the CPU its start took
 * before it got here (the clone, libc's and a sanitizer's thread set-up,
 * tens of us and more) is part of what it costs.  The grid points already
 * passed go to *passed, to be recorded as [thread start].
 */
static int arm_thread(thread_timer *t, pid_t tid, int64_t *passed)
{
    uint64_t phase = next_phase(), cpu = thread_cpu_ns(tid), first;
    int64_t grid = (int64_t)cpu + (int64_t)phase - g_period_ns;
    int fd = g_use_perf ? perf_open_thread(tid, g_signo, phase) : -1;

    if (passed) {
        grid = (int64_t)phase - g_period_ns;
        *passed = ((int64_t)cpu - grid) / g_period_ns;
        grid += *passed * g_period_ns;
    }
    t->tid = tid;
    t->perf_fd = fd;
    t->cpu_seen = cpu;
    if (acct_add(tid, grid, fd >= 0 ? fd | ACCT_PERF_FIRST : -1) != 0 &&
        fd >= 0) {
        /* No slot: the handler could not tell the event's signals. */
        perf_close_thread(fd);
        t->perf_fd = fd = -1;
    }
    /* Opening took CPU time of its own (tens of us when the thread arms
     * itself): aim the first expiry at the grid point, not past it. */
    first = remaining(grid + g_period_ns, tid);
    if (fd >= 0) {
        if (perf_enable(fd, first) == 0)
            return 0;
        acct_add(tid, grid, -1);
        perf_close_thread(fd);
        t->perf_fd = -1;
        first = remaining(grid + g_period_ns, tid);
    }
    if (arm_posix(tid, first, &t->timer) != 0) {
        acct_remove(tid, NULL);
        return -1; /* the thread may have just exited */
    }
    return 0;
}

/* Stop tid's source and forget it; *grid_ns as acct_remove's. */
static int disarm_thread(thread_timer *t, int64_t *grid_ns)
{
    /* Slot first: a signal still in flight is then dropped, and never
     * re-arms an fd number that close() may hand to someone else. */
    int rc = acct_remove(t->tid, grid_ns);

    if (t->perf_fd >= 0)
        perf_close_thread(t->perf_fd);
    else
        timer_delete(t->timer);
    return rc;
}

static int is_excluded(pid_t tid)
{
    int i;

    for (i = 0; i < MAX_EXCLUDED; i++)
        if (atomic_load(&g_excluded[i]) == tid)
            return 1;
    return 0;
}

static thread_timer *find_thread(pid_t tid)
{
    uint64_t *ix = map_get(&g_index, (uint64_t)(uint32_t)tid);

    return ix ? &g_threads[*ix - 1] : NULL;
}

static thread_timer *add_thread(pid_t tid, int64_t *passed)
{
    thread_timer *t;

    if (array_grow((void **)&g_threads, &g_cap_threads, g_nthreads + 1,
                   sizeof(*g_threads)) != 0)
        return NULL;
    t = &g_threads[g_nthreads];
    memset(t, 0, sizeof(*t));
    if (arm_thread(t, tid, passed) != 0)
        return NULL;
    if (map_put(&g_index, (uint64_t)(uint32_t)tid, g_nthreads + 1) != 0) {
        disarm_thread(t, NULL);
        return NULL;
    }
    t->seen = 1;
    g_nthreads++;
    return t;
}

/* Swap the last entry into slot i. */
static int remove_at(size_t i, int64_t *grid_ns)
{
    int rc = disarm_thread(&g_threads[i], grid_ns);

    map_del(&g_index, (uint64_t)(uint32_t)g_threads[i].tid);
    g_threads[i] = g_threads[--g_nthreads];
    if (i < g_nthreads)
        map_put(&g_index, (uint64_t)(uint32_t)g_threads[i].tid, i + 1);
    return rc;
}

static void remove_all(void)
{
    size_t i;

    for (i = 0; i < g_nthreads; i++)
        disarm_thread(&g_threads[i], NULL);
    g_nthreads = 0;
    g_nhot = 0;
    map_clear(&g_index);
}

void sampler_exclude_self(void)
{
    pid_t tid = gettid_raw();
    thread_timer *t;
    sigset_t all;
    int i, zero;

    /* Our threads' allocations and locks are not the application's. */
    tls_guard_raise();

    /* Asynchronous signals are the application's business: a process-wide
     * one (SIGPROF from setitimer, SIGINT, ...) must go to its threads. */
    sigfillset(&all);
    sigdelset(&all, SIGSEGV);
    sigdelset(&all, SIGBUS);
    sigdelset(&all, SIGFPE);
    sigdelset(&all, SIGILL);
    sigdelset(&all, SIGABRT);
    pthread_sigmask(SIG_BLOCK, &all, NULL);

    for (i = 0; i < MAX_EXCLUDED; i++) {
        zero = 0;
        if (atomic_compare_exchange_strong(&g_excluded[i], &zero, tid))
            break;
    }
    /* Started through pthread_create's trampoline while sampling runs. */
    pthread_mutex_lock(&g_threads_lock);
    t = find_thread(tid);
    if (t)
        remove_at((size_t)(t - g_threads), NULL);
    pthread_mutex_unlock(&g_threads_lock);
}

static void drop_unseen(void)
{
    size_t i = 0;

    while (i < g_nthreads) {
        if (g_threads[i].seen)
            i++;
        else
            remove_at(i, NULL);
    }
}

/*
 * The application may install its own handler for our signal after we
 * started (a second profiler, a runtime).  Leave the signal to it and move
 * our timers to a free real-time signal.  Called with g_threads_lock held.
 */
static void ensure_handler_locked(void)
{
    struct sigaction cur;
    struct itimerval zero;
    int sig;

    if (sigaction(g_signo, NULL, &cur) != 0 ||
        ((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == on_signal))
        return;
    if (g_fallback) {
        memset(&zero, 0, sizeof(zero));
        setitimer(ITIMER_PROF, &zero, NULL);
        atomic_store(&g_active, 0);
        LOG_WARN("SIGPROF was taken over by the application; CPU sampling "
                 "stopped (setitimer fallback cannot move)");
        return;
    }
    remove_all();
    acct_reset();
    sig = pick_signal(0);
    LOG_WARN("signal %d was taken over by the application; sampling moves "
             "to signal %d", g_signo, sig);
    g_signo = sig;
    if (install_handler(sig) != 0)
        atomic_store(&g_active, 0);
}

/*
 * A full directory scan costs ~50 us per 100 threads; the link count of
 * /proc/self/task (threads + 2) costs one stat.  Scan when the count
 * changes, and now and then anyway (a thread may have exited while another
 * started): every 250 ms, stretched with the thread count so that ten
 * thousand idle threads cost no more than a few.  Threads started through
 * pthread_create are armed by themselves; the scan is for the others.
 * Reset by sampler_start: a new profiler must not trust an old count.
 */
static nlink_t g_last_nlink;
static uint64_t g_last_full_scan;

static int threads_may_have_changed(void)
{
    struct stat st;
    uint64_t now = time_mono_ns(), every = 250000000ull;

    if (g_nthreads > 256)
        every *= g_nthreads / 256;
    if (stat("/proc/self/task", &st) != 0 || st.st_nlink != g_last_nlink ||
        now - g_last_full_scan >= every) {
        g_last_nlink = st.st_nlink;
        g_last_full_scan = now;
        return 1;
    }
    return 0;
}

/* The thread ids now in /proc/self/task; malloc'd, *n of them. */
static pid_t *list_tasks(size_t *n)
{
    DIR *dir = fdguard_opendir("/proc/self/task");
    struct dirent *de;
    pid_t *v = NULL;
    size_t cap = 0;

    *n = 0;
    if (!dir)
        return NULL;
    while ((de = readdir(dir)) != NULL) {
        pid_t tid = (pid_t)atoi(de->d_name);

        if (tid <= 0)
            continue;
        if (array_grow((void **)&v, &cap, *n + 1, sizeof(*v)) != 0)
            break;
        v[(*n)++] = tid;
    }
    fdguard_closedir(dir);
    return v;
}

static void reconcile(const pid_t *tids, size_t n)
{
    size_t i;

    for (i = 0; i < g_nthreads; i++)
        g_threads[i].seen = 0;
    for (i = 0; i < n; i++) {
        thread_timer *t;

        if (is_excluded(tids[i]))
            continue;
        t = find_thread(tids[i]);
        if (t)
            t->seen = 1;
        else
            add_thread(tids[i], NULL);
    }
    drop_unseen();
}

void sampler_scan_threads(void)
{
    pid_t *tids;
    size_t n;
    int scan;

    if (!atomic_load(&g_active))
        return;
    pthread_mutex_lock(&g_threads_lock);
    ensure_handler_locked();
    scan = !g_fallback && (!g_nthreads || threads_may_have_changed());
    pthread_mutex_unlock(&g_threads_lock);
    if (!scan)
        return;
    /* Read the directory unlocked: threads starting meanwhile register
     * themselves without waiting for it. */
    tids = list_tasks(&n);
    if (!tids)
        return;
    pthread_mutex_lock(&g_threads_lock);
    if (atomic_load(&g_active))
        reconcile(tids, n);
    pthread_mutex_unlock(&g_threads_lock);
    free(tids);
}

/* ---- watchdog: catch-up signals when the kernel holds a timer back ---- */

/* Lag worth a catch-up signal: one and a half periods, and never under
 * 15 ms: a healthy timer is late by up to one kernel tick (4 ms here), and
 * at 1000 Hz it fires once per tick with the overrun. */
#define WATCHDOG_MIN_LAG_NS (15 * 1000000ull)

/* From /proc: 'R' while the thread runs or waits for a CPU.  A catch-up
 * signal must not interrupt a blocking call (sleep and poll calls return
 * EINTR even with SA_RESTART); the timer's own signals never do, as a CPU
 * clock only advances while the thread runs. */
static int thread_running(pid_t tid)
{
    char path[64], buf[512], *p;
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
    fd = FDGUARD(open(path, O_RDONLY | O_CLOEXEC));
    if (fd < 0)
        return 0;
    n = read(fd, buf, sizeof(buf) - 1);
    fdguard_close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    p = strrchr(buf, ')'); /* the name in parentheses may hold anything */
    return p && p[1] == ' ' && p[2] == 'R';
}

static void nudge(pid_t tid)
{
    siginfo_t si;

    memset(&si, 0, sizeof(si));
    si.si_signo = g_signo;
    si.si_code = SI_QUEUE;
    si.si_pid = getpid();
    si.si_uid = getuid();
    si.si_value.sival_ptr = TIMER_MAGIC;
    if (syscall(SYS_rt_tgsigqueueinfo, getpid(), tid, g_signo, &si) == 0)
        atomic_fetch_add(&g_nudges, 1);
}

/* CPU time until tid's next grid point, from its CPU clock `cpu`. */
static uint64_t to_next_point(pid_t tid, uint64_t cpu)
{
    uint64_t lag = acct_lag(tid, cpu) % (uint64_t)g_period_ns;

    return (uint64_t)g_period_ns - lag;
}

/* Give up t's perf event for a POSIX timer; 0 when done. */
static int downgrade(thread_timer *t)
{
    timer_t timer;

    if (arm_posix(t->tid, to_next_point(t->tid, thread_cpu_ns(t->tid)),
                  &timer) != 0)
        return -1; /* exiting: the scan drops it */
    acct_set_perf(t->tid, -1);
    perf_close_thread(t->perf_fd);
    t->perf_fd = -1;
    t->timer = timer;
    return 0;
}

/* A perf thread that is not running lately, from a rotating cursor. */
static thread_timer *cold_perf_thread(void)
{
    static size_t cursor;
    size_t k;

    for (k = 0; k < 256 && k < g_nthreads; k++) {
        thread_timer *t;

        if (cursor >= g_nthreads)
            cursor = 0;
        t = &g_threads[cursor++];
        if (t->perf_fd >= 0 && !t->hot)
            return t;
    }
    return NULL;
}

/*
 * perf fds are few (an eighth of RLIMIT_NOFILE) and go to threads in the
 * order they start: with ten thousand parked threads started first, the
 * busy ones would stay on tick-bound POSIX timers.  So a thread seen
 * running on a POSIX timer takes an event, from a thread that is not
 * running if the budget is spent.  Its grid stays: the switch loses or
 * doubles nothing.
 */
static void upgrade(thread_timer *t, uint64_t cpu)
{
    thread_timer *v;
    int fd = perf_open_thread(t->tid, g_signo, (uint64_t)g_period_ns);

    if (fd < 0 && (v = cold_perf_thread()) != NULL && downgrade(v) == 0)
        fd = perf_open_thread(t->tid, g_signo, (uint64_t)g_period_ns);
    if (fd < 0)
        return;
    acct_set_perf(t->tid, fd | ACCT_PERF_FIRST);
    if (perf_enable(fd, to_next_point(t->tid, cpu)) != 0) {
        acct_set_perf(t->tid, -1);
        perf_close_thread(fd);
        return;
    }
    timer_delete(t->timer);
    t->perf_fd = fd;
    atomic_fetch_add(&g_upgrades, 1);
}

/* One thread's watchdog check; returns whether it ran since the last. */
static int watch(thread_timer *t, uint64_t min_lag)
{
    uint64_t cpu = thread_cpu_ns(t->tid), lag;

    if (cpu == t->cpu_seen) {
        t->idle_passes++;
        return 0;
    }
    /* Busy: half a period of CPU since the last pass (10 ms ago, or a
     * slice of a sweep), not a parked thread's wake-up. */
    if (g_use_perf && t->perf_fd < 0 &&
        cpu - t->cpu_seen >= (uint64_t)g_period_ns / 2)
        upgrade(t, cpu);
    t->cpu_seen = cpu;
    t->idle_passes = 0;
    lag = acct_lag(t->tid, cpu);
    if (lag < min_lag || !thread_running(t->tid))
        return 1;
    nudge(t->tid);
    /* A perf event re-arms only from its own signal; SIGPROF does not
     * queue, so that one can merge with a catch-up signal and be lost.
     * Far behind: re-arm it from here (if it was alive, it skips one
     * overflow, which the weights absorb). */
    if (t->perf_fd >= 0 && lag >= 2 * min_lag)
        perf_enable(t->perf_fd, (uint64_t)g_period_ns);
    return 1;
}

static void mark_hot(thread_timer *t)
{
    if (t->hot || array_grow((void **)&g_hot, &g_cap_hot, g_nhot + 1,
                             sizeof(*g_hot)) != 0)
        return;
    t->hot = 1;
    g_hot[g_nhot++] = t->tid;
}

/*
 * Under CPU contention a thread that makes many syscalls can see its CPU
 * timer's signal held back by the kernel for hundreds of ms, then get one
 * signal for all of it: that sample lands on whatever code runs at that
 * moment, which skews the profile towards it.  So the collector checks
 * every thread that ran lately, and signals one whose CPU time is well
 * past its last sample; the handler weighs it by CPU time (acct.h), so a
 * timer signal that does arrive just after is simply skipped.
 *
 * Reading a thread's CPU clock is a syscall: with ten thousand threads,
 * every thread every tick would cost a CPU.  So each pass reads the hot
 * threads (those that ran in the last few passes) and a slice of the
 * others, which join the hot list when they turn out to run.
 */
void sampler_watchdog(void)
{
    uint64_t min_lag;
    size_t i, k;

    /* The collector starts before the sampler: g_active (set last by
     * sampler_start) guards the other settings. */
    if (!atomic_load(&g_active) || g_fallback)
        return;
    min_lag = 3 * (uint64_t)g_period_ns / 2;
    if (min_lag < WATCHDOG_MIN_LAG_NS)
        min_lag = WATCHDOG_MIN_LAG_NS;
    pthread_mutex_lock(&g_threads_lock);
    for (i = 0; i < g_nhot;) {
        thread_timer *t = find_thread(g_hot[i]);

        if (t && (watch(t, min_lag) || t->idle_passes < HOT_IDLE_PASSES)) {
            i++;
            continue;
        }
        if (t)
            t->hot = 0;
        g_hot[i] = g_hot[--g_nhot];
    }
    for (k = 0; k < COLD_PER_PASS && k < g_nthreads; k++) {
        thread_timer *t;

        if (g_cold_cursor >= g_nthreads)
            g_cold_cursor = 0;
        t = &g_threads[g_cold_cursor++];
        if (!t->hot && watch(t, min_lag))
            mark_hot(t);
    }
    pthread_mutex_unlock(&g_threads_lock);
}

/* ---- threads started through pthread_create (thread_hooks.c) ---- */

int sampler_thread_wanted(void)
{
    return atomic_load_explicit(&g_active, memory_order_relaxed) &&
           !g_fallback && !is_excluded(gettid_raw());
}

/* Stands for the CPU time a thread used after its last sample, up to its
 * exit: in profiles as a leaf under the thread's start routine. */
__attribute__((noinline, used)) void thread_exit_frame(void)
    __asm__("\"[thread exit]\"");
void thread_exit_frame(void)
{
    __asm__ volatile("");
}

/* Stands for the CPU time a thread used before it armed its timer: its
 * clone and set-up, in profiles as a leaf under our trampoline. */
__attribute__((noinline, used)) void thread_start_frame(void)
    __asm__("\"[thread start]\"");
void thread_start_frame(void)
{
    __asm__ volatile("");
}

/*
 * Stack of an exit sample: [thread exit], the start routine, our
 * trampoline, then the frames below it (start_thread, clone) as ordinary
 * samples have them; of a start sample ([thread start] as `leaf`, fn 0)
 * the same without the start routine, which had not run yet.  Called with
 * g_threads_lock held, so the ring is alive.
 */
static void record_edge(void (*leaf)(void), int64_t weight, uintptr_t fn,
                        uintptr_t tramp, uintptr_t start_ret)
{
    uint64_t base[64];
    ring_cell *c = ring_claim(g_ring);
    ring_sample *s;
    int n, i, from = -1, k = 1;

    if (!c)
        return;
    s = &c->s;
    s->type = SAMPLE_CPU;
    s->flags = 0;
    s->tagset = tags_current();
    s->values[0] = weight;
    s->nlang = 0;
    s->words[0] = (uint64_t)(uintptr_t)leaf;
    /* Callers' pcs are return addresses, looked up at pc - 1. */
    if (fn)
        s->words[k++] = (uint64_t)fn + 1;
    s->words[k++] = (uint64_t)tramp + 1;
    n = start_ret ? sampler_backtrace_cold(base, 64) : 0;
    for (i = 0; i < n; i++)
        if (base[i] == (uint64_t)start_ret) {
            from = i;
            break;
        }
    if (from < 0 && start_ret)
        s->words[k++] = (uint64_t)start_ret;
    for (i = from < 0 ? n : from; i < n && k < RING_MAX_WORDS; i++)
        s->words[k++] = base[i];
    s->nnative = (uint16_t)k;
    atomic_fetch_add_explicit(&g_samples, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(leaf == thread_exit_frame ? &g_exit_samples
                                                        : &g_start_samples,
                              (uint64_t)weight, memory_order_relaxed);
    ring_publish(g_ring, c);
}

/*
 * A thread started through the trampoline begins: sample it from now on,
 * and record the grid points its start already passed (arm_thread).
 */
void sampler_thread_begin(uintptr_t tramp, uintptr_t start_ret)
{
    uint64_t t0 = self_cpu_ns();
    pid_t tid = gettid_raw();
    thread_timer *t;
    int64_t passed = 0;

    pyroscope__tls.hook_depth++; /* our registry's allocations */
    pthread_mutex_lock(&g_threads_lock);
    if (atomic_load(&g_active) && !g_fallback && !find_thread(tid)) {
        t = add_thread(tid, &passed);
        if (t) {
            mark_hot(t);
            if (passed > 0)
                record_edge(thread_start_frame, passed, 0, tramp, start_ret);
        }
    }
    pthread_mutex_unlock(&g_threads_lock);
    pyroscope__tls.hook_depth--;
    atomic_fetch_add_explicit(&g_handler_ns, self_cpu_ns() - t0,
                              memory_order_relaxed);
}

/*
 * A thread started through the trampoline exits: stop its timer, and
 * record the grid points its CPU clock passed since its last sample (a
 * timer fires on a scheduler tick, so a thread can pass a point and exit
 * before the tick comes).  The part of a period after the last point is
 * left alone: the random phase already makes the expected count exact.
 */
void sampler_thread_end(uintptr_t fn, uintptr_t tramp, uintptr_t start_ret)
{
    uint64_t t0;
    thread_timer *t;
    int64_t grid, w;
    pid_t tid;

    if (!atomic_load_explicit(&g_active, memory_order_relaxed) || g_fallback)
        return;
    t0 = self_cpu_ns();
    tid = gettid_raw();
    pyroscope__tls.hook_depth++;
    pthread_mutex_lock(&g_threads_lock);
    t = atomic_load(&g_active) ? find_thread(tid) : NULL;
    if (t && remove_at((size_t)(t - g_threads), &grid) == 0) {
        w = ((int64_t)t0 - grid) / g_period_ns;
        if (w > 0)
            record_edge(thread_exit_frame, w, fn, tramp, start_ret);
    }
    pthread_mutex_unlock(&g_threads_lock);
    pyroscope__tls.hook_depth--;
    atomic_fetch_add_explicit(&g_handler_ns, self_cpu_ns() - t0,
                              memory_order_relaxed);
}

uint64_t sampler_exit_samples(void)
{
    return atomic_load(&g_exit_samples);
}

/* ---- fallback: one process-wide CPU timer ---- */

static int start_itimer(void)
{
    struct itimerval it;

    it.it_interval.tv_sec = g_period_ns / 1000000000L;
    it.it_interval.tv_usec = (g_period_ns % 1000000000L) / 1000;
    it.it_value = it.it_interval;
    return setitimer(ITIMER_PROF, &it, NULL);
}

static int want_fallback(void)
{
    const char *e = getenv("PYROSCOPE_FORCE_ITIMER");

    return e && *e == '1';
}

/* ---- lifecycle ---- */

static int probe_posix(void)
{
    timer_t probe;

    if (arm_posix(gettid_raw(), (uint64_t)g_period_ns, &probe) != 0)
        return -1;
    timer_delete(probe);
    return 0;
}

/* Golden-ratio steps from a start that differs per process and start. */
static void seed_phase(void)
{
    uint64_t x = time_mono_ns() ^ ((uint64_t)getpid() << 32) ^
                 (uint64_t)(uintptr_t)&x;

    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    atomic_store(&g_phase, x);
}

/* ---- exec: the process image is replaced (exec_hooks.c) ---- */

/*
 * A CPU-time signal raised while execve runs in the kernel (its loading
 * work counts as the thread's CPU time) stays pending into the new image,
 * where the disposition is back to the default: terminate.  Under
 * LD_PRELOAD a bash script that ends in `exec` died so in 8 runs of 20.
 * So before an exec the calling thread's source is stopped (other threads'
 * signals are theirs alone and go with them), the process timer too in
 * fallback mode (ITIMER_PROF outlives exec), and whatever of our signal is
 * pending is taken, with the signal blocked meanwhile.
 *
 * Skipped in a vfork child (its pid is not the sampled process's): it has
 * no source of its own and shares the parent's memory, which it must not
 * touch.  Returns 1 if a source was stopped, for sampler_exec_failed.
 */
/* Keep the collector's task scan from arming tid again (it would see a
 * thread missing from the table) until exec_failed; 0 if no slot. */
static int exclude(pid_t tid)
{
    int i, zero;

    for (i = 0; i < MAX_EXCLUDED; i++) {
        zero = 0;
        if (atomic_compare_exchange_strong(&g_excluded[i], &zero, tid))
            return 1;
    }
    return 0;
}

static void unexclude(pid_t tid)
{
    int i, v;

    for (i = 0; i < MAX_EXCLUDED; i++) {
        v = tid;
        if (atomic_compare_exchange_strong(&g_excluded[i], &v, 0))
            return;
    }
}

int sampler_exec_prepare(void)
{
    struct timespec zero = {0, 0};
    sigset_t set, old;
    thread_timer *t;
    int saved_errno = errno, stopped = 0;

    if (!atomic_load(&g_active) || getpid() != g_owner)
        return 0;
    sigemptyset(&set);
    sigaddset(&set, g_signo);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    if (g_fallback) {
        struct itimerval off;
        memset(&off, 0, sizeof(off));
        stopped = setitimer(ITIMER_PROF, &off, NULL) == 0;
    } else {
        pid_t tid = gettid_raw();
        pyroscope__tls.hook_depth++;
        pthread_mutex_lock(&g_threads_lock);
        t = find_thread(tid);
        if (t && exclude(tid)) {
            remove_at((size_t)(t - g_threads), NULL);
            stopped = 1;
        }
        pthread_mutex_unlock(&g_threads_lock);
        pyroscope__tls.hook_depth--;
    }
    while (sigtimedwait(&set, NULL, &zero) > 0)
        ;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = saved_errno;
    return stopped;
}

/* The exec failed and the process goes on: sample the thread again. */
void sampler_exec_failed(int stopped)
{
    int saved_errno = errno;

    if (!stopped || !atomic_load(&g_active) || getpid() != g_owner)
        return;
    if (g_fallback) {
        start_itimer();
    } else {
        pid_t tid = gettid_raw();
        thread_timer *t;
        pyroscope__tls.hook_depth++;
        pthread_mutex_lock(&g_threads_lock);
        unexclude(tid);
        if (!find_thread(tid)) {
            t = add_thread(tid, NULL);
            if (t)
                mark_hot(t);
        }
        pthread_mutex_unlock(&g_threads_lock);
        pyroscope__tls.hook_depth--;
    }
    errno = saved_errno;
}

void sampler_reserve_fds(void)
{
    perf_reserve_fds();
}

int sampler_start(const sampler_opts *o)
{
    uint64_t warm[4];

    if (!loader_lock_find())
        LOG_DEBUG("the loader's lock was not found: a sample may wait on "
                  "a thread inside dlopen");
    if (!unwind_setup())
        LOG_WARN("libunwind kept its process-wide cache: an unwind may "
                 "wait on a thread that is inside dlopen");
    /* libunwind sets up its trace cache with pthread_once on first use; do
     * it here, so a signal can never interrupt that once-init and wait on
     * it from the same thread. */
    sampler_backtrace(warm, 4, 0);
    g_ring = o->ring;
    g_owner = getpid();
    atomic_store(&g_samples, 0);
    atomic_store(&g_handler_ns, 0);
    atomic_store(&g_nudges, 0);
    atomic_store(&g_deferred, 0);
    atomic_store(&g_exit_samples, 0);
    atomic_store(&g_start_samples, 0);
    atomic_store(&g_upgrades, 0);
    if (acct_reset() != 0)
        return error_set(PYROSCOPE_ENOMEM, "cannot map the thread table");
    /* Under the table's lock: the collector thread may already be looking
     * itself up (sampler_exclude_self) when sampling starts. */
    pthread_mutex_lock(&g_threads_lock);
    if (!g_index.slots)
        map_init(&g_index);
    pthread_mutex_unlock(&g_threads_lock);
    seed_phase();
    g_last_nlink = 0;
    g_last_full_scan = 0;
    g_period_ns = 1000000000L / o->rate_hz;
    g_fallback = want_fallback();
    g_signo = g_fallback ? SIGPROF : pick_signal(o->signo);
    if (install_handler(g_signo) != 0)
        return error_set(PYROSCOPE_ERROR, "sigaction(%d): %s", g_signo,
                         strerror(errno));
    if (!g_fallback && probe_posix() != 0) {
        LOG_WARN("per-thread CPU timers unavailable (%s); falling back "
                 "to setitimer(ITIMER_PROF)", strerror(errno));
        g_fallback = 1;
    }
    g_use_perf = !g_fallback && perf_probe(g_signo, 0);
    if (g_fallback && g_signo != SIGPROF) {
        g_signo = SIGPROF;
        install_handler(SIGPROF);
    }
    /* Last: the collector thread reads the settings above once it sees
     * g_active. */
    atomic_store(&g_active, 1);
    if (g_fallback) {
        if (start_itimer() != 0)
            return error_set(PYROSCOPE_ERROR, "setitimer: %s",
                             strerror(errno));
        return 0;
    }
    sampler_scan_threads();
    return 0;
}

void sampler_stop(void)
{
    struct itimerval zero;
    size_t i;

    atomic_store(&g_active, 0);
    LOG_DEBUG("cpu sampler: %llu samples (%llu periods at thread starts, "
              "%llu at exits), %llu catch-up signals, %s, %.1f ms in "
              "handler and hooks",
              (unsigned long long)atomic_load(&g_samples),
              (unsigned long long)atomic_load(&g_start_samples),
              (unsigned long long)atomic_load(&g_exit_samples),
              (unsigned long long)atomic_load(&g_nudges),
              g_use_perf ? "perf events" : "POSIX timers",
              atomic_load(&g_handler_ns) / 1e6);
    LOG_DEBUG("cpu sampler: %llu signals deferred (re-entered or on a small "
              "or nearly full stack)", (unsigned long long)atomic_load(&g_deferred));
    LOG_DEBUG("cpu sampler: %llu stacks kept their leaf only (the loader's "
              "lock stayed taken)", (unsigned long long)loader_lock_gave_up());
    LOG_DEBUG("cpu sampler: %lu memory reads checked where unwind info "
              "ended", unwind_checked_reads());
    /* Naming thread_hooks_started() also makes a static link pull in our
     * pthread_create even when a sanitizer runtime's comes first. */
    LOG_DEBUG("cpu sampler: %lu threads started through pthread_create, "
              "%llu moved to a perf event", thread_hooks_started(),
              (unsigned long long)atomic_load(&g_upgrades));
    if (g_fallback) {
        memset(&zero, 0, sizeof(zero));
        setitimer(ITIMER_PROF, &zero, NULL);
    }
    pthread_mutex_lock(&g_threads_lock);
    remove_all();
    free(g_threads);
    g_threads = NULL;
    g_nthreads = g_cap_threads = 0;
    pthread_mutex_unlock(&g_threads_lock);
    for (i = 0; i < MAX_EXCLUDED; i++)
        atomic_store(&g_excluded[i], 0);
}

void sampler_atfork_child(void)
{
    size_t i;

    /* POSIX timers are not inherited across fork (and their ids must not
     * be deleted here: they may name the child's own); the perf fds are,
     * as copies of the parent's threads' events.  The list is whole:
     * sampler_fork_prepare held its lock. */
    pthread_mutex_init(&g_threads_lock, NULL);
    for (i = 0; i < g_nthreads; i++)
        if (g_threads[i].perf_fd >= 0)
            fdguard_close(g_threads[i].perf_fd);
    free(g_threads);
    free(g_hot);
    g_hot = NULL;
    g_nhot = g_cap_hot = 0;
    map_free(&g_index); /* not cleared: a memset would copy its pages */
    perf_atfork_child();
    g_last_nlink = 0;
    g_threads = NULL;
    g_nthreads = g_cap_threads = 0;
    acct_reset();
    for (i = 0; i < MAX_EXCLUDED; i++)
        atomic_store(&g_excluded[i], 0);
    atomic_store(&g_active, 0);
    atomic_store(&g_in_handler, 0); /* counted threads did not survive */
    atomic_store(&g_forking, 0);
}

void sampler_set_provider(const pyroscope_frame_provider *p)
{
    static int slot;

    if (!p) {
        atomic_store(&g_provider, NULL);
        return;
    }
    /* Alternate slots so a handler still reading the old copy sees it
     * whole. */
    slot ^= 1;
    g_provider_slots[slot] = *p;
    atomic_store(&g_provider, &g_provider_slots[slot]);
}

const pyroscope_frame_provider *sampler_provider(void)
{
    return atomic_load(&g_provider);
}

uint64_t sampler_threads(void)
{
    uint64_t n;

    pthread_mutex_lock(&g_threads_lock);
    n = g_nthreads;
    pthread_mutex_unlock(&g_threads_lock);
    return n;
}

uint64_t sampler_deferred(void)
{
    return atomic_load(&g_deferred);
}

uint64_t sampler_samples(void)
{
    return atomic_load(&g_samples);
}

int sampler_signal(void)
{
    return g_signo;
}

int sampler_fallback(void)
{
    return g_fallback;
}

uint64_t sampler_handler_ns(void)
{
    return atomic_load(&g_handler_ns);
}

void sampler_fork_prepare(void)
{
    /* The child gets a whole thread list (its perf fds to close). */
    pthread_mutex_lock(&g_threads_lock);
    atomic_store(&g_forking, 1);
    /* Handlers run for microseconds; wait for those already inside. */
    while (atomic_load(&g_in_handler) != 0)
        sched_yield();
}

void sampler_fork_resume(void)
{
    atomic_store(&g_forking, 0);
    pthread_mutex_unlock(&g_threads_lock);
}
