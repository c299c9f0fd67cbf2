"""The tool catalogue served to the daemon.

A tool is a :class:`ToolDef`: its ``ToolSpec`` fields (design §4) plus the Python
body, ``fn(input: dict) -> JSON-serialisable``. Bodies run on Houdini's main thread
(through :mod:`synapse_houdini.marshal`) and import ``hou`` lazily so that this
package imports anywhere.

Studios may add tools with ``synapse_houdini.start(extra_tools=[ToolDef(...)])``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional


@dataclass(frozen=True)
class ToolDef:
    """A tool: the ToolSpec the model sees and the body that runs it."""

    name: str
    description: str
    fn: Callable[[dict], Any]
    input_schema: dict = field(default_factory=lambda: {"type": "object", "properties": {}})
    read_only: bool = True
    timeout_s: Optional[float] = None

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
        return spec


def builtin_tools() -> list[ToolDef]:
    """The tools every host registers, in a stable order (prompt caching)."""
    from .inspect_stage import TOOL as inspect_stage
    from .scene_info import TOOL as scene_info

    return [inspect_stage, scene_info]


__all__ = ["ToolDef", "builtin_tools"]
