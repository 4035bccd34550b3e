// C++ exceptions thrown through deep stacks, from several threads, with
// allocation and a lock on the way down.
#include <cstdio>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common.h"

static std::mutex g_lock;
static long g_shared;

__attribute__((noinline)) static int descend(int depth, int limit)
{
    volatile int pad[4] = {depth, 0, 0, 0};

    if (depth == limit) {
        {
            std::lock_guard<std::mutex> g(g_lock);
            g_shared++;
        }
        spin(500);
        throw std::runtime_error("bottom " + std::to_string(depth));
    }
    std::string s(24 + depth % 32, 'x');
    int r = descend(depth + 1, limit) + pad[0] + (int)s.size();
    return r;
}

static void worker(long *caught, int seed)
{
    for (int i = 0; i < 400; i++) {
        try {
            descend(0, 32 + (i * 7 + seed) % 160);
        } catch (const std::runtime_error &e) {
            *caught += e.what()[0] == 'b';
        }
    }
}

int main()
{
    std::vector<std::thread> t;
    long caught[4] = {0, 0, 0, 0};

    for (int i = 0; i < 4; i++)
        t.emplace_back(worker, &caught[i], i);
    for (auto &th : t)
        th.join();
    std::printf("caught %ld %ld %ld %ld shared %ld\n", caught[0], caught[1],
                caught[2], caught[3], g_shared);
    return 0;
}
