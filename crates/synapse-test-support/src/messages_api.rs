//! A scripted Anthropic Messages API server for tests.
//!
//! [`ScriptedApi::start`] binds `127.0.0.1` (port 0 unless given), serves
//! `POST /v1/messages` on its own thread and runtime, and answers each
//! request with the next entry of a [`Script`], streaming SSE exactly like
//! the real API: `message_start` (realistic ids and usage), a `ping`,
//! `content_block_start` / several `content_block_delta`s (text and tool
//! input JSON split into pieces; each event also split over two body
//! chunks) / `content_block_stop`, `message_delta` with CUMULATIVE usage,
//! `message_stop`. Errors are `{"type":"error","error":{"type","message"}}`
//! with a `request-id` header. `GET /__requests` returns the recorded
//! requests as JSON. `GET /v1/models` is the scripted Models API
//! ([`crate::models_api`], see [`ScriptedApi::models`]). Dropping the server
//! stops it.
//!
//! Script format (agreed with the plugin team):
//! `{"responses":[R,...]}`, consumed one per request in order; after the
//! last, HTTP 500 `api_error` "script exhausted". R is a message
//! `{"content":[{"type":"text","text":"..."},{"type":"tool_use","id":"toolu_01","name":"x","input":{}}],
//!   "stop_reason":"tool_use","usage":{"input_tokens":10,"output_tokens":5}}`
//! (`stop_reason` defaults to `end_turn`; text may contain
//! `{{last_tool_result}}`, replaced by the text of the last `tool_result`
//! block of the request, at most 2000 characters) or a fault:
//! - `{"fault":"http_status","status":429,"headers":{"retry-after":"0"},"error_type":"rate_limit_error"}`
//!   (`error_type` defaults from the status; optional `message`);
//! - `{"fault":"overloaded_in_band"}`: 200, `message_start`, then an
//!   `error` event `overloaded_error`;
//! - `{"fault":"overloaded_after_text"}`: some text, then that error event;
//! - `{"fault":"stall_after_message_start"}`: `message_start` and a `ping`,
//!   then nothing, connection kept open until the client closes it;
//! - `{"fault":"cut_mid_block"}`: closes the connection in the middle of a
//!   content block (extension: optional `content`, default one text block;
//!   the cut happens halfway through the deltas of its LAST block).
//!
//! - `{"raw_sse":"event: message_start\ndata: {...}\n\n...","chunk_bytes":7}`:
//!   200 and these exact bytes, cut into chunks of `chunk_bytes` (default
//!   7: splits lines, JSON and UTF-8 characters at awkward places); for
//!   replaying real recorded streams byte for byte.
//!
//! Every R may carry `"delay_ms"` (wait before answering).
//!
//! A summary request (no tools; the last user message begins with
//! `[synapse:compact]`) is answered with a short canned summary and does
//! not use the script. Faults that
//! send `message_start` report `usage` (optional, default
//! `{"input_tokens":25,"output_tokens":1}`).

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};

/// Longest text substituted for `{{last_tool_result}}`, in characters.
pub const LAST_TOOL_RESULT_MAX_CHARS: usize = 2000;

/// Default usage of faults that send `message_start`.
pub const FAULT_USAGE: ScriptUsage = ScriptUsage {
    cost_usd: None,
    input_tokens: 25,
    output_tokens: 1,
    cache_read_input_tokens: 0,
    cache_creation_input_tokens: 0,
};

/// A script: responses consumed one per request.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Script {
    /// In order.
    pub responses: Vec<ScriptResponse>,
}

impl Script {
    /// A script of these responses.
    pub fn new(responses: Vec<ScriptResponse>) -> Self {
        Self { responses }
    }

    /// Parse the JSON form.
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }
}

/// Usage reported by a scripted response: the protocol's [`Usage`](synapse_protocol::Usage)
/// (every field optional in the script).
pub type ScriptUsage = synapse_protocol::Usage;

/// One scripted answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ScriptResponse {
    /// A fault.
    Fault(Fault),
    /// Exact SSE bytes.
    Raw(RawStream),
    /// A streamed message.
    Message(ScriptMessage),
}

