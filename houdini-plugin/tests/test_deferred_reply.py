"""Deferred answers (ADR 0036): a request answered later, from any thread, without waiting."""

from __future__ import annotations

import json
import socket
import threading

import pytest

from synapse_houdini.deadlines import Deadlines
from synapse_houdini.rpc import RpcClient, RpcError


class Peer:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reader = sock.makefile("rb")

    def read(self, timeout: float = 10.0) -> dict:
        self.sock.settimeout(timeout)
        line = self.reader.readline()
        assert line.endswith(b"\n"), line[:200]
        return json.loads(line)

    def send(self, message) -> None:
        self.sock.sendall((json.dumps(message) + "\n").encode())


@pytest.fixture
def served():
    """A client serving ``slow.op`` with a deferred handler; the test answers through ``responders``."""
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    responders: dict = {}
    started = threading.Condition()

    def start(params, respond):
        if params.get("fail"):
            raise RpcError(-32602, "bad params")
        if params.get("worker"):
            return lambda: {"on": "worker"}
        with started:
            responders[params["n"]] = respond
            started.notify_all()
        return None

    client = RpcClient(a)
    client.register_deferred_handler("slow.op", start)
    peer = Peer(b)

    def wait_started(n):
        with started:
            assert started.wait_for(lambda: n in responders, 5)
        return responders[n]

    yield client, peer, wait_started
    client.close()
    b.close()


def test_answered_once_from_another_thread(served):
    client, peer, wait_started = served
    peer.send({"jsonrpc": "2.0", "id": 7, "method": "slow.op", "params": {"n": 1}})
    respond = wait_started(1)
    box = {}
    t = threading.Thread(target=lambda: box.update(first=respond({"v": 1}), second=respond({"v": 2})))
    t.start()
    t.join(5)
    assert box == {"first": True, "second": False}
    assert peer.read() == {"jsonrpc": "2.0", "id": 7, "result": {"v": 1}}
    client.notify("after", None)
    assert peer.read()["method"] == "after"  # the second respond wrote nothing


def test_errors_from_start_and_finish_on_a_worker(served):
    client, peer, _ = served
    peer.send({"jsonrpc": "2.0", "id": 1, "method": "slow.op", "params": {"fail": True}})
    assert peer.read()["error"] == {"code": -32602, "message": "bad params"}
    peer.send({"jsonrpc": "2.0", "id": 2, "method": "slow.op", "params": {"worker": True}})
    assert peer.read() == {"jsonrpc": "2.0", "id": 2, "result": {"on": "worker"}}


def test_respond_with_an_error(served):
    client, peer, wait_started = served
    peer.send({"jsonrpc": "2.0", "id": 3, "method": "slow.op", "params": {"n": 3}})
    assert wait_started(3)(error=RpcError(-32000, "nope"))
    assert peer.read()["error"] == {"code": -32000, "message": "nope"}


def test_a_held_write_lock_leaves_the_reply_to_a_worker(served):
    client, peer, wait_started = served
    peer.send({"jsonrpc": "2.0", "id": 4, "method": "slow.op", "params": {"n": 4}})
    respond = wait_started(4)
    with client._write_lock:  # another writer mid-line: respond must not wait for it
        assert respond({"v": 4}) is True
    assert peer.read() == {"jsonrpc": "2.0", "id": 4, "result": {"v": 4}}


def test_a_reply_larger_than_the_socket_buffer_never_waits_and_is_not_interleaved(served):
    client, peer, wait_started = served
    peer.send({"jsonrpc": "2.0", "id": 5, "method": "slow.op", "params": {"n": 5}})
    respond = wait_started(5)
    big = "x" * (4 * 1024 * 1024)
    # Nobody reads yet: a blocking send would hang here; this one returns.
    assert respond({"data": big}) is True
    noted = threading.Thread(target=lambda: client.notify("later", {"k": 1}))
    noted.start()
    first = peer.read()
    assert first["id"] == 5 and first["result"]["data"] == big
    noted.join(5)
    assert peer.read() == {"jsonrpc": "2.0", "method": "later", "params": {"k": 1}}


def test_a_peer_that_vanishes_mid_reply_closes_the_connection(served):
    client, peer, wait_started = served
    peer.send({"jsonrpc": "2.0", "id": 6, "method": "slow.op", "params": {"n": 6}})
    respond = wait_started(6)
    assert respond({"data": "y" * (4 * 1024 * 1024)}) is True  # partly written, the rest on a worker
    peer.sock.shutdown(socket.SHUT_RDWR)  # the reader's makefile would keep a close() from closing
    peer.sock.close()
    assert client.wait_closed(10)
    assert client.closed


def test_deadlines_fire_in_order_and_an_earlier_one_wakes_the_timer():
    import time

    fired = []
    done = threading.Event()
    d = Deadlines(granularity_s=0.001)
    now = time.monotonic()
    d.add(now + 3600, lambda: fired.append("late"))  # the timer sleeps towards this one
    d.add(now + 0.05, lambda: fired.append("b"))
    d.add(now + 0.01, lambda: fired.append("a"))
    d.add(now + 0.1, lambda: (fired.append("c"), done.set()))
    assert done.wait(10)
    assert fired == ["a", "b", "c"]
    assert len(d) == 1


def test_only_small_results_are_encoded_on_the_main_thread():
    from synapse_houdini.tool_calls import _small

    assert _small({"ok": True, "items": [1, 2.5, None, "abc"]}, 4096)
    assert not _small({"data": "x" * 5000}, 4096)
    assert not _small({"rows": [[i] * 10 for i in range(1000)]}, 4096)
    assert not _small({"obj": object()}, 4096)  # encoded with str(): left to a worker


def test_a_cancelled_deadline_never_runs_and_lets_go_of_its_callback():
    import time
    import weakref

    class Callback:
        def __init__(self):
            self.ran = False

        def __call__(self):
            self.ran = True

    d = Deadlines(granularity_s=0.001)
    now = time.monotonic()
    cb = Callback()
    alive = weakref.ref(cb)
    entry = d.add(now + 0.02, cb)
    assert len(d) == 1
    entry.cancel()
    entry.cancel()  # twice is harmless
    assert len(d) == 0
    del cb
    assert alive() is None, "a cancelled deadline must not keep its call alive"
    fired = threading.Event()
    d.add(now + 0.05, fired.set)  # fires after the cancelled one's time
    assert fired.wait(10)
    assert len(d) == 0


def test_cancelled_deadlines_are_swept_from_the_heap():
    import time

    d = Deadlines()
    far = time.monotonic() + 3600
    for _ in range(10):
        for e in [d.add(far, lambda: None) for _ in range(1000)]:
            e.cancel()
    assert len(d) == 0
    d.add(far, lambda: None)  # the sweep runs in add
    assert len(d) == 1
    # The heap holds the live entry, not the 10,000 calls answered before
    # their deadline.
    assert len(d._heap) == 1
