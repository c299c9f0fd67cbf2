#!/usr/bin/env python3
"""Cost of the ``HoudiniDialogOpen`` check run before every tool body (real PySide6, offscreen).

The check (``synapse_houdini.dialogs.open_dialog``) looks at top-level ``QWindow``
objects only. Measured on the main thread with a QApplication holding
``--widgets`` widgets (a panel-like tree) and ``--windows`` visible top-level
windows (none of them a Houdini dialog, the common case), then with one open
"Houdini" QMessageBox (the refusal path). For reference, the same question asked
by walking ``QApplication.topLevelWidgets()`` (which scans every widget).
Also: the check in a process where no Qt binding is loaded (hython).

Usage: ``python3 houdini-plugin/bench/bench_dialogs.py [--widgets 5000] [--windows 20] [--calls 2000]``
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = os.path.join(os.path.dirname(HERE), "python")
sys.path.insert(0, PYTHON)
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(p / 100.0 * len(ordered))) - 1))]


def summary(values_us: list[float]) -> str:
    return f"CPU p50={percentile(values_us, 50):.1f} p99={percentile(values_us, 99):.1f} µs (n={len(values_us)})"


def timed(fn, calls: int) -> list[float]:
    """CPU time of the calling thread per call (µs): the machine is shared, wall tails are the OS's."""
    out = []
    for _ in range(calls):
        t0 = time.thread_time()
        fn()
        out.append((time.thread_time() - t0) * 1e6)
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--widgets", type=int, default=5000)
    parser.add_argument("--windows", type=int, default=20)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")

    code = (f"import sys, time; sys.path.insert(0, {PYTHON!r})\n"
            "from synapse_houdini import dialogs\n"
            "t = [];\n"
            "for _ in range(10000):\n"
            "    t0 = time.perf_counter(); dialogs.check(); t.append((time.perf_counter() - t0) * 1e6)\n"
            "t.sort(); print(f'p50={t[5000]:.2f} p99={t[9900]:.2f} µs')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    print(f"no Qt loaded (hython):                {out.stdout.strip() or out.stderr}")

    from PySide6 import QtCore, QtWidgets

    from synapse_houdini import dialogs

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    root = QtWidgets.QWidget()
    root.setWindowTitle("Houdini FX - untitled.hip")
    layout = QtWidgets.QVBoxLayout(root)
    for i in range(args.widgets):
        label = QtWidgets.QLabel(f"w{i}", root)
        label.hide()
        layout.addWidget(label)
    root.show()
    windows = []
    for i in range(args.windows - 1):
        window = QtWidgets.QWidget()
        window.setWindowTitle(f"Floating pane {i}")
        window.resize(200, 100)
        window.show()
        windows.append(window)
    app.processEvents()
    print(f"{args.widgets} widgets, {args.windows} visible top-level windows, "
          f"{len(app.allWidgets())} widgets in the application")
    assert dialogs.open_dialog() is None
    print(f"check, no Houdini dialog:             {summary(timed(dialogs.open_dialog, args.calls))}")

    def walk() -> None:
        for widget in QtWidgets.QApplication.topLevelWidgets():
            if (widget.isVisible() and isinstance(widget, QtWidgets.QDialog)
                    and widget.windowTitle() == "Houdini"):
                return

    print(f"reference: topLevelWidgets() walk:   {summary(timed(walk, max(50, args.calls // 10)))}")
    box = QtWidgets.QMessageBox()
    box.setWindowTitle("Houdini")
    box.setText("Error running Python code: NameError")
    box.setWindowModality(QtCore.Qt.NonModal)
    box.show()
    app.processEvents()
    assert dialogs.open_dialog() is not None

    def refused() -> None:
        try:
            dialogs.check()
        except dialogs.HoudiniDialogOpen:
            pass

    print(f"check, a Houdini dialog open (raise): {summary(timed(refused, args.calls))}")
    box.close()
    for window in windows:
        window.close()
    root.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
