"""Panel rendering without a daemon: safe Markdown, bounded streaming, tool cards,
bad events, clipping, auto-scroll. Real Qt (PySide6, offscreen)."""

from __future__ import annotations

import random

import pytest

from panel_support import all_text, app, make_panel, qwait_for  # noqa: F401  (fixtures)
from synapse_houdini.panel import format as fmt
from synapse_houdini.panel.controller import prepare_event
from synapse_houdini.panel.markdown import to_html
from synapse_houdini.panel.stream import FORCE_CHARS, StreamText


# ---------------------------------------------------------------- markdown (no Qt)

@pytest.mark.parametrize("hostile", [
    "<script>alert('x')</script>",
    "<img src=\"file:///etc/passwd\">",
    "<a href=\"javascript:alert(1)\">click</a>",
    "<style>*{color:red}</style>",
    "**<b onmouseover=x>bold</b>**",
    "`<i>code</i>`",
    "[link](javascript:alert(1))",
    "# <h1>title</h1>",
])
def test_markdown_shows_html_and_script_as_text(hostile):
    html = to_html(hostile)
    # No tag from the source survives: every "<" of the source is escaped.
    for tag in ("<script", "<img", "<a ", "<style", "<b onmouseover", "<i>", "<h1>"):
        assert tag not in html
    assert "&lt;" in html or "javascript" in html


def test_markdown_renders_headings_lists_code_and_inline():
    html = to_html("# Title\n\nSome **bold**, *it* and `x < y`.\n\n- one\n- two\n\n3. c\n4. d\n\n```vex\n@P.y += 1;\n```\n")
    assert "<h3>Title</h3>" in html
    assert "<b>bold</b>" in html and "<i>it</i>" in html and "x &lt; y</code>" in html
    assert "<ul><li>one</li><li>two</li></ul>" in html
    assert '<ol start="3"><li>c</li><li>d</li></ol>' in html
    assert "<pre" in html and "@P.y += 1;" in html and "vex" in html


def test_stream_chunks_keep_every_character_in_order():
    rng = random.Random(7)
    words = ["alpha", "beta", "`code`", "**bold**", "\n", "\n\n", "```py\nx = 1\n```\n", "- item\n", "# H\n"]
    source = "".join(rng.choice(words) + " " for _ in range(4000)) + "\n```\n" + "y = 2\n" * 1200 + "```\nend"
    stream = StreamText()
    chunks = []
    pos = 0
    while pos < len(source):
        step = rng.randint(1, 40)
        stream.append(source[pos:pos + step])
        pos += step
        chunks.extend(stream.take_chunks())
    # Each chunk is bounded, so re-rendering the tail stays cheap.
    assert all(len(c) < FORCE_CHARS * 2 + 200 for c in chunks)
    assert len(stream.tail()) < FORCE_CHARS * 2 + 200
    # Reassembled (fence reopen/close markers removed) it is the source.
    joined = "".join(chunks) + stream.tail()
    assert joined.replace("```\n```py\n", "").replace("```\n```\n", "").count("y = 2") == source.count("y = 2")
    assert "end" in stream.tail()


def test_huge_values_are_clipped_before_display():
    huge = {"code": "x" * 5_000_000, "list": list(range(100_000))}
    assert len(fmt.summarize_input(huge)) <= fmt.SUMMARY_CHARS
    text = fmt.detail_json(huge)
    assert len(text) < fmt.DETAIL_CHARS + 100 and "more characters not shown" in text
    event = prepare_event(None, {"type": "tool_call", "call_id": "c", "name": "n", "input": huge})
    assert len(event["_input_text"]) < fmt.DETAIL_CHARS + 100


def test_error_message_from_the_envelope_and_from_content_blocks():
    envelope = {"agent_tool_error": True, "error_type": "NodeNotFound", "error_message": "no node /obj/x"}
    assert fmt.error_message(envelope) == "NodeNotFound: no node /obj/x"
    import json

    assert fmt.error_message([{"type": "text", "text": json.dumps(envelope)}]) == "NodeNotFound: no node /obj/x"
    assert fmt.error_message("plain failure") == "plain failure"
    assert len(fmt.error_message({"error_message": "e" * 10_000})) < fmt.ERROR_CHARS + 60


# ---------------------------------------------------------------- widgets (Qt)

def _panel(make_panel):
    return make_panel(host_provider=lambda: None)


