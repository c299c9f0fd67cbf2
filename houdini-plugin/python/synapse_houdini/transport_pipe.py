"""The Windows named-pipe transport of the plugin's JSON-RPC client (design §3).

The daemon listens on ``\\\\.\\pipe\\synapse-<user>`` (``SYNAPSE_SOCKET`` overrides
it as on Unix). The client end is opened with ``_winapi.CreateFile`` and
``FILE_FLAG_OVERLAPPED`` and every read and write is an overlapped operation
(``_winapi.ReadFile/WriteFile(..., overlapped=True)``, then
``GetOverlappedResult(True)``, which waits with the GIL released). That is what
lets the reader thread sit in a pending read while other threads write: on a
handle opened *without* that flag Windows serialises I/O per handle, and a
blocked read would hold every writer (and so Houdini's tool replies) until the
daemon next sent a line. ADR 0027 says why this and not an asyncio proactor loop.

Closing (any thread) cancels the operations in flight (``CancelIoEx`` through
``Overlapped.cancel``); the handle is closed by whoever finishes the last of
them, so no overlapped object is ever freed while Windows still writes into it.

Errors, as on Unix: no pipe (``ERROR_FILE_NOT_FOUND``) → ``FileNotFoundError``
("daemon not running", the launcher starts one); all instances busy
(``ERROR_PIPE_BUSY``) → ``WaitNamedPipe`` and retry until the connect timeout,
then ``TimeoutError``; the daemon gone (``ERROR_BROKEN_PIPE`` and kin) → end of
stream on read, ``BrokenPipeError`` on write.

Stdlib only. This module imports on any OS (``_winapi`` is loaded when a pipe is
opened); its tests run on Linux against a fake ``_winapi`` — it has not run on
Windows CPython.
"""

from __future__ import annotations

import errno
import os
import threading
import time
from typing import Any, Optional

# Win32 values (winerror.h, winnt.h, winbase.h), fixed by the platform ABI.
GENERIC_READ = 0x80000000
GENERIC_WRITE = 0x40000000
OPEN_EXISTING = 3
FILE_FLAG_OVERLAPPED = 0x40000000
#: With SECURITY_IDENTIFICATION: a server squatting on the pipe name may learn
#: who we are but never act as us (no impersonation of our token).
SECURITY_SQOS_PRESENT = 0x00100000
SECURITY_IDENTIFICATION = 0x00010000
NULL = 0

ERROR_FILE_NOT_FOUND = 2
ERROR_PATH_NOT_FOUND = 3
ERROR_INVALID_HANDLE = 6
ERROR_BROKEN_PIPE = 109
ERROR_SEM_TIMEOUT = 121
ERROR_PIPE_BUSY = 231
ERROR_NO_DATA = 232
ERROR_PIPE_NOT_CONNECTED = 233
ERROR_MORE_DATA = 234
ERROR_OPERATION_ABORTED = 995
ERROR_IO_PENDING = 997
ERROR_NETNAME_DELETED = 64

#: The daemon's end is gone (closed, crashed, or the pipe is being torn down).
PEER_GONE = frozenset({ERROR_BROKEN_PIPE, ERROR_NO_DATA, ERROR_PIPE_NOT_CONNECTED, ERROR_NETNAME_DELETED})

#: Bytes asked for per ReadFile (a line longer than this spans several reads).
READ_CHUNK = 64 * 1024


def default_pipe_name() -> str:
    """``SYNAPSE_SOCKET``, else ``\\\\.\\pipe\\synapse-<user>``, named as the daemon names it:
    ``<user>`` is ``%USERNAME%`` (``user`` when unset) with every character but
    letters, digits, ``-``, ``_`` and ``.`` replaced by ``_``."""
    explicit = os.environ.get("SYNAPSE_SOCKET")
    if explicit:
        return explicit
    user = os.environ.get("USERNAME") or "user"
    user = "".join(c if c.isalnum() or c in "-_." else "_" for c in user)
    return "\\\\.\\pipe\\synapse-" + user


def load_winapi() -> Any:
    """CPython's ``_winapi`` module (Windows only; tests replace this)."""
    import _winapi  # type: ignore[import-not-found]  # noqa: PLC0415 - Windows only

    return _winapi


def winerror_of(exc: BaseException) -> Optional[int]:
    """The Win32 error code of an ``OSError`` raised by ``_winapi`` (None if it has none)."""
    return getattr(exc, "winerror", None)


def _gone(message: str) -> BrokenPipeError:
    return BrokenPipeError(errno.EPIPE, message)


