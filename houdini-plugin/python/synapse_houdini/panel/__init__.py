"""The Synapse chat panel for Houdini (a Python Panel; PySide6, PySide2 fallback).

``python_panels/synapse.pypanel`` calls :func:`create_interface` from its
``onCreateInterface()``. Modules: ``qt`` (binding shim), ``markdown``/``stream``
(safe rendering, bounded re-rendering), ``format``/``history`` (text helpers,
stored sessions), ``controller`` (plugin threads → main thread), ``state`` (what
outlives a panel), ``cards``/``turns``/``transcript``/``sessions``/``view`` (widgets).

Importing this package imports Qt; the rest of ``synapse_houdini`` never does.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("synapse_houdini.panel")


def create_interface() -> Any:
    """Build the panel's root widget (starting Synapse if it is not running; never waits)."""
    import synapse_houdini

    if synapse_houdini.current_host() is None:
        try:
            synapse_houdini.start()
        except Exception as exc:  # noqa: BLE001 - BootRefused: the panel shows "not started" and why
            log.warning("Synapse panel: %s", exc)
    from .view import SynapsePanel

    return SynapsePanel()


__all__ = ["create_interface"]
