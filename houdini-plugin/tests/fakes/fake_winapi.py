"""A fake of CPython's ``_winapi`` for the named-pipe transport's tests (NOT shipped).

CPython for Windows cannot run here, so :mod:`synapse_houdini.transport_pipe` is
tested on Linux against this object. It offers only names the real module has,
with CPython 3.11's signatures (``Modules/_winapi.c``):

* ``CreateFile(file_name, desired_access, share_mode, security_attributes,
  creation_disposition, flags_and_attributes, template_file)`` → handle;
* ``ReadFile(handle, size, overlapped=False)`` → ``(Overlapped, err)`` with
  ``overlapped=True``, else ``(bytes, err)``;
* ``WriteFile(handle, buffer, overlapped=False)`` → ``(Overlapped, err)`` /
  ``(written, err)``;
* ``WaitNamedPipe(name, timeout)``, ``CloseHandle(handle)``;
* ``Overlapped``: ``event``, ``GetOverlappedResult(wait, /)`` → ``(transferred,
  err)`` (raises ``OSError`` for errors other than ``ERROR_MORE_DATA`` and
  ``ERROR_OPERATION_ABORTED``), ``getbuffer()`` (``ValueError`` before
  ``GetOverlappedResult`` saw completion, even when ReadFile finished at once),
  ``cancel()`` (``CancelIoEx``).

Errors are ``OSError`` with ``winerror`` set and ``errno`` mapped as CPython maps
them (so ``ERROR_FILE_NOT_FOUND`` is a ``FileNotFoundError``, ``ERROR_BROKEN_PIPE``
a ``BrokenPipeError``).

The Windows behaviour that matters is modelled: a handle opened **without**
``FILE_FLAG_OVERLAPPED`` serialises its I/O (a blocked read holds every write on
that handle, whatever ``overlapped=`` says), a byte-mode pipe returns what is
there (a line may arrive over several reads), a write larger than the pipe's
free buffer stays pending until the server reads, and closing a handle aborts
what is in flight on it (recorded, because CPython warns when an ``Overlapped``
still in flight is freed).

Test controls (not in the real module) are the :class:`FakePipeServer` methods
and the ``calls`` record.
"""

from __future__ import annotations

import errno
import itertools
import threading
import time
from typing import Any, Optional

FILE_FLAG_OVERLAPPED = 0x40000000
INFINITE = 0xFFFFFFFF
NULL = 0

ERROR_FILE_NOT_FOUND = 2
ERROR_INVALID_HANDLE = 6
ERROR_BROKEN_PIPE = 109
ERROR_SEM_TIMEOUT = 121
ERROR_PIPE_BUSY = 231
ERROR_NO_DATA = 232
ERROR_MORE_DATA = 234
ERROR_OPERATION_ABORTED = 995
ERROR_IO_INCOMPLETE = 996
ERROR_IO_PENDING = 997

# CPython's winerror → errno table, for the codes used here (PC/errmap.h).
_ERRNO = {2: errno.ENOENT, 3: errno.ENOENT, 6: errno.EBADF, 109: errno.EPIPE, 232: errno.EPIPE}


def winerror(code: int, message: str = "") -> OSError:
    exc = OSError(_ERRNO.get(code, errno.EINVAL), message or f"[WinError {code}]")
    exc.winerror = code  # type: ignore[attr-defined]
    return exc


