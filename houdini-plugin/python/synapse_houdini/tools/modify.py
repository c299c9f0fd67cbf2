"""Tools that change the scene. Each runs in one undo group (``Synapse: TOOL``, see host.py).

Every body checks its whole input against the scene first (nodes exist, names
are free, parms exist and take the given values, indices are in range) and only
then changes anything, so a refused call leaves the scene as it was.
``houdini_delete_nodes`` and ``houdini_save_hip`` are destructive.
"""

from __future__ import annotations

import os
import re
import time
from typing import Any

from . import parms as _parms
from .common import (
    CookError,
    InvalidInput,
    NotSupported,
    get_node,
    hou_module,
    make_tool,
    messages,
    path_prop,
    type_name,
)

NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]{0,127}")
RUN_OVER = {"Detail": "detail", "Primitives": "primitive", "Points": "point", "Vertices": "vertex", "Numbers": "number"}
HIP_EXTENSIONS = (".hip", ".hipnc", ".hiplc")
PARMS_PROP = {"type": "object", "maxProperties": 100,
              "description": "Parm name -> value: a number, string or bool; a list for a tuple parm such as t or r; "
                             "a menu token or index for menus."}
EXPRESSIONS_PROP = {"type": "object", "maxProperties": 100, "additionalProperties": {"type": "string", "maxLength": 10000},
                    "description": "Parm name -> HScript expression, e.g. {\"ty\": \"sin($F*10)\"}."}
NAME_PROP = {"type": "string", "minLength": 1, "maxLength": 128, "description": "Node name: letters, digits, _ . -"}


def _network(path: str, field: str) -> Any:
    node = get_node(path, field)
    if node.childTypeCategory() is None:
        raise InvalidInput(f"input.{field}: {node.path()} is a {type_name(node)} node, not a network that can hold nodes")
    return node


def _check_name(parent: Any, name: str, field: str, ignore: Any = None) -> None:
    if not NAME_RE.fullmatch(name):
        raise InvalidInput(f"input.{field}: {name!r} is not a valid node name (letters, digits, _ . -; not starting "
                           "with a digit)")
    for child in parent.children():
        if child.name() == name and child is not ignore:
            raise InvalidInput(f"input.{field}: {parent.path()} already has a node named {name!r}")


def _same_network(node: Any, other: Any, field: str) -> None:
    if other.parent() is None or node.parent() is None or other.parent().path() != node.parent().path():
        raise InvalidInput(f"input.{field}: {other.path()} is not in the same network as {node.path()}")


def _report(node: Any) -> dict[str, Any]:
    errors, warnings = messages(node)
    return {"path": node.path(), "type": type_name(node), "errors": errors, "warnings": warnings}


# ------------------------------------------------------------------ create / set


def create_node(args: dict) -> dict[str, Any]:
    parent = _network(args["parent"], "parent")
    category = parent.childTypeCategory()
    if category.nodeType(args["type"]) is None:
        raise InvalidInput(f"input.type: {parent.path()} holds {category.name()} nodes and there is no "
                           f"{category.name()} type named {args['type']!r}; use the internal name (houdini_node_type_help)")
    if "name" in args:
        _check_name(parent, args["name"], "name")
    inputs = [get_node(p, f"input_paths[{i}]") for i, p in enumerate(args.get("input_paths", []))]
    max_inputs = category.nodeType(args["type"]).maxNumInputs()
    if len(inputs) > max_inputs:
        raise InvalidInput(f"input.input_paths: a {args['type']} node takes at most {max_inputs} inputs")
    for i, upstream in enumerate(inputs):
        if upstream.parent() is None or upstream.parent().path() != parent.path():
            raise InvalidInput(f"input.input_paths[{i}]: {upstream.path()} is not inside {parent.path()}")
    _parms.precheck(category.nodeType(args["type"]), args.get("parms", {}))  # before anything exists
    node = parent.createNode(args["type"], args.get("name"))
    try:
        steps = _parms.plan(node, args.get("parms", {}), {})
    except Exception:
        node.destroy()  # the type's templates and the node disagree (an HDA's own parms): leave nothing behind
        raise
    for index, upstream in enumerate(inputs):
        node.setInput(index, upstream, 0)
    _parms.apply(steps)
    node.moveToGoodPosition()
    return _report(node)


