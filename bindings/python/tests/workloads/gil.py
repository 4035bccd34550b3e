"""A thread hashing big buffers (GIL released inside hashlib) next to a
thread running pure Python."""
import hashlib
import sys
import threading
import time

import pyroscope

GIL_ONLY = sys.argv[2] == "1"
DATA = b"x" * (8 << 20)


def nogil_work(seconds):
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        hashlib.sha256(DATA).digest()


def gil_work(seconds):
    end = time.thread_time() + seconds
    x = 0
    while time.thread_time() < end:
        for i in range(100):
            x += i


def main():
    pyroscope.configure(application_name="py.gil", server_address=sys.argv[1],
                        gil_only=GIL_ONLY, upload_interval=1.0)
    t = threading.Thread(target=nogil_work, args=(1.0,))
    t.start()
    gil_work(1.0)
    t.join()
    pyroscope.shutdown()


main()
