#!/usr/bin/env python3
"""Panel benchmark (real PySide6, offscreen): main-thread costs of streaming.

Measured (docs/performance.md, "## Panel"):

1. **Per text delta, main thread**: a producer thread feeds ``text`` events at the
   boundary where the plugin's RPC notification thread calls a turn's callbacks
   (``handle.on_event``); they go through the panel's controller (event prepared
   off the main thread) and the queued signal to the panel's slot. Reported: the
   slot's time per delta, the coalesced render's time per tick, and both together
   per delta.
2. **Append latency with a 10,000-delta transcript**: the transcript already holds
   10,000 deltas (10 turns with tool cards); each further delta is applied AND
   rendered at once (worst case: no coalescing), timed per delta.
3. **Import + build**: a fresh interpreter with Qt already loaded and a
   QApplication (as inside Houdini): import ``synapse_houdini.panel.view`` and
   build the panel. Also reported with the PySide6 import included (cold).
4. **Main-thread queue latency while a turn streams**: from the producer's emit to
   the slot running, and the lateness of a 10 ms QTimer probe, while deltas stream.

Usage: ``python3 houdini-plugin/bench/bench_panel.py [--deltas 5000] [--rate 2000] [--builds 8]
[--only build|stream|append]``. A real stream brings some 20–100 text deltas/s;
``--rate 100`` measures that, the default 2 000/s is a stress test.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PLUGIN = os.path.dirname(HERE)
sys.path[:0] = [os.path.join(PLUGIN, "python")]
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

WORDS = ["the ", "stage ", "holds ", "`/geo/sphere1` ", "**four** ", "prims", ".\n", "\n\n", "- item ", "## Heading\n",
         "```vex\n@P.y += 0.1;\n```\n", "and ", "a ", "material ", "assignment ", "is ", "broken", ", "]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(p / 100.0 * len(ordered))) - 1))
    return ordered[index]


def summary(values: list[float]) -> str:
    return (f"n={len(values)} p50={percentile(values, 50):.3f} p99={percentile(values, 99):.3f} "
            f"max={max(values):.3f} ms")


class FakeHandle:
    """The surface of a TurnHandle the panel uses; ``feed`` plays the notification thread."""

    def __init__(self, prompt: str) -> None:
        self.prompt = prompt
        self.turn_id = "turn_bench"
        self.session_id = "sess_bench"
        self.callbacks = []
        self.events = []

    def on_event(self, callback) -> None:
        self.callbacks.append(callback)

    def done(self) -> bool:
        return False

    def feed(self, event: dict) -> None:
        for callback in self.callbacks:
            callback(event)


def bench_streaming(deltas: int, rate: float) -> None:
    from PySide6 import QtCore, QtTest, QtWidgets

    from synapse_houdini.panel.view import SynapsePanel

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    panel = SynapsePanel(host_provider=lambda: None)
    panel.resize(560, 800)
    panel.show()
    handle = FakeHandle("bench")
    view = panel.transcript.add_turn("bench")
    panel.views[id(handle)] = (handle, view)
    slot_ms: list[float] = []
    slot_cpu: list[float] = []
    queue_ms: list[float] = []
    render_ms: list[float] = []
    render_cpu: list[float] = []
    original_slot = panel.controller.on_turn_event

    def timed_slot(h, event):
        t0, c0 = time.perf_counter(), time.thread_time()
        sent = event.get("_t")
        if sent is not None:
            queue_ms.append((t0 - sent) * 1000)
        original_slot(h, event)
        slot_ms.append((time.perf_counter() - t0) * 1000)
        slot_cpu.append((time.thread_time() - c0) * 1000)

    panel.controller.on_turn_event = timed_slot
    original_render = panel.transcript.render_now

    def timed_render():
        t0, c0 = time.perf_counter(), time.thread_time()
        original_render()
        render_ms.append((time.perf_counter() - t0) * 1000)
        render_cpu.append((time.thread_time() - c0) * 1000)

    panel.transcript._timer.timeout.disconnect()
    panel.transcript._timer.timeout.connect(timed_render)
    panel.controller.attach(handle)
    attach_deadline = time.monotonic() + 10
    while not handle.callbacks and time.monotonic() < attach_deadline:
        QtTest.QTest.qWait(1)  # the replay (nothing to replay here) runs on the panel's worker

    probe_late: list[float] = []
    probe = QtCore.QTimer()
    probe.setInterval(10)
    last = [time.perf_counter()]

    def on_probe():
        now = time.perf_counter()
        probe_late.append(max(0.0, (now - last[0]) * 1000 - 10))
        last[0] = now

    probe.timeout.connect(on_probe)
    rng = random.Random(1)
    done = threading.Event()

    def produce():
        interval = 1.0 / rate
        next_at = time.perf_counter()
        for seq in range(deltas):
            handle.feed({"type": "text", "text": rng.choice(WORDS), "seq": seq, "turn_id": "turn_bench", "_t": time.perf_counter()})
            next_at += interval
            delay = next_at - time.perf_counter()
            if delay > 0:
                time.sleep(delay)  # pacing the producer, not synchronisation
        done.set()

    last[0] = time.perf_counter()
    probe.start()
    threading.Thread(target=produce, daemon=True).start()
    deadline = time.monotonic() + 120
    while (not done.is_set() or len(slot_ms) < deltas) and time.monotonic() < deadline:
        QtTest.QTest.qWait(5)
    QtTest.QTest.qWait(100)
    probe.stop()
    total = sum(slot_ms) + sum(render_ms)
    print(f"[1] {deltas} deltas at ~{rate:g}/s")
    print(f"    slot per delta, wall:  {summary(slot_ms)}")
    print(f"    slot per delta, CPU:   {summary(slot_cpu)}")
    print(f"    render per tick, wall: {summary(render_ms)} ({len(render_ms)} ticks)")
    print(f"    render per tick, CPU:  {summary(render_cpu)}")
    print(f"    slot+render per delta: mean={total / max(1, len(slot_ms)):.3f} ms")
    print(f"[4] queue latency emit→slot: {summary(queue_ms)}")
    print(f"    10 ms timer lateness:    {summary(probe_late)}")
    panel.shutdown()
    panel.close()
    del app


def bench_append(existing: int, measured: int) -> None:
    from PySide6 import QtTest, QtWidgets

    from synapse_houdini.panel.view import SynapsePanel

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    panel = SynapsePanel(host_provider=lambda: None)
    panel.resize(560, 800)
    panel.show()
    rng = random.Random(2)
    per_turn = existing // 10
    seq = 0
    for turn in range(10):
        view = panel.transcript.add_turn(f"prompt {turn}")
        for i in range(per_turn):
            view.apply({"type": "text", "text": rng.choice(WORDS), "seq": seq})
            seq += 1
            if i % 250 == 0:
                view.apply({"type": "tool_call", "call_id": f"c{turn}_{i}", "name": "houdini_node_info", "seq": seq,
                            "_summary": "path: /obj/geo1", "_input_text": "{}"})
                seq += 1
                view.apply({"type": "tool_result", "call_id": f"c{turn}_{i}", "is_error": False, "duration_ms": 3, "seq": seq})
                seq += 1
        panel.transcript.render_now()
        QtTest.QTest.qWait(1)
    QtTest.QTest.qWait(50)
    view = panel.transcript.turns[-1]
    latencies, cpu = [], []
    for _ in range(measured):
        t0, c0 = time.perf_counter(), time.thread_time()
        view.apply({"type": "text", "text": rng.choice(WORDS), "seq": seq})
        panel.transcript.render_now()
        latencies.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.thread_time() - c0) * 1000)
        seq += 1
    print(f"[2] append+render per delta with {existing:,} deltas already shown")
    print(f"    wall: {summary(latencies)}")
    print(f"    CPU:  {summary(cpu)}")
    panel.shutdown()
    panel.close()
    del app


BUILD_SNIPPET = r"""
import os, sys, time
sys.path.insert(0, {python!r})
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
t_cold = time.perf_counter()
from PySide6 import QtWidgets
app = QtWidgets.QApplication([])
if {preload!r}:
    import synapse_houdini  # started at UI ready inside Houdini, before any panel opens
    from PySide6 import QtCore
    QtCore.Qt.AlignLeft  # PySide6 builds the Qt namespace's ~130 Python enums on first use (once per process)
