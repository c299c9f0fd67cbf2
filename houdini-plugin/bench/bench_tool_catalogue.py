#!/usr/bin/env python3
"""Benchmark: main-thread time of catalogue tools on a 10,000-node fake scene.

Builds ``/obj/geoN`` networks of 99 SOPs each (about 10,000 nodes; every 50th has
an error) next to the demo ``/stage``, then times the tool bodies ON the fake
Houdini main thread (validation included; the socket round trip is measured by
``bench_tool_roundtrip.py``). The fake ``hou`` is a Python simulation: each HOM
call costs a Python method call plus the main-thread assertion, so these numbers
measure the plugin's own work (walks, bounds, JSON building), not Houdini's.

Usage: ``python3 houdini-plugin/bench/bench_tool_catalogue.py [--nodes 10000] [--runs 15]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PLUGIN = os.path.dirname(HERE)
sys.path[:0] = [os.path.join(PLUGIN, "python"), os.path.join(PLUGIN, "tests", "fakes")]

import fake_scene  # noqa: E402
import hou  # noqa: E402  (the fake)
from synapse_houdini.tools import builtin_tools  # noqa: E402

CASES = [
    ("houdini_list_nodes", {"root": "/", "max_depth": 20, "limit": 500}, "first 500 of the walk"),
    ("houdini_list_nodes", {"root": "/", "max_depth": 20, "limit": 5000, "type_filter": "nomatch*"},
     "full walk, filter matches nothing"),
    ("houdini_find_errors", {"root": "/", "limit": 200}, "every node checked"),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    tools = {t.name: t for t in builtin_tools()}
    hou.main.start()
    try:
        fake_scene.build_big_scene(args.nodes)
        total = len(hou._nodes)
        print(f"scene: {total} nodes (python {sys.version.split()[0]})")
        for name, tool_input, what in CASES:
            times, size, out = [], 0, None
            for _ in range(args.runs):
                def body():
                    t0 = time.perf_counter()
                    result = tools[name].fn(dict(tool_input))
                    return time.perf_counter() - t0, result
                elapsed, out = hou.main.run_sync(body, timeout=60)
                times.append(elapsed * 1000.0)
                size = len(json.dumps(out))
            listed = len(out["nodes"])
            print(f"{name} {json.dumps(tool_input)} ({what}): min {min(times):.1f} ms, median "
                  f"{statistics.median(times):.1f} ms, max {max(times):.1f} ms; {listed} entries, "
                  f"truncated={out['truncated']}, {size} bytes of JSON")
    finally:
        hou.main.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
