//! The `synapsed` client commands against a real daemon: `ask` (text, tools,
//! `--json`, failures, Ctrl-C), `cancel`, `sessions`, `show`.

mod common;

use std::process::Stdio;

use common::*;
use serde_json::{json, Value};
use synapse_test_support::messages_api::ScriptResponse;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

fn s(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ask_streams_text_and_tools() {
    let api = api(vec![
        text("Hello from the model", 12, 4),
        tool_use(
            "Looking.",
            "toolu_cli",
            "probe",
            json!({"path": "/x"}),
            10,
            5,
        ),
        text("All good.", 10, 5),
    ]);
    let d = daemon(&api);
    let out = run_cli(&d.socket, &["ask", "say hello"]).await;
    assert_eq!(out.status.code(), Some(0), "stderr: {}", s(&out.stderr));
    assert_eq!(s(&out.stdout), "Hello from the model\n");
    let err = s(&out.stderr);
    assert!(
        err.contains("[complete]") && err.contains("12 in / 4 out"),
        "{err}"
    );
    let sid = err
        .split_whitespace()
        .skip_while(|w| *w != "session")
        .nth(1)
        .expect("session id on stderr")
        .to_owned();

    // A tool round, continuing the session, with a host serving the tool.
    let _host = TestHost::register(&d.socket, Mode::Auto).await;
    let out = run_cli(&d.socket, &["ask", "look around", "--session", &sid]).await;
    assert_eq!(out.status.code(), Some(0), "stderr: {}", s(&out.stderr));
    let text = s(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "Looking.", "{text}");
    assert_eq!(lines[1], r#"→ probe {"path":"/x"}"#, "{text}");
    assert!(
        lines[2].starts_with("  ✓ ") && lines[2].ends_with(" ms"),
        "{text}"
    );
    assert_eq!(lines[3], "All good.", "{text}");
    assert_eq!(lines.len(), 4, "{text}");
    let reqs = api.requests();
    assert_eq!(
        reqs[1].body["messages"].as_array().expect("m").len(),
        3,
        "the session was continued"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ask_json_prints_events_and_result() {
    let api = api(vec![
        tool_use(
            "Looking.",
            "toolu_json",
            "probe",
            json!({"path": "/j"}),
            10,
            5,
        ),
        text("Done.", 10, 5),
    ]);
    let d = daemon(&api);
    let _host = TestHost::register(&d.socket, Mode::Auto).await;
    let out = run_cli(&d.socket, &["ask", "--json", "go"]).await;
    assert_eq!(out.status.code(), Some(0), "stderr: {}", s(&out.stderr));
    let lines: Vec<Value> = s(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    let (result, events) = lines.split_last().expect("lines");
    assert_eq!(result["status"], "complete", "{result}");
    assert_eq!(result["text"], "Done.");
    assert_eq!(result["tool_calls"][0]["call_id"], "toolu_json");
    let turn_id = result["turn_id"].as_str().expect("turn_id");
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e["turn_id"], turn_id);
        assert_eq!(e["seq"], i as u64, "{e}");
    }
    let types: Vec<&str> = events
        .iter()
        .map(|e| e["type"].as_str().expect("type"))
        .collect();
    assert_eq!(types.first(), Some(&"status"));
    assert_eq!(types.last(), Some(&"done"));
    assert!(
        types.contains(&"tool_call") && types.contains(&"tool_result") && types.contains(&"text"),
        "{types:?}"
    );
    assert_eq!(&events.last().expect("done")["result"], result);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ask_exit_codes_for_api_error_and_no_daemon() {
    let api = api(vec![ScriptResponse::http_status(400, &[])]);
    let d = daemon(&api);
    let out = run_cli(&d.socket, &["ask", "bad"]).await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout {} stderr {}",
        s(&out.stdout),
        s(&out.stderr)
    );
    let err = s(&out.stderr);
    assert!(
        err.contains("[api_error]") && err.contains("invalid_request"),
        "{err}"
    );
    assert_eq!(api.requests().len(), 1, "400 is not retried");

    let tmp = tempfile::tempdir().expect("tmp");
    let out = run_cli(&tmp.path().join("none.sock"), &["ask", "anyone?"]).await;
    assert_eq!(out.status.code(), Some(1));
    let err = s(&out.stderr);
    assert_eq!(err.lines().count(), 1, "one clear line: {err}");
    assert!(err.contains("synapsed serve"), "{err}");
    assert!(out.stdout.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_sessions_and_show() {
    let api = api(vec![text("The stage has 3 prims.", 10, 5), stall()]);
    let d = daemon(&api);
    let out = run_cli(&d.socket, &["ask", "How many prims?"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", s(&out.stderr));

    let mut c = Conn::open(&d.socket).await;
    let (t, stalled_sid) = c.submit(json!({"prompt": "stall forever"})).await;
    c.until_running(&t).await;
    let out = run_cli(&d.socket, &["cancel", &t]).await;
    assert_eq!(out.status.code(), Some(0), "{}", s(&out.stderr));
    assert_eq!(s(&out.stdout).trim(), format!("cancelled {t}"));
    assert_eq!(
        c.until_done(&t).await.last().expect("done")["result"]["status"],
        "cancelled"
    );
    assert_eq!(c.turn_get(&t).await["status"], "cancelled");
    let out = run_cli(&d.socket, &["cancel", &t]).await;
    assert_eq!(out.status.code(), Some(0));
    assert!(
        s(&out.stdout).contains("already finished"),
        "{}",
        s(&out.stdout)
    );
    let out = run_cli(&d.socket, &["cancel", "turn_nope"]).await;
    assert_ne!(out.status.code(), Some(0), "unknown turn");
    assert!(s(&out.stderr).contains("turn_nope"), "{}", s(&out.stderr));

    let out = run_cli(&d.socket, &["sessions", "--json"]).await;
    assert_eq!(out.status.code(), Some(0));
    let list: Value = serde_json::from_slice(&out.stdout).expect("json");
    let list = list.as_array().expect("array");
    assert_eq!(list.len(), 2);
    let asked = list
        .iter()
        .find(|x| x["session_id"] != stalled_sid.as_str())
        .expect("the ask session");
    let asked_sid = asked["session_id"].as_str().expect("sid").to_owned();
    assert_eq!(asked["turns"], 1);
    assert_eq!(asked["title"], "How many prims?");

    let out = run_cli(&d.socket, &["sessions"]).await;
    assert_eq!(out.status.code(), Some(0));
    let text = s(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with(&asked_sid))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        line.contains("1 turn ") && line.contains("How many prims?"),
        "{line}"
    );
    assert!(text.contains(&stalled_sid), "{text}");

    let out = run_cli(&d.socket, &["show", &asked_sid]).await;
    assert_eq!(out.status.code(), Some(0), "{}", s(&out.stderr));
    let text = s(&out.stdout);
    assert!(
        text.contains(&format!("session {asked_sid} (1 turns)")),
        "{text}"
    );
    assert!(text.contains("complete"), "{text}");
    assert!(text.contains("user:\n  How many prims?"), "{text}");
    assert!(
        text.contains("assistant:\n  The stage has 3 prims."),
        "{text}"
    );
    let out = run_cli(&d.socket, &["show", "--json", &asked_sid]).await;
    let detail: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(detail["session_id"], asked_sid.as_str());
    assert_eq!(detail["messages"].as_array().expect("m").len(), 2);
    let out = run_cli(&d.socket, &["show", "sess_nope"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        s(&out.stderr).contains("no session sess_nope"),
        "{}",
        s(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_cancels_the_turn_and_exits_130() {
    let api = api(vec![stall()]);
    let d = daemon(&api);
    let mut cmd = tokio::process::Command::new(bin());
    cmd.args(["ask", "take your time", "--socket"])
        .arg(&d.socket)
        .env_remove("SYNAPSE_SOCKET")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // Windows: a console of its own, which the Ctrl-C event is sent to.
    #[cfg(windows)]
    cmd.creation_flags(synapse_test_support::console::OWN_CONSOLE);
    let mut child = cmd.spawn().expect("spawn ask");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut first = String::new();
    within("ask's turn line", stderr.read_line(&mut first))
        .await
        .expect("read");
    // "turn TURN in session SESSION"
    let turn_id = first.split_whitespace().nth(1).expect("turn id").to_owned();
    assert!(turn_id.starts_with("turn_"), "{first}");
    // The turn is streaming (stalled) before the interrupt.
    assert!(api.wait_for_requests(1, T).await);
    let c = Conn::open(&d.socket).await;
    assert_eq!(c.turn_get(&turn_id).await["status"], "running");
    let pid = child.id().expect("pid");
    // SIGINT on Unix; a console CTRL_C_EVENT on Windows.
    synapse_test_support::console::interrupt(pid).expect("Ctrl-C");
    let status = within("ask to exit", child.wait()).await.expect("wait");
    let mut rest = String::new();
    let _ = within("stderr", stderr.read_to_string(&mut rest)).await;
    assert_eq!(status.code(), Some(130), "stderr: {first}{rest}");
    assert!(rest.contains("^C: cancelling turn"), "{rest}");
    assert!(rest.contains("[cancelled]"), "{rest}");
    let g = c.turn_get(&turn_id).await;
    assert_eq!(g["status"], "cancelled", "{g}");
}
