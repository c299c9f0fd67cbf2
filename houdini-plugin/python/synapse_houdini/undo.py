"""The undo journal: which ``Synapse: TOOL`` undo groups each turn left, and ``undo_turn``.

The host wraps every mutating tool body in ``hou.undos.group("Synapse: TOOL")``
(design §13) and, right after, asks :meth:`UndoJournal.after_group` whether the
group really added an entry on top of Houdini's undo stack (an empty group adds
none). :meth:`UndoJournal.undo_turn` then undoes a turn's groups only when they
are provably the newest undo entries:

1. the turn's groups are the last ones Synapse recorded (no later Synapse call);
2. the undo stack is as deep as right after the turn's last group (the artist
   neither undid nor added anything since);
3. the newest ``hou.undos.undoLabels()`` are exactly those groups' labels.

Otherwise it refuses with :class:`UndoRefused` saying which check failed. It
runs on Houdini's main thread and does no I/O.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Optional

#: Groups remembered (oldest dropped first).
MAX_GROUPS = 2000


class UndoRefused(RuntimeError):
    """``undo_turn`` did not undo anything; the message says why."""


@dataclass(frozen=True)
class UndoRecord:
    turn_id: str
    tool: str
    label: str
    depth: int  # len(undoLabels()) right after the group


class UndoJournal:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[UndoRecord] = []

    # ---------------------------------------------------------------- recording (main thread)

    @staticmethod
    def labels(hou: Any) -> Optional[tuple]:
        """The undo labels, newest first; None when this Houdini cannot tell."""
        try:
            return tuple(hou.undos.undoLabels())
        except Exception:  # noqa: BLE001 - no undo API: nothing is recorded
            return None

    def after_group(self, hou: Any, turn_id: Optional[str], tool: str, label: str, before: Optional[tuple]) -> None:
        """Record the group just closed if it added an entry on top of the stack."""
        if turn_id is None or before is None:
            return
        after = self.labels(hou)
        if not after or after[0] != label or after[1:] != before[: len(after) - 1]:
            return  # nothing changed (empty group), or the stack moved in a way we cannot attribute
        with self._lock:
            self._records.append(UndoRecord(turn_id, tool, label, len(after)))
            del self._records[:-MAX_GROUPS]

    # ---------------------------------------------------------------- queries

    def groups(self, turn_id: str) -> list[UndoRecord]:
        """The turn's recorded groups, oldest first."""
        with self._lock:
            return [r for r in self._records if r.turn_id == turn_id]

    # ---------------------------------------------------------------- undo (main thread)

    def undo_turn(self, hou: Any, turn_id: str) -> dict[str, Any]:
        with self._lock:
            records = [r for r in self._records if r.turn_id == turn_id]
            tail = self._records[-len(records):] if records else []
        if not records:
            raise UndoRefused(f"turn {turn_id} left no undoable change (it changed nothing, or it was already undone)")
        if tail != records:
            later = [r for r in self._records[self._records.index(records[0]):] if r.turn_id != turn_id]
            raise UndoRefused(f"turn {turn_id} is not the last change Synapse made: {later[-1].label} of turn "
                              f"{later[-1].turn_id} came after it; undo that turn first")
        labels = self.labels(hou)
        if labels is None:
            raise UndoRefused("Houdini's undo stack cannot be read (hou.undos.undoLabels)")
        expected = tuple(r.label for r in reversed(records))
        if len(labels) != records[-1].depth or labels[: len(expected)] != expected:
            raise UndoRefused(f"the undo stack changed since turn {turn_id} (newest entry now: "
                              f"{labels[0] if labels else 'none'!r}); undo with Ctrl+Z instead")
        undone = []
        for record in reversed(records):
            if not hou.undos.performUndo():
                raise UndoRefused(f"Houdini refused to undo {record.label!r} (after undoing {len(undone)} of "
                                  f"{len(records)} changes)")
            undone.append(record.label)
            with self._lock:
                self._records = [r for r in self._records if r is not record]
        return {"turn_id": turn_id, "undone": undone}
