"""Fake ``hou.Geometry`` (part of the fake ``hou``): real attribute values, generated meshes.

:func:`grid` builds a polygon grid with real per-point ``P``, ``N``, ``Cd`` and
``id`` values, a per-primitive ``name`` string, a per-vertex ``uv`` and detail
attributes; :func:`box` a closed box. ``Geometry`` is read-only, like the
geometry of a cooked SOP.
"""

from __future__ import annotations

from typing import Any, Optional

import hou


class Attrib:
    """``hou.Attrib``: one attribute's name, class, storage and (fake-internal) values."""

    def __init__(self, name: str, klass: Any, data: Any, size: int, values: list) -> None:
        self._name, self._class, self._data, self._size, self._values = name, klass, data, size, values

    def name(self) -> str:
        hou._assert_main()
        return self._name

    def type(self) -> Any:
        return self._class

    def dataType(self) -> Any:
        return self._data

    def size(self) -> int:
        return self._size

    def isArrayType(self) -> bool:
        return False

    def defaultValue(self) -> Any:
        return 0.0 if self._data is hou.attribData.Float else (0 if self._data is hou.attribData.Int else "")


class _Element:
    _klass: Any = None

    def __init__(self, geo: "Geometry", index: int) -> None:
        self._geo = geo
        self._index = index

    def number(self) -> int:
        return self._index

    def attribValue(self, attrib: Any) -> Any:
        hou._assert_main()
        name = attrib.name() if isinstance(attrib, Attrib) else attrib
        found = self._geo._find(self._klass, name)
        if found is None:
            raise hou.OperationFailed(f"Invalid attribute name '{name}'")
        return found._values[self._index]


class Point(_Element):
    _klass = hou.attribType.Point

    def position(self) -> "hou.Vector3":
        return hou.Vector3(self.attribValue("P"))


class Prim(_Element):
    _klass = hou.attribType.Prim

    def type(self) -> Any:
        return "Poly"


class BoundingBox:
    def __init__(self, lo: tuple, hi: tuple) -> None:
        self._lo, self._hi = lo, hi

    def minvec(self) -> "hou.Vector3":
        return hou.Vector3(self._lo)

    def maxvec(self) -> "hou.Vector3":
        return hou.Vector3(self._hi)

    def sizevec(self) -> "hou.Vector3":
        return hou.Vector3(tuple(h - l for l, h in zip(self._lo, self._hi)))

    def center(self) -> "hou.Vector3":
        return hou.Vector3(tuple((h + l) / 2 for l, h in zip(self._lo, self._hi)))


