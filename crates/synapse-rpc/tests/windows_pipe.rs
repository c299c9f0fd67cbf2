//! The Windows endpoint on a real named pipe (run under Wine in CI; see
//! `tests/windows/run.sh`): a JSON-RPC round trip, many clients at once, a
//! second listener on the same name refused, the DACL read back with the
//! Win32 API, a name that is not a pipe refused, and the name free again once
//! the listener is dropped.
#![cfg(windows)]

use std::sync::Arc;
use std::time::Duration;

use jsonrpsee_core::server::RpcModule;
use jsonrpsee_types::ErrorObjectOwned;
use serde_json::{json, Value};
use synapse_rpc::endpoint::{self, EndpointError};
use synapse_rpc::{Client, ConnectionHooks, Dispatcher, Listener, Peer, Server};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio_util::sync::CancellationToken;

struct NoHooks;
impl ConnectionHooks for NoHooks {
    fn opened(&self, _: &Peer) {}
    fn closed(&self, _: &Peer) {}
}

const LIMIT: Duration = Duration::from_secs(20);

fn serve(path: &std::path::Path) -> CancellationToken {
    let listener = Listener::bind(path).expect("bind");
    let mut m = RpcModule::new(());
    m.register_method("echo", |params, _, _| {
        Ok::<Value, ErrorObjectOwned>(params.parse::<Value>().unwrap_or(Value::Null))
    })
    .expect("register");
    let stop = CancellationToken::new();
    let server = Server::new(listener, Dispatcher::new(m), Arc::new(NoHooks));
    tokio::spawn(server.run(stop.clone()));
    stop
}

#[tokio::test]
async fn round_trip_and_many_clients() {
    let path = synapse_test_support::test_socket(std::path::Path::new("."));
    let _stop = serve(&path);
    let c = tokio::time::timeout(LIMIT, Client::connect(&path))
        .await
        .expect("in time")
        .expect("connect");
    let v: Value = c.call("echo", json!({"a": [1, "ü"]})).await.expect("call");
    assert_eq!(v, json!({"a": [1, "ü"]}));

    // Sixteen clients at once: every accept leaves a fresh instance waiting.
    let mut calls = Vec::new();
    for i in 0..16 {
        let path = path.clone();
        calls.push(tokio::spawn(async move {
            let c = Client::connect(&path).await.expect("connect");
            let v: Value = c.call("echo", json!([i])).await.expect("call");
            assert_eq!(v, json!([i]));
        }));
    }
    for call in calls {
        tokio::time::timeout(LIMIT, call)
            .await
            .expect("in time")
            .expect("task");
    }
}

#[tokio::test]
async fn raw_lines_and_bad_json_keep_the_connection() {
    let path = synapse_test_support::test_socket(std::path::Path::new("."));
    let _stop = serve(&path);
    let stream = endpoint::connect(&path).await.expect("connect");
    let (read, mut write) = endpoint::split(stream);
    let mut lines = BufReader::new(read).lines();
    write.write_all(b"{not json\n").await.expect("write");
    let line = tokio::time::timeout(LIMIT, lines.next_line())
        .await
        .expect("in time")
        .expect("read")
        .expect("a line");
    let v: Value = serde_json::from_str(&line).expect("json");
    assert_eq!(v["error"]["code"], json!(-32700));
    assert_eq!(v["id"], Value::Null);
    write
        .write_all(b"{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"echo\",\"params\":[1]}\n")
        .await
        .expect("write");
    let line = tokio::time::timeout(LIMIT, lines.next_line())
        .await
        .expect("in time")
        .expect("read")
        .expect("a line");
    let v: Value = serde_json::from_str(&line).expect("json");
    assert_eq!(v["id"], json!(7));
    assert_eq!(v["result"], json!([1]));
}

#[tokio::test]
async fn second_listener_is_refused_and_name_is_free_after_drop() {
    let path = synapse_test_support::test_socket(std::path::Path::new("."));
    let first = Listener::bind(&path).expect("bind");
    match Listener::bind(&path) {
        Err(EndpointError::AlreadyRunning(p)) => assert_eq!(p, path),
        other => panic!("expected AlreadyRunning, got {other:?}"),
    }
    drop(first);
    // Nothing is left behind: the name can be served again at once.
    let again = Listener::bind(&path).expect("bind again after drop");
    drop(again);
}

#[tokio::test]
async fn dacl_is_owner_and_system_only() {
    let path = synapse_test_support::test_socket(std::path::Path::new("."));
    let _stop = serve(&path);
    let stream = endpoint::connect(&path).await.expect("connect");
    let sddl = stream.dacl_sddl().expect("read the DACL back");
    eprintln!("pipe DACL: {sddl}");
    assert!(sddl.starts_with("D:P"), "not protected: {sddl}");
    let aces: Vec<&str> = sddl["D:P".len()..]
        .trim_start_matches('(')
        .trim_end_matches(')')
        .split(")(")
        .collect();
    assert_eq!(aces.len(), 2, "exactly two entries: {sddl}");
    let trustees: Vec<&str> = aces
        .iter()
        .map(|ace| ace.rsplit(';').next().unwrap_or(""))
        .collect();
    assert_eq!(trustees, ["OW", "SY"], "owner and SYSTEM only: {sddl}");
    for ace in &aces {
        assert!(ace.starts_with("A;"), "allow entries only: {sddl}");
    }
}

#[tokio::test]
async fn a_path_that_is_not_a_pipe_is_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    let path = tmp.path().join("synapsed.sock");
    match Listener::bind(&path) {
        Err(e @ EndpointError::NotAPipeName(_)) => {
            assert!(e.to_string().contains(r"\\.\pipe\"), "{e}");
        }
        other => panic!("expected NotAPipeName, got {other:?}"),
    }
    assert!(Client::connect(&path).await.is_err());
}

#[test]
fn default_name_is_per_user() {
    let p = endpoint::default_socket_path();
    let s = p.to_string_lossy();
    assert!(s.starts_with(r"\\.\pipe\synapse-"), "{s}");
    assert!(!s[r"\\.\pipe\".len()..].contains('\\'), "{s}");
}
