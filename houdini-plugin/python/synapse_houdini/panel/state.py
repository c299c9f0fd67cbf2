"""What the panel remembers across its own lifetime (module level, no Qt).

A Python Panel is destroyed when its pane tab closes, but the turns it started keep
running in the daemon and their :class:`~synapse_houdini.host.TurnHandle` objects
keep receiving events in the plugin. Reopening the panel finds them here and
replays their events, so the stream resumes where it is.
"""

from __future__ import annotations

import threading
from typing import Any, Optional

#: Turn handles remembered (the newest; older ones are reloaded from the daemon).
MAX_HANDLES = 64
MODES = ("ask", "read_only", "auto")


class PanelState:
    """The current session, the chosen mode and the turns this Houdini submitted."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.session_id: Optional[str] = None
        self.mode: str = "ask"
        self._handles: list[Any] = []

    def remember(self, handle: Any) -> None:
        with self._lock:
            self._handles.append(handle)
            del self._handles[:-MAX_HANDLES]

    def handles(self, session_id: Optional[str] = None) -> list[Any]:
        """Remembered handles (of *session_id* when given), oldest first."""
        with self._lock:
            handles = list(self._handles)
        if session_id is None:
            return handles
        return [h for h in handles if h.session_id == session_id]

    def live(self) -> list[Any]:
        """Handles whose turn is not final yet."""
        return [h for h in self.handles() if not h.done()]

    def reset(self) -> None:
        """Forget everything (tests)."""
        with self._lock:
            self._handles.clear()
            self.session_id = None
            self.mode = "ask"


STATE = PanelState()

__all__ = ["MAX_HANDLES", "MODES", "PanelState", "STATE"]
