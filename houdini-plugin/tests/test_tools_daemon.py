"""Every catalogue tool through the REAL ``synapsed``: a scripted model calls it, the plugin runs it
on the fake main thread, and the tool_result the Messages API receives is checked (shape, bounds,
errors), plus the undo groups of mutating calls and ``undo_turn``.

Needs ``target/debug/synapsed`` and ``target/debug/synapse-scripted-api`` (else skipped; CI builds them).
"""

from __future__ import annotations

import base64
import json
import os
import sys
import threading

import pytest

import fake_scene
import hou
import synapse_houdini
from tools_helpers import snapshot

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))

import harness  # noqa: E402


def _msg(content, stop_reason):
    return {"content": content, "stop_reason": stop_reason, "usage": {"input_tokens": 10, "output_tokens": 5}}


class Stack:
    """Scripted API + real daemon + the plugin on the fake main thread, for one scripted turn."""

    def __init__(self, tmp_path, calls):
        synapsed = harness.require_binary(harness.synapsed_bin(), "cargo build -p synapsed")
        harness.require_binary(harness.scripted_api_bin(), "cargo build -p synapse-test-support --bin synapse-scripted-api")
        uses = [{"type": "tool_use", "id": f"toolu_{i:02d}", "name": name, "input": tool_input}
                for i, (name, tool_input) in enumerate(calls)]
        script = {"responses": [_msg([{"type": "text", "text": "Working on it."}, *uses], "tool_use"),
                                _msg([{"type": "text", "text": "Done."}], "end_turn")]}
        self.api = harness.ScriptedApi(script, str(tmp_path)).start()
        self.daemon = harness.Daemon(str(tmp_path), base_url=self.api.url, binary=synapsed).start()
        self.host = synapse_houdini.start(socket_path=self.daemon.socket, is_main_thread=hou.main.is_main_thread)
        assert self.host.wait_registered(10), synapse_houdini.status()
        self.calls = calls

    def turn(self):
        """Run the turn; return (turn_id, {tool_name_or_index: (is_error, payload, block)})."""
        handle = self.host.ask("Use the tools.")
        # Mutating and destructive calls wait for the artist (permission mode
        # `ask`, the default): this test is the artist and allows each.
        handle.on_approval(lambda ev: handle.approve(ev["call_id"], "allow"))
        result = handle.result(timeout=60)
        assert result["status"] == "complete", result
        recorded = self.api.requests()
        assert len(recorded) == 2
        blocks = {b["tool_use_id"]: b for b in harness.tool_result_blocks(recorded[1])}
        assert len(blocks) == len(self.calls)
        out = []
        for i, (name, _input) in enumerate(self.calls):
            block = blocks[f"toolu_{i:02d}"]
            out.append((bool(block.get("is_error", False)), json.loads(harness.block_text(block)), block))
        return handle.turn_id, out, recorded

    def stop(self):
        synapse_houdini.stop()
        self.daemon.stop()
        self.api.stop()


@pytest.fixture
def stack_factory(tmp_path, scene, main_loop):
    made = []
    fake_scene.add_sop_network(scene)
    threads = []
    original = hou.node

    def recording_node(path):
        threads.append(threading.get_ident())
        return original(path)

    hou.node = recording_node

    def make(calls):
        made.append(Stack(tmp_path, calls))
        return made[-1]

    make.threads = threads
    yield make
    hou.node = original
    for stack in made:
        stack.stop()


def _ok(results, index):
    is_error, payload, _block = results[index]
    assert is_error is False, payload
    return payload


READ_ONLY_CALLS = [
    ("synapse_inspect_stage", {}),
    ("houdini_scene_info", {}),
    ("houdini_list_nodes", {"root": "/", "max_depth": 3, "limit": 5}),
    ("houdini_node_info", {"path": "/obj/geo1/broken_wrangle"}),
    ("houdini_get_selection", {}),
    ("houdini_find_errors", {"limit": 1}),
    ("houdini_geometry_summary", {"path": "/obj/geo1/OUT", "limit": 3}),
    ("houdini_usd_prims", {"lop_path": "/stage/merge1", "limit": 3}),
    ("houdini_usd_prim_info", {"lop_path": "/stage/merge1", "prim_path": "/geo/sphere1"}),
    ("houdini_node_type_help", {"type_name": "attribwrangle", "category": "Sop"}),
    ("houdini_capture_viewport", {"width": 128, "height": 72}),
]


