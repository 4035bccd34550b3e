"""Sample app: 75% of the CPU under endpoint=/checkout, 25% under /search."""
import os
import time

import pyroscope

pyroscope.configure(
    application_name=os.environ.get("PYROSCOPE_APPLICATION_NAME", "docker.python"),
    server_address=os.environ.get("PYROSCOPE_SERVER_ADDRESS", "http://pyroscope:4040"),
    tags={"image": "python"},
)


def burn(seconds):
    end = time.thread_time() + seconds
    x = 0
    while time.thread_time() < end:
        x += sum(range(500))
    return x


def checkout():
    return burn(0.3)


def search():
    return burn(0.1)


deadline = time.monotonic() + float(os.environ.get("APP_SECONDS", "3600"))
while time.monotonic() < deadline:
    with pyroscope.tag_wrapper({"endpoint": "/checkout"}):
        checkout()
    with pyroscope.tag_wrapper({"endpoint": "/search"}):
        search()
pyroscope.shutdown()
