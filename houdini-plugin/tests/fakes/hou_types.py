"""Fake node types (part of the fake ``hou``): categories, types and their parm templates.

A small registry of real Houdini type names (``Sop/attribwrangle``, ``Lop/sphere``,
``Object/geo``...) with the parm templates the tests use.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import hou



class ParmTemplate:
    """A parm's template (stands for the real Float/Int/String/Toggle/Menu templates)."""

    _stands_for = ("ParmTemplate", "FloatParmTemplate", "IntParmTemplate", "StringParmTemplate",
                   "ToggleParmTemplate", "MenuParmTemplate", "FolderParmTemplate")

    def __init__(self, name: str, label: str, kind: Any, default: Any, components: int = 1,
                 menu_items: Sequence[str] = (), help: str = "", children: Sequence["ParmTemplate"] = ()) -> None:
        self._name, self._label, self._kind, self._default = name, label, kind, default
        self._components, self._menu, self._help = components, tuple(menu_items), help
        self._children = tuple(children)

    def namingScheme(self) -> Any:
        return hou.parmNamingScheme.XYZW

    def parmTemplates(self) -> tuple["ParmTemplate", ...]:
        """A folder's templates (``FolderParmTemplate``)."""
        return self._children

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


def _flat(templates: Sequence[ParmTemplate]) -> list[ParmTemplate]:
    """The templates that make parms: folders opened, recursively."""
    out = []
    for template in templates:
        if template.type() is hou.parmTemplateType.Folder:
            out.extend(_flat(template.parmTemplates()))
        else:
            out.append(template)
    return out


def Folder(label: str, children: Sequence[ParmTemplate]) -> ParmTemplate:
    return ParmTemplate("folder_" + label.lower(), label, hou.parmTemplateType.Folder, 0, 1, children=children)


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
        self._parm_templates = _flat(self._templates)
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
XFORM = [Folder("Transform", [ParmTemplate("t", "Translate", F, 0.0, 3), ParmTemplate("r", "Rotate", F, 0.0, 3),
                              ParmTemplate("s", "Scale", F, 1.0, 3), ParmTemplate("scale", "Uniform Scale", F, 1.0)])]
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
    ("attribwrangle", "Attribute Wrangle", [Folder("Code", [
        ParmTemplate("class", "Run Over", M, 2, menu_items=("detail", "primitive", "point", "vertex", "number")),
        ParmTemplate("snippet", "VEXpression", S, "")])], 1, 4),
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
