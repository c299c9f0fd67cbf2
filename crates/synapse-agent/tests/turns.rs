//! End-to-end turns against the scripted Messages API over real HTTP.
#![allow(missing_docs, clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};
use synapse_agent::{
    Agent, CancellationToken, ErrorKind, NoTools, Settings, ToolCall, ToolErrorEnvelope, ToolHost,
    ToolOutcome, TurnEventKind, TurnResult, TurnStatus, Usage,
};
use synapse_test_support::messages_api::{FaultKind, Script, ScriptResponse as R, ScriptedApi};

/// Run one turn on a fresh agent, failing the test if it does not end
/// within [`WAIT`].
async fn run(
    settings: Settings,
    spec: synapse_agent::TurnSpec,
    host: &dyn ToolHost,
    rec: &Recorder,
    cancel: CancellationToken,
) -> TurnResult {
    let agent = Agent::new(settings).unwrap();
    tokio::time::timeout(WAIT, agent.run_turn(spec, host, rec, cancel))
        .await
        .expect("turn ends in time")
}

async fn simple(script: Vec<R>) -> (ScriptedApi, TurnResult, Recorder) {
    let api = ScriptedApi::start(Script::new(script));
    let rec = Recorder::default();
    let cancel = CancellationToken::new();
    let host = Host::echo(&["inspect"], cancel.clone());
    let r = run(settings(&api), spec("hello"), &host, &rec, cancel).await;
    (api, r, rec)
}

fn usage(i: u64, o: u64) -> Usage {
    Usage {
        input_tokens: i,
        output_tokens: o,
        ..Default::default()
    }
}

/// A server scripted with one `tool_use` response (`id`, `name`, empty
/// input) and then a text answer.
fn tool_round_then_text(id: &str, name: &str, text: &str) -> ScriptedApi {
    ScriptedApi::start(Script::new(vec![
        R::message(vec![tool_use(id, name, json!({}))], "tool_use", 5, 5),
        R::text(text),
    ]))
}

#[tokio::test]
async fn text_only_turn() {
    let (api, r, rec) = simple(vec![R::text("Hello from Houdini land")]).await;
    assert_eq!(r.status, TurnStatus::Complete, "{r:?}");
    assert_eq!(r.text, "Hello from Houdini land");
    assert_eq!(rec.text(), r.text, "deltas carry everything");
    assert!(
        rec.events()
            .iter()
            .filter(|e| matches!(e, TurnEventKind::Text { .. }))
            .count()
            > 1
    );
    assert_eq!(r.iterations, 1);
    assert_eq!(
        r.usage,
        usage(10, 5),
        "cumulative message_delta usage is not added up"
    );
    assert_eq!(rec.usages(), vec![usage(10, 5)]);
    assert!(r.error.is_none());
    assert!(r.started_at <= r.finished_at);
    let msgs = rec.messages();
    assert_eq!(msgs.len(), 2);
    assert_eq!(
        msgs[0],
        json!({"role":"user","content":[{"type":"text","text":"hello"}]})
    );
    assert_eq!(
        msgs[1],
        json!({"role":"assistant","content":[{"type":"text","text":"Hello from Houdini land"}]})
    );
    let reqs = api.requests();
    assert_eq!(reqs.len(), 1);
    let h = &reqs[0].headers;
    assert_eq!(h.get("x-api-key").map(String::as_str), Some(KEY));
    assert_eq!(
        h.get("anthropic-version").map(String::as_str),
        Some("2023-06-01")
    );
    assert_eq!(
        h.get("content-type").map(String::as_str),
        Some("application/json")
    );
    assert!(h.get("authorization").is_none());
    let b = &reqs[0].body;
    assert_eq!(b["stream"], json!(true));
    assert_eq!(b["model"], json!(synapse_agent::models::DEFAULT_MODEL));
    assert_eq!(b["model"], json!("claude-sonnet-5-5"));
    assert_eq!(b["max_tokens"], json!(8192));
    assert_eq!(b["messages"], json!([msgs[0]]));
}

#[tokio::test]
async fn auth_token_is_sent_as_bearer() {
    let api = ScriptedApi::start(Script::new(vec![R::text("ok")]));
    let s = Settings {
        api_key: None,
        auth_token: Some(synapse_agent::Secret::new("tok-123")),
        ..settings(&api)
    };
    let rec = Recorder::default();
    let r = run(s, spec("x"), &NoTools, &rec, CancellationToken::new()).await;
    assert_eq!(r.status, TurnStatus::Complete);
    let h = &api.requests()[0].headers;
    assert_eq!(
        h.get("authorization").map(String::as_str),
        Some("Bearer tok-123")
    );
    assert!(h.get("x-api-key").is_none());
}

