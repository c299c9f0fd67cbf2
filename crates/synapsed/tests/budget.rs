//! Spending caps over the socket (design §12): a turn cap reached mid-turn,
//! a daily cap across turns, sessions and a restart, unknown prices, bad
//! budgets, and `synapsed usage`. (The local-midnight reset is tested with
//! an injected clock in `synapse-daemon`'s `budget` module.)

mod common;

use std::process::Stdio;

use common::*;
use serde_json::{json, Value};
use synapse_test_support::daemon::{serve_command, DaemonProcess, Options};
use synapse_test_support::messages_api::ScriptedApi;

/// The prices below are claude-sonnet-4-5's ($3 in / $15 out per MTok):
/// the daemon is pinned to it, whatever the default model is.
fn opts(api: &ScriptedApi, env: &[(&str, &str)]) -> Options {
    let mut o = api_options(api);
    o.env
        .push(("SYNAPSE_MODEL".into(), "claude-sonnet-4-5".into()));
    o.env
        .extend(env.iter().map(|(k, v)| ((*k).into(), (*v).into())));
    o
}

async fn run_turn(c: &mut Conn, params: Value) -> Value {
    let (t, _) = c.submit(params).await;
    let events = c.until_done(&t).await;
    events.last().expect("done")["result"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_turn_cap_reached_mid_turn_sends_no_further_request() {
    // 1000 input tokens of claude-sonnet-4-5 ($3/MTok) = $0.003.
    let api = api(vec![
        tool_use("Looking.", "toolu_c1", "probe", json!({}), 1000, 0),
        text("never sent", 1, 1),
    ]);
    let d = DaemonProcess::spawn_with(&bin(), opts(&api, &[])).expect("daemon");
    let _h = TestHost::register(&d.socket, Mode::Auto).await;
    let mut c = Conn::open(&d.socket).await;
    let r = run_turn(
        &mut c,
        json!({"prompt": "look", "max_turn_cost_usd": 0.002}),
    )
    .await;
    assert_eq!(r["status"], "budget_exceeded", "{r}");
    assert_eq!(r["error"]["kind"], "budget");
    let msg = r["error"]["message"].as_str().expect("message");
    assert!(
        msg.contains("max_turn_cost_usd") && msg.contains("$0.0030") && msg.contains("$0.0020"),
        "{msg}"
    );
    assert_eq!(r["iterations"], 1);
    assert_eq!(r["usage"]["cost_usd"], 0.003);
    assert_eq!(r["tool_calls"].as_array().expect("calls").len(), 1);
    assert_eq!(api.requests().len(), 1, "no request after the cap");
    // The stored result says the same.
    let info = c.turn_get(r["turn_id"].as_str().expect("id")).await;
    assert_eq!(info["result"]["usage"]["cost_usd"], 0.003);
    assert_eq!(info["result"]["status"], "budget_exceeded");
    let sid = r["session_id"].as_str().expect("sid");
    let s = c.call("session.get", json!({"session_id": sid})).await;
    check_history(sid, s["messages"].as_array().expect("messages"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_cap_spans_turns_sessions_and_restarts() {
    let api = api(vec![text("one", 1000, 0), text("two", 1000, 0)]);
    let tmp = tempfile::tempdir().expect("tmp");
    let socket = synapse_test_support::test_socket(tmp.path());
    let data = tmp.path().join("data");
    let mut o = opts(&api, &[("SYNAPSE_DAILY_BUDGET_USD", "0.005")]);
    o.socket = Some(socket.clone());
    o.data_dir = Some(data.clone());
    let d = DaemonProcess::spawn_with(&bin(), o.clone()).expect("daemon");
    let mut c = Conn::open(&socket).await;
    let r1 = run_turn(&mut c, json!({"prompt": "a"})).await;
    assert_eq!(r1["status"], "complete");
    assert_eq!(r1["usage"]["cost_usd"], 0.003);
    // Another session: $0.003 spent < $0.005, so it runs (and spends $0.003 more).
    let r2 = run_turn(&mut c, json!({"prompt": "b"})).await;
    assert_eq!(r2["status"], "complete");
    assert_ne!(r1["session_id"], r2["session_id"]);
    // A third session: the day's $0.006 ≥ $0.005.
    let r3 = run_turn(&mut c, json!({"prompt": "c"})).await;
    assert_eq!(r3["status"], "budget_exceeded", "{r3}");
    assert_eq!(r3["iterations"], 0);
    assert_eq!(r3["usage"]["cost_usd"], 0.0);
    let msg = r3["error"]["message"].as_str().expect("message");
    assert!(
        msg.contains("daily_budget_usd") && msg.contains("$0.0060") && msg.contains("$0.0050"),
        "{msg}"
    );
    assert_eq!(api.requests().len(), 2);
    let st = c.call("daemon.status", json!({})).await;
    assert_eq!(
        st["spend"],
        json!({"today_usd": 0.006, "daily_budget_usd": 0.005})
    );
    assert_eq!(st["usage"]["cost_usd"], 0.006);
    let out = run_cli(&socket, &["status"]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("spend     $0.0060 today of $0.005 daily budget"),
        "{text}"
    );
    drop(c);
    drop(d);

    // After a restart the day's spend comes from the store.
    let _d = DaemonProcess::spawn_with(&bin(), o).expect("daemon again");
    let mut c = Conn::open(&socket).await;
    let st = c.call("daemon.status", json!({})).await;
    assert_eq!(st["spend"]["today_usd"], 0.006);
    let r4 = run_turn(&mut c, json!({"prompt": "d"})).await;
    assert_eq!(r4["status"], "budget_exceeded");
    assert_eq!(api.requests().len(), 2);

    // `synapsed usage` reads the same store.
    let out = run_cli(
        &socket,
        &["usage", "--json", "--data-dir", &data.display().to_string()],
    )
    .await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Value = serde_json::from_slice(&out.stdout).expect("json");
    let rows = rows.as_array().expect("rows");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["model"], "claude-sonnet-4-5");
    assert_eq!(rows[0]["requests"], 2);
    assert_eq!(rows[0]["input_tokens"], 2000);
    assert_eq!(rows[0]["cost_usd"], 0.006);
    let out = run_cli(
        &socket,
        &[
            "usage",
            "--days",
            "2",
            "--data-dir",
            &data.display().to_string(),
        ],
    )
    .await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("claude-sonnet-4-5") && text.contains("total: $0.0060"),
        "{text}"
    );
    let out = run_cli(
        &socket,
        &[
            "usage",
            "--days",
            "0",
            "--data-dir",
            &data.display().to_string(),
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "--days 0 is bad usage");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_price_gives_a_null_cost_and_caps_say_they_cannot_apply() {
    let api = api(vec![text("hi", 1_000_000, 1000)]);
    let d = DaemonProcess::spawn_with(&bin(), opts(&api, &[("SYNAPSE_MAX_TURN_COST_USD", "0")]))
        .expect("daemon");
    let mut c = Conn::open(&d.socket).await;
    let r = run_turn(&mut c, json!({"prompt": "hi", "model": "mystery-model"})).await;
    assert_eq!(r["status"], "complete", "the cap cannot apply: {r}");
    assert_eq!(r["usage"]["cost_usd"], Value::Null);
    assert_eq!(r["usage"]["input_tokens"], 1_000_000);
    let info = c.turn_get(r["turn_id"].as_str().expect("id")).await;
    assert_eq!(info["result"]["usage"]["cost_usd"], Value::Null);
    let st = c.call("daemon.status", json!({})).await;
    assert_eq!(st["spend"]["today_usd"], 0.0);
    assert_eq!(st["spend"]["max_turn_cost_usd"], 0.0);
    let warnings = st["spend"]["warnings"].as_array().expect("warnings");
    assert!(
        warnings
            .iter()
            .any(|w| w.as_str().is_some_and(|w| w.contains("mystery-model"))),
        "{warnings:?}"
    );
    // The same cap stops a priced model at once.
    let r = run_turn(&mut c, json!({"prompt": "priced"})).await;
    assert_eq!(r["status"], "budget_exceeded");
    assert_eq!(api.requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_budgets_and_modes_are_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    type Case<'a> = (&'a str, Option<&'a str>, &'a [(&'a str, &'a str)]);
    let cases: [Case<'_>; 4] = [
        (
            "SYNAPSE_DAILY_BUDGET_USD",
            None,
            &[("SYNAPSE_DAILY_BUDGET_USD", "-1")],
        ),
        ("daily_budget_usd", Some("daily_budget_usd = -2.5\n"), &[]),
        ("max_turn_cost_usd", Some("max_turn_cost_usd = nan\n"), &[]),
        (
            "SYNAPSE_DEFAULT_MODE",
            None,
            &[("SYNAPSE_DEFAULT_MODE", "yolo")],
        ),
    ];
    for (i, (name, file, env)) in cases.into_iter().enumerate() {
        let dir = tmp.path().join(format!("c{i}"));
        let mut o = Options {
            env: env
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
            ..Default::default()
        };
        if let Some(text) = file {
            std::fs::create_dir_all(&dir).expect("dir");
            let path = dir.join("config.toml");
            std::fs::write(&path, text).expect("config");
            o.args = vec!["--config".into(), path.display().to_string()];
        }
        let mut cmd = serve_command(&bin(), &dir.join("s.sock"), &dir.join("data"), &o);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let out = tokio::task::spawn_blocking(move || cmd.output())
            .await
            .expect("join")
            .expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {err}");
        assert!(err.contains(name), "{name}: {err}");
        assert!(out.stdout.is_empty(), "no readiness line");
    }
    // Bad submit params: -32602, nothing queued.
    let api = api(vec![]);
    let d = DaemonProcess::spawn_with(&bin(), opts(&api, &[])).expect("daemon");
    let c = Conn::open(&d.socket).await;
    for bad in [
        json!({"prompt": "x", "max_turn_cost_usd": -1}),
        json!({"prompt": "x", "mode": "yolo"}),
        json!({"prompt": "x", "max_turn_cost_usd": "free"}),
    ] {
        let e = c.err("turn.submit", bad.clone()).await;
        assert_eq!(e.code, -32602, "{bad}: {e:?}");
        assert!(e.data.is_some(), "{bad}");
    }
    let st = c.call("daemon.status", json!({})).await;
    assert_eq!(
        st["turns"],
        json!({"running": 0, "queued": 0, "finished": 0})
    );
    assert!(c
        .call("session.list", json!({}))
        .await
        .as_array()
        .expect("list")
        .is_empty());
}
