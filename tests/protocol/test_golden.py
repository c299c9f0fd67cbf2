"""Replay proto/examples/*.ndjson against the real daemon from Python.

Two ways per transcript, each in a fresh daemon:

1. byte for byte over a raw socket, exactly as the Rust replay does
   (crates/synapsed/tests/golden.rs); see proto/examples/README.md;
2. through the plugin's client, ``synapse_houdini.rpc.RpcClient``: every
   ``send`` line that is a single valid request is made as a call, and its
   result or error must equal the golden response (ids aside).
"""

from __future__ import annotations

import glob
import json
import os
import re
import socket

import pytest

import harness
from synapse_houdini.rpc import RpcError

EXAMPLES = sorted(glob.glob(os.path.join(os.path.dirname(__file__), "..", "..", "proto", "examples", "*.ndjson")))


def load(path: str) -> list[tuple[str, str]]:
    with open(path, encoding="utf-8") as fh:
        return [(s["dir"], s["line"]) for s in map(json.loads, fh) if s]


def pattern(line: str, daemon: harness.Daemon) -> re.Pattern:
    """Turn a golden recv line into a regex: literal except for the volatile tokens."""
    line = line.replace("$PID", str(daemon.ready["pid"])).replace('"$SOCKET"', json.dumps(daemon.ready["socket"]))
    parts = re.split(r"(\$ANY_STRING|\$ANY_NUMBER)", line)
    regex = "".join(
        r'(?:[^"\\]|\\.)*' if p == "$ANY_STRING" else r"-?[0-9][0-9.eE+-]*" if p == "$ANY_NUMBER" else re.escape(p)
        for p in parts
    )
    return re.compile(regex + r"\Z")


def start_daemon(tmp_path) -> harness.Daemon:
    d = harness.Daemon(str(tmp_path), api_key=None)
    for k in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"):
        d.env.pop(k, None)
    d.env["ANTHROPIC_BASE_URL"] = "http://127.0.0.1:9"
    return d.start()


@pytest.mark.parametrize("path", EXAMPLES, ids=[os.path.basename(p) for p in EXAMPLES])
def test_replay_bytes(path, tmp_path, synapsed_path):
    daemon = start_daemon(tmp_path)
    try:
        sock = socket.socket(socket.AF_UNIX)
        sock.settimeout(10)
        sock.connect(daemon.socket)
        reader = sock.makefile("rb")
        for n, (direction, line) in enumerate(load(path), 1):
            if direction == "send":
                sock.sendall(line.encode() + b"\n")
            else:
                got = reader.readline().decode()
                assert got.endswith("\n"), f"{path}:{n}: connection closed"
                assert pattern(line, daemon).match(got[:-1]), f"{path}:{n}:\n want {line}\n got  {got}"
        sock.close()
    finally:
        daemon.stop()


def shape(value):
    """The structure of a JSON value: object keys and list lengths, recursively, not the values."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(v) for v in value]
    return type(value).__name__ if not isinstance(value, (int, float)) or isinstance(value, bool) else "number"


def single_request(line: str):
    try:
        msg = json.loads(line)
    except ValueError:
        return None
    if isinstance(msg, dict) and msg.get("jsonrpc") == "2.0" and "id" in msg and isinstance(msg.get("method"), str):
        return msg
    return None


@pytest.mark.parametrize("path", EXAMPLES, ids=[os.path.basename(p) for p in EXAMPLES])
def test_replay_through_plugin_client(path, tmp_path, synapsed_path):
    steps = load(path)
    daemon = start_daemon(tmp_path)
    client = daemon.client()
    checked = 0
    try:
        for i, (direction, line) in enumerate(steps):
            request = single_request(line) if direction == "send" else None
            if request is None or i + 1 >= len(steps) or steps[i + 1][0] != "recv":
                continue
            golden = steps[i + 1][1]
            if request["method"] == "daemon.shutdown":
                assert client.call("daemon.shutdown", request.get("params")) == {}
                checked += 1
                continue
            want = json.loads(golden.replace("$PID", "0").replace("$ANY_NUMBER", "0").replace('"$SOCKET"', '""'))
            try:
                result = client.call(request["method"], request.get("params"), timeout=10)
                got = {"result": result}
            except RpcError as exc:
                got = {"error": {"code": exc.code, "message": exc.message, **({"data": exc.data} if exc.data is not None else {})}}
            key = "result" if "result" in want else "error"
            assert key in got, f"{path}: {request['method']}: want {key}, got {got}"
            if key == "error":
                assert got["error"] == want["error"], f"{path}: {request['method']}"
            else:
                assert shape(got["result"]) == shape(want["result"]), f"{path}: {request['method']}"
            checked += 1
        assert checked > 0
    finally:
        client.close()
        daemon.stop()
