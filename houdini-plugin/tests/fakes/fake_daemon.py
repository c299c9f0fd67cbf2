"""A small Python stand-in for ``synapsed`` (tests and the benchmark only, NOT shipped).

It speaks the same NDJSON JSON-RPC 2.0 contract (design §3–§4) for the parts the
plugin uses: ``host.register``, ``daemon.status``, ``daemon.shutdown``,
``turn.submit/get/wait/cancel/subscribe`` and, towards the host, ``tool.invoke``
and ``tool.cancel``. A turn runs a scripted plan of tool calls through the
registered host and streams ``turn.event`` notifications.

Run as a program it behaves like ``synapsed serve``: it prints the readiness line
and exits after ``--exit-when-idle`` seconds without connections, which lets the
launcher and supervisor be tested without the Rust daemon.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import socket
import sys
import threading
import time
import uuid
from typing import Any, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
_PLUGIN_PYTHON = os.path.join(os.path.dirname(os.path.dirname(HERE)), "python")
if _PLUGIN_PYTHON not in sys.path:  # also run as a program (the launcher tests' "synapsed")
    sys.path.insert(0, _PLUGIN_PYTHON)

from synapse_houdini.errors import rfc3339_now  # noqa: E402
from synapse_houdini.rpc import default_socket_path  # noqa: E402


class AfterReply:
    """A handler result plus an action to run once the response is written."""

    def __init__(self, result: Any, after: Any) -> None:
        self.result = result
        self.after = after


class Conn:
    """One client connection, seen from the daemon."""

    def __init__(self, daemon: "FakeDaemon", sock: socket.socket) -> None:
        self.daemon = daemon
        self.sock = sock
        self.write_lock = threading.Lock()
        self.pending: dict[int, tuple[threading.Event, dict]] = {}
        self.ids = itertools.count(1)
        self.host_id: Optional[str] = None
        self.closed = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def send(self, message: dict) -> None:
        data = (json.dumps(message, separators=(",", ":")) + "\n").encode()
        with self.write_lock:
            try:
                self.sock.sendall(data)
            except OSError:
                self.close()

    def request(self, method: str, params: Any, timeout: float = 60.0) -> dict:
        """Send a request to the peer and wait for its response message."""
        req_id = next(self.ids)
        event, slot = threading.Event(), {}
        self.pending[req_id] = (event, slot)
        self.send({"jsonrpc": "2.0", "id": req_id, "method": method, "params": params})
        if not event.wait(timeout):
            self.pending.pop(req_id, None)
            raise TimeoutError(method)
        return slot

    def close(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        for event, slot in list(self.pending.values()):
            slot["error"] = {"code": -32000, "message": "closed"}
            event.set()
        self.daemon._closed(self)

    def _read(self) -> None:
        reader = self.sock.makefile("rb")
        try:
            for line in reader:
                if not line.strip():
                    continue
                msg = json.loads(line)
                if "method" in msg:
                    if msg.get("id") is None:
                        self.daemon.notifications.append((msg["method"], msg.get("params")))
                        continue
                    threading.Thread(target=self._serve, args=(msg,), daemon=True).start()
                else:
                    entry = self.pending.pop(msg.get("id"), None)
                    if entry is not None:
                        entry[1].update(msg)
                        entry[0].set()
        except (OSError, ValueError):
            pass
        finally:
            self.close()

    def _serve(self, msg: dict) -> None:
        method, params = msg["method"], msg.get("params") or {}
        self.daemon.requests.append((method, params))
        handler = getattr(self.daemon, "rpc_" + method.replace(".", "_"), None)
        if handler is None:
            self.send({"jsonrpc": "2.0", "id": msg["id"], "error": {"code": -32601, "message": "Method not found"}})
            return
        try:
            result = handler(self, params)
        except KeyError as exc:
            self.send({"jsonrpc": "2.0", "id": msg["id"], "error": {"code": -32001, "message": f"not found: {exc}"}})
            return
        after = None
        if isinstance(result, AfterReply):
            result, after = result.result, result.after
        self.send({"jsonrpc": "2.0", "id": msg["id"], "result": result})
        if after is not None:
            after()  # e.g. start the turn: its events follow the response (design §3)


class FakeDaemon:
    """The daemon side. ``plan`` is the list of ``(tool_name, input)`` each turn calls."""

    def __init__(self, path: str, plan: Optional[list[tuple[str, dict]]] = None, exit_when_idle: Optional[float] = None,
                 approvals: Optional[set[str]] = None, approval_timeout_s: float = 30.0) -> None:
        self.path = path
        self.plan = plan or []
        #: Tool names whose calls wait for ``turn.approve`` (design §11), as in mode ``ask``.
        self.approvals = set(approvals or ())
        self.approval_timeout_s = approval_timeout_s
        #: Every ``turn.approve`` received: ``(params, accepted)``.
        self.approve_log: list[tuple[dict, bool]] = []
        self.exit_when_idle = exit_when_idle
        self.conns: list[Conn] = []
        self.requests: list[tuple[str, Any]] = []
        self.notifications: list[tuple[str, Any]] = []
        self.hosts: dict[str, Conn] = {}
        self.turns: dict[str, dict] = {}
        self.host_registered = threading.Event()
        self._lock = threading.Lock()
        self._idle_since: Optional[float] = time.monotonic()
        self._stop = threading.Event()
        self.listener: Optional[socket.socket] = None

    # ------------------------------------------------------------ server

    def start(self) -> "FakeDaemon":
        os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
        if os.path.exists(self.path):
            os.unlink(self.path)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(16)
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def _accept(self) -> None:
        assert self.listener is not None
        while not self._stop.is_set():
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            with self._lock:
                self.conns.append(Conn(self, sock))
                self._idle_since = None

    def _closed(self, conn: Conn) -> None:
        with self._lock:
            if conn in self.conns:
                self.conns.remove(conn)
            for host_id, c in list(self.hosts.items()):
                if c is conn:
                    del self.hosts[host_id]
            if not self.conns:
                self._idle_since = time.monotonic()

    def stop(self) -> None:
        self._stop.set()
        if self.listener is not None:
            self.listener.close()
        for conn in list(self.conns):
            conn.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass

    def serve_until_idle(self) -> None:
        """Block until no connection was open for ``exit_when_idle`` seconds."""
        while not self._stop.wait(0.05):
            with self._lock:
                idle = self._idle_since
            if self.exit_when_idle is not None and idle is not None and time.monotonic() - idle >= self.exit_when_idle:
                self.stop()
                return

    # ------------------------------------------------------------ host side

    def host(self, timeout: float = 10.0) -> Conn:
        if not self.host_registered.wait(timeout):
            raise TimeoutError("no host registered")
        with self._lock:
            return next(iter(self.hosts.values()))

    def invoke(self, name: str, tool_input: Any = None, timeout_s: float = 30.0, call_id: Optional[str] = None,
               turn_id: str = "turn_test") -> dict:
        """Send ``tool.invoke`` to the host and return the response message."""
        params = {"call_id": call_id or f"toolu_{uuid.uuid4().hex[:12]}", "turn_id": turn_id, "name": name,
                  "input": tool_input if tool_input is not None else {}, "timeout_s": timeout_s}
        return self.host().request("tool.invoke", params, timeout=timeout_s + 30)

    # ------------------------------------------------------------ methods

    def rpc_host_register(self, conn: Conn, params: dict) -> dict:
        host_id = "host_" + uuid.uuid4().hex[:8]
        conn.host_id = host_id
        conn.register_params = params  # type: ignore[attr-defined]
        with self._lock:
            self.hosts[host_id] = conn
        self.host_registered.set()
        return {"host_id": host_id}

    def rpc_daemon_status(self, conn: Conn, params: dict) -> dict:
        return {"version": "0.0.0-fake", "protocol": 1, "pid": os.getpid(), "hosts": [], "socket": self.path}

    def rpc_daemon_shutdown(self, conn: Conn, params: dict) -> dict:
        return AfterReply({}, self.stop)

    def rpc_turn_submit(self, conn: Conn, params: dict) -> dict:
        turn_id = "turn_" + uuid.uuid4().hex[:10]
        session_id = params.get("session_id") or "sess_" + uuid.uuid4().hex[:8]
        turn = {"turn_id": turn_id, "session_id": session_id, "status": "queued", "cancel": threading.Event(),
                "result": None, "seq": itertools.count(0), "subscribers": [conn], "prompt": params.get("prompt")}
        self.turns[turn_id] = turn
        start = threading.Thread(target=self._run_turn, args=(turn,), daemon=True).start
        return AfterReply({"turn_id": turn_id, "session_id": session_id}, start)

    def rpc_turn_get(self, conn: Conn, params: dict) -> dict:
        turn = self.turns[params["turn_id"]]
        info = {"turn_id": turn["turn_id"], "session_id": turn["session_id"], "status": turn["status"]}
        if turn["result"] is not None:
            info["result"] = turn["result"]
        return info

    def rpc_turn_subscribe(self, conn: Conn, params: dict) -> dict:
        turn = self.turns[params["turn_id"]]
        turn["subscribers"].append(conn)
        return {}

    def rpc_turn_cancel(self, conn: Conn, params: dict) -> dict:
        turn = self.turns[params["turn_id"]]
        if turn["result"] is not None:
            return {"cancelled": False}
        turn["cancel"].set()
        return {"cancelled": True}

    def rpc_turn_approve(self, conn: Conn, params: dict) -> dict:
        turn = self.turns[params["turn_id"]]
        pending = turn.get("approval")
        accepted = (pending is not None and pending["call_id"] == params.get("call_id")
                    and params.get("decision") in ("allow", "deny", "allow_session") and not pending["event"].is_set())
        if accepted:
            pending["decision"] = params["decision"]
            pending["reason"] = params.get("reason")
            pending["event"].set()
        self.approve_log.append((dict(params), accepted))
        return {"accepted": accepted}

    # ------------------------------------------------------------ turns

    def _await_approval(self, turn: dict, call_id: str, name: str, tool_input: Any) -> Optional[dict]:
        """Emit ``approval_request`` and wait; None when allowed, else the error content."""
        if name in turn.setdefault("allowed_for_session", set()):
            return None
        pending = {"call_id": call_id, "event": threading.Event(), "decision": None, "reason": None}
        turn["approval"] = pending
        turn["status"] = "awaiting_approval"
        self._emit(turn, "approval_request", call_id=call_id, name=name, input=tool_input, destructive=True)
        self._emit(turn, "status", status="awaiting_approval")
        deadline = time.monotonic() + self.approval_timeout_s
        while not pending["event"].wait(0.02):
            if turn["cancel"].is_set() or time.monotonic() > deadline:
                break
        turn["approval"] = None
        turn["status"] = "running"
        self._emit(turn, "status", status="running")
        decision = pending["decision"]
        if decision == "allow_session":
            turn["allowed_for_session"].add(name)
        if decision in ("allow", "allow_session"):
            return None
        if decision == "deny":
            return {"agent_tool_error": True, "tool_name": name, "error_type": "DeniedByUser",
                    "error_message": pending["reason"] or "the artist denied this call"}
        return {"agent_tool_error": True, "tool_name": name, "error_type": "ApprovalTimeout",
                "error_message": "no answer"}

    def _emit(self, turn: dict, kind: str, **fields: Any) -> None:
        event = {"turn_id": turn["turn_id"], "seq": next(turn["seq"]), "type": kind, **fields}
        for conn in list(turn["subscribers"]):
            if not conn.closed.is_set():
                conn.send({"jsonrpc": "2.0", "method": "turn.event", "params": event})

    def _run_turn(self, turn: dict) -> None:
        started = rfc3339_now()
        turn["status"] = "running"
        self._emit(turn, "status", status="running")
        calls = []
        status = "complete"
        last = ""
        for index, (name, tool_input) in enumerate(self.plan):
            if turn["cancel"].is_set():
                status = "cancelled"
                break
            call_id = f"toolu_{index:02d}_{uuid.uuid4().hex[:6]}"
            self._emit(turn, "tool_call", call_id=call_id, name=name, input=tool_input)
            t0 = time.monotonic()
            denied = self._await_approval(turn, call_id, name, tool_input) if name in self.approvals else None
            if turn["cancel"].is_set():
                status = "cancelled"
                break
            if denied is not None:
                result = {"is_error": True, "content": denied}
            else:
                try:
                    reply = self.invoke(name, tool_input, call_id=call_id, turn_id=turn["turn_id"])
                    result = reply.get("result") or {"is_error": True, "content": reply.get("error")}
                except (TimeoutError, StopIteration) as exc:
                    result = {"is_error": True, "content": {"error_type": "HostUnavailable", "error_message": str(exc)}}
            ms = int((time.monotonic() - t0) * 1000)
            calls.append({"call_id": call_id, "name": name, "input": tool_input, "is_error": result["is_error"], "duration_ms": ms})
            self._emit(turn, "tool_result", call_id=call_id, is_error=result["is_error"], duration_ms=ms)
            last = json.dumps(result["content"])[:200]
        if turn["cancel"].is_set():
            status = "cancelled"
        text = f"Done. Last tool said: {last}" if status == "complete" else ""
        if text:
            self._emit(turn, "text", text=text)
        result = {"turn_id": turn["turn_id"], "session_id": turn["session_id"], "status": status, "text": text,
                  "iterations": len(self.plan) + 1, "tool_calls": calls,
                  "usage": {"input_tokens": 10, "output_tokens": 5, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0},
                  "started_at": started, "finished_at": rfc3339_now()}
        turn["result"] = result
        turn["status"] = status
        self._emit(turn, "done", result=result)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="fake-synapsed")
    sub = parser.add_subparsers(dest="cmd", required=True)
    serve = sub.add_parser("serve")
    serve.add_argument("--socket")
    serve.add_argument("--data-dir")
    serve.add_argument("--exit-when-idle", type=float)
    args = parser.parse_args(argv)
    path = args.socket or default_socket_path()
    daemon = FakeDaemon(path, exit_when_idle=args.exit_when_idle).start()
    # Record the environment's key presence (never the key) for the launcher tests.
    marker = os.environ.get("FAKE_SYNAPSED_ENV_REPORT")
    if marker:
        with open(marker, "w") as fh:
            json.dump({"argv": sys.argv, "has_key": bool(os.environ.get("ANTHROPIC_API_KEY")),
                       "key": os.environ.get("ANTHROPIC_API_KEY")}, fh)
    print(json.dumps({"ready": True, "socket": path, "pid": os.getpid(), "version": "0.0.0-fake", "protocol": 1}), flush=True)
    daemon.serve_until_idle()
    return 0


if __name__ == "__main__":
    sys.exit(main())
