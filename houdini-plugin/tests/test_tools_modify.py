"""Mutating catalogue tools on the fake scene: results, real changes, refusals that change nothing."""

from __future__ import annotations

import os

import pytest

import fake_scene
import hou
from tools_helpers import fails, run, snapshot


@pytest.fixture
def sops(scene):
    return fake_scene.add_sop_network(scene)


def node(path):
    return hou.main.run_sync(lambda: hou.node(path))


def test_create_node_with_inputs_and_parms(sops):
    out = run("houdini_create_node", {"parent": "/obj/geo1", "type": "xform", "name": "lift",
                                      "input_paths": ["/obj/geo1/color1"], "parms": {"t": [0, 2, 0], "scale": 3}})
    assert out == {"path": "/obj/geo1/lift", "type": "xform", "errors": [], "warnings": []}
    created = node("/obj/geo1/lift")
    assert hou.main.run_sync(lambda: (created.parmTuple("t").eval(), created.parm("scale").eval(),
                                      created.inputs()[0].path())) == ((0.0, 2.0, 0.0), 3.0, "/obj/geo1/color1")
    parts = run("houdini_create_node", {"parent": "/obj/geo1", "type": "xform", "parms": {"ty": 5, "r": [0, 45, 0]}})
    moved = node(parts["path"])
    assert hou.main.run_sync(lambda: (moved.parm("ty").eval(), moved.parmTuple("r").eval())) == (5.0, (0.0, 45.0, 0.0))
    auto = run("houdini_create_node", {"parent": "/obj/geo1", "type": "box"})
    assert auto["path"] == "/obj/geo1/box1"
    lonely = run("houdini_create_node", {"parent": "/obj/geo1", "type": "xform"})
    assert lonely["errors"] == ["Not enough sources specified."]  # reported, the node is kept


@pytest.mark.parametrize("bad, error_type, needle", [
    ({"parent": "/obj/geo1", "type": "nosuchsop"}, "InvalidInput", "input.type"),
    ({"parent": "/obj/ghost", "type": "box"}, "NodeNotFound", "input.parent"),
    ({"parent": "/obj/geo1/grid1", "type": "box"}, "InvalidInput", "not a network"),
    ({"parent": "/obj/geo1", "type": "box", "name": "grid1"}, "InvalidInput", "already has a node"),
    ({"parent": "/obj/geo1", "type": "box", "name": "bad name!"}, "InvalidInput", "input.name"),
    ({"parent": "/obj/geo1", "type": "box", "parms": {"nosuchparm": 1}}, "InvalidParm", "nosuchparm"),
    ({"parent": "/obj/geo1", "type": "box", "parms": {"size": "big"}}, "InvalidParm", "size"),
    ({"parent": "/obj/geo1", "type": "box", "parms": {"sizex": [1, 2]}}, "InvalidParm", "one value"),
    ({"parent": "/obj/geo1", "type": "xform", "parms": {"t": [1, 2]}}, "InvalidParm", "3 components"),
    ({"parent": "/obj/geo1", "type": "xform", "parms": {"tq": 1}}, "InvalidParm", "did you mean"),
    ({"parent": "/obj/geo1", "type": "xform", "input_paths": ["/obj/geo1/ghost"]}, "NodeNotFound", "input_paths[0]"),
    ({"parent": "/obj/geo1", "type": "xform", "input_paths": ["/stage/sphere1"]}, "InvalidInput", "not inside"),
    ({"parent": "/obj/geo1", "type": "xform", "input_paths": ["/obj/geo1/grid1", "/obj/geo1/color1"]},
     "InvalidInput", "at most 1"),
])
def test_create_node_refusals_leave_the_scene_unchanged(sops, bad, error_type, needle):
    before = snapshot()
    fails("houdini_create_node", bad, error_type, needle)
    assert snapshot() == before  # nothing was created, not even for a moment (the undo stack is untouched)


def test_set_parms_values_tuples_menus_expressions(sops):
    out = run("houdini_set_parms", {"path": "/obj/geo1/grid1", "parms": {"rows": 8, "sizex": 4.5},
                                    "expressions": {"cols": "$F / 100"}})
    assert out["path"] == "/obj/geo1/grid1"
    assert out["changed"] == [{"parm": "rows", "old": 4, "new": 8}, {"parm": "sizex", "old": 2.0, "new": 4.5},
                              {"parm": "cols", "old": 5, "new": 10, "expression": "$F / 100"}]
    again = run("houdini_set_parms", {"path": "/obj/geo1/grid1", "parms": {"cols": 6}})  # a value replaces the expression
    assert again["changed"] == [{"parm": "cols", "old": 10, "new": 6}]
    menu = run("houdini_set_parms", {"path": "/obj/geo1/broken_wrangle", "parms": {"class": "primitive"}})
    assert menu["changed"] == [{"parm": "class", "old": 2, "new": 1}]
    tup = run("houdini_set_parms", {"path": "/obj/geo1/color1", "parms": {"color": [1, 0, 0]}})
    assert tup["changed"] == [{"parm": "color", "old": [1.0, 1.0, 1.0], "new": [1.0, 0.0, 0.0]}]


