/*
 * Shared bits of the hostile hosts: ordinary programs that know nothing of
 * the profiler.  Each prints a result that does not depend on timing, so a
 * profiled run must print exactly what an unprofiled one prints.
 */
#ifndef HOSTILE_COMMON_H
#define HOSTILE_COMMON_H

#include <stdint.h>

/* Burn a fixed amount of work (not time): the result is deterministic. */
static inline uint64_t spin(uint64_t n)
{
    volatile uint64_t x = 0;

    for (uint64_t i = 0; i < n; i++)
        x += i ^ (x >> 3);
    return x;
}

#endif
