"""Fake nodes (part of the fake ``hou``): node types, parms, flags, the node graph.

The classes and methods mirror HOM: ``Node``/``OpNode`` (managers and networks),
``ObjNode``, ``SopNode``, ``LopNode``; ``NodeType``/``NodeTypeCategory``;
``Parm``/``ParmTuple``/``ParmTemplate``. Mutations record their reversal on the
fake undo stack (``hou._record_undo``). Cooking is simulated on demand: a node's
``errors()`` are the messages set by a test (``_errors``) plus what a cook of its
current state reports (missing inputs, a VEX snippet that does not parse).
"""

from __future__ import annotations

import re
from typing import Any, Optional, Sequence

import hou
import hou_geometry
from hou_parms import _SUFFIXES, Parm, ParmTuple
from hou_types import NodeType, NodeTypeCategory, _type_for

_nodes: dict[str, "Node"] = {}
_selected: list["Node"] = []
_NAME_RE = re.compile(r"[A-Za-z0-9_.\-]+")


# ------------------------------------------------------------------ nodes


class Node:
    """A fake ``hou.Node``: identity, hierarchy, wiring, messages, editing (see ``OpNode`` for parms and cooking)."""

    _category = "Manager"

    def __init__(self, name: str, type_name: str, parent: Optional["Node"] = None,
                 node_type: Optional[NodeType] = None) -> None:
        self._name = name
        self._type = node_type or _type_for(self._category, type_name)
        self._parent = parent
        self._children: list[Node] = []
        self._inputs: list[Optional[Node]] = []
        self._outputs: list[Node] = []
        self._display = False
        self._render = False
        self._template = False
        self._bypass = False
        self._errors: list[str] = []
        self._warnings: list[str] = []
        self._prims: list[Any] = []
        self._deleted = False
        self._fail_on: Optional[str] = None  # method name that raises RuntimeError
        self._cooks = 0
        self._position = (0.0, 0.0)
        self._parms: list[Parm] = []
        for template in self._type._parm_templates:
            n = template.numComponents()
            for i in range(n):
                name_i = template.name() + (_SUFFIXES[i] if n > 1 else "")
                self._parms.append(Parm(self, template, name_i, i))
        if parent is not None:
            parent._children.append(self)
        _nodes[self._compute_path()] = self

    def _compute_path(self) -> str:
        if self._parent is None:
            return "/" if self._name == "" else "/" + self._name
        base = self._parent._compute_path()
        return ("" if base == "/" else base) + "/" + self._name

    @property
    def _path(self) -> str:
        return self._compute_path()

    # -- checks
    def _check(self, method: str = "") -> None:
        hou._assert_main()
        if self._deleted:
            raise hou.ObjectWasDeleted("Attempt to access an object that no longer exists in Houdini.")
        if self._fail_on is not None and method == self._fail_on:
            raise RuntimeError(f"simulated failure in {method}() of {self._path}")

    # -- identity and hierarchy
    def path(self) -> str:
        self._check("path")
        return self._path

    def name(self) -> str:
        self._check("name")
        return self._name

    def type(self) -> NodeType:
        self._check("type")
        return self._type

    def parent(self) -> Optional["Node"]:
        self._check("parent")
        return self._parent

    def children(self) -> tuple["Node", ...]:
        self._check("children")
        return tuple(c for c in self._children if not c._deleted)

    def allSubChildren(self, top_down: bool = True, recurse_in_locked_nodes: bool = True,
                       sync_delayed_definition: bool = False) -> tuple["Node", ...]:
        self._check("allSubChildren")
        out: list[Node] = []
        stack = list(reversed(self.children()))
        while stack:
            child = stack.pop()
            out.append(child)
            stack.extend(reversed([c for c in child._children if not c._deleted]))
        return tuple(out)

    def node(self, node_path: str) -> Optional["Node"]:
        self._check("node")
        if node_path.startswith("/"):
            return node(node_path)
        return node(f"{self._path.rstrip('/')}/{node_path}")

    def childTypeCategory(self) -> Optional[NodeTypeCategory]:
        return self._type.childTypeCategory()

    def isEditable(self) -> bool:
        return True

    def isNetwork(self) -> bool:
        return self._type.childTypeCategory() is not None

    # -- connections
    def inputs(self) -> tuple[Optional["Node"], ...]:
        self._check("inputs")
        return tuple(None if (n is not None and n._deleted) else n for n in self._inputs)

    def outputs(self) -> tuple["Node", ...]:
        self._check("outputs")
        return tuple(o for o in self._outputs if not o._deleted)

    def setInput(self, input_index: int, item_to_become_input: Optional["Node"], output_index: int = 0) -> None:
        self._check("setInput")
        if input_index < 0 or input_index >= max(self._type.maxNumInputs(), 0):
            raise hou.InvalidInput(f"Invalid input index {input_index}")
        other = item_to_become_input
        if other is not None and (other._parent is not self._parent or other is self):
            raise hou.OperationFailed("Cannot connect nodes in different networks")
        old = self._inputs[input_index] if input_index < len(self._inputs) else None
        self._set_input(input_index, other)
        hou._record_undo("Connect", lambda: self._set_input(input_index, old))

    def _set_input(self, index: int, other: Optional["Node"]) -> None:
        while len(self._inputs) <= index:
            self._inputs.append(None)
        previous = self._inputs[index]
        if previous is not None and self in previous._outputs:
            previous._outputs.remove(self)
        self._inputs[index] = other
        if other is not None:
            other._outputs.append(self)

    # -- messages and cooking
    def errors(self) -> tuple[str, ...]:
        self._check("errors")
        return tuple(self._errors) + tuple(self._cook_errors())

    def warnings(self) -> tuple[str, ...]:
        self._check("warnings")
        return tuple(self._warnings)

    def _cook_errors(self) -> list[str]:
        if self._bypass:
            return []
        connected = sum(1 for n in self._inputs[: self._type.minNumInputs()] if n is not None and not n._deleted)
        if connected < self._type.minNumInputs():
            return ["Not enough sources specified."]
        snippet = next((p for p in self._parms if p._name == "snippet"), None)
        if snippet is not None and self._type.name() == "attribwrangle":
            return _vex_errors(snippet._value)
        return []

    # -- editing
    def createNode(self, node_type_name: str, node_name: Optional[str] = None, run_init_scripts: bool = True,
                   load_contents: bool = True, exact_type_name: bool = False,
                   force_valid_node_name: bool = False) -> "Node":
        self._check("createNode")
        category = self._type.childTypeCategory()
        if category is None:
            raise hou.OperationFailed(f"{self._path} is not a network: it cannot contain nodes")
        node_type = category.nodeType(node_type_name)
        if node_type is None:
            raise hou.OperationFailed(f"Invalid node type name: {node_type_name}")
        taken = {c._name for c in self.children()}
        if node_name is None:
            i = 1
            while f"{node_type_name}{i}" in taken:
                i += 1
            node_name = f"{node_type_name}{i}"
        elif not _NAME_RE.fullmatch(node_name):
            raise hou.OperationFailed(f"Invalid node name: {node_name!r}")
        elif node_name in taken:
            raise hou.OperationFailed(f"A node named {node_name!r} already exists in {self._path}")
        cls = _NODE_CLASSES.get(category.name(), OpNode)
        created = cls(node_name, node_type_name, self, node_type=node_type)
        hou._record_undo("Create node", created._forget)
        return created

    def _forget(self) -> None:
        self._deleted = True
        _nodes.pop(self._path, None)
        for child in self._children:
            child._forget()
        for upstream in self._inputs:
            if upstream is not None and self in upstream._outputs:
                upstream._outputs.remove(self)

    def _restore(self) -> None:
        self._deleted = False
        _nodes[self._path] = self
        for child in self._children:
            child._restore()
        for upstream in self._inputs:
            if upstream is not None:
                upstream._outputs.append(self)

    def destroy(self, disable_safety_checks: bool = False) -> None:
        self._check("destroy")
        self._forget()
        hou._record_undo("Delete", self._restore)

    def setName(self, name: str, unique_name: bool = False) -> None:
        self._check("setName")
        if not _NAME_RE.fullmatch(name):
            raise hou.OperationFailed(f"Invalid node name: {name!r}")
        siblings = {c._name for c in (self._parent.children() if self._parent else ()) if c is not self}
        if name in siblings:
            if not unique_name:
                raise hou.OperationFailed(f"Node name {name!r} is already in use")
            i = 1
            while f"{name}{i}" in siblings:
                i += 1
            name = f"{name}{i}"
        old = self._name
        self._rename(name)
        hou._record_undo("Rename node", lambda: self._rename(old))

    def _rename(self, name: str) -> None:
        subtree = [self]
        for item in subtree:  # grows while iterating: the whole subtree
            subtree.extend(item._children)
        for item in subtree:
            _nodes.pop(item._path, None)
        self._name = name
        for item in subtree:
            _nodes[item._path] = item

    def layoutChildren(self, items: Sequence[Any] = (), horizontal_spacing: float = -1.0,
                       vertical_spacing: float = -1.0) -> None:
        self._check("layoutChildren")
        children = list(items) or list(self.children())
        old = [(c, c._position) for c in children]
        for i, child in enumerate(children):
            child._position = (0.0, -float(i))
        hou._record_undo("Layout", lambda: [setattr(c, "_position", p) for c, p in old])

    def moveToGoodPosition(self, relative_to_inputs: bool = True, move_inputs: bool = True, move_outputs: bool = True,
                           move_unconnected: bool = True) -> "hou.Vector2":
        self._check("moveToGoodPosition")
        old = self._position
        self._position = (float(len(self._inputs)), -float(len(self._parent._children) if self._parent else 0))
        hou._record_undo("Move", lambda: setattr(self, "_position", old))
        return hou.Vector2(self._position)

    def position(self) -> "hou.Vector2":
        return hou.Vector2(self._position)

    def isSelected(self) -> bool:
        return self in _selected

    def setSelected(self, on: bool, clear_all_selected: bool = False, show_asset_if_selected: bool = False) -> None:
        self._check("setSelected")
        if clear_all_selected:
            _selected.clear()
        if on and self not in _selected:
            _selected.append(self)
        elif not on and self in _selected:
            _selected.remove(self)


