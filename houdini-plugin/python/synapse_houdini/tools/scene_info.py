"""``houdini_scene_info``: hip path, current frame, fps, frame range, Houdini version."""

from __future__ import annotations

from typing import Any

from .common import make_tool


def scene_info(_input: dict) -> dict[str, Any]:
    """Collect a small, read-only summary of the open scene."""
    import hou  # type: ignore[import-not-found]

    start, end = hou.playbar.frameRange()
    return {
        "hip": hou.hipFile.path(),
        "frame": float(hou.frame()),
        "fps": float(hou.fps()),
        "frame_range": [float(start), float(end)],
        "houdini_version": hou.applicationVersionString(),
    }


TOOL = make_tool(
    "houdini_scene_info",
    "Summary of the open Houdini scene: the .hip file path, the current frame, "
    "frames per second, the playbar frame range and the Houdini version. "
    "Start here, then houdini_list_nodes to see the networks.",
    scene_info,
    read_only=True,
)