CREATE_NODE = make_tool(
    "houdini_create_node",
    "Create a node of an internal type name (e.g. 'box', 'attribwrangle', 'sphere') inside a network, optionally "
    "named, wired to input_paths (in order, same network) and with parms set. Returns {path, type, errors, "
    "warnings}. A wrong parm name or value creates nothing (InvalidParm). For VEX, houdini_create_wrangle is simpler.",
    create_node,
    {"parent": path_prop("Absolute path of the network, e.g. /obj/geo1 or /stage."),
     "type": {"type": "string", "minLength": 1, "maxLength": 200, "description": "Internal node type name."},
     "name": NAME_PROP,
     "input_paths": {"type": "array", "maxItems": 64, "items": path_prop("Absolute node path."),
                     "description": "Nodes to connect to inputs 0, 1, ..."},
     "parms": PARMS_PROP},
    required=["parent", "type"],
    read_only=False,
)


def set_parms(args: dict) -> dict[str, Any]:
    node = get_node(args["path"])
    values, expressions = args.get("parms", {}), args.get("expressions", {})
    if not values and not expressions:
        raise InvalidInput("input.parms: give at least one parm value (or input.expressions)")
    steps = _parms.plan(node, values, expressions)
    return {"path": node.path(), "changed": _parms.apply(steps)}


SET_PARMS = make_tool(
    "houdini_set_parms",
    "Set parms of a node: values in parms (a list for tuple parms like t/r/s, a token or index for menus) and HScript "
    "expressions in expressions. All are checked first: one unknown parm or wrong-typed value changes nothing "
    "(InvalidParm, with close names). A value replaces an existing expression. Returns {path, changed: [{parm, old, "
    "new, expression?}]}.",
    set_parms,
    {"path": path_prop("Absolute node path."), "parms": PARMS_PROP, "expressions": EXPRESSIONS_PROP},
    required=["path"],
    read_only=False,
)


# ------------------------------------------------------------------ wiring


def connect(args: dict) -> dict[str, Any]:
    source = get_node(args["from_path"], "from_path")
    target = get_node(args["to_path"], "to_path")
    if source.path() == target.path():
        raise InvalidInput("input.to_path: a node cannot be its own input")
    _same_network(target, source, "from_path")
    max_inputs = target.type().maxNumInputs()
    if args["input_index"] >= max_inputs:
        raise InvalidInput(f"input.input_index: {target.path()} has {max_inputs} input(s) (0-{max_inputs - 1})")
    target.setInput(args["input_index"], source, args["output_index"])
    return {"to_path": target.path(), "inputs": [{"index": i, "path": n.path()} for i, n in enumerate(target.inputs())
                                                  if n is not None]}


CONNECT = make_tool(
    "houdini_connect",
    "Wire from_path's output (output_index) into to_path's input input_index (both in the same network); replaces "
    "what was connected there. Returns to_path's inputs [{index, path}].",
    connect,
    {"from_path": path_prop("Upstream node."), "to_path": path_prop("Downstream node."),
     "input_index": {"type": "integer", "minimum": 0, "maximum": 9999, "default": 0},
     "output_index": {"type": "integer", "minimum": 0, "maximum": 99, "default": 0}},
    required=["from_path", "to_path"],
    read_only=False,
)


def disconnect(args: dict) -> dict[str, Any]:
    node = get_node(args["path"])
    inputs = node.inputs()
    index = args["input_index"]
    if index >= len(inputs) or inputs[index] is None:
        raise InvalidInput(f"input.input_index: input {index} of {node.path()} is not connected")
    was = inputs[index].path()
    node.setInput(index, None)
    return {"path": node.path(), "input_index": index, "disconnected": was}


DISCONNECT = make_tool(
    "houdini_disconnect",
    "Disconnect input input_index of a node. Returns {path, input_index, disconnected: the former input's path}.",
    disconnect,
    {"path": path_prop("Absolute node path."), "input_index": {"type": "integer", "minimum": 0, "maximum": 9999}},
    required=["path", "input_index"],
    read_only=False,
)


FLAG_METHODS = {"display": ("isDisplayFlagSet", "setDisplayFlag"), "render": ("isRenderFlagSet", "setRenderFlag"),
                "bypass": ("isBypassed", "bypass"), "template": ("isTemplateFlagSet", "setTemplateFlag")}


