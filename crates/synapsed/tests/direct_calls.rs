//! `host.list`, `tool.call` and `tool.call.cancel` over real sockets against
//! the real `synapsed` binary, with scripted hosts (design §13 "Direct calls").

mod common;

use base64::Engine as _;
use common::*;
use serde_json::{json, Value};
use synapse_protocol::code;
use tokio::io::AsyncWriteExt;

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// A minimal PNG header of `w`x`h` (enough for the size check).
fn png(w: u32, h: u32) -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    v.extend_from_slice(&w.to_be_bytes());
    v.extend_from_slice(&h.to_be_bytes());
    v.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);
    v
}

fn call(name: &str, input: Value) -> Value {
    json!({"name": name, "input": input})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_list_has_each_host_with_its_tools() {
    let api = api(vec![]);
    let d = daemon(&api);
    let c = Conn::open(&d.socket).await;
    assert_eq!(c.call("host.list", json!({})).await, json!([]));
    let host = TestHost::register(&d.socket, Mode::Auto).await;
    let list = c.call("host.list", Value::Null).await;
    let entries = list.as_array().expect("array");
    assert_eq!(entries.len(), 1);
    let e = &entries[0];
    assert_eq!(e["host_id"], host.host_id.as_str());
    assert_eq!(e["name"], "houdini");
    assert_eq!(e["houdini_version"], "21.0.440");
    assert_eq!(e["pid"], 4242);
    assert_eq!(e["hip"], "/show/a.hip");
    assert_eq!(e["ui_available"], true);
    assert!(e["connected_at"].as_str().expect("ts").ends_with('Z'));
    assert_eq!(e["tools"], json!([probe_tool()]));
    // daemon.status keeps the count.
    let st = c.call("daemon.status", json!({})).await;
    assert_eq!(st["hosts"][0]["tools"], 1);
    let bad = c.err("host.list", json!([1])).await;
    assert_eq!(bad.code, code::INVALID_PARAMS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_call_returns_the_hosts_answer() {
    let api = api(vec![]);
    let d = daemon(&api);
    let mut host = TestHost::register(&d.socket, Mode::Auto).await;
    let c = Conn::open(&d.socket).await;
    let r = c
        .call("tool.call", call("probe", json!({"path": "/stage"})))
        .await;
    assert_eq!(
        r,
        json!({"is_error": false, "content": {"prims": 3, "path": "/stage"}})
    );
    let (_, seen) = host.invoke().await;
    let call_id = seen["call_id"].as_str().expect("call_id");
    assert!(call_id.starts_with("call_"), "{seen}");
    assert_eq!(seen["turn_id"], format!("direct_{call_id}"));
    assert_eq!(seen["name"], "probe");
    assert_eq!(seen["timeout_s"], 30.0);
    // Client-chosen id and timeout, host named.
    let r = c
        .call(
            "tool.call",
            json!({"name": "probe", "input": {}, "host_id": host.host_id, "call_id": "mine-1", "timeout_s": 5}),
        )
        .await;
    assert_eq!(r["is_error"], false);
    let (_, seen) = host.invoke().await;
    assert_eq!(seen["call_id"], "mine-1");
    assert_eq!(seen["timeout_s"], 5.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_and_images_come_back_checked() {
    let api = api(vec![]);
    let d = daemon(&api);
    let mut host = TestHost::register(&d.socket, Mode::Hold).await;
    let c = std::sync::Arc::new(Conn::open(&d.socket).await);
    let envelope = json!({"agent_tool_error": true, "tool_name": "probe", "error_type": "NodeNotFound",
        "error_message": "no node /obj/x", "traceback_str": "", "timestamp": "2026-12-02T10:00:00.000Z"});
    let good_png = b64(&png(768, 432));
    let answers = vec![
        // (host's answer, check on the tool.call result)
        json!({"is_error": true, "content": envelope}),
        json!({"is_error": false, "content": {"ok": true}, "images": [{"media_type": "image/png", "data": good_png}]}),
        json!({"is_error": false, "content": {}, "images": [{"media_type": "image/png", "data": b64(&png(9000, 10))}]}),
        json!({"is_error": false, "content": {}, "images": [{"media_type": "image/gif", "data": good_png}]}),
        json!({"is_error": false, "content": {}, "images": [{"media_type": "image/png", "data": "@@@"}]}),
        json!({"content": "no is_error"}),
    ];
    let mut results = Vec::new();
    for answer in &answers {
        let c2 = c.clone();
        let pending =
            tokio::spawn(async move { c2.call("tool.call", call("probe", json!({}))).await });
        let (id, _) = host.invoke().await;
        host.respond(id, answer.clone());
        results.push(within("tool.call", pending).await.expect("join"));
    }
    assert_eq!(results[0], answers[0], "an error envelope passes unchanged");
    assert_eq!(results[1], answers[1], "a valid image passes unchanged");
    for (r, kind) in [
        (&results[2], "InvalidImage"),
        (&results[3], "InvalidImage"),
        (&results[4], "InvalidImage"),
        (&results[5], "InvalidToolResult"),
    ] {
        assert_eq!(r["is_error"], true, "{r}");
        assert_eq!(r["content"]["error_type"], kind, "{r}");
        assert_eq!(r["content"]["tool_name"], "probe");
        assert!(r.get("images").is_none(), "{r}");
    }
    assert!(results[2]["content"]["error_message"]
        .as_str()
        .expect("msg")
        .contains("9000x10"));
    // The daemon is still serving.
    c.call("daemon.status", json!({})).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_host_tool_and_ambiguous_hosts() {
    let api = api(vec![]);
    let d = daemon(&api);
    let c = Conn::open(&d.socket).await;
    let e = c.err("tool.call", call("probe", json!({}))).await;
    assert_eq!(e.code, code::NO_HOST, "no host at all: {e:?}");
    let a = TestHost::register(&d.socket, Mode::Auto).await;
    let e = c.err("tool.call", call("nope", json!({}))).await;
    assert_eq!(e.code, code::NOT_FOUND);
    assert!(e.message.contains("nope"), "{e:?}");
    let e = c
        .err(
            "tool.call",
            json!({"name": "probe", "input": {}, "host_id": "host_missing"}),
        )
        .await;
    assert_eq!(e.code, code::NOT_FOUND);
    assert!(e.message.contains("host_missing"), "{e:?}");
    let b = TestHost::register(&d.socket, Mode::Auto).await;
    let e = c.err("tool.call", call("probe", json!({}))).await;
    assert_eq!(e.code, code::NO_HOST);
    assert!(
        e.message.contains(&a.host_id) && e.message.contains(&b.host_id),
        "names both hosts: {e:?}"
    );
    let r = c
        .call(
            "tool.call",
            json!({"name": "probe", "input": {}, "host_id": b.host_id}),
        )
        .await;
    assert_eq!(r["is_error"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_params_are_32602_with_a_reason() {
    let api = api(vec![]);
    let d = daemon(&api);
    let mut host = TestHost::register(&d.socket, Mode::Hold).await;
    let c = std::sync::Arc::new(Conn::open(&d.socket).await);
    let cases = [
        (
            json!({"name": "probe", "input": {}, "timeout_s": 0}),
            "timeout_s",
        ),
        (
            json!({"name": "probe", "input": {}, "timeout_s": -1}),
            "timeout_s",
        ),
        (
            json!({"name": "probe", "input": {}, "timeout_s": 3600.5}),
            "timeout_s",
        ),
        (
            json!({"name": "probe", "input": {}, "timeout_s": 1e308}),
            "timeout_s",
        ),
        (
            json!({"name": "probe", "input": {}, "timeout_s": "10"}),
            "expected f64",
        ),
        (json!({"name": "probe", "input": [1]}), "input"),
        (json!({"name": "probe", "input": "x"}), "input"),
        (json!({"name": "probe"}), "input"),
        (json!({"input": {}}), "name"),
        (
            json!({"name": "probe", "input": {}, "call_id": ""}),
            "call_id",
        ),
        (
            json!({"name": "probe", "input": {}, "call_id": "x".repeat(129)}),
            "call_id",
        ),
    ];
    for (params, field) in cases {
        let e = c.err("tool.call", params.clone()).await;
        assert_eq!(e.code, code::INVALID_PARAMS, "{params}: {e:?}");
        let data = e.data.as_ref().map(|d| d.to_string()).unwrap_or_default();
        assert!(
            data.contains(field),
            "{params}: data {data:?} names {field}"
        );
    }
    // A call_id already pending is refused; the first call is unaffected.
    let c2 = c.clone();
    let first = tokio::spawn(async move {
        c2.call(
            "tool.call",
            json!({"name": "probe", "input": {}, "call_id": "dup"}),
        )
        .await
    });
    let (id, _) = host.invoke().await;
    let e = c
        .err(
            "tool.call",
            json!({"name": "probe", "input": {}, "call_id": "dup"}),
        )
        .await;
    assert_eq!(e.code, code::INVALID_PARAMS);
    assert!(format!("{:?}", e.data).contains("already pending"), "{e:?}");
    host.respond(id, json!({"is_error": false, "content": 1}));
    assert_eq!(within("first", first).await.expect("join")["content"], 1);
    let e = c.err("tool.call.cancel", json!({})).await;
    assert_eq!(e.code, code::INVALID_PARAMS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_reaches_the_host_and_ends_the_call() {
    let api = api(vec![]);
    let d = daemon(&api);
    let mut host = TestHost::register(&d.socket, Mode::Hold).await;
    let a = Conn::open(&d.socket).await;
    let b = Conn::open(&d.socket).await;
    let pending = tokio::spawn(async move {
        a.call(
            "tool.call",
            json!({"name": "probe", "input": {}, "call_id": "c1"}),
        )
        .await
    });
    let (id, seen) = host.invoke().await;
    assert_eq!(seen["call_id"], "c1");
    let r = b.call("tool.call.cancel", json!({"call_id": "c1"})).await;
    assert_eq!(r, json!({"cancelled": true}));
    assert_eq!(host.cancel_seen().await, json!({"call_id": "c1"}));
    let r = within("the cancelled call", pending).await.expect("join");
    assert_eq!(r["is_error"], true);
    assert_eq!(r["content"]["error_type"], "Cancelled");
    // Not pending any more; a late answer from the host is ignored.
    let r = b.call("tool.call.cancel", json!({"call_id": "c1"})).await;
    assert_eq!(r, json!({"cancelled": false}));
    host.respond(id, json!({"is_error": false, "content": "late"}));
    b.call("daemon.status", json!({})).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_disconnects_cancels_its_calls() {
    let api = api(vec![]);
    let d = daemon(&api);
    let mut host = TestHost::register(&d.socket, Mode::Hold).await;
    let mut raw = within("connect", synapse_rpc::endpoint::connect(&d.socket))
        .await
        .expect("connect");
    raw.write_all(
        b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tool.call\",\"params\":{\"name\":\"probe\",\"input\":{},\"call_id\":\"gone-1\"}}\n",
    )
    .await
    .expect("write");
    let (_, seen) = host.invoke().await;
    assert_eq!(seen["call_id"], "gone-1");
    drop(raw);
    assert_eq!(host.cancel_seen().await, json!({"call_id": "gone-1"}));
    // The id is free again.
    let c = Conn::open(&d.socket).await;
    let r = c
        .call("tool.call.cancel", json!({"call_id": "gone-1"}))
        .await;
    assert_eq!(r, json!({"cancelled": false}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_sends_tool_cancel_and_a_timeout_envelope() {
    let api = api(vec![]);
    let d = daemon(&api);
    let mut host = TestHost::register(&d.socket, Mode::Hold).await;
    let c = Conn::open(&d.socket).await;
    let pending = tokio::spawn(async move {
        c.call(
            "tool.call",
            json!({"name": "probe", "input": {}, "call_id": "slow", "timeout_s": 0.2}),
        )
        .await
    });
    let (_, seen) = host.invoke().await;
    assert_eq!(seen["timeout_s"], 0.2);
    // The daemon waits timeout_s + the same grace as a turn's calls.
    assert_eq!(host.cancel_seen().await, json!({"call_id": "slow"}));
    let r = within("timed out call", pending).await.expect("join");
    assert_eq!(r["is_error"], true);
    assert_eq!(r["content"]["error_type"], "Timeout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_that_vanishes_mid_call_is_host_unavailable() {
    let api = api(vec![]);
    let d = daemon(&api);
    let mut host = TestHost::register(&d.socket, Mode::Hold).await;
    let c = Conn::open(&d.socket).await;
    let pending = tokio::spawn(async move { c.call("tool.call", call("probe", json!({}))).await });
    host.invoke().await;
    host.disconnect().await;
    let r = within("call", pending).await.expect("join");
    assert_eq!(r["is_error"], true);
    assert_eq!(r["content"]["error_type"], "HostUnavailable");
}
