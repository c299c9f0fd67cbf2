"""Read-only catalogue tools on the fake scene: shapes, bounds and real geometry values."""

from __future__ import annotations

import pytest

import fake_scene
import hou
from tools_helpers import TOOLS, fails, run, snapshot


@pytest.fixture
def sops(scene):
    return fake_scene.add_sop_network(scene)


def test_catalogue_names_flags_and_schemas():
    expected_read_only = {"synapse_inspect_stage", "houdini_scene_info", "houdini_list_nodes", "houdini_node_info",
                          "houdini_get_selection", "houdini_find_errors", "houdini_geometry_summary",
                          "houdini_usd_prims", "houdini_usd_prim_info", "houdini_node_type_help",
                          "houdini_capture_viewport"}
    mutating = {"houdini_create_node", "houdini_set_parms", "houdini_connect", "houdini_disconnect",
                "houdini_set_flags", "houdini_rename_node", "houdini_layout", "houdini_create_wrangle",
                "houdini_cook", "houdini_set_frame"}
    destructive = {"houdini_delete_nodes", "houdini_save_hip", "houdini_execute_python"}
    assert set(TOOLS) == expected_read_only | mutating | destructive
    for name, tool in TOOLS.items():
        spec = tool.spec()
        assert spec["read_only"] is (name in expected_read_only)
        assert spec.get("destructive", False) is (name in destructive)
        assert ("destructive" in spec) is (name in destructive)  # sent only when true
        schema = spec["input_schema"]
        assert schema["type"] == "object" and schema["additionalProperties"] is False
        assert len(spec["description"]) >= 60
        for field in schema.get("required", []):
            assert field in schema["properties"]


def test_contract_defaults():
    props = {name: tool.input_schema["properties"] for name, tool in TOOLS.items()}
    assert props["houdini_list_nodes"]["root"]["default"] == "/"
    assert props["houdini_list_nodes"]["max_depth"]["default"] == 2
    assert props["houdini_list_nodes"]["limit"]["default"] == 500
    assert props["houdini_node_info"]["include_parms"]["default"] is True
    assert props["houdini_node_info"]["include_code"]["default"] is False
    assert props["houdini_find_errors"]["root"]["default"] == "/"
    assert props["houdini_find_errors"]["limit"]["default"] == 200
    assert props["houdini_geometry_summary"]["limit"]["default"] == 50
    assert props["houdini_usd_prims"]["prim_path"]["default"] == "/"
    assert props["houdini_usd_prims"]["depth"]["default"] == 2
    assert props["houdini_usd_prims"]["limit"]["default"] == 500
    assert props["houdini_capture_viewport"]["width"]["default"] == 768
    assert props["houdini_capture_viewport"]["height"]["default"] == 432
    assert props["houdini_connect"]["input_index"]["default"] == 0
    assert props["houdini_connect"]["output_index"]["default"] == 0
    assert props["houdini_create_wrangle"]["run_over"]["default"] == "Points"
    assert props["houdini_cook"]["force"]["default"] is False
    assert TOOLS["houdini_get_selection"].input_schema["properties"] == {}


def test_list_nodes_depth_filter_and_limit(sops):
    out = run("houdini_list_nodes", {})
    paths = [n["path"] for n in out["nodes"]]
    assert out["root"] == "/" and out["truncated"] is False
    assert "/obj" in paths and "/stage/sphere1" in paths and "/obj/geo1" in paths
    assert "/obj/geo1/grid1" not in paths  # depth 3
    assert all(n["depth"] <= 2 and n["path"].startswith("/") for n in out["nodes"])
    deep = run("houdini_list_nodes", {"root": "/obj", "max_depth": 5, "type_filter": "attrib*"})
    assert deep["nodes"] == [{"path": "/obj/geo1/broken_wrangle", "type": "attribwrangle", "depth": 2}]
    cut = run("houdini_list_nodes", {"root": "/stage", "limit": 2})
    assert len(cut["nodes"]) == 2 and cut["truncated"] is True


def test_node_info_shape_parms_and_code(sops):
    info = run("houdini_node_info", {"path": "/obj/geo1/broken_wrangle"})
    assert info["path"] == "/obj/geo1/broken_wrangle" and info["type"] == "attribwrangle"
    assert info["category"] == "Sop" and info["parent"] == "/obj/geo1"
    assert info["inputs"] == [{"index": 0, "path": "/obj/geo1/color1"}]
    assert info["flags"] == {"display": False, "render": False, "bypass": False, "template": False}
    assert info["errors"] and "Syntax error" in info["errors"][0]
    assert {"name": "snippet", "value": "@P.y += 1"} in info["parms"]
    hou.main.run_sync(lambda: sops["wrangle"].parm("snippet").set("// long\n" + "x" * 1000 + ";"))
    short = run("houdini_node_info", {"path": "/obj/geo1/broken_wrangle"})
    snippet = next(p for p in short["parms"] if p["name"] == "snippet")
    assert len(snippet["value"]) < 300 and "include_code" in snippet["value"]
    full = run("houdini_node_info", {"path": "/obj/geo1/broken_wrangle", "include_code": True})
    assert next(p for p in full["parms"] if p["name"] == "snippet")["value"].endswith("x;")
    bare = run("houdini_node_info", {"path": "/obj/geo1/OUT", "include_parms": False})
    assert "parms" not in bare and bare["flags"]["display"] is True
    hou.main.run_sync(lambda: sops["grid"].parm("rows").setExpression("$F"))
    grid = run("houdini_node_info", {"path": "/obj/geo1/grid1"})
    assert {"name": "rows", "value": 1001, "expression": "$F"} in grid["parms"]


