//! Direct tool calls: a client's `tool.call` → the real daemon (in-process) →
//! `tool.invoke` to the real Python plugin (`synapse_houdini`, child process,
//! fake main thread pumping a deferred queue, no-op body) → back to the client.
//!
//! With `--mcp` it also measures the same call as an MCP `tools/call` through
//! a `synapsed mcp` child (stdio, newline-delimited JSON-RPC), against
//! `tool.call` directly, and the MCP server's idle RSS.
//!
//! `cargo bench -p synapsed --bench direct_call [-- --mcp]`; numbers in docs/performance.md.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use synapse_daemon::DaemonConfig;
use synapse_rpc::Client;
use synapse_test_support::bench::{load_average, Figure, PluginHost, NOOP_TOOL};
use tokio_util::sync::CancellationToken;

const WARMUP: usize = 500;
const N: usize = 5000;

fn report(what: &str, target_us: Option<(f64, f64)>, v: &mut [f64], wall: Duration) -> f64 {
    Figure { what, target_us }.print(v, Some(wall)).0
}

/// A `synapsed mcp` child spoken to line by line.
struct Mcp {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout: BufReader<std::process::ChildStdout>,
    next: u64,
}

impl Mcp {
    fn start(socket: &std::path::Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_synapsed"))
            .args(["mcp", "--socket"])
            .arg(socket)
            .env("SYNAPSE_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("synapsed mcp");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut m = Self {
            child,
            stdin,
            stdout,
            next: 1,
        };
        let init = m.request(
            "initialize",
            json!({"protocolVersion": "2025-11-25", "capabilities": {},
                   "clientInfo": {"name": "bench", "version": "0"}}),
        );
        assert!(init.get("result").is_some(), "initialize: {init}");
        m.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        m
    }

    fn send(&mut self, v: &Value) {
        let mut line = serde_json::to_vec(v).expect("json");
        line.push(b'\n');
        self.stdin.write_all(&line).expect("write");
        self.stdin.flush().expect("flush");
    }

    /// Send a request and read lines until its response (notifications skipped).
    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next;
        self.next += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let mut l = String::new();
            let n = self.stdout.read_line(&mut l).expect("read");
            assert!(n > 0, "synapsed mcp closed stdout");
            let v: Value = serde_json::from_str(&l).expect("a JSON line");
            if v["id"] == json!(id) {
                return v;
            }
        }
    }

    fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    }
}

fn main() {
    let with_mcp = std::env::args().any(|a| a == "--mcp");
    println!("{}", load_average());
    let tmp = tempfile::tempdir().expect("tmp");
    let socket = tmp.path().join("rt").join("synapsed.sock");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("rt");
    rt.block_on(async {
        let bound = synapse_daemon::bind(DaemonConfig::local(
            socket.clone(),
            tmp.path().join("data"),
        ))
        .expect("bind");
        let stop = CancellationToken::new();
        let server = tokio::spawn(bound.serve(stop.clone()));
        let sock = socket.clone();
        let plugin = tokio::task::spawn_blocking(move || PluginHost::start(&sock))
            .await
            .expect("join")
            .expect("the plugin host");

        // The client runs on its own thread and runtime, as a separate
        // process would (not on the daemon's worker threads).
        let sock = socket.clone();
        let (mut v, wall) = tokio::task::spawn_blocking(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("client rt");
            rt.block_on(async move {
                let client = Client::connect(&sock).await.expect("connect");
                let call = || async {
                    let t0 = Instant::now();
                    let v = client
                        .call_value("tool.call", json!({"name": NOOP_TOOL, "input": {}}))
                        .await
                        .expect("tool.call");
                    let took = t0.elapsed();
                    assert_eq!(v["is_error"], false, "{v}");
                    took.as_secs_f64() * 1e6
                };
                for _ in 0..WARMUP {
                    call().await;
                }
                let mut v = Vec::new();
                let t_all = Instant::now();
                for _ in 0..N {
                    v.push(call().await);
                }
                (v, t_all.elapsed())
            })
        })
        .await
        .expect("join");
        let direct_p50 = report(
            "tool.call round trip via the plugin (client → daemon → plugin, no-op)",
            Some((300.0, 1000.0)),
            &mut v,
            wall,
        );

        if with_mcp {
            let sock = socket.clone();
            let (mcp_p50, idle_kib, busy_kib) = tokio::task::spawn_blocking(move || {
                let mut mcp = Mcp::start(&sock);
                let list = mcp.request("tools/list", json!({}));
                assert!(
                    list.to_string().contains(NOOP_TOOL),
                    "tools/list: {list}"
                );
                std::thread::sleep(Duration::from_millis(500));
                let idle = mcp.rss_kib();
                let mut call = |_: usize| {
                    let t0 = Instant::now();
                    let r = mcp.request(
                        "tools/call",
                        json!({"name": NOOP_TOOL, "arguments": {}}),
                    );
                    let took = t0.elapsed();
                    assert_eq!(r["result"]["isError"], false, "{r}");
                    took.as_secs_f64() * 1e6
                };
                for i in 0..WARMUP {
                    call(i);
                }
                let mut v = Vec::new();
                let t_all = Instant::now();
                for i in 0..N {
                    v.push(call(i));
                }
                let p50 = report(
                    "MCP tools/call round trip via synapsed mcp → daemon → plugin",
                    None,
                    &mut v,
                    t_all.elapsed(),
                );
                let busy = mcp.rss_kib();
                drop(mcp.stdin);
                let _ = mcp.child.wait();
                (p50, idle, busy)
            })
            .await
            .expect("join");
            println!(
                "synapsed mcp overhead over tool.call: p50 {:.0}us; RSS idle {} KiB, after {N} calls {} KiB",
                mcp_p50 - direct_p50,
                idle_kib.map_or("?".into(), |k| k.to_string()),
                busy_kib.map_or("?".into(), |k| k.to_string()),
            );
        }
        drop(plugin);
        stop.cancel();
        let _ = server.await;
    });
    println!("{}", load_average());
}