class OpNode(Node):
    """An operator node: cooking and parms (managers such as /obj and /stage are OpNodes too)."""

    def cook(self, force: bool = False, frame_range: Sequence[float] = ()) -> None:
        self._check("cook")
        self._cooks += 1
        if self.errors():
            raise hou.OperationFailed("Node cook failed")

    def cookCount(self) -> int:
        return self._cooks

    def lastCookTime(self) -> float:
        return 0.25

    # -- parms
    def parm(self, parm_path: str) -> Optional[Parm]:
        self._check("parm")
        for p in self._parms:
            if p._name == parm_path:
                return p
        return None

    def parmTuple(self, parm_path: str) -> Optional[ParmTuple]:
        self._check("parmTuple")
        for template in self._type._parm_templates:
            if template.name() == parm_path:
                return ParmTuple(self, template)
        return None

    def parms(self) -> tuple[Parm, ...]:
        self._check("parms")
        return tuple(self._parms)

    def isInsideLockedHDA(self) -> bool:
        return False


class _Flags:
    def isDisplayFlagSet(self) -> bool:
        self._check("isDisplayFlagSet")  # type: ignore[attr-defined]
        return self._display  # type: ignore[attr-defined]

    def setDisplayFlag(self, on: bool) -> None:
        self._set_flag("_display", on)

    def _set_flag(self, attr: str, on: bool) -> None:
        self._check(attr)  # type: ignore[attr-defined]
        old = getattr(self, attr)
        setattr(self, attr, bool(on))
        hou._record_undo("Flag change", lambda: setattr(self, attr, old))


