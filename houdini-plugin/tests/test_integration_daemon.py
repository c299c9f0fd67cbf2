"""The plugin against the REAL ``synapsed`` (``target/debug/synapsed`` or ``SYNAPSED_BIN``).

Skipped with a reason when the binary is not built. No scripted API needed here:
these cover registration, the supervisor restarting a killed daemon, and the
daemon exiting on idle once the plugin is gone. Full turns live in ``tests/e2e``.
"""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest

import synapse_houdini
from synapse_houdini.rpc import RpcClient
from synapse_houdini.tools import builtin_tools
from waiting import TIMESTAMP_RE, process_alive, wait_until

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))

import harness  # noqa: E402  (the e2e harness: binary lookup and the built-or-skip rule)


@pytest.fixture
def real_synapsed(tmp_path, monkeypatch):
    path = harness.require_binary(harness.synapsed_bin(), "cargo build -p synapsed")
    monkeypatch.setenv("SYNAPSED_BIN", path)
    monkeypatch.setenv("SYNAPSE_SOCKET", str(tmp_path / "rt" / "synapsed.sock"))
    monkeypatch.setenv("SYNAPSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SYNAPSE_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")  # never reached here
    return path


def test_plugin_spawns_the_daemon_and_registers(real_synapsed, scene, main_loop):
    host = synapse_houdini.start(idle_exit_s=30, is_main_thread=main_loop.is_main_thread)
    assert host.wait_registered(15), synapse_houdini.status()
    st = synapse_houdini.status()
    assert st["state"] == "connected" and st["spawned_pid"] == st["daemon_pid"]
    status = host.supervisor.client.call("daemon.status", timeout=5)
    assert status["protocol"] == 1 and status["pid"] == st["daemon_pid"]
    assert status["socket"] == os.environ["SYNAPSE_SOCKET"]
    hosts = [h for h in status["hosts"] if h["host_id"] == host.host_id]
    assert len(hosts) == 1
    entry = hosts[0]
    assert set(entry) >= {"host_id", "name", "houdini_version", "pid", "hip", "ui_available", "tools", "connected_at"}
    assert entry["name"] == "houdini" and entry["pid"] == os.getpid() and entry["tools"] == len(builtin_tools())
    assert entry["ui_available"] is True and entry["hip"].endswith(".hip")
    assert TIMESTAMP_RE.match(entry["connected_at"])
    pid = st["daemon_pid"]
    client = host.supervisor.client
    # Stop the plugin first: a running supervisor would respawn the daemon it just shut down.
    synapse_houdini.stop()
    assert wait_until(lambda: client.closed, 5)
    shutdown = RpcClient.connect(os.environ["SYNAPSE_SOCKET"])
    try:
        shutdown.call("daemon.shutdown", timeout=5)
    finally:
        shutdown.close()
    assert wait_until(lambda: not process_alive(pid), 10)


def test_supervisor_restarts_a_killed_daemon(real_synapsed, scene, main_loop):
    host = synapse_houdini.start(idle_exit_s=5, is_main_thread=main_loop.is_main_thread)
    assert host.wait_registered(15), synapse_houdini.status()
    first = synapse_houdini.status()["daemon_pid"]
    os.kill(first, signal.SIGKILL)
    assert wait_until(lambda: synapse_houdini.status()["connects"] >= 2 and synapse_houdini.status()["registered"]
                 and synapse_houdini.status()["daemon_pid"] != first, 20), synapse_houdini.status()
    st = synapse_houdini.status()
    assert process_alive(st["daemon_pid"]) and st["restarts"] >= 1
    status = host.supervisor.client.call("daemon.status", timeout=5)
    assert any(h["host_id"] == host.host_id for h in status["hosts"])
    synapse_houdini.stop()
    assert wait_until(lambda: not process_alive(st["daemon_pid"]), 15)


def test_daemon_exits_after_idle_once_the_plugin_is_gone(real_synapsed, scene, main_loop):
    host = synapse_houdini.start(idle_exit_s=1, is_main_thread=main_loop.is_main_thread)
    assert host.wait_registered(15), synapse_houdini.status()
    pid = synapse_houdini.status()["daemon_pid"]
    sock = os.environ["SYNAPSE_SOCKET"]
    assert os.path.exists(sock)
    synapse_houdini.stop()
    t0 = time.monotonic()
    assert wait_until(lambda: not process_alive(pid), 10), "synapsed did not exit after --exit-when-idle 1"
    assert time.monotonic() - t0 >= 0.5  # it waited for the idle period, not exited at once
    assert not os.path.exists(sock)
