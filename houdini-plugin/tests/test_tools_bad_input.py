"""Bad input for every catalogue tool: missing, extra and wrong-typed fields, huge limits, non-objects.

Each case gets an ``InvalidInput`` envelope naming the field, and the scene is
unchanged (nodes, wiring, flags, parms, frame, hip path, undo stack).
"""

from __future__ import annotations

import pytest

import fake_scene
from tools_helpers import TOOLS, fails, snapshot

#: A valid input per tool (the base every bad case is derived from).
VALID = {
    "synapse_inspect_stage": {},
    "houdini_scene_info": {},
    "houdini_list_nodes": {"root": "/obj"},
    "houdini_node_info": {"path": "/obj/geo1/grid1"},
    "houdini_get_selection": {},
    "houdini_find_errors": {"root": "/obj"},
    "houdini_geometry_summary": {"path": "/obj/geo1/OUT"},
    "houdini_usd_prims": {"lop_path": "/stage/merge1"},
    "houdini_usd_prim_info": {"lop_path": "/stage/merge1", "prim_path": "/geo"},
    "houdini_node_type_help": {"type_name": "box", "category": "Sop"},
    "houdini_capture_viewport": {},
    "houdini_create_node": {"parent": "/obj/geo1", "type": "box"},
    "houdini_set_parms": {"path": "/obj/geo1/grid1", "parms": {"rows": 3}},
    "houdini_connect": {"from_path": "/obj/geo1/grid1", "to_path": "/obj/geo1/OUT"},
    "houdini_disconnect": {"path": "/obj/geo1/OUT", "input_index": 0},
    "houdini_set_flags": {"path": "/obj/geo1/grid1", "display": True},
    "houdini_rename_node": {"path": "/obj/geo1/grid1", "new_name": "g"},
    "houdini_layout": {"parent": "/obj/geo1"},
    "houdini_create_wrangle": {"parent": "/obj/geo1", "code": "@P.y += 1;"},
    "houdini_cook": {"path": "/obj/geo1/OUT"},
    "houdini_set_frame": {"frame": 1010},
    "houdini_delete_nodes": {"paths": ["/obj/geo1/grid1"]},
    "houdini_save_hip": {},
    "houdini_execute_python": {"code": "1"},
}

WRONG = {"string": 12345, "integer": "12", "number": "1.5", "boolean": "yes", "object": ["a"], "array": "a"}


def _cases():
    for name, tool in sorted(TOOLS.items()):
        schema = tool.input_schema
        props = schema["properties"]
        valid = VALID[name]
        yield name, {**valid, "bogus_field": 1}, "InvalidInput", "input.bogus_field"
        yield name, [valid], "InvalidInput", "input: expected object"
        for field in schema.get("required", []):
            yield name, {k: v for k, v in valid.items() if k != field}, "InvalidInput", f"input.{field}: is required"
        for field, prop in props.items():
            if name == "synapse_inspect_stage":  # the seed's contract: any bad target_path is this error
                yield name, {field: WRONG[prop["type"]]}, "InvalidTargetPathError", "target_path 12345"
                continue
            yield name, {**valid, field: WRONG[prop["type"]]}, "InvalidInput", f"input.{field}: expected {prop['type']}"
            if "maximum" in prop:
                yield name, {**valid, field: prop["maximum"] * 1000 + 1}, "InvalidInput", f"input.{field}"
            if "minimum" in prop:
                yield name, {**valid, field: prop["minimum"] - 1}, "InvalidInput", f"input.{field}"


CASES = list(_cases())


def test_every_tool_has_a_valid_base_input():
    assert set(VALID) == set(TOOLS)


@pytest.mark.parametrize("name, bad, error_type, needle", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_bad_input_is_a_clear_envelope_and_changes_nothing(scene, name, bad, error_type, needle):
    fake_scene.add_sop_network(scene)
    before = snapshot()
    fails(name, bad, error_type, needle)
    assert snapshot() == before


@pytest.mark.parametrize("name", ["houdini_list_nodes", "houdini_find_errors", "houdini_usd_prims",
                                  "houdini_geometry_summary"])
def test_huge_limit_is_refused_with_the_maximum(scene, name):
    fake_scene.add_sop_network(scene)
    env = fails(name, {**VALID[name], "limit": 10**9}, "InvalidInput", "input.limit", "maximum")
    assert "1000000000" in env["error_message"]


@pytest.mark.parametrize("name, field", [
    ("houdini_node_info", "path"), ("houdini_geometry_summary", "path"), ("houdini_set_parms", "path"),
    ("houdini_cook", "path"), ("houdini_layout", "parent"), ("houdini_usd_prims", "lop_path"),
    ("houdini_list_nodes", "root"), ("houdini_find_errors", "root"), ("houdini_rename_node", "path"),
    ("houdini_set_flags", "path"), ("houdini_disconnect", "path"), ("houdini_create_node", "parent"),
    ("houdini_create_wrangle", "parent"), ("houdini_connect", "to_path"), ("houdini_usd_prim_info", "lop_path"),
])
def test_missing_and_relative_paths(scene, name, field):
    fake_scene.add_sop_network(scene)
    before = snapshot()
    fails(name, {**VALID[name], field: "/obj/does_not_exist"}, "NodeNotFound", f"input.{field}", "/obj/does_not_exist")
    fails(name, {**VALID[name], field: "geo1"}, "InvalidInput", f"input.{field}", "absolute")
    assert snapshot() == before


def test_inspect_stage_refuses_a_trailing_newline_and_extra_fields(scene):
    fails("synapse_inspect_stage", {"target_path": "/stage\n"}, "InvalidTargetPathError")
    fails("synapse_inspect_stage", {"target_path": "/stage", "depth": 3}, "InvalidInput", "input.depth")
