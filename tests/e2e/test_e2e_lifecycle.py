"""Daemon lifecycle seen from the plugin, with the real ``synapsed`` and the scripted API.

The plugin starts ``synapsed`` itself here (``SYNAPSED_BIN``), like in Houdini.
"""

from __future__ import annotations

import os
import signal
import threading

import pytest

import harness
import hou
import synapse_houdini


def _msg(content, stop_reason):
    return {"content": content, "stop_reason": stop_reason, "usage": {"input_tokens": 10, "output_tokens": 5}}


SCRIPT = {
    "responses": [
        _msg([{"type": "tool_use", "id": "toolu_k1", "name": "houdini_scene_info", "input": {}}], "tool_use"),
        _msg([{"type": "text", "text": "First: {{last_tool_result}}"}], "end_turn"),
        _msg([{"type": "tool_use", "id": "toolu_k2", "name": "synapse_inspect_stage", "input": {}}], "tool_use"),
        _msg([{"type": "text", "text": "Second: {{last_tool_result}}"}], "end_turn"),
    ]
}


@pytest.fixture
def plugin_env(tmp_path, monkeypatch, synapsed_path, scripted_api_path):
    api = harness.ScriptedApi(SCRIPT, str(tmp_path)).start()
    monkeypatch.setenv("SYNAPSED_BIN", synapsed_path)
    monkeypatch.setenv("SYNAPSE_SOCKET", str(tmp_path / "rt" / "synapsed.sock"))
    monkeypatch.setenv("SYNAPSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SYNAPSE_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.setenv("ANTHROPIC_BASE_URL", api.url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    import fake_scene

    hou.main.start()
    scene = fake_scene.build_demo_scene()
    yield api, scene
    pid = synapse_houdini.status().get("daemon_pid")
    synapse_houdini.stop()
    hou.main.stop()
    api.stop()
    if pid:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _restarted(first_pid):
    st = synapse_houdini.status()
    return st.get("registered") and st.get("daemon_pid") not in (None, first_pid)


def test_turns_work_again_after_the_daemon_is_killed(plugin_env):
    api, scene = plugin_env
    host = synapse_houdini.start(idle_exit_s=5, is_main_thread=hou.main.is_main_thread)
    assert host.wait_registered(15), synapse_houdini.status()
    first = synapse_houdini.ask("frame range?").result(timeout=60)
    assert first["status"] == "complete", first

    pid = synapse_houdini.status()["daemon_pid"]
    os.kill(pid, signal.SIGKILL)
    assert harness.wait_for(lambda: _restarted(pid), 20), synapse_houdini.status()

    second = synapse_houdini.ask("and the stage?", session_id=first["session_id"]).result(timeout=60)
    assert second["status"] == "complete", second
    recorded = api.requests()
    assert len(recorded) == 4
    # The restarted daemon sent the persisted history of the session.
    assert len(recorded[2]["body"]["messages"]) >= 3


def test_turn_in_flight_when_the_daemon_dies_is_resolved_after_restart(plugin_env):
    api, scene = plugin_env
    host = synapse_houdini.start(idle_exit_s=5, is_main_thread=hou.main.is_main_thread)
    assert host.wait_registered(15), synapse_houdini.status()
    tool_called = threading.Event()
    with hou.main.blocked():
        handle = synapse_houdini.ask("frame range?")
        handle.on_event(lambda ev: ev["type"] == "tool_call" and tool_called.set())
        assert tool_called.wait(30), handle.events
        pid = synapse_houdini.status()["daemon_pid"]
        os.kill(pid, signal.SIGKILL)
    assert harness.wait_for(lambda: _restarted(pid), 20), synapse_houdini.status()
    # The plugin re-subscribes and asks turn.get: the restarted daemon reports the turn final.
    result = handle.result(timeout=30)
    assert result["status"] == "interrupted", result
