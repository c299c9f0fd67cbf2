//! The API key never appears in any log line (all levels, all crates,
//! `log` records included) nor in any error message.
#![allow(missing_docs, clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::*;
use synapse_agent::{Agent, CancellationToken, NoTools, Settings, TurnResult, TurnStatus};
use synapse_test_support::messages_api::{FaultKind, Script, ScriptResponse as R, ScriptedApi};

/// One `"x"` turn without tools, failing the test if it does not end
/// within [`WAIT`].
async fn run(agent: &Agent) -> TurnResult {
    let rec = Recorder::default();
    let turn = agent.run_turn(spec("x"), &NoTools, &rec, CancellationToken::new());
    tokio::time::timeout(WAIT, turn)
        .await
        .expect("turn ends in time")
}

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn api_key_absent_from_logs_and_errors() {
    let buf = Buf::default();
    let writer = buf.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .try_init()
        .unwrap();
    let api = ScriptedApi::start(Script::new(vec![
        R::http_status(401, &[]),
        R::http_status(529, &[("retry-after-ms", "1")]),
        R::fault(FaultKind::CutMidBlock),
        R::text("fine"),
    ]));
    let agent = Agent::new(Settings {
        max_retries: 0,
        ..settings(&api)
    })
    .unwrap();
    let mut errors = vec![];
    for _ in 0..3 {
        let r = run(&agent).await;
        assert_eq!(r.status, TurnStatus::ApiError);
        errors.push(r.error.unwrap().message);
    }
    let r = run(&agent).await;
    assert_eq!(r.status, TurnStatus::Complete);
    // A connection refused error too.
    let dead = Settings {
        base_url: "http://127.0.0.1:9".into(),
        ..settings(&api)
    };
    let r = run(&Agent::new(dead).unwrap()).await;
    errors.push(r.error.unwrap().message);
    errors.push(format!("{:?}", settings(&api)));
    let logs = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("Messages API call failed"),
        "logs captured: {logs}"
    );
    assert!(
        logs.contains("request_id") && logs.contains("req_011C"),
        "request-id of a failed call logged"
    );
    assert!(!logs.contains(KEY), "key leaked into logs");
    assert!(!logs.contains("TESTSECRET"));
    for e in errors {
        assert!(!e.contains("TESTSECRET"), "key leaked into error: {e}");
    }
    // The key WAS sent.
    assert_eq!(
        api.requests()[0]
            .headers
            .get("x-api-key")
            .map(String::as_str),
        Some(KEY)
    );
}
