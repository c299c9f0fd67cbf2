"""The Windows named-pipe transport, through the RPC client, against a fake ``_winapi``.

CPython for Windows cannot run here: these tests run
:mod:`synapse_houdini.transport_pipe` on Linux against ``fakes/fake_winapi.py``,
which follows CPython 3.11's ``_winapi`` names and signatures and models the
Windows behaviour the transport depends on (see its docstring). They say nothing
about a real pipe on a real Windows machine.
"""

from __future__ import annotations

import json
import threading
import time

import pytest

from fake_winapi import ERROR_PIPE_BUSY, FILE_FLAG_OVERLAPPED, FakeWinapi
from synapse_houdini import rpc, transport, transport_pipe
from synapse_houdini.rpc import ConnectionClosed, RpcClient
from synapse_houdini.transport_pipe import PipeTransport, connect_pipe
from waiting import wait_until

NAME = "\\\\.\\pipe\\synapse-artist"


def line(message) -> bytes:
    return (json.dumps(message) + "\n").encode()


@pytest.fixture
def fake():
    return FakeWinapi()


@pytest.fixture
def pipe(fake):
    """(client, server, notes): an RpcClient on a PipeTransport connected to a fake daemon."""
    server = fake.serve(NAME)
    notes = []
    got = threading.Event()

    def on_note(method, params):
        notes.append((method, params))
        got.set()

    client = RpcClient(connect_pipe(NAME, 1.0, winapi=fake), on_notification=on_note)
    yield client, server, notes
    client.close()
    assert wait_until(lambda: fake.open_handles() == 0, 5.0), "the handle was not closed"


def call_in_thread(client, method, params=None, timeout=5.0):
    out = {}
    done = threading.Event()

    def run():
        try:
            out["result"] = client.call(method, params, timeout=timeout)
        except BaseException as exc:  # noqa: BLE001
            out["error"] = exc
        done.set()

    threading.Thread(target=run, daemon=True).start()
    return out, done


def test_opened_for_overlapped_io_without_impersonation(fake):
    fake.serve(NAME)
    t = connect_pipe(NAME, 1.0, winapi=fake)
    (_, name, access, share, sa, disposition, flags, template) = fake.calls[0]
    assert name == NAME
    assert access == transport_pipe.GENERIC_READ | transport_pipe.GENERIC_WRITE
    assert disposition == transport_pipe.OPEN_EXISTING
    assert flags & FILE_FLAG_OVERLAPPED
    assert flags & transport_pipe.SECURITY_SQOS_PRESENT
    assert (share, sa, template) == (0, 0, 0)
    t.close()
    assert fake.open_handles() == 0


def test_request_and_response(pipe):
    client, server, _ = pipe
    out, done = call_in_thread(client, "daemon.status", {"x": 1})
    req = json.loads(server.read_line())
    assert req == {"jsonrpc": "2.0", "id": req["id"], "method": "daemon.status", "params": {"x": 1}}
    server.send(line({"jsonrpc": "2.0", "id": req["id"], "result": {"ok": True}}))
    assert done.wait(5.0)
    assert out == {"result": {"ok": True}}


def test_notifications_interleaved_with_a_response_keep_their_order(pipe):
    client, server, notes = pipe
    out, done = call_in_thread(client, "turn.submit")
    req = json.loads(server.read_line())
    # One write carrying a notification, the response and another notification,
    # then a notification on its own.
    server.send(
        line({"jsonrpc": "2.0", "method": "turn.event", "params": {"seq": 1}})
        + line({"jsonrpc": "2.0", "id": req["id"], "result": {"turn_id": "t"}})
        + line({"jsonrpc": "2.0", "method": "turn.event", "params": {"seq": 2}})
    )
    server.send(line({"jsonrpc": "2.0", "method": "turn.event", "params": {"seq": 3}}))
    assert done.wait(5.0) and out == {"result": {"turn_id": "t"}}
    assert wait_until(lambda: len(notes) == 3, 5.0)
    assert [p["seq"] for _, p in notes] == [1, 2, 3]


def test_a_line_split_across_reads_is_joined(pipe, fake):
    client, server, notes = pipe
    whole = line({"jsonrpc": "2.0", "method": "turn.event", "params": {"text": "é" * 50}})
    for i in range(0, len(whole), 7):  # every piece reaches a pending read on its own
        assert server.wait_read_pending()
        server.send(whole[i : i + 7])
    assert wait_until(lambda: len(notes) == 1, 5.0)
    assert notes[0] == ("turn.event", {"text": "é" * 50})
    reads = [c for c in fake.calls if c[0] == "ReadFile"]
    assert len(reads) > len(whole) // 7, "the line came over several reads"
    assert all(c[3] is True for c in reads), "every read is overlapped"


