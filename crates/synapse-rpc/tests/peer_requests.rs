//! Daemon → peer requests over a real socket: answered, timed out, failed at
//! once when the peer disconnects, and late answers ignored.

use std::sync::Arc;
use std::time::Duration;

use jsonrpsee_core::server::{Extensions, RpcModule};
use jsonrpsee_types::ErrorObjectOwned;
use serde_json::{json, Value};
use synapse_rpc::{ConnectionHooks, Dispatcher, Incoming, Listener, Peer, PeerError, Server};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

struct NoHooks;
impl ConnectionHooks for NoHooks {
    fn opened(&self, _: &Peer) {}
    fn closed(&self, _: &Peer) {}
}

/// A server whose `ask_back` method asks the caller `echo` and reports how it went.
async fn start() -> (
    tempfile::TempDir,
    std::path::PathBuf,
    CancellationToken,
    mpsc::UnboundedReceiver<Result<Value, PeerError>>,
) {
    let tmp = tempfile::tempdir().expect("tmp");
    let path = synapse_test_support::test_socket(tmp.path());
    let listener = Listener::bind(&path).expect("bind");
    let (tx, rx) = mpsc::unbounded_channel();
    let mut m = RpcModule::new(tx);
    m.register_async_method("ask_back", |params, tx, ext: Extensions| async move {
        let timeout_ms: u64 = params.one().unwrap_or(5000);
        let peer = ext.get::<Peer>().cloned().expect("peer in extensions");
        tokio::spawn(async move {
            let r = peer
                .request("echo", json!({"x": 1}), Duration::from_millis(timeout_ms))
                .await;
            let _ = tx.send(r);
        });
        Ok::<Value, ErrorObjectOwned>(json!("asked"))
    })
    .expect("register");
    let stop = CancellationToken::new();
    let server = Server::new(listener, Dispatcher::new(m), Arc::new(NoHooks));
    tokio::spawn(server.run(stop.clone()));
    (tmp, path, stop, rx)
}

async fn next_request(c: &mut synapse_rpc::Client) -> synapse_protocol::Request {
    match tokio::time::timeout(Duration::from_secs(10), c.next_incoming())
        .await
        .expect("in time")
    {
        Some(Incoming::Request(r)) => r,
        other => panic!("expected a request, got {other:?}"),
    }
}

#[tokio::test]
async fn request_is_answered() {
    let (_tmp, path, _stop, mut results) = start().await;
    let mut c = synapse_rpc::Client::connect(&path).await.expect("connect");
    let v: Value = c.call("ask_back", json!([5000])).await.expect("call");
    assert_eq!(v, json!("asked"));
    let req = next_request(&mut c).await;
    assert_eq!(req.method, "echo");
    assert_eq!(req.params, Some(json!({"x": 1})));
    c.respond(req.id, Ok(json!({"ok": true})))
        .await
        .expect("respond");
    let r = tokio::time::timeout(Duration::from_secs(10), results.recv())
        .await
        .expect("in time")
        .expect("sent");
    assert_eq!(r, Ok(json!({"ok": true})));
}

#[tokio::test]
async fn disconnect_fails_pending_request_at_once() {
    let (_tmp, path, _stop, mut results) = start().await;
    let mut c = synapse_rpc::Client::connect(&path).await.expect("connect");
    let _: Value = c.call("ask_back", json!([60_000])).await.expect("call");
    let _req = next_request(&mut c).await;
    let t0 = std::time::Instant::now();
    drop(c);
    let r = tokio::time::timeout(Duration::from_secs(10), results.recv())
        .await
        .expect("in time")
        .expect("sent");
    assert_eq!(r, Err(PeerError::Disconnected));
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "failed at once, not at the 60 s timeout"
    );
}

#[tokio::test]
async fn timeout_then_late_answer_is_ignored() {
    let (_tmp, path, _stop, mut results) = start().await;
    let mut c = synapse_rpc::Client::connect(&path).await.expect("connect");
    let _: Value = c.call("ask_back", json!([50])).await.expect("call");
    let req = next_request(&mut c).await;
    let r = tokio::time::timeout(Duration::from_secs(10), results.recv())
        .await
        .expect("in time")
        .expect("sent");
    assert_eq!(r, Err(PeerError::Timeout(Duration::from_millis(50))));
    // The late answer and an answer to an id never asked are ignored; the
    // connection keeps working.
    c.respond(req.id, Ok(json!("late"))).await.expect("respond");
    c.respond(synapse_protocol::Id::Num(999), Ok(json!("unknown")))
        .await
        .expect("respond");
    let v: Value = c
        .call("ask_back", json!([5000]))
        .await
        .expect("still serving");
    assert_eq!(v, json!("asked"));
}
