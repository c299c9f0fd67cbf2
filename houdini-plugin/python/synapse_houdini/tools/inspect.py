"""Read-only tools that look at the node graph: list, describe, select, errors, geometry, node types.

All paths in results are absolute; every list is cut by a ``limit`` and says
``truncated: true`` when cut; long strings are clipped with their length.
"""

from __future__ import annotations

import fnmatch
from typing import Any

from .common import (
    MAX_STRING_CHARS,
    Budget,
    InvalidInput,
    CookError,
    NotSupported,
    bounded,
    clip,
    get_node,
    hou_module,
    make_tool,
    messages,
    path_prop,
    limit_prop,
    type_name,
)
from .parms import flat_templates
from .scene_info import TOOL as SCENE_INFO

#: Parms reported by houdini_node_info (non-default ones first).
MAX_PARMS = 200
#: String parms holding code: shown in full only with include_code.
CODE_PARMS = frozenset({"snippet", "python", "code", "vexsnippet", "script", "cmd"})
CODE_PREVIEW_CHARS = 200


def _json_value(value: Any) -> Any:
    if isinstance(value, (bool, int, float)) or value is None:
        return value
    if isinstance(value, (tuple, list)):
        return [_json_value(v) for v in value[:16]] + ([f"... {len(value)} values in all"] if len(value) > 16 else [])
    return clip(value)


# ------------------------------------------------------------------ list_nodes


def list_nodes(args: dict) -> dict[str, Any]:
    root = get_node(args["root"], "root")
    limit, max_depth = args["limit"], args["max_depth"]
    pattern = args.get("type_filter")
    out: list[dict[str, Any]] = []
    truncated = False
    budget = Budget()
    stack = [(child, 1) for child in reversed(root.children())]
    while stack:
        node, depth = stack.pop()
        kind = type_name(node)
        if pattern is None or fnmatch.fnmatchcase(kind, pattern):
            entry = {"path": node.path(), "type": kind, "depth": depth}
            if len(out) == limit or not budget.take(entry):
                truncated = True
                break
            out.append(entry)
        if depth < max_depth:
            stack.extend((child, depth + 1) for child in reversed(node.children()))
    return {"root": root.path(), "nodes": out, "truncated": truncated}


LIST_NODES = make_tool(
    "houdini_list_nodes",
    "List the nodes under a network path, depth first: [{path, type, depth}] (depth 1 = direct children). "
    "Filter by node type name with type_filter (a glob such as 'attribwrangle' or '*light*'). Bounded by limit; "
    "the result says truncated: true when there were more. Use houdini_node_info on a path for details.",
    list_nodes,
    {
        "root": {**path_prop("Absolute path of the network to list, e.g. / or /obj/geo1."), "default": "/"},
        "max_depth": {"type": "integer", "minimum": 1, "maximum": 20, "default": 2,
                      "description": "How many levels below root to descend (1 = direct children)."},
        "type_filter": {"type": "string", "minLength": 1, "maxLength": 200,
                        "description": "Glob on the node type name (e.g. 'attribwrangle', '*light*')."},
        "limit": limit_prop(500, 5000, "nodes"),
    },
    read_only=True,
)


# ------------------------------------------------------------------ node_info


