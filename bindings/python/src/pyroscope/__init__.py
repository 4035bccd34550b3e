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
import os
import sys
import threading
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


def configure(*, application_name=None, server_address="http://localhost:4040",
              sample_rate=100, tags=None, basic_auth_username="",
              basic_auth_password="", tenant_id="", http_headers=None,
              oncpu=True, gil_only=True, report_pid=False,
              report_thread_id=False, report_thread_name=False,
              enable_logging=False, detect_subprocesses=False, native=False,
              auth_token="", app_name=None, upload_interval=10.0,
              fork="continue"):
    """Start profiling this process.

    The keyword arguments are those of the official ``pyroscope-io`` package.
    Extras: ``upload_interval`` (seconds, default 10) and ``fork``
    (``"continue"``: forked children keep profiling with their own ``pid``;
    ``"stop"``: children run unprofiled).

    Raises TypeError for arguments of the wrong type (or unknown keyword
    arguments) and ValueError for invalid values.  Calling it again replaces
    the running profiler.
    """
    if app_name is not None:
        if application_name is not None:
            raise TypeError("pass application_name or app_name, not both")
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
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int):
        raise TypeError("sample_rate must be an int, not %s"
                        % type(sample_rate).__name__)
    if not 1 <= sample_rate <= 10000:
        raise ValueError("sample_rate must be between 1 and 10000 Hz, got %d"
                         % sample_rate)
    if isinstance(upload_interval, bool) or not isinstance(
            upload_interval, (int, float)):
        raise TypeError("upload_interval must be a number of seconds")
    if not 0.1 <= upload_interval <= 3600:
        raise ValueError("upload_interval must be between 0.1 and 3600 s")
    if fork not in _FORK_MODES:
        raise ValueError("fork must be 'continue' or 'stop', got %r" % (fork,))
    for n in ("basic_auth_username", "basic_auth_password", "tenant_id",
              "auth_token"):
        _check_str(n, locals()[n])
    flags = {}
    for n in ("oncpu", "gil_only", "report_pid", "report_thread_id",
              "report_thread_name", "enable_logging", "detect_subprocesses",
              "native"):
        flags[n] = _check_bool(n, locals()[n])
    tag_pairs = _check_mapping("tags", tags, True)
    hdr_pairs = _check_mapping("http_headers", http_headers, False)
    if not flags["oncpu"]:
        warnings.warn("oncpu=False (wall-clock sampling) is not supported by "
                      "this profiler; sampling on-CPU time", RuntimeWarning,
                      stacklevel=2)
    if flags["report_pid"]:
        tag_pairs = tuple(p for p in tag_pairs if p[0] != "pid") + (
            ("pid", str(os.getpid())),)

    with _lock:
        if _config is not None:
            shutdown()
        roots = sorted({os.path.abspath(p) for p in sys.path
                        if isinstance(p, str) and p}, key=len, reverse=True)
        _native.start(
            application_name=application_name,
            server_address=server_address,
            sample_rate=sample_rate,
            upload_interval_ms=int(upload_interval * 1000),
            tags=tag_pairs,
            auth_token=auth_token or None,
            basic_auth_user=basic_auth_username or None,
            basic_auth_password=basic_auth_password or None,
            tenant_id=tenant_id or None,
            http_headers=hdr_pairs,
            log_level=(_native.LOG_INFO if flags["enable_logging"]
                       else _native.LOG_ERROR),
            gil_only=flags["gil_only"],
            native=flags["native"],
            fork_mode=_FORK_MODES[fork],
            roots=roots,
        )
        globals()["_config"] = dict(flags, application_name=application_name,
                                    fork=fork)
        _install_hooks()
        _tls.applied = None  # re-apply thread tags (ids may carry new tags)
        _sync()


def shutdown():
    """Stop profiling and upload what was collected (blocks up to ~5 s)."""
    with _lock:
        globals()["_config"] = None
        if _thread_hook_installed[0]:
            threading.setprofile(None)
            _thread_hook_installed[0] = False
        return _native.stop()


stop = shutdown


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


def _check_thread(thread_id):
    if isinstance(thread_id, bool) or not isinstance(thread_id, int):
        raise TypeError("thread_id must be an int (threading.get_ident())")
    if thread_id != threading.get_ident():
        raise ValueError(
            "tags can only be set for the calling thread: call "
            "add_thread_tag(threading.get_ident(), ...) from the thread itself")


def add_thread_tag(thread_id, key, value):
    """Tag every later sample of the calling thread with key=value."""
    _check_thread(thread_id)
    _check_str("key", key, allow_none=False)
    _check_str("value", value, allow_none=False)
    _native.tag_check(key, value)
    _tls.thread_tags[key] = value
    _sync()


def remove_thread_tag(thread_id, key, value=None):
    """Remove a tag set with add_thread_tag on the calling thread."""
    _check_thread(thread_id)
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