def test_read_only_tools_through_the_daemon(stack_factory, main_loop):
    pytest.importorskip("pxr")
    stack = stack_factory(READ_ONLY_CALLS)
    before = snapshot()
    turn_id, results, recorded = stack.turn()
    offered = {t["name"] for t in recorded[0]["body"]["tools"]}
    assert {name for name, _ in READ_ONLY_CALLS} <= offered
    stage = _ok(results, 0)
    merge = next(n for n in stage["nodes"] if n["node_name"] == "merge1")
    assert merge["outputs"] == [] and all(isinstance(p, str) for n in stage["nodes"] for p in n["outputs"])
    assert next(n for n in stage["nodes"] if n["node_name"] == "domelight1")["outputs"] == [
        "/stage/assign_broken", "/stage/merge1", "/stage/transform_bypassed"]
    assert _ok(results, 1)["frame"] == 1001.0
    listed = _ok(results, 2)
    assert len(listed["nodes"]) == 5 and listed["truncated"] is True
    assert all(n["path"].startswith("/") for n in listed["nodes"])
    info = _ok(results, 3)
    assert info["type"] == "attribwrangle" and "Syntax error" in info["errors"][0]
    assert _ok(results, 4) == {"nodes": [], "truncated": False}
    errors = _ok(results, 5)
    assert len(errors["nodes"]) == 1 and errors["truncated"] is True and errors["nodes"][0]["severity"] == "error"
    geo = _ok(results, 6)
    assert geo["points"] == 20 and len(geo["attributes"]) == 3 and geo["truncated"] is True
    assert geo["attributes"][0]["sample"][0] == [-1.0, 0.0, -1.0]
    prims = _ok(results, 7)
    assert len(prims["prims"]) == 3 and prims["truncated"] is True
    prim = _ok(results, 8)
    assert prim["type"] == "Sphere" and any(a["name"] == "radius" and a["value"] == 2.0 for a in prim["attributes"])
    assert _ok(results, 9)["description"] == "Attribute Wrangle"
    capture = _ok(results, 10)
    assert (capture["width"], capture["height"], capture["media_type"]) == (128, 72, "image/png")
    block = results[10][2]
    images = [b for b in block["content"] if b.get("type") == "image"] if isinstance(block["content"], list) else []
    for image in images:  # the daemon's image blocks (design §13), when this daemon has them
        assert image["source"]["media_type"] == "image/png"
        assert base64.b64decode(image["source"]["data"], validate=True).startswith(b"\x89PNG\r\n\x1a\n")
    # Every hou.node() call ran on the fake main thread; nothing in the scene changed; no undo group.
    assert stack_factory.threads and set(stack_factory.threads) == {main_loop.ident}
    assert snapshot() == before and hou.undos.groups == []
    assert stack.host.undo_journal.groups(turn_id) == []


def test_capture_reply_carries_the_png_for_the_daemon(stack_factory, main_loop):
    """The host's tool.invoke reply has the images field (a direct call, as the daemon receives it)."""
    stack = stack_factory([("houdini_scene_info", {})])
    params = {"call_id": "toolu_direct", "turn_id": "turn_direct", "name": "houdini_capture_viewport",
              "input": {"width": 96, "height": 64}, "timeout_s": 10}
    reply = stack.host._handle_tool_invoke(params)
    assert reply["is_error"] is False and reply["content"]["width"] == 96
    [image] = reply["images"]
    assert image["media_type"] == "image/png"
    assert base64.b64decode(image["data"], validate=True).startswith(b"\x89PNG\r\n\x1a\n")
    hou.ui._scene_viewer = None
    reply = stack.host._handle_tool_invoke({**params, "call_id": "toolu_direct2"})
    assert reply["is_error"] and reply["content"]["error_type"] == "NotSupported" and "images" not in reply


MUTATING_CALLS = [
    ("houdini_create_node", {"parent": "/obj/geo1", "type": "box", "name": "crate", "parms": {"size": [2, 1, 1]}}),
    ("houdini_set_parms", {"path": "/obj/geo1/grid1", "parms": {"rows": 6}, "expressions": {"sizex": "$F / 500"}}),
    ("houdini_connect", {"from_path": "/obj/geo1/crate", "to_path": "/obj/geo1/OUT"}),
    ("houdini_disconnect", {"path": "/obj/geo1/broken_wrangle", "input_index": 0}),
    ("houdini_set_flags", {"path": "/obj/geo1/crate", "display": True, "render": True}),
    ("houdini_rename_node", {"path": "/obj/geo1/color1", "new_name": "tint"}),
    ("houdini_layout", {"parent": "/obj/geo1"}),
    ("houdini_create_wrangle", {"parent": "/obj/geo1", "code": "@Cd = set(1, 0, 0)", "input_path": "/obj/geo1/tint"}),
    ("houdini_cook", {"path": "/obj/geo1/OUT", "force": True}),
    ("houdini_set_frame", {"frame": 1040}),
]


