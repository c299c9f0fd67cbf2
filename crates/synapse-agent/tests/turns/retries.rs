//! Retries: status codes, `retry-after`, cut streams, idle timeouts, bounds.

use super::*;

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
