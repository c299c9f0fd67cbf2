//! Commit cost of the store on this disk (`harness = false`, prints numbers).
//!
//! * `append_message`: one committed WAL transaction with `synchronous=FULL`
//!   per call (an fsync each), p50/p99/mean over 500 messages of ~1 KiB.
//! * `get_session` for a 200-message session (with 50 turns and 100 tool
//!   calls), p50/p99 over 100 reads.
//!
//! Run: `cargo bench -p synapse-store --bench commit`.

use std::time::{Duration, Instant};

use serde_json::json;
use synapse_protocol::{Timestamp, ToolCallRecord, TurnResult, TurnStatus, Usage};
use synapse_store::{NewTurn, Store};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let total: Duration = samples.iter().sum();
    let mean = total / u32::try_from(samples.len().max(1)).unwrap_or(1);
    println!(
        "{name:<40} n={:<5} p50={:>9.3?} p99={:>9.3?} max={:>9.3?} mean={:>9.3?}",
        samples.len(),
        percentile(&samples, 0.50),
        percentile(&samples, 0.99),
        samples.last().copied().unwrap_or_default(),
        mean
    );
}

fn turn(store: &Store, session: &str, id: &str) -> Result<(), Box<dyn std::error::Error>> {
    store.insert_turn(&NewTurn {
        turn_id: id.into(),
        session_id: session.into(),
        prompt: "bench".into(),
        host_id: None,
        created_at: Timestamp::now(),
        params: json!({}),
    })?;
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Bench binaries get `--bench` from cargo; nothing to parse.
    // On the target dir's disk (not a tmpfs /tmp, where fsync is free);
    // SYNAPSE_BENCH_DIR picks another disk.
    let base =
        std::env::var_os("SYNAPSE_BENCH_DIR").unwrap_or_else(|| env!("CARGO_TARGET_TMPDIR").into());
    std::fs::create_dir_all(&base)?;
    let tmp = tempfile::tempdir_in(base)?;
    let store = Store::open(tmp.path())?;
    println!(
        "database: {:?} ({:?})",
        store.path().unwrap_or(tmp.path()),
        store.settings()?
    );

    // append_message commit cost.
    store.create_session("append", Timestamp::now(), None)?;
    turn(&store, "append", "t-append")?;
    let body = "x".repeat(1000);
    let mut samples = Vec::new();
    for i in 0..500 {
        let role = if i % 2 == 0 { "user" } else { "assistant" };
        let m = json!({"role": role, "content": [{"type": "text", "text": body}]});
        let t = Instant::now();
        store.append_message("append", "t-append", &m)?;
        samples.push(t.elapsed());
    }
    report("append_message (1 KiB, sync=FULL)", samples);

    // Status changes cost about the same; measure one lifecycle step too.
    let mut samples = Vec::new();
    for i in 0..100 {
        let id = format!("t-life-{i}");
        turn(&store, "append", &id)?;
        let t = Instant::now();
        store.set_turn_running(&id, Timestamp::now())?;
        samples.push(t.elapsed());
    }
    report("set_turn_running", samples);

    // get_session on a 200-message session.
    store.create_session("read", Timestamp::now(), None)?;
    for t in 0..50 {
        let tid = format!("r-{t}");
        turn(&store, "read", &tid)?;
        let started = Timestamp::now();
        store.set_turn_running(&tid, started)?;
        let ids = [format!("{tid}-a"), format!("{tid}-b")];
        let msgs = [
            json!({"role": "user", "content": format!("prompt {t} {body}")}),
            json!({"role": "assistant", "content": [
                {"type": "text", "text": body},
                {"type": "tool_use", "id": ids[0], "name": "inspect", "input": {"path": "/stage"}},
                {"type": "tool_use", "id": ids[1], "name": "inspect", "input": {"path": "/obj"}},
            ]}),
            json!({"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": ids[0], "content": body},
                {"type": "tool_result", "tool_use_id": ids[1], "content": body},
            ]}),
            json!({"role": "assistant", "content": [{"type": "text", "text": body}]}),
        ];
        for m in &msgs {
            store.append_message("read", &tid, m)?;
        }
        let calls: Vec<ToolCallRecord> = ids
            .iter()
            .map(|id| ToolCallRecord {
                call_id: id.clone(),
                name: "inspect".into(),
                input: json!({"path": "/stage"}),
                is_error: false,
                duration_ms: 3,
            })
            .collect();
        store.finish_turn(&TurnResult {
            mode: None,
            turn_id: tid.clone(),
            session_id: "read".into(),
            status: TurnStatus::Complete,
            text: body.clone(),
            iterations: 2,
            tool_calls: calls,
            usage: Usage {
                input_tokens: 100,
                output_tokens: 50,
                ..Default::default()
            },
            error: None,
            started_at: started,
            finished_at: Timestamp::now(),
        })?;
    }
    let mut samples = Vec::new();
    let mut n = 0;
    for _ in 0..100 {
        let t = Instant::now();
        let d = store.get_session("read")?.ok_or("no session")?;
        samples.push(t.elapsed());
        n = d.messages.len();
    }
    report(&format!("get_session ({n} messages, 50 turns)"), samples);
    let mut samples = Vec::new();
    for _ in 0..100 {
        let t = Instant::now();
        let _ = store.session_messages("read")?;
        samples.push(t.elapsed());
    }
    report(&format!("session_messages ({n} messages)"), samples);
    let t = Instant::now();
    let r = store.recover(Timestamp::now())?;
    println!(
        "recover ({} open turns, 1 session of 500 messages): {:?}",
        r.interrupted_turns.len(),
        t.elapsed()
    );
    Ok(())
}
