"""One timer thread for every ``tool.invoke`` timeout (ADR 0036).

A call's reply is written by the thread that finished it (Houdini's main thread),
so no worker waits per call; the timeout still has to fire when the main thread
never gets to the body. :class:`Deadlines` keeps them all in one heap served by one
thread. Adding a deadline later than the earliest one (the usual case: every call
has the same timeout) does not wake that thread, and finished calls are not removed
(their expiry does nothing), so the thread wakes at most once per ``granularity_s``
however many calls there are.
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


class Deadlines:
    """Run callables at (or up to ``granularity_s`` after) a ``time.monotonic()`` deadline."""

    def __init__(self, name: str = "synapse-deadlines", granularity_s: float = GRANULARITY_S) -> None:
        self._name = name
        self._granularity = granularity_s
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._thread: Optional[threading.Thread] = None

    def add(self, at: float, fn: Callable[[], None]) -> None:
        """Run *fn* (on the timer thread) once ``time.monotonic()`` reaches *at*; never waits long."""
        with self._cond:
            earliest = not self._heap or at < self._heap[0][0]
            heapq.heappush(self._heap, (at, next(self._seq), fn))
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
                self._thread.start()
            elif earliest:
                self._cond.notify()

    def __len__(self) -> int:
        with self._cond:
            return len(self._heap)

    def _loop(self) -> None:
        while True:
            with self._cond:
                now = time.monotonic()
                due = []
                while self._heap and self._heap[0][0] <= now:
                    due.append(heapq.heappop(self._heap)[2])
                if not due:
                    wait = None if not self._heap else max(self._heap[0][0] - now, self._granularity)
                    self._cond.wait(wait)
                    continue
            for fn in due:
                try:
                    fn()
                except Exception:  # pragma: no cover - defensive: one bad callback must not stop the rest
                    log.exception("%s: a deadline callback failed", self._name)
