/* The library hostile_dlopen loads and unloads in a loop. */
#include "common.h"

__attribute__((visibility("default"))) unsigned long hot_work(unsigned long n)
{
    return (unsigned long)spin(n) & 0xff;
}
