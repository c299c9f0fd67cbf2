"""Fake ``hou.ui`` (part of the fake ``hou``): modal dialogs, pane tabs, a Scene Viewer.

The Scene Viewer's ``flipbook()`` writes a real PNG (zlib + struct) of the
requested resolution to the settings' output path: a shaded gradient with a
disc, or a single colour when a test sets ``ui._blank_capture``. Tests remove the
viewer with ``ui._scene_viewer = None`` (a session without a Scene Viewer).
"""

from __future__ import annotations

import struct
import zlib
from typing import Any, Optional, Sequence

import hou


def write_png(path: str, width: int, height: int, blank: bool = False) -> None:
    """An RGB PNG: a gradient with a disc (or one flat colour when *blank*)."""
    rows = []
    cx, cy, r2 = width / 2, height / 2, (min(width, height) / 3) ** 2
    for y in range(height):
        row = bytearray(b"\x00")
        for x in range(width):
            if blank:
                row += b"\x30\x30\x30"
            elif (x - cx) ** 2 + (y - cy) ** 2 < r2:
                row += bytes((200, 120 + (x * 100) // max(width, 1), 40))
            else:
                row += bytes(((x * 255) // max(width, 1), (y * 255) // max(height, 1), 90))
        rows.append(bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"".join(rows), 6)) + chunk(b"IEND", b"")
    with open(path, "wb") as fh:
        fh.write(data)


class FlipbookSettings:
    def __init__(self) -> None:
        self._values: dict[str, Any] = {"frameRange": (1001.0, 1100.0), "output": "", "resolution": (640, 360),
                                        "useResolution": False, "outputToMPlay": True, "sessionLabel": ""}

    def stash(self) -> "FlipbookSettings":
        copy = FlipbookSettings()
        copy._values = dict(self._values)
        return copy

    def _get_set(self, key: str, value: Any) -> Any:
        if value is None:
            return self._values[key]
        self._values[key] = value
        return None

    def frameRange(self, value: Optional[Sequence[float]] = None) -> Any:
        return self._get_set("frameRange", tuple(value) if value is not None else None)

    def output(self, value: Optional[str] = None) -> Any:
        return self._get_set("output", value)

    def resolution(self, value: Optional[tuple[int, int]] = None) -> Any:
        return self._get_set("resolution", tuple(value) if value is not None else None)

    def useResolution(self, value: Optional[bool] = None) -> Any:
        return self._get_set("useResolution", value)

    def outputToMPlay(self, value: Optional[bool] = None) -> Any:
        return self._get_set("outputToMPlay", value)

    def sessionLabel(self, value: Optional[str] = None) -> Any:
        return self._get_set("sessionLabel", value)


class PaneTab:
    def __init__(self, kind: Any, name: str) -> None:
        self._kind, self._name = kind, name

    def type(self) -> Any:
        return self._kind

    def name(self) -> str:
        return self._name

    def isCurrentTab(self) -> bool:
        return True


class SceneViewer(PaneTab):
    def __init__(self) -> None:
        super().__init__(hou.paneTabType.SceneViewer, "panetab1")
        self._test_records = ("flipbooks",)
        self._settings = FlipbookSettings()
        self.flipbooks = 0

    def flipbookSettings(self) -> FlipbookSettings:
        hou._assert_main()
        return self._settings

    def flipbook(self, viewport: Any = None, settings: Optional[FlipbookSettings] = None, open_dialog: bool = False) -> None:
        hou._assert_main()
        s = settings or self._settings
        self.flipbooks += 1
        out = s.output()
        if not out:
            return  # to MPlay: nothing on disk
        width, height = s.resolution() if s.useResolution() else (640, 360)
        write_png(out, int(width), int(height), blank=ui._blank_capture)


class ui:
    """``hou.ui`` with the modal methods (they record calls and return defaults)."""

    _test_records = ("calls",)  # not in the real module: what tests inspect
    calls: list = []
    _scene_viewer: Optional[SceneViewer] = None
    _blank_capture = False

    @staticmethod
    def _reset() -> None:
        ui._scene_viewer = SceneViewer()
        ui._blank_capture = False

    @staticmethod
    def paneTabOfType(type: Any, index: int = 0) -> Optional[PaneTab]:
        hou._assert_main()
        if type is hou.paneTabType.SceneViewer and index == 0:
            return ui._scene_viewer
        return None

    @staticmethod
    def paneTabs() -> tuple[PaneTab, ...]:
        return (ui._scene_viewer,) if ui._scene_viewer is not None else ()

    @staticmethod
    def displayMessage(text: str, *args: Any, **kwargs: Any) -> int:
        ui.calls.append("displayMessage")
        return 0

    @staticmethod
    def displayConfirmation(text: str, *args: Any, **kwargs: Any) -> bool:
        ui.calls.append("displayConfirmation")
        return True

    @staticmethod
    def displayFileDependencyDialog(*args: Any, **kwargs: Any) -> tuple:
        ui.calls.append("displayFileDependencyDialog")
        return (True, ())

    @staticmethod
    def selectFromList(choices: Any, *args: Any, **kwargs: Any) -> tuple:
        ui.calls.append("selectFromList")
        return ()

    @staticmethod
    def selectFromTree(choices: Any, *args: Any, **kwargs: Any) -> tuple:
        ui.calls.append("selectFromTree")
        return ()

    @staticmethod
    def selectFile(*args: Any, **kwargs: Any) -> str:
        ui.calls.append("selectFile")
        return ""

    @staticmethod
    def selectNode(*args: Any, **kwargs: Any) -> Optional[str]:
        ui.calls.append("selectNode")
        return None

    @staticmethod
    def readInput(message: str, *args: Any, **kwargs: Any) -> tuple:
        ui.calls.append("readInput")
        return (0, "")

    @staticmethod
    def readMultiInput(message: str, input_labels: Any, *args: Any, **kwargs: Any) -> tuple:
        ui.calls.append("readMultiInput")
        return (0, ())


ui._reset()
