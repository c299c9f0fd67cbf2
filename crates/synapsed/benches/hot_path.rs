//! The durable hot path (a bench binary, not a timed test). Run with
//! `cargo bench -p synapsed --bench hot_path`; numbers go to
//! docs/performance.md.
//!
//! Against the real `synapsed` and a loopback Messages API that timestamps
//! each request's first byte, side by side in one run, on a quiet disk and
//! with a competing writer (a thread writing and fsyncing 1 MiB blocks on the
//! same file system):
//! - `turn.submit` → first request byte, new and continued sessions;
//! - `turn.cancel` → `done` during a streaming response;
//! - fsyncs per trivial turn and per tool round (`strace -c -f` on the
//!   daemon, when strace is installed);
//! - the disk's own floor next to them: one 4 KiB write + `fdatasync` on the
//!   same file system, quiet and with the competing writer (a durable
//!   `done` cannot come sooner than one of these);
//! - long sessions: submit → first byte and request size with 10, 100,
//!   1,000 and 5,000 prior turns, and `session.get` of 100 messages.
//!
//! `-- --start` runs only submit, cancel and the disk floor; `-- --long`
//! only the long sessions.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use synapse_protocol::{TurnResult, TurnSubmitParams, TurnSubmitResult, TurnWaitParams};
use synapse_rpc::{Client, Incoming};
use synapse_test_support::daemon::{DaemonProcess, Options};
use synapse_test_support::first_byte::{self, Answer};
use synapse_test_support::messages_api::{Script, ScriptResponse, ScriptedApi};
use synapse_test_support::stats::p50_p99_max;

const N: usize = 300;
const WARMUP: usize = 30;

/// The daemon measured: this build's, or `SYNAPSE_BENCH_DAEMON` (another
/// build's binary, for an A/B in the same run conditions).
fn bin() -> PathBuf {
    std::env::var_os("SYNAPSE_BENCH_DAEMON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_synapsed")))
}

fn summary(name: &str, unit: &str, mut v: Vec<f64>) {
    let (p50, p99, max) = p50_p99_max(&mut v);
    println!(
        "{name:<52} n={:<5} p50={p50:>8.3}{unit} p99={p99:>8.3}{unit} max={max:>8.3}{unit}",
        v.len()
    );
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt")
}

fn daemon(url: &str, data: Option<&Path>) -> DaemonProcess {
    DaemonProcess::spawn_with(
        &bin(),
        Options {
            env: vec![
                ("ANTHROPIC_API_KEY".into(), "bench-key".into()),
                ("ANTHROPIC_BASE_URL".into(), url.into()),
                ("SYNAPSE_LOG".into(), "warn".into()),
            ],
            data_dir: data.map(Path::to_owned),
            ..Default::default()
        },
    )
    .expect("daemon")
}

/// A thread writing and fsyncing 1 MiB blocks in `dir` until stopped.
struct DiskLoad(Arc<AtomicBool>, Option<std::thread::JoinHandle<()>>);

impl DiskLoad {
    fn start(dir: &Path) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let path = dir.join("competing-writer.bin");
        let h = std::thread::spawn(move || {
            let block = vec![0x5au8; 1 << 20];
            let Ok(mut f) = std::fs::File::create(&path) else {
                return;
            };
            let mut written = 0u64;
            while !flag.load(Ordering::Relaxed) {
                if f.write_all(&block).and_then(|_| f.sync_data()).is_err() {
                    return;
                }
                written += 1;
                if written.is_multiple_of(64) {
                    let _ = f.set_len(0);
                }
            }
            let _ = std::fs::remove_file(&path);
        });
        Self(stop, Some(h))
    }
}

impl Drop for DiskLoad {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
        if let Some(h) = self.1.take() {
            let _ = h.join();
        }
    }
}

