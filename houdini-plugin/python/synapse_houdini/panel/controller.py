"""The panel's link to the plugin: turns, daemon requests, state (no widgets here).

Threading (design §14): nothing in this module waits on the daemon on the calling
thread. Turn events arrive on the plugin's RPC notification thread; they are
prepared there (JSON encoding, clipping, image decoding, the host's own reply of a
tool call) and handed to the main thread through the :class:`Bridge`'s signals,
which Qt queues because the bridge lives on the main thread. Daemon requests
(``session.list``, ``session.get``, ``daemon.status``) are written by one panel
worker thread, answered on the RPC reader thread and delivered the same way.
After :meth:`Controller.close` nothing is delivered any more and the worker thread
ends, so no thread outlives the widgets or touches a deleted object.
"""

from __future__ import annotations

import collections
import itertools
import logging
import queue
import threading
import time
from typing import Any, Callable, Optional

from ..rpc import ConnectionClosed
from . import format as fmt
from .qt import QtCore, Signal
from .state import STATE, PanelState

log = logging.getLogger("synapse_houdini.panel")

#: A daemon request not answered within this many seconds is reported as failed.
REQUEST_TIMEOUT_S = 30.0
#: Messages per ``session.get`` page (design §10 paging).
HISTORY_PAGE = 200
#: Sessions per ``session.list`` page.
SESSIONS_PAGE = 50
#: Longest the main thread spends draining the inbox before yielding to the event loop.
DRAIN_BUDGET_S = 0.008
#: Pages fetched at most for one history (a bound, not a limit anyone should meet).
HISTORY_MAX_PAGES = 50

Answer = Callable[[Any, Optional[BaseException]], None]


class Bridge(QtCore.QObject):
    """Hands work from plugin threads to the main thread.

    Plugin threads append ``(token, kind, payload)`` to a thread-safe inbox and emit
    the argument-less ``wake`` signal (queued by Qt, since the bridge lives on the
    main thread) only when no wake-up is pending; the main thread drains the whole
    inbox per wake-up. So a burst of deltas costs one queued event, and no Python
    object crosses threads inside a Qt signal.

    There is ONE bridge per process, created on the main thread and never deleted:
    a plugin thread may be posting at the very moment a panel is destroyed, and
    emitting on a deleted QObject crashes the process. Items carry the token of
    the controller they are for; the main thread drops those of closed controllers.
    """

    wake = Signal()

    def __init__(self) -> None:
        super().__init__()
        self._inbox: "collections.deque[tuple[int, str, tuple]]" = collections.deque()
        self._lock = threading.Lock()
        self._pending = False
        self.wake.connect(self.drain)

    def post(self, token: int, kind: str, *payload: Any) -> None:
        """Queue an item for the main thread (any thread)."""
        self._inbox.append((token, kind, payload))
        with self._lock:
            if self._pending:
                return
            self._pending = True
        self.wake.emit()

    def drain(self) -> None:
        """Run every queued item (main thread)."""
        with self._lock:
            self._pending = False  # before draining: a later post wakes us again
        inbox = self._inbox
        deadline = time.perf_counter() + DRAIN_BUDGET_S
        while inbox:
            if time.perf_counter() > deadline:
                # Yield to the event loop (paint, input) and continue on the next wake-up.
                with self._lock:
                    self._pending = True
                QtCore.QTimer.singleShot(0, self.drain)
                return
            token, kind, payload = inbox.popleft()
            controller = _controllers.get(token)
            if controller is None or controller.closed:
                continue
            try:
                if kind == "event":
                    if controller.on_turn_event is not None:
                        controller.on_turn_event(*payload)
                else:
                    answer, result, error = payload
                    answer(result, error)
            except Exception:  # noqa: BLE001
                log.exception("synapse panel: handling %s failed", kind)


_bridge: Optional[Bridge] = None
_controllers: "dict[int, Controller]" = {}
_tokens = itertools.count(1)


def bridge() -> Bridge:
    """The process's bridge (created on first use, which must be on the main thread)."""
    global _bridge
    if _bridge is None:
        _bridge = Bridge()
    return _bridge


