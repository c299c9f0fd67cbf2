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

_nodes: dict[str, "Node"] = {}
_selected: list["Node"] = []
_NAME_RE = re.compile(r"[A-Za-z0-9_.\-]+")


# ------------------------------------------------------------------ types


class ParmTemplate:
    """A parm's template (stands for the real Float/Int/String/Toggle/Menu templates)."""

    _stands_for = ("ParmTemplate", "FloatParmTemplate", "IntParmTemplate", "StringParmTemplate",
                   "ToggleParmTemplate", "MenuParmTemplate")

    def __init__(self, name: str, label: str, kind: Any, default: Any, components: int = 1,
                 menu_items: Sequence[str] = (), help: str = "") -> None:
        self._name, self._label, self._kind, self._default = name, label, kind, default
        self._components, self._menu, self._help = components, tuple(menu_items), help

    def name(self) -> str:
        return self._name

    def label(self) -> str:
        return self._label

    def type(self) -> Any:
        return self._kind

    def numComponents(self) -> int:
        return self._components

    def help(self) -> str:
        return self._help

    def menuItems(self) -> tuple[str, ...]:
        return self._menu

    def defaultValue(self) -> tuple:
        return tuple(self._default for _ in range(self._components))


class ParmTemplateGroup:
    def __init__(self, templates: Sequence[ParmTemplate]) -> None:
        self._templates = tuple(templates)

    def parmTemplates(self) -> tuple[ParmTemplate, ...]:
        return self._templates

    def entries(self) -> tuple[ParmTemplate, ...]:
        return self._templates


class NodeTypeCategory:
    def __init__(self, name: str, label: str) -> None:
        self._name, self._label = name, label
        self._types: dict[str, NodeType] = {}

    def name(self) -> str:
        return self._name

    def label(self) -> str:
        return self._label

    def nodeTypes(self) -> dict[str, "NodeType"]:
        return dict(self._types)

    def nodeType(self, type_name: str) -> Optional["NodeType"]:
        return self._types.get(type_name)


class NodeType:
    def __init__(self, category: NodeTypeCategory, name: str, description: str, templates: Sequence[ParmTemplate] = (),
                 min_inputs: int = 0, max_inputs: int = 1, child_category: Optional[str] = None, help: str = "") -> None:
        self._category, self._name, self._description = category, name, description
        self._templates = tuple(templates)
        self._min, self._max, self._child, self._help = min_inputs, max_inputs, child_category, help
        category._types[name] = self

    def name(self) -> str:
        return self._name

    def description(self) -> str:
        return self._description

    def category(self) -> NodeTypeCategory:
        return self._category

    def nameWithCategory(self) -> str:
        return f"{self._category.name()}/{self._name}"

    def minNumInputs(self) -> int:
        return self._min

    def maxNumInputs(self) -> int:
        return self._max

    def embeddedHelp(self) -> str:
        return self._help

    def helpUrl(self) -> str:
        return f"operator:{self._category.name()}/{self._name}"

    def parmTemplateGroup(self) -> ParmTemplateGroup:
        return ParmTemplateGroup(self._templates)

    def childTypeCategory(self) -> Optional[NodeTypeCategory]:
        return _categories.get(self._child) if self._child else None


_categories: dict[str, NodeTypeCategory] = {
    name: NodeTypeCategory(name, label)
    for name, label in (("Manager", "Managers"), ("Object", "Objects"), ("Sop", "Geometry"), ("Lop", "Lighting"),
                        ("Driver", "Outputs"))
}
F, I, S, T, M = (hou.parmTemplateType.Float, hou.parmTemplateType.Int, hou.parmTemplateType.String,
                 hou.parmTemplateType.Toggle, hou.parmTemplateType.Menu)
XFORM = [ParmTemplate("t", "Translate", F, 0.0, 3), ParmTemplate("r", "Rotate", F, 0.0, 3),
         ParmTemplate("s", "Scale", F, 1.0, 3), ParmTemplate("scale", "Uniform Scale", F, 1.0)]
_WRANGLE_HELP = ("Attribute Wrangle: runs a VEX snippet to modify attributes.\n"
                 "Run Over (class) chooses the elements: detail, primitive, point, vertex, number.")
for _name, _desc, _tmpl, _min, _max, _child in [
    ("root", "Root", [], 0, 0, "Manager"),
    ("obj", "Object Network", [], 0, 0, "Object"),
    ("lopnet", "LOP Network", [], 0, 0, "Lop"),
    ("ropnet", "Output Network", [], 0, 0, "Driver"),
]:
    NodeType(_categories["Manager"], _name, _desc, _tmpl, _min, _max, _child)