#[tokio::test]
async fn no_credential_fails_without_a_request() {
    let api = ScriptedApi::start(Script::new(vec![R::text("ok")]));
    let s = Settings {
        api_key: None,
        ..settings(&api)
    };
    let rec = Recorder::default();
    let r = run(s, spec("x"), &NoTools, &rec, CancellationToken::new()).await;
    assert_eq!(r.status, TurnStatus::ApiError);
    assert_eq!(r.error.unwrap().kind, ErrorKind::Authentication);
    assert!(api.requests().is_empty());
}

#[tokio::test]
async fn one_tool_round() {
    let (api, r, rec) = simple(vec![
        R::message(
            vec![
                text("Looking."),
                tool_use(
                    "toolu_01A",
                    "inspect",
                    json!({"path": "/stage", "depth": 2}),
                ),
            ],
            "tool_use",
            20,
            7,
        ),
        R::text("Saw: {{last_tool_result}}"),
    ])
    .await;
    assert_eq!(r.status, TurnStatus::Complete, "{r:?}");
    let expected_result = r#"{"input":{"depth":2,"path":"/stage"},"tool":"inspect"}"#;
    assert_eq!(r.text, format!("Saw: {expected_result}"));
    assert_eq!(r.iterations, 2);
    assert_eq!(r.usage, usage(30, 12));
    assert_eq!(r.tool_calls.len(), 1);
    assert_eq!(r.tool_calls[0].call_id, "toolu_01A");
    assert!(!r.tool_calls[0].is_error);
    assert_eq!(rec.tool_calls(), r.tool_calls, "observer saw every record");
    let msgs = rec.messages();
    assert_eq!(msgs.len(), 4);
    assert_eq!(
        msgs[1]["content"][1],
        tool_use(
            "toolu_01A",
            "inspect",
            json!({"path": "/stage", "depth": 2})
        )
    );
    assert_eq!(
        msgs[2],
        json!({"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_01A","content":expected_result}]})
    );
    assert_history_closed(&msgs);
    let ev = rec.events();
    assert!(ev.contains(&TurnEventKind::ToolCall {
        call_id: "toolu_01A".into(),
        name: "inspect".into(),
        input: json!({"path": "/stage", "depth": 2})
    }));
    assert!(ev.iter().any(|e| matches!(e, TurnEventKind::ToolResult { call_id, is_error: false, .. } if call_id == "toolu_01A")));
    let reqs = api.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[1].body["messages"], json!(msgs[..3]));
}

#[tokio::test]
async fn two_tool_uses_answered_in_one_message() {
    let api = ScriptedApi::start(Script::new(vec![
        R::message(
            vec![
                tool_use("toolu_1", "a", json!({"n": 1})),
                tool_use("toolu_2", "b", json!({"n": 2})),
            ],
            "tool_use",
            5,
            5,
        ),
        R::text("done"),
    ]));
    let rec = Recorder::default();
    let cancel = CancellationToken::new();
    let host = Host::echo(&["a", "b"], cancel.clone());
    let r = run(settings(&api), spec("go"), &host, &rec, cancel).await;
    assert_eq!(r.status, TurnStatus::Complete);
    let names: Vec<String> = host.calls().into_iter().map(|c| c.name).collect();
    assert_eq!(names, ["a", "b"], "in order, each once");
    assert!(host
        .calls()
        .iter()
        .all(|c| c.turn_id == "turn_1" && c.timeout_s == 30.0));
    let msgs = rec.messages();
    assert_eq!(msgs.len(), 4);
    assert_eq!(msgs[2]["content"].as_array().unwrap().len(), 2);
    assert_history_closed(&msgs);
}

#[tokio::test]
async fn tool_error_reaches_the_model_as_data() {
    let api = tool_round_then_text(
        "toolu_e",
        "inspect",
        "The node was deleted: {{last_tool_result}}",
    );
    let rec = Recorder::default();
    let cancel = CancellationToken::new();
    let host = Host::new(
        &["inspect"],
        cancel.clone(),
        Arc::new(|c: &ToolCall| {
            common::Action::Return(ToolOutcome::error(&ToolErrorEnvelope::synthetic(
                &c.name,
                "ObjectWasDeleted",
                "node /obj/geo1 was deleted",
            )))
        }),
    );
    let r = run(settings(&api), spec("go"), &host, &rec, cancel).await;
    assert_eq!(r.status, TurnStatus::Complete);
    assert!(r.tool_calls[0].is_error);
    let result = &rec.messages()[2]["content"][0];
    assert_eq!(result["is_error"], json!(true));
    let content = result["content"].as_str().unwrap();
    let keys: Vec<String> = serde_json::from_str::<serde_json::Map<String, Value>>(content)
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(
        keys,
        [
            "agent_tool_error",
            "error_message",
            "error_type",
            "timestamp",
            "tool_name",
            "traceback_str"
        ]
    );
    let pos: Vec<usize> = keys
        .iter()
        .map(|k| content.find(&format!("\"{k}\"")).unwrap())
        .collect();
    assert!(
        pos.windows(2).all(|w| w[0] < w[1]),
        "keys serialized sorted: {content}"
    );
    assert!(r.text.contains("ObjectWasDeleted"));
}

