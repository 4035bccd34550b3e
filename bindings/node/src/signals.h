// The SIGPROF hook chained in front of V8's: at every V8 sample signal it
// records (time, label id, thread CPU time) in the interrupted thread's
// slot.  Async-signal-safe: no allocation, no locks, errno preserved.
#ifndef PYROSCOPE_NODE_SIGNALS_H
#define PYROSCOPE_NODE_SIGNALS_H

#include <pthread.h>
#include <stdint.h>

#include <atomic>

namespace pyro_node {

struct LabelRecord {
    int64_t ts_us;   // CLOCK_MONOTONIC, the clock of V8's TimeTicks on Linux
    int64_t cpu_ns;  // CPU time of the interrupted thread
    int32_t id;      // label set id, 0 = none
};

// One slot per profiled thread.  The signal handler finds its slot by
// thread id; slots are static so that a handler never reads freed memory.
constexpr int kMaxSlots = 32;
constexpr uint64_t kRingSize = 1u << 14;  // power of two

struct Slot {
    std::atomic<int> active{0};
    pthread_t thread;
    volatile int32_t *cell = nullptr;
    LabelRecord ring[kRingSize];
    std::atomic<uint64_t> head{0};  // written only by the signal handler
};
extern Slot g_slots[kMaxSlots];

extern bool g_chained;  // our handler is installed in front of V8's

// Install our handler in front of V8's (only once V8 has one); undo.
bool chain_sigprof();
void unchain_sigprof();
// A real-time signal nobody handles, for the core's own CPU timers.
int pick_core_signal();
// Claim a slot for the calling thread (with its label cell), or -1.
int claim_slot(volatile int32_t *cell);
void release_slot(int i);

}  // namespace pyro_node

#endif
