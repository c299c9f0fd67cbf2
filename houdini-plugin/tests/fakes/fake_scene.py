"""Builds the simulated LOP network used by tests, the demo and the benchmark.

``/stage`` holds a few LOP nodes; each node's ``lastModifiedPrims()`` are the
``Sdf.Path`` objects of prims it authored on a REAL in-memory USD stage (from the
``usd-core`` package) when ``pxr`` is importable, else plain path objects.
"""

from __future__ import annotations

from typing import Any, Optional

import hou

try:  # pragma: no cover - depends on the environment
    from pxr import Sdf, Usd, UsdGeom  # type: ignore[import-not-found]

    HAVE_USD = True
except ImportError:  # pragma: no cover
    HAVE_USD = False


class _PurePath:
    """Stand-in for ``Sdf.Path`` when pxr is missing (str() is the path)."""

    def __init__(self, text: str) -> None:
        self._text = text

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"Sdf.Path({self._text!r})"


class Scene:
    """The simulated scene: the ``/stage`` network, its nodes, and the USD stage."""

    def __init__(self) -> None:
        self.stage: Any = Usd.Stage.CreateInMemory() if HAVE_USD else None
        self.root = _root()
        self.network = hou.Node("stage", "lopnet", self.root)
        self.nodes: dict[str, hou.Node] = {}

    def define(self, node: hou.Node, prim_paths: list[str], prim_type: str = "Xform") -> None:
        """Author *prim_paths* on the USD stage and record them as *node*'s last modified prims."""
        paths = []
        for position, text in enumerate(prim_paths):
            if HAVE_USD:
                prim = self.stage.GetPrimAtPath(text)
                if not prim.IsValid():
                    kind = prim_type if position == len(prim_paths) - 1 else "Xform"
                    prim = self.stage.DefinePrim(Sdf.Path(text), kind)
                paths.append(prim.GetPath())
            else:
                paths.append(_PurePath(text))
        node._prims = paths

    def add(self, name: str, type_name: str, prims: Optional[list[str]] = None, inputs: Optional[list[hou.Node]] = None,
            prim_type: str = "Xform") -> hou.Node:
        node = hou.Node(name, type_name, self.network)
        for index, upstream in enumerate(inputs or []):
            node.setInput(index, upstream)
        if prims:
            self.define(node, prims, prim_type)
        self.nodes[name] = node
        return node

    def prim_paths_on_stage(self) -> list[str]:
        if not HAVE_USD:
            return sorted(str(p) for n in self.nodes.values() for p in n._prims)
        return sorted(str(p.GetPath()) for p in self.stage.Traverse())


def _root() -> hou.Node:
    root = hou._nodes.get("/")
    if root is None:
        root = hou.Node("", "root", None)
    return root


def build_demo_scene() -> Scene:
    """A small shot: geometry, a material library, a light, a merge, a broken and a bypassed node."""
    hou.reset()
    scene = Scene()
    sphere = scene.add("sphere1", "sphere", ["/geo", "/geo/sphere1"], prim_type="Sphere" if HAVE_USD else "Xform")
    if HAVE_USD:
        UsdGeom.Sphere(scene.stage.GetPrimAtPath("/geo/sphere1")).CreateRadiusAttr(2.0)
    matlib = scene.add("materiallibrary1", "materiallibrary", ["/materials", "/materials/chrome"], inputs=[sphere])
    light = scene.add("domelight1", "domelight", ["/lights/domelight1"], inputs=[matlib])
    broken = scene.add("assign_broken", "assignmaterial", ["/geo/sphere1"], inputs=[light])
    broken._errors = ["Unable to find material /materials/gold_MISSING"]
    bypassed = scene.add("transform_bypassed", "xform", ["/geo/sphere1"], inputs=[light])
    bypassed.bypass(True)
    merge = scene.add("merge1", "merge", ["/geo", "/lights"], inputs=[light, bypassed])
    merge._warnings = ["Layer break ignored: no upstream layers"]
    merge.setDisplayFlag(True)
    return scene
