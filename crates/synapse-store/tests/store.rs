//! Store behaviour against real SQLite files in temporary directories.

use serde_json::{json, Value};
use synapse_protocol::{
    ErrorKind, Timestamp, ToolCallRecord, ToolSpec, TurnError, TurnResult, TurnStatus, Usage,
};
use synapse_store::{history_problem, NewTurn, Repair, Store, StoreError, SCHEMA_VERSION};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn ts(ms: i64) -> Timestamp {
    Timestamp::from_unix_ms(1_700_000_000_000 + ms)
}

fn new_turn(turn_id: &str, session_id: &str, prompt: &str, at: i64) -> NewTurn {
    NewTurn {
        turn_id: turn_id.into(),
        session_id: session_id.into(),
        prompt: prompt.into(),
        host_id: Some("h1".into()),
        created_at: ts(at),
        params: json!({"model": "claude-x", "max_tokens": 8192, "max_iterations": 20, "system": null}),
    }
}

fn user(text: &str) -> Value {
    json!({"role": "user", "content": text})
}

fn assistant_text(text: &str) -> Value {
    json!({"role": "assistant", "content": [{"type": "text", "text": text}]})
}

fn assistant_tools(ids: &[&str]) -> Value {
    let blocks: Vec<Value> = ids
        .iter()
        .map(|id| json!({"type": "tool_use", "id": id, "name": "synapse_inspect_stage", "input": {"id": id}}))
        .collect();
    json!({"role": "assistant", "content": blocks})
}

fn results(ids: &[&str]) -> Value {
    let blocks: Vec<Value> = ids
        .iter()
        .map(|id| json!({"type": "tool_result", "tool_use_id": id, "content": "{\"ok\":true}"}))
        .collect();
    json!({"role": "user", "content": blocks})
}

#[test]
fn store_is_send_sync_clone() {
    fn check<T: Send + Sync + Clone + 'static>() {}
    check::<Store>();
}

#[test]
fn migrates_from_empty_with_private_permissions() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("nested").join("data");
    let store = Store::open(&dir)?;
    let file = dir.join("synapse.db");
    assert_eq!(store.path(), Some(file.as_path()));
    assert!(file.is_file());
    assert_eq!(store.settings()?.user_version, SCHEMA_VERSION);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&dir)?.permissions().mode() & 0o777, 0o700);
        assert_eq!(
            std::fs::metadata(&file)?.permissions().mode() & 0o777,
            0o600
        );
    }
    // Tables exist and are empty.
    assert!(store.list_sessions()?.is_empty());
    assert!(store.unfinished_turns()?.is_empty());
    assert_eq!(store.integrity_check()?, "ok");
    // A file path works too.
    let other = Store::open(tmp.path().join("x.db"))?;
    assert_eq!(other.settings()?.user_version, SCHEMA_VERSION);
    Ok(())
}

#[test]
fn pragmas_are_wal_and_synchronous_full() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let store = Store::open(tmp.path())?;
    let s = store.settings()?;
    assert_eq!(s.journal_mode, "wal");
    assert_eq!(s.synchronous, 2, "synchronous=FULL");
    assert!(s.foreign_keys);
    assert!(s.busy_timeout_ms >= 1000);
    // WAL is persistent in the file: a plain connection sees it too.
    drop(store);
    let raw = rusqlite::Connection::open(tmp.path().join("synapse.db"))?;
    let mode: String = raw.pragma_query_value(None, "journal_mode", |r| r.get(0))?;
    assert_eq!(mode, "wal");
    Ok(())
}

#[test]
fn reopen_keeps_everything() -> TestResult {
    let tmp = tempfile::tempdir()?;
    {
        let store = Store::open(tmp.path())?;
        store.create_session("s1", ts(0), Some("box"))?;
        store.insert_turn(&new_turn("t1", "s1", "make a box", 1))?;
        store.append_message("s1", "t1", &user("make a box"))?;
    }
    let store = Store::open(tmp.path())?;
    assert_eq!(store.settings()?.user_version, SCHEMA_VERSION);
    assert!(store.session_exists("s1")?);
    assert_eq!(store.session_messages("s1")?, vec![user("make a box")]);
    assert_eq!(
        store.get_turn("t1")?.map(|t| t.status),
        Some(TurnStatus::Queued)
    );
    Ok(())
}

