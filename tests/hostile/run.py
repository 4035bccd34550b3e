#!/usr/bin/env python3
"""Hostile-host suite: run real programs with and without the profiler.

Each host (hostile_<name>, built by tests/hostile.cmake) prints a result
that does not depend on timing.  It runs once unprofiled; then, for every
combination of profile types (cpu, heap, lock and their unions), sample rate
(100, 1000 Hz) and mode (linked: hostile_<name>_linked started by
PYROSCOPE_AUTOSTART=1; preload: hostile_<name> under LD_PRELOAD), it must
print the same stdout and exit with the same code, within a timeout.  Racy
hosts repeat each cell.  The table printed at the end says, per cell,
whether every run survived.

  run.py --bin-dir DIR --lib libpyroscope.so [--flavour plain|asan]
         [--hosts a,b] [--repeat N] [--jobs N] [--timeout S]

Environment: HOSTILE_REPEAT (racy hosts' runs per cell), HOSTILE_JOBS,
HOSTILE_TIMEOUT, HOSTILE_HOSTS override the defaults.
"""
import argparse
import concurrent.futures as cf
import itertools
import os
import shutil
import subprocess
import sys
import tempfile
import time

# Known failures: reported in the table, not counted as failures of the
# suite.  Each says why; remove the entry once fixed.
XFAIL = {
}

# Known failures of one build flavour only.
XFAIL_FLAVOUR = {
    "asan": {
        "oom": "under LD_PRELOAD ASan's own internal mmap fails once the "
               "address space is capped (\"ERROR: Failed to mmap\" from "
               "the sanitizer runtime); the linked ASan runs pass",
    },
}

# name -> racy (repeat every cell)
HOSTS = {
    "mutex": True,
    "exceptions": True,
    "forker": True,
    "churn": True,
    "dlopen": True,
    "jit": False,
    "sigblock": True,
    "altstack": False,
    "sigprof": False,
    "closefds": True,
    "oom": False,
    "execer": True,
}
BASE_TYPES = ["cpu", "heap", "lock"]
TYPES = [",".join(c) for n in (1, 2, 3)
         for c in itertools.combinations(BASE_TYPES, n)]
RATES = [100, 1000]
MODES = ["linked", "preload"]


def clean_env():
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PYROSCOPE_") and k != "LD_PRELOAD"}
    return env


def run_once(cmd, env, timeout):
    """(status, stdout, rc, seconds); status ok|hang|crash."""
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stacks = hang_stacks(p.pid)
        # The whole session: a hung daemon() grandchild too.
        try:
            os.killpg(p.pid, 9)
        except ProcessLookupError:
            pass
        p.communicate()
        return "hang", b"", None, stacks, time.monotonic() - t0
    status = "crash" if p.returncode < 0 else "ok"
    return status, out, p.returncode, err, time.monotonic() - t0


