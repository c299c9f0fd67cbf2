"""One timer thread for every ``tool.invoke`` timeout (ADR 0036).

A call's reply is written by the thread that finished it (Houdini's main thread),
so no worker waits per call; the timeout still has to fire when the main thread
never gets to the body. :class:`Deadlines` keeps them all in one heap served by one
thread. Adding a deadline later than the earliest one (the usual case: every call
has the same timeout) does not wake that thread, so the thread wakes at most once
per ``granularity_s`` however many calls there are.

A call answered in time cancels its deadline (:meth:`Deadline.cancel`): the entry
lets go of its callback (and so of the call's job, record and reply) at once, and
cancelled entries are swept from the heap by :meth:`Deadlines.add` once they are
most of it. Without that, every call of the last ``timeout_s`` seconds stayed
alive until its deadline passed: at a few thousand calls per second, hundreds of
thousands of objects for Python's cyclic collector to walk, in pauses of 50-100 ms
on whichever thread allocated (ADR 0039).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from typing import Callable, Optional

log = logging.getLogger("synapse_houdini.deadlines")

#: How late a deadline may fire (seconds): bounds the thread's wake-ups.
GRANULARITY_S = 0.01


class Deadline:
    """One pending deadline; :meth:`cancel` it once its call is answered."""

    __slots__ = ("fn", "in_heap", "_owner")

    def __init__(self, fn: Callable[[], None], owner: "Deadlines") -> None:
        self.fn: Optional[Callable[[], None]] = fn
        self.in_heap = True
        self._owner = owner

    def cancel(self) -> None:
        """Never run it, and drop its callback now. Any thread; never waits for long
        (one short lock; the sweep runs in :meth:`Deadlines.add`)."""
        self._owner._cancel(self)


class Deadlines:
    """Run callables at (or up to ``granularity_s`` after) a ``time.monotonic()`` deadline."""

    #: Cancelled entries are swept from the heap once there are this many and they
    #: are more than half of it (amortised O(1) per entry).
    SWEEP_AT = 64

    def __init__(self, name: str = "synapse-deadlines", granularity_s: float = GRANULARITY_S) -> None:
        self._name = name
        self._granularity = granularity_s
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Deadline]] = []
        self._cancelled = 0  # cancelled entries still in the heap
        self._seq = itertools.count()
        self._thread: Optional[threading.Thread] = None

    def add(self, at: float, fn: Callable[[], None]) -> Deadline:
        """Run *fn* (on the timer thread) once ``time.monotonic()`` reaches *at*, unless
        the returned :class:`Deadline` is cancelled first; never waits long."""
        entry = Deadline(fn, self)
        with self._cond:
            if self._cancelled >= self.SWEEP_AT and 2 * self._cancelled > len(self._heap):
                self._heap = [e for e in self._heap if e[2].fn is not None]
                heapq.heapify(self._heap)
                self._cancelled = 0
            earliest = not self._heap or at < self._heap[0][0]
            heapq.heappush(self._heap, (at, next(self._seq), entry))
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
                self._thread.start()
            elif earliest:
                self._cond.notify()
        return entry

    def _cancel(self, entry: Deadline) -> None:
        with self._cond:
            if entry.fn is None:
                return
            entry.fn = None
            if entry.in_heap:
                self._cancelled += 1

    def __len__(self) -> int:
        """Deadlines still to fire (cancelled ones not counted)."""
        with self._cond:
            return len(self._heap) - self._cancelled

    def _loop(self) -> None:
        while True:
            with self._cond:
                now = time.monotonic()
                due = []
                while self._heap and self._heap[0][0] <= now:
                    entry = heapq.heappop(self._heap)[2]
                    entry.in_heap = False
                    if entry.fn is None:
                        self._cancelled -= 1
                    else:
                        due.append(entry.fn)
                        entry.fn = None
                if not due:
                    wait = None if not self._heap else max(self._heap[0][0] - now, self._granularity)
                    self._cond.wait(wait)
                    continue
            for fn in due:
                try:
                    fn()
                except Exception:  # pragma: no cover - defensive: one bad callback must not stop the rest
                    log.exception("%s: a deadline callback failed", self._name)
