//! Daemon benchmarks (a bench binary, not a timed test). Run with
//! `cargo bench -p synapsed --bench daemon`; numbers go to docs/performance.md.
//!
//! Measures, against the real `synapsed` built with the bench profile:
//! spawn → readiness line; idle RSS; `daemon.status` round-trip from the Rust
//! client and from the Python plugin client; throughput with 8 clients;
//! RSS after 1,000 scripted turns. (`turn.submit` → first byte of the LLM
//! request is measured by the `hot_path` bench.)

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use synapse_protocol::{
    DaemonStatus, TurnRef, TurnResult, TurnSubmitParams, TurnSubmitResult, TurnWaitParams,
};
use synapse_rpc::Client;
use synapse_test_support::daemon::{repo_root, test_python, DaemonProcess, Options};
use synapse_test_support::messages_api::{Script, ScriptedApi};
use synapse_test_support::stats::p50_p99_max;

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_synapsed"))
}

fn summary(name: &str, unit: &str, mut v: Vec<f64>) {
    let (p50, p99, max) = p50_p99_max(&mut v);
    println!(
        "{name:<44} n={:<6} p50={p50:>9.1}{unit} p99={p99:>9.1}{unit} max={max:>9.1}{unit}",
        v.len()
    );
}

fn current_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt")
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .map(str::to_owned)
        })
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn spawn_to_ready() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut samples = Vec::new();
    let mut rss = Vec::new();
    for i in 0..30 {
        let socket = tmp.path().join(format!("r{i}")).join("s.sock");
        let opts = Options::default();
        let mut cmd = synapse_test_support::daemon::serve_command(
            &bin(),
            &socket,
            &tmp.path().join(format!("d{i}")),
            &opts,
        );
        cmd.env("SYNAPSE_LOG", "warn").stderr(Stdio::null());
        let t0 = Instant::now();
        let mut child = cmd.spawn().expect("spawn");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("ready line");
        samples.push(t0.elapsed().as_secs_f64() * 1e3);
        std::thread::sleep(Duration::from_millis(200));
        rss.push(rss_kib(child.id()) as f64 / 1024.0);
        let _ = child.kill();
        let _ = child.wait();
    }
    summary("spawn -> readiness line", "ms", samples);
    summary("idle RSS 200 ms after ready", "MB", rss);
}

fn status_round_trips(d: &DaemonProcess) {
    let rt = current_thread_runtime();
    let socket = d.socket.clone();
    let samples = rt.block_on(async move {
        let c = Client::connect(&socket).await.expect("connect");
        for _ in 0..2000 {
            let _: DaemonStatus = c.call("daemon.status", ()).await.expect("status");
        }
        let mut v = Vec::with_capacity(20_000);
        for _ in 0..20_000 {
            let t0 = Instant::now();
            let _: DaemonStatus = c.call("daemon.status", ()).await.expect("status");
            v.push(t0.elapsed().as_secs_f64() * 1e6);
        }
        v
    });
    summary("daemon.status round-trip, Rust client", "us", samples);
}

fn throughput(d: &DaemonProcess, clients: usize) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("rt");
    let socket = d.socket.clone();
    let total = rt.block_on(async move {
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut tasks = Vec::new();
        for _ in 0..clients {
            let socket = socket.clone();
            tasks.push(tokio::spawn(async move {
                let c = Client::connect(&socket).await.expect("connect");
                let mut n = 0u64;
                while Instant::now() < deadline {
                    let _: DaemonStatus = c.call("daemon.status", ()).await.expect("status");
                    n += 1;
                }
                n
            }));
        }
        let mut total = 0;
        for t in tasks {
            total += t.await.expect("task");
        }
        total
    });
    println!(
        "{:<44} {:.0} calls/s ({clients} clients, 3 s, client and daemon share 2 cores)",
        format!("daemon.status throughput, {clients} clients"),
        total as f64 / 3.0
    );
}

