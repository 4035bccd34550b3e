"""Pyroscope continuous profiler for Python, on top of the pyroscope C core.

Drop-in for the call surface of the ``pyroscope-io`` package::

    import pyroscope
    pyroscope.configure(application_name="my.app",
                        server_address="http://localhost:4040",
                        tags={"region": "eu"})
    with pyroscope.tag_wrapper({"endpoint": "/checkout"}):
        handle()

Samples are taken by the core's per-thread CPU timers (100 Hz by default);
the Python stack of the sampled thread is read inside the signal handler (see
``_frames.c`` for why that is safe).  Tags from :func:`tag_wrapper` are kept in
a :class:`contextvars.ContextVar`, so they follow threads *and* asyncio tasks.
"""

import atexit
import contextvars
import enum
import logging
import os
import sys
import threading
import time
import warnings

from . import _native

__all__ = [
    "configure",
    "shutdown",
    "stop",
    "flush",
    "tag_wrapper",
    "add_thread_tag",
    "remove_thread_tag",
    "is_running",
    "LineNo",
    "ProfilerImplementation",
    "change_name",
    "tag",
    "remove_tags",
    "build_summary",
    "test_logger",
    "runtime_name",
    "runtime_version",
    "configure_experimental_stack_profiler",
]

__version__ = "0.1.0"

_lock = threading.RLock()
_config = None  # dict of the options of the running profiler

# Tags of the current context (thread or asyncio task): None, or a node
# (merged tags as a tuple of (k, v), parent node) - a stack that lives in the
# context itself, so one tag_wrapper object can be shared by threads/tasks.
_ctx_tags = contextvars.ContextVar("pyroscope_tags", default=None)


def _tags_of(node):
    return node[0] if node is not None else ()


class _ThreadState(threading.local):
    def __init__(self):
        self.thread_tags = {}  # from add_thread_tag
        self.applied_ctx = None  # the context node last pushed on this thread
        self.applied = None  # the merged tuple last pushed on this thread


_tls = _ThreadState()


# --------------------------------------------------------------------------
# argument checking


def _check_bool(name, v):
    if isinstance(v, bool) or (isinstance(v, int) and v in (0, 1)):
        return bool(v)
    raise TypeError("%s must be a bool, not %s" % (name, type(v).__name__))


def _check_str(name, v, allow_none=True):
    if v is None and allow_none:
        return None
    if not isinstance(v, str):
        raise TypeError("%s must be a str, not %s" % (name, type(v).__name__))
    if "\x00" in v:
        raise ValueError("%s must not contain NUL characters" % name)
    return v


def _check_mapping(name, d, check_tags):
    if d is None:
        return ()
    if not isinstance(d, dict):
        raise TypeError("%s must be a dict of str to str, not %s"
                        % (name, type(d).__name__))
    out = []
    for k, v in d.items():
        if not isinstance(k, str):
            raise TypeError("%s keys must be str, got %r" % (name, k))
        if not isinstance(v, str):
            raise TypeError("%s[%r] must be a str, not %s"
                            % (name, k, type(v).__name__))
        if check_tags:
            _native.tag_check(k, v)  # ValueError with the core's detail
        elif not k or any(c in k for c in ":\r\n\x00") or any(
                c in v for c in "\r\n\x00"):
            raise ValueError("invalid HTTP header %r" % k)
        out.append((k, v))
    return tuple(out)


_FORK_MODES = {"continue": _native.FORK_CONTINUE, "stop": _native.FORK_STOP}
_APIS = {"push": _native.API_PUSH, "ingest": _native.API_INGEST}


class LineNo(enum.IntEnum):
    """Which line a frame reports (pyroscope-io's ``LineNo``)."""
    LastInstruction = 0  # the line being executed (default)
    First = 1  # the function's first line
    NoLine = 2  # no line numbers: one location per function


class ProfilerImplementation(enum.IntEnum):
    """pyroscope-io's CPU profiler choice.  Both values select this
    package's in-process sampler (per-thread CPU timers, see README)."""
    PySpy = 0
    Stack = 1


_LOG = logging.getLogger("pyroscope")
# Options of pyroscope-io 1.4 that are accepted only for compatibility.
_RUNTIME_LABELS = ("otel.scope.name", "otel.scope.version",
                   "process.runtime.name", "process.runtime.version")
