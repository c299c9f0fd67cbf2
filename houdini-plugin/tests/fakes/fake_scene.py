"""Builds the simulated LOP network used by tests, the demo and the benchmark.

``/obj`` and ``/out`` exist (empty unless :func:`add_sop_network` fills ``/obj/geo1``);
``/stage`` holds a few LOP nodes; each node's ``lastModifiedPrims()`` are the
``Sdf.Path`` objects of prims it authored on a REAL in-memory USD stage (from the
``usd-core`` package) when ``pxr`` is importable, else plain path objects.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator, Optional

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
        self.network = hou.OpNode("stage", "lopnet", self.root)
        self.obj = hou._nodes["/obj"]
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
        node = hou.LopNode(name, type_name, self.network)
        node._stage = self.stage
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


@contextlib.contextmanager
def building() -> Iterator[None]:
    """Build scenes from the test thread: the main-thread assertion is off meanwhile."""
    previous = hou.strict
    hou.strict = False
    try:
        yield
    finally:
        hou.strict = previous


def _root() -> hou.Node:
    root = hou._nodes.get("/")
    if root is None:
        root = hou.OpNode("", "root", None)
        hou.OpNode("obj", "obj", root)
        hou.OpNode("out", "ropnet", root)
    return root


def build_demo_scene() -> Scene:
    """A small shot: geometry, a material library, a light, a merge, a broken and a bypassed node."""
    hou.reset()
    with building():
        return _build_demo_scene()


def _build_demo_scene() -> Scene:
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


def add_sop_network(scene: Scene) -> dict[str, hou.Node]:
    """``/obj/geo1``: a grid (real attribute values), a colour, a broken wrangle, a display null.

    Built with the fake's own ``createNode``/``setInput`` outside any undo group
    (then the undo stack is cleared, as after loading a hip file).
    """
    with building():
        return _add_sop_network(scene)


def _add_sop_network(scene: Scene) -> dict[str, hou.Node]:
    geo = scene.obj.createNode("geo", "geo1")
    grid = geo.createNode("grid", "grid1")
    color = geo.createNode("color", "color1")
    color.setInput(0, grid)
    wrangle = geo.createNode("attribwrangle", "broken_wrangle")
    wrangle.setInput(0, color)
    wrangle.parm("snippet").set("@P.y += 1")
    out = geo.createNode("null", "OUT")
    out.setInput(0, color)
    out.setDisplayFlag(True)
    out.setRenderFlag(True)
    hou.undos.clear()
    nodes = {"geo": geo, "grid": grid, "color": color, "wrangle": wrangle, "out": out}
    scene.sops = nodes
    return nodes


def build_big_scene(total: int = 10_000, broken_every: int = 50) -> Scene:
    """About *total* nodes: /obj/geoN networks of 99 SOPs each; every *broken_every*-th has an error."""
    scene = build_demo_scene()
    with building():
        _add_big(scene, total, broken_every)
    return scene


def _add_big(scene: Scene, total: int, broken_every: int) -> None:
    made = 0
    g = 0
    while made < total:
        geo = hou.ObjNode(f"geo{g}", "geo", scene.obj, node_type=hou.nodeType("Object/geo"))
        made += 1
        prev = None
        for i in range(min(99, total - made)):
            sop = hou.SopNode(f"xform{i}", "xform", geo, node_type=hou.nodeType("Sop/xform"))
            if prev is not None:
                sop._set_input(0, prev)
            prev = sop
            if made % broken_every == 0:
                sop._errors = [f"Simulated error on {sop._path}"]
            made += 1
        g += 1
