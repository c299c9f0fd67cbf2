//! From a line of bytes to method calls and the line that answers them.
//!
//! Methods are registered on a jsonrpsee [`RpcModule`](jsonrpsee_core::server::RpcModule)
//! by the daemon; this module is the per-connection service in front of it.
//! It owns everything jsonrpsee's own servers would otherwise do, the way the
//! protocol contract wants it:
//!
//! - `-32700` (not JSON, not UTF-8) and `-32600` (not a JSON-RPC message)
//!   with the request's id when one could be read, else `null`;
//! - `-32601` for unknown methods; unknown *notifications* are ignored;
//! - batches: one array line in, one array line out (notifications and
//!   responses in a batch produce no entry; an empty batch is `-32600`);
//! - responses from the peer are routed to [`Peer::complete`];
//! - the calling connection's [`Peer`] is handed to every method through the
//!   call's `Extensions`.
//!
//! Every response is built with `"id": null` by jsonrpsee and gets the
//! request's own id spliced in here, so ids of any JSON-RPC shape (negative
//! numbers included) round-trip exactly.

use std::sync::Arc;

use bytes::Bytes;
use futures::future::join_all;
use jsonrpsee_core::server::{
    ConnectionId, Extensions, MethodCallback, MethodResponse, MethodResponseNotifyTx, Methods,
};
use jsonrpsee_types::{Id as JId, Params};
use serde_json::Value;
use synapse_protocol::{ErrorObject, Id, Message, Request, Response, MAX_LINE_BYTES};

use crate::codec::Frame;
use crate::peer::{encode, Peer};

/// What handling one frame produced.
#[derive(Default)]
pub struct Reply {
    /// The line to send back (with `\n`), if any.
    pub line: Option<Bytes>,
    /// To fire once `line` is queued (jsonrpsee's "response sent" hooks).
    pub on_sent: Vec<MethodResponseNotifyTx>,
}

impl Reply {
    fn line(line: Bytes) -> Self {
        Self {
            line: Some(line),
            on_sent: Vec::new(),
        }
    }

    /// Tell every waiting method that its response is now queued.
    pub fn sent(self) {
        for tx in self.on_sent {
            tx.notify(true);
        }
    }
}

/// The method table plus the JSON-RPC rules around it. Shared by all connections.
#[derive(Clone)]
pub struct Dispatcher {
    methods: Arc<Methods>,
}

impl Dispatcher {
    /// A dispatcher over the given methods.
    pub fn new(methods: impl Into<Methods>) -> Self {
        Self {
            methods: Arc::new(methods.into()),
        }
    }

    /// True when `method` is served.
    pub fn has_method(&self, method: &str) -> bool {
        self.methods.method(method).is_some()
    }

    /// True when the method's handler is synchronous (cheap to run inline).
    pub fn is_sync(&self, method: &str) -> bool {
        matches!(self.methods.method(method), Some(MethodCallback::Sync(_)))
    }

    /// Handle one frame from `peer`.
    pub async fn handle(&self, frame: Frame, peer: &Peer) -> Reply {
        let line = match frame {
            Frame::TooLong => {
                return Reply::line(encode(&Response::err(
                    Id::Null,
                    ErrorObject::too_large(MAX_LINE_BYTES),
                )))
            }
            Frame::Line(line) => line,
        };
        if line.iter().all(u8::is_ascii_whitespace) {
            return Reply::default();
        }
        let value: Value = match serde_json::from_slice(&line) {
            Ok(v) => v,
            Err(e) => {
                let detail = if std::str::from_utf8(&line).is_err() {
                    "the line is not valid UTF-8".to_owned()
                } else {
                    format!("not valid JSON: {e}")
                };
                return Reply::line(encode(&Response::err(
                    Id::Null,
                    ErrorObject::parse_error(detail),
                )));
            }
        };
        match value {
            Value::Array(items) => {
                let raw_ids = if items.iter().any(needs_raw_id) {
                    serde_json::from_slice::<Vec<IdPeek<'_>>>(&line)
                        .map(|peeks| peeks.into_iter().map(|p| p.text()).collect())
                        .unwrap_or_default()
                } else {
                    Vec::new()
                };
                self.handle_batch(items, raw_ids, peer).await
            }
            single => {
                let raw_id = if needs_raw_id(&single) {
                    serde_json::from_slice::<IdPeek<'_>>(&line)
                        .ok()
                        .and_then(|p| p.text())
                } else {
                    None
                };
                let mut on_sent = Vec::new();
                let out = self
                    .handle_one(single, raw_id.as_deref(), peer, &mut on_sent)
                    .await;
                Reply {
                    line: out.map(|r| encode(&r)),
                    on_sent,
                }
            }
        }
    }