SCOPE_NAME = "pyroscope-c/python"


def _core_log_level(enable_logging):
    if not enable_logging:
        return _native.LOG_WARN  # warnings and errors always show
    lvl = _LOG.getEffectiveLevel()
    if lvl <= logging.DEBUG:
        return _native.LOG_DEBUG
    if lvl <= logging.INFO:
        return _native.LOG_INFO
    return _native.LOG_WARN if lvl <= logging.WARNING else _native.LOG_ERROR


def configure(app_name=None, application_name=None,
              server_address="http://localhost:4040", basic_auth_username="",
              basic_auth_password="", enable_logging=False, sample_rate=100,
              oncpu=True, native=None, gil_only=True, report_pid=False,
              report_thread_id=False, report_thread_name=False, tags=None,
              tenant_id="", http_headers=None,
              line_no=LineNo.LastInstruction, upload_interval=10,
              mem_enabled=False, mem_max_nframe=128,
              mem_heap_sample_size=512 * 1024, mem_enable_mem_domain=True,
              cpu_enabled=True,
              cpu_implementation=ProfilerImplementation.PySpy, *,
              detect_subprocesses=False, auth_token="", fork="continue",
              api="push", qualified_names=False, **future):
    """Start profiling this process.

    Positional order, names and defaults are those of ``pyroscope-io`` 1.4.
    Keyword-only extras: ``detect_subprocesses`` (accepted, see ``fork``),
    ``auth_token`` (Bearer), ``fork`` (``"continue"``: forked children keep
    profiling with their own ``pid``; ``"stop"``: children run unprofiled),
    ``api`` (``"push"`` as pyroscope-io, or ``"ingest"``) and
    ``qualified_names`` (``module.Class.method`` instead of the bare
    function name pyroscope-io reports).  Unknown keyword arguments (options
    of a newer pyroscope-io) are ignored with a RuntimeWarning.

    Raises TypeError for arguments of the wrong type and ValueError for
    invalid values.  Calling it again replaces the running profiler.
    Returns True.
    """
    for k in future:
        warnings.warn("pyroscope.configure: unknown option %r ignored" % k,
                      RuntimeWarning, stacklevel=2)
    if app_name is not None:
        warnings.warn("app_name is deprecated, use application_name",
                      DeprecationWarning, stacklevel=2)
        application_name = app_name
    if application_name is None:
        application_name = os.environ.get("PYROSCOPE_APPLICATION_NAME")
        if not application_name:
            raise ValueError("application_name is required")
    _check_str("application_name", application_name, allow_none=False)
    if not application_name.strip():
        raise ValueError("application_name must not be empty")
    _check_str("server_address", server_address, allow_none=False)
    if not server_address.startswith(("http://", "https://", "file://")):
        raise ValueError("server_address must start with http://, https:// "
                         "or file://, got %r" % server_address)
    sample_rate = _check_int("sample_rate", sample_rate, 1, 10000)
    if isinstance(upload_interval, bool) or not isinstance(
            upload_interval, (int, float)):
        raise TypeError("upload_interval must be a number of seconds")
    if not 0.1 <= upload_interval <= 3600:
        raise ValueError("upload_interval must be between 0.1 and 3600 s")
    if fork not in _FORK_MODES:
        raise ValueError("fork must be 'continue' or 'stop', got %r" % (fork,))
    if api not in _APIS:
        raise ValueError("api must be 'push' or 'ingest', got %r" % (api,))
    try:
        line_no = LineNo(line_no)
        cpu_implementation = ProfilerImplementation(cpu_implementation)
    except ValueError as e:
        raise ValueError("pyroscope.configure: %s" % e) from None
    mem_max_nframe = _check_int("mem_max_nframe", mem_max_nframe, 1, 256)
    mem_heap_sample_size = _check_int("mem_heap_sample_size",
                                      mem_heap_sample_size, 1, 1 << 40)
    if native is not None:
        native = _check_bool("native", native)
    for n in ("basic_auth_username", "basic_auth_password", "tenant_id",
              "auth_token"):
        _check_str(n, locals()[n])
    flags = {}
    for n in ("oncpu", "gil_only", "report_pid", "report_thread_id",
              "report_thread_name", "enable_logging", "detect_subprocesses",
              "mem_enabled", "mem_enable_mem_domain", "cpu_enabled",
              "qualified_names"):
        flags[n] = _check_bool(n, locals()[n])
    flags["native"] = bool(native)
    tag_pairs = _check_mapping("tags", tags, True)
    hdr_pairs = _check_mapping("http_headers", http_headers, False)
    tag_pairs = tuple(p for p in tag_pairs if p[0] not in _RUNTIME_LABELS) + (
        ("otel.scope.name", SCOPE_NAME),
        ("otel.scope.version", __version__),
        ("process.runtime.name", runtime_name()),
        ("process.runtime.version", runtime_version()))
    if flags["report_pid"]:
        tag_pairs = tuple(p for p in tag_pairs if p[0] != "pid") + (
            ("pid", str(os.getpid())),)
    wall = flags["cpu_enabled"] and not flags["oncpu"]
    # Windows are closed by our reporter thread when it must add samples
    # (memory in-use totals, wall samples) at the window's end.
    own_windows = flags["mem_enabled"]
    types = (_native.PROFILE_CPU if flags["cpu_enabled"] and not wall
             else _native.PROFILE_CPU_EXTERNAL)

    with _lock:
        if _config is not None:
            shutdown()
        roots = sorted({os.path.abspath(p) for p in sys.path
                        if isinstance(p, str) and p}, key=len, reverse=True)
        _native.set_naming(flags["qualified_names"], int(line_no))
        _native.start(
            application_name=application_name,
            server_address=server_address,
            sample_rate=sample_rate,
            upload_interval_ms=(86400000 if own_windows
                                else int(upload_interval * 1000)),
            tags=tag_pairs,
            auth_token=auth_token or None,
            basic_auth_user=basic_auth_username or None,
            basic_auth_password=basic_auth_password or None,
            tenant_id=tenant_id or None,
            http_headers=hdr_pairs,
            log_level=_core_log_level(flags["enable_logging"]),
            gil_only=flags["gil_only"],
            native=flags["native"],
            fork_mode=_FORK_MODES[fork],
            roots=roots,
            api=_APIS[api],
            profile_types=types,
            spy_name="pyspy",
        )
        globals()["_config"] = dict(flags, application_name=application_name,
                                    fork=fork, wall=wall, api=api,
                                    server_address=server_address,
                                    own_windows=own_windows,
                                    sample_rate=sample_rate,
                                    upload_interval=float(upload_interval))
        if flags["mem_enabled"]:
            _native.mem_start(mem_heap_sample_size, mem_max_nframe,
                              flags["mem_enable_mem_domain"])
        _install_hooks()
        _tls.applied = None  # re-apply thread tags (ids may carry new tags)
        _sync()
        _start_threads(_config)
    return True


