"""The Synapse panel widget: status bar, sessions, transcript, prompt box, controls.

All methods here run on Houdini's main thread and return at once: turns are
submitted through ``host.ask`` (background), daemon requests go through the
:class:`~.controller.Controller` worker, and answers come back as queued signals.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Optional

from . import format as fmt
from .controller import SESSIONS_PAGE, Controller
from .history import split_turns
from .qt import Qt, QtCore, QtWidgets, Signal
from .sessions import SessionList, SetupView
from .state import STATE, PanelState
from .style import STYLE
from .transcript import Transcript
from .turns import FINAL, TurnView

log = logging.getLogger("synapse_houdini.panel")

TICK_MS = 150
#: Past turns shown when a session is opened (older ones are summarised in one line).
HISTORY_TURNS_SHOWN = 50
MODE_LABELS = (("Ask", "ask"), ("Read-only", "read_only"), ("Auto", "auto"))
MODE_TIPS = {
    "ask": "Read-only tools run; every other tool call asks you first.",
    "read_only": "Only tools that read the scene are offered to the model.",
    "auto": "Tools run without asking, except destructive ones (delete, save, run code).",
}


class PromptEdit(QtWidgets.QPlainTextEdit):
    """Enter sends, Shift+Enter starts a new line."""

    submitted = Signal()

    def keyPressEvent(self, event: Any) -> None:  # noqa: N802 (Qt name)
        if event.key() in (Qt.Key_Return, Qt.Key_Enter) and not (event.modifiers() & Qt.ShiftModifier):
            self.submitted.emit()
            return
        super().keyPressEvent(event)


class SynapsePanel(QtWidgets.QWidget):
    """The panel. ``host_provider`` and ``state`` are for tests; Houdini uses the defaults."""

    def __init__(self, parent: Any = None, host_provider: Optional[Callable[[], Any]] = None,
                 state: PanelState = STATE, tick_ms: int = TICK_MS) -> None:
        super().__init__(parent)
        self.setObjectName("synapsePanel")
        self.setStyleSheet(STYLE)
        self.state = state
        self.controller = Controller(self, host_provider, state)
        self.controller.on_turn_event = self._on_turn_event
        self.views: dict[int, tuple[Any, TurnView]] = {}
        self.state_history: list[str] = []
        self.daemon: dict = {}
        self.auth_missing = False
        self._connects_seen = -1
        self._registered_seen = False
        self._history_token = 0
        self._build()
        self._timer = QtCore.QTimer(self)
        self._timer.setInterval(tick_ms)
        self._timer.timeout.connect(self.tick)
        self._timer.start()
        self.tick()
        live = self.state.live()
        if self.state.session_id is None and live and live[-1].session_id:
            self.state.session_id = live[-1].session_id
        if self.state.session_id:
            self.open_session(self.state.session_id)
        else:
            for handle in live:  # submitted, not yet accepted: no session to load
                self._show(handle, self.transcript.add_turn(handle.prompt))

    # ------------------------------------------------------------ layout

    def _build(self) -> None:
        root = QtWidgets.QVBoxLayout(self)
        root.setContentsMargins(6, 6, 6, 6)
        root.setSpacing(6)

        top = QtWidgets.QHBoxLayout()
        self.state_dot = QtWidgets.QLabel("●", self)
        self.state_label = QtWidgets.QLabel(self)
        self.state_label.setObjectName("stateLabel")
        self.state_label.setTextFormat(Qt.PlainText)
        self.retry_button = QtWidgets.QPushButton("Retry", self)
        self.retry_button.clicked.connect(self.retry)
        self.retry_button.hide()
        self.day_label = QtWidgets.QLabel(self)
        self.day_label.setObjectName("muted")
        self.sessions_button = QtWidgets.QPushButton("Sessions", self)
        self.sessions_button.setCheckable(True)
        self.sessions_button.toggled.connect(self._toggle_sessions)
        self.new_button = QtWidgets.QPushButton("New session", self)
        self.new_button.clicked.connect(self.new_session)
        # The state text may be long (a reason for giving up): it shrinks, the panel does not grow.
        self.state_label.setSizePolicy(QtWidgets.QSizePolicy.Ignored, QtWidgets.QSizePolicy.Preferred)
        top.addWidget(self.state_dot)
        top.addWidget(self.state_label, 1)
        top.addWidget(self.retry_button)
        top.addWidget(self.sessions_button)
        top.addWidget(self.new_button)
        root.addLayout(top)

        self.splitter = QtWidgets.QSplitter(Qt.Horizontal, self)
        self.stack = QtWidgets.QStackedWidget(self.splitter)
        self.transcript = Transcript(self.stack, on_approve=self._approve)
        self.stack.addWidget(self.transcript)
        self.splitter.addWidget(self.stack)
        self.splitter.setStretchFactor(1, 1)
        # The session list and the set-up view are built when first needed (a faster open).
        self._sessions: Optional[SessionList] = None
        self._setup: Optional[SetupView] = None
        root.addWidget(self.splitter, 1)

        usage_row = QtWidgets.QHBoxLayout()
        self.turn_usage = QtWidgets.QLabel(self)
        self.turn_usage.setObjectName("muted")
        self.turn_usage.setSizePolicy(QtWidgets.QSizePolicy.Ignored, QtWidgets.QSizePolicy.Preferred)
        self.day_label.setToolTip("Spending today as synapsed reports it (token counts when it reports no cost)")
        usage_row.addWidget(self.turn_usage, 1)
        usage_row.addWidget(self.day_label)
        root.addLayout(usage_row)

        self.prompt = PromptEdit(self)
        self.prompt.setObjectName("promptEdit")
        self.prompt.setPlaceholderText("Ask Synapse…  (Enter sends, Shift+Enter for a new line)")
        self.prompt.setMaximumHeight(72)
        self.prompt.submitted.connect(self.send)
        root.addWidget(self.prompt)

        bottom = QtWidgets.QHBoxLayout()
        self.mode = QtWidgets.QComboBox(self)
        for label, value in MODE_LABELS:
            self.mode.addItem(label, value)
            self.mode.setItemData(self.mode.count() - 1, MODE_TIPS[value], Qt.ToolTipRole)
        self.mode.setCurrentIndex([v for _, v in MODE_LABELS].index(self.state.mode)
                                  if self.state.mode in MODE_TIPS else 0)
        self.mode.currentIndexChanged.connect(self._mode_changed)
        self.mode.setToolTip("Permission mode of the next turn")
        self.stop_button = QtWidgets.QPushButton("Stop", self)
        self.stop_button.setObjectName("stopButton")
        self.stop_button.clicked.connect(self.stop)
        self.stop_button.setEnabled(False)
        self.send_button = QtWidgets.QPushButton("Send", self)
        self.send_button.setObjectName("sendButton")
        self.send_button.clicked.connect(self.send)
        bottom.addWidget(QtWidgets.QLabel("Mode", self))
        bottom.addWidget(self.mode)
        bottom.addStretch(1)
        bottom.addWidget(self.stop_button)
        bottom.addWidget(self.send_button)
        root.addLayout(bottom)

    @property
    def sessions(self) -> SessionList:
        if self._sessions is None:
            self._sessions = SessionList(self.splitter)
            self._sessions.opened.connect(self.open_session)
            self._sessions.more.connect(lambda: self.load_sessions(more=True))
            self._sessions.refresh.connect(self.load_sessions)
            self._sessions.hide()
            self.splitter.insertWidget(0, self._sessions)
            self.splitter.setStretchFactor(0, 0)
            self.splitter.setStretchFactor(1, 1)
        return self._sessions

    @property
    def setup(self) -> SetupView:
        if self._setup is None:
            self._setup = SetupView(self.stack)
            self._setup.check.connect(self.refresh_daemon_status)
            self.stack.addWidget(self._setup)
        return self._setup

    # ------------------------------------------------------------ turns

    def send(self) -> None:
        text = self.prompt.toPlainText().strip()
        if not text:
            return
        try:
            handle = self.controller.submit(text, self.mode.currentData(), self.state.session_id)
        except Exception as exc:  # noqa: BLE001 - not started, stopped...
            view = self.transcript.add_turn(text)
            view.fail(f"not sent: {exc}")
            return
        self.prompt.clear()
        self.transcript.stick_to_bottom = True
        self._show(handle, self.transcript.add_turn(text))
        self._update_buttons()

    def _show(self, handle: Any, view: TurnView) -> None:
        self.views[id(handle)] = (handle, view)
        self.controller.attach(handle)

    def stop(self) -> None:
        """Cancel the running turn(s); the view says ``cancelled`` at once."""
        for handle, view in list(self.views.values()):
            if not view.final and not handle.done():
                handle.cancel()
                view.cancelled_locally()
        self._update_buttons()

    def _on_turn_event(self, handle: Any, event: Any) -> None:
        pair = self.views.get(id(handle))
        if pair is None or not isinstance(event, dict):
            return  # a turn this panel does not show (another session, or closed view)
        view = pair[1]
        if handle.session_id and self.state.session_id is None:
            self.state.session_id = handle.session_id
        view.apply(event)
        if event.get("type") == "done":
            self._turn_finished(handle, view)
        self._update_buttons()

    def _turn_finished(self, handle: Any, view: TurnView) -> None:
        result = view.result or {}
        if isinstance(result.get("session_id"), str) and self.state.session_id is None:
            self.state.session_id = result["session_id"]
        self.turn_usage.setText(("last turn: " + fmt.usage_line(result.get("usage"))) if result.get("usage") else "")
        self._offer_undo(view)
        self.refresh_daemon_status()

    def _approve(self, view: TurnView, call_id: str, decision: str) -> None:
        handle = next((h for h, v in self.views.values() if v is view), None)
        card = view.cards.get(call_id)
        if handle is None or card is None:
            return

        def answered(result: Any, error: Optional[BaseException]) -> None:
            if error is not None:
                card.approval_answered(None, str(error))
            else:
                card.approval_answered(bool((result or {}).get("accepted")))

        self.controller.approve(handle, call_id, decision, None, answered)

    def _offer_undo(self, view: TurnView) -> None:
        result = view.result or {}
        host = self.controller.host()
        read_only = {t.name: t.read_only for t in getattr(host, "tools", ())} if host is not None else {}
        calls = [c for c in result.get("tool_calls") or () if isinstance(c, dict)]
        changed = any(not read_only.get(str(c.get("name")), False) and not c.get("is_error") for c in calls)
        if not changed or not view.turn_id:
            return
        import synapse_houdini

        undo = getattr(synapse_houdini, "undo_turn", None)
        button = view.undo_button
        if undo is None:
            button.setText("Undo unavailable")
            button.setEnabled(False)
            button.setToolTip("This version of the plugin has no synapse_houdini.undo_turn; use Edit ▸ Undo "
                              "(each tool call is one undo step named “Synapse: TOOL”).")
        else:
            button.setToolTip("Undo every change this turn made, if they are still the newest undo steps")
            if not button.property("undoConnected"):
                button.setProperty("undoConnected", True)
                button.clicked.connect(lambda _=False, v=view: self.undo(v))
        button.show()

    def undo(self, view: TurnView) -> None:
        """Call ``synapse_houdini.undo_turn`` (main thread: it touches ``hou.undos``)."""
        import synapse_houdini

        undo = getattr(synapse_houdini, "undo_turn", None)
        if undo is None or not view.turn_id:
            return
        try:
            outcome = undo(view.turn_id)
        except Exception as exc:  # noqa: BLE001 - refused: say why
            view._note(f"Undo refused: {exc}", error=True)
            return
        refused = isinstance(outcome, dict) and (outcome.get("undone") is False or outcome.get("ok") is False)
        if refused:
            view._note(f"Undo refused: {outcome.get('reason') or outcome.get('message') or outcome}", error=True)
            return
        undone = outcome.get("undone") if isinstance(outcome, dict) else None
        view.undo_button.setText("Undone")
        if isinstance(undone, list):
            view.undo_button.setToolTip("Undone: " + ", ".join(str(label) for label in undone))
        view.undo_button.setEnabled(False)

    # ------------------------------------------------------------ sessions

    def new_session(self) -> None:
        self.state.session_id = None
        self._history_token += 1
        self._clear()

    def _clear(self) -> None:
        self.views.clear()
        self.transcript.clear()
        self.turn_usage.setText("")
        self._update_buttons()

    def open_session(self, session_id: str) -> None:
        """Show *session_id*: its history from the daemon, then the live turns of this Houdini."""
        self.state.session_id = session_id
        self._history_token += 1
        token = self._history_token
        self._clear()
        loading = self.transcript.add_note("Loading the session…")

        def loaded(detail: Optional[dict], error: Optional[BaseException]) -> None:
            if token != self._history_token:
                return  # another session was opened meanwhile
            loading.hide()
            if error is not None:
                self.transcript.add_note(f"Could not load this session's history: {error}")
            else:
                self.render_history(detail or {})
            for handle in self.state.handles():
                if handle.session_id == session_id or (handle.session_id is None and not handle.done()):
                    self._show(handle, self.transcript.add_turn(handle.prompt))
            self._update_buttons()

        self.controller.load_history(session_id, loaded)

    def render_history(self, detail: dict) -> None:
        live_ids = {h.turn_id for h in self.state.handles() if h.turn_id}
        turns = [t for t in split_turns(detail) if not (t.info and t.info.get("turn_id") in live_ids)]
        if len(turns) > HISTORY_TURNS_SHOWN:
            self.transcript.add_note(f"{len(turns) - HISTORY_TURNS_SHOWN} earlier turns are not shown.")
            turns = turns[-HISTORY_TURNS_SHOWN:]
        for past in turns:
            view = self.transcript.add_turn(past.prompt)
            for kind, item in past.items:
                if kind == "text":
                    view.apply({"type": "text", "text": item})
                elif kind == "tool":
                    view.apply({"type": "tool_call", "call_id": item["call_id"], "name": item["name"],
                                "_summary": item["summary"], "_input_text": item["input_text"]})
                elif kind == "result":
                    view.apply({"type": "tool_result", "call_id": item["call_id"], "is_error": item["is_error"],
                                "_error": item["error"], "_result_text": item["result_text"]})
            info = past.info or {}
            view.turn_id = info.get("turn_id")
            if isinstance(info.get("result"), dict):
                view.texts_seen = True
                view.finish(info["result"])
                self._offer_undo(view)
            elif isinstance(info.get("status"), str):
                view._set_status(info["status"], " (in another client)" if info["status"] not in FINAL else "")
        self.transcript.render_now()

    def load_sessions(self, more: bool = False) -> None:
        params: dict[str, Any] = {"limit": SESSIONS_PAGE}
        before = self.sessions.last_updated_at() if more else None
        if before:
            params["before"] = before

        def answered(result: Any, error: Optional[BaseException]) -> None:
            if error is not None:
                self.sessions.show_error(str(error))
                return
            page = result if isinstance(result, list) else []
            # A daemon without paging returns everything: no "more" then.
            self.sessions.set_sessions(page, append=bool(before), has_more=len(page) == SESSIONS_PAGE)

        self.controller.request("session.list", params, answered)

    def _toggle_sessions(self, shown: bool) -> None:
        self.sessions.setVisible(shown)
        if shown:
            self.load_sessions()

    def _mode_changed(self, _index: int) -> None:
        value = self.mode.currentData()
        if value in MODE_TIPS:
            self.state.mode = value

    # ------------------------------------------------------------ daemon state

    def tick(self) -> None:
        """Every TICK_MS on the main thread: host state (locks only), turns that ended without an event."""
        if self.controller.closed:
            return
        st = self.controller.host_status()
        self._show_state(st)
        connects = st.get("connects", 0)
        registered = bool(st.get("registered"))
        if registered and (connects != self._connects_seen or not self._registered_seen):
            self.refresh_daemon_status()
        self._connects_seen, self._registered_seen = connects, registered
        self.controller.expire_requests()
        for handle, view in list(self.views.values()):
            if handle.session_id and self.state.session_id is None:
                self.state.session_id = handle.session_id
            if handle.done() and not view.final and not _has_done_event(handle):
                # Finished by the plugin itself (resumed after a restart, failed, stopped):
                # no done event will come. (One that has a done event shows it when it arrives.)
                self._finished_without_event(handle, view)
        self._update_buttons()

    def _finished_without_event(self, handle: Any, view: TurnView) -> None:
        """A handle finished by the plugin itself (resumed after a restart, failed, stopped)."""
        from ..errors import TurnCancelled

        try:
            result = handle.result(timeout=0)
        except TurnCancelled as exc:
            result = exc.result or {"status": "cancelled"}
        except Exception as exc:  # noqa: BLE001 - the cause is shown on the turn
            view.fail(str(exc) or type(exc).__name__)
            return
        view.finish(result)
        self._turn_finished(handle, view)

    def _show_state(self, st: dict) -> None:
        state = st.get("state")
        color = "#9aa0a6"
        retry = False
        if state == "connected" and st.get("registered"):
            key, color = "connected", "#4caf50"
            text = "connected" + (f" · synapsed {self.daemon.get('version')}" if self.daemon.get("version") else "")
            if self.daemon.get("model"):
                text += f" · {self.daemon['model']}"
        elif state in ("starting", "connected"):
            key, text, color = "starting", "starting synapsed…", "#e0a030"
        elif state == "reconnecting":
            if st.get("connects", 0):
                key, text = "restarting", "synapsed stopped; restarting…"
            else:
                key, text = "starting", "starting synapsed…"
            color = "#e0a030"
        elif state == "gave_up":
            key, text, color, retry = "gave_up", f"gave up: {st.get('last_error') or 'synapsed is unavailable'}", "#e05555", True
        else:
            key, text, retry = "stopped", "Synapse is not started", True
            if st.get("last_error"):
                text += f": {st['last_error']}"
        if not self.state_history or self.state_history[-1] != key:
            self.state_history.append(key)
        self.state_dot.setStyleSheet(f"color:{color};")
        self.state_label.setText(text)
        self.state_label.setToolTip(text)
        self.retry_button.setVisible(retry)

    def retry(self) -> None:
        self.controller.retry()
        self.tick()

    def refresh_daemon_status(self) -> None:
        def answered(result: Any, error: Optional[BaseException]) -> None:
            if error is not None or not isinstance(result, dict):
                return
            self.daemon = result
            self.auth_missing = result.get("auth") == "missing"
            if self.auth_missing:
                self.stack.setCurrentWidget(self.setup)
            elif self._setup is not None:
                self.stack.setCurrentWidget(self.transcript)
            self.day_label.setText(_day_text(result))

        self.controller.request("daemon.status", None, answered)

    def _update_buttons(self) -> None:
        running = any(not v.final and not h.done() for h, v in self.views.values())
        self.stop_button.setEnabled(running)

    # ------------------------------------------------------------ close

    def closeEvent(self, event: Any) -> None:  # noqa: N802 (Qt name)
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop timers and deliveries; running turns go on (reopening the panel resumes them)."""
        self._timer.stop()
        self.controller.close()


def _has_done_event(handle: Any) -> bool:
    events = getattr(handle, "events", None) or ()
    return bool(events) and isinstance(events[-1], dict) and events[-1].get("type") == "done"


def _day_text(status: dict) -> str:
    spend = status.get("spend")
    if isinstance(spend, dict) and isinstance(spend.get("today_usd"), (int, float)):
        text = f"today ${spend['today_usd']:.2f}"
        if isinstance(spend.get("daily_budget_usd"), (int, float)):
            text += f" of ${spend['daily_budget_usd']:.2f}"
        return text
    usage = status.get("usage")
    if isinstance(usage, dict):
        total = sum(v for k, v in usage.items() if isinstance(v, int) and not isinstance(v, bool))
        return f"{total:,} tokens since synapsed started"  # no per-day figure without spend
    return ""


__all__ = ["PromptEdit", "SynapsePanel"]
