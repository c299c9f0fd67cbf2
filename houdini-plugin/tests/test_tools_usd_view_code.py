"""USD tools on a real usd-core stage, the viewport capture (real PNG files) and execute_python."""

from __future__ import annotations

import base64
import glob
import os
import tempfile
import zlib

import pytest

import hou
import hou_ui
from synapse_houdini.tools import ToolResult
from synapse_houdini.tools.view import is_single_colour, png_header
from tools_helpers import fails, run, snapshot

pxr = pytest.importorskip("pxr", reason="usd-core is in tests/requirements.txt")


def test_usd_prims_walks_the_real_stage(scene):
    out = run("houdini_usd_prims", {"lop_path": "/stage/merge1"})
    assert out["lop_path"] == "/stage/merge1" and out["prim_path"] == "/" and out["truncated"] is False
    by_path = {p["path"]: p for p in out["prims"]}
    assert by_path["/geo/sphere1"] == {"path": "/geo/sphere1", "type": "Sphere", "depth": 2, "children": 0, "active": True}
    assert by_path["/geo"]["children"] == 1 and "/lights/domelight1" in by_path
    assert sorted(by_path) == sorted(scene.prim_paths_on_stage())  # everything within depth 2
    one = run("houdini_usd_prims", {"lop_path": "/stage/merge1", "prim_path": "/geo", "depth": 1, "limit": 1})
    assert [p["path"] for p in one["prims"]] == ["/geo/sphere1"] and one["truncated"] is False
    cut = run("houdini_usd_prims", {"lop_path": "/stage/merge1", "limit": 2})
    assert len(cut["prims"]) == 2 and cut["truncated"] is True


def test_usd_prim_info_reads_real_attributes(scene):
    stage = scene.stage
    from pxr import Sdf, Vt

    prim = stage.GetPrimAtPath("/geo/sphere1")
    prim.CreateAttribute("points_big", Sdf.ValueTypeNames.Point3fArray).Set(Vt.Vec3fArray([(i, 0, 0) for i in range(50)]))
    prim.CreateRelationship("material:binding").AddTarget("/materials/chrome")
    out = run("houdini_usd_prim_info", {"lop_path": "/stage/merge1", "prim_path": "/geo/sphere1"})
    assert out["path"] == "/geo/sphere1" and out["type"] == "Sphere" and out["active"] is True
    attrs = {a["name"]: a for a in out["attributes"]}
    assert attrs["radius"]["value"] == 2.0 and attrs["radius"]["type"] == "double"
    assert attrs["points_big"]["value"]["length"] == 50 and attrs["points_big"]["value"]["first"][1] == [1.0, 0.0, 0.0]
    assert out["relationships"] == [{"name": "material:binding", "targets": ["/materials/chrome"]}]
    assert out["specifier"] == "SpecifierDef"


def test_usd_errors(scene):
    fails("houdini_usd_prims", {"lop_path": "/stage/merge1", "prim_path": "/nope"}, "PrimNotFound", "/nope")
    fails("houdini_usd_prim_info", {"lop_path": "/stage/merge1", "prim_path": "geo"}, "InvalidInput", "input.prim_path")
    fails("houdini_usd_prim_info", {"lop_path": "/stage/assign_broken", "prim_path": "/geo"}, "CookError", "gold_MISSING")
    fails("houdini_usd_prims", {"lop_path": "/obj"}, "NotSupported", "not a LOP node")
    fails("houdini_usd_prims", {"lop_path": "/stage/ghost"}, "NodeNotFound", "input.lop_path")


def _captures_left() -> list[str]:
    return glob.glob(os.path.join(tempfile.gettempdir(), "synapse-capture-*"))


def test_capture_viewport_returns_a_valid_png(scene):
    left_before = _captures_left()
    result = run("houdini_capture_viewport", {})
    assert isinstance(result, ToolResult)
    assert result.content["width"] == 768 and result.content["height"] == 432 and result.content["frame"] == 1001.0
    [image] = result.images
    assert image["media_type"] == "image/png"
    data = base64.b64decode(image["data"], validate=True)
    assert png_header(data)[:2] == (768, 432) and len(data) == result.content["bytes"] <= 5 * 1024 * 1024
    assert is_single_colour(data) is False
    assert _captures_left() == left_before  # the temporary file and folder were deleted
    viewer = hou.ui._scene_viewer
    assert viewer._settings.output() == "" and viewer.flipbooks == 1  # the artist's settings were not changed
    small = run("houdini_capture_viewport", {"width": 64, "height": 64})
    assert png_header(base64.b64decode(small.images[0]["data"]))[:2] == (64, 64)


