//! Approval path benchmark (a bench binary, not a timed test). Run with
//! `cargo bench -p synapsed --bench approvals`; numbers go to
//! docs/performance.md under `## Approvals`.
//!
//! Against the real `synapsed` (bench profile) with a scripted Messages API,
//! a Rust host and a Rust client in this process: each turn's model response
//! asks for one mutating tool in mode `ask`; the client receives
//! `approval_request`, sends `turn.approve {allow}` at once, and the host
//! notes when `tool.invoke` arrives. Reported:
//! - approve sent → `tool.invoke` received (two socket hops + the daemon's
//!   work: answer delivered, `running` status event, invoke written);
//! - a `daemon.status` round trip on the same connections' kind of socket
//!   (two hops + a trivial method), the transport baseline;
//! - their difference: the daemon's own share of the approval path.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use synapse_rpc::{Client, Incoming};
use synapse_test_support::bench::{daemon_bin, load_average, Figure};
use synapse_test_support::daemon::{DaemonProcess, Options};
use synapse_test_support::messages_api::{Script, ScriptResponse, ScriptedApi};

const TURNS: usize = 320;
const WARMUP: usize = 20;

fn main() {
    println!("{}", load_average());
    let mut responses = Vec::new();
    for i in 0..TURNS {
        responses.push(ScriptResponse::message(
            vec![json!({"type": "tool_use", "id": format!("toolu_{i}"), "name": "edit", "input": {"i": i}})],
            "tool_use",
            10,
            2,
        ));
        responses.push(ScriptResponse::text("ok"));
    }
    let api = ScriptedApi::start(Script::new(responses));
    let d = DaemonProcess::spawn_with(
        &daemon_bin(env!("CARGO_BIN_EXE_synapsed")),
        Options {
            env: vec![
                ("ANTHROPIC_API_KEY".into(), "bench-key".into()),
                ("ANTHROPIC_BASE_URL".into(), api.base_url()),
                ("SYNAPSE_LOG".into(), "warn".into()),
            ],
            ..Default::default()
        },
    )
    .expect("daemon");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("rt");
    let socket = d.socket.clone();
    let (approve_to_invoke, status_rtt) = rt.block_on(async move {
        // The host: answers every tool.invoke at once, noting its arrival.
        let mut host = Client::connect(&socket).await.expect("host connects");
        let _: Value = host
            .call(
                "host.register",
                json!({"name": "houdini", "houdini_version": "21.0.440", "pid": 1, "ui_available": false,
                       "tools": [{"name": "edit", "description": "edits", "input_schema": {"type": "object"}, "read_only": false}]}),
            )
            .await
            .expect("register");
        let (arrived_tx, arrived) = mpsc::channel::<Instant>();
        tokio::spawn(async move {
            while let Some(inc) = host.next_incoming().await {
                if let Incoming::Request(r) = inc {
                    let _ = arrived_tx.send(Instant::now());
                    let _ = host
                        .respond(r.id, Ok(json!({"is_error": false, "content": {}})))
                        .await;
                }
            }
        });
        let mut c = Client::connect(&socket).await.expect("client connects");
        let mut session: Option<String> = None;
        let mut samples = Vec::new();
        let mut rtts = Vec::new();
        for i in 0..TURNS {
            let mut params = json!({"prompt": "edit", "mode": "ask"});
            if let Some(s) = &session {
                params["session_id"] = json!(s);
            }
            let s: Value = c.call("turn.submit", params).await.expect("submit");
            let turn_id = s["turn_id"].as_str().expect("turn").to_owned();
            session = s["session_id"].as_str().map(str::to_owned);
            let call_id = loop {
                match tokio::time::timeout(Duration::from_secs(10), c.next_incoming()).await {
                    Ok(Some(Incoming::Notification(n))) => {
                        let p = n.params.unwrap_or_default();
                        if p["type"] == "approval_request" {
                            break p["call_id"].as_str().expect("call").to_owned();
                        }
                    }
                    Ok(Some(_)) => {}
                    _ => panic!("no approval_request"),
                }
            };
            let t0 = Instant::now();
            let r: Value = c
                .call(
                    "turn.approve",
                    json!({"turn_id": turn_id, "call_id": call_id, "decision": "allow"}),
                )
                .await
                .expect("approve");
            assert_eq!(r["accepted"], true);
            let t1 = arrived
                .recv_timeout(Duration::from_secs(10))
                .expect("tool.invoke arrived");
            // Wait for done.
            loop {
                match tokio::time::timeout(Duration::from_secs(10), c.next_incoming()).await {
                    Ok(Some(Incoming::Notification(n))) => {
                        if n.params.is_some_and(|p| p["type"] == "done") {
                            break;
                        }
                    }
                    Ok(Some(_)) => {}
                    _ => panic!("no done"),
                }
            }
            let s0 = Instant::now();
            let _: Value = c.call("daemon.status", json!({})).await.expect("status");
            let rtt = s0.elapsed();
            if i >= WARMUP {
                samples.push(t1.saturating_duration_since(t0).as_secs_f64() * 1e6);
                rtts.push(rtt.as_secs_f64() * 1e6);
            }
        }
        (samples, rtts)
    });
    let mut approve_to_invoke = approve_to_invoke;
    let mut status_rtt = status_rtt;
    let mut diffs: Vec<f64> = approve_to_invoke
        .iter()
        .zip(&status_rtt)
        .map(|(a, b)| (a - b).max(0.0))
        .collect();
    Figure {
        what: "turn.approve sent → tool.invoke received",
        target_us: None,
    }
    .print(&mut approve_to_invoke, None);
    Figure {
        what: "daemon.status round trip (baseline: two hops)",
        target_us: None,
    }
    .print(&mut status_rtt, None);
    Figure {
        what: "daemon's share (paired difference)",
        target_us: Some((200.0, 1000.0)),
    }
    .print(&mut diffs, None);
    drop(d);
    println!("{}", load_average());
}
