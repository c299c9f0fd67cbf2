//! Tool round-trip through the plugin: the real daemon (in-process, the same
//! `Peer::request` path a turn's `tool.invoke` takes) sends `tool.invoke` to
//! the real Python plugin (`synapse_houdini`, in a child process) whose fake
//! Houdini main thread (a real thread pumping a deferred queue) runs a no-op
//! tool body with modal-dialog suppression, and the reply comes back.
//!
//! `cargo bench -p synapsed --bench tool_roundtrip`; numbers in docs/performance.md.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use synapse_daemon::DaemonConfig;
use synapse_protocol::{ToolInvokeParams, ToolInvokeResult};
use synapse_test_support::daemon::{repo_root, test_python};
use synapse_test_support::stats::p50_p99_max;
use tokio_util::sync::CancellationToken;

const HOST_SCRIPT: &str = r#"
import os, sys
root = sys.argv[1]
sys.path[:0] = [os.path.join(root, "houdini-plugin", "python"), os.path.join(root, "houdini-plugin", "tests", "fakes")]
os.environ["SYNAPSED_BIN"] = "/nonexistent/synapsed"   # never spawn: the daemon is already listening
import hou, synapse_houdini
from synapse_houdini.tools import ToolDef
hou.main.start()
noop = ToolDef(name="bench_noop", description="does nothing", fn=lambda tool_input: {"ok": True})
host = synapse_houdini.start(socket_path=sys.argv[2], is_main_thread=hou.main.is_main_thread, extra_tools=[noop])
if not host.wait_registered(10):
    sys.exit("plugin did not register")
print("registered", flush=True)
sys.stdin.read()          # until the bench closes our stdin
synapse_houdini.stop()
hou.main.stop()
"#;

fn main() {
    let root = repo_root();
    let python = test_python();
    let tmp = tempfile::tempdir().expect("tmp");
    let socket = tmp.path().join("rt").join("synapsed.sock");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("rt");
    rt.block_on(async {
        let config = DaemonConfig {
            socket: socket.clone(),
            data_dir: tmp.path().join("data"),
            exit_when_idle: None,
            settings: synapse_agent::Settings::default(),
            policy: Default::default(),
            clock: std::sync::Arc::new(synapse_daemon::budget::SystemClock::default()),
            credentials: None,
        };
        let bound = synapse_daemon::bind(config).expect("bind");
        let state = bound.state().clone();
        let stop = CancellationToken::new();
        let server = tokio::spawn(bound.serve(stop.clone()));

        let mut child = Command::new(&python)
            .arg("-c")
            .arg(HOST_SCRIPT)
            .arg(&root)
            .arg(&socket)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python");
        let stdout = child.stdout.take().expect("stdout");
        let line = tokio::task::spawn_blocking(move || {
            let mut l = String::new();
            let _ = BufReader::new(stdout).read_line(&mut l);
            l
        })
        .await
        .expect("join");
        assert_eq!(line.trim(), "registered", "the plugin host did not start");
        let host = state.hosts.all().into_iter().next().expect("a registered host");

        let call = |i: usize| {
            let peer = host.peer.clone();
            async move {
                let params = ToolInvokeParams {
                    call_id: format!("toolu_bench_{i}"),
                    turn_id: "turn_bench".into(),
                    name: "bench_noop".into(),
                    input: json!({}),
                    timeout_s: 30.0,
                };
                let t0 = Instant::now();
                let v = peer.request("tool.invoke", &params, Duration::from_secs(32)).await.expect("reply");
                let took = t0.elapsed();
                let r: ToolInvokeResult = serde_json::from_value(v).expect("ToolInvokeResult");
                assert!(!r.is_error, "{:?}", r.content);
                took.as_secs_f64() * 1e6
            }
        };
        for i in 0..500 {
            call(i).await;
        }
        let mut v = Vec::new();
        let t_all = Instant::now();
        for i in 0..5000 {
            v.push(call(i).await);
        }
        let wall = t_all.elapsed();
        let (p50, p99, max) = p50_p99_max(&mut v);
        println!(
            "tool.invoke round-trip via plugin (no-op body, fake main thread)  n={} p50={p50:.0}us p99={p99:.0}us max={max:.0}us  {:.0} calls/s",
            v.len(),
            v.len() as f64 / wall.as_secs_f64()
        );
        drop(child.stdin.take());
        let _ = child.wait();
        stop.cancel();
        let _ = server.await;
    });
}
