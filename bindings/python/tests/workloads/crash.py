"""A real segfault while profiling must still kill the process."""
import ctypes
import faulthandler
import sys
import time

import pyroscope

if sys.argv[2] == "faulthandler":
    faulthandler.enable()
pyroscope.configure(application_name="py.crash", server_address=sys.argv[1])
end = time.thread_time() + 0.2
while time.thread_time() < end:
    pass
print("crashing", flush=True)
ctypes.string_at(16)  # read from address 16
print("survived")
