//! The SSE events of a scripted stream and the task that sends them.

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::Response;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::{Body, Chunk, ScriptUsage, Shared};

/// Longest a scripted cut waits for queued frames to be taken by hyper.
const CUT_DRAIN_LIMIT: Duration = Duration::from_secs(5);
pub(super) enum End {
    Finish,
    Stall,
    Cut,
}

pub(super) fn stream(
    shared: Arc<Shared>,
    events: Vec<impl Into<Vec<u8>> + Send + 'static>,
    end: End,
) -> Response<Body> {
    let (tx, rx) = mpsc::channel::<Chunk>(64);
    let gate = shared.gate.lock().ok().and_then(|g| g.clone());
    tokio::spawn(async move {
        for ev in events {
            // Split every event over two chunks, as TCP may.
            let bytes: Vec<u8> = ev.into();
            if let Some(gate) = &gate {
                if bytes.starts_with(b"event: content_block_start\n") {
                    gate.before_block().await;
                }
            }
            let mid = bytes.len() / 2;
            for part in [&bytes[..mid], &bytes[mid..]] {
                if tx
                    .send(Ok(Frame::data(Bytes::copy_from_slice(part))))
                    .await
                    .is_err()
                {
                    shared.disconnects.send_modify(|c| *c += 1);
                    return;
                }
            }
        }
        match end {
            End::Finish => {}
            End::Stall => {
                tx.closed().await;
                shared.disconnects.send_modify(|c| *c += 1);
            }
            End::Cut => {
                // Let hyper take and flush every frame before the cut:
                // it writes out when the body turns pending (channel empty).
                // A client that stops reading keeps the channel full: cut
                // anyway after CUT_DRAIN_LIMIT.
                let deadline = tokio::time::Instant::now() + CUT_DRAIN_LIMIT;
                let mut spins = 0u32;
                while tx.capacity() < tx.max_capacity() {
                    if tx.is_closed() {
                        return;
                    }
                    if tokio::time::Instant::now() >= deadline {
                        break;
                    }
                    if spins < 64 {
                        spins += 1;
                        tokio::task::yield_now().await;
                    } else {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
                for _ in 0..4 {
                    tokio::task::yield_now().await;
                }
                let _ = tx
                    .send(Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionAborted,
                        "scripted cut",
                    )))
                    .await;
            }
        }
    });
    let body = StreamBody::new(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|x| (x, rx))
    }));
    let rid = "req_011CScripted".to_owned();
    let headers = [
        (
            "content-type",
            "text/event-stream; charset=utf-8".to_owned(),
        ),
        ("cache-control", "no-cache".to_owned()),
        ("request-id", rid),
    ];
    let mut b = Response::builder().status(200);
    for (k, v) in headers {
        b = b.header(k, v);
    }
    b.body(body.boxed()).unwrap_or_else(|_| {
        Response::new(
            Full::new(Bytes::new())
                .map_err(|n: Infallible| match n {})
                .boxed(),
        )
    })
}

pub(super) fn sse(event: &str, data: &Value) -> String {
    format!("event: {event}\ndata: {data}\n\n")
}

pub(super) fn ping() -> String {
    sse("ping", &json!({"type": "ping"}))
}

pub(super) fn overloaded() -> String {
    sse(
        "error",
        &json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    )
}

pub(super) fn base62(mut n: u64, len: usize) -> String {
    const A: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut s = String::with_capacity(len);
    for _ in 0..len {
        n = n
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        s.push(A[((n >> 33) % 62) as usize] as char);
    }
    s
}

pub(super) fn request_id(shared: &Shared) -> String {
    format!(
        "req_011C{}",
        base62(shared.ids.fetch_add(1, Ordering::Relaxed) ^ 0xA5A5, 18)
    )
}

pub(super) fn message_start(shared: &Shared, model: &str, u: &ScriptUsage) -> String {
    let id = format!(
        "msg_01{}",
        base62(shared.ids.fetch_add(1, Ordering::Relaxed), 22)
    );
    sse(
        "message_start",
        &json!({"type": "message_start", "message": {
            "id": id, "type": "message", "role": "assistant", "content": [], "model": model,
            "stop_reason": null, "stop_sequence": null,
            "usage": {
                "input_tokens": u.input_tokens,
                "cache_creation_input_tokens": u.cache_creation_input_tokens,
                "cache_read_input_tokens": u.cache_read_input_tokens,
                "output_tokens": u.output_tokens.min(1),
            }
        }}),
    )
}

pub(super) fn message_delta(stop_reason: &str, u: &ScriptUsage) -> String {
    sse(
        "message_delta",
        &json!({"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": null},
        "usage": {
            "input_tokens": u.input_tokens,
            "cache_creation_input_tokens": u.cache_creation_input_tokens,
            "cache_read_input_tokens": u.cache_read_input_tokens,
            "output_tokens": u.output_tokens,
        }}),
    )
}

/// Split `s` into about four pieces on character boundaries.
pub(super) fn pieces(s: &str) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    if chars.is_empty() {
        return vec![String::new()];
    }
    let step = chars.len().div_ceil(4).max(1);
    chars.chunks(step).map(|c| c.iter().collect()).collect()
}

/// Events of one block; at most `max_deltas` deltas (the cut uses 1).
pub(super) fn block_events(index: usize, block: &Value, max_deltas: usize) -> Vec<String> {
    let kind = block.get("type").and_then(Value::as_str).unwrap_or("");
    let delta = |d: Value| {
        sse(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": index, "delta": d}),
        )
    };
    let mut out = Vec::new();
    match kind {
        "text" => {
            let text = block.get("text").and_then(Value::as_str).unwrap_or("");
            out.push(sse("content_block_start", &json!({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}})));
            for p in pieces(text).into_iter().take(max_deltas) {
                out.push(delta(json!({"type": "text_delta", "text": p})));
            }
        }
        "tool_use" => {
            let input = block.get("input").cloned().unwrap_or_else(|| json!({}));
            out.push(sse("content_block_start", &json!({"type": "content_block_start", "index": index,
                "content_block": {"type": "tool_use", "id": block.get("id").cloned().unwrap_or(json!("toolu_01")),
                "name": block.get("name").cloned().unwrap_or(json!("tool")), "input": {}}})));
            let mut parts = vec![String::new()];
            parts.extend(pieces(&input.to_string()));
            for p in parts.into_iter().take(max_deltas.saturating_add(1)) {
                out.push(delta(
                    json!({"type": "input_json_delta", "partial_json": p}),
                ));
            }
        }
        "thinking" => {
            let thinking = block.get("thinking").and_then(Value::as_str).unwrap_or("");
            out.push(sse("content_block_start", &json!({"type": "content_block_start", "index": index, "content_block": {"type": "thinking", "thinking": ""}})));
            for p in pieces(thinking).into_iter().take(max_deltas) {
                out.push(delta(json!({"type": "thinking_delta", "thinking": p})));
            }
            let sig = block
                .get("signature")
                .and_then(Value::as_str)
                .unwrap_or("EqQBCgIYAhIM");
            out.push(delta(json!({"type": "signature_delta", "signature": sig})));
        }
        _ => {
            out.push(sse(
                "content_block_start",
                &json!({"type": "content_block_start", "index": index, "content_block": block}),
            ));
        }
    }
    out.push(sse(
        "content_block_stop",
        &json!({"type": "content_block_stop", "index": index}),
    ));
    out
}
