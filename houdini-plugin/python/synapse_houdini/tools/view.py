"""``houdini_capture_viewport``: one flipbook frame of the Scene Viewer, returned as a PNG image.

The frame is written by Houdini's own flipbook to a private temporary directory,
read back (at most :data:`MAX_IMAGE_BYTES`), checked (a real PNG, at most
:data:`MAX_SIDE_PX` a side, not a single colour) and deleted. The image goes to
the daemon in the reply's ``images`` field; the JSON content says what it is.
"""

from __future__ import annotations

import base64
import os
import shutil
import struct
import tempfile
import zlib
from typing import Optional

from ..errors import ToolError
from . import ToolResult
from .common import NotSupported, hou_module, make_tool

#: Largest PNG returned (decoded bytes), and largest side (design §13).
MAX_IMAGE_BYTES = 5 * 1024 * 1024
MAX_SIDE_PX = 8000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class CaptureBlank(ToolError):
    error_type = "CaptureBlank"


class CaptureFailed(ToolError):
    error_type = "CaptureFailed"


def png_header(data: bytes) -> tuple[int, int, int, int, int]:
    """``(width, height, bit_depth, colour_type, interlace)`` of a PNG, else ValueError."""
    if not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR" or len(data) < 33:
        raise ValueError("not a PNG file")
    width, height, depth, colour, _comp, _filter, interlace = struct.unpack(">IIBBBBB", data[16:29])
    return width, height, depth, colour, interlace


def _idat(data: bytes) -> bytes:
    pos, parts = 8, []
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        if kind == b"IDAT":
            parts.append(data[pos + 8:pos + 8 + length])
        elif kind == b"IEND":
            break
        pos += 12 + length
    return b"".join(parts)


def _unfilter(kind: int, row: bytearray, prev: bytes, bpp: int) -> bytearray:
    n = len(row)
    if kind == 0:
        return row
    if kind == 1:
        for i in range(bpp, n):
            row[i] = (row[i] + row[i - bpp]) & 0xFF
    elif kind == 2:
        return bytearray((a + b) & 0xFF for a, b in zip(row, prev))
    elif kind == 3:
        for i in range(n):
            left = row[i - bpp] if i >= bpp else 0
            row[i] = (row[i] + ((left + prev[i]) >> 1)) & 0xFF
    elif kind == 4:
        for i in range(n):
            a = row[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            row[i] = (row[i] + pred) & 0xFF
    else:
        raise ValueError(f"bad PNG filter type {kind}")
    return row


def is_single_colour(data: bytes) -> Optional[bool]:
    """True if every pixel of the PNG has the same value; None if this decoder cannot tell.

    Handles 8-bit RGB/RGBA/grey, non-interlaced (what a flipbook writes). Decodes
    row by row and stops at the first pixel that differs from the first one.
    """
    width, height, depth, colour, interlace = png_header(data)
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(colour)
    if depth != 8 or channels is None or interlace != 0:
        return None
    bpp = channels
    stride = width * bpp
    inflate = zlib.decompressobj()
    pending = b""
    source = _idat(data)
    offset = 0
    prev = bytes(stride)
    first: Optional[bytes] = None
    for _ in range(height):
        while len(pending) < stride + 1:
            if inflate.unconsumed_tail:
                pending += inflate.decompress(inflate.unconsumed_tail, 1 << 20)
            elif offset < len(source):
                pending += inflate.decompress(source[offset:offset + 65536], 1 << 20)
                offset += 65536
            else:
                raise ValueError("truncated PNG data")
        kind, row = pending[0], bytearray(pending[1:stride + 1])
        pending = pending[stride + 1:]
        row = _unfilter(kind, row, prev, bpp)
        if first is None:
            first = bytes(row[:bpp])
        if row != first * width:
            return False
        prev = bytes(row)
    return True


def capture_viewport(args: dict) -> ToolResult:
    hou = hou_module()
    viewer = hou.ui.paneTabOfType(hou.paneTabType.SceneViewer)
    if viewer is None:
        raise NotSupported("there is no Scene Viewer pane in this Houdini session, so there is nothing to capture")
    width, height = args["width"], args["height"]
    workdir = tempfile.mkdtemp(prefix="synapse-capture-")
    try:
        path = os.path.join(workdir, "capture.png")
        settings = viewer.flipbookSettings().stash()  # a copy: the artist's settings are untouched
        frame = hou.frame()
        settings.frameRange((frame, frame))
        settings.output(path)
        settings.useResolution(True)
        settings.resolution((width, height))
        settings.outputToMPlay(False)
        viewer.flipbook(settings=settings)
        if not os.path.isfile(path):
            raise CaptureFailed("the flipbook wrote no image (is the viewport visible?)")
        size = os.path.getsize(path)
        if size > MAX_IMAGE_BYTES:
            raise CaptureFailed(f"the capture is {size} bytes, more than {MAX_IMAGE_BYTES}; ask for a smaller size")
        with open(path, "rb") as fh:
            data = fh.read(MAX_IMAGE_BYTES + 1)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    try:
        got_w, got_h, _depth, _colour, _interlace = png_header(data)
        blank = is_single_colour(data)
    except (ValueError, zlib.error, struct.error) as exc:
        raise CaptureFailed(f"the flipbook image is not a readable PNG: {exc}") from exc
    if got_w > MAX_SIDE_PX or got_h > MAX_SIDE_PX:
        raise CaptureFailed(f"the capture is {got_w}x{got_h} px, more than {MAX_SIDE_PX} px a side")
    if blank:
        raise CaptureBlank("the capture is a single colour: the viewport shows nothing (empty scene, camera looking "
                           "away, or the viewer not drawn yet). Frame the geometry (or check the display flags) and retry")
    content = {"width": got_w, "height": got_h, "frame": frame, "bytes": len(data), "media_type": "image/png",
               "note": "the image follows as an image block"}
    return ToolResult(content, [{"media_type": "image/png", "data": base64.b64encode(data).decode("ascii")}])


TOOL = make_tool(
    "houdini_capture_viewport",
    "A picture of the current Scene Viewer (one flipbook frame at the current frame) as a PNG image you can see, "
    "with {width, height, frame}. Use it to check what the artist sees after a change. NotSupported when there is "
    "no Scene Viewer; CaptureBlank when the viewport shows a single colour.",
    capture_viewport,
    {"width": {"type": "integer", "minimum": 64, "maximum": 3840, "default": 768, "description": "Width in pixels."},
     "height": {"type": "integer", "minimum": 64, "maximum": 2160, "default": 432, "description": "Height in pixels."}},
    read_only=True,
)

TOOLS = [TOOL]