def test_capture_viewport_refusals(scene, tmp_path):
    hou.ui._blank_capture = True
    fails("houdini_capture_viewport", {"width": 100, "height": 80}, "CaptureBlank", "single colour")
    hou.ui._blank_capture = False
    hou.ui._scene_viewer = None
    fails("houdini_capture_viewport", {}, "NotSupported", "Scene Viewer")
    fails("houdini_capture_viewport", {"width": 100000}, "InvalidInput", "input.width")
    fails("houdini_capture_viewport", {"width": 10}, "InvalidInput", "minimum")


@pytest.mark.parametrize("filter_type", [0, 1, 2, 3, 4])
def test_single_colour_check_decodes_every_png_filter(tmp_path, filter_type):
    """Rows written with each PNG filter decode to the right pixels (a flat and a varied image)."""
    import struct

    def png(pixels, width, height):
        raw = b""
        prev = bytes(width * 3)
        for y in range(height):
            row = bytes(pixels[y])
            out = bytearray()
            for i, v in enumerate(row):
                a = row[i - 3] if i >= 3 else 0
                b = prev[i]
                c = prev[i - 3] if i >= 3 else 0
                pred = [0, a, b, (a + b) >> 1, _paeth(a, b, c)][filter_type]
                out.append((v - pred) & 0xFF)
            raw += bytes([filter_type]) + bytes(out)
            prev = row

        def chunk(kind, data):
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))

    flat = [[7, 8, 9] * 5 for _ in range(4)]
    varied = [[7, 8, 9] * 5 for _ in range(3)] + [[7, 8, 9] * 4 + [7, 8, 10]]
    assert is_single_colour(png(flat, 5, 4)) is True
    assert is_single_colour(png(varied, 5, 4)) is False


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def test_fake_flipbook_png_is_decodable(tmp_path):
    path = str(tmp_path / "x.png")
    hou_ui.write_png(path, 32, 16, blank=True)
    assert is_single_colour(open(path, "rb").read()) is True


def test_execute_python_captures_output_and_result(scene):
    out = run("houdini_execute_python", {"code": "import sys\nprint('hello', hou.node('/stage').path())\n"
                                                 "print('warn', file=sys.stderr)\nlen(hou.node('/stage').children())"})
    assert out == {"stdout": "hello /stage\n", "stderr": "warn\n", "result": 6}
    assert run("houdini_execute_python", {"code": "x = 1"}) == {"stdout": "", "stderr": ""}
    big = run("houdini_execute_python", {"code": "print('x' * 50000)"})
    assert len(big["stdout"]) < 20_100 and "50001 chars in all" in big["stdout"]


def test_execute_python_errors(scene):
    fails("houdini_execute_python", {"code": "print('before')\n1/0"}, "PythonError", "ZeroDivisionError", "before")
    fails("houdini_execute_python", {"code": "def f(:\n  pass"}, "PythonError", "SyntaxError")
    fails("houdini_execute_python", {"code": ""}, "InvalidInput", "input.code")
    gone = scene.nodes["sphere1"]
    hou.main.run_sync(gone.destroy)
    hou.__dict__["_gone"] = gone
    try:
        fails("houdini_execute_python", {"code": "hou._gone.path()"}, "ObjectWasDeleted")
    finally:
        del hou.__dict__["_gone"]


def test_execute_python_stops_runaway_code_at_the_deadline(scene):
    from synapse_houdini import context
    from tools_helpers import TOOLS

    def body():
        with context.running("houdini_execute_python", "c1", "t1", 1.0):
            return TOOLS["houdini_execute_python"].fn(
                {"code": "while True:\n    try:\n        pass\n    except Exception:\n        pass"})
    with pytest.raises(BaseException) as info:
        hou.main.run_sync(body, timeout=10)
    assert type(info.value).__name__ == "ExecutionTimeout"
    assert hou.main.latency() < 1.0  # the main thread is free again


def test_execute_python_that_only_reads_changes_nothing(scene):
    before = snapshot()
    run("houdini_execute_python", {"code": "[n.path() for n in hou.node('/stage').children()]"})
    assert snapshot() == before
