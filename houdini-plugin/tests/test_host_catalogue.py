"""The host side of the catalogue: deadlines from the call, images in the reply, a torn-down scene."""

from __future__ import annotations

import time

import pytest

import hou
import synapse_houdini
from tools_helpers import fails


@pytest.fixture
def host(daemon, scene, main_loop):
    h = synapse_houdini.start(socket_path=daemon.path, is_main_thread=main_loop.is_main_thread)
    assert h.wait_registered(5)
    return h


def test_execute_python_stops_at_the_calls_own_timeout(host, daemon, main_loop):
    t0 = time.monotonic()
    reply = daemon.invoke("houdini_execute_python", {"code": "while True:\n    pass"}, timeout_s=2)["result"]
    elapsed = time.monotonic() - t0
    assert reply["is_error"] and reply["content"]["error_type"] == "ExecutionTimeout", reply
    assert elapsed < 3.0  # within timeout_s + 1 s, stopped by the body itself, not abandoned
    assert main_loop.latency() < 0.5  # and the main thread is free: no runaway code left behind
    ok = daemon.invoke("houdini_scene_info", {})["result"]
    assert ok["is_error"] is False  # no MainThreadBusy afterwards


def test_capture_images_ride_in_the_reply_and_the_duplicate(host, daemon):
    first = daemon.invoke("houdini_capture_viewport", {"width": 64, "height": 64}, call_id="toolu_cap")["result"]
    assert first["images"][0]["media_type"] == "image/png" and first["content"]["width"] == 64
    again = daemon.invoke("houdini_capture_viewport", {"width": 64, "height": 64}, call_id="toolu_cap")["result"]
    assert again == first and hou.ui._scene_viewer.flipbooks == 1  # each call_id runs once


def test_a_torn_down_scene_is_refused_before_any_hou_work(scene, main_loop):
    obj = hou._nodes.pop("/obj")  # a deferred call arriving while the scene is being closed
    try:
        fails("houdini_list_nodes", {}, "SceneUnavailable", "not available")
        fails("houdini_create_node", {"parent": "/stage", "type": "null"}, "SceneUnavailable")
        fails("synapse_inspect_stage", {}, "SceneUnavailable")
    finally:
        hou._nodes["/obj"] = obj
    assert hou.main.run_sync(lambda: hou.node("/stage/null1")) is None