def set_flags(args: dict) -> dict[str, Any]:
    node = get_node(args["path"])
    wanted = {flag: args[flag] for flag in FLAG_METHODS if flag in args}
    if not wanted:
        raise InvalidInput("input: give at least one of display, render, bypass, template")
    for flag in wanted:
        if not callable(getattr(node, FLAG_METHODS[flag][1], None)):
            raise NotSupported(f"{node.path()} ({node.type().category().name()}) has no {flag} flag")
    for flag, on in wanted.items():
        getattr(node, FLAG_METHODS[flag][1])(on)
    return {"path": node.path(), "flags": {f: bool(getattr(node, FLAG_METHODS[f][0])()) for f in wanted}}


SET_FLAGS = make_tool(
    "houdini_set_flags",
    "Set a node's display, render, bypass and/or template flags (only those given). SOPs have all four; LOPs "
    "display and bypass; objects display. Returns {path, flags}.",
    set_flags,
    {"path": path_prop("Absolute node path."), "display": {"type": "boolean"}, "render": {"type": "boolean"},
     "bypass": {"type": "boolean"}, "template": {"type": "boolean"}},
    required=["path"],
    read_only=False,
)


def rename_node(args: dict) -> dict[str, Any]:
    node = get_node(args["path"])
    parent = node.parent()
    if parent is None or parent.parent() is None:
        raise InvalidInput(f"input.path: {node.path()} is a top-level network and cannot be renamed")
    _check_name(parent, args["new_name"], "new_name", ignore=node)
    old = node.path()
    node.setName(args["new_name"])
    return {"path": node.path(), "old_path": old}


RENAME_NODE = make_tool(
    "houdini_rename_node",
    "Rename a node (the name must be free in its network). Returns {path: the new path, old_path}; nodes inside it "
    "get new paths too.",
    rename_node,
    {"path": path_prop("Absolute node path."), "new_name": NAME_PROP},
    required=["path", "new_name"],
    read_only=False,
)


def layout(args: dict) -> dict[str, Any]:
    parent = _network(args["parent"], "parent")
    parent.layoutChildren()
    return {"parent": parent.path(), "nodes": len(parent.children())}


LAYOUT = make_tool(
    "houdini_layout",
    "Tidy the node positions inside a network (like pressing L in the network editor). Returns {parent, nodes}.",
    layout,
    {"parent": path_prop("Absolute path of the network.")},
    required=["parent"],
    read_only=False,
)


# ------------------------------------------------------------------ wrangle / cook / frame


def _cook(node: Any, force: bool) -> float:
    hou = hou_module()
    t0 = time.perf_counter()
    try:
        node.cook(force=force)
    except hou.OperationFailed:
        pass  # the node's errors say why
    return round((time.perf_counter() - t0) * 1000.0, 3)


def create_wrangle(args: dict) -> dict[str, Any]:
    parent = _network(args["parent"], "parent")
    if parent.childTypeCategory().name() != "Sop":
        raise NotSupported(f"{parent.path()} holds {parent.childTypeCategory().name()} nodes; wrangles here are SOP "
                           "attribute wrangles: give a SOP network such as /obj/geo1")
    if "name" in args:
        _check_name(parent, args["name"], "name")
    upstream = get_node(args["input_path"], "input_path") if "input_path" in args else None
    if upstream is not None and (upstream.parent() is None or upstream.parent().path() != parent.path()):
        raise InvalidInput(f"input.input_path: {upstream.path()} is not inside {parent.path()}")
    node = parent.createNode("attribwrangle", args.get("name"))
    _parms.apply(_parms.plan(node, {"snippet": args["code"], "class": RUN_OVER[args["run_over"]]}, {}))
    if upstream is not None:
        node.setInput(0, upstream, 0)
    _cook(node, True)
    return _report(node)


CREATE_WRANGLE = make_tool(
    "houdini_create_wrangle",
    "Create a SOP Attribute Wrangle running VEX code over Points/Primitives/Vertices/Detail/Numbers, wired after "
    "input_path, and cook it. Returns {path, type, errors, warnings}: non-empty errors mean the VEX did not compile "
    "or cook; fix the code with houdini_set_parms {path, parms: {snippet: ...}} and houdini_cook.",
    create_wrangle,
    {"parent": path_prop("Absolute path of the SOP network, e.g. /obj/geo1."),
     "code": {"type": "string", "minLength": 1, "maxLength": 100000, "description": "VEX snippet, e.g. @P.y += 1;"},
     "input_path": path_prop("Node to wire into input 0 (same network)."),
     "run_over": {"type": "string", "enum": list(RUN_OVER), "default": "Points"},
     "name": NAME_PROP},
    required=["parent", "code"],
    read_only=False,
)