@pytest.mark.parametrize("bad, error_type, needle", [
    ({"path": "/obj/geo1/grid1", "parms": {"rows": 8, "rowz": 3}}, "InvalidParm", "did you mean ['rows']"),
    ({"path": "/obj/geo1/grid1", "parms": {"rows": 8, "sizex": "wide"}}, "InvalidParm", "sizex"),
    ({"path": "/obj/geo1/grid1", "parms": {"rows": 2.5}}, "InvalidParm", "integer"),
    ({"path": "/obj/geo1/color1", "parms": {"color": [1, 0]}}, "InvalidParm", "3 components"),
    ({"path": "/obj/geo1/color1", "parms": {"color": 1}}, "InvalidParm", "list of 3"),
    ({"path": "/obj/geo1/broken_wrangle", "parms": {"class": "everything"}}, "InvalidParm", "menu"),
    ({"path": "/obj/geo1/grid1", "parms": {"rows": 3}, "expressions": {"rows": "$F"}}, "InvalidInput", "also in parms"),
    ({"path": "/obj/geo1/grid1", "expressions": {"nope": "$F"}}, "InvalidParm", "nope"),
    ({"path": "/obj/geo1/grid1"}, "InvalidInput", "at least one"),
    ({"path": "/obj/geo1/ghost", "parms": {"rows": 3}}, "NodeNotFound", "/obj/geo1/ghost"),
])
def test_set_parms_refusals_change_nothing(sops, bad, error_type, needle):
    before = snapshot()
    fails("houdini_set_parms", bad, error_type, needle)
    assert snapshot() == before


def test_connect_disconnect(sops):
    out = run("houdini_connect", {"from_path": "/obj/geo1/grid1", "to_path": "/obj/geo1/OUT"})
    assert out == {"to_path": "/obj/geo1/OUT", "inputs": [{"index": 0, "path": "/obj/geo1/grid1"}]}
    gone = run("houdini_disconnect", {"path": "/obj/geo1/OUT", "input_index": 0})
    assert gone == {"path": "/obj/geo1/OUT", "input_index": 0, "disconnected": "/obj/geo1/grid1"}
    before = snapshot()
    fails("houdini_disconnect", {"path": "/obj/geo1/OUT", "input_index": 0}, "InvalidInput", "not connected")
    fails("houdini_connect", {"from_path": "/obj/geo1/grid1", "to_path": "/obj/geo1/OUT", "input_index": 3},
          "InvalidInput", "input_index")
    fails("houdini_connect", {"from_path": "/stage/sphere1", "to_path": "/obj/geo1/OUT"}, "InvalidInput", "same network")
    fails("houdini_connect", {"from_path": "/obj/geo1/OUT", "to_path": "/obj/geo1/OUT"}, "InvalidInput", "own input")
    fails("houdini_connect", {"from_path": "/obj/geo1/nope", "to_path": "/obj/geo1/OUT"}, "NodeNotFound", "from_path")
    assert snapshot() == before


def test_set_flags(sops):
    out = run("houdini_set_flags", {"path": "/obj/geo1/grid1", "display": True, "template": True})
    assert out == {"path": "/obj/geo1/grid1", "flags": {"display": True, "template": True}}
    lop = run("houdini_set_flags", {"path": "/stage/sphere1", "bypass": True})
    assert lop["flags"] == {"bypass": True}
    before = snapshot()
    fails("houdini_set_flags", {"path": "/stage/sphere1", "bypass": False, "render": True}, "NotSupported", "render")
    fails("houdini_set_flags", {"path": "/stage/sphere1"}, "InvalidInput", "at least one")
    assert snapshot() == before  # the bypass in the refused call was not applied either


def test_rename_updates_paths(sops):
    out = run("houdini_rename_node", {"path": "/obj/geo1", "new_name": "hero"})
    assert out == {"path": "/obj/hero", "old_path": "/obj/geo1"}
    assert node("/obj/hero/grid1") is sops["grid"] and node("/obj/geo1/grid1") is None
    before = snapshot()
    fails("houdini_rename_node", {"path": "/obj/hero/grid1", "new_name": "color1"}, "InvalidInput", "already has")
    fails("houdini_rename_node", {"path": "/obj/hero/grid1", "new_name": "9lives"}, "InvalidInput", "new_name")
    fails("houdini_rename_node", {"path": "/obj", "new_name": "objects"}, "InvalidInput", "top-level")
    assert snapshot() == before