/// A response streamed as exact SSE bytes (a recorded stream).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RawStream {
    /// The whole event stream, sent byte for byte.
    pub raw_sse: String,
    /// Chunk size in bytes (default 7).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk_bytes: Option<usize>,
    /// Wait before answering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
}

impl ScriptResponse {
    /// A text message ending the turn, usage 10 in / 5 out.
    pub fn text(text: &str) -> Self {
        Self::Message(ScriptMessage {
            content: vec![json!({"type": "text", "text": text})],
            stop_reason: "end_turn".into(),
            usage: ScriptUsage {
                input_tokens: 10,
                output_tokens: 5,
                ..Default::default()
            },
            delay_ms: None,
        })
    }

    /// A message of `content` blocks with `stop_reason` and usage.
    pub fn message(
        content: Vec<Value>,
        stop_reason: &str,
        input_tokens: u64,
        output_tokens: u64,
    ) -> Self {
        Self::Message(ScriptMessage {
            content,
            stop_reason: stop_reason.into(),
            usage: ScriptUsage {
                input_tokens,
                output_tokens,
                ..Default::default()
            },
            delay_ms: None,
        })
    }

    /// A fault of `kind` with default fields.
    pub fn fault(kind: FaultKind) -> Self {
        Self::Fault(Fault {
            fault: kind,
            status: None,
            headers: BTreeMap::new(),
            error_type: None,
            message: None,
            content: None,
            usage: None,
            delay_ms: None,
        })
    }

    /// An `http_status` fault with headers.
    pub fn http_status(status: u16, headers: &[(&str, &str)]) -> Self {
        let mut r = Self::fault(FaultKind::HttpStatus);
        if let Self::Fault(f) = &mut r {
            f.status = Some(status);
            f.headers = headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
        }
        r
    }

    /// Parse one response from JSON.
    pub fn from_value(v: Value) -> Result<Self, serde_json::Error> {
        serde_json::from_value(v)
    }

    fn delay(&self) -> Option<u64> {
        match self {
            Self::Fault(f) => f.delay_ms,
            Self::Raw(r) => r.delay_ms,
            Self::Message(m) => m.delay_ms,
        }
    }
}

/// A scripted message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScriptMessage {
    /// Content blocks (`text`, `tool_use`, `thinking`, others verbatim).
    pub content: Vec<Value>,
    /// Default `end_turn`.
    #[serde(default = "end_turn")]
    pub stop_reason: String,
    /// Reported usage.
    #[serde(default)]
    pub usage: ScriptUsage,
    /// Wait before answering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
}

fn end_turn() -> String {
    "end_turn".into()
}

/// The fault kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// An HTTP error status with an error body.
    HttpStatus,
    /// 200, `message_start`, then an in-band `overloaded_error`.
    OverloadedInBand,
    /// Some text, then an in-band `overloaded_error`.
    OverloadedAfterText,
    /// `message_start`, then silence with the connection open.
    StallAfterMessageStart,
    /// The connection is closed in the middle of a content block.
    CutMidBlock,
}

/// A scripted fault.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fault {
    /// Which.
    pub fault: FaultKind,
    /// `http_status`: the status (default 500).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Extra response headers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// `error.type` (default from the status, or `overloaded_error`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    /// `error.message`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `cut_mid_block`: the content whose last block is cut.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Vec<Value>>,
    /// Usage in `message_start` (default [`FAULT_USAGE`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<ScriptUsage>,
    /// Wait before answering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
}

/// A request the server received on `POST /v1/messages`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// Header names (lower case) and values (non-UTF-8 values lossy).
    pub headers: BTreeMap<String, String>,
    /// The JSON body (`null` if it was not JSON).
    pub body: Value,
    /// The body exactly as received.
    pub raw_body: String,
}

struct Shared {
    script: Mutex<VecDeque<ScriptResponse>>,
    requests: Mutex<Vec<RecordedRequest>>,
    seen: watch::Sender<usize>,
    disconnects: watch::Sender<usize>,
    ids: AtomicU64,
    models: crate::models_api::ScriptedModels,
}

