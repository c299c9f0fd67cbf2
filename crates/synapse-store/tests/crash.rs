//! Crash safety: a child process (this test binary, re-run in "writer" mode)
//! appends messages in a loop and is killed with SIGKILL at a random moment.
//! After each kill the database must open, pass `integrity_check`, hold every
//! message the child reported as committed, and recover to a state with no
//! non-final turn and a sendable history.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
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
    // Messages in the session so far: counted here rather than reloaded
    // after every append.
    let mut n_messages = store.session_messages(SESSION).expect("load").len();
    println!("WRITER READY");
    let mut append = |turn: &str, m: serde_json::Value| {
        store.append_message(SESSION, turn, &m).expect("append");
        n_messages += 1;
        println!("M {n_messages}");
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
                mode: None,
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
        // Read on a thread so every wait below is bounded.
        let (tx, lines) = mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) if line.ends_with("WRITER READY") => break,
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("round {round}: writer never got ready");
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err("writer exited before ready".into());
                }
            }
        }
        std::thread::sleep(Duration::from_millis(rng.random_range(1..250)));
        child.kill()?; // SIGKILL on Unix
        let status = child.wait()?;
        assert!(
            !status.success(),
            "round {round}: writer should have been killed"
        );
        // Everything the child reported as committed must be there.
        // The pipe closes with the writer, which ends the reader thread.
        let mut committed = 0usize;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(n) = line.strip_prefix("M ") {
                        committed = committed.max(n.parse()?);
                    }
                }
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    panic!("round {round}: writer output never ended")
                }
            }
        }
        reader.join().map_err(|_| "reader thread panicked")?;

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
        // A writer killed before its first message (round 0, a slow start)
        // leaves none; otherwise the history ends with the assistant.
        if let Some(last) = msgs.last() {
            assert_eq!(last["role"], json!("assistant"), "round {round}");
        }
        // Every turn is final and its tool calls cover every tool_use it
        // made (tool_use ids are "<turn>-a", "<turn>-b"); that every stored
        // tool_use has its tool_result is checked by `history_problem` above.
        let detail = store.get_session(SESSION)?.ok_or("session")?;
        let mut recorded = HashSet::new();
        for t in &detail.turns {
            let result = t.result.as_ref();
            assert!(
                t.status.is_final() && result.is_some(),
                "round {round}: {}",
                t.turn_id
            );
            for c in result.map(|r| r.tool_calls.as_slice()).unwrap_or_default() {
                assert!(
                    c.call_id.starts_with(&format!("{}-", t.turn_id)),
                    "round {round}: call {} recorded on turn {}",
                    c.call_id,
                    t.turn_id
                );
                recorded.insert(c.call_id.clone());
            }
        }
        for m in &msgs {
            let blocks = m["content"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default();
            for b in blocks.iter().filter(|b| b["type"] == "tool_use") {
                let id = b["id"].as_str().unwrap_or_default();
                assert!(
                    recorded.contains(id),
                    "round {round}: tool_use {id} has no tool-call record"
                );
            }
        }
        eprintln!(
            "round {round}: committed {committed}, stored {stored}, interrupted {:?}, +{} tool results, +{} messages",
            report.interrupted_turns, report.tool_results_added, report.messages_added
        );
    }
    eprintln!("total interrupted turns {interrupted_total}, repaired sessions {repaired_total}");
    Ok(())
}
