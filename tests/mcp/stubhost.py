"""A stub Houdini host for the MCP tests: a real socket client of the daemon that
registers a few tools and answers ``tool.invoke`` from a reader thread.

Tools: ``look`` (read-only, strict schema), ``make`` (mutating), ``nuke``
(destructive), ``fail`` (answers an error envelope), ``snap`` (answers a real
PNG image), ``slow`` (never answers: for cancellation). Every ``tool.invoke``
and ``tool.cancel`` is recorded; waits on them are bounded.
"""

from __future__ import annotations

import base64
import json
import socket
import struct
import threading
import time
import zlib
from typing import Any, Optional


def png_bytes(width: int = 4, height: int = 3) -> bytes:
    """A real RGB PNG of *width* x *height*."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + bytes([200, 30, 30]) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


PNG_B64 = base64.b64encode(png_bytes()).decode()

LOOK_SCHEMA = {"type": "object", "additionalProperties": False, "required": ["path"],
               "properties": {"path": {"type": "string"}, "limit": {"type": "integer", "minimum": 1}}}
OPEN_SCHEMA = {"type": "object", "properties": {}}


def default_tools() -> list[dict]:
    def tool(name: str, read_only: bool, schema: dict = OPEN_SCHEMA, **extra: Any) -> dict:
        return {"name": name, "description": f"stub {name}", "input_schema": schema, "read_only": read_only, **extra}

    return [tool("look", True, LOOK_SCHEMA), tool("make", False), tool("nuke", False, destructive=True),
            tool("fail", True), tool("snap", True), tool("slow", True)]


def envelope(tool: str, error_type: str, message: str) -> dict:
    return {"agent_tool_error": True, "tool_name": tool, "error_type": error_type, "error_message": message,
            "traceback_str": "", "timestamp": "2026-12-02T10:00:00.000Z"}


class StubHost:
    def __init__(self, socket_path: str, tools: Optional[list] = None, pid: int = 4242) -> None:
        self.socket_path = socket_path
        self.tools = tools if tools is not None else default_tools()
        self.pid = pid
        self.host_id: Optional[str] = None
        self.invokes: list[dict] = []
        self.cancels: list[str] = []
        self._cond = threading.Condition()
        self._sock: Optional[socket.socket] = None
        self._write_lock = threading.Lock()
        self._thread: Optional[threading.Thread] = None

    def _send(self, msg: dict) -> None:
        assert self._sock is not None
        with self._write_lock:
            self._sock.sendall(json.dumps(msg).encode() + b"\n")

    def start(self, timeout: float = 10.0) -> "StubHost":
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(timeout)
        self._sock.connect(self.socket_path)
        self._send({"jsonrpc": "2.0", "id": 1, "method": "host.register",
                    "params": {"name": "houdini", "houdini_version": "21.0.440", "pid": self.pid,
                               "hip": f"/show/stub{self.pid}.hip", "ui_available": True, "tools": self.tools}})
        buf = b""
        while b"\n" not in buf:
            part = self._sock.recv(65536)
            if not part:
                raise RuntimeError("daemon closed the connection during host.register")
            buf += part
        line, rest = buf.split(b"\n", 1)
        self.host_id = json.loads(line)["result"]["host_id"]
        self._sock.settimeout(None)
        self._thread = threading.Thread(target=self._read, args=(rest,), daemon=True)
        self._thread.start()
        return self

    def _read(self, buf: bytes) -> None:
        sock = self._sock
        assert sock is not None
        while True:
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                self._handle(json.loads(line))
            try:
                part = sock.recv(65536)
            except OSError:
                return
            if not part:
                return
            buf += part

    def _handle(self, msg: dict) -> None:
        method = msg.get("method")
        params = msg.get("params") or {}
        if method == "tool.cancel":
            with self._cond:
                self.cancels.append(params.get("call_id"))
                self._cond.notify_all()
            return
        if method != "tool.invoke":
            return
        with self._cond:
            self.invokes.append(params)
            self._cond.notify_all()
        name = params.get("name")
        if name == "slow":
            return
        if name == "fail":
            result = {"is_error": True, "content": envelope("fail", "NodeNotFound", "no node /obj/missing")}
        elif name == "snap":
            result = {"is_error": False, "content": {"width": 4, "height": 3},
                      "images": [{"media_type": "image/png", "data": PNG_B64}]}
        else:
            result = {"is_error": False, "content": {"tool": name, "input": params.get("input")}}
        self._send({"jsonrpc": "2.0", "id": msg["id"], "result": result})

    def wait_invoke(self, name: str, timeout: float = 10.0) -> dict:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for p in self.invokes:
                    if p.get("name") == name:
                        return p
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no tool.invoke of {name} within {timeout}s: {self.invokes}")
                self._cond.wait(left)

    def wait_cancel(self, call_id: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while call_id not in self.cancels:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no tool.cancel for {call_id} within {timeout}s: {self.cancels}")
                self._cond.wait(left)

    def stop(self) -> None:
        if self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._sock.close()
            self._sock = None
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> "StubHost":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