/// A running scripted server. Stops when dropped.
pub struct ScriptedApi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl std::fmt::Debug for ScriptedApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptedApi")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl ScriptedApi {
    /// Start on an ephemeral port of 127.0.0.1.
    ///
    /// # Panics
    /// If the port cannot be bound or the server thread cannot start (tests only).
    pub fn start(script: Script) -> Self {
        Self::start_on(script, 0).expect("start the scripted Messages API")
    }

    /// Start on `port` (0: ephemeral).
    pub fn start_on(script: Script, port: u16) -> std::io::Result<Self> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            script: Mutex::new(script.responses.into()),
            requests: Mutex::new(Vec::new()),
            seen: watch::channel(0).0,
            disconnects: watch::channel(0).0,
            ids: AtomicU64::new(1),
            models: crate::models_api::ScriptedModels::default(),
        });
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let server_shared = shared.clone();
        std::thread::Builder::new()
            .name("scripted-api".into())
            .spawn(move || {
                rt.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(_) => return,
                    };
                    let accept = async {
                        loop {
                            let Ok((stream, _)) = listener.accept().await else {
                                // E.g. out of file descriptors: back off
                                // instead of spinning on the error.
                                tokio::time::sleep(ACCEPT_BACKOFF).await;
                                continue;
                            };
                            let _ = stream.set_nodelay(true);
                            let shared = server_shared.clone();
                            tokio::spawn(async move {
                                let io = hyper_util::rt::TokioIo::new(stream);
                                let svc = hyper::service::service_fn(move |req| {
                                    let shared = shared.clone();
                                    async move { Ok::<_, Infallible>(handle(shared, req).await) }
                                });
                                let _ = hyper::server::conn::http1::Builder::new()
                                    .serve_connection(io, svc)
                                    .await;
                            });
                        }
                    };
                    tokio::select! {
                        _ = stop_rx => {}
                        _ = accept => {}
                    }
                });
            })?;
        Ok(Self {
            addr,
            shared,
            stop: Some(stop_tx),
        })
    }

    /// `http://127.0.0.1:PORT` (no `/v1`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared
            .requests
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }

    /// Wait until at least `n` requests were received; false on timeout.
    pub async fn wait_for_requests(&self, n: usize, timeout: Duration) -> bool {
        let mut rx = self.shared.seen.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|c| *c >= n))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Number of responses the client abandoned mid-stream (it closed the
    /// connection while the server was still streaming or stalling).
    pub fn client_disconnects(&self) -> usize {
        *self.shared.disconnects.borrow()
    }

    /// Wait until the client closed at least `n` connections mid-response;
    /// false on timeout.
    pub async fn wait_for_client_disconnects(&self, n: usize, timeout: Duration) -> bool {
        let mut rx = self.shared.disconnects.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|c| *c >= n))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// The scripted Models API (`GET /v1/models`): list, faults, requests.
    pub fn models(&self) -> &crate::models_api::ScriptedModels {
        &self.shared.models
    }

    /// Append more responses to the script.
    pub fn push(&self, responses: impl IntoIterator<Item = ScriptResponse>) {
        if let Ok(mut s) = self.shared.script.lock() {
            s.extend(responses);
        }
    }
}

