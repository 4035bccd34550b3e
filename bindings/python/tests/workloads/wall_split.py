"""75% of the wall time asleep, 25% computing (by wall clock), on the main
thread; prints the time it really spent in each phase."""
import sys
import time

import pyroscope


def compute(budget):
    end = time.monotonic() + budget
    x = 0
    while time.monotonic() < end:
        for i in range(100):
            x += i
    return x


def sleep_phase(budget):
    time.sleep(budget)


def main():
    oncpu = sys.argv[3] == "cpu"
    pyroscope.configure(application_name="py.wall",
                        server_address=sys.argv[1], upload_interval=1,
                        oncpu=oncpu, tags={"mode": sys.argv[3]})
    spent = {"sleep_phase": 0.0, "compute": 0.0}
    stop = time.monotonic() + float(sys.argv[2])
    with pyroscope.tag_wrapper({"phase": "loop"}):
        while time.monotonic() < stop:
            for fn, budget in ((sleep_phase, 0.12), (compute, 0.04)):
                t = time.monotonic()
                fn(budget)
                spent[fn.__name__] += time.monotonic() - t
    pyroscope.shutdown()
    print(spent["sleep_phase"], spent["compute"])


main()