def _check_int(name, v, lo, hi):
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError("%s must be an int, not %s" % (name, type(v).__name__))
    if not lo <= v <= hi:
        raise ValueError("%s must be between %d and %d, got %d"
                         % (name, lo, hi, v))
    return v


class _Reporter(threading.Thread):
    """Window closer for mem_enabled: at each upload interval, hand the
    sampled allocations and the live totals to the core, then close the
    window, so that every window carries the in-use set at its end."""

    current = None

    def __init__(self, cfg):
        super().__init__(name="pyroscope-reporter", daemon=True)
        self.cfg = cfg
        self.stop_ev = threading.Event()

    @classmethod
    def start_new(cls):
        r = cls(_config)
        cls.current = r
        r.start()
        return r

    @classmethod
    def stop_current(cls):
        r, cls.current = cls.current, None
        if r is not None and r is not threading.current_thread():
            r.stop_ev.set()
            r.join(5)

    def run(self):
        interval = self.cfg["upload_interval"]
        while not self.stop_ev.wait(interval):
            try:
                _native.mem_report()
                _native.flush(0)
            except Exception:  # the profiler stopped under us
                return


def _start_threads(cfg):
    exclude = 0
    if cfg["own_windows"]:
        exclude = _Reporter.start_new().ident
    if cfg["wall"]:
        _native.wall_start(cfg["sample_rate"], exclude)


def shutdown():
    """Stop profiling and upload what was collected (blocks up to ~5 s).
    Returns True if a profiler was running."""
    with _lock:
        cfg = _config
        _Reporter.stop_current()
        if cfg is not None and cfg["mem_enabled"]:
            _native.mem_stop()
            _native.mem_report()
        globals()["_config"] = None
        if _thread_hook_installed[0]:
            threading.setprofile(None)
            _thread_hook_installed[0] = False
        return _native.stop()