def hang_stacks(pid):
    """Every thread's stack of a hung process, from gdb if it is here: a
    hang seen once in CI is then diagnosable from the log alone."""
    gdb = shutil.which("gdb")
    if not gdb:
        return b"(no gdb here: no stacks)"
    try:
        r = subprocess.run([gdb, "-p", str(pid), "-batch", "-nx",
                            "-ex", "thread apply all bt 40"],
                           capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as e:
        return ("(gdb failed: %s)" % e).encode()
    lines = [l for l in r.stdout.splitlines()
             if l.startswith((b"Thread ", b"#"))]
    return b"\n".join(lines[:400])


def sanitizer_runtime(lib, name):
    """Path of the sanitizer runtime `lib` links, from ldd; None if none."""
    try:
        out = subprocess.run(["ldd", lib], capture_output=True, text=True,
                             timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for line in out.splitlines():
        parts = line.split()
        if parts and parts[0].startswith(name) and "=>" in parts:
            return parts[parts.index("=>") + 1]
    return None


def count_profiles(d):
    n = 0
    for _root, _dirs, files in os.walk(d):
        n += sum(1 for f in files if f.endswith(".pb.gz"))
    return n


class Cell:
    def __init__(self, host, types, rate, mode):
        self.host, self.types, self.rate, self.mode = host, types, rate, mode
        self.runs = 0
        self.bad = {}  # status -> count
        self.profiles = 0
        self.first_error = None

    def label(self):
        if not self.bad:
            return "ok" if self.profiles else "ok*"
        return " ".join("%s %d/%d" % (k, v, self.runs)
                        for k, v in sorted(self.bad.items()))


def baseline(args, host):
    cmd = [os.path.join(args.bin_dir, "hostile_" + host)]
    env = clean_env()
    env.update(args.extra_env)
    status, out, rc, err, secs = run_once(cmd, env, args.timeout)
    if status != "ok":
        sys.exit("hostile: %s unprofiled: %s (rc %s)\n%s"
                 % (host, status, rc, err.decode(errors="replace")))
    return out, rc, secs


def profiled_run(args, cell, expect, tmp):
    host = cell.host
    d = tempfile.mkdtemp(prefix="%s-%s-%d-%s-" % (
        host, cell.types.replace(",", "+"), cell.rate, cell.mode), dir=tmp)
    env = clean_env()
    env.update(args.extra_env)
    env.update({
        "PYROSCOPE_APPLICATION_NAME": "host-hostile-" + host,
        "PYROSCOPE_SERVER_ADDRESS": "file://" + d,
        "PYROSCOPE_UPLOAD_INTERVAL": "200ms",
        "PYROSCOPE_PROFILE_TYPES": cell.types,
        "PYROSCOPE_SAMPLE_RATE": str(cell.rate),
        "PYROSCOPE_LOG_LEVEL": "error",
    })
    if cell.mode == "linked":
        cmd = [os.path.join(args.bin_dir, "hostile_%s_linked" % host)]
        env["PYROSCOPE_AUTOSTART"] = "1"
    else:
        cmd = [os.path.join(args.bin_dir, "hostile_" + host)]
        env["LD_PRELOAD"] = args.preload
    status, out, rc, err, secs = run_once(cmd, env, args.timeout)
    if status == "ok" and (out, rc) != expect:
        status = "differs"
    profiles = count_profiles(d)
    shutil.rmtree(d, ignore_errors=True)
    return status, profiles, out, rc, err


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--lib", required=True)
    ap.add_argument("--flavour", default="plain")
    ap.add_argument("--hosts", default=os.environ.get("HOSTILE_HOSTS", ""))
    ap.add_argument("--types", default="")
    ap.add_argument("--rates", default="")
    ap.add_argument("--modes", default="")
    ap.add_argument("--repeat", type=int,
                    default=int(os.environ.get("HOSTILE_REPEAT", "0")))
    ap.add_argument("--jobs", type=int,
                    default=int(os.environ.get("HOSTILE_JOBS", "2")))
    ap.add_argument("--timeout", type=float,
                    default=float(os.environ.get("HOSTILE_TIMEOUT", "60")))
    args = ap.parse_args()
    XFAIL.update(XFAIL_FLAVOUR.get(args.flavour, {}))
    args.lib = os.path.abspath(args.lib)
    args.extra_env = {}
    args.preload = args.lib
    if args.flavour == "asan":
        # The sanitizer runtime must come first in the initial library
        # list, ahead of a preloaded (sanitized) libpyroscope.
        asan = sanitizer_runtime(args.lib, "libasan")
        if asan:
            args.preload = asan + ":" + args.lib
        # The hosts exhaust memory on purpose and fork children that never
        # free the parent's state; leaks are other tests' business.
        args.extra_env["ASAN_OPTIONS"] = (
            "allocator_may_return_null=1:detect_leaks=0")
    if not args.repeat:
        # Budget: ~6 min per flavour on a loaded 2-core machine.  A hazard
        # of the kind this suite exists for shows in many cells at once
        # (the issue-11 deadlock hung 4 of the 4 cpu+lock cells sampled):
        # at 1 hang in 4 runs, 12 such cells x 3 runs all pass with
        # probability 0.75^36 < 1e-4.  HOSTILE_REPEAT=20 for a deep run.
        args.repeat = 2 if args.flavour == "asan" else 3
    hosts = [h for h in (args.hosts.split(",") if args.hosts else HOSTS)]
    types = args.types.split(";") if args.types else TYPES
    rates = [int(r) for r in args.rates.split(",")] if args.rates else RATES
    modes = args.modes.split(",") if args.modes else MODES

    t_start = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="pyroscope-hostile-")
    expects = {}
    for h in hosts:
        out, rc, secs = baseline(args, h)
        expects[h] = (out, rc)
        print("baseline %-10s rc %d %.2fs: %s" % (
            h, rc, secs, out.decode(errors="replace").strip()[:70]),
            flush=True)

    cells, jobs = [], []
    for h in hosts:
        reps = args.repeat if HOSTS.get(h) else 1
        for t, r, m in itertools.product(types, rates, modes):
            c = Cell(h, t, r, m)
            cells.append(c)
            jobs += [c] * reps

    failed = 0
    with cf.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futs = {pool.submit(profiled_run, args, c, expects[c.host], tmp): c
                for c in jobs}
        for f in cf.as_completed(futs):
            c = futs[f]
            status, profiles, out, rc, err = f.result()
            c.runs += 1
            c.profiles += profiles
            if status != "ok":
                c.bad[status] = c.bad.get(status, 0) + 1
                if c.first_error is None:
                    c.first_error = (status, out, rc, err)
    shutil.rmtree(tmp, ignore_errors=True)

    # "ok*": survived, but no run of the cell wrote a profile.  Not a
    # failure (a host whose threads live a few ms, or block every signal,
    # may give the CPU sampler nothing), but the table says so: survival
    # of a profiler that never ran proves little.
    noprof = sum(1 for c in cells if not c.bad and c.profiles == 0)

    print()
    cols = ["%d/%s" % (r, m) for r in rates for m in modes]
    print("%-11s %-14s " % ("host", "types") +
          " ".join("%-13s" % x for x in cols))
    index = {(c.host, c.types, c.rate, c.mode): c for c in cells}
    for h in hosts:
        for t in types:
            row = [index[(h, t, r, m)].label() for r in rates for m in modes]
            print("%-11s %-14s " % (h, t) +
                  " ".join("%-13s" % x for x in row))
    xfailed = 0
    for c in cells:
        if c.bad and c.host in XFAIL:
            xfailed += 1
        elif c.bad:
            failed += 1
            if c.first_error:
                status, out, rc, err = c.first_error
                print("\n%s %s %d Hz %s: %s, rc %s, stdout %r\nstderr: %s" % (
                    c.host, c.types, c.rate, c.mode, status, rc,
                    out.decode(errors="replace")[:200],
                    err.decode(errors="replace")[
                        -(16000 if status == "hang" else 800):]))
            else:
                print("\n%s %s %d Hz %s: no profile written in %d runs" % (
                    c.host, c.types, c.rate, c.mode, c.runs))
    for h in sorted(set(c.host for c in cells if c.bad and c.host in XFAIL)):
        print("\nknown failure, not counted: %s: %s" % (h, XFAIL[h]))
    total = len(jobs)
    print("\n%d cells (%d runs, racy hosts x%d) in %.0f s: %d failed, "
          "%d known failures, %d survived without a profile (ok*)" % (
              len(cells), total, args.repeat, time.monotonic() - t_start,
              failed, xfailed, noprof))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