NodeType(_categories["Object"], "geo", "Geometry", XFORM, 0, 1, "Sop", help="A container for SOP networks.")
NodeType(_categories["Object"], "null", "Null", XFORM, 0, 1)
NodeType(_categories["Object"], "subnet", "Subnet", XFORM, 0, 4, "Object")
NodeType(_categories["Object"], "cam", "Camera", XFORM + [ParmTemplate("resx", "Resolution X", I, 1920),
                                                           ParmTemplate("resy", "Resolution Y", I, 1080)], 0, 1)
for _name, _desc, _tmpl, _min, _max in [
    ("box", "Box", [ParmTemplate("size", "Size", F, 1.0, 3), ParmTemplate("t", "Center", F, 0.0, 3)], 0, 1),
    ("grid", "Grid", [ParmTemplate("rows", "Rows", I, 4), ParmTemplate("cols", "Columns", I, 5),
                      ParmTemplate("sizex", "Size X", F, 2.0)], 0, 0),
    ("sphere", "Sphere", [ParmTemplate("rad", "Radius", F, 1.0, 3),
                          ParmTemplate("type", "Primitive Type", M, 0, menu_items=("prim", "poly", "polymesh"))], 0, 1),
    ("attribwrangle", "Attribute Wrangle", [ParmTemplate("snippet", "VEXpression", S, ""),
                                            ParmTemplate("class", "Run Over", M, 2,
                                                         menu_items=("detail", "primitive", "point", "vertex", "number"))], 1, 4),
    ("xform", "Transform", XFORM, 1, 1),
    ("color", "Color", [ParmTemplate("color", "Color", F, 1.0, 3)], 1, 1),
    ("merge", "Merge", [], 1, 9999),
    ("null", "Null", [ParmTemplate("copyinput", "Copy Input", T, 1)], 1, 1),
    ("output", "Output", [ParmTemplate("outputidx", "Output Index", I, 0)], 1, 1),
]:
    NodeType(_categories["Sop"], _name, _desc, _tmpl, _min, _max,
             help=_WRANGLE_HELP if _name == "attribwrangle" else f"The {_desc} SOP.")
for _name, _desc, _tmpl, _min, _max in [
    ("sphere", "Sphere", [ParmTemplate("radius", "Radius", F, 1.0), ParmTemplate("primpath", "Primitive Path", S, "/$OS")], 0, 1),
    ("materiallibrary", "Material Library", [], 0, 1),
    ("domelight", "Dome Light", [ParmTemplate("xn__inputsintensity_i0a", "Intensity", F, 1.0)], 0, 1),
    ("assignmaterial", "Assign Material", [ParmTemplate("primpattern1", "Primitives", S, "")], 1, 1),
    ("xform", "Transform", XFORM, 1, 1),
    ("merge", "Merge", [], 1, 9999),
    ("null", "Null", [], 1, 1),
    ("sopimport", "SOP Import", [ParmTemplate("soppath", "SOP Path", S, "")], 0, 1),
]:
    NodeType(_categories["Lop"], _name, _desc, _tmpl, _min, _max, help=f"The {_desc} LOP.")
NodeType(_categories["Driver"], "usdrender", "USD Render", [ParmTemplate("loppath", "LOP Path", S, "")], 0, 1)


def nodeTypeCategories() -> dict[str, NodeTypeCategory]:
    return dict(_categories)


def nodeType(category_or_name: Any, internal_name: Optional[str] = None) -> Optional[NodeType]:
    if isinstance(category_or_name, NodeTypeCategory):
        return category_or_name.nodeType(internal_name or "")
    category, _, name = str(category_or_name).partition("/")
    found = _categories.get(category)
    return found.nodeType(name) if found is not None else None


def _type_for(category: str, type_name: str) -> NodeType:
    """The registered type, or an ad-hoc one (tests build nodes of any type directly)."""
    cat = _categories[category]
    return cat.nodeType(type_name) or NodeType(cat, type_name, type_name.title(), [], 0, 4)


# ------------------------------------------------------------------ parms


def _check_value(template: ParmTemplate, value: Any) -> Any:
    kind = template.type()
    if kind in (F,) and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind in (I, T) and isinstance(value, (int, bool)) or (kind is I and isinstance(value, float)):
        return int(value)
    if kind is M:
        if isinstance(value, str) and value in template.menuItems():
            return template.menuItems().index(value)
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(template.menuItems()):
            return value
        raise hou.InvalidInput(f"Invalid menu value {value!r}")
    if kind is S and isinstance(value, str):
        return value
    raise TypeError(f"Invalid type for parameter {template.name()}: {type(value).__name__}")