class PipeTransport:
    """A connected client end of a byte-mode named pipe, opened for overlapped I/O.

    ``sendall``/``readline``/``close`` as :class:`~synapse_houdini.transport_unix.SocketTransport`.
    One thread reads; any number write (the RPC client serialises writers, and
    a write never waits for the pending read).
    """

    def __init__(self, handle: int, winapi: Any, name: str = "") -> None:
        self._w = winapi
        self._handle = handle
        self.name = name
        self._lock = threading.Lock()
        self._closed = False
        self._handle_closed = False
        self._inflight: set = set()  # overlapped objects not finished yet
        self._buf = bytearray()
        self._scanned = 0  # bytes of _buf known to hold no b"\n"
        self._eof = False

    # ------------------------------------------------------------ I/O

    def _start(self, op: str, *args: Any) -> Any:
        """Issue an overlapped ReadFile/WriteFile under the lock; returns the overlapped object."""
        with self._lock:
            if self._closed:
                raise _gone("pipe closed")
            ov, err = getattr(self._w, op)(self._handle, *args, overlapped=True)
            self._inflight.add(ov)
            return ov

    def _finish(self, ov: Any) -> tuple[int, int]:
        """Wait for *ov* (GIL released) and return ``(transferred, error)``."""
        try:
            return ov.GetOverlappedResult(True)
        finally:
            with self._lock:
                self._inflight.discard(ov)
                close_now = self._closed and not self._inflight
            if close_now:
                self._close_handle()

    def _read_chunk(self) -> bytes:
        try:
            ov = self._start("ReadFile", READ_CHUNK)
        except OSError as exc:
            if winerror_of(exc) in PEER_GONE or isinstance(exc, BrokenPipeError):
                return b""
            raise
        try:
            _, err = self._finish(ov)
        except OSError as exc:
            if winerror_of(exc) in PEER_GONE:
                return b""
            raise
        if err == ERROR_OPERATION_ABORTED or self._closed:
            return b""
        data = ov.getbuffer()
        return bytes(data) if data else b""

    def readline(self, limit: int) -> bytes:
        while True:
            nl = self._buf.find(b"\n", self._scanned)
            if nl != -1 and nl < limit:
                return self._take(nl + 1)
            if len(self._buf) >= limit:
                return self._take(limit)
            self._scanned = len(self._buf)
            if self._eof:
                return self._take(len(self._buf))
            chunk = self._read_chunk()
            if not chunk:
                self._eof = True
            else:
                self._buf += chunk

    def _take(self, n: int) -> bytes:
        out = bytes(self._buf[:n])
        del self._buf[:n]
        self._scanned = 0
        return out

    def sendall(self, data: bytes) -> None:
        view = memoryview(data)
        while len(view):
            try:
                ov = self._start("WriteFile", view)
            except OSError as exc:
                if winerror_of(exc) in PEER_GONE:
                    raise _gone(f"the daemon closed the pipe (winerror {winerror_of(exc)})") from exc
                raise
            try:
                written, err = self._finish(ov)
            except OSError as exc:
                if winerror_of(exc) in PEER_GONE:
                    raise _gone(f"the daemon closed the pipe (winerror {winerror_of(exc)})") from exc
                raise
            if err == ERROR_OPERATION_ABORTED:
                raise _gone("pipe closed while writing")
            if written <= 0:
                raise _gone("the pipe accepted no bytes")
            view = view[written:]

    # ------------------------------------------------------------ close

    def close(self) -> None:
        """Cancel what is in flight and close the handle (now, or when the last operation ends)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            pending = list(self._inflight)
        for ov in pending:
            try:
                ov.cancel()
            except OSError:
                pass
        with self._lock:
            close_now = not self._inflight
        if close_now:
            self._close_handle()

    def _close_handle(self) -> None:
        with self._lock:
            if self._handle_closed:
                return
            self._handle_closed = True
        try:
            self._w.CloseHandle(self._handle)
        except OSError:
            pass


def connect_pipe(name: str, timeout: float, winapi: Any = None) -> PipeTransport:
    """Open the daemon's pipe *name*, waiting at most *timeout* s while every instance is busy.

    ``FileNotFoundError`` when no daemon listens (as a missing Unix socket),
    ``TimeoutError`` when the pipe stays busy, other ``OSError`` as Windows says.
    """
    w = winapi if winapi is not None else load_winapi()
    deadline = time.monotonic() + max(0.0, timeout)
    flags = FILE_FLAG_OVERLAPPED | SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION
    while True:
        try:
            handle = w.CreateFile(name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, flags, NULL)
            return PipeTransport(handle, w, name)
        except OSError as exc:
            code = winerror_of(exc)
            if code in (ERROR_FILE_NOT_FOUND, ERROR_PATH_NOT_FOUND):
                raise FileNotFoundError(errno.ENOENT, "synapsed is not running (no pipe there)", name) from None
            if code != ERROR_PIPE_BUSY:
                raise
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(errno.ETIMEDOUT, f"every instance of the pipe stayed busy for {timeout:g} s", name)
        try:
            # Returns when an instance is free (another client may still take it first: loop).
            w.WaitNamedPipe(name, max(1, int(remaining * 1000)))
        except OSError as exc:
            code = winerror_of(exc)
            if code in (ERROR_FILE_NOT_FOUND, ERROR_PATH_NOT_FOUND):
                raise FileNotFoundError(errno.ENOENT, "synapsed is not running (no pipe there)", name) from None
            if code == ERROR_SEM_TIMEOUT:
                raise TimeoutError(errno.ETIMEDOUT, f"every instance of the pipe stayed busy for {timeout:g} s", name) from None
            raise


__all__ = ["PipeTransport", "connect_pipe", "default_pipe_name", "load_winapi"]
