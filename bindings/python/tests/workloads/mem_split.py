"""Allocations split 75% / 25% by bytes between two functions; part of
what each allocates stays alive until shutdown (also 3:1)."""
import sys

import pyroscope

KEEP = []


def alloc_a(n):
    junk = [bytearray(4000) for _ in range(n * 3)]  # freed on return
    KEEP.append([bytearray(4000) for _ in range(n * 3 // 10)])
    return len(junk)


def alloc_b(n):
    junk = [bytearray(4000) for _ in range(n)]
    KEEP.append([bytearray(4000) for _ in range(n // 10)])
    return len(junk)


def main():
    kw = {}
    if len(sys.argv) > 3:
        kw["mem_heap_sample_size"] = int(sys.argv[3])
    pyroscope.configure(application_name="py.mem", server_address=sys.argv[1],
                        upload_interval=1, mem_enabled=True, **kw)
    rounds = int(sys.argv[2])
    for _ in range(rounds):
        alloc_a(1000)
        alloc_b(1000)
    # live: a 0.3*3000*rounds*4000, b 0.1*1000*rounds*4000 bytes
    sampled = pyroscope._native.mem_counts()["sampled"]
    pyroscope.shutdown()
    print(sum(len(k) for k in KEEP) * 4000, sampled)


main()