def test_layout(sops):
    out = run("houdini_layout", {"parent": "/obj/geo1"})
    assert out == {"parent": "/obj/geo1", "nodes": 4}
    fails("houdini_layout", {"parent": "/obj/geo1/grid1"}, "InvalidInput", "not a network")


def test_create_wrangle_reports_vex_errors(sops):
    good = run("houdini_create_wrangle", {"parent": "/obj/geo1", "code": "@P.y += 1;", "input_path": "/obj/geo1/color1"})
    assert good == {"path": "/obj/geo1/attribwrangle1", "type": "attribwrangle", "errors": [], "warnings": []}
    wrangle = node("/obj/geo1/attribwrangle1")
    assert hou.main.run_sync(lambda: (wrangle.parm("class").evalAsString(), wrangle.cookCount())) == ("point", 1)
    bad = run("houdini_create_wrangle", {"parent": "/obj/geo1", "code": "if (@P.y > 0 { @P.y = 0; }",
                                         "input_path": "/obj/geo1/color1", "run_over": "Primitives", "name": "clamp"})
    assert bad["path"] == "/obj/geo1/clamp" and bad["errors"] and "Syntax error" in bad["errors"][0]
    before = snapshot()
    fails("houdini_create_wrangle", {"parent": "/stage", "code": "x;"}, "NotSupported", "SOP")
    fails("houdini_create_wrangle", {"parent": "/obj/geo1", "code": "x;", "run_over": "Everything"}, "InvalidInput", "run_over")
    fails("houdini_create_wrangle", {"parent": "/obj/geo1", "code": "x;", "input_path": "/stage/sphere1"},
          "InvalidInput", "not inside")
    assert snapshot() == before


def test_cook(sops):
    out = run("houdini_cook", {"path": "/obj/geo1/OUT", "force": True})
    assert out["path"] == "/obj/geo1/OUT" and out["errors"] == [] and out["cook_ms"] >= 0
    fails("houdini_cook", {"path": "/obj/geo1/broken_wrangle"}, "CookError", "Syntax error")
    run("houdini_set_parms", {"path": "/obj/geo1/broken_wrangle", "parms": {"snippet": "@P.y += 1;"}})
    assert run("houdini_cook", {"path": "/obj/geo1/broken_wrangle"})["errors"] == []


def test_set_frame(sops):
    assert run("houdini_set_frame", {"frame": 1050}) == {"frame": 1050.0}
    fails("houdini_set_frame", {"frame": "1050"}, "InvalidInput", "input.frame")
    fails("houdini_set_frame", {"frame": 1e12}, "InvalidInput", "maximum")


def test_delete_nodes_all_or_nothing(sops):
    before = snapshot()
    fails("houdini_delete_nodes", {"paths": ["/obj/geo1/grid1", "/obj/geo1/ghost"]}, "NodeNotFound", "paths[1]")
    fails("houdini_delete_nodes", {"paths": ["/obj"]}, "InvalidInput", "top-level")
    fails("houdini_delete_nodes", {"paths": []}, "InvalidInput", "at least 1")
    assert snapshot() == before
    out = run("houdini_delete_nodes", {"paths": ["/obj/geo1/grid1", "/obj/geo1", "/stage/merge1"]})
    assert out == {"deleted": ["/obj/geo1", "/stage/merge1"]}
    assert node("/obj/geo1/grid1") is None and node("/stage/merge1") is None


def test_save_hip(sops, tmp_path):
    hou.hipFile._path = str(tmp_path / "shot.hip")
    assert run("houdini_save_hip", {}) == {"path": str(tmp_path / "shot.hip")}
    assert (tmp_path / "shot.hip").read_text() == "fake hip file\n"
    new = str(tmp_path / "shot_v002.hipnc")
    assert run("houdini_save_hip", {"path": new}) == {"path": new}
    (tmp_path / "other.hip").write_text("someone else's")
    fails("houdini_save_hip", {"path": str(tmp_path / "other.hip")}, "InvalidInput", "already exists")
    assert (tmp_path / "other.hip").read_text() == "someone else's"
    fails("houdini_save_hip", {"path": "relative.hip"}, "InvalidInput", "absolute")
    fails("houdini_save_hip", {"path": str(tmp_path / "x.txt")}, "InvalidInput", ".hip")
    fails("houdini_save_hip", {"path": str(tmp_path / "nodir" / "x.hip")}, "InvalidInput", "does not exist")
    assert hou.hipFile.path() == new and not os.path.exists(tmp_path / "x.txt")
