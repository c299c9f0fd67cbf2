"""Shared pieces of the panel tests: a QApplication (offscreen), bounded Qt waits,
and a factory that builds panels and checks, at the end, that each panel's worker
thread ended with it."""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Callable

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
QtWidgets = pytest.importorskip("PySide6.QtWidgets", reason="PySide6 is needed for the panel tests (tests/requirements.txt)")
from PySide6 import QtCore, QtTest  # noqa: E402

from synapse_houdini.panel.state import STATE  # noqa: E402


def qapp() -> Any:
    app = QtWidgets.QApplication.instance()
    return app if app is not None else QtWidgets.QApplication([])


def qwait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Process Qt events until *predicate* is true or *timeout* seconds pass (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        QtTest.QTest.qWait(10)
    return predicate()


def process_events(ms: int = 50) -> None:
    """Let queued signals and timers run for *ms* (only where nothing is awaited)."""
    QtTest.QTest.qWait(ms)


@pytest.fixture
def app():
    application = qapp()
    STATE.reset()
    yield application
    STATE.reset()


@pytest.fixture
def make_panel(app):
    """``make_panel(**kwargs)`` → a shown SynapsePanel; all are shut down after the test."""
    from synapse_houdini.panel.view import SynapsePanel

    panels = []

    def build(**kwargs: Any) -> SynapsePanel:
        panel = SynapsePanel(**kwargs)
        panel.resize(560, 760)
        panel.show()
        panels.append(panel)
        return panel

    yield build
    threads = []
    for panel in panels:
        threads.append(panel.controller.thread)
        panel.close()
        panel.deleteLater()
    process_events(20)
    for thread in threads:
        thread.join(5)
        assert not thread.is_alive(), "a panel worker thread outlived its panel"


def turn_views(panel: Any) -> list:
    return list(panel.transcript.turns)


def all_text(view: Any) -> str:
    """The plain text of a turn view's rendered assistant text, in order."""
    from synapse_houdini.panel.turns import TextSegment

    return "\n".join(s.plain_text() for s in view.segments if isinstance(s, TextSegment))


__all__ = ["QtCore", "QtTest", "QtWidgets", "all_text", "app", "make_panel", "process_events", "qapp", "qwait_for",
           "threading", "turn_views"]
