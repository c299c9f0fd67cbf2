"""The .pypanel file: Houdini's pythonPanelDocument format, and its script builds
the panel (onCreateInterface) and shuts it down (onDestroyInterface). Real Qt,
offscreen; the plugin host against the Python fake daemon."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ElementTree

import synapse_houdini
from fake_daemon import FakeDaemon
from panel_support import app, qwait_for  # noqa: F401  (fixtures)

PYPANEL = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "python_panels", "synapse.pypanel")


def test_the_pypanel_is_a_python_panel_document():
    root = ElementTree.parse(PYPANEL).getroot()
    assert root.tag == "pythonPanelDocument"
    interfaces = root.findall("interface")
    assert len(interfaces) == 1
    interface = interfaces[0]
    assert interface.get("name") == "synapse_chat" and interface.get("label") == "Synapse"
    assert interface.find("includeInPaneTabMenu") is not None
    script = interface.findtext("script") or ""
    compile(script, PYPANEL, "exec")
    assert "def onCreateInterface" in script and "def onDestroyInterface" in script


def test_its_script_builds_the_panel_and_shuts_it_down(tmp_path, main_loop, app):
    daemon = FakeDaemon(str(tmp_path / "rt" / "synapsed.sock")).start()
    try:
        host = synapse_houdini.start(socket_path=daemon.path, is_main_thread=main_loop.is_main_thread)
        assert host.wait_registered(10)
        script = ElementTree.parse(PYPANEL).getroot().find("interface").findtext("script")
        namespace: dict = {"kwargs": {}}
        exec(compile(script, PYPANEL, "exec"), namespace)  # noqa: S102 - our own panel file
        widget = namespace["onCreateInterface"]()
        from synapse_houdini.panel.view import SynapsePanel

        assert isinstance(widget, SynapsePanel)
        widget.show()
        assert qwait_for(lambda: widget.state_history[-1] == "connected", 10), widget.state_history
        thread = widget.controller.thread
        namespace["onDestroyInterface"]()
        assert namespace["panel"] is None and widget.controller.closed
        thread.join(5)
        assert not thread.is_alive()
        widget.close()
        widget.deleteLater()
    finally:
        daemon.stop()


def test_the_panel_never_touches_hou():
    """The panel is UI only: scene access goes through tools on the main thread. (The hou
    API fidelity scan skips the panel's Qt calls on the strength of this.)"""
    import ast

    panel_dir = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "python", "synapse_houdini", "panel")
    for name in sorted(os.listdir(panel_dir)):
        if not name.endswith(".py"):
            continue
        tree = ast.parse(open(os.path.join(panel_dir, name), encoding="utf-8").read())
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
                assert not any(n == "hou" or n.startswith("hou.") or n == "_hou" for n in names), (name, names)
            if isinstance(node, ast.Name):
                assert node.id != "hou", (name, node.lineno)