#[test]
fn refuses_a_newer_schema() -> TestResult {
    let tmp = tempfile::tempdir()?;
    drop(Store::open(tmp.path())?);
    {
        let raw = rusqlite::Connection::open(tmp.path().join("synapse.db"))?;
        raw.pragma_update(None, "user_version", SCHEMA_VERSION + 1)?;
    }
    match Store::open(tmp.path()) {
        Err(StoreError::NewerSchema { found, supported }) => {
            assert_eq!(found, SCHEMA_VERSION + 1);
            assert_eq!(supported, SCHEMA_VERSION);
        }
        other => panic!("expected NewerSchema, got {other:?}"),
    }
    // Untouched.
    let raw = rusqlite::Connection::open(tmp.path().join("synapse.db"))?;
    let v: i64 = raw.pragma_query_value(None, "user_version", |r| r.get(0))?;
    assert_eq!(v, SCHEMA_VERSION + 1);
    Ok(())
}

#[test]
fn round_trips_sessions_turns_messages_and_tool_calls() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let store = Store::open(tmp.path())?;
    store.create_session("s1", ts(0), None)?;
    assert!(matches!(
        store.create_session("s1", ts(0), None),
        Err(StoreError::AlreadyExists {
            what: "session",
            ..
        })
    ));
    let nt = new_turn("t1", "s1", "inspect the stage\nplease", 10);
    store.insert_turn(&nt)?;
    assert!(matches!(
        store.insert_turn(&nt),
        Err(StoreError::AlreadyExists { what: "turn", .. })
    ));
    assert!(store
        .insert_turn(&new_turn("t9", "nope", "x", 0))
        .is_err_and(|e| e.is_not_found()));
    assert_eq!(store.turn_params("t1")?, Some(nt.params.clone()));

    let queued = store.get_turn("t1")?.ok_or("no turn")?;
    assert_eq!(queued.status, TurnStatus::Queued);
    assert_eq!(queued.prompt, nt.prompt);
    assert_eq!(queued.host_id.as_deref(), Some("h1"));
    assert_eq!(queued.created_at, ts(10));
    assert!(queued.result.is_none() && queued.started_at.is_none());
    assert_eq!(store.unfinished_turns()?.len(), 1);

    store.set_turn_running("t1", ts(20))?;
    assert!(matches!(
        store.set_turn_running("t1", ts(21)),
        Err(StoreError::InvalidTransition {
            from: TurnStatus::Running,
            to: TurnStatus::Running,
            ..
        })
    ));

    assert!(!store.session_has_tool_blocks("s1")?);
    let history = vec![
        user("inspect the stage"),
        assistant_tools(&["toolu_1", "toolu_2"]),
        results(&["toolu_1", "toolu_2"]),
        assistant_text("The stage has 3 prims."),
    ];
    for m in &history {
        store.append_message("s1", "t1", m)?;
    }
    assert!(store.session_has_tool_blocks("s1")?);
    assert!(matches!(
        store.append_message("s1", "t1", &json!({"role": "system", "content": "x"})),
        Err(StoreError::InvalidMessage(_))
    ));
    store.create_session("s2", ts(1), None)?;
    assert!(matches!(
        store.append_message("s2", "t1", &user("x")),
        Err(StoreError::WrongSession { .. })
    ));
    assert!(store
        .append_message("s1", "nope", &user("x"))
        .is_err_and(|e| e.is_not_found()));

    let calls = vec![
        ToolCallRecord {
            call_id: "toolu_1".into(),
            name: "synapse_inspect_stage".into(),
            input: json!({"id": "toolu_1"}),
            is_error: false,
            duration_ms: 12,
        },
        ToolCallRecord {
            call_id: "toolu_2".into(),
            name: "synapse_inspect_stage".into(),
            input: json!({"id": "toolu_2"}),
            is_error: true,
            duration_ms: 30_000,
        },
    ];
    for c in &calls {
        store.record_tool_call("t1", c)?;
    }
    store.record_tool_call("t1", &calls[0])?; // upsert, no duplicate
    store.add_turn_usage(
        "t1",
        &Usage {
            input_tokens: 5,
            output_tokens: 6,
            ..Default::default()
        },
    )?;

    let result = TurnResult {
        mode: None,
        turn_id: "t1".into(),
        session_id: "s1".into(),
        status: TurnStatus::ApiError,
        text: "The stage has 3 prims.".into(),
        iterations: 2,
        tool_calls: calls.clone(),
        usage: Usage {
            cost_usd: None,
            input_tokens: 100,
            output_tokens: 50,
            cache_read_input_tokens: 7,
            cache_creation_input_tokens: 9,
        },
        error: Some(TurnError {
            kind: ErrorKind::Overloaded,
            message: "overloaded".into(),
        }),
        started_at: ts(20),
        finished_at: ts(30),
    };
    let mut not_final = result.clone();
    not_final.status = TurnStatus::Running;
    assert!(matches!(
        store.finish_turn(&not_final),
        Err(StoreError::InvalidTransition { .. })
    ));
    store.finish_turn(&result)?;
    let mut again = result.clone();
    again.status = TurnStatus::Complete;
    assert!(matches!(
        store.finish_turn(&again),
        Err(StoreError::InvalidTransition {
            from: TurnStatus::ApiError,
            to: TurnStatus::Complete,
            ..
        })
    ));

    let info = store.get_turn("t1")?.ok_or("no turn")?;
    assert_eq!(info.status, TurnStatus::ApiError);
    assert_eq!(info.started_at, Some(ts(20)));
    assert_eq!(info.finished_at, Some(ts(30)));
    assert_eq!(info.result.as_ref(), Some(&result));
    assert!(store.unfinished_turns()?.is_empty());
    assert!(store.get_turn("missing")?.is_none());

    assert_eq!(store.session_messages("s1")?, history);
    let detail = store.get_session("s1")?.ok_or("no session")?;
    assert_eq!(detail.session_id, "s1");
    assert_eq!(detail.messages, history);
    assert_eq!(detail.turns, vec![info]);
    assert!(store.get_session("missing")?.is_none());

    // JSON of the detail is what session.get returns.
    let wire = serde_json::to_value(&detail)?;
    assert_eq!(
        wire["turns"][0]["result"]["usage"]["cache_read_input_tokens"],
        7
    );

    // Tool specs.
    assert_eq!(store.session_tool_specs("s1")?, None);
    let specs = vec![ToolSpec {
        destructive: false,
        name: "synapse_inspect_stage".into(),
        description: "Inspect".into(),
        input_schema: json!({"type": "object", "properties": {}}),
        read_only: true,
        timeout_s: Some(10.0),
    }];
    store.set_session_tool_specs("s1", &specs)?;
    assert_eq!(store.session_tool_specs("s1")?, Some(specs.clone()));
    assert!(store
        .set_session_tool_specs("missing", &specs)
        .is_err_and(|e| e.is_not_found()));
    assert_eq!(store.session_tool_specs("missing")?, None);

    // Title from the first prompt line.
    let list = store.list_sessions()?;
    let s1 = list.iter().find(|s| s.session_id == "s1").ok_or("s1")?;
    assert_eq!(s1.title.as_deref(), Some("inspect the stage"));
    Ok(())
}