class _Bypass:
    def isBypassed(self) -> bool:
        self._check("isBypassed")  # type: ignore[attr-defined]
        return self._bypass  # type: ignore[attr-defined]

    def bypass(self, on: bool) -> None:
        self._set_flag("_bypass", on)  # type: ignore[attr-defined]


class ObjNode(_Flags, OpNode):
    _category = "Object"

    def displayNode(self) -> Optional[Node]:
        self._check("displayNode")
        for child in self.children():
            if child._display:
                return child
        return None


class SopNode(_Bypass, _Flags, OpNode):
    _category = "Sop"

    def isRenderFlagSet(self) -> bool:
        self._check("isRenderFlagSet")
        return self._render

    def setRenderFlag(self, on: bool) -> None:
        self._set_flag("_render", on)

    def isTemplateFlagSet(self) -> bool:
        self._check("isTemplateFlagSet")
        return self._template

    def setTemplateFlag(self, on: bool) -> None:
        self._set_flag("_template", on)

    def geometry(self, output_index: int = 0) -> Optional["hou_geometry.Geometry"]:
        self._check("geometry")
        if self.errors():
            return None
        if self._bypass or self._type.name() in ("attribwrangle", "xform", "color", "null", "output", "merge"):
            upstream = next((n for n in self._inputs if n is not None and not n._deleted), None)
            return upstream.geometry() if upstream is not None else hou_geometry.Geometry(0, [], [])
        if self._type.name() == "box":
            return hou_geometry.box()
        rows = self.parm("rows")
        cols = self.parm("cols")
        return hou_geometry.grid(int(rows.eval()) if rows else 6, int(cols.eval()) if cols else 8)


