"""Shared fixtures: the fake ``hou`` on sys.path, its main thread, the simulated scene."""

from __future__ import annotations

import os
import sys
import threading

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PLUGIN = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(HERE, "fakes"))
sys.path.insert(0, os.path.join(PLUGIN, "python"))
sys.path.insert(0, HERE)

import hou  # noqa: E402  (the fake)
import fake_scene  # noqa: E402


@pytest.fixture
def main_loop():
    """The fake Houdini main thread, running."""
    hou.reset()
    hou.main.start()
    yield hou.main
    hou.main.stop()
    hou.reset()


@pytest.fixture
def scene(main_loop):
    """The simulated /stage network (real USD prims when pxr is importable)."""
    return fake_scene.build_demo_scene()


@pytest.fixture
def daemon(tmp_path, monkeypatch):
    """A fake synapsed on a private socket; no real daemon can be launched."""
    from fake_daemon import FakeDaemon

    monkeypatch.setenv("SYNAPSED_BIN", str(tmp_path / "no-synapsed"))
    d = FakeDaemon(str(tmp_path / "rt" / "synapsed.sock")).start()
    yield d
    d.stop()


@pytest.fixture(autouse=True)
def _no_leftover_host():
    yield
    import synapse_houdini

    synapse_houdini.stop()
    # stop() does not join the supervisor thread (it may be called on Houdini's
    # main thread); tests do, bounded, so one test's thread never acts in the next.
    from waiting import wait_until

    assert wait_until(
        lambda: not any(t.name == "synapse-supervisor" and t.is_alive() for t in threading.enumerate()), 10
    ), "a supervisor thread outlived its test"
