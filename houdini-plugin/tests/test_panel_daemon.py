"""The panel against the REAL ``synapsed`` and the scripted Messages API, with the
plugin host over the fake ``hou`` and real Qt (PySide6, offscreen).

Covers streaming, tool cards, Stop, sessions (reopen, history), a panel closed and
reopened mid-turn, the daemon killed mid-turn, a daemon that cannot be started,
and the first-run view without a key. Skipped with a reason when the binaries are
not built (``cargo build --bins``).
"""

from __future__ import annotations

import contextlib

import os
import signal
import sys

import pytest

import synapse_houdini
from panel_support import all_text, app, make_panel, qwait_for  # noqa: F401  (fixtures)
from synapse_houdini.panel.state import STATE

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))

import harness  # noqa: E402


def _msg(content, stop_reason="end_turn", **extra):
    return {"content": content, "stop_reason": stop_reason, "usage": {"input_tokens": 120, "output_tokens": 40}, **extra}


def _text(text):
    return {"type": "text", "text": text}


def _tool(tool_id, name, tool_input):
    return {"type": "tool_use", "id": tool_id, "name": name, "input": tool_input}


ANSWER = ("## What is on /stage\n\nThe stage holds **four** prims:\n\n- `/geo/sphere1`\n- `/materials`\n\n"
          "One node is in error: `assign_broken`. <b>Not HTML</b>\n\n```python\nprint('done')\n```\n")


@pytest.fixture
def binaries():
    return (harness.require_binary(harness.synapsed_bin(), "cargo build -p synapsed"),
            harness.require_binary(harness.scripted_api_bin(), "cargo build -p synapse-test-support --bin synapse-scripted-api"))


@contextlib.contextmanager
def daemon_stack(tmp_path, main_loop, script, extra_env=None):
    """Scripted API (``script``) + real daemon + the plugin host over the fake scene; yields (api, daemon)."""
    api = harness.ScriptedApi(script, str(tmp_path)).start()
    daemon = harness.Daemon(str(tmp_path), base_url=api.url, extra_env=extra_env).start()
    import fake_scene

    fake_scene.build_demo_scene()
    try:
        host = synapse_houdini.start(socket_path=daemon.socket, is_main_thread=main_loop.is_main_thread,
                                     extra_tools=[harness.touch_tool()])
        assert host.wait_registered(15), synapse_houdini.status()
        yield api, daemon
    finally:
        synapse_houdini.stop()
        daemon.stop()
        api.stop()


@pytest.fixture
def stack(tmp_path, binaries, main_loop, request):
    """:func:`daemon_stack` with the script ``request.param``."""
    with daemon_stack(tmp_path, main_loop, request.param) as pair:
        yield pair


def _send(panel, prompt):
    panel.prompt.setPlainText(prompt)
    panel.send()
    assert panel.transcript.turns
    return panel.transcript.turns[-1]


def _handle(panel, view):
    return next(h for h, v in panel.views.values() if v is view)


@pytest.mark.parametrize("stack", [{"responses": [_msg([_text(ANSWER)])]}], indirect=True)
def test_a_streamed_answer_appears_in_order(stack, make_panel):
    panel = make_panel()
    assert qwait_for(lambda: panel.state_history[-1] == "connected", 10), panel.state_history
    view = _send(panel, "What is on /stage?")
    assert qwait_for(lambda: view.final, 30), view.status
    assert qwait_for(lambda: not panel.transcript.pending_render(), 5)
    assert view.status == "complete" and view.status_label.text() == "done"
    text = all_text(view)
    for earlier, later in (("What is on /stage", "four"), ("four", "/geo/sphere1"), ("/geo/sphere1", "assign_broken"),
                           ("assign_broken", "<b>Not HTML</b>"), ("<b>Not HTML</b>", "print('done')")):
        assert 0 <= text.find(earlier) < text.find(later), (earlier, later, text)
    handle = _handle(panel, view)
    kinds = [e["type"] for e in handle.events]
    assert kinds.count("text") >= 3 and kinds[-1] == "done"  # it streamed in several deltas
    assert "in 120" in view.usage_label.text() and "out 40" in view.usage_label.text()
    assert "last turn" in panel.turn_usage.text()
    assert "tokens since synapsed started" in panel.day_label.text() or "today $" in panel.day_label.text()


TOOLS_SCRIPT = {"responses": [
    _msg([_text("Let me look."), _tool("toolu_ok", "synapse_inspect_stage", {"target_path": "/stage"}),
          _tool("toolu_bad", "synapse_touch_pinned_node", {"path": "/stage/nope"})], "tool_use"),
    _msg([_text("The pinned node is missing.")]),
]}


