"""Build the pyroscope C core with CMake, then the CPython extension on it.

The core comes from the same repository (../.. from this file) or from
PYROSCOPE_CORE_DIR.  It is built as a static, position-independent library
and linked into pyroscope._native, so the wheel needs only the system
libraries the core links (libunwind, libprotobuf-c, zlib, zstd; https loads
the system's libssl at run time, so OpenSSL is not linked).

Knobs (environment): PYROSCOPE_CORE_DIR, PYROSCOPE_CORE_LIB (use a prebuilt
libpyroscope.a and skip CMake), CMAKE (the cmake binary), PYROSCOPE_JOBS.
"""
import glob
import os
import shutil
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.sdist import sdist

HERE = os.path.dirname(os.path.abspath(__file__))
PKG_DEPS = ["libunwind", "libprotobuf-c", "zlib", "libzstd"]
FALLBACK_LIBS = ["unwind", "protobuf-c", "z", "zstd"]


def core_dir():
    cands = [os.environ.get("PYROSCOPE_CORE_DIR"),
             os.path.join(HERE, "core"),  # the copy an sdist carries
             os.path.join(HERE, "..", "..")]
    for c in cands:
        if c and os.path.isfile(os.path.join(c, "include", "pyroscope.h")) \
                and os.path.isfile(os.path.join(c, "CMakeLists.txt")):
            return os.path.abspath(c)
    sys.exit("pyroscope: C core not found (looked in ../.. and "
             "PYROSCOPE_CORE_DIR); build from a checkout of the repository")


def dep_link_args():
    pc = shutil.which("pkg-config")
    if pc:
        try:
            out = subprocess.check_output([pc, "--libs"] + PKG_DEPS, text=True)
            return out.split() + ["-lpthread", "-lm", "-ldl"]
        except (OSError, subprocess.CalledProcessError):
            pass
    return ["-l" + l for l in FALLBACK_LIBS] + ["-lpthread", "-lm", "-ldl"]


# What of the repository the core's CMake build needs; an sdist carries it
# under core/ so that it builds anywhere with a compiler.
CORE_PARTS = ["CMakeLists.txt", "cmake", "include", "proto", "src"]


class SdistWithCore(sdist):
    def make_release_tree(self, base_dir, files):
        super().make_release_tree(base_dir, files)
        core = core_dir()
        dest = os.path.join(base_dir, "core")
        if os.path.abspath(core) == os.path.abspath(dest):
            return
        for part in CORE_PARTS:
            src = os.path.join(core, part)
            if os.path.isdir(src):
                shutil.copytree(src, os.path.join(dest, part),
                                ignore=shutil.ignore_patterns("__pycache__"))
            else:
                os.makedirs(dest, exist_ok=True)
                shutil.copy2(src, os.path.join(dest, part))


class BuildCoreThenExt(build_ext):
    def run(self):
        core = core_dir()
        lib = os.environ.get("PYROSCOPE_CORE_LIB")
        if not lib:
            lib = self.build_core(core)
        for ext in self.extensions:
            ext.include_dirs.append(os.path.join(core, "include"))
            ext.extra_objects.append(lib)
            ext.depends.append(lib)  # relink when the core changes
            # Keep the core's symbols private to the extension.
            ext.extra_link_args += ["-Wl,--exclude-libs,ALL"] + dep_link_args()
        super().run()

    def build_core(self, core):
        cmake = os.environ.get("CMAKE") or shutil.which("cmake")
        if not cmake:
            sys.exit("pyroscope: cmake is required to build the C core "
                     "(apt-get install cmake, or pip install cmake)")
        bdir = os.path.abspath(os.path.join(self.build_temp, "pyroscope-core"))
        os.makedirs(bdir, exist_ok=True)
        subprocess.check_call([
            cmake, "-S", core, "-B", bdir,
            "-DCMAKE_BUILD_TYPE=RelWithDebInfo",
            "-DCMAKE_POSITION_INDEPENDENT_CODE=ON",
            "-DPYROSCOPE_BUILD_TESTS=OFF",
            "-DPYROSCOPE_BUILD_EXAMPLES=OFF",
            "-DPYROSCOPE_BUILD_BENCH=OFF",
        ])
        jobs = os.environ.get("PYROSCOPE_JOBS", "2")
        subprocess.check_call([cmake, "--build", bdir, "--target",
                               "pyroscope_static", "-j", jobs])
        libs = glob.glob(os.path.join(bdir, "**", "libpyroscope.a"),
                         recursive=True)
        if not libs:
            sys.exit("pyroscope: libpyroscope.a was not produced in " + bdir)
        return libs[0]


setup(
    ext_modules=[Extension(
        "pyroscope._native",
        sources=["src/pyroscope/_native.c", "src/pyroscope/_frames.c",
                 "src/pyroscope/_memory.c"],
        depends=["src/pyroscope/_frames.h", "src/pyroscope/_memory.h"],
        extra_compile_args=["-O2", "-fno-omit-frame-pointer", "-Wall",
                            "-Wno-missing-field-initializers"],
    )],
    cmdclass={"build_ext": BuildCoreThenExt, "sdist": SdistWithCore},
)