def test_streamed_text_appears_in_order(make_panel):
    panel = _panel(make_panel)
    view = panel.transcript.add_turn("hello")
    words = [f"w{i} " for i in range(300)]
    for seq, word in enumerate(words):
        view.apply({"type": "text", "text": word + ("\n\n" if seq % 50 == 49 else ""), "seq": seq})
    assert qwait_for(lambda: not panel.transcript.pending_render(), 5)
    text = all_text(view)
    positions = [text.find(f"w{i} ") for i in range(300)]
    assert all(p >= 0 for p in positions) and positions == sorted(positions)


def test_tool_card_goes_running_then_ok_or_error(make_panel):
    panel = _panel(make_panel)
    view = panel.transcript.add_turn("go")
    view.apply({"type": "tool_call", "call_id": "a", "name": "houdini_cook", "input": {"path": "/obj/x"}, "seq": 0,
                "_summary": "path: /obj/x", "_input_text": "{}"})
    view.apply({"type": "tool_call", "call_id": "b", "name": "houdini_node_info", "seq": 1})
    assert view.cards["a"].state == "running" and view.cards["b"].state == "running"
    assert "running" in view.cards["a"].timing.text()
    view.apply({"type": "tool_result", "call_id": "a", "is_error": True, "duration_ms": 1500, "seq": 2,
                "_error": "CookError: bad VEX"})
    view.apply({"type": "tool_result", "call_id": "b", "is_error": False, "duration_ms": 12, "seq": 3})
    assert view.cards["a"].state == "error" and view.cards["a"].error_label.text() == "CookError: bad VEX"
    assert "1.5 s" in view.cards["a"].timing.text()
    assert view.cards["b"].state == "ok" and "12 ms" in view.cards["b"].timing.text()
    # Clicking the header expands the JSON.
    assert view.cards["a"].details.isHidden()
    view.cards["a"].header.clicked.emit()
    assert not view.cards["a"].details.isHidden() and "Input:" in view.cards["a"].details.toPlainText()


def test_bad_events_are_ignored_without_error(make_panel):
    panel = _panel(make_panel)
    view = panel.transcript.add_turn("x")
    for bad in ({}, {"type": "text"}, {"type": "text", "text": 5, "seq": 0}, {"type": "tool_result", "call_id": "nope", "seq": 1},
                {"type": "status", "status": None, "seq": 2}, {"type": "done", "result": "not a dict", "seq": 3},
                {"type": "mystery", "seq": "x"}):
        view.apply(bad)
    assert view.final and view.status == "unknown_stop_reason"
    # An event for a turn the panel does not show changes nothing.
    before = len(panel.transcript.turns)
    panel._on_turn_event(object(), {"type": "text", "text": "stray", "seq": 0})
    panel._on_turn_event(object(), "not even a dict")
    assert len(panel.transcript.turns) == before


def test_huge_tool_input_and_result_are_clipped_on_the_card(make_panel):
    panel = _panel(make_panel)
    view = panel.transcript.add_turn("x")
    huge = {"code": "y" * 3_000_000}
    view.apply(prepare_event(None, {"type": "tool_call", "call_id": "h", "name": "houdini_execute_python", "input": huge, "seq": 0}))
    card = view.cards["h"]
    card.set_result(fmt.detail_json({"stdout": "z" * 3_000_000}))
    card.toggle()
    shown = card.details.toPlainText()
    assert len(shown) < 2 * fmt.DETAIL_CHARS + 400 and shown.count("more characters not shown") == 2
    assert len(card.summary.text()) <= fmt.SUMMARY_CHARS


def test_markdown_with_html_is_shown_as_text_in_the_widget(make_panel):
    panel = _panel(make_panel)
    view = panel.transcript.add_turn("x")
    view.apply({"type": "text", "text": "<script>alert(1)</script> and <b>not bold</b>\n\n", "seq": 0})
    panel.transcript.render_now()
    text = all_text(view)
    assert "<script>alert(1)</script>" in text and "<b>not bold</b>" in text


