"""The one lazy ``import hou`` of the plugin (None outside Houdini)."""

from __future__ import annotations

from typing import Any


def import_hou() -> Any:
    """The ``hou`` module, or None when it is not importable (stock Python, tests without the fake)."""
    try:
        import hou  # type: ignore[import-not-found]
    except ImportError:
        return None
    return hou
