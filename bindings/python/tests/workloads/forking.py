"""Profiler configured in the parent, then os.fork and multiprocessing."""
import json
import multiprocessing
import os
import sys
import time

import pyroscope

MODE = sys.argv[2]


def spin(seconds):
    end = time.thread_time() + seconds
    x = 0
    while time.thread_time() < end:
        for i in range(100):
            x += i


def parent_before(s):
    spin(s)


def parent_after(s):
    spin(s)


def fork_child_work(s):
    spin(s)


def mp_child_work(s):
    spin(s)


def main():
    pyroscope.configure(application_name="py.fork", server_address=sys.argv[1],
                        upload_interval=1.0, report_pid=True, fork=MODE)
    parent_before(0.3)
    pid = os.fork()
    if pid == 0:
        fork_child_work(0.5)
        sys.exit(0)  # atexit -> shutdown -> final upload
    _, status = os.waitpid(pid, 0)
    assert status == 0, status
    p = multiprocessing.get_context("fork").Process(target=mp_child_work,
                                                    args=(0.5,))
    p.start()
    p.join()
    assert p.exitcode == 0
    parent_after(0.3)
    pyroscope.shutdown()
    print(json.dumps({"parent": os.getpid(), "fork": pid, "mp": p.pid}))


main()
