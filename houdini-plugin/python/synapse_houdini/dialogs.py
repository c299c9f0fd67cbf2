"""Fail tool calls fast while a Houdini dialog window is open (design §13 guidance).

Field reports: Houdini's "Error running Python" window is not a Qt modal, so
``QApplication.activeModalWidget()`` misses it, and a tool that runs while it is up
changes a scene the artist is being told about. Before a tool body runs (on the
main thread), :func:`check` looks for a *visible top-level dialog window titled
"Houdini"* and raises :class:`HoudiniDialogOpen` if there is one.

What counts, and why:

* Only top-level ``QWindow`` objects are looked at (``QGuiApplication.topLevelWindows()``,
  a few dozen in a session), never the widget tree: the cost does not grow with
  the number of widgets (measured in ``houdini-plugin/bench/bench_dialogs.py``).
* A window counts when it is visible, not minimised, of the ``Qt.Dialog`` window
  type (every ``QDialog``/``QMessageBox`` that is a window has it) and titled
  exactly one of :data:`DIALOG_TITLES`. Ordinary windows (the main window, floating
  panes, other tools' windows), tooltips and menus never count; neither does any
  window of the Synapse panel.
* Qt is never imported here: when no Qt binding is loaded (hython, farm jobs) or
  there is no ``QApplication``, the check finds nothing at once and never blocks.

Not verified in Houdini: the exact shape of the real window (its title and that it
is a dialog-type window) comes from peers' field reports; it has not been checked
in a running Houdini.
"""

from __future__ import annotations

import sys
from typing import Any, Optional

from .errors import ToolError

#: Titles of the Houdini dialog windows that stop tool calls.
DIALOG_TITLES = frozenset({"Houdini"})
#: Longest part of the dialog's own text quoted in the error.
QUOTED_CHARS = 300
#: Object names of our own top-level widgets (the panel) that never count.
OWN_OBJECT_PREFIX = "synapse"

_BINDINGS = ("PySide6", "PySide2")


class HoudiniDialogOpen(ToolError):
    """A Houdini dialog window is open: the tool was not run."""

    error_type = "HoudiniDialogOpen"


def _loaded_binding() -> Optional[tuple[Any, Any, Any]]:
    """``(QtCore, QtGui, QtWidgets)`` of a binding already imported by someone else, else None."""
    for name in _BINDINGS:
        gui = sys.modules.get(name + ".QtGui")
        widgets = sys.modules.get(name + ".QtWidgets")
        core = sys.modules.get(name + ".QtCore")
        if gui is not None and widgets is not None and core is not None:
            return core, gui, widgets
    return None


def _widget_of(widgets: Any, window: Any) -> Any:
    try:
        return widgets.QWidget.find(window.winId())
    except Exception:  # noqa: BLE001 - a foreign window: no widget to look at
        return None


def _is_ours(widget: Any) -> bool:
    while widget is not None:
        try:
            if str(widget.objectName()).lower().startswith(OWN_OBJECT_PREFIX):
                return True
            widget = widget.parentWidget()
        except Exception:  # noqa: BLE001 - deleted underneath us
            return False
    return False


def open_dialog() -> Optional[dict[str, str]]:
    """The open Houdini dialog as ``{title, text}`` (``text`` may be empty), or None.

    Main thread only (it reads Qt objects). Never imports Qt, never waits.
    """
    binding = _loaded_binding()
    if binding is None:
        return None
    core, gui, widgets = binding
    app = gui.QGuiApplication.instance()
    if app is None or not isinstance(app, widgets.QApplication):
        return None
    dialog_type = core.Qt.WindowType.Dialog
    minimized = core.Qt.WindowState.WindowMinimized
    for window in gui.QGuiApplication.topLevelWindows():
        try:
            title = window.title().strip()  # first: the cheapest test, and most windows fail it
            if title not in DIALOG_TITLES or not window.isVisible() or window.type() != dialog_type:
                continue
            if window.windowStates() & minimized:
                continue
        except RuntimeError:  # deleted while we looked
            continue
        widget = _widget_of(widgets, window)
        if _is_ours(widget):
            continue
        text = ""
        if widget is not None and isinstance(widget, widgets.QMessageBox):
            text = " ".join(str(widget.text()).split())
        return {"title": title, "text": text}
    return None


def check() -> None:
    """Raise :class:`HoudiniDialogOpen` if :func:`open_dialog` finds a window (main thread)."""
    found = open_dialog()
    if found is None:
        return
    said = found["text"]
    if len(said) > QUOTED_CHARS:
        said = said[: QUOTED_CHARS - 1] + "…"
    quote = f' It says: "{said}".' if said else ""
    raise HoudiniDialogOpen(
        f'A Houdini dialog window ("{found["title"]}") is open, so the tool was not run and the scene '
        f"was not changed.{quote} Tool calls fail until the artist closes it: tell the artist, "
        "then retry.")


__all__ = ["DIALOG_TITLES", "HoudiniDialogOpen", "check", "open_dialog"]
