#define UNW_LOCAL_ONLY
#include "unwind.h"

#include <libunwind.h>

#include "sampler.h"

int unwind_from_signal(void *ucontext, uint64_t *pcs, int max)
{
    unw_cursor_t cursor;
    unw_word_t ip;
    int n = 0;

    /* On x86-64 Linux a ucontext_t is a valid unw_context_t. */
    if (unw_init_local2(&cursor, (unw_context_t *)ucontext,
                        UNW_INIT_SIGNAL_FRAME) < 0)
        return 0;
    do {
        if (unw_get_reg(&cursor, UNW_REG_IP, &ip) < 0 || ip == 0)
            break;
        pcs[n++] = (uint64_t)ip;
    } while (n < max && unw_step(&cursor) > 0);
    return n;
}

int sampler_backtrace(uint64_t *words, int max, int skip)
{
    void *tmp[RING_MAX_WORDS + 8];
    int n, i, want = max + skip + 1;

    if (want > (int)(sizeof(tmp) / sizeof(tmp[0])))
        want = (int)(sizeof(tmp) / sizeof(tmp[0]));
    n = unw_backtrace(tmp, want);
    /* +1: this function's own frame. */
    skip += 1;
    for (i = skip; i < n && i - skip < max; i++)
        words[i - skip] = (uint64_t)(uintptr_t)tmp[i];
    return n > skip ? (n - skip < max ? n - skip : max) : 0;
}
