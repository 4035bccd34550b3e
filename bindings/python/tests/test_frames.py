"""The frame walker itself, outside any signal handler, on this CPython."""
import pyroscope  # noqa: F401
from pyroscope import _native


class Outer:
    def method(self):
        return inner()


def inner():
    return _native.debug_stack()


def gen():
    yield _native.debug_stack()


def test_stack_names_files_lines():
    assert _native.SAFE_READS == 1
    st = Outer().method()
    names = [f[0] for f in st]
    assert names[0].endswith("inner"), names
    assert names[1].endswith("method"), names  # qualname Outer.method on 3.11+
    assert names[2].endswith("test_stack_names_files_lines"), names
    fn, file, line = st[0]
    assert file == __file__
    assert line == 12
    assert st[1][2] == 8
    assert names[0] == "inner"  # bare names by default, as pyroscope-io
    _native.set_naming(True, 0)
    try:
        st = Outer().method()
    finally:
        _native.set_naming(False, 0)
    assert st[0][0].startswith("test_frames.") and \
        st[0][0].endswith("inner"), st[0]
    import sys
    if sys.version_info >= (3, 11):
        assert st[1][0] == "test_frames.Outer.method", st[1]


def test_line_modes():
    for mode, want in ((1, 11), (2, 0)):  # LineNo.First, LineNo.NoLine
        _native.set_naming(False, mode)
        try:
            st = Outer().method()
        finally:
            _native.set_naming(False, 0)
        assert st[0][0] == "inner" and st[0][2] == want, (mode, st[0])


def test_generator_and_lambda_frames():
    st = next(gen())
    assert st[0][0].endswith("gen")
    st = (lambda: _native.debug_stack())()
    assert st[0][0].endswith("<lambda>")


def test_dynamic_code():
    ns = {}
    exec(compile("def dyn():\n    return ds()\n", "<dyn>", "exec"),
         {"ds": _native.debug_stack}, ns)
    st = ns["dyn"]()
    assert st[0] == ("dyn", "<dyn>", 2)


def test_fault_guard_reads():
    import ctypes
    x = ctypes.c_long(0x1234)
    assert _native.debug_probe(ctypes.addressof(x)) is True
    assert _native.debug_probe(8192) is False          # unmapped, aligned
    assert _native.debug_probe(1 << 46) is False       # far beyond the heap
    assert _native.read_mode() == "guarded"