impl Drop for ScriptedApi {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

type Body = BoxBody<Bytes, std::io::Error>;
type Chunk = Result<Frame<Bytes>, std::io::Error>;

fn full(status: u16, headers: &[(&str, String)], body: Vec<u8>) -> Response<Body> {
    let mut b = Response::builder().status(status);
    for (k, v) in headers {
        b = b.header(*k, v.as_str());
    }
    b.body(
        Full::new(Bytes::from(body))
            .map_err(|never: Infallible| match never {})
            .boxed(),
    )
    .unwrap_or_else(|_| {
        Response::new(
            Full::new(Bytes::new())
                .map_err(|n: Infallible| match n {})
                .boxed(),
        )
    })
}

fn error_response(
    shared: &Shared,
    status: u16,
    error_type: &str,
    message: &str,
    extra: &BTreeMap<String, String>,
) -> Response<Body> {
    let rid = request_id(shared);
    let body = json!({"type": "error", "error": {"type": error_type, "message": message}, "request_id": rid});
    let mut headers = vec![
        ("content-type", "application/json".to_owned()),
        ("request-id", rid),
    ];
    let extra: Vec<(&str, String)> = extra.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    headers.extend(extra);
    full(status, &headers, body.to_string().into_bytes())
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Response<Body> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    if method == hyper::Method::GET && path == "/__requests" {
        let reqs = shared
            .requests
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default();
        let body = serde_json::to_vec(&reqs).unwrap_or_default();
        return full(
            200,
            &[("content-type", "application/json".to_owned())],
            body,
        );
    }
    if method == hyper::Method::GET && path.starts_with("/v1/models") {
        return models_response(&shared, &req).await;
    }
    if method != hyper::Method::POST || path != "/v1/messages" {
        return error_response(
            &shared,
            404,
            "not_found_error",
            &format!("no route {method} {path}"),
            &BTreeMap::new(),
        );
    }
    let headers: BTreeMap<String, String> = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let raw = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let raw_body = String::from_utf8_lossy(&raw).into_owned();
    let body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    // Summary requests (design §10) are answered without using the script,
    // so a test need not know when the daemon compacts.
    let next = if is_compact_request(&body) {
        Some(compact_answer(&body))
    } else {
        shared.script.lock().ok().and_then(|mut s| s.pop_front())
    };
    let count = match shared.requests.lock() {
        Ok(mut r) => {
            r.push(RecordedRequest {
                headers,
                body: body.clone(),
                raw_body,
            });
            r.len()
        }
        Err(_) => 0,
    };
    shared.seen.send_replace(count);
    let Some(resp) = next else {
        return error_response(
            &shared,
            500,
            "api_error",
            "script exhausted",
            &BTreeMap::new(),
        );
    };
    if let Some(ms) = resp.delay() {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("claude-sonnet-5-5")
        .to_owned();
    match resp {
        ScriptResponse::Raw(r) => {
            let size = r.chunk_bytes.unwrap_or(7).max(1);
            let chunks = r
                .raw_sse
                .as_bytes()
                .chunks(size)
                .map(<[u8]>::to_vec)
                .collect();
            stream(shared, chunks, End::Finish)
        }
        ScriptResponse::Message(m) => {
            let last = last_tool_result(&body);
            let content: Vec<Value> = m.content.iter().map(|b| substitute(b, &last)).collect();
            let mut events = vec![message_start(&shared, &model, &m.usage), ping()];
            for (i, b) in content.iter().enumerate() {
                events.extend(block_events(i, b, usize::MAX));
            }
            events.push(message_delta(&m.stop_reason, &m.usage));
            events.push(sse("message_stop", &json!({"type": "message_stop"})));
            stream(shared, events, End::Finish)
        }
        ScriptResponse::Fault(f) => {
            let usage = f.usage.unwrap_or(FAULT_USAGE);
            match f.fault {
                FaultKind::HttpStatus => {
                    let status = f.status.unwrap_or(500);
                    let et = f
                        .error_type
                        .clone()
                        .unwrap_or_else(|| default_error_type(status).to_owned());
                    let msg = f
                        .message
                        .clone()
                        .unwrap_or_else(|| default_message(&et).to_owned());
                    error_response(&shared, status, &et, &msg, &f.headers)
                }
                FaultKind::OverloadedInBand => {
                    let events = vec![message_start(&shared, &model, &usage), ping(), overloaded()];
                    stream(shared, events, End::Finish)
                }
                FaultKind::OverloadedAfterText => {
                    let mut events = vec![message_start(&shared, &model, &usage), ping()];
                    events.extend(block_events(
                        0,
                        &json!({"type": "text", "text": "Let me look at the scene"}),
                        usize::MAX,
                    ));
                    events.push(overloaded());
                    stream(shared, events, End::Finish)
                }
                FaultKind::StallAfterMessageStart => {
                    let events = vec![message_start(&shared, &model, &usage), ping()];
                    stream(shared, events, End::Stall)
                }
                FaultKind::CutMidBlock => {
                    let content = f
                        .content
                        .clone()
                        .unwrap_or_else(|| vec![json!({"type": "text", "text": "This answer will be cut off in the middle"})]);
                    let mut events = vec![message_start(&shared, &model, &usage), ping()];
                    let n = content.len();
                    for (i, b) in content.iter().enumerate() {
                        let limit = if i + 1 == n { 1 } else { usize::MAX };
                        let mut evs = block_events(i, b, limit);
                        if i + 1 == n {
                            // drop the content_block_stop
                            evs.pop();
                        }
                        events.extend(evs);
                    }
                    stream(shared, events, End::Cut)
                }
            }
        }
    }
}

/// The first words of a summary request's last user message.
pub const COMPACT_MARKER: &str = "[synapse:compact]";

/// True for a summary request: no tools, and the last user message's text
/// begins with [`COMPACT_MARKER`].
pub fn is_compact_request(body: &Value) -> bool {
    let no_tools = body
        .get("tools")
        .is_none_or(|t| t.as_array().is_none_or(Vec::is_empty));
    let last = body
        .get("messages")
        .and_then(Value::as_array)
        .and_then(|m| m.last());
    let text = last
        .and_then(|m| m.get("content"))
        .and_then(|c| match c {
            Value::String(s) => Some(s.as_str()),
            Value::Array(b) => b
                .first()
                .and_then(|b| b.get("text"))
                .and_then(Value::as_str),
            _ => None,
        })
        .unwrap_or("");
    no_tools && text.starts_with(COMPACT_MARKER)
}

/// The canned answer to a summary request: a short summary naming how
/// long the transcript was, usage 1000 in / 50 out.
fn compact_answer(body: &Value) -> ScriptResponse {
    let len = body.to_string().len();
    ScriptResponse::message(
        vec![
            json!({"type": "text", "text": format!("SUMMARY of an earlier conversation ({len} bytes): the artist worked on their scene.")}),
        ],
        "end_turn",
        1000,
        50,
    )
}

/// Longest a scripted cut waits for queued frames to be taken by hyper.
const CUT_DRAIN_LIMIT: Duration = Duration::from_secs(5);

/// Pause after a failed `accept` before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

enum End {
    Finish,
    Stall,
    Cut,
}

fn stream(
    shared: Arc<Shared>,
    events: Vec<impl Into<Vec<u8>> + Send + 'static>,
    end: End,
) -> Response<Body> {
    let (tx, rx) = mpsc::channel::<Chunk>(64);
    tokio::spawn(async move {
        for ev in events {
            // Split every event over two chunks, as TCP may.
            let bytes: Vec<u8> = ev.into();
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

fn sse(event: &str, data: &Value) -> String {
    format!("event: {event}\ndata: {data}\n\n")
}

fn ping() -> String {
    sse("ping", &json!({"type": "ping"}))
}

fn overloaded() -> String {
    sse(
        "error",
        &json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    )
}

fn base62(mut n: u64, len: usize) -> String {
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

fn request_id(shared: &Shared) -> String {
    format!(
        "req_011C{}",
        base62(shared.ids.fetch_add(1, Ordering::Relaxed) ^ 0xA5A5, 18)
    )
}

fn message_start(shared: &Shared, model: &str, u: &ScriptUsage) -> String {
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

fn message_delta(stop_reason: &str, u: &ScriptUsage) -> String {
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
fn pieces(s: &str) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    if chars.is_empty() {
        return vec![String::new()];
    }
    let step = chars.len().div_ceil(4).max(1);
    chars.chunks(step).map(|c| c.iter().collect()).collect()
}

/// Events of one block; at most `max_deltas` deltas (the cut uses 1).
fn block_events(index: usize, block: &Value, max_deltas: usize) -> Vec<String> {
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

async fn models_response(shared: &Shared, req: &Request<Incoming>) -> Response<Body> {
    let headers: BTreeMap<String, String> = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let a = shared
        .models
        .answer(req.uri().path(), req.uri().query(), headers);
    if let Some(d) = a.delay {
        tokio::time::sleep(d).await;
    }
    let rid = request_id(shared);
    let mut body = a.body;
    if a.status != 200 {
        body["request_id"] = Value::String(rid.clone());
    }
    full(
        a.status,
        &[
            ("content-type", "application/json".to_owned()),
            ("request-id", rid),
        ],
        body.to_string().into_bytes(),
    )
}

pub(crate) fn default_error_type(status: u16) -> &'static str {
    match status {
        400 | 422 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        _ => "api_error",
    }
}

pub(crate) fn default_message(error_type: &str) -> &'static str {
    match error_type {
        "invalid_request_error" => "invalid request",
        "authentication_error" => "invalid x-api-key",
        "permission_error" => "your API key does not have permission to use the specified resource",
        "not_found_error" => "the requested resource could not be found",
        "request_too_large" => "request exceeds the maximum allowed number of bytes",
        "rate_limit_error" => "number of request tokens has exceeded your rate limit",
        "overloaded_error" => "Overloaded",
        _ => "Internal server error",
    }
}

/// The text of the last `tool_result` block of the request's last message.
fn last_tool_result(body: &Value) -> String {
    let Some(last) = body
        .get("messages")
        .and_then(Value::as_array)
        .and_then(|m| m.last())
    else {
        return String::new();
    };
    let Some(blocks) = last.get("content").and_then(Value::as_array) else {
        return String::new();
    };
    let Some(block) = blocks
        .iter()
        .rev()
        .find(|b| b.get("type").and_then(Value::as_str) == Some("tool_result"))
    else {
        return String::new();
    };
    let text = match block.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    };
    text.chars().take(LAST_TOOL_RESULT_MAX_CHARS).collect()
}

fn substitute(block: &Value, last: &str) -> Value {
    match block.get("text").and_then(Value::as_str) {
        Some(t)
            if block.get("type").and_then(Value::as_str) == Some("text")
                && t.contains("{{last_tool_result}}") =>
        {
            let mut b = block.clone();
            b["text"] = Value::String(t.replace("{{last_tool_result}}", last));
            b
        }
        _ => block.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_json_forms_parse() {
        let s = Script::from_json(
            r#"{"responses":[
            {"content":[{"type":"text","text":"hi"},{"type":"tool_use","id":"toolu_01","name":"x","input":{"a":1}}],"stop_reason":"tool_use","usage":{"input_tokens":10,"output_tokens":5}},
            {"fault":"http_status","status":429,"headers":{"retry-after":"0"},"error_type":"rate_limit_error"},
            {"fault":"overloaded_in_band"},{"fault":"overloaded_after_text"},
            {"fault":"stall_after_message_start"},{"fault":"cut_mid_block","delay_ms":5},
            {"content":[{"type":"text","text":"x"}],"stop_reason":"max_tokens"}]}"#,
        )
        .expect("parse");
        assert_eq!(s.responses.len(), 7);
        assert!(
            matches!(&s.responses[0], ScriptResponse::Message(m) if m.stop_reason == "tool_use")
        );
        assert!(matches!(&s.responses[1], ScriptResponse::Fault(f) if f.status == Some(429)));
        assert!(
            matches!(&s.responses[5], ScriptResponse::Fault(f) if f.fault == FaultKind::CutMidBlock && f.delay_ms == Some(5))
        );
    }

    #[test]
    fn last_tool_result_is_found_and_truncated() {
        let long = "é".repeat(3000);
        let body = json!({"messages":[{"role":"user","content":[
            {"type":"tool_result","tool_use_id":"a","content":"first"},
            {"type":"tool_result","tool_use_id":"b","content":long}]}]});
        assert_eq!(last_tool_result(&body).chars().count(), 2000);
        let body = json!({"messages":[{"role":"user","content":[
            {"type":"tool_result","tool_use_id":"b","content":[{"type":"text","text":"x"},{"type":"text","text":"y"}]}]}]});
        assert_eq!(last_tool_result(&body), "xy");
    }
}