class Overlapped:
    """``_winapi.Overlapped``: one overlapped read or write."""

    def __init__(self, fake: "FakeWinapi", conn: "_Conn", kind: str, size: int = 0, data: bytes = b"") -> None:
        self._fake = fake
        self._conn = conn
        self.kind = kind
        self.event = next(fake._ids)
        self._size = size
        self._data = bytearray(data)  # a write's bytes not yet in the pipe
        self._total = len(data)
        self._result = bytearray()  # a read's bytes
        self._done = False
        self._err = 0
        self._raise: Optional[int] = None
        self._pending = False
        self._completed = False

    def _complete(self, err: int = 0, raise_code: Optional[int] = None) -> None:
        self._done = True
        self._err = err
        self._raise = raise_code
        self._fake._cv.notify_all()

    def GetOverlappedResult(self, wait, /):  # noqa: N802 - the real name
        cv = self._fake._cv
        with cv:
            if wait:
                while not self._done:
                    cv.wait()
            if not self._done:
                return (0, ERROR_IO_INCOMPLETE)
            self._pending = False
            if self._raise is not None:
                raise winerror(self._raise)
            self._completed = True
            n = len(self._result) if self.kind == "read" else self._total - len(self._data)
            return (n, self._err)

    def getbuffer(self):
        if not self._completed:
            raise ValueError("can't get read buffer before GetOverlappedResult() signals the operation completed")
        return bytes(self._result) if self.kind == "read" else None

    def cancel(self):
        with self._fake._cv:
            self._fake.calls.append(("cancel", self.kind))
            if self._pending and not self._done:
                self._conn.forget(self)
                self._complete(ERROR_OPERATION_ABORTED)
            self._pending = False


class _Conn:
    """One client/server connection: two byte streams and what waits on them."""

    def __init__(self, fake: "FakeWinapi", capacity: int) -> None:
        self.fake = fake
        self.capacity = capacity
        self.to_client = bytearray()
        self.to_server = bytearray()  # in the pipe's buffer (at most `capacity`)
        self.server_in = bytearray()  # read by the daemon, not yet taken as a line
        self.reads: list[Overlapped] = []
        self.writes: list[Overlapped] = []
        self.server_closed = False
        self.client_closed = False

    def forget(self, ov: Overlapped) -> None:
        for q in (self.reads, self.writes):
            if ov in q:
                q.remove(ov)

    def pump(self) -> None:
        """Move bytes to waiting operations (called with the condition held)."""
        while self.reads and self.to_client:
            ov = self.reads.pop(0)
            take = min(ov._size, len(self.to_client))
            ov._result += self.to_client[:take]
            del self.to_client[:take]
            ov._complete(0)
        while self.writes:
            ov = self.writes[0]
            room = self.capacity - len(self.to_server)
            if room <= 0:
                break
            chunk = ov._data[:room]
            self.to_server += chunk
            del ov._data[: len(chunk)]
            if ov._data:
                break
            self.writes.pop(0)
            ov._complete(0)
        if self.server_closed:
            for ov in self.reads:
                ov._complete(raise_code=ERROR_BROKEN_PIPE)
            self.reads.clear()
            for ov in self.writes:
                ov._complete(raise_code=ERROR_NO_DATA)
            self.writes.clear()
        self.fake._cv.notify_all()


class ServerEnd:
    """The daemon's end of one connection, as raw bytes (test control)."""

    def __init__(self, conn: "_Conn") -> None:
        self._conn = conn
        self._cv = conn.fake._cv

    def recv(self, timeout: Optional[float] = None) -> bytes:
        """What the client wrote (at least one byte), or b"" once it closed its handle."""
        conn = self._conn
        with self._cv:
            ok = self._cv.wait_for(lambda: conn.to_server or conn.client_closed, timeout)
            assert ok, "nothing from the client"
            data = bytes(conn.to_server)
            conn.to_server.clear()
            conn.pump()
            return data

    def send(self, data: bytes) -> None:
        with self._cv:
            if self._conn.client_closed:
                raise BrokenPipeError("the client closed its handle")
            self._conn.to_client += data
            self._conn.pump()

    def close(self) -> None:
        with self._cv:
            self._conn.server_closed = True
            self._conn.pump()


