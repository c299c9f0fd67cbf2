//! Figures for docs/performance.md, on whichever transport this platform has
//! (the Unix socket on Linux; the named pipe on Windows, measured under Wine by
//! `tests/windows/run.sh`): `daemon.status` round trips from the Rust client,
//! and `turn.cancel` → `done` with a stalled Messages API stream. Same debug
//! build on both, so the two are comparable with each other (not with the
//! release-build benches). Printed, not asserted: only the answers are checked.

mod common;

use std::time::Instant;

use common::*;
use serde_json::json;
use synapse_test_support::stats::p50_p99_max;

const TRANSPORT: &str = if cfg!(windows) {
    "named pipe (Wine)"
} else {
    "Unix socket"
};

fn line(what: &str, unit: &str, mut v: Vec<f64>) {
    let n = v.len();
    let (p50, p99, max) = p50_p99_max(&mut v);
    eprintln!(
        "FIGURE {TRANSPORT}: {what}, n={n}: p50 {p50:.1}{unit}, p99 {p99:.1}{unit}, max {max:.1}{unit}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_round_trip_and_cancel_latency() {
    const CANCELS: usize = 20;
    let api = api((0..CANCELS).map(|_| stall()).collect());
    let d = daemon(&api);
    let mut c = Conn::open(&d.socket).await;

    for _ in 0..200 {
        c.call("daemon.status", json!({})).await;
    }
    let mut status = Vec::new();
    for _ in 0..2000 {
        let t0 = Instant::now();
        let st = c.call("daemon.status", json!({})).await;
        status.push(t0.elapsed().as_secs_f64() * 1e6);
        assert_eq!(st["protocol"], json!(1));
    }
    line("daemon.status round trip (debug build)", " us", status);

    let mut cancel = Vec::new();
    for _ in 0..CANCELS {
        let (turn, _) = c.submit(json!({"prompt": "stall"})).await;
        c.until_running(&turn).await;
        let t0 = Instant::now();
        let r = c.call("turn.cancel", json!({"turn_id": turn})).await;
        assert_eq!(r, json!({"cancelled": true}));
        let events = c.until_done(&turn).await;
        cancel.push(t0.elapsed().as_secs_f64() * 1e3);
        let done = events.last().expect("done");
        assert_eq!(done["result"]["status"], "cancelled", "{done}");
    }
    line(
        "turn.cancel -> done, stalled stream (debug build)",
        " ms",
        cancel,
    );
}
