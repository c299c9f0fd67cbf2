"""NDJSON JSON-RPC client: framing, pending map, disconnects, daemon requests on workers."""

from __future__ import annotations

import json
import os
import socket
import threading
import time

import pytest

from synapse_houdini.rpc import ConnectionClosed, RpcClient, RpcError, default_socket_path


class Peer:
    """The test's side of a socketpair: reads and writes raw lines."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reader = sock.makefile("rb")

    def read(self, timeout: float = 5.0) -> dict:
        self.sock.settimeout(timeout)
        line = self.reader.readline()
        assert line.endswith(b"\n"), line
        return json.loads(line)

    def raw_line(self, timeout: float = 5.0) -> bytes:
        self.sock.settimeout(timeout)
        return self.reader.readline()

    def send(self, message) -> None:
        self.sock.sendall((json.dumps(message) + "\n").encode())


@pytest.fixture
def pair():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    notes = []
    got_note = threading.Event()

    def on_note(method, params):
        notes.append((method, params, threading.current_thread().name))
        got_note.set()

    client = RpcClient(a, on_notification=on_note)
    peer = Peer(b)
    yield client, peer, notes, got_note
    client.close()
    b.close()


def test_lines_are_compact_and_newline_terminated(pair):
    client, peer, _, _ = pair
    client.notify("x.y", {"a": 1, "b": [1, 2]})
    line = peer.raw_line()
    assert line == b'{"jsonrpc":"2.0","method":"x.y","params":{"a":1,"b":[1,2]}}\n'


def test_call_matches_its_own_id_out_of_order(pair):
    client, peer, _, _ = pair
    results = {}

    def caller(name):
        results[name] = client.call("echo", {"name": name}, timeout=5)

    threads = [threading.Thread(target=caller, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    first, second = peer.read(), peer.read()
    # Answer in reverse order.
    for req in (second, first):
        peer.send({"jsonrpc": "2.0", "id": req["id"], "result": req["params"]["name"].upper()})
    for t in threads:
        t.join(5)
    assert results == {"a": "A", "b": "B"}


def test_error_response_raises_rpc_error(pair):
    client, peer, _, _ = pair
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("exc", pytest.raises(RpcError, client.call, "turn.get", {}, 5)))
    t.start()
    req = peer.read()
    peer.send({"jsonrpc": "2.0", "id": req["id"], "error": {"code": -32001, "message": "not found", "data": {"x": 1}}})
    t.join(5)
    err = box["exc"].value
    assert (err.code, err.message, err.data) == (-32001, "not found", {"x": 1})


def test_disconnect_fails_every_pending_call_at_once(pair):
    client, peer, _, _ = pair
    errors = []

    def caller():
        try:
            client.call("slow", None, timeout=30)
        except ConnectionClosed as exc:
            errors.append((exc, time.monotonic()))

    threads = [threading.Thread(target=caller) for _ in range(3)]
    for t in threads:
        t.start()
    for _ in threads:
        peer.read()
    t0 = time.monotonic()
    peer.sock.shutdown(socket.SHUT_RDWR)
    peer.sock.close()
    for t in threads:
        t.join(5)
    assert len(errors) == 3
    assert all(ts - t0 < 1.0 for _, ts in errors)
    assert client.closed
    with pytest.raises(ConnectionClosed):
        client.call("after", None, timeout=1)


def test_call_timeout(pair):
    client, peer, _, _ = pair
    with pytest.raises(TimeoutError):
        client.call("never", None, timeout=0.1)


def test_daemon_request_answered_on_a_worker_thread(pair):
    client, peer, _, _ = pair
    seen = {}

    def handler(params):
        seen["thread"] = threading.current_thread().name
        return {"echo": params}

    client.register_handler("tool.invoke", handler)
    peer.send({"jsonrpc": "2.0", "id": "d-1", "method": "tool.invoke", "params": {"k": 1}})
    reply = peer.read()
    assert reply == {"jsonrpc": "2.0", "id": "d-1", "result": {"echo": {"k": 1}}}
    assert "worker" in seen["thread"] and "reader" not in seen["thread"]


def test_slow_handler_does_not_block_reader(pair):
    client, peer, _, _ = pair
    release = threading.Event()
    client.register_handler("slow", lambda p: release.wait(5) and "slow-done")
    client.register_handler("fast", lambda p: "fast-done")
    peer.send({"jsonrpc": "2.0", "id": 1, "method": "slow"})
    peer.send({"jsonrpc": "2.0", "id": 2, "method": "fast"})
    assert peer.read() == {"jsonrpc": "2.0", "id": 2, "result": "fast-done"}
    release.set()
    assert peer.read()["result"] == "slow-done"


def test_staged_handler_starts_on_the_reader_before_a_worker_is_free():
    """The start of a staged handler runs on the reader thread, in line order, even
    when every worker is busy; its finish runs and is answered on a worker."""
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    client = RpcClient(a, max_workers=1)
    peer = Peer(b)
    release = threading.Event()
    started = threading.Event()
    seen = {}
    try:
        client.register_handler("slow", lambda p: release.wait(5) and "slow-done")

        def start(params):
            seen["start"] = threading.current_thread().name
            started.set()

            def finish():
                seen["finish"] = threading.current_thread().name
                return {"echo": params}

            return finish

        client.register_staged_handler("tool.invoke", start)
        peer.send({"jsonrpc": "2.0", "id": 1, "method": "slow"})
        peer.send({"jsonrpc": "2.0", "id": 2, "method": "tool.invoke", "params": {"k": 1}})
        # The only worker is held by "slow": the start ran anyway, on the reader.
        assert started.wait(5)
        assert "reader" in seen["start"]
        assert "finish" not in seen
        release.set()
        replies = {r["id"]: r for r in (peer.read(), peer.read())}
        assert replies[1]["result"] == "slow-done"
        assert replies[2]["result"] == {"echo": {"k": 1}}
        assert "worker" in seen["finish"]
    finally:
        release.set()
        client.close()
        b.close()


def test_staged_handler_errors_are_answered(pair):
    client, peer, _, _ = pair

    def refuse(params):
        raise RpcError(-32602, "bad params", {"field": "call_id"})

    def crash(params):
        raise ValueError("boom")

    def fail_later(params):
        return lambda: 1 / 0

    client.register_staged_handler("refuse", refuse)
    client.register_staged_handler("crash", crash)
    client.register_staged_handler("later", fail_later)
    peer.send({"jsonrpc": "2.0", "id": 1, "method": "refuse"})
    assert peer.read()["error"] == {"code": -32602, "message": "bad params", "data": {"field": "call_id"}}
    peer.send({"jsonrpc": "2.0", "id": 2, "method": "crash"})
    assert peer.read()["error"] == {"code": -32603, "message": "boom"}
    peer.send({"jsonrpc": "2.0", "id": 3, "method": "later"})
    assert peer.read()["error"]["code"] == -32603
    # The reader is still alive.
    client.register_handler("ping", lambda p: "pong")
    peer.send({"jsonrpc": "2.0", "id": 4, "method": "ping"})
    assert peer.read()["result"] == "pong"


def test_unknown_daemon_method_gets_32601(pair):
    client, peer, _, _ = pair
    peer.send({"jsonrpc": "2.0", "id": 9, "method": "no.such"})
    reply = peer.read()
    assert reply["id"] == 9 and reply["error"]["code"] == -32601


def test_handler_exceptions_become_errors(pair):
    client, peer, _, _ = pair
    client.register_handler("bad", lambda p: 1 / 0)

    def rpc_err(p):
        raise RpcError(-32602, "bad params", {"field": "x"})

    client.register_handler("invalid", rpc_err)
    peer.send({"jsonrpc": "2.0", "id": 1, "method": "bad"})
    assert peer.read()["error"]["code"] == -32603
    peer.send({"jsonrpc": "2.0", "id": 2, "method": "invalid"})
    assert peer.read()["error"] == {"code": -32602, "message": "bad params", "data": {"field": "x"}}


def test_notifications_delivered_in_order_off_the_reader(pair):
    client, peer, notes, got = pair
    for i in range(20):
        peer.send({"jsonrpc": "2.0", "method": "turn.event", "params": {"seq": i}})
    deadline = time.monotonic() + 5
    while len(notes) < 20 and time.monotonic() < deadline:
        got.wait(0.1)
        got.clear()
    assert [p["seq"] for _, p, _ in notes] == list(range(20))
    assert all("notify" in name for _, _, name in notes)


def test_batch_array_line(pair):
    client, peer, notes, got = pair
    peer.send([{"jsonrpc": "2.0", "method": "a", "params": {}}, {"jsonrpc": "2.0", "method": "b", "params": {}}])
    deadline = time.monotonic() + 5
    while len(notes) < 2 and time.monotonic() < deadline:
        got.wait(0.1)
    assert [m for m, _, _ in notes] == ["a", "b"]


def test_garbage_line_answered_with_parse_error(pair):
    client, peer, _, _ = pair
    peer.sock.sendall(b"not json\n")
    reply = peer.read()
    assert reply["id"] is None and reply["error"]["code"] == -32700
    assert not client.closed


def test_concurrent_writers_never_interleave(pair):
    client, peer, _, _ = pair
    big = "x" * 200_000
    threads = [threading.Thread(target=client.notify, args=("n", {"i": i, "pad": big})) for i in range(8)]
    for t in threads:
        t.start()
    got = sorted(peer.read()["params"]["i"] for _ in threads)
    for t in threads:
        t.join(5)
        assert not t.is_alive()
    assert got == list(range(8))


def test_socket_path_resolution(monkeypatch, tmp_path):
    monkeypatch.setenv("SYNAPSE_SOCKET", "/x/y.sock")
    assert default_socket_path() == "/x/y.sock"
    monkeypatch.delenv("SYNAPSE_SOCKET")
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/7")
    assert default_socket_path() == "/run/user/7/synapse/synapsed.sock"
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    assert default_socket_path() == os.path.join(str(tmp_path), f"synapse-{os.getuid()}", "synapsed.sock")
    monkeypatch.delenv("TMPDIR")
    assert default_socket_path() == f"/tmp/synapse-{os.getuid()}/synapsed.sock"


def test_connect_over_a_real_unix_socket(tmp_path):
    path = str(tmp_path / "d.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)

    def serve():
        conn, _ = server.accept()
        peer = Peer(conn)
        req = peer.read()
        peer.send({"jsonrpc": "2.0", "id": req["id"], "result": {"version": "t", "protocol": 1}})

    threading.Thread(target=serve, daemon=True).start()
    client = RpcClient.connect(path)
    assert client.call("daemon.status", timeout=5)["protocol"] == 1
    client.close()
    server.close()
    with pytest.raises(OSError):
        RpcClient.connect(str(tmp_path / "missing.sock"))
