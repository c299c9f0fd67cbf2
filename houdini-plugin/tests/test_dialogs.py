"""``HoudiniDialogOpen``: tool calls fail fast while a Houdini dialog window is open.

Real PySide6 (offscreen). Here Qt's thread IS the (fake) Houdini main thread, as in
Houdini: ``executeDeferred`` is replaced by a queued Qt signal, the fake ``hou``
accepts calls from Qt's thread only, and tool calls come from the fake daemon over
the real socket, answered on the plugin's RPC threads.

Not verified in Houdini: the real "Error running Python" window is modelled as a
visible, non-modal, top-level QMessageBox/QDialog titled "Houdini" (field reports).
"""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
import sys
import threading

import pytest

from panel_support import app, make_panel, qwait_for  # noqa: F401  (fixtures)
from panel_support import QtWidgets
from PySide6 import QtCore

import hou
import fake_scene
import synapse_houdini
from synapse_houdini import dialogs

PLUGIN_PYTHON = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "python")
RENAME = {"path": "/stage/sphere1", "new_name": "renamed1"}


class QtDefer(QtCore.QObject):
    """``hdefereval.executeDeferred`` on Qt's event loop (what Houdini does)."""

    posted = QtCore.Signal(object)

    def __init__(self) -> None:
        super().__init__()
        self.posted.connect(self._run, QtCore.Qt.QueuedConnection)

    def _run(self, fn) -> None:
        fn()

    def __call__(self, fn) -> None:
        self.posted.emit(fn)


@pytest.fixture
def qt_host(app, daemon):
    hou.reset()
    qt_thread = threading.get_ident()
    hou.main.ident = qt_thread  # the fake hou now accepts calls from Qt's thread only
    fake_scene.build_demo_scene()
    defer = QtDefer()
    host = synapse_houdini.start(socket_path=daemon.path, is_main_thread=lambda: threading.get_ident() == qt_thread,
                                 defer=defer)
    assert qwait_for(lambda: synapse_houdini.status().get("registered"), 10), synapse_houdini.status()
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=2)

    def invoke(name, tool_input, timeout_s=10.0):
        future = pool.submit(daemon.invoke, name, tool_input, timeout_s)
        assert qwait_for(future.done, timeout_s + 5), f"{name}: no reply"
        return future.result()["result"]

    yield host, invoke
    synapse_houdini.stop()
    pool.shutdown(wait=True)
    hou.main.ident = None
    hou.reset()


def _error_box(title="Houdini", text="Error running Python:\nTraceback (most recent call last):\n  NameError: x"):
    box = QtWidgets.QMessageBox()
    box.setWindowTitle(title)
    box.setText(text)
    box.setIcon(QtWidgets.QMessageBox.Critical)
    box.setWindowModality(QtCore.Qt.NonModal)
    box.show()  # non-modal: activeModalWidget() does not see it
    qwait_for(lambda: box.windowHandle() is not None and box.windowHandle().isVisible(), 5)
    return box


def test_a_visible_houdini_error_window_fails_calls_fast_and_touches_nothing(qt_host):
    _host, invoke = qt_host
    box = _error_box()
    try:
        assert QtWidgets.QApplication.activeModalWidget() is None  # why a check of our own is needed
        res = invoke("houdini_rename_node", RENAME)
        assert res["is_error"], res
        assert res["content"]["error_type"] == "HoudiniDialogOpen"
        assert "Error running Python" in res["content"]["error_message"]
        assert hou.node("/stage/sphere1") is not None and hou.node("/stage/renamed1") is None
        assert hou.undos.groups == []  # not even an empty undo group
        # Read-only tools are refused too: the artist is reading that window.
        assert invoke("synapse_inspect_stage", {})["content"]["error_type"] == "HoudiniDialogOpen"
    finally:
        box.close()
        box.deleteLater()
    # Closed: calls work again.
    res = invoke("houdini_rename_node", RENAME)
    assert not res["is_error"], res
    assert hou.node("/stage/renamed1") is not None
    assert hou.undos.groups == ["Synapse: houdini_rename_node"]


def test_a_hidden_or_minimised_dialog_does_not_count(qt_host):
    _host, invoke = qt_host
    box = _error_box()
    try:
        box.hide()
        assert dialogs.open_dialog() is None
        assert not invoke("synapse_inspect_stage", {})["is_error"]
        box.show()
        assert qwait_for(lambda: dialogs.open_dialog() is not None, 5)
        box.showMinimized()
        assert qwait_for(lambda: dialogs.open_dialog() is None, 5)
    finally:
        box.close()
        box.deleteLater()


def test_a_plain_qdialog_titled_houdini_counts(qt_host):
    dialog = QtWidgets.QDialog()
    dialog.setWindowTitle("Houdini")
    dialog.show()
    try:
        assert qwait_for(lambda: dialogs.open_dialog() == {"title": "Houdini", "text": ""}, 5)
    finally:
        dialog.close()
        dialog.deleteLater()
    assert qwait_for(lambda: dialogs.open_dialog() is None, 5)


def test_the_panel_and_ordinary_windows_never_count(qt_host, make_panel):
    _host, invoke = qt_host
    panel = make_panel()
    panel.setWindowTitle("Houdini")  # a floating panel shown as its own window
    main = QtWidgets.QMainWindow()
    main.setWindowTitle("Houdini")  # not a dialog (Houdini's main window says more, but still)
    main.show()
    other = QtWidgets.QMessageBox()
    other.setWindowTitle("Save changes?")  # a dialog, not titled "Houdini"
    other.setModal(False)
    other.show()
    own = QtWidgets.QMessageBox(panel)  # a dialog of the panel's own
    own.setWindowTitle("Houdini")
    own.setModal(False)
    own.show()
    try:
        assert qwait_for(lambda: all(w.windowHandle() is not None and w.windowHandle().isVisible()
                                     for w in (panel, main, other, own)), 5)
        assert dialogs.open_dialog() is None
        assert not invoke("synapse_inspect_stage", {})["is_error"]
    finally:
        for widget in (own, other, main):
            widget.close()
            widget.deleteLater()


def test_headless_hosts_never_look(qt_host):
    host, _invoke = qt_host
    box = _error_box()
    try:
        host.ui_available = False  # as in hython with SYNAPSE_ALLOW_HEADLESS=1
        tool = host._tools["synapse_inspect_stage"]
        assert "error_type" not in host._run_body(tool, {})
    finally:
        box.close()
        box.deleteLater()


def test_no_qt_loaded_means_no_dialog_and_no_import():
    """In a process without Qt (hython), the check returns at once and imports nothing."""
    code = ("import sys; sys.path.insert(0, %r)\n"
            "from synapse_houdini import dialogs\n"
            "dialogs.check(); assert dialogs.open_dialog() is None\n"
            "assert not [m for m in sys.modules if m.startswith(('PySide', 'shiboken'))], sorted(sys.modules)\n"
            "print('ok')\n") % (PLUGIN_PYTHON,)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_a_core_application_is_not_a_ui():
    """A QCoreApplication (no widgets) never counts as a UI with dialogs."""
    code = ("import sys; sys.path.insert(0, %r)\n"
            "from PySide6 import QtCore, QtGui, QtWidgets\n"
            "app = QtCore.QCoreApplication([])\n"
            "from synapse_houdini import dialogs\n"
            "assert dialogs.open_dialog() is None\n"
            "print('ok')\n") % (PLUGIN_PYTHON,)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
