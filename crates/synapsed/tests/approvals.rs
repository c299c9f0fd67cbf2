//! Permission modes and approvals over the socket (design §11): each mode ×
//! tool class, allow / deny / allow_session / timeout / cancel while waiting,
//! two clients racing to answer, several calls in one response, a daemon
//! restart while waiting, and bad `turn.approve` input.

mod common;

use std::path::Path;

use common::*;
use serde_json::{json, Value};
use synapse_test_support::daemon::DaemonProcess;
use synapse_test_support::messages_api::ScriptedApi;

fn tool(name: &str, read_only: bool, destructive: bool) -> Value {
    json!({"name": name, "description": format!("{name} tool"),
           "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}},
           "read_only": read_only, "destructive": destructive})
}

/// `probe` (read-only), `edit` (mutating), `wipe` (destructive).
fn host_with_classes() -> Value {
    json!({"name": "houdini", "houdini_version": "21.0.440", "pid": 4242, "hip": "/show/a.hip",
           "ui_available": true,
           "tools": [tool("probe", true, false), tool("edit", false, false), tool("wipe", false, true)]})
}

async fn host(socket: &Path) -> TestHost {
    TestHost::register_with(socket, Mode::Auto, host_with_classes()).await
}

/// The event of `turn_id` of type `ty`, skipping others; panics on `done`.
async fn until_type(c: &mut Conn, turn_id: &str, ty: &str) -> Value {
    loop {
        let e = c.event_of(turn_id).await;
        if e["type"] == ty {
            return e;
        }
        assert_ne!(e["type"], "done", "turn ended before {ty}: {e}");
    }
}

async fn done(c: &mut Conn, turn_id: &str) -> (Vec<Value>, Value) {
    let events = c.until_done(turn_id).await;
    let r = events.last().expect("done")["result"].clone();
    (events, r)
}

fn types(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            let t = e["type"].as_str().expect("type");
            if t == "status" {
                format!("status:{}", e["status"].as_str().expect("status"))
            } else {
                t.to_owned()
            }
        })
        .collect()
}

/// The `tool_result` blocks of the last user message of request `i`.
fn tool_results(api: &ScriptedApi, i: usize) -> Vec<Value> {
    let reqs = api.requests();
    let msgs = reqs[i].body["messages"].as_array().expect("messages");
    blocks(msgs.last().expect("last"))
        .into_iter()
        .filter(|b| b["type"] == "tool_result")
        .collect()
}