fn submit_to_first_byte(label: &str, continued: bool, load: bool) {
    let tmp = tempfile::tempdir().expect("tmp");
    let (url, arrivals) = first_byte::start(Answer::EndTurn);
    let d = daemon(&url, Some(&tmp.path().join("data")));
    let _load = load.then(|| DiskLoad::start(tmp.path()));
    let socket = d.socket.clone();
    let samples = rt().block_on(async move {
        let c = Client::connect(&socket).await.expect("connect");
        let mut session: Option<String> = None;
        let mut v = Vec::new();
        for i in 0..N + WARMUP {
            let t0 = Instant::now();
            let s: TurnSubmitResult = c
                .call(
                    "turn.submit",
                    TurnSubmitParams {
                        prompt: "hi".into(),
                        session_id: if continued { session.clone() } else { None },
                        ..Default::default()
                    },
                )
                .await
                .expect("submit");
            let arrived = arrivals
                .recv_timeout(Duration::from_secs(10))
                .expect("request arrived")
                .at;
            let _: TurnResult = c
                .call(
                    "turn.wait",
                    TurnWaitParams {
                        turn_id: s.turn_id,
                        timeout_s: Some(10.0),
                    },
                )
                .await
                .expect("wait");
            session = Some(s.session_id);
            if i >= WARMUP {
                v.push(arrived.saturating_duration_since(t0).as_secs_f64() * 1e3);
            }
        }
        v
    });
    summary(&format!("submit -> first byte, {label}"), "ms", samples);
}

fn cancel_to_done(label: &str, load: bool) {
    let tmp = tempfile::tempdir().expect("tmp");
    let (url, arrivals) = first_byte::start(Answer::Stall);
    let d = daemon(&url, Some(&tmp.path().join("data")));
    let _load = load.then(|| DiskLoad::start(tmp.path()));
    let socket = d.socket.clone();
    let samples = rt().block_on(async move {
        let mut c = Client::connect(&socket).await.expect("connect");
        let mut v = Vec::new();
        for i in 0..(N / 2) + WARMUP {
            let s: TurnSubmitResult = c
                .call(
                    "turn.submit",
                    TurnSubmitParams {
                        prompt: "hi".into(),
                        ..Default::default()
                    },
                )
                .await
                .expect("submit");
            arrivals
                .recv_timeout(Duration::from_secs(10))
                .expect("request arrived");
            // The stream is open (message_start sent); cancel now.
            let t0 = Instant::now();
            let _: Value = c
                .call("turn.cancel", json!({"turn_id": s.turn_id}))
                .await
                .expect("cancel");
            loop {
                match tokio::time::timeout(Duration::from_secs(10), c.next_incoming()).await {
                    Ok(Some(Incoming::Notification(n))) if n.method == "turn.event" => {
                        let p = n.params.unwrap_or(Value::Null);
                        if p["type"] == "done" && p["turn_id"] == s.turn_id.as_str() {
                            break;
                        }
                    }
                    Ok(Some(_)) => {}
                    other => panic!("no done: {:?}", other.map(|o| o.is_some())),
                }
            }
            if i >= WARMUP {
                v.push(t0.elapsed().as_secs_f64() * 1e3);
            }
        }
        v
    });
    summary(&format!("cancel -> done, {label}"), "ms", samples);
}

/// One 4 KiB write + `fdatasync` in a fresh file on the bench's file
/// system: the least a durable commit can cost there.
fn fsync_floor(label: &str, load: bool) {
    let tmp = tempfile::tempdir().expect("tmp");
    let _load = load.then(|| DiskLoad::start(tmp.path()));
    let mut f = std::fs::File::create(tmp.path().join("floor.bin")).expect("floor file");
    let block = vec![0xa5u8; 4096];
    let mut v = Vec::new();
    for i in 0..300 + WARMUP {
        let t0 = Instant::now();
        f.write_all(&block)
            .and_then(|_| f.sync_data())
            .expect("write + fdatasync");
        if i >= WARMUP {
            v.push(t0.elapsed().as_secs_f64() * 1e3);
        }
    }
    summary(
        &format!("disk floor: 4 KiB write + fdatasync, {label}"),
        "ms",
        v,
    );
}

