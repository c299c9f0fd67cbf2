"""The Houdini host peer: registers tools, serves ``tool.invoke``, submits turns.

One :class:`Host` owns one connection to ``synapsed`` (kept alive by the
:class:`~synapse_houdini.launcher.Supervisor`). On every (re)connection it sends
``host.register`` with Houdini's pid, hip path and the ToolSpecs, then:

* ``tool.invoke {call_id, turn_id, name, input, timeout_s}``: its body is queued for
  the main thread by the RPC reader as the line arrives (ADR 0034), and the call is
  answered by the thread that ends it (ADR 0036) with ``{is_error, content}`` (plus ``images`` when the body
  returned a :class:`~synapse_houdini.tools.ToolResult` with images). The body runs on Houdini's main
  thread through :class:`~synapse_houdini.marshal.Marshal`, inside
  ``hou.undos.group("Synapse: <tool>")`` when the tool is not read-only. Failures
  become the agent_tool_error envelope. Each ``call_id`` runs at most once: a
  repeated invoke gets the first call's reply.
* ``tool.cancel {call_id}`` (notification) drops the job if it has not started.
* ``turn.event`` notifications are routed to the :class:`TurnHandle` of their turn.

Turns are submitted with :meth:`Host.ask`, which never blocks (lesson 3).

The ``tool.invoke`` serving is :class:`~synapse_houdini.tool_calls.ToolCalls` (a base of
:class:`Host`); :class:`~synapse_houdini.turn_handle.TurnHandle` is in its own module.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Iterable, Optional

from . import marshal as _marshal
from ._hou import import_hou
from .errors import TurnCancelled
from .deadlines import Deadlines
from .launcher import DEFAULT_IDLE_EXIT_S, Supervisor, get_api_key
from .rpc import ConnectionClosed, RpcClient, RpcError
from .tools import ToolDef, builtin_tools
from .undo import UndoJournal
# The turn handle and the tool.invoke serving live in their own modules; their names
# stay importable from here as before.
from .tool_calls import (  # noqa: F401 - re-exported
    DEFAULT_TOOL_TIMEOUT_S,
    MAX_RESULT_BYTES,
    REMEMBERED_CALLS,
    ToolCalls,
    UnknownToolError,
    _CallRecord,
)
from .turn_handle import APPROVAL_DECISIONS, FINAL_STATUSES, TurnHandle  # noqa: F401 - re-exported

log = logging.getLogger("synapse_houdini.host")
REGISTER_TIMEOUT_S = 10.0


class Host(ToolCalls):
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
        #: Every tool.invoke timeout, on one timer thread (ADR 0036).
        self._deadlines = Deadlines()
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
        client.register_deferred_handler("tool.invoke", self._serve_tool_invoke)
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
