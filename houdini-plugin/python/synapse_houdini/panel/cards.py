"""Tool-call cards: name, input summary, state, duration, error, approval, details."""

from __future__ import annotations

from typing import Any, Callable, Optional

from . import format as fmt
from .markdown import escape
from .qt import Qt, QtGui, QtWidgets, Signal

STATE_STYLE = {
    "running": ("●", "#e0a030", "running"),
    "awaiting_approval": ("?", "#4a9eff", "needs approval"),
    "ok": ("✓", "#4caf50", "ok"),
    "error": ("✗", "#e05555", "error"),
    "cancelled": ("■", "#9aa0a6", "cancelled"),
    "unknown": ("·", "#9aa0a6", "no result"),
}


class ClickRow(QtWidgets.QFrame):
    """A frame that emits ``clicked`` on a left click."""

    clicked = Signal()

    def mousePressEvent(self, event: Any) -> None:  # noqa: N802 (Qt name)
        if event.button() == Qt.LeftButton:
            self.clicked.emit()
        super().mousePressEvent(event)


class ToolCard(QtWidgets.QFrame):
    """One tool call. States: running → ok | error (or cancelled); approvals inline."""

    def __init__(self, call_id: str, name: str, parent: Any = None) -> None:
        super().__init__(parent)
        self.setObjectName("toolCard")
        self.call_id = call_id
        self.name = name
        self.state = "running"
        #: Every state the card showed, in order (for tests and debugging).
        self.history = ["running"]
        self.duration_ms: Optional[int] = None
        self.error: Optional[str] = None
        self.input_text = ""
        self.result_text = ""
        self.approval_decision: Optional[str] = None
        self._approve: Optional[Callable[[str], None]] = None

        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(8, 5, 8, 5)
        layout.setSpacing(3)
        self.header = ClickRow(self)
        self.header.setCursor(QtGui.QCursor(Qt.PointingHandCursor))
        self.header.setToolTip("Click to show the input and result as JSON")
        row = QtWidgets.QHBoxLayout(self.header)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(6)
        self.badge = QtWidgets.QLabel(self.header)
        self.badge.setFixedWidth(14)
        self.title = QtWidgets.QLabel(self.header)
        self.title.setTextFormat(Qt.RichText)
        self.summary = QtWidgets.QLabel(self.header)
        self.summary.setTextFormat(Qt.PlainText)
        self.summary.setObjectName("cardSummary")
        self.summary.setSizePolicy(QtWidgets.QSizePolicy.Ignored, QtWidgets.QSizePolicy.Preferred)
        self.timing = QtWidgets.QLabel(self.header)
        self.timing.setObjectName("cardTiming")
        row.addWidget(self.badge)
        row.addWidget(self.title)
        row.addWidget(self.summary, 1)
        row.addWidget(self.timing)
        layout.addWidget(self.header)
        self.header.clicked.connect(self.toggle)

        self.error_label = QtWidgets.QLabel(self)
        self.error_label.setObjectName("cardError")
        self.error_label.setTextFormat(Qt.PlainText)
        self.error_label.setWordWrap(True)
        self.error_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.error_label.hide()
        layout.addWidget(self.error_label)

        self.approval = QtWidgets.QFrame(self)
        self.approval.setObjectName("approvalBar")
        ap = QtWidgets.QVBoxLayout(self.approval)
        ap.setContentsMargins(6, 4, 6, 4)
        self.approval_text = QtWidgets.QLabel(self.approval)
        self.approval_text.setWordWrap(True)
        self.approval_text.setTextFormat(Qt.RichText)
        self.approval_input = QtWidgets.QPlainTextEdit(self.approval)
        self.approval_input.setReadOnly(True)
        self.approval_input.setMaximumHeight(90)
        self.approval_input.setObjectName("jsonView")
        buttons = QtWidgets.QHBoxLayout()
        self.allow_button = QtWidgets.QPushButton("Allow", self.approval)
        self.deny_button = QtWidgets.QPushButton("Deny", self.approval)
        self.always_button = QtWidgets.QPushButton("Always for this session", self.approval)
        self.allow_button.setObjectName("allowButton")
        for button, decision in ((self.allow_button, "allow"), (self.deny_button, "deny"),
                                 (self.always_button, "allow_session")):
            button.clicked.connect(lambda _=False, d=decision: self._decide(d))
            buttons.addWidget(button)
        buttons.addStretch(1)
        self.approval_note = QtWidgets.QLabel(self.approval)
        self.approval_note.setObjectName("muted")
        buttons.addWidget(self.approval_note)
        ap.addWidget(self.approval_text)
        ap.addWidget(self.approval_input)
        ap.addLayout(buttons)
        self.approval.hide()
        layout.addWidget(self.approval)

        self.details = QtWidgets.QPlainTextEdit(self)
        self.details.setObjectName("jsonView")
        self.details.setReadOnly(True)
        self.details.setLineWrapMode(QtWidgets.QPlainTextEdit.NoWrap)
        self.details.setMinimumHeight(140)
        self.details.hide()
        layout.addWidget(self.details)
        self.images = QtWidgets.QVBoxLayout()
        layout.addLayout(self.images)
        self.title.setText(f"<b>{escape(name)}</b>")
        self._refresh()

    # ------------------------------------------------------------ updates

    def set_input(self, summary: str, text: str) -> None:
        self.summary.setText(summary)
        self.summary.setToolTip(summary)
        self.input_text = text

    def set_state(self, state: str, duration_ms: Any = None, error: Optional[str] = None) -> None:
        self.state = state if state in STATE_STYLE else "unknown"
        if self.history[-1] != self.state:
            self.history.append(self.state)
        if isinstance(duration_ms, (int, float)) and not isinstance(duration_ms, bool):
            self.duration_ms = int(duration_ms)
        if error:
            self.error = error
        if self.state != "awaiting_approval" and not self.approval.isHidden() and self.approval_decision is None:
            self._close_approval("answered elsewhere" if self.state in ("running", "ok", "error") else "")
        self._refresh()

    def set_result(self, text: str) -> None:
        self.result_text = text
        if not self.details.isHidden():
            self._fill_details()

    def add_image(self, data: bytes) -> None:
        image = QtGui.QImage()
        if not image.loadFromData(data):
            return
        label = QtWidgets.QLabel(self)
        pixmap = QtGui.QPixmap.fromImage(image)
        if pixmap.width() > 480:
            pixmap = pixmap.scaledToWidth(480, Qt.SmoothTransformation)
        label.setPixmap(pixmap)
        label.setObjectName("cardImage")
        self.images.addWidget(label)

    def ask_approval(self, destructive: bool, approve: Callable[[str], None]) -> None:
        """Show Allow / Deny / Always with the input; *approve(decision)* sends the answer."""
        self._approve = approve
        self.approval_decision = None
        warn = ' <span style="color:#e05555;">(destructive)</span>' if destructive else ""
        self.approval_text.setText(f"Synapse wants to run <b>{escape(self.name)}</b>{warn}. Allow it?")
        self.approval_input.setPlainText(self.input_text)
        for button in (self.allow_button, self.deny_button, self.always_button):
            button.setEnabled(True)
        self.approval_note.setText("")
        self.approval.show()
        self.set_state("awaiting_approval")

    def approval_answered(self, accepted: Optional[bool], error: Optional[str] = None) -> None:
        if error:
            self.approval_note.setText(f"not sent: {error}")
            for button in (self.allow_button, self.deny_button, self.always_button):
                button.setEnabled(True)
            self.approval_decision = None
        elif accepted is False:
            self._close_approval("no longer waiting (the turn moved on)")
        else:
            label = {"allow": "allowed", "deny": "denied", "allow_session": "allowed for this session"}
            self._close_approval(label.get(self.approval_decision or "", "answered"))

    def toggle(self) -> None:
        if not self.details.isHidden():
            self.details.hide()
        else:
            self._fill_details()
            self.details.show()

    # ------------------------------------------------------------ internals

    def _decide(self, decision: str) -> None:
        if self._approve is None or self.approval_decision is not None:
            return
        self.approval_decision = decision
        for button in (self.allow_button, self.deny_button, self.always_button):
            button.setEnabled(False)
        self.approval_note.setText("sending…")
        self._approve(decision)

    def _close_approval(self, note: str) -> None:
        self.approval.hide()
        self._approve = None
        if note:
            self.timing.setToolTip(note)
            self.approval_note.setText(note)
        self._approval_summary = note
        self._refresh()

    def _fill_details(self) -> None:
        text = "Input:\n" + (self.input_text or "{}")
        if self.result_text:
            text += "\n\nResult:\n" + self.result_text
        self.details.setPlainText(text)

    def _refresh(self) -> None:
        mark, color, label = STATE_STYLE[self.state]
        self.badge.setText(f'<span style="color:{color}; font-weight:bold;">{mark}</span>')
        timing = label
        if self.duration_ms is not None and self.state in ("ok", "error"):
            timing = f"{label} · {fmt.duration(self.duration_ms)}"
        note = getattr(self, "_approval_summary", "")
        if note and self.state != "awaiting_approval":
            timing = f"{note} · {timing}"
        self.timing.setText(timing)
        if self.error:
            self.error_label.setText(self.error)
            self.error_label.show()


__all__ = ["ClickRow", "STATE_STYLE", "ToolCard"]
