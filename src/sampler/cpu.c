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
#include "../common/tls.h"
#include "../common/util.h"
#include "../tags/tags.h"
#include "acct.h"
#include "sampler.h"
#include "unwind.h"

/* musl names the SIGEV_THREAD_ID target field; glibc 2.36 does not. */
#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif

/* Marks our timers' signals so foreign ones can be passed on. */
#define TIMER_MAGIC ((void *)(uintptr_t)0x7079726f73636f70ull)
#define MAX_EXCLUDED 16

typedef struct thread_timer {
    pid_t tid;
    timer_t timer;
    int seen;
    uint64_t cpu_seen; /* its CPU clock at the previous watchdog pass */
} thread_timer;

static ring *g_ring;
static int g_signo;
static long g_period_ns;
static atomic_int g_active;
static int g_fallback;
static struct sigaction g_old_action;
static int g_installed;
static atomic_uint_fast64_t g_samples;
static atomic_uint_fast64_t g_handler_ns;
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

/* ---- the signal handler ---- */

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
static int64_t sample_weight(const siginfo_t *si)
{
    uint64_t now;
    int64_t w;

    if (!g_fallback && (now = time_clock_ns(CLOCK_THREAD_CPUTIME_ID)) != 0) {
        w = acct_take((pid_t)syscall(SYS_gettid), now, (uint64_t)g_period_ns);
        if (w >= 0)
            return w;
    }
    return 1 + (!g_fallback && si->si_overrun > 0 ? si->si_overrun : 0);
}

static void record(const siginfo_t *si, void *uc)
{
    const pyroscope_frame_provider *prov;
    int64_t weight = sample_weight(si);
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
            uc, s->words + 2 * s->nlang, RING_MAX_WORDS - 2 * s->nlang);
    atomic_fetch_add_explicit(&g_samples, 1, memory_order_relaxed);
    ring_publish(g_ring, c);
}

/* CLOCK_MONOTONIC is a vDSO read: cheap enough to account for our own
 * cost in every sample. */
static void record_timed(const siginfo_t *si, void *uc)
{
    struct timespec a, b;

    clock_gettime(CLOCK_MONOTONIC, &a);
    record(si, uc);
    clock_gettime(CLOCK_MONOTONIC, &b);
    atomic_fetch_add_explicit(&g_handler_ns,
                              (uint64_t)((b.tv_sec - a.tv_sec) * 1000000000L +
                                         (b.tv_nsec - a.tv_nsec)),
                              memory_order_relaxed);
}

/*
 * The handler runs on the interrupted stack (no SA_ONSTACK).  When that is
 * the application's alternate signal stack (our signal landed inside its
 * handler), it may be a few KiB: too small for the unwinder.  One cheap
 * syscall, only then skipped.
 */
#define HANDLER_STACK_NEED (24 * 1024)

static int on_small_altstack(void)
{
    stack_t ss;
    char here;

    if (sigaltstack(NULL, &ss) != 0 || !(ss.ss_flags & SS_ONSTACK))
        return 0;
    return (uintptr_t)&here < (uintptr_t)ss.ss_sp + HANDLER_STACK_NEED;
}

static void on_signal(int sig, siginfo_t *si, void *uc)
{
    int saved_errno = errno;

    if (!is_ours(si)) {
        chain(sig, si, uc);
    } else if (atomic_load_explicit(&g_active, memory_order_relaxed)) {
        /* While fork() is being prepared no handler may start unwinding:
         * a libunwind lock held at the clone would stay held in the child. */
        atomic_fetch_add(&g_in_handler, 1);
        if (tls_guard_up() || on_small_altstack()) {
            /* Interrupted our own code, maybe inside the unwinder (or
             * runs on a tiny alternate stack): no sample.  Its CPU time is not lost: the thread's next sample
             * is weighted by all CPU time since the last one (acct.h). */
            atomic_fetch_add_explicit(&g_deferred, 1, memory_order_relaxed);
        } else if (!atomic_load(&g_forking)) {
            /* Locks and allocations of the unwinder go to the real
             * functions, never into a hook that would unwind again. */
            tls_guard_raise();
            record_timed(si, uc);
            tls_guard_lower();
        }
        atomic_fetch_sub(&g_in_handler, 1);
    }
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

static int arm_thread(pid_t tid, timer_t *out)
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
    its.it_value = its.it_interval;
    if (timer_settime(*out, 0, &its, NULL) != 0) {
        timer_delete(*out);
        return -1;
    }
    return 0;
}