#[test]
fn a_queued_turn_can_be_finished_without_running() -> TestResult {
    let store = Store::open_in_memory()?;
    store.create_session("s", ts(0), None)?;
    store.insert_turn(&new_turn("t", "s", "p", 1))?;
    store.finish_turn(&TurnResult {
        mode: None,
        turn_id: "t".into(),
        session_id: "s".into(),
        status: TurnStatus::Cancelled,
        text: String::new(),
        iterations: 0,
        tool_calls: vec![],
        usage: Usage::default(),
        error: None,
        started_at: ts(5),
        finished_at: ts(5),
    })?;
    let r = store
        .get_turn("t")?
        .and_then(|t| t.result)
        .ok_or("no result")?;
    assert_eq!(r.status, TurnStatus::Cancelled);
    assert_eq!(r.started_at, ts(5));
    assert!(matches!(
        store.set_turn_running("t", ts(6)),
        Err(StoreError::InvalidTransition {
            from: TurnStatus::Cancelled,
            ..
        })
    ));
    Ok(())
}

#[test]
fn lists_newest_updated_first_with_counts() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let store = Store::open(tmp.path())?;
    store.create_session("a", ts(0), Some("A"))?;
    store.create_session("b", ts(1), Some("B"))?;
    store.create_session("c", ts(2), None)?;
    for (i, t) in ["a1", "a2", "a3"].iter().enumerate() {
        store.insert_turn(&new_turn(t, "a", "pa", 10 + i as i64))?;
    }
    store.insert_turn(&new_turn("b1", "b", "pb", 5))?;
    let list = store.list_sessions()?;
    let order: Vec<_> = list
        .iter()
        .map(|s| (s.session_id.as_str(), s.turns))
        .collect();
    assert_eq!(order, vec![("a", 3), ("b", 1), ("c", 0)]);
    assert_eq!(list[0].updated_at, ts(12));
    assert_eq!(list[0].created_at, ts(0));
    assert_eq!(list[0].title.as_deref(), Some("A"));
    assert_eq!(list[2].title, None);
    // A message bumps updated_at (wall clock, far later than these test times).
    store
        .append_message("c", "a1", &user("x"))
        .err()
        .ok_or("wrong session accepted")?;
    store.insert_turn(&new_turn("c1", "c", "pc", 3))?;
    store.append_message("c", "c1", &user("pc"))?;
    assert_eq!(store.list_sessions()?[0].session_id, "c");
    // Turns come back in seq order within the session.
    let detail = store.get_session("a")?.ok_or("a")?;
    let ids: Vec<_> = detail.turns.iter().map(|t| t.turn_id.as_str()).collect();
    assert_eq!(ids, vec!["a1", "a2", "a3"]);
    Ok(())
}