def test_autoscroll_only_when_already_at_the_bottom(make_panel):
    panel = _panel(make_panel)
    view = panel.transcript.add_turn("x")
    bar = panel.transcript.verticalScrollBar()
    seq = 0
    for _ in range(60):
        view.apply({"type": "text", "text": "line of text\n\n", "seq": seq})
        seq += 1
    assert qwait_for(lambda: bar.maximum() > 0 and bar.value() == bar.maximum(), 5)
    bar.setValue(0)  # the artist scrolls up to read
    assert not panel.transcript.stick_to_bottom
    for _ in range(30):
        view.apply({"type": "text", "text": "more text\n\n", "seq": seq})
        seq += 1
    top_max = bar.maximum()
    assert qwait_for(lambda: bar.maximum() > top_max, 5)
    assert bar.value() == 0
    bar.setValue(bar.maximum())  # back at the bottom: follows again
    grown = bar.maximum()
    for _ in range(30):
        view.apply({"type": "text", "text": "again\n\n", "seq": seq})
        seq += 1
    assert qwait_for(lambda: bar.maximum() > grown and bar.value() == bar.maximum(), 5)


def test_local_cancel_is_reconciled_with_the_daemons_final_status(make_panel):
    panel = _panel(make_panel)
    view = panel.transcript.add_turn("x")
    view.apply({"type": "status", "status": "running", "seq": 0})
    view.cancelled_locally()
    assert view.status_label.text() == "cancelled"
    view.apply({"type": "done", "seq": 1, "result": {"status": "complete", "text": "finished", "usage": {"input_tokens": 3, "output_tokens": 4}}})
    assert view.status == "complete" and "finished before Stop" in view.status_label.text()
    assert "in 3" in view.usage_label.text() and "out 4" in view.usage_label.text()