def cook(args: dict) -> dict[str, Any]:
    node = get_node(args["path"])
    if not callable(getattr(node, "cook", None)):
        raise NotSupported(f"{node.path()} cannot be cooked")
    cook_ms = _cook(node, args["force"])
    errors, warnings = messages(node)
    if errors:
        raise CookError(f"{node.path()} failed to cook: " + " | ".join(errors)
                        + (f" (warnings: {' | '.join(warnings)})" if warnings else ""))
    return {"path": node.path(), "errors": errors, "warnings": warnings, "cook_ms": cook_ms}


COOK = make_tool(
    "houdini_cook",
    "Cook a node now (force: true re-cooks even if nothing changed). Returns {path, errors: [], warnings, cook_ms}; "
    "a failed cook is a CookError whose message holds the node's errors. Long cooks block Houdini: cook single "
    "nodes, not whole render graphs.",
    cook,
    {"path": path_prop("Absolute node path."), "force": {"type": "boolean", "default": False}},
    required=["path"],
    read_only=False,
)


def set_frame(args: dict) -> dict[str, Any]:
    hou = hou_module()
    hou.setFrame(args["frame"])
    return {"frame": float(hou.frame())}


SET_FRAME = make_tool(
    "houdini_set_frame",
    "Go to a frame (the playbar's current frame). Returns {frame}.",
    set_frame,
    {"frame": {"type": "number", "minimum": -1000000, "maximum": 1000000}},
    required=["frame"],
    read_only=False,
)


# ------------------------------------------------------------------ destructive


def delete_nodes(args: dict) -> dict[str, Any]:
    nodes = []
    for i, path in enumerate(args["paths"]):
        node = get_node(path, f"paths[{i}]")
        parent = node.parent()
        if parent is None or parent.parent() is None:
            raise InvalidInput(f"input.paths[{i}]: {node.path()} is a top-level network and cannot be deleted")
        nodes.append(node)
    unique = {n.path(): n for n in nodes}
    # A node inside another deleted node goes with it.
    roots = [p for p in sorted(unique) if not any(p.startswith(q + "/") for q in unique if q != p)]
    for path in roots:
        unique[path].destroy()
    return {"deleted": roots}


DELETE_NODES = make_tool(
    "houdini_delete_nodes",
    "Delete nodes (with everything inside them). All paths are checked first: one missing path deletes nothing "
    "(NodeNotFound). Returns {deleted: [path]}. The artist can undo it, but prefer bypassing when unsure.",
    delete_nodes,
    {"paths": {"type": "array", "minItems": 1, "maxItems": 100, "items": path_prop("Absolute node path.")}},
    required=["paths"],
    read_only=False,
    destructive=True,
)


def save_hip(args: dict) -> dict[str, Any]:
    hou = hou_module()
    current = hou.hipFile.path()
    path = args.get("path") or current
    if not os.path.isabs(path) or not path.endswith(HIP_EXTENSIONS):
        raise InvalidInput(f"input.path: {path!r} must be an absolute path ending in .hip, .hipnc or .hiplc")
    if not os.path.isdir(os.path.dirname(path)):
        raise InvalidInput(f"input.path: the folder {os.path.dirname(path)!r} does not exist")
    if os.path.exists(path) and os.path.realpath(path) != os.path.realpath(current):
        raise InvalidInput(f"input.path: {path!r} already exists and is not the open scene; choose a new file name")
    hou.hipFile.save(path, False)
    return {"path": hou.hipFile.path()}


SAVE_HIP = make_tool(
    "houdini_save_hip",
    "Save the scene: to its current file, or to path (a new .hip/.hipnc/.hiplc file; an existing other file is never "
    "overwritten). Saving cannot be undone. Returns {path}.",
    save_hip,
    {"path": {"type": "string", "minLength": 1, "maxLength": 4096, "description": "Absolute path of a new hip file."}},
    read_only=False,
    destructive=True,
)

TOOLS = [CREATE_NODE, SET_PARMS, CONNECT, DISCONNECT, SET_FLAGS, RENAME_NODE, LAYOUT, CREATE_WRANGLE, COOK,
         SET_FRAME, DELETE_NODES, SAVE_HIP]
