"""Threads that allocate and contend (the GIL's mutex, threading locks and
conditions, a queue): run with libpyroscope.so preloaded and heap + lock
profiling on.  Prints a checksum that does not depend on profiling."""
import ctypes
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


LIBC = ctypes.CDLL(None)
MUTEX = ctypes.create_string_buffer(64)  # zeroed = PTHREAD_MUTEX_INITIALIZER


def native_contention(rounds):
    # A pthread mutex held across a short sleep, from several threads (ctypes
    # drops the GIL during foreign calls, so they really contend): CPython's
    # own locks are semaphores or brief GIL-mutex holds, which may not show.
    for _ in range(rounds):
        LIBC.pthread_mutex_lock(MUTEX)
        LIBC.usleep(200)
        LIBC.pthread_mutex_unlock(MUTEX)


def main():
    cs = [threading.Thread(target=native_contention, args=(300,))
          for _ in range(3)]
    for t in cs:
        t.start()
    for t in cs:
        t.join()
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