class Parm:
    def __init__(self, node: "Node", template: ParmTemplate, name: str, index: int) -> None:
        self._node, self._template, self._name, self._index = node, template, name, index
        self._value = template._default
        self._expression: Optional[str] = None

    def _check(self) -> None:
        self._node._check("parm")

    def name(self) -> str:
        self._check()
        return self._name

    def path(self) -> str:
        return f"{self._node.path()}/{self._name}"

    def node(self) -> "Node":
        return self._node

    def parmTemplate(self) -> ParmTemplate:
        return self._template

    def tuple(self) -> "ParmTuple":
        return ParmTuple(self._node, self._template)

    def eval(self) -> Any:
        self._check()
        if self._expression is not None:
            return _eval_expression(self._expression, self._template)
        return self._value

    def evalAsString(self) -> str:
        value = self.eval()
        if self._template.type() is M:
            return self._template.menuItems()[int(value)]
        return str(value)

    def unexpandedString(self) -> str:
        self._check()
        if self._template.type() is not S:
            raise hou.OperationFailed("Parameter is not a string")
        return str(self._value)

    def rawValue(self) -> str:
        return self._expression if self._expression is not None else str(self._value)

    def set(self, value: Any, language: Any = None, follow_parm_reference: bool = True) -> None:
        self._check()
        new = _check_value(self._template, value)
        old = self._value
        self._value = new
        hou._record_undo("Parameter change", lambda: setattr(self, "_value", old))

    def setExpression(self, expression: str, language: Any = None, replace_expression: bool = True) -> None:
        self._check()
        old = self._expression
        self._expression = expression
        hou._record_undo("Parameter change", lambda: setattr(self, "_expression", old))

    def expression(self) -> str:
        self._check()
        if self._expression is None:
            raise hou.OperationFailed("The parameter has no expression")
        return self._expression

    def keyframes(self) -> tuple:
        return (self._expression,) if self._expression is not None else ()

    def deleteAllKeyframes(self) -> None:
        self._check()
        old = self._expression
        if old is None:
            return
        self._expression = None
        hou._record_undo("Delete keyframes", lambda: setattr(self, "_expression", old))

    def isAtDefault(self, compare_temporary_defaults: bool = True, compare_expressions: bool = True) -> bool:
        return self._expression is None and self._value == self._template._default


def _eval_expression(expr: str, template: ParmTemplate) -> Any:
    """Tiny hscript subset: numbers, ``$F``/``$FF``, and ``a OP b`` of those."""
    text = expr.replace("$FF", str(hou._frame)).replace("$F", str(int(hou._frame))).strip()
    match = re.fullmatch(r"(-?[\d.]+)\s*([-+*/])\s*(-?[\d.]+)", text)
    try:
        if match:
            a, op, b = float(match.group(1)), match.group(2), float(match.group(3))
            value = {"+": a + b, "-": a - b, "*": a * b, "/": a / b if b else 0.0}[op]
        else:
            value = float(text)
    except ValueError:
        value = 0.0  # Houdini reports a bad expression as an error on the node and evaluates 0
    return value if template.type() is F else (int(value) if template.type() in (I, T, M) else str(value))


class ParmTuple:
    def __init__(self, node: "Node", template: ParmTemplate) -> None:
        self._node, self._template = node, template

    def _parms(self) -> list[Parm]:
        return [p for p in self._node._parms if p._template is self._template]

    def name(self) -> str:
        return self._template.name()

    def parmTemplate(self) -> ParmTemplate:
        return self._template

    def __len__(self) -> int:
        return self._template.numComponents()

    def __getitem__(self, index: int) -> Parm:
        return self._parms()[index]

    def eval(self) -> tuple:
        self._node._check("parmTuple")
        return tuple(p.eval() for p in self._parms())

    def set(self, value: Sequence[Any], language: Any = None, follow_parm_reference: bool = True) -> None:
        self._node._check("parmTuple")
        parms = self._parms()
        if isinstance(value, (str, bytes)) or len(value) != len(parms):
            raise hou.InvalidSize(f"expected {len(parms)} values")
        checked = [_check_value(self._template, v) for v in value]  # all or nothing
        for parm, v in zip(parms, checked):
            parm.set(v)


_SUFFIXES = ("x", "y", "z", "w")


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
        for template in self._type._templates:
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
        for template in self._type._templates:
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
