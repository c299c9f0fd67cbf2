"""The Qt binding the panel uses: Houdini's ``hutil.PySide`` shim when present,
else PySide6, else PySide2. Nothing else of Qt is imported anywhere in the panel.

``hutil.PySide`` is the module Houdini ships to pick the PySide version that
matches the build (PySide2 up to Houdini 20.0, PySide6 from 20.5). Outside
Houdini (tests, benchmarks) PySide6 from PyPI is used.
"""

from __future__ import annotations

from typing import Any

QtCore: Any
QtGui: Any
QtWidgets: Any
BINDING: str

try:  # Houdini's own shim
    from hutil.PySide import QtCore, QtGui, QtWidgets  # type: ignore[import-not-found,no-redef]

    BINDING = "hutil.PySide"
except ImportError:
    try:
        from PySide6 import QtCore, QtGui, QtWidgets  # type: ignore[no-redef]

        BINDING = "PySide6"
    except ImportError:
        from PySide2 import QtCore, QtGui, QtWidgets  # type: ignore[no-redef]

        BINDING = "PySide2"

Signal = QtCore.Signal
Slot = QtCore.Slot
Qt = QtCore.Qt


def exec_(obj: Any, *args: Any) -> Any:
    """``exec()`` on PySide6, ``exec_()`` on PySide2."""
    fn = getattr(obj, "exec", None) or getattr(obj, "exec_")
    return fn(*args)


__all__ = ["BINDING", "QtCore", "QtGui", "QtWidgets", "Qt", "Signal", "Slot", "exec_"]
