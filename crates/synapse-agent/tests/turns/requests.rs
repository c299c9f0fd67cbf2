//! What requests carry: cache control, thinking blocks, oversized results, storage failures, unknown tools, compaction on a too-long prompt.

use super::*;

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