static uint64_t thread_cpu_ns(pid_t tid)
{
    return time_clock_ns(thread_cpu_clock(tid));
}

static int is_excluded(pid_t tid)
{
    int i;

    for (i = 0; i < MAX_EXCLUDED; i++)
        if (atomic_load(&g_excluded[i]) == tid)
            return 1;
    return 0;
}

void sampler_exclude_self(void)
{
    pid_t tid = (pid_t)syscall(SYS_gettid);
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
            return;
    }
}

static thread_timer *find_thread(pid_t tid)
{
    size_t i;

    for (i = 0; i < g_nthreads; i++)
        if (g_threads[i].tid == tid)
            return &g_threads[i];
    return NULL;
}

static void add_thread(pid_t tid)
{
    thread_timer *t;
    timer_t timer;

    if (array_grow((void **)&g_threads, &g_cap_threads, g_nthreads + 1,
                   sizeof(*g_threads)) != 0)
        return;
    if (arm_thread(tid, &timer) != 0)
        return; /* the thread may have just exited */
    t = &g_threads[g_nthreads++];
    t->tid = tid;
    t->timer = timer;
    t->seen = 1;
    t->cpu_seen = thread_cpu_ns(tid);
    acct_add(tid, t->cpu_seen);
}

static void drop_unseen(void)
{
    size_t i = 0;

    while (i < g_nthreads) {
        if (g_threads[i].seen) {
            i++;
            continue;
        }
        timer_delete(g_threads[i].timer);
        acct_remove(g_threads[i].tid);
        g_threads[i] = g_threads[--g_nthreads];
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
    size_t i;
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
    for (i = 0; i < g_nthreads; i++)
        timer_delete(g_threads[i].timer);
    g_nthreads = 0;
    acct_reset();
    sig = pick_signal(0);
    LOG_WARN("signal %d was taken over by the application; sampling moves "
             "to signal %d", g_signo, sig);
    g_signo = sig;
    if (install_handler(sig) != 0)
        atomic_store(&g_active, 0);
}

/*
 * A full directory scan costs ~50 us; the link count of /proc/self/task
 * (threads + 2) costs one stat.  Scan when the count changes, and every
 * 250 ms anyway (a thread may have exited while another started).  Reset by
 * sampler_start: a new profiler must not trust an old count.
 */
static nlink_t g_last_nlink;
static uint64_t g_last_full_scan;

static int threads_may_have_changed(void)
{
    nlink_t *last = &g_last_nlink;
    uint64_t *last_full = &g_last_full_scan;
    struct stat st;
    uint64_t now = time_mono_ns();

    if (stat("/proc/self/task", &st) != 0 || st.st_nlink != *last ||
        now - *last_full >= 250000000ull) {
        *last = st.st_nlink;
        *last_full = now;
        return 1;
    }
    return 0;
}

void sampler_scan_threads(void)
{
    DIR *dir;
    struct dirent *de;
    size_t i;

    if (!atomic_load(&g_active))
        return;
    if (g_fallback) {
        pthread_mutex_lock(&g_threads_lock);
        ensure_handler_locked();
        pthread_mutex_unlock(&g_threads_lock);
        return;
    }
    pthread_mutex_lock(&g_threads_lock);
    ensure_handler_locked();
    if (g_nthreads && !threads_may_have_changed()) {
        pthread_mutex_unlock(&g_threads_lock);
        return;
    }
    dir = opendir("/proc/self/task");
    if (!dir) {
        pthread_mutex_unlock(&g_threads_lock);
        return;
    }
    for (i = 0; i < g_nthreads; i++)
        g_threads[i].seen = 0;
    while ((de = readdir(dir)) != NULL) {
        pid_t tid = (pid_t)atoi(de->d_name);
        thread_timer *t;
        if (tid <= 0 || is_excluded(tid))
            continue;
        t = find_thread(tid);
        if (t)
            t->seen = 1;
        else
            add_thread(tid);
    }
    closedir(dir);
    drop_unseen();
    pthread_mutex_unlock(&g_threads_lock);
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
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
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

/*
 * Under CPU contention a thread that makes many syscalls can see its CPU
 * timer's signal held back by the kernel for hundreds of ms, then get one
 * signal for all of it: that sample lands on whatever code runs at that
 * moment, which skews the profile towards it.  So the collector checks
 * every thread that ran since its last pass, and signals one whose CPU time
 * is well past its last sample; the handler weighs it by CPU time (acct.h),
 * so a timer signal that does arrive just after is simply skipped.
 */
void sampler_watchdog(void)
{
    uint64_t min_lag, cpu;
    size_t i;

    /* The collector starts before the sampler: g_active (set last by
     * sampler_start) guards the other settings. */
    if (!atomic_load(&g_active) || g_fallback)
        return;
    min_lag = 3 * (uint64_t)g_period_ns / 2;
    if (min_lag < WATCHDOG_MIN_LAG_NS)
        min_lag = WATCHDOG_MIN_LAG_NS;
    pthread_mutex_lock(&g_threads_lock);
    for (i = 0; i < g_nthreads; i++) {
        thread_timer *t = &g_threads[i];

        cpu = thread_cpu_ns(t->tid);
        if (cpu == t->cpu_seen)
            continue; /* idle since the last pass */
        t->cpu_seen = cpu;
        if (acct_lag(t->tid, cpu) >= min_lag && thread_running(t->tid))
            nudge(t->tid);
    }
    pthread_mutex_unlock(&g_threads_lock);
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

int sampler_start(const sampler_opts *o)
{
    uint64_t warm[4];

    /* libunwind sets up its trace cache with pthread_once on first use; do
     * it here, so a signal can never interrupt that once-init and wait on
     * it from the same thread. */
    sampler_backtrace(warm, 4, 0);
    g_ring = o->ring;
    atomic_store(&g_samples, 0);
    atomic_store(&g_handler_ns, 0);
    atomic_store(&g_nudges, 0);
    atomic_store(&g_deferred, 0);
    acct_reset();
    g_last_nlink = 0;
    g_last_full_scan = 0;
    g_period_ns = 1000000000L / o->rate_hz;
    g_fallback = want_fallback();
    g_signo = g_fallback ? SIGPROF : pick_signal(o->signo);
    if (install_handler(g_signo) != 0)
        return error_set(PYROSCOPE_ERROR, "sigaction(%d): %s", g_signo,
                         strerror(errno));
    if (!g_fallback) {
        timer_t probe;
        if (arm_thread((pid_t)syscall(SYS_gettid), &probe) != 0) {
            LOG_WARN("per-thread CPU timers unavailable (%s); falling back "
                     "to setitimer(ITIMER_PROF)", strerror(errno));
            g_fallback = 1;
        } else {
            timer_delete(probe);
        }
    }
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
    LOG_DEBUG("cpu sampler: %llu samples, %llu catch-up signals, %llu "
              "deferred (re-entered)",
              (unsigned long long)atomic_load(&g_samples),
              (unsigned long long)atomic_load(&g_nudges),
              (unsigned long long)atomic_load(&g_deferred));
    if (g_fallback) {
        memset(&zero, 0, sizeof(zero));
        setitimer(ITIMER_PROF, &zero, NULL);
    }
    pthread_mutex_lock(&g_threads_lock);
    for (i = 0; i < g_nthreads; i++)
        timer_delete(g_threads[i].timer);
    free(g_threads);
    g_threads = NULL;
    g_nthreads = g_cap_threads = 0;
    pthread_mutex_unlock(&g_threads_lock);
    for (i = 0; i < MAX_EXCLUDED; i++)
        atomic_store(&g_excluded[i], 0);
}

void sampler_atfork_child(void)
{
    /* POSIX timers are not inherited across fork; the list is stale.  It
     * is abandoned, not freed: the collector may have been resizing it. */
    pthread_mutex_init(&g_threads_lock, NULL);
    g_last_nlink = 0;
    g_threads = NULL;
    g_nthreads = g_cap_threads = 0;
    acct_reset();
    for (size_t i = 0; i < MAX_EXCLUDED; i++)
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
    atomic_store(&g_forking, 1);
    /* Handlers run for microseconds; wait for those already inside. */
    while (atomic_load(&g_in_handler) != 0)
        sched_yield();
}

void sampler_fork_resume(void)
{
    atomic_store(&g_forking, 0);
}
