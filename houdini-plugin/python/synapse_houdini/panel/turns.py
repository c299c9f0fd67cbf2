"""One turn in the transcript: the prompt, streamed text, tool cards, and a footer
(status, tokens and cost, Undo). Fed with prepared ``turn.event`` dicts."""

from __future__ import annotations

import re
from typing import Any, Callable, Optional

from . import format as fmt
from .cards import ToolCard
from .markdown import is_paragraph_line, paragraph_line_html, to_html
from .qt import Qt, QtGui, QtWidgets
from .stream import StreamText

from ..host import FINAL_STATUSES

FINAL = FINAL_STATUSES | {"failed"}
STATUS_TEXT = {
    "submitting": "sending…", "queued": "queued", "running": "working…", "awaiting_approval": "waiting for your approval",
    "complete": "done", "cancelled": "cancelled", "api_error": "failed", "max_iterations": "stopped: too many steps",
    "max_tokens": "stopped: answer too long", "refusal": "the model declined", "interrupted": "interrupted (synapsed restarted)",
    "unknown_stop_reason": "stopped (unknown reason)", "budget_exceeded": "stopped: budget reached", "failed": "failed",
}


def _label(parent: Any, name: str = "", rich: bool = True) -> Any:
    label = QtWidgets.QLabel(parent)
    label.setWordWrap(True)
    label.setTextFormat(Qt.RichText if rich else Qt.PlainText)
    label.setTextInteractionFlags(Qt.TextSelectableByMouse)
    label.setOpenExternalLinks(False)
    if name:
        label.setObjectName(name)
    return label


#: What a delta may contain to be appended as plain text: no Markdown syntax, no
#: HTML-significant characters, no control characters or line breaks. (Negated
#: ASCII classes: a wide Unicode range would cost ~15 ms to compile at import.)
_PLAIN_DELTA = re.compile(r"[^\x00-\x1f\x7f-\x9f\u2028\u2029`*_\[\]()<>&#\\~]*")
#: A last line whose block type (paragraph, heading, list item, quote) appending words cannot change.
_SETTLED_LINE = re.compile(r"^\s{0,3}(?:#{1,6}\s+|[-*+]\s+|\d{1,9}[.)]\s+|>\s?)?[^\W\d_]")


def plain_append_safe(rendered: str, added: str) -> bool:
    """True when rendering ``rendered + added`` shows ``rendered``'s rendering followed by
    ``added`` as text in the same format (so no re-render is needed).

    Only plain words and punctuation are appended (no Markdown or HTML syntax, no
    line break, no double spaces, which HTML would collapse), to a last line that is
    already a paragraph, heading, list item or quote with text, outside any code fence,
    and not ending in a formatting mark (``*``, ``_``, a backtick, ``#``), which appended
    letters could turn into (or out of) formatting.
    """
    if not added or not _PLAIN_DELTA.fullmatch(added) or "  " in added:
        return False
    if "```" in rendered or "~~~" in rendered or rendered.endswith("\n"):
        return False
    last_line = rendered[rendered.rfind("\n") + 1:]
    if not _SETTLED_LINE.match(last_line) or last_line.rstrip(" ")[-1:] in ("*", "_", "`", "#", "\\", ""):
        return False
    if last_line.endswith(" ") and added.startswith(" "):
        return False  # two spaces in a row: HTML shows one
    if added.endswith(" ") and last_line.lstrip().startswith("#"):
        return False  # a heading drops its trailing spaces
    return True


