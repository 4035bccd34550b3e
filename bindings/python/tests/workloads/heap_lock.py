"""Threads that allocate and contend (the GIL's mutex, threading locks and
conditions, a queue): run with libpyroscope.so preloaded and heap + lock
profiling on.  Prints a checksum that does not depend on profiling."""
import queue
import threading
import zlib

N_THREADS = 4
ROUNDS = 3000


def churn(k, lock, q, out):
    acc = 0
    for i in range(ROUNDS):
        data = bytes(bytearray((i * k + j) & 0xFF for j in range(200)))
        with lock:
            acc = zlib.crc32(data, acc)  # zlib: native allocations
        if i % 50 == 0:
            q.put(acc)
    out[k] = acc


def main():
    lock = threading.Lock()
    q = queue.Queue()
    out = {}
    ts = [threading.Thread(target=churn, args=(k, lock, q, out))
          for k in range(N_THREADS)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    n = 0
    while not q.empty():
        q.get()
        n += 1
    print(sorted(out.items()), n)


main()
