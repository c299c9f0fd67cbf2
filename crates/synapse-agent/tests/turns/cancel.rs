//! Cancellation and tool timeouts.

use super::*;

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
