"""NDJSON JSON-RPC 2.0 client over the daemon's local socket (design §3).

The transport is chosen by platform (:mod:`.transport`): a Unix socket, or on
Windows a named pipe opened for overlapped I/O.

One compact JSON message per ``\\n``-terminated UTF-8 line. Both sides may send
requests on one connection; each side matches only its own ids.

Threads
-------
* a **reader** thread parses lines: responses wake the waiting caller through a
  per-id ``threading.Event``; notifications go to a queue drained in order by a
  **notification** thread (so a slow callback never stalls the reader); requests
  from the daemon (``tool.invoke``) go to a **worker pool** and are answered there,
  never on the reader thread. A *staged* handler (:meth:`RpcClient.register_staged_handler`)
  first runs a quick start on the reader thread that must never wait (``tool.invoke``
  queues its body for Houdini's main thread there, saving one thread hand-off per
  call), then its finish runs and is answered on a worker. A *deferred* handler
  (:meth:`RpcClient.register_deferred_handler`) answers from whichever thread calls its
  ``respond`` (``tool.invoke``: Houdini's main thread, right after the body), with a
  non-blocking send; only what cannot be written at once goes to a worker (ADR 0036);
* writes are serialised by a lock, one whole line per ``sendall``; a write never
  waits for the reader (on Windows that takes overlapped I/O: :mod:`.transport_pipe`).

When the socket closes, every pending call fails at once with
:class:`ConnectionClosed` (its ``unsent`` flag says whether the request line was
certainly never written, i.e. whether resending it cannot duplicate it).

Stdlib only, no asyncio.
"""

from __future__ import annotations

import itertools
import json
import logging
import queue
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Optional

from . import transport as _transport
from .transport_unix import SocketTransport

log = logging.getLogger("synapse_houdini.rpc")

#: JSON-RPC codes used here (design §4).
METHOD_NOT_FOUND = -32601
INTERNAL_ERROR = -32603
INVALID_REQUEST = -32600
PARSE_ERROR = -32700

#: Largest line accepted from the daemon (design §3).
MAX_LINE_BYTES = 16 * 1024 * 1024

Handler = Callable[[Any], Any]
NotificationCallback = Callable[[str, Any], None]
#: ``respond(result)`` or ``respond(error=exc)``: answers a deferred request once (later calls do nothing).
Respond = Callable[..., bool]