    async fn handle_batch(
        &self,
        items: Vec<Value>,
        raw_ids: Vec<Option<String>>,
        peer: &Peer,
    ) -> Reply {
        if items.is_empty() {
            return Reply::line(encode(&Response::err(
                Id::Null,
                ErrorObject::invalid_request("an empty batch"),
            )));
        }
        let mut on_sent = Vec::new();
        let outs = join_all(items.into_iter().enumerate().map(|(i, item)| {
            let raw_id = raw_ids.get(i).cloned().flatten();
            async move {
                let mut hooks = Vec::new();
                let r = self
                    .handle_one(item, raw_id.as_deref(), peer, &mut hooks)
                    .await;
                (r, hooks)
            }
        }))
        .await;
        let mut responses = Vec::new();
        for (r, hooks) in outs {
            responses.extend(r);
            on_sent.extend(hooks);
        }
        if responses.is_empty() {
            return Reply {
                line: None,
                on_sent,
            };
        }
        Reply {
            line: Some(encode(&responses)),
            on_sent,
        }
    }

    /// Handle one message; the response to send, if any.
    async fn handle_one(
        &self,
        value: Value,
        raw_id: Option<&str>,
        peer: &Peer,
        on_sent: &mut Vec<MethodResponseNotifyTx>,
    ) -> Option<Response> {
        match Message::classify_with_id(value, raw_id) {
            Err((id, err)) => Some(Response::err(id, err)),
            Ok(Message::Response(resp)) => {
                peer.complete(resp);
                None
            }
            Ok(Message::Notification(n)) => {
                if self.has_method(&n.method) {
                    let (_, hook) = self
                        .call(Request::new(Id::Null, n.method, n.params), peer)
                        .await;
                    on_sent.extend(hook);
                } else {
                    tracing::debug!(method = %n.method, "ignoring unknown notification");
                }
                None
            }
            Ok(Message::Request(req)) => {
                let (resp, hook) = self.call(req, peer).await;
                on_sent.extend(hook);
                Some(resp)
            }
        }
    }

    /// Call one method. Returns its response and the "response sent" hook.
    pub async fn call(
        &self,
        req: Request,
        peer: &Peer,
    ) -> (Response, Option<MethodResponseNotifyTx>) {
        let Some(callback) = self.methods.method(&req.method) else {
            return (
                Response::err(req.id, ErrorObject::method_not_found(&req.method)),
                None,
            );
        };
        let params_text = match &req.params {
            None | Some(Value::Null) => None,
            Some(p) => Some(p.to_string()),
        };
        let mut ext = Extensions::new();
        ext.insert(peer.clone());
        let max = MAX_LINE_BYTES;
        let response: MethodResponse = match callback {
            MethodCallback::Sync(f) => f(JId::Null, Params::new(params_text.as_deref()), max, ext),
            MethodCallback::Async(f) => {
                let params = Params::new(params_text.as_deref()).into_owned();
                let conn = ConnectionId(usize::try_from(peer.id()).unwrap_or(usize::MAX));
                f(JId::Null, params, conn, max, ext).await
            }
            MethodCallback::Subscription(_) | MethodCallback::Unsubscription(_) => {
                return (
                    Response::err(
                        req.id,
                        ErrorObject::internal("subscriptions are not served here"),
                    ),
                    None,
                )
            }
        };
        let (json, hook, _) = response.into_parts();
        (splice_id(json.get(), req.id), hook)
    }
}

/// The `id` member of a message, as the exact JSON text the peer sent.
#[derive(serde::Deserialize)]
struct IdPeek<'a> {
    #[serde(borrow, default)]
    id: Option<&'a serde_json::value::RawValue>,
}