def prepare_event(host: Any, event: dict) -> dict:
    """A copy of *event* with display strings added (runs on a plugin thread)."""
    out = dict(event)
    kind = event.get("type")
    if kind in ("tool_call", "approval_request"):
        value = event.get("input")
        out["_summary"] = fmt.summarize_input(value)
        out["_input_text"] = fmt.detail_json(value)
    elif kind == "tool_result":
        reply = None
        call_id = event.get("call_id")
        lookup = getattr(host, "call_reply", None)
        if callable(lookup) and isinstance(call_id, str):
            try:
                reply = lookup(call_id)
            except Exception:  # noqa: BLE001 - display only
                reply = None
        if isinstance(reply, dict):
            content = reply.get("content")
            out["_result_text"] = fmt.detail_json(content)
            if reply.get("is_error"):
                out["_error"] = fmt.error_message(content)
            out["_images"] = fmt.decode_images(reply.get("images"))
        # What the daemon says the model got (also for errors it made itself: UnknownTool,
        # NotPermitted, ApprovalTimeout, ToolResultTooLarge...; the host never saw those).
        carried = event.get("error")
        if event.get("is_error") and isinstance(carried, dict):
            message = fmt.error_message({"error_type": carried.get("error_type"),
                                         "error_message": carried.get("message")})
            if message:
                out["_error"] = message
    return out


