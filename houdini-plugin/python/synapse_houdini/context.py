"""The tool call running on the main thread right now (set by the host around a body).

Tool bodies read it to know their turn and deadline (``houdini_execute_python``
stops runaway code at the deadline); the undo journal reads the turn. Only the
main thread runs bodies, one at a time, so a module-level slot is enough.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Iterator, Optional


@dataclass(frozen=True)
class CallContext:
    """One ``tool.invoke``: its tool, call, turn and the monotonic deadline of its main-thread work."""

    tool: str
    call_id: Optional[str]
    turn_id: Optional[str]
    deadline: float


_current: Optional[CallContext] = None


def current() -> Optional[CallContext]:
    """The call whose body is running, or None (e.g. a body called directly in a test)."""
    return _current


@contextlib.contextmanager
def running(tool: str, call_id: Optional[str], turn_id: Optional[str], timeout_s: float) -> Iterator[CallContext]:
    global _current
    previous = _current
    _current = CallContext(tool, call_id, turn_id, time.monotonic() + timeout_s)
    try:
        yield _current
    finally:
        _current = previous