def _png(width: int = 4, height: int = 3) -> bytes:
    import struct
    import zlib

    raw = b"".join(b"\x00" + bytes([200, 30, 30]) * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def test_viewport_images_in_a_result_are_shown_inline(make_panel):
    import base64

    class Host:
        def call_reply(self, call_id):
            return {"is_error": False, "content": {"width": 4, "height": 3},
                    "images": [{"media_type": "image/png", "data": base64.b64encode(_png()).decode()},
                               {"media_type": "image/png", "data": "not base64!"},
                               {"media_type": "text/html", "data": "PHNjcmlwdD4="}]}

    event = prepare_event(Host(), {"type": "tool_result", "call_id": "cap", "is_error": False, "duration_ms": 40, "seq": 1})
    assert len(event["_images"]) == 1  # the bad entries are skipped
    panel = _panel(make_panel)
    view = panel.transcript.add_turn("capture")
    view.apply({"type": "tool_call", "call_id": "cap", "name": "houdini_capture_viewport", "seq": 0})
    view.apply(event)
    card = view.cards["cap"]
    assert card.images.count() == 1
    pixmap = card.images.itemAt(0).widget().pixmap()
    assert pixmap.width() == 4 and pixmap.height() == 3


def test_retry_and_compaction_events_are_noted(make_panel):
    panel = _panel(make_panel)
    view = panel.transcript.add_turn("x")
    view.apply({"type": "retry", "attempt": 1, "delay_ms": 500, "reason": "overloaded", "seq": 0})
    view.apply({"type": "compaction", "method": "elide", "tokens_before": 170000, "tokens_after": 90000, "seq": 1})
    notes = [s.text() for s in view.segments if hasattr(s, "text") and s.objectName() == "muted"]
    assert any("retry 1 in 500 ms: overloaded" in n for n in notes)
    assert any("170,000 → 90,000" in n for n in notes)


def test_history_is_loaded_page_by_page(app):
    from synapse_houdini.panel.controller import HISTORY_PAGE, Controller

    controller = Controller(host_provider=lambda: None)
    messages = [{"role": "user", "content": f"m{i}"} for i in range(2 * HISTORY_PAGE + 7)]
    asked = []

    def fake_request(method, params, answer):
        asked.append(dict(params))
        start = params["after"] + 1 if "after" in params else 0
        page = messages[start:start + params["limit"]]
        answer({"session_id": "s", "messages": page, "turns": [], "message_count": len(messages)}, None)

    controller.request = fake_request
    got = []
    controller.load_history("s", lambda detail, error: got.append((detail, error)))
    controller.close()
    assert len(got) == 1 and got[0][1] is None
    assert got[0][0]["messages"] == messages
    assert [p.get("after") for p in asked] == [None, HISTORY_PAGE - 1, 2 * HISTORY_PAGE - 1]
    # A daemon without paging (no message_count) is one page.
    asked.clear()
    controller2 = Controller(host_provider=lambda: None)
    controller2.request = lambda m, p, a: a({"session_id": "s", "messages": messages[:3], "turns": []}, None)
    controller2.load_history("s", lambda d, e: got.append((d, e)))
    controller2.close()
    assert got[-1][0]["messages"] == messages[:3]


def test_an_approval_answered_elsewhere_closes_the_prompt(make_panel):
    panel = _panel(make_panel)
    view = panel.transcript.add_turn("x")
    view.apply({"type": "tool_call", "call_id": "d", "name": "houdini_delete_nodes", "seq": 0,
                "_summary": "paths: /obj/a", "_input_text": '{"paths": ["/obj/a"]}'})
    view.apply({"type": "approval_request", "call_id": "d", "name": "houdini_delete_nodes", "destructive": True, "seq": 1,
                "_summary": "paths: /obj/a", "_input_text": '{"paths": ["/obj/a"]}'})
    view.apply({"type": "status", "status": "awaiting_approval", "seq": 2})
    card = view.cards["d"]
    assert not card.approval.isHidden() and card.state == "awaiting_approval" and view.status == "awaiting_approval"
    view.apply({"type": "status", "status": "running", "seq": 3})
    assert card.approval.isHidden() and card.state == "running"
    assert "answered elsewhere" in card.timing.text()


def test_reattaching_mid_stream_keeps_the_events_in_order(make_panel):
    """A panel attaching to a live turn replays the past while new events keep coming."""
    import threading

    from synapse_houdini.host import TurnHandle

    class StubHost:
        class marshal:  # noqa: N801 - the attribute TurnHandle reads
            @staticmethod
            def is_main_thread():
                return False

    handle = TurnHandle(StubHost(), "stream", {})
    handle._set_accepted("turn_x", "sess_x")
    total = 3000
    for seq in range(1000):
        handle._on_event({"turn_id": "turn_x", "seq": seq, "type": "text", "text": f"<{seq}>"})
    started = threading.Event()

    def live():
        started.set()
        for seq in range(1000, total):
            handle._on_event({"turn_id": "turn_x", "seq": seq, "type": "text", "text": f"<{seq}>"})
        handle._on_event({"turn_id": "turn_x", "seq": total, "type": "done", "result": {"status": "complete"}})

    panel = _panel(make_panel)
    view = panel.transcript.add_turn("stream")
    panel.views[id(handle)] = (handle, view)
    producer = threading.Thread(target=live)
    producer.start()
    started.wait(5)
    panel.controller.attach(handle)  # replays 1 000+ past events while the producer adds more
    assert qwait_for(lambda: view.last_seq == total and not panel.transcript.pending_render(), 20), view.last_seq
    producer.join(5)
    text = all_text(view)
    expected = "".join(f"<{seq}>" for seq in range(total))
    assert view.last_seq == total and not view.gap, (view.last_seq, view.gap, len(text))
    assert text.replace("\n", "") == expected


def test_reopening_the_session_of_a_live_turn_shows_it_again(make_panel):
    from synapse_houdini.host import TurnHandle
    from synapse_houdini.panel.state import STATE

    class StubHost:
        class marshal:  # noqa: N801
            @staticmethod
            def is_main_thread():
                return False

    handle = TurnHandle(StubHost(), "still running", {})
    handle._set_accepted("turn_live", "sess_live")
    STATE.remember(handle)
    for seq, text in enumerate(["Hello ", "there. "]):
        handle._on_event({"turn_id": "turn_live", "seq": seq, "type": "text", "text": text})
    panel = _panel(make_panel)
    panel.controller.load_history = lambda session_id, answer: answer({"session_id": session_id, "messages": [], "turns": []}, None)
    panel.open_session("sess_live")
    first = panel.transcript.turns[-1]
    assert qwait_for(lambda: first.last_seq == 1, 5)
    panel.open_session("sess_live")  # again: a fresh view, the events replayed into it
    second = panel.transcript.turns[-1]
    assert second is not first and len(panel.transcript.turns) == 1
    assert qwait_for(lambda: second.last_seq == 1, 5)
    handle._on_event({"turn_id": "turn_live", "seq": 2, "type": "text", "text": "More."})
    handle._on_event({"turn_id": "turn_live", "seq": 3, "type": "done", "result": {"status": "complete"}})
    assert qwait_for(lambda: second.final and not panel.transcript.pending_render(), 5)
    assert all_text(second) == "Hello there. More."