def stop():
    """Deprecated in pyroscope-io (a no-op there); use shutdown()."""
    warnings.warn("deprecated, no longer applicable", DeprecationWarning,
                  stacklevel=2)


def _deprecated(name, msg="deprecated, no longer applicable"):
    def f(*args, **kwargs):
        warnings.warn(msg, DeprecationWarning, stacklevel=2)
    f.__name__ = name
    f.__doc__ = "Deprecated no-op, kept from pyroscope-io."
    return f


change_name = _deprecated("change_name")
tag = _deprecated("tag", "deprecated, use tag_wrapper function")
remove_tags = _deprecated("remove_tags")
build_summary = _deprecated("build_summary")
test_logger = _deprecated("test_logger")


def runtime_name():
    return sys.implementation.name


def runtime_version():
    vinfo = sys.implementation.version
    if vinfo.releaselevel == "final" and not vinfo.serial:
        vinfo = vinfo[:3]
    return ".".join(map(str, vinfo))


def configure_experimental_stack_profiler(*args, **kwargs):
    """pyroscope-io's options for its experimental stack profiler.  This
    package's sampler already runs in process on per-thread CPU timers; the
    options are accepted and ignored.  Returns True."""
    return True


def flush(timeout=5.0):
    """Close the current profiling window and upload it now.

    Returns True when everything queued was delivered within ``timeout``
    seconds.  (Not in pyroscope-io; handy in tests and before os._exit.)
    """
    return _native.flush(int(timeout * 1000))


def is_running():
    return _native.running()


# --------------------------------------------------------------------------
# tags


def _merged(ctx):
    cfg = _config
    base = {}
    if cfg is not None:
        if cfg["report_thread_id"]:
            base["thread_id"] = str(threading.get_ident())
        if cfg["report_thread_name"]:
            base["thread_name"] = _sanitize(threading.current_thread().name)
    th = _tls.thread_tags
    if th:
        base.update(th)
    if ctx:
        base.update(ctx)
    return tuple(base.items())


def _sanitize(v):
    return "".join("_" if (c in "{},=" or ord(c) < 32) else c for c in v)


_UNSET = object()


def _sync(node=_UNSET):
    """Make the core's scope on this thread equal the logical tag set."""
    if node is _UNSET:
        node = _ctx_tags.get()
    st = _tls
    merged = _merged(_tags_of(node))
    st.applied_ctx = node
    if merged != st.applied:
        _native.set_thread_tags(merged)
        st.applied = merged



class tag_wrapper:
    """Context manager: samples taken inside carry ``tags``.

    Scoped per thread and per asyncio task (the tags live in a ContextVar).
    Nested wrappers merge, the inner value wins on the same key.  Also usable
    as ``async with`` and as a decorator (sync or async functions); one
    instance may be shared by many threads and tasks.
    """

    __slots__ = ("_tags",)

    def __init__(self, tags):
        if not isinstance(tags, dict):
            raise TypeError("tag_wrapper expects a dict of str to str, not %s"
                            % type(tags).__name__)
        self._tags = dict(_check_mapping("tags", tags, True))

    def __enter__(self):
        cur = _ctx_tags.get()
        new = dict(_tags_of(cur))
        new.update(self._tags)
        node = (tuple(new.items()), cur)
        _ctx_tags.set(node)
        if not _asyncio_patched[0] and "asyncio.events" in sys.modules:
            _patch_asyncio()
        _sync(node)
        return self

    def __exit__(self, *exc):
        cur = _ctx_tags.get()
        _ctx_tags.set(cur[1] if cur is not None else None)
        _sync()
        return False

    async def __aenter__(self):
        return self.__enter__()

    async def __aexit__(self, *exc):
        return self.__exit__(*exc)

    def __call__(self, fn):
        import functools
        import inspect
        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def awrapper(*a, **k):
                with self:
                    return await fn(*a, **k)
            return awrapper

        @functools.wraps(fn)
        def wrapper(*a, **k):
            with self:
                return fn(*a, **k)
        return wrapper


