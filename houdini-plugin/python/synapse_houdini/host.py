"""The Houdini host peer: registers tools, serves ``tool.invoke``, submits turns.

One :class:`Host` owns one connection to ``synapsed`` (kept alive by the
:class:`~synapse_houdini.launcher.Supervisor`). On every (re)connection it sends
``host.register`` with Houdini's pid, hip path and the ToolSpecs, then:

* ``tool.invoke {call_id, turn_id, name, input, timeout_s}``: its body is queued for
  the main thread by the RPC reader as the line arrives (ADR 0034), and the call is
  answered on an RPC worker thread with ``{is_error, content}`` (plus ``images`` when the body
  returned a :class:`~synapse_houdini.tools.ToolResult` with images). The body runs on Houdini's main
  thread through :class:`~synapse_houdini.marshal.Marshal`, inside
  ``hou.undos.group("Synapse: <tool>")`` when the tool is not read-only. Failures
  become the agent_tool_error envelope. Each ``call_id`` runs at most once: a
  repeated invoke gets the first call's reply.
* ``tool.cancel {call_id}`` (notification) drops the job if it has not started.
* ``turn.event`` notifications are routed to the :class:`TurnHandle` of their turn.

Turns are submitted with :meth:`Host.ask`, which never blocks (lesson 3).
"""

from __future__ import annotations

import collections
import json
import logging
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Iterable, Optional

from . import marshal as _marshal
from ._hou import import_hou
from .errors import ToolError, TurnCancelled, TurnNotComplete, tool_error_envelope
from .launcher import DEFAULT_IDLE_EXIT_S, Supervisor, get_api_key
from .rpc import ConnectionClosed, RpcClient, RpcError
from . import context as _context
from . import dialogs as _dialogs
from .tools import ToolDef, ToolResult, builtin_tools
from .undo import UndoJournal

log = logging.getLogger("synapse_houdini.host")

FINAL_STATUSES = frozenset(
    {"complete", "cancelled", "api_error", "max_iterations", "max_tokens", "refusal", "interrupted", "unknown_stop_reason",
     "budget_exceeded"}
)
DEFAULT_TOOL_TIMEOUT_S = 30.0
#: ``turn.approve`` decisions (design §11).
APPROVAL_DECISIONS = frozenset({"allow", "deny", "allow_session"})
#: Completed call replies remembered for duplicate ``tool.invoke`` of the same call_id.
REMEMBERED_CALLS = 512

#: Largest tool result (bytes of JSON) sent back to the daemon. Well under the
#: protocol's 16 MiB line limit, so a huge result becomes an error the model
#: can act on instead of a line the daemon must drop. (The daemon applies its
#: own, smaller, model-facing limit: ``max_tool_result_bytes``.)
MAX_RESULT_BYTES = 8 * 1024 * 1024
REGISTER_TIMEOUT_S = 10.0


class UnknownToolError(ToolError):
    error_type = "UnknownTool"


# ====================================================================== turns

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


# ====================================================================== host

class _CallRecord:
    __slots__ = ("event", "reply", "job")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.reply: Optional[dict] = None
        self.job: Optional[_marshal.Job] = None