#[tokio::test]
async fn max_iterations_does_not_run_the_last_tools() {
    let api = ScriptedApi::start(Script::new(vec![
        R::message(
            vec![tool_use("toolu_1", "inspect", json!({}))],
            "tool_use",
            5,
            5,
        ),
        R::message(
            vec![text("more"), tool_use("toolu_2", "inspect", json!({}))],
            "tool_use",
            5,
            5,
        ),
    ]));
    let rec = Recorder::default();
    let cancel = CancellationToken::new();
    let host = Host::echo(&["inspect"], cancel.clone());
    let mut s = spec("go");
    s.max_iterations = 2;
    let r = run(settings(&api), s, &host, &rec, cancel).await;
    assert_eq!(r.status, TurnStatus::MaxIterations);
    assert_eq!(r.iterations, 2);
    assert_eq!(r.text, "more");
    assert_eq!(host.calls().len(), 1);
    assert_eq!(api.requests().len(), 2);
    let msgs = rec.messages();
    assert_eq!(msgs.len(), 5);
    assert_history_closed(&msgs);
    let last = &msgs[4]["content"][0];
    assert_eq!(last["is_error"], json!(true));
    assert!(last["content"]
        .as_str()
        .unwrap()
        .contains("\"error_type\":\"MaxIterations\""));
}

#[tokio::test]
async fn max_tokens_and_refusal_and_stop_sequence() {
    for (reason, status) in [
        ("max_tokens", TurnStatus::MaxTokens),
        ("refusal", TurnStatus::Refusal),
        ("stop_sequence", TurnStatus::Complete),
        ("something_new", TurnStatus::UnknownStopReason),
    ] {
        let (_api, r, rec) = simple(vec![R::message(vec![text("partial")], reason, 3, 4)]).await;
        assert_eq!(r.status, status, "{reason}");
        assert_eq!(r.text, "partial");
        assert_eq!(r.usage, usage(3, 4));
        assert_eq!(rec.messages().len(), 2);
    }
}

#[tokio::test]
async fn pause_turn_is_continued() {
    let (api, r, _rec) = simple(vec![
        R::message(vec![text("searching")], "pause_turn", 3, 4),
        R::text("found"),
    ])
    .await;
    assert_eq!(r.status, TurnStatus::Complete);
    assert_eq!(r.iterations, 2);
    let reqs = api.requests();
    assert_eq!(
        reqs[1].body["messages"].as_array().unwrap().last().unwrap()["role"],
        "assistant"
    );
}

#[tokio::test]
async fn retry_429_honours_retry_after() {
    let (api, r, rec) = simple(vec![
        R::http_status(429, &[("retry-after", "1")]),
        R::text("ok"),
    ])
    .await;
    assert_eq!(r.status, TurnStatus::Complete);
    assert_eq!(api.requests().len(), 2);
    let retries = rec.retries();
    assert_eq!(retries.len(), 1);
    assert_eq!(retries[0].0, 1);
    assert_eq!(retries[0].1, 1000, "retry-after: 1 → 1000 ms");
    assert!(retries[0].2.contains("429"), "{}", retries[0].2);
}

#[tokio::test]
async fn retry_after_ms_and_over_60s_ignored() {
    let (_api, r, rec) = simple(vec![
        R::http_status(429, &[("retry-after-ms", "120")]),
        R::http_status(429, &[("retry-after", "120")]),
        R::text("ok"),
    ])
    .await;
    assert_eq!(r.status, TurnStatus::Complete);
    let retries = rec.retries();
    assert_eq!(retries[0].1, 120);
    assert!(
        (750..=1000).contains(&retries[1].1),
        "120 s ignored → backoff #2: {}",
        retries[1].1
    );
    assert_eq!(retries[1].0, 2);
}

#[tokio::test]
async fn retry_500_with_backoff() {
    let start = Instant::now();
    let (api, r, rec) = simple(vec![R::http_status(500, &[]), R::text("ok")]).await;
    assert_eq!(r.status, TurnStatus::Complete);
    assert_eq!(api.requests().len(), 2);
    let d = rec.retries()[0].1;
    assert!((375..=500).contains(&d), "backoff 0.5 s with jitter: {d}");
    assert!(start.elapsed() >= Duration::from_millis(d));
}

