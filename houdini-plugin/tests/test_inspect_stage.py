"""``synapse_inspect_stage`` contract, against the simulated LOP network and real USD prims."""

from __future__ import annotations

import json

import pytest

import fake_scene
import hou
from synapse_houdini.errors import tool_error_envelope
from synapse_houdini.tools import builtin_tools
from synapse_houdini.tools.inspect_stage import NODE_KEYS, InvalidTargetPathError, StageNotFoundError, inspect_stage
from synapse_houdini.tools.scene_info import scene_info


def run(main_loop, tool_input):
    return main_loop.run_sync(lambda: inspect_stage(tool_input))


def test_output_shape_and_exact_keys(scene, main_loop):
    out = run(main_loop, {})
    assert set(out) == {"schema_version", "target_path", "nodes"}
    assert out["schema_version"] == "1.0.0"
    assert out["target_path"] == "/stage"
    assert len(out["nodes"]) == 6
    for node in out["nodes"]:
        assert tuple(node) == NODE_KEYS
        assert node["children"] == [] and node["key_parms"] == {} and node["provenance"] is None
    json.dumps(out)  # JSON-serialisable


def test_sorted_by_path(scene, main_loop):
    paths = [n["hou_path"] for n in run(main_loop, {"target_path": "/stage"})["nodes"]]
    assert paths == sorted(paths)


def test_prim_paths_come_from_the_usd_stage(scene, main_loop):
    nodes = {n["node_name"]: n for n in run(main_loop, {})["nodes"]}
    assert nodes["sphere1"]["usd_prim_paths"] == ["/geo", "/geo/sphere1"]
    assert nodes["materiallibrary1"]["usd_prim_paths"] == ["/materials", "/materials/chrome"]
    on_stage = set(scene.prim_paths_on_stage())
    for node in nodes.values():
        assert set(node["usd_prim_paths"]) <= on_stage
    if fake_scene.HAVE_USD:
        assert scene.stage.GetPrimAtPath("/geo/sphere1").GetTypeName() == "Sphere"


def test_error_and_bypassed_nodes_have_no_prims(scene, main_loop):
    nodes = {n["node_name"]: n for n in run(main_loop, {})["nodes"]}
    broken = nodes["assign_broken"]
    assert broken["error_state"] == "error"
    assert "gold_MISSING" in broken["error_message"]
    assert broken["usd_prim_paths"] == []
    bypassed = nodes["transform_bypassed"]
    assert bypassed["bypass_flag"] is True and bypassed["usd_prim_paths"] == []
    merge = nodes["merge1"]
    assert merge["error_state"] == "warning" and merge["display_flag"] is True
    assert merge["inputs"] == [{"index": 0, "path": "/stage/domelight1"}, {"index": 1, "path": "/stage/transform_bypassed"}]
    assert nodes["sphere1"]["error_state"] == "clean" and nodes["sphere1"]["error_message"] is None


def test_error_message_is_capped(scene, main_loop):
    scene.nodes["assign_broken"]._errors = ["x" * 2000]
    nodes = {n["node_name"]: n for n in run(main_loop, {})["nodes"]}
    assert len(nodes["assign_broken"]["error_message"]) <= 500


def test_one_bad_node_does_not_abort_the_walk(scene, main_loop):
    scene.nodes["domelight1"]._fail_on = "errors"
    scene.nodes["sphere1"]._fail_on = "lastModifiedPrims"
    out = run(main_loop, {})
    assert len(out["nodes"]) == 6
    nodes = {n["hou_path"]: n for n in out["nodes"]}
    for path in ("/stage/domelight1", "/stage/sphere1"):
        assert nodes[path]["error_state"] == "error"
        assert "simulated failure" in nodes[path]["error_message"]
        assert tuple(nodes[path]) == NODE_KEYS
    assert nodes["/stage/materiallibrary1"]["error_state"] == "clean"


def test_child_deleted_mid_walk_is_reported_not_fatal(scene, main_loop):
    scene.nodes["sphere1"]._deleted = True  # children() listed it, then it vanished
    scene.network._children  # still listed internally
    original_children = scene.network.children

    def stale_children():
        return tuple(scene.network._children)  # includes the deleted node

    scene.network.children = stale_children
    try:
        out = run(main_loop, {})
    finally:
        scene.network.children = original_children
    bad = [n for n in out["nodes"] if "ObjectWasDeleted" in (n["error_message"] or "")]
    assert len(bad) == 1 and len(out["nodes"]) == 6


def test_target_deleted_mid_call_raises_object_was_deleted(scene, main_loop):
    scene.network._deleted = True
    hou._nodes["/stage"] = scene.network  # hou.node() handed out a stale handle
    scene.network._deleted = True
    found = {}

    def body():
        node = scene.network
        found["node"] = node
        return inspect_stage({"target_path": "/stage"})

    # hou.node() returns None for deleted nodes; simulate the race via a direct handle.
    original = hou.node
    hou.node = lambda path: scene.network  # the lookup succeeded just before deletion
    try:
        with pytest.raises(hou.ObjectWasDeleted) as info:
            main_loop.run_sync(body)
    finally:
        hou.node = original
    env = tool_error_envelope("synapse_inspect_stage", info.value)
    assert env["error_type"] == "ObjectWasDeleted"
    assert "Re-inspect" in env["error_message"]


@pytest.mark.parametrize("bad", ["stage", "/", "/stage/../obj", "/stage;rm", "//stage", "/st age", 7, None, "/stage/$HIP"])
def test_invalid_target_path(scene, main_loop, bad):
    with pytest.raises(InvalidTargetPathError) as info:
        run(main_loop, {"target_path": bad})
    assert tool_error_envelope("synapse_inspect_stage", info.value)["error_type"] == "InvalidTargetPathError"


def test_missing_node(scene, main_loop):
    with pytest.raises(StageNotFoundError) as info:
        run(main_loop, {"target_path": "/stage/nope"})
    assert tool_error_envelope("synapse_inspect_stage", info.value)["error_type"] == "StageNotFoundError"


def test_leaf_target_reports_itself(scene, main_loop):
    out = run(main_loop, {"target_path": "/stage/sphere1"})
    assert [n["hou_path"] for n in out["nodes"]] == ["/stage/sphere1"]


def test_scene_info(scene, main_loop):
    info = main_loop.run_sync(lambda: scene_info({}))
    assert info == {"hip": hou.hipFile.path(), "frame": 1001.0, "fps": 24.0, "frame_range": [1001.0, 1100.0],
                    "houdini_version": "20.5.410"}


def test_builtin_specs_are_stable_and_the_seed_tools_read_only():
    specs = [t.spec() for t in builtin_tools()]
    assert [s["name"] for s in specs][:2] == ["synapse_inspect_stage", "houdini_scene_info"]
    for spec in specs[:2]:
        assert set(spec) == {"name", "description", "input_schema", "read_only"}
        assert spec["read_only"] is True
    assert json.dumps(specs) == json.dumps([t.spec() for t in builtin_tools()])