class TextSegment(QtWidgets.QTextBrowser):
    """Streamed assistant text in ONE incrementally laid-out document.

    Frozen chunks are appended once at the end of the document; only the open tail
    is removed and re-inserted on each render, so Qt re-lays out just those blocks.
    The widget has a fixed height (the document's), so the transcript's layout never
    asks it (or anything above it) to re-measure all the text: a render costs the
    size of the tail, not of the transcript.
    """

    def __init__(self, parent: Any, on_dirty: Callable[["TextSegment"], None]) -> None:
        super().__init__(parent)
        self.setObjectName("assistantText")
        self.setReadOnly(True)
        self.setOpenLinks(False)
        self.setOpenExternalLinks(False)
        self.setFrameShape(QtWidgets.QFrame.NoFrame)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setSizePolicy(QtWidgets.QSizePolicy.Expanding, QtWidgets.QSizePolicy.Fixed)
        self.setTextInteractionFlags(Qt.TextSelectableByMouse | Qt.TextSelectableByKeyboard)
        self.document().setDocumentMargin(2)
        # No undo stack: it would keep every replaced tail for the life of the transcript.
        self.document().setUndoRedoEnabled(False)
        self.stream = StreamText()
        self._tail_start = 0
        #: The tail source as last rendered (the plain-text fast path appends to it).
        self._rendered_tail = ""
        #: Renders done by appending plain text / by re-rendering the tail (for tests, benchmarks).
        self.fast_renders = 0
        self.full_renders = 0
        self._on_dirty = on_dirty
        self._dirty = False
        self.chunks = 0
        self.setFixedHeight(4)

    def append(self, delta: str) -> None:
        self.stream.append(delta)
        if not self._dirty:
            self._dirty = True
            self._on_dirty(self)

    def render(self) -> None:
        """Freeze what can be frozen, re-render the tail (called by the coalescing timer).

        When only plain words were added to a settled line of the tail since the last
        render, they are appended as text (same look, no re-render). Everything else
        runs in one edit block, so the document is laid out once per render.
        """
        self._dirty = False
        chunks = self.stream.take_chunks()
        tail = self.stream.tail()
        cursor = QtGui.QTextCursor(self.document())
        if not chunks and (self._append_plain(cursor, tail) or self._rerender_last_lines(cursor, tail)):
            self.fast_renders += 1
            self._fit()
            return
        self.full_renders += 1
        cursor.beginEditBlock()
        try:
            cursor.setPosition(self._tail_start)
            # Removing the old tail merges its first block into the last frozen one, which
            # then takes the tail's block format (a rule or list item there was lost): restore it.
            frozen_format = cursor.blockFormat()
            cursor.movePosition(QtGui.QTextCursor.End, QtGui.QTextCursor.KeepAnchor)
            cursor.removeSelectedText()
            if self._tail_start > 0:
                cursor.setBlockFormat(frozen_format)
            for chunk in chunks:
                self._insert(cursor, to_html(chunk))
                self.chunks += 1
            self._tail_start = cursor.position()
            self._rendered_tail = ""
            if tail.strip():
                self._insert(cursor, to_html(tail))
                self._rendered_tail = tail
        finally:
            cursor.endEditBlock()
        self._fit()

    def _rerender_last_lines(self, cursor: Any, tail: str) -> bool:
        """A tail that is one plain paragraph: re-render only from its last rendered line.

        Paragraph lines render independently (joined by line breaks), so the lines
        before the last one are kept as they are in the document.
        """
        before = self._rendered_tail
        # The last line rendered (a line break at the end starts no line in the document).
        start = before.rfind("\n", 0, len(before) - 1) + 1
        if not before or not tail.startswith(before[:start]) or "```" in tail or "~~~" in tail:
            return False
        lines = tail[start:].split("\n")
        if lines[-1] == "":
            lines.pop()  # ends with a line break: the next line is not known yet
        if not lines or not all(is_paragraph_line(line) for line in lines):
            return False
        if start and not all(is_paragraph_line(line) for line in before[:start - 1].split("\n")):
            return False
        block = self.document().lastBlock()
        separator = block.text().rfind("\u2028")
        if (separator < 0) != (start == 0):
            return False  # the document does not look as expected: re-render it all
        cursor.beginEditBlock()
        try:
            cursor.setPosition(block.position() + separator + 1)
            cursor.movePosition(QtGui.QTextCursor.End, QtGui.QTextCursor.KeepAnchor)
            cursor.removeSelectedText()
            for index, line in enumerate(lines):
                if index:
                    cursor.insertText("\u2028")  # what <br> becomes
                cursor.insertHtml("<p>" + paragraph_line_html(line) + "</p>")
        finally:
            cursor.endEditBlock()
        self._rendered_tail = tail
        return True

    def _append_plain(self, cursor: Any, tail: str) -> bool:
        """Append what the tail gained as plain text, if that renders exactly like a re-render."""
        before = self._rendered_tail
        if not before or not tail.startswith(before) or len(tail) == len(before):
            return False
        added = tail[len(before):]
        if not plain_append_safe(before, added):
            return False
        cursor.movePosition(QtGui.QTextCursor.End)
        if before[-1] == " ":
            # The rendered HTML ended the block without its trailing space; put it back.
            added = " " + added.lstrip(" ") if self.document().characterAt(cursor.position() - 1) != " " else added
        cursor.insertText(added)
        self._rendered_tail = tail
        return True

    def _insert(self, cursor: Any, html: str) -> None:
        if cursor.position() > 0:
            cursor.insertBlock(QtGui.QTextBlockFormat(), QtGui.QTextCharFormat())
        cursor.insertHtml(html)

    def _fit(self) -> None:
        doc = self.document()
        width = self.viewport().width()
        if width > 0 and doc.textWidth() != width:
            doc.setTextWidth(width)
        height = int(doc.size().height()) + 2
        if height != self.height():
            self.setFixedHeight(height)

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)
        self._fit()

    def wheelEvent(self, event: Any) -> None:  # noqa: N802 (Qt name)
        event.ignore()  # no scrolling of its own: the transcript scrolls

    def plain_text(self) -> str:
        return self.document().toPlainText()