#[tokio::test]
async fn retry_529_and_in_band_overloaded() {
    let (api, r, rec) = simple(vec![
        R::http_status(529, &[("retry-after-ms", "1")]),
        R::fault(FaultKind::OverloadedInBand),
        R::text("ok"),
    ])
    .await;
    assert_eq!(r.status, TurnStatus::Complete, "{r:?}");
    assert_eq!(api.requests().len(), 3);
    let retries = rec.retries();
    assert_eq!(retries.len(), 2);
    assert!(retries[0].2.contains("529"));
    assert!(retries[1].2.contains("overloaded_error"));
    // The in-band failure reported usage in its message_start: counted as reported.
    assert_eq!(r.usage, usage(25 + 10, 1 + 5));
    assert_eq!(rec.usages().len(), 2);
}

#[tokio::test]
async fn cut_before_any_text_is_retried() {
    let mut cut = R::fault(FaultKind::CutMidBlock);
    if let R::Fault(f) = &mut cut {
        f.content = Some(vec![tool_use(
            "toolu_x",
            "inspect",
            json!({"path": "/obj/geo1/a/long/path"}),
        )]);
    }
    let (api, r, rec) = simple(vec![cut, R::text("ok")]).await;
    assert_eq!(r.status, TurnStatus::Complete, "{r:?}");
    assert_eq!(api.requests().len(), 2);
    assert!(
        rec.retries()[0].2.contains("connection"),
        "{:?}",
        rec.retries()
    );
    assert_eq!(rec.messages().len(), 2, "the cut message is not persisted");
}

#[tokio::test]
async fn cut_after_text_is_an_api_error_not_a_hang() {
    let (api, r, rec) = simple(vec![R::fault(FaultKind::CutMidBlock), R::text("never")]).await;
    assert_eq!(r.status, TurnStatus::ApiError);
    assert_eq!(r.error.as_ref().unwrap().kind, ErrorKind::Connection);
    assert_eq!(api.requests().len(), 1);
    assert!(rec.retries().is_empty());
    assert!(!rec.text().is_empty());
    assert_eq!(
        rec.messages().len(),
        1,
        "partial assistant message not persisted"
    );
}

#[tokio::test]
async fn overloaded_after_text_is_not_retried() {
    let (api, r, _rec) = simple(vec![
        R::fault(FaultKind::OverloadedAfterText),
        R::text("never"),
    ])
    .await;
    assert_eq!(r.status, TurnStatus::ApiError);
    assert_eq!(r.error.unwrap().kind, ErrorKind::Overloaded);
    assert_eq!(api.requests().len(), 1);
}

#[tokio::test]
async fn client_errors_are_sent_once() {
    for (status, kind) in [
        (400, ErrorKind::InvalidRequest),
        (401, ErrorKind::Authentication),
        (403, ErrorKind::Permission),
        (404, ErrorKind::NotFound),
        (413, ErrorKind::RequestTooLarge),
        (422, ErrorKind::InvalidRequest),
    ] {
        let (api, r, rec) = simple(vec![R::http_status(status, &[]), R::text("never")]).await;
        assert_eq!(r.status, TurnStatus::ApiError, "{status}");
        let e = r.error.unwrap();
        assert_eq!(e.kind, kind, "{status}");
        assert!(
            e.message.contains(&status.to_string()) && e.message.contains("request-id req_"),
            "{}",
            e.message
        );
        assert!(!e.message.contains(KEY));
        assert_eq!(api.requests().len(), 1, "{status} sent exactly once");
        assert!(rec.retries().is_empty());
    }
}

#[tokio::test]
async fn x_should_retry_overrides_status_rules() {
    let (api, r, _) = simple(vec![
        R::http_status(400, &[("x-should-retry", "true"), ("retry-after-ms", "1")]),
        R::text("ok"),
    ])
    .await;
    assert_eq!(r.status, TurnStatus::Complete);
    assert_eq!(api.requests().len(), 2);
    let (api, r, _) = simple(vec![
        R::http_status(529, &[("x-should-retry", "false")]),
        R::text("never"),
    ])
    .await;
    assert_eq!(r.status, TurnStatus::ApiError);
    assert_eq!(r.error.unwrap().kind, ErrorKind::Overloaded);
    assert_eq!(api.requests().len(), 1);
}

#[tokio::test]
async fn retries_are_bounded() {
    let h: &[(&str, &str)] = &[("retry-after-ms", "1")];
    let (api, r, rec) = simple(vec![
        R::http_status(503, h),
        R::http_status(503, h),
        R::http_status(503, h),
        R::text("never"),
    ])
    .await;
    assert_eq!(r.status, TurnStatus::ApiError);
    assert_eq!(r.error.unwrap().kind, ErrorKind::Server);
    assert_eq!(api.requests().len(), 3, "1 + max_retries 2");
    assert_eq!(
        rec.retries().iter().map(|r| r.0).collect::<Vec<_>>(),
        [1, 2]
    );
}

#[tokio::test]
async fn exhausted_script_is_a_server_error() {
    let api = ScriptedApi::start(Script::new(vec![]));
    let rec = Recorder::default();
    let s = Settings {
        max_retries: 0,
        ..settings(&api)
    };
    let r = run(s, spec("x"), &NoTools, &rec, CancellationToken::new()).await;
    assert_eq!(r.status, TurnStatus::ApiError);
    let e = r.error.unwrap();
    assert_eq!(e.kind, ErrorKind::Server);
    assert!(e.message.contains("script exhausted"));
}

