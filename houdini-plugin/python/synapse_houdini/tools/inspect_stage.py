"""``synapse_inspect_stage``: a structured snapshot of a LOP network (contract).

Input: ``{"target_path": "/stage"}`` (default ``/stage``). The path must match
``/[a-zA-Z0-9_][a-zA-Z0-9_/]*`` as a whole (a trailing newline does not match) else ``InvalidTargetPathError``; a path with no
node is ``StageNotFoundError``.

Output: ``{"schema_version": "1.0.0", "target_path", "nodes": [...]}`` with the
target's children (or the target itself when it has none) sorted by path, each
node carrying exactly :data:`NODE_KEYS`. One bad node never aborts the walk: its
entry reports ``error_state: "error"`` with the failure as ``error_message``. If
the target node itself is deleted mid-walk, ``hou.ObjectWasDeleted`` propagates
so the model is told to re-inspect.
"""

from __future__ import annotations

import re
from typing import Any, Optional

from ..errors import ToolError
from .common import SceneUnavailable
from .schema import InvalidInput
from . import ToolDef

SCHEMA_VERSION = "1.0.0"
DEFAULT_TARGET = "/stage"
TARGET_PATH_RE = re.compile(r"/[a-zA-Z0-9_][a-zA-Z0-9_/]*")  # used with fullmatch: no trailing newline
MAX_ERROR_MESSAGE_CHARS = 500

#: The keys of every node entry, exactly (contract).
NODE_KEYS = (
    "node_name",
    "node_type",
    "hou_path",
    "usd_prim_paths",
    "display_flag",
    "bypass_flag",
    "error_state",
    "error_message",
    "inputs",
    "outputs",
    "children",
    "key_parms",
    "provenance",
)


class InvalidTargetPathError(ToolError):
    """``target_path`` does not look like a Houdini node path."""

    error_type = "InvalidTargetPathError"


class StageNotFoundError(ToolError):
    """No node exists at ``target_path``."""

    error_type = "StageNotFoundError"


def _clip(text: str) -> str:
    return text if len(text) <= MAX_ERROR_MESSAGE_CHARS else text[: MAX_ERROR_MESSAGE_CHARS - 3] + "..."


def _messages(node: Any, method: str) -> list[str]:
    fn = getattr(node, method, None)
    if fn is None:
        return []
    return [str(m) for m in (fn() or ())]


def _connections(nodes: Any) -> list[dict[str, Any]]:
    out = []
    for index, other in enumerate(nodes or ()):
        if other is None:  # an unconnected input slot
            continue
        out.append({"index": index, "path": other.path()})
    return out


def _blank_entry(path: str) -> dict[str, Any]:
    return {
        "node_name": path.rsplit("/", 1)[-1],
        "node_type": None,
        "hou_path": path,
        "usd_prim_paths": [],
        "display_flag": False,
        "bypass_flag": False,
        "error_state": "error",
        "error_message": None,
        "inputs": [],
        "outputs": [],
        "children": [],
        "key_parms": {},
        "provenance": None,
    }


def describe_node(node: Any) -> dict[str, Any]:
    """One node's entry; raises if the node cannot be read (the caller contains it)."""
    errors = _messages(node, "errors")
    warnings = _messages(node, "warnings")
    bypassed = bool(node.isBypassed()) if hasattr(node, "isBypassed") else False
    if errors:
        state, message = "error", _clip("\n".join(errors))
    elif warnings:
        state, message = "warning", _clip("\n".join(warnings))
    else:
        state, message = "clean", None
    prims: list[str] = []
    if state != "error" and not bypassed and hasattr(node, "lastModifiedPrims"):
        prims = sorted(str(p) for p in (node.lastModifiedPrims() or ()))
    return {
        "node_name": node.name(),
        "node_type": node.type().name(),
        "hou_path": node.path(),
        "usd_prim_paths": prims,
        "display_flag": bool(node.isDisplayFlagSet()) if hasattr(node, "isDisplayFlagSet") else False,
        "bypass_flag": bypassed,
        "error_state": state,
        "error_message": message,
        "inputs": _connections(node.inputs()),
        "outputs": sorted({other.path() for other in (node.outputs() or ())}),
        "children": [],
        "key_parms": {},
        "provenance": None,
    }


def _safe_path(node: Any, fallback: str) -> str:
    try:
        return str(node.path())
    except Exception:  # noqa: BLE001 - deleted or broken node
        return fallback


def inspect_stage(tool_input: Optional[dict]) -> dict[str, Any]:
    """The tool body (runs on Houdini's main thread)."""
    import hou  # type: ignore[import-not-found]

    tool_input = tool_input or {}
    if not isinstance(tool_input, dict):
        raise InvalidInput(f"input: expected object, got {type(tool_input).__name__}")
    extra = sorted(str(k) for k in tool_input if k != "target_path")
    if extra:
        raise InvalidInput(f"input.{extra[0]}: unknown field (allowed: target_path)")
    target_path = tool_input.get("target_path", DEFAULT_TARGET)
    if not isinstance(target_path, str) or TARGET_PATH_RE.fullmatch(target_path) is None:
        raise InvalidTargetPathError(
            f"target_path {target_path!r} is not a node path like '/stage' "
            "(it must match ^/[a-zA-Z0-9_][a-zA-Z0-9_/]*$)."
        )
    if hou.node("/obj") is None:  # a deferred call arriving while the scene is torn down or loaded
        raise SceneUnavailable("Houdini's scene is not available right now (being loaded or closed); try again")
    target = hou.node(target_path)
    if target is None:
        raise StageNotFoundError(f"No node exists at {target_path!r}. Check the path (LOP networks usually live under /stage).")
    children = list(target.children())  # hou.ObjectWasDeleted here propagates: the target is gone
    walk = children if children else [target]
    entries = []
    for index, node in enumerate(walk):
        fallback = f"{target_path.rstrip('/')}/<node {index}>"
        try:
            entries.append(describe_node(node))
        except Exception as exc:  # noqa: BLE001 - one bad node never aborts the walk
            entry = _blank_entry(_safe_path(node, fallback))
            entry["error_message"] = _clip(f"{type(exc).__name__}: {exc}")
            entries.append(entry)
    entries.sort(key=lambda e: e["hou_path"])
    return {"schema_version": SCHEMA_VERSION, "target_path": target_path, "nodes": entries}


TOOL = ToolDef(
    name="synapse_inspect_stage",
    description=(
        "Inspect a Solaris/LOP network: for every node under target_path (default /stage), "
        "its name, type, path, the USD prim paths it last modified, display/bypass flags, "
        "error state and message, and its input/output connections. Read-only. Call it "
        "again after an ObjectWasDeleted error: the scene changed."
    ),
    input_schema={
        "type": "object",
        "properties": {
            "target_path": {
                "type": "string",
                "description": "Houdini path of the LOP network or node to inspect, e.g. /stage.",
                "default": DEFAULT_TARGET,
                "pattern": "^/[a-zA-Z0-9_][a-zA-Z0-9_/]*$",
            }
        },
        "additionalProperties": False,
    },
    read_only=True,
    fn=inspect_stage,
)