fn assert_sendable(store: &Store) -> TestResult {
    for s in store.list_sessions()? {
        let msgs = store.session_messages(&s.session_id)?;
        assert_eq!(history_problem(&msgs), None, "session {}", s.session_id);
        if let Some(last) = msgs.last() {
            assert_eq!(
                last["role"], "assistant",
                "session {} ends with a user message",
                s.session_id
            );
        }
    }
    Ok(())
}

#[test]
fn recovery_interrupts_turns_and_closes_tool_use() -> TestResult {
    let tmp = tempfile::tempdir()?;
    {
        let store = Store::open(tmp.path())?;
        // s1: running turn died after the model asked for two tools; one ran.
        store.create_session("s1", ts(0), None)?;
        store.insert_turn(&new_turn("t1", "s1", "first", 1))?;
        store.set_turn_running("t1", ts(2))?;
        store.append_message("s1", "t1", &user("first"))?;
        store.append_message("s1", "t1", &assistant_tools(&["u1", "u2"]))?;
        // A failed attempt that still reported usage, then the call that
        // produced the stored assistant message: two usage reports, one
        // iteration.
        for (input_tokens, output_tokens) in [(4, 0), (6, 3)] {
            store.add_turn_usage(
                "t1",
                &Usage {
                    input_tokens,
                    output_tokens,
                    ..Default::default()
                },
            )?;
        }
        store.record_tool_call(
            "t1",
            &ToolCallRecord {
                call_id: "u1".into(),
                name: "synapse_inspect_stage".into(),
                input: json!({"id": "u1"}),
                is_error: false,
                duration_ms: 4,
            },
        )?;
        // ...and a second turn was queued behind it.
        store.insert_turn(&new_turn("t2", "s1", "second", 3))?;
        // s2: running turn died after storing only its prompt.
        store.create_session("s2", ts(0), None)?;
        store.insert_turn(&new_turn("t3", "s2", "hello", 4))?;
        store.set_turn_running("t3", ts(5))?;
        store.append_message("s2", "t3", &user("hello"))?;
        // s3: a finished, sound session must stay untouched.
        store.create_session("s3", ts(0), None)?;
        store.insert_turn(&new_turn("t4", "s3", "ok", 6))?;
        store.set_turn_running("t4", ts(7))?;
        store.append_message("s3", "t4", &user("ok"))?;
        store.append_message("s3", "t4", &assistant_text("fine"))?;
        store.finish_turn(&TurnResult {
            mode: None,
            turn_id: "t4".into(),
            session_id: "s3".into(),
            status: TurnStatus::Complete,
            text: "fine".into(),
            iterations: 1,
            tool_calls: vec![],
            usage: Usage::default(),
            error: None,
            started_at: ts(7),
            finished_at: ts(8),
        })?;
    }
    let store = Store::open(tmp.path())?;
    let before_s3 = store.session_messages("s3")?;
    let report = store.recover(ts(100))?;
    assert_eq!(report.interrupted_turns, vec!["t1", "t2", "t3"]);
    assert_eq!(report.repaired_sessions, vec!["s1", "s2"]);
    assert_eq!(report.tool_results_added, 2);
    assert!(store.unfinished_turns()?.is_empty());
    assert_sendable(&store)?;
    assert_eq!(store.session_messages("s3")?, before_s3);

    let t1 = store.get_turn("t1")?.and_then(|t| t.result).ok_or("t1")?;
    assert_eq!(t1.status, TurnStatus::Interrupted);
    assert_eq!(t1.error, None);
    assert_eq!(t1.finished_at, ts(100));
    assert_eq!(t1.started_at, ts(2));
    // Iterations come from the stored assistant messages, not from the
    // number of usage reports.
    assert_eq!(t1.iterations, 1);
    assert_eq!(t1.usage.input_tokens, 10);
    assert_eq!(t1.usage.output_tokens, 3);
    let ids: Vec<_> = t1
        .tool_calls
        .iter()
        .map(|c| (c.call_id.as_str(), c.is_error))
        .collect();
    assert_eq!(ids, vec![("u1", false), ("u2", true)]);
    let t2 = store.get_turn("t2")?.and_then(|t| t.result).ok_or("t2")?;
    assert_eq!(
        (t2.status, t2.started_at),
        (TurnStatus::Interrupted, ts(100))
    );

    let s1 = store.session_messages("s1")?;
    assert_eq!(s1.len(), 4);
    let block = &s1[2]["content"][1];
    assert_eq!(block["tool_use_id"], "u2");
    assert_eq!(block["is_error"], true);
    let env: Value = serde_json::from_str(block["content"].as_str().ok_or("text")?)?;
    assert_eq!(env["error_type"], "Interrupted");
    assert_eq!(env["tool_name"], "synapse_inspect_stage");
    assert_eq!(s1[3], assistant_text("(interrupted)"));
    assert_eq!(store.session_messages("s2")?.len(), 2);

    // Idempotent, and the session can simply be continued.
    assert_eq!(store.recover(ts(200))?, Default::default());
    store.insert_turn(&new_turn("t5", "s2", "again", 300))?;
    store.append_message("s2", "t5", &user("again"))?;
    assert_eq!(history_problem(&store.session_messages("s2")?), None);
    Ok(())
}