def test_a_line_longer_than_a_read_chunk(pipe, monkeypatch):
    client, server, notes = pipe
    monkeypatch.setattr(transport_pipe, "READ_CHUNK", 16)
    server.send(line({"jsonrpc": "2.0", "method": "big", "params": {"blob": "x" * 5000}}))
    assert wait_until(lambda: len(notes) == 1, 5.0)
    assert notes[0][1]["blob"] == "x" * 5000


def test_a_line_over_the_size_limit_is_dropped_and_the_next_one_served(fake, monkeypatch):
    # Set before the reader thread starts: it reads with the limit of its first readline.
    monkeypatch.setattr(rpc, "MAX_LINE_BYTES", 1024)
    server = fake.serve(NAME)
    notes = []
    client = RpcClient(connect_pipe(NAME, 1.0, winapi=fake), on_notification=lambda m, p: notes.append((m, p)))
    server.send(line({"jsonrpc": "2.0", "method": "huge", "params": {"blob": "y" * 4000}}))
    server.send(line({"jsonrpc": "2.0", "method": "after", "params": {}}))
    assert wait_until(lambda: len(notes) == 1, 5.0)
    assert notes == [("after", {})]
    assert not client.closed
    out, done = call_in_thread(client, "still.there")
    req = json.loads(server.read_line())
    server.send(line({"jsonrpc": "2.0", "id": req["id"], "result": 1}))
    assert done.wait(5.0) and out == {"result": 1}
    client.close()


def test_daemon_requests_are_answered(pipe):
    client, server, _ = pipe
    client.register_handler("tool.invoke", lambda params: {"echo": params})
    server.send(line({"jsonrpc": "2.0", "id": "d1", "method": "tool.invoke", "params": {"a": 1}}))
    reply = json.loads(server.read_line())
    assert reply == {"jsonrpc": "2.0", "id": "d1", "result": {"echo": {"a": 1}}}


def test_peer_gone_fails_pending_calls_and_later_writes(pipe, fake):
    client, server, _ = pipe
    out, done = call_in_thread(client, "turn.wait", timeout=10.0)
    server.read_line()
    server.close()  # the daemon died: the pending read ends with ERROR_BROKEN_PIPE
    assert done.wait(5.0)
    assert isinstance(out["error"], ConnectionClosed) and out["error"].unsent is False
    assert client.wait_closed(5.0)
    with pytest.raises(ConnectionClosed) as info:
        client.notify("late")
    assert info.value.unsent is True
    assert wait_until(lambda: fake.open_handles() == 0, 5.0)
    assert fake.closed_with_pending == 0


def test_write_to_a_pipe_the_daemon_closed_is_connection_closed(fake):
    server = fake.serve(NAME)
    t = connect_pipe(NAME, 1.0, winapi=fake)
    server.close()
    with pytest.raises(BrokenPipeError):
        t.sendall(b"x\n")
    assert t.readline(100) == b""
    t.close()
    assert fake.open_handles() == 0


def test_the_writer_is_not_blocked_while_a_read_is_pending(pipe):
    client, server, _ = pipe
    assert server.wait_read_pending(), "the reader thread sits in an overlapped read"
    sent = threading.Event()

    def write():
        client.notify("tool.progress", {"n": 1})
        sent.set()

    threading.Thread(target=write, daemon=True).start()
    assert sent.wait(5.0), "notify returned while the read was still pending"
    assert json.loads(server.read_line())["method"] == "tool.progress"
    assert server.wait_read_pending(0.1), "the read is still pending: nothing arrived for it"


def test_the_fake_does_serialise_io_on_a_handle_opened_without_the_flag(fake):
    """Control: the test above can fail. Without FILE_FLAG_OVERLAPPED a pending read holds writes."""
    server = fake.serve(NAME)
    handle = fake.CreateFile(NAME, transport_pipe.GENERIC_READ | transport_pipe.GENERIC_WRITE, 0, 0, 3, 0, 0)
    t = PipeTransport(handle, fake, NAME)
    threading.Thread(target=lambda: t.readline(100), daemon=True).start()
    assert server.wait_read_pending()
    sent = threading.Event()
    threading.Thread(target=lambda: (t.sendall(b"x\n"), sent.set()), daemon=True).start()
    assert not sent.wait(0.3), "the write went through while a synchronous read was blocked"
    server.send(b"unblock\n")
    assert sent.wait(5.0)
    t.close()


