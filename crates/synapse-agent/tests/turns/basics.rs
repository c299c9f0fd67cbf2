//! Plain turns: text, credentials, tool rounds, tool errors, stop reasons.

use super::*;

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
