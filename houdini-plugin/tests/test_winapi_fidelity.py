"""The fake ``_winapi`` follows the real module: names and signatures from typeshed.

typeshed's ``_winapi.pyi`` (through the ``typeshed_client`` package, which ships
typeshed's stubs) is read with ``ast`` for Windows and Python 3.11 (the Python of
current Houdini builds): every ``_winapi`` function the transport calls must exist
there, and every function and ``Overlapped`` member of the fake must have the same
parameter names and kinds as one of the stub's signatures (overloads included).
"""

from __future__ import annotations

import ast
import inspect
import os
import re

import pytest

import fake_winapi
from synapse_houdini import transport_pipe

typeshed_client = pytest.importorskip("typeshed_client", reason="typeshed_client (tests/requirements.txt) is not installed")

TARGET = (3, 11)


def _true(test: ast.expr) -> bool:
    """Evaluate a stub's `if` for Windows and Python 3.11."""
    src = ast.unparse(test)
    m = re.fullmatch(r"sys\.version_info >= \((\d+), (\d+)\)", src)
    if m:
        return TARGET >= (int(m[1]), int(m[2]))
    m = re.fullmatch(r"sys\.version_info < \((\d+), (\d+)\)", src)
    if m:
        return TARGET < (int(m[1]), int(m[2]))
    if src in ('sys.platform == "win32"', "sys.platform == 'win32'"):
        return True
    raise AssertionError(f"unknown stub condition {src}")


def _body(nodes):
    for node in nodes:
        if isinstance(node, ast.If):
            yield from _body(node.body if _true(node.test) else node.orelse)
        else:
            yield node


def _shape(fn: ast.FunctionDef) -> list[tuple[str, str]]:
    a = fn.args
    out = [(p.arg, "positional-only") for p in a.posonlyargs]
    out += [(p.arg, "positional-or-keyword") for p in a.args]
    out += [(p.arg, "keyword-only") for p in a.kwonlyargs]
    return [p for p in out if p[0] != "self"]


@pytest.fixture(scope="module")
def stub():
    path = os.path.join(os.path.dirname(typeshed_client.__file__), "typeshed", "_winapi.pyi")
    tree = ast.parse(open(path, encoding="utf-8").read())
    funcs: dict[str, list] = {}
    overlapped: dict[str, list] = {}
    attrs: set[str] = set()
    for node in _body(tree.body):
        if isinstance(node, ast.FunctionDef):
            funcs.setdefault(node.name, []).append(_shape(node))
        elif isinstance(node, ast.ClassDef) and node.name == "Overlapped":
            for member in _body(node.body):
                if isinstance(member, ast.FunctionDef):
                    overlapped.setdefault(member.name, []).append(_shape(member))
                elif isinstance(member, ast.AnnAssign):
                    attrs.add(member.target.id)
    return funcs, overlapped, attrs


def _fake_shape(fn) -> list[tuple[str, str]]:
    kinds = {
        inspect.Parameter.POSITIONAL_ONLY: "positional-only",
        inspect.Parameter.POSITIONAL_OR_KEYWORD: "positional-or-keyword",
        inspect.Parameter.KEYWORD_ONLY: "keyword-only",
    }
    return [(p.name, kinds[p.kind]) for p in inspect.signature(fn).parameters.values() if p.name != "self"]


def test_the_transport_calls_only_functions_of_the_311_module(stub):
    funcs, overlapped, attrs = stub
    source = inspect.getsource(transport_pipe)
    used = set(re.findall(r"\b(?:w|self\._w)\.([A-Z]\w+)\(", source))
    used |= set(re.findall(r'self\._start\("(\w+)"', source))  # ReadFile/WriteFile by name
    assert {"CreateFile", "WaitNamedPipe", "ReadFile", "WriteFile", "CloseHandle"} <= used
    for name in used:
        assert name in funcs, f"_winapi.{name} is not in CPython 3.11"
    for name in re.findall(r"\bov\.(\w+)\(", source):
        assert name in overlapped, f"Overlapped.{name} does not exist"
    assert "CreateEventW" not in funcs, "the stub is read for 3.11 (CreateEventW is 3.13+)"


def test_the_fake_has_the_real_names_and_signatures(stub):
    funcs, overlapped, attrs = stub
    fake = fake_winapi.FakeWinapi
    public = [n for n, v in vars(fake).items() if callable(v) and n[:1].isupper()]
    assert set(public) >= {"CreateFile", "ReadFile", "WriteFile", "WaitNamedPipe", "CloseHandle"}
    for name in public:
        assert name in funcs, f"FakeWinapi.{name} is not a _winapi function"
        assert _fake_shape(getattr(fake, name)) in funcs[name], f"{name}: {_fake_shape(getattr(fake, name))} vs {funcs[name]}"
    for name in ("GetOverlappedResult", "cancel", "getbuffer"):
        assert _fake_shape(getattr(fake_winapi.Overlapped, name)) in overlapped[name], name
    assert "event" in attrs
    assert "event" in fake_winapi.Overlapped(fake_winapi.FakeWinapi(), None, "read").__dict__
