"""Exceptions and the tool-error envelope shared by the plugin's modules.

Everything here is plain stdlib so that it imports without Houdini.
"""

from __future__ import annotations

import datetime as _dt
import traceback as _traceback
from typing import Any, Optional

#: Maximum length of ``traceback_str`` in a tool-error envelope (design §2.5).
MAX_TRACEBACK_CHARS = 4000


class BootRefused(RuntimeError):
    """``start()`` refused to boot: no UI, a PDG/TOPs work item, or similar."""


class TurnNotComplete(TimeoutError):
    """``TurnHandle.result(timeout)`` ran out of time before the turn was final."""


class TurnCancelled(RuntimeError):
    """The turn ended with status ``cancelled``; ``result`` holds its TurnResult."""

    def __init__(self, message: str, result: Optional[dict] = None) -> None:
        super().__init__(message)
        self.result = result


class ToolError(Exception):
    """A tool failure with an explicit ``error_type`` for the envelope.

    Tool bodies raise this (or a subclass) to choose the ``error_type`` the model
    sees; any other exception is reported under its class name.
    """

    error_type = "ToolError"

    def __init__(self, message: str, error_type: Optional[str] = None) -> None:
        super().__init__(message)
        if error_type:
            self.error_type = error_type


class MainThreadTimeout(ToolError):
    """The main thread did not run the tool body within its timeout."""

    error_type = "MainThreadTimeout"


class MainThreadBusy(ToolError):
    """Fail-fast answer after two consecutive main-thread timeouts (lesson 6)."""

    error_type = "MainThreadBusy"


class ToolCancelled(ToolError):
    """The daemon sent ``tool.cancel`` before the body started."""

    error_type = "Cancelled"


class ModalDialogSuppressed(ToolError):
    """A tool body tried to open a modal ``hou.ui`` dialog (lesson 4)."""

    error_type = "ModalDialogSuppressed"


def rfc3339_now() -> str:
    """The current UTC time as RFC 3339 with milliseconds, e.g. ``2026-11-23T20:41:07.123Z``."""
    now = _dt.datetime.now(_dt.timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def error_type_of(exc: BaseException) -> str:
    """The ``error_type`` reported for *exc*.

    ``ToolError`` carries its own; ``hou.ObjectWasDeleted`` (matched by class name
    so that no ``hou`` import is needed here) maps to ``ObjectWasDeleted``; anything
    else reports its class name.
    """
    if isinstance(exc, ToolError):
        return exc.error_type
    return type(exc).__name__


def _format_traceback(exc: BaseException) -> str:
    text = "".join(_traceback.format_exception(type(exc), exc, exc.__traceback__))
    if len(text) > MAX_TRACEBACK_CHARS:
        # Keep the end: the innermost frames and the message matter most.
        text = "..." + text[-(MAX_TRACEBACK_CHARS - 3):]
    return text


def tool_error_envelope(tool_name: str, exc: BaseException) -> dict[str, Any]:
    """Build the fail-visible envelope of design §2.5 for *exc* raised by *tool_name*."""
    error_type = error_type_of(exc)
    message = str(exc) or error_type
    if error_type == "ObjectWasDeleted":
        message = (
            f"{message} — a Houdini node or object this tool was using was deleted "
            "(probably by the artist) while it ran. Re-inspect the scene (for example "
            "with synapse_inspect_stage) and retry with current paths."
        )
    return {
        "agent_tool_error": True,
        "tool_name": tool_name,
        "error_type": error_type,
        "error_message": message,
        "traceback_str": _format_traceback(exc),
        "timestamp": rfc3339_now(),
    }