impl IdPeek<'_> {
    fn text(&self) -> Option<String> {
        self.id.map(|r| r.get().to_owned())
    }
}

/// True when a message's id is a number a parsed [`Value`] may not hold
/// exactly (not an integer, too large for `i64`, or a zero that may be `-0`):
/// only then is the line read a second time for the id's exact text.
fn needs_raw_id(message: &Value) -> bool {
    match message.get("id") {
        Some(Value::Number(n)) => !n.is_i64() || n.as_i64() == Some(0),
        _ => false,
    }
}

/// Rebuild jsonrpsee's `"id": null` response with the request's real id.
fn splice_id(json: &str, id: Id) -> Response {
    match serde_json::from_str::<Response>(json) {
        Ok(mut r) => {
            r.id = id;
            r
        }
        Err(e) => Response::err(
            id,
            ErrorObject::internal(format!("bad method response: {e}")),
        ),
    }
}

/// Parse a method's params, treating absent params as `{}`.
///
/// Errors are `-32602` with `data` naming what is wrong.
pub fn parse_params<T: serde::de::DeserializeOwned>(
    params: &Params<'_>,
) -> Result<T, jsonrpsee_types::ErrorObjectOwned> {
    let text = params.as_str().unwrap_or("{}");
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| params_error_text(&e))
        // Trailing characters after the object are an error too.
        .and_then(|v| de.end().map(|()| v).map_err(|e| without_position(&e)));
    parsed.map_err(|data| {
        jsonrpsee_types::ErrorObjectOwned::owned(
            synapse_protocol::code::INVALID_PARAMS,
            "Invalid params",
            Some(data),
        )
    })
}

/// `timeout_s: invalid type: string "x", expected f64`: the field first, then
/// serde's reason.
fn params_error_text(e: &serde_path_to_error::Error<serde_json::Error>) -> String {
    let reason = without_position(e.inner());
    let path = e.path().to_string();
    if path.is_empty() || path == "." {
        reason
    } else {
        format!("{path}: {reason}")
    }
}

/// serde's reason without "at line 1 column 43": params are one line of the
/// request, so the position says nothing a client can use.
fn without_position(e: &serde_json::Error) -> String {
    let reason = e.to_string();
    match reason.rfind(" at line ") {
        Some(at) if e.line() > 0 => reason[..at].to_string(),
        _ => reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Sample {
        name: String,
        timeout_s: Option<f64>,
        inner: Option<Inner>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        limit: u32,
    }

    fn data_of(text: &str) -> String {
        let err = parse_params::<Sample>(&Params::new(Some(text))).expect_err("refused");
        assert_eq!(err.code(), synapse_protocol::code::INVALID_PARAMS);
        assert_eq!(err.message(), "Invalid params");
        let data = err.data().expect("data").get().to_string();
        serde_json::from_str::<String>(&data).expect("data is a string")
    }

    #[test]
    fn data_names_the_field_and_drops_the_position() {
        assert_eq!(
            data_of(r#"{"name":"a","timeout_s":"x"}"#),
            r#"timeout_s: invalid type: string "x", expected f64"#
        );
        assert_eq!(
            data_of(r#"{"name":"a","inner":{"limit":-1}}"#),
            "inner.limit: invalid value: integer `-1`, expected u32"
        );
    }

    #[test]
    fn root_errors_have_no_path() {
        assert_eq!(data_of("{}"), "missing field `name`");
        assert_eq!(
            data_of(r#""x""#),
            r#"invalid type: string "x", expected struct Sample"#
        );
    }

    #[test]
    fn unknown_fields_and_trailing_text_are_refused() {
        let unknown = data_of(r#"{"name":"a","nmae":1}"#);
        assert!(unknown.contains("unknown field `nmae`"), "{unknown}");
        assert_eq!(data_of(r#"{"name":"a"} x"#), "trailing characters");
    }

    #[test]
    fn absent_params_are_an_empty_object() {
        let err = parse_params::<Sample>(&Params::new(None)).expect_err("name is required");
        assert_eq!(err.code(), synapse_protocol::code::INVALID_PARAMS);
        #[derive(serde::Deserialize)]
        struct Nothing {}
        assert!(parse_params::<Nothing>(&Params::new(None)).is_ok());
    }
}