class RpcError(Exception):
    """An error response: ``code``, ``message`` and optional ``data``."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{message} (code {code})")
        self.code = code
        self.message = message
        self.data = data


class ConnectionClosed(ConnectionError):
    """The connection closed before (or while) a call was answered.

    ``unsent`` is True only when the request was certainly never written to the
    socket (the connection was already closed before its first byte), so the
    peer cannot have acted on it; False means it may have been received.
    """

    def __init__(self, message: str = "connection closed", *, unsent: bool = False) -> None:
        super().__init__(message)
        self.unsent = unsent


def default_socket_path() -> str:
    """Resolve the daemon's address exactly as design §3 says.

    ``SYNAPSE_SOCKET`` wins; else on Windows ``\\\\.\\pipe\\synapse-<user>``; else
    ``$XDG_RUNTIME_DIR/synapse/synapsed.sock``; else
    ``$TMPDIR/synapse-<uid>/synapsed.sock`` (``/tmp`` when ``TMPDIR`` is unset).
    """
    return _transport.default_address()


def _dumps(message: dict) -> bytes:
    return (json.dumps(message, separators=(",", ":"), ensure_ascii=False) + "\n").encode("utf-8")


class _Pending:
    """One outstanding request of ours: an event and a result slot."""

    __slots__ = ("event", "result", "error", "callback", "sent")

    def __init__(self, callback: Optional[Callable[["_Pending"], None]] = None) -> None:
        self.event = threading.Event()
        self.result: Any = None
        self.error: Optional[BaseException] = None
        self.callback = callback
        #: Set just before the request's bytes are handed to the socket.
        self.sent = False


class RpcClient:
    """A JSON-RPC 2.0 peer on a connected stream socket or transport.

    *sock* is a connected ``socket.socket`` or a transport object
    (``sendall``/``readline``/``close``, see :mod:`.transport_unix`).
    Use :meth:`connect` to open the daemon's socket or pipe. The client is thread-safe:
    any thread may :meth:`call` or :meth:`notify` concurrently.
    """

    def __init__(
        self,
        sock: Any,
        on_notification: Optional[NotificationCallback] = None,
        max_workers: int = 8,
        name: str = "synapse-rpc",
    ) -> None:
        self._transport = SocketTransport(sock) if isinstance(sock, socket.socket) else sock
        self._on_notification = on_notification
        self._handlers: dict[str, Handler] = {}
        self._staged: dict[str, Callable[[Any], Callable[[], Any]]] = {}
        self._deferred: dict[str, Callable[[Any, Respond], Optional[Callable[[], Any]]]] = {}
        self._pending: dict[int, _Pending] = {}
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._closed = threading.Event()
        self._name = name
        self._workers = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=f"{name}-worker")
        self._notes: "queue.Queue[Optional[tuple[str, Any]]]" = queue.Queue()
        self._reader = threading.Thread(target=self._read_loop, name=f"{name}-reader", daemon=True)
        self._notifier = threading.Thread(target=self._notify_loop, name=f"{name}-notify", daemon=True)
        self._reader.start()
        self._notifier.start()

    # ------------------------------------------------------------------ setup

    @classmethod
    def connect(cls, path: Optional[str] = None, timeout: float = 5.0, **kwargs: Any) -> "RpcClient":
        """Connect to the daemon at *path* (default :func:`default_socket_path`):
        a Unix socket, or a named pipe on Windows.

        Raises ``OSError`` (``FileNotFoundError``, ``ConnectionRefusedError``,
        ``TimeoutError``...) when nothing listens there.
        """
        return cls(_transport.open_transport(path or default_socket_path(), timeout), **kwargs)

    def register_handler(self, method: str, handler: Handler) -> None:
        """Serve requests for *method* from the peer: ``handler(params) -> result``.

        The handler runs on a worker thread. Raising :class:`RpcError` sends that
        error; any other exception sends ``-32603``.
        """
        self._handlers[method] = handler

    def register_staged_handler(self, method: str, start: Callable[[Any], Callable[[], Any]]) -> None:
        """Serve *method* in two stages: ``start(params) -> finish``, then ``finish() -> result``.

        ``start`` runs on the reader thread, before the next line is read: it must be
        quick and must never wait (no I/O, no lock held for long, no blocking queue).
        ``finish`` runs on a worker thread and its return value (or exception, as for
        :meth:`register_handler`) is the answer; an exception from ``start`` is
        answered the same way, from a worker.
        """
        self._staged[method] = start

    def register_deferred_handler(
        self, method: str, start: Callable[[Any, Respond], Optional[Callable[[], Any]]]
    ) -> None:
        """Serve *method* with ``start(params, respond)`` on the reader thread (ADR 0036).

        ``start`` has the rules of :meth:`register_staged_handler`'s start. It either
        returns a finish callable (run and answered on a worker, as a staged handler's),
        or returns None and promises that ``respond(result)``, ``respond(error=exc)`` or
        ``respond(later=make_result)`` (*make_result* runs on a worker: for a caller that
        must not even encode the answer, such as Houdini's main thread) will be called
        later, from any thread: the
        answer is written with a non-blocking send, and whatever cannot be written at
        once (the write lock is held, or the socket buffer is full, or the transport has
        no non-blocking send) is finished by a worker. Only the first ``respond`` counts
        (it returns True; later ones return False and send nothing).
        """
        self._deferred[method] = start

    def set_notification_callback(self, callback: Optional[NotificationCallback]) -> None:
        """Set the ``callback(method, params)`` run (in order, on one thread) per notification."""
        self._on_notification = callback

    # ------------------------------------------------------------------ state

    @property
    def closed(self) -> bool:
        """True once the connection has closed (either side)."""
        return self._closed.is_set()

    def wait_closed(self, timeout: Optional[float] = None) -> bool:
        """Block until the connection closes; True if it did within *timeout*."""
        return self._closed.wait(timeout)

    # ------------------------------------------------------------------ calls

    def _send(self, message: dict, pending: Optional[_Pending] = None) -> None:
        data = _dumps(message)
        with self._write_lock:
            if self._closed.is_set():
                raise ConnectionClosed("connection closed", unsent=True)
            if pending is not None:
                pending.sent = True  # from here on the peer may receive it
            try:
                self._transport.sendall(data)
            except OSError as exc:
                # The reader notices too; make sure waiters are released.
                self._shutdown()
                raise ConnectionClosed(f"send failed: {exc}") from exc

    def call_async(
        self, method: str, params: Any = None, callback: Optional[Callable[[Any, Optional[BaseException]], None]] = None
    ) -> None:
        """Send a request without waiting; ``callback(result, error)`` runs on the reader thread.

        Raises :class:`ConnectionClosed` at once if the connection is closed. The
        callback must be quick (it runs on the reader thread, before any later line
        is read, so it sees the response before any notification that follows it).
        """

        def done(pending: _Pending) -> None:
            if callback is not None:
                callback(pending.result, pending.error)

        self._request(method, params, _Pending(done))

    def _request(self, method: str, params: Any, pending: _Pending) -> int:
        req_id = next(self._ids)
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": req_id, "method": method}
        if params is not None:
            message["params"] = params
        with self._lock:
            if self._closed.is_set():
                raise ConnectionClosed("connection closed", unsent=True)
            self._pending[req_id] = pending
        try:
            self._send(message, pending)
        except BaseException:
            with self._lock:
                self._pending.pop(req_id, None)
            raise
        return req_id

    def call(self, method: str, params: Any = None, timeout: Optional[float] = 30.0) -> Any:
        """Send a request and wait for its response.

        Raises :class:`RpcError` on an error response, :class:`ConnectionClosed`
        when the socket closes first, ``TimeoutError`` after *timeout* seconds.
        """
        pending = _Pending()
        req_id = self._request(method, params, pending)
        if not pending.event.wait(timeout):
            with self._lock:
                self._pending.pop(req_id, None)
            raise TimeoutError(f"{method}: no response within {timeout} s")
        if pending.error is not None:
            raise pending.error
        return pending.result

    def notify(self, method: str, params: Any = None) -> None:
        """Send a notification (no id, no response)."""
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        self._send(message)

    def close(self) -> None:
        """Close the connection; pending calls fail with :class:`ConnectionClosed`."""
        self._shutdown()

    # ------------------------------------------------------------------ reader

    def _read_loop(self) -> None:
        try:
            reader = self._transport
            while True:
                line = reader.readline(MAX_LINE_BYTES + 1)
                if not line:
                    break
                if not line.endswith(b"\n") and len(line) > MAX_LINE_BYTES:
                    log.warning("%s: dropping an over-long line from the peer", self._name)
                    # Skip the rest of the line.
                    while line and not line.endswith(b"\n"):
                        line = reader.readline(MAX_LINE_BYTES)
                    continue
                line = line.strip()
                if not line:
                    continue
                try:
                    message = json.loads(line.decode("utf-8"))
                except (ValueError, UnicodeDecodeError):
                    log.warning("%s: unparseable line from the peer", self._name)
                    self._try_send({"jsonrpc": "2.0", "id": None, "error": {"code": PARSE_ERROR, "message": "Parse error"}})
                    continue
                if isinstance(message, list):
                    for item in message:
                        self._dispatch(item)
                else:
                    self._dispatch(message)
        except OSError:
            pass
        except Exception:  # pragma: no cover - defensive
            log.exception("%s: reader crashed", self._name)
        finally:
            self._shutdown()

    def _dispatch(self, message: Any) -> None:
        if not isinstance(message, dict):
            return
        if "method" in message:
            method = message["method"]
            params = message.get("params")
            if "id" in message and message["id"] is not None:
                deferred = self._deferred.get(method)
                start = self._staged.get(method)
                if deferred is not None:
                    self._start_deferred(message["id"], method, deferred, params)
                elif start is not None:
                    self._start_staged(message["id"], method, start, params)
                else:
                    self._workers_submit(message["id"], method, params)
            else:
                self._notes.put((method, params))
            return
        if "result" in message or "error" in message:
            req_id = message.get("id")
            with self._lock:
                pending = self._pending.pop(req_id, None) if isinstance(req_id, int) else None
            if pending is None:
                if req_id is None and "error" in message:
                    log.warning("%s: peer reported %s", self._name, message["error"])
                return
            if "error" in message and message["error"] is not None:
                err = message["error"] or {}
                pending.error = RpcError(int(err.get("code", INTERNAL_ERROR)), str(err.get("message", "")), err.get("data"))
            else:
                pending.result = message.get("result")
            self._complete(pending)

    @staticmethod
    def _complete(pending: _Pending) -> None:
        if pending.callback is not None:
            try:
                pending.callback(pending)
            except Exception:  # pragma: no cover - defensive
                log.exception("rpc callback failed")
        pending.event.set()

    def _workers_submit(self, req_id: Any, method: str, params: Any) -> None:
        try:
            self._workers.submit(self._serve_request, req_id, method, params)
        except RuntimeError:
            pass  # pool shut down: the connection is closing

    def _start_staged(self, req_id: Any, method: str, start: Callable[[Any], Callable[[], Any]], params: Any) -> None:
        """Run a staged handler's start here (reader thread), its finish on a worker."""
        try:
            finish = start(params)
        except Exception as exc:  # answered from the worker, like a handler's exception
            failure = exc

            def finish() -> Any:
                raise failure

        try:
            self._workers.submit(self._answer, req_id, method, finish)
        except RuntimeError:
            pass  # pool shut down: the connection is closing

    def _start_deferred(
        self, req_id: Any, method: str, start: Callable[[Any, Respond], Optional[Callable[[], Any]]], params: Any
    ) -> None:
        """Run a deferred handler's start here (reader thread); see :meth:`register_deferred_handler`."""
        respond = self._responder(req_id, method)
        try:
            finish = start(params, respond)
        except Exception as exc:
            respond(error=exc)
            return
        if finish is not None:
            try:
                self._workers.submit(lambda: respond(_run=finish))
            except RuntimeError:
                pass  # pool shut down: the connection is closing

    def _responder(self, req_id: Any, method: str) -> Respond:
        once = threading.Lock()

        def respond(result: Any = None, error: Optional[BaseException] = None,
                    _run: Optional[Callable[[], Any]] = None, later: Optional[Callable[[], Any]] = None) -> bool:
            if not once.acquire(blocking=False):
                return False
            if _run is not None:
                self._answer(req_id, method, _run)  # on a worker: it may block
                return True
            if later is not None:
                # Made and sent on a worker: the caller (Houdini's main thread) only enqueues.
                self._later(lambda: self._answer(req_id, method, later))
                return True

            def outcome() -> Any:
                if error is not None:
                    raise error
                return result

            self._send_nowait(self._reply(req_id, method, outcome))
            return True

        return respond

    def _send_nowait(self, message: dict) -> None:
        """Write *message* without ever waiting: what cannot go out now is left to a worker.

        The write lock is only tried; a partial non-blocking send keeps it, and the
        worker that writes the rest releases it (so no other line can interleave).
        """
        data = _dumps(message)
        if not self._write_lock.acquire(blocking=False):
            self._later(lambda: self._try_send(message))
            return
        try_send = getattr(self._transport, "try_send", None)
        if self._closed.is_set():
            self._write_lock.release()
            return
        if try_send is None:
            self._write_lock.release()
            self._later(lambda: self._try_send(message))
            return
        try:
            sent = try_send(data)
        except OSError:
            self._write_lock.release()
            self._shutdown()
            return
        if sent >= len(data):
            self._write_lock.release()
            return
        rest = data[sent:]

        def finish_write() -> None:
            try:
                self._transport.sendall(rest)
            except OSError:
                self._shutdown()
            finally:
                self._write_lock.release()

        if not self._later(finish_write):
            self._write_lock.release()

    def _later(self, fn: Callable[[], None]) -> bool:
        """Run *fn* on a worker; False when the pool is shut down (the connection is closing)."""
        try:
            self._workers.submit(fn)
            return True
        except RuntimeError:
            return False

    def _serve_request(self, req_id: Any, method: str, params: Any) -> None:
        handler = self._handlers.get(method)
        if handler is None:
            self._try_send({
                "jsonrpc": "2.0",
                "id": req_id,
                "error": {"code": METHOD_NOT_FOUND, "message": f"Method not found: {method}"},
            })
            return
        self._answer(req_id, method, lambda: handler(params))

    def _answer(self, req_id: Any, method: str, run: Callable[[], Any]) -> None:
        """Run *run* (on a worker) and send its result or error as the answer to *req_id*."""
        self._try_send(self._reply(req_id, method, run))

    def _reply(self, req_id: Any, method: str, run: Callable[[], Any]) -> dict[str, Any]:
        """The response message for *req_id*: *run*'s result, or its exception as an error."""
        try:
            reply: dict[str, Any] = {"jsonrpc": "2.0", "id": req_id, "result": run()}
        except RpcError as exc:
            error: dict[str, Any] = {"code": exc.code, "message": exc.message}
            if exc.data is not None:
                error["data"] = exc.data
            reply = {"jsonrpc": "2.0", "id": req_id, "error": error}
        except Exception as exc:
            log.exception("%s: handler for %s failed", self._name, method)
            reply = {"jsonrpc": "2.0", "id": req_id, "error": {"code": INTERNAL_ERROR, "message": str(exc)}}
        return reply

    def _try_send(self, message: dict) -> None:
        try:
            self._send(message)
        except ConnectionClosed:
            pass

    def _notify_loop(self) -> None:
        while True:
            item = self._notes.get()
            if item is None:
                return
            callback = self._on_notification
            if callback is None:
                continue
            try:
                callback(item[0], item[1])
            except Exception:
                log.exception("%s: notification callback failed", self._name)

    # ------------------------------------------------------------------ close

    def _shutdown(self) -> None:
        with self._lock:
            if self._closed.is_set():
                return
            self._closed.set()
            pending = list(self._pending.values())
            self._pending.clear()
        self._transport.close()
        # The socket is closed: no request can be written any more, so ``sent`` is final.
        for item in pending:
            item.error = ConnectionClosed("connection closed before the response", unsent=not item.sent)
            self._complete(item)
        self._notes.put(None)
        self._workers.shutdown(wait=False)


__all__ = [
    "ConnectionClosed",
    "RpcClient",
    "RpcError",
    "Respond",
    "default_socket_path",
]