class FakePipeServer:
    """The daemon's side of one pipe name (test control)."""

    def __init__(self, fake: "FakeWinapi", name: str, capacity: int) -> None:
        self.fake = fake
        self.name = name
        self.capacity = capacity
        #: CreateFile calls still to fail with ERROR_PIPE_BUSY.
        self.busy_for = 0
        #: WaitNamedPipe never sees a free instance (it times out).
        self.stay_busy = False
        self.conns: list[_Conn] = []
        #: Called on a new thread with a :class:`ServerEnd` for each connection.
        self.on_connect: Optional[Any] = None

    def _conn(self, timeout: float) -> _Conn:
        cv = self.fake._cv
        deadline = time.monotonic() + timeout
        with cv:
            while not self.conns:
                left = deadline - time.monotonic()
                assert left > 0, "no client connected"
                cv.wait(left)
            return self.conns[-1]

    def send(self, data: bytes, timeout: float = 5.0) -> None:
        conn = self._conn(timeout)
        with self.fake._cv:
            conn.to_client += data
            conn.pump()

    def read_line(self, timeout: float = 5.0) -> bytes:
        conn = self._conn(timeout)
        cv = self.fake._cv
        deadline = time.monotonic() + timeout
        with cv:
            while True:
                # The daemon reads what is in the pipe (freeing room for pending writes).
                while conn.to_server:
                    conn.server_in += conn.to_server
                    conn.to_server.clear()
                    conn.pump()
                if b"\n" in conn.server_in:
                    break
                left = deadline - time.monotonic()
                assert left > 0, f"no line from the client within {timeout} s (have {bytes(conn.server_in)[:200]!r})"
                cv.wait(left)
            i = conn.server_in.index(b"\n") + 1
            line = bytes(conn.server_in[:i])
            del conn.server_in[:i]
            return line

    def close(self) -> None:
        """The daemon closes its end (or dies)."""
        conn = self._conn(5.0)
        with self.fake._cv:
            conn.server_closed = True
            conn.pump()

    def wait_read_pending(self, timeout: float = 5.0) -> bool:
        """True once the client has an overlapped read waiting for data."""
        conn = self._conn(timeout)
        cv = self.fake._cv
        with cv:
            return cv.wait_for(lambda: bool(conn.reads), timeout)

    def wait_client_closed(self, timeout: float = 5.0) -> bool:
        conn = self._conn(timeout)
        with self.fake._cv:
            return self.fake._cv.wait_for(lambda: conn.client_closed, timeout)


class _Handle:
    def __init__(self, conn: _Conn, overlapped: bool) -> None:
        self.conn = conn
        self.overlapped = overlapped
        self.closed = False
        self.sync_io = threading.Lock()  # a non-overlapped handle does one I/O at a time