def test_get_selection(sops):
    assert run("houdini_get_selection", {}) == {"nodes": [], "truncated": False}
    hou.main.run_sync(lambda: (sops["grid"].setSelected(True), sops["out"].setSelected(True)))
    assert run("houdini_get_selection", None)["nodes"] == [
        {"path": "/obj/geo1/grid1", "type": "grid"}, {"path": "/obj/geo1/OUT", "type": "null"}]


def test_find_errors_reports_errors_first_and_bounds(sops):
    out = run("houdini_find_errors", {})
    by_path = {n["path"]: n for n in out["nodes"]}
    assert by_path["/obj/geo1/broken_wrangle"]["severity"] == "error"
    assert by_path["/stage/assign_broken"]["errors"] == ["Unable to find material /materials/gold_MISSING"]
    assert by_path["/stage/merge1"]["severity"] == "warning"
    severities = [n["severity"] for n in out["nodes"]]
    assert severities == sorted(severities, key=lambda s: s != "error")
    assert out["nodes_with_errors"] == 2 and out["nodes_with_warnings_only"] == 1 and out["truncated"] is False
    assert out["nodes_checked"] == len([n for n in hou._nodes.values() if not n._deleted])
    one = run("houdini_find_errors", {"root": "/obj", "limit": 1})
    assert len(one["nodes"]) == 1 and one["truncated"] is False  # only one problem under /obj
    cut = run("houdini_find_errors", {"limit": 1})
    assert len(cut["nodes"]) == 1 and cut["truncated"] is True


def test_geometry_summary_reads_real_attribute_values(sops):
    out = run("houdini_geometry_summary", {"path": "/obj/geo1/OUT"})
    assert (out["points"], out["prims"], out["vertices"]) == (20, 12, 48)  # the 4x5 grid
    assert out["bbox"] == {"min": [-1.0, 0.0, -1.0], "max": [1.0, 0.0, 1.0]}
    attrs = {(a["class"], a["name"]): a for a in out["attributes"]}
    assert attrs[("point", "P")]["sample"] == [[-1.0, 0.0, -1.0], [-0.5, 0.0, -1.0], [0.0, 0.0, -1.0]]
    assert attrs[("point", "id")] == {"name": "id", "class": "point", "type": "int", "size": 1, "sample": [0, 1, 2]}
    assert attrs[("prim", "name")]["sample"] == ["piece0", "piece1", "piece0"]
    assert attrs[("detail", "scale")]["value"] == 1.5
    assert ("vertex", "uv") in attrs and out["truncated"] is False
    via_object = run("houdini_geometry_summary", {"path": "/obj/geo1", "limit": 2})
    assert via_object["path"] == "/obj/geo1/OUT" and len(via_object["attributes"]) == 2 and via_object["truncated"]


def test_geometry_summary_errors(sops):
    fails("houdini_geometry_summary", {"path": "/obj/geo1/broken_wrangle"}, "CookError", "Syntax error")
    fails("houdini_geometry_summary", {"path": "/stage/sphere1"}, "NotSupported", "houdini_usd_prims")
    fails("houdini_geometry_summary", {"path": "/obj/nope"}, "NodeNotFound", "/obj/nope")


def test_node_type_help(sops):
    out = run("houdini_node_type_help", {"type_name": "attribwrangle", "category": "Sop"})
    assert out["description"] == "Attribute Wrangle" and out["inputs"] == {"min": 1, "max": 4}
    run_over = next(p for p in out["parms"] if p["name"] == "class")
    assert run_over["type"] == "Menu" and run_over["menu_items"] == ["detail", "primitive", "point", "vertex", "number"]
    assert "VEX" in out["help"] and out["help_url"]
    assert [p["name"] for p in out["parms"]] == ["class", "snippet"]  # inside the "Code" folder
    xform = run("houdini_node_type_help", {"type_name": "xform", "category": "Sop"})
    assert [(p["name"], p["components"]) for p in xform["parms"]] == [("t", 3), ("r", 3), ("s", 3), ("scale", 1)]
    fails("houdini_node_type_help", {"type_name": "attribwrangle", "category": "Sops"}, "InvalidInput", "input.category")
    fails("houdini_node_type_help", {"type_name": "Attribute Wrangle", "category": "Sop"}, "InvalidInput", "input.type_name")


def test_read_only_tools_change_nothing(sops):
    before = snapshot()
    for name, tool_input in [("houdini_list_nodes", {"max_depth": 9}), ("houdini_find_errors", {}),
                             ("houdini_node_info", {"path": "/obj/geo1/OUT"}), ("houdini_get_selection", {}),
                             ("houdini_geometry_summary", {"path": "/obj/geo1/OUT"}),
                             ("houdini_node_type_help", {"type_name": "box", "category": "Sop"}),
                             ("houdini_scene_info", {})]:
        run(name, tool_input)
    assert snapshot() == before


def test_results_stay_under_the_daemons_model_limit_on_a_big_scene(main_loop):
    """Even at the largest limits, a result stays well under the daemon's 256 KiB tool-result limit."""
    import json

    scene = fake_scene.build_big_scene(3000, broken_every=1)
    with fake_scene.building():
        for node in hou._nodes.values():
            if node._errors:
                node._errors = [f"error {i}: " + "x" * 3000 for i in range(6)]
    for name, tool_input in [("houdini_list_nodes", {"max_depth": 20, "limit": 5000}),
                             ("houdini_find_errors", {"limit": 2000})]:
        out = run(name, tool_input)
        size = len(json.dumps(out))
        assert size < 200_000 and out["truncated"] is True, (name, size)
    errors = run("houdini_find_errors", {"limit": 2000})
    assert all(len(m) < 600 for n in errors["nodes"] for m in n["errors"]) and len(errors["nodes"][0]["errors"]) == 5
    assert errors["nodes_with_errors"] > len(errors["nodes"])  # the counts cover every node checked
    del scene