class LopNode(_Bypass, _Flags, OpNode):
    _category = "Lop"
    _stage: Any = None  # a real pxr.Usd.Stage, set by fake_scene

    def lastModifiedPrims(self) -> tuple[Any, ...]:
        self._check("lastModifiedPrims")
        return tuple(self._prims)

    def stage(self, output_index: int = 0, apply_viewport_overrides: bool = False, ignore_errors: bool = False,
              use_last_cook_context_options: bool = False, apply_post_layers: bool = True,
              frame: Optional[float] = None, context_options: Any = None) -> Any:
        self._check("stage")
        if self.errors() and not ignore_errors:
            return None
        return self._stage


_NODE_CLASSES = {"Object": ObjNode, "Sop": SopNode, "Lop": LopNode}


def _vex_errors(code: str) -> list[str]:
    """What compiling *code* as a wrangle snippet would report (a small, honest subset)."""
    stripped = re.sub(r"//[^\n]*|/\*.*?\*/|\"(?:\\.|[^\"\\])*\"", "", code, flags=re.S)
    depth = {"(": 0, "{": 0, "[": 0}
    closers = {")": "(", "}": "{", "]": "["}
    for line_no, line in enumerate(stripped.splitlines() or [""], 1):
        for ch in line:
            if ch in depth:
                depth[ch] += 1
            elif ch in closers:
                depth[closers[ch]] -= 1
                if depth[closers[ch]] < 0:
                    return [f"Error: Syntax error, unexpected '{ch}' (line {line_no})."]
    if any(depth.values()):
        return ["Error: Syntax error, unexpected end of file."]
    body = stripped.strip()
    if body and not body.endswith((";", "}")):
        return ["Error: Syntax error, unexpected end of file, expecting ';'."]
    return []


def node(path: str) -> Optional[Node]:
    hou._assert_main()
    found = _nodes.get(path.rstrip("/") or "/") if isinstance(path, str) else None
    return None if found is None or found._deleted else found


def selectedNodes(include_hidden: bool = False) -> tuple[Node, ...]:
    hou._assert_main()
    return tuple(n for n in _selected if not n._deleted)
