"""The scrolling transcript: turns stacked top to bottom, text rendering coalesced,
auto-scroll only while the view is already at the bottom."""

from __future__ import annotations

from typing import Any, Callable, Optional

from .qt import Qt, QtCore, QtWidgets
from .turns import TextSegment, TurnView

#: Text deltas are rendered at most this often (ms); the per-delta cost is an append.
RENDER_INTERVAL_MS = 30
#: How close to the bottom (px) still counts as "at the bottom".
BOTTOM_SLACK_PX = 24


class Transcript(QtWidgets.QScrollArea):
    """Turn views in a scroll area."""

    def __init__(self, parent: Any = None,
                 on_approve: Optional[Callable[[TurnView, str, str], None]] = None) -> None:
        super().__init__(parent)
        self.setObjectName("transcript")
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self._inner = QtWidgets.QWidget(self)
        self._inner.setObjectName("transcriptInner")
        self._layout = QtWidgets.QVBoxLayout(self._inner)
        self._layout.setContentsMargins(10, 8, 10, 8)
        self._layout.setSpacing(6)
        self._placeholder = QtWidgets.QLabel(
            "Ask Synapse about your scene: “What is on /stage?”, “Why does /obj/geo1 fail to cook?”", self._inner)
        self._placeholder.setObjectName("muted")
        self._placeholder.setWordWrap(True)
        self._placeholder.setAlignment(Qt.AlignCenter)
        self._layout.addWidget(self._placeholder)
        self._layout.addStretch(1)
        self.setWidget(self._inner)
        self._on_approve = on_approve
        self.turns: list[TurnView] = []
        self._dirty: list[TextSegment] = []
        self._timer = QtCore.QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(RENDER_INTERVAL_MS)
        self._timer.timeout.connect(self.render_now)
        self.stick_to_bottom = True
        bar = self.verticalScrollBar()
        bar.valueChanged.connect(self._on_scrolled)
        bar.rangeChanged.connect(self._on_range)

    # ------------------------------------------------------------ content

    def add_turn(self, prompt: str) -> TurnView:
        self._placeholder.hide()
        view = TurnView(prompt, self._inner, self._mark_dirty, self._on_approve)
        self._layout.insertWidget(self._layout.count() - 1, view)
        self.turns.append(view)
        return view

    def add_note(self, text: str) -> QtWidgets.QLabel:
        self._placeholder.hide()
        label = QtWidgets.QLabel(text, self._inner)
        label.setObjectName("muted")
        label.setWordWrap(True)
        label.setTextFormat(Qt.PlainText)
        self._layout.insertWidget(self._layout.count() - 1, label)
        return label

    def clear(self) -> None:
        self._dirty.clear()
        self._timer.stop()
        for view in self.turns:
            view.setParent(None)
            view.deleteLater()
        self.turns.clear()
        while self._layout.count() > 2:
            item = self._layout.takeAt(1)
            widget = item.widget()
            if widget is not None and widget is not self._placeholder:
                widget.setParent(None)
                widget.deleteLater()
        self._placeholder.show()
        self.stick_to_bottom = True

    # ------------------------------------------------------------ rendering

    def _mark_dirty(self, segment: TextSegment) -> None:
        self._dirty.append(segment)
        if not self._timer.isActive():
            self._timer.start()

    def render_now(self) -> None:
        """Render every text segment that changed since the last render."""
        dirty, self._dirty = self._dirty, []
        for segment in dirty:
            segment.render()

    def pending_render(self) -> bool:
        return bool(self._dirty)

    # ------------------------------------------------------------ scrolling

    def at_bottom(self) -> bool:
        bar = self.verticalScrollBar()
        return bar.value() >= bar.maximum() - BOTTOM_SLACK_PX

    def _on_scrolled(self, _value: int) -> None:
        self.stick_to_bottom = self.at_bottom()

    def _on_range(self, _low: int, high: int) -> None:
        if self.stick_to_bottom:
            self.verticalScrollBar().setValue(high)


__all__ = ["RENDER_INTERVAL_MS", "Transcript"]