def test_a_large_write_waits_for_the_daemon_to_read_and_close_cancels_it(fake):
    server = fake.serve(NAME, capacity=1024)
    t = connect_pipe(NAME, 1.0, winapi=fake)
    payload = b"z" * 5000 + b"\n"
    done = threading.Event()
    threading.Thread(target=lambda: (t.sendall(payload), done.set()), daemon=True).start()
    assert server.read_line() == payload  # read as the client writes: the write completes
    assert done.wait(5.0)
    # Now a write that can never finish: close() cancels it and the writer gets an error.
    errors = []

    def stuck():
        try:
            t.sendall(b"w" * 4096)
        except OSError as exc:
            errors.append(exc)

    th = threading.Thread(target=stuck, daemon=True)
    th.start()
    assert wait_until(lambda: any(c[0] == "WriteFile" and c[2] == 4096 for c in fake.calls), 5.0)
    t.close()
    th.join(5.0)
    assert errors and isinstance(errors[0], BrokenPipeError)
    assert fake.open_handles() == 0 and fake.closed_with_pending == 0


def test_close_cancels_the_pending_read_before_closing_the_handle(pipe, fake):
    client, server, _ = pipe
    assert server.wait_read_pending()
    client.close()
    assert client.wait_closed(5.0)
    assert wait_until(lambda: fake.open_handles() == 0, 5.0)
    assert ("cancel", "read") in fake.calls
    assert fake.closed_with_pending == 0, "the handle was closed under an operation still in flight"
    closes = [c for c in fake.calls if c[0] == "CloseHandle"]
    assert len(closes) == 1


def test_busy_pipe_waits_with_wait_named_pipe_then_connects(fake):
    server = fake.serve(NAME)
    server.busy_for = 2
    t = connect_pipe(NAME, 2.0, winapi=fake)
    waits = [c for c in fake.calls if c[0] == "WaitNamedPipe"]
    assert len(waits) == 2 and all(0 < c[2] <= 2000 for c in waits)
    t.close()


def test_a_pipe_that_stays_busy_times_out_within_the_bound(fake):
    server = fake.serve(NAME)
    server.stay_busy = True
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        connect_pipe(NAME, 0.3, winapi=fake)
    assert time.monotonic() - start < 2.0
    assert all(c[2] <= 300 for c in fake.calls if c[0] == "WaitNamedPipe")


def test_no_pipe_means_daemon_not_running(fake):
    with pytest.raises(FileNotFoundError) as info:
        connect_pipe(NAME, 1.0, winapi=fake)
    assert info.value.filename == NAME
    assert isinstance(info.value, OSError)  # the supervisor then starts a daemon, as on Unix


def test_other_create_file_errors_pass_through(fake):
    class Denied(FakeWinapi):
        def CreateFile(self, *args):  # noqa: N802
            from fake_winapi import winerror

            raise winerror(5, "Access is denied")

    with pytest.raises(OSError) as info:
        connect_pipe(NAME, 1.0, winapi=Denied())
    assert getattr(info.value, "winerror", None) == 5
    assert ERROR_PIPE_BUSY != 5


def test_pipe_name_and_override(monkeypatch):
    monkeypatch.delenv("SYNAPSE_SOCKET", raising=False)
    monkeypatch.setenv("USERNAME", "artist")
    assert transport_pipe.default_pipe_name() == "\\\\.\\pipe\\synapse-artist"
    monkeypatch.setenv("USERNAME", "Ana María (FX)")
    assert transport_pipe.default_pipe_name() == "\\\\.\\pipe\\synapse-Ana_María__FX_"  # as the daemon names it
    monkeypatch.delenv("USERNAME")
    assert transport_pipe.default_pipe_name() == "\\\\.\\pipe\\synapse-user"
    monkeypatch.setenv("SYNAPSE_SOCKET", "\\\\.\\pipe\\custom")
    assert transport_pipe.default_pipe_name() == "\\\\.\\pipe\\custom"


def test_the_rpc_client_picks_the_pipe_on_windows(monkeypatch, fake):
    monkeypatch.setattr(transport, "IS_WINDOWS", True)
    monkeypatch.setattr(transport_pipe, "load_winapi", lambda: fake)
    monkeypatch.delenv("SYNAPSE_SOCKET", raising=False)
    monkeypatch.setenv("USERNAME", "artist")
    assert rpc.default_socket_path() == NAME
    with pytest.raises(FileNotFoundError):
        RpcClient.connect(timeout=0.5)
    server = fake.serve(NAME)
    client = RpcClient.connect(timeout=0.5)
    try:
        client.notify("hello")
        assert json.loads(server.read_line())["method"] == "hello"
        assert isinstance(client._transport, PipeTransport)
    finally:
        client.close()
