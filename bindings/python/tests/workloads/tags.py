"""Tagged work on several threads and asyncio tasks; each unit of work runs
in a function whose name says which tags it must carry."""
import asyncio
import sys
import threading
import time

import pyroscope

MODE = sys.argv[2]


def spin(budget):
    end = time.thread_time() + budget
    x = 0
    while time.thread_time() < end:
        for i in range(100):
            x += i
    return x


def work_x(budget):
    return spin(budget)


def work_y(budget):
    return spin(budget)


def work_untagged(budget):
    return spin(budget)


def work_nested(budget):
    return spin(budget)


def work_thread_tag(budget):
    return spin(budget)


def work_nested_y(budget):
    return spin(budget)


INNER = pyroscope.tag_wrapper({"inner": "1"})  # shared by threads and tasks


@pyroscope.tag_wrapper({"deco": "1"})
def work_deco(budget):
    return spin(budget)


@pyroscope.tag_wrapper({"deco": "1"})
async def awork_deco(budget):
    await asyncio.sleep(0)
    return spin(budget)


def thread_main(tag, fn):
    with pyroscope.tag_wrapper({"worker": tag}):
        for _ in range(30):
            fn(0.02)
            time.sleep(0.001)  # let the other thread take the GIL
            with INNER:
                (work_nested if tag == "x" else work_nested_y)(0.01)
                time.sleep(0.001)


def threads():
    ts = [threading.Thread(target=thread_main, args=("x", work_x)),
          threading.Thread(target=thread_main, args=("y", work_y))]
    for t in ts:
        t.start()
    for _ in range(20):
        work_untagged(0.01)
        work_deco(0.01)
        time.sleep(0.001)
    for t in ts:
        t.join()
    # add_thread_tag / remove_thread_tag on the calling thread: the
    # pyroscope-io 1.x form (key, value), then the older 3-argument form.
    pyroscope.add_thread_tag("th", "main")
    work_thread_tag(0.15)
    pyroscope.remove_thread_tag("th", "main")
    work_untagged(0.05)
    pyroscope.add_thread_tag(threading.get_ident(), "th", "main")
    work_thread_tag(0.15)
    pyroscope.remove_thread_tag(threading.get_ident(), "th", "main")
    work_untagged(0.05)


async def task(tag, fn):
    with pyroscope.tag_wrapper({"worker": tag}):
        for _ in range(40):
            fn(0.01)
            await asyncio.sleep(0)  # interleave with the other task
            async with INNER:
                fn2 = work_nested if tag == "x" else work_nested_y
                fn2(0.005)
                await asyncio.sleep(0)
                fn2(0.005)


async def loop_untagged():
    for _ in range(40):
        work_untagged(0.005)
        await asyncio.sleep(0)
        await awork_deco(0.003)


async def amain():
    await asyncio.gather(task("x", work_x), task("y", work_y),
                         loop_untagged())


def named_threads():
    ts = [threading.Thread(target=work_x, args=(0.4,), name="alpha"),
          threading.Thread(target=work_y, args=(0.4,), name="beta")]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    work_untagged(0.3)


def main():
    report = MODE == "report"
    pyroscope.configure(application_name="py.tags",
                        server_address=sys.argv[1], upload_interval=1.0,
                        tags={"env": "test"}, report_thread_id=report,
                        report_thread_name=report)
    if MODE == "threads":
        threads()
    elif MODE == "report":
        print(threading.get_ident())
        named_threads()
    else:
        asyncio.run(amain())
    pyroscope.shutdown()


main()
