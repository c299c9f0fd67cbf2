"""Full turns across the process boundary: scripted Messages API → synapsed → plugin → fake hou.

These need ``target/debug/synapsed`` and ``target/debug/synapse-scripted-api``; they
skip with a reason when a binary is missing or the daemon lacks ``turn.submit``.
"""

from __future__ import annotations

import json

import pytest

import harness
import hou
import synapse_houdini


def _msg(content, stop_reason):
    return {"content": content, "stop_reason": stop_reason, "usage": {"input_tokens": 10, "output_tokens": 5}}


def _tool_use(tool_id, name, tool_input):
    return {"type": "tool_use", "id": tool_id, "name": name, "input": tool_input}


INSPECT_SCRIPT = {
    "responses": [
        _msg([{"type": "text", "text": "Let me look at the stage."},
              _tool_use("toolu_01", "synapse_inspect_stage", {"target_path": "/stage"})], "tool_use"),
        _msg([{"type": "text", "text": "Summary of /stage: {{last_tool_result}}"}], "end_turn"),
    ]
}


@pytest.mark.parametrize("stack", [INSPECT_SCRIPT], indirect=True)
def test_full_turn_inspects_the_stage_on_the_main_thread(stack):
    api, daemon, houdini = stack
    events = []
    main_thread_calls = []
    original = hou.node

    def spying_node(path):
        main_thread_calls.append(hou.main.is_main_thread())
        return original(path)

    hou.node = spying_node
    try:
        handle = synapse_houdini.ask("What is on /stage?")
        handle.on_event(events.append)
        result = handle.result(timeout=60)
    finally:
        hou.node = original
    assert result["status"] == "complete", result
    assert main_thread_calls and all(main_thread_calls)  # the body ran on the fake main thread
    assert [c["name"] for c in result["tool_calls"]] == ["synapse_inspect_stage"]
    assert result["tool_calls"][0]["is_error"] is False

    recorded = api.requests()
    assert len(recorded) == 2
    # The first request offers the plugin's tools.
    tool_names = [t["name"] for t in recorded[0]["body"].get("tools", [])]
    assert "synapse_inspect_stage" in tool_names and "houdini_scene_info" in tool_names
    # The second carries the tool_result with the inspect output.
    blocks = harness.tool_result_blocks(recorded[1])
    assert len(blocks) == 1 and blocks[0]["tool_use_id"] == "toolu_01"
    assert not blocks[0].get("is_error", False)
    payload = json.loads(harness.block_text(blocks[0]))
    assert payload["schema_version"] == "1.0.0" and payload["target_path"] == "/stage"
    nodes = {n["node_name"]: n for n in payload["nodes"]}
    assert nodes["sphere1"]["usd_prim_paths"] == ["/geo", "/geo/sphere1"]
    assert nodes["assign_broken"]["error_state"] == "error"

    # The final text echoes the tool result through the {{last_tool_result}} placeholder.
    assert result["text"].startswith("Summary of /stage: ")
    assert "assign_broken" in result["text"] and "usd_prim_paths" in result["text"]
    types = [e["type"] for e in events]
    assert types[-1] == "done"
    assert "tool_call" in types and "tool_result" in types and "text" in types
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


DELETE_SCRIPT = {
    "responses": [
        _msg([_tool_use("toolu_a1", "synapse_touch_pinned_node", {"path": "/stage/sphere1"})], "tool_use"),
        _msg([{"type": "text", "text": "Pinned: {{last_tool_result}}"}], "end_turn"),
        _msg([_tool_use("toolu_b1", "synapse_touch_pinned_node", {"path": "/stage/sphere1"})], "tool_use"),
        _msg([{"type": "text", "text": "After deletion: {{last_tool_result}}"}], "end_turn"),
    ]
}


@pytest.mark.parametrize("stack", [DELETE_SCRIPT], indirect=True)
def test_node_deleted_between_turns_reaches_the_model_as_object_was_deleted(stack):
    api, daemon, houdini = stack
    first = synapse_houdini.ask("Pin sphere1").result(timeout=60)
    assert first["status"] == "complete", first
    assert '"name": "sphere1"' in first["text"] or '"name":"sphere1"' in first["text"]

    hou.main.run_sync(houdini.scene.nodes["sphere1"].destroy)  # the artist deletes the node

    second = synapse_houdini.ask("Check the pinned node again", session_id=first["session_id"]).result(timeout=60)
    assert second["status"] == "complete", second
    assert second["tool_calls"][0]["is_error"] is True

    recorded = api.requests()
    assert len(recorded) == 4
    blocks = harness.tool_result_blocks(recorded[3])
    assert len(blocks) == 1 and blocks[0]["tool_use_id"] == "toolu_b1"
    assert blocks[0].get("is_error") is True
    envelope = json.loads(harness.block_text(blocks[0]))
    assert envelope["agent_tool_error"] is True
    assert envelope["error_type"] == "ObjectWasDeleted"
    assert "Re-inspect" in envelope["error_message"]
    assert "ObjectWasDeleted" in second["text"]


SLOW_SCRIPT = {
    "responses": [
        _msg([_tool_use("toolu_s1", "houdini_scene_info", {})], "tool_use"),
        _msg([{"type": "text", "text": "Scene: {{last_tool_result}}"}], "end_turn"),
    ]
}


@pytest.mark.parametrize("stack", [SLOW_SCRIPT], indirect=True)
def test_submit_never_blocks_even_while_the_main_thread_is_busy(stack):
    """Lesson 3: a turn submitted while the UI thread is busy completes once it frees up."""
    api, daemon, houdini = stack
    with hou.main.blocked():
        handle = synapse_houdini.ask("What frame range?")
        assert not handle.done()
        with pytest.raises(synapse_houdini.TurnNotComplete):
            handle.result(timeout=0)
    result = handle.result(timeout=60)
    assert result["status"] == "complete", result
    assert "frame_range" in result["text"]
