"""The floor of the plugin's design, for the Rust benches (not part of the plugin).

The same thread layout as ``synapse_houdini`` serving ``tool.invoke``: one reader
thread that reads and parses each line and hands the call to one "main" thread
through a queue; the main thread makes the reply and sends it. Nothing else: no
marshal, no call records, no timeouts, no dialog suppression, no undo. The round
trip through this host is the least the plugin's layout can cost on a machine;
the real plugin's figure minus this one is the plugin's own work.

Run by ``tool_roundtrip`` and ``direct_call`` in place of the real plugin with
``SYNAPSE_BENCH_HOST_SCRIPT=houdini-plugin/bench/floor_host.py``; arguments and
output as the real host script (``registered`` once ``host.register`` answered).
"""
import json
import os
import queue
import socket
import sys
import threading

root, path = sys.argv[1], sys.argv[2]
sys.path[:0] = [os.path.join(root, "houdini-plugin", "python")]
from synapse_houdini.tools import ToolDef  # noqa: E402 - after the path

spec = ToolDef(name="bench_noop", description="does nothing", fn=lambda tool_input: {"ok": True}).spec()
sock = socket.socket(socket.AF_UNIX)
sock.connect(path)
lines = sock.makefile("rb")
register = {"name": "floor", "houdini_version": "none", "pid": os.getpid(), "ui_available": False, "tools": [spec]}
sock.sendall((json.dumps({"jsonrpc": "2.0", "id": 1, "method": "host.register", "params": register}) + "\n").encode())
if "result" not in json.loads(lines.readline()):
    sys.exit("host.register failed")
calls: "queue.Queue[object]" = queue.Queue()


def reader() -> None:
    for line in lines:
        message = json.loads(line)
        if message.get("method") == "tool.invoke":
            calls.put(message["id"])


def main_thread() -> None:
    while True:
        call_id = calls.get()
        reply = {"jsonrpc": "2.0", "id": call_id, "result": {"is_error": False, "content": {"ok": True}}}
        sock.sendall(json.dumps(reply).encode() + b"\n")


threading.Thread(target=reader, name="floor-reader", daemon=True).start()
threading.Thread(target=main_thread, name="floor-main", daemon=True).start()
print("registered", flush=True)
sys.stdin.read()  # until the bench closes our stdin
