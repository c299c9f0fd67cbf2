"""Shared helpers for the catalogue tests: run a tool body on the fake main thread, snapshot the scene."""

from __future__ import annotations

from typing import Any

import pytest

import hou
from synapse_houdini.errors import tool_error_envelope
from synapse_houdini.tools import builtin_tools

TOOLS = {t.name: t for t in builtin_tools()}


def run(name: str, tool_input: Any) -> Any:
    """The tool body's result, run on the fake main thread (as the host does)."""
    return hou.main.run_sync(lambda: TOOLS[name].fn(tool_input))


def fails(name: str, tool_input: Any, error_type: str, *needles: str) -> dict:
    """Run a tool that must fail; return its envelope after checking type and message."""
    with pytest.raises(BaseException) as info:
        run(name, tool_input)
    env = tool_error_envelope(name, info.value)
    assert env["error_type"] == error_type, env
    for needle in needles:
        assert needle in env["error_message"], env["error_message"]
    return env


def snapshot() -> Any:
    """Everything a tool could change: nodes, names, wiring, flags, parm values and expressions, frame, hip."""
    def take() -> Any:
        nodes = {}
        for path, node in sorted(hou._nodes.items()):
            if node._deleted:
                continue
            nodes[path] = (
                node._name,
                tuple(n._path if n is not None else None for n in node._inputs),
                (node._display, node._render, node._template, node._bypass),
                tuple((p._name, p._value, p._expression) for p in node._parms),
                node._position,
            )
        return nodes, hou._frame, hou.hipFile._path, len(hou.undos._stack)
    return hou.main.run_sync(take)