class Controller:
    """Submits turns, answers approvals, asks the daemon; delivers results to the main thread."""

    def __init__(self, parent: Any = None, host_provider: Optional[Callable[[], Any]] = None,
                 state: PanelState = STATE) -> None:
        self.bridge = bridge()
        self.token = next(_tokens)
        #: ``on_turn_event(handle, event)``, called on the main thread (set by the panel).
        self.on_turn_event: Optional[Callable[[Any, Any], None]] = None
        _controllers[self.token] = self
        self.state = state
        self._host_provider = host_provider or _default_host
        self._closed = threading.Event()
        self._requests: "queue.Queue[Optional[tuple[str, Any, Answer]]]" = queue.Queue()
        self._pending: dict[int, tuple[float, Answer, str]] = {}
        self._ids = itertools.count(1)
        #: id(handle) -> how many times it was attached (only the newest callback delivers).
        self._attached: dict[int, int] = {}
        self.thread = threading.Thread(target=self._request_loop, name="synapse-panel-rpc", daemon=True)
        self.thread.start()

    # ------------------------------------------------------------ host

    def host(self) -> Any:
        """The plugin's :class:`Host` (None when Synapse is not started)."""
        try:
            return self._host_provider()
        except Exception as exc:  # noqa: BLE001 - BootRefused and friends: shown by the panel
            log.warning("synapse panel: no host: %s", exc)
            return None

    def host_status(self) -> dict:
        """The host's local state (locks only, no I/O)."""
        host = self.host()
        if host is None:
            return {"state": "stopped", "registered": False, "last_error": None}
        try:
            return host.status()
        except Exception as exc:  # noqa: BLE001
            return {"state": "stopped", "registered": False, "last_error": str(exc)}

    def retry(self) -> None:
        """Start Synapse again after it gave up (or was never started); returns at once."""
        import synapse_houdini

        try:
            synapse_houdini.start()
        except Exception as exc:  # noqa: BLE001 - BootRefused: the status line says why
            log.warning("synapse panel: start failed: %s", exc)

    # ------------------------------------------------------------ turns

    def submit(self, prompt: str, mode: Optional[str], session_id: Optional[str]) -> Any:
        """Submit a turn; returns its handle at once (``host.ask`` never blocks)."""
        host = self.host()
        if host is None:
            raise RuntimeError("Synapse is not started")
        options: dict[str, Any] = {}
        if mode:
            options["mode"] = mode
        if session_id:
            options["session_id"] = session_id
        handle = host.ask(prompt, **options)
        self.state.remember(handle)
        return handle

    def attach(self, handle: Any) -> None:
        """Deliver *handle*'s events, past ones first and in order, to ``on_turn_event``.

        The replay of past events runs on the panel's worker thread (preparing
        thousands of events must not hold up Houdini's main thread). Live events
        that arrive on the notification thread during the replay are held back and
        sent after it, so the panel sees the turn's events in order.
        """
        # Attaching again (the panel re-showed the turn) replays everything again; the
        # earlier callback goes quiet (TurnHandle has no way to remove a callback).
        key = id(handle)
        epoch = self._attached[key] = self._attached.get(key, 0) + 1
        self._requests.put(("", (handle, epoch), None))

    def _replay(self, handle: Any, epoch: int) -> None:
        host = self.host()
        key = id(handle)
        if self._attached.get(key) != epoch:
            return  # attached again meanwhile: that newer replay shows it
        replay_thread = threading.get_ident()
        lock = threading.Lock()
        held: list = []
        replaying = [True]

        def deliver(event: Any) -> None:
            prepared = prepare_event(host, event) if isinstance(event, dict) else {"type": "?"}
            self.bridge.post(self.token, "event", handle, prepared)

        def on_event(event: Any) -> None:
            if self._closed.is_set() or self._attached.get(key) != epoch:
                return
            if threading.get_ident() == replay_thread and replaying[0]:
                deliver(event)  # a past event, replayed by on_event() below
                return
            with lock:
                if replaying[0]:
                    held.append(event)
                else:
                    deliver(event)

        handle.on_event(on_event)
        with lock:
            replaying[0] = False
            for event in held:
                deliver(event)

    def approve(self, handle: Any, call_id: str, decision: str, reason: Optional[str], answer: Answer) -> None:
        """Send ``turn.approve`` (from a plugin thread); *answer* runs on the main thread."""
        approve = getattr(handle, "approve", None)
        if approve is None:
            answer(None, RuntimeError("this plugin version cannot answer approvals"))
            return
        try:
            future = approve(call_id, decision, reason)
        except Exception as exc:  # noqa: BLE001
            answer(None, exc)
            return
        future.add_done_callback(lambda f: self._emit_answer(answer, *_future_outcome(f)))

    # ------------------------------------------------------------ daemon requests

    def request(self, method: str, params: Any, answer: Answer) -> None:
        """Send *method* from the panel's worker thread; *answer(result, error)* runs on the main thread."""
        if self._closed.is_set():
            return
        self._requests.put((method, params, answer))

    def _request_loop(self) -> None:
        while True:
            item = self._requests.get()
            if item is None or self._closed.is_set():
                return
            method, params, answer = item
            if not method:  # attach: replay a handle's events here, off the main thread
                try:
                    self._replay(*params)
                except Exception:  # noqa: BLE001
                    log.exception("synapse panel: following a turn failed")
                continue
            host = self.host()
            client = host.supervisor.client if host is not None else None
            if client is None or client.closed:
                self._emit_answer(answer, None, ConnectionClosed("not connected to synapsed", unsent=True))
                continue
            req = next(self._ids)
            self._pending[req] = (time.monotonic() + REQUEST_TIMEOUT_S, answer, method)

            def done(result: Any, error: Optional[BaseException], req: int = req) -> None:
                entry = self._pending.pop(req, None)
                if entry is not None:
                    self._emit_answer(entry[1], result, error)

            try:
                client.call_async(method, params, done)
            except ConnectionClosed as exc:
                done(None, exc)

    def expire_requests(self) -> None:
        """Fail requests the daemon left unanswered too long (called by the panel's timer)."""
        now = time.monotonic()
        for req, (deadline, answer, method) in list(self._pending.items()):
            if now >= deadline and self._pending.pop(req, None) is not None:
                answer(None, TimeoutError(f"{method}: synapsed did not answer within {REQUEST_TIMEOUT_S:g} s"))

    def _emit_answer(self, answer: Answer, result: Any, error: Optional[BaseException]) -> None:
        if self._closed.is_set():
            return
        self.bridge.post(self.token, "answer", answer, result, error)

    # ------------------------------------------------------------ paging helpers

    def load_history(self, session_id: str, answer: Callable[[Optional[dict], Optional[BaseException]], None]) -> None:
        """``session.get`` page by page (design §10); *answer(detail, error)* once all pages are in."""
        messages: list = []
        pages = [0]

        def page(result: Any, error: Optional[BaseException]) -> None:
            if error is not None:
                answer(None, error)
                return
            if not isinstance(result, dict):
                answer(None, ValueError("session.get returned no session"))
                return
            got = result.get("messages") if isinstance(result.get("messages"), list) else []
            messages.extend(got)
            pages[0] += 1
            total = result.get("message_count")
            more = isinstance(total, int) and len(messages) < total and got and pages[0] < HISTORY_MAX_PAGES
            if more:
                self.request("session.get", {"session_id": session_id, "after": len(messages) - 1,
                                             "limit": HISTORY_PAGE}, page)
                return
            detail = dict(result)
            detail["messages"] = messages
            answer(detail, None)

        self.request("session.get", {"session_id": session_id, "limit": HISTORY_PAGE}, page)

    # ------------------------------------------------------------ close

    def close(self) -> None:
        """Stop delivering; the worker thread ends. Turns keep running in the daemon."""
        self._closed.set()
        _controllers.pop(self.token, None)
        self.on_turn_event = None
        self._pending.clear()
        self._requests.put(None)

    @property
    def closed(self) -> bool:
        return self._closed.is_set()


def _future_outcome(future: Any) -> tuple[Any, Optional[BaseException]]:
    error = future.exception()
    return (None, error) if error is not None else (future.result(), None)


def _default_host() -> Any:
    import synapse_houdini

    return synapse_houdini.current_host()


__all__ = ["Bridge", "Controller", "bridge", "HISTORY_PAGE", "SESSIONS_PAGE", "prepare_event"]
