"""Streaming Markdown in bounded pieces (no Qt; stdlib only).

Re-rendering a whole answer on every text delta costs O(answer) per delta. A
:class:`StreamText` instead *freezes* the streamed text at safe boundaries (a
blank line outside a code fence, or the end of a fence) into chunks that are
rendered once, and keeps only the open tail to re-render. A tail that grows past
:data:`FORCE_CHARS` without a boundary is cut at its last complete line; inside a
fence the cut chunk is closed and the tail reopened with the same fence, so each
piece is valid Markdown on its own.
"""

from __future__ import annotations

import re
from typing import Optional

FORCE_CHARS = 3000
_FENCE = re.compile(r"^\s{0,3}(```|~~~)\s*([\w+#.-]*)\s*$")


class StreamText:
    """Accumulates deltas; :meth:`take_chunks` yields frozen Markdown sources."""

    __slots__ = ("_pending", "_fence", "total_chars")

    def __init__(self) -> None:
        self._pending = ""
        #: ``(marker, lang)`` when the pending text starts inside a code fence.
        self._fence: Optional[tuple[str, str]] = None
        self.total_chars = 0

    def append(self, delta: str) -> None:
        self._pending += delta
        self.total_chars += len(delta)

    def _prefix(self) -> str:
        return f"{self._fence[0]}{self._fence[1]}\n" if self._fence else ""

    def take_chunks(self) -> list[str]:
        """Markdown sources of the text frozen since the last call (oldest first)."""
        chunks: list[str] = []
        while True:
            chunk = self._take_one()
            if chunk is None:
                return chunks
            if chunk.strip():
                chunks.append(chunk)

    def _take_one(self) -> Optional[str]:
        pending = self._pending
        last_nl = pending.rfind("\n")
        if last_nl < 0:
            if len(pending) > 2 * FORCE_CHARS and self._fence is None:
                cut = pending.rfind(" ", 0, len(pending) - 1)
                if cut > 0:
                    self._pending = pending[cut + 1:]
                    return pending[: cut + 1]
            return None
        fence = self._fence
        boundary = -1
        boundary_fence: Optional[tuple[str, str]] = None
        pos = 0
        seen_text = False
        while pos <= last_nl:
            end = pending.index("\n", pos)
            line = pending[pos:end]
            match = _FENCE.match(line)
            if fence is not None:
                if line.strip().startswith(fence[0]) and line.strip() == fence[0]:
                    fence = None
                    boundary, boundary_fence = end + 1, None
            elif match:
                fence = (match.group(1), match.group(2))
            elif not line.strip():
                if seen_text:
                    boundary, boundary_fence = end + 1, None
            else:
                seen_text = True
            pos = end + 1
        if boundary < 0:
            if len(pending) <= FORCE_CHARS:
                return None
            # Cut at the last complete line; close and reopen a fence around the cut.
            boundary, boundary_fence = last_nl + 1, fence
        chunk = self._prefix() + pending[:boundary]
        if boundary_fence is not None:
            chunk += boundary_fence[0] + "\n"
        self._pending = pending[boundary:]
        self._fence = boundary_fence
        return chunk

    def tail(self) -> str:
        """The Markdown source of the open tail (re-rendered as it grows)."""
        return self._prefix() + self._pending if self._pending else ""


__all__ = ["FORCE_CHARS", "StreamText"]