@pytest.mark.parametrize("stack", [TOOLS_SCRIPT], indirect=True)
def test_tool_cards_go_from_running_to_ok_and_error(stack, make_panel):
    panel = make_panel()
    view = _send(panel, "inspect")
    assert qwait_for(lambda: view.final, 30), view.status
    ok, bad = view.cards["toolu_ok"], view.cards["toolu_bad"]
    assert ok.history == ["running", "ok"] and bad.history == ["running", "error"]
    assert ok.summary.text() == "target_path: /stage"
    assert "no node at /stage/nope" in bad.error_label.text() and not bad.error_label.isHidden()
    assert ok.duration_ms is not None and "ms" in ok.timing.text()
    ok.toggle()
    assert '"schema_version"' in ok.details.toPlainText()  # the host's own result, clipped JSON
    assert view.undo_button.isHidden()  # read-only tools changed nothing


STALL_SCRIPT = {"responses": [{"fault": "stall_after_message_start"}, _msg([_text("second turn ok")])]}


@pytest.mark.parametrize("stack", [STALL_SCRIPT], indirect=True)
def test_stop_says_cancelled_at_once_and_the_daemon_ends_the_turn(stack, make_panel):
    panel = make_panel()
    view = _send(panel, "this will stall")
    assert qwait_for(lambda: view.status == "running" and panel.stop_button.isEnabled(), 20), view.status
    panel.stop_button.click()
    # Shown at once: no event was processed since the click, so no daemon answer is involved.
    assert view.status_label.text() == "cancelled" and view.local_cancel and view.result is None
    assert not panel.stop_button.isEnabled()
    handle = _handle(panel, view)
    assert qwait_for(lambda: view.result is not None, 20)
    # The handle is final just after its callbacks ran (the panel may show done first).
    assert view.result["status"] == "cancelled" and qwait_for(handle.done, 5)
    assert view.status_label.text() == "cancelled"
    # The session goes on.
    second = _send(panel, "again")
    assert qwait_for(lambda: second.final, 20) and second.status == "complete"
    assert _handle(panel, second).session_id == handle.session_id


HISTORY_SCRIPT = {"responses": [
    _msg([_text("Looking."), _tool("toolu_h1", "synapse_inspect_stage", {"target_path": "/stage"})], "tool_use"),
    _msg([_text("Stage has **four** prims.")]),
    _msg([_text("Second answer.")]),
]}


@pytest.mark.parametrize("stack", [HISTORY_SCRIPT], indirect=True)
def test_reopening_a_session_shows_its_history_from_the_daemon(stack, make_panel):
    panel = make_panel()
    first = _send(panel, "inspect the stage")
    assert qwait_for(lambda: first.final, 30)
    second = _send(panel, "and now?")
    assert qwait_for(lambda: second.final, 30)
    session_id = STATE.session_id
    assert session_id and session_id == _handle(panel, first).session_id
    panel.new_session()
    assert panel.transcript.turns == [] and STATE.session_id is None
    panel.sessions_button.click()
    assert qwait_for(lambda: panel.sessions.list.count() == 1, 10)
    item = panel.sessions.list.item(0)
    assert "inspect the stage" in item.text() and "2 turns" in item.text()
    # As after a Houdini restart: no handle remembered, everything comes from session.get.
    STATE.reset()
    panel.sessions.list.itemClicked.emit(item)
    assert qwait_for(lambda: len(panel.transcript.turns) == 2, 10)
    old, new = panel.transcript.turns
    assert old.prompt_label.text() == "inspect the stage" and new.prompt_label.text() == "and now?"
    assert old.cards["toolu_h1"].state == "ok" and old.status == "complete"
    assert '"schema_version"' in old.cards["toolu_h1"].result_text
    assert "Looking." in all_text(old) and "four" in all_text(old) and "Second answer." in all_text(new)
    assert STATE.session_id == session_id
    # The next prompt continues that session.
    third = _send(panel, "thanks")
    assert qwait_for(lambda: third.final, 30)  # the script is exhausted: api_error, still in the session
    assert _handle(panel, third).session_id == session_id


RESUME_SCRIPT = {"responses": [
    _msg([_text("Part one."), _tool("toolu_r1", "houdini_scene_info", {})], "tool_use"),
    _msg([_text("Part two.")], delay_ms=1500),
]}


@pytest.mark.parametrize("stack", [RESUME_SCRIPT], indirect=True)
def test_a_panel_closed_mid_turn_leaves_it_running_and_reopening_resumes(stack, make_panel):
    panel = make_panel()
    view = _send(panel, "two parts please")
    handle = _handle(panel, view)
    assert qwait_for(lambda: "toolu_r1" in view.cards and view.cards["toolu_r1"].state == "ok", 20)
    panel.close()
    assert not handle.done()  # the turn goes on without the panel
    reopened = make_panel()
    ok = qwait_for(lambda: len(reopened.transcript.turns) == 1 and reopened.transcript.turns[0].final, 20)
    assert ok, (STATE.session_id, handle.session_id, [t.status for t in reopened.transcript.turns], handle.status)
    again = reopened.transcript.turns[0]
    assert qwait_for(lambda: not reopened.transcript.pending_render(), 5)
    text = all_text(again)
    assert text.count("Part one.") == 1 and 0 <= text.find("Part one.") < text.find("Part two.")
    assert again.status == "complete" and again.cards["toolu_r1"].state == "ok"
    assert qwait_for(handle.done, 5) and handle.result(timeout=0)["status"] == "complete"


