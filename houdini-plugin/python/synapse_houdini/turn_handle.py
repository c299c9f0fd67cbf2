"""A submitted turn as the plugin sees it: :class:`TurnHandle` (split from ``host``).

A handle is created by :meth:`synapse_houdini.host.Host.ask`; the host routes the
turn's ``turn.event`` notifications to it. Importable from ``synapse_houdini.host``
as before.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Callable, Optional

from .errors import TurnCancelled, TurnNotComplete

if TYPE_CHECKING:
    from .host import Host

log = logging.getLogger("synapse_houdini.host")

FINAL_STATUSES = frozenset(
    {"complete", "cancelled", "api_error", "max_iterations", "max_tokens", "refusal", "interrupted", "unknown_stop_reason",
     "budget_exceeded"}
)
#: ``turn.approve`` decisions (design §11).
APPROVAL_DECISIONS = frozenset({"allow", "deny", "allow_session"})


class TurnHandle:
    """A submitted turn. Never blocks the caller unless asked to, and never on the main thread.

    ``turn_id`` and ``session_id`` are None until the daemon accepted the turn
    (submission happens in the background). Event callbacks run on the RPC
    notification thread, not on Houdini's main thread: use
    ``hdefereval.executeDeferred`` inside them to touch the UI.
    """

    def __init__(self, host: "Host", prompt: str, options: dict[str, Any]) -> None:
        self._host = host
        self.prompt = prompt
        self.options = options
        self.turn_id: Optional[str] = None
        self.session_id: Optional[str] = None
        self._lock = threading.RLock()
        self._done = threading.Event()
        self._accepted = threading.Event()
        self._events: list[dict] = []
        self._callbacks: list[Callable[[dict], None]] = []
        self._result: Optional[dict] = None
        self._error: Optional[BaseException] = None
        self._cancel_requested = False
        self.status: str = "submitting"

    def __repr__(self) -> str:
        return f"<TurnHandle turn_id={self.turn_id!r} status={self.status!r}>"

    # ------------------------------------------------------------ public

    def done(self) -> bool:
        """True once the turn is final (or failed to submit)."""
        return self._done.is_set()

    def wait_accepted(self, timeout: Optional[float] = None) -> bool:
        """Wait until ``turn_id`` is known (or the turn is done); not on the main thread."""
        self._refuse_main_thread(timeout)
        self._accepted.wait(timeout)
        return self.turn_id is not None

    def result(self, timeout: Optional[float] = None) -> dict:
        """The ``TurnResult`` once final.

        Raises ``TurnNotComplete`` (a ``TimeoutError``) if not final within
        *timeout* (``0`` polls), ``TurnCancelled`` if the turn was cancelled, the
        ``RpcError``/``ConnectionClosed`` that prevented it, and ``RuntimeError`` at
        once when called on Houdini's main thread with a non-zero timeout (waiting
        there could deadlock: the turn's tools need that thread).
        """
        self._refuse_main_thread(timeout)
        if not self._done.wait(timeout):
            raise TurnNotComplete(f"turn {self.turn_id or '(not yet accepted)'} is still {self.status}")
        if self._error is not None:
            raise self._error
        assert self._result is not None
        if self._result.get("status") == "cancelled":
            raise TurnCancelled(f"turn {self.turn_id} was cancelled", self._result)
        return self._result

    def cancel(self) -> bool:
        """Ask for the turn to be cancelled; never waits (safe on Houdini's main thread).

        Returns False if the turn was already final, else True: the request is
        sent without waiting for the daemon's answer, and the real outcome arrives
        as the turn's ``done`` event (status ``cancelled``, or the status it reached
        first). A turn not yet submitted is never submitted; one whose submission
        is in flight is cancelled as soon as the daemon accepts it; one followed
        across a reconnection is cancelled once the host is registered again.
        """
        with self._lock:
            if self._done.is_set():
                return False
            self._cancel_requested = True
            turn_id = self.turn_id
        if turn_id is not None:
            self._host._schedule_cancel(self)
        return True

    def on_event(self, callback: Callable[[dict], None]) -> None:
        """Call ``callback(event)`` for every ``turn.event`` of this turn, past ones first.

        The past events are replayed on the calling thread; later ones run on the
        RPC notification thread. No lock is held while a callback runs.
        """
        with self._lock:
            past = list(self._events)
            self._callbacks.append(callback)
        for event in past:
            self._safe_callback(callback, event)

    @property
    def events(self) -> list[dict]:
        """The events received so far (a copy)."""
        with self._lock:
            return list(self._events)

    def on_approval(self, callback: Callable[[dict], None]) -> None:
        """Call ``callback(event)`` for every ``approval_request`` event of this turn, past ones first.

        The event is ``{turn_id, seq, type: "approval_request", call_id, name, input,
        destructive}`` (design §11). Past requests are replayed on the calling thread,
        later ones arrive on the RPC notification thread (as for :meth:`on_event`).
        Answer with :meth:`approve`.
        """

        def only_approvals(event: dict) -> None:
            if event.get("type") == "approval_request":
                callback(event)

        self.on_event(only_approvals)

    def approve(self, call_id: str, decision: str, reason: Optional[str] = None) -> "Future[dict]":
        """Answer an approval request with ``turn.approve``; never waits (safe on Houdini's main thread).

        *decision* is ``"allow"``, ``"deny"`` or ``"allow_session"``; *reason* (for a
        deny) reaches the model. The request is sent from a background thread; the
        returned future resolves to the daemon's answer ``{accepted: bool}``
        (``accepted`` is False when nothing was pending for that call) or fails with
        the ``RpcError``/``ConnectionClosed`` that prevented it. Raises ``ValueError``
        at once for an unknown decision or an empty call id.
        """
        if decision not in APPROVAL_DECISIONS:
            raise ValueError(f"decision must be one of {sorted(APPROVAL_DECISIONS)}, not {decision!r}")
        if not isinstance(call_id, str) or not call_id:
            raise ValueError("approve() needs the call_id of the approval_request")
        future: "Future[dict]" = Future()
        params: dict[str, Any] = {"call_id": call_id, "decision": decision}
        if reason is not None:
            params["reason"] = str(reason)
        self._host._schedule_approve(self, params, future)
        return future

    # ------------------------------------------------------------ internal

    def _refuse_main_thread(self, timeout: Optional[float]) -> None:
        if (timeout is None or timeout > 0) and self._host.marshal.is_main_thread():
            raise RuntimeError(
                "TurnHandle.result()/wait with a timeout was called on Houdini's main thread: that would "
                "freeze Houdini while the turn's tools wait for the same thread. Use on_event(), done() "
                "or result(timeout=0) instead."
            )

    @staticmethod
    def _safe_callback(callback: Callable[[dict], None], event: dict) -> None:
        try:
            callback(event)
        except Exception:
            log.exception("turn event callback failed")

    def _set_accepted(self, turn_id: str, session_id: Optional[str]) -> bool:
        """Record the daemon's ids; True if a cancel was requested meanwhile."""
        with self._lock:
            self.turn_id = turn_id
            self.session_id = session_id
            if self.status == "submitting":
                self.status = "queued"
            cancel = self._cancel_requested
        self._accepted.set()
        return cancel

    def _on_event(self, event: dict) -> None:
        with self._lock:
            if self._done.is_set():
                return
            self._events.append(event)
            if event.get("type") == "status" and isinstance(event.get("status"), str):
                self.status = event["status"]
            callbacks = list(self._callbacks)
        # Outside the lock: a slow or blocking callback must not stall cancel(), events...
        for callback in callbacks:
            self._safe_callback(callback, event)
        if event.get("type") == "done":
            self._finish(event.get("result") or {})

    def _finish(self, result: dict) -> None:
        with self._lock:
            if self._done.is_set():
                return
            self._result = result
            self.status = str(result.get("status", "complete"))
            self._done.set()
        self._accepted.set()

    def _fail(self, error: BaseException) -> None:
        with self._lock:
            if self._done.is_set():
                return
            self._error = error
            self.status = "failed"
            self._done.set()
        self._accepted.set()
