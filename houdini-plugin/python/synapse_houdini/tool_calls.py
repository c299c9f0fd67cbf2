"""Serving ``tool.invoke`` for the Houdini host (split from ``host``).

:class:`ToolCalls` is the part of :class:`~synapse_houdini.host.Host` that serves
``tool.invoke`` and ``tool.cancel``: its body is queued for the main thread by the
RPC reader as the line arrives (ADR 0034), and the call is answered by the thread
that ends it (ADR 0036): Houdini's main thread right after the body for a small
result (a worker for a large one), or the host's deadline thread on a timeout, with
``{is_error, content}`` (plus ``images``). Each ``call_id`` runs at most
once (the reply memory). It uses the host's ``_lock``, ``_tools``, ``marshal``,
``undo_journal``, ``ui_available`` and ``_invocations``.
"""

from __future__ import annotations

import collections
import json
import logging
import threading
from typing import Any, Callable, Optional

from . import marshal as _marshal
from ._hou import import_hou
from .errors import ToolError, tool_error_envelope
from .rpc import Respond, RpcError
from . import context as _context
from . import dialogs as _dialogs
from .deadlines import Deadline, Deadlines
from .tools import ToolDef, ToolResult
from .undo import UndoJournal

log = logging.getLogger("synapse_houdini.host")

DEFAULT_TOOL_TIMEOUT_S = 30.0
#: Completed call replies remembered for duplicate ``tool.invoke`` of the same call_id.
REMEMBERED_CALLS = 512

#: Largest tool result (bytes of JSON) sent back to the daemon. Well under the
#: protocol's 16 MiB line limit, so a huge result becomes an error the model
#: can act on instead of a line the daemon must drop. (The daemon applies its
#: own, smaller, model-facing limit: ``max_tool_result_bytes``.)
MAX_RESULT_BYTES = 8 * 1024 * 1024


#: A result "small" enough to be encoded and sent from Houdini's main thread
#: (ADR 0036): at most this many items plus string characters; bigger ones go to a worker.
SMALL_REPLY_BUDGET = 4096


def _small(value: Any, budget: int) -> bool:
    """True when *value* has at most *budget* items + string characters (stops early: O(budget))."""
    stack = [value]
    while stack:
        item = stack.pop()
        budget -= 1
        if isinstance(item, str):
            budget -= len(item)
        elif isinstance(item, dict):
            budget -= len(item)
            if budget < 0:
                return False
            for k, v in item.items():
                if isinstance(k, str):
                    budget -= len(k)
                stack.append(v)
        elif isinstance(item, (list, tuple)):
            budget -= len(item)
            if budget < 0:
                return False
            stack.extend(item)
        elif not isinstance(item, (int, float, bool)) and item is not None:
            return False  # a ToolResult (images), or a type encoded with str(): a worker's job
        if budget < 0:
            return False
    return True


class UnknownToolError(ToolError):
    error_type = "UnknownTool"



class _CallRecord:
    __slots__ = ("event", "reply", "job", "_once")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.reply: Optional[dict] = None
        self.job: Optional[_marshal.Job] = None
        self._once = threading.Lock()

    def claim(self) -> bool:
        """True for the first caller only: the body's end and the timeout race to answer."""
        return self._once.acquire(blocking=False)

    def claimed(self) -> bool:
        """True once the call was answered (or is being answered)."""
        return self._once.locked()


