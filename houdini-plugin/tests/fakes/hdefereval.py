"""A fake ``hdefereval`` (NOT shipped): ``executeDeferred`` enqueues on the fake main thread."""

from __future__ import annotations

from typing import Any, Callable

import hou


def executeDeferred(fn: Callable[[], Any]) -> None:
    hou.main.enqueue(fn)


def executeInMainThreadWithResult(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """The plugin must never call this (design §2 lesson 2)."""
    raise AssertionError("synapse_houdini must never call hdefereval.executeInMainThreadWithResult")