/// fsyncs made by the daemon while it runs `turns` turns of `script`.
fn fsyncs(label: &str, per_turn: Vec<ScriptResponse>, turns: usize, with_host: bool) {
    if Command::new("strace").arg("-V").output().is_err() {
        println!("{label:<52} (strace not installed: not measured)");
        return;
    }
    let mut responses = Vec::new();
    for _ in 0..turns + 1 {
        responses.extend(per_turn.iter().cloned());
    }
    let api = ScriptedApi::start(Script::new(responses));
    let d = daemon(&api.base_url(), None);
    let socket = d.socket.clone();
    let host = with_host.then(|| spawn_host(&socket));
    // One turn first (opens files, warms caches), then trace.
    run_turns(&socket, 1);
    let out = tempfile::NamedTempFile::new().expect("tmp");
    let mut strace = Command::new("strace")
        .args(["-f", "-c", "-e", "trace=fsync,fdatasync", "-o"])
        .arg(out.path())
        .arg("-p")
        .arg(d.ready.pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("strace");
    std::thread::sleep(Duration::from_millis(300)); // strace attaches
    run_turns(&socket, turns);
    std::thread::sleep(Duration::from_millis(200));
    let _ = Command::new("kill")
        .arg("-INT")
        .arg(strace.id().to_string())
        .status();
    let _ = strace.wait();
    drop(host);
    let report = std::fs::read_to_string(out.path()).unwrap_or_default();
    let calls: u64 = report
        .lines()
        .filter(|l| l.ends_with("fsync") || l.ends_with("fdatasync"))
        .filter_map(|l| {
            l.split_whitespace()
                .nth(3)
                .and_then(|n| n.parse::<u64>().ok())
        })
        .sum();
    println!(
        "{label:<52} {:.2} fsyncs per turn ({calls} over {turns} turns)",
        calls as f64 / turns as f64
    );
}

fn run_turns(socket: &Path, n: usize) {
    let socket = socket.to_owned();
    rt().block_on(async move {
        let c = Client::connect(&socket).await.expect("connect");
        for _ in 0..n {
            let s: TurnSubmitResult = c
                .call(
                    "turn.submit",
                    TurnSubmitParams {
                        prompt: "hi".into(),
                        ..Default::default()
                    },
                )
                .await
                .expect("submit");
            let r: TurnResult = c
                .call(
                    "turn.wait",
                    TurnWaitParams {
                        turn_id: s.turn_id,
                        timeout_s: Some(10.0),
                    },
                )
                .await
                .expect("wait");
            assert_eq!(r.status, synapse_protocol::TurnStatus::Complete, "{r:?}");
        }
    });
}

/// A host answering every `tool.invoke` at once, on its own thread.
fn spawn_host(socket: &Path) -> mpsc::Sender<()> {
    let socket = socket.to_owned();
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        rt().block_on(async move {
            let mut c = Client::connect(&socket).await.expect("host connect");
            let _: Value = c
                .call(
                    "host.register",
                    json!({"name":"bench","houdini_version":"0","pid":1,"ui_available":true,
                           "tools":[{"name":"probe","description":"d","input_schema":{"type":"object"},"read_only":true}]}),
                )
                .await
                .expect("register");
            let _ = ready_tx.send(());
            loop {
                if stop_rx.try_recv().is_ok() {
                    return;
                }
                match tokio::time::timeout(Duration::from_millis(50), c.next_incoming()).await {
                    Ok(Some(Incoming::Request(r))) => {
                        let _ = c
                            .respond(r.id, Ok(json!({"is_error": false, "content": {"ok": true}})))
                            .await;
                    }
                    Ok(None) => return,
                    _ => {}
                }
            }
        });
    });
    let _ = ready_rx.recv_timeout(Duration::from_secs(10));
    stop_tx
}

/// A data dir holding one session of `turns` completed turns (written
/// straight into the store, as the daemon would have).
fn prefilled(dir: &Path, turns: usize) -> String {
    let store = synapse_store::Store::open(dir).expect("store");
    let sid = "sess_bench".to_owned();
    for i in 0..turns {
        let tid = format!("turn_bench_{i}");
        let now = synapse_protocol::Timestamp::now();
        let nt = synapse_store::NewTurn {
            turn_id: tid.clone(),
            session_id: sid.clone(),
            prompt: format!("question {i}: what is on /obj/geo{i}?"),
            host_id: None,
            created_at: now,
            params: json!({}),
        };
        if i == 0 {
            store.insert_turn_in_new_session(&nt).expect("insert");
        } else {
            store.insert_turn(&nt).expect("insert");
        }
        let prompt = json!({"role":"user","content":[{"type":"text","text":nt.prompt}]});
        store.start_turn(&sid, &tid, now, &prompt).expect("start");
        let answer = json!({"role":"assistant","content":[{"type":"text","text":format!("/obj/geo{i} holds a box SOP feeding a null; nothing is in error.")}]});
        store.append_message(&sid, &tid, &answer).expect("answer");
        store
            .finish_turn(&synapse_protocol::TurnResult {
                turn_id: tid,
                session_id: sid.clone(),
                status: synapse_protocol::TurnStatus::Complete,
                text: String::new(),
                iterations: 1,
                tool_calls: vec![],
                usage: Default::default(),
                error: None,
                started_at: now,
                finished_at: now,
                mode: None,
            })
            .expect("finish");
    }
    sid
}

