"""The session list (title, date, turns; paged) and the first-run set-up view."""

from __future__ import annotations

from typing import Any, Callable, Optional

from . import format as fmt
from .qt import Qt, QtWidgets, Signal

SESSION_ROLE = Qt.UserRole + 1


class SessionList(QtWidgets.QWidget):
    """Sessions, newest first; ``opened(session_id)`` on a click, ``more`` asks for the next page."""

    opened = Signal(str)
    more = Signal()
    refresh = Signal()

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setObjectName("sessionList")
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        head = QtWidgets.QHBoxLayout()
        title = QtWidgets.QLabel("<b>Sessions</b>", self)
        self.refresh_button = QtWidgets.QPushButton("Refresh", self)
        self.refresh_button.clicked.connect(self.refresh.emit)
        head.addWidget(title)
        head.addStretch(1)
        head.addWidget(self.refresh_button)
        layout.addLayout(head)
        self.list = QtWidgets.QListWidget(self)
        self.list.itemClicked.connect(self._clicked)
        layout.addWidget(self.list, 1)
        self.note = QtWidgets.QLabel(self)
        self.note.setObjectName("muted")
        self.note.setWordWrap(True)
        layout.addWidget(self.note)
        self.more_button = QtWidgets.QPushButton("Older sessions…", self)
        self.more_button.clicked.connect(self.more.emit)
        self.more_button.hide()
        layout.addWidget(self.more_button)
        self.sessions: list[dict] = []

    def set_sessions(self, sessions: Any, append: bool, has_more: bool) -> None:
        if not append:
            self.list.clear()
            self.sessions = []
        for entry in sessions if isinstance(sessions, list) else ():
            if not isinstance(entry, dict) or not isinstance(entry.get("session_id"), str):
                continue
            self.sessions.append(entry)
            title = str(entry.get("title") or "(untitled)").replace("\n", " ")
            if len(title) > 60:
                title = title[:59] + "…"
            turns = entry.get("turns")
            count = f"{turns} turn{'s' if turns != 1 else ''}" if isinstance(turns, int) else ""
            item = QtWidgets.QListWidgetItem(f"{title}\n{fmt.short_date(entry.get('updated_at'))} · {count}")
            item.setData(SESSION_ROLE, entry["session_id"])
            item.setToolTip(entry["session_id"])
            self.list.addItem(item)
        self.more_button.setVisible(has_more)
        self.note.setText("" if self.sessions else "No sessions yet.")

    def show_error(self, message: str) -> None:
        self.note.setText(f"Could not load sessions: {message}")

    def last_updated_at(self) -> Optional[str]:
        return self.sessions[-1].get("updated_at") if self.sessions else None

    def _clicked(self, item: Any) -> None:
        session_id = item.data(SESSION_ROLE)
        if isinstance(session_id, str):
            self.opened.emit(session_id)


SETUP_HTML = """
<p style="font-size:1.3em; font-weight:bold;">Set up Synapse</p>
<p>Synapse talks to Claude through the Anthropic API and needs an API key. The daemon
(<code>synapsed</code>) is running but has no key yet.</p>
<ol>
<li>Create a key in the Anthropic Console: <b>console.anthropic.com</b> → Settings → API Keys.
Usage is billed to that account.</li>
<li>Store it for Synapse. The command <code>synapsed auth login</code> will do this (it reads the key
without echoing it), but it is <b>not in this version of synapsed yet</b>. Until it lands, set
<code>ANTHROPIC_API_KEY</code> in Houdini's environment (for example in <code>houdini.env</code>),
restart Houdini, and stop the old daemon with <code>synapsed stop</code> so a new one starts with the key.</li>
<li>Press <b>Check again</b>.</li>
</ol>
<p style="color:#9aa0a6;">The key is never written to Houdini scene files, logs or command lines.</p>
"""


class SetupView(QtWidgets.QWidget):
    """First run without a key (``daemon.status`` ``auth: "missing"``)."""

    check = Signal()

    def __init__(self, parent: Any = None, on_check: Optional[Callable[[], None]] = None) -> None:
        super().__init__(parent)
        self.setObjectName("setupView")
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(16, 12, 16, 12)
        text = QtWidgets.QLabel(self)
        text.setTextFormat(Qt.RichText)
        text.setWordWrap(True)
        text.setText(SETUP_HTML)  # static text written here, no outside content
        text.setTextInteractionFlags(Qt.TextSelectableByMouse)
        layout.addWidget(text)
        row = QtWidgets.QHBoxLayout()
        self.check_button = QtWidgets.QPushButton("Check again", self)
        self.check_button.clicked.connect(self.check.emit)
        row.addWidget(self.check_button)
        row.addStretch(1)
        layout.addLayout(row)
        layout.addStretch(1)


__all__ = ["SessionList", "SetupView"]
