"""The tool catalogue served to the daemon (design §13).

A tool is a :class:`ToolDef`: its ``ToolSpec`` fields (design §4) plus the Python
body, ``fn(input: dict) -> JSON-serialisable`` (or a :class:`ToolResult` when it
returns images). Bodies run on Houdini's main thread (through
:mod:`synapse_houdini.marshal`) and import ``hou`` lazily so that this package
imports anywhere.

The catalogue lives in one module per area: :mod:`.inspect`, :mod:`.usd`,
:mod:`.view`, :mod:`.modify` and :mod:`.code`. Their tools validate their input
against their JSON schema (:mod:`.schema`) before the body runs.

Studios may add tools with ``synapse_houdini.start(extra_tools=[ToolDef(...)])``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional


@dataclass(frozen=True)
class ToolDef:
    """A tool: the ToolSpec the model sees and the body that runs it.

    ``read_only`` tools run without an undo group; ``destructive`` marks the
    tools whose effect an undo may not fully reverse (deleting nodes, writing
    files, arbitrary code). ``spec()`` sends ``destructive`` only when true.
    """

    name: str
    description: str
    fn: Callable[[dict], Any]
    input_schema: dict = field(default_factory=lambda: {"type": "object", "properties": {}})
    read_only: bool = True
    timeout_s: Optional[float] = None
    destructive: bool = False

    def spec(self) -> dict[str, Any]:
        """The ``ToolSpec`` sent in ``host.register``."""
        spec: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "input_schema": self.input_schema,
            "read_only": self.read_only,
        }
        if self.timeout_s is not None:
            spec["timeout_s"] = self.timeout_s
        if self.destructive:
            spec["destructive"] = True
        return spec


@dataclass(frozen=True)
class ToolResult:
    """A body's result with images: the host replies ``{is_error, content, images}``.

    ``images`` is a list of ``{"media_type": "image/png"|"image/jpeg", "data": base64}``.
    """

    content: Any
    images: list = field(default_factory=list)


def builtin_tools() -> list[ToolDef]:
    """The tools every host registers, in a stable order (prompt caching)."""
    from . import code, inspect, modify, usd, view

    return [*usd.TOOLS[:1], *inspect.TOOLS, *usd.TOOLS[1:], *view.TOOLS, *modify.TOOLS, *code.TOOLS]


__all__ = ["ToolDef", "ToolResult", "builtin_tools"]
