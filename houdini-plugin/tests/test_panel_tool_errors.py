"""Tool errors the DAEMON makes (the host never sees the call, or its result was
replaced) show their message live on the tool card: against the real ``synapsed``,
the scripted Messages API, the plugin host over the fake ``hou`` and real Qt.

The message comes from the ``error`` of the ``tool_result`` event (what the model
got); a turn's final result carries no messages, so these tests would fail if the
card depended on reopening the session.
"""

from __future__ import annotations

import pytest

from panel_support import app, make_panel, qwait_for  # noqa: F401  (fixtures)
from test_panel_daemon import _msg, _send, _text, _tool, binaries, daemon_stack, harness  # noqa: F401  (fixture)

#: Small enough that synapse_inspect_stage on /stage is too large for the model, large
#: enough for the error envelopes (the daemon replaces any larger result, errors too).
MAX_RESULT_BYTES = 1200

SCRIPT = {"responses": [
    _msg([_text("Trying."),
          _tool("toolu_mut", "houdini_create_node", {"parent": "/obj", "type": "geo"}),
          _tool("toolu_unknown", "no_such_tool", {}),
          _tool("toolu_big", "synapse_inspect_stage", {"target_path": "/stage"}),
          _tool("toolu_fine", "synapse_touch_pinned_node", {"path": "/stage/sphere1"})], "tool_use"),
    _msg([_text("Three of those failed.")]),
]}


APPROVAL_SCRIPT = {"responses": [
    _msg([_text("Renaming."),
          _tool("toolu_wait", "houdini_rename_node", {"path": "/stage/sphere1", "new_name": "ball"})], "tool_use"),
    _msg([_text("Nobody answered.")]),
]}


@pytest.fixture
def stack(tmp_path, binaries, main_loop, request):
    script, env = getattr(request, "param", (SCRIPT, {"SYNAPSE_MAX_TOOL_RESULT_BYTES": str(MAX_RESULT_BYTES)}))
    with daemon_stack(tmp_path, main_loop, script, env) as pair:
        yield pair


def test_daemon_made_tool_errors_show_their_message_live(stack, make_panel):
    api, _daemon = stack
    panel = make_panel()
    panel.mode.setCurrentIndex(panel.mode.findData("read_only"))
    view = _send(panel, "make a geo node")
    assert qwait_for(lambda: view.final, 30), view.status
    assert view.status == "complete"
    cards = view.cards
    expected = {
        "toolu_mut": ("NotPermitted", "read_only mode"),
        "toolu_unknown": ("UnknownTool", 'no tool named "no_such_tool"'),
        "toolu_big": ("ToolResultTooLarge", f"more than the {MAX_RESULT_BYTES} allowed"),
    }
    for call_id, (error_type, fragment) in expected.items():
        card = cards[call_id]
        assert card.history == ["running", "error"], (call_id, card.history)
        shown = card.error_label.text()
        assert not card.error_label.isHidden(), call_id
        assert shown.startswith(f"{error_type}: ") and fragment in shown, (call_id, shown)
    fine = cards["toolu_fine"]
    assert fine.history == ["running", "ok"] and fine.error_label.isHidden()
    # What the card says is what the model got.
    results = {b["tool_use_id"]: harness.block_text(b) for b in harness.tool_result_blocks(api.requests()[1])}
    for call_id, (error_type, _fragment) in expected.items():
        assert f'"error_type":"{error_type}"' in results[call_id]


@pytest.mark.parametrize("stack", [(APPROVAL_SCRIPT, {"SYNAPSE_APPROVAL_TIMEOUT_S": "1"})], indirect=True)
def test_an_unanswered_approval_shows_approval_timeout_on_the_card(stack, make_panel, main_loop):
    import hou

    panel = make_panel()
    view = _send(panel, "rename the sphere")
    assert qwait_for(lambda: "toolu_wait" in view.cards and view.cards["toolu_wait"].state == "awaiting_approval", 20)
    card = view.cards["toolu_wait"]
    assert qwait_for(lambda: card.state == "error", 20), card.history
    shown = card.error_label.text()
    assert shown.startswith("ApprovalTimeout: ") and "within 1 s" in shown, shown
    assert qwait_for(lambda: view.final, 20) and view.status == "complete"
    assert main_loop.run_sync(lambda: hou.node("/stage/sphere1") is not None)  # never run


def test_the_event_error_is_read_defensively():
    from synapse_houdini.panel.controller import prepare_event

    base = {"type": "tool_result", "call_id": "c1", "duration_ms": 0}
    shown = prepare_event(None, {**base, "is_error": True, "error": {"error_type": "UnknownTool", "message": "m"}})
    assert shown["_error"] == "UnknownTool: m"
    for hostile in ("text", ["x"], None, {"error_type": 5}, {}):
        out = prepare_event(None, {**base, "is_error": True, "error": hostile})
        assert "_error" not in out or isinstance(out["_error"], str)
    # An error on a successful result is not believed.
    assert "_error" not in prepare_event(None, {**base, "is_error": False, "error": {"error_type": "X", "message": "m"}})
    # Long messages are clipped for the card.
    long = prepare_event(None, {**base, "is_error": True, "error": {"error_type": "X", "message": "y" * 100_000}})
    assert len(long["_error"]) < 5000