def _thread_args(fname, args):
    """(key, value) from add/remove_thread_tag's (key, value) or the older
    (thread_id, key, value) form; the id must be the calling thread's."""
    if len(args) == 3:
        thread_id, key, value = args
        if isinstance(thread_id, bool) or not isinstance(thread_id, int):
            raise TypeError("thread_id must be an int (threading.get_ident())")
        if thread_id != threading.get_ident():
            raise ValueError(
                "tags can only be set for the calling thread: call %s(key, "
                "value) from the thread itself" % fname)
    elif len(args) == 2:
        key, value = args
    else:
        raise TypeError("%s(key, value) takes 2 arguments (or the old "
                        "thread_id, key, value), got %d" % (fname, len(args)))
    return key, value


def add_thread_tag(*args):
    """add_thread_tag(key, value): tag every later sample of the calling
    thread with key=value (pyroscope-io 1.x).  The older 3-argument form
    add_thread_tag(thread_id, key, value) is accepted for the calling
    thread's id."""
    key, value = _thread_args("add_thread_tag", args)
    _check_str("key", key, allow_none=False)
    _check_str("value", value, allow_none=False)
    _native.tag_check(key, value)
    _tls.thread_tags[key] = value
    _sync()


def remove_thread_tag(*args):
    """remove_thread_tag(key, value): remove a tag set with add_thread_tag
    on the calling thread (only if its value is still `value`; None removes
    whatever value it has)."""
    if len(args) == 1:
        args = (args[0], None)
    key, value = _thread_args("remove_thread_tag", args)
    _check_str("key", key, allow_none=False)
    th = _tls.thread_tags
    if key in th and (value is None or th[key] == value):
        del th[key]
        _sync()


# --------------------------------------------------------------------------
# asyncio: the event loop runs every task step through Handle._run; switch
# the thread's tags to those of the step's context for its duration.

_asyncio_patched = [False]


def _patch_asyncio():
    with _lock:
        if _asyncio_patched[0]:
            return
        from asyncio import events
        orig = events.Handle._run
        get_ctx_tags = _ctx_tags.get

        def _run(self):
            ctx = self._context
            want = ctx.get(_ctx_tags) if ctx is not None else None
            st = _tls
            if want is not st.applied_ctx:
                _sync(want)
            try:
                return orig(self)
            finally:
                base = get_ctx_tags()
                if base is not _tls.applied_ctx:
                    _sync(base)

        _run.__wrapped__ = orig
        events.Handle._run = _run
        _asyncio_patched[0] = True


# --------------------------------------------------------------------------
# process hooks

_hooks_installed = [False]
_thread_hook_installed = [False]


def _thread_start_hook(frame, event, arg):
    # Runs once at the start of each new threading.Thread: apply the
    # per-thread tags (thread_id / thread_name), then get out of the way.
    sys.setprofile(None)
    try:
        _sync()
    except Exception:
        pass


def _install_hooks():
    cfg = _config
    if cfg["report_thread_id"] or cfg["report_thread_name"]:
        threading.setprofile(_thread_start_hook)
        _thread_hook_installed[0] = True
    if _hooks_installed[0]:
        return
    _hooks_installed[0] = True
    atexit.register(_atexit)
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_after_fork_child)


def _atexit():
    if _config is not None:
        shutdown()


def _after_fork_child():
    cfg = _config
    if cfg is None:
        return
    if not _native.after_fork_child():
        # fork="stop": the core turned itself off in the child.
        globals()["_config"] = None
        return
    if cfg["report_pid"]:
        try:
            _native.tag_set("pid", str(os.getpid()))
        except Exception:
            pass
    _tls.applied = None
    try:
        _sync()
    except Exception:
        pass
    _start_threads(cfg)  # threads do not survive fork
    # multiprocessing children leave through os._exit(), skipping atexit.
    # Process._bootstrap clears the finalizers inherited from the parent,
    # then runs the after-fork callbacks: register one that adds ours.
    mp = sys.modules.get("multiprocessing.util")
    if mp is not None:
        try:
            mp.register_after_fork(_MP_ANCHOR, _mp_child_started)
        except Exception:
            pass


class _Anchor:
    pass


_MP_ANCHOR = _Anchor()  # weak-referenced by multiprocessing's registry


def _mp_child_started(_anchor):
    import multiprocessing.util as mp
    mp.Finalize(None, _child_exit_flush, exitpriority=10)


def _child_exit_flush():
    if _config is not None:
        shutdown()