fn long_session(prior: usize, window: Option<&str>) {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let sid = prefilled(&data, prior);
    let (url, arrivals) = first_byte::start(Answer::EndTurn);
    let mut opts = Options {
        env: vec![
            ("ANTHROPIC_API_KEY".into(), "bench-key".into()),
            ("ANTHROPIC_BASE_URL".into(), url.clone()),
            ("SYNAPSE_LOG".into(), "warn".into()),
        ],
        data_dir: Some(data.clone()),
        ..Default::default()
    };
    if let Some(w) = window {
        opts.env.push(("SYNAPSE_CONTEXT_WINDOW".into(), w.into()));
    }
    let d = DaemonProcess::spawn_with(&bin(), opts).expect("daemon");
    let label = match window {
        Some(w) => format!("{prior} prior turns, window {w}"),
        None => format!("{prior} prior turns"),
    };
    let socket = d.socket.clone();
    let (latency, bytes, get100) = rt().block_on(async move {
        let c = Client::connect(&socket).await.expect("connect");
        let mut v = Vec::new();
        let mut size = 0;
        for i in 0..60 {
            let t0 = Instant::now();
            let s: TurnSubmitResult = c
                .call(
                    "turn.submit",
                    TurnSubmitParams {
                        prompt: "and now?".into(),
                        session_id: Some(sid.clone()),
                        ..Default::default()
                    },
                )
                .await
                .expect("submit");
            let a = arrivals
                .recv_timeout(Duration::from_secs(10))
                .expect("request arrived");
            let r: TurnResult = c
                .call(
                    "turn.wait",
                    TurnWaitParams {
                        turn_id: s.turn_id,
                        timeout_s: Some(10.0),
                    },
                )
                .await
                .expect("wait");
            assert_eq!(r.status, synapse_protocol::TurnStatus::Complete, "{r:?}");
            // A turn that compacts sends a summary request first: the size
            // is the turn's last request's.
            let mut last = a;
            while let Ok(more) = arrivals.try_recv() {
                last = more;
            }
            if i >= 10 {
                v.push(a.at.saturating_duration_since(t0).as_secs_f64() * 1e3);
                size = last.bytes;
            }
        }
        let mut g = Vec::new();
        for _ in 0..100 {
            let t0 = Instant::now();
            let _: Value = c
                .call("session.get", json!({"session_id": sid, "limit": 100}))
                .await
                .expect("get");
            g.push(t0.elapsed().as_secs_f64() * 1e3);
        }
        (v, size, g)
    });
    summary(&format!("submit -> first byte, {label}"), "ms", latency);
    println!("{:<52} {} bytes", format!("request size, {label}"), bytes);
    summary(&format!("session.get 100 messages, {label}"), "ms", get100);
}

/// The machine's load (`/proc/loadavg`), printed with the figures: the
/// p99s on a shared VM follow it.
fn load_average(when: &str) {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let three: Vec<&str> = load.split_whitespace().take(3).collect();
    println!("load average at {when}: {}", three.join(" "));
}

fn main() {
    if std::env::args().any(|a| a == "--long") {
        for prior in [10, 100, 1000, 5000] {
            long_session(prior, None);
        }
        for prior in [1000, 5000] {
            long_session(prior, Some("50000"));
        }
        load_average("end");
        return;
    }
    println!(
        "machine: {} cores; synapsed = {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        bin().display()
    );
    load_average("start");
    submit_to_first_byte("new session, quiet disk", false, false);
    submit_to_first_byte("continued session, quiet disk", true, false);
    submit_to_first_byte("new session, competing writer", false, true);
    submit_to_first_byte("continued session, competing writer", true, true);
    cancel_to_done("quiet disk", false);
    cancel_to_done("competing writer", true);
    fsync_floor("quiet disk", false);
    fsync_floor("competing writer", true);
    if std::env::args().any(|a| a == "--start") {
        load_average("end");
        return;
    }
    let text = ScriptResponse::text("ok");
    fsyncs("fsyncs, trivial turn", vec![text.clone()], 50, false);
    let tool = ScriptResponse::message(
        vec![json!({"type":"tool_use","id":"toolu_b","name":"probe","input":{}})],
        "tool_use",
        1,
        1,
    );
    fsyncs(
        "fsyncs, turn with one tool round",
        vec![tool, text],
        50,
        true,
    );
    for prior in [10, 100, 1000, 5000] {
        long_session(prior, None);
    }
    for prior in [1000, 5000] {
        long_session(prior, Some("50000"));
    }
    load_average("end");
}