#[tokio::test]
async fn idle_timeout_is_retried_then_fails() {
    let api = ScriptedApi::start(Script::new(vec![
        R::fault(FaultKind::StallAfterMessageStart),
        R::text("recovered"),
        R::fault(FaultKind::StallAfterMessageStart),
    ]));
    let s = Settings {
        stream_idle_timeout: Duration::from_millis(200),
        max_retries: 1,
        ..settings(&api)
    };
    let rec = Recorder::default();
    let r = run(s, spec("x"), &NoTools, &rec, CancellationToken::new()).await;
    assert_eq!(r.status, TurnStatus::Complete);
    assert!(rec.retries()[0].2.contains("timeout"));
    let s = Settings {
        stream_idle_timeout: Duration::from_millis(200),
        max_retries: 0,
        ..settings(&api)
    };
    let r = run(s, spec("x"), &NoTools, &rec, CancellationToken::new()).await;
    assert_eq!(r.status, TurnStatus::ApiError);
    assert_eq!(r.error.unwrap().kind, ErrorKind::Timeout);
    assert!(
        api.wait_for_client_disconnects(2, WAIT).await,
        "stalled connections were closed by the client"
    );
}

#[tokio::test]
async fn cancel_during_stalled_stream() {
    let api = ScriptedApi::start(Script::new(vec![
        R::message(
            vec![tool_use("toolu_1", "inspect", json!({}))],
            "tool_use",
            10,
            5,
        ),
        R::fault(FaultKind::StallAfterMessageStart),
    ]));
    let rec = Arc::new(Recorder::default());
    let cancel = CancellationToken::new();
    let host = Arc::new(Host::echo(&["inspect"], cancel.clone()));
    let task = {
        let (s, rec, host, cancel) = (settings(&api), rec.clone(), host.clone(), cancel.clone());
        tokio::spawn(async move { run(s, spec("x"), host.as_ref(), rec.as_ref(), cancel).await })
    };
    assert!(api.wait_for_requests(2, WAIT).await);
    let t0 = Instant::now();
    cancel.cancel();
    let r = tokio::time::timeout(WAIT, task)
        .await
        .expect("prompt")
        .unwrap();
    let took = t0.elapsed();
    assert_eq!(r.status, TurnStatus::Cancelled);
    assert!(took < Duration::from_millis(500), "cancel took {took:?}");
    assert!(r.error.is_none());
    assert!(
        r.usage.input_tokens >= 10 && r.usage.output_tokens >= 5,
        "paid usage kept: {:?}",
        r.usage
    );
    assert!(
        api.wait_for_client_disconnects(1, WAIT).await,
        "server saw the connection closed"
    );
    let msgs = rec.messages();
    assert_eq!(msgs.len(), 3, "the stalled message is not persisted");
    assert_history_closed(&msgs);
}

#[tokio::test]
async fn cancel_between_tool_blocks_closes_every_tool_use() {
    let api = ScriptedApi::start(Script::new(vec![R::message(
        vec![
            text("three tools"),
            tool_use("toolu_1", "a", json!({})),
            tool_use("toolu_2", "b", json!({})),
            tool_use("toolu_3", "c", json!({})),
        ],
        "tool_use",
        40,
        9,
    )]));
    let rec = Recorder::default();
    let cancel = CancellationToken::new();
    let host = Host::new(
        &["a", "b", "c"],
        cancel.clone(),
        Arc::new(|_c: &ToolCall| common::Action::CancelThenReturn(ToolOutcome::ok(json!("done")))),
    );
    let r = run(settings(&api), spec("go"), &host, &rec, cancel).await;
    assert_eq!(r.status, TurnStatus::Cancelled);
    assert_eq!(host.calls().len(), 1, "nothing runs after the cancel");
    assert_eq!(r.usage, usage(40, 9), "a cancelled turn keeps what it paid");
    assert_eq!(r.text, "three tools");
    assert_eq!(r.tool_calls.len(), 1);
    let msgs = rec.messages();
    assert_eq!(msgs.len(), 3);
    assert_history_closed(&msgs);
    let results = msgs[2]["content"].as_array().unwrap();
    assert_eq!(results[0]["content"], json!("\"done\""));
    assert!(results[0].get("is_error").is_none());
    for res in &results[1..] {
        assert_eq!(res["is_error"], json!(true));
        assert!(res["content"]
            .as_str()
            .unwrap()
            .contains("\"error_type\":\"Cancelled\""));
    }
    // The stored history can be sent again: a next turn works.
    let api2 = ScriptedApi::start(Script::new(vec![R::text("resumed")]));
    let mut s2 = spec("again");
    s2.history = msgs.clone();
    let rec2 = Recorder::default();
    let r2 = run(
        settings(&api2),
        s2,
        &NoTools,
        &rec2,
        CancellationToken::new(),
    )
    .await;
    assert_eq!(r2.status, TurnStatus::Complete);
    let sent = api2.requests()[0].body["messages"].clone();
    assert_eq!(sent.as_array().unwrap().len(), 4);
    assert_eq!(sent.as_array().unwrap()[..3], msgs[..]);
}

