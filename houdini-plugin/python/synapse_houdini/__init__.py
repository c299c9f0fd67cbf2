"""Synapse for Houdini: the in-Houdini side of the Synapse agent (stdlib only).

Public API (design §9 "Plugin")::

    import synapse_houdini
    host = synapse_houdini.start()          # BootRefused if the gate refuses
    handle = synapse_houdini.ask("What is on /stage?")   # never blocks
    handle.on_event(print)                   # turn.event notifications
    handle.done(); handle.result(timeout=0)  # poll from the UI thread
    synapse_houdini.status(); synapse_houdini.stop()
    synapse_houdini.undo_turn(handle.turn_id)  # undo what the turn's tools changed

The boot gate (lesson 1) refuses to start where ``hou.isUIAvailable()`` is False or
missing (hython, render-farm workers) and inside PDG/TOPs work items, unless
``SYNAPSE_ALLOW_HEADLESS=1`` opts in to headless use. A refusal starts no process
and logs one line.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any, Optional

from .errors import BootRefused, ToolError, TurnCancelled, TurnNotComplete
from .host import Host, TurnHandle
from .rpc import ConnectionClosed, RpcError
from .tools import ToolDef, ToolResult
from .undo import UndoRefused

__version__ = "0.1.0"

log = logging.getLogger("synapse_houdini")

#: Environment variables set by PDG schedulers for out-of-process work items.
#: Their presence means "this is a TOPs job", never an artist's session.
PDG_WORK_ITEM_ENV_VARS = (
    "PDG_RESULT_SERVER",
    "PDG_ITEM_NAME",
    "PDG_ITEM_ID",
    "PDG_JOBID",
    "PDG_JOB_ID",
)
HEADLESS_ENV_VAR = "SYNAPSE_ALLOW_HEADLESS"

_lock = threading.Lock()
_host: Optional[Host] = None


def _gate() -> tuple[bool, Any]:
    """Decide whether this process may run an agent host.

    Returns ``(headless, hou)``; raises :class:`BootRefused` with a one-line reason.
    PDG work items are refused even with the headless opt-in: a farm job inherits the
    artist's environment, and N jobs would boot N agents.
    """
    pdg = [name for name in PDG_WORK_ITEM_ENV_VARS if os.environ.get(name)]
    if pdg:
        raise BootRefused(f"Synapse not started: this process is a PDG/TOPs work item ({', '.join(pdg)} set)")
    allow_headless = os.environ.get(HEADLESS_ENV_VAR) == "1"
    try:
        import hou  # type: ignore[import-not-found]
    except ImportError as exc:
        raise BootRefused(f"Synapse not started: the hou module is not importable ({exc})") from exc
    is_ui = getattr(hou, "isUIAvailable", None)
    ui_available = False
    if callable(is_ui):
        try:
            ui_available = bool(is_ui())
        except Exception:  # noqa: BLE001
            ui_available = False
    if ui_available:
        return False, hou
    if allow_headless:
        log.info("Synapse: starting headless (%s=1)", HEADLESS_ENV_VAR)
        return True, hou
    raise BootRefused(
        "Synapse not started: no Houdini UI (hou.isUIAvailable() is False or missing); "
        f"set {HEADLESS_ENV_VAR}=1 to opt in to headless use"
    )


def start(**options: Any) -> Host:
    """Start (or return the running) Synapse host; never waits for the daemon.

    Options: ``socket_path``, ``synapsed_bin``, ``idle_exit_s`` (``--exit-when-idle``,
    default 300), ``env`` (the daemon's environment), ``extra_tools`` (a list of
    :class:`ToolDef`), ``name``, and for tests/embedding ``is_main_thread`` and
    ``defer`` (the main-thread predicate and ``executeDeferred`` replacement).

    Raises :class:`BootRefused` (after logging one line) when the gate refuses.
    """
    global _host
    from .marshal import Marshal

    with _lock:
        if _host is not None and not _host._stopped and _host.supervisor.status()["state"] != "gave_up":
            return _host
        if _host is not None:
            _host.stop()  # stopped or gave up: replace it
            _host = None
        try:
            headless, _hou = _gate()
        except BootRefused as exc:
            log.warning("%s", exc)
            raise
        marshal = Marshal(
            headless=headless,
            is_main_thread=options.pop("is_main_thread", None),
            defer=options.pop("defer", None),
        )
        host = Host(marshal=marshal, ui_available=not headless, **options)
        _host = host
    return host.start()


def stop() -> None:
    """Close the host connection (the daemon exits on its idle timeout)."""
    global _host
    with _lock:
        host, _host = _host, None
    if host is not None:
        host.stop()


def status() -> dict[str, Any]:
    """The host's state as a dict (``{"state": "stopped"}`` when not started)."""
    with _lock:
        host = _host
    if host is None:
        return {"state": "stopped", "registered": False}
    return host.status()


def current_host() -> Optional[Host]:
    """The running :class:`Host`, if any."""
    with _lock:
        return _host


def ask(prompt: str, **turn_options: Any) -> TurnHandle:
    """Submit a turn (``session_id``, ``system``, ``model``, ``max_tokens``,
    ``max_iterations``, ``mode`` = ``"ask"``/``"read_only"``/``"auto"``...) and return
    its :class:`TurnHandle` at once. Options are sent as ``turn.submit`` params."""
    with _lock:
        host = _host
    if host is None:
        raise RuntimeError("Synapse is not started: call synapse_houdini.start() first")
    return host.ask(prompt, **turn_options)


def undo_turn(turn_id: str) -> dict[str, Any]:
    """Undo all the undo groups (``Synapse: TOOL``) the tool calls of a turn made.

    Only when they are the newest entries of Houdini's undo stack (no later change
    by the artist or by another turn); else raises :class:`UndoRefused` saying why.
    Returns ``{turn_id, undone: [labels]}``. Safe on Houdini's main thread (no I/O).
    """
    with _lock:
        host = _host
    if host is None:
        raise UndoRefused("Synapse is not started: no turn's changes are known")
    return host.undo_turn(turn_id)


__all__ = [
    "BootRefused",
    "ConnectionClosed",
    "Host",
    "RpcError",
    "ToolDef",
    "ToolError",
    "TurnCancelled",
    "TurnHandle",
    "ToolResult",
    "TurnNotComplete",
    "UndoRefused",
    "ask",
    "current_host",
    "start",
    "status",
    "stop",
    "undo_turn",
]
