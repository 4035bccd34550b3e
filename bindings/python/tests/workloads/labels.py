"""The same small program for pyroscope-io and for us: CPU and memory
with static tags and a thread tag.  Runs under either package."""
import sys
import time

import pyroscope

KEEP = []


def find_nearest_vehicle(budget):
    end = time.thread_time() + budget
    while time.thread_time() < end:
        KEEP.append(bytearray(2000))
        if len(KEEP) > 2000:
            del KEEP[:]


def main():
    pyroscope.configure(application_name="py.labels",
                        server_address=sys.argv[1], upload_interval=1,
                        tags={"region": "eu", "vehicle_kind": "car"},
                        mem_enabled=True)
    pyroscope.add_thread_tag("vehicle", "car")
    for _ in range(3):
        find_nearest_vehicle(0.5)
    pyroscope.remove_thread_tag("vehicle", "car")
    pyroscope.shutdown()


main()