def test_the_daemon_killed_mid_turn_shows_restarting_then_recovers(tmp_path, binaries, main_loop, make_panel, monkeypatch):
    api = harness.ScriptedApi({"responses": [{"fault": "stall_after_message_start"}, _msg([_text("back again")])]},
                              str(tmp_path)).start()
    try:
        socket_path = str(tmp_path / "rt" / "synapsed.sock")
        for key, value in {"SYNAPSED_BIN": binaries[0], "SYNAPSE_DATA_DIR": str(tmp_path / "data"),
                           "SYNAPSE_LOG_DIR": str(tmp_path / "logs"), "ANTHROPIC_API_KEY": "test-key",
                           "ANTHROPIC_BASE_URL": api.url, "XDG_CONFIG_HOME": str(tmp_path / "cfg")}.items():
            monkeypatch.setenv(key, value)
        host = synapse_houdini.start(socket_path=socket_path, idle_exit_s=10, is_main_thread=main_loop.is_main_thread)
        assert host.wait_registered(15), synapse_houdini.status()
        panel = make_panel()
        view = _send(panel, "stall")
        assert qwait_for(lambda: view.status == "running", 20)
        first_pid = synapse_houdini.status()["daemon_pid"]
        os.kill(first_pid, signal.SIGKILL)
        assert qwait_for(lambda: "restarting" in panel.state_history, 10), panel.state_history
        assert qwait_for(lambda: panel.state_history[-1] == "connected"
                         and synapse_houdini.status()["daemon_pid"] != first_pid, 30), panel.state_history
        # The restarted daemon found the turn unfinished: it is reported interrupted, not left running.
        assert qwait_for(lambda: view.final, 20), view.status
        assert view.status == "interrupted"
        second = _send(panel, "are you back?")
        assert qwait_for(lambda: second.final and not panel.transcript.pending_render(), 30)
        assert second.status == "complete" and "back again" in all_text(second)
    finally:
        synapse_houdini.stop()
        _shutdown(str(tmp_path / "rt" / "synapsed.sock"))
        api.stop()


def test_a_daemon_that_cannot_start_is_shown_with_a_retry(tmp_path, binaries, main_loop, make_panel, monkeypatch):
    from synapse_houdini import launcher

    monkeypatch.setattr(launcher, "BACKOFF_START_S", 0.01)
    monkeypatch.setattr(launcher, "BACKOFF_MAX_S", 0.02)
    monkeypatch.setenv("SYNAPSED_BIN", str(tmp_path / "no-such-synapsed"))
    monkeypatch.setenv("SYNAPSE_SOCKET", str(tmp_path / "rt" / "synapsed.sock"))
    monkeypatch.setenv("SYNAPSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SYNAPSE_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")
    synapse_houdini.start(is_main_thread=main_loop.is_main_thread)
    panel = make_panel()
    assert qwait_for(lambda: panel.state_history[-1] == "gave_up", 15), panel.state_history
    assert "synapsed not found" in panel.state_label.text() and not panel.retry_button.isHidden()
    view = _send(panel, "hello?")
    assert qwait_for(lambda: view.final, 5)
    assert view.status == "failed"
    # Sessions cannot load either, and say why instead of hanging.
    panel.sessions_button.click()
    assert qwait_for(lambda: "Could not load sessions" in panel.sessions.note.text(), 5)
    # The binary appears: Retry connects (to a daemon it starts).
    monkeypatch.setenv("SYNAPSED_BIN", binaries[0])
    panel.retry_button.click()
    try:
        assert qwait_for(lambda: panel.state_history[-1] == "connected", 20), panel.state_history
        assert panel.retry_button.isHidden()
    finally:
        synapse_houdini.stop()
        _shutdown(os.environ["SYNAPSE_SOCKET"])


def _shutdown(socket_path):
    """Stop a daemon the plugin started (it would otherwise wait out --exit-when-idle)."""
    from synapse_houdini.rpc import RpcClient

    try:
        client = RpcClient.connect(socket_path)
    except OSError:
        return
    try:
        client.call("daemon.shutdown", timeout=5)
    except Exception:  # noqa: BLE001 - already going
        pass
    finally:
        client.close()


def test_first_run_without_a_key_shows_the_setup_view(tmp_path, binaries, main_loop, make_panel, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
    daemon = harness.Daemon(str(tmp_path), api_key=None, extra_env={"HOME": str(tmp_path / "home")}).start()
    try:
        host = synapse_houdini.start(socket_path=daemon.socket, is_main_thread=main_loop.is_main_thread)
        assert host.wait_registered(15)
        panel = make_panel()
        assert qwait_for(lambda: panel.auth_missing and panel.stack.currentWidget() is panel.setup, 10)
        assert panel.setup.isVisible()
        panel.grab()  # renders without error
    finally:
        synapse_houdini.stop()
        daemon.stop()