#[test]
fn repair_session_closes_a_failed_turn() -> TestResult {
    let store = Store::open_in_memory()?;
    store.create_session("s", ts(0), None)?;
    store.insert_turn(&new_turn("t", "s", "p", 1))?;
    store.append_message("s", "t", &user("p"))?;
    let r = store.repair_session("s", &Repair::ended(TurnStatus::ApiError), ts(2))?;
    assert_eq!(r.messages_added, 1);
    assert_eq!(
        store.session_messages("s")?[1],
        assistant_text("(api_error)")
    );
    assert!(store
        .repair_session("s", &Repair::interrupted(), ts(3))?
        .is_empty());
    assert!(store
        .repair_session("nope", &Repair::interrupted(), ts(3))
        .is_err_and(|e| e.is_not_found()));
    Ok(())
}

#[test]
fn new_session_and_first_turn_commit_together() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path())?;
    store.insert_turn_in_new_session(&new_turn(
        "t1",
        "s1",
        "Light the kitchen\nwith a dome",
        1_000,
    ))?;
    let list = store.list_sessions()?;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].turns, 1);
    assert_eq!(list[0].title.as_deref(), Some("Light the kitchen"));
    assert_eq!(list[0].created_at, ts(1_000));
    // Atomic: a turn id that already exists leaves no new session behind.
    let err = store.insert_turn_in_new_session(&new_turn("t1", "s2", "again", 2_000));
    assert!(err.is_err());
    assert!(!store.session_exists("s2")?);
    // A continued session must exist.
    let err = store
        .insert_turn(&new_turn("t2", "nope", "x", 3_000))
        .expect_err("unknown session");
    assert!(err.is_not_found());
    Ok(())
}

