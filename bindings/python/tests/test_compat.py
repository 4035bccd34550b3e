"""Drop-in checks against the real pyroscope-io 1.4 (from PyPI).

PYROSCOPE_OFFICIAL_SRC: the unpacked pyroscope-io wheel (ci.sh downloads
it); PYROSCOPE_OFFICIAL_PYTHON: an interpreter with pyroscope-io installed
(in its own venv).  Without them these tests skip, unless
PYROSCOPE_REQUIRE_OFFICIAL=1 (ci.sh sets it), then they fail."""
import ast
import inspect
import json
import os
import subprocess

import pytest

import pyroscope
import pyroscope.otel
from conftest import HERE, IngestServer

SRC = os.environ.get("PYROSCOPE_OFFICIAL_SRC")
PY = os.environ.get("PYROSCOPE_OFFICIAL_PYTHON")


def need(v, what):
    if v:
        return v
    if os.environ.get("PYROSCOPE_REQUIRE_OFFICIAL") == "1":
        pytest.fail("%s is not set" % what)
    pytest.skip("%s is not set" % what)


def official_functions(relpath):
    """{name: [(arg, default source or None, kind)]} of a module's public
    top-level functions, read from the official source."""
    tree = ast.parse(open(os.path.join(need(SRC, "PYROSCOPE_OFFICIAL_SRC"),
                                       relpath)).read())
    out = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
            a = node.args
            pos = a.posonlyargs + a.args
            defs = [None] * (len(pos) - len(a.defaults)) + a.defaults
            out[node.name] = [(p.arg, d and ast.unparse(d), "pos")
                              for p, d in zip(pos, defs)]
            out[node.name] += [(p.arg, d and ast.unparse(d), "kw")
                               for p, d in zip(a.kwonlyargs, a.kw_defaults)]
            if a.vararg:
                out[node.name].append((a.vararg.arg, None, "var"))
    return out


def test_every_official_function_and_argument_exists():
    ns = {"LineNo": pyroscope.LineNo,
          "ProfilerImplementation": pyroscope.ProfilerImplementation}
    funcs = official_functions("pyroscope/__init__.py")
    assert "configure" in funcs and "add_thread_tag" in funcs
    for name, args in funcs.items():
        ours = getattr(pyroscope, name, None)
        assert callable(ours), "missing pyroscope.%s" % name
        sig = inspect.signature(ours)
        params = list(sig.parameters.values())
        var = any(p.kind == p.VAR_POSITIONAL for p in params)
        if var:  # add/remove_thread_tag(*args), configure_experimental_...
            continue
        pos = [p for p in params
               if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        for i, (arg, default, kind) in enumerate(args):
            if kind == "pos":  # same position, same name
                assert i < len(pos) and pos[i].name == arg, (name, i, arg)
            p = sig.parameters.get(arg)
            assert p is not None, "%s() lacks %r" % (name, arg)
            if default is not None:
                want = eval(default, ns)
                assert p.default == want, (name, arg, p.default, want)


def test_thread_tag_functions_take_key_value():
    for name in ("add_thread_tag", "remove_thread_tag"):
        args = official_functions("pyroscope/__init__.py")[name]
        assert [a[0] for a in args] == ["key", "value"]
    pyroscope.add_thread_tag("k", "v")  # no profiler needed
    pyroscope.remove_thread_tag("k", "v")


def test_enums_match_official():
    py = need(PY, "PYROSCOPE_OFFICIAL_PYTHON")
    out = subprocess.check_output([py, "-c", """if 1:
        import json, pyroscope
        print(json.dumps({E.__name__: {n: int(getattr(E, n)) for n in dir(E)
                          if not n.startswith('_')}
                          for E in (pyroscope.LineNo,
                                    pyroscope.ProfilerImplementation)}))"""],
        text=True, cwd="/")
    official = json.loads(out)
    for ename, members in official.items():
        ours = getattr(pyroscope, ename)
        assert {m.name: int(m) for m in ours} == members, ename


def test_otel_module_matches_official():
    src = open(os.path.join(need(SRC, "PYROSCOPE_OFFICIAL_SRC"), "..",
                            "otel", "pyroscope", "otel",
                            "__init__.py")).read()
    tree = ast.parse(src)
    for node in tree.body:
        if isinstance(node, ast.Assign):
            name = node.targets[0].id
            assert getattr(pyroscope.otel, name) == ast.literal_eval(
                node.value), name
        elif isinstance(node, ast.ClassDef):
            cls = getattr(pyroscope.otel, node.name)
            for m in node.body:
                if isinstance(m, ast.FunctionDef):
                    assert callable(getattr(cls, m.name)), (node.name, m.name)


def capture(python, env_extra=None):
    srv = IngestServer()
    try:
        env = dict(os.environ, PYTHONPATH=HERE, **(env_extra or {}))
        subprocess.run([python, os.path.join(HERE, "workloads", "labels.py"),
                        srv.address], check=True, timeout=180, env=env,
                       cwd="/")
        return list(srv.uploads)
    finally:
        srv.close()


def test_series_labels_and_names_match_official():
    import sys
    py = need(PY, "PYROSCOPE_OFFICIAL_PYTHON")
    theirs, ours = capture(py), capture(sys.executable)

    def series(ups):
        return {u.labels["__name__"]: u.labels for u in ups}
    t, o = series(theirs), series(ours)
    print("official:", t)
    print("ours:", o)
    assert set(t) == set(o) == {"process_cpu", "memory"}
    for name in t:
        assert set(t[name]) == set(o[name]), name  # the same label names
        for k, v in t[name].items():
            if k in ("otel.scope.name", "otel.scope.version"):
                continue  # ours names this SDK (README: differences)
            assert o[name][k] == v, (name, k, o[name][k], v)
    assert o["process_cpu"]["otel.scope.name"] == pyroscope.SCOPE_NAME
    # the same function names, and the thread tag as a sample label
    for ups in (theirs, ours):
        cpu = [s for u in ups if u.type == "process_cpu"
               for s in u.profile.samples if "find_nearest_vehicle" in
               s.functions]
        assert cpu, "no CPU sample in find_nearest_vehicle"
        assert all(s.labels.get("vehicle") == "car" for s in cpu)
        assert "<module>" in cpu[0].functions
        mem = [s for u in ups if u.type == "memory"
               for s in u.profile.samples
               if "find_nearest_vehicle" in s.functions]
        assert mem, "no memory sample in find_nearest_vehicle"
    # memory sample types are identical
    for ups in (theirs, ours):
        m = next(u for u in ups if u.type == "memory")
        assert m.profile.sample_types == [
            ("alloc_objects", "count"), ("alloc_space", "bytes"),
            ("inuse_objects", "count"), ("inuse_space", "bytes")]