class TurnView(QtWidgets.QFrame):
    """A turn: prompt bubble, segments in event order, footer."""

    def __init__(self, prompt: str, parent: Any, on_dirty: Callable[[TextSegment], None],
                 on_approve: Optional[Callable[["TurnView", str, str], None]] = None) -> None:
        super().__init__(parent)
        self.setObjectName("turn")
        self.turn_id: Optional[str] = None
        self.status = "submitting"
        self.result: Optional[dict] = None
        self.cards: dict[str, ToolCard] = {}
        self.segments: list[Any] = []
        self.last_seq = -1
        self.gap = False
        self.local_cancel = False
        self.texts_seen = False
        self._on_dirty = on_dirty
        self._on_approve = on_approve
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 6, 0, 6)
        layout.setSpacing(4)
        self.prompt_label = _label(self, "prompt", rich=False)
        self.prompt_label.setText(prompt)
        layout.addWidget(self.prompt_label)
        self.body = QtWidgets.QVBoxLayout()
        self.body.setSpacing(4)
        layout.addLayout(self.body)
        footer = QtWidgets.QHBoxLayout()
        self.status_label = QtWidgets.QLabel(self)
        self.status_label.setObjectName("turnStatus")
        self.usage_label = QtWidgets.QLabel(self)
        self.usage_label.setObjectName("muted")
        self.undo_button = QtWidgets.QPushButton("Undo this turn", self)
        self.undo_button.setObjectName("undoButton")
        self.undo_button.hide()
        footer.addWidget(self.status_label)
        footer.addStretch(1)
        footer.addWidget(self.usage_label)
        footer.addWidget(self.undo_button)
        layout.addLayout(footer)
        self._set_status("submitting")

    # ------------------------------------------------------------ events

    def apply(self, event: dict) -> None:
        """Apply one prepared ``turn.event`` (malformed fields are ignored, never raised)."""
        seq = event.get("seq")
        if isinstance(seq, int) and not isinstance(seq, bool):
            if seq <= self.last_seq:
                return  # a replay of what is already shown
            if seq > self.last_seq + 1 and self.last_seq >= -1 and seq != 0:
                self.gap = True
            self.last_seq = seq
        if self.turn_id is None and isinstance(event.get("turn_id"), str):
            self.turn_id = event["turn_id"]
        kind = event.get("type")
        if kind == "status" and isinstance(event.get("status"), str):
            if self.status not in FINAL:
                self._set_status(event["status"])
            if event["status"] == "running":
                # Running again: any approval still open here was answered (maybe by another client).
                for card in self.cards.values():
                    if card.state == "awaiting_approval":
                        card.set_state("running")
        elif kind == "text" and isinstance(event.get("text"), str):
            self.texts_seen = True
            self._text_segment().append(event["text"])
        elif kind in ("tool_call", "approval_request"):
            call_id = str(event.get("call_id") or "")
            card = self._card(call_id, str(event.get("name") or "?"))
            if "_summary" in event:
                card.set_input(event["_summary"], event.get("_input_text", ""))
            if kind == "approval_request":
                card.ask_approval(bool(event.get("destructive")), lambda d, c=call_id: self._approve(c, d))
        elif kind == "tool_result":
            card = self.cards.get(str(event.get("call_id")))
            if card is not None:
                card.set_state("error" if event.get("is_error") else "ok", event.get("duration_ms"), event.get("_error"))
                if event.get("_result_text"):
                    card.set_result(event["_result_text"])
                for image in event.get("_images") or ():
                    card.add_image(image)
        elif kind == "retry":
            self._note(f"API busy, retry {event.get('attempt', '?')} in {fmt.duration(event.get('delay_ms'))}: "
                       f"{event.get('reason', '')}")
        elif kind == "compaction":
            self._note(f"history compacted ({event.get('method', '?')}): {fmt.tokens(event.get('tokens_before'))} → "
                       f"{fmt.tokens(event.get('tokens_after'))} tokens")
        elif kind == "done":
            result = event.get("result")
            self.finish(result if isinstance(result, dict) else {"status": "unknown_stop_reason"})

    def finish(self, result: dict) -> None:
        """The turn is final: reconcile cards, text, status, usage."""
        self.result = result
        status = str(result.get("status") or "unknown_stop_reason")
        for call in result.get("tool_calls") or ():
            if not isinstance(call, dict):
                continue
            card = self.cards.get(str(call.get("call_id")))
            if card is not None and card.state in ("running", "awaiting_approval"):
                card.set_state("error" if call.get("is_error") else "ok", call.get("duration_ms"))
        for card in self.cards.values():
            if card.state in ("running", "awaiting_approval"):
                card.set_state("cancelled")
        text = result.get("text")
        if isinstance(text, str) and text and (not self.texts_seen or self.gap):
            if self.gap:
                self._note("some progress events were dropped; the final answer follows")
            segment = self._text_segment(new=self.gap)
            segment.append(text)
            self.texts_seen = True
        if self.local_cancel and status != "cancelled":
            self._set_status(status, extra=" (it finished before Stop reached synapsed)")
        else:
            self._set_status(status)
        error = result.get("error")
        if isinstance(error, dict) and error.get("message"):
            self._note(f"{error.get('kind', 'error')}: {error.get('message')}", error=True)
        self.usage_label.setText(fmt.usage_line(result.get("usage")))

    def fail(self, message: str) -> None:
        """The turn could not be submitted or followed (no daemon answer will come)."""
        if self.status in FINAL:
            return
        self._set_status("failed")
        self._note(message, error=True)

    def cancelled_locally(self) -> None:
        """Stop was pressed: say so at once; :meth:`finish` reconciles with the daemon."""
        if self.status in FINAL:
            return
        self.local_cancel = True
        self._set_status("cancelled")
        for card in self.cards.values():
            if card.state in ("running", "awaiting_approval"):
                card.set_state("cancelled")

    @property
    def final(self) -> bool:
        return self.status in FINAL

    # ------------------------------------------------------------ internals

    def _approve(self, call_id: str, decision: str) -> None:
        if self._on_approve is not None:
            self._on_approve(self, call_id, decision)

    def _card(self, call_id: str, name: str) -> ToolCard:
        card = self.cards.get(call_id)
        if card is None:
            card = ToolCard(call_id, name, self)
            self.cards[call_id] = card
            self.body.addWidget(card)
            self.segments.append(card)
        return card

    def _text_segment(self, new: bool = False) -> TextSegment:
        if not new and self.segments and isinstance(self.segments[-1], TextSegment):
            return self.segments[-1]
        segment = TextSegment(self, self._on_dirty)
        self.body.addWidget(segment)
        self.segments.append(segment)
        return segment

    def _note(self, text: str, error: bool = False) -> None:
        label = _label(self, "noteError" if error else "muted", rich=False)
        label.setText(text)
        self.body.addWidget(label)
        self.segments.append(label)

    def _set_status(self, status: str, extra: str = "") -> None:
        self.status = status
        self.status_label.setText(STATUS_TEXT.get(status, status) + extra)
        self.status_label.setProperty("final", status in FINAL)


__all__ = ["FINAL", "STATUS_TEXT", "TextSegment", "TurnView"]
