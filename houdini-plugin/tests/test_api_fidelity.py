"""API fidelity against the public ``types-houdini`` stubs (Houdini 21's ``hou``).

1. Every ``hou.…`` name the plugin uses (an AST scan of ``synapse_houdini``) exists
   in the stubs, and every call has a compatible signature (arity, keyword names).
   HOM-style method calls on other objects (``node.setDisplayFlag(...)``: a
   lowerCamelCase name) and ``getattr(obj, "name")`` look-ups must name a method of
   some stub class, with a call compatible with at least one of its definitions.
2. The fake ``hou`` offers no public name the real module lacks (module level and
   class level), except its declared test controls, and its functions/methods
   accept exactly the parameters of the real ones.
"""

from __future__ import annotations

import ast
import importlib.metadata
import inspect
import os
from functools import lru_cache
from typing import Any, Optional

import pytest

import hou  # the fake

PLUGIN_PKG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "python", "synapse_houdini")


def _stub_path() -> str:
    try:
        dist = importlib.metadata.distribution("types-houdini")
    except importlib.metadata.PackageNotFoundError:
        if os.environ.get("CI"):
            pytest.fail("types-houdini is not installed (tests/requirements.txt)")
        pytest.skip("types-houdini is not installed (pip install -r tests/requirements.txt)")
    return str(dist.locate_file("hou-stubs/__init__.pyi"))


class Stubs:
    def __init__(self, path: str) -> None:
        tree = ast.parse(open(path, encoding="utf-8").read())
        self.functions: dict[str, ast.FunctionDef] = {}
        self.classes: dict[str, ast.ClassDef] = {}
        self.names: set[str] = set()
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                self.functions[node.name] = node
                self.names.add(node.name)
            elif isinstance(node, ast.ClassDef):
                self.classes[node.name] = node
                self.names.add(node.name)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                self.names.add(node.target.id)
            elif isinstance(node, ast.Assign):
                self.names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        self.methods_by_name: dict[str, list[ast.FunctionDef]] = {}
        for cls in self.classes.values():
            for item in cls.body:
                if isinstance(item, ast.FunctionDef):
                    self.methods_by_name.setdefault(item.name, []).append(item)

    def mro(self, name: str) -> list[ast.ClassDef]:
        out, todo = [], [name]
        while todo:
            cls = self.classes.get(todo.pop(0))
            if cls is None or cls in out:
                continue
            out.append(cls)
            todo.extend(ast.unparse(b) for b in cls.bases)
        return out

    def member(self, class_name: str, attr: str) -> Optional[ast.AST]:
        for cls in self.mro(class_name):
            for item in cls.body:
                if isinstance(item, ast.FunctionDef) and item.name == attr:
                    return item
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name) and item.target.id == attr:
                    return item
                if isinstance(item, ast.Assign) and any(isinstance(t, ast.Name) and t.id == attr for t in item.targets):
                    return item
        return None


@pytest.fixture(scope="module")
def stubs() -> Stubs:
    return _cached_stubs(_stub_path())


@lru_cache(maxsize=1)
def _cached_stubs(path: str) -> Stubs:
    return Stubs(path)


# ------------------------------------------------------------------ signatures


def _is_static(fn: ast.FunctionDef) -> bool:
    return any(ast.unparse(d) in ("staticmethod", "classmethod") for d in fn.decorator_list)


def stub_params(fn: ast.FunctionDef, method: bool) -> dict[str, Any]:
    """``{positional: [(name, required)], kwonly: {name: required}, varargs, varkw}`` without self."""
    args = fn.args
    positional = list(args.posonlyargs) + list(args.args)
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    pairs = [(a.arg, d is None) for a, d in zip(positional, defaults)]
    if method and not _is_static(fn) and pairs and pairs[0][0] in ("self", "cls"):
        pairs = pairs[1:]
    kwonly = {a.arg: d is None for a, d in zip(args.kwonlyargs, args.kw_defaults)}
    return {"positional": pairs, "kwonly": kwonly, "varargs": args.vararg is not None, "varkw": args.kwarg is not None}


def call_fits(call: ast.Call, params: dict[str, Any]) -> Optional[str]:
    """None if the call is compatible with the parameters, else why not."""
    if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
        return None  # *args/**kwargs splats: not checkable statically
    positional = params["positional"]
    if len(call.args) > len(positional) and not params["varargs"]:
        return f"{len(call.args)} positional arguments, at most {len(positional)} accepted"
    names = {n for n, _ in positional} | set(params["kwonly"])
    given = {n for n, _ in positional[: len(call.args)]}
    for kw in call.keywords:
        if kw.arg not in names and not params["varkw"]:
            return f"unknown keyword {kw.arg!r}"
        given.add(kw.arg)
    missing = [n for n, req in positional if req and n not in given] + [n for n, req in params["kwonly"].items()
                                                                       if req and n not in given]
    return f"missing {missing}" if missing else None


