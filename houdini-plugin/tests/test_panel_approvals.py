"""Approvals and Undo in the panel, against the Python fake daemon (it speaks the
approval protocol of design §11, which the real daemon gains in another branch),
with the real plugin host, the fake ``hou`` main thread and real Qt (offscreen)."""

from __future__ import annotations

import os

import pytest

import synapse_houdini
from fake_daemon import FakeDaemon
from panel_support import app, make_panel, qwait_for  # noqa: F401  (fixtures)
from synapse_houdini.tools import ToolDef

MAKE_NODE = "test_make_node"


def _make_node(tool_input: dict) -> dict:
    import hou

    return {"path": "/obj/" + str(tool_input.get("name", "node1")), "hou_main": hou.main.is_main_thread()}


def mutating_tool() -> ToolDef:
    return ToolDef(name=MAKE_NODE, description="Create a node (test).",
                   input_schema={"type": "object", "properties": {"name": {"type": "string"}}},
                   read_only=False, fn=_make_node)


@pytest.fixture
def fake(tmp_path, main_loop):
    daemons = []

    def start(plan, approvals=()):
        path = str(tmp_path / "rt" / "synapsed.sock")
        daemon = FakeDaemon(path, plan=plan, approvals=set(approvals)).start()
        daemons.append(daemon)
        host = synapse_houdini.start(socket_path=path, is_main_thread=main_loop.is_main_thread,
                                     extra_tools=[mutating_tool()])
        assert host.wait_registered(10), synapse_houdini.status()
        return daemon

    yield start
    for daemon in daemons:
        daemon.stop()


def _send(panel, prompt):
    panel.prompt.setPlainText(prompt)
    panel.send()
    assert qwait_for(lambda: panel.transcript.turns, 5)
    return panel.transcript.turns[-1]


@pytest.mark.parametrize("button, decision", [("allow_button", "allow"), ("always_button", "allow_session")])
def test_allow_reaches_the_daemon_and_the_tool_runs(fake, make_panel, button, decision):
    daemon = fake([(MAKE_NODE, {"name": "box1"})], approvals=[MAKE_NODE])
    panel = make_panel()
    view = _send(panel, "make a box")
    assert qwait_for(lambda: view.cards and not next(iter(view.cards.values())).approval.isHidden(), 10)
    card = next(iter(view.cards.values()))
    assert card.state == "awaiting_approval" and '"name": "box1"' in card.approval_input.toPlainText()
    assert "destructive" in card.approval_text.text()
    getattr(card, button).click()
    assert qwait_for(lambda: daemon.approve_log, 10)
    params, accepted = daemon.approve_log[0]
    assert accepted and params["decision"] == decision and params["call_id"] == card.call_id
    assert params["turn_id"] == view.turn_id
    assert qwait_for(lambda: view.final, 10), view.status
    assert card.state == "ok" and card.isHidden() is False and card.approval.isHidden()
    submits = [p for m, p in daemon.requests if m == "turn.submit"]
    assert submits[-1]["mode"] == "ask"


def test_deny_reaches_the_daemon_and_the_card_shows_the_error(fake, make_panel):
    daemon = fake([(MAKE_NODE, {"name": "box1"})], approvals=[MAKE_NODE])
    panel = make_panel()
    panel.mode.setCurrentIndex(2)  # Auto
    view = _send(panel, "make a box")
    assert qwait_for(lambda: view.cards and next(iter(view.cards.values())).state == "awaiting_approval", 10)
    card = next(iter(view.cards.values()))
    card.deny_button.click()
    assert qwait_for(lambda: daemon.approve_log, 10)
    assert daemon.approve_log[0][0]["decision"] == "deny" and daemon.approve_log[0][1]
    assert qwait_for(lambda: view.final, 10)
    assert card.state == "error"
    assert [p for m, p in daemon.requests if m == "turn.submit"][-1]["mode"] == "auto"
    # The tool never ran in Houdini.
    assert synapse_houdini.current_host().call_reply(card.call_id) is None


def test_an_answer_that_comes_too_late_is_reported_not_pending(fake, make_panel):
    daemon = fake([(MAKE_NODE, {"name": "box1"})], approvals=[MAKE_NODE])
    panel = make_panel()
    view = _send(panel, "make a box")
    assert qwait_for(lambda: view.cards and next(iter(view.cards.values())).state == "awaiting_approval", 10)
    card = next(iter(view.cards.values()))
    handle = next(h for h, v in panel.views.values() if v is view)
    # Another client answers first (through the plugin API, off the main thread).
    assert handle.approve(card.call_id, "allow").result(10) == {"accepted": True}
    # The panel's answer arrives second (sent directly: once the daemon's "running"
    # status is shown, the panel already closed the prompt as answered elsewhere).
    panel._approve(view, card.call_id, "allow")
    assert qwait_for(lambda: len(daemon.approve_log) == 2, 10)
    assert daemon.approve_log[1][1] is False
    assert qwait_for(lambda: "no longer waiting" in card.approval_note.text(), 10)
    assert card.approval.isHidden()
    assert qwait_for(lambda: view.final, 10)


