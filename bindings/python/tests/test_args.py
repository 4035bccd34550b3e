import threading

import pytest

import pyroscope

GOOD = dict(application_name="py.args", server_address="file:///tmp")


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(GOOD, line_no=7), ValueError, "LineNo"),
    (dict(GOOD, cpu_implementation=9), ValueError, "ProfilerImplementation"),
    (dict(GOOD, mem_heap_sample_size=0), ValueError, "mem_heap_sample_size"),
    (dict(GOOD, mem_max_nframe="1"), TypeError, "mem_max_nframe"),
    (dict(GOOD, mem_enabled="yes"), TypeError, "mem_enabled"),
    (dict(GOOD, api="grpc"), ValueError, "api"),
    (dict(GOOD, sample_rate="100"), TypeError, "sample_rate"),
    (dict(GOOD, sample_rate=True), TypeError, "sample_rate"),
    (dict(GOOD, sample_rate=0), ValueError, "sample_rate"),
    (dict(GOOD, sample_rate=20000), ValueError, "sample_rate"),
    (dict(GOOD, application_name=42), TypeError, "application_name"),
    (dict(GOOD, application_name="  "), ValueError, "application_name"),
    (dict(GOOD, server_address="localhost:4040"), ValueError,
     "server_address"),
    (dict(GOOD, server_address=None), TypeError, "server_address"),
    (dict(GOOD, tags=["a"]), TypeError, "tags"),
    (dict(GOOD, tags={"a": 1}), TypeError, "tags"),
    (dict(GOOD, tags={1: "a"}), TypeError, "tags"),
    (dict(GOOD, tags={"bad key": "v"}), ValueError, "invalid tag"),
    (dict(GOOD, tags={"k": "a,b"}), ValueError, "invalid tag"),
    (dict(GOOD, http_headers={"X-A": 5}), TypeError, "http_headers"),
    (dict(GOOD, http_headers={"bad:name": "v"}), ValueError, "header"),
    (dict(GOOD, gil_only="yes"), TypeError, "gil_only"),
    (dict(GOOD, report_pid=None), TypeError, "report_pid"),
    (dict(GOOD, tenant_id=5), TypeError, "tenant_id"),
    (dict(GOOD, basic_auth_username=b"u"), TypeError, "basic_auth_username"),
    (dict(GOOD, upload_interval=0), ValueError, "upload_interval"),
    (dict(GOOD, fork="sometimes"), ValueError, "fork"),
])
def test_configure_rejects(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        pyroscope.configure(**kwargs)
    assert not pyroscope.is_running()


def test_configure_positional_like_pyroscope_io(tmp_path):
    # pyroscope-io's order: app_name, application_name, server_address, ...
    with pytest.warns(DeprecationWarning, match="app_name"):
        assert pyroscope.configure("py.args", None, "file://%s" % tmp_path)
    try:
        assert pyroscope.is_running()
    finally:
        pyroscope.shutdown()


def test_unknown_future_option_warns(tmp_path):
    with pytest.warns(RuntimeWarning, match="option 'some_future_flag'"):
        pyroscope.configure(application_name="py.args",
                            server_address="file://%s" % tmp_path,
                            some_future_flag=True)
    try:
        assert pyroscope.is_running()
    finally:
        pyroscope.shutdown()


def test_deprecated_noops_warn():
    for name, args in [("stop", ()), ("change_name", ("x",)),
                       ("tag", ({"a": "b"},)), ("remove_tags", ("a",)),
                       ("build_summary", ()), ("test_logger", ())]:
        with pytest.warns(DeprecationWarning):
            assert getattr(pyroscope, name)(*args) is None
    assert pyroscope.runtime_name() == "cpython"
    assert pyroscope.runtime_version().count(".") >= 2
    assert pyroscope.configure_experimental_stack_profiler(max_nframe=64)


def test_missing_application_name(monkeypatch):
    monkeypatch.delenv("PYROSCOPE_APPLICATION_NAME", raising=False)
    with pytest.raises(ValueError, match="application_name"):
        pyroscope.configure(server_address="file:///tmp")


@pytest.mark.parametrize("tags, exc", [
    (None, TypeError), ("a=b", TypeError), ({"k": 3}, TypeError),
    ({"": "v"}, ValueError), ({"a b": "v"}, ValueError),
    ({"k": "{x}"}, ValueError), ({"k": "v\n"}, ValueError),
])
def test_tag_wrapper_rejects(tags, exc):
    with pytest.raises(exc):
        with pyroscope.tag_wrapper(tags):
            pass


def test_thread_tag_errors():
    me = threading.get_ident()
    with pytest.raises(TypeError):
        pyroscope.add_thread_tag("me", "k", "v")
    with pytest.raises(ValueError, match="calling thread"):
        pyroscope.add_thread_tag(me + 1, "k", "v")
    with pytest.raises(ValueError):
        pyroscope.add_thread_tag(me, "bad key", "v")
    with pytest.raises(TypeError):
        pyroscope.add_thread_tag(me, "k", 5)
    pyroscope.add_thread_tag(me, "k", "v")
    pyroscope.remove_thread_tag(me, "k", "v")
    pyroscope.remove_thread_tag(me, "absent", "v")  # no error


def test_tag_wrapper_works_without_profiler():
    assert not pyroscope.is_running()
    with pyroscope.tag_wrapper({"a": "b"}):
        with pyroscope.tag_wrapper({"c": "d"}):
            pass


def test_configure_and_shutdown_roundtrip(tmp_path):
    pyroscope.configure(application_name="py.args",
                        server_address="file://%s" % tmp_path,
                        report_pid=True, report_thread_id=True,
                        report_thread_name=True, enable_logging=False,
                        detect_subprocesses=True, oncpu=True, gil_only=False,
                        tenant_id="t1", basic_auth_username="u",
                        basic_auth_password="p",
                        http_headers={"X-Extra": "1"}, tags={"a": "b"})
    try:
        assert pyroscope.is_running()
        # configure again replaces the running profiler
        pyroscope.configure(application_name="py.args2",
                            server_address="file://%s" % tmp_path)
        assert pyroscope.is_running()
    finally:
        assert pyroscope.shutdown()
    assert not pyroscope.is_running()
    assert not pyroscope.shutdown()  # second shutdown is a no-op
