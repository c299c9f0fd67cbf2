#!/usr/bin/env python3
"""Render the panel mid-turn (offscreen Qt) for the docs: ``docs/images/panel.png``.

Everything on the picture is real except Houdini: the real ``synapsed`` and the
scripted Messages API (``target/debug/``), the plugin host over the fake ``hou``
and its simulated /stage, and PySide6 with ``QT_QPA_PLATFORM=offscreen``. A first
turn completes (Markdown answer); the second is caught mid-turn: text streamed,
one tool call ok, one failed, a viewport capture (its image on the card), the
model's next request stalled. With
``--approval`` it renders ``docs/images/panel-approval.png`` instead, against the
Python fake daemon (the real daemon's approvals land in another branch).

Usage: ``python3 houdini-plugin/bench/panel_screenshot.py [--approval] [--out PATH]``
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PLUGIN = os.path.dirname(HERE)
REPO = os.path.dirname(PLUGIN)
sys.path[:0] = [os.path.join(PLUGIN, "python"), os.path.join(PLUGIN, "tests", "fakes"),
                os.path.join(REPO, "tests", "e2e")]
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import fake_scene  # noqa: E402
import harness  # noqa: E402
import hou  # noqa: E402  (the fake)
import synapse_houdini  # noqa: E402
from PySide6 import QtTest, QtWidgets  # noqa: E402  (scripts may use PySide6 directly)

FIRST = ("## /stage at a glance\n\nThe stage holds **4 prims** under `/geo` and `/materials`:\n\n"
         "- `sphere1`: a sphere, displayed\n- `matlib`: one material\n- `assign_broken`: **in error**\n\n"
         "```python\nstage = hou.node('/stage/merge1').stage()\n```\n")
SECOND_TEXT = "I'll check the broken node and the pinned node before changing anything."


def _msg(content, stop="end_turn", **extra):
    return {"content": content, "stop_reason": stop, "usage": {"input_tokens": 1840, "output_tokens": 212}, **extra}


def wait(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        QtTest.QTest.qWait(20)
    raise TimeoutError("the panel did not reach the expected state")


def shoot_real(out: str) -> None:
    script = {"responses": [
        _msg([{"type": "text", "text": FIRST}]),
        _msg([{"type": "text", "text": SECOND_TEXT},
              {"type": "tool_use", "id": "toolu_a", "name": "synapse_inspect_stage", "input": {"target_path": "/stage"}},
              {"type": "tool_use", "id": "toolu_b", "name": "synapse_touch_pinned_node", "input": {"path": "/stage/light_rig"}},
              {"type": "tool_use", "id": "toolu_c", "name": "houdini_capture_viewport", "input": {"width": 320, "height": 180}}],
             "tool_use"),
        {"fault": "stall_after_message_start"},
    ]}
    work = tempfile.mkdtemp(prefix="synapse-shot-")
    api = harness.ScriptedApi(script, work).start()
    daemon = harness.Daemon(work, base_url=api.url).start()
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    try:
        hou.main.start()
        fake_scene.build_demo_scene()
        host = synapse_houdini.start(socket_path=daemon.socket, is_main_thread=hou.main.is_main_thread,
                                     extra_tools=[harness.touch_tool()])
        host.wait_registered(15)
        from synapse_houdini.panel.view import SynapsePanel

        panel = SynapsePanel()
        panel.resize(560, 860)
        panel.show()
        wait(lambda: panel.state_history[-1] == "connected" and panel.daemon)
        panel.prompt.setPlainText("What is on /stage?")
        panel.send()
        first = panel.transcript.turns[-1]
        wait(lambda: first.final)
        panel.prompt.setPlainText("Fix the broken material assignment")
        panel.send()
        second = panel.transcript.turns[-1]
        wait(lambda: len(second.cards) == 3 and all(c.state in ("ok", "error") for c in second.cards.values()))
        wait(lambda: second.status == "running")
        panel.prompt.setPlainText("and keep the light rig as it is")
        QtTest.QTest.qWait(200)  # let the render timer and layout settle for the picture
        panel.transcript.verticalScrollBar().setValue(panel.transcript.verticalScrollBar().maximum())
        QtTest.QTest.qWait(100)
        panel.grab().save(out)
        print(f"wrote {out}")
        panel.stop()
        panel.close()
    finally:
        synapse_houdini.stop()
        daemon.stop()
        api.stop()
        hou.main.stop()
        app.processEvents()


def shoot_approval(out: str) -> None:
    from fake_daemon import FakeDaemon
    from synapse_houdini.tools import ToolDef

    work = tempfile.mkdtemp(prefix="synapse-shot-")
    path = os.path.join(work, "rt", "synapsed.sock")
    delete = ToolDef(name="houdini_delete_nodes", description="Delete nodes.", read_only=False,
                     input_schema={"type": "object"}, fn=lambda tool_input: {"deleted": tool_input.get("paths")})
    daemon = FakeDaemon(path, plan=[("houdini_scene_info", {}), ("houdini_delete_nodes", {"paths": ["/stage/assign_broken"]})],
                        approvals={"houdini_delete_nodes"}).start()
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    try:
        hou.main.start()
        fake_scene.build_demo_scene()
        host = synapse_houdini.start(socket_path=path, is_main_thread=hou.main.is_main_thread, extra_tools=[delete])
        host.wait_registered(15)
        from synapse_houdini.panel.view import SynapsePanel

        panel = SynapsePanel()
        panel.resize(560, 560)
        panel.show()
        panel.prompt.setPlainText("Remove the broken assignment node")
        panel.send()
        view = panel.transcript.turns[-1]
        wait(lambda: any(c.state == "awaiting_approval" for c in view.cards.values()))
        QtTest.QTest.qWait(200)
        panel.grab().save(out)
        print(f"wrote {out}")
        panel.stop()
        panel.close()
    finally:
        synapse_houdini.stop()
        daemon.stop()
        hou.main.stop()
        app.processEvents()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--approval", action="store_true")
    parser.add_argument("--out")
    args = parser.parse_args()
    name = "panel-approval.png" if args.approval else "panel.png"
    out = args.out or os.path.join(REPO, "docs", "images", name)
    (shoot_approval if args.approval else shoot_real)(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