class FakeWinapi:
    """The ``_winapi`` functions the transport uses, over in-memory pipes."""

    NULL = NULL
    INFINITE = INFINITE
    FILE_FLAG_OVERLAPPED = FILE_FLAG_OVERLAPPED

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._ids = itertools.count(0x100, 4)
        self._servers: dict[str, FakePipeServer] = {}
        self._handles: dict[int, _Handle] = {}
        self.calls: list[tuple] = []
        #: CloseHandle calls made while an overlapped operation was still in flight on that handle.
        self.closed_with_pending = 0

    # ------------------------------------------------------------ test control

    def serve(self, name: str, capacity: int = 65536) -> FakePipeServer:
        server = FakePipeServer(self, name, capacity)
        self._servers[name] = server
        return server

    def open_handles(self) -> int:
        with self._cv:
            return sum(1 for h in self._handles.values() if not h.closed)

    # ------------------------------------------------------------ _winapi

    def _handle(self, handle: int) -> _Handle:
        h = self._handles.get(handle)
        if h is None or h.closed:
            raise winerror(ERROR_INVALID_HANDLE, "The handle is invalid")
        return h

    def CreateFile(self, file_name, desired_access, share_mode, security_attributes,  # noqa: N802
                   creation_disposition, flags_and_attributes, template_file, /):
        with self._cv:
            self.calls.append(("CreateFile", file_name, desired_access, share_mode, security_attributes,
                               creation_disposition, flags_and_attributes, template_file))
            server = self._servers.get(file_name)
            if server is None:
                raise winerror(ERROR_FILE_NOT_FOUND, "The system cannot find the file specified")
            if server.stay_busy or server.busy_for > 0:
                server.busy_for = max(0, server.busy_for - 1)
                raise winerror(ERROR_PIPE_BUSY, "All pipe instances are busy")
            conn = _Conn(self, server.capacity)
            server.conns.append(conn)
            handle = next(self._ids)
            self._handles[handle] = _Handle(conn, bool(flags_and_attributes & FILE_FLAG_OVERLAPPED))
            self._cv.notify_all()
        if server.on_connect is not None:
            threading.Thread(target=server.on_connect, args=(ServerEnd(conn),), daemon=True).start()
        return handle

    def WaitNamedPipe(self, name, timeout, /):  # noqa: N802
        with self._cv:
            self.calls.append(("WaitNamedPipe", name, timeout))
            server = self._servers.get(name)
            if server is None:
                raise winerror(ERROR_FILE_NOT_FOUND)
            if server.stay_busy:
                self._cv.wait(timeout / 1000.0)  # the real call waits its whole timeout
                raise winerror(ERROR_SEM_TIMEOUT, "The semaphore timeout period has expired")
            return None

    def ReadFile(self, handle, size, overlapped=False):  # noqa: N802
        with self._cv:
            self.calls.append(("ReadFile", handle, size, overlapped))
            h = self._handle(handle)
        if not (overlapped and h.overlapped):
            return self._sync_read(h, size, overlapped)
        with self._cv:
            conn = h.conn
            ov = Overlapped(self, conn, "read", size=size)
            if conn.to_client:
                take = min(size, len(conn.to_client))
                ov._result += conn.to_client[:take]
                del conn.to_client[:take]
                ov._complete(0)
                return (ov, 0)
            if conn.server_closed:
                raise winerror(ERROR_BROKEN_PIPE, "The pipe has been ended")
            ov._pending = True
            conn.reads.append(ov)
            self._cv.notify_all()
            return (ov, ERROR_IO_PENDING)

    def _sync_read(self, h: _Handle, size: int, overlapped: bool):
        with h.sync_io:  # held while blocked: every other I/O on this handle waits
            with self._cv:
                conn = h.conn
                ov = Overlapped(self, conn, "read", size=size)
                ov._pending = True
                conn.reads.append(ov)
                self._cv.notify_all()
                while not ov._done:
                    self._cv.wait()
                if ov._raise is not None:
                    raise winerror(ov._raise)
                if not overlapped:
                    return (bytes(ov._result), 0)
                return (ov, 0)

    def WriteFile(self, handle, buffer, overlapped=False):  # noqa: N802
        data = bytes(buffer)
        with self._cv:
            self.calls.append(("WriteFile", handle, len(data), overlapped))
            h = self._handle(handle)
        if not (overlapped and h.overlapped):
            with h.sync_io:
                with self._cv:
                    ov = self._write(h, data)
                    while not ov._done:
                        self._cv.wait()
                    if ov._raise is not None:
                        raise winerror(ov._raise)
                    return (ov, 0) if overlapped else (len(data), 0)
        with self._cv:
            ov = self._write(h, data)
            return (ov, 0 if ov._done else ERROR_IO_PENDING)

    def _write(self, h: _Handle, data: bytes) -> Overlapped:
        conn = h.conn
        if conn.server_closed:
            raise winerror(ERROR_NO_DATA, "The pipe is being closed")
        ov = Overlapped(self, conn, "write", data=data)
        ov._pending = True
        conn.writes.append(ov)
        conn.pump()
        return ov

    def CloseHandle(self, handle, /):  # noqa: N802
        with self._cv:
            self.calls.append(("CloseHandle", handle))
            h = self._handle(handle)
            h.closed = True
            conn = h.conn
            conn.client_closed = True
            if conn.reads or conn.writes:
                self.closed_with_pending += 1
            for ov in conn.reads + conn.writes:
                ov._complete(ERROR_OPERATION_ABORTED)
            conn.reads.clear()
            conn.writes.clear()
            self._cv.notify_all()
