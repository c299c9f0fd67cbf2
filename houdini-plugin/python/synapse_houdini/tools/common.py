"""What the catalogue's tools share: error types, node lookup, bounds, the tool builder.

Every catalogue tool is built by :func:`make_tool`: its body receives the input
already validated against its schema (defaults filled in), after a check that
Houdini's scene is there (``hou.node("/obj")``: a deferred callback may run while
a scene is being torn down or loaded). Bodies validate everything else they need
(paths, parms, values) before changing anything, so a bad input never leaves the
scene half-changed.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Iterable, Optional

from ..errors import ToolError
from . import ToolDef
from .schema import InvalidInput, validate

#: Longest string value returned as is; longer ones are clipped (with their length).
MAX_STRING_CHARS = 2000
#: Most messages (errors, warnings) reported per node.
MAX_MESSAGES = 20
#: JSON size a list result may reach before it is cut (the daemon's model-facing limit is 256 KiB).
RESULT_BUDGET_BYTES = 160_000


class NodeNotFound(ToolError):
    error_type = "NodeNotFound"


class InvalidParm(ToolError):
    error_type = "InvalidParm"


class CookError(ToolError):
    """A cook failed; ``errors``/``warnings`` are the node's messages (in the message too)."""

    error_type = "CookError"


class NotSupported(ToolError):
    error_type = "NotSupported"


class SceneUnavailable(ToolError):
    """``hou.node("/obj")`` is missing: the scene is being torn down or loaded."""

    error_type = "SceneUnavailable"


def hou_module() -> Any:
    import hou  # type: ignore[import-not-found]

    return hou


def clip(text: Any, limit: int = MAX_STRING_CHARS) -> str:
    """*text* as a string, cut to *limit* characters with its original length noted."""
    text = str(text)
    if len(text) <= limit:
        return text
    return text[:limit] + f"... [clipped: {len(text)} chars in all]"


def bounded(items: Iterable[Any], limit: int) -> tuple[list[Any], bool]:
    """The first *limit* items and whether there were more (reads at most limit + 1)."""
    out: list[Any] = []
    for item in items:
        if len(out) == limit:
            return out, True
        out.append(item)
    return out, False


class Budget:
    """Bounds a result's size: ``take(entry)`` is False once the entries would pass the budget."""

    def __init__(self, limit_bytes: int = RESULT_BUDGET_BYTES) -> None:
        self.left = limit_bytes
        self.exhausted = False

    def take(self, entry: Any) -> bool:
        size = len(json.dumps(entry, default=str)) + 1
        if size > self.left:
            self.exhausted = True
            return False
        self.left -= size
        return True


def check_path(path: str, field: str) -> str:
    if not path.startswith("/"):
        raise InvalidInput(f"input.{field}: {path!r} is not an absolute Houdini path (like /obj/geo1)")
    return path.rstrip("/") or "/"


def get_node(path: str, field: str = "path") -> Any:
    """The node at *path*, else :class:`NodeNotFound` naming the field."""
    path = check_path(path, field)
    node = hou_module().node(path)
    if node is None:
        raise NodeNotFound(
            f"no node at {path!r} (input.{field}); call houdini_list_nodes on its parent to see what exists"
        )
    return node


def messages(node: Any) -> tuple[list[str], list[str]]:
    """The node's errors and warnings, bounded and clipped."""
    errors = [clip(m, 500) for m in tuple(node.errors())[:MAX_MESSAGES]]
    warnings = [clip(m, 500) for m in tuple(node.warnings())[:MAX_MESSAGES]]
    return errors, warnings


def type_name(node: Any) -> str:
    return str(node.type().name())


def make_tool(
    name: str,
    description: str,
    body: Callable[[dict], Any],
    properties: Optional[dict] = None,
    required: Iterable[str] = (),
    *,
    read_only: bool,
    destructive: bool = False,
    timeout_s: Optional[float] = None,
) -> ToolDef:
    """A catalogue :class:`ToolDef` whose body only ever sees valid input."""
    schema: dict[str, Any] = {"type": "object", "properties": properties or {}, "additionalProperties": False}
    required = list(required)
    if required:
        schema["required"] = required

    def run(tool_input: Optional[dict]) -> Any:
        checked = validate(tool_input, schema)
        hou = hou_module()
        if hou.node("/obj") is None:
            raise SceneUnavailable("Houdini's scene is not available right now (being loaded or closed); try again")
        return body(checked)

    run.__name__ = name
    run.__doc__ = body.__doc__
    return ToolDef(name=name, description=description, fn=run, input_schema=schema, read_only=read_only,
                   destructive=destructive, timeout_s=timeout_s)


def path_prop(description: str) -> dict:
    return {"type": "string", "minLength": 1, "maxLength": 1024, "description": description}


def limit_prop(default: int, maximum: int, what: str) -> dict:
    return {"type": "integer", "minimum": 1, "maximum": maximum, "default": default,
            "description": f"Most {what} returned (1-{maximum}); the result says truncated: true when cut."}


__all__ = [
    "Budget",
    "CookError",
    "InvalidInput",
    "InvalidParm",
    "NodeNotFound",
    "NotSupported",
    "SceneUnavailable",
    "bounded",
    "clip",
    "get_node",
    "make_tool",
    "messages",
]
