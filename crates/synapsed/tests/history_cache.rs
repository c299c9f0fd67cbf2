//! The per-session history cache (ADR 0031) sends exactly what a full read
//! of the stored history sends: one varied session (tool rounds, a refusal,
//! a cancel during a tool call, a cancel during a stalled stream, an API
//! error after a tool round, compaction by elision and by summary, and
//! turns after each) is run on a daemon with the cache and on one with
//! `SYNAPSE_HISTORY_CACHE=off`, and every request body must be the same
//! bytes.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::{json, Value};
use synapse_test_support::daemon::DaemonProcess;
use synapse_test_support::messages_api::{is_compact_request, ScriptResponse};

/// What one turn of the session does.
#[derive(Clone, Copy, Debug)]
enum Step {
    /// A long text answer.
    Text,
    /// One tool round (the host answers with a large result), then text.
    Tool,
    /// The model refuses (an empty text block).
    Refuse,
    /// Cancelled while the host runs the tool.
    CancelInTool,
    /// Cancelled while the response stalls after `message_start`.
    CancelStalled,
    /// One tool round, then the API answers 400.
    ToolThenApiError,
}

const STEPS: [Step; 22] = [
    Step::Tool,
    Step::Text,
    Step::Refuse,
    Step::Text,
    Step::CancelInTool,
    Step::Text,
    Step::CancelStalled,
    Step::Tool,
    Step::ToolThenApiError,
    Step::Text,
    Step::Tool,
    Step::Text,
    Step::Refuse,
    Step::Tool,
    Step::Text,
    Step::Text,
    Step::CancelInTool,
    Step::Tool,
    Step::Text,
    Step::CancelStalled,
    Step::Text,
    Step::Text,
];

fn long_text(i: usize) -> String {
    format!("{i}: ")
        + &"The scene has a Vellum cloth on /obj/cloth with pinned points. ".repeat(100)
}

fn script() -> Vec<ScriptResponse> {
    let mut s = Vec::new();
    for (i, step) in STEPS.iter().enumerate() {
        let probe = |k: &str| {
            tool_use(
                "Looking.",
                &format!("toolu_{k}{i}"),
                "probe",
                json!({"path": format!("/obj/n{i}")}),
                10,
                10,
            )
        };
        match step {
            Step::Text => s.push(text(&long_text(i), 10, 10)),
            Step::Tool => {
                s.push(probe("a"));
                s.push(text(&long_text(i), 10, 10));
            }
            Step::Refuse => s.push(ScriptResponse::message(
                vec![json!({"type": "text", "text": ""})],
                "refusal",
                5,
                0,
            )),
            Step::CancelInTool => s.push(probe("c")),
            Step::CancelStalled => s.push(stall()),
            Step::ToolThenApiError => {
                s.push(probe("e"));
                s.push(
                    ScriptResponse::from_value(json!({"fault": "http_status", "status": 400}))
                        .expect("fault"),
                );
            }
        }
    }
    s
}

/// `body` with the time of each synthetic tool error (the one thing two
/// runs cannot share) set to one value: `\"timestamp\":\"<24 chars>\"`.
fn without_timestamps(body: &str) -> String {
    const KEY: &str = r#"\"timestamp\":\""#;
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(at) = rest.find(KEY) {
        let end = at + KEY.len();
        out.push_str(&rest[..end]);
        out.push('T');
        rest = rest.get(end + 24..).unwrap_or("");
    }
    out.push_str(rest);
    out
}

/// Run the session; every request body the API received, and the statuses.
async fn run(cache: bool) -> (Vec<String>, Vec<String>) {
    let api = api(script());
    let mut o = api_options(&api);
    o.env
        .push(("SYNAPSE_CONTEXT_WINDOW".into(), "20000".into()));
    if !cache {
        o.env.push(("SYNAPSE_HISTORY_CACHE".into(), "off".into()));
    }
    let d = DaemonProcess::spawn_with(&bin(), o).expect("daemon");
    let mut host = TestHost::register(&d.socket, Mode::Hold).await;
    let mut c = Conn::open(&d.socket).await;
    let mut sid: Option<String> = None;
    let mut statuses = Vec::new();
    for (i, step) in STEPS.iter().enumerate() {
        let mut p = json!({"prompt": format!("turn {i}: what about the cloth?")});
        if let Some(s) = &sid {
            p["session_id"] = json!(s);
        }
        let before = api.requests().len();
        let (t, s) = c.submit(p).await;
        sid = Some(s);
        match step {
            Step::Tool | Step::ToolThenApiError => {
                let (id, params) = host.invoke().await;
                let big = "x".repeat(600);
                host.respond(
                    id,
                    json!({"is_error": false, "content": {"path": params["input"]["path"], "dump": big}}),
                );
            }
            Step::CancelInTool => {
                host.invoke().await;
                c.call("turn.cancel", json!({"turn_id": t})).await;
            }
            Step::CancelStalled => {
                // The stalled request is the first after any summary request.
                let mut n = before + 1;
                loop {
                    assert!(api.wait_for_requests(n, T).await, "request {n}");
                    if !is_compact_request(&api.requests()[n - 1].body) {
                        break;
                    }
                    n += 1;
                }
                c.call("turn.cancel", json!({"turn_id": t})).await;
            }
            Step::Text | Step::Refuse => {}
        }
        let evs = c.until_done(&t).await;
        let r = &evs.last().expect("done")["result"];
        statuses.push(r["status"].as_str().unwrap_or("").to_owned());
    }
    let bodies = api
        .requests()
        .into_iter()
        .map(|r| without_timestamps(&r.raw_body))
        .collect();
    (bodies, statuses)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cached_history_sends_the_same_bytes_as_a_full_read() {
    let (cached, statuses) = run(true).await;
    let (full, full_statuses) = run(false).await;
    assert_eq!(statuses, full_statuses);
    for want in ["complete", "refusal", "cancelled", "api_error"] {
        assert!(
            statuses.iter().any(|s| s == want),
            "the session has a {want} turn: {statuses:?}"
        );
    }
    let parsed: Vec<Value> = cached
        .iter()
        .map(|b| serde_json::from_str(b).expect("json"))
        .collect();
    assert!(
        parsed.iter().any(is_compact_request),
        "the session was compacted by a summary"
    );
    assert!(
        cached.iter().any(|b| b.contains("[synapse:summary]")),
        "later requests start from the summary"
    );
    assert!(
        cached.iter().any(|b| b.contains("\\\"elided\\\":true")),
        "tool results were elided"
    );
    assert_eq!(cached.len(), full.len(), "as many requests");
    for (i, (a, b)) in cached.iter().zip(&full).enumerate() {
        let at = a
            .bytes()
            .zip(b.bytes())
            .position(|(x, y)| x != y)
            .unwrap_or(a.len().min(b.len()));
        let from = at.saturating_sub(300);
        assert!(
            a == b,
            "request {i} differs at byte {at} ({} / {} bytes):\ncached: {}\nfull:   {}",
            a.len(),
            b.len(),
            a.get(from..(at + 300).min(a.len())).unwrap_or(""),
            b.get(from..(at + 300).min(b.len())).unwrap_or(""),
        );
    }
}