def test_plugin_api_on_approval_replays_and_rejects_bad_decisions(fake):
    daemon = fake([(MAKE_NODE, {"name": "box1"})], approvals=[MAKE_NODE])
    handle = synapse_houdini.ask("make a box", mode="ask")
    seen = []
    handle.on_approval(seen.append)
    assert qwait_for(lambda: seen, 10)
    late = []
    handle.on_approval(late.append)  # registered after the event: replayed
    assert late == seen and seen[0]["name"] == MAKE_NODE and seen[0]["destructive"] is True
    with pytest.raises(ValueError):
        handle.approve(seen[0]["call_id"], "maybe")
    with pytest.raises(ValueError):
        handle.approve("", "allow")
    assert handle.approve(seen[0]["call_id"], "deny", reason="not now").result(10) == {"accepted": True}
    assert daemon.approve_log[0][0]["reason"] == "not now"
    assert handle.result(timeout=10)["status"] == "complete"


def test_undo_this_turn_calls_undo_turn(fake, make_panel, monkeypatch):
    fake([(MAKE_NODE, {"name": "box1"})])
    calls = []
    # The shape of synapse_houdini.undo_turn on main: {turn_id, undone: [labels]}; raises UndoRefused.
    monkeypatch.setattr(synapse_houdini, "undo_turn",
                        lambda turn_id: calls.append(turn_id) or {"turn_id": turn_id, "undone": ["Synapse: test_make_node"]},
                        raising=False)
    panel = make_panel()
    view = _send(panel, "make a box")
    assert qwait_for(lambda: view.final and not view.undo_button.isHidden(), 10)
    assert view.undo_button.isEnabled()
    view.undo_button.click()
    assert calls == [view.turn_id]
    assert view.undo_button.text() == "Undone" and not view.undo_button.isEnabled()
    assert "Synapse: test_make_node" in view.undo_button.toolTip()


def test_undo_refusal_is_shown_and_missing_undo_is_said(fake, make_panel, monkeypatch):
    fake([(MAKE_NODE, {"name": "box1"})])
    monkeypatch.delattr(synapse_houdini, "undo_turn", raising=False)
    panel = make_panel()
    view = _send(panel, "make a box")
    assert qwait_for(lambda: view.final and not view.undo_button.isHidden(), 10)
    assert view.undo_button.text() == "Undo unavailable" and not view.undo_button.isEnabled()

    def refuse(turn_id):
        raise RuntimeError("the artist changed the scene after this turn")

    monkeypatch.setattr(synapse_houdini, "undo_turn", refuse, raising=False)
    second = _send(panel, "make another")
    assert qwait_for(lambda: second.final and not second.undo_button.isHidden(), 10)
    second.undo_button.click()
    notes = [s.text() for s in second.segments if hasattr(s, "text") and callable(s.text) and s.objectName() == "noteError"]
    assert any("changed the scene" in n for n in notes)


def test_read_only_turns_offer_no_undo(fake, make_panel):
    fake([("houdini_scene_info", {})])
    panel = make_panel()
    view = _send(panel, "what is in the scene?")
    assert qwait_for(lambda: view.final, 10)
    assert view.undo_button.isHidden()
    assert os.environ.get("QT_QPA_PLATFORM") == "offscreen"


def test_undo_this_turn_reverts_the_turn_with_the_real_undo_turn(tmp_path, scene, main_loop, make_panel):
    """The catalogue's houdini_create_node through the host, then the panel's Undo:
    synapse_houdini.undo_turn (the plugin's, not a stand-in) removes the node."""
    import fake_scene
    import hou

    fake_scene.add_sop_network(scene)
    daemon = FakeDaemon(str(tmp_path / "rt" / "synapsed.sock"),
                        plan=[("houdini_create_node", {"parent": "/obj/geo1", "type": "box", "name": "panel_box"})]).start()
    try:
        host = synapse_houdini.start(socket_path=daemon.path, is_main_thread=main_loop.is_main_thread)
        assert host.wait_registered(10)
        panel = make_panel()
        view = _send(panel, "add a box")
        assert qwait_for(lambda: view.final and not view.undo_button.isHidden(), 10), view.status
        assert hou.main.run_sync(lambda: hou.node("/obj/geo1/panel_box")) is not None
        view.undo_button.click()
        assert view.undo_button.text() == "Undone", [s.text() for s in view.segments if hasattr(s, "text")]
        assert "Synapse: houdini_create_node" in view.undo_button.toolTip()
        assert hou.main.run_sync(lambda: hou.node("/obj/geo1/panel_box")) is None
    finally:
        daemon.stop()