def test_mutating_tools_through_the_daemon_then_undo_turn(stack_factory, main_loop):
    stack = stack_factory(MUTATING_CALLS)
    before = snapshot()
    turn_id, results, _ = stack.turn()
    assert _ok(results, 0)["path"] == "/obj/geo1/crate"
    assert _ok(results, 1)["changed"] == [{"parm": "rows", "old": 4, "new": 6},
                                          {"parm": "sizex", "old": 2.0, "new": 2.002, "expression": "$F / 500"}]
    assert _ok(results, 2)["inputs"] == [{"index": 0, "path": "/obj/geo1/crate"}]
    assert _ok(results, 3)["disconnected"] == "/obj/geo1/color1"
    assert _ok(results, 4)["flags"] == {"display": True, "render": True}
    assert _ok(results, 5) == {"path": "/obj/geo1/tint", "old_path": "/obj/geo1/color1"}
    assert _ok(results, 6)["nodes"] == 5
    wrangle = _ok(results, 7)
    assert wrangle["path"] == "/obj/geo1/attribwrangle1" and "Syntax error" in wrangle["errors"][0]  # no ';'
    assert _ok(results, 8)["errors"] == []
    assert _ok(results, 9) == {"frame": 1040.0}
    assert set(stack_factory.threads) == {main_loop.ident}
    # One undo group per mutating call, all on the main thread; cook and set_frame change nothing
    # undoable, so their (empty) groups leave no undo entry and are not in the journal.
    labels = [f"Synapse: {name}" for name, _ in MUTATING_CALLS]
    assert hou.undos.groups == labels and set(hou.undos.threads) == {main_loop.ident}
    undoable = labels[:-2]
    journal = [r.label for r in stack.host.undo_journal.groups(turn_id)]
    assert journal == undoable
    assert hou.main.run_sync(hou.undos.undoLabels) == tuple(reversed(undoable))
    undone = synapse_houdini.undo_turn(turn_id)
    assert undone["undone"] == list(reversed(undoable))
    after = snapshot()
    assert after[0] == before[0] and after[3] == 0  # the scene as before the turn; the undo stack empty again


DESTRUCTIVE_CALLS = [
    ("houdini_execute_python", {"code": "print(hou.node('/obj/geo1').path())\nlen(hou.node('/stage').children())"}),
    ("houdini_delete_nodes", {"paths": ["/obj/geo1/broken_wrangle", "/stage/merge1"]}),
    ("houdini_save_hip", {}),
]


def test_destructive_tools_through_the_daemon(stack_factory, main_loop, tmp_path):
    hou.hipFile._path = str(tmp_path / "shot_v001.hip")
    stack = stack_factory(DESTRUCTIVE_CALLS)
    specs = {t.name: t.spec() for t in stack.host.tools}
    assert all(specs[name].get("destructive") is True for name, _ in DESTRUCTIVE_CALLS)
    before = snapshot()
    turn_id, results, _ = stack.turn()
    assert _ok(results, 0) == {"stdout": "/obj/geo1\n", "stderr": "", "result": 6}
    assert _ok(results, 1) == {"deleted": ["/obj/geo1/broken_wrangle", "/stage/merge1"]}
    assert _ok(results, 2) == {"path": str(tmp_path / "shot_v001.hip")}
    assert (tmp_path / "shot_v001.hip").exists()
    assert [r.label for r in stack.host.undo_journal.groups(turn_id)] == ["Synapse: houdini_delete_nodes"]
    synapse_houdini.undo_turn(turn_id)  # the deletion can be undone (the saved file stays)
    assert snapshot()[0] == before[0]


BAD_CALLS = [
    ("houdini_list_nodes", {"limit": 10**9}),
    ("houdini_node_info", {}),
    ("houdini_node_info", {"path": "/obj/geo1/grid1", "verbose": True}),
    ("houdini_set_parms", {"path": "/obj/geo1/grid1", "parms": {"rows": "many"}}),
    ("houdini_set_parms", {"path": "/obj/geo1/grid1", "parms": {"rowz": 3}}),
    ("houdini_create_node", {"parent": "/obj/nowhere", "type": "box"}),
    ("houdini_cook", {"path": "/obj/geo1/broken_wrangle"}),
    ("houdini_delete_nodes", {"paths": ["/obj/geo1/grid1", "/obj/ghost"]}),
    ("houdini_execute_python", {"code": "raise ValueError('nope')"}),
    ("houdini_usd_prim_info", {"lop_path": "/stage/merge1", "prim_path": "/missing"}),
]
BAD_EXPECTED = [("InvalidInput", "input.limit"), ("InvalidInput", "input.path"), ("InvalidInput", "input.verbose"),
                ("InvalidParm", "rows"), ("InvalidParm", "rowz"), ("NodeNotFound", "/obj/nowhere"),
                ("CookError", "Syntax error"), ("NodeNotFound", "paths[1]"), ("PythonError", "ValueError: nope"),
                ("PrimNotFound", "/missing")]


def test_bad_calls_reach_the_model_as_envelopes_and_change_nothing(stack_factory, main_loop):
    pytest.importorskip("pxr")
    stack = stack_factory(BAD_CALLS)
    before = snapshot()
    turn_id, results, _ = stack.turn()
    for (is_error, payload, _block), (error_type, needle) in zip(results, BAD_EXPECTED):
        assert is_error is True
        assert payload["agent_tool_error"] is True and payload["error_type"] == error_type, payload
        assert needle in payload["error_message"]
    assert snapshot()[0] == before[0]
    with pytest.raises(synapse_houdini.UndoRefused):
        synapse_houdini.undo_turn(turn_id)