t0 = time.perf_counter()
from synapse_houdini.panel.view import SynapsePanel
panel = SynapsePanel(host_provider=lambda: None)
panel.resize(560, 800)
t1 = time.perf_counter()
panel.show(); app.processEvents()
t2 = time.perf_counter()
print((t1 - t0) * 1000, (t2 - t0) * 1000, (t1 - t_cold) * 1000)
panel.shutdown()
"""


SPLIT_SNIPPET = r"""
import os, sys, time
sys.path.insert(0, {python!r})
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from PySide6 import QtCore, QtWidgets
app = QtWidgets.QApplication([])
# Standard-library modules synapse_houdini uses, imported by Houdini's own start-up Python
# (most of them; not verified in Houdini): what is left of the import is ours.
import concurrent.futures, dataclasses, datetime, inspect, json, logging, queue, random, re, shutil
import socket, subprocess, tempfile, textwrap, traceback, typing
t0 = time.perf_counter()
import synapse_houdini
t1 = time.perf_counter()
QtCore.Qt.AlignLeft  # PySide6's one-time creation of the Qt namespace's Python enums
t2 = time.perf_counter()
from synapse_houdini.panel.view import SynapsePanel
panel = SynapsePanel(host_provider=lambda: None)
panel.resize(560, 800)
t3 = time.perf_counter()
print((t1 - t0) * 1000, (t2 - t1) * 1000, (t3 - t2) * 1000)
panel.shutdown()
"""


def bench_build_split(runs: int, env: dict) -> None:
    """The first-PySide6-use case taken apart: what is ours and what is PySide6's."""
    pkg, enums, panel = [], [], []
    code = SPLIT_SNIPPET.format(python=os.path.join(PLUGIN, "python"))
    for run in range(runs + 1):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
        parts = out.stdout.split()
        if len(parts) != 3:
            raise RuntimeError(out.stderr)
        if run == 0:
            continue
        pkg.append(float(parts[0]))
        enums.append(float(parts[1]))
        panel.append(float(parts[2]))
    print("[3b] first PySide6 code of the process, taken apart:")
    print(f"    import synapse_houdini, its stdlib modules already in (ours; done at Houdini start-up): {summary(pkg)}")
    print(f"    first use of QtCore.Qt (PySide6 builds its enums):      {summary(enums)}")
    print(f"    panel import + build after that (ours):                 {summary(panel)}")


