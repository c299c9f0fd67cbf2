"""A full turn with the plugin on its Windows transport: scripted Messages API →
the REAL ``synapsed`` → the plugin, whose connection is the named-pipe transport
(overlapped ``_winapi`` calls) over a fake ``_winapi`` whose pipe is bridged, byte
for byte, to the daemon's Unix socket.

So the whole plugin side of Windows (the transport chosen by platform, the RPC
client, registration, daemon → plugin ``tool.invoke`` and the answers, turn
events) runs here; the daemon side of the pipe is the Unix socket. CPython for
Windows and a real pipe are not involved (see ``test_pipe_transport.py``).
Skipped with a reason when the binaries are not built.
"""

from __future__ import annotations

import os
import socket
import sys
import threading

import pytest

import synapse_houdini
from fake_winapi import FakeWinapi
from synapse_houdini import transport, transport_pipe
from synapse_houdini.transport_pipe import PipeTransport

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))

import harness  # noqa: E402

PIPE = "\\\\.\\pipe\\synapse-artist"


def _msg(content, stop_reason):
    return {"content": content, "stop_reason": stop_reason, "usage": {"input_tokens": 10, "output_tokens": 5}}


SCRIPT = {
    "responses": [
        _msg([{"type": "text", "text": "Looking."},
              {"type": "tool_use", "id": "toolu_w1", "name": "synapse_inspect_stage", "input": {"target_path": "/stage"}}],
             "tool_use"),
        _msg([{"type": "text", "text": "Seen: {{last_tool_result}}"}], "end_turn"),
    ]
}


def bridge_to(unix_path: str):
    """An ``on_connect`` for the fake pipe: each pipe connection ↔ a new Unix socket connection."""

    def on_connect(end) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(unix_path)
        except OSError:
            end.close()
            return

        def down() -> None:  # daemon → plugin
            try:
                while True:
                    data = sock.recv(65536)
                    if not data:
                        break
                    end.send(data)
            except OSError:
                pass
            end.close()

        threading.Thread(target=down, daemon=True).start()
        try:  # plugin → daemon
            while True:
                data = end.recv()
                if not data:
                    break
                sock.sendall(data)
        except OSError:
            pass
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()

    return on_connect


@pytest.fixture
def windows_stack(tmp_path, monkeypatch):
    harness.require_binary(harness.synapsed_bin(), "cargo build -p synapsed")
    harness.require_binary(harness.scripted_api_bin(), "cargo build -p synapse-test-support --bin synapse-scripted-api")
    api = harness.ScriptedApi(SCRIPT, str(tmp_path)).start()
    daemon = harness.Daemon(str(tmp_path), base_url=api.url).start()
    fake = FakeWinapi()
    server = fake.serve(PIPE)
    server.on_connect = bridge_to(daemon.socket)
    monkeypatch.setattr(transport, "IS_WINDOWS", True)
    monkeypatch.setattr(transport_pipe, "load_winapi", lambda: fake)
    monkeypatch.setenv("SYNAPSE_SOCKET", PIPE)
    houdini = None
    try:
        houdini = harness.FakeHoudini(PIPE).start(register_timeout=15)
        yield api, daemon, houdini, fake
    finally:
        if houdini is not None:
            houdini.stop()
        daemon.stop()
        api.stop()


def test_a_full_turn_over_the_pipe_transport(windows_stack):
    api, daemon, houdini, fake = windows_stack
    client = houdini.host.supervisor.client
    assert isinstance(client._transport, PipeTransport)
    status = client.call("daemon.status", timeout=10)
    assert any(h["host_id"] == houdini.host.host_id for h in status["hosts"])

    events = []
    handle = synapse_houdini.ask("What is on /stage?")
    handle.on_event(events.append)
    result = handle.result(timeout=60)
    assert result["status"] == "complete", result
    assert [c["name"] for c in result["tool_calls"]] == ["synapse_inspect_stage"]
    assert result["tool_calls"][0]["is_error"] is False
    assert result["text"].startswith("Seen: ") and "assign_broken" in result["text"]
    blocks = harness.tool_result_blocks(api.requests()[1])
    assert blocks and blocks[0]["tool_use_id"] == "toolu_w1" and not blocks[0].get("is_error", False)
    types = [e["type"] for e in events]
    assert types[-1] == "done" and "tool_call" in types and "tool_result" in types

    # All of it went through overlapped pipe calls on handles opened for them.
    opened = [c for c in fake.calls if c[0] == "CreateFile"]
    assert opened and all(c[6] & transport_pipe.FILE_FLAG_OVERLAPPED for c in opened)
    io = [c for c in fake.calls if c[0] in ("ReadFile", "WriteFile")]
    assert len(io) > 10 and all(c[3] is True for c in io)