def _parm_entry(parm: Any, include_code: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": parm.name()}
    try:
        expression = parm.expression()
    except Exception:  # noqa: BLE001 - hou.OperationFailed: no expression
        expression = None
    value = parm.eval()
    if isinstance(value, str) and parm.name() in CODE_PARMS and not include_code:
        if len(value) > CODE_PREVIEW_CHARS:
            value = value[:CODE_PREVIEW_CHARS] + f"... [{len(value)} chars; call again with include_code: true]"
    elif isinstance(value, str):
        value = clip(value, 20_000 if include_code and parm.name() in CODE_PARMS else MAX_STRING_CHARS)
    entry["value"] = _json_value(value) if not isinstance(value, str) else value
    if expression is not None:
        entry["expression"] = clip(expression, 500)
    return entry


def _flags(node: Any) -> dict[str, bool]:
    flags = {}
    for flag, getter in (("display", "isDisplayFlagSet"), ("render", "isRenderFlagSet"),
                         ("bypass", "isBypassed"), ("template", "isTemplateFlagSet")):
        fn = getattr(node, getter, None)
        if callable(fn):
            flags[flag] = bool(fn())
    return flags


def node_info(args: dict) -> dict[str, Any]:
    node = get_node(args["path"])
    errors, warnings = messages(node)
    parent = node.parent()
    node_type = node.type()
    info: dict[str, Any] = {
        "path": node.path(),
        "name": node.name(),
        "type": node_type.name(),
        "type_label": node_type.description(),
        "category": node_type.category().name(),
        "parent": parent.path() if parent is not None else None,
        "inputs": [{"index": i, "path": n.path()} for i, n in enumerate(node.inputs()) if n is not None],
        "outputs": sorted({n.path() for n in node.outputs()}),
        "flags": _flags(node),
        "errors": errors,
        "warnings": warnings,
        "child_count": len(node.children()),
    }
    if args["include_parms"]:
        all_parms = node.parms() if callable(getattr(node, "parms", None)) else ()
        parms = [p for p in all_parms if not p.isAtDefault()]
        shown, truncated = bounded(parms, MAX_PARMS)
        budget = Budget()
        entries = []
        for parm in shown:
            entry = _parm_entry(parm, args["include_code"])
            if not budget.take(entry):
                truncated = True
                break
            entries.append(entry)
        info["parms"] = entries
        info["parms_truncated"] = truncated
        info["parms_note"] = "only parms that differ from their defaults; see houdini_node_type_help for all"
    return info


NODE_INFO = make_tool(
    "houdini_node_info",
    "Details of one node: type, category, parent, inputs [{index, path}], outputs, flags, errors and warnings, "
    "child count and (include_parms) its parms that differ from their defaults [{name, value, expression?}]. Code "
    "parms (wrangle snippets, Python) are previewed; pass include_code: true to read them in full. For the list "
    "of every parm a type has, call houdini_node_type_help.",
    node_info,
    {
        "path": path_prop("Absolute node path, e.g. /obj/geo1/attribwrangle1."),
        "include_parms": {"type": "boolean", "default": True, "description": "Include non-default parm values."},
        "include_code": {"type": "boolean", "default": False, "description": "Show code parms in full."},
    },
    required=["path"],
    read_only=True,
)


# ------------------------------------------------------------------ selection


def get_selection(args: dict) -> dict[str, Any]:
    hou = hou_module()
    shown, truncated = bounded(hou.selectedNodes(), 200)
    return {"nodes": [{"path": n.path(), "type": type_name(n)} for n in shown], "truncated": truncated}


GET_SELECTION = make_tool(
    "houdini_get_selection",
    "The nodes the artist has selected, in selection order: [{path, type}] (at most 200). Empty when nothing is "
    "selected. Use it when the artist says 'this node' or 'the selected nodes'.",
    get_selection,
    read_only=True,
)


# ------------------------------------------------------------------ find_errors


def find_errors(args: dict) -> dict[str, Any]:
    root = get_node(args["root"], "root")
    limit = args["limit"]
    found: list[dict[str, Any]] = []
    counts = {"errors": 0, "warnings": 0}
    checked = 0
    budget = Budget()
    for node in (root, *root.allSubChildren(True, False)):
        checked += 1
        errors = node.errors()
        warnings = node.warnings()
        if not errors and not warnings:
            continue
        counts["errors"] += bool(errors)
        counts["warnings"] += bool(warnings) and not errors
        if len(found) < limit and not budget.exhausted:
            entry = {"path": node.path(), "type": type_name(node), "severity": "error" if errors else "warning",
                     "errors": [clip(m, 500) for m in errors[:5]], "warnings": [clip(m, 500) for m in warnings[:5]]}
            if budget.take(entry):
                found.append(entry)
    found.sort(key=lambda e: (e["severity"] != "error", e["path"]))
    return {"root": root.path(), "nodes": found, "nodes_checked": checked, "nodes_with_errors": counts["errors"],
            "nodes_with_warnings_only": counts["warnings"], "truncated": counts["errors"] + counts["warnings"] > len(found)}


FIND_ERRORS = make_tool(
    "houdini_find_errors",
    "Every node under root (inside locked assets excluded) with errors or warnings: [{path, type, severity, errors, "
    "warnings}] (errors first, at most 5 messages each), plus counts of nodes checked and with problems. Bounded by "
    "limit (truncated: true when cut). Fix a node and call houdini_cook on it to see whether the error is gone.",
    find_errors,
    {"root": {**path_prop("Absolute path to search under, e.g. / or /obj/geo1."), "default": "/"},
     "limit": limit_prop(200, 2000, "nodes")},
    read_only=True,
)


# ------------------------------------------------------------------ geometry


def _attrib_entries(geo: Any, limit: int) -> tuple[list[dict[str, Any]], bool]:
    budget = Budget()
    classes = (("point", geo.pointAttribs, geo.point), ("prim", geo.primAttribs, geo.prim),
               ("vertex", geo.vertexAttribs, None), ("detail", geo.globalAttribs, None))
    out: list[dict[str, Any]] = []
    for klass, list_fn, element in classes:
        for attrib in list_fn():
            if len(out) == limit:
                return out, True
            entry: dict[str, Any] = {"name": attrib.name(), "class": klass, "type": attrib.dataType().name().lower(),
                                     "size": attrib.size()}
            if klass == "detail":
                entry["value"] = _json_value(geo.attribValue(attrib))
            elif element is not None:
                sample = []
                for i in range(3):
                    item = element(i)
                    if item is None:
                        break
                    sample.append(_json_value(item.attribValue(attrib)))
                entry["sample"] = sample
            if not budget.take(entry):
                return out, True
            out.append(entry)
    return out, False


def geometry_summary(args: dict) -> dict[str, Any]:
    node = get_node(args["path"])
    if not callable(getattr(node, "geometry", None)):
        display = getattr(node, "displayNode", None)
        if callable(display) and display() is not None:
            node = display()
        else:
            raise NotSupported(f"{node.path()} is a {node.type().category().name()} node without SOP geometry; "
                               "pass a SOP path (for USD use houdini_usd_prims)")
    geo = node.geometry()
    if geo is None:
        errors, _ = messages(node)
        raise CookError(f"{node.path()} has no geometry: its cook failed: {'; '.join(errors) or 'no message'}")
    bbox = geo.boundingBox()
    lo, hi = bbox.minvec(), bbox.maxvec()
    attributes, truncated = _attrib_entries(geo, args["limit"])
    return {
        "path": node.path(),
        "points": geo.pointCount(),
        "prims": geo.primCount(),
        "vertices": geo.vertexCount(),
        "bbox": {"min": [lo[0], lo[1], lo[2]], "max": [hi[0], hi[1], hi[2]]},
        "attributes": attributes,
        "truncated": truncated,
    }


GEOMETRY_SUMMARY = make_tool(
    "houdini_geometry_summary",
    "Summary of a SOP node's cooked geometry (an OBJ geometry node means its display SOP): point/prim/vertex counts, "
    "bounding box, and its attributes [{name, class (point|prim|vertex|detail), type, size, sample of the first 3 "
    "values (detail: value)}], bounded by limit. A failed cook is a CookError with the node's errors.",
    geometry_summary,
    {"path": path_prop("Absolute path of a SOP node (or an OBJ geometry node)."),
     "limit": limit_prop(50, 500, "attributes")},
    required=["path"],
    read_only=True,
)


# ------------------------------------------------------------------ node type help


def node_type_help(args: dict) -> dict[str, Any]:
    hou = hou_module()
    categories = hou.nodeTypeCategories()
    category = categories.get(args["category"])
    if category is None:
        raise InvalidInput(f"input.category: unknown category {args['category']!r}; known: {sorted(categories)[:40]}")
    node_type = category.nodeType(args["type_name"])
    if node_type is None:
        raise InvalidInput(f"input.type_name: no {args['category']} node type named {args['type_name']!r}; "
                           "use the internal name (e.g. 'attribwrangle', not 'Attribute Wrangle')")
    templates, truncated = bounded(flat_templates(node_type.parmTemplateGroup().parmTemplates()), 150)
    parms = []
    for template in templates:
        entry = {"name": template.name(), "label": template.label(), "type": template.type().name(),
                 "components": template.numComponents()}
        items = getattr(template, "menuItems", None)
        if callable(items) and template.type().name() == "Menu":
            entry["menu_items"] = list(items())[:50]
        parms.append(entry)
    return {
        "type_name": node_type.name(),
        "category": category.name(),
        "description": node_type.description(),
        "inputs": {"min": node_type.minNumInputs(), "max": node_type.maxNumInputs()},
        "parms": parms,
        "parms_truncated": truncated,
        "help": clip(node_type.embeddedHelp(), 4000),
        "help_url": node_type.helpUrl(),
    }


NODE_TYPE_HELP = make_tool(
    "houdini_node_type_help",
    "What a node type is and which parms it has: description, number of inputs, parm templates [{name, label, type, "
    "components, menu_items?}] (tuple parms like 't' take a list of values in houdini_set_parms) and its help text "
    "(clipped). category is the node type category: Sop, Lop, Object, Driver, Dop, Cop, Top, Vop, Chop...",
    node_type_help,
    {"type_name": {"type": "string", "minLength": 1, "maxLength": 200, "description": "Internal type name, e.g. attribwrangle."},
     "category": {"type": "string", "minLength": 1, "maxLength": 50, "description": "Sop, Lop, Object, Driver, ..."}},
    required=["type_name", "category"],
    read_only=True,
)

TOOLS = [SCENE_INFO, LIST_NODES, NODE_INFO, GET_SELECTION, FIND_ERRORS, GEOMETRY_SUMMARY, NODE_TYPE_HELP]
