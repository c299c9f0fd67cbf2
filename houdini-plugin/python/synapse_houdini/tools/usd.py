"""Read-only USD tools: the LOP network snapshot (``synapse_inspect_stage``) and the composed stage of a LOP node.

``houdini_usd_prims`` walks the prim hierarchy of a LOP node's stage from a prim,
``houdini_usd_prim_info`` describes one prim (type, kind, attributes with their
default-time values, relationships, variant selections). Values are made JSON:
vectors become lists, arrays are cut to their first items with their length.
"""

from __future__ import annotations

from typing import Any

from ..errors import ToolError
from .common import Budget, InvalidInput, CookError, NotSupported, bounded, clip, get_node, limit_prop, make_tool, messages, path_prop
from .inspect_stage import TOOL as INSPECT_STAGE

MAX_ATTRIBUTES = 100
MAX_ARRAY_ITEMS = 8


class PrimNotFound(ToolError):
    error_type = "PrimNotFound"


def _stage_of(lop_path: str) -> Any:
    node = get_node(lop_path, "lop_path")
    if not callable(getattr(node, "stage", None)):
        raise NotSupported(f"{node.path()} is a {node.type().category().name()} node, not a LOP node: it has no USD "
                           "stage (LOP networks usually live under /stage)")
    stage = node.stage()
    if stage is None:
        errors, _ = messages(node)
        raise CookError(f"{node.path()} has no stage: its cook failed: {'; '.join(errors) or 'no message'}")
    return node, stage


def _prim_of(stage: Any, prim_path: str) -> Any:
    if not prim_path.startswith("/"):
        raise InvalidInput(f"input.prim_path: {prim_path!r} is not an absolute USD path (like /geo/sphere1)")
    try:
        prim = stage.GetPrimAtPath(prim_path)
    except Exception as exc:  # noqa: BLE001 - pxr raises on malformed paths
        raise InvalidInput(f"input.prim_path: {prim_path!r} is not a valid USD path ({exc})") from exc
    if not prim or not prim.IsValid():
        raise PrimNotFound(f"no prim at {prim_path!r} on this stage; call houdini_usd_prims with a parent path")
    return prim


def usd_value(value: Any) -> Any:
    """A USD attribute value as JSON (bounded)."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return clip(value, 500)
    if hasattr(value, "__len__") and hasattr(value, "__getitem__") and not isinstance(value, (bytes, dict)):
        try:
            n = len(value)
            items = [usd_value(value[i]) for i in range(min(n, MAX_ARRAY_ITEMS))]
        except Exception:  # noqa: BLE001
            return clip(str(value), 500)
        if n > MAX_ARRAY_ITEMS:
            return {"length": n, "first": items}
        return items
    return clip(str(value), 500)


def usd_prims(args: dict) -> dict[str, Any]:
    node, stage = _stage_of(args["lop_path"])
    start = _prim_of(stage, args["prim_path"])
    limit, max_depth = args["limit"], args["depth"]
    out: list[dict[str, Any]] = []
    truncated = False
    budget = Budget()
    stack = [(child, 1) for child in reversed(list(start.GetChildren()))]
    while stack:
        prim, depth = stack.pop()
        children = list(prim.GetChildren())
        entry = {"path": str(prim.GetPath()), "type": str(prim.GetTypeName()), "depth": depth,
                 "children": len(children), "active": bool(prim.IsActive())}
        if len(out) == limit or not budget.take(entry):
            truncated = True
            break
        out.append(entry)
        if depth < max_depth:
            stack.extend((child, depth + 1) for child in reversed(children))
    return {"lop_path": node.path(), "prim_path": str(start.GetPath()), "prims": out, "truncated": truncated}


USD_PRIMS = make_tool(
    "houdini_usd_prims",
    "The USD prim hierarchy of a LOP node's composed stage, under prim_path, depth first: [{path, type, depth, "
    "children (count), active}]. Bounded by limit (truncated: true when cut). Then houdini_usd_prim_info on a prim.",
    usd_prims,
    {
        "lop_path": path_prop("Absolute path of a LOP node, e.g. /stage/merge1."),
        "prim_path": {"type": "string", "minLength": 1, "maxLength": 2048, "default": "/",
                      "description": "USD path to start from (default the pseudo-root /)."},
        "depth": {"type": "integer", "minimum": 1, "maximum": 32, "default": 2, "description": "Levels to descend."},
        "limit": limit_prop(500, 5000, "prims"),
    },
    required=["lop_path"],
    read_only=True,
)


def usd_prim_info(args: dict) -> dict[str, Any]:
    node, stage = _stage_of(args["lop_path"])
    prim = _prim_of(stage, args["prim_path"])
    attributes, truncated = bounded(prim.GetAttributes(), MAX_ATTRIBUTES)
    attrs = []
    budget = Budget()
    for attr in attributes:
        entry: dict[str, Any] = {"name": attr.GetName(), "type": str(attr.GetTypeName())}
        entry["value"] = usd_value(attr.Get()) if attr.HasValue() else None
        if attr.GetNumTimeSamples():
            entry["time_samples"] = attr.GetNumTimeSamples()
        if not budget.take(entry):
            truncated = True
            break
        attrs.append(entry)
    rels = [{"name": r.GetName(), "targets": [str(t) for t in r.GetTargets()[:20]]}
            for r in list(prim.GetAuthoredRelationships())[:50]]
    variants = prim.GetVariantSets()
    return {
        "lop_path": node.path(),
        "path": str(prim.GetPath()),
        "type": str(prim.GetTypeName()),
        "kind": prim.GetMetadata("kind") or None,
        "active": bool(prim.IsActive()),
        "specifier": str(prim.GetSpecifier()).rsplit(".", 1)[-1],
        "children": [str(c.GetPath()) for c in list(prim.GetChildren())[:50]],
        "attributes": attrs,
        "attributes_truncated": truncated,
        "relationships": rels,
        "variant_selections": {name: variants.GetVariantSelection(name) for name in variants.GetNames()},
    }


USD_PRIM_INFO = make_tool(
    "houdini_usd_prim_info",
    "One USD prim of a LOP node's stage: type, kind, active, specifier, children (first 50), attributes [{name, "
    "type, value (default time; arrays cut with their length), time_samples?}] (first 100), authored relationships with "
    "their targets, variant selections. PrimNotFound when the path does not exist on that stage.",
    usd_prim_info,
    {"lop_path": path_prop("Absolute path of a LOP node, e.g. /stage/merge1."),
     "prim_path": {"type": "string", "minLength": 1, "maxLength": 2048, "description": "Absolute USD prim path."}},
    required=["lop_path", "prim_path"],
    read_only=True,
)

TOOLS = [INSPECT_STAGE, USD_PRIMS, USD_PRIM_INFO]
