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

mod compact;
mod errors;
mod script;
mod sse;

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::watch;

pub use compact::{is_compact_request, COMPACT_MARKER};
pub(crate) use errors::{default_error_type, default_message};
pub use script::{
    Fault, FaultKind, RawStream, Script, ScriptMessage, ScriptResponse, ScriptUsage, FAULT_USAGE,
    LAST_TOOL_RESULT_MAX_CHARS,
};

use compact::{compact_answer, last_tool_result, substitute};
use errors::models_response;
use sse::{
    block_events, message_delta, message_start, overloaded, ping, request_id, sse, stream, End,
};

/// Pause after a failed `accept` before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);
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
    gate: Mutex<Option<BlockGate>>,
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
            gate: Mutex::new(None),
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

    /// Gate the content blocks of the streams that start from now on: each
    /// `content_block_start` waits for a [`BlockGate::release_block`], so a
    /// test decides when each block is sent (events before the first block
    /// and after the last one flow freely).
    pub fn gate_blocks(&self) -> BlockGate {
        let gate = BlockGate {
            permits: Arc::new(tokio::sync::Semaphore::new(0)),
        };
        if let Ok(mut g) = self.shared.gate.lock() {
            *g = Some(gate.clone());
        }
        gate
    }

    /// Append more responses to the script.
    pub fn push(&self, responses: impl IntoIterator<Item = ScriptResponse>) {
        if let Ok(mut s) = self.shared.script.lock() {
            s.extend(responses);
        }
    }
}

/// The test's side of [`ScriptedApi::gate_blocks`].
#[derive(Clone, Debug)]
pub struct BlockGate {
    permits: Arc<tokio::sync::Semaphore>,
}

impl BlockGate {
    /// Let one more content block be sent.
    pub fn release_block(&self) {
        self.permits.add_permits(1);
    }

    /// Wait for a release before a block (the stream's side).
    async fn before_block(&self) {
        if let Ok(p) = self.permits.acquire().await {
            p.forget();
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
    let headers = header_map(&req);
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

/// A request's headers by name (values as lossy UTF-8), as scripts see them.
fn header_map<B>(req: &Request<B>) -> BTreeMap<String, String> {
    req.headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}
