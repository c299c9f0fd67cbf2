"""Thread wake-ups per ``tool.call``: context switches per thread of the daemon, the plugin host and the client.

A scripted client calls the plugin's no-op tool through a real ``synapsed`` N times
(after 200 warm-up calls) and reads every thread's ``voluntary_ctxt_switches`` and
``nonvoluntary_ctxt_switches`` from ``/proc/PID/task/TID/status`` before and after
(Linux only). A voluntary switch is a thread blocking (and so, later, being woken).
Also prints p50/p99 of the round trip (not a benchmark: use ``cargo bench``).

Usage: python tool_call_wakes.py SYNAPSED_BIN REPO_ROOT N   (ADR 0036, performance.md "Tool calls, stop 10")
"""
import json, os, socket, subprocess, sys, tempfile, time, collections

bin_, root, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
tmp = tempfile.mkdtemp(prefix="wakes-")
sock = os.path.join(tmp, "s.sock")
env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC")}
env.update(SYNAPSE_LOG="warn", SYNAPSE_KEYRING="off", ANTHROPIC_BASE_URL="http://127.0.0.1:9",
           HOME=os.path.join(tmp, "home"), XDG_CONFIG_HOME=os.path.join(tmp, "cfg"))
d = subprocess.Popen([bin_, "serve", "--socket", sock, "--data-dir", os.path.join(tmp, "data")], env=env,
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
for _ in range(200):
    if os.path.exists(sock):
        break
    time.sleep(0.05)
host_script = r'''
import os, sys
root = sys.argv[1]
sys.path[:0] = [os.path.join(root, "houdini-plugin", "python"), os.path.join(root, "houdini-plugin", "tests", "fakes")]
os.environ["SYNAPSED_BIN"] = "/nonexistent/synapsed"
import hou, synapse_houdini
from synapse_houdini.tools import ToolDef
hou.main.start()
noop = ToolDef(name="bench_noop", description="does nothing", fn=lambda tool_input: {"ok": True})
host = synapse_houdini.start(socket_path=sys.argv[2], is_main_thread=hou.main.is_main_thread, extra_tools=[noop])
if not host.wait_registered(10):
    sys.exit("plugin did not register")
import threading, json
print("registered", flush=True)
print(json.dumps({t.native_id: t.name for t in threading.enumerate()}), flush=True)
sys.stdin.read()
synapse_houdini.stop()
hou.main.stop()
'''
h = subprocess.Popen([sys.executable, "-c", host_script, root, sock], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
assert h.stdout.readline().strip() == "registered"
names = {str(k): v for k, v in json.loads(h.stdout.readline()).items()}

def ctx(pid):
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            comm = open(f"/proc/{pid}/task/{tid}/comm").read().strip()
            st = open(f"/proc/{pid}/task/{tid}/status").read().split("\n")
        except OSError:
            continue
        v = int([l for l in st if l.startswith("voluntary_ctxt")][0].split()[1])
        nv = int([l for l in st if l.startswith("nonvoluntary_ctxt")][0].split()[1])
        out[(tid, names.get(tid, comm) if pid == h.pid else comm)] = (v, nv)
    return out

c = socket.socket(socket.AF_UNIX); c.connect(sock); f = c.makefile("rb")
def call(i, method, params):
    c.sendall((json.dumps({"jsonrpc": "2.0", "id": i, "method": method, "params": params}) + "\n").encode())
    while True:
        m = json.loads(f.readline())
        if m.get("id") == i:
            return m
for i in range(200):  # warm up
    r = call(i, "tool.call", {"name": "bench_noop", "input": {}})
assert "result" in r, r
before = {p: ctx(p) for p in (d.pid, h.pid, os.getpid())}
t0 = time.perf_counter()
lat = []
for i in range(n):
    s = time.perf_counter()
    call(1000 + i, "tool.call", {"name": "bench_noop", "input": {}})
    lat.append(time.perf_counter() - s)
wall = time.perf_counter() - t0
after = {p: ctx(p) for p in (d.pid, h.pid, os.getpid())}
lat.sort()
print(f"calls {n}; p50 {lat[n//2]*1e6:.0f} us p99 {lat[int(n*0.99)]*1e6:.0f} us; load {open('/proc/loadavg').read().split()[:3]}")
for p, name in ((d.pid, "daemon"), (h.pid, "plugin"), (os.getpid(), "client")):
    tot_v = tot_nv = 0
    rows = collections.defaultdict(lambda: [0, 0, 0])
    for key, (v, nv) in after[p].items():
        bv, bnv = before[p].get(key, (0, 0))
        if v - bv or nv - bnv:
            r = rows[key[1] if p != h.pid else key[1] + "/" + key[0]]; r[0] += v - bv; r[1] += nv - bnv; r[2] += 1
            tot_v += v - bv; tot_nv += nv - bnv
    print(f"  {name}: {tot_v/n:.2f} voluntary + {tot_nv/n:.2f} involuntary switches per call")
    for comm, (v, nv, k) in sorted(rows.items(), key=lambda x: -x[1][0]):
        print(f"    {comm:24s} threads {k}: {v/n:.2f} vol, {nv/n:.2f} invol per call")
h.stdin.close(); h.wait(10); d.terminate(); d.wait(10)
