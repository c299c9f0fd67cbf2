"""The launcher's Windows side, as far as Linux can check it.

CPython for Windows cannot run here. What is checked: the process flags chosen
for Windows (a pure function), the Windows log directory, the bundled
``synapsed.exe`` lookup, and the thread-based readiness reader Windows uses
(``select`` takes only sockets there) run on Linux against real child processes.
"""

from __future__ import annotations

import os
import stat
import sys
import time

import pytest

from synapse_houdini import launcher
from test_launcher import BAD_READINESS
from waiting import wait_until

FAKE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fakes", "fake_daemon.py")


def _exe(path, body):
    path.write_text(body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNAPSE_SOCKET", str(tmp_path / "rt" / "synapsed.sock"))
    monkeypatch.setenv("SYNAPSE_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.setenv("FAKE_SYNAPSED_ENV_REPORT", str(tmp_path / "env.json"))
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.setattr(launcher, "READY_BY_THREAD", True)  # the Windows reader
    return tmp_path


def test_windows_process_flags():
    kw = launcher.popen_platform_kwargs(True)
    assert kw["creationflags"] == 0x08000000 | 0x00000008 | 0x00000200  # NO_WINDOW | DETACHED | NEW_GROUP
    assert kw["close_fds"] is True  # only the std handles are inherited
    assert "start_new_session" not in kw
    assert launcher.popen_platform_kwargs(False) == {"start_new_session": True, "close_fds": True}


def test_windows_log_dir():
    env = {"LOCALAPPDATA": "C:\\Users\\ana\\AppData\\Local", "USERPROFILE": "C:\\Users\\ana"}
    assert launcher.default_log_dir(True, env) == os.path.join(env["LOCALAPPDATA"], "synapse", "logs")
    fallback = launcher.default_log_dir(True, {"USERPROFILE": "C:\\Users\\ana"})
    assert fallback == os.path.join("C:\\Users\\ana", "AppData", "Local", "synapse", "logs")
    assert launcher.default_log_dir(False, env).endswith(f"synapse-{os.getuid()}-logs")


def test_bundled_exe_name_on_windows(tmp_path, monkeypatch):
    monkeypatch.delenv("SYNAPSED_BIN", raising=False)
    monkeypatch.setenv("PATH", "")
    monkeypatch.setattr(launcher, "PACKAGE_ROOT", str(tmp_path))
    (tmp_path / "bin").mkdir()
    exe = _exe(tmp_path / "bin" / "synapsed.exe", "#!/bin/sh\n")
    monkeypatch.setattr(launcher.os, "name", "nt")
    try:
        found = launcher.find_synapsed()
    finally:
        monkeypatch.undo()
    assert found == exe


def test_threaded_reader_spawns_and_keeps_draining(env, tmp_path):
    fake_bin = _exe(tmp_path / "synapsed", f'#!/bin/sh\nexec "{sys.executable}" "{FAKE}" "$@"\n')
    proc, ready = launcher.spawn_daemon(fake_bin, idle_exit_s=1, api_key="sk-secret-123")
    try:
        assert ready["ready"] is True and ready["pid"] == proc.pid
    finally:
        proc.kill()
    assert wait_until(lambda: proc.returncode is not None, 5), "the pump thread reaped it"


def test_threaded_reader_failure_modes(env, tmp_path):
    dies = _exe(tmp_path / "dies", "#!/bin/sh\necho oops >&2\nexit 3\n")
    with pytest.raises(launcher.LaunchError, match="status 3"):
        launcher.spawn_daemon(dies)
    silent = _exe(tmp_path / "silent", "#!/bin/sh\nexec sleep 30\n")
    t0 = time.monotonic()
    with pytest.raises(launcher.LaunchError, match="readiness"):
        launcher.spawn_daemon(silent, ready_timeout_s=0.5)
    assert time.monotonic() - t0 < 2


@pytest.mark.parametrize("name, body, match", BAD_READINESS)
def test_threaded_reader_kills_and_reaps_on_bad_readiness(env, tmp_path, name, body, match):
    pidfile = tmp_path / f"{name}.pid"
    script = _exe(tmp_path / name, f"#!/bin/sh\necho $$ > '{pidfile}'\n{body}\nexec sleep 30\n")
    t0 = time.monotonic()
    with pytest.raises(launcher.LaunchError, match=match):
        launcher.spawn_daemon(script, ready_timeout_s=1.0)
    assert time.monotonic() - t0 < 3
    pid = int(pidfile.read_text())
    assert wait_until(lambda: not os.path.exists(f"/proc/{pid}"), 5)


def test_a_busy_pipe_is_retried_never_answered_with_a_second_daemon(monkeypatch):
    from synapse_houdini import transport

    monkeypatch.setattr(transport, "IS_WINDOWS", True)
    monkeypatch.setattr(launcher, "BACKOFF_START_S", 0.01)
    monkeypatch.setattr(launcher, "BACKOFF_MAX_S", 0.02)
    spawned = []
    monkeypatch.setattr(launcher, "spawn_daemon", lambda *a, **k: spawned.append(a))

    def busy(path):
        raise TimeoutError(110, "every instance of the pipe stayed busy for 5 s", path)

    sup = launcher.Supervisor(busy, lambda client, info: None, socket_path="\\\\.\\pipe\\synapse-x",
                              synapsed_bin=sys.executable)  # found: only the rule stops a spawn
    sup.start()
    try:
        assert wait_until(lambda: sup.status()["state"] == "gave_up", 10), sup.status()
    finally:
        sup.stop()
    assert spawned == []
    assert "busy" in sup.status()["last_error"]
