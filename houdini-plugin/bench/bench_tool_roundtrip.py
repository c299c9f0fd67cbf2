#!/usr/bin/env python3
"""Micro-benchmark: one ``tool.invoke`` round trip through the plugin.

Path measured (all real, in one process): a daemon-side peer writes a
``tool.invoke`` line on a Unix socket → the plugin's RPC reader, which queues the body
with ``hdefereval.executeDeferred`` onto the fake Houdini main thread (a real thread
pumping a queue) → a no-op tool body with modal-dialog suppression → a worker thread sends the
reply line back on the socket → the daemon side matches it. The daemon side is the Python
stand-in in ``tests/fakes/fake_daemon.py`` (the Rust daemon only sends
``tool.invoke`` inside a model turn).

Usage: ``python3 houdini-plugin/bench/bench_tool_roundtrip.py [--calls 5000] [--concurrency 1]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PLUGIN = os.path.dirname(HERE)
sys.path[:0] = [os.path.join(PLUGIN, "python"), os.path.join(PLUGIN, "tests", "fakes")]

import hou  # noqa: E402  (the fake)
import synapse_houdini  # noqa: E402
from fake_daemon import FakeDaemon  # noqa: E402
from synapse_houdini.tools import ToolDef  # noqa: E402

NOOP = ToolDef(name="bench_noop", description="does nothing", fn=lambda tool_input: {"ok": True})


def percentile(sorted_values: list[float], p: float) -> float:
    index = min(len(sorted_values) - 1, max(0, int(round(p / 100.0 * len(sorted_values))) - 1))
    return sorted_values[index]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=1)
    args = parser.parse_args()
    if args.calls < 2000:
        parser.error("--calls must be at least 2000")

    workdir = tempfile.mkdtemp(prefix="synapse-bench-")
    os.environ["SYNAPSED_BIN"] = os.path.join(workdir, "no-synapsed")  # never spawn: the fake daemon listens
    daemon = FakeDaemon(os.path.join(workdir, "rt", "synapsed.sock")).start()
    hou.main.start()
    host = synapse_houdini.start(socket_path=daemon.path, is_main_thread=hou.main.is_main_thread, extra_tools=[NOOP])
    if not host.wait_registered(10):
        print("plugin did not register", file=sys.stderr)
        return 1
    conn = daemon.host()

    def one_call(i: int) -> float:
        params = {"call_id": f"toolu_bench_{i}", "turn_id": "turn_bench", "name": "bench_noop", "input": {}, "timeout_s": 30}
        t0 = time.perf_counter()
        reply = conn.request("tool.invoke", params, timeout=30)
        elapsed = time.perf_counter() - t0
        result = reply.get("result") or {}
        if result.get("is_error") is not False:
            raise RuntimeError(f"call {i} failed: {reply}")
        return elapsed

    for i in range(args.warmup):
        one_call(-1 - i)

    samples: list[float] = []
    lock = threading.Lock()
    counter = iter(range(args.calls))

    def worker() -> None:
        local = []
        for i in counter:
            local.append(one_call(i))
        with lock:
            samples.extend(local)

    t_start = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(args.concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t_start

    synapse_houdini.stop()
    daemon.stop()
    hou.main.stop()

    ordered = sorted(samples)
    ms = 1000.0
    print(f"tool round trip through the plugin (fake main thread, no-op body), Python {sys.version.split()[0]}")
    print(f"calls: {len(ordered)}  concurrency: {args.concurrency}  wall: {wall:.2f} s  throughput: {len(ordered) / wall:.0f} calls/s")
    print(f"p50: {percentile(ordered, 50) * ms:.3f} ms  p90: {percentile(ordered, 90) * ms:.3f} ms  "
          f"p99: {percentile(ordered, 99) * ms:.3f} ms  max: {ordered[-1] * ms:.3f} ms  mean: {statistics.mean(ordered) * ms:.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