# ------------------------------------------------------------------ 1. the plugin's use of hou


#: Modules that call Qt's camelCase methods and never hou (checked below).
QT_ONLY_MODULES = frozenset({"dialogs.py"})


def test_qt_only_modules_never_touch_hou():
    for name in QT_ONLY_MODULES:
        tree = ast.parse(open(os.path.join(PLUGIN_PKG, name), encoding="utf-8").read())
        names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        imported = _imported_modules(tree) | {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert "hou" not in names and "hou" not in imported and "import_hou" not in names, name


def _plugin_sources() -> list[tuple[str, ast.Module]]:
    out = []
    for root, dirs, files in os.walk(PLUGIN_PKG):
        # The Qt panel calls Qt's camelCase methods and never hou (test_panel_pypanel checks that).
        dirs[:] = [d for d in dirs if not (root == PLUGIN_PKG and d == "panel")]
        for name in sorted(files):
            if root == PLUGIN_PKG and name in QT_ONLY_MODULES:
                continue
            if name.endswith(".py"):
                path = os.path.join(root, name)
                out.append((os.path.relpath(path, PLUGIN_PKG), ast.parse(open(path, encoding="utf-8").read())))
    return out


def _chain(node: ast.AST) -> Optional[list[str]]:
    """``hou.a.b`` -> ["hou", "a", "b"]; None for anything else."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return list(reversed(parts))
    return None


def _imported_modules(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.update(a.asname or a.name for a in node.names)
    return names - {"hou"}


def _is_hom_name(name: str) -> bool:
    return name[:1].islower() and any(c.isupper() for c in name) and not name.startswith("_")


def test_every_hou_name_and_call_the_plugin_uses_exists_with_a_compatible_signature(stubs):
    problems, checked = [], 0
    for rel, tree in _plugin_sources():
        modules = _imported_modules(tree)
        calls = {id(n.func): n for n in ast.walk(tree) if isinstance(n, ast.Call)}
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute):
                continue
            chain = _chain(node)
            where = f"{rel}:{node.lineno}"
            call = calls.get(id(node))
            if chain and chain[0] == "hou":
                checked += 1
                head = chain[1]
                if head not in stubs.names:
                    problems.append(f"{where}: hou.{head} does not exist")
                    continue
                if len(chain) == 2 and call is not None:
                    fn = stubs.functions.get(head)
                    if fn is not None and (why := call_fits(call, stub_params(fn, method=False))):
                        problems.append(f"{where}: hou.{head}(...): {why}")
                elif len(chain) >= 3:
                    member = stubs.member(head, chain[2])
                    if member is None:
                        problems.append(f"{where}: hou.{head}.{chain[2]} does not exist")
                    elif len(chain) == 3 and call is not None and isinstance(member, ast.FunctionDef):
                        if why := call_fits(call, stub_params(member, method=True)):
                            problems.append(f"{where}: hou.{head}.{chain[2]}(...): {why}")
            elif call is not None and _is_hom_name(node.attr):
                if chain and chain[0] in modules:
                    continue  # e.g. logging.getLogger: a stdlib module's function
                checked += 1
                defs = stubs.methods_by_name.get(node.attr)
                if not defs:
                    problems.append(f"{where}: .{node.attr}() is no method of any hou class")
                elif all(call_fits(call, stub_params(d, method=True)) for d in defs):
                    problems.append(f"{where}: .{node.attr}(...) fits no hou definition: "
                                    f"{call_fits(call, stub_params(defs[0], method=True))}")
        for node in ast.walk(tree):  # getattr(obj, "name") / hasattr(obj, "name")
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr")
                    and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant)
                    and isinstance(node.args[1].value, str) and _is_hom_name(node.args[1].value)):
                checked += 1
                if node.args[1].value not in stubs.methods_by_name and node.args[1].value not in stubs.functions:
                    problems.append(f"{rel}:{node.lineno}: getattr(..., {node.args[1].value!r}) is no hou method")
    assert checked > 80  # the scan really looked at the catalogue
    assert problems == []


def test_flag_method_tables_name_real_methods(stubs):
    from synapse_houdini.tools.modify import FLAG_METHODS

    for flag, (getter, setter) in FLAG_METHODS.items():
        assert stubs.member("SopNode", getter) is not None and stubs.member("SopNode", setter) is not None, flag
    assert stubs.member("LopNode", "bypass") is not None and stubs.member("LopNode", "setRenderFlag") is None


def test_the_modal_methods_the_marshal_suppresses_exist(stubs):
    from synapse_houdini.marshal import MODAL_UI_METHODS

    assert MODAL_UI_METHODS and all(stubs.member("ui", name) is not None for name in MODAL_UI_METHODS)


def test_the_scan_catches_a_wrong_name_and_a_wrong_call(stubs):
    """The checker itself can fail: a misspelt method and a bad keyword are reported."""
    tree = ast.parse("node.setDisplayFlags(True)\nhou.undos.group('x', nope=1)\nhou.nodez('/')")
    call = tree.body[1].value
    assert call_fits(call, stub_params(stubs.member("undos", "group"), method=True)) == "unknown keyword 'nope'"
    assert "setDisplayFlags" not in stubs.methods_by_name and "nodez" not in stubs.names


# ------------------------------------------------------------------ 2. the fake


def _fake_public_names() -> dict[str, Any]:
    out = {}
    for name, value in vars(hou).items():
        if name.startswith("_") or name in hou.TEST_CONTROLS or inspect.ismodule(value):
            continue
        if getattr(value, "__module__", None) in ("typing", "__future__") or type(value).__name__ == "_Feature":
            continue
        out[name] = value
    return out


def _fake_signature(fn: Any, static: bool) -> dict[str, Any]:
    sig = inspect.signature(fn)
    params = list(sig.parameters.values())
    if not static and params and params[0].name in ("self", "cls"):
        params = params[1:]
    P = inspect.Parameter
    return {
        "positional": [(p.name, p.default is P.empty) for p in params if p.kind in (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD)],
        "kwonly": {p.name: p.default is P.empty for p in params if p.kind is P.KEYWORD_ONLY},
        "varargs": any(p.kind is P.VAR_POSITIONAL for p in params),
        "varkw": any(p.kind is P.VAR_KEYWORD for p in params),
    }


def _signature_problem(fake: dict, real: dict) -> Optional[str]:
    if fake["varargs"] and fake["varkw"]:
        return None  # accepts anything the real one does
    real_names = [n for n, _ in real["positional"]]
    fake_names = [n for n, _ in fake["positional"]]
    if fake_names != real_names[: len(fake_names)]:
        return f"parameters {fake_names} differ from the real {real_names}"
    if len(fake_names) < len(real_names) and not fake["varargs"]:
        return f"lacks the real parameters {real_names[len(fake_names):]}"
    required_real = {n for n, req in real["positional"] if req}
    extra_required = [n for n, req in fake["positional"] if req and n not in required_real]
    if extra_required:
        return f"requires {extra_required}, which the real one does not"
    return None


def test_the_fake_offers_no_name_the_real_module_lacks(stubs):
    problems = []
    for name, value in sorted(_fake_public_names().items()):
        if name not in stubs.names:
            problems.append(f"hou.{name} is not in the real module")
            continue
        if inspect.isfunction(value) and name in stubs.functions:
            if why := _signature_problem(_fake_signature(value, True), stub_params(stubs.functions[name], method=False)):
                problems.append(f"hou.{name}: {why}")
        if not inspect.isclass(value):
            continue
        real_classes = getattr(value, "_stands_for", (name,))
        exempt = set(getattr(value, "_test_records", ()))
        for attr in dir(value):
            if attr.startswith("_") or attr in exempt:
                continue
            owner = next((k for k in inspect.getmro(value) if attr in vars(k)), None)
            if owner is None or owner is object or owner.__module__ in ("builtins", "typing"):
                continue
            real = next((m for m in (stubs.member(c, attr) for c in real_classes) if m is not None), None)
            if real is None:
                problems.append(f"hou.{name}.{attr} is not in the real {'/'.join(real_classes)}")
                continue
            raw = inspect.getattr_static(value, attr)
            if isinstance(real, ast.FunctionDef) and (inspect.isfunction(raw) or isinstance(raw, staticmethod)):
                fn = raw.__func__ if isinstance(raw, staticmethod) else raw
                fake_sig = _fake_signature(fn, isinstance(raw, staticmethod))
                if why := _signature_problem(fake_sig, stub_params(real, method=True)):
                    problems.append(f"hou.{name}.{attr}: {why}")
    assert len(_fake_public_names()) > 30
    assert problems == []


def test_fake_instances_hold_no_undeclared_public_attributes(scene):
    """Instance attributes a test could mistake for API: only the declared test records."""
    import fake_scene

    fake_scene.add_sop_network(scene)
    objects = list(hou._nodes.values()) + [hou.ui._scene_viewer]
    for obj in objects:
        public = {k for k in vars(obj) if not k.startswith("_")} - set(getattr(obj, "_test_records", ()))
        assert public == set(), (obj, public)
