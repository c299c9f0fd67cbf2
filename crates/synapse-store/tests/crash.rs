//! Crash safety: a child process (this test binary, re-run in "writer" mode)
//! appends messages in a loop and is killed with SIGKILL at a random moment.
//! After each kill the database must open, pass `integrity_check`, hold every
//! message the child reported as committed, and recover to a state with no
//! non-final turn and a sendable history.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::json;
use synapse_protocol::{Timestamp, ToolCallRecord, TurnResult, TurnStatus, Usage};
use synapse_store::{history_problem, NewTurn, Store};

const WRITER_ENV: &str = "SYNAPSE_STORE_CRASH_WRITER";
const SESSION: &str = "shared";

/// Writer mode only: does nothing unless the parent test set `WRITER_ENV`.
#[test]
fn crash_writer_child() {
    let Ok(dir) = std::env::var(WRITER_ENV) else {
        return;
    };
    writer(&dir);
}

fn writer(dir: &str) {
    let store = Store::open(dir).expect("open");
    if !store.session_exists(SESSION).expect("exists") {
        store
            .create_session(SESSION, Timestamp::now(), None)
            .expect("create");
    }
    let pid = std::process::id();
    println!("WRITER READY");
    let append = |turn: &str, m: serde_json::Value| {
        store.append_message(SESSION, turn, &m).expect("append");
        let n = store
            .session_messages(SESSION)
            .map(|v| v.len())
            .unwrap_or(0);
        println!("M {n}");
    };
    for n in 0u64.. {
        let turn = format!("{pid}-{n}");
        store
            .insert_turn(&NewTurn {
                turn_id: turn.clone(),
                session_id: SESSION.into(),
                prompt: format!("prompt {n}"),
                host_id: None,
                created_at: Timestamp::now(),
                params: json!({}),
            })
            .expect("insert");
        let started = Timestamp::now();
        store.set_turn_running(&turn, started).expect("running");
        append(
            &turn,
            json!({"role": "user", "content": format!("prompt {n}")}),
        );
        let ids = [format!("{turn}-a"), format!("{turn}-b")];
        append(
            &turn,
            json!({"role": "assistant", "content": [
                {"type": "text", "text": "let me look"},
                {"type": "tool_use", "id": ids[0], "name": "inspect", "input": {"n": n}},
                {"type": "tool_use", "id": ids[1], "name": "inspect", "input": {"n": n, "big": "x".repeat(4096)}},
            ]}),
        );
        store
            .add_turn_usage(
                &turn,
                &Usage {
                    input_tokens: 10,
                    output_tokens: 5,
                    ..Default::default()
                },
            )
            .expect("usage");
        let mut calls = Vec::new();
        for id in &ids {
            let call = ToolCallRecord {
                call_id: id.clone(),
                name: "inspect".into(),
                input: json!({"n": n}),
                is_error: false,
                duration_ms: 1,
            };
            store.record_tool_call(&turn, &call).expect("call");
            calls.push(call);
        }
        append(
            &turn,
            json!({"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": ids[0], "content": "{}"},
                {"type": "tool_result", "tool_use_id": ids[1], "content": "{}"},
            ]}),
        );
        append(
            &turn,
            json!({"role": "assistant", "content": [{"type": "text", "text": format!("done {n}")}]}),
        );
        store
            .finish_turn(&TurnResult {
                turn_id: turn.clone(),
                session_id: SESSION.into(),
                status: TurnStatus::Complete,
                text: format!("done {n}"),
                iterations: 2,
                tool_calls: calls,
                usage: Usage {
                    input_tokens: 20,
                    output_tokens: 10,
                    ..Default::default()
                },
                error: None,
                started_at: started,
                finished_at: Timestamp::now(),
            })
            .expect("finish");
    }
}

#[test]
fn survives_sigkill_at_random_moments() -> Result<(), Box<dyn std::error::Error>> {
    let tmp = tempfile::tempdir()?;
    let exe = std::env::current_exe()?;
    let mut rng = rand::rng();
    let mut interrupted_total = 0;
    let mut repaired_total = 0;
    for round in 0..10 {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "crash_writer_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(WRITER_ENV, tmp.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let line = lines.next().ok_or("writer exited before ready")??;
            if line.ends_with("WRITER READY") {
                break;
            }
            assert!(Instant::now() < deadline, "writer never got ready");
        }
        std::thread::sleep(Duration::from_millis(rng.random_range(1..250)));
        child.kill()?; // SIGKILL on Unix
        let status = child.wait()?;
        assert!(
            !status.success(),
            "round {round}: writer should have been killed"
        );
        // Everything the child reported as committed must be there.
        let mut committed = 0usize;
        for line in lines {
            if let Some(n) = line?.strip_prefix("M ") {
                committed = committed.max(n.parse()?);
            }
        }

        let store = Store::open(tmp.path())?;
        assert_eq!(store.integrity_check()?, "ok", "round {round}");
        let stored = store.session_messages(SESSION)?.len();
        assert!(
            stored >= committed,
            "round {round}: {stored} stored < {committed} committed"
        );
        let report = store.recover(Timestamp::now())?;
        interrupted_total += report.interrupted_turns.len();
        repaired_total += report.repaired_sessions.len();
        assert!(store.unfinished_turns()?.is_empty(), "round {round}");
        let msgs = store.session_messages(SESSION)?;
        assert_eq!(history_problem(&msgs), None, "round {round}");
        assert_eq!(
            msgs.last().map(|m| m["role"].clone()),
            Some(json!("assistant")),
            "round {round}"
        );
        // Every turn is final and its tool calls cover every tool_use it made.
        let detail = store.get_session(SESSION)?.ok_or("session")?;
        for t in &detail.turns {
            assert!(
                t.status.is_final() && t.result.is_some(),
                "round {round}: {}",
                t.turn_id
            );
        }
        eprintln!(
            "round {round}: committed {committed}, stored {stored}, interrupted {:?}, +{} tool results, +{} messages",
            report.interrupted_turns, report.tool_results_added, report.messages_added
        );
    }
    eprintln!("total interrupted turns {interrupted_total}, repaired sessions {repaired_total}");
    Ok(())
}