fn python_round_trips(d: &DaemonProcess) {
    let root = repo_root();
    let python = test_python();
    let script = r#"
import sys, time
sys.path.insert(0, sys.argv[1])
from synapse_houdini.rpc import RpcClient
c = RpcClient.connect(sys.argv[2])
for _ in range(2000): c.call("daemon.status")
out = []
for _ in range(10000):
    t0 = time.perf_counter(); c.call("daemon.status"); out.append((time.perf_counter() - t0) * 1e6)
print(" ".join(f"{x:.1f}" for x in out))
c.close()
"#;
    let out = Command::new(python)
        .arg("-c")
        .arg(script)
        .arg(root.join("houdini-plugin/python"))
        .arg(&d.socket)
        .output()
        .expect("python");
    if !out.status.success() {
        println!(
            "python client: skipped ({})",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        );
        return;
    }
    let v: Vec<f64> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect();
    summary("daemon.status round-trip, Python client", "us", v);
}

fn rss_after_turns(n: usize) {
    let responses: Vec<_> = (0..n)
        .map(|i| serde_json::from_value(json!({"content":[{"type":"text","text":format!("answer {i}: the stage has 3 prims")}],"stop_reason":"end_turn","usage":{"input_tokens":12,"output_tokens":8}})).expect("response"))
        .collect();
    let api = ScriptedApi::start(Script { responses });
    let d = DaemonProcess::spawn_with(
        &bin(),
        Options {
            env: vec![
                ("ANTHROPIC_API_KEY".into(), "bench-key".into()),
                ("ANTHROPIC_BASE_URL".into(), api.base_url().to_owned()),
                ("SYNAPSE_LOG".into(), "warn".into()),
            ],
            ..Default::default()
        },
    )
    .expect("daemon");
    let rss_before = rss_kib(d.child.id());
    let rt = current_thread_runtime();
    let socket = d.socket.clone();
    let t0 = Instant::now();
    rt.block_on(async move {
        let c = Client::connect(&socket).await.expect("connect");
        let mut sessions: Vec<Option<String>> = vec![None; 50];
        for i in 0..n {
            let slot = i % sessions.len();
            let s: TurnSubmitResult = c
                .call(
                    "turn.submit",
                    TurnSubmitParams {
                        prompt: format!("question {i}"),
                        session_id: sessions[slot].clone(),
                        ..Default::default()
                    },
                )
                .await
                .expect("submit");
            sessions[slot] = Some(s.session_id.clone());
            let r: TurnResult = c
                .call(
                    "turn.wait",
                    TurnWaitParams {
                        turn_id: s.turn_id.clone(),
                        timeout_s: Some(30.0),
                    },
                )
                .await
                .expect("wait");
            assert_eq!(
                r.status,
                synapse_protocol::TurnStatus::Complete,
                "{:?}",
                r.error
            );
            let _: serde_json::Value = c
                .call("turn.get", TurnRef { turn_id: s.turn_id })
                .await
                .expect("get");
        }
    });
    let elapsed = t0.elapsed();
    println!(
        "{:<44} before={:.1}MB after={:.1}MB ({n} turns in 50 sessions, {:.1} ms/turn end to end)",
        format!("daemon RSS after {n} scripted turns"),
        rss_before as f64 / 1024.0,
        rss_kib(d.child.id()) as f64 / 1024.0,
        elapsed.as_secs_f64() * 1e3 / n as f64
    );
}

fn main() {
    // `cargo bench` passes `--bench`; ignore arguments.
    println!(
        "machine: {} cores; synapsed = {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        bin().display()
    );
    spawn_to_ready();
    let d = DaemonProcess::spawn_with(
        &bin(),
        Options {
            env: vec![("SYNAPSE_LOG".into(), "warn".into())],
            ..Default::default()
        },
    )
    .expect("daemon");
    status_round_trips(&d);
    python_round_trips(&d);
    throughput(&d, 1);
    throughput(&d, 8);
    drop(d);
    rss_after_turns(1000);
}