fn envelope(block: &Value) -> Value {
    serde_json::from_str(block["content"].as_str().expect("content text")).expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_mode_and_tool_class() {
    // (mode, tool, waits for approval, runs after "allow" / at once)
    let cases = [
        ("ask", "probe", false, true),
        ("ask", "edit", true, true),
        ("ask", "wipe", true, true),
        ("auto", "probe", false, true),
        ("auto", "edit", false, true),
        ("auto", "wipe", true, true),
        ("read_only", "probe", false, true),
        ("read_only", "edit", false, false),
        ("read_only", "wipe", false, false),
    ];
    let api = api(vec![]);
    let d = daemon(&api);
    let mut h = host(&d.socket).await;
    let mut c = Conn::open(&d.socket).await;
    for (i, (mode, name, waits, runs)) in cases.into_iter().enumerate() {
        let call_id = format!("toolu_m{i}");
        api.push([
            tool_use("On it.", &call_id, name, json!({"path": "/n"}), 10, 2),
            text("Finished.", 10, 2),
        ]);
        let before = api.requests().len();
        let (t, _) = c
            .submit(json!({"prompt": format!("{mode} {name}"), "mode": mode}))
            .await;
        if waits {
            let req = until_type(&mut c, &t, "approval_request").await;
            assert_eq!(req["call_id"], call_id.as_str());
            assert_eq!(req["name"], name);
            assert_eq!(req["input"], json!({"path": "/n"}));
            assert_eq!(req["destructive"], name == "wipe");
            let st = c.event_of(&t).await;
            assert_eq!(st["status"], "awaiting_approval", "{st}");
            assert_eq!(c.turn_get(&t).await["status"], "awaiting_approval");
            let r = c
                .call(
                    "turn.approve",
                    json!({"turn_id": t, "call_id": call_id, "decision": "allow"}),
                )
                .await;
            assert_eq!(r, json!({"accepted": true}));
        }
        let (events, r) = done(&mut c, &t).await;
        let ty = types(&events);
        assert_eq!(r["status"], "complete", "{mode} {name}: {r}");
        assert_eq!(r["mode"], mode);
        assert!(
            !ty.contains(&"approval_request".to_owned()),
            "{mode} {name}: {ty:?}"
        );
        if runs {
            let (_, p) = h.invoke().await;
            assert_eq!(p["call_id"], call_id.as_str(), "{mode} {name}");
        }
        let results = tool_results(&api, before + 1);
        assert_eq!(results.len(), 1);
        assert_eq!(results[0]["is_error"].as_bool().unwrap_or(false), !runs);
        if !runs {
            let e = envelope(&results[0]);
            assert_eq!(e["error_type"], "NotPermitted", "{e}");
            assert!(
                e["error_message"]
                    .as_str()
                    .expect("msg")
                    .contains("read_only"),
                "{e}"
            );
        }
        // The tools offered: read_only mode sends only read-only schemas.
        let reqs = api.requests();
        let offered: Vec<&str> = reqs[before].body["tools"]
            .as_array()
            .expect("tools")
            .iter()
            .map(|t| t["name"].as_str().expect("name"))
            .collect();
        if mode == "read_only" {
            assert_eq!(offered, ["probe"], "{mode}");
        } else {
            assert_eq!(offered, ["probe", "edit", "wipe"], "{mode}");
        }
        // The `destructive` flag never reaches the model.
        assert!(!reqs[before].raw_body.contains("destructive"));
    }
    // read_only calls never reached the host.
    assert!(h.seen.try_recv().is_err(), "no other call reached the host");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deny_reaches_the_model_and_allow_session_sticks() {
    let api = api(vec![
        tool_use("Editing.", "toolu_d1", "edit", json!({"path": "/a"}), 10, 2),
        text("Understood, I will not.", 10, 2),
        tool_use("Editing.", "toolu_s1", "edit", json!({"path": "/b"}), 10, 2),
        text("Done.", 10, 2),
        tool_use("Again.", "toolu_s2", "edit", json!({"path": "/c"}), 10, 2),
        text("Done again.", 10, 2),
    ]);
    let d = daemon(&api);
    let mut h = host(&d.socket).await;
    let mut c = Conn::open(&d.socket).await;
    // Deny with a reason.
    let (t, sid) = c.submit(json!({"prompt": "rename it"})).await;
    let req = until_type(&mut c, &t, "approval_request").await;
    assert_eq!(req["call_id"], "toolu_d1");
    let r = c
        .call(
            "turn.approve",
            json!({"turn_id": t, "call_id": "toolu_d1", "decision": "deny", "reason": "keep the old name"}),
        )
        .await;
    assert_eq!(r["accepted"], true);
    let (events, r) = done(&mut c, &t).await;
    assert_eq!(r["status"], "complete");
    assert_eq!(r["mode"], "ask", "default_mode is ask");
    assert_eq!(r["tool_calls"][0]["is_error"], true);
    let ty = types(&events);
    let i = ty
        .iter()
        .position(|x| x == "tool_result")
        .expect("tool_result");
    assert_eq!(ty[i - 1], "status:running", "{ty:?}");
    // The history sent to the model: an error result saying the artist declined, with the reason.
    let results = tool_results(&api, 1);
    assert_eq!(results[0]["is_error"], true);
    let e = envelope(&results[0]);
    assert_eq!(e["error_type"], "DeniedByUser");
    let msg = e["error_message"].as_str().expect("message");
    assert!(
        msg.contains("declined") && msg.contains("keep the old name"),
        "{msg}"
    );

    // allow_session: this call runs, and the next turn of the session runs the tool without asking.
    let (t2, _) = c
        .submit(json!({"prompt": "rename it anyway", "session_id": sid}))
        .await;
    until_type(&mut c, &t2, "approval_request").await;
    let r = c
        .call(
            "turn.approve",
            json!({"turn_id": t2, "call_id": "toolu_s1", "decision": "allow_session"}),
        )
        .await;
    assert_eq!(r["accepted"], true);
    let (_, r) = done(&mut c, &t2).await;
    assert_eq!(r["status"], "complete");
    assert_eq!(h.invoke().await.1["call_id"], "toolu_s1");
    let (t3, _) = c
        .submit(json!({"prompt": "and again", "session_id": sid}))
        .await;
    let (events, r) = done(&mut c, &t3).await;
    assert_eq!(r["status"], "complete", "{r}");
    assert_eq!(r["mode"], "ask", "the session's last mode");
    assert!(
        !types(&events).contains(&"approval_request".to_owned()),
        "{events:?}"
    );
    assert_eq!(h.invoke().await.1["call_id"], "toolu_s2");
    // A new session asks again.
    api.push([
        tool_use("Edit.", "toolu_n1", "edit", json!({}), 10, 2),
        text("ok", 1, 1),
    ]);
    let (t4, _) = c.submit(json!({"prompt": "new session"})).await;
    until_type(&mut c, &t4, "approval_request").await;
    c.call("turn.cancel", json!({"turn_id": t4})).await;
    done(&mut c, &t4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_cancel_and_config_allow_tools() {
    let dir = tempfile::tempdir().expect("tmp");
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "allow_tools = [\"edit\"]\n").expect("config");
    let api = api(vec![
        tool_use("Wipe.", "toolu_t1", "wipe", json!({}), 10, 2),
        text("No answer; stopping.", 10, 2),
        tool_use("Wipe.", "toolu_c1", "wipe", json!({}), 10, 2),
        tool_use("Edit.", "toolu_e1", "edit", json!({}), 10, 2),
        text("Edited.", 10, 2),
    ]);
    let mut o = api_options(&api);
    o.env
        .push(("SYNAPSE_APPROVAL_TIMEOUT_S".into(), "0.3".into()));
    o.args = vec!["--config".into(), config.display().to_string()];
    let d = DaemonProcess::spawn_with(&bin(), o).expect("daemon");
    let mut h = host(&d.socket).await;
    let mut c = Conn::open(&d.socket).await;

    // Timeout → ApprovalTimeout, then running again.
    let (t, _) = c.submit(json!({"prompt": "wipe", "mode": "auto"})).await;
    let (events, r) = done(&mut c, &t).await;
    let ty = types(&events);
    let a = ty
        .iter()
        .position(|x| x == "approval_request")
        .expect("asked");
    assert_eq!(
        ty[a + 1..a + 3],
        ["status:awaiting_approval", "status:running"],
        "{ty:?}"
    );
    assert_eq!(r["status"], "complete");
    let e = envelope(&tool_results(&api, 1)[0]);
    assert_eq!(e["error_type"], "ApprovalTimeout", "{e}");
    // Answering after the turn ended: a clear error, nothing changes.
    let e = c
        .err(
            "turn.approve",
            json!({"turn_id": t, "call_id": "toolu_t1", "decision": "allow"}),
        )
        .await;
    assert_eq!(e.code, -32001);
    assert_eq!(e.data.as_ref().expect("data")["reason"], "turn_final");

    // Cancel while waiting: final at once, the host is never asked.
    let (t, sid) = c.submit(json!({"prompt": "wipe", "mode": "auto"})).await;
    until_type(&mut c, &t, "approval_request").await;
    let r = c.call("turn.cancel", json!({"turn_id": t})).await;
    assert_eq!(r["cancelled"], true);
    let (_, r) = done(&mut c, &t).await;
    assert_eq!(r["status"], "cancelled");
    let s = c.call("session.get", json!({"session_id": sid})).await;
    check_history(&sid, s["messages"].as_array().expect("messages"));
    assert!(h.seen.try_recv().is_err(), "the host was never asked");

    // allow_tools skips the wait in ask mode.
    let (t, _) = c.submit(json!({"prompt": "edit", "mode": "ask"})).await;
    let (events, r) = done(&mut c, &t).await;
    assert_eq!(r["status"], "complete");
    assert!(!types(&events).contains(&"approval_request".to_owned()));
    assert_eq!(h.invoke().await.1["call_id"], "toolu_e1");

    // A turn without a mode takes its session's last mode (`auto` above).
    api.push([text("ok", 1, 1)]);
    let (t, _) = c
        .submit(json!({"prompt": "go on", "session_id": sid}))
        .await;
    assert_eq!(c.turn_get(&t).await["mode"], "auto");
    let (_, r) = done(&mut c, &t).await;
    assert_eq!(r["mode"], "auto");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_race_and_calls_are_approved_one_at_a_time() {
    let api = api(vec![
        synapse_test_support::messages_api::ScriptResponse::message(
            vec![
                json!({"type": "text", "text": "Two edits."}),
                json!({"type": "tool_use", "id": "toolu_p1", "name": "edit", "input": {"path": "/1"}}),
                json!({"type": "tool_use", "id": "toolu_p2", "name": "edit", "input": {"path": "/2"}}),
            ],
            "tool_use",
            10,
            2,
        ),
        text("Both done.", 10, 2),
    ]);
    let d = daemon(&api);
    let mut h = host(&d.socket).await;
    let mut a = Conn::open(&d.socket).await;
    let mut b = Conn::open(&d.socket).await;
    b.call("turn.subscribe", json!({})).await;
    let (t, _) = a.submit(json!({"prompt": "two edits"})).await;
    // Both clients see the first request; only call 1 waits.
    let ra = until_type(&mut a, &t, "approval_request").await;
    let rb = until_type(&mut b, &t, "approval_request").await;
    assert_eq!(ra["call_id"], "toolu_p1");
    assert_eq!(ra, rb, "the same event reaches both");
    let first = b
        .call(
            "turn.approve",
            json!({"turn_id": t, "call_id": "toolu_p1", "decision": "allow"}),
        )
        .await;
    let second = a
        .call(
            "turn.approve",
            json!({"turn_id": t, "call_id": "toolu_p1", "decision": "deny"}),
        )
        .await;
    assert_eq!(first, json!({"accepted": true}));
    assert_eq!(second, json!({"accepted": false}));
    // Call 1 runs before call 2 is asked about.
    let (_, p1) = h.invoke().await;
    assert_eq!(p1["call_id"], "toolu_p1");
    let mut seen = Vec::new();
    let r2 = loop {
        let e = a.event_of(&t).await;
        seen.push(e.clone());
        if e["type"] == "approval_request" {
            break e;
        }
    };
    assert_eq!(r2["call_id"], "toolu_p2");
    assert!(
        seen.iter()
            .any(|e| e["type"] == "tool_result" && e["call_id"] == "toolu_p1"),
        "call 1 finished before call 2 was asked: {seen:?}"
    );
    a.call(
        "turn.approve",
        json!({"turn_id": t, "call_id": "toolu_p2", "decision": "allow"}),
    )
    .await;
    let (_, r) = done(&mut a, &t).await;
    assert_eq!(r["status"], "complete");
    assert_eq!(h.invoke().await.1["call_id"], "toolu_p2");
    let results = tool_results(&api, 1);
    assert_eq!(results.len(), 2);
    assert!(results.iter().all(|b| b.get("is_error").is_none()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_approvals_change_nothing_and_a_restart_interrupts_the_wait() {
    let api = api(vec![tool_use(
        "Edit.",
        "toolu_b1",
        "edit",
        json!({}),
        10,
        2,
    )]);
    let tmp = tempfile::tempdir().expect("tmp");
    let socket = synapse_test_support::test_socket(tmp.path());
    let data = tmp.path().join("data");
    let mut d = daemon_at(&api, &socket, &data);
    let mut h = host(&socket).await;
    let mut c = Conn::open(&socket).await;
    let (t, _) = c.submit(json!({"prompt": "edit"})).await;
    until_type(&mut c, &t, "approval_request").await;

    let e = c
        .err(
            "turn.approve",
            json!({"turn_id": t, "call_id": "toolu_nope", "decision": "allow"}),
        )
        .await;
    assert_eq!(e.code, -32001);
    assert_eq!(e.data.as_ref().expect("data")["reason"], "unknown_call");
    let e = c
        .err(
            "turn.approve",
            json!({"turn_id": "turn_nope", "call_id": "toolu_b1", "decision": "allow"}),
        )
        .await;
    assert_eq!(e.code, -32001);
    assert_eq!(e.data.as_ref().expect("data")["reason"], "unknown_turn");
    let e = c
        .err(
            "turn.approve",
            json!({"turn_id": t, "call_id": "toolu_b1", "decision": "maybe"}),
        )
        .await;
    assert_eq!(e.code, -32602);
    assert!(
        e.data
            .as_ref()
            .expect("data")
            .to_string()
            .contains("decision")
            || e.data.as_ref().expect("data").to_string().contains("maybe"),
        "{e:?}"
    );
    let e = c
        .err("turn.approve", json!({"turn_id": t, "decision": "allow"}))
        .await;
    assert_eq!(e.code, -32602);
    // Still waiting, nothing changed.
    assert_eq!(c.turn_get(&t).await["status"], "awaiting_approval");
    assert!(h.seen.try_recv().is_err());

    // kill -9 while waiting; the restarted daemon finds the turn interrupted.
    d.child.kill().expect("kill");
    d.child.wait().expect("reaped");
    drop(c);
    drop(h);
    let _d = daemon_at(&api, &socket, &data);
    let c = Conn::open(&socket).await;
    let info = c.turn_get(&t).await;
    assert_eq!(info["status"], "interrupted", "{info}");
    assert_eq!(info["mode"], "ask");
    let e = c
        .err(
            "turn.approve",
            json!({"turn_id": t, "call_id": "toolu_b1", "decision": "allow"}),
        )
        .await;
    assert_eq!(e.code, -32001);
    assert_eq!(e.data.as_ref().expect("data")["reason"], "turn_final");
    assert!(e.message.contains("interrupted"), "{}", e.message);
    let sid = info["session_id"].as_str().expect("sid");
    let s = c.call("session.get", json!({"session_id": sid})).await;
    check_history(sid, s["messages"].as_array().expect("messages"));
}

#[cfg(unix)] // a blocking Unix socket with a read timeout
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_subscriber_never_loses_an_approval_request() {
    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::net::UnixStream;
    use std::time::Duration;
    // ~5 MiB of text deltas, then a mutating call with a big input.
    let mut content: Vec<Value> = (0..60)
        .map(|i| json!({"type": "text", "text": format!("{i:02}").repeat(40 * 1024)}))
        .collect();
    // An input over the 1 MiB progress limit: as a progress event it would be
    // dropped for a reader with a backlog.
    content.push(
        json!({"type": "tool_use", "id": "toolu_slow", "name": "edit",
                        "input": {"path": "x".repeat(1_200_000)}}),
    );
    let api = api(vec![
        synapse_test_support::messages_api::ScriptResponse::message(content, "tool_use", 10, 5),
        text("ok", 1, 1),
    ]);
    let d = daemon(&api);
    let _h = host(&d.socket).await;
    let mut slow = UnixStream::connect(&d.socket).expect("connect");
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    slow.write_all(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"turn.subscribe\",\"params\":{}}\n")
        .expect("subscribe");
    let mut slow_reader = BufReader::new(slow);
    let mut line = String::new();
    slow_reader.read_line(&mut line).expect("subscribe answer");

    let mut fast = Conn::open(&d.socket).await;
    let (t, _) = fast.submit(json!({"prompt": "stream, then edit"})).await;
    until_type(&mut fast, &t, "approval_request").await;
    fast.call(
        "turn.approve",
        json!({"turn_id": t, "call_id": "toolu_slow", "decision": "allow"}),
    )
    .await;
    let (all, r) = done(&mut fast, &t).await;
    assert_eq!(r["status"], "complete");

    let got = tokio::task::spawn_blocking(move || {
        let mut got = Vec::new();
        loop {
            let mut line = String::new();
            assert_ne!(
                slow_reader.read_line(&mut line).expect("read in time"),
                0,
                "closed before done"
            );
            let ev: Value = serde_json::from_str(&line).expect("json");
            let done = ev["params"]["type"] == "done";
            got.push(ev["params"].clone());
            if done {
                return got;
            }
        }
    })
    .await
    .expect("join");
    let last_seq = all.last().expect("done")["seq"].as_u64();
    let total = last_seq.expect("seq") as usize + 1;
    assert!(
        got.len() < total,
        "the slow reader lost progress events ({} of {total})",
        got.len()
    );
    assert!(
        got.iter()
            .any(|e| e["type"] == "approval_request" && e["call_id"] == "toolu_slow"),
        "the approval_request reached the slow reader"
    );
    assert_eq!(got.last().expect("done")["seq"].as_u64(), last_seq);
}