#[test]
fn tool_specs_rewrite_is_idempotent_and_checks_the_session() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path())?;
    store.create_session("s1", ts(1), None)?;
    let spec = synapse_protocol::ToolSpec {
        destructive: false,
        name: "inspect".into(),
        description: "d".into(),
        input_schema: serde_json::json!({"type": "object"}),
        read_only: true,
        timeout_s: None,
    };
    store.set_session_tool_specs("s1", std::slice::from_ref(&spec))?;
    store.set_session_tool_specs("s1", std::slice::from_ref(&spec))?; // unchanged: no row changes, still Ok
    assert_eq!(store.session_tool_specs("s1")?, Some(vec![spec.clone()]));
    let err = store
        .set_session_tool_specs("nope", &[spec])
        .expect_err("unknown session");
    assert!(err.is_not_found());
    Ok(())
}

/// The raw history (the daemon's turn start) is the parsed history, message
/// for message, as the stored bytes: same messages, indexes and refusal rule.
#[test]
fn raw_history_is_the_parsed_history_as_stored_text() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path())?;
    store.insert_turn_in_new_session(&new_turn("t1", "s1", "look", 0))?;
    store.start_turn("s1", "t1", ts(1), &user("look"))?;
    store.append_message("s1", "t1", &assistant_tools(&["toolu_1"]))?;
    store.append_message("s1", "t1", &results(&["toolu_1"]))?;
    store.append_message(
        "s1",
        "t1",
        &json!({"role": "assistant", "content": [{"type": "text", "text": "é \"q\"", "citations": [{"x": 1.5}]}]}),
    )?;
    store.finish_turn(&TurnResult {
        turn_id: "t1".into(),
        session_id: "s1".into(),
        status: TurnStatus::Complete,
        text: String::new(),
        iterations: 2,
        tool_calls: vec![],
        usage: Usage::default(),
        error: None,
        started_at: ts(1),
        finished_at: ts(2),
        mode: None,
    })?;
    store.insert_turn(&new_turn("t2", "s1", "why", 3))?;
    store.start_turn("s1", "t2", ts(4), &user("why"))?;
    store.append_message("s1", "t2", &assistant_text(""))?;
    store.finish_turn(&TurnResult {
        turn_id: "t2".into(),
        session_id: "s1".into(),
        status: TurnStatus::Refusal,
        text: String::new(),
        iterations: 1,
        tool_calls: vec![],
        usage: Usage::default(),
        error: None,
        started_at: ts(4),
        finished_at: ts(5),
        mode: None,
    })?;
    for from in [0, 1, 3, 9] {
        let parsed = store.session_history_from("s1", from)?;
        let raw = store.session_history_raw_from("s1", from)?;
        assert_eq!(raw.stored_idx, parsed.stored_idx, "from {from}");
        assert_eq!(raw.next_idx, parsed.next_idx);
        let as_values: Vec<Value> = raw.messages.iter().map(|m| m.to_value()).collect();
        assert_eq!(as_values, parsed.messages, "from {from}");
        for (m, v) in raw.messages.iter().zip(&parsed.messages) {
            assert_eq!(serde_json::to_string(m)?, serde_json::to_string(v)?);
        }
    }
    assert_eq!(store.session_history_raw_from("s1", 0)?.messages.len(), 4);
    assert!(store
        .session_history_raw_from("nope", 0)?
        .messages
        .is_empty());
    Ok(())
}