class Geometry:
    """``hou.Geometry`` of a cooked SOP (read-only)."""

    def __init__(self, npoints: int, prim_vertices: list[list[int]], attribs: list[Attrib]) -> None:
        self._npoints = npoints
        self._prims = prim_vertices
        self._attribs = attribs

    def _find(self, klass: Any, name: str) -> Optional[Attrib]:
        for attrib in self._attribs:
            if attrib._class is klass and attrib._name == name:
                return attrib
        return None

    def _of(self, klass: Any) -> tuple[Attrib, ...]:
        hou._assert_main()
        return tuple(a for a in self._attribs if a._class is klass)

    def pointAttribs(self, scope: Any = None) -> tuple[Attrib, ...]:
        return self._of(hou.attribType.Point)

    def primAttribs(self, scope: Any = None) -> tuple[Attrib, ...]:
        return self._of(hou.attribType.Prim)

    def vertexAttribs(self, scope: Any = None) -> tuple[Attrib, ...]:
        return self._of(hou.attribType.Vertex)

    def globalAttribs(self, scope: Any = None) -> tuple[Attrib, ...]:
        return self._of(hou.attribType.Global)

    def findPointAttrib(self, name: str, scope: Any = None) -> Optional[Attrib]:
        return self._find(hou.attribType.Point, name)

    def pointCount(self) -> int:
        hou._assert_main()
        return self._npoints

    def primCount(self) -> int:
        hou._assert_main()
        return len(self._prims)

    def vertexCount(self) -> int:
        hou._assert_main()
        return sum(len(p) for p in self._prims)

    def point(self, index: int) -> Optional[Point]:
        return Point(self, index) if 0 <= index < self._npoints else None

    def prim(self, index: int) -> Optional[Prim]:
        return Prim(self, index) if 0 <= index < len(self._prims) else None

    def points(self) -> tuple[Point, ...]:
        return tuple(Point(self, i) for i in range(self._npoints))

    def prims(self) -> tuple[Prim, ...]:
        return tuple(Prim(self, i) for i in range(len(self._prims)))

    def iterPoints(self) -> tuple[Point, ...]:
        return self.points()

    def iterPrims(self) -> tuple[Prim, ...]:
        return self.prims()

    def attribValue(self, name_or_attrib: Any) -> Any:
        hou._assert_main()
        name = name_or_attrib.name() if isinstance(name_or_attrib, Attrib) else name_or_attrib
        found = self._find(hou.attribType.Global, name)
        if found is None:
            raise hou.OperationFailed(f"Invalid attribute name '{name}'")
        return found._values[0]

    def boundingBox(self, transform: Any = None) -> BoundingBox:
        hou._assert_main()
        positions = self._find(hou.attribType.Point, "P")
        if positions is None or not positions._values:
            return BoundingBox((0.0, 0.0, 0.0), (0.0, 0.0, 0.0))
        lo = tuple(min(p[i] for p in positions._values) for i in range(3))
        hi = tuple(max(p[i] for p in positions._values) for i in range(3))
        return BoundingBox(lo, hi)

    def intrinsicValue(self, intrinsic_name: str) -> Any:
        hou._assert_main()
        table = {"pointcount": self._npoints, "primitivecount": len(self._prims), "vertexcount": self.vertexCount()}
        if intrinsic_name not in table:
            raise hou.OperationFailed(f"Invalid intrinsic name '{intrinsic_name}'")
        return table[intrinsic_name]


def grid(rows: int = 4, cols: int = 5, size: float = 2.0) -> Geometry:
    """A polygon grid in XZ with real point, primitive, vertex and detail attribute values."""
    P, N, Cd, ids = [], [], [], []
    for r in range(rows):
        for c in range(cols):
            x = -size / 2 + size * c / max(cols - 1, 1)
            z = -size / 2 + size * r / max(rows - 1, 1)
            P.append((round(x, 6), 0.0, round(z, 6)))
            N.append((0.0, 1.0, 0.0))
            Cd.append((round(c / max(cols - 1, 1), 6), 0.5, round(r / max(rows - 1, 1), 6)))
            ids.append(r * cols + c)
    prims, names, uvs = [], [], []
    for r in range(rows - 1):
        for c in range(cols - 1):
            a = r * cols + c
            prims.append([a, a + 1, a + cols + 1, a + cols])
            names.append(f"piece{(r * (cols - 1) + c) % 2}")
            uvs.extend([(c / cols, r / rows, 0.0)] * 4)
    A = hou.attribType
    D = hou.attribData
    attribs = [
        Attrib("P", A.Point, D.Float, 3, P),
        Attrib("N", A.Point, D.Float, 3, N),
        Attrib("Cd", A.Point, D.Float, 3, Cd),
        Attrib("id", A.Point, D.Int, 1, ids),
        Attrib("name", A.Prim, D.String, 1, names),
        Attrib("uv", A.Vertex, D.Float, 3, uvs),
        Attrib("source", A.Global, D.String, 1, ["fake grid"]),
        Attrib("scale", A.Global, D.Float, 1, [1.5]),
    ]
    return Geometry(len(P), prims, attribs)


def box(size: float = 1.0) -> Geometry:
    """A closed box: 8 points, 6 quads, ``P`` and a per-primitive ``side`` integer."""
    h = size / 2
    P = [(x, y, z) for x in (-h, h) for y in (-h, h) for z in (-h, h)]
    quads = [[0, 1, 3, 2], [4, 6, 7, 5], [0, 4, 5, 1], [2, 3, 7, 6], [0, 2, 6, 4], [1, 5, 7, 3]]
    A = hou.attribType
    attribs = [Attrib("P", A.Point, hou.attribData.Float, 3, P),
               Attrib("side", A.Prim, hou.attribData.Int, 1, list(range(6)))]
    return Geometry(len(P), quads, attribs)
