"""The Unix-socket transport of the plugin's JSON-RPC client (design §3, Linux and macOS).

:class:`SocketTransport` is the small interface :class:`~synapse_houdini.rpc.RpcClient`
reads and writes through (the same one :mod:`.transport_pipe` offers on Windows):

* ``sendall(data)``: write every byte or raise ``OSError``;
* ``try_send(data)`` (optional; not on Windows): write what fits now, never wait, and
  return the number of bytes written;
* ``readline(limit)``: up to *limit* bytes ending at the first ``\\n`` (``b""`` at
  end of stream), like ``io.BufferedReader.readline``;
* ``close()``: from any thread, at once; a ``readline`` blocked in another thread
  returns (``b""`` or ``OSError``).
"""

from __future__ import annotations

import os
import socket


def default_socket_path() -> str:
    """``SYNAPSE_SOCKET``; else ``$XDG_RUNTIME_DIR/synapse/synapsed.sock``; else
    ``$TMPDIR/synapse-<uid>/synapsed.sock`` (``/tmp`` when ``TMPDIR`` is unset)."""
    explicit = os.environ.get("SYNAPSE_SOCKET")
    if explicit:
        return explicit
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return os.path.join(runtime, "synapse", "synapsed.sock")
    tmp = os.environ.get("TMPDIR") or "/tmp"
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return os.path.join(tmp, f"synapse-{uid}", "synapsed.sock")


class SocketTransport:
    """A connected stream socket seen through the transport interface."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._reader = None  # made by the reader thread on its first readline

    def sendall(self, data: bytes) -> None:
        self.sock.sendall(data)

    def try_send(self, data: bytes) -> int:
        """Write what the socket takes now without waiting; the number of bytes written."""
        try:
            return self.sock.send(data, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return 0

    def readline(self, limit: int) -> bytes:
        if self._reader is None:
            self._reader = self.sock.makefile("rb")
        return self._reader.readline(limit)

    def close(self) -> None:
        # shutdown() wakes a reader blocked in recv; close() alone would not.
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass


def connect_unix(path: str, timeout: float) -> SocketTransport:
    """Connect to the Unix socket at *path*; ``OSError`` (``FileNotFoundError``,
    ``ConnectionRefusedError``, ``TimeoutError``...) when nothing listens there."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(path)
        sock.settimeout(None)
    except BaseException:
        sock.close()
        raise
    return SocketTransport(sock)


__all__ = ["SocketTransport", "connect_unix", "default_socket_path"]
