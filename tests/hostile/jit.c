/*
 * JIT-like code: machine code written into anonymous PROT_EXEC pages, run
 * hot (no unwind info, no frame pointer, no symbol), then unmapped and
 * generated again elsewhere.
 */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#if defined(__x86_64__)
/* int f(int n) { int r = 0; while (n--) r++; return r; } */
static const unsigned char g_code[] = {
    0x31, 0xc0,       /* xor eax, eax */
    0x83, 0xc0, 0x01, /* add eax, 1 */
    0xff, 0xcf,       /* dec edi */
    0x75, 0xf9,       /* jnz -7 */
    0xc3              /* ret */
};

static long run_jit(int round)
{
    int (*fn)(int);
    long sum = 0;
    size_t len = 4096 * (size_t)(1 + round % 3);
    unsigned char *page = mmap(NULL, len, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    if (page == MAP_FAILED)
        return -1;
    /* Somewhere inside the mapping, not always at its start. */
    memcpy(page + 64 * (round % 8), g_code, sizeof(g_code));
    if (mprotect(page, len, round % 2 ? PROT_READ | PROT_EXEC
                                      : PROT_READ | PROT_WRITE | PROT_EXEC))
        return -1;
    *(void **)&fn = page + 64 * (round % 8);
    for (int i = 0; i < 10; i++)
        sum += fn(400000);
    munmap(page, len);
    return sum;
}
#else
static long run_jit(int round)
{
    (void)round;
    return 4000000;
}
#endif

int main(void)
{
    long total = 0;

    for (int r = 0; r < 60; r++)
        total += run_jit(r);
    printf("jit total %ld\n", total);
    return 0;
}
