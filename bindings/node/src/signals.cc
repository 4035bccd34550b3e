#include "signals.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>

namespace pyro_node {

Slot g_slots[kMaxSlots];
bool g_chained = false;

namespace {
struct sigaction g_prev_sigprof;  // V8's handler, which we chain to
}  // namespace

void on_sigprof(int sig, siginfo_t *info, void *uc) {
    int saved_errno = errno;
    pthread_t self = pthread_self();
    for (int i = 0; i < kMaxSlots; i++) {
        Slot &s = g_slots[i];
        if (s.active.load(std::memory_order_acquire) != 1 ||
            !pthread_equal(s.thread, self))
            continue;
        struct timespec ts, cpu;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu);
        uint64_t h = s.head.load(std::memory_order_relaxed);
        LabelRecord &r = s.ring[h & (kRingSize - 1)];
        r.ts_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
        r.cpu_ns = (int64_t)cpu.tv_sec * 1000000000 + cpu.tv_nsec;
        r.id = s.cell ? *s.cell : 0;
        s.head.store(h + 1, std::memory_order_release);
        break;
    }
    errno = saved_errno;
    if (g_prev_sigprof.sa_flags & SA_SIGINFO) {
        if (g_prev_sigprof.sa_sigaction) g_prev_sigprof.sa_sigaction(sig, info, uc);
    } else if (g_prev_sigprof.sa_handler != SIG_DFL &&
               g_prev_sigprof.sa_handler != SIG_IGN) {
        g_prev_sigprof.sa_handler(sig);
    }
}

bool chain_sigprof() {
    if (g_chained) return true;
    struct sigaction cur;
    if (sigaction(SIGPROF, nullptr, &cur) != 0) return false;
    // Only chain when V8 installed its handler (it does when the sampler
    // starts); otherwise SIGPROF would terminate the process when forwarded.
    if (!(cur.sa_flags & SA_SIGINFO) && (cur.sa_handler == SIG_DFL ||
                                        cur.sa_handler == SIG_IGN))
        return false;
    g_prev_sigprof = cur;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigprof;
    sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGPROF, &sa, nullptr) != 0) return false;
    g_chained = true;
    return true;
}

void unchain_sigprof() {
    if (!g_chained) return;
    sigaction(SIGPROF, &g_prev_sigprof, nullptr);
    g_chained = false;
}

// A real-time signal nobody handles, for the core's own CPU timers, so that
// they never reach V8's SIGPROF handler.
int pick_core_signal() {
    for (int s = SIGRTMIN + 6; s <= SIGRTMAX - 2; s++) {
        struct sigaction cur;
        if (sigaction(s, nullptr, &cur) != 0) continue;
        if (!(cur.sa_flags & SA_SIGINFO) && cur.sa_handler == SIG_DFL)
            return s;
    }
    return 0;
}

int claim_slot(volatile int32_t *cell) {
    for (int i = 0; i < kMaxSlots; i++) {
        int expected = 0;
        Slot &s = g_slots[i];
        if (!s.active.compare_exchange_strong(expected, 2)) continue;
        s.thread = pthread_self();
        s.cell = cell;
        s.active.store(1, std::memory_order_release);
        return i;
    }
    return -1;
}

void release_slot(int i) {
    if (i < 0) return;
    g_slots[i].active.store(2, std::memory_order_release);
    g_slots[i].cell = nullptr;
    g_slots[i].active.store(0, std::memory_order_release);
}

}  // namespace pyro_node