def bench_build(runs: int) -> None:
    import tempfile

    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # an installed plugin has its .pyc files
    env["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="synapse-pyc-")  # not in the repo
    for preload in (True, False):
        warm, shown, cold = [], [], []
        code = BUILD_SNIPPET.format(python=os.path.join(PLUGIN, "python"), preload=preload)
        for run in range(runs + 1):
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
            parts = out.stdout.split()
            if len(parts) != 3:
                raise RuntimeError(out.stderr)
            if run == 0:
                continue  # the first run writes the .pyc files
            warm.append(float(parts[0]))
            shown.append(float(parts[1]))
            cold.append(float(parts[2]))
        what = ("synapse_houdini imported, Qt enums in use" if preload
                else "first PySide6 code of the process, synapse_houdini imported too")
        print(f"[3] import + build, Qt loaded, {what}: {summary(warm)}")
        print(f"    ... + first show and event pass:          {summary(shown)}")
        print(f"    cold (PySide6 import + QApplication too): {summary(cold)}")
    bench_build_split(runs, env)


def main() -> int:
    print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    parser = argparse.ArgumentParser()
    parser.add_argument("--deltas", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=2000)
    parser.add_argument("--existing", type=int, default=10_000)
    parser.add_argument("--measured", type=int, default=1000)
    parser.add_argument("--builds", type=int, default=8)
    parser.add_argument("--only", choices=["build", "stream", "append"])
    args = parser.parse_args()
    if args.only in (None, "build"):
        bench_build(args.builds)
    if args.only in (None, "stream"):
        bench_streaming(args.deltas, args.rate)
    if args.only in (None, "append"):
        bench_append(args.existing, args.measured)
    return 0


if __name__ == "__main__":
    sys.exit(main())
