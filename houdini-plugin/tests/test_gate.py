"""Boot gate (design §2 lesson 1): refusals start no process and log one line."""

from __future__ import annotations

import logging
import threading

import pytest

import hou
import synapse_houdini
from synapse_houdini import launcher


@pytest.fixture
def no_spawn(monkeypatch):
    """Fail the test if anything tries to start a process or a supervisor."""
    spawned = []

    def forbidden(*args, **kwargs):
        spawned.append(args)
        raise AssertionError("a process was spawned")

    monkeypatch.setattr(launcher.subprocess, "Popen", forbidden)
    monkeypatch.setattr(launcher, "spawn_daemon", forbidden)
    for var in synapse_houdini.PDG_WORK_ITEM_ENV_VARS + (synapse_houdini.HEADLESS_ENV_VAR,):
        monkeypatch.delenv(var, raising=False)
    before = {t.name for t in threading.enumerate()}
    yield spawned
    assert spawned == []
    after = {t.name for t in threading.enumerate()}
    assert "synapse-supervisor" not in after - before


def _refusal_lines(caplog):
    return [r for r in caplog.records if r.name == "synapse_houdini" and "not started" in r.getMessage()]


def test_refuses_without_ui(no_spawn, caplog, main_loop):
    hou.set_ui_available(False)
    with caplog.at_level(logging.INFO, logger="synapse_houdini"):
        with pytest.raises(synapse_houdini.BootRefused, match="isUIAvailable"):
            synapse_houdini.start()
    assert len(_refusal_lines(caplog)) == 1
    assert "\n" not in _refusal_lines(caplog)[0].getMessage()
    assert synapse_houdini.status()["state"] == "stopped"


def test_refuses_when_is_ui_available_missing(no_spawn, monkeypatch, main_loop):
    monkeypatch.delattr(hou, "isUIAvailable")
    with pytest.raises(synapse_houdini.BootRefused):
        synapse_houdini.start()


@pytest.mark.parametrize("var", ["PDG_RESULT_SERVER", "PDG_ITEM_NAME", "PDG_ITEM_ID", "PDG_JOBID"])
def test_refuses_in_pdg_work_item_even_with_ui_and_opt_in(no_spawn, monkeypatch, caplog, var, main_loop):
    monkeypatch.setenv(var, "localhost:12345")
    monkeypatch.setenv("SYNAPSE_ALLOW_HEADLESS", "1")
    with caplog.at_level(logging.INFO, logger="synapse_houdini"):
        with pytest.raises(synapse_houdini.BootRefused, match="PDG"):
            synapse_houdini.start()
    assert len(_refusal_lines(caplog)) == 1


def test_boot_refused_is_a_runtime_error():
    assert issubclass(synapse_houdini.BootRefused, RuntimeError)
    assert issubclass(synapse_houdini.TurnNotComplete, TimeoutError)


def test_headless_opt_in_starts_without_hdefereval(monkeypatch, tmp_path, main_loop):
    """SYNAPSE_ALLOW_HEADLESS=1 passes the gate and never imports hdefereval."""
    import builtins
    import sys

    for var in synapse_houdini.PDG_WORK_ITEM_ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SYNAPSE_ALLOW_HEADLESS", "1")
    monkeypatch.setenv("SYNAPSED_BIN", str(tmp_path / "missing-synapsed"))
    monkeypatch.setenv("SYNAPSE_SOCKET", str(tmp_path / "s" / "none.sock"))
    hou.set_ui_available(False)
    real_import = builtins.__import__

    def guarded(name, *args, **kwargs):
        if name == "hdefereval":
            raise ImportError("hdefereval needs a UI")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "hdefereval", raising=False)
    monkeypatch.setattr(builtins, "__import__", guarded)
    host = synapse_houdini.start()
    assert host.marshal.headless
    assert synapse_houdini.status()["headless"] is True
    # Headless: direct call, no queue.
    assert host.marshal.run(lambda: 41 + 1, 1) == 42


def test_uiready_hook_swallows_boot_refused(no_spawn, caplog, main_loop):
    import runpy
    import os

    hook = os.path.join(os.path.dirname(os.path.dirname(__file__)), "scripts", "python", "uiready.py")
    hou.set_ui_available(False)
    with caplog.at_level(logging.INFO, logger="synapse_houdini"):
        runpy.run_path(hook)  # must not raise
    assert len(_refusal_lines(caplog)) == 1
