"""Undo groups per mutating call and ``synapse_houdini.undo_turn`` (design §13), through the host."""

from __future__ import annotations

import pytest

import fake_scene
import hou
import synapse_houdini
from synapse_houdini import UndoRefused
from tools_helpers import snapshot


@pytest.fixture
def host(daemon, scene, main_loop):
    fake_scene.add_sop_network(scene)
    h = synapse_houdini.start(socket_path=daemon.path, is_main_thread=main_loop.is_main_thread)
    assert h.wait_registered(5)
    return h


def ok(daemon, name, tool_input, turn_id):
    reply = daemon.invoke(name, tool_input, turn_id=turn_id)["result"]
    assert reply["is_error"] is False, reply
    return reply["content"]


def labels():
    return hou.main.run_sync(hou.undos.undoLabels)


def test_each_mutating_call_is_one_group_and_undo_turn_reverts_the_turn(host, daemon):
    before = snapshot()
    ok(daemon, "houdini_create_node", {"parent": "/obj/geo1", "type": "box", "parms": {"size": [2, 2, 2]}}, "turn_a")
    ok(daemon, "houdini_set_parms", {"path": "/obj/geo1/grid1", "parms": {"rows": 9}}, "turn_a")
    ok(daemon, "houdini_list_nodes", {}, "turn_a")  # read-only: no group
    assert labels()[:2] == ("Synapse: houdini_set_parms", "Synapse: houdini_create_node")
    assert len(labels()) == 2  # one entry per call, whatever the call changed inside
    assert [r.label for r in host.undo_journal.groups("turn_a")] == ["Synapse: houdini_create_node",
                                                                    "Synapse: houdini_set_parms"]
    assert synapse_houdini.undo_turn("turn_a") == {
        "turn_id": "turn_a", "undone": ["Synapse: houdini_set_parms", "Synapse: houdini_create_node"]}
    assert snapshot()[0] == before[0] and labels() == ()
    with pytest.raises(UndoRefused, match="no undoable change"):
        synapse_houdini.undo_turn("turn_a")  # already undone


def test_a_refused_call_leaves_no_group(host, daemon):
    reply = daemon.invoke("houdini_set_parms", {"path": "/obj/geo1/grid1", "parms": {"nope": 1}}, turn_id="t")["result"]
    assert reply["is_error"] and reply["content"]["error_type"] == "InvalidParm"
    assert labels() == () and host.undo_journal.groups("t") == []
    with pytest.raises(UndoRefused, match="no undoable change"):
        synapse_houdini.undo_turn("t")


def test_refuses_when_a_later_turn_changed_things(host, daemon):
    ok(daemon, "houdini_set_parms", {"path": "/obj/geo1/grid1", "parms": {"rows": 9}}, "turn_a")
    ok(daemon, "houdini_set_flags", {"path": "/obj/geo1/grid1", "bypass": True}, "turn_b")
    with pytest.raises(UndoRefused, match="not the last change Synapse made.*turn_b"):
        synapse_houdini.undo_turn("turn_a")
    assert hou.main.run_sync(lambda: (hou.node("/obj/geo1/grid1").parm("rows").eval(),
                                      hou.node("/obj/geo1/grid1").isBypassed())) == (9, True)
    synapse_houdini.undo_turn("turn_b")
    synapse_houdini.undo_turn("turn_a")
    assert hou.main.run_sync(lambda: (hou.node("/obj/geo1/grid1").parm("rows").eval(),
                                      hou.node("/obj/geo1/grid1").isBypassed())) == (4, False)


def test_refuses_after_the_artist_changed_something(host, daemon):
    ok(daemon, "houdini_set_parms", {"path": "/obj/geo1/grid1", "parms": {"rows": 9}}, "turn_a")
    hou.main.run_sync(lambda: hou.node("/obj/geo1/color1").parm("colorx").set(0.25))  # the artist's own edit
    before = snapshot()
    with pytest.raises(UndoRefused, match="undo stack changed"):
        synapse_houdini.undo_turn("turn_a")
    assert snapshot() == before


def test_refuses_after_the_artist_undid_part_of_it(host, daemon):
    ok(daemon, "houdini_set_parms", {"path": "/obj/geo1/grid1", "parms": {"rows": 9}}, "turn_0")
    ok(daemon, "houdini_set_parms", {"path": "/obj/geo1/grid1", "parms": {"rows": 7}}, "turn_a")
    hou.main.run_sync(hou.undos.performUndo)  # Ctrl+Z: the same label (turn_0's) is now on top
    with pytest.raises(UndoRefused, match="undo stack changed"):
        synapse_houdini.undo_turn("turn_a")
    assert hou.main.run_sync(lambda: hou.node("/obj/geo1/grid1").parm("rows").eval()) == 9  # turn_0 kept


def test_undo_turn_runs_inline_on_the_main_thread(host, daemon):
    ok(daemon, "houdini_rename_node", {"path": "/obj/geo1/grid1", "new_name": "ground"}, "turn_a")
    result = hou.main.run_sync(lambda: synapse_houdini.undo_turn("turn_a"))
    assert result["undone"] == ["Synapse: houdini_rename_node"]
    assert hou.main.run_sync(lambda: hou.node("/obj/geo1/grid1") is not None)


def test_undo_turn_without_a_host(main_loop):
    with pytest.raises(UndoRefused, match="not started"):
        synapse_houdini.undo_turn("whatever")
