"""Launcher and supervisor against a Python stand-in for ``synapsed`` (fakes/fake_daemon.py)."""

from __future__ import annotations

import json
import logging
import os
import signal
import stat
import sys
import threading
import time

import pytest

import hou
import synapse_houdini
from synapse_houdini import launcher
from waiting import process_alive, wait_until

FAKE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fakes", "fake_daemon.py")


def _exe(path, body):
    path.write_text(body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


@pytest.fixture
def fake_bin(tmp_path):
    return _exe(tmp_path / "synapsed", f'#!/bin/sh\nexec "{sys.executable}" "{FAKE}" "$@"\n')


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNAPSE_SOCKET", str(tmp_path / "rt" / "synapsed.sock"))
    monkeypatch.setenv("SYNAPSE_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.setenv("FAKE_SYNAPSED_ENV_REPORT", str(tmp_path / "env.json"))
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    return tmp_path


def test_find_synapsed_order(tmp_path, monkeypatch, fake_bin):
    monkeypatch.setenv("SYNAPSED_BIN", fake_bin)
    assert launcher.find_synapsed() == fake_bin
    assert launcher.find_synapsed(str(tmp_path / "nope")) is None
    monkeypatch.delenv("SYNAPSED_BIN")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert launcher.find_synapsed() == fake_bin  # found on PATH


def test_spawn_reads_readiness_and_passes_key_in_env_only(env, fake_bin, caplog):
    with caplog.at_level(logging.DEBUG):
        proc, ready = launcher.spawn_daemon(fake_bin, idle_exit_s=1, api_key="sk-secret-123")
    try:
        assert ready["ready"] is True and ready["protocol"] == 1 and ready["pid"] == proc.pid
        assert ready["socket"] == os.environ["SYNAPSE_SOCKET"]
        report = json.loads((env / "env.json").read_text())
        assert report["key"] == "sk-secret-123"
        assert not any("sk-secret" in a for a in report["argv"])
        assert "--exit-when-idle" in report["argv"]
        assert "sk-secret" not in caplog.text
        # Detached: its own session.
        assert os.getsid(proc.pid) == proc.pid
    finally:
        proc.kill()


def test_spawn_failure_modes(env, tmp_path):
    dies = _exe(tmp_path / "dies", "#!/bin/sh\necho oops >&2\nexit 3\n")
    with pytest.raises(launcher.LaunchError, match="status 3"):
        launcher.spawn_daemon(dies)
    silent = _exe(tmp_path / "silent", "#!/bin/sh\nexec sleep 30\n")
    t0 = time.monotonic()
    with pytest.raises(launcher.LaunchError, match="readiness"):
        launcher.spawn_daemon(silent, ready_timeout_s=0.5)
    assert time.monotonic() - t0 < 2
    assert "oops" in (tmp_path / "logs" / "synapsed.log").read_text()


#: Readiness lines a launcher must refuse (shared with the Windows reader's tests).
BAD_READINESS = [
    ("wrong_shape", "echo '{\"hello\": 1}'", "unexpected readiness line"),
    ("not_an_object", "echo '[1, 2]'", "not a JSON object"),
    ("not_json", "echo 'starting...'", "not JSON"),
    ("closes_stdout", "exec >&-", "closed its stdout"),
]


@pytest.mark.parametrize("name, body, match", BAD_READINESS)
def test_bad_readiness_kills_and_reaps_the_child(env, tmp_path, name, body, match):
    pidfile = tmp_path / f"{name}.pid"
    script = _exe(tmp_path / name, f"#!/bin/sh\necho $$ > '{pidfile}'\n{body}\nexec sleep 30\n")
    t0 = time.monotonic()
    with pytest.raises(launcher.LaunchError, match=match):
        launcher.spawn_daemon(script, ready_timeout_s=1.0)
    assert time.monotonic() - t0 < 3
    pid = int(pidfile.read_text())
    # Killed and reaped (no zombie left): /proc/<pid> disappears.
    assert wait_until(lambda: not os.path.exists(f"/proc/{pid}"), 5)


def test_api_key_comes_from_the_environment_only(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "from-env")
    assert launcher.get_api_key() == "from-env"
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    assert launcher.get_api_key() is None
    assert not hasattr(hou, "secure")  # Houdini has no such API; the plugin never looks for one
    source = open(launcher.__file__).read()
    assert 'getattr(hou, "secure"' not in source and "hou.secure." not in source


def test_supervisor_spawns_then_restarts_a_killed_daemon(env, fake_bin, monkeypatch, scene, main_loop):
    monkeypatch.setenv("SYNAPSED_BIN", fake_bin)
    host = synapse_houdini.start(idle_exit_s=2, is_main_thread=main_loop.is_main_thread)
    assert host.wait_registered(10)
    first = synapse_houdini.status()
    assert first["spawned_pid"] and first["daemon_pid"] == first["spawned_pid"]
    os.kill(first["daemon_pid"], signal.SIGKILL)
    assert wait_until(lambda: synapse_houdini.status()["connects"] >= 2 and synapse_houdini.status()["registered"], 15)
    second = synapse_houdini.status()
    assert second["daemon_pid"] != first["daemon_pid"]
    assert second["restarts"] >= 1 and second["state"] == "connected"
    synapse_houdini.stop()
    # Plugin gone: the daemon exits after its idle time.
    assert wait_until(lambda: not process_alive(second["daemon_pid"]), 10)


def test_supervisor_stop_never_waits_and_closes_a_late_connection(tmp_path):
    entered, release, closed = threading.Event(), threading.Event(), threading.Event()

    class LateClient:
        def close(self):
            closed.set()

    def make_client(path):  # connecting takes long (a daemon that is slow to accept)
        entered.set()
        release.wait(10)
        return LateClient()

    connected = []
    sup = launcher.Supervisor(make_client, lambda client, info: connected.append(client),
                              socket_path=str(tmp_path / "s.sock"))
    sup.start()
    assert entered.wait(5)
    thread = sup._thread
    t0 = time.monotonic()
    sup.stop()  # may run on Houdini's main thread: must not join the busy supervisor thread
    assert time.monotonic() - t0 < 0.1
    assert sup.status()["state"] == "stopped"
    release.set()
    assert closed.wait(5)  # the supervisor thread closes the connection it got too late
    thread.join(5)
    assert not thread.is_alive()
    assert connected == [] and sup.client is None and sup.status()["state"] == "stopped"


def test_supervisor_reports_a_lost_connection_before_it_reconnects(tmp_path, monkeypatch):
    """A host must not say "registered" between losing its daemon and registering again."""
    monkeypatch.setattr(launcher, "BACKOFF_START_S", 0.01)
    lost, daemon_gone, reconnecting = threading.Event(), threading.Event(), threading.Event()
    lost_at_each_connect = []

    class Client:
        closed = False

        def wait_closed(self):
            daemon_gone.wait(10)

        def close(self):
            daemon_gone.set()

    def make_client(path):
        lost_at_each_connect.append(lost.is_set())
        if len(lost_at_each_connect) == 1:
            return Client()
        reconnecting.set()
        raise OSError("nothing answers")

    sup = launcher.Supervisor(make_client, lambda client, info: None, socket_path=str(tmp_path / "s.sock"),
                              synapsed_bin=str(tmp_path / "absent"), on_disconnected=lost.set)
    sup.start()
    try:
        assert wait_until(lambda: sup.status()["connects"] == 1, 5)
        assert not lost.is_set()
        daemon_gone.set()
        assert reconnecting.wait(5)
        assert lost_at_each_connect[:2] == [False, True]
    finally:
        sup.stop()


def test_supervisor_gives_up_after_five_crashes(env, tmp_path, monkeypatch, caplog, main_loop):
    monkeypatch.setattr(launcher, "BACKOFF_START_S", 0.01)
    monkeypatch.setattr(launcher, "BACKOFF_MAX_S", 0.02)
    crashing = _exe(tmp_path / "crash", "#!/bin/sh\nexit 1\n")
    monkeypatch.setenv("SYNAPSED_BIN", crashing)
    with caplog.at_level(logging.WARNING, logger="synapse_houdini"):
        synapse_houdini.start(is_main_thread=main_loop.is_main_thread)
        assert wait_until(lambda: synapse_houdini.status()["state"] == "gave_up", 15)
    st = synapse_houdini.status()
    assert "gave up" in st["last_error"] and st["failures_recent"] >= 5
    assert any("gave up" in r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR)
    # A turn asked now fails visibly instead of waiting forever.
    handle = synapse_houdini.ask("anyone?")
    assert handle.done()
    with pytest.raises(synapse_houdini.ConnectionClosed, match="gave up"):
        handle.result(timeout=0)


def test_missing_binary_is_reported_in_status(env, tmp_path, monkeypatch, main_loop):
    monkeypatch.setattr(launcher, "BACKOFF_START_S", 0.01)
    monkeypatch.setattr(launcher, "BACKOFF_MAX_S", 0.02)
    monkeypatch.setenv("SYNAPSED_BIN", str(tmp_path / "nothing-here"))
    synapse_houdini.start(is_main_thread=main_loop.is_main_thread)
    assert wait_until(lambda: synapse_houdini.status()["state"] == "gave_up", 10)
    assert "synapsed not found" in synapse_houdini.status()["last_error"]