class Host:
    """The plugin's connection to ``synapsed`` as a Houdini host (see module docs)."""

    def __init__(
        self,
        *,
        marshal: _marshal.Marshal,
        tools: Optional[Iterable[ToolDef]] = None,
        extra_tools: Optional[Iterable[ToolDef]] = None,
        socket_path: Optional[str] = None,
        synapsed_bin: Optional[str] = None,
        idle_exit_s: int = DEFAULT_IDLE_EXIT_S,
        env: Optional[dict[str, str]] = None,
        name: str = "houdini",
        ui_available: bool = True,
        rpc_workers: int = 8,
    ) -> None:
        self.marshal = marshal
        self.name = name
        self.ui_available = ui_available
        tool_list = list(tools if tools is not None else builtin_tools()) + list(extra_tools or ())
        self._tools: dict[str, ToolDef] = {t.name: t for t in tool_list}
        self._rpc_workers = rpc_workers
        self._lock = threading.Lock()
        self._client: Optional[RpcClient] = None
        self.host_id: Optional[str] = None
        self._registered = threading.Event()
        self._calls: "collections.OrderedDict[str, _CallRecord]" = collections.OrderedDict()
        self._early_cancels: "collections.deque[str]" = collections.deque(maxlen=256)
        self._turns: dict[str, TurnHandle] = {}
        self._unsubmitted: "collections.deque[TurnHandle]" = collections.deque()
        self._inflight: set[TurnHandle] = set()
        self._bg = ThreadPoolExecutor(max_workers=1, thread_name_prefix="synapse-submit")
        self._stopped = False
        self._invocations = 0
        #: Undo groups per turn, for undo_turn (design §13).
        self.undo_journal = UndoJournal()
        self.supervisor = Supervisor(
            self._make_client,
            self._on_connected,
            socket_path=socket_path,
            synapsed_bin=synapsed_bin,
            idle_exit_s=idle_exit_s,
            env=env,
            api_key_provider=get_api_key,
            on_gave_up=self._on_gave_up,
            on_disconnected=self._registered.clear,
        )

    # ------------------------------------------------------------ lifecycle

    def start(self) -> "Host":
        """Start connecting in the background; returns at once."""
        self.supervisor.start()
        return self

    def stop(self) -> None:
        """Close the host connection; unfinished local turn handles end ``cancelled``-failed.

        The daemon keeps running until its idle timeout. Turns this host submitted
        that are still running are cancelled (best effort) so no waiter is stranded.
        """
        with self._lock:
            self._stopped = True
            client = self._client
            handles = list(self._inflight)  # the unsubmitted ones are in it too
            self._unsubmitted.clear()
        for handle in handles:
            if handle.turn_id is not None and client is not None and not client.closed:
                try:
                    client.call_async("turn.cancel", {"turn_id": handle.turn_id})
                except ConnectionClosed:
                    pass
            handle._fail(TurnCancelled("synapse_houdini.stop() was called before the turn finished"))
        self.supervisor.stop()
        self._bg.shutdown(wait=False)
        self._registered.clear()

    def wait_registered(self, timeout: Optional[float] = None) -> bool:
        """Wait until ``host.register`` succeeded (for scripts and tests; not on the main thread)."""
        if (timeout is None or timeout > 0) and self.marshal.is_main_thread():
            raise RuntimeError("wait_registered() with a timeout would block Houdini's main thread")
        return self._registered.wait(timeout)

    @property
    def tools(self) -> list[ToolDef]:
        return list(self._tools.values())

    def status(self) -> dict[str, Any]:
        """Connection, supervisor and main-thread state, as a plain dict."""
        sup = self.supervisor.status()
        with self._lock:
            inflight = len(self._inflight)  # includes the not yet submitted
        return {
            **sup,
            "registered": self._registered.is_set(),
            "host_id": self.host_id,
            "headless": self.marshal.headless,
            "main_thread_busy": self.marshal.busy,
            "tools": sorted(self._tools),
            "turns_in_flight": inflight,
            "tool_invocations": self._invocations,
        }

    # ------------------------------------------------------------ connection

    def _make_client(self, path: str) -> RpcClient:
        client = RpcClient.connect(path, max_workers=self._rpc_workers, name="synapse-host")
        client.register_staged_handler("tool.invoke", self._start_tool_invoke)
        client.set_notification_callback(self._handle_notification)
        return client

    def _register_params(self) -> dict[str, Any]:
        hou = import_hou()
        version, hip = "unknown", None
        if hou is not None:
            try:
                version = str(hou.applicationVersionString())
            except Exception:  # noqa: BLE001
                pass
            try:
                hip = str(hou.hipFile.path())
            except Exception:  # noqa: BLE001
                pass
        params: dict[str, Any] = {
            "name": self.name,
            "houdini_version": version,
            "pid": os.getpid(),
            "ui_available": self.ui_available,
            "tools": [t.spec() for t in self._tools.values()],
        }
        if hip is not None:
            params["hip"] = hip
        return params

    def _on_connected(self, client: RpcClient, info: dict) -> None:
        result = client.call("host.register", self._register_params(), timeout=REGISTER_TIMEOUT_S)
        with self._lock:
            self._client = client
            self.host_id = (result or {}).get("host_id")
            inflight = [h for h in self._inflight if h.turn_id is not None]
        if "pid" not in info:
            # Connected to a daemon we did not start: ask who it is (best effort).
            try:
                st = client.call("daemon.status", None, timeout=REGISTER_TIMEOUT_S) or {}
                self.supervisor._set(daemon_pid=st.get("pid"), daemon_version=st.get("version"))
            except (RpcError, ConnectionClosed, TimeoutError):
                pass
        self._registered.set()
        log.info("synapse: registered with synapsed as host %s", self.host_id)
        # Turns accepted on an earlier connection: follow them again.
        for handle in inflight:
            self._resume_turn(client, handle)
        self._schedule_flush()

    def _resume_turn(self, client: RpcClient, handle: TurnHandle) -> None:
        try:
            client.call("turn.subscribe", {"turn_id": handle.turn_id}, timeout=REGISTER_TIMEOUT_S)
            info = client.call("turn.get", {"turn_id": handle.turn_id}, timeout=REGISTER_TIMEOUT_S)
        except RpcError as exc:
            self._drop_turn(handle)
            handle._fail(exc)
            return
        except (ConnectionClosed, TimeoutError):
            return
        if isinstance(info, dict) and info.get("status") in FINAL_STATUSES and info.get("result"):
            self._drop_turn(handle)
            handle._finish(info["result"])
        elif handle._cancel_requested:
            self._cancel_turn(handle)  # cancel() was called while the connection was down

    def _on_gave_up(self, message: str) -> None:
        self._registered.clear()
        with self._lock:
            handles = list(self._inflight)  # includes the not yet submitted
            self._unsubmitted.clear()
            self._inflight.clear()
            self._turns.clear()
        for handle in handles:
            handle._fail(ConnectionClosed(message))

    # ------------------------------------------------------------ notifications

    def _handle_notification(self, method: str, params: Any) -> None:
        if not isinstance(params, dict):
            return
        if method == "turn.event":
            with self._lock:
                handle = self._turns.get(str(params.get("turn_id")))
            if handle is not None:
                handle._on_event(params)
                if handle.done():
                    self._drop_turn(handle)
        elif method == "tool.cancel":
            self._cancel_call(str(params.get("call_id")))

    def _drop_turn(self, handle: TurnHandle) -> None:
        with self._lock:
            self._inflight.discard(handle)
            if handle.turn_id is not None:
                self._turns.pop(handle.turn_id, None)

    # ------------------------------------------------------------ tool.invoke

    def _cancel_call(self, call_id: str) -> None:
        with self._lock:
            record = self._calls.get(call_id)
            job = record.job if record is not None else None
            if job is None:
                self._early_cancels.append(call_id)
        if job is not None and job.cancel():
            log.info("synapse: tool call %s cancelled before it started", call_id)

    def _handle_tool_invoke(self, params: Any) -> dict[str, Any]:
        """Serve one ``tool.invoke`` on this thread (start, then wait for the reply)."""
        return self._start_tool_invoke(params)()

    def _start_tool_invoke(self, params: Any) -> Callable[[], dict[str, Any]]:
        """Start a ``tool.invoke`` without waiting; the returned finish waits for its reply.

        Runs on the RPC reader thread (a staged handler): it checks the request,
        records the call and queues its body for the main thread at once, so the
        body does not wait for a worker thread to wake up first, and a ``tool.cancel``
        read next always finds the job. The finish runs on a worker.
        """
        if not isinstance(params, dict) or not isinstance(params.get("call_id"), str) or "name" not in params:
            raise RpcError(-32602, "tool.invoke needs {call_id, turn_id, name, input, timeout_s}")
        call_id = params["call_id"]
        name = str(params["name"])
        with self._lock:
            existing = self._calls.get(call_id)
            if existing is None:
                record = _CallRecord()
                self._calls[call_id] = record
                while len(self._calls) > REMEMBERED_CALLS:
                    self._calls.popitem(last=False)
        if existing is not None:
            return lambda: self._repeated_invoke(existing, call_id, name, params)
        try:
            pending = self._start_invoke(record, call_id, name, params)
        except BaseException:
            record.event.set()
            raise

        def finish() -> dict[str, Any]:
            try:
                reply = pending()
                record.reply = reply
            finally:
                record.event.set()
            return reply

        return finish

    @staticmethod
    def _repeated_invoke(existing: _CallRecord, call_id: str, name: str, params: dict) -> dict[str, Any]:
        # Each call runs exactly once: a repeated invoke gets the first reply.
        existing.event.wait(float(params.get("timeout_s") or DEFAULT_TOOL_TIMEOUT_S) + 0.5)
        if existing.reply is not None:
            return existing.reply
        return {"is_error": True, "content": tool_error_envelope(name, ToolError(
            f"call {call_id} is already running", "DuplicateCall"))}

    def _start_invoke(self, record: _CallRecord, call_id: str, name: str, params: dict) -> Callable[[], dict[str, Any]]:
        """Queue the body (never waits); the returned callable waits for it and makes the reply."""
        self._invocations += 1
        tool = self._tools.get(name)
        if tool is None:
            exc: BaseException = UnknownToolError(f"this Houdini host has no tool named {name!r}; known: {sorted(self._tools)}")
            unknown = {"is_error": True, "content": tool_error_envelope(name, exc)}
            return lambda: unknown
        tool_input = params.get("input")
        if tool_input is None:
            tool_input = {}
        try:
            timeout_s = float(params.get("timeout_s") or tool.timeout_s or DEFAULT_TOOL_TIMEOUT_S)
        except (TypeError, ValueError) as exc:
            bad = {"is_error": True, "content": tool_error_envelope(name, exc)}
            return lambda: bad
        turn_id = params.get("turn_id") if isinstance(params.get("turn_id"), str) else None
        job = _marshal.Job(lambda: self._run_body(tool, tool_input, call_id, turn_id, timeout_s), label=name)
        with self._lock:
            record.job = job
            cancelled_early = call_id in self._early_cancels
        if cancelled_early:
            job.cancel()
        try:
            queued = self.marshal.submit(job)
        except BaseException as exc:  # noqa: BLE001 - MainThreadBusy: data for the model
            busy = {"is_error": True, "content": tool_error_envelope(name, exc)}
            return lambda: busy
        return lambda: self._finish_invoke(job, name, timeout_s, queued)

    def _finish_invoke(self, job: _marshal.Job, name: str, timeout_s: float, queued: bool) -> dict[str, Any]:
        try:
            value = self.marshal.wait_job(job, timeout_s, queued)
            images = None
            if isinstance(value, ToolResult):
                value, images = value.content, list(value.images)
            # Encoded once: unknown types become strings; ASCII-escaped, so len() is bytes.
            text = json.dumps(value, default=str, separators=(",", ":"))
        except BaseException as exc:  # noqa: BLE001 - fail-visible: data for the model
            return {"is_error": True, "content": tool_error_envelope(name, exc)}
        image_bytes = sum(len(str(i.get("data", ""))) for i in images or () if isinstance(i, dict))
        if len(text) + image_bytes > MAX_RESULT_BYTES:
            too_large = ToolError(
                f"the tool returned {len(text) + image_bytes} bytes of JSON, more than the {MAX_RESULT_BYTES} a reply may carry; "
                "call it again on a narrower target", "ToolResultTooLarge")
            return {"is_error": True, "content": tool_error_envelope(name, too_large)}
        reply = {"is_error": False, "content": json.loads(text)}
        if images:
            reply["images"] = images
        return reply

    def _run_body(self, tool: ToolDef, tool_input: dict, call_id: Optional[str] = None,
                  turn_id: Optional[str] = None, timeout_s: float = DEFAULT_TOOL_TIMEOUT_S) -> Any:
        """The body as run on the main thread: undo group around mutating tools, recorded per turn."""
        if self.ui_available and not self.marshal.headless:
            _dialogs.check()  # HoudiniDialogOpen: nothing runs while a Houdini dialog window is up
        with _context.running(tool.name, call_id, turn_id, timeout_s):
            if tool.read_only:
                return tool.fn(tool_input)
            hou = import_hou()
            undos = getattr(hou, "undos", None) if hou is not None else None
            if undos is None:
                return tool.fn(tool_input)
            label = f"Synapse: {tool.name}"
            before = self.undo_journal.labels(hou) if turn_id is not None else None
            try:
                with undos.group(label):
                    return tool.fn(tool_input)
            finally:
                self.undo_journal.after_group(hou, turn_id, tool.name, label, before)

    def undo_turn(self, turn_id: str, timeout: float = 10.0) -> dict[str, Any]:
        """Undo every undo group the turn's tool calls made, if they are the newest undo entries.

        Returns ``{turn_id, undone: [labels]}``; raises :class:`~synapse_houdini.undo.UndoRefused`
        with the reason otherwise. Runs inline on Houdini's main thread (no I/O), else is
        marshalled there (waiting at most *timeout* seconds).
        """
        def run() -> dict[str, Any]:
            return self.undo_journal.undo_turn(import_hou(), turn_id)

        if self.marshal.is_main_thread():
            return run()
        return self.marshal.run_job(_marshal.Job(run, label="undo_turn"), timeout)

    # ------------------------------------------------------------ turns

    def ask(self, prompt: str, **turn_options: Any) -> TurnHandle:
        """Submit a turn in the background and return its handle at once."""
        handle = TurnHandle(self, prompt, turn_options)
        with self._lock:
            if self._stopped:
                raise RuntimeError("this Synapse host was stopped; call synapse_houdini.start() again")
            gave_up = self.supervisor.status()["state"] == "gave_up"
            if not gave_up:
                self._unsubmitted.append(handle)
                self._inflight.add(handle)
        if gave_up:
            handle._fail(ConnectionClosed(self.supervisor.status()["last_error"] or "synapsed is unavailable"))
            return handle
        self._schedule_flush()
        return handle

    def _schedule_flush(self) -> None:
        try:
            self._bg.submit(self._flush_submissions)
        except RuntimeError:
            pass  # stopped

    def _flush_submissions(self) -> None:
        while True:
            with self._lock:
                client = self._client
                if client is None or client.closed or not self._registered.is_set() or not self._unsubmitted:
                    return
                handle = self._unsubmitted.popleft()
            if handle._cancel_requested:
                self._drop_turn(handle)
                handle._fail(TurnCancelled("cancelled before it was submitted"))
                continue
            params: dict[str, Any] = {"prompt": handle.prompt}
            if self.host_id is not None:
                params["host_id"] = self.host_id
            params.update({k: v for k, v in handle.options.items() if v is not None})
            try:
                client.call_async("turn.submit", params, lambda result, error, h=handle, c=client: self._on_submitted(h, c, result, error))
            except ConnectionClosed as exc:
                self._on_submit_lost(handle, exc)
                if exc.unsent:
                    return  # wait for the next connection
                continue

    def _on_submit_lost(self, handle: TurnHandle, exc: ConnectionClosed) -> None:
        """The connection closed around a ``turn.submit`` (may be called twice for one send)."""
        if exc.unsent:
            # Not one byte of it went out: resubmitting after reconnecting cannot duplicate it.
            with self._lock:
                if not self._stopped and handle not in self._unsubmitted:
                    self._unsubmitted.appendleft(handle)
            return
        # The daemon may have received it and started the turn: resubmitting could run
        # (and bill) it twice, so fail the handle instead; the caller decides.
        self._drop_turn(handle)
        handle._fail(ConnectionClosed(f"the connection to synapsed closed after the turn was submitted ({exc}); "
                                      "it may or may not have started"))

    def _on_submitted(self, handle: TurnHandle, client: RpcClient, result: Any, error: Optional[BaseException]) -> None:
        # Runs on the RPC reader thread, before any turn.event of this turn is read.
        if isinstance(error, ConnectionClosed):
            self._on_submit_lost(handle, error)
            return
        if error is not None:
            self._drop_turn(handle)
            handle._fail(error)
            return
        turn_id = str((result or {}).get("turn_id"))
        with self._lock:
            self._turns[turn_id] = handle
        if handle._set_accepted(turn_id, (result or {}).get("session_id")):
            try:
                client.call_async("turn.cancel", {"turn_id": turn_id})
            except ConnectionClosed:
                pass

    def _schedule_cancel(self, handle: TurnHandle) -> None:
        """Send ``turn.cancel`` from the background thread: the caller (maybe Houdini's
        main thread) must not even wait for the socket's write lock."""
        try:
            self._bg.submit(self._cancel_turn, handle)
        except RuntimeError:
            pass  # stopped: stop() already cancelled the host's turns

    def _cancel_turn(self, handle: TurnHandle) -> None:
        """Send ``turn.cancel`` without waiting for the answer.

        With no connection now, the cancel is sent when the turn is followed again
        after reconnecting (``_resume_turn``).
        """
        with self._lock:
            client = self._client
        if client is None or client.closed:
            return

        def answered(result: Any, error: Optional[BaseException]) -> None:
            if error is not None:
                log.warning("synapse: turn.cancel %s failed: %s", handle.turn_id, error)

        try:
            client.call_async("turn.cancel", {"turn_id": handle.turn_id}, answered)
        except ConnectionClosed:
            pass  # resent by _resume_turn after reconnecting

    def _schedule_approve(self, handle: TurnHandle, params: dict[str, Any], future: "Future[dict]") -> None:
        """Send ``turn.approve`` from the background thread (the caller may be Houdini's main thread)."""
        try:
            self._bg.submit(self._send_approve, handle, params, future)
        except RuntimeError:
            future.set_exception(ConnectionClosed("this Synapse host was stopped", unsent=True))

    def _send_approve(self, handle: TurnHandle, params: dict[str, Any], future: "Future[dict]") -> None:
        if handle.turn_id is None:
            future.set_exception(RuntimeError("the turn was not accepted by synapsed (yet); nothing to approve"))
            return
        with self._lock:
            client = self._client
        if client is None or client.closed:
            future.set_exception(ConnectionClosed("not connected to synapsed", unsent=True))
            return

        def answered(result: Any, error: Optional[BaseException]) -> None:
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result if isinstance(result, dict) else {"accepted": bool(result)})

        try:
            client.call_async("turn.approve", {"turn_id": handle.turn_id, **params}, answered)
        except ConnectionClosed as exc:
            future.set_exception(exc)

    def call_reply(self, call_id: str) -> Optional[dict]:
        """The ``{is_error, content, images?}`` this host answered for *call_id*, if it still
        remembers it (the last :data:`REMEMBERED_CALLS` calls), else None. For display
        (the panel's tool cards); never waits."""
        with self._lock:
            record = self._calls.get(call_id)
        return record.reply if record is not None else None