class ToolCalls:
    """``tool.invoke``/``tool.cancel`` serving and the call-reply memory (a base of ``Host``)."""

    marshal: _marshal.Marshal
    ui_available: bool
    undo_journal: UndoJournal
    _lock: threading.Lock
    _tools: dict[str, ToolDef]
    _calls: "collections.OrderedDict[str, _CallRecord]"
    _early_cancels: "collections.deque[str]"
    _invocations: int
    _deadlines: Deadlines

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

        Runs on the RPC reader thread: it checks the request, records the call and
        queues its body for the main thread at once, so the body does not wait for a
        worker thread to wake up first, and a ``tool.cancel`` read next always finds
        the job. The finish runs on a worker. (The connection serves ``tool.invoke``
        with :meth:`_serve_tool_invoke`, which needs no worker.)
        """
        finish = self._begin_tool_invoke(params, None)
        assert finish is not None
        return finish

    def _serve_tool_invoke(self, params: Any, respond: Respond) -> Optional[Callable[[], dict[str, Any]]]:
        """The deferred ``tool.invoke`` handler (reader thread; ADR 0036).

        As :meth:`_start_tool_invoke`, but a body queued for the main thread answers
        itself: the main thread makes the reply right after the body and sends it
        without waiting, and the call's timeout is one entry in the host's
        :class:`~synapse_houdini.deadlines.Deadlines` instead of a waiting worker.
        Returns None then; otherwise (an unknown tool, a repeated call id, headless
        mode, a busy main thread) a finish for a worker, as before.
        """
        return self._begin_tool_invoke(params, respond)

    def _begin_tool_invoke(self, params: Any, respond: Optional[Respond]) -> Optional[Callable[[], dict[str, Any]]]:
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
            pending = self._start_invoke(record, call_id, name, params, respond)
        except BaseException:
            record.event.set()
            raise
        if pending is None:
            return None  # answered by the job itself, or by its deadline

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

    def _start_invoke(self, record: _CallRecord, call_id: str, name: str, params: dict,
                      respond: Optional[Respond] = None) -> Optional[Callable[[], dict[str, Any]]]:
        """Queue the body (never waits); the returned callable waits for it and makes the reply.

        With *respond*, a body queued for the main thread answers itself (None is returned).
        """
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
        deferred = respond is not None and not self.marshal.headless
        deadline: list[Deadline] = []  # the call's timeout, once armed
        if deferred:
            assert respond is not None
            timeout = self.marshal.timeout_of(timeout_s)

            def make_reply(get_value: Callable[[], Any]) -> dict[str, Any]:
                try:
                    reply = self._reply(name, get_value)
                    record.reply = reply
                finally:
                    record.event.set()
                return reply

            def answer(get_value: Callable[[], Any]) -> None:
                # The timer thread: make and send the reply here.
                if record.claim():  # else the body's end answered first
                    job.on_done = None  # it will not run now: no cycle left for the collector
                    respond(make_reply(get_value))

            def on_done(done: _marshal.Job) -> None:
                # Houdini's main thread (or tool.cancel's). A small result is encoded and
                # sent from here (non-blocking); a large one's encoding (which grows with
                # it) and send are left to one worker, so the main thread's share stays
                # bounded (SMALL_REPLY_BUDGET).
                if not record.claim():
                    return  # the timeout answered first
                if deadline:
                    deadline[0].cancel()  # lets go of this call at once
                if done.exc is not None or _small(done.result, SMALL_REPLY_BUDGET):
                    respond(make_reply(lambda: self.marshal.settle(done)))
                else:
                    respond(later=lambda: make_reply(lambda: self.marshal.settle(done)))

            job.on_done = on_done
        with self._lock:
            record.job = job
            cancelled_early = call_id in self._early_cancels
        if cancelled_early:
            job.cancel()
        try:
            queued = self.marshal.submit(job)
        except BaseException as exc:  # noqa: BLE001 - MainThreadBusy: data for the model
            job.on_done = None
            busy = {"is_error": True, "content": tool_error_envelope(name, exc)}
            return lambda: busy
        if deferred and queued:
            deadline.append(self._deadlines.add(self.marshal.deadline(job, timeout),
                                                lambda: answer(lambda: self.marshal.expire(job, timeout))))
            if record.claimed():
                deadline[0].cancel()  # answered before its deadline was armed
            return None
        job.on_done = None  # run inline by the worker's wait_job: answered there
        return lambda: self._finish_invoke(job, name, timeout_s, queued)

    def _finish_invoke(self, job: _marshal.Job, name: str, timeout_s: float, queued: bool) -> dict[str, Any]:
        return self._reply(name, lambda: self.marshal.wait_job(job, timeout_s, queued))

    @staticmethod
    def _reply(name: str, get_value: Callable[[], Any]) -> dict[str, Any]:
        """``{is_error, content, images?}`` for the body's value (or its exception)."""
        try:
            value = get_value()
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

    def call_reply(self, call_id: str) -> Optional[dict]:
        """The ``{is_error, content, images?}`` this host answered for *call_id*, if it still
        remembers it (the last :data:`REMEMBERED_CALLS` calls), else None. For display
        (the panel's tool cards); never waits."""
        with self._lock:
            record = self._calls.get(call_id)
        return record.reply if record is not None else None