#[tokio::test]
async fn cancel_while_a_tool_runs_returns_at_once() {
    let api = ScriptedApi::start(Script::new(vec![R::message(
        vec![
            tool_use("toolu_1", "a", json!({})),
            tool_use("toolu_2", "a", json!({})),
        ],
        "tool_use",
        5,
        5,
    )]));
    let rec = Recorder::default();
    let cancel = CancellationToken::new();
    let host = Host::new(
        &["a"],
        cancel.clone(),
        Arc::new(|_c: &ToolCall| common::Action::CancelThenHang),
    );
    let r = run(settings(&api), spec("go"), &host, &rec, cancel).await;
    assert_eq!(r.status, TurnStatus::Cancelled);
    assert_eq!(host.calls().len(), 1);
    assert!(
        host.tokens.lock().unwrap()[0].is_cancelled(),
        "the host's token is cancelled (tool.cancel)"
    );
    assert_eq!(r.tool_calls.len(), 1);
    assert!(r.tool_calls[0].is_error);
    let msgs = rec.messages();
    assert_history_closed(&msgs);
    let results = msgs[2]["content"].as_array().unwrap();
    assert!(results
        .iter()
        .all(|b| b["content"].as_str().unwrap().contains("Cancelled")));
}

#[tokio::test]
async fn cancel_before_start() {
    let api = ScriptedApi::start(Script::new(vec![R::text("never")]));
    let rec = Recorder::default();
    let cancel = CancellationToken::new();
    cancel.cancel();
    let r = run(settings(&api), spec("x"), &NoTools, &rec, cancel).await;
    assert_eq!(r.status, TurnStatus::Cancelled);
    assert_eq!(r.iterations, 0);
    assert!(api.requests().is_empty());
    assert_eq!(rec.messages().len(), 1);
}

