//! Set-up shared by the benchmark binaries in `crates/synapsed/benches`
//! (`tool_roundtrip`, `direct_call`, `approvals`), so each bench keeps only
//! what it measures:
//!
//! - [`PluginHost`]: the real Python plugin (`synapse_houdini`) in a child
//!   process, with the fake Houdini main thread and one no-op tool
//!   ([`NOOP_TOOL`]), registered with a daemon;
//! - [`daemon_bin`]: the daemon binary measured (`SYNAPSE_BENCH_DAEMON` for
//!   an A/B against another build);
//! - [`Figure`]: the one line a bench prints per figure, with its target
//!   and whether it was met.
//!
//! (The in-process daemon is started by the benches themselves: this crate
//! cannot depend on `synapse-daemon`, whose tests depend on it.)

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::daemon::{repo_root, test_python};
use crate::stats::p50_p99_max;

/// The no-op tool the plugin host registers besides its catalogue.
pub const NOOP_TOOL: &str = "bench_noop";

/// How long the plugin may take to register.
pub const REGISTER_TIMEOUT: Duration = Duration::from_secs(20);

/// The plugin host process: `synapse_houdini.start()` against the daemon's
/// socket, the fake `hou` main loop pumping `hdefereval` calls on a real
/// thread, [`NOOP_TOOL`] answering `{"ok": true}`. It prints `registered`
/// once `host.register` succeeded and runs until its stdin closes; then it
/// prints the passes of Python's cyclic collector (count and longest pause
/// per generation) to stderr.
const HOST_SCRIPT: &str = r#"
import os, sys
root = sys.argv[1]
sys.path[:0] = [os.path.join(root, "houdini-plugin", "python"), os.path.join(root, "houdini-plugin", "tests", "fakes")]
os.environ["SYNAPSED_BIN"] = "/nonexistent/synapsed"   # never spawn: the daemon is already listening
import gc, time, hou, synapse_houdini
from synapse_houdini.tools import ToolDef
pauses, began = {0: [], 1: [], 2: []}, [0.0]
def collector(phase, info):   # the cyclic collector's pauses, by generation
    if phase == "start":
        began[0] = time.perf_counter()
    else:
        pauses[info["generation"]].append((time.perf_counter() - began[0]) * 1e3)
gc.callbacks.append(collector)
hou.main.start()
noop = ToolDef(name="bench_noop", description="does nothing", fn=lambda tool_input: {"ok": True})
host = synapse_houdini.start(socket_path=sys.argv[2], is_main_thread=hou.main.is_main_thread, extra_tools=[noop])
if not host.wait_registered(10):
    sys.exit("plugin did not register")
print("registered", flush=True)
sys.stdin.read()          # until the bench closes our stdin
print("plugin's cyclic collector: " + ", ".join(
    f"gen{g} {len(v)} passes (longest {max(v, default=0):.2f} ms)" for g, v in pauses.items()), file=sys.stderr)
synapse_houdini.stop()
hou.main.stop()
"#;

/// The real plugin in a child process, registered as a host (see the
/// module docs). Dropping it closes its stdin and waits for it to exit.
pub struct PluginHost {
    child: Child,
}

impl PluginHost {
    /// Start the plugin of this repository against the daemon listening on
    /// `socket` and wait, at most [`REGISTER_TIMEOUT`], until it registered.
    /// `SYNAPSE_BENCH_HOST_SCRIPT` names another host script to run instead
    /// (same arguments and `registered` line), e.g.
    /// `houdini-plugin/bench/floor_host.py`, the layout's floor.
    /// Blocks: call it from a blocking thread when the daemon runs on the
    /// caller's runtime.
    pub fn start(socket: &Path) -> Result<Self, String> {
        let script = match std::env::var_os("SYNAPSE_BENCH_HOST_SCRIPT") {
            Some(p) if !p.is_empty() => {
                let text = std::fs::read_to_string(&p)
                    .map_err(|e| format!("cannot read {}: {e}", Path::new(&p).display()))?;
                println!(
                    "host: {} (SYNAPSE_BENCH_HOST_SCRIPT, not the plugin)",
                    Path::new(&p).display()
                );
                text
            }
            _ => HOST_SCRIPT.to_owned(),
        };
        let mut child = Command::new(test_python())
            .arg("-c")
            .arg(script)
            .arg(repo_root())
            .arg(socket)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start the plugin host: {e}"))?;
        let Some(stdout) = child.stdout.take() else {
            return Err("the plugin host has no stdout".into());
        };
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let host = Self { child };
        match rx.recv_timeout(REGISTER_TIMEOUT) {
            Ok(line) if line.trim() == "registered" => Ok(host),
            Ok(line) => Err(format!("the plugin host did not register: {line:?}")),
            Err(_) => Err(format!(
                "the plugin host did not register within {REGISTER_TIMEOUT:?}"
            )),
        }
    }

    /// The child's pid (to attach `strace`/`perf`, read `/proc`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for PluginHost {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// The daemon binary a bench measures: `SYNAPSE_BENCH_DAEMON` when set
/// (another build's binary, for an A/B under the same conditions), else
/// `default` (the bench's own `CARGO_BIN_EXE_synapsed`).
pub fn daemon_bin(default: &str) -> PathBuf {
    std::env::var_os("SYNAPSE_BENCH_DAEMON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default))
}

/// One latency figure a bench prints: `samples` in microseconds and,
/// when the issue sets one, the target for p50 and p99.
pub struct Figure<'a> {
    /// What was measured.
    pub what: &'a str,
    /// Target p50 and p99 in µs, if any.
    pub target_us: Option<(f64, f64)>,
}

impl Figure<'_> {
    /// Print the figure's line (`n`, p50, p99, max, and the target with
    /// "met"/"NOT met" per percentile); returns `(p50, p99)`. `wall` adds
    /// the throughput (sequential calls per second).
    pub fn print(&self, samples: &mut [f64], wall: Option<Duration>) -> (f64, f64) {
        let n = samples.len();
        let (p50, p99, max) = p50_p99_max(samples);
        let mut line = format!(
            "{:<64} n={n:<5} p50={p50:>7.0}µs p99={p99:>7.0}µs max={max:>7.0}µs",
            self.what
        );
        if let Some(wall) = wall.filter(|w| !w.is_zero()) {
            line.push_str(&format!("  {:.0} calls/s", n as f64 / wall.as_secs_f64()));
        }
        if let Some((t50, t99)) = self.target_us {
            let met = |v: f64, t: f64| if v <= t { "met" } else { "NOT met" };
            line.push_str(&format!(
                "  [target p50 ≤ {t50:.0}µs: {}, p99 ≤ {t99:.0}µs: {}]",
                met(p50, t50),
                met(p99, t99)
            ));
        }
        println!("{line}");
        (p50, p99)
    }
}

/// The machine's load average line (`/proc/loadavg`), printed by benches
/// so every run says how busy the machine was.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| {
            let v: Vec<&str> = s.split_whitespace().take(3).collect();
            format!("load average {}", v.join(" "))
        })
        .unwrap_or_else(|_| "load average unknown".into())
}