#[tokio::test]
async fn tool_timeout_from_spec_and_hung_host_is_cut_off() {
    let api = tool_round_then_text("toolu_1", "slow", "{{last_tool_result}}");
    let rec = Recorder::default();
    let cancel = CancellationToken::new();
    let mut host = Host::new(
        &["slow"],
        CancellationToken::new(),
        Arc::new(|_c: &ToolCall| common::Action::CancelThenHang),
    );
    host.specs[0].timeout_s = Some(0.05);
    let t0 = Instant::now();
    let r = run(settings(&api), spec("go"), &host, &rec, cancel).await;
    assert_eq!(r.status, TurnStatus::Complete);
    assert_eq!(host.calls()[0].timeout_s, 0.05);
    assert!(r.text.contains("\"error_type\":\"Timeout\""), "{}", r.text);
    assert!(t0.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn cache_control_and_byte_stable_prefix() {
    let api = ScriptedApi::start(Script::new(vec![
        R::message(vec![tool_use("toolu_1", "b", json!({}))], "tool_use", 5, 5),
        R::text("first"),
        R::text("second"),
    ]));
    let cancel = CancellationToken::new();
    let host = Host::echo(&["a", "b"], cancel.clone());
    let rec = Recorder::default();
    let r = run(settings(&api), spec("one"), &host, &rec, cancel.clone()).await;
    assert_eq!(r.status, TurnStatus::Complete);
    let mut s2 = spec("two");
    s2.history = rec.messages();
    let r2 = run(settings(&api), s2, &host, &Recorder::default(), cancel).await;
    assert_eq!(r2.status, TurnStatus::Complete);
    let reqs = api.requests();
    assert_eq!(reqs.len(), 3);
    let b = &reqs[0].body;
    assert_eq!(
        b["system"][0]["cache_control"],
        json!({"type": "ephemeral"})
    );
    assert_eq!(b["system"][0]["type"], json!("text"));
    assert_eq!(b["tools"][1]["cache_control"], json!({"type": "ephemeral"}));
    assert!(b["tools"][0].get("cache_control").is_none());
    let prefix = |raw: &str| raw[..raw.find("\"messages\":").unwrap()].to_owned();
    let p0 = prefix(&reqs[0].raw_body);
    assert!(p0.contains("\"tools\":"));
    for q in &reqs[1..] {
        assert_eq!(
            prefix(&q.raw_body),
            p0,
            "system + tools bytes identical across iterations and turns"
        );
    }
    // The messages of request 2 start with the bytes of request 1's messages (history prefix stable).
    let m = |raw: &str| raw[raw.find("\"messages\":").unwrap()..].to_owned();
    let m1 = m(&reqs[1].raw_body);
    let m2 = m(&reqs[2].raw_body);
    assert!(
        m2.starts_with(&m1[..m1.len() - 2]),
        "history bytes stable:\n{m1}\n{m2}"
    );
}

#[tokio::test]
async fn thinking_blocks_are_kept() {
    let (_api, r, rec) = simple(vec![R::message(
        vec![
            json!({"type": "thinking", "thinking": "Let me think", "signature": "sig123"}),
            text("answer"),
        ],
        "end_turn",
        1,
        2,
    )])
    .await;
    assert_eq!(r.status, TurnStatus::Complete);
    assert_eq!(r.text, "answer");
    assert_eq!(
        rec.messages()[1]["content"][0],
        json!({"type": "thinking", "thinking": "Let me think", "signature": "sig123"})
    );
}

#[tokio::test]
async fn oversized_tool_result_becomes_an_error_for_the_model() {
    let api = tool_round_then_text("toolu_big", "dump", "ok");
    let cancel = CancellationToken::new();
    let big = json!({"nodes": "x".repeat(2000)});
    let host = Host::new(
        &["dump"],
        cancel.clone(),
        Arc::new(move |_c: &ToolCall| common::Action::Return(ToolOutcome::ok(big.clone()))),
    );
    let rec = Recorder::default();
    let mut s = settings(&api);
    s.max_tool_result_bytes = 1000;
    let r = run(s, spec("dump it"), &host, &rec, cancel).await;
    assert_eq!(r.status, TurnStatus::Complete);
    assert!(r.tool_calls[0].is_error);
    let reqs = api.requests();
    let result = &reqs[1].body["messages"][2]["content"][0];
    assert_eq!(result["is_error"], json!(true));
    let envelope: Value =
        serde_json::from_str(result["content"].as_str().expect("text")).expect("json");
    assert_eq!(envelope["error_type"], "ToolResultTooLarge");
    assert!(envelope["error_message"]
        .as_str()
        .expect("msg")
        .contains("more than the 1000 allowed"));
}

/// The host's error envelope keeps its `error_type` when it is over
/// `max_tool_result_bytes`: its traceback goes, its message is clipped, and
/// it stays an error (not a `ToolResultTooLarge` that hides the failure).
#[tokio::test]
async fn an_oversized_error_envelope_is_clipped_and_keeps_its_error_type() {
    let api = tool_round_then_text("toolu_err", "cook", "ok");
    let cancel = CancellationToken::new();
    let mut envelope = synapse_protocol::ToolErrorEnvelope::synthetic(
        "cook",
        "CookError",
        format!(
            "/obj/geo1/wrangle1: {}",
            "Error: syntax error, unexpected ';'. ".repeat(40)
        ),
    );
    envelope.traceback_str = "Traceback (most recent call last):\n".repeat(60);
    let host = Host::new(
        &["cook"],
        cancel.clone(),
        Arc::new(move |_c: &ToolCall| common::Action::Return(ToolOutcome::error(&envelope))),
    );
    let rec = Recorder::default();
    let mut s = settings(&api);
    s.max_tool_result_bytes = 300;
    let r = run(s, spec("cook it"), &host, &rec, cancel).await;
    assert_eq!(r.status, TurnStatus::Complete);
    assert!(r.tool_calls[0].is_error);
    let reqs = api.requests();
    let result = &reqs[1].body["messages"][2]["content"][0];
    assert_eq!(result["is_error"], json!(true));
    let text = result["content"].as_str().expect("text");
    assert!(text.len() <= 300, "{} bytes: {text}", text.len());
    let sent: Value = serde_json::from_str(text).expect("json");
    assert_eq!(sent["error_type"], "CookError", "{sent}");
    assert_eq!(sent["agent_tool_error"], true);
    assert_eq!(sent["tool_name"], "cook");
    assert_eq!(sent["traceback_str"], "");
    let message = sent["error_message"].as_str().expect("message");
    assert!(
        message.starts_with("/obj/geo1/wrangle1: Error: syntax error"),
        "{message}"
    );
    assert!(message.contains("clipped"), "{message}");
}

/// A small error envelope under the limit goes to the model unchanged.
#[tokio::test]
async fn an_error_envelope_under_the_limit_is_sent_unchanged() {
    let api = tool_round_then_text("toolu_err2", "cook", "ok");
    let cancel = CancellationToken::new();
    let envelope =
        synapse_protocol::ToolErrorEnvelope::synthetic("cook", "NodeNotFound", "no node /obj/x");
    let expected = envelope.to_json_text();
    let host = Host::new(
        &["cook"],
        cancel.clone(),
        Arc::new(move |_c: &ToolCall| common::Action::Return(ToolOutcome::error(&envelope))),
    );
    let rec = Recorder::default();
    let mut s = settings(&api);
    s.max_tool_result_bytes = 300;
    run(s, spec("cook it"), &host, &rec, cancel).await;
    let reqs = api.requests();
    let result = &reqs[1].body["messages"][2]["content"][0];
    assert_eq!(result["content"], json!(expected));
}

#[tokio::test]
async fn a_message_that_cannot_be_stored_ends_the_turn_as_a_storage_error() {
    let api = tool_round_then_text("toolu_s1", "inspect", "never reached");
    let rec = Recorder::default();
    // The prompt is stored; the assistant message is not (disk full).
    *rec.fail_message_at.lock().unwrap() = Some(1);
    let cancel = CancellationToken::new();
    let host = Host::echo(&["inspect"], cancel.clone());
    let r = run(settings(&api), spec("hello"), &host, &rec, cancel).await;
    assert_eq!(r.status, TurnStatus::ApiError, "{r:?}");
    assert_eq!(r.error.as_ref().map(|e| e.kind), Some(ErrorKind::Storage));
    assert!(r.tool_calls.is_empty(), "no tool runs after a lost message");
    assert_eq!(api.requests().len(), 1, "no request after a lost message");
}

#[tokio::test]
async fn a_made_up_tool_name_never_reaches_the_host() {
    let api = ScriptedApi::start(Script::new(vec![
        R::message(
            vec![
                tool_use("toolu_m1", "houdini_make_magic", json!({"x": 1})),
                tool_use("toolu_m2", "inspect", json!({})),
            ],
            "tool_use",
            5,
            5,
        ),
        R::text("ok"),
    ]));
    let rec = Recorder::default();
    let cancel = CancellationToken::new();
    let host = Host::echo(&["inspect"], cancel.clone());
    let r = run(settings(&api), spec("hello"), &host, &rec, cancel).await;
    assert_eq!(r.status, TurnStatus::Complete, "{r:?}");
    let asked: Vec<String> = host
        .calls
        .lock()
        .unwrap()
        .iter()
        .map(|c| c.name.clone())
        .collect();
    assert_eq!(asked, vec!["inspect"], "only the offered tool ran");
    let second = &api.requests()[1].body["messages"];
    let results = second[2]["content"].as_array().unwrap();
    assert_eq!(results[0]["tool_use_id"], "toolu_m1");
    assert_eq!(results[0]["is_error"], true);
    let env: Value = serde_json::from_str(results[0]["content"].as_str().unwrap()).unwrap();
    assert_eq!(env["error_type"], "UnknownTool");
    assert!(
        env["error_message"].as_str().unwrap().contains("inspect"),
        "{env}"
    );
    assert_eq!(results[1]["tool_use_id"], "toolu_m2");
    assert!(results[1].get("is_error").is_none());
}

#[tokio::test]
async fn prompt_too_long_compacts_once_and_retries() {
    let mut too_long = R::http_status(400, &[]);
    if let R::Fault(f) = &mut too_long {
        f.error_type = Some("invalid_request_error".into());
        f.message = Some("prompt is too long: 201234 tokens > 200000 maximum".into());
    }
    let api = ScriptedApi::start(Script::new(vec![too_long, R::text("fits now")]));
    let rec = Recorder::default();
    let mut s = spec("and now?");
    s.history = vec![
        json!({"role":"user","content":[{"type":"text","text":"make a box"}]}),
        json!({"role":"assistant","content":[{"type":"text","text":"made /obj/box1"}]}),
        json!({"role":"user","content":[{"type":"text","text":"make it red"}]}),
        json!({"role":"assistant","content":[{"type":"text","text":"done"}]}),
    ];
    s.stored_idx = vec![10, 11, 12, 13, 14];
    let r = run(settings(&api), s, &NoTools, &rec, CancellationToken::new()).await;
    assert_eq!(r.status, TurnStatus::Complete, "{r:?}");
    let reqs = api.requests();
    assert_eq!(reqs.len(), 3, "the request, the summary, the retry");
    assert!(synapse_test_support::messages_api::is_compact_request(
        &reqs[1].body
    ));
    let retried = &reqs[2].body["messages"];
    assert_eq!(retried.as_array().map(Vec::len), Some(3), "{retried}");
    assert!(retried[0]["content"][0]["text"]
        .as_str()
        .is_some_and(|t| t.starts_with("[synapse:summary]")));
    let recs = rec.compactions.lock().unwrap().clone();
    assert_eq!(recs.len(), 1);
    assert_eq!(
        recs[0].0, 12,
        "the summary stands for the messages before idx 12"
    );
    assert!(rec
        .events()
        .iter()
        .any(|e| matches!(e, TurnEventKind::Compaction { method, .. } if method == "summary")));
    // The summary's usage counts to the turn.
    assert!(r.usage.input_tokens >= 1000, "{:?}", r.usage);
}
